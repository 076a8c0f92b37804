/* SPDX-License-Identifier: GPL-2.0-or-later */
#define G_LOG_DOMAIN "nb-handshaker"

#include "config.h"

#include "handshaker.h"

#include <string.h>
#include <sodium.h>

#include "nb-sodium.h"
#include "signal-client.h"
#include "wg-key.h"

/* Superseded remote session ids remembered as stale. */
#define STALE_SESSIONS 16

typedef struct {
  guint8 id[NB_SIGNAL_SESSION_ID_LEN];
} SessionId;

struct _NbHandshaker {
  GObject parent_instance;

  char *local_key;
  char *remote_key;
  gboolean controller;

  NbHandshakerSendFunc send_func;
  gpointer send_data;
  GDestroyNotify send_destroy;
  NbHandshakerLocalFunc local_func;
  gpointer local_data;
  GDestroyNotify local_destroy;

  GMainContext *context;
  GQueue pending;               /* NbSignalMessage *, oldest first */
  GSource *idle;
  gboolean disposed;

  /* The last offer we sent, until answered or our session moved on. */
  gboolean outstanding;
  gboolean outstanding_has_sid;
  guint8 outstanding_sid[NB_SIGNAL_SESSION_ID_LEN];

  /* The remote. */
  NbSignalOffer *remote;        /* last OFFER/ANSWER taken */
  gboolean has_remote_sid;
  guint8 remote_sid[NB_SIGNAL_SESSION_ID_LEN];
  SessionId stale[STALE_SESSIONS];
  guint n_stale;
  guint stale_next;
  gboolean remote_ice_supported;

  NbHandshakerStats stats;
};

enum {
  PROP_0,
  PROP_REMOTE_ICE_SUPPORTED,
  N_PROPS
};

static GParamSpec *props[N_PROPS];

enum {
  SIGNAL_REMOTE_OFFER,
  SIGNAL_REMOTE_ANSWER,
  SIGNAL_REMOTE_CANDIDATE,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE (NbHandshaker, nb_handshaker, G_TYPE_OBJECT)

/* ------------------------------------------------------------------------ */

static void
sid_hex (gboolean has, const guint8 *sid, char out[2 * NB_SIGNAL_SESSION_ID_LEN + 1])
{
  if (!has)
    {
      g_strlcpy (out, "unknown", 2 * NB_SIGNAL_SESSION_ID_LEN + 1);
      return;
    }
  for (guint i = 0; i < NB_SIGNAL_SESSION_ID_LEN; i++)
    g_snprintf (out + 2 * i, 3, "%02x", sid[i]);
}

static gboolean
valid_key (const char *key)
{
  NbWgKey k = NB_WG_KEY_INIT;

  return nb_wg_key_from_base64 (key, &k, NULL);
}

gboolean
nb_handshaker_is_controller_for (const char *local_key, const char *remote_key)
{
  return nb_wg_key_string_compare (local_key, remote_key) > 0;
}

void
nb_handshaker_new_session_id (guint8 out[NB_SIGNAL_SESSION_ID_LEN])
{
  nb_sodium_init ();
  randombytes_buf (out, NB_SIGNAL_SESSION_ID_LEN);
}

gboolean
nb_handshaker_send_via_signal_client (const char            *remote_key,
                                      const NbSignalMessage *msg,
                                      gpointer               user_data,
                                      GError               **error)
{
  return nb_signal_client_send (NB_SIGNAL_CLIENT (user_data), remote_key, msg, error);
}

static gboolean
is_stale (NbHandshaker *self, const guint8 *sid)
{
  for (guint i = 0; i < self->n_stale; i++)
    if (memcmp (self->stale[i].id, sid, NB_SIGNAL_SESSION_ID_LEN) == 0)
      return TRUE;
  return FALSE;
}

static void
push_stale (NbHandshaker *self, const guint8 *sid)
{
  memcpy (self->stale[self->stale_next].id, sid, NB_SIGNAL_SESSION_ID_LEN);
  self->stale_next = (self->stale_next + 1) % STALE_SESSIONS;
  if (self->n_stale < STALE_SESSIONS)
    self->n_stale++;
}

static gboolean
is_remote_session (NbHandshaker *self, const guint8 *sid)
{
  return self->has_remote_sid && memcmp (self->remote_sid, sid, NB_SIGNAL_SESSION_ID_LEN) == 0;
}

static gboolean
has_ice_credentials (const NbSignalOffer *o)
{
  return o->ufrag != NULL && o->ufrag[0] != '\0' && o->pwd != NULL && o->pwd[0] != '\0';
}

/* Our local state, as the owner reports it. */
static NbSignalOffer *
build_local (NbHandshaker *self)
{
  NbSignalOffer *o = nb_signal_offer_new ();

  if (self->local_func != NULL)
    self->local_func (o, self->local_data);
  return o;
}

/* NetBird leaves our ICE credentials out while the remote sends none. */
static void
strip_ice (NbSignalOffer *o)
{
  g_clear_pointer (&o->ufrag, g_free);
  if (o->pwd != NULL)
    {
      sodium_memzero (o->pwd, strlen (o->pwd));
      g_clear_pointer (&o->pwd, g_free);
    }
  o->has_session_id = FALSE;
  memset (o->session_id, 0, sizeof o->session_id);
}

static gboolean
send_offer_answer (NbHandshaker *self, NbSignalMsgType type, GError **error)
{
  g_autoptr (NbSignalOffer) local = build_local (self);
  g_autoptr (NbSignalMessage) msg = NULL;
  gboolean has_sid = local->has_session_id;
  guint8 sid[NB_SIGNAL_SESSION_ID_LEN];
  char hex[2 * NB_SIGNAL_SESSION_ID_LEN + 1];
  g_autoptr (GError) local_error = NULL;

  memcpy (sid, local->session_id, sizeof sid);
  if (!self->remote_ice_supported)
    strip_ice (local);
  sid_hex (local->has_session_id, local->session_id, hex);

  msg = nb_signal_message_new_offer (type, g_steal_pointer (&local));
  if (!self->send_func (self->remote_key, msg, self->send_data, &local_error))
    {
      self->stats.send_failures++;
      g_debug ("%s to %s failed: %s", nb_signal_msg_type_to_string (type), self->remote_key,
               local_error->message);
      g_propagate_error (error, g_steal_pointer (&local_error));
      return FALSE;
    }

  g_debug ("sent %s to %s, session %s", nb_signal_msg_type_to_string (type), self->remote_key, hex);
  if (type == NB_SIGNAL_MSG_OFFER)
    {
      self->stats.offers_sent++;
      self->outstanding = TRUE;
      self->outstanding_has_sid = has_sid;
      memcpy (self->outstanding_sid, sid, sizeof sid);
    }
  else
    {
      self->stats.answers_sent++;
    }
  return TRUE;
}

/* Records what the remote told us; returns whether it started a new ICE
 * session. */
static gboolean
take_remote (NbHandshaker *self, const NbSignalOffer *o)
{
  gboolean first = self->remote == NULL;
  gboolean changed = first;
  gboolean ice = has_ice_credentials (o);

  if (o->has_session_id && !is_remote_session (self, o->session_id))
    {
      if (self->has_remote_sid)
        push_stale (self, self->remote_sid);
      memcpy (self->remote_sid, o->session_id, NB_SIGNAL_SESSION_ID_LEN);
      self->has_remote_sid = TRUE;
      changed = TRUE;
    }

  g_clear_pointer (&self->remote, nb_signal_offer_free);
  self->remote = nb_signal_offer_copy (o);

  if (ice != self->remote_ice_supported)
    {
      g_info ("remote %s %s sending ICE credentials", self->remote_key, ice ? "started" : "stopped");
      self->remote_ice_supported = ice;
      g_object_notify_by_pspec (G_OBJECT (self), props[PROP_REMOTE_ICE_SUPPORTED]);
    }
  return changed;
}

static void
handle_offer_answer (NbHandshaker *self, const NbSignalMessage *msg)
{
  const NbSignalOffer *o = msg->offer;
  gboolean is_offer = msg->type == NB_SIGNAL_MSG_OFFER;
  gboolean matched = FALSE;
  gboolean session_changed;
  char hex[2 * NB_SIGNAL_SESSION_ID_LEN + 1];

  sid_hex (o->has_session_id, o->session_id, hex);
  if (o->has_session_id && is_stale (self, o->session_id))
    {
      self->stats.dropped_stale++;
      g_debug ("dropped %s from %s: stale session %s", nb_signal_msg_type_to_string (msg->type),
               self->remote_key, hex);
      return;
    }

  if (!is_offer)
    {
      if (self->outstanding)
        {
          g_autoptr (NbSignalOffer) local = build_local (self);

          matched = local->has_session_id == self->outstanding_has_sid
            && (!local->has_session_id
                || memcmp (local->session_id, self->outstanding_sid, NB_SIGNAL_SESSION_ID_LEN) == 0);
          /* Answered now, or for a local session we have left. */
          self->outstanding = FALSE;
        }
      if (!matched && o->has_session_id && is_remote_session (self, o->session_id))
        {
          self->stats.dropped_duplicate++;
          g_debug ("dropped unsolicited answer from %s repeating session %s", self->remote_key, hex);
          return;
        }
    }

  session_changed = take_remote (self, o);
  g_debug ("received %s from %s: version %s, wg port %u, session %s%s%s",
           nb_signal_msg_type_to_string (msg->type), self->remote_key,
           o->version && *o->version ? o->version : "-", o->wg_listen_port, hex,
           session_changed ? " (new)" : "", is_offer ? "" : (matched ? ", matched" : ", unsolicited"));

  if (is_offer)
    {
      g_autoptr (GError) error = NULL;

      self->stats.offers_received++;
      g_signal_emit (self, signals[SIGNAL_REMOTE_OFFER], 0, o, session_changed);
      if (self->disposed)
        return;
      if (self->send_func == NULL)
        g_warning ("no sender: cannot answer the offer from %s", self->remote_key);
      else if (!send_offer_answer (self, NB_SIGNAL_MSG_ANSWER, &error))
        g_warning ("failed to answer the offer from %s: %s", self->remote_key, error->message);
    }
  else
    {
      self->stats.answers_received++;
      g_signal_emit (self, signals[SIGNAL_REMOTE_ANSWER], 0, o, session_changed, matched);
    }
}

static void
handle_candidate (NbHandshaker *self, const NbSignalMessage *msg)
{
  if (msg->has_session_id && is_stale (self, msg->session_id))
    {
      char hex[2 * NB_SIGNAL_SESSION_ID_LEN + 1];

      sid_hex (TRUE, msg->session_id, hex);
      self->stats.dropped_stale++;
      g_debug ("dropped candidate from %s: stale session %s", self->remote_key, hex);
      return;
    }
  self->stats.candidates_received++;
  g_signal_emit (self, signals[SIGNAL_REMOTE_CANDIDATE], 0, msg->candidate);
}

static gboolean
process_cb (gpointer data)
{
  NbHandshaker *self = NB_HANDSHAKER (data);
  g_autoptr (NbHandshaker) hold = g_object_ref (self);
  NbSignalMessage *msg;

  g_clear_pointer (&self->idle, g_source_unref); /* removed by returning */

  while (!self->disposed && (msg = g_queue_pop_head (&self->pending)) != NULL)
    {
      if (msg->type == NB_SIGNAL_MSG_CANDIDATE)
        handle_candidate (self, msg);
      else
        handle_offer_answer (self, msg);
      nb_signal_message_free (msg);
    }
  return G_SOURCE_REMOVE;
}

static void
schedule_processing (NbHandshaker *self)
{
  if (self->idle != NULL)
    return;
  self->idle = g_idle_source_new ();
  g_source_set_callback (self->idle, process_cb, self, NULL);
  g_source_set_static_name (self->idle, "[nb-handshaker] receive");
  g_source_attach (self->idle, self->context);
}

/* ------------------------------------------------------------------------ */

NbHandshaker *
nb_handshaker_new (const char *local_key, const char *remote_key)
{
  NbHandshaker *self;

  g_return_val_if_fail (valid_key (local_key), NULL);
  g_return_val_if_fail (valid_key (remote_key), NULL);

  self = g_object_new (NB_TYPE_HANDSHAKER, NULL);
  self->local_key = g_strdup (local_key);
  self->remote_key = g_strdup (remote_key);
  self->controller = nb_handshaker_is_controller_for (local_key, remote_key);
  return self;
}

void
nb_handshaker_set_sender (NbHandshaker         *self,
                          NbHandshakerSendFunc  func,
                          gpointer              user_data,
                          GDestroyNotify        destroy)
{
  g_return_if_fail (NB_IS_HANDSHAKER (self));

  if (self->send_destroy != NULL)
    self->send_destroy (self->send_data);
  self->send_func = func;
  self->send_data = user_data;
  self->send_destroy = destroy;
}

void
nb_handshaker_set_local_func (NbHandshaker          *self,
                              NbHandshakerLocalFunc  func,
                              gpointer               user_data,
                              GDestroyNotify         destroy)
{
  g_return_if_fail (NB_IS_HANDSHAKER (self));

  if (self->local_destroy != NULL)
    self->local_destroy (self->local_data);
  self->local_func = func;
  self->local_data = user_data;
  self->local_destroy = destroy;
}

const char *
nb_handshaker_get_local_key (NbHandshaker *self)
{
  g_return_val_if_fail (NB_IS_HANDSHAKER (self), NULL);
  return self->local_key;
}

const char *
nb_handshaker_get_remote_key (NbHandshaker *self)
{
  g_return_val_if_fail (NB_IS_HANDSHAKER (self), NULL);
  return self->remote_key;
}

gboolean
nb_handshaker_is_controller (NbHandshaker *self)
{
  g_return_val_if_fail (NB_IS_HANDSHAKER (self), FALSE);
  return self->controller;
}

gboolean
nb_handshaker_send_offer (NbHandshaker *self, GError **error)
{
  g_return_val_if_fail (NB_IS_HANDSHAKER (self), FALSE);
  g_return_val_if_fail (self->send_func != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  return send_offer_answer (self, NB_SIGNAL_MSG_OFFER, error);
}

gboolean
nb_handshaker_receive (NbHandshaker *self, const NbSignalMessage *msg)
{
  g_return_val_if_fail (NB_IS_HANDSHAKER (self), FALSE);
  g_return_val_if_fail (msg != NULL, FALSE);

  if (msg->sender_key != NULL && g_strcmp0 (msg->sender_key, self->remote_key) != 0)
    {
      g_debug ("dropped %s from %s: not from %s", nb_signal_msg_type_to_string (msg->type),
               msg->sender_key, self->remote_key);
      return FALSE;
    }

  switch (msg->type)
    {
    case NB_SIGNAL_MSG_OFFER:
    case NB_SIGNAL_MSG_ANSWER:
      if (msg->offer == NULL)
        return FALSE;
      /* Keep only the newest of a type that is still queued. */
      for (GList *l = self->pending.head; l != NULL; l = l->next)
        {
          NbSignalMessage *queued = l->data;

          if (queued->type == msg->type)
            {
              nb_signal_message_free (queued);
              l->data = nb_signal_message_copy (msg);
              self->stats.coalesced++;
              return TRUE;
            }
        }
      break;
    case NB_SIGNAL_MSG_CANDIDATE:
      if (msg->candidate == NULL)
        return FALSE;
      break;
    case NB_SIGNAL_MSG_MODE:
    case NB_SIGNAL_MSG_GO_IDLE:
    case NB_SIGNAL_MSG_HEARTBEAT:
    default:
      return FALSE;
    }

  g_queue_push_tail (&self->pending, nb_signal_message_copy (msg));
  schedule_processing (self);
  return TRUE;
}

void
nb_handshaker_reset (NbHandshaker *self)
{
  g_return_if_fail (NB_IS_HANDSHAKER (self));

  g_queue_clear_full (&self->pending, (GDestroyNotify) nb_signal_message_free);
  if (self->idle != NULL)
    {
      g_source_destroy (self->idle);
      g_clear_pointer (&self->idle, g_source_unref);
    }
  self->outstanding = FALSE;
}

const NbSignalOffer *
nb_handshaker_get_remote_params (NbHandshaker *self)
{
  g_return_val_if_fail (NB_IS_HANDSHAKER (self), NULL);
  return self->remote;
}

const char *
nb_handshaker_get_remote_version (NbHandshaker *self)
{
  g_return_val_if_fail (NB_IS_HANDSHAKER (self), NULL);
  return self->remote != NULL ? self->remote->version : NULL;
}

gboolean
nb_handshaker_remote_has_feature (NbHandshaker *self, guint32 feature)
{
  g_return_val_if_fail (NB_IS_HANDSHAKER (self), FALSE);
  return self->remote != NULL && nb_signal_offer_has_feature (self->remote, feature);
}

gboolean
nb_handshaker_get_remote_ice_supported (NbHandshaker *self)
{
  g_return_val_if_fail (NB_IS_HANDSHAKER (self), FALSE);
  return self->remote_ice_supported;
}

gboolean
nb_handshaker_get_remote_session_id (NbHandshaker *self, guint8 out[NB_SIGNAL_SESSION_ID_LEN])
{
  g_return_val_if_fail (NB_IS_HANDSHAKER (self), FALSE);

  if (!self->has_remote_sid)
    return FALSE;
  if (out != NULL)
    memcpy (out, self->remote_sid, NB_SIGNAL_SESSION_ID_LEN);
  return TRUE;
}

gboolean
nb_handshaker_has_outstanding_offer (NbHandshaker *self)
{
  g_return_val_if_fail (NB_IS_HANDSHAKER (self), FALSE);
  return self->outstanding;
}

void
nb_handshaker_get_stats (NbHandshaker *self, NbHandshakerStats *out)
{
  g_return_if_fail (NB_IS_HANDSHAKER (self));
  g_return_if_fail (out != NULL);
  *out = self->stats;
}

/* ------------------------------------------------------------------------ */

static void
nb_handshaker_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  NbHandshaker *self = NB_HANDSHAKER (object);

  switch (prop_id)
    {
    case PROP_REMOTE_ICE_SUPPORTED:
      g_value_set_boolean (value, self->remote_ice_supported);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
nb_handshaker_dispose (GObject *object)
{
  NbHandshaker *self = NB_HANDSHAKER (object);

  self->disposed = TRUE;
  nb_handshaker_reset (self);
  nb_handshaker_set_sender (self, NULL, NULL, NULL);
  nb_handshaker_set_local_func (self, NULL, NULL, NULL);
  G_OBJECT_CLASS (nb_handshaker_parent_class)->dispose (object);
}

static void
nb_handshaker_finalize (GObject *object)
{
  NbHandshaker *self = NB_HANDSHAKER (object);

  g_free (self->local_key);
  g_free (self->remote_key);
  g_clear_pointer (&self->remote, nb_signal_offer_free);
  g_clear_pointer (&self->context, g_main_context_unref);
  G_OBJECT_CLASS (nb_handshaker_parent_class)->finalize (object);
}

static void
nb_handshaker_init (NbHandshaker *self)
{
  self->context = g_main_context_ref_thread_default ();
  g_queue_init (&self->pending);
  self->remote_ice_supported = TRUE;
}

static void
nb_handshaker_class_init (NbHandshakerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->get_property = nb_handshaker_get_property;
  object_class->dispose = nb_handshaker_dispose;
  object_class->finalize = nb_handshaker_finalize;

  props[PROP_REMOTE_ICE_SUPPORTED] =
    g_param_spec_boolean ("remote-ice-supported", NULL, NULL, TRUE,
                          G_PARAM_READABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY);
  g_object_class_install_properties (object_class, N_PROPS, props);

  signals[SIGNAL_REMOTE_OFFER] =
    g_signal_new ("remote-offer", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 2, G_TYPE_POINTER, G_TYPE_BOOLEAN);
  signals[SIGNAL_REMOTE_ANSWER] =
    g_signal_new ("remote-answer", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 3, G_TYPE_POINTER, G_TYPE_BOOLEAN, G_TYPE_BOOLEAN);
  signals[SIGNAL_REMOTE_CANDIDATE] =
    g_signal_new ("remote-candidate", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 1, G_TYPE_POINTER);
}
