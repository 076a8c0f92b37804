/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A client of one NetBird signal server (signalexchange.SignalExchange over
 * gRPC, see grpc.h), on the thread-default main context of the thread that
 * created it. Nothing here knows about peers: it delivers opened messages
 * and sends sealed ones.
 *
 * Receiving: nb_signal_client_start() opens ConnectStream with the metadata
 * `x-wiretrustee-peer-id: <our public key>`. The client counts as connected
 * only once the response header `x-wiretrustee-peer-registered` arrived;
 * then it emits "ready" (the first time after start) or "reconnected"
 * (afterwards: the engine's guards re-offer on it). Every EncryptedMessage
 * on the stream is opened with our private key (signal-msg.h) and emitted as
 * "message"; messages that do not open or parse are logged (sender key and
 * reason, never contents) and dropped. HEARTBEAT bodies are not emitted: our
 * own (self-addressed) heartbeat emits "heartbeat", one from another key is
 * ignored.
 *
 * Liveness (NetBird's receive watchdog): when nothing at all arrived on the
 * stream for the heartbeat interval (30 s) the client sends a self-addressed
 * HEARTBEAT through the server; if nothing arrives within the heartbeat
 * timeout (10 s) after that, the stream is declared stalled (error STALLED)
 * and reopened. Any received message counts as a sign of life.
 *
 * Sending: over the unary Send RPC, as NetBird's client does for every
 * message (NetBird's servers since mid-2025 no longer read messages written
 * on the stream). Sending needs a registered stream (else NOT_CONNECTED):
 * the server only forwards to registered peers anyway, and senders re-offer
 * on "reconnected". A failed Send is retried at once up to 4 attempts, with
 * per-attempt deadlines of 10, 10, 10 and 15 s, like NetBird.
 *
 * Reconnecting: a failed attempt, a lost stream, a channel "disconnected"
 * (connection lost or GOAWAY) or a stall emits "disconnected" with the
 * reason and reopens the stream after a capped exponential backoff with
 * jitter (0.8 s growing x1.7 up to 10 s, +-50 %); the backoff restarts from
 * its initial interval after a stream that had been registered. A channel
 * "disconnected" while registered (typically GOAWAY at the server's maximum
 * connection age) reopens the stream at once, on a new connection. Retries
 * never give up while started.
 *
 * gRPC status mapping (stream and Send): UNAVAILABLE and DEADLINE_EXCEEDED
 * -> UNAVAILABLE (transient: server down, connection lost);
 * FAILED_PRECONDITION -> REJECTED (the server refused the registration,
 * e.g. missing peer-id metadata; still retried, but worth a warning);
 * anything else -> CLOSED for the stream, SEND_FAILED for Send. The gRPC
 * status name and message are kept in the error message.
 *
 * The private key never leaves this object and never reaches a log line.
 * Call nb_signal_client_stop() (or drop the last reference) to end
 * everything; pending sends then fail with STOPPED.
 */
#pragma once

#include <gio/gio.h>

#include "signal-msg.h"
#include "wg-key.h"

G_BEGIN_DECLS

#define NB_SIGNAL_HEADER_PEER_ID    "x-wiretrustee-peer-id"
#define NB_SIGNAL_HEADER_REGISTERED "x-wiretrustee-peer-registered"

#define NB_SIGNAL_CLIENT_DEFAULT_HEARTBEAT_INTERVAL_MS 30000
#define NB_SIGNAL_CLIENT_DEFAULT_HEARTBEAT_TIMEOUT_MS  10000
#define NB_SIGNAL_CLIENT_DEFAULT_REGISTER_TIMEOUT_MS   15000
#define NB_SIGNAL_CLIENT_DEFAULT_SEND_TIMEOUT_MS       10000
#define NB_SIGNAL_CLIENT_DEFAULT_BACKOFF_INITIAL_MS    800
#define NB_SIGNAL_CLIENT_DEFAULT_BACKOFF_MAX_MS        10000
#define NB_SIGNAL_CLIENT_SEND_ATTEMPTS                 4

#define NB_SIGNAL_CLIENT_ERROR (nb_signal_client_error_quark ())
GQuark nb_signal_client_error_quark (void);

/**
 * NbSignalClientError:
 * @NB_SIGNAL_CLIENT_ERROR_INVALID_URL: not `http(s)://host[:port]`.
 * @NB_SIGNAL_CLIENT_ERROR_NOT_CONNECTED: no registered stream (not started,
 *   stopped, or between reconnect attempts).
 * @NB_SIGNAL_CLIENT_ERROR_UNAVAILABLE: server unreachable, connection lost,
 *   gRPC UNAVAILABLE or DEADLINE_EXCEEDED.
 * @NB_SIGNAL_CLIENT_ERROR_REJECTED: gRPC FAILED_PRECONDITION.
 * @NB_SIGNAL_CLIENT_ERROR_NOT_REGISTERED: the stream opened without the
 *   registration header, or no response headers within the register timeout.
 * @NB_SIGNAL_CLIENT_ERROR_STALLED: our heartbeat did not come back.
 * @NB_SIGNAL_CLIENT_ERROR_CLOSED: the server ended the stream (OK or another
 *   status).
 * @NB_SIGNAL_CLIENT_ERROR_SEND_FAILED: Send failed on every attempt with a
 *   status other than the ones above.
 * @NB_SIGNAL_CLIENT_ERROR_STOPPED: the client was stopped before the send
 *   completed.
 */
typedef enum {
  NB_SIGNAL_CLIENT_ERROR_INVALID_URL,
  NB_SIGNAL_CLIENT_ERROR_NOT_CONNECTED,
  NB_SIGNAL_CLIENT_ERROR_UNAVAILABLE,
  NB_SIGNAL_CLIENT_ERROR_REJECTED,
  NB_SIGNAL_CLIENT_ERROR_NOT_REGISTERED,
  NB_SIGNAL_CLIENT_ERROR_STALLED,
  NB_SIGNAL_CLIENT_ERROR_CLOSED,
  NB_SIGNAL_CLIENT_ERROR_SEND_FAILED,
  NB_SIGNAL_CLIENT_ERROR_STOPPED,
} NbSignalClientError;

#define NB_TYPE_SIGNAL_CLIENT (nb_signal_client_get_type ())
G_DECLARE_FINAL_TYPE (NbSignalClient, nb_signal_client, NB, SIGNAL_CLIENT, GObject)

/*
 * Signals:
 *   "ready"        (NbSignalClient *): first registration after start.
 *   "reconnected"  (NbSignalClient *): each later registration.
 *   "disconnected" (NbSignalClient *, const GError *reason): an attempt
 *                  failed or a registered stream was lost; a new attempt is
 *                  scheduled. Not emitted by nb_signal_client_stop().
 *   "message"      (NbSignalClient *, const NbSignalMessage *msg): an opened
 *                  message (never HEARTBEAT); msg->sender_key is verified.
 *                  Borrowed: copy it (nb_signal_message_copy) to keep it.
 *   "heartbeat"    (NbSignalClient *): our own heartbeat came back.
 * Property:
 *   "connected"    boolean, read-only, notified on change.
 */

/* @url: `https://signal.netbird.io:443`, `http://127.0.0.1:10000`, ...
 * @private_key: our WireGuard private key (copied; the public key is
 * derived from it). Errors: INVALID_URL. */
NbSignalClient *nb_signal_client_new (const char    *url,
                                      const NbWgKey *private_key,
                                      GError       **error);

/* Opens the stream and keeps it open (reconnecting) until stopped.
 * Starting a started client does nothing. */
void        nb_signal_client_start (NbSignalClient *self);
/* Closes the stream, stops reconnecting, fails pending sends (STOPPED).
 * Emits no "disconnected". The client may be started again. */
void        nb_signal_client_stop (NbSignalClient *self);

gboolean    nb_signal_client_is_connected (NbSignalClient *self);
const char *nb_signal_client_get_url (NbSignalClient *self);
/* Our public key (base64), the peer ID the server knows us by. */
const char *nb_signal_client_get_public_key (NbSignalClient *self);
/* Reason of the last failed attempt or lost stream; NULL after a
 * successful registration. */
const GError *nb_signal_client_get_last_error (NbSignalClient *self);
/* Received messages dropped because they did not open or parse (including
 * unknown types and heartbeats from other keys). */
guint64     nb_signal_client_get_dropped_count (NbSignalClient *self);

/* Seals @msg to @remote_key and sends it (fire and forget). Returns FALSE
 * with @error at once when not connected (NOT_CONNECTED) or when @msg or
 * @remote_key cannot be sealed (NB_SIGNAL_MSG_ERROR_INVALID); a delivery
 * failure after the retries is logged. */
gboolean    nb_signal_client_send (NbSignalClient        *self,
                                   const char            *remote_key,
                                   const NbSignalMessage *msg,
                                   GError               **error);

/* The same, reporting the outcome. The callback's source object is NULL
 * (pending sends do not keep the client alive). Errors: those of
 * nb_signal_client_send(), UNAVAILABLE / REJECTED / SEND_FAILED after the
 * last attempt, STOPPED, G_IO_ERROR_CANCELLED. */
void        nb_signal_client_send_async (NbSignalClient        *self,
                                         const char            *remote_key,
                                         const NbSignalMessage *msg,
                                         GCancellable          *cancellable,
                                         GAsyncReadyCallback    callback,
                                         gpointer               user_data);
gboolean    nb_signal_client_send_finish (NbSignalClient *self,
                                          GAsyncResult   *result,
                                          GError        **error);

/* Tuning, mainly for tests; applies from the next stream / send on. */
void        nb_signal_client_set_heartbeat (NbSignalClient *self,
                                            guint           interval_ms,
                                            guint           timeout_ms);
void        nb_signal_client_set_backoff (NbSignalClient *self,
                                          guint           initial_ms,
                                          guint           max_ms);
void        nb_signal_client_set_register_timeout (NbSignalClient *self,
                                                   guint           timeout_ms);
void        nb_signal_client_set_send_timeout (NbSignalClient *self,
                                               guint           timeout_ms);
/* Trust store for https:// (NULL: the system default). */
void        nb_signal_client_set_tls_database (NbSignalClient *self,
                                               GTlsDatabase   *database);

G_END_DECLS
