/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include "fuzz-netmap-check.h"

#include <string.h>

#include <gio/gio.h>

#include "fuzz-common.h"
#include "relay-client.h"
#include "wg-key.h"

static void
check_text (const char *text)
{
  g_assert_nonnull (text);
  g_assert_true (g_utf8_validate (text, -1, NULL));
}

static void
check_key (const char *key)
{
  NbWgKey k = NB_WG_KEY_INIT;

  g_assert_nonnull (key);
  g_assert_true (nb_wg_key_from_base64 (key, &k, NULL));
  g_assert_false (nb_wg_key_is_zero (&k));
}

static void
check_strv (char **strv)
{
  g_assert_nonnull (strv);
  for (char **s = strv; *s; s++)
    check_text (*s);
}

/* URI schemes are case-insensitive (RFC 3986); something must follow. */
static gboolean
has_prefix (const char *text, const char *a, const char *b)
{
  return (g_ascii_strncasecmp (text, a, strlen (a)) == 0 && text[strlen (a)]) ||
         (g_ascii_strncasecmp (text, b, strlen (b)) == 0 && text[strlen (b)]);
}

static void
check_peers (GPtrArray *peers, const char *own_key)
{
  g_autoptr(GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);

  g_assert_nonnull (peers);
  for (guint i = 0; i < peers->len; i++)
    {
      const NbRemotePeer *p = g_ptr_array_index (peers, i);
      g_autoptr(NbRemotePeer) copy = nb_remote_peer_copy (p);

      check_key (p->key);
      g_assert_cmpstr (p->key, !=, own_key);
      g_assert_false (g_hash_table_contains (seen, p->key));
      g_hash_table_add (seen, p->key);
      g_assert_nonnull (p->allowed_ips);
      for (char **ip = p->allowed_ips; *ip; ip++)
        g_assert_true (nb_cidr_is_valid (*ip));
      check_text (p->fqdn);
      check_text (p->agent_version);
      g_assert_true (nb_remote_peer_equal (p, copy));
    }
}

static void
check_config (const NbNetbirdConfig *c)
{
  g_autoptr(NbNetbirdConfig) copy = nb_netbird_config_copy (c);

  g_assert_nonnull (c->stuns);
  g_assert_nonnull (c->turns);
  for (guint i = 0; i < c->stuns->len; i++)
    {
      const NbHostConfig *h = g_ptr_array_index (c->stuns, i);

      g_assert_true (has_prefix (h->uri, "stun:", "stuns:"));
      g_assert_nonnull (nb_host_protocol_to_string (h->protocol));
    }
  for (guint i = 0; i < c->turns->len; i++)
    {
      const NbTurnConfig *t = g_ptr_array_index (c->turns, i);
      g_autoptr(NbTurnConfig) tcopy = nb_turn_config_copy (t);

      g_assert_true (has_prefix (t->uri, "turn:", "turns:"));
      g_assert_nonnull (t->user);
      g_assert_nonnull (t->password);
      g_assert_true (nb_turn_config_equal (t, tcopy));
      nb_turn_config_wipe (tcopy);
      g_assert_cmpstr (tcopy->password, ==, "");
    }
  if (c->signal)
    {
      check_text (c->signal->uri);
      g_assert_nonnull (nb_host_protocol_to_string (c->signal->protocol));
    }
  if (c->relay)
    {
      g_assert_nonnull (c->relay->urls);
      g_assert_nonnull (c->relay->token_payload);
      g_assert_nonnull (c->relay->token_signature);
      for (char **u = c->relay->urls; *u; u++)
        {
          g_autofree char *ws = NULL;

          g_assert_true (has_prefix (*u, "rel://", "rels://"));
          /* What the relay client then does with it. */
          ws = nb_relay_url_to_websocket (*u, NULL);
        }
    }
  g_assert_true (nb_netbird_config_equal (c, copy));
}

static void
check_own (const NbPeerConfig *own)
{
  g_autoptr(NbPeerConfig) copy = nb_peer_config_copy (own);

  g_assert_true (nb_cidr_is_valid (own->address));
  g_assert_true (own->address_v6 == NULL || nb_cidr_is_valid (own->address_v6));
  check_text (own->fqdn);
  check_text (own->dns_domain);
  g_assert_true (g_str_has_suffix (own->fqdn, own->dns_domain));
  g_assert_cmpuint (own->mtu, >=, 576);
  g_assert_cmpuint (own->mtu, <=, 65535);
  g_assert_true (nb_peer_config_equal (own, copy));
}

static void
check_dns (const NbDnsConfig *dns)
{
  g_autoptr(NbDnsConfig) copy = nb_dns_config_copy (dns);

  g_assert_nonnull (dns->nameserver_groups);
  g_assert_nonnull (dns->custom_zones);
  g_assert_cmpuint (copy->nameserver_groups->len, ==, dns->nameserver_groups->len);
  g_assert_cmpuint (copy->custom_zones->len, ==, dns->custom_zones->len);
  for (guint i = 0; i < dns->nameserver_groups->len; i++)
    {
      const NbNameServerGroup *g = g_ptr_array_index (dns->nameserver_groups, i);

      g_assert_nonnull (g->nameservers);
      check_strv (g->domains);
      for (guint j = 0; j < g->nameservers->len; j++)
        {
          const NbNameServer *ns = g_ptr_array_index (g->nameservers, j);
          g_autoptr(GInetAddress) addr = g_inet_address_new_from_string (ns->ip);

          g_assert_nonnull (addr);
          g_assert_cmpuint (ns->port, !=, 0);
        }
    }
  for (guint i = 0; i < dns->custom_zones->len; i++)
    {
      const NbCustomZone *z = g_ptr_array_index (dns->custom_zones, i);

      check_text (z->domain);
      g_assert_nonnull (z->records);
      for (guint j = 0; j < z->records->len; j++)
        {
          const NbDnsRecord *r = g_ptr_array_index (z->records, j);

          check_text (r->name);
          check_text (r->record_class);
          check_text (r->rdata);
        }
    }
}

void
fuzz_netmap_check (const NbNetworkMap *map, const char *own_key)
{
  g_autoptr(NbNetworkMap) copy = nb_network_map_copy (map);
  g_autoptr(NbNetworkMapDiff) diff = NULL;
  g_autoptr(NbNetworkMapDiff) diff2 = NULL;
  g_autoptr(NbNetworkMapDiff) self_diff = NULL;
  g_autoptr(NbNetworkMap) state = NULL;
  g_autoptr(NbNetworkMap) state2 = NULL;

  check_peers (map->peers, own_key);
  check_peers (map->offline_peers, own_key);
  g_assert_nonnull (map->routes);
  for (guint i = 0; i < map->routes->len; i++)
    {
      const NbRoute *r = g_ptr_array_index (map->routes, i);
      g_autoptr(NbRoute) rcopy = nb_route_copy (r);

      check_text (r->id);
      check_strv (r->domains);
      g_assert_true (r->domains[0] != NULL || (r->network && nb_cidr_is_valid (r->network)));
      check_key (r->peer);
      check_text (r->net_id);
      g_assert_cmpstr (rcopy->id, ==, r->id);
      g_assert_cmpstr (rcopy->network, ==, r->network);
      g_assert_cmpstr (rcopy->peer, ==, r->peer);
    }
  for (guint i = 0; i < map->peers->len; i++)
    {
      const NbRemotePeer *p = g_ptr_array_index (map->peers, i);
      g_assert_true (nb_network_map_find_peer (map, p->key) == p);
    }
  if (map->own)
    check_own (map->own);
  if (map->dns)
    check_dns (map->dns);
  if (map->config)
    check_config (map->config);

  /* A copy is the same map. */
  self_diff = nb_network_map_diff (map, copy);
  g_assert_false (self_diff->stale);
  g_assert_true (nb_network_map_diff_is_empty (self_diff));

  /* Applying it twice: the second time changes nothing. */
  state = nb_network_map_apply (NULL, map, &diff);
  g_assert_nonnull (state);
  g_assert_nonnull (diff);
  g_assert_nonnull (diff->added);
  g_assert_nonnull (diff->removed);
  g_assert_nonnull (diff->updated);
  g_assert_cmpuint (diff->removed->len, ==, 0);
  state2 = nb_network_map_apply (state, map, &diff2);
  g_assert_false (diff2->stale);
  g_assert_true (nb_network_map_diff_is_empty (diff2));
  g_assert_false (nb_network_map_diff_has_peer_changes (diff2));
}
