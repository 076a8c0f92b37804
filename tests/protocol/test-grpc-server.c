/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * NbGrpcServer (service/netbird/grpc-server.c), in-process, serving
 * tests/protocol/nbtest.proto's Echo service, driven by
 *   - our own client (NbGrpcChannel, in-process),
 *   - an independent client: grpc-js and node:http2 in
 *     tests/protocol/node/grpc-test-client.js,
 *   - raw sockets sending things that are not gRPC.
 * Loopback only.
 *
 * The node parts skip (the rest still runs) when node or
 * tests/protocol/node/node_modules is missing; the whole test exits 77 when
 * node_modules is missing (install with tools/install-npm.sh).
 */
#include "config.h"

#include <glib/gstdio.h>
#include <string.h>

#include "grpc.h"
#include "grpc-server.h"
#include "grpc-test-util.h"

#define WAIT_MS    15000 /* generous bound for anything that should happen */
#define ECHO       "/nbtest.Echo/"
#define SMALL_LIMIT (64 * 1024)

#define RUN_UNTIL(flag) g_assert_true (run_until (&(flag), WAIT_MS))

/* Iterates until *@counter >= @n (or WAIT_MS); asserts it got there. */
static void
wait_count (const guint *counter, guint n)
{
  gboolean timed_out = FALSE;
  GSource *timer = g_timeout_source_new (WAIT_MS);

  g_source_set_callback (timer, flag_set_cb, &timed_out, NULL);
  g_source_attach (timer, NULL);
  while (*counter < n && !timed_out)
    g_main_context_iteration (NULL, TRUE);
  g_source_destroy (timer);
  g_source_unref (timer);
  g_assert_cmpuint (*counter, >=, n);
}

/* ------------------------------------------------------------------------ */
/* nbtest.Msg decoding (encoding: grpc-test-util.c) */

/* A decoded request; a malformed one decodes as far as it goes and sets
 * @valid FALSE (the handlers answer INVALID_ARGUMENT). */
typedef struct {
  gboolean valid;
  GBytes *data;
  guint32 response_size;
  gint32 status;
  char *message;
  guint32 count;
  guint32 delay_ms;
} MsgIn;

static void
msg_in_clear (MsgIn *m)
{
  g_clear_pointer (&m->data, g_bytes_unref);
  g_clear_pointer (&m->message, g_free);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (MsgIn, msg_in_clear)

static gboolean
get_varint (const guint8 **p, const guint8 *end, guint64 *out)
{
  guint64 v = 0;

  for (int shift = 0; shift < 64; shift += 7)
    {
      guint8 b;

      if (*p >= end)
        return FALSE;
      b = *(*p)++;
      v |= (guint64) (b & 0x7f) << shift;
      if (!(b & 0x80))
        {
          *out = v;
          return TRUE;
        }
    }
  return FALSE;
}

static void
msg_decode (GBytes *encoded, MsgIn *m)
{
  gsize len;
  const guint8 *p = g_bytes_get_data (encoded, &len);
  const guint8 *end = p + len;

  memset (m, 0, sizeof *m);
  m->valid = TRUE;
  while (p < end)
    {
      guint64 key, v;

      if (!get_varint (&p, end, &key))
        goto bad;
      if ((key & 7) == 2)
        {
          if (!get_varint (&p, end, &v) || v > (guint64) (end - p))
            goto bad;
          if ((key >> 3) == 1)
            {
              g_clear_pointer (&m->data, g_bytes_unref);
              m->data = g_bytes_new (p, v);
            }
          else if ((key >> 3) == 4)
            {
              g_free (m->message);
              m->message = g_strndup ((const char *) p, v);
            }
          p += v;
        }
      else if ((key & 7) == 0)
        {
          if (!get_varint (&p, end, &v))
            goto bad;
          switch (key >> 3)
            {
            case 2: m->response_size = (guint32) v; break;
            case 3: m->status = (gint32) v; break;
            case 5: m->count = (guint32) v; break;
            case 6: m->delay_ms = (guint32) v; break;
            default: break;
            }
        }
      else
        goto bad;
    }
  if (m->data == NULL)
    m->data = g_bytes_new (NULL, 0);
  return;
bad:
  m->valid = FALSE;
  if (m->data == NULL)
    m->data = g_bytes_new (NULL, 0);
}

static char *
msg_data_string (GBytes *encoded)
{
  g_auto (MsgIn) m;
  gsize len;
  const char *p;

  msg_decode (encoded, &m);
  g_assert_true (m.valid);
  p = g_bytes_get_data (m.data, &len);
  return g_strndup (p ? p : "", len);
}

/* ------------------------------------------------------------------------ */
/* The Echo service on NbGrpcServer */

typedef struct {
  guint cancelled[NB_GRPC_STATUS_MAX + 1]; /* "cancelled" by reason code */
  guint cancelled_total;
  guint half_closed;
  guint bidi_started;
  guint slow_started;
  gint64 slow_deadline;           /* of the last Slow call */
  char *last_peer;
  guint drained;                  /* "drained" signals in ServerStream */
  guint stream_finished;
  guint reply_after_end_ignored;  /* reply() on an ended call was a no-op */
} ServiceState;

static ServiceState svc;
static NbGrpcServer *server;      /* the shared h2c server */
static char *node_dir;
static char *node_bin;            /* NULL: node tests skip */

static void
service_reset (void)
{
  g_free (svc.last_peer);
  memset (&svc, 0, sizeof svc);
}

static void
on_cancelled (NbGrpcServerCall *call, const GError *reason, gpointer data)
{
  g_assert_nonnull (reason);
  g_assert_true (reason->domain == NB_GRPC_ERROR);
  g_assert_cmpint (reason->code, >, 0);
  g_assert_cmpint (reason->code, <=, NB_GRPC_STATUS_MAX);
  g_assert_false (nb_grpc_server_call_is_active (call));
  g_assert_true (nb_grpc_server_call_is_cancelled (call));
  g_test_message ("server call %s cancelled: %s", nb_grpc_server_call_get_path (call), reason->message);
  svc.cancelled[reason->code]++;
  svc.cancelled_total++;
}

/* Response headers: the request's x-* metadata, plus @extra (key, value, …, NULL). */
static GHashTable *
echo_headers (NbGrpcServerCall *call, ...)
{
  GHashTable *headers = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  GHashTableIter iter;
  gpointer key, value;
  const char *k;
  va_list ap;

  g_hash_table_iter_init (&iter, nb_grpc_server_call_get_metadata (call));
  while (g_hash_table_iter_next (&iter, &key, &value))
    if (g_str_has_prefix (key, "x-"))
      g_hash_table_insert (headers, g_strdup (key), g_strdup (value));
  va_start (ap, call);
  while ((k = va_arg (ap, const char *)) != NULL)
    g_hash_table_insert (headers, g_strdup (k), g_strdup (va_arg (ap, const char *)));
  va_end (ap);
  return headers;
}

static void
handle_unary (NbGrpcServerCall *call, GBytes *request, gpointer data)
{
  g_auto (MsgIn) m;
  g_autoptr (GHashTable) headers = NULL;
  g_autoptr (GBytes) response = NULL;

  g_assert_nonnull (request);
  g_assert_true (nb_grpc_server_call_is_active (call));
  g_assert_cmpint (nb_grpc_server_call_get_method_type (call), ==, NB_GRPC_METHOD_UNARY);
  g_free (svc.last_peer);
  svc.last_peer = g_strdup (nb_grpc_server_call_get_peer (call));
  msg_decode (request, &m);
  if (!m.valid)
    {
      nb_grpc_server_call_fail (call, NB_GRPC_STATUS_INVALID_ARGUMENT, "cannot parse Msg");
      return;
    }
  headers = echo_headers (call, "x-served-by", "nb-grpc-server", NULL);
  nb_grpc_server_call_send_headers (call, headers);
  nb_grpc_server_call_set_trailer (call, "x-trailer", "done");
  if (m.response_size > 0)
    {
      guint8 *big = g_malloc (m.response_size);
      GByteArray *out = g_byte_array_new ();

      memset (big, 'a', m.response_size);
      put_len_field (out, 1, big, m.response_size);
      g_free (big);
      response = g_byte_array_free_to_bytes (out);
    }
  else if (g_bytes_get_size (m.data) > 0)
    response = g_bytes_ref (request);
  else
    response = g_bytes_new (NULL, 0); /* an empty Msg */
  nb_grpc_server_call_reply (call, response);
  g_assert_false (nb_grpc_server_call_is_active (call));
}

/* ServerStream: a producer that respects backpressure. */
typedef struct {
  NbGrpcServerCall *call;
  guint next;
  guint count;
} Producer;

static void
producer_free (gpointer data, GClosure *closure)
{
  Producer *p = data;

  g_object_unref (p->call);
  g_free (p);
}

static void
producer_run (NbGrpcServerCall *call, gpointer data)
{
  Producer *p = data;

  g_assert_true (call == p->call);
  while (p->next < p->count && nb_grpc_server_call_get_send_queue_size (call) < 64 * 1024)
    {
      g_autofree char *text = g_strdup_printf ("msg-%u", p->next++);
      g_autoptr (GBytes) m = msg_with_data (text);

      nb_grpc_server_call_send (call, m);
    }
  if (p->next == p->count)
    {
      nb_grpc_server_call_finish (call, NB_GRPC_STATUS_OK, NULL);
      svc.stream_finished++;
    }
}

static void
producer_on_drained (NbGrpcServerCall *call, gpointer data)
{
  svc.drained++;
  producer_run (call, data);
}

static void
handle_server_stream (NbGrpcServerCall *call, GBytes *request, gpointer data)
{
  g_auto (MsgIn) m;
  g_autoptr (GHashTable) headers = echo_headers (call, NULL);
  Producer *p;

  msg_decode (request, &m);
  nb_grpc_server_call_send_headers (call, headers);
  p = g_new0 (Producer, 1);
  p->call = g_object_ref (call);
  p->count = m.count;
  /* The producer lives as long as the call's signal handlers. */
  g_signal_connect_data (call, "drained", G_CALLBACK (producer_on_drained), p, producer_free, 0);
  g_signal_connect (call, "cancelled", G_CALLBACK (on_cancelled), NULL);
  producer_run (call, p);
}

static void
bidi_on_message (NbGrpcServerCall *call, GBytes *message, gpointer data)
{
  g_autofree char *text = msg_data_string (message);

  g_assert_true (nb_grpc_server_call_is_active (call));
  if (strcmp (text, "close") == 0)
    nb_grpc_server_call_finish (call, NB_GRPC_STATUS_OK, NULL); /* while the client still sends */
  else
    nb_grpc_server_call_send (call, message);
}

static void
bidi_on_half_closed (NbGrpcServerCall *call, gpointer data)
{
  svc.half_closed++;
  nb_grpc_server_call_finish (call, NB_GRPC_STATUS_OK, NULL);
}

static void
handle_bidi (NbGrpcServerCall *call, GBytes *request, gpointer data)
{
  g_autoptr (GHashTable) headers = NULL;

  g_assert_null (request);
  svc.bidi_started++;
  /* Like the signal server: registered once the stream is set up. */
  if (nb_grpc_server_call_get_metadata_value (call, "x-wiretrustee-peer-id"))
    headers = echo_headers (call, "x-bidi-ready", "1", "x-wiretrustee-peer-registered", "1", NULL);
  else
    headers = echo_headers (call, "x-bidi-ready", "1", NULL);
  nb_grpc_server_call_send_headers (call, headers);
  g_signal_connect (call, "message", G_CALLBACK (bidi_on_message), NULL);
  g_signal_connect (call, "half-closed", G_CALLBACK (bidi_on_half_closed), NULL);
  g_signal_connect (call, "cancelled", G_CALLBACK (on_cancelled), NULL);
}

static void
handle_fail (NbGrpcServerCall *call, GBytes *request, gpointer data)
{
  g_auto (MsgIn) m;

  msg_decode (request, &m);
  if (m.status <= 0 || m.status > NB_GRPC_STATUS_MAX)
    nb_grpc_server_call_fail (call, NB_GRPC_STATUS_INVALID_ARGUMENT, "status out of range");
  else if (m.message == NULL)
    nb_grpc_server_call_fail (call, m.status, NULL);
  else
    {
      g_autoptr (GError) error = g_error_new_literal (NB_GRPC_ERROR, m.status, m.message);

      nb_grpc_server_call_fail_error (call, error);
    }
}

/* Slow: answers after delay_ms, asynchronously. */
typedef struct {
  NbGrpcServerCall *call;
  GBytes *data;
  guint timer;
  gulong cancelled_id;
} SlowCall;

static void
slow_free (SlowCall *s)
{
  g_clear_signal_handler (&s->cancelled_id, s->call);
  g_clear_handle_id (&s->timer, g_source_remove);
  g_object_unref (s->call);
  g_bytes_unref (s->data);
  g_free (s);
}

static gboolean
slow_timer_cb (gpointer data)
{
  SlowCall *s = data;
  Msg m = { .data = g_bytes_get_data (s->data, NULL), .data_len = g_bytes_get_size (s->data) };
  g_autoptr (GBytes) response = msg_encode (&m);

  s->timer = 0;
  nb_grpc_server_call_reply (s->call, response);
  slow_free (s);
  return G_SOURCE_REMOVE;
}

static void
slow_on_cancelled (NbGrpcServerCall *call, const GError *reason, gpointer data)
{
  SlowCall *s = data;
  g_autoptr (GBytes) late = msg_with_data ("too late");

  on_cancelled (call, reason, NULL);
  /* Answering an ended call is a harmless no-op. */
  nb_grpc_server_call_reply (call, late);
  nb_grpc_server_call_send (call, late);
  nb_grpc_server_call_finish (call, NB_GRPC_STATUS_OK, NULL);
  g_assert_cmpuint (nb_grpc_server_call_get_send_queue_size (call), ==, 0);
  svc.reply_after_end_ignored++;
  slow_free (s);
}

static void
handle_slow (NbGrpcServerCall *call, GBytes *request, gpointer data)
{
  g_auto (MsgIn) m;
  SlowCall *s = g_new0 (SlowCall, 1);

  msg_decode (request, &m);
  svc.slow_started++;
  svc.slow_deadline = nb_grpc_server_call_get_deadline (call);
  s->call = g_object_ref (call);
  s->data = g_bytes_ref (m.data);
  s->timer = g_timeout_add (m.delay_ms, slow_timer_cb, s);
  s->cancelled_id = g_signal_connect (call, "cancelled", G_CALLBACK (slow_on_cancelled), s);
}

static void
add_echo_service (NbGrpcServer *srv)
{
  nb_grpc_server_add_method (srv, ECHO "Unary", NB_GRPC_METHOD_UNARY, handle_unary, NULL, NULL);
  nb_grpc_server_add_method (srv, ECHO "ServerStream", NB_GRPC_METHOD_SERVER_STREAMING,
                             handle_server_stream, NULL, NULL);
  nb_grpc_server_add_method (srv, ECHO "Bidi", NB_GRPC_METHOD_BIDI_STREAMING, handle_bidi, NULL, NULL);
  nb_grpc_server_add_method (srv, ECHO "Fail", NB_GRPC_METHOD_UNARY, handle_fail, NULL, NULL);
  nb_grpc_server_add_method (srv, ECHO "Slow", NB_GRPC_METHOD_UNARY, handle_slow, NULL, NULL);
}

static NbGrpcServer *
server_new_listening (GTlsCertificate *cert)
{
  g_autoptr (GError) error = NULL;
  NbGrpcServer *srv = nb_grpc_server_new (cert);

  add_echo_service (srv);
  g_assert_true (nb_grpc_server_listen (srv, "127.0.0.1", 0, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (nb_grpc_server_get_port (srv), >, 0);
  return srv;
}

/* ------------------------------------------------------------------------ */
/* Client helpers (NbGrpcChannel) */

static NbGrpcChannel *
channel_for (const char *scheme, guint16 port)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *target = g_strdup_printf ("%s://127.0.0.1:%u", scheme, port);
  NbGrpcChannel *channel = nb_grpc_channel_new (target, &error);

  g_assert_no_error (error);
  return channel;
}

typedef struct {
  GBytes *response;
  GError *error;
  gboolean done;
} UnaryResult;

static void
unary_done_cb (GObject *source, GAsyncResult *result, gpointer data)
{
  UnaryResult *r = data;

  r->response = nb_grpc_channel_call_finish (NB_GRPC_CHANNEL (source), result, &r->error);
  g_assert_true ((r->response == NULL) != (r->error == NULL));
  r->done = TRUE;
}

static GBytes *
unary (NbGrpcChannel *channel, const char *path, GBytes *request, GHashTable *metadata,
       guint deadline_ms, GError **error)
{
  UnaryResult r = { 0 };

  nb_grpc_channel_call_async (channel, path, request, metadata, deadline_ms, NULL, unary_done_cb, &r);
  RUN_UNTIL (r.done);
  if (r.error)
    g_propagate_error (error, r.error);
  return r.response;
}

static void
assert_unary_echo (NbGrpcChannel *channel, const char *text)
{
  g_autoptr (GBytes) req = msg_with_data (text);
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) resp = unary (channel, ECHO "Unary", req, NULL, 5000, &error);
  g_autofree char *got = NULL;

  g_assert_no_error (error);
  got = msg_data_string (resp);
  g_assert_cmpstr (got, ==, text);
}

/* A fresh channel to the shared server, one echo. */
static void
assert_server_serves (guint16 port)
{
  g_autoptr (NbGrpcChannel) channel = channel_for ("http", port);

  assert_unary_echo (channel, "next client");
}

typedef struct {
  NbGrpcCall *call;
  GHashTable *headers;
  guint headers_count;
  GPtrArray *messages;
  guint messages_before_headers;
  gboolean closed;
  GError *error;
  gboolean saw_headers;
} Collector;

static void
collector_on_headers (NbGrpcCall *call, GHashTable *headers, gpointer data)
{
  Collector *c = data;

  c->headers_count++;
  g_clear_pointer (&c->headers, g_hash_table_unref);
  c->headers = g_hash_table_ref (headers);
  c->saw_headers = TRUE;
}

static void
collector_on_message (NbGrpcCall *call, GBytes *message, gpointer data)
{
  Collector *c = data;

  if (c->headers_count == 0)
    c->messages_before_headers++;
  g_ptr_array_add (c->messages, g_bytes_ref (message));
}

static void
collector_on_closed (NbGrpcCall *call, const GError *error, gpointer data)
{
  Collector *c = data;

  g_assert_false (c->closed);
  c->closed = TRUE;
  c->error = error ? g_error_copy (error) : NULL;
}

static Collector *
collector_new (NbGrpcCall *call)
{
  Collector *c = g_new0 (Collector, 1);

  c->call = call;
  c->messages = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  g_signal_connect (call, "headers", G_CALLBACK (collector_on_headers), c);
  g_signal_connect (call, "message", G_CALLBACK (collector_on_message), c);
  g_signal_connect (call, "closed", G_CALLBACK (collector_on_closed), c);
  return c;
}

static void
collector_free (Collector *c)
{
  g_signal_handlers_disconnect_by_data (c->call, c);
  g_object_unref (c->call);
  g_clear_pointer (&c->headers, g_hash_table_unref);
  g_ptr_array_unref (c->messages);
  g_clear_error (&c->error);
  g_free (c);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Collector, collector_free)

static void
wait_messages (Collector *c, guint n)
{
  gboolean timed_out = FALSE;
  GSource *timer = g_timeout_source_new (WAIT_MS);

  g_source_set_callback (timer, flag_set_cb, &timed_out, NULL);
  g_source_attach (timer, NULL);
  while (c->messages->len < n && !c->closed && !timed_out)
    g_main_context_iteration (NULL, TRUE);
  g_source_destroy (timer);
  g_source_unref (timer);
  if (c->messages->len < n && c->error)
    g_error ("call closed early: %s", c->error->message);
  g_assert_cmpuint (c->messages->len, >=, n);
}

static char *
message_text (Collector *c, guint i)
{
  return msg_data_string (c->messages->pdata[i]);
}

/* ------------------------------------------------------------------------ */
/* The node client */

typedef struct {
  char *line;
  gboolean line_done;
  gboolean exited;
} NodeRun;

static void
node_line_cb (GObject *source, GAsyncResult *result, gpointer data)
{
  NodeRun *r = data;

  r->line = g_data_input_stream_read_line_finish_utf8 (G_DATA_INPUT_STREAM (source), result, NULL, NULL);
  r->line_done = TRUE;
}

static void
node_exit_cb (GObject *source, GAsyncResult *result, gpointer data)
{
  NodeRun *r = data;

  g_subprocess_wait_finish (G_SUBPROCESS (source), result, NULL);
  r->exited = TRUE;
}

/* Runs grpc-test-client.js @mode @port @limit [@extra] while the main loop
 * serves it; returns its results (a{ss}). */
static GVariant *
run_node_client (const char *mode, guint16 port, gsize limit, const char *extra)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *script = g_build_filename (node_dir, "grpc-test-client.js", NULL);
  g_autofree char *port_arg = g_strdup_printf ("%u", port);
  g_autofree char *limit_arg = g_strdup_printf ("%" G_GSIZE_FORMAT, limit);
  const char *argv[] = { node_bin, script, mode, port_arg, limit_arg, extra, NULL };
  g_autoptr (GSubprocess) proc = NULL;
  g_autoptr (GDataInputStream) out = NULL;
  g_autoptr (GCancellable) cancellable = g_cancellable_new ();
  NodeRun r = { 0 };
  GVariant *results;
  gint64 start = g_get_monotonic_time ();

  proc = g_subprocess_newv (argv, G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE, &error);
  g_assert_no_error (error);
  out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (proc));
  g_data_input_stream_read_line_async (out, G_PRIORITY_DEFAULT, cancellable, node_line_cb, &r);
  if (!run_until (&r.line_done, 55000))
    {
      g_cancellable_cancel (cancellable);
      g_subprocess_force_exit (proc);
      RUN_UNTIL (r.line_done);
    }
  g_subprocess_wait_async (proc, NULL, node_exit_cb, &r);
  if (!run_until (&r.exited, 10000))
    {
      g_subprocess_force_exit (proc);
      RUN_UNTIL (r.exited);
    }
  if (r.line == NULL)
    g_error ("node client (%s) printed no results", mode);
  g_test_message ("node client %s (%.1f s): %s", mode,
                  (g_get_monotonic_time () - start) / 1e6, r.line);
  results = g_variant_parse (G_VARIANT_TYPE ("a{ss}"), r.line, NULL, NULL, &error);
  g_assert_no_error (error);
  g_free (r.line);
  return g_variant_ref_sink (results);
}

static const char *
res (GVariant *results, const char *key)
{
  const char *value = NULL;

  if (!g_variant_lookup (results, key, "&s", &value))
    return "(missing)";
  return value;
}

static gboolean
node_available (void)
{
  if (node_bin == NULL)
    {
      g_test_skip ("node is not installed");
      return FALSE;
    }
  return TRUE;
}

/* ------------------------------------------------------------------------ */
/* Tests with NbGrpcChannel */

static void
test_listen (void)
{
  g_autoptr (NbGrpcServer) srv = nb_grpc_server_new (NULL);
  g_autoptr (GError) error = NULL;
  guint16 port;

  g_assert_cmpuint (nb_grpc_server_get_port (srv), ==, 0);
  g_assert_false (nb_grpc_server_is_tls (srv));
  g_assert_false (nb_grpc_server_listen (srv, "not-an-ip", 0, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);

  g_assert_true (nb_grpc_server_listen (srv, "127.0.0.1", 0, &error));
  g_assert_no_error (error);
  port = nb_grpc_server_get_port (srv);
  g_assert_cmpuint (port, >, 0);

  /* The port is taken now. */
  {
    g_autoptr (NbGrpcServer) other = nb_grpc_server_new (NULL);

    g_assert_false (nb_grpc_server_listen (other, "127.0.0.1", port, &error));
    g_assert_error (error, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE);
    g_clear_error (&error);
  }
  /* A second address; the first port stays the reported one. */
  if (nb_grpc_server_listen (srv, "::1", 0, &error))
    g_assert_cmpuint (nb_grpc_server_get_port (srv), ==, port);
  else
    g_clear_error (&error); /* no IPv6 here */

  g_assert_cmpuint (nb_grpc_server_get_n_connections (srv), ==, 0);
  nb_grpc_server_stop (srv);
  nb_grpc_server_stop (srv); /* idempotent */
  g_assert_false (nb_grpc_server_listen (srv, "127.0.0.1", 0, &error));
  g_clear_error (&error);
}

static void
test_unary (void)
{
  guint16 port = nb_grpc_server_get_port (server);
  g_autoptr (NbGrpcChannel) channel = channel_for ("http", port);
  g_autoptr (GHashTable) md = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr (GBytes) req = msg_with_data ("meta");
  g_autoptr (GBytes) empty = g_bytes_new (NULL, 0);
  g_autoptr (GBytes) resp = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (Collector) c = NULL;
  GHashTable *trailers;

  assert_unary_echo (channel, "hello server");
  assert_unary_echo (channel, "second call, same connection");
  g_assert_cmpuint (nb_grpc_server_get_n_connections (server), ==, 1);
  g_assert_true (g_str_has_prefix (svc.last_peer, "127.0.0.1:"));

  /* Metadata in, response headers and trailers out. */
  g_hash_table_insert (md, "x-custom", "some value; with=stuff");
  g_hash_table_insert (md, "x-peer", "abc");
  g_hash_table_insert (md, "not-echoed", "1");
  c = collector_new (nb_grpc_channel_open_call (channel, ECHO "Unary", md, 5000));
  nb_grpc_call_send (c->call, req);
  nb_grpc_call_close_send (c->call);
  RUN_UNTIL (c->closed);
  g_assert_no_error (c->error);
  g_assert_cmpuint (c->messages->len, ==, 1);
  g_assert_cmpuint (c->messages_before_headers, ==, 0);
  g_assert_cmpstr (g_hash_table_lookup (c->headers, "x-custom"), ==, "some value; with=stuff");
  g_assert_cmpstr (g_hash_table_lookup (c->headers, "x-peer"), ==, "abc");
  g_assert_cmpstr (g_hash_table_lookup (c->headers, "x-served-by"), ==, "nb-grpc-server");
  g_assert_null (g_hash_table_lookup (c->headers, "not-echoed"));
  g_assert_cmpstr (g_hash_table_lookup (c->headers, "content-type"), ==, "application/grpc");
  trailers = nb_grpc_call_get_trailers (c->call);
  g_assert_cmpstr (g_hash_table_lookup (trailers, "grpc-status"), ==, "0");
  g_assert_cmpstr (g_hash_table_lookup (trailers, "x-trailer"), ==, "done");
  g_assert_null (g_hash_table_lookup (trailers, "grpc-message"));

  /* Empty request → zero-length response. */
  resp = unary (channel, ECHO "Unary", empty, NULL, 5000, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_bytes_get_size (resp), ==, 0);
  g_clear_pointer (&resp, g_bytes_unref);

  /* A 2 MiB response and a 3 MiB request (limit 4 MiB): flow control both ways. */
  {
    Msg m = { .response_size = 2 * 1024 * 1024 };
    g_autoptr (GBytes) big_req = msg_encode (&m);

    resp = unary (channel, ECHO "Unary", big_req, NULL, 10000, &error);
    g_assert_no_error (error);
    g_assert_cmpuint (g_bytes_get_size (resp), >, 2 * 1024 * 1024);
    g_clear_pointer (&resp, g_bytes_unref);
  }
  {
    gsize n = 3 * 1024 * 1024;
    char *text = g_malloc (n + 1);
    g_autoptr (GBytes) big_req = NULL;

    memset (text, 'q', n);
    text[n] = '\0';
    big_req = msg_with_data (text);
    resp = unary (channel, ECHO "Unary", big_req, NULL, 10000, &error);
    g_assert_no_error (error);
    g_assert_true (g_bytes_equal (resp, big_req));
    g_clear_pointer (&resp, g_bytes_unref);
    g_free (text);
  }
}

typedef struct {
  guint done;
  guint ok;
} Concurrent;

typedef struct {
  Concurrent *state;
  char *expect;
} ConcurrentCall;

static void
concurrent_done_cb (GObject *source, GAsyncResult *result, gpointer data)
{
  ConcurrentCall *cc = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) resp = nb_grpc_channel_call_finish (NB_GRPC_CHANNEL (source), result, &error);

  g_assert_no_error (error);
  {
    g_autofree char *got = msg_data_string (resp);
    if (g_strcmp0 (got, cc->expect) == 0)
      cc->state->ok++;
  }
  cc->state->done++;
  g_free (cc->expect);
  g_free (cc);
}

static void
test_unary_concurrent (void)
{
  g_autoptr (NbGrpcChannel) channel = channel_for ("http", nb_grpc_server_get_port (server));
  Concurrent state = { 0 };
  const guint n = 64;

  for (guint i = 0; i < n; i++)
    {
      ConcurrentCall *cc = g_new0 (ConcurrentCall, 1);
      g_autoptr (GBytes) req = NULL;

      cc->state = &state;
      cc->expect = g_strdup_printf ("call %u", i);
      req = msg_with_data (cc->expect);
      nb_grpc_channel_call_async (channel, ECHO "Unary", req, NULL, 10000, NULL,
                                  concurrent_done_cb, cc);
    }
  wait_count (&state.done, n);
  g_assert_cmpuint (state.ok, ==, n);
}

static void
test_server_stream (void)
{
  g_autoptr (NbGrpcChannel) channel = channel_for ("http", nb_grpc_server_get_port (server));
  g_autoptr (GHashTable) md = g_hash_table_new (g_str_hash, g_str_equal);

  g_hash_table_insert (md, "x-stream-tag", "abc");
  {
    Msg m = { .count = 200 };
    g_autoptr (GBytes) req = msg_encode (&m);
    g_autoptr (Collector) c = collector_new (nb_grpc_channel_open_call (channel, ECHO "ServerStream", md, 0));

    nb_grpc_call_send (c->call, req);
    nb_grpc_call_close_send (c->call);
    RUN_UNTIL (c->closed);
    g_assert_no_error (c->error);
    g_assert_cmpuint (c->headers_count, ==, 1);
    g_assert_cmpstr (g_hash_table_lookup (c->headers, "x-stream-tag"), ==, "abc");
    g_assert_cmpuint (c->messages->len, ==, 200);
    for (guint i = 0; i < 200; i++)
      {
        g_autofree char *got = message_text (c, i);
        g_autofree char *want = g_strdup_printf ("msg-%u", i);
        g_assert_cmpstr (got, ==, want);
      }
  }
  /* A long stream: more than the flow-control windows, so the producer
   * waits for "drained" many times. */
  {
    Msg m = { .count = 100000 };
    g_autoptr (GBytes) req = msg_encode (&m);
    g_autoptr (Collector) c = collector_new (nb_grpc_channel_open_call (channel, ECHO "ServerStream",
                                                                       NULL, 30000));
    g_autofree char *last = NULL;
    guint drained_before = svc.drained;

    nb_grpc_call_send (c->call, req);
    nb_grpc_call_close_send (c->call);
    RUN_UNTIL (c->closed);
    g_assert_no_error (c->error);
    g_assert_cmpuint (c->messages->len, ==, 100000);
    last = message_text (c, 99999);
    g_assert_cmpstr (last, ==, "msg-99999");
    g_assert_cmpuint (svc.drained - drained_before, >, 5);
  }
}

static void
test_bidi (void)
{
  g_autoptr (NbGrpcChannel) channel = channel_for ("http", nb_grpc_server_get_port (server));
  g_autoptr (GHashTable) md = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr (Collector) c = NULL;
  guint half_closed = svc.half_closed;

  /* NetBird's signal stream: peer id in, "registered" header back before any message. */
  g_hash_table_insert (md, "x-wiretrustee-peer-id", "R2lQ3nU3cM5xVKS5RnQ8lRm3w/dGhPDP8c2pA0wF6Vk=");
  c = collector_new (nb_grpc_channel_open_call (channel, ECHO "Bidi", md, 0));
  RUN_UNTIL (c->saw_headers);
  g_assert_cmpstr (g_hash_table_lookup (c->headers, "x-wiretrustee-peer-registered"), ==, "1");
  g_assert_cmpstr (g_hash_table_lookup (c->headers, "x-wiretrustee-peer-id"), ==,
                   "R2lQ3nU3cM5xVKS5RnQ8lRm3w/dGhPDP8c2pA0wF6Vk=");
  g_assert_cmpuint (c->messages->len, ==, 0);

  for (guint i = 0; i < 20; i++)
    {
      g_autofree char *text = g_strdup_printf ("ping %u", i);
      g_autoptr (GBytes) req = msg_with_data (text);
      g_autofree char *got = NULL;

      nb_grpc_call_send (c->call, req);
      wait_messages (c, i + 1);
      got = message_text (c, i);
      g_assert_cmpstr (got, ==, text);
    }
  g_assert_false (c->closed);
  g_assert_cmpuint (nb_grpc_server_get_n_calls (server), ==, 1);

  nb_grpc_call_close_send (c->call);
  RUN_UNTIL (c->closed);
  g_assert_no_error (c->error);
  g_assert_cmpuint (svc.half_closed, ==, half_closed + 1);
  g_assert_cmpuint (c->messages->len, ==, 20);
}

static void
test_bidi_burst (void)
{
  g_autoptr (NbGrpcChannel) channel = channel_for ("http", nb_grpc_server_get_port (server));
  g_autoptr (Collector) c = collector_new (nb_grpc_channel_open_call (channel, ECHO "Bidi", NULL, 20000));
  const guint n = 2000;

  for (guint i = 0; i < n; i++)
    {
      g_autofree char *text = g_strdup_printf ("burst %u %0500d", i, 0);
      g_autoptr (GBytes) req = msg_with_data (text);

      nb_grpc_call_send (c->call, req);
    }
  nb_grpc_call_close_send (c->call);
  RUN_UNTIL (c->closed);
  g_assert_no_error (c->error);
  g_assert_cmpuint (c->messages->len, ==, n);
  for (guint i = 0; i < n; i += 97)
    {
      g_autofree char *got = message_text (c, i);
      g_autofree char *want = g_strdup_printf ("burst %u %0500d", i, 0);
      g_assert_cmpstr (got, ==, want);
    }
}

static void
test_bidi_server_finishes_first (void)
{
  g_autoptr (NbGrpcChannel) channel = channel_for ("http", nb_grpc_server_get_port (server));
  g_autoptr (Collector) c = collector_new (nb_grpc_channel_open_call (channel, ECHO "Bidi", NULL, 0));
  g_autoptr (GBytes) hello = msg_with_data ("hello");
  g_autoptr (GBytes) close_req = msg_with_data ("close");
  guint cancelled = svc.cancelled_total;

  nb_grpc_call_send (c->call, hello);
  wait_messages (c, 1);
  nb_grpc_call_send (c->call, close_req);
  nb_grpc_call_send (c->call, hello); /* after "close": dropped by the server */
  RUN_UNTIL (c->closed);
  g_assert_no_error (c->error);
  g_assert_cmpuint (c->messages->len, ==, 1);
  run_for (50);
  g_assert_cmpuint (svc.cancelled_total, ==, cancelled); /* the handler finished it */
  assert_unary_echo (channel, "channel still fine");
}

static void
test_status_errors (void)
{
  g_autoptr (NbGrpcChannel) channel = channel_for ("http", nb_grpc_server_get_port (server));
  const char *text = "kein Peer – ünïcødé ✓ 100% (50%25 literal) /?#[]\n";
  Msg m = { .status = NB_GRPC_STATUS_FAILED_PRECONDITION, .message = text };
  g_autoptr (GBytes) req = msg_encode (&m);
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) resp = unary (channel, ECHO "Fail", req, NULL, 5000, &error);

  g_assert_null (resp);
  g_assert_error (error, NB_GRPC_ERROR, NB_GRPC_STATUS_FAILED_PRECONDITION);
  g_assert_cmpstr (error->message, ==, text);
  g_clear_error (&error);

  for (int code = 1; code <= NB_GRPC_STATUS_MAX; code++)
    {
      g_autofree char *message = g_strdup_printf ("status %d", code);
      Msg mc = { .status = code, .message = message };
      g_autoptr (GBytes) reqc = msg_encode (&mc);
      g_autoptr (GBytes) respc = unary (channel, ECHO "Fail", reqc, NULL, 5000, &error);

      g_assert_null (respc);
      g_assert_error (error, NB_GRPC_ERROR, code);
      g_assert_cmpstr (error->message, ==, message);
      g_clear_error (&error);
    }
  /* No message: the client shows the status name. */
  {
    Msg mc = { .status = NB_GRPC_STATUS_NOT_FOUND };
    g_autoptr (GBytes) reqc = msg_encode (&mc);
    g_autoptr (GBytes) respc = unary (channel, ECHO "Fail", reqc, NULL, 5000, &error);

    g_assert_error (error, NB_GRPC_ERROR, NB_GRPC_STATUS_NOT_FOUND);
    g_assert_cmpstr (error->message, ==, "NOT_FOUND");
    g_clear_error (&error);
  }
  assert_unary_echo (channel, "after errors");
}

static void
test_unimplemented (void)
{
  g_autoptr (NbGrpcChannel) channel = channel_for ("http", nb_grpc_server_get_port (server));
  static const char *const paths[] = { ECHO "Nope", "/nbtest.Nope/Unary", "/x/y" };
  g_autoptr (GBytes) req = msg_with_data ("x");

  for (guint i = 0; i < G_N_ELEMENTS (paths); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (GBytes) resp = unary (channel, paths[i], req, NULL, 5000, &error);

      g_assert_null (resp);
      g_assert_error (error, NB_GRPC_ERROR, NB_GRPC_STATUS_UNIMPLEMENTED);
      g_assert_nonnull (strstr (error->message, paths[i]));
    }
  /* A streaming call to an unknown method ends at once, trailers only. */
  {
    g_autoptr (Collector) c = collector_new (nb_grpc_channel_open_call (channel, ECHO "NopeStream", NULL, 0));

    RUN_UNTIL (c->closed);
    g_assert_error (c->error, NB_GRPC_ERROR, NB_GRPC_STATUS_UNIMPLEMENTED);
    g_assert_cmpuint (c->headers_count, ==, 0);
  }
  assert_unary_echo (channel, "after unimplemented");
}

static void
test_deadline (void)
{
  g_autoptr (NbGrpcChannel) channel = channel_for ("http", nb_grpc_server_get_port (server));
  Msg m = { .data = "zzz", .data_len = 3, .delay_ms = 20000 };
  g_autoptr (GBytes) req = msg_encode (&m);
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) resp = NULL;
  guint cancelled = svc.cancelled_total;
  guint ignored = svc.reply_after_end_ignored;
  gint64 start = g_get_monotonic_time ();

  resp = unary (channel, ECHO "Slow", req, NULL, 300, &error);
  g_assert_null (resp);
  g_assert_error (error, NB_GRPC_ERROR, NB_GRPC_STATUS_DEADLINE_EXCEEDED);
  g_clear_error (&error);
  /* The server saw the grpc-timeout and its handler is told promptly (by
   * the client's reset or its own deadline, whichever comes first). */
  g_assert_cmpint (svc.slow_deadline, >, start);
  g_assert_cmpint (svc.slow_deadline, <=, start + 1300 * 1000);
  wait_count (&svc.cancelled_total, cancelled + 1);
  g_assert_cmpuint (svc.cancelled[NB_GRPC_STATUS_CANCELLED] + svc.cancelled[NB_GRPC_STATUS_DEADLINE_EXCEEDED], >=, 1);
  g_assert_cmpuint (svc.reply_after_end_ignored, ==, ignored + 1);
  g_assert_cmpint ((g_get_monotonic_time () - start) / 1000, <, 2000);

  /* A deadline that is not reached: answered asynchronously. */
  {
    Msg fast = { .data = "ok", .data_len = 2, .delay_ms = 50 };
    g_autoptr (GBytes) req2 = msg_encode (&fast);
    g_autoptr (GBytes) resp2 = unary (channel, ECHO "Slow", req2, NULL, 5000, &error);
    g_autofree char *got = NULL;

    g_assert_no_error (error);
    got = msg_data_string (resp2);
    g_assert_cmpstr (got, ==, "ok");
  }
  /* No deadline at all. */
  {
    Msg fast = { .data = "nd", .data_len = 2, .delay_ms = 10 };
    g_autoptr (GBytes) req3 = msg_encode (&fast);
    g_autoptr (GBytes) resp3 = unary (channel, ECHO "Slow", req3, NULL, 0, &error);

    g_assert_no_error (error);
    g_assert_cmpint (svc.slow_deadline, ==, 0);
  }
}

static void
test_cancel (void)
{
  guint16 port = nb_grpc_server_get_port (server);

  /* The client resets the stream. */
  {
    g_autoptr (NbGrpcChannel) channel = channel_for ("http", port);
    g_autoptr (Collector) c = collector_new (nb_grpc_channel_open_call (channel, ECHO "Bidi", NULL, 0));
    g_autoptr (GBytes) hello = msg_with_data ("hello");
    guint before = svc.cancelled[NB_GRPC_STATUS_CANCELLED];

    nb_grpc_call_send (c->call, hello);
    wait_messages (c, 1);
    nb_grpc_call_cancel (c->call);
    wait_count (&svc.cancelled[NB_GRPC_STATUS_CANCELLED], before + 1);
    assert_unary_echo (channel, "after cancel");
  }
  /* The client goes away (GOAWAY + close): its calls are cancelled. */
  {
    g_autoptr (NbGrpcChannel) channel = channel_for ("http", port);
    g_autoptr (Collector) c1 = collector_new (nb_grpc_channel_open_call (channel, ECHO "Bidi", NULL, 0));
    g_autoptr (Collector) c2 = collector_new (nb_grpc_channel_open_call (channel, ECHO "Bidi", NULL, 0));
    g_autoptr (GBytes) hello = msg_with_data ("hello");
    guint before = svc.cancelled[NB_GRPC_STATUS_UNAVAILABLE];

    nb_grpc_call_send (c1->call, hello);
    nb_grpc_call_send (c2->call, hello);
    wait_messages (c1, 1);
    wait_messages (c2, 1);
    g_assert_cmpuint (nb_grpc_server_get_n_calls (server), ==, 2);
    nb_grpc_channel_disconnect (channel);
    wait_count (&svc.cancelled[NB_GRPC_STATUS_UNAVAILABLE], before + 2);
    RUN_UNTIL (c1->closed);
    RUN_UNTIL (c2->closed);
  }
  /* A unary call cancelled before the handler answered. */
  {
    g_autoptr (NbGrpcChannel) channel = channel_for ("http", port);
    g_autoptr (GCancellable) cancellable = g_cancellable_new ();
    Msg m = { .data = "zzz", .data_len = 3, .delay_ms = 20000 };
    g_autoptr (GBytes) req = msg_encode (&m);
    UnaryResult r = { 0 };
    guint started = svc.slow_started;
    guint before = svc.cancelled[NB_GRPC_STATUS_CANCELLED];

    nb_grpc_channel_call_async (channel, ECHO "Slow", req, NULL, 0, cancellable, unary_done_cb, &r);
    wait_count (&svc.slow_started, started + 1);
    g_cancellable_cancel (cancellable);
    RUN_UNTIL (r.done);
    g_assert_error (r.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
    g_clear_error (&r.error);
    wait_count (&svc.cancelled[NB_GRPC_STATUS_CANCELLED], before + 1);
  }
  run_for (50);
  g_assert_cmpuint (nb_grpc_server_get_n_calls (server), ==, 0);
}

static void
test_oversize (void)
{
  g_autoptr (NbGrpcChannel) channel = channel_for ("http", nb_grpc_server_get_port (server));
  g_autofree char *text = g_malloc (SMALL_LIMIT + 1024 + 1);
  g_autoptr (GBytes) big = NULL;
  g_autoptr (GError) error = NULL;

  memset (text, 'o', SMALL_LIMIT + 1024);
  text[SMALL_LIMIT + 1024] = '\0';
  big = msg_with_data (text);
  nb_grpc_server_set_max_receive_message_size (server, SMALL_LIMIT);
  g_assert_cmpuint (nb_grpc_server_get_max_receive_message_size (server), ==, SMALL_LIMIT);

  {
    g_autoptr (GBytes) resp = unary (channel, ECHO "Unary", big, NULL, 5000, &error);

    g_assert_null (resp);
    g_assert_error (error, NB_GRPC_ERROR, NB_GRPC_STATUS_RESOURCE_EXHAUSTED);
    g_clear_error (&error);
  }
  /* On a stream the handler is told too. */
  {
    g_autoptr (Collector) c = collector_new (nb_grpc_channel_open_call (channel, ECHO "Bidi", NULL, 0));
    g_autoptr (GBytes) hello = msg_with_data ("hello");
    guint before = svc.cancelled[NB_GRPC_STATUS_RESOURCE_EXHAUSTED];

    nb_grpc_call_send (c->call, hello);
    wait_messages (c, 1);
    nb_grpc_call_send (c->call, big);
    RUN_UNTIL (c->closed);
    g_assert_error (c->error, NB_GRPC_ERROR, NB_GRPC_STATUS_RESOURCE_EXHAUSTED);
    wait_count (&svc.cancelled[NB_GRPC_STATUS_RESOURCE_EXHAUSTED], before + 1);
  }
  /* Just under the limit is fine; the connection survived. */
  {
    text[SMALL_LIMIT - 16] = '\0';
    assert_unary_echo (channel, text);
  }
  nb_grpc_server_set_max_receive_message_size (server, NB_GRPC_SERVER_DEFAULT_MAX_RECEIVE_MESSAGE_SIZE);
}

static void
on_rtt_notify (GObject *object, GParamSpec *pspec, gpointer data)
{
  (*(guint *) data)++;
}

static void
test_ping (void)
{
  g_autoptr (NbGrpcChannel) channel = channel_for ("http", nb_grpc_server_get_port (server));
  guint acks = 0;

  nb_grpc_channel_set_keepalive (channel, 100, 1000);
  g_signal_connect (channel, "notify::last-ping-rtt", G_CALLBACK (on_rtt_notify), &acks);
  assert_unary_echo (channel, "connect");
  wait_count (&acks, 3);
  g_assert_cmpint (nb_grpc_channel_get_last_ping_rtt (channel), >=, 0);
  g_assert_true (nb_grpc_channel_is_connected (channel));
  g_signal_handlers_disconnect_by_data (channel, &acks);
}

static void
on_connection_closed (NbGrpcServer *srv, gpointer data)
{
  (*(guint *) data)++;
}

static void
test_stop (void)
{
  g_autoptr (NbGrpcServer) srv = server_new_listening (NULL);
  guint16 port = nb_grpc_server_get_port (srv);
  g_autoptr (NbGrpcChannel) channel = channel_for ("http", port);
  g_autoptr (Collector) c = collector_new (nb_grpc_channel_open_call (channel, ECHO "Bidi", NULL, 0));
  g_autoptr (GBytes) hello = msg_with_data ("hello");
  guint before = svc.cancelled[NB_GRPC_STATUS_UNAVAILABLE];
  guint closed = 0;

  g_signal_connect (srv, "connection-closed", G_CALLBACK (on_connection_closed), &closed);
  nb_grpc_call_send (c->call, hello);
  wait_messages (c, 1);
  g_assert_cmpuint (nb_grpc_server_get_n_connections (srv), ==, 1);

  nb_grpc_server_stop (srv);
  g_assert_cmpuint (nb_grpc_server_get_n_connections (srv), ==, 0);
  g_assert_cmpuint (nb_grpc_server_get_n_calls (srv), ==, 0);
  RUN_UNTIL (c->closed);
  g_assert_error (c->error, NB_GRPC_ERROR, NB_GRPC_STATUS_UNAVAILABLE);
  wait_count (&svc.cancelled[NB_GRPC_STATUS_UNAVAILABLE], before + 1);
  wait_count (&closed, 1);

  /* Nothing listens any more. */
  {
    g_autoptr (GBytes) req = msg_with_data ("x");
    g_autoptr (GError) error = NULL;
    g_autoptr (GBytes) resp = unary (channel, ECHO "Unary", req, NULL, 5000, &error);

    g_assert_error (error, NB_GRPC_ERROR, NB_GRPC_STATUS_UNAVAILABLE);
  }
  g_signal_handlers_disconnect_by_data (srv, &closed);

  /* Dropping a server with live calls stops it too. */
  {
    NbGrpcServer *srv2 = server_new_listening (NULL);
    g_autoptr (NbGrpcChannel) ch2 = channel_for ("http", nb_grpc_server_get_port (srv2));
    g_autoptr (Collector) c2 = collector_new (nb_grpc_channel_open_call (ch2, ECHO "Bidi", NULL, 0));
    Msg m = { .data = "zzz", .data_len = 3, .delay_ms = 20000 };
    g_autoptr (GBytes) slow_req = msg_encode (&m);
    UnaryResult r = { 0 };
    guint started = svc.slow_started;

    nb_grpc_call_send (c2->call, hello);
    wait_messages (c2, 1);
    nb_grpc_channel_call_async (ch2, ECHO "Slow", slow_req, NULL, 0, NULL, unary_done_cb, &r);
    wait_count (&svc.slow_started, started + 1);
    g_object_unref (srv2);
    RUN_UNTIL (c2->closed);
    RUN_UNTIL (r.done);
    g_assert_error (c2->error, NB_GRPC_ERROR, NB_GRPC_STATUS_UNAVAILABLE);
    g_assert_error (r.error, NB_GRPC_ERROR, NB_GRPC_STATUS_UNAVAILABLE);
    g_clear_error (&r.error);
  }
}

/* ------------------------------------------------------------------------ */
/* Raw sockets */

typedef struct {
  GByteArray *received;
  gboolean eof;
  GInputStream *in;
  guint8 buf[4096];
} RawRead;

static void
raw_read_cb (GObject *source, GAsyncResult *result, gpointer data)
{
  RawRead *r = data;
  gssize n = g_input_stream_read_finish (G_INPUT_STREAM (source), result, NULL);

  if (n <= 0)
    {
      r->eof = TRUE;
      return;
    }
  g_byte_array_append (r->received, r->buf, (guint) n);
  g_input_stream_read_async (r->in, r->buf, sizeof r->buf, G_PRIORITY_DEFAULT, NULL, raw_read_cb, r);
}

/* Connects, sends @data (may be NULL), optionally waits for the server to
 * close, and returns what came back. */
static GByteArray *
raw_exchange (guint16 port, const void *data, gsize len, gboolean wait_close)
{
  g_autoptr (GSocketClient) client = g_socket_client_new ();
  g_autoptr (GSocketConnection) conn = NULL;
  g_autoptr (GError) error = NULL;
  RawRead r = { 0 };

  conn = g_socket_client_connect_to_host (client, "127.0.0.1", port, NULL, &error);
  g_assert_no_error (error);
  if (len > 0)
    {
      g_output_stream_write_all (g_io_stream_get_output_stream (G_IO_STREAM (conn)), data, len, NULL,
                                 NULL, &error);
      g_assert_no_error (error);
    }
  r.received = g_byte_array_new ();
  if (wait_close)
    {
      r.in = g_io_stream_get_input_stream (G_IO_STREAM (conn));
      g_input_stream_read_async (r.in, r.buf, sizeof r.buf, G_PRIORITY_DEFAULT, NULL, raw_read_cb, &r);
      RUN_UNTIL (r.eof);
    }
  g_io_stream_close (G_IO_STREAM (conn), NULL, NULL);
  return r.received;
}

static void
test_malformed_tcp (void)
{
  guint16 port = nb_grpc_server_get_port (server);
  guint closed = 0;

  g_signal_connect (server, "connection-closed", G_CALLBACK (on_connection_closed), &closed);
  drain_context ();
  closed = 0;

  /* Binary garbage. */
  {
    guint8 garbage[1024];
    g_autoptr (GByteArray) got = NULL;

    for (guint i = 0; i < sizeof garbage; i++)
      garbage[i] = (guint8) (i * 7 + 3);
    got = raw_exchange (port, garbage, sizeof garbage, TRUE);
    wait_count (&closed, 1);
    assert_server_serves (port);
  }
  /* An HTTP/1.1 request: answered 400, then closed. */
  {
    static const char request[] = "GET /nbtest.Echo/Unary HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    g_autoptr (GByteArray) got = raw_exchange (port, request, strlen (request), TRUE);
    g_autofree char *text = g_strndup ((const char *) got->data, got->len);

    g_assert_true (g_str_has_prefix (text, "HTTP/1.1 400 "));
    assert_server_serves (port);
  }
  /* Connect and leave at once; half a preface then leave. */
  {
    guint before = closed;
    g_autoptr (GByteArray) got1 = raw_exchange (port, NULL, 0, FALSE);
    g_autoptr (GByteArray) got2 = raw_exchange (port, "PRI * HTTP/2.0\r\n", 16, FALSE);

    wait_count (&closed, before + 2);
    assert_server_serves (port);
  }
  /* A valid preface followed by a frame with an invalid type/length mix:
   * the server answers GOAWAY and closes. */
  {
    static const guint8 bad[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
                                "\x00\x00\x00\x04\x00\x00\x00\x00\x00" /* SETTINGS */
                                "\x00\x00\x03\x08\x00\x00\x00\x00\x00\x01\x02\x03"; /* WINDOW_UPDATE, bad size */
    g_autoptr (GByteArray) got = raw_exchange (port, bad, sizeof bad - 1, TRUE);
    gboolean goaway = FALSE;

    /* Frames back: SETTINGS, maybe SETTINGS ACK / WINDOW_UPDATE, GOAWAY (type 7). */
    for (gsize off = 0; off + 9 <= got->len;)
      {
        gsize flen = ((gsize) got->data[off] << 16) | ((gsize) got->data[off + 1] << 8) | got->data[off + 2];

        if (got->data[off + 3] == 7)
          goaway = TRUE;
        off += 9 + flen;
      }
    g_assert_true (goaway);
    assert_server_serves (port);
  }
  run_for (50);
  g_assert_cmpuint (nb_grpc_server_get_n_connections (server), ==, 0);
  g_signal_handlers_disconnect_by_data (server, &closed);
}

/* ------------------------------------------------------------------------ */
/* The independent client */

static void
test_grpc_js (void)
{
  g_autoptr (GVariant) r = NULL;
  const gsize limit = 1024 * 1024;
  guint cancelled = svc.cancelled_total;

  if (!node_available ())
    return;
  nb_grpc_server_set_max_receive_message_size (server, limit);
  r = run_node_client ("grpc", nb_grpc_server_get_port (server), limit, NULL);
  nb_grpc_server_set_max_receive_message_size (server, NB_GRPC_SERVER_DEFAULT_MAX_RECEIVE_MESSAGE_SIZE);

  g_assert_cmpstr (res (r, "exception"), ==, "(missing)");
  g_assert_cmpstr (res (r, "global_timeout"), ==, "(missing)");

  g_assert_cmpstr (res (r, "unary_code"), ==, "0");
  g_assert_cmpstr (res (r, "unary_data"), ==, "hello from grpc-js");
  g_assert_cmpstr (res (r, "unary_x_client"), ==, "grpc-js");
  g_assert_cmpstr (res (r, "unary_x_peer"), ==, "abc");
  g_assert_cmpstr (res (r, "unary_not_echoed"), ==, "(none)");
  g_assert_cmpstr (res (r, "unary_served_by"), ==, "nb-grpc-server");
  g_assert_cmpstr (res (r, "unary_trailer"), ==, "done");

  g_assert_cmpstr (res (r, "empty_code"), ==, "0");
  g_assert_cmpstr (res (r, "empty_len"), ==, "0");
  g_assert_cmpstr (res (r, "big_code"), ==, "0");
  g_assert_cmpstr (res (r, "big_len"), ==, "3145728");

  g_assert_cmpstr (res (r, "stream_code"), ==, "0");
  g_assert_cmpstr (res (r, "stream_count"), ==, "1000");
  g_assert_cmpstr (res (r, "stream_first"), ==, "msg-0");
  g_assert_cmpstr (res (r, "stream_last"), ==, "msg-999");
  g_assert_cmpstr (res (r, "stream_tag"), ==, "st");

  g_assert_cmpstr (res (r, "bidi_code"), ==, "0");
  g_assert_cmpstr (res (r, "bidi_registered"), ==, "1");
  g_assert_cmpstr (res (r, "bidi_headers_first"), ==, "yes");
  g_assert_cmpstr (res (r, "bidi_echoes"), ==,
                   "ping 0,ping 1,ping 2,ping 3,ping 4,ping 5,ping 6,ping 7,ping 8,ping 9");

  g_assert_cmpstr (res (r, "fail_code"), ==, "9");
  g_assert_cmpstr (res (r, "fail_details"), ==, "kein Peer – ünïcødé ✓ 100% (50%25 literal)");
  g_assert_cmpstr (res (r, "fail_details_ok"), ==, "yes");

  g_assert_cmpstr (res (r, "deadline_code"), ==, "4");
  g_assert_cmpint (atoi (res (r, "deadline_ms")), <, 3000);

  g_assert_cmpstr (res (r, "unimpl_method_code"), ==, "12");
  g_assert_cmpstr (res (r, "unimpl_service_code"), ==, "12");

  g_assert_cmpstr (res (r, "oversize_code"), ==, "8");
  g_assert_cmpstr (res (r, "parallel_ok"), ==, "50");
  g_assert_cmpstr (res (r, "after_data"), ==, "still here");
  g_assert_cmpstr (res (r, "keepalive"), ==, "slow ok");

  /* The deadline-exceeded Slow call reached its handler's "cancelled". */
  wait_count (&svc.cancelled_total, cancelled + 1);
  run_for (100);
  g_assert_cmpuint (nb_grpc_server_get_n_calls (server), ==, 0);
  assert_server_serves (nb_grpc_server_get_port (server));
}

static void
test_malformed_h2 (void)
{
  g_autoptr (GVariant) r = NULL;
  const gsize limit = SMALL_LIMIT;
  guint deadline_before = svc.cancelled[NB_GRPC_STATUS_DEADLINE_EXCEEDED];
  guint unavailable_before = svc.cancelled[NB_GRPC_STATUS_UNAVAILABLE];
  guint cancelled_before = svc.cancelled[NB_GRPC_STATUS_CANCELLED];
  guint internal_before = svc.cancelled[NB_GRPC_STATUS_INTERNAL];

  if (!node_available ())
    return;
  nb_grpc_server_set_max_receive_message_size (server, limit);
  r = run_node_client ("raw", nb_grpc_server_get_port (server), limit, NULL);
  nb_grpc_server_set_max_receive_message_size (server, NB_GRPC_SERVER_DEFAULT_MAX_RECEIVE_MESSAGE_SIZE);

  g_assert_cmpstr (res (r, "exception"), ==, "(missing)");
  g_assert_cmpstr (res (r, "global_timeout"), ==, "(missing)");

  g_assert_cmpstr (res (r, "valid_http"), ==, "200");
  g_assert_cmpstr (res (r, "valid_grpc"), ==, "0");
  g_assert_cmpstr (res (r, "valid_body"), ==, "raw ok");

  g_assert_cmpstr (res (r, "bad_flag_grpc"), ==, "13");
  g_assert_cmpstr (res (r, "compressed_grpc"), ==, "13");
  g_assert_cmpstr (res (r, "truncated_grpc"), ==, "13");
  g_assert_cmpstr (res (r, "truncated_prefix_grpc"), ==, "13");
  g_assert_cmpstr (res (r, "oversize_grpc"), ==, "8");
  g_assert_cmpstr (res (r, "oversize_timeout"), ==, "(missing)");
  g_assert_cmpstr (res (r, "two_messages_grpc"), ==, "13");
  g_assert_cmpstr (res (r, "no_message_grpc"), ==, "13");
  g_assert_cmpstr (res (r, "bad_timeout_grpc"), ==, "13");
  g_assert_cmpstr (res (r, "get_http"), ==, "405");
  g_assert_cmpstr (res (r, "wrong_ct_http"), ==, "415");
  g_assert_cmpstr (res (r, "unimpl_grpc"), ==, "12");
  g_assert_cmpstr (res (r, "unimpl_http"), ==, "200");

  /* Server-side deadline, without any client enforcement. */
  g_assert_cmpstr (res (r, "deadline_grpc"), ==, "4");
  g_assert_cmpint (atoi (res (r, "deadline_ms")), >=, 150);
  g_assert_cmpint (atoi (res (r, "deadline_ms")), <, 3000);
  g_assert_cmpuint (svc.cancelled[NB_GRPC_STATUS_DEADLINE_EXCEEDED], ==, deadline_before + 1);

  g_assert_cmpstr (res (r, "rst"), ==, "8"); /* our own CANCEL */
  g_assert_cmpstr (res (r, "after_grpc"), ==, "0");
  g_assert_cmpstr (res (r, "after_body"), ==, "after");
  g_assert_cmpstr (res (r, "drop"), ==, "done");
  g_assert_cmpstr (res (r, "goaway"), ==, "done");

  /* Handlers were told: the reset (CANCELLED), the dropped connection and
   * the GOAWAY (UNAVAILABLE). The truncated bidi stream ended before its
   * handler ran, so the handler never saw it. */
  g_assert_cmpuint (svc.cancelled[NB_GRPC_STATUS_INTERNAL], ==, internal_before);
  wait_count (&svc.cancelled[NB_GRPC_STATUS_CANCELLED], cancelled_before + 1);
  wait_count (&svc.cancelled[NB_GRPC_STATUS_UNAVAILABLE], unavailable_before + 2);
  run_for (100);
  g_assert_cmpuint (nb_grpc_server_get_n_calls (server), ==, 0);
  g_assert_cmpuint (nb_grpc_server_get_n_connections (server), ==, 0);
  assert_server_serves (nb_grpc_server_get_port (server));
}

/* ------------------------------------------------------------------------ */
/* TLS */

static void
test_tls (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *openssl = g_find_program_in_path ("openssl");
  g_autofree char *dir = NULL;
  g_autofree char *cert = NULL;
  g_autofree char *key = NULL;
  g_autoptr (GSubprocess) gen = NULL;
  g_autoptr (GTlsDatabase) db = NULL;
  g_autoptr (GTlsCertificate) certificate = NULL;
  g_autoptr (NbGrpcServer) srv = NULL;
  guint16 port;

  if (openssl == NULL)
    {
      g_test_skip ("openssl not installed: cannot make a test certificate");
      return;
    }
  if (g_tls_backend_get_default () == NULL || !g_tls_backend_supports_tls (g_tls_backend_get_default ()))
    {
      g_test_skip ("no GIO TLS backend (glib-networking)");
      return;
    }
  dir = g_dir_make_tmp ("nb-grpc-server-tls-XXXXXX", &error);
  g_assert_no_error (error);
  cert = g_build_filename (dir, "cert.pem", NULL);
  key = g_build_filename (dir, "key.pem", NULL);
  gen = g_subprocess_new (G_SUBPROCESS_FLAGS_STDOUT_SILENCE | G_SUBPROCESS_FLAGS_STDERR_SILENCE, &error,
                          openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt",
                          "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
                          "-subj", "/CN=nb-grpc-test", "-addext",
                          "subjectAltName=IP:127.0.0.1,DNS:localhost",
                          "-keyout", key, "-out", cert, NULL);
  g_assert_no_error (error);
  g_subprocess_wait_check (gen, NULL, &error);
  g_assert_no_error (error);

  certificate = g_tls_certificate_new_from_files (cert, key, &error);
  g_assert_no_error (error);
  db = g_tls_file_database_new (cert, &error);
  g_assert_no_error (error);
  srv = server_new_listening (certificate);
  g_assert_true (nb_grpc_server_is_tls (srv));
  port = nb_grpc_server_get_port (srv);

  /* Our client, trusting the certificate (it insists on ALPN h2). */
  {
    g_autoptr (NbGrpcChannel) channel = channel_for ("https", port);
    Msg m = { .count = 500 };
    g_autoptr (GBytes) req = msg_encode (&m);
    g_autoptr (Collector) c = NULL;

    nb_grpc_channel_set_tls_database (channel, db);
    assert_unary_echo (channel, "over TLS");
    c = collector_new (nb_grpc_channel_open_call (channel, ECHO "ServerStream", NULL, 10000));
    nb_grpc_call_send (c->call, req);
    nb_grpc_call_close_send (c->call);
    RUN_UNTIL (c->closed);
    g_assert_no_error (c->error);
    g_assert_cmpuint (c->messages->len, ==, 500);
    {
      Msg bm = { .response_size = 1024 * 1024 };
      g_autoptr (GBytes) big_req = msg_encode (&bm);
      g_autoptr (GBytes) resp = unary (channel, ECHO "Unary", big_req, NULL, 10000, &error);

      g_assert_no_error (error);
      g_assert_cmpuint (g_bytes_get_size (resp), >, 1024 * 1024);
    }
  }
  /* Cleartext h2c against the TLS port fails; the server stays up. */
  {
    g_autoptr (NbGrpcChannel) plain = channel_for ("http", port);
    g_autoptr (GBytes) req = msg_with_data ("x");
    g_autoptr (GBytes) resp = unary (plain, ECHO "Unary", req, NULL, 5000, &error);

    g_assert_error (error, NB_GRPC_ERROR, NB_GRPC_STATUS_UNAVAILABLE);
    g_clear_error (&error);
  }
  /* grpc-js over TLS, trusting the certificate through rootCerts. */
  if (node_bin)
    {
      g_autoptr (GVariant) r = run_node_client ("tls", port, NB_GRPC_SERVER_DEFAULT_MAX_RECEIVE_MESSAGE_SIZE, cert);

      g_assert_cmpstr (res (r, "exception"), ==, "(missing)");
      g_assert_cmpstr (res (r, "unary_code"), ==, "0");
      g_assert_cmpstr (res (r, "unary_data"), ==, "hello from grpc-js");
      g_assert_cmpstr (res (r, "unary_x_client"), ==, "grpc-js");
      g_assert_cmpstr (res (r, "big_len"), ==, "3145728");
      g_assert_cmpstr (res (r, "stream_count"), ==, "1000");
      g_assert_cmpstr (res (r, "bidi_registered"), ==, "1");
      g_assert_cmpstr (res (r, "bidi_code"), ==, "0");
      g_assert_cmpstr (res (r, "fail_details_ok"), ==, "yes");
      g_assert_cmpstr (res (r, "deadline_code"), ==, "4");
      g_assert_cmpstr (res (r, "unimpl_method_code"), ==, "12");
      g_assert_cmpstr (res (r, "oversize_code"), ==, "8");
      g_assert_cmpstr (res (r, "parallel_ok"), ==, "50");
      g_assert_cmpstr (res (r, "keepalive"), ==, "slow ok");
    }
  /* Still serving over TLS after all that. */
  {
    g_autoptr (NbGrpcChannel) channel = channel_for ("https", port);

    nb_grpc_channel_set_tls_database (channel, db);
    assert_unary_echo (channel, "TLS after");
  }
  nb_grpc_server_stop (srv);
  g_unlink (cert);
  g_unlink (key);
  g_rmdir (dir);
}

/* ------------------------------------------------------------------------ */

/* glib-networking runs TLS handshakes in GTask worker threads; let them
 * retire before exit (LeakSanitizer vs. gnutls thread-locals, see
 * test-grpc-conformance.c). */
static void
retire_worker_threads (void)
{
  run_for (700);
  g_thread_pool_set_max_unused_threads (0);
  g_thread_pool_stop_unused_threads ();
  run_for (200);
}

static void
run_test (gconstpointer data)
{
  void (*test) (void) = (void (*) (void)) data;
  gint64 start = g_get_monotonic_time ();

  test ();
  drain_context ();
  g_test_message ("%.2f s", (g_get_monotonic_time () - start) / 1e6);
}

#define ADD_TEST(path, func) g_test_add_data_func (path, (gconstpointer) (func), run_test)

static gboolean
find_node (void)
{
  const char *srcdir = g_getenv ("G_TEST_SRCDIR");
  const char *root = g_getenv ("NB_SOURCE_ROOT");
  g_autofree char *modules = NULL;

  if (srcdir)
    node_dir = g_build_filename (srcdir, "protocol", "node", NULL);
  else if (root)
    node_dir = g_build_filename (root, "tests", "protocol", "node", NULL);
  else
    node_dir = g_build_filename (g_get_current_dir (), "tests", "protocol", "node", NULL);

  modules = g_build_filename (node_dir, "node_modules", "@grpc", "grpc-js", NULL);
  if (!g_file_test (modules, G_FILE_TEST_IS_DIR))
    {
      g_printerr ("SKIP: %s is missing; run tools/install-npm.sh\n", modules);
      return FALSE;
    }
  node_bin = g_strdup (g_getenv ("NODE"));
  if (node_bin == NULL)
    node_bin = g_find_program_in_path ("node");
  if (node_bin == NULL)
    g_printerr ("node is not installed: the grpc-js tests skip\n");
  return TRUE;
}

int
main (int argc, char **argv)
{
  int rc;

  g_test_init (&argc, &argv, NULL);
  if (!find_node ())
    return 77;

  server = server_new_listening (NULL);

  ADD_TEST ("/grpc-server/listen", test_listen);
  ADD_TEST ("/grpc-server/unary", test_unary);
  ADD_TEST ("/grpc-server/unary-concurrent", test_unary_concurrent);
  ADD_TEST ("/grpc-server/server-stream", test_server_stream);
  ADD_TEST ("/grpc-server/bidi", test_bidi);
  ADD_TEST ("/grpc-server/bidi-burst", test_bidi_burst);
  ADD_TEST ("/grpc-server/bidi-server-finishes-first", test_bidi_server_finishes_first);
  ADD_TEST ("/grpc-server/status-errors", test_status_errors);
  ADD_TEST ("/grpc-server/unimplemented", test_unimplemented);
  ADD_TEST ("/grpc-server/deadline", test_deadline);
  ADD_TEST ("/grpc-server/cancel", test_cancel);
  ADD_TEST ("/grpc-server/oversize", test_oversize);
  ADD_TEST ("/grpc-server/ping", test_ping);
  ADD_TEST ("/grpc-server/stop", test_stop);
  ADD_TEST ("/grpc-server/malformed-tcp", test_malformed_tcp);
  ADD_TEST ("/grpc-server/grpc-js", test_grpc_js);
  ADD_TEST ("/grpc-server/malformed-h2", test_malformed_h2);
  ADD_TEST ("/grpc-server/tls", test_tls);

  rc = g_test_run ();

  nb_grpc_server_stop (server);
  g_clear_object (&server);
  drain_context ();
  retire_worker_threads ();
  service_reset ();
  g_free (node_dir);
  g_free (node_bin);
  return rc;
}
