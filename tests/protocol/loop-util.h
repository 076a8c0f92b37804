/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

/* Main loop helpers for the protocol tests (no sleeps: timeouts are
 * sources). Everything iterates the default main context. */

typedef gboolean (*CondFunc) (gpointer data);

/* A GSourceFunc that sets the gboolean at @data and removes itself. */
gboolean flag_set_cb (gpointer data);
/* Iterates until @cond (@data) holds or @timeout_ms; returns @cond (@data). */
gboolean run_until_cond (CondFunc cond, gpointer data, guint timeout_ms);
/* Iterates until *@flag or @timeout_ms; returns *@flag. */
gboolean run_until (const gboolean *flag, guint timeout_ms);
/* Iterates until *@counter >= @target or @timeout_ms; returns whether it is. */
gboolean run_until_at_least (const guint *counter, guint target, guint timeout_ms);
void run_for (guint ms);
/* Lets cancelled async operations and idles finish (for leak checkers). */
void drain_context (void);

/* Waits until @counter >= @target, at most WAIT_MS (which the including
 * test defines); aborts the test otherwise. */
#define WAIT_COUNT(counter, target)                                              \
  G_STMT_START {                                                                 \
    if (!run_until_at_least (&(counter), (target), WAIT_MS))                     \
      g_error ("timed out waiting for %s >= %u (is %u)", #counter, (guint) (target), \
               (guint) (counter));                                               \
  } G_STMT_END
