/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * NetBird management client: server key, login, Sync stream; see
 * mgmt-client.h.
 *
 * Lifetimes: the public async operations (login, logout) are GTasks whose
 * source object is the client, so the client outlives them. The logins the
 * Sync loop makes itself are GTasks without a source object that use the
 * client's sync cancellable; dispose and stop() cancel it, and every
 * callback checks for cancellation before touching the client (a cancelled
 * GTask always reports G_IO_ERROR_CANCELLED), so a dropped client never
 * keeps reconnecting.
 *
 * Sync states: STOPPED -> LOGGING_IN (GetServerKey + Login) -> OPENING
 * (stream opened, nothing received yet) -> CONNECTED (headers or a message
 * arrived) -> ... -> WAITING (backoff timer) -> LOGGING_IN ...
 */
#define G_LOG_DOMAIN "nb-mgmt"

#include "config.h"

#include "mgmt-client.h"

#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netpacket/packet.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/utsname.h>

#include <sodium.h>

#include "backoff.h"
#include "box.h"
#include "grpc.h"
#include "management.pb-c.h"

#define PATH_GET_SERVER_KEY "/management.ManagementService/GetServerKey"
#define PATH_LOGIN          "/management.ManagementService/Login"
#define PATH_SYNC           "/management.ManagementService/Sync"
#define PATH_LOGOUT         "/management.ManagementService/Logout"

/* NetBird's management error text for an expired login ("peer login has
 * expired, please log in once more"). */
#define LOGIN_EXPIRED_HINT "expired"

G_DEFINE_QUARK (nb-mgmt-client-error-quark, nb_mgmt_client_error)

typedef enum {
  SYNC_STOPPED,
  SYNC_LOGGING_IN,
  SYNC_OPENING,
  SYNC_CONNECTED,
  SYNC_WAITING,
} SyncState;

struct _NbMgmtClient {
  GObject parent_instance;

  char *url;
  NbGrpcChannel *channel;
  NbWgKey private_key;                     /* secret */
  char public_key[NB_WG_KEY_B64_SIZE];
  char *setup_key;                         /* secret */
  char *hostname;
  char *netbird_version;
  NbPeerFlags flags;
  NbSystemInfo *fixed_info;

  NbWgKey server_key;                      /* from the last successful login */
  gboolean fresh_login;                    /* login_async succeeded, no sync since */

  NbNetworkMap *applied;
  gboolean map_emitted;

  SyncState state;
  GCancellable *sync_cancellable;
  NbGrpcCall *sync_call;
  NbWgKey stream_server_key;               /* the key the current stream uses */
  guint reconnect_id;
  NbBackoff *backoff;
  gboolean disconnected_announced;
};

enum {
  SIGNAL_NETWORK_MAP,
  SIGNAL_CONFIG_CHANGED,
  SIGNAL_PEERS_CHANGED,
  SIGNAL_DISCONNECTED,
  SIGNAL_RECONNECTED,
  SIGNAL_LOGIN_EXPIRED,
  SIGNAL_PEER_REMOVED,
  N_SIGNALS
};
static guint signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE (NbMgmtClient, nb_mgmt_client, G_TYPE_OBJECT)

static void begin_attempt (NbMgmtClient *self);

/* ---- Helpers ------------------------------------------------------------- */

static void
secret_free (char *secret)
{
  if (secret == NULL)
    return;
  sodium_memzero (secret, strlen (secret));
  g_free (secret);
}

gboolean
nb_setup_key_is_valid (const char *setup_key)
{
  static const int group_end[] = { 8, 13, 18, 23 };
  guint g = 0;

  if (setup_key == NULL || strlen (setup_key) != 36)
    return FALSE;
  for (int i = 0; i < 36; i++)
    {
      if (g < G_N_ELEMENTS (group_end) && i == group_end[g])
        {
          if (setup_key[i] != '-')
            return FALSE;
          g++;
        }
      else if (!g_ascii_isxdigit (setup_key[i]))
        return FALSE;
    }
  return TRUE;
}

static gboolean
is_permission_denied (const GError *error)
{
  return g_error_matches (error, NB_GRPC_ERROR, NB_GRPC_STATUS_PERMISSION_DENIED);
}

static gboolean
mentions_expiry (const GError *error)
{
  return error && error->message && strstr (error->message, LOGIN_EXPIRED_HINT) != NULL;
}

/* ---- System metadata ------------------------------------------------------ */

static void
network_address_free (NbNetworkAddress *addr)
{
  g_free (addr->net_ip);
  g_free (addr->mac);
  g_free (addr);
}

static NbNetworkAddress *
network_address_copy (const NbNetworkAddress *addr)
{
  NbNetworkAddress *copy = g_new0 (NbNetworkAddress, 1);

  copy->net_ip = g_strdup (addr->net_ip);
  copy->mac = g_strdup (addr->mac);
  return copy;
}

NbSystemInfo *
nb_system_info_new (void)
{
  NbSystemInfo *info = g_new0 (NbSystemInfo, 1);

  info->hostname = g_strdup ("");
  info->go_os = g_strdup ("linux");
  info->kernel = g_strdup ("Linux");
  info->platform = g_strdup ("");
  info->os = g_strdup ("");
  info->os_version = g_strdup ("");
  info->kernel_version = g_strdup ("");
  info->netbird_version = g_strdup ("");
  info->ui_version = g_strdup ("");
  info->network_addresses = g_ptr_array_new_with_free_func ((GDestroyNotify) network_address_free);
  return info;
}

NbSystemInfo *
nb_system_info_copy (const NbSystemInfo *info)
{
  NbSystemInfo *copy;

  if (info == NULL)
    return NULL;
  copy = g_new0 (NbSystemInfo, 1);
  copy->hostname = g_strdup (info->hostname);
  copy->go_os = g_strdup (info->go_os);
  copy->kernel = g_strdup (info->kernel);
  copy->platform = g_strdup (info->platform);
  copy->os = g_strdup (info->os);
  copy->os_version = g_strdup (info->os_version);
  copy->kernel_version = g_strdup (info->kernel_version);
  copy->netbird_version = g_strdup (info->netbird_version);
  copy->ui_version = g_strdup (info->ui_version);
  copy->network_addresses = g_ptr_array_new_with_free_func ((GDestroyNotify) network_address_free);
  for (guint i = 0; info->network_addresses && i < info->network_addresses->len; i++)
    g_ptr_array_add (copy->network_addresses,
                     network_address_copy (g_ptr_array_index (info->network_addresses, i)));
  copy->flags = info->flags;
  return copy;
}

void
nb_system_info_free (NbSystemInfo *info)
{
  if (info == NULL)
    return;
  g_free (info->hostname);
  g_free (info->go_os);
  g_free (info->kernel);
  g_free (info->platform);
  g_free (info->os);
  g_free (info->os_version);
  g_free (info->kernel_version);
  g_free (info->netbird_version);
  g_free (info->ui_version);
  g_clear_pointer (&info->network_addresses, g_ptr_array_unref);
  g_free (info);
}

/* The value of an os-release assignment, quotes removed. */
static char *
os_release_value (const char *raw)
{
  GString *out = g_string_new (NULL);
  gsize len = strlen (raw);

  if (len >= 2 && raw[0] == '\'' && raw[len - 1] == '\'')
    g_string_append_len (out, raw + 1, len - 2);
  else
    for (const char *p = raw; *p; p++)
      if (*p != '"')
        g_string_append_c (out, *p);
  return g_string_free (out, FALSE);
}

void
nb_os_release_parse (const char *contents,
                     char      **out_name,
                     char      **out_version_id)
{
  g_auto (GStrv) lines = NULL;
  char *name = NULL;
  char *version = NULL;

  lines = g_strsplit (contents ? contents : "", "\n", -1);
  for (char **l = lines; *l; l++)
    {
      char *line = g_strstrip (*l);

      if (name == NULL && g_str_has_prefix (line, "NAME="))
        name = os_release_value (line + strlen ("NAME="));
      else if (version == NULL && g_str_has_prefix (line, "VERSION_ID="))
        version = os_release_value (line + strlen ("VERSION_ID="));
    }
  *out_name = name ? name : g_strdup ("");
  *out_version_id = version ? version : g_strdup ("");
}

static guint
netmask_prefix (const struct sockaddr *mask, int family)
{
  const guint8 *bytes;
  gsize len;
  guint bits = 0;

  if (mask == NULL)
    return family == AF_INET ? 32 : 128;
  if (family == AF_INET)
    {
      bytes = (const guint8 *) &((const struct sockaddr_in *) mask)->sin_addr;
      len = 4;
    }
  else
    {
      bytes = (const guint8 *) &((const struct sockaddr_in6 *) mask)->sin6_addr;
      len = 16;
    }
  for (gsize i = 0; i < len; i++)
    for (int b = 7; b >= 0; b--)
      if (bytes[i] & (1u << b))
        bits++;
  return bits;
}

/* Interface name without an IPv4 label suffix ("eth0:1" -> "eth0"). */
static char *
base_ifname (const char *name)
{
  const char *colon = strchr (name, ':');

  return colon ? g_strndup (name, colon - name) : g_strdup (name);
}

static GPtrArray *
collect_network_addresses (void)
{
  GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify) network_address_free);
  g_autoptr (GHashTable) macs = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_autoptr (GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);
  struct ifaddrs *list = NULL;

  if (getifaddrs (&list) != 0)
    {
      g_warning ("cannot list network interfaces: %s", g_strerror (errno));
      return out;
    }

  for (struct ifaddrs *ifa = list; ifa; ifa = ifa->ifa_next)
    {
      const struct sockaddr_ll *ll;
      gboolean nonzero = FALSE;
      GString *mac;

      if (ifa->ifa_addr == NULL || ifa->ifa_addr->sa_family != AF_PACKET)
        continue;
      ll = (const struct sockaddr_ll *) ifa->ifa_addr;
      if (ll->sll_halen == 0 || ll->sll_halen > sizeof ll->sll_addr)
        continue;
      for (guint i = 0; i < ll->sll_halen; i++)
        nonzero |= ll->sll_addr[i] != 0;
      if (!nonzero)
        continue;
      mac = g_string_new (NULL);
      for (guint i = 0; i < ll->sll_halen; i++)
        g_string_append_printf (mac, "%s%02x", i ? ":" : "", ll->sll_addr[i]);
      g_hash_table_replace (macs, g_strdup (ifa->ifa_name), g_string_free (mac, FALSE));
    }

  for (struct ifaddrs *ifa = list; ifa; ifa = ifa->ifa_next)
    {
      g_autoptr (GInetAddress) addr = NULL;
      g_autofree char *ifname = NULL;
      g_autofree char *text = NULL;
      const char *mac;
      NbNetworkAddress *entry;
      int family;

      if (ifa->ifa_addr == NULL || !(ifa->ifa_flags & IFF_UP))
        continue;
      family = ifa->ifa_addr->sa_family;
      if (family == AF_INET)
        addr = g_inet_address_new_from_bytes (
          (const guint8 *) &((const struct sockaddr_in *) ifa->ifa_addr)->sin_addr,
          G_SOCKET_FAMILY_IPV4);
      else if (family == AF_INET6)
        addr = g_inet_address_new_from_bytes (
          (const guint8 *) &((const struct sockaddr_in6 *) ifa->ifa_addr)->sin6_addr,
          G_SOCKET_FAMILY_IPV6);
      else
        continue;

      ifname = base_ifname (ifa->ifa_name);
      mac = g_hash_table_lookup (macs, ifname);
      if (mac == NULL)
        continue;
      if (g_inet_address_get_is_loopback (addr) || g_inet_address_get_is_link_local (addr) ||
          g_inet_address_get_is_multicast (addr))
        continue;

      text = g_inet_address_to_string (addr);
      entry = g_new0 (NbNetworkAddress, 1);
      entry->net_ip = g_strdup_printf ("%s/%u", text, netmask_prefix (ifa->ifa_netmask, family));
      entry->mac = g_strdup (mac);
      if (g_hash_table_contains (seen, entry->net_ip))
        {
          network_address_free (entry);
          continue;
        }
      g_ptr_array_add (out, entry);
      g_hash_table_add (seen, entry->net_ip);
    }

  freeifaddrs (list);
  return out;
}

NbSystemInfo *
nb_system_info_collect (const char *netbird_version)
{
  NbSystemInfo *info = nb_system_info_new ();
  g_autofree char *os_release = NULL;
  struct utsname uts;

  if (uname (&uts) == 0)
    {
      g_free (info->hostname);
      info->hostname = g_strdup (uts.nodename);
      g_free (info->kernel);
      info->kernel = g_strdup (uts.sysname);
      g_free (info->platform);
      info->platform = g_strdup (uts.machine);
      g_free (info->kernel_version);
      info->kernel_version = g_strdup (uts.release);
    }

  if (g_file_get_contents ("/etc/os-release", &os_release, NULL, NULL) ||
      g_file_get_contents ("/usr/lib/os-release", &os_release, NULL, NULL))
    {
      g_free (info->os);
      g_free (info->os_version);
      nb_os_release_parse (os_release, &info->os, &info->os_version);
    }
  if (info->os[0] == '\0')
    {
      g_free (info->os);
      info->os = g_strdup (info->kernel);
    }

  g_free (info->netbird_version);
  info->netbird_version = g_strdup (netbird_version ? netbird_version : "");

  g_ptr_array_unref (info->network_addresses);
  info->network_addresses = collect_network_addresses ();
  return info;
}

/* PeerSystemMeta pointing into an NbSystemInfo it owns. */
typedef struct {
  NbSystemInfo *info;
  Management__PeerSystemMeta meta;
  Management__NetworkAddress *addrs;
  Management__NetworkAddress **addr_ptrs;
  Management__Flags flags;
  Management__Environment environment;
  Management__PeerCapability capabilities[1];
} Meta;

static void
meta_free (Meta *m)
{
  nb_system_info_free (m->info);
  g_free (m->addrs);
  g_free (m->addr_ptrs);
  g_free (m);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Meta, meta_free)

static Meta *
meta_build (NbMgmtClient *self)
{
  Meta *m = g_new0 (Meta, 1);
  NbSystemInfo *info;
  guint n;

  if (self->fixed_info)
    info = nb_system_info_copy (self->fixed_info);
  else
    info = nb_system_info_collect (self->netbird_version);
  if (self->hostname)
    {
      g_free (info->hostname);
      info->hostname = g_strdup (self->hostname);
    }
  info->flags = self->flags;
  m->info = info;

  management__peer_system_meta__init (&m->meta);
  m->meta.hostname = info->hostname;
  m->meta.goos = info->go_os;
  m->meta.kernel = info->kernel;
  m->meta.core = info->os_version;   /* NetBird sends OSVersion as core */
  m->meta.platform = info->platform;
  m->meta.os = info->os;
  m->meta.netbirdversion = info->netbird_version;
  m->meta.uiversion = info->ui_version;
  m->meta.kernelversion = info->kernel_version;
  m->meta.osversion = info->os_version;

  n = info->network_addresses->len;
  m->addrs = g_new0 (Management__NetworkAddress, n ? n : 1);
  m->addr_ptrs = g_new0 (Management__NetworkAddress *, n ? n : 1);
  for (guint i = 0; i < n; i++)
    {
      const NbNetworkAddress *a = g_ptr_array_index (info->network_addresses, i);

      management__network_address__init (&m->addrs[i]);
      m->addrs[i].netip = a->net_ip;
      m->addrs[i].mac = a->mac;
      m->addr_ptrs[i] = &m->addrs[i];
    }
  m->meta.n_networkaddresses = n;
  m->meta.networkaddresses = m->addr_ptrs;

  management__environment__init (&m->environment);
  m->meta.environment = &m->environment;

  management__flags__init (&m->flags);
  m->flags.rosenpassenabled = info->flags.rosenpass_enabled;
  m->flags.rosenpasspermissive = info->flags.rosenpass_permissive;
  m->flags.serversshallowed = info->flags.server_ssh_allowed;
  m->flags.disableclientroutes = info->flags.disable_client_routes;
  m->flags.disableserverroutes = info->flags.disable_server_routes;
  m->flags.disabledns = info->flags.disable_dns;
  m->flags.disablefirewall = info->flags.disable_firewall;
  m->flags.blocklanaccess = info->flags.block_lan_access;
  m->flags.blockinbound = info->flags.block_inbound;
  m->flags.lazyconnectionenabled = info->flags.lazy_connection_enabled;
  m->flags.disableipv6 = info->flags.disable_ipv6;
  m->meta.flags = &m->flags;

  /* Firewall rules by source prefixes; never the component network map. */
  m->capabilities[0] = MANAGEMENT__PEER_CAPABILITY__PeerCapabilitySourcePrefixes;
  m->meta.n_capabilities = G_N_ELEMENTS (m->capabilities);
  m->meta.capabilities = m->capabilities;
  m->meta.syncmessageversion = 0;
  return m;
}

/* ---- Sealed messages ------------------------------------------------------ */

/* EncryptedMessage { wgPubKey = ours, body = seal(@inner) }. The packed
 * plaintext is wiped (a LoginRequest may hold the setup key). */
static GBytes *
encrypted_message (NbMgmtClient            *self,
                   const ProtobufCMessage  *inner,
                   const NbWgKey           *server_key,
                   GError                 **error)
{
  Management__EncryptedMessage em = MANAGEMENT__ENCRYPTED_MESSAGE__INIT;
  gsize len = protobuf_c_message_get_packed_size (inner);
  guint8 *plain = g_malloc (len ? len : 1);
  g_autoptr (GBytes) body = NULL;
  guint8 *out;
  gsize out_len;

  protobuf_c_message_pack (inner, plain);
  body = nb_box_seal (plain, len, server_key, &self->private_key, error);
  sodium_memzero (plain, len);
  g_free (plain);
  if (body == NULL)
    return NULL;

  em.wgpubkey = self->public_key;
  em.body.data = (guint8 *) g_bytes_get_data (body, &em.body.len);
  out_len = management__encrypted_message__get_packed_size (&em);
  out = g_malloc (out_len ? out_len : 1);
  management__encrypted_message__pack (&em, out);
  return g_bytes_new_take (out, out_len);
}

/* The plaintext of an EncryptedMessage from the server (wiped when freed). */
static GBytes *
open_encrypted_message (NbMgmtClient   *self,
                        GBytes         *message,
                        const NbWgKey  *server_key,
                        GError        **error)
{
  Management__EncryptedMessage *em;
  gsize len;
  const guint8 *data = g_bytes_get_data (message, &len);
  g_autoptr (GError) local_error = NULL;
  GBytes *plain;

  em = management__encrypted_message__unpack (NULL, len, data);
  if (em == NULL)
    {
      g_set_error (error, NB_MGMT_CLIENT_ERROR, NB_MGMT_CLIENT_ERROR_BAD_RESPONSE,
                   "not an EncryptedMessage (%" G_GSIZE_FORMAT " bytes)", len);
      return NULL;
    }
  plain = nb_box_open (em->body.data, em->body.len, server_key, &self->private_key, &local_error);
  management__encrypted_message__free_unpacked (em, NULL);
  if (plain == NULL)
    g_set_error (error, NB_MGMT_CLIENT_ERROR, NB_MGMT_CLIENT_ERROR_BAD_RESPONSE,
                 "the body does not open with the server key: %s", local_error->message);
  return plain;
}

/* ---- GetServerKey ---------------------------------------------------------- */

static void
request_server_key (NbMgmtClient        *self,
                    GCancellable        *cancellable,
                    GAsyncReadyCallback  callback,
                    gpointer             data)
{
  g_autoptr (GBytes) empty = g_bytes_new (NULL, 0);

  nb_grpc_channel_call_async (self->channel, PATH_GET_SERVER_KEY, empty, NULL,
                              NB_MGMT_CLIENT_SERVER_KEY_DEADLINE_MS, cancellable,
                              callback, data);
}

static gboolean
finish_server_key (GObject       *source,
                   GAsyncResult  *result,
                   NbWgKey       *out_key,
                   GError       **error)
{
  g_autoptr (GBytes) response = NULL;
  Management__ServerKeyResponse *skr;
  const guint8 *data;
  gsize len;
  gboolean ok;

  response = nb_grpc_channel_call_finish (NB_GRPC_CHANNEL (source), result, error);
  if (response == NULL)
    {
      if (error && *error && (*error)->domain == NB_GRPC_ERROR)
        g_prefix_error (error, "management GetServerKey: ");
      return FALSE;
    }
  data = g_bytes_get_data (response, &len);
  skr = management__server_key_response__unpack (NULL, len, data);
  ok = skr != NULL && nb_wg_key_from_base64 (skr->key, out_key, NULL) && !nb_wg_key_is_zero (out_key);
  if (skr)
    management__server_key_response__free_unpacked (skr, NULL);
  if (!ok)
    {
      nb_wg_key_clear (out_key);
      g_set_error_literal (error, NB_MGMT_CLIENT_ERROR, NB_MGMT_CLIENT_ERROR_BAD_SERVER_KEY,
                           "management GetServerKey returned no valid WireGuard key");
      return FALSE;
    }
  return TRUE;
}

/* ---- Login ------------------------------------------------------------------ */

typedef struct {
  NbMgmtClient *self;   /* see the lifetime note at the top */
  gboolean is_public;
  NbWgKey server_key;
  char *setup_key;      /* canonical form; NULL: none to try */
  gboolean sent_setup_key;
} LoginOp;

static void
login_op_free (LoginOp *op)
{
  secret_free (op->setup_key);
  nb_wg_key_clear (&op->server_key);
  g_free (op);
}

static void login_server_key_cb (GObject *source, GAsyncResult *result, gpointer data);
static void login_response_cb (GObject *source, GAsyncResult *result, gpointer data);

/* @is_public: nb_mgmt_client_login_async (may register with the setup key,
 * seeds the network map); otherwise the Sync loop's login. */
static void
login_op_start (NbMgmtClient        *self,
                gboolean             is_public,
                GCancellable        *cancellable,
                GAsyncReadyCallback  callback,
                gpointer             data)
{
  GTask *task = g_task_new (is_public ? self : NULL, cancellable, callback, data);
  LoginOp *op = g_new0 (LoginOp, 1);

  op->self = self;
  op->is_public = is_public;
  g_task_set_task_data (task, op, (GDestroyNotify) login_op_free);
  g_task_set_source_tag (task, nb_mgmt_client_login_async);

  if (is_public && self->setup_key != NULL)
    {
      if (!nb_setup_key_is_valid (self->setup_key))
        {
          g_task_return_new_error (task, NB_MGMT_CLIENT_ERROR, NB_MGMT_CLIENT_ERROR_INVALID_SETUP_KEY,
                                   "the setup key is not valid: expected a UUID "
                                   "(8-4-4-4-12 hexadecimal digits)");
          g_object_unref (task);
          return;
        }
      op->setup_key = g_ascii_strdown (self->setup_key, -1);
    }

  request_server_key (self, cancellable, login_server_key_cb, task);
}

static void
login_send (GTask *task)
{
  LoginOp *op = g_task_get_task_data (task);
  NbMgmtClient *self = op->self;
  Management__LoginRequest request = MANAGEMENT__LOGIN_REQUEST__INIT;
  Management__PeerKeys keys = MANAGEMENT__PEER_KEYS__INIT;
  g_autoptr (Meta) meta = meta_build (self);
  g_autoptr (GBytes) message = NULL;
  GError *error = NULL;

  keys.wgpubkey.data = (guint8 *) self->public_key;
  keys.wgpubkey.len = strlen (self->public_key);
  request.meta = &meta->meta;
  request.peerkeys = &keys;
  if (op->sent_setup_key)
    request.setupkey = op->setup_key;

  message = encrypted_message (self, &request.base, &op->server_key, &error);
  if (message == NULL)
    {
      g_task_return_error (task, error);
      g_object_unref (task);
      return;
    }
  g_debug ("Login as %s (%s setup key)", self->public_key, op->sent_setup_key ? "with" : "without");
  nb_grpc_channel_call_async (self->channel, PATH_LOGIN, message, NULL,
                              NB_MGMT_CLIENT_LOGIN_DEADLINE_MS, g_task_get_cancellable (task),
                              login_response_cb, task);
}

static void
login_server_key_cb (GObject *source, GAsyncResult *result, gpointer data)
{
  g_autoptr (GTask) task = data;
  LoginOp *op = g_task_get_task_data (task);
  GError *error = NULL;

  if (!finish_server_key (source, result, &op->server_key, &error))
    {
      g_task_return_error (task, error);
      return;
    }
  if (g_task_return_error_if_cancelled (task))
    return;
  login_send (g_steal_pointer (&task));
}

static void
login_response_cb (GObject *source, GAsyncResult *result, gpointer data)
{
  g_autoptr (GTask) task = data;
  LoginOp *op = g_task_get_task_data (task);
  NbMgmtClient *self;
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) response = NULL;
  g_autoptr (GBytes) plain = NULL;
  g_autoptr (NbNetworkMap) map = NULL;
  const guint8 *data_ptr;
  gsize len;

  response = nb_grpc_channel_call_finish (NB_GRPC_CHANNEL (source), result, &error);
  if (response == NULL)
    {
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        {
          g_task_return_error (task, g_steal_pointer (&error));
          return;
        }
      self = op->self;
      if (is_permission_denied (error) && !op->sent_setup_key && op->setup_key != NULL)
        {
          g_message ("peer %s is not registered (%s); registering it with the setup key",
                     self->public_key, error->message);
          op->sent_setup_key = TRUE;
          login_send (g_steal_pointer (&task));
          return;
        }
      if (is_permission_denied (error) && !op->sent_setup_key)
        {
          gboolean expired = mentions_expiry (error);

          g_task_return_new_error (task, NB_MGMT_CLIENT_ERROR,
                                   expired ? NB_MGMT_CLIENT_ERROR_LOGIN_EXPIRED
                                           : NB_MGMT_CLIENT_ERROR_NOT_REGISTERED,
                                   expired ? "management refused the login: %s"
                                           : "management refused the login: %s (a setup key is "
                                             "needed to register this peer)",
                                   error->message);
          return;
        }
      if (op->sent_setup_key && error->domain == NB_GRPC_ERROR &&
          (error->code == NB_GRPC_STATUS_INVALID_ARGUMENT ||
           error->code == NB_GRPC_STATUS_PERMISSION_DENIED ||
           error->code == NB_GRPC_STATUS_NOT_FOUND ||
           error->code == NB_GRPC_STATUS_FAILED_PRECONDITION))
        {
          g_warning ("management rejected the setup key of peer %s: %s", self->public_key,
                     error->message);
          g_task_return_new_error (task, NB_MGMT_CLIENT_ERROR, NB_MGMT_CLIENT_ERROR_SETUP_KEY_REJECTED,
                                   "management rejected the setup key: %s", error->message);
          return;
        }
      if (error->domain == NB_GRPC_ERROR)
        g_prefix_error (&error, "management Login: ");
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }

  if (g_task_return_error_if_cancelled (task))
    return;
  self = op->self;

  plain = open_encrypted_message (self, response, &op->server_key, &error);
  if (plain)
    {
      data_ptr = g_bytes_get_data (plain, &len);
      map = nb_network_map_from_login_response (data_ptr ? data_ptr : (const guint8 *) "", len, &error);
    }
  if (map == NULL)
    {
      g_task_return_new_error (task, NB_MGMT_CLIENT_ERROR, NB_MGMT_CLIENT_ERROR_BAD_RESPONSE,
                               "management sent an unusable login response: %s", error->message);
      return;
    }

  g_message ("logged in to %s as %s%s: address %s, fqdn %s", self->url, self->public_key,
             op->sent_setup_key ? " (registered with the setup key)" : "",
             map->own->address, map->own->fqdn);
  self->server_key = op->server_key;
  if (op->is_public)
    {
      NbNetworkMap *seeded = nb_network_map_apply (self->applied, map, NULL);

      nb_network_map_free (self->applied);
      self->applied = seeded;
      self->fresh_login = TRUE;
    }
  g_task_return_pointer (task, g_steal_pointer (&map), (GDestroyNotify) nb_network_map_free);
}

void
nb_mgmt_client_login_async (NbMgmtClient        *self,
                            GCancellable        *cancellable,
                            GAsyncReadyCallback  callback,
                            gpointer             user_data)
{
  g_return_if_fail (NB_IS_MGMT_CLIENT (self));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  login_op_start (self, TRUE, cancellable, callback, user_data);
}

NbNetworkMap *
nb_mgmt_client_login_finish (NbMgmtClient  *self,
                             GAsyncResult  *result,
                             GError       **error)
{
  g_return_val_if_fail (NB_IS_MGMT_CLIENT (self), NULL);
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == nb_mgmt_client_login_async, NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

/* ---- Logout ---------------------------------------------------------------- */

static void
logout_response_cb (GObject *source, GAsyncResult *result, gpointer data)
{
  g_autoptr (GTask) task = data;
  g_autoptr (GBytes) response = NULL;
  GError *error = NULL;

  response = nb_grpc_channel_call_finish (NB_GRPC_CHANNEL (source), result, &error);
  if (response == NULL)
    {
      if (error->domain == NB_GRPC_ERROR)
        g_prefix_error (&error, "management Logout: ");
      g_task_return_error (task, error);
      return;
    }
  g_message ("logged out of %s", NB_MGMT_CLIENT (g_task_get_source_object (task))->url);
  g_task_return_boolean (task, TRUE);
}

static void
logout_server_key_cb (GObject *source, GAsyncResult *result, gpointer data)
{
  g_autoptr (GTask) task = data;
  NbMgmtClient *self = g_task_get_source_object (task);
  Management__Empty empty = MANAGEMENT__EMPTY__INIT;
  g_auto (NbWgKey) server_key = NB_WG_KEY_INIT;
  g_autoptr (GBytes) message = NULL;
  GCancellable *cancellable;
  GError *error = NULL;

  if (!finish_server_key (source, result, &server_key, &error))
    {
      g_task_return_error (task, error);
      return;
    }
  if (g_task_return_error_if_cancelled (task))
    return;
  message = encrypted_message (self, &empty.base, &server_key, &error);
  if (message == NULL)
    {
      g_task_return_error (task, error);
      return;
    }
  cancellable = g_task_get_cancellable (task);
  nb_grpc_channel_call_async (self->channel, PATH_LOGOUT, message, NULL,
                              NB_MGMT_CLIENT_LOGOUT_DEADLINE_MS, cancellable,
                              logout_response_cb, g_steal_pointer (&task));
}

void
nb_mgmt_client_logout_async (NbMgmtClient        *self,
                             GCancellable        *cancellable,
                             GAsyncReadyCallback  callback,
                             gpointer             user_data)
{
  GTask *task;

  g_return_if_fail (NB_IS_MGMT_CLIENT (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, nb_mgmt_client_logout_async);
  request_server_key (self, cancellable, logout_server_key_cb, task);
}

gboolean
nb_mgmt_client_logout_finish (NbMgmtClient  *self,
                              GAsyncResult  *result,
                              GError       **error)
{
  g_return_val_if_fail (NB_IS_MGMT_CLIENT (self), FALSE);
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

/* ---- Sync stream -------------------------------------------------------------- */

static void
drop_call (NbMgmtClient *self)
{
  g_autoptr (NbGrpcCall) call = g_steal_pointer (&self->sync_call);

  if (call == NULL)
    return;
  g_signal_handlers_disconnect_by_data (call, self);
  nb_grpc_call_cancel (call);
}

static void
stop_internal (NbMgmtClient *self)
{
  self->state = SYNC_STOPPED;
  if (self->sync_cancellable)
    {
      g_cancellable_cancel (self->sync_cancellable);
      g_clear_object (&self->sync_cancellable);
    }
  g_clear_handle_id (&self->reconnect_id, g_source_remove);
  drop_call (self);
  nb_wg_key_clear (&self->stream_server_key);
}

/* PERMISSION_DENIED on the stream or on a reconnect login: final. */
static void
finish_denied (NbMgmtClient *self, const GError *cause)
{
  g_autoptr (NbMgmtClient) hold = g_object_ref (self);
  g_autoptr (GError) reason = NULL;
  gboolean expired = mentions_expiry (cause) ||
                     g_error_matches (cause, NB_MGMT_CLIENT_ERROR, NB_MGMT_CLIENT_ERROR_LOGIN_EXPIRED);

  reason = g_error_new (NB_MGMT_CLIENT_ERROR,
                        expired ? NB_MGMT_CLIENT_ERROR_LOGIN_EXPIRED : NB_MGMT_CLIENT_ERROR_PEER_REMOVED,
                        expired ? "the login of this peer expired: %s"
                                : "management no longer accepts this peer: %s",
                        cause->message);
  g_warning ("%s; not reconnecting", reason->message);
  stop_internal (self);
  g_signal_emit (self, signals[expired ? SIGNAL_LOGIN_EXPIRED : SIGNAL_PEER_REMOVED], 0, reason);
}

static gboolean
reconnect_cb (gpointer data)
{
  NbMgmtClient *self = data;

  self->reconnect_id = 0;
  begin_attempt (self);
  return G_SOURCE_REMOVE;
}

/* The stream ended or an attempt failed: announce once, retry later. */
static void
connection_lost (NbMgmtClient *self, const GError *error)
{
  g_autoptr (NbMgmtClient) hold = g_object_ref (self);
  guint delay;

  self->state = SYNC_WAITING;
  if (!self->disconnected_announced)
    {
      g_message ("management Sync disconnected: %s", error->message);
      self->disconnected_announced = TRUE;
      g_signal_emit (self, signals[SIGNAL_DISCONNECTED], 0, error);
      if (self->state != SYNC_WAITING || self->reconnect_id != 0)
        return;
    }
  delay = nb_backoff_next (self->backoff);
  g_debug ("management Sync: next attempt in %u ms (%s)", delay, error->message);
  self->reconnect_id = g_timeout_add (delay, reconnect_cb, self);
}

static void
mark_established (NbMgmtClient *self)
{
  if (self->state != SYNC_OPENING)
    return;
  self->state = SYNC_CONNECTED;
  nb_backoff_reset (self->backoff);
  g_message ("management Sync stream established");
  if (self->disconnected_announced)
    {
      self->disconnected_announced = FALSE;
      g_signal_emit (self, signals[SIGNAL_RECONNECTED], 0);
    }
}

static void
apply_update (NbMgmtClient *self, NbNetworkMap *update)
{
  g_autoptr (NbMgmtClient) hold = g_object_ref (self);
  g_autoptr (NbNetworkMapDiff) diff = NULL;
  NbNetworkMap *result;
  gboolean first;

  result = nb_network_map_apply (self->applied, update, &diff);
  nb_network_map_free (self->applied);
  self->applied = result;

  g_debug ("Sync update: %s%s serial %" G_GUINT64_FORMAT "%s, %u peers (+%u -%u ~%u), "
           "%u skipped entries%s",
           update->has_map ? "map" : "no map",
           update->config ? " + config" : "",
           update->serial, diff->stale ? " (stale, ignored)" : "",
           result->peers->len, diff->added->len, diff->removed->len, diff->updated->len,
           update->n_skipped, diff->config_changed ? ", config changed" : "");

  first = !self->map_emitted && result->has_map;
  if (first || (self->map_emitted && (diff->map_changed || diff->config_changed)))
    {
      self->map_emitted = TRUE;
      g_signal_emit (self, signals[SIGNAL_NETWORK_MAP], 0, self->applied);
      if (self->state == SYNC_STOPPED)
        return;
    }
  if (diff->config_changed && self->applied->config)
    {
      g_signal_emit (self, signals[SIGNAL_CONFIG_CHANGED], 0, self->applied->config);
      if (self->state == SYNC_STOPPED)
        return;
    }
  if (nb_network_map_diff_has_peer_changes (diff))
    g_signal_emit (self, signals[SIGNAL_PEERS_CHANGED], 0, diff->added, diff->removed, diff->updated);
}

static void
sync_headers_cb (NbGrpcCall *call, GHashTable *headers, gpointer data)
{
  mark_established (data);
}

static void
sync_message_cb (NbGrpcCall *call, GBytes *message, gpointer data)
{
  NbMgmtClient *self = data;
  g_autoptr (NbMgmtClient) hold = g_object_ref (self);
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) plain = NULL;
  g_autoptr (NbNetworkMap) update = NULL;
  const guint8 *bytes;
  gsize len;

  mark_established (self);
  if (self->sync_call != call)
    return;

  plain = open_encrypted_message (self, message, &self->stream_server_key, &error);
  if (plain == NULL)
    {
      g_warning ("dropping a Sync message: %s", error->message);
      return;
    }
  bytes = g_bytes_get_data (plain, &len);
  update = nb_network_map_from_sync_response (bytes ? bytes : (const guint8 *) "", len,
                                              self->public_key, &error);
  if (update == NULL)
    {
      g_warning ("dropping a Sync message: %s", error->message);
      return;
    }
  apply_update (self, update);
}

static void
sync_closed_cb (NbGrpcCall *call, const GError *error, gpointer data)
{
  NbMgmtClient *self = data;
  g_autoptr (NbGrpcCall) dropped = NULL;
  g_autoptr (GError) ended = NULL;

  if (self->sync_call != call)
    return;
  g_signal_handlers_disconnect_by_data (call, self);
  dropped = g_steal_pointer (&self->sync_call);

  if (error == NULL)
    error = ended = g_error_new_literal (NB_GRPC_ERROR, NB_GRPC_STATUS_UNAVAILABLE,
                                         "management ended the Sync stream");
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  if (is_permission_denied (error))
    {
      finish_denied (self, error);
      return;
    }
  connection_lost (self, error);
}

static void
open_stream (NbMgmtClient *self)
{
  Management__SyncRequest request = MANAGEMENT__SYNC_REQUEST__INIT;
  g_autoptr (Meta) meta = meta_build (self);
  g_autoptr (GBytes) message = NULL;
  g_autoptr (GError) error = NULL;

  request.meta = &meta->meta;
  message = encrypted_message (self, &request.base, &self->server_key, &error);
  if (message == NULL)
    {
      connection_lost (self, error);
      return;
    }

  self->stream_server_key = self->server_key;
  self->state = SYNC_OPENING;
  self->sync_call = nb_grpc_channel_open_call (self->channel, PATH_SYNC, NULL, 0);
  g_signal_connect (self->sync_call, "headers", G_CALLBACK (sync_headers_cb), self);
  g_signal_connect (self->sync_call, "message", G_CALLBACK (sync_message_cb), self);
  g_signal_connect (self->sync_call, "closed", G_CALLBACK (sync_closed_cb), self);
  nb_grpc_call_send (self->sync_call, message);
  nb_grpc_call_close_send (self->sync_call);
  g_debug ("opening the Sync stream");
}

static void
sync_login_cb (GObject *source, GAsyncResult *result, gpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (NbNetworkMap) map = g_task_propagate_pointer (G_TASK (result), &error);
  NbMgmtClient *self = data;

  /* Cancelled: the client may be gone; touch nothing. */
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  if (self->state != SYNC_LOGGING_IN)
    return;
  if (map == NULL)
    {
      if (g_error_matches (error, NB_MGMT_CLIENT_ERROR, NB_MGMT_CLIENT_ERROR_NOT_REGISTERED) ||
          g_error_matches (error, NB_MGMT_CLIENT_ERROR, NB_MGMT_CLIENT_ERROR_LOGIN_EXPIRED))
        finish_denied (self, error);
      else
        connection_lost (self, error);
      return;
    }
  open_stream (self);
}

static void
begin_attempt (NbMgmtClient *self)
{
  self->state = SYNC_LOGGING_IN;
  login_op_start (self, FALSE, self->sync_cancellable, sync_login_cb, self);
}

void
nb_mgmt_client_start_sync (NbMgmtClient *self)
{
  g_return_if_fail (NB_IS_MGMT_CLIENT (self));

  if (self->state != SYNC_STOPPED)
    return;
  self->sync_cancellable = g_cancellable_new ();
  self->disconnected_announced = FALSE;
  nb_backoff_reset (self->backoff);
  if (self->fresh_login)
    {
      self->fresh_login = FALSE;
      open_stream (self);
    }
  else
    begin_attempt (self);
}

void
nb_mgmt_client_stop (NbMgmtClient *self)
{
  g_return_if_fail (NB_IS_MGMT_CLIENT (self));

  if (self->state == SYNC_STOPPED)
    return;
  g_debug ("stopping the Sync stream");
  stop_internal (self);
}

gboolean
nb_mgmt_client_is_running (NbMgmtClient *self)
{
  g_return_val_if_fail (NB_IS_MGMT_CLIENT (self), FALSE);
  return self->state != SYNC_STOPPED;
}

gboolean
nb_mgmt_client_is_connected (NbMgmtClient *self)
{
  g_return_val_if_fail (NB_IS_MGMT_CLIENT (self), FALSE);
  return self->state == SYNC_CONNECTED;
}

const NbNetworkMap *
nb_mgmt_client_get_network_map (NbMgmtClient *self)
{
  g_return_val_if_fail (NB_IS_MGMT_CLIENT (self), NULL);
  return self->applied;
}

/* ---- Settings -------------------------------------------------------------- */

const char *
nb_mgmt_client_get_url (NbMgmtClient *self)
{
  g_return_val_if_fail (NB_IS_MGMT_CLIENT (self), NULL);
  return self->url;
}

const char *
nb_mgmt_client_get_public_key (NbMgmtClient *self)
{
  g_return_val_if_fail (NB_IS_MGMT_CLIENT (self), NULL);
  return self->public_key;
}

void
nb_mgmt_client_set_setup_key (NbMgmtClient *self, const char *setup_key)
{
  g_return_if_fail (NB_IS_MGMT_CLIENT (self));

  secret_free (self->setup_key);
  self->setup_key = setup_key && *setup_key ? g_strdup (setup_key) : NULL;
}

void
nb_mgmt_client_set_hostname (NbMgmtClient *self, const char *hostname)
{
  g_return_if_fail (NB_IS_MGMT_CLIENT (self));

  g_free (self->hostname);
  self->hostname = g_strdup (hostname);
}

void
nb_mgmt_client_set_netbird_version (NbMgmtClient *self, const char *version)
{
  g_return_if_fail (NB_IS_MGMT_CLIENT (self));

  g_free (self->netbird_version);
  self->netbird_version = g_strdup (version ? version : PACKAGE_VERSION);
}

void
nb_mgmt_client_set_flags (NbMgmtClient *self, const NbPeerFlags *flags)
{
  g_return_if_fail (NB_IS_MGMT_CLIENT (self));
  g_return_if_fail (flags != NULL);

  self->flags = *flags;
}

void
nb_mgmt_client_set_system_info (NbMgmtClient *self, const NbSystemInfo *info)
{
  g_return_if_fail (NB_IS_MGMT_CLIENT (self));

  nb_system_info_free (self->fixed_info);
  self->fixed_info = nb_system_info_copy (info);
  if (info)
    self->flags = info->flags;
}

void
nb_mgmt_client_set_backoff (NbMgmtClient *self, guint initial_ms, guint max_ms)
{
  g_return_if_fail (NB_IS_MGMT_CLIENT (self));
  g_return_if_fail (initial_ms > 0 && max_ms >= initial_ms);

  nb_backoff_free (self->backoff);
  self->backoff = nb_backoff_new (initial_ms, max_ms);
}

void
nb_mgmt_client_set_tls_database (NbMgmtClient *self, GTlsDatabase *database)
{
  g_return_if_fail (NB_IS_MGMT_CLIENT (self));

  nb_grpc_channel_set_tls_database (self->channel, database);
}

/* ---- GObject ---------------------------------------------------------------- */

NbMgmtClient *
nb_mgmt_client_new (const char    *management_url,
                    const NbWgKey *private_key,
                    GError       **error)
{
  g_autoptr (NbMgmtClient) self = NULL;
  g_autoptr (GError) local_error = NULL;
  g_auto (NbWgKey) public_key = NB_WG_KEY_INIT;

  g_return_val_if_fail (private_key != NULL, NULL);

  if (management_url == NULL ||
      (!g_str_has_prefix (management_url, "http://") && !g_str_has_prefix (management_url, "https://")))
    {
      g_set_error (error, NB_MGMT_CLIENT_ERROR, NB_MGMT_CLIENT_ERROR_INVALID_URL,
                   "management URL must start with http:// or https://");
      return NULL;
    }

  self = g_object_new (NB_TYPE_MGMT_CLIENT, NULL);
  self->channel = nb_grpc_channel_new (management_url, &local_error);
  if (self->channel == NULL)
    {
      g_set_error (error, NB_MGMT_CLIENT_ERROR, NB_MGMT_CLIENT_ERROR_INVALID_URL,
                   "invalid management URL: %s", local_error->message);
      return NULL;
    }
  nb_grpc_channel_set_max_receive_message_size (self->channel, NB_MGMT_CLIENT_MAX_MESSAGE_SIZE);
  self->url = g_strdup (management_url);
  self->private_key = *private_key;
  nb_wg_key_derive_public (&self->private_key, &public_key);
  nb_wg_key_to_base64_buf (&public_key, self->public_key);
  return g_steal_pointer (&self);
}

static void
nb_mgmt_client_init (NbMgmtClient *self)
{
  self->netbird_version = g_strdup (PACKAGE_VERSION);
  self->backoff = nb_backoff_new_default ();
}

static void
nb_mgmt_client_dispose (GObject *object)
{
  NbMgmtClient *self = NB_MGMT_CLIENT (object);

  stop_internal (self);
  G_OBJECT_CLASS (nb_mgmt_client_parent_class)->dispose (object);
}

static void
nb_mgmt_client_finalize (GObject *object)
{
  NbMgmtClient *self = NB_MGMT_CLIENT (object);

  g_clear_object (&self->channel);
  g_free (self->url);
  nb_wg_key_clear (&self->private_key);
  nb_wg_key_clear (&self->server_key);
  secret_free (self->setup_key);
  g_free (self->hostname);
  g_free (self->netbird_version);
  nb_system_info_free (self->fixed_info);
  nb_network_map_free (self->applied);
  nb_backoff_free (self->backoff);
  G_OBJECT_CLASS (nb_mgmt_client_parent_class)->finalize (object);
}

static void
nb_mgmt_client_class_init (NbMgmtClientClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = nb_mgmt_client_dispose;
  object_class->finalize = nb_mgmt_client_finalize;

  signals[SIGNAL_NETWORK_MAP] =
    g_signal_new ("network-map", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                  NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_POINTER);
  signals[SIGNAL_CONFIG_CHANGED] =
    g_signal_new ("config-changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                  NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_POINTER);
  signals[SIGNAL_PEERS_CHANGED] =
    g_signal_new ("peers-changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                  NULL, NULL, NULL, G_TYPE_NONE, 3,
                  G_TYPE_PTR_ARRAY | G_SIGNAL_TYPE_STATIC_SCOPE,
                  G_TYPE_PTR_ARRAY | G_SIGNAL_TYPE_STATIC_SCOPE,
                  G_TYPE_PTR_ARRAY | G_SIGNAL_TYPE_STATIC_SCOPE);
  signals[SIGNAL_DISCONNECTED] =
    g_signal_new ("disconnected", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                  NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_ERROR | G_SIGNAL_TYPE_STATIC_SCOPE);
  signals[SIGNAL_RECONNECTED] =
    g_signal_new ("reconnected", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                  NULL, NULL, NULL, G_TYPE_NONE, 0);
  signals[SIGNAL_LOGIN_EXPIRED] =
    g_signal_new ("login-expired", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                  NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_ERROR | G_SIGNAL_TYPE_STATIC_SCOPE);
  signals[SIGNAL_PEER_REMOVED] =
    g_signal_new ("peer-removed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                  NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_ERROR | G_SIGNAL_TYPE_STATIC_SCOPE);
}
