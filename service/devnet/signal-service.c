/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * netbird-devnet's signal exchange; see signal-service.h.
 */
#define G_LOG_DOMAIN "nb-devnet-signal"

#include "config.h"

#include "signal-service.h"

#include "signalexchange.pb-c.h"

#define PATH_SEND           "/signalexchange.SignalExchange/Send"
#define PATH_CONNECT_STREAM "/signalexchange.SignalExchange/ConnectStream"

/* Above this many queued bytes a stream gets no more messages until it
 * drained. */
#define MAX_SEND_QUEUE (4 * 1024 * 1024)

typedef struct {
  NbDevnetSignal *owner; /* not a reference: streams die with the owner */
  NbGrpcServerCall *call;
  char *key;
  guint64 id;
} Stream;

struct _NbDevnetSignal {
  GObject parent_instance;

  GHashTable *streams; /* key → Stream* (owned) */
  guint64 next_id;
  guint64 n_forwarded;
  guint64 n_dropped;
};

enum {
  SIGNAL_PEER_CONNECTED,
  SIGNAL_PEER_DISCONNECTED,
  N_SIGNALS,
};
static guint signals[N_SIGNALS];

G_DEFINE_TYPE (NbDevnetSignal, nb_devnet_signal, G_TYPE_OBJECT)

static void
stream_free (Stream *stream)
{
  g_signal_handlers_disconnect_by_data (stream->call, stream);
  g_object_unref (stream->call);
  g_free (stream->key);
  g_free (stream);
}

/* Forgets @stream (if it is still the registered one) without ending it. */
static void
stream_unregister (Stream *stream)
{
  NbDevnetSignal *self = stream->owner;
  g_autofree char *key = g_strdup (stream->key);

  if (g_hash_table_lookup (self->streams, key) != stream)
    return;
  g_hash_table_remove (self->streams, key); /* frees stream */
  g_signal_emit (self, signals[SIGNAL_PEER_DISCONNECTED], 0, key);
}

/* ------------------------------------------------------------------------ */
/* Routing */

/* Routes one serialized EncryptedMessage. Returns FALSE when it does not
 * parse. */
static gboolean
route (NbDevnetSignal *self, GBytes *message, const char *via)
{
  gsize len;
  const guint8 *data = g_bytes_get_data (message, &len);
  Signalexchange__EncryptedMessage *em;
  Stream *dest;

  em = signalexchange__encrypted_message__unpack (NULL, len, data);
  if (em == NULL)
    {
      self->n_dropped++;
      g_message ("dropped a malformed message (%" G_GSIZE_FORMAT " bytes) from %s", len, via);
      return FALSE;
    }
  dest = g_hash_table_lookup (self->streams, em->remotekey);
  if (dest == NULL)
    {
      self->n_dropped++;
      g_debug ("message %s → %s dropped: destination not connected", em->key, em->remotekey);
    }
  else if (nb_grpc_server_call_get_send_queue_size (dest->call) > MAX_SEND_QUEUE)
    {
      self->n_dropped++;
      g_message ("message %s → %s dropped: destination does not read its stream", em->key,
                 em->remotekey);
    }
  else
    {
      /* Unchanged bytes: the server never looks into the body. */
      nb_grpc_server_call_send (dest->call, message);
      self->n_forwarded++;
      g_debug ("message %s → %s forwarded (%" G_GSIZE_FORMAT " bytes)", em->key, em->remotekey,
               em->body.len);
    }
  signalexchange__encrypted_message__free_unpacked (em, NULL);
  return TRUE;
}

/* ------------------------------------------------------------------------ */
/* Send */

static void
send_cb (NbGrpcServerCall *call, GBytes *request, gpointer user_data)
{
  NbDevnetSignal *self = user_data;
  Signalexchange__EncryptedMessage empty = SIGNALEXCHANGE__ENCRYPTED_MESSAGE__INIT;
  g_autofree char *via = g_strdup_printf ("Send from %s", nb_grpc_server_call_get_peer (call));
  gsize len = signalexchange__encrypted_message__get_packed_size (&empty);
  guint8 *buf = g_malloc (len + 1);
  g_autoptr (GBytes) reply = NULL;

  if (!route (self, request, via))
    {
      g_free (buf);
      nb_grpc_server_call_fail (call, NB_GRPC_STATUS_INTERNAL,
                                "grpc: error unmarshalling request: not an EncryptedMessage");
      return;
    }
  signalexchange__encrypted_message__pack (&empty, buf);
  reply = g_bytes_new_take (buf, len);
  nb_grpc_server_call_reply (call, reply);
}

/* ------------------------------------------------------------------------ */
/* ConnectStream */

static void
stream_message_cb (NbGrpcServerCall *call, GBytes *message, gpointer data)
{
  Stream *stream = data;
  g_autofree char *via = g_strdup_printf ("the stream of %s", stream->key);

  route (stream->owner, message, via);
}

static void
stream_half_closed_cb (NbGrpcServerCall *call, gpointer data)
{
  Stream *stream = data;
  g_autoptr (NbGrpcServerCall) keep = g_object_ref (call);

  g_message ("peer %s closed its stream", stream->key);
  stream_unregister (stream);
  nb_grpc_server_call_finish (keep, NB_GRPC_STATUS_OK, NULL);
}

static void
stream_cancelled_cb (NbGrpcServerCall *call, const GError *reason, gpointer data)
{
  Stream *stream = data;

  g_message ("peer %s disconnected (%s)", stream->key, reason ? reason->message : "cancelled");
  stream_unregister (stream);
}

static void
connect_stream_cb (NbGrpcServerCall *call, GBytes *request, gpointer user_data)
{
  NbDevnetSignal *self = user_data;
  const char *key = nb_grpc_server_call_get_metadata_value (call, NB_DEVNET_SIGNAL_HEADER_ID);
  g_autoptr (GHashTable) headers = NULL;
  Stream *stream;
  Stream *old;

  if (key == NULL)
    {
      g_message ("stream from %s refused: no %s metadata", nb_grpc_server_call_get_peer (call),
                 NB_DEVNET_SIGNAL_HEADER_ID);
      nb_grpc_server_call_fail (call, NB_GRPC_STATUS_FAILED_PRECONDITION,
                                "missing connection header: " NB_DEVNET_SIGNAL_HEADER_ID);
      return;
    }

  stream = g_new0 (Stream, 1);
  stream->owner = self;
  stream->call = g_object_ref (call);
  stream->key = g_strdup (key);
  stream->id = ++self->next_id;

  old = g_hash_table_lookup (self->streams, key);
  if (old != NULL)
    {
      g_autoptr (NbGrpcServerCall) old_call = g_object_ref (old->call);

      /* Take it out without "peer-disconnected": the key stays connected. */
      g_hash_table_steal (self->streams, key);
      stream_free (old);
      nb_grpc_server_call_fail (old_call, NB_GRPC_STATUS_UNKNOWN, "peer registered again");
      g_message ("peer %s connected again from %s: the older stream is closed", key,
                 nb_grpc_server_call_get_peer (call));
    }
  else
    g_message ("peer %s connected from %s", key, nb_grpc_server_call_get_peer (call));

  g_hash_table_replace (self->streams, stream->key, stream);
  g_signal_connect (call, "message", G_CALLBACK (stream_message_cb), stream);
  g_signal_connect (call, "half-closed", G_CALLBACK (stream_half_closed_cb), stream);
  g_signal_connect (call, "cancelled", G_CALLBACK (stream_cancelled_cb), stream);

  headers = g_hash_table_new (g_str_hash, g_str_equal);
  g_hash_table_insert (headers, (gpointer) NB_DEVNET_SIGNAL_HEADER_REGISTERED, (gpointer) "1");
  nb_grpc_server_call_send_headers (call, headers);

  if (old == NULL)
    g_signal_emit (self, signals[SIGNAL_PEER_CONNECTED], 0, key);
}

/* ------------------------------------------------------------------------ */
/* GObject */

static void
nb_devnet_signal_init (NbDevnetSignal *self)
{
  self->streams = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, (GDestroyNotify) stream_free);
}

static void
nb_devnet_signal_finalize (GObject *object)
{
  NbDevnetSignal *self = NB_DEVNET_SIGNAL (object);

  g_hash_table_unref (self->streams);
  G_OBJECT_CLASS (nb_devnet_signal_parent_class)->finalize (object);
}

static void
nb_devnet_signal_class_init (NbDevnetSignalClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = nb_devnet_signal_finalize;

  signals[SIGNAL_PEER_CONNECTED] =
    g_signal_new ("peer-connected", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                  NULL, G_TYPE_NONE, 1, G_TYPE_STRING);
  signals[SIGNAL_PEER_DISCONNECTED] =
    g_signal_new ("peer-disconnected", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                  NULL, G_TYPE_NONE, 1, G_TYPE_STRING);
}

NbDevnetSignal *
nb_devnet_signal_new (void)
{
  return g_object_new (NB_TYPE_DEVNET_SIGNAL, NULL);
}

void
nb_devnet_signal_attach (NbDevnetSignal *self, NbGrpcServer *server)
{
  g_return_if_fail (NB_IS_DEVNET_SIGNAL (self));
  g_return_if_fail (NB_IS_GRPC_SERVER (server));

  nb_grpc_server_add_method (server, PATH_SEND, NB_GRPC_METHOD_UNARY, send_cb, g_object_ref (self),
                             g_object_unref);
  nb_grpc_server_add_method (server, PATH_CONNECT_STREAM, NB_GRPC_METHOD_BIDI_STREAMING,
                             connect_stream_cb, g_object_ref (self), g_object_unref);
}

guint
nb_devnet_signal_get_n_peers (NbDevnetSignal *self)
{
  g_return_val_if_fail (NB_IS_DEVNET_SIGNAL (self), 0);
  return g_hash_table_size (self->streams);
}

guint64
nb_devnet_signal_get_n_forwarded (NbDevnetSignal *self)
{
  g_return_val_if_fail (NB_IS_DEVNET_SIGNAL (self), 0);
  return self->n_forwarded;
}

guint64
nb_devnet_signal_get_n_dropped (NbDevnetSignal *self)
{
  g_return_val_if_fail (NB_IS_DEVNET_SIGNAL (self), 0);
  return self->n_dropped;
}

void
nb_devnet_signal_stop (NbDevnetSignal *self)
{
  g_autoptr (GPtrArray) calls = g_ptr_array_new_with_free_func (g_object_unref);
  GHashTableIter iter;
  gpointer value;

  g_return_if_fail (NB_IS_DEVNET_SIGNAL (self));

  g_hash_table_iter_init (&iter, self->streams);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    g_ptr_array_add (calls, g_object_ref (((Stream *) value)->call));
  g_hash_table_remove_all (self->streams);
  for (guint i = 0; i < calls->len; i++)
    nb_grpc_server_call_fail (calls->pdata[i], NB_GRPC_STATUS_UNAVAILABLE, "server stopping");
}
