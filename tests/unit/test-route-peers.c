/* SPDX-License-Identifier: GPL-2.0-or-later
 * Tests service/engine/route-peers.c: which remote peer carries which
 * routed network (own, domain and exit-node routes left out, one routing
 * peer per network: connected, then metric, then key), and the peer copy
 * with extended allowed IPs. */
#include "config.h"

#include <string.h>

#include "route-peers.h"

#define OWN   "OOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOA="
#define KEY_A "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
#define KEY_B "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBA="
#define KEY_C "CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCA="

static NbRoute *
route_new (const char *id, const char *network, const char *peer, gint64 metric, const char *net_id)
{
  NbRoute *r = g_new0 (NbRoute, 1);

  r->id = g_strdup (id);
  r->network = g_strdup (network);
  r->domains = g_new0 (char *, 1);
  r->peer = g_strdup (peer);
  r->metric = metric;
  r->net_id = g_strdup (net_id ? net_id : id);
  return r;
}

static GPtrArray *
routes_new (void)
{
  return g_ptr_array_new_with_free_func ((GDestroyNotify) nb_route_free);
}

static GPtrArray *
peers_of (const char *first, ...)
{
  GPtrArray *peers = g_ptr_array_new_with_free_func ((GDestroyNotify) nb_remote_peer_free);
  va_list ap;
  guint n = 1;

  va_start (ap, first);
  for (const char *key = first; key != NULL; key = va_arg (ap, const char *), n++)
    {
      g_autofree char *ip = g_strdup_printf ("100.64.0.%u/32", n);
      const char *ips[] = { ip, NULL };

      g_ptr_array_add (peers, nb_remote_peer_new (key, ips, NULL, NULL));
    }
  va_end (ap);
  return peers;
}

static GHashTable *
set_of (const char *first, ...)
{
  GHashTable *set = g_hash_table_new (g_str_hash, g_str_equal);
  va_list ap;

  va_start (ap, first);
  for (const char *key = first; key != NULL; key = va_arg (ap, const char *))
    g_hash_table_add (set, (gpointer) key);
  va_end (ap);
  return set;
}

/* "a,b" for the peer's list, "" when absent. */
static char *
carried (GHashTable *result, const char *key)
{
  char **list = g_hash_table_lookup (result, key);

  return list ? g_strjoinv (",", list) : g_strdup ("");
}

static void
assert_carried (GHashTable *result, const char *key, const char *expected)
{
  g_autofree char *got = carried (result, key);

  g_assert_cmpstr (got, ==, expected);
}

static void
test_basic (void)
{
  g_autoptr (GPtrArray) routes = routes_new ();
  g_autoptr (GPtrArray) peers = peers_of (KEY_A, KEY_B, NULL);
  g_autoptr (GHashTable) result = NULL;
  NbRoute *domain;

  g_ptr_array_add (routes, route_new ("r1", "10.99.0.0/24", KEY_A, 9999, NULL));
  /* Host bits set: normalised. */
  g_ptr_array_add (routes, route_new ("r2", "192.168.7.9/16", KEY_A, 9999, NULL));
  g_ptr_array_add (routes, route_new ("r3", "fd00:1::/64", KEY_B, 10, NULL));
  /* Our own route: we are the router. */
  g_ptr_array_add (routes, route_new ("r4", "10.1.0.0/16", OWN, 1, NULL));
  /* Exit nodes: left out unless chosen by network ID. */
  g_ptr_array_add (routes, route_new ("r5", "0.0.0.0/0", KEY_B, 1, "exit"));
  g_ptr_array_add (routes, route_new ("r6", "::/0", KEY_B, 1, "exit"));
  /* A domain route. */
  domain = route_new ("r7", NULL, KEY_B, 1, NULL);
  g_strfreev (domain->domains);
  domain->domains = g_strsplit ("example.com", ",", -1);
  g_ptr_array_add (routes, domain);
  /* A routing peer we do not know. */
  g_ptr_array_add (routes, route_new ("r8", "10.50.0.0/16", KEY_C, 1, NULL));
  /* Garbage is dropped, not fatal. */
  g_ptr_array_add (routes, route_new ("r9", "10.0.0.0/33", KEY_A, 1, NULL));

  g_test_expect_message ("nb-route", G_LOG_LEVEL_WARNING, "*r9*");
  result = nb_route_peers_compute (routes, OWN, peers, NULL, NULL);
  g_test_assert_expected_messages ();
  g_assert_cmpuint (g_hash_table_size (result), ==, 2);
  assert_carried (result, KEY_A, "10.99.0.0/24,192.168.0.0/16");
  assert_carried (result, KEY_B, "fd00:1::/64");
  assert_carried (result, OWN, "");
  assert_carried (result, KEY_C, "");
  g_clear_pointer (&result, g_hash_table_unref);

  /* Any routing peer when no peer list is given. */
  g_test_expect_message ("nb-route", G_LOG_LEVEL_WARNING, "*r9*");
  result = nb_route_peers_compute (routes, OWN, NULL, NULL, NULL);
  g_test_assert_expected_messages ();
  assert_carried (result, KEY_C, "10.50.0.0/16");
  g_clear_pointer (&result, g_hash_table_unref);

  /* An exit node was chosen. */
  g_test_expect_message ("nb-route", G_LOG_LEVEL_WARNING, "*r9*");
  result = nb_route_peers_compute (routes, OWN, peers, NULL, "exit");
  g_test_assert_expected_messages ();
  assert_carried (result, KEY_B, "0.0.0.0/0,::/0,fd00:1::/64");
  g_clear_pointer (&result, g_hash_table_unref);

  /* Another network ID: still left out. */
  g_test_expect_message ("nb-route", G_LOG_LEVEL_WARNING, "*r9*");
  result = nb_route_peers_compute (routes, OWN, peers, NULL, "other");
  g_test_assert_expected_messages ();
  assert_carried (result, KEY_B, "fd00:1::/64");
}

static void
test_choose_exit (void)
{
  g_autoptr (GPtrArray) routes = routes_new ();
  g_autoptr (GPtrArray) peers = peers_of (KEY_A, KEY_B, NULL);
  NbRoute *skipped;

  g_assert_null (nb_route_peers_choose_exit (routes, OWN, peers, NULL));
  g_ptr_array_add (routes, route_new ("r1", "10.0.0.0/8", KEY_A, 1, "lan"));
  /* Our own exit route: we are the exit node, not its user. */
  g_ptr_array_add (routes, route_new ("r2", "0.0.0.0/0", OWN, 1, "a-own"));
  g_ptr_array_add (routes, route_new ("r3", "0.0.0.0/0", KEY_B, 1, "exit-b"));
  g_ptr_array_add (routes, route_new ("r4", "0.0.0.0/0", KEY_A, 1, "exit-a"));
  skipped = route_new ("r5", "0.0.0.0/0", KEY_A, 1, "aaa-manual");
  skipped->skip_auto_apply = TRUE;
  g_ptr_array_add (routes, skipped);
  /* A routing peer not in the map. */
  g_ptr_array_add (routes, route_new ("r6", "::/0", KEY_C, 1, "a-unknown"));

  /* auto: management's auto-apply routes, smallest network ID. */
  g_assert_cmpstr (nb_route_peers_choose_exit (routes, OWN, peers, NULL), ==, "exit-a");
  g_assert_cmpstr (nb_route_peers_choose_exit (routes, OWN, peers, ""), ==, "exit-a");
  g_assert_cmpstr (nb_route_peers_choose_exit (routes, OWN, peers, "auto"), ==, "exit-a");
  /* Without a peer list, the unknown routing peer counts. */
  g_assert_cmpstr (nb_route_peers_choose_exit (routes, OWN, NULL, "auto"), ==, "a-unknown");
  g_assert_null (nb_route_peers_choose_exit (routes, OWN, peers, "none"));
  /* A user's pick wins even when management skips auto-apply for it. */
  g_assert_cmpstr (nb_route_peers_choose_exit (routes, OWN, peers, "aaa-manual"), ==, "aaa-manual");
  g_assert_cmpstr (nb_route_peers_choose_exit (routes, OWN, peers, "exit-b"), ==, "exit-b");
  /* Not an exit route, our own, unknown: none, and no other in its place. */
  g_assert_null (nb_route_peers_choose_exit (routes, OWN, peers, "lan"));
  g_assert_null (nb_route_peers_choose_exit (routes, OWN, peers, "a-own"));
  g_assert_null (nb_route_peers_choose_exit (routes, OWN, peers, "missing"));

  /* Only skipped ones left: auto takes none. */
  g_ptr_array_remove_range (routes, 2, 2);
  g_assert_null (nb_route_peers_choose_exit (routes, OWN, peers, "auto"));
  g_assert_true (nb_route_is_exit_node (routes->pdata[2]));
  g_assert_false (nb_route_is_exit_node (routes->pdata[0]));
}

static void
test_empty (void)
{
  g_autoptr (GPtrArray) routes = routes_new ();
  g_autoptr (GHashTable) result = nb_route_peers_compute (routes, OWN, NULL, NULL, NULL);
  g_autoptr (GHashTable) result2 = nb_route_peers_compute (NULL, NULL, NULL, NULL, NULL);

  g_assert_cmpuint (g_hash_table_size (result), ==, 0);
  g_assert_cmpuint (g_hash_table_size (result2), ==, 0);
}

/* Several routing peers for one network (NetBird's HA routes). */
static void
test_high_availability (void)
{
  g_autoptr (GPtrArray) routes = routes_new ();
  g_autoptr (GPtrArray) peers = peers_of (KEY_A, KEY_B, KEY_C, NULL);
  g_autoptr (GHashTable) none = set_of (NULL, NULL);
  g_autoptr (GHashTable) only_b = set_of (KEY_B, NULL);
  g_autoptr (GHashTable) b_and_c = set_of (KEY_B, KEY_C, NULL);
  g_autoptr (GHashTable) all = set_of (KEY_A, KEY_B, KEY_C, NULL);
  GHashTable *r;

  g_ptr_array_add (routes, route_new ("h1", "10.99.0.0/24", KEY_B, 100, "net"));
  g_ptr_array_add (routes, route_new ("h2", "10.99.0.0/24", KEY_C, 100, "net"));
  g_ptr_array_add (routes, route_new ("h3", "10.99.0.0/24", KEY_A, 200, "net"));
  /* Same prefix under another net_id, written differently: the same
   * WireGuard allowed IP, so the same group. */
  g_ptr_array_add (routes, route_new ("h4", "10.99.0.7/24", KEY_A, 300, "other"));

  /* Nobody connected: lowest metric, then lowest key. */
  r = nb_route_peers_compute (routes, OWN, peers, none, NULL);
  assert_carried (r, KEY_B, "10.99.0.0/24");
  g_assert_cmpuint (g_hash_table_size (r), ==, 1);
  g_hash_table_unref (r);

  /* NULL connected set: the same. */
  r = nb_route_peers_compute (routes, OWN, peers, NULL, NULL);
  assert_carried (r, KEY_B, "10.99.0.0/24");
  g_hash_table_unref (r);

  /* Connected beats metric. */
  g_hash_table_remove_all (none);
  g_hash_table_add (none, (gpointer) KEY_A);
  r = nb_route_peers_compute (routes, OWN, peers, none, NULL);
  assert_carried (r, KEY_A, "10.99.0.0/24");
  assert_carried (r, KEY_B, "");
  g_hash_table_unref (r);

  r = nb_route_peers_compute (routes, OWN, peers, only_b, NULL);
  assert_carried (r, KEY_B, "10.99.0.0/24");
  g_hash_table_unref (r);

  /* Among connected ones: metric, then key (C > B). */
  r = nb_route_peers_compute (routes, OWN, peers, b_and_c, NULL);
  assert_carried (r, KEY_B, "10.99.0.0/24");
  assert_carried (r, KEY_C, "");
  g_hash_table_unref (r);

  r = nb_route_peers_compute (routes, OWN, peers, all, NULL);
  assert_carried (r, KEY_B, "10.99.0.0/24");
  g_assert_cmpuint (g_hash_table_size (r), ==, 1);
  g_hash_table_unref (r);

  /* B leaves the map: C (metric 100) over A (200). */
  g_ptr_array_remove_index (peers, 1);
  r = nb_route_peers_compute (routes, OWN, peers, none, NULL);
  assert_carried (r, KEY_A, "10.99.0.0/24"); /* A is connected */
  g_hash_table_unref (r);
  r = nb_route_peers_compute (routes, OWN, peers, NULL, NULL);
  assert_carried (r, KEY_C, "10.99.0.0/24");
  g_hash_table_unref (r);
}

/* The order of routes in the map does not matter. */
static void
test_order_independent (void)
{
  g_autoptr (GPtrArray) forward = routes_new ();
  g_autoptr (GPtrArray) backward = routes_new ();
  g_autoptr (GHashTable) r1 = NULL;
  g_autoptr (GHashTable) r2 = NULL;

  g_ptr_array_add (forward, route_new ("x1", "10.2.0.0/16", KEY_A, 5, NULL));
  g_ptr_array_add (forward, route_new ("x2", "10.2.0.0/16", KEY_B, 5, NULL));
  g_ptr_array_add (forward, route_new ("x3", "10.1.0.0/16", KEY_B, 5, NULL));
  for (guint i = forward->len; i > 0; i--)
    g_ptr_array_add (backward, nb_route_copy (forward->pdata[i - 1]));
  r1 = nb_route_peers_compute (forward, OWN, NULL, NULL, NULL);
  r2 = nb_route_peers_compute (backward, OWN, NULL, NULL, NULL);
  assert_carried (r1, KEY_A, "10.2.0.0/16");
  assert_carried (r1, KEY_B, "10.1.0.0/16");
  assert_carried (r2, KEY_A, "10.2.0.0/16");
  assert_carried (r2, KEY_B, "10.1.0.0/16");
}

static void
test_extend_peer (void)
{
  const char *ips[] = { "100.64.0.2/32", "fd00::2/128", NULL };
  const char *extra[] = { "10.99.0.0/24", "100.64.0.2/32", "fd00:0::2/128", "192.168.1.0/24", NULL };
  g_autoptr (NbRemotePeer) peer = nb_remote_peer_new (KEY_A, ips, "a.netbird.test", "0.60.0");
  g_autoptr (NbRemotePeer) plain = nb_route_peers_extend_peer (peer, NULL);
  g_autoptr (NbRemotePeer) routed = nb_route_peers_extend_peer (peer, extra);
  g_autofree char *joined = NULL;

  g_assert_true (nb_remote_peer_equal (plain, peer));
  joined = g_strjoinv (",", routed->allowed_ips);
  /* Own IPs first (the overlay address stays first), duplicates once. */
  g_assert_cmpstr (joined, ==, "100.64.0.2/32,fd00::2/128,10.99.0.0/24,192.168.1.0/24");
  g_assert_cmpstr (routed->key, ==, KEY_A);
  g_assert_cmpstr (routed->fqdn, ==, "a.netbird.test");
  g_assert_cmpstr (routed->agent_version, ==, "0.60.0");
  /* The input is untouched. */
  g_assert_cmpuint (g_strv_length (peer->allowed_ips), ==, 2);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/route-peers/basic", test_basic);
  g_test_add_func ("/route-peers/empty", test_empty);
  g_test_add_func ("/route-peers/choose-exit", test_choose_exit);
  g_test_add_func ("/route-peers/high-availability", test_high_availability);
  g_test_add_func ("/route-peers/order-independent", test_order_independent);
  g_test_add_func ("/route-peers/extend-peer", test_extend_peer);
  return g_test_run ();
}
