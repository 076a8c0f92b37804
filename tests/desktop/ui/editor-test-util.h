/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the GTK4 and GTK3 editor tests share and what does not depend on the
 * toolkit: the editor module opened the way a host opens it (through its
 * factory symbol), a fresh NetBird connection to edit, and waiting on the
 * main loop for a flag with a bound. Finding and filling widgets differs
 * between GTK3 and GTK4, so each test keeps its own.
 */
#pragma once

#include <NetworkManager.h>

#include "nm-netbird-editor.h"

/* Opens the editor module at $env_var, or default_path when it is unset,
 * and returns its factory; aborts the test program when either fails. */
NMNetbirdEditorFactory editor_test_load_factory (const char *env_var,
                                                 const char *default_path);

/* A connection with a connection setting and an empty NetBird vpn setting. */
NMConnection *editor_test_new_connection (void);

/* Iterates the default main context until *flag is set; fails the test if
 * that takes longer than timeout_seconds. */
void editor_test_wait_for (gboolean *flag, guint timeout_seconds);
