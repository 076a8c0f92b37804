/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * nb_box_seal() / nb_box_seal_with_nonce() then nb_box_open() (box.h).
 *
 * Input: 24-byte nonce (zero-padded if shorter), then the plaintext. Sealed
 * from A to B it must be nonce || 16 + len(plaintext) bytes, open to the
 * plaintext (from either side), and fail to open once any one byte is
 * flipped (the byte and bit chosen by the input) or with a wrong key.
 */
#include "config.h"

#include "box.h"
#include "fuzz-common.h"

#include <string.h>

static void
roundtrip (GBytes *sealed, const uint8_t *pt, size_t pt_len, const FuzzKeys *k)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) plain = NULL;
  gsize len;
  const guint8 *s = g_bytes_get_data (sealed, &len);

  g_assert_cmpuint (len, ==, NB_BOX_OVERHEAD + pt_len);

  plain = nb_box_open (s, len, &k->a_public, &k->b_private, &error);
  g_assert_no_error (error);
  g_assert_cmpmem (g_bytes_get_data (plain, NULL), g_bytes_get_size (plain), pt, pt_len);
  g_clear_pointer (&plain, g_bytes_unref);

  plain = nb_box_open (s, len, &k->b_public, &k->a_private, &error);
  g_assert_no_error (error);
  g_assert_cmpmem (g_bytes_get_data (plain, NULL), g_bytes_get_size (plain), pt, pt_len);
  g_clear_pointer (&plain, g_bytes_unref);

  /* A wrong sender: B's own key pair is not A. */
  plain = nb_box_open (s, len, &k->b_public, &k->b_private, &error);
  g_assert_null (plain);
  g_assert_error (error, NB_BOX_ERROR, NB_BOX_ERROR_OPEN_FAILED);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  const FuzzKeys *k = fuzz_keys ();
  guint8 nonce[NB_BOX_NONCE_LEN] = { 0 };
  const uint8_t *pt = data + MIN (size, NB_BOX_NONCE_LEN);
  size_t pt_len = size - MIN (size, NB_BOX_NONCE_LEN);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) sealed = NULL;
  g_autoptr(GBytes) random_sealed = NULL;
  g_autoptr(GBytes) plain = NULL;
  g_autofree guint8 *tampered = NULL;
  gsize len, pos;

  memcpy (nonce, data, MIN (size, NB_BOX_NONCE_LEN));

  sealed = nb_box_seal_with_nonce (pt_len ? pt : NULL, pt_len, nonce, &k->b_public, &k->a_private, &error);
  g_assert_no_error (error);
  g_assert_cmpmem (g_bytes_get_data (sealed, NULL), NB_BOX_NONCE_LEN, nonce, NB_BOX_NONCE_LEN);
  roundtrip (sealed, pt, pt_len, k);

  random_sealed = nb_box_seal (pt_len ? pt : NULL, pt_len, &k->b_public, &k->a_private, &error);
  g_assert_no_error (error);
  roundtrip (random_sealed, pt, pt_len, k);

  /* One flipped bit anywhere: nonce, MAC or ciphertext. */
  tampered = g_bytes_unref_to_data (g_steal_pointer (&sealed), &len);
  pos = size ? (data[0] | (size > 1 ? data[1] << 8 : 0)) % len : 0;
  tampered[pos] ^= (guint8) (1u << ((size > 2 ? data[2] : 0) & 7));
  plain = nb_box_open (tampered, len, &k->a_public, &k->b_private, &error);
  g_assert_null (plain);
  g_assert_error (error, NB_BOX_ERROR, NB_BOX_ERROR_OPEN_FAILED);
  return 0;
}
