/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Writes the seed corpora: a few small valid (and a few nearly valid)
 * inputs per target, built with the project's own encoders and the fixed
 * keys of fuzz-common.h. Deterministic: fixed nonces, no clock.
 *
 *   build-fuzz/tests/fuzz/fuzz-gen-corpus tests/fuzz/corpus
 *
 * writes OUTDIR/<target>/<seed> (creating the directories, overwriting
 * seeds of the same name, leaving other files alone).
 */
#include "config.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "box.h"
#include "fuzz-common.h"
#include "grpc-frame.h"
#include "management.pb-c.h"
#include "relay-msg.h"
#include "signalexchange.pb-c.h"

/* Decoders that may not be in the tree yet. */
#if __has_include ("signal-msg.h")
#include "signal-msg.h"
#define HAVE_SIGNAL_MSG 1
#endif
#if __has_include ("network-map.h")
#define HAVE_NETWORK_MAP 1
#endif

static const char *outdir;

static void
seed (const char *target, const char *name, const void *data, gsize len)
{
  g_autofree char *dir = g_build_filename (outdir, target, NULL);
  g_autofree char *path = g_build_filename (dir, name, NULL);
  g_autoptr(GError) error = NULL;

  if (g_mkdir_with_parents (dir, 0755) != 0 ||
      !g_file_set_contents (path, data, len, &error))
    {
      fprintf (stderr, "cannot write %s: %s\n", path, error ? error->message : g_strerror (errno));
      exit (1);
    }
}

static void
seed_bytes (const char *target, const char *name, GBytes *bytes)
{
  seed (target, name, g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes));
}

static void
seed_str (const char *target, const char *name, const char *text)
{
  seed (target, name, text, strlen (text));
}

static GBytes *
pack (const ProtobufCMessage *msg)
{
  gsize len = protobuf_c_message_get_packed_size (msg);
  guint8 *buf = g_malloc (len + 1);

  protobuf_c_message_pack (msg, buf);
  return g_bytes_new_take (buf, len);
}

static void
seed_msg (const char *target, const char *name, const ProtobufCMessage *msg)
{
  g_autoptr(GBytes) b = pack (msg);
  seed_bytes (target, name, b);
}

static GBytes *
seal_a_to_b (GBytes *plain, guint8 nonce_byte)
{
  const FuzzKeys *k = fuzz_keys ();
  guint8 nonce[NB_BOX_NONCE_LEN];

  memset (nonce, nonce_byte, sizeof nonce);
  return nb_box_seal_with_nonce (g_bytes_get_data (plain, NULL), g_bytes_get_size (plain),
                                 nonce, &k->b_public, &k->a_private, NULL);
}

static void
peer_id (NbRelayPeerId *id, const char *key)
{
  nb_relay_peer_id_from_key (id, key);
}

/* ---- gRPC ------------------------------------------------------------- */

/* The fuzz-grpc-frame layout: max size, then [len byte][bytes] chunks. */
static void
grpc_seed (const char *name, guint16 max, const guint8 *stream, gsize len,
           const guint8 *chunks, gsize n_chunks)
{
  g_autoptr(GByteArray) out = g_byte_array_new ();
  guint8 hdr[2] = { max & 0xff, max >> 8 };
  gsize pos = 0;

  g_byte_array_append (out, hdr, 2);
  for (gsize i = 0; i < n_chunks && pos < len; i++)
    {
      guint8 n = chunks[i] == 255 ? 255 : MIN (chunks[i], len - pos);
      gsize take = n == 255 ? len - pos : n;

      g_byte_array_append (out, &n, 1);
      g_byte_array_append (out, stream + pos, take);
      pos += take;
    }
  g_assert (pos == len);
  seed ("grpc-frame", name, out->data, out->len);
}

static void
gen_grpc (void)
{
  g_autoptr(GByteArray) two = g_byte_array_new ();
  static const guint8 rest[] = { 255 };
  static const guint8 split[] = { 3, 7, 1, 0, 255 };
  static const guint8 compressed[] = { 1, 0, 0, 0, 2, 'h', 'i' };
  static const guint8 too_big[] = { 0, 0, 0, 0, 100, 'x' };
  static const guint8 truncated[] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 9, 'p', 'a', 'r' };

  nb_grpc_frame_append (two, (const guint8 *) "hello", 5);
  grpc_seed ("one-message", 4096, two->data, two->len, rest, 1);
  nb_grpc_frame_append (two, (const guint8 *) "second message", 14);
  nb_grpc_frame_append (two, NULL, 0);
  grpc_seed ("three-messages-split", 4096, two->data, two->len, split, G_N_ELEMENTS (split));
  grpc_seed ("compressed", 4096, compressed, sizeof compressed, rest, 1);
  grpc_seed ("over-limit", 16, too_big, sizeof too_big, rest, 1);
  grpc_seed ("truncated", 4096, truncated, sizeof truncated, rest, 1);

  seed_str ("grpc-status", "ok", "0");
  seed_str ("grpc-status", "unavailable", "14");
  seed_str ("grpc-status", "max", "999999");
  seed_str ("grpc-status", "message", "peer%20login%20has%20expired%2C%20please%20log%20in%20again");
  seed_str ("grpc-status", "utf8", "caf%C3%A9 %E2%9C%93");
  seed_str ("grpc-status", "malformed", "100%%zz%4%00%FF");
}

/* ---- relay ------------------------------------------------------------ */

static void
gen_relay (void)
{
  const FuzzKeys *k = fuzz_keys ();
  static const guint8 secret[] = "fuzz relay secret";
  NbRelayPeerId ids[2];
  g_autoptr(GBytes) transport = NULL;
  g_autoptr(GBytes) close_msg = nb_relay_msg_encode_close ();
  g_autoptr(GBytes) health = nb_relay_msg_encode_health_check ();
  g_autoptr(GBytes) auth_payload = NULL;
  g_autoptr(GBytes) auth = NULL;
  g_autoptr(GBytes) auth_response = NULL;
  g_autoptr(GPtrArray) subscribe = NULL;
  g_autoptr(GPtrArray) online = NULL;
  g_autoptr(NbRelayToken) token = nb_relay_token_new (secret, sizeof secret, 4102444800); /* 2100 */
  static const guint8 offline_empty[] = { 1, NB_RELAY_MSG_PEERS_WENT_OFFLINE };
  static const guint8 hello[] = { 1, NB_RELAY_MSG_HELLO, 0x21, 0x12, 0xa4, 0x42 };

  peer_id (&ids[0], k->a_public_b64);
  peer_id (&ids[1], k->b_public_b64);

  transport = nb_relay_msg_encode_transport (&ids[0], "wireguard packet", 16, NULL);
  auth_payload = nb_relay_auth_payload_new (token->payload, token->signature, NULL);
  auth = nb_relay_msg_encode_auth (&ids[1], g_bytes_get_data (auth_payload, NULL),
                                   g_bytes_get_size (auth_payload), NULL);
  auth_response = nb_relay_msg_encode_auth_response ("rels://relay.example.net:443", NULL);
  subscribe = nb_relay_msg_encode_peer_list (NB_RELAY_MSG_SUBSCRIBE_PEER_STATE, ids, 2, NULL);
  online = nb_relay_msg_encode_peer_list (NB_RELAY_MSG_PEERS_ONLINE, ids, 1, NULL);

  seed_bytes ("relay-msg", "transport", transport);
  seed_bytes ("relay-msg", "close", close_msg);
  seed_bytes ("relay-msg", "health-check", health);
  seed_bytes ("relay-msg", "auth", auth);
  seed_bytes ("relay-msg", "auth-response", auth_response);
  seed_bytes ("relay-msg", "subscribe", g_ptr_array_index (subscribe, 0));
  seed_bytes ("relay-msg", "peers-online", g_ptr_array_index (online, 0));
  seed ("relay-msg", "peers-offline-empty", offline_empty, sizeof offline_empty);
  seed ("relay-msg", "hello", hello, sizeof hello);

  {
    g_autofree char *t = g_strdup_printf ("%s\n%s\n%s", token->payload, token->signature, (const char *) secret);
    seed_str ("relay-token", "minted", t);
  }
  seed_str ("relay-token", "bad-signature", "1700000000\nnot base64!\nkey");
  seed_bytes ("relay-token", "auth-payload", auth_payload);

  seed_str ("relay-url", "rel", "rel://relay.example.net");
  seed_str ("relay-url", "rels-port-path", "rels://relay.example.net:443/some/path?q=1#frag");
  seed_str ("relay-url", "ipv6", "rel://[fd00::1]:3478");
  seed_str ("relay-url", "ipv4-user", "rels://user@10.0.0.1:33080");
  seed_str ("relay-url", "wrong-scheme", "https://relay.example.net");
}

/* ---- keys and boxes ---------------------------------------------------- */

static void
gen_keys_and_boxes (void)
{
  const FuzzKeys *k = fuzz_keys ();
  g_autofree char *hex = nb_wg_key_to_hex (&k->a_public);
  g_autoptr(GBytes) hello = g_bytes_new_static ("hello", 5);
  g_autoptr(GBytes) empty = g_bytes_new_static ("", 0);
  g_autoptr(GBytes) sealed = seal_a_to_b (hello, 0x42);
  g_autoptr(GBytes) sealed_empty = seal_a_to_b (empty, 0x07);
  g_autoptr(GByteArray) keyed = g_byte_array_new ();
  guint8 rt[NB_BOX_NONCE_LEN + 11];

  seed_str ("wg-key", "base64", k->a_public_b64);
  seed_str ("wg-key", "hex", hex);
  seed_str ("wg-key", "zero", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
  seed_str ("wg-key", "noncanonical", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB=");

  seed_bytes ("box-open", "hello", sealed);
  seed_bytes ("box-open", "empty", sealed_empty);
  g_byte_array_append (keyed, k->a_public.bytes, NB_WG_KEY_LEN);
  g_byte_array_append (keyed, g_bytes_get_data (sealed, NULL), g_bytes_get_size (sealed));
  seed ("box-open", "keyed-hello", keyed->data, keyed->len);

  memset (rt, 0x11, NB_BOX_NONCE_LEN);
  memcpy (rt + NB_BOX_NONCE_LEN, "hello world", 11);
  seed ("box-roundtrip", "hello", rt, sizeof rt);
  seed ("box-roundtrip", "nonce-only", rt, NB_BOX_NONCE_LEN);
  seed ("box-roundtrip", "short", rt, 3);
}

/* ---- signal ----------------------------------------------------------- */

static void
gen_signal (void)
{
  const FuzzKeys *k = fuzz_keys ();
  Signalexchange__Body offer, candidate, mode_body;
  Signalexchange__Mode mode;
  Signalexchange__RosenpassConfig rosenpass;
  uint32_t features[] = { 1, 2 };
  static const guint8 session[] = { 0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4 };
  static const guint8 relay_ip[] = { 192, 0, 2, 10 };
  g_autoptr(GBytes) offer_bytes = NULL;

  signalexchange__body__init (&offer);
  signalexchange__mode__init (&mode);
  signalexchange__rosenpass_config__init (&rosenpass);
  offer.type = SIGNALEXCHANGE__BODY__TYPE__OFFER;
  offer.payload = "ufragABCD:pwd0123456789abcdefghijkl";
  offer.wglistenport = 51820;
  offer.netbirdversion = "0.36.0";
  mode._direct_case = SIGNALEXCHANGE__MODE___DIRECT_DIRECT;
  mode.direct = 1;
  offer.mode = &mode;
  offer.n_featuressupported = G_N_ELEMENTS (features);
  offer.featuressupported = features;
  offer.rosenpassconfig = &rosenpass;
  offer._relay_server_address_case = SIGNALEXCHANGE__BODY___RELAY_SERVER_ADDRESS_RELAY_SERVER_ADDRESS;
  offer.relayserveraddress = "rels://relay.example.net:443";
  offer._session_id_case = SIGNALEXCHANGE__BODY___SESSION_ID_SESSION_ID;
  offer.sessionid.data = (guint8 *) session;
  offer.sessionid.len = sizeof session;
  offer._relay_server_ip_case = SIGNALEXCHANGE__BODY___RELAY_SERVER_IP_RELAY_SERVER_IP;
  offer.relayserverip.data = (guint8 *) relay_ip;
  offer.relayserverip.len = sizeof relay_ip;
  seed_msg ("signal-body", "offer", &offer.base);
  offer_bytes = pack (&offer.base);

  signalexchange__body__init (&candidate);
  candidate.type = SIGNALEXCHANGE__BODY__TYPE__CANDIDATE;
  candidate.payload = "1 1 udp 2130706431 192.0.2.1 51820 typ host";
  seed_msg ("signal-body", "candidate", &candidate.base);

  signalexchange__body__init (&mode_body);
  mode_body.type = SIGNALEXCHANGE__BODY__TYPE__GO_IDLE;
  seed_msg ("signal-body", "go-idle", &mode_body.base);

  {
    Signalexchange__EncryptedMessage em;
    g_autoptr(GBytes) sealed = seal_a_to_b (offer_bytes, 0x24);
    g_autoptr(GBytes) sealed_candidate = NULL;
    g_autoptr(GBytes) candidate_bytes = pack (&candidate.base);

    signalexchange__encrypted_message__init (&em);
    em.key = (char *) k->a_public_b64;
    em.remotekey = (char *) k->b_public_b64;
    em.body.data = (guint8 *) g_bytes_get_data (sealed, &em.body.len);
    seed_msg ("signal-encrypted-message", "offer", &em.base);

    sealed_candidate = seal_a_to_b (candidate_bytes, 0x25);
    em.body.data = (guint8 *) g_bytes_get_data (sealed_candidate, &em.body.len);
    seed_msg ("signal-encrypted-message", "candidate", &em.base);
  }
}

#ifdef HAVE_SIGNAL_MSG
static void
seed_signal_msg (const char *name, const NbSignalMessage *msg, gboolean self)
{
  const FuzzKeys *k = fuzz_keys ();
  guint8 nonce[NB_BOX_NONCE_LEN];
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) body = nb_signal_message_encode_body (msg, &error);
  g_autoptr(GBytes) wire = NULL;

  g_assert_no_error (error);
  memset (nonce, name[0], sizeof nonce);
  wire = nb_signal_message_seal_with_nonce (msg, nonce, self ? &k->b_private : &k->a_private,
                                            self ? k->b_public_b64 : k->a_public_b64,
                                            k->b_public_b64, &error);
  g_assert_no_error (error);
  seed_bytes ("signal-msg-body", name, body);
  seed_bytes ("signal-msg", name, wire);
}

static void
gen_signal_msg (void)
{
  static const char *const candidates[] = {
    "1 1 udp 2130706431 192.0.2.1 51820 typ host",
    "candidate:3 1 UDP 1694498815 198.51.100.7 40000 typ srflx raddr 192.0.2.1 rport 51820 generation 0",
    "abc+/ 2 udp 16777215 fd00::1 3478 typ relay raddr :: rport 0 network-id 1",
    "4 1 udp 2130706431 0b2d6c2e-1f7c-4ad6-9bd6-a8ad2b2f6f7c.local 51820 typ host",
    "5 1 tcp 1518280447 192.0.2.1 9 typ host tcptype active",
  };
  g_autoptr(NbSignalOffer) offer = nb_signal_offer_new ();
  g_autoptr(NbSignalMessage) offer_msg = NULL;
  g_autoptr(NbSignalMessage) answer_msg = NULL;
  g_autoptr(NbSignalMessage) candidate_msg = NULL;
  g_autoptr(NbSignalMessage) mode_msg = nb_signal_message_new_mode (TRUE, FALSE);
  g_autoptr(NbSignalMessage) idle_msg = nb_signal_message_new (NB_SIGNAL_MSG_GO_IDLE);
  g_autoptr(NbSignalMessage) heartbeat_msg = nb_signal_message_new (NB_SIGNAL_MSG_HEARTBEAT);
  static const guint8 rosenpass_key[] = { 1, 2, 3, 4, 5, 6, 7, 8 };

  for (guint i = 0; i < G_N_ELEMENTS (candidates); i++)
    {
      g_autofree char *name = g_strdup_printf ("candidate-%u", i);
      seed_str ("signal-candidate", name, candidates[i]);
    }

  offer->ufrag = g_strdup ("ufragABCD");
  offer->pwd = g_strdup ("pwd0123456789abcdefghijkl");
  offer->wg_listen_port = 51820;
  offer->version = g_strdup ("0.36.0");
  offer->rosenpass_pub_key = g_bytes_new_static (rosenpass_key, sizeof rosenpass_key);
  offer->rosenpass_addr = g_strdup ("192.0.2.1:9999");
  offer->relay_server_address = g_strdup ("rels://relay.example.net:443");
  offer->relay_server_ip = g_strdup ("192.0.2.10");
  offer->has_session_id = TRUE;
  memcpy (offer->session_id, "\x01\x02\x03\x04\x05", NB_SIGNAL_SESSION_ID_LEN);
  nb_signal_offer_add_feature (offer, NB_SIGNAL_FEATURE_DIRECT_CHECK);
  offer_msg = nb_signal_message_new_offer (NB_SIGNAL_MSG_OFFER, nb_signal_offer_copy (offer));
  seed_signal_msg ("offer", offer_msg, FALSE);

  g_clear_pointer (&offer->rosenpass_pub_key, g_bytes_unref);
  g_clear_pointer (&offer->relay_server_ip, g_free);
  offer->relay_server_ip = g_strdup ("fd00::10");
  answer_msg = nb_signal_message_new_offer (NB_SIGNAL_MSG_ANSWER, g_steal_pointer (&offer));
  seed_signal_msg ("answer", answer_msg, FALSE);

  candidate_msg = nb_signal_message_new_candidate (nb_signal_candidate_parse (candidates[1], NULL));
  candidate_msg->has_session_id = TRUE;
  memcpy (candidate_msg->session_id, "\x01\x02\x03\x04\x05", NB_SIGNAL_SESSION_ID_LEN);
  seed_signal_msg ("candidate", candidate_msg, FALSE);
  seed_signal_msg ("mode", mode_msg, FALSE);
  seed_signal_msg ("go-idle", idle_msg, FALSE);
  seed_signal_msg ("heartbeat-self", heartbeat_msg, TRUE);
}
#endif

/* ---- management -------------------------------------------------------- */

static void
gen_management (void)
{
  const FuzzKeys *k = fuzz_keys ();
  Management__HostConfig stun, turn_host, signal;
  Management__HostConfig *stuns[] = { &stun };
  Management__ProtectedHostConfig turn;
  Management__ProtectedHostConfig *turns[] = { &turn };
  Management__RelayConfig relay;
  char *relay_urls[] = { "rels://relay.example.net:443", "rel://10.0.0.2:33080" };
  Management__NetbirdConfig config;
  Management__PeerConfig peer_config;
  Management__RemotePeerConfig peer1, peer2;
  Management__RemotePeerConfig *peers[] = { &peer1 };
  Management__RemotePeerConfig *offline[] = { &peer2 };
  char *allowed1[] = { "100.64.0.7/32" };
  char *allowed2[] = { "100.64.0.9/32", "fd00::9/128" };
  Management__Route route;
  Management__Route *routes[] = { &route };
  char *route_domains[] = { "example.org" };
  Management__NameServer ns;
  Management__NameServer *nss[] = { &ns };
  Management__NameServerGroup nsg;
  Management__NameServerGroup *nsgs[] = { &nsg };
  char *nsg_domains[] = { "corp.example" };
  Management__SimpleRecord record;
  Management__SimpleRecord *records[] = { &record };
  Management__CustomZone zone;
  Management__CustomZone *zones[] = { &zone };
  Management__DNSConfig dns;
  Management__PortInfo port_info, dest_port, translated_port;
  Management__PortInfo__Range range;
  Management__FirewallRule rule;
  Management__FirewallRule *rules[] = { &rule };
  static const guint8 prefix[] = { 100, 64, 0, 0, 10 };
  ProtobufCBinaryData prefixes[] = { { sizeof prefix, (guint8 *) prefix } };
  Management__RouteFirewallRule route_rule;
  Management__RouteFirewallRule *route_rules[] = { &route_rule };
  char *source_ranges[] = { "100.64.0.0/10" };
  Management__ForwardingRule forward;
  Management__ForwardingRule *forwards[] = { &forward };
  static const guint8 translated[] = { 100, 64, 0, 7 };
  Management__SSHAuth ssh_auth;
  static const guint8 user_hash[] = { 1, 2, 3, 4, 5, 6, 7, 8 };
  ProtobufCBinaryData users[] = { { sizeof user_hash, (guint8 *) user_hash } };
  Management__SSHAuth__MachineUsersEntry entry;
  Management__SSHAuth__MachineUsersEntry *entries[] = { &entry };
  Management__MachineUserIndexes indexes;
  uint32_t index_values[] = { 0 };
  Management__NetworkMap map;
  Management__Checks checks;
  Management__Checks *checks_list[] = { &checks };
  char *files[] = { "/usr/bin/netbird" };
  Google__Protobuf__Timestamp expires;
  Management__SyncResponse sync, sync_empty;
  Management__LoginResponse login;
  Management__ServerKeyResponse key_response;
  Management__NetworkMap empty_map;

  management__host_config__init (&stun);
  stun.uri = "stun:stun.example.net:3478";
  management__host_config__init (&turn_host);
  turn_host.uri = "turn:turn.example.net:3478?transport=udp";
  management__protected_host_config__init (&turn);
  turn.hostconfig = &turn_host;
  turn.user = "1700000000:peer";
  turn.password = "c2VjcmV0";
  management__host_config__init (&signal);
  signal.uri = "signal.example.net:443";
  signal.protocol = MANAGEMENT__HOST_CONFIG__PROTOCOL__HTTPS;
  management__relay_config__init (&relay);
  relay.n_urls = G_N_ELEMENTS (relay_urls);
  relay.urls = relay_urls;
  relay.tokenpayload = "4102444800";
  relay.tokensignature = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
  management__netbird_config__init (&config);
  config.n_stuns = 1;
  config.stuns = stuns;
  config.n_turns = 1;
  config.turns = turns;
  config.signal = &signal;
  config.relay = &relay;

  management__peer_config__init (&peer_config);
  peer_config.address = "100.64.0.5/16";
  peer_config.dns = "netbird.cloud";
  peer_config.fqdn = "me.netbird.cloud";
  peer_config.mtu = 1280;

  management__remote_peer_config__init (&peer1);
  peer1.wgpubkey = (char *) k->a_public_b64;
  peer1.n_allowedips = G_N_ELEMENTS (allowed1);
  peer1.allowedips = allowed1;
  peer1.fqdn = "peer1.netbird.cloud";
  peer1.agentversion = "0.36.0";
  management__remote_peer_config__init (&peer2);
  peer2.wgpubkey = (char *) k->b_public_b64;
  peer2.n_allowedips = G_N_ELEMENTS (allowed2);
  peer2.allowedips = allowed2;

  management__route__init (&route);
  route.id = "route1";
  route.network = "192.168.10.0/24";
  route.networktype = 1;
  route.peer = (char *) k->a_public_b64;
  route.metric = 9999;
  route.masquerade = 1;
  route.netid = "lan";
  route.n_domains = 1;
  route.domains = route_domains;

  management__name_server__init (&ns);
  ns.ip = "192.0.2.53";
  ns.nstype = 1;
  ns.port = 53;
  management__name_server_group__init (&nsg);
  nsg.n_nameservers = 1;
  nsg.nameservers = nss;
  nsg.n_domains = 1;
  nsg.domains = nsg_domains;
  nsg.searchdomainsenabled = 1;
  management__simple_record__init (&record);
  record.name = "peer1.netbird.cloud.";
  record.type = 1;
  record.class_ = "IN";
  record.ttl = 300;
  record.rdata = "100.64.0.7";
  management__custom_zone__init (&zone);
  zone.domain = "netbird.cloud.";
  zone.n_records = 1;
  zone.records = records;
  management__dnsconfig__init (&dns);
  dns.serviceenable = 1;
  dns.n_nameservergroups = 1;
  dns.nameservergroups = nsgs;
  dns.n_customzones = 1;
  dns.customzones = zones;

  management__port_info__range__init (&range);
  range.start = 8000;
  range.end = 8100;
  management__port_info__init (&port_info);
  port_info.port_selection_case = MANAGEMENT__PORT_INFO__PORT_SELECTION_RANGE;
  port_info.range = &range;
  management__firewall_rule__init (&rule);
  rule.direction = MANAGEMENT__RULE_DIRECTION__IN;
  rule.action = MANAGEMENT__RULE_ACTION__ACCEPT;
  rule.protocol = MANAGEMENT__RULE_PROTOCOL__TCP;
  rule.portinfo = &port_info;
  rule.n_sourceprefixes = 1;
  rule.sourceprefixes = prefixes;

  management__port_info__init (&dest_port);
  dest_port.port_selection_case = MANAGEMENT__PORT_INFO__PORT_SELECTION_PORT;
  dest_port.port = 443;
  management__route_firewall_rule__init (&route_rule);
  route_rule.n_sourceranges = 1;
  route_rule.sourceranges = source_ranges;
  route_rule.destination = "192.168.10.0/24";
  route_rule.protocol = MANAGEMENT__RULE_PROTOCOL__ALL;
  route_rule.routeid = "route1";

  management__port_info__init (&translated_port);
  translated_port.port_selection_case = MANAGEMENT__PORT_INFO__PORT_SELECTION_PORT;
  translated_port.port = 8443;
  management__forwarding_rule__init (&forward);
  forward.protocol = MANAGEMENT__RULE_PROTOCOL__TCP;
  forward.destinationport = &dest_port;
  forward.translatedaddress.data = (guint8 *) translated;
  forward.translatedaddress.len = sizeof translated;
  forward.translatedport = &translated_port;

  management__machine_user_indexes__init (&indexes);
  indexes.n_indexes = 1;
  indexes.indexes = index_values;
  management__sshauth__machine_users_entry__init (&entry);
  entry.key = "root";
  entry.value = &indexes;
  management__sshauth__init (&ssh_auth);
  ssh_auth.useridclaim = "sub";
  ssh_auth.n_authorizedusers = 1;
  ssh_auth.authorizedusers = users;
  ssh_auth.n_machine_users = 1;
  ssh_auth.machine_users = entries;

  management__network_map__init (&map);
  map.serial = 42;
  map.peerconfig = &peer_config;
  map.n_remotepeers = 1;
  map.remotepeers = peers;
  map.n_routes = 1;
  map.routes = routes;
  map.dnsconfig = &dns;
  map.n_offlinepeers = 1;
  map.offlinepeers = offline;
  map.n_firewallrules = 1;
  map.firewallrules = rules;
  map.n_routesfirewallrules = 1;
  map.routesfirewallrules = route_rules;
  map.n_forwardingrules = 1;
  map.forwardingrules = forwards;
  map.sshauth = &ssh_auth;

  management__checks__init (&checks);
  checks.n_files = 1;
  checks.files = files;
  google__protobuf__timestamp__init (&expires);
  expires.seconds = 4102444800;

  management__sync_response__init (&sync);
  sync.netbirdconfig = &config;
  sync.peerconfig = &peer_config;
  sync.networkmap = &map;
  sync.n_checks = 1;
  sync.checks = checks_list;
  sync.sessionexpiresat = &expires;
  seed_msg ("mgmt-sync-response", "full", &sync.base);
#ifdef HAVE_NETWORK_MAP
  seed_msg ("network-map", "full", &sync.base);
  {
    Management__SyncResponse config_only;

    management__sync_response__init (&config_only);
    config_only.netbirdconfig = &config;
    seed_msg ("network-map", "config-only", &config_only.base);
  }
#endif

  management__network_map__init (&empty_map);
  empty_map.serial = 43;
  empty_map.remotepeersisempty = 1;
  empty_map.firewallrulesisempty = 1;
  management__sync_response__init (&sync_empty);
  sync_empty.networkmap = &empty_map;
  sync_empty.remotepeersisempty = 1;
  seed_msg ("mgmt-sync-response", "empty-map", &sync_empty.base);
#ifdef HAVE_NETWORK_MAP
  seed_msg ("network-map", "empty-map", &sync_empty.base);
#endif

  management__login_response__init (&login);
  login.netbirdconfig = &config;
  login.peerconfig = &peer_config;
  login.n_checks = 1;
  login.checks = checks_list;
  login.sessionexpiresat = &expires;
  seed_msg ("mgmt-login-response", "full", &login.base);
#ifdef HAVE_NETWORK_MAP
  seed_msg ("network-map-login", "full", &login.base);
#endif
  management__login_response__init (&login);
  login.peerconfig = &peer_config;
  seed_msg ("mgmt-login-response", "peer-only", &login.base);
#ifdef HAVE_NETWORK_MAP
  seed_msg ("network-map-login", "peer-only", &login.base);
  seed_str ("cidr", "ipv4", "100.64.0.7/32");
  seed_str ("cidr", "ipv4-net", "100.64.0.0/10");
  seed_str ("cidr", "ipv6", "fd00:1234::5/64");
  seed_str ("cidr", "mapped", "::ffff:10.0.0.1/128");
  seed_str ("cidr", "too-long", "10.0.0.1/33");
#endif

  management__server_key_response__init (&key_response);
  key_response.key = (char *) k->a_public_b64;
  key_response.expiresat = &expires;
  key_response.version = 1;
  seed_msg ("mgmt-server-key-response", "key", &key_response.base);

  {
    Management__EncryptedMessage em;
    g_autoptr(GBytes) sync_empty_bytes = pack (&sync_empty.base);
    g_autoptr(GBytes) sealed = seal_a_to_b (sync_empty_bytes, 0x33);
    g_autoptr(GBytes) login_bytes = pack (&login.base);
    g_autoptr(GBytes) sealed_login = seal_a_to_b (login_bytes, 0x34);

    management__encrypted_message__init (&em);
    em.wgpubkey = (char *) k->b_public_b64;
    em.version = 1;
    em.body.data = (guint8 *) g_bytes_get_data (sealed, &em.body.len);
    seed_msg ("mgmt-encrypted-message", "sync", &em.base);
    em.body.data = (guint8 *) g_bytes_get_data (sealed_login, &em.body.len);
    seed_msg ("mgmt-encrypted-message", "login", &em.base);
  }
}

int
main (int argc, char **argv)
{
  if (argc != 2)
    {
      fprintf (stderr, "usage: %s OUTDIR\n", argv[0]);
      return 2;
    }
  outdir = argv[1];
  LLVMFuzzerInitialize (&argc, &argv);

  gen_grpc ();
  gen_relay ();
  gen_keys_and_boxes ();
  gen_signal ();
#ifdef HAVE_SIGNAL_MSG
  gen_signal_msg ();
#endif
  gen_management ();
  return 0;
}
