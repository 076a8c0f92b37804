/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * NetBird relay protocol messages, byte for byte, without any transport.
 *
 * Every relay message is one binary WebSocket message:
 *
 *   byte 0   version (1)
 *   byte 1   type (NbRelayMsgType)
 *   ...      layout of the type:
 *     TRANSPORT               36-byte peer ID, payload
 *     CLOSE, HEALTH_CHECK     nothing
 *     AUTH                    magic 21 12 A4 42, 36-byte own peer ID, auth payload
 *     AUTH_RESPONSE           instance URL text (at least 1 byte)
 *     SUBSCRIBE_PEER_STATE,
 *     UNSUBSCRIBE_PEER_STATE,
 *     PEERS_ONLINE,
 *     PEERS_WENT_OFFLINE      n x 36-byte peer IDs
 *
 * Limits: an AUTH message is at most 212 bytes, an AUTH_RESPONSE at most
 * 8192, every other message at most 8820. Encoders refuse to build larger
 * messages and decoders refuse to accept them; peer-ID lists are split into
 * as many messages as needed (244 IDs each).
 *
 * A peer's relay ID is "sha-" followed by the SHA-256 of its WireGuard public
 * key *string* (the base64 text). Logs show it as "sha-" + base64(hash).
 *
 * The auth payload is what management's RelayConfig carries: one algorithm
 * byte (1 = HMAC-SHA256), the 32 base64-decoded bytes of tokenSignature, then
 * the tokenPayload bytes (ASCII decimal Unix time at which the token
 * expires). Tokens are secrets: nothing here logs them or puts them in an
 * error message.
 *
 * Decoding never trusts its input: every malformed message gives a GError in
 * NB_RELAY_MSG_ERROR, never a crash. A type byte the protocol does not define
 * gives NB_RELAY_MSG_ERROR_UNKNOWN_TYPE so that a client can log and skip it.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define NB_RELAY_PROTOCOL_VERSION        1
#define NB_RELAY_HEADER_LEN              2     /* version, type */
#define NB_RELAY_PEER_ID_LEN             36    /* "sha-" + SHA-256 */
#define NB_RELAY_PEER_ID_PREFIX          "sha-"
#define NB_RELAY_PEER_ID_PREFIX_LEN      4
#define NB_RELAY_AUTH_MAGIC_LEN          4
#define NB_RELAY_MAX_AUTH_SIZE           212
#define NB_RELAY_MAX_AUTH_RESPONSE_SIZE  8192
#define NB_RELAY_MAX_MESSAGE_SIZE        8820
/* Largest WireGuard packet that fits one transport message: 8782 bytes. */
#define NB_RELAY_MAX_TRANSPORT_PAYLOAD \
  (NB_RELAY_MAX_MESSAGE_SIZE - NB_RELAY_HEADER_LEN - NB_RELAY_PEER_ID_LEN)
/* Largest auth payload that fits one auth message: 170 bytes. */
#define NB_RELAY_MAX_AUTH_PAYLOAD \
  (NB_RELAY_MAX_AUTH_SIZE - NB_RELAY_HEADER_LEN - NB_RELAY_AUTH_MAGIC_LEN - NB_RELAY_PEER_ID_LEN)
/* Peer IDs per subscribe/unsubscribe/online/offline message: 244. */
#define NB_RELAY_MAX_PEER_IDS_PER_MESSAGE \
  ((NB_RELAY_MAX_MESSAGE_SIZE - NB_RELAY_HEADER_LEN) / NB_RELAY_PEER_ID_LEN)

#define NB_RELAY_AUTH_ALG_HMAC_SHA256    1
#define NB_RELAY_AUTH_SIGNATURE_LEN      32
/* NetBird's validator wants at least 10 digits of Unix time. */
#define NB_RELAY_TOKEN_MIN_PAYLOAD_LEN   10

/**
 * NbRelayMsgType:
 * The type byte. HELLO and HELLO_RESPONSE are NetBird's removed legacy
 * handshake: reserved values that are never sent and always refused.
 */
typedef enum {
  NB_RELAY_MSG_HELLO = 1,
  NB_RELAY_MSG_HELLO_RESPONSE = 2,
  NB_RELAY_MSG_TRANSPORT = 3,
  NB_RELAY_MSG_CLOSE = 4,
  NB_RELAY_MSG_HEALTH_CHECK = 5,
  NB_RELAY_MSG_AUTH = 6,
  NB_RELAY_MSG_AUTH_RESPONSE = 7,
  NB_RELAY_MSG_SUBSCRIBE_PEER_STATE = 8,
  NB_RELAY_MSG_UNSUBSCRIBE_PEER_STATE = 9,
  NB_RELAY_MSG_PEERS_ONLINE = 10,
  NB_RELAY_MSG_PEERS_WENT_OFFLINE = 11,
} NbRelayMsgType;

/**
 * NbRelayMsgOrigin:
 * Who sent the message being decoded; decides which types are acceptable.
 * From a client: TRANSPORT, CLOSE, HEALTH_CHECK, AUTH, SUBSCRIBE_PEER_STATE,
 * UNSUBSCRIBE_PEER_STATE. From a server: TRANSPORT, CLOSE, HEALTH_CHECK,
 * AUTH_RESPONSE, PEERS_ONLINE, PEERS_WENT_OFFLINE.
 */
typedef enum {
  NB_RELAY_MSG_FROM_CLIENT,
  NB_RELAY_MSG_FROM_SERVER,
} NbRelayMsgOrigin;

#define NB_RELAY_MSG_ERROR (nb_relay_msg_error_quark ())
GQuark nb_relay_msg_error_quark (void);

/**
 * NbRelayMsgError:
 * @NB_RELAY_MSG_ERROR_TRUNCATED: shorter than the layout of its type.
 * @NB_RELAY_MSG_ERROR_TOO_LARGE: longer than the limit of its type (decode),
 *   or the message to build would be (encode).
 * @NB_RELAY_MSG_ERROR_VERSION: the version byte is not 1. Drop the connection.
 * @NB_RELAY_MSG_ERROR_UNKNOWN_TYPE: a type byte the protocol does not define.
 *   A client logs and skips the message.
 * @NB_RELAY_MSG_ERROR_UNEXPECTED_TYPE: a defined type this side must never
 *   receive (legacy hello, or a message for the other direction).
 * @NB_RELAY_MSG_ERROR_MALFORMED: wrong auth magic, a peer-ID list that is not
 *   a multiple of 36 bytes, an empty or non-UTF-8 instance URL.
 * @NB_RELAY_MSG_ERROR_INVALID_ARGUMENT: an encoder got unusable input (empty
 *   peer list, wrong message type for a list, ...).
 * @NB_RELAY_MSG_ERROR_TOKEN_INVALID: an auth payload or token that cannot be
 *   parsed (empty, short, bad base64 signature, payload not a decimal time).
 * @NB_RELAY_MSG_ERROR_TOKEN_ALGORITHM: an algorithm byte other than 1.
 * @NB_RELAY_MSG_ERROR_TOKEN_SIGNATURE: the HMAC does not match.
 * @NB_RELAY_MSG_ERROR_TOKEN_EXPIRED: the token's expiry time has passed.
 */
typedef enum {
  NB_RELAY_MSG_ERROR_TRUNCATED,
  NB_RELAY_MSG_ERROR_TOO_LARGE,
  NB_RELAY_MSG_ERROR_VERSION,
  NB_RELAY_MSG_ERROR_UNKNOWN_TYPE,
  NB_RELAY_MSG_ERROR_UNEXPECTED_TYPE,
  NB_RELAY_MSG_ERROR_MALFORMED,
  NB_RELAY_MSG_ERROR_INVALID_ARGUMENT,
  NB_RELAY_MSG_ERROR_TOKEN_INVALID,
  NB_RELAY_MSG_ERROR_TOKEN_ALGORITHM,
  NB_RELAY_MSG_ERROR_TOKEN_SIGNATURE,
  NB_RELAY_MSG_ERROR_TOKEN_EXPIRED,
} NbRelayMsgError;

/* ---- peer IDs ---------------------------------------------------------- */

typedef struct {
  guint8 bytes[NB_RELAY_PEER_ID_LEN];
} NbRelayPeerId;

/* "sha-" + SHA-256 of the key text exactly as given (no trimming). */
void           nb_relay_peer_id_from_key (NbRelayPeerId *out,
                                          const char    *peer_key);
/* Log form: the 4 prefix bytes (non-printable ones shown as '?') followed
 * by the base64 of the other 32. */
char          *nb_relay_peer_id_to_string (const NbRelayPeerId *id);
NbRelayPeerId *nb_relay_peer_id_dup (const NbRelayPeerId *id);
void           nb_relay_peer_id_free (NbRelayPeerId *id);
/* GHashTable helpers for NbRelayPeerId* keys. */
guint          nb_relay_peer_id_hash (gconstpointer id);
gboolean       nb_relay_peer_id_equal (gconstpointer a,
                                       gconstpointer b);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (NbRelayPeerId, nb_relay_peer_id_free)

const char    *nb_relay_msg_type_to_string (guint type);

/* ---- encoding ---------------------------------------------------------- */

/* TRANSPORT: @peer is the destination (client) or the sender (server).
 * An empty payload is allowed; one above 8782 bytes is TOO_LARGE. */
GBytes    *nb_relay_msg_encode_transport (const NbRelayPeerId *peer,
                                          const void          *payload,
                                          gsize                payload_len,
                                          GError             **error);
GBytes    *nb_relay_msg_encode_close (void);
GBytes    *nb_relay_msg_encode_health_check (void);
/* AUTH: @self is the sender's own ID; the whole message must stay <= 212. */
GBytes    *nb_relay_msg_encode_auth (const NbRelayPeerId *self,
                                     const void          *auth_payload,
                                     gsize                auth_payload_len,
                                     GError             **error);
/* AUTH_RESPONSE: a non-empty UTF-8 URL of at most 8190 bytes. */
GBytes    *nb_relay_msg_encode_auth_response (const char *instance_url,
                                              GError    **error);
/* SUBSCRIBE_PEER_STATE, UNSUBSCRIBE_PEER_STATE, PEERS_ONLINE or
 * PEERS_WENT_OFFLINE for @n_ids > 0 IDs: a GPtrArray of GBytes, each
 * message <= 8820 bytes (244 IDs), in order. */
GPtrArray *nb_relay_msg_encode_peer_list (NbRelayMsgType       type,
                                          const NbRelayPeerId *ids,
                                          gsize                n_ids,
                                          GError             **error);

/* ---- decoding ---------------------------------------------------------- */

/**
 * NbRelayMsg:
 * @type: the message type.
 * @peer_id: TRANSPORT: the destination (from a client) or the sender (from
 *   a server); AUTH: the client's own ID. Zero otherwise.
 * @payload: TRANSPORT: the packet; AUTH: the auth payload. A slice of the
 *   decoded frame (no copy). NULL otherwise.
 * @instance_url: AUTH_RESPONSE: the server's instance URL. NULL otherwise.
 * @peer_ids: @n_peer_ids IDs of a list message (may be 0). NULL otherwise.
 */
typedef struct {
  NbRelayMsgType type;
  NbRelayPeerId peer_id;
  GBytes *payload;
  char *instance_url;
  NbRelayPeerId *peer_ids;
  gsize n_peer_ids;
} NbRelayMsg;

void        nb_relay_msg_free (NbRelayMsg *msg);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NbRelayMsg, nb_relay_msg_free)

/* Checks, in this order: length >= 2 (TRUNCATED), version (VERSION), type
 * defined (UNKNOWN_TYPE), type acceptable from @origin (UNEXPECTED_TYPE),
 * size limit of the type (TOO_LARGE), layout (TRUNCATED / MALFORMED). */
NbRelayMsg *nb_relay_msg_decode (GBytes          *frame,
                                 NbRelayMsgOrigin origin,
                                 GError         **error);
NbRelayMsg *nb_relay_msg_decode_data (const void      *data,
                                      gsize            len,
                                      NbRelayMsgOrigin origin,
                                      GError         **error);

/* ---- auth tokens ------------------------------------------------------- */

/* The auth payload for management's RelayConfig token: [1][32-byte
 * signature][payload]. @token_signature is standard base64 (with padding) of
 * exactly 32 bytes. Fails with TOKEN_INVALID for a bad signature or an empty
 * payload and TOO_LARGE when the auth message would exceed 212 bytes. */
GBytes    *nb_relay_auth_payload_new (const char *token_payload,
                                      const char *token_signature,
                                      GError    **error);

/* What the relay server does with an auth payload: algorithm 1, at least 10
 * payload bytes, HMAC-SHA256(@secret, payload) equal in constant time to the
 * signature, payload a decimal Unix time not before @now_unix. */
gboolean   nb_relay_auth_payload_verify (const void   *auth_payload,
                                         gsize         auth_payload_len,
                                         const guint8 *secret,
                                         gsize         secret_len,
                                         gint64        now_unix,
                                         GError      **error);

/**
 * NbRelayToken:
 * A relay token as management hands it out in RelayConfig: @payload is the
 * decimal Unix expiry time, @signature the base64 HMAC-SHA256 of @payload
 * under the relay secret. Wiped on free.
 */
typedef struct {
  char *payload;
  char *signature;
} NbRelayToken;

/* For the local control plane: a token valid until @expires_unix. */
NbRelayToken *nb_relay_token_new (const guint8 *secret,
                                  gsize         secret_len,
                                  gint64        expires_unix);
void          nb_relay_token_free (NbRelayToken *token);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NbRelayToken, nb_relay_token_free)

G_END_DECLS
