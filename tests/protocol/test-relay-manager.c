/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Tests for service/netbird/relay-manager.c against several
 * service/devnet/relay-server.c instances on 127.0.0.1 ephemeral ports, all
 * in one main loop. Each server announces its own instance URL,
 * `rel://localhost:PORT`, unlike the `rel://127.0.0.1:PORT` it is listed
 * and dialled with: the home relay is recognised by its instance URL and a
 * foreign relay is dialled at the instance URL a peer names, as in NetBird.
 * Nothing sleeps: every wait is for an event, bounded by a timeout.
 */

#include "config.h"

#include <string.h>

#include <gio/gio.h>
#include <libsoup/soup.h>

#include "relay-test-util.h"

#define GRACE_MS 100

/* ---- servers ------------------------------------------------------------ */

static gboolean
server_has_key (NbRelayServer *server,
                const char    *key)
{
  NbRelayPeerId id;

  nb_relay_peer_id_from_key (&id, key);
  return nb_relay_server_has_peer (server, &id);
}

typedef struct {
  NbRelayServer *server;
  const char *key;
  gboolean present;
} PeerCond;

static gboolean
peer_presence_is (gpointer data)
{
  PeerCond *c = data;

  return server_has_key (c->server, c->key) == c->present;
}

static void
wait_peer_presence (NbRelayServer *server,
                    const char    *key,
                    gboolean       present)
{
  PeerCond c = { server, key, present };

  g_assert_true (run_until_cond (peer_presence_is, &c, WAIT_MS));
}

/* A TCP listener that never answers: a WebSocket dial to it hangs. */
static GSocket *
silent_listener (void)
{
  g_autoptr(GError) error = NULL;
  GSocket *sock = reserve_port (0);

  g_assert_true (g_socket_listen (sock, &error));
  g_assert_no_error (error);
  return sock;
}

/* ---- managers ----------------------------------------------------------- */

typedef struct {
  guint ready;
  guint lost;
  guint reconnected;
  guint foreign_closed;
  GString *events;        /* R ready, L lost, C reconnected, F foreign closed */
  char *instance_url;     /* of the last "home-ready" */
  GError *lost_error;
  char *foreign_url;      /* of the last "foreign-closed" */
  GError *foreign_error;  /* its reason, NULL when closed as unused */
  gint64 ready_us;
  gint64 lost_us;
  gint64 foreign_closed_us;
} MgrRec;

static void
on_home_ready (NbRelayManager *m, const char *url, MgrRec *rec)
{
  rec->ready++;
  rec->ready_us = g_get_monotonic_time ();
  g_string_append_c (rec->events, 'R');
  g_free (rec->instance_url);
  rec->instance_url = g_strdup (url);
  /* the getters agree with the signal */
  g_assert_true (nb_relay_manager_is_ready (m));
  g_assert_cmpstr (nb_relay_manager_get_home_instance_url (m), ==, url);
}

static void
on_home_lost (NbRelayManager *m, const GError *error, MgrRec *rec)
{
  rec->lost++;
  rec->lost_us = g_get_monotonic_time ();
  g_string_append_c (rec->events, 'L');
  g_clear_error (&rec->lost_error);
  rec->lost_error = g_error_copy (error);
  g_assert_false (nb_relay_manager_is_ready (m));
  g_assert_null (nb_relay_manager_get_home_instance_url (m));
}

static void
on_reconnected (NbRelayManager *m, MgrRec *rec)
{
  rec->reconnected++;
  g_string_append_c (rec->events, 'C');
}

static void
on_foreign_closed (NbRelayManager *m, const char *url, const GError *error, MgrRec *rec)
{
  rec->foreign_closed++;
  rec->foreign_closed_us = g_get_monotonic_time ();
  g_string_append_c (rec->events, 'F');
  g_free (rec->foreign_url);
  rec->foreign_url = g_strdup (url);
  g_clear_error (&rec->foreign_error);
  if (error != NULL)
    rec->foreign_error = g_error_copy (error);
  g_assert_false (nb_relay_manager_has_foreign (m, url));
}

static void
mgr_rec_clear (MgrRec *rec)
{
  g_string_free (rec->events, TRUE);
  g_free (rec->instance_url);
  g_clear_error (&rec->lost_error);
  g_free (rec->foreign_url);
  g_clear_error (&rec->foreign_error);
}

/* A manager with short timers, listening to every signal into @rec. The
 * server list ends at the first NULL argument. */
static NbRelayManager *
new_manager (const char *key,
             const char *secret,
             MgrRec     *rec,
             ...)
{
  NbRelayManager *m;
  g_autoptr(GPtrArray) urls = g_ptr_array_new ();
  const char *url;
  va_list ap;

  va_start (ap, rec);
  while ((url = va_arg (ap, const char *)) != NULL)
    g_ptr_array_add (urls, (gpointer) url);
  va_end (ap);
  g_ptr_array_add (urls, NULL);

  m = relay_test_manager_new (key, secret, (const char * const *) urls->pdata, GRACE_MS);

  memset (rec, 0, sizeof *rec);
  rec->events = g_string_new (NULL);
  g_signal_connect (m, "home-ready", G_CALLBACK (on_home_ready), rec);
  g_signal_connect (m, "home-lost", G_CALLBACK (on_home_lost), rec);
  g_signal_connect (m, "relay-reconnected", G_CALLBACK (on_reconnected), rec);
  g_signal_connect (m, "foreign-closed", G_CALLBACK (on_foreign_closed), rec);
  return m;
}

static void
start_and_wait_home (NbRelayManager *m,
                     MgrRec         *rec)
{
  g_autoptr(GError) error = NULL;
  guint before = rec->ready;

  g_assert_true (nb_relay_manager_start (m, &error));
  g_assert_no_error (error);
  WAIT_UINT_AT_LEAST (rec->ready, before + 1);
  g_assert_true (nb_relay_manager_is_ready (m));
  g_assert_null (nb_relay_manager_get_last_error (m));
}

/* ---- virtual connections ------------------------------------------------ */

typedef struct {
  gboolean done;
  NbRelayConn *conn;
  GError *error;
  ConnRec *rec;
} OpenRes;

static void
on_opened (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  OpenRes *res = user_data;

  res->conn = nb_relay_manager_open_conn_finish (NB_RELAY_MANAGER (source), result, &res->error);
  res->done = TRUE;
  if (res->conn != NULL && res->rec != NULL)
    {
      /* connected from the callback, as the API asks */
      conn_rec_watch (res->rec, res->conn);
    }
}

static gboolean
open_done (gpointer data)
{
  return ((OpenRes *) data)->done;
}

static void
open_begin (NbRelayManager *m,
            const char     *key,
            const char     *url,
            GCancellable   *cancellable,
            OpenRes        *res,
            ConnRec        *rec)
{
  memset (res, 0, sizeof *res);
  res->rec = rec;
  if (rec != NULL)
    conn_rec_init (rec, NULL);
  nb_relay_manager_open_conn_async (m, key, url, cancellable, on_opened, res);
  /* never completed from inside the call */
  g_assert_false (res->done);
}

static void
open_wait (OpenRes *res)
{
  g_assert_true (run_until_cond (open_done, res, WAIT_MS));
}

/* Open and expect success. */
static NbRelayConn *
open_ok (NbRelayManager *m,
         const char     *key,
         const char     *url,
         ConnRec        *rec)
{
  OpenRes res;

  open_begin (m, key, url, NULL, &res, rec);
  open_wait (&res);
  g_assert_no_error (res.error);
  g_assert_nonnull (res.conn);
  g_assert_true (nb_relay_conn_is_open (res.conn));
  return res.conn;
}

/* Open and expect failure; returns the error. */
static GError *
open_fail (NbRelayManager *m,
           const char     *key,
           const char     *url)
{
  OpenRes res;

  open_begin (m, key, url, NULL, &res, NULL);
  open_wait (&res);
  g_assert_null (res.conn);
  g_assert_nonnull (res.error);
  return res.error;
}

static void
send_str (NbRelayConn *conn,
          const char  *s)
{
  g_autoptr(GBytes) b = bytes_of (s);
  g_autoptr(GError) error = NULL;

  g_assert_true (nb_relay_conn_send (conn, b, &error));
  g_assert_no_error (error);
}

/* Wait for the @n-th message on @rec and check it is @expected. */
static void
expect_message (ConnRec    *rec,
                guint       n,
                const char *expected)
{
  GBytes *got;

  WAIT_UINT_AT_LEAST (rec->messages->len, n);
  got = rec->messages->pdata[n - 1];
  g_assert_cmpmem (g_bytes_get_data (got, NULL), g_bytes_get_size (got),
                   expected, strlen (expected));
}

static gboolean
manager_has_no_foreign (gpointer data)
{
  return nb_relay_manager_get_n_foreign (data) == 0;
}

/* ---- tests: picking the home relay -------------------------------------- */

/* One server refuses our token: the other becomes home, and the first
 * keeps no connection from us. */
static void
test_pick_auth_refused (void)
{
  TestServer a = { 0 }, b = { 0 };
  g_autoptr(NbRelayManager) m = NULL;
  MgrRec rec;

  server_start (&a, OTHER_SECRET, 0);
  server_start (&b, SECRET, 0);
  m = new_manager (KEY_A, SECRET, &rec, a.url, b.url, NULL);
  start_and_wait_home (m, &rec);

  g_assert_cmpstr (rec.instance_url, ==, b.instance_url);
  g_assert_cmpstr (nb_relay_manager_get_home_instance_url (m), ==, b.instance_url);
  g_assert_cmpstr (nb_relay_manager_get_home_server_url (m), ==, b.url);
  g_assert_nonnull (nb_relay_manager_get_home_client (m));
  g_assert_true (server_has_key (b.server, KEY_A));
  WAIT_UINT_AT_LEAST (a.rejected, 1);
  g_assert_true (run_until_cond (server_has_no_connections, a.server, WAIT_MS));
  g_assert_cmpstr (rec.events->str, ==, "R");

  /* the home relay is no foreign relay, by either of its URLs */
  g_assert_false (nb_relay_manager_is_foreign (m, NULL));
  g_assert_false (nb_relay_manager_is_foreign (m, b.instance_url));
  g_assert_false (nb_relay_manager_is_foreign (m, b.url));
  g_assert_true (nb_relay_manager_is_foreign (m, a.instance_url));

  nb_relay_manager_stop (m);
  g_clear_object (&m);
  server_clear (&a);
  server_clear (&b);
  mgr_rec_clear (&rec);
}

/* The first listed server does not listen at all. */
static void
test_pick_not_listening (void)
{
  TestServer b = { 0 };
  g_autoptr(NbRelayManager) m = NULL;
  g_autoptr(GSocket) dead = reserve_port (0);
  g_autofree char *dead_url = url_for_port (socket_port (dead));
  MgrRec rec;

  server_start (&b, SECRET, 0);
  m = new_manager (KEY_A, SECRET, &rec, dead_url, b.url, NULL);
  start_and_wait_home (m, &rec);
  g_assert_cmpstr (rec.instance_url, ==, b.instance_url);
  g_assert_cmpstr (nb_relay_manager_get_home_server_url (m), ==, b.url);

  nb_relay_manager_stop (m);
  g_clear_object (&m);
  server_clear (&b);
  mgr_rec_clear (&rec);
}

typedef struct {
  TestServer *a;
  TestServer *b;
} TwoServers;

static gboolean
one_connection_in_all (gpointer data)
{
  TwoServers *t = data;

  return nb_relay_server_get_n_connections (t->a->server) +
         nb_relay_server_get_n_connections (t->b->server) == 1;
}

/* Both servers accept: one home relay, the other connection is closed. */
static void
test_pick_losers_closed (void)
{
  TestServer a = { 0 }, b = { 0 };
  g_autoptr(NbRelayManager) m = NULL;
  TwoServers t = { &a, &b };
  TestServer *home;
  MgrRec rec;

  server_start (&a, SECRET, 0);
  server_start (&b, SECRET, 0);
  m = new_manager (KEY_A, SECRET, &rec, a.url, b.url, NULL);
  start_and_wait_home (m, &rec);

  home = g_strcmp0 (rec.instance_url, a.instance_url) == 0 ? &a : &b;
  g_assert_cmpstr (rec.instance_url, ==, home->instance_url);
  g_assert_true (run_until_cond (one_connection_in_all, &t, WAIT_MS));
  g_assert_true (server_has_key (home->server, KEY_A));
  g_assert_cmpuint (nb_relay_server_get_n_connections (home->server), ==, 1);
  /* and it stays so: no second home, no reconnect */
  run_for (100);
  g_assert_cmpstr (rec.events->str, ==, "R");
  g_assert_true (one_connection_in_all (&t));

  nb_relay_manager_stop (m);
  g_clear_object (&m);
  server_clear (&a);
  server_clear (&b);
  mgr_rec_clear (&rec);
}

static gboolean
has_last_error (gpointer data)
{
  return nb_relay_manager_get_last_error (data) != NULL;
}

typedef struct {
  NbRelayManager *m;
  GQuark domain;
  gint code;
} ErrCond;

static gboolean
last_error_is (gpointer data)
{
  ErrCond *c = data;
  const GError *e = nb_relay_manager_get_last_error (c->m);

  return e != NULL && g_error_matches (e, c->domain, c->code);
}

/* No server at first, then one that refuses connections, then it comes up:
 * the manager keeps picking with backoff and emits "relay-reconnected"
 * when a home relay appears after a failed pick. */
static void
test_pick_retry (void)
{
  TestServer a = { 0 };
  g_autoptr(NbRelayManager) m = NULL;
  g_autoptr(GSocket) reserved = reserve_port (0);
  g_autofree char *url = url_for_port (socket_port (reserved));
  const char *urls[] = { url, NULL };
  g_autoptr(GError) error = NULL;
  ErrCond refused;
  MgrRec rec;

  m = new_manager (KEY_A, SECRET, &rec, NULL);
  g_assert_true (nb_relay_manager_start (m, &error));
  g_assert_no_error (error);
  g_assert_true (run_until_cond (has_last_error, m, WAIT_MS));
  g_assert_error (nb_relay_manager_get_last_error (m), NB_RELAY_MANAGER_ERROR,
                  NB_RELAY_MANAGER_ERROR_NO_SERVERS);
  g_assert_false (nb_relay_manager_is_ready (m));

  /* management lists a server: the next pick uses it */
  nb_relay_manager_set_servers (m, urls);
  g_assert_cmpstr (nb_relay_manager_get_servers (m)[0], ==, url);
  refused = (ErrCond) { m, NB_RELAY_CLIENT_ERROR, NB_RELAY_CLIENT_ERROR_CONNECT };
  g_assert_true (run_until_cond (last_error_is, &refused, WAIT_MS));
  g_assert_cmpuint (rec.ready, ==, 0);

  server_start (&a, SECRET, socket_port (reserved));
  g_clear_object (&reserved);
  WAIT_UINT_AT_LEAST (rec.reconnected, 1);
  g_assert_cmpstr (rec.events->str, ==, "RC");
  g_assert_cmpstr (rec.instance_url, ==, a.instance_url);
  g_assert_null (nb_relay_manager_get_last_error (m));

  nb_relay_manager_stop (m);
  g_clear_object (&m);
  server_clear (&a);
  mgr_rec_clear (&rec);
}

/* ---- tests: foreign relays ---------------------------------------------- */

/* Two peers with different home relays: A opens a foreign connection to
 * B's relay (the instance URL from B's offer); they exchange bytes. */
static void
test_foreign_exchange (void)
{
  TestServer sa = { 0 }, sb = { 0 };
  g_autoptr(NbRelayManager) ma = NULL;
  g_autoptr(NbRelayManager) mb = NULL;
  g_autoptr(NbRelayConn) a_to_b = NULL;
  g_autoptr(NbRelayConn) b_to_a = NULL;
  MgrRec ra, rb;
  ConnRec ca, cb;

  server_start (&sa, SECRET, 0);
  server_start (&sb, SECRET, 0);
  ma = new_manager (KEY_A, SECRET, &ra, sa.url, NULL);
  mb = new_manager (KEY_B, SECRET, &rb, sb.url, NULL);
  start_and_wait_home (ma, &ra);
  start_and_wait_home (mb, &rb);
  g_assert_cmpstr (ra.instance_url, ==, sa.instance_url);
  g_assert_cmpstr (rb.instance_url, ==, sb.instance_url);

  /* B (home relay sb) meets A on its own relay; A goes there */
  b_to_a = open_ok (mb, KEY_A, NULL, &cb);
  g_assert_true (nb_relay_manager_is_foreign (ma, rb.instance_url));
  a_to_b = open_ok (ma, KEY_B, rb.instance_url, &ca);
  g_assert_cmpuint (nb_relay_manager_get_n_foreign (ma), ==, 1);
  g_assert_true (nb_relay_manager_has_foreign (ma, sb.instance_url));
  g_assert_cmpuint (nb_relay_manager_get_n_foreign (mb), ==, 0);
  g_assert_true (server_has_key (sb.server, KEY_A));
  g_assert_true (server_has_key (sa.server, KEY_A)); /* home stays */
  /* the foreign connection is a client of its own, not the home one */
  g_assert_true (nb_relay_conn_get_client (a_to_b) != nb_relay_manager_get_home_client (ma));

  send_str (a_to_b, "hello from A");
  expect_message (&cb, 1, "hello from A");
  send_str (b_to_a, "hello from B");
  expect_message (&ca, 1, "hello from B");

  /* a second open to the same peer on that relay is refused */
  {
    g_autoptr(GError) error = open_fail (ma, KEY_B, rb.instance_url);

    g_assert_error (error, NB_RELAY_CLIENT_ERROR, NB_RELAY_CLIENT_ERROR_EXISTS);
  }
  g_assert_cmpstr (ra.events->str, ==, "R");
  g_assert_cmpstr (rb.events->str, ==, "R");

  nb_relay_manager_stop (ma);
  nb_relay_manager_stop (mb);
  g_assert_cmpuint (ca.closed, ==, 1);
  g_assert_cmpuint (cb.closed, ==, 1);
  g_clear_object (&a_to_b);
  g_clear_object (&b_to_a);
  g_clear_object (&ma);
  g_clear_object (&mb);
  server_clear (&sa);
  server_clear (&sb);
  conn_rec_clear (&ca);
  conn_rec_clear (&cb);
  mgr_rec_clear (&ra);
  mgr_rec_clear (&rb);
}

/* The foreign connection outlives its last virtual connection by the grace
 * time, then closes; closing with nb_relay_conn_close() while keeping the
 * object is noticed by the sweep. */
static void
test_foreign_grace (void)
{
  TestServer sa = { 0 }, sb = { 0 };
  g_autoptr(NbRelayManager) ma = NULL;
  g_autoptr(NbRelayManager) mb = NULL;
  g_autoptr(NbRelayConn) a_to_b = NULL;
  g_autoptr(NbRelayConn) b_to_a = NULL;
  MgrRec ra, rb;
  ConnRec ca, cb;
  gint64 dropped_us;

  server_start (&sa, SECRET, 0);
  server_start (&sb, SECRET, 0);
  ma = new_manager (KEY_A, SECRET, &ra, sa.url, NULL);
  mb = new_manager (KEY_B, SECRET, &rb, sb.url, NULL);
  nb_relay_manager_set_cleanup_interval (ma, 50);
  start_and_wait_home (ma, &ra);
  start_and_wait_home (mb, &rb);
  b_to_a = open_ok (mb, KEY_A, NULL, &cb);
  a_to_b = open_ok (ma, KEY_B, sb.instance_url, &ca);
  send_str (a_to_b, "ping");
  expect_message (&cb, 1, "ping");

  /* in use: kept well beyond the grace time */
  run_for (3 * GRACE_MS);
  g_assert_cmpuint (ra.foreign_closed, ==, 0);
  g_assert_true (nb_relay_manager_has_foreign (ma, sb.instance_url));

  /* the last virtual connection goes away: closed after the grace time */
  g_clear_object (&a_to_b);
  dropped_us = g_get_monotonic_time ();
  WAIT_UINT_AT_LEAST (ra.foreign_closed, 1);
  g_assert_cmpint (ra.foreign_closed_us - dropped_us, >=, (GRACE_MS - 10) * 1000);
  g_assert_cmpstr (ra.foreign_url, ==, sb.instance_url);
  g_assert_no_error (ra.foreign_error); /* closed as unused */
  g_assert_cmpuint (nb_relay_manager_get_n_foreign (ma), ==, 0);
  wait_peer_presence (sb.server, KEY_A, FALSE);
  g_assert_true (server_has_key (sa.server, KEY_A));
  g_assert_true (nb_relay_manager_is_ready (ma));
  g_assert_true (nb_relay_manager_is_ready (mb));
  conn_rec_clear (&ca);

  /* dialled afresh by the next open; explicit close, object kept */
  a_to_b = open_ok (ma, KEY_B, sb.instance_url, &ca);
  send_str (a_to_b, "again");
  expect_message (&cb, 2, "again");
  nb_relay_conn_close (a_to_b);
  WAIT_UINT_AT_LEAST (ra.foreign_closed, 2);
  g_assert_cmpuint (nb_relay_manager_get_n_foreign (ma), ==, 0);
  g_assert_cmpstr (ra.events->str, ==, "RFF");
  g_assert_cmpuint (ca.closed, ==, 0); /* closed by us: no "closed" */

  nb_relay_manager_stop (ma);
  nb_relay_manager_stop (mb);
  g_clear_object (&a_to_b);
  g_clear_object (&b_to_a);
  g_clear_object (&ma);
  g_clear_object (&mb);
  server_clear (&sa);
  server_clear (&sb);
  conn_rec_clear (&ca);
  conn_rec_clear (&cb);
  mgr_rec_clear (&ra);
  mgr_rec_clear (&rb);
}

/* Two peers on the same foreign relay share one connection (dialled once
 * even though both opens wait for it); it closes only after the second
 * virtual connection. */
static void
test_foreign_reused (void)
{
  TestServer sa = { 0 }, sb = { 0 };
  g_autoptr(NbRelayManager) ma = NULL;
  g_autoptr(NbRelayManager) mb = NULL;
  g_autoptr(NbRelayManager) mc = NULL;
  g_autoptr(NbRelayConn) b_to_a = NULL;
  g_autoptr(NbRelayConn) c_to_a = NULL;
  MgrRec ra, rb, rc;
  ConnRec cab, cac, cb, cc;
  OpenRes to_b, to_c;
  guint sb_connected;
  gint64 dropped_us;

  server_start (&sa, SECRET, 0);
  server_start (&sb, SECRET, 0);
  ma = new_manager (KEY_A, SECRET, &ra, sa.url, NULL);
  mb = new_manager (KEY_B, SECRET, &rb, sb.url, NULL);
  mc = new_manager (KEY_C, SECRET, &rc, sb.url, NULL);
  start_and_wait_home (ma, &ra);
  start_and_wait_home (mb, &rb);
  start_and_wait_home (mc, &rc);
  g_assert_cmpstr (rb.instance_url, ==, rc.instance_url);
  b_to_a = open_ok (mb, KEY_A, NULL, &cb);
  c_to_a = open_ok (mc, KEY_A, NULL, &cc);
  sb_connected = sb.peer_connected;

  /* both opens before the foreign relay is connected */
  open_begin (ma, KEY_B, sb.instance_url, NULL, &to_b, &cab);
  open_begin (ma, KEY_C, sb.instance_url, NULL, &to_c, &cac);
  g_assert_cmpuint (nb_relay_manager_get_n_foreign (ma), ==, 1);
  open_wait (&to_b);
  open_wait (&to_c);
  g_assert_no_error (to_b.error);
  g_assert_no_error (to_c.error);
  g_assert_cmpuint (sb.peer_connected, ==, sb_connected + 1);
  g_assert_cmpuint (nb_relay_manager_get_n_foreign (ma), ==, 1);
  g_assert_true (nb_relay_conn_get_client (to_b.conn) == nb_relay_conn_get_client (to_c.conn));

  /* an open on an already connected foreign relay reuses it too */
  {
    g_autoptr(NbRelayConn) third = open_ok (ma, KEY_A "x", sb.instance_url, NULL);

    g_assert_true (nb_relay_conn_get_client (third) == nb_relay_conn_get_client (to_b.conn));
  }
  g_assert_cmpuint (sb.peer_connected, ==, sb_connected + 1);

  send_str (to_b.conn, "to B");
  send_str (to_c.conn, "to C");
  expect_message (&cb, 1, "to B");
  expect_message (&cc, 1, "to C");
  send_str (b_to_a, "from B");
  send_str (c_to_a, "from C");
  expect_message (&cab, 1, "from B");
  expect_message (&cac, 1, "from C");

  /* one of two goes: the foreign relay stays */
  g_clear_object (&to_b.conn);
  run_for (3 * GRACE_MS);
  g_assert_cmpuint (ra.foreign_closed, ==, 0);
  g_assert_true (nb_relay_manager_has_foreign (ma, sb.instance_url));
  send_str (to_c.conn, "still here");
  expect_message (&cc, 2, "still here");

  /* the last one goes */
  g_clear_object (&to_c.conn);
  dropped_us = g_get_monotonic_time ();
  WAIT_UINT_AT_LEAST (ra.foreign_closed, 1);
  g_assert_cmpint (ra.foreign_closed_us - dropped_us, >=, (GRACE_MS - 10) * 1000);
  g_assert_no_error (ra.foreign_error);
  wait_peer_presence (sb.server, KEY_A, FALSE);

  nb_relay_manager_stop (ma);
  nb_relay_manager_stop (mb);
  nb_relay_manager_stop (mc);
  g_clear_object (&b_to_a);
  g_clear_object (&c_to_a);
  g_clear_object (&ma);
  g_clear_object (&mb);
  g_clear_object (&mc);
  server_clear (&sa);
  server_clear (&sb);
  conn_rec_clear (&cab);
  conn_rec_clear (&cac);
  conn_rec_clear (&cb);
  conn_rec_clear (&cc);
  mgr_rec_clear (&ra);
  mgr_rec_clear (&rb);
  mgr_rec_clear (&rc);
}

/* A foreign relay that cannot be reached fails every open waiting for it,
 * is forgotten, and emits no "foreign-closed". A cancelled open completes
 * at once. */
static void
test_foreign_unreachable (void)
{
  TestServer sa = { 0 };
  g_autoptr(NbRelayManager) ma = NULL;
  g_autoptr(GSocket) dead = reserve_port (0);
  g_autoptr(GSocket) silent = silent_listener ();
  g_autofree char *dead_url = url_for_port (socket_port (dead));
  g_autofree char *silent_url = url_for_port (socket_port (silent));
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  OpenRes r1, r2, r3;
  MgrRec ra;

  server_start (&sa, SECRET, 0);
  ma = new_manager (KEY_A, SECRET, &ra, sa.url, NULL);
  nb_relay_manager_set_connect_timeout (ma, 300);
  start_and_wait_home (ma, &ra);

  open_begin (ma, KEY_B, dead_url, NULL, &r1, NULL);
  open_begin (ma, KEY_C, dead_url, NULL, &r2, NULL);
  open_wait (&r1);
  open_wait (&r2);
  g_assert_error (r1.error, NB_RELAY_CLIENT_ERROR, NB_RELAY_CLIENT_ERROR_CONNECT);
  g_assert_error (r2.error, NB_RELAY_CLIENT_ERROR, NB_RELAY_CLIENT_ERROR_CONNECT);
  g_assert_cmpuint (nb_relay_manager_get_n_foreign (ma), ==, 0);

  /* a malformed URL from a peer */
  {
    g_autoptr(GError) error = open_fail (ma, KEY_B, "http://127.0.0.1:1");

    g_assert_error (error, NB_RELAY_CLIENT_ERROR, NB_RELAY_CLIENT_ERROR_INVALID_URL);
  }

  /* the dial hangs: cancel the open */
  open_begin (ma, KEY_B, silent_url, cancellable, &r3, NULL);
  g_assert_true (nb_relay_manager_has_foreign (ma, silent_url));
  g_cancellable_cancel (cancellable);
  g_assert_false (r3.done); /* from an idle callback, not from cancel() */
  open_wait (&r3);
  g_assert_error (r3.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  /* the dial itself runs into its connect timeout */
  g_assert_true (run_until_cond (manager_has_no_foreign, ma, WAIT_MS));

  g_assert_cmpuint (ra.foreign_closed, ==, 0);
  g_assert_cmpstr (ra.events->str, ==, "R");
  g_assert_true (nb_relay_manager_is_ready (ma));

  nb_relay_manager_stop (ma);
  g_clear_object (&ma);
  server_clear (&sa);
  g_clear_error (&r1.error);
  g_clear_error (&r2.error);
  g_clear_error (&r3.error);
  mgr_rec_clear (&ra);
}

/* The foreign relay server goes away: its virtual connections close, the
 * connection is forgotten (not reconnected), the home relay is untouched. */
static void
test_foreign_lost (void)
{
  TestServer sa = { 0 }, sb = { 0 };
  g_autoptr(NbRelayManager) ma = NULL;
  g_autoptr(NbRelayManager) mb = NULL;
  g_autoptr(NbRelayConn) a_to_b = NULL;
  g_autoptr(NbRelayConn) b_to_a = NULL;
  g_autoptr(GSocket) reserved = NULL;
  MgrRec ra, rb;
  ConnRec ca, cb;

  server_start (&sa, SECRET, 0);
  server_start (&sb, SECRET, 0);
  ma = new_manager (KEY_A, SECRET, &ra, sa.url, NULL);
  mb = new_manager (KEY_B, SECRET, &rb, sb.url, NULL);
  start_and_wait_home (ma, &ra);
  start_and_wait_home (mb, &rb);
  b_to_a = open_ok (mb, KEY_A, NULL, &cb);
  a_to_b = open_ok (ma, KEY_B, sb.instance_url, &ca);

  reserved = server_stop_keep_port (&sb);
  WAIT_UINT_AT_LEAST (ra.foreign_closed, 1);
  g_assert_cmpstr (ra.foreign_url, ==, sb.instance_url);
  g_assert_error (ra.foreign_error, NB_RELAY_CLIENT_ERROR, NB_RELAY_CLIENT_ERROR_CLOSED_BY_SERVER);
  g_assert_cmpuint (ca.closed, ==, 1);
  g_assert_false (nb_relay_conn_is_open (a_to_b));
  g_assert_cmpuint (nb_relay_manager_get_n_foreign (ma), ==, 0);
  g_assert_true (nb_relay_manager_is_ready (ma));
  WAIT_UINT_AT_LEAST (rb.lost, 1);
  g_assert_cmpstr (ra.events->str, ==, "RF");

  nb_relay_manager_stop (ma);
  nb_relay_manager_stop (mb);
  g_clear_object (&a_to_b);
  g_clear_object (&b_to_a);
  g_clear_object (&ma);
  g_clear_object (&mb);
  g_clear_object (&reserved);
  server_clear (&sa);
  server_clear (&sb);
  conn_rec_clear (&ca);
  conn_rec_clear (&cb);
  mgr_rec_clear (&ra);
  mgr_rec_clear (&rb);
}

/* ---- tests: losing the home relay --------------------------------------- */

/* The home server restarts: "home-lost", opens refused meanwhile, the
 * manager reconnects ("home-ready", "relay-reconnected"), both by the quick
 * reconnect to the same server and, after a longer outage, by picking. */
static void
test_home_reconnect (void)
{
  TestServer sa = { 0 };
  g_autoptr(NbRelayManager) ma = NULL;
  g_autoptr(NbRelayManager) mb = NULL;
  g_autoptr(NbRelayConn) a_to_b = NULL;
  g_autoptr(NbRelayConn) b_to_a = NULL;
  g_autoptr(GSocket) reserved = NULL;
  ErrCond refused;
  MgrRec ra, rb;
  ConnRec ca, cb;
  guint16 port;

  server_start (&sa, SECRET, 0);
  port = sa.port;
  ma = new_manager (KEY_A, SECRET, &ra, sa.url, NULL);
  nb_relay_manager_set_quick_reconnect_delay (ma, 200);
  start_and_wait_home (ma, &ra);
  a_to_b = open_ok (ma, KEY_B, NULL, &ca);

  /* a short outage: back before the quick reconnect */
  reserved = server_stop_keep_port (&sa);
  WAIT_UINT_AT_LEAST (ra.lost, 1);
  g_assert_error (ra.lost_error, NB_RELAY_CLIENT_ERROR, NB_RELAY_CLIENT_ERROR_CLOSED_BY_SERVER);
  g_assert_cmpuint (ca.closed, ==, 1);
  {
    g_autoptr(GError) error = open_fail (ma, KEY_B, NULL);

    g_assert_error (error, NB_RELAY_MANAGER_ERROR, NB_RELAY_MANAGER_ERROR_NOT_READY);
  }
  server_start (&sa, SECRET, port);
  g_clear_object (&reserved);
  WAIT_UINT_AT_LEAST (ra.reconnected, 1);
  /* not before the quick-reconnect delay */
  g_assert_cmpint (ra.ready_us - ra.lost_us, >=, 190 * 1000);
  g_assert_cmpstr (ra.events->str, ==, "RLRC");
  g_assert_cmpstr (ra.instance_url, ==, sa.instance_url);
  g_assert_null (nb_relay_manager_get_last_error (ma));

  /* a longer outage: the quick reconnect fails, picks are retried */
  nb_relay_manager_set_quick_reconnect_delay (ma, 20);
  reserved = server_stop_keep_port (&sa);
  WAIT_UINT_AT_LEAST (ra.lost, 2);
  refused = (ErrCond) { ma, NB_RELAY_CLIENT_ERROR, NB_RELAY_CLIENT_ERROR_CONNECT };
  g_assert_true (run_until_cond (last_error_is, &refused, WAIT_MS));
  g_assert_cmpuint (ra.ready, ==, 2);
  server_start (&sa, SECRET, port);
  g_clear_object (&reserved);
  WAIT_UINT_AT_LEAST (ra.reconnected, 2);
  g_assert_cmpstr (ra.events->str, ==, "RLRCLRC");
  g_assert_true (nb_relay_manager_is_ready (ma));

  /* virtual connections work again on the new session */
  mb = new_manager (KEY_B, SECRET, &rb, sa.url, NULL);
  start_and_wait_home (mb, &rb);
  conn_rec_clear (&ca);
  g_clear_object (&a_to_b);
  a_to_b = open_ok (ma, KEY_B, NULL, &ca);
  b_to_a = open_ok (mb, KEY_A, ra.instance_url, &cb); /* same relay: home */
  g_assert_cmpuint (nb_relay_manager_get_n_foreign (mb), ==, 0);
  send_str (a_to_b, "after restart");
  expect_message (&cb, 1, "after restart");

  nb_relay_manager_stop (ma);
  nb_relay_manager_stop (mb);
  g_clear_object (&a_to_b);
  g_clear_object (&b_to_a);
  g_clear_object (&ma);
  g_clear_object (&mb);
  server_clear (&sa);
  conn_rec_clear (&ca);
  conn_rec_clear (&cb);
  mgr_rec_clear (&ra);
  mgr_rec_clear (&rb);
}

/* The home server goes away for good: the manager picks the other listed
 * server (which was down at the first pick). */
static void
test_home_repick_other (void)
{
  TestServer sa = { 0 }, sb = { 0 };
  g_autoptr(NbRelayManager) m = NULL;
  g_autoptr(GSocket) b_port = reserve_port (0);
  g_autoptr(GSocket) a_port = NULL;
  g_autofree char *b_url = url_for_port (socket_port (b_port));
  MgrRec rec;

  server_start (&sa, SECRET, 0);
  m = new_manager (KEY_A, SECRET, &rec, sa.url, b_url, NULL);
  start_and_wait_home (m, &rec);
  g_assert_cmpstr (rec.instance_url, ==, sa.instance_url);

  server_start (&sb, SECRET, socket_port (b_port));
  g_clear_object (&b_port);
  a_port = server_stop_keep_port (&sa);
  WAIT_UINT_AT_LEAST (rec.reconnected, 1);
  g_assert_cmpstr (rec.events->str, ==, "RLRC");
  g_assert_cmpstr (rec.instance_url, ==, sb.instance_url);
  g_assert_cmpstr (nb_relay_manager_get_home_server_url (m), ==, sb.url);
  g_assert_true (server_has_key (sb.server, KEY_A));

  nb_relay_manager_stop (m);
  g_clear_object (&m);
  g_clear_object (&a_port);
  server_clear (&sa);
  server_clear (&sb);
  mgr_rec_clear (&rec);
}

/* ---- tests: tokens ------------------------------------------------------ */

/* The relay secret is rotated while the home server restarts: our
 * reconnects are refused until management's new token arrives, which then
 * serves the home relay and a new foreign relay alike. */
static void
test_token_rotated (void)
{
  TestServer sa = { 0 }, sb = { 0 };
  g_autoptr(NbRelayManager) ma = NULL;
  g_autoptr(NbRelayManager) mb = NULL;
  g_autoptr(NbRelayConn) a_to_b = NULL;
  g_autoptr(NbRelayConn) b_to_a = NULL;
  g_autoptr(GSocket) reserved = NULL;
  ErrCond rejected;
  MgrRec ra, rb;
  ConnRec ca, cb;

  server_start (&sa, SECRET, 0);
  server_start (&sb, OTHER_SECRET, 0);
  ma = new_manager (KEY_A, SECRET, &ra, sa.url, NULL);
  mb = new_manager (KEY_B, OTHER_SECRET, &rb, sb.url, NULL);
  start_and_wait_home (ma, &ra);
  start_and_wait_home (mb, &rb);

  /* the old token does not open sb */
  {
    g_autoptr(GError) error = open_fail (ma, KEY_B, sb.instance_url);

    g_assert_error (error, NB_RELAY_CLIENT_ERROR, NB_RELAY_CLIENT_ERROR_AUTH_REJECTED);
  }

  reserved = server_stop_keep_port (&sa);
  server_start (&sa, OTHER_SECRET, sa.port);
  g_clear_object (&reserved);
  WAIT_UINT_AT_LEAST (ra.lost, 1);
  WAIT_UINT_AT_LEAST (sa.rejected, 2);
  rejected = (ErrCond) { ma, NB_RELAY_CLIENT_ERROR, NB_RELAY_CLIENT_ERROR_AUTH_REJECTED };
  g_assert_true (run_until_cond (last_error_is, &rejected, WAIT_MS));
  g_assert_cmpuint (ra.ready, ==, 1);

  set_token (ma, OTHER_SECRET, 3600);
  WAIT_UINT_AT_LEAST (ra.reconnected, 1);
  g_assert_cmpstr (ra.events->str, ==, "RLRC");

  b_to_a = open_ok (mb, KEY_A, NULL, &cb);
  a_to_b = open_ok (ma, KEY_B, sb.instance_url, &ca);
  send_str (a_to_b, "new token");
  expect_message (&cb, 1, "new token");

  nb_relay_manager_stop (ma);
  nb_relay_manager_stop (mb);
  g_clear_object (&a_to_b);
  g_clear_object (&b_to_a);
  g_clear_object (&ma);
  g_clear_object (&mb);
  server_clear (&sa);
  server_clear (&sb);
  conn_rec_clear (&ca);
  conn_rec_clear (&cb);
  mgr_rec_clear (&ra);
  mgr_rec_clear (&rb);
}

/* An expired token fails every pick until a fresh one replaces it. */
static void
test_token_expired_replaced (void)
{
  TestServer sa = { 0 };
  g_autoptr(NbRelayManager) m = NULL;
  g_autoptr(GError) error = NULL;
  ErrCond rejected;
  MgrRec rec;

  server_start (&sa, SECRET, 0);
  m = new_manager (KEY_A, SECRET, &rec, sa.url, NULL);
  set_token (m, SECRET, -60);
  g_assert_true (nb_relay_manager_start (m, &error));
  g_assert_no_error (error);
  WAIT_UINT_AT_LEAST (sa.rejected, 2); /* the first pick and a retry */
  rejected = (ErrCond) { m, NB_RELAY_CLIENT_ERROR, NB_RELAY_CLIENT_ERROR_AUTH_REJECTED };
  g_assert_true (run_until_cond (last_error_is, &rejected, WAIT_MS));
  g_assert_cmpuint (rec.ready, ==, 0);

  set_token (m, SECRET, 3600);
  WAIT_UINT_AT_LEAST (rec.reconnected, 1);
  g_assert_cmpstr (rec.events->str, ==, "RC");
  g_assert_true (server_has_key (sa.server, KEY_A));

  nb_relay_manager_stop (m);
  g_clear_object (&m);
  server_clear (&sa);
  mgr_rec_clear (&rec);
}

/* ---- tests: lifecycle --------------------------------------------------- */

static void
test_not_ready (void)
{
  g_autoptr(NbRelayManager) m = nb_relay_manager_new (KEY_A);
  g_autoptr(GError) error = NULL;
  const char *urls[] = { "rel://127.0.0.1:1", NULL };

  g_assert_false (nb_relay_manager_is_ready (m));
  g_assert_null (nb_relay_manager_get_home_instance_url (m));
  g_assert_null (nb_relay_manager_get_home_client (m));
  g_assert_null (nb_relay_manager_get_servers (m)[0]);

  /* no token */
  g_assert_false (nb_relay_manager_start (m, &error));
  g_assert_error (error, NB_RELAY_MANAGER_ERROR, NB_RELAY_MANAGER_ERROR_NO_TOKEN);
  g_clear_error (&error);

  /* a token that cannot be encoded is refused */
  g_assert_false (nb_relay_manager_set_token (m, "12345678901", "not base64!", &error));
  g_assert_nonnull (error);
  g_clear_error (&error);

  /* not started: opens fail, home or foreign */
  nb_relay_manager_set_servers (m, urls);
  {
    g_autoptr(GError) e1 = open_fail (m, KEY_B, NULL);
    g_autoptr(GError) e2 = open_fail (m, KEY_B, "rel://127.0.0.1:2");

    g_assert_error (e1, NB_RELAY_MANAGER_ERROR, NB_RELAY_MANAGER_ERROR_NOT_READY);
    g_assert_error (e2, NB_RELAY_MANAGER_ERROR, NB_RELAY_MANAGER_ERROR_NOT_READY);
  }
  g_assert_cmpuint (nb_relay_manager_get_n_foreign (m), ==, 0);
  nb_relay_manager_stop (m); /* stopping a stopped manager is fine */
}

/* stop() closes the home relay, every foreign relay and every virtual
 * connection, fails waiting opens, and emits nothing; the manager can be
 * started again. */
static void
test_stop (void)
{
  TestServer sa = { 0 }, sb = { 0 };
  g_autoptr(NbRelayManager) ma = NULL;
  g_autoptr(NbRelayManager) mb = NULL;
  g_autoptr(NbRelayConn) home_conn = NULL;
  g_autoptr(NbRelayConn) foreign_conn = NULL;
  g_autoptr(GSocket) silent = silent_listener ();
  g_autofree char *silent_url = url_for_port (socket_port (silent));
  g_autoptr(GError) error = NULL;
  MgrRec ra, rb;
  ConnRec ch, cf;
  OpenRes waiting;
  g_autofree char *events = NULL;

  server_start (&sa, SECRET, 0);
  server_start (&sb, SECRET, 0);
  ma = new_manager (KEY_A, SECRET, &ra, sa.url, NULL);
  mb = new_manager (KEY_B, SECRET, &rb, sb.url, NULL);
  start_and_wait_home (ma, &ra);
  start_and_wait_home (mb, &rb);
  home_conn = open_ok (ma, KEY_C, NULL, &ch);
  foreign_conn = open_ok (ma, KEY_B, sb.instance_url, &cf);
  open_begin (ma, KEY_C, silent_url, NULL, &waiting, NULL);
  g_assert_cmpuint (nb_relay_manager_get_n_foreign (ma), ==, 2);
  events = g_strdup (ra.events->str);

  nb_relay_manager_stop (ma);
  g_assert_false (nb_relay_manager_is_ready (ma));
  g_assert_cmpuint (nb_relay_manager_get_n_foreign (ma), ==, 0);
  g_assert_false (nb_relay_conn_is_open (home_conn));
  g_assert_false (nb_relay_conn_is_open (foreign_conn));
  g_assert_cmpuint (ch.closed, ==, 1);
  g_assert_cmpuint (cf.closed, ==, 1);
  g_assert_false (waiting.done);
  open_wait (&waiting);
  g_assert_error (waiting.error, NB_RELAY_MANAGER_ERROR, NB_RELAY_MANAGER_ERROR_STOPPED);

  g_assert_true (run_until_cond (server_has_no_connections, sa.server, WAIT_MS));
  wait_peer_presence (sb.server, KEY_A, FALSE);
  g_assert_cmpuint (nb_relay_server_get_n_connections (sb.server), ==, 1); /* mb */
  run_for (3 * GRACE_MS);
  g_assert_cmpstr (ra.events->str, ==, events);
  g_assert_true (server_has_no_connections (sa.server));

  /* and again */
  start_and_wait_home (ma, &ra);
  g_assert_cmpstr (ra.events->str, ==, "RR");
  nb_relay_manager_stop (ma);
  g_assert_true (run_until_cond (server_has_no_connections, sa.server, WAIT_MS));

  /* dropping a started manager closes everything too */
  start_and_wait_home (ma, &ra);
  g_clear_object (&ma);
  g_assert_true (run_until_cond (server_has_no_connections, sa.server, WAIT_MS));

  nb_relay_manager_stop (mb);
  g_clear_object (&home_conn);
  g_clear_object (&foreign_conn);
  g_clear_object (&mb);
  g_clear_error (&waiting.error);
  server_clear (&sa);
  server_clear (&sb);
  conn_rec_clear (&ch);
  conn_rec_clear (&cf);
  mgr_rec_clear (&ra);
  mgr_rec_clear (&rb);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/relay-manager/pick/auth-refused", test_pick_auth_refused);
  g_test_add_func ("/relay-manager/pick/not-listening", test_pick_not_listening);
  g_test_add_func ("/relay-manager/pick/losers-closed", test_pick_losers_closed);
  g_test_add_func ("/relay-manager/pick/retry", test_pick_retry);
  g_test_add_func ("/relay-manager/foreign/exchange", test_foreign_exchange);
  g_test_add_func ("/relay-manager/foreign/grace", test_foreign_grace);
  g_test_add_func ("/relay-manager/foreign/reused", test_foreign_reused);
  g_test_add_func ("/relay-manager/foreign/unreachable", test_foreign_unreachable);
  g_test_add_func ("/relay-manager/foreign/lost", test_foreign_lost);
  g_test_add_func ("/relay-manager/home/reconnect", test_home_reconnect);
  g_test_add_func ("/relay-manager/home/repick-other", test_home_repick_other);
  g_test_add_func ("/relay-manager/token/rotated", test_token_rotated);
  g_test_add_func ("/relay-manager/token/expired-replaced", test_token_expired_replaced);
  g_test_add_func ("/relay-manager/lifecycle/not-ready", test_not_ready);
  g_test_add_func ("/relay-manager/lifecycle/stop", test_stop);

  return g_test_run ();
}
