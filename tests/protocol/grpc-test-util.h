/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

/* Main loop helpers (no sleeps: timeouts are sources). */

/* A GSourceFunc that sets the gboolean at @data and removes itself. */
gboolean flag_set_cb (gpointer data);
/* Iterates the default context until *@flag or @timeout_ms; returns *@flag. */
gboolean run_until (const gboolean *flag, guint timeout_ms);
void run_for (guint ms);
/* Lets cancelled async operations and idles finish (for leak checkers). */
void drain_context (void);

/* nbtest.Msg (tests/protocol/nbtest.proto), hand-encoded. */
typedef struct {
  const void *data;
  gsize data_len;
  guint32 response_size;
  gint32 status;
  const char *message;
  guint32 count;
  guint32 delay_ms;
} Msg;

/* Protobuf wire writers (a zero varint field is not written). */
void put_varint (GByteArray *out, guint64 v);
void put_len_field (GByteArray *out, guint field, const void *data, gsize len);
void put_varint_field (GByteArray *out, guint field, guint64 v);

GBytes *msg_encode (const Msg *m);
GBytes *msg_with_data (const char *text);
