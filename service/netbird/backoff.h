/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Capped exponential backoff with jitter, for reconnect loops.
 *
 * Each nb_backoff_next() returns the current interval randomized by
 * ±jitter (uniformly, from libsodium), never above the cap, then grows the
 * interval by the multiplier up to the cap. Defaults follow NetBird's
 * reconnect backoff (initial 800 ms, ×1.7, max 10 s); NetBird randomizes by
 * ±100 %, which allows a zero delay, so the default jitter here is ±50 %.
 * Callers schedule the delay themselves, e.g. g_timeout_add (ms, …).
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define NB_BACKOFF_DEFAULT_INITIAL_MS 800
#define NB_BACKOFF_DEFAULT_MAX_MS     10000
#define NB_BACKOFF_DEFAULT_MULTIPLIER 1.7
#define NB_BACKOFF_DEFAULT_JITTER     0.5

typedef struct _NbBackoff NbBackoff;

/* @initial_ms > 0, @max_ms >= @initial_ms. */
NbBackoff *nb_backoff_new (guint initial_ms, guint max_ms);
/* NB_BACKOFF_DEFAULT_INITIAL_MS .. NB_BACKOFF_DEFAULT_MAX_MS. */
NbBackoff *nb_backoff_new_default (void);
void nb_backoff_free (NbBackoff *backoff);

/* @multiplier >= 1.0 (1.0 gives a constant interval). */
void nb_backoff_set_multiplier (NbBackoff *backoff, double multiplier);
/* @jitter in 0.0 .. 1.0: the delay is uniform in interval × [1 - jitter, 1 + jitter]. */
void nb_backoff_set_jitter (NbBackoff *backoff, double jitter);

/* The delay before the next attempt, in milliseconds; advances the backoff. */
guint nb_backoff_next (NbBackoff *backoff);
/* Back to the initial interval (call after a successful connection). */
void nb_backoff_reset (NbBackoff *backoff);

/* The un-randomized interval the next call will be based on. */
guint nb_backoff_get_interval (NbBackoff *backoff);
/* Calls to nb_backoff_next() since creation or the last reset. */
guint nb_backoff_get_attempts (NbBackoff *backoff);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (NbBackoff, nb_backoff_free)

G_END_DECLS
