/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * NbRelayManager: the relay connections of one peer, as NetBird's
 * shared/relay/client Manager, ServerPicker and Guard keep them.
 *
 * Home relay. nb_relay_manager_start() dials every server of the list from
 * management's RelayConfig at once (at most 7 at a time, like NetBird's
 * picker) and keeps the first that authenticates as the home relay
 * ("home-ready" with its instance URL, the address we tell peers in offers).
 * The others are closed, also those still connecting. A pick that finds no
 * server within the pick timeout (30 s) fails as a whole.
 *
 * Losing the home relay emits "home-lost". Like NetBird's guard, the
 * manager then waits 1.5 s and tries once more the same server (if it is
 * still listed); if that fails it picks again among all listed servers,
 * right away and then with a capped exponential backoff (2 s doubling up to
 * 60 s, +-50 %). A failed first pick enters the same retry loop. Every home
 * relay established after a loss or a failed pick emits "home-ready" and
 * then "relay-reconnected" (the engine's guards re-offer on it); the
 * first successful pick after start emits only "home-ready".
 *
 * Virtual connections. nb_relay_manager_open_conn_async() with no server
 * URL, or with the home relay's instance URL (or the URL we dialled for
 * it), opens the virtual connection on the home relay. Any other URL (a
 * peer's relay from its offer, when the controller rule picks the peer's
 * server) is a foreign relay: the manager connects to it with the same
 * token (one connection per URL, shared by every peer on it, dialled once
 * however many opens wait for it) and opens the virtual connection there.
 * Like NetBird, every open fails with NOT_READY while there is no home
 * relay. A foreign relay is not reconnected: when its connection ends
 * ("foreign-closed" with the reason) its virtual connections are closed
 * (their "closed") and the next open dials it afresh. A foreign relay
 * without an open virtual connection and without a waiting open is closed
 * after the grace time (5 s, NetBird's keepUnusedServerTime;
 * "foreign-closed" with a NULL reason). Closing or dropping the last
 * virtual connection starts the grace time at once; a connection closed
 * with nb_relay_conn_close() while still referenced is noticed by the
 * periodic sweep (60 s, NetBird's cleanup interval).
 *
 * Token. nb_relay_manager_set_token() takes management's newest RelayConfig
 * token and hands it to every relay connection (home, candidates, foreign);
 * each uses it for its next authentication.
 *
 * Signals (emitted from the main context, never from inside a call on the
 * manager):
 *   "home-ready"        (NbRelayManager *, const char *instance_url)
 *   "home-lost"         (NbRelayManager *, const GError *reason)
 *   "relay-reconnected" (NbRelayManager *)
 *   "foreign-closed"    (NbRelayManager *, const char *server_url,
 *                        const GError *reason_or_NULL)
 *
 * One thread, the thread-default main context of the creator. The token
 * never reaches a log line and is wiped when replaced or freed.
 */
#pragma once

#include <gio/gio.h>

#include "relay-client.h"

G_BEGIN_DECLS

#define NB_RELAY_MANAGER_DEFAULT_FOREIGN_GRACE_MS         5000
#define NB_RELAY_MANAGER_DEFAULT_CLEANUP_INTERVAL_MS      60000
#define NB_RELAY_MANAGER_DEFAULT_QUICK_RECONNECT_DELAY_MS 1500
#define NB_RELAY_MANAGER_DEFAULT_BACKOFF_INITIAL_MS       2000
#define NB_RELAY_MANAGER_DEFAULT_BACKOFF_MAX_MS           60000
#define NB_RELAY_MANAGER_DEFAULT_PICK_TIMEOUT_MS          30000
#define NB_RELAY_MANAGER_MAX_CONCURRENT_SERVERS           7

#define NB_RELAY_MANAGER_ERROR (nb_relay_manager_error_quark ())
GQuark nb_relay_manager_error_quark (void);

/**
 * NbRelayManagerError:
 * @NB_RELAY_MANAGER_ERROR_NO_TOKEN: started without a token.
 * @NB_RELAY_MANAGER_ERROR_NOT_READY: no home relay (not started, or lost).
 * @NB_RELAY_MANAGER_ERROR_STOPPED: the manager was stopped while the open
 *   was waiting.
 * @NB_RELAY_MANAGER_ERROR_NO_SERVERS: a pick found no listed server.
 * @NB_RELAY_MANAGER_ERROR_PICK_TIMEOUT: no server authenticated within the
 *   pick timeout.
 *
 * Failures of one relay connection (refused, auth rejected, EXISTS, ...)
 * keep their NB_RELAY_CLIENT_ERROR.
 */
typedef enum {
  NB_RELAY_MANAGER_ERROR_NO_TOKEN,
  NB_RELAY_MANAGER_ERROR_NOT_READY,
  NB_RELAY_MANAGER_ERROR_STOPPED,
  NB_RELAY_MANAGER_ERROR_NO_SERVERS,
  NB_RELAY_MANAGER_ERROR_PICK_TIMEOUT,
} NbRelayManagerError;

#define NB_TYPE_RELAY_MANAGER (nb_relay_manager_get_type ())
G_DECLARE_FINAL_TYPE (NbRelayManager, nb_relay_manager, NB, RELAY_MANAGER, GObject)

/* @peer_key: our WireGuard public key as base64 text. */
NbRelayManager *nb_relay_manager_new (const char *peer_key);

/* The relay URLs from management (rel:// or rels://); copied. Used by the
 * next pick and the next quick-reconnect check; connections up now stay. */
void        nb_relay_manager_set_servers (NbRelayManager     *self,
                                          const char * const *urls);
const char * const *nb_relay_manager_get_servers (NbRelayManager *self);

/* Management's RelayConfig token (tokenPayload, tokenSignature). FALSE + an
 * NB_RELAY_MSG_ERROR when it cannot be encoded; then nothing changes. */
gboolean    nb_relay_manager_set_token (NbRelayManager *self,
                                        const char     *token_payload,
                                        const char     *token_signature,
                                        GError        **error);

/* Pick the home relay and keep one. FALSE + NO_TOKEN without a token.
 * Starting a started manager does nothing. */
gboolean    nb_relay_manager_start (NbRelayManager *self,
                                    GError        **error);
/* Close every relay connection (their virtual connections get "closed"),
 * stop retrying, fail waiting opens with STOPPED (from an idle callback).
 * Emits no manager signal. The manager can be started again. */
void        nb_relay_manager_stop (NbRelayManager *self);

gboolean    nb_relay_manager_is_ready (NbRelayManager *self);
/* The home relay's instance URL (from its auth response); NULL when there
 * is no home relay. */
const char *nb_relay_manager_get_home_instance_url (NbRelayManager *self);
/* The listed URL the home relay was dialled with; NULL without a home. */
const char *nb_relay_manager_get_home_server_url (NbRelayManager *self);
/* The home relay connection (peer-state subscriptions); NULL without one. */
NbRelayClient *nb_relay_manager_get_home_client (NbRelayManager *self);
/* Why the last pick or reconnect failed; NULL once a home relay is up. */
const GError *nb_relay_manager_get_last_error (NbRelayManager *self);

/* TRUE when @server_url names neither the home relay nor is NULL. */
gboolean    nb_relay_manager_is_foreign (NbRelayManager *self,
                                         const char     *server_url);
/* Foreign relay connections kept (connecting or connected). */
guint       nb_relay_manager_get_n_foreign (NbRelayManager *self);
gboolean    nb_relay_manager_has_foreign (NbRelayManager *self,
                                          const char     *server_url);

/* Open the virtual connection to @peer_key on the home relay
 * (@server_url NULL or the home's) or on the foreign relay @server_url.
 * The connection is opened right before @callback runs: connect to its
 * "message" and "closed" there, so that an early message is not missed. */
void        nb_relay_manager_open_conn_async (NbRelayManager     *self,
                                              const char         *peer_key,
                                              const char         *server_url,
                                              GCancellable       *cancellable,
                                              GAsyncReadyCallback callback,
                                              gpointer            user_data);
NbRelayConn *nb_relay_manager_open_conn_finish (NbRelayManager *self,
                                                GAsyncResult   *result,
                                                GError        **error);

/* Tuning, mainly for tests. Grace and sweep apply from the next timer; the
 * others from the next attempt. */
void        nb_relay_manager_set_foreign_grace (NbRelayManager *self,
                                                guint           grace_ms);
void        nb_relay_manager_set_cleanup_interval (NbRelayManager *self,
                                                   guint           interval_ms);
void        nb_relay_manager_set_quick_reconnect_delay (NbRelayManager *self,
                                                        guint           delay_ms);
void        nb_relay_manager_set_backoff (NbRelayManager *self,
                                          guint           initial_ms,
                                          guint           max_ms);
void        nb_relay_manager_set_pick_timeout (NbRelayManager *self,
                                               guint           timeout_ms);
/* Passed to every relay connection created afterwards (relay-client.h). */
void        nb_relay_manager_set_connect_timeout (NbRelayManager *self,
                                                  guint           timeout_ms);
void        nb_relay_manager_set_auth_timeout (NbRelayManager *self,
                                               guint           timeout_ms);
void        nb_relay_manager_set_health_timeout (NbRelayManager *self,
                                                 guint           timeout_ms);
void        nb_relay_manager_set_tls_database (NbRelayManager *self,
                                               GTlsDatabase   *database);

G_END_DECLS
