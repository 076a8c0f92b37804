/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The gRPC trailer decoders (grpc-frame.h): grpc-status parsing and
 * grpc-message percent-decoding, with the encoder as a round trip.
 *
 * Input: the trailer value, bytes as received (embedded NULs included).
 */
#include "config.h"

#include "fuzz-common.h"
#include "grpc-frame.h"

#include <string.h>

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autofree char *text = fuzz_strndup (data, size);
  g_autofree char *decoded = NULL;
  g_autofree char *decoded_c = NULL;
  g_autofree char *valid = NULL;
  g_autofree char *encoded = NULL;
  g_autofree char *round = NULL;
  g_autoptr(GError) error = NULL;
  int code = -1;

  /* grpc-status: 1 to 6 decimal digits, nothing else. */
  if (nb_grpc_status_parse (text, &code))
    {
      size_t len = strlen (text);

      g_assert_cmpuint (len, >=, 1);
      g_assert_cmpuint (len, <=, 6);
      for (size_t i = 0; i < len; i++)
        g_assert_true (g_ascii_isdigit (text[i]));
      g_assert_cmpint (code, ==, (int) g_ascii_strtoll (text, NULL, 10));
    }
  else
    g_assert_cmpint (code, ==, -1);

  /* grpc-message: always valid UTF-8, both with a length and NUL-terminated. */
  decoded = nb_grpc_percent_decode ((const char *) data, (gssize) size);
  g_assert_nonnull (decoded);
  g_assert_true (g_utf8_validate (decoded, -1, NULL));
  decoded_c = nb_grpc_percent_decode (text, -1);
  g_assert_true (g_utf8_validate (decoded_c, -1, NULL));

  /* The status as a GError (it percent-decodes the message itself). */
  error = nb_grpc_error_from_status (code >= 0 ? code : (size ? data[0] : 0), text);
  if (error != NULL)
    {
      g_assert_true (error->domain == NB_GRPC_ERROR);
      g_assert_cmpint (error->code, >=, 1);
      g_assert_cmpint (error->code, <=, NB_GRPC_STATUS_MAX);
      g_assert_nonnull (nb_grpc_status_name (error->code));
      g_assert_true (g_utf8_validate (error->message, -1, NULL));
    }

  /* Encoding: printable ASCII out, and decoding it gives back any valid
   * UTF-8 text. */
  valid = g_utf8_make_valid (text, -1);
  encoded = nb_grpc_percent_encode (valid);
  for (const char *c = encoded; *c; c++)
    g_assert_true (*c >= 0x20 && *c <= 0x7e);
  round = nb_grpc_percent_decode (encoded, -1);
  g_assert_cmpstr (round, ==, valid);
  return 0;
}
