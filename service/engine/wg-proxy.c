/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The proxy works on a raw non-blocking fd rather than GSocket because the
 * whole point of the hop is to cost little per datagram: recvmmsg() and
 * sendmmsg() move a batch per system call, and GSocket's message API would
 * allocate an address object for every datagram received.
 *
 * Receive slots are sized for the largest UDP datagram, so nothing
 * WireGuard sends (jumbo MTUs included) is ever truncated. The slots live in
 * one arena per thread, shared by all proxies of that thread: they are used
 * only between recvmmsg() and the transport call, which never re-enters the
 * read path, so a mesh of many peers does not pay 4 MiB each; and only the
 * pages datagrams actually touch become resident.
 *
 * Delivered datagrams are copied into a bounded ring and written from a
 * high-priority idle source, so datagrams the transports hand over within
 * one main-loop iteration leave in one sendmmsg().
 */
#define _GNU_SOURCE
#define G_LOG_DOMAIN "nb-wgproxy"

#include "config.h"

#include "wg-proxy.h"

#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <glib-unix.h>

#define SLOT_SIZE        NB_WG_PROXY_MAX_DATAGRAM
#define READ_ROUNDS      4          /* batches per wake-up, for fairness */
#define OUT_MAX          1024       /* delivered datagrams waiting for WireGuard */
#define SOCKET_BUFFER    (4 * 1024 * 1024)
#define LOG_INTERVAL_US  (10 * G_USEC_PER_SEC)

#define WG_INITIATION      1
#define WG_RESPONSE        2
#define WG_INITIATION_SIZE 148
#define WG_RESPONSE_SIZE   92

typedef struct {
  guint refs;
  guint8 *slots;                /* NB_WG_PROXY_BATCH * SLOT_SIZE */
} RecvArena;

static GPrivate recv_arena = G_PRIVATE_INIT (NULL);

typedef struct {
  gsize length;
  guint8 data[];
} Datagram;

/* Reference-counted so that a transport replaced from inside its own send
 * function is destroyed only after that call returns. */
typedef struct {
  guint refs;
  NbWgProxySendFunc func;
  gpointer user_data;
  GDestroyNotify destroy;
} Transport;

typedef struct {
  gint64 next_us;
  guint64 suppressed;
} RateLimit;

typedef union {
  struct sockaddr sa;
  struct sockaddr_in in;
  struct sockaddr_in6 in6;
  struct sockaddr_storage ss;
} SockAddr;

struct _NbWgProxy {
  GObject parent_instance;

  GMainContext *context;
  int fd;                       /* -1: closed */
  gboolean closed;
  GInetSocketAddress *local_address;
  SockAddr wg;
  socklen_t wg_len;
  RecvArena *arena;

  GSource *read_source;
  GSource *write_source;        /* only while a write hit EAGAIN */
  GSource *flush_source;        /* idle flush of the out ring */

  Transport *transport;

  GQueue pending;               /* Datagram *, arrival order */
  Datagram *pending_initiation; /* also in pending */

  Datagram *out[OUT_MAX];       /* ring */
  guint out_head;
  guint out_len;

  guint8 initiation[WG_INITIATION_SIZE];
  gboolean have_initiation;
  gint64 initiation_sent_us;    /* it last went to a transport; 0: not yet,
                                 * or its response was already timed */

  /* The peer's newest initiation, and WireGuard's newest response with the
   * initiation it answers (see answer_again) */
  guint8 peer_initiation[WG_INITIATION_SIZE];
  gboolean have_peer_initiation;
  guint8 response[WG_RESPONSE_SIZE];
  guint8 answered[WG_INITIATION_SIZE];
  gboolean have_response;

  NbWgProxyStats stats;
  RateLimit log_foreign;
  RateLimit log_transport;
  RateLimit log_write;
  RateLimit log_read;
};

G_DEFINE_FINAL_TYPE (NbWgProxy, nb_wg_proxy, G_TYPE_OBJECT)

/* ------------------------------------------------------------------------ */

static void rate_log (RateLimit *rl, const char *format, ...) G_GNUC_PRINTF (2, 3);

static void
rate_log (RateLimit *rl, const char *format, ...)
{
  gint64 now = g_get_monotonic_time ();
  g_autofree char *msg = NULL;
  va_list args;

  if (now < rl->next_us)
    {
      rl->suppressed++;
      return;
    }
  va_start (args, format);
  msg = g_strdup_vprintf (format, args);
  va_end (args);
  if (rl->suppressed > 0)
    g_message ("%s (%" G_GUINT64_FORMAT " more since the last report)", msg, rl->suppressed);
  else
    g_message ("%s", msg);
  rl->suppressed = 0;
  rl->next_us = now + LOG_INTERVAL_US;
}

static RecvArena *
arena_ref (void)
{
  RecvArena *arena = g_private_get (&recv_arena);

  if (arena == NULL)
    {
      arena = g_new0 (RecvArena, 1);
      arena->slots = g_malloc ((gsize) NB_WG_PROXY_BATCH * SLOT_SIZE);
      g_private_set (&recv_arena, arena);
    }
  arena->refs++;
  return arena;
}

static void
arena_unref (RecvArena *arena)
{
  if (--arena->refs > 0)
    return;
  g_private_set (&recv_arena, NULL);
  g_free (arena->slots);
  g_free (arena);
}

static Datagram *
datagram_new (const guint8 *data, gsize length)
{
  Datagram *d = g_malloc (sizeof (Datagram) + length);

  d->length = length;
  if (length > 0)
    memcpy (d->data, data, length);
  return d;
}

static Transport *
transport_ref (Transport *t)
{
  t->refs++;
  return t;
}

static void
transport_unref (Transport *t)
{
  if (--t->refs > 0)
    return;
  if (t->destroy != NULL)
    t->destroy (t->user_data);
  g_free (t);
}

/* WireGuard message header: type, then three zero bytes. */
static gboolean
is_wg_message (const guint8 *data, gsize length, guint8 type, gsize size)
{
  return length == size && data[0] == type && data[1] == 0 && data[2] == 0 && data[3] == 0;
}

static gboolean
is_from_wg (NbWgProxy *self, const SockAddr *from)
{
  if (from->sa.sa_family != self->wg.sa.sa_family)
    return FALSE;
  if (from->sa.sa_family == AF_INET)
    return from->in.sin_port == self->wg.in.sin_port
           && from->in.sin_addr.s_addr == self->wg.in.sin_addr.s_addr;
  return from->in6.sin6_port == self->wg.in6.sin6_port
         && memcmp (&from->in6.sin6_addr, &self->wg.in6.sin6_addr, sizeof (struct in6_addr)) == 0;
}

/* ------------------------------------------------------------------------ */
/* WireGuard -> peer */

static void
pend (NbWgProxy *self, const guint8 *data, gsize length)
{
  Datagram *d = datagram_new (data, length);

  if (is_wg_message (data, length, WG_INITIATION, WG_INITIATION_SIZE))
    {
      /* A newer initiation supersedes the older: WireGuard keeps only the
       * state of its latest one. */
      if (self->pending_initiation != NULL)
        {
          g_queue_remove (&self->pending, self->pending_initiation);
          g_free (self->pending_initiation);
          self->stats.dropped_no_transport++;
        }
      self->pending_initiation = d;
    }
  else if (self->pending.length - (self->pending_initiation != NULL) >= NB_WG_PROXY_PENDING_MAX)
    {
      for (GList *l = self->pending.head; l != NULL; l = l->next)
        {
          if (l->data != self->pending_initiation)
            {
              g_free (l->data);
              g_queue_delete_link (&self->pending, l);
              self->stats.dropped_no_transport++;
              break;
            }
        }
    }
  g_queue_push_tail (&self->pending, d);
}

/* Hands @n datagrams to the transport, or keeps them pending without one.
 * Returns how many the transport took. */
static guint
to_peer (NbWgProxy *self, const guint8 *const *datagrams, const gsize *lengths, guint n)
{
  Transport *t;
  guint taken;

  if (self->transport == NULL)
    {
      for (guint i = 0; i < n; i++)
        pend (self, datagrams[i], lengths[i]);
      return 0;
    }

  t = transport_ref (self->transport);
  taken = t->func (datagrams, lengths, n, t->user_data);
  taken = MIN (taken, n);
  transport_unref (t);

  self->stats.to_peer_datagrams += taken;
  for (guint i = 0; i < taken; i++)
    {
      self->stats.to_peer_bytes += lengths[i];
      if (self->have_initiation && is_wg_message (datagrams[i], lengths[i], WG_INITIATION, WG_INITIATION_SIZE)
          && memcmp (datagrams[i] + 4, self->initiation + 4, 4) == 0)
        self->initiation_sent_us = g_get_monotonic_time ();
    }
  if (taken < n)
    {
      self->stats.dropped_transport += n - taken;
      rate_log (&self->log_transport, "transport took %u of %u datagrams from WireGuard", taken, n);
    }
  return taken;
}

static void
flush_pending (NbWgProxy *self)
{
  GQueue queue = self->pending;
  Datagram *initiation = self->pending_initiation;
  const guint8 *datagrams[NB_WG_PROXY_PENDING_MAX + 1];
  gsize lengths[NB_WG_PROXY_PENDING_MAX + 1];
  guint n = 0;
  guint initiation_index = G_MAXUINT;
  guint taken;

  if (queue.length == 0)
    return;
  /* Taken out first: the send function may set another transport. */
  g_queue_init (&self->pending);
  self->pending_initiation = NULL;

  for (GList *l = queue.head; l != NULL; l = l->next)
    {
      Datagram *d = l->data;

      if (d == initiation)
        initiation_index = n;
      datagrams[n] = d->data;
      lengths[n] = d->length;
      n++;
    }
  taken = to_peer (self, datagrams, lengths, n);
  if (initiation_index < taken)
    self->stats.handshakes_replayed++;
  g_queue_clear_full (&queue, g_free);
}

/* A response's receiver index (bytes 8-11) is the sender index (bytes
 * 4-7) of the initiation it answers. */
static gboolean
response_answers (const guint8 *response, const guint8 *initiation)
{
  return memcmp (response + 8, initiation + 4, 4) == 0;
}

static void
note_from_wg (NbWgProxy *self, const guint8 *data, gsize length)
{
  if (is_wg_message (data, length, WG_INITIATION, WG_INITIATION_SIZE))
    {
      memcpy (self->initiation, data, WG_INITIATION_SIZE);
      self->have_initiation = TRUE;
      self->initiation_sent_us = 0;
      self->stats.last_initiation_us = g_get_monotonic_time ();
    }
  else if (is_wg_message (data, length, WG_RESPONSE, WG_RESPONSE_SIZE)
           && self->have_peer_initiation && response_answers (data, self->peer_initiation))
    {
      memcpy (self->response, data, WG_RESPONSE_SIZE);
      memcpy (self->answered, self->peer_initiation, WG_INITIATION_SIZE);
      self->have_response = TRUE;
    }
}

static gboolean
read_cb (int fd, GIOCondition condition, gpointer user_data)
{
  NbWgProxy *self = user_data;
  g_autoptr (NbWgProxy) hold = g_object_ref (self);
  RecvArena *arena = arena_ref ();

  for (guint round = 0; round < READ_ROUNDS && self->fd >= 0; round++)
    {
      struct mmsghdr msgs[NB_WG_PROXY_BATCH];
      struct iovec iov[NB_WG_PROXY_BATCH];
      SockAddr from[NB_WG_PROXY_BATCH];
      const guint8 *datagrams[NB_WG_PROXY_BATCH];
      gsize lengths[NB_WG_PROXY_BATCH];
      guint n_datagrams = 0;
      int n;

      memset (msgs, 0, sizeof msgs);
      for (guint i = 0; i < NB_WG_PROXY_BATCH; i++)
        {
          iov[i].iov_base = arena->slots + (gsize) i * SLOT_SIZE;
          iov[i].iov_len = SLOT_SIZE;
          msgs[i].msg_hdr.msg_iov = &iov[i];
          msgs[i].msg_hdr.msg_iovlen = 1;
          msgs[i].msg_hdr.msg_name = &from[i];
          msgs[i].msg_hdr.msg_namelen = sizeof from[i];
        }

      n = recvmmsg (self->fd, msgs, NB_WG_PROXY_BATCH, MSG_DONTWAIT, NULL);
      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          if (errno != EAGAIN && errno != EWOULDBLOCK)
            rate_log (&self->log_read, "reading from WireGuard: %s", g_strerror (errno));
          break;
        }

      for (int i = 0; i < n; i++)
        {
          const guint8 *data = iov[i].iov_base;
          gsize length = msgs[i].msg_len;

          if (!is_from_wg (self, &from[i]))
            {
              self->stats.dropped_foreign++;
              rate_log (&self->log_foreign, "dropped a datagram to the proxy not from WireGuard");
              continue;
            }
          if (msgs[i].msg_hdr.msg_flags & MSG_TRUNC)
            {
              /* Cannot happen with slots of the largest UDP payload. */
              self->stats.dropped_transport++;
              rate_log (&self->log_read, "dropped a truncated datagram from WireGuard");
              continue;
            }
          note_from_wg (self, data, length);
          datagrams[n_datagrams] = data;
          lengths[n_datagrams] = length;
          n_datagrams++;
        }
      if (n_datagrams > 0)
        to_peer (self, datagrams, lengths, n_datagrams);
      if (n < NB_WG_PROXY_BATCH)
        break;
    }

  arena_unref (arena);
  return self->fd >= 0 ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
}

/* ------------------------------------------------------------------------ */
/* peer -> WireGuard */

static void
out_drop_head (NbWgProxy *self)
{
  g_free (self->out[self->out_head]);
  self->out[self->out_head] = NULL;
  self->out_head = (self->out_head + 1) % OUT_MAX;
  self->out_len--;
}

static gboolean write_cb (int fd, GIOCondition condition, gpointer user_data);

static void
flush_out (NbWgProxy *self)
{
  while (self->out_len > 0 && self->fd >= 0)
    {
      struct mmsghdr msgs[NB_WG_PROXY_BATCH];
      struct iovec iov[NB_WG_PROXY_BATCH];
      guint n = MIN (self->out_len, NB_WG_PROXY_BATCH);
      int sent;

      memset (msgs, 0, sizeof msgs);
      for (guint i = 0; i < n; i++)
        {
          Datagram *d = self->out[(self->out_head + i) % OUT_MAX];

          iov[i].iov_base = d->data;
          iov[i].iov_len = d->length;
          msgs[i].msg_hdr.msg_iov = &iov[i];
          msgs[i].msg_hdr.msg_iovlen = 1;
          msgs[i].msg_hdr.msg_name = &self->wg;
          msgs[i].msg_hdr.msg_namelen = self->wg_len;
        }

      sent = sendmmsg (self->fd, msgs, n, MSG_DONTWAIT);
      if (sent > 0)
        {
          for (int i = 0; i < sent; i++)
            {
              self->stats.from_peer_datagrams++;
              self->stats.from_peer_bytes += self->out[self->out_head]->length;
              out_drop_head (self);
            }
          continue;
        }
      if (sent < 0 && errno == EINTR)
        continue;
      if (sent == 0 || errno == EAGAIN || errno == EWOULDBLOCK)
        {
          if (self->write_source == NULL)
            {
              self->write_source = g_unix_fd_source_new (self->fd, G_IO_OUT);
              g_source_set_callback (self->write_source, G_SOURCE_FUNC (write_cb), self, NULL);
              g_source_set_static_name (self->write_source, "[nb-wgproxy] writable");
              g_source_attach (self->write_source, self->context);
            }
          return;
        }
      /* The first datagram of the batch failed: drop it, go on with the rest. */
      self->stats.dropped_write++;
      rate_log (&self->log_write, "writing to WireGuard: %s", g_strerror (errno));
      out_drop_head (self);
    }
}

static gboolean
write_cb (int fd, GIOCondition condition, gpointer user_data)
{
  NbWgProxy *self = user_data;

  g_clear_pointer (&self->write_source, g_source_unref);
  flush_out (self);
  return G_SOURCE_REMOVE;
}

static gboolean
flush_cb (gpointer user_data)
{
  NbWgProxy *self = user_data;

  g_clear_pointer (&self->flush_source, g_source_unref);
  flush_out (self);
  return G_SOURCE_REMOVE;
}

/* The peer sent the initiation WireGuard already answered again: our
 * response was lost. WireGuard would drop the repeat as a replay (same
 * TAI64N timestamp) and the peer would wait 5 s for its own retry with a
 * new initiation; the response it needs is still valid (the peer keeps the
 * state of its initiation), so send it again instead. */
static gboolean
answer_again (NbWgProxy *self, const guint8 *data, gsize length)
{
  guint8 response[WG_RESPONSE_SIZE];
  const guint8 *datagrams[1] = { response };
  gsize lengths[1] = { WG_RESPONSE_SIZE };

  if (!self->have_response || !is_wg_message (data, length, WG_INITIATION, WG_INITIATION_SIZE)
      || memcmp (data, self->answered, WG_INITIATION_SIZE) != 0)
    return FALSE;
  memcpy (response, self->response, WG_RESPONSE_SIZE);
  if (to_peer (self, datagrams, lengths, 1) > 0)
    self->stats.responses_replayed++;
  g_debug ("the peer repeated an answered initiation: response sent again");
  return TRUE;
}

/* A response to WireGuard's newest initiation (which went out at
 * initiation_sent_us) closes the handshake's round trip. */
static void
time_handshake (NbWgProxy *self, const guint8 *response)
{
  if (!self->have_initiation || self->initiation_sent_us == 0
      || !response_answers (response, self->initiation))
    return;
  self->stats.last_handshake_rtt_us = MAX (self->stats.last_response_us - self->initiation_sent_us, 1);
  self->initiation_sent_us = 0;
  g_debug ("handshake round trip %" G_GINT64_FORMAT " us", self->stats.last_handshake_rtt_us);
}

void
nb_wg_proxy_deliver (NbWgProxy *self, const guint8 *data, gsize length)
{
  g_return_if_fail (NB_IS_WG_PROXY (self));
  g_return_if_fail (data != NULL || length == 0);

  if (self->closed)
    return;
  if (length > NB_WG_PROXY_MAX_DATAGRAM)
    {
      self->stats.dropped_write++;
      rate_log (&self->log_write, "dropped a %" G_GSIZE_FORMAT "-byte datagram for WireGuard", length);
      return;
    }
  if (is_wg_message (data, length, WG_RESPONSE, WG_RESPONSE_SIZE))
    {
      self->stats.last_response_us = g_get_monotonic_time ();
      time_handshake (self, data);
    }
  if (answer_again (self, data, length))
    return;
  if (is_wg_message (data, length, WG_INITIATION, WG_INITIATION_SIZE))
    {
      memcpy (self->peer_initiation, data, WG_INITIATION_SIZE);
      self->have_peer_initiation = TRUE;
    }

  if (self->out_len == OUT_MAX)
    {
      out_drop_head (self);
      self->stats.dropped_write++;
      rate_log (&self->log_write, "WireGuard is not reading: dropped the oldest queued datagram");
    }
  self->out[(self->out_head + self->out_len) % OUT_MAX] = datagram_new (data, length);
  self->out_len++;

  if (self->write_source != NULL)
    return;                     /* waiting for the socket to be writable */
  if (self->out_len >= NB_WG_PROXY_BATCH)
    {
      flush_out (self);
      return;
    }
  if (self->flush_source == NULL)
    {
      self->flush_source = g_idle_source_new ();
      g_source_set_priority (self->flush_source, G_PRIORITY_HIGH);
      g_source_set_callback (self->flush_source, flush_cb, self, NULL);
      g_source_set_static_name (self->flush_source, "[nb-wgproxy] flush");
      g_source_attach (self->flush_source, self->context);
    }
}

/* ------------------------------------------------------------------------ */

static void
set_buffer (int fd, int force_option, int option)
{
  int size = SOCKET_BUFFER;

  /* FORCE needs CAP_NET_ADMIN; without it the plain option, capped by
   * net.core.[rw]mem_max, is the best we can do. */
  if (setsockopt (fd, SOL_SOCKET, force_option, &size, sizeof size) == 0)
    return;
  if (setsockopt (fd, SOL_SOCKET, option, &size, sizeof size) != 0)
    g_debug ("socket buffer: %s", g_strerror (errno));
}

static gboolean
fail_errno (GError **error, const char *what)
{
  int saved = errno;

  g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "%s: %s", what, g_strerror (saved));
  return FALSE;
}

NbWgProxy *
nb_wg_proxy_new (GInetSocketAddress *wg_address, GError **error)
{
  g_autoptr (NbWgProxy) self = NULL;
  GInetAddress *address;
  GSocketFamily family;
  g_autoptr (GInetAddress) loopback = NULL;
  g_autoptr (GSocketAddress) target = NULL;
  g_autoptr (GSocketAddress) bind_address = NULL;
  g_autoptr (GSocketAddress) local = NULL;
  SockAddr native;
  socklen_t native_len;

  g_return_val_if_fail (G_IS_INET_SOCKET_ADDRESS (wg_address), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  address = g_inet_socket_address_get_address (wg_address);
  family = g_inet_address_get_family (address);
  loopback = g_inet_address_new_loopback (family);
  if (g_inet_address_get_is_any (address))
    target = g_inet_socket_address_new (loopback, g_inet_socket_address_get_port (wg_address));
  else
    target = g_object_ref (G_SOCKET_ADDRESS (wg_address));

  self = g_object_new (NB_TYPE_WG_PROXY, NULL);
  if (!g_socket_address_to_native (target, &self->wg, sizeof self->wg, error))
    return NULL;
  self->wg_len = g_socket_address_get_native_size (target);

  self->fd = socket (self->wg.sa.sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (self->fd < 0)
    {
      fail_errno (error, "creating the proxy socket");
      return NULL;
    }
  set_buffer (self->fd, SO_RCVBUFFORCE, SO_RCVBUF);
  set_buffer (self->fd, SO_SNDBUFFORCE, SO_SNDBUF);

  bind_address = g_inet_socket_address_new (loopback, 0);
  if (!g_socket_address_to_native (bind_address, &native, sizeof native, error))
    return NULL;
  if (bind (self->fd, &native.sa, g_socket_address_get_native_size (bind_address)) != 0)
    {
      fail_errno (error, "binding the proxy socket");
      return NULL;
    }
  native_len = sizeof native;
  if (getsockname (self->fd, &native.sa, &native_len) != 0)
    {
      fail_errno (error, "reading the proxy socket's address");
      return NULL;
    }
  local = g_socket_address_new_from_native (&native, native_len);
  if (!G_IS_INET_SOCKET_ADDRESS (local))
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_FAILED, "the proxy socket has no IP address");
      return NULL;
    }
  self->local_address = G_INET_SOCKET_ADDRESS (g_steal_pointer (&local));

  self->arena = arena_ref ();
  self->read_source = g_unix_fd_source_new (self->fd, G_IO_IN);
  g_source_set_callback (self->read_source, G_SOURCE_FUNC (read_cb), self, NULL);
  g_source_set_static_name (self->read_source, "[nb-wgproxy] read");
  g_source_attach (self->read_source, self->context);

  return g_steal_pointer (&self);
}

GInetSocketAddress *
nb_wg_proxy_get_local_address (NbWgProxy *self)
{
  g_return_val_if_fail (NB_IS_WG_PROXY (self), NULL);

  return self->local_address;
}

void
nb_wg_proxy_set_transport (NbWgProxy         *self,
                           NbWgProxySendFunc  func,
                           gpointer           user_data,
                           GDestroyNotify     destroy)
{
  Transport *old;

  g_return_if_fail (NB_IS_WG_PROXY (self));

  if (func == NULL || self->closed)
    {
      if (destroy != NULL)
        destroy (user_data);
      func = NULL;
    }

  old = self->transport;
  self->transport = NULL;
  if (func != NULL)
    {
      self->transport = g_new0 (Transport, 1);
      *self->transport = (Transport) { 1, func, user_data, destroy };
    }
  if (old != NULL)
    transport_unref (old);
  if (self->transport != NULL)
    flush_pending (self);
}

gboolean
nb_wg_proxy_has_transport (NbWgProxy *self)
{
  g_return_val_if_fail (NB_IS_WG_PROXY (self), FALSE);

  return self->transport != NULL;
}

gboolean
nb_wg_proxy_replay_handshake (NbWgProxy *self)
{
  guint8 initiation[WG_INITIATION_SIZE];
  const guint8 *datagrams[1] = { initiation };
  gsize lengths[1] = { WG_INITIATION_SIZE };

  g_return_val_if_fail (NB_IS_WG_PROXY (self), FALSE);

  if (!self->have_initiation || self->transport == NULL)
    return FALSE;
  memcpy (initiation, self->initiation, WG_INITIATION_SIZE);
  if (to_peer (self, datagrams, lengths, 1) == 0)
    return FALSE;
  self->stats.handshakes_replayed++;
  return TRUE;
}

void
nb_wg_proxy_close (NbWgProxy *self)
{
  Transport *transport;

  g_return_if_fail (NB_IS_WG_PROXY (self));

  if (self->closed)
    return;
  self->closed = TRUE;

  if (self->read_source != NULL)
    g_source_destroy (self->read_source);
  g_clear_pointer (&self->read_source, g_source_unref);
  if (self->write_source != NULL)
    g_source_destroy (self->write_source);
  g_clear_pointer (&self->write_source, g_source_unref);
  if (self->flush_source != NULL)
    g_source_destroy (self->flush_source);
  g_clear_pointer (&self->flush_source, g_source_unref);

  if (self->fd >= 0)
    close (self->fd);
  self->fd = -1;

  g_queue_clear_full (&self->pending, g_free);
  self->pending_initiation = NULL;
  while (self->out_len > 0)
    out_drop_head (self);

  transport = g_steal_pointer (&self->transport);
  if (transport != NULL)
    transport_unref (transport);
  if (self->arena != NULL)
    arena_unref (g_steal_pointer (&self->arena));
}

void
nb_wg_proxy_get_stats (NbWgProxy *self, NbWgProxyStats *out)
{
  g_return_if_fail (NB_IS_WG_PROXY (self));
  g_return_if_fail (out != NULL);

  *out = self->stats;
}

static void
nb_wg_proxy_init (NbWgProxy *self)
{
  self->fd = -1;
  self->context = g_main_context_ref_thread_default ();
  g_queue_init (&self->pending);
}

static void
nb_wg_proxy_finalize (GObject *object)
{
  NbWgProxy *self = NB_WG_PROXY (object);

  nb_wg_proxy_close (self);
  g_clear_object (&self->local_address);
  g_main_context_unref (self->context);

  G_OBJECT_CLASS (nb_wg_proxy_parent_class)->finalize (object);
}

static void
nb_wg_proxy_class_init (NbWgProxyClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = nb_wg_proxy_finalize;
}
