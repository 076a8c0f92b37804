/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Local relay server for the demo and tests, see relay-server.h.
 *
 * Every WebSocket gets a Peer record from the upgrade until libsoup reports
 * it closed. Dropping a peer unregisters it at once (offline notifications
 * go out immediately) and starts the WebSocket close; the record is freed on
 * "closed". nb_relay_server_stop() and dispose hand the remaining sockets to
 * libsoup (close, unref on "closed") and free the records right away, so no
 * record outlives the server.
 */
#define G_LOG_DOMAIN "nb-devnet-relay"

#include "config.h"

#include "relay-server.h"

#include <string.h>

#include <sodium.h>

typedef struct _Peer Peer;

struct _NbRelayServer {
  GObject parent_instance;

  guint8 *secret;
  gsize secret_len;
  GTlsCertificate *tls_certificate;
  char *instance_url;
  char *url;
  guint16 port;

  guint health_interval_ms;
  guint health_timeout_ms;
  guint auth_timeout_ms;

  SoupServer *soup_server;  /* ours, from listen() */
  GPtrArray *soup_servers;  /* every server we added the handler to (weak) */
  GHashTable *connections;  /* Peer* set */
  GHashTable *peers;        /* NbRelayPeerId* (owned by the Peer) -> Peer*, authenticated */
};

struct _Peer {
  NbRelayServer *server;  /* unowned */
  SoupWebsocketConnection *ws;
  gboolean authenticated; /* registered in server->peers */
  gboolean closing;
  NbRelayPeerId id;
  char *id_str;
  guint auth_timeout_id;
  guint health_interval_id;
  guint health_deadline_id;
  GHashTable *interest_online;  /* NbRelayPeerId* set */
  GHashTable *interest_offline; /* NbRelayPeerId* set */
};

enum {
  PEER_CONNECTED,
  PEER_DISCONNECTED,
  CONNECTION_REJECTED,
  CONNECTION_CLOSED,
  TRANSPORT_DROPPED,
  HEALTH_CHECK_ANSWERED,
  N_SIGNALS
};
static guint signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE (NbRelayServer, nb_relay_server, G_TYPE_OBJECT)

static void drop_peer (Peer *peer, gushort code, const char *reason);

/* ---- peer records ------------------------------------------------------ */

static void
on_released_ws_closed (SoupWebsocketConnection *ws,
                       gpointer                 user_data)
{
  g_object_unref (ws);
}

static void
release_ws (SoupWebsocketConnection *ws,
            gpointer                 handler_data)
{
  g_signal_handlers_disconnect_by_data (ws, handler_data);
  switch (soup_websocket_connection_get_state (ws))
    {
    case SOUP_WEBSOCKET_STATE_OPEN:
      soup_websocket_connection_close (ws, SOUP_WEBSOCKET_CLOSE_GOING_AWAY, NULL);
      G_GNUC_FALLTHROUGH;
    case SOUP_WEBSOCKET_STATE_CLOSING:
      g_signal_connect (ws, "closed", G_CALLBACK (on_released_ws_closed), NULL);
      break;
    case SOUP_WEBSOCKET_STATE_CLOSED:
    default:
      g_object_unref (ws);
      break;
    }
}

static void
peer_stop_timers (Peer *peer)
{
  g_clear_handle_id (&peer->auth_timeout_id, g_source_remove);
  g_clear_handle_id (&peer->health_interval_id, g_source_remove);
  g_clear_handle_id (&peer->health_deadline_id, g_source_remove);
}

static void
peer_free (Peer *peer)
{
  peer_stop_timers (peer);
  if (peer->ws != NULL)
    release_ws (g_steal_pointer (&peer->ws), peer);
  g_clear_pointer (&peer->interest_online, g_hash_table_unref);
  g_clear_pointer (&peer->interest_offline, g_hash_table_unref);
  g_free (peer->id_str);
  g_free (peer);
}

static gboolean
peer_free_idle (gpointer user_data)
{
  peer_free (user_data);
  return G_SOURCE_REMOVE;
}

/* Detach @peer from the server and its socket now, free the record from an
 * idle: the caller may be inside one of its handlers. */
static void
peer_free_later (Peer *peer)
{
  peer_stop_timers (peer);
  if (peer->ws != NULL)
    release_ws (g_steal_pointer (&peer->ws), peer);
  peer->server = NULL;
  g_idle_add (peer_free_idle, peer);
}

static gboolean
peer_send (Peer   *peer,
           GBytes *frame)
{
  if (peer->ws == NULL ||
      soup_websocket_connection_get_state (peer->ws) != SOUP_WEBSOCKET_STATE_OPEN)
    return FALSE;
  soup_websocket_connection_send_message (peer->ws, SOUP_WEBSOCKET_DATA_BINARY, frame);
  return TRUE;
}

static void
peer_send_list (Peer               *peer,
                NbRelayMsgType       type,
                const NbRelayPeerId *ids,
                gsize                n_ids)
{
  g_autoptr(GPtrArray) msgs = NULL;

  if (n_ids == 0)
    return;
  msgs = nb_relay_msg_encode_peer_list (type, ids, n_ids, NULL);
  for (guint i = 0; msgs != NULL && i < msgs->len; i++)
    peer_send (peer, msgs->pdata[i]);
}

static GHashTable *
peer_id_set_new (void)
{
  return g_hash_table_new_full (nb_relay_peer_id_hash, nb_relay_peer_id_equal, g_free, NULL);
}

/* Tell everyone interested that @peer went offline. */
static void
notify_offline (NbRelayServer *self,
                Peer          *peer)
{
  GHashTableIter iter;
  gpointer key;

  g_hash_table_iter_init (&iter, self->connections);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    {
      Peer *listener = key;

      if (listener != peer && listener->authenticated &&
          g_hash_table_contains (listener->interest_offline, &peer->id))
        peer_send_list (listener, NB_RELAY_MSG_PEERS_WENT_OFFLINE, &peer->id, 1);
    }
}

static void
notify_online (NbRelayServer *self,
               Peer          *peer)
{
  GHashTableIter iter;
  gpointer key;

  g_hash_table_iter_init (&iter, self->connections);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    {
      Peer *listener = key;

      if (listener != peer && listener->authenticated &&
          g_hash_table_remove (listener->interest_online, &peer->id))
        peer_send_list (listener, NB_RELAY_MSG_PEERS_ONLINE, &peer->id, 1);
    }
}

/* Remove @peer from the peer table (if it is the registered one). */
static void
unregister_peer (Peer       *peer,
                 const char *reason,
                 gboolean    notify)
{
  NbRelayServer *self = peer->server;

  if (!peer->authenticated)
    return;
  peer->authenticated = FALSE;
  if (g_hash_table_lookup (self->peers, &peer->id) == peer)
    {
      g_hash_table_remove (self->peers, &peer->id);
      if (notify)
        notify_offline (self, peer);
    }
  g_debug ("Peer %s disconnected: %s", peer->id_str, reason);
  g_signal_emit (self, signals[PEER_DISCONNECTED], 0, peer->id_str, reason);
}

/* Start closing and unregister; the record goes on "closed". Signals are
 * emitted last: a handler may stop the server. */
static void
drop_peer (Peer       *peer,
           gushort     code,
           const char *reason)
{
  NbRelayServer *self = peer->server;

  if (peer->closing)
    return;
  peer->closing = TRUE;
  peer_stop_timers (peer);

  if (peer->ws != NULL &&
      soup_websocket_connection_get_state (peer->ws) == SOUP_WEBSOCKET_STATE_OPEN)
    soup_websocket_connection_close (peer->ws, code, NULL);

  if (peer->authenticated)
    unregister_peer (peer, reason, TRUE);
  else
    {
      g_message ("Rejecting relay connection: %s", reason);
      g_signal_emit (self, signals[CONNECTION_REJECTED], 0, reason);
    }
}

/* ---- health checks ----------------------------------------------------- */

static gboolean
on_health_deadline (gpointer user_data)
{
  Peer *peer = user_data;
  g_autoptr(NbRelayServer) self = g_object_ref (peer->server);

  peer->health_deadline_id = 0;
  drop_peer (peer, SOUP_WEBSOCKET_CLOSE_GOING_AWAY, "health check timeout");
  return G_SOURCE_REMOVE;
}

static void
restart_health_deadline (Peer *peer)
{
  NbRelayServer *self = peer->server;

  g_clear_handle_id (&peer->health_deadline_id, g_source_remove);
  peer->health_deadline_id = g_timeout_add (self->health_interval_ms + self->health_timeout_ms,
                                            on_health_deadline, peer);
}

static gboolean
on_health_interval (gpointer user_data)
{
  Peer *peer = user_data;
  g_autoptr(GBytes) hc = nb_relay_msg_encode_health_check ();

  peer_send (peer, hc);
  return G_SOURCE_CONTINUE;
}

/* ---- messages ---------------------------------------------------------- */

static void
handle_auth (Peer       *peer,
             NbRelayMsg *msg)
{
  NbRelayServer *self = peer->server;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) response = NULL;
  g_autofree char *reason = NULL;
  Peer *old;
  gsize len = 0;
  const void *data;

  if (msg->type != NB_RELAY_MSG_AUTH)
    {
      reason = g_strdup_printf ("first message is %s, not auth",
                                nb_relay_msg_type_to_string (msg->type));
      drop_peer (peer, SOUP_WEBSOCKET_CLOSE_POLICY_VIOLATION, reason);
      return;
    }

  data = g_bytes_get_data (msg->payload, &len);
  if (!nb_relay_auth_payload_verify (data, len, self->secret, self->secret_len,
                                     g_get_real_time () / G_USEC_PER_SEC, &error))
    {
      g_autofree char *id = nb_relay_peer_id_to_string (&msg->peer_id);

      reason = g_strdup_printf ("authentication of %s failed: %s", id, error->message);
      drop_peer (peer, SOUP_WEBSOCKET_CLOSE_POLICY_VIOLATION, reason);
      return;
    }

  response = nb_relay_msg_encode_auth_response (self->instance_url, NULL);
  g_assert (response != NULL); /* checked in set_instance_url / listen */

  g_clear_handle_id (&peer->auth_timeout_id, g_source_remove);
  peer->id = msg->peer_id;
  g_free (peer->id_str);
  peer->id_str = nb_relay_peer_id_to_string (&peer->id);

  /* Answer before registering so that nothing else reaches the peer
   * ahead of its auth response. */
  peer_send (peer, response);

  old = g_hash_table_lookup (self->peers, &peer->id);
  if (old != NULL)
    {
      /* NetBird closes the old connection without offline notifications. */
      unregister_peer (old, "replaced by a new connection", FALSE);
      old->closing = TRUE;
      peer_stop_timers (old);
      if (old->ws != NULL &&
          soup_websocket_connection_get_state (old->ws) == SOUP_WEBSOCKET_STATE_OPEN)
        soup_websocket_connection_close (old->ws, SOUP_WEBSOCKET_CLOSE_GOING_AWAY, NULL);
    }

  peer->authenticated = TRUE;
  g_hash_table_insert (self->peers, &peer->id, peer);
  peer->health_interval_id = g_timeout_add (self->health_interval_ms, on_health_interval, peer);
  restart_health_deadline (peer);

  g_message ("Peer %s connected", peer->id_str);
  notify_online (self, peer);
  g_signal_emit (self, signals[PEER_CONNECTED], 0, peer->id_str);
}

static void
handle_transport (Peer       *peer,
                  NbRelayMsg *msg)
{
  NbRelayServer *self = peer->server;
  g_autoptr(GBytes) frame = NULL;
  Peer *dest;
  gsize len = 0;
  const void *data;

  dest = g_hash_table_lookup (self->peers, &msg->peer_id);
  if (dest == NULL || dest->closing)
    {
      g_autofree char *id = nb_relay_peer_id_to_string (&msg->peer_id);

      g_debug ("Peer %s not found, dropping a message from %s", id, peer->id_str);
      g_signal_emit (self, signals[TRANSPORT_DROPPED], 0, id);
      return;
    }

  data = g_bytes_get_data (msg->payload, &len);
  frame = nb_relay_msg_encode_transport (&peer->id, data, len, NULL);
  if (frame != NULL)
    peer_send (dest, frame);
}

static void
handle_subscribe (Peer       *peer,
                  NbRelayMsg *msg)
{
  NbRelayServer *self = peer->server;
  g_autoptr(GArray) online = g_array_new (FALSE, FALSE, sizeof (NbRelayPeerId));

  for (gsize i = 0; i < msg->n_peer_ids; i++)
    {
      const NbRelayPeerId *id = &msg->peer_ids[i];

      g_hash_table_add (peer->interest_online, nb_relay_peer_id_dup (id));
      g_hash_table_add (peer->interest_offline, nb_relay_peer_id_dup (id));
      if (g_hash_table_contains (self->peers, id))
        g_array_append_val (online, *id);
    }
  peer_send_list (peer, NB_RELAY_MSG_PEERS_ONLINE,
                  (const NbRelayPeerId *) (gpointer) online->data, online->len);
}

static void
handle_unsubscribe (Peer       *peer,
                    NbRelayMsg *msg)
{
  for (gsize i = 0; i < msg->n_peer_ids; i++)
    {
      g_hash_table_remove (peer->interest_online, &msg->peer_ids[i]);
      g_hash_table_remove (peer->interest_offline, &msg->peer_ids[i]);
    }
}

static void
on_ws_message (SoupWebsocketConnection *ws,
               gint                     type,
               GBytes                  *message,
               gpointer                 user_data)
{
  Peer *peer = user_data;
  g_autoptr(NbRelayServer) self = g_object_ref (peer->server); /* handlers may drop theirs */
  g_autoptr(GError) error = NULL;
  g_autoptr(NbRelayMsg) msg = NULL;

  if (peer->closing)
    return;

  if (type != SOUP_WEBSOCKET_DATA_BINARY)
    {
      drop_peer (peer, SOUP_WEBSOCKET_CLOSE_UNSUPPORTED_DATA, "text message");
      return;
    }

  msg = nb_relay_msg_decode (message, NB_RELAY_MSG_FROM_CLIENT, &error);
  if (msg == NULL)
    {
      g_autofree char *reason = g_strdup_printf ("bad message: %s", error->message);

      /* NetBird drops the connection for a bad header; for a bad body of a
       * known type it logs and goes on. Before auth everything is fatal. */
      if (!peer->authenticated ||
          g_bytes_get_size (message) < NB_RELAY_HEADER_LEN ||
          error->code == NB_RELAY_MSG_ERROR_VERSION ||
          error->code == NB_RELAY_MSG_ERROR_UNKNOWN_TYPE ||
          error->code == NB_RELAY_MSG_ERROR_UNEXPECTED_TYPE ||
          error->code == NB_RELAY_MSG_ERROR_TOO_LARGE)
        drop_peer (peer, SOUP_WEBSOCKET_CLOSE_PROTOCOL_ERROR, reason);
      else
        g_message ("Peer %s: ignoring %s", peer->id_str, reason);
      return;
    }

  if (!peer->authenticated)
    {
      handle_auth (peer, msg);
      return;
    }

  switch (msg->type)
    {
    case NB_RELAY_MSG_TRANSPORT:
      handle_transport (peer, msg);
      break;
    case NB_RELAY_MSG_HEALTH_CHECK:
      restart_health_deadline (peer);
      g_signal_emit (self, signals[HEALTH_CHECK_ANSWERED], 0, peer->id_str);
      break;
    case NB_RELAY_MSG_CLOSE:
      drop_peer (peer, SOUP_WEBSOCKET_CLOSE_NORMAL, "peer closed the connection");
      break;
    case NB_RELAY_MSG_SUBSCRIBE_PEER_STATE:
      handle_subscribe (peer, msg);
      break;
    case NB_RELAY_MSG_UNSUBSCRIBE_PEER_STATE:
      handle_unsubscribe (peer, msg);
      break;
    case NB_RELAY_MSG_AUTH:
    default:
      drop_peer (peer, SOUP_WEBSOCKET_CLOSE_PROTOCOL_ERROR, "unexpected auth message");
      break;
    }
}

static void
on_ws_closed (SoupWebsocketConnection *ws,
              gpointer                 user_data)
{
  Peer *peer = user_data;
  NbRelayServer *self = peer->server;

  peer_stop_timers (peer);
  if (!peer->closing)
    {
      peer->closing = TRUE;
      if (peer->authenticated)
        unregister_peer (peer, "connection closed", TRUE);
    }

  g_object_ref (self);
  g_hash_table_remove (self->connections, peer);
  peer_free (peer); /* drops @ws: libsoup holds it during this emission */
  g_signal_emit (self, signals[CONNECTION_CLOSED], 0);
  g_object_unref (self);
}

static gboolean
on_auth_timeout (gpointer user_data)
{
  Peer *peer = user_data;
  g_autoptr(NbRelayServer) self = g_object_ref (peer->server);

  peer->auth_timeout_id = 0;
  drop_peer (peer, SOUP_WEBSOCKET_CLOSE_POLICY_VIOLATION, "no auth message in time");
  return G_SOURCE_REMOVE;
}

static void
on_websocket (SoupServer              *server,
              SoupServerMessage       *msg,
              const char              *path,
              SoupWebsocketConnection *ws,
              gpointer                 user_data)
{
  NbRelayServer *self = user_data;
  Peer *peer;

  peer = g_new0 (Peer, 1);
  peer->server = self;
  peer->ws = g_object_ref (ws);
  peer->id_str = g_strdup ("(unauthenticated)");
  peer->interest_online = peer_id_set_new ();
  peer->interest_offline = peer_id_set_new ();
  g_hash_table_add (self->connections, peer);

  soup_websocket_connection_set_max_incoming_payload_size (ws, NB_RELAY_MAX_MESSAGE_SIZE);
  soup_websocket_connection_set_keepalive_interval (ws, 0);
  g_signal_connect (ws, "message", G_CALLBACK (on_ws_message), peer);
  g_signal_connect (ws, "closed", G_CALLBACK (on_ws_closed), peer);
  peer->auth_timeout_id = g_timeout_add (self->auth_timeout_ms, on_auth_timeout, peer);
  g_debug ("New relay WebSocket connection");
}

/* ---- NbRelayServer ----------------------------------------------------- */

static void
close_all (NbRelayServer *self,
           gboolean       send_close)
{
  g_autoptr(GPtrArray) all = NULL;
  g_autoptr(GBytes) close_msg = nb_relay_msg_encode_close ();
  GHashTableIter iter;
  gpointer key;

  if (self->connections == NULL)
    return;

  all = g_ptr_array_new ();
  g_hash_table_iter_init (&iter, self->connections);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    g_ptr_array_add (all, key);

  for (guint i = 0; i < all->len; i++)
    {
      Peer *peer = all->pdata[i];

      peer_stop_timers (peer);
      peer->closing = TRUE;
      if (send_close && peer->authenticated)
        peer_send (peer, close_msg);
      peer->authenticated = FALSE;
    }
  g_hash_table_remove_all (self->peers);
  g_hash_table_remove_all (self->connections);
  for (guint i = 0; i < all->len; i++)
    peer_free_later (all->pdata[i]);
}

static void
forget_soup_servers (NbRelayServer *self)
{
  for (guint i = 0; self->soup_servers != NULL && i < self->soup_servers->len; i++)
    {
      GWeakRef *ref = self->soup_servers->pdata[i];
      g_autoptr(SoupServer) server = g_weak_ref_get (ref);

      if (server != NULL)
        soup_server_remove_handler (server, "/relay");
    }
  if (self->soup_servers != NULL)
    g_ptr_array_set_size (self->soup_servers, 0);
}

void
nb_relay_server_stop (NbRelayServer *self)
{
  g_return_if_fail (NB_IS_RELAY_SERVER (self));

  forget_soup_servers (self);
  if (self->soup_server != NULL)
    {
      soup_server_disconnect (self->soup_server);
      g_clear_object (&self->soup_server);
    }
  close_all (self, TRUE);
}

static void
nb_relay_server_dispose (GObject *object)
{
  NbRelayServer *self = NB_RELAY_SERVER (object);

  nb_relay_server_stop (self);

  G_OBJECT_CLASS (nb_relay_server_parent_class)->dispose (object);
}

static void
weak_ref_free (GWeakRef *ref)
{
  g_weak_ref_clear (ref);
  g_free (ref);
}

static void
nb_relay_server_finalize (GObject *object)
{
  NbRelayServer *self = NB_RELAY_SERVER (object);

  if (self->secret != NULL)
    sodium_memzero (self->secret, self->secret_len);
  g_free (self->secret);
  g_clear_object (&self->tls_certificate);
  g_free (self->instance_url);
  g_free (self->url);
  g_clear_pointer (&self->soup_servers, g_ptr_array_unref);
  g_clear_pointer (&self->connections, g_hash_table_unref);
  g_clear_pointer (&self->peers, g_hash_table_unref);

  G_OBJECT_CLASS (nb_relay_server_parent_class)->finalize (object);
}

static void
nb_relay_server_class_init (NbRelayServerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = nb_relay_server_dispose;
  object_class->finalize = nb_relay_server_finalize;

  signals[PEER_CONNECTED] =
    g_signal_new ("peer-connected", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                  NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_STRING);
  signals[PEER_DISCONNECTED] =
    g_signal_new ("peer-disconnected", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                  NULL, NULL, NULL, G_TYPE_NONE, 2, G_TYPE_STRING, G_TYPE_STRING);
  signals[CONNECTION_REJECTED] =
    g_signal_new ("connection-rejected", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                  NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_STRING);
  signals[CONNECTION_CLOSED] =
    g_signal_new ("connection-closed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                  NULL, NULL, NULL, G_TYPE_NONE, 0);
  signals[TRANSPORT_DROPPED] =
    g_signal_new ("transport-dropped", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                  NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_STRING);
  signals[HEALTH_CHECK_ANSWERED] =
    g_signal_new ("health-check-answered", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                  NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_STRING);
}

static void
nb_relay_server_init (NbRelayServer *self)
{
  self->health_interval_ms = NB_RELAY_SERVER_DEFAULT_HEALTH_INTERVAL_MS;
  self->health_timeout_ms = NB_RELAY_SERVER_DEFAULT_HEALTH_TIMEOUT_MS;
  self->auth_timeout_ms = NB_RELAY_SERVER_DEFAULT_AUTH_TIMEOUT_MS;
  self->soup_servers = g_ptr_array_new_with_free_func ((GDestroyNotify) weak_ref_free);
  self->connections = g_hash_table_new (g_direct_hash, g_direct_equal);
  self->peers = g_hash_table_new (nb_relay_peer_id_hash, nb_relay_peer_id_equal);
}

NbRelayServer *
nb_relay_server_new (const guint8    *secret,
                     gsize            secret_len,
                     GTlsCertificate *tls_certificate)
{
  NbRelayServer *self;

  g_return_val_if_fail (secret != NULL || secret_len == 0, NULL);
  g_return_val_if_fail (tls_certificate == NULL || G_IS_TLS_CERTIFICATE (tls_certificate), NULL);

  self = g_object_new (NB_TYPE_RELAY_SERVER, NULL);
  self->secret = g_malloc (MAX (secret_len, 1));
  if (secret_len > 0)
    memcpy (self->secret, secret, secret_len);
  self->secret_len = secret_len;
  if (tls_certificate != NULL)
    self->tls_certificate = g_object_ref (tls_certificate);
  return self;
}

void
nb_relay_server_set_instance_url (NbRelayServer *self,
                                  const char    *instance_url)
{
  g_autoptr(GBytes) check = NULL;
  g_autoptr(GError) error = NULL;

  g_return_if_fail (NB_IS_RELAY_SERVER (self));
  g_return_if_fail (instance_url != NULL);

  check = nb_relay_msg_encode_auth_response (instance_url, &error);
  if (check == NULL)
    {
      g_critical ("Unusable relay instance URL: %s", error->message);
      return;
    }
  g_free (self->instance_url);
  self->instance_url = g_strdup (instance_url);
}

void
nb_relay_server_set_health_check_interval (NbRelayServer *self,
                                           guint          interval_ms)
{
  g_return_if_fail (NB_IS_RELAY_SERVER (self));
  g_return_if_fail (interval_ms > 0);
  self->health_interval_ms = interval_ms;
}

void
nb_relay_server_set_health_check_timeout (NbRelayServer *self,
                                          guint          timeout_ms)
{
  g_return_if_fail (NB_IS_RELAY_SERVER (self));
  self->health_timeout_ms = timeout_ms;
}

void
nb_relay_server_set_auth_timeout (NbRelayServer *self,
                                  guint          timeout_ms)
{
  g_return_if_fail (NB_IS_RELAY_SERVER (self));
  g_return_if_fail (timeout_ms > 0);
  self->auth_timeout_ms = timeout_ms;
}

void
nb_relay_server_add_to_soup_server (NbRelayServer *self,
                                    SoupServer    *server)
{
  GWeakRef *ref;

  g_return_if_fail (NB_IS_RELAY_SERVER (self));
  g_return_if_fail (SOUP_IS_SERVER (server));
  g_return_if_fail (self->instance_url != NULL);

  /* Relay payloads are encrypted: no permessage-deflate. */
  soup_server_remove_websocket_extension (server, SOUP_TYPE_WEBSOCKET_EXTENSION_DEFLATE);
  soup_server_add_websocket_handler (server, "/relay", NULL, NULL, on_websocket, self, NULL);

  ref = g_new0 (GWeakRef, 1);
  g_weak_ref_init (ref, server);
  g_ptr_array_add (self->soup_servers, ref);
}

gboolean
nb_relay_server_listen (NbRelayServer *self,
                        const char    *address,
                        guint16        port,
                        GError       **error)
{
  g_autoptr(SoupServer) server = NULL;
  g_autoptr(GInetAddress) inet = NULL;
  g_autoptr(GSocketAddress) sockaddr = NULL;
  g_autofree char *host = NULL;
  GSList *listeners;
  const char *scheme;

  g_return_val_if_fail (NB_IS_RELAY_SERVER (self), FALSE);
  g_return_val_if_fail (address != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);
  g_return_val_if_fail (self->soup_server == NULL, FALSE);

  inet = g_inet_address_new_from_string (address);
  if (inet == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "“%s” is not an IP address", address);
      return FALSE;
    }
  sockaddr = g_inet_socket_address_new (inet, port);

  if (self->tls_certificate != NULL)
    server = soup_server_new ("tls-certificate", self->tls_certificate, NULL);
  else
    server = soup_server_new (NULL, NULL);

  if (!soup_server_listen (server, sockaddr,
                           self->tls_certificate != NULL ? SOUP_SERVER_LISTEN_HTTPS : 0,
                           error))
    return FALSE;

  listeners = soup_server_get_listeners (server);
  if (listeners != NULL)
    {
      g_autoptr(GSocketAddress) local = g_socket_get_local_address (listeners->data, NULL);

      if (G_IS_INET_SOCKET_ADDRESS (local))
        self->port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (local));
    }
  g_slist_free (listeners);

  scheme = self->tls_certificate != NULL ? "rels" : "rel";
  host = g_inet_address_get_family (inet) == G_SOCKET_FAMILY_IPV6
    ? g_strdup_printf ("[%s]", address) : g_strdup (address);
  g_free (self->url);
  self->url = g_strdup_printf ("%s://%s:%u", scheme, host, (guint) self->port);
  if (self->instance_url == NULL)
    self->instance_url = g_strdup (self->url);

  nb_relay_server_add_to_soup_server (self, server);
  self->soup_server = g_steal_pointer (&server);
  g_message ("Relay server listening on %s", self->url);
  return TRUE;
}

guint16
nb_relay_server_get_port (NbRelayServer *self)
{
  g_return_val_if_fail (NB_IS_RELAY_SERVER (self), 0);
  return self->port;
}

const char *
nb_relay_server_get_url (NbRelayServer *self)
{
  g_return_val_if_fail (NB_IS_RELAY_SERVER (self), NULL);
  return self->url;
}

const char *
nb_relay_server_get_instance_url (NbRelayServer *self)
{
  g_return_val_if_fail (NB_IS_RELAY_SERVER (self), NULL);
  return self->instance_url;
}

guint
nb_relay_server_get_n_peers (NbRelayServer *self)
{
  g_return_val_if_fail (NB_IS_RELAY_SERVER (self), 0);
  return g_hash_table_size (self->peers);
}

guint
nb_relay_server_get_n_connections (NbRelayServer *self)
{
  g_return_val_if_fail (NB_IS_RELAY_SERVER (self), 0);
  return g_hash_table_size (self->connections);
}

gboolean
nb_relay_server_has_peer (NbRelayServer       *self,
                          const NbRelayPeerId *id)
{
  g_return_val_if_fail (NB_IS_RELAY_SERVER (self), FALSE);
  g_return_val_if_fail (id != NULL, FALSE);
  return g_hash_table_contains (self->peers, id);
}
