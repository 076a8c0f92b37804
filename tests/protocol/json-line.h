/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

/* The value of "key" in @line: strings unescaped, other values as text
 * (arrays too, unparsed). NULL when absent. */
char *json_get (const char *line, const char *key);

/* The integer value of "key"; aborts the test when it is absent. */
gint64 json_int (const char *line, const char *key);

/* The value of " key=" in a `ready key=value ...` line (netbird-devnet's
 * first line); NULL when absent. */
char *ready_field (const char *line, const char *key);
