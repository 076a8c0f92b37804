/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * NetBird relay client over libsoup WebSocket, see relay-client.h.
 *
 * One attempt is: dial (connect timeout) -> send AUTH -> wait for
 * AUTH_RESPONSE (auth timeout) -> connected (health timer restarted by every
 * health check). Every way an attempt or a connection ends goes through
 * end_connection(), which tears the socket down, closes the virtual
 * connections, records the reason, schedules the next attempt from the
 * backoff and emits "disconnected".
 *
 * The WebSocket is never unreferenced from inside one of its own signal
 * handlers while still open: release_ws() starts libsoup's close handshake
 * and drops the last reference from the "closed" signal.
 */
#define G_LOG_DOMAIN "nb-relay"

#include "config.h"

#include "relay-client.h"

#include <string.h>

#include <libsoup/soup.h>

#include "backoff.h"
#include "uplink.h"

G_DEFINE_QUARK (nb-relay-client-error-quark, nb_relay_client_error)

/* The client accepts larger WebSocket messages than the relay limit so that
 * an oversized relay message is dropped by the decoder instead of libsoup
 * tearing the connection down. */
#define WS_MAX_INCOMING_PAYLOAD (64 * 1024)
#define EARLY_MESSAGE_CAPACITY 1024

typedef enum {
  STATE_STOPPED,
  STATE_CONNECTING,
  STATE_AUTHENTICATING,
  STATE_CONNECTED,
  STATE_WAITING,
} State;

typedef struct {
  GBytes *payload;
  gint64 expires_us; /* monotonic */
} EarlyMessage;

struct _NbRelayClient {
  GObject parent_instance;

  char *server_url;
  char *ws_url;
  NbRelayPeerId self_id;
  GBytes *auth_payload;  /* secret: never logged */

  SoupSession *session;
  State state;
  gboolean running;
  GCancellable *connect_cancellable;
  SoupWebsocketConnection *ws;
  GError *ws_error;      /* last "error" of the current WebSocket */
  char *instance_url;
  GError *last_error;

  guint connect_timeout_id;
  guint auth_timeout_id;
  guint health_timeout_id;
  guint reconnect_id;

  guint connect_timeout_ms;
  guint auth_timeout_ms;
  guint health_timeout_ms;
  NbBackoff *backoff;

  GHashTable *conns;         /* NbRelayPeerId* (owned by the conn) -> NbRelayConn* (unowned) */
  GHashTable *early;         /* NbRelayPeerId* -> EarlyMessage* */
  guint early_cleanup_id;
  GHashTable *subscriptions; /* NbRelayPeerId* set */
};

struct _NbRelayConn {
  GObject parent_instance;

  NbRelayClient *client; /* unowned; NULL once closed */
  NbRelayPeerId peer_id;
  GBytes *early;
  guint early_idle_id;
};

enum {
  CLIENT_CONNECTED,
  CLIENT_DISCONNECTED,
  CLIENT_PEERS_ONLINE,
  CLIENT_PEERS_OFFLINE,
  N_CLIENT_SIGNALS
};
static guint client_signals[N_CLIENT_SIGNALS];

enum {
  CONN_MESSAGE,
  CONN_CLOSED,
  N_CONN_SIGNALS
};
static guint conn_signals[N_CONN_SIGNALS];

G_DEFINE_FINAL_TYPE (NbRelayClient, nb_relay_client, G_TYPE_OBJECT)
G_DEFINE_FINAL_TYPE (NbRelayConn, nb_relay_conn, G_TYPE_OBJECT)

static void schedule_reconnect (NbRelayClient *self);
static void begin_attempt (NbRelayClient *self);

/* ---- URLs -------------------------------------------------------------- */

char *
nb_relay_url_to_websocket (const char *relay_url,
                           GError    **error)
{
  g_autoptr(GUri) uri = NULL;
  g_autoptr(GError) local_error = NULL;
  const char *scheme;
  const char *ws_scheme;
  const char *host;

  g_return_val_if_fail (relay_url != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  uri = g_uri_parse (relay_url, G_URI_FLAGS_NONE, &local_error);
  if (uri == NULL)
    {
      g_set_error (error, NB_RELAY_CLIENT_ERROR, NB_RELAY_CLIENT_ERROR_INVALID_URL,
                   "Invalid relay URL “%s”: %s", relay_url, local_error->message);
      return NULL;
    }

  scheme = g_uri_get_scheme (uri);
  if (g_ascii_strcasecmp (scheme, "rel") == 0)
    ws_scheme = "ws";
  else if (g_ascii_strcasecmp (scheme, "rels") == 0)
    ws_scheme = "wss";
  else
    {
      g_set_error (error, NB_RELAY_CLIENT_ERROR, NB_RELAY_CLIENT_ERROR_INVALID_URL,
                   "Unsupported relay URL scheme “%s” (want rel or rels)", scheme);
      return NULL;
    }

  host = g_uri_get_host (uri);
  if (host == NULL || *host == '\0')
    {
      g_set_error (error, NB_RELAY_CLIENT_ERROR, NB_RELAY_CLIENT_ERROR_INVALID_URL,
                   "Relay URL “%s” has no host", relay_url);
      return NULL;
    }
  if (g_uri_get_port (uri) == 0)
    {
      g_set_error (error, NB_RELAY_CLIENT_ERROR, NB_RELAY_CLIENT_ERROR_INVALID_URL,
                   "Relay URL “%s” has port 0", relay_url);
      return NULL;
    }

  return g_uri_join (G_URI_FLAGS_NONE, ws_scheme, NULL, host, g_uri_get_port (uri),
                     "/relay", NULL, NULL);
}

/* ---- early messages ---------------------------------------------------- */

static void
early_message_free (EarlyMessage *em)
{
  g_bytes_unref (em->payload);
  g_free (em);
}

static gboolean
on_early_cleanup (gpointer user_data)
{
  NbRelayClient *self = user_data;
  GHashTableIter iter;
  gpointer value;
  gint64 now = g_get_monotonic_time ();
  gint64 next = G_MAXINT64;

  self->early_cleanup_id = 0;
  g_hash_table_iter_init (&iter, self->early);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      EarlyMessage *em = value;

      if (em->expires_us <= now)
        g_hash_table_iter_remove (&iter);
      else
        next = MIN (next, em->expires_us);
    }
  if (next != G_MAXINT64)
    self->early_cleanup_id = g_timeout_add ((guint) ((next - now + 999) / 1000),
                                            on_early_cleanup, self);
  return G_SOURCE_REMOVE;
}

static void
early_put (NbRelayClient       *self,
           const NbRelayPeerId *peer,
           GBytes              *payload)
{
  EarlyMessage *em;

  if (!g_hash_table_contains (self->early, peer) &&
      g_hash_table_size (self->early) >= EARLY_MESSAGE_CAPACITY)
    {
      g_debug ("Early message buffer full, dropping a message");
      return;
    }

  em = g_new0 (EarlyMessage, 1);
  em->payload = g_bytes_ref (payload);
  em->expires_us = g_get_monotonic_time () + NB_RELAY_CLIENT_EARLY_MESSAGE_TTL_MS * 1000;
  g_hash_table_replace (self->early, nb_relay_peer_id_dup (peer), em);
  if (self->early_cleanup_id == 0)
    self->early_cleanup_id = g_timeout_add (NB_RELAY_CLIENT_EARLY_MESSAGE_TTL_MS,
                                            on_early_cleanup, self);
}

static GBytes *
early_pop (NbRelayClient       *self,
           const NbRelayPeerId *peer)
{
  EarlyMessage *em = g_hash_table_lookup (self->early, peer);
  GBytes *payload = NULL;

  if (em == NULL)
    return NULL;
  if (em->expires_us > g_get_monotonic_time ())
    payload = g_bytes_ref (em->payload);
  g_hash_table_remove (self->early, peer);
  return payload;
}

static void
early_clear (NbRelayClient *self)
{
  g_hash_table_remove_all (self->early);
  g_clear_handle_id (&self->early_cleanup_id, g_source_remove);
}

/* ---- virtual connections ----------------------------------------------- */

static void
conn_detach (NbRelayConn *conn)
{
  g_clear_handle_id (&conn->early_idle_id, g_source_remove);
  g_clear_pointer (&conn->early, g_bytes_unref);
  conn->client = NULL;
}

/* Close every virtual connection (or those of @peers) with @reason. */
static void
close_conns (NbRelayClient       *self,
             const NbRelayPeerId *peers,
             gsize                n_peers,
             const GError        *reason)
{
  g_autoptr(GPtrArray) closed = g_ptr_array_new_with_free_func (g_object_unref);

  if (peers == NULL)
    {
      GHashTableIter iter;
      gpointer value;

      g_hash_table_iter_init (&iter, self->conns);
      while (g_hash_table_iter_next (&iter, NULL, &value))
        {
          g_ptr_array_add (closed, g_object_ref (value));
          g_hash_table_iter_remove (&iter);
        }
    }
  else
    {
      for (gsize i = 0; i < n_peers; i++)
        {
          NbRelayConn *conn = g_hash_table_lookup (self->conns, &peers[i]);

          if (conn == NULL)
            continue;
          g_ptr_array_add (closed, g_object_ref (conn));
          g_hash_table_remove (self->conns, &peers[i]);
        }
    }

  for (guint i = 0; i < closed->len; i++)
    conn_detach (closed->pdata[i]);
  for (guint i = 0; i < closed->len; i++)
    g_signal_emit (closed->pdata[i], conn_signals[CONN_CLOSED], 0, reason);
}

static gboolean
on_conn_early_idle (gpointer user_data)
{
  NbRelayConn *conn = user_data;
  g_autoptr(GBytes) payload = g_steal_pointer (&conn->early);

  conn->early_idle_id = 0;
  if (conn->client != NULL && payload != NULL)
    {
      g_object_ref (conn);
      g_signal_emit (conn, conn_signals[CONN_MESSAGE], 0, payload);
      g_object_unref (conn);
    }
  return G_SOURCE_REMOVE;
}

static void
deliver_transport (NbRelayClient       *self,
                   const NbRelayPeerId *sender,
                   GBytes              *payload)
{
  NbRelayConn *conn = g_hash_table_lookup (self->conns, sender);

  if (conn == NULL)
    {
      early_put (self, sender, payload);
      return;
    }
  g_object_ref (conn);
  if (conn->early_idle_id != 0)
    {
      /* keep the order: the early message goes first */
      g_clear_handle_id (&conn->early_idle_id, g_source_remove);
      on_conn_early_idle (conn);
    }
  if (conn->client == self)
    g_signal_emit (conn, conn_signals[CONN_MESSAGE], 0, payload);
  g_object_unref (conn);
}

/* ---- sending ----------------------------------------------------------- */

static gboolean
send_frame (NbRelayClient *self,
            GBytes        *frame,
            GError       **error)
{
  if (self->ws == NULL ||
      soup_websocket_connection_get_state (self->ws) != SOUP_WEBSOCKET_STATE_OPEN)
    {
      g_set_error_literal (error, NB_RELAY_CLIENT_ERROR, NB_RELAY_CLIENT_ERROR_NOT_CONNECTED,
                           "Not connected to the relay server");
      return FALSE;
    }
  soup_websocket_connection_send_message (self->ws, SOUP_WEBSOCKET_DATA_BINARY, frame);
  return TRUE;
}

static gboolean
send_peer_list (NbRelayClient       *self,
                NbRelayMsgType       type,
                const NbRelayPeerId *ids,
                gsize                n_ids,
                GError             **error)
{
  g_autoptr(GPtrArray) msgs = nb_relay_msg_encode_peer_list (type, ids, n_ids, error);

  if (msgs == NULL)
    return FALSE;
  for (guint i = 0; i < msgs->len; i++)
    if (!send_frame (self, msgs->pdata[i], error))
      return FALSE;
  return TRUE;
}

static void
send_subscriptions (NbRelayClient *self)
{
  g_autoptr(GError) error = NULL;
  g_autofree NbRelayPeerId *ids = NULL;
  GHashTableIter iter;
  gpointer key;
  gsize n = 0;

  if (g_hash_table_size (self->subscriptions) == 0)
    return;

  ids = g_new (NbRelayPeerId, g_hash_table_size (self->subscriptions));
  g_hash_table_iter_init (&iter, self->subscriptions);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    ids[n++] = *(NbRelayPeerId *) key;

  if (!send_peer_list (self, NB_RELAY_MSG_SUBSCRIBE_PEER_STATE, ids, n, &error))
    g_message ("%s: could not renew peer subscriptions: %s", self->server_url, error->message);
}

/* ---- tearing down ------------------------------------------------------ */

static void
on_released_ws_closed (SoupWebsocketConnection *ws,
                       gpointer                 user_data)
{
  g_object_unref (ws);
}

/* Takes @ws (full reference) away from us: close handshake if still open,
 * last unref once libsoup reports it closed. */
static void
release_ws (NbRelayClient           *self,
            SoupWebsocketConnection *ws)
{
  g_signal_handlers_disconnect_by_data (ws, self);
  switch (soup_websocket_connection_get_state (ws))
    {
    case SOUP_WEBSOCKET_STATE_OPEN:
      soup_websocket_connection_close (ws, SOUP_WEBSOCKET_CLOSE_NORMAL, NULL);
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

/* Stop timers and the socket of the current attempt; no signals. Sends
 * CLOSE first when @send_close and the socket is open. */
static void
teardown_socket (NbRelayClient *self,
                 gboolean       send_close)
{
  g_clear_handle_id (&self->connect_timeout_id, g_source_remove);
  g_clear_handle_id (&self->auth_timeout_id, g_source_remove);
  g_clear_handle_id (&self->health_timeout_id, g_source_remove);

  if (self->connect_cancellable != NULL)
    {
      g_cancellable_cancel (self->connect_cancellable);
      g_clear_object (&self->connect_cancellable);
    }

  if (self->ws != NULL)
    {
      SoupWebsocketConnection *ws = g_steal_pointer (&self->ws);

      if (send_close && soup_websocket_connection_get_state (ws) == SOUP_WEBSOCKET_STATE_OPEN)
        {
          g_autoptr(GBytes) close_msg = nb_relay_msg_encode_close ();

          soup_websocket_connection_send_message (ws, SOUP_WEBSOCKET_DATA_BINARY, close_msg);
        }
      release_ws (self, ws);
    }
  g_clear_error (&self->ws_error);
  g_clear_pointer (&self->instance_url, g_free);
}

/* The attempt or connection is over: tear down, close the virtual
 * connections, schedule the next attempt, emit "disconnected". Takes
 * @reason. */
static void
end_connection (NbRelayClient *self,
                GError        *reason)
{
  gboolean was_connected = self->state == STATE_CONNECTED;

  g_object_ref (self);

  if (was_connected)
    g_message ("%s: relay connection lost: %s", self->server_url, reason->message);
  else
    g_message ("%s: relay connection attempt failed: %s", self->server_url, reason->message);

  teardown_socket (self, FALSE);
  early_clear (self);
  g_clear_error (&self->last_error);
  self->last_error = g_error_copy (reason);
  self->state = STATE_STOPPED;
  if (self->running)
    schedule_reconnect (self);

  close_conns (self, NULL, 0, reason);
  g_signal_emit (self, client_signals[CLIENT_DISCONNECTED], 0, reason);

  g_error_free (reason);
  g_object_unref (self);
}

static void
end_connection_literal (NbRelayClient *self,
                        gint           code,
                        const char    *message)
{
  end_connection (self, g_error_new_literal (NB_RELAY_CLIENT_ERROR, code, message));
}

/* ---- reconnecting ------------------------------------------------------ */

static gboolean
on_reconnect (gpointer user_data)
{
  NbRelayClient *self = user_data;

  self->reconnect_id = 0;
  if (self->running && self->state == STATE_WAITING)
    begin_attempt (self);
  return G_SOURCE_REMOVE;
}

static void
schedule_reconnect (NbRelayClient *self)
{
  guint delay = nb_backoff_next (self->backoff);

  g_debug ("%s: reconnecting in %u ms", self->server_url, delay);
  self->state = STATE_WAITING;
  g_clear_handle_id (&self->reconnect_id, g_source_remove);
  self->reconnect_id = g_timeout_add (delay, on_reconnect, self);
}

/* ---- the WebSocket ----------------------------------------------------- */

static gboolean
on_health_timeout (gpointer user_data)
{
  NbRelayClient *self = user_data;

  self->health_timeout_id = 0;
  end_connection (self, g_error_new (NB_RELAY_CLIENT_ERROR, NB_RELAY_CLIENT_ERROR_HEALTH_TIMEOUT,
                                     "No health check from the relay server for %u ms",
                                     self->health_timeout_ms));
  return G_SOURCE_REMOVE;
}

static void
restart_health_timer (NbRelayClient *self)
{
  g_clear_handle_id (&self->health_timeout_id, g_source_remove);
  self->health_timeout_id = g_timeout_add (self->health_timeout_ms, on_health_timeout, self);
}

static void
handle_auth_response (NbRelayClient *self,
                      NbRelayMsg    *msg)
{
  g_autofree char *id = NULL;

  if (msg->type != NB_RELAY_MSG_AUTH_RESPONSE)
    {
      end_connection (self, g_error_new (NB_RELAY_CLIENT_ERROR, NB_RELAY_CLIENT_ERROR_PROTOCOL,
                                         "Relay server sent %s instead of an auth response",
                                         nb_relay_msg_type_to_string (msg->type)));
      return;
    }

  g_clear_handle_id (&self->auth_timeout_id, g_source_remove);
  self->state = STATE_CONNECTED;
  self->instance_url = g_strdup (msg->instance_url);
  g_clear_error (&self->last_error);
  nb_backoff_reset (self->backoff);
  restart_health_timer (self);

  id = nb_relay_peer_id_to_string (&self->self_id);
  g_message ("%s: connected as %s, instance %s", self->server_url, id, self->instance_url);

  send_subscriptions (self);
  g_signal_emit (self, client_signals[CLIENT_CONNECTED], 0, self->instance_url);
}

static void
handle_message (NbRelayClient *self,
                NbRelayMsg    *msg)
{
  switch (msg->type)
    {
    case NB_RELAY_MSG_TRANSPORT:
      deliver_transport (self, &msg->peer_id, msg->payload);
      break;

    case NB_RELAY_MSG_HEALTH_CHECK:
      {
        g_autoptr(GBytes) hc = nb_relay_msg_encode_health_check ();

        send_frame (self, hc, NULL);
        restart_health_timer (self);
      }
      break;

    case NB_RELAY_MSG_CLOSE:
      end_connection_literal (self, NB_RELAY_CLIENT_ERROR_CLOSED_BY_SERVER,
                              "Relay server closed the connection");
      break;

    case NB_RELAY_MSG_PEERS_ONLINE:
      if (msg->n_peer_ids > 0)
        g_signal_emit (self, client_signals[CLIENT_PEERS_ONLINE], 0,
                       msg->peer_ids, (guint) msg->n_peer_ids);
      break;

    case NB_RELAY_MSG_PEERS_WENT_OFFLINE:
      if (msg->n_peer_ids > 0)
        {
          g_autoptr(GError) reason =
            g_error_new_literal (NB_RELAY_CLIENT_ERROR, NB_RELAY_CLIENT_ERROR_PEER_OFFLINE,
                                 "The relay server reported the peer offline");

          g_object_ref (self);
          close_conns (self, msg->peer_ids, msg->n_peer_ids, reason);
          g_signal_emit (self, client_signals[CLIENT_PEERS_OFFLINE], 0,
                         msg->peer_ids, (guint) msg->n_peer_ids);
          g_object_unref (self);
        }
      break;

    case NB_RELAY_MSG_AUTH_RESPONSE:
    default:
      g_message ("%s: ignoring unexpected %s message", self->server_url,
                 nb_relay_msg_type_to_string (msg->type));
      break;
    }
}

static void
on_ws_message (SoupWebsocketConnection *ws,
               gint                     type,
               GBytes                  *message,
               gpointer                 user_data)
{
  g_autoptr(NbRelayClient) self = g_object_ref (user_data); /* handlers may drop theirs */
  g_autoptr(GError) error = NULL;
  g_autoptr(NbRelayMsg) msg = NULL;

  if (type != SOUP_WEBSOCKET_DATA_BINARY)
    {
      end_connection_literal (self, NB_RELAY_CLIENT_ERROR_PROTOCOL,
                              "Relay server sent a text message");
      return;
    }

  msg = nb_relay_msg_decode (message, NB_RELAY_MSG_FROM_SERVER, &error);
  if (msg == NULL)
    {
      if (self->state == STATE_AUTHENTICATING ||
          g_error_matches (error, NB_RELAY_MSG_ERROR, NB_RELAY_MSG_ERROR_VERSION))
        {
          end_connection (self, g_error_new (NB_RELAY_CLIENT_ERROR, NB_RELAY_CLIENT_ERROR_PROTOCOL,
                                             "Bad message from the relay server: %s",
                                             error->message));
        }
      else if (g_error_matches (error, NB_RELAY_MSG_ERROR, NB_RELAY_MSG_ERROR_UNKNOWN_TYPE))
        g_debug ("%s: skipping message: %s", self->server_url, error->message);
      else
        g_message ("%s: dropping malformed message: %s", self->server_url, error->message);
      return;
    }

  if (self->state == STATE_AUTHENTICATING)
    handle_auth_response (self, msg);
  else if (self->state == STATE_CONNECTED)
    handle_message (self, msg);
}

static void
on_ws_error (SoupWebsocketConnection *ws,
             GError                  *error,
             gpointer                 user_data)
{
  NbRelayClient *self = user_data;

  if (self->ws_error == NULL)
    self->ws_error = g_error_copy (error);
}

static void
on_ws_closed (SoupWebsocketConnection *ws,
              gpointer                 user_data)
{
  NbRelayClient *self = user_data;
  g_autofree char *detail = NULL;

  if (self->ws_error != NULL)
    detail = g_strdup (self->ws_error->message);
  else
    detail = g_strdup_printf ("close code %u",
                              (guint) soup_websocket_connection_get_close_code (ws));

  if (self->state == STATE_AUTHENTICATING)
    end_connection (self, g_error_new (NB_RELAY_CLIENT_ERROR, NB_RELAY_CLIENT_ERROR_AUTH_REJECTED,
                                       "Relay server closed the connection without an auth response (%s)",
                                       detail));
  else
    end_connection (self, g_error_new (NB_RELAY_CLIENT_ERROR, NB_RELAY_CLIENT_ERROR_CLOSED_BY_SERVER,
                                       "Relay connection closed (%s)", detail));
}

static gboolean
on_auth_timeout (gpointer user_data)
{
  NbRelayClient *self = user_data;

  self->auth_timeout_id = 0;
  end_connection (self, g_error_new (NB_RELAY_CLIENT_ERROR, NB_RELAY_CLIENT_ERROR_AUTH_TIMEOUT,
                                     "No auth response from the relay server within %u ms",
                                     self->auth_timeout_ms));
  return G_SOURCE_REMOVE;
}

static void
on_ws_connected (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GError) auth_error = NULL;
  g_autoptr(GBytes) auth = NULL;
  SoupWebsocketConnection *ws;
  NbRelayClient *self;

  ws = soup_session_websocket_connect_finish (SOUP_SESSION (source), result, &error);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    {
      /* stop(), dispose or the connect timeout: @user_data may be gone. */
      g_clear_object (&ws);
      return;
    }

  self = user_data;
  g_clear_handle_id (&self->connect_timeout_id, g_source_remove);
  g_clear_object (&self->connect_cancellable);

  if (ws == NULL)
    {
      end_connection (self, g_error_new (NB_RELAY_CLIENT_ERROR, NB_RELAY_CLIENT_ERROR_CONNECT,
                                         "Could not connect to %s: %s", self->ws_url,
                                         error->message));
      return;
    }

  self->ws = ws;
  soup_websocket_connection_set_max_incoming_payload_size (ws, WS_MAX_INCOMING_PAYLOAD);
  soup_websocket_connection_set_keepalive_interval (ws, 0);
  g_signal_connect (ws, "message", G_CALLBACK (on_ws_message), self);
  g_signal_connect (ws, "error", G_CALLBACK (on_ws_error), self);
  g_signal_connect (ws, "closed", G_CALLBACK (on_ws_closed), self);

  auth = nb_relay_msg_encode_auth (&self->self_id,
                                   g_bytes_get_data (self->auth_payload, NULL),
                                   g_bytes_get_size (self->auth_payload), &auth_error);
  if (auth == NULL)
    {
      end_connection (self, g_error_new (NB_RELAY_CLIENT_ERROR, NB_RELAY_CLIENT_ERROR_NO_TOKEN,
                                         "Cannot build the auth message: %s", auth_error->message));
      return;
    }

  self->state = STATE_AUTHENTICATING;
  self->auth_timeout_id = g_timeout_add (self->auth_timeout_ms, on_auth_timeout, self);
  send_frame (self, auth, NULL);
}

static gboolean
on_connect_timeout (gpointer user_data)
{
  NbRelayClient *self = user_data;

  self->connect_timeout_id = 0;
  end_connection (self, g_error_new (NB_RELAY_CLIENT_ERROR, NB_RELAY_CLIENT_ERROR_CONNECT,
                                     "Could not connect to %s within %u ms", self->ws_url,
                                     self->connect_timeout_ms));
  return G_SOURCE_REMOVE;
}

static void
on_network_event (SoupMessage *msg, GSocketClientEvent event, GIOStream *connection,
                  gpointer user_data)
{
  nb_uplink_bind_connecting (event, connection);
}

static void
begin_attempt (NbRelayClient *self)
{
  g_autoptr(SoupMessage) msg = NULL;

  g_assert (self->ws == NULL);
  g_assert (self->connect_cancellable == NULL);

  msg = soup_message_new (SOUP_METHOD_GET, self->ws_url);
  g_assert (msg != NULL); /* validated in _new() */
  g_signal_connect (msg, "network-event", G_CALLBACK (on_network_event), NULL);

  g_debug ("%s: connecting to %s", self->server_url, self->ws_url);
  self->state = STATE_CONNECTING;
  self->connect_cancellable = g_cancellable_new ();
  self->connect_timeout_id = g_timeout_add (self->connect_timeout_ms, on_connect_timeout, self);
  soup_session_websocket_connect_async (self->session, msg, NULL, NULL, G_PRIORITY_DEFAULT,
                                        self->connect_cancellable, on_ws_connected, self);
}

/* ---- NbRelayClient ----------------------------------------------------- */

static void
nb_relay_client_dispose (GObject *object)
{
  NbRelayClient *self = NB_RELAY_CLIENT (object);

  self->running = FALSE;
  g_clear_handle_id (&self->reconnect_id, g_source_remove);
  teardown_socket (self, self->state == STATE_CONNECTED);
  self->state = STATE_STOPPED;
  if (self->conns != NULL && g_hash_table_size (self->conns) > 0)
    {
      g_autoptr(GError) reason =
        g_error_new_literal (NB_RELAY_CLIENT_ERROR, NB_RELAY_CLIENT_ERROR_CLOSED,
                             "The relay client was destroyed");
      close_conns (self, NULL, 0, reason);
    }
  if (self->early != NULL)
    early_clear (self);
  g_clear_object (&self->session);

  G_OBJECT_CLASS (nb_relay_client_parent_class)->dispose (object);
}

static void
nb_relay_client_finalize (GObject *object)
{
  NbRelayClient *self = NB_RELAY_CLIENT (object);

  g_free (self->server_url);
  g_free (self->ws_url);
  g_clear_pointer (&self->auth_payload, g_bytes_unref);
  g_clear_error (&self->last_error);
  g_clear_pointer (&self->backoff, nb_backoff_free);
  g_clear_pointer (&self->conns, g_hash_table_unref);
  g_clear_pointer (&self->early, g_hash_table_unref);
  g_clear_pointer (&self->subscriptions, g_hash_table_unref);

  G_OBJECT_CLASS (nb_relay_client_parent_class)->finalize (object);
}

static void
nb_relay_client_class_init (NbRelayClientClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = nb_relay_client_dispose;
  object_class->finalize = nb_relay_client_finalize;

  client_signals[CLIENT_CONNECTED] =
    g_signal_new ("connected", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                  NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_STRING);
  client_signals[CLIENT_DISCONNECTED] =
    g_signal_new ("disconnected", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                  NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_ERROR);
  client_signals[CLIENT_PEERS_ONLINE] =
    g_signal_new ("peers-online", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                  NULL, NULL, NULL, G_TYPE_NONE, 2, G_TYPE_POINTER, G_TYPE_UINT);
  client_signals[CLIENT_PEERS_OFFLINE] =
    g_signal_new ("peers-offline", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                  NULL, NULL, NULL, G_TYPE_NONE, 2, G_TYPE_POINTER, G_TYPE_UINT);
}

static void
nb_relay_client_init (NbRelayClient *self)
{
  self->connect_timeout_ms = NB_RELAY_CLIENT_DEFAULT_CONNECT_TIMEOUT_MS;
  self->auth_timeout_ms = NB_RELAY_CLIENT_DEFAULT_AUTH_TIMEOUT_MS;
  self->health_timeout_ms = NB_RELAY_CLIENT_DEFAULT_HEALTH_TIMEOUT_MS;
  self->backoff = nb_backoff_new (NB_RELAY_CLIENT_DEFAULT_BACKOFF_INITIAL_MS,
                                  NB_RELAY_CLIENT_DEFAULT_BACKOFF_MAX_MS);
  nb_backoff_set_multiplier (self->backoff, 2.0);
  nb_backoff_set_jitter (self->backoff, 0.5);
  self->conns = g_hash_table_new (nb_relay_peer_id_hash, nb_relay_peer_id_equal);
  self->early = g_hash_table_new_full (nb_relay_peer_id_hash, nb_relay_peer_id_equal,
                                       g_free, (GDestroyNotify) early_message_free);
  self->subscriptions = g_hash_table_new_full (nb_relay_peer_id_hash, nb_relay_peer_id_equal,
                                               g_free, NULL);
}

NbRelayClient *
nb_relay_client_new (const char *relay_url,
                     const char *peer_key,
                     GError    **error)
{
  g_autoptr(NbRelayClient) self = NULL;
  g_autofree char *ws_url = NULL;

  g_return_val_if_fail (relay_url != NULL, NULL);
  g_return_val_if_fail (peer_key != NULL && *peer_key != '\0', NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  ws_url = nb_relay_url_to_websocket (relay_url, error);
  if (ws_url == NULL)
    return NULL;

  self = g_object_new (NB_TYPE_RELAY_CLIENT, NULL);
  self->server_url = g_strdup (relay_url);
  self->ws_url = g_steal_pointer (&ws_url);
  nb_relay_peer_id_from_key (&self->self_id, peer_key);

  self->session = soup_session_new ();
  /* Relay payloads are encrypted WireGuard packets: deflate only costs. */
  soup_session_remove_feature_by_type (self->session, SOUP_TYPE_WEBSOCKET_EXTENSION_MANAGER);
  /* NetBird's relay dialer does not go through HTTP proxies either. */
  soup_session_set_proxy_resolver (self->session, NULL);

  return g_steal_pointer (&self);
}

gboolean
nb_relay_client_set_token (NbRelayClient *self,
                           const char    *token_payload,
                           const char    *token_signature,
                           GError       **error)
{
  GBytes *auth;

  g_return_val_if_fail (NB_IS_RELAY_CLIENT (self), FALSE);
  g_return_val_if_fail (token_payload != NULL, FALSE);
  g_return_val_if_fail (token_signature != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  auth = nb_relay_auth_payload_new (token_payload, token_signature, error);
  if (auth == NULL)
    return FALSE;
  g_clear_pointer (&self->auth_payload, g_bytes_unref);
  self->auth_payload = auth;
  return TRUE;
}

gboolean
nb_relay_client_start (NbRelayClient *self,
                       GError       **error)
{
  g_return_val_if_fail (NB_IS_RELAY_CLIENT (self), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (self->running)
    return TRUE;
  if (self->auth_payload == NULL)
    {
      g_set_error_literal (error, NB_RELAY_CLIENT_ERROR, NB_RELAY_CLIENT_ERROR_NO_TOKEN,
                           "No relay token set");
      return FALSE;
    }

  self->running = TRUE;
  nb_backoff_reset (self->backoff);
  begin_attempt (self);
  return TRUE;
}

void
nb_relay_client_stop (NbRelayClient *self)
{
  g_autoptr(GError) reason = NULL;

  g_return_if_fail (NB_IS_RELAY_CLIENT (self));

  if (!self->running && self->state == STATE_STOPPED)
    return;

  g_object_ref (self);
  self->running = FALSE;
  g_clear_handle_id (&self->reconnect_id, g_source_remove);
  teardown_socket (self, self->state == STATE_CONNECTED);
  self->state = STATE_STOPPED;
  early_clear (self);

  reason = g_error_new_literal (NB_RELAY_CLIENT_ERROR, NB_RELAY_CLIENT_ERROR_CLOSED,
                                "The relay client was stopped");
  close_conns (self, NULL, 0, reason);
  g_object_unref (self);
}

gboolean
nb_relay_client_is_connected (NbRelayClient *self)
{
  g_return_val_if_fail (NB_IS_RELAY_CLIENT (self), FALSE);
  return self->state == STATE_CONNECTED;
}

const char *
nb_relay_client_get_instance_url (NbRelayClient *self)
{
  g_return_val_if_fail (NB_IS_RELAY_CLIENT (self), NULL);
  return self->state == STATE_CONNECTED ? self->instance_url : NULL;
}

const char *
nb_relay_client_get_server_url (NbRelayClient *self)
{
  g_return_val_if_fail (NB_IS_RELAY_CLIENT (self), NULL);
  return self->server_url;
}

const char *
nb_relay_client_get_websocket_url (NbRelayClient *self)
{
  g_return_val_if_fail (NB_IS_RELAY_CLIENT (self), NULL);
  return self->ws_url;
}

const NbRelayPeerId *
nb_relay_client_get_peer_id (NbRelayClient *self)
{
  g_return_val_if_fail (NB_IS_RELAY_CLIENT (self), NULL);
  return &self->self_id;
}

const GError *
nb_relay_client_get_last_error (NbRelayClient *self)
{
  g_return_val_if_fail (NB_IS_RELAY_CLIENT (self), NULL);
  return self->last_error;
}

NbRelayConn *
nb_relay_client_open_conn_by_id (NbRelayClient       *self,
                                 const NbRelayPeerId *peer_id,
                                 GError             **error)
{
  NbRelayConn *conn;
  GBytes *early;

  g_return_val_if_fail (NB_IS_RELAY_CLIENT (self), NULL);
  g_return_val_if_fail (peer_id != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (self->state != STATE_CONNECTED)
    {
      g_set_error_literal (error, NB_RELAY_CLIENT_ERROR, NB_RELAY_CLIENT_ERROR_NOT_CONNECTED,
                           "Not connected to the relay server");
      return NULL;
    }
  if (g_hash_table_contains (self->conns, peer_id))
    {
      g_autofree char *id = nb_relay_peer_id_to_string (peer_id);

      g_set_error (error, NB_RELAY_CLIENT_ERROR, NB_RELAY_CLIENT_ERROR_EXISTS,
                   "A relayed connection to %s is already open", id);
      return NULL;
    }

  conn = g_object_new (NB_TYPE_RELAY_CONN, NULL);
  conn->client = self;
  conn->peer_id = *peer_id;
  g_hash_table_insert (self->conns, &conn->peer_id, conn);

  early = early_pop (self, peer_id);
  if (early != NULL)
    {
      conn->early = early;
      conn->early_idle_id = g_idle_add (on_conn_early_idle, conn);
    }
  return conn;
}

NbRelayConn *
nb_relay_client_open_conn (NbRelayClient *self,
                           const char    *peer_key,
                           GError       **error)
{
  NbRelayPeerId id;

  g_return_val_if_fail (NB_IS_RELAY_CLIENT (self), NULL);
  g_return_val_if_fail (peer_key != NULL, NULL);

  nb_relay_peer_id_from_key (&id, peer_key);
  return nb_relay_client_open_conn_by_id (self, &id, error);
}

gboolean
nb_relay_client_send_to (NbRelayClient       *self,
                         const NbRelayPeerId *peer_id,
                         GBytes              *payload,
                         GError             **error)
{
  g_autoptr(GBytes) frame = NULL;
  gsize len = 0;
  const void *data;

  g_return_val_if_fail (NB_IS_RELAY_CLIENT (self), FALSE);
  g_return_val_if_fail (peer_id != NULL, FALSE);
  g_return_val_if_fail (payload != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (self->state != STATE_CONNECTED)
    {
      g_set_error_literal (error, NB_RELAY_CLIENT_ERROR, NB_RELAY_CLIENT_ERROR_NOT_CONNECTED,
                           "Not connected to the relay server");
      return FALSE;
    }
  data = g_bytes_get_data (payload, &len);
  frame = nb_relay_msg_encode_transport (peer_id, data, len, error);
  if (frame == NULL)
    return FALSE;
  return send_frame (self, frame, error);
}

gboolean
nb_relay_client_subscribe (NbRelayClient       *self,
                           const NbRelayPeerId *ids,
                           gsize                n_ids,
                           GError             **error)
{
  g_return_val_if_fail (NB_IS_RELAY_CLIENT (self), FALSE);
  g_return_val_if_fail (ids != NULL || n_ids == 0, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (n_ids == 0)
    return TRUE;
  for (gsize i = 0; i < n_ids; i++)
    g_hash_table_add (self->subscriptions, nb_relay_peer_id_dup (&ids[i]));
  if (self->state != STATE_CONNECTED)
    return TRUE;
  return send_peer_list (self, NB_RELAY_MSG_SUBSCRIBE_PEER_STATE, ids, n_ids, error);
}

gboolean
nb_relay_client_unsubscribe (NbRelayClient       *self,
                             const NbRelayPeerId *ids,
                             gsize                n_ids,
                             GError             **error)
{
  g_return_val_if_fail (NB_IS_RELAY_CLIENT (self), FALSE);
  g_return_val_if_fail (ids != NULL || n_ids == 0, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (n_ids == 0)
    return TRUE;
  for (gsize i = 0; i < n_ids; i++)
    g_hash_table_remove (self->subscriptions, &ids[i]);
  if (self->state != STATE_CONNECTED)
    return TRUE;
  return send_peer_list (self, NB_RELAY_MSG_UNSUBSCRIBE_PEER_STATE, ids, n_ids, error);
}

void
nb_relay_client_set_auth_timeout (NbRelayClient *self,
                                  guint          timeout_ms)
{
  g_return_if_fail (NB_IS_RELAY_CLIENT (self));
  g_return_if_fail (timeout_ms > 0);
  self->auth_timeout_ms = timeout_ms;
}

void
nb_relay_client_set_health_timeout (NbRelayClient *self,
                                    guint          timeout_ms)
{
  g_return_if_fail (NB_IS_RELAY_CLIENT (self));
  g_return_if_fail (timeout_ms > 0);
  self->health_timeout_ms = timeout_ms;
}

void
nb_relay_client_set_connect_timeout (NbRelayClient *self,
                                     guint          timeout_ms)
{
  g_return_if_fail (NB_IS_RELAY_CLIENT (self));
  g_return_if_fail (timeout_ms > 0);
  self->connect_timeout_ms = timeout_ms;
}

void
nb_relay_client_set_backoff (NbRelayClient *self,
                             guint          initial_ms,
                             guint          max_ms)
{
  g_return_if_fail (NB_IS_RELAY_CLIENT (self));
  g_return_if_fail (initial_ms > 0 && max_ms >= initial_ms);

  g_clear_pointer (&self->backoff, nb_backoff_free);
  self->backoff = nb_backoff_new (initial_ms, max_ms);
  nb_backoff_set_multiplier (self->backoff, 2.0);
  nb_backoff_set_jitter (self->backoff, 0.5);
}

void
nb_relay_client_set_tls_database (NbRelayClient *self,
                                  GTlsDatabase  *database)
{
  g_return_if_fail (NB_IS_RELAY_CLIENT (self));
  g_return_if_fail (database == NULL || G_IS_TLS_DATABASE (database));

  soup_session_set_tls_database (self->session, database);
}

/* ---- NbRelayConn ------------------------------------------------------- */

static void
nb_relay_conn_dispose (GObject *object)
{
  nb_relay_conn_close (NB_RELAY_CONN (object));

  G_OBJECT_CLASS (nb_relay_conn_parent_class)->dispose (object);
}

static void
nb_relay_conn_class_init (NbRelayConnClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = nb_relay_conn_dispose;

  conn_signals[CONN_MESSAGE] =
    g_signal_new ("message", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                  NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_BYTES);
  conn_signals[CONN_CLOSED] =
    g_signal_new ("closed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                  NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_ERROR);
}

static void
nb_relay_conn_init (NbRelayConn *conn)
{
}

const NbRelayPeerId *
nb_relay_conn_get_peer_id (NbRelayConn *conn)
{
  g_return_val_if_fail (NB_IS_RELAY_CONN (conn), NULL);
  return &conn->peer_id;
}

NbRelayClient *
nb_relay_conn_get_client (NbRelayConn *conn)
{
  g_return_val_if_fail (NB_IS_RELAY_CONN (conn), NULL);
  return conn->client;
}

gboolean
nb_relay_conn_is_open (NbRelayConn *conn)
{
  g_return_val_if_fail (NB_IS_RELAY_CONN (conn), FALSE);
  return conn->client != NULL;
}

gboolean
nb_relay_conn_send (NbRelayConn *conn,
                    GBytes      *payload,
                    GError     **error)
{
  g_return_val_if_fail (NB_IS_RELAY_CONN (conn), FALSE);
  g_return_val_if_fail (payload != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (conn->client == NULL)
    {
      g_set_error_literal (error, NB_RELAY_CLIENT_ERROR, NB_RELAY_CLIENT_ERROR_CLOSED,
                           "The relayed connection is closed");
      return FALSE;
    }
  return nb_relay_client_send_to (conn->client, &conn->peer_id, payload, error);
}

void
nb_relay_conn_close (NbRelayConn *conn)
{
  g_return_if_fail (NB_IS_RELAY_CONN (conn));

  if (conn->client == NULL)
    return;
  if (g_hash_table_lookup (conn->client->conns, &conn->peer_id) == conn)
    g_hash_table_remove (conn->client->conns, &conn->peer_id);
  conn_detach (conn);
}
