/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The WireGuard backend interface, its error domain and the values that
 * every backend shares (interface names, allowed IPs, endpoints, stats).
 */
#define G_LOG_DOMAIN "nb-wg"

#include "config.h"

#include "wg-backend.h"

#include <errno.h>
#include <string.h>

/* ---- errors: an extended domain that carries the device's errno ------------ */

typedef struct {
  int uapi_errno;   /* positive; 0: none */
} NbWgErrorPrivate;

/* Where GLib keeps an extended error's private data: just before the
 * GError, aligned as G_DEFINE_EXTENDED_ERROR() (gerror.h) computes it. We
 * cannot use that macro itself: it names the quark after the C type
 * ("NbWgError"), and this domain is "nb-wg-error-quark" like the others. */
static NbWgErrorPrivate *
nb_wg_error_get_private (const GError *error)
{
  const gsize sa = 2 * sizeof (gsize);
  const gsize as = (sizeof (NbWgErrorPrivate) + (sa - 1)) & -sa;

  return (NbWgErrorPrivate *) (((guint8 *) error) - as);
}

static void
nb_wg_error_private_init (GError *error)
{
  nb_wg_error_get_private (error)->uapi_errno = 0;
}

static void
nb_wg_error_private_copy (const GError *src,
                          GError       *dest)
{
  nb_wg_error_get_private (dest)->uapi_errno = nb_wg_error_get_private (src)->uapi_errno;
}

static void
nb_wg_error_private_clear (GError *error)
{
}

GQuark
nb_wg_error_quark (void)
{
  static GQuark q;
  static gsize initialized = 0;

  if (g_once_init_enter (&initialized))
    {
      q = g_error_domain_register_static ("nb-wg-error-quark",
                                          sizeof (NbWgErrorPrivate),
                                          nb_wg_error_private_init,
                                          nb_wg_error_private_copy,
                                          nb_wg_error_private_clear);
      g_once_init_leave (&initialized, 1);
    }
  return q;
}

int
nb_wg_error_get_uapi_errno (const GError *error)
{
  if (error == NULL || error->domain != NB_WG_ERROR)
    return 0;
  return nb_wg_error_get_private (error)->uapi_errno;
}

void
nb_wg_set_refused_error (GError    **error,
                         int         uapi_errno,
                         const char *what)
{
  int e = uapi_errno < 0 ? -uapi_errno : uapi_errno;
  GError *local;

  if (error == NULL)
    return;
  /* INT_MIN has no positive counterpart; no device sends it. */
  if (e < 0)
    e = G_MAXINT;
  local = g_error_new (NB_WG_ERROR, NB_WG_ERROR_REFUSED,
                       "%s: the device refused the request: %s (errno %d)",
                       what, g_strerror (e), e);
  nb_wg_error_get_private (local)->uapi_errno = e;
  g_propagate_error (error, local);
}

/* ---- interface names ---------------------------------------------------------- */

gboolean
nb_wg_interface_name_validate (const char *name,
                               GError    **error)
{
  gsize len, i;

  if (name == NULL || name[0] == '\0')
    {
      g_set_error_literal (error, NB_WG_ERROR, NB_WG_ERROR_INVALID_ARGUMENT,
                           "Invalid interface name: empty");
      return FALSE;
    }
  len = strlen (name);
  if (len > 15)
    {
      g_set_error (error, NB_WG_ERROR, NB_WG_ERROR_INVALID_ARGUMENT,
                   "Invalid interface name: %" G_GSIZE_FORMAT
                   " characters, at most 15 allowed", len);
      return FALSE;
    }
  for (i = 0; i < len; i++)
    {
      char c = name[i];

      if (!g_ascii_isalnum (c) && c != '_' && c != '.' && c != '-')
        {
          g_set_error (error, NB_WG_ERROR, NB_WG_ERROR_INVALID_ARGUMENT,
                       "Invalid interface name: character %" G_GSIZE_FORMAT
                       " is not one of A-Z a-z 0-9 _ . -", i + 1);
          return FALSE;
        }
    }
  if (name[0] == '-')
    {
      g_set_error_literal (error, NB_WG_ERROR, NB_WG_ERROR_INVALID_ARGUMENT,
                           "Invalid interface name: it starts with '-'");
      return FALSE;
    }
  if (strcmp (name, ".") == 0 || strcmp (name, "..") == 0)
    {
      g_set_error_literal (error, NB_WG_ERROR, NB_WG_ERROR_INVALID_ARGUMENT,
                           "Invalid interface name: '.' and '..' are not names");
      return FALSE;
    }
  return TRUE;
}

/* ---- allowed IPs -------------------------------------------------------------- */

/* Digits only, no sign, no leading zero (except "0" itself), <= @max.
 * -1 when @text is not such a number. */
static int
parse_small_uint (const char *text,
                  gsize       len,
                  guint       max)
{
  guint v = 0;
  gsize i;

  if (len == 0 || len > 5 || (len > 1 && text[0] == '0'))
    return -1;
  for (i = 0; i < len; i++)
    {
      if (!g_ascii_isdigit (text[i]))
        return -1;
      v = v * 10 + (guint) (text[i] - '0');
    }
  return v <= max ? (int) v : -1;
}

/* A literal address without zone and without surrounding junk. */
static GInetAddress *
parse_literal_address (const char *text)
{
  if (text[0] == '\0' || strchr (text, '%') != NULL)
    return NULL;
  return g_inet_address_new_from_string (text);
}

char *
nb_wg_allowed_ip_normalize (const char *cidr,
                            GError    **error)
{
  g_autofree char *addr_text = NULL;
  g_autoptr(GInetAddress) addr = NULL;
  g_autoptr(GInetAddress) masked = NULL;
  g_autofree char *masked_text = NULL;
  const char *slash;
  guint8 bytes[16];
  gsize n_bytes, i;
  int max_len, len;

  if (cidr == NULL || cidr[0] == '\0')
    {
      g_set_error_literal (error, NB_WG_ERROR, NB_WG_ERROR_INVALID_ARGUMENT,
                           "Invalid allowed IP: empty");
      return NULL;
    }

  slash = strchr (cidr, '/');
  addr_text = slash ? g_strndup (cidr, slash - cidr) : g_strdup (cidr);
  addr = parse_literal_address (addr_text);
  if (addr == NULL)
    {
      g_set_error (error, NB_WG_ERROR, NB_WG_ERROR_INVALID_ARGUMENT,
                   "Invalid allowed IP “%s”: not an IP address", cidr);
      return NULL;
    }

  n_bytes = g_inet_address_get_native_size (addr);
  max_len = (int) n_bytes * 8;
  if (slash != NULL)
    {
      len = parse_small_uint (slash + 1, strlen (slash + 1), (guint) max_len);
      if (len < 0)
        {
          g_set_error (error, NB_WG_ERROR, NB_WG_ERROR_INVALID_ARGUMENT,
                       "Invalid allowed IP “%s”: the prefix length must be 0-%d",
                       cidr, max_len);
          return NULL;
        }
    }
  else
    len = max_len;

  memcpy (bytes, g_inet_address_to_bytes (addr), n_bytes);
  for (i = 0; i < n_bytes; i++)
    {
      int keep = len - (int) i * 8;

      if (keep <= 0)
        bytes[i] = 0;
      else if (keep < 8)
        bytes[i] &= (guint8) (0xff << (8 - keep));
    }
  masked = g_inet_address_new_from_bytes (bytes, g_inet_address_get_family (addr));
  masked_text = g_inet_address_to_string (masked);
  return g_strdup_printf ("%s/%d", masked_text, len);
}

/* ---- endpoints ---------------------------------------------------------------- */

char *
nb_wg_endpoint_to_string (GInetSocketAddress *endpoint)
{
  GInetAddress *addr;
  g_autofree char *addr_text = NULL;
  guint16 port;

  g_return_val_if_fail (G_IS_INET_SOCKET_ADDRESS (endpoint), NULL);

  addr = g_inet_socket_address_get_address (endpoint);
  port = g_inet_socket_address_get_port (endpoint);
  addr_text = g_inet_address_to_string (addr);
  if (g_inet_address_get_family (addr) == G_SOCKET_FAMILY_IPV6)
    return g_strdup_printf ("[%s]:%u", addr_text, port);
  return g_strdup_printf ("%s:%u", addr_text, port);
}

GInetSocketAddress *
nb_wg_endpoint_parse (const char *text,
                      GError    **error)
{
  g_autofree char *host = NULL;
  g_autoptr(GInetAddress) addr = NULL;
  const char *port_text;
  gboolean bracketed = FALSE;
  int port;

  if (text == NULL || text[0] == '\0')
    {
      g_set_error_literal (error, NB_WG_ERROR, NB_WG_ERROR_INVALID_ARGUMENT,
                           "Invalid endpoint: empty");
      return NULL;
    }

  if (text[0] == '[')
    {
      const char *close = strchr (text, ']');
      const char *zone;

      if (close == NULL || close[1] != ':')
        goto bad;
      host = g_strndup (text + 1, close - text - 1);
      /* A zone (link-local scope) is accepted and dropped. */
      zone = strchr (host, '%');
      if (zone != NULL)
        {
          if (zone[1] == '\0')
            goto bad;
          host[zone - host] = '\0';
        }
      port_text = close + 2;
      bracketed = TRUE;
    }
  else
    {
      const char *colon = strrchr (text, ':');

      if (colon == NULL)
        goto bad;
      host = g_strndup (text, colon - text);
      if (strchr (host, ':') != NULL)
        goto bad;  /* IPv6 needs brackets */
      port_text = colon + 1;
    }

  addr = parse_literal_address (host);
  if (addr == NULL)
    goto bad;
  if ((g_inet_address_get_family (addr) == G_SOCKET_FAMILY_IPV6) != bracketed)
    goto bad;
  port = parse_small_uint (port_text, strlen (port_text), 65535);
  if (port <= 0)
    goto bad;

  return G_INET_SOCKET_ADDRESS (g_inet_socket_address_new (addr, (guint16) port));

bad:
  g_set_error_literal (error, NB_WG_ERROR, NB_WG_ERROR_INVALID_ARGUMENT,
                       "Invalid endpoint: not ADDRESS:PORT or [IPV6]:PORT with a port 1-65535");
  return NULL;
}

/* ---- stats -------------------------------------------------------------------- */

NbWgPeerStats *
nb_wg_peer_stats_new (void)
{
  NbWgPeerStats *peer = g_new0 (NbWgPeerStats, 1);

  peer->allowed_ips = g_ptr_array_new_with_free_func (g_free);
  return peer;
}

void
nb_wg_peer_stats_free (NbWgPeerStats *peer)
{
  if (peer == NULL)
    return;
  g_clear_object (&peer->endpoint);
  g_clear_pointer (&peer->allowed_ips, g_ptr_array_unref);
  g_free (peer);
}

NbWgStats *
nb_wg_stats_new (void)
{
  NbWgStats *stats = g_new0 (NbWgStats, 1);

  stats->peers = g_ptr_array_new_with_free_func ((GDestroyNotify) nb_wg_peer_stats_free);
  return stats;
}

void
nb_wg_stats_free (NbWgStats *stats)
{
  if (stats == NULL)
    return;
  g_clear_pointer (&stats->peers, g_ptr_array_unref);
  g_free (stats);
}

const NbWgPeerStats *
nb_wg_stats_find_peer (const NbWgStats *stats,
                       const NbWgKey   *public_key)
{
  guint i;

  g_return_val_if_fail (stats != NULL, NULL);
  g_return_val_if_fail (public_key != NULL, NULL);

  for (i = 0; i < stats->peers->len; i++)
    {
      const NbWgPeerStats *peer = g_ptr_array_index (stats->peers, i);

      if (nb_wg_key_equal (&peer->public_key, public_key))
        return peer;
    }
  return NULL;
}

/* ---- the interface ------------------------------------------------------------- */

G_DEFINE_INTERFACE (NbWgBackend, nb_wg_backend, G_TYPE_OBJECT)

static void
nb_wg_backend_default_init (NbWgBackendInterface *iface)
{
}

const char *
nb_wg_backend_get_interface_name (NbWgBackend *self)
{
  g_return_val_if_fail (NB_IS_WG_BACKEND (self), NULL);

  return NB_WG_BACKEND_GET_IFACE (self)->get_interface_name (self);
}

NbWgBackendKind
nb_wg_backend_get_kind (NbWgBackend *self)
{
  g_return_val_if_fail (NB_IS_WG_BACKEND (self), NB_WG_BACKEND_KIND_USERSPACE);
  g_return_val_if_fail (NB_WG_BACKEND_GET_IFACE (self)->get_kind != NULL, NB_WG_BACKEND_KIND_USERSPACE);

  return NB_WG_BACKEND_GET_IFACE (self)->get_kind (self);
}

const char *
nb_wg_backend_kind_to_string (NbWgBackendKind kind)
{
  switch (kind)
    {
    case NB_WG_BACKEND_KIND_USERSPACE: return "Userspace";
    case NB_WG_BACKEND_KIND_KERNEL: return "Kernel";
    }
  return "Userspace";
}

void
nb_wg_backend_set_device_async (NbWgBackend         *self,
                                const NbWgKey       *private_key,
                                int                  listen_port,
                                GCancellable        *cancellable,
                                GAsyncReadyCallback  callback,
                                gpointer             user_data)
{
  g_return_if_fail (NB_IS_WG_BACKEND (self));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  NB_WG_BACKEND_GET_IFACE (self)->set_device (self, private_key, listen_port,
                                              cancellable, callback, user_data);
}

gboolean
nb_wg_backend_set_device_finish (NbWgBackend  *self,
                                 GAsyncResult *result,
                                 GError      **error)
{
  g_return_val_if_fail (NB_IS_WG_BACKEND (self), FALSE);

  return NB_WG_BACKEND_GET_IFACE (self)->set_device_finish (self, result, error);
}

void
nb_wg_backend_set_peer_async (NbWgBackend          *self,
                              const NbWgPeerConfig *peer,
                              GCancellable         *cancellable,
                              GAsyncReadyCallback   callback,
                              gpointer              user_data)
{
  g_return_if_fail (NB_IS_WG_BACKEND (self));
  g_return_if_fail (peer != NULL);
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  NB_WG_BACKEND_GET_IFACE (self)->set_peer (self, peer, cancellable, callback, user_data);
}

gboolean
nb_wg_backend_set_peer_finish (NbWgBackend  *self,
                               GAsyncResult *result,
                               GError      **error)
{
  g_return_val_if_fail (NB_IS_WG_BACKEND (self), FALSE);

  return NB_WG_BACKEND_GET_IFACE (self)->set_peer_finish (self, result, error);
}

void
nb_wg_backend_remove_peer_async (NbWgBackend         *self,
                                 const NbWgKey       *public_key,
                                 GCancellable        *cancellable,
                                 GAsyncReadyCallback  callback,
                                 gpointer             user_data)
{
  g_return_if_fail (NB_IS_WG_BACKEND (self));
  g_return_if_fail (public_key != NULL);
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  NB_WG_BACKEND_GET_IFACE (self)->remove_peer (self, public_key, cancellable,
                                               callback, user_data);
}

gboolean
nb_wg_backend_remove_peer_finish (NbWgBackend  *self,
                                  GAsyncResult *result,
                                  GError      **error)
{
  g_return_val_if_fail (NB_IS_WG_BACKEND (self), FALSE);

  return NB_WG_BACKEND_GET_IFACE (self)->remove_peer_finish (self, result, error);
}

void
nb_wg_backend_get_stats_async (NbWgBackend         *self,
                               GCancellable        *cancellable,
                               GAsyncReadyCallback  callback,
                               gpointer             user_data)
{
  g_return_if_fail (NB_IS_WG_BACKEND (self));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  NB_WG_BACKEND_GET_IFACE (self)->get_stats (self, cancellable, callback, user_data);
}

NbWgStats *
nb_wg_backend_get_stats_finish (NbWgBackend  *self,
                                GAsyncResult *result,
                                GError      **error)
{
  g_return_val_if_fail (NB_IS_WG_BACKEND (self), NULL);

  return NB_WG_BACKEND_GET_IFACE (self)->get_stats_finish (self, result, error);
}
