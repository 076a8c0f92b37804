/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The waits every protocol test needs, in one place so that they all wait
 * the same way: the default main context is iterated until a condition
 * holds, bounded by a timeout source, never by sleeping. */
#include "config.h"

#include "loop-util.h"

gboolean
flag_set_cb (gpointer data)
{
  *(gboolean *) data = TRUE;
  return G_SOURCE_REMOVE;
}

gboolean
run_until_cond (CondFunc cond, gpointer data, guint timeout_ms)
{
  gboolean timed_out = FALSE;
  GSource *timer = g_timeout_source_new (timeout_ms);

  g_source_set_callback (timer, flag_set_cb, &timed_out, NULL);
  g_source_attach (timer, NULL);
  while (!cond (data) && !timed_out)
    g_main_context_iteration (NULL, TRUE);
  g_source_destroy (timer);
  g_source_unref (timer);
  return cond (data);
}

static gboolean
flag_cond (gpointer data)
{
  return *(const gboolean *) data;
}

gboolean
run_until (const gboolean *flag, guint timeout_ms)
{
  return run_until_cond (flag_cond, (gpointer) flag, timeout_ms);
}

typedef struct {
  const guint *counter;
  guint target;
} CountCond;

static gboolean
count_cond (gpointer data)
{
  CountCond *c = data;

  return *c->counter >= c->target;
}

gboolean
run_until_at_least (const guint *counter, guint target, guint timeout_ms)
{
  CountCond c = { counter, target };

  return run_until_cond (count_cond, &c, timeout_ms);
}

static gboolean
never_cond (gpointer data)
{
  return FALSE;
}

void
run_for (guint ms)
{
  run_until_cond (never_cond, NULL, ms);
}

void
drain_context (void)
{
  run_for (20);
  while (g_main_context_iteration (NULL, FALSE))
    ;
}
