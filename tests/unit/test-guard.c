/* SPDX-License-Identifier: GPL-2.0-or-later
 * Tests service/engine/guard.c: offer schedules for both roles, on a fake
 * clock (deterministic) and once on the real main loop. */
#include "config.h"

#include "guard.h"

/* ------------------------------------------------------------------------ */
/* Fake clock */

typedef struct {
  guint id;
  gint64 due;
  GSourceFunc func;
  gpointer data;
} FakeTimer;

typedef struct {
  gint64 now;
  GList *timers;
  guint next_id;
} FakeClock;

static gint64
fake_now (gpointer d)
{
  return ((FakeClock *) d)->now;
}

static guint
fake_add (guint delay_ms, GSourceFunc func, gpointer func_data, gpointer d)
{
  FakeClock *c = d;
  FakeTimer *t = g_new0 (FakeTimer, 1);

  t->id = ++c->next_id;
  t->due = c->now + delay_ms;
  t->func = func;
  t->data = func_data;
  c->timers = g_list_append (c->timers, t);
  return t->id;
}

static void
fake_remove (guint id, gpointer d)
{
  FakeClock *c = d;

  for (GList *l = c->timers; l != NULL; l = l->next)
    {
      FakeTimer *t = l->data;

      if (t->id == id)
        {
          c->timers = g_list_delete_link (c->timers, l);
          g_free (t);
          return;
        }
    }
  g_assert_not_reached (); /* removing a timer that already fired */
}

static const NbGuardClock fake_clock_funcs = { fake_now, fake_add, fake_remove };

/* Runs the timers due within @ms, in order, and moves the clock on. */
static void
fake_advance (FakeClock *c, gint64 ms)
{
  gint64 target = c->now + ms;

  for (;;)
    {
      FakeTimer *best = NULL;

      for (GList *l = c->timers; l != NULL; l = l->next)
        {
          FakeTimer *t = l->data;

          if (t->due <= target && (best == NULL || t->due < best->due))
            best = t;
        }
      if (best == NULL)
        break;
      c->timers = g_list_remove (c->timers, best);
      c->now = best->due;
      best->func (best->data);
      g_free (best);
    }
  c->now = target;
}

/* Runs the clock to the next pending timer (and runs it). */
static void
fake_advance_to_next (FakeClock *c)
{
  g_assert_nonnull (c->timers);
  fake_advance (c, ((FakeTimer *) c->timers->data)->due - c->now);
}

static void
fake_clear (FakeClock *c)
{
  g_list_free_full (c->timers, g_free);
  c->timers = NULL;
}

/* ------------------------------------------------------------------------ */

typedef struct {
  gint64 at;
  NbGuardReason reason;
} Offer;

typedef struct {
  FakeClock clock;
  GArray *offers;               /* Offer */
  NbGuard *guard;
} Fixture;

static void
on_send_offer (NbGuard *guard, guint reason, gpointer user_data)
{
  Fixture *f = user_data;
  Offer o = { f->clock.now, reason };

  g_array_append_val (f->offers, o);
}

static void
fixture_init (Fixture *f, gboolean controller, const NbGuardConfig *config)
{
  NbGuardConfig defaults;

  memset (f, 0, sizeof *f);
  f->clock.now = 1000000; /* arbitrary epoch */
  f->offers = g_array_new (FALSE, FALSE, sizeof (Offer));
  if (config == NULL)
    {
      nb_guard_config_init (&defaults);
      defaults.max_interval_ms = 30000;
      config = &defaults;
    }
  f->guard = nb_guard_new (controller, config);
  nb_guard_set_clock (f->guard, &fake_clock_funcs, &f->clock);
  g_signal_connect (f->guard, "send-offer", G_CALLBACK (on_send_offer), f);
}

static void
fixture_clear (Fixture *f)
{
  g_clear_object (&f->guard);
  g_assert_null (f->clock.timers); /* dispose cancelled everything */
  fake_clear (&f->clock);
  g_array_unref (f->offers);
}

static Offer *
offer_at (Fixture *f, guint i)
{
  g_assert_cmpuint (i, <, f->offers->len);
  return &g_array_index (f->offers, Offer, i);
}

static gint64
interval (Fixture *f, guint i)
{
  return offer_at (f, i)->at - offer_at (f, i - 1)->at;
}

/* Bounds of one ticker interval of @base ms with +-10 %, capped. */
static void
assert_interval (gint64 d, guint base, guint cap)
{
  gint64 lo = (gint64) (base * 0.9);
  gint64 hi = MIN ((gint64) (base * 1.1) + 1, (gint64) cap);

  lo = MIN (lo, hi);
  if (d < lo || d > hi)
    g_error ("interval %" G_GINT64_FORMAT " ms not in [%" G_GINT64_FORMAT ", %" G_GINT64_FORMAT "] (base %u)",
             d, lo, hi, base);
}

/* ------------------------------------------------------------------------ */

static void
test_controller_first_offer_immediate (void)
{
  Fixture f;

  fixture_init (&f, TRUE, NULL);
  g_assert_true (nb_guard_is_controller (f.guard));
  nb_guard_start (f.guard);
  g_assert_cmpuint (f.offers->len, ==, 0); /* never from inside start() */
  fake_advance (&f.clock, 0);
  g_assert_cmpuint (f.offers->len, ==, 1);
  g_assert_cmpint (offer_at (&f, 0)->at, ==, 1000000);
  g_assert_cmpuint (offer_at (&f, 0)->reason, ==, NB_GUARD_REASON_START);
  /* Starting again does nothing. */
  nb_guard_start (f.guard);
  fake_advance (&f.clock, 0);
  g_assert_cmpuint (f.offers->len, ==, 1);
  fixture_clear (&f);
}

static void
test_controller_exponential (void)
{
  static const guint base[] = { 800, 1600, 3200, 6400, 12800, 25600 };
  Fixture f;

  fixture_init (&f, TRUE, NULL);
  nb_guard_start (f.guard);
  fake_advance (&f.clock, 600000);

  /* start + 6 ramp ticks + capped ticks over the rest of 10 min */
  g_assert_cmpuint (f.offers->len, >=, 1 + G_N_ELEMENTS (base) + 15);
  for (guint i = 1; i < f.offers->len; i++)
    {
      g_assert_cmpuint (offer_at (&f, i)->reason, ==, NB_GUARD_REASON_TICK);
      if (i <= G_N_ELEMENTS (base))
        assert_interval (interval (&f, i), base[i - 1], 30000);
      else
        assert_interval (interval (&f, i), 30000, 30000); /* capped: [27, 30] s */
    }
  g_assert_cmpuint (nb_guard_get_offer_count (f.guard), ==, f.offers->len);
  fixture_clear (&f);
}

/* The ±10 % is really random (not the same for every guard). */
static void
test_controller_jitter_varies (void)
{
  g_autoptr (GHashTable) seen = g_hash_table_new (NULL, NULL);

  for (int n = 0; n < 30; n++)
    {
      Fixture f;

      fixture_init (&f, TRUE, NULL);
      nb_guard_start (f.guard);
      fake_advance (&f.clock, 1000);
      g_assert_cmpuint (f.offers->len, ==, 2);
      assert_interval (interval (&f, 1), 800, 30000);
      g_hash_table_add (seen, GINT_TO_POINTER ((int) interval (&f, 1)));
      fixture_clear (&f);
    }
  g_assert_cmpuint (g_hash_table_size (seen), >, 5);
}

static void
test_default_cap_range (void)
{
  guint lo = G_MAXUINT, hi = 0;

  for (int n = 0; n < 200; n++)
    {
      g_autoptr (NbGuard) g = nb_guard_new (TRUE, NULL);
      guint cap = nb_guard_get_max_interval (g);

      g_assert_cmpuint (cap, >=, 30000);
      g_assert_cmpuint (cap, <=, 45000);
      lo = MIN (lo, cap);
      hi = MAX (hi, cap);
    }
  g_assert_cmpuint (hi - lo, >, 5000);
}

static void
test_conn_status (void)
{
  g_autoptr (NbGuard) g = nb_guard_new (TRUE, NULL);

  /* Initial: ICE disconnected, relay not (yet) usable. */
  g_assert_cmpuint (nb_guard_get_conn_status (g), ==, NB_GUARD_CONN_DISCONNECTED);
  nb_guard_ice_state_changed (g, NB_GUARD_PATH_CONNECTING);
  g_assert_cmpuint (nb_guard_get_conn_status (g), ==, NB_GUARD_CONN_CONNECTED);
  nb_guard_relay_state_changed (g, NB_GUARD_PATH_DISCONNECTED);
  g_assert_cmpuint (nb_guard_get_conn_status (g), ==, NB_GUARD_CONN_DISCONNECTED);
  nb_guard_relay_state_changed (g, NB_GUARD_PATH_CONNECTED);
  g_assert_cmpuint (nb_guard_get_conn_status (g), ==, NB_GUARD_CONN_CONNECTED);
  nb_guard_ice_state_changed (g, NB_GUARD_PATH_DISCONNECTED);
  g_assert_cmpuint (nb_guard_get_conn_status (g), ==, NB_GUARD_CONN_PARTIAL);
  nb_guard_ice_state_changed (g, NB_GUARD_PATH_UNAVAILABLE);
  g_assert_cmpuint (nb_guard_get_conn_status (g), ==, NB_GUARD_CONN_CONNECTED);
  nb_guard_relay_state_changed (g, NB_GUARD_PATH_CONNECTING);
  g_assert_cmpuint (nb_guard_get_conn_status (g), ==, NB_GUARD_CONN_DISCONNECTED);
  nb_guard_relay_state_changed (g, NB_GUARD_PATH_UNAVAILABLE);
  g_assert_cmpuint (nb_guard_get_conn_status (g), ==, NB_GUARD_CONN_DISCONNECTED);
}

/* Connected on all ways (or an ICE attempt in flight): ticks send nothing. */
static void
test_controller_connected_quiet (void)
{
  Fixture f;

  fixture_init (&f, TRUE, NULL);
  nb_guard_start (f.guard);
  fake_advance (&f.clock, 0);
  nb_guard_ice_state_changed (f.guard, NB_GUARD_PATH_CONNECTING);
  fake_advance (&f.clock, 100000);
  nb_guard_ice_state_changed (f.guard, NB_GUARD_PATH_CONNECTED);
  fake_advance (&f.clock, 100000);
  g_assert_cmpuint (f.offers->len, ==, 1);

  /* Relay usable but down while ICE is up: not all ways, offers resume on
   * the running ticker (no restart: relay was never connected). */
  fake_advance_to_next (&f.clock); /* a silent tick; the next is 27-30 s away */
  g_assert_cmpuint (f.offers->len, ==, 1);
  nb_guard_relay_state_changed (f.guard, NB_GUARD_PATH_DISCONNECTED);
  fake_advance (&f.clock, 30000);
  g_assert_cmpuint (f.offers->len, ==, 2);
  g_assert_cmpuint (offer_at (&f, 1)->reason, ==, NB_GUARD_REASON_TICK);
  fixture_clear (&f);
}

typedef void (*EventFunc) (Fixture *f);

static void ev_ice_disconnect (Fixture *f) { nb_guard_ice_state_changed (f->guard, NB_GUARD_PATH_DISCONNECTED); }
static void ev_relay_disconnect (Fixture *f) { nb_guard_relay_state_changed (f->guard, NB_GUARD_PATH_DISCONNECTED); }
static void ev_signal_reconnected (Fixture *f) { nb_guard_signal_reconnected (f->guard); }
static void ev_relay_reconnected (Fixture *f) { nb_guard_relay_reconnected (f->guard); }
static void ev_network_changed (Fixture *f) { nb_guard_network_changed (f->guard); }

/* Each event restarts the ticker: the next offer ~0.8 s later, then the
 * ramp again. */
static void
test_controller_restart (void)
{
  static const EventFunc events[] = {
    ev_ice_disconnect, ev_relay_disconnect, ev_signal_reconnected, ev_relay_reconnected, ev_network_changed,
  };

  for (guint e = 0; e < G_N_ELEMENTS (events); e++)
    {
      Fixture f;
      gint64 t0;
      guint n;

      fixture_init (&f, TRUE, NULL);
      nb_guard_start (f.guard);
      fake_advance (&f.clock, 0);
      if (events[e] == ev_ice_disconnect)
        nb_guard_ice_state_changed (f.guard, NB_GUARD_PATH_CONNECTED);
      if (events[e] == ev_relay_disconnect)
        {
          nb_guard_ice_state_changed (f.guard, NB_GUARD_PATH_CONNECTED);
          nb_guard_relay_state_changed (f.guard, NB_GUARD_PATH_CONNECTED);
        }
      /* Long enough for the ticker to sit at its cap. */
      fake_advance (&f.clock, 200000);
      n = f.offers->len;
      t0 = f.clock.now;
      events[e] (&f);
      fake_advance (&f.clock, 0);
      g_assert_cmpuint (f.offers->len, ==, n); /* not immediate */
      fake_advance (&f.clock, 800 + 1600 + 3200 + 1000);
      g_assert_cmpuint (f.offers->len, >=, n + 3);
      assert_interval (offer_at (&f, n)->at - t0, 800, 30000);
      assert_interval (interval (&f, n + 1), 1600, 30000);
      assert_interval (interval (&f, n + 2), 3200, 30000);
      fixture_clear (&f);
    }
}

/* A failed ICE attempt (CONNECTING -> DISCONNECTED) is no disconnect
 * event; nor is a path that was never up. */
static void
test_controller_no_restart_without_disconnect (void)
{
  Fixture f;
  NbGuardConfig config;

  nb_guard_config_init (&config);
  config.max_interval_ms = 30000;
  config.ice_reprobe_interval_ms = 0;
  fixture_init (&f, TRUE, &config);
  nb_guard_start (f.guard);
  nb_guard_ice_state_changed (f.guard, NB_GUARD_PATH_CONNECTING);
  fake_advance (&f.clock, 200000);
  g_assert_cmpuint (f.offers->len, ==, 1);
  /* Right after a (silent) tick: the next one is 27-30 s away. */
  fake_advance_to_next (&f.clock);
  g_assert_cmpuint (f.offers->len, ==, 1);
  nb_guard_ice_state_changed (f.guard, NB_GUARD_PATH_DISCONNECTED);
  fake_advance (&f.clock, 2000);
  g_assert_cmpuint (f.offers->len, ==, 1); /* the capped tick is still ahead */
  fake_advance (&f.clock, 30000);
  g_assert_cmpuint (f.offers->len, ==, 2);
  fixture_clear (&f);
}

static void
test_noncontroller (void)
{
  Fixture f;

  fixture_init (&f, FALSE, NULL);
  g_assert_false (nb_guard_is_controller (f.guard));
  nb_guard_start (f.guard);
  fake_advance (&f.clock, 0);
  g_assert_cmpuint (f.offers->len, ==, 1);
  g_assert_cmpuint (offer_at (&f, 0)->reason, ==, NB_GUARD_REASON_START);

  /* No ticker: nothing more while disconnected. */
  fake_advance (&f.clock, 600000);
  g_assert_cmpuint (f.offers->len, ==, 1);
  g_assert_null (f.clock.timers);

  /* A failed attempt is no event. */
  nb_guard_ice_state_changed (f.guard, NB_GUARD_PATH_CONNECTING);
  nb_guard_ice_state_changed (f.guard, NB_GUARD_PATH_DISCONNECTED);
  fake_advance (&f.clock, 10000);
  g_assert_cmpuint (f.offers->len, ==, 1);

  /* ICE disconnect: one offer, at once (from a timer, not inside the call). */
  nb_guard_ice_state_changed (f.guard, NB_GUARD_PATH_CONNECTED);
  nb_guard_ice_state_changed (f.guard, NB_GUARD_PATH_DISCONNECTED);
  g_assert_cmpuint (f.offers->len, ==, 1);
  fake_advance (&f.clock, 0);
  g_assert_cmpuint (f.offers->len, ==, 2);
  g_assert_cmpuint (offer_at (&f, 1)->reason, ==, NB_GUARD_REASON_ICE_DISCONNECTED);
  g_assert_cmpint (offer_at (&f, 1)->at, ==, f.clock.now);

  /* Signal and relay reconnects together: one offer. */
  nb_guard_signal_reconnected (f.guard);
  nb_guard_relay_reconnected (f.guard);
  fake_advance (&f.clock, 0);
  g_assert_cmpuint (f.offers->len, ==, 3);
  g_assert_cmpuint (offer_at (&f, 2)->reason, ==, NB_GUARD_REASON_SIGNAL_RECONNECTED);

  nb_guard_relay_reconnected (f.guard);
  fake_advance (&f.clock, 1);
  g_assert_cmpuint (f.offers->len, ==, 4);
  g_assert_cmpuint (offer_at (&f, 3)->reason, ==, NB_GUARD_REASON_RELAY_RECONNECTED);

  nb_guard_network_changed (f.guard);
  fake_advance (&f.clock, 1);
  g_assert_cmpuint (f.offers->len, ==, 5);
  g_assert_cmpuint (offer_at (&f, 4)->reason, ==, NB_GUARD_REASON_NETWORK_CHANGED);

  /* Relay disconnect while ICE is up: one offer. */
  nb_guard_ice_state_changed (f.guard, NB_GUARD_PATH_CONNECTED);
  nb_guard_relay_state_changed (f.guard, NB_GUARD_PATH_CONNECTED);
  nb_guard_relay_state_changed (f.guard, NB_GUARD_PATH_DISCONNECTED);
  fake_advance (&f.clock, 100000);
  g_assert_cmpuint (f.offers->len, ==, 6);
  g_assert_cmpuint (offer_at (&f, 5)->reason, ==, NB_GUARD_REASON_RELAY_DISCONNECTED);
  fixture_clear (&f);
}

/* Controller, relayed from the start: the ramp, then an offer at least
 * every 20 s (+-10 %) for as long as it stays relayed. */
static void
test_reprobe_controller (void)
{
  Fixture f;
  guint n;

  fixture_init (&f, TRUE, NULL);
  nb_guard_start (f.guard);
  fake_advance (&f.clock, 0);
  nb_guard_relay_state_changed (f.guard, NB_GUARD_PATH_CONNECTED);
  g_assert_cmpuint (nb_guard_get_conn_status (f.guard), ==, NB_GUARD_CONN_PARTIAL);

  fake_advance (&f.clock, 30 * 60 * 1000); /* longer than NetBird's retry budget */
  g_assert_cmpuint (f.offers->len, >=, 1 + 5 + (30 * 60 - 25) / 22);
  for (guint i = 1; i < f.offers->len; i++)
    {
      g_assert_cmpuint (offer_at (&f, i)->reason, ==, NB_GUARD_REASON_ICE_REPROBE);
      g_assert_cmpint (interval (&f, i), <=, 22000);
    }
  /* The ramp is kept: 0.8, 1.6, 3.2, 6.4, 12.8 s, then ~20 s. */
  assert_interval (interval (&f, 1), 800, 30000);
  assert_interval (interval (&f, 5), 12800, 30000);
  g_assert_cmpint (interval (&f, f.offers->len - 1), >=, 18000);

  /* Back to P2P: quiet. */
  nb_guard_ice_state_changed (f.guard, NB_GUARD_PATH_CONNECTING);
  nb_guard_ice_state_changed (f.guard, NB_GUARD_PATH_CONNECTED);
  n = f.offers->len;
  fake_advance (&f.clock, 300000);
  g_assert_cmpuint (f.offers->len, ==, n);
  fixture_clear (&f);
}

/* Entering "relayed, ICE down" without an event pulls a far tick forward. */
static void
test_reprobe_pulls_tick_forward (void)
{
  Fixture f;
  gint64 t0;

  fixture_init (&f, TRUE, NULL);
  nb_guard_start (f.guard);
  nb_guard_relay_state_changed (f.guard, NB_GUARD_PATH_CONNECTED);
  nb_guard_ice_state_changed (f.guard, NB_GUARD_PATH_CONNECTING);
  fake_advance (&f.clock, 300000); /* ticker at its cap, attempt "in flight" */
  g_assert_cmpuint (f.offers->len, ==, 1);

  /* Right after a (silent) tick, so that the next one is 27-30 s away. */
  fake_advance_to_next (&f.clock);
  g_assert_cmpint (((FakeTimer *) f.clock.timers->data)->due - f.clock.now, >=, 27000);
  g_assert_cmpuint (f.offers->len, ==, 1);
  t0 = f.clock.now;
  nb_guard_ice_state_changed (f.guard, NB_GUARD_PATH_DISCONNECTED); /* attempt failed */
  fake_advance (&f.clock, 22000);
  g_assert_cmpuint (f.offers->len, ==, 2);
  g_assert_cmpuint (offer_at (&f, 1)->reason, ==, NB_GUARD_REASON_ICE_REPROBE);
  g_assert_cmpint (offer_at (&f, 1)->at - t0, <=, 22000);
  fixture_clear (&f);
}

static void
test_reprobe_noncontroller (void)
{
  Fixture f;
  guint n;

  fixture_init (&f, FALSE, NULL);
  nb_guard_start (f.guard);
  fake_advance (&f.clock, 0);
  nb_guard_relay_state_changed (f.guard, NB_GUARD_PATH_CONNECTED);
  fake_advance (&f.clock, 10 * 60 * 1000);
  g_assert_cmpuint (f.offers->len, >=, 1 + 600 / 22);
  for (guint i = 1; i < f.offers->len; i++)
    {
      g_assert_cmpuint (offer_at (&f, i)->reason, ==, NB_GUARD_REASON_ICE_REPROBE);
      g_assert_cmpint (interval (&f, i), >=, 18000);
      g_assert_cmpint (interval (&f, i), <=, 22000);
    }

  /* An attempt in flight: the re-probe is dropped, and comes back when the
   * attempt fails. */
  nb_guard_ice_state_changed (f.guard, NB_GUARD_PATH_CONNECTING);
  g_assert_null (f.clock.timers);
  n = f.offers->len;
  fake_advance (&f.clock, 60000);
  g_assert_cmpuint (f.offers->len, ==, n);
  nb_guard_ice_state_changed (f.guard, NB_GUARD_PATH_DISCONNECTED);
  fake_advance (&f.clock, 22000);
  g_assert_cmpuint (f.offers->len, ==, n + 1);

  /* P2P: quiet. */
  nb_guard_ice_state_changed (f.guard, NB_GUARD_PATH_CONNECTED);
  n = f.offers->len;
  fake_advance (&f.clock, 300000);
  g_assert_cmpuint (f.offers->len, ==, n);
  fixture_clear (&f);
}

/* Re-probing off: the controller keeps NetBird's (seed) behaviour, one
 * offer per tick while not connected on all ways; the non-controller only
 * reacts to events. */
static void
test_reprobe_disabled (void)
{
  NbGuardConfig config;
  Fixture f;

  nb_guard_config_init (&config);
  config.max_interval_ms = 30000;
  config.ice_reprobe_interval_ms = 0;

  fixture_init (&f, TRUE, &config);
  nb_guard_start (f.guard);
  nb_guard_relay_state_changed (f.guard, NB_GUARD_PATH_CONNECTED);
  fake_advance (&f.clock, 600000);
  for (guint i = 1; i < f.offers->len; i++)
    g_assert_cmpuint (offer_at (&f, i)->reason, ==, NB_GUARD_REASON_TICK);
  assert_interval (interval (&f, f.offers->len - 1), 30000, 30000);
  fixture_clear (&f);

  fixture_init (&f, FALSE, &config);
  nb_guard_start (f.guard);
  nb_guard_relay_state_changed (f.guard, NB_GUARD_PATH_CONNECTED);
  fake_advance (&f.clock, 600000);
  g_assert_cmpuint (f.offers->len, ==, 1);
  fixture_clear (&f);
}

static void
test_start_jitter (void)
{
  g_autoptr (GHashTable) seen = g_hash_table_new (NULL, NULL);
  NbGuardConfig config;

  nb_guard_config_init (&config);
  config.max_interval_ms = 30000;
  config.start_jitter_ms = 300;
  for (int n = 0; n < 40; n++)
    {
      Fixture f;
      gint64 t0;

      fixture_init (&f, n % 2 == 0, &config);
      t0 = f.clock.now;
      nb_guard_start (f.guard);
      fake_advance (&f.clock, 300);
      g_assert_cmpuint (f.offers->len, >=, 1);
      g_assert_cmpuint (offer_at (&f, 0)->reason, ==, NB_GUARD_REASON_START);
      g_assert_cmpint (offer_at (&f, 0)->at - t0, <=, 300);
      g_hash_table_add (seen, GINT_TO_POINTER ((int) (offer_at (&f, 0)->at - t0)));
      fixture_clear (&f);
    }
  g_assert_cmpuint (g_hash_table_size (seen), >, 5);
}

static void
stop_on_offer (NbGuard *guard, guint reason, gpointer user_data)
{
  nb_guard_stop (guard);
}

static void
test_stop (void)
{
  Fixture f;

  fixture_init (&f, TRUE, NULL);
  nb_guard_start (f.guard);
  fake_advance (&f.clock, 5000);
  g_assert_cmpuint (f.offers->len, >, 1);
  nb_guard_stop (f.guard);
  g_assert_false (nb_guard_is_started (f.guard));
  g_assert_null (f.clock.timers);
  g_array_set_size (f.offers, 0);
  nb_guard_signal_reconnected (f.guard);
  nb_guard_ice_state_changed (f.guard, NB_GUARD_PATH_CONNECTED);
  nb_guard_ice_state_changed (f.guard, NB_GUARD_PATH_DISCONNECTED);
  fake_advance (&f.clock, 100000);
  g_assert_cmpuint (f.offers->len, ==, 0);

  /* Restart: first offer at once again. */
  nb_guard_start (f.guard);
  fake_advance (&f.clock, 0);
  g_assert_cmpuint (f.offers->len, ==, 1);

  /* Stopping from the handler. */
  nb_guard_stop (f.guard);
  g_signal_connect (f.guard, "send-offer", G_CALLBACK (stop_on_offer), NULL);
  nb_guard_start (f.guard);
  fake_advance (&f.clock, 100000);
  g_assert_cmpuint (f.offers->len, ==, 2);
  g_assert_null (f.clock.timers);
  fixture_clear (&f);
}

/* The default clock: real GSources on the thread-default context, with a
 * compressed time scale. */
typedef struct {
  GMainLoop *loop;
  GArray *times;                /* gint64 µs */
  GArray *reasons;              /* guint */
} RealFixture;

static void
real_on_send_offer (NbGuard *guard, guint reason, gpointer user_data)
{
  RealFixture *f = user_data;
  gint64 now = g_get_monotonic_time ();

  g_array_append_val (f->times, now);
  g_array_append_val (f->reasons, reason);
}

static gboolean
quit_cb (gpointer data)
{
  g_main_loop_quit (data);
  return G_SOURCE_REMOVE;
}

static void
test_real_main_loop (void)
{
  g_autoptr (GMainContext) context = g_main_context_new ();
  NbGuardConfig config;
  RealFixture f;
  g_autoptr (NbGuard) guard = NULL;
  g_autoptr (GSource) timeout = NULL;
  gint64 t0;

  g_main_context_push_thread_default (context);
  f.loop = g_main_loop_new (context, FALSE);
  f.times = g_array_new (FALSE, FALSE, sizeof (gint64));
  f.reasons = g_array_new (FALSE, FALSE, sizeof (guint));

  nb_guard_config_init (&config);
  config.initial_interval_ms = 10;
  config.max_interval_ms = 40;
  guard = nb_guard_new (TRUE, &config);
  g_signal_connect (guard, "send-offer", G_CALLBACK (real_on_send_offer), &f);

  t0 = g_get_monotonic_time ();
  nb_guard_start (guard);
  timeout = g_timeout_source_new (300);
  g_source_set_callback (timeout, quit_cb, f.loop, NULL);
  g_source_attach (timeout, context);
  g_main_loop_run (f.loop);

  /* start at ~0, then +10, +20, +40, +40 ... (ms, +-10 %) */
  g_assert_cmpuint (f.times->len, >=, 4);
  g_assert_cmpuint (g_array_index (f.reasons, guint, 0), ==, NB_GUARD_REASON_START);
  g_assert_cmpint (g_array_index (f.times, gint64, 0) - t0, <, 100000);
  /* Each timer is due no earlier than the previous due time plus its
   * delay (a single interval may look short: GLib counts from the
   * iteration's time), so the offers lag the sum of the lower bounds. */
  {
    gint64 min_total = 0;

    for (guint i = 1; i < f.times->len; i++)
      {
        guint base = MIN (10u << MIN (i - 1, 8u), 40u);

        min_total += (gint64) (base * 0.9) * 1000;
        g_assert_cmpuint (g_array_index (f.reasons, guint, i), ==, NB_GUARD_REASON_TICK);
        g_assert_cmpint (g_array_index (f.times, gint64, i) - t0, >=, min_total);
      }
  }

  nb_guard_stop (guard);
  g_clear_object (&guard);
  g_main_loop_unref (f.loop);
  g_array_unref (f.times);
  g_array_unref (f.reasons);
  g_main_context_pop_thread_default (context);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/guard/controller/first-offer-immediate", test_controller_first_offer_immediate);
  g_test_add_func ("/guard/controller/exponential", test_controller_exponential);
  g_test_add_func ("/guard/controller/jitter-varies", test_controller_jitter_varies);
  g_test_add_func ("/guard/controller/default-cap-range", test_default_cap_range);
  g_test_add_func ("/guard/conn-status", test_conn_status);
  g_test_add_func ("/guard/controller/connected-quiet", test_controller_connected_quiet);
  g_test_add_func ("/guard/controller/restart-on-events", test_controller_restart);
  g_test_add_func ("/guard/controller/no-restart-without-disconnect", test_controller_no_restart_without_disconnect);
  g_test_add_func ("/guard/non-controller", test_noncontroller);
  g_test_add_func ("/guard/reprobe/controller", test_reprobe_controller);
  g_test_add_func ("/guard/reprobe/pulls-tick-forward", test_reprobe_pulls_tick_forward);
  g_test_add_func ("/guard/reprobe/non-controller", test_reprobe_noncontroller);
  g_test_add_func ("/guard/reprobe/disabled", test_reprobe_disabled);
  g_test_add_func ("/guard/start-jitter", test_start_jitter);
  g_test_add_func ("/guard/stop", test_stop);
  g_test_add_func ("/guard/real-main-loop", test_real_main_loop);

  return g_test_run ();
}
