/* SPDX-License-Identifier: GPL-2.0-or-later */
#define G_LOG_DOMAIN "nb-backoff"

#include "config.h"

#include "backoff.h"

#include <sodium.h>

#include "nb-sodium.h"

struct _NbBackoff {
  guint initial_ms;
  guint max_ms;
  double multiplier;
  double jitter;
  guint interval_ms;
  guint attempts;
};

NbBackoff *
nb_backoff_new (guint initial_ms, guint max_ms)
{
  NbBackoff *backoff;

  g_return_val_if_fail (initial_ms > 0, NULL);
  g_return_val_if_fail (max_ms >= initial_ms, NULL);

  nb_sodium_init ();

  backoff = g_new0 (NbBackoff, 1);
  backoff->initial_ms = initial_ms;
  backoff->max_ms = max_ms;
  backoff->multiplier = NB_BACKOFF_DEFAULT_MULTIPLIER;
  backoff->jitter = NB_BACKOFF_DEFAULT_JITTER;
  backoff->interval_ms = initial_ms;
  return backoff;
}

NbBackoff *
nb_backoff_new_default (void)
{
  return nb_backoff_new (NB_BACKOFF_DEFAULT_INITIAL_MS, NB_BACKOFF_DEFAULT_MAX_MS);
}

void
nb_backoff_free (NbBackoff *backoff)
{
  g_free (backoff);
}

void
nb_backoff_set_multiplier (NbBackoff *backoff, double multiplier)
{
  g_return_if_fail (backoff != NULL);
  g_return_if_fail (multiplier >= 1.0);
  backoff->multiplier = multiplier;
}

void
nb_backoff_set_jitter (NbBackoff *backoff, double jitter)
{
  g_return_if_fail (backoff != NULL);
  g_return_if_fail (jitter >= 0.0 && jitter <= 1.0);
  backoff->jitter = jitter;
}

guint
nb_backoff_next (NbBackoff *backoff)
{
  double interval, grown, up;
  guint64 lo, hi;
  guint delay;

  g_return_val_if_fail (backoff != NULL, 0);

  interval = backoff->interval_ms;
  lo = (guint64) (interval * (1.0 - backoff->jitter)); /* floor: positive */
  up = interval * (1.0 + backoff->jitter);
  hi = (guint64) up;
  if ((double) hi < up)
    hi++; /* ceil */
  hi = MIN (hi, (guint64) backoff->max_ms);
  lo = MIN (lo, hi);
  if (hi > lo)
    delay = (guint) lo + randombytes_uniform ((uint32_t) (hi - lo) + 1);
  else
    delay = (guint) hi;

  grown = interval * backoff->multiplier;
  backoff->interval_ms = grown >= backoff->max_ms ? backoff->max_ms : (guint) grown;
  if (backoff->attempts < G_MAXUINT)
    backoff->attempts++;
  return delay;
}

void
nb_backoff_reset (NbBackoff *backoff)
{
  g_return_if_fail (backoff != NULL);
  backoff->interval_ms = backoff->initial_ms;
  backoff->attempts = 0;
}

guint
nb_backoff_get_interval (NbBackoff *backoff)
{
  g_return_val_if_fail (backoff != NULL, 0);
  return backoff->interval_ms;
}

guint
nb_backoff_get_attempts (NbBackoff *backoff)
{
  g_return_val_if_fail (backoff != NULL, 0);
  return backoff->attempts;
}
