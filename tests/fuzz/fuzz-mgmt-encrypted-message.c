/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * management.EncryptedMessage (management.proto): the envelope of every
 * management reply but GetServerKey's. Unpacked and walked; the body opened
 * with the fixed keys (from A, the "server", to B, us) and unpacked as the
 * SyncResponse it carries in the seeds, then as a LoginResponse.
 *
 * Input: a serialised EncryptedMessage.
 */
#include "config.h"

#include "box.h"
#include "fuzz-common.h"
#include "fuzz-mgmt.h"
#include "fuzz-pb.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  const FuzzKeys *k = fuzz_keys ();
  Management__EncryptedMessage *msg = management__encrypted_message__unpack (NULL, size, data);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) plain = NULL;

  if (msg == NULL)
    return 0;

  fuzz_pb_walk (&msg->base);
  fuzz_pb_repack (&msg->base);

  plain = nb_box_open (msg->body.data, msg->body.len, &k->a_public, &k->b_private, &error);
  if (plain != NULL)
    {
      gsize len;
      const guint8 *p = g_bytes_get_data (plain, &len);
      Management__SyncResponse *sync = management__sync_response__unpack (NULL, len, p);
      Management__LoginResponse *login = management__login_response__unpack (NULL, len, p);

      if (sync != NULL)
        {
          fuzz_pb_walk (&sync->base);
          fuzz_mgmt_netbird_config (sync->netbirdconfig);
          management__sync_response__free_unpacked (sync, NULL);
        }
      if (login != NULL)
        {
          fuzz_pb_walk (&login->base);
          management__login_response__free_unpacked (login, NULL);
        }
    }
  else
    g_assert_true (error->domain == NB_BOX_ERROR);

  management__encrypted_message__free_unpacked (msg, NULL);
  return 0;
}
