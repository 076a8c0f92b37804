/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include "fuzz-common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile uint8_t touch_sink;

void
fuzz_touch (const void *data, size_t len)
{
  const volatile uint8_t *p = data;
  uint8_t acc = 0;

  for (size_t i = 0; i < len; i++)
    acc ^= p[i];
  touch_sink ^= acc;
}

char *
fuzz_strndup (const uint8_t *data, size_t size)
{
  return g_strndup ((const char *) data, size);
}

static void
clamp (NbWgKey *key)
{
  key->bytes[0] &= 248;
  key->bytes[31] &= 127;
  key->bytes[31] |= 64;
}

const FuzzKeys *
fuzz_keys (void)
{
  static FuzzKeys keys;
  static gsize done = 0;

  if (g_once_init_enter (&done))
    {
      for (int i = 0; i < NB_WG_KEY_LEN; i++)
        {
          keys.a_private.bytes[i] = (guint8) (0x01 + i);
          keys.b_private.bytes[i] = (guint8) (0x21 + i);
        }
      clamp (&keys.a_private);
      clamp (&keys.b_private);
      nb_wg_key_derive_public (&keys.a_private, &keys.a_public);
      nb_wg_key_derive_public (&keys.b_private, &keys.b_public);
      nb_wg_key_to_base64_buf (&keys.a_public, keys.a_public_b64);
      nb_wg_key_to_base64_buf (&keys.b_public, keys.b_public_b64);
      g_once_init_leave (&done, 1);
    }
  return &keys;
}

/* Which log messages are crashes: errors and criticals everywhere (a
 * g_return_if_fail() that fired), warnings from GLib itself (API misuse, e.g.
 * an out-of-range GObject property). Warnings of the project's own "nb-*"
 * domains are what its decoders log by design when they drop bad input, so
 * they are dropped here, like debug and info messages. */
static gboolean
is_fatal (const char *domain, GLogLevelFlags level)
{
  if (level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL))
    return TRUE;
  if (level & G_LOG_LEVEL_WARNING)
    return domain == NULL || !g_str_has_prefix (domain, "nb-");
  return FALSE;
}

/* abort() rather than GLib's G_BREAKPOINT (SIGTRAP), which libFuzzer does not
 * catch: only a signal it handles gets the input saved as a crash file. */
static void
log_handler (const char *domain, GLogLevelFlags level, const char *message, gpointer user_data)
{
  if (is_fatal (domain, level))
    {
      fprintf (stderr, "fuzz: fatal log message (%s): %s\n", domain ? domain : "-", message);
      abort ();
    }
}

static GLogWriterOutput
log_writer (GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer user_data)
{
  const char *domain = NULL, *message = "";

  for (gsize i = 0; i < n_fields; i++)
    {
      if (g_strcmp0 (fields[i].key, "GLIB_DOMAIN") == 0 && fields[i].length < 0)
        domain = fields[i].value;
      else if (g_strcmp0 (fields[i].key, "MESSAGE") == 0 && fields[i].length < 0)
        message = fields[i].value;
    }
  log_handler (domain, level, message, user_data);
  return G_LOG_WRITER_HANDLED;
}

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  g_log_set_default_handler (log_handler, NULL);
  g_log_set_writer_func (log_writer, NULL, NULL);
  (void) fuzz_keys ();
  return 0;
}
