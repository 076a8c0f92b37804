/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * nb_signal_message_decode_body() (signal-msg.h): the opened plaintext of a
 * signal message, without the sealing (which mutations could not get past).
 *
 * Input: a serialised Body. What decodes is checked (fuzz-signal-check.h);
 * what does not gives one of the documented errors.
 */
#include "config.h"

#include "fuzz-common.h"
#include "fuzz-signal-check.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(NbSignalMessage) msg = nb_signal_message_decode_body (data, size, &error);

  if (msg == NULL)
    {
      g_assert_nonnull (error);
      g_assert_true (error->domain == NB_SIGNAL_MSG_ERROR);
      g_assert_true (error->code == NB_SIGNAL_MSG_ERROR_BAD_PROTOBUF ||
                     error->code == NB_SIGNAL_MSG_ERROR_MALFORMED ||
                     error->code == NB_SIGNAL_MSG_ERROR_UNKNOWN_TYPE ||
                     error->code == NB_SIGNAL_MSG_ERROR_UNSUPPORTED);
      return 0;
    }
  g_assert_no_error (error);
  g_assert_null (msg->sender_key);
  fuzz_signal_check_message (msg);
  return 0;
}
