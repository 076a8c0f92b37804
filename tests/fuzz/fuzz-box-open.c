/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * nb_box_open() (box.h) on untrusted sealed messages.
 *
 * Input: a sealed message (nonce || MAC || ciphertext). It is opened with the
 * fixed keys (from A to B, and the other way round: both share one key), and
 * the bytes after the first 32 are opened again with those 32 as the
 * sender's public key (any point, low-order ones included). Whatever opens
 * must seal back, with its own nonce, to exactly the input.
 */
#include "config.h"

#include "box.h"
#include "fuzz-common.h"

#include <string.h>

static void
open_one (const uint8_t *sealed, size_t len,
          const NbWgKey *sender_public, const NbWgKey *recipient_private,
          const NbWgKey *recipient_public, const NbWgKey *sender_private)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) plain = nb_box_open (sealed, len, sender_public, recipient_private, &error);
  g_autoptr(GBytes) again = NULL;

  if (plain == NULL)
    {
      g_assert_true (error->domain == NB_BOX_ERROR);
      if (len < NB_BOX_OVERHEAD)
        g_assert_cmpint (error->code, ==, NB_BOX_ERROR_TOO_SHORT);
      else
        g_assert_true (error->code == NB_BOX_ERROR_OPEN_FAILED || error->code == NB_BOX_ERROR_BAD_KEY);
      return;
    }
  g_assert_no_error (error);
  g_assert_cmpuint (g_bytes_get_size (plain), ==, len - NB_BOX_OVERHEAD);
  fuzz_touch (g_bytes_get_data (plain, NULL), g_bytes_get_size (plain));
  if (sender_private == NULL)
    return;
  again = nb_box_seal_with_nonce (g_bytes_get_data (plain, NULL), g_bytes_get_size (plain),
                                  sealed, recipient_public, sender_private, &error);
  g_assert_no_error (error);
  g_assert_cmpmem (g_bytes_get_data (again, NULL), g_bytes_get_size (again), sealed, len);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  const FuzzKeys *k = fuzz_keys ();

  open_one (data, size, &k->a_public, &k->b_private, &k->b_public, &k->a_private);
  open_one (data, size, &k->b_public, &k->a_private, &k->a_public, &k->b_private);
  if (size >= NB_WG_KEY_LEN)
    {
      NbWgKey sender;

      memcpy (sender.bytes, data, NB_WG_KEY_LEN);
      open_one (data + NB_WG_KEY_LEN, size - NB_WG_KEY_LEN, &sender, &k->b_private, NULL, NULL);
    }
  return 0;
}
