/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * netbird-devnet's state directory; see devnet-state.h for the layout.
 */
#define G_LOG_DOMAIN "nb-devnet-state"

#include "config.h"

#include "devnet-state.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <sodium.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nb-sodium.h"

#define SERVER_KEY_FILE   "server.key"
#define RELAY_SECRET_FILE "relay.secret"
#define TURN_SECRET_FILE  "turn.secret"
#define TURN_STATIC_FILE  "turn.static"
#define SETUP_KEYS_FILE   "setup-keys"
#define PEERS_FILE        "peers"
#define LOCK_FILE         "lock"

#define NETWORK_GROUP     "network"
#define PEER_GROUP_PREFIX "peer "
#define KEY_GROUP_PREFIX  "setup-key "
#define ROUTE_GROUP_PREFIX "route "

/* Host addresses of the /16: offsets 1 .. 65534. */
#define FIRST_HOST 1u
#define LAST_HOST  ((1u << (32 - NB_DEVNET_NETWORK_PREFIX)) - 2u)

/* Quiet time after a file monitor event before re-reading. */
#define RELOAD_DELAY_MS 30

G_DEFINE_QUARK (nb-devnet-state-error-quark, nb_devnet_state_error)

struct _NbDevnetState {
  GObject parent_instance;

  char *dir;
  NbWgKey *server_private;
  NbWgKey server_public;
  GBytes *relay_secret;
  GBytes *turn_secret;

  /* From `peers`. */
  char *dns_domain;
  guint64 serial;
  guint32 last_ip;       /* offset in the network */
  GHashTable *peers;     /* key → NbDevnetPeer* */
  GPtrArray *routes;     /* NbDevnetRoute*, sorted (network, peer) */
  char *peers_text;      /* what `peers` held when last read or written */
  gboolean peers_loaded; /* read once: later differences are changes */

  GFileMonitor *monitor;
  guint reload_source;
  guint emit_source;
  gboolean changed;      /* "peers-changed" owed */
};

enum {
  SIGNAL_PEERS_CHANGED,
  N_SIGNALS,
};
static guint signals[N_SIGNALS];

G_DEFINE_TYPE (NbDevnetState, nb_devnet_state, G_TYPE_OBJECT)

/* ------------------------------------------------------------------------ */
/* Values */

static char *
dup_or_empty (const char *s)
{
  return g_strdup (s ? s : "");
}

NbDevnetPeerMeta *
nb_devnet_peer_meta_new (void)
{
  NbDevnetPeerMeta *meta = g_new0 (NbDevnetPeerMeta, 1);

  meta->hostname = g_strdup ("");
  meta->go_os = g_strdup ("");
  meta->kernel = g_strdup ("");
  meta->core = g_strdup ("");
  meta->platform = g_strdup ("");
  meta->os = g_strdup ("");
  meta->os_version = g_strdup ("");
  meta->kernel_version = g_strdup ("");
  meta->netbird_version = g_strdup ("");
  meta->ui_version = g_strdup ("");
  meta->ssh_pubkey_b64 = g_strdup ("");
  return meta;
}

NbDevnetPeerMeta *
nb_devnet_peer_meta_copy (const NbDevnetPeerMeta *meta)
{
  NbDevnetPeerMeta *copy = g_new0 (NbDevnetPeerMeta, 1);

  copy->hostname = dup_or_empty (meta->hostname);
  copy->go_os = dup_or_empty (meta->go_os);
  copy->kernel = dup_or_empty (meta->kernel);
  copy->core = dup_or_empty (meta->core);
  copy->platform = dup_or_empty (meta->platform);
  copy->os = dup_or_empty (meta->os);
  copy->os_version = dup_or_empty (meta->os_version);
  copy->kernel_version = dup_or_empty (meta->kernel_version);
  copy->netbird_version = dup_or_empty (meta->netbird_version);
  copy->ui_version = dup_or_empty (meta->ui_version);
  copy->ssh_pubkey_b64 = dup_or_empty (meta->ssh_pubkey_b64);
  return copy;
}

void
nb_devnet_peer_meta_free (NbDevnetPeerMeta *meta)
{
  if (meta == NULL)
    return;
  g_free (meta->hostname);
  g_free (meta->go_os);
  g_free (meta->kernel);
  g_free (meta->core);
  g_free (meta->platform);
  g_free (meta->os);
  g_free (meta->os_version);
  g_free (meta->kernel_version);
  g_free (meta->netbird_version);
  g_free (meta->ui_version);
  g_free (meta->ssh_pubkey_b64);
  g_free (meta);
}

NbDevnetPeer *
nb_devnet_peer_copy (const NbDevnetPeer *peer)
{
  NbDevnetPeer *copy = g_new0 (NbDevnetPeer, 1);

  copy->key = g_strdup (peer->key);
  copy->ip = peer->ip;
  copy->dns_label = g_strdup (peer->dns_label);
  copy->setup_key_id = g_strdup (peer->setup_key_id);
  copy->created = peer->created;
  copy->last_login = peer->last_login;
  copy->meta = nb_devnet_peer_meta_copy (peer->meta);
  return copy;
}

void
nb_devnet_peer_free (NbDevnetPeer *peer)
{
  if (peer == NULL)
    return;
  g_free (peer->key);
  g_free (peer->dns_label);
  g_free (peer->setup_key_id);
  nb_devnet_peer_meta_free (peer->meta);
  g_free (peer);
}

static char *
ip_to_string (guint32 ip)
{
  return g_strdup_printf ("%u.%u.%u.%u", ip >> 24, (ip >> 16) & 0xff, (ip >> 8) & 0xff, ip & 0xff);
}

char *
nb_devnet_peer_ip_string (const NbDevnetPeer *peer)
{
  return ip_to_string (peer->ip);
}

NbDevnetRoute *
nb_devnet_route_copy (const NbDevnetRoute *route)
{
  NbDevnetRoute *copy = g_new0 (NbDevnetRoute, 1);

  copy->id = g_strdup (route->id);
  copy->network = g_strdup (route->network);
  copy->peer = g_strdup (route->peer);
  copy->metric = route->metric;
  copy->masquerade = route->masquerade;
  copy->net_id = g_strdup (route->net_id);
  copy->skip_auto_apply = route->skip_auto_apply;
  return copy;
}

void
nb_devnet_route_free (NbDevnetRoute *route)
{
  if (route == NULL)
    return;
  g_free (route->id);
  g_free (route->network);
  g_free (route->peer);
  g_free (route->net_id);
  g_free (route);
}

gboolean
nb_devnet_route_net_id_is_valid (const char *net_id, GError **error)
{
  glong n_chars;

  if (net_id == NULL || !g_utf8_validate (net_id, -1, NULL))
    {
      g_set_error_literal (error, NB_DEVNET_STATE_ERROR, NB_DEVNET_STATE_ERROR_INVALID_ARGUMENT,
                           "net-id is not valid UTF-8");
      return FALSE;
    }
  n_chars = g_utf8_strlen (net_id, -1);
  if (n_chars < 1 || n_chars > NB_DEVNET_ROUTE_NET_ID_MAX)
    {
      g_set_error (error, NB_DEVNET_STATE_ERROR, NB_DEVNET_STATE_ERROR_INVALID_ARGUMENT,
                   "net-id must have 1 to %d characters, not %ld", NB_DEVNET_ROUTE_NET_ID_MAX, n_chars);
      return FALSE;
    }
  for (const char *p = net_id; *p != '\0'; p = g_utf8_next_char (p))
    if (g_unichar_iscntrl (g_utf8_get_char (p)))
      {
        g_set_error_literal (error, NB_DEVNET_STATE_ERROR, NB_DEVNET_STATE_ERROR_INVALID_ARGUMENT,
                             "net-id must not contain control characters");
        return FALSE;
      }
  return TRUE;
}

char *
nb_devnet_cidr_normalize (const char *text)
{
  const char *slash = text ? strchr (text, '/') : NULL;
  g_autofree char *addr_text = NULL;
  g_autoptr (GInetAddress) addr = NULL;
  g_autoptr (GInetAddress) masked = NULL;
  g_autofree char *masked_text = NULL;
  guint8 bytes[16];
  gsize size;
  guint64 len;

  if (slash == NULL || slash[1] == '\0' || (slash[1] == '0' && slash[2] != '\0'))
    return NULL;
  addr_text = g_strndup (text, slash - text);
  addr = g_inet_address_new_from_string (addr_text);
  if (addr == NULL || strchr (addr_text, '%') != NULL)
    return NULL;
  size = g_inet_address_get_native_size (addr);
  if (!g_ascii_string_to_unsigned (slash + 1, 10, 0, size * 8, &len, NULL))
    return NULL;
  memcpy (bytes, g_inet_address_to_bytes (addr), size);
  for (gsize i = 0; i < size; i++)
    {
      guint bits = len > i * 8 ? (guint) MIN (len - i * 8, 8) : 0;

      bytes[i] &= (guint8) (0xff00 >> bits);
    }
  masked = g_inet_address_new_from_bytes (bytes, g_inet_address_get_family (addr));
  masked_text = g_inet_address_to_string (masked);
  return g_strdup_printf ("%s/%u", masked_text, (guint) len);
}

void
nb_devnet_setup_key_free (NbDevnetSetupKey *key)
{
  if (key == NULL)
    return;
  g_free (key->id);
  g_free (key->prefix);
  g_free (key->name);
  g_free (key);
}

gboolean
nb_devnet_setup_key_is_valid (const NbDevnetSetupKey *key, gint64 now)
{
  if (key->revoked)
    return FALSE;
  if (key->expires != 0 && now > key->expires)
    return FALSE;
  if (key->usage_limit != 0 && key->used >= key->usage_limit)
    return FALSE;
  return TRUE;
}

char *
nb_devnet_dns_label_from_hostname (const char *hostname)
{
  g_autoptr (GString) label = g_string_new (NULL);
  const char *p;
  gboolean in_invalid = FALSE;

  /* First DNS label (dns.SplitDomainName ignores empty labels). */
  p = hostname ? hostname : "";
  while (*p == '.')
    p++;
  for (; *p != '\0' && *p != '.'; p++)
    {
      char c = *p;

      if (g_ascii_isalnum (c) || c == '-')
        {
          g_string_append_c (label, g_ascii_tolower (c));
          in_invalid = FALSE;
        }
      else if (!in_invalid)
        {
          /* A run of invalid characters becomes one '-' (NetBird's
           * [^a-zA-Z0-9-]+ → "-"). Non-ASCII is not punycoded here. */
          g_string_append_c (label, '-');
          in_invalid = TRUE;
        }
    }
  /* NetBird keeps 59 characters of a label longer than 58. */
  if (label->len > 58)
    g_string_truncate (label, 59);
  if (label->len == 0)
    g_string_assign (label, "peer");
  return g_string_free (g_steal_pointer (&label), FALSE);
}

/* ------------------------------------------------------------------------ */
/* Files */

static char *
state_path (NbDevnetState *self, const char *name)
{
  return g_build_filename (self->dir, name, NULL);
}

static gboolean
write_file (const char *path, const char *data, gsize len, int mode, GError **error)
{
  g_autoptr (GError) local = NULL;

  if (!g_file_set_contents_full (path, data, len, G_FILE_SET_CONTENTS_CONSISTENT, mode, &local))
    {
      g_set_error (error, NB_DEVNET_STATE_ERROR, NB_DEVNET_STATE_ERROR_IO,
                   "cannot write %s: %s", path, local->message);
      return FALSE;
    }
  return TRUE;
}

/* Reads a one-line secret file; refuses files others can read. */
static GBytes *
read_secret_file (const char *path, GError **error)
{
  g_autofree char *text = NULL;
  gsize len = 0;
  GStatBuf st;
  g_autoptr (GError) local = NULL;

  if (g_stat (path, &st) != 0)
    {
      int saved = errno;

      g_set_error (error, NB_DEVNET_STATE_ERROR,
                   saved == ENOENT ? NB_DEVNET_STATE_ERROR_NOT_INITIALISED : NB_DEVNET_STATE_ERROR_IO,
                   "cannot read %s: %s", path, g_strerror (saved));
      return NULL;
    }
  if ((st.st_mode & 077) != 0)
    {
      g_set_error (error, NB_DEVNET_STATE_ERROR, NB_DEVNET_STATE_ERROR_IO,
                   "%s is accessible by group or others (chmod 600)", path);
      return NULL;
    }
  if (!g_file_get_contents (path, &text, &len, &local))
    {
      g_set_error (error, NB_DEVNET_STATE_ERROR, NB_DEVNET_STATE_ERROR_IO,
                   "cannot read %s: %s", path, local->message);
      return NULL;
    }
  while (len > 0 && g_ascii_isspace (text[len - 1]))
    len--;
  if (len == 0 || memchr (text, '\n', len) != NULL)
    {
      sodium_memzero (text, len);
      g_set_error (error, NB_DEVNET_STATE_ERROR, NB_DEVNET_STATE_ERROR_CORRUPT,
                   "%s does not hold one line", path);
      return NULL;
    }
  {
    GBytes *bytes = g_bytes_new (text, len);

    sodium_memzero (text, len);
    return bytes;
  }
}

static gboolean
write_random_secret (const char *path, GError **error)
{
  guint8 raw[32];
  g_autofree char *b64 = NULL;
  g_autofree char *line = NULL;
  gboolean ok;

  randombytes_buf (raw, sizeof raw);
  b64 = g_base64_encode (raw, sizeof raw);
  sodium_memzero (raw, sizeof raw);
  line = g_strconcat (b64, "\n", NULL);
  ok = write_file (path, line, strlen (line), 0600, error);
  sodium_memzero (b64, strlen (b64));
  sodium_memzero (line, strlen (line));
  return ok;
}

/* flock(LOCK_EX) on DIR/lock; returns the fd or -1. */
static int
state_lock (NbDevnetState *self, GError **error)
{
  g_autofree char *path = state_path (self, LOCK_FILE);
  int fd = open (path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);

  if (fd < 0)
    {
      int saved = errno;

      g_set_error (error, NB_DEVNET_STATE_ERROR, NB_DEVNET_STATE_ERROR_IO,
                   "cannot open %s: %s", path, g_strerror (saved));
      return -1;
    }
  while (flock (fd, LOCK_EX) != 0)
    {
      int saved = errno;

      if (saved == EINTR)
        continue;
      close (fd);
      g_set_error (error, NB_DEVNET_STATE_ERROR, NB_DEVNET_STATE_ERROR_IO,
                   "cannot lock %s: %s", path, g_strerror (saved));
      return -1;
    }
  return fd;
}

static void
state_unlock (int fd)
{
  if (fd >= 0)
    close (fd); /* releases the flock */
}

/* ------------------------------------------------------------------------ */
/* peers file */

static char *
kf_string (GKeyFile *kf, const char *group, const char *key)
{
  char *value = g_key_file_get_string (kf, group, key, NULL);

  return value ? value : g_strdup ("");
}

static gint64
kf_int64 (GKeyFile *kf, const char *group, const char *key)
{
  return g_key_file_get_int64 (kf, group, key, NULL);
}

static gboolean
parse_ip (const char *text, guint32 *out)
{
  g_autoptr (GInetAddress) addr = g_inet_address_new_from_string (text);
  const guint8 *b;

  if (addr == NULL || g_inet_address_get_family (addr) != G_SOCKET_FAMILY_IPV4)
    return FALSE;
  b = g_inet_address_to_bytes (addr);
  *out = ((guint32) b[0] << 24) | ((guint32) b[1] << 16) | ((guint32) b[2] << 8) | b[3];
  return TRUE;
}

static NbDevnetPeerMeta *
meta_from_keyfile (GKeyFile *kf, const char *group)
{
  NbDevnetPeerMeta *meta = g_new0 (NbDevnetPeerMeta, 1);

  meta->hostname = kf_string (kf, group, "hostname");
  meta->go_os = kf_string (kf, group, "go-os");
  meta->kernel = kf_string (kf, group, "kernel");
  meta->core = kf_string (kf, group, "core");
  meta->platform = kf_string (kf, group, "platform");
  meta->os = kf_string (kf, group, "os");
  meta->os_version = kf_string (kf, group, "os-version");
  meta->kernel_version = kf_string (kf, group, "kernel-version");
  meta->netbird_version = kf_string (kf, group, "netbird-version");
  meta->ui_version = kf_string (kf, group, "ui-version");
  meta->ssh_pubkey_b64 = kf_string (kf, group, "ssh-pubkey");
  return meta;
}

static void
meta_to_keyfile (GKeyFile *kf, const char *group, const NbDevnetPeerMeta *meta)
{
  g_key_file_set_string (kf, group, "hostname", meta->hostname);
  g_key_file_set_string (kf, group, "go-os", meta->go_os);
  g_key_file_set_string (kf, group, "kernel", meta->kernel);
  g_key_file_set_string (kf, group, "core", meta->core);
  g_key_file_set_string (kf, group, "platform", meta->platform);
  g_key_file_set_string (kf, group, "os", meta->os);
  g_key_file_set_string (kf, group, "os-version", meta->os_version);
  g_key_file_set_string (kf, group, "kernel-version", meta->kernel_version);
  g_key_file_set_string (kf, group, "netbird-version", meta->netbird_version);
  g_key_file_set_string (kf, group, "ui-version", meta->ui_version);
  g_key_file_set_string (kf, group, "ssh-pubkey", meta->ssh_pubkey_b64);
}

typedef struct {
  char *dns_domain;
  guint64 serial;
  guint32 last_ip;
  GHashTable *peers;
  GPtrArray *routes;
} PeersData;

static void
peers_data_clear (PeersData *data)
{
  g_clear_pointer (&data->dns_domain, g_free);
  g_clear_pointer (&data->peers, g_hash_table_unref);
  g_clear_pointer (&data->routes, g_ptr_array_unref);
}

static GPtrArray *
route_list_new (void)
{
  return g_ptr_array_new_with_free_func ((GDestroyNotify) nb_devnet_route_free);
}

static gint
route_compare (gconstpointer a, gconstpointer b)
{
  const NbDevnetRoute *ra = *(const NbDevnetRoute *const *) a;
  const NbDevnetRoute *rb = *(const NbDevnetRoute *const *) b;
  int order = strcmp (ra->network, rb->network);

  return order != 0 ? order : strcmp (ra->peer, rb->peer);
}

/* A `[route ID]` group; NULL + CORRUPT when it is unusable. */
static NbDevnetRoute *
route_from_group (const char *path, GKeyFile *kf, const char *group, GError **error)
{
  g_autoptr (NbDevnetRoute) route = g_new0 (NbDevnetRoute, 1);
  g_autofree char *network = kf_string (kf, group, "network");
  NbWgKey key;

  route->id = g_strdup (group + strlen (ROUTE_GROUP_PREFIX));
  route->network = nb_devnet_cidr_normalize (network);
  route->peer = kf_string (kf, group, "peer");
  if (route->network == NULL || !nb_wg_key_from_base64 (route->peer, &key, NULL))
    {
      g_set_error (error, NB_DEVNET_STATE_ERROR, NB_DEVNET_STATE_ERROR_CORRUPT,
                   "%s: [%s] needs a CIDR network and a peer key", path, group);
      return NULL;
    }
  route->metric = g_key_file_has_key (kf, group, "metric", NULL) ? kf_int64 (kf, group, "metric")
                                                                 : NB_DEVNET_ROUTE_DEFAULT_METRIC;
  route->masquerade = g_key_file_get_boolean (kf, group, "masquerade", NULL);
  route->net_id = kf_string (kf, group, "net-id");
  if (route->net_id[0] == '\0')
    {
      g_free (route->net_id);
      route->net_id = g_strdup (route->network);
    }
  /* Absent in files written before it existed: NetBird's default. */
  route->skip_auto_apply = g_key_file_get_boolean (kf, group, "skip-auto-apply", NULL);
  return g_steal_pointer (&route);
}

static GHashTable *
peer_table_new (void)
{
  return g_hash_table_new_full (g_str_hash, g_str_equal, NULL, (GDestroyNotify) nb_devnet_peer_free);
}

static gboolean
peers_parse (const char *path, const char *text, PeersData *out, GError **error)
{
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  g_autoptr (GError) local = NULL;
  g_auto (GStrv) groups = NULL;
  g_autofree char *net = NULL;

  if (!g_key_file_load_from_data (kf, text, -1, G_KEY_FILE_NONE, &local))
    {
      g_set_error (error, NB_DEVNET_STATE_ERROR, NB_DEVNET_STATE_ERROR_CORRUPT,
                   "%s: %s", path, local->message);
      return FALSE;
    }
  net = g_key_file_get_string (kf, NETWORK_GROUP, "net", NULL);
  if (g_strcmp0 (net, NB_DEVNET_NETWORK_CIDR) != 0)
    {
      g_set_error (error, NB_DEVNET_STATE_ERROR, NB_DEVNET_STATE_ERROR_CORRUPT,
                   "%s: [network] net must be %s", path, NB_DEVNET_NETWORK_CIDR);
      return FALSE;
    }
  out->dns_domain = kf_string (kf, NETWORK_GROUP, "dns-domain");
  if (out->dns_domain[0] == '\0')
    {
      g_free (out->dns_domain);
      out->dns_domain = g_strdup (NB_DEVNET_DEFAULT_DNS_DOMAIN);
    }
  out->serial = g_key_file_get_uint64 (kf, NETWORK_GROUP, "serial", NULL);
  out->last_ip = (guint32) MIN (g_key_file_get_uint64 (kf, NETWORK_GROUP, "last-ip", NULL), LAST_HOST);
  out->peers = peer_table_new ();
  out->routes = route_list_new ();

  groups = g_key_file_get_groups (kf, NULL);
  for (guint i = 0; groups[i] != NULL; i++)
    {
      const char *group = groups[i];
      g_autoptr (NbDevnetPeer) peer = NULL;
      g_autofree char *ip = NULL;
      NbWgKey key;

      if (g_str_has_prefix (group, ROUTE_GROUP_PREFIX))
        {
          NbDevnetRoute *route = route_from_group (path, kf, group, error);

          if (route == NULL)
            {
              peers_data_clear (out);
              return FALSE;
            }
          g_ptr_array_add (out->routes, route);
          continue;
        }
      if (!g_str_has_prefix (group, PEER_GROUP_PREFIX))
        continue;
      peer = g_new0 (NbDevnetPeer, 1);
      peer->key = g_strdup (group + strlen (PEER_GROUP_PREFIX));
      if (!nb_wg_key_from_base64 (peer->key, &key, NULL))
        {
          g_set_error (error, NB_DEVNET_STATE_ERROR, NB_DEVNET_STATE_ERROR_CORRUPT,
                       "%s: [%s] is not a WireGuard key", path, group);
          peers_data_clear (out);
          return FALSE;
        }
      ip = kf_string (kf, group, "ip");
      if (!parse_ip (ip, &peer->ip) || (peer->ip >> (32 - NB_DEVNET_NETWORK_PREFIX)) != (NB_DEVNET_NETWORK_ADDR >> (32 - NB_DEVNET_NETWORK_PREFIX)))
        {
          g_set_error (error, NB_DEVNET_STATE_ERROR, NB_DEVNET_STATE_ERROR_CORRUPT,
                       "%s: [%s] ip is not an address of %s", path, group, NB_DEVNET_NETWORK_CIDR);
          peers_data_clear (out);
          return FALSE;
        }
      peer->dns_label = kf_string (kf, group, "dns-label");
      peer->setup_key_id = kf_string (kf, group, "setup-key");
      peer->created = kf_int64 (kf, group, "created");
      peer->last_login = kf_int64 (kf, group, "last-login");
      peer->meta = meta_from_keyfile (kf, group);
      g_hash_table_replace (out->peers, peer->key, peer);
      g_steal_pointer (&peer);
    }
  return TRUE;
}

static gint
peer_compare_ip (gconstpointer a, gconstpointer b)
{
  const NbDevnetPeer *pa = *(const NbDevnetPeer *const *) a;
  const NbDevnetPeer *pb = *(const NbDevnetPeer *const *) b;

  return pa->ip < pb->ip ? -1 : pa->ip > pb->ip;
}

static GPtrArray *
sorted_peers (GHashTable *peers)
{
  GPtrArray *list = g_ptr_array_new ();
  GHashTableIter iter;
  gpointer value;

  g_hash_table_iter_init (&iter, peers);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    g_ptr_array_add (list, value);
  g_ptr_array_sort (list, peer_compare_ip);
  return list;
}

static char *
peers_serialise (NbDevnetState *self)
{
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  g_autoptr (GPtrArray) list = sorted_peers (self->peers);

  g_key_file_set_comment (kf, NULL, NULL,
                          " netbird-devnet peers and network (see devnet-state.h).\n"
                          " Edit with `netbird-devnet remove-peer`, not by hand, while a server runs.",
                          NULL);
  g_key_file_set_string (kf, NETWORK_GROUP, "net", NB_DEVNET_NETWORK_CIDR);
  g_key_file_set_string (kf, NETWORK_GROUP, "dns-domain", self->dns_domain);
  g_key_file_set_uint64 (kf, NETWORK_GROUP, "serial", self->serial);
  g_key_file_set_uint64 (kf, NETWORK_GROUP, "last-ip", self->last_ip);
  for (guint i = 0; i < list->len; i++)
    {
      const NbDevnetPeer *peer = list->pdata[i];
      g_autofree char *group = g_strconcat (PEER_GROUP_PREFIX, peer->key, NULL);
      g_autofree char *ip = ip_to_string (peer->ip);

      g_key_file_set_string (kf, group, "ip", ip);
      g_key_file_set_string (kf, group, "dns-label", peer->dns_label);
      g_key_file_set_string (kf, group, "setup-key", peer->setup_key_id);
      g_key_file_set_int64 (kf, group, "created", peer->created);
      g_key_file_set_int64 (kf, group, "last-login", peer->last_login);
      meta_to_keyfile (kf, group, peer->meta);
    }
  for (guint i = 0; i < self->routes->len; i++)
    {
      const NbDevnetRoute *route = self->routes->pdata[i];
      g_autofree char *group = g_strconcat (ROUTE_GROUP_PREFIX, route->id, NULL);

      g_key_file_set_string (kf, group, "network", route->network);
      g_key_file_set_string (kf, group, "peer", route->peer);
      g_key_file_set_int64 (kf, group, "metric", route->metric);
      g_key_file_set_boolean (kf, group, "masquerade", route->masquerade);
      g_key_file_set_string (kf, group, "net-id", route->net_id);
      g_key_file_set_boolean (kf, group, "skip-auto-apply", route->skip_auto_apply);
    }
  return g_key_file_to_data (kf, NULL, NULL);
}

static gboolean
emit_changed_cb (gpointer data)
{
  NbDevnetState *self = data;

  self->emit_source = 0;
  if (self->changed)
    {
      self->changed = FALSE;
      g_signal_emit (self, signals[SIGNAL_PEERS_CHANGED], 0, self->serial);
    }
  return G_SOURCE_REMOVE;
}

static void
schedule_changed (NbDevnetState *self)
{
  self->changed = TRUE;
  if (self->emit_source == 0)
    self->emit_source = g_idle_add_full (G_PRIORITY_DEFAULT, emit_changed_cb, g_object_ref (self),
                                         g_object_unref);
}

/* Reads `peers`; when it differs from what we last saw, replaces the
 * in-memory state and schedules "peers-changed". */
static gboolean
peers_load (NbDevnetState *self, GError **error)
{
  g_autofree char *path = state_path (self, PEERS_FILE);
  g_autofree char *text = NULL;
  g_autoptr (GError) local = NULL;
  PeersData data = { 0 };

  if (!g_file_get_contents (path, &text, NULL, &local))
    {
      g_set_error (error, NB_DEVNET_STATE_ERROR,
                   g_error_matches (local, G_FILE_ERROR, G_FILE_ERROR_NOENT) ? NB_DEVNET_STATE_ERROR_NOT_INITIALISED
                                                                            : NB_DEVNET_STATE_ERROR_IO,
                   "cannot read %s: %s", path, local->message);
      return FALSE;
    }
  if (g_strcmp0 (text, self->peers_text) == 0)
    return TRUE;
  if (!peers_parse (path, text, &data, error))
    return FALSE;

  g_free (self->dns_domain);
  self->dns_domain = g_steal_pointer (&data.dns_domain);
  self->serial = data.serial;
  self->last_ip = data.last_ip;
  g_clear_pointer (&self->peers, g_hash_table_unref);
  self->peers = g_steal_pointer (&data.peers);
  g_ptr_array_sort (data.routes, route_compare);
  g_clear_pointer (&self->routes, g_ptr_array_unref);
  self->routes = g_steal_pointer (&data.routes);
  g_free (self->peers_text);
  self->peers_text = g_steal_pointer (&text);
  if (self->peers_loaded)
    {
      g_message ("peers file changed on disk: %u peer(s), serial %" G_GUINT64_FORMAT,
                 g_hash_table_size (self->peers), self->serial);
      schedule_changed (self);
    }
  self->peers_loaded = TRUE;
  return TRUE;
}

/* Takes the lock and reads `peers`; with @key, the peer must exist
 * (PEER_NOT_FOUND) and is returned in @out_peer (nullable). Returns the
 * lock for state_unlock(), or -1 with @error set and nothing held. */
static int
state_lock_loaded (NbDevnetState *self, const char *key, NbDevnetPeer **out_peer, GError **error)
{
  NbDevnetPeer *peer = NULL;
  int lock_fd = state_lock (self, error);

  if (lock_fd < 0)
    return -1;
  if (!peers_load (self, error))
    {
      state_unlock (lock_fd);
      return -1;
    }
  if (key != NULL && (peer = g_hash_table_lookup (self->peers, key)) == NULL)
    {
      state_unlock (lock_fd);
      g_set_error (error, NB_DEVNET_STATE_ERROR, NB_DEVNET_STATE_ERROR_PEER_NOT_FOUND,
                   "peer not found");
      return -1;
    }
  if (out_peer != NULL)
    *out_peer = peer;
  return lock_fd;
}

static gboolean
peers_save (NbDevnetState *self, GError **error)
{
  g_autofree char *path = state_path (self, PEERS_FILE);
  g_autofree char *text = peers_serialise (self);

  if (!write_file (path, text, strlen (text), 0600, error))
    return FALSE;
  g_free (self->peers_text);
  self->peers_text = g_steal_pointer (&text);
  self->peers_loaded = TRUE;
  return TRUE;
}

gboolean
nb_devnet_state_reload (NbDevnetState *self, GError **error)
{
  g_return_val_if_fail (NB_IS_DEVNET_STATE (self), FALSE);
  return peers_load (self, error);
}

/* ------------------------------------------------------------------------ */
/* setup-keys file */

static char *
setup_key_hash (const char *key)
{
  g_autofree char *upper = g_ascii_strup (key, -1);
  guint8 digest[crypto_hash_sha256_BYTES];
  char *b64;

  crypto_hash_sha256 (digest, (const guint8 *) upper, strlen (upper));
  sodium_memzero (upper, strlen (upper));
  b64 = g_base64_encode (digest, sizeof digest);
  return b64;
}

static GKeyFile *
setup_keys_load (NbDevnetState *self, GError **error)
{
  g_autofree char *path = state_path (self, SETUP_KEYS_FILE);
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  g_autoptr (GError) local = NULL;

  if (!g_key_file_load_from_file (kf, path, G_KEY_FILE_KEEP_COMMENTS, &local))
    {
      g_set_error (error, NB_DEVNET_STATE_ERROR,
                   g_error_matches (local, G_FILE_ERROR, G_FILE_ERROR_NOENT) ? NB_DEVNET_STATE_ERROR_NOT_INITIALISED
                                                                            : NB_DEVNET_STATE_ERROR_CORRUPT,
                   "cannot read %s: %s", path, local->message);
      return NULL;
    }
  return g_steal_pointer (&kf);
}

static gboolean
setup_keys_save (NbDevnetState *self, GKeyFile *kf, GError **error)
{
  g_autofree char *path = state_path (self, SETUP_KEYS_FILE);
  gsize len = 0;
  g_autofree char *text = g_key_file_to_data (kf, &len, NULL);

  return write_file (path, text, len, 0600, error);
}

static NbDevnetSetupKey *
setup_key_from_group (GKeyFile *kf, const char *group)
{
  NbDevnetSetupKey *key = g_new0 (NbDevnetSetupKey, 1);
  gint64 limit = kf_int64 (kf, group, "usage-limit");
  gint64 used = kf_int64 (kf, group, "used");

  key->id = g_strdup (group + strlen (KEY_GROUP_PREFIX));
  key->prefix = kf_string (kf, group, "prefix");
  key->name = kf_string (kf, group, "name");
  key->created = kf_int64 (kf, group, "created");
  key->expires = kf_int64 (kf, group, "expires");
  key->usage_limit = (guint) CLAMP (limit, 0, G_MAXUINT);
  key->used = (guint) CLAMP (used, 0, G_MAXUINT);
  key->revoked = g_key_file_get_boolean (kf, group, "revoked", NULL);
  return key;
}

static char *
new_setup_key_text (void)
{
  guint8 b[16];
  char *text;

  /* A version 4 UUID in upper case, as NetBird's GenerateSetupKey. */
  randombytes_buf (b, sizeof b);
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  text = g_strdup_printf ("%02X%02X%02X%02X-%02X%02X-%02X%02X-%02X%02X-%02X%02X%02X%02X%02X%02X",
                          b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11],
                          b[12], b[13], b[14], b[15]);
  sodium_memzero (b, sizeof b);
  return text;
}

static char *
add_setup_key_locked (NbDevnetState *self, GKeyFile *kf, const char *name, guint usage_limit,
                      gint64 expires_in_s)
{
  char *key = new_setup_key_text ();
  g_autofree char *hash = setup_key_hash (key);
  guint8 id_raw[6];
  g_autofree char *id = NULL;
  g_autofree char *group = NULL;
  g_autofree char *prefix = g_strndup (key, 5);
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;

  randombytes_buf (id_raw, sizeof id_raw);
  id = g_strdup_printf ("%02x%02x%02x%02x%02x%02x", id_raw[0], id_raw[1], id_raw[2], id_raw[3],
                        id_raw[4], id_raw[5]);
  group = g_strconcat (KEY_GROUP_PREFIX, id, NULL);
  g_key_file_set_string (kf, group, "hash", hash);
  g_key_file_set_string (kf, group, "prefix", prefix);
  g_key_file_set_string (kf, group, "name", name ? name : "");
  g_key_file_set_int64 (kf, group, "created", now);
  g_key_file_set_int64 (kf, group, "expires", expires_in_s > 0 ? now + expires_in_s : 0);
  g_key_file_set_uint64 (kf, group, "usage-limit", usage_limit);
  g_key_file_set_uint64 (kf, group, "used", 0);
  g_key_file_set_boolean (kf, group, "revoked", FALSE);
  return key;
}

/* ------------------------------------------------------------------------ */
/* GObject */

static void
nb_devnet_state_init (NbDevnetState *self)
{
  self->peers = peer_table_new ();
  self->routes = route_list_new ();
  self->dns_domain = g_strdup (NB_DEVNET_DEFAULT_DNS_DOMAIN);
}

static void
nb_devnet_state_dispose (GObject *object)
{
  NbDevnetState *self = NB_DEVNET_STATE (object);

  if (self->monitor)
    {
      g_signal_handlers_disconnect_by_data (self->monitor, self);
      g_file_monitor_cancel (self->monitor);
      g_clear_object (&self->monitor);
    }
  g_clear_handle_id (&self->reload_source, g_source_remove);
  g_clear_handle_id (&self->emit_source, g_source_remove);
  G_OBJECT_CLASS (nb_devnet_state_parent_class)->dispose (object);
}

static void
nb_devnet_state_finalize (GObject *object)
{
  NbDevnetState *self = NB_DEVNET_STATE (object);

  g_free (self->dir);
  g_clear_pointer (&self->server_private, nb_wg_key_free);
  nb_wg_key_clear (&self->server_public);
  g_clear_pointer (&self->relay_secret, g_bytes_unref);
  g_clear_pointer (&self->turn_secret, g_bytes_unref);
  g_free (self->dns_domain);
  g_clear_pointer (&self->peers, g_hash_table_unref);
  g_clear_pointer (&self->routes, g_ptr_array_unref);
  g_free (self->peers_text);
  G_OBJECT_CLASS (nb_devnet_state_parent_class)->finalize (object);
}

static void
nb_devnet_state_class_init (NbDevnetStateClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = nb_devnet_state_dispose;
  object_class->finalize = nb_devnet_state_finalize;

  signals[SIGNAL_PEERS_CHANGED] =
    g_signal_new ("peers-changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 1, G_TYPE_UINT64);
}

/* ------------------------------------------------------------------------ */
/* Open / init */

static gboolean
load_secrets (NbDevnetState *self, GError **error)
{
  g_autofree char *key_path = state_path (self, SERVER_KEY_FILE);
  g_autofree char *relay_path = state_path (self, RELAY_SECRET_FILE);
  g_autofree char *turn_path = state_path (self, TURN_SECRET_FILE);
  g_auto (NbWgKey) key = NB_WG_KEY_INIT;
  g_autoptr (GError) local = NULL;

  if (!nb_wg_key_load_private_file (key_path, &key, &local))
    {
      g_set_error (error, NB_DEVNET_STATE_ERROR,
                   g_error_matches (local, NB_WG_KEY_ERROR, NB_WG_KEY_ERROR_FILE_NOT_FOUND)
                     ? NB_DEVNET_STATE_ERROR_NOT_INITIALISED
                     : NB_DEVNET_STATE_ERROR_IO,
                   "%s: %s", key_path, local->message);
      return FALSE;
    }
  self->server_private = nb_wg_key_dup (&key);
  nb_wg_key_derive_public (&key, &self->server_public);
  self->relay_secret = read_secret_file (relay_path, error);
  if (self->relay_secret == NULL)
    return FALSE;
  self->turn_secret = read_secret_file (turn_path, error);
  if (self->turn_secret == NULL)
    return FALSE;
  return TRUE;
}

NbDevnetState *
nb_devnet_state_open (const char *dir, GError **error)
{
  g_autoptr (NbDevnetState) self = NULL;
  g_autoptr (GKeyFile) keys = NULL;

  g_return_val_if_fail (dir != NULL, NULL);

  nb_sodium_init ();
  self = g_object_new (NB_TYPE_DEVNET_STATE, NULL);
  self->dir = g_canonicalize_filename (dir, NULL);
  if (!g_file_test (self->dir, G_FILE_TEST_IS_DIR))
    {
      g_set_error (error, NB_DEVNET_STATE_ERROR, NB_DEVNET_STATE_ERROR_NOT_INITIALISED,
                   "%s is not a directory (create it with `init`)", self->dir);
      return NULL;
    }
  if (!load_secrets (self, error))
    return NULL;
  if (!peers_load (self, error))
    return NULL;
  keys = setup_keys_load (self, error);
  if (keys == NULL)
    return NULL;
  return g_steal_pointer (&self);
}

NbDevnetState *
nb_devnet_state_create (const char *dir, const char *dns_domain, char **out_setup_key, GError **error)
{
  g_autoptr (NbDevnetState) self = NULL;
  g_autofree char *key_path = NULL;
  g_autofree char *relay_path = NULL;
  g_autofree char *turn_path = NULL;
  g_autofree char *peers_path = NULL;
  g_autofree char *keys_path = NULL;
  g_autofree char *setup_key = NULL;
  g_autoptr (GKeyFile) keys = g_key_file_new ();
  g_auto (NbWgKey) key = NB_WG_KEY_INIT;
  g_autoptr (GError) local = NULL;
  int lock_fd;
  gboolean ok;

  g_return_val_if_fail (dir != NULL, NULL);
  g_return_val_if_fail (out_setup_key != NULL, NULL);

  nb_sodium_init ();
  self = g_object_new (NB_TYPE_DEVNET_STATE, NULL);
  self->dir = g_canonicalize_filename (dir, NULL);
  if (g_mkdir_with_parents (self->dir, 0700) != 0)
    {
      int saved = errno;

      g_set_error (error, NB_DEVNET_STATE_ERROR, NB_DEVNET_STATE_ERROR_IO,
                   "cannot create %s: %s", self->dir, g_strerror (saved));
      return NULL;
    }
  key_path = state_path (self, SERVER_KEY_FILE);
  relay_path = state_path (self, RELAY_SECRET_FILE);
  turn_path = state_path (self, TURN_SECRET_FILE);
  peers_path = state_path (self, PEERS_FILE);
  keys_path = state_path (self, SETUP_KEYS_FILE);

  lock_fd = state_lock (self, error);
  if (lock_fd < 0)
    return NULL;
  if (g_file_test (key_path, G_FILE_TEST_EXISTS) || g_file_test (peers_path, G_FILE_TEST_EXISTS)
      || g_file_test (keys_path, G_FILE_TEST_EXISTS))
    {
      state_unlock (lock_fd);
      g_set_error (error, NB_DEVNET_STATE_ERROR, NB_DEVNET_STATE_ERROR_ALREADY_INITIALISED,
                   "%s already holds devnet state", self->dir);
      return NULL;
    }

  nb_wg_key_generate_private (&key);
  ok = nb_wg_key_save_private_file (key_path, &key, &local);
  if (!ok)
    g_set_error (error, NB_DEVNET_STATE_ERROR, NB_DEVNET_STATE_ERROR_IO, "%s: %s", key_path, local->message);
  ok = ok && write_random_secret (relay_path, error) && write_random_secret (turn_path, error);
  if (ok)
    {
      g_free (self->dns_domain);
      self->dns_domain = g_strdup (dns_domain && *dns_domain ? dns_domain : NB_DEVNET_DEFAULT_DNS_DOMAIN);
      ok = peers_save (self, error);
    }
  if (ok)
    {
      g_key_file_set_comment (keys, NULL, NULL,
                              " netbird-devnet setup keys: hashes only (see devnet-state.h).", NULL);
      setup_key = add_setup_key_locked (self, keys, "default", 0, 0);
      ok = setup_keys_save (self, keys, error);
    }
  state_unlock (lock_fd);
  if (!ok || !load_secrets (self, error))
    {
      if (setup_key)
        sodium_memzero (setup_key, strlen (setup_key));
      return NULL;
    }
  *out_setup_key = g_steal_pointer (&setup_key);
  return g_steal_pointer (&self);
}

/* ------------------------------------------------------------------------ */
/* Accessors */

const char *
nb_devnet_state_get_dir (NbDevnetState *self)
{
  g_return_val_if_fail (NB_IS_DEVNET_STATE (self), NULL);
  return self->dir;
}

const NbWgKey *
nb_devnet_state_get_server_private_key (NbDevnetState *self)
{
  g_return_val_if_fail (NB_IS_DEVNET_STATE (self), NULL);
  return self->server_private;
}

const NbWgKey *
nb_devnet_state_get_server_public_key (NbDevnetState *self)
{
  g_return_val_if_fail (NB_IS_DEVNET_STATE (self), NULL);
  return &self->server_public;
}

GBytes *
nb_devnet_state_get_relay_secret (NbDevnetState *self)
{
  g_return_val_if_fail (NB_IS_DEVNET_STATE (self), NULL);
  return self->relay_secret;
}

GBytes *
nb_devnet_state_get_turn_secret (NbDevnetState *self)
{
  g_return_val_if_fail (NB_IS_DEVNET_STATE (self), NULL);
  return self->turn_secret;
}

gboolean
nb_devnet_state_get_turn_static (NbDevnetState *self, char **out_user, char **out_password,
                                 GError **error)
{
  g_autofree char *path = NULL;
  g_autoptr (GBytes) line = NULL;
  gsize len;
  const char *data;
  const char *colon;

  g_return_val_if_fail (NB_IS_DEVNET_STATE (self), FALSE);

  path = state_path (self, TURN_STATIC_FILE);
  line = read_secret_file (path, error);
  if (line == NULL)
    return FALSE;
  data = g_bytes_get_data (line, &len);
  colon = memchr (data, ':', len);
  if (colon == NULL || colon == data)
    {
      g_set_error (error, NB_DEVNET_STATE_ERROR, NB_DEVNET_STATE_ERROR_CORRUPT,
                   "%s must hold user:password", path);
      return FALSE;
    }
  *out_user = g_strndup (data, colon - data);
  *out_password = g_strndup (colon + 1, len - (colon + 1 - data));
  return TRUE;
}

gboolean
nb_devnet_state_set_turn_static (NbDevnetState *self, const char *user, const char *password,
                                 GError **error)
{
  g_autofree char *path = NULL;
  g_autofree char *line = NULL;
  gboolean ok;

  g_return_val_if_fail (NB_IS_DEVNET_STATE (self), FALSE);
  g_return_val_if_fail (user != NULL && password != NULL, FALSE);

  if (*user == '\0' || strchr (user, ':') || strpbrk (user, "\r\n") || strpbrk (password, "\r\n"))
    {
      g_set_error (error, NB_DEVNET_STATE_ERROR, NB_DEVNET_STATE_ERROR_INVALID_ARGUMENT,
                   "the TURN user must be non-empty without ':' and neither may hold a newline");
      return FALSE;
    }
  path = state_path (self, TURN_STATIC_FILE);
  line = g_strconcat (user, ":", password, "\n", NULL);
  ok = write_file (path, line, strlen (line), 0600, error);
  sodium_memzero (line, strlen (line));
  return ok;
}

const char *
nb_devnet_state_get_dns_domain (NbDevnetState *self)
{
  g_return_val_if_fail (NB_IS_DEVNET_STATE (self), NULL);
  return self->dns_domain;
}

guint64
nb_devnet_state_get_serial (NbDevnetState *self)
{
  g_return_val_if_fail (NB_IS_DEVNET_STATE (self), 0);
  return self->serial;
}

/* ------------------------------------------------------------------------ */
/* Setup keys */

char *
nb_devnet_state_add_setup_key (NbDevnetState *self, const char *name, guint usage_limit,
                               gint64 expires_in_s, GError **error)
{
  g_autoptr (GKeyFile) kf = NULL;
  g_autofree char *key = NULL;
  int lock_fd;
  gboolean ok;

  g_return_val_if_fail (NB_IS_DEVNET_STATE (self), NULL);

  lock_fd = state_lock (self, error);
  if (lock_fd < 0)
    return NULL;
  kf = setup_keys_load (self, error);
  if (kf == NULL)
    {
      state_unlock (lock_fd);
      return NULL;
    }
  key = add_setup_key_locked (self, kf, name, usage_limit, expires_in_s);
  ok = setup_keys_save (self, kf, error);
  state_unlock (lock_fd);
  if (!ok)
    {
      sodium_memzero (key, strlen (key));
      return NULL;
    }
  return g_steal_pointer (&key);
}

GPtrArray *
nb_devnet_state_list_setup_keys (NbDevnetState *self, GError **error)
{
  g_autoptr (GKeyFile) kf = NULL;
  g_auto (GStrv) groups = NULL;
  GPtrArray *list;

  g_return_val_if_fail (NB_IS_DEVNET_STATE (self), NULL);

  kf = setup_keys_load (self, error);
  if (kf == NULL)
    return NULL;
  list = g_ptr_array_new_with_free_func ((GDestroyNotify) nb_devnet_setup_key_free);
  groups = g_key_file_get_groups (kf, NULL);
  for (guint i = 0; groups[i] != NULL; i++)
    if (g_str_has_prefix (groups[i], KEY_GROUP_PREFIX))
      g_ptr_array_add (list, setup_key_from_group (kf, groups[i]));
  return list;
}

/* ------------------------------------------------------------------------ */
/* Peers */

const NbDevnetPeer *
nb_devnet_state_lookup_peer (NbDevnetState *self, const char *key)
{
  g_return_val_if_fail (NB_IS_DEVNET_STATE (self), NULL);
  if (key == NULL)
    return NULL;
  return g_hash_table_lookup (self->peers, key);
}

GPtrArray *
nb_devnet_state_list_peers (NbDevnetState *self)
{
  g_return_val_if_fail (NB_IS_DEVNET_STATE (self), NULL);
  return sorted_peers (self->peers);
}

guint
nb_devnet_state_get_n_peers (NbDevnetState *self)
{
  g_return_val_if_fail (NB_IS_DEVNET_STATE (self), 0);
  return g_hash_table_size (self->peers);
}

static gboolean
label_taken (NbDevnetState *self, const char *label)
{
  GHashTableIter iter;
  gpointer value;

  g_hash_table_iter_init (&iter, self->peers);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    if (g_strcmp0 (((NbDevnetPeer *) value)->dns_label, label) == 0)
      return TRUE;
  return FALSE;
}

static gboolean
ip_taken (NbDevnetState *self, guint32 ip)
{
  GHashTableIter iter;
  gpointer value;

  g_hash_table_iter_init (&iter, self->peers);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    if (((NbDevnetPeer *) value)->ip == ip)
      return TRUE;
  return FALSE;
}

/* The next free host offset after last_ip, wrapping once. */
static gboolean
allocate_ip (NbDevnetState *self, guint32 *out_offset)
{
  guint32 offset = self->last_ip;

  for (guint32 n = 0; n < LAST_HOST; n++)
    {
      offset = offset >= LAST_HOST ? FIRST_HOST : offset + 1;
      if (!ip_taken (self, NB_DEVNET_NETWORK_ADDR | offset))
        {
          *out_offset = offset;
          return TRUE;
        }
    }
  return FALSE;
}

static char *
unique_label (NbDevnetState *self, const char *hostname, guint32 ip)
{
  g_autofree char *base = nb_devnet_dns_label_from_hostname (hostname);
  char *label;

  if (!label_taken (self, base))
    return g_steal_pointer (&base);
  /* NetBird's second attempt: hostname-<3rd octet>-<4th octet>. */
  label = g_strdup_printf ("%s-%u-%u", base, (ip >> 8) & 0xff, ip & 0xff);
  for (guint n = 2; label_taken (self, label); n++)
    {
      g_free (label);
      label = g_strdup_printf ("%s-%u-%u-%u", base, (ip >> 8) & 0xff, ip & 0xff, n);
    }
  return label;
}

const NbDevnetPeer *
nb_devnet_state_register_peer (NbDevnetState *self, const char *key, const char *setup_key,
                               const NbDevnetPeerMeta *meta, GError **error)
{
  g_autoptr (GKeyFile) kf = NULL;
  g_autofree char *hash = NULL;
  g_autofree char *key_group = NULL;
  g_auto (GStrv) groups = NULL;
  g_autoptr (NbDevnetPeer) peer = NULL;
  NbDevnetPeer *stored;
  NbWgKey parsed;
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;
  guint32 offset;
  int lock_fd;
  guint64 used;

  g_return_val_if_fail (NB_IS_DEVNET_STATE (self), NULL);
  g_return_val_if_fail (key != NULL && setup_key != NULL && meta != NULL, NULL);

  if (!nb_wg_key_from_base64 (key, &parsed, NULL))
    {
      g_set_error (error, NB_DEVNET_STATE_ERROR, NB_DEVNET_STATE_ERROR_INVALID_ARGUMENT,
                   "not a WireGuard public key");
      return NULL;
    }

  lock_fd = state_lock (self, error);
  if (lock_fd < 0)
    return NULL;
  if (!peers_load (self, error) || (kf = setup_keys_load (self, error)) == NULL)
    {
      state_unlock (lock_fd);
      return NULL;
    }
  if (g_hash_table_contains (self->peers, key))
    {
      state_unlock (lock_fd);
      g_set_error (error, NB_DEVNET_STATE_ERROR, NB_DEVNET_STATE_ERROR_PEER_EXISTS,
                   "peer has been already registered");
      return NULL;
    }

  hash = setup_key_hash (setup_key);
  groups = g_key_file_get_groups (kf, NULL);
  for (guint i = 0; groups[i] != NULL && key_group == NULL; i++)
    {
      g_autofree char *h = NULL;

      if (!g_str_has_prefix (groups[i], KEY_GROUP_PREFIX))
        continue;
      h = g_key_file_get_string (kf, groups[i], "hash", NULL);
      if (h != NULL && strlen (h) == strlen (hash) && sodium_memcmp (h, hash, strlen (hash)) == 0)
        key_group = g_strdup (groups[i]);
    }
  if (key_group != NULL)
    {
      g_autoptr (NbDevnetSetupKey) sk = setup_key_from_group (kf, key_group);

      if (!nb_devnet_setup_key_is_valid (sk, now))
        {
          g_message ("registration of %s refused: setup key %s is %s", key, sk->id,
                     sk->revoked ? "revoked" : (sk->expires != 0 && now > sk->expires) ? "expired" : "used up");
          g_clear_pointer (&key_group, g_free);
        }
    }
  if (key_group == NULL)
    {
      state_unlock (lock_fd);
      g_set_error (error, NB_DEVNET_STATE_ERROR, NB_DEVNET_STATE_ERROR_SETUP_KEY_INVALID,
                   "couldn't add peer: setup key is invalid");
      return NULL;
    }
  if (!allocate_ip (self, &offset))
    {
      state_unlock (lock_fd);
      g_set_error (error, NB_DEVNET_STATE_ERROR, NB_DEVNET_STATE_ERROR_NETWORK_FULL,
                   "no free address left in %s", NB_DEVNET_NETWORK_CIDR);
      return NULL;
    }

  peer = g_new0 (NbDevnetPeer, 1);
  peer->key = g_strdup (key);
  peer->ip = NB_DEVNET_NETWORK_ADDR | offset;
  peer->dns_label = unique_label (self, meta->hostname, peer->ip);
  peer->setup_key_id = g_strdup (key_group + strlen (KEY_GROUP_PREFIX));
  peer->created = now;
  peer->last_login = now;
  peer->meta = nb_devnet_peer_meta_copy (meta);

  used = g_key_file_get_uint64 (kf, key_group, "used", NULL);
  g_key_file_set_uint64 (kf, key_group, "used", used + 1);
  g_key_file_set_int64 (kf, key_group, "last-used", now);
  if (!setup_keys_save (self, kf, error))
    {
      state_unlock (lock_fd);
      return NULL;
    }

  stored = g_steal_pointer (&peer);
  g_hash_table_replace (self->peers, stored->key, stored);
  self->last_ip = offset;
  self->serial++;
  if (!peers_save (self, error))
    {
      /* Back to what is on disk. */
      g_hash_table_remove (self->peers, key);
      self->serial--;
      state_unlock (lock_fd);
      return NULL;
    }
  state_unlock (lock_fd);
  schedule_changed (self);
  return stored;
}

static gboolean
visible_meta_differs (const NbDevnetPeerMeta *a, const NbDevnetPeerMeta *b)
{
  return g_strcmp0 (a->netbird_version, b->netbird_version) != 0
         || g_strcmp0 (a->ssh_pubkey_b64, b->ssh_pubkey_b64) != 0;
}

static gboolean
meta_differs (const NbDevnetPeerMeta *a, const NbDevnetPeerMeta *b)
{
  return visible_meta_differs (a, b) || g_strcmp0 (a->hostname, b->hostname) != 0
         || g_strcmp0 (a->go_os, b->go_os) != 0 || g_strcmp0 (a->kernel, b->kernel) != 0
         || g_strcmp0 (a->core, b->core) != 0 || g_strcmp0 (a->platform, b->platform) != 0
         || g_strcmp0 (a->os, b->os) != 0 || g_strcmp0 (a->os_version, b->os_version) != 0
         || g_strcmp0 (a->kernel_version, b->kernel_version) != 0
         || g_strcmp0 (a->ui_version, b->ui_version) != 0;
}

gboolean
nb_devnet_state_update_peer (NbDevnetState *self, const char *key, const NbDevnetPeerMeta *meta,
                             gboolean login, gboolean *out_visible_change, GError **error)
{
  NbDevnetPeer *peer;
  gboolean visible;
  int lock_fd;

  g_return_val_if_fail (NB_IS_DEVNET_STATE (self), FALSE);
  g_return_val_if_fail (key != NULL && meta != NULL, FALSE);

  if (out_visible_change)
    *out_visible_change = FALSE;
  lock_fd = state_lock_loaded (self, key, &peer, error);
  if (lock_fd < 0)
    return FALSE;
  if (!meta_differs (peer->meta, meta) && !login)
    {
      state_unlock (lock_fd);
      return TRUE;
    }
  visible = visible_meta_differs (peer->meta, meta);
  nb_devnet_peer_meta_free (peer->meta);
  peer->meta = nb_devnet_peer_meta_copy (meta);
  if (login)
    peer->last_login = g_get_real_time () / G_USEC_PER_SEC;
  if (visible)
    self->serial++;
  if (!peers_save (self, error))
    {
      /* Forget the in-memory edit: read the file again on the next change. */
      g_clear_pointer (&self->peers_text, g_free);
      state_unlock (lock_fd);
      return FALSE;
    }
  state_unlock (lock_fd);
  if (visible)
    schedule_changed (self);
  if (out_visible_change)
    *out_visible_change = visible;
  return TRUE;
}

gboolean
nb_devnet_state_remove_peer (NbDevnetState *self, const char *key, GError **error)
{
  int lock_fd;
  gboolean ok;

  g_return_val_if_fail (NB_IS_DEVNET_STATE (self), FALSE);
  g_return_val_if_fail (key != NULL, FALSE);

  lock_fd = state_lock_loaded (self, key, NULL, error);
  if (lock_fd < 0)
    return FALSE;
  g_hash_table_remove (self->peers, key);
  for (guint i = self->routes->len; i > 0; i--)
    if (g_strcmp0 (((NbDevnetRoute *) self->routes->pdata[i - 1])->peer, key) == 0)
      g_ptr_array_remove_index (self->routes, i - 1);
  self->serial++;
  ok = peers_save (self, error);
  if (!ok)
    g_clear_pointer (&self->peers_text, g_free);
  state_unlock (lock_fd);
  if (ok)
    schedule_changed (self);
  return ok;
}

const NbDevnetPeer *
nb_devnet_state_find_peer (NbDevnetState *self, const char *name)
{
  GHashTableIter iter;
  gpointer value;
  const NbDevnetPeer *peer;

  g_return_val_if_fail (NB_IS_DEVNET_STATE (self), NULL);
  if (name == NULL)
    return NULL;
  peer = g_hash_table_lookup (self->peers, name);
  if (peer != NULL)
    return peer;
  g_hash_table_iter_init (&iter, self->peers);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      const NbDevnetPeer *p = value;
      g_autofree char *fqdn = g_strconcat (p->dns_label, ".", self->dns_domain, NULL);

      if (g_ascii_strcasecmp (p->dns_label, name) == 0 || g_ascii_strcasecmp (fqdn, name) == 0)
        return p;
    }
  return NULL;
}

/* ------------------------------------------------------------------------ */
/* Routes */

GPtrArray *
nb_devnet_state_list_routes (NbDevnetState *self)
{
  GPtrArray *list;

  g_return_val_if_fail (NB_IS_DEVNET_STATE (self), NULL);
  list = g_ptr_array_new ();
  for (guint i = 0; i < self->routes->len; i++)
    g_ptr_array_add (list, self->routes->pdata[i]);
  return list;
}

const NbDevnetRoute *
nb_devnet_state_add_route (NbDevnetState *self, const char *key, const char *network, gint64 metric,
                           gboolean masquerade, const char *net_id, gboolean skip_auto_apply, GError **error)
{
  g_autofree char *canonical = NULL;
  NbDevnetRoute *route = NULL;
  gboolean added = FALSE;
  int lock_fd;

  g_return_val_if_fail (NB_IS_DEVNET_STATE (self), NULL);
  g_return_val_if_fail (key != NULL && network != NULL, NULL);

  canonical = nb_devnet_cidr_normalize (network);
  if (canonical == NULL)
    {
      g_set_error (error, NB_DEVNET_STATE_ERROR, NB_DEVNET_STATE_ERROR_INVALID_ARGUMENT,
                   "\"%s\" is not a CIDR network", network);
      return NULL;
    }
  if (net_id != NULL && !nb_devnet_route_net_id_is_valid (net_id, error))
    return NULL;
  lock_fd = state_lock_loaded (self, key, NULL, error);
  if (lock_fd < 0)
    return NULL;
  for (guint i = 0; i < self->routes->len && route == NULL; i++)
    {
      NbDevnetRoute *r = self->routes->pdata[i];

      if (strcmp (r->network, canonical) == 0 && strcmp (r->peer, key) == 0)
        route = r;
    }
  if (route == NULL)
    {
      guint8 id_raw[6];

      randombytes_buf (id_raw, sizeof id_raw);
      route = g_new0 (NbDevnetRoute, 1);
      route->id = g_strdup_printf ("%02x%02x%02x%02x%02x%02x", id_raw[0], id_raw[1], id_raw[2], id_raw[3],
                                   id_raw[4], id_raw[5]);
      route->network = g_strdup (canonical);
      route->peer = g_strdup (key);
      g_ptr_array_add (self->routes, route);
      g_ptr_array_sort (self->routes, route_compare);
      added = TRUE;
    }
  route->metric = metric;
  route->masquerade = masquerade;
  g_free (route->net_id);
  route->net_id = g_strdup (net_id != NULL ? net_id : canonical);
  route->skip_auto_apply = skip_auto_apply;
  self->serial++;
  if (!peers_save (self, error))
    {
      /* Read the file again on the next change. */
      if (added)
        g_ptr_array_remove (self->routes, route);
      self->serial--;
      g_clear_pointer (&self->peers_text, g_free);
      state_unlock (lock_fd);
      return NULL;
    }
  state_unlock (lock_fd);
  schedule_changed (self);
  return route;
}

gboolean
nb_devnet_state_remove_routes (NbDevnetState *self, const char *network, guint *out_n_removed, GError **error)
{
  g_autofree char *canonical = NULL;
  guint n = 0;
  int lock_fd;
  gboolean ok;

  g_return_val_if_fail (NB_IS_DEVNET_STATE (self), FALSE);
  g_return_val_if_fail (network != NULL, FALSE);

  if (out_n_removed)
    *out_n_removed = 0;
  canonical = nb_devnet_cidr_normalize (network);
  if (canonical == NULL)
    {
      g_set_error (error, NB_DEVNET_STATE_ERROR, NB_DEVNET_STATE_ERROR_INVALID_ARGUMENT,
                   "\"%s\" is not a CIDR network", network);
      return FALSE;
    }
  lock_fd = state_lock_loaded (self, NULL, NULL, error);
  if (lock_fd < 0)
    return FALSE;
  for (guint i = self->routes->len; i > 0; i--)
    if (strcmp (((NbDevnetRoute *) self->routes->pdata[i - 1])->network, canonical) == 0)
      {
        g_ptr_array_remove_index (self->routes, i - 1);
        n++;
      }
  if (n == 0)
    {
      state_unlock (lock_fd);
      g_set_error (error, NB_DEVNET_STATE_ERROR, NB_DEVNET_STATE_ERROR_ROUTE_NOT_FOUND,
                   "no route for %s", canonical);
      return FALSE;
    }
  self->serial++;
  ok = peers_save (self, error);
  if (!ok)
    g_clear_pointer (&self->peers_text, g_free);
  state_unlock (lock_fd);
  if (ok)
    schedule_changed (self);
  if (ok && out_n_removed)
    *out_n_removed = n;
  return ok;
}

/* ------------------------------------------------------------------------ */
/* Watching */

static gboolean
reload_cb (gpointer data)
{
  NbDevnetState *self = data;
  g_autoptr (GError) error = NULL;

  self->reload_source = 0;
  if (!peers_load (self, &error))
    g_warning ("cannot re-read the peers file: %s", error->message);
  return G_SOURCE_REMOVE;
}

static void
monitor_changed_cb (GFileMonitor *monitor, GFile *file, GFile *other, GFileMonitorEvent event,
                    gpointer data)
{
  NbDevnetState *self = data;

  /* Any event (rename over it, change, creation): re-read shortly. Our own
   * writes come back here too and are recognised by their content. */
  if (self->reload_source == 0)
    self->reload_source = g_timeout_add (RELOAD_DELAY_MS, reload_cb, self);
}

gboolean
nb_devnet_state_watch (NbDevnetState *self, GError **error)
{
  g_autofree char *path = NULL;
  g_autoptr (GFile) file = NULL;
  g_autoptr (GError) local = NULL;

  g_return_val_if_fail (NB_IS_DEVNET_STATE (self), FALSE);

  if (self->monitor != NULL)
    return TRUE;
  path = state_path (self, PEERS_FILE);
  file = g_file_new_for_path (path);
  self->monitor = g_file_monitor_file (file, G_FILE_MONITOR_WATCH_MOVES, NULL, &local);
  if (self->monitor == NULL)
    {
      g_set_error (error, NB_DEVNET_STATE_ERROR, NB_DEVNET_STATE_ERROR_IO,
                   "cannot watch %s: %s", path, local->message);
      return FALSE;
    }
  g_signal_connect (self->monitor, "changed", G_CALLBACK (monitor_changed_cb), self);
  return TRUE;
}
