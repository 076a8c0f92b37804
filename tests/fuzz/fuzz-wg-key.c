/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * WireGuard key text (wg-key.h): every peer key in signal and management
 * messages is parsed with nb_wg_key_from_base64().
 *
 * Input: the text (cut at a NUL), parsed as base64 and as hex; a key that
 * parses formats back to exactly the input (base64 is canonical; hex in
 * lowercase). The input's two halves check the NetBird key ordering.
 */
#include "config.h"

#include "fuzz-common.h"
#include "wg-key.h"

#include <string.h>

static int
sign (int v)
{
  return (v > 0) - (v < 0);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autofree char *text = fuzz_strndup (data, size);
  g_autoptr(GError) error = NULL;
  NbWgKey key = NB_WG_KEY_INIT;

  if (nb_wg_key_from_base64 (text, &key, &error))
    {
      char b64[NB_WG_KEY_B64_SIZE];
      g_autofree char *b64_dup = nb_wg_key_to_base64 (&key);

      g_assert_no_error (error);
      nb_wg_key_to_base64_buf (&key, b64);
      g_assert_cmpstr (b64, ==, text);
      g_assert_cmpstr (b64_dup, ==, text);
    }
  else
    {
      g_assert_true (error->domain == NB_WG_KEY_ERROR);
      g_assert_cmpint (error->code, <=, NB_WG_KEY_ERROR_NONCANONICAL);
      g_assert_true (nb_wg_key_is_zero (&key));
    }
  g_clear_error (&error);

  if (nb_wg_key_from_hex (text, &key, &error))
    {
      g_autofree char *hex = nb_wg_key_to_hex (&key);
      g_autofree char *lower = g_ascii_strdown (text, -1);

      g_assert_cmpstr (hex, ==, lower);
    }
  else
    {
      g_assert_true (error->domain == NB_WG_KEY_ERROR);
      g_assert_cmpint (error->code, <=, NB_WG_KEY_ERROR_NONCANONICAL);
      g_assert_true (nb_wg_key_is_zero (&key));
    }
  nb_wg_key_clear (&key);

  /* Ordering: Go's string comparison, antisymmetric. */
  {
    size_t half = strlen (text) / 2;
    g_autofree char *a = g_strndup (text, half);
    const char *b = text + half;
    int ab = nb_wg_key_string_compare (a, b);

    g_assert_cmpint (ab, ==, sign (strcmp (a, b)));
    g_assert_cmpint (nb_wg_key_string_compare (b, a), ==, -ab);
    g_assert_cmpint (nb_wg_key_string_compare (a, a), ==, 0);
    g_assert_cmpint (nb_wg_key_string_compare (NULL, a), ==, -1);
  }
  return 0;
}
