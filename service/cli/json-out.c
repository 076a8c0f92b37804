/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * JSON lines on stdout for the command-line tools. A tiny writer rather
 * than a JSON library: the objects are flat and the tools are test
 * drivers, so a dependency would buy nothing.
 */
#include "config.h"

#include "json-out.h"

#include <stdio.h>

static gint64 start_us;

void
json_out_init (void)
{
  start_us = g_get_monotonic_time ();
}

gint64
json_out_elapsed_ms (void)
{
  return (g_get_monotonic_time () - start_us) / 1000;
}

void
json_string (GString *s, const char *text)
{
  g_autofree char *valid = NULL;

  if (text == NULL)
    {
      g_string_append (s, "null");
      return;
    }
  valid = g_utf8_make_valid (text, -1);
  g_string_append_c (s, '"');
  for (const char *p = valid; *p; p++)
    {
      guchar c = (guchar) *p;

      if (c == '"' || c == '\\')
        g_string_append_printf (s, "\\%c", c);
      else if (c == '\n')
        g_string_append (s, "\\n");
      else if (c == '\t')
        g_string_append (s, "\\t");
      else if (c < 0x20 || c == 0x7f)
        g_string_append_printf (s, "\\u%04x", c);
      else
        g_string_append_c (s, (char) c);
    }
  g_string_append_c (s, '"');
}

GString *
ev_begin (const char *event)
{
  GString *s = g_string_new ("{\"event\":");

  json_string (s, event);
  g_string_append_printf (s, ",\"t_ms\":%" G_GINT64_FORMAT, json_out_elapsed_ms ());
  return s;
}

void
ev_str (GString *s, const char *key, const char *value)
{
  g_string_append_printf (s, ",\"%s\":", key);
  json_string (s, value);
}

void
ev_int (GString *s, const char *key, gint64 value)
{
  g_string_append_printf (s, ",\"%s\":%" G_GINT64_FORMAT, key, value);
}

void
ev_bool (GString *s, const char *key, gboolean value)
{
  g_string_append_printf (s, ",\"%s\":%s", key, value ? "true" : "false");
}

void
ev_double (GString *s, const char *key, double value)
{
  char buf[G_ASCII_DTOSTR_BUF_SIZE];

  g_string_append_printf (s, ",\"%s\":%s", key, g_ascii_formatd (buf, sizeof buf, "%.3f", value));
}

void
ev_strv (GString *s, const char *key, const char *const *values, guint n)
{
  g_string_append_printf (s, ",\"%s\":[", key);
  for (guint i = 0; i < n; i++)
    {
      if (i)
        g_string_append_c (s, ',');
      json_string (s, values[i]);
    }
  g_string_append_c (s, ']');
}

void
ev_end (GString *s)
{
  g_string_append_c (s, '}');
  fputs (s->str, stdout);
  fputc ('\n', stdout);
  fflush (stdout);
  g_string_free (s, TRUE);
}
