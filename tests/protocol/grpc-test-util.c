/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What the gRPC tests (test-grpc-conformance, test-grpc-server) share: main
 * loop helpers and the hand-encoded nbtest.Msg of tests/protocol/nbtest.proto. */
#include "config.h"

#include "grpc-test-util.h"

#include <string.h>

/* ------------------------------------------------------------------------ */
/* Main loop helpers (no sleeps: timeouts are sources) */

gboolean
flag_set_cb (gpointer data)
{
  *(gboolean *) data = TRUE;
  return G_SOURCE_REMOVE;
}

/* Iterates the default context until *@flag or @timeout_ms; returns *@flag. */
gboolean
run_until (const gboolean *flag, guint timeout_ms)
{
  gboolean timed_out = FALSE;
  GSource *timer = g_timeout_source_new (timeout_ms);

  g_source_set_callback (timer, flag_set_cb, &timed_out, NULL);
  g_source_attach (timer, NULL);
  while (!*flag && !timed_out)
    g_main_context_iteration (NULL, TRUE);
  g_source_destroy (timer);
  g_source_unref (timer);
  return *flag;
}

void
run_for (guint ms)
{
  gboolean never = FALSE;

  run_until (&never, ms);
}

/* Lets cancelled async operations and idles finish (for leak checkers). */
void
drain_context (void)
{
  run_for (20);
  while (g_main_context_iteration (NULL, FALSE))
    ;
}

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

