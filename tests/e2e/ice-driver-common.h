/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

/* ice-driver's command line: "broker ADDR PORT" or "peer --name N
 * --control ADDR:PORT [options]" (see ice-driver.c); returns the exit
 * code. Runs once per process (its state is global). */
int ice_driver_run (int argc, char **argv);

/* Wall-clock milliseconds, the t= of every printed event. */
gint64 now_ms (void);
/* Prints one event line on stdout and flushes it. */
void out (const char *fmt, ...) G_GNUC_PRINTF (1, 2);
