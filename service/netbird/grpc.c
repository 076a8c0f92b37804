/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * gRPC over nghttp2 + GIO. See grpc.h for the contract.
 *
 * Structure:
 *   NbGrpcChannel  settings, the current Connection and the draining ones.
 *   Connection     (private, refcounted) one TCP/TLS stream + nghttp2 client
 *                  session, driven by pollable sources: a persistent read
 *                  source, a write source only while the socket is full, an
 *                  idle "flush" source after API calls queue frames.
 *   NbGrpcCall     one HTTP/2 stream: send queue (data provider), frame
 *                  decoder, header tables, and a queue of events that an idle
 *                  source turns into signals.
 *
 * Rules that keep re-entrancy simple:
 *   - nghttp2 callbacks only change state and queue events;
 *   - user-visible signals come from idle sources (plus the synchronous
 *     "closed" of nb_grpc_call_cancel());
 *   - public functions never write to the socket, they schedule a flush;
 *   - a Connection is only torn down from top-level source callbacks.
 */
#define G_LOG_DOMAIN "nb-grpc"

#include "config.h"

#include "grpc.h"
#include "grpc-h2-common.h"
#include "uplink.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>

#include <nghttp2/nghttp2.h>

#define USER_AGENT            "nm-netbird-grpc/" PACKAGE_VERSION
#define READ_CHUNK            (16 * 1024)
#define READS_PER_DISPATCH    16
#define STREAM_WINDOW_SIZE    (1024 * 1024)
#define CONNECTION_WINDOW     (8 * 1024 * 1024)
#define MAX_HEADER_LIST_BYTES NB_GRPC_H2_MAX_HEADER_LIST_BYTES

/* ------------------------------------------------------------------------ */
/* Types */

typedef enum {
  CONN_CONNECTING, /* TCP/TLS in progress, no session yet */
  CONN_READY,      /* session running; the channel's current connection */
  CONN_DRAINING,   /* GOAWAY received: no new streams, existing may finish */
  CONN_DEAD,       /* closed; waiting for the last reference */
} ConnState;

typedef struct _Connection Connection;

struct _NbGrpcChannel {
  GObject parent_instance;

  char *target;
  char *host;
  guint16 port;
  gboolean tls;
  char *authority;

  guint connect_timeout_ms;
  guint keepalive_time_ms;
  guint keepalive_timeout_ms;
  gsize max_receive_message_size;
  GTlsDatabase *tls_database;

  Connection *current; /* owned; CONNECTING or READY */
  GList *draining;     /* of owned Connection, DRAINING */
  guint next_connection_id;

  gint64 last_ping_rtt_us;
  gboolean connected; /* last notified value of "connected" */
  gboolean disposed;
};

struct _Connection {
  gint ref_count;
  guint id;
  NbGrpcChannel *channel; /* not owned; NULL after the channel's dispose */
  ConnState state;
  gboolean established;   /* server SETTINGS received */
  gboolean disconnected_reported;

  /* Copied from the channel when the connection starts. */
  guint connect_timeout_ms;
  guint keepalive_time_ms;
  guint keepalive_timeout_ms;

  GCancellable *cancellable;
  GSocketConnection *tcp;
  GIOStream *stream; /* tcp or the TLS connection over it */
  GPollableInputStream *in;
  GPollableOutputStream *out;
  GSource *read_source;
  GSource *reread_source; /* idle: more input was pending after a batch */
  GSource *write_source;
  GSource *flush_source;
  GSource *connect_timer;
  GSource *keepalive_timer;
  GSource *ping_timer;

  guint8 *readbuf;
  GByteArray *outbuf;
  gsize out_off;

  nghttp2_session *session;
  GHashTable *streams; /* stream id → NbGrpcCall* (not owned) */
  GQueue pending;      /* NbGrpcCall* waiting for CONN_READY (not owned) */

  gint64 last_read_us;
  gboolean ping_outstanding;
  gint64 ping_sent_us;
  gboolean ping_acked; /* set in a callback, handled after mem_recv */
  gint64 ping_rtt_us;
  char *lib_error; /* nghttp2's last error text, for messages */
};

typedef enum {
  CALL_PENDING, /* waiting for a connection */
  CALL_ACTIVE,  /* stream submitted */
  CALL_DONE,    /* final status known; detached from the connection */
} CallState;

typedef enum {
  EVENT_HEADERS,
  EVENT_MESSAGE,
  EVENT_CLOSED,
} EventType;

typedef struct {
  EventType type;
  GHashTable *headers;
  GBytes *message;
  GError *error;
} Event;

struct _NbGrpcCall {
  GObject parent_instance;

  NbGrpcChannel *channel; /* owned */
  char *path;
  GHashTable *metadata;   /* owned copy, may be NULL */
  guint deadline_ms;
  gint64 deadline_us;     /* monotonic, 0 = none */
  GSource *deadline_source;

  CallState state;
  Connection *conn;       /* not owned; set while PENDING or ACTIVE */
  gint32 stream_id;

  GQueue send_queue;      /* framed GBytes */
  gsize send_offset;      /* into the head */
  gsize send_queue_size;
  gboolean send_closed;
  gboolean data_deferred;

  NbGrpcFrameDecoder *decoder;
  GHashTable *collecting; /* header block being received */
  gsize collecting_bytes;
  GHashTable *response_headers;
  GHashTable *trailers;
  gboolean headers_received;
  int http_status;

  GQueue events;
  GSource *dispatch_source;
  gboolean closed_emitted;
};

/* ------------------------------------------------------------------------ */
/* Small helpers */

static int
http_status_to_grpc (int http_status)
{
  switch (http_status)
    {
    case 400:
      return NB_GRPC_STATUS_INTERNAL;
    case 401:
      return NB_GRPC_STATUS_UNAUTHENTICATED;
    case 403:
      return NB_GRPC_STATUS_PERMISSION_DENIED;
    case 404:
      return NB_GRPC_STATUS_UNIMPLEMENTED;
    case 429:
    case 502:
    case 503:
    case 504:
      return NB_GRPC_STATUS_UNAVAILABLE;
    default:
      return NB_GRPC_STATUS_UNKNOWN;
    }
}

static int
rst_code_to_grpc (guint32 code)
{
  switch (code)
    {
    case NGHTTP2_REFUSED_STREAM:
      return NB_GRPC_STATUS_UNAVAILABLE;
    case NGHTTP2_CANCEL:
      return NB_GRPC_STATUS_CANCELLED;
    case NGHTTP2_ENHANCE_YOUR_CALM:
      return NB_GRPC_STATUS_RESOURCE_EXHAUSTED;
    case NGHTTP2_INADEQUATE_SECURITY:
      return NB_GRPC_STATUS_PERMISSION_DENIED;
    default:
      return NB_GRPC_STATUS_INTERNAL;
    }
}

/* ------------------------------------------------------------------------ */
/* Forward declarations */

enum {
  CHANNEL_PROP_0,
  CHANNEL_PROP_TARGET,
  CHANNEL_PROP_CONNECT_TIMEOUT_MS,
  CHANNEL_PROP_KEEPALIVE_TIME_MS,
  CHANNEL_PROP_KEEPALIVE_TIMEOUT_MS,
  CHANNEL_PROP_MAX_RECEIVE_MESSAGE_SIZE,
  CHANNEL_PROP_TLS_DATABASE,
  CHANNEL_PROP_CONNECTED,
  CHANNEL_PROP_LAST_PING_RTT,
  CHANNEL_N_PROPS,
};
static GParamSpec *channel_props[CHANNEL_N_PROPS];

enum {
  CHANNEL_SIGNAL_DISCONNECTED,
  CHANNEL_N_SIGNALS,
};
static guint channel_signals[CHANNEL_N_SIGNALS];

enum {
  CALL_SIGNAL_HEADERS,
  CALL_SIGNAL_MESSAGE,
  CALL_SIGNAL_CLOSED,
  CALL_N_SIGNALS,
};
static guint call_signals[CALL_N_SIGNALS];

static Connection *conn_ref (Connection *c);
static void conn_unref (Connection *c);
static void conn_schedule_flush (Connection *c);
static void conn_start_call (Connection *c, NbGrpcCall *call);
static void channel_update_connected (NbGrpcChannel *self);
static void channel_report_disconnected (NbGrpcChannel *self, const GError *reason);
static void channel_notify_ping_rtt (NbGrpcChannel *self, gint64 rtt_us);
static void call_fail (NbGrpcCall *call, GError *error, int rst_code);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Connection, conn_unref)

#define NO_RST (-1)

/* ------------------------------------------------------------------------ */
/* NbGrpcCall: events */

static void
event_free (Event *ev)
{
  g_clear_pointer (&ev->headers, g_hash_table_unref);
  g_clear_pointer (&ev->message, g_bytes_unref);
  g_clear_error (&ev->error);
  g_free (ev);
}

static gboolean
call_dispatch_cb (gpointer data)
{
  NbGrpcCall *call = data; /* the source holds a reference */
  Event *ev;

  g_clear_pointer (&call->dispatch_source, g_source_unref);
  while (!call->closed_emitted && (ev = g_queue_pop_head (&call->events)) != NULL)
    {
      switch (ev->type)
        {
        case EVENT_HEADERS:
          g_signal_emit (call, call_signals[CALL_SIGNAL_HEADERS], 0, ev->headers);
          break;
        case EVENT_MESSAGE:
          g_signal_emit (call, call_signals[CALL_SIGNAL_MESSAGE], 0, ev->message);
          break;
        case EVENT_CLOSED:
          call->closed_emitted = TRUE;
          g_signal_emit (call, call_signals[CALL_SIGNAL_CLOSED], 0, ev->error);
          break;
        }
      event_free (ev);
    }
  return G_SOURCE_REMOVE;
}

static void
call_push_event (NbGrpcCall *call, EventType type, GHashTable *headers, GBytes *message, GError *error)
{
  Event *ev = g_new0 (Event, 1);

  ev->type = type;
  ev->headers = headers;
  ev->message = message;
  ev->error = error;
  g_queue_push_tail (&call->events, ev);
  if (call->dispatch_source == NULL)
    call->dispatch_source = nb_grpc_h2_idle_source (call_dispatch_cb, g_object_ref (call), g_object_unref);
}

/* ------------------------------------------------------------------------ */
/* NbGrpcCall: lifecycle inside a connection */

/* Detaches @call from its connection and marks it DONE, optionally resetting
 * the stream. Safe inside nghttp2 callbacks. */
static void
call_terminate (NbGrpcCall *call, int rst_code)
{
  Connection *c = call->conn;

  if (call->state == CALL_DONE)
    return;

  nb_grpc_h2_clear_source (&call->deadline_source);
  if (c)
    {
      if (call->state == CALL_PENDING)
        g_queue_remove (&c->pending, call);
      else if (call->stream_id > 0)
        {
          g_hash_table_remove (c->streams, GINT_TO_POINTER (call->stream_id));
          if (c->session && c->state != CONN_DEAD)
            {
              nghttp2_session_set_stream_user_data (c->session, call->stream_id, NULL);
              if (rst_code != NO_RST
                  && nghttp2_session_find_stream (c->session, call->stream_id) != NULL)
                nghttp2_submit_rst_stream (c->session, NGHTTP2_FLAG_NONE, call->stream_id,
                                           (guint32) rst_code);
            }
          conn_schedule_flush (c);
        }
      call->conn = NULL;
    }
  call->state = CALL_DONE;
  g_queue_clear_full (&call->send_queue, (GDestroyNotify) g_bytes_unref);
  call->send_offset = 0;
  call->send_queue_size = 0;
}

/* Ends the call with @error (owned; NULL = OK), queueing "closed". */
static void
call_fail (NbGrpcCall *call, GError *error, int rst_code)
{
  if (call->state == CALL_DONE)
    {
      g_clear_error (&error);
      return;
    }
  if (error)
    g_debug ("call %s (stream %d) failed: %s", call->path, call->stream_id, error->message);
  else
    g_debug ("call %s (stream %d) finished OK", call->path, call->stream_id);
  call_terminate (call, rst_code);
  call_push_event (call, EVENT_CLOSED, NULL, NULL, error);
}

static gboolean
call_deadline_cb (gpointer data)
{
  NbGrpcCall *call = data;

  g_clear_pointer (&call->deadline_source, g_source_unref);
  call_fail (call,
             g_error_new (NB_GRPC_ERROR, NB_GRPC_STATUS_DEADLINE_EXCEEDED,
                          "deadline of %u ms exceeded", call->deadline_ms),
             NGHTTP2_CANCEL);
  return G_SOURCE_REMOVE;
}

/* Completes the call from its trailers (or trailers-only headers). */
static void
call_finish_from_trailers (NbGrpcCall *call, nghttp2_session *session)
{
  GHashTable *t = call->trailers;
  const char *status = t ? g_hash_table_lookup (t, "grpc-status") : NULL;
  const char *message = t ? g_hash_table_lookup (t, "grpc-message") : NULL;
  int rst = NO_RST;
  GError *error = NULL;
  int code;

  if (session && call->stream_id > 0
      && !nghttp2_session_get_stream_local_close (session, call->stream_id))
    rst = NGHTTP2_NO_ERROR; /* the server is done; stop our half too */

  if (call->http_status != 200)
    {
      g_autofree char *decoded = nb_grpc_percent_decode (message, -1);
      error = g_error_new (NB_GRPC_ERROR, http_status_to_grpc (call->http_status),
                           "HTTP status %d from server%s%s", call->http_status,
                           *decoded ? ": " : "", decoded);
    }
  else if (status == NULL)
    error = g_error_new (NB_GRPC_ERROR, NB_GRPC_STATUS_INTERNAL,
                         "server ended the stream without grpc-status");
  else if (!nb_grpc_status_parse (status, &code))
    error = g_error_new (NB_GRPC_ERROR, NB_GRPC_STATUS_UNKNOWN,
                         "invalid grpc-status \"%s\" from server", status);
  else if (code == NB_GRPC_STATUS_OK)
    nb_grpc_frame_decoder_finish (call->decoder, &error);
  else
    error = nb_grpc_error_from_status (code, message);

  call_fail (call, error, rst);
}

/* ------------------------------------------------------------------------ */
/* nghttp2 callbacks */

static ssize_t
data_read_cb (nghttp2_session *session, int32_t stream_id, uint8_t *buf, size_t length,
              uint32_t *data_flags, nghttp2_data_source *source, void *user_data)
{
  NbGrpcCall *call = nghttp2_session_get_stream_user_data (session, stream_id);
  gsize copied = 0;

  if (call == NULL || call->state != CALL_ACTIVE)
    return NGHTTP2_ERR_DEFERRED; /* a reset is queued */

  copied = nb_grpc_h2_send_queue_read (&call->send_queue, &call->send_offset,
                                       &call->send_queue_size, buf, length);

  if (g_queue_is_empty (&call->send_queue))
    {
      if (call->send_closed)
        *data_flags |= NGHTTP2_DATA_FLAG_EOF;
      else if (copied == 0)
        {
          call->data_deferred = TRUE;
          return NGHTTP2_ERR_DEFERRED;
        }
    }
  return (ssize_t) copied;
}

static int
on_begin_headers_cb (nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
  NbGrpcCall *call;

  if (frame->hd.type != NGHTTP2_HEADERS)
    return 0;
  call = nghttp2_session_get_stream_user_data (session, frame->hd.stream_id);
  if (call == NULL)
    return 0;
  g_clear_pointer (&call->collecting, g_hash_table_unref);
  call->collecting = nb_grpc_h2_header_table_new ();
  call->collecting_bytes = 0;
  return 0;
}

static int
on_header_cb (nghttp2_session *session, const nghttp2_frame *frame,
              const uint8_t *name, size_t namelen,
              const uint8_t *value, size_t valuelen,
              uint8_t flags, void *user_data)
{
  NbGrpcCall *call;

  if (frame->hd.type != NGHTTP2_HEADERS)
    return 0;
  call = nghttp2_session_get_stream_user_data (session, frame->hd.stream_id);
  if (call == NULL || call->state != CALL_ACTIVE || call->collecting == NULL)
    return 0;

  call->collecting_bytes += namelen + valuelen + 32;
  if (call->collecting_bytes > MAX_HEADER_LIST_BYTES)
    {
      call_fail (call,
                 g_error_new (NB_GRPC_ERROR, NB_GRPC_STATUS_RESOURCE_EXHAUSTED,
                              "response header list larger than %d bytes", MAX_HEADER_LIST_BYTES),
                 NGHTTP2_CANCEL);
      return 0;
    }

  if (namelen == 7 && memcmp (name, ":status", 7) == 0)
    {
      g_autofree char *text = g_strndup ((const char *) value, valuelen);
      guint64 status = 0;

      if (g_ascii_string_to_unsigned (text, 10, 100, 999, &status, NULL))
        call->http_status = (int) status;
      return 0;
    }
  if (namelen > 0 && name[0] == ':')
    return 0;
  nb_grpc_h2_header_table_add (call->collecting, (const char *) name, namelen, (const char *) value, valuelen);
  return 0;
}

static void
on_headers_frame (Connection *c, NbGrpcCall *call, const nghttp2_frame *frame)
{
  gboolean end_stream = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
  g_autoptr (GHashTable) block = g_steal_pointer (&call->collecting);

  if (block == NULL)
    block = nb_grpc_h2_header_table_new ();

  if (!call->headers_received)
    {
      const char *content_type;

      if (call->http_status >= 100 && call->http_status < 200)
        {
          call->http_status = 0; /* informational; the real response follows */
          return;
        }
      call->headers_received = TRUE;

      if (end_stream)
        {
          /* Trailers-only response. */
          call->trailers = g_steal_pointer (&block);
          call_finish_from_trailers (call, c->session);
          return;
        }
      if (call->http_status != 200)
        {
          call_fail (call,
                     g_error_new (NB_GRPC_ERROR, http_status_to_grpc (call->http_status),
                                  "HTTP status %d from server", call->http_status),
                     NGHTTP2_CANCEL);
          return;
        }
      content_type = g_hash_table_lookup (block, "content-type");
      if (!nb_grpc_h2_content_type_is_grpc (content_type))
        {
          call_fail (call,
                     g_error_new (NB_GRPC_ERROR, NB_GRPC_STATUS_UNKNOWN,
                                  "response content-type \"%s\" is not gRPC",
                                  content_type ? content_type : "(none)"),
                     NGHTTP2_CANCEL);
          return;
        }
      call->response_headers = g_hash_table_ref (block);
      call_push_event (call, EVENT_HEADERS, g_steal_pointer (&block), NULL, NULL);
      return;
    }

  /* Trailers (nghttp2 rejects trailers without END_STREAM). */
  call->trailers = g_steal_pointer (&block);
  call_finish_from_trailers (call, c->session);
}

static int
on_frame_recv_cb (nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
  Connection *c = user_data;
  NbGrpcCall *call = NULL;

  if (frame->hd.stream_id != 0)
    call = nghttp2_session_get_stream_user_data (session, frame->hd.stream_id);

  switch (frame->hd.type)
    {
    case NGHTTP2_HEADERS:
      if (call && call->state == CALL_ACTIVE)
        on_headers_frame (c, call, frame);
      break;

    case NGHTTP2_DATA:
      if (call && call->state == CALL_ACTIVE && (frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
        call_fail (call,
                   g_error_new (NB_GRPC_ERROR, NB_GRPC_STATUS_INTERNAL,
                                "server ended the stream without trailers (no grpc-status)"),
                   nghttp2_session_get_stream_local_close (session, frame->hd.stream_id)
                     ? NO_RST : NGHTTP2_NO_ERROR);
      break;

    case NGHTTP2_SETTINGS:
      if (!(frame->hd.flags & NGHTTP2_FLAG_ACK) && !c->established)
        {
          c->established = TRUE;
          nb_grpc_h2_clear_source (&c->connect_timer);
          g_debug ("connection %u: HTTP/2 established", c->id);
          if (c->channel)
            channel_update_connected (c->channel);
        }
      break;

    case NGHTTP2_PING:
      if ((frame->hd.flags & NGHTTP2_FLAG_ACK) && c->ping_outstanding)
        {
          gint64 sent;

          memcpy (&sent, frame->ping.opaque_data, sizeof sent);
          if (sent == c->ping_sent_us)
            {
              c->ping_outstanding = FALSE;
              c->ping_acked = TRUE;
              c->ping_rtt_us = g_get_monotonic_time () - sent;
            }
        }
      break;

    case NGHTTP2_GOAWAY:
      {
        g_autofree char *debug = frame->goaway.opaque_data
                                   ? g_strndup ((const char *) frame->goaway.opaque_data,
                                                MIN (frame->goaway.opaque_data_len, 200))
                                   : g_strdup ("");
        g_autoptr (GError) reason = NULL;

        for (char *p = debug; *p; p++)
          if (*p < 0x20 || *p > 0x7e)
            *p = '?';
        reason = g_error_new (NB_GRPC_ERROR, NB_GRPC_STATUS_UNAVAILABLE,
                              "server sent GOAWAY (%s, last stream %d)%s%s",
                              nghttp2_http2_strerror (frame->goaway.error_code),
                              frame->goaway.last_stream_id,
                              *debug ? ": " : "", debug);
        g_debug ("connection %u: %s", c->id, reason->message);
        if (c->state == CONN_READY)
          {
            NbGrpcChannel *channel = c->channel;

            c->state = CONN_DRAINING;
            if (channel && channel->current == c)
              {
                channel->current = NULL; /* reference moves to the draining list */
                channel->draining = g_list_prepend (channel->draining, c);
                channel_update_connected (channel);
              }
            if (channel && c->established && !c->disconnected_reported)
              {
                c->disconnected_reported = TRUE;
                channel_report_disconnected (channel, reason);
              }
          }
        conn_schedule_flush (c); /* closes the connection once it is idle */
      }
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
  NbGrpcCall *call = nghttp2_session_get_stream_user_data (session, stream_id);
  GError *error = NULL;
  GBytes *message;
  gboolean ok;

  if (call == NULL || call->state != CALL_ACTIVE)
    return 0;

  ok = nb_grpc_frame_decoder_feed (call->decoder, data, len, &error);
  while ((message = nb_grpc_frame_decoder_pop (call->decoder)) != NULL)
    call_push_event (call, EVENT_MESSAGE, NULL, message, NULL);
  if (!ok)
    call_fail (call, error, NGHTTP2_CANCEL);
  return 0;
}

static int
on_stream_close_cb (nghttp2_session *session, int32_t stream_id, uint32_t error_code, void *user_data)
{
  Connection *c = user_data;
  NbGrpcCall *call = nghttp2_session_get_stream_user_data (session, stream_id);

  if (call && call->state != CALL_DONE)
    {
      if (error_code != NGHTTP2_NO_ERROR)
        call_fail (call,
                   g_error_new (NB_GRPC_ERROR, rst_code_to_grpc (error_code),
                                "stream reset by server: %s", nghttp2_http2_strerror (error_code)),
                   NO_RST);
      else
        call_fail (call,
                   g_error_new (NB_GRPC_ERROR, NB_GRPC_STATUS_INTERNAL,
                                "stream closed without grpc-status"),
                   NO_RST);
    }
  conn_schedule_flush (c); /* a draining connection may now be idle */
  return 0;
}

static int
on_error_cb (nghttp2_session *session, int lib_error_code, const char *msg, size_t len, void *user_data)
{
  Connection *c = user_data;

  g_debug ("connection %u: nghttp2: %.*s", c->id, (int) len, msg);
  g_free (c->lib_error);
  c->lib_error = g_strndup (msg, len);
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Connection */

static Connection *
conn_ref (Connection *c)
{
  c->ref_count++;
  return c;
}

static void
conn_close_io (Connection *c)
{
  nb_grpc_h2_clear_source (&c->read_source);
  nb_grpc_h2_clear_source (&c->reread_source);
  nb_grpc_h2_clear_source (&c->write_source);
  nb_grpc_h2_clear_source (&c->flush_source);
  nb_grpc_h2_clear_source (&c->connect_timer);
  nb_grpc_h2_clear_source (&c->keepalive_timer);
  nb_grpc_h2_clear_source (&c->ping_timer);
  if (c->cancellable)
    g_cancellable_cancel (c->cancellable);
  if (c->tcp)
    {
      /* Closing the socket itself never blocks; for TLS this skips
       * close_notify, which HTTP/2 (GOAWAY, END_STREAM) does not need. */
      g_io_stream_close (G_IO_STREAM (c->tcp), NULL, NULL);
    }
  c->in = NULL;
  c->out = NULL;
  g_clear_object (&c->stream);
  g_clear_object (&c->tcp);
}

static void
conn_unref (Connection *c)
{
  if (c == NULL || --c->ref_count > 0)
    return;
  g_assert (g_hash_table_size (c->streams) == 0);
  g_assert (g_queue_is_empty (&c->pending));
  conn_close_io (c);
  g_clear_object (&c->cancellable);
  g_clear_pointer (&c->session, nghttp2_session_del);
  g_hash_table_unref (c->streams);
  g_byte_array_unref (c->outbuf);
  g_free (c->readbuf);
  g_free (c->lib_error);
  g_free (c);
}

/* Removes the channel's reference to @c (current or draining). */
static void
conn_detach_from_channel (Connection *c)
{
  NbGrpcChannel *channel = c->channel;
  GList *link;

  if (channel == NULL)
    return;
  c->channel = NULL;
  if (channel->current == c)
    {
      channel->current = NULL;
      channel_update_connected (channel);
      conn_unref (c);
    }
  else if ((link = g_list_find (channel->draining, c)) != NULL)
    {
      channel->draining = g_list_delete_link (channel->draining, link);
      conn_unref (c);
    }
}

/* Ends the connection; its calls fail with a copy of @error. Only from
 * top-level source callbacks or API entry points that emit nothing
 * synchronously (events are queued). @error is owned. */
static void
conn_fail (Connection *c, GError *error)
{
  g_autoptr (Connection) hold = NULL;
  g_autoptr (GPtrArray) calls = NULL;
  NbGrpcChannel *channel = c->channel;
  GHashTableIter iter;
  gpointer value;
  NbGrpcCall *call;

  if (c->state == CONN_DEAD)
    {
      g_clear_error (&error);
      return;
    }
  hold = conn_ref (c);
  if (error)
    g_debug ("connection %u failed: %s", c->id, error->message);
  else
    g_debug ("connection %u closed", c->id);

  c->state = CONN_DEAD;
  conn_close_io (c);

  /* Fail the calls without touching the session. */
  calls = g_ptr_array_new ();
  g_hash_table_iter_init (&iter, c->streams);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    g_ptr_array_add (calls, value);
  g_hash_table_remove_all (c->streams);
  while ((call = g_queue_pop_head (&c->pending)) != NULL)
    g_ptr_array_add (calls, call);
  for (guint i = 0; i < calls->len; i++)
    {
      call = calls->pdata[i];
      call->conn = NULL;
      call_fail (call,
                 error ? g_error_copy (error)
                       : g_error_new (NB_GRPC_ERROR, NB_GRPC_STATUS_UNAVAILABLE, "connection closed"),
                 NO_RST);
    }

  if (channel && error && c->established && !c->disconnected_reported)
    {
      c->disconnected_reported = TRUE;
      channel_report_disconnected (channel, error);
    }
  conn_detach_from_channel (c);
  g_clear_error (&error);
}

static void
conn_fail_literal (Connection *c, int code, const char *format, ...) G_GNUC_PRINTF (3, 4);

static void
conn_fail_literal (Connection *c, int code, const char *format, ...)
{
  va_list args;
  g_autofree char *message = NULL;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  conn_fail (c, g_error_new_literal (NB_GRPC_ERROR, code, message));
}

static gboolean conn_write_ready_cb (GObject *stream, gpointer data);

/* Moves frames from nghttp2 to the socket until it would block. */
static void
conn_flush (Connection *c)
{
  g_autoptr (Connection) hold = NULL;
  g_autoptr (GError) error = NULL;

  if (c->state == CONN_DEAD || c->state == CONN_CONNECTING || c->session == NULL)
    return;
  hold = conn_ref (c);

  switch (nb_grpc_h2_send (c->session, c->out, c->outbuf, &c->out_off, &error))
    {
    case NB_GRPC_H2_SEND_DONE:
      break;
    case NB_GRPC_H2_SEND_BLOCKED:
      if (c->write_source == NULL)
        {
          c->write_source = g_pollable_output_stream_create_source (c->out, NULL);
          nb_grpc_h2_attach_source (c->write_source, G_SOURCE_FUNC (conn_write_ready_cb), c, NULL);
        }
      return;
    case NB_GRPC_H2_SEND_ERROR:
      if (error->domain == G_IO_ERROR)
        conn_fail_literal (c, NB_GRPC_STATUS_UNAVAILABLE, "write to %s failed: %s",
                           c->channel ? c->channel->authority : "server", error->message);
      else
        conn_fail_literal (c, NB_GRPC_STATUS_UNAVAILABLE, "%s", error->message);
      return;
    }

  /* Everything is written. */
  if (!nghttp2_session_want_read (c->session) && !nghttp2_session_want_write (c->session))
    {
      if (g_hash_table_size (c->streams) == 0)
        conn_fail (c, NULL);
      else
        conn_fail_literal (c, NB_GRPC_STATUS_UNAVAILABLE, "HTTP/2 session with %s ended%s%s",
                           c->channel ? c->channel->authority : "server",
                           c->lib_error ? ": " : "", c->lib_error ? c->lib_error : "");
      return;
    }
  if (c->state == CONN_DRAINING && g_hash_table_size (c->streams) == 0)
    {
      g_debug ("connection %u: drained", c->id);
      conn_fail (c, NULL);
    }
}

static gboolean
conn_write_ready_cb (GObject *stream, gpointer data)
{
  Connection *c = data;

  nb_grpc_h2_clear_source (&c->write_source);
  conn_flush (c);
  return G_SOURCE_REMOVE;
}

static gboolean
conn_flush_idle_cb (gpointer data)
{
  Connection *c = data;

  g_clear_pointer (&c->flush_source, g_source_unref);
  conn_flush (c);
  return G_SOURCE_REMOVE;
}

static void
conn_schedule_flush (Connection *c)
{
  if (c->state == CONN_DEAD || c->state == CONN_CONNECTING || c->flush_source != NULL)
    return;
  /* Borrowed pointer: conn_close_io() destroys the source before the
   * connection can go away. */
  c->flush_source = nb_grpc_h2_idle_source (conn_flush_idle_cb, c, NULL);
}

static void conn_arm_keepalive (Connection *c, guint ms);

static gboolean
conn_ping_timeout_cb (gpointer data)
{
  Connection *c = data;

  nb_grpc_h2_clear_source (&c->ping_timer);
  if (!c->ping_outstanding)
    return G_SOURCE_REMOVE;
  if (c->last_read_us > c->ping_sent_us)
    {
      /* Frames arrived (the ACK may be queued behind data): alive. */
      c->ping_outstanding = FALSE;
      conn_arm_keepalive (c, c->keepalive_time_ms);
      return G_SOURCE_REMOVE;
    }
  conn_fail_literal (c, NB_GRPC_STATUS_UNAVAILABLE,
                     "keepalive ping not acknowledged within %u ms", c->keepalive_timeout_ms);
  return G_SOURCE_REMOVE;
}

static gboolean
conn_keepalive_cb (gpointer data)
{
  Connection *c = data;
  gint64 now = g_get_monotonic_time ();
  gint64 idle_ms = (now - c->last_read_us) / 1000;
  int rv;

  nb_grpc_h2_clear_source (&c->keepalive_timer);
  if (c->ping_outstanding)
    return G_SOURCE_REMOVE;
  if (idle_ms + 1 < c->keepalive_time_ms)
    {
      conn_arm_keepalive (c, c->keepalive_time_ms - (guint) idle_ms);
      return G_SOURCE_REMOVE;
    }

  c->ping_sent_us = now;
  rv = nghttp2_submit_ping (c->session, NGHTTP2_FLAG_NONE, (const uint8_t *) &c->ping_sent_us);
  if (rv != 0)
    {
      conn_fail_literal (c, NB_GRPC_STATUS_UNAVAILABLE, "cannot send PING: %s", nghttp2_strerror (rv));
      return G_SOURCE_REMOVE;
    }
  c->ping_outstanding = TRUE;
  c->ping_timer = nb_grpc_h2_timeout_source (MAX (c->keepalive_timeout_ms, 1), conn_ping_timeout_cb, c, NULL);
  conn_flush (c);
  return G_SOURCE_REMOVE;
}

static void
conn_arm_keepalive (Connection *c, guint ms)
{
  nb_grpc_h2_clear_source (&c->keepalive_timer);
  if (c->keepalive_time_ms == 0 || c->state == CONN_DEAD)
    return;
  c->keepalive_timer = nb_grpc_h2_timeout_source (MAX (ms, 1), conn_keepalive_cb, c, NULL);
}

static gboolean conn_reread_cb (gpointer data);

static gboolean
conn_read_cb (GObject *stream, gpointer data)
{
  Connection *c = data;
  g_autoptr (Connection) hold = conn_ref (c);
  gboolean drained = FALSE;

  for (int i = 0; i < READS_PER_DISPATCH && c->state != CONN_DEAD; i++)
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
          conn_fail_literal (c, NB_GRPC_STATUS_UNAVAILABLE, "read from %s failed: %s",
                             c->channel ? c->channel->authority : "server", error->message);
          return G_SOURCE_REMOVE;
        }
      if (n == 0)
        {
          if (c->state == CONN_DRAINING && g_hash_table_size (c->streams) == 0)
            conn_fail (c, NULL);
          else if (!c->established)
            conn_fail_literal (c, NB_GRPC_STATUS_UNAVAILABLE,
                               "connection closed by %s before the HTTP/2 handshake "
                               "completed (not a gRPC server?)%s%s",
                               c->channel ? c->channel->authority : "server",
                               c->lib_error ? ": " : "", c->lib_error ? c->lib_error : "");
          else
            conn_fail_literal (c, NB_GRPC_STATUS_UNAVAILABLE, "connection closed by %s",
                               c->channel ? c->channel->authority : "server");
          return G_SOURCE_REMOVE;
        }

      c->last_read_us = g_get_monotonic_time ();
      rv = nghttp2_session_mem_recv (c->session, c->readbuf, (size_t) n);
      if (rv < 0)
        {
          conn_fail_literal (c, NB_GRPC_STATUS_UNAVAILABLE, "HTTP/2 protocol error from %s: %s",
                             c->channel ? c->channel->authority : "server",
                             nghttp2_strerror ((int) rv));
          return G_SOURCE_REMOVE;
        }
      if (!nghttp2_session_want_read (c->session))
        {
          /* The session is over (e.g. nghttp2 answered a protocol error
           * with GOAWAY); conn_flush() sends what is left and closes. */
          drained = TRUE;
          break;
        }
    }

  if (c->state == CONN_DEAD)
    return G_SOURCE_REMOVE;

  /* A TLS layer may hold decrypted input the socket source cannot see. */
  if (!drained && c->reread_source == NULL)
    c->reread_source = nb_grpc_h2_idle_source (conn_reread_cb, c, NULL);

  if (c->ping_acked)
    {
      c->ping_acked = FALSE;
      nb_grpc_h2_clear_source (&c->ping_timer);
      conn_arm_keepalive (c, c->keepalive_time_ms);
      if (c->channel)
        channel_notify_ping_rtt (c->channel, c->ping_rtt_us);
    }
  conn_flush (c);
  return G_SOURCE_CONTINUE;
}

static gboolean
conn_reread_cb (gpointer data)
{
  Connection *c = data;

  nb_grpc_h2_clear_source (&c->reread_source);
  conn_read_cb (NULL, c);
  return G_SOURCE_REMOVE;
}

static gboolean
conn_connect_timeout_cb (gpointer data)
{
  Connection *c = data;

  nb_grpc_h2_clear_source (&c->connect_timer);
  conn_fail_literal (c, NB_GRPC_STATUS_UNAVAILABLE, "connecting to %s timed out after %u ms",
                     c->channel ? c->channel->authority : "server", c->connect_timeout_ms);
  return G_SOURCE_REMOVE;
}

static void
conn_start_session (Connection *c, GIOStream *stream)
{
  nghttp2_session_callbacks *callbacks = NULL;
  nghttp2_option *option = NULL;
  nghttp2_settings_entry settings[] = {
    { NGHTTP2_SETTINGS_ENABLE_PUSH, 0 },
    { NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, STREAM_WINDOW_SIZE },
    { NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, MAX_HEADER_LIST_BYTES },
  };
  NbGrpcCall *call;
  int rv;

  c->stream = g_object_ref (stream);
  c->in = G_POLLABLE_INPUT_STREAM (g_io_stream_get_input_stream (stream));
  c->out = G_POLLABLE_OUTPUT_STREAM (g_io_stream_get_output_stream (stream));

  nghttp2_session_callbacks_new (&callbacks);
  nghttp2_session_callbacks_set_on_begin_headers_callback (callbacks, on_begin_headers_cb);
  nghttp2_session_callbacks_set_on_header_callback (callbacks, on_header_cb);
  nghttp2_session_callbacks_set_on_frame_recv_callback (callbacks, on_frame_recv_cb);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback (callbacks, on_data_chunk_recv_cb);
  nghttp2_session_callbacks_set_on_stream_close_callback (callbacks, on_stream_close_cb);
  nghttp2_session_callbacks_set_error_callback2 (callbacks, on_error_cb);
  nghttp2_option_new (&option);
  nghttp2_option_set_peer_max_concurrent_streams (option, 100);
  rv = nghttp2_session_client_new2 (&c->session, callbacks, c, option);
  nghttp2_option_del (option);
  nghttp2_session_callbacks_del (callbacks);
  if (rv != 0)
    {
      conn_fail_literal (c, NB_GRPC_STATUS_INTERNAL, "cannot create HTTP/2 session: %s",
                         nghttp2_strerror (rv));
      return;
    }
  nghttp2_submit_settings (c->session, NGHTTP2_FLAG_NONE, settings, G_N_ELEMENTS (settings));
  nghttp2_session_set_local_window_size (c->session, NGHTTP2_FLAG_NONE, 0, CONNECTION_WINDOW);

  c->state = CONN_READY;
  c->last_read_us = g_get_monotonic_time ();
  c->read_source = g_pollable_input_stream_create_source (c->in, NULL);
  nb_grpc_h2_attach_source (c->read_source, G_SOURCE_FUNC (conn_read_cb), c, NULL);
  conn_arm_keepalive (c, c->keepalive_time_ms);

  while ((call = g_queue_pop_head (&c->pending)) != NULL)
    conn_start_call (c, call);
  conn_schedule_flush (c);
}

static void
conn_tls_handshake_cb (GObject *source, GAsyncResult *result, gpointer data)
{
  g_autoptr (Connection) c = data;
  g_autoptr (GError) error = NULL;
  GTlsConnection *tls = G_TLS_CONNECTION (source);
  const char *alpn;

  if (!g_tls_connection_handshake_finish (tls, result, &error))
    {
      if (c->state == CONN_CONNECTING)
        conn_fail_literal (c, NB_GRPC_STATUS_UNAVAILABLE, "TLS handshake with %s failed: %s",
                           c->channel ? c->channel->authority : "server", error->message);
      g_object_unref (tls);
      return;
    }
  if (c->state != CONN_CONNECTING)
    {
      g_object_unref (tls);
      return;
    }
  alpn = g_tls_connection_get_negotiated_protocol (tls);
  if (alpn == NULL)
    g_debug ("connection %u: server did not negotiate ALPN; assuming h2", c->id);
  else if (strcmp (alpn, "h2") != 0)
    {
      conn_fail_literal (c, NB_GRPC_STATUS_UNAVAILABLE,
                         "server %s negotiated ALPN \"%s\" instead of h2",
                         c->channel ? c->channel->authority : "", alpn);
      g_object_unref (tls);
      return;
    }
  conn_start_session (c, G_IO_STREAM (tls));
  g_object_unref (tls);
}

static void
conn_tcp_connected_cb (GObject *source, GAsyncResult *result, gpointer data)
{
  g_autoptr (Connection) c = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GSocketConnection) tcp = NULL;
  NbGrpcChannel *channel = c->channel;

  tcp = g_socket_client_connect_finish (G_SOCKET_CLIENT (source), result, &error);
  if (c->state != CONN_CONNECTING || channel == NULL)
    {
      if (tcp)
        g_io_stream_close (G_IO_STREAM (tcp), NULL, NULL);
      return;
    }
  if (tcp == NULL)
    {
      conn_fail_literal (c, NB_GRPC_STATUS_UNAVAILABLE, "failed to connect to %s: %s",
                         channel->authority, error->message);
      return;
    }

  c->tcp = g_object_ref (tcp);
  g_socket_set_option (g_socket_connection_get_socket (tcp), IPPROTO_TCP, TCP_NODELAY, 1, NULL);
  g_debug ("connection %u: TCP connected to %s", c->id, channel->authority);

  if (channel->tls)
    {
      g_autoptr (GSocketConnectable) identity = g_network_address_new (channel->host, channel->port);
      const char *const alpn[] = { "h2", NULL };
      GIOStream *tls = g_tls_client_connection_new (G_IO_STREAM (tcp), identity, &error);

      if (tls == NULL)
        {
          conn_fail_literal (c, NB_GRPC_STATUS_UNAVAILABLE, "cannot start TLS: %s", error->message);
          return;
        }
      if (channel->tls_database)
        g_tls_connection_set_database (G_TLS_CONNECTION (tls), channel->tls_database);
      g_tls_connection_set_advertised_protocols (G_TLS_CONNECTION (tls), alpn);
      /* The callback takes ownership of @tls and a connection reference. */
      g_tls_connection_handshake_async (G_TLS_CONNECTION (tls), G_PRIORITY_DEFAULT, c->cancellable,
                                        conn_tls_handshake_cb, conn_ref (c));
      return;
    }
  conn_start_session (c, G_IO_STREAM (tcp));
}

static void
conn_socket_event_cb (GSocketClient *client, GSocketClientEvent event,
                      GSocketConnectable *connectable, GIOStream *connection, gpointer user_data)
{
  nb_uplink_bind_connecting (event, connection);
}

static Connection *
conn_new (NbGrpcChannel *channel)
{
  Connection *c = g_new0 (Connection, 1);
  g_autoptr (GSocketClient) client = NULL;
  g_autoptr (GSocketConnectable) address = NULL;

  c->ref_count = 1;
  c->id = ++channel->next_connection_id;
  c->channel = channel;
  c->state = CONN_CONNECTING;
  c->connect_timeout_ms = channel->connect_timeout_ms;
  c->keepalive_time_ms = channel->keepalive_time_ms;
  c->keepalive_timeout_ms = channel->keepalive_timeout_ms;
  c->cancellable = g_cancellable_new ();
  c->readbuf = g_malloc (READ_CHUNK);
  c->outbuf = g_byte_array_new ();
  c->streams = g_hash_table_new (NULL, NULL);
  g_queue_init (&c->pending);

  g_debug ("connection %u: connecting to %s (%s)", c->id, channel->authority,
           channel->tls ? "TLS" : "h2c");
  client = g_socket_client_new ();
  g_socket_client_set_enable_proxy (client, FALSE);
  g_signal_connect (client, "event", G_CALLBACK (conn_socket_event_cb), NULL);
  address = g_network_address_new (channel->host, channel->port);
  g_socket_client_connect_async (client, address, c->cancellable, conn_tcp_connected_cb, conn_ref (c));
  if (c->connect_timeout_ms > 0)
    c->connect_timer = nb_grpc_h2_timeout_source (c->connect_timeout_ms, conn_connect_timeout_cb, c, NULL);
  return c;
}

static void
conn_start_call (Connection *c, NbGrpcCall *call)
{
  NbGrpcChannel *channel = call->channel;
  g_autoptr (GArray) nva = g_array_new (FALSE, FALSE, sizeof (nghttp2_nv));
  g_autofree char *timeout = NULL;
  nghttp2_data_provider provider = { .read_callback = data_read_cb };
  int32_t stream_id;

#define ADD_NV(n, v)                                                                    \
  G_STMT_START {                                                                        \
    nghttp2_nv nv = { (uint8_t *) (n), (uint8_t *) (v), strlen (n), strlen (v),         \
                      NGHTTP2_NV_FLAG_NONE };                                           \
    g_array_append_val (nva, nv);                                                       \
  } G_STMT_END

  ADD_NV (":method", "POST");
  ADD_NV (":scheme", channel->tls ? "https" : "http");
  ADD_NV (":path", call->path);
  ADD_NV (":authority", channel->authority);
  ADD_NV ("content-type", "application/grpc");
  ADD_NV ("te", "trailers");
  ADD_NV ("user-agent", USER_AGENT);
  if (call->deadline_us)
    {
      timeout = nb_grpc_h2_format_timeout (call->deadline_us - g_get_monotonic_time ());
      ADD_NV ("grpc-timeout", timeout);
    }
  if (call->metadata)
    {
      GHashTableIter iter;
      gpointer key, value;

      g_hash_table_iter_init (&iter, call->metadata);
      while (g_hash_table_iter_next (&iter, &key, &value))
        ADD_NV ((const char *) key, (const char *) value);
    }
#undef ADD_NV

  stream_id = nghttp2_submit_request (c->session, NULL, (const nghttp2_nv *) nva->data, nva->len,
                                      &provider, call);
  if (stream_id < 0)
    {
      call->conn = NULL;
      call->state = CALL_ACTIVE;
      call_fail (call,
                 g_error_new (NB_GRPC_ERROR, NB_GRPC_STATUS_UNAVAILABLE, "cannot start stream: %s",
                              nghttp2_strerror (stream_id)),
                 NO_RST);
      return;
    }
  call->conn = c;
  call->state = CALL_ACTIVE;
  call->stream_id = stream_id;
  g_hash_table_insert (c->streams, GINT_TO_POINTER (stream_id), call);
  g_debug ("connection %u: stream %d %s", c->id, stream_id, call->path);
  conn_schedule_flush (c);
}

/* ------------------------------------------------------------------------ */
/* NbGrpcCall GObject */

G_DEFINE_FINAL_TYPE (NbGrpcCall, nb_grpc_call, G_TYPE_OBJECT)

static void
nb_grpc_call_init (NbGrpcCall *call)
{
  g_queue_init (&call->send_queue);
  g_queue_init (&call->events);
}

static void
nb_grpc_call_dispose (GObject *object)
{
  NbGrpcCall *call = NB_GRPC_CALL (object);

  call_terminate (call, NGHTTP2_CANCEL);
  nb_grpc_h2_clear_source (&call->dispatch_source);
  g_queue_clear_full (&call->events, (GDestroyNotify) event_free);
  G_OBJECT_CLASS (nb_grpc_call_parent_class)->dispose (object);
}

static void
nb_grpc_call_finalize (GObject *object)
{
  NbGrpcCall *call = NB_GRPC_CALL (object);

  g_clear_object (&call->channel);
  g_free (call->path);
  g_clear_pointer (&call->metadata, g_hash_table_unref);
  g_clear_pointer (&call->decoder, nb_grpc_frame_decoder_free);
  g_clear_pointer (&call->collecting, g_hash_table_unref);
  g_clear_pointer (&call->response_headers, g_hash_table_unref);
  g_clear_pointer (&call->trailers, g_hash_table_unref);
  G_OBJECT_CLASS (nb_grpc_call_parent_class)->finalize (object);
}

static void
nb_grpc_call_class_init (NbGrpcCallClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = nb_grpc_call_dispose;
  object_class->finalize = nb_grpc_call_finalize;

  call_signals[CALL_SIGNAL_HEADERS] =
    g_signal_new ("headers", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 1, G_TYPE_HASH_TABLE);
  call_signals[CALL_SIGNAL_MESSAGE] =
    g_signal_new ("message", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 1, G_TYPE_BYTES);
  call_signals[CALL_SIGNAL_CLOSED] =
    g_signal_new ("closed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 1, G_TYPE_ERROR);
}

static void
call_resume (NbGrpcCall *call)
{
  Connection *c = call->conn;

  if (call->state != CALL_ACTIVE || c == NULL || c->session == NULL)
    return;
  if (call->data_deferred)
    {
      call->data_deferred = FALSE;
      nghttp2_session_resume_data (c->session, call->stream_id);
    }
  conn_schedule_flush (c);
}

void
nb_grpc_call_send (NbGrpcCall *call, GBytes *message)
{
  GBytes *framed;

  g_return_if_fail (NB_IS_GRPC_CALL (call));
  g_return_if_fail (message != NULL);
  g_return_if_fail (g_bytes_get_size (message) <= G_MAXUINT32);

  if (call->state == CALL_DONE)
    return;
  g_return_if_fail (!call->send_closed);

  framed = nb_grpc_frame_encode (message);
  call->send_queue_size += g_bytes_get_size (framed);
  g_queue_push_tail (&call->send_queue, framed);
  call_resume (call);
}

void
nb_grpc_call_close_send (NbGrpcCall *call)
{
  g_return_if_fail (NB_IS_GRPC_CALL (call));

  if (call->state == CALL_DONE || call->send_closed)
    return;
  call->send_closed = TRUE;
  call_resume (call);
}

void
nb_grpc_call_cancel (NbGrpcCall *call)
{
  g_autoptr (NbGrpcCall) hold = NULL;
  g_autoptr (GError) error = NULL;

  g_return_if_fail (NB_IS_GRPC_CALL (call));

  if (call->closed_emitted)
    return;
  hold = g_object_ref (call);
  call_terminate (call, NGHTTP2_CANCEL);
  g_queue_clear_full (&call->events, (GDestroyNotify) event_free);
  nb_grpc_h2_clear_source (&call->dispatch_source);
  call->closed_emitted = TRUE;
  error = g_error_new (G_IO_ERROR, G_IO_ERROR_CANCELLED, "call %s cancelled", call->path);
  g_signal_emit (call, call_signals[CALL_SIGNAL_CLOSED], 0, error);
}

const char *
nb_grpc_call_get_path (NbGrpcCall *call)
{
  g_return_val_if_fail (NB_IS_GRPC_CALL (call), NULL);
  return call->path;
}

gboolean
nb_grpc_call_is_closed (NbGrpcCall *call)
{
  g_return_val_if_fail (NB_IS_GRPC_CALL (call), TRUE);
  return call->closed_emitted;
}

gsize
nb_grpc_call_get_send_queue_size (NbGrpcCall *call)
{
  g_return_val_if_fail (NB_IS_GRPC_CALL (call), 0);
  return call->send_queue_size;
}

GHashTable *
nb_grpc_call_get_response_headers (NbGrpcCall *call)
{
  g_return_val_if_fail (NB_IS_GRPC_CALL (call), NULL);
  return call->response_headers;
}

GHashTable *
nb_grpc_call_get_trailers (NbGrpcCall *call)
{
  g_return_val_if_fail (NB_IS_GRPC_CALL (call), NULL);
  return call->trailers;
}

/* ------------------------------------------------------------------------ */
/* NbGrpcChannel GObject */

static void nb_grpc_channel_initable_iface_init (GInitableIface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (NbGrpcChannel, nb_grpc_channel, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (G_TYPE_INITABLE,
                                                      nb_grpc_channel_initable_iface_init))

static gboolean
nb_grpc_channel_initable_init (GInitable *initable, GCancellable *cancellable, GError **error)
{
  NbGrpcChannel *self = NB_GRPC_CHANNEL (initable);
  g_autoptr (GUri) uri = NULL;
  g_autoptr (GError) local = NULL;
  const char *scheme, *host, *path;
  int port;

  if (self->target == NULL)
    {
      g_set_error_literal (error, NB_GRPC_ERROR, NB_GRPC_STATUS_INVALID_ARGUMENT, "no target");
      return FALSE;
    }
  uri = g_uri_parse (self->target, G_URI_FLAGS_NONE, &local);
  if (uri == NULL)
    {
      g_set_error (error, NB_GRPC_ERROR, NB_GRPC_STATUS_INVALID_ARGUMENT,
                   "invalid gRPC target \"%s\": %s", self->target, local->message);
      return FALSE;
    }
  scheme = g_uri_get_scheme (uri);
  host = g_uri_get_host (uri);
  path = g_uri_get_path (uri);
  port = g_uri_get_port (uri);
  if (g_ascii_strcasecmp (scheme, "https") == 0)
    self->tls = TRUE;
  else if (g_ascii_strcasecmp (scheme, "http") == 0)
    self->tls = FALSE;
  else
    {
      g_set_error (error, NB_GRPC_ERROR, NB_GRPC_STATUS_INVALID_ARGUMENT,
                   "gRPC target \"%s\": scheme must be http or https", self->target);
      return FALSE;
    }
  if (host == NULL || *host == '\0' || g_uri_get_userinfo (uri) != NULL
      || (path && *path && strcmp (path, "/") != 0) || g_uri_get_query (uri) != NULL
      || g_uri_get_fragment (uri) != NULL || port == 0 || port > 65535)
    {
      g_set_error (error, NB_GRPC_ERROR, NB_GRPC_STATUS_INVALID_ARGUMENT,
                   "gRPC target \"%s\" must look like http(s)://host[:port]", self->target);
      return FALSE;
    }
  if (port < 0)
    port = self->tls ? 443 : 80;

  self->host = g_strdup (host);
  self->port = (guint16) port;
  if (strchr (host, ':') != NULL)
    self->authority = g_strdup_printf ("[%s]:%d", host, port);
  else
    self->authority = g_strdup_printf ("%s:%d", host, port);
  return TRUE;
}

static void
nb_grpc_channel_initable_iface_init (GInitableIface *iface)
{
  iface->init = nb_grpc_channel_initable_init;
}

static void
nb_grpc_channel_init (NbGrpcChannel *self)
{
  self->connect_timeout_ms = NB_GRPC_DEFAULT_CONNECT_TIMEOUT_MS;
  self->keepalive_time_ms = NB_GRPC_DEFAULT_KEEPALIVE_TIME_MS;
  self->keepalive_timeout_ms = NB_GRPC_DEFAULT_KEEPALIVE_TIMEOUT_MS;
  self->max_receive_message_size = NB_GRPC_DEFAULT_MAX_RECEIVE_MESSAGE_SIZE;
  self->last_ping_rtt_us = -1;
}

/* Sends GOAWAY best-effort and closes @c; its calls fail with @error. */
static void
conn_shutdown (Connection *c, GError *error)
{
  if (c->session && (c->state == CONN_READY || c->state == CONN_DRAINING))
    {
      const uint8_t *data;
      ssize_t n;

      nghttp2_session_terminate_session (c->session, NGHTTP2_NO_ERROR);
      /* One non-blocking attempt; whatever does not fit is dropped. */
      if (c->out_off == c->outbuf->len)
        {
          while ((n = nghttp2_session_mem_send (c->session, &data)) > 0)
            if (g_pollable_output_stream_write_nonblocking (c->out, data, n, NULL, NULL) != n)
              break;
        }
    }
  c->disconnected_reported = TRUE; /* a deliberate close is not "disconnected" */
  conn_fail (c, error);
}

static void
nb_grpc_channel_dispose (GObject *object)
{
  NbGrpcChannel *self = NB_GRPC_CHANNEL (object);

  self->disposed = TRUE;
  while (self->draining)
    conn_shutdown (self->draining->data,
                   g_error_new (G_IO_ERROR, G_IO_ERROR_CANCELLED, "channel disposed"));
  if (self->current)
    conn_shutdown (self->current, g_error_new (G_IO_ERROR, G_IO_ERROR_CANCELLED, "channel disposed"));
  G_OBJECT_CLASS (nb_grpc_channel_parent_class)->dispose (object);
}

static void
nb_grpc_channel_finalize (GObject *object)
{
  NbGrpcChannel *self = NB_GRPC_CHANNEL (object);

  g_free (self->target);
  g_free (self->host);
  g_free (self->authority);
  g_clear_object (&self->tls_database);
  G_OBJECT_CLASS (nb_grpc_channel_parent_class)->finalize (object);
}

static void
nb_grpc_channel_set_property (GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec)
{
  NbGrpcChannel *self = NB_GRPC_CHANNEL (object);

  switch (prop_id)
    {
    case CHANNEL_PROP_TARGET:
      g_free (self->target);
      self->target = g_value_dup_string (value);
      break;
    case CHANNEL_PROP_CONNECT_TIMEOUT_MS:
      self->connect_timeout_ms = g_value_get_uint (value);
      break;
    case CHANNEL_PROP_KEEPALIVE_TIME_MS:
      self->keepalive_time_ms = g_value_get_uint (value);
      break;
    case CHANNEL_PROP_KEEPALIVE_TIMEOUT_MS:
      self->keepalive_timeout_ms = g_value_get_uint (value);
      break;
    case CHANNEL_PROP_MAX_RECEIVE_MESSAGE_SIZE:
      self->max_receive_message_size = g_value_get_uint (value);
      break;
    case CHANNEL_PROP_TLS_DATABASE:
      g_set_object (&self->tls_database, g_value_get_object (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
nb_grpc_channel_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  NbGrpcChannel *self = NB_GRPC_CHANNEL (object);

  switch (prop_id)
    {
    case CHANNEL_PROP_TARGET:
      g_value_set_string (value, self->target);
      break;
    case CHANNEL_PROP_CONNECT_TIMEOUT_MS:
      g_value_set_uint (value, self->connect_timeout_ms);
      break;
    case CHANNEL_PROP_KEEPALIVE_TIME_MS:
      g_value_set_uint (value, self->keepalive_time_ms);
      break;
    case CHANNEL_PROP_KEEPALIVE_TIMEOUT_MS:
      g_value_set_uint (value, self->keepalive_timeout_ms);
      break;
    case CHANNEL_PROP_MAX_RECEIVE_MESSAGE_SIZE:
      g_value_set_uint (value, (guint) MIN (self->max_receive_message_size, G_MAXUINT));
      break;
    case CHANNEL_PROP_TLS_DATABASE:
      g_value_set_object (value, self->tls_database);
      break;
    case CHANNEL_PROP_CONNECTED:
      g_value_set_boolean (value, nb_grpc_channel_is_connected (self));
      break;
    case CHANNEL_PROP_LAST_PING_RTT:
      g_value_set_int64 (value, self->last_ping_rtt_us);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
nb_grpc_channel_class_init (NbGrpcChannelClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GParamFlags rw = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY;

  object_class->dispose = nb_grpc_channel_dispose;
  object_class->finalize = nb_grpc_channel_finalize;
  object_class->set_property = nb_grpc_channel_set_property;
  object_class->get_property = nb_grpc_channel_get_property;

  channel_props[CHANNEL_PROP_TARGET] =
    g_param_spec_string ("target", NULL, NULL, NULL,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  channel_props[CHANNEL_PROP_CONNECT_TIMEOUT_MS] =
    g_param_spec_uint ("connect-timeout-ms", NULL, NULL, 0, G_MAXUINT,
                       NB_GRPC_DEFAULT_CONNECT_TIMEOUT_MS, rw);
  channel_props[CHANNEL_PROP_KEEPALIVE_TIME_MS] =
    g_param_spec_uint ("keepalive-time-ms", NULL, NULL, 0, G_MAXUINT,
                       NB_GRPC_DEFAULT_KEEPALIVE_TIME_MS, rw);
  channel_props[CHANNEL_PROP_KEEPALIVE_TIMEOUT_MS] =
    g_param_spec_uint ("keepalive-timeout-ms", NULL, NULL, 1, G_MAXUINT,
                       NB_GRPC_DEFAULT_KEEPALIVE_TIMEOUT_MS, rw);
  channel_props[CHANNEL_PROP_MAX_RECEIVE_MESSAGE_SIZE] =
    g_param_spec_uint ("max-receive-message-size", NULL, NULL, 0, G_MAXUINT,
                       NB_GRPC_DEFAULT_MAX_RECEIVE_MESSAGE_SIZE, rw);
  channel_props[CHANNEL_PROP_TLS_DATABASE] =
    g_param_spec_object ("tls-database", NULL, NULL, G_TYPE_TLS_DATABASE, rw);
  channel_props[CHANNEL_PROP_CONNECTED] =
    g_param_spec_boolean ("connected", NULL, NULL, FALSE,
                          G_PARAM_READABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY);
  channel_props[CHANNEL_PROP_LAST_PING_RTT] =
    g_param_spec_int64 ("last-ping-rtt", NULL, NULL, -1, G_MAXINT64, -1,
                        G_PARAM_READABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY);
  g_object_class_install_properties (object_class, CHANNEL_N_PROPS, channel_props);

  channel_signals[CHANNEL_SIGNAL_DISCONNECTED] =
    g_signal_new ("disconnected", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 1, G_TYPE_ERROR);
}

/* Deferred channel notifications: emitted from an idle source so nothing
 * user-visible runs inside connection processing. */
typedef struct {
  NbGrpcChannel *channel;
  GError *disconnected; /* NULL: notify a property */
  GParamSpec *pspec;
} ChannelNotice;

static void
channel_notice_free (gpointer data)
{
  ChannelNotice *n = data;

  g_object_unref (n->channel);
  g_clear_error (&n->disconnected);
  g_free (n);
}

static gboolean
channel_notice_cb (gpointer data)
{
  ChannelNotice *n = data;

  if (n->disconnected)
    g_signal_emit (n->channel, channel_signals[CHANNEL_SIGNAL_DISCONNECTED], 0, n->disconnected);
  else
    g_object_notify_by_pspec (G_OBJECT (n->channel), n->pspec);
  return G_SOURCE_REMOVE;
}

static void
channel_post_notice (NbGrpcChannel *self, GError *disconnected, GParamSpec *pspec)
{
  ChannelNotice *n = g_new0 (ChannelNotice, 1);

  /* Nobody can observe a channel being disposed. */
  if (self->disposed)
    {
      g_clear_error (&disconnected);
      g_free (n);
      return;
    }
  n->channel = g_object_ref (self);
  n->disconnected = disconnected;
  n->pspec = pspec;
  g_source_unref (nb_grpc_h2_idle_source (channel_notice_cb, n, channel_notice_free));
}

static void
channel_report_disconnected (NbGrpcChannel *self, const GError *reason)
{
  channel_post_notice (self, g_error_copy (reason), NULL);
}

static void
channel_notify_ping_rtt (NbGrpcChannel *self, gint64 rtt_us)
{
  self->last_ping_rtt_us = rtt_us;
  channel_post_notice (self, NULL, channel_props[CHANNEL_PROP_LAST_PING_RTT]);
}

static void
channel_update_connected (NbGrpcChannel *self)
{
  gboolean connected = nb_grpc_channel_is_connected (self);

  if (connected == self->connected)
    return;
  self->connected = connected;
  channel_post_notice (self, NULL, channel_props[CHANNEL_PROP_CONNECTED]);
}

NbGrpcChannel *
nb_grpc_channel_new (const char *target, GError **error)
{
  return g_initable_new (NB_TYPE_GRPC_CHANNEL, NULL, error, "target", target, NULL);
}

const char *
nb_grpc_channel_get_target (NbGrpcChannel *self)
{
  g_return_val_if_fail (NB_IS_GRPC_CHANNEL (self), NULL);
  return self->target;
}

gboolean
nb_grpc_channel_is_connected (NbGrpcChannel *self)
{
  g_return_val_if_fail (NB_IS_GRPC_CHANNEL (self), FALSE);
  return self->current != NULL && self->current->state == CONN_READY && self->current->established;
}

gint64
nb_grpc_channel_get_last_ping_rtt (NbGrpcChannel *self)
{
  g_return_val_if_fail (NB_IS_GRPC_CHANNEL (self), -1);
  return self->last_ping_rtt_us;
}

void
nb_grpc_channel_set_connect_timeout (NbGrpcChannel *self, guint timeout_ms)
{
  g_object_set (self, "connect-timeout-ms", timeout_ms, NULL);
}

void
nb_grpc_channel_set_keepalive (NbGrpcChannel *self, guint time_ms, guint timeout_ms)
{
  g_object_set (self, "keepalive-time-ms", time_ms, "keepalive-timeout-ms", timeout_ms, NULL);
}

void
nb_grpc_channel_set_max_receive_message_size (NbGrpcChannel *self, gsize max_size)
{
  g_object_set (self, "max-receive-message-size", (guint) MIN (max_size, G_MAXUINT), NULL);
}

void
nb_grpc_channel_set_tls_database (NbGrpcChannel *self, GTlsDatabase *database)
{
  g_object_set (self, "tls-database", database, NULL);
}

void
nb_grpc_channel_disconnect (NbGrpcChannel *self)
{
  g_return_if_fail (NB_IS_GRPC_CHANNEL (self));

  if (self->current)
    conn_shutdown (self->current, g_error_new (NB_GRPC_ERROR, NB_GRPC_STATUS_UNAVAILABLE,
                                               "channel disconnected by the client"));
}

static Connection *
channel_get_connection (NbGrpcChannel *self)
{
  if (self->current == NULL)
    {
      self->current = conn_new (self);
      channel_update_connected (self);
    }
  return self->current;
}

NbGrpcCall *
nb_grpc_channel_open_call (NbGrpcChannel *self, const char *path, GHashTable *metadata, guint deadline_ms)
{
  NbGrpcCall *call;
  GError *error = NULL;
  Connection *c;

  g_return_val_if_fail (NB_IS_GRPC_CHANNEL (self), NULL);
  g_return_val_if_fail (self->host != NULL, NULL); /* made without g_initable_init() */
  g_return_val_if_fail (path != NULL, NULL);

  call = g_object_new (NB_TYPE_GRPC_CALL, NULL);
  call->channel = g_object_ref (self);
  call->path = g_strdup (path);
  call->decoder = nb_grpc_frame_decoder_new (self->max_receive_message_size);
  call->state = CALL_PENDING;

  if (path[0] != '/' || strchr (path + 1, '/') == NULL)
    {
      call_fail (call, g_error_new (NB_GRPC_ERROR, NB_GRPC_STATUS_INVALID_ARGUMENT,
                                    "invalid gRPC method path \"%s\"", path),
                 NO_RST);
      return call;
    }
  for (const char *p = path; *p; p++)
    if (*p <= 0x20 || *p > 0x7e)
      {
        call_fail (call, g_error_new (NB_GRPC_ERROR, NB_GRPC_STATUS_INVALID_ARGUMENT,
                                      "invalid character in gRPC method path"),
                   NO_RST);
        return call;
      }
  if (!nb_grpc_h2_metadata_validate (metadata, &error))
    {
      call_fail (call, error, NO_RST);
      return call;
    }
  if (metadata)
    {
      GHashTableIter iter;
      gpointer key, value;

      call->metadata = nb_grpc_h2_header_table_new ();
      g_hash_table_iter_init (&iter, metadata);
      while (g_hash_table_iter_next (&iter, &key, &value))
        g_hash_table_insert (call->metadata, g_strdup (key), g_strdup (value));
    }

  if (deadline_ms > 0)
    {
      call->deadline_ms = deadline_ms;
      call->deadline_us = g_get_monotonic_time () + (gint64) deadline_ms * 1000;
      call->deadline_source = nb_grpc_h2_timeout_source (deadline_ms, call_deadline_cb, call, NULL);
    }

  c = channel_get_connection (self);
  call->conn = c;
  if (c->state == CONN_READY)
    conn_start_call (c, call);
  else
    g_queue_push_tail (&c->pending, call);
  return call;
}

/* ------------------------------------------------------------------------ */
/* Unary calls */

typedef struct {
  NbGrpcCall *call;
  GBytes *response;
  GError *error; /* protocol violation seen by the unary layer */
  GSource *cancel_source;
  gulong message_id;
  gulong closed_id;
} UnaryData;

static void
unary_data_free (gpointer data)
{
  UnaryData *u = data;

  nb_grpc_h2_clear_source (&u->cancel_source);
  if (u->call)
    {
      g_clear_signal_handler (&u->message_id, u->call);
      g_clear_signal_handler (&u->closed_id, u->call);
      g_object_unref (u->call);
    }
  g_clear_pointer (&u->response, g_bytes_unref);
  g_clear_error (&u->error);
  g_free (u);
}

static void
unary_on_message (NbGrpcCall *call, GBytes *message, gpointer data)
{
  GTask *task = data;
  UnaryData *u = g_task_get_task_data (task);

  if (u->response == NULL && u->error == NULL)
    {
      u->response = g_bytes_ref (message);
      return;
    }
  if (u->error == NULL)
    u->error = g_error_new (NB_GRPC_ERROR, NB_GRPC_STATUS_INTERNAL,
                            "server sent more than one message for unary call %s", call->path);
  call_fail (call, NULL, NGHTTP2_CANCEL);
}

static void
unary_on_closed (NbGrpcCall *call, const GError *error, gpointer data)
{
  GTask *task = data;
  UnaryData *u = g_task_get_task_data (task);

  g_clear_signal_handler (&u->message_id, call);
  g_clear_signal_handler (&u->closed_id, call);
  nb_grpc_h2_clear_source (&u->cancel_source);

  if (u->error)
    g_task_return_error (task, g_steal_pointer (&u->error));
  else if (error)
    g_task_return_error (task, g_error_copy (error));
  else if (u->response == NULL)
    g_task_return_new_error (task, NB_GRPC_ERROR, NB_GRPC_STATUS_INTERNAL,
                             "server sent no message for unary call %s", call->path);
  else
    g_task_return_pointer (task, g_steal_pointer (&u->response), (GDestroyNotify) g_bytes_unref);
  g_object_unref (task);
}

static gboolean
unary_on_cancelled (GCancellable *cancellable, gpointer data)
{
  GTask *task = data;
  UnaryData *u = g_task_get_task_data (task);

  g_clear_pointer (&u->cancel_source, g_source_unref);
  nb_grpc_call_cancel (u->call); /* → unary_on_closed */
  return G_SOURCE_REMOVE;
}

void
nb_grpc_channel_call_async (NbGrpcChannel *self,
                            const char *path,
                            GBytes *request,
                            GHashTable *metadata,
                            guint deadline_ms,
                            GCancellable *cancellable,
                            GAsyncReadyCallback callback,
                            gpointer user_data)
{
  GTask *task;
  UnaryData *u;

  g_return_if_fail (NB_IS_GRPC_CHANNEL (self));
  g_return_if_fail (path != NULL);
  g_return_if_fail (request != NULL);
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, nb_grpc_channel_call_async);
  if (g_task_return_error_if_cancelled (task))
    {
      g_object_unref (task);
      return;
    }

  u = g_new0 (UnaryData, 1);
  g_task_set_task_data (task, u, unary_data_free);
  u->call = nb_grpc_channel_open_call (self, path, metadata, deadline_ms);
  u->message_id = g_signal_connect (u->call, "message", G_CALLBACK (unary_on_message), task);
  u->closed_id = g_signal_connect (u->call, "closed", G_CALLBACK (unary_on_closed), task);
  nb_grpc_call_send (u->call, request);
  nb_grpc_call_close_send (u->call);
  if (cancellable)
    {
      u->cancel_source = g_cancellable_source_new (cancellable);
      g_task_attach_source (task, u->cancel_source, G_SOURCE_FUNC (unary_on_cancelled));
    }
  /* The task's own reference is released by unary_on_closed(). */
}

GBytes *
nb_grpc_channel_call_finish (NbGrpcChannel *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (NB_IS_GRPC_CHANNEL (self), NULL);
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == nb_grpc_channel_call_async, NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}
