/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

#include "loop-util.h"

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
