/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * WireGuard (Curve25519) keys as NetBird uses them.
 *
 * Every NetBird peer has one WireGuard key pair. The same pair identifies the
 * peer to management and signal and seals its messages (see box.h). On the
 * wire a key is the standard base64 of its 32 bytes: 44 characters ending in
 * exactly one '='. The WireGuard UAPI wants keys as 64 lowercase hex digits.
 *
 * NbWgKey is a plain value type used for both private and public keys.
 * Private keys are secrets: keep them on the stack with
 * `g_auto(NbWgKey) key = NB_WG_KEY_INIT;` (wiped when the scope ends) or on
 * the heap with nb_wg_key_dup()/nb_wg_key_free() (wiped on free), and never
 * log them. Error messages from this module never contain key material.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define NB_WG_KEY_LEN      32                    /* raw bytes */
#define NB_WG_KEY_B64_LEN  44                    /* base64 characters, with '=' */
#define NB_WG_KEY_B64_SIZE (NB_WG_KEY_B64_LEN + 1) /* buffer size incl. NUL */
#define NB_WG_KEY_HEX_LEN  64                    /* hex digits */
#define NB_WG_KEY_HEX_SIZE (NB_WG_KEY_HEX_LEN + 1) /* buffer size incl. NUL */

typedef struct {
  guint8 bytes[NB_WG_KEY_LEN];
} NbWgKey;

#define NB_WG_KEY_INIT { { 0 } }

#define NB_WG_KEY_ERROR (nb_wg_key_error_quark ())
GQuark nb_wg_key_error_quark (void);

/**
 * NbWgKeyError:
 * @NB_WG_KEY_ERROR_EMPTY: the text is NULL or empty.
 * @NB_WG_KEY_ERROR_BAD_LENGTH: the text is not 44 (base64) / 64 (hex)
 *   characters long. Checked first: a 43-character key without '=' or a
 *   key with a trailing newline gets this code.
 * @NB_WG_KEY_ERROR_BAD_CHARACTER: a character outside the standard base64
 *   alphabet (A-Z a-z 0-9 + /) or, for hex, outside 0-9 a-f A-F. URL-safe
 *   base64 ('-', '_') and whitespace are refused here.
 * @NB_WG_KEY_ERROR_BAD_PADDING: 44 characters, but the last one is not '='
 *   or a '=' appears earlier.
 * @NB_WG_KEY_ERROR_NONCANONICAL: the unused low bits of the last base64
 *   digit are not zero (wg(8) refuses such keys too).
 * @NB_WG_KEY_ERROR_FILE_NOT_FOUND: the key file does not exist.
 * @NB_WG_KEY_ERROR_FILE_INSECURE: the key file is accessible by group or
 *   others, is owned by another user, or is a symbolic link.
 * @NB_WG_KEY_ERROR_FILE_CORRUPT: the key file does not hold one base64 key
 *   (garbage, empty, too large, all-zero key).
 * @NB_WG_KEY_ERROR_FILE_IO: reading or writing the key file failed
 *   otherwise (permissions, not a regular file, disk full, ...).
 */
typedef enum {
  NB_WG_KEY_ERROR_EMPTY,
  NB_WG_KEY_ERROR_BAD_LENGTH,
  NB_WG_KEY_ERROR_BAD_CHARACTER,
  NB_WG_KEY_ERROR_BAD_PADDING,
  NB_WG_KEY_ERROR_NONCANONICAL,
  NB_WG_KEY_ERROR_FILE_NOT_FOUND,
  NB_WG_KEY_ERROR_FILE_INSECURE,
  NB_WG_KEY_ERROR_FILE_CORRUPT,
  NB_WG_KEY_ERROR_FILE_IO,
} NbWgKeyError;

/* Key generation. A new private key is 32 bytes from libsodium's CSPRNG,
 * clamped like `wg genkey` (bits 0-2 and 255 cleared, bit 254 set). */
void     nb_wg_key_generate_private  (NbWgKey       *out_private);

/* The public key of @private_key: X25519 with the base point
 * (crypto_scalarmult_base, which clamps the scalar, exactly like
 * `wg pubkey`). Cannot fail for any 32-byte input. */
void     nb_wg_key_derive_public     (const NbWgKey *private_key,
                                      NbWgKey       *out_public);

/* Parsing. On failure @out_key is left zeroed and @error is set in the
 * NB_WG_KEY_ERROR domain; the message names what is wrong (length,
 * position of a bad character) but never repeats the text. */
gboolean nb_wg_key_from_base64       (const char    *text,
                                      NbWgKey       *out_key,
                                      GError       **error);
gboolean nb_wg_key_from_hex          (const char    *text,
                                      NbWgKey       *out_key,
                                      GError       **error);

/* Formatting. The _buf variants write NUL-terminated text into a caller
 * buffer (use them for private keys and sodium_memzero() the buffer); the
 * others return a newly allocated string (g_free). Hex is lowercase. */
void     nb_wg_key_to_base64_buf     (const NbWgKey *key,
                                      char           out[NB_WG_KEY_B64_SIZE]);
char    *nb_wg_key_to_base64         (const NbWgKey *key);
void     nb_wg_key_to_hex_buf        (const NbWgKey *key,
                                      char           out[NB_WG_KEY_HEX_SIZE]);
char    *nb_wg_key_to_hex            (const NbWgKey *key);

/* Constant-time equality of the 32 bytes (sodium_memcmp). */
gboolean nb_wg_key_equal             (const NbWgKey *a,
                                      const NbWgKey *b);
/* Constant-time test for the all-zero key ("no key" for WireGuard). */
gboolean nb_wg_key_is_zero           (const NbWgKey *key);

/* NetBird's key ordering (controller role): byte-wise comparison of the
 * base64 strings, like Go's `a > b` on strings. Note this is NOT the order
 * of the raw bytes ("+..." sorts before "A..."). Returns -1, 0 or 1.
 * NULL sorts before any string. */
int      nb_wg_key_string_compare    (const char    *a,
                                      const char    *b);
/* The same ordering for key values (formats both to base64). */
int      nb_wg_key_compare           (const NbWgKey *a,
                                      const NbWgKey *b);

/* Heap copies; nb_wg_key_free() wipes the bytes before freeing. */
NbWgKey *nb_wg_key_dup               (const NbWgKey *key);
void     nb_wg_key_free              (NbWgKey       *key);
/* Wipes @key in place (sodium_memzero). */
void     nb_wg_key_clear             (NbWgKey       *key);

/* Private key file: one line, the base64 key and '\n' (what `wg genkey`
 * prints). Saving writes atomically (temporary file + rename, fsync'ed)
 * with mode 0600. Loading refuses symbolic links, files not owned by the
 * effective user and files with any group/other permission bit
 * (NB_WG_KEY_ERROR_FILE_INSECURE); surrounding whitespace is ignored. */
gboolean nb_wg_key_load_private_file (const char    *path,
                                      NbWgKey       *out_private,
                                      GError       **error);
gboolean nb_wg_key_save_private_file (const char    *path,
                                      const NbWgKey *private_key,
                                      GError       **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (NbWgKey, nb_wg_key_free)
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (NbWgKey, nb_wg_key_clear)

G_END_DECLS
