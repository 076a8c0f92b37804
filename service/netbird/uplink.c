/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * SO_BINDTODEVICE for the engine's own sockets, see uplink.h.
 *
 * The sockets this module bound are remembered with the device it set, so
 * that disabling removes only its own bindings: a file descriptor may have
 * been closed and reused since, which the device read back reveals (or
 * not, when the new socket happens to carry the same binding; harmless, as
 * the owner of such a socket bound it for the same reason).
 */
#define G_LOG_DOMAIN "nb-uplink"

#include "config.h"

#include "uplink.h"

#include <dirent.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

static GMutex lock;
static gint enabled;       /* atomic; read without the lock by the hooks */
static char *tunnel;       /* under lock */
static GHashTable *bound;  /* under lock: fd -> device name we set */

/* ---- addresses --------------------------------------------------------- */

/* The socket address as a GInetAddress, an IPv4-mapped IPv6 address as
 * the IPv4 address it stands for; NULL for other families. */
static GInetAddress *
inet_address_from_sockaddr (const struct sockaddr *sa)
{
  if (sa == NULL)
    return NULL;
  if (sa->sa_family == AF_INET)
    {
      const struct sockaddr_in *sin = (const struct sockaddr_in *) sa;

      return g_inet_address_new_from_bytes ((const guint8 *) &sin->sin_addr, G_SOCKET_FAMILY_IPV4);
    }
  if (sa->sa_family == AF_INET6)
    {
      const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *) sa;

      if (IN6_IS_ADDR_V4MAPPED (&sin6->sin6_addr))
        return g_inet_address_new_from_bytes (sin6->sin6_addr.s6_addr + 12, G_SOCKET_FAMILY_IPV4);
      return g_inet_address_new_from_bytes (sin6->sin6_addr.s6_addr, G_SOCKET_FAMILY_IPV6);
    }
  return NULL;
}

static const guint8 *
sockaddr_bytes (const struct sockaddr *sa, gsize *len)
{
  if (sa->sa_family == AF_INET)
    {
      *len = 4;
      return (const guint8 *) &((const struct sockaddr_in *) sa)->sin_addr;
    }
  if (sa->sa_family == AF_INET6)
    {
      *len = 16;
      return ((const struct sockaddr_in6 *) sa)->sin6_addr.s6_addr;
    }
  *len = 0;
  return NULL;
}

/* The interface that has @address configured; NULL when none has. */
static char *
interface_owning (GInetAddress *address)
{
  struct ifaddrs *list = NULL;
  char *name = NULL;

  if (getifaddrs (&list) != 0)
    {
      g_debug ("getifaddrs: %s", g_strerror (errno));
      return NULL;
    }
  for (struct ifaddrs *ifa = list; ifa != NULL && name == NULL; ifa = ifa->ifa_next)
    {
      g_autoptr (GInetAddress) configured = inet_address_from_sockaddr (ifa->ifa_addr);

      if (configured != NULL && g_inet_address_equal (configured, address))
        name = g_strdup (ifa->ifa_name);
    }
  freeifaddrs (list);
  return name;
}

gboolean
nb_uplink_is_on_link (GInetAddress *address, const char *exclude_ifname)
{
  struct ifaddrs *list = NULL;
  const guint8 *want;
  gsize want_len;
  gboolean on_link = FALSE;

  g_return_val_if_fail (G_IS_INET_ADDRESS (address), FALSE);

  want = g_inet_address_to_bytes (address);
  want_len = g_inet_address_get_native_size (address);
  if (getifaddrs (&list) != 0)
    {
      g_debug ("getifaddrs: %s", g_strerror (errno));
      return FALSE;
    }
  for (struct ifaddrs *ifa = list; ifa != NULL && !on_link; ifa = ifa->ifa_next)
    {
      const guint8 *addr, *mask;
      gsize addr_len, mask_len;
      gboolean match = TRUE;

      if (ifa->ifa_addr == NULL || ifa->ifa_netmask == NULL
          || (ifa->ifa_flags & IFF_UP) == 0 || (ifa->ifa_flags & IFF_LOOPBACK) != 0
          || g_strcmp0 (ifa->ifa_name, exclude_ifname) == 0)
        continue;
      addr = sockaddr_bytes (ifa->ifa_addr, &addr_len);
      mask = sockaddr_bytes (ifa->ifa_netmask, &mask_len);
      if (addr == NULL || addr_len != want_len || mask_len != addr_len)
        continue;
      for (gsize i = 0; i < addr_len && match; i++)
        match = (addr[i] & mask[i]) == (want[i] & mask[i]);
      on_link = match;
    }
  freeifaddrs (list);
  return on_link;
}

char *
nb_uplink_default_device (const char *exclude_ifname)
{
  g_autofree char *contents = NULL;
  g_autoptr (GError) error = NULL;
  g_auto (GStrv) lines = NULL;
  char *best = NULL;
  gulong best_metric = G_MAXULONG;

  if (!g_file_get_contents ("/proc/net/route", &contents, NULL, &error))
    {
      g_debug ("no IPv4 routes: %s", error->message);
      return NULL;
    }
  lines = g_strsplit (contents, "\n", -1);
  /* Iface Destination Gateway Flags RefCnt Use Metric Mask MTU Window IRTT */
  for (guint i = 1; lines[i] != NULL; i++)
    {
      char iface[IF_NAMESIZE + 1];
      unsigned int destination, gateway, flags, refcnt, use, mask;
      unsigned long metric;

      if (sscanf (lines[i], "%16s %x %x %x %u %u %lu %x", iface, &destination, &gateway, &flags,
                  &refcnt, &use, &metric, &mask) != 8)
        continue;
      if (destination != 0 || mask != 0 || (flags & RTF_UP) == 0
          || g_strcmp0 (iface, exclude_ifname) == 0 || metric >= best_metric)
        continue;
      g_free (best);
      best = g_strdup (iface);
      best_metric = metric;
    }
  return best;
}

/* ---- binding ----------------------------------------------------------- */

static gboolean
get_int_option (int fd, int option, int *value)
{
  socklen_t len = sizeof (*value);

  return getsockopt (fd, SOL_SOCKET, option, value, &len) == 0;
}

/* The device @fd is bound to, "" when none; FALSE when unreadable. */
static gboolean
get_bound_device (int fd, char device[IF_NAMESIZE + 1])
{
  socklen_t len = IF_NAMESIZE;

  memset (device, 0, IF_NAMESIZE + 1);
  return getsockopt (fd, SOL_SOCKET, SO_BINDTODEVICE, device, &len) == 0;
}

/* The device to bind @fd to, with the reason; NULL (and a debug
 * message) when the socket must be left alone. Called with the lock. */
static char *
choose_device (int fd, const char **why)
{
  struct sockaddr_storage local = { 0 }, peer = { 0 };
  socklen_t local_len = sizeof (local), peer_len = sizeof (peer);
  g_autoptr (GInetAddress) local_address = NULL;
  g_autoptr (GInetAddress) peer_address = NULL;
  g_autofree char *device = NULL;
  int domain, type, protocol, listening;

  if (!get_int_option (fd, SO_DOMAIN, &domain) || (domain != AF_INET && domain != AF_INET6))
    return NULL;
  if (!get_int_option (fd, SO_TYPE, &type) || !get_int_option (fd, SO_PROTOCOL, &protocol)
      || !((type == SOCK_STREAM && protocol == IPPROTO_TCP)
           || (type == SOCK_DGRAM && protocol == IPPROTO_UDP)))
    return NULL;
  /* The binding is for traffic we send: a listener bound to one device
   * would refuse connections arriving on any other. */
  if (get_int_option (fd, SO_ACCEPTCONN, &listening) && listening)
    {
      g_debug ("fd %d: left alone, listening", fd);
      return NULL;
    }
  if (getsockname (fd, (struct sockaddr *) &local, &local_len) != 0
      || (local_address = inet_address_from_sockaddr ((struct sockaddr *) &local)) == NULL)
    {
      g_debug ("fd %d: left alone, no local address", fd);
      return NULL;
    }
  if (g_inet_address_get_is_loopback (local_address))
    {
      g_debug ("fd %d: left alone, bound to loopback", fd);
      return NULL;
    }
  if (getpeername (fd, (struct sockaddr *) &peer, &peer_len) == 0
      && (peer_address = inet_address_from_sockaddr ((struct sockaddr *) &peer)) != NULL
      && g_inet_address_get_is_loopback (peer_address))
    {
      g_debug ("fd %d: left alone, connected to loopback", fd);
      return NULL;
    }

  if (!g_inet_address_get_is_any (local_address))
    {
      g_autofree char *address = g_inet_address_to_string (local_address);

      device = interface_owning (local_address);
      if (device == NULL)
        {
          g_debug ("fd %d: left alone, no interface has its address %s", fd, address);
          return NULL;
        }
      if (g_strcmp0 (device, tunnel) == 0)
        {
          g_debug ("fd %d: left alone, its address %s is the tunnel's", fd, address);
          return NULL;
        }
      *why = "owns its local address";
      return g_steal_pointer (&device);
    }

  device = nb_uplink_default_device (tunnel);
  if (device == NULL)
    {
      g_debug ("fd %d: left alone, no default route besides %s", fd, tunnel ? tunnel : "(none)");
      return NULL;
    }
  *why = "default route besides the tunnel";
  return g_steal_pointer (&device);
}

static void
bind_fd_locked (int fd)
{
  g_autofree char *device = NULL;
  char current[IF_NAMESIZE + 1];
  const char *why = NULL;

  device = choose_device (fd, &why);
  if (device == NULL)
    return;
  if (get_bound_device (fd, current) && strcmp (current, device) == 0)
    {
      g_debug ("fd %d: already bound to %s", fd, device);
      return;
    }
  if (setsockopt (fd, SOL_SOCKET, SO_BINDTODEVICE, device, strlen (device)) != 0)
    {
      g_warning ("fd %d: cannot bind to device %s: %s", fd, device, g_strerror (errno));
      return;
    }
  g_debug ("fd %d: bound to %s (%s)", fd, device, why);
  g_hash_table_insert (bound, GINT_TO_POINTER (fd), g_steal_pointer (&device));
}

static void
bind_all_locked (void)
{
  g_autoptr (GDir) dir = NULL;
  g_autoptr (GError) error = NULL;
  const char *name;

  dir = g_dir_open ("/proc/self/fd", 0, &error);
  if (dir == NULL)
    {
      g_warning ("cannot list the sockets to bind: %s", error->message);
      return;
    }
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      guint64 fd;
      struct stat st;

      if (!g_ascii_string_to_unsigned (name, 10, 0, G_MAXINT, &fd, NULL))
        continue;
      /* The directory's own descriptor is not a socket; neither is a
       * descriptor closed since the listing. */
      if (fstat ((int) fd, &st) != 0 || !S_ISSOCK (st.st_mode))
        continue;
      bind_fd_locked ((int) fd);
    }
}

static void
unbind_all_locked (void)
{
  GHashTableIter iter;
  gpointer key, value;

  g_hash_table_iter_init (&iter, bound);
  while (g_hash_table_iter_next (&iter, &key, &value))
    {
      int fd = GPOINTER_TO_INT (key);
      char current[IF_NAMESIZE + 1];

      /* Closed, or reused for a socket bound elsewhere by someone else. */
      if (!get_bound_device (fd, current) || strcmp (current, value) != 0)
        continue;
      if (setsockopt (fd, SOL_SOCKET, SO_BINDTODEVICE, "", 0) != 0)
        g_warning ("fd %d: cannot unbind from device %s: %s", fd, (char *) value, g_strerror (errno));
      else
        g_debug ("fd %d: unbound from %s", fd, (char *) value);
    }
  g_hash_table_remove_all (bound);
}

void
nb_uplink_set_enabled (gboolean enable, const char *tunnel_ifname)
{
  g_mutex_lock (&lock);
  if (bound == NULL)
    bound = g_hash_table_new_full (NULL, NULL, NULL, g_free);
  if (enable)
    {
      g_free (tunnel);
      tunnel = g_strdup (tunnel_ifname);
      g_atomic_int_set (&enabled, TRUE);
      g_debug ("binding sockets to their uplink, never to %s", tunnel ? tunnel : "(no tunnel)");
      bind_all_locked ();
    }
  else if (g_atomic_int_get (&enabled))
    {
      g_atomic_int_set (&enabled, FALSE);
      g_debug ("no longer binding sockets");
      unbind_all_locked ();
      g_clear_pointer (&tunnel, g_free);
    }
  g_mutex_unlock (&lock);
}

gboolean
nb_uplink_get_enabled (void)
{
  return g_atomic_int_get (&enabled);
}

void
nb_uplink_bind_fd (int fd)
{
  if (!g_atomic_int_get (&enabled) || fd < 0)
    return;
  g_mutex_lock (&lock);
  if (g_atomic_int_get (&enabled))
    bind_fd_locked (fd);
  g_mutex_unlock (&lock);
}

void
nb_uplink_bind_connecting (GSocketClientEvent event, GIOStream *connection)
{
  if (event != G_SOCKET_CLIENT_CONNECTING || !g_atomic_int_get (&enabled)
      || !G_IS_SOCKET_CONNECTION (connection))
    return;
  nb_uplink_bind_fd (g_socket_get_fd (g_socket_connection_get_socket (G_SOCKET_CONNECTION (connection))));
}

void
nb_uplink_bind_all (void)
{
  if (!g_atomic_int_get (&enabled))
    return;
  g_mutex_lock (&lock);
  if (g_atomic_int_get (&enabled))
    bind_all_locked ();
  g_mutex_unlock (&lock);
}
