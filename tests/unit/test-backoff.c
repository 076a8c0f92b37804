/* SPDX-License-Identifier: GPL-2.0-or-later
 * Tests service/netbird/backoff.c. */
#include "config.h"

#include "backoff.h"

static void
test_defaults (void)
{
  g_autoptr (NbBackoff) b = nb_backoff_new_default ();

  g_assert_cmpuint (nb_backoff_get_interval (b), ==, 800);
  g_assert_cmpuint (nb_backoff_get_attempts (b), ==, 0);
  for (int i = 0; i < 1000; i++)
    {
      guint d = nb_backoff_next (b);
      g_assert_cmpuint (d, <=, NB_BACKOFF_DEFAULT_MAX_MS);
    }
  /* Long since capped. */
  g_assert_cmpuint (nb_backoff_get_interval (b), ==, NB_BACKOFF_DEFAULT_MAX_MS);
  g_assert_cmpuint (nb_backoff_get_attempts (b), ==, 1000);
}

static void
test_growth_without_jitter (void)
{
  g_autoptr (NbBackoff) b = nb_backoff_new (800, 10000);
  static const guint expected[] = { 800, 1360, 2312, 3930, 6681, 10000, 10000, 10000 };

  nb_backoff_set_jitter (b, 0.0);
  for (guint i = 0; i < G_N_ELEMENTS (expected); i++)
    {
      guint d = nb_backoff_next (b);

      /* ×1.7 truncated to whole milliseconds at each step. */
      g_assert_cmpuint (d, >=, expected[i] - 1);
      g_assert_cmpuint (d, <=, expected[i] + 1);
    }

  nb_backoff_set_multiplier (b, 2.0);
  nb_backoff_reset (b);
  g_assert_cmpuint (nb_backoff_next (b), ==, 800);
  g_assert_cmpuint (nb_backoff_next (b), ==, 1600);
  g_assert_cmpuint (nb_backoff_next (b), ==, 3200);
  g_assert_cmpuint (nb_backoff_next (b), ==, 6400);
  g_assert_cmpuint (nb_backoff_next (b), ==, 10000);
  g_assert_cmpuint (nb_backoff_next (b), ==, 10000);
}

static void
test_constant_multiplier (void)
{
  g_autoptr (NbBackoff) b = nb_backoff_new (250, 1000);

  nb_backoff_set_multiplier (b, 1.0);
  nb_backoff_set_jitter (b, 0.0);
  for (int i = 0; i < 10; i++)
    g_assert_cmpuint (nb_backoff_next (b), ==, 250);
}

/* Each delay within interval × [1 - j, 1 + j], capped; and actually random. */
static void
test_jitter_bounds (void)
{
  g_autoptr (NbBackoff) b = nb_backoff_new (1000, 100000);
  g_autoptr (GHashTable) seen = g_hash_table_new (NULL, NULL);
  guint lo = G_MAXUINT, hi = 0;

  nb_backoff_set_multiplier (b, 1.0);
  nb_backoff_set_jitter (b, 0.5);
  for (int i = 0; i < 2000; i++)
    {
      guint d = nb_backoff_next (b);

      g_assert_cmpuint (d, >=, 500);
      g_assert_cmpuint (d, <=, 1500);
      lo = MIN (lo, d);
      hi = MAX (hi, d);
      g_hash_table_add (seen, GUINT_TO_POINTER (d));
    }
  /* 2000 uniform draws over 1001 values: the spread covers most of the range. */
  g_assert_cmpuint (g_hash_table_size (seen), >, 500);
  g_assert_cmpuint (lo, <, 600);
  g_assert_cmpuint (hi, >, 1400);
}

static void
test_jitter_respects_cap (void)
{
  g_autoptr (NbBackoff) b = nb_backoff_new (800, 10000);
  guint highest = 0;

  nb_backoff_set_jitter (b, 1.0);
  for (int i = 0; i < 500; i++)
    {
      guint interval = nb_backoff_get_interval (b);
      guint d = nb_backoff_next (b);

      g_assert_cmpuint (d, <=, 10000);
      g_assert_cmpuint (d, <=, 2 * interval);
      highest = MAX (highest, d);
    }
  /* Draws over [0, 10 s] once capped: the range up to the cap is used. */
  g_assert_cmpuint (highest, >, 9000);
}

static void
test_reset (void)
{
  g_autoptr (NbBackoff) b = nb_backoff_new (800, 10000);

  for (int i = 0; i < 20; i++)
    nb_backoff_next (b);
  g_assert_cmpuint (nb_backoff_get_interval (b), ==, 10000);
  g_assert_cmpuint (nb_backoff_get_attempts (b), ==, 20);

  nb_backoff_reset (b);
  g_assert_cmpuint (nb_backoff_get_interval (b), ==, 800);
  g_assert_cmpuint (nb_backoff_get_attempts (b), ==, 0);
  for (int i = 0; i < 100; i++)
    {
      g_autoptr (NbBackoff) fresh = nb_backoff_new (800, 10000);
      guint d = nb_backoff_next (fresh);

      g_assert_cmpuint (d, >=, 400);
      g_assert_cmpuint (d, <=, 1200);
    }
  {
    guint d = nb_backoff_next (b);
    g_assert_cmpuint (d, >=, 400);
    g_assert_cmpuint (d, <=, 1200);
  }
}

static void
test_initial_equals_max (void)
{
  g_autoptr (NbBackoff) b = nb_backoff_new (5, 5);

  for (int i = 0; i < 100; i++)
    {
      guint d = nb_backoff_next (b);
      g_assert_cmpuint (d, >=, 2);
      g_assert_cmpuint (d, <=, 5);
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/backoff/defaults", test_defaults);
  g_test_add_func ("/backoff/growth-without-jitter", test_growth_without_jitter);
  g_test_add_func ("/backoff/constant-multiplier", test_constant_multiplier);
  g_test_add_func ("/backoff/jitter-bounds", test_jitter_bounds);
  g_test_add_func ("/backoff/jitter-respects-cap", test_jitter_respects_cap);
  g_test_add_func ("/backoff/reset", test_reset);
  g_test_add_func ("/backoff/initial-equals-max", test_initial_equals_max);

  return g_test_run ();
}
