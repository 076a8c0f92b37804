/* SPDX-License-Identifier: GPL-2.0-or-later
 * Tests service/nm-ip-config.c: a network map becomes the three
 * dictionaries NetworkManager's VPN D-Bus API takes (tundev, address and
 * prefix, routes from map routes and peers' allowed IPs, DNS servers and
 * domains, MTU, never-default, gateway), in NM's wire types. */
#include "config.h"

#include <NetworkManager.h>
#include <arpa/inet.h>
#include <string.h>

#include "nm-ip-config.h"
#include "wg-key.h"

static char own_key[NB_WG_KEY_B64_SIZE];
static char peer_key[2][NB_WG_KEY_B64_SIZE];

static void
keys_init (void)
{
  NbWgKey k;

  memset (k.bytes, 1, sizeof k.bytes);
  nb_wg_key_to_base64_buf (&k, own_key);
  for (int i = 0; i < 2; i++)
    {
      memset (k.bytes, 2 + i, sizeof k.bytes);
      nb_wg_key_to_base64_buf (&k, peer_key[i]);
    }
}

static void
name_server_free (NbNameServer *ns)
{
  g_free (ns->ip);
  g_free (ns);
}

static void
group_free (NbNameServerGroup *g)
{
  g_ptr_array_unref (g->nameservers);
  g_strfreev (g->domains);
  g_free (g);
}

static void
add_route (NbNetworkMap *map, const char *network, const char *peer, gboolean skip, const char *const *domains)
{
  NbRoute *r = g_new0 (NbRoute, 1);

  r->id = g_strdup ("r");
  r->network = g_strdup (network);
  r->domains = domains ? g_strdupv ((char **) domains) : g_new0 (char *, 1);
  r->peer = g_strdup (peer);
  r->metric = 9999;
  r->skip_auto_apply = skip;
  g_ptr_array_add (map->routes, r);
}

static NbNameServerGroup *
add_group (NbNetworkMap *map, gboolean primary, gboolean search, const char *const *domains)
{
  NbNameServerGroup *g = g_new0 (NbNameServerGroup, 1);

  g->nameservers = g_ptr_array_new_with_free_func ((GDestroyNotify) name_server_free);
  g->primary = primary;
  g->search_domains_enabled = search;
  g->domains = domains ? g_strdupv ((char **) domains) : g_new0 (char *, 1);
  g_ptr_array_add (map->dns->nameserver_groups, g);
  return g;
}

static void
add_ns (NbNameServerGroup *g, const char *ip, guint16 port)
{
  NbNameServer *ns = g_new0 (NbNameServer, 1);

  ns->ip = g_strdup (ip);
  ns->type = 1;
  ns->port = port;
  g_ptr_array_add (g->nameservers, ns);
}

/* A map like management sends: own 100.64.0.5/16, two peers (one also
 * routes a LAN), routes of every kind, DNS groups of every kind. */
static NbNetworkMap *
sample_map (void)
{
  NbNetworkMap *map = nb_network_map_new ();
  const char *aips0[] = { "100.64.0.7/32", NULL };
  const char *aips1[] = { "100.64.0.9/32", "10.20.0.0/24", "fd00:1::9/128", NULL };
  const char *dom_route[] = { "intra.example", NULL };
  const char *corp[] = { "corp.example", NULL };
  const char *search[] = { "lab.example", "corp.example", NULL };
  NbNameServerGroup *g;

  map->has_map = TRUE;
  map->serial = 7;
  map->own = g_new0 (NbPeerConfig, 1);
  map->own->address = g_strdup ("100.64.0.5/16");
  map->own->fqdn = g_strdup ("me.netbird.cloud");
  map->own->dns_domain = g_strdup ("netbird.cloud");
  map->own->mtu = 1280;
  map->peers_present = TRUE;
  g_ptr_array_add (map->peers, nb_remote_peer_new (peer_key[0], aips0, "a.netbird.cloud", "0.36.0"));
  g_ptr_array_add (map->peers, nb_remote_peer_new (peer_key[1], aips1, "b.netbird.cloud", "0.36.0"));

  add_route (map, "192.168.50.0/24", peer_key[1], FALSE, NULL);   /* applied */
  add_route (map, "192.168.50.7/24", peer_key[0], FALSE, NULL);   /* same network: once */
  add_route (map, "0.0.0.0/0", peer_key[1], FALSE, NULL);         /* exit node: not applied */
  add_route (map, "172.16.0.0/12", own_key, FALSE, NULL);         /* routed by us */
  add_route (map, "10.99.0.0/16", peer_key[1], TRUE, NULL);       /* skip_auto_apply */
  add_route (map, NULL, peer_key[1], FALSE, dom_route);           /* domain route */
  add_route (map, "100.64.3.0/24", peer_key[1], FALSE, NULL);     /* inside own prefix */

  map->dns = g_new0 (NbDnsConfig, 1);
  map->dns->service_enable = TRUE;
  map->dns->nameserver_groups = g_ptr_array_new_with_free_func ((GDestroyNotify) group_free);
  map->dns->custom_zones = g_ptr_array_new ();
  g = add_group (map, TRUE, FALSE, NULL);
  add_ns (g, "100.64.0.53", 53);
  add_ns (g, "2001:db8::53", 53);             /* no IPv6 here: skipped */
  g = add_group (map, FALSE, FALSE, corp);
  add_ns (g, "10.0.0.53", 53);
  add_ns (g, "10.0.0.54", 5353);              /* port: skipped */
  g = add_group (map, FALSE, TRUE, search);
  add_ns (g, "10.0.0.53", 53);
  return map;
}

static guint32
v4 (const char *text)
{
  struct in_addr a;

  g_assert_cmpint (inet_pton (AF_INET, text, &a), ==, 1);
  return a.s_addr;
}

static void
test_ipv4_map (void)
{
  g_autoptr (NbNetworkMap) map = sample_map ();
  g_autoptr (GInetAddress) gw = g_inet_address_new_from_string ("10.77.0.2");
  g_auto (NbNmIpConfig) cfg = { 0 };
  g_autoptr (GError) error = NULL;
  NbNmIpParams params = { .tundev = "wt0", .own_key = own_key, .gateway = gw };
  g_autoptr (GVariant) routes = NULL;
  g_autoptr (GVariant) dns = NULL;
  g_autofree const char **domains = NULL;
  const char *s;
  guint32 u;
  gboolean b;

  g_assert_true (nb_nm_ip_config_build (map, &params, &cfg, &error));
  g_assert_no_error (error);
  g_assert_nonnull (cfg.config);
  g_assert_nonnull (cfg.ip4);
  g_assert_null (cfg.ip6);
  g_assert_false (g_variant_is_floating (cfg.config));

  /* config */
  g_assert_true (g_variant_lookup (cfg.config, NM_VPN_PLUGIN_CONFIG_TUNDEV, "&s", &s));
  g_assert_cmpstr (s, ==, "wt0");
  g_assert_true (g_variant_lookup (cfg.config, NM_VPN_PLUGIN_CONFIG_HAS_IP4, "b", &b));
  g_assert_true (b);
  g_assert_true (g_variant_lookup (cfg.config, NM_VPN_PLUGIN_CONFIG_HAS_IP6, "b", &b));
  g_assert_false (b);
  g_assert_true (g_variant_lookup (cfg.config, NM_VPN_PLUGIN_CONFIG_MTU, "u", &u));
  g_assert_cmpuint (u, ==, 1280);
  g_assert_true (g_variant_lookup (cfg.config, NM_VPN_PLUGIN_CONFIG_EXT_GATEWAY, "u", &u));
  g_assert_cmphex (u, ==, v4 ("10.77.0.2"));

  /* ip4: address and prefix */
  g_assert_true (g_variant_lookup (cfg.ip4, NM_VPN_PLUGIN_IP4_CONFIG_ADDRESS, "u", &u));
  g_assert_cmphex (u, ==, v4 ("100.64.0.5"));
  g_assert_true (g_variant_lookup (cfg.ip4, NM_VPN_PLUGIN_IP4_CONFIG_PREFIX, "u", &u));
  g_assert_cmpuint (u, ==, 16);
  g_assert_true (g_variant_lookup (cfg.ip4, NM_VPN_PLUGIN_IP4_CONFIG_NEVER_DEFAULT, "b", &b));
  g_assert_true (b);

  /* routes: the map's LAN once, the peer's LAN; nothing inside the own
   * prefix, no /0, not ours, not skip_auto_apply, no IPv6 */
  routes = g_variant_lookup_value (cfg.ip4, NM_VPN_PLUGIN_IP4_CONFIG_ROUTES, G_VARIANT_TYPE ("aau"));
  g_assert_nonnull (routes);
  g_assert_cmpuint (g_variant_n_children (routes), ==, 2);
  {
    guint32 expect[2][2] = { { v4 ("192.168.50.0"), 24 }, { v4 ("10.20.0.0"), 24 } };
    for (gsize i = 0; i < 2; i++)
      {
        g_autoptr (GVariant) r = g_variant_get_child_value (routes, i);
        gsize n;
        const guint32 *vals = g_variant_get_fixed_array (r, &n, sizeof (guint32));
        g_assert_cmpuint (n, ==, 4);
        g_assert_cmphex (vals[0], ==, expect[i][0]);
        g_assert_cmpuint (vals[1], ==, expect[i][1]);
        g_assert_cmpuint (vals[2], ==, 0);   /* on-link: the interface */
      }
  }
  g_assert_cmpuint (cfg.n_exit_routes, ==, 1);

  /* DNS: IPv4 port-53 servers, each once; group domains: match-only "~" unless the
   * group enables search */
  dns = g_variant_lookup_value (cfg.ip4, NM_VPN_PLUGIN_IP4_CONFIG_DNS, G_VARIANT_TYPE ("au"));
  g_assert_nonnull (dns);
  {
    gsize n;
    const guint32 *vals = g_variant_get_fixed_array (dns, &n, sizeof (guint32));
    g_assert_cmpuint (n, ==, 2);   /* 10.0.0.53 of two groups: once */
    g_assert_cmphex (vals[0], ==, v4 ("100.64.0.53"));
    g_assert_cmphex (vals[1], ==, v4 ("10.0.0.53"));
  }
  g_assert_cmpuint (cfg.n_skipped_dns, ==, 2);
  g_assert_true (g_variant_lookup (cfg.ip4, NM_VPN_PLUGIN_IP4_CONFIG_DOMAINS, "^a&s", &domains));
  g_assert_cmpuint (g_strv_length ((char **) domains), ==, 3);
  g_assert_cmpstr (domains[0], ==, "~corp.example");
  g_assert_cmpstr (domains[1], ==, "lab.example");
  g_assert_cmpstr (domains[2], ==, "corp.example");
}

static void
test_mtu_and_gateway_defaults (void)
{
  g_autoptr (NbNetworkMap) map = sample_map ();
  g_auto (NbNmIpConfig) cfg = { 0 };
  g_autoptr (GError) error = NULL;
  NbNmIpParams params = { .tundev = "nb-test", .mtu = 1420 };
  guint32 u;

  g_assert_true (nb_nm_ip_config_build (map, &params, &cfg, &error));
  g_assert_true (g_variant_lookup (cfg.config, NM_VPN_PLUGIN_CONFIG_MTU, "u", &u));
  g_assert_cmpuint (u, ==, 1420);
  /* No gateway given: the own address stands in. */
  g_assert_true (g_variant_lookup (cfg.config, NM_VPN_PLUGIN_CONFIG_EXT_GATEWAY, "u", &u));
  g_assert_cmphex (u, ==, v4 ("100.64.0.5"));
  /* Without own_key no route is "ours": 172.16.0.0/12 is applied now. */
  {
    g_autoptr (GVariant) routes = g_variant_lookup_value (cfg.ip4, NM_VPN_PLUGIN_IP4_CONFIG_ROUTES, G_VARIANT_TYPE ("aau"));
    g_assert_cmpuint (g_variant_n_children (routes), ==, 3);
  }
}

static void
test_ipv6 (void)
{
  g_autoptr (NbNetworkMap) map = sample_map ();
  g_auto (NbNmIpConfig) cfg = { 0 };
  g_autoptr (GError) error = NULL;
  NbNmIpParams params = { .tundev = "wt0", .own_key = own_key };
  g_autoptr (GVariant) addr = NULL;
  g_autoptr (GVariant) dns = NULL;
  g_autoptr (GVariant) routes = NULL;
  guint8 expect[16];
  gboolean b;
  guint32 u;
  gsize n;

  map->own->address_v6 = g_strdup ("fd00:1::5/64");
  g_assert_true (nb_nm_ip_config_build (map, &params, &cfg, &error));
  g_assert_nonnull (cfg.ip6);
  g_assert_true (g_variant_lookup (cfg.config, NM_VPN_PLUGIN_CONFIG_HAS_IP6, "b", &b));
  g_assert_true (b);
  addr = g_variant_lookup_value (cfg.ip6, NM_VPN_PLUGIN_IP6_CONFIG_ADDRESS, G_VARIANT_TYPE ("ay"));
  g_assert_nonnull (addr);
  g_assert_cmpint (inet_pton (AF_INET6, "fd00:1::5", expect), ==, 1);
  g_assert_cmpmem (g_variant_get_fixed_array (addr, &n, 1), 16, expect, 16);
  g_assert_true (g_variant_lookup (cfg.ip6, NM_VPN_PLUGIN_IP6_CONFIG_PREFIX, "u", &u));
  g_assert_cmpuint (u, ==, 64);
  dns = g_variant_lookup_value (cfg.ip6, NM_VPN_PLUGIN_IP6_CONFIG_DNS, G_VARIANT_TYPE ("aay"));
  g_assert_nonnull (dns);
  g_assert_cmpuint (g_variant_n_children (dns), ==, 1);
  g_assert_true (g_variant_lookup (cfg.ip6, NM_VPN_PLUGIN_IP6_CONFIG_NEVER_DEFAULT, "b", &b));
  g_assert_true (b);
  /* fd00:1::9/128 lies inside the own /64: no route needed. */
  routes = g_variant_lookup_value (cfg.ip6, NM_VPN_PLUGIN_IP6_CONFIG_ROUTES, G_VARIANT_TYPE ("a(ayuayu)"));
  g_assert_null (routes);
}

static void
test_no_address (void)
{
  g_autoptr (NbNetworkMap) map = nb_network_map_new ();
  g_auto (NbNmIpConfig) cfg = { 0 };
  g_autoptr (GError) error = NULL;
  NbNmIpParams params = { .tundev = "wt0" };

  g_assert_false (nb_nm_ip_config_build (map, &params, &cfg, &error));
  g_assert_error (error, NB_NM_IP_CONFIG_ERROR, NB_NM_IP_CONFIG_ERROR_NO_ADDRESS);
  g_assert_null (cfg.config);
  g_clear_error (&error);

  map->own = g_new0 (NbPeerConfig, 1);
  map->own->address = g_strdup ("not-an-address");
  g_assert_false (nb_nm_ip_config_build (map, &params, &cfg, &error));
  g_assert_error (error, NB_NM_IP_CONFIG_ERROR, NB_NM_IP_CONFIG_ERROR_NO_ADDRESS);
  g_clear_error (&error);

  params.tundev = NULL;
  g_assert_false (nb_nm_ip_config_build (map, &params, &cfg, &error));
  g_assert_error (error, NB_NM_IP_CONFIG_ERROR, NB_NM_IP_CONFIG_ERROR_INVALID);
}

/* The exit node in use: its /0 makes NetworkManager's default route
 * (never-default off) and is not among the routes; another /0 is not. */
static void
test_exit_node (void)
{
  g_autoptr (NbNetworkMap) map = sample_map ();
  NbNmIpParams params = { .tundev = "wt0", .own_key = own_key, .exit_net_id = "exit-b" };
  gboolean b;

  for (guint i = 0; i < map->routes->len; i++)
    {
      NbRoute *r = map->routes->pdata[i];

      if (g_strcmp0 (r->network, "0.0.0.0/0") == 0)
        r->net_id = g_strdup ("exit-b");
    }
  add_route (map, "::/0", peer_key[1], FALSE, NULL);
  ((NbRoute *) map->routes->pdata[map->routes->len - 1])->net_id = g_strdup ("exit-b");
  map->own->address_v6 = g_strdup ("fd00:4e42::5/64");

  {
    g_auto (NbNmIpConfig) cfg = { 0 };
    g_autoptr (GError) error = NULL;
    g_autoptr (GVariant) routes = NULL;

    g_assert_true (nb_nm_ip_config_build (map, &params, &cfg, &error));
    g_assert_true (cfg.default4);
    g_assert_true (cfg.default6);
    g_assert_cmpuint (cfg.n_exit_routes, ==, 0);
    g_assert_true (g_variant_lookup (cfg.ip4, NM_VPN_PLUGIN_IP4_CONFIG_NEVER_DEFAULT, "b", &b));
    g_assert_false (b);
    g_assert_true (g_variant_lookup (cfg.ip6, NM_VPN_PLUGIN_IP6_CONFIG_NEVER_DEFAULT, "b", &b));
    g_assert_false (b);
    routes = g_variant_lookup_value (cfg.ip4, NM_VPN_PLUGIN_IP4_CONFIG_ROUTES, G_VARIANT_TYPE ("aau"));
    g_assert_cmpuint (g_variant_n_children (routes), ==, 2);   /* no /0 among them */
  }

  params.exit_net_id = "another";
  {
    g_auto (NbNmIpConfig) cfg = { 0 };
    g_autoptr (GError) error = NULL;

    g_assert_true (nb_nm_ip_config_build (map, &params, &cfg, &error));
    g_assert_false (cfg.default4);
    g_assert_false (cfg.default6);
    g_assert_cmpuint (cfg.n_exit_routes, ==, 2);
    g_assert_true (g_variant_lookup (cfg.ip4, NM_VPN_PLUGIN_IP4_CONFIG_NEVER_DEFAULT, "b", &b));
    g_assert_true (b);
    g_assert_true (g_variant_lookup (cfg.ip6, NM_VPN_PLUGIN_IP6_CONFIG_NEVER_DEFAULT, "b", &b));
    g_assert_true (b);
  }
}

static NbCustomZone *
add_zone (NbNetworkMap *map, const char *domain, gboolean search_disabled)
{
  NbCustomZone *zone = g_new0 (NbCustomZone, 1);
  NbDnsRecord *record = g_new0 (NbDnsRecord, 1);

  zone->domain = g_strdup (domain);
  zone->search_domain_disabled = search_disabled;
  zone->records = g_ptr_array_new_with_free_func ((GDestroyNotify) nb_dns_record_free);
  record->name = g_strdup ("a.netbird.cloud");
  record->type = 1;
  record->record_class = g_strdup ("IN");
  record->ttl = 300;
  record->rdata = g_strdup ("100.64.0.7");
  g_ptr_array_add (zone->records, record);
  g_ptr_array_add (map->dns->custom_zones, zone);
  return zone;
}

/* The IPv4 dictionary built for @map (asserted to build). */
static GVariant *
ip4_of (const NbNetworkMap *map, const NbNmIpParams *params)
{
  g_auto (NbNmIpConfig) cfg = { 0 };
  g_autoptr (GError) error = NULL;

  g_assert_true (nb_nm_ip_config_build (map, params, &cfg, &error));
  g_assert_no_error (error);
  return g_variant_ref (cfg.ip4);
}

/* The DNS servers of @ip4 as dotted text, joined by spaces. */
static char *
servers_of (GVariant *ip4)
{
  g_autoptr (GVariant) dns = g_variant_lookup_value (ip4, NM_VPN_PLUGIN_IP4_CONFIG_DNS, G_VARIANT_TYPE ("au"));
  g_autoptr (GString) out = g_string_new (NULL);
  const guint32 *vals;
  gsize n;

  vals = g_variant_get_fixed_array (dns, &n, sizeof (guint32));
  for (gsize i = 0; i < n; i++)
    {
      char text[INET_ADDRSTRLEN];

      g_string_append_printf (out, "%s%s", i ? " " : "", inet_ntop (AF_INET, &vals[i], text, sizeof text));
    }
  return g_strdup (out->str);
}

/* The domains of @ip4 joined by spaces. */
static char *
domains_of (GVariant *ip4)
{
  g_autofree const char **domains = NULL;

  g_assert_true (g_variant_lookup (ip4, NM_VPN_PLUGIN_IP4_CONFIG_DOMAINS, "^a&s", &domains));
  return g_strjoinv (" ", (char **) domains);
}

/* Peer names: our resolver first, the zones' domains first (search, or
 * routing-only when the zone disables search); without a resolver, or
 * without zones, nothing of it. */
static void
test_peer_names (void)
{
  g_autoptr (NbNetworkMap) map = sample_map ();
  g_autoptr (GInetAddress) own = g_inet_address_new_from_string ("100.64.0.5");
  NbNmIpParams params = { .tundev = "wt0", .own_key = own_key, .dns_server = own };
  g_autoptr (GVariant) with_zones = NULL;
  g_autoptr (GVariant) no_server = NULL;
  g_autoptr (GVariant) no_zones = NULL;
  g_autofree char *servers = NULL;
  g_autofree char *domains = NULL;
  g_autofree char *servers_no_zones = NULL;
  g_autofree char *domains_no_server = NULL;

  g_ptr_array_unref (map->dns->custom_zones);
  map->dns->custom_zones = g_ptr_array_new_with_free_func ((GDestroyNotify) nb_custom_zone_free);
  add_zone (map, "netbird.cloud.", FALSE);
  add_zone (map, "hidden.example", TRUE);

  with_zones = ip4_of (map, &params);
  servers = servers_of (with_zones);
  domains = domains_of (with_zones);
  g_assert_cmpstr (servers, ==, "100.64.0.5 100.64.0.53 10.0.0.53");
  g_assert_cmpstr (domains, ==, "netbird.cloud ~hidden.example ~corp.example lab.example corp.example");

  params.dns_server = NULL;
  no_server = ip4_of (map, &params);
  domains_no_server = domains_of (no_server);
  g_assert_cmpstr (domains_no_server, ==, "~corp.example lab.example corp.example");

  params.dns_server = own;
  g_ptr_array_set_size (map->dns->custom_zones, 0);
  no_zones = ip4_of (map, &params);
  servers_no_zones = servers_of (no_zones);
  g_assert_cmpstr (servers_no_zones, ==, "100.64.0.53 10.0.0.53");
}

/* A map without routes, peers or DNS: just the address. */
static void
test_minimal (void)
{
  g_autoptr (NbNetworkMap) map = nb_network_map_new ();
  g_auto (NbNmIpConfig) cfg = { 0 };
  g_autoptr (GError) error = NULL;
  NbNmIpParams params = { .tundev = "wt0" };
  guint32 u;

  map->own = g_new0 (NbPeerConfig, 1);
  map->own->address = g_strdup ("100.127.1.2/10");
  g_assert_true (nb_nm_ip_config_build (map, &params, &cfg, &error));
  g_assert_true (g_variant_lookup (cfg.config, NM_VPN_PLUGIN_CONFIG_MTU, "u", &u));
  g_assert_cmpuint (u, ==, NB_NETWORK_MAP_DEFAULT_MTU);
  g_assert_true (g_variant_lookup (cfg.ip4, NM_VPN_PLUGIN_IP4_CONFIG_PREFIX, "u", &u));
  g_assert_cmpuint (u, ==, 10);
  g_assert_false (g_variant_lookup (cfg.ip4, NM_VPN_PLUGIN_IP4_CONFIG_ROUTES, "aau", NULL));
  g_assert_false (g_variant_lookup (cfg.ip4, NM_VPN_PLUGIN_IP4_CONFIG_DNS, "au", NULL));
  g_assert_false (g_variant_lookup (cfg.ip4, NM_VPN_PLUGIN_IP4_CONFIG_DOMAINS, "as", NULL));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  keys_init ();
  g_test_add_func ("/nm-ip-config/ipv4-map", test_ipv4_map);
  g_test_add_func ("/nm-ip-config/mtu-and-gateway-defaults", test_mtu_and_gateway_defaults);
  g_test_add_func ("/nm-ip-config/ipv6", test_ipv6);
  g_test_add_func ("/nm-ip-config/no-address", test_no_address);
  g_test_add_func ("/nm-ip-config/minimal", test_minimal);
  g_test_add_func ("/nm-ip-config/exit-node", test_exit_node);
  g_test_add_func ("/nm-ip-config/peer-names", test_peer_names);
  return g_test_run ();
}
