/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Management's LoginResponse / SyncResponse -> NbNetworkMap, and applying
 * updates; see network-map.h.
 *
 * Messages are decoded with protobuf-c through an allocator that wipes every
 * block it frees, because a decoded NetbirdConfig holds TURN passwords and
 * relay tokens. Every string taken from the message is copied; text that
 * only gets displayed (fqdn, versions, names) is made valid UTF-8, while
 * keys, CIDRs and URIs are validated strictly and their entry is dropped
 * when they are wrong.
 */
#define G_LOG_DOMAIN "nb-netmap"

#include "config.h"

#include "network-map.h"

#include <string.h>

#include <gio/gio.h>
#include <sodium.h>

#include "management.pb-c.h"
#include "wg-key.h"

G_DEFINE_QUARK (nb-network-map-error-quark, nb_network_map_error)

/* ---- A protobuf-c allocator that wipes what it frees --------------------- */

/* Each block is preceded by its size; 16 bytes keep malloc's alignment. */
#define WIPE_HEADER 16

static void *
wipe_alloc (void *allocator_data, size_t size)
{
  guint8 *block;

  if (size > G_MAXSIZE - WIPE_HEADER)
    return NULL;
  block = g_try_malloc (size + WIPE_HEADER);
  if (block == NULL)
    return NULL;
  memcpy (block, &size, sizeof size);
  return block + WIPE_HEADER;
}

static void
wipe_free (void *allocator_data, void *pointer)
{
  guint8 *block;
  size_t size;

  if (pointer == NULL)
    return;
  block = (guint8 *) pointer - WIPE_HEADER;
  memcpy (&size, block, sizeof size);
  sodium_memzero (block, size + WIPE_HEADER);
  g_free (block);
}

static ProtobufCAllocator wiping_allocator = {
  .alloc = wipe_alloc,
  .free = wipe_free,
  .allocator_data = NULL,
};

/* ---- Small helpers ------------------------------------------------------- */

static void
secret_free (char *secret)
{
  if (secret == NULL)
    return;
  sodium_memzero (secret, strlen (secret));
  g_free (secret);
}

/* Display text: never NULL, always valid UTF-8. */
static char *
text_dup (const char *text)
{
  if (text == NULL)
    return g_strdup ("");
  return g_utf8_make_valid (text, -1);
}

static char **
strv_new_empty (void)
{
  return g_new0 (char *, 1);
}

static char **
strv_dup (const char *const *strv)
{
  return strv ? g_strdupv ((char **) strv) : strv_new_empty ();
}

static gboolean
str_equal (const char *a, const char *b)
{
  return g_strcmp0 (a, b) == 0;
}

static gboolean
strv_equal (const char *const *a, const char *const *b)
{
  if (a == NULL || b == NULL)
    return (a == NULL || !*a) && (b == NULL || !*b);
  return g_strv_equal (a, b);
}

static int
strcmp_ptr (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

/* Order-insensitive comparison (for allowed IPs). */
static gboolean
strv_set_equal (const char *const *a, const char *const *b)
{
  guint na = a ? g_strv_length ((char **) a) : 0;
  guint nb = b ? g_strv_length ((char **) b) : 0;
  g_autofree const char **sa = NULL;
  g_autofree const char **sb = NULL;

  if (na != nb)
    return FALSE;
  if (na == 0)
    return TRUE;
  sa = g_memdup2 (a, sizeof (char *) * na);
  sb = g_memdup2 (b, sizeof (char *) * nb);
  qsort (sa, na, sizeof (char *), strcmp_ptr);
  qsort (sb, nb, sizeof (char *), strcmp_ptr);
  for (guint i = 0; i < na; i++)
    if (strcmp (sa[i], sb[i]) != 0)
      return FALSE;
  return TRUE;
}

typedef gpointer (*ValueCopyFunc) (gconstpointer value);
typedef gboolean (*ValueEqualFunc) (gconstpointer a, gconstpointer b);

static GPtrArray *
ptr_array_copy (const GPtrArray *src, ValueCopyFunc copy, GDestroyNotify free_func)
{
  GPtrArray *dst = g_ptr_array_new_full (src ? src->len : 0, free_func);

  for (guint i = 0; src && i < src->len; i++)
    g_ptr_array_add (dst, copy (g_ptr_array_index (src, i)));
  return dst;
}

/* NULL equals an empty array. */
static gboolean
ptr_array_equal (const GPtrArray *a, const GPtrArray *b, ValueEqualFunc equal)
{
  guint na = a ? a->len : 0;
  guint nb = b ? b->len : 0;

  if (na != nb)
    return FALSE;
  for (guint i = 0; i < na; i++)
    if (!equal (g_ptr_array_index (a, i), g_ptr_array_index (b, i)))
      return FALSE;
  return TRUE;
}

static gboolean
is_canonical_key (const char *text)
{
  g_auto (NbWgKey) key = NB_WG_KEY_INIT;

  if (text == NULL || !nb_wg_key_from_base64 (text, &key, NULL))
    return FALSE;
  return !nb_wg_key_is_zero (&key);
}

/* "addr/len" in canonical form, or NULL when @text is not a CIDR. */
static char *
cidr_normalize (const char *text)
{
  const char *slash;
  const char *p;
  g_autofree char *addr_text = NULL;
  g_autoptr (GInetAddress) addr = NULL;
  g_autofree char *canonical = NULL;
  guint prefix = 0;
  guint max;

  if (text == NULL || *text == '\0')
    return NULL;
  slash = strchr (text, '/');
  if (slash == NULL || slash == text)
    return NULL;
  p = slash + 1;
  if (*p == '\0' || strlen (p) > 3 || (p[0] == '0' && p[1] != '\0'))
    return NULL;
  for (; *p; p++)
    {
      if (!g_ascii_isdigit (*p))
        return NULL;
      prefix = prefix * 10 + (guint) (*p - '0');
    }
  addr_text = g_strndup (text, slash - text);
  if (strchr (addr_text, '%') != NULL)
    return NULL;
  addr = g_inet_address_new_from_string (addr_text);
  if (addr == NULL)
    return NULL;
  max = g_inet_address_get_family (addr) == G_SOCKET_FAMILY_IPV4 ? 32 : 128;
  if (prefix > max)
    return NULL;
  canonical = g_inet_address_to_string (addr);
  return g_strdup_printf ("%s/%u", canonical, prefix);
}

gboolean
nb_cidr_is_valid (const char *text)
{
  g_autofree char *normalized = cidr_normalize (text);

  return normalized != NULL;
}

static gboolean
is_ip_address (const char *text)
{
  g_autoptr (GInetAddress) addr = NULL;

  if (text == NULL || *text == '\0' || strchr (text, '%') != NULL)
    return FALSE;
  addr = g_inet_address_new_from_string (text);
  return addr != NULL;
}

/* Non-empty, valid UTF-8, printable ASCII without spaces. */
static gboolean
is_token_text (const char *text)
{
  if (text == NULL || *text == '\0')
    return FALSE;
  for (const char *p = text; *p; p++)
    if ((guchar) *p <= 0x20 || (guchar) *p >= 0x7f)
      return FALSE;
  return TRUE;
}

/* @text starts with one of @schemes (case-insensitive) and has more after
 * it. */
static gboolean
has_scheme (const char *text, const char *const *schemes)
{
  for (; *schemes; schemes++)
    {
      gsize n = strlen (*schemes);

      if (g_ascii_strncasecmp (text, *schemes, n) == 0 && text[n] != '\0')
        return TRUE;
    }
  return FALSE;
}

/* ---- NbHostConfig / NbTurnConfig / NbRelayConfig / NbNetbirdConfig ------ */

const char *
nb_host_protocol_to_string (NbHostProtocol protocol)
{
  switch (protocol)
    {
    case NB_HOST_PROTOCOL_UDP: return "udp";
    case NB_HOST_PROTOCOL_TCP: return "tcp";
    case NB_HOST_PROTOCOL_HTTP: return "http";
    case NB_HOST_PROTOCOL_HTTPS: return "https";
    case NB_HOST_PROTOCOL_DTLS: return "dtls";
    default: return "unknown";
    }
}

NbHostConfig *
nb_host_config_new (const char *uri, NbHostProtocol protocol)
{
  NbHostConfig *host = g_new0 (NbHostConfig, 1);

  host->uri = g_strdup (uri ? uri : "");
  host->protocol = protocol;
  return host;
}

NbHostConfig *
nb_host_config_copy (const NbHostConfig *host)
{
  return host ? nb_host_config_new (host->uri, host->protocol) : NULL;
}

void
nb_host_config_free (NbHostConfig *host)
{
  if (host == NULL)
    return;
  g_free (host->uri);
  g_free (host);
}

gboolean
nb_host_config_equal (const NbHostConfig *a, const NbHostConfig *b)
{
  if (a == NULL || b == NULL)
    return a == b;
  return str_equal (a->uri, b->uri) && a->protocol == b->protocol;
}

NbTurnConfig *
nb_turn_config_copy (const NbTurnConfig *turn)
{
  NbTurnConfig *copy;

  if (turn == NULL)
    return NULL;
  copy = g_new0 (NbTurnConfig, 1);
  copy->uri = g_strdup (turn->uri);
  copy->protocol = turn->protocol;
  copy->user = g_strdup (turn->user);
  copy->password = g_strdup (turn->password);
  return copy;
}

void
nb_turn_config_wipe (NbTurnConfig *turn)
{
  if (turn != NULL && turn->password != NULL)
    sodium_memzero (turn->password, strlen (turn->password));
}

void
nb_turn_config_free (NbTurnConfig *turn)
{
  if (turn == NULL)
    return;
  g_free (turn->uri);
  g_free (turn->user);
  secret_free (turn->password);
  g_free (turn);
}

gboolean
nb_turn_config_equal (const NbTurnConfig *a, const NbTurnConfig *b)
{
  if (a == NULL || b == NULL)
    return a == b;
  return str_equal (a->uri, b->uri) && a->protocol == b->protocol &&
         str_equal (a->user, b->user) && str_equal (a->password, b->password);
}

NbRelayConfig *
nb_relay_config_copy (const NbRelayConfig *relay)
{
  NbRelayConfig *copy;

  if (relay == NULL)
    return NULL;
  copy = g_new0 (NbRelayConfig, 1);
  copy->urls = strv_dup ((const char *const *) relay->urls);
  copy->token_payload = g_strdup (relay->token_payload);
  copy->token_signature = g_strdup (relay->token_signature);
  return copy;
}

void
nb_relay_config_free (NbRelayConfig *relay)
{
  if (relay == NULL)
    return;
  g_strfreev (relay->urls);
  secret_free (relay->token_payload);
  secret_free (relay->token_signature);
  g_free (relay);
}

gboolean
nb_relay_config_equal (const NbRelayConfig *a, const NbRelayConfig *b)
{
  if (a == NULL || b == NULL)
    return a == b;
  return strv_equal ((const char *const *) a->urls, (const char *const *) b->urls) &&
         str_equal (a->token_payload, b->token_payload) &&
         str_equal (a->token_signature, b->token_signature);
}

NbNetbirdConfig *
nb_netbird_config_new (void)
{
  NbNetbirdConfig *config = g_new0 (NbNetbirdConfig, 1);

  config->stuns = g_ptr_array_new_with_free_func ((GDestroyNotify) nb_host_config_free);
  config->turns = g_ptr_array_new_with_free_func ((GDestroyNotify) nb_turn_config_free);
  return config;
}

NbNetbirdConfig *
nb_netbird_config_copy (const NbNetbirdConfig *config)
{
  NbNetbirdConfig *copy;

  if (config == NULL)
    return NULL;
  copy = g_new0 (NbNetbirdConfig, 1);
  copy->stuns = ptr_array_copy (config->stuns, (ValueCopyFunc) nb_host_config_copy,
                                (GDestroyNotify) nb_host_config_free);
  copy->turns = ptr_array_copy (config->turns, (ValueCopyFunc) nb_turn_config_copy,
                                (GDestroyNotify) nb_turn_config_free);
  copy->signal = nb_host_config_copy (config->signal);
  copy->relay = nb_relay_config_copy (config->relay);
  return copy;
}

void
nb_netbird_config_free (NbNetbirdConfig *config)
{
  if (config == NULL)
    return;
  g_clear_pointer (&config->stuns, g_ptr_array_unref);
  g_clear_pointer (&config->turns, g_ptr_array_unref);
  nb_host_config_free (config->signal);
  nb_relay_config_free (config->relay);
  g_free (config);
}

gboolean
nb_netbird_config_equal (const NbNetbirdConfig *a, const NbNetbirdConfig *b)
{
  if (a == NULL || b == NULL)
    return a == b;
  return ptr_array_equal (a->stuns, b->stuns, (ValueEqualFunc) nb_host_config_equal) &&
         ptr_array_equal (a->turns, b->turns, (ValueEqualFunc) nb_turn_config_equal) &&
         nb_host_config_equal (a->signal, b->signal) &&
         nb_relay_config_equal (a->relay, b->relay);
}

/* ---- NbPeerConfig / NbRemotePeer ---------------------------------------- */

NbPeerConfig *
nb_peer_config_copy (const NbPeerConfig *own)
{
  NbPeerConfig *copy;

  if (own == NULL)
    return NULL;
  copy = g_new0 (NbPeerConfig, 1);
  *copy = *own;
  copy->address = g_strdup (own->address);
  copy->address_v6 = g_strdup (own->address_v6);
  copy->fqdn = g_strdup (own->fqdn);
  copy->dns_domain = g_strdup (own->dns_domain);
  return copy;
}

void
nb_peer_config_free (NbPeerConfig *own)
{
  if (own == NULL)
    return;
  g_free (own->address);
  g_free (own->address_v6);
  g_free (own->fqdn);
  g_free (own->dns_domain);
  g_free (own);
}

gboolean
nb_peer_config_equal (const NbPeerConfig *a, const NbPeerConfig *b)
{
  if (a == NULL || b == NULL)
    return a == b;
  return str_equal (a->address, b->address) && str_equal (a->address_v6, b->address_v6) &&
         str_equal (a->fqdn, b->fqdn) && str_equal (a->dns_domain, b->dns_domain) &&
         a->mtu == b->mtu && a->ssh_enabled == b->ssh_enabled &&
         a->routing_peer_dns_resolution == b->routing_peer_dns_resolution &&
         a->lazy_connection == b->lazy_connection;
}

NbRemotePeer *
nb_remote_peer_new (const char *key, const char *const *allowed_ips,
                    const char *fqdn, const char *agent_version)
{
  NbRemotePeer *peer = g_new0 (NbRemotePeer, 1);

  peer->key = g_strdup (key ? key : "");
  peer->allowed_ips = strv_dup (allowed_ips);
  peer->fqdn = g_strdup (fqdn ? fqdn : "");
  peer->agent_version = g_strdup (agent_version ? agent_version : "");
  return peer;
}

NbRemotePeer *
nb_remote_peer_copy (const NbRemotePeer *peer)
{
  if (peer == NULL)
    return NULL;
  return nb_remote_peer_new (peer->key, (const char *const *) peer->allowed_ips,
                             peer->fqdn, peer->agent_version);
}

void
nb_remote_peer_free (NbRemotePeer *peer)
{
  if (peer == NULL)
    return;
  g_free (peer->key);
  g_strfreev (peer->allowed_ips);
  g_free (peer->fqdn);
  g_free (peer->agent_version);
  g_free (peer);
}

gboolean
nb_remote_peer_equal (const NbRemotePeer *a, const NbRemotePeer *b)
{
  if (a == NULL || b == NULL)
    return a == b;
  return str_equal (a->key, b->key) &&
         strv_set_equal ((const char *const *) a->allowed_ips,
                         (const char *const *) b->allowed_ips) &&
         str_equal (a->fqdn, b->fqdn) && str_equal (a->agent_version, b->agent_version);
}

/* Changed in the sense of peers-changed: allowed IPs or fqdn. */
static gboolean
remote_peer_connection_changed (const NbRemotePeer *a, const NbRemotePeer *b)
{
  return !strv_set_equal ((const char *const *) a->allowed_ips,
                          (const char *const *) b->allowed_ips) ||
         !str_equal (a->fqdn, b->fqdn);
}

/* ---- NbRoute / DNS -------------------------------------------------------- */

NbRoute *
nb_route_copy (const NbRoute *route)
{
  NbRoute *copy;

  if (route == NULL)
    return NULL;
  copy = g_new0 (NbRoute, 1);
  *copy = *route;
  copy->id = g_strdup (route->id);
  copy->network = g_strdup (route->network);
  copy->domains = strv_dup ((const char *const *) route->domains);
  copy->peer = g_strdup (route->peer);
  copy->net_id = g_strdup (route->net_id);
  return copy;
}

void
nb_route_free (NbRoute *route)
{
  if (route == NULL)
    return;
  g_free (route->id);
  g_free (route->network);
  g_strfreev (route->domains);
  g_free (route->peer);
  g_free (route->net_id);
  g_free (route);
}

static gboolean
route_equal (const NbRoute *a, const NbRoute *b)
{
  return str_equal (a->id, b->id) && str_equal (a->network, b->network) &&
         strv_equal ((const char *const *) a->domains, (const char *const *) b->domains) &&
         str_equal (a->peer, b->peer) && a->network_type == b->network_type &&
         a->metric == b->metric && a->masquerade == b->masquerade &&
         str_equal (a->net_id, b->net_id) && a->keep_route == b->keep_route &&
         a->skip_auto_apply == b->skip_auto_apply;
}

static NbNameServer *
name_server_copy (const NbNameServer *ns)
{
  NbNameServer *copy = g_new0 (NbNameServer, 1);

  *copy = *ns;
  copy->ip = g_strdup (ns->ip);
  return copy;
}

static void
name_server_free (NbNameServer *ns)
{
  g_free (ns->ip);
  g_free (ns);
}

static gboolean
name_server_equal (const NbNameServer *a, const NbNameServer *b)
{
  return str_equal (a->ip, b->ip) && a->type == b->type && a->port == b->port;
}

static NbNameServerGroup *
name_server_group_new (void)
{
  NbNameServerGroup *group = g_new0 (NbNameServerGroup, 1);

  group->nameservers = g_ptr_array_new_with_free_func ((GDestroyNotify) name_server_free);
  return group;
}

static NbNameServerGroup *
name_server_group_copy (const NbNameServerGroup *group)
{
  NbNameServerGroup *copy = g_new0 (NbNameServerGroup, 1);

  copy->nameservers = ptr_array_copy (group->nameservers, (ValueCopyFunc) name_server_copy,
                                      (GDestroyNotify) name_server_free);
  copy->primary = group->primary;
  copy->domains = strv_dup ((const char *const *) group->domains);
  copy->search_domains_enabled = group->search_domains_enabled;
  return copy;
}

static void
name_server_group_free (NbNameServerGroup *group)
{
  g_ptr_array_unref (group->nameservers);
  g_strfreev (group->domains);
  g_free (group);
}

static gboolean
name_server_group_equal (const NbNameServerGroup *a, const NbNameServerGroup *b)
{
  return ptr_array_equal (a->nameservers, b->nameservers, (ValueEqualFunc) name_server_equal) &&
         a->primary == b->primary &&
         strv_equal ((const char *const *) a->domains, (const char *const *) b->domains) &&
         a->search_domains_enabled == b->search_domains_enabled;
}

static NbDnsRecord *
dns_record_copy (const NbDnsRecord *record)
{
  NbDnsRecord *copy = g_new0 (NbDnsRecord, 1);

  *copy = *record;
  copy->name = g_strdup (record->name);
  copy->record_class = g_strdup (record->record_class);
  copy->rdata = g_strdup (record->rdata);
  return copy;
}

void
nb_dns_record_free (NbDnsRecord *record)
{
  g_free (record->name);
  g_free (record->record_class);
  g_free (record->rdata);
  g_free (record);
}

static gboolean
dns_record_equal (const NbDnsRecord *a, const NbDnsRecord *b)
{
  return str_equal (a->name, b->name) && a->type == b->type &&
         str_equal (a->record_class, b->record_class) && a->ttl == b->ttl &&
         str_equal (a->rdata, b->rdata);
}

static NbCustomZone *
custom_zone_copy (const NbCustomZone *zone)
{
  NbCustomZone *copy = g_new0 (NbCustomZone, 1);

  copy->domain = g_strdup (zone->domain);
  copy->records = ptr_array_copy (zone->records, (ValueCopyFunc) dns_record_copy,
                                  (GDestroyNotify) nb_dns_record_free);
  copy->search_domain_disabled = zone->search_domain_disabled;
  copy->non_authoritative = zone->non_authoritative;
  return copy;
}

void
nb_custom_zone_free (NbCustomZone *zone)
{
  g_free (zone->domain);
  g_ptr_array_unref (zone->records);
  g_free (zone);
}

static gboolean
custom_zone_equal (const NbCustomZone *a, const NbCustomZone *b)
{
  return str_equal (a->domain, b->domain) &&
         ptr_array_equal (a->records, b->records, (ValueEqualFunc) dns_record_equal) &&
         a->search_domain_disabled == b->search_domain_disabled &&
         a->non_authoritative == b->non_authoritative;
}

static NbDnsConfig *
dns_config_new (void)
{
  NbDnsConfig *dns = g_new0 (NbDnsConfig, 1);

  dns->nameserver_groups = g_ptr_array_new_with_free_func ((GDestroyNotify) name_server_group_free);
  dns->custom_zones = g_ptr_array_new_with_free_func ((GDestroyNotify) nb_custom_zone_free);
  return dns;
}

NbDnsConfig *
nb_dns_config_copy (const NbDnsConfig *dns)
{
  NbDnsConfig *copy;

  if (dns == NULL)
    return NULL;
  copy = g_new0 (NbDnsConfig, 1);
  copy->service_enable = dns->service_enable;
  copy->nameserver_groups = ptr_array_copy (dns->nameserver_groups,
                                            (ValueCopyFunc) name_server_group_copy,
                                            (GDestroyNotify) name_server_group_free);
  copy->custom_zones = ptr_array_copy (dns->custom_zones, (ValueCopyFunc) custom_zone_copy,
                                       (GDestroyNotify) nb_custom_zone_free);
  return copy;
}

void
nb_dns_config_free (NbDnsConfig *dns)
{
  if (dns == NULL)
    return;
  g_clear_pointer (&dns->nameserver_groups, g_ptr_array_unref);
  g_clear_pointer (&dns->custom_zones, g_ptr_array_unref);
  g_free (dns);
}

/* NULL is the empty DNS config. */
static gboolean
dns_config_equal (const NbDnsConfig *a, const NbDnsConfig *b)
{
  gboolean enable_a = a ? a->service_enable : FALSE;
  gboolean enable_b = b ? b->service_enable : FALSE;

  return enable_a == enable_b &&
         ptr_array_equal (a ? a->nameserver_groups : NULL, b ? b->nameserver_groups : NULL,
                          (ValueEqualFunc) name_server_group_equal) &&
         ptr_array_equal (a ? a->custom_zones : NULL, b ? b->custom_zones : NULL,
                          (ValueEqualFunc) custom_zone_equal);
}

/* ---- NbNetworkMap ---------------------------------------------------------- */

static GPtrArray *
peer_array_new (void)
{
  return g_ptr_array_new_with_free_func ((GDestroyNotify) nb_remote_peer_free);
}

static GPtrArray *
peer_array_copy (const GPtrArray *peers)
{
  return ptr_array_copy (peers, (ValueCopyFunc) nb_remote_peer_copy,
                         (GDestroyNotify) nb_remote_peer_free);
}

static GPtrArray *
route_array_new (void)
{
  return g_ptr_array_new_with_free_func ((GDestroyNotify) nb_route_free);
}

NbNetworkMap *
nb_network_map_new (void)
{
  NbNetworkMap *map = g_new0 (NbNetworkMap, 1);

  map->peers = peer_array_new ();
  map->offline_peers = peer_array_new ();
  map->routes = route_array_new ();
  return map;
}

NbNetworkMap *
nb_network_map_copy (const NbNetworkMap *map)
{
  NbNetworkMap *copy;

  if (map == NULL)
    return NULL;
  copy = g_new0 (NbNetworkMap, 1);
  copy->has_map = map->has_map;
  copy->serial = map->serial;
  copy->own = nb_peer_config_copy (map->own);
  copy->peers_present = map->peers_present;
  copy->peers = peer_array_copy (map->peers);
  copy->offline_peers = peer_array_copy (map->offline_peers);
  copy->routes = ptr_array_copy (map->routes, (ValueCopyFunc) nb_route_copy,
                                 (GDestroyNotify) nb_route_free);
  copy->dns = nb_dns_config_copy (map->dns);
  copy->config = nb_netbird_config_copy (map->config);
  copy->n_skipped = map->n_skipped;
  return copy;
}

void
nb_network_map_free (NbNetworkMap *map)
{
  if (map == NULL)
    return;
  nb_peer_config_free (map->own);
  g_clear_pointer (&map->peers, g_ptr_array_unref);
  g_clear_pointer (&map->offline_peers, g_ptr_array_unref);
  g_clear_pointer (&map->routes, g_ptr_array_unref);
  nb_dns_config_free (map->dns);
  nb_netbird_config_free (map->config);
  g_free (map);
}

const NbRemotePeer *
nb_network_map_find_peer (const NbNetworkMap *map, const char *key)
{
  g_return_val_if_fail (map != NULL, NULL);

  for (guint i = 0; key && i < map->peers->len; i++)
    {
      const NbRemotePeer *peer = g_ptr_array_index (map->peers, i);

      if (strcmp (peer->key, key) == 0)
        return peer;
    }
  return NULL;
}

/* ---- Conversion ---------------------------------------------------------- */

typedef struct {
  const char *own_key;
  guint skipped;
} Ctx;

static const char *const stun_schemes[] = { "stun:", "stuns:", NULL };
static const char *const turn_schemes[] = { "turn:", "turns:", NULL };
static const char *const relay_schemes[] = { "rel://", "rels://", NULL };

static NbHostConfig *
convert_host (const Management__HostConfig *h, const char *const *schemes,
              const char *what, guint index, Ctx *ctx)
{
  if (h == NULL || !is_token_text (h->uri) || (schemes && !has_scheme (h->uri, schemes)))
    {
      g_warning ("management sent an invalid %s URI (entry %u); skipping it", what, index);
      ctx->skipped++;
      return NULL;
    }
  return nb_host_config_new (h->uri, (NbHostProtocol) h->protocol);
}

static NbNetbirdConfig *
convert_config (const Management__NetbirdConfig *c, Ctx *ctx)
{
  NbNetbirdConfig *config = nb_netbird_config_new ();

  for (gsize i = 0; i < c->n_stuns; i++)
    {
      NbHostConfig *host = convert_host (c->stuns[i], stun_schemes, "STUN", i, ctx);

      if (host)
        g_ptr_array_add (config->stuns, host);
    }

  for (gsize i = 0; i < c->n_turns; i++)
    {
      const Management__ProtectedHostConfig *t = c->turns[i];
      NbTurnConfig *turn;

      if (t == NULL || t->hostconfig == NULL || !is_token_text (t->hostconfig->uri) ||
          !has_scheme (t->hostconfig->uri, turn_schemes))
        {
          g_warning ("management sent an invalid TURN URI (entry %" G_GSIZE_FORMAT "); skipping it", i);
          ctx->skipped++;
          continue;
        }
      turn = g_new0 (NbTurnConfig, 1);
      turn->uri = g_strdup (t->hostconfig->uri);
      turn->protocol = (NbHostProtocol) t->hostconfig->protocol;
      turn->user = g_strdup (t->user ? t->user : "");
      turn->password = g_strdup (t->password ? t->password : "");
      g_ptr_array_add (config->turns, turn);
    }

  if (c->signal)
    config->signal = convert_host (c->signal, NULL, "signal", 0, ctx);

  if (c->relay)
    {
      g_autoptr (GPtrArray) urls = g_ptr_array_new ();

      config->relay = g_new0 (NbRelayConfig, 1);
      for (gsize i = 0; i < c->relay->n_urls; i++)
        {
          const char *url = c->relay->urls[i];

          if (!is_token_text (url) || !has_scheme (url, relay_schemes))
            {
              g_warning ("management sent an invalid relay URL (entry %" G_GSIZE_FORMAT "); skipping it", i);
              ctx->skipped++;
              continue;
            }
          g_ptr_array_add (urls, g_strdup (url));
        }
      g_ptr_array_add (urls, NULL);
      config->relay->urls = (char **) g_ptr_array_steal (urls, NULL);
      config->relay->token_payload = g_strdup (c->relay->tokenpayload ? c->relay->tokenpayload : "");
      config->relay->token_signature = g_strdup (c->relay->tokensignature ? c->relay->tokensignature : "");
    }

  return config;
}

static NbPeerConfig *
convert_own (const Management__PeerConfig *pc, Ctx *ctx, GError **error)
{
  g_autoptr (NbPeerConfig) own = g_new0 (NbPeerConfig, 1);
  const char *dot;

  own->address = cidr_normalize (pc->address);
  if (own->address == NULL)
    {
      g_set_error (error, NB_NETWORK_MAP_ERROR, NB_NETWORK_MAP_ERROR_INVALID,
                   "own overlay address is not a CIDR");
      return NULL;
    }

  if (pc->address_v6.len != 0)
    {
      const guint8 *b = pc->address_v6.data;

      if (pc->address_v6.len == 17 && b[16] <= 128)
        {
          g_autoptr (GInetAddress) addr = g_inet_address_new_from_bytes (b, G_SOCKET_FAMILY_IPV6);
          g_autofree char *text = g_inet_address_to_string (addr);

          own->address_v6 = g_strdup_printf ("%s/%u", text, (guint) b[16]);
        }
      else
        {
          g_warning ("management sent an invalid IPv6 overlay address (%" G_GSIZE_FORMAT " bytes); ignoring it",
                     pc->address_v6.len);
          ctx->skipped++;
        }
    }

  own->fqdn = text_dup (pc->fqdn);
  dot = strchr (own->fqdn, '.');
  own->dns_domain = g_strdup (dot && dot[1] ? dot + 1 : "");

  if (pc->mtu == 0)
    own->mtu = NB_NETWORK_MAP_DEFAULT_MTU;
  else if (pc->mtu < 576 || pc->mtu > 65535)
    {
      g_warning ("management sent an MTU of %d; using %d", pc->mtu, NB_NETWORK_MAP_DEFAULT_MTU);
      own->mtu = NB_NETWORK_MAP_DEFAULT_MTU;
    }
  else
    own->mtu = (guint) pc->mtu;

  own->ssh_enabled = pc->sshconfig ? pc->sshconfig->sshenabled : FALSE;
  own->routing_peer_dns_resolution = pc->routingpeerdnsresolutionenabled;
  own->lazy_connection = pc->lazyconnectionenabled;
  return g_steal_pointer (&own);
}

static void
convert_peers (Management__RemotePeerConfig *const *list, gsize n, const char *what,
               GPtrArray *out, Ctx *ctx)
{
  g_autoptr (GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);

  for (gsize i = 0; i < n; i++)
    {
      const Management__RemotePeerConfig *p = list[i];
      g_autoptr (GPtrArray) ips = NULL;
      gboolean ok = TRUE;
      NbRemotePeer *peer;

      if (p == NULL || !is_canonical_key (p->wgpubkey))
        {
          g_warning ("management sent a %s with an invalid key (entry %" G_GSIZE_FORMAT "); skipping it",
                     what, i);
          ctx->skipped++;
          continue;
        }
      if (ctx->own_key && strcmp (p->wgpubkey, ctx->own_key) == 0)
        {
          g_debug ("dropping our own key from the %s list", what);
          continue;
        }
      if (g_hash_table_contains (seen, p->wgpubkey))
        {
          g_warning ("management sent %s %s twice; keeping the first", what, p->wgpubkey);
          ctx->skipped++;
          continue;
        }

      ips = g_ptr_array_new_with_free_func (g_free);
      for (gsize j = 0; j < p->n_allowedips; j++)
        {
          char *cidr = cidr_normalize (p->allowedips[j]);

          if (cidr == NULL)
            {
              ok = FALSE;
              break;
            }
          g_ptr_array_add (ips, cidr);
        }
      if (!ok)
        {
          g_warning ("management sent %s %s with an allowed IP that is not a CIDR; skipping it",
                     what, p->wgpubkey);
          ctx->skipped++;
          continue;
        }
      g_ptr_array_add (ips, NULL);

      peer = g_new0 (NbRemotePeer, 1);
      peer->key = g_strdup (p->wgpubkey);
      peer->allowed_ips = (char **) g_ptr_array_free (g_steal_pointer (&ips), FALSE);
      peer->fqdn = text_dup (p->fqdn);
      peer->agent_version = text_dup (p->agentversion);
      g_hash_table_add (seen, peer->key);
      g_ptr_array_add (out, peer);
    }
}

static void
convert_routes (Management__Route *const *list, gsize n, GPtrArray *out, Ctx *ctx)
{
  for (gsize i = 0; i < n; i++)
    {
      const Management__Route *r = list[i];
      g_autoptr (NbRoute) route = NULL;
      gboolean ok = TRUE;

      if (r == NULL)
        continue;
      route = g_new0 (NbRoute, 1);
      route->id = text_dup (r->id);
      route->domains = g_new0 (char *, r->n_domains + 1);
      for (gsize j = 0; j < r->n_domains; j++)
        {
          if (!is_token_text (r->domains[j]))
            ok = FALSE;
          route->domains[j] = text_dup (r->domains[j]);
        }
      if (r->n_domains == 0)
        {
          route->network = cidr_normalize (r->network);
          if (route->network == NULL)
            ok = FALSE;
        }
      if (!ok)
        {
          g_warning ("management sent route %s with an invalid network or domain; skipping it",
                     route->id);
          ctx->skipped++;
          continue;
        }
      if (!is_canonical_key (r->peer))
        {
          g_warning ("management sent route %s with an invalid routing peer key; skipping it",
                     route->id);
          ctx->skipped++;
          continue;
        }
      route->peer = g_strdup (r->peer);
      route->network_type = r->networktype;
      route->metric = r->metric;
      route->masquerade = r->masquerade;
      route->net_id = text_dup (r->netid);
      route->keep_route = r->keeproute;
      route->skip_auto_apply = r->skipautoapply;
      g_ptr_array_add (out, g_steal_pointer (&route));
    }
}

static char **
convert_strv (char *const *list, gsize n)
{
  char **out = g_new0 (char *, n + 1);

  for (gsize i = 0; i < n; i++)
    out[i] = text_dup (list[i]);
  return out;
}

static NbDnsConfig *
convert_dns (const Management__DNSConfig *d, Ctx *ctx)
{
  NbDnsConfig *dns = dns_config_new ();

  dns->service_enable = d->serviceenable;
  for (gsize i = 0; i < d->n_nameservergroups; i++)
    {
      const Management__NameServerGroup *g = d->nameservergroups[i];
      NbNameServerGroup *group;

      if (g == NULL)
        continue;
      group = name_server_group_new ();
      for (gsize j = 0; j < g->n_nameservers; j++)
        {
          const Management__NameServer *n = g->nameservers[j];
          NbNameServer *ns;

          if (n == NULL || !is_ip_address (n->ip) || n->port < 0 || n->port > 65535)
            {
              g_warning ("management sent an invalid nameserver (group %" G_GSIZE_FORMAT ", entry %" G_GSIZE_FORMAT "); skipping it",
                         i, j);
              ctx->skipped++;
              continue;
            }
          ns = g_new0 (NbNameServer, 1);
          ns->ip = g_strdup (n->ip);
          ns->type = n->nstype;
          ns->port = n->port == 0 ? 53 : (guint16) n->port;
          g_ptr_array_add (group->nameservers, ns);
        }
      group->primary = g->primary;
      group->domains = convert_strv (g->domains, g->n_domains);
      group->search_domains_enabled = g->searchdomainsenabled;
      g_ptr_array_add (dns->nameserver_groups, group);
    }

  for (gsize i = 0; i < d->n_customzones; i++)
    {
      const Management__CustomZone *z = d->customzones[i];
      NbCustomZone *zone;

      if (z == NULL)
        continue;
      zone = g_new0 (NbCustomZone, 1);
      zone->domain = text_dup (z->domain);
      zone->records = g_ptr_array_new_with_free_func ((GDestroyNotify) nb_dns_record_free);
      for (gsize j = 0; j < z->n_records; j++)
        {
          const Management__SimpleRecord *r = z->records[j];
          NbDnsRecord *record;

          if (r == NULL)
            continue;
          record = g_new0 (NbDnsRecord, 1);
          record->name = text_dup (r->name);
          record->type = r->type;
          record->record_class = text_dup (r->class_);
          record->ttl = r->ttl;
          record->rdata = text_dup (r->rdata);
          g_ptr_array_add (zone->records, record);
        }
      zone->search_domain_disabled = z->searchdomaindisabled;
      zone->non_authoritative = z->nonauthoritative;
      g_ptr_array_add (dns->custom_zones, zone);
    }
  return dns;
}

static void
convert_network_map (const Management__NetworkMap *nm, NbNetworkMap *map, Ctx *ctx)
{
  map->has_map = TRUE;
  map->serial = nm->serial;

  if (nm->peerconfig)
    {
      g_autoptr (GError) error = NULL;

      map->own = convert_own (nm->peerconfig, ctx, &error);
      if (map->own == NULL)
        {
          g_warning ("ignoring our peer config in network map %" G_GUINT64_FORMAT ": %s",
                     nm->serial, error->message);
          ctx->skipped++;
        }
    }

  map->peers_present = nm->n_remotepeers > 0 || nm->remotepeersisempty;
  convert_peers (nm->remotepeers, nm->n_remotepeers, "peer", map->peers, ctx);
  convert_peers (nm->offlinepeers, nm->n_offlinepeers, "offline peer", map->offline_peers, ctx);
  convert_routes (nm->routes, nm->n_routes, map->routes, ctx);
  if (nm->dnsconfig)
    map->dns = convert_dns (nm->dnsconfig, ctx);
}

NbNetworkMap *
nb_network_map_from_sync_response (const guint8 *data,
                                   gsize         len,
                                   const char   *own_key,
                                   GError      **error)
{
  Management__SyncResponse *resp;
  NbNetworkMap *map;
  Ctx ctx = { .own_key = own_key };

  g_return_val_if_fail (data != NULL || len == 0, NULL);

  resp = management__sync_response__unpack (&wiping_allocator, len, data);
  if (resp == NULL)
    {
      g_set_error_literal (error, NB_NETWORK_MAP_ERROR, NB_NETWORK_MAP_ERROR_PARSE,
                           "not a valid SyncResponse message");
      return NULL;
    }

  map = nb_network_map_new ();
  if (resp->netbirdconfig)
    map->config = convert_config (resp->netbirdconfig, &ctx);
  if (resp->networkmap)
    convert_network_map (resp->networkmap, map, &ctx);
  map->n_skipped = ctx.skipped;

  management__sync_response__free_unpacked (resp, &wiping_allocator);
  return map;
}

NbNetworkMap *
nb_network_map_from_login_response (const guint8 *data,
                                    gsize         len,
                                    GError      **error)
{
  Management__LoginResponse *resp;
  g_autoptr (NbNetworkMap) map = NULL;
  Ctx ctx = { 0 };

  g_return_val_if_fail (data != NULL || len == 0, NULL);

  resp = management__login_response__unpack (&wiping_allocator, len, data);
  if (resp == NULL)
    {
      g_set_error_literal (error, NB_NETWORK_MAP_ERROR, NB_NETWORK_MAP_ERROR_PARSE,
                           "not a valid LoginResponse message");
      return NULL;
    }

  map = nb_network_map_new ();
  if (resp->peerconfig == NULL)
    g_set_error_literal (error, NB_NETWORK_MAP_ERROR, NB_NETWORK_MAP_ERROR_INVALID,
                         "login response without a peer config");
  else
    map->own = convert_own (resp->peerconfig, &ctx, error);
  if (map->own != NULL && resp->netbirdconfig)
    map->config = convert_config (resp->netbirdconfig, &ctx);
  map->n_skipped = ctx.skipped;

  management__login_response__free_unpacked (resp, &wiping_allocator);
  return map->own ? g_steal_pointer (&map) : NULL;
}

/* ---- Applying updates ---------------------------------------------------- */

static NbNetworkMapDiff *
diff_new (void)
{
  NbNetworkMapDiff *diff = g_new0 (NbNetworkMapDiff, 1);

  diff->added = peer_array_new ();
  diff->removed = peer_array_new ();
  diff->updated = peer_array_new ();
  return diff;
}

void
nb_network_map_diff_free (NbNetworkMapDiff *diff)
{
  if (diff == NULL)
    return;
  g_ptr_array_unref (diff->added);
  g_ptr_array_unref (diff->removed);
  g_ptr_array_unref (diff->updated);
  g_free (diff);
}

gboolean
nb_network_map_diff_has_peer_changes (const NbNetworkMapDiff *diff)
{
  g_return_val_if_fail (diff != NULL, FALSE);
  return diff->added->len || diff->removed->len || diff->updated->len;
}

gboolean
nb_network_map_diff_is_empty (const NbNetworkMapDiff *diff)
{
  g_return_val_if_fail (diff != NULL, TRUE);
  return !diff->map_changed && !diff->config_changed && !nb_network_map_diff_has_peer_changes (diff);
}

/* A NetbirdConfig update merged over the applied one (see the header). */
static NbNetbirdConfig *
merge_config (const NbNetbirdConfig *applied, const NbNetbirdConfig *update)
{
  NbNetbirdConfig *merged = nb_netbird_config_copy (update);

  if (applied == NULL)
    return merged;
  if (merged->stuns->len == 0 && applied->stuns->len != 0)
    {
      g_ptr_array_unref (merged->stuns);
      merged->stuns = ptr_array_copy (applied->stuns, (ValueCopyFunc) nb_host_config_copy,
                                      (GDestroyNotify) nb_host_config_free);
    }
  if (merged->turns->len == 0 && applied->turns->len != 0)
    {
      g_ptr_array_unref (merged->turns);
      merged->turns = ptr_array_copy (applied->turns, (ValueCopyFunc) nb_turn_config_copy,
                                      (GDestroyNotify) nb_turn_config_free);
    }
  if (merged->signal == NULL)
    merged->signal = nb_host_config_copy (applied->signal);
  return merged;
}

static void
diff_peers (const GPtrArray *before, const GPtrArray *after, NbNetworkMapDiff *diff)
{
  g_autoptr (GHashTable) old_by_key = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr (GHashTable) new_by_key = g_hash_table_new (g_str_hash, g_str_equal);

  for (guint i = 0; i < before->len; i++)
    {
      NbRemotePeer *peer = g_ptr_array_index (before, i);

      g_hash_table_insert (old_by_key, peer->key, peer);
    }
  for (guint i = 0; i < after->len; i++)
    {
      NbRemotePeer *peer = g_ptr_array_index (after, i);
      const NbRemotePeer *old = g_hash_table_lookup (old_by_key, peer->key);

      g_hash_table_insert (new_by_key, peer->key, peer);
      if (old == NULL)
        g_ptr_array_add (diff->added, nb_remote_peer_copy (peer));
      else if (remote_peer_connection_changed (old, peer))
        g_ptr_array_add (diff->updated, nb_remote_peer_copy (peer));
    }
  for (guint i = 0; i < before->len; i++)
    {
      NbRemotePeer *peer = g_ptr_array_index (before, i);

      if (!g_hash_table_contains (new_by_key, peer->key))
        g_ptr_array_add (diff->removed, nb_remote_peer_copy (peer));
    }
}

/* Same peers with the same content, in any order. */
static gboolean
peer_set_equal (const GPtrArray *a, const GPtrArray *b)
{
  g_autoptr (GHashTable) by_key = NULL;

  if (a->len != b->len)
    return FALSE;
  by_key = g_hash_table_new (g_str_hash, g_str_equal);
  for (guint i = 0; i < b->len; i++)
    {
      NbRemotePeer *peer = g_ptr_array_index (b, i);

      g_hash_table_insert (by_key, peer->key, peer);
    }
  for (guint i = 0; i < a->len; i++)
    {
      const NbRemotePeer *pa = g_ptr_array_index (a, i);
      const NbRemotePeer *pb = g_hash_table_lookup (by_key, pa->key);

      if (pb == NULL || !nb_remote_peer_equal (pa, pb))
        return FALSE;
    }
  return TRUE;
}

NbNetworkMap *
nb_network_map_apply (const NbNetworkMap  *applied,
                      const NbNetworkMap  *update,
                      NbNetworkMapDiff   **out_diff)
{
  g_autoptr (NbNetworkMapDiff) diff = diff_new ();
  NbNetworkMap *result;

  g_return_val_if_fail (update != NULL, NULL);

  result = applied ? nb_network_map_copy (applied) : nb_network_map_new ();
  result->n_skipped = update->n_skipped;

  if (update->config)
    {
      NbNetbirdConfig *merged = merge_config (applied ? applied->config : NULL, update->config);

      diff->config_changed = !nb_netbird_config_equal (applied ? applied->config : NULL, merged);
      nb_netbird_config_free (result->config);
      result->config = merged;
    }

  if (update->has_map && applied && applied->has_map && update->serial < applied->serial)
    {
      g_debug ("ignoring network map %" G_GUINT64_FORMAT ": serial %" G_GUINT64_FORMAT " is applied",
               update->serial, applied->serial);
      diff->stale = TRUE;
    }
  else
    {
      if (update->own)
        {
          nb_peer_config_free (result->own);
          result->own = nb_peer_config_copy (update->own);
        }
      if (update->has_map)
        {
          result->has_map = TRUE;
          result->serial = update->serial;
          if (update->peers_present)
            {
              g_ptr_array_unref (result->peers);
              result->peers = peer_array_copy (update->peers);
              result->peers_present = TRUE;
            }
          g_ptr_array_unref (result->offline_peers);
          result->offline_peers = peer_array_copy (update->offline_peers);
          g_ptr_array_unref (result->routes);
          result->routes = ptr_array_copy (update->routes, (ValueCopyFunc) nb_route_copy,
                                           (GDestroyNotify) nb_route_free);
          nb_dns_config_free (result->dns);
          result->dns = nb_dns_config_copy (update->dns);
        }

      {
        g_autoptr (GPtrArray) empty = peer_array_new ();
        const GPtrArray *old_peers = applied ? applied->peers : empty;
        const GPtrArray *old_offline = applied ? applied->offline_peers : empty;
        const GPtrArray *old_routes = applied ? applied->routes : empty;

        diff->own_changed = !nb_peer_config_equal (applied ? applied->own : NULL, result->own);
        diff_peers (old_peers, result->peers, diff);
        diff->offline_peers_changed = !peer_set_equal (old_offline, result->offline_peers);
        diff->routes_changed = !ptr_array_equal (old_routes, result->routes,
                                                 (ValueEqualFunc) route_equal);
        diff->dns_changed = !dns_config_equal (applied ? applied->dns : NULL, result->dns);
        diff->map_changed = diff->own_changed || !peer_set_equal (old_peers, result->peers) ||
                            diff->offline_peers_changed || diff->routes_changed ||
                            diff->dns_changed;
      }
    }

  if (out_diff)
    *out_diff = g_steal_pointer (&diff);
  return result;
}

NbNetworkMapDiff *
nb_network_map_diff (const NbNetworkMap *applied,
                     const NbNetworkMap *update)
{
  NbNetworkMapDiff *diff = NULL;
  g_autoptr (NbNetworkMap) result = nb_network_map_apply (applied, update, &diff);

  return diff;
}

char *
nb_host_config_to_url (const NbHostConfig *host)
{
  if (strstr (host->uri, "://") != NULL)
    return g_strdup (host->uri);
  return g_strdup_printf ("%s://%s", host->protocol == NB_HOST_PROTOCOL_HTTPS ? "https" : "http", host->uri);
}
