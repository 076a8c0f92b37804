/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * NbHandshaker: the offer/answer exchange with one remote peer (NetBird's
 * client/internal/peer/handshaker.go), without network: messages go out
 * through a send function the owner supplies (the engine passes
 * nb_handshaker_send_via_signal_client) and come in through
 * nb_handshaker_receive(), which the owner calls with the signal messages
 * from this peer.
 *
 * Role: we are the controller when our key string compares greater than the
 * remote's (Go's `local > remote` on the base64 strings, wg-key.h). The
 * controller runs the guard's ticker, is the controlling ICE agent and picks
 * its own relay server.
 *
 * Our side of every OFFER/ANSWER is built at send time from the owner's
 * local-state function (ICE ufrag/pwd and ICE session id of the current ICE
 * session, WireGuard listen port, our relay instance URL and IP, version,
 * Rosenpass key/address, features). Like NetBird, once the remote stops
 * sending ICE credentials we leave ours out too (ufrag/pwd and session id);
 * they come back when the remote sends them again.
 *
 * Receiving (all from an idle source of the thread-default main context,
 * never from inside nb_handshaker_receive()):
 *   OFFER      "remote-offer" is emitted, then an ANSWER is sent, built
 *              after the handlers ran (so it carries the ICE session the
 *              owner started for this offer, as NetBird does). A re-offer
 *              of the remote session already in use is still answered.
 *   ANSWER     "remote-answer" is emitted (no reply).
 *   CANDIDATE  "remote-candidate" is emitted.
 * Other types (MODE, GO_IDLE, ...) are not taken (FALSE); messages whose
 * sender key is set and is not the remote key are dropped.
 *
 * Session ids (5 random bytes per ICE session, NetBird's ICESessionID) are
 * compared as NetBird compares them: equal or not (they are random, there is
 * no order). NetBird uses this only to skip re-creating an ICE agent for a
 * repeated session. We also remember the remote's superseded sessions: when
 * an OFFER/ANSWER brings a new remote session id the previous one becomes
 * stale, and any later OFFER, ANSWER or CANDIDATE carrying a stale id (a
 * late delivery) is dropped. Messages without a session id (old clients, a
 * remote without ICE) are never stale. "session_changed" in the signals
 * tells the owner whether the remote started a new ICE session (TRUE for the
 * first remote offer/answer; FALSE for a repeat of the current one or a
 * message without session id after the first).
 *
 * Answer matching. NetBird matches an answer to nothing: whichever answer
 * arrives is used (timing only). We keep the last offer we sent as
 * "outstanding" together with the local ICE session id it carried:
 *   - an ANSWER while an offer is outstanding and our local session is
 *     still the one that offer carried is MATCHED (emitted with
 *     matched = TRUE) and the offer is no longer outstanding;
 *   - otherwise (no offer outstanding, or our local session changed since,
 *     so the answer was for an ICE session we have abandoned) the answer is
 *     UNSOLICITED: dropped as a duplicate when it repeats the remote session
 *     already in use, else emitted with matched = FALSE (NetBird would use
 *     it; the remote did start a session for us). The guard's next offer
 *     carries our current session either way.
 * NetBird's answers do not name the offer they answer, so the local session
 * is the best we can match on without a wire change.
 *
 * Busy: NetBird's seed dropped an offer/answer arriving while the previous
 * one was being processed; newer NetBird keeps only the newest pending one
 * for its relay worker. We queue instead and keep the newest: an OFFER
 * received while another OFFER is still queued replaces it (likewise for
 * ANSWER); candidates are queued in order. Nothing is dropped for being
 * busy.
 *
 * No initial random sleep here: the first offer is the guard's (guard.h,
 * start_jitter_ms for bulk starts).
 */
#pragma once

#include <glib-object.h>

#include "signal-msg.h"

G_BEGIN_DECLS

/* Sends @msg to @remote_key; FALSE with @error when it cannot be sent. */
typedef gboolean (*NbHandshakerSendFunc) (const char            *remote_key,
                                          const NbSignalMessage *msg,
                                          gpointer               user_data,
                                          GError               **error);

/* Fills @out (a fresh nb_signal_offer_new()) with our current local state:
 * ufrag/pwd (empty: no ICE), wg_listen_port, version, rosenpass_pub_key /
 * rosenpass_addr, relay_server_address / relay_server_ip (NULL: no relay),
 * has_session_id/session_id of our current ICE session, features. */
typedef void (*NbHandshakerLocalFunc) (NbSignalOffer *out,
                                       gpointer       user_data);

#define NB_TYPE_HANDSHAKER (nb_handshaker_get_type ())
G_DECLARE_FINAL_TYPE (NbHandshaker, nb_handshaker, NB, HANDSHAKER, GObject)

/*
 * Signals (all emitted from an idle source; arguments are borrowed):
 *   "remote-offer"     (NbHandshaker *, const NbSignalOffer *offer,
 *                       gboolean session_changed)
 *   "remote-answer"    (NbHandshaker *, const NbSignalOffer *answer,
 *                       gboolean session_changed, gboolean matched)
 *   "remote-candidate" (NbHandshaker *, const NbSignalCandidate *candidate)
 * Property:
 *   "remote-ice-supported" boolean, read-only, notified on change: whether
 *                       the remote's last offer/answer had ICE credentials
 *                       (TRUE until the first one). When it turns FALSE the
 *                       owner closes its ICE worker, as NetBird does.
 */

/* @local_key, @remote_key: base64 WireGuard public keys (our own, the
 * peer's). Returns NULL (critical) for keys that are not valid. */
NbHandshaker *nb_handshaker_new (const char *local_key, const char *remote_key);

void nb_handshaker_set_sender     (NbHandshaker         *self,
                                   NbHandshakerSendFunc  func,
                                   gpointer              user_data,
                                   GDestroyNotify        destroy);
void nb_handshaker_set_local_func (NbHandshaker          *self,
                                   NbHandshakerLocalFunc  func,
                                   gpointer               user_data,
                                   GDestroyNotify         destroy);

/* An NbHandshakerSendFunc for an NbSignalClient (@user_data). */
gboolean nb_handshaker_send_via_signal_client (const char            *remote_key,
                                               const NbSignalMessage *msg,
                                               gpointer               user_data,
                                               GError               **error);

/* Generates a new ICE session id (5 random bytes, libsodium). */
void nb_handshaker_new_session_id (guint8 out[NB_SIGNAL_SESSION_ID_LEN]);

/* NetBird's controller rule: @local_key > @remote_key as strings. */
gboolean nb_handshaker_is_controller_for (const char *local_key, const char *remote_key);

const char *nb_handshaker_get_local_key (NbHandshaker *self);
const char *nb_handshaker_get_remote_key (NbHandshaker *self);
gboolean    nb_handshaker_is_controller (NbHandshaker *self);

/* Builds an OFFER from the current local state and sends it; on success it
 * becomes the outstanding offer. Needs a sender (without a local function
 * the offer is empty). Errors: those of the send function. */
gboolean nb_handshaker_send_offer (NbHandshaker *self, GError **error);

/* Takes a message from the remote for processing (copied; the signals come
 * later from an idle source). Returns FALSE for types other than OFFER,
 * ANSWER and CANDIDATE, and for messages from another sender. */
gboolean nb_handshaker_receive (NbHandshaker *self, const NbSignalMessage *msg);

/* Drops queued, unprocessed messages and forgets the outstanding offer
 * (the owner closes the connection). Remote tracking is kept. */
void nb_handshaker_reset (NbHandshaker *self);

/* What the remote last told us (from the last OFFER/ANSWER taken). */
const NbSignalOffer *nb_handshaker_get_remote_params (NbHandshaker *self);
/* The remote's NetBird version; NULL before its first offer/answer. */
const char *nb_handshaker_get_remote_version (NbHandshaker *self);
gboolean    nb_handshaker_remote_has_feature (NbHandshaker *self, guint32 feature);
gboolean    nb_handshaker_get_remote_ice_supported (NbHandshaker *self);
/* The remote's current ICE session id; FALSE when none is known. */
gboolean    nb_handshaker_get_remote_session_id (NbHandshaker *self,
                                                 guint8        out[NB_SIGNAL_SESSION_ID_LEN]);
gboolean    nb_handshaker_has_outstanding_offer (NbHandshaker *self);

typedef struct {
  guint offers_sent;
  guint answers_sent;
  guint send_failures;
  guint offers_received;      /* taken (emitted) */
  guint answers_received;     /* taken (emitted) */
  guint candidates_received;  /* taken (emitted) */
  guint dropped_stale;        /* stale session id */
  guint dropped_duplicate;    /* unsolicited answer repeating the session */
  guint coalesced;            /* queued offer/answer replaced by a newer one */
} NbHandshakerStats;

void nb_handshaker_get_stats (NbHandshaker *self, NbHandshakerStats *out);

G_END_DECLS
