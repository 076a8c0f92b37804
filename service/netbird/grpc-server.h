/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * A gRPC server over HTTP/2 (nghttp2) and GIO, for the local control plane
 * (devnet management and signal services). Non-blocking, on the
 * thread-default main context of the thread that created it. Nothing here
 * knows about NetBird.
 *
 * NbGrpcServer listens on a GSocketService: cleartext h2c with prior
 * knowledge, or TLS with a GTlsCertificate and ALPN "h2". Handlers are
 * registered per method path ("/package.Service/Method"):
 *   - UNARY: invoked once the single request message has arrived (the client
 *     half-closed); answer with nb_grpc_server_call_reply() or
 *     nb_grpc_server_call_fail(), at once or at any later time (keep a
 *     reference to the call).
 *   - SERVER_STREAMING: invoked with the single request message; send any
 *     number of messages, then nb_grpc_server_call_finish().
 *   - BIDI_STREAMING (also for client streaming): invoked when the request
 *     headers arrive, with request NULL; client messages come as "message"
 *     signals, the client's half-close as "half-closed".
 *
 * Protocol errors never reach a handler and never take the server down:
 *   - unknown path → UNIMPLEMENTED; not POST → HTTP 405; not
 *     application/grpc → HTTP 415 (trailers-only responses);
 *   - a request message over the receive limit → RESOURCE_EXHAUSTED;
 *     compressed or invalid flags, a stream ending inside a message, no or
 *     several messages for a unary / server-streaming method → INTERNAL;
 *   - grpc-timeout from the client: when it passes before the handler
 *     finished, the call ends with DEADLINE_EXCEEDED;
 *   - a client reset (RST_STREAM), a lost connection, an HTTP/2 protocol
 *     error from the client, or a client GOAWAY with an error code cancel the
 *     client's calls; after a GOAWAY with NO_ERROR the connection is closed
 *     once its calls are done; non-HTTP/2 input closes the connection (an
 *     HTTP/1 request gets "400 Bad Request" first).
 * HTTP/2 PINGs are answered (by nghttp2).
 *
 * Events (handler invocations and call signals) are delivered from idle
 * sources on the main context, never from inside an NbGrpcServer function, so
 * handlers and signal callbacks may freely send, finish and drop references.
 * Metadata values are never logged (they may carry credentials).
 */
#pragma once

#include <gio/gio.h>

#include "grpc-frame.h"

G_BEGIN_DECLS

#define NB_GRPC_SERVER_DEFAULT_MAX_RECEIVE_MESSAGE_SIZE (4 * 1024 * 1024)
/* A TLS handshake / HTTP/2 preface must complete within this. */
#define NB_GRPC_SERVER_HANDSHAKE_TIMEOUT_MS 10000

#define NB_TYPE_GRPC_SERVER (nb_grpc_server_get_type ())
G_DECLARE_FINAL_TYPE (NbGrpcServer, nb_grpc_server, NB, GRPC_SERVER, GObject)

#define NB_TYPE_GRPC_SERVER_CALL (nb_grpc_server_call_get_type ())
G_DECLARE_FINAL_TYPE (NbGrpcServerCall, nb_grpc_server_call, NB, GRPC_SERVER_CALL, GObject)

typedef enum {
  NB_GRPC_METHOD_UNARY,
  NB_GRPC_METHOD_SERVER_STREAMING,
  NB_GRPC_METHOD_BIDI_STREAMING,
} NbGrpcMethodType;

/* @call is borrowed: take a reference to answer after returning.
 * @request: the request message (UNARY, SERVER_STREAMING), NULL for
 * BIDI_STREAMING. A handler is only invoked for a live call; from then on
 * the call ends either by the handler (finish/reply/fail) or with
 * "cancelled". */
typedef void (*NbGrpcServerHandler) (NbGrpcServerCall *call,
                                     GBytes *request,
                                     gpointer user_data);

/*
 * NbGrpcServer
 *
 * Signals:
 *   "connection-closed" (): a client connection is gone (any reason); for
 *     tests and statistics.
 */

/* @tls_certificate: serve TLS (ALPN h2) with it (must have a private key);
 * NULL: cleartext h2c. */
NbGrpcServer *nb_grpc_server_new (GTlsCertificate *tls_certificate);

/* Registers @handler for @path, replacing an earlier one. @destroy frees
 * @user_data when the handler is replaced or the server and its last call
 * are gone. */
void nb_grpc_server_add_method (NbGrpcServer *self,
                                const char *path,
                                NbGrpcMethodType type,
                                NbGrpcServerHandler handler,
                                gpointer user_data,
                                GDestroyNotify destroy);

/* Largest accepted request message (default 4 MiB); applies to calls that
 * start afterwards. */
void nb_grpc_server_set_max_receive_message_size (NbGrpcServer *self, gsize max_size);
gsize nb_grpc_server_get_max_receive_message_size (NbGrpcServer *self);

/* Listens on @address (an IP literal, e.g. "127.0.0.1" or "::") and @port
 * (0: ephemeral). May be called more than once. Errors are G_IO_ERROR. */
gboolean nb_grpc_server_listen (NbGrpcServer *self,
                                const char *address,
                                guint16 port,
                                GError **error);

/* The port of the first listening address (0 before listen()). */
guint16 nb_grpc_server_get_port (NbGrpcServer *self);
gboolean nb_grpc_server_is_tls (NbGrpcServer *self);

/* Stops listening, then for every connection: ends its calls with
 * UNAVAILABLE (trailers; their handlers get "cancelled"), sends GOAWAY and
 * closes the connection after one non-blocking write attempt. Idempotent;
 * the server can be dropped right after. Disposing the server stops it. */
void nb_grpc_server_stop (NbGrpcServer *self);

guint nb_grpc_server_get_n_connections (NbGrpcServer *self);
/* Calls with an open HTTP/2 stream. */
guint nb_grpc_server_get_n_calls (NbGrpcServer *self);

/*
 * NbGrpcServerCall: one call (HTTP/2 stream) on the server.
 *
 * Signals (in order; none after the call ended, except as noted):
 *   "message" (GBytes *message): a request message (BIDI_STREAMING only).
 *   "half-closed" (): the client finished sending (BIDI_STREAMING only).
 *   "drained" (): the send queue became empty after send().
 *   "cancelled" (const GError *reason): the call ended without the handler
 *     finishing it; NB_GRPC_ERROR with CANCELLED (client reset),
 *     UNAVAILABLE (connection lost, server stopped), DEADLINE_EXCEEDED,
 *     RESOURCE_EXHAUSTED or INTERNAL (bad request stream). Emitted at most
 *     once, only after the handler was invoked.
 */

const char *nb_grpc_server_call_get_path (NbGrpcServerCall *call);
NbGrpcMethodType nb_grpc_server_call_get_method_type (NbGrpcServerCall *call);
/* Request metadata: lowercase name → value, without pseudo-headers and
 * without content-type / te / grpc-timeout (transfer none). */
GHashTable *nb_grpc_server_call_get_metadata (NbGrpcServerCall *call);
const char *nb_grpc_server_call_get_metadata_value (NbGrpcServerCall *call, const char *name);
/* The client's address as "ip:port" (or "[ip6]:port"). */
const char *nb_grpc_server_call_get_peer (NbGrpcServerCall *call);
/* Monotonic time (µs) of the client's deadline, 0 for none. */
gint64 nb_grpc_server_call_get_deadline (NbGrpcServerCall *call);

/* Neither finished by the handler nor ended otherwise. */
gboolean nb_grpc_server_call_is_active (NbGrpcServerCall *call);
/* Whether "cancelled" was (or is about to be) emitted. */
gboolean nb_grpc_server_call_is_cancelled (NbGrpcServerCall *call);

/* Sends the response headers now (:status 200, content-type
 * application/grpc and @headers, nullable, validated like client metadata).
 * Otherwise they go out with the first message or the status. At most once;
 * ignored once the call ended. */
void nb_grpc_server_call_send_headers (NbGrpcServerCall *call, GHashTable *headers);
/* Adds custom trailing metadata, sent with the status. */
void nb_grpc_server_call_set_trailer (NbGrpcServerCall *call, const char *name, const char *value);

/* Queues one message, sent as HTTP/2 flow control allows. Ignored once the
 * call ended. */
void nb_grpc_server_call_send (NbGrpcServerCall *call, GBytes *message);
/* Bytes queued by send() that HTTP/2 has not taken yet (backpressure: wait
 * for "drained" before queueing more). */
gsize nb_grpc_server_call_get_send_queue_size (NbGrpcServerCall *call);

/* Ends the call with @status after the queued messages: trailers with
 * grpc-status and the percent-encoded @message (nullable), or a
 * trailers-only response if nothing was sent yet. Ignored once the call
 * ended. */
void nb_grpc_server_call_finish (NbGrpcServerCall *call, NbGrpcStatus status, const char *message);
/* Unary answer: send(@response) + finish(OK). */
void nb_grpc_server_call_reply (NbGrpcServerCall *call, GBytes *response);
/* finish() with a non-OK @status. */
void nb_grpc_server_call_fail (NbGrpcServerCall *call, NbGrpcStatus status, const char *message);
/* fail() with the status of @error: its code for NB_GRPC_ERROR,
 * CANCELLED for G_IO_ERROR_CANCELLED, UNKNOWN otherwise. */
void nb_grpc_server_call_fail_error (NbGrpcServerCall *call, const GError *error);

G_END_DECLS
