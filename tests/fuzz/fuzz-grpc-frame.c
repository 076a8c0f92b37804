/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * NbGrpcFrameDecoder (grpc-frame.h) against a reference parser.
 *
 * Input: 2 bytes little-endian max_message_size (0 counts as 1: 0 would mean
 * "no limit" and let a 5-byte prefix allocate 4 GiB), then chunks, each a
 * length byte (255 = everything left) followed by that many stream bytes.
 * The decoder gets the chunks one feed() at a time and is drained after
 * each; every message, error and the end-of-stream verdict must be what a
 * straightforward parser of the whole stream finds, at the right moment.
 */
#include "config.h"

#include "fuzz-common.h"
#include "grpc-frame.h"

#include <string.h>

typedef struct {
  gsize start; /* of the payload */
  gsize len;
} RefMessage;

typedef struct {
  GArray *messages;  /* RefMessage */
  gssize error_at;   /* stream offset at which the error is known, or -1 */
  int error_code;
  gsize boundary;    /* end of the last whole message (or error prefix) */
} Reference;

static void
reference_parse (Reference *ref, const guint8 *s, gsize n, gsize max)
{
  gsize pos = 0;

  ref->messages = g_array_new (FALSE, FALSE, sizeof (RefMessage));
  ref->error_at = -1;
  ref->error_code = 0;
  while (n - pos >= NB_GRPC_FRAME_HEADER_SIZE)
    {
      guint32 len = (guint32) s[pos + 1] << 24 | (guint32) s[pos + 2] << 16
                    | (guint32) s[pos + 3] << 8 | s[pos + 4];

      if (s[pos] != 0)
        ref->error_code = NB_GRPC_STATUS_INTERNAL;
      else if (len > max)
        ref->error_code = NB_GRPC_STATUS_RESOURCE_EXHAUSTED;
      if (ref->error_code)
        {
          ref->error_at = pos + NB_GRPC_FRAME_HEADER_SIZE;
          break;
        }
      if (n - pos - NB_GRPC_FRAME_HEADER_SIZE < len)
        break;
      g_array_append_val (ref->messages, ((RefMessage) { pos + NB_GRPC_FRAME_HEADER_SIZE, len }));
      pos += NB_GRPC_FRAME_HEADER_SIZE + len;
    }
  ref->boundary = pos;
}

/* The length of the next chunk; consumes its length byte. */
static gsize
next_chunk (const uint8_t **p, size_t *left)
{
  gsize n;

  if (*left == 0)
    return 0;
  n = **p;
  (*p)++;
  (*left)--;
  if (n == 255 || n > *left)
    n = *left;
  return n;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autoptr(GByteArray) stream = g_byte_array_new ();
  g_autoptr(NbGrpcFrameDecoder) decoder = NULL;
  g_autoptr(GError) finish_error = NULL;
  Reference ref;
  const uint8_t *p;
  size_t left;
  gsize max, fed = 0, next = 0;
  gboolean failed = FALSE;

  if (size < 2)
    return 0;
  max = (gsize) data[0] | (gsize) data[1] << 8;
  if (max == 0)
    max = 1;

  /* Pass 1: the whole stream, for the reference. */
  p = data + 2;
  left = size - 2;
  while (left > 0)
    {
      gsize n = next_chunk (&p, &left);

      g_byte_array_append (stream, p, n);
      p += n;
      left -= n;
    }
  reference_parse (&ref, stream->data, stream->len, max);

  /* Pass 2: the same chunks through the decoder. */
  decoder = nb_grpc_frame_decoder_new (max);
  p = data + 2;
  left = size - 2;
  while (left > 0)
    {
      g_autoptr(GError) error = NULL;
      gsize n = next_chunk (&p, &left);
      gboolean ok;
      GBytes *msg;

      ok = nb_grpc_frame_decoder_feed (decoder, p, n, &error);
      p += n;
      left -= n;
      fed += n;

      if (ref.error_at >= 0 && fed >= (gsize) ref.error_at)
        {
          g_assert_false (ok);
          g_assert_error (error, NB_GRPC_ERROR, ref.error_code);
          failed = TRUE;
        }
      else
        {
          g_assert_true (ok);
          g_assert_no_error (error);
        }

      /* Drain: exactly the messages complete by now, in order. */
      while ((msg = nb_grpc_frame_decoder_pop (decoder)) != NULL)
        {
          const RefMessage *want;
          gsize len;
          const guint8 *got = g_bytes_get_data (msg, &len);
          g_autoptr(GBytes) framed = NULL;

          g_assert_cmpuint (next, <, ref.messages->len);
          want = &g_array_index (ref.messages, RefMessage, next);
          g_assert_cmpuint (want->start + want->len, <=, fed);
          g_assert_cmpmem (got, len, stream->data + want->start, want->len);

          /* Encoding gives back the bytes on the wire. */
          framed = nb_grpc_frame_encode (msg);
          g_assert_cmpmem (g_bytes_get_data (framed, NULL), g_bytes_get_size (framed),
                           stream->data + want->start - NB_GRPC_FRAME_HEADER_SIZE,
                           want->len + NB_GRPC_FRAME_HEADER_SIZE);
          g_bytes_unref (msg);
          next++;
        }
      if (next < ref.messages->len)
        {
          const RefMessage *want = &g_array_index (ref.messages, RefMessage, next);
          g_assert_cmpuint (want->start + want->len, >, fed);
        }
      if (!failed)
        {
          gsize done = next == 0 ? 0
                       : g_array_index (ref.messages, RefMessage, next - 1).start
                         + g_array_index (ref.messages, RefMessage, next - 1).len;
          g_assert_cmpint (nb_grpc_frame_decoder_has_partial (decoder), ==, fed > done);
        }
    }
  g_assert_cmpuint (next, ==, ref.messages->len);

  /* End of stream. */
  if (ref.error_at >= 0)
    {
      g_autoptr(GError) again = NULL;
      static const guint8 zero[NB_GRPC_FRAME_HEADER_SIZE];

      g_assert_false (nb_grpc_frame_decoder_finish (decoder, &finish_error));
      g_assert_error (finish_error, NB_GRPC_ERROR, ref.error_code);
      /* Sticky. */
      g_assert_false (nb_grpc_frame_decoder_feed (decoder, zero, sizeof zero, &again));
      g_assert_error (again, NB_GRPC_ERROR, ref.error_code);
      g_assert_null (nb_grpc_frame_decoder_pop (decoder));
    }
  else if (ref.boundary < stream->len)
    {
      g_assert_false (nb_grpc_frame_decoder_finish (decoder, &finish_error));
      g_assert_error (finish_error, NB_GRPC_ERROR, NB_GRPC_STATUS_INTERNAL);
    }
  else
    {
      g_assert_true (nb_grpc_frame_decoder_finish (decoder, &finish_error));
      g_assert_no_error (finish_error);
    }

  g_array_unref (ref.messages);
  return 0;
}
