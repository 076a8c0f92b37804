/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What the gRPC tests (test-grpc-conformance, test-grpc-server) share: the
 * hand-encoded nbtest.Msg of tests/protocol/nbtest.proto (main loop helpers
 * are in loop-util.c). */
#include "config.h"

#include "grpc-test-util.h"

#include <string.h>

/* ------------------------------------------------------------------------ */
/* nbtest.Msg, hand-encoded */

void
put_varint (GByteArray *out, guint64 v)
{
  do
    {
      guint8 b = v & 0x7f;

      v >>= 7;
      if (v)
        b |= 0x80;
      g_byte_array_append (out, &b, 1);
    }
  while (v);
}

void
put_len_field (GByteArray *out, guint field, const void *data, gsize len)
{
  put_varint (out, (field << 3) | 2);
  put_varint (out, len);
  g_byte_array_append (out, data, len);
}

void
put_varint_field (GByteArray *out, guint field, guint64 v)
{
  if (v == 0)
    return;
  put_varint (out, field << 3);
  put_varint (out, v);
}

GBytes *
msg_encode (const Msg *m)
{
  GByteArray *out = g_byte_array_new ();

  if (m->data_len)
    put_len_field (out, 1, m->data, m->data_len);
  put_varint_field (out, 2, m->response_size);
  put_varint_field (out, 3, (guint64) (gint64) m->status);
  if (m->message)
    put_len_field (out, 4, m->message, strlen (m->message));
  put_varint_field (out, 5, m->count);
  put_varint_field (out, 6, m->delay_ms);
  return g_byte_array_free_to_bytes (out);
}

GBytes *
msg_with_data (const char *text)
{
  Msg m = { .data = text, .data_len = strlen (text) };

  return msg_encode (&m);
}

