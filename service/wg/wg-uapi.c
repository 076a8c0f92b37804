/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * NbWgUapi: wireguard-go over its UAPI socket, see wg-uapi.h.
 *
 * Requests (Op) wait in a queue; one at a time is current. A current Op
 * goes CONNECT -> SEND -> RECEIVE on a non-blocking GSocket of its own,
 * each step waiting on a socket source; its timeout runs from the moment it
 * leaves the queue. Every way an Op ends goes through op_finish(), which
 * detaches it, wipes its buffers and completes its GTask; the queue moves
 * on from the callback that finished it, or from an idle source when the
 * caller is inside one of our public functions.
 *
 * The process (WgProc) lives apart from the object: it holds its own
 * references while it runs (its wait, its log reader and its SIGKILL
 * timer), so a disposed NbWgUapi leaves behind a WgProc that terminates
 * wireguard-go and reaps it, then frees itself.
 */
#define G_LOG_DOMAIN "nb-wg"

#include "config.h"

#include "wg-uapi.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <gio/gunixsocketaddress.h>

#include "wg-uapi-msg.h"

#define RECV_CHUNK        16384
#define CONNECT_RETRY_MS  10
#define START_POLL_MS     10

static void
source_clear (GSource **source)
{
  if (*source != NULL)
    {
      g_source_destroy (*source);
      g_source_unref (*source);
      *source = NULL;
    }
}

static GSource *
attach_timeout (GMainContext   *context,
                guint           ms,
                GSourceFunc     func,
                gpointer        data,
                GDestroyNotify  notify)
{
  GSource *source = g_timeout_source_new (ms);

  g_source_set_callback (source, func, data, notify);
  g_source_attach (source, context);
  return source;
}

/* ------------------------------------------------------------------------ */
/* The wireguard-go process */

typedef struct _WgProc WgProc;

struct _WgProc {
  grefcount ref;
  GMainContext *context;
  GSubprocess *subprocess;
  GPid pid;
  char *ifname;
  NbWgUapi *owner;           /* unowned; NULL once the owner is disposed */
  GDataInputStream *log;
  gboolean exited;
  gboolean stopping;         /* we asked it to exit */
  char *exit_text;           /* "exited with status 1", "killed by signal 9 (Killed)" */
  GSource *kill_source;      /* SIGKILL after the stop timeout */
  GPtrArray *stop_tasks;     /* GTask *, completed when it has exited */
};

static void uapi_proc_exited (NbWgUapi *self, WgProc *proc);

static WgProc *
proc_ref (WgProc *proc)
{
  g_ref_count_inc (&proc->ref);
  return proc;
}

static void
proc_unref (WgProc *proc)
{
  if (!g_ref_count_dec (&proc->ref))
    return;
  g_assert (proc->kill_source == NULL);
  g_assert (proc->stop_tasks->len == 0);
  g_ptr_array_unref (proc->stop_tasks);
  g_clear_object (&proc->log);
  g_clear_object (&proc->subprocess);
  g_main_context_unref (proc->context);
  g_free (proc->exit_text);
  g_free (proc->ifname);
  g_free (proc);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (WgProc, proc_unref)

static void
proc_wait_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      data)
{
  g_autoptr(WgProc) proc = data;
  GSubprocess *sp = G_SUBPROCESS (source);
  g_autoptr(GPtrArray) tasks = NULL;
  guint i;

  /* No cancellable was given, so the wait can only end with the exit. */
  g_subprocess_wait_finish (sp, result, NULL);

  proc->exited = TRUE;
  if (g_subprocess_get_if_signaled (sp))
    {
      int sig = g_subprocess_get_term_sig (sp);

      proc->exit_text = g_strdup_printf ("killed by signal %d (%s)", sig, g_strsignal (sig));
    }
  else
    proc->exit_text = g_strdup_printf ("exited with status %d", g_subprocess_get_exit_status (sp));
  g_log (G_LOG_DOMAIN, proc->stopping ? G_LOG_LEVEL_DEBUG : G_LOG_LEVEL_MESSAGE,
         "%s: wireguard-go (pid %d) %s", proc->ifname, (int) proc->pid, proc->exit_text);
  source_clear (&proc->kill_source);

  /* The owner first: a stop callback may start a new process at once. */
  if (proc->owner != NULL)
    uapi_proc_exited (proc->owner, proc);

  tasks = g_steal_pointer (&proc->stop_tasks);
  proc->stop_tasks = g_ptr_array_new ();
  for (i = 0; i < tasks->len; i++)
    {
      GTask *task = g_ptr_array_index (tasks, i);

      g_task_return_boolean (task, TRUE);
      g_object_unref (task);
    }
}

static void proc_read_log (WgProc *proc);

static void
proc_log_cb (GObject      *source,
             GAsyncResult *result,
             gpointer      data)
{
  g_autoptr(WgProc) proc = data;
  g_autoptr(GError) error = NULL;
  g_autofree char *line = NULL;
  gsize len = 0;

  line = g_data_input_stream_read_line_finish (G_DATA_INPUT_STREAM (source), result, &len, &error);
  if (line == NULL)
    {
      if (error != NULL)
        g_debug ("%s: reading wireguard-go's output: %s", proc->ifname, error->message);
      return;   /* EOF: it exited (or closed its output) */
    }
  /* wireguard-go logs "ERROR: (wg0) ..." / "DEBUG: (wg0) ..."; it never
   * prints key material (peers appear as abbreviated public keys). */
  g_log (G_LOG_DOMAIN,
         g_str_has_prefix (line, "ERROR") ? G_LOG_LEVEL_MESSAGE : G_LOG_LEVEL_DEBUG,
         "%s: wireguard-go[%d]: %s", proc->ifname, (int) proc->pid, g_strchomp (line));
  proc_read_log (proc);
}

static void
proc_read_log (WgProc *proc)
{
  g_data_input_stream_read_line_async (proc->log, G_PRIORITY_DEFAULT, NULL,
                                       proc_log_cb, proc_ref (proc));
}

static gboolean
proc_kill_cb (gpointer data)
{
  WgProc *proc = data;

  g_message ("%s: wireguard-go (pid %d) did not exit after SIGTERM; sending SIGKILL",
             proc->ifname, (int) proc->pid);
  g_subprocess_force_exit (proc->subprocess);
  /* The source is destroyed (and its reference dropped) at the exit. */
  return G_SOURCE_CONTINUE;
}

/* SIGTERM now, SIGKILL after @timeout_ms; the exit is then expected. */
static void
proc_stop (WgProc *proc,
           guint   timeout_ms)
{
  if (proc->exited || proc->stopping)
    return;
  proc->stopping = TRUE;
  g_debug ("%s: stopping wireguard-go (pid %d)", proc->ifname, (int) proc->pid);
  /* A no-op once GSubprocess has reaped it: never signals a reused PID. */
  g_subprocess_send_signal (proc->subprocess, SIGTERM);
  proc->kill_source = attach_timeout (proc->context, timeout_ms, proc_kill_cb,
                                      proc_ref (proc), (GDestroyNotify) proc_unref);
}

/* In the child, between fork and exec: die with the parent (whatever
 * way it ends), and if it is already gone, do not start at all. */
static void
child_setup (gpointer data)
{
  pid_t parent = (pid_t) GPOINTER_TO_INT (data);

  prctl (PR_SET_PDEATHSIG, SIGTERM);
  if (getppid () != parent)
    _exit (127);
}

/* ------------------------------------------------------------------------ */
/* The object */

typedef enum {
  OP_SET,
  OP_GET,
} OpKind;

typedef struct _Op Op;

struct _NbWgUapi {
  GObject parent_instance;

  GMainContext *context;
  char *ifname;
  char *socket_dir;
  char *socket_path;
  char *program;
  char *log_level;
  guint request_timeout_ms;
  guint start_timeout_ms;
  guint stop_timeout_ms;

  GQueue queue;              /* Op *, waiting */
  Op *current;               /* in flight */
  GSource *kick_source;      /* idle: process the queue */

  WgProc *proc;              /* the process we started; NULL if none */
  GError *death;             /* NB_WG_ERROR_DIED once it died on its own */
  GTask *start_task;
  GSource *start_poll_source;
  GSource *start_timeout_source;
  GSource *start_cancel_source;
};

enum {
  SIGNAL_DIED,
  N_SIGNALS,
};

static guint signals[N_SIGNALS];

static void nb_wg_uapi_backend_init (NbWgBackendInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (NbWgUapi, nb_wg_uapi, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (NB_TYPE_WG_BACKEND,
                                                      nb_wg_uapi_backend_init))

/* ------------------------------------------------------------------------ */
/* Requests */

struct _Op {
  NbWgUapi *self;            /* unowned: the task holds a reference */
  GTask *task;
  OpKind kind;
  const char *what;          /* "get", "set device", ... for messages */
  NbWgUapiBuf *request;      /* wiped and freed once sent */
  gsize written;
  NbWgUapiBuf *response;
  gsize scan_from;
  GError *send_error;        /* the device closed while we were sending */
  GSocket *socket;
  GSource *io_source;
  GSource *retry_source;
  GSource *timeout_source;
  GSource *cancel_source;    /* while queued */
};

static void process_queue (NbWgUapi *self);
static void op_connect (Op *op);
static void op_send (Op *op);
static void op_receive (Op *op);

static void
op_free (Op *op)
{
  source_clear (&op->io_source);
  source_clear (&op->retry_source);
  source_clear (&op->timeout_source);
  source_clear (&op->cancel_source);
  if (op->socket != NULL)
    {
      g_socket_close (op->socket, NULL);
      g_clear_object (&op->socket);
    }
  g_clear_pointer (&op->request, nb_wg_uapi_buf_free);
  g_clear_pointer (&op->response, nb_wg_uapi_buf_free);
  g_clear_error (&op->send_error);
  g_clear_object (&op->task);
  g_free (op);
}

static GCancellable *
op_cancellable (Op *op)
{
  return g_task_get_cancellable (op->task);
}

/* Ends @op: @error (taken) or @stats (taken; NULL for a set). The caller
 * must hold a reference on op->self if it uses it afterwards. */
static void
op_finish (Op        *op,
           GError    *error,
           NbWgStats *stats)
{
  NbWgUapi *self = op->self;
  GTask *task = g_steal_pointer (&op->task);
  OpKind kind = op->kind;

  if (self->current == op)
    self->current = NULL;
  else
    g_queue_remove (&self->queue, op);
  op_free (op);

  if (error != NULL)
    {
      g_debug ("%s: request failed: %s", self->ifname, error->message);
      g_task_return_error (task, error);
    }
  else if (kind == OP_GET)
    g_task_return_pointer (task, stats, (GDestroyNotify) nb_wg_stats_free);
  else
    g_task_return_boolean (task, TRUE);
  g_object_unref (task);
}

/* Finishes the current op from one of its callbacks and moves on. */
static void
op_fail_and_continue (Op     *op,
                      GError *error)
{
  g_autoptr(NbWgUapi) self = g_object_ref (op->self);

  op_finish (op, error, NULL);
  process_queue (self);
}

static gboolean
op_check_cancelled (Op *op)
{
  GError *error = NULL;

  if (!g_cancellable_set_error_if_cancelled (op_cancellable (op), &error))
    return FALSE;
  op_fail_and_continue (op, error);
  return TRUE;
}

static GError *
not_running_error (NbWgUapi   *self,
                   const char *detail)
{
  if (self->death != NULL)
    return g_error_new (NB_WG_ERROR, NB_WG_ERROR_NOT_RUNNING, "%s", self->death->message);
  return g_error_new (NB_WG_ERROR, NB_WG_ERROR_NOT_RUNNING,
                      "%s: no WireGuard device serves the interface (%s: %s)",
                      self->ifname, self->socket_path, detail);
}

static void
op_watch (Op                *op,
          GIOCondition       condition,
          GSocketSourceFunc  func)
{
  source_clear (&op->io_source);
  op->io_source = g_socket_create_source (op->socket, condition | G_IO_ERR | G_IO_HUP,
                                          op_cancellable (op));
  g_source_set_callback (op->io_source, (GSourceFunc) (void (*) (void)) func, op, NULL);
  g_source_attach (op->io_source, op->self->context);
}

static gboolean
op_timeout_cb (gpointer data)
{
  Op *op = data;
  NbWgUapi *self = op->self;

  source_clear (&op->timeout_source);
  op_fail_and_continue (op, g_error_new (NB_WG_ERROR, NB_WG_ERROR_TIMED_OUT,
                                         "%s: no complete answer to the %s request within %u ms",
                                         self->ifname, op->what, self->request_timeout_ms));
  return G_SOURCE_REMOVE;
}

static gboolean
op_retry_cb (gpointer data)
{
  Op *op = data;

  source_clear (&op->retry_source);
  if (!op_check_cancelled (op))
    op_connect (op);
  return G_SOURCE_REMOVE;
}

static void
op_connect_failed (Op           *op,
                   const GError *error)
{
  NbWgUapi *self = op->self;

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND)
      || g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED))
    op_fail_and_continue (op, not_running_error (self, error->message));
  else
    op_fail_and_continue (op, g_error_new (NB_WG_ERROR, NB_WG_ERROR_IO,
                                           "%s: cannot connect to %s: %s",
                                           self->ifname, self->socket_path, error->message));
}

static gboolean
op_connected_cb (GSocket      *socket,
                 GIOCondition  condition,
                 gpointer      data)
{
  Op *op = data;
  g_autoptr(GError) error = NULL;

  source_clear (&op->io_source);
  if (op_check_cancelled (op))
    return G_SOURCE_REMOVE;
  if (!g_socket_check_connect_result (socket, &error))
    op_connect_failed (op, error);
  else
    op_send (op);
  return G_SOURCE_REMOVE;
}

static void
op_connect (Op *op)
{
  NbWgUapi *self = op->self;
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocketAddress) address = NULL;

  if (op->socket != NULL)
    {
      g_socket_close (op->socket, NULL);
      g_clear_object (&op->socket);
    }
  op->socket = g_socket_new (G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM,
                             G_SOCKET_PROTOCOL_DEFAULT, &error);
  if (op->socket == NULL)
    {
      op_fail_and_continue (op, g_error_new (NB_WG_ERROR, NB_WG_ERROR_IO,
                                             "%s: cannot create a socket: %s",
                                             self->ifname, error->message));
      return;
    }
  g_socket_set_blocking (op->socket, FALSE);
  address = g_unix_socket_address_new (self->socket_path);
  if (g_socket_connect (op->socket, address, NULL, &error))
    {
      op_send (op);
      return;
    }
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_PENDING))
    op_watch (op, G_IO_OUT, op_connected_cb);
  else if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
    /* EAGAIN on a unix socket: the listen backlog is full. Retry shortly
     * (within the request timeout). */
    op->retry_source = attach_timeout (self->context, CONNECT_RETRY_MS, op_retry_cb, op, NULL);
  else
    op_connect_failed (op, error);
}

static gboolean
op_writable_cb (GSocket      *socket,
                GIOCondition  condition,
                gpointer      data)
{
  Op *op = data;

  source_clear (&op->io_source);
  if (!op_check_cancelled (op))
    op_send (op);
  return G_SOURCE_REMOVE;
}

static void
op_send (Op *op)
{
  g_autoptr(GError) error = NULL;

  while (op->written < op->request->len)
    {
      gssize n = g_socket_send (op->socket, op->request->data + op->written,
                                op->request->len - op->written, NULL, &error);

      if (n < 0)
        {
          if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
            {
              op_watch (op, G_IO_OUT, op_writable_cb);
              return;
            }
          /* The device may have answered (an error) and closed before
           * reading all of it; what it said is worth more than EPIPE. */
          op->send_error = g_steal_pointer (&error);
          break;
        }
      op->written += n;
    }

  /* Sent (or given up): the request text, secrets included, goes now. */
  g_clear_pointer (&op->request, nb_wg_uapi_buf_free);
  op->response = nb_wg_uapi_buf_new (512);
  op_receive (op);
}

static gboolean
op_readable_cb (GSocket      *socket,
                GIOCondition  condition,
                gpointer      data)
{
  Op *op = data;

  source_clear (&op->io_source);
  if (!op_check_cancelled (op))
    op_receive (op);
  return G_SOURCE_REMOVE;
}

/* Whether the answer is complete; scans only what arrived since the last
 * call (an empty line may straddle two reads). */
static gboolean
op_answer_complete (Op *op)
{
  const NbWgUapiBuf *r = op->response;
  gsize i;

  if (r->len > 0 && r->data[0] == '\n')
    return TRUE;
  for (i = op->scan_from > 0 ? op->scan_from - 1 : 0; i + 1 < r->len; i++)
    if (r->data[i] == '\n' && r->data[i + 1] == '\n')
      return TRUE;
  op->scan_from = r->len;
  return FALSE;
}

static void
op_answered (Op *op)
{
  g_autoptr(NbWgUapi) self = g_object_ref (op->self);
  GError *error = NULL;
  NbWgStats *stats = NULL;

  /* Done with the connection: wireguard-go sees EOF and ends it. */
  g_socket_close (op->socket, NULL);
  if (op->kind == OP_GET)
    stats = nb_wg_uapi_parse_get_response (op->response->data, op->response->len, &error);
  else
    nb_wg_uapi_parse_set_response (op->response->data, op->response->len, &error);
  if (error != NULL)
    g_prefix_error (&error, "%s: %s: ", self->ifname, op->what);
  op_finish (op, error, stats);
  process_queue (self);
}

static void
op_receive (Op *op)
{
  NbWgUapi *self = op->self;
  g_autoptr(GError) error = NULL;

  for (;;)
    {
      char *dest = nb_wg_uapi_buf_reserve (op->response, RECV_CHUNK);
      gssize n = g_socket_receive (op->socket, dest, RECV_CHUNK, NULL, &error);

      if (n < 0 && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
        {
          if (op->send_error != NULL)
            break;   /* nothing was answered before the close */
          op_watch (op, G_IO_IN, op_readable_cb);
          return;
        }
      if (n < 0)
        {
          op_fail_and_continue (op, g_error_new (NB_WG_ERROR, NB_WG_ERROR_IO,
                                                 "%s: %s: reading the answer failed: %s",
                                                 self->ifname, op->what, error->message));
          return;
        }
      if (n == 0)
        break;   /* EOF */
      nb_wg_uapi_buf_commit (op->response, n);
      if (op_answer_complete (op))
        {
          op_answered (op);
          return;
        }
      if (op->response->len > NB_WG_UAPI_MAX_RESPONSE)
        {
          op_fail_and_continue (op, g_error_new (NB_WG_ERROR, NB_WG_ERROR_PROTOCOL,
                                                 "%s: %s: the answer exceeds %u bytes",
                                                 self->ifname, op->what,
                                                 NB_WG_UAPI_MAX_RESPONSE));
          return;
        }
    }

  /* The device closed the connection before a complete answer. */
  if (op->response->len == 0)
    op_fail_and_continue (op, g_error_new (NB_WG_ERROR, NB_WG_ERROR_PROTOCOL,
                                           "%s: %s: the device closed the connection "
                                           "without answering%s%s",
                                           self->ifname, op->what,
                                           op->send_error ? ": " : "",
                                           op->send_error ? op->send_error->message : ""));
  else
    op_answered (op);   /* the parser names what is missing */
}

static void
op_begin (Op *op)
{
  NbWgUapi *self = op->self;

  g_debug ("%s: %s request (%" G_GSIZE_FORMAT " bytes)", self->ifname, op->what, op->request->len);
  op->timeout_source = attach_timeout (self->context, self->request_timeout_ms,
                                       op_timeout_cb, op, NULL);
  op_connect (op);
}

static void
process_queue (NbWgUapi *self)
{
  while (self->current == NULL && !g_queue_is_empty (&self->queue))
    {
      Op *op = g_queue_peek_head (&self->queue);
      GError *error = NULL;

      if (g_cancellable_set_error_if_cancelled (op_cancellable (op), &error)
          || (self->death != NULL
              && (error = not_running_error (self, NULL)) != NULL))
        {
          op_finish (op, error, NULL);
          continue;
        }
      g_queue_pop_head (&self->queue);
      source_clear (&op->cancel_source);
      self->current = op;
      op_begin (op);
    }
}

static gboolean
kick_cb (gpointer data)
{
  NbWgUapi *self = data;
  g_autoptr(NbWgUapi) keep = g_object_ref (self);

  source_clear (&self->kick_source);
  process_queue (self);
  return G_SOURCE_REMOVE;
}

static gboolean
op_queued_cancelled_cb (GCancellable *cancellable,
                        gpointer      data)
{
  Op *op = data;
  g_autoptr(NbWgUapi) self = g_object_ref (op->self);
  GError *error = NULL;

  source_clear (&op->cancel_source);
  g_cancellable_set_error_if_cancelled (cancellable, &error);
  op_finish (op, error, NULL);
  return G_SOURCE_REMOVE;
}

/* Queues a request (or fails its task now, delivered from an idle, when
 * @request is NULL: @format_error says why). */
static void
enqueue (NbWgUapi            *self,
         OpKind               kind,
         const char          *what,
         NbWgUapiBuf         *request,
         GError              *format_error,
         GCancellable        *cancellable,
         GAsyncReadyCallback  callback,
         gpointer             user_data,
         gpointer             source_tag)
{
  GTask *task = g_task_new (self, cancellable, callback, user_data);
  Op *op;

  g_task_set_source_tag (task, source_tag);
  if (request == NULL)
    {
      /* Created in this same iteration: GTask delivers from an idle. */
      g_prefix_error (&format_error, "%s: %s: ", self->ifname, what);
      g_task_return_error (task, format_error);
      g_object_unref (task);
      return;
    }

  op = g_new0 (Op, 1);
  op->self = self;
  op->task = task;
  op->kind = kind;
  op->what = what;
  op->request = request;
  g_queue_push_tail (&self->queue, op);
  if (cancellable != NULL)
    {
      op->cancel_source = g_cancellable_source_new (cancellable);
      g_source_set_callback (op->cancel_source,
                             (GSourceFunc) (void (*) (void)) op_queued_cancelled_cb, op, NULL);
      g_source_attach (op->cancel_source, self->context);
    }
  /* Never start (or fail) requests from inside the caller's call. */
  if (self->kick_source == NULL)
    {
      self->kick_source = g_idle_source_new ();
      g_source_set_callback (self->kick_source, kick_cb, self, NULL);
      g_source_attach (self->kick_source, self->context);
    }
}

/* ------------------------------------------------------------------------ */
/* The backend operations */

void
nb_wg_uapi_set_device_async (NbWgUapi            *self,
                             const NbWgKey       *private_key,
                             int                  listen_port,
                             GCancellable        *cancellable,
                             GAsyncReadyCallback  callback,
                             gpointer             user_data)
{
  GError *error = NULL;
  NbWgUapiBuf *request;

  g_return_if_fail (NB_IS_WG_UAPI (self));

  request = nb_wg_uapi_format_set_device (private_key, listen_port, &error);
  enqueue (self, OP_SET, "set device", request, error, cancellable, callback, user_data,
           nb_wg_uapi_set_device_async);
}

gboolean
nb_wg_uapi_set_device_finish (NbWgUapi     *self,
                              GAsyncResult *result,
                              GError      **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

void
nb_wg_uapi_set_peer_async (NbWgUapi             *self,
                           const NbWgPeerConfig *peer,
                           GCancellable         *cancellable,
                           GAsyncReadyCallback   callback,
                           gpointer              user_data)
{
  GError *error = NULL;
  NbWgUapiBuf *request;

  g_return_if_fail (NB_IS_WG_UAPI (self));
  g_return_if_fail (peer != NULL);

  request = nb_wg_uapi_format_set_peer (peer, &error);
  enqueue (self, OP_SET, "set peer", request, error, cancellable, callback, user_data,
           nb_wg_uapi_set_peer_async);
}

gboolean
nb_wg_uapi_set_peer_finish (NbWgUapi     *self,
                            GAsyncResult *result,
                            GError      **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

void
nb_wg_uapi_remove_peer_async (NbWgUapi            *self,
                              const NbWgKey       *public_key,
                              GCancellable        *cancellable,
                              GAsyncReadyCallback  callback,
                              gpointer             user_data)
{
  g_return_if_fail (NB_IS_WG_UAPI (self));
  g_return_if_fail (public_key != NULL);

  enqueue (self, OP_SET, "remove peer", nb_wg_uapi_format_remove_peer (public_key), NULL,
           cancellable, callback, user_data, nb_wg_uapi_remove_peer_async);
}

gboolean
nb_wg_uapi_remove_peer_finish (NbWgUapi     *self,
                               GAsyncResult *result,
                               GError      **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

void
nb_wg_uapi_get_stats_async (NbWgUapi            *self,
                            GCancellable        *cancellable,
                            GAsyncReadyCallback  callback,
                            gpointer             user_data)
{
  g_return_if_fail (NB_IS_WG_UAPI (self));

  enqueue (self, OP_GET, "get", nb_wg_uapi_format_get (), NULL,
           cancellable, callback, user_data, nb_wg_uapi_get_stats_async);
}

NbWgStats *
nb_wg_uapi_get_stats_finish (NbWgUapi     *self,
                             GAsyncResult *result,
                             GError      **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

/* NbWgBackend */

static const char *
backend_get_interface_name (NbWgBackend *backend)
{
  return NB_WG_UAPI (backend)->ifname;
}

static void
backend_set_device (NbWgBackend         *backend,
                    const NbWgKey       *private_key,
                    int                  listen_port,
                    GCancellable        *cancellable,
                    GAsyncReadyCallback  callback,
                    gpointer             user_data)
{
  nb_wg_uapi_set_device_async (NB_WG_UAPI (backend), private_key, listen_port,
                               cancellable, callback, user_data);
}

static gboolean
backend_set_device_finish (NbWgBackend  *backend,
                           GAsyncResult *result,
                           GError      **error)
{
  return nb_wg_uapi_set_device_finish (NB_WG_UAPI (backend), result, error);
}

static void
backend_set_peer (NbWgBackend          *backend,
                  const NbWgPeerConfig *peer,
                  GCancellable         *cancellable,
                  GAsyncReadyCallback   callback,
                  gpointer              user_data)
{
  nb_wg_uapi_set_peer_async (NB_WG_UAPI (backend), peer, cancellable, callback, user_data);
}

static gboolean
backend_set_peer_finish (NbWgBackend  *backend,
                         GAsyncResult *result,
                         GError      **error)
{
  return nb_wg_uapi_set_peer_finish (NB_WG_UAPI (backend), result, error);
}

static void
backend_remove_peer (NbWgBackend         *backend,
                     const NbWgKey       *public_key,
                     GCancellable        *cancellable,
                     GAsyncReadyCallback  callback,
                     gpointer             user_data)
{
  nb_wg_uapi_remove_peer_async (NB_WG_UAPI (backend), public_key, cancellable,
                                callback, user_data);
}

static gboolean
backend_remove_peer_finish (NbWgBackend  *backend,
                            GAsyncResult *result,
                            GError      **error)
{
  return nb_wg_uapi_remove_peer_finish (NB_WG_UAPI (backend), result, error);
}

static void
backend_get_stats (NbWgBackend         *backend,
                   GCancellable        *cancellable,
                   GAsyncReadyCallback  callback,
                   gpointer             user_data)
{
  nb_wg_uapi_get_stats_async (NB_WG_UAPI (backend), cancellable, callback, user_data);
}

static NbWgStats *
backend_get_stats_finish (NbWgBackend  *backend,
                          GAsyncResult *result,
                          GError      **error)
{
  return nb_wg_uapi_get_stats_finish (NB_WG_UAPI (backend), result, error);
}

static NbWgBackendKind
backend_get_kind (NbWgBackend *backend)
{
  return NB_WG_BACKEND_KIND_USERSPACE;
}

static void
nb_wg_uapi_backend_init (NbWgBackendInterface *iface)
{
  iface->get_interface_name = backend_get_interface_name;
  iface->get_kind = backend_get_kind;
  iface->set_device = backend_set_device;
  iface->set_device_finish = backend_set_device_finish;
  iface->set_peer = backend_set_peer;
  iface->set_peer_finish = backend_set_peer_finish;
  iface->remove_peer = backend_remove_peer;
  iface->remove_peer_finish = backend_remove_peer_finish;
  iface->get_stats = backend_get_stats;
  iface->get_stats_finish = backend_get_stats_finish;
}

/* ------------------------------------------------------------------------ */
/* Process management */

typedef enum {
  PROBE_LIVE,     /* something accepts connections */
  PROBE_ABSENT,   /* no socket file */
  PROBE_STALE,    /* a socket file nobody listens on */
  PROBE_ERROR,
} Probe;

/* One non-blocking connect: never waits (a unix connect completes or
 * fails at once; EAGAIN means a full backlog, so someone listens). */
static Probe
probe_socket (NbWgUapi *self,
              GError  **error)
{
  g_autoptr(GSocket) socket = NULL;
  g_autoptr(GSocketAddress) address = NULL;
  g_autoptr(GError) local_error = NULL;
  Probe result;

  socket = g_socket_new (G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM,
                         G_SOCKET_PROTOCOL_DEFAULT, &local_error);
  if (socket == NULL)
    {
      g_propagate_error (error, g_steal_pointer (&local_error));
      return PROBE_ERROR;
    }
  g_socket_set_blocking (socket, FALSE);
  address = g_unix_socket_address_new (self->socket_path);
  if (g_socket_connect (socket, address, NULL, &local_error)
      || g_error_matches (local_error, G_IO_ERROR, G_IO_ERROR_PENDING)
      || g_error_matches (local_error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
    result = PROBE_LIVE;
  else if (g_error_matches (local_error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND))
    result = PROBE_ABSENT;
  else if (g_error_matches (local_error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED))
    result = PROBE_STALE;
  else
    {
      g_propagate_error (error, g_steal_pointer (&local_error));
      result = PROBE_ERROR;
    }
  g_socket_close (socket, NULL);
  return result;
}

static void
start_finish (NbWgUapi *self,
              GError   *error)
{
  GTask *task = g_steal_pointer (&self->start_task);

  source_clear (&self->start_poll_source);
  source_clear (&self->start_timeout_source);
  source_clear (&self->start_cancel_source);
  if (task == NULL)
    {
      g_clear_error (&error);
      return;
    }
  if (error != NULL)
    g_task_return_error (task, error);
  else
    g_task_return_boolean (task, TRUE);
  g_object_unref (task);
}

static gboolean
start_poll_cb (gpointer data)
{
  g_autoptr(NbWgUapi) self = g_object_ref (data);
  g_autoptr(GError) error = NULL;

  if (probe_socket (self, &error) != PROBE_LIVE)
    {
      if (error != NULL)
        g_debug ("%s: waiting for %s: %s", self->ifname, self->socket_path, error->message);
      return G_SOURCE_CONTINUE;
    }
  g_debug ("%s: wireguard-go (pid %d) is ready", self->ifname, (int) self->proc->pid);
  start_finish (self, NULL);
  return G_SOURCE_REMOVE;
}

static gboolean
start_timeout_cb (gpointer data)
{
  g_autoptr(NbWgUapi) self = g_object_ref (data);

  source_clear (&self->start_timeout_source);
  if (self->proc != NULL)
    proc_stop (self->proc, self->stop_timeout_ms);
  start_finish (self, g_error_new (NB_WG_ERROR, NB_WG_ERROR_TIMED_OUT,
                                   "%s: wireguard-go's UAPI socket %s did not appear within %u ms",
                                   self->ifname, self->socket_path, self->start_timeout_ms));
  return G_SOURCE_REMOVE;
}

static gboolean
start_cancelled_cb (GCancellable *cancellable,
                    gpointer      data)
{
  g_autoptr(NbWgUapi) self = g_object_ref (data);
  GError *error = NULL;

  source_clear (&self->start_cancel_source);
  if (self->proc != NULL)
    proc_stop (self->proc, self->stop_timeout_ms);
  g_cancellable_set_error_if_cancelled (cancellable, &error);
  start_finish (self, error);
  return G_SOURCE_REMOVE;
}

/* nb_wg_uapi_stop_async() during a start. */
static gboolean
start_stopped_cb (gpointer data)
{
  g_autoptr(NbWgUapi) self = g_object_ref (data);

  source_clear (&self->start_poll_source);
  start_finish (self, g_error_new (G_IO_ERROR, G_IO_ERROR_CANCELLED,
                                   "%s: stopped before wireguard-go was ready", self->ifname));
  return G_SOURCE_REMOVE;
}

/* Called by the WgProc of ours when it has exited. */
static void
uapi_proc_exited (NbWgUapi *self,
                  WgProc   *proc)
{
  g_autoptr(NbWgUapi) keep = g_object_ref (self);
  g_autoptr(WgProc) gone = NULL;

  if (self->proc != proc)
    return;
  gone = g_steal_pointer (&self->proc);
  gone->owner = NULL;

  if (self->start_task != NULL)
    {
      if (gone->stopping)   /* nb_wg_uapi_stop_async() during the start */
        start_finish (self, g_error_new (G_IO_ERROR, G_IO_ERROR_CANCELLED,
                                         "%s: stopped before wireguard-go was ready",
                                         self->ifname));
      else
        start_finish (self, g_error_new (NB_WG_ERROR, NB_WG_ERROR_SPAWN,
                                         "%s: wireguard-go %s before its UAPI socket appeared",
                                         self->ifname, gone->exit_text));
      return;
    }
  if (gone->stopping)
    return;

  g_clear_error (&self->death);
  self->death = g_error_new (NB_WG_ERROR, NB_WG_ERROR_DIED,
                             "%s: wireguard-go (pid %d) died: %s",
                             self->ifname, (int) gone->pid, gone->exit_text);
  g_signal_emit (self, signals[SIGNAL_DIED], 0, self->death);
}

void
nb_wg_uapi_start_async (NbWgUapi            *self,
                        GCancellable        *cancellable,
                        GAsyncReadyCallback  callback,
                        gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GSubprocess) subprocess = NULL;
  g_autoptr(GError) error = NULL;
  WgProc *proc;
  const char *argv[4];

  g_return_if_fail (NB_IS_WG_UAPI (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, nb_wg_uapi_start_async);

  if (self->start_task != NULL || self->proc != NULL)
    {
      g_task_return_new_error (task, NB_WG_ERROR, NB_WG_ERROR_EXISTS,
                               "%s: wireguard-go was already started", self->ifname);
      return;
    }
  switch (probe_socket (self, &error))
    {
    case PROBE_LIVE:
      g_task_return_new_error (task, NB_WG_ERROR, NB_WG_ERROR_EXISTS,
                               "%s: a WireGuard device already serves the interface (%s)",
                               self->ifname, self->socket_path);
      return;
    case PROBE_STALE:
      /* Left by a wireguard-go that was killed; the new one replaces it. */
      g_debug ("%s: stale UAPI socket %s", self->ifname, self->socket_path);
      break;
    case PROBE_ERROR:
      /* E.g. the directory does not exist yet: wireguard-go creates it. */
      g_debug ("%s: probing %s: %s", self->ifname, self->socket_path, error->message);
      g_clear_error (&error);
      break;
    case PROBE_ABSENT:
      break;
    }

  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE
                                        | G_SUBPROCESS_FLAGS_STDERR_MERGE);
  g_subprocess_launcher_setenv (launcher, "LOG_LEVEL", self->log_level, TRUE);
  /* These would make wireguard-go use inherited descriptors. */
  g_subprocess_launcher_unsetenv (launcher, "WG_TUN_FD");
  g_subprocess_launcher_unsetenv (launcher, "WG_UAPI_FD");
  g_subprocess_launcher_set_child_setup (launcher, child_setup,
                                         GINT_TO_POINTER ((int) getpid ()), NULL);
  /* The name was validated: it cannot start with '-' (lab F8). */
  argv[0] = self->program;
  argv[1] = "-f";
  argv[2] = self->ifname;
  argv[3] = NULL;
  subprocess = g_subprocess_launcher_spawnv (launcher, argv, &error);
  if (subprocess == NULL)
    {
      g_task_return_new_error (task, NB_WG_ERROR, NB_WG_ERROR_SPAWN,
                               "%s: cannot start %s: %s", self->ifname, self->program,
                               error->message);
      return;
    }

  proc = g_new0 (WgProc, 1);
  g_ref_count_init (&proc->ref);
  proc->context = g_main_context_ref (self->context);
  proc->subprocess = g_steal_pointer (&subprocess);
  proc->pid = (GPid) atoi (g_subprocess_get_identifier (proc->subprocess));
  proc->ifname = g_strdup (self->ifname);
  proc->owner = self;
  proc->stop_tasks = g_ptr_array_new ();
  proc->log = g_data_input_stream_new (g_subprocess_get_stdout_pipe (proc->subprocess));
  self->proc = proc;
  g_clear_error (&self->death);
  g_debug ("%s: started %s (pid %d)", self->ifname, self->program, (int) proc->pid);

  g_subprocess_wait_async (proc->subprocess, NULL, proc_wait_cb, proc_ref (proc));
  proc_read_log (proc);

  self->start_task = g_steal_pointer (&task);
  self->start_poll_source = attach_timeout (self->context, START_POLL_MS, start_poll_cb,
                                            self, NULL);
  self->start_timeout_source = attach_timeout (self->context, self->start_timeout_ms,
                                               start_timeout_cb, self, NULL);
  if (cancellable != NULL)
    {
      self->start_cancel_source = g_cancellable_source_new (cancellable);
      g_source_set_callback (self->start_cancel_source,
                             (GSourceFunc) (void (*) (void)) start_cancelled_cb, self, NULL);
      g_source_attach (self->start_cancel_source, self->context);
    }
}

gboolean
nb_wg_uapi_start_finish (NbWgUapi     *self,
                         GAsyncResult *result,
                         GError      **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

void
nb_wg_uapi_stop_async (NbWgUapi            *self,
                       GCancellable        *cancellable,
                       GAsyncReadyCallback  callback,
                       gpointer             user_data)
{
  GTask *task;

  g_return_if_fail (NB_IS_WG_UAPI (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, nb_wg_uapi_stop_async);
  if (self->proc == NULL)
    {
      g_task_return_boolean (task, TRUE);
      g_object_unref (task);
      return;
    }
  if (self->start_task != NULL)
    {
      /* Failed from an idle: not from inside this call. */
      source_clear (&self->start_poll_source);
      source_clear (&self->start_timeout_source);
      source_clear (&self->start_cancel_source);
      self->start_poll_source = g_idle_source_new ();
      g_source_set_callback (self->start_poll_source, start_stopped_cb, self, NULL);
      g_source_attach (self->start_poll_source, self->context);
    }
  g_ptr_array_add (self->proc->stop_tasks, task);
  proc_stop (self->proc, self->stop_timeout_ms);
}

gboolean
nb_wg_uapi_stop_finish (NbWgUapi     *self,
                        GAsyncResult *result,
                        GError      **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

GPid
nb_wg_uapi_get_pid (NbWgUapi *self)
{
  g_return_val_if_fail (NB_IS_WG_UAPI (self), 0);

  return self->proc != NULL && !self->proc->exited ? self->proc->pid : 0;
}

gboolean
nb_wg_uapi_is_running (NbWgUapi *self)
{
  return nb_wg_uapi_get_pid (self) != 0;
}

/* ------------------------------------------------------------------------ */
/* Construction and settings */

NbWgUapi *
nb_wg_uapi_new (const char *ifname,
                GError    **error)
{
  NbWgUapi *self;

  if (!nb_wg_interface_name_validate (ifname, error))
    return NULL;
  self = g_object_new (NB_TYPE_WG_UAPI, NULL);
  self->ifname = g_strdup (ifname);
  nb_wg_uapi_set_socket_dir (self, NB_WG_UAPI_DEFAULT_SOCKET_DIR);
  return self;
}

const char *
nb_wg_uapi_get_interface_name (NbWgUapi *self)
{
  g_return_val_if_fail (NB_IS_WG_UAPI (self), NULL);

  return self->ifname;
}

void
nb_wg_uapi_set_socket_dir (NbWgUapi   *self,
                           const char *dir)
{
  g_autofree char *name = NULL;

  g_return_if_fail (NB_IS_WG_UAPI (self));
  g_return_if_fail (dir != NULL && dir[0] != '\0');

  g_free (self->socket_dir);
  self->socket_dir = g_strdup (dir);
  name = g_strconcat (self->ifname, ".sock", NULL);
  g_free (self->socket_path);
  self->socket_path = g_build_filename (dir, name, NULL);
}

const char *
nb_wg_uapi_get_socket_path (NbWgUapi *self)
{
  g_return_val_if_fail (NB_IS_WG_UAPI (self), NULL);

  return self->socket_path;
}

void
nb_wg_uapi_set_program (NbWgUapi   *self,
                        const char *program)
{
  g_return_if_fail (NB_IS_WG_UAPI (self));
  g_return_if_fail (program != NULL && program[0] != '\0');

  g_free (self->program);
  self->program = g_strdup (program);
}

void
nb_wg_uapi_set_log_level (NbWgUapi   *self,
                          const char *log_level)
{
  g_return_if_fail (NB_IS_WG_UAPI (self));
  g_return_if_fail (log_level != NULL);

  g_free (self->log_level);
  self->log_level = g_strdup (log_level);
}

void
nb_wg_uapi_set_request_timeout (NbWgUapi *self,
                                guint     timeout_ms)
{
  g_return_if_fail (NB_IS_WG_UAPI (self));
  self->request_timeout_ms = MAX (timeout_ms, 1);
}

void
nb_wg_uapi_set_start_timeout (NbWgUapi *self,
                              guint     timeout_ms)
{
  g_return_if_fail (NB_IS_WG_UAPI (self));
  self->start_timeout_ms = MAX (timeout_ms, 1);
}

void
nb_wg_uapi_set_stop_timeout (NbWgUapi *self,
                             guint     timeout_ms)
{
  g_return_if_fail (NB_IS_WG_UAPI (self));
  self->stop_timeout_ms = MAX (timeout_ms, 1);
}

static void
nb_wg_uapi_dispose (GObject *object)
{
  NbWgUapi *self = NB_WG_UAPI (object);

  /* Queued requests and a pending start hold references on us, so they
   * are all done by now (unless g_object_run_dispose() was used). */
  source_clear (&self->kick_source);
  source_clear (&self->start_poll_source);
  source_clear (&self->start_timeout_source);
  source_clear (&self->start_cancel_source);
  if (self->proc != NULL)
    {
      WgProc *proc = g_steal_pointer (&self->proc);

      /* The process terminates and is reaped in the background. */
      proc->owner = NULL;
      proc_stop (proc, self->stop_timeout_ms);
      proc_unref (proc);
    }
  G_OBJECT_CLASS (nb_wg_uapi_parent_class)->dispose (object);
}

static void
nb_wg_uapi_finalize (GObject *object)
{
  NbWgUapi *self = NB_WG_UAPI (object);

  g_assert (self->current == NULL && g_queue_is_empty (&self->queue));
  g_clear_error (&self->death);
  g_main_context_unref (self->context);
  g_free (self->ifname);
  g_free (self->socket_dir);
  g_free (self->socket_path);
  g_free (self->program);
  g_free (self->log_level);
  G_OBJECT_CLASS (nb_wg_uapi_parent_class)->finalize (object);
}

static void
nb_wg_uapi_class_init (NbWgUapiClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = nb_wg_uapi_dispose;
  object_class->finalize = nb_wg_uapi_finalize;

  signals[SIGNAL_DIED] =
    g_signal_new ("died", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                  NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_ERROR);
}

static void
nb_wg_uapi_init (NbWgUapi *self)
{
  self->context = g_main_context_ref_thread_default ();
  g_queue_init (&self->queue);
  self->program = g_strdup (NB_WG_UAPI_DEFAULT_PROGRAM);
  self->log_level = g_strdup (NB_WG_UAPI_DEFAULT_LOG_LEVEL);
  self->request_timeout_ms = NB_WG_UAPI_DEFAULT_REQUEST_TIMEOUT_MS;
  self->start_timeout_ms = NB_WG_UAPI_DEFAULT_START_TIMEOUT_MS;
  self->stop_timeout_ms = NB_WG_UAPI_DEFAULT_STOP_TIMEOUT_MS;
}
