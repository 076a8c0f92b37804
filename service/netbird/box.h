/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * NetBird's sealing of signal bodies and management messages.
 *
 * NaCl crypto_box (X25519 + XSalsa20 + Poly1305) with the peers' WireGuard
 * keys, framed as NetBird's Go code does it (encryption.Encrypt, built on
 * golang.org/x/crypto/nacl/box.Seal):
 *
 *     sealed = nonce (24 bytes) || MAC (16 bytes) || ciphertext (len(pt) bytes)
 *
 * where MAC || ciphertext is libsodium's crypto_box_easy() output, so
 * len(sealed) = 40 + len(plaintext). The receiver takes the nonce from the
 * first 24 bytes.
 *
 * Buffers: inputs are (pointer, length); results are GBytes. Plaintext
 * returned by nb_box_open() is wiped from memory when the last reference
 * to the GBytes is dropped (management responses carry TURN passwords).
 * Errors are in the NB_BOX_ERROR domain and never contain key material or
 * message contents.
 */
#pragma once

#include <glib.h>

#include "wg-key.h"

G_BEGIN_DECLS

#define NB_BOX_NONCE_LEN 24
#define NB_BOX_MAC_LEN   16
/* Smallest valid sealed message (empty plaintext). */
#define NB_BOX_OVERHEAD  (NB_BOX_NONCE_LEN + NB_BOX_MAC_LEN)

#define NB_BOX_ERROR (nb_box_error_quark ())
GQuark nb_box_error_quark (void);

/**
 * NbBoxError:
 * @NB_BOX_ERROR_TOO_SHORT: the sealed input is shorter than
 *   NB_BOX_OVERHEAD (40) bytes.
 * @NB_BOX_ERROR_OPEN_FAILED: authentication failed: the message was sealed
 *   with other keys (wrong sender, not for us) or was altered.
 * @NB_BOX_ERROR_BAD_KEY: the public key is a low-order point (e.g. all
 *   zeros) with which no shared secret exists; libsodium refuses it.
 * @NB_BOX_ERROR_TOO_LONG: the plaintext is too large to seal.
 */
typedef enum {
  NB_BOX_ERROR_TOO_SHORT,
  NB_BOX_ERROR_OPEN_FAILED,
  NB_BOX_ERROR_BAD_KEY,
  NB_BOX_ERROR_TOO_LONG,
} NbBoxError;

/* Seals @plaintext (may be NULL when @plaintext_len is 0) from the holder
 * of @sender_private to the holder of @recipient_public with a fresh random
 * nonce (libsodium randombytes). Returns nonce || box, or NULL with @error
 * set (NB_BOX_ERROR_BAD_KEY, NB_BOX_ERROR_TOO_LONG). */
GBytes *nb_box_seal            (const guint8  *plaintext,
                                gsize          plaintext_len,
                                const NbWgKey *recipient_public,
                                const NbWgKey *sender_private,
                                GError       **error);

/* The same with a caller-chosen nonce, for known-answer tests. Never reuse
 * a nonce for the same key pair in real traffic: use nb_box_seal(). */
GBytes *nb_box_seal_with_nonce (const guint8  *plaintext,
                                gsize          plaintext_len,
                                const guint8   nonce[NB_BOX_NONCE_LEN],
                                const NbWgKey *recipient_public,
                                const NbWgKey *sender_private,
                                GError       **error);

/* Opens a sealed message (nonce || box) from the holder of @sender_public,
 * addressed to the holder of @recipient_private. Returns the plaintext
 * (possibly empty, never NULL on success), or NULL with @error set:
 * NB_BOX_ERROR_TOO_SHORT, NB_BOX_ERROR_OPEN_FAILED, NB_BOX_ERROR_BAD_KEY.
 * @sealed may be NULL when @sealed_len is 0. Safe on any input. */
GBytes *nb_box_open            (const guint8  *sealed,
                                gsize          sealed_len,
                                const NbWgKey *sender_public,
                                const NbWgKey *recipient_private,
                                GError       **error);

G_END_DECLS
