/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * netbird-devnet's management service; see mgmt-service.h.
 */
#define G_LOG_DOMAIN "nb-devnet-mgmt"

#include "config.h"

#include "mgmt-service.h"

#include <sodium.h>
#include <string.h>

#include "box.h"
#include "management.pb-c.h"
#include "relay-msg.h"

#define SERVICE_PREFIX "/management.ManagementService/"

/* NetBird sends the deprecated top-level remotePeers to clients older than
 * this. */
#define DEPRECATED_REMOTE_PEERS_VERSION { 0, 29, 3 }

/* NetBird's peer records: type A (RFC 1035), TTL 300 s. */
#define PEER_RECORD_TYPE_A  1
#define PEER_RECORD_TTL     300

typedef struct {
  NbDevnetMgmt *owner; /* not a reference: streams die with the owner */
  NbGrpcServerCall *call;
  char *key;
  NbWgKey pub;
  char *version;      /* the client's netbirdVersion */
  guint64 serial;     /* serial of the last map sent */
  guint turn_timer;
  guint relay_timer;
} SyncStream;

struct _NbDevnetMgmt {
  GObject parent_instance;

  NbDevnetState *state;
  NbDevnetMgmtConfig *config;
  guint8 relay_key[crypto_hash_sha256_BYTES]; /* SHA-256(relay.secret) */
  char *turn_user;      /* static mode */
  char *turn_password;  /* static mode */
  char *server_pub_b64;

  GHashTable *streams;  /* key → SyncStream* */
  gulong changed_id;
  guint push_source;
  gboolean stopped;
};

enum {
  SIGNAL_MAP_PUSHED,
  N_SIGNALS,
};
static guint signals[N_SIGNALS];

G_DEFINE_TYPE (NbDevnetMgmt, nb_devnet_mgmt, G_TYPE_OBJECT)

/* ------------------------------------------------------------------------ */
/* Config */

NbDevnetMgmtConfig *
nb_devnet_mgmt_config_new (void)
{
  NbDevnetMgmtConfig *config = g_new0 (NbDevnetMgmtConfig, 1);

  config->turn_credentials = NB_DEVNET_TURN_CREDENTIALS_SECRET;
  config->turn_ttl_s = NB_DEVNET_DEFAULT_CREDENTIALS_TTL_S;
  config->relay_ttl_s = NB_DEVNET_DEFAULT_CREDENTIALS_TTL_S;
  config->mtu = 1280;
  return config;
}

NbDevnetMgmtConfig *
nb_devnet_mgmt_config_copy (const NbDevnetMgmtConfig *config)
{
  NbDevnetMgmtConfig *copy = g_new0 (NbDevnetMgmtConfig, 1);

  *copy = *config;
  copy->signal_uri = g_strdup (config->signal_uri);
  copy->turn_hosts = g_strdupv (config->turn_hosts);
  copy->relay_urls = g_strdupv (config->relay_urls);
  return copy;
}

void
nb_devnet_mgmt_config_free (NbDevnetMgmtConfig *config)
{
  if (config == NULL)
    return;
  g_free (config->signal_uri);
  g_strfreev (config->turn_hosts);
  g_strfreev (config->relay_urls);
  g_free (config);
}

/* ------------------------------------------------------------------------ */
/* Building messages: everything a message points to is kept in an Arena
 * and freed (secrets wiped) after packing. */

typedef struct {
  GPtrArray *blocks;  /* g_free */
  GPtrArray *secrets; /* NUL-terminated strings, wiped then freed */
} Arena;

static void
wipe_string (gpointer data)
{
  char *s = data;

  sodium_memzero (s, strlen (s));
  g_free (s);
}

static void
arena_init (Arena *a)
{
  a->blocks = g_ptr_array_new_with_free_func (g_free);
  a->secrets = g_ptr_array_new_with_free_func (wipe_string);
}

static void
arena_clear (Arena *a)
{
  g_clear_pointer (&a->blocks, g_ptr_array_unref);
  g_clear_pointer (&a->secrets, g_ptr_array_unref);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Arena, arena_clear)

static gpointer
arena_add (Arena *a, gpointer block)
{
  g_ptr_array_add (a->blocks, block);
  return block;
}

#define ARENA_NEW(a, Type, INIT)                          \
  ({                                                      \
    Type *obj_ = arena_add ((a), g_new0 (Type, 1));       \
    Type init_ = INIT;                                    \
    *obj_ = init_;                                        \
    obj_;                                                 \
  })

static char *
arena_strdup (Arena *a, const char *s)
{
  return arena_add (a, g_strdup (s ? s : ""));
}

static char *
arena_printf (Arena *a, const char *format, ...) G_GNUC_PRINTF (2, 3);

static char *
arena_printf (Arena *a, const char *format, ...)
{
  va_list ap;
  char *s;

  va_start (ap, format);
  s = g_strdup_vprintf (format, ap);
  va_end (ap);
  return arena_add (a, s);
}

/* Takes @s (a secret). */
static char *
arena_take_secret (Arena *a, char *s)
{
  g_ptr_array_add (a->secrets, s);
  return s;
}

static gpointer *
arena_array (Arena *a, gsize n)
{
  return arena_add (a, g_new0 (gpointer, MAX (n, 1)));
}

/* Packs @msg into a buffer that is wiped when the GBytes goes. */
typedef struct {
  guint8 *data;
  gsize len;
} WipedBuf;

static void
wiped_buf_free (gpointer data)
{
  WipedBuf *buf = data;

  sodium_memzero (buf->data, buf->len);
  g_free (buf->data);
  g_free (buf);
}

static GBytes *
pack_secret (const ProtobufCMessage *msg)
{
  WipedBuf *buf = g_new0 (WipedBuf, 1);

  buf->len = protobuf_c_message_get_packed_size (msg);
  buf->data = g_malloc (buf->len + 1);
  protobuf_c_message_pack (msg, buf->data);
  return g_bytes_new_with_free_func (buf->data, buf->len, wiped_buf_free, buf);
}

static GBytes *
pack_plain (const ProtobufCMessage *msg)
{
  gsize len = protobuf_c_message_get_packed_size (msg);
  guint8 *data = g_malloc (len + 1);

  protobuf_c_message_pack (msg, data);
  return g_bytes_new_take (data, len);
}

/* EncryptedMessage {wgPubKey = server key, body = seal(@inner)} for @peer. */
static GBytes *
seal_for (NbDevnetMgmt *self, const NbWgKey *peer, const ProtobufCMessage *inner, GError **error)
{
  g_autoptr (GBytes) plain = pack_secret (inner);
  g_autoptr (GBytes) sealed = NULL;
  Management__EncryptedMessage em = MANAGEMENT__ENCRYPTED_MESSAGE__INIT;
  gsize len;
  const guint8 *data = g_bytes_get_data (plain, &len);

  sealed = nb_box_seal (data, len, peer, nb_devnet_state_get_server_private_key (self->state), error);
  if (sealed == NULL)
    return NULL;
  em.wgpubkey = self->server_pub_b64;
  em.body.data = (guint8 *) g_bytes_get_data (sealed, &em.body.len);
  return pack_plain (&em.base);
}

static Google__Protobuf__Timestamp *
timestamp (Arena *a, gint64 seconds)
{
  Google__Protobuf__Timestamp *ts = ARENA_NEW (a, Google__Protobuf__Timestamp, GOOGLE__PROTOBUF__TIMESTAMP__INIT);

  ts->seconds = seconds;
  return ts;
}

static char *
peer_fqdn (NbDevnetMgmt *self, Arena *a, const NbDevnetPeer *peer)
{
  const char *domain = nb_devnet_state_get_dns_domain (self->state);

  if (domain == NULL || *domain == '\0')
    return arena_strdup (a, peer->dns_label);
  return arena_printf (a, "%s.%s", peer->dns_label, domain);
}

static Management__PeerConfig *
build_peer_config (NbDevnetMgmt *self, Arena *a, const NbDevnetPeer *peer)
{
  Management__PeerConfig *pc = ARENA_NEW (a, Management__PeerConfig, MANAGEMENT__PEER_CONFIG__INIT);
  Management__SSHConfig *ssh = ARENA_NEW (a, Management__SSHConfig, MANAGEMENT__SSHCONFIG__INIT);
  Management__AutoUpdateSettings *au =
    ARENA_NEW (a, Management__AutoUpdateSettings, MANAGEMENT__AUTO_UPDATE_SETTINGS__INIT);
  g_autofree char *ip = nb_devnet_peer_ip_string (peer);

  pc->address = arena_printf (a, "%s/%d", ip, NB_DEVNET_NETWORK_PREFIX);
  pc->fqdn = peer_fqdn (self, a, peer);
  pc->sshconfig = ssh;
  pc->mtu = self->config->mtu;
  pc->autoupdate = au;
  return pc;
}

static Management__RemotePeerConfig *
build_remote_peer (NbDevnetMgmt *self, Arena *a, const NbDevnetPeer *peer)
{
  Management__RemotePeerConfig *rp =
    ARENA_NEW (a, Management__RemotePeerConfig, MANAGEMENT__REMOTE_PEER_CONFIG__INIT);
  Management__SSHConfig *ssh = ARENA_NEW (a, Management__SSHConfig, MANAGEMENT__SSHCONFIG__INIT);
  g_autofree char *ip = nb_devnet_peer_ip_string (peer);

  rp->wgpubkey = arena_strdup (a, peer->key);
  rp->n_allowedips = 1;
  rp->allowedips = (char **) arena_array (a, 1);
  rp->allowedips[0] = arena_printf (a, "%s/32", ip);
  if (peer->meta->ssh_pubkey_b64[0] != '\0')
    {
      gsize len = 0;
      guint8 *raw = g_base64_decode (peer->meta->ssh_pubkey_b64, &len);

      ssh->sshpubkey.data = arena_add (a, raw);
      ssh->sshpubkey.len = len;
    }
  rp->sshconfig = ssh;
  rp->fqdn = peer_fqdn (self, a, peer);
  rp->agentversion = arena_strdup (a, peer->meta->netbird_version);
  return rp;
}

static Management__HostConfig *
host_config (Arena *a, char *uri, Management__HostConfig__Protocol protocol)
{
  Management__HostConfig *hc = ARENA_NEW (a, Management__HostConfig, MANAGEMENT__HOST_CONFIG__INIT);

  hc->uri = uri;
  hc->protocol = protocol;
  return hc;
}

/* NetBird's TimedHMAC with SHA-1, as coturn's use-auth-secret expects. */
static void
turn_credentials (NbDevnetMgmt *self, Arena *a, char **out_user, char **out_password)
{
  if (self->config->turn_credentials == NB_DEVNET_TURN_CREDENTIALS_STATIC)
    {
      *out_user = arena_strdup (a, self->turn_user);
      *out_password = arena_take_secret (a, g_strdup (self->turn_password));
    }
  else
    {
      GBytes *secret = nb_devnet_state_get_turn_secret (self->state);
      gsize secret_len;
      const guint8 *secret_data = g_bytes_get_data (secret, &secret_len);
      gint64 expires = g_get_real_time () / G_USEC_PER_SEC + self->config->turn_ttl_s;
      char *user = arena_printf (a, "%" G_GINT64_FORMAT, expires);
      g_autoptr (GHmac) hmac = g_hmac_new (G_CHECKSUM_SHA1, secret_data, secret_len);
      guint8 digest[20];
      gsize digest_len = sizeof digest;

      g_hmac_update (hmac, (const guchar *) user, strlen (user));
      g_hmac_get_digest (hmac, digest, &digest_len);
      *out_user = user;
      *out_password = arena_take_secret (a, g_base64_encode (digest, digest_len));
      sodium_memzero (digest, sizeof digest);
    }
}

static void
add_turns (NbDevnetMgmt *self, Arena *a, Management__NetbirdConfig *nc)
{
  guint n = self->config->turn_hosts ? g_strv_length (self->config->turn_hosts) : 0;
  char *user;
  char *password;

  if (n == 0)
    return;
  turn_credentials (self, a, &user, &password);
  nc->n_turns = n;
  nc->turns = (Management__ProtectedHostConfig **) arena_array (a, n);
  for (guint i = 0; i < n; i++)
    {
      Management__ProtectedHostConfig *phc =
        ARENA_NEW (a, Management__ProtectedHostConfig, MANAGEMENT__PROTECTED_HOST_CONFIG__INIT);

      phc->hostconfig = host_config (a, arena_printf (a, "turn:%s?transport=udp", self->config->turn_hosts[i]),
                                     MANAGEMENT__HOST_CONFIG__PROTOCOL__UDP);
      phc->user = user;
      phc->password = password;
      nc->turns[i] = phc;
    }
}

static void
add_relay (NbDevnetMgmt *self, Arena *a, Management__NetbirdConfig *nc)
{
  guint n = self->config->relay_urls ? g_strv_length (self->config->relay_urls) : 0;
  Management__RelayConfig *rc;
  g_autoptr (NbRelayToken) token = NULL;

  if (n == 0)
    return;
  rc = ARENA_NEW (a, Management__RelayConfig, MANAGEMENT__RELAY_CONFIG__INIT);
  rc->n_urls = n;
  rc->urls = (char **) arena_array (a, n);
  for (guint i = 0; i < n; i++)
    rc->urls[i] = arena_strdup (a, self->config->relay_urls[i]);
  token = nb_relay_token_new (self->relay_key, sizeof self->relay_key,
                              g_get_real_time () / G_USEC_PER_SEC + self->config->relay_ttl_s);
  rc->tokenpayload = arena_strdup (a, token->payload);
  rc->tokensignature = arena_take_secret (a, g_strdup (token->signature));
  nc->relay = rc;
}

typedef enum {
  CONFIG_FULL,        /* login / first sync */
  CONFIG_TURN_AND_RELAY, /* TURN refresh */
  CONFIG_RELAY,       /* relay refresh */
} ConfigKind;

static Management__NetbirdConfig *
build_netbird_config (NbDevnetMgmt *self, Arena *a, ConfigKind kind)
{
  Management__NetbirdConfig *nc = ARENA_NEW (a, Management__NetbirdConfig, MANAGEMENT__NETBIRD_CONFIG__INIT);

  if (kind == CONFIG_FULL)
    {
      guint n = self->config->turn_hosts ? g_strv_length (self->config->turn_hosts) : 0;
      Management__MetricsConfig *metrics =
        ARENA_NEW (a, Management__MetricsConfig, MANAGEMENT__METRICS_CONFIG__INIT);

      nc->n_stuns = n;
      nc->stuns = (Management__HostConfig **) arena_array (a, n);
      for (guint i = 0; i < n; i++)
        nc->stuns[i] = host_config (a, arena_printf (a, "stun:%s", self->config->turn_hosts[i]),
                                    MANAGEMENT__HOST_CONFIG__PROTOCOL__UDP);
      nc->signal = host_config (a, arena_strdup (a, self->config->signal_uri),
                                self->config->signal_tls ? MANAGEMENT__HOST_CONFIG__PROTOCOL__HTTPS
                                                         : MANAGEMENT__HOST_CONFIG__PROTOCOL__HTTP);
      nc->metrics = metrics;
    }
  if (kind != CONFIG_RELAY)
    add_turns (self, a, nc);
  add_relay (self, a, nc);
  return nc;
}

static gboolean
version_before_deprecation (const char *version)
{
  static const guint64 limit[3] = DEPRECATED_REMOTE_PEERS_VERSION;
  guint64 parts[3] = { 0, 0, 0 };
  const char *p = version;

  /* NetBird: development builds never get the deprecated field, versions
   * that do not parse always do. */
  if (g_str_has_prefix (version, "development") || g_str_has_prefix (version, "dev-")
      || g_str_has_prefix (version, "ci-"))
    return FALSE;
  if (*p == 'v')
    p++;
  for (guint i = 0; i < 3; i++)
    {
      char *end;

      if (!g_ascii_isdigit (*p))
        return TRUE; /* does not parse */
      parts[i] = g_ascii_strtoull (p, &end, 10);
      p = end;
      if (*p != '.')
        break;
      p++;
    }
  for (guint i = 0; i < 3; i++)
    if (parts[i] != limit[i])
      return parts[i] < limit[i];
  return FALSE;
}

/* NetBird's route.NetworkType: 1 IPv4, 2 IPv6 (3 would be a domain route). */
static gint64
network_type (const char *cidr)
{
  return strchr (cidr, ':') != NULL ? 2 : 1;
}

/* Every route whose routing peer is registered, the routing peer's own
 * included (NetBird sends a routing peer its routes: that is how it learns
 * to forward them). */
static void
add_routes (NbDevnetMgmt *self, Arena *a, Management__NetworkMap *map)
{
  g_autoptr (GPtrArray) routes = nb_devnet_state_list_routes (self->state);
  gsize n = 0;

  map->routes = (Management__Route **) arena_array (a, routes->len);
  for (guint i = 0; i < routes->len; i++)
    {
      const NbDevnetRoute *route = routes->pdata[i];
      Management__Route *r;

      if (nb_devnet_state_lookup_peer (self->state, route->peer) == NULL)
        continue;
      r = ARENA_NEW (a, Management__Route, MANAGEMENT__ROUTE__INIT);
      r->id = arena_strdup (a, route->id);
      r->network = arena_strdup (a, route->network);
      r->networktype = network_type (route->network);
      r->peer = arena_strdup (a, route->peer);
      r->metric = route->metric;
      r->masquerade = route->masquerade;
      r->netid = arena_strdup (a, route->net_id);
      r->skipautoapply = route->skip_auto_apply;
      map->routes[n++] = r;
    }
  map->n_routes = n;
}

/* NetBird's DNS for the peers: the service on, no nameserver groups (devnet
 * has none) and one custom zone, the network's DNS domain, with an A record
 * for every registered peer. NetBird's zone holds the receiving peer and
 * every peer it may connect to, with a Sync stream or not; in devnet every
 * peer may connect to every other. No zone without a DNS domain, as
 * NetBird. */
static Management__DNSConfig *
build_dns_config (NbDevnetMgmt *self, Arena *a, GPtrArray *peers)
{
  Management__DNSConfig *dns = ARENA_NEW (a, Management__DNSConfig, MANAGEMENT__DNSCONFIG__INIT);
  const char *domain = nb_devnet_state_get_dns_domain (self->state);
  Management__CustomZone *zone;

  dns->serviceenable = TRUE;
  if (domain == NULL || *domain == '\0' || peers->len == 0)
    return dns;

  zone = ARENA_NEW (a, Management__CustomZone, MANAGEMENT__CUSTOM_ZONE__INIT);
  zone->domain = g_str_has_suffix (domain, ".") ? arena_strdup (a, domain) : arena_printf (a, "%s.", domain);
  zone->n_records = peers->len;
  zone->records = (Management__SimpleRecord **) arena_array (a, peers->len);
  for (guint i = 0; i < peers->len; i++)
    {
      const NbDevnetPeer *peer = peers->pdata[i];
      Management__SimpleRecord *record =
        ARENA_NEW (a, Management__SimpleRecord, MANAGEMENT__SIMPLE_RECORD__INIT);

      record->name = peer_fqdn (self, a, peer);
      record->type = PEER_RECORD_TYPE_A;
      record->class_ = arena_strdup (a, "IN");
      record->ttl = PEER_RECORD_TTL;
      record->rdata = arena_add (a, nb_devnet_peer_ip_string (peer));
      zone->records[i] = record;
    }
  dns->n_customzones = 1;
  dns->customzones = (Management__CustomZone **) arena_array (a, 1);
  dns->customzones[0] = zone;
  return dns;
}

/* The whole map for @peer, as SyncResponse fields. */
static void
fill_map (NbDevnetMgmt *self, Arena *a, Management__SyncResponse *resp, const NbDevnetPeer *peer,
          const char *client_version)
{
  Management__NetworkMap *map = ARENA_NEW (a, Management__NetworkMap, MANAGEMENT__NETWORK_MAP__INIT);
  g_autoptr (GPtrArray) peers = nb_devnet_state_list_peers (self->state);
  Management__RemotePeerConfig **remote = (Management__RemotePeerConfig **) arena_array (a, peers->len);
  gsize n = 0;

  for (guint i = 0; i < peers->len; i++)
    {
      const NbDevnetPeer *other = peers->pdata[i];

      if (g_strcmp0 (other->key, peer->key) != 0)
        remote[n++] = build_remote_peer (self, a, other);
    }
  map->serial = nb_devnet_state_get_serial (self->state);
  map->peerconfig = build_peer_config (self, a, peer);
  map->n_remotepeers = n;
  map->remotepeers = remote;
  map->remotepeersisempty = n == 0;
  add_routes (self, a, map);
  map->dnsconfig = build_dns_config (self, a, peers);

  resp->peerconfig = map->peerconfig;
  resp->networkmap = map;
  resp->remotepeersisempty = n == 0;
  if (version_before_deprecation (client_version ? client_version : ""))
    {
      resp->n_remotepeers = n;
      resp->remotepeers = remote;
    }
}

/* ------------------------------------------------------------------------ */
/* Requests */

/* Unpacks an EncryptedMessage and opens its body as @desc. Fails @call and
 * returns NULL when that is not possible. */
static ProtobufCMessage *
open_request (NbDevnetMgmt *self, NbGrpcServerCall *call, GBytes *request,
              const ProtobufCMessageDescriptor *desc, char **out_key, NbWgKey *out_pub)
{
  gsize len;
  const guint8 *data = g_bytes_get_data (request, &len);
  Management__EncryptedMessage *em;
  g_autoptr (GBytes) plain = NULL;
  g_autoptr (GError) error = NULL;
  ProtobufCMessage *inner;

  em = management__encrypted_message__unpack (NULL, len, data);
  if (em == NULL)
    {
      g_message ("%s from %s: not an EncryptedMessage", nb_grpc_server_call_get_path (call),
                 nb_grpc_server_call_get_peer (call));
      nb_grpc_server_call_fail (call, NB_GRPC_STATUS_INTERNAL,
                                "grpc: error unmarshalling request: not an EncryptedMessage");
      return NULL;
    }
  if (!nb_wg_key_from_base64 (em->wgpubkey, out_pub, NULL))
    {
      g_autofree char *msg = g_strdup_printf ("provided wgPubKey %s is invalid", em->wgpubkey);

      g_message ("%s from %s: %s", nb_grpc_server_call_get_path (call),
                 nb_grpc_server_call_get_peer (call), msg);
      nb_grpc_server_call_fail (call, NB_GRPC_STATUS_INVALID_ARGUMENT, msg);
      management__encrypted_message__free_unpacked (em, NULL);
      return NULL;
    }
  plain = nb_box_open (em->body.data, em->body.len, out_pub,
                       nb_devnet_state_get_server_private_key (self->state), &error);
  inner = plain ? protobuf_c_message_unpack (desc, NULL, g_bytes_get_size (plain),
                                             g_bytes_get_data (plain, NULL))
                : NULL;
  if (inner == NULL)
    {
      g_message ("%s from %s (%s): invalid request message (%s)", nb_grpc_server_call_get_path (call),
                 nb_grpc_server_call_get_peer (call), em->wgpubkey,
                 error ? error->message : "body does not parse");
      nb_grpc_server_call_fail (call, NB_GRPC_STATUS_INVALID_ARGUMENT, "invalid request message");
      management__encrypted_message__free_unpacked (em, NULL);
      return NULL;
    }
  *out_key = g_strdup (em->wgpubkey);
  management__encrypted_message__free_unpacked (em, NULL);
  return inner;
}

static NbDevnetPeerMeta *
meta_from_proto (const Management__PeerSystemMeta *m, const NbDevnetPeerMeta *base)
{
  NbDevnetPeerMeta *meta = base ? nb_devnet_peer_meta_copy (base) : nb_devnet_peer_meta_new ();

#define SET(field, value) \
  G_STMT_START { g_free (meta->field); meta->field = g_strdup ((value) ? (value) : ""); } G_STMT_END
  SET (hostname, m->hostname);
  SET (go_os, m->goos);
  SET (kernel, m->kernel);
  SET (core, m->core);
  SET (platform, m->platform);
  SET (os, m->os);
  SET (os_version, m->osversion);
  SET (kernel_version, m->kernelversion);
  SET (netbird_version, m->netbirdversion);
  SET (ui_version, m->uiversion);
#undef SET
  return meta;
}

static void
reply_sealed (NbDevnetMgmt *self, NbGrpcServerCall *call, const NbWgKey *peer,
              const ProtobufCMessage *inner)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) reply = seal_for (self, peer, inner, &error);

  if (reply == NULL)
    {
      g_warning ("cannot seal the answer to %s: %s", nb_grpc_server_call_get_path (call), error->message);
      nb_grpc_server_call_fail (call, NB_GRPC_STATUS_INTERNAL, "failed logging in peer");
      return;
    }
  nb_grpc_server_call_reply (call, reply);
}

static void
reply_empty (NbGrpcServerCall *call)
{
  Management__Empty empty = MANAGEMENT__EMPTY__INIT;
  g_autoptr (GBytes) reply = pack_plain (&empty.base);

  nb_grpc_server_call_reply (call, reply);
}

/* ------------------------------------------------------------------------ */
/* GetServerKey, isHealthy */

static void
get_server_key_cb (NbGrpcServerCall *call, GBytes *request, gpointer user_data)
{
  NbDevnetMgmt *self = user_data;
  Management__ServerKeyResponse resp = MANAGEMENT__SERVER_KEY_RESPONSE__INIT;
  Google__Protobuf__Timestamp expires = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
  gint64 now_us = g_get_real_time ();
  g_autoptr (GBytes) reply = NULL;

  /* NetBird means now + 24 h here (and sends only its seconds-of-minute
   * through a bug); clients ignore it. */
  expires.seconds = now_us / G_USEC_PER_SEC + 24 * 60 * 60;
  expires.nanos = (gint32) (now_us % G_USEC_PER_SEC) * 1000;
  resp.key = self->server_pub_b64;
  resp.expiresat = &expires;
  reply = pack_plain (&resp.base);
  g_debug ("GetServerKey from %s", nb_grpc_server_call_get_peer (call));
  nb_grpc_server_call_reply (call, reply);
}

static void
is_healthy_cb (NbGrpcServerCall *call, GBytes *request, gpointer user_data)
{
  reply_empty (call);
}

/* ------------------------------------------------------------------------ */
/* Login */

static void
login_request_free (Management__LoginRequest *req)
{
  if (req->setupkey != NULL)
    sodium_memzero (req->setupkey, strlen (req->setupkey));
  if (req->jwttoken != NULL)
    sodium_memzero (req->jwttoken, strlen (req->jwttoken));
  management__login_request__free_unpacked (req, NULL);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Management__LoginRequest, login_request_free)

static void
login_cb (NbGrpcServerCall *call, GBytes *request, gpointer user_data)
{
  NbDevnetMgmt *self = user_data;
  g_autoptr (Management__LoginRequest) req = NULL;
  g_autofree char *key = NULL;
  g_autoptr (NbDevnetPeerMeta) meta = NULL;
  g_autoptr (GError) error = NULL;
  g_auto (Arena) arena = { 0 };
  Management__LoginResponse resp = MANAGEMENT__LOGIN_RESPONSE__INIT;
  const NbDevnetPeer *peer;
  NbWgKey pub;

  req = (Management__LoginRequest *) open_request (self, call, request, &management__login_request__descriptor,
                                                   &key, &pub);
  if (req == NULL)
    return;

  if (req->meta == NULL)
    {
      g_autofree char *msg =
        g_strdup_printf ("peer system meta has to be provided to log in. Peer %s, remote addr %s", key,
                         nb_grpc_server_call_get_peer (call));

      g_message ("login of %s refused: no system meta", key);
      nb_grpc_server_call_fail (call, NB_GRPC_STATUS_FAILED_PRECONDITION, msg);
      return;
    }
  if (req->n_dnslabels > 0)
    {
      g_message ("login of %s refused: extra DNS labels are not allowed", key);
      nb_grpc_server_call_fail (call, NB_GRPC_STATUS_FAILED_PRECONDITION,
                                "couldn't add peer: setup key doesn't allow extra DNS labels");
      return;
    }
  if (req->jwttoken != NULL && req->jwttoken[0] != '\0')
    {
      g_message ("login of %s refused: SSO (JWT) login is not supported", key);
      nb_grpc_server_call_fail (call, NB_GRPC_STATUS_PERMISSION_DENIED,
                                "SSO login is not supported by netbird-devnet; use a setup key");
      return;
    }

  peer = nb_devnet_state_lookup_peer (self->state, key);
  meta = meta_from_proto (req->meta, peer ? peer->meta : NULL);
  g_free (meta->ssh_pubkey_b64);
  meta->ssh_pubkey_b64 = (req->peerkeys && req->peerkeys->sshpubkey.len > 0)
                           ? g_base64_encode (req->peerkeys->sshpubkey.data, req->peerkeys->sshpubkey.len)
                           : g_strdup ("");

  if (peer != NULL)
    {
      if (!nb_devnet_state_update_peer (self->state, key, meta, TRUE, NULL, &error))
        g_warning ("cannot store the login of %s: %s", key, error->message);
      g_clear_error (&error);
      peer = nb_devnet_state_lookup_peer (self->state, key);
      if (peer == NULL)
        {
          nb_grpc_server_call_fail (call, NB_GRPC_STATUS_PERMISSION_DENIED, "peer is not registered");
          return;
        }
      g_message ("peer %s logged in from %s", key, nb_grpc_server_call_get_peer (call));
    }
  else if (req->setupkey == NULL || req->setupkey[0] == '\0')
    {
      g_message ("login of %s refused: not registered and no setup key", key);
      nb_grpc_server_call_fail (call, NB_GRPC_STATUS_PERMISSION_DENIED,
                                "no peer auth method provided, please use a setup key or interactive SSO login");
      return;
    }
  else
    {
      peer = nb_devnet_state_register_peer (self->state, key, req->setupkey, meta, &error);
      if (peer == NULL)
        {
          NbGrpcStatus status = NB_GRPC_STATUS_INTERNAL;

          if (g_error_matches (error, NB_DEVNET_STATE_ERROR, NB_DEVNET_STATE_ERROR_SETUP_KEY_INVALID))
            status = NB_GRPC_STATUS_NOT_FOUND;
          else if (g_error_matches (error, NB_DEVNET_STATE_ERROR, NB_DEVNET_STATE_ERROR_PEER_EXISTS))
            status = NB_GRPC_STATUS_FAILED_PRECONDITION;
          g_message ("registration of %s refused: %s", key, error->message);
          nb_grpc_server_call_fail (call, status,
                                    status == NB_GRPC_STATUS_INTERNAL ? "failed logging in peer" : error->message);
          return;
        }
      {
        g_autofree char *ip = nb_devnet_peer_ip_string (peer);

        g_message ("peer %s registered: %s/%d %s.%s (host \"%s\", setup key %s)", key, ip,
                   NB_DEVNET_NETWORK_PREFIX, peer->dns_label, nb_devnet_state_get_dns_domain (self->state),
                   peer->meta->hostname, peer->setup_key_id);
      }
    }

  arena_init (&arena);
  resp.netbirdconfig = build_netbird_config (self, &arena, CONFIG_FULL);
  resp.peerconfig = build_peer_config (self, &arena, peer);
  resp.sessionexpiresat = timestamp (&arena, 0); /* no login expiry */
  reply_sealed (self, call, &pub, &resp.base);
}

/* ------------------------------------------------------------------------ */
/* Sync streams */

static void
sync_stream_free (SyncStream *stream)
{
  g_clear_handle_id (&stream->turn_timer, g_source_remove);
  g_clear_handle_id (&stream->relay_timer, g_source_remove);
  g_signal_handlers_disconnect_by_data (stream->call, stream);
  g_object_unref (stream->call);
  g_free (stream->key);
  g_free (stream->version);
  nb_wg_key_clear (&stream->pub);
  g_free (stream);
}

/* Removes @stream from the table (freeing it) and ends its call. */
static void
sync_stream_end (SyncStream *stream, NbGrpcStatus status, const char *message)
{
  NbDevnetMgmt *self = stream->owner;
  g_autoptr (NbGrpcServerCall) call = g_object_ref (stream->call);

  if (g_hash_table_lookup (self->streams, stream->key) == stream)
    g_hash_table_remove (self->streams, stream->key);
  else
    sync_stream_free (stream);
  nb_grpc_server_call_finish (call, status, message);
}

static gboolean
sync_stream_send (SyncStream *stream, const ProtobufCMessage *resp)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) msg = seal_for (stream->owner, &stream->pub, resp, &error);

  if (msg == NULL)
    {
      g_warning ("cannot seal a SyncResponse for %s: %s", stream->key, error->message);
      return FALSE;
    }
  nb_grpc_server_call_send (stream->call, msg);
  return TRUE;
}

static void
send_config_only (SyncStream *stream, ConfigKind kind)
{
  g_auto (Arena) arena = { 0 };
  Management__SyncResponse resp = MANAGEMENT__SYNC_RESPONSE__INIT;

  arena_init (&arena);
  resp.netbirdconfig = build_netbird_config (stream->owner, &arena, kind);
  if (sync_stream_send (stream, &resp.base))
    g_message ("sent new %s credentials to %s", kind == CONFIG_RELAY ? "relay" : "TURN and relay",
               stream->key);
}

static gboolean
turn_refresh_cb (gpointer data)
{
  send_config_only (data, CONFIG_TURN_AND_RELAY);
  return G_SOURCE_CONTINUE;
}

static gboolean
relay_refresh_cb (gpointer data)
{
  send_config_only (data, CONFIG_RELAY);
  return G_SOURCE_CONTINUE;
}

/* NetBird refreshes at 3/4 of the lifetime. */
static guint
refresh_interval_ms (guint ttl_s)
{
  return MAX ((guint64) ttl_s * 1000 / 4 * 3, 250);
}

static void
sync_stream_start_refresh (SyncStream *stream)
{
  NbDevnetMgmt *self = stream->owner;
  const NbDevnetMgmtConfig *config = self->config;

  if (config->turn_credentials == NB_DEVNET_TURN_CREDENTIALS_SECRET && config->turn_hosts
      && config->turn_hosts[0])
    stream->turn_timer = g_timeout_add (refresh_interval_ms (config->turn_ttl_s), turn_refresh_cb, stream);
  if (config->relay_urls && config->relay_urls[0])
    stream->relay_timer = g_timeout_add (refresh_interval_ms (config->relay_ttl_s), relay_refresh_cb, stream);
}

static void
sync_cancelled_cb (NbGrpcServerCall *call, const GError *reason, gpointer data)
{
  SyncStream *stream = data;
  NbDevnetMgmt *self = stream->owner;

  g_message ("Sync stream of %s closed (%s)", stream->key, reason ? reason->message : "cancelled");
  if (g_hash_table_lookup (self->streams, stream->key) == stream)
    g_hash_table_remove (self->streams, stream->key);
}

static void
sync_cb (NbGrpcServerCall *call, GBytes *request, gpointer user_data)
{
  NbDevnetMgmt *self = user_data;
  Management__SyncRequest *req;
  g_autofree char *key = NULL;
  g_autoptr (GError) error = NULL;
  g_auto (Arena) arena = { 0 };
  Management__SyncResponse resp = MANAGEMENT__SYNC_RESPONSE__INIT;
  const NbDevnetPeer *peer;
  SyncStream *stream;
  SyncStream *old;
  NbWgKey pub;

  req = (Management__SyncRequest *) open_request (self, call, request, &management__sync_request__descriptor,
                                                  &key, &pub);
  if (req == NULL)
    return;

  peer = nb_devnet_state_lookup_peer (self->state, key);
  if (peer == NULL)
    {
      management__sync_request__free_unpacked (req, NULL);
      g_message ("Sync of %s refused: peer is not registered", key);
      nb_grpc_server_call_fail (call, NB_GRPC_STATUS_PERMISSION_DENIED, "peer is not registered");
      return;
    }
  if (req->meta != NULL)
    {
      g_autoptr (NbDevnetPeerMeta) meta = meta_from_proto (req->meta, peer->meta);

      if (!nb_devnet_state_update_peer (self->state, key, meta, FALSE, NULL, &error))
        g_warning ("cannot store the meta of %s: %s", key, error->message);
      g_clear_error (&error);
      peer = nb_devnet_state_lookup_peer (self->state, key);
      if (peer == NULL)
        {
          management__sync_request__free_unpacked (req, NULL);
          nb_grpc_server_call_fail (call, NB_GRPC_STATUS_PERMISSION_DENIED, "peer is not registered");
          return;
        }
    }

  stream = g_new0 (SyncStream, 1);
  stream->owner = self;
  stream->call = g_object_ref (call);
  stream->key = g_strdup (key);
  stream->pub = pub;
  stream->version = g_strdup (req->meta ? req->meta->netbirdversion : peer->meta->netbird_version);
  management__sync_request__free_unpacked (req, NULL);

  old = g_hash_table_lookup (self->streams, key);
  if (old != NULL)
    {
      g_hash_table_steal (self->streams, key);
      g_message ("peer %s opened a new Sync stream: the older one is closed", key);
      sync_stream_end (old, NB_GRPC_STATUS_OK, NULL);
    }
  g_hash_table_replace (self->streams, stream->key, stream);
  g_signal_connect (call, "cancelled", G_CALLBACK (sync_cancelled_cb), stream);

  arena_init (&arena);
  resp.netbirdconfig = build_netbird_config (self, &arena, CONFIG_FULL);
  fill_map (self, &arena, &resp, peer, stream->version);
  resp.sessionexpiresat = timestamp (&arena, 0);
  stream->serial = resp.networkmap->serial;
  if (!sync_stream_send (stream, &resp.base))
    {
      sync_stream_end (stream, NB_GRPC_STATUS_INTERNAL, "error handling request");
      return;
    }
  g_message ("Sync stream of %s connected from %s: map serial %" G_GUINT64_FORMAT " with %" G_GSIZE_FORMAT
             " remote peer(s)",
             key, nb_grpc_server_call_get_peer (call), resp.networkmap->serial, resp.networkmap->n_remotepeers);
  sync_stream_start_refresh (stream);
}

/* ------------------------------------------------------------------------ */
/* Map pushes */

static void
send_farewell (SyncStream *stream, guint64 serial)
{
  g_auto (Arena) arena = { 0 };
  Management__SyncResponse resp = MANAGEMENT__SYNC_RESPONSE__INIT;
  Management__NetworkMap *map;

  /* What NetBird sends a deleted peer before closing its stream. */
  arena_init (&arena);
  map = ARENA_NEW (&arena, Management__NetworkMap, MANAGEMENT__NETWORK_MAP__INIT);
  map->serial = serial;
  map->remotepeersisempty = TRUE;
  map->firewallrulesisempty = TRUE;
  map->dnsconfig = ARENA_NEW (&arena, Management__DNSConfig, MANAGEMENT__DNSCONFIG__INIT);
  resp.remotepeersisempty = TRUE;
  resp.networkmap = map;
  sync_stream_send (stream, &resp.base);
}

static void
push_maps (NbDevnetMgmt *self)
{
  guint64 serial = nb_devnet_state_get_serial (self->state);
  g_autoptr (GPtrArray) streams = g_ptr_array_new ();
  GHashTableIter iter;
  gpointer value;
  guint n_sent = 0;

  g_hash_table_iter_init (&iter, self->streams);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    g_ptr_array_add (streams, value);

  for (guint i = 0; i < streams->len; i++)
    {
      SyncStream *stream = streams->pdata[i];
      const NbDevnetPeer *peer = nb_devnet_state_lookup_peer (self->state, stream->key);

      if (peer == NULL)
        {
          g_message ("peer %s was removed: its Sync stream gets an empty map and is closed", stream->key);
          send_farewell (stream, serial);
          sync_stream_end (stream, NB_GRPC_STATUS_OK, NULL);
          continue;
        }
      if (stream->serial >= serial)
        continue;
      {
        g_auto (Arena) arena = { 0 };
        Management__SyncResponse resp = MANAGEMENT__SYNC_RESPONSE__INIT;

        arena_init (&arena);
        fill_map (self, &arena, &resp, peer, stream->version);
        if (sync_stream_send (stream, &resp.base))
          {
            stream->serial = serial;
            n_sent++;
          }
      }
    }
  g_message ("map pushed: serial %" G_GUINT64_FORMAT ", %u peer(s), sent to %u Sync stream(s)", serial,
             nb_devnet_state_get_n_peers (self->state), n_sent);
  g_signal_emit (self, signals[SIGNAL_MAP_PUSHED], 0, serial, n_sent);
}

static gboolean
push_cb (gpointer data)
{
  NbDevnetMgmt *self = data;

  self->push_source = 0;
  push_maps (self);
  return G_SOURCE_REMOVE;
}

static void
peers_changed_cb (NbDevnetState *state, guint64 serial, gpointer data)
{
  NbDevnetMgmt *self = data;

  if (self->stopped || self->push_source != 0)
    return;
  if (self->config->map_debounce_ms == 0)
    self->push_source = g_idle_add (push_cb, self);
  else
    self->push_source = g_timeout_add (self->config->map_debounce_ms, push_cb, self);
}

/* ------------------------------------------------------------------------ */
/* SyncMeta, Logout */

static void
sync_meta_cb (NbGrpcServerCall *call, GBytes *request, gpointer user_data)
{
  NbDevnetMgmt *self = user_data;
  Management__SyncMetaRequest *req;
  g_autofree char *key = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (NbDevnetPeerMeta) meta = NULL;
  const NbDevnetPeer *peer;
  NbWgKey pub;

  req = (Management__SyncMetaRequest *) open_request (self, call, request,
                                                      &management__sync_meta_request__descriptor, &key, &pub);
  if (req == NULL)
    return;
  if (req->meta == NULL)
    {
      g_autofree char *msg = g_strdup_printf (
        "peer system meta has to be provided on sync. Peer %s, remote addr %s", key,
        nb_grpc_server_call_get_peer (call));

      management__sync_meta_request__free_unpacked (req, NULL);
      nb_grpc_server_call_fail (call, NB_GRPC_STATUS_FAILED_PRECONDITION, msg);
      return;
    }
  peer = nb_devnet_state_lookup_peer (self->state, key);
  if (peer != NULL)
    meta = meta_from_proto (req->meta, peer->meta);
  management__sync_meta_request__free_unpacked (req, NULL);
  if (peer == NULL)
    {
      nb_grpc_server_call_fail (call, NB_GRPC_STATUS_NOT_FOUND, "peer not found");
      return;
    }
  if (!nb_devnet_state_update_peer (self->state, key, meta, FALSE, NULL, &error))
    {
      g_warning ("cannot store the meta of %s: %s", key, error->message);
      nb_grpc_server_call_fail (call,
                                g_error_matches (error, NB_DEVNET_STATE_ERROR,
                                                 NB_DEVNET_STATE_ERROR_PEER_NOT_FOUND)
                                  ? NB_GRPC_STATUS_NOT_FOUND
                                  : NB_GRPC_STATUS_INTERNAL,
                                "failed handling request");
      return;
    }
  g_message ("peer %s updated its system meta", key);
  reply_empty (call);
}

static void
logout_cb (NbGrpcServerCall *call, GBytes *request, gpointer user_data)
{
  NbDevnetMgmt *self = user_data;
  ProtobufCMessage *req;
  g_autofree char *key = NULL;
  g_autoptr (GError) error = NULL;
  SyncStream *stream;
  NbWgKey pub;

  req = open_request (self, call, request, &management__empty__descriptor, &key, &pub);
  if (req == NULL)
    return;
  protobuf_c_message_free_unpacked (req, NULL);
  if (nb_devnet_state_lookup_peer (self->state, key) == NULL)
    {
      nb_grpc_server_call_fail (call, NB_GRPC_STATUS_NOT_FOUND, "peer not found");
      return;
    }
  if (self->config->logout_deletes_peer)
    {
      /* The map push closes its stream after NetBird's farewell map. */
      if (!nb_devnet_state_remove_peer (self->state, key, &error))
        {
          g_warning ("cannot remove %s: %s", key, error->message);
          nb_grpc_server_call_fail (call, NB_GRPC_STATUS_INTERNAL, "failed handling request");
          return;
        }
      g_message ("peer %s logged out and was removed", key);
    }
  else
    {
      stream = g_hash_table_lookup (self->streams, key);
      if (stream != NULL)
        sync_stream_end (stream, NB_GRPC_STATUS_OK, NULL);
      g_message ("peer %s logged out (it stays registered)", key);
    }
  reply_empty (call);
}

/* ------------------------------------------------------------------------ */
/* GObject */

static void
nb_devnet_mgmt_init (NbDevnetMgmt *self)
{
  self->streams = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, (GDestroyNotify) sync_stream_free);
}

static void
nb_devnet_mgmt_dispose (GObject *object)
{
  NbDevnetMgmt *self = NB_DEVNET_MGMT (object);

  nb_devnet_mgmt_stop (self);
  if (self->state && self->changed_id)
    g_clear_signal_handler (&self->changed_id, self->state);
  g_clear_object (&self->state);
  G_OBJECT_CLASS (nb_devnet_mgmt_parent_class)->dispose (object);
}

static void
nb_devnet_mgmt_finalize (GObject *object)
{
  NbDevnetMgmt *self = NB_DEVNET_MGMT (object);

  g_hash_table_unref (self->streams);
  nb_devnet_mgmt_config_free (self->config);
  sodium_memzero (self->relay_key, sizeof self->relay_key);
  g_free (self->turn_user);
  if (self->turn_password)
    wipe_string (self->turn_password);
  g_free (self->server_pub_b64);
  G_OBJECT_CLASS (nb_devnet_mgmt_parent_class)->finalize (object);
}

static void
nb_devnet_mgmt_class_init (NbDevnetMgmtClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = nb_devnet_mgmt_dispose;
  object_class->finalize = nb_devnet_mgmt_finalize;

  signals[SIGNAL_MAP_PUSHED] =
    g_signal_new ("map-pushed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 2, G_TYPE_UINT64, G_TYPE_UINT);
}

NbDevnetMgmt *
nb_devnet_mgmt_new (NbDevnetState *state, const NbDevnetMgmtConfig *config, GError **error)
{
  g_autoptr (NbDevnetMgmt) self = NULL;
  GBytes *secret;
  gsize len;
  const guint8 *data;

  g_return_val_if_fail (NB_IS_DEVNET_STATE (state), NULL);
  g_return_val_if_fail (config != NULL && config->signal_uri != NULL, NULL);

  self = g_object_new (NB_TYPE_DEVNET_MGMT, NULL);
  self->state = g_object_ref (state);
  self->config = nb_devnet_mgmt_config_copy (config);
  if (self->config->turn_ttl_s == 0)
    self->config->turn_ttl_s = NB_DEVNET_DEFAULT_CREDENTIALS_TTL_S;
  if (self->config->relay_ttl_s == 0)
    self->config->relay_ttl_s = NB_DEVNET_DEFAULT_CREDENTIALS_TTL_S;
  self->server_pub_b64 = nb_wg_key_to_base64 (nb_devnet_state_get_server_public_key (state));

  /* NetBird keys relay tokens with SHA-256 of the secret text. */
  secret = nb_devnet_state_get_relay_secret (state);
  data = g_bytes_get_data (secret, &len);
  crypto_hash_sha256 (self->relay_key, data, len);

  if (config->turn_credentials == NB_DEVNET_TURN_CREDENTIALS_STATIC
      && !nb_devnet_state_get_turn_static (state, &self->turn_user, &self->turn_password, error))
    return NULL;

  self->changed_id = g_signal_connect (state, "peers-changed", G_CALLBACK (peers_changed_cb), self);
  return g_steal_pointer (&self);
}

void
nb_devnet_mgmt_attach (NbDevnetMgmt *self, NbGrpcServer *server)
{
  static const struct {
    const char *method;
    NbGrpcMethodType type;
    NbGrpcServerHandler handler;
  } methods[] = {
    { "GetServerKey", NB_GRPC_METHOD_UNARY, get_server_key_cb },
    { "isHealthy", NB_GRPC_METHOD_UNARY, is_healthy_cb },
    { "Login", NB_GRPC_METHOD_UNARY, login_cb },
    { "Sync", NB_GRPC_METHOD_SERVER_STREAMING, sync_cb },
    { "SyncMeta", NB_GRPC_METHOD_UNARY, sync_meta_cb },
    { "Logout", NB_GRPC_METHOD_UNARY, logout_cb },
  };

  g_return_if_fail (NB_IS_DEVNET_MGMT (self));
  g_return_if_fail (NB_IS_GRPC_SERVER (server));

  for (gsize i = 0; i < G_N_ELEMENTS (methods); i++)
    {
      g_autofree char *path = g_strconcat (SERVICE_PREFIX, methods[i].method, NULL);

      nb_grpc_server_add_method (server, path, methods[i].type, methods[i].handler, g_object_ref (self),
                                 g_object_unref);
    }
}

guint
nb_devnet_mgmt_get_n_sync_streams (NbDevnetMgmt *self)
{
  g_return_val_if_fail (NB_IS_DEVNET_MGMT (self), 0);
  return g_hash_table_size (self->streams);
}

void
nb_devnet_mgmt_stop (NbDevnetMgmt *self)
{
  g_autoptr (GPtrArray) streams = g_ptr_array_new ();
  GHashTableIter iter;
  gpointer value;

  g_return_if_fail (NB_IS_DEVNET_MGMT (self));

  self->stopped = TRUE;
  g_clear_handle_id (&self->push_source, g_source_remove);
  g_hash_table_iter_init (&iter, self->streams);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    g_ptr_array_add (streams, value);
  for (guint i = 0; i < streams->len; i++)
    sync_stream_end (streams->pdata[i], NB_GRPC_STATUS_UNAVAILABLE, "server stopping");
}
