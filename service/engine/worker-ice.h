/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * NbWorkerIce: the ICE worker of one peer connection, for one ICE session
 * (NetBird's WorkerICE, client/internal/peer/worker_ice.go), on libnice.
 *
 * One worker = one libnice agent with one stream of one UDP component.
 * NetBird makes a new agent, with fresh credentials, for every offer; so
 * does the engine with workers: a worker that disconnected, failed or was
 * closed is done, and the next attempt takes a new one.
 *
 * Life cycle:
 *   nb_worker_ice_new (config)        agent configured, local credentials
 *                                     made (NetBird's: ufrag 16, pwd 32
 *                                     characters of [a-zA-Z]); put them in
 *                                     the offer/answer.
 *   nb_worker_ice_start (ufrag, pwd)  gathering starts; local candidates
 *                                     trickle out through "local-candidate"
 *                                     (send each through signal). With
 *                                     NULL credentials, gathering starts
 *                                     and checks wait for
 *                                     nb_worker_ice_set_remote_credentials.
 *   nb_worker_ice_add_remote_candidate  for each candidate from signal
 *                                     (kept until the remote credentials
 *                                     are known).
 *   "connected"                       with the selected pair.
 *   "disconnected" / "failed"         the worker is done.
 *   nb_worker_ice_close ()            at any time; releases TURN
 *                                     allocations.
 *
 * NetBird's timings and how they map onto libnice 0.1.21:
 *   - connection checks that find no pair within disconnected + failed
 *     timeouts (6 s + 6 s; pion's rule for the Checking state) give
 *     "failed". Our own timer (config->failed_timeout_ms), started when the
 *     remote credentials are known.
 *   - a pair with a relay candidate is reported no earlier than 2 s after
 *     the checks started (pion's RelayAcceptanceMinWait), so that a direct
 *     pair found meanwhile wins. libnice has no such knob: it nominates
 *     what it likes (aggressive nomination, upgrading to better pairs); the
 *     worker holds back the "connected" signal for a relayed pair until
 *     the wait is over and then reports the pair selected at that time.
 *   - keepalive every 4 s, disconnected after 6 s without an answer:
 *     libnice's intervals are compile-time constants. With RFC 7675 consent
 *     freshness enabled (as here) it sends a binding request on the
 *     selected pair every 4-6 s (5 s +-20 %, at least 4 s) and declares the
 *     pair failed 10 s after the last answer; the worker reports that as
 *     "disconnected". After a path cut that takes 4-10 s (NetBird: about
 *     6 s).
 *   - pion checks one pair every 200 ms; libnice paces checks with its Ta
 *     timer (20 ms). Left at libnice's default.
 *
 * Candidates: host candidates come only from the addresses
 * nb_ice_local_addresses() leaves (interface deny list) or from
 * config->local_addresses; server-reflexive ones from one STUN server
 * (libnice takes one) and from TURN allocations; relayed ones from TURN
 * over UDP (nice_agent_set_relay_info), when config->relay is set. A STUN
 * server with the same host and port as a TURN server in use is not given
 * to libnice: libnice drops the binding answers of such a server ("lab
 * F10"); the TURN allocation yields the server-reflexive candidate anyway.
 * No ICE-TCP, no UPnP, no mDNS. Remote candidates must be UDP, component 1,
 * IP literals outside config->routed_networks; others are logged
 * (rate-limited) and dropped.
 *
 * Signals are emitted from an idle source of the thread-default main
 * context the worker was made in, never from inside a public call. Data
 * ("data" signal or the receive function) is delivered straight from
 * libnice's socket source.
 *
 * Secrets: the TURN passwords and the ICE passwords are never logged. The
 * worker keeps no copy of a TURN password (libnice keeps its own, and does
 * not wipe it: a libnice limit) and wipes its ICE password when finalized.
 * libnice prints the TURN password only with NICE_DEBUG verbose logging,
 * and ICE passwords with any NICE_DEBUG logging: keep NICE_DEBUG unset.
 *
 * Log domain "nb-ice".
 */
#pragma once

#include <gio/gio.h>

#include "network-map.h"
#include "signal-msg.h"

G_BEGIN_DECLS

/* NetBird's ICE timings (client/internal/peer/ice/agent.go). */
#define NB_WORKER_ICE_KEEPALIVE_MS                 4000
#define NB_WORKER_ICE_DISCONNECTED_TIMEOUT_MS      6000
#define NB_WORKER_ICE_FAILED_TIMEOUT_MS            6000
#define NB_WORKER_ICE_RELAY_ACCEPTANCE_MIN_WAIT_MS 2000
/* What the worker waits for a first pair: pion fails the Checking state
 * after disconnected + failed timeouts. */
#define NB_WORKER_ICE_DEFAULT_CHECK_TIMEOUT_MS \
  (NB_WORKER_ICE_DISCONNECTED_TIMEOUT_MS + NB_WORKER_ICE_FAILED_TIMEOUT_MS)

/* NetBird's connection priorities (conntype.ConnPriority). */
#define NB_WORKER_ICE_PRIORITY_NONE 0
#define NB_WORKER_ICE_PRIORITY_TURN 1   /* ICE with a relay candidate on either side */
#define NB_WORKER_ICE_PRIORITY_P2P  2   /* ICE without relay candidates */

#define NB_WORKER_ICE_ERROR (nb_worker_ice_error_quark ())
GQuark nb_worker_ice_error_quark (void);

/**
 * NbWorkerIceError:
 * @NB_WORKER_ICE_ERROR_INVALID: a configuration value or argument is not
 *   valid (routed network not a CIDR, port range reversed, local address
 *   not an IP literal, remote credentials not ice-chars, STUN/TURN URI
 *   that does not parse).
 * @NB_WORKER_ICE_ERROR_MALFORMED: a remote candidate that cannot be used
 *   (unparsable line, component other than 1, not an IP literal, ...).
 * @NB_WORKER_ICE_ERROR_FILTERED: a well-formed remote candidate that we do
 *   not use by policy (inside a routed network, IPv6 while IPv6 is off).
 * @NB_WORKER_ICE_ERROR_STATE: not possible in this state (started twice,
 *   closed, finished, not connected, too many early candidates).
 * @NB_WORKER_ICE_ERROR_NO_ADDRESS: no local address is left to gather on.
 * @NB_WORKER_ICE_ERROR_FAILED: libnice refused (gathering, sending).
 */
typedef enum {
  NB_WORKER_ICE_ERROR_INVALID,
  NB_WORKER_ICE_ERROR_MALFORMED,
  NB_WORKER_ICE_ERROR_FILTERED,
  NB_WORKER_ICE_ERROR_STATE,
  NB_WORKER_ICE_ERROR_NO_ADDRESS,
  NB_WORKER_ICE_ERROR_FAILED,
} NbWorkerIceError;

/**
 * NbIceState:
 * @NB_ICE_STATE_NEW: made, not started.
 * @NB_ICE_STATE_GATHERING: started, waiting for the remote credentials.
 * @NB_ICE_STATE_CHECKING: connectivity checks running.
 * @NB_ICE_STATE_CONNECTED: "connected" was emitted; data can flow.
 * @NB_ICE_STATE_DISCONNECTED: the connected pair stopped answering.
 * @NB_ICE_STATE_FAILED: no pair worked in time (or gathering failed).
 * @NB_ICE_STATE_CLOSED: nb_worker_ice_close() was called.
 */
typedef enum {
  NB_ICE_STATE_NEW,
  NB_ICE_STATE_GATHERING,
  NB_ICE_STATE_CHECKING,
  NB_ICE_STATE_CONNECTED,
  NB_ICE_STATE_DISCONNECTED,
  NB_ICE_STATE_FAILED,
  NB_ICE_STATE_CLOSED,
} NbIceState;

#define NB_TYPE_ICE_STATE (nb_ice_state_get_type ())
GType       nb_ice_state_get_type (void);
const char *nb_ice_state_to_string (NbIceState state);

/* NetBird's connection type of an ICE path. */
typedef enum {
  NB_ICE_CONN_P2P,   /* no relay candidate on either side */
  NB_ICE_CONN_TURN,  /* a relay candidate on at least one side */
} NbIceConnClass;

const char *nb_ice_conn_class_to_string (NbIceConnClass cls); /* "P2P", "TURN" */

/*
 * The selected candidate pair (NetBird's ICEConnInfo, less the remote
 * connection and Rosenpass fields).
 *
 * @local_socket is the address of our UDP socket that sends on this pair
 * when our local candidate is not a relay candidate (host or
 * peer-reflexive base): the remote peer's WireGuard can reach us there
 * directly. NULL when the local candidate is a TURN relay: then only a
 * proxy bridging send()/"data" can carry WireGuard.
 */
typedef struct {
  NbSignalCandidateType local_type;
  NbSignalCandidateType remote_type;
  char *local_endpoint;           /* "ip:port" / "[ip6]:port" */
  char *remote_endpoint;
  GInetSocketAddress *local_socket;   /* nullable, see above */
  GInetSocketAddress *remote_address; /* the remote candidate */
  gboolean relayed;               /* a relay candidate on either side */
  gboolean relayed_on_local;      /* our candidate is a relay candidate */
  NbIceConnClass conn_class;
  guint priority;                 /* NB_WORKER_ICE_PRIORITY_P2P / _TURN */
  gboolean controlling;           /* our configured role (libnice 0.1.21 hides a
                                   * role switched by a conflict) */
  guint connect_ms;               /* checks start to this report */
} NbIcePairInfo;

#define NB_TYPE_ICE_PAIR_INFO (nb_ice_pair_info_get_type ())
GType          nb_ice_pair_info_get_type (void);
NbIcePairInfo *nb_ice_pair_info_copy (const NbIcePairInfo *info);
void           nb_ice_pair_info_free (NbIcePairInfo *info);
/* One line for logs: "host 10.0.0.1:4000 <-> relay 10.0.0.9:49160 (TURN)". */
char          *nb_ice_pair_info_to_string (const NbIcePairInfo *info);

/*
 * What a worker is made from. Plain value, read during nb_worker_ice_new()
 * only (everything is copied). A zeroed struct is a valid configuration:
 * controlled role, no STUN/TURN, NetBird's default interface deny list,
 * IPv4 and IPv6, any local port, no routed networks, NetBird's timings.
 */
typedef struct {
  gboolean controlling;                /* we are the controller (local key > remote key) */
  const GPtrArray *stuns;              /* NbHostConfig* (network map), nullable */
  const GPtrArray *turns;              /* NbTurnConfig* (network map), nullable */
  gboolean relay;                      /* gather relay candidates from the TURN servers */
  gboolean force_relay;                /* relay candidates only (NB_ICE_FORCE_RELAY_CONN) */
  /* Interface name prefixes that give no host candidates: NULL means
   * NetBird's default list; an empty list ({ NULL }) filters nothing. */
  const char *const *interface_blacklist;
  /* If non-NULL and non-empty: host candidates only on these IP literals
   * (the deny list is not used). For tests and fixed setups. */
  const char *const *local_addresses;
  gboolean disable_ipv6;               /* NetBird's DisableIPv6Discovery */
  guint16 min_port, max_port;          /* local UDP port range; 0, 0 = any */
  /* CIDRs routed through the tunnel: remote candidates inside are dropped. */
  const char *const *routed_networks;
  /* 0 = NB_WORKER_ICE_DEFAULT_CHECK_TIMEOUT_MS. */
  guint check_timeout_ms;
  /* 0 = NB_WORKER_ICE_RELAY_ACCEPTANCE_MIN_WAIT_MS; G_MAXUINT = no wait. */
  guint relay_acceptance_min_wait_ms;
} NbWorkerIceConfig;

#define NB_TYPE_WORKER_ICE (nb_worker_ice_get_type ())
G_DECLARE_FINAL_TYPE (NbWorkerIce, nb_worker_ice, NB, WORKER_ICE, GObject)

/*
 * Signals:
 *   "local-candidate"  (NbSignalCandidate *candidate): a local candidate
 *       was gathered; send it to the peer (nb_signal_message_new_candidate
 *       on a copy). Owned by the worker for the emission.
 *   "gathering-done"   (): no more local candidates.
 *   "connected"        (NbIcePairInfo *pair): a pair works; once.
 *   "selected-pair-changed" (NbIcePairInfo *pair): libnice switched to
 *       another pair after "connected" (a better one nominated).
 *   "disconnected"     (const char *reason): the connected pair stopped
 *       answering, or close() after "connected". Final.
 *   "failed"           (const char *reason): no pair worked in time, or
 *       the connection broke before it was reported. Final.
 *   "data"             (GBytes *datagram): a datagram from the peer; only
 *       when no receive function is set.
 * Property "state" (NbIceState, read-only): changes at once (the getter
 * is never behind), "notify::state" goes out from the idle source with the
 * signal that goes with the change.
 */

/* Returns NULL with @error (INVALID) for an unusable configuration.
 * STUN/TURN URIs that do not parse or that libnice cannot use (stuns:,
 * turns:, TURN over TCP, more than 8 TURN servers) are skipped with a
 * message, like the network map skips bad entries. */
NbWorkerIce *nb_worker_ice_new (const NbWorkerIceConfig *config, GError **error);

/* Our credentials for the offer/answer; valid for the worker's lifetime. */
void     nb_worker_ice_get_local_credentials (NbWorkerIce *self,
                                              const char **ufrag,
                                              const char **pwd);
/* The configured role (see NbIcePairInfo.controlling). */
gboolean nb_worker_ice_is_controlling (NbWorkerIce *self);

/* Starts gathering, and the checks if @remote_ufrag/@remote_pwd are given
 * (both or neither). Errors: STATE (not NEW), INVALID (credentials),
 * NO_ADDRESS, FAILED (libnice). On error the worker stays NEW. */
gboolean nb_worker_ice_start (NbWorkerIce *self,
                              const char  *remote_ufrag,
                              const char  *remote_pwd,
                              GError     **error);
/* The remote credentials when start() had none. Errors: STATE (not
 * GATHERING), INVALID. */
gboolean nb_worker_ice_set_remote_credentials (NbWorkerIce *self,
                                               const char  *remote_ufrag,
                                               const char  *remote_pwd,
                                               GError     **error);

/* A trickled remote candidate. Before the checks start, candidates are
 * kept (up to 64) and applied then. Returns FALSE with @error when the
 * candidate is dropped (MALFORMED, FILTERED, STATE when the worker is
 * finished or the early queue is full); drops are also logged
 * (rate-limited) and counted. */
gboolean nb_worker_ice_add_remote_candidate (NbWorkerIce             *self,
                                             const NbSignalCandidate *candidate,
                                             GError                 **error);
/* The same from a candidate line as it travels in signal (with or without
 * "candidate:"). */
gboolean nb_worker_ice_add_remote_candidate_string (NbWorkerIce *self,
                                                    const char  *line,
                                                    GError     **error);
/* Remote candidates dropped so far. */
guint    nb_worker_ice_get_dropped_candidates (NbWorkerIce *self);

/* Stops everything; the agent goes away (TURN allocations are released in
 * the background). Emits "disconnected" ("closed") later if "connected"
 * was emitted, unless the worker is disposed first. Idempotent. */
void     nb_worker_ice_close (NbWorkerIce *self);

NbIceState           nb_worker_ice_get_state (NbWorkerIce *self);
/* The selected pair once "connected" was emitted (kept after the end);
 * NULL before. */
const NbIcePairInfo *nb_worker_ice_get_selected_pair (NbWorkerIce *self);
/* The selected pair's local socket, NULL if relayed on our side or not
 * connected (see NbIcePairInfo.local_socket). */
GInetSocketAddress  *nb_worker_ice_get_local_socket_address (NbWorkerIce *self);

/* Sends one datagram on the selected pair. Possible once libnice has a
 * selected pair (also while a relayed pair waits to be reported).
 * Errors: STATE (no pair, finished), FAILED (libnice could not send,
 * e.g. consent lost or the socket would block). */
gboolean nb_worker_ice_send (NbWorkerIce  *self,
                             const void   *data,
                             gsize         len,
                             GError      **error);
gboolean nb_worker_ice_send_bytes (NbWorkerIce *self, GBytes *datagram, GError **error);

/* Sends @n_datagrams datagrams (@datagrams[i], @lengths[i] bytes) on the
 * selected pair, in order. Returns how many were sent, counted from the
 * first; when that is fewer than @n_datagrams, @error says why (as for
 * nb_worker_ice_send(); the rest are not sent).
 *
 * When our candidate of the selected pair is not a relay candidate, the
 * datagrams leave libnice's socket of the pair directly, as the plain UDP
 * libnice would send: one sendmmsg() per batch, runs of equal-sized
 * datagrams as one UDP GSO (UDP_SEGMENT) send each (segmented again on
 * the way, the peer receives ordinary datagrams; where the kernel refuses
 * GSO the worker sends them one by one from then on). The socket and the
 * remote address are re-read whenever libnice selects another pair, and
 * dropped when the worker finishes. With a relayed local candidate the
 * batch goes through libnice (TURN framing), one call per 64. */
guint    nb_worker_ice_send_batch (NbWorkerIce         *self,
                                   const guint8 *const *datagrams,
                                   const gsize         *lengths,
                                   guint                n_datagrams,
                                   GError             **error);

/* Receives datagrams through @func instead of the "data" signal (no
 * allocation per packet). @data is only valid during the call. */
typedef void (*NbWorkerIceReceiveFunc) (NbWorkerIce  *worker,
                                        const guint8 *data,
                                        gsize         len,
                                        gpointer      user_data);
void nb_worker_ice_set_receive_func (NbWorkerIce           *self,
                                     NbWorkerIceReceiveFunc func,
                                     gpointer               user_data,
                                     GDestroyNotify         notify);

/* libnice agents of finished workers still releasing their TURN
 * allocations, process-wide. A process about to exit iterates its main
 * context until this is 0 (it takes at most a few seconds). */
guint nb_worker_ice_closing_agents (void);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (NbIcePairInfo, nb_ice_pair_info_free)

G_END_DECLS
