/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * nb_signal_candidate_parse() (signal-msg.h): ICE candidate lines from
 * remote peers.
 *
 * Input: the candidate text (cut at a NUL). What parses must format and
 * parse back to the same text (fuzz-signal-check.h).
 */
#include "config.h"

#include "fuzz-common.h"
#include "fuzz-signal-check.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autofree char *text = fuzz_strndup (data, size);
  g_autoptr(GError) error = NULL;
  g_autoptr(NbSignalCandidate) c = nb_signal_candidate_parse (text, &error);

  if (c == NULL)
    {
      g_assert_nonnull (error);
      g_assert_true (error->domain == NB_SIGNAL_MSG_ERROR);
      g_assert_true (error->code == NB_SIGNAL_MSG_ERROR_MALFORMED ||
                     error->code == NB_SIGNAL_MSG_ERROR_UNSUPPORTED);
      return 0;
    }
  g_assert_no_error (error);
  fuzz_signal_check_candidate (c);
  return 0;
}
