/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Tests service/netbird/uplink.c in a private network namespace that plays
 * a host with an exit node: "up0" is the physical uplink (192.0.2.10/24,
 * default route via 192.0.2.1 metric 100), "tun0" stands for the WireGuard
 * tunnel (100.64.0.1/16, default route metric 50, so it wins). Both are
 * veth pairs whose peers stay address-less: this kernel may lack the dummy
 * driver, veth is everywhere network namespaces are.
 *
 * Needs root: main() unshares the network namespace before GLib starts any
 * thread and skips every case when that is not permitted.
 */
#include "config.h"

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <gio/gio.h>

#include "uplink.h"

static char *skip_reason;

static gboolean
run_ip (const char *args, GError **error)
{
  g_autofree char *command = g_strdup_printf ("ip %s", args);
  g_auto (GStrv) argv = NULL;
  g_autofree char *err = NULL;
  int status;

  if (!g_shell_parse_argv (command, NULL, &argv, error)
      || !g_spawn_sync (NULL, argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL, NULL,
                        NULL, NULL, &err, &status, error))
    return FALSE;
  if (!g_spawn_check_wait_status (status, error))
    {
      g_prefix_error (error, "%s: %s", command, g_strstrip (err));
      return FALSE;
    }
  return TRUE;
}

static gboolean
setup_namespace (GError **error)
{
  const char *commands[] = {
    "link set lo up",
    "link add up0 type veth peer name up0-peer",
    "link add tun0 type veth peer name tun0-peer",
    "link set up0-peer up",
    "link set tun0-peer up",
    "link set up0 up",
    "link set tun0 up",
    "addr add 192.0.2.10/24 dev up0",
    "addr add 100.64.0.1/16 dev tun0",
    "route add default via 192.0.2.1 dev up0 metric 100",
    "route add default dev tun0 metric 50",
    /* the gateway answers no ARP; datagrams to it must still leave */
    "neigh add 192.0.2.1 lladdr 02:00:00:00:00:01 dev up0 nud permanent",
  };

  for (guint i = 0; i < G_N_ELEMENTS (commands); i++)
    if (!run_ip (commands[i], error))
      return FALSE;
  return TRUE;
}

static gboolean
skipped (void)
{
  if (skip_reason == NULL)
    return FALSE;
  g_test_skip (skip_reason);
  return TRUE;
}

/* ---- sockets ----------------------------------------------------------- */

static struct sockaddr_in
inet4 (const char *address, guint16 port)
{
  struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons (port) };

  g_assert_cmpint (inet_pton (AF_INET, address, &sin.sin_addr), ==, 1);
  return sin;
}

static int
udp_socket (const char *bind_address)
{
  int fd = socket (AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

  g_assert_cmpint (fd, >=, 0);
  if (bind_address != NULL)
    {
      struct sockaddr_in sin = inet4 (bind_address, 0);

      g_assert_no_errno (bind (fd, (struct sockaddr *) &sin, sizeof (sin)));
    }
  return fd;
}

static void
connect_to (int fd, const char *address, guint16 port)
{
  struct sockaddr_in sin = inet4 (address, port);

  g_assert_no_errno (connect (fd, (struct sockaddr *) &sin, sizeof (sin)));
}

static char *
bound_device (int fd)
{
  char device[IF_NAMESIZE + 1] = { 0 };
  socklen_t len = IF_NAMESIZE;

  g_assert_no_errno (getsockopt (fd, SOL_SOCKET, SO_BINDTODEVICE, device, &len));
  return g_strdup (device);
}

#define assert_bound(fd, expected)                     \
  G_STMT_START {                                       \
    g_autofree char *_device = bound_device (fd);      \
    g_assert_cmpstr (_device, ==, (expected));         \
  } G_STMT_END

static char *
source_address (int fd)
{
  struct sockaddr_in sin = { 0 };
  socklen_t len = sizeof (sin);
  char text[INET_ADDRSTRLEN];

  g_assert_no_errno (getsockname (fd, (struct sockaddr *) &sin, &len));
  g_assert_nonnull (inet_ntop (AF_INET, &sin.sin_addr, text, sizeof (text)));
  return g_strdup (text);
}

/* Packets the device sent, from /proc/net/dev (this namespace's view). */
static guint64
tx_packets (const char *device)
{
  g_autofree char *contents = NULL;
  g_auto (GStrv) lines = NULL;
  g_autofree char *prefix = g_strdup_printf ("%s:", device);

  g_assert_true (g_file_get_contents ("/proc/net/dev", &contents, NULL, NULL));
  lines = g_strsplit (contents, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      const char *line = g_strchug (lines[i]);
      guint64 counters[10];

      if (!g_str_has_prefix (line, prefix))
        continue;
      /* rx: bytes packets errs drop fifo frame compressed multicast; tx: bytes packets */
      g_assert_cmpint (sscanf (line + strlen (prefix),
                               "%" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT
                               " %" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT
                               " %" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT
                               " %" G_GUINT64_FORMAT,
                               &counters[0], &counters[1], &counters[2], &counters[3],
                               &counters[4], &counters[5], &counters[6], &counters[7],
                               &counters[8], &counters[9]), ==, 10);
      return counters[9];
    }
  g_assert_not_reached ();
}

/* ---- cases ------------------------------------------------------------- */

static void
test_default_device (void)
{
  g_autofree char *besides_tunnel = NULL;
  g_autofree char *any = NULL;
  g_autofree char *none = NULL;

  if (skipped ())
    return;
  besides_tunnel = nb_uplink_default_device ("tun0");
  any = nb_uplink_default_device (NULL);
  g_assert_cmpstr (besides_tunnel, ==, "up0");
  g_assert_cmpstr (any, ==, "tun0");

  g_assert_true (run_ip ("route del default dev up0", NULL));
  none = nb_uplink_default_device ("tun0");
  g_assert_null (none);
  g_assert_true (run_ip ("route add default via 192.0.2.1 dev up0 metric 100", NULL));
}

static void
assert_on_link (const char *text, const char *exclude, gboolean expected)
{
  g_autoptr (GInetAddress) address = g_inet_address_new_from_string (text);

  g_assert_nonnull (address);
  g_assert_cmpint (nb_uplink_is_on_link (address, exclude), ==, expected);
}

static void
test_on_link (void)
{
  if (skipped ())
    return;
  assert_on_link ("192.0.2.77", "tun0", TRUE);
  assert_on_link ("192.0.2.77", NULL, TRUE);
  assert_on_link ("198.51.100.1", "tun0", FALSE);
  assert_on_link ("198.51.100.1", NULL, FALSE);
  assert_on_link ("100.64.3.3", "tun0", FALSE);
  assert_on_link ("100.64.3.3", NULL, TRUE);
  assert_on_link ("127.0.0.1", NULL, FALSE);          /* loopback never counts */
  assert_on_link ("2001:db8::1", NULL, FALSE);
}

static void
test_bind (void)
{
  int udp_any, tcp, udp_uplink, udp_tunnel, udp_loopback, udp_to_loopback, udp_to_loopback_from_uplink;
  int listener, later, unix_fd, reused;
  struct sockaddr_in any = inet4 ("0.0.0.0", 0);

  if (skipped ())
    return;
  g_assert_false (nb_uplink_get_enabled ());

  udp_any = udp_socket ("0.0.0.0");
  tcp = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  udp_uplink = udp_socket ("192.0.2.10");
  udp_tunnel = udp_socket ("100.64.0.1");
  udp_loopback = udp_socket ("127.0.0.1");
  udp_to_loopback = udp_socket (NULL);
  connect_to (udp_to_loopback, "127.0.0.1", 51820);
  /* the loopback peer alone must keep it unbound */
  udp_to_loopback_from_uplink = udp_socket ("192.0.2.10");
  connect_to (udp_to_loopback_from_uplink, "127.0.0.1", 51820);
  listener = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  g_assert_no_errno (bind (listener, (struct sockaddr *) &any, sizeof (any)));
  g_assert_no_errno (listen (listener, 1));
  unix_fd = socket (AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  g_assert_cmpint (tcp, >=, 0);
  g_assert_cmpint (unix_fd, >=, 0);

  /* disabled: nothing happens */
  nb_uplink_bind_fd (udp_any);
  nb_uplink_bind_all ();
  assert_bound (udp_any, "");

  nb_uplink_set_enabled (TRUE, "tun0");
  g_assert_true (nb_uplink_get_enabled ());
  assert_bound (udp_any, "up0");
  assert_bound (tcp, "up0");
  assert_bound (udp_uplink, "up0");
  assert_bound (udp_tunnel, "");
  assert_bound (udp_loopback, "");
  assert_bound (udp_to_loopback, "");
  assert_bound (udp_to_loopback_from_uplink, "");
  assert_bound (listener, "");

  /* a socket made afterwards, as the hooks see it */
  later = udp_socket (NULL);
  assert_bound (later, "");
  nb_uplink_bind_fd (later);
  assert_bound (later, "up0");
  nb_uplink_bind_fd (later);                           /* idempotent */
  assert_bound (later, "up0");
  nb_uplink_bind_fd (unix_fd);                         /* not IP: ignored */
  nb_uplink_bind_fd (-1);

  /* a descriptor we bound, closed and reused by a socket someone else binds */
  g_assert_no_errno (close (later));
  reused = udp_socket (NULL);
  g_assert_cmpint (reused, ==, later);
  g_assert_no_errno (setsockopt (reused, SOL_SOCKET, SO_BINDTODEVICE, "tun0", 4));

  nb_uplink_set_enabled (FALSE, NULL);
  g_assert_false (nb_uplink_get_enabled ());
  assert_bound (udp_any, "");
  assert_bound (tcp, "");
  assert_bound (udp_uplink, "");
  assert_bound (reused, "tun0");

  nb_uplink_bind_fd (udp_any);                         /* disabled again */
  assert_bound (udp_any, "");

  for (guint i = 0; i < 2; i++)
    {
      /* enabling twice rebinds; disabling twice is harmless */
      nb_uplink_set_enabled (TRUE, "tun0");
      assert_bound (udp_any, "up0");
      nb_uplink_set_enabled (FALSE, NULL);
      nb_uplink_set_enabled (FALSE, NULL);
      assert_bound (udp_any, "");
    }

  close (udp_any);
  close (tcp);
  close (udp_uplink);
  close (udp_tunnel);
  close (udp_loopback);
  close (udp_to_loopback);
  close (udp_to_loopback_from_uplink);
  close (listener);
  close (unix_fd);
  close (reused);
}

/* What the binding is for: the kernel routes a bound socket through the
 * uplink although the tunnel has the better default route. */
static void
test_route_follows_binding (void)
{
  const char *datagram = "ping";
  int bound_fd, unbound_fd;
  g_autofree char *bound_source = NULL;
  g_autofree char *unbound_source = NULL;
  guint64 up0_before, tun0_before;

  if (skipped ())
    return;
  nb_uplink_set_enabled (TRUE, "tun0");
  bound_fd = udp_socket (NULL);
  unbound_fd = udp_socket (NULL);
  nb_uplink_bind_fd (bound_fd);
  assert_bound (bound_fd, "up0");
  assert_bound (unbound_fd, "");

  connect_to (bound_fd, "198.51.100.1", 9);
  connect_to (unbound_fd, "198.51.100.1", 9);
  bound_source = source_address (bound_fd);
  unbound_source = source_address (unbound_fd);
  g_assert_cmpstr (bound_source, ==, "192.0.2.10");
  g_assert_cmpstr (unbound_source, ==, "100.64.0.1");

  up0_before = tx_packets ("up0");
  tun0_before = tx_packets ("tun0");
  g_assert_cmpint (send (bound_fd, datagram, strlen (datagram), 0), ==, (gssize) strlen (datagram));
  g_assert_cmpuint (tx_packets ("up0"), ==, up0_before + 1);
  g_assert_cmpuint (tx_packets ("tun0"), ==, tun0_before);
  g_assert_cmpint (send (unbound_fd, datagram, strlen (datagram), 0), ==, (gssize) strlen (datagram));
  g_assert_cmpuint (tx_packets ("tun0"), ==, tun0_before + 1);
  g_assert_cmpuint (tx_packets ("up0"), ==, up0_before + 1);

  nb_uplink_set_enabled (FALSE, NULL);
  close (bound_fd);
  close (unbound_fd);
}

int
main (int argc, char **argv)
{
  /* Before anything starts a thread: unshare() moves only the caller. */
  int unshare_errno = unshare (CLONE_NEWNET) == 0 ? 0 : errno;

  g_test_init (&argc, &argv, NULL);

  if (unshare_errno != 0)
    skip_reason = g_strdup_printf ("needs root for a private network namespace: unshare: %s",
                                   g_strerror (unshare_errno));
  else
    {
      g_autoptr (GError) error = NULL;

      if (!setup_namespace (&error))
        skip_reason = g_strdup_printf ("cannot set up the namespace: %s", error->message);
    }

  g_test_add_func ("/uplink/default-device", test_default_device);
  g_test_add_func ("/uplink/on-link", test_on_link);
  g_test_add_func ("/uplink/bind", test_bind);
  g_test_add_func ("/uplink/route-follows-binding", test_route_follows_binding);
  return g_test_run ();
}
