/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Tests for service/engine/worker-relay.c: two relay workers (peers A and
 * B, A's key greater, so A is the controller) on two real NbRelayManagers
 * against service/devnet/relay-server.c instances on 127.0.0.1, all in one
 * main loop. Each server announces `rel://localhost:PORT` while it is
 * listed as `rel://127.0.0.1:PORT`, so "connected" is seen to carry the
 * instance URL and a foreign relay is dialled at the URL a peer names.
 *
 * The handshake watcher needs a WireGuard device that reports handshakes:
 * real wireguard-go. It creates TUN devices, so those cases run only as
 * root, in a child of this binary started under `unshare --net --mount`
 * (own network namespace with its own loopback, tmpfs on /run for the UAPI
 * sockets): the host keeps no trace. Without root, wireguard-go or
 * unshare they are skipped.
 *
 * Nothing sleeps: every wait is for an event, bounded by a timeout.
 */

#include "config.h"

#include <errno.h>
#include <net/if.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib/gstdio.h>

#include "handshaker.h"
#include "relay-test-util.h"
#include "wg-uapi.h"
#include "worker-relay.h"

#define NETNS_ENV "TEST_WORKER_RELAY_NETNS"

/* ---- relay managers ----------------------------------------------------- */

typedef struct {
  NbRelayManager *m;
  guint ready;
} TestManager;

static void
on_home_ready (NbRelayManager *m, const char *url, TestManager *tm)
{
  tm->ready++;
}

static void
manager_init (TestManager *tm, const char *key, const char *server_url)
{
  const char *urls[] = { server_url, NULL };

  memset (tm, 0, sizeof *tm);
  tm->m = relay_test_manager_new (key, SECRET, urls, 100);
  g_signal_connect (tm->m, "home-ready", G_CALLBACK (on_home_ready), tm);
}

static void
manager_start (TestManager *tm)
{
  g_autoptr (GError) error = NULL;
  guint before = tm->ready;

  g_assert_true (nb_relay_manager_start (tm->m, &error));
  g_assert_no_error (error);
  wait_at_least (&tm->ready, before + 1);
  g_assert_true (nb_relay_manager_is_ready (tm->m));
}

static void
manager_clear (TestManager *tm)
{
  if (tm->m != NULL)
    nb_relay_manager_stop (tm->m);
  g_clear_object (&tm->m);
}

/* ---- workers ------------------------------------------------------------ */

typedef struct {
  NbWorkerRelay *w;
  guint connected;
  guint disconnected;
  char *url;              /* of the last "connected" */
  GError *error;          /* of the last "disconnected" */
  gint64 disconnected_us; /* monotonic */
  GPtrArray *received;    /* GBytes */
} TestWorker;

static void
on_connected (NbWorkerRelay *w, const char *url, TestWorker *tw)
{
  tw->connected++;
  g_free (tw->url);
  tw->url = g_strdup (url);
  /* the getters agree with the signal */
  g_assert_cmpint (nb_worker_relay_get_state (w), ==, NB_WORKER_RELAY_STATE_CONNECTED);
  g_assert_cmpstr (nb_worker_relay_get_server_url (w), ==, url);
}

static void
on_disconnected (NbWorkerRelay *w, const GError *error, TestWorker *tw)
{
  g_assert_nonnull (error);
  tw->disconnected++;
  tw->disconnected_us = g_get_monotonic_time ();
  g_clear_error (&tw->error);
  tw->error = g_error_copy (error);
}

static void
on_receive (NbWorkerRelay *w, const guint8 *data, gsize length, gpointer user_data)
{
  TestWorker *tw = user_data;

  g_ptr_array_add (tw->received, g_bytes_new (data, length));
}

static gboolean receive_notified;

static void
on_receive_destroy (gpointer user_data)
{
  receive_notified = TRUE;
}

static void
worker_init (TestWorker *tw, NbRelayManager *m, const char *local, const char *remote)
{
  memset (tw, 0, sizeof *tw);
  tw->w = nb_worker_relay_new (m, local, remote);
  tw->received = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  g_signal_connect (tw->w, "connected", G_CALLBACK (on_connected), tw);
  g_signal_connect (tw->w, "disconnected", G_CALLBACK (on_disconnected), tw);
  nb_worker_relay_set_receive_func (tw->w, on_receive, tw, on_receive_destroy);
}

static void
worker_clear (TestWorker *tw)
{
  g_clear_object (&tw->w);
  g_free (tw->url);
  g_clear_error (&tw->error);
  g_clear_pointer (&tw->received, g_ptr_array_unref);
  memset (tw, 0, sizeof *tw);
}

/* Open; nothing may be emitted from inside the call. */
static void
worker_open (TestWorker *tw, const char *remote_address)
{
  g_autoptr (GError) error = NULL;
  guint c = tw->connected, d = tw->disconnected;

  g_assert_true (nb_worker_relay_open (tw->w, remote_address, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (tw->connected, ==, c);
  g_assert_cmpuint (tw->disconnected, ==, d);
}

static void
wait_connected (TestWorker *tw, guint n, const char *url)
{
  wait_at_least (&tw->connected, n);
  g_assert_cmpuint (tw->connected, ==, n);
  g_assert_cmpstr (tw->url, ==, url);
  g_assert_cmpint (nb_worker_relay_get_state (tw->w), ==, NB_WORKER_RELAY_STATE_CONNECTED);
  g_assert_cmpstr (nb_worker_relay_get_server_url (tw->w), ==, url);
}

static void
wait_disconnected (TestWorker *tw, guint n, NbWorkerRelayError code)
{
  wait_at_least (&tw->disconnected, n);
  g_assert_cmpuint (tw->disconnected, ==, n);
  g_assert_error (tw->error, NB_WORKER_RELAY_ERROR, (gint) code);
  g_assert_cmpint (nb_worker_relay_get_state (tw->w), ==, NB_WORKER_RELAY_STATE_IDLE);
  g_assert_null (nb_worker_relay_get_server_url (tw->w));
}

/* Several datagrams from @from to @to, each byte-exact and in order. */
static void
check_data (TestWorker *from, TestWorker *to)
{
  static const gsize sizes[] = { 1, 32, 148, 1280, 1420, 4000 };
  g_autoptr (GPtrArray) sent = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  guint base = to->received->len;

  for (guint i = 0; i < G_N_ELEMENTS (sizes); i++)
    {
      g_autoptr (GError) error = NULL;
      guint8 *buf = g_malloc (sizes[i]);

      for (gsize j = 0; j < sizes[i]; j++)
        buf[j] = (guint8) g_random_int ();
      g_assert_true (nb_worker_relay_send (from->w, buf, sizes[i], &error));
      g_assert_no_error (error);
      g_ptr_array_add (sent, g_bytes_new_take (buf, sizes[i]));
    }
  wait_at_least (&to->received->len, base + sent->len);
  g_assert_cmpuint (to->received->len, ==, base + sent->len);
  for (guint i = 0; i < sent->len; i++)
    g_assert_true (g_bytes_equal (sent->pdata[i], to->received->pdata[base + i]));
}

/* ---- fixture: two peers, one or two relay servers ----------------------- */

typedef struct {
  TestServer s1, s2;
  TestManager ma, mb;
  TestWorker a, b;    /* a: A's worker for B; b: B's worker for A */
} Fixture;

/* Both peers on one server, or A on s1 and B on s2 (@two_servers). */
static void
fixture_setup (Fixture *f, gboolean two_servers)
{
  memset (f, 0, sizeof *f);
  g_assert_true (nb_handshaker_is_controller_for (KEY_A, KEY_B));
  g_assert_false (nb_handshaker_is_controller_for (KEY_B, KEY_A));

  server_start (&f->s1, SECRET, 0);
  if (two_servers)
    server_start (&f->s2, SECRET, 0);
  manager_init (&f->ma, KEY_A, f->s1.url);
  manager_init (&f->mb, KEY_B, two_servers ? f->s2.url : f->s1.url);
  manager_start (&f->ma);
  manager_start (&f->mb);
  worker_init (&f->a, f->ma.m, KEY_A, KEY_B);
  worker_init (&f->b, f->mb.m, KEY_B, KEY_A);
}

static void
fixture_teardown (Fixture *f)
{
  worker_clear (&f->a);
  worker_clear (&f->b);
  manager_clear (&f->ma);
  manager_clear (&f->mb);
  server_clear (&f->s1);
  server_clear (&f->s2);
  drain_context ();
}

/* Each opens with the other's home relay, as offers carry it. */
static void
open_both (Fixture *f)
{
  g_autofree char *home_a = g_strdup (nb_relay_manager_get_home_instance_url (f->ma.m));
  g_autofree char *home_b = g_strdup (nb_relay_manager_get_home_instance_url (f->mb.m));

  worker_open (&f->a, home_b);
  worker_open (&f->b, home_a);
}

/* ---- tests -------------------------------------------------------------- */

/* One relay: both meet on it, "connected" carries its instance URL, data
 * flows both ways; opening again while open changes nothing. */
static void
test_same_home (void)
{
  Fixture f;

  fixture_setup (&f, FALSE);
  g_assert_cmpstr (nb_relay_manager_get_home_instance_url (f.ma.m), ==, f.s1.instance_url);
  g_assert_true (nb_worker_relay_is_supported (f.a.w, f.s1.instance_url));

  open_both (&f);
  g_assert_cmpint (nb_worker_relay_get_state (f.a.w), ==, NB_WORKER_RELAY_STATE_OPENING);
  g_assert_null (nb_worker_relay_get_server_url (f.a.w));
  wait_connected (&f.a, 1, f.s1.instance_url);
  wait_connected (&f.b, 1, f.s1.instance_url);
  g_assert_cmpuint (nb_relay_manager_get_n_foreign (f.mb.m), ==, 0);

  check_data (&f.a, &f.b);
  check_data (&f.b, &f.a);
  check_data (&f.a, &f.b);

  /* open while open: TRUE, nothing happens */
  worker_open (&f.a, f.s1.instance_url);
  run_for (100);
  g_assert_cmpuint (f.a.connected, ==, 1);
  g_assert_cmpuint (f.a.disconnected, ==, 0);
  check_data (&f.b, &f.a);

  /* close: no signal, sending fails, the receive func stays */
  nb_worker_relay_close (f.a.w);
  g_assert_cmpint (nb_worker_relay_get_state (f.a.w), ==, NB_WORKER_RELAY_STATE_IDLE);
  {
    g_autoptr (GError) error = NULL;
    guint8 byte = 1;

    g_assert_false (nb_worker_relay_send (f.a.w, &byte, 1, &error));
    g_assert_error (error, NB_WORKER_RELAY_ERROR, NB_WORKER_RELAY_ERROR_CLOSED);
  }
  run_for (100);
  g_assert_cmpuint (f.a.disconnected, ==, 0);

  /* and it opens again */
  worker_open (&f.a, f.s1.instance_url);
  wait_connected (&f.a, 2, f.s1.instance_url);
  check_data (&f.a, &f.b);
  check_data (&f.b, &f.a);

  receive_notified = FALSE;
  worker_clear (&f.a);
  g_assert_true (receive_notified);
  fixture_teardown (&f);
}

/* Different home relays: the controller stays on its own, the other side
 * dials the controller's relay as a foreign one. Closing that side ends
 * its foreign relay connection, the server reports it offline, and the
 * controller's conn ends (CLOSED). Both open again. */
static void
test_foreign (void)
{
  Fixture f;

  fixture_setup (&f, TRUE);
  g_assert_cmpstr (nb_relay_manager_get_home_instance_url (f.ma.m), ==, f.s1.instance_url);
  g_assert_cmpstr (nb_relay_manager_get_home_instance_url (f.mb.m), ==, f.s2.instance_url);

  open_both (&f);
  wait_connected (&f.a, 1, f.s1.instance_url);
  wait_connected (&f.b, 1, f.s1.instance_url);
  g_assert_true (nb_relay_manager_has_foreign (f.mb.m, f.s1.instance_url));
  g_assert_cmpuint (nb_relay_manager_get_n_foreign (f.ma.m), ==, 0);
  check_data (&f.a, &f.b);
  check_data (&f.b, &f.a);

  /* B leaves: its foreign relay closes after the grace time */
  nb_worker_relay_close (f.b.w);
  wait_disconnected (&f.a, 1, NB_WORKER_RELAY_ERROR_CLOSED);
  g_assert_false (nb_relay_manager_has_foreign (f.mb.m, f.s1.instance_url));
  g_assert_cmpuint (f.b.disconnected, ==, 0);

  open_both (&f);
  wait_connected (&f.a, 2, f.s1.instance_url);
  wait_connected (&f.b, 2, f.s1.instance_url);
  check_data (&f.b, &f.a);
  check_data (&f.a, &f.b);
  fixture_teardown (&f);
}

static void
on_any_signal (NbWorkerRelay *w, gpointer arg, gpointer user_data)
{
  g_error ("unexpected signal from an unsupported or closed worker");
}

/* No relay on one side: UNAVAILABLE, no signal, no state change. */
static void
test_unsupported (void)
{
  Fixture f;
  TestManager idle;
  g_autoptr (NbWorkerRelay) no_manager = nb_worker_relay_new (NULL, KEY_A, KEY_B);
  g_autoptr (NbWorkerRelay) not_ready = NULL;
  g_autoptr (GError) error = NULL;

  fixture_setup (&f, FALSE);
  manager_init (&idle, KEY_A, f.s1.url);  /* never started */
  not_ready = nb_worker_relay_new (idle.m, KEY_A, KEY_B);

  g_signal_connect (f.a.w, "connected", G_CALLBACK (on_any_signal), NULL);
  g_signal_connect (f.a.w, "disconnected", G_CALLBACK (on_any_signal), NULL);
  g_signal_connect (no_manager, "connected", G_CALLBACK (on_any_signal), NULL);
  g_signal_connect (no_manager, "disconnected", G_CALLBACK (on_any_signal), NULL);
  g_signal_connect (not_ready, "connected", G_CALLBACK (on_any_signal), NULL);
  g_signal_connect (not_ready, "disconnected", G_CALLBACK (on_any_signal), NULL);

  /* the remote named no relay */
  g_assert_false (nb_worker_relay_is_supported (f.a.w, ""));
  g_assert_false (nb_worker_relay_is_supported (f.a.w, NULL));
  g_assert_false (nb_worker_relay_open (f.a.w, "", &error));
  g_assert_error (error, NB_WORKER_RELAY_ERROR, NB_WORKER_RELAY_ERROR_UNAVAILABLE);
  g_clear_error (&error);
  g_assert_false (nb_worker_relay_open (f.a.w, NULL, &error));
  g_assert_error (error, NB_WORKER_RELAY_ERROR, NB_WORKER_RELAY_ERROR_UNAVAILABLE);
  g_clear_error (&error);
  g_assert_cmpint (nb_worker_relay_get_state (f.a.w), ==, NB_WORKER_RELAY_STATE_IDLE);

  /* we have no relay: a manager without a home, or none at all */
  g_assert_false (nb_worker_relay_is_supported (not_ready, f.s1.instance_url));
  g_assert_false (nb_worker_relay_open (not_ready, f.s1.instance_url, &error));
  g_assert_error (error, NB_WORKER_RELAY_ERROR, NB_WORKER_RELAY_ERROR_UNAVAILABLE);
  g_clear_error (&error);
  g_assert_false (nb_worker_relay_is_supported (no_manager, f.s1.instance_url));
  g_assert_false (nb_worker_relay_open (no_manager, f.s1.instance_url, &error));
  g_assert_error (error, NB_WORKER_RELAY_ERROR, NB_WORKER_RELAY_ERROR_UNAVAILABLE);
  g_clear_error (&error);
  g_assert_cmpint (nb_worker_relay_get_state (not_ready), ==, NB_WORKER_RELAY_STATE_IDLE);
  g_assert_cmpint (nb_worker_relay_get_state (no_manager), ==, NB_WORKER_RELAY_STATE_IDLE);

  /* our home relay lost: unavailable again */
  nb_relay_manager_stop (f.ma.m);
  g_assert_false (nb_worker_relay_open (f.a.w, f.s1.instance_url, &error));
  g_assert_error (error, NB_WORKER_RELAY_ERROR, NB_WORKER_RELAY_ERROR_UNAVAILABLE);
  g_clear_error (&error);

  run_for (200);
  g_clear_object (&not_ready);
  manager_clear (&idle);
  fixture_teardown (&f);
}

/* The relay server goes away: both conns end (CLOSED, from an idle, not
 * inside the call that ended them). Once the server is back and the
 * managers have their home again, both open again. */
static void
test_server_stopped (void)
{
  Fixture f;
  g_autoptr (GSocket) reserved = NULL;
  guint ready_a, ready_b;

  fixture_setup (&f, FALSE);
  open_both (&f);
  wait_connected (&f.a, 1, f.s1.instance_url);
  wait_connected (&f.b, 1, f.s1.instance_url);

  ready_a = f.ma.ready;
  ready_b = f.mb.ready;
  reserved = server_stop_keep_port (&f.s1);
  wait_disconnected (&f.a, 1, NB_WORKER_RELAY_ERROR_CLOSED);
  wait_disconnected (&f.b, 1, NB_WORKER_RELAY_ERROR_CLOSED);
  g_assert_cmpuint (f.a.connected, ==, 1);

  g_clear_object (&reserved);
  server_start (&f.s1, SECRET, f.s1.port);
  wait_at_least (&f.ma.ready, ready_a + 1);
  wait_at_least (&f.mb.ready, ready_b + 1);
  open_both (&f);
  wait_connected (&f.a, 2, f.s1.instance_url);
  wait_connected (&f.b, 2, f.s1.instance_url);
  check_data (&f.a, &f.b);
  check_data (&f.b, &f.a);
  g_assert_cmpuint (f.a.disconnected, ==, 1);
  g_assert_cmpuint (f.b.disconnected, ==, 1);
  fixture_teardown (&f);
}

/* The peer's relay connection ends (its manager stops): the server reports
 * it offline and our conn ends (CLOSED). Stopping the manager closes the
 * peer's own conn too, but its "disconnected" comes later from an idle. */
static void
test_peer_left (void)
{
  Fixture f;

  fixture_setup (&f, FALSE);
  open_both (&f);
  wait_connected (&f.a, 1, f.s1.instance_url);
  wait_connected (&f.b, 1, f.s1.instance_url);

  nb_relay_manager_stop (f.mb.m);
  g_assert_cmpuint (f.b.disconnected, ==, 0);  /* not from inside stop() */
  wait_disconnected (&f.b, 1, NB_WORKER_RELAY_ERROR_CLOSED);
  wait_disconnected (&f.a, 1, NB_WORKER_RELAY_ERROR_CLOSED);

  manager_start (&f.mb);
  open_both (&f);
  wait_connected (&f.a, 2, f.s1.instance_url);
  wait_connected (&f.b, 2, f.s1.instance_url);
  check_data (&f.a, &f.b);
  check_data (&f.b, &f.a);
  fixture_teardown (&f);
}

/* close() while opening: nothing is emitted, for the home relay and for a
 * foreign one still connecting; a new open afterwards works. */
static void
test_close_pending (void)
{
  Fixture f;
  g_autoptr (GSocket) silent = NULL;
  g_autofree char *silent_url = NULL;
  g_autoptr (GError) error = NULL;

  fixture_setup (&f, FALSE);

  /* home relay (controller) */
  worker_open (&f.a, f.s1.instance_url);
  g_assert_cmpint (nb_worker_relay_get_state (f.a.w), ==, NB_WORKER_RELAY_STATE_OPENING);
  nb_worker_relay_close (f.a.w);
  g_assert_cmpint (nb_worker_relay_get_state (f.a.w), ==, NB_WORKER_RELAY_STATE_IDLE);
  run_for (200);
  g_assert_cmpuint (f.a.connected, ==, 0);
  g_assert_cmpuint (f.a.disconnected, ==, 0);

  /* close and open again at once: one "connected" */
  worker_open (&f.a, f.s1.instance_url);
  nb_worker_relay_close (f.a.w);
  worker_open (&f.a, f.s1.instance_url);
  wait_connected (&f.a, 1, f.s1.instance_url);
  run_for (100);
  g_assert_cmpuint (f.a.connected, ==, 1);
  g_assert_cmpuint (f.a.disconnected, ==, 0);

  /* a foreign relay that accepts but never answers: the open waits */
  silent = reserve_port (0);
  g_assert_true (g_socket_listen (silent, &error));
  g_assert_no_error (error);
  silent_url = url_for_port (socket_port (silent));
  worker_open (&f.b, silent_url);
  run_for (200);
  g_assert_cmpint (nb_worker_relay_get_state (f.b.w), ==, NB_WORKER_RELAY_STATE_OPENING);
  g_assert_true (nb_relay_manager_has_foreign (f.mb.m, silent_url));
  nb_worker_relay_close (f.b.w);
  run_for (300);
  g_assert_cmpuint (f.b.connected, ==, 0);
  g_assert_cmpuint (f.b.disconnected, ==, 0);

  /* and B still meets A on A's relay */
  worker_open (&f.b, f.s1.instance_url);
  wait_connected (&f.b, 1, f.s1.instance_url);
  check_data (&f.a, &f.b);
  check_data (&f.b, &f.a);

  /* dropping a worker while it opens is safe and quiet too */
  nb_worker_relay_close (f.a.w);
  worker_open (&f.a, f.s1.instance_url);
  g_clear_object (&f.a.w);
  run_for (100);
  g_assert_cmpuint (f.a.connected, ==, 1);
  fixture_teardown (&f);
}

/* The manager cannot open it (the peer's relay refuses connections):
 * "disconnected" with OPEN_FAILED, then a good open works. */
static void
test_open_failed (void)
{
  Fixture f;
  g_autoptr (GSocket) closed_port = reserve_port (0);
  g_autofree char *refusing = url_for_port (socket_port (closed_port));

  fixture_setup (&f, FALSE);
  worker_open (&f.b, refusing);
  wait_disconnected (&f.b, 1, NB_WORKER_RELAY_ERROR_OPEN_FAILED);
  g_assert_cmpuint (f.b.connected, ==, 0);

  open_both (&f);
  wait_connected (&f.a, 1, f.s1.instance_url);
  wait_connected (&f.b, 1, f.s1.instance_url);
  check_data (&f.b, &f.a);
  fixture_teardown (&f);
}

/* ---- handshake watcher (real wireguard-go, own network namespace) ------- */

static gboolean
link_up (const char *name)
{
  struct ifreq ifr;
  int fd = socket (AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  gboolean ok;

  g_assert_cmpint (fd, >=, 0);
  memset (&ifr, 0, sizeof ifr);
  g_strlcpy (ifr.ifr_name, name, IFNAMSIZ);
  ok = ioctl (fd, SIOCGIFFLAGS, &ifr) == 0;
  if (ok)
    {
      ifr.ifr_flags |= IFF_UP;
      ok = ioctl (fd, SIOCSIFFLAGS, &ifr) == 0;
    }
  close (fd);
  return ok;
}

static guint64
ns_inode (const char *kind)
{
  g_autofree char *path = g_strdup_printf ("/proc/self/ns/%s", kind);
  struct stat st;

  g_assert_cmpint (stat (path, &st), ==, 0);
  return (guint64) st.st_ino;
}

/* In the child: refuse to touch anything unless this really is a network
 * and mount namespace other than the parent's; then loopback up and a
 * private /run for the UAPI sockets. */
static void
netns_prepare (void)
{
  static gboolean done;
  const char *env = g_getenv (NETNS_ENV);
  g_autofree char *mine = NULL;

  if (done)
    return;
  mine = g_strdup_printf ("%" G_GUINT64_FORMAT ":%" G_GUINT64_FORMAT,
                          ns_inode ("net"), ns_inode ("mnt"));
  g_assert_nonnull (env);
  {
    g_auto (GStrv) parent = g_strsplit (env, ":", 2);
    g_auto (GStrv) child = g_strsplit (mine, ":", 2);

    g_assert_cmpuint (g_strv_length (parent), ==, 2);
    g_assert_cmpstr (parent[0], !=, child[0]);
    g_assert_cmpstr (parent[1], !=, child[1]);
  }
  g_assert_true (link_up ("lo"));
  g_assert_cmpint (mount ("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755"), ==, 0);
  g_assert_cmpint (g_mkdir ("/run/wireguard", 0700), ==, 0);
  done = TRUE;
}

typedef struct {
  gboolean done;
  gboolean ok;
  GError *error;
  NbWgStats *stats;
} Async;

static void
start_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Async *a = user_data;

  a->ok = nb_wg_uapi_start_finish (NB_WG_UAPI (source), result, &a->error);
  a->done = TRUE;
}

static void
stop_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Async *a = user_data;

  a->ok = nb_wg_uapi_stop_finish (NB_WG_UAPI (source), result, &a->error);
  a->done = TRUE;
}

static void
set_device_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Async *a = user_data;

  a->ok = nb_wg_backend_set_device_finish (NB_WG_BACKEND (source), result, &a->error);
  a->done = TRUE;
}

static void
set_peer_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Async *a = user_data;

  a->ok = nb_wg_backend_set_peer_finish (NB_WG_BACKEND (source), result, &a->error);
  a->done = TRUE;
}

static void
async_wait_ok (Async *a)
{
  g_assert_true (run_until (&a->done, WAIT_MS));
  g_assert_no_error (a->error);
  g_assert_true (a->ok);
  memset (a, 0, sizeof *a);
}

static void
stats_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Async *a = user_data;

  a->stats = nb_wg_backend_get_stats_finish (NB_WG_BACKEND (source), result, &a->error);
  a->done = TRUE;
}

static NbWgStats *
get_stats (NbWgUapi *uapi)
{
  Async a = { 0 };

  nb_wg_backend_get_stats_async (NB_WG_BACKEND (uapi), NULL, stats_cb, &a);
  g_assert_true (run_until (&a.done, WAIT_MS));
  g_assert_no_error (a.error);
  return a.stats;
}

/* A wireguard-go device @ifname with a fresh key and a port of its own,
 * link up; @out_public: its public key. */
static NbWgUapi *
wg_start (const char *ifname, NbWgKey *out_public, guint16 *out_port)
{
  g_autoptr (GError) error = NULL;
  g_auto (NbWgKey) priv = NB_WG_KEY_INIT;
  g_autoptr (NbWgStats) stats = NULL;
  NbWgUapi *uapi = nb_wg_uapi_new (ifname, &error);
  Async a = { 0 };

  g_assert_no_error (error);
  nb_wg_uapi_start_async (uapi, NULL, start_cb, &a);
  async_wait_ok (&a);
  nb_wg_key_generate_private (&priv);
  nb_wg_key_derive_public (&priv, out_public);
  nb_wg_backend_set_device_async (NB_WG_BACKEND (uapi), &priv, 0, NULL, set_device_cb, &a);
  async_wait_ok (&a);
  /* wireguard-go binds its port once the link is up */
  g_assert_true (link_up (ifname));
  if (out_port != NULL)
    {
      gint64 deadline = g_get_monotonic_time () + WAIT_MS * 1000;

      do
        {
          g_clear_pointer (&stats, nb_wg_stats_free);
          stats = get_stats (uapi);
          if (stats->listen_port == 0)
            run_for (20);
        }
      while (stats->listen_port == 0 && g_get_monotonic_time () < deadline);
      g_assert_cmpuint (stats->listen_port, !=, 0);
      *out_port = stats->listen_port;
    }
  return uapi;
}

static void
wg_set_peer (NbWgUapi *uapi, const NbWgKey *key, guint16 endpoint_port, guint16 keepalive_s)
{
  NbWgPeerConfig peer = { 0 };
  g_autoptr (GInetSocketAddress) endpoint = NULL;
  Async a = { 0 };

  peer.public_key = *key;
  if (endpoint_port != 0)
    {
      g_autoptr (GInetAddress) lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);

      endpoint = G_INET_SOCKET_ADDRESS (g_inet_socket_address_new (lo, endpoint_port));
      peer.endpoint = endpoint;
    }
  peer.persistent_keepalive_s = keepalive_s;
  nb_wg_backend_set_peer_async (NB_WG_BACKEND (uapi), &peer, NULL, set_peer_cb, &a);
  async_wait_ok (&a);
}

static void
wg_stop (NbWgUapi *uapi)
{
  Async a = { 0 };

  nb_wg_uapi_stop_async (uapi, NULL, stop_cb, &a);
  g_assert_true (run_until (&a.done, 15000));
  g_assert_no_error (a.error);
  g_object_unref (uapi);
}

/* A peer that never handshakes (no endpoint): the watcher fires once the
 * timeout has passed since it was armed; inactive, it stays quiet, and
 * re-arming starts the time again. */
static void
test_watcher_no_handshake (void)
{
  Fixture f;
  NbWgKey own, peer_key;
  NbWgUapi *uapi;
  gint64 t0;
  g_auto (NbWgKey) peer_priv = NB_WG_KEY_INIT;

  netns_prepare ();
  uapi = wg_start ("wgrelayw0", &own, NULL);
  nb_wg_key_generate_private (&peer_priv);
  nb_wg_key_derive_public (&peer_priv, &peer_key);
  wg_set_peer (uapi, &peer_key, 0, 0);

  fixture_setup (&f, FALSE);
  nb_worker_relay_set_watch_timing (f.a.w, 1500, 100);
  nb_worker_relay_watch_handshake (f.a.w, NB_WG_BACKEND (uapi), &peer_key);
  open_both (&f);
  wait_connected (&f.a, 1, f.s1.instance_url);
  wait_connected (&f.b, 1, f.s1.instance_url);

  /* not active: no watching */
  run_for (2200);
  g_assert_cmpuint (f.a.disconnected, ==, 0);

  t0 = g_get_monotonic_time ();
  nb_worker_relay_set_active (f.a.w, TRUE);
  wait_disconnected (&f.a, 1, NB_WORKER_RELAY_ERROR_HANDSHAKE_TIMEOUT);
  g_test_message ("fired %" G_GINT64_FORMAT " ms after arming",
                  (f.a.disconnected_us - t0) / 1000);
  g_assert_cmpint (f.a.disconnected_us - t0, >=, 1500 * 1000);
  g_assert_cmpint (f.a.disconnected_us - t0, <, 3000 * 1000);
  g_assert_cmpuint (f.b.disconnected, ==, 0);

  /* connected again (the watcher re-arms on its own: still active) */
  worker_open (&f.a, f.s1.instance_url);
  wait_connected (&f.a, 2, f.s1.instance_url);
  check_data (&f.a, &f.b);
  /* disarmed before it fires, re-armed later: the time starts again */
  run_for (1000);
  nb_worker_relay_set_active (f.a.w, FALSE);
  run_for (1500);
  g_assert_cmpuint (f.a.disconnected, ==, 1);
  t0 = g_get_monotonic_time ();
  nb_worker_relay_set_active (f.a.w, TRUE);
  wait_disconnected (&f.a, 2, NB_WORKER_RELAY_ERROR_HANDSHAKE_TIMEOUT);
  g_assert_cmpint (f.a.disconnected_us - t0, >=, 1500 * 1000);
  g_assert_cmpint (f.a.disconnected_us - t0, <, 3000 * 1000);

  fixture_teardown (&f);
  wg_stop (uapi);
}

/* A handshake that happens after arming moves the baseline: the watcher
 * fires only once that handshake is older than the timeout (WireGuard
 * does not re-handshake within 2 min), not at the timeout since arming. */
static void
test_watcher_handshake_ages (void)
{
  Fixture f;
  NbWgKey key0, key1;
  guint16 port1 = 0;
  NbWgUapi *dev0, *dev1;
  gint64 t0, t_hs;
  g_autoptr (NbWgStats) stats = NULL;
  const NbWgPeerStats *ps;

  netns_prepare ();
  dev0 = wg_start ("wgrelayw1", &key0, NULL);
  dev1 = wg_start ("wgrelayw2", &key1, &port1);
  /* the responder knows the initiator first */
  wg_set_peer (dev1, &key0, 0, 0);
  wg_set_peer (dev0, &key1, 0, 0);

  fixture_setup (&f, FALSE);
  nb_worker_relay_set_watch_timing (f.a.w, 1500, 100);
  nb_worker_relay_watch_handshake (f.a.w, NB_WG_BACKEND (dev0), &key1);
  nb_worker_relay_set_active (f.a.w, TRUE);
  open_both (&f);
  wait_connected (&f.a, 1, f.s1.instance_url);
  t0 = g_get_monotonic_time ();

  run_for (1000);
  g_assert_cmpuint (f.a.disconnected, ==, 0);
  /* the endpoint and a keepalive make dev0 handshake now */
  wg_set_peer (dev0, &key1, port1, 1);
  t_hs = g_get_monotonic_time ();

  wait_disconnected (&f.a, 1, NB_WORKER_RELAY_ERROR_HANDSHAKE_TIMEOUT);
  g_test_message ("fired %" G_GINT64_FORMAT " ms after arming, %" G_GINT64_FORMAT
                  " ms after the handshake was started",
                  (f.a.disconnected_us - t0) / 1000, (f.a.disconnected_us - t_hs) / 1000);
  stats = get_stats (dev0);
  ps = nb_wg_stats_find_peer (stats, &key1);
  g_assert_nonnull (ps);
  g_assert_cmpint (ps->last_handshake_us, >, 0);
  /* later than the no-handshake rule would have fired, and about the
   * timeout after the handshake */
  g_assert_cmpint (f.a.disconnected_us - t0, >=, 2300 * 1000);
  g_assert_cmpint (f.a.disconnected_us - t_hs, >=, 1300 * 1000);
  g_assert_cmpint (f.a.disconnected_us - t_hs, <, 3500 * 1000);

  fixture_teardown (&f);
  wg_stop (dev0);
  wg_stop (dev1);
}

/* In the parent: run the watcher cases in a child of this binary in a new
 * network and mount namespace. */
static void
test_watcher_in_netns (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *self_exe = g_file_read_link ("/proc/self/exe", &error);
  g_autofree char *wg = g_find_program_in_path ("wireguard-go");
  g_autofree char *unshare = g_find_program_in_path ("unshare");
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autofree char *ns = NULL;
  g_auto (GStrv) envp = NULL;
  int status = 0;

  if (geteuid () != 0)
    {
      g_test_skip ("needs root (wireguard-go creates a TUN device)");
      return;
    }
  if (wg == NULL || unshare == NULL)
    {
      g_test_skip ("wireguard-go or unshare not installed");
      return;
    }
  if (!g_file_test ("/dev/net/tun", G_FILE_TEST_EXISTS))
    {
      g_test_skip ("no /dev/net/tun");
      return;
    }
  g_assert_no_error (error);

  /* can we have namespaces here at all (containers may refuse)? */
  {
    const char *probe[] = { unshare, "--net", "--mount", "--propagation", "private", "true", NULL };

    if (!g_spawn_sync (NULL, (char **) probe, NULL, G_SPAWN_STDOUT_TO_DEV_NULL |
                       G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL, NULL, NULL, &status, &error) ||
        !g_spawn_check_wait_status (status, NULL))
      {
        g_test_skip ("unshare --net --mount is not permitted here");
        return;
      }
  }

  ns = g_strdup_printf ("%" G_GUINT64_FORMAT ":%" G_GUINT64_FORMAT,
                        ns_inode ("net"), ns_inode ("mnt"));
  envp = g_environ_setenv (g_get_environ (), NETNS_ENV, ns, TRUE);
  {
    const char *argv[] = { unshare, "--net", "--mount", "--propagation", "private", "--",
                           self_exe, "-p", "/worker-relay/netns/watcher/no-handshake",
                           "-p", "/worker-relay/netns/watcher/handshake-ages", NULL };

    g_assert_true (g_spawn_sync (NULL, (char **) argv, envp, G_SPAWN_DEFAULT, NULL, NULL,
                                 &out, &err, &status, &error));
  }
  g_assert_no_error (error);
  g_test_message ("child output:\n%s%s", out, err);
  g_assert_true (g_spawn_check_wait_status (status, &error));
  g_assert_no_error (error);
  /* both cases ran and passed, none skipped */
  g_assert_nonnull (strstr (out, "ok 1 /worker-relay/netns/watcher/no-handshake"));
  g_assert_nonnull (strstr (out, "ok 2 /worker-relay/netns/watcher/handshake-ages"));
  g_assert_null (strstr (out, "# SKIP"));
}

/* ---- one-sided opens ---------------------------------------------------- */

/* A opens on its home relay, s1, where B is not (B's home is s2, and B
 * has not opened its side): A stays OPENING, with no "connected" and no
 * sending, however long. Once B opens (dialling s1 as a foreign relay) the
 * server reports B online and both are connected; data flows. */
static void
test_one_sided (void)
{
  Fixture f;
  g_autofree char *home_a = NULL;
  g_autofree char *home_b = NULL;

  fixture_setup (&f, TRUE);
  home_a = g_strdup (nb_relay_manager_get_home_instance_url (f.ma.m));
  home_b = g_strdup (nb_relay_manager_get_home_instance_url (f.mb.m));

  worker_open (&f.a, home_b);
  run_for (1000);
  g_assert_cmpuint (f.a.connected, ==, 0);
  g_assert_cmpuint (f.a.disconnected, ==, 0);
  g_assert_cmpint (nb_worker_relay_get_state (f.a.w), ==, NB_WORKER_RELAY_STATE_OPENING);
  g_assert_null (nb_worker_relay_get_server_url (f.a.w));
  {
    g_autoptr (GError) error = NULL;
    guint8 byte = 1;

    g_assert_false (nb_worker_relay_send (f.a.w, &byte, 1, &error));
    g_assert_error (error, NB_WORKER_RELAY_ERROR, NB_WORKER_RELAY_ERROR_CLOSED);
  }

  worker_open (&f.b, home_a);
  wait_connected (&f.b, 1, f.s1.instance_url);
  wait_connected (&f.a, 1, f.s1.instance_url);
  check_data (&f.a, &f.b);
  check_data (&f.b, &f.a);
  g_assert_cmpuint (f.a.disconnected, ==, 0);
  g_assert_cmpuint (f.b.disconnected, ==, 0);
  fixture_teardown (&f);
}

static void
on_connected_count_received (NbWorkerRelay *w, const char *url, guint *received_at_connected)
{
  TestWorker *tw = g_object_get_data (G_OBJECT (w), "test-worker");

  *received_at_connected = tw->received->len;
}

/* Both on one server (online before either opens). B opens first: B is
 * connected at once (A is online: the limit of the online rule) and
 * sends; A's relay client keeps that datagram until A opens. Whatever
 * confirms A's path first (the server's answer or that datagram), A's
 * "connected" comes before the datagram is delivered, and the datagram
 * arrives intact. */
static void
test_first_datagram (void)
{
  Fixture f;
  guint received_at_connected = G_MAXUINT;
  static const guint8 first[] = { 4, 0, 0, 0, 42, 43, 44 };

  fixture_setup (&f, FALSE);
  g_object_set_data (G_OBJECT (f.a.w), "test-worker", &f.a);
  g_signal_connect (f.a.w, "connected", G_CALLBACK (on_connected_count_received),
                    &received_at_connected);

  worker_open (&f.b, f.s1.instance_url);
  wait_connected (&f.b, 1, f.s1.instance_url);
  {
    g_autoptr (GError) error = NULL;

    g_assert_true (nb_worker_relay_send (f.b.w, first, sizeof first, &error));
    g_assert_no_error (error);
  }
  run_for (300);
  g_assert_cmpuint (f.a.connected, ==, 0);

  worker_open (&f.a, f.s1.instance_url);
  wait_connected (&f.a, 1, f.s1.instance_url);
  g_assert_cmpuint (received_at_connected, ==, 0);
  wait_at_least (&f.a.received->len, 1);
  g_assert_cmpuint (f.a.received->len, ==, 1);
  g_assert_cmpmem (g_bytes_get_data (f.a.received->pdata[0], NULL),
                   g_bytes_get_size (f.a.received->pdata[0]), first, sizeof first);
  check_data (&f.a, &f.b);
  check_data (&f.b, &f.a);
  fixture_teardown (&f);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  if (g_getenv (NETNS_ENV) != NULL)
    {
      /* the child in its own namespaces (test_watcher_in_netns) */
      g_test_add_func ("/worker-relay/netns/watcher/no-handshake", test_watcher_no_handshake);
      g_test_add_func ("/worker-relay/netns/watcher/handshake-ages", test_watcher_handshake_ages);
      return g_test_run ();
    }

  g_test_add_func ("/worker-relay/same-home", test_same_home);
  g_test_add_func ("/worker-relay/foreign", test_foreign);
  g_test_add_func ("/worker-relay/unsupported", test_unsupported);
  g_test_add_func ("/worker-relay/server-stopped", test_server_stopped);
  g_test_add_func ("/worker-relay/peer-left", test_peer_left);
  g_test_add_func ("/worker-relay/close-pending", test_close_pending);
  g_test_add_func ("/worker-relay/open-failed", test_open_failed);
  g_test_add_func ("/worker-relay/watcher", test_watcher_in_netns);
  g_test_add_func ("/worker-relay/one-sided", test_one_sided);
  g_test_add_func ("/worker-relay/first-datagram", test_first_datagram);
  return g_test_run ();
}
