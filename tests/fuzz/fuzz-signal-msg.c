/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * nb_signal_message_open() (signal-msg.h): an EncryptedMessage off the
 * signal stream, addressed to B (our fixed key).
 *
 * Input: a serialised EncryptedMessage. The seeds are sealed by A (and one
 * by B to itself), so mutations of the envelope still reach the Body. A
 * message that opens is checked (fuzz-signal-check.h) and, when it came
 * from A or B, sealed again by its sender and opened to the same body.
 */
#include "config.h"

#include "fuzz-common.h"
#include "fuzz-signal-check.h"

#include <string.h>

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  const FuzzKeys *k = fuzz_keys ();
  g_autoptr(GError) error = NULL;
  g_autoptr(NbSignalMessage) msg = nb_signal_message_open (data, size, &k->b_private, k->b_public_b64, &error);
  const NbWgKey *sender_private = NULL;
  NbWgKey sender = NB_WG_KEY_INIT;

  if (msg == NULL)
    {
      g_assert_nonnull (error);
      g_assert_true (error->domain == NB_SIGNAL_MSG_ERROR);
      g_assert_cmpint (error->code, !=, NB_SIGNAL_MSG_ERROR_INVALID);
      g_assert_true (g_utf8_validate (error->message, -1, NULL));
      return 0;
    }
  g_assert_no_error (error);

  /* The sender key is a key (possibly another encoding of A's or B's point:
   * X25519 ignores the top bit). */
  g_assert_nonnull (msg->sender_key);
  g_assert_true (nb_wg_key_from_base64 (msg->sender_key, &sender, NULL));
  fuzz_signal_check_message (msg);

  if (strcmp (msg->sender_key, k->a_public_b64) == 0)
    sender_private = &k->a_private;
  else if (strcmp (msg->sender_key, k->b_public_b64) == 0)
    sender_private = &k->b_private;
  if (sender_private)
    {
      static const guint8 nonce[NB_BOX_NONCE_LEN] = { 0x5a };
      g_autoptr(GBytes) wire = nb_signal_message_seal_with_nonce (msg, nonce, sender_private, msg->sender_key,
                                                                  k->b_public_b64, &error);
      g_autoptr(NbSignalMessage) again = NULL;
      g_autoptr(GBytes) body = NULL;
      g_autoptr(GBytes) body2 = NULL;

      g_assert_no_error (error);
      again = nb_signal_message_open (g_bytes_get_data (wire, NULL), g_bytes_get_size (wire),
                                      &k->b_private, k->b_public_b64, &error);
      g_assert_no_error (error);
      g_assert_cmpstr (again->sender_key, ==, msg->sender_key);
      body = nb_signal_message_encode_body (msg, &error);
      g_assert_no_error (error);
      body2 = nb_signal_message_encode_body (again, &error);
      g_assert_no_error (error);
      g_assert_true (g_bytes_equal (body, body2));
    }
  return 0;
}
