/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The relay connections of one peer, see relay-manager.h.
 *
 * Home relay states:
 *   STOPPED  -> start() -> PICKING (one NbRelayClient per listed server)
 *   PICKING  -> first candidate authenticated -> READY (the others stopped)
 *            -> every candidate failed / pick timeout -> RETRY_WAIT
 *   READY    -> home "disconnected" -> QUICK_WAIT (server still listed)
 *                                   -> RETRY_WAIT (not listed any more)
 *   QUICK_WAIT -> timer -> QUICK_RECONNECTING (the same client, one attempt)
 *   QUICK_RECONNECTING -> "connected" -> READY; "disconnected" -> RETRY_WAIT
 *   RETRY_WAIT -> timer -> PICKING
 * The first RETRY_WAIT after a loss or a failed first pick lasts 0 ms (the
 * immediate first tick of NetBird's guard ticker), later ones come from the
 * backoff. Every NbRelayClient we own is stopped as soon as one attempt
 * fails, so its own reconnect loop never runs: the manager decides.
 *
 * Foreign relays live in a table keyed by the URL the peer named. Opens are
 * OpenOp records; each is completed from its own idle callback, which opens
 * the virtual connection right before returning it, so that the caller can
 * connect to it before an early message is emitted.
 */
#define G_LOG_DOMAIN "nb-relay"

#include "config.h"

#include "relay-manager.h"

#include <string.h>

#include <sodium.h>

#include "backoff.h"

G_DEFINE_QUARK (nb-relay-manager-error-quark, nb_relay_manager_error)

typedef enum {
  HOME_STOPPED,
  HOME_PICKING,
  HOME_READY,
  HOME_QUICK_WAIT,
  HOME_QUICK_RECONNECTING,
  HOME_RETRY_WAIT,
} HomeState;

typedef struct {
  NbRelayManager *self;  /* unowned: the task holds a reference */
  GTask *task;
  char *peer_key;
  char *foreign_url;     /* NULL: the home relay */
  gboolean waiting;      /* for the foreign relay to connect */
  GError *error;         /* complete with this instead */
  GCancellable *cancellable;
  gulong cancel_id;
  guint idle_id;
} OpenOp;

typedef struct {
  NbRelayManager *self;  /* unowned: the manager owns us */
  char *url;
  NbRelayClient *client;
  gboolean connected;
  GPtrArray *conns;      /* NbRelayConn *, weak references */
  guint grace_id;
} Foreign;

struct _NbRelayManager {
  GObject parent_instance;

  char *peer_key;
  GStrv servers;
  char *token_payload;   /* secret: never logged, wiped */
  char *token_signature; /* secret: never logged, wiped */

  gboolean running;
  HomeState state;
  NbRelayClient *home;
  gboolean retry_loop;        /* inside the guard's retry loop */
  gboolean emit_reconnected;  /* the next READY follows a loss or failure */

  GPtrArray *candidates;      /* NbRelayClient * (owned) */
  GQueue pick_queue;          /* char * URLs not dialled yet */
  GError *pick_error;         /* last candidate failure of this pick */
  guint pick_timeout_id;
  guint retry_id;
  NbBackoff *backoff;
  GError *last_error;

  GHashTable *foreign;        /* char *url -> Foreign * */
  guint sweep_id;
  GList *ops;                 /* OpenOp * */

  guint foreign_grace_ms;
  guint cleanup_interval_ms;
  guint quick_reconnect_delay_ms;
  guint pick_timeout_ms;
  guint connect_timeout_ms;   /* 0: the client's default */
  guint auth_timeout_ms;
  guint health_timeout_ms;
  GTlsDatabase *tls_database;
};

enum {
  SIGNAL_HOME_READY,
  SIGNAL_HOME_LOST,
  SIGNAL_RELAY_RECONNECTED,
  SIGNAL_FOREIGN_CLOSED,
  N_SIGNALS
};
static guint signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE (NbRelayManager, nb_relay_manager, G_TYPE_OBJECT)

static void begin_pick (NbRelayManager *self);
static void foreign_check_idle (Foreign *f);
static void op_schedule (OpenOp *op);

/* ---- helpers ------------------------------------------------------------ */

static void
wipe_string (char **s)
{
  if (*s == NULL)
    return;
  sodium_memzero (*s, strlen (*s));
  g_clear_pointer (s, g_free);
}

static gboolean
server_listed (NbRelayManager *self,
               const char     *url)
{
  return self->servers != NULL && url != NULL &&
         g_strv_contains ((const char * const *) self->servers, url);
}

static void
set_last_error (NbRelayManager *self,
                const GError   *error)
{
  g_clear_error (&self->last_error);
  if (error != NULL)
    self->last_error = g_error_copy (error);
}

static void on_client_connected (NbRelayClient *client, const char *instance_url,
                                 NbRelayManager *self);
static void on_client_disconnected (NbRelayClient *client, const GError *reason,
                                    NbRelayManager *self);

/* A relay client with our key, token and tuning; not started. */
static NbRelayClient *
new_relay_client (NbRelayManager *self,
                  const char     *url,
                  GError        **error)
{
  g_autoptr(NbRelayClient) client = nb_relay_client_new (url, self->peer_key, error);

  if (client == NULL)
    return NULL;
  if (!nb_relay_client_set_token (client, self->token_payload, self->token_signature, error))
    return NULL;
  if (self->connect_timeout_ms > 0)
    nb_relay_client_set_connect_timeout (client, self->connect_timeout_ms);
  if (self->auth_timeout_ms > 0)
    nb_relay_client_set_auth_timeout (client, self->auth_timeout_ms);
  if (self->health_timeout_ms > 0)
    nb_relay_client_set_health_timeout (client, self->health_timeout_ms);
  if (self->tls_database != NULL)
    nb_relay_client_set_tls_database (client, self->tls_database);
  return g_steal_pointer (&client);
}

/* Stop and drop a client we own (may run inside its own signal emission:
 * the client holds a reference to itself while emitting). */
static void
release_client (gpointer       data,
                NbRelayClient *client)
{
  g_signal_handlers_disconnect_by_data (client, data);
  nb_relay_client_stop (client);
  g_object_unref (client);
}

/* ---- home relay --------------------------------------------------------- */

static void
drop_candidates (NbRelayManager *self)
{
  g_autoptr(GPtrArray) old = g_steal_pointer (&self->candidates);

  self->candidates = g_ptr_array_new ();
  for (guint i = 0; i < old->len; i++)
    release_client (self, old->pdata[i]);
  g_queue_clear_full (&self->pick_queue, g_free);
  g_clear_handle_id (&self->pick_timeout_id, g_source_remove);
  g_clear_error (&self->pick_error);
}

static void
drop_home (NbRelayManager *self)
{
  NbRelayClient *home = g_steal_pointer (&self->home);

  if (home != NULL)
    release_client (self, home);
}

static gboolean
on_retry (gpointer user_data)
{
  NbRelayManager *self = user_data;

  self->retry_id = 0;
  if (self->running && self->state == HOME_RETRY_WAIT)
    begin_pick (self);
  return G_SOURCE_REMOVE;
}

/* Into RETRY_WAIT: the first retry of a loop right away (the immediate
 * first tick of NetBird's ticker), the next ones after the backoff. */
static void
schedule_retry (NbRelayManager *self)
{
  guint delay;

  if (!self->retry_loop)
    {
      self->retry_loop = TRUE;
      nb_backoff_reset (self->backoff);
      delay = 0;
    }
  else
    delay = nb_backoff_next (self->backoff);

  self->state = HOME_RETRY_WAIT;
  self->emit_reconnected = TRUE;
  g_debug ("Picking a relay server again in %u ms", delay);
  g_clear_handle_id (&self->retry_id, g_source_remove);
  self->retry_id = g_timeout_add (delay, on_retry, self);
}

/* The pick found no home relay. Takes @error. No signal. */
static void
pick_failed (NbRelayManager *self,
             GError         *error)
{
  g_message ("No relay server available: %s", error->message);
  drop_candidates (self);
  set_last_error (self, error);
  g_error_free (error);
  schedule_retry (self);
}

static void
become_ready (NbRelayManager *self)
{
  gboolean reconnected = self->emit_reconnected;
  g_autofree char *instance_url = g_strdup (nb_relay_client_get_instance_url (self->home));

  self->state = HOME_READY;
  self->retry_loop = FALSE;
  self->emit_reconnected = FALSE;
  nb_backoff_reset (self->backoff);
  g_clear_error (&self->last_error);
  g_message ("Home relay server: %s (instance %s)",
             nb_relay_client_get_server_url (self->home), instance_url);

  g_object_ref (self);
  g_signal_emit (self, signals[SIGNAL_HOME_READY], 0, instance_url);
  if (reconnected && self->state == HOME_READY)
    g_signal_emit (self, signals[SIGNAL_RELAY_RECONNECTED], 0);
  g_object_unref (self);
}

/* Dial the next queued servers, up to the concurrency limit; the pick fails
 * when nothing is left to wait for. */
static void
fill_candidates (NbRelayManager *self)
{
  while (self->candidates->len < NB_RELAY_MANAGER_MAX_CONCURRENT_SERVERS &&
         !g_queue_is_empty (&self->pick_queue))
    {
      g_autofree char *url = g_queue_pop_head (&self->pick_queue);
      g_autoptr(GError) error = NULL;
      NbRelayClient *client = new_relay_client (self, url, &error);

      if (client == NULL || !nb_relay_client_start (client, &error))
        {
          g_message ("Cannot use relay server %s: %s", url, error->message);
          g_clear_object (&client);
          g_clear_error (&self->pick_error);
          self->pick_error = g_steal_pointer (&error);
          continue;
        }
      g_debug ("Trying relay server %s", url);
      g_signal_connect (client, "connected", G_CALLBACK (on_client_connected), self);
      g_signal_connect (client, "disconnected", G_CALLBACK (on_client_disconnected), self);
      g_ptr_array_add (self->candidates, client);
    }

  if (self->candidates->len == 0)
    {
      GError *error = g_steal_pointer (&self->pick_error);

      if (error == NULL)
        error = g_error_new_literal (NB_RELAY_MANAGER_ERROR, NB_RELAY_MANAGER_ERROR_NO_SERVERS,
                                     "No relay server listed");
      pick_failed (self, error);
    }
}

static gboolean
on_pick_timeout (gpointer user_data)
{
  NbRelayManager *self = user_data;

  self->pick_timeout_id = 0;
  pick_failed (self, g_error_new (NB_RELAY_MANAGER_ERROR, NB_RELAY_MANAGER_ERROR_PICK_TIMEOUT,
                                  "No relay server authenticated within %u ms",
                                  self->pick_timeout_ms));
  return G_SOURCE_REMOVE;
}

static void
begin_pick (NbRelayManager *self)
{
  g_assert (self->home == NULL);
  g_assert (self->candidates->len == 0);

  self->state = HOME_PICKING;
  g_clear_error (&self->pick_error);
  for (guint i = 0; self->servers != NULL && self->servers[i] != NULL; i++)
    g_queue_push_tail (&self->pick_queue, g_strdup (self->servers[i]));
  g_debug ("Picking a home relay among %u servers", g_queue_get_length (&self->pick_queue));
  self->pick_timeout_id = g_timeout_add (self->pick_timeout_ms, on_pick_timeout, self);
  fill_candidates (self);
}

static gboolean
on_quick_reconnect (gpointer user_data)
{
  NbRelayManager *self = user_data;
  g_autoptr(GError) error = NULL;

  self->retry_id = 0;
  if (!self->running || self->state != HOME_QUICK_WAIT)
    return G_SOURCE_REMOVE;

  if (!server_listed (self, nb_relay_client_get_server_url (self->home)) ||
      !nb_relay_client_start (self->home, &error))
    {
      drop_home (self);
      schedule_retry (self);
      return G_SOURCE_REMOVE;
    }
  g_message ("Reconnecting to relay server %s", nb_relay_client_get_server_url (self->home));
  self->state = HOME_QUICK_RECONNECTING;
  return G_SOURCE_REMOVE;
}

static void
home_lost (NbRelayManager *self,
           const GError   *reason)
{
  g_message ("Home relay server %s lost: %s", nb_relay_client_get_server_url (self->home),
             reason->message);

  /* the manager reconnects, not the client */
  nb_relay_client_stop (self->home);
  set_last_error (self, reason);
  self->emit_reconnected = TRUE;

  if (server_listed (self, nb_relay_client_get_server_url (self->home)))
    {
      self->state = HOME_QUICK_WAIT;
      g_clear_handle_id (&self->retry_id, g_source_remove);
      self->retry_id = g_timeout_add (self->quick_reconnect_delay_ms, on_quick_reconnect, self);
    }
  else
    {
      drop_home (self);
      schedule_retry (self);
    }

  g_object_ref (self);
  g_signal_emit (self, signals[SIGNAL_HOME_LOST], 0, reason);
  g_object_unref (self);
}

static void
on_client_connected (NbRelayClient  *client,
                     const char     *instance_url,
                     NbRelayManager *self)
{
  guint index;

  switch (self->state)
    {
    case HOME_PICKING:
      if (!g_ptr_array_find (self->candidates, client, &index))
        return;
      self->home = g_ptr_array_steal_index (self->candidates, index);
      /* NetBird closes every other connection of the pick */
      drop_candidates (self);
      become_ready (self);
      break;

    case HOME_QUICK_RECONNECTING:
      if (client == self->home)
        become_ready (self);
      break;

    case HOME_STOPPED:
    case HOME_READY:
    case HOME_QUICK_WAIT:
    case HOME_RETRY_WAIT:
    default:
      break;
    }
}

static void
on_client_disconnected (NbRelayClient  *client,
                        const GError   *reason,
                        NbRelayManager *self)
{
  guint index;

  if (client == self->home)
    {
      if (self->state == HOME_READY)
        home_lost (self, reason);
      else if (self->state == HOME_QUICK_RECONNECTING)
        {
          g_message ("Reconnecting to relay server %s failed: %s",
                     nb_relay_client_get_server_url (client), reason->message);
          set_last_error (self, reason);
          drop_home (self);
          schedule_retry (self);
        }
      return;
    }

  if (self->state == HOME_PICKING && g_ptr_array_find (self->candidates, client, &index))
    {
      g_debug ("Relay server %s failed during the pick: %s",
               nb_relay_client_get_server_url (client), reason->message);
      g_clear_error (&self->pick_error);
      self->pick_error = g_error_copy (reason);
      release_client (self, g_ptr_array_steal_index (self->candidates, index));
      fill_candidates (self);
    }
}

/* ---- foreign relays ----------------------------------------------------- */

static guint
foreign_count_open (Foreign *f)
{
  guint n = 0;

  for (guint i = 0; i < f->conns->len; i++)
    {
      NbRelayConn *conn = f->conns->pdata[i];

      if (nb_relay_conn_is_open (conn) && nb_relay_conn_get_client (conn) == f->client)
        n++;
    }
  return n;
}

/* Opens for @f that have not completed yet (waiting or scheduled). */
static guint
foreign_count_pending (Foreign *f)
{
  guint n = 0;

  for (GList *l = f->self->ops; l != NULL; l = l->next)
    {
      OpenOp *op = l->data;

      if (op->error == NULL && g_strcmp0 (op->foreign_url, f->url) == 0)
        n++;
    }
  return n;
}

static void on_foreign_conn_gone (gpointer data, GObject *where_the_object_was);

static void
foreign_free (Foreign *f)
{
  for (guint i = 0; i < f->conns->len; i++)
    {
      GObject *conn = f->conns->pdata[i];

      g_signal_handlers_disconnect_by_data (conn, f);
      g_object_weak_unref (conn, on_foreign_conn_gone, f);
    }
  g_ptr_array_unref (f->conns);
  g_clear_handle_id (&f->grace_id, g_source_remove);
  release_client (f, f->client);
  g_free (f->url);
  g_free (f);
}

static void
stop_sweep_if_unused (NbRelayManager *self)
{
  if (g_hash_table_size (self->foreign) == 0)
    g_clear_handle_id (&self->sweep_id, g_source_remove);
}

/* Forget @f (closing its connection) and emit "foreign-closed". */
static void
foreign_close (Foreign      *f,
               const GError *reason)
{
  NbRelayManager *self = f->self;
  g_autofree char *url = g_strdup (f->url);

  g_object_ref (self);
  g_hash_table_remove (self->foreign, url); /* frees @f */
  stop_sweep_if_unused (self);
  g_signal_emit (self, signals[SIGNAL_FOREIGN_CLOSED], 0, url, reason);
  g_object_unref (self);
}

static gboolean
on_foreign_grace (gpointer user_data)
{
  Foreign *f = user_data;

  f->grace_id = 0;
  if (foreign_count_open (f) > 0 || foreign_count_pending (f) > 0)
    return G_SOURCE_REMOVE;
  g_message ("Closing unused foreign relay connection %s", f->url);
  foreign_close (f, NULL);
  return G_SOURCE_REMOVE;
}

/* Start or cancel the grace time of @f from what uses it now. */
static void
foreign_check_idle (Foreign *f)
{
  if (!f->connected)
    return;
  if (foreign_count_open (f) > 0 || foreign_count_pending (f) > 0)
    g_clear_handle_id (&f->grace_id, g_source_remove);
  else if (f->grace_id == 0)
    f->grace_id = g_timeout_add (f->self->foreign_grace_ms, on_foreign_grace, f);
}

static void
on_foreign_conn_gone (gpointer data,
                      GObject *where_the_object_was)
{
  Foreign *f = data;

  g_ptr_array_remove_fast (f->conns, where_the_object_was);
  foreign_check_idle (f);
}

static void
on_foreign_conn_closed (NbRelayConn  *conn,
                        const GError *reason,
                        Foreign      *f)
{
  foreign_check_idle (f);
}

static void
foreign_track (Foreign     *f,
               NbRelayConn *conn)
{
  g_ptr_array_add (f->conns, conn);
  g_object_weak_ref (G_OBJECT (conn), on_foreign_conn_gone, f);
  g_signal_connect (conn, "closed", G_CALLBACK (on_foreign_conn_closed), f);
}

static void
on_foreign_connected (NbRelayClient *client,
                      const char    *instance_url,
                      Foreign       *f)
{
  g_message ("Foreign relay %s connected (instance %s)", f->url, instance_url);
  f->connected = TRUE;
  for (GList *l = f->self->ops; l != NULL; l = l->next)
    {
      OpenOp *op = l->data;

      if (op->waiting && g_strcmp0 (op->foreign_url, f->url) == 0)
        op_schedule (op);
    }
  foreign_check_idle (f);
}

static void
on_foreign_disconnected (NbRelayClient *client,
                         const GError  *reason,
                         Foreign       *f)
{
  NbRelayManager *self = f->self;

  if (f->connected)
    g_message ("Foreign relay %s lost: %s", f->url, reason->message);
  else
    g_message ("Cannot connect to foreign relay %s: %s", f->url, reason->message);

  for (GList *l = self->ops; l != NULL; l = l->next)
    {
      OpenOp *op = l->data;

      if (op->error == NULL && g_strcmp0 (op->foreign_url, f->url) == 0)
        {
          op->error = g_error_copy (reason);
          op_schedule (op);
        }
    }

  if (f->connected)
    foreign_close (f, reason);
  else
    {
      g_hash_table_remove (self->foreign, f->url);
      stop_sweep_if_unused (self);
    }
}

static gboolean
on_sweep (gpointer user_data)
{
  NbRelayManager *self = user_data;
  GHashTableIter iter;
  gpointer value;

  g_hash_table_iter_init (&iter, self->foreign);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    foreign_check_idle (value);
  return G_SOURCE_CONTINUE;
}

static Foreign *
foreign_get (NbRelayManager *self,
             const char     *url,
             GError        **error)
{
  Foreign *f = g_hash_table_lookup (self->foreign, url);
  NbRelayClient *client;

  if (f != NULL)
    return f;

  client = new_relay_client (self, url, error);
  if (client == NULL)
    return NULL;
  if (!nb_relay_client_start (client, error))
    {
      g_object_unref (client);
      return NULL;
    }

  g_message ("Connecting to foreign relay %s", url);
  f = g_new0 (Foreign, 1);
  f->self = self;
  f->url = g_strdup (url);
  f->client = client;
  f->conns = g_ptr_array_new ();
  g_signal_connect (client, "connected", G_CALLBACK (on_foreign_connected), f);
  g_signal_connect (client, "disconnected", G_CALLBACK (on_foreign_disconnected), f);
  g_hash_table_insert (self->foreign, f->url, f);
  if (self->sweep_id == 0)
    self->sweep_id = g_timeout_add (self->cleanup_interval_ms, on_sweep, self);
  return f;
}

/* ---- opens -------------------------------------------------------------- */

static void
op_free (OpenOp *op)
{
  if (op->cancel_id != 0)
    g_signal_handler_disconnect (op->cancellable, op->cancel_id);
  g_clear_object (&op->cancellable);
  g_clear_handle_id (&op->idle_id, g_source_remove);
  g_clear_error (&op->error);
  g_free (op->peer_key);
  g_free (op->foreign_url);
  g_clear_object (&op->task);
  g_free (op);
}

static gboolean
op_deliver (gpointer user_data)
{
  OpenOp *op = user_data;
  NbRelayManager *self = op->self;
  g_autoptr(GTask) task = g_object_ref (op->task);
  g_autoptr(GError) error = g_steal_pointer (&op->error);
  NbRelayConn *conn = NULL;
  Foreign *f = NULL;

  op->idle_id = 0;
  self->ops = g_list_remove (self->ops, op);
  if (op->foreign_url != NULL)
    f = g_hash_table_lookup (self->foreign, op->foreign_url);

  if (error == NULL && !g_cancellable_set_error_if_cancelled (op->cancellable, &error))
    {
      NbRelayClient *client = NULL;

      if (op->foreign_url == NULL)
        client = self->state == HOME_READY ? self->home : NULL;
      else if (f != NULL && f->connected)
        client = f->client;

      if (client == NULL)
        g_set_error_literal (&error, NB_RELAY_MANAGER_ERROR, NB_RELAY_MANAGER_ERROR_NOT_READY,
                             "No relay connection");
      else
        {
          conn = nb_relay_client_open_conn (client, op->peer_key, &error);
          if (conn != NULL && f != NULL)
            foreign_track (f, conn);
        }
    }

  /* before returning: the callback may stop the manager */
  if (f != NULL)
    foreign_check_idle (f);
  op_free (op);

  if (conn != NULL)
    g_task_return_pointer (task, conn, g_object_unref);
  else
    g_task_return_error (task, g_steal_pointer (&error));
  return G_SOURCE_REMOVE;
}

static void
op_schedule (OpenOp *op)
{
  op->waiting = FALSE;
  if (op->idle_id == 0)
    op->idle_id = g_idle_add_full (G_PRIORITY_DEFAULT, op_deliver, op, NULL);
}

static void
op_fail (OpenOp *op,
         GError *error)
{
  if (op->error == NULL)
    op->error = error;
  else
    g_error_free (error);
  op_schedule (op);
}

static void
on_op_cancelled (GCancellable *cancellable,
                 OpenOp       *op)
{
  op_fail (op, g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED,
                                    "Opening the relayed connection was cancelled"));
}

/* ---- NbRelayManager ----------------------------------------------------- */

static void
stop_all (NbRelayManager *self)
{
  self->running = FALSE;
  self->state = HOME_STOPPED;
  self->retry_loop = FALSE;
  self->emit_reconnected = FALSE;
  g_clear_handle_id (&self->retry_id, g_source_remove);
  g_clear_handle_id (&self->sweep_id, g_source_remove);
  if (self->candidates != NULL)
    drop_candidates (self);
  drop_home (self);
  if (self->foreign != NULL)
    g_hash_table_remove_all (self->foreign);

  for (GList *l = self->ops; l != NULL; l = l->next)
    op_fail (l->data, g_error_new_literal (NB_RELAY_MANAGER_ERROR, NB_RELAY_MANAGER_ERROR_STOPPED,
                                           "The relay manager was stopped"));
}

static void
nb_relay_manager_dispose (GObject *object)
{
  NbRelayManager *self = NB_RELAY_MANAGER (object);

  /* An open in progress holds a reference (its GTask), so only
   * g_object_run_dispose() gets here with one: it completes with STOPPED
   * from its idle callback, the object still alive. */
  stop_all (self);

  G_OBJECT_CLASS (nb_relay_manager_parent_class)->dispose (object);
}

static void
nb_relay_manager_finalize (GObject *object)
{
  NbRelayManager *self = NB_RELAY_MANAGER (object);

  g_free (self->peer_key);
  g_strfreev (self->servers);
  wipe_string (&self->token_payload);
  wipe_string (&self->token_signature);
  g_clear_pointer (&self->candidates, g_ptr_array_unref);
  g_queue_clear_full (&self->pick_queue, g_free);
  g_clear_error (&self->pick_error);
  g_clear_error (&self->last_error);
  g_clear_pointer (&self->backoff, nb_backoff_free);
  g_clear_pointer (&self->foreign, g_hash_table_unref);
  g_clear_object (&self->tls_database);

  G_OBJECT_CLASS (nb_relay_manager_parent_class)->finalize (object);
}

static void
nb_relay_manager_class_init (NbRelayManagerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = nb_relay_manager_dispose;
  object_class->finalize = nb_relay_manager_finalize;

  signals[SIGNAL_HOME_READY] =
    g_signal_new ("home-ready", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                  NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_STRING);
  signals[SIGNAL_HOME_LOST] =
    g_signal_new ("home-lost", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                  NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_ERROR);
  signals[SIGNAL_RELAY_RECONNECTED] =
    g_signal_new ("relay-reconnected", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                  NULL, NULL, NULL, G_TYPE_NONE, 0);
  signals[SIGNAL_FOREIGN_CLOSED] =
    g_signal_new ("foreign-closed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                  NULL, NULL, NULL, G_TYPE_NONE, 2, G_TYPE_STRING, G_TYPE_ERROR);
}

static void
foreign_free_cb (gpointer data)
{
  foreign_free (data);
}

static void
nb_relay_manager_init (NbRelayManager *self)
{
  self->candidates = g_ptr_array_new ();
  g_queue_init (&self->pick_queue);
  self->foreign = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, foreign_free_cb);
  self->backoff = nb_backoff_new (NB_RELAY_MANAGER_DEFAULT_BACKOFF_INITIAL_MS,
                                  NB_RELAY_MANAGER_DEFAULT_BACKOFF_MAX_MS);
  nb_backoff_set_multiplier (self->backoff, 2.0);
  nb_backoff_set_jitter (self->backoff, 0.5);
  self->foreign_grace_ms = NB_RELAY_MANAGER_DEFAULT_FOREIGN_GRACE_MS;
  self->cleanup_interval_ms = NB_RELAY_MANAGER_DEFAULT_CLEANUP_INTERVAL_MS;
  self->quick_reconnect_delay_ms = NB_RELAY_MANAGER_DEFAULT_QUICK_RECONNECT_DELAY_MS;
  self->pick_timeout_ms = NB_RELAY_MANAGER_DEFAULT_PICK_TIMEOUT_MS;
}

NbRelayManager *
nb_relay_manager_new (const char *peer_key)
{
  NbRelayManager *self;

  g_return_val_if_fail (peer_key != NULL && *peer_key != '\0', NULL);

  self = g_object_new (NB_TYPE_RELAY_MANAGER, NULL);
  self->peer_key = g_strdup (peer_key);
  return self;
}

void
nb_relay_manager_set_servers (NbRelayManager     *self,
                              const char * const *urls)
{
  g_return_if_fail (NB_IS_RELAY_MANAGER (self));

  g_strfreev (self->servers);
  self->servers = g_strdupv ((char **) urls);
}

const char * const *
nb_relay_manager_get_servers (NbRelayManager *self)
{
  static const char * const none[] = { NULL };

  g_return_val_if_fail (NB_IS_RELAY_MANAGER (self), NULL);
  return self->servers != NULL ? (const char * const *) self->servers : none;
}

gboolean
nb_relay_manager_set_token (NbRelayManager *self,
                            const char     *token_payload,
                            const char     *token_signature,
                            GError        **error)
{
  GBytes *check;
  gsize len = 0;
  guint8 *data;
  GHashTableIter iter;
  gpointer value;

  g_return_val_if_fail (NB_IS_RELAY_MANAGER (self), FALSE);
  g_return_val_if_fail (token_payload != NULL, FALSE);
  g_return_val_if_fail (token_signature != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  /* validate first, so that no connection is left with half a change */
  check = nb_relay_auth_payload_new (token_payload, token_signature, error);
  if (check == NULL)
    return FALSE;
  data = g_bytes_unref_to_data (check, &len);
  sodium_memzero (data, len);
  g_free (data);

  wipe_string (&self->token_payload);
  wipe_string (&self->token_signature);
  self->token_payload = g_strdup (token_payload);
  self->token_signature = g_strdup (token_signature);

  if (self->home != NULL)
    nb_relay_client_set_token (self->home, token_payload, token_signature, NULL);
  for (guint i = 0; i < self->candidates->len; i++)
    nb_relay_client_set_token (self->candidates->pdata[i], token_payload, token_signature, NULL);
  g_hash_table_iter_init (&iter, self->foreign);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    nb_relay_client_set_token (((Foreign *) value)->client, token_payload, token_signature, NULL);
  return TRUE;
}

gboolean
nb_relay_manager_start (NbRelayManager *self,
                        GError        **error)
{
  g_return_val_if_fail (NB_IS_RELAY_MANAGER (self), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (self->running)
    return TRUE;
  if (self->token_payload == NULL)
    {
      g_set_error_literal (error, NB_RELAY_MANAGER_ERROR, NB_RELAY_MANAGER_ERROR_NO_TOKEN,
                           "No relay token set");
      return FALSE;
    }

  self->running = TRUE;
  self->retry_loop = FALSE;
  self->emit_reconnected = FALSE;
  nb_backoff_reset (self->backoff);
  begin_pick (self);
  return TRUE;
}

void
nb_relay_manager_stop (NbRelayManager *self)
{
  g_return_if_fail (NB_IS_RELAY_MANAGER (self));

  g_object_ref (self);
  stop_all (self);
  g_object_unref (self);
}

gboolean
nb_relay_manager_is_ready (NbRelayManager *self)
{
  g_return_val_if_fail (NB_IS_RELAY_MANAGER (self), FALSE);
  return self->state == HOME_READY;
}

const char *
nb_relay_manager_get_home_instance_url (NbRelayManager *self)
{
  g_return_val_if_fail (NB_IS_RELAY_MANAGER (self), NULL);
  return self->state == HOME_READY ? nb_relay_client_get_instance_url (self->home) : NULL;
}

const char *
nb_relay_manager_get_home_server_url (NbRelayManager *self)
{
  g_return_val_if_fail (NB_IS_RELAY_MANAGER (self), NULL);
  return self->state == HOME_READY ? nb_relay_client_get_server_url (self->home) : NULL;
}

NbRelayClient *
nb_relay_manager_get_home_client (NbRelayManager *self)
{
  g_return_val_if_fail (NB_IS_RELAY_MANAGER (self), NULL);
  return self->state == HOME_READY ? self->home : NULL;
}

const GError *
nb_relay_manager_get_last_error (NbRelayManager *self)
{
  g_return_val_if_fail (NB_IS_RELAY_MANAGER (self), NULL);
  return self->last_error;
}

gboolean
nb_relay_manager_is_foreign (NbRelayManager *self,
                             const char     *server_url)
{
  g_return_val_if_fail (NB_IS_RELAY_MANAGER (self), FALSE);

  if (server_url == NULL)
    return FALSE;
  if (self->state != HOME_READY)
    return TRUE;
  return g_strcmp0 (server_url, nb_relay_client_get_instance_url (self->home)) != 0 &&
         g_strcmp0 (server_url, nb_relay_client_get_server_url (self->home)) != 0;
}

guint
nb_relay_manager_get_n_foreign (NbRelayManager *self)
{
  g_return_val_if_fail (NB_IS_RELAY_MANAGER (self), 0);
  return g_hash_table_size (self->foreign);
}

gboolean
nb_relay_manager_has_foreign (NbRelayManager *self,
                              const char     *server_url)
{
  g_return_val_if_fail (NB_IS_RELAY_MANAGER (self), FALSE);
  g_return_val_if_fail (server_url != NULL, FALSE);
  return g_hash_table_contains (self->foreign, server_url);
}

void
nb_relay_manager_open_conn_async (NbRelayManager     *self,
                                  const char         *peer_key,
                                  const char         *server_url,
                                  GCancellable       *cancellable,
                                  GAsyncReadyCallback callback,
                                  gpointer            user_data)
{
  OpenOp *op;
  GError *error = NULL;

  g_return_if_fail (NB_IS_RELAY_MANAGER (self));
  g_return_if_fail (peer_key != NULL && *peer_key != '\0');
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  op = g_new0 (OpenOp, 1);
  op->self = self;
  op->task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (op->task, nb_relay_manager_open_conn_async);
  op->peer_key = g_strdup (peer_key);
  self->ops = g_list_prepend (self->ops, op);

  if (!self->running || self->state != HOME_READY)
    {
      /* as NetBird: no open, not even a foreign one, without a home relay */
      op_fail (op, g_error_new_literal (NB_RELAY_MANAGER_ERROR, NB_RELAY_MANAGER_ERROR_NOT_READY,
                                        "No home relay connection"));
      return;
    }

  if (nb_relay_manager_is_foreign (self, server_url))
    {
      Foreign *f;

      op->foreign_url = g_strdup (server_url);
      f = foreign_get (self, server_url, &error);
      if (f == NULL)
        {
          op_fail (op, error);
          return;
        }
      g_clear_handle_id (&f->grace_id, g_source_remove);
      if (!f->connected)
        op->waiting = TRUE;
    }

  if (cancellable != NULL)
    {
      op->cancellable = g_object_ref (cancellable);
      if (g_cancellable_is_cancelled (cancellable))
        {
          on_op_cancelled (cancellable, op);
          return;
        }
      op->cancel_id = g_signal_connect (cancellable, "cancelled",
                                        G_CALLBACK (on_op_cancelled), op);
    }

  if (!op->waiting)
    op_schedule (op);
}

NbRelayConn *
nb_relay_manager_open_conn_finish (NbRelayManager *self,
                                   GAsyncResult   *result,
                                   GError        **error)
{
  g_return_val_if_fail (NB_IS_RELAY_MANAGER (self), NULL);
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) ==
                        nb_relay_manager_open_conn_async, NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

void
nb_relay_manager_set_foreign_grace (NbRelayManager *self,
                                    guint           grace_ms)
{
  g_return_if_fail (NB_IS_RELAY_MANAGER (self));
  self->foreign_grace_ms = grace_ms;
}

void
nb_relay_manager_set_cleanup_interval (NbRelayManager *self,
                                       guint           interval_ms)
{
  g_return_if_fail (NB_IS_RELAY_MANAGER (self));
  g_return_if_fail (interval_ms > 0);
  self->cleanup_interval_ms = interval_ms;
}

void
nb_relay_manager_set_quick_reconnect_delay (NbRelayManager *self,
                                            guint           delay_ms)
{
  g_return_if_fail (NB_IS_RELAY_MANAGER (self));
  self->quick_reconnect_delay_ms = delay_ms;
}

void
nb_relay_manager_set_backoff (NbRelayManager *self,
                              guint           initial_ms,
                              guint           max_ms)
{
  g_return_if_fail (NB_IS_RELAY_MANAGER (self));
  g_return_if_fail (initial_ms > 0 && max_ms >= initial_ms);

  g_clear_pointer (&self->backoff, nb_backoff_free);
  self->backoff = nb_backoff_new (initial_ms, max_ms);
  nb_backoff_set_multiplier (self->backoff, 2.0);
  nb_backoff_set_jitter (self->backoff, 0.5);
}

void
nb_relay_manager_set_pick_timeout (NbRelayManager *self,
                                   guint           timeout_ms)
{
  g_return_if_fail (NB_IS_RELAY_MANAGER (self));
  g_return_if_fail (timeout_ms > 0);
  self->pick_timeout_ms = timeout_ms;
}

void
nb_relay_manager_set_connect_timeout (NbRelayManager *self,
                                      guint           timeout_ms)
{
  g_return_if_fail (NB_IS_RELAY_MANAGER (self));
  self->connect_timeout_ms = timeout_ms;
}

void
nb_relay_manager_set_auth_timeout (NbRelayManager *self,
                                   guint           timeout_ms)
{
  g_return_if_fail (NB_IS_RELAY_MANAGER (self));
  self->auth_timeout_ms = timeout_ms;
}

void
nb_relay_manager_set_health_timeout (NbRelayManager *self,
                                     guint           timeout_ms)
{
  g_return_if_fail (NB_IS_RELAY_MANAGER (self));
  self->health_timeout_ms = timeout_ms;
}

void
nb_relay_manager_set_tls_database (NbRelayManager *self,
                                   GTlsDatabase   *database)
{
  g_return_if_fail (NB_IS_RELAY_MANAGER (self));
  g_return_if_fail (database == NULL || G_IS_TLS_DATABASE (database));
  g_set_object (&self->tls_database, database);
}
