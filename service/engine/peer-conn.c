/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * NbPeerConn: one remote peer, end to end. The pieces (handshaker, guard,
 * ICE and relay workers, proxy, WireGuard backend, status recorder) each
 * know one job; this file is the only place that knows how they fit, so
 * the rules that need more than one of them live here: which ICE worker
 * belongs to which pair of sessions, which path carries WireGuard, when
 * WireGuard may skip the proxy, and when a path that still looks up has
 * in fact stopped carrying traffic.
 *
 * Why a traffic watchdog: libnice notices a dead selected pair only after
 * its consent freshness window (7-10 s), while the relay path that runs in
 * parallel could carry the traffic at once. A path that delivers nothing
 * for a second while we keep sending (or while the other path delivers,
 * i.e. the remote has already moved) is treated as "suspect" and left,
 * make-before-break; it may take over again once it delivers again, or
 * after libnice had every chance to declare it dead and did not.
 */
#define G_LOG_DOMAIN "nb-peer"

#include "config.h"

#include "peer-conn.h"

#include <string.h>

#include <sodium.h>

#include "guard.h"
#include "handshaker.h"
#include "uplink.h"
#include "wg-proxy.h"
#include "worker-relay.h"

#define WATCHDOG_INTERVAL_MS   250
#define SUSPECT_SILENCE_MS     1000
/* The same for a path that has delivered nothing since it became active:
 * ICE's checks (or the relay's peer state) have just shown it works both
 * ways, so its silence means that the remote has not moved to it yet (its
 * own checks complete later, seen past 1 s on a loaded machine). Judged
 * after 1 s, both sides could flee to the relay from each other. */
#define FRESH_SILENCE_MS       3000
/* libnice fails a dead pair 10 s after its last consent answer; a suspect
 * path whose worker still reports connected after this is alive. */
#define SUSPECT_RETRY_MS       12000
#define DIRECT_POLL_MS         500
/* After going direct, WireGuard's endpoint is checked (and set again if a
 * late datagram through the proxy made it roam back) for this long. */
#define DIRECT_SETTLE_MS       5000
/* The non-controller turns WireGuard's persistent keepalive on after the
 * first handshake, or after this long on a path without one. */
#define KEEPALIVE_FALLBACK_MS  10000
/* After a path comes up, an initiation WireGuard sent that got no response
 * is sent again this often, this many times (the remote end of a relayed
 * conn may open its side a moment later and drop what came before). */
#define NUDGE_INTERVAL_MS      400
#define NUDGE_MAX              5
/* A WireGuard handshake response's size; no transport data message has it
 * (those are 32 bytes plus a multiple of 16). */
#define WG_RESPONSE_SIZE       92

#define N_PATHS 3

typedef struct {
  gboolean up;
  guint priority;
  gint64 last_rx_us;        /* monotonic; 0: nothing yet */
  gboolean suspect;
  gint64 suspect_since_us;
} PathInfo;

typedef enum {
  EMIT_CONNECTED,
  EMIT_DISCONNECTED,
  EMIT_PATH_CHANGED,
} EmitKind;

struct _NbPeerConn {
  GObject parent_instance;

  NbPeerConnContext *ctx;           /* borrowed, outlives us */
  GMainContext *context;
  NbRemotePeer *peer;
  NbWgKey remote_wg_key;
  char **allowed_ips;               /* normalized */

  NbHandshakerSendFunc send_func;
  gpointer send_data;
  GDestroyNotify send_destroy;

  NbHandshaker *handshaker;
  NbGuard *guard;

  /* ICE: the worker of the current local session */
  NbWorkerIce *ice;
  guint8 ice_session_id[NB_SIGNAL_SESSION_ID_LEN];
  gboolean ice_bound;               /* remote credentials given */
  char *ice_remote_ufrag;
  NbIcePairInfo *ice_pair;
  GPtrArray *ice_candidates;        /* NbSignalCandidate *: the worker's gathered so far */

  NbWorkerRelay *relay;
  char *relay_server_url;

  NbWgProxy *proxy;

  PathInfo paths[N_PATHS];
  NbPeerPath active;
  gint64 active_since_us;
  gboolean ever_connected;

  /* traffic watchdog */
  guint watchdog_id;
  guint64 proxy_tx_seen;
  guint64 proxy_rx_bytes_seen;
  gint64 last_tx_us;
  gint64 prev_tx_us;                /* the tx observation before last_tx_us */
  gint64 first_tx_us;               /* first tx seen since the active path delivered */
  gboolean wg_seen_valid;
  guint64 wg_rx_seen;
  guint64 wg_tx_seen;
  guint64 wg_proxy_rx_seen;         /* proxy from_peer_bytes at the last WG reading */
  gboolean wg_poll_busy;

  /* direct endpoint */
  gboolean direct;                  /* WireGuard's endpoint is the remote's */
  gboolean direct_requested;        /* a direct set_peer was issued (maybe in flight) */
  guint direct_generation;
  guint direct_timer_id;
  gint64 direct_since_us;
  GInetSocketAddress *direct_endpoint;

  guint nudge_timer_id;
  guint nudge_count;

  gint64 latency_us;                /* last handshake round trip reported */

  /* an offer failed because signal was down: re-offer on its reconnect */
  gboolean offer_unsent;
  guint reoffer_id;

  /* persistent keepalive (see keepalive_check) */
  guint16 keepalive_s;
  guint keepalive_timer_id;
  gint64 keepalive_wait_since_us;   /* first path up while waiting; 0: no path */

  GCancellable *cancellable;
  GQueue emits;
  guint emit_id;

  gboolean opened;
  gboolean closed;
};

enum {
  SIGNAL_CONNECTED,
  SIGNAL_DISCONNECTED,
  SIGNAL_PATH_CHANGED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE (NbPeerConn, nb_peer_conn, G_TYPE_OBJECT)

static void select_path (NbPeerConn *self);
static void direct_check (NbPeerConn *self);
static void keepalive_check (NbPeerConn *self);
static void leave_direct (NbPeerConn *self);
static void update_watchdog (NbPeerConn *self);

/* ------------------------------------------------------------------------ */

const char *
nb_peer_path_to_string (NbPeerPath path)
{
  switch (path)
    {
    case NB_PEER_PATH_NONE: return "none";
    case NB_PEER_PATH_ICE: return "ICE";
    case NB_PEER_PATH_RELAY: return "relay";
    }
  return "unknown";
}

void
nb_peer_conn_context_init (NbPeerConnContext *ctx)
{
  g_return_if_fail (ctx != NULL);

  memset (ctx, 0, sizeof *ctx);
  ctx->relay_over_ice = TRUE;
  ctx->allow_direct = TRUE;
}

void
nb_peer_conn_context_clear (NbPeerConnContext *ctx)
{
  g_return_if_fail (ctx != NULL);

  g_clear_pointer (&ctx->local_key, g_free);
  g_clear_object (&ctx->signal);
  g_clear_object (&ctx->relay);
  g_clear_object (&ctx->wg);
  g_clear_object (&ctx->status);
  g_clear_object (&ctx->wg_address);
  g_clear_pointer (&ctx->stuns, g_ptr_array_unref);
  g_clear_pointer (&ctx->turns, g_ptr_array_unref);
  g_clear_pointer (&ctx->interface_blacklist, g_strfreev);
  g_clear_pointer (&ctx->routed_networks, g_strfreev);
  g_clear_pointer (&ctx->local_addresses, g_strfreev);
  if (ctx->preshared_key)
    sodium_memzero (ctx->preshared_key, sizeof *ctx->preshared_key);
  g_clear_pointer (&ctx->preshared_key, g_free);
}

/* A short key prefix for log lines. */
static const char *
short_key (NbPeerConn *self)
{
  static char buf[9];

  g_strlcpy (buf, self->peer->key, sizeof buf);
  return buf;
}

static guint
attach_timeout (NbPeerConn *self, guint delay_ms, GSourceFunc func, const char *name)
{
  g_autoptr (GSource) source = delay_ms == 0 ? g_idle_source_new () : g_timeout_source_new (delay_ms);

  g_source_set_callback (source, func, self, NULL);
  g_source_set_static_name (source, name);
  return g_source_attach (source, self->context);
}

static void
remove_source (NbPeerConn *self, guint *id)
{
  if (*id != 0)
    {
      GSource *source = g_main_context_find_source_by_id (self->context, *id);

      if (source != NULL)
        g_source_destroy (source);
      *id = 0;
    }
}

/* ---- our own signals, always from an idle -------------------------------- */

static gboolean
emit_cb (gpointer data)
{
  NbPeerConn *self = data;
  g_autoptr (NbPeerConn) hold = g_object_ref (self);

  self->emit_id = 0;
  while (!self->closed && !g_queue_is_empty (&self->emits))
    {
      EmitKind kind = GPOINTER_TO_UINT (g_queue_pop_head (&self->emits));

      switch (kind)
        {
        case EMIT_CONNECTED:
          g_signal_emit (self, signals[SIGNAL_CONNECTED], 0);
          break;
        case EMIT_DISCONNECTED:
          g_signal_emit (self, signals[SIGNAL_DISCONNECTED], 0);
          break;
        case EMIT_PATH_CHANGED:
          g_signal_emit (self, signals[SIGNAL_PATH_CHANGED], 0);
          break;
        }
    }
  g_queue_clear (&self->emits);
  return G_SOURCE_REMOVE;
}

static void
queue_emit (NbPeerConn *self, EmitKind kind)
{
  if (self->closed)
    return;
  g_queue_push_tail (&self->emits, GUINT_TO_POINTER (kind));
  if (self->emit_id == 0)
    self->emit_id = attach_timeout (self, 0, emit_cb, "[nb-peer] emit");
}

/* ---- status ------------------------------------------------------------- */

static gboolean
have_status (NbPeerConn *self)
{
  return self->ctx->status != NULL && self->opened && !self->closed;
}

static void
status_update_connection (NbPeerConn *self)
{
  NbPeerConnStatus st;
  NbPeerConnType type = NB_PEER_CONN_TYPE_NONE;

  if (!have_status (self))
    return;
  if (self->active != NB_PEER_PATH_NONE)
    {
      st = NB_PEER_CONN_CONNECTED;
      if (self->active == NB_PEER_PATH_ICE
          && self->paths[NB_PEER_PATH_ICE].priority == NB_WORKER_ICE_PRIORITY_P2P)
        type = NB_PEER_CONN_TYPE_P2P;
      else
        type = NB_PEER_CONN_TYPE_RELAYED;
    }
  else
    {
      st = self->ever_connected ? NB_PEER_CONN_DISCONNECTED : NB_PEER_CONN_CONNECTING;
    }
  nb_status_recorder_update_connection (self->ctx->status, self->peer->key, st, type);
}

static void
status_update_ice (NbPeerConn *self)
{
  NbPeerPathStatus st;
  const NbIcePairInfo *pair = self->paths[NB_PEER_PATH_ICE].up ? self->ice_pair : NULL;

  if (!have_status (self))
    return;
  if (pair != NULL)
    st = NB_PEER_PATH_CONNECTED;
  else if (self->ice != NULL && self->ice_bound)
    st = NB_PEER_PATH_CONNECTING;
  else
    st = NB_PEER_PATH_DISCONNECTED;
  nb_status_recorder_update_ice (self->ctx->status, self->peer->key, st,
                                 pair ? nb_signal_candidate_type_to_string (pair->local_type) : NULL,
                                 pair ? nb_signal_candidate_type_to_string (pair->remote_type) : NULL,
                                 pair ? pair->local_endpoint : NULL,
                                 pair ? pair->remote_endpoint : NULL);
}

static void
status_update_relay (NbPeerConn *self)
{
  NbPeerPathStatus st = NB_PEER_PATH_DISCONNECTED;

  if (!have_status (self))
    return;
  if (self->paths[NB_PEER_PATH_RELAY].up)
    st = NB_PEER_PATH_CONNECTED;
  else if (self->relay != NULL && nb_worker_relay_get_state (self->relay) == NB_WORKER_RELAY_STATE_OPENING)
    st = NB_PEER_PATH_CONNECTING;
  nb_status_recorder_update_relay (self->ctx->status, self->peer->key, st,
                                   self->paths[NB_PEER_PATH_RELAY].up ? self->relay_server_url : NULL);
}

/* ---- WireGuard peer ------------------------------------------------------ */

typedef struct {
  NbPeerConn *self;        /* ref */
  char *what;
  gboolean direct;         /* a direct endpoint request */
  guint generation;
} SetPeerData;

static void
set_peer_data_free (SetPeerData *d)
{
  g_clear_object (&d->self);
  g_free (d->what);
  g_free (d);
}

static void
set_peer_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  SetPeerData *d = user_data;
  NbPeerConn *self = d->self;
  g_autoptr (GError) error = NULL;

  if (!nb_wg_backend_set_peer_finish (NB_WG_BACKEND (source), result, &error))
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        g_warning ("peer %s: WireGuard %s failed: %s", short_key (self), d->what, error->message);
      if (d->direct && d->generation == self->direct_generation && !self->closed)
        self->direct_requested = FALSE;
    }
  else
    {
      g_debug ("peer %s: WireGuard %s done", short_key (self), d->what);
      if (d->direct && d->generation == self->direct_generation && !self->closed
          && self->direct_requested)
        {
          self->direct = TRUE;
          self->direct_since_us = g_get_monotonic_time ();
          self->first_tx_us = 0;
          self->wg_seen_valid = FALSE;
          g_info ("peer %s: WireGuard talks to the remote directly", short_key (self));
          queue_emit (self, EMIT_PATH_CHANGED);
          update_watchdog (self);
          direct_check (self);
          keepalive_check (self);
        }
    }
  set_peer_data_free (d);
}

/* Endpoint NULL: unchanged. allowed_ips NULL: not touched (not replaced). */
static void
wg_set_peer (NbPeerConn         *self,
             GInetSocketAddress *endpoint,
             gboolean            with_allowed_ips,
             gboolean            update_only,
             const char         *what,
             gboolean            direct)
{
  NbWgPeerConfig cfg = { 0 };
  SetPeerData *d;

  if (self->ctx->wg == NULL)
    return;
  cfg.public_key = self->remote_wg_key;
  cfg.endpoint = endpoint;
  cfg.persistent_keepalive_s = self->keepalive_s;
  cfg.allowed_ips = with_allowed_ips ? (const char * const *) self->allowed_ips : NULL;
  cfg.replace_allowed_ips = with_allowed_ips;
  cfg.update_only = update_only;
  /* Whenever the whole peer is written (created, allowed IPs replaced); the
   * key does not change while the engine runs. */
  if (with_allowed_ips)
    cfg.preshared_key = self->ctx->preshared_key;

  d = g_new0 (SetPeerData, 1);
  d->self = g_object_ref (self);
  d->what = g_strdup (what);
  d->direct = direct;
  d->generation = self->direct_generation;
  nb_wg_backend_set_peer_async (self->ctx->wg, &cfg, NULL, set_peer_cb, d);
  sodium_memzero (&cfg.public_key, sizeof cfg.public_key);
}

typedef struct {
  NbWgBackend *backend;    /* ref: the removal outlives the connection */
  char *key;
  GTask *task;             /* nb_peer_conn_close_async()'s; NULL: none */
} RemovePeerData;

static void
remove_peer_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  RemovePeerData *d = user_data;
  g_autoptr (GError) error = NULL;

  if (!nb_wg_backend_remove_peer_finish (NB_WG_BACKEND (source), result, &error))
    g_warning ("peer %.8s: removing the WireGuard peer failed: %s", d->key, error->message);
  else
    g_debug ("peer %.8s: WireGuard peer removed", d->key);
  if (d->task != NULL)
    {
      if (error != NULL)
        g_task_return_error (d->task, g_steal_pointer (&error));
      else
        g_task_return_boolean (d->task, TRUE);
      g_object_unref (d->task);
    }
  g_object_unref (d->backend);
  g_free (d->key);
  g_free (d);
}

/* ---- the signal sender ---------------------------------------------------- */

static void ice_send_candidates (NbPeerConn *self, const char *why);

static gboolean
send_trampoline (const char            *remote_key,
                 const NbSignalMessage *msg,
                 gpointer               user_data,
                 GError               **error)
{
  NbPeerConn *self = user_data;

  if (self->send_func == NULL)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED, "no signal sender");
      return FALSE;
    }
  if (!self->send_func (remote_key, msg, self->send_data, error))
    return FALSE;
  /* Candidates trickle out once, as gathered; the remote may have missed
   * them (not yet registered at signal: the server drops what it cannot
   * deliver) and then learns our addresses only as peer-reflexive. Every
   * offer/answer of the session is followed by all of them again. */
  if ((msg->type == NB_SIGNAL_MSG_OFFER || msg->type == NB_SIGNAL_MSG_ANSWER)
      && msg->offer != NULL && msg->offer->has_session_id && self->ice != NULL
      && memcmp (msg->offer->session_id, self->ice_session_id, NB_SIGNAL_SESSION_ID_LEN) == 0)
    ice_send_candidates (self, nb_signal_msg_type_to_string (msg->type));
  return TRUE;
}

/* ---- paths --------------------------------------------------------------- */

static gboolean
path_eligible (NbPeerConn *self, NbPeerPath p)
{
  return self->paths[p].up && !self->paths[p].suspect;
}

static guint
ice_send_func (const guint8 *const *datagrams,
               const gsize         *lengths,
               guint                n_datagrams,
               gpointer             user_data)
{
  NbWorkerIce *worker = user_data;
  g_autoptr (GError) error = NULL;
  guint taken = nb_worker_ice_send_batch (worker, datagrams, lengths, n_datagrams, &error);

  if (error != NULL)
    g_debug ("ICE send failed (%u of %u sent): %s", taken, n_datagrams, error->message);
  return taken;
}

static guint
relay_send_func (const guint8 *const *datagrams,
                 const gsize         *lengths,
                 guint                n_datagrams,
                 gpointer             user_data)
{
  NbWorkerRelay *worker = user_data;
  guint taken = 0;

  for (guint i = 0; i < n_datagrams; i++)
    {
      g_autoptr (GError) error = NULL;

      if (nb_worker_relay_send (worker, datagrams[i], lengths[i], &error))
        taken++;
      else
        g_debug ("relay send failed: %s", error->message);
    }
  return taken;
}

/* The status's latency is the round trip of the last WireGuard handshake
 * that went through the proxy (wg-proxy.h, "Round trip"); a direct path
 * bypasses the proxy, so there the last measured value stays. */
static void
latency_check (NbPeerConn *self)
{
  NbWgProxyStats st;

  if (self->proxy == NULL || self->closed || !self->opened || self->ctx->status == NULL)
    return;
  nb_wg_proxy_get_stats (self->proxy, &st);
  if (st.last_handshake_rtt_us == 0 || st.last_handshake_rtt_us == self->latency_us)
    return;
  self->latency_us = st.last_handshake_rtt_us;
  g_debug ("peer %s: handshake round trip %" G_GINT64_FORMAT " us", short_key (self), self->latency_us);
  nb_status_recorder_update_latency (self->ctx->status, self->peer->key, self->latency_us);
}

static gboolean
nudge_cb (gpointer data)
{
  NbPeerConn *self = data;
  NbWgProxyStats st;

  if (self->closed || self->proxy == NULL || self->active == NB_PEER_PATH_NONE || self->direct
      || ++self->nudge_count > NUDGE_MAX)
    {
      self->nudge_timer_id = 0;
      return G_SOURCE_REMOVE;
    }
  nb_wg_proxy_get_stats (self->proxy, &st);
  if (st.last_initiation_us == 0 || st.last_response_us > st.last_initiation_us)
    return G_SOURCE_CONTINUE;   /* nothing outstanding (yet) */
  if (g_get_monotonic_time () - st.last_initiation_us < (gint64) NUDGE_INTERVAL_MS * 1000)
    return G_SOURCE_CONTINUE;   /* give this one its round trip */
  if (nb_wg_proxy_replay_handshake (self->proxy))
    g_debug ("peer %s: no handshake response yet: initiation sent again", short_key (self));
  return G_SOURCE_CONTINUE;
}

static void
switch_to (NbPeerConn *self, NbPeerPath path)
{
  NbPeerPath old = self->active;
  NbWgProxyStats stats;

  if (old == path)
    return;

  /* Leaving a direct ICE path: WireGuard's endpoint goes back to the proxy
   * first (the backend applies requests in order). */
  if (old == NB_PEER_PATH_ICE)
    leave_direct (self);

  self->active = path;
  self->active_since_us = g_get_monotonic_time ();
  self->first_tx_us = 0;
  g_info ("peer %s: active path %s -> %s", short_key (self), nb_peer_path_to_string (old),
          nb_peer_path_to_string (path));

  if (self->proxy != NULL)
    {
      if (path == NB_PEER_PATH_ICE && self->ice != NULL)
        nb_wg_proxy_set_transport (self->proxy, ice_send_func, g_object_ref (self->ice), g_object_unref);
      else if (path == NB_PEER_PATH_RELAY && self->relay != NULL)
        nb_wg_proxy_set_transport (self->proxy, relay_send_func, g_object_ref (self->relay), g_object_unref);
      else
        nb_wg_proxy_set_transport (self->proxy, NULL, NULL, NULL);

      nb_wg_proxy_get_stats (self->proxy, &stats);
      self->proxy_tx_seen = stats.to_peer_datagrams;
      /* A transport that came while none was set already got the pending
       * initiation; after a switch the last one may be lost on the old path. */
      if (old != NB_PEER_PATH_NONE && path != NB_PEER_PATH_NONE
          && stats.last_initiation_us > stats.last_response_us)
        {
          if (nb_wg_proxy_replay_handshake (self->proxy))
            g_debug ("peer %s: handshake initiation replayed on %s", short_key (self),
                     nb_peer_path_to_string (path));
        }
    }

  if (self->relay != NULL)
    nb_worker_relay_set_active (self->relay, path == NB_PEER_PATH_RELAY);

  if (old == NB_PEER_PATH_NONE && path != NB_PEER_PATH_NONE)
    {
      self->ever_connected = TRUE;
      queue_emit (self, EMIT_CONNECTED);
    }
  queue_emit (self, EMIT_PATH_CHANGED);
  if (path == NB_PEER_PATH_NONE && old != NB_PEER_PATH_NONE)
    queue_emit (self, EMIT_DISCONNECTED);

  status_update_connection (self);
  keepalive_check (self);
  remove_source (self, &self->nudge_timer_id);
  self->nudge_count = 0;
  if (path != NB_PEER_PATH_NONE && self->proxy != NULL)
    {
      g_autoptr (GSource) source = g_timeout_source_new (NUDGE_INTERVAL_MS);

      g_source_set_callback (source, nudge_cb, self, NULL);
      g_source_set_static_name (source, "[nb-peer] nudge");
      self->nudge_timer_id = g_source_attach (source, self->context);
    }
  if (path == NB_PEER_PATH_ICE)
    direct_check (self);
}

/* Highest priority among the eligible paths; ties keep the active one. With
 * every connected path suspect, the active one stays if it is up. */
static void
select_path (NbPeerConn *self)
{
  NbPeerPath best = NB_PEER_PATH_NONE;

  if (self->closed)
    return;
  for (NbPeerPath p = NB_PEER_PATH_ICE; p <= NB_PEER_PATH_RELAY; p++)
    {
      if (!path_eligible (self, p))
        continue;
      if (best == NB_PEER_PATH_NONE
          || self->paths[p].priority > self->paths[best].priority
          || (self->paths[p].priority == self->paths[best].priority && p == self->active))
        best = p;
    }
  if (best == NB_PEER_PATH_NONE)
    {
      if (self->active != NB_PEER_PATH_NONE && self->paths[self->active].up)
        best = self->active;
      else
        for (NbPeerPath p = NB_PEER_PATH_ICE; p <= NB_PEER_PATH_RELAY; p++)
          if (self->paths[p].up
              && (best == NB_PEER_PATH_NONE || self->paths[p].priority > self->paths[best].priority))
            best = p;
    }
  switch_to (self, best);
  update_watchdog (self);
}

static void
path_set_up (NbPeerConn *self, NbPeerPath p, guint priority)
{
  PathInfo *info = &self->paths[p];

  info->up = TRUE;
  info->priority = priority;
  info->suspect = FALSE;
  info->suspect_since_us = 0;
  info->last_rx_us = 0;
}

static void
path_set_down (NbPeerConn *self, NbPeerPath p)
{
  memset (&self->paths[p], 0, sizeof self->paths[p]);
}

/* ---- direct endpoint ----------------------------------------------------- */

static gboolean
direct_eligible (NbPeerConn *self)
{
  const NbSignalOffer *remote;
  const NbIcePairInfo *pair = self->ice_pair;
  GInetAddress *remote_ip;

  if (!self->ctx->allow_direct || self->closed || self->ctx->wg == NULL)
    return FALSE;
  if (self->active != NB_PEER_PATH_ICE || pair == NULL || pair->remote_address == NULL)
    return FALSE;
  if (pair->local_type != NB_SIGNAL_CANDIDATE_HOST || pair->remote_type != NB_SIGNAL_CANDIDATE_HOST)
    return FALSE;
  if (self->paths[NB_PEER_PATH_ICE].suspect)
    return FALSE;
  /* WireGuard's own socket is not ours to bind (uplink.h): an off-link
   * endpoint would follow an exit node's default route into the tunnel. */
  remote_ip = g_inet_socket_address_get_address (pair->remote_address);
  if (!g_inet_address_get_is_loopback (remote_ip)
      && !nb_uplink_is_on_link (remote_ip, nb_wg_backend_get_interface_name (self->ctx->wg)))
    return FALSE;
  remote = nb_handshaker_get_remote_params (self->handshaker);
  return remote != NULL && remote->wg_listen_port != 0;
}

static void
direct_engage (NbPeerConn *self)
{
  const NbSignalOffer *remote = nb_handshaker_get_remote_params (self->handshaker);
  GInetAddress *ip = g_inet_socket_address_get_address (self->ice_pair->remote_address);
  g_autofree char *text = NULL;
  g_autofree char *what = NULL;

  g_clear_object (&self->direct_endpoint);
  self->direct_endpoint = G_INET_SOCKET_ADDRESS (g_inet_socket_address_new (ip, remote->wg_listen_port));
  text = nb_wg_endpoint_to_string (self->direct_endpoint);
  what = g_strdup_printf ("direct endpoint %s", text);
  self->direct_requested = TRUE;
  self->direct_generation++;
  g_info ("peer %s: host/host pair, first handshake done: endpoint %s", short_key (self), text);
  wg_set_peer (self, self->direct_endpoint, FALSE, TRUE, what, TRUE);
}

static void
leave_direct (NbPeerConn *self)
{
  remove_source (self, &self->direct_timer_id);
  if (!self->direct_requested)
    return;
  if (self->direct)
    queue_emit (self, EMIT_PATH_CHANGED);
  self->direct_requested = FALSE;
  self->direct = FALSE;
  self->direct_generation++;
  self->wg_seen_valid = FALSE;
  g_clear_object (&self->direct_endpoint);
  if (self->proxy != NULL && !self->closed)
    {
      g_info ("peer %s: WireGuard endpoint back to the proxy", short_key (self));
      wg_set_peer (self, nb_wg_proxy_get_local_address (self->proxy), FALSE, TRUE,
                   "proxy endpoint", FALSE);
    }
}

static gboolean
same_endpoint (GInetSocketAddress *a, GInetSocketAddress *b)
{
  if (a == NULL || b == NULL)
    return a == b;
  return g_inet_socket_address_get_port (a) == g_inet_socket_address_get_port (b)
    && g_inet_address_equal (g_inet_socket_address_get_address (a), g_inet_socket_address_get_address (b));
}

static void
direct_stats_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (NbPeerConn) self = user_data;
  g_autoptr (GError) error = NULL;
  g_autoptr (NbWgStats) stats = nb_wg_backend_get_stats_finish (NB_WG_BACKEND (source), result, &error);
  const NbWgPeerStats *ps;

  if (stats == NULL)
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        g_debug ("peer %s: WireGuard stats: %s", short_key (self), error->message);
      return;
    }
  if (self->closed || !direct_eligible (self))
    return;
  ps = nb_wg_stats_find_peer (stats, &self->remote_wg_key);
  if (ps == NULL)
    return;
  if (!self->direct_requested)
    {
      if (ps->last_handshake_us != 0)
        {
          remove_source (self, &self->direct_timer_id);
          direct_engage (self);
        }
      return;
    }
  /* Settling: a datagram the proxy delivered after the switch (sent
   * before the remote went direct) makes WireGuard roam back to the
   * proxy's address; put the direct endpoint back. */
  if (self->direct && !same_endpoint (ps->endpoint, self->direct_endpoint))
    {
      g_debug ("peer %s: WireGuard roamed away from the direct endpoint: set again", short_key (self));
      wg_set_peer (self, self->direct_endpoint, FALSE, TRUE, "direct endpoint again", FALSE);
    }
}

static gboolean
direct_timer_cb (gpointer data)
{
  NbPeerConn *self = data;

  self->direct_timer_id = 0;
  direct_check (self);
  return G_SOURCE_REMOVE;
}

/* Engages the direct endpoint once eligible and the first handshake is
 * done; while waiting, checks again every DIRECT_POLL_MS. Once direct,
 * keeps checking WireGuard's endpoint for DIRECT_SETTLE_MS. */
static void
direct_check (NbPeerConn *self)
{
  NbWgProxyStats st = { 0 };

  if (self->direct_requested)
    {
      if (!direct_eligible (self))
        {
          leave_direct (self);
          return;
        }
      if (self->direct && g_get_monotonic_time () - self->direct_since_us < (gint64) DIRECT_SETTLE_MS * 1000)
        {
          nb_wg_backend_get_stats_async (self->ctx->wg, self->cancellable, direct_stats_cb, g_object_ref (self));
          if (self->direct_timer_id == 0)
            self->direct_timer_id = attach_timeout (self, DIRECT_POLL_MS, direct_timer_cb, "[nb-peer] direct");
        }
      return;
    }
  if (!direct_eligible (self))
    {
      remove_source (self, &self->direct_timer_id);
      return;
    }
  if (self->proxy != NULL)
    nb_wg_proxy_get_stats (self->proxy, &st);
  if (st.last_response_us != 0 && st.last_response_us > st.last_initiation_us)
    {
      direct_engage (self);
      return;
    }
  nb_wg_backend_get_stats_async (self->ctx->wg, self->cancellable, direct_stats_cb, g_object_ref (self));
  if (self->direct_timer_id == 0)
    self->direct_timer_id = attach_timeout (self, DIRECT_POLL_MS, direct_timer_cb, "[nb-peer] direct");
}

/* ---- persistent keepalive ------------------------------------------------ */

/* Both WireGuards initiating at the same moment (both peers added with
 * persistent keepalive, both paths up within a millisecond) cross their
 * initiations: each answers the other's and drops its own state, both
 * responses are refused, and the first handshake waits for WireGuard's
 * 5 s retry. So only the controller's WireGuard starts with keepalive;
 * the other side answers, and turns keepalive on once the first handshake
 * is done (or after KEEPALIVE_FALLBACK_MS on a path without one). */

static void
keepalive_enable (NbPeerConn *self, const char *why)
{
  remove_source (self, &self->keepalive_timer_id);
  self->keepalive_s = NB_PEER_CONN_PERSISTENT_KEEPALIVE_S;
  g_debug ("peer %s: persistent keepalive on (%s)", short_key (self), why);
  wg_set_peer (self, NULL, FALSE, TRUE, "keepalive", FALSE);
}

static void
keepalive_stats_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (NbPeerConn) self = user_data;
  g_autoptr (GError) error = NULL;
  g_autoptr (NbWgStats) stats = nb_wg_backend_get_stats_finish (NB_WG_BACKEND (source), result, &error);
  const NbWgPeerStats *ps;

  if (stats == NULL)
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        g_debug ("peer %s: WireGuard stats: %s", short_key (self), error->message);
      return;
    }
  if (self->closed || self->keepalive_s != 0)
    return;
  ps = nb_wg_stats_find_peer (stats, &self->remote_wg_key);
  /* About to go direct: the first keepalive would go through the proxy
   * and make the remote's WireGuard roam back to its proxy; wait. */
  if (ps != NULL && ps->last_handshake_us != 0 && (self->direct || !direct_eligible (self)))
    keepalive_enable (self, "first handshake done");
}

static gboolean
keepalive_timer_cb (gpointer data)
{
  NbPeerConn *self = data;

  self->keepalive_timer_id = 0;
  keepalive_check (self);
  return G_SOURCE_REMOVE;
}

static void
keepalive_check (NbPeerConn *self)
{
  gint64 now = g_get_monotonic_time ();

  if (self->keepalive_s != 0 || self->closed || self->ctx->wg == NULL)
    return;
  if (self->active == NB_PEER_PATH_NONE)
    {
      self->keepalive_wait_since_us = 0;
      remove_source (self, &self->keepalive_timer_id);
      return;
    }
  if (self->keepalive_wait_since_us == 0)
    self->keepalive_wait_since_us = now;
  if (now - self->keepalive_wait_since_us >= (gint64) KEEPALIVE_FALLBACK_MS * 1000)
    {
      keepalive_enable (self, "no handshake yet");
      return;
    }
  nb_wg_backend_get_stats_async (self->ctx->wg, self->cancellable, keepalive_stats_cb, g_object_ref (self));
  if (self->keepalive_timer_id == 0)
    self->keepalive_timer_id = attach_timeout (self, DIRECT_POLL_MS, keepalive_timer_cb, "[nb-peer] keepalive");
}

/* ---- traffic watchdog ---------------------------------------------------- */

static void
note_tx (NbPeerConn *self, gint64 now)
{
  self->prev_tx_us = self->last_tx_us;
  self->last_tx_us = now;
  if (self->first_tx_us == 0)
    self->first_tx_us = now;
}

static void
watchdog_evaluate (NbPeerConn *self)
{
  gint64 now = g_get_monotonic_time ();
  gboolean changed = FALSE;
  NbPeerPath a = self->active;

  for (NbPeerPath p = NB_PEER_PATH_ICE; p <= NB_PEER_PATH_RELAY; p++)
    {
      PathInfo *info = &self->paths[p];
      gboolean alive;

      if (!info->up || !info->suspect)
        continue;
      if (info->last_rx_us > info->suspect_since_us)
        {
          g_info ("peer %s: %s path delivers again", short_key (self), nb_peer_path_to_string (p));
          info->suspect = FALSE;
          changed = TRUE;
          continue;
        }
      alive = p == NB_PEER_PATH_ICE
        ? self->ice != NULL && nb_worker_ice_get_state (self->ice) == NB_ICE_STATE_CONNECTED
        : self->relay != NULL && nb_worker_relay_get_state (self->relay) == NB_WORKER_RELAY_STATE_CONNECTED;
      if (alive && now - info->suspect_since_us >= (gint64) SUSPECT_RETRY_MS * 1000)
        {
          g_info ("peer %s: %s path still connected after %d s: trusted again", short_key (self),
                  nb_peer_path_to_string (p), SUSPECT_RETRY_MS / 1000);
          info->suspect = FALSE;
          changed = TRUE;
        }
    }

  if (a != NB_PEER_PATH_NONE && !self->paths[a].suspect)
    {
      PathInfo *info = &self->paths[a];
      gint64 ref = MAX (info->last_rx_us, self->active_since_us);
      gint64 window = (gint64) (info->last_rx_us < self->active_since_us ? FRESH_SILENCE_MS
                                                                          : SUSPECT_SILENCE_MS) * 1000;
      gboolean sending, other_rx = FALSE;

      if (self->first_tx_us != 0 && info->last_rx_us >= self->first_tx_us)
        self->first_tx_us = 0;
      /* Sending: unanswered for a window, and still going on (two
       * observations close together; a lone keepalive every 25 s is not
       * traffic that expects an answer). */
      sending = self->first_tx_us != 0 && self->first_tx_us >= ref
        && now - self->first_tx_us >= window && self->last_tx_us > self->first_tx_us
        && self->last_tx_us - self->prev_tx_us <= window
        && now - self->last_tx_us <= window + WATCHDOG_INTERVAL_MS * 1000;
      for (NbPeerPath p = NB_PEER_PATH_ICE; p <= NB_PEER_PATH_RELAY; p++)
        if (p != a && self->paths[p].up && self->paths[p].last_rx_us != 0
            && now - self->paths[p].last_rx_us <= window)
          other_rx = TRUE;

      if (now - ref >= window && (sending || other_rx))
        {
          g_info ("peer %s: %s path silent for %" G_GINT64_FORMAT " ms while %s: suspect",
                  short_key (self), nb_peer_path_to_string (a), (now - ref) / 1000,
                  other_rx ? "the other path delivers" : "we send");
          info->suspect = TRUE;
          info->suspect_since_us = now;
          changed = TRUE;
        }
    }

  if (changed)
    {
      select_path (self);
      if (self->active == NB_PEER_PATH_ICE)
        direct_check (self);
    }
}

static void
watchdog_stats_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (NbPeerConn) self = user_data;
  g_autoptr (GError) error = NULL;
  g_autoptr (NbWgStats) stats = nb_wg_backend_get_stats_finish (NB_WG_BACKEND (source), result, &error);
  const NbWgPeerStats *ps;
  NbWgProxyStats pst = { 0 };
  gint64 now = g_get_monotonic_time ();

  self->wg_poll_busy = FALSE;
  if (stats == NULL)
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        g_debug ("peer %s: WireGuard stats: %s", short_key (self), error->message);
      return;
    }
  if (self->closed || !self->direct)
    return;
  ps = nb_wg_stats_find_peer (stats, &self->remote_wg_key);
  if (ps == NULL)
    return;
  if (self->proxy != NULL)
    nb_wg_proxy_get_stats (self->proxy, &pst);
  if (self->wg_seen_valid)
    {
      guint64 rx = ps->rx_bytes - self->wg_rx_seen;
      guint64 via_proxy = pst.from_peer_bytes - self->wg_proxy_rx_seen;

      /* What WireGuard received beyond what the proxy wrote came directly. */
      if (rx > via_proxy)
        self->paths[NB_PEER_PATH_ICE].last_rx_us = now;
      if (ps->tx_bytes != self->wg_tx_seen)
        note_tx (self, now);
    }
  self->wg_rx_seen = ps->rx_bytes;
  self->wg_tx_seen = ps->tx_bytes;
  self->wg_proxy_rx_seen = pst.from_peer_bytes;
  self->wg_seen_valid = TRUE;
  watchdog_evaluate (self);
}

static gboolean
watchdog_cb (gpointer data)
{
  NbPeerConn *self = data;

  if (self->closed)
    {
      self->watchdog_id = 0;
      return G_SOURCE_REMOVE;
    }
  if (self->direct && self->active == NB_PEER_PATH_ICE)
    {
      if (!self->wg_poll_busy)
        {
          self->wg_poll_busy = TRUE;
          nb_wg_backend_get_stats_async (self->ctx->wg, self->cancellable, watchdog_stats_cb,
                                         g_object_ref (self));
        }
      return G_SOURCE_CONTINUE;
    }
  if (self->proxy != NULL)
    {
      NbWgProxyStats st;

      nb_wg_proxy_get_stats (self->proxy, &st);
      if (st.to_peer_datagrams != self->proxy_tx_seen)
        {
          gint64 now = g_get_monotonic_time ();

          self->proxy_tx_seen = st.to_peer_datagrams;
          note_tx (self, now);
        }
    }
  watchdog_evaluate (self);
  return G_SOURCE_CONTINUE;
}

/* Runs while a second connected path exists (something to fail over to). */
static void
update_watchdog (NbPeerConn *self)
{
  guint n_up = 0;

  for (NbPeerPath p = NB_PEER_PATH_ICE; p <= NB_PEER_PATH_RELAY; p++)
    if (self->paths[p].up)
      n_up++;
  if (n_up >= 2 && !self->closed)
    {
      if (self->watchdog_id == 0)
        {
          g_autoptr (GSource) source = g_timeout_source_new (WATCHDOG_INTERVAL_MS);

          g_source_set_callback (source, watchdog_cb, self, NULL);
          g_source_set_static_name (source, "[nb-peer] watchdog");
          self->watchdog_id = g_source_attach (source, self->context);
          self->first_tx_us = 0;
          if (self->proxy != NULL)
            {
              NbWgProxyStats st;

              nb_wg_proxy_get_stats (self->proxy, &st);
              self->proxy_tx_seen = st.to_peer_datagrams;
            }
        }
    }
  else
    {
      remove_source (self, &self->watchdog_id);
      for (NbPeerPath p = NB_PEER_PATH_ICE; p <= NB_PEER_PATH_RELAY; p++)
        self->paths[p].suspect = FALSE;
    }
}

/* ---- ICE ---------------------------------------------------------------- */

static gboolean
ice_enabled (NbPeerConn *self)
{
  return !self->ctx->force_relay && nb_handshaker_get_remote_ice_supported (self->handshaker);
}

static gboolean
ice_worker_done (NbWorkerIce *worker)
{
  NbIceState st = nb_worker_ice_get_state (worker);

  return st == NB_ICE_STATE_DISCONNECTED || st == NB_ICE_STATE_FAILED || st == NB_ICE_STATE_CLOSED;
}

static void
ice_receive (NbWorkerIce *worker, const guint8 *data, gsize len, gpointer user_data)
{
  NbPeerConn *self = user_data;

  if (worker != self->ice || self->closed)
    return;
  self->paths[NB_PEER_PATH_ICE].last_rx_us = g_get_monotonic_time ();
  if (self->proxy != NULL)
    nb_wg_proxy_deliver (self->proxy, data, len);
  if (len == WG_RESPONSE_SIZE)
    latency_check (self);
}

/* Drops the current worker. The ICE path goes down; the caller tells the
 * guard what comes next. */
static void
ice_drop_worker (NbPeerConn *self, const char *why)
{
  g_autoptr (NbWorkerIce) worker = g_steal_pointer (&self->ice);
  gboolean was_up = self->paths[NB_PEER_PATH_ICE].up;

  if (worker == NULL)
    return;
  g_debug ("peer %s: ICE worker dropped (%s)", short_key (self), why);
  g_signal_handlers_disconnect_by_data (worker, self);
  nb_worker_ice_set_receive_func (worker, NULL, NULL, NULL);
  self->ice_bound = FALSE;
  g_ptr_array_set_size (self->ice_candidates, 0);
  g_clear_pointer (&self->ice_remote_ufrag, g_free);
  g_clear_pointer (&self->ice_pair, nb_ice_pair_info_free);
  path_set_down (self, NB_PEER_PATH_ICE);
  if (was_up || self->active == NB_PEER_PATH_ICE)
    select_path (self);
  nb_worker_ice_close (worker);
  status_update_ice (self);
}

static gboolean
ice_send_candidate (NbPeerConn *self, const NbSignalCandidate *candidate)
{
  g_autoptr (NbSignalMessage) msg = NULL;
  g_autoptr (GError) error = NULL;

  msg = nb_signal_message_new_candidate (nb_signal_candidate_copy (candidate));
  msg->has_session_id = TRUE;
  memcpy (msg->session_id, self->ice_session_id, NB_SIGNAL_SESSION_ID_LEN);
  if (!self->send_func (self->peer->key, msg, self->send_data, &error))
    {
      g_debug ("peer %s: sending a candidate failed: %s", short_key (self), error->message);
      return FALSE;
    }
  return TRUE;
}

/* All candidates of the current worker again (the remote's libnice takes a
 * known candidate as an update of it, and one it only knew as
 * peer-reflexive becomes what it is). */
static void
ice_send_candidates (NbPeerConn *self, const char *why)
{
  if (self->closed || self->send_func == NULL || self->ice == NULL || self->ice_candidates->len == 0)
    return;
  g_debug ("peer %s: %u local candidates sent again (%s)", short_key (self),
           self->ice_candidates->len, why);
  for (guint i = 0; i < self->ice_candidates->len; i++)
    if (!ice_send_candidate (self, self->ice_candidates->pdata[i]))
      break;
}

static void
on_ice_local_candidate (NbWorkerIce *worker, NbSignalCandidate *candidate, NbPeerConn *self)
{
  if (worker != self->ice || self->closed)
    return;
  g_ptr_array_add (self->ice_candidates, nb_signal_candidate_copy (candidate));
  if (self->send_func != NULL)
    ice_send_candidate (self, candidate);
}

static void
on_ice_connected (NbWorkerIce *worker, NbIcePairInfo *pair, NbPeerConn *self)
{
  g_autofree char *text = nb_ice_pair_info_to_string (pair);

  if (worker != self->ice || self->closed)
    return;
  g_info ("peer %s: ICE connected in %u ms: %s", short_key (self), pair->connect_ms, text);
  g_clear_pointer (&self->ice_pair, nb_ice_pair_info_free);
  self->ice_pair = nb_ice_pair_info_copy (pair);
  path_set_up (self, NB_PEER_PATH_ICE, pair->priority);
  nb_guard_ice_state_changed (self->guard, NB_GUARD_PATH_CONNECTED);
  status_update_ice (self);
  select_path (self);
  /* Same priority as the active relay: the tie keeps the relay, but the
   * connection type may have changed. */
  status_update_connection (self);
}

static void
on_ice_pair_changed (NbWorkerIce *worker, NbIcePairInfo *pair, NbPeerConn *self)
{
  g_autofree char *text = nb_ice_pair_info_to_string (pair);

  if (worker != self->ice || self->closed)
    return;
  g_info ("peer %s: ICE selected pair now %s", short_key (self), text);
  g_clear_pointer (&self->ice_pair, nb_ice_pair_info_free);
  self->ice_pair = nb_ice_pair_info_copy (pair);
  self->paths[NB_PEER_PATH_ICE].priority = pair->priority;
  status_update_ice (self);
  if (self->active == NB_PEER_PATH_ICE && self->direct_requested)
    leave_direct (self);   /* the endpoint may have moved */
  select_path (self);
  status_update_connection (self);
  if (self->active == NB_PEER_PATH_ICE)
    direct_check (self);
}

static void
on_ice_finished (NbWorkerIce *worker, const char *reason, NbPeerConn *self)
{
  gboolean was_up = self->paths[NB_PEER_PATH_ICE].up;

  if (worker != self->ice || self->closed)
    return;
  g_info ("peer %s: ICE %s: %s", short_key (self), was_up ? "disconnected" : "failed", reason);
  ice_drop_worker (self, reason);
  if (ice_enabled (self))
    nb_guard_ice_state_changed (self->guard, NB_GUARD_PATH_DISCONNECTED);
}

static gboolean
ice_new_worker (NbPeerConn *self)
{
  NbWorkerIceConfig config = { 0 };
  g_autoptr (GError) error = NULL;
  NbWorkerIce *worker;

  config.controlling = nb_handshaker_is_controller (self->handshaker);
  config.stuns = self->ctx->stuns;
  config.turns = self->ctx->turns;
  config.relay = self->ctx->relay_over_ice;
  config.interface_blacklist = (const char * const *) self->ctx->interface_blacklist;
  config.local_addresses = (const char * const *) self->ctx->local_addresses;
  config.routed_networks = (const char * const *) self->ctx->routed_networks;

  worker = nb_worker_ice_new (&config, &error);
  if (worker == NULL)
    {
      g_warning ("peer %s: cannot make an ICE worker: %s", short_key (self), error->message);
      return FALSE;
    }
  self->ice = worker;
  self->ice_bound = FALSE;
  g_ptr_array_set_size (self->ice_candidates, 0);
  nb_handshaker_new_session_id (self->ice_session_id);
  g_signal_connect (worker, "local-candidate", G_CALLBACK (on_ice_local_candidate), self);
  g_signal_connect (worker, "connected", G_CALLBACK (on_ice_connected), self);
  g_signal_connect (worker, "selected-pair-changed", G_CALLBACK (on_ice_pair_changed), self);
  g_signal_connect (worker, "disconnected", G_CALLBACK (on_ice_finished), self);
  g_signal_connect (worker, "failed", G_CALLBACK (on_ice_finished), self);
  nb_worker_ice_set_receive_func (worker, ice_receive, self, NULL);
  return TRUE;
}

static gboolean
has_ice_credentials (const NbSignalOffer *o)
{
  return o->ufrag != NULL && *o->ufrag != '\0' && o->pwd != NULL && *o->pwd != '\0';
}

/* Gives the current worker the remote credentials (starting it if it has
 * not started yet). */
static gboolean
ice_bind (NbPeerConn *self, const NbSignalOffer *o)
{
  g_autoptr (GError) error = NULL;
  gboolean ok;

  if (nb_worker_ice_get_state (self->ice) == NB_ICE_STATE_NEW)
    ok = nb_worker_ice_start (self->ice, o->ufrag, o->pwd, &error);
  else
    ok = nb_worker_ice_set_remote_credentials (self->ice, o->ufrag, o->pwd, &error);
  if (!ok)
    {
      g_warning ("peer %s: ICE checks could not start: %s", short_key (self), error->message);
      ice_drop_worker (self, "start failed");
      nb_guard_ice_state_changed (self->guard, NB_GUARD_PATH_DISCONNECTED);
      return FALSE;
    }
  self->ice_bound = TRUE;
  g_free (self->ice_remote_ufrag);
  self->ice_remote_ufrag = g_strdup (o->ufrag);
  nb_guard_ice_state_changed (self->guard, NB_GUARD_PATH_CONNECTING);
  status_update_ice (self);
  return TRUE;
}

/* Returns TRUE when a worker that had already gathered was bound now (its
 * candidates went out before the remote may have been listening). */
static gboolean
ice_on_remote (NbPeerConn *self, const NbSignalOffer *o, gboolean session_changed)
{
  if (self->ctx->force_relay || !has_ice_credentials (o))
    return FALSE;

  if (self->ice != NULL && self->ice_bound && !ice_worker_done (self->ice) && !session_changed
      && g_strcmp0 (self->ice_remote_ufrag, o->ufrag) == 0)
    return FALSE;   /* the session in use, repeated */

  if (self->ice != NULL && !self->ice_bound && !ice_worker_done (self->ice))
    return ice_bind (self, o);

  /* A new remote session for a worker bound to another one (or none):
   * a new local session answers it. No disconnect event for the guard:
   * an attempt starts at once. */
  ice_drop_worker (self, "new remote session");
  if (!ice_new_worker (self))
    {
      nb_guard_ice_state_changed (self->guard, NB_GUARD_PATH_DISCONNECTED);
      return FALSE;
    }
  ice_bind (self, o);
  return FALSE;   /* nothing gathered yet */
}

/* ---- relay --------------------------------------------------------------- */

static void
relay_receive (NbWorkerRelay *worker, const guint8 *data, gsize length, gpointer user_data)
{
  NbPeerConn *self = user_data;

  if (self->closed)
    return;
  self->paths[NB_PEER_PATH_RELAY].last_rx_us = g_get_monotonic_time ();
  if (self->proxy != NULL)
    nb_wg_proxy_deliver (self->proxy, data, length);
  if (length == WG_RESPONSE_SIZE)
    latency_check (self);
}

static void
on_relay_connected (NbWorkerRelay *worker, const char *server_url, NbPeerConn *self)
{
  if (self->closed)
    return;
  g_info ("peer %s: relay connected via %s", short_key (self), server_url);
  g_free (self->relay_server_url);
  self->relay_server_url = g_strdup (server_url);
  path_set_up (self, NB_PEER_PATH_RELAY, NB_WORKER_ICE_PRIORITY_TURN);
  nb_guard_relay_state_changed (self->guard, NB_GUARD_PATH_CONNECTED);
  status_update_relay (self);
  select_path (self);
}

static void
on_relay_disconnected (NbWorkerRelay *worker, const GError *reason, NbPeerConn *self)
{
  if (self->closed)
    return;
  g_info ("peer %s: relay disconnected: %s", short_key (self), reason ? reason->message : "-");
  g_clear_pointer (&self->relay_server_url, g_free);
  path_set_down (self, NB_PEER_PATH_RELAY);
  nb_guard_relay_state_changed (self->guard, NB_GUARD_PATH_DISCONNECTED);
  status_update_relay (self);
  select_path (self);
}

static void
relay_on_remote (NbPeerConn *self, const NbSignalOffer *o)
{
  g_autoptr (GError) error = NULL;

  if (self->relay == NULL)
    return;
  if (o->relay_server_address == NULL || *o->relay_server_address == '\0'
      || !nb_worker_relay_is_supported (self->relay, o->relay_server_address))
    {
      if (!self->paths[NB_PEER_PATH_RELAY].up
          && nb_worker_relay_get_state (self->relay) == NB_WORKER_RELAY_STATE_IDLE)
        nb_guard_relay_state_changed (self->guard, NB_GUARD_PATH_UNAVAILABLE);
      return;
    }
  if (nb_worker_relay_get_state (self->relay) != NB_WORKER_RELAY_STATE_IDLE)
    return;
  if (!nb_worker_relay_open (self->relay, o->relay_server_address, &error))
    {
      g_warning ("peer %s: relay open failed: %s", short_key (self), error->message);
      nb_guard_relay_state_changed (self->guard,
                                    g_error_matches (error, NB_WORKER_RELAY_ERROR,
                                                     NB_WORKER_RELAY_ERROR_UNAVAILABLE)
                                    ? NB_GUARD_PATH_UNAVAILABLE : NB_GUARD_PATH_DISCONNECTED);
      return;
    }
  if (nb_worker_relay_get_state (self->relay) == NB_WORKER_RELAY_STATE_OPENING)
    nb_guard_relay_state_changed (self->guard, NB_GUARD_PATH_CONNECTING);
  status_update_relay (self);
}

/* ---- handshaker and guard ------------------------------------------------ */

static void
on_remote_offer (NbHandshaker *hs, const NbSignalOffer *offer, gboolean session_changed, NbPeerConn *self)
{
  if (self->closed)
    return;
  ice_on_remote (self, offer, session_changed);
  relay_on_remote (self, offer);
}

static void
on_remote_answer (NbHandshaker *hs, const NbSignalOffer *answer, gboolean session_changed,
                  gboolean matched, NbPeerConn *self)
{
  if (self->closed)
    return;
  /* An offer is answered right after this (the answer re-sends the
   * candidates); an answer is not: re-send them here when binding. */
  if (ice_on_remote (self, answer, session_changed))
    ice_send_candidates (self, "bound on the answer");
  relay_on_remote (self, answer);
}

static void
on_remote_candidate (NbHandshaker *hs, const NbSignalCandidate *candidate, NbPeerConn *self)
{
  g_autoptr (GError) error = NULL;

  if (self->closed || self->ice == NULL || ice_worker_done (self->ice))
    return;
  if (!nb_worker_ice_add_remote_candidate (self->ice, candidate, &error))
    g_debug ("peer %s: remote candidate dropped: %s", short_key (self), error->message);
}

static void
on_remote_ice_supported (GObject *object, GParamSpec *pspec, NbPeerConn *self)
{
  if (self->closed || self->ctx->force_relay)
    return;
  if (nb_handshaker_get_remote_ice_supported (self->handshaker))
    {
      nb_guard_ice_state_changed (self->guard, NB_GUARD_PATH_DISCONNECTED);
    }
  else
    {
      ice_drop_worker (self, "remote without ICE");
      nb_guard_ice_state_changed (self->guard, NB_GUARD_PATH_UNAVAILABLE);
    }
}

static void
local_state (NbSignalOffer *out, gpointer user_data)
{
  NbPeerConn *self = user_data;
  const NbPeerConnContext *ctx = self->ctx;

  if (!ctx->force_relay && self->ice != NULL && !ice_worker_done (self->ice))
    {
      const char *ufrag = NULL, *pwd = NULL;

      nb_worker_ice_get_local_credentials (self->ice, &ufrag, &pwd);
      out->ufrag = g_strdup (ufrag);
      out->pwd = g_strdup (pwd);
      out->has_session_id = TRUE;
      memcpy (out->session_id, self->ice_session_id, NB_SIGNAL_SESSION_ID_LEN);
    }
  out->wg_listen_port = ctx->wg_listen_port;
  out->version = g_strdup (ctx->version);
  if (ctx->relay != NULL && nb_relay_manager_is_ready (ctx->relay))
    out->relay_server_address = g_strdup (nb_relay_manager_get_home_instance_url (ctx->relay));
}

static void
on_send_offer (NbGuard *guard, guint reason, NbPeerConn *self)
{
  g_autoptr (GError) error = NULL;

  if (self->closed)
    return;
  if (ice_enabled (self) && (self->ice == NULL || ice_worker_done (self->ice)))
    {
      ice_drop_worker (self, "done");
      if (ice_new_worker (self))
        {
          /* Gathering starts now; candidates go out after this offer (they
           * are emitted from an idle), the checks wait for the answer. */
          if (!nb_worker_ice_start (self->ice, NULL, NULL, &error))
            {
              g_warning ("peer %s: ICE gathering failed: %s", short_key (self), error->message);
              g_clear_error (&error);
              ice_drop_worker (self, "gathering failed");
            }
        }
    }
  if (self->send_func == NULL)
    {
      g_warning ("peer %s: no signal sender, offer not sent", short_key (self));
      return;
    }
  g_debug ("peer %s: sending offer (%s)", short_key (self), nb_guard_reason_to_string (reason));
  self->offer_unsent = FALSE;
  if (nb_handshaker_send_offer (self->handshaker, &error))
    return;
  if (g_error_matches (error, NB_SIGNAL_CLIENT_ERROR, NB_SIGNAL_CLIENT_ERROR_NOT_CONNECTED))
    {
      /* The guard's next try may be seconds away (the controller's ticker
       * restarts at its initial interval on a signal reconnect): offer
       * again the moment signal is back (nb_peer_conn_signal_reconnected). */
      self->offer_unsent = TRUE;
      g_message ("peer %s: offer not sent: %s; again when signal is back", short_key (self), error->message);
    }
  else
    g_warning ("peer %s: offer not sent: %s", short_key (self), error->message);
}

static gboolean
reoffer_cb (gpointer data)
{
  NbPeerConn *self = data;

  self->reoffer_id = 0;
  /* The guard's own offer for the reconnect (the non-controller's goes at
   * once, from a timer that runs before this idle) may have gone already. */
  if (self->offer_unsent && !self->closed)
    on_send_offer (self->guard, NB_GUARD_REASON_SIGNAL_RECONNECTED, self);
  return G_SOURCE_REMOVE;
}

/* ---- GObject ------------------------------------------------------------- */

static void
nb_peer_conn_dispose (GObject *object)
{
  NbPeerConn *self = NB_PEER_CONN (object);

  nb_peer_conn_close (self);
  g_clear_object (&self->handshaker);
  g_clear_object (&self->guard);
  g_clear_object (&self->relay);
  g_clear_object (&self->proxy);
  g_clear_object (&self->cancellable);
  if (self->send_destroy != NULL && self->send_data != NULL)
    self->send_destroy (self->send_data);
  self->send_destroy = NULL;
  self->send_data = NULL;
  self->send_func = NULL;

  G_OBJECT_CLASS (nb_peer_conn_parent_class)->dispose (object);
}

static void
nb_peer_conn_finalize (GObject *object)
{
  NbPeerConn *self = NB_PEER_CONN (object);

  g_clear_pointer (&self->peer, nb_remote_peer_free);
  g_clear_pointer (&self->allowed_ips, g_strfreev);
  g_clear_pointer (&self->ice_remote_ufrag, g_free);
  g_clear_pointer (&self->ice_pair, nb_ice_pair_info_free);
  g_clear_pointer (&self->ice_candidates, g_ptr_array_unref);
  g_clear_pointer (&self->relay_server_url, g_free);
  g_clear_object (&self->direct_endpoint);
  g_clear_pointer (&self->context, g_main_context_unref);
  g_queue_clear (&self->emits);
  sodium_memzero (&self->remote_wg_key, sizeof self->remote_wg_key);

  G_OBJECT_CLASS (nb_peer_conn_parent_class)->finalize (object);
}

static void
nb_peer_conn_class_init (NbPeerConnClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = nb_peer_conn_dispose;
  object_class->finalize = nb_peer_conn_finalize;

  signals[SIGNAL_CONNECTED] =
    g_signal_new ("connected", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 0);
  signals[SIGNAL_DISCONNECTED] =
    g_signal_new ("disconnected", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 0);
  signals[SIGNAL_PATH_CHANGED] =
    g_signal_new ("path-changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 0);
}

static void
nb_peer_conn_init (NbPeerConn *self)
{
  g_queue_init (&self->emits);
  self->cancellable = g_cancellable_new ();
  self->ice_candidates = g_ptr_array_new_with_free_func ((GDestroyNotify) nb_signal_candidate_free);
}

/* ---- public -------------------------------------------------------------- */

static char **
normalize_allowed_ips (const NbRemotePeer *peer, GError **error)
{
  g_autoptr (GPtrArray) out = g_ptr_array_new_with_free_func (g_free);

  for (guint i = 0; peer->allowed_ips != NULL && peer->allowed_ips[i] != NULL; i++)
    {
      char *cidr = nb_wg_allowed_ip_normalize (peer->allowed_ips[i], error);

      if (cidr == NULL)
        return NULL;
      g_ptr_array_add (out, cidr);
    }
  g_ptr_array_add (out, NULL);
  return (char **) g_ptr_array_steal (out, NULL);
}

/* The overlay IP for the status: the first allowed IP without its /32. */
static char *
overlay_ip (NbPeerConn *self)
{
  const char *first = self->allowed_ips != NULL ? self->allowed_ips[0] : NULL;
  const char *slash;

  if (first == NULL)
    return NULL;
  slash = strchr (first, '/');
  return slash != NULL ? g_strndup (first, slash - first) : g_strdup (first);
}

NbPeerConn *
nb_peer_conn_new (NbPeerConnContext  *ctx,
                  const NbRemotePeer *peer,
                  GError            **error)
{
  g_autoptr (NbPeerConn) self = NULL;
  g_auto (NbWgKey) key = NB_WG_KEY_INIT;
  g_auto (GStrv) ips = NULL;
  NbGuardConfig gconfig;

  g_return_val_if_fail (ctx != NULL, NULL);
  g_return_val_if_fail (peer != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (ctx->local_key == NULL || !nb_wg_key_from_base64 (ctx->local_key, &key, error))
    {
      if (error != NULL && *error == NULL)
        g_set_error_literal (error, NB_WG_ERROR, NB_WG_ERROR_INVALID_ARGUMENT, "no local key");
      return NULL;
    }
  if (peer->key == NULL || !nb_wg_key_from_base64 (peer->key, &key, error))
    {
      if (error != NULL && *error == NULL)
        g_set_error_literal (error, NB_WG_ERROR, NB_WG_ERROR_INVALID_ARGUMENT, "no peer key");
      return NULL;
    }
  ips = normalize_allowed_ips (peer, error);
  if (ips == NULL)
    return NULL;

  self = g_object_new (NB_TYPE_PEER_CONN, NULL);
  self->ctx = ctx;
  self->context = g_main_context_ref_thread_default ();
  self->peer = nb_remote_peer_copy (peer);
  self->remote_wg_key = key;
  self->allowed_ips = g_steal_pointer (&ips);

  self->handshaker = nb_handshaker_new (ctx->local_key, peer->key);
  if (self->handshaker == NULL)
    {
      g_set_error_literal (error, NB_WG_ERROR, NB_WG_ERROR_INVALID_ARGUMENT, "bad key");
      return NULL;
    }
  nb_handshaker_set_sender (self->handshaker, send_trampoline, self, NULL);
  nb_handshaker_set_local_func (self->handshaker, local_state, self, NULL);
  if (ctx->signal != NULL)
    {
      self->send_func = nb_handshaker_send_via_signal_client;
      self->send_data = g_object_ref (ctx->signal);
      self->send_destroy = g_object_unref;
    }
  g_signal_connect (self->handshaker, "remote-offer", G_CALLBACK (on_remote_offer), self);
  g_signal_connect (self->handshaker, "remote-answer", G_CALLBACK (on_remote_answer), self);
  g_signal_connect (self->handshaker, "remote-candidate", G_CALLBACK (on_remote_candidate), self);
  g_signal_connect (self->handshaker, "notify::remote-ice-supported",
                    G_CALLBACK (on_remote_ice_supported), self);

  nb_guard_config_init (&gconfig);
  gconfig.start_jitter_ms = ctx->start_jitter_ms;
  self->guard = nb_guard_new (nb_handshaker_is_controller (self->handshaker), &gconfig);
  self->keepalive_s = nb_handshaker_is_controller (self->handshaker)
    ? NB_PEER_CONN_PERSISTENT_KEEPALIVE_S : 0;
  g_signal_connect (self->guard, "send-offer", G_CALLBACK (on_send_offer), self);

  if (ctx->relay != NULL)
    {
      self->relay = nb_worker_relay_new (ctx->relay, ctx->local_key, peer->key);
      g_signal_connect (self->relay, "connected", G_CALLBACK (on_relay_connected), self);
      g_signal_connect (self->relay, "disconnected", G_CALLBACK (on_relay_disconnected), self);
      nb_worker_relay_set_receive_func (self->relay, relay_receive, self, NULL);
      if (ctx->wg != NULL)
        nb_worker_relay_watch_handshake (self->relay, ctx->wg, &self->remote_wg_key);
    }

  return g_steal_pointer (&self);
}

void
nb_peer_conn_set_signal_sender (NbPeerConn           *self,
                                NbHandshakerSendFunc  func,
                                gpointer              user_data,
                                GDestroyNotify        destroy)
{
  g_return_if_fail (NB_IS_PEER_CONN (self));

  if (self->send_destroy != NULL && self->send_data != NULL)
    self->send_destroy (self->send_data);
  self->send_func = func;
  self->send_data = user_data;
  self->send_destroy = destroy;
}

void
nb_peer_conn_open (NbPeerConn *self)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *ip = NULL;
  GInetSocketAddress *endpoint = NULL;

  g_return_if_fail (NB_IS_PEER_CONN (self));

  if (self->opened || self->closed)
    return;
  self->opened = TRUE;

  if (self->ctx->wg_address != NULL)
    {
      self->proxy = nb_wg_proxy_new (self->ctx->wg_address, &error);
      if (self->proxy == NULL)
        g_warning ("peer %s: no WireGuard proxy: %s", short_key (self), error->message);
      else
        endpoint = nb_wg_proxy_get_local_address (self->proxy);
    }
  else
    {
      g_warning ("peer %s: no WireGuard address: no proxy", short_key (self));
    }

  /* allowed IPs replaced, keepalive, endpoint the proxy: WireGuard's first
   * initiation waits in the proxy for a path */
  wg_set_peer (self, endpoint, TRUE, FALSE, "peer add", FALSE);

  if (self->ctx->status != NULL)
    {
      ip = overlay_ip (self);
      if (!nb_status_recorder_add_peer (self->ctx->status, self->peer->key, self->peer->fqdn, ip))
        nb_status_recorder_update_identity (self->ctx->status, self->peer->key, self->peer->fqdn, ip);
    }

  if (self->ctx->force_relay)
    nb_guard_ice_state_changed (self->guard, NB_GUARD_PATH_UNAVAILABLE);
  g_info ("peer %s: open (%s%s)", short_key (self),
          nb_handshaker_is_controller (self->handshaker) ? "controller" : "controlled",
          self->ctx->force_relay ? ", relay only" : "");
  nb_guard_start (self->guard);
  status_update_connection (self);
}

/* Closes; @task (may be NULL) completes when the WireGuard peer removal
 * does, at once when there is none. */
static void
close_internal (NbPeerConn *self, GTask *task)
{
  if (self->closed)
    {
      if (task != NULL)
        {
          g_task_return_boolean (task, TRUE);
          g_object_unref (task);
        }
      return;
    }

  /* The direct endpoint needs no reset: the peer goes away. */
  self->direct_requested = FALSE;
  self->direct = FALSE;
  self->closed = TRUE;
  g_cancellable_cancel (self->cancellable);
  remove_source (self, &self->emit_id);
  remove_source (self, &self->watchdog_id);
  remove_source (self, &self->direct_timer_id);
  remove_source (self, &self->keepalive_timer_id);
  remove_source (self, &self->nudge_timer_id);
  remove_source (self, &self->reoffer_id);
  g_queue_clear (&self->emits);

  if (self->guard != NULL)
    {
      nb_guard_stop (self->guard);
      g_signal_handlers_disconnect_by_data (self->guard, self);
    }
  if (self->handshaker != NULL)
    {
      nb_handshaker_reset (self->handshaker);
      g_signal_handlers_disconnect_by_data (self->handshaker, self);
    }
  if (self->ice != NULL)
    {
      NbWorkerIce *worker = g_steal_pointer (&self->ice);

      g_signal_handlers_disconnect_by_data (worker, self);
      nb_worker_ice_set_receive_func (worker, NULL, NULL, NULL);
      nb_worker_ice_close (worker);
      g_object_unref (worker);
    }
  if (self->relay != NULL)
    {
      g_signal_handlers_disconnect_by_data (self->relay, self);
      nb_worker_relay_set_receive_func (self->relay, NULL, NULL, NULL);
      nb_worker_relay_close (self->relay);
    }
  if (self->proxy != NULL)
    {
      nb_wg_proxy_set_transport (self->proxy, NULL, NULL, NULL);
      nb_wg_proxy_close (self->proxy);
    }
  memset (self->paths, 0, sizeof self->paths);
  self->active = NB_PEER_PATH_NONE;

  if (self->opened)
    {
      if (self->ctx->wg != NULL)
        {
          RemovePeerData *d = g_new0 (RemovePeerData, 1);

          d->backend = g_object_ref (self->ctx->wg);
          d->key = g_strdup (self->peer->key);
          d->task = g_steal_pointer (&task);
          nb_wg_backend_remove_peer_async (self->ctx->wg, &self->remote_wg_key, NULL, remove_peer_cb, d);
        }
      if (self->ctx->status != NULL)
        nb_status_recorder_remove_peer (self->ctx->status, self->peer->key);
      g_info ("peer %s: closed", short_key (self));
    }
  if (task != NULL)
    {
      g_task_return_boolean (task, TRUE);
      g_object_unref (task);
    }
}

void
nb_peer_conn_close (NbPeerConn *self)
{
  g_return_if_fail (NB_IS_PEER_CONN (self));

  close_internal (self, NULL);
}

void
nb_peer_conn_close_async (NbPeerConn          *self,
                          GAsyncReadyCallback  callback,
                          gpointer             user_data)
{
  GTask *task;

  g_return_if_fail (NB_IS_PEER_CONN (self));

  task = g_task_new (self, NULL, callback, user_data);
  g_task_set_source_tag (task, nb_peer_conn_close_async);
  close_internal (self, task);
}

gboolean
nb_peer_conn_close_finish (NbPeerConn    *self,
                           GAsyncResult  *result,
                           GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

void
nb_peer_conn_on_signal_message (NbPeerConn            *self,
                                const NbSignalMessage *msg)
{
  g_return_if_fail (NB_IS_PEER_CONN (self));
  g_return_if_fail (msg != NULL);

  if (self->closed)
    return;
  if (!nb_handshaker_receive (self->handshaker, msg))
    g_debug ("peer %s: %s not taken", short_key (self), nb_signal_msg_type_to_string (msg->type));
}

void
nb_peer_conn_update (NbPeerConn *self, const NbRemotePeer *peer)
{
  g_autoptr (GError) error = NULL;
  g_auto (GStrv) ips = NULL;
  g_autofree char *ip = NULL;
  gboolean ips_changed;

  g_return_if_fail (NB_IS_PEER_CONN (self));
  g_return_if_fail (peer != NULL);

  if (self->closed)
    return;
  if (g_strcmp0 (peer->key, self->peer->key) != 0)
    {
      g_warning ("peer %s: update for another key ignored", short_key (self));
      return;
    }
  ips = normalize_allowed_ips (peer, &error);
  if (ips == NULL)
    {
      g_warning ("peer %s: update with bad allowed IPs ignored: %s", short_key (self), error->message);
      return;
    }
  ips_changed = !g_strv_equal ((const char * const *) ips, (const char * const *) self->allowed_ips);

  g_clear_pointer (&self->peer, nb_remote_peer_free);
  self->peer = nb_remote_peer_copy (peer);
  if (ips_changed)
    {
      g_strfreev (self->allowed_ips);
      self->allowed_ips = g_steal_pointer (&ips);
      if (self->opened)
        wg_set_peer (self, NULL, TRUE, TRUE, "allowed IPs update", FALSE);
    }
  if (self->opened && self->ctx->status != NULL)
    {
      ip = overlay_ip (self);
      nb_status_recorder_update_identity (self->ctx->status, self->peer->key, self->peer->fqdn, ip);
    }
}

void
nb_peer_conn_signal_reconnected (NbPeerConn *self)
{
  g_return_if_fail (NB_IS_PEER_CONN (self));
  if (self->closed || !self->opened)
    return;
  nb_guard_signal_reconnected (self->guard);
  if (self->offer_unsent && self->reoffer_id == 0)
    {
      g_autoptr (GSource) source = g_idle_source_new ();

      g_source_set_callback (source, reoffer_cb, self, NULL);
      g_source_set_static_name (source, "[nb-peer] re-offer");
      self->reoffer_id = g_source_attach (source, self->context);
    }
}

void
nb_peer_conn_relay_reconnected (NbPeerConn *self)
{
  g_return_if_fail (NB_IS_PEER_CONN (self));
  if (!self->closed && self->opened)
    nb_guard_relay_reconnected (self->guard);
}

void
nb_peer_conn_network_changed (NbPeerConn *self)
{
  g_return_if_fail (NB_IS_PEER_CONN (self));
  if (!self->closed && self->opened)
    nb_guard_network_changed (self->guard);
}

const char *
nb_peer_conn_get_remote_key (NbPeerConn *self)
{
  g_return_val_if_fail (NB_IS_PEER_CONN (self), NULL);
  return self->peer->key;
}

NbPeerPath
nb_peer_conn_get_active_path (NbPeerConn *self)
{
  g_return_val_if_fail (NB_IS_PEER_CONN (self), NB_PEER_PATH_NONE);
  return self->active;
}

guint
nb_peer_conn_get_active_priority (NbPeerConn *self)
{
  g_return_val_if_fail (NB_IS_PEER_CONN (self), NB_WORKER_ICE_PRIORITY_NONE);
  return self->active == NB_PEER_PATH_NONE ? NB_WORKER_ICE_PRIORITY_NONE
                                           : self->paths[self->active].priority;
}

gboolean
nb_peer_conn_is_connected (NbPeerConn *self)
{
  g_return_val_if_fail (NB_IS_PEER_CONN (self), FALSE);
  return self->active != NB_PEER_PATH_NONE;
}

gboolean
nb_peer_conn_is_direct (NbPeerConn *self)
{
  g_return_val_if_fail (NB_IS_PEER_CONN (self), FALSE);
  return self->direct;
}

const NbIcePairInfo *
nb_peer_conn_get_ice_pair (NbPeerConn *self)
{
  g_return_val_if_fail (NB_IS_PEER_CONN (self), NULL);
  return self->paths[NB_PEER_PATH_ICE].up ? self->ice_pair : NULL;
}

GInetSocketAddress *
nb_peer_conn_get_proxy_address (NbPeerConn *self)
{
  g_return_val_if_fail (NB_IS_PEER_CONN (self), NULL);
  return self->proxy != NULL && !self->closed ? nb_wg_proxy_get_local_address (self->proxy) : NULL;
}
