/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * NbWorkerRelay: the relay worker of one peer connection (NetBird's
 * WorkerRelay, client/internal/peer/worker_relay.go): a virtual connection
 * to the remote peer through a relay server, and the watcher that declares
 * a relayed path dead when WireGuard's handshake gets too old.
 *
 * Which server: NetBird's rule. The controller (local key > remote key)
 * uses its own home relay; the other side uses the server the remote named
 * in its offer/answer (relayServerAddress), so both meet on the
 * controller's server. nb_worker_relay_open() takes the remote's address
 * and decides; a foreign server goes through NbRelayManager's foreign
 * connections. Without a relay manager that is ready, or without a remote
 * relay address, the relay path is unavailable (nb_worker_relay_open()
 * fails with UNAVAILABLE and nothing is emitted).
 *
 * Life cycle: open -> "connected" (the conn is open and the peer is
 * there, see below; data flows through nb_worker_relay_send() and the
 * receive function) -> "disconnected" with
 * the reason when the virtual connection closes, its relay connection
 * ends, or the handshake watcher fires. After "disconnected" the worker can
 * be opened again (the guard's next offer does that). Opening while open
 * or opening does nothing and succeeds. nb_worker_relay_close() closes
 * without a signal (also none queued before it), and cancels an open still
 * in progress. An open the manager cannot complete (a foreign relay that
 * cannot be reached, ...) ends in "disconnected" with OPEN_FAILED.
 *
 * Once its conn is open the worker subscribes to the peer's state on the
 * relay connection the conn uses (as NetBird's relay client does for an
 * open conn) and unsubscribes when the conn ends: the server's "peer went
 * offline" then closes the conn, so a peer that left the relay (its relay
 * connection ended, or it dropped an unused foreign relay) is noticed.
 *
 * One-sided opens. Opening a conn sends nothing, so an open conn alone
 * does not mean the remote opened its side (its offer may have named no
 * relay): the worker stays OPENING with its conn open until the relay
 * server reports the peer online on that relay connection (the answer to
 * the subscription, or later) or the first datagram from the peer arrives
 * on the conn, whichever is first; only then "connected" (before that
 * datagram is delivered). Without a subscription (it could not be sent)
 * the conn counts as connected at once. "Online" only means the peer is on
 * that server: a peer whose home relay is that server is online before it
 * opens its side, so there the first datagram is the only proof.
 *
 * Handshake watcher (NetBird's wgwatcher): while connected and once
 * nb_worker_relay_watch_handshake() has given it the WireGuard backend and
 * the peer's key, the worker reads the peer's last handshake through
 * nb_wg_backend_get_stats_async() every check interval (5 s). The first
 * reading is the baseline; if the handshake time has not moved past the
 * baseline within the handshake period plus the overtime (3 min + 30 s;
 * WireGuard re-handshakes every 2 min while traffic flows and persistent
 * keepalive keeps traffic flowing), or a handshake becomes older than that,
 * the relayed path is dead: the conn is closed and "disconnected" emitted
 * (NB_WORKER_RELAY_ERROR_HANDSHAKE_TIMEOUT). Stats reading failures are
 * logged and retried; the peer missing from the device counts as no
 * handshake. The watcher is only armed while the relay path is the one
 * WireGuard uses (nb_worker_relay_set_active()): an unused backup path
 * cannot get handshakes. Disarming (inactive, not connected) stops the
 * timer and cancels a pending read; arming again takes a new baseline.
 * Not active until nb_worker_relay_set_active (TRUE).
 *
 * Signals (from the main context, never from inside a public call):
 *   "connected"    (NbWorkerRelay *, const char *server_url): the instance
 *                  URL of the relay the conn is on
 *   "disconnected" (NbWorkerRelay *, const GError *reason)
 *
 * Log domain "nb-relay-worker".
 */
#pragma once

#include <gio/gio.h>

#include "relay-manager.h"
#include "wg-backend.h"

G_BEGIN_DECLS

#define NB_WORKER_RELAY_HANDSHAKE_PERIOD_MS   (3 * 60 * 1000)
#define NB_WORKER_RELAY_HANDSHAKE_OVERTIME_MS (30 * 1000)
#define NB_WORKER_RELAY_CHECK_INTERVAL_MS     5000

#define NB_WORKER_RELAY_ERROR (nb_worker_relay_error_quark ())
GQuark nb_worker_relay_error_quark (void);

typedef enum {
  NB_WORKER_RELAY_ERROR_UNAVAILABLE,       /* no relay on one side */
  NB_WORKER_RELAY_ERROR_CLOSED,            /* conn or its relay connection ended */
  NB_WORKER_RELAY_ERROR_HANDSHAKE_TIMEOUT, /* the watcher fired */
  NB_WORKER_RELAY_ERROR_OPEN_FAILED,       /* the manager could not open it */
} NbWorkerRelayError;

typedef enum {
  NB_WORKER_RELAY_STATE_IDLE,
  NB_WORKER_RELAY_STATE_OPENING,
  NB_WORKER_RELAY_STATE_CONNECTED,
} NbWorkerRelayState;

typedef struct _NbWorkerRelay NbWorkerRelay;

/* Data from the peer, straight from the relay connection's "message":
 * @data is valid only during the call. "connected" is always emitted
 * before the first call for a connection. */
typedef void (*NbWorkerRelayReceiveFunc) (NbWorkerRelay *worker,
                                          const guint8  *data,
                                          gsize          length,
                                          gpointer       user_data);

#define NB_TYPE_WORKER_RELAY (nb_worker_relay_get_type ())
G_DECLARE_FINAL_TYPE (NbWorkerRelay, nb_worker_relay, NB, WORKER_RELAY, GObject)

/* @manager: our relay manager (referenced), or NULL when we have no relay
 * (the worker is then never supported). @local_key, @remote_key: base64
 * WireGuard public keys; they decide the controller rule. The worker
 * lives in the thread-default main context of its creator. */
NbWorkerRelay *nb_worker_relay_new (NbRelayManager *manager,
                                    const char     *local_key,
                                    const char     *remote_key);

/* Whether relaying with this peer is possible now: our manager has a home
 * relay and @remote_relay_address is non-empty. */
gboolean nb_worker_relay_is_supported (NbWorkerRelay *self,
                                       const char    *remote_relay_address);

/* Opens the virtual connection (see the server rule above). FALSE +
 * UNAVAILABLE when relaying is not supported. */
gboolean nb_worker_relay_open (NbWorkerRelay *self,
                               const char    *remote_relay_address,
                               GError       **error);
void     nb_worker_relay_close (NbWorkerRelay *self);

NbWorkerRelayState nb_worker_relay_get_state (NbWorkerRelay *self);
/* The instance URL of the relay in use; NULL unless connected. */
const char *nb_worker_relay_get_server_url (NbWorkerRelay *self);

/* One datagram to the peer. FALSE + CLOSED when not connected; otherwise
 * the relay connection's error (NB_RELAY_CLIENT_ERROR). */
gboolean nb_worker_relay_send (NbWorkerRelay *self,
                               const guint8  *data,
                               gsize          length,
                               GError       **error);
void     nb_worker_relay_set_receive_func (NbWorkerRelay            *self,
                                           NbWorkerRelayReceiveFunc  func,
                                           gpointer                  user_data,
                                           GDestroyNotify            destroy);

/* Handshake watcher inputs (see above). @backend is referenced; NULL
 * stops watching. New inputs take a new baseline. */
void nb_worker_relay_watch_handshake (NbWorkerRelay *self,
                                      NbWgBackend   *backend,
                                      const NbWgKey *remote_public_key);
/* TRUE while WireGuard's endpoint for the peer uses this path. */
void nb_worker_relay_set_active (NbWorkerRelay *self,
                                 gboolean       active);
/* Test hook: the period + overtime and the check interval (defaults
 * NB_WORKER_RELAY_HANDSHAKE_PERIOD_MS + _OVERTIME_MS and
 * NB_WORKER_RELAY_CHECK_INTERVAL_MS). A new timing re-arms the watcher. */
void nb_worker_relay_set_watch_timing (NbWorkerRelay *self,
                                       guint          timeout_ms,
                                       guint          check_interval_ms);

G_END_DECLS
