/* SPDX-License-Identifier: GPL-2.0-or-later */
#define G_LOG_DOMAIN "nb-status-dbus"

#include "config.h"

#include "status-dbus.h"

#include "nb-status-generated.h"

typedef struct {
  guint number;                 /* N of peers/N, for the key's lifetime here */
  NbDbusObjectSkeleton *object; /* NULL while the peer is not in the recorder */
  NbDbusPeer *peer;
} PeerEntry;

struct _NbStatusDbus {
  GObject parent_instance;

  GDBusConnection *connection;
  char *root;
  NbStatusRecorder *recorder;
  GDBusObjectManagerServer *manager;

  NbDbusObjectSkeleton *daemon_object;
  NbDbusDaemon *daemon;

  GHashTable *peers;            /* key -> PeerEntry *, never shrinks */
  guint next_number;

  gulong handler_ids[5];
};

enum {
  SIGNAL_REFRESH_REQUESTED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE (NbStatusDbus, nb_status_dbus, G_TYPE_OBJECT)

static const char *
str_or_empty (const char *s)
{
  return s != NULL ? s : "";
}

static void
peer_entry_free (PeerEntry *entry)
{
  g_clear_object (&entry->object);
  g_clear_object (&entry->peer);
  g_free (entry);
}

static char *
peer_path (NbStatusDbus *self, guint number)
{
  return g_strdup_printf ("%s/peers/%u", self->root, number);
}

/* ------------------------------------------------------------------------ */
/* Peers */

/* Copies the @fields of @st into the skeleton; the skeleton compares and
 * queues PropertiesChanged for the values that differ. */
static void
set_peer_properties (NbDbusPeer *peer, const NbPeerStatus *st, guint fields)
{
  if (fields & NB_PEER_FIELD_FQDN)
    nb_dbus_peer_set_fqdn (peer, str_or_empty (st->fqdn));
  if (fields & NB_PEER_FIELD_IP)
    nb_dbus_peer_set_ip (peer, str_or_empty (st->ip));
  if (fields & NB_PEER_FIELD_STATUS)
    nb_dbus_peer_set_status (peer, nb_peer_conn_status_to_string (st->status));
  if (fields & NB_PEER_FIELD_CONN_TYPE)
    nb_dbus_peer_set_connection_type (peer, nb_peer_conn_type_to_string (st->conn_type));
  if (fields & NB_PEER_FIELD_ICE_STATUS)
    nb_dbus_peer_set_ice_status (peer, nb_peer_path_status_to_string (st->ice_status));
  if (fields & NB_PEER_FIELD_RELAY_STATUS)
    nb_dbus_peer_set_relay_status (peer, nb_peer_path_status_to_string (st->relay_status));
  if (fields & NB_PEER_FIELD_LOCAL_CANDIDATE_TYPE)
    nb_dbus_peer_set_local_candidate_type (peer, str_or_empty (st->local_candidate_type));
  if (fields & NB_PEER_FIELD_REMOTE_CANDIDATE_TYPE)
    nb_dbus_peer_set_remote_candidate_type (peer, str_or_empty (st->remote_candidate_type));
  if (fields & NB_PEER_FIELD_LOCAL_ENDPOINT)
    nb_dbus_peer_set_local_endpoint (peer, str_or_empty (st->local_endpoint));
  if (fields & NB_PEER_FIELD_REMOTE_ENDPOINT)
    nb_dbus_peer_set_remote_endpoint (peer, str_or_empty (st->remote_endpoint));
  if (fields & NB_PEER_FIELD_RELAY_ADDRESS)
    nb_dbus_peer_set_relay_server (peer, str_or_empty (st->relay_address));
  if (fields & NB_PEER_FIELD_ROSENPASS)
    nb_dbus_peer_set_rosenpass_enabled (peer, st->rosenpass_enabled);
  if (fields & NB_PEER_FIELD_LAST_HANDSHAKE)
    nb_dbus_peer_set_last_handshake (peer, st->last_handshake);
  if (fields & NB_PEER_FIELD_RX_BYTES)
    nb_dbus_peer_set_rx_bytes (peer, st->rx_bytes);
  if (fields & NB_PEER_FIELD_TX_BYTES)
    nb_dbus_peer_set_tx_bytes (peer, st->tx_bytes);
  if (fields & NB_PEER_FIELD_LATENCY)
    nb_dbus_peer_set_latency_us (peer, st->latency_us);
  if (fields & NB_PEER_FIELD_LAST_CHANGE)
    nb_dbus_peer_set_last_change (peer, st->last_change);
  if (fields & NB_PEER_FIELD_NETWORKS)
    {
      static const char *const none[] = { NULL };

      nb_dbus_peer_set_networks (peer, st->networks != NULL ? (const char *const *) st->networks : none);
    }
}

static void
export_peer (NbStatusDbus *self, const NbPeerStatus *st)
{
  PeerEntry *entry = g_hash_table_lookup (self->peers, st->key);
  g_autofree char *path = NULL;

  if (entry == NULL)
    {
      entry = g_new0 (PeerEntry, 1);
      entry->number = self->next_number++;
      g_hash_table_insert (self->peers, g_strdup (st->key), entry);
    }
  if (entry->object != NULL)
    return; /* already exported */

  path = peer_path (self, entry->number);
  entry->object = nb_dbus_object_skeleton_new (path);
  entry->peer = nb_dbus_peer_skeleton_new ();
  /* Not exported yet: these set the initial values without any
   * PropertiesChanged; InterfacesAdded carries them. */
  nb_dbus_peer_set_public_key (entry->peer, st->key);
  set_peer_properties (entry->peer, st, NB_PEER_FIELDS_ALL | NB_PEER_FIELD_LAST_CHANGE);
  nb_dbus_object_skeleton_set_peer (entry->object, entry->peer);
  g_dbus_object_manager_server_export (self->manager, G_DBUS_OBJECT_SKELETON (entry->object));
  g_debug ("peer %s at %s", st->ip != NULL ? st->ip : "(no address)", path);
}

static void
unexport_peer (NbStatusDbus *self, PeerEntry *entry)
{
  const char *path;

  if (entry->object == NULL)
    return;
  path = g_dbus_object_get_object_path (G_DBUS_OBJECT (entry->object));
  g_dbus_object_manager_server_unexport (self->manager, path);
  g_clear_object (&entry->object);
  g_clear_object (&entry->peer);
}

static void
on_peer_added (NbStatusRecorder *recorder, const char *key, gpointer user_data)
{
  NbStatusDbus *self = NB_STATUS_DBUS (user_data);
  const NbPeerStatus *st = nb_status_recorder_get_peer (recorder, key);

  if (st != NULL)
    export_peer (self, st);
}

static void
on_peer_removed (NbStatusRecorder *recorder, const char *key, gpointer user_data)
{
  NbStatusDbus *self = NB_STATUS_DBUS (user_data);
  PeerEntry *entry = g_hash_table_lookup (self->peers, key);

  if (entry != NULL)
    unexport_peer (self, entry);
}

static void
on_peer_changed (NbStatusRecorder *recorder, const char *key, guint fields, gpointer user_data)
{
  NbStatusDbus *self = NB_STATUS_DBUS (user_data);
  const NbPeerStatus *st = nb_status_recorder_get_peer (recorder, key);
  PeerEntry *entry = g_hash_table_lookup (self->peers, key);

  if (st == NULL)
    return;
  if (entry == NULL || entry->peer == NULL)
    {
      /* Not seen being added (cannot happen with the recorder's ordering,
       * but costs nothing to tolerate). */
      export_peer (self, st);
      return;
    }
  set_peer_properties (entry->peer, st, fields);
}

/* ------------------------------------------------------------------------ */
/* The daemon object */

static void
update_services (NbStatusDbus *self)
{
  const NbServiceState *mgmt = nb_status_recorder_get_management (self->recorder);
  const NbServiceState *sig = nb_status_recorder_get_signal (self->recorder);
  GPtrArray *relays = nb_status_recorder_get_relays (self->recorder);
  GVariantBuilder builder;

  nb_dbus_daemon_set_management_url (self->daemon, str_or_empty (mgmt->url));
  nb_dbus_daemon_set_management_connected (self->daemon, mgmt->connected);
  nb_dbus_daemon_set_management_error (self->daemon, str_or_empty (mgmt->error));
  nb_dbus_daemon_set_signal_url (self->daemon, str_or_empty (sig->url));
  nb_dbus_daemon_set_signal_connected (self->daemon, sig->connected);
  nb_dbus_daemon_set_signal_error (self->daemon, str_or_empty (sig->error));

  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a(sbs)"));
  for (guint i = 0; i < relays->len; i++)
    {
      const NbServiceState *r = g_ptr_array_index (relays, i);

      g_variant_builder_add (&builder, "(sbs)", str_or_empty (r->url), r->connected, str_or_empty (r->error));
    }
  /* The skeleton compares with g_variant_equal(): an unchanged list is not
   * announced. */
  nb_dbus_daemon_set_relays (self->daemon, g_variant_builder_end (&builder));
}

static void
on_service_changed (NbStatusRecorder *recorder, guint service, const char *url, gpointer user_data)
{
  update_services (NB_STATUS_DBUS (user_data));
}

/* The recorder's own side onto the daemon object. Address only when the
 * recorder knows it: nb_status_dbus_set_address() may have set it alone. */
static void
update_local (NbStatusDbus *self)
{
  const NbLocalState *local = nb_status_recorder_get_local (self->recorder);

  nb_dbus_daemon_set_fqdn (self->daemon, str_or_empty (local->fqdn));
  if (local->address != NULL)
    nb_dbus_daemon_set_address (self->daemon, local->address);
  nb_dbus_daemon_set_interface_type (self->daemon, str_or_empty (local->interface_type));
  nb_dbus_daemon_set_wireguard_port (self->daemon, local->wg_port);
}

static void
on_local_changed (NbStatusRecorder *recorder, gpointer user_data)
{
  update_local (NB_STATUS_DBUS (user_data));
}

static gboolean
on_handle_refresh (NbDbusDaemon *daemon, GDBusMethodInvocation *invocation, gpointer user_data)
{
  NbStatusDbus *self = NB_STATUS_DBUS (user_data);
  g_autoptr (NbStatusDbus) hold = g_object_ref (self);

  g_debug ("Refresh() from %s", g_dbus_method_invocation_get_sender (invocation));
  nb_dbus_daemon_complete_refresh (daemon, invocation);
  g_signal_emit (self, signals[SIGNAL_REFRESH_REQUESTED], 0);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* ------------------------------------------------------------------------ */

NbStatusDbus *
nb_status_dbus_new (GDBusConnection *connection, const char *root, NbStatusRecorder *recorder)
{
  NbStatusDbus *self;
  g_autofree char *daemon_path = NULL;
  g_autoptr (GPtrArray) peers = NULL;

  g_return_val_if_fail (G_IS_DBUS_CONNECTION (connection), NULL);
  g_return_val_if_fail (root != NULL && g_variant_is_object_path (root), NULL);
  g_return_val_if_fail (NB_IS_STATUS_RECORDER (recorder), NULL);

  self = g_object_new (NB_TYPE_STATUS_DBUS, NULL);
  self->connection = g_object_ref (connection);
  self->root = g_strdup (root);
  self->recorder = g_object_ref (recorder);
  self->manager = g_dbus_object_manager_server_new (root);

  daemon_path = g_strdup_printf ("%s/daemon", root);
  self->daemon_object = nb_dbus_object_skeleton_new (daemon_path);
  self->daemon = nb_dbus_daemon_skeleton_new ();
  nb_dbus_daemon_set_public_key (self->daemon, "");
  nb_dbus_daemon_set_address (self->daemon, "");
  nb_dbus_daemon_set_interface (self->daemon, "");
  nb_dbus_daemon_set_exit_node (self->daemon, "");
  nb_dbus_daemon_set_peer_names_server (self->daemon, "");
  update_services (self);
  update_local (self);
  g_signal_connect (self->daemon, "handle-refresh", G_CALLBACK (on_handle_refresh), self);
  nb_dbus_object_skeleton_set_daemon (self->daemon_object, self->daemon);
  g_dbus_object_manager_server_export (self->manager, G_DBUS_OBJECT_SKELETON (self->daemon_object));

  peers = nb_status_recorder_dup_peers (recorder);
  for (guint i = 0; i < peers->len; i++)
    export_peer (self, g_ptr_array_index (peers, i));

  self->handler_ids[0] = g_signal_connect (recorder, "peer-added", G_CALLBACK (on_peer_added), self);
  self->handler_ids[1] = g_signal_connect (recorder, "peer-removed", G_CALLBACK (on_peer_removed), self);
  self->handler_ids[2] = g_signal_connect (recorder, "peer-changed", G_CALLBACK (on_peer_changed), self);
  self->handler_ids[3] = g_signal_connect (recorder, "service-changed", G_CALLBACK (on_service_changed), self);
  self->handler_ids[4] = g_signal_connect (recorder, "local-changed", G_CALLBACK (on_local_changed), self);

  g_dbus_object_manager_server_set_connection (self->manager, connection);
  return self;
}

GDBusObjectManagerServer *
nb_status_dbus_get_manager (NbStatusDbus *self)
{
  g_return_val_if_fail (NB_IS_STATUS_DBUS (self), NULL);
  return self->manager;
}

const char *
nb_status_dbus_get_peer_path (NbStatusDbus *self, const char *key)
{
  PeerEntry *entry;

  g_return_val_if_fail (NB_IS_STATUS_DBUS (self), NULL);
  g_return_val_if_fail (key != NULL, NULL);

  entry = g_hash_table_lookup (self->peers, key);
  if (entry == NULL || entry->object == NULL)
    return NULL;
  return g_dbus_object_get_object_path (G_DBUS_OBJECT (entry->object));
}

void
nb_status_dbus_set_public_key (NbStatusDbus *self, const char *public_key)
{
  g_return_if_fail (NB_IS_STATUS_DBUS (self));
  nb_dbus_daemon_set_public_key (self->daemon, str_or_empty (public_key));
}

void
nb_status_dbus_set_address (NbStatusDbus *self, const char *address)
{
  const NbLocalState *local;

  g_return_if_fail (NB_IS_STATUS_DBUS (self));
  nb_dbus_daemon_set_address (self->daemon, str_or_empty (address));
  /* One truth for the daemon object and the recorder's text (which the
   * engine's own setting would otherwise contradict). */
  local = nb_status_recorder_get_local (self->recorder);
  nb_status_recorder_set_local (self->recorder, local->fqdn, address, local->interface_type, local->wg_port);
}

void
nb_status_dbus_set_interface (NbStatusDbus *self, const char *interface_name)
{
  g_return_if_fail (NB_IS_STATUS_DBUS (self));
  nb_dbus_daemon_set_interface (self->daemon, str_or_empty (interface_name));
}

void
nb_status_dbus_set_exit_node (NbStatusDbus *self, const char *net_id)
{
  g_return_if_fail (NB_IS_STATUS_DBUS (self));
  nb_dbus_daemon_set_exit_node (self->daemon, str_or_empty (net_id));
}

void
nb_status_dbus_set_peer_names_server (NbStatusDbus *self, const char *address)
{
  g_return_if_fail (NB_IS_STATUS_DBUS (self));
  nb_dbus_daemon_set_peer_names_server (self->daemon, str_or_empty (address));
}

void
nb_status_dbus_set_rosenpass (NbStatusDbus *self, gboolean enabled, gboolean permissive)
{
  g_return_if_fail (NB_IS_STATUS_DBUS (self));
  nb_dbus_daemon_set_rosenpass_enabled (self->daemon, !!enabled);
  nb_dbus_daemon_set_rosenpass_permissive (self->daemon, !!permissive);
  nb_status_recorder_set_rosenpass (self->recorder, enabled, permissive);
}

/* ------------------------------------------------------------------------ */

static void
nb_status_dbus_dispose (GObject *object)
{
  NbStatusDbus *self = NB_STATUS_DBUS (object);

  if (self->recorder != NULL)
    {
      for (guint i = 0; i < G_N_ELEMENTS (self->handler_ids); i++)
        g_clear_signal_handler (&self->handler_ids[i], self->recorder);
    }
  if (self->daemon != NULL)
    g_signal_handlers_disconnect_by_data (self->daemon, self);
  if (self->manager != NULL)
    {
      /* Unexports every object from the connection. */
      g_dbus_object_manager_server_set_connection (self->manager, NULL);
    }
  g_clear_pointer (&self->peers, g_hash_table_unref);
  g_clear_object (&self->daemon);
  g_clear_object (&self->daemon_object);
  g_clear_object (&self->manager);
  g_clear_object (&self->recorder);
  g_clear_object (&self->connection);
  G_OBJECT_CLASS (nb_status_dbus_parent_class)->dispose (object);
}

static void
nb_status_dbus_finalize (GObject *object)
{
  NbStatusDbus *self = NB_STATUS_DBUS (object);

  g_free (self->root);
  G_OBJECT_CLASS (nb_status_dbus_parent_class)->finalize (object);
}

static void
nb_status_dbus_init (NbStatusDbus *self)
{
  self->peers = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) peer_entry_free);
  self->next_number = 1;
}

static void
nb_status_dbus_class_init (NbStatusDbusClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = nb_status_dbus_dispose;
  object_class->finalize = nb_status_dbus_finalize;

  signals[SIGNAL_REFRESH_REQUESTED] =
    g_signal_new ("refresh-requested", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 0);
}
