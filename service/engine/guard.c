/* SPDX-License-Identifier: GPL-2.0-or-later */
#define G_LOG_DOMAIN "nb-guard"

#include "config.h"

#include "guard.h"

#include <sodium.h>

#include "backoff.h"
#include "nb-sodium.h"

/* What the single pending timer will do when it fires. */
typedef enum {
  TIMER_START,        /* first offer, both roles */
  TIMER_TICK,         /* controller ticker */
  TIMER_REPROBE,      /* non-controller ICE re-probe */
  TIMER_EVENT,        /* non-controller offer for an event (timer_event) */
} TimerKind;

struct _NbGuard {
  GObject parent_instance;

  gboolean controller;
  NbGuardConfig config;
  guint max_interval_ms;

  NbGuardClock clock;
  gpointer clock_data;
  GMainContext *context;

  NbBackoff *backoff;           /* controller ticker */

  NbGuardPathState ice;
  NbGuardPathState relay;

  gboolean started;
  guint timer_id;               /* 0: none pending */
  gint64 timer_due_ms;
  TimerKind timer_kind;
  NbGuardReason timer_event;    /* TIMER_EVENT only */

  guint offer_count;
};

enum {
  SIGNAL_SEND_OFFER,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE (NbGuard, nb_guard, G_TYPE_OBJECT)

/* ------------------------------------------------------------------------ */
/* Default clock: GSources on the guard's main context. */

static gint64
default_now_ms (gpointer clock_data)
{
  return g_get_monotonic_time () / 1000;
}

static guint
default_add_timeout (guint delay_ms, GSourceFunc func, gpointer func_data, gpointer clock_data)
{
  GMainContext *context = clock_data;
  g_autoptr (GSource) source = g_timeout_source_new (delay_ms);

  g_source_set_callback (source, func, func_data, NULL);
  g_source_set_static_name (source, "[nb-guard] timer");
  return g_source_attach (source, context);
}

static void
default_remove (guint id, gpointer clock_data)
{
  GMainContext *context = clock_data;
  GSource *source = g_main_context_find_source_by_id (context, id);

  if (source != NULL)
    g_source_destroy (source);
}

static const NbGuardClock default_clock = {
  .now_ms = default_now_ms,
  .add_timeout = default_add_timeout,
  .remove = default_remove,
};

/* ------------------------------------------------------------------------ */

const char *
nb_guard_reason_to_string (NbGuardReason reason)
{
  switch (reason)
    {
    case NB_GUARD_REASON_START: return "start";
    case NB_GUARD_REASON_TICK: return "tick";
    case NB_GUARD_REASON_ICE_REPROBE: return "ice-reprobe";
    case NB_GUARD_REASON_ICE_DISCONNECTED: return "ice-disconnected";
    case NB_GUARD_REASON_RELAY_DISCONNECTED: return "relay-disconnected";
    case NB_GUARD_REASON_SIGNAL_RECONNECTED: return "signal-reconnected";
    case NB_GUARD_REASON_RELAY_RECONNECTED: return "relay-reconnected";
    case NB_GUARD_REASON_NETWORK_CHANGED: return "network-changed";
    }
  return "unknown";
}

const char *
nb_guard_path_state_to_string (NbGuardPathState state)
{
  switch (state)
    {
    case NB_GUARD_PATH_UNAVAILABLE: return "unavailable";
    case NB_GUARD_PATH_DISCONNECTED: return "disconnected";
    case NB_GUARD_PATH_CONNECTING: return "connecting";
    case NB_GUARD_PATH_CONNECTED: return "connected";
    }
  return "unknown";
}

void
nb_guard_config_init (NbGuardConfig *config)
{
  g_return_if_fail (config != NULL);

  config->initial_interval_ms = NB_GUARD_DEFAULT_INITIAL_INTERVAL_MS;
  config->multiplier = NB_GUARD_DEFAULT_MULTIPLIER;
  config->jitter = NB_GUARD_DEFAULT_JITTER;
  config->max_interval_ms = 0;
  config->ice_reprobe_interval_ms = NB_GUARD_DEFAULT_ICE_REPROBE_MS;
  config->start_jitter_ms = 0;
}

/* NetBird's evalConnStatus on our path states. */
static NbGuardConnStatus
eval_conn_status (NbGuardPathState ice, NbGuardPathState relay)
{
  gboolean relay_up = relay == NB_GUARD_PATH_CONNECTED;
  gboolean relay_ok = relay == NB_GUARD_PATH_UNAVAILABLE || relay_up;
  gboolean ice_up = ice == NB_GUARD_PATH_CONNECTING || ice == NB_GUARD_PATH_CONNECTED;

  if (ice == NB_GUARD_PATH_UNAVAILABLE)
    return relay_up ? NB_GUARD_CONN_CONNECTED : NB_GUARD_CONN_DISCONNECTED;
  if (ice_up && relay_ok)
    return NB_GUARD_CONN_CONNECTED;
  if (relay_up)
    return NB_GUARD_CONN_PARTIAL;
  return NB_GUARD_CONN_DISCONNECTED;
}

/* @ms randomized by +-jitter, at least 1 ms. */
static guint
jittered (NbGuard *self, guint ms)
{
  double j = self->config.jitter;
  guint64 lo = (guint64) (ms * (1.0 - j));
  guint64 hi = (guint64) (ms * (1.0 + j));
  guint64 d = lo;

  if (hi > lo)
    d = lo + randombytes_uniform ((uint32_t) MIN (hi - lo, (guint64) G_MAXUINT32 - 1) + 1);
  return (guint) MAX (d, 1);
}

static void
cancel_timer (NbGuard *self)
{
  if (self->timer_id != 0)
    {
      self->clock.remove (self->timer_id, self->clock_data);
      self->timer_id = 0;
    }
}

static gboolean timer_cb (gpointer data);

static void
set_timer (NbGuard *self, guint delay_ms, TimerKind kind, NbGuardReason event)
{
  cancel_timer (self);
  self->timer_kind = kind;
  self->timer_event = event;
  self->timer_due_ms = self->clock.now_ms (self->clock_data) + delay_ms;
  self->timer_id = self->clock.add_timeout (delay_ms, timer_cb, self, self->clock_data);
}

/* The controller's next tick: the ticker's next interval, no later than a
 * re-probe while relayed. */
static void
schedule_tick (NbGuard *self)
{
  guint delay = nb_backoff_next (self->backoff);
  guint reprobe = self->config.ice_reprobe_interval_ms;

  if (reprobe > 0 && eval_conn_status (self->ice, self->relay) == NB_GUARD_CONN_PARTIAL)
    delay = MIN (delay, jittered (self, reprobe));
  set_timer (self, delay, TIMER_TICK, NB_GUARD_REASON_TICK);
}

/* After any state change: make sure a relayed peer is re-probed in time,
 * and drop a non-controller re-probe that has nothing left to do. */
static void
adjust_reprobe (NbGuard *self)
{
  guint reprobe = self->config.ice_reprobe_interval_ms;
  gboolean partial = eval_conn_status (self->ice, self->relay) == NB_GUARD_CONN_PARTIAL;

  if (reprobe == 0)
    return;

  if (self->controller)
    {
      gint64 remaining;
      guint delay;

      if (!partial || self->timer_id == 0 || self->timer_kind != TIMER_TICK)
        return;
      remaining = self->timer_due_ms - self->clock.now_ms (self->clock_data);
      if (remaining <= (gint64) reprobe)
        return;
      delay = jittered (self, reprobe);
      if ((gint64) delay < remaining)
        {
          g_debug ("relayed: pull the next tick forward to %u ms", delay);
          set_timer (self, delay, TIMER_TICK, NB_GUARD_REASON_TICK);
        }
    }
  else if (partial)
    {
      if (self->timer_id == 0)
        set_timer (self, jittered (self, reprobe), TIMER_REPROBE, NB_GUARD_REASON_ICE_REPROBE);
    }
  else if (self->timer_id != 0 && self->timer_kind == TIMER_REPROBE)
    {
      cancel_timer (self);
    }
}

static gboolean
timer_cb (gpointer data)
{
  NbGuard *self = NB_GUARD (data);
  NbGuardConnStatus status = eval_conn_status (self->ice, self->relay);
  TimerKind kind = self->timer_kind;
  gboolean emit = FALSE;
  NbGuardReason reason = NB_GUARD_REASON_START;

  self->timer_id = 0;
  if (!self->started)
    return G_SOURCE_REMOVE;

  switch (kind)
    {
    case TIMER_START:
      emit = TRUE;
      reason = NB_GUARD_REASON_START;
      break;
    case TIMER_TICK:
      if (status == NB_GUARD_CONN_DISCONNECTED)
        {
          emit = TRUE;
          reason = NB_GUARD_REASON_TICK;
        }
      else if (status == NB_GUARD_CONN_PARTIAL)
        {
          emit = TRUE;
          reason = self->config.ice_reprobe_interval_ms > 0 ? NB_GUARD_REASON_ICE_REPROBE
                                                            : NB_GUARD_REASON_TICK;
        }
      break;
    case TIMER_REPROBE:
      if (status == NB_GUARD_CONN_PARTIAL)
        {
          emit = TRUE;
          reason = NB_GUARD_REASON_ICE_REPROBE;
        }
      break;
    case TIMER_EVENT:
      emit = TRUE;
      reason = self->timer_event;
      break;
    }

  /* The next timer before emitting, so that inputs the handler feeds back
   * adjust it like any other. */
  if (self->controller)
    schedule_tick (self);
  else
    adjust_reprobe (self);

  if (emit)
    {
      g_autoptr (NbGuard) hold = g_object_ref (self);

      self->offer_count++;
      g_debug ("send offer (%s, %s)", nb_guard_reason_to_string (reason),
               self->controller ? "controller" : "non-controller");
      g_signal_emit (self, signals[SIGNAL_SEND_OFFER], 0, (guint) reason);
    }
  return G_SOURCE_REMOVE;
}

/* A disconnect or reconnect event. */
static void
on_event (NbGuard *self, NbGuardReason reason)
{
  if (!self->started)
    return;

  g_debug ("event: %s", nb_guard_reason_to_string (reason));
  if (self->timer_id != 0 && self->timer_kind == TIMER_START)
    return; /* the first offer has not gone out yet: it covers this */

  if (self->controller)
    {
      /* NetBird's newReconnectTicker: a fresh backoff; its immediate first
       * tick is consumed, so the first check comes one interval later. */
      nb_backoff_reset (self->backoff);
      schedule_tick (self);
    }
  else if (self->timer_id == 0 || self->timer_kind != TIMER_EVENT)
    {
      set_timer (self, 0, TIMER_EVENT, reason);
    }
  /* else: an event offer is already due at once; it covers this one */
}

static void
path_changed (NbGuard *self, NbGuardPathState *slot, NbGuardPathState state, NbGuardReason disconnect_reason)
{
  NbGuardPathState old = *slot;

  *slot = state;
  if (!self->started || old == state)
    return;
  if (old == NB_GUARD_PATH_CONNECTED && state == NB_GUARD_PATH_DISCONNECTED)
    on_event (self, disconnect_reason);
  adjust_reprobe (self);
}

/* ------------------------------------------------------------------------ */

NbGuard *
nb_guard_new (gboolean controller, const NbGuardConfig *config)
{
  NbGuard *self = g_object_new (NB_TYPE_GUARD, NULL);

  nb_sodium_init ();

  self->controller = controller;
  if (config != NULL)
    self->config = *config;
  else
    nb_guard_config_init (&self->config);

  if (self->config.initial_interval_ms == 0)
    self->config.initial_interval_ms = 1;
  if (self->config.multiplier < 1.0)
    self->config.multiplier = 1.0;
  self->config.jitter = CLAMP (self->config.jitter, 0.0, 1.0);

  self->max_interval_ms = self->config.max_interval_ms;
  if (self->max_interval_ms == 0)
    self->max_interval_ms = NB_GUARD_DEFAULT_MAX_INTERVAL_MIN_MS
      + randombytes_uniform (NB_GUARD_DEFAULT_MAX_INTERVAL_MAX_MS - NB_GUARD_DEFAULT_MAX_INTERVAL_MIN_MS + 1);
  self->max_interval_ms = MAX (self->max_interval_ms, self->config.initial_interval_ms);

  self->backoff = nb_backoff_new (self->config.initial_interval_ms, self->max_interval_ms);
  nb_backoff_set_multiplier (self->backoff, self->config.multiplier);
  nb_backoff_set_jitter (self->backoff, self->config.jitter);
  return self;
}

void
nb_guard_set_clock (NbGuard *self, const NbGuardClock *clock, gpointer clock_data)
{
  g_return_if_fail (NB_IS_GUARD (self));
  g_return_if_fail (clock != NULL && clock->now_ms && clock->add_timeout && clock->remove);
  g_return_if_fail (!self->started);

  self->clock = *clock;
  self->clock_data = clock_data;
}

void
nb_guard_start (NbGuard *self)
{
  guint delay = 0;

  g_return_if_fail (NB_IS_GUARD (self));

  if (self->started)
    return;
  self->started = TRUE;
  nb_backoff_reset (self->backoff);
  if (self->config.start_jitter_ms > 0)
    delay = randombytes_uniform (self->config.start_jitter_ms + 1);
  g_debug ("start (%s), first offer in %u ms, cap %u ms",
           self->controller ? "controller" : "non-controller", delay, self->max_interval_ms);
  set_timer (self, delay, TIMER_START, NB_GUARD_REASON_START);
}

void
nb_guard_stop (NbGuard *self)
{
  g_return_if_fail (NB_IS_GUARD (self));

  cancel_timer (self);
  self->started = FALSE;
}

gboolean
nb_guard_is_started (NbGuard *self)
{
  g_return_val_if_fail (NB_IS_GUARD (self), FALSE);
  return self->started;
}

void
nb_guard_ice_state_changed (NbGuard *self, NbGuardPathState state)
{
  g_return_if_fail (NB_IS_GUARD (self));
  path_changed (self, &self->ice, state, NB_GUARD_REASON_ICE_DISCONNECTED);
}

void
nb_guard_relay_state_changed (NbGuard *self, NbGuardPathState state)
{
  g_return_if_fail (NB_IS_GUARD (self));
  path_changed (self, &self->relay, state, NB_GUARD_REASON_RELAY_DISCONNECTED);
}

void
nb_guard_signal_reconnected (NbGuard *self)
{
  g_return_if_fail (NB_IS_GUARD (self));
  on_event (self, NB_GUARD_REASON_SIGNAL_RECONNECTED);
}

void
nb_guard_relay_reconnected (NbGuard *self)
{
  g_return_if_fail (NB_IS_GUARD (self));
  on_event (self, NB_GUARD_REASON_RELAY_RECONNECTED);
}

void
nb_guard_network_changed (NbGuard *self)
{
  g_return_if_fail (NB_IS_GUARD (self));
  on_event (self, NB_GUARD_REASON_NETWORK_CHANGED);
}

gboolean
nb_guard_is_controller (NbGuard *self)
{
  g_return_val_if_fail (NB_IS_GUARD (self), FALSE);
  return self->controller;
}

NbGuardConnStatus
nb_guard_get_conn_status (NbGuard *self)
{
  g_return_val_if_fail (NB_IS_GUARD (self), NB_GUARD_CONN_DISCONNECTED);
  return eval_conn_status (self->ice, self->relay);
}

guint
nb_guard_get_max_interval (NbGuard *self)
{
  g_return_val_if_fail (NB_IS_GUARD (self), 0);
  return self->max_interval_ms;
}

guint
nb_guard_get_offer_count (NbGuard *self)
{
  g_return_val_if_fail (NB_IS_GUARD (self), 0);
  return self->offer_count;
}

/* ------------------------------------------------------------------------ */

static void
nb_guard_dispose (GObject *object)
{
  NbGuard *self = NB_GUARD (object);

  nb_guard_stop (self);
  G_OBJECT_CLASS (nb_guard_parent_class)->dispose (object);
}

static void
nb_guard_finalize (GObject *object)
{
  NbGuard *self = NB_GUARD (object);

  g_clear_pointer (&self->backoff, nb_backoff_free);
  g_clear_pointer (&self->context, g_main_context_unref);
  G_OBJECT_CLASS (nb_guard_parent_class)->finalize (object);
}

static void
nb_guard_init (NbGuard *self)
{
  self->context = g_main_context_ref_thread_default ();
  self->clock = default_clock;
  self->clock_data = self->context;
  self->ice = NB_GUARD_PATH_DISCONNECTED;
  self->relay = NB_GUARD_PATH_UNAVAILABLE;
}

static void
nb_guard_class_init (NbGuardClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = nb_guard_dispose;
  object_class->finalize = nb_guard_finalize;

  signals[SIGNAL_SEND_OFFER] =
    g_signal_new ("send-offer", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 1, G_TYPE_UINT);
}
