/* SPDX-License-Identifier: GPL-2.0-or-later
 * Tests service/engine/wg-proxy.c over real loopback UDP sockets. WireGuard's
 * listen socket is played by a plain UDP socket (the proxy's peer is any UDP
 * socket); the transport is a send function here that collects what it is
 * given. Waits iterate the main loop with a timeout, never sleep. */
#include "config.h"

#include "wg-proxy.h"

#include <string.h>
#include <sys/socket.h>

#define TIMEOUT_MS 5000
#define DATAGRAM   1400

/* ------------------------------------------------------------------------ */
/* Waiting */

typedef gboolean (*Condition) (gpointer data);

static gboolean
timed_out_cb (gpointer data)
{
  *(gboolean *) data = TRUE;
  return G_SOURCE_REMOVE;
}

static gboolean
wait_for_ms (Condition cond, gpointer data, guint timeout_ms)
{
  gboolean timed_out = FALSE;
  guint id = g_timeout_add (timeout_ms, timed_out_cb, &timed_out);

  while (!cond (data) && !timed_out)
    g_main_context_iteration (NULL, TRUE);
  if (!timed_out)
    g_source_remove (id);
  return cond (data);
}

static gboolean
wait_for (Condition cond, gpointer data)
{
  return wait_for_ms (cond, data, TIMEOUT_MS);
}

/* ------------------------------------------------------------------------ */
/* A UDP socket playing WireGuard (or a stranger) */

typedef struct {
  GSocket *socket;
  GInetSocketAddress *address;
  GSource *source;
  GPtrArray *received;          /* GBytes */
  GPtrArray *senders;           /* GInetSocketAddress */
} Udp;

static gboolean
udp_readable_cb (GSocket *socket, GIOCondition condition, gpointer data)
{
  Udp *u = data;

  for (;;)
    {
      guint8 buf[65536];
      GSocketAddress *from = NULL;
      g_autoptr (GError) error = NULL;
      gssize n = g_socket_receive_from (socket, &from, (char *) buf, sizeof buf, NULL, &error);

      if (n < 0)
        {
          g_assert_error (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK);
          break;
        }
      g_ptr_array_add (u->received, g_bytes_new (buf, n));
      g_ptr_array_add (u->senders, from);
    }
  return G_SOURCE_CONTINUE;
}

static Udp *
udp_new (GSocketFamily family, guint16 port)
{
  Udp *u = g_new0 (Udp, 1);
  g_autoptr (GInetAddress) lo = g_inet_address_new_loopback (family);
  g_autoptr (GSocketAddress) bind_address = g_inet_socket_address_new (lo, port);
  g_autoptr (GError) error = NULL;

  u->socket = g_socket_new (family, G_SOCKET_TYPE_DATAGRAM, G_SOCKET_PROTOCOL_UDP, &error);
  g_assert_no_error (error);
  g_socket_set_blocking (u->socket, FALSE);
  g_socket_set_option (u->socket, SOL_SOCKET, SO_RCVBUF, 4 * 1024 * 1024, NULL);
  g_socket_set_option (u->socket, SOL_SOCKET, SO_SNDBUF, 4 * 1024 * 1024, NULL);
  g_socket_bind (u->socket, bind_address, FALSE, &error);
  g_assert_no_error (error);
  u->address = G_INET_SOCKET_ADDRESS (g_socket_get_local_address (u->socket, &error));
  g_assert_no_error (error);
  u->received = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  u->senders = g_ptr_array_new_with_free_func (g_object_unref);
  u->source = g_socket_create_source (u->socket, G_IO_IN, NULL);
  g_source_set_callback (u->source, G_SOURCE_FUNC (udp_readable_cb), u, NULL);
  g_source_attach (u->source, NULL);
  return u;
}

static void
udp_free (Udp *u)
{
  g_source_destroy (u->source);
  g_source_unref (u->source);
  g_object_unref (u->socket);
  g_object_unref (u->address);
  g_ptr_array_unref (u->received);
  g_ptr_array_unref (u->senders);
  g_free (u);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Udp, udp_free)

static void
udp_send (Udp *u, GInetSocketAddress *to, const guint8 *data, gsize length)
{
  g_autoptr (GError) error = NULL;
  gssize n = g_socket_send_to (u->socket, G_SOCKET_ADDRESS (to), (const char *) data, length, NULL, &error);

  g_assert_no_error (error);
  g_assert_cmpint (n, ==, length);
}

static int
socket_rcvbuf (Udp *u)
{
  gint value = 0;

  g_assert_true (g_socket_get_option (u->socket, SOL_SOCKET, SO_RCVBUF, &value, NULL));
  return value;
}

/* ------------------------------------------------------------------------ */
/* Datagrams: numbered, or WireGuard handshake messages */

static GBytes *
numbered (guint32 seq, gsize length)
{
  guint8 *buf = g_malloc0 (length);

  buf[0] = 4;                   /* transport data */
  memcpy (buf + 4, &seq, sizeof seq);
  for (gsize i = 8; i < length; i++)
    buf[i] = (guint8) (seq + i);
  return g_bytes_new_take (buf, length);
}

static guint32
seq_of (GBytes *b)
{
  guint32 seq;

  g_assert_cmpuint (g_bytes_get_size (b), >=, 8);
  memcpy (&seq, (const guint8 *) g_bytes_get_data (b, NULL) + 4, sizeof seq);
  return seq;
}

/* A type-1 (initiation) or type-2 (response) message; @tag in byte 4. */
static GBytes *
handshake (guint8 type, guint8 tag)
{
  gsize length = type == 1 ? 148 : 92;
  guint8 *buf = g_malloc0 (length);

  buf[0] = type;
  buf[4] = tag;
  return g_bytes_new_take (buf, length);
}

static gboolean
is_initiation_tagged (GBytes *b, guint8 tag)
{
  const guint8 *d = g_bytes_get_data (b, NULL);

  return g_bytes_get_size (b) == 148 && d[0] == 1 && d[4] == tag;
}

static void
udp_send_bytes (Udp *u, GInetSocketAddress *to, GBytes *b)
{
  udp_send (u, to, g_bytes_get_data (b, NULL), g_bytes_get_size (b));
}

/* ------------------------------------------------------------------------ */
/* The transport: collects what it is given */

typedef struct {
  GPtrArray *datagrams;         /* GBytes */
  GArray *batches;              /* guint: size of each call */
  guint accept;                 /* at most this many per call */
  gboolean destroyed;
  /* switch to @next from inside the call that sees datagram @switch_at */
  NbWgProxy *proxy;
  gpointer next;
  guint32 switch_at;
  gboolean switched;
  gboolean close_in_call;       /* closes c->proxy from inside the call */
} Collector;

static void collector_destroy (gpointer data);

static guint
collector_send (const guint8 *const *datagrams, const gsize *lengths, guint n, gpointer user_data)
{
  Collector *c = user_data;
  guint taken = MIN (n, c->accept);

  g_assert_false (c->destroyed);
  g_array_append_val (c->batches, n);
  for (guint i = 0; i < taken; i++)
    g_ptr_array_add (c->datagrams, g_bytes_new (datagrams[i], lengths[i]));

  if (c->next != NULL && !c->switched)
    {
      for (guint i = 0; i < taken; i++)
        if (lengths[i] >= 8 && seq_of (c->datagrams->pdata[c->datagrams->len - taken + i]) == c->switch_at)
          {
            c->switched = TRUE;
            nb_wg_proxy_set_transport (c->proxy, collector_send, c->next, collector_destroy);
            /* replaced from inside its own call: not destroyed yet */
            g_assert_false (c->destroyed);
            break;
          }
    }
  if (c->close_in_call)
    {
      nb_wg_proxy_close (c->proxy);
      g_assert_false (c->destroyed);
    }
  return taken;
}

static void
collector_destroy (gpointer data)
{
  Collector *c = data;

  g_assert_false (c->destroyed);
  c->destroyed = TRUE;
}

static Collector *
collector_new (GPtrArray *owner)
{
  Collector *c = g_new0 (Collector, 1);

  c->datagrams = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  c->batches = g_array_new (FALSE, FALSE, sizeof (guint));
  c->accept = G_MAXUINT;
  if (owner != NULL)
    g_ptr_array_add (owner, c);
  return c;
}

static void
collector_free (Collector *c)
{
  g_ptr_array_unref (c->datagrams);
  g_array_unref (c->batches);
  g_free (c);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Collector, collector_free)

typedef struct {
  GPtrArray *array;
  guint count;
} Count;

static gboolean
has_count (gpointer data)
{
  Count *c = data;

  return c->array->len >= c->count;
}

static gboolean
wait_count (GPtrArray *array, guint count)
{
  Count c = { array, count };

  return wait_for (has_count, &c);
}

typedef struct {
  NbWgProxy *proxy;
  guint64 foreign;
} ForeignCount;

static gboolean
has_foreign (gpointer data)
{
  ForeignCount *f = data;
  NbWgProxyStats stats;

  nb_wg_proxy_get_stats (f->proxy, &stats);
  return stats.dropped_foreign >= f->foreign;
}

/* The proxy has read everything sent to it so far: a stranger's datagram,
 * sent last, has been read and dropped. */
static void
sync_proxy (NbWgProxy *proxy)
{
  g_autoptr (Udp) stranger = udp_new (G_SOCKET_FAMILY_IPV4, 0);
  guint8 byte = 0;
  NbWgProxyStats stats;
  ForeignCount f = { proxy, 0 };

  nb_wg_proxy_get_stats (proxy, &stats);
  f.foreign = stats.dropped_foreign + 1;
  udp_send (stranger, nb_wg_proxy_get_local_address (proxy), &byte, 1);
  g_assert_true (wait_for (has_foreign, &f));
}

/* ------------------------------------------------------------------------ */

/* Collectors are freed after the proxy, which destroys its transport. */
typedef struct {
  Udp *wg;
  NbWgProxy *proxy;
  GInetSocketAddress *proxy_address;
  GPtrArray *collectors;
} Fixture;

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;

  f->collectors = g_ptr_array_new_with_free_func ((GDestroyNotify) collector_free);
  f->wg = udp_new (G_SOCKET_FAMILY_IPV4, 0);
  f->proxy = nb_wg_proxy_new (f->wg->address, &error);
  g_assert_no_error (error);
  f->proxy_address = nb_wg_proxy_get_local_address (f->proxy);
  g_assert_nonnull (f->proxy_address);
  g_assert_cmpint (g_inet_address_get_family (g_inet_socket_address_get_address (f->proxy_address)), ==,
                   G_SOCKET_FAMILY_IPV4);
  g_assert_true (g_inet_address_get_is_loopback (g_inet_socket_address_get_address (f->proxy_address)));
  g_assert_cmpuint (g_inet_socket_address_get_port (f->proxy_address), !=, 0);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  g_clear_object (&f->proxy);
  g_ptr_array_unref (f->collectors);
  udp_free (f->wg);
  /* nothing of the proxy is left on the main context */
  while (g_main_context_iteration (NULL, FALSE))
    ;
}

static void
assert_sequence (GPtrArray *datagrams, guint from, guint32 first, guint n)
{
  g_assert_cmpuint (datagrams->len, >=, from + n);
  for (guint i = 0; i < n; i++)
    g_assert_cmpuint (seq_of (datagrams->pdata[from + i]), ==, first + i);
}

/* ------------------------------------------------------------------------ */

static void
test_to_peer (Fixture *f, gconstpointer data)
{
  Collector *c = collector_new (f->collectors);
  NbWgProxyStats stats;

  nb_wg_proxy_set_transport (f->proxy, collector_send, c, collector_destroy);
  g_assert_true (nb_wg_proxy_has_transport (f->proxy));

  /* Queued before the proxy runs: one read, one transport call. */
  for (guint32 i = 0; i < 10; i++)
    {
      g_autoptr (GBytes) b = numbered (i, 100 + i);
      udp_send_bytes (f->wg, f->proxy_address, b);
    }
  g_assert_true (wait_count (c->datagrams, 10));
  assert_sequence (c->datagrams, 0, 0, 10);
  g_assert_cmpuint (c->batches->len, ==, 1);
  g_assert_cmpuint (g_array_index (c->batches, guint, 0), ==, 10);
  for (guint i = 0; i < 10; i++)
    g_assert_cmpuint (g_bytes_get_size (c->datagrams->pdata[i]), ==, 100 + i);

  /* More than a batch: full batches of NB_WG_PROXY_BATCH. */
  for (guint32 i = 10; i < 10 + 100; i++)
    {
      g_autoptr (GBytes) b = numbered (i, DATAGRAM);
      udp_send_bytes (f->wg, f->proxy_address, b);
    }
  g_assert_true (wait_count (c->datagrams, 110));
  assert_sequence (c->datagrams, 0, 0, 110);
  g_assert_cmpuint (c->batches->len, ==, 3);
  g_assert_cmpuint (g_array_index (c->batches, guint, 1), ==, NB_WG_PROXY_BATCH);
  g_assert_cmpuint (g_array_index (c->batches, guint, 2), ==, 100 - NB_WG_PROXY_BATCH);

  nb_wg_proxy_get_stats (f->proxy, &stats);
  g_assert_cmpuint (stats.to_peer_datagrams, ==, 110);
  g_assert_cmpuint (stats.to_peer_bytes, ==, 10 * 100 + 45 + 100 * DATAGRAM);
  g_assert_cmpuint (stats.dropped_transport, ==, 0);
  g_assert_cmpint (stats.last_initiation_us, ==, 0);

  /* A transport that takes part of a batch: the rest is counted. */
  c->accept = 3;
  for (guint32 i = 200; i < 205; i++)
    {
      g_autoptr (GBytes) b = numbered (i, DATAGRAM);
      udp_send_bytes (f->wg, f->proxy_address, b);
    }
  sync_proxy (f->proxy);
  assert_sequence (c->datagrams, 110, 200, 3);
  g_assert_cmpuint (c->datagrams->len, ==, 113);
  nb_wg_proxy_get_stats (f->proxy, &stats);
  g_assert_cmpuint (stats.to_peer_datagrams, ==, 113);
  g_assert_cmpuint (stats.dropped_transport, ==, 2);
}

static void
test_deliver (Fixture *f, gconstpointer data)
{
  NbWgProxyStats stats;

  for (guint32 i = 0; i < 5; i++)
    {
      g_autoptr (GBytes) b = numbered (i, DATAGRAM);
      nb_wg_proxy_deliver (f->proxy, g_bytes_get_data (b, NULL), g_bytes_get_size (b));
    }
  /* not written from inside deliver() below a batch */
  g_assert_false (g_socket_condition_check (f->wg->socket, G_IO_IN) & G_IO_IN);
  g_assert_true (wait_count (f->wg->received, 5));
  assert_sequence (f->wg->received, 0, 0, 5);
  for (guint i = 0; i < 5; i++)
    {
      GInetSocketAddress *from = f->wg->senders->pdata[i];

      g_assert_true (g_inet_address_equal (g_inet_socket_address_get_address (from),
                                           g_inet_socket_address_get_address (f->proxy_address)));
      g_assert_cmpuint (g_inet_socket_address_get_port (from), ==,
                        g_inet_socket_address_get_port (f->proxy_address));
    }

  /* A full batch goes out at once, from inside deliver(). */
  for (guint32 i = 5; i < 5 + NB_WG_PROXY_BATCH; i++)
    {
      g_autoptr (GBytes) b = numbered (i, DATAGRAM);
      nb_wg_proxy_deliver (f->proxy, g_bytes_get_data (b, NULL), g_bytes_get_size (b));
    }
  g_assert_true (g_socket_condition_check (f->wg->socket, G_IO_IN) & G_IO_IN);
  g_assert_true (wait_count (f->wg->received, 5 + NB_WG_PROXY_BATCH));
  assert_sequence (f->wg->received, 0, 0, 5 + NB_WG_PROXY_BATCH);

  nb_wg_proxy_get_stats (f->proxy, &stats);
  g_assert_cmpuint (stats.from_peer_datagrams, ==, 5 + NB_WG_PROXY_BATCH);
  g_assert_cmpuint (stats.from_peer_bytes, ==, (5 + NB_WG_PROXY_BATCH) * DATAGRAM);
  g_assert_cmpuint (stats.dropped_write, ==, 0);
  g_assert_cmpint (stats.last_response_us, ==, 0);

  /* A handshake response from the peer is noted. */
  {
    g_autoptr (GBytes) response = handshake (2, 0);
    gint64 before = g_get_monotonic_time ();

    nb_wg_proxy_deliver (f->proxy, g_bytes_get_data (response, NULL), g_bytes_get_size (response));
    nb_wg_proxy_get_stats (f->proxy, &stats);
    g_assert_cmpint (stats.last_response_us, >=, before);
    g_assert_true (wait_count (f->wg->received, 6 + NB_WG_PROXY_BATCH));
    g_assert_true (g_bytes_equal (response, f->wg->received->pdata[5 + NB_WG_PROXY_BATCH]));
  }
}

static void
test_foreign (Fixture *f, gconstpointer data)
{
  Collector *c = collector_new (f->collectors);
  g_autoptr (Udp) stranger = udp_new (G_SOCKET_FAMILY_IPV4, 0);
  g_autoptr (Udp) same_host_other_port = udp_new (G_SOCKET_FAMILY_IPV4, 0);
  NbWgProxyStats stats;

  nb_wg_proxy_set_transport (f->proxy, collector_send, c, collector_destroy);
  for (guint32 i = 0; i < 3; i++)
    {
      g_autoptr (GBytes) b = numbered (100 + i, DATAGRAM);
      udp_send_bytes (stranger, f->proxy_address, b);
      udp_send_bytes (same_host_other_port, f->proxy_address, b);
    }
  {
    g_autoptr (GBytes) marker = numbered (7, DATAGRAM);
    udp_send_bytes (f->wg, f->proxy_address, marker);
  }
  g_assert_true (wait_count (c->datagrams, 1));
  assert_sequence (c->datagrams, 0, 7, 1);
  g_assert_cmpuint (c->datagrams->len, ==, 1);
  nb_wg_proxy_get_stats (f->proxy, &stats);
  g_assert_cmpuint (stats.dropped_foreign, ==, 6);
  g_assert_cmpuint (stats.to_peer_datagrams, ==, 1);
}

/* Sends @b from WireGuard with no transport set. */
static void
pend_bytes (Fixture *f, GBytes *b)
{
  udp_send_bytes (f->wg, f->proxy_address, b);
}

static void
test_pending_initiation_first (Fixture *f, gconstpointer data)
{
  Collector *c = collector_new (f->collectors);
  g_autoptr (GBytes) init = handshake (1, 42);
  NbWgProxyStats stats;

  g_assert_false (nb_wg_proxy_has_transport (f->proxy));
  g_assert_false (nb_wg_proxy_replay_handshake (f->proxy));
  pend_bytes (f, init);
  for (guint32 i = 0; i < 3; i++)
    {
      g_autoptr (GBytes) b = numbered (i, DATAGRAM);
      pend_bytes (f, b);
    }
  sync_proxy (f->proxy);
  nb_wg_proxy_get_stats (f->proxy, &stats);
  g_assert_cmpint (stats.last_initiation_us, >, 0);
  g_assert_cmpuint (stats.to_peer_datagrams, ==, 0);
  g_assert_false (nb_wg_proxy_replay_handshake (f->proxy));  /* no transport */

  /* sent from inside set_transport(), in arrival order */
  nb_wg_proxy_set_transport (f->proxy, collector_send, c, collector_destroy);
  g_assert_cmpuint (c->datagrams->len, ==, 4);
  g_assert_true (g_bytes_equal (c->datagrams->pdata[0], init));
  assert_sequence (c->datagrams, 1, 0, 3);
  nb_wg_proxy_get_stats (f->proxy, &stats);
  g_assert_cmpuint (stats.handshakes_replayed, ==, 1);
  g_assert_cmpuint (stats.to_peer_datagrams, ==, 4);
  g_assert_cmpuint (stats.dropped_no_transport, ==, 0);

  /* nothing is sent twice */
  nb_wg_proxy_set_transport (f->proxy, NULL, NULL, NULL);
  g_assert_true (c->destroyed);
  g_assert_false (nb_wg_proxy_has_transport (f->proxy));
}

static void
test_pending_overflow (Fixture *f, gconstpointer data)
{
  Collector *c = collector_new (f->collectors);
  g_autoptr (GBytes) old_init = handshake (1, 1);
  g_autoptr (GBytes) init = handshake (1, 2);
  guint extra = 5;
  NbWgProxyStats stats;

  /* data, an initiation, a flood of data, a newer initiation, more data */
  {
    g_autoptr (GBytes) b = numbered (0, DATAGRAM);
    pend_bytes (f, b);
  }
  pend_bytes (f, old_init);
  for (guint32 i = 1; i < 1 + NB_WG_PROXY_PENDING_MAX + extra; i++)
    {
      g_autoptr (GBytes) b = numbered (i, DATAGRAM);
      pend_bytes (f, b);
    }
  pend_bytes (f, init);
  for (guint32 i = 1 + NB_WG_PROXY_PENDING_MAX + extra; i < 3 + NB_WG_PROXY_PENDING_MAX + extra; i++)
    {
      g_autoptr (GBytes) b = numbered (i, DATAGRAM);
      pend_bytes (f, b);
    }
  sync_proxy (f->proxy);

  nb_wg_proxy_set_transport (f->proxy, collector_send, c, collector_destroy);
  /* the newest initiation survives, in its place; the newest
   * NB_WG_PROXY_PENDING_MAX others are kept */
  g_assert_cmpuint (c->datagrams->len, ==, NB_WG_PROXY_PENDING_MAX + 1);
  assert_sequence (c->datagrams, 0, extra + 3, NB_WG_PROXY_PENDING_MAX - 2);
  g_assert_true (is_initiation_tagged (c->datagrams->pdata[NB_WG_PROXY_PENDING_MAX - 2], 2));
  assert_sequence (c->datagrams, NB_WG_PROXY_PENDING_MAX - 1, NB_WG_PROXY_PENDING_MAX + extra + 1, 2);
  nb_wg_proxy_get_stats (f->proxy, &stats);
  /* 3 + PENDING_MAX + extra data and 2 initiations arrived */
  g_assert_cmpuint (stats.dropped_no_transport, ==, (3 + extra) + 1);
  g_assert_cmpuint (stats.handshakes_replayed, ==, 1);

  /* the replayed one is the newest */
  g_assert_true (nb_wg_proxy_replay_handshake (f->proxy));
  g_assert_true (is_initiation_tagged (c->datagrams->pdata[c->datagrams->len - 1], 2));
  nb_wg_proxy_get_stats (f->proxy, &stats);
  g_assert_cmpuint (stats.handshakes_replayed, ==, 2);
}

static void
test_pending_without_initiation (Fixture *f, gconstpointer data)
{
  Collector *c = collector_new (f->collectors);
  NbWgProxyStats stats;

  for (guint32 i = 0; i < NB_WG_PROXY_PENDING_MAX + 4; i++)
    {
      g_autoptr (GBytes) b = numbered (i, 60);
      pend_bytes (f, b);
    }
  sync_proxy (f->proxy);
  nb_wg_proxy_set_transport (f->proxy, collector_send, c, collector_destroy);
  g_assert_cmpuint (c->datagrams->len, ==, NB_WG_PROXY_PENDING_MAX);
  assert_sequence (c->datagrams, 0, 4, NB_WG_PROXY_PENDING_MAX);
  nb_wg_proxy_get_stats (f->proxy, &stats);
  g_assert_cmpuint (stats.dropped_no_transport, ==, 4);
  g_assert_cmpuint (stats.handshakes_replayed, ==, 0);
  g_assert_false (nb_wg_proxy_replay_handshake (f->proxy));
}

static void
test_replay (Fixture *f, gconstpointer data)
{
  Collector *c = collector_new (f->collectors);
  g_autoptr (GBytes) a = handshake (1, 10);
  g_autoptr (GBytes) b = handshake (1, 11);
  static const guint8 reserved_set[148] = { 1, 0, 1, 0, 12 };
  g_autoptr (GBytes) not_init = g_bytes_new_static (reserved_set, sizeof reserved_set);
  NbWgProxyStats stats;
  gint64 t1;

  nb_wg_proxy_set_transport (f->proxy, collector_send, c, collector_destroy);
  g_assert_false (nb_wg_proxy_replay_handshake (f->proxy));
  udp_send_bytes (f->wg, f->proxy_address, a);
  g_assert_true (wait_count (c->datagrams, 1));
  nb_wg_proxy_get_stats (f->proxy, &stats);
  t1 = stats.last_initiation_us;
  g_assert_cmpint (t1, >, 0);
  udp_send_bytes (f->wg, f->proxy_address, b);
  /* a 148-byte datagram with a non-zero reserved byte is not an initiation */
  udp_send_bytes (f->wg, f->proxy_address, not_init);
  g_assert_true (wait_count (c->datagrams, 3));
  nb_wg_proxy_get_stats (f->proxy, &stats);
  g_assert_cmpint (stats.last_initiation_us, >=, t1);

  g_assert_true (nb_wg_proxy_replay_handshake (f->proxy));
  g_assert_cmpuint (c->datagrams->len, ==, 4);
  g_assert_true (is_initiation_tagged (c->datagrams->pdata[3], 11));
  nb_wg_proxy_get_stats (f->proxy, &stats);
  g_assert_cmpuint (stats.handshakes_replayed, ==, 1);
  g_assert_cmpuint (stats.to_peer_datagrams, ==, 4);

  /* a transport that refuses */
  c->accept = 0;
  g_assert_false (nb_wg_proxy_replay_handshake (f->proxy));
  nb_wg_proxy_get_stats (f->proxy, &stats);
  g_assert_cmpuint (stats.handshakes_replayed, ==, 1);
  g_assert_cmpuint (stats.dropped_transport, ==, 1);
}

typedef struct {
  Collector *a;
  Collector *b;
  guint total;
} Pair;

static gboolean
pair_has_total (gpointer data)
{
  Pair *p = data;

  return p->a->datagrams->len + p->b->datagrams->len >= p->total;
}

static void
test_switch (Fixture *f, gconstpointer data)
{
  Collector *c1 = collector_new (f->collectors);
  Collector *c2 = collector_new (f->collectors);
  Collector *c3 = collector_new (f->collectors);
  Pair pair = { c1, c2, 0 };
  guint total = 2000;
  NbWgProxyStats stats;

  /* c1 hands over to c2 from inside the call that carries datagram 777 */
  c1->proxy = f->proxy;
  c1->next = c2;
  c1->switch_at = 777;
  nb_wg_proxy_set_transport (f->proxy, collector_send, c1, collector_destroy);

  for (guint32 i = 0; i < total;)
    {
      guint32 end = MIN (total, i + 50);

      for (; i < end; i++)
        {
          g_autoptr (GBytes) b = numbered (i, DATAGRAM);
          udp_send_bytes (f->wg, f->proxy_address, b);
        }
      pair.total = end;
      g_assert_true (wait_for (pair_has_total, &pair));
    }
  g_assert_true (c1->switched);
  g_assert_true (c1->destroyed);
  g_assert_false (c2->destroyed);
  g_assert_cmpuint (c1->datagrams->len + c2->datagrams->len, ==, total);
  /* the batch carrying 777 went to c1 whole; nothing lost or duplicated */
  g_assert_cmpuint (c1->datagrams->len, >, 777);
  assert_sequence (c1->datagrams, 0, 0, c1->datagrams->len);
  assert_sequence (c2->datagrams, 0, c1->datagrams->len, c2->datagrams->len);

  /* switched from outside, between datagrams */
  nb_wg_proxy_set_transport (f->proxy, collector_send, c3, collector_destroy);
  g_assert_true (c2->destroyed);
  {
    g_autoptr (GBytes) b = numbered (total, DATAGRAM);
    udp_send_bytes (f->wg, f->proxy_address, b);
  }
  g_assert_true (wait_count (c3->datagrams, 1));
  assert_sequence (c3->datagrams, 0, total, 1);
  g_assert_cmpuint (c2->datagrams->len, ==, total - c1->datagrams->len);

  nb_wg_proxy_get_stats (f->proxy, &stats);
  g_assert_cmpuint (stats.to_peer_datagrams, ==, total + 1);
  g_assert_cmpuint (stats.dropped_transport, ==, 0);
  g_assert_cmpuint (stats.dropped_no_transport, ==, 0);

  /* closing destroys the current transport */
  nb_wg_proxy_close (f->proxy);
  g_assert_true (c3->destroyed);
}

static void
test_burst (Fixture *f, gconstpointer data)
{
  Collector *c = collector_new (f->collectors);
  guint total = 10000;
  /* Loopback UDP has no flow control: a window must fit the receiver's
   * buffer (about 2.3 KiB of it per 1400-byte datagram); the proxy's
   * buffer is set the same way as this socket's. */
  guint window = CLAMP ((guint) socket_rcvbuf (f->wg) / 4096, 32, total);
  NbWgProxyStats stats;

  g_test_message ("window %u datagrams", window);
  nb_wg_proxy_set_transport (f->proxy, collector_send, c, collector_destroy);

  for (guint32 i = 0; i < total;)
    {
      guint32 end = MIN (total, i + window);

      for (guint32 j = i; j < end; j++)
        {
          g_autoptr (GBytes) b = numbered (j, DATAGRAM);
          udp_send_bytes (f->wg, f->proxy_address, b);
        }
      for (guint32 j = i; j < end; j++)
        {
          g_autoptr (GBytes) b = numbered (total + j, DATAGRAM);
          nb_wg_proxy_deliver (f->proxy, g_bytes_get_data (b, NULL), g_bytes_get_size (b));
        }
      g_assert_true (wait_count (c->datagrams, end));
      g_assert_true (wait_count (f->wg->received, end));
      i = end;
    }
  assert_sequence (c->datagrams, 0, 0, total);
  assert_sequence (f->wg->received, 0, total, total);
  for (guint i = 0; i < total; i++)
    {
      g_autoptr (GBytes) out = numbered (i, DATAGRAM);
      g_autoptr (GBytes) in = numbered (total + i, DATAGRAM);

      g_assert_true (g_bytes_equal (out, c->datagrams->pdata[i]));
      g_assert_true (g_bytes_equal (in, f->wg->received->pdata[i]));
    }

  nb_wg_proxy_get_stats (f->proxy, &stats);
  g_assert_cmpuint (stats.to_peer_datagrams, ==, total);
  g_assert_cmpuint (stats.from_peer_datagrams, ==, total);
  g_assert_cmpuint (stats.to_peer_bytes, ==, (guint64) total * DATAGRAM);
  g_assert_cmpuint (stats.from_peer_bytes, ==, (guint64) total * DATAGRAM);
  g_assert_cmpuint (stats.dropped_transport + stats.dropped_write + stats.dropped_no_transport
                    + stats.dropped_foreign, ==, 0);
}

static void
test_close (Fixture *f, gconstpointer data)
{
  Collector *c = collector_new (f->collectors);
  Collector *late = collector_new (f->collectors);
  guint16 port = g_inet_socket_address_get_port (f->proxy_address);
  g_autoptr (GError) error = NULL;
  g_autoptr (GSocket) rebound = NULL;

  nb_wg_proxy_set_transport (f->proxy, collector_send, c, collector_destroy);
  {
    /* queued for the idle flush when closing */
    g_autoptr (GBytes) b = numbered (1, DATAGRAM);
    nb_wg_proxy_deliver (f->proxy, g_bytes_get_data (b, NULL), g_bytes_get_size (b));
  }
  nb_wg_proxy_close (f->proxy);
  g_assert_true (c->destroyed);
  g_assert_false (nb_wg_proxy_has_transport (f->proxy));
  nb_wg_proxy_close (f->proxy);

  /* the address stays readable, the port is free */
  g_assert_cmpuint (g_inet_socket_address_get_port (nb_wg_proxy_get_local_address (f->proxy)), ==, port);
  rebound = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_DATAGRAM, G_SOCKET_PROTOCOL_UDP, &error);
  g_assert_no_error (error);
  g_socket_bind (rebound, G_SOCKET_ADDRESS (f->proxy_address), FALSE, &error);
  g_assert_no_error (error);

  /* after close: nothing happens, a new transport is destroyed at once */
  {
    g_autoptr (GBytes) b = numbered (2, DATAGRAM);
    nb_wg_proxy_deliver (f->proxy, g_bytes_get_data (b, NULL), g_bytes_get_size (b));
  }
  nb_wg_proxy_set_transport (f->proxy, collector_send, late, collector_destroy);
  g_assert_true (late->destroyed);
  g_assert_false (nb_wg_proxy_has_transport (f->proxy));
  g_assert_false (nb_wg_proxy_replay_handshake (f->proxy));
  while (g_main_context_iteration (NULL, FALSE))
    ;
  g_assert_cmpuint (f->wg->received->len, ==, 0);
  g_clear_object (&f->proxy);
}

/* The transport closes the proxy from inside its call: the read stops
 * after that batch, the transport is destroyed after the call. */
static void
test_close_in_call (Fixture *f, gconstpointer data)
{
  Collector *c = collector_new (f->collectors);
  NbWgProxyStats stats;

  c->proxy = f->proxy;
  c->close_in_call = TRUE;
  nb_wg_proxy_set_transport (f->proxy, collector_send, c, collector_destroy);
  for (guint32 i = 0; i < 100; i++)
    {
      g_autoptr (GBytes) b = numbered (i, DATAGRAM);
      udp_send_bytes (f->wg, f->proxy_address, b);
    }
  g_assert_true (wait_count (c->datagrams, NB_WG_PROXY_BATCH));
  g_assert_true (c->destroyed);
  while (g_main_context_iteration (NULL, FALSE))
    ;
  g_assert_cmpuint (c->batches->len, ==, 1);
  assert_sequence (c->datagrams, 0, 0, NB_WG_PROXY_BATCH);
  nb_wg_proxy_get_stats (f->proxy, &stats);
  g_assert_cmpuint (stats.to_peer_datagrams, ==, NB_WG_PROXY_BATCH);
}

static gboolean
has_write_drops (gpointer data)
{
  NbWgProxyStats stats;

  nb_wg_proxy_get_stats (data, &stats);
  return stats.dropped_write >= 3;
}

/* Writes that fail for good are counted and dropped one by one, and the
 * rest still goes out: a WireGuard address a loopback-bound socket cannot
 * reach (Linux routes no 127/8 source off the host) makes every write fail. */
static void
test_write_error (void)
{
  g_autoptr (GInetAddress) unreachable = g_inet_address_new_from_string ("192.0.2.1");
  g_autoptr (GSocketAddress) address = g_inet_socket_address_new (unreachable, 9);
  g_autoptr (GError) error = NULL;
  g_autoptr (NbWgProxy) proxy = nb_wg_proxy_new (G_INET_SOCKET_ADDRESS (address), &error);
  NbWgProxyStats stats;

  g_assert_no_error (error);
  for (guint32 i = 0; i < 3; i++)
    {
      g_autoptr (GBytes) b = numbered (i, DATAGRAM);
      nb_wg_proxy_deliver (proxy, g_bytes_get_data (b, NULL), g_bytes_get_size (b));
    }
  g_assert_true (wait_for (has_write_drops, proxy));
  nb_wg_proxy_get_stats (proxy, &stats);
  g_assert_cmpuint (stats.dropped_write, ==, 3);
  g_assert_cmpuint (stats.from_peer_datagrams, ==, 0);
}

/* Not a fixture test: IPv6 and a wildcard WireGuard address. */
static void
test_families (void)
{
  GSocketFamily families[] = { G_SOCKET_FAMILY_IPV4, G_SOCKET_FAMILY_IPV6 };

  for (guint k = 0; k < G_N_ELEMENTS (families); k++)
    {
      g_autoptr (Collector) c = collector_new (NULL);   /* outlives the proxy */
      g_autoptr (Udp) wg = NULL;
      g_autoptr (GInetAddress) any = g_inet_address_new_any (families[k]);
      g_autoptr (GSocketAddress) wildcard = NULL;
      g_autoptr (NbWgProxy) proxy = NULL;
      g_autoptr (GError) error = NULL;
      g_autoptr (GSocket) probe = NULL;
      g_autoptr (GInetAddress) lo6 = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV6);
      g_autoptr (GSocketAddress) lo6_address = g_inet_socket_address_new (lo6, 0);
      GInetSocketAddress *local;

      if (families[k] == G_SOCKET_FAMILY_IPV6)
        {
          probe = g_socket_new (G_SOCKET_FAMILY_IPV6, G_SOCKET_TYPE_DATAGRAM, G_SOCKET_PROTOCOL_UDP, NULL);
          if (probe == NULL || !g_socket_bind (probe, lo6_address, FALSE, NULL))
            {
              g_test_message ("no IPv6 loopback here: IPv6 not tested");
              continue;
            }
        }
      wg = udp_new (families[k], 0);
      wildcard = g_inet_socket_address_new (any, g_inet_socket_address_get_port (wg->address));
      proxy = nb_wg_proxy_new (G_INET_SOCKET_ADDRESS (wildcard), &error);
      g_assert_no_error (error);
      local = nb_wg_proxy_get_local_address (proxy);
      g_assert_cmpint (g_inet_address_get_family (g_inet_socket_address_get_address (local)), ==, families[k]);
      g_assert_true (g_inet_address_get_is_loopback (g_inet_socket_address_get_address (local)));

      nb_wg_proxy_set_transport (proxy, collector_send, c, collector_destroy);
      {
        g_autoptr (GBytes) b = numbered (5, DATAGRAM);
        udp_send_bytes (wg, local, b);
        nb_wg_proxy_deliver (proxy, g_bytes_get_data (b, NULL), g_bytes_get_size (b));
      }
      g_assert_true (wait_count (c->datagrams, 1));
      g_assert_true (wait_count (wg->received, 1));
      assert_sequence (c->datagrams, 0, 5, 1);
      assert_sequence (wg->received, 0, 5, 1);
      nb_wg_proxy_close (proxy);
    }
}

/* A WireGuard message with its sender index (bytes 4-7) and, for a
 * response, its receiver index (bytes 8-11); @fill marks the rest. */
static GBytes *
wg_message (guint8 type, guint32 sender, guint32 receiver, guint8 fill)
{
  gsize length = type == 1 ? 148 : 92;
  guint8 *buf = g_malloc (length);

  memset (buf, fill, length);
  buf[0] = type;
  buf[1] = buf[2] = buf[3] = 0;
  memcpy (buf + 4, &sender, 4);
  if (type == 2)
    memcpy (buf + 8, &receiver, 4);
  return g_bytes_new_take (buf, length);
}

/* The peer's initiation was answered but the response got lost: the same
 * initiation again is answered by the proxy with WireGuard's response (not
 * passed to WireGuard, which would drop it as a replay); a new initiation
 * goes to WireGuard; a response that names another initiation, or none
 * seen, is not remembered. */
static void
test_response_replay (Fixture *f, gconstpointer data)
{
  Collector *c = collector_new (f->collectors);
  g_autoptr (GBytes) init1 = wg_message (1, 0x1111, 0, 0xa1);
  g_autoptr (GBytes) init1_other = wg_message (1, 0x1111, 0, 0xa2);  /* same index, new timestamp */
  g_autoptr (GBytes) resp1 = wg_message (2, 0x2222, 0x1111, 0xb1);
  g_autoptr (GBytes) resp_stray = wg_message (2, 0x2223, 0x9999, 0xb2);
  g_autoptr (GBytes) resp2 = wg_message (2, 0x2224, 0x1111, 0xb3);
  g_autoptr (GBytes) after = numbered (7, DATAGRAM);
  NbWgProxyStats stats;

  nb_wg_proxy_set_transport (f->proxy, collector_send, c, collector_destroy);

  /* nothing answered yet: a repeated initiation goes to WireGuard */
  nb_wg_proxy_deliver (f->proxy, g_bytes_get_data (init1, NULL), g_bytes_get_size (init1));
  nb_wg_proxy_deliver (f->proxy, g_bytes_get_data (init1, NULL), g_bytes_get_size (init1));
  g_assert_true (wait_count (f->wg->received, 2));
  g_assert_true (g_bytes_equal (init1, f->wg->received->pdata[1]));

  /* a response that answers another initiation is not remembered */
  udp_send_bytes (f->wg, f->proxy_address, resp_stray);
  g_assert_true (wait_count (c->datagrams, 1));
  nb_wg_proxy_deliver (f->proxy, g_bytes_get_data (init1, NULL), g_bytes_get_size (init1));
  g_assert_true (wait_count (f->wg->received, 3));
  nb_wg_proxy_get_stats (f->proxy, &stats);
  g_assert_cmpuint (stats.responses_replayed, ==, 0);

  /* WireGuard answers init1; the response reaches the transport (and is
   * lost beyond it) */
  udp_send_bytes (f->wg, f->proxy_address, resp1);
  g_assert_true (wait_count (c->datagrams, 2));
  g_assert_true (g_bytes_equal (resp1, c->datagrams->pdata[1]));

  /* the peer repeats init1: the proxy answers, WireGuard sees nothing */
  nb_wg_proxy_deliver (f->proxy, g_bytes_get_data (init1, NULL), g_bytes_get_size (init1));
  g_assert_cmpuint (c->datagrams->len, ==, 3);
  g_assert_true (g_bytes_equal (resp1, c->datagrams->pdata[2]));
  nb_wg_proxy_deliver (f->proxy, g_bytes_get_data (init1, NULL), g_bytes_get_size (init1));
  g_assert_cmpuint (c->datagrams->len, ==, 4);
  g_assert_true (g_bytes_equal (resp1, c->datagrams->pdata[3]));
  nb_wg_proxy_get_stats (f->proxy, &stats);
  g_assert_cmpuint (stats.responses_replayed, ==, 2);
  g_assert_cmpuint (stats.to_peer_datagrams, ==, 4);
  /* ordinary data still flows to WireGuard, and nothing came before it */
  nb_wg_proxy_deliver (f->proxy, g_bytes_get_data (after, NULL), g_bytes_get_size (after));
  g_assert_true (wait_count (f->wg->received, 4));
  assert_sequence (f->wg->received, 3, 7, 1);
  g_assert_cmpuint (f->wg->received->len, ==, 4);

  /* on another transport too (after a path switch) */
  {
    Collector *c2 = collector_new (f->collectors);

    nb_wg_proxy_set_transport (f->proxy, collector_send, c2, collector_destroy);
    nb_wg_proxy_deliver (f->proxy, g_bytes_get_data (init1, NULL), g_bytes_get_size (init1));
    g_assert_cmpuint (c2->datagrams->len, ==, 1);
    g_assert_true (g_bytes_equal (resp1, c2->datagrams->pdata[0]));
    nb_wg_proxy_get_stats (f->proxy, &stats);
    g_assert_cmpuint (stats.responses_replayed, ==, 3);

    /* a new initiation (not byte-identical) is WireGuard's to judge */
    nb_wg_proxy_deliver (f->proxy, g_bytes_get_data (init1_other, NULL), g_bytes_get_size (init1_other));
    g_assert_true (wait_count (f->wg->received, 5));
    g_assert_true (g_bytes_equal (init1_other, f->wg->received->pdata[4]));
    g_assert_cmpuint (c2->datagrams->len, ==, 1);

    /* WireGuard answers it: the new response is the one replayed */
    udp_send_bytes (f->wg, f->proxy_address, resp2);
    g_assert_true (wait_count (c2->datagrams, 2));
    nb_wg_proxy_deliver (f->proxy, g_bytes_get_data (init1_other, NULL), g_bytes_get_size (init1_other));
    g_assert_cmpuint (c2->datagrams->len, ==, 3);
    g_assert_true (g_bytes_equal (resp2, c2->datagrams->pdata[2]));
    /* and the old initiation is no longer answered by the proxy */
    nb_wg_proxy_deliver (f->proxy, g_bytes_get_data (init1, NULL), g_bytes_get_size (init1));
    g_assert_true (wait_count (f->wg->received, 6));
    g_assert_true (g_bytes_equal (init1, f->wg->received->pdata[5]));
    nb_wg_proxy_get_stats (f->proxy, &stats);
    g_assert_cmpuint (stats.responses_replayed, ==, 4);
  }
}

static gboolean
never (gpointer data)
{
  return FALSE;
}

/* Lets @ms pass on the main loop (the proxy keeps working meanwhile). */
static void
run_for_ms (guint ms)
{
  wait_for_ms (never, NULL, ms);
}

static gint64
handshake_rtt (NbWgProxy *proxy)
{
  NbWgProxyStats stats;

  nb_wg_proxy_get_stats (proxy, &stats);
  return stats.last_handshake_rtt_us;
}

/* The round trip of WireGuard's handshake: from the moment its newest
 * initiation went to a transport (not when WireGuard sent it: it may wait
 * in the proxy for a path) to the response that names its sender index;
 * once per initiation, counted from a replay, never for a response that
 * answers something else. */
static void
test_handshake_rtt (Fixture *f, gconstpointer data)
{
  Collector *c = collector_new (f->collectors);
  g_autoptr (GBytes) init1 = wg_message (1, 0x3333, 0, 0xc1);
  g_autoptr (GBytes) init2 = wg_message (1, 0x4444, 0, 0xc2);
  g_autoptr (GBytes) resp1 = wg_message (2, 0x5555, 0x3333, 0xd1);
  g_autoptr (GBytes) resp_other = wg_message (2, 0x5556, 0x9999, 0xd2);
  g_autoptr (GBytes) resp2 = wg_message (2, 0x5557, 0x4444, 0xd3);
  gint64 t_sent, t_replay, rtt;

  /* the initiation waits for a transport: that time is not the path's */
  udp_send_bytes (f->wg, f->proxy_address, init1);
  sync_proxy (f->proxy);
  run_for_ms (60);
  g_assert_cmpint (handshake_rtt (f->proxy), ==, 0);
  t_sent = g_get_monotonic_time ();
  nb_wg_proxy_set_transport (f->proxy, collector_send, c, collector_destroy);
  g_assert_cmpuint (c->datagrams->len, ==, 1);
  g_assert_true (g_bytes_equal (init1, c->datagrams->pdata[0]));

  run_for_ms (20);
  /* a response to another initiation says nothing */
  nb_wg_proxy_deliver (f->proxy, g_bytes_get_data (resp_other, NULL), g_bytes_get_size (resp_other));
  g_assert_cmpint (handshake_rtt (f->proxy), ==, 0);
  nb_wg_proxy_deliver (f->proxy, g_bytes_get_data (resp1, NULL), g_bytes_get_size (resp1));
  rtt = handshake_rtt (f->proxy);
  g_assert_cmpint (rtt, >=, 20 * 1000);
  g_assert_cmpint (rtt, <=, g_get_monotonic_time () - t_sent);
  /* the response still goes to WireGuard */
  g_assert_true (wait_count (f->wg->received, 2));
  g_assert_true (g_bytes_equal (resp1, f->wg->received->pdata[1]));

  /* the same response again (a replay by the remote proxy) does not count */
  run_for_ms (30);
  nb_wg_proxy_deliver (f->proxy, g_bytes_get_data (resp1, NULL), g_bytes_get_size (resp1));
  g_assert_cmpint (handshake_rtt (f->proxy), ==, rtt);

  /* WireGuard's next initiation, replayed (a path switch) after 40 ms:
   * counted from the replay; a late response to the older initiation does
   * not count for it */
  udp_send_bytes (f->wg, f->proxy_address, init2);
  g_assert_true (wait_count (c->datagrams, 2));
  run_for_ms (40);
  nb_wg_proxy_deliver (f->proxy, g_bytes_get_data (resp1, NULL), g_bytes_get_size (resp1));
  g_assert_cmpint (handshake_rtt (f->proxy), ==, rtt);
  t_replay = g_get_monotonic_time ();
  g_assert_true (nb_wg_proxy_replay_handshake (f->proxy));
  nb_wg_proxy_deliver (f->proxy, g_bytes_get_data (resp2, NULL), g_bytes_get_size (resp2));
  rtt = handshake_rtt (f->proxy);
  g_assert_cmpint (rtt, >, 0);
  g_assert_cmpint (rtt, <=, g_get_monotonic_time () - t_replay);
  g_assert_cmpint (rtt, <, 40 * 1000);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, fn) g_test_add ("/wg-proxy/" path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
  ADD ("to-peer", test_to_peer);
  ADD ("deliver", test_deliver);
  ADD ("foreign", test_foreign);
  ADD ("pending/initiation-first", test_pending_initiation_first);
  ADD ("pending/overflow", test_pending_overflow);
  ADD ("pending/no-initiation", test_pending_without_initiation);
  ADD ("replay", test_replay);
  ADD ("switch", test_switch);
  ADD ("burst", test_burst);
  ADD ("close", test_close);
  ADD ("close-in-call", test_close_in_call);
  ADD ("response-replay", test_response_replay);
  ADD ("handshake-rtt", test_handshake_rtt);
#undef ADD
  g_test_add_func ("/wg-proxy/families", test_families);
  g_test_add_func ("/wg-proxy/write-error", test_write_error);

  return g_test_run ();
}
