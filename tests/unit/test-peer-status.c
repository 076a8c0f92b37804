/* SPDX-License-Identifier: GPL-2.0-or-later
 * Tests service/engine/peer-status.c: records, change masks, "last change"
 * only on real changes, coalesced signals, `netbird status -d` text. */
#include "config.h"

#include <string.h>

#include "peer-status.h"

#define SEC ((gint64) G_USEC_PER_SEC)
#define KEY_A "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
#define KEY_B "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBA="

static void
flush (void)
{
  while (g_main_context_iteration (NULL, FALSE))
    ;
}

typedef struct {
  gint64 now;
  NbStatusRecorder *rec;
  GPtrArray *log;               /* char *: "added KEY", "changed KEY 0x..", ... */
} Fixture;

static gint64
fake_now (gpointer data)
{
  return ((Fixture *) data)->now;
}

static void
on_added (NbStatusRecorder *rec, const char *key, gpointer user_data)
{
  Fixture *f = user_data;

  g_assert_nonnull (nb_status_recorder_get_peer (rec, key));
  g_ptr_array_add (f->log, g_strdup_printf ("added %s", key));
}

static void
on_removed (NbStatusRecorder *rec, const char *key, gpointer user_data)
{
  g_ptr_array_add (((Fixture *) user_data)->log, g_strdup_printf ("removed %s", key));
}

static void
on_changed (NbStatusRecorder *rec, const char *key, guint mask, gpointer user_data)
{
  g_ptr_array_add (((Fixture *) user_data)->log, g_strdup_printf ("changed %s 0x%x", key, mask));
}

static void
on_service (NbStatusRecorder *rec, guint service, const char *url, gpointer user_data)
{
  g_ptr_array_add (((Fixture *) user_data)->log, g_strdup_printf ("service %u %s", service, url ? url : "(null)"));
}

static void
on_local (NbStatusRecorder *rec, gpointer user_data)
{
  g_ptr_array_add (((Fixture *) user_data)->log, g_strdup ("local"));
}

static void
fixture_init (Fixture *f)
{
  f->now = 1000 * SEC;
  f->log = g_ptr_array_new_with_free_func (g_free);
  f->rec = nb_status_recorder_new ();
  nb_status_recorder_set_clock (f->rec, fake_now, f);
  g_signal_connect (f->rec, "peer-added", G_CALLBACK (on_added), f);
  g_signal_connect (f->rec, "peer-removed", G_CALLBACK (on_removed), f);
  g_signal_connect (f->rec, "peer-changed", G_CALLBACK (on_changed), f);
  g_signal_connect (f->rec, "service-changed", G_CALLBACK (on_service), f);
  g_signal_connect (f->rec, "local-changed", G_CALLBACK (on_local), f);
}

static void
fixture_clear (Fixture *f)
{
  g_clear_object (&f->rec);
  flush ();
  g_ptr_array_unref (f->log);
}

/* The log since the last call, joined with "; ". */
static char *
take_log (Fixture *f)
{
  char *s;

  flush ();
  g_ptr_array_add (f->log, NULL);
  s = g_strjoinv ("; ", (char **) f->log->pdata);
  g_ptr_array_set_size (f->log, 0);
  return s;
}

#define assert_log(f, expected)                   \
  G_STMT_START {                                  \
    g_autofree char *_log = take_log (f);         \
    g_assert_cmpstr (_log, ==, expected);         \
  } G_STMT_END

/* ------------------------------------------------------------------------ */

static void
test_values (void)
{
  g_autoptr (NbPeerStatus) a = nb_peer_status_new (KEY_A);
  g_autoptr (NbPeerStatus) b = NULL;

  g_assert_cmpuint (a->status, ==, NB_PEER_CONN_IDLE);
  g_assert_cmpuint (a->conn_type, ==, NB_PEER_CONN_TYPE_NONE);
  b = nb_peer_status_copy (a);
  g_assert_cmpuint (nb_peer_status_diff (a, b, NB_PEER_FIELDS_ALL), ==, 0);

  b->fqdn = g_strdup ("");     /* "" is NULL */
  g_assert_cmpuint (nb_peer_status_diff (a, b, NB_PEER_FIELDS_ALL), ==, 0);
  b->relay_address = g_strdup ("rels://r:443");
  b->rx_bytes = 1;
  b->rosenpass_enabled = 5;    /* any true */
  a->rosenpass_enabled = TRUE;
  g_assert_cmpuint (nb_peer_status_diff (a, b, NB_PEER_FIELDS_ALL), ==,
                    NB_PEER_FIELD_RELAY_ADDRESS | NB_PEER_FIELD_RX_BYTES);
  g_assert_cmpuint (nb_peer_status_diff (a, b, NB_PEER_FIELDS_TRAFFIC), ==, NB_PEER_FIELD_RX_BYTES);

  /* Networks: never NULL in new records and copies; NULL is empty. */
  g_assert_nonnull (a->networks);
  g_assert_null (a->networks[0]);
  g_clear_pointer (&b->networks, g_strfreev);
  g_assert_cmpuint (nb_peer_status_diff (a, b, NB_PEER_FIELD_NETWORKS), ==, 0);
  {
    g_autoptr (NbPeerStatus) c = nb_peer_status_copy (b);

    g_assert_nonnull (c->networks);
    g_assert_null (c->networks[0]);
    b->networks = g_strsplit ("10.1.0.0/24", ",", -1);
    g_assert_cmpuint (nb_peer_status_diff (a, b, NB_PEER_FIELDS_ALL), ==,
                      NB_PEER_FIELD_RELAY_ADDRESS | NB_PEER_FIELD_RX_BYTES | NB_PEER_FIELD_NETWORKS);
  }

  g_assert_cmpstr (nb_peer_conn_status_to_string (NB_PEER_CONN_DISCONNECTED), ==, "Disconnected");
  g_assert_cmpstr (nb_peer_conn_type_to_string (NB_PEER_CONN_TYPE_RELAYED), ==, "Relayed");
  g_assert_cmpstr (nb_peer_path_status_to_string (NB_PEER_PATH_CONNECTING), ==, "Connecting");
}

static void
test_add_remove (void)
{
  Fixture f;
  const NbPeerStatus *st;

  fixture_init (&f);
  g_assert_true (nb_status_recorder_add_peer (f.rec, KEY_A, "a.netbird.cloud", "100.64.0.1"));
  g_assert_cmpuint (f.log->len, ==, 0); /* not from inside the call */
  g_assert_false (nb_status_recorder_add_peer (f.rec, KEY_A, NULL, NULL));
  assert_log (&f, "added " KEY_A);

  st = nb_status_recorder_get_peer (f.rec, KEY_A);
  g_assert_nonnull (st);
  g_assert_cmpstr (st->fqdn, ==, "a.netbird.cloud");
  g_assert_cmpstr (st->ip, ==, "100.64.0.1");
  g_assert_cmpuint (st->status, ==, NB_PEER_CONN_IDLE);
  g_assert_cmpint (st->last_change, ==, 1000 * SEC);
  g_assert_cmpuint (nb_status_recorder_get_n_peers (f.rec), ==, 1);

  g_assert_true (nb_status_recorder_remove_peer (f.rec, KEY_A));
  g_assert_false (nb_status_recorder_remove_peer (f.rec, KEY_A));
  g_assert_null (nb_status_recorder_get_peer (f.rec, KEY_A));
  assert_log (&f, "removed " KEY_A);

  /* Added and removed within one turn: never announced. */
  nb_status_recorder_add_peer (f.rec, KEY_B, NULL, NULL);
  nb_status_recorder_update_connection (f.rec, KEY_B, NB_PEER_CONN_CONNECTING, NB_PEER_CONN_TYPE_NONE);
  nb_status_recorder_remove_peer (f.rec, KEY_B);
  assert_log (&f, "");

  /* Added and changed within one turn: "peer-added" covers the change. */
  nb_status_recorder_add_peer (f.rec, KEY_B, NULL, NULL);
  nb_status_recorder_update_connection (f.rec, KEY_B, NB_PEER_CONN_CONNECTING, NB_PEER_CONN_TYPE_NONE);
  assert_log (&f, "added " KEY_B);

  /* Removed and added again: both seen. */
  nb_status_recorder_remove_peer (f.rec, KEY_B);
  nb_status_recorder_add_peer (f.rec, KEY_B, NULL, NULL);
  assert_log (&f, "removed " KEY_B "; added " KEY_B);
  fixture_clear (&f);
}

static void
test_change_masks (void)
{
  Fixture f;
  const NbPeerStatus *st;
  NbPeerStatusField m;
  g_autofree char *expected = NULL;

  fixture_init (&f);
  nb_status_recorder_add_peer (f.rec, KEY_A, NULL, "100.64.0.1");
  assert_log (&f, "added " KEY_A);

  f.now = 2000 * SEC;
  m = nb_status_recorder_update_connection (f.rec, KEY_A, NB_PEER_CONN_CONNECTING, NB_PEER_CONN_TYPE_NONE);
  g_assert_cmpuint (m, ==, NB_PEER_FIELD_STATUS | NB_PEER_FIELD_LAST_CHANGE);
  st = nb_status_recorder_get_peer (f.rec, KEY_A);
  g_assert_cmpint (st->last_change, ==, 2000 * SEC);
  expected = g_strdup_printf ("changed " KEY_A " 0x%x", m);
  assert_log (&f, expected);

  /* The same again: no change, no signal, no bump. */
  f.now = 3000 * SEC;
  m = nb_status_recorder_update_connection (f.rec, KEY_A, NB_PEER_CONN_CONNECTING, NB_PEER_CONN_TYPE_NONE);
  g_assert_cmpuint (m, ==, 0);
  g_assert_cmpint (nb_status_recorder_get_peer (f.rec, KEY_A)->last_change, ==, 2000 * SEC);
  assert_log (&f, "");

  /* ICE up. */
  m = nb_status_recorder_update_ice (f.rec, KEY_A, NB_PEER_PATH_CONNECTED, "host", "srflx",
                                     "10.0.0.1:51820", "203.0.113.7:51820");
  g_assert_cmpuint (m, ==, NB_PEER_FIELD_ICE_STATUS | NB_PEER_FIELD_LOCAL_CANDIDATE_TYPE |
                    NB_PEER_FIELD_REMOTE_CANDIDATE_TYPE | NB_PEER_FIELD_LOCAL_ENDPOINT |
                    NB_PEER_FIELD_REMOTE_ENDPOINT | NB_PEER_FIELD_LAST_CHANGE);
  g_assert_cmpint (nb_status_recorder_get_peer (f.rec, KEY_A)->last_change, ==, 3000 * SEC);
  m = nb_status_recorder_update_ice (f.rec, KEY_A, NB_PEER_PATH_CONNECTED, "host", "srflx",
                                     "10.0.0.1:51820", "203.0.113.7:51820");
  g_assert_cmpuint (m, ==, 0);

  /* Only the remote endpoint moved. */
  f.now = 3500 * SEC;
  m = nb_status_recorder_update_ice (f.rec, KEY_A, NB_PEER_PATH_CONNECTED, "host", "srflx",
                                     "10.0.0.1:51820", "203.0.113.7:40000");
  g_assert_cmpuint (m, ==, NB_PEER_FIELD_REMOTE_ENDPOINT | NB_PEER_FIELD_LAST_CHANGE);

  /* Relay: "" and NULL are the same. */
  m = nb_status_recorder_update_relay (f.rec, KEY_A, NB_PEER_PATH_DISCONNECTED, "");
  g_assert_cmpuint (m, ==, 0);
  f.now = 4000 * SEC;
  m = nb_status_recorder_update_relay (f.rec, KEY_A, NB_PEER_PATH_CONNECTED, "rels://relay:443");
  g_assert_cmpuint (m, ==, NB_PEER_FIELD_RELAY_STATUS | NB_PEER_FIELD_RELAY_ADDRESS | NB_PEER_FIELD_LAST_CHANGE);
  m = nb_status_recorder_update_rosenpass (f.rec, KEY_A, TRUE);
  g_assert_cmpuint (m, ==, NB_PEER_FIELD_ROSENPASS); /* same clock value: last_change did not move */
  f.now = 4001 * SEC;
  m = nb_status_recorder_update_connection (f.rec, KEY_A, NB_PEER_CONN_CONNECTED, NB_PEER_CONN_TYPE_P2P);
  g_assert_cmpuint (m, ==, NB_PEER_FIELD_STATUS | NB_PEER_FIELD_CONN_TYPE | NB_PEER_FIELD_LAST_CHANGE);
  g_assert_cmpuint (nb_status_recorder_get_n_connected (f.rec), ==, 1);

  /* Unknown peer. */
  g_assert_cmpuint (nb_status_recorder_update_rosenpass (f.rec, KEY_B, TRUE), ==, 0);
  fixture_clear (&f);
}

/* Identity and traffic are reported but are no status change. */
static void
test_traffic_no_bump (void)
{
  Fixture f;
  NbPeerStatusField m;
  const NbPeerStatus *st;
  g_autofree char *expected = NULL;

  fixture_init (&f);
  nb_status_recorder_add_peer (f.rec, KEY_A, NULL, "100.64.0.1");
  flush ();
  g_ptr_array_set_size (f.log, 0);

  f.now = 5000 * SEC;
  m = nb_status_recorder_update_wg_stats (f.rec, KEY_A, 4990 * SEC, 1000, 2000);
  g_assert_cmpuint (m, ==, NB_PEER_FIELD_LAST_HANDSHAKE | NB_PEER_FIELD_RX_BYTES | NB_PEER_FIELD_TX_BYTES);
  m = nb_status_recorder_update_wg_stats (f.rec, KEY_A, 4990 * SEC, 1000, 2500);
  g_assert_cmpuint (m, ==, NB_PEER_FIELD_TX_BYTES);
  m = nb_status_recorder_update_wg_stats (f.rec, KEY_A, 4990 * SEC, 1000, 2500);
  g_assert_cmpuint (m, ==, 0);
  m = nb_status_recorder_update_latency (f.rec, KEY_A, 1234);
  g_assert_cmpuint (m, ==, NB_PEER_FIELD_LATENCY);
  m = nb_status_recorder_update_identity (f.rec, KEY_A, "a.netbird.cloud", "100.64.0.1");
  g_assert_cmpuint (m, ==, NB_PEER_FIELD_FQDN);

  st = nb_status_recorder_get_peer (f.rec, KEY_A);
  g_assert_cmpint (st->last_change, ==, 1000 * SEC);
  g_assert_cmpuint (st->tx_bytes, ==, 2500);
  g_assert_cmpint (st->latency_us, ==, 1234);
  g_assert_cmpstr (st->fqdn, ==, "a.netbird.cloud");

  /* All of it merged into one signal. */
  expected = g_strdup_printf ("changed " KEY_A " 0x%x",
                              NB_PEER_FIELD_LAST_HANDSHAKE | NB_PEER_FIELD_RX_BYTES | NB_PEER_FIELD_TX_BYTES |
                              NB_PEER_FIELD_LATENCY | NB_PEER_FIELD_FQDN);
  assert_log (&f, expected);

  /* The generic update: only the listed fields count. */
  {
    g_autoptr (NbPeerStatus) v = nb_peer_status_new (KEY_A);

    v->rx_bytes = 9999;
    v->status = NB_PEER_CONN_CONNECTED;
    m = nb_status_recorder_update (f.rec, v, NB_PEER_FIELD_RX_BYTES | NB_PEER_FIELD_LAST_CHANGE);
    g_assert_cmpuint (m, ==, NB_PEER_FIELD_RX_BYTES);
    g_assert_cmpuint (nb_status_recorder_get_peer (f.rec, KEY_A)->status, ==, NB_PEER_CONN_IDLE);
  }

  /* Changes of a peer removed in the same turn are dropped. */
  nb_status_recorder_remove_peer (f.rec, KEY_A);
  assert_log (&f, "removed " KEY_A);
  fixture_clear (&f);
}

static void
test_services (void)
{
  Fixture f;
  GPtrArray *relays;

  fixture_init (&f);
  g_assert_false (nb_status_recorder_get_management (f.rec)->connected);
  g_assert_true (nb_status_recorder_set_management (f.rec, "https://api.example:443", TRUE, NULL));
  g_assert_false (nb_status_recorder_set_management (f.rec, "https://api.example:443", TRUE, ""));
  g_assert_true (nb_status_recorder_set_signal (f.rec, "https://signal.example:443", FALSE, "timeout"));
  g_assert_true (nb_status_recorder_set_signal (f.rec, "https://signal.example:443", FALSE, "refused"));
  g_assert_true (nb_status_recorder_set_relay (f.rec, "rels://r1:443", TRUE, NULL));
  g_assert_false (nb_status_recorder_set_relay (f.rec, "rels://r1:443", TRUE, NULL));
  g_assert_true (nb_status_recorder_set_relay (f.rec, "rels://r2:443", FALSE, NULL));
  assert_log (&f, "service 0 https://api.example:443; service 1 https://signal.example:443; "
                  "service 2 rels://r1:443; service 2 rels://r2:443");
  g_assert_cmpstr (nb_status_recorder_get_signal (f.rec)->error, ==, "refused");

  relays = nb_status_recorder_get_relays (f.rec);
  g_assert_cmpuint (relays->len, ==, 2);
  g_assert_true (nb_status_recorder_remove_relay (f.rec, "rels://r1:443"));
  g_assert_false (nb_status_recorder_remove_relay (f.rec, "rels://r1:443"));
  g_assert_cmpuint (relays->len, ==, 1);
  g_assert_cmpstr (((NbServiceState *) g_ptr_array_index (relays, 0))->url, ==, "rels://r2:443");
  assert_log (&f, "service 2 rels://r1:443");
  fixture_clear (&f);
}

/* Routed networks: kept sorted and unique, known before the record and
 * after it, reported without bumping "last change". */
static void
test_networks (void)
{
  Fixture f;
  const char *ab[] = { "10.2.0.0/16", "10.1.0.0/24", "10.2.0.0/16", NULL };
  const char *c[] = { "192.168.7.0/24", NULL };
  const NbPeerStatus *st;
  g_auto (GStrv) all = NULL;

  fixture_init (&f);
  /* Before the record: no signal, but remembered. */
  g_assert_cmpuint (nb_status_recorder_set_peer_networks (f.rec, KEY_A, ab), ==, 0);
  assert_log (&f, "");
  nb_status_recorder_add_peer (f.rec, KEY_A, NULL, "100.64.0.2");
  st = nb_status_recorder_get_peer (f.rec, KEY_A);
  g_assert_cmpuint (g_strv_length (st->networks), ==, 2);
  g_assert_cmpstr (st->networks[0], ==, "10.1.0.0/24");
  g_assert_cmpstr (st->networks[1], ==, "10.2.0.0/16");
  assert_log (&f, "added " KEY_A);

  /* The same set in another order: no change. A new one: reported, the
   * last change stays. */
  f.now += 5 * SEC;
  g_assert_cmpuint (nb_status_recorder_set_peer_networks (f.rec, KEY_A, (const char *const []) {
                      "10.1.0.0/24", "10.2.0.0/16", NULL }), ==, 0);
  nb_status_recorder_add_peer (f.rec, KEY_B, NULL, "100.64.0.3");
  g_assert_cmpuint (nb_status_recorder_set_peer_networks (f.rec, KEY_B, c), ==, NB_PEER_FIELD_NETWORKS);
  g_assert_cmpuint (nb_status_recorder_set_peer_networks (f.rec, KEY_A, c), ==, NB_PEER_FIELD_NETWORKS);
  assert_log (&f, "added " KEY_B "; changed " KEY_A " 0x20000");
  g_assert_cmpint (nb_status_recorder_get_peer (f.rec, KEY_A)->last_change, ==, f.now - 5 * SEC);

  all = nb_status_recorder_dup_networks (f.rec);
  g_assert_cmpuint (g_strv_length (all), ==, 1);
  g_assert_cmpstr (all[0], ==, "192.168.7.0/24");
  g_clear_pointer (&all, g_strfreev);

  /* A removed peer routes nothing for us; it comes back with its list. */
  nb_status_recorder_remove_peer (f.rec, KEY_A);
  nb_status_recorder_set_peer_networks (f.rec, KEY_B, NULL);
  all = nb_status_recorder_dup_networks (f.rec);
  g_assert_null (all[0]);
  g_clear_pointer (&all, g_strfreev);
  nb_status_recorder_add_peer (f.rec, KEY_A, NULL, "100.64.0.2");
  g_assert_cmpstr (nb_status_recorder_get_peer (f.rec, KEY_A)->networks[0], ==, "192.168.7.0/24");
  g_assert_null (nb_status_recorder_get_peer (f.rec, KEY_B)->networks[0]);
  assert_log (&f, "removed " KEY_A "; changed " KEY_B " 0x20000; added " KEY_A);
  fixture_clear (&f);
}

/* Our own side: one "local-changed" per main-loop turn, only on change. */
static void
test_local (void)
{
  Fixture f;
  const NbLocalState *l;
  g_autofree char *text = NULL;
  gboolean permissive = TRUE;

  fixture_init (&f);
  l = nb_status_recorder_get_local (f.rec);
  g_assert_null (l->fqdn);
  g_assert_cmpuint (l->wg_port, ==, 0);
  g_assert_false (nb_status_recorder_get_rosenpass (f.rec, &permissive));
  g_assert_false (permissive);
  text = nb_status_recorder_format_local (f.rec);
  g_assert_cmpstr (text, ==,
                   "FQDN: -\n"
                   "NetBird IP: N/A\n"
                   "Interface type: N/A\n"
                   "Wireguard port: N/A\n"
                   "Quantum resistance: false\n"
                   "Networks: -\n");

  g_assert_false (nb_status_recorder_set_local (f.rec, "", NULL, "", 0));
  g_assert_true (nb_status_recorder_set_local (f.rec, "a.netbird.cloud", "100.64.0.1/16", "Kernel", 51820));
  g_assert_true (nb_status_recorder_set_local (f.rec, "a.netbird.cloud", "100.64.0.1/16", "Userspace", 51820));
  g_assert_false (nb_status_recorder_set_local (f.rec, "a.netbird.cloud", "100.64.0.1/16", "Userspace", 51820));
  assert_log (&f, "local");
  g_assert_cmpstr (l->interface_type, ==, "Userspace");
  g_assert_true (nb_status_recorder_set_local (f.rec, "a.netbird.cloud", "100.64.0.1/16", "Userspace", 51821));
  assert_log (&f, "local");

  nb_status_recorder_set_rosenpass (f.rec, TRUE, TRUE);
  g_assert_true (nb_status_recorder_get_rosenpass (f.rec, &permissive));
  g_assert_true (permissive);
  nb_status_recorder_add_peer (f.rec, KEY_A, NULL, "100.64.0.2");
  nb_status_recorder_add_peer (f.rec, KEY_B, NULL, "100.64.0.3");
  nb_status_recorder_set_peer_networks (f.rec, KEY_A, (const char *const []) { "10.2.0.0/16", NULL });
  nb_status_recorder_set_peer_networks (f.rec, KEY_B, (const char *const []) { "10.10.0.0/24", "10.2.0.0/16", NULL });
  g_clear_pointer (&text, g_free);
  text = nb_status_recorder_format_local (f.rec);
  g_assert_cmpstr (text, ==,
                   "FQDN: a.netbird.cloud\n"
                   "NetBird IP: 100.64.0.1/16\n"
                   "Interface type: Userspace\n"
                   "Wireguard port: 51821\n"
                   "Quantum resistance: true (permissive)\n"
                   "Networks: 10.10.0.0/24, 10.2.0.0/16\n");
  fixture_clear (&f);
}

/* The value after @prefix on its line in @text. */
static char *
line_value (const char *text, const char *prefix)
{
  const char *p = strstr (text, prefix);
  const char *end;

  g_assert_nonnull (p);
  p += strlen (prefix);
  end = strchr (p, '\n');
  return g_strndup (p, end ? (gsize) (end - p) : strlen (p));
}

static void
test_detail_peer (void)
{
  const gint64 now = 1700000000LL * SEC;
  g_autoptr (NbPeerStatus) st = nb_peer_status_new (KEY_A);
  g_autofree char *text = NULL;
  static const char *expected =
    "\n peer-b.netbird.cloud:\n"
    "  NetBird IP: 100.64.0.2\n"
    "  Public key: " KEY_A "\n"
    "  Status: Connected\n"
    "  -- detail --\n"
    "  Connection type: P2P\n"
    "  ICE / relay: Connected/Disconnected\n"
    "  ICE candidate (Local/Remote): host/srflx\n"
    "  ICE candidate endpoints (Local/Remote): 10.0.0.1:51820/203.0.113.7:51820\n"
    "  Relay server address: -\n"
    "  Last connection update: 1 minute, 5 seconds ago\n"
    "  Last WireGuard handshake: 3 seconds ago\n"
    "  Transfer status (received/sent) 1.5 KiB/200 B\n"
    "  Quantum resistance: false\n"
    "  Networks: 10.1.0.0/24, 192.168.7.0/24\n"
    "  Latency: 1.234ms\n";

  g_strfreev (st->networks);
  st->networks = g_strsplit ("192.168.7.0/24 10.1.0.0/24", " ", -1); /* printed sorted */
  st->fqdn = g_strdup ("peer-b.netbird.cloud");
  st->ip = g_strdup ("100.64.0.2");
  st->status = NB_PEER_CONN_CONNECTED;
  st->conn_type = NB_PEER_CONN_TYPE_P2P;
  st->ice_status = NB_PEER_PATH_CONNECTED;
  st->local_candidate_type = g_strdup ("host");
  st->remote_candidate_type = g_strdup ("srflx");
  st->local_endpoint = g_strdup ("10.0.0.1:51820");
  st->remote_endpoint = g_strdup ("203.0.113.7:51820");
  st->last_handshake = now - 3 * SEC;
  st->rx_bytes = 1536;
  st->tx_bytes = 200;
  st->latency_us = 1234;
  st->last_change = now - 65 * SEC;

  text = nb_peer_status_format_detail (st, now, FALSE, FALSE);
  g_assert_cmpstr (text, ==, expected);

  /* Not connected: NetBird hides the path details. */
  st->status = NB_PEER_CONN_CONNECTING;
  st->ice_status = NB_PEER_PATH_CONNECTING;
  st->relay_address = g_strdup ("rels://relay:443");
  g_clear_pointer (&text, g_free);
  text = nb_peer_status_format_detail (st, now, FALSE, FALSE);
  {
    g_autofree char *status = line_value (text, "  Status: ");
    g_autofree char *type = line_value (text, "  Connection type: ");
    g_autofree char *paths = line_value (text, "  ICE / relay: ");
    g_autofree char *cand = line_value (text, "  ICE candidate (Local/Remote): ");
    g_autofree char *eps = line_value (text, "  ICE candidate endpoints (Local/Remote): ");
    g_autofree char *relay = line_value (text, "  Relay server address: ");
    g_autofree char *hs = line_value (text, "  Last WireGuard handshake: ");
    g_autofree char *xfer = line_value (text, "  Transfer status (received/sent) ");

    g_assert_cmpstr (status, ==, "Connecting");
    g_assert_cmpstr (type, ==, "-");
    g_assert_cmpstr (paths, ==, "Connecting/Disconnected");
    g_assert_cmpstr (cand, ==, "-/-");
    g_assert_cmpstr (eps, ==, "-/-");
    g_assert_cmpstr (relay, ==, "-");
    g_assert_cmpstr (hs, ==, "-");
    g_assert_cmpstr (xfer, ==, "0 B/0 B");
  }

  /* Header falls back to the IP, then the key. */
  g_clear_pointer (&st->fqdn, g_free);
  g_clear_pointer (&text, g_free);
  text = nb_peer_status_format_detail (st, now, FALSE, FALSE);
  g_assert_true (g_str_has_prefix (text, "\n 100.64.0.2:\n"));
  g_clear_pointer (&st->ip, g_free);
  g_clear_pointer (&text, g_free);
  text = nb_peer_status_format_detail (st, now, FALSE, FALSE);
  g_assert_true (g_str_has_prefix (text, "\n " KEY_A ":\n  NetBird IP: -\n"));

  /* None: "-", as NetBird's. */
  g_clear_pointer (&st->networks, g_strfreev);
  g_clear_pointer (&text, g_free);
  text = nb_peer_status_format_detail (st, now, FALSE, FALSE);
  g_assert_nonnull (strstr (text, "  Quantum resistance: false\n  Networks: -\n  Latency: "));
}

typedef struct {
  gint64 ago_us;                /* 0: never */
  const char *text;
} AgoCase;

typedef struct {
  gint64 latency_us;
  const char *text;
} DurationCase;

typedef struct {
  guint64 bytes;
  const char *text;
} IecCase;

typedef struct {
  gboolean local, permissive, remote;
  const char *text;
} QuantumCase;

static void
test_detail_formats (void)
{
  const gint64 now = 1700000000LL * SEC;
  static const AgoCase ago[] = {
    { -1, "-" },
    { SEC / 2, "Now" },
    { 1 * SEC, "1 second ago" },
    { 59 * SEC, "59 seconds ago" },
    { 60 * SEC, "1 minute ago" },
    { 61 * SEC, "1 minute, 1 second ago" },
    { 125 * SEC, "2 minutes, 5 seconds ago" },
    { 180 * SEC, "3 minutes ago" },
    { 3600 * SEC, "1 hour ago" },
    { 3660 * SEC, "1 hour, 1 minute ago" },
    { 7320 * SEC, "2 hours, 2 minutes ago" },
    { 86400 * SEC, "1 day ago" },
    { 90000 * SEC, "1 day, 1 hour ago" },
    { 3 * 86400 * SEC, "3 days ago" },
    { (2 * 86400 + 5 * 3600) * SEC, "2 days, 5 hours ago" },
  };
  static const DurationCase dur[] = {
    { 0, "0s" },
    { 1, "1µs" },
    { 999, "999µs" },
    { 1000, "1ms" },
    { 1500, "1.5ms" },
    { 1500000, "1.5s" },
    { 60 * SEC, "1m0s" },
    { 3723 * SEC + SEC / 2, "1h2m3.5s" },
  };
  static const IecCase iec[] = {
    { 0, "0 B" },
    { 1023, "1023 B" },
    { 1024, "1.0 KiB" },
    { 1536, "1.5 KiB" },
    { 1048576, "1.0 MiB" },
    { 5ULL * 1024 * 1024 * 1024 + 1, "5.0 GiB" },
  };
  static const QuantumCase qr[] = {
    { FALSE, FALSE, FALSE, "false" },
    { TRUE, FALSE, TRUE, "true" },
    { TRUE, TRUE, FALSE, "false (remote didn't enable quantum resistance)" },
    { TRUE, FALSE, FALSE, "false (connection won't work without a permissive mode)" },
    { FALSE, FALSE, TRUE, "false (connection might not work without a remote permissive mode)" },
  };
  g_autoptr (NbPeerStatus) st = nb_peer_status_new (KEY_A);

  st->status = NB_PEER_CONN_CONNECTED;
  for (guint i = 0; i < G_N_ELEMENTS (ago); i++)
    {
      g_autofree char *text = NULL;
      g_autofree char *v1 = NULL;
      g_autofree char *v2 = NULL;

      st->last_change = ago[i].ago_us < 0 ? 0 : now - ago[i].ago_us;
      st->last_handshake = st->last_change;
      text = nb_peer_status_format_detail (st, now, FALSE, FALSE);
      v1 = line_value (text, "  Last connection update: ");
      v2 = line_value (text, "  Last WireGuard handshake: ");
      g_assert_cmpstr (v1, ==, ago[i].text);
      g_assert_cmpstr (v2, ==, ago[i].text);
    }
  for (guint i = 0; i < G_N_ELEMENTS (dur); i++)
    {
      g_autofree char *text = NULL;
      g_autofree char *v = NULL;

      st->latency_us = dur[i].latency_us;
      text = nb_peer_status_format_detail (st, now, FALSE, FALSE);
      v = line_value (text, "  Latency: ");
      g_assert_cmpstr (v, ==, dur[i].text);
    }
  for (guint i = 0; i < G_N_ELEMENTS (iec); i++)
    {
      g_autofree char *text = NULL;
      g_autofree char *v = NULL;
      g_autofree char *expected = g_strdup_printf ("%s/%s", iec[i].text, iec[i].text);

      st->rx_bytes = st->tx_bytes = iec[i].bytes;
      text = nb_peer_status_format_detail (st, now, FALSE, FALSE);
      v = line_value (text, "  Transfer status (received/sent) ");
      g_assert_cmpstr (v, ==, expected);
    }
  for (guint i = 0; i < G_N_ELEMENTS (qr); i++)
    {
      g_autofree char *text = NULL;
      g_autofree char *v = NULL;

      st->rosenpass_enabled = qr[i].remote;
      text = nb_peer_status_format_detail (st, now, qr[i].local, qr[i].permissive);
      v = line_value (text, "  Quantum resistance: ");
      g_assert_cmpstr (v, ==, qr[i].text);
    }
}

static void
test_detail_recorder (void)
{
  Fixture f;
  g_autofree char *text = NULL;
  g_autoptr (GPtrArray) peers = NULL;
  const char *a, *b;

  fixture_init (&f);
  nb_status_recorder_add_peer (f.rec, KEY_A, "a.netbird.cloud", "100.64.0.10");
  nb_status_recorder_add_peer (f.rec, KEY_B, "b.netbird.cloud", "100.64.0.9");
  nb_status_recorder_update_connection (f.rec, KEY_B, NB_PEER_CONN_CONNECTED, NB_PEER_CONN_TYPE_RELAYED);
  nb_status_recorder_update_relay (f.rec, KEY_B, NB_PEER_PATH_CONNECTED, "rels://r1:443");
  nb_status_recorder_set_management (f.rec, "https://api.example:443", TRUE, NULL);
  nb_status_recorder_set_signal (f.rec, "https://signal.example:443", FALSE, "timeout");
  nb_status_recorder_set_relay (f.rec, "rels://r1:443", TRUE, NULL);
  nb_status_recorder_set_relay (f.rec, "rels://r2:443", FALSE, "refused");
  nb_status_recorder_set_peer_networks (f.rec, KEY_B, (const char *const []) { "10.1.0.0/24", NULL });
  nb_status_recorder_set_local (f.rec, "me.netbird.cloud", "100.64.0.1/16", "Userspace", 51820);

  /* Sorted by address, not by text: .9 before .10. */
  peers = nb_status_recorder_dup_peers (f.rec);
  g_assert_cmpuint (peers->len, ==, 2);
  g_assert_cmpstr (((NbPeerStatus *) g_ptr_array_index (peers, 0))->key, ==, KEY_B);

  text = nb_status_recorder_format_detail (f.rec, f.now + 10 * SEC);
  g_assert_true (g_str_has_prefix (text, "Peers detail:\n b.netbird.cloud:\n"));
  a = strstr (text, "\n a.netbird.cloud:\n");
  b = strstr (text, "\n b.netbird.cloud:\n");
  g_assert_nonnull (a);
  g_assert_nonnull (b);
  g_assert_true (b < a);
  g_assert_nonnull (strstr (text, "  Connection type: Relayed\n"));
  g_assert_nonnull (strstr (text, "  Relay server address: rels://r1:443\n"));
  g_assert_nonnull (strstr (text, "  Last connection update: 10 seconds ago\n"));
  g_assert_nonnull (strstr (text, "\n b.netbird.cloud:\n"));
  g_assert_nonnull (strstr (text, "  Networks: 10.1.0.0/24\n  Latency: 0s\n\n a.netbird.cloud:\n"));
  /* NetBird's order; no URL for a server we are not connected to. */
  g_assert_true (g_str_has_suffix (text,
                                   "  Networks: -\n"
                                   "  Latency: 0s\n"
                                   "\n"
                                   "Management: Connected to https://api.example:443\n"
                                   "Signal: Disconnected, reason: timeout\n"
                                   "Relays: \n"
                                   "  [rels://r1:443] is Available\n"
                                   "  [rels://r2:443] is Unavailable, reason: refused\n"
                                   "FQDN: me.netbird.cloud\n"
                                   "NetBird IP: 100.64.0.1/16\n"
                                   "Interface type: Userspace\n"
                                   "Wireguard port: 51820\n"
                                   "Quantum resistance: false\n"
                                   "Networks: 10.1.0.0/24\n"
                                   "Peers count: 1/2 Connected\n"));
  fixture_clear (&f);

  /* Empty. */
  fixture_init (&f);
  g_clear_pointer (&text, g_free);
  text = nb_status_recorder_format_detail (f.rec, f.now);
  g_assert_cmpstr (text, ==,
                   "Peers detail:\n"
                   "Management: Disconnected\n"
                   "Signal: Disconnected\n"
                   "Relays: 0/0 Available\n"
                   "FQDN: -\n"
                   "NetBird IP: N/A\n"
                   "Interface type: N/A\n"
                   "Wireguard port: N/A\n"
                   "Quantum resistance: false\n"
                   "Networks: -\n"
                   "Peers count: 0/0 Connected\n");
  fixture_clear (&f);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/peer-status/values", test_values);
  g_test_add_func ("/peer-status/add-remove", test_add_remove);
  g_test_add_func ("/peer-status/change-masks", test_change_masks);
  g_test_add_func ("/peer-status/traffic-no-bump", test_traffic_no_bump);
  g_test_add_func ("/peer-status/services", test_services);
  g_test_add_func ("/peer-status/networks", test_networks);
  g_test_add_func ("/peer-status/local", test_local);
  g_test_add_func ("/peer-status/detail/peer", test_detail_peer);
  g_test_add_func ("/peer-status/detail/formats", test_detail_formats);
  g_test_add_func ("/peer-status/detail/recorder", test_detail_recorder);

  return g_test_run ();
}
