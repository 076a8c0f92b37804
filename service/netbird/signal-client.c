/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * NetBird signal client, see signal-client.h.
 *
 * Facts from NetBird's shared/signal/client/grpc.go and signal/server: the
 * stream is opened with metadata x-wiretrustee-peer-id and is usable only
 * once the response header x-wiretrustee-peer-registered arrived; every
 * message is sent with the unary Send (up to 4 attempts, deadlines 10, 10,
 * 10, 15 s); the receive watchdog sends a self-addressed HEARTBEAT after
 * 30 s without any received frame and reconnects when nothing arrives
 * within 10 s after it; reconnects use an exponential backoff (0.8 s x1.7,
 * max 10 s) that is reset after a stream that had been registered.
 *
 * States: STOPPED -> CONNECTING (stream opened, waiting for the
 * registration header) -> CONNECTED -> (failure) WAITING (backoff timer)
 * -> CONNECTING ... Every way a stream ends goes through stream_failed().
 *
 * Pending sends (SendOp) do not reference the client: stop/dispose cancel
 * them and cut their back pointer, so a forgotten send cannot keep a
 * stopped client's stream alive.
 */
#define G_LOG_DOMAIN "nb-signal"

#include "config.h"

#include "signal-client.h"

#include <string.h>

#include "backoff.h"
#include "grpc.h"

G_DEFINE_QUARK (nb-signal-client-error-quark, nb_signal_client_error)

#define PATH_CONNECT_STREAM "/signalexchange.SignalExchange/ConnectStream"
#define PATH_SEND           "/signalexchange.SignalExchange/Send"

/* Dropped messages logged at message level: the first ones, then every Nth. */
#define DROP_LOG_LIMIT 20
#define DROP_LOG_EVERY 1000

typedef enum {
  STATE_STOPPED,
  STATE_CONNECTING,
  STATE_CONNECTED,
  STATE_WAITING,
} State;

typedef struct _SendOp SendOp;

struct _NbSignalClient {
  GObject parent_instance;

  char *url;
  NbWgKey *private_key;  /* secret */
  char *public_key;
  NbGrpcChannel *channel;
  gulong channel_disconnected_id;

  State state;
  gboolean ready_emitted;    /* since start */
  NbGrpcCall *call;
  gulong call_ids[3];
  GError *last_error;
  guint64 dropped;

  NbBackoff *backoff;
  guint reconnect_id;
  guint register_timeout_id;

  /* Receive watchdog. */
  guint watchdog_id;
  gboolean probing;
  gint64 last_rx_us;         /* monotonic */

  guint heartbeat_interval_ms;
  guint heartbeat_timeout_ms;
  guint register_timeout_ms;
  guint send_timeout_ms;

  GPtrArray *pending_sends;  /* SendOp*, unowned */
};

enum {
  SIGNAL_READY,
  SIGNAL_RECONNECTED,
  SIGNAL_DISCONNECTED,
  SIGNAL_MESSAGE,
  SIGNAL_HEARTBEAT,
  N_SIGNALS,
};

enum {
  PROP_0,
  PROP_CONNECTED,
  N_PROPS,
};

static guint signals[N_SIGNALS];
static GParamSpec *props[N_PROPS];

G_DEFINE_FINAL_TYPE (NbSignalClient, nb_signal_client, G_TYPE_OBJECT)

static void open_stream (NbSignalClient *self);
static void stream_failed (NbSignalClient *self, GError *reason);
static void cancel_pending_sends (NbSignalClient *self);

/* ------------------------------------------------------------------------ */
/* Errors */

static gboolean
error_is_cancelled (const GError *error)
{
  return g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED)
         || g_error_matches (error, NB_GRPC_ERROR, NB_GRPC_STATUS_CANCELLED);
}

/* A gRPC failure (NB_GRPC_ERROR or other) as an NB_SIGNAL_CLIENT_ERROR;
 * @other_code for statuses without a specific mapping. */
static GError *
map_grpc_error (const GError *error, NbSignalClientError other_code, const char *what)
{
  int code = other_code;

  if (error->domain == NB_GRPC_ERROR)
    {
      const char *name = nb_grpc_status_name (error->code);

      switch (error->code)
        {
        case NB_GRPC_STATUS_UNAVAILABLE:
        case NB_GRPC_STATUS_DEADLINE_EXCEEDED:
          code = NB_SIGNAL_CLIENT_ERROR_UNAVAILABLE;
          break;
        case NB_GRPC_STATUS_FAILED_PRECONDITION:
          code = NB_SIGNAL_CLIENT_ERROR_REJECTED;
          break;
        default:
          break;
        }
      return g_error_new (NB_SIGNAL_CLIENT_ERROR, code, "%s: %s: %s", what, name ? name : "UNKNOWN",
                          error->message);
    }
  return g_error_new (NB_SIGNAL_CLIENT_ERROR, code, "%s: %s", what, error->message);
}

/* ------------------------------------------------------------------------ */
/* Sending */

struct _SendOp {
  NbSignalClient *client;  /* unowned; NULL once the client stopped */
  NbGrpcChannel *channel;
  GBytes *wire;
  char *remote_key;
  NbSignalMsgType type;
  guint attempt;
  guint base_timeout_ms;
  GCancellable *cancellable;
  GCancellable *user_cancellable;
  gulong user_cancel_id;
  GTask *task;             /* NULL: fire and forget */
};

static void
send_op_free (SendOp *op)
{
  if (op->user_cancellable)
    {
      g_cancellable_disconnect (op->user_cancellable, op->user_cancel_id);
      g_object_unref (op->user_cancellable);
    }
  g_clear_object (&op->cancellable);
  g_clear_object (&op->channel);
  g_clear_pointer (&op->wire, g_bytes_unref);
  g_free (op->remote_key);
  g_clear_object (&op->task);
  g_free (op);
}

static void
send_op_user_cancelled (GCancellable *user_cancellable, gpointer data)
{
  g_cancellable_cancel (G_CANCELLABLE (data));
}

/* Completes @op with @error (NULL: success); takes @error. */
static void
send_op_finish (SendOp *op, GError *error)
{
  if (op->client)
    g_ptr_array_remove_fast (op->client->pending_sends, op);

  if (op->task)
    {
      if (error)
        g_task_return_error (op->task, error);
      else
        g_task_return_boolean (op->task, TRUE);
    }
  else if (error)
    {
      if (op->type == NB_SIGNAL_MSG_HEARTBEAT || error->domain != NB_SIGNAL_CLIENT_ERROR
          || error->code == NB_SIGNAL_CLIENT_ERROR_STOPPED)
        g_debug ("%s to %s not delivered: %s", nb_signal_msg_type_to_string (op->type), op->remote_key,
                 error->message);
      else
        g_message ("%s to %s not delivered: %s", nb_signal_msg_type_to_string (op->type),
                   op->remote_key, error->message);
      g_error_free (error);
    }
  send_op_free (op);
}

static void send_op_attempt (SendOp *op);

static void
send_op_done_cb (GObject *source, GAsyncResult *result, gpointer data)
{
  SendOp *op = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) reply = nb_grpc_channel_call_finish (NB_GRPC_CHANNEL (source), result, &error);

  if (reply)
    {
      send_op_finish (op, NULL);
      return;
    }
  if (op->client == NULL)
    {
      send_op_finish (op, g_error_new_literal (NB_SIGNAL_CLIENT_ERROR, NB_SIGNAL_CLIENT_ERROR_STOPPED,
                                               "signal client stopped"));
      return;
    }
  if (error_is_cancelled (error))
    {
      send_op_finish (op, g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED, "send cancelled"));
      return;
    }
  if (op->attempt < NB_SIGNAL_CLIENT_SEND_ATTEMPTS)
    {
      g_debug ("Send of %s to %s failed (attempt %u): %s", nb_signal_msg_type_to_string (op->type),
               op->remote_key, op->attempt, error->message);
      send_op_attempt (op);
      return;
    }
  send_op_finish (op, map_grpc_error (error, NB_SIGNAL_CLIENT_ERROR_SEND_FAILED, "Send failed"));
}

static void
send_op_attempt (SendOp *op)
{
  /* NetBird: the connect timeout for the first attempts, attempt x 5 s
   * (with a 10 s base) from the third on. */
  guint timeout = op->base_timeout_ms;

  if (op->attempt > 1)
    timeout = MAX (timeout, op->attempt * (op->base_timeout_ms / 2));
  op->attempt++;
  nb_grpc_channel_call_async (op->channel, PATH_SEND, op->wire, NULL, timeout, op->cancellable,
                              send_op_done_cb, op);
}

/* Seals @msg and starts sending it; FALSE + @error when that is not
 * possible right now. */
static gboolean
send_start (NbSignalClient        *self,
            const char            *remote_key,
            const NbSignalMessage *msg,
            GCancellable          *cancellable,
            GTask                 *task,
            GError               **error)
{
  g_autoptr (GBytes) wire = NULL;
  SendOp *op;

  if (self->state != STATE_CONNECTED)
    {
      g_set_error_literal (error, NB_SIGNAL_CLIENT_ERROR, NB_SIGNAL_CLIENT_ERROR_NOT_CONNECTED,
                           "not connected to the signal server");
      return FALSE;
    }
  wire = nb_signal_message_seal (msg, self->private_key, self->public_key, remote_key, error);
  if (wire == NULL)
    return FALSE;

  op = g_new0 (SendOp, 1);
  op->client = self;
  op->channel = g_object_ref (self->channel);
  op->wire = g_steal_pointer (&wire);
  op->remote_key = g_strdup (remote_key);
  op->type = msg->type;
  op->base_timeout_ms = self->send_timeout_ms;
  op->cancellable = g_cancellable_new ();
  op->task = task ? g_object_ref (task) : NULL;
  g_ptr_array_add (self->pending_sends, op);
  if (cancellable)
    {
      op->user_cancellable = g_object_ref (cancellable);
      op->user_cancel_id = g_cancellable_connect (cancellable, G_CALLBACK (send_op_user_cancelled),
                                                  op->cancellable, NULL);
    }
  send_op_attempt (op);
  return TRUE;
}

gboolean
nb_signal_client_send (NbSignalClient        *self,
                       const char            *remote_key,
                       const NbSignalMessage *msg,
                       GError               **error)
{
  g_return_val_if_fail (NB_IS_SIGNAL_CLIENT (self), FALSE);
  g_return_val_if_fail (msg != NULL, FALSE);

  return send_start (self, remote_key, msg, NULL, NULL, error);
}

void
nb_signal_client_send_async (NbSignalClient        *self,
                             const char            *remote_key,
                             const NbSignalMessage *msg,
                             GCancellable          *cancellable,
                             GAsyncReadyCallback    callback,
                             gpointer               user_data)
{
  g_autoptr (GTask) task = NULL;
  GError *error = NULL;

  g_return_if_fail (NB_IS_SIGNAL_CLIENT (self));
  g_return_if_fail (msg != NULL);

  task = g_task_new (NULL, cancellable, callback, user_data);
  g_task_set_source_tag (task, nb_signal_client_send_async);
  if (!send_start (self, remote_key, msg, cancellable, task, &error))
    g_task_return_error (task, error);
}

gboolean
nb_signal_client_send_finish (NbSignalClient *self,
                              GAsyncResult   *result,
                              GError        **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), FALSE);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == nb_signal_client_send_async, FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

static void
cancel_pending_sends (NbSignalClient *self)
{
  g_autoptr (GPtrArray) ops = g_steal_pointer (&self->pending_sends);

  self->pending_sends = g_ptr_array_new ();
  for (guint i = 0; i < ops->len; i++)
    {
      SendOp *op = ops->pdata[i];

      op->client = NULL;
      g_cancellable_cancel (op->cancellable);
    }
}

/* ------------------------------------------------------------------------ */
/* Receive watchdog */

static gboolean watchdog_cb (gpointer data);

static void
watchdog_arm (NbSignalClient *self, guint ms)
{
  g_clear_handle_id (&self->watchdog_id, g_source_remove);
  self->watchdog_id = g_timeout_add (ms, watchdog_cb, self);
}

static void
send_heartbeat (NbSignalClient *self)
{
  g_autoptr (NbSignalMessage) hb = nb_signal_message_new (NB_SIGNAL_MSG_HEARTBEAT);
  g_autoptr (GError) error = NULL;

  if (!send_start (self, self->public_key, hb, NULL, NULL, &error))
    g_debug ("cannot send heartbeat: %s", error->message);
}

static gboolean
watchdog_cb (gpointer data)
{
  NbSignalClient *self = data;
  gint64 idle_ms;

  self->watchdog_id = 0;
  if (self->probing)
    {
      stream_failed (self, g_error_new (NB_SIGNAL_CLIENT_ERROR, NB_SIGNAL_CLIENT_ERROR_STALLED,
                                        "signal receive stream stalled (heartbeat not returned within %u ms)",
                                        self->heartbeat_timeout_ms));
      return G_SOURCE_REMOVE;
    }

  idle_ms = (g_get_monotonic_time () - self->last_rx_us) / 1000;
  if (idle_ms < self->heartbeat_interval_ms)
    {
      watchdog_arm (self, self->heartbeat_interval_ms - (guint) idle_ms);
      return G_SOURCE_REMOVE;
    }

  g_debug ("nothing received for %" G_GINT64_FORMAT " ms, sending a heartbeat", idle_ms);
  self->probing = TRUE;
  watchdog_arm (self, self->heartbeat_timeout_ms);
  send_heartbeat (self);
  return G_SOURCE_REMOVE;
}

static void
watchdog_start (NbSignalClient *self)
{
  self->probing = FALSE;
  self->last_rx_us = g_get_monotonic_time ();
  if (self->heartbeat_interval_ms > 0)
    watchdog_arm (self, self->heartbeat_interval_ms);
}

static void
watchdog_received (NbSignalClient *self)
{
  self->last_rx_us = g_get_monotonic_time ();
  if (self->probing)
    watchdog_start (self);
}

/* ------------------------------------------------------------------------ */
/* Stream */

static void
set_state (NbSignalClient *self, State state)
{
  gboolean was = self->state == STATE_CONNECTED;

  self->state = state;
  if (was != (state == STATE_CONNECTED))
    g_object_notify_by_pspec (G_OBJECT (self), props[PROP_CONNECTED]);
}

/* Drops the current call without emitting anything. */
static void
release_call (NbSignalClient *self)
{
  g_autoptr (NbGrpcCall) call = g_steal_pointer (&self->call);

  if (call == NULL)
    return;
  for (guint i = 0; i < G_N_ELEMENTS (self->call_ids); i++)
    g_clear_signal_handler (&self->call_ids[i], call);
  if (!nb_grpc_call_is_closed (call))
    nb_grpc_call_cancel (call);
}

static void
clear_timers (NbSignalClient *self)
{
  g_clear_handle_id (&self->reconnect_id, g_source_remove);
  g_clear_handle_id (&self->register_timeout_id, g_source_remove);
  g_clear_handle_id (&self->watchdog_id, g_source_remove);
  self->probing = FALSE;
}

static gboolean
reconnect_cb (gpointer data)
{
  NbSignalClient *self = data;

  self->reconnect_id = 0;
  open_stream (self);
  return G_SOURCE_REMOVE;
}

/* Ends the current attempt or stream with @reason (taken), schedules the
 * next attempt (after the backoff delay, or at once when @immediate and a
 * registered stream ends) and emits "disconnected". */
static void
stream_failed_full (NbSignalClient *self, GError *reason, gboolean immediate)
{
  g_autoptr (GObject) keep = g_object_ref (G_OBJECT (self));
  gboolean was_connected = self->state == STATE_CONNECTED;
  guint delay;

  if (self->state != STATE_CONNECTING && self->state != STATE_CONNECTED)
    {
      g_error_free (reason);
      return;
    }

  release_call (self);
  clear_timers (self);
  if (was_connected)
    nb_backoff_reset (self->backoff);
  delay = was_connected && immediate ? 0 : nb_backoff_next (self->backoff);
  g_clear_error (&self->last_error);
  self->last_error = reason;

  if (was_connected)
    g_message ("disconnected from signal server %s: %s; reconnecting in %u ms", self->url,
               reason->message, delay);
  else
    g_debug ("signal connection attempt to %s failed: %s; retrying in %u ms", self->url,
             reason->message, delay);

  self->reconnect_id = g_timeout_add (delay, reconnect_cb, self);
  set_state (self, STATE_WAITING);
  if (self->state != STATE_WAITING) /* stopped from a "notify::connected" handler */
    return;
  g_signal_emit (self, signals[SIGNAL_DISCONNECTED], 0, reason);
}

static void
stream_failed (NbSignalClient *self, GError *reason)
{
  stream_failed_full (self, reason, FALSE);
}

static void
stream_headers_cb (NbGrpcCall *call, GHashTable *headers, gpointer data)
{
  NbSignalClient *self = data;
  g_autoptr (GObject) keep = NULL;
  gboolean first;

  if (call != self->call || self->state != STATE_CONNECTING)
    return;
  if (!g_hash_table_contains (headers, NB_SIGNAL_HEADER_REGISTERED))
    {
      stream_failed (self, g_error_new_literal (NB_SIGNAL_CLIENT_ERROR, NB_SIGNAL_CLIENT_ERROR_NOT_REGISTERED,
                                                "signal server did not confirm the registration "
                                                "(no " NB_SIGNAL_HEADER_REGISTERED " header)"));
      return;
    }

  keep = g_object_ref (G_OBJECT (self));
  g_clear_handle_id (&self->register_timeout_id, g_source_remove);
  g_clear_error (&self->last_error);
  nb_backoff_reset (self->backoff);
  first = !self->ready_emitted;
  self->ready_emitted = TRUE;
  watchdog_start (self);
  g_message ("connected to signal server %s as %s", self->url, self->public_key);
  set_state (self, STATE_CONNECTED);
  if (self->state != STATE_CONNECTED || call != self->call)
    return;
  g_signal_emit (self, signals[first ? SIGNAL_READY : SIGNAL_RECONNECTED], 0);
}

static void
stream_message_cb (NbGrpcCall *call, GBytes *bytes, gpointer data)
{
  NbSignalClient *self = data;
  g_autoptr (NbSignalMessage) msg = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GObject) keep = NULL;
  const guint8 *p;
  gsize len;

  if (call != self->call || self->state != STATE_CONNECTED)
    return;

  /* Any frame proves the receive direction alive. */
  watchdog_received (self);

  p = g_bytes_get_data (bytes, &len);
  msg = nb_signal_message_open (p, len, self->private_key, self->public_key, &error);
  if (msg == NULL)
    {
      self->dropped++;
      /* A hostile sender must not flood the journal: the first drops are
       * logged, later ones only now and then. */
      if (g_error_matches (error, NB_SIGNAL_MSG_ERROR, NB_SIGNAL_MSG_ERROR_UNKNOWN_TYPE)
          || g_error_matches (error, NB_SIGNAL_MSG_ERROR, NB_SIGNAL_MSG_ERROR_UNSUPPORTED))
        g_debug ("ignoring signal message: %s", error->message);
      else if (self->dropped <= DROP_LOG_LIMIT || self->dropped % DROP_LOG_EVERY == 0)
        g_message ("dropping signal message (%" G_GUINT64_FORMAT " so far): %s", self->dropped,
                   error->message);
      else
        g_debug ("dropping signal message: %s", error->message);
      return;
    }

  keep = g_object_ref (G_OBJECT (self));
  if (msg->type == NB_SIGNAL_MSG_HEARTBEAT)
    {
      if (strcmp (msg->sender_key, self->public_key) == 0)
        {
          g_debug ("heartbeat returned");
          g_signal_emit (self, signals[SIGNAL_HEARTBEAT], 0);
        }
      else
        {
          self->dropped++;
          g_debug ("ignoring heartbeat from %s", msg->sender_key);
        }
      return;
    }

  g_debug ("received %s from %s", nb_signal_msg_type_to_string (msg->type), msg->sender_key);
  g_signal_emit (self, signals[SIGNAL_MESSAGE], 0, msg);
}

static void
stream_closed_cb (NbGrpcCall *call, const GError *error, gpointer data)
{
  NbSignalClient *self = data;
  GError *reason;

  if (call != self->call)
    return;
  if (error == NULL)
    reason = g_error_new_literal (NB_SIGNAL_CLIENT_ERROR, NB_SIGNAL_CLIENT_ERROR_CLOSED,
                                  "signal server ended the stream");
  else
    reason = map_grpc_error (error, NB_SIGNAL_CLIENT_ERROR_CLOSED, "signal stream closed");
  /* Attempts are logged at debug level; a refusal deserves more, once. */
  if (g_error_matches (reason, NB_SIGNAL_CLIENT_ERROR, NB_SIGNAL_CLIENT_ERROR_REJECTED)
      && !g_error_matches (self->last_error, NB_SIGNAL_CLIENT_ERROR, NB_SIGNAL_CLIENT_ERROR_REJECTED))
    g_message ("signal server %s refused our registration: %s", self->url, reason->message);
  stream_failed (self, reason);
}

static gboolean
register_timeout_cb (gpointer data)
{
  NbSignalClient *self = data;

  self->register_timeout_id = 0;
  stream_failed (self, g_error_new (NB_SIGNAL_CLIENT_ERROR, NB_SIGNAL_CLIENT_ERROR_NOT_REGISTERED,
                                    "no registration from the signal server within %u ms",
                                    self->register_timeout_ms));
  return G_SOURCE_REMOVE;
}

static void
channel_disconnected_cb (NbGrpcChannel *channel, const GError *reason, gpointer data)
{
  NbSignalClient *self = data;

  if (self->state != STATE_CONNECTING && self->state != STATE_CONNECTED)
    return;
  /* Typically a GOAWAY (the server's maximum connection age): the server
   * is up, so move the stream to a new connection at once instead of
   * leaving the peer unreachable for a backoff delay. A dead connection
   * fails that attempt and backs off as usual. */
  stream_failed_full (self, g_error_new (NB_SIGNAL_CLIENT_ERROR, NB_SIGNAL_CLIENT_ERROR_UNAVAILABLE,
                                         "connection to the signal server lost: %s",
                                         reason ? reason->message : "unknown reason"),
                      TRUE);
}

static void
open_stream (NbSignalClient *self)
{
  g_autoptr (GHashTable) metadata = g_hash_table_new (g_str_hash, g_str_equal);

  g_hash_table_insert (metadata, (gpointer) NB_SIGNAL_HEADER_PEER_ID, self->public_key);
  release_call (self);
  set_state (self, STATE_CONNECTING);
  g_debug ("opening signal stream to %s", self->url);
  self->call = nb_grpc_channel_open_call (self->channel, PATH_CONNECT_STREAM, metadata, 0);
  self->call_ids[0] = g_signal_connect (self->call, "headers", G_CALLBACK (stream_headers_cb), self);
  self->call_ids[1] = g_signal_connect (self->call, "message", G_CALLBACK (stream_message_cb), self);
  self->call_ids[2] = g_signal_connect (self->call, "closed", G_CALLBACK (stream_closed_cb), self);
  if (self->register_timeout_ms > 0)
    self->register_timeout_id = g_timeout_add (self->register_timeout_ms, register_timeout_cb, self);
}

/* ------------------------------------------------------------------------ */
/* Public API */

void
nb_signal_client_start (NbSignalClient *self)
{
  g_return_if_fail (NB_IS_SIGNAL_CLIENT (self));

  if (self->state != STATE_STOPPED)
    return;
  self->ready_emitted = FALSE;
  nb_backoff_reset (self->backoff);
  open_stream (self);
}

void
nb_signal_client_stop (NbSignalClient *self)
{
  g_return_if_fail (NB_IS_SIGNAL_CLIENT (self));

  release_call (self);
  clear_timers (self);
  cancel_pending_sends (self);
  if (self->state != STATE_STOPPED)
    {
      g_debug ("signal client for %s stopped", self->url);
      nb_grpc_channel_disconnect (self->channel);
    }
  set_state (self, STATE_STOPPED);
}

gboolean
nb_signal_client_is_connected (NbSignalClient *self)
{
  g_return_val_if_fail (NB_IS_SIGNAL_CLIENT (self), FALSE);
  return self->state == STATE_CONNECTED;
}

const char *
nb_signal_client_get_url (NbSignalClient *self)
{
  g_return_val_if_fail (NB_IS_SIGNAL_CLIENT (self), NULL);
  return self->url;
}

const char *
nb_signal_client_get_public_key (NbSignalClient *self)
{
  g_return_val_if_fail (NB_IS_SIGNAL_CLIENT (self), NULL);
  return self->public_key;
}

const GError *
nb_signal_client_get_last_error (NbSignalClient *self)
{
  g_return_val_if_fail (NB_IS_SIGNAL_CLIENT (self), NULL);
  return self->last_error;
}

guint64
nb_signal_client_get_dropped_count (NbSignalClient *self)
{
  g_return_val_if_fail (NB_IS_SIGNAL_CLIENT (self), 0);
  return self->dropped;
}

void
nb_signal_client_set_heartbeat (NbSignalClient *self, guint interval_ms, guint timeout_ms)
{
  g_return_if_fail (NB_IS_SIGNAL_CLIENT (self));
  g_return_if_fail (timeout_ms > 0);
  self->heartbeat_interval_ms = interval_ms;
  self->heartbeat_timeout_ms = timeout_ms;
}

void
nb_signal_client_set_backoff (NbSignalClient *self, guint initial_ms, guint max_ms)
{
  g_return_if_fail (NB_IS_SIGNAL_CLIENT (self));
  g_return_if_fail (initial_ms > 0 && max_ms >= initial_ms);
  nb_backoff_free (self->backoff);
  self->backoff = nb_backoff_new (initial_ms, max_ms);
}

void
nb_signal_client_set_register_timeout (NbSignalClient *self, guint timeout_ms)
{
  g_return_if_fail (NB_IS_SIGNAL_CLIENT (self));
  self->register_timeout_ms = timeout_ms;
}

void
nb_signal_client_set_send_timeout (NbSignalClient *self, guint timeout_ms)
{
  g_return_if_fail (NB_IS_SIGNAL_CLIENT (self));
  g_return_if_fail (timeout_ms > 0);
  self->send_timeout_ms = timeout_ms;
}

void
nb_signal_client_set_tls_database (NbSignalClient *self, GTlsDatabase *database)
{
  g_return_if_fail (NB_IS_SIGNAL_CLIENT (self));
  nb_grpc_channel_set_tls_database (self->channel, database);
}

NbSignalClient *
nb_signal_client_new (const char *url, const NbWgKey *private_key, GError **error)
{
  g_autoptr (NbSignalClient) self = NULL;
  g_autoptr (GError) local = NULL;
  NbWgKey public_key;

  g_return_val_if_fail (private_key != NULL, NULL);

  self = g_object_new (NB_TYPE_SIGNAL_CLIENT, NULL);
  self->channel = nb_grpc_channel_new (url, &local);
  if (self->channel == NULL)
    {
      g_set_error (error, NB_SIGNAL_CLIENT_ERROR, NB_SIGNAL_CLIENT_ERROR_INVALID_URL,
                   "invalid signal server URL: %s", local->message);
      return NULL;
    }
  self->url = g_strdup (url);
  self->private_key = nb_wg_key_dup (private_key);
  nb_wg_key_derive_public (private_key, &public_key);
  self->public_key = nb_wg_key_to_base64 (&public_key);
  self->channel_disconnected_id =
    g_signal_connect (self->channel, "disconnected", G_CALLBACK (channel_disconnected_cb), self);
  return g_steal_pointer (&self);
}

/* ------------------------------------------------------------------------ */
/* GObject */

static void
nb_signal_client_init (NbSignalClient *self)
{
  self->state = STATE_STOPPED;
  self->heartbeat_interval_ms = NB_SIGNAL_CLIENT_DEFAULT_HEARTBEAT_INTERVAL_MS;
  self->heartbeat_timeout_ms = NB_SIGNAL_CLIENT_DEFAULT_HEARTBEAT_TIMEOUT_MS;
  self->register_timeout_ms = NB_SIGNAL_CLIENT_DEFAULT_REGISTER_TIMEOUT_MS;
  self->send_timeout_ms = NB_SIGNAL_CLIENT_DEFAULT_SEND_TIMEOUT_MS;
  self->backoff = nb_backoff_new (NB_SIGNAL_CLIENT_DEFAULT_BACKOFF_INITIAL_MS,
                                  NB_SIGNAL_CLIENT_DEFAULT_BACKOFF_MAX_MS);
  self->pending_sends = g_ptr_array_new ();
}

static void
nb_signal_client_dispose (GObject *object)
{
  NbSignalClient *self = NB_SIGNAL_CLIENT (object);

  if (self->channel)
    {
      release_call (self);
      clear_timers (self);
      cancel_pending_sends (self);
      self->state = STATE_STOPPED;
      g_clear_signal_handler (&self->channel_disconnected_id, self->channel);
      g_clear_object (&self->channel);
    }
  G_OBJECT_CLASS (nb_signal_client_parent_class)->dispose (object);
}

static void
nb_signal_client_finalize (GObject *object)
{
  NbSignalClient *self = NB_SIGNAL_CLIENT (object);

  g_free (self->url);
  g_clear_pointer (&self->private_key, nb_wg_key_free);
  g_free (self->public_key);
  g_clear_error (&self->last_error);
  g_clear_pointer (&self->backoff, nb_backoff_free);
  g_clear_pointer (&self->pending_sends, g_ptr_array_unref);
  G_OBJECT_CLASS (nb_signal_client_parent_class)->finalize (object);
}

static void
nb_signal_client_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  NbSignalClient *self = NB_SIGNAL_CLIENT (object);

  switch (prop_id)
    {
    case PROP_CONNECTED:
      g_value_set_boolean (value, self->state == STATE_CONNECTED);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
nb_signal_client_class_init (NbSignalClientClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = nb_signal_client_dispose;
  object_class->finalize = nb_signal_client_finalize;
  object_class->get_property = nb_signal_client_get_property;

  props[PROP_CONNECTED] =
    g_param_spec_boolean ("connected", NULL, NULL, FALSE,
                          G_PARAM_READABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY);
  g_object_class_install_properties (object_class, N_PROPS, props);

  signals[SIGNAL_READY] =
    g_signal_new ("ready", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 0);
  signals[SIGNAL_RECONNECTED] =
    g_signal_new ("reconnected", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 0);
  signals[SIGNAL_DISCONNECTED] =
    g_signal_new ("disconnected", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 1, G_TYPE_ERROR | G_SIGNAL_TYPE_STATIC_SCOPE);
  signals[SIGNAL_MESSAGE] =
    g_signal_new ("message", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 1, NB_TYPE_SIGNAL_MESSAGE | G_SIGNAL_TYPE_STATIC_SCOPE);
  signals[SIGNAL_HEARTBEAT] =
    g_signal_new ("heartbeat", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 0);
}
