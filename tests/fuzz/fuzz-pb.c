/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include "fuzz-pb.h"
#include "fuzz-common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* libFuzzer's extra counters (Linux: any array in this section). Cleared by
 * libFuzzer before each input; outside libFuzzer (gen-corpus) just bytes. */
#define N_COUNTERS 16384
__attribute__ ((section ("__libfuzzer_extra_counters"), used))
static uint8_t counters[N_COUNTERS];

static void
feature (const void *where, uint32_t what, uint32_t value)
{
  uint64_t h = (uint64_t) (uintptr_t) where * UINT64_C (0x9E3779B97F4A7C15);

  h ^= ((uint64_t) what << 32 | value) * UINT64_C (0xC2B2AE3D27D4EB4F);
  h ^= h >> 29;
  h = (h % N_COUNTERS);
  if (counters[h] < 255)
    counters[h]++;
}

/* 0, 1, 2, 3-4, 5-8, ... */
static uint32_t
bucket (size_t n)
{
  uint32_t b = 0;

  while (n > 0)
    {
      b++;
      n >>= 1;
    }
  return b;
}

#define CHECK(cond, ...) \
  do { \
    if (G_UNLIKELY (!(cond))) \
      { \
        fprintf (stderr, "fuzz-pb: %s:%d: check failed: %s: ", __FILE__, __LINE__, #cond); \
        fprintf (stderr, __VA_ARGS__); \
        fputc ('\n', stderr); \
        abort (); \
      } \
  } while (0)

static size_t
element_size (ProtobufCType type)
{
  switch (type)
    {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
    case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_ENUM:
      return 4;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_DOUBLE:
      return 8;
    case PROTOBUF_C_TYPE_BOOL:
      return sizeof (protobuf_c_boolean);
    case PROTOBUF_C_TYPE_STRING:
      return sizeof (char *);
    case PROTOBUF_C_TYPE_BYTES:
      return sizeof (ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_MESSAGE:
      return sizeof (ProtobufCMessage *);
    }
  CHECK (FALSE, "unknown field type %d", (int) type);
  return 0;
}

static void walk (const ProtobufCMessage *msg, unsigned depth);

static void
walk_element (const ProtobufCFieldDescriptor *field,
              const void *elem,
              unsigned depth)
{
  switch (field->type)
    {
    case PROTOBUF_C_TYPE_STRING:
      {
        const char *s = *(const char *const *) elem;
        size_t len;

        CHECK (s != NULL, "string field %s is NULL", field->name);
        len = strlen (s);
        fuzz_touch (s, len + 1);
        feature (field, 1, bucket (len));
        feature (field, 2, g_utf8_validate (s, len, NULL));
      }
      break;

    case PROTOBUF_C_TYPE_BYTES:
      {
        const ProtobufCBinaryData *b = elem;

        CHECK (b->len == 0 || b->data != NULL, "bytes field %s: %zu bytes at NULL",
               field->name, b->len);
        fuzz_touch (b->data, b->len);
        feature (field, 1, bucket (b->len));
      }
      break;

    case PROTOBUF_C_TYPE_MESSAGE:
      {
        const ProtobufCMessage *sub = *(const ProtobufCMessage *const *) elem;

        CHECK (sub != NULL, "message element of %s is NULL", field->name);
        CHECK (sub->descriptor == field->descriptor, "sub-message %s has descriptor %s",
               field->name, sub->descriptor->name);
        walk (sub, depth + 1);
      }
      break;

    case PROTOBUF_C_TYPE_ENUM:
      {
        const ProtobufCEnumDescriptor *ed = field->descriptor;
        int v;

        memcpy (&v, elem, sizeof v);
        CHECK (ed != NULL && ed->magic == PROTOBUF_C__ENUM_DESCRIPTOR_MAGIC,
               "enum field %s has no enum descriptor", field->name);
        /* Known values count one by one, unknown ones together. */
        if (protobuf_c_enum_descriptor_get_value (ed, v) != NULL)
          feature (field, 3, (uint32_t) v);
        else
          feature (field, 4, 0);
      }
      break;

    case PROTOBUF_C_TYPE_BOOL:
      {
        protobuf_c_boolean v;

        memcpy (&v, elem, sizeof v);
        CHECK (v == 0 || v == 1, "bool field %s holds %d", field->name, (int) v);
        feature (field, 5, (uint32_t) v);
      }
      break;

    default:
      {
        uint64_t v = 0;
        size_t sz = element_size (field->type);

        memcpy (&v, elem, sz);
        fuzz_touch (elem, sz);
        /* zero / small / large */
        feature (field, 6, v == 0 ? 0 : v < 256 ? 1 : 2);
      }
      break;
    }
}

static void
walk (const ProtobufCMessage *msg, unsigned depth)
{
  const ProtobufCMessageDescriptor *desc;
  const char *base = (const char *) msg;

  CHECK (msg != NULL, "NULL message");
  desc = msg->descriptor;
  CHECK (desc != NULL && desc->magic == PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC,
         "message without a valid descriptor");
  /* protobuf-c recurses on nesting; our schemas are not recursive. */
  CHECK (depth < 64, "message nesting depth %u", depth);

  feature (desc, 0, depth);

  for (unsigned i = 0; i < desc->n_fields; i++)
    {
      const ProtobufCFieldDescriptor *field = &desc->fields[i];
      const void *member = base + field->offset;
      size_t sz = element_size (field->type);

      if (field->label == PROTOBUF_C_LABEL_REPEATED)
        {
          size_t n;
          const char *array;

          memcpy (&n, base + field->quantifier_offset, sizeof n);
          array = *(const char *const *) member;
          CHECK (n == 0 || array != NULL, "repeated %s.%s: %zu elements at NULL",
                 desc->name, field->name, n);
          feature (field, 0, bucket (n));
          for (size_t j = 0; j < n; j++)
            walk_element (field, array + j * sz, depth);
        }
      else if (field->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
        {
          uint32_t which;

          memcpy (&which, base + field->quantifier_offset, sizeof which);
          feature (field, 7, which == field->id);
          if (which == field->id)
            walk_element (field, member, depth);
        }
      else if (field->type == PROTOBUF_C_TYPE_MESSAGE)
        {
          /* Singular sub-message (proto3 or proto2 optional): NULL = absent. */
          const ProtobufCMessage *sub = *(const ProtobufCMessage *const *) member;

          CHECK (field->label != PROTOBUF_C_LABEL_REQUIRED || sub != NULL,
                 "required %s.%s is NULL", desc->name, field->name);
          feature (field, 8, sub != NULL);
          if (sub != NULL)
            walk_element (field, member, depth);
        }
      else if (field->label == PROTOBUF_C_LABEL_OPTIONAL && field->type == PROTOBUF_C_TYPE_STRING)
        {
          if (*(const char *const *) member != NULL)
            walk_element (field, member, depth);
        }
      else if (field->label == PROTOBUF_C_LABEL_OPTIONAL)
        {
          protobuf_c_boolean has;

          memcpy (&has, base + field->quantifier_offset, sizeof has);
          if (has)
            walk_element (field, member, depth);
        }
      else
        {
          /* proto3 singular / proto2 required: always there. */
          walk_element (field, member, depth);
        }
    }

  CHECK (msg->n_unknown_fields == 0 || msg->unknown_fields != NULL,
         "%u unknown fields at NULL", msg->n_unknown_fields);
  feature (desc, 9, bucket (msg->n_unknown_fields));
  for (unsigned i = 0; i < msg->n_unknown_fields; i++)
    {
      const ProtobufCMessageUnknownField *u = &msg->unknown_fields[i];

      CHECK (u->len == 0 || u->data != NULL, "unknown field with %zu bytes at NULL", u->len);
      fuzz_touch (u->data, u->len);
      feature (desc, 10, (uint32_t) u->wire_type);
    }
}

void
fuzz_pb_walk (const ProtobufCMessage *msg)
{
  walk (msg, 0);
  CHECK (protobuf_c_message_check (msg), "protobuf_c_message_check() refuses a %s it unpacked",
         msg->descriptor->name);
}

/* Hides (n = 0) or restores the unknown fields of @msg and its sub-messages;
 * @saved holds the counts, in walk order. */
static void
unknown_fields (ProtobufCMessage *msg, GArray *saved, gboolean restore, guint *pos)
{
  const ProtobufCMessageDescriptor *desc = msg->descriptor;
  char *base = (char *) msg;

  if (restore)
    msg->n_unknown_fields = g_array_index (saved, unsigned, (*pos)++);
  else
    {
      g_array_append_val (saved, msg->n_unknown_fields);
      msg->n_unknown_fields = 0;
    }

  for (unsigned i = 0; i < desc->n_fields; i++)
    {
      const ProtobufCFieldDescriptor *field = &desc->fields[i];
      ProtobufCMessage **subs;
      size_t n = 1;

      if (field->type != PROTOBUF_C_TYPE_MESSAGE)
        continue;
      subs = (ProtobufCMessage **) (base + field->offset);
      if (field->label == PROTOBUF_C_LABEL_REPEATED)
        {
          memcpy (&n, base + field->quantifier_offset, sizeof n);
          subs = *(ProtobufCMessage ***) subs;
        }
      else if (field->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
        {
          uint32_t which;

          memcpy (&which, base + field->quantifier_offset, sizeof which);
          if (which != field->id)
            continue;
        }
      for (size_t j = 0; j < n; j++)
        if (subs[j] != NULL)
          unknown_fields (subs[j], saved, restore, pos);
    }
}

void
fuzz_pb_repack (ProtobufCMessage *msg)
{
  const ProtobufCMessageDescriptor *desc = msg->descriptor;
  size_t size1, size2, packed;
  uint8_t *buf1, *buf2;
  ProtobufCMessage *again;
  g_autoptr(GArray) saved = g_array_new (FALSE, FALSE, sizeof (unsigned));
  guint pos = 0;

  /* Known fields only. protobuf-c 1.4.1 keeps some unknown fields it would
   * not accept in its own output: a field number 0 written as a two-byte
   * varint ("80 00") is kept, then packed as "00", which unpack refuses. */
  unknown_fields (msg, saved, FALSE, NULL);

  size1 = protobuf_c_message_get_packed_size (msg);
  buf1 = g_malloc (size1 + 1);
  packed = protobuf_c_message_pack (msg, buf1);
  CHECK (packed == size1, "%s: packed %zu bytes, get_packed_size() said %zu",
         desc->name, packed, size1);

  again = protobuf_c_message_unpack (desc, NULL, size1, buf1);
  CHECK (again != NULL, "%s: its own encoding (%zu bytes) does not unpack", desc->name, size1);
  CHECK (again->n_unknown_fields == 0, "%s: its own encoding has %u unknown fields",
         desc->name, again->n_unknown_fields);
  walk (again, 0);

  size2 = protobuf_c_message_get_packed_size (again);
  buf2 = g_malloc (size2 + 1);
  packed = protobuf_c_message_pack (again, buf2);
  CHECK (packed == size2, "%s: packed %zu bytes, get_packed_size() said %zu",
         desc->name, packed, size2);
  CHECK (size1 == size2 && memcmp (buf1, buf2, size1) == 0,
         "%s: re-encoding is not stable (%zu bytes, then %zu)", desc->name, size1, size2);

  unknown_fields (msg, saved, TRUE, &pos);
  protobuf_c_message_free_unpacked (again, NULL);
  g_free (buf1);
  g_free (buf2);
}

gboolean
fuzz_pb_one (const ProtobufCMessageDescriptor *desc,
             const uint8_t *data,
             size_t size)
{
  ProtobufCMessage *msg = protobuf_c_message_unpack (desc, NULL, size, data);

  if (msg == NULL)
    return FALSE;
  CHECK (msg->descriptor == desc, "unpacked a %s as %s", msg->descriptor->name, desc->name);
  fuzz_pb_walk (msg);
  fuzz_pb_repack (msg);
  protobuf_c_message_free_unpacked (msg, NULL);
  return TRUE;
}
