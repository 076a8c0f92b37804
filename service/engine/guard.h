/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * NbGuard: when to (re-)send an OFFER to one remote peer. NetBird's
 * connection guard (client/internal/peer/guard), both roles, with our
 * changes. The guard knows nothing of signal or ICE: its inputs are method
 * calls, its only output is the "send-offer" signal; the owner (the peer
 * connection) answers it with nb_handshaker_send_offer().
 *
 * The guard's view of the connection (NetBird's isConnectedOnAllWay /
 * evalConnStatus), from the states the owner reports:
 *   CONNECTED     ICE is up or an attempt is in progress (CONNECTING), and
 *                 relay is up or not used with this peer; or ICE is not
 *                 available (remote without ICE, forced relay) and relay is
 *                 up.
 *   PARTIAL       relay is up, ICE is available but DISCONNECTED (relayed).
 *   DISCONNECTED  anything else (no path, or ICE up but a usable relay down).
 *
 * Controller (our key string > remote key string):
 *   - start: the first offer at once (no 0-300 ms sleep as in NetBird's
 *     seed; @start_jitter_ms spreads the first offers of a bulk start);
 *   - then an exponential ticker: 0.8 s, x2, +-10 %, capped at
 *     @max_interval_ms (NetBird: random 30-45 s per peer); on each tick an
 *     offer is sent when the view is not CONNECTED. It never gives up (the
 *     2024 seed stopped after 30 min; NetBird no longer does);
 *   - the ticker restarts from 0.8 s on an ICE or relay disconnect (a path
 *     going CONNECTED -> DISCONNECTED), and on signal reconnect, relay
 *     reconnect and network change. As in NetBird the first offer after a
 *     restart is one initial interval later, not immediate.
 * Non-controller:
 *   - start: one offer (same @start_jitter_ms);
 *   - one offer (from a zero-delay timer, coalesced) on each ICE or relay
 *     disconnect and on each signal reconnect, relay reconnect and network
 *     change. No ticker.
 * Both roles, our addition ("return to P2P"): while PARTIAL (relayed, ICE
 * down) an offer goes at least every @ice_reprobe_interval_ms (+-jitter),
 * for as long as it stays relayed. For the controller this is a lower cap
 * of its ticker while relayed (the quick 0.8/1.6/3.2 s retries after a
 * disconnect stay); entering PARTIAL pulls a later pending tick forward.
 * NetBird (2026) retries ICE 3 times and then hourly; with the 20 s default
 * a path that allows P2P again is found within ~20 s plus one ICE attempt.
 * A tick or re-probe that finds ICE CONNECTING sends nothing (an attempt is
 * in flight), like NetBird.
 *
 * Timers are one-shot GSources on the thread-default main context of the
 * thread that created the guard, through an injectable NbGuardClock (tests
 * use a fake clock). "send-offer" is only ever emitted from a timer
 * callback, never from inside a public call.
 */
#pragma once

#include <glib-object.h>

G_BEGIN_DECLS

#define NB_GUARD_DEFAULT_INITIAL_INTERVAL_MS  800
#define NB_GUARD_DEFAULT_MULTIPLIER           2.0
#define NB_GUARD_DEFAULT_JITTER               0.1
/* max_interval_ms = 0 picks uniformly in this range (NetBird's
 * PeerConnectionTimeoutMin/Max). */
#define NB_GUARD_DEFAULT_MAX_INTERVAL_MIN_MS  30000
#define NB_GUARD_DEFAULT_MAX_INTERVAL_MAX_MS  45000
#define NB_GUARD_DEFAULT_ICE_REPROBE_MS       20000

/* What the owner reports for one path (ICE, relay). */
typedef enum {
  NB_GUARD_PATH_UNAVAILABLE,    /* not usable with this peer (relay: no relay
                                 * on one side; ICE: remote sends no ICE
                                 * credentials, or relay is forced) */
  NB_GUARD_PATH_DISCONNECTED,
  NB_GUARD_PATH_CONNECTING,     /* an attempt is in progress */
  NB_GUARD_PATH_CONNECTED,
} NbGuardPathState;

typedef enum {
  NB_GUARD_CONN_DISCONNECTED,
  NB_GUARD_CONN_PARTIAL,
  NB_GUARD_CONN_CONNECTED,
} NbGuardConnStatus;

/* Why an offer is requested ("send-offer" argument). */
typedef enum {
  NB_GUARD_REASON_START,
  NB_GUARD_REASON_TICK,               /* controller ticker, view DISCONNECTED */
  NB_GUARD_REASON_ICE_REPROBE,        /* view PARTIAL (relayed) */
  NB_GUARD_REASON_ICE_DISCONNECTED,   /* non-controller events */
  NB_GUARD_REASON_RELAY_DISCONNECTED,
  NB_GUARD_REASON_SIGNAL_RECONNECTED,
  NB_GUARD_REASON_RELAY_RECONNECTED,
  NB_GUARD_REASON_NETWORK_CHANGED,
} NbGuardReason;

const char *nb_guard_reason_to_string (NbGuardReason reason);
const char *nb_guard_path_state_to_string (NbGuardPathState state);

/* Tuning; nb_guard_config_init() fills NetBird's values and ours. All
 * intervals in milliseconds. */
typedef struct {
  guint initial_interval_ms;      /* 800 */
  double multiplier;              /* 2.0, >= 1.0 */
  double jitter;                  /* 0.1, 0.0 .. 1.0 */
  guint max_interval_ms;          /* 0: random 30000..45000 (per guard) */
  guint ice_reprobe_interval_ms;  /* 20000; 0 turns re-probing off */
  guint start_jitter_ms;          /* 0: first offer at once; the engine sets
                                   * it (e.g. 300) only when it starts many
                                   * peers at once */
} NbGuardConfig;

void nb_guard_config_init (NbGuardConfig *config);

/*
 * Time source and one-shot timers. @now_ms: a monotonic clock in ms.
 * @add_timeout: calls @func (@func_data) once after @delay_ms (0 = as soon
 * as possible), returns a non-zero id; @func's return value is ignored.
 * @remove: cancels a timer that has not fired yet. The guard never removes
 * a timer that already fired.
 */
typedef struct {
  gint64 (*now_ms)      (gpointer clock_data);
  guint  (*add_timeout) (guint delay_ms, GSourceFunc func, gpointer func_data, gpointer clock_data);
  void   (*remove)      (guint id, gpointer clock_data);
} NbGuardClock;

#define NB_TYPE_GUARD (nb_guard_get_type ())
G_DECLARE_FINAL_TYPE (NbGuard, nb_guard, NB, GUARD, GObject)

/*
 * Signal:
 *   "send-offer" (NbGuard *, guint reason): send an offer now (reason is an
 *                NbGuardReason). Emitted from a timer callback.
 */

/* @config NULL: defaults. Initial path states: ICE DISCONNECTED, relay
 * UNAVAILABLE (unknown until the remote's first offer names a relay). */
NbGuard *nb_guard_new (gboolean controller, const NbGuardConfig *config);

/* Test hook: replaces the timer source; only before nb_guard_start().
 * @clock is copied; @clock_data must outlive the guard. */
void nb_guard_set_clock (NbGuard *self, const NbGuardClock *clock, gpointer clock_data);

/* Schedules the first offer; starting a started guard does nothing. */
void nb_guard_start (NbGuard *self);
/* Cancels all timers; no "send-offer" after this. May be started again. */
void nb_guard_stop (NbGuard *self);
gboolean nb_guard_is_started (NbGuard *self);

/* Inputs. Path changes CONNECTED -> DISCONNECTED are disconnect events. */
void nb_guard_ice_state_changed   (NbGuard *self, NbGuardPathState state);
void nb_guard_relay_state_changed (NbGuard *self, NbGuardPathState state);
void nb_guard_signal_reconnected  (NbGuard *self);
void nb_guard_relay_reconnected   (NbGuard *self);
/* Local network change (NetBird's ICE candidate monitor): same as a
 * reconnect. */
void nb_guard_network_changed     (NbGuard *self);

gboolean          nb_guard_is_controller  (NbGuard *self);
NbGuardConnStatus nb_guard_get_conn_status (NbGuard *self);
/* The cap in effect (resolved when max_interval_ms was 0). */
guint             nb_guard_get_max_interval (NbGuard *self);
/* Offers requested since creation. */
guint             nb_guard_get_offer_count (NbGuard *self);

G_END_DECLS
