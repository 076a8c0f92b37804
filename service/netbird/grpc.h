/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * A gRPC client over HTTP/2 (nghttp2) and GIO, on the thread-default main
 * context, never blocking. Nothing here knows about NetBird.
 *
 * NbGrpcChannel: one target (`http://host[:port]` → h2c with prior knowledge,
 *   `https://host[:port]` → TLS with ALPN "h2", default ports 80/443). It owns
 *   at most one usable HTTP/2 connection, opened lazily by the first call and
 *   again by the first call after the previous one was lost. Keepalive PINGs
 *   detect dead connections. A GOAWAY from the server stops new calls on that
 *   connection (they go to a new one); calls the server promised to process
 *   (stream id <= last-stream-id) may finish, the others fail UNAVAILABLE.
 *
 * NbGrpcCall: one call (unary, server-streaming or bidirectional). Events are
 *   delivered by signals from the main loop, never from inside an NbGrpc
 *   function, so handlers may freely send, cancel or drop references; connect
 *   handlers before returning to the main loop.
 *
 * Errors: NB_GRPC_ERROR with the gRPC status as code (grpc-frame.h):
 *   - the server's grpc-status / grpc-message;
 *   - UNAVAILABLE for connect failures, connect timeout, TLS failures, lost or
 *     dead (keepalive) connections, HTTP/2 protocol errors, GOAWAY-refused
 *     streams;
 *   - DEADLINE_EXCEEDED when the call's deadline passes (the stream is reset
 *     with CANCEL);
 *   - RESOURCE_EXHAUSTED for a received message over the limit;
 *   - INTERNAL / UNKNOWN for malformed responses (bad gRPC framing, compressed
 *     messages, missing or invalid grpc-status, wrong content-type), other
 *     HTTP statuses mapped as gRPC specifies (404 → UNIMPLEMENTED, …);
 *   - INVALID_ARGUMENT for a bad path or metadata;
 *   - G_IO_ERROR_CANCELLED when the caller cancelled (GCancellable or
 *     nb_grpc_call_cancel()), following GIO convention.
 */
#pragma once

#include <gio/gio.h>

#include "grpc-frame.h"

G_BEGIN_DECLS

#define NB_GRPC_DEFAULT_CONNECT_TIMEOUT_MS       10000
#define NB_GRPC_DEFAULT_KEEPALIVE_TIME_MS        30000
#define NB_GRPC_DEFAULT_KEEPALIVE_TIMEOUT_MS     10000
#define NB_GRPC_DEFAULT_MAX_RECEIVE_MESSAGE_SIZE (4 * 1024 * 1024)

#define NB_TYPE_GRPC_CHANNEL (nb_grpc_channel_get_type ())
G_DECLARE_FINAL_TYPE (NbGrpcChannel, nb_grpc_channel, NB, GRPC_CHANNEL, GObject)

#define NB_TYPE_GRPC_CALL (nb_grpc_call_get_type ())
G_DECLARE_FINAL_TYPE (NbGrpcCall, nb_grpc_call, NB, GRPC_CALL, GObject)

/*
 * NbGrpcChannel (GInitable).
 *
 * Properties (all but "target" may change at any time; they apply to
 * connections and calls started afterwards):
 *   "target"                   string, construct-only
 *   "connect-timeout-ms"       uint, TCP connect + TLS handshake + the
 *                              server's first SETTINGS; default 10000
 *   "keepalive-time-ms"        uint, PING after this long without receiving
 *                              anything; 0 disables; default 30000
 *   "keepalive-timeout-ms"     uint, connection dead when nothing (no ACK,
 *                              no other frame) arrives this long after a
 *                              PING; default 10000
 *   "max-receive-message-size" uint, default 4 MiB
 *   "tls-database"             GTlsDatabase, NULL = the system CA database
 *   "connected"                boolean, read-only: the current connection
 *                              completed the HTTP/2 handshake
 *   "last-ping-rtt"            int64 µs, read-only, -1 before the first ACK;
 *                              notified on every keepalive ACK
 * Signals:
 *   "disconnected" (const GError *reason): a connection that had been
 *     established is gone (lost, keepalive timeout, protocol error) or
 *     received GOAWAY; its calls failed (or, after GOAWAY, may still finish).
 *     The next call opens a new connection; retry policy is the caller's
 *     (see backoff.h).
 */
NbGrpcChannel *nb_grpc_channel_new (const char *target, GError **error);

const char *nb_grpc_channel_get_target (NbGrpcChannel *self);
gboolean nb_grpc_channel_is_connected (NbGrpcChannel *self);
gint64 nb_grpc_channel_get_last_ping_rtt (NbGrpcChannel *self);

void nb_grpc_channel_set_connect_timeout (NbGrpcChannel *self, guint timeout_ms);
void nb_grpc_channel_set_keepalive (NbGrpcChannel *self, guint time_ms, guint timeout_ms);
void nb_grpc_channel_set_max_receive_message_size (NbGrpcChannel *self, gsize max_size);
void nb_grpc_channel_set_tls_database (NbGrpcChannel *self, GTlsDatabase *database);

/* Closes the current connection now (GOAWAY, then close); its calls fail
 * UNAVAILABLE. "disconnected" is not emitted. The next call reconnects. */
void nb_grpc_channel_disconnect (NbGrpcChannel *self);

/*
 * Unary call. @path is "/package.Service/Method". @metadata maps lowercase
 * header names to ASCII values (nullable; "-bin" values must already be
 * base64). @deadline_ms is relative to now, 0 = none; it is sent as
 * grpc-timeout. The result is the response message.
 */
void nb_grpc_channel_call_async (NbGrpcChannel *self,
                                 const char *path,
                                 GBytes *request,
                                 GHashTable *metadata,
                                 guint deadline_ms,
                                 GCancellable *cancellable,
                                 GAsyncReadyCallback callback,
                                 gpointer user_data);
GBytes *nb_grpc_channel_call_finish (NbGrpcChannel *self,
                                     GAsyncResult *result,
                                     GError **error);

/*
 * Streaming call, started at once (the request headers go out as soon as a
 * connection is up). Never returns NULL: failures, including invalid
 * arguments, arrive as "closed".
 *
 * Signals, in this order:
 *   "headers" (GHashTable *headers): response headers (name → value, no
 *     pseudo-headers); at most once, not for a trailers-only response.
 *   "message" (GBytes *message): each received message.
 *   "closed" (const GError *error): exactly once; NULL for grpc-status OK.
 */
NbGrpcCall *nb_grpc_channel_open_call (NbGrpcChannel *self,
                                       const char *path,
                                       GHashTable *metadata,
                                       guint deadline_ms);

/* Queues one message; sent as flow control allows. Ignored once the call is
 * closed. Must not be called after nb_grpc_call_close_send(). */
void nb_grpc_call_send (NbGrpcCall *call, GBytes *message);
/* Half-closes: END_STREAM after the queued messages. */
void nb_grpc_call_close_send (NbGrpcCall *call);
/* Resets the stream (RST_STREAM CANCEL) and drops undelivered events; emits
 * "closed" with G_IO_ERROR_CANCELLED synchronously unless it was emitted
 * already. Dropping the last reference to an open call cancels it silently. */
void nb_grpc_call_cancel (NbGrpcCall *call);

const char *nb_grpc_call_get_path (NbGrpcCall *call);
/* Whether "closed" was emitted. */
gboolean nb_grpc_call_is_closed (NbGrpcCall *call);
/* Bytes queued by send() that HTTP/2 has not taken yet (for backpressure). */
gsize nb_grpc_call_get_send_queue_size (NbGrpcCall *call);
/* Response headers / trailers as received so far (transfer none, NULL
 * before they arrive). A trailers-only response (typical for errors) has
 * trailers but no response headers. */
GHashTable *nb_grpc_call_get_response_headers (NbGrpcCall *call);
GHashTable *nb_grpc_call_get_trailers (NbGrpcCall *call);

G_END_DECLS
