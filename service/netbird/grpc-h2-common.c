/* SPDX-License-Identifier: GPL-2.0-or-later */
#define G_LOG_DOMAIN "nb-grpc"

#include "config.h"

#include "grpc-h2-common.h"

#include <string.h>

#include "grpc-frame.h"

GHashTable *
nb_grpc_h2_header_table_new (void)
{
  return g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
}

void
nb_grpc_h2_header_table_add (GHashTable *table, const char *name, gsize name_len,
                             const char *value, gsize value_len)
{
  g_autofree char *key = g_strndup (name, name_len);
  const char *old = g_hash_table_lookup (table, key);
  char *val;

  if (old)
    val = g_strdup_printf ("%s, %.*s", old, (int) value_len, value);
  else
    val = g_strndup (value, value_len);
  g_hash_table_replace (table, g_steal_pointer (&key), val);
}

GSource *
nb_grpc_h2_attach_source (GSource *source, GSourceFunc func, gpointer data, GDestroyNotify notify)
{
  g_source_set_callback (source, func, data, notify);
  g_source_attach (source, g_main_context_get_thread_default ());
  return source;
}

GSource *
nb_grpc_h2_timeout_source (guint ms, GSourceFunc func, gpointer data, GDestroyNotify notify)
{
  return nb_grpc_h2_attach_source (g_timeout_source_new (ms), func, data, notify);
}

GSource *
nb_grpc_h2_idle_source (GSourceFunc func, gpointer data, GDestroyNotify notify)
{
  GSource *source = g_idle_source_new ();

  g_source_set_priority (source, G_PRIORITY_DEFAULT);
  return nb_grpc_h2_attach_source (source, func, data, notify);
}

void
nb_grpc_h2_clear_source (GSource **source)
{
  if (*source)
    {
      g_source_destroy (*source);
      g_source_unref (*source);
      *source = NULL;
    }
}

gboolean
nb_grpc_h2_content_type_is_grpc (const char *value)
{
  const char *prefix = "application/grpc";
  gsize n = strlen (prefix);

  if (value == NULL || g_ascii_strncasecmp (value, prefix, n) != 0)
    return FALSE;
  return value[n] == '\0' || value[n] == '+' || value[n] == ';';
}

gboolean
nb_grpc_h2_metadata_entry_is_valid (const char *name, const char *value)
{
  static const char *const reserved[] = {
    "content-type", "te", "user-agent", "host", "connection", "keep-alive",
    "proxy-connection", "transfer-encoding", "upgrade", "content-length", NULL,
  };

  if (name == NULL || *name == '\0' || value == NULL)
    return FALSE;
  for (const char *p = name; *p; p++)
    if (!(g_ascii_islower (*p) || g_ascii_isdigit (*p) || *p == '-' || *p == '_' || *p == '.'))
      return FALSE;
  if (g_str_has_prefix (name, "grpc-") || g_strv_contains (reserved, name))
    return FALSE;
  for (const guchar *p = (const guchar *) value; *p; p++)
    if (*p < 0x20 || *p > 0x7e)
      return FALSE;
  return TRUE;
}

gboolean
nb_grpc_h2_metadata_validate (GHashTable *metadata, GError **error)
{
  GHashTableIter iter;
  gpointer key, value;

  if (metadata == NULL)
    return TRUE;
  g_hash_table_iter_init (&iter, metadata);
  while (g_hash_table_iter_next (&iter, &key, &value))
    {
      if (!nb_grpc_h2_metadata_entry_is_valid (key, value))
        {
          g_set_error (error, NB_GRPC_ERROR, NB_GRPC_STATUS_INVALID_ARGUMENT,
                       "invalid or reserved metadata entry \"%s\"",
                       key ? (const char *) key : "(null)");
          return FALSE;
        }
    }
  return TRUE;
}

char *
nb_grpc_h2_format_timeout (gint64 remaining_us)
{
  gint64 ms = MAX (remaining_us / 1000, 1);

  if (ms <= 99999999)
    return g_strdup_printf ("%" G_GINT64_FORMAT "m", ms);
  return g_strdup_printf ("%" G_GINT64_FORMAT "S", MIN (ms / 1000, 99999999));
}

gboolean
nb_grpc_h2_parse_timeout (const char *value, gint64 *out_us)
{
  gsize len;
  gint64 amount = 0;
  gint64 us;

  if (value == NULL)
    return FALSE;
  len = strlen (value);
  if (len < 2 || len > 9)
    return FALSE;
  for (gsize i = 0; i + 1 < len; i++)
    {
      if (!g_ascii_isdigit (value[i]))
        return FALSE;
      amount = amount * 10 + (value[i] - '0');
    }
  /* At most 99999999 of any unit: no overflow below. */
  switch (value[len - 1])
    {
    case 'H':
      us = amount * 3600 * G_USEC_PER_SEC;
      break;
    case 'M':
      us = amount * 60 * G_USEC_PER_SEC;
      break;
    case 'S':
      us = amount * G_USEC_PER_SEC;
      break;
    case 'm':
      us = amount * 1000;
      break;
    case 'u':
      us = amount;
      break;
    case 'n':
      us = (amount + 999) / 1000;
      break;
    default:
      return FALSE;
    }
  if (out_us)
    *out_us = us;
  return TRUE;
}

gsize
nb_grpc_h2_send_queue_read (GQueue *queue, gsize *offset, gsize *queue_size, guint8 *buf, gsize length)
{
  gsize copied = 0;

  while (copied < length && !g_queue_is_empty (queue))
    {
      GBytes *head = g_queue_peek_head (queue);
      gsize head_len;
      const guint8 *head_data = g_bytes_get_data (head, &head_len);
      gsize take = MIN (length - copied, head_len - *offset);

      memcpy (buf + copied, head_data + *offset, take);
      copied += take;
      *offset += take;
      *queue_size -= take;
      if (*offset == head_len)
        {
          g_bytes_unref (g_queue_pop_head (queue));
          *offset = 0;
        }
    }
  return copied;
}

NbGrpcH2SendResult
nb_grpc_h2_send (nghttp2_session *session, GPollableOutputStream *out, GByteArray *outbuf,
                 gsize *out_off, GError **error)
{
  for (;;)
    {
      GError *local = NULL;
      gssize written;

      if (*out_off == outbuf->len)
        {
          g_byte_array_set_size (outbuf, 0);
          *out_off = 0;
          while (outbuf->len < 64 * 1024)
            {
              const uint8_t *data;
              ssize_t n = nghttp2_session_mem_send (session, &data);

              if (n < 0)
                {
                  g_set_error (error, NB_GRPC_ERROR, NB_GRPC_STATUS_INTERNAL,
                               "HTTP/2 send error: %s", nghttp2_strerror ((int) n));
                  return NB_GRPC_H2_SEND_ERROR;
                }
              if (n == 0)
                break;
              g_byte_array_append (outbuf, data, (guint) n);
            }
          if (outbuf->len == 0)
            return NB_GRPC_H2_SEND_DONE;
        }

      written = g_pollable_output_stream_write_nonblocking (out, outbuf->data + *out_off,
                                                            outbuf->len - *out_off, NULL, &local);
      if (written < 0)
        {
          if (g_error_matches (local, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
            {
              g_error_free (local);
              return NB_GRPC_H2_SEND_BLOCKED;
            }
          g_propagate_error (error, local);
          return NB_GRPC_H2_SEND_ERROR;
        }
      *out_off += written;
    }
}
