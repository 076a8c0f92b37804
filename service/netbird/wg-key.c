/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * WireGuard keys: generation, derivation, base64/hex text forms, NetBird's
 * string ordering and the private key file.
 *
 * Base64 and hex are decoded without branches or table lookups on the key
 * characters (a private key read from disk is parsed here); only when the
 * text is already known to be invalid does a second, ordinary pass find out
 * what is wrong for the error message.
 */
#define G_LOG_DOMAIN "nb-wg-key"

#include "config.h"

#include "wg-key.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "nb-sodium.h"

G_STATIC_ASSERT (sizeof (NbWgKey) == NB_WG_KEY_LEN);
G_STATIC_ASSERT (NB_WG_KEY_LEN == crypto_scalarmult_curve25519_BYTES);
G_STATIC_ASSERT (NB_WG_KEY_B64_SIZE ==
                 sodium_base64_ENCODED_LEN (NB_WG_KEY_LEN, sodium_base64_VARIANT_ORIGINAL));

/* A key file is one line; anything much longer is not a key file. */
#define KEY_FILE_MAX 256

G_DEFINE_QUARK (nb-wg-key-error-quark, nb_wg_key_error)

/* ---- generation and derivation ----------------------------------------- */

void
nb_wg_key_generate_private (NbWgKey *out_private)
{
  g_return_if_fail (out_private != NULL);

  nb_sodium_init ();
  randombytes_buf (out_private->bytes, sizeof out_private->bytes);
  /* Clamp like `wg genkey` (RFC 7748 decodeScalar25519). */
  out_private->bytes[0] &= 248;
  out_private->bytes[31] &= 127;
  out_private->bytes[31] |= 64;
}

void
nb_wg_key_derive_public (const NbWgKey *private_key,
                         NbWgKey       *out_public)
{
  g_auto(NbWgKey) pub = NB_WG_KEY_INIT;

  g_return_if_fail (private_key != NULL);
  g_return_if_fail (out_public != NULL);

  nb_sodium_init ();
  /* crypto_scalarmult_curve25519_base() clamps the scalar itself, so an
   * unclamped private key gives the same public key as `wg pubkey`. It
   * cannot fail: a clamped scalar never maps the base point to zero. */
  if (crypto_scalarmult_curve25519_base (pub.bytes, private_key->bytes) != 0)
    {
      g_critical ("X25519 base point multiplication failed");
      nb_wg_key_clear (out_public);
      return;
    }
  *out_public = pub;
}

/* ---- parsing ------------------------------------------------------------ */

/* -1 (all bits set) when lo <= c <= hi, else 0; no branches on c.
 * Relies on arithmetic right shift of negative ints (gcc, clang). */
#define CT_IN_RANGE(c, lo, hi) (((((lo) - 1) - (c)) & ((c) - ((hi) + 1))) >> 8)

/* Value of a standard base64 digit, -1 if @c is not one. Constant time. */
static int
b64_digit_value (int c)
{
  int v = -1;

  v += CT_IN_RANGE (c, 'A', 'Z') & (c - 'A' + 1);
  v += CT_IN_RANGE (c, 'a', 'z') & (c - 'a' + 26 + 1);
  v += CT_IN_RANGE (c, '0', '9') & (c - '0' + 52 + 1);
  v += CT_IN_RANGE (c, '+', '+') & (62 + 1);
  v += CT_IN_RANGE (c, '/', '/') & (63 + 1);
  return v;
}

/* Value of a hex digit (either case), -1 if @c is not one. Constant time. */
static int
hex_digit_value (int c)
{
  int v = -1;

  v += CT_IN_RANGE (c, '0', '9') & (c - '0' + 1);
  v += CT_IN_RANGE (c, 'a', 'f') & (c - 'a' + 10 + 1);
  v += CT_IN_RANGE (c, 'A', 'F') & (c - 'A' + 10 + 1);
  return v;
}

static gboolean
check_text_length (const char *text,
                   gsize       want,
                   const char *form,
                   GError    **error)
{
  gsize len;

  if (text == NULL || text[0] == '\0')
    {
      g_set_error (error, NB_WG_KEY_ERROR, NB_WG_KEY_ERROR_EMPTY,
                   "Invalid WireGuard key: no key given");
      return FALSE;
    }

  len = strlen (text);
  if (len != want)
    {
      g_set_error (error, NB_WG_KEY_ERROR, NB_WG_KEY_ERROR_BAD_LENGTH,
                   "Invalid WireGuard key: %s form is %" G_GSIZE_FORMAT
                   " characters, got %" G_GSIZE_FORMAT "%s",
                   form, want, len,
                   (want == NB_WG_KEY_B64_LEN && len == want - 1 &&
                    strchr (text, '=') == NULL)
                     ? " (is the '=' padding missing?)" : "");
      return FALSE;
    }
  return TRUE;
}

/* Error path only: say what is wrong with a 44-character text that did
 * not decode. Names positions (1-based), never characters. */
static void
explain_bad_base64 (const char *text,
                    GError    **error)
{
  gsize i;

  for (i = 0; i < NB_WG_KEY_B64_LEN - 1; i++)
    {
      if (text[i] == '=')
        {
          g_set_error (error, NB_WG_KEY_ERROR, NB_WG_KEY_ERROR_BAD_PADDING,
                       "Invalid WireGuard key: '=' padding at character %" G_GSIZE_FORMAT
                       "; a key has exactly one '=', at the end", i + 1);
          return;
        }
      if (b64_digit_value ((guchar) text[i]) < 0)
        {
          g_set_error (error, NB_WG_KEY_ERROR, NB_WG_KEY_ERROR_BAD_CHARACTER,
                       "Invalid WireGuard key: character %" G_GSIZE_FORMAT
                       " is not in the standard base64 alphabet", i + 1);
          return;
        }
    }

  if (text[NB_WG_KEY_B64_LEN - 1] != '=')
    {
      if (b64_digit_value ((guchar) text[NB_WG_KEY_B64_LEN - 1]) >= 0)
        g_set_error (error, NB_WG_KEY_ERROR, NB_WG_KEY_ERROR_BAD_PADDING,
                     "Invalid WireGuard key: it does not end with '=' padding");
      else
        g_set_error (error, NB_WG_KEY_ERROR, NB_WG_KEY_ERROR_BAD_CHARACTER,
                     "Invalid WireGuard key: character %d is not in the standard "
                     "base64 alphabet", NB_WG_KEY_B64_LEN);
      return;
    }

  g_set_error (error, NB_WG_KEY_ERROR, NB_WG_KEY_ERROR_NONCANONICAL,
               "Invalid WireGuard key: the last base64 digit has non-zero unused "
               "bits (not a canonical encoding)");
}

gboolean
nb_wg_key_from_base64 (const char *text,
                       NbWgKey    *out_key,
                       GError    **error)
{
  g_auto(NbWgKey) key = NB_WG_KEY_INIT;
  guint32 acc = 0;
  guint acc_bits = 0;
  gsize pos = 0;
  int bad = 0;
  gsize i;

  g_return_val_if_fail (out_key != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  nb_wg_key_clear (out_key);
  if (!check_text_length (text, NB_WG_KEY_B64_LEN, "base64", error))
    return FALSE;

  /* 43 digits carry 258 bits: 32 bytes and 2 bits that must be zero. */
  for (i = 0; i < NB_WG_KEY_B64_LEN - 1; i++)
    {
      int v = b64_digit_value ((guchar) text[i]);

      bad |= v;
      acc = (acc << 6) | ((guint32) v & 0x3f);
      acc_bits += 6;
      if (acc_bits >= 8)
        {
          acc_bits -= 8;
          key.bytes[pos++] = (guint8) (acc >> acc_bits);
        }
    }
  g_assert (pos == NB_WG_KEY_LEN && acc_bits == 2);
  bad |= -(int) ((acc & 0x3) != 0);
  bad |= -(int) (text[NB_WG_KEY_B64_LEN - 1] != '=');

  if (bad < 0)
    {
      explain_bad_base64 (text, error);
      return FALSE;
    }

  *out_key = key;
  return TRUE;
}

gboolean
nb_wg_key_from_hex (const char *text,
                    NbWgKey    *out_key,
                    GError    **error)
{
  g_auto(NbWgKey) key = NB_WG_KEY_INIT;
  int bad = 0;
  gsize i;

  g_return_val_if_fail (out_key != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  nb_wg_key_clear (out_key);
  if (!check_text_length (text, NB_WG_KEY_HEX_LEN, "hex", error))
    return FALSE;

  for (i = 0; i < NB_WG_KEY_LEN; i++)
    {
      int hi = hex_digit_value ((guchar) text[2 * i]);
      int lo = hex_digit_value ((guchar) text[2 * i + 1]);

      bad |= hi | lo;
      key.bytes[i] = (guint8) (((hi & 0xf) << 4) | (lo & 0xf));
    }

  if (bad < 0)
    {
      for (i = 0; i < NB_WG_KEY_HEX_LEN; i++)
        if (hex_digit_value ((guchar) text[i]) < 0)
          break;
      g_set_error (error, NB_WG_KEY_ERROR, NB_WG_KEY_ERROR_BAD_CHARACTER,
                   "Invalid WireGuard key: character %" G_GSIZE_FORMAT
                   " is not a hex digit", i + 1);
      return FALSE;
    }

  *out_key = key;
  return TRUE;
}

/* ---- formatting and comparison ------------------------------------------ */

void
nb_wg_key_to_base64_buf (const NbWgKey *key,
                         char           out[NB_WG_KEY_B64_SIZE])
{
  g_return_if_fail (key != NULL);
  g_return_if_fail (out != NULL);

  sodium_bin2base64 (out, NB_WG_KEY_B64_SIZE, key->bytes, sizeof key->bytes,
                     sodium_base64_VARIANT_ORIGINAL);
}

char *
nb_wg_key_to_base64 (const NbWgKey *key)
{
  char *out;

  g_return_val_if_fail (key != NULL, NULL);

  out = g_malloc (NB_WG_KEY_B64_SIZE);
  nb_wg_key_to_base64_buf (key, out);
  return out;
}

void
nb_wg_key_to_hex_buf (const NbWgKey *key,
                      char           out[NB_WG_KEY_HEX_SIZE])
{
  g_return_if_fail (key != NULL);
  g_return_if_fail (out != NULL);

  sodium_bin2hex (out, NB_WG_KEY_HEX_SIZE, key->bytes, sizeof key->bytes);
}

char *
nb_wg_key_to_hex (const NbWgKey *key)
{
  char *out;

  g_return_val_if_fail (key != NULL, NULL);

  out = g_malloc (NB_WG_KEY_HEX_SIZE);
  nb_wg_key_to_hex_buf (key, out);
  return out;
}

gboolean
nb_wg_key_equal (const NbWgKey *a,
                 const NbWgKey *b)
{
  g_return_val_if_fail (a != NULL, FALSE);
  g_return_val_if_fail (b != NULL, FALSE);

  return sodium_memcmp (a->bytes, b->bytes, NB_WG_KEY_LEN) == 0;
}

gboolean
nb_wg_key_is_zero (const NbWgKey *key)
{
  g_return_val_if_fail (key != NULL, FALSE);

  return sodium_is_zero (key->bytes, NB_WG_KEY_LEN) == 1;
}

int
nb_wg_key_string_compare (const char *a,
                          const char *b)
{
  /* strcmp() compares bytes as unsigned char, like Go's string order. */
  int r = g_strcmp0 (a, b);

  return (r > 0) - (r < 0);
}

int
nb_wg_key_compare (const NbWgKey *a,
                   const NbWgKey *b)
{
  char sa[NB_WG_KEY_B64_SIZE];
  char sb[NB_WG_KEY_B64_SIZE];
  int r;

  g_return_val_if_fail (a != NULL, 0);
  g_return_val_if_fail (b != NULL, 0);

  nb_wg_key_to_base64_buf (a, sa);
  nb_wg_key_to_base64_buf (b, sb);
  r = nb_wg_key_string_compare (sa, sb);
  sodium_memzero (sa, sizeof sa);
  sodium_memzero (sb, sizeof sb);
  return r;
}

/* ---- heap values ---------------------------------------------------------- */

NbWgKey *
nb_wg_key_dup (const NbWgKey *key)
{
  NbWgKey *copy;

  g_return_val_if_fail (key != NULL, NULL);

  copy = g_new (NbWgKey, 1);
  *copy = *key;
  return copy;
}

void
nb_wg_key_free (NbWgKey *key)
{
  if (key == NULL)
    return;
  nb_wg_key_clear (key);
  g_free (key);
}

void
nb_wg_key_clear (NbWgKey *key)
{
  if (key != NULL)
    sodium_memzero (key->bytes, sizeof key->bytes);
}

/* ---- private key file ------------------------------------------------------ */

static gboolean
load_private_from_fd (int         fd,
                      const char *display,
                      NbWgKey    *out_private,
                      GError    **error)
{
  g_autoptr(GError) local_error = NULL;
  char buf[KEY_FILE_MAX + 2];
  gsize total = 0;
  struct stat st;
  gboolean ok;

  if (fstat (fd, &st) != 0)
    {
      int errsv = errno;
      g_set_error (error, NB_WG_KEY_ERROR, NB_WG_KEY_ERROR_FILE_IO,
                   "Could not inspect key file “%s”: %s", display, g_strerror (errsv));
      return FALSE;
    }
  if (!S_ISREG (st.st_mode))
    {
      g_set_error (error, NB_WG_KEY_ERROR, NB_WG_KEY_ERROR_FILE_IO,
                   "Key file “%s” is not a regular file", display);
      return FALSE;
    }
  if (st.st_uid != geteuid ())
    {
      g_set_error (error, NB_WG_KEY_ERROR, NB_WG_KEY_ERROR_FILE_INSECURE,
                   "Key file “%s” is owned by uid %u, not by this user (uid %u); refusing it",
                   display, (guint) st.st_uid, (guint) geteuid ());
      return FALSE;
    }
  if ((st.st_mode & 0077) != 0)
    {
      g_set_error (error, NB_WG_KEY_ERROR, NB_WG_KEY_ERROR_FILE_INSECURE,
                   "Key file “%s” is accessible by group or others (mode %04o); "
                   "refusing it, it must be mode 0600",
                   display, (guint) (st.st_mode & 07777));
      return FALSE;
    }

  /* Read at most KEY_FILE_MAX + 1 bytes: one more than allowed tells us
   * the file is too large. */
  while (total < KEY_FILE_MAX + 1)
    {
      gssize n = read (fd, buf + total, KEY_FILE_MAX + 1 - total);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          int errsv = errno;
          sodium_memzero (buf, sizeof buf);
          g_set_error (error, NB_WG_KEY_ERROR, NB_WG_KEY_ERROR_FILE_IO,
                       "Could not read key file “%s”: %s", display, g_strerror (errsv));
          return FALSE;
        }
      if (n == 0)
        break;
      total += (gsize) n;
    }
  buf[total] = '\0';

  if (total > KEY_FILE_MAX)
    {
      sodium_memzero (buf, sizeof buf);
      g_set_error (error, NB_WG_KEY_ERROR, NB_WG_KEY_ERROR_FILE_CORRUPT,
                   "Key file “%s” is too large to hold a WireGuard key", display);
      return FALSE;
    }
  if (memchr (buf, '\0', total) != NULL)
    {
      sodium_memzero (buf, sizeof buf);
      g_set_error (error, NB_WG_KEY_ERROR, NB_WG_KEY_ERROR_FILE_CORRUPT,
                   "Key file “%s” does not hold a WireGuard private key: it contains NUL bytes",
                   display);
      return FALSE;
    }

  g_strstrip (buf);
  ok = nb_wg_key_from_base64 (buf, out_private, &local_error);
  sodium_memzero (buf, sizeof buf);

  if (!ok)
    {
      g_set_error (error, NB_WG_KEY_ERROR, NB_WG_KEY_ERROR_FILE_CORRUPT,
                   "Key file “%s” does not hold a WireGuard private key: %s",
                   display, local_error->message);
      return FALSE;
    }
  if (nb_wg_key_is_zero (out_private))
    {
      g_set_error (error, NB_WG_KEY_ERROR, NB_WG_KEY_ERROR_FILE_CORRUPT,
                   "Key file “%s” holds an all-zero key", display);
      return FALSE;
    }
  return TRUE;
}

gboolean
nb_wg_key_load_private_file (const char *path,
                             NbWgKey    *out_private,
                             GError    **error)
{
  g_autofree char *display = NULL;
  gboolean ok;
  int fd;

  g_return_val_if_fail (path != NULL, FALSE);
  g_return_val_if_fail (out_private != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  nb_wg_key_clear (out_private);
  display = g_filename_display_name (path);

  /* O_NONBLOCK: a FIFO must not hang us; it is refused below anyway. */
  fd = open (path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0)
    {
      int errsv = errno;

      if (errsv == ENOENT)
        g_set_error (error, NB_WG_KEY_ERROR, NB_WG_KEY_ERROR_FILE_NOT_FOUND,
                     "Key file “%s” does not exist", display);
      else if (errsv == ELOOP)
        g_set_error (error, NB_WG_KEY_ERROR, NB_WG_KEY_ERROR_FILE_INSECURE,
                     "Key file “%s” is a symbolic link; refusing it", display);
      else
        g_set_error (error, NB_WG_KEY_ERROR, NB_WG_KEY_ERROR_FILE_IO,
                     "Could not open key file “%s”: %s", display, g_strerror (errsv));
      return FALSE;
    }

  ok = load_private_from_fd (fd, display, out_private, error);
  close (fd);
  if (!ok)
    nb_wg_key_clear (out_private);
  return ok;
}

gboolean
nb_wg_key_save_private_file (const char    *path,
                             const NbWgKey *private_key,
                             GError       **error)
{
  g_autoptr(GError) local_error = NULL;
  char line[NB_WG_KEY_B64_SIZE + 1];
  gboolean ok;

  g_return_val_if_fail (path != NULL, FALSE);
  g_return_val_if_fail (private_key != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  nb_wg_key_to_base64_buf (private_key, line);
  line[NB_WG_KEY_B64_LEN] = '\n';
  line[NB_WG_KEY_B64_LEN + 1] = '\0';

  /* Temporary file created with mode 0600 (umask can only narrow it),
   * fsync'ed, then renamed over @path: the key is never readable by others
   * and never half-written. Glib's messages name files, never contents. */
  ok = g_file_set_contents_full (path, line, NB_WG_KEY_B64_LEN + 1,
                                 G_FILE_SET_CONTENTS_CONSISTENT |
                                 G_FILE_SET_CONTENTS_DURABLE,
                                 0600, &local_error);
  sodium_memzero (line, sizeof line);

  if (!ok)
    {
      g_autofree char *display = g_filename_display_name (path);
      g_set_error (error, NB_WG_KEY_ERROR, NB_WG_KEY_ERROR_FILE_IO,
                   "Could not save key file “%s”: %s", display, local_error->message);
      return FALSE;
    }
  return TRUE;
}
