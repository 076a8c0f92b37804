/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Generic checks for protobuf-c messages, driven by the descriptors.
 *
 * libprotobuf-c itself is the system library, built without coverage
 * instrumentation, so libFuzzer would see next to nothing of what an input
 * decodes to. fuzz_pb_walk() gives it that view: every field it finds
 * (message type, field, how many elements, known or unknown enum value,
 * oneof case, unknown fields) bumps a counter in libFuzzer's extra-counters
 * section, which libFuzzer treats as coverage.
 */
#pragma once

#include <protobuf-c/protobuf-c.h>

#include <glib.h>

G_BEGIN_DECLS

/* Visits every field of @msg and of every sub-message: reads every string,
 * byte and scalar (ASan checks the memory), checks what protobuf-c
 * guarantees (strings non-NULL and NUL-terminated, bools 0 or 1, sub-message
 * descriptors right, bytes with data when non-empty) and aborts if one does
 * not hold. */
void fuzz_pb_walk (const ProtobufCMessage *msg);

/* Packs the known fields of @msg, unpacks the result, packs again: the two
 * encodings must be identical (and the packed size what get_packed_size()
 * promised). @msg is left as it was; everything allocated is freed. */
void fuzz_pb_repack (ProtobufCMessage *msg);

/* The whole routine for one input: unpack as @desc, walk, check, repack,
 * free. Returns whether the input unpacked. */
gboolean fuzz_pb_one (const ProtobufCMessageDescriptor *desc,
                      const uint8_t *data,
                      size_t size);

G_END_DECLS
