/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * gRPC message framing and status codes, independent of any transport.
 *
 * A gRPC message on an HTTP/2 stream is a 5-byte prefix (1 byte compressed
 * flag, 4 bytes big-endian length) followed by the serialized message. The
 * status of a call arrives in the `grpc-status` (decimal) and `grpc-message`
 * (percent-encoded UTF-8) trailers; here it becomes a GError in the
 * NB_GRPC_ERROR domain whose code is the gRPC status code.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define NB_GRPC_ERROR (nb_grpc_error_quark ())
GQuark nb_grpc_error_quark (void);

/* The canonical gRPC status codes; GError codes in NB_GRPC_ERROR. */
typedef enum {
  NB_GRPC_STATUS_OK = 0,
  NB_GRPC_STATUS_CANCELLED = 1,
  NB_GRPC_STATUS_UNKNOWN = 2,
  NB_GRPC_STATUS_INVALID_ARGUMENT = 3,
  NB_GRPC_STATUS_DEADLINE_EXCEEDED = 4,
  NB_GRPC_STATUS_NOT_FOUND = 5,
  NB_GRPC_STATUS_ALREADY_EXISTS = 6,
  NB_GRPC_STATUS_PERMISSION_DENIED = 7,
  NB_GRPC_STATUS_RESOURCE_EXHAUSTED = 8,
  NB_GRPC_STATUS_FAILED_PRECONDITION = 9,
  NB_GRPC_STATUS_ABORTED = 10,
  NB_GRPC_STATUS_OUT_OF_RANGE = 11,
  NB_GRPC_STATUS_UNIMPLEMENTED = 12,
  NB_GRPC_STATUS_INTERNAL = 13,
  NB_GRPC_STATUS_UNAVAILABLE = 14,
  NB_GRPC_STATUS_DATA_LOSS = 15,
  NB_GRPC_STATUS_UNAUTHENTICATED = 16,
} NbGrpcStatus;

#define NB_GRPC_STATUS_MAX NB_GRPC_STATUS_UNAUTHENTICATED

/* Length of the message prefix. */
#define NB_GRPC_FRAME_HEADER_SIZE 5

/* "OK", "CANCELLED", … "UNAUTHENTICATED"; NULL for a code outside 0..16. */
const char *nb_grpc_status_name (int code);

/* Parses a grpc-status trailer value: decimal digits only, no sign or
 * whitespace, at most 0..999999. Any value parses; codes outside 0..16 are
 * left to nb_grpc_error_from_status() (which maps them to UNKNOWN). */
gboolean nb_grpc_status_parse (const char *text, int *out_code);

/* Decodes a grpc-message value. Per the gRPC spec a malformed escape is kept
 * literally (never an error) and invalid UTF-8 is replaced, so the result is
 * always valid UTF-8. @len may be -1 for a NUL-terminated string. */
char *nb_grpc_percent_decode (const char *encoded, gssize len);

/* Encodes a status message for grpc-message: bytes outside 0x20..0x7E and
 * '%' become %XX. */
char *nb_grpc_percent_encode (const char *message);

/* Returns NULL for NB_GRPC_STATUS_OK, else a new GError in NB_GRPC_ERROR with
 * @code (codes outside 0..16 become UNKNOWN) and the decoded @grpc_message as
 * the message (the status name when the message is empty or NULL). */
GError *nb_grpc_error_from_status (int code, const char *grpc_message);

/* Frames one message (flag 0, 4-byte big-endian length, payload). */
GBytes *nb_grpc_frame_encode (GBytes *message);
/* Appends one framed message to @out. */
void nb_grpc_frame_append (GByteArray *out, const guint8 *message, gsize len);

/* Incremental decoder: feed it any chunks of a stream's DATA, pop whole
 * messages. Errors are sticky: once feed() failed, it fails again. */
typedef struct _NbGrpcFrameDecoder NbGrpcFrameDecoder;

/* @max_message_size: largest accepted message; 0 means no limit beyond the
 * 4 GiB - 1 the prefix can express. */
NbGrpcFrameDecoder *nb_grpc_frame_decoder_new (gsize max_message_size);
void nb_grpc_frame_decoder_free (NbGrpcFrameDecoder *decoder);

/* Consumes @len bytes. Messages completed before an error stay poppable.
 * Errors (NB_GRPC_ERROR): RESOURCE_EXHAUSTED when a prefix announces a
 * message over the limit (detected before any payload is buffered), INTERNAL
 * for a compressed message (no compression is negotiated) or an invalid flag
 * byte. */
gboolean nb_grpc_frame_decoder_feed (NbGrpcFrameDecoder *decoder,
                                     const guint8 *data,
                                     gsize len,
                                     GError **error);

/* The next whole message, or NULL when none is complete. */
GBytes *nb_grpc_frame_decoder_pop (NbGrpcFrameDecoder *decoder);

/* Whether a message is partially received (prefix or payload incomplete).
 * At the end of a stream that is an error: the message was truncated. */
gboolean nb_grpc_frame_decoder_has_partial (NbGrpcFrameDecoder *decoder);

/* Fails with INTERNAL if the stream ended inside a message. */
gboolean nb_grpc_frame_decoder_finish (NbGrpcFrameDecoder *decoder, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (NbGrpcFrameDecoder, nb_grpc_frame_decoder_free)

G_END_DECLS
