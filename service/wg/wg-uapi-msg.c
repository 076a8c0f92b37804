/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * WireGuard UAPI codec, see wg-uapi-msg.h.
 *
 * Facts from wireguard-go (device/uapi.go, 0.0.20220316, the Debian 12
 * package): a get answer lists private_key, listen_port (when bound),
 * fwmark (when set), then per peer public_key, preshared_key (always, zero
 * when none), protocol_version=1, endpoint (when known),
 * last_handshake_time_sec/_nsec, tx_bytes, rx_bytes,
 * persistent_keepalive_interval and one allowed_ip line per prefix; then
 * `errno=0` and an empty line. A set is applied line by line under the
 * device's configuration lock; the first bad line ends it with
 * `errno=-EINVAL` (or -EPROTO, -EADDRINUSE for a port in use, -EIO), and
 * what came before that line stays applied.
 *
 * Error messages name line numbers and key names, never values: a value
 * may be a key.
 */
#define G_LOG_DOMAIN "nb-wg"

#include "config.h"

#include "wg-uapi-msg.h"

#include <string.h>

#include <sodium.h>

/* ---- the wiping buffer ------------------------------------------------------- */

NbWgUapiBuf *
nb_wg_uapi_buf_new (gsize reserve)
{
  NbWgUapiBuf *buf = g_new0 (NbWgUapiBuf, 1);

  buf->alloc = MAX (reserve, 64) + 1;
  buf->data = g_malloc (buf->alloc);
  buf->data[0] = '\0';
  return buf;
}

char *
nb_wg_uapi_buf_reserve (NbWgUapiBuf *buf,
                        gsize        extra)
{
  g_return_val_if_fail (buf != NULL, NULL);

  if (extra > G_MAXSIZE / 2 - buf->len - 1)
    g_error ("UAPI buffer size overflow");
  if (buf->len + extra + 1 > buf->alloc)
    {
      gsize alloc = MAX (buf->alloc * 2, buf->len + extra + 1);
      char *data = g_malloc (alloc);

      memcpy (data, buf->data, buf->len + 1);
      sodium_memzero (buf->data, buf->alloc);
      g_free (buf->data);
      buf->data = data;
      buf->alloc = alloc;
    }
  return buf->data + buf->len;
}

void
nb_wg_uapi_buf_commit (NbWgUapiBuf *buf,
                       gsize        n)
{
  g_return_if_fail (buf != NULL);
  g_return_if_fail (buf->len + n < buf->alloc);

  buf->len += n;
  buf->data[buf->len] = '\0';
}

void
nb_wg_uapi_buf_append (NbWgUapiBuf *buf,
                       const char  *data,
                       gsize        len)
{
  char *dest = nb_wg_uapi_buf_reserve (buf, len);

  memcpy (dest, data, len);
  nb_wg_uapi_buf_commit (buf, len);
}

static void
buf_append_str (NbWgUapiBuf *buf,
                const char  *str)
{
  nb_wg_uapi_buf_append (buf, str, strlen (str));
}

/* For non-secret values only: the formatted text passes through a
 * temporary heap string. */
G_GNUC_PRINTF (2, 3)
static void
buf_append_printf (NbWgUapiBuf *buf,
                   const char  *format,
                   ...)
{
  g_autofree char *text = NULL;
  va_list args;

  va_start (args, format);
  text = g_strdup_vprintf (format, args);
  va_end (args);
  buf_append_str (buf, text);
}

/* `name=HEX\n`; the hex passes only through a wiped stack buffer. */
static void
buf_append_key (NbWgUapiBuf   *buf,
                const char    *name,
                const NbWgKey *key)
{
  char hex[NB_WG_KEY_HEX_SIZE];

  buf_append_str (buf, name);
  nb_wg_uapi_buf_append (buf, "=", 1);
  nb_wg_key_to_hex_buf (key, hex);
  nb_wg_uapi_buf_append (buf, hex, NB_WG_KEY_HEX_LEN);
  sodium_memzero (hex, sizeof hex);
  nb_wg_uapi_buf_append (buf, "\n", 1);
}

void
nb_wg_uapi_buf_free (NbWgUapiBuf *buf)
{
  if (buf == NULL)
    return;
  sodium_memzero (buf->data, buf->alloc);
  g_free (buf->data);
  g_free (buf);
}

/* ---- requests --------------------------------------------------------------------- */

NbWgUapiBuf *
nb_wg_uapi_format_get (void)
{
  NbWgUapiBuf *buf = nb_wg_uapi_buf_new (8);

  buf_append_str (buf, "get=1\n\n");
  return buf;
}

NbWgUapiBuf *
nb_wg_uapi_format_set_device (const NbWgKey *private_key,
                              int            listen_port,
                              GError       **error)
{
  NbWgUapiBuf *buf;

  if (listen_port != NB_WG_LISTEN_PORT_UNCHANGED && (listen_port < 0 || listen_port > 65535))
    {
      g_set_error (error, NB_WG_ERROR, NB_WG_ERROR_INVALID_ARGUMENT,
                   "Invalid listen port %d: must be 0-65535", listen_port);
      return NULL;
    }

  /* Big enough that the secret is never copied by a growth. */
  buf = nb_wg_uapi_buf_new (128);
  buf_append_str (buf, "set=1\n");
  if (private_key != NULL)
    buf_append_key (buf, "private_key", private_key);
  if (listen_port != NB_WG_LISTEN_PORT_UNCHANGED)
    buf_append_printf (buf, "listen_port=%d\n", listen_port);
  nb_wg_uapi_buf_append (buf, "\n", 1);
  return buf;
}

NbWgUapiBuf *
nb_wg_uapi_format_set_peer (const NbWgPeerConfig *peer,
                            GError              **error)
{
  g_autoptr(GPtrArray) allowed = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *endpoint = NULL;
  NbWgUapiBuf *buf;
  gsize reserve;
  guint i;

  g_return_val_if_fail (peer != NULL, NULL);

  if (peer->endpoint != NULL)
    {
      if (g_inet_socket_address_get_port (peer->endpoint) == 0)
        {
          g_set_error_literal (error, NB_WG_ERROR, NB_WG_ERROR_INVALID_ARGUMENT,
                               "Invalid endpoint: port 0");
          return NULL;
        }
      endpoint = nb_wg_endpoint_to_string (peer->endpoint);
    }

  for (i = 0; peer->allowed_ips != NULL && peer->allowed_ips[i] != NULL; i++)
    {
      char *cidr = nb_wg_allowed_ip_normalize (peer->allowed_ips[i], error);

      if (cidr == NULL)
        return NULL;
      g_ptr_array_add (allowed, cidr);
    }

  /* Keys and fixed lines first, so that the buffer (sized for them) holds
   * the preshared key before it ever grows. */
  reserve = 256 + (endpoint ? strlen (endpoint) : 0);
  buf = nb_wg_uapi_buf_new (reserve);
  buf_append_str (buf, "set=1\n");
  buf_append_key (buf, "public_key", &peer->public_key);
  if (peer->update_only)
    buf_append_str (buf, "update_only=true\n");
  if (peer->preshared_key != NULL)
    buf_append_key (buf, "preshared_key", peer->preshared_key);
  if (endpoint != NULL)
    buf_append_printf (buf, "endpoint=%s\n", endpoint);
  buf_append_printf (buf, "persistent_keepalive_interval=%u\n",
                     (guint) peer->persistent_keepalive_s);
  if (peer->replace_allowed_ips)
    buf_append_str (buf, "replace_allowed_ips=true\n");
  for (i = 0; i < allowed->len; i++)
    buf_append_printf (buf, "allowed_ip=%s\n", (const char *) g_ptr_array_index (allowed, i));
  nb_wg_uapi_buf_append (buf, "\n", 1);
  return buf;
}

NbWgUapiBuf *
nb_wg_uapi_format_remove_peer (const NbWgKey *public_key)
{
  NbWgUapiBuf *buf;

  g_return_val_if_fail (public_key != NULL, NULL);

  buf = nb_wg_uapi_buf_new (128);
  buf_append_str (buf, "set=1\n");
  buf_append_key (buf, "public_key", public_key);
  buf_append_str (buf, "remove=true\n\n");
  return buf;
}

/* ---- answers --------------------------------------------------------------------- */

gsize
nb_wg_uapi_response_length (const char *data,
                            gsize       len)
{
  const char *p = data;
  const char *end = data + len;

  if (len == 0)
    return 0;
  if (data[0] == '\n')
    return 1;
  while (p < end)
    {
      const char *nl = memchr (p, '\n', end - p);

      if (nl == NULL || nl + 1 >= end)
        return 0;
      if (nl[1] == '\n')
        return (gsize) (nl + 2 - data);
      p = nl + 1;
    }
  return 0;
}

G_GNUC_PRINTF (2, 3)
static void
set_protocol_error (GError    **error,
                    const char *format,
                    ...)
{
  g_autofree char *text = NULL;
  va_list args;

  va_start (args, format);
  text = g_strdup_vprintf (format, args);
  va_end (args);
  g_set_error (error, NB_WG_ERROR, NB_WG_ERROR_PROTOCOL,
               "Malformed answer from the WireGuard device: %s", text);
}

/* Unsigned decimal, digits only, <= @max. */
static gboolean
parse_u64 (const char *text,
           gsize       len,
           guint64     max,
           guint64    *out)
{
  guint64 v = 0;
  gsize i;

  if (len == 0 || len > 20)
    return FALSE;
  for (i = 0; i < len; i++)
    {
      guint d;

      if (!g_ascii_isdigit (text[i]))
        return FALSE;
      d = (guint) (text[i] - '0');
      if (v > (G_MAXUINT64 - d) / 10)
        return FALSE;
      v = v * 10 + d;
    }
  if (v > max)
    return FALSE;
  *out = v;
  return TRUE;
}

static gboolean
parse_errno (const char *text,
             gsize       len,
             int        *out)
{
  gboolean negative = FALSE;
  guint64 v;

  if (len > 0 && text[0] == '-')
    {
      negative = TRUE;
      text++;
      len--;
    }
  if (!parse_u64 (text, len, G_MAXINT, &v))
    return FALSE;
  *out = negative ? -(int) v : (int) v;
  return TRUE;
}

/* Checks framing and the final errno line. On success *body_len is the
 * length of the lines before the errno line (each ending in '\n'). */
static gboolean
check_answer (const char *data,
              gsize       len,
              gsize      *body_len,
              GError    **error)
{
  gsize rlen, last_start;
  const char *errno_line;
  gsize errno_len;
  int err;

  if (data == NULL || len == 0)
    {
      set_protocol_error (error, "no answer");
      return FALSE;
    }
  if (memchr (data, '\0', len) != NULL)
    {
      set_protocol_error (error, "a NUL byte");
      return FALSE;
    }
  rlen = nb_wg_uapi_response_length (data, len);
  if (rlen == 0)
    {
      set_protocol_error (error, "truncated (no empty line at the end)");
      return FALSE;
    }
  if (rlen != len)
    {
      set_protocol_error (error, "%" G_GSIZE_FORMAT " bytes after the empty line",
                          len - rlen);
      return FALSE;
    }
  if (rlen == 1)
    {
      set_protocol_error (error, "empty, no errno line");
      return FALSE;
    }

  /* data[rlen-2] and data[rlen-1] are the two '\n'; the errno line is the
   * last line before them. */
  last_start = rlen - 2;
  while (last_start > 0 && data[last_start - 1] != '\n')
    last_start--;
  errno_line = data + last_start;
  errno_len = rlen - 2 - last_start;
  if (errno_len < 6 || memcmp (errno_line, "errno=", 6) != 0)
    {
      set_protocol_error (error, "the last line is not errno=N");
      return FALSE;
    }
  if (!parse_errno (errno_line + 6, errno_len - 6, &err))
    {
      set_protocol_error (error, "errno is not a number");
      return FALSE;
    }
  if (err != 0)
    {
      nb_wg_set_refused_error (error, err, "WireGuard device");
      return FALSE;
    }
  *body_len = last_start;
  return TRUE;
}

gboolean
nb_wg_uapi_parse_set_response (const char *data,
                               gsize       len,
                               GError    **error)
{
  gsize body_len = 0;

  if (!check_answer (data, len, &body_len, error))
    return FALSE;
  if (body_len != 0)
    {
      set_protocol_error (error, "lines before errno in the answer to a set");
      return FALSE;
    }
  return TRUE;
}

/* A hex key value into @out; the text passes only through a wiped
 * stack buffer. */
static gboolean
parse_key_value (const char *value,
                 gsize       len,
                 NbWgKey    *out)
{
  char hex[NB_WG_KEY_HEX_SIZE];
  gboolean ok;

  if (len != NB_WG_KEY_HEX_LEN)
    return FALSE;
  memcpy (hex, value, len);
  hex[len] = '\0';
  ok = nb_wg_key_from_hex (hex, out, NULL);
  sodium_memzero (hex, sizeof hex);
  return ok;
}

static gboolean
key_is (const char *key,
        gsize       key_len,
        const char *name)
{
  return strlen (name) == key_len && memcmp (key, name, key_len) == 0;
}

static const char * const peer_keys[] = {
  "preshared_key", "protocol_version", "endpoint", "last_handshake_time_sec",
  "last_handshake_time_nsec", "tx_bytes", "rx_bytes",
  "persistent_keepalive_interval", "allowed_ip",
};

typedef struct {
  NbWgPeerStats *peer;   /* owned by the stats */
  guint64 hs_sec;
  guint64 hs_nsec;
} PeerParse;

static void
finish_peer (PeerParse *pp)
{
  if (pp->peer != NULL && (pp->hs_sec != 0 || pp->hs_nsec != 0))
    pp->peer->last_handshake_us = (gint64) pp->hs_sec * G_USEC_PER_SEC
                                  + (gint64) (pp->hs_nsec / 1000);
  pp->hs_sec = pp->hs_nsec = 0;
}

/* One key=value line of a peer section. */
static gboolean
parse_peer_line (PeerParse  *pp,
                 const char *key,
                 gsize       key_len,
                 const char *value,
                 gsize       value_len,
                 guint       line_no,
                 GError    **error)
{
  NbWgPeerStats *peer = pp->peer;
  guint64 v;

  if (key_is (key, key_len, "preshared_key"))
    {
      g_auto(NbWgKey) psk = NB_WG_KEY_INIT;

      if (!parse_key_value (value, value_len, &psk))
        goto bad;
      peer->has_preshared_key = !nb_wg_key_is_zero (&psk);
    }
  else if (key_is (key, key_len, "protocol_version"))
    {
      if (!parse_u64 (value, value_len, G_MAXUINT32, &v))
        goto bad;
    }
  else if (key_is (key, key_len, "endpoint"))
    {
      g_autofree char *text = g_strndup (value, value_len);

      g_clear_object (&peer->endpoint);
      peer->endpoint = nb_wg_endpoint_parse (text, NULL);
      if (peer->endpoint == NULL)
        goto bad;
    }
  else if (key_is (key, key_len, "last_handshake_time_sec"))
    {
      if (!parse_u64 (value, value_len, G_MAXINT64 / G_USEC_PER_SEC - 1, &pp->hs_sec))
        goto bad;
    }
  else if (key_is (key, key_len, "last_handshake_time_nsec"))
    {
      if (!parse_u64 (value, value_len, 999999999, &pp->hs_nsec))
        goto bad;
    }
  else if (key_is (key, key_len, "tx_bytes"))
    {
      if (!parse_u64 (value, value_len, G_MAXUINT64, &peer->tx_bytes))
        goto bad;
    }
  else if (key_is (key, key_len, "rx_bytes"))
    {
      if (!parse_u64 (value, value_len, G_MAXUINT64, &peer->rx_bytes))
        goto bad;
    }
  else if (key_is (key, key_len, "persistent_keepalive_interval"))
    {
      if (!parse_u64 (value, value_len, G_MAXUINT16, &v))
        goto bad;
      peer->persistent_keepalive_s = (guint16) v;
    }
  else if (key_is (key, key_len, "allowed_ip"))
    {
      g_autofree char *text = g_strndup (value, value_len);
      char *cidr = nb_wg_allowed_ip_normalize (text, NULL);

      if (cidr == NULL)
        goto bad;
      g_ptr_array_add (peer->allowed_ips, cidr);
    }
  /* Anything else: a key from a newer device; skipped. */
  return TRUE;

bad:
  set_protocol_error (error, "line %u: bad %.*s value", line_no, (int) key_len, key);
  return FALSE;
}

static gboolean
parse_device_line (NbWgStats  *stats,
                   const char *key,
                   gsize       key_len,
                   const char *value,
                   gsize       value_len,
                   guint       line_no,
                   GError    **error)
{
  guint64 v;
  guint i;

  if (key_is (key, key_len, "private_key"))
    {
      g_auto(NbWgKey) priv = NB_WG_KEY_INIT;

      if (!parse_key_value (value, value_len, &priv))
        goto bad;
      stats->has_private_key = !nb_wg_key_is_zero (&priv);
      if (stats->has_private_key)
        nb_wg_key_derive_public (&priv, &stats->public_key);
      else
        nb_wg_key_clear (&stats->public_key);
    }
  else if (key_is (key, key_len, "listen_port"))
    {
      if (!parse_u64 (value, value_len, G_MAXUINT16, &v))
        goto bad;
      stats->listen_port = (guint16) v;
    }
  else if (key_is (key, key_len, "fwmark"))
    {
      if (!parse_u64 (value, value_len, G_MAXUINT32, &v))
        goto bad;
      stats->fwmark = (guint32) v;
    }
  else
    {
      for (i = 0; i < G_N_ELEMENTS (peer_keys); i++)
        if (key_is (key, key_len, peer_keys[i]))
          {
            set_protocol_error (error, "line %u: %s before any public_key",
                                line_no, peer_keys[i]);
            return FALSE;
          }
    }
  return TRUE;

bad:
  set_protocol_error (error, "line %u: bad %.*s value", line_no, (int) key_len, key);
  return FALSE;
}

NbWgStats *
nb_wg_uapi_parse_get_response (const char *data,
                               gsize       len,
                               GError    **error)
{
  g_autoptr(NbWgStats) stats = NULL;
  PeerParse pp = { NULL, 0, 0 };
  gsize body_len = 0;
  const char *p, *end;
  guint line_no = 0;

  if (!check_answer (data, len, &body_len, error))
    return NULL;

  stats = nb_wg_stats_new ();
  p = data;
  end = data + body_len;
  while (p < end)
    {
      const char *nl = memchr (p, '\n', end - p);   /* body lines all end in '\n' */
      const char *eq;
      gsize line_len, key_len;

      g_assert (nl != NULL);
      line_no++;
      line_len = nl - p;
      eq = memchr (p, '=', line_len);
      if (eq == NULL || eq == p)
        {
          set_protocol_error (error, "line %u is not key=value", line_no);
          return NULL;
        }
      key_len = eq - p;

      if (key_is (p, key_len, "errno"))
        {
          set_protocol_error (error, "line %u: errno before the end", line_no);
          return NULL;
        }
      if (key_is (p, key_len, "public_key"))
        {
          NbWgPeerStats *peer = nb_wg_peer_stats_new ();

          finish_peer (&pp);
          g_ptr_array_add (stats->peers, peer);
          pp.peer = peer;
          if (!parse_key_value (eq + 1, nl - eq - 1, &peer->public_key))
            {
              set_protocol_error (error, "line %u: bad public_key value", line_no);
              return NULL;
            }
        }
      else if (pp.peer != NULL)
        {
          if (!parse_peer_line (&pp, p, key_len, eq + 1, nl - eq - 1, line_no, error))
            return NULL;
        }
      else if (!parse_device_line (stats, p, key_len, eq + 1, nl - eq - 1, line_no, error))
        return NULL;

      p = nl + 1;
    }
  finish_peer (&pp);
  return g_steal_pointer (&stats);
}
