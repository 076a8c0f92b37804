/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Running the default main context for a fixed time after a stop, so the
 * idle callbacks and last writes that a stop schedules (relay CLOSE,
 * GOAWAY, stream resets, final closes) happen before a program exits. The
 * command-line programs (nb-engine, nb-control-peer, netbird-devnet) all
 * end this way; it lives here because libnetbird is what they all link.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Iterates the default main context, blocking, until @ms milliseconds
 * have passed. Sources due in that time run; nothing is cut short. */
void nb_main_context_drain (guint ms);

G_END_DECLS
