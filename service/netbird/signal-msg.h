/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * NetBird's signal message bodies, transport-free.
 *
 * What travels through a signal server is a signalexchange.EncryptedMessage
 * {key = sender's peer key, remoteKey = recipient's peer key, body = sealed
 * Body} (see proto/signalexchange.proto and box.h). This module turns our
 * value types into those wire bytes and back:
 *
 *   NbSignalMessage --encode--> Body bytes --seal--> EncryptedMessage bytes
 *   EncryptedMessage bytes --open--> (validated) NbSignalMessage
 *
 * Body contents by type (as NetBird's client writes and reads them):
 *   OFFER / ANSWER  payload "<ufrag>:<pwd>" (exactly one colon; both parts
 *                   may be empty: NetBird sends ":" when it has no ICE),
 *                   wgListenPort, netBirdVersion, rosenpassConfig (always
 *                   present, empty fields when Rosenpass is off), optional
 *                   relayServerAddress, relayServerIP (4 or 16 bytes),
 *                   sessionId (5 bytes), featuresSupported.
 *   CANDIDATE       payload = one ICE candidate WITHOUT the "candidate:"
 *                   prefix (NetBird's parser refuses the prefix); optional
 *                   sessionId.
 *   MODE            mode {optional bool direct}.
 *   GO_IDLE         nothing.
 *   HEARTBEAT       nothing (self-addressed liveness probe).
 *
 * Leniency follows NetBird's receiver: a sessionId that is not 5 bytes and a
 * relayServerIP that is not 4/16 bytes are ignored (treated as absent), not
 * errors. Strings must be valid UTF-8 (Go's protobuf refuses anything else).
 *
 * Errors (NB_SIGNAL_MSG_ERROR) never contain payload text (ICE passwords);
 * they may name the sender's public key once it is known to be a valid key.
 */
#pragma once

#include <glib-object.h>

#include "box.h"
#include "wg-key.h"

G_BEGIN_DECLS

/* Bytes of an ICE session ID (NetBird: 5 random bytes). */
#define NB_SIGNAL_SESSION_ID_LEN 5
/* featuresSupported value: the sender understands direct-mode checks. */
#define NB_SIGNAL_FEATURE_DIRECT_CHECK 1

#define NB_SIGNAL_MSG_ERROR (nb_signal_msg_error_quark ())
GQuark nb_signal_msg_error_quark (void);

/**
 * NbSignalMsgError:
 * @NB_SIGNAL_MSG_ERROR_BAD_PROTOBUF: the EncryptedMessage, or the Body inside
 *   a box that opened, is not a valid protobuf of that message (includes
 *   strings that are not UTF-8).
 * @NB_SIGNAL_MSG_ERROR_BAD_SENDER_KEY: the `key` field is not a WireGuard
 *   public key (44-character standard base64).
 * @NB_SIGNAL_MSG_ERROR_NOT_FOR_US: `remoteKey` is not our key.
 * @NB_SIGNAL_MSG_ERROR_OPEN_FAILED: the body does not open with (sender key,
 *   our private key): forged, tampered, truncated or sealed for someone else.
 * @NB_SIGNAL_MSG_ERROR_MALFORMED: the body opened and parsed but its payload
 *   is not valid for its type (offer payload without exactly one colon,
 *   unparsable candidate, listen port above 65535).
 * @NB_SIGNAL_MSG_ERROR_UNKNOWN_TYPE: a Body.type this code does not know
 *   (e.g. from a newer NetBird): callers log it and ignore the message.
 * @NB_SIGNAL_MSG_ERROR_UNSUPPORTED: a well-formed ICE candidate over a
 *   transport other than UDP (NetBird only uses UDP): ignore it.
 * @NB_SIGNAL_MSG_ERROR_INVALID: our own message or arguments cannot be put on
 *   the wire (bad key text, ufrag/pwd containing ':', invalid relay IP,
 *   non-UTF-8 string, wrong type for the constructor).
 */
typedef enum {
  NB_SIGNAL_MSG_ERROR_BAD_PROTOBUF,
  NB_SIGNAL_MSG_ERROR_BAD_SENDER_KEY,
  NB_SIGNAL_MSG_ERROR_NOT_FOR_US,
  NB_SIGNAL_MSG_ERROR_OPEN_FAILED,
  NB_SIGNAL_MSG_ERROR_MALFORMED,
  NB_SIGNAL_MSG_ERROR_UNKNOWN_TYPE,
  NB_SIGNAL_MSG_ERROR_UNSUPPORTED,
  NB_SIGNAL_MSG_ERROR_INVALID,
} NbSignalMsgError;

/* Body.Type; the values are the wire values. */
typedef enum {
  NB_SIGNAL_MSG_OFFER = 0,
  NB_SIGNAL_MSG_ANSWER = 1,
  NB_SIGNAL_MSG_CANDIDATE = 2,
  NB_SIGNAL_MSG_MODE = 4,
  NB_SIGNAL_MSG_GO_IDLE = 5,
  NB_SIGNAL_MSG_HEARTBEAT = 6,
} NbSignalMsgType;

/* "OFFER", "ANSWER", ...; "UNKNOWN" for other values. */
const char *nb_signal_msg_type_to_string (NbSignalMsgType type);

/* ------------------------------------------------------------------------ */
/* Offer / answer */

/*
 * The contents of an OFFER or an ANSWER (same shape). Plain value: set the
 * fields directly (heap strings, g_strdup); nb_signal_offer_free() frees
 * them and wipes the ICE password.
 *
 * When sealing, NULL and "" are the same for ufrag/pwd/version/rosenpass
 * address; relay_server_address NULL or "" is omitted from the wire;
 * relay_server_ip NULL is omitted, otherwise it must be an IPv4 or IPv6
 * literal (an IPv4-mapped IPv6 address goes out as 4 bytes, like NetBird).
 * After opening, ufrag/pwd/version are never NULL (possibly ""), the other
 * strings and rosenpass_pub_key are NULL when absent or empty, and
 * relay_server_ip is the text form of the 4/16 bytes.
 */
typedef struct {
  char *ufrag;
  char *pwd;                    /* ICE password: never log it */
  guint16 wg_listen_port;
  char *version;                /* sender's NetBird version string */
  GBytes *rosenpass_pub_key;
  char *rosenpass_addr;         /* "ip:port" of the Rosenpass listener */
  char *relay_server_address;   /* relay instance URL, e.g. rels://host:443 */
  char *relay_server_ip;        /* IP the sender reached that relay at */
  gboolean has_session_id;
  guint8 session_id[NB_SIGNAL_SESSION_ID_LEN];
  GArray *features;             /* guint32 feature numbers, NULL = none */
} NbSignalOffer;

NbSignalOffer *nb_signal_offer_new (void);
NbSignalOffer *nb_signal_offer_copy (const NbSignalOffer *offer);
void           nb_signal_offer_free (NbSignalOffer *offer);
void           nb_signal_offer_add_feature (NbSignalOffer *offer, guint32 feature);
gboolean       nb_signal_offer_has_feature (const NbSignalOffer *offer, guint32 feature);
/* The session ID as 10 lowercase hex digits (NetBird's log form); NULL when
 * there is none. */
char          *nb_signal_offer_dup_session_id_hex (const NbSignalOffer *offer);

/* ------------------------------------------------------------------------ */
/* ICE candidate */

typedef enum {
  NB_SIGNAL_CANDIDATE_HOST,
  NB_SIGNAL_CANDIDATE_SRFLX,
  NB_SIGNAL_CANDIDATE_PRFLX,
  NB_SIGNAL_CANDIDATE_RELAY,
} NbSignalCandidateType;

/* "host", "srflx", "prflx", "relay" (NULL for other values). */
const char *nb_signal_candidate_type_to_string (NbSignalCandidateType type);

/*
 * One ICE candidate as NetBird (pion) writes it:
 *   <foundation> <component> udp <priority> <address> <port> typ <type>
 *   [raddr <address> rport <port>] [<name> <value>]...
 * The transport is always UDP (others are refused when parsing).
 */
typedef struct {
  char *foundation;             /* 1..32 of [A-Za-z0-9+/] */
  guint16 component;            /* 1..256 */
  guint32 priority;
  char *address;                /* IP literal or host name (mDNS) */
  guint16 port;                 /* 1..65535 */
  NbSignalCandidateType type;
  char *related_address;        /* raddr, NULL when absent */
  guint16 related_port;         /* rport (0 when absent) */
} NbSignalCandidate;

NbSignalCandidate *nb_signal_candidate_new (void);
NbSignalCandidate *nb_signal_candidate_copy (const NbSignalCandidate *candidate);
void               nb_signal_candidate_free (NbSignalCandidate *candidate);

/* Parses a candidate line, with or without a leading "candidate:". Unknown
 * trailing name/value attributes (generation, ufrag, network-id,
 * network-cost, tcptype, ...) are ignored. Errors: MALFORMED, or
 * UNSUPPORTED for a well-formed non-UDP candidate. */
NbSignalCandidate *nb_signal_candidate_parse (const char *text, GError **error);

/* The candidate line WITHOUT the "candidate:" prefix, as NetBird expects
 * it; raddr/rport only when related_address is set. NULL with @error
 * (INVALID) when a field cannot be written (missing/ill-formed foundation or
 * address, component 0, port 0). */
char *nb_signal_candidate_to_string (const NbSignalCandidate *candidate, GError **error);

/* ------------------------------------------------------------------------ */
/* Message */

/*
 * One signal message, tagged by @type:
 *   OFFER, ANSWER  @offer (its own session ID);
 *   CANDIDATE      @candidate, plus @has_session_id/@session_id;
 *   MODE           @mode_has_direct/@mode_direct (unset, true, false);
 *   GO_IDLE, HEARTBEAT: nothing.
 * @sender_key is filled by nb_signal_message_open() (the EncryptedMessage
 * key, verified by the box opening) and ignored when sealing.
 */
typedef struct {
  NbSignalMsgType type;
  char *sender_key;
  NbSignalOffer *offer;
  NbSignalCandidate *candidate;
  gboolean has_session_id;      /* types other than OFFER/ANSWER */
  guint8 session_id[NB_SIGNAL_SESSION_ID_LEN];
  gboolean mode_has_direct;
  gboolean mode_direct;
} NbSignalMessage;

#define NB_TYPE_SIGNAL_MESSAGE (nb_signal_message_get_type ())
GType nb_signal_message_get_type (void);

/* An empty message of @type (use for GO_IDLE, HEARTBEAT, MODE). */
NbSignalMessage *nb_signal_message_new (NbSignalMsgType type);
/* @type is NB_SIGNAL_MSG_OFFER or NB_SIGNAL_MSG_ANSWER; takes @offer. */
NbSignalMessage *nb_signal_message_new_offer (NbSignalMsgType type, NbSignalOffer *offer);
/* Takes @candidate. */
NbSignalMessage *nb_signal_message_new_candidate (NbSignalCandidate *candidate);
NbSignalMessage *nb_signal_message_new_mode (gboolean has_direct, gboolean direct);
NbSignalMessage *nb_signal_message_copy (const NbSignalMessage *msg);
void             nb_signal_message_free (NbSignalMessage *msg);

/* The serialized Body (not sealed). Errors: INVALID. */
GBytes *nb_signal_message_encode_body (const NbSignalMessage *msg, GError **error);
/* Parses and validates a serialized Body; @sender_key of the result is
 * NULL. Errors: BAD_PROTOBUF, MALFORMED, UNKNOWN_TYPE, UNSUPPORTED. */
NbSignalMessage *nb_signal_message_decode_body (const guint8 *data, gsize len, GError **error);

/* The wire bytes of an EncryptedMessage {key = @our_key, remoteKey =
 * @remote_key, body = nonce || box(Body)} sealed from @our_private to
 * @remote_key. @our_key must be the public key of @our_private (not
 * checked). Errors: INVALID (bad key text, unencodable message). */
GBytes *nb_signal_message_seal (const NbSignalMessage *msg,
                                const NbWgKey         *our_private,
                                const char            *our_key,
                                const char            *remote_key,
                                GError               **error);

/* Test hook: the same with a caller-chosen nonce, for known-answer tests.
 * Never use it for real traffic. */
GBytes *nb_signal_message_seal_with_nonce (const NbSignalMessage *msg,
                                           const guint8           nonce[NB_BOX_NONCE_LEN],
                                           const NbWgKey         *our_private,
                                           const char            *our_key,
                                           const char            *remote_key,
                                           GError               **error);

/* Opens the wire bytes of an EncryptedMessage addressed to @our_key: checks
 * the sender key and the recipient, opens the body with (sender key,
 * @our_private) and decodes it. Errors, in the order they are checked:
 * BAD_PROTOBUF, BAD_SENDER_KEY, NOT_FOR_US, OPEN_FAILED, then those of
 * nb_signal_message_decode_body(). Safe on any input. */
NbSignalMessage *nb_signal_message_open (const guint8  *data,
                                         gsize          len,
                                         const NbWgKey *our_private,
                                         const char    *our_key,
                                         GError       **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (NbSignalOffer, nb_signal_offer_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NbSignalCandidate, nb_signal_candidate_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NbSignalMessage, nb_signal_message_free)

G_END_DECLS
