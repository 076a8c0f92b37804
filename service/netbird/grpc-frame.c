/* SPDX-License-Identifier: GPL-2.0-or-later */
#define G_LOG_DOMAIN "nb-grpc"

#include "config.h"

#include "grpc-frame.h"

#include <string.h>

G_DEFINE_QUARK (nb-grpc-error-quark, nb_grpc_error)

static const char *const status_names[] = {
  [NB_GRPC_STATUS_OK] = "OK",
  [NB_GRPC_STATUS_CANCELLED] = "CANCELLED",
  [NB_GRPC_STATUS_UNKNOWN] = "UNKNOWN",
  [NB_GRPC_STATUS_INVALID_ARGUMENT] = "INVALID_ARGUMENT",
  [NB_GRPC_STATUS_DEADLINE_EXCEEDED] = "DEADLINE_EXCEEDED",
  [NB_GRPC_STATUS_NOT_FOUND] = "NOT_FOUND",
  [NB_GRPC_STATUS_ALREADY_EXISTS] = "ALREADY_EXISTS",
  [NB_GRPC_STATUS_PERMISSION_DENIED] = "PERMISSION_DENIED",
  [NB_GRPC_STATUS_RESOURCE_EXHAUSTED] = "RESOURCE_EXHAUSTED",
  [NB_GRPC_STATUS_FAILED_PRECONDITION] = "FAILED_PRECONDITION",
  [NB_GRPC_STATUS_ABORTED] = "ABORTED",
  [NB_GRPC_STATUS_OUT_OF_RANGE] = "OUT_OF_RANGE",
  [NB_GRPC_STATUS_UNIMPLEMENTED] = "UNIMPLEMENTED",
  [NB_GRPC_STATUS_INTERNAL] = "INTERNAL",
  [NB_GRPC_STATUS_UNAVAILABLE] = "UNAVAILABLE",
  [NB_GRPC_STATUS_DATA_LOSS] = "DATA_LOSS",
  [NB_GRPC_STATUS_UNAUTHENTICATED] = "UNAUTHENTICATED",
};

const char *
nb_grpc_status_name (int code)
{
  if (code < 0 || code > NB_GRPC_STATUS_MAX)
    return NULL;
  return status_names[code];
}

gboolean
nb_grpc_status_parse (const char *text, int *out_code)
{
  int value = 0;

  if (text == NULL || *text == '\0' || strlen (text) > 6)
    return FALSE;
  for (const char *p = text; *p; p++)
    {
      if (!g_ascii_isdigit (*p))
        return FALSE;
      value = value * 10 + (*p - '0');
    }
  if (out_code)
    *out_code = value;
  return TRUE;
}

char *
nb_grpc_percent_decode (const char *encoded, gssize len)
{
  GString *out;

  if (encoded == NULL)
    return g_strdup ("");
  if (len < 0)
    len = strlen (encoded);

  out = g_string_sized_new (len);
  for (gssize i = 0; i < len; i++)
    {
      if (encoded[i] == '%' && i + 2 < len
          && g_ascii_isxdigit (encoded[i + 1]) && g_ascii_isxdigit (encoded[i + 2]))
        {
          g_string_append_c (out, (char) ((g_ascii_xdigit_value (encoded[i + 1]) << 4)
                                          | g_ascii_xdigit_value (encoded[i + 2])));
          i += 2;
        }
      else
        g_string_append_c (out, encoded[i]);
    }

  /* An embedded NUL from %00 would silently cut the message; make it visible. */
  for (gsize i = 0; i < out->len; i++)
    if (out->str[i] == '\0')
      out->str[i] = '?';
  if (!g_utf8_validate_len (out->str, out->len, NULL))
    {
      char *valid = g_utf8_make_valid (out->str, out->len);
      g_string_free (out, TRUE);
      return valid;
    }
  return g_string_free (out, FALSE);
}

char *
nb_grpc_percent_encode (const char *message)
{
  GString *out;

  if (message == NULL)
    return g_strdup ("");
  out = g_string_sized_new (strlen (message));
  for (const guchar *p = (const guchar *) message; *p; p++)
    {
      if (*p < 0x20 || *p > 0x7e || *p == '%')
        g_string_append_printf (out, "%%%02X", *p);
      else
        g_string_append_c (out, (char) *p);
    }
  return g_string_free (out, FALSE);
}

GError *
nb_grpc_error_from_status (int code, const char *grpc_message)
{
  g_autofree char *message = NULL;

  if (code == NB_GRPC_STATUS_OK)
    return NULL;
  if (nb_grpc_status_name (code) == NULL)
    {
      g_autofree char *decoded = nb_grpc_percent_decode (grpc_message, -1);
      return g_error_new (NB_GRPC_ERROR, NB_GRPC_STATUS_UNKNOWN,
                          "unknown grpc-status %d%s%s", code,
                          *decoded ? ": " : "", decoded);
    }
  message = nb_grpc_percent_decode (grpc_message, -1);
  if (*message == '\0')
    return g_error_new_literal (NB_GRPC_ERROR, code, nb_grpc_status_name (code));
  return g_error_new_literal (NB_GRPC_ERROR, code, message);
}

void
nb_grpc_frame_append (GByteArray *out, const guint8 *message, gsize len)
{
  guint8 header[NB_GRPC_FRAME_HEADER_SIZE];

  g_return_if_fail (len <= G_MAXUINT32);

  header[0] = 0;
  header[1] = (len >> 24) & 0xff;
  header[2] = (len >> 16) & 0xff;
  header[3] = (len >> 8) & 0xff;
  header[4] = len & 0xff;
  g_byte_array_append (out, header, sizeof header);
  if (len > 0)
    g_byte_array_append (out, message, len);
}

GBytes *
nb_grpc_frame_encode (GBytes *message)
{
  gsize len = 0;
  const guint8 *data = message ? g_bytes_get_data (message, &len) : NULL;
  GByteArray *out;

  g_return_val_if_fail (len <= G_MAXUINT32, NULL);

  out = g_byte_array_sized_new (NB_GRPC_FRAME_HEADER_SIZE + len);
  nb_grpc_frame_append (out, data, len);
  return g_byte_array_free_to_bytes (out);
}

struct _NbGrpcFrameDecoder {
  gsize max_message_size;
  guint8 header[NB_GRPC_FRAME_HEADER_SIZE];
  gsize header_len;     /* bytes of the current prefix received */
  guint8 *payload;      /* current message, allocated once the prefix is whole */
  gsize payload_len;    /* announced length */
  gsize payload_filled; /* bytes received */
  gboolean in_payload;
  GQueue messages;      /* of GBytes */
  GError *error;        /* sticky */
};

NbGrpcFrameDecoder *
nb_grpc_frame_decoder_new (gsize max_message_size)
{
  NbGrpcFrameDecoder *decoder = g_new0 (NbGrpcFrameDecoder, 1);

  decoder->max_message_size = max_message_size ? MIN (max_message_size, (gsize) G_MAXUINT32)
                                               : G_MAXUINT32;
  g_queue_init (&decoder->messages);
  return decoder;
}

void
nb_grpc_frame_decoder_free (NbGrpcFrameDecoder *decoder)
{
  if (decoder == NULL)
    return;
  g_free (decoder->payload);
  g_queue_clear_full (&decoder->messages, (GDestroyNotify) g_bytes_unref);
  g_clear_error (&decoder->error);
  g_free (decoder);
}

static void
decoder_emit_payload (NbGrpcFrameDecoder *decoder)
{
  GBytes *message;

  if (decoder->payload_len == 0)
    message = g_bytes_new (NULL, 0);
  else
    message = g_bytes_new_take (g_steal_pointer (&decoder->payload), decoder->payload_len);
  g_queue_push_tail (&decoder->messages, message);
  decoder->in_payload = FALSE;
  decoder->header_len = 0;
  decoder->payload_len = 0;
  decoder->payload_filled = 0;
}

gboolean
nb_grpc_frame_decoder_feed (NbGrpcFrameDecoder *decoder,
                            const guint8 *data,
                            gsize len,
                            GError **error)
{
  g_return_val_if_fail (decoder != NULL, FALSE);
  g_return_val_if_fail (data != NULL || len == 0, FALSE);

  if (decoder->error)
    {
      g_propagate_error (error, g_error_copy (decoder->error));
      return FALSE;
    }

  while (len > 0)
    {
      if (!decoder->in_payload)
        {
          gsize take = MIN (len, NB_GRPC_FRAME_HEADER_SIZE - decoder->header_len);
          guint32 announced;

          memcpy (decoder->header + decoder->header_len, data, take);
          decoder->header_len += take;
          data += take;
          len -= take;
          if (decoder->header_len < NB_GRPC_FRAME_HEADER_SIZE)
            break;

          announced = ((guint32) decoder->header[1] << 24) | ((guint32) decoder->header[2] << 16)
                      | ((guint32) decoder->header[3] << 8) | (guint32) decoder->header[4];
          if (decoder->header[0] == 1)
            decoder->error = g_error_new (NB_GRPC_ERROR, NB_GRPC_STATUS_INTERNAL,
                                          "received a compressed gRPC message, but no "
                                          "compression was negotiated");
          else if (decoder->header[0] != 0)
            decoder->error = g_error_new (NB_GRPC_ERROR, NB_GRPC_STATUS_INTERNAL,
                                          "invalid gRPC message flags 0x%02x",
                                          decoder->header[0]);
          else if (announced > decoder->max_message_size)
            decoder->error = g_error_new (NB_GRPC_ERROR, NB_GRPC_STATUS_RESOURCE_EXHAUSTED,
                                          "received message larger than max (%u vs. %" G_GSIZE_FORMAT ")",
                                          announced, decoder->max_message_size);
          if (decoder->error)
            {
              g_propagate_error (error, g_error_copy (decoder->error));
              return FALSE;
            }

          decoder->in_payload = TRUE;
          decoder->payload_len = announced;
          decoder->payload_filled = 0;
          decoder->payload = announced ? g_malloc (announced) : NULL;
          if (announced == 0)
            decoder_emit_payload (decoder);
        }
      else
        {
          gsize take = MIN (len, decoder->payload_len - decoder->payload_filled);

          memcpy (decoder->payload + decoder->payload_filled, data, take);
          decoder->payload_filled += take;
          data += take;
          len -= take;
          if (decoder->payload_filled == decoder->payload_len)
            decoder_emit_payload (decoder);
        }
    }
  return TRUE;
}

GBytes *
nb_grpc_frame_decoder_pop (NbGrpcFrameDecoder *decoder)
{
  g_return_val_if_fail (decoder != NULL, NULL);
  return g_queue_pop_head (&decoder->messages);
}

gboolean
nb_grpc_frame_decoder_has_partial (NbGrpcFrameDecoder *decoder)
{
  g_return_val_if_fail (decoder != NULL, FALSE);
  return decoder->in_payload || decoder->header_len > 0;
}

gboolean
nb_grpc_frame_decoder_finish (NbGrpcFrameDecoder *decoder, GError **error)
{
  g_return_val_if_fail (decoder != NULL, FALSE);

  if (decoder->error)
    {
      g_propagate_error (error, g_error_copy (decoder->error));
      return FALSE;
    }
  if (decoder->in_payload)
    {
      g_set_error (error, NB_GRPC_ERROR, NB_GRPC_STATUS_INTERNAL,
                   "stream ended inside a gRPC message (%" G_GSIZE_FORMAT " of %"
                   G_GSIZE_FORMAT " bytes received)",
                   decoder->payload_filled, decoder->payload_len);
      return FALSE;
    }
  if (decoder->header_len > 0)
    {
      g_set_error (error, NB_GRPC_ERROR, NB_GRPC_STATUS_INTERNAL,
                   "stream ended inside a gRPC message prefix (%" G_GSIZE_FORMAT " of 5 bytes)",
                   decoder->header_len);
      return FALSE;
    }
  return TRUE;
}
