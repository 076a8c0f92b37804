/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A client of one NetBird relay server over WebSocket (libsoup 3).
 *
 * `rel://host[:port]` is dialled as `ws://host[:port]/relay` and
 * `rels://host[:port]` as `wss://host[:port]/relay` (ports 80 and 443 when
 * absent). Every relay message is one binary WebSocket message (relay-msg.h).
 *
 * Lifecycle: nb_relay_client_new() + nb_relay_client_set_token(), then
 * nb_relay_client_start(). The client dials, sends AUTH with its peer ID and
 * the newest token, and waits at most 8 s for AUTH_RESPONSE; then it is
 * connected and emits "connected" with the server's instance URL (the
 * address peers are told to meet on). While connected it answers every
 * health check and declares the connection dead when none arrived for 35 s.
 * Whenever an attempt fails or a connection ends it emits "disconnected"
 * with the reason and dials again after a capped exponential backoff with
 * jitter (2 s doubling up to 60 s, +-50 %, like NetBird's relay guard),
 * each time with the newest token. nb_relay_client_stop() sends CLOSE (when
 * connected), closes the socket and stops reconnecting; it emits nothing.
 *
 * Per-peer virtual connections (NbRelayConn): opening one sends nothing on
 * the wire; it receives the transport messages the server attributes to that
 * peer ("message") and sends to it (nb_relay_conn_send()). A transport
 * message from a peer without an open connection is kept (one per peer, for
 * 5 s) and delivered when the connection is opened, as NetBird does for the
 * first WireGuard handshake. Virtual connections belong to one relay session:
 * when the relay connection ends, or the server reports the peer offline,
 * they are closed ("closed" with the reason) and must be opened again.
 *
 * Peer state: nb_relay_client_subscribe() asks the server for PEERS_ONLINE /
 * PEERS_WENT_OFFLINE about some peers ("peers-online", "peers-offline"). The
 * client remembers the subscriptions and renews them after a reconnect. The
 * server reports a peer online once per subscription (NetBird's server
 * forgets the online interest after notifying); subscribe again to hear of
 * it coming back.
 *
 * A malformed message from the server is logged and dropped; a wrong
 * protocol version, a text message or a CLOSE ends the connection. Nothing
 * here blocks; everything runs in the thread-default main context of the
 * thread that created the client. The token never reaches a log line.
 */
#pragma once

#include <gio/gio.h>

#include "relay-msg.h"

G_BEGIN_DECLS

#define NB_RELAY_CLIENT_DEFAULT_AUTH_TIMEOUT_MS     8000
#define NB_RELAY_CLIENT_DEFAULT_HEALTH_TIMEOUT_MS   35000
#define NB_RELAY_CLIENT_DEFAULT_CONNECT_TIMEOUT_MS  30000
#define NB_RELAY_CLIENT_DEFAULT_BACKOFF_INITIAL_MS  2000
#define NB_RELAY_CLIENT_DEFAULT_BACKOFF_MAX_MS      60000
#define NB_RELAY_CLIENT_EARLY_MESSAGE_TTL_MS        5000

#define NB_RELAY_CLIENT_ERROR (nb_relay_client_error_quark ())
GQuark nb_relay_client_error_quark (void);

/**
 * NbRelayClientError:
 * @NB_RELAY_CLIENT_ERROR_INVALID_URL: not `rel://host[:port]` or `rels://...`.
 * @NB_RELAY_CLIENT_ERROR_NO_TOKEN: started without a token.
 * @NB_RELAY_CLIENT_ERROR_CONNECT: the WebSocket could not be established
 *   (refused, DNS, TLS, HTTP status, timeout).
 * @NB_RELAY_CLIENT_ERROR_AUTH_TIMEOUT: no auth response within the timeout.
 * @NB_RELAY_CLIENT_ERROR_AUTH_REJECTED: the server closed the connection
 *   without an auth response (bad or expired token).
 * @NB_RELAY_CLIENT_ERROR_PROTOCOL: the server broke the protocol (wrong
 *   version, text message, unexpected first message).
 * @NB_RELAY_CLIENT_ERROR_HEALTH_TIMEOUT: no health check within the timeout.
 * @NB_RELAY_CLIENT_ERROR_CLOSED_BY_SERVER: CLOSE received, or the WebSocket
 *   ended.
 * @NB_RELAY_CLIENT_ERROR_NOT_CONNECTED: an operation that needs a connection.
 * @NB_RELAY_CLIENT_ERROR_EXISTS: a connection to that peer is already open.
 * @NB_RELAY_CLIENT_ERROR_CLOSED: the virtual connection was closed.
 * @NB_RELAY_CLIENT_ERROR_PEER_OFFLINE: the server reported the peer offline.
 */
typedef enum {
  NB_RELAY_CLIENT_ERROR_INVALID_URL,
  NB_RELAY_CLIENT_ERROR_NO_TOKEN,
  NB_RELAY_CLIENT_ERROR_CONNECT,
  NB_RELAY_CLIENT_ERROR_AUTH_TIMEOUT,
  NB_RELAY_CLIENT_ERROR_AUTH_REJECTED,
  NB_RELAY_CLIENT_ERROR_PROTOCOL,
  NB_RELAY_CLIENT_ERROR_HEALTH_TIMEOUT,
  NB_RELAY_CLIENT_ERROR_CLOSED_BY_SERVER,
  NB_RELAY_CLIENT_ERROR_NOT_CONNECTED,
  NB_RELAY_CLIENT_ERROR_EXISTS,
  NB_RELAY_CLIENT_ERROR_CLOSED,
  NB_RELAY_CLIENT_ERROR_PEER_OFFLINE,
} NbRelayClientError;

/* `rel://h[:p]` -> `ws://h[:p]/relay`, `rels://` -> `wss://`; NULL + error
 * (NB_RELAY_CLIENT_ERROR_INVALID_URL) otherwise. Path, query and fragment
 * of the input are replaced, as NetBird does. */
char *nb_relay_url_to_websocket (const char *relay_url,
                                 GError    **error);

#define NB_TYPE_RELAY_CONN (nb_relay_conn_get_type ())
G_DECLARE_FINAL_TYPE (NbRelayConn, nb_relay_conn, NB, RELAY_CONN, GObject)

#define NB_TYPE_RELAY_CLIENT (nb_relay_client_get_type ())
G_DECLARE_FINAL_TYPE (NbRelayClient, nb_relay_client, NB, RELAY_CLIENT, GObject)

/*
 * Signals of NbRelayClient:
 *   "connected"     (NbRelayClient *, const char *instance_url)
 *   "disconnected"  (NbRelayClient *, const GError *reason)
 *   "peers-online"  (NbRelayClient *, const NbRelayPeerId *ids, guint n_ids)
 *   "peers-offline" (NbRelayClient *, const NbRelayPeerId *ids, guint n_ids)
 * Signals of NbRelayConn:
 *   "message"       (NbRelayConn *, GBytes *payload)
 *   "closed"        (NbRelayConn *, const GError *reason)
 */

/* @relay_url: rel:// or rels:// URL from management. @peer_key: our
 * WireGuard public key as base64 text (the relay ID is its hash). */
NbRelayClient *nb_relay_client_new (const char *relay_url,
                                    const char *peer_key,
                                    GError    **error);

/* The token from management's RelayConfig (tokenPayload, tokenSignature);
 * used by the next (re)connection. FALSE + an NB_RELAY_MSG_ERROR if it
 * cannot be encoded (bad base64 signature, too long). */
gboolean    nb_relay_client_set_token (NbRelayClient *self,
                                       const char    *token_payload,
                                       const char    *token_signature,
                                       GError       **error);

/* Begin connecting (and keep reconnecting). FALSE + NO_TOKEN without a
 * token. Starting a started client does nothing. */
gboolean    nb_relay_client_start (NbRelayClient *self,
                                   GError       **error);
/* Send CLOSE if connected, close the socket, stop reconnecting, close the
 * virtual connections. No "disconnected" emission. */
void        nb_relay_client_stop (NbRelayClient *self);

gboolean    nb_relay_client_is_connected (NbRelayClient *self);
/* The instance URL from the auth response; NULL when not connected. */
const char *nb_relay_client_get_instance_url (NbRelayClient *self);
const char *nb_relay_client_get_server_url (NbRelayClient *self);
const char *nb_relay_client_get_websocket_url (NbRelayClient *self);
const NbRelayPeerId *nb_relay_client_get_peer_id (NbRelayClient *self);
/* The reason of the last failed attempt or lost connection; NULL after a
 * successful connection. */
const GError *nb_relay_client_get_last_error (NbRelayClient *self);

/* Open the virtual connection to @peer_key (needs a connection; refuses a
 * second one to the same peer with EXISTS). Sends nothing. A buffered early
 * message from that peer is emitted from an idle callback. */
NbRelayConn *nb_relay_client_open_conn (NbRelayClient *self,
                                        const char    *peer_key,
                                        GError       **error);
NbRelayConn *nb_relay_client_open_conn_by_id (NbRelayClient       *self,
                                              const NbRelayPeerId *peer_id,
                                              GError             **error);

/* Send a transport message to any peer ID, without a virtual connection. */
gboolean    nb_relay_client_send_to (NbRelayClient       *self,
                                     const NbRelayPeerId *peer_id,
                                     GBytes              *payload,
                                     GError             **error);

/* Peer state subscriptions (remembered across reconnects). When not
 * connected they are only recorded and sent after the next connection. */
gboolean    nb_relay_client_subscribe (NbRelayClient       *self,
                                       const NbRelayPeerId *ids,
                                       gsize                n_ids,
                                       GError             **error);
gboolean    nb_relay_client_unsubscribe (NbRelayClient       *self,
                                         const NbRelayPeerId *ids,
                                         gsize                n_ids,
                                         GError             **error);

/* Tuning, mainly for tests; take effect for the next connection attempt. */
void        nb_relay_client_set_auth_timeout (NbRelayClient *self,
                                              guint          timeout_ms);
void        nb_relay_client_set_health_timeout (NbRelayClient *self,
                                                guint          timeout_ms);
void        nb_relay_client_set_connect_timeout (NbRelayClient *self,
                                                 guint          timeout_ms);
void        nb_relay_client_set_backoff (NbRelayClient *self,
                                         guint          initial_ms,
                                         guint          max_ms);
/* Trust store for rels:// (NULL: the system default). */
void        nb_relay_client_set_tls_database (NbRelayClient *self,
                                              GTlsDatabase  *database);

/* NbRelayConn */
const NbRelayPeerId *nb_relay_conn_get_peer_id (NbRelayConn *conn);
/* NULL once closed. */
NbRelayClient       *nb_relay_conn_get_client (NbRelayConn *conn);
gboolean             nb_relay_conn_is_open (NbRelayConn *conn);
gboolean             nb_relay_conn_send (NbRelayConn *conn,
                                         GBytes      *payload,
                                         GError     **error);
/* Forget the peer; sends nothing and emits no "closed". Idempotent. */
void                 nb_relay_conn_close (NbRelayConn *conn);

G_END_DECLS
