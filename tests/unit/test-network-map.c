/* SPDX-License-Identifier: GPL-2.0-or-later
 * Tests service/netbird/network-map.c: conversion of hand-built management
 * protobuf messages, validation, applying updates and their diffs, secrets. */
#include "config.h"

#include <string.h>

#include "management.pb-c.h"
#include "network-map.h"
#include "wg-key.h"

/* ------------------------------------------------------------------------ */
/* Keys: KEY(n) is the base64 of 32 bytes of value n (canonical). */

#define N_KEYS 10
static char keys[N_KEYS][NB_WG_KEY_B64_SIZE];
#define KEY(n) ((const char *) keys[(n)])

static void
keys_init (void)
{
  for (int n = 0; n < N_KEYS; n++)
    {
      NbWgKey k;

      memset (k.bytes, n, sizeof k.bytes);
      nb_wg_key_to_base64_buf (&k, keys[n]);
    }
}

/* ------------------------------------------------------------------------ */
/* Log capture: every message of the process goes through here. */

static GString *log_text;

static GLogWriterOutput
capture_writer (GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer data)
{
  for (gsize i = 0; i < n_fields; i++)
    if (strcmp (fields[i].key, "MESSAGE") == 0)
      {
        if (fields[i].length < 0)
          g_string_append (log_text, fields[i].value);
        else
          g_string_append_len (log_text, fields[i].value, fields[i].length);
        g_string_append_c (log_text, '\n');
      }
  if (level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL))
    return g_log_writer_default (level, fields, n_fields, data);
  return G_LOG_WRITER_HANDLED;
}

/* ------------------------------------------------------------------------ */
/* Hand-built protobuf messages; everything lives in an arena per test. */

static GPtrArray *arena;

static gpointer
arena_add (gpointer p)
{
  if (arena == NULL)
    arena = g_ptr_array_new_with_free_func (g_free);
  g_ptr_array_add (arena, p);
  return p;
}

#define NEW(T, init) ({ T *m_ = arena_add (g_new0 (T, 1)); init (m_); m_; })

static char **
strs (const char *first, ...)
{
  g_autoptr (GPtrArray) a = g_ptr_array_new ();
  va_list ap;

  va_start (ap, first);
  for (const char *s = first; s; s = va_arg (ap, const char *))
    g_ptr_array_add (a, (char *) s);
  va_end (ap);
  g_ptr_array_add (a, NULL);
  return arena_add (g_ptr_array_free (g_steal_pointer (&a), FALSE));
}

static gsize
strs_len (char **v)
{
  return v ? g_strv_length (v) : 0;
}

static Management__RemotePeerConfig *
peer_pb (const char *key, char **ips, const char *fqdn, const char *version)
{
  Management__RemotePeerConfig *p = NEW (Management__RemotePeerConfig, management__remote_peer_config__init);

  p->wgpubkey = (char *) key;
  p->allowedips = ips;
  p->n_allowedips = strs_len (ips);
  p->fqdn = (char *) fqdn;
  p->agentversion = (char *) version;
  return p;
}

static Management__RemotePeerConfig **
peer_list (gsize n, ...)
{
  Management__RemotePeerConfig **list = arena_add (g_new0 (Management__RemotePeerConfig *, n + 1));
  va_list ap;

  va_start (ap, n);
  for (gsize i = 0; i < n; i++)
    list[i] = va_arg (ap, Management__RemotePeerConfig *);
  va_end (ap);
  return list;
}

static Management__HostConfig *
host_pb (const char *uri, Management__HostConfig__Protocol protocol)
{
  Management__HostConfig *h = NEW (Management__HostConfig, management__host_config__init);

  h->uri = (char *) uri;
  h->protocol = protocol;
  return h;
}

static Management__ProtectedHostConfig *
turn_pb (const char *uri, const char *user, const char *password)
{
  Management__ProtectedHostConfig *t = NEW (Management__ProtectedHostConfig, management__protected_host_config__init);

  t->hostconfig = uri ? host_pb (uri, MANAGEMENT__HOST_CONFIG__PROTOCOL__UDP) : NULL;
  t->user = (char *) user;
  t->password = (char *) password;
  return t;
}

static Management__NetbirdConfig *
config_pb (const char *turn_password)
{
  Management__NetbirdConfig *c = NEW (Management__NetbirdConfig, management__netbird_config__init);

  c->n_stuns = 2;
  c->stuns = arena_add (g_new0 (Management__HostConfig *, 2));
  c->stuns[0] = host_pb ("stun:stun.example.net:3478", MANAGEMENT__HOST_CONFIG__PROTOCOL__UDP);
  c->stuns[1] = host_pb ("stun:stun2.example.net:3478", MANAGEMENT__HOST_CONFIG__PROTOCOL__UDP);
  c->n_turns = 1;
  c->turns = arena_add (g_new0 (Management__ProtectedHostConfig *, 1));
  c->turns[0] = turn_pb ("turn:turn.example.net:3478?transport=udp", "1700000000:peer", turn_password);
  c->signal = host_pb ("signal.example.net:443", MANAGEMENT__HOST_CONFIG__PROTOCOL__HTTPS);
  c->relay = NEW (Management__RelayConfig, management__relay_config__init);
  c->relay->urls = strs ("rels://relay.example.net:443", "rel://relay2.example.net:80", NULL);
  c->relay->n_urls = 2;
  c->relay->tokenpayload = (char *) "relay-payload-1";
  c->relay->tokensignature = (char *) "relay-signature-1";
  return c;
}

static Management__PeerConfig *
own_pb (const char *address, const char *fqdn, int mtu)
{
  Management__PeerConfig *pc = NEW (Management__PeerConfig, management__peer_config__init);

  pc->address = (char *) address;
  pc->fqdn = (char *) fqdn;
  pc->mtu = mtu;
  return pc;
}

static GBytes *
pack (const ProtobufCMessage *msg)
{
  gsize len = protobuf_c_message_get_packed_size (msg);
  guint8 *buf = g_malloc (len ? len : 1);

  protobuf_c_message_pack (msg, buf);
  return g_bytes_new_take (buf, len);
}

static NbNetworkMap *
convert_sync (const Management__SyncResponse *resp, const char *own_key)
{
  g_autoptr (GBytes) bytes = pack (&resp->base);
  g_autoptr (GError) error = NULL;
  gsize len;
  const guint8 *data = g_bytes_get_data (bytes, &len);
  NbNetworkMap *map = nb_network_map_from_sync_response (data ? data : (const guint8 *) "", len,
                                                         own_key, &error);

  g_assert_no_error (error);
  g_assert_nonnull (map);
  return map;
}

static void
setup (void)
{
  if (arena == NULL)
    arena = g_ptr_array_new_with_free_func (g_free);
}

static void
teardown (void)
{
  g_clear_pointer (&arena, g_ptr_array_unref);
}

/* ------------------------------------------------------------------------ */
/* Conversion */

static void
test_convert_full (void)
{
  Management__SyncResponse resp = MANAGEMENT__SYNC_RESPONSE__INIT;
  Management__NetworkMap *nm = NEW (Management__NetworkMap, management__network_map__init);
  Management__Route *routes[2];
  Management__DNSConfig *dns = NEW (Management__DNSConfig, management__dnsconfig__init);
  Management__NameServerGroup *group = NEW (Management__NameServerGroup, management__name_server_group__init);
  Management__NameServer *ns[2];
  Management__CustomZone *zone = NEW (Management__CustomZone, management__custom_zone__init);
  Management__SimpleRecord *record = NEW (Management__SimpleRecord, management__simple_record__init);
  static guint8 v6[17] = { 0xfd, 0x00, 0x12, 0x34, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x05, 64 };
  g_autoptr (NbNetworkMap) map = NULL;
  const NbRemotePeer *peer;
  const NbRoute *route;
  const NbTurnConfig *turn;
  const NbNameServerGroup *g;
  const NbNameServer *n;
  const NbCustomZone *z;
  const NbDnsRecord *r;

  setup ();
  resp.netbirdconfig = config_pb ("turn-secret");
  resp.networkmap = nm;
  nm->serial = 42;
  nm->peerconfig = own_pb ("100.64.0.5/16", "me.netbird.test", 0);
  nm->peerconfig->address_v6.data = v6;
  nm->peerconfig->address_v6.len = sizeof v6;
  nm->peerconfig->sshconfig = NEW (Management__SSHConfig, management__sshconfig__init);
  nm->peerconfig->sshconfig->sshenabled = TRUE;
  nm->peerconfig->routingpeerdnsresolutionenabled = TRUE;
  nm->peerconfig->lazyconnectionenabled = TRUE;
  nm->remotepeers = peer_list (2,
                               peer_pb (KEY (1), strs ("100.64.0.7/32", NULL), "peer7.netbird.test", "0.36.5"),
                               peer_pb (KEY (2), strs ("100.64.0.8/32", "10.10.0.0/24", "FD00:1234::8/128", NULL),
                                        "peer8.netbird.test", "0.37.0"));
  nm->n_remotepeers = 2;
  nm->offlinepeers = peer_list (1, peer_pb (KEY (3), strs ("100.64.0.9/32", NULL), "off.netbird.test", "0.30.0"));
  nm->n_offlinepeers = 1;

  routes[0] = NEW (Management__Route, management__route__init);
  routes[0]->id = (char *) "route-1";
  routes[0]->network = (char *) "192.168.10.0/24";
  routes[0]->networktype = 1;
  routes[0]->peer = (char *) KEY (2);
  routes[0]->metric = 9999;
  routes[0]->masquerade = TRUE;
  routes[0]->netid = (char *) "office";
  routes[0]->keeproute = TRUE;
  routes[1] = NEW (Management__Route, management__route__init);
  routes[1]->id = (char *) "route-2";
  routes[1]->network = (char *) "invalid Prefix";
  routes[1]->domains = strs ("example.com", "*.example.org", NULL);
  routes[1]->n_domains = 2;
  routes[1]->peer = (char *) KEY (1);
  routes[1]->skipautoapply = TRUE;
  nm->routes = routes;
  nm->n_routes = 2;

  ns[0] = NEW (Management__NameServer, management__name_server__init);
  ns[0]->ip = (char *) "1.1.1.1";
  ns[0]->nstype = 1;
  ns[0]->port = 0;
  ns[1] = NEW (Management__NameServer, management__name_server__init);
  ns[1]->ip = (char *) "2606:4700:4700::1111";
  ns[1]->nstype = 1;
  ns[1]->port = 5353;
  group->nameservers = ns;
  group->n_nameservers = 2;
  group->primary = TRUE;
  group->domains = strs ("corp.example", NULL);
  group->n_domains = 1;
  group->searchdomainsenabled = TRUE;
  record->name = (char *) "peer7.netbird.test";
  record->type = 1;
  record->class_ = (char *) "IN";
  record->ttl = 300;
  record->rdata = (char *) "100.64.0.7";
  zone->domain = (char *) "netbird.test";
  zone->records = arena_add (g_new0 (Management__SimpleRecord *, 1));
  zone->records[0] = record;
  zone->n_records = 1;
  zone->nonauthoritative = TRUE;
  dns->serviceenable = TRUE;
  dns->nameservergroups = arena_add (g_new0 (Management__NameServerGroup *, 1));
  dns->nameservergroups[0] = group;
  dns->n_nameservergroups = 1;
  dns->customzones = arena_add (g_new0 (Management__CustomZone *, 1));
  dns->customzones[0] = zone;
  dns->n_customzones = 1;
  nm->dnsconfig = dns;

  map = convert_sync (&resp, KEY (9));

  g_assert_true (map->has_map);
  g_assert_cmpuint (map->serial, ==, 42);
  g_assert_cmpuint (map->n_skipped, ==, 0);

  g_assert_nonnull (map->own);
  g_assert_cmpstr (map->own->address, ==, "100.64.0.5/16");
  g_assert_cmpstr (map->own->address_v6, ==, "fd00:1234::5/64");
  g_assert_cmpstr (map->own->fqdn, ==, "me.netbird.test");
  g_assert_cmpstr (map->own->dns_domain, ==, "netbird.test");
  g_assert_cmpuint (map->own->mtu, ==, NB_NETWORK_MAP_DEFAULT_MTU);
  g_assert_true (map->own->ssh_enabled);
  g_assert_true (map->own->routing_peer_dns_resolution);
  g_assert_true (map->own->lazy_connection);

  g_assert_true (map->peers_present);
  g_assert_cmpuint (map->peers->len, ==, 2);
  peer = nb_network_map_find_peer (map, KEY (2));
  g_assert_nonnull (peer);
  g_assert_cmpuint (g_strv_length (peer->allowed_ips), ==, 3);
  g_assert_cmpstr (peer->allowed_ips[0], ==, "100.64.0.8/32");
  g_assert_cmpstr (peer->allowed_ips[1], ==, "10.10.0.0/24");
  g_assert_cmpstr (peer->allowed_ips[2], ==, "fd00:1234::8/128");
  g_assert_cmpstr (peer->fqdn, ==, "peer8.netbird.test");
  g_assert_cmpstr (peer->agent_version, ==, "0.37.0");
  g_assert_nonnull (nb_network_map_find_peer (map, KEY (1)));
  g_assert_null (nb_network_map_find_peer (map, KEY (3)));
  g_assert_cmpuint (map->offline_peers->len, ==, 1);
  g_assert_cmpstr (((NbRemotePeer *) map->offline_peers->pdata[0])->key, ==, KEY (3));

  g_assert_cmpuint (map->routes->len, ==, 2);
  route = map->routes->pdata[0];
  g_assert_cmpstr (route->id, ==, "route-1");
  g_assert_cmpstr (route->network, ==, "192.168.10.0/24");
  g_assert_cmpuint (g_strv_length (route->domains), ==, 0);
  g_assert_cmpstr (route->peer, ==, KEY (2));
  g_assert_cmpint (route->network_type, ==, 1);
  g_assert_cmpint (route->metric, ==, 9999);
  g_assert_true (route->masquerade);
  g_assert_cmpstr (route->net_id, ==, "office");
  g_assert_true (route->keep_route);
  g_assert_false (route->skip_auto_apply);
  route = map->routes->pdata[1];
  g_assert_null (route->network);
  g_assert_cmpuint (g_strv_length (route->domains), ==, 2);
  g_assert_cmpstr (route->domains[1], ==, "*.example.org");
  g_assert_true (route->skip_auto_apply);

  g_assert_nonnull (map->dns);
  g_assert_true (map->dns->service_enable);
  g_assert_cmpuint (map->dns->nameserver_groups->len, ==, 1);
  g = map->dns->nameserver_groups->pdata[0];
  g_assert_true (g->primary);
  g_assert_true (g->search_domains_enabled);
  g_assert_cmpstr (g->domains[0], ==, "corp.example");
  g_assert_cmpuint (g->nameservers->len, ==, 2);
  n = g->nameservers->pdata[0];
  g_assert_cmpstr (n->ip, ==, "1.1.1.1");
  g_assert_cmpuint (n->port, ==, 53);
  g_assert_cmpint (n->type, ==, 1);
  n = g->nameservers->pdata[1];
  g_assert_cmpuint (n->port, ==, 5353);
  g_assert_cmpuint (map->dns->custom_zones->len, ==, 1);
  z = map->dns->custom_zones->pdata[0];
  g_assert_cmpstr (z->domain, ==, "netbird.test");
  g_assert_true (z->non_authoritative);
  g_assert_false (z->search_domain_disabled);
  r = z->records->pdata[0];
  g_assert_cmpstr (r->name, ==, "peer7.netbird.test");
  g_assert_cmpint (r->type, ==, 1);
  g_assert_cmpstr (r->record_class, ==, "IN");
  g_assert_cmpint (r->ttl, ==, 300);
  g_assert_cmpstr (r->rdata, ==, "100.64.0.7");

  g_assert_nonnull (map->config);
  g_assert_cmpuint (map->config->stuns->len, ==, 2);
  g_assert_cmpstr (((NbHostConfig *) map->config->stuns->pdata[0])->uri, ==, "stun:stun.example.net:3478");
  g_assert_cmpint (((NbHostConfig *) map->config->stuns->pdata[0])->protocol, ==, NB_HOST_PROTOCOL_UDP);
  g_assert_cmpuint (map->config->turns->len, ==, 1);
  turn = map->config->turns->pdata[0];
  g_assert_cmpstr (turn->uri, ==, "turn:turn.example.net:3478?transport=udp");
  g_assert_cmpstr (turn->user, ==, "1700000000:peer");
  g_assert_cmpstr (turn->password, ==, "turn-secret");
  g_assert_nonnull (map->config->signal);
  g_assert_cmpstr (map->config->signal->uri, ==, "signal.example.net:443");
  g_assert_cmpint (map->config->signal->protocol, ==, NB_HOST_PROTOCOL_HTTPS);
  g_assert_cmpstr (nb_host_protocol_to_string (map->config->signal->protocol), ==, "https");
  g_assert_nonnull (map->config->relay);
  g_assert_cmpuint (g_strv_length (map->config->relay->urls), ==, 2);
  g_assert_cmpstr (map->config->relay->urls[0], ==, "rels://relay.example.net:443");
  g_assert_cmpstr (map->config->relay->token_payload, ==, "relay-payload-1");
  g_assert_cmpstr (map->config->relay->token_signature, ==, "relay-signature-1");

  /* Copies are equal and independent. */
  {
    g_autoptr (NbNetworkMap) copy = nb_network_map_copy (map);
    g_autoptr (NbNetworkMapDiff) diff = nb_network_map_diff (map, copy);

    g_assert_true (nb_netbird_config_equal (map->config, copy->config));
    g_assert_true (nb_peer_config_equal (map->own, copy->own));
    g_assert_true (nb_network_map_diff_is_empty (diff));
    g_assert_false (diff->stale);
  }
  teardown ();
}

static void
test_convert_login (void)
{
  Management__LoginResponse resp = MANAGEMENT__LOGIN_RESPONSE__INIT;
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) bytes = NULL;
  g_autoptr (NbNetworkMap) map = NULL;
  gsize len;
  const guint8 *data;

  setup ();
  resp.netbirdconfig = config_pb ("pw");
  resp.peerconfig = own_pb ("100.64.0.5/16", "me", 1400);
  bytes = pack (&resp.base);
  data = g_bytes_get_data (bytes, &len);
  map = nb_network_map_from_login_response (data, len, &error);
  g_assert_no_error (error);
  g_assert_false (map->has_map);
  g_assert_cmpstr (map->own->address, ==, "100.64.0.5/16");
  g_assert_cmpstr (map->own->dns_domain, ==, "");
  g_assert_cmpuint (map->own->mtu, ==, 1400);
  g_assert_cmpuint (map->config->stuns->len, ==, 2);
  g_assert_cmpuint (map->peers->len, ==, 0);
  g_clear_pointer (&map, nb_network_map_free);
  g_clear_pointer (&bytes, g_bytes_unref);

  /* Without a usable own address a login response is useless. */
  resp.peerconfig->address = (char *) "100.64.0.5";
  bytes = pack (&resp.base);
  data = g_bytes_get_data (bytes, &len);
  map = nb_network_map_from_login_response (data, len, &error);
  g_assert_error (error, NB_NETWORK_MAP_ERROR, NB_NETWORK_MAP_ERROR_INVALID);
  g_assert_null (map);
  g_clear_error (&error);
  g_clear_pointer (&bytes, g_bytes_unref);

  resp.peerconfig = NULL;
  bytes = pack (&resp.base);
  data = g_bytes_get_data (bytes, &len);
  map = nb_network_map_from_login_response (data, len, &error);
  g_assert_error (error, NB_NETWORK_MAP_ERROR, NB_NETWORK_MAP_ERROR_INVALID);
  g_assert_null (map);
  teardown ();
}

static void
test_convert_invalid_entries (void)
{
  Management__SyncResponse resp = MANAGEMENT__SYNC_RESPONSE__INIT;
  Management__NetworkMap *nm = NEW (Management__NetworkMap, management__network_map__init);
  Management__NetbirdConfig *c = NEW (Management__NetbirdConfig, management__netbird_config__init);
  Management__Route *routes[3];
  Management__DNSConfig *dns = NEW (Management__DNSConfig, management__dnsconfig__init);
  Management__NameServerGroup *group = NEW (Management__NameServerGroup, management__name_server_group__init);
  Management__NameServer *ns[2];
  char noncanonical[NB_WG_KEY_B64_SIZE];
  static guint8 bad_v6[5] = { 1, 2, 3, 4, 5 };
  g_autoptr (NbNetworkMap) map = NULL;
  guint expected_skipped = 0;

  setup ();
  memcpy (noncanonical, KEY (1), sizeof noncanonical);
  g_assert_cmpint (noncanonical[42], ==, 'E');
  noncanonical[42] = 'F';

  nm->serial = 3;
  nm->peerconfig = own_pb ("bogus", "me.netbird.test", 100);
  nm->peerconfig->address_v6.data = bad_v6;
  nm->peerconfig->address_v6.len = sizeof bad_v6;
  expected_skipped++; /* own config */
  nm->remotepeers = peer_list (11,
    peer_pb (KEY (1), strs ("100.64.0.1/32", NULL), "good1", "v"),
    peer_pb ("not-a-key", strs ("100.64.0.2/32", NULL), "bad", "v"),
    peer_pb (noncanonical, strs ("100.64.0.2/32", NULL), "bad", "v"),
    peer_pb (KEY (0), strs ("100.64.0.2/32", NULL), "zero key", "v"),
    peer_pb (KEY (2), strs ("100.64.0.2", NULL), "no prefix", "v"),
    peer_pb (KEY (3), strs ("100.64.0.300/32", NULL), "bad address", "v"),
    peer_pb (KEY (4), strs ("100.64.0.4/32", "10.0.0.0/33", NULL), "prefix too long", "v"),
    peer_pb (KEY (5), strs ("100.64.0.5/032", NULL), "leading zero", "v"),
    peer_pb (KEY (9), strs ("100.64.0.9/32", NULL), "own key", "v"),
    peer_pb (KEY (1), strs ("100.64.0.11/32", NULL), "duplicate", "v"),
    peer_pb (KEY (6), strs ("fe80::1%eth0/64", NULL), "scoped", "v"));
  nm->n_remotepeers = 11;
  expected_skipped += 9; /* all but KEY(1) and the own key */

  routes[0] = NEW (Management__Route, management__route__init);
  routes[0]->id = (char *) "bad-network";
  routes[0]->network = (char *) "192.168.10.0";
  routes[0]->peer = (char *) KEY (1);
  routes[1] = NEW (Management__Route, management__route__init);
  routes[1]->id = (char *) "bad-peer";
  routes[1]->network = (char *) "192.168.10.0/24";
  routes[1]->peer = (char *) "nope";
  routes[2] = NEW (Management__Route, management__route__init);
  routes[2]->id = (char *) "good";
  routes[2]->network = (char *) "192.168.11.0/24";
  routes[2]->peer = (char *) KEY (1);
  nm->routes = routes;
  nm->n_routes = 3;
  expected_skipped += 2;

  ns[0] = NEW (Management__NameServer, management__name_server__init);
  ns[0]->ip = (char *) "not-an-ip";
  ns[1] = NEW (Management__NameServer, management__name_server__init);
  ns[1]->ip = (char *) "9.9.9.9";
  ns[1]->port = 70000;
  group->nameservers = ns;
  group->n_nameservers = 2;
  dns->nameservergroups = arena_add (g_new0 (Management__NameServerGroup *, 1));
  dns->nameservergroups[0] = group;
  dns->n_nameservergroups = 1;
  nm->dnsconfig = dns;
  expected_skipped += 2;

  c->n_stuns = 3;
  c->stuns = arena_add (g_new0 (Management__HostConfig *, 3));
  c->stuns[0] = host_pb ("stun.example.net:3478", 0);  /* no scheme */
  c->stuns[1] = host_pb ("stun:", 0);                  /* nothing after it */
  c->stuns[2] = host_pb ("STUN:stun.example.net:3478", 0);
  c->n_turns = 3;
  c->turns = arena_add (g_new0 (Management__ProtectedHostConfig *, 3));
  c->turns[0] = turn_pb (NULL, "u", "p");
  c->turns[1] = turn_pb ("stun:not-a-turn:3478", "u", "p");
  c->turns[2] = turn_pb ("turns:turn.example.net:5349?transport=tcp", "u", "p");
  c->signal = host_pb ("", MANAGEMENT__HOST_CONFIG__PROTOCOL__HTTPS);
  c->relay = NEW (Management__RelayConfig, management__relay_config__init);
  c->relay->urls = strs ("https://relay.example.net", "rels://relay.example.net:443", "rel:// spaces", NULL);
  c->relay->n_urls = 3;
  resp.netbirdconfig = c;
  expected_skipped += 2 + 2 + 1 + 2;
  resp.networkmap = nm;

  map = convert_sync (&resp, KEY (9));
  g_assert_true (map->has_map);
  g_assert_null (map->own);
  g_assert_cmpuint (map->peers->len, ==, 1);
  g_assert_cmpstr (((NbRemotePeer *) map->peers->pdata[0])->fqdn, ==, "good1");
  g_assert_cmpuint (map->routes->len, ==, 1);
  g_assert_cmpstr (((NbRoute *) map->routes->pdata[0])->id, ==, "good");
  g_assert_cmpuint (((NbNameServerGroup *) map->dns->nameserver_groups->pdata[0])->nameservers->len, ==, 0);
  g_assert_cmpuint (map->config->stuns->len, ==, 1);
  g_assert_cmpuint (map->config->turns->len, ==, 1);
  g_assert_cmpstr (((NbTurnConfig *) map->config->turns->pdata[0])->uri, ==,
                   "turns:turn.example.net:5349?transport=tcp");
  g_assert_null (map->config->signal);
  g_assert_cmpuint (g_strv_length (map->config->relay->urls), ==, 1);
  g_assert_cmpuint (map->n_skipped, ==, expected_skipped);

  /* A valid own config with a bad IPv6 part and a silly MTU. */
  nm->peerconfig->address = (char *) "100.64.0.5/16";
  g_clear_pointer (&map, nb_network_map_free);
  map = convert_sync (&resp, KEY (9));
  g_assert_nonnull (map->own);
  g_assert_null (map->own->address_v6);
  g_assert_cmpuint (map->own->mtu, ==, NB_NETWORK_MAP_DEFAULT_MTU);
  teardown ();
}

static void
test_convert_unparseable (void)
{
  static const guint8 garbage[] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
  static const guint8 truncated[] = { 0x2a, 0x10, 0x08 }; /* NetworkMap, length 16, 1 byte */
  g_autoptr (GError) error = NULL;
  g_autoptr (NbNetworkMap) map = NULL;
  NbNetworkMap *bad;

  bad = nb_network_map_from_sync_response (garbage, sizeof garbage, NULL, &error);
  g_assert_null (bad);
  g_assert_error (error, NB_NETWORK_MAP_ERROR, NB_NETWORK_MAP_ERROR_PARSE);
  g_clear_error (&error);

  bad = nb_network_map_from_sync_response (truncated, sizeof truncated, NULL, &error);
  g_assert_null (bad);
  g_assert_error (error, NB_NETWORK_MAP_ERROR, NB_NETWORK_MAP_ERROR_PARSE);
  g_clear_error (&error);

  bad = nb_network_map_from_login_response (garbage, sizeof garbage, &error);
  g_assert_null (bad);
  g_assert_error (error, NB_NETWORK_MAP_ERROR, NB_NETWORK_MAP_ERROR_PARSE);
  g_clear_error (&error);

  /* An empty message is a valid SyncResponse with nothing in it. */
  map = nb_network_map_from_sync_response ((const guint8 *) "", 0, NULL, &error);
  g_assert_no_error (error);
  g_assert_false (map->has_map);
  g_assert_null (map->config);
}

static void
test_cidr (void)
{
  g_assert_true (nb_cidr_is_valid ("100.64.0.5/16"));
  g_assert_true (nb_cidr_is_valid ("0.0.0.0/0"));
  g_assert_true (nb_cidr_is_valid ("::/0"));
  g_assert_true (nb_cidr_is_valid ("fd00::1/128"));
  g_assert_false (nb_cidr_is_valid (NULL));
  g_assert_false (nb_cidr_is_valid (""));
  g_assert_false (nb_cidr_is_valid ("/24"));
  g_assert_false (nb_cidr_is_valid ("10.0.0.0/"));
  g_assert_false (nb_cidr_is_valid ("10.0.0.0/-1"));
  g_assert_false (nb_cidr_is_valid ("10.0.0.0/+8"));
  g_assert_false (nb_cidr_is_valid ("10.0.0.0/1000"));
  g_assert_false (nb_cidr_is_valid ("10.0.0/8"));
  g_assert_false (nb_cidr_is_valid ("10.0.0.0/8/8"));
  g_assert_false (nb_cidr_is_valid ("fd00::1/129"));
  g_assert_false (nb_cidr_is_valid ("host.example/32"));
  g_assert_false (nb_cidr_is_valid (" 10.0.0.0/8"));
}

/* ------------------------------------------------------------------------ */
/* Applying updates */

static NbRemotePeer *
peer (int n, const char *ip, const char *fqdn)
{
  const char *ips[] = { ip, NULL };

  return nb_remote_peer_new (KEY (n), ips, fqdn, "0.36.5");
}

/* A map with @serial and peers 1..n given as (n, ip, fqdn) triples. */
static NbNetworkMap *
map_new (guint64 serial, guint n_peers, ...)
{
  NbNetworkMap *map = nb_network_map_new ();
  va_list ap;

  map->has_map = TRUE;
  map->serial = serial;
  map->peers_present = TRUE;
  map->own = g_new0 (NbPeerConfig, 1);
  map->own->address = g_strdup ("100.64.0.1/16");
  map->own->fqdn = g_strdup ("me.netbird.test");
  map->own->dns_domain = g_strdup ("netbird.test");
  map->own->mtu = 1280;
  va_start (ap, n_peers);
  for (guint i = 0; i < n_peers; i++)
    {
      int n = va_arg (ap, int);
      const char *ip = va_arg (ap, const char *);
      const char *fqdn = va_arg (ap, const char *);

      g_ptr_array_add (map->peers, peer (n, ip, fqdn));
    }
  va_end (ap);
  return map;
}

static NbNetbirdConfig *
config_new (const char *turn_password, const char *relay_token)
{
  NbNetbirdConfig *config = nb_netbird_config_new ();
  NbTurnConfig *turn = g_new0 (NbTurnConfig, 1);

  g_ptr_array_add (config->stuns, nb_host_config_new ("stun:stun.example.net:3478", NB_HOST_PROTOCOL_UDP));
  turn->uri = g_strdup ("turn:turn.example.net:3478");
  turn->user = g_strdup ("1700000000:x");
  turn->password = g_strdup (turn_password);
  g_ptr_array_add (config->turns, turn);
  config->signal = nb_host_config_new ("signal.example.net:443", NB_HOST_PROTOCOL_HTTPS);
  if (relay_token)
    {
      config->relay = g_new0 (NbRelayConfig, 1);
      config->relay->urls = g_strsplit ("rels://relay.example.net:443", ",", -1);
      config->relay->token_payload = g_strdup (relay_token);
      config->relay->token_signature = g_strdup ("sig");
    }
  return config;
}

static gboolean
has_key (GPtrArray *peers, int n)
{
  for (guint i = 0; i < peers->len; i++)
    if (strcmp (((NbRemotePeer *) peers->pdata[i])->key, KEY (n)) == 0)
      return TRUE;
  return FALSE;
}

static void
test_diff_first (void)
{
  g_autoptr (NbNetworkMap) update = map_new (1, 2, 1, "100.64.0.2/32", "a", 2, "100.64.0.3/32", "b");
  g_autoptr (NbNetworkMapDiff) diff = NULL;
  g_autoptr (NbNetworkMap) applied = nb_network_map_apply (NULL, update, &diff);

  g_assert_false (diff->stale);
  g_assert_true (diff->map_changed);
  g_assert_true (diff->own_changed);
  g_assert_false (diff->config_changed);
  g_assert_cmpuint (diff->added->len, ==, 2);
  g_assert_cmpuint (diff->removed->len, ==, 0);
  g_assert_cmpuint (diff->updated->len, ==, 0);
  g_assert_cmpuint (applied->serial, ==, 1);
  g_assert_cmpuint (applied->peers->len, ==, 2);
}

static void
test_diff_peers (void)
{
  g_autoptr (NbNetworkMap) applied = map_new (1, 3, 1, "100.64.0.2/32", "a", 2, "100.64.0.3/32", "b",
                                              3, "100.64.0.4/32", "c");
  g_autoptr (NbNetworkMap) update = map_new (2, 4, 1, "100.64.0.2/32", "a",
                                             2, "100.64.0.33/32", "b",  /* allowed IPs changed */
                                             4, "100.64.0.5/32", "d",   /* new */
                                             5, "100.64.0.6/32", "e");  /* new */
  g_autoptr (NbNetworkMapDiff) diff = NULL;
  g_autoptr (NbNetworkMap) result = nb_network_map_apply (applied, update, &diff);
  NbRemotePeer *p;

  g_assert_false (diff->stale);
  g_assert_true (diff->map_changed);
  g_assert_false (diff->own_changed);
  g_assert_cmpuint (diff->added->len, ==, 2);
  g_assert_true (has_key (diff->added, 4));
  g_assert_true (has_key (diff->added, 5));
  g_assert_cmpuint (diff->removed->len, ==, 1);
  g_assert_true (has_key (diff->removed, 3));
  g_assert_cmpuint (diff->updated->len, ==, 1);
  p = diff->updated->pdata[0];
  g_assert_cmpstr (p->key, ==, KEY (2));
  g_assert_cmpstr (p->allowed_ips[0], ==, "100.64.0.33/32");
  g_assert_cmpuint (result->serial, ==, 2);
  g_assert_cmpuint (result->peers->len, ==, 4);
  g_clear_pointer (&diff, nb_network_map_diff_free);

  /* fqdn change = updated. */
  g_clear_pointer (&update, nb_network_map_free);
  update = nb_network_map_copy (result);
  update->serial = 3;
  p = (NbRemotePeer *) nb_network_map_find_peer (update, KEY (1));
  g_free (p->fqdn);
  p->fqdn = g_strdup ("a2");
  diff = nb_network_map_diff (result, update);
  g_assert_cmpuint (diff->updated->len, ==, 1);
  g_assert_cmpstr (((NbRemotePeer *) diff->updated->pdata[0])->fqdn, ==, "a2");
  g_assert_cmpuint (diff->added->len + diff->removed->len, ==, 0);
  g_clear_pointer (&diff, nb_network_map_diff_free);

  /* Agent version only: the map changed, no peer is "updated". */
  p = (NbRemotePeer *) nb_network_map_find_peer (update, KEY (1));
  g_free (p->fqdn);
  p->fqdn = g_strdup ("a");
  g_free (p->agent_version);
  p->agent_version = g_strdup ("0.40.0");
  diff = nb_network_map_diff (result, update);
  g_assert_true (diff->map_changed);
  g_assert_false (nb_network_map_diff_has_peer_changes (diff));
  g_clear_pointer (&diff, nb_network_map_diff_free);

  /* Allowed IPs in another order and peers in another order: no change. */
  {
    g_autoptr (NbNetworkMap) a = map_new (5, 0);
    g_autoptr (NbNetworkMap) b = map_new (5, 0);
    const char *ips1[] = { "100.64.0.2/32", "10.0.0.0/8", NULL };
    const char *ips2[] = { "10.0.0.0/8", "100.64.0.2/32", NULL };

    g_ptr_array_add (a->peers, nb_remote_peer_new (KEY (1), ips1, "x", "v"));
    g_ptr_array_add (a->peers, peer (2, "100.64.0.3/32", "y"));
    g_ptr_array_add (b->peers, peer (2, "100.64.0.3/32", "y"));
    g_ptr_array_add (b->peers, nb_remote_peer_new (KEY (1), ips2, "x", "v"));
    diff = nb_network_map_diff (a, b);
    g_assert_true (nb_network_map_diff_is_empty (diff));
  }
}

static void
test_diff_stale_serial (void)
{
  g_autoptr (NbNetworkMap) applied = map_new (5, 2, 1, "100.64.0.2/32", "a", 2, "100.64.0.3/32", "b");
  g_autoptr (NbNetworkMap) older = map_new (4, 1, 3, "100.64.0.4/32", "c");
  g_autoptr (NbNetworkMapDiff) diff = NULL;
  g_autoptr (NbNetworkMap) result = nb_network_map_apply (applied, older, &diff);

  g_assert_true (diff->stale);
  g_assert_true (nb_network_map_diff_is_empty (diff));
  g_assert_cmpuint (result->serial, ==, 5);
  g_assert_cmpuint (result->peers->len, ==, 2);
  g_assert_nonnull (nb_network_map_find_peer (result, KEY (1)));
  g_clear_pointer (&diff, nb_network_map_diff_free);
  g_clear_pointer (&result, nb_network_map_free);

  /* The NetbirdConfig of a stale message still counts. */
  older->config = config_new ("new-password", NULL);
  result = nb_network_map_apply (applied, older, &diff);
  g_assert_true (diff->stale);
  g_assert_true (diff->config_changed);
  g_assert_false (diff->map_changed);
  g_assert_false (nb_network_map_diff_has_peer_changes (diff));
  g_assert_cmpuint (result->serial, ==, 5);
  g_assert_nonnull (result->config);
}

static void
test_diff_equal_serial (void)
{
  g_autoptr (NbNetworkMap) applied = map_new (7, 2, 1, "100.64.0.2/32", "a", 2, "100.64.0.3/32", "b");
  g_autoptr (NbNetworkMap) same = map_new (7, 2, 2, "100.64.0.3/32", "b", 1, "100.64.0.2/32", "a");
  g_autoptr (NbNetworkMap) changed = map_new (7, 1, 1, "100.64.0.2/32", "a");
  g_autoptr (NbNetworkMapDiff) diff = NULL;

  applied->config = config_new ("pw", "token");
  same->config = config_new ("pw", "token");
  diff = nb_network_map_diff (applied, same);
  g_assert_false (diff->stale);
  g_assert_true (nb_network_map_diff_is_empty (diff));
  g_clear_pointer (&diff, nb_network_map_diff_free);

  /* Equal serial with other content is applied. */
  diff = nb_network_map_diff (applied, changed);
  g_assert_false (diff->stale);
  g_assert_true (diff->map_changed);
  g_assert_cmpuint (diff->removed->len, ==, 1);
  g_assert_true (has_key (diff->removed, 2));
}

static void
test_diff_peers_absent_vs_empty (void)
{
  g_autoptr (NbNetworkMap) applied = map_new (1, 2, 1, "100.64.0.2/32", "a", 2, "100.64.0.3/32", "b");
  g_autoptr (NbNetworkMap) absent = map_new (2, 0);
  g_autoptr (NbNetworkMap) empty = map_new (3, 0);
  g_autoptr (NbNetworkMapDiff) diff = NULL;
  g_autoptr (NbNetworkMap) result = NULL;

  /* No peers and no remotePeersIsEmpty: the peers are not part of it. */
  absent->peers_present = FALSE;
  result = nb_network_map_apply (applied, absent, &diff);
  g_assert_false (nb_network_map_diff_has_peer_changes (diff));
  g_assert_false (diff->map_changed);
  g_assert_cmpuint (result->serial, ==, 2);
  g_assert_cmpuint (result->peers->len, ==, 2);
  g_clear_pointer (&diff, nb_network_map_diff_free);

  /* remotePeersIsEmpty: every peer goes. */
  empty->peers_present = TRUE;
  g_clear_pointer (&applied, nb_network_map_free);
  applied = g_steal_pointer (&result);
  result = nb_network_map_apply (applied, empty, &diff);
  g_assert_cmpuint (diff->removed->len, ==, 2);
  g_assert_cmpuint (diff->added->len, ==, 0);
  g_assert_true (diff->map_changed);
  g_assert_cmpuint (result->peers->len, ==, 0);
  g_clear_pointer (&diff, nb_network_map_diff_free);

  /* The same through protobuf: the flag decides. */
  {
    Management__SyncResponse resp = MANAGEMENT__SYNC_RESPONSE__INIT;
    Management__NetworkMap nm = MANAGEMENT__NETWORK_MAP__INIT;
    g_autoptr (NbNetworkMap) m = NULL;

    resp.networkmap = &nm;
    nm.serial = 9;
    m = convert_sync (&resp, NULL);
    g_assert_true (m->has_map);
    g_assert_false (m->peers_present);
    g_clear_pointer (&m, nb_network_map_free);
    nm.remotepeersisempty = TRUE;
    m = convert_sync (&resp, NULL);
    g_assert_true (m->peers_present);
    g_assert_cmpuint (m->peers->len, ==, 0);
  }
}

static void
test_diff_config_only (void)
{
  g_autoptr (NbNetworkMap) applied = map_new (4, 1, 1, "100.64.0.2/32", "a");
  g_autoptr (NbNetworkMap) update = nb_network_map_new ();
  g_autoptr (NbNetworkMapDiff) diff = NULL;
  g_autoptr (NbNetworkMap) result = NULL;
  const NbTurnConfig *turn;

  applied->config = config_new ("old-password", "old-token");

  /* Same config: nothing. */
  update->config = config_new ("old-password", "old-token");
  diff = nb_network_map_diff (applied, update);
  g_assert_true (nb_network_map_diff_is_empty (diff));
  g_clear_pointer (&diff, nb_network_map_diff_free);

  /* Refreshed TURN credentials and relay token without a map. */
  nb_netbird_config_free (update->config);
  update->config = config_new ("new-password", "new-token");
  result = nb_network_map_apply (applied, update, &diff);
  g_assert_true (diff->config_changed);
  g_assert_false (diff->map_changed);
  g_assert_false (diff->stale);
  g_assert_false (nb_network_map_diff_has_peer_changes (diff));
  g_assert_cmpuint (result->serial, ==, 4);
  g_assert_cmpuint (result->peers->len, ==, 1);
  turn = result->config->turns->pdata[0];
  g_assert_cmpstr (turn->password, ==, "new-password");
  g_assert_cmpstr (result->config->relay->token_payload, ==, "new-token");
  g_clear_pointer (&diff, nb_network_map_diff_free);
  g_clear_pointer (&applied, nb_network_map_free);
  applied = g_steal_pointer (&result);

  /* Empty STUN/TURN lists and no signal keep the applied ones; no relay
   * config means no relay. */
  nb_netbird_config_free (update->config);
  update->config = nb_netbird_config_new ();
  result = nb_network_map_apply (applied, update, &diff);
  g_assert_true (diff->config_changed);
  g_assert_cmpuint (result->config->stuns->len, ==, 1);
  g_assert_cmpuint (result->config->turns->len, ==, 1);
  g_assert_nonnull (result->config->signal);
  g_assert_null (result->config->relay);
}

/* ------------------------------------------------------------------------ */
/* Secrets */

static void
test_turn_password_wiped (void)
{
  Management__SyncResponse resp = MANAGEMENT__SYNC_RESPONSE__INIT;
  Management__NetworkMap *nm = NEW (Management__NetworkMap, management__network_map__init);
  g_autoptr (NbNetworkMap) map = NULL;
  g_autoptr (NbNetworkMap) result = NULL;
  g_autoptr (NbNetworkMapDiff) diff = NULL;
  NbTurnConfig *turn;
  char *password;
  gsize len;

  setup ();
  g_string_truncate (log_text, 0);
  resp.netbirdconfig = config_pb ("TURN-PASS-7c1f3a");
  resp.netbirdconfig->relay->tokenpayload = (char *) "RELAY-PAYLOAD-93bd";
  resp.netbirdconfig->relay->tokensignature = (char *) "RELAY-SIG-51e0";
  resp.networkmap = nm;
  nm->serial = 1;
  nm->peerconfig = own_pb ("100.64.0.5/16", "me.netbird.test", 0);
  nm->remotepeers = peer_list (2, peer_pb (KEY (1), strs ("100.64.0.7/32", NULL), "a", "v"),
                               peer_pb ("bad", strs ("100.64.0.8/32", NULL), "b", "v"));
  nm->n_remotepeers = 2;

  /* Convert, apply, diff, copy, free: with debug logging on, no secret may
   * appear in any log line. */
  map = convert_sync (&resp, NULL);
  result = nb_network_map_apply (NULL, map, &diff);
  g_assert_true (diff->config_changed);
  {
    g_autoptr (NbNetworkMap) copy = nb_network_map_copy (result);
  }
  g_assert_nonnull (strstr (log_text->str, "invalid key")); /* the capture works */
  g_assert_null (strstr (log_text->str, "TURN-PASS"));
  g_assert_null (strstr (log_text->str, "RELAY-PAYLOAD"));
  g_assert_null (strstr (log_text->str, "RELAY-SIG"));

  /* Wiping overwrites the password bytes in place. */
  turn = result->config->turns->pdata[0];
  password = turn->password;
  len = strlen (password);
  g_assert_cmpuint (len, ==, strlen ("TURN-PASS-7c1f3a"));
  nb_turn_config_wipe (turn);
  for (gsize i = 0; i < len; i++)
    g_assert_cmpint (password[i], ==, 0);
  g_assert_cmpstr (turn->password, ==, "");
  teardown ();
}

int
main (int argc, char **argv)
{
  int rc;

  g_setenv ("G_MESSAGES_DEBUG", "all", TRUE);
  g_test_init (&argc, &argv, NULL);
  g_log_set_debug_enabled (TRUE);
  log_text = g_string_new (NULL);
  g_log_set_writer_func (capture_writer, NULL, NULL);
  /* Conversion warns about every entry it drops, which these tests provoke
   * on purpose: warnings are not fatal here (criticals still are). */
  g_log_set_always_fatal (G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);
  keys_init ();

  g_test_add_func ("/network-map/convert/full", test_convert_full);
  g_test_add_func ("/network-map/convert/login", test_convert_login);
  g_test_add_func ("/network-map/convert/invalid-entries", test_convert_invalid_entries);
  g_test_add_func ("/network-map/convert/unparseable", test_convert_unparseable);
  g_test_add_func ("/network-map/cidr", test_cidr);
  g_test_add_func ("/network-map/diff/first", test_diff_first);
  g_test_add_func ("/network-map/diff/peers", test_diff_peers);
  g_test_add_func ("/network-map/diff/stale-serial", test_diff_stale_serial);
  g_test_add_func ("/network-map/diff/equal-serial", test_diff_equal_serial);
  g_test_add_func ("/network-map/diff/peers-absent-vs-empty", test_diff_peers_absent_vs_empty);
  g_test_add_func ("/network-map/diff/config-only", test_diff_config_only);
  g_test_add_func ("/network-map/secrets/turn-password-wiped", test_turn_password_wiped);

  rc = g_test_run ();
  g_string_free (log_text, TRUE);
  return rc;
}
