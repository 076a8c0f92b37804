/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <gio/gio.h>

/* Child processes that talk in lines on stdout (the node helpers in
 * tests/protocol/node, netbird-devnet, nb-control-peer), read in the
 * background from the default main context. */

typedef struct {
  char *name;
  GSubprocess *proc;
  GDataInputStream *out;
  GOutputStream *in;         /* NULL without a stdin pipe */
  GCancellable *cancellable; /* of the line reader and the exit watch */
  GPtrArray *lines;          /* char *: read and not taken yet, in order */
  guint cursor;              /* the owner's: e.g. replies consumed so far */
  gboolean echo;             /* each line to stderr (else g_debug) */
  gboolean reading;
  gboolean waiting;
  gboolean eof;
  gboolean exited;
} LineProc;

/* Spawns @argv (stdout piped, stdin too with @with_stdin); the child dies
 * with the test. Asserts success. */
LineProc *line_proc_spawn (const char *name, gboolean with_stdin, const char *const *argv);
/* Writes @line and a newline to its stdin (asserted). */
void line_proc_write (LineProc *p, const char *line);

typedef gboolean (*LineMatch) (const char *line, gpointer data);
/* Removes and returns the first line that @match accepts (any line with
 * NULL), waiting up to @timeout_ms for it; NULL after that or at EOF. */
char *line_proc_take (LineProc *p, LineMatch match, gpointer data, guint timeout_ms);
/* A CondFunc: the process has exited and its stdout is at EOF. */
gboolean line_proc_done (gpointer p);
/* SIGCONT (it may be stopped) and SIGKILL; waits until it has exited. */
void line_proc_kill (LineProc *p);
/* Closes stdin (the helpers exit then) and waits up to @timeout_ms for
 * the exit, then kills; frees @p. NULL is ignored. */
void line_proc_free (LineProc *p, guint timeout_ms);

/* Finds the node helpers: the directory tests/protocol/node (from
 * $G_TEST_SRCDIR, else $NB_SOURCE_ROOT, else the working directory) and
 * node ($NODE, else on PATH). FALSE, with *@why, when node or
 * node_modules/@module is missing; *@dir and *@bin are set either way. */
gboolean node_find (const char *module, char **dir, char **bin, char **why);

/* Removes @path and everything below it (symbolic links are not followed). */
void rm_rf (const char *path);
