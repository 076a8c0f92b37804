/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * NetBird sealing: nonce || crypto_box_easy(plaintext), see box.h.
 *
 * The shared key is computed with crypto_box_beforenm() first so that a
 * low-order public key (NB_BOX_ERROR_BAD_KEY) is told apart from a message
 * that does not authenticate (NB_BOX_ERROR_OPEN_FAILED); the result is the
 * same bytes as crypto_box_easy()/crypto_box_open_easy().
 */
#define G_LOG_DOMAIN "nb-box"

#include "config.h"

#include "box.h"

#include <string.h>

#include <sodium.h>

#include "nb-sodium.h"

G_STATIC_ASSERT (NB_BOX_NONCE_LEN == crypto_box_NONCEBYTES);
G_STATIC_ASSERT (NB_BOX_MAC_LEN == crypto_box_MACBYTES);
G_STATIC_ASSERT (NB_WG_KEY_LEN == crypto_box_PUBLICKEYBYTES);
G_STATIC_ASSERT (NB_WG_KEY_LEN == crypto_box_SECRETKEYBYTES);

G_DEFINE_QUARK (nb-box-error-quark, nb_box_error)

/* Heap block behind a plaintext GBytes: wiped before it is freed. */
typedef struct {
  gsize  len;
  guint8 data[];
} SecretBlock;

static void
secret_block_free (gpointer p)
{
  SecretBlock *block = p;

  sodium_memzero (block->data, block->len);
  g_free (block);
}

/* The X25519 + HSalsa20 shared key; FALSE for a low-order public key. */
static gboolean
shared_key (guint8         k[crypto_box_BEFORENMBYTES],
            const NbWgKey *public_key,
            const NbWgKey *private_key,
            GError       **error)
{
  if (crypto_box_beforenm (k, public_key->bytes, private_key->bytes) != 0)
    {
      sodium_memzero (k, crypto_box_BEFORENMBYTES);
      g_set_error (error, NB_BOX_ERROR, NB_BOX_ERROR_BAD_KEY,
                   "Peer public key is a low-order point; no shared secret exists");
      return FALSE;
    }
  return TRUE;
}

GBytes *
nb_box_seal_with_nonce (const guint8  *plaintext,
                        gsize          plaintext_len,
                        const guint8   nonce[NB_BOX_NONCE_LEN],
                        const NbWgKey *recipient_public,
                        const NbWgKey *sender_private,
                        GError       **error)
{
  static const guint8 empty[1] = { 0 };
  guint8 k[crypto_box_BEFORENMBYTES];
  guint8 *out;
  gsize out_len;

  g_return_val_if_fail (plaintext != NULL || plaintext_len == 0, NULL);
  g_return_val_if_fail (nonce != NULL, NULL);
  g_return_val_if_fail (recipient_public != NULL, NULL);
  g_return_val_if_fail (sender_private != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  nb_sodium_init ();

  if (plaintext_len > G_MAXSIZE - NB_BOX_OVERHEAD ||
      plaintext_len > crypto_box_MESSAGEBYTES_MAX)
    {
      g_set_error (error, NB_BOX_ERROR, NB_BOX_ERROR_TOO_LONG,
                   "Message of %" G_GSIZE_FORMAT " bytes is too large to seal",
                   plaintext_len);
      return NULL;
    }
  if (plaintext == NULL)
    plaintext = empty;

  if (!shared_key (k, recipient_public, sender_private, error))
    return NULL;

  out_len = NB_BOX_OVERHEAD + plaintext_len;
  out = g_malloc (out_len);
  memcpy (out, nonce, NB_BOX_NONCE_LEN);
  /* Cannot fail: the only failure is a message over MESSAGEBYTES_MAX. */
  crypto_box_easy_afternm (out + NB_BOX_NONCE_LEN, plaintext, plaintext_len,
                           out, k);
  sodium_memzero (k, sizeof k);

  return g_bytes_new_take (out, out_len);
}

GBytes *
nb_box_seal (const guint8  *plaintext,
             gsize          plaintext_len,
             const NbWgKey *recipient_public,
             const NbWgKey *sender_private,
             GError       **error)
{
  guint8 nonce[NB_BOX_NONCE_LEN];

  nb_sodium_init ();
  randombytes_buf (nonce, sizeof nonce);
  return nb_box_seal_with_nonce (plaintext, plaintext_len, nonce,
                                 recipient_public, sender_private, error);
}

GBytes *
nb_box_open (const guint8  *sealed,
             gsize          sealed_len,
             const NbWgKey *sender_public,
             const NbWgKey *recipient_private,
             GError       **error)
{
  guint8 k[crypto_box_BEFORENMBYTES];
  SecretBlock *block;
  gsize pt_len;
  int rc;

  g_return_val_if_fail (sealed != NULL || sealed_len == 0, NULL);
  g_return_val_if_fail (sender_public != NULL, NULL);
  g_return_val_if_fail (recipient_private != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  nb_sodium_init ();

  if (sealed_len < NB_BOX_OVERHEAD)
    {
      g_set_error (error, NB_BOX_ERROR, NB_BOX_ERROR_TOO_SHORT,
                   "Sealed message is %" G_GSIZE_FORMAT " bytes, shorter than the "
                   "%d-byte minimum (nonce and MAC)", sealed_len, NB_BOX_OVERHEAD);
      return NULL;
    }

  if (!shared_key (k, sender_public, recipient_private, error))
    return NULL;

  pt_len = sealed_len - NB_BOX_OVERHEAD;
  /* At least one data byte so that an empty plaintext has a valid pointer. */
  block = g_malloc (sizeof (SecretBlock) + MAX (pt_len, 1));
  block->len = pt_len;

  rc = crypto_box_open_easy_afternm (block->data,
                                     sealed + NB_BOX_NONCE_LEN,
                                     sealed_len - NB_BOX_NONCE_LEN,
                                     sealed, k);
  sodium_memzero (k, sizeof k);

  if (rc != 0)
    {
      secret_block_free (block);
      g_set_error (error, NB_BOX_ERROR, NB_BOX_ERROR_OPEN_FAILED,
                   "Sealed message does not open: sealed with other keys or altered");
      return NULL;
    }

  return g_bytes_new_with_free_func (block->data, pt_len, secret_block_free, block);
}
