/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * signalexchange.EncryptedMessage (signalexchange.proto): what arrives on
 * the signal stream, then what we do with it before signal-msg.c exists:
 * parse both keys, open the body with the fixed keys (from A to B) and
 * unpack the Body inside.
 *
 * Input: a serialised EncryptedMessage. The seeds carry bodies sealed with
 * the fixed keys, so mutations of key/remoteKey still reach the Body.
 */
#include "config.h"

#include "box.h"
#include "fuzz-common.h"
#include "fuzz-pb.h"
#include "signalexchange.pb-c.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  const FuzzKeys *k = fuzz_keys ();
  Signalexchange__EncryptedMessage *msg = signalexchange__encrypted_message__unpack (NULL, size, data);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) plain = NULL;
  NbWgKey key = NB_WG_KEY_INIT;

  if (msg == NULL)
    return 0;

  fuzz_pb_walk (&msg->base);
  fuzz_pb_repack (&msg->base);

  if (!nb_wg_key_from_base64 (msg->key, &key, &error))
    g_clear_error (&error);
  if (!nb_wg_key_from_base64 (msg->remotekey, &key, &error))
    g_clear_error (&error);

  plain = nb_box_open (msg->body.data, msg->body.len, &k->a_public, &k->b_private, &error);
  if (plain != NULL)
    {
      gsize len;
      const guint8 *p = g_bytes_get_data (plain, &len);
      Signalexchange__Body *body = signalexchange__body__unpack (NULL, len, p);

      if (body != NULL)
        {
          fuzz_pb_walk (&body->base);
          signalexchange__body__free_unpacked (body, NULL);
        }
    }
  else
    g_assert_true (error->domain == NB_BOX_ERROR);

  signalexchange__encrypted_message__free_unpacked (msg, NULL);
  return 0;
}
