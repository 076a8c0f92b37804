/* SPDX-License-Identifier: GPL-2.0-or-later */
/* One way for the protocol tests to run the independent implementations
 * (grpc-js, tweetnacl) and our own programs as children: lines are read
 * as they come, waits iterate the main loop with a bound, and a child
 * never outlives the test (a failed assertion must not leave a server
 * holding the test's stderr open). */
#include "config.h"

#include "node-fixture.h"
#include "loop-util.h"

#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>

static void
die_with_parent (gpointer data)
{
  prctl (PR_SET_PDEATHSIG, SIGKILL);
}

static void line_proc_read_next (LineProc *p);

static void
line_cb (GObject *source, GAsyncResult *result, gpointer data)
{
  LineProc *p = data;
  char *line = g_data_input_stream_read_line_finish_utf8 (G_DATA_INPUT_STREAM (source), result, NULL, NULL);

  p->reading = FALSE;
  if (line == NULL)
    {
      p->eof = TRUE; /* EOF, killed or cancelled */
      return;
    }
  if (p->echo)
    g_printerr ("[%s] %s\n", p->name, line);
  else
    g_debug ("[%s] %s", p->name, line);
  g_ptr_array_add (p->lines, line);
  line_proc_read_next (p);
}

static void
line_proc_read_next (LineProc *p)
{
  p->reading = TRUE;
  g_data_input_stream_read_line_async (p->out, G_PRIORITY_DEFAULT, p->cancellable, line_cb, p);
}

static void
wait_cb (GObject *source, GAsyncResult *result, gpointer data)
{
  LineProc *p = data;

  p->waiting = FALSE;
  if (g_subprocess_wait_finish (G_SUBPROCESS (source), result, NULL))
    p->exited = TRUE;
}

LineProc *
line_proc_spawn (const char *name, gboolean with_stdin, const char *const *argv)
{
  g_autoptr (GSubprocessLauncher) launcher = NULL;
  g_autoptr (GError) error = NULL;
  LineProc *p = g_new0 (LineProc, 1);

  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE
                                        | (with_stdin ? G_SUBPROCESS_FLAGS_STDIN_PIPE : G_SUBPROCESS_FLAGS_NONE));
  g_subprocess_launcher_set_child_setup (launcher, die_with_parent, NULL, NULL);
  p->name = g_strdup (name);
  p->proc = g_subprocess_launcher_spawnv (launcher, argv, &error);
  g_assert_no_error (error);
  p->out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (p->proc));
  if (with_stdin)
    p->in = g_object_ref (g_subprocess_get_stdin_pipe (p->proc));
  p->cancellable = g_cancellable_new ();
  p->lines = g_ptr_array_new_with_free_func (g_free);
  line_proc_read_next (p);
  p->waiting = TRUE;
  g_subprocess_wait_async (p->proc, p->cancellable, wait_cb, p);
  return p;
}

void
line_proc_write (LineProc *p, const char *line)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *text = g_strconcat (line, "\n", NULL);

  g_assert_true (g_output_stream_write_all (p->in, text, strlen (text), NULL, NULL, &error));
  g_assert_no_error (error);
}

typedef struct {
  LineProc *p;
  LineMatch match;
  gpointer data;
  guint index; /* of the match, when found */
} Take;

static gboolean
take_found (gpointer data)
{
  Take *t = data;

  for (guint i = 0; i < t->p->lines->len; i++)
    if (t->match == NULL || t->match (t->p->lines->pdata[i], t->data))
      {
        t->index = i;
        return TRUE;
      }
  return FALSE;
}

static gboolean
take_found_or_eof (gpointer data)
{
  Take *t = data;

  return take_found (t) || t->p->eof;
}

char *
line_proc_take (LineProc *p, LineMatch match, gpointer data, guint timeout_ms)
{
  Take t = { p, match, data, 0 };

  run_until_cond (take_found_or_eof, &t, timeout_ms);
  if (!take_found (&t))
    return NULL;
  return g_ptr_array_steal_index (p->lines, t.index);
}

gboolean
line_proc_done (gpointer data)
{
  LineProc *p = data;

  return p->exited && p->eof;
}

void
line_proc_kill (LineProc *p)
{
  g_subprocess_send_signal (p->proc, SIGCONT);
  g_subprocess_force_exit (p->proc);
  /* Until the exit is seen; its stdout may stay open in a grandchild, so
   * EOF is not waited for (line_proc_free() cancels the read). */
  while (p->waiting)
    g_main_context_iteration (NULL, TRUE);
}

void
line_proc_free (LineProc *p, guint timeout_ms)
{
  if (p == NULL)
    return;
  if (p->in)
    g_output_stream_close (p->in, NULL, NULL);
  if (!run_until_cond (line_proc_done, p, timeout_ms))
    line_proc_kill (p);
  g_cancellable_cancel (p->cancellable);
  while (p->reading || p->waiting)
    g_main_context_iteration (NULL, TRUE);
  g_clear_object (&p->in);
  g_object_unref (p->out);
  g_object_unref (p->proc);
  g_object_unref (p->cancellable);
  g_ptr_array_unref (p->lines);
  g_free (p->name);
  g_free (p);
}

gboolean
node_find (const char *module, char **dir, char **bin, char **why)
{
  const char *srcdir = g_getenv ("G_TEST_SRCDIR");
  const char *root = g_getenv ("NB_SOURCE_ROOT");
  g_autofree char *cwd = g_get_current_dir ();
  g_autofree char *modules = NULL;

  if (srcdir)
    *dir = g_build_filename (srcdir, "protocol", "node", NULL);
  else if (root)
    *dir = g_build_filename (root, "tests", "protocol", "node", NULL);
  else
    *dir = g_build_filename (cwd, "tests", "protocol", "node", NULL);
  *bin = g_strdup (g_getenv ("NODE"));
  if (*bin == NULL)
    *bin = g_find_program_in_path ("node");
  if (*bin == NULL)
    {
      *why = g_strdup ("node is not installed");
      return FALSE;
    }
  modules = g_build_filename (*dir, "node_modules", module, NULL);
  if (!g_file_test (modules, G_FILE_TEST_IS_DIR))
    {
      *why = g_strdup_printf ("%s is missing; run tools/install-npm.sh", modules);
      return FALSE;
    }
  return TRUE;
}

void
rm_rf (const char *path)
{
  g_autoptr (GDir) dir = g_dir_open (path, 0, NULL);
  const char *name;

  if (dir == NULL)
    {
      g_remove (path);
      return;
    }
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *child = g_build_filename (path, name, NULL);

      if (g_file_test (child, G_FILE_TEST_IS_DIR) && !g_file_test (child, G_FILE_TEST_IS_SYMLINK))
        rm_rf (child);
      else
        g_remove (child);
    }
  g_rmdir (path);
}
