/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The relay worker keeps no connection logic of its own: the relay manager
 * owns the relay connections, and this object only decides on which server
 * both peers meet, holds the one virtual connection, and watches
 * WireGuard's handshake because the relay server cannot tell whether the
 * remote peer still reads what we send.
 *
 * Pending operations (the open and a stats read) keep a small record that
 * points back at the worker; close and dispose cut that pointer and cancel,
 * so a completion arriving later finds nobody and only cleans up. That way
 * dropping the worker never waits for the manager or the device.
 *
 * An open conn is not yet a path: opening sends nothing on the wire, so
 * the remote may never have opened its side (its offer named no relay, or
 * it has not processed ours yet), and everything we sent would be dropped
 * by its relay client. The path is "connected" once the relay server says
 * the peer is online on that relay connection (the answer to our
 * subscription, or a later "peers-online") or once the first datagram
 * from the peer arrives on the conn, whichever comes first; until then the
 * worker stays OPENING. (Online is weaker than "opened its side" when both
 * peers share the server as home relay; a datagram is the only proof, and
 * the relay protocol has nothing in between.)
 *
 * "connected" is emitted from that dispatch itself (the relay client's
 * signal, a main-loop dispatch, never a public call) so that it comes
 * before the datagram that confirmed the path, or the early message the
 * relay client delivers from an idle right after the open. Everything
 * else goes through the event queue, because a conn's "closed" may be
 * emitted inside someone's call into the manager or the relay client.
 */
#define G_LOG_DOMAIN "nb-relay-worker"

#include "config.h"

#include "worker-relay.h"

#include "handshaker.h"

typedef struct {
  NbWorkerRelay *self;         /* NULL once abandoned */
  GCancellable *cancellable;
  gboolean foreign;
  char *server_url;            /* foreign: the remote's address */
} OpenOp;

typedef struct {
  NbWorkerRelay *self;         /* NULL once abandoned */
  GCancellable *cancellable;
} ReadOp;

typedef enum {
  EV_CONNECTED,
  EV_DISCONNECTED,
} EventKind;

typedef struct {
  EventKind kind;
  char *server_url;
  GError *error;
} Event;

struct _NbWorkerRelay {
  GObject parent_instance;

  NbRelayManager *manager;     /* NULL: no relay */
  char *local_key;
  char *remote_key;
  gboolean controller;
  GMainContext *context;

  NbWorkerRelayState state;
  OpenOp *open_op;             /* while OPENING */
  NbRelayConn *conn;           /* while CONNECTED */
  gulong message_id;
  gulong closed_id;
  char *server_url;            /* while CONNECTED */
  NbRelayClient *sub_client;   /* where we subscribed to the peer's state */
  gulong online_id;            /* sub_client's "peers-online" */
  NbRelayPeerId peer_id;

  NbWorkerRelayReceiveFunc recv_func;
  gpointer recv_data;
  GDestroyNotify recv_notify;

  /* handshake watcher */
  NbWgBackend *backend;
  NbWgKey wg_key;
  gboolean active;
  guint timeout_ms;
  guint interval_ms;
  gboolean armed;
  gint64 armed_us;             /* monotonic */
  gboolean have_baseline;
  gint64 baseline_us;          /* wall clock, 0: never */
  gint64 latest_us;            /* newest handshake seen, wall clock */
  GSource *watch_timer;
  ReadOp *read_op;

  GQueue events;
  GSource *dispatch;
};

G_DEFINE_FINAL_TYPE (NbWorkerRelay, nb_worker_relay, G_TYPE_OBJECT)

enum {
  SIG_CONNECTED,
  SIG_DISCONNECTED,
  N_SIGNALS
};
static guint signals[N_SIGNALS];

G_DEFINE_QUARK (nb-worker-relay-error-quark, nb_worker_relay_error)

static void update_watch (NbWorkerRelay *self);

/* ---- event queue -------------------------------------------------------- */

static void
event_free (Event *ev)
{
  g_free (ev->server_url);
  g_clear_error (&ev->error);
  g_free (ev);
}

static void
clear_source (GSource **source)
{
  if (*source != NULL)
    {
      g_source_destroy (*source);
      g_source_unref (*source);
      *source = NULL;
    }
}

static void
clear_events (NbWorkerRelay *self)
{
  g_queue_clear_full (&self->events, (GDestroyNotify) event_free);
  clear_source (&self->dispatch);
}

static void
emit_event (NbWorkerRelay *self, Event *ev)
{
  if (ev->kind == EV_CONNECTED)
    g_signal_emit (self, signals[SIG_CONNECTED], 0, ev->server_url);
  else
    g_signal_emit (self, signals[SIG_DISCONNECTED], 0, ev->error);
}

static gboolean
dispatch_events (gpointer user_data)
{
  g_autoptr (NbWorkerRelay) self = g_object_ref (NB_WORKER_RELAY (user_data));
  Event *ev;

  g_source_unref (self->dispatch);
  self->dispatch = NULL;
  /* Handlers may close (clearing the queue) or queue more: one at a time. */
  while ((ev = g_queue_pop_head (&self->events)) != NULL)
    {
      emit_event (self, ev);
      event_free (ev);
    }
  return G_SOURCE_REMOVE;
}

static void
queue_event (NbWorkerRelay *self, Event *ev)
{
  g_queue_push_tail (&self->events, ev);
  if (self->dispatch == NULL)
    {
      self->dispatch = g_idle_source_new ();
      g_source_set_priority (self->dispatch, G_PRIORITY_DEFAULT);
      g_source_set_callback (self->dispatch, dispatch_events, self, NULL);
      g_source_set_static_name (self->dispatch, "[nb-relay-worker] events");
      g_source_attach (self->dispatch, self->context);
    }
}

static void
queue_disconnected (NbWorkerRelay *self, GError *reason)
{
  Event *ev = g_new0 (Event, 1);

  ev->kind = EV_DISCONNECTED;
  ev->error = reason;
  queue_event (self, ev);
}

/* ---- the virtual connection --------------------------------------------- */

static void
drop_conn (NbWorkerRelay *self)
{
  g_autoptr (NbRelayConn) conn = g_steal_pointer (&self->conn);
  g_autoptr (NbRelayClient) client = g_steal_pointer (&self->sub_client);

  g_clear_pointer (&self->server_url, g_free);
  if (client != NULL)
    {
      g_clear_signal_handler (&self->online_id, client);
      nb_relay_client_unsubscribe (client, &self->peer_id, 1, NULL);
    }
  if (conn == NULL)
    return;
  g_clear_signal_handler (&self->message_id, conn);
  g_clear_signal_handler (&self->closed_id, conn);
  nb_relay_conn_close (conn);
}

static void
abandon_open (NbWorkerRelay *self)
{
  OpenOp *op = g_steal_pointer (&self->open_op);

  if (op == NULL)
    return;
  op->self = NULL;
  g_cancellable_cancel (op->cancellable);
}

static void
open_op_free (OpenOp *op)
{
  g_clear_object (&op->cancellable);
  g_free (op->server_url);
  g_free (op);
}

/* Back to IDLE: every path ends here (close, conn closed, watcher fired). */
static void
go_idle (NbWorkerRelay *self)
{
  abandon_open (self);
  drop_conn (self);
  self->state = NB_WORKER_RELAY_STATE_IDLE;
  update_watch (self);
}

/* The conn is open and the peer is there: the path is up. Emits
 * "connected" at once (see the top of the file), after a "disconnected" of
 * an earlier session still due. The handlers may close the worker. */
static void
confirm (NbWorkerRelay *self, const char *why)
{
  g_autoptr (NbWorkerRelay) hold = g_object_ref (self);
  NbRelayConn *conn_now = self->conn;
  g_autofree char *copy = g_strdup (self->server_url);
  Event *ev;

  if (self->conn == NULL || self->state != NB_WORKER_RELAY_STATE_OPENING)
    return;
  self->state = NB_WORKER_RELAY_STATE_CONNECTED;
  g_info ("relayed connection to %s via %s connected (%s)", self->remote_key, self->server_url, why);
  update_watch (self);

  clear_source (&self->dispatch);
  while ((ev = g_queue_pop_head (&self->events)) != NULL)
    {
      emit_event (self, ev);
      event_free (ev);
    }
  if (self->conn == conn_now && self->state == NB_WORKER_RELAY_STATE_CONNECTED)
    g_signal_emit (self, signals[SIG_CONNECTED], 0, copy);
}

static void
on_conn_message (NbRelayConn *conn, GBytes *payload, gpointer user_data)
{
  NbWorkerRelay *self = user_data;
  g_autoptr (NbRelayConn) hold = g_object_ref (conn);
  gsize length = 0;
  const guint8 *data = g_bytes_get_data (payload, &length);

  if (self->state == NB_WORKER_RELAY_STATE_OPENING)
    {
      confirm (self, "first datagram from the peer");
      if (self->conn != conn || self->state != NB_WORKER_RELAY_STATE_CONNECTED)
        return;   /* closed by a handler */
    }
  if (self->recv_func != NULL)
    self->recv_func (self, data, length, self->recv_data);
}

static void
on_peers_online (NbRelayClient *client, const NbRelayPeerId *ids, guint n_ids, gpointer user_data)
{
  NbWorkerRelay *self = user_data;

  if (self->conn == NULL || self->state != NB_WORKER_RELAY_STATE_OPENING)
    return;
  for (guint i = 0; i < n_ids; i++)
    if (nb_relay_peer_id_equal (&ids[i], &self->peer_id))
      {
        confirm (self, "the peer is online on the relay");
        return;
      }
}

static void
on_conn_closed (NbRelayConn *conn, const GError *reason, gpointer user_data)
{
  NbWorkerRelay *self = user_data;
  const char *why = reason != NULL ? reason->message : "no reason given";

  g_info ("relayed connection to %s via %s closed: %s",
          self->remote_key, self->server_url, why);
  go_idle (self);
  queue_disconnected (self, g_error_new (NB_WORKER_RELAY_ERROR, NB_WORKER_RELAY_ERROR_CLOSED,
                                         "The relayed connection closed: %s", why));
}

/* As NetBird's relay client does for an open conn: the server's "peer went
 * offline" then closes it, so a peer that left the relay is noticed; and
 * its answer ("peers-online" when the peer is there) confirms the path.
 * Returns FALSE when there is no subscription (nothing will confirm the
 * path but data). */
static gboolean
subscribe_peer_state (NbWorkerRelay *self)
{
  g_autoptr (GError) error = NULL;
  NbRelayClient *client = nb_relay_conn_get_client (self->conn);

  if (client == NULL)
    return FALSE;
  self->peer_id = *nb_relay_conn_get_peer_id (self->conn);
  self->online_id = g_signal_connect (client, "peers-online", G_CALLBACK (on_peers_online), self);
  if (!nb_relay_client_subscribe (client, &self->peer_id, 1, &error))
    {
      g_message ("subscribing to the state of %s failed: %s", self->remote_key, error->message);
      g_clear_signal_handler (&self->online_id, client);
      return FALSE;
    }
  self->sub_client = g_object_ref (client);
  return TRUE;
}

static void
open_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  OpenOp *op = user_data;
  NbWorkerRelay *self = op->self;
  g_autoptr (GError) error = NULL;
  g_autoptr (NbRelayConn) conn = NULL;
  const char *url;

  conn = nb_relay_manager_open_conn_finish (NB_RELAY_MANAGER (source), result, &error);
  if (self == NULL)
    {
      /* closed meanwhile */
      if (conn != NULL)
        nb_relay_conn_close (conn);
      open_op_free (op);
      return;
    }
  g_assert (self->open_op == op);
  self->open_op = NULL;

  if (conn == NULL)
    {
      g_info ("opening the relayed connection to %s failed: %s", self->remote_key, error->message);
      open_op_free (op);
      self->state = NB_WORKER_RELAY_STATE_IDLE;
      queue_disconnected (self, g_error_new (NB_WORKER_RELAY_ERROR, NB_WORKER_RELAY_ERROR_OPEN_FAILED,
                                             "Opening the relayed connection failed: %s",
                                             error->message));
      return;
    }

  url = op->foreign ? op->server_url : nb_relay_manager_get_home_instance_url (self->manager);
  self->server_url = g_strdup (url != NULL ? url : "");
  open_op_free (op);
  self->conn = g_steal_pointer (&conn);
  self->message_id = g_signal_connect (self->conn, "message", G_CALLBACK (on_conn_message), self);
  self->closed_id = g_signal_connect (self->conn, "closed", G_CALLBACK (on_conn_closed), self);
  /* still OPENING: the peer's presence confirms the path */
  g_info ("relayed connection to %s open via %s, waiting for the peer", self->remote_key,
          self->server_url);
  if (!subscribe_peer_state (self))
    confirm (self, "no peer state subscription");
}

/* ---- handshake watcher -------------------------------------------------- */

static void
abandon_read (NbWorkerRelay *self)
{
  ReadOp *op = g_steal_pointer (&self->read_op);

  if (op == NULL)
    return;
  op->self = NULL;
  g_cancellable_cancel (op->cancellable);
}

static void
read_op_free (ReadOp *op)
{
  g_clear_object (&op->cancellable);
  g_free (op);
}

static void
disarm (NbWorkerRelay *self)
{
  if (!self->armed)
    return;
  self->armed = FALSE;
  self->have_baseline = FALSE;
  clear_source (&self->watch_timer);
  abandon_read (self);
}

static void
watcher_fire (NbWorkerRelay *self, const char *why)
{
  g_autofree char *url = g_strdup (self->server_url);

  g_info ("WireGuard handshake with %s timed out on the relayed path via %s: %s",
          self->remote_key, url, why);
  go_idle (self);
  queue_disconnected (self, g_error_new (NB_WORKER_RELAY_ERROR,
                                         NB_WORKER_RELAY_ERROR_HANDSHAKE_TIMEOUT,
                                         "WireGuard handshake timed out: %s", why));
}

/* One reading of the peer's last handshake (0: never / peer missing). */
static void
watcher_evaluate (NbWorkerRelay *self, gint64 handshake_us)
{
  gint64 timeout_us = (gint64) self->timeout_ms * 1000;

  if (!self->have_baseline)
    {
      self->have_baseline = TRUE;
      self->baseline_us = handshake_us;
      self->latest_us = handshake_us;
      g_debug ("handshake watcher for %s armed, baseline %" G_GINT64_FORMAT,
               self->remote_key, handshake_us);
      return;
    }

  if (handshake_us > self->latest_us)
    self->latest_us = handshake_us;

  if (self->latest_us <= self->baseline_us)
    {
      if (g_get_monotonic_time () - self->armed_us >= timeout_us)
        watcher_fire (self, "no new handshake since the path became active");
      return;
    }
  if (g_get_real_time () - self->latest_us > timeout_us)
    watcher_fire (self, "the last handshake is too old");
  else if (self->latest_us - g_get_real_time () > timeout_us)
    watcher_fire (self, "the last handshake is in the future (clock changed?)");
}

static void
read_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  ReadOp *op = user_data;
  NbWorkerRelay *self = op->self;
  g_autoptr (GError) error = NULL;
  g_autoptr (NbWgStats) stats = NULL;
  const NbWgPeerStats *peer;

  stats = nb_wg_backend_get_stats_finish (NB_WG_BACKEND (source), result, &error);
  if (self == NULL)
    {
      read_op_free (op);
      return;
    }
  g_assert (self->read_op == op);
  self->read_op = NULL;
  read_op_free (op);

  if (stats == NULL)
    {
      /* retried at the next check */
      g_message ("reading WireGuard stats for %s failed: %s", self->remote_key, error->message);
      return;
    }
  peer = nb_wg_stats_find_peer (stats, &self->wg_key);
  watcher_evaluate (self, peer != NULL ? peer->last_handshake_us : 0);
}

static void
start_read (NbWorkerRelay *self)
{
  ReadOp *op;

  if (self->read_op != NULL)
    return;
  op = g_new0 (ReadOp, 1);
  op->self = self;
  op->cancellable = g_cancellable_new ();
  self->read_op = op;
  nb_wg_backend_get_stats_async (self->backend, op->cancellable, read_cb, op);
}

static gboolean
on_watch_tick (gpointer user_data)
{
  start_read (NB_WORKER_RELAY (user_data));
  return G_SOURCE_CONTINUE;
}

static void
arm (NbWorkerRelay *self)
{
  self->armed = TRUE;
  self->armed_us = g_get_monotonic_time ();
  self->have_baseline = FALSE;
  self->watch_timer = g_timeout_source_new (MAX (self->interval_ms, 1));
  g_source_set_callback (self->watch_timer, on_watch_tick, self, NULL);
  g_source_set_static_name (self->watch_timer, "[nb-relay-worker] handshake check");
  g_source_attach (self->watch_timer, self->context);
  /* the baseline */
  start_read (self);
}

/* Arm or disarm the watcher from the current inputs. */
static void
update_watch (NbWorkerRelay *self)
{
  gboolean want = self->state == NB_WORKER_RELAY_STATE_CONNECTED &&
                  self->active && self->backend != NULL;

  if (want && !self->armed)
    arm (self);
  else if (!want)
    disarm (self);
}

/* ---- GObject ------------------------------------------------------------ */

static void
nb_worker_relay_dispose (GObject *object)
{
  NbWorkerRelay *self = NB_WORKER_RELAY (object);

  go_idle (self);
  disarm (self);
  clear_events (self);
  if (self->recv_notify != NULL)
    self->recv_notify (self->recv_data);
  self->recv_func = NULL;
  self->recv_data = NULL;
  self->recv_notify = NULL;
  g_clear_object (&self->backend);
  g_clear_object (&self->manager);

  G_OBJECT_CLASS (nb_worker_relay_parent_class)->dispose (object);
}

static void
nb_worker_relay_finalize (GObject *object)
{
  NbWorkerRelay *self = NB_WORKER_RELAY (object);

  g_free (self->local_key);
  g_free (self->remote_key);
  g_main_context_unref (self->context);

  G_OBJECT_CLASS (nb_worker_relay_parent_class)->finalize (object);
}

static void
nb_worker_relay_class_init (NbWorkerRelayClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = nb_worker_relay_dispose;
  object_class->finalize = nb_worker_relay_finalize;

  signals[SIG_CONNECTED] =
    g_signal_new ("connected", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_STRING);
  signals[SIG_DISCONNECTED] =
    g_signal_new ("disconnected", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_POINTER);
}

static void
nb_worker_relay_init (NbWorkerRelay *self)
{
  self->state = NB_WORKER_RELAY_STATE_IDLE;
  self->timeout_ms = NB_WORKER_RELAY_HANDSHAKE_PERIOD_MS + NB_WORKER_RELAY_HANDSHAKE_OVERTIME_MS;
  self->interval_ms = NB_WORKER_RELAY_CHECK_INTERVAL_MS;
  g_queue_init (&self->events);
}

/* ---- public ------------------------------------------------------------- */

NbWorkerRelay *
nb_worker_relay_new (NbRelayManager *manager,
                     const char     *local_key,
                     const char     *remote_key)
{
  NbWorkerRelay *self;

  g_return_val_if_fail (manager == NULL || NB_IS_RELAY_MANAGER (manager), NULL);
  g_return_val_if_fail (local_key != NULL && remote_key != NULL, NULL);

  self = g_object_new (NB_TYPE_WORKER_RELAY, NULL);
  self->manager = manager != NULL ? g_object_ref (manager) : NULL;
  self->local_key = g_strdup (local_key);
  self->remote_key = g_strdup (remote_key);
  self->controller = nb_handshaker_is_controller_for (local_key, remote_key);
  self->context = g_main_context_ref_thread_default ();
  return self;
}

gboolean
nb_worker_relay_is_supported (NbWorkerRelay *self,
                              const char    *remote_relay_address)
{
  g_return_val_if_fail (NB_IS_WORKER_RELAY (self), FALSE);

  return self->manager != NULL && nb_relay_manager_is_ready (self->manager) &&
         remote_relay_address != NULL && *remote_relay_address != '\0';
}

gboolean
nb_worker_relay_open (NbWorkerRelay *self,
                      const char    *remote_relay_address,
                      GError       **error)
{
  OpenOp *op;
  const char *server_url;

  g_return_val_if_fail (NB_IS_WORKER_RELAY (self), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (self->state != NB_WORKER_RELAY_STATE_IDLE)
    return TRUE;
  if (!nb_worker_relay_is_supported (self, remote_relay_address))
    {
      g_set_error (error, NB_WORKER_RELAY_ERROR, NB_WORKER_RELAY_ERROR_UNAVAILABLE,
                   "Relaying with the peer is not possible: %s",
                   self->manager == NULL || !nb_relay_manager_is_ready (self->manager)
                   ? "we have no relay server" : "the peer named no relay server");
      return FALSE;
    }

  /* NetBird's rule: both meet on the controller's home relay */
  server_url = self->controller ? NULL : remote_relay_address;
  op = g_new0 (OpenOp, 1);
  op->self = self;
  op->cancellable = g_cancellable_new ();
  op->foreign = nb_relay_manager_is_foreign (self->manager, server_url);
  op->server_url = g_strdup (server_url);
  self->open_op = op;
  self->state = NB_WORKER_RELAY_STATE_OPENING;
  g_debug ("opening the relayed connection to %s on %s", self->remote_key,
           server_url != NULL ? server_url : "our home relay");
  nb_relay_manager_open_conn_async (self->manager, self->remote_key, server_url,
                                    op->cancellable, open_cb, op);
  return TRUE;
}

void
nb_worker_relay_close (NbWorkerRelay *self)
{
  g_return_if_fail (NB_IS_WORKER_RELAY (self));

  go_idle (self);
  clear_events (self);
}

NbWorkerRelayState
nb_worker_relay_get_state (NbWorkerRelay *self)
{
  g_return_val_if_fail (NB_IS_WORKER_RELAY (self), NB_WORKER_RELAY_STATE_IDLE);

  return self->state;
}

const char *
nb_worker_relay_get_server_url (NbWorkerRelay *self)
{
  g_return_val_if_fail (NB_IS_WORKER_RELAY (self), NULL);

  return self->state == NB_WORKER_RELAY_STATE_CONNECTED ? self->server_url : NULL;
}

gboolean
nb_worker_relay_send (NbWorkerRelay *self,
                      const guint8  *data,
                      gsize          length,
                      GError       **error)
{
  g_autoptr (GBytes) payload = NULL;

  g_return_val_if_fail (NB_IS_WORKER_RELAY (self), FALSE);
  g_return_val_if_fail (data != NULL || length == 0, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (self->state != NB_WORKER_RELAY_STATE_CONNECTED)
    {
      g_set_error_literal (error, NB_WORKER_RELAY_ERROR, NB_WORKER_RELAY_ERROR_CLOSED,
                           "The relayed connection is not open");
      return FALSE;
    }
  /* nb_relay_conn_send() encodes the frame before it returns and keeps no
   * reference: no copy of the datagram here */
  payload = g_bytes_new_static (data, length);
  return nb_relay_conn_send (self->conn, payload, error);
}

void
nb_worker_relay_set_receive_func (NbWorkerRelay            *self,
                                  NbWorkerRelayReceiveFunc  func,
                                  gpointer                  user_data,
                                  GDestroyNotify            destroy)
{
  GDestroyNotify old_notify;
  gpointer old_data;

  g_return_if_fail (NB_IS_WORKER_RELAY (self));

  old_notify = self->recv_notify;
  old_data = self->recv_data;
  self->recv_func = func;
  self->recv_data = user_data;
  self->recv_notify = destroy;
  if (old_notify != NULL)
    old_notify (old_data);
}

void
nb_worker_relay_watch_handshake (NbWorkerRelay *self,
                                 NbWgBackend   *backend,
                                 const NbWgKey *remote_public_key)
{
  g_return_if_fail (NB_IS_WORKER_RELAY (self));
  g_return_if_fail (backend == NULL || NB_IS_WG_BACKEND (backend));
  g_return_if_fail (backend == NULL || remote_public_key != NULL);

  /* new inputs: a new baseline */
  disarm (self);
  g_set_object (&self->backend, backend);
  if (remote_public_key != NULL)
    self->wg_key = *remote_public_key;
  update_watch (self);
}

void
nb_worker_relay_set_active (NbWorkerRelay *self,
                            gboolean       active)
{
  g_return_if_fail (NB_IS_WORKER_RELAY (self));

  self->active = !!active;
  update_watch (self);
}

void
nb_worker_relay_set_watch_timing (NbWorkerRelay *self,
                                  guint          timeout_ms,
                                  guint          check_interval_ms)
{
  g_return_if_fail (NB_IS_WORKER_RELAY (self));

  self->timeout_ms = timeout_ms;
  self->interval_ms = MAX (check_interval_ms, 1);
  if (self->armed)
    {
      disarm (self);
      update_watch (self);
    }
}
