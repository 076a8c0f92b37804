/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The JSON lines the command-line tools print on stdout: one flat object
 * per event, {"event": NAME, "t_ms": ms since json_out_init(), ...},
 * flushed line by line so that a test reading the pipe sees each event as
 * it happens. Shared so that every tool escapes and times its lines the
 * same way.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Starts the t_ms clock (call first thing in main). */
void     json_out_init (void);
/* Milliseconds since json_out_init() (monotonic). */
gint64   json_out_elapsed_ms (void);

/* @text as a JSON string (made valid UTF-8; NULL -> null). */
void     json_string (GString *s, const char *text);

/* A line: ev_begin(), fields, ev_end() (prints, flushes, frees @s). */
GString *ev_begin (const char *event);
void     ev_str (GString *s, const char *key, const char *value);
void     ev_int (GString *s, const char *key, gint64 value);
void     ev_bool (GString *s, const char *key, gboolean value);
void     ev_double (GString *s, const char *key, double value);
void     ev_strv (GString *s, const char *key, const char *const *values, guint n);
void     ev_end (GString *s);

G_END_DECLS
