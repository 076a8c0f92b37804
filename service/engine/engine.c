/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The engine is glue: it owns the clients and the peer connections and
 * passes events between them, so that none of them knows about another.
 * Management is the only source of truth about which peers exist (its
 * "peers-changed"), signal only carries messages to connections that
 * already exist, and the connections write the status themselves; the
 * engine only adds the WireGuard counters, which no connection reads.
 *
 * Start is a chain of asynchronous steps (login, device, first map) with
 * one GTask; every failure on the way stops what was started and ends the
 * task from an idle source, so the caller's callback never runs inside
 * nb_engine_stop() or nb_engine_start_async().
 */
#define G_LOG_DOMAIN "nb-engine"

#include "config.h"

#include "engine.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <sodium.h>
#include <string.h>

#include "dns-server.h"
#include "mgmt-client.h"
#include "nb-sodium.h"
#include "relay-manager.h"
#include "route-peers.h"
#include "signal-client.h"
#include "uplink.h"
#include "wg-key.h"

typedef enum {
  ENGINE_NEW,
  ENGINE_STARTING,
  ENGINE_RUNNING,
  ENGINE_STOPPED,
} EngineState;

struct _NbEngine {
  GObject parent_instance;

  NbEngineConfig config;
  NbWgBackend *backend;
  EngineState state;

  NbWgKey private_key;
  char *public_key;

  NbStatusRecorder *status;
  NbPeerConnContext ctx;
  gboolean ctx_ready;
  GHashTable *conns;            /* remote key -> NbPeerConn (owned) */
  GHashTable *unopened;         /* keys of conns waiting for signal (set) */
  guint closing;                /* closed conns whose WireGuard removal is pending */
  GError *closing_error;        /* the first removal failure among them */
  GPtrArray *stop_waits;        /* StopWait *: nb_engine_stop_async() callers */
  gboolean relay_started;       /* the manager runs (management lists relays) */
  gboolean relay_ready_once;    /* it had a home relay at least once */
  gboolean relay_waited;        /* waited NB_ENGINE_RELAY_WAIT_MS for it */
  guint relay_wait_id;

  NbMgmtClient *mgmt;
  char *mgmt_error;             /* last Sync failure, for the start timeout */
  NbSignalClient *signal;
  GPtrArray *retired_signals;   /* replaced clients, stopped; kept until dispose */
  NbRelayManager *relay;
  char *relay_home_url;         /* listed URL of the home relay, for the status */

  NbNetworkMap *login;          /* the login's answer (own config, NetbirdConfig) */
  NbNetworkMap *map;            /* the last map from Sync */
  GHashTable *routed;           /* remote key -> routed networks it carries, joined (for the log) */
  char *exit_net_id;            /* the exit node in use, or NULL */
  NbDnsServer *dns;             /* the peer names, while the map has custom zones */
  guint map_idle_id;

  GCancellable *cancellable;    /* every request the engine makes; cancelled by stop */
  GTask *start_task;
  GCancellable *start_cancellable;
  gulong start_cancelled_id;
  guint start_cancel_idle_id;
  guint start_timeout_id;
  guint start_return_id;
  GError *start_error;

  guint stats_interval_ms;
  guint stats_timer_id;
  gboolean stats_pending;
};

enum {
  SIGNAL_STARTED,
  SIGNAL_NETWORK_MAP,
  SIGNAL_FAILED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE (NbEngine, nb_engine, G_TYPE_OBJECT)

G_DEFINE_QUARK (nb-engine-error-quark, nb_engine_error)

static void stop_internal (NbEngine *self);
static void start_fail (NbEngine *self, GError *error);
static void stop_waits_complete (NbEngine *self);

/* ------------------------------------------------------------------------ */
/* Configuration */

void
nb_engine_config_init (NbEngineConfig *config)
{
  memset (config, 0, sizeof *config);
  config->allow_direct = TRUE;
}

void
nb_engine_config_clear (NbEngineConfig *config)
{
  if (config->setup_key)
    sodium_memzero (config->setup_key, strlen (config->setup_key));
  g_free (config->setup_key);
  if (config->preshared_key)
    sodium_memzero (config->preshared_key, strlen (config->preshared_key));
  g_free (config->preshared_key);
  g_free (config->management_url);
  g_free (config->state_dir);
  g_free (config->hostname);
  g_strfreev (config->interface_blacklist);
  g_free (config->exit_node);
  g_clear_object (&config->tls_database);
  nb_engine_config_init (config);
}

static void
config_copy (NbEngineConfig *dst, const NbEngineConfig *src)
{
  nb_engine_config_init (dst);
  dst->management_url = g_strdup (src->management_url);
  dst->setup_key = g_strdup (src->setup_key);
  dst->preshared_key = g_strdup (src->preshared_key);
  dst->state_dir = g_strdup (src->state_dir);
  dst->hostname = g_strdup (src->hostname);
  dst->listen_port = src->listen_port ? src->listen_port : NB_ENGINE_DEFAULT_LISTEN_PORT;
  dst->force_relay = src->force_relay;
  dst->allow_direct = src->allow_direct;
  dst->interface_blacklist = g_strdupv (src->interface_blacklist);
  dst->exit_node = g_strdup (src->exit_node);
  dst->dns_port = src->dns_port ? src->dns_port : NB_ENGINE_DNS_PORT;
  dst->no_dns = src->no_dns;
  dst->tls_database = src->tls_database ? g_object_ref (src->tls_database) : NULL;
}

/* Our copy of the setup key is needed once, by the login. */
static void
wipe_setup_key (NbEngine *self)
{
  if (self->config.setup_key)
    sodium_memzero (self->config.setup_key, strlen (self->config.setup_key));
  g_clear_pointer (&self->config.setup_key, g_free);
}

/* ------------------------------------------------------------------------ */
/* Identity */

static gboolean
load_identity (NbEngine *self, GError **error)
{
  g_autofree char *path = g_build_filename (self->config.state_dir, NB_ENGINE_PRIVATE_KEY_FILE, NULL);
  g_autoptr (GError) local = NULL;
  NbWgKey pub = NB_WG_KEY_INIT;

  if (g_mkdir_with_parents (self->config.state_dir, 0700) != 0)
    {
      int saved = errno;

      g_set_error (error, NB_ENGINE_ERROR, NB_ENGINE_ERROR_STATE, "cannot create the state directory %s: %s",
                   self->config.state_dir, g_strerror (saved));
      return FALSE;
    }
  if (!nb_wg_key_load_private_file (path, &self->private_key, &local))
    {
      if (!g_error_matches (local, NB_WG_KEY_ERROR, NB_WG_KEY_ERROR_FILE_NOT_FOUND))
        {
          g_set_error (error, NB_ENGINE_ERROR, NB_ENGINE_ERROR_STATE, "%s: %s", path, local->message);
          return FALSE;
        }
      g_clear_error (&local);
      nb_wg_key_generate_private (&self->private_key);
      if (!nb_wg_key_save_private_file (path, &self->private_key, &local))
        {
          nb_wg_key_clear (&self->private_key);
          g_set_error (error, NB_ENGINE_ERROR, NB_ENGINE_ERROR_STATE, "%s: %s", path, local->message);
          return FALSE;
        }
      g_message ("new WireGuard key in %s", path);
    }
  nb_wg_key_derive_public (&self->private_key, &pub);
  g_free (self->public_key);
  self->public_key = nb_wg_key_to_base64 (&pub);
  g_message ("our public key is %s", self->public_key);
  return TRUE;
}

/* ------------------------------------------------------------------------ */
/* Routed networks: WireGuard sends a packet to the peer whose allowed IPs
 * hold its destination, so each routed network goes into the allowed IPs
 * of the routing peer chosen for it (route-peers.h: connected peers first,
 * then metric). The choice is made again on every map and whenever a peer
 * connects or disconnects. The OS routes are not ours (NetworkManager's,
 * from nm-ip-config.c; nb-engine's user adds them). */

static GHashTable *
route_choice (NbEngine *self)
{
  g_autoptr (GHashTable) connected = g_hash_table_new (g_str_hash, g_str_equal);
  GHashTableIter iter;
  gpointer key, value;

  if (self->map == NULL)
    return g_hash_table_new (g_str_hash, g_str_equal);
  g_hash_table_iter_init (&iter, self->conns);
  while (g_hash_table_iter_next (&iter, &key, &value))
    if (nb_peer_conn_is_connected (value))
      g_hash_table_add (connected, key);
  return nb_route_peers_compute (self->map->routes, self->public_key, self->map->peers, connected,
                                 self->exit_net_id);
}

/* @peer (the map's entry) with the routed networks it carries in
 * @choice (nullable: computed now). */
static NbRemotePeer *
routed_peer (NbEngine *self, GHashTable *choice, const NbRemotePeer *peer)
{
  g_autoptr (GHashTable) own_choice = NULL;
  const char *const *networks;
  g_autofree char *joined = NULL;
  const char *before;

  if (choice == NULL)
    choice = own_choice = route_choice (self);
  networks = g_hash_table_lookup (choice, peer->key);
  joined = networks ? g_strjoinv (", ", (char **) networks) : g_strdup ("");
  before = g_hash_table_lookup (self->routed, peer->key);
  if (g_strcmp0 (before ? before : "", joined) != 0)
    {
      if (*joined != '\0')
        g_message ("peer %s routes %s", peer->key, joined);
      else
        g_message ("peer %s routes nothing now", peer->key);
      g_hash_table_replace (self->routed, g_strdup (peer->key), g_steal_pointer (&joined));
    }
  nb_status_recorder_set_peer_networks (self->status, peer->key, networks);
  return nb_route_peers_extend_peer (peer, networks);
}

/* Every connection's allowed IPs: the map's plus its routed networks
 * (nb_peer_conn_update() changes WireGuard only when they differ). */
static void
routes_refresh (NbEngine *self)
{
  g_autoptr (GHashTable) choice = NULL;
  g_autoptr (GPtrArray) keys = g_ptr_array_new ();
  GHashTableIter iter;
  gpointer key;

  if (self->map == NULL)
    return;
  choice = route_choice (self);
  g_hash_table_iter_init (&iter, self->conns);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    g_ptr_array_add (keys, key);
  for (guint i = 0; i < keys->len; i++)
    {
      const NbRemotePeer *peer = nb_network_map_find_peer (self->map, keys->pdata[i]);
      NbPeerConn *conn = g_hash_table_lookup (self->conns, keys->pdata[i]);
      g_autoptr (NbRemotePeer) routed = NULL;

      if (peer == NULL || conn == NULL)
        continue;
      routed = routed_peer (self, choice, peer);
      nb_peer_conn_update (conn, routed);
    }
}

/* The exit node, chosen again on every map (route-peers.h). Binding our
 * sockets goes first: the owner makes the tunnel the default route only
 * after "network-map". */
static void
exit_node_choose (NbEngine *self)
{
  const char *chosen = nb_route_peers_choose_exit (self->map->routes, self->public_key,
                                                   self->map->peers, self->config.exit_node);

  if (g_strcmp0 (chosen, self->exit_net_id) == 0)
    return;
  g_message ("exit node: %s (setting %s)", chosen ? chosen : "none now",
             self->config.exit_node ? self->config.exit_node : NB_ROUTE_PEERS_EXIT_AUTO);
  g_free (self->exit_net_id);
  self->exit_net_id = g_strdup (chosen);
  nb_uplink_set_enabled (chosen != NULL, nb_wg_backend_get_interface_name (self->backend));
}

static void
exit_node_release (NbEngine *self)
{
  if (self->exit_net_id == NULL)
    return;
  g_clear_pointer (&self->exit_net_id, g_free);
  nb_uplink_set_enabled (FALSE, NULL);
}

const char *
nb_engine_get_exit_node (NbEngine *self)
{
  g_return_val_if_fail (NB_IS_ENGINE (self), NULL);
  return self->exit_net_id;
}

/* ------------------------------------------------------------------------ */
/* Peer names: management's custom zones, answered on the overlay address
 * (the owner points the system's resolver at it). A socket that cannot be
 * bound costs the names, not the connection. */

static gboolean
map_has_zones (const NbNetworkMap *map)
{
  return map != NULL && map->dns != NULL && map->dns->custom_zones->len > 0;
}

/* The overlay IPv4 address of @map, or NULL. */
static GInetAddress *
own_ipv4 (const NbNetworkMap *map)
{
  g_autofree char *text = NULL;
  char *slash;
  GInetAddress *address;

  if (map == NULL || map->own == NULL || map->own->address == NULL)
    return NULL;
  text = g_strdup (map->own->address);
  slash = strchr (text, '/');
  if (slash != NULL)
    *slash = '\0';
  address = g_inet_address_new_from_string (text);
  if (address != NULL && g_inet_address_get_family (address) != G_SOCKET_FAMILY_IPV4)
    g_clear_object (&address);
  return address;
}

static void
dns_stop (NbEngine *self)
{
  if (self->dns == NULL)
    return;
  nb_dns_server_stop (self->dns);
  g_clear_object (&self->dns);
}

static void
dns_apply (NbEngine *self)
{
  g_autoptr (GInetAddress) address = NULL;
  g_autoptr (GSocketAddress) listen = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *text = NULL;

  address = self->config.no_dns || !map_has_zones (self->map) ? NULL : own_ipv4 (self->map);
  if (address == NULL)
    {
      if (self->dns != NULL)
        g_message ("peer names: no longer served");
      dns_stop (self);
      return;
    }
  if (self->dns != NULL
      && !g_inet_address_equal (address, g_inet_socket_address_get_address (nb_dns_server_get_local_address (self->dns))))
    dns_stop (self);
  text = g_inet_address_to_string (address);
  if (self->dns == NULL)
    {
      listen = g_inet_socket_address_new (address, self->config.dns_port);
      self->dns = nb_dns_server_new (G_INET_SOCKET_ADDRESS (listen), &error);
      if (self->dns == NULL)
        {
          g_warning ("peer names not served on %s port %u: %s", text, self->config.dns_port, error->message);
          return;
        }
      g_message ("peer names served on %s port %u", text, self->config.dns_port);
    }
  nb_dns_server_set_zones (self->dns, self->map->dns->custom_zones);
}

GInetSocketAddress *
nb_engine_get_dns_address (NbEngine *self)
{
  g_return_val_if_fail (NB_IS_ENGINE (self), NULL);
  return self->dns ? nb_dns_server_get_local_address (self->dns) : NULL;
}

/* ------------------------------------------------------------------------ */
/* Peer connections */

static void
on_peer_connected (NbPeerConn *conn, gpointer data)
{
  g_message ("peer %s connected (%s)", nb_peer_conn_get_remote_key (conn),
             nb_peer_path_to_string (nb_peer_conn_get_active_path (conn)));
  routes_refresh (data);
}

static void
on_peer_disconnected (NbPeerConn *conn, gpointer data)
{
  g_message ("peer %s disconnected", nb_peer_conn_get_remote_key (conn));
  routes_refresh (data);
}

static void
on_peer_path_changed (NbPeerConn *conn, gpointer data)
{
  g_debug ("peer %s: path %s%s", nb_peer_conn_get_remote_key (conn),
           nb_peer_path_to_string (nb_peer_conn_get_active_path (conn)),
           nb_peer_conn_is_direct (conn) ? " (direct)" : "");
}

static void
weak_ref_free (gpointer data)
{
  g_weak_ref_clear (data);
  g_free (data);
}

static void
conn_closed_cb (GObject *source, GAsyncResult *result, gpointer data)
{
  g_autoptr (NbEngine) self = g_weak_ref_get (data);
  g_autoptr (GError) error = NULL;

  weak_ref_free (data);
  if (!nb_peer_conn_close_finish (NB_PEER_CONN (source), result, &error) && self != NULL
      && self->closing_error == NULL)
    self->closing_error = g_steal_pointer (&error);
  if (self == NULL)
    return;
  self->closing--;
  if (self->closing == 0)
    stop_waits_complete (self);
}

/* The removal of the WireGuard peer is counted until it completed, so
 * that nb_engine_stop_async() can wait for it. */
static void
close_conn (NbEngine *self, NbPeerConn *conn)
{
  GWeakRef *weak = g_new0 (GWeakRef, 1);

  g_weak_ref_init (weak, self);
  g_signal_handlers_disconnect_by_data (conn, self);
  self->closing++;
  nb_peer_conn_close_async (conn, conn_closed_cb, weak);
}

/* Offers, answers and candidates go through whichever signal client the
 * engine has when they are sent, so that a new signal server from
 * management applies to existing connections too. The connection holds a
 * weak reference: it never keeps the engine alive. */
static gboolean
send_via_engine_signal (const char *remote_key, const NbSignalMessage *msg, gpointer user_data, GError **error)
{
  g_autoptr (NbEngine) self = g_weak_ref_get (user_data);

  if (self == NULL || self->signal == NULL)
    {
      g_set_error_literal (error, NB_SIGNAL_CLIENT_ERROR, NB_SIGNAL_CLIENT_ERROR_NOT_CONNECTED, "no signal client");
      return FALSE;
    }
  return nb_signal_client_send (self->signal, remote_key, msg, error);
}

/* An offer sent before signal registered us is lost, and so are the
 * candidates that follow it (the guard re-offers only a tick later, the
 * session's candidates never go again). An offer sent before the home
 * relay is up names no relay, so the remote never joins us there while we
 * may use its relay: a one-sided path. So connections open once signal is
 * up and the home relay is (or is given up on after
 * NB_ENGINE_RELAY_WAIT_MS, as NetBird's client waits for its first pick).
 * "Signal is up" is the client's state now, not "it registered once": the
 * relay (or its wait, or a new map) may come while the stream is down
 * again, or while a replaced client has not registered yet; those
 * connections open on the next "ready"/"reconnected". */
static gboolean
conns_may_open (NbEngine *self)
{
  return self->signal != NULL && nb_signal_client_is_connected (self->signal)
         && (!self->relay_started || self->relay_ready_once || self->relay_waited);
}

static void
add_peer (NbEngine *self, const NbRemotePeer *peer)
{
  GWeakRef *weak;
  g_autoptr (GError) error = NULL;
  NbPeerConn *conn = g_hash_table_lookup (self->conns, peer->key);
  g_autoptr (NbRemotePeer) routed = routed_peer (self, NULL, peer);

  if (conn != NULL)
    {
      nb_peer_conn_update (conn, routed);
      return;
    }
  conn = nb_peer_conn_new (&self->ctx, routed, &error);
  if (conn == NULL)
    {
      g_warning ("peer %s left out: %s", peer->key, error->message);
      return;
    }
  weak = g_new0 (GWeakRef, 1);
  g_weak_ref_init (weak, self);
  nb_peer_conn_set_signal_sender (conn, send_via_engine_signal, weak, weak_ref_free);
  g_signal_connect (conn, "connected", G_CALLBACK (on_peer_connected), self);
  g_signal_connect (conn, "disconnected", G_CALLBACK (on_peer_disconnected), self);
  g_signal_connect (conn, "path-changed", G_CALLBACK (on_peer_path_changed), self);
  g_hash_table_insert (self->conns, g_strdup (peer->key), conn);
  g_debug ("peer %s (%s) added", peer->key, peer->fqdn ? peer->fqdn : "");
  if (conns_may_open (self))
    nb_peer_conn_open (conn);
  else
    g_hash_table_add (self->unopened, g_strdup (peer->key));
}

static void
open_waiting_conns (NbEngine *self)
{
  g_autoptr (GPtrArray) keys = g_ptr_array_new_with_free_func (g_free);
  GHashTableIter iter;
  gpointer key;

  if (!conns_may_open (self))
    return;
  g_hash_table_iter_init (&iter, self->unopened);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    g_ptr_array_add (keys, key);
  g_hash_table_steal_all (self->unopened);
  if (keys->len > 0)
    g_debug ("signal%s up: opening %u peer connections", self->relay_started ? " and relay" : "", keys->len);
  for (guint i = 0; i < keys->len; i++)
    {
      NbPeerConn *conn = g_hash_table_lookup (self->conns, keys->pdata[i]);

      if (conn)
        nb_peer_conn_open (conn);
    }
}

static void
remove_peer (NbEngine *self, const char *key)
{
  NbPeerConn *conn = g_hash_table_lookup (self->conns, key);

  if (conn == NULL)
    return;
  g_debug ("peer %s removed", key);
  close_conn (self, conn);
  g_hash_table_remove (self->unopened, key);
  g_hash_table_remove (self->routed, key);
  g_hash_table_remove (self->conns, key);
}

static void
close_all_conns (NbEngine *self)
{
  GHashTableIter iter;
  gpointer value;

  g_hash_table_iter_init (&iter, self->conns);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    close_conn (self, value);
  g_hash_table_remove_all (self->unopened);
  g_hash_table_remove_all (self->routed);
  g_hash_table_remove_all (self->conns);
}

/* Snapshot of the connections, so that a handler that removes peers
 * cannot break the iteration. */
static GPtrArray *
dup_conns (NbEngine *self)
{
  GPtrArray *conns = g_ptr_array_new_with_free_func (g_object_unref);
  GHashTableIter iter;
  gpointer value;

  g_hash_table_iter_init (&iter, self->conns);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    g_ptr_array_add (conns, g_object_ref (value));
  return conns;
}

/* ------------------------------------------------------------------------ */
/* WireGuard statistics */

static void
stats_cb (GObject *source, GAsyncResult *result, gpointer data)
{
  g_autoptr (NbEngine) self = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (NbWgStats) stats = nb_wg_backend_get_stats_finish (NB_WG_BACKEND (source), result, &error);
  GHashTableIter iter;
  gpointer key;

  self->stats_pending = FALSE;
  if (self->state != ENGINE_RUNNING)
    return;
  if (stats == NULL)
    {
      if (g_error_matches (error, NB_WG_ERROR, NB_WG_ERROR_NOT_RUNNING)
          || g_error_matches (error, NB_WG_ERROR, NB_WG_ERROR_DIED))
        {
          g_autoptr (GError) reason = g_error_new (error->domain, error->code, "the WireGuard device is gone: %s",
                                                   error->message);

          g_warning ("%s", reason->message);
          stop_internal (self);
          g_signal_emit (self, signals[SIGNAL_FAILED], 0, reason);
        }
      else
        g_debug ("reading WireGuard statistics failed: %s", error->message);
      return;
    }
  g_hash_table_iter_init (&iter, self->conns);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    {
      NbWgKey pub = NB_WG_KEY_INIT;
      const NbWgPeerStats *peer;

      if (!nb_wg_key_from_base64 (key, &pub, NULL))
        continue;
      peer = nb_wg_stats_find_peer (stats, &pub);
      if (peer != NULL)
        nb_status_recorder_update_wg_stats (self->status, key, peer->last_handshake_us, peer->rx_bytes,
                                            peer->tx_bytes);
    }
}

static gboolean
stats_tick (gpointer data)
{
  NbEngine *self = data;

  if (!self->stats_pending)
    {
      self->stats_pending = TRUE;
      nb_wg_backend_get_stats_async (self->backend, self->cancellable, stats_cb, g_object_ref (self));
    }
  return G_SOURCE_CONTINUE;
}

static void
stats_start (NbEngine *self)
{
  g_clear_handle_id (&self->stats_timer_id, g_source_remove);
  self->stats_timer_id = g_timeout_add (self->stats_interval_ms, stats_tick, self);
  g_source_set_static_name (g_main_context_find_source_by_id (NULL, self->stats_timer_id), "[nb-engine] stats");
}

/* ------------------------------------------------------------------------ */
/* Signal */

/* "ready" and "reconnected": the open connections' guards re-offer (after
 * "ready" they talked to a signal server that was replaced), the ones that
 * waited for signal open now. */
static void
on_signal_registered (NbSignalClient *signal, gpointer data)
{
  NbEngine *self = data;
  g_autoptr (GPtrArray) conns = NULL;

  nb_status_recorder_set_signal (self->status, nb_signal_client_get_url (signal), TRUE, NULL);
  conns = dup_conns (self);
  for (guint i = 0; i < conns->len; i++)
    if (!g_hash_table_contains (self->unopened, nb_peer_conn_get_remote_key (conns->pdata[i])))
      nb_peer_conn_signal_reconnected (conns->pdata[i]);
  open_waiting_conns (self);
}

static void
on_signal_disconnected (NbSignalClient *signal, const GError *reason, gpointer data)
{
  NbEngine *self = data;

  nb_status_recorder_set_signal (self->status, nb_signal_client_get_url (signal), FALSE,
                                 reason ? reason->message : NULL);
}

static void
on_signal_message (NbSignalClient *signal, const NbSignalMessage *msg, gpointer data)
{
  NbEngine *self = data;
  NbPeerConn *conn = g_hash_table_lookup (self->conns, msg->sender_key);

  if (conn == NULL)
    {
      g_debug ("signal message from unknown peer %s dropped", msg->sender_key);
      return;
    }
  /* Not open yet (waiting for the home relay): our own offer follows, and
   * the remote answers that. */
  if (g_hash_table_contains (self->unopened, msg->sender_key))
    {
      g_debug ("signal message from %s dropped: not connecting yet", msg->sender_key);
      return;
    }
  nb_peer_conn_on_signal_message (conn, msg);
}

static void
signal_retire (NbEngine *self)
{
  if (self->signal == NULL)
    return;
  g_signal_handlers_disconnect_by_data (self->signal, self);
  nb_signal_client_stop (self->signal);
  g_ptr_array_add (self->retired_signals, g_steal_pointer (&self->signal));
}

/* A client for @host unless the current one already talks to it. */
static gboolean
signal_apply (NbEngine *self, const NbHostConfig *host, GError **error)
{
  g_autofree char *url = nb_host_config_to_url (host);
  g_autoptr (NbSignalClient) signal = NULL;

  if (self->signal && g_strcmp0 (nb_signal_client_get_url (self->signal), url) == 0)
    return TRUE;
  signal = nb_signal_client_new (url, &self->private_key, error);
  if (signal == NULL)
    return FALSE;
  if (self->signal)
    g_message ("signal server changed to %s", url);
  signal_retire (self);
  if (self->config.tls_database)
    nb_signal_client_set_tls_database (signal, self->config.tls_database);
  g_signal_connect (signal, "ready", G_CALLBACK (on_signal_registered), self);
  g_signal_connect (signal, "reconnected", G_CALLBACK (on_signal_registered), self);
  g_signal_connect (signal, "disconnected", G_CALLBACK (on_signal_disconnected), self);
  g_signal_connect (signal, "message", G_CALLBACK (on_signal_message), self);
  self->signal = g_steal_pointer (&signal);
  g_clear_object (&self->ctx.signal);
  self->ctx.signal = g_object_ref (self->signal);
  nb_status_recorder_set_signal (self->status, url, FALSE, NULL);
  nb_signal_client_start (self->signal);
  return TRUE;
}

/* ------------------------------------------------------------------------ */
/* Relay */

static void
on_relay_home_ready (NbRelayManager *relay, const char *instance_url, gpointer data)
{
  NbEngine *self = data;
  const char *url = nb_relay_manager_get_home_server_url (relay);

  g_message ("home relay %s (%s)", url, instance_url);
  if (self->relay_home_url && g_strcmp0 (self->relay_home_url, url) != 0)
    nb_status_recorder_set_relay (self->status, self->relay_home_url, FALSE, NULL);
  g_free (self->relay_home_url);
  self->relay_home_url = g_strdup (url);
  nb_status_recorder_set_relay (self->status, url, TRUE, NULL);
  g_clear_handle_id (&self->relay_wait_id, g_source_remove);
  if (!self->relay_ready_once)
    {
      g_autoptr (GPtrArray) conns = dup_conns (self);

      self->relay_ready_once = TRUE;
      /* Connections that did not wait for it re-offer with the relay. */
      for (guint i = 0; i < conns->len; i++)
        if (!g_hash_table_contains (self->unopened, nb_peer_conn_get_remote_key (conns->pdata[i])))
          nb_peer_conn_relay_reconnected (conns->pdata[i]);
      open_waiting_conns (self);
    }
}

static gboolean
relay_wait_cb (gpointer data)
{
  NbEngine *self = data;

  self->relay_wait_id = 0;
  self->relay_waited = TRUE;
  if (g_hash_table_size (self->unopened) > 0)
    g_message ("no home relay after %u ms: connecting peers without it", NB_ENGINE_RELAY_WAIT_MS);
  open_waiting_conns (self);
  return G_SOURCE_REMOVE;
}

static void
on_relay_home_lost (NbRelayManager *relay, const GError *reason, gpointer data)
{
  NbEngine *self = data;

  g_message ("home relay lost: %s", reason ? reason->message : "(no reason)");
  if (self->relay_home_url)
    nb_status_recorder_set_relay (self->status, self->relay_home_url, FALSE, reason ? reason->message : NULL);
}

static void
on_relay_reconnected (NbRelayManager *relay, gpointer data)
{
  NbEngine *self = data;
  g_autoptr (GPtrArray) conns = dup_conns (self);

  for (guint i = 0; i < conns->len; i++)
    if (!g_hash_table_contains (self->unopened, nb_peer_conn_get_remote_key (conns->pdata[i])))
      nb_peer_conn_relay_reconnected (conns->pdata[i]);
}

/* The status lists exactly the relays management lists. */
static void
relay_status_sync (NbEngine *self, const char *const *urls)
{
  GPtrArray *known = nb_status_recorder_get_relays (self->status);
  g_autoptr (GPtrArray) gone = g_ptr_array_new_with_free_func (g_free);

  for (guint i = 0; i < known->len; i++)
    {
      const NbServiceState *state = known->pdata[i];

      if (urls == NULL || !g_strv_contains (urls, state->url))
        g_ptr_array_add (gone, g_strdup (state->url));
    }
  for (guint i = 0; i < gone->len; i++)
    nb_status_recorder_remove_relay (self->status, gone->pdata[i]);
  for (guint i = 0; urls && urls[i]; i++)
    {
      gboolean present = FALSE;

      known = nb_status_recorder_get_relays (self->status);
      for (guint j = 0; j < known->len && !present; j++)
        present = g_strcmp0 (((NbServiceState *) known->pdata[j])->url, urls[i]) == 0;
      if (!present)
        nb_status_recorder_set_relay (self->status, urls[i], FALSE, NULL);
    }
}

static void
relay_apply (NbEngine *self, const NbRelayConfig *relay)
{
  g_autoptr (GError) error = NULL;

  if (relay == NULL || relay->urls[0] == NULL)
    {
      if (self->relay && nb_relay_manager_is_ready (self->relay))
        g_message ("management turned relaying off");
      if (self->relay)
        nb_relay_manager_stop (self->relay);
      self->relay_started = FALSE;
      g_clear_handle_id (&self->relay_wait_id, g_source_remove);
      g_clear_pointer (&self->relay_home_url, g_free);
      relay_status_sync (self, NULL);
      open_waiting_conns (self);
      return;
    }
  if (self->relay == NULL)
    {
      self->relay = nb_relay_manager_new (self->public_key);
      if (self->config.tls_database)
        nb_relay_manager_set_tls_database (self->relay, self->config.tls_database);
      g_signal_connect (self->relay, "home-ready", G_CALLBACK (on_relay_home_ready), self);
      g_signal_connect (self->relay, "home-lost", G_CALLBACK (on_relay_home_lost), self);
      g_signal_connect (self->relay, "relay-reconnected", G_CALLBACK (on_relay_reconnected), self);
      /* Connections created from now on use it; the manager is never
       * replaced, only stopped, so a borrowed pointer stays valid. */
      self->ctx.relay = g_object_ref (self->relay);
    }
  nb_relay_manager_set_servers (self->relay, (const char *const *) relay->urls);
  relay_status_sync (self, (const char *const *) relay->urls);
  if (!nb_relay_manager_set_token (self->relay, relay->token_payload, relay->token_signature, &error))
    {
      g_warning ("management's relay token is unusable: %s", error->message);
      return;
    }
  if (!nb_relay_manager_start (self->relay, &error))
    {
      g_warning ("relay: %s", error->message);
      return;
    }
  if (!self->relay_started)
    {
      self->relay_started = TRUE;
      if (!self->relay_ready_once && !self->relay_waited && !nb_relay_manager_is_ready (self->relay))
        self->relay_wait_id = g_timeout_add (NB_ENGINE_RELAY_WAIT_MS, relay_wait_cb, self);
    }
}

/* ------------------------------------------------------------------------ */
/* Management */

/* STUN/TURN into the context (in place: connections read the arrays when
 * they start an ICE session), signal and relay. */
static gboolean
config_apply (NbEngine *self, const NbNetbirdConfig *config, GError **error)
{
  if (config == NULL)
    return TRUE;
  g_ptr_array_set_size (self->ctx.stuns, 0);
  for (guint i = 0; i < config->stuns->len; i++)
    g_ptr_array_add (self->ctx.stuns, nb_host_config_copy (config->stuns->pdata[i]));
  g_ptr_array_set_size (self->ctx.turns, 0);
  for (guint i = 0; i < config->turns->len; i++)
    g_ptr_array_add (self->ctx.turns, nb_turn_config_copy (config->turns->pdata[i]));
  if (config->signal && !signal_apply (self, config->signal, error))
    return FALSE;
  relay_apply (self, config->relay);
  return TRUE;
}

/* Remote candidates inside networks routed through the tunnel would make
 * ICE loop through WireGuard itself. Not the exit node's default route:
 * it would drop every candidate, and the sockets are bound to their
 * devices instead (exit_node_choose()). */
static void
routes_apply (NbEngine *self, const NbNetworkMap *map)
{
  GPtrArray *networks = g_ptr_array_new ();

  for (guint i = 0; i < map->routes->len; i++)
    {
      const NbRoute *route = map->routes->pdata[i];

      if (route->network && g_strcmp0 (route->peer, self->public_key) != 0
          && !nb_route_is_exit_node (route))
        g_ptr_array_add (networks, g_strdup (route->network));
    }
  g_ptr_array_add (networks, NULL);
  g_strfreev (self->ctx.routed_networks);
  self->ctx.routed_networks = (char **) g_ptr_array_free (networks, FALSE);
}

static gboolean start_complete (NbEngine *self);

static gboolean
map_idle_cb (gpointer data)
{
  NbEngine *self = data;

  self->map_idle_id = 0;
  if (self->state == ENGINE_STARTING && !start_complete (self))
    return G_SOURCE_REMOVE;
  if (self->state == ENGINE_RUNNING && self->map)
    g_signal_emit (self, signals[SIGNAL_NETWORK_MAP], 0, self->map);
  return G_SOURCE_REMOVE;
}

static void
on_mgmt_network_map (NbMgmtClient *mgmt, const NbNetworkMap *map, gpointer data)
{
  NbEngine *self = data;

  g_clear_pointer (&self->map, nb_network_map_free);
  self->map = nb_network_map_copy (map);
  g_clear_pointer (&self->mgmt_error, g_free);
  nb_status_recorder_set_management (self->status, nb_mgmt_client_get_url (mgmt), TRUE, NULL);
  if (map->own != NULL)
    nb_status_recorder_set_local (self->status, map->own->fqdn, map->own->address,
                                  nb_wg_backend_kind_to_string (nb_wg_backend_get_kind (self->backend)),
                                  self->config.listen_port);
  routes_apply (self, map);
  exit_node_choose (self);
  routes_refresh (self);
  dns_apply (self);
  /* After "config-changed" and "peers-changed" of the same update. */
  if (self->map_idle_id == 0)
    self->map_idle_id = g_idle_add (map_idle_cb, self);
}

static void
on_mgmt_config_changed (NbMgmtClient *mgmt, const NbNetbirdConfig *config, gpointer data)
{
  NbEngine *self = data;
  g_autoptr (GError) error = NULL;

  if (!config_apply (self, config, &error))
    g_warning ("management's new configuration: %s", error->message);
}

static void
on_mgmt_peers_changed (NbMgmtClient *mgmt, GPtrArray *added, GPtrArray *removed, GPtrArray *updated,
                       gpointer data)
{
  NbEngine *self = data;

  g_debug ("peers: +%u -%u ~%u", added->len, removed->len, updated->len);
  for (guint i = 0; i < removed->len; i++)
    remove_peer (self, ((const NbRemotePeer *) removed->pdata[i])->key);
  for (guint i = 0; i < updated->len; i++)
    {
      const NbRemotePeer *peer = updated->pdata[i];
      NbPeerConn *conn = g_hash_table_lookup (self->conns, peer->key);

      if (conn)
        {
          g_autoptr (NbRemotePeer) routed = routed_peer (self, NULL, peer);

          nb_peer_conn_update (conn, routed);
        }
      else
        add_peer (self, peer);
    }
  /* Many peers at once: spread their first offers (NetBird's seed slept
   * 0-300 ms per peer; one peer has no reason to wait). */
  self->ctx.start_jitter_ms = added->len >= NB_ENGINE_BULK_START_PEERS ? NB_ENGINE_BULK_START_JITTER_MS : 0;
  for (guint i = 0; i < added->len; i++)
    add_peer (self, added->pdata[i]);
  self->ctx.start_jitter_ms = 0;
}

static void
on_mgmt_disconnected (NbMgmtClient *mgmt, const GError *reason, gpointer data)
{
  NbEngine *self = data;

  g_free (self->mgmt_error);
  self->mgmt_error = g_strdup (reason ? reason->message : NULL);
  nb_status_recorder_set_management (self->status, nb_mgmt_client_get_url (mgmt), FALSE, self->mgmt_error);
}

static void
on_mgmt_reconnected (NbMgmtClient *mgmt, gpointer data)
{
  NbEngine *self = data;

  g_clear_pointer (&self->mgmt_error, g_free);
  nb_status_recorder_set_management (self->status, nb_mgmt_client_get_url (mgmt), TRUE, NULL);
}

/* Peer removed or login expired: nothing to reconnect to. */
static void
on_mgmt_gone (NbMgmtClient *mgmt, const GError *reason, gpointer data)
{
  NbEngine *self = data;
  g_autoptr (NbEngine) hold = g_object_ref (self);

  nb_status_recorder_set_management (self->status, nb_mgmt_client_get_url (mgmt), FALSE, reason->message);
  if (self->state == ENGINE_STARTING)
    {
      start_fail (self, g_error_copy (reason));
      return;
    }
  if (self->state != ENGINE_RUNNING)
    return;
  g_warning ("stopping: %s", reason->message);
  stop_internal (self);
  g_signal_emit (self, signals[SIGNAL_FAILED], 0, reason);
}

/* ------------------------------------------------------------------------ */
/* Start */

static gboolean
start_return_cb (gpointer data)
{
  NbEngine *self = data;
  g_autoptr (GTask) task = g_steal_pointer (&self->start_task);

  self->start_return_id = 0;
  if (self->start_cancellable)
    {
      g_cancellable_disconnect (self->start_cancellable, self->start_cancelled_id);
      self->start_cancelled_id = 0;
      g_clear_object (&self->start_cancellable);
    }
  if (task)
    g_task_return_error (task, g_steal_pointer (&self->start_error));
  return G_SOURCE_REMOVE;
}

/* Ends the start with @error (owned), from an idle source. */
static void
start_fail (NbEngine *self, GError *error)
{
  if (self->start_task == NULL || self->start_return_id != 0)
    {
      g_error_free (error);
      return;
    }
  g_message ("start failed: %s", error->message);
  self->start_error = error;
  stop_internal (self);
  self->start_return_id = g_idle_add_full (G_PRIORITY_DEFAULT, start_return_cb, g_object_ref (self),
                                           g_object_unref);
}

/* The first map is applied: the engine runs. FALSE if the start's owner
 * stopped it from its callback. */
static gboolean
start_complete (NbEngine *self)
{
  g_autoptr (GTask) task = g_steal_pointer (&self->start_task);

  g_clear_handle_id (&self->start_timeout_id, g_source_remove);
  if (self->start_cancellable)
    {
      g_cancellable_disconnect (self->start_cancellable, self->start_cancelled_id);
      self->start_cancelled_id = 0;
      g_clear_object (&self->start_cancellable);
    }
  self->state = ENGINE_RUNNING;
  stats_start (self);
  g_message ("started: %u peers, address %s", g_hash_table_size (self->conns),
             self->map && self->map->own ? self->map->own->address : "(none)");
  g_task_return_boolean (task, TRUE);
  if (self->state != ENGINE_RUNNING)
    return FALSE;
  g_signal_emit (self, signals[SIGNAL_STARTED], 0);
  return self->state == ENGINE_RUNNING;
}

static gboolean
start_timeout_cb (gpointer data)
{
  NbEngine *self = data;

  self->start_timeout_id = 0;
  start_fail (self, g_error_new (G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                                 "no network map from management within %u s%s%s",
                                 NB_ENGINE_START_TIMEOUT_MS / 1000, self->mgmt_error ? ": " : "",
                                 self->mgmt_error ? self->mgmt_error : ""));
  return G_SOURCE_REMOVE;
}

static gboolean
start_cancelled_idle (gpointer data)
{
  NbEngine *self = data;

  self->start_cancel_idle_id = 0;
  if (self->state == ENGINE_STARTING)
    start_fail (self, g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED, "the start was cancelled"));
  return G_SOURCE_REMOVE;
}

/* May run inside g_cancellable_cancel() (or g_cancellable_connect()):
 * only schedule. */
static void
start_cancelled_cb (GCancellable *cancellable, gpointer data)
{
  NbEngine *self = data;

  if (self->start_cancel_idle_id == 0)
    self->start_cancel_idle_id = g_idle_add (start_cancelled_idle, self);
}

static void
context_setup (NbEngine *self)
{
  NbPeerConnContext *ctx = &self->ctx;

  nb_peer_conn_context_init (ctx);
  ctx->local_key = g_strdup (self->public_key);
  ctx->wg = g_object_ref (self->backend);
  ctx->status = g_object_ref (self->status);
  {
    g_autoptr (GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);

    ctx->wg_address = G_INET_SOCKET_ADDRESS (g_inet_socket_address_new (loopback, self->config.listen_port));
  }
  ctx->wg_listen_port = self->config.listen_port;
  ctx->stuns = g_ptr_array_new_with_free_func ((GDestroyNotify) nb_host_config_free);
  ctx->turns = g_ptr_array_new_with_free_func ((GDestroyNotify) nb_turn_config_free);
  ctx->interface_blacklist = g_strdupv (self->config.interface_blacklist);
  ctx->routed_networks = g_new0 (char *, 1);
  ctx->force_relay = self->config.force_relay;
  ctx->allow_direct = self->config.allow_direct;
  if (self->config.preshared_key)
    {
      ctx->preshared_key = g_new0 (NbWgKey, 1);
      /* Checked by nb_engine_new(). */
      nb_wg_key_from_base64 (self->config.preshared_key, ctx->preshared_key, NULL);
    }
  ctx->version = NB_ENGINE_NETBIRD_VERSION;
  self->ctx_ready = TRUE;
}

static void
set_device_cb (GObject *source, GAsyncResult *result, gpointer data)
{
  g_autoptr (NbEngine) self = data;
  g_autoptr (GError) error = NULL;

  if (!nb_wg_backend_set_device_finish (NB_WG_BACKEND (source), result, &error))
    {
      if (self->state == ENGINE_STARTING)
        start_fail (self, g_error_new (error->domain, error->code, "WireGuard device %s: %s",
                                       nb_wg_backend_get_interface_name (self->backend), error->message));
      return;
    }
  if (self->state != ENGINE_STARTING)
    return;
  g_debug ("WireGuard device %s: listen port %u", nb_wg_backend_get_interface_name (self->backend),
           self->config.listen_port);

  if (self->login->config == NULL || self->login->config->signal == NULL)
    {
      start_fail (self, g_error_new_literal (NB_ENGINE_ERROR, NB_ENGINE_ERROR_INVALID_CONFIG,
                                             "management names no signal server"));
      return;
    }
  if (!config_apply (self, self->login->config, &error))
    {
      start_fail (self, g_error_new (error->domain, error->code, "signal: %s", error->message));
      return;
    }
  g_signal_connect (self->mgmt, "network-map", G_CALLBACK (on_mgmt_network_map), self);
  g_signal_connect (self->mgmt, "config-changed", G_CALLBACK (on_mgmt_config_changed), self);
  g_signal_connect (self->mgmt, "peers-changed", G_CALLBACK (on_mgmt_peers_changed), self);
  g_signal_connect (self->mgmt, "disconnected", G_CALLBACK (on_mgmt_disconnected), self);
  g_signal_connect (self->mgmt, "reconnected", G_CALLBACK (on_mgmt_reconnected), self);
  g_signal_connect (self->mgmt, "login-expired", G_CALLBACK (on_mgmt_gone), self);
  g_signal_connect (self->mgmt, "peer-removed", G_CALLBACK (on_mgmt_gone), self);
  self->start_timeout_id = g_timeout_add (NB_ENGINE_START_TIMEOUT_MS, start_timeout_cb, self);
  nb_mgmt_client_start_sync (self->mgmt);
}

static void
login_cb (GObject *source, GAsyncResult *result, gpointer data)
{
  g_autoptr (NbEngine) self = data;
  g_autoptr (GError) error = NULL;
  NbNetworkMap *login = nb_mgmt_client_login_finish (NB_MGMT_CLIENT (source), result, &error);

  wipe_setup_key (self);
  if (login == NULL)
    {
      if (self->state == ENGINE_STARTING)
        {
          nb_status_recorder_set_management (self->status, self->config.management_url, FALSE, error->message);
          start_fail (self, g_error_new (error->domain, error->code, "management login: %s", error->message));
        }
      return;
    }
  self->login = login;
  if (self->state != ENGINE_STARTING)
    return;
  g_message ("logged in to %s: address %s, fqdn %s", self->config.management_url,
             login->own ? login->own->address : "(none)", login->own && login->own->fqdn ? login->own->fqdn : "");
  nb_status_recorder_set_management (self->status, self->config.management_url, TRUE, NULL);
  nb_wg_backend_set_device_async (self->backend, &self->private_key, self->config.listen_port, self->cancellable,
                                  set_device_cb, g_object_ref (self));
}

void
nb_engine_start_async (NbEngine           *self,
                       GCancellable        *cancellable,
                       GAsyncReadyCallback  callback,
                       gpointer             user_data)
{
  g_autoptr (GTask) task = NULL;
  g_autoptr (GError) error = NULL;

  g_return_if_fail (NB_IS_ENGINE (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, nb_engine_start_async);
  g_task_set_check_cancellable (task, FALSE);
  if (self->state != ENGINE_NEW)
    {
      g_task_return_new_error (task, NB_ENGINE_ERROR, NB_ENGINE_ERROR_STOPPED,
                               self->state == ENGINE_STOPPED ? "the engine was stopped" : "the engine was started");
      return;
    }
  self->state = ENGINE_STARTING;
  self->start_task = g_steal_pointer (&task);
  if (cancellable)
    {
      self->start_cancellable = g_object_ref (cancellable);
      self->start_cancelled_id = g_cancellable_connect (cancellable, G_CALLBACK (start_cancelled_cb), self, NULL);
    }

  if (!load_identity (self, &error))
    {
      start_fail (self, g_steal_pointer (&error));
      return;
    }
  self->mgmt = nb_mgmt_client_new (self->config.management_url, &self->private_key, &error);
  if (self->mgmt == NULL)
    {
      start_fail (self, g_error_new (NB_ENGINE_ERROR, NB_ENGINE_ERROR_INVALID_CONFIG, "management: %s",
                                     error->message));
      return;
    }
  if (self->config.setup_key)
    nb_mgmt_client_set_setup_key (self->mgmt, self->config.setup_key);
  if (self->config.hostname)
    nb_mgmt_client_set_hostname (self->mgmt, self->config.hostname);
  nb_mgmt_client_set_netbird_version (self->mgmt, NB_ENGINE_NETBIRD_VERSION);
  if (self->config.tls_database)
    nb_mgmt_client_set_tls_database (self->mgmt, self->config.tls_database);
  context_setup (self);
  nb_mgmt_client_login_async (self->mgmt, self->cancellable, login_cb, g_object_ref (self));
}

gboolean
nb_engine_start_finish (NbEngine      *self,
                        GAsyncResult  *result,
                        GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

/* ------------------------------------------------------------------------ */
/* Stop */

/* Everything down, no signal. */
static void
stop_internal (NbEngine *self)
{
  if (self->state == ENGINE_STOPPED)
    return;
  self->state = ENGINE_STOPPED;
  g_message ("stopping");
  exit_node_release (self);
  dns_stop (self);
  g_cancellable_cancel (self->cancellable);
  g_clear_handle_id (&self->stats_timer_id, g_source_remove);
  g_clear_handle_id (&self->relay_wait_id, g_source_remove);
  g_clear_handle_id (&self->start_timeout_id, g_source_remove);
  g_clear_handle_id (&self->map_idle_id, g_source_remove);
  g_clear_handle_id (&self->start_cancel_idle_id, g_source_remove);
  close_all_conns (self);
  if (self->signal)
    {
      g_signal_handlers_disconnect_by_data (self->signal, self);
      nb_signal_client_stop (self->signal);
    }
  if (self->relay)
    {
      g_signal_handlers_disconnect_by_data (self->relay, self);
      nb_relay_manager_stop (self->relay);
    }
  if (self->mgmt)
    {
      g_signal_handlers_disconnect_by_data (self->mgmt, self);
      nb_mgmt_client_stop (self->mgmt);
    }
  wipe_setup_key (self);
}

typedef struct {
  GTask *task;
  GSource *cancel_source;       /* NULL: no cancellable */
} StopWait;

static void
stop_wait_free (StopWait *w)
{
  if (w->cancel_source != NULL)
    {
      g_source_destroy (w->cancel_source);
      g_source_unref (w->cancel_source);
    }
  g_clear_object (&w->task);
  g_free (w);
}

/* Every removal issued so far completed: the waiting stops complete, with
 * the first failure among them. */
static void
stop_waits_complete (NbEngine *self)
{
  g_autoptr (GPtrArray) waits = g_steal_pointer (&self->stop_waits);
  g_autoptr (GError) error = g_steal_pointer (&self->closing_error);

  self->stop_waits = g_ptr_array_new_with_free_func ((GDestroyNotify) stop_wait_free);
  for (guint i = 0; waits != NULL && i < waits->len; i++)
    {
      StopWait *w = waits->pdata[i];

      if (error != NULL)
        g_task_return_error (w->task, g_error_copy (error));
      else
        g_task_return_boolean (w->task, TRUE);
    }
}

static gboolean
stop_wait_cancelled_cb (GCancellable *cancellable, gpointer data)
{
  StopWait *w = data;
  g_autoptr (GTask) task = g_object_ref (w->task);
  NbEngine *self = g_task_get_source_object (task);

  g_task_return_error_if_cancelled (task);
  g_ptr_array_remove (self->stop_waits, w);
  return G_SOURCE_REMOVE;
}

void
nb_engine_stop_async (NbEngine            *self,
                      GCancellable        *cancellable,
                      GAsyncReadyCallback  callback,
                      gpointer             user_data)
{
  StopWait *w;

  g_return_if_fail (NB_IS_ENGINE (self));

  w = g_new0 (StopWait, 1);
  w->task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (w->task, nb_engine_stop_async);
  g_task_set_check_cancellable (w->task, FALSE);
  nb_engine_stop (self);
  if (self->closing == 0)
    {
      /* Nothing pending: completes from the main loop (GTask defers a
       * return made in the call that created it). */
      g_task_return_boolean (w->task, TRUE);
      stop_wait_free (w);
      return;
    }
  if (cancellable != NULL)
    {
      w->cancel_source = g_cancellable_source_new (cancellable);
      g_source_set_callback (w->cancel_source, G_SOURCE_FUNC (stop_wait_cancelled_cb), w, NULL);
      g_source_set_static_name (w->cancel_source, "[nb-engine] stop cancelled");
      g_source_attach (w->cancel_source, g_task_get_context (w->task));
    }
  g_ptr_array_add (self->stop_waits, w);
}

gboolean
nb_engine_stop_finish (NbEngine      *self,
                       GAsyncResult  *result,
                       GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

void
nb_engine_stop (NbEngine *self)
{
  g_return_if_fail (NB_IS_ENGINE (self));

  if (self->state == ENGINE_STARTING)
    {
      start_fail (self, g_error_new_literal (NB_ENGINE_ERROR, NB_ENGINE_ERROR_STOPPED,
                                             "the engine was stopped before it started"));
      return;
    }
  stop_internal (self);
}

/* ------------------------------------------------------------------------ */

const char *
nb_engine_get_public_key (NbEngine *self)
{
  g_return_val_if_fail (NB_IS_ENGINE (self), NULL);
  return self->public_key;
}

NbStatusRecorder *
nb_engine_get_status (NbEngine *self)
{
  g_return_val_if_fail (NB_IS_ENGINE (self), NULL);
  return self->status;
}

const NbNetworkMap *
nb_engine_get_network_map (NbEngine *self)
{
  g_return_val_if_fail (NB_IS_ENGINE (self), NULL);
  return self->map;
}

NbPeerConn *
nb_engine_get_peer_conn (NbEngine *self, const char *key)
{
  g_return_val_if_fail (NB_IS_ENGINE (self), NULL);
  return key ? g_hash_table_lookup (self->conns, key) : NULL;
}

void
nb_engine_network_changed (NbEngine *self)
{
  g_autoptr (GPtrArray) conns = NULL;

  g_return_if_fail (NB_IS_ENGINE (self));
  if (self->state != ENGINE_RUNNING)
    return;
  g_message ("network changed: every peer gathers again");
  conns = dup_conns (self);
  for (guint i = 0; i < conns->len; i++)
    if (!g_hash_table_contains (self->unopened, nb_peer_conn_get_remote_key (conns->pdata[i])))
      nb_peer_conn_network_changed (conns->pdata[i]);
}

void
nb_engine_set_stats_interval (NbEngine *self, guint interval_ms)
{
  g_return_if_fail (NB_IS_ENGINE (self));
  g_return_if_fail (interval_ms > 0);

  self->stats_interval_ms = interval_ms;
  if (self->stats_timer_id != 0)
    stats_start (self);
}

NbEngine *
nb_engine_new (const NbEngineConfig *config,
               NbWgBackend          *backend,
               GError              **error)
{
  NbEngine *self;

  g_return_val_if_fail (config != NULL, NULL);
  g_return_val_if_fail (NB_IS_WG_BACKEND (backend), NULL);

  if (config->management_url == NULL || *config->management_url == '\0')
    {
      g_set_error_literal (error, NB_ENGINE_ERROR, NB_ENGINE_ERROR_INVALID_CONFIG, "no management URL");
      return NULL;
    }
  if (!g_str_has_prefix (config->management_url, "http://") && !g_str_has_prefix (config->management_url, "https://"))
    {
      g_set_error (error, NB_ENGINE_ERROR, NB_ENGINE_ERROR_INVALID_CONFIG,
                   "the management URL %s is not http(s)://host[:port]", config->management_url);
      return NULL;
    }
  if (config->preshared_key != NULL)
    {
      NbWgKey psk;
      g_autoptr (GError) local = NULL;
      gboolean valid = nb_wg_key_from_base64 (config->preshared_key, &psk, &local);

      sodium_memzero (&psk, sizeof psk);
      if (!valid)
        {
          g_set_error (error, NB_ENGINE_ERROR, NB_ENGINE_ERROR_INVALID_CONFIG,
                       "the pre-shared key is not a WireGuard key: %s", local->message);
          return NULL;
        }
    }
  if (config->state_dir == NULL || *config->state_dir == '\0')
    {
      g_set_error_literal (error, NB_ENGINE_ERROR, NB_ENGINE_ERROR_INVALID_CONFIG, "no state directory");
      return NULL;
    }
  nb_sodium_init ();
  self = g_object_new (NB_TYPE_ENGINE, NULL);
  config_copy (&self->config, config);
  self->backend = g_object_ref (backend);
  return self;
}

static void
nb_engine_dispose (GObject *object)
{
  NbEngine *self = NB_ENGINE (object);

  stop_internal (self);
  g_clear_handle_id (&self->start_return_id, g_source_remove);
  g_clear_handle_id (&self->start_cancel_idle_id, g_source_remove);
  g_clear_handle_id (&self->map_idle_id, g_source_remove);
  g_clear_handle_id (&self->stats_timer_id, g_source_remove);
  g_clear_handle_id (&self->relay_wait_id, g_source_remove);
  g_clear_handle_id (&self->start_timeout_id, g_source_remove);
  if (self->start_cancellable)
    {
      g_cancellable_disconnect (self->start_cancellable, self->start_cancelled_id);
      self->start_cancelled_id = 0;
      g_clear_object (&self->start_cancellable);
    }
  g_clear_object (&self->signal);
  g_ptr_array_set_size (self->retired_signals, 0);
  g_clear_object (&self->relay);
  g_clear_object (&self->mgmt);
  if (self->ctx_ready)
    {
      nb_peer_conn_context_clear (&self->ctx);
      self->ctx_ready = FALSE;
    }
  g_clear_object (&self->backend);

  G_OBJECT_CLASS (nb_engine_parent_class)->dispose (object);
}

static void
nb_engine_finalize (GObject *object)
{
  NbEngine *self = NB_ENGINE (object);

  nb_engine_config_clear (&self->config);
  nb_wg_key_clear (&self->private_key);
  g_free (self->public_key);
  g_free (self->mgmt_error);
  g_free (self->relay_home_url);
  g_clear_pointer (&self->login, nb_network_map_free);
  g_clear_pointer (&self->map, nb_network_map_free);
  exit_node_release (self);
  dns_stop (self);
  g_clear_error (&self->start_error);
  g_hash_table_unref (self->conns);
  g_hash_table_unref (self->unopened);
  g_hash_table_unref (self->routed);
  g_ptr_array_unref (self->retired_signals);
  g_ptr_array_unref (self->stop_waits);
  g_clear_error (&self->closing_error);
  g_clear_object (&self->status);
  g_clear_object (&self->cancellable);

  G_OBJECT_CLASS (nb_engine_parent_class)->finalize (object);
}

static void
nb_engine_init (NbEngine *self)
{
  nb_engine_config_init (&self->config);
  self->state = ENGINE_NEW;
  self->status = nb_status_recorder_new ();
  self->conns = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_object_unref);
  self->unopened = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->routed = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  self->retired_signals = g_ptr_array_new_with_free_func (g_object_unref);
  self->stop_waits = g_ptr_array_new_with_free_func ((GDestroyNotify) stop_wait_free);
  self->cancellable = g_cancellable_new ();
  self->stats_interval_ms = NB_ENGINE_DEFAULT_STATS_INTERVAL_MS;
}

static void
nb_engine_class_init (NbEngineClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = nb_engine_dispose;
  object_class->finalize = nb_engine_finalize;

  signals[SIGNAL_STARTED] =
    g_signal_new ("started", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 0);
  signals[SIGNAL_NETWORK_MAP] =
    g_signal_new ("network-map", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 1,
                  G_TYPE_POINTER);
  signals[SIGNAL_FAILED] =
    g_signal_new ("failed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 1,
                  G_TYPE_ERROR | G_SIGNAL_TYPE_STATIC_SCOPE);
}
