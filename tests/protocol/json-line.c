/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Reading the flat JSON lines that the test programs and node scripts print
 * (one object per line, no nesting besides arrays of scalars), and
 * netbird-devnet's `ready key=value ...` line. */
#include "config.h"

#include "json-line.h"

#include <string.h>

/* The value of "key" in @line: strings unescaped, other values as text
 * (arrays too, unparsed). NULL when absent. */
char *
json_get (const char *line, const char *key)
{
  g_autofree char *needle = g_strdup_printf ("\"%s\":", key);
  const char *p = strstr (line, needle);
  GString *out;

  if (p == NULL)
    return NULL;
  p += strlen (needle);
  if (*p == '[')
    {
      const char *end = strchr (p, ']');

      return end ? g_strndup (p, end - p + 1) : NULL;
    }
  if (*p != '"')
    {
      const char *end = p + strcspn (p, ",}");

      return g_strndup (p, end - p);
    }
  out = g_string_new (NULL);
  for (p++; *p && *p != '"'; p++)
    {
      if (*p == '\\' && p[1])
        {
          p++;
          switch (*p)
            {
            case 'n': g_string_append_c (out, '\n'); break;
            case 't': g_string_append_c (out, '\t'); break;
            case 'u':
              g_string_append_c (out, '?');
              p += MIN (strlen (p) - 1, 4);
              break;
            default: g_string_append_c (out, *p); break;
            }
        }
      else
        g_string_append_c (out, *p);
    }
  return g_string_free (out, FALSE);
}

gint64
json_int (const char *line, const char *key)
{
  g_autofree char *v = json_get (line, key);

  if (v == NULL)
    g_error ("%s: no \"%s\"", line, key);
  return g_ascii_strtoll (v, NULL, 10);
}


char *
ready_field (const char *line, const char *key)
{
  g_autofree char *needle = g_strdup_printf (" %s=", key);
  const char *p = strstr (line, needle);

  if (p == NULL)
    return NULL;
  p += strlen (needle);
  return g_strndup (p, strcspn (p, " \n"));
}
