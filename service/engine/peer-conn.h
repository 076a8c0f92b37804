/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * NbPeerConn: the connection to one remote peer (NetBird's peer.Conn,
 * client/internal/peer/conn.go): its handshaker, guard, ICE worker (a new
 * one per ICE session), relay worker and WireGuard proxy, the active path
 * and its priority, and the WireGuard peer entry.
 *
 * Paths and priorities: ICE P2P (NB_WORKER_ICE_PRIORITY_P2P, 2) above ICE
 * via TURN and the relay server (1). A path that becomes ready while a
 * better or equal one is active is kept as a backup; a better one takes
 * over at once (make-before-break: the old path stays open and keeps
 * delivering); when the active path fails, the best connected backup takes
 * over; with none left the peer is Disconnected and the guard re-offers.
 *
 * WireGuard endpoint. The peer is added to WireGuard when the connection
 * opens, with its allowed IPs, persistent keepalive 25 s and the proxy's
 * address as endpoint, so WireGuard's first handshake initiation reaches
 * the proxy and is replayed when a path comes up (wg-proxy.h). Every path
 * runs through the proxy, whose transport follows the active path; the
 * endpoint itself changes only for a direct path: when the selected ICE
 * pair is host <-> host (no NAT, no relay between us) and the remote told
 * its WireGuard listen port, WireGuard talks to the remote's WireGuard
 * directly (remote candidate address, remote WireGuard port) once the
 * first handshake has completed through the proxy. Leaving a direct path
 * sets the proxy endpoint back (before the transport switches). For 5 s
 * after going direct the endpoint is checked and set again if a late
 * datagram through the proxy made WireGuard roam back to it.
 *
 * First handshake. Only the controller's WireGuard starts with persistent
 * keepalive (and so initiates at once); the other side's gets it after the
 * first handshake (or 10 s on a path without one): two initiations that
 * cross make both sides drop their own and wait 5 s for WireGuard's retry.
 * An initiation that got no response is sent again (nb_wg_proxy_replay_
 * handshake) every 400 ms, up to 5 times, after a path comes up: the far
 * end of a relayed conn may open a moment later and drop what came first.
 * If it was the response that got lost, the remote's WireGuard would drop
 * the repeated initiation as a replay; the remote's proxy answers it with
 * the response it remembered instead (wg-proxy.h, "Lost responses").
 *
 * Candidates. Each local ICE candidate goes to the remote as it is
 * gathered, and all gathered so far go again after every OFFER/ANSWER we
 * send for that ICE session and when a remote ANSWER binds a worker that
 * had gathered already: the signal server drops messages for a peer that
 * is not registered yet, and a remote that missed our candidates would
 * know us only as peer-reflexive (no host/host pair, no direct path).
 * Repeats are harmless: libnice updates a known remote candidate in place.
 *
 * Fast failover (traffic watchdog). libnice notices a dead pair only after
 * 7-10 s. While a second path is connected, every 250 ms: the active path
 * is "suspect" when it delivered nothing for 1 s while we kept sending
 * (proxy datagrams, or WireGuard's tx bytes when direct) or while the
 * other path delivered; a suspect path is left at once for the best other
 * one (make-before-break) and is not chosen again until it delivers again,
 * or until it has been suspect for 12 s with its worker still connected.
 *
 * Status: every change goes into the engine's NbStatusRecorder (status,
 * connection type, ICE and relay status, candidates, endpoints, relay
 * server), and NbPeerConn emits "connected"/"disconnected". Latency is the
 * round trip of the last WireGuard handshake our WireGuard initiated
 * through the proxy (wg-proxy.h, "Round trip"; libnice does not expose
 * the ICE pair's RTT that NetBird reports): updated whenever a response
 * comes back through the proxy. A direct path bypasses the proxy, so
 * there the value of the last handshake through it stays (WireGuard
 * re-handshakes every 2 minutes, but directly).
 *
 * Offers while signal is down: an offer that fails because the signal
 * client is not connected is sent again as soon as the engine reports
 * signal back (nb_peer_conn_signal_reconnected), not at the guard's next
 * tick.
 *
 * Signals (main context, never from inside a public call):
 *   "connected"    (NbPeerConn *): the first path became ready
 *   "disconnected" (NbPeerConn *): the last path failed
 *   "path-changed" (NbPeerConn *): the active path changed, or WireGuard
 *                  went direct / back to the proxy (is_direct())
 *
 * Log domain "nb-peer".
 */
#pragma once

#include <gio/gio.h>

#include "handshaker.h"
#include "network-map.h"
#include "peer-status.h"
#include "relay-manager.h"
#include "signal-client.h"
#include "wg-backend.h"
#include "worker-ice.h"

G_BEGIN_DECLS

#define NB_PEER_CONN_PERSISTENT_KEEPALIVE_S 25

typedef enum {
  NB_PEER_PATH_NONE,
  NB_PEER_PATH_ICE,      /* P2P or via TURN: see the selected pair */
  NB_PEER_PATH_RELAY,
} NbPeerPath;

const char *nb_peer_path_to_string (NbPeerPath path);

/*
 * What every peer connection of one engine shares; owned by the engine,
 * borrowed by the connections (it outlives them). Fields may change while
 * connections exist (new STUN/TURN lists apply to the next ICE session).
 */
typedef struct {
  char              *local_key;        /* our public key, base64 */
  NbSignalClient    *signal;           /* may be NULL in tests that set a sender */
  NbRelayManager    *relay;            /* NULL: no relay */
  NbWgBackend       *wg;
  NbStatusRecorder  *status;
  GInetSocketAddress *wg_address;      /* WireGuard's listen socket, for the proxy */
  guint16            wg_listen_port;   /* told to peers in offers */
  GPtrArray         *stuns;            /* NbHostConfig * */
  GPtrArray         *turns;            /* NbTurnConfig * */
  char             **interface_blacklist;  /* NULL: NetBird's list */
  char             **routed_networks;  /* remote candidates inside are dropped */
  char             **local_addresses;  /* NULL: all (filtered); else host
                                        * candidates only on these IP literals
                                        * (tests, fixed setups) */
  gboolean           force_relay;      /* no ICE: relay server only */
  gboolean           relay_over_ice;   /* gather TURN relay candidates (default TRUE) */
  gboolean           allow_direct;     /* host<->host pairs skip the proxy (default TRUE) */
  NbWgKey           *preshared_key;    /* NULL: none; a secret, wiped by _clear() */
  guint              start_jitter_ms;  /* passed to the guard */
  const char        *version;          /* our NetBird-compatible version */
} NbPeerConnContext;

/* Fills the defaults (relay_over_ice, allow_direct TRUE; all else zero). */
void nb_peer_conn_context_init  (NbPeerConnContext *ctx);
/* Frees what the context owns (strings, arrays; drops references). */
void nb_peer_conn_context_clear (NbPeerConnContext *ctx);

#define NB_TYPE_PEER_CONN (nb_peer_conn_get_type ())
G_DECLARE_FINAL_TYPE (NbPeerConn, nb_peer_conn, NB, PEER_CONN, GObject)

/* @peer: the network map's entry (copied). NULL + GError for a bad key or
 * bad allowed IPs. */
NbPeerConn *nb_peer_conn_new (NbPeerConnContext  *ctx,
                              const NbRemotePeer *peer,
                              GError            **error);

/* Replaces the sender of offers, answers and candidates (default:
 * nb_handshaker_send_via_signal_client with ctx->signal). For tests that
 * connect two peer connections directly; call before nb_peer_conn_open(). */
void nb_peer_conn_set_signal_sender (NbPeerConn           *self,
                                     NbHandshakerSendFunc  func,
                                     gpointer              user_data,
                                     GDestroyNotify        destroy);

/* Adds the WireGuard peer (endpoint: the proxy), adds the status record,
 * starts the guard (first offer). */
void nb_peer_conn_open  (NbPeerConn *self);
/* Closes workers, proxy and guard, removes the WireGuard peer and the
 * status record. No signal after this. Idempotent. */
void nb_peer_conn_close (NbPeerConn *self);
/* The same, completing when the WireGuard peer removal it issued has
 * been applied (FALSE + the backend's error when it failed; the failure
 * is logged too), or at once (TRUE, from the main loop) when there was
 * nothing to remove (never opened, already closed, no backend). The task
 * holds a reference on @self. */
void     nb_peer_conn_close_async  (NbPeerConn          *self,
                                    GAsyncReadyCallback  callback,
                                    gpointer             user_data);
gboolean nb_peer_conn_close_finish (NbPeerConn          *self,
                                    GAsyncResult        *result,
                                    GError             **error);

/* A signal message from this peer (the engine routes by sender key). */
void nb_peer_conn_on_signal_message (NbPeerConn            *self,
                                     const NbSignalMessage *msg);
/* The network map changed this peer (allowed IPs, FQDN): applied in
 * place, no reconnect. */
void nb_peer_conn_update (NbPeerConn *self, const NbRemotePeer *peer);

/* Engine events, forwarded to the guard. After a signal reconnect, an
 * offer that failed for want of signal also goes again at once. */
void nb_peer_conn_signal_reconnected (NbPeerConn *self);
void nb_peer_conn_relay_reconnected  (NbPeerConn *self);
void nb_peer_conn_network_changed    (NbPeerConn *self);

const char *nb_peer_conn_get_remote_key (NbPeerConn *self);
NbPeerPath  nb_peer_conn_get_active_path (NbPeerConn *self);
/* NB_WORKER_ICE_PRIORITY_* of the active path. */
guint       nb_peer_conn_get_active_priority (NbPeerConn *self);
gboolean    nb_peer_conn_is_connected (NbPeerConn *self);
/* TRUE when WireGuard talks to the remote directly (no proxy). */
gboolean    nb_peer_conn_is_direct (NbPeerConn *self);
/* The current ICE worker's selected pair; NULL while ICE is not connected. */
const NbIcePairInfo *nb_peer_conn_get_ice_pair (NbPeerConn *self);
/* The WireGuard proxy's address (the peer's endpoint unless direct); NULL
 * before open and after close. */
GInetSocketAddress  *nb_peer_conn_get_proxy_address (NbPeerConn *self);

G_END_DECLS
