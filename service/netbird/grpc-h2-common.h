/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Pieces shared by the gRPC client (grpc.c) and server (grpc-server.c):
 * main-context source helpers, header tables, gRPC header rules and the
 * nghttp2 → socket send pump. Internal to libnetbird.
 */
#pragma once

#include <gio/gio.h>
#include <nghttp2/nghttp2.h>

G_BEGIN_DECLS

/* Largest header block accepted (and advertised as
 * SETTINGS_MAX_HEADER_LIST_SIZE), counted as name + value + 32 per field. */
#define NB_GRPC_H2_MAX_HEADER_LIST_BYTES (64 * 1024)

/* A header table: lowercase name → value, both owned. */
GHashTable *nb_grpc_h2_header_table_new (void);
/* Adds a field; a repeated name is joined with ", " as HTTP allows. */
void nb_grpc_h2_header_table_add (GHashTable *table,
                                  const char *name,
                                  gsize name_len,
                                  const char *value,
                                  gsize value_len);

/* Attaches @source to the thread-default main context; returns it (the
 * caller keeps the reference). */
GSource *nb_grpc_h2_attach_source (GSource *source, GSourceFunc func, gpointer data,
                                   GDestroyNotify notify);
GSource *nb_grpc_h2_timeout_source (guint ms, GSourceFunc func, gpointer data,
                                    GDestroyNotify notify);
/* An idle source at G_PRIORITY_DEFAULT (the sockets' priority), so a busy
 * socket cannot starve event delivery or flushing. */
GSource *nb_grpc_h2_idle_source (GSourceFunc func, gpointer data, GDestroyNotify notify);
/* Destroys and unrefs *@source, if any, and clears the pointer. */
void nb_grpc_h2_clear_source (GSource **source);

/* "application/grpc", optionally followed by "+suffix" or ";params". */
gboolean nb_grpc_h2_content_type_is_grpc (const char *value);

/* Checks custom metadata (request metadata or extra response headers /
 * trailers): lowercase token names, printable ASCII values, nothing reserved
 * by HTTP/2 or gRPC (pseudo-headers, grpc-*, content-type, te, …). Fails
 * with NB_GRPC_ERROR INVALID_ARGUMENT. */
gboolean nb_grpc_h2_metadata_validate (GHashTable *metadata, GError **error);
gboolean nb_grpc_h2_metadata_entry_is_valid (const char *name, const char *value);

/* grpc-timeout value for the remaining time (at least 1 ms). */
char *nb_grpc_h2_format_timeout (gint64 remaining_us);
/* Parses a grpc-timeout value (1-8 digits and one of H M S m u n) into µs,
 * rounded up to whole µs. */
gboolean nb_grpc_h2_parse_timeout (const char *value, gint64 *out_us);

/* The DATA provider's copy: moves up to @length bytes of the queued messages
 * (GBytes in @queue, the head already sent up to *@offset) into @buf,
 * popping each message once it is copied whole and lowering
 * *@queue_size; returns the number of bytes copied. */
gsize nb_grpc_h2_send_queue_read (GQueue *queue,
                                  gsize  *offset,
                                  gsize  *queue_size,
                                  guint8 *buf,
                                  gsize   length);

typedef enum {
  NB_GRPC_H2_SEND_DONE,    /* everything nghttp2 had is written */
  NB_GRPC_H2_SEND_BLOCKED, /* the socket is full: wait until it is writable */
  NB_GRPC_H2_SEND_ERROR,   /* @error set: G_IO_ERROR from the socket, or
                            * NB_GRPC_ERROR INTERNAL from nghttp2 */
} NbGrpcH2SendResult;

/* Moves frames from @session to @out until the socket would block or nothing
 * is left. @outbuf / @out_off hold bytes taken from nghttp2 but not yet
 * written; they are only refilled once empty, because a TLS write that would
 * block must be retried with the same bytes. */
NbGrpcH2SendResult nb_grpc_h2_send (nghttp2_session *session,
                                    GPollableOutputStream *out,
                                    GByteArray *outbuf,
                                    gsize *out_off,
                                    GError **error);

G_END_DECLS
