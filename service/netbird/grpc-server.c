/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * gRPC server over nghttp2 + GIO. See grpc-server.h for the contract.
 *
 * Structure:
 *   NbGrpcServer      the GSocketService, the method table and the live
 *                     connections.
 *   ServerConn        (private, refcounted) one accepted TCP/TLS stream and
 *                     its nghttp2 server session, driven like the client's
 *                     connections (grpc.c): a persistent read source, a write
 *                     source only while the socket is full, an idle "flush"
 *                     source after API calls queue frames.
 *   NbGrpcServerCall  one HTTP/2 stream: request headers, frame decoder,
 *                     send queue (nghttp2 data provider), status, and a
 *                     queue of events that an idle source turns into handler
 *                     invocations and signals.
 *
 * Re-entrancy rules (as in grpc.c):
 *   - nghttp2 callbacks only change state and queue events;
 *   - handlers and signals run from idle sources;
 *   - public functions never write to the socket, they schedule a flush;
 *   - a ServerConn is only closed from top-level source callbacks or from
 *     nb_grpc_server_stop().
 */
#define G_LOG_DOMAIN "nb-grpc-server"

#include "config.h"

#include "grpc-server.h"
#include "grpc-h2-common.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>

#include <nghttp2/nghttp2.h>

#define READ_CHUNK             (16 * 1024)
#define READS_PER_DISPATCH     16
#define STREAM_WINDOW_SIZE     (1024 * 1024)
#define CONNECTION_WINDOW      (8 * 1024 * 1024)
#define MAX_CONCURRENT_STREAMS 1000

/* ------------------------------------------------------------------------ */
/* Types */

typedef struct {
  char *path;
  NbGrpcMethodType type;
  NbGrpcServerHandler handler;
  gpointer user_data;
  GDestroyNotify destroy;
} Method;

typedef enum {
  SCONN_HANDSHAKE, /* TLS handshake in progress, no session yet */
  SCONN_READY,     /* session running */
  SCONN_DEAD,      /* closed; waiting for the last reference */
} SConnState;

typedef struct _ServerConn ServerConn;

struct _NbGrpcServer {
  GObject parent_instance;

  GTlsCertificate *tls_certificate;
  GSocketService *service;
  GHashTable *methods; /* path → Method* (a reference) */
  gsize max_receive_message_size;
  guint16 port;
  GList *connections;  /* of ServerConn (a reference each) */
  guint next_conn_id;
  gboolean stopped;
  gboolean disposed;
};

struct _ServerConn {
  gint ref_count;
  guint id;
  NbGrpcServer *server; /* not owned; NULL once closed */
  SConnState state;
  char *peer;
  gsize max_receive_message_size;

  GCancellable *cancellable;
  GSocketConnection *tcp;
  GIOStream *stream; /* tcp or the TLS connection over it */
  GPollableInputStream *in;
  GPollableOutputStream *out;
  GSource *read_source;
  GSource *reread_source;
  GSource *write_source;
  GSource *flush_source;
  GSource *handshake_timer;

  guint8 *readbuf;
  GByteArray *outbuf;
  gsize out_off;

  nghttp2_session *session;
  GHashTable *streams; /* stream id → NbGrpcServerCall* (a reference each) */
  gboolean preface_received;
  guint32 client_goaway_error; /* set by a GOAWAY with an error code */
  gboolean client_goaway;
  char *lib_error;
};

typedef enum {
  EVENT_START,
  EVENT_MESSAGE,
  EVENT_HALF_CLOSED,
  EVENT_DRAINED,
  EVENT_CANCELLED,
} EventType;

typedef struct {
  EventType type;
  GBytes *message;
  GError *error;
} Event;

struct _NbGrpcServerCall {
  GObject parent_instance;

  ServerConn *conn; /* not owned; NULL once the stream is gone */
  gint32 stream_id;
  Method *method;   /* a reference; NULL when rejected */
  char *peer;

  /* Request. */
  char *path;
  char *http_method;
  char *content_type;
  char *grpc_timeout;
  GHashTable *metadata;
  gsize header_bytes;
  gboolean headers_too_large;
  gint64 deadline_us;
  GSource *deadline_source;
  NbGrpcFrameDecoder *decoder;
  GBytes *request;
  gboolean remote_closed;
  gboolean started; /* EVENT_START queued */
  gboolean handler_invoked;

  /* Response. */
  gboolean headers_sent;
  GHashTable *trailers_extra;
  GQueue send_queue; /* framed GBytes */
  gsize send_offset; /* into the head */
  gsize send_queue_size;
  gboolean data_deferred;
  gboolean sent_since_drained;
  gboolean finished;  /* status decided; nothing more is sent */
  gboolean cancelled; /* ended by something other than the handler */
  int status;
  char *status_message;

  GQueue events;
  GSource *dispatch_source;
};

enum {
  SERVER_SIGNAL_CONNECTION_CLOSED,
  SERVER_N_SIGNALS,
};
static guint server_signals[SERVER_N_SIGNALS];

enum {
  CALL_SIGNAL_MESSAGE,
  CALL_SIGNAL_HALF_CLOSED,
  CALL_SIGNAL_DRAINED,
  CALL_SIGNAL_CANCELLED,
  CALL_N_SIGNALS,
};
static guint call_signals[CALL_N_SIGNALS];

static ServerConn *sconn_ref (ServerConn *c);
static void sconn_unref (ServerConn *c);
static void sconn_schedule_flush (ServerConn *c);
static void sconn_close (ServerConn *c, GError *reason);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ServerConn, sconn_unref)

/* ------------------------------------------------------------------------ */
/* Methods */

static void
method_clear (Method *m)
{
  g_free (m->path);
  if (m->destroy)
    m->destroy (m->user_data);
}

static Method *
method_ref (Method *m)
{
  return g_rc_box_acquire (m);
}

static void
method_unref (Method *m)
{
  g_rc_box_release_full (m, (GDestroyNotify) method_clear);
}

/* ------------------------------------------------------------------------ */
/* NbGrpcServerCall: events */

static void
event_free (Event *ev)
{
  g_clear_pointer (&ev->message, g_bytes_unref);
  g_clear_error (&ev->error);
  g_free (ev);
}

static gboolean
call_dispatch_cb (gpointer data)
{
  NbGrpcServerCall *call = data; /* the source holds a reference */
  Event *ev;

  g_clear_pointer (&call->dispatch_source, g_source_unref);
  while ((ev = g_queue_pop_head (&call->events)) != NULL)
    {
      switch (ev->type)
        {
        case EVENT_START:
          /* Handlers only see live calls. */
          if (!call->finished && call->method)
            {
              call->handler_invoked = TRUE;
              call->method->handler (call, ev->message, call->method->user_data);
            }
          break;
        case EVENT_MESSAGE:
          if (call->handler_invoked && !call->finished)
            g_signal_emit (call, call_signals[CALL_SIGNAL_MESSAGE], 0, ev->message);
          break;
        case EVENT_HALF_CLOSED:
          if (call->handler_invoked && !call->finished)
            g_signal_emit (call, call_signals[CALL_SIGNAL_HALF_CLOSED], 0);
          break;
        case EVENT_DRAINED:
          if (call->handler_invoked && !call->finished)
            g_signal_emit (call, call_signals[CALL_SIGNAL_DRAINED], 0);
          break;
        case EVENT_CANCELLED:
          if (call->handler_invoked)
            g_signal_emit (call, call_signals[CALL_SIGNAL_CANCELLED], 0, ev->error);
          break;
        }
      event_free (ev);
    }
  return G_SOURCE_REMOVE;
}

/* Takes @message and @error. */
static void
call_push_event (NbGrpcServerCall *call, EventType type, GBytes *message, GError *error)
{
  Event *ev = g_new0 (Event, 1);

  ev->type = type;
  ev->message = message;
  ev->error = error;
  g_queue_push_tail (&call->events, ev);
  if (call->dispatch_source == NULL)
    call->dispatch_source = nb_grpc_h2_idle_source (call_dispatch_cb, g_object_ref (call),
                                                    g_object_unref);
}

/* ------------------------------------------------------------------------ */
/* NbGrpcServerCall: response */

static ssize_t data_read_cb (nghttp2_session *session, int32_t stream_id, uint8_t *buf,
                             size_t length, uint32_t *data_flags, nghttp2_data_source *source,
                             void *user_data);

typedef struct {
  GArray *nva;      /* of nghttp2_nv, pointing into strings */
  GPtrArray *owned; /* strings the nva points to */
} Nva;

static void
nva_init (Nva *nva)
{
  nva->nva = g_array_new (FALSE, FALSE, sizeof (nghttp2_nv));
  nva->owned = g_ptr_array_new_with_free_func (g_free);
}

static void
nva_clear (Nva *nva)
{
  g_array_unref (nva->nva);
  g_ptr_array_unref (nva->owned);
}

static void
nva_add (Nva *nva, const char *name, const char *value)
{
  nghttp2_nv nv = { (uint8_t *) name, (uint8_t *) value, strlen (name), strlen (value),
                    NGHTTP2_NV_FLAG_NONE };

  g_array_append_val (nva->nva, nv);
}

static void
nva_add_take (Nva *nva, const char *name, char *value)
{
  g_ptr_array_add (nva->owned, value);
  nva_add (nva, name, value);
}

static void
nva_add_table (Nva *nva, GHashTable *table)
{
  GHashTableIter iter;
  gpointer key, value;

  if (table == NULL)
    return;
  g_hash_table_iter_init (&iter, table);
  while (g_hash_table_iter_next (&iter, &key, &value))
    nva_add (nva, key, value);
}

/* grpc-status, grpc-message, custom trailers. */
static void
nva_add_status (Nva *nva, NbGrpcServerCall *call)
{
  nva_add_take (nva, "grpc-status", g_strdup_printf ("%d", call->status));
  if (call->status_message && *call->status_message)
    nva_add_take (nva, "grpc-message", nb_grpc_percent_encode (call->status_message));
  nva_add_table (nva, call->trailers_extra);
}

static gboolean
call_can_send (NbGrpcServerCall *call)
{
  return call->conn != NULL && call->conn->session != NULL && call->conn->state == SCONN_READY;
}

/* Response headers with a data provider (messages and trailers follow). */
static void
call_ensure_headers (NbGrpcServerCall *call, GHashTable *extra)
{
  nghttp2_data_provider provider = { .read_callback = data_read_cb };
  Nva nva;
  int rv;

  if (call->headers_sent || !call_can_send (call))
    return;
  call->headers_sent = TRUE;
  nva_init (&nva);
  nva_add (&nva, ":status", "200");
  nva_add (&nva, "content-type", "application/grpc");
  nva_add_table (&nva, extra);
  rv = nghttp2_submit_response (call->conn->session, call->stream_id,
                                (const nghttp2_nv *) nva.nva->data, nva.nva->len, &provider);
  nva_clear (&nva);
  if (rv != 0)
    g_debug ("connection %u: stream %d: cannot submit response headers: %s", call->conn->id,
             call->stream_id, nghttp2_strerror (rv));
  sconn_schedule_flush (call->conn);
}

/* Headers with END_STREAM carrying the status. */
static void
call_submit_trailers_only (NbGrpcServerCall *call, int http_status)
{
  Nva nva;
  int rv;

  if (!call_can_send (call))
    return;
  call->headers_sent = TRUE;
  nva_init (&nva);
  nva_add_take (&nva, ":status", g_strdup_printf ("%d", http_status));
  nva_add (&nva, "content-type", http_status == 200 ? "application/grpc" : "text/plain");
  nva_add_status (&nva, call);
  rv = nghttp2_submit_response (call->conn->session, call->stream_id,
                                (const nghttp2_nv *) nva.nva->data, nva.nva->len, NULL);
  nva_clear (&nva);
  if (rv != 0)
    g_debug ("connection %u: stream %d: cannot submit status: %s", call->conn->id,
             call->stream_id, nghttp2_strerror (rv));
  sconn_schedule_flush (call->conn);
}

static void
call_resume (NbGrpcServerCall *call)
{
  ServerConn *c = call->conn;

  if (!call_can_send (call))
    return;
  if (call->data_deferred)
    {
      call->data_deferred = FALSE;
      nghttp2_session_resume_data (c->session, call->stream_id);
    }
  sconn_schedule_flush (c);
}

/* Decides the call's status and sends it after the queued messages. */
static void
call_end (NbGrpcServerCall *call, int http_status, int code, const char *message)
{
  if (call->finished)
    return;
  call->finished = TRUE;
  call->status = code;
  call->status_message = g_strdup (message);
  nb_grpc_h2_clear_source (&call->deadline_source);
  if (call->conn)
    g_debug ("connection %u: stream %d %s: status %s%s%s", call->conn->id, call->stream_id,
             call->path ? call->path : "?",
             nb_grpc_status_name (code) ? nb_grpc_status_name (code) : "?",
             message && *message ? ": " : "", message && *message ? message : "");
  if (!call->headers_sent && (http_status != 200 || g_queue_is_empty (&call->send_queue)))
    call_submit_trailers_only (call, http_status);
  else
    {
      call_ensure_headers (call, NULL);
      call_resume (call);
    }
}

/* Drops queued messages, except a partly sent one (the client would see a
 * truncated message otherwise). */
static void
call_discard_queue (NbGrpcServerCall *call)
{
  GBytes *head = call->send_offset > 0 ? g_queue_pop_head (&call->send_queue) : NULL;

  g_queue_clear_full (&call->send_queue, (GDestroyNotify) g_bytes_unref);
  call->send_queue_size = 0;
  if (head)
    {
      g_queue_push_head (&call->send_queue, head);
      call->send_queue_size = g_bytes_get_size (head) - call->send_offset;
    }
}

/* Ends the call from the server side (bad request stream, deadline, stop):
 * the client gets @code, the handler (if it was invoked) "cancelled". */
static void
call_abort (NbGrpcServerCall *call, int http_status, int code, const char *message)
{
  if (call->finished)
    return;
  call_discard_queue (call);
  call_end (call, http_status, code, message);
  call->cancelled = TRUE;
  if (call->started)
    call_push_event (call, EVENT_CANCELLED, NULL, g_error_new_literal (NB_GRPC_ERROR, code, message));
}

/* The stream is gone (closed, reset, connection lost). */
static void
call_detach (NbGrpcServerCall *call, GError *reason)
{
  if (!call->finished)
    {
      call->finished = TRUE;
      call->cancelled = TRUE;
      if (call->started)
        call_push_event (call, EVENT_CANCELLED, NULL, g_steal_pointer (&reason));
    }
  g_clear_error (&reason);
  nb_grpc_h2_clear_source (&call->deadline_source);
  g_queue_clear_full (&call->send_queue, (GDestroyNotify) g_bytes_unref);
  call->send_offset = 0;
  call->send_queue_size = 0;
  call->conn = NULL;
}

static gboolean
call_deadline_cb (gpointer data)
{
  NbGrpcServerCall *call = data;

  g_clear_pointer (&call->deadline_source, g_source_unref);
  call_abort (call, 200, NB_GRPC_STATUS_DEADLINE_EXCEEDED, "deadline exceeded");
  return G_SOURCE_REMOVE;
}

/* ------------------------------------------------------------------------ */
/* nghttp2 callbacks */

static ssize_t
data_read_cb (nghttp2_session *session, int32_t stream_id, uint8_t *buf, size_t length,
              uint32_t *data_flags, nghttp2_data_source *source, void *user_data)
{
  NbGrpcServerCall *call = nghttp2_session_get_stream_user_data (session, stream_id);
  gsize copied = 0;

  if (call == NULL)
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* resets the stream */

  copied = nb_grpc_h2_send_queue_read (&call->send_queue, &call->send_offset,
                                       &call->send_queue_size, buf, length);

  if (g_queue_is_empty (&call->send_queue))
    {
      if (call->finished)
        {
          Nva nva;
          int rv;

          *data_flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
          nva_init (&nva);
          nva_add_status (&nva, call);
          rv = nghttp2_submit_trailer (session, stream_id, (const nghttp2_nv *) nva.nva->data,
                                       nva.nva->len);
          nva_clear (&nva);
          if (rv != 0)
            return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
        }
      else
        {
          if (call->sent_since_drained)
            {
              call->sent_since_drained = FALSE;
              call_push_event (call, EVENT_DRAINED, NULL, NULL);
            }
          if (copied == 0)
            {
              call->data_deferred = TRUE;
              return NGHTTP2_ERR_DEFERRED;
            }
        }
    }
  return (ssize_t) copied;
}

static int
on_begin_headers_cb (nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
  ServerConn *c = user_data;
  NbGrpcServerCall *call;

  if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
    return 0;
  call = g_object_new (NB_TYPE_GRPC_SERVER_CALL, NULL);
  call->conn = c;
  call->stream_id = frame->hd.stream_id;
  call->peer = g_strdup (c->peer);
  call->metadata = nb_grpc_h2_header_table_new ();
  nghttp2_session_set_stream_user_data (session, frame->hd.stream_id, call);
  g_hash_table_insert (c->streams, GINT_TO_POINTER (frame->hd.stream_id), call);
  return 0;
}

static int
on_header_cb (nghttp2_session *session, const nghttp2_frame *frame,
              const uint8_t *name, size_t namelen,
              const uint8_t *value, size_t valuelen,
              uint8_t flags, void *user_data)
{
  NbGrpcServerCall *call;

  /* Only the request headers; client trailers carry nothing for gRPC. */
  if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
    return 0;
  call = nghttp2_session_get_stream_user_data (session, frame->hd.stream_id);
  if (call == NULL || call->headers_too_large)
    return 0;

  call->header_bytes += namelen + valuelen + 32;
  if (call->header_bytes > NB_GRPC_H2_MAX_HEADER_LIST_BYTES)
    {
      call->headers_too_large = TRUE;
      return 0;
    }

#define IS(lit) (namelen == strlen (lit) && memcmp (name, lit, namelen) == 0)
  if (IS (":path"))
    {
      g_free (call->path);
      call->path = g_strndup ((const char *) value, valuelen);
    }
  else if (IS (":method"))
    {
      g_free (call->http_method);
      call->http_method = g_strndup ((const char *) value, valuelen);
    }
  else if (namelen > 0 && name[0] == ':')
    ; /* :scheme, :authority */
  else if (IS ("content-type"))
    {
      g_free (call->content_type);
      call->content_type = g_strndup ((const char *) value, valuelen);
    }
  else if (IS ("grpc-timeout"))
    {
      g_free (call->grpc_timeout);
      call->grpc_timeout = g_strndup ((const char *) value, valuelen);
    }
  else if (IS ("te"))
    ;
  else
    nb_grpc_h2_header_table_add (call->metadata, (const char *) name, namelen,
                                 (const char *) value, valuelen);
#undef IS
  return 0;
}

static Method *
server_lookup_method (ServerConn *c, const char *path)
{
  if (c->server == NULL || path == NULL)
    return NULL;
  return g_hash_table_lookup (c->server->methods, path);
}

static void
on_request_headers (ServerConn *c, NbGrpcServerCall *call)
{
  Method *method;
  gint64 timeout_us;

  g_debug ("connection %u: stream %d %s %s from %s", c->id, call->stream_id,
           call->http_method ? call->http_method : "?", call->path ? call->path : "?", c->peer);

  if (call->headers_too_large)
    {
      call_abort (call, 200, NB_GRPC_STATUS_RESOURCE_EXHAUSTED, "request header list too large");
      return;
    }
  if (g_strcmp0 (call->http_method, "POST") != 0)
    {
      call_abort (call, 405, NB_GRPC_STATUS_INTERNAL, "gRPC requires the POST method");
      return;
    }
  if (!nb_grpc_h2_content_type_is_grpc (call->content_type))
    {
      call_abort (call, 415, NB_GRPC_STATUS_INTERNAL, "invalid gRPC request content-type");
      return;
    }
  method = server_lookup_method (c, call->path);
  if (method == NULL)
    {
      g_autofree char *message = g_strdup_printf ("unknown method %s", call->path ? call->path : "");

      call_abort (call, 200, NB_GRPC_STATUS_UNIMPLEMENTED, message);
      return;
    }
  call->method = method_ref (method);
  call->decoder = nb_grpc_frame_decoder_new (c->max_receive_message_size);

  if (call->grpc_timeout)
    {
      if (nb_grpc_h2_parse_timeout (call->grpc_timeout, &timeout_us))
        {
          guint64 ms = ((guint64) timeout_us + 999) / 1000;

          call->deadline_us = g_get_monotonic_time () + timeout_us;
          call->deadline_source = nb_grpc_h2_timeout_source ((guint) MIN (ms, G_MAXUINT),
                                                             call_deadline_cb, call, NULL);
        }
      else
        {
          call_abort (call, 200, NB_GRPC_STATUS_INTERNAL, "invalid grpc-timeout");
          return;
        }
    }

  if (method->type == NB_GRPC_METHOD_BIDI_STREAMING)
    {
      call->started = TRUE;
      call_push_event (call, EVENT_START, NULL, NULL);
    }
}

static void
on_remote_end (NbGrpcServerCall *call)
{
  g_autoptr (GError) error = NULL;

  call->remote_closed = TRUE;
  if (call->finished || call->method == NULL)
    return;
  if (!nb_grpc_frame_decoder_finish (call->decoder, &error))
    {
      call_abort (call, 200, error->code, error->message);
      return;
    }
  if (call->method->type == NB_GRPC_METHOD_BIDI_STREAMING)
    {
      call_push_event (call, EVENT_HALF_CLOSED, NULL, NULL);
      return;
    }
  if (call->request == NULL)
    {
      call_abort (call, 200, NB_GRPC_STATUS_INTERNAL, "no request message for a unary request");
      return;
    }
  call->started = TRUE;
  call_push_event (call, EVENT_START, g_steal_pointer (&call->request), NULL);
}

static int
on_frame_recv_cb (nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
  ServerConn *c = user_data;
  NbGrpcServerCall *call = NULL;

  if (frame->hd.stream_id != 0)
    call = nghttp2_session_get_stream_user_data (session, frame->hd.stream_id);

  switch (frame->hd.type)
    {
    case NGHTTP2_HEADERS:
      if (call == NULL)
        break;
      if (frame->headers.cat == NGHTTP2_HCAT_REQUEST)
        on_request_headers (c, call);
      if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)
        on_remote_end (call);
      break;

    case NGHTTP2_DATA:
      if (call && (frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
        on_remote_end (call);
      break;

    case NGHTTP2_SETTINGS:
      if (!(frame->hd.flags & NGHTTP2_FLAG_ACK) && !c->preface_received)
        {
          c->preface_received = TRUE;
          nb_grpc_h2_clear_source (&c->handshake_timer);
        }
      break;

    case NGHTTP2_GOAWAY:
      g_debug ("connection %u: client sent GOAWAY (%s)", c->id,
               nghttp2_http2_strerror (frame->goaway.error_code));
      c->client_goaway = TRUE;
      c->client_goaway_error = frame->goaway.error_code;
      sconn_schedule_flush (c); /* closes the connection once it is idle */
      break;

    default:
      break;
    }
  return 0;
}

static int
on_data_chunk_recv_cb (nghttp2_session *session, uint8_t flags, int32_t stream_id,
                       const uint8_t *data, size_t len, void *user_data)
{
  NbGrpcServerCall *call = nghttp2_session_get_stream_user_data (session, stream_id);
  GError *error = NULL;
  GBytes *message;
  gboolean ok;

  if (call == NULL || call->finished || call->decoder == NULL)
    return 0; /* ignored; nghttp2 still returns the flow-control credit */

  ok = nb_grpc_frame_decoder_feed (call->decoder, data, len, &error);
  while ((message = nb_grpc_frame_decoder_pop (call->decoder)) != NULL)
    {
      if (call->method->type == NB_GRPC_METHOD_BIDI_STREAMING)
        call_push_event (call, EVENT_MESSAGE, message, NULL);
      else if (call->request == NULL && !call->started)
        call->request = message;
      else
        {
          g_bytes_unref (message);
          if (ok)
            {
              ok = FALSE;
              error = g_error_new_literal (NB_GRPC_ERROR, NB_GRPC_STATUS_INTERNAL,
                                           "more than one request message for a unary request");
            }
          break;
        }
    }
  if (!ok)
    {
      call_abort (call, 200, error->code, error->message);
      g_error_free (error);
    }
  return 0;
}

static int
on_frame_send_cb (nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
  /* The response is complete while the client still sends: tell it to stop
   * (RST_STREAM NO_ERROR, as the gRPC HTTP/2 protocol asks). */
  if ((frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA)
      && (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)
      && nghttp2_session_get_stream_remote_close (session, frame->hd.stream_id) == 0)
    nghttp2_submit_rst_stream (session, NGHTTP2_FLAG_NONE, frame->hd.stream_id, NGHTTP2_NO_ERROR);
  return 0;
}

static int
on_stream_close_cb (nghttp2_session *session, int32_t stream_id, uint32_t error_code, void *user_data)
{
  ServerConn *c = user_data;
  NbGrpcServerCall *call = nghttp2_session_get_stream_user_data (session, stream_id);
  GError *reason;

  if (call == NULL)
    return 0;
  nghttp2_session_set_stream_user_data (session, stream_id, NULL);
  if (error_code == NGHTTP2_CANCEL || error_code == NGHTTP2_NO_ERROR)
    reason = g_error_new_literal (NB_GRPC_ERROR, NB_GRPC_STATUS_CANCELLED, "cancelled by the client");
  else
    reason = g_error_new (NB_GRPC_ERROR, NB_GRPC_STATUS_CANCELLED, "stream reset: %s",
                          nghttp2_http2_strerror (error_code));
  if (!call->finished)
    g_debug ("connection %u: stream %d %s: %s", c->id, stream_id,
             call->path ? call->path : "?", reason->message);
  call_detach (call, reason);
  g_hash_table_remove (c->streams, GINT_TO_POINTER (stream_id)); /* may free @call */
  sconn_schedule_flush (c); /* a draining connection may now be idle */
  return 0;
}

static int
on_error_cb (nghttp2_session *session, int lib_error_code, const char *msg, size_t len, void *user_data)
{
  ServerConn *c = user_data;

  g_debug ("connection %u: nghttp2: %.*s", c->id, (int) len, msg);
  g_free (c->lib_error);
  c->lib_error = g_strndup (msg, len);
  return 0;
}

/* ------------------------------------------------------------------------ */
/* ServerConn */

static ServerConn *
sconn_ref (ServerConn *c)
{
  c->ref_count++;
  return c;
}

static void
sconn_close_io (ServerConn *c)
{
  nb_grpc_h2_clear_source (&c->read_source);
  nb_grpc_h2_clear_source (&c->reread_source);
  nb_grpc_h2_clear_source (&c->write_source);
  nb_grpc_h2_clear_source (&c->flush_source);
  nb_grpc_h2_clear_source (&c->handshake_timer);
  g_cancellable_cancel (c->cancellable);
  if (c->tcp)
    g_io_stream_close (G_IO_STREAM (c->tcp), NULL, NULL);
  c->in = NULL;
  c->out = NULL;
  g_clear_object (&c->stream);
  g_clear_object (&c->tcp);
}

static void
sconn_unref (ServerConn *c)
{
  if (c == NULL || --c->ref_count > 0)
    return;
  g_assert (g_hash_table_size (c->streams) == 0);
  sconn_close_io (c);
  g_clear_object (&c->cancellable);
  g_clear_pointer (&c->session, nghttp2_session_del);
  g_hash_table_unref (c->streams);
  g_byte_array_unref (c->outbuf);
  g_free (c->readbuf);
  g_free (c->peer);
  g_free (c->lib_error);
  g_free (c);
}

static gboolean
server_connection_closed_cb (gpointer data)
{
  g_signal_emit (data, server_signals[SERVER_SIGNAL_CONNECTION_CLOSED], 0);
  return G_SOURCE_REMOVE;
}

/* Closes @c; its unfinished calls are cancelled with @reason (owned; NULL:
 * UNAVAILABLE "connection closed"). */
static void
sconn_close (ServerConn *c, GError *reason)
{
  g_autoptr (ServerConn) hold = NULL;
  g_autoptr (GPtrArray) calls = NULL;
  NbGrpcServer *server = c->server;
  GHashTableIter iter;
  gpointer value;

  if (c->state == SCONN_DEAD)
    {
      g_clear_error (&reason);
      return;
    }
  hold = sconn_ref (c);
  if (reason == NULL)
    reason = g_error_new_literal (NB_GRPC_ERROR, NB_GRPC_STATUS_UNAVAILABLE, "connection closed");
  g_debug ("connection %u from %s closed: %s", c->id, c->peer, reason->message);

  c->state = SCONN_DEAD;
  sconn_close_io (c);

  calls = g_ptr_array_new_with_free_func (g_object_unref);
  g_hash_table_iter_init (&iter, c->streams);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    g_ptr_array_add (calls, g_object_ref (value));
  g_hash_table_remove_all (c->streams);
  for (guint i = 0; i < calls->len; i++)
    call_detach (calls->pdata[i], g_error_copy (reason));
  g_clear_error (&reason);

  if (server)
    {
      GList *link = g_list_find (server->connections, c);

      c->server = NULL;
      if (link)
        {
          server->connections = g_list_delete_link (server->connections, link);
          sconn_unref (c);
        }
      if (!server->disposed)
        g_source_unref (nb_grpc_h2_idle_source (server_connection_closed_cb, g_object_ref (server),
                                                g_object_unref));
    }
}

static void
sconn_close_literal (ServerConn *c, int code, const char *format, ...) G_GNUC_PRINTF (3, 4);

static void
sconn_close_literal (ServerConn *c, int code, const char *format, ...)
{
  va_list args;
  g_autofree char *message = NULL;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  sconn_close (c, g_error_new_literal (NB_GRPC_ERROR, code, message));
}

static gboolean sconn_write_ready_cb (GObject *stream, gpointer data);

static void
sconn_flush (ServerConn *c)
{
  g_autoptr (ServerConn) hold = NULL;
  g_autoptr (GError) error = NULL;

  if (c->state != SCONN_READY || c->session == NULL)
    return;
  hold = sconn_ref (c);

  switch (nb_grpc_h2_send (c->session, c->out, c->outbuf, &c->out_off, &error))
    {
    case NB_GRPC_H2_SEND_DONE:
      break;
    case NB_GRPC_H2_SEND_BLOCKED:
      if (c->write_source == NULL)
        {
          c->write_source = g_pollable_output_stream_create_source (c->out, NULL);
          nb_grpc_h2_attach_source (c->write_source, G_SOURCE_FUNC (sconn_write_ready_cb), c, NULL);
        }
      return;
    case NB_GRPC_H2_SEND_ERROR:
      sconn_close_literal (c, NB_GRPC_STATUS_UNAVAILABLE, "write to %s failed: %s", c->peer,
                           error->message);
      return;
    }

  if (!nghttp2_session_want_read (c->session) && !nghttp2_session_want_write (c->session))
    {
      if (c->client_goaway && c->client_goaway_error == NGHTTP2_NO_ERROR)
        sconn_close_literal (c, NB_GRPC_STATUS_UNAVAILABLE, "client sent GOAWAY");
      else
        sconn_close_literal (c, NB_GRPC_STATUS_UNAVAILABLE, "HTTP/2 session ended%s%s",
                             c->lib_error ? ": " : "", c->lib_error ? c->lib_error : "");
    }
}

static gboolean
sconn_write_ready_cb (GObject *stream, gpointer data)
{
  ServerConn *c = data;

  nb_grpc_h2_clear_source (&c->write_source);
  sconn_flush (c);
  return G_SOURCE_REMOVE;
}

static gboolean
sconn_flush_idle_cb (gpointer data)
{
  ServerConn *c = data;

  g_clear_pointer (&c->flush_source, g_source_unref);
  sconn_flush (c);
  return G_SOURCE_REMOVE;
}

static void
sconn_schedule_flush (ServerConn *c)
{
  if (c->state != SCONN_READY || c->flush_source != NULL)
    return;
  /* Borrowed pointer: sconn_close_io() destroys the source first. */
  c->flush_source = nb_grpc_h2_idle_source (sconn_flush_idle_cb, c, NULL);
}

/* Something that is not HTTP/2 with prior knowledge: an HTTP/1 request gets
 * a short answer before the connection closes. */
static void
sconn_reject_http1 (ServerConn *c, const guint8 *data, gsize len)
{
  static const char response[] =
    "HTTP/1.1 400 Bad Request\r\n"
    "Content-Type: text/plain\r\n"
    "Content-Length: 37\r\n"
    "Connection: close\r\n"
    "\r\n"
    "This is an HTTP/2 (gRPC) server only\n";
  gsize i = 0;

  while (i < len && i < 16 && g_ascii_isupper (data[i]))
    i++;
  if (i == 0 || i >= len || data[i] != ' ' || c->out == NULL)
    return;
  g_pollable_output_stream_write_nonblocking (c->out, response, sizeof response - 1, NULL, NULL);
}

static gboolean sconn_reread_cb (gpointer data);

static gboolean
sconn_read_cb (GObject *stream, gpointer data)
{
  ServerConn *c = data;
  g_autoptr (ServerConn) hold = sconn_ref (c);
  gboolean drained = FALSE;

  for (int i = 0; i < READS_PER_DISPATCH && c->state == SCONN_READY; i++)
    {
      g_autoptr (GError) error = NULL;
      gssize n;
      ssize_t rv;

      n = g_pollable_input_stream_read_nonblocking (c->in, c->readbuf, READ_CHUNK, NULL, &error);
      if (n < 0)
        {
          if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
            {
              drained = TRUE;
              break;
            }
          sconn_close_literal (c, NB_GRPC_STATUS_UNAVAILABLE, "read from %s failed: %s", c->peer,
                               error->message);
          return G_SOURCE_REMOVE;
        }
      if (n == 0)
        {
          sconn_close_literal (c, NB_GRPC_STATUS_UNAVAILABLE, "connection closed by the client");
          return G_SOURCE_REMOVE;
        }

      rv = nghttp2_session_mem_recv (c->session, c->readbuf, (size_t) n);
      if (rv < 0)
        {
          if (rv == NGHTTP2_ERR_BAD_CLIENT_MAGIC && !c->preface_received)
            sconn_reject_http1 (c, c->readbuf, (gsize) n);
          sconn_close_literal (c, NB_GRPC_STATUS_UNAVAILABLE, "HTTP/2 protocol error from %s: %s",
                               c->peer, nghttp2_strerror ((int) rv));
          return G_SOURCE_REMOVE;
        }
      if (c->client_goaway_error != NGHTTP2_NO_ERROR)
        {
          sconn_close_literal (c, NB_GRPC_STATUS_UNAVAILABLE, "client sent GOAWAY (%s)",
                               nghttp2_http2_strerror (c->client_goaway_error));
          return G_SOURCE_REMOVE;
        }
      if (!nghttp2_session_want_read (c->session))
        {
          drained = TRUE;
          break;
        }
    }

  if (c->state != SCONN_READY)
    return G_SOURCE_REMOVE;
  /* A TLS layer may hold decrypted input the socket source cannot see. */
  if (!drained && c->reread_source == NULL)
    c->reread_source = nb_grpc_h2_idle_source (sconn_reread_cb, c, NULL);
  sconn_flush (c);
  return G_SOURCE_CONTINUE;
}

static gboolean
sconn_reread_cb (gpointer data)
{
  ServerConn *c = data;

  nb_grpc_h2_clear_source (&c->reread_source);
  sconn_read_cb (NULL, c);
  return G_SOURCE_REMOVE;
}

static gboolean
sconn_handshake_timeout_cb (gpointer data)
{
  ServerConn *c = data;

  nb_grpc_h2_clear_source (&c->handshake_timer);
  sconn_close_literal (c, NB_GRPC_STATUS_UNAVAILABLE,
                       "no TLS handshake / HTTP/2 preface within %u ms",
                       NB_GRPC_SERVER_HANDSHAKE_TIMEOUT_MS);
  return G_SOURCE_REMOVE;
}

static void
sconn_start_session (ServerConn *c, GIOStream *stream)
{
  nghttp2_session_callbacks *callbacks = NULL;
  nghttp2_option *option = NULL;
  nghttp2_settings_entry settings[] = {
    { NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, MAX_CONCURRENT_STREAMS },
    { NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, STREAM_WINDOW_SIZE },
    { NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, NB_GRPC_H2_MAX_HEADER_LIST_BYTES },
  };
  int rv;

  c->stream = g_object_ref (stream);
  c->in = G_POLLABLE_INPUT_STREAM (g_io_stream_get_input_stream (stream));
  c->out = G_POLLABLE_OUTPUT_STREAM (g_io_stream_get_output_stream (stream));

  nghttp2_session_callbacks_new (&callbacks);
  nghttp2_session_callbacks_set_on_begin_headers_callback (callbacks, on_begin_headers_cb);
  nghttp2_session_callbacks_set_on_header_callback (callbacks, on_header_cb);
  nghttp2_session_callbacks_set_on_frame_recv_callback (callbacks, on_frame_recv_cb);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback (callbacks, on_data_chunk_recv_cb);
  nghttp2_session_callbacks_set_on_frame_send_callback (callbacks, on_frame_send_cb);
  nghttp2_session_callbacks_set_on_stream_close_callback (callbacks, on_stream_close_cb);
  nghttp2_session_callbacks_set_error_callback2 (callbacks, on_error_cb);
  nghttp2_option_new (&option);
  rv = nghttp2_session_server_new2 (&c->session, callbacks, c, option);
  nghttp2_option_del (option);
  nghttp2_session_callbacks_del (callbacks);
  if (rv != 0)
    {
      sconn_close_literal (c, NB_GRPC_STATUS_INTERNAL, "cannot create HTTP/2 session: %s",
                           nghttp2_strerror (rv));
      return;
    }
  nghttp2_submit_settings (c->session, NGHTTP2_FLAG_NONE, settings, G_N_ELEMENTS (settings));
  nghttp2_session_set_local_window_size (c->session, NGHTTP2_FLAG_NONE, 0, CONNECTION_WINDOW);

  c->state = SCONN_READY;
  c->read_source = g_pollable_input_stream_create_source (c->in, NULL);
  nb_grpc_h2_attach_source (c->read_source, G_SOURCE_FUNC (sconn_read_cb), c, NULL);
  sconn_schedule_flush (c);
}

static void
sconn_tls_handshake_cb (GObject *source, GAsyncResult *result, gpointer data)
{
  g_autoptr (ServerConn) c = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GTlsConnection) tls = G_TLS_CONNECTION (source); /* the reference from accept */
  const char *alpn;

  if (!g_tls_connection_handshake_finish (tls, result, &error))
    {
      if (c->state == SCONN_HANDSHAKE)
        sconn_close_literal (c, NB_GRPC_STATUS_UNAVAILABLE, "TLS handshake with %s failed: %s",
                             c->peer, error->message);
      return;
    }
  if (c->state != SCONN_HANDSHAKE)
    return;
  alpn = g_tls_connection_get_negotiated_protocol (tls);
  if (alpn != NULL && strcmp (alpn, "h2") != 0)
    {
      sconn_close_literal (c, NB_GRPC_STATUS_UNAVAILABLE, "client %s negotiated ALPN \"%s\"",
                           c->peer, alpn);
      return;
    }
  g_debug ("connection %u: TLS established (ALPN %s)", c->id, alpn ? alpn : "none");
  sconn_start_session (c, G_IO_STREAM (tls));
}

static char *
format_peer (GSocketConnection *tcp)
{
  g_autoptr (GSocketAddress) address = g_socket_connection_get_remote_address (tcp, NULL);
  g_autofree char *ip = NULL;
  GInetAddress *inet;
  guint16 port;

  if (!G_IS_INET_SOCKET_ADDRESS (address))
    return g_strdup ("unknown");
  inet = g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (address));
  port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (address));
  ip = g_inet_address_to_string (inet);
  if (g_inet_address_get_family (inet) == G_SOCKET_FAMILY_IPV6)
    return g_strdup_printf ("[%s]:%u", ip, port);
  return g_strdup_printf ("%s:%u", ip, port);
}

static gboolean
server_incoming_cb (GSocketService *service, GSocketConnection *tcp, GObject *source_object,
                    gpointer data)
{
  NbGrpcServer *self = data;
  ServerConn *c;

  if (self->stopped)
    {
      g_io_stream_close (G_IO_STREAM (tcp), NULL, NULL);
      return TRUE;
    }

  c = g_new0 (ServerConn, 1);
  c->ref_count = 1; /* the server's list */
  c->id = ++self->next_conn_id;
  c->server = self;
  c->state = SCONN_HANDSHAKE;
  c->peer = format_peer (tcp);
  c->max_receive_message_size = self->max_receive_message_size;
  c->cancellable = g_cancellable_new ();
  c->tcp = g_object_ref (tcp);
  c->readbuf = g_malloc (READ_CHUNK);
  c->outbuf = g_byte_array_new ();
  c->streams = g_hash_table_new_full (NULL, NULL, NULL, g_object_unref);
  self->connections = g_list_prepend (self->connections, c);
  g_socket_set_option (g_socket_connection_get_socket (tcp), IPPROTO_TCP, TCP_NODELAY, 1, NULL);
  c->handshake_timer = nb_grpc_h2_timeout_source (NB_GRPC_SERVER_HANDSHAKE_TIMEOUT_MS,
                                                  sconn_handshake_timeout_cb, c, NULL);
  g_debug ("connection %u from %s (%s)", c->id, c->peer, self->tls_certificate ? "TLS" : "h2c");

  if (self->tls_certificate)
    {
      g_autoptr (GError) error = NULL;
      const char *const alpn[] = { "h2", NULL };
      GIOStream *tls = g_tls_server_connection_new (G_IO_STREAM (tcp), self->tls_certificate, &error);

      if (tls == NULL)
        {
          sconn_close_literal (c, NB_GRPC_STATUS_UNAVAILABLE, "cannot start TLS: %s", error->message);
          return TRUE;
        }
      g_tls_connection_set_advertised_protocols (G_TLS_CONNECTION (tls), alpn);
      /* The callback takes @tls and a connection reference. */
      g_tls_connection_handshake_async (G_TLS_CONNECTION (tls), G_PRIORITY_DEFAULT, c->cancellable,
                                        sconn_tls_handshake_cb, sconn_ref (c));
      return TRUE;
    }
  sconn_start_session (c, G_IO_STREAM (tcp));
  return TRUE;
}

/* GOAWAY after ending the calls with UNAVAILABLE, one non-blocking write
 * attempt, then close. */
static void
sconn_shutdown (ServerConn *c)
{
  g_autoptr (ServerConn) hold = sconn_ref (c);

  if (c->state == SCONN_READY && c->session)
    {
      g_autoptr (GPtrArray) calls = g_ptr_array_new_with_free_func (g_object_unref);
      GHashTableIter iter;
      gpointer value;

      g_hash_table_iter_init (&iter, c->streams);
      while (g_hash_table_iter_next (&iter, NULL, &value))
        g_ptr_array_add (calls, g_object_ref (value));
      for (guint i = 0; i < calls->len; i++)
        call_abort (calls->pdata[i], 200, NB_GRPC_STATUS_UNAVAILABLE, "server is shutting down");
      nghttp2_submit_goaway (c->session, NGHTTP2_FLAG_NONE,
                             nghttp2_session_get_last_proc_stream_id (c->session),
                             NGHTTP2_NO_ERROR, NULL, 0);
      nb_grpc_h2_send (c->session, c->out, c->outbuf, &c->out_off, NULL);
    }
  sconn_close (c, g_error_new_literal (NB_GRPC_ERROR, NB_GRPC_STATUS_UNAVAILABLE,
                                       "server is shutting down"));
}

/* ------------------------------------------------------------------------ */
/* NbGrpcServerCall GObject */

G_DEFINE_FINAL_TYPE (NbGrpcServerCall, nb_grpc_server_call, G_TYPE_OBJECT)

static void
nb_grpc_server_call_init (NbGrpcServerCall *call)
{
  g_queue_init (&call->send_queue);
  g_queue_init (&call->events);
}

static void
nb_grpc_server_call_dispose (GObject *object)
{
  NbGrpcServerCall *call = NB_GRPC_SERVER_CALL (object);

  /* While the stream exists its connection holds a reference, so here the
   * call is detached already. */
  nb_grpc_h2_clear_source (&call->deadline_source);
  nb_grpc_h2_clear_source (&call->dispatch_source);
  g_queue_clear_full (&call->events, (GDestroyNotify) event_free);
  g_queue_clear_full (&call->send_queue, (GDestroyNotify) g_bytes_unref);
  G_OBJECT_CLASS (nb_grpc_server_call_parent_class)->dispose (object);
}

static void
nb_grpc_server_call_finalize (GObject *object)
{
  NbGrpcServerCall *call = NB_GRPC_SERVER_CALL (object);

  g_clear_pointer (&call->method, method_unref);
  g_free (call->peer);
  g_free (call->path);
  g_free (call->http_method);
  g_free (call->content_type);
  g_free (call->grpc_timeout);
  g_clear_pointer (&call->metadata, g_hash_table_unref);
  g_clear_pointer (&call->decoder, nb_grpc_frame_decoder_free);
  g_clear_pointer (&call->request, g_bytes_unref);
  g_clear_pointer (&call->trailers_extra, g_hash_table_unref);
  g_free (call->status_message);
  G_OBJECT_CLASS (nb_grpc_server_call_parent_class)->finalize (object);
}

static void
nb_grpc_server_call_class_init (NbGrpcServerCallClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = nb_grpc_server_call_dispose;
  object_class->finalize = nb_grpc_server_call_finalize;

  call_signals[CALL_SIGNAL_MESSAGE] =
    g_signal_new ("message", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 1, G_TYPE_BYTES);
  call_signals[CALL_SIGNAL_HALF_CLOSED] =
    g_signal_new ("half-closed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 0);
  call_signals[CALL_SIGNAL_DRAINED] =
    g_signal_new ("drained", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 0);
  call_signals[CALL_SIGNAL_CANCELLED] =
    g_signal_new ("cancelled", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 1, G_TYPE_ERROR);
}

const char *
nb_grpc_server_call_get_path (NbGrpcServerCall *call)
{
  g_return_val_if_fail (NB_IS_GRPC_SERVER_CALL (call), NULL);
  return call->path;
}

NbGrpcMethodType
nb_grpc_server_call_get_method_type (NbGrpcServerCall *call)
{
  g_return_val_if_fail (NB_IS_GRPC_SERVER_CALL (call), NB_GRPC_METHOD_UNARY);
  return call->method ? call->method->type : NB_GRPC_METHOD_UNARY;
}

GHashTable *
nb_grpc_server_call_get_metadata (NbGrpcServerCall *call)
{
  g_return_val_if_fail (NB_IS_GRPC_SERVER_CALL (call), NULL);
  return call->metadata;
}

const char *
nb_grpc_server_call_get_metadata_value (NbGrpcServerCall *call, const char *name)
{
  g_return_val_if_fail (NB_IS_GRPC_SERVER_CALL (call), NULL);
  g_return_val_if_fail (name != NULL, NULL);
  return g_hash_table_lookup (call->metadata, name);
}

const char *
nb_grpc_server_call_get_peer (NbGrpcServerCall *call)
{
  g_return_val_if_fail (NB_IS_GRPC_SERVER_CALL (call), NULL);
  return call->peer;
}

gint64
nb_grpc_server_call_get_deadline (NbGrpcServerCall *call)
{
  g_return_val_if_fail (NB_IS_GRPC_SERVER_CALL (call), 0);
  return call->deadline_us;
}

gboolean
nb_grpc_server_call_is_active (NbGrpcServerCall *call)
{
  g_return_val_if_fail (NB_IS_GRPC_SERVER_CALL (call), FALSE);
  return !call->finished;
}

gboolean
nb_grpc_server_call_is_cancelled (NbGrpcServerCall *call)
{
  g_return_val_if_fail (NB_IS_GRPC_SERVER_CALL (call), FALSE);
  return call->cancelled;
}

void
nb_grpc_server_call_send_headers (NbGrpcServerCall *call, GHashTable *headers)
{
  g_autoptr (GError) error = NULL;

  g_return_if_fail (NB_IS_GRPC_SERVER_CALL (call));

  if (call->finished)
    return;
  if (call->headers_sent)
    {
      g_critical ("%s: response headers of %s were sent already", G_STRFUNC, call->path);
      return;
    }
  if (!nb_grpc_h2_metadata_validate (headers, &error))
    {
      g_critical ("%s: %s", G_STRFUNC, error->message);
      return;
    }
  call_ensure_headers (call, headers);
}

void
nb_grpc_server_call_set_trailer (NbGrpcServerCall *call, const char *name, const char *value)
{
  g_return_if_fail (NB_IS_GRPC_SERVER_CALL (call));
  g_return_if_fail (nb_grpc_h2_metadata_entry_is_valid (name, value));

  if (call->finished)
    return;
  if (call->trailers_extra == NULL)
    call->trailers_extra = nb_grpc_h2_header_table_new ();
  g_hash_table_replace (call->trailers_extra, g_strdup (name), g_strdup (value));
}

void
nb_grpc_server_call_send (NbGrpcServerCall *call, GBytes *message)
{
  GBytes *framed;

  g_return_if_fail (NB_IS_GRPC_SERVER_CALL (call));
  g_return_if_fail (message != NULL);
  g_return_if_fail (g_bytes_get_size (message) <= G_MAXUINT32);

  if (call->finished || !call_can_send (call))
    return;
  framed = nb_grpc_frame_encode (message);
  call->send_queue_size += g_bytes_get_size (framed);
  call->sent_since_drained = TRUE;
  g_queue_push_tail (&call->send_queue, framed);
  call_ensure_headers (call, NULL);
  call_resume (call);
}

gsize
nb_grpc_server_call_get_send_queue_size (NbGrpcServerCall *call)
{
  g_return_val_if_fail (NB_IS_GRPC_SERVER_CALL (call), 0);
  return call->send_queue_size;
}

void
nb_grpc_server_call_finish (NbGrpcServerCall *call, NbGrpcStatus status, const char *message)
{
  g_return_if_fail (NB_IS_GRPC_SERVER_CALL (call));
  g_return_if_fail ((int) status >= 0 && status <= NB_GRPC_STATUS_MAX);

  call_end (call, 200, status, message);
}

void
nb_grpc_server_call_reply (NbGrpcServerCall *call, GBytes *response)
{
  g_return_if_fail (NB_IS_GRPC_SERVER_CALL (call));
  g_return_if_fail (response != NULL);

  nb_grpc_server_call_send (call, response);
  call_end (call, 200, NB_GRPC_STATUS_OK, NULL);
}

void
nb_grpc_server_call_fail (NbGrpcServerCall *call, NbGrpcStatus status, const char *message)
{
  g_return_if_fail (NB_IS_GRPC_SERVER_CALL (call));
  g_return_if_fail (status > NB_GRPC_STATUS_OK && status <= NB_GRPC_STATUS_MAX);

  call_end (call, 200, status, message);
}

void
nb_grpc_server_call_fail_error (NbGrpcServerCall *call, const GError *error)
{
  int code = NB_GRPC_STATUS_UNKNOWN;

  g_return_if_fail (NB_IS_GRPC_SERVER_CALL (call));
  g_return_if_fail (error != NULL);

  if (error->domain == NB_GRPC_ERROR && error->code > 0 && error->code <= NB_GRPC_STATUS_MAX)
    code = error->code;
  else if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    code = NB_GRPC_STATUS_CANCELLED;
  call_end (call, 200, code, error->message);
}

/* ------------------------------------------------------------------------ */
/* NbGrpcServer GObject */

G_DEFINE_FINAL_TYPE (NbGrpcServer, nb_grpc_server, G_TYPE_OBJECT)

static void
nb_grpc_server_init (NbGrpcServer *self)
{
  self->methods = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                         (GDestroyNotify) method_unref);
  self->max_receive_message_size = NB_GRPC_SERVER_DEFAULT_MAX_RECEIVE_MESSAGE_SIZE;
}

static void
nb_grpc_server_dispose (GObject *object)
{
  NbGrpcServer *self = NB_GRPC_SERVER (object);

  self->disposed = TRUE;
  nb_grpc_server_stop (self);
  if (self->service)
    g_signal_handlers_disconnect_by_data (self->service, self);
  g_clear_object (&self->service);
  g_clear_object (&self->tls_certificate);
  g_hash_table_remove_all (self->methods);
  G_OBJECT_CLASS (nb_grpc_server_parent_class)->dispose (object);
}

static void
nb_grpc_server_finalize (GObject *object)
{
  NbGrpcServer *self = NB_GRPC_SERVER (object);

  g_hash_table_unref (self->methods);
  G_OBJECT_CLASS (nb_grpc_server_parent_class)->finalize (object);
}

static void
nb_grpc_server_class_init (NbGrpcServerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = nb_grpc_server_dispose;
  object_class->finalize = nb_grpc_server_finalize;

  server_signals[SERVER_SIGNAL_CONNECTION_CLOSED] =
    g_signal_new ("connection-closed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL,
                  NULL, NULL, G_TYPE_NONE, 0);
}

NbGrpcServer *
nb_grpc_server_new (GTlsCertificate *tls_certificate)
{
  NbGrpcServer *self;

  g_return_val_if_fail (tls_certificate == NULL || G_IS_TLS_CERTIFICATE (tls_certificate), NULL);

  self = g_object_new (NB_TYPE_GRPC_SERVER, NULL);
  if (tls_certificate)
    self->tls_certificate = g_object_ref (tls_certificate);
  return self;
}

void
nb_grpc_server_add_method (NbGrpcServer *self, const char *path, NbGrpcMethodType type,
                           NbGrpcServerHandler handler, gpointer user_data, GDestroyNotify destroy)
{
  Method *m;

  g_return_if_fail (NB_IS_GRPC_SERVER (self));
  g_return_if_fail (path != NULL && path[0] == '/' && strchr (path + 1, '/') != NULL);
  g_return_if_fail (type <= NB_GRPC_METHOD_BIDI_STREAMING);
  g_return_if_fail (handler != NULL);

  m = g_rc_box_new0 (Method);
  m->path = g_strdup (path);
  m->type = type;
  m->handler = handler;
  m->user_data = user_data;
  m->destroy = destroy;
  g_hash_table_replace (self->methods, g_strdup (path), m);
}

void
nb_grpc_server_set_max_receive_message_size (NbGrpcServer *self, gsize max_size)
{
  g_return_if_fail (NB_IS_GRPC_SERVER (self));
  self->max_receive_message_size = max_size;
  for (GList *l = self->connections; l; l = l->next)
    ((ServerConn *) l->data)->max_receive_message_size = max_size;
}

gsize
nb_grpc_server_get_max_receive_message_size (NbGrpcServer *self)
{
  g_return_val_if_fail (NB_IS_GRPC_SERVER (self), 0);
  return self->max_receive_message_size;
}

gboolean
nb_grpc_server_listen (NbGrpcServer *self, const char *address, guint16 port, GError **error)
{
  g_autoptr (GInetAddress) inet = NULL;
  g_autoptr (GSocketAddress) sockaddr = NULL;
  g_autoptr (GSocketAddress) effective = NULL;

  g_return_val_if_fail (NB_IS_GRPC_SERVER (self), FALSE);
  g_return_val_if_fail (address != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (self->stopped)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_CLOSED, "the gRPC server was stopped");
      return FALSE;
    }
  inet = g_inet_address_new_from_string (address);
  if (inet == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "\"%s\" is not an IP address", address);
      return FALSE;
    }
  if (self->service == NULL)
    {
      self->service = g_socket_service_new ();
      g_signal_connect (self->service, "incoming", G_CALLBACK (server_incoming_cb), self);
    }
  sockaddr = g_inet_socket_address_new (inet, port);
  if (!g_socket_listener_add_address (G_SOCKET_LISTENER (self->service), sockaddr,
                                      G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, NULL,
                                      &effective, error))
    {
      g_prefix_error (error, "cannot listen on %s port %u: ", address, port);
      return FALSE;
    }
  if (self->port == 0)
    self->port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (effective));
  g_socket_service_start (self->service);
  g_debug ("listening on %s port %u (%s)", address,
           g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (effective)),
           self->tls_certificate ? "TLS" : "h2c");
  return TRUE;
}

guint16
nb_grpc_server_get_port (NbGrpcServer *self)
{
  g_return_val_if_fail (NB_IS_GRPC_SERVER (self), 0);
  return self->port;
}

gboolean
nb_grpc_server_is_tls (NbGrpcServer *self)
{
  g_return_val_if_fail (NB_IS_GRPC_SERVER (self), FALSE);
  return self->tls_certificate != NULL;
}

void
nb_grpc_server_stop (NbGrpcServer *self)
{
  g_return_if_fail (NB_IS_GRPC_SERVER (self));

  if (!self->stopped)
    g_debug ("stopping");
  self->stopped = TRUE;
  if (self->service)
    {
      g_socket_service_stop (self->service);
      g_socket_listener_close (G_SOCKET_LISTENER (self->service));
    }
  while (self->connections)
    sconn_shutdown (self->connections->data);
}

guint
nb_grpc_server_get_n_connections (NbGrpcServer *self)
{
  g_return_val_if_fail (NB_IS_GRPC_SERVER (self), 0);
  return g_list_length (self->connections);
}

guint
nb_grpc_server_get_n_calls (NbGrpcServer *self)
{
  guint n = 0;

  g_return_val_if_fail (NB_IS_GRPC_SERVER (self), 0);
  for (GList *l = self->connections; l; l = l->next)
    n += g_hash_table_size (((ServerConn *) l->data)->streams);
  return n;
}
