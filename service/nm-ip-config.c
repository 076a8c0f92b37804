/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Addresses travel to NetworkManager in its VPN D-Bus forms: IPv4 as a
 * guint32 in network byte order, IPv6 as 16 bytes. Everything else about
 * what goes where is in the header.
 */
#define G_LOG_DOMAIN "nb-nm-ip"

#include "config.h"

#include "nm-ip-config.h"

#include <NetworkManager.h>
#include <string.h>

G_DEFINE_QUARK (nb-nm-ip-config-error-quark, nb_nm_ip_config_error)

typedef struct {
  GSocketFamily family;
  guint8 bytes[16];
  guint prefix;
} Cidr;

static gboolean
cidr_parse (const char *text, Cidr *out)
{
  const char *slash;
  g_autofree char *addr_text = NULL;
  g_autoptr (GInetAddress) addr = NULL;
  guint64 prefix;
  char *end = NULL;
  guint max;

  if (text == NULL || (slash = strchr (text, '/')) == NULL)
    return FALSE;
  addr_text = g_strndup (text, slash - text);
  addr = g_inet_address_new_from_string (addr_text);
  if (addr == NULL || slash[1] == '\0')
    return FALSE;
  prefix = g_ascii_strtoull (slash + 1, &end, 10);
  max = g_inet_address_get_family (addr) == G_SOCKET_FAMILY_IPV4 ? 32 : 128;
  if (*end != '\0' || prefix > max)
    return FALSE;
  out->family = g_inet_address_get_family (addr);
  memset (out->bytes, 0, sizeof out->bytes);
  memcpy (out->bytes, g_inet_address_to_bytes (addr), g_inet_address_get_native_size (addr));
  out->prefix = (guint) prefix;
  return TRUE;
}

static void
cidr_clear_host_bits (Cidr *c)
{
  guint len = c->family == G_SOCKET_FAMILY_IPV4 ? 4 : 16;

  for (guint i = 0; i < len; i++)
    {
      guint bit0 = i * 8;
      if (bit0 >= c->prefix)
        c->bytes[i] = 0;
      else if (bit0 + 8 > c->prefix)
        c->bytes[i] &= (guint8) (0xff << (8 - (c->prefix - bit0)));
    }
}

/* Whether @inner lies within @outer (same family, longer or equal prefix). */
static gboolean
cidr_covers (const Cidr *outer, const Cidr *inner)
{
  Cidr a = *outer, b = *inner;

  if (a.family != b.family || b.prefix < a.prefix)
    return FALSE;
  b.prefix = a.prefix;
  cidr_clear_host_bits (&a);
  cidr_clear_host_bits (&b);
  return memcmp (a.bytes, b.bytes, sizeof a.bytes) == 0;
}

static guint32
cidr_v4 (const Cidr *c)
{
  guint32 v;

  memcpy (&v, c->bytes, 4);   /* stays in network byte order */
  return v;
}

static GVariant *
bytes16 (const guint8 *bytes)
{
  return g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, bytes, 16, 1);
}

/* An address in NetworkManager's VPN wire form: "u" (network byte order)
 * for IPv4, "ay" for IPv6. */
static GVariant *
address_variant (GInetAddress *address)
{
  guint32 v;

  if (g_inet_address_get_family (address) != G_SOCKET_FAMILY_IPV4)
    return bytes16 (g_inet_address_to_bytes (address));
  memcpy (&v, g_inet_address_to_bytes (address), 4);
  return g_variant_new_uint32 (v);
}

/* Adds @entry (taken) to @domains unless @seen has it; TRUE when added. */
static gboolean
add_domain (GVariantBuilder *domains, GHashTable *seen, char *entry)
{
  if (entry == NULL || g_hash_table_contains (seen, entry))
    {
      g_free (entry);
      return FALSE;
    }
  g_variant_builder_add (domains, "s", entry);
  g_hash_table_add (seen, entry);
  return TRUE;
}

/* Routes for one family, deduplicated by "network/prefix". */
typedef struct {
  GSocketFamily family;
  const Cidr *own;
  GVariantBuilder builder;
  GHashTable *seen;
  guint n;
} RouteSet;

static void
route_set_init (RouteSet *set, GSocketFamily family, const Cidr *own)
{
  set->family = family;
  set->own = own;
  set->seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  set->n = 0;
  g_variant_builder_init (&set->builder, family == G_SOCKET_FAMILY_IPV4
                                         ? G_VARIANT_TYPE ("aau")
                                         : G_VARIANT_TYPE ("a(ayuayu)"));
}

static void
route_set_add (RouteSet *set, Cidr route, guint32 metric)
{
  g_autofree char *key = NULL;
  static const guint8 zero[16] = { 0 };

  if (route.family != set->family)
    return;
  cidr_clear_host_bits (&route);
  key = g_strdup_printf ("%u/%02x%02x%02x%02x%02x%02x%02x%02x%02x%02x%02x%02x%02x%02x%02x%02x", route.prefix,
                         route.bytes[0], route.bytes[1], route.bytes[2], route.bytes[3],
                         route.bytes[4], route.bytes[5], route.bytes[6], route.bytes[7],
                         route.bytes[8], route.bytes[9], route.bytes[10], route.bytes[11],
                         route.bytes[12], route.bytes[13], route.bytes[14], route.bytes[15]);
  if (!g_hash_table_add (set->seen, g_steal_pointer (&key)))
    return;

  if (set->family == G_SOCKET_FAMILY_IPV4)
    {
      guint32 r[4] = { cidr_v4 (&route), route.prefix, 0, metric };
      g_variant_builder_add_value (&set->builder,
                                   g_variant_new_fixed_array (G_VARIANT_TYPE_UINT32, r, 4, sizeof (guint32)));
    }
  else
    g_variant_builder_add (&set->builder, "(@ayu@ayu)", bytes16 (route.bytes), route.prefix,
                           bytes16 (zero), metric);
  set->n++;
}

static GVariant *
route_set_end (RouteSet *set)
{
  g_clear_pointer (&set->seen, g_hash_table_unref);
  return g_variant_builder_end (&set->builder);
}

static void
add_routes (RouteSet *set, const NbNetworkMap *map, const NbNmIpParams *params, guint *n_exit,
            gboolean *default_route)
{
  /* The own prefix route (the kernel adds it with the address) covers the
   * overlay network. */
  for (guint i = 0; i < map->routes->len; i++)
    {
      const NbRoute *r = g_ptr_array_index (map->routes, i);
      Cidr c;

      if (r->network == NULL || !cidr_parse (r->network, &c) || c.family != set->family)
        continue;
      if (params->own_key != NULL && g_strcmp0 (r->peer, params->own_key) == 0)
        continue;
      if (c.prefix == 0)
        {
          /* The exit node's route is a default route: never-default off. */
          if (params->exit_net_id != NULL && g_strcmp0 (r->net_id, params->exit_net_id) == 0)
            *default_route = TRUE;
          else
            (*n_exit)++;
          continue;
        }
      if (r->skip_auto_apply)
        continue;
      if (cidr_covers (set->own, &c))
        continue;
      route_set_add (set, c, r->metric > 0 && r->metric <= G_MAXUINT32 ? (guint32) r->metric : 0);
    }
  for (guint i = 0; i < map->peers->len; i++)
    {
      const NbRemotePeer *p = g_ptr_array_index (map->peers, i);

      for (guint j = 0; p->allowed_ips[j] != NULL; j++)
        {
          Cidr c;

          if (!cidr_parse (p->allowed_ips[j], &c) || c.family != set->family || c.prefix == 0)
            continue;
          if (cidr_covers (set->own, &c))
            continue;
          route_set_add (set, c, 0);
        }
    }
}

/* A custom zone's domain as NetworkManager takes it: no trailing dot, "~"
 * for a routing-only domain; NULL for the root. */
static char *
zone_domain (const NbCustomZone *zone)
{
  g_autofree char *domain = g_strdup (zone->domain ? zone->domain : "");
  gsize len = strlen (domain);

  while (len > 0 && domain[len - 1] == '.')
    domain[--len] = '\0';
  if (len == 0)
    return NULL;
  return zone->search_domain_disabled ? g_strconcat ("~", domain, NULL) : g_steal_pointer (&domain);
}

/* Nameservers of one family and the domains of every group; first our
 * own resolver of the peer names (params->dns_server) with the zones'
 * domains. */
static void
add_dns (GVariantBuilder *dict, const NbNetworkMap *map, const NbNmIpParams *params,
         GSocketFamily family, guint *n_skipped)
{
  GVariantBuilder servers, domains;
  gboolean any_server = FALSE, any_domain = FALSE;
  g_autoptr (GHashTable) seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr (GHashTable) seen_servers = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);

  if (map->dns == NULL)
    return;
  g_variant_builder_init (&servers, family == G_SOCKET_FAMILY_IPV4 ? G_VARIANT_TYPE ("au") : G_VARIANT_TYPE ("aay"));
  g_variant_builder_init (&domains, G_VARIANT_TYPE ("as"));

  if (params->dns_server != NULL && g_inet_address_get_family (params->dns_server) == family
      && map->dns->custom_zones->len > 0)
    {
      g_hash_table_add (seen_servers, g_inet_address_to_string (params->dns_server));
      g_variant_builder_add_value (&servers, address_variant (params->dns_server));
      any_server = TRUE;
      for (guint i = 0; i < map->dns->custom_zones->len; i++)
        if (add_domain (&domains, seen, zone_domain (map->dns->custom_zones->pdata[i])))
          any_domain = TRUE;
    }

  for (guint i = 0; i < map->dns->nameserver_groups->len; i++)
    {
      const NbNameServerGroup *g = g_ptr_array_index (map->dns->nameserver_groups, i);

      for (guint j = 0; j < g->nameservers->len; j++)
        {
          const NbNameServer *ns = g_ptr_array_index (g->nameservers, j);
          g_autoptr (GInetAddress) addr = g_inet_address_new_from_string (ns->ip);

          if (addr == NULL)
            continue;
          if (g_inet_address_get_family (addr) != family)
            {
              /* Counted once: by the IPv4 pass for IPv6 servers. */
              if (family == G_SOCKET_FAMILY_IPV4 && n_skipped != NULL)
                (*n_skipped)++;
              continue;
            }
          if (ns->port != 53)
            {
              if (n_skipped != NULL)
                (*n_skipped)++;
              continue;
            }
          if (!g_hash_table_add (seen_servers, g_inet_address_to_string (addr)))
            continue;
          g_variant_builder_add_value (&servers, address_variant (addr));
          any_server = TRUE;
        }
      for (guint j = 0; g->domains[j] != NULL; j++)
        {
          const char *d = g->domains[j];

          if (*d != '\0'
              && add_domain (&domains, seen, g->search_domains_enabled ? g_strdup (d) : g_strconcat ("~", d, NULL)))
            any_domain = TRUE;
        }
    }

  if (any_server)
    g_variant_builder_add (dict, "{sv}",
                           family == G_SOCKET_FAMILY_IPV4 ? NM_VPN_PLUGIN_IP4_CONFIG_DNS : NM_VPN_PLUGIN_IP6_CONFIG_DNS,
                           g_variant_builder_end (&servers));
  else
    g_variant_builder_clear (&servers);
  if (any_domain)
    g_variant_builder_add (dict, "{sv}",
                           family == G_SOCKET_FAMILY_IPV4 ? NM_VPN_PLUGIN_IP4_CONFIG_DOMAINS : NM_VPN_PLUGIN_IP6_CONFIG_DOMAINS,
                           g_variant_builder_end (&domains));
  else
    g_variant_builder_clear (&domains);
}

static GVariant *
build_family (const NbNetworkMap *map, const NbNmIpParams *params, const Cidr *own,
              NbNmIpConfig *out)
{
  GVariantBuilder dict;
  RouteSet routes;
  GVariant *route_list;
  gboolean v4 = own->family == G_SOCKET_FAMILY_IPV4;

  g_variant_builder_init (&dict, G_VARIANT_TYPE_VARDICT);
  if (v4)
    {
      g_variant_builder_add (&dict, "{sv}", NM_VPN_PLUGIN_IP4_CONFIG_ADDRESS, g_variant_new_uint32 (cidr_v4 (own)));
      g_variant_builder_add (&dict, "{sv}", NM_VPN_PLUGIN_IP4_CONFIG_PREFIX, g_variant_new_uint32 (own->prefix));
    }
  else
    {
      g_variant_builder_add (&dict, "{sv}", NM_VPN_PLUGIN_IP6_CONFIG_ADDRESS, bytes16 (own->bytes));
      g_variant_builder_add (&dict, "{sv}", NM_VPN_PLUGIN_IP6_CONFIG_PREFIX, g_variant_new_uint32 (own->prefix));
    }

  route_set_init (&routes, own->family, own);
  add_routes (&routes, map, params, &out->n_exit_routes, v4 ? &out->default4 : &out->default6);
  route_list = route_set_end (&routes);
  if (routes.n > 0)
    g_variant_builder_add (&dict, "{sv}", v4 ? NM_VPN_PLUGIN_IP4_CONFIG_ROUTES : NM_VPN_PLUGIN_IP6_CONFIG_ROUTES,
                           route_list);
  else
    g_variant_unref (g_variant_ref_sink (route_list));

  add_dns (&dict, map, params, own->family, v4 ? &out->n_skipped_dns : NULL);

  g_variant_builder_add (&dict, "{sv}", v4 ? NM_VPN_PLUGIN_IP4_CONFIG_NEVER_DEFAULT : NM_VPN_PLUGIN_IP6_CONFIG_NEVER_DEFAULT,
                         g_variant_new_boolean (!(v4 ? out->default4 : out->default6)));
  return g_variant_ref_sink (g_variant_builder_end (&dict));
}

gboolean
nb_nm_ip_config_build (const NbNetworkMap *map, const NbNmIpParams *params,
                       NbNmIpConfig *out, GError **error)
{
  Cidr own4 = { 0 }, own6 = { 0 };
  gboolean has4 = FALSE, has6 = FALSE;
  GVariantBuilder config;
  guint mtu;

  memset (out, 0, sizeof *out);
  if (params == NULL || params->tundev == NULL || *params->tundev == '\0')
    {
      g_set_error_literal (error, NB_NM_IP_CONFIG_ERROR, NB_NM_IP_CONFIG_ERROR_INVALID, "no interface name");
      return FALSE;
    }
  if (map == NULL || map->own == NULL)
    {
      g_set_error_literal (error, NB_NM_IP_CONFIG_ERROR, NB_NM_IP_CONFIG_ERROR_NO_ADDRESS,
                           "management sent no peer configuration");
      return FALSE;
    }
  has4 = map->own->address != NULL && cidr_parse (map->own->address, &own4)
         && own4.family == G_SOCKET_FAMILY_IPV4 && own4.prefix > 0;
  has6 = map->own->address_v6 != NULL && *map->own->address_v6 != '\0'
         && cidr_parse (map->own->address_v6, &own6) && own6.family == G_SOCKET_FAMILY_IPV6 && own6.prefix > 0;
  if (!has4 && !has6)
    {
      g_set_error (error, NB_NM_IP_CONFIG_ERROR, NB_NM_IP_CONFIG_ERROR_NO_ADDRESS,
                   "management sent no usable overlay address (\"%s\")",
                   map->own->address ? map->own->address : "");
      return FALSE;
    }

  mtu = params->mtu != 0 ? params->mtu : map->own->mtu;
  if (mtu == 0)
    mtu = NB_NETWORK_MAP_DEFAULT_MTU;

  g_variant_builder_init (&config, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&config, "{sv}", NM_VPN_PLUGIN_CONFIG_TUNDEV, g_variant_new_string (params->tundev));
  g_variant_builder_add (&config, "{sv}", NM_VPN_PLUGIN_CONFIG_HAS_IP4, g_variant_new_boolean (has4));
  g_variant_builder_add (&config, "{sv}", NM_VPN_PLUGIN_CONFIG_HAS_IP6, g_variant_new_boolean (has6));
  g_variant_builder_add (&config, "{sv}", NM_VPN_PLUGIN_CONFIG_MTU, g_variant_new_uint32 (mtu));
  if (params->gateway != NULL)
    g_variant_builder_add (&config, "{sv}", NM_VPN_PLUGIN_CONFIG_EXT_GATEWAY, address_variant (params->gateway));
  else if (has4)
    g_variant_builder_add (&config, "{sv}", NM_VPN_PLUGIN_CONFIG_EXT_GATEWAY, g_variant_new_uint32 (cidr_v4 (&own4)));
  else
    g_variant_builder_add (&config, "{sv}", NM_VPN_PLUGIN_CONFIG_EXT_GATEWAY, bytes16 (own6.bytes));
  out->config = g_variant_ref_sink (g_variant_builder_end (&config));

  if (has4)
    out->ip4 = build_family (map, params, &own4, out);
  if (has6)
    out->ip6 = build_family (map, params, &own6, out);
  return TRUE;
}

void
nb_nm_ip_config_clear (NbNmIpConfig *config)
{
  g_clear_pointer (&config->config, g_variant_unref);
  g_clear_pointer (&config->ip4, g_variant_unref);
  g_clear_pointer (&config->ip6, g_variant_unref);
}
