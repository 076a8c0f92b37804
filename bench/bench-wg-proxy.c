/* SPDX-License-Identifier: GPL-2.0-or-later
 * Benchmarks service/engine/wg-proxy.c: what the local hop costs next to
 * plain UDP over loopback, for 1400-byte datagrams (a full WireGuard
 * datagram at NetBird's 1280 MTU plus overhead is in that range).
 *
 * Loopback UDP has no flow control, so every row sends in windows that fit
 * the receiver's socket buffer and waits for a window to arrive before the
 * next; each row runs in one thread, like the engine. Losses (there should
 * be none) are reported, not hidden.
 *
 *   bench-wg-proxy [COUNT]      (default 200000 datagrams per row)
 */
#define _GNU_SOURCE
#include "config.h"

#include "wg-proxy.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define SIZE      1400
#define BATCH     64
#define STALL_US  (2 * G_USEC_PER_SEC)

typedef struct {
  const char *name;
  guint64 sent;
  guint64 received;
  gint64 elapsed_us;
} Row;

static guint8 payload[BATCH][SIZE];

/* A non-blocking UDP socket on 127.0.0.1 with large buffers. */
static int
udp_socket (struct sockaddr_in *address)
{
  int fd = socket (AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int size = 4 * 1024 * 1024;
  socklen_t len = sizeof *address;

  g_assert (fd >= 0);
  setsockopt (fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  setsockopt (fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
  memset (address, 0, sizeof *address);
  address->sin_family = AF_INET;
  address->sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  g_assert (bind (fd, (struct sockaddr *) address, sizeof *address) == 0);
  g_assert (getsockname (fd, (struct sockaddr *) address, &len) == 0);
  return fd;
}

/* Datagrams a socket buffer holds: ~2.3 KiB of it per 1400-byte datagram,
 * with margin. */
static guint
window_for (int fd)
{
  int size = 0;
  socklen_t len = sizeof size;

  getsockopt (fd, SOL_SOCKET, SO_RCVBUF, &size, &len);
  return CLAMP ((guint) size / 4096, BATCH, 1024);
}

static void
send_batch (int fd, const struct sockaddr_in *to, guint n, gboolean batched)
{
  struct mmsghdr msgs[BATCH];
  struct iovec iov[BATCH];
  guint done = 0;

  if (!batched)
    {
      for (guint i = 0; i < n; i++)
        while (sendto (fd, payload[i], SIZE, 0, (const struct sockaddr *) to, sizeof *to) < 0)
          g_assert (errno == EAGAIN || errno == EINTR);
      return;
    }
  memset (msgs, 0, sizeof msgs);
  for (guint i = 0; i < n; i++)
    {
      iov[i] = (struct iovec) { payload[i], SIZE };
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
      msgs[i].msg_hdr.msg_name = (void *) to;
      msgs[i].msg_hdr.msg_namelen = sizeof *to;
    }
  while (done < n)
    {
      int r = sendmmsg (fd, msgs + done, n - done, 0);

      if (r > 0)
        done += r;
      else
        g_assert (errno == EAGAIN || errno == EINTR);
    }
}

static guint
recv_now (int fd, gboolean batched)
{
  static guint8 buf[BATCH][2048];
  struct mmsghdr msgs[BATCH];
  struct iovec iov[BATCH];
  int r;

  if (!batched)
    return recv (fd, buf[0], sizeof buf[0], MSG_DONTWAIT) > 0 ? 1 : 0;
  memset (msgs, 0, sizeof msgs);
  for (guint i = 0; i < BATCH; i++)
    {
      iov[i] = (struct iovec) { buf[i], sizeof buf[i] };
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
    }
  r = recvmmsg (fd, msgs, BATCH, MSG_DONTWAIT, NULL);
  return r > 0 ? (guint) r : 0;
}

/* Reads what is there, waiting only when nothing is; returns the count, 0
 * when nothing came for STALL_US. */
static guint
recv_some (int fd, gboolean batched)
{
  struct pollfd pfd = { fd, POLLIN, 0 };
  guint got = recv_now (fd, batched);

  if (got > 0)
    return got;
  if (poll (&pfd, 1, STALL_US / 1000) <= 0)
    return 0;
  return recv_now (fd, batched);
}

static Row
bench_plain (const char *name, guint count, gboolean batched)
{
  struct sockaddr_in a, b;
  int fa = udp_socket (&a);
  int fb = udp_socket (&b);
  guint window = window_for (fb);
  Row row = { name, 0, 0, 0 };
  gint64 start = g_get_monotonic_time ();

  while (row.sent < count)
    {
      guint64 target = MIN (count, row.sent + window);

      while (row.sent < target)
        {
          guint n = MIN (BATCH, target - row.sent);

          send_batch (fa, &b, n, batched);
          row.sent += n;
        }
      while (row.received < target)
        {
          guint got = recv_some (fb, batched);

          if (got == 0)
            break;              /* lost: counted below */
          row.received += got;
        }
      row.received = MIN (row.received, target);
    }
  row.elapsed_us = g_get_monotonic_time () - start;
  close (fa);
  close (fb);
  return row;
}

/* --- through the proxy --------------------------------------------------- */

static guint
count_send (const guint8 *const *datagrams, const gsize *lengths, guint n, gpointer user_data)
{
  *(guint64 *) user_data += n;
  return n;
}

static gboolean
stall_cb (gpointer data)
{
  *(gboolean *) data = TRUE;
  return G_SOURCE_REMOVE;
}

/* WireGuard's socket sends (sendmmsg, as wireguard-go does) to the proxy;
 * the transport takes them. */
static Row
bench_to_peer (guint count)
{
  struct sockaddr_in wg, proxy_address;
  int fwg = udp_socket (&wg);
  g_autoptr (GSocketAddress) wg_address = g_socket_address_new_from_native (&wg, sizeof wg);
  g_autoptr (GError) error = NULL;
  g_autoptr (NbWgProxy) proxy = nb_wg_proxy_new (G_INET_SOCKET_ADDRESS (wg_address), &error);
  guint64 taken = 0;
  guint64 lost = 0;
  guint window = window_for (fwg);
  Row row = { "proxy WireGuard -> transport", 0, 0, 0 };
  gint64 start;

  g_assert_no_error (error);
  g_socket_address_to_native (G_SOCKET_ADDRESS (nb_wg_proxy_get_local_address (proxy)),
                              &proxy_address, sizeof proxy_address, NULL);
  nb_wg_proxy_set_transport (proxy, count_send, &taken, NULL);

  start = g_get_monotonic_time ();
  while (row.sent < count)
    {
      guint64 target = MIN (count, row.sent + window);
      gboolean stalled = FALSE;
      guint stall_id;

      while (row.sent < target)
        {
          guint n = MIN (BATCH, target - row.sent);

          send_batch (fwg, &proxy_address, n, TRUE);
          row.sent += n;
        }
      stall_id = g_timeout_add (STALL_US / 1000, stall_cb, &stalled);
      while (taken + lost < target && !stalled)
        g_main_context_iteration (NULL, TRUE);
      if (!stalled)
        g_source_remove (stall_id);
      else
        lost = target - taken;  /* give up on the window; losses show below */
    }
  row.elapsed_us = g_get_monotonic_time () - start;
  {
    NbWgProxyStats stats;

    nb_wg_proxy_get_stats (proxy, &stats);
    row.received = stats.to_peer_datagrams;
  }
  nb_wg_proxy_close (proxy);
  close (fwg);
  return row;
}

/* The transport delivers; WireGuard's socket reads (recvmmsg). */
static Row
bench_from_peer (guint count)
{
  struct sockaddr_in wg;
  int fwg = udp_socket (&wg);
  g_autoptr (GSocketAddress) wg_address = g_socket_address_new_from_native (&wg, sizeof wg);
  g_autoptr (GError) error = NULL;
  g_autoptr (NbWgProxy) proxy = nb_wg_proxy_new (G_INET_SOCKET_ADDRESS (wg_address), &error);
  guint window = window_for (fwg);
  Row row = { "proxy deliver -> WireGuard", 0, 0, 0 };
  gint64 start;

  g_assert_no_error (error);
  start = g_get_monotonic_time ();
  while (row.sent < count)
    {
      guint64 target = MIN (count, row.sent + window);

      for (; row.sent < target; row.sent++)
        nb_wg_proxy_deliver (proxy, payload[row.sent % BATCH], SIZE);
      /* the tail below a batch leaves from the idle flush */
      while (g_main_context_iteration (NULL, FALSE))
        ;
      while (row.received < target)
        {
          guint got = recv_some (fwg, TRUE);

          if (got == 0)
            break;
          row.received += got;
        }
    }
  row.elapsed_us = g_get_monotonic_time () - start;
  nb_wg_proxy_close (proxy);
  close (fwg);
  return row;
}

static void
print_row (const Row *row)
{
  double seconds = row->elapsed_us / 1e6;
  double rate = row->received / seconds;

  printf ("%-34s %12.0f %10.1f %10" G_GUINT64_FORMAT "\n", row->name, rate, rate * SIZE / 1e6,
          row->sent - MIN (row->sent, row->received));
}

int
main (int argc, char **argv)
{
  guint count = argc > 1 ? (guint) strtoul (argv[1], NULL, 10) : 200000;
  Row rows[4];

  if (count == 0)
    {
      fprintf (stderr, "usage: %s [COUNT]\n", argv[0]);
      return 2;
    }
  for (guint i = 0; i < BATCH; i++)
    memset (payload[i], 4 + i, SIZE);
  /* quiet about nothing; warnings would be real problems */
  g_log_set_always_fatal (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING);

  rows[0] = bench_plain ("plain UDP send()/recv()", count, FALSE);
  rows[1] = bench_plain ("plain UDP sendmmsg()/recvmmsg()", count, TRUE);
  rows[2] = bench_to_peer (count);
  rows[3] = bench_from_peer (count);

  printf ("%u datagrams of %d bytes per row, loopback, one thread\n\n", count, SIZE);
  printf ("%-34s %12s %10s %10s\n", "path", "datagrams/s", "MB/s", "lost");
  for (guint i = 0; i < G_N_ELEMENTS (rows); i++)
    print_row (&rows[i]);
  return 0;
}
