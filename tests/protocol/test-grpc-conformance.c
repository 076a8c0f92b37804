/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Conformance of service/netbird/grpc.c against an independent gRPC
 * implementation: grpc-js (tests/protocol/node/grpc-test-server.js), plus a
 * node:http2 server that answers with malformed gRPC. Loopback only.
 *
 * Skips (exit 77) when node or tests/protocol/node/node_modules is missing
 * (install with tools/install-npm.sh).
 */
#include "config.h"

#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>

#include "grpc.h"
#include "grpc-test-util.h"

#define WAIT_MS 15000 /* generous bound for anything that should happen */

#define RUN_UNTIL(flag) g_assert_true (run_until (&(flag), WAIT_MS))

static guint64
get_varint (const guint8 **p, const guint8 *end)
{
  guint64 v = 0;

  for (int shift = 0; shift < 64; shift += 7)
    {
      g_assert_true (*p < end);
      guint8 b = *(*p)++;
      v |= (guint64) (b & 0x7f) << shift;
      if (!(b & 0x80))
        return v;
    }
  g_assert_not_reached ();
}

/* Field 1 (data) of an encoded Msg; the other fields are not expected back. */
static GBytes *
msg_data (GBytes *encoded)
{
  gsize len;
  const guint8 *p = g_bytes_get_data (encoded, &len);
  const guint8 *end = p + len;
  GBytes *data = NULL;

  while (p < end)
    {
      guint64 key = get_varint (&p, end);

      if ((key & 7) == 2)
        {
          guint64 n = get_varint (&p, end);

          g_assert_cmpuint (n, <=, (guint64) (end - p));
          if ((key >> 3) == 1)
            {
              g_clear_pointer (&data, g_bytes_unref);
              data = g_bytes_new (p, n);
            }
          p += n;
        }
      else if ((key & 7) == 0)
        get_varint (&p, end);
      else
        g_assert_not_reached ();
    }
  return data ? data : g_bytes_new (NULL, 0);
}

static char *
msg_data_string (GBytes *encoded)
{
  g_autoptr (GBytes) data = msg_data (encoded);
  gsize len;
  const char *p = g_bytes_get_data (data, &len);

  return g_strndup (p ? p : "", len);
}

/* ------------------------------------------------------------------------ */
/* The node servers */

typedef struct {
  GSubprocess *proc;
  int port;
  int garbage_port;
  int silent_port;
} Server;

static char *node_dir;
static char *node_bin;
static Server grpc_server;
static Server raw_server;

typedef struct {
  char *line;
  gboolean done;
} LineRead;

static void
line_read_cb (GObject *source, GAsyncResult *result, gpointer data)
{
  LineRead *lr = data;

  lr->line = g_data_input_stream_read_line_finish_utf8 (G_DATA_INPUT_STREAM (source), result, NULL, NULL);
  lr->done = TRUE;
}

static int
json_int (const char *line, const char *key)
{
  g_autofree char *needle = g_strdup_printf ("\"%s\":", key);
  const char *p = strstr (line, needle);

  return p ? atoi (p + strlen (needle)) : 0;
}

/* Starts grpc-test-server.js with @args (NULL-terminated) and reads its ports. */
static void
server_start (Server *s, const char *mode, ...)
{
  g_autoptr (GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GError) error = NULL;
  g_autoptr (GDataInputStream) out = NULL;
  g_autoptr (GCancellable) cancellable = g_cancellable_new ();
  LineRead lr = { 0 };
  va_list ap;
  const char *arg;

  g_ptr_array_add (argv, g_strdup (node_bin));
  g_ptr_array_add (argv, g_build_filename (node_dir, "grpc-test-server.js", NULL));
  g_ptr_array_add (argv, g_strdup (mode));
  va_start (ap, mode);
  while ((arg = va_arg (ap, const char *)) != NULL)
    g_ptr_array_add (argv, g_strdup (arg));
  va_end (ap);
  g_ptr_array_add (argv, NULL);

  s->proc = g_subprocess_newv ((const char *const *) argv->pdata,
                               G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE, &error);
  g_assert_no_error (error);
  out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (s->proc));
  g_data_input_stream_read_line_async (out, G_PRIORITY_DEFAULT, cancellable, line_read_cb, &lr);
  if (!run_until (&lr.done, 30000))
    {
      g_cancellable_cancel (cancellable);
      RUN_UNTIL (lr.done);
    }
  if (lr.line == NULL)
    g_error ("node test server (%s) did not start", mode);
  s->port = json_int (lr.line, "port");
  s->garbage_port = json_int (lr.line, "garbage");
  s->silent_port = json_int (lr.line, "silent");
  g_assert_cmpint (s->port, >, 0);
  g_debug ("node %s server on port %d", mode, s->port);
  g_free (lr.line);
}

static void
server_stop (Server *s)
{
  if (s->proc == NULL)
    return;
  g_subprocess_send_signal (s->proc, SIGCONT);
  g_subprocess_force_exit (s->proc);
  g_subprocess_wait (s->proc, NULL, NULL);
  g_clear_object (&s->proc);
}

/* ------------------------------------------------------------------------ */
/* Channel and call helpers */

static NbGrpcChannel *
channel_for (const char *scheme, int port)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *target = g_strdup_printf ("%s://127.0.0.1:%d", scheme, port);
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
       guint deadline_ms, GCancellable *cancellable, GError **error)
{
  UnaryResult r = { 0 };

  nb_grpc_channel_call_async (channel, path, request, metadata, deadline_ms, cancellable,
                              unary_done_cb, &r);
  g_assert_false (r.done); /* never completes synchronously */
  RUN_UNTIL (r.done);
  if (r.error)
    g_propagate_error (error, r.error);
  return r.response;
}

/* Echo over Unary, asserting success. */
static void
assert_unary_echo (NbGrpcChannel *channel, const char *text)
{
  g_autoptr (GBytes) req = msg_with_data (text);
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) resp = unary (channel, "/nbtest.Echo/Unary", req, NULL, 0, NULL, &error);
  g_autofree char *got = NULL;

  g_assert_no_error (error);
  got = msg_data_string (resp);
  g_assert_cmpstr (got, ==, text);
}

typedef struct {
  NbGrpcCall *call;
  GHashTable *headers;
  guint headers_count;
  GPtrArray *messages;
  guint messages_before_headers;
  gboolean closed;
  GError *error;
  gboolean saw_headers; /* for RUN_UNTIL */
} Collector;

static void
collector_on_headers (NbGrpcCall *call, GHashTable *headers, gpointer data)
{
  Collector *c = data;

  g_assert_false (c->closed);
  c->headers_count++;
  g_clear_pointer (&c->headers, g_hash_table_unref);
  c->headers = g_hash_table_ref (headers);
  c->saw_headers = TRUE;
}

static void
collector_on_message (NbGrpcCall *call, GBytes *message, gpointer data)
{
  Collector *c = data;

  g_assert_false (c->closed);
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

typedef struct {
  guint count;
  GError *last;
  gboolean seen;
} Disconnects;

static void
on_disconnected (NbGrpcChannel *channel, const GError *reason, gpointer data)
{
  Disconnects *d = data;

  g_assert_nonnull (reason);
  d->count++;
  d->seen = TRUE;
  g_clear_error (&d->last);
  d->last = g_error_copy (reason);
}

/* ------------------------------------------------------------------------ */
/* Tests against grpc-js (h2c) */

static void
test_target_parse (void)
{
  static const char *const good[] = {
    "http://127.0.0.1:1", "https://api.netbird.io", "https://api.netbird.io:443",
    "http://[::1]:8080", "https://example.com:33073/", "HTTP://example.com",
  };
  static const char *const bad[] = {
    "ftp://example.com", "example.com:443", "http://", "http://h:0", "http://h:99999",
    "http://h/path", "http://user@h:1", "http://h:1?q", "", "https://h:1#frag",
  };

  for (guint i = 0; i < G_N_ELEMENTS (good); i++)
    {
      g_autoptr (GError) error = NULL;
      NbGrpcChannel *channel = nb_grpc_channel_new (good[i], &error);

      g_assert_no_error (error);
      g_assert_cmpstr (nb_grpc_channel_get_target (channel), ==, good[i]);
      g_assert_false (nb_grpc_channel_is_connected (channel));
      g_object_unref (channel);
    }
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr (GError) error = NULL;
      NbGrpcChannel *channel = nb_grpc_channel_new (bad[i], &error);

      g_assert_null (channel);
      g_assert_error (error, NB_GRPC_ERROR, NB_GRPC_STATUS_INVALID_ARGUMENT);
    }
}

static void
test_unary_echo (void)
{
  g_autoptr (NbGrpcChannel) channel = channel_for ("http", grpc_server.port);
  g_autoptr (GBytes) empty = g_bytes_new (NULL, 0);
  g_autoptr (GBytes) resp = NULL;
  g_autoptr (GError) error = NULL;

  assert_unary_echo (channel, "hello grpc");
  g_assert_true (nb_grpc_channel_is_connected (channel));
  assert_unary_echo (channel, "second call, same connection");

  /* An empty Msg answers with a zero-length message. */
  resp = unary (channel, "/nbtest.Echo/Unary", empty, NULL, 5000, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_bytes_get_size (resp), ==, 0);
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
  g_autoptr (NbGrpcChannel) channel = channel_for ("http", grpc_server.port);
  Concurrent state = { 0 };
  gboolean all = FALSE;
  const guint n = 64;

  for (guint i = 0; i < n; i++)
    {
      ConcurrentCall *cc = g_new0 (ConcurrentCall, 1);
      g_autoptr (GBytes) req = NULL;

      cc->state = &state;
      cc->expect = g_strdup_printf ("call %u", i);
      req = msg_with_data (cc->expect);
      nb_grpc_channel_call_async (channel, "/nbtest.Echo/Unary", req, NULL, 10000, NULL,
                                  concurrent_done_cb, cc);
    }
  {
    gboolean timed_out = FALSE;
    guint timer = g_timeout_add (WAIT_MS, flag_set_cb, &timed_out);

    while (state.done < n && !timed_out)
      g_main_context_iteration (NULL, TRUE);
    g_assert_false (timed_out);
    g_source_remove (timer);
  }
  all = state.ok == n;
  g_assert_true (all);
}

static void
test_server_stream (void)
{
  g_autoptr (NbGrpcChannel) channel = channel_for ("http", grpc_server.port);
  g_autoptr (GHashTable) md = g_hash_table_new (g_str_hash, g_str_equal);
  Msg m = { .count = 200 };
  g_autoptr (GBytes) req = msg_encode (&m);
  g_autoptr (Collector) c = NULL;

  g_hash_table_insert (md, "x-stream-tag", "abc");
  c = collector_new (nb_grpc_channel_open_call (channel, "/nbtest.Echo/ServerStream", md, 0));
  nb_grpc_call_send (c->call, req);
  nb_grpc_call_close_send (c->call);
  RUN_UNTIL (c->closed);

  g_assert_no_error (c->error);
  g_assert_cmpuint (c->headers_count, ==, 1);
  g_assert_cmpuint (c->messages_before_headers, ==, 0);
  g_assert_cmpstr (g_hash_table_lookup (c->headers, "x-stream-tag"), ==, "abc");
  g_assert_cmpuint (c->messages->len, ==, 200);
  for (guint i = 0; i < 200; i++)
    {
      g_autofree char *got = message_text (c, i);
      g_autofree char *want = g_strdup_printf ("msg-%u", i);
      g_assert_cmpstr (got, ==, want);
    }
  g_assert_true (nb_grpc_call_is_closed (c->call));
  g_assert_nonnull (nb_grpc_call_get_trailers (c->call));
  g_assert_cmpstr (g_hash_table_lookup (nb_grpc_call_get_trailers (c->call), "grpc-status"), ==, "0");
}

/* A long burst from the server: many messages per read, none lost. */
static void
test_server_stream_burst (void)
{
  g_autoptr (NbGrpcChannel) channel = channel_for ("http", grpc_server.port);
  Msg m = { .count = 20000 };
  g_autoptr (GBytes) req = msg_encode (&m);
  g_autoptr (Collector) c = NULL;
  g_autofree char *last = NULL;

  c = collector_new (nb_grpc_channel_open_call (channel, "/nbtest.Echo/ServerStream", NULL, 30000));
  nb_grpc_call_send (c->call, req);
  nb_grpc_call_close_send (c->call);
  RUN_UNTIL (c->closed);
  g_assert_no_error (c->error);
  g_assert_cmpuint (c->messages->len, ==, 20000);
  last = message_text (c, 19999);
  g_assert_cmpstr (last, ==, "msg-19999");
}

static void
test_bidi_ping_pong (void)
{
  g_autoptr (NbGrpcChannel) channel = channel_for ("http", grpc_server.port);
  g_autoptr (GHashTable) md = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr (Collector) c = NULL;

  /* Like NetBird's signal stream: metadata in, a header back before any message. */
  g_hash_table_insert (md, "x-wiretrustee-peer-id", "R2lQ3nU3cM5xVKS5RnQ8lRm3w/dGhPDP8c2pA0wF6Vk=");
  c = collector_new (nb_grpc_channel_open_call (channel, "/nbtest.Echo/Bidi", md, 0));
  RUN_UNTIL (c->saw_headers);
  g_assert_cmpstr (g_hash_table_lookup (c->headers, "x-bidi-ready"), ==, "1");
  g_assert_cmpstr (g_hash_table_lookup (c->headers, "x-wiretrustee-peer-id"), ==,
                   "R2lQ3nU3cM5xVKS5RnQ8lRm3w/dGhPDP8c2pA0wF6Vk=");
  g_assert_nonnull (nb_grpc_call_get_response_headers (c->call));

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

  /* Half-close: the server ends the call with OK. */
  nb_grpc_call_close_send (c->call);
  RUN_UNTIL (c->closed);
  g_assert_no_error (c->error);
  g_assert_cmpuint (c->messages->len, ==, 20);
}

static void
test_bidi_burst (void)
{
  g_autoptr (NbGrpcChannel) channel = channel_for ("http", grpc_server.port);
  g_autoptr (Collector) c = collector_new (nb_grpc_channel_open_call (channel, "/nbtest.Echo/Bidi",
                                                                     NULL, 20000));
  const guint n = 500;

  /* Queue everything at once (before the connection even exists). */
  for (guint i = 0; i < n; i++)
    {
      g_autofree char *text = g_strdup_printf ("burst %u %0200d", i, 0);
      g_autoptr (GBytes) req = msg_with_data (text);

      nb_grpc_call_send (c->call, req);
    }
  g_assert_cmpuint (nb_grpc_call_get_send_queue_size (c->call), >, n * 200);
  nb_grpc_call_close_send (c->call);
  RUN_UNTIL (c->closed);
  g_assert_no_error (c->error);
  g_assert_cmpuint (c->messages->len, ==, n);
  g_assert_cmpuint (nb_grpc_call_get_send_queue_size (c->call), ==, 0);
  for (guint i = 0; i < n; i += 97)
    {
      g_autofree char *got = message_text (c, i);
      g_autofree char *want = g_strdup_printf ("burst %u %0200d", i, 0);
      g_assert_cmpstr (got, ==, want);
    }
}

static void
test_bidi_server_closes_first (void)
{
  g_autoptr (NbGrpcChannel) channel = channel_for ("http", grpc_server.port);
  g_autoptr (Collector) c = collector_new (nb_grpc_channel_open_call (channel, "/nbtest.Echo/Bidi",
                                                                     NULL, 0));
  g_autoptr (GBytes) hello = msg_with_data ("hello");
  g_autoptr (GBytes) close_req = msg_with_data ("close");

  nb_grpc_call_send (c->call, hello);
  wait_messages (c, 1);
  nb_grpc_call_send (c->call, close_req);
  RUN_UNTIL (c->closed);
  g_assert_no_error (c->error);
  /* Sending after the call ended is ignored, not a crash. */
  nb_grpc_call_send (c->call, hello);
  nb_grpc_call_close_send (c->call);
  nb_grpc_call_cancel (c->call);
  g_assert_cmpuint (c->messages->len, ==, 1);
  assert_unary_echo (channel, "channel still fine");
}

static void
test_metadata (void)
{
  g_autoptr (NbGrpcChannel) channel = channel_for ("http", grpc_server.port);
  g_autoptr (GHashTable) md = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr (GBytes) req = msg_with_data ("meta");
  g_autoptr (Collector) c = NULL;
  GHashTable *trailers;

  g_hash_table_insert (md, "x-custom", "some value; with=stuff");
  g_hash_table_insert (md, "x-peer", "abc");
  g_hash_table_insert (md, "not-echoed", "1");
  c = collector_new (nb_grpc_channel_open_call (channel, "/nbtest.Echo/Unary", md, 5000));
  nb_grpc_call_send (c->call, req);
  nb_grpc_call_close_send (c->call);
  RUN_UNTIL (c->closed);
  g_assert_no_error (c->error);
  g_assert_cmpuint (c->messages->len, ==, 1);
  g_assert_cmpstr (g_hash_table_lookup (c->headers, "x-custom"), ==, "some value; with=stuff");
  g_assert_cmpstr (g_hash_table_lookup (c->headers, "x-peer"), ==, "abc");
  g_assert_cmpstr (g_hash_table_lookup (c->headers, "x-served-by"), ==, "grpc-js");
  g_assert_null (g_hash_table_lookup (c->headers, "not-echoed"));
  g_assert_null (g_hash_table_lookup (c->headers, ":status"));
  g_assert_cmpstr (g_hash_table_lookup (c->headers, "content-type"), ==, "application/grpc+proto");
  trailers = nb_grpc_call_get_trailers (c->call);
  g_assert_cmpstr (g_hash_table_lookup (trailers, "x-trailer"), ==, "done");

  /* The unary API takes the same metadata. */
  {
    g_autoptr (GError) error = NULL;
    g_autoptr (GBytes) resp = unary (channel, "/nbtest.Echo/Unary", req, md, 5000, NULL, &error);
    g_assert_no_error (error);
  }
}

static void
test_invalid_arguments (void)
{
  g_autoptr (NbGrpcChannel) channel = channel_for ("http", grpc_server.port);
  struct {
    const char *key;
    const char *value;
  } bad_md[] = {
    { "X-Upper", "v" }, { "grpc-timeout", "1S" }, { "x-ok", "bad\nvalue" }, { "te", "x" },
    { "", "v" }, { ":path", "/x" }, { "x-ok", "caf\xc3\xa9" },
  };
  static const char *const bad_paths[] = { "noslash", "/noMethod", "/a b/c" };

  for (guint i = 0; i < G_N_ELEMENTS (bad_md); i++)
    {
      g_autoptr (GHashTable) md = g_hash_table_new (g_str_hash, g_str_equal);
      g_autoptr (Collector) c = NULL;

      g_hash_table_insert (md, (gpointer) bad_md[i].key, (gpointer) bad_md[i].value);
      c = collector_new (nb_grpc_channel_open_call (channel, "/nbtest.Echo/Unary", md, 0));
      g_assert_false (c->closed); /* never synchronous */
      RUN_UNTIL (c->closed);
      g_assert_error (c->error, NB_GRPC_ERROR, NB_GRPC_STATUS_INVALID_ARGUMENT);
    }
  for (guint i = 0; i < G_N_ELEMENTS (bad_paths); i++)
    {
      g_autoptr (GBytes) req = msg_with_data ("x");
      g_autoptr (GError) error = NULL;
      g_autoptr (GBytes) resp = unary (channel, bad_paths[i], req, NULL, 0, NULL, &error);

      g_assert_null (resp);
      g_assert_error (error, NB_GRPC_ERROR, NB_GRPC_STATUS_INVALID_ARGUMENT);
    }
}

static void
test_status_errors (void)
{
  g_autoptr (NbGrpcChannel) channel = channel_for ("http", grpc_server.port);
  const char *text = "kein Peer – ünïcødé ✓ 100% (50%25 literal) /?#[]";
  Msg m = { .status = NB_GRPC_STATUS_FAILED_PRECONDITION, .message = text };
  g_autoptr (GBytes) req = msg_encode (&m);
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) resp = unary (channel, "/nbtest.Echo/Fail", req, NULL, 5000, NULL, &error);

  g_assert_null (resp);
  g_assert_error (error, NB_GRPC_ERROR, NB_GRPC_STATUS_FAILED_PRECONDITION);
  g_assert_cmpstr (error->message, ==, text);
  g_clear_error (&error);

  for (int code = 1; code <= NB_GRPC_STATUS_MAX; code++)
    {
      g_autofree char *message = g_strdup_printf ("status %d", code);
      Msg mc = { .status = code, .message = message };
      g_autoptr (GBytes) reqc = msg_encode (&mc);
      g_autoptr (GBytes) respc = unary (channel, "/nbtest.Echo/Fail", reqc, NULL, 5000, NULL, &error);

      g_assert_null (respc);
      g_assert_error (error, NB_GRPC_ERROR, code);
      g_assert_cmpstr (error->message, ==, message);
      g_clear_error (&error);
    }

  /* An unknown method: grpc-js answers UNIMPLEMENTED. */
  resp = unary (channel, "/nbtest.Echo/Nope", req, NULL, 5000, NULL, &error);
  g_assert_error (error, NB_GRPC_ERROR, NB_GRPC_STATUS_UNIMPLEMENTED);
  g_clear_error (&error);
  assert_unary_echo (channel, "after errors");
}

static void
test_deadline (void)
{
  g_autoptr (NbGrpcChannel) channel = channel_for ("http", grpc_server.port);
  Msg m = { .data = "zzz", .data_len = 3, .delay_ms = 20000 };
  g_autoptr (GBytes) req = msg_encode (&m);
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) resp = NULL;
  gint64 start = g_get_monotonic_time ();
  gint64 elapsed_ms;

  resp = unary (channel, "/nbtest.Echo/Slow", req, NULL, 300, NULL, &error);
  elapsed_ms = (g_get_monotonic_time () - start) / 1000;
  g_assert_null (resp);
  g_assert_error (error, NB_GRPC_ERROR, NB_GRPC_STATUS_DEADLINE_EXCEEDED);
  g_assert_cmpint (elapsed_ms, >=, 250);
  g_assert_cmpint (elapsed_ms, <, 5000);
  g_clear_error (&error);

  /* A deadline that is not reached. */
  {
    Msg fast = { .data = "ok", .data_len = 2, .delay_ms = 50 };
    g_autoptr (GBytes) req2 = msg_encode (&fast);
    g_autoptr (GBytes) resp2 = unary (channel, "/nbtest.Echo/Slow", req2, NULL, 5000, NULL, &error);
    g_autofree char *got = NULL;

    g_assert_no_error (error);
    got = msg_data_string (resp2);
    g_assert_cmpstr (got, ==, "ok");
  }
}

static gboolean
cancel_cb (gpointer data)
{
  g_cancellable_cancel (data);
  return G_SOURCE_REMOVE;
}

static void
test_cancel (void)
{
  g_autoptr (NbGrpcChannel) channel = channel_for ("http", grpc_server.port);
  Msg m = { .data = "zzz", .data_len = 3, .delay_ms = 20000 };
  g_autoptr (GBytes) req = msg_encode (&m);
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) resp = NULL;

  /* Cancelled while in flight. */
  {
    g_autoptr (GCancellable) cancellable = g_cancellable_new ();

    g_timeout_add_full (G_PRIORITY_DEFAULT, 150, cancel_cb, g_object_ref (cancellable), g_object_unref);
    resp = unary (channel, "/nbtest.Echo/Slow", req, NULL, 0, cancellable, &error);
    g_assert_null (resp);
    g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
    g_clear_error (&error);
  }
  /* Cancelled before the call. */
  {
    g_autoptr (GCancellable) cancellable = g_cancellable_new ();

    g_cancellable_cancel (cancellable);
    resp = unary (channel, "/nbtest.Echo/Slow", req, NULL, 0, cancellable, &error);
    g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
    g_clear_error (&error);
  }
  /* nb_grpc_call_cancel on an open stream: "closed" synchronously. */
  {
    g_autoptr (Collector) c = collector_new (nb_grpc_channel_open_call (channel, "/nbtest.Echo/Bidi",
                                                                       NULL, 0));
    g_autoptr (GBytes) hello = msg_with_data ("hello");

    nb_grpc_call_send (c->call, hello);
    wait_messages (c, 1);
    nb_grpc_call_cancel (c->call);
    g_assert_true (c->closed);
    g_assert_error (c->error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
    nb_grpc_call_cancel (c->call); /* idempotent */
  }
  /* Dropping the last reference to an open call resets it quietly. */
  {
    NbGrpcCall *call = nb_grpc_channel_open_call (channel, "/nbtest.Echo/Bidi", NULL, 0);
    g_autoptr (GBytes) hello = msg_with_data ("hello");

    nb_grpc_call_send (call, hello);
    run_for (50);
    g_object_unref (call);
  }
  assert_unary_echo (channel, "after cancellations");
}

static gsize
varint_size (guint64 v)
{
  gsize n = 1;

  while (v >= 0x80)
    {
      v >>= 7;
      n++;
    }
  return n;
}

/* Asks the server for a response Msg of exactly @total bytes. */
static GBytes *
unary_sized (NbGrpcChannel *channel, gsize total, GError **error)
{
  gsize data_len = total - 1 - varint_size (total);
  Msg m;
  g_autoptr (GBytes) req = NULL;

  /* Solve data_len + 1 + varint_size (data_len) == total. */
  while (data_len + 1 + varint_size (data_len) < total)
    data_len++;
  while (data_len + 1 + varint_size (data_len) > total)
    data_len--;
  g_assert_cmpuint (data_len + 1 + varint_size (data_len), ==, total);
  m = (Msg) { .response_size = (guint32) data_len };
  req = msg_encode (&m);
  return unary (channel, "/nbtest.Echo/Unary", req, NULL, 20000, NULL, error);
}

static void
test_large_messages (void)
{
  g_autoptr (NbGrpcChannel) channel = channel_for ("http", grpc_server.port);
  const gsize limit = NB_GRPC_DEFAULT_MAX_RECEIVE_MESSAGE_SIZE;
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) resp = NULL;

  resp = unary_sized (channel, limit, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_bytes_get_size (resp), ==, limit);
  g_clear_pointer (&resp, g_bytes_unref);

  resp = unary_sized (channel, limit + 1, &error);
  g_assert_null (resp);
  g_assert_error (error, NB_GRPC_ERROR, NB_GRPC_STATUS_RESOURCE_EXHAUSTED);
  g_clear_error (&error);

  /* A large upload, echoed back (send-side flow control). */
  {
    gsize n = 3 * 1024 * 1024;
    g_autofree char *big = g_malloc (n + 1);
    g_autoptr (GBytes) req = NULL;
    g_autoptr (GBytes) echoed = NULL;
    g_autoptr (GBytes) data = NULL;

    for (gsize i = 0; i < n; i++)
      big[i] = 'A' + (char) (i % 26);
    big[n] = '\0';
    req = msg_with_data (big);
    echoed = unary (channel, "/nbtest.Echo/Unary", req, NULL, 20000, NULL, &error);
    g_assert_no_error (error);
    data = msg_data (echoed);
    g_assert_cmpmem (g_bytes_get_data (data, NULL), g_bytes_get_size (data), big, n);
  }

  /* A configured limit. */
  nb_grpc_channel_set_max_receive_message_size (channel, 1000);
  resp = unary_sized (channel, 1000, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_bytes_get_size (resp), ==, 1000);
  g_clear_pointer (&resp, g_bytes_unref);
  resp = unary_sized (channel, 1001, &error);
  g_assert_error (error, NB_GRPC_ERROR, NB_GRPC_STATUS_RESOURCE_EXHAUSTED);
  g_clear_error (&error);
  assert_unary_echo (channel, "still usable");
}

static void
on_rtt_notify (GObject *object, GParamSpec *pspec, gpointer data)
{
  guint *acks = data;

  g_assert_cmpint (nb_grpc_channel_get_last_ping_rtt (NB_GRPC_CHANNEL (object)), >=, 0);
  (*acks)++;
}

static void
test_keepalive_acknowledged (void)
{
  g_autoptr (NbGrpcChannel) channel = channel_for ("http", grpc_server.port);
  Disconnects d = { 0 };
  guint acks = 0;
  g_autoptr (Collector) c = NULL;

  nb_grpc_channel_set_keepalive (channel, 100, 1000);
  g_signal_connect (channel, "disconnected", G_CALLBACK (on_disconnected), &d);
  g_signal_connect (channel, "notify::last-ping-rtt", G_CALLBACK (on_rtt_notify), &acks);
  g_assert_cmpint (nb_grpc_channel_get_last_ping_rtt (channel), ==, -1);

  /* An idle stream for ~1 s: pings go out every 100 ms and come back. */
  c = collector_new (nb_grpc_channel_open_call (channel, "/nbtest.Echo/Bidi", NULL, 0));
  RUN_UNTIL (c->saw_headers);
  run_for (1000);
  g_assert_cmpuint (acks, >=, 4);
  g_assert_cmpuint (d.count, ==, 0);
  g_assert_false (c->closed);
  g_assert_true (nb_grpc_channel_is_connected (channel));

  nb_grpc_call_close_send (c->call);
  RUN_UNTIL (c->closed);
  g_assert_no_error (c->error);
  g_signal_handlers_disconnect_by_data (channel, &d);
  g_signal_handlers_disconnect_by_data (channel, &acks);
  g_clear_error (&d.last);
}

static void
test_disconnect_api (void)
{
  g_autoptr (NbGrpcChannel) channel = channel_for ("http", grpc_server.port);
  g_autoptr (Collector) c = collector_new (nb_grpc_channel_open_call (channel, "/nbtest.Echo/Bidi",
                                                                     NULL, 0));
  Disconnects d = { 0 };

  g_signal_connect (channel, "disconnected", G_CALLBACK (on_disconnected), &d);
  RUN_UNTIL (c->saw_headers);
  nb_grpc_channel_disconnect (channel);
  g_assert_false (nb_grpc_channel_is_connected (channel));
  RUN_UNTIL (c->closed);
  g_assert_error (c->error, NB_GRPC_ERROR, NB_GRPC_STATUS_UNAVAILABLE);
  assert_unary_echo (channel, "reconnected");
  g_assert_cmpuint (d.count, ==, 0);
  g_signal_handlers_disconnect_by_data (channel, &d);
}

/* ------------------------------------------------------------------------ */
/* Connection loss, GOAWAY, keepalive timeout (own server processes) */

static void
test_server_killed (void)
{
  Server s = { 0 };
  g_autoptr (NbGrpcChannel) channel = NULL;
  g_autoptr (Collector) c = NULL;
  g_autoptr (GBytes) hello = msg_with_data ("hello");
  Disconnects d = { 0 };

  server_start (&s, "grpc", NULL);
  channel = channel_for ("http", s.port);
  g_signal_connect (channel, "disconnected", G_CALLBACK (on_disconnected), &d);
  c = collector_new (nb_grpc_channel_open_call (channel, "/nbtest.Echo/Bidi", NULL, 0));
  nb_grpc_call_send (c->call, hello);
  wait_messages (c, 1);

  g_subprocess_force_exit (s.proc);
  RUN_UNTIL (c->closed);
  g_assert_error (c->error, NB_GRPC_ERROR, NB_GRPC_STATUS_UNAVAILABLE);
  RUN_UNTIL (d.seen);
  g_assert_cmpuint (d.count, ==, 1);
  g_assert_error (d.last, NB_GRPC_ERROR, NB_GRPC_STATUS_UNAVAILABLE);
  g_assert_false (nb_grpc_channel_is_connected (channel));
  server_stop (&s);

  /* The next call tries a new connection: refused. */
  {
    g_autoptr (GError) error = NULL;
    g_autoptr (GBytes) resp = unary (channel, "/nbtest.Echo/Unary", hello, NULL, 5000, NULL, &error);

    g_assert_error (error, NB_GRPC_ERROR, NB_GRPC_STATUS_UNAVAILABLE);
  }
  g_assert_cmpuint (d.count, ==, 1); /* a failed connect is not a disconnect */
  g_signal_handlers_disconnect_by_data (channel, &d);
  g_clear_error (&d.last);
}

static void
test_keepalive_timeout (void)
{
  Server s = { 0 };
  g_autoptr (NbGrpcChannel) channel = NULL;
  g_autoptr (Collector) c = NULL;
  g_autoptr (GBytes) hello = msg_with_data ("hello");
  Disconnects d = { 0 };
  gint64 start;

  server_start (&s, "grpc", NULL);
  channel = channel_for ("http", s.port);
  nb_grpc_channel_set_keepalive (channel, 200, 400);
  g_signal_connect (channel, "disconnected", G_CALLBACK (on_disconnected), &d);
  c = collector_new (nb_grpc_channel_open_call (channel, "/nbtest.Echo/Bidi", NULL, 0));
  nb_grpc_call_send (c->call, hello);
  wait_messages (c, 1);

  /* The server stops answering anything, the TCP connection stays up. */
  g_subprocess_send_signal (s.proc, SIGSTOP);
  start = g_get_monotonic_time ();
  RUN_UNTIL (d.seen);
  g_assert_cmpint ((g_get_monotonic_time () - start) / 1000, <, 5000);
  g_assert_error (d.last, NB_GRPC_ERROR, NB_GRPC_STATUS_UNAVAILABLE);
  g_assert_nonnull (strstr (d.last->message, "keepalive"));
  RUN_UNTIL (c->closed);
  g_assert_error (c->error, NB_GRPC_ERROR, NB_GRPC_STATUS_UNAVAILABLE);
  server_stop (&s);
  g_signal_handlers_disconnect_by_data (channel, &d);
  g_clear_error (&d.last);
}

static void
test_goaway_max_age (void)
{
  Server s = { 0 };
  g_autoptr (NbGrpcChannel) channel = NULL;
  g_autoptr (Collector) c = NULL;
  g_autoptr (GBytes) hello = msg_with_data ("before goaway");
  g_autoptr (GBytes) after = msg_with_data ("after goaway");
  Disconnects d = { 0 };
  g_autofree char *got = NULL;

  /* grpc-js sends GOAWAY at ~500 ms and drops the connection 1.5 s later. */
  server_start (&s, "age", "500", "1500", NULL);
  channel = channel_for ("http", s.port);
  g_signal_connect (channel, "disconnected", G_CALLBACK (on_disconnected), &d);
  c = collector_new (nb_grpc_channel_open_call (channel, "/nbtest.Echo/Bidi", NULL, 0));
  nb_grpc_call_send (c->call, hello);
  wait_messages (c, 1);

  RUN_UNTIL (d.seen);
  g_assert_error (d.last, NB_GRPC_ERROR, NB_GRPC_STATUS_UNAVAILABLE);
  g_assert_nonnull (strstr (d.last->message, "GOAWAY"));
  g_assert_false (c->closed);

  /* The stream the server accepted keeps working on the draining connection… */
  nb_grpc_call_send (c->call, after);
  wait_messages (c, 2);
  got = message_text (c, 1);
  g_assert_cmpstr (got, ==, "after goaway");
  /* …while new calls go to a new connection. */
  assert_unary_echo (channel, "on a new connection");

  /* When the grace period ends the old connection is cut: UNAVAILABLE. */
  RUN_UNTIL (c->closed);
  g_assert_error (c->error, NB_GRPC_ERROR, NB_GRPC_STATUS_UNAVAILABLE);
  server_stop (&s);
  g_signal_handlers_disconnect_by_data (channel, &d);
  g_clear_error (&d.last);
}

/* ------------------------------------------------------------------------ */
/* Malformed servers (node:http2 and plain TCP) */

static void
test_malformed_responses (void)
{
  g_autoptr (NbGrpcChannel) channel = channel_for ("http", raw_server.port);
  struct {
    const char *method;
    int code;
    const char *substring;
  } cases[] = {
    { "Compressed", NB_GRPC_STATUS_INTERNAL, "compress" },
    { "NoStatus", NB_GRPC_STATUS_INTERNAL, "grpc-status" },
    { "Http404", NB_GRPC_STATUS_UNIMPLEMENTED, "404" },
    { "Http503TrailersOnly", NB_GRPC_STATUS_UNAVAILABLE, "503" },
    { "HtmlContentType", NB_GRPC_STATUS_UNKNOWN, "text/html" },
    { "Truncated", NB_GRPC_STATUS_INTERNAL, "10 of 100" },
    { "BadStatus", NB_GRPC_STATUS_UNKNOWN, "abc" },
    { "TwoMessages", NB_GRPC_STATUS_INTERNAL, "more than one" },
    { "TrailersOnlyStatus", NB_GRPC_STATUS_PERMISSION_DENIED, "nope ✓ 100% %zz" },
    { "RstRefused", NB_GRPC_STATUS_UNAVAILABLE, "REFUSED_STREAM" },
    { "RstInternal", NB_GRPC_STATUS_INTERNAL, "INTERNAL_ERROR" },
    { "Unknown", NB_GRPC_STATUS_UNIMPLEMENTED, NULL },
  };
  g_autoptr (GBytes) req = msg_with_data ("x");

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/raw.Bad/%s", cases[i].method);
      g_autoptr (GError) error = NULL;
      g_autoptr (GBytes) resp = unary (channel, path, req, NULL, 5000, NULL, &error);

      g_test_message ("%s → %s", cases[i].method, error ? error->message : "OK");
      g_assert_null (resp);
      g_assert_error (error, NB_GRPC_ERROR, cases[i].code);
      if (cases[i].substring)
        g_assert_nonnull (strstr (error->message, cases[i].substring));
    }
  /* Stream-level errors left the connection alone. */
  g_assert_true (nb_grpc_channel_is_connected (channel));
}

static void
test_deadline_resets_stream (void)
{
  g_autoptr (NbGrpcChannel) channel = channel_for ("http", raw_server.port);
  g_autoptr (GBytes) req = msg_with_data ("x");
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) resp = NULL;
  g_autofree char *code = NULL;

  /* The server never answers: only our own timer can end the call. */
  resp = unary (channel, "/raw.Bad/Hang", req, NULL, 200, NULL, &error);
  g_assert_error (error, NB_GRPC_ERROR, NB_GRPC_STATUS_DEADLINE_EXCEEDED);
  g_clear_error (&error);

  /* The server saw RST_STREAM with CANCEL (8). */
  resp = unary (channel, "/raw.Bad/LastRst", req, NULL, 5000, NULL, &error);
  g_assert_no_error (error);
  code = msg_data_string (resp);
  g_assert_cmpstr (code, ==, "8");
}

static void
test_goaway_refused_stream (void)
{
  g_autoptr (NbGrpcChannel) channel = channel_for ("http", raw_server.port);
  g_autoptr (GBytes) req = msg_with_data ("x");
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) resp = NULL;
  Disconnects d = { 0 };

  g_signal_connect (channel, "disconnected", G_CALLBACK (on_disconnected), &d);
  /* Stream 1 is processed; the server's GOAWAY then names it as the last
   * one, refusing stream 3. */
  resp = unary (channel, "/raw.Bad/Unknown", req, NULL, 5000, NULL, &error);
  g_assert_error (error, NB_GRPC_ERROR, NB_GRPC_STATUS_UNIMPLEMENTED);
  g_clear_error (&error);
  resp = unary (channel, "/raw.Bad/GoawayRefuse", req, NULL, 5000, NULL, &error);
  g_assert_error (error, NB_GRPC_ERROR, NB_GRPC_STATUS_UNAVAILABLE);
  g_clear_error (&error);
  RUN_UNTIL (d.seen);
  g_assert_nonnull (strstr (d.last->message, "GOAWAY"));

  /* A new connection serves the next call. */
  resp = unary (channel, "/raw.Bad/Unknown", req, NULL, 5000, NULL, &error);
  g_assert_error (error, NB_GRPC_ERROR, NB_GRPC_STATUS_UNIMPLEMENTED);
  g_signal_handlers_disconnect_by_data (channel, &d);
  g_clear_error (&d.last);
}

static void
test_not_http2 (void)
{
  g_autoptr (NbGrpcChannel) channel = channel_for ("http", raw_server.garbage_port);
  g_autoptr (GBytes) req = msg_with_data ("x");
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) resp = unary (channel, "/nbtest.Echo/Unary", req, NULL, 5000, NULL, &error);

  g_test_message ("HTTP/1.1 server → %s", error->message);
  g_assert_error (error, NB_GRPC_ERROR, NB_GRPC_STATUS_UNAVAILABLE);
}

static void
test_connect_timeout (void)
{
  g_autoptr (NbGrpcChannel) channel = channel_for ("http", raw_server.silent_port);
  g_autoptr (GBytes) req = msg_with_data ("x");
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) resp = NULL;
  gint64 start = g_get_monotonic_time ();

  /* TCP connects, but no HTTP/2 SETTINGS ever arrive. */
  nb_grpc_channel_set_connect_timeout (channel, 300);
  resp = unary (channel, "/nbtest.Echo/Unary", req, NULL, 0, NULL, &error);
  g_assert_error (error, NB_GRPC_ERROR, NB_GRPC_STATUS_UNAVAILABLE);
  g_assert_nonnull (strstr (error->message, "timed out"));
  g_assert_cmpint ((g_get_monotonic_time () - start) / 1000, <, 3000);
}

static void
test_connection_refused (void)
{
  g_autoptr (GSocketListener) listener = g_socket_listener_new ();
  g_autoptr (GError) error = NULL;
  guint16 port = g_socket_listener_add_any_inet_port (listener, NULL, &error);
  g_autoptr (NbGrpcChannel) channel = NULL;
  g_autoptr (GBytes) req = msg_with_data ("x");
  g_autoptr (GBytes) resp = NULL;

  g_assert_no_error (error);
  g_socket_listener_close (listener); /* nothing listens there now */
  channel = channel_for ("http", port);
  resp = unary (channel, "/nbtest.Echo/Unary", req, NULL, 0, NULL, &error);
  g_assert_error (error, NB_GRPC_ERROR, NB_GRPC_STATUS_UNAVAILABLE);
  g_assert_nonnull (strstr (error->message, "failed to connect"));
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
  Server s = { 0 };

  if (openssl == NULL)
    {
      g_test_skip ("openssl not installed: cannot make a test certificate");
      return;
    }
  dir = g_dir_make_tmp ("nb-grpc-tls-XXXXXX", &error);
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

  server_start (&s, "tls", cert, key, NULL);
  db = g_tls_file_database_new (cert, &error);
  g_assert_no_error (error);

  /* Trusted through the test's database: works, ALPN h2 (node's HTTP/2
   * server refuses connections without it). */
  {
    g_autoptr (NbGrpcChannel) channel = channel_for ("https", s.port);
    Msg m = { .count = 10 };
    g_autoptr (GBytes) req = msg_encode (&m);
    g_autoptr (Collector) c = NULL;

    nb_grpc_channel_set_tls_database (channel, db);
    assert_unary_echo (channel, "over TLS");
    c = collector_new (nb_grpc_channel_open_call (channel, "/nbtest.Echo/ServerStream", NULL, 5000));
    nb_grpc_call_send (c->call, req);
    nb_grpc_call_close_send (c->call);
    RUN_UNTIL (c->closed);
    g_assert_no_error (c->error);
    g_assert_cmpuint (c->messages->len, ==, 10);
    /* Large enough to need many TLS records and flow-control rounds. */
    {
      g_autoptr (GBytes) big = unary_sized (channel, 2 * 1024 * 1024, &error);
      g_assert_no_error (error);
      g_assert_cmpuint (g_bytes_get_size (big), ==, 2 * 1024 * 1024);
    }
  }
  /* System CAs (production default) reject the self-signed certificate. */
  {
    g_autoptr (NbGrpcChannel) channel = channel_for ("https", s.port);
    g_autoptr (GBytes) req = msg_with_data ("x");
    g_autoptr (GBytes) resp = unary (channel, "/nbtest.Echo/Unary", req, NULL, 5000, NULL, &error);

    g_test_message ("untrusted → %s", error->message);
    g_assert_error (error, NB_GRPC_ERROR, NB_GRPC_STATUS_UNAVAILABLE);
    g_assert_nonnull (strstr (error->message, "TLS"));
    g_clear_error (&error);
  }
  /* h2c against the TLS port, TLS against the h2c port. */
  {
    g_autoptr (NbGrpcChannel) plain = channel_for ("http", s.port);
    g_autoptr (NbGrpcChannel) tls = channel_for ("https", grpc_server.port);
    g_autoptr (GBytes) req = msg_with_data ("x");
    g_autoptr (GBytes) r1 = NULL;
    g_autoptr (GBytes) r2 = NULL;

    nb_grpc_channel_set_tls_database (tls, db);
    r1 = unary (plain, "/nbtest.Echo/Unary", req, NULL, 5000, NULL, &error);
    g_assert_error (error, NB_GRPC_ERROR, NB_GRPC_STATUS_UNAVAILABLE);
    g_clear_error (&error);
    r2 = unary (tls, "/nbtest.Echo/Unary", req, NULL, 5000, NULL, &error);
    g_assert_error (error, NB_GRPC_ERROR, NB_GRPC_STATUS_UNAVAILABLE);
    g_clear_error (&error);
  }

  server_stop (&s);
  g_unlink (cert);
  g_unlink (key);
  g_rmdir (dir);
}

/* ------------------------------------------------------------------------ */

/* glib-networking runs TLS handshakes in GTask worker threads, which keep
 * gnutls' dynamic TLS. GCC 12's LeakSanitizer crashes ("Tracer caught signal
 * 11") scanning such threads at exit, so let them retire first: a worker
 * leaves its pool after 0.5 s idle, then exits when no unused threads are
 * allowed. */
static void
retire_worker_threads (void)
{
  run_for (700);
  g_thread_pool_set_max_unused_threads (0);
  g_thread_pool_stop_unused_threads ();
  run_for (200);
}

/* Runs a test, then lets the sources of the objects it dropped finish. */
static void
run_test (gconstpointer data)
{
  void (*test) (void) = (void (*) (void)) data;

  test ();
  drain_context ();
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

  node_bin = g_strdup (g_getenv ("NODE"));
  if (node_bin == NULL)
    node_bin = g_find_program_in_path ("node");
  if (node_bin == NULL)
    {
      g_printerr ("SKIP: node is not installed\n");
      return FALSE;
    }
  modules = g_build_filename (node_dir, "node_modules", "@grpc", "grpc-js", NULL);
  if (!g_file_test (modules, G_FILE_TEST_IS_DIR))
    {
      g_printerr ("SKIP: %s is missing; run tools/install-npm.sh\n", modules);
      return FALSE;
    }
  return TRUE;
}

int
main (int argc, char **argv)
{
  int rc;

  g_test_init (&argc, &argv, NULL);
  if (!find_node ())
    return 77;

  server_start (&grpc_server, "grpc", NULL);
  server_start (&raw_server, "raw", NULL);

  ADD_TEST ("/grpc/target-parse", test_target_parse);
  ADD_TEST ("/grpc/unary-echo", test_unary_echo);
  ADD_TEST ("/grpc/unary-concurrent", test_unary_concurrent);
  ADD_TEST ("/grpc/server-stream", test_server_stream);
  ADD_TEST ("/grpc/server-stream-burst", test_server_stream_burst);
  ADD_TEST ("/grpc/bidi-ping-pong", test_bidi_ping_pong);
  ADD_TEST ("/grpc/bidi-burst", test_bidi_burst);
  ADD_TEST ("/grpc/bidi-server-closes-first", test_bidi_server_closes_first);
  ADD_TEST ("/grpc/metadata", test_metadata);
  ADD_TEST ("/grpc/invalid-arguments", test_invalid_arguments);
  ADD_TEST ("/grpc/status-errors", test_status_errors);
  ADD_TEST ("/grpc/deadline", test_deadline);
  ADD_TEST ("/grpc/cancel", test_cancel);
  ADD_TEST ("/grpc/large-messages", test_large_messages);
  ADD_TEST ("/grpc/keepalive-acknowledged", test_keepalive_acknowledged);
  ADD_TEST ("/grpc/disconnect-api", test_disconnect_api);
  ADD_TEST ("/grpc/server-killed", test_server_killed);
  ADD_TEST ("/grpc/keepalive-timeout", test_keepalive_timeout);
  ADD_TEST ("/grpc/goaway-max-age", test_goaway_max_age);
  ADD_TEST ("/grpc/malformed-responses", test_malformed_responses);
  ADD_TEST ("/grpc/deadline-resets-stream", test_deadline_resets_stream);
  ADD_TEST ("/grpc/goaway-refused-stream", test_goaway_refused_stream);
  ADD_TEST ("/grpc/not-http2", test_not_http2);
  ADD_TEST ("/grpc/connect-timeout", test_connect_timeout);
  ADD_TEST ("/grpc/connection-refused", test_connection_refused);
  ADD_TEST ("/grpc/tls", test_tls);

  rc = g_test_run ();

  server_stop (&grpc_server);
  server_stop (&raw_server);
  drain_context ();
  retire_worker_threads ();
  g_free (node_dir);
  g_free (node_bin);
  return rc;
}
