/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * NbEngine: one NetBird peer (NetBird's client/internal/engine.go, the
 * parts about peers). It owns the control-plane clients (management,
 * signal, relay manager), follows management's network map (adds, updates
 * and removes NbPeerConn), routes signal messages to the peer connections
 * by sender key, and drives one WireGuard device through NbWgBackend,
 * which its owner gives it (the CLI: NbWgUapi; the NetworkManager service:
 * its own). No NetworkManager here, no IP or DNS handling: the overlay
 * address, routes and DNS are reported ("network-map") for the owner to
 * apply.
 *
 * Start: identity from the state directory (a WireGuard private key file,
 * made 0600 on first start; never logged), management login (setup key
 * only when not registered yet), WireGuard device set up (private key,
 * listen port), then Sync, signal and relay clients; "started" when the
 * first network map is applied. Failures before "started" are the start's
 * GError (wrong setup key, unreachable management, bad key file ...). The
 * login is bounded by the management client's deadlines (mgmt-client.h);
 * the first network map must follow within NB_ENGINE_START_TIMEOUT_MS
 * (G_IO_ERROR_TIMED_OUT otherwise). nb_engine_stop() during the start
 * fails it with NB_ENGINE_ERROR_STOPPED, cancelling the start's
 * cancellable with G_IO_ERROR_CANCELLED; a failed start leaves the engine
 * stopped (make a new one to retry).
 *
 * Peers: every remote peer of the map gets an NbPeerConn, updated in place
 * and closed when it leaves. It opens once signal has registered us and
 * the home relay is up (or NB_ENGINE_RELAY_WAIT_MS passed without one): an
 * earlier offer would be lost or name no relay. When ten or more are
 * created at once, their first offers are spread over 300 ms
 * (start_jitter_ms); otherwise they go at once. Signal messages reach the
 * connection of their sender key (unknown senders are dropped); signal and
 * relay reconnects are passed to every connection's guard.
 *
 * Status: the NbStatusRecorder (nb_engine_get_status()) holds the peers'
 * records (the connections write them), management/signal/relay states
 * and, every stats interval (NB_ENGINE_DEFAULT_STATS_INTERVAL_MS), each
 * peer's WireGuard handshake time and byte counters. A stats read that
 * finds the device gone (NB_WG_ERROR_NOT_RUNNING / DIED) fails the engine.
 *
 * Signals (main context):
 *   "started"       (NbEngine *)
 *   "network-map"   (NbEngine *, const NbNetworkMap *map): after each
 *                   applied map (own address, routes, DNS for the owner)
 *   "failed"        (NbEngine *, const GError *reason): the engine cannot go
 *                   on (peer removed or login expired at management, the
 *                   WireGuard device died); it has stopped itself. Only
 *                   after "started" (before, the start fails instead).
 * Nothing is emitted after nb_engine_stop() (the status recorder still
 * reports the peers' removal from its idle source).
 *
 * Log domain "nb-engine".
 */
#pragma once

#include <gio/gio.h>

#include "network-map.h"
#include "peer-conn.h"
#include "peer-status.h"
#include "wg-backend.h"

G_BEGIN_DECLS

#define NB_ENGINE_DEFAULT_INTERFACE   "wt0"
#define NB_ENGINE_DEFAULT_LISTEN_PORT 51820
#define NB_ENGINE_PRIVATE_KEY_FILE    "wg-private.key"
/* What we tell management and peers (a real server treats versions below
 * 0.29.3 as old, and peers use it for feature checks): NetBird's version
 * whose behaviour we follow. */
#define NB_ENGINE_NETBIRD_VERSION     "0.36.0"
#define NB_ENGINE_START_TIMEOUT_MS    30000  /* login done -> first map */
#define NB_ENGINE_DEFAULT_STATS_INTERVAL_MS 2000
/* A batch of at least this many new peers spreads its first offers. */
#define NB_ENGINE_BULK_START_PEERS    10
#define NB_ENGINE_BULK_START_JITTER_MS 300
/* Peer connections open once signal is registered and the home relay is
 * up, or this long after the relay manager started without one. */
#define NB_ENGINE_RELAY_WAIT_MS       5000
/* Peer names (management's custom zones) are answered on the overlay
 * address, as NetBird's client does (dns-server.h). */
#define NB_ENGINE_DNS_PORT            53

#define NB_ENGINE_ERROR (nb_engine_error_quark ())
GQuark nb_engine_error_quark (void);

typedef enum {
  NB_ENGINE_ERROR_INVALID_CONFIG,
  NB_ENGINE_ERROR_STATE,       /* state directory or key file */
  NB_ENGINE_ERROR_STOPPED,     /* stopped before it started */
} NbEngineError;

typedef struct {
  char    *management_url;     /* required */
  char    *setup_key;          /* secret; NULL when already registered */
  char    *state_dir;          /* required; created 0700 if missing */
  char    *hostname;           /* NULL: the machine's */
  guint16  listen_port;        /* WireGuard's; 0: NB_ENGINE_DEFAULT_LISTEN_PORT */
  gboolean force_relay;        /* no ICE */
  gboolean allow_direct;       /* default TRUE */
  char    *preshared_key;      /* secret: WireGuard pre-shared key (base64) for every
                                * peer, NetBird's PreSharedKey; NULL: none */
  char   **interface_blacklist;/* NULL: NetBird's list */
  char    *exit_node;          /* NULL or "auto": management's choice; "none";
                                * else a route network ID (route-peers.h) */
  guint16  dns_port;           /* the peer-name resolver's port on the overlay
                                * address; 0: NB_ENGINE_DNS_PORT */
  gboolean no_dns;             /* serve no peer names */
  GTlsDatabase *tls_database;  /* NULL: the system's */
} NbEngineConfig;

void nb_engine_config_init  (NbEngineConfig *config);
void nb_engine_config_clear (NbEngineConfig *config);   /* wipes the setup key */

#define NB_TYPE_ENGINE (nb_engine_get_type ())
G_DECLARE_FINAL_TYPE (NbEngine, nb_engine, NB, ENGINE, GObject)

/* @config is copied. @backend: the WireGuard device (referenced; the
 * owner starts and stops it). */
NbEngine *nb_engine_new (const NbEngineConfig *config,
                         NbWgBackend          *backend,
                         GError              **error);

void     nb_engine_start_async  (NbEngine            *self,
                                 GCancellable        *cancellable,
                                 GAsyncReadyCallback  callback,
                                 gpointer             user_data);
gboolean nb_engine_start_finish (NbEngine      *self,
                                 GAsyncResult  *result,
                                 GError       **error);
/* Closes every peer connection (WireGuard peers removed), stops the
 * clients. Idempotent. The WireGuard peer removals complete later
 * (the backend's requests are asynchronous). */
void     nb_engine_stop (NbEngine *self);
/* nb_engine_stop(), completing once every WireGuard peer removal issued
 * so far (by this stop, an earlier one, or a peer leaving the map) has
 * completed, so that the owner may stop the WireGuard device after it:
 * TRUE, or FALSE with the first removal's error (each failure is logged
 * too); G_IO_ERROR_CANCELLED when @cancellable fires first (the removals
 * go on). Completes from the main loop, never inside this call. */
void     nb_engine_stop_async   (NbEngine            *self,
                                 GCancellable        *cancellable,
                                 GAsyncReadyCallback  callback,
                                 gpointer             user_data);
gboolean nb_engine_stop_finish  (NbEngine      *self,
                                 GAsyncResult  *result,
                                 GError       **error);

const char       *nb_engine_get_public_key (NbEngine *self);
NbStatusRecorder *nb_engine_get_status     (NbEngine *self);
/* The last applied map; NULL before the first. */
const NbNetworkMap *nb_engine_get_network_map (NbEngine *self);
/* The network ID of the exit node in use (its 0.0.0.0/0 and ::/0 are
 * the routing peer's allowed IPs; the owner makes the tunnel the default
 * route), or NULL. While there is one, the engine's own sockets are bound
 * to the devices they leave through (uplink.h), so that its traffic does
 * not follow the default route into the tunnel. */
const char         *nb_engine_get_exit_node (NbEngine *self);
/* Where the peer names are answered (the overlay IPv4 address and the
 * DNS port) while the map has custom zones; NULL otherwise, or when the
 * socket could not be bound (logged). */
GInetSocketAddress *nb_engine_get_dns_address (NbEngine *self);
/* Borrowed; NULL for an unknown key. */
NbPeerConn       *nb_engine_get_peer_conn  (NbEngine *self, const char *key);
/* The local network changed (NM's roaming/resume events): every peer
 * re-gathers at once. */
void              nb_engine_network_changed (NbEngine *self);
/* How often WireGuard's statistics are read into the status (ms, > 0;
 * default NB_ENGINE_DEFAULT_STATS_INTERVAL_MS). Applies at once. */
void              nb_engine_set_stats_interval (NbEngine *self, guint interval_ms);

G_END_DECLS
