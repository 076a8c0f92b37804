/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Tests for service/netbird/wg-key.c */

#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "wg-key.h"

/* Known answers from wireguard-tools:
 *   $ echo 8AY6e6GLDqUpp/wdgltmDhyXD6Hm6jHePc5mMudemWA= | wg pubkey
 *   YKR50rZclegPerEk7ODipOx79r9j/HrNMR0gh6jK/B8=
 * (the private key came from `wg genkey`, so it is clamped). */
#define WG_PRIV_B64 "8AY6e6GLDqUpp/wdgltmDhyXD6Hm6jHePc5mMudemWA="
#define WG_PRIV_HEX "f0063a7ba18b0ea529a7fc1d825b660e1c970fa1e6ea31de3dce6632e75e9960"
#define WG_PUB_B64  "YKR50rZclegPerEk7ODipOx79r9j/HrNMR0gh6jK/B8="
#define WG_PUB_HEX  "60a479d2b65c95e80f7ab124ece0e2a4ec7bf6bf63fc7acd311d2087a8cafc1f"

/* RFC 7748 section 6.1 (also NaCl's alice/bob): the private keys are NOT
 * clamped; `wg pubkey` clamps, and so must we. Public keys checked with
 * `echo KEY | wg pubkey`. */
#define ALICE_PRIV_B64 "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo="
#define ALICE_PUB_B64  "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo="
#define ALICE_PUB_HEX  "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"
#define BOB_PRIV_B64   "XasIfmJKikt54X+Lg4AO5m87sSkmGLb9HC+LJ/+I4Os="
#define BOB_PUB_B64    "3p7bfXt9wbTTW2HC7OQ1Nz+DQ8hbeGdNrfx+FG+IK08="

static NbWgKey
key_from_b64 (const char *text)
{
  g_autoptr(GError) error = NULL;
  NbWgKey key = NB_WG_KEY_INIT;

  g_assert_true (nb_wg_key_from_base64 (text, &key, &error));
  g_assert_no_error (error);
  return key;
}

/* No 8-character window of @secret may appear in @message. */
static void
assert_no_key_material (const char *message,
                        const char *secret)
{
  gsize len = strlen (secret);
  gsize i;

  for (i = 0; i + 8 <= len; i++)
    {
      g_autofree char *window = g_strndup (secret + i, 8);
      if (strstr (message, window) != NULL)
        g_error ("error message “%s” repeats key text “%s”", message, window);
    }
}

/* ---- generation and known answers ---------------------------------------- */

static void
test_generate (void)
{
  NbWgKey seen[32];
  guint i, j;

  for (i = 0; i < G_N_ELEMENTS (seen); i++)
    {
      g_auto(NbWgKey) priv = NB_WG_KEY_INIT;
      NbWgKey pub = NB_WG_KEY_INIT;

      nb_wg_key_generate_private (&priv);
      g_assert_false (nb_wg_key_is_zero (&priv));
      /* clamped like `wg genkey` */
      g_assert_cmpint (priv.bytes[0] & 7, ==, 0);
      g_assert_cmpint (priv.bytes[31] & 0x80, ==, 0);
      g_assert_cmpint (priv.bytes[31] & 0x40, ==, 0x40);

      nb_wg_key_derive_public (&priv, &pub);
      g_assert_false (nb_wg_key_is_zero (&pub));
      g_assert_false (nb_wg_key_equal (&priv, &pub));

      seen[i] = priv;
      for (j = 0; j < i; j++)
        g_assert_false (nb_wg_key_equal (&seen[i], &seen[j]));
    }
  for (i = 0; i < G_N_ELEMENTS (seen); i++)
    nb_wg_key_clear (&seen[i]);
}

static void
test_known_answer_wg (void)
{
  g_auto(NbWgKey) priv = key_from_b64 (WG_PRIV_B64);
  NbWgKey pub = NB_WG_KEY_INIT;
  NbWgKey want = key_from_b64 (WG_PUB_B64);
  g_autofree char *pub_b64 = NULL;
  g_autofree char *pub_hex = NULL;
  g_autofree char *priv_hex = NULL;

  nb_wg_key_derive_public (&priv, &pub);
  g_assert_true (nb_wg_key_equal (&pub, &want));

  pub_b64 = nb_wg_key_to_base64 (&pub);
  g_assert_cmpstr (pub_b64, ==, WG_PUB_B64);
  pub_hex = nb_wg_key_to_hex (&pub);
  g_assert_cmpstr (pub_hex, ==, WG_PUB_HEX);
  priv_hex = nb_wg_key_to_hex (&priv);
  g_assert_cmpstr (priv_hex, ==, WG_PRIV_HEX);
  g_assert_cmpmem (pub.bytes, 4, "\x60\xa4\x79\xd2", 4);
}

static void
test_known_answer_rfc7748 (void)
{
  g_auto(NbWgKey) alice = key_from_b64 (ALICE_PRIV_B64);
  g_auto(NbWgKey) bob = key_from_b64 (BOB_PRIV_B64);
  NbWgKey pub = NB_WG_KEY_INIT;
  char b64[NB_WG_KEY_B64_SIZE];
  char hex[NB_WG_KEY_HEX_SIZE];

  /* unclamped private key: derivation clamps */
  g_assert_cmpint (alice.bytes[0] & 7, !=, 0);
  nb_wg_key_derive_public (&alice, &pub);
  nb_wg_key_to_base64_buf (&pub, b64);
  g_assert_cmpstr (b64, ==, ALICE_PUB_B64);
  nb_wg_key_to_hex_buf (&pub, hex);
  g_assert_cmpstr (hex, ==, ALICE_PUB_HEX);

  nb_wg_key_derive_public (&bob, &pub);
  nb_wg_key_to_base64_buf (&pub, b64);
  g_assert_cmpstr (b64, ==, BOB_PUB_B64);
}

/* ---- text forms ------------------------------------------------------------- */

static void
test_base64_round_trip (void)
{
  guint i;

  for (i = 0; i < 256; i++)
    {
      g_autoptr(GError) error = NULL;
      g_auto(NbWgKey) key = NB_WG_KEY_INIT;
      g_auto(NbWgKey) back = NB_WG_KEY_INIT;
      g_autofree char *text = NULL;

      nb_wg_key_generate_private (&key);
      /* also unclamped values: any 32 bytes are a valid key text */
      key.bytes[0] = (guint8) i;
      key.bytes[31] = (guint8) (255 - i);

      text = nb_wg_key_to_base64 (&key);
      g_assert_cmpuint (strlen (text), ==, NB_WG_KEY_B64_LEN);
      g_assert_cmpint (text[NB_WG_KEY_B64_LEN - 1], ==, '=');
      g_assert_null (strchr (text, '\n'));

      g_assert_true (nb_wg_key_from_base64 (text, &back, &error));
      g_assert_no_error (error);
      g_assert_true (nb_wg_key_equal (&key, &back));
    }
}

static void
test_base64_extremes (void)
{
  NbWgKey zero = NB_WG_KEY_INIT;
  NbWgKey ones;
  NbWgKey parsed;
  char b64[NB_WG_KEY_B64_SIZE];

  nb_wg_key_to_base64_buf (&zero, b64);
  g_assert_cmpstr (b64, ==, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
  parsed = key_from_b64 (b64);
  g_assert_true (nb_wg_key_is_zero (&parsed));
  g_assert_true (nb_wg_key_equal (&parsed, &zero));

  memset (ones.bytes, 0xff, sizeof ones.bytes);
  nb_wg_key_to_base64_buf (&ones, b64);
  g_assert_cmpstr (b64, ==, "//////////////////////////////////////////8=");
  parsed = key_from_b64 (b64);
  g_assert_true (nb_wg_key_equal (&parsed, &ones));
  g_assert_false (nb_wg_key_is_zero (&parsed));
}

static void
test_hex (void)
{
  g_autoptr(GError) error = NULL;
  NbWgKey pub = key_from_b64 (WG_PUB_B64);
  NbWgKey back = NB_WG_KEY_INIT;
  g_autofree char *hex = nb_wg_key_to_hex (&pub);
  g_autofree char *upper = NULL;
  guint i;

  g_assert_cmpstr (hex, ==, WG_PUB_HEX);
  for (i = 0; hex[i]; i++)
    g_assert_false (g_ascii_isupper (hex[i]));

  g_assert_true (nb_wg_key_from_hex (WG_PUB_HEX, &back, &error));
  g_assert_no_error (error);
  g_assert_true (nb_wg_key_equal (&pub, &back));

  /* UAPI writes lowercase; accept uppercase when reading */
  upper = g_ascii_strup (WG_PUB_HEX, -1);
  g_assert_true (nb_wg_key_from_hex (upper, &back, &error));
  g_assert_no_error (error);
  g_assert_true (nb_wg_key_equal (&pub, &back));

  for (i = 0; i < 64; i++)
    {
      g_auto(NbWgKey) key = NB_WG_KEY_INIT;
      char buf[NB_WG_KEY_HEX_SIZE];

      nb_wg_key_generate_private (&key);
      nb_wg_key_to_hex_buf (&key, buf);
      g_assert_cmpuint (strlen (buf), ==, NB_WG_KEY_HEX_LEN);
      g_assert_true (nb_wg_key_from_hex (buf, &back, &error));
      g_assert_no_error (error);
      g_assert_true (nb_wg_key_equal (&key, &back));
    }
}

typedef struct {
  const char *name;
  const char *text;   /* NULL means a NULL argument */
  NbWgKeyError code;
  const char *message_part;
} Refusal;

static const Refusal base64_refusals[] = {
  { "null", NULL, NB_WG_KEY_ERROR_EMPTY, "no key" },
  { "empty", "", NB_WG_KEY_ERROR_EMPTY, "no key" },
  { "43-chars-no-padding", "YKR50rZclegPerEk7ODipOx79r9j/HrNMR0gh6jK/B8",
    NB_WG_KEY_ERROR_BAD_LENGTH, "padding" },
  { "43-chars-with-padding", "YKR50rZclegPerEk7ODipOx79r9j/HrNMR0gh6jK/8=",
    NB_WG_KEY_ERROR_BAD_LENGTH, "got 43" },
  { "45-chars", WG_PUB_B64 "=", NB_WG_KEY_ERROR_BAD_LENGTH, "got 45" },
  { "trailing-newline", WG_PUB_B64 "\n", NB_WG_KEY_ERROR_BAD_LENGTH, "44" },
  { "leading-space", " " WG_PUB_B64, NB_WG_KEY_ERROR_BAD_LENGTH, "44" },
  { "short", "abc=", NB_WG_KEY_ERROR_BAD_LENGTH, "got 4" },
  { "hex-form", WG_PUB_HEX, NB_WG_KEY_ERROR_BAD_LENGTH, "got 64" },
  { "missing-padding", "YKR50rZclegPerEk7ODipOx79r9j/HrNMR0gh6jK/B8A",
    NB_WG_KEY_ERROR_BAD_PADDING, "end with '='" },
  { "double-padding", "YKR50rZclegPerEk7ODipOx79r9j/HrNMR0gh6jK/B==",
    NB_WG_KEY_ERROR_BAD_PADDING, "character 43" },
  { "padding-inside", "YKR50rZcle=PerEk7ODipOx79r9j/HrNMR0gh6jK/B8=",
    NB_WG_KEY_ERROR_BAD_PADDING, "character 11" },
  { "bad-char", "YKR50!ZclegPerEk7ODipOx79r9j/HrNMR0gh6jK/B8=",
    NB_WG_KEY_ERROR_BAD_CHARACTER, "character 6" },
  { "url-safe-minus", "YKR50rZclegPerEk7ODipOx79r9j-HrNMR0gh6jK/B8=",
    NB_WG_KEY_ERROR_BAD_CHARACTER, "character 29" },
  { "url-safe-underscore", "YKR50rZclegPerEk7ODipOx79r9j/HrNMR0gh6jK_B8=",
    NB_WG_KEY_ERROR_BAD_CHARACTER, "character 41" },
  { "space-inside", "YKR50rZclegPerEk7ODip x79r9j/HrNMR0gh6jK/B8=",
    NB_WG_KEY_ERROR_BAD_CHARACTER, "character 22" },
  { "non-ascii", "\xc3\xa9R50rZclegPerEk7ODipOx79r9j/HrNMR0gh6jK/B8=",
    NB_WG_KEY_ERROR_BAD_CHARACTER, "character 1" },
  { "bad-last-char", "YKR50rZclegPerEk7ODipOx79r9j/HrNMR0gh6jK/B8!",
    NB_WG_KEY_ERROR_BAD_CHARACTER, "character 44" },
  /* '9' = 61 = 0b111101: the two unused low bits are not zero */
  { "noncanonical", "YKR50rZclegPerEk7ODipOx79r9j/HrNMR0gh6jK/B9=",
    NB_WG_KEY_ERROR_NONCANONICAL, "canonical" },
};

static void
test_base64_refusal (gconstpointer data)
{
  const Refusal *r = data;
  g_autoptr(GError) error = NULL;
  NbWgKey key;

  memset (&key, 0xaa, sizeof key);
  g_assert_false (nb_wg_key_from_base64 (r->text, &key, &error));
  g_assert_error (error, NB_WG_KEY_ERROR, (gint) r->code);
  g_assert_nonnull (strstr (error->message, r->message_part));
  g_assert_true (nb_wg_key_is_zero (&key));
  if (r->text != NULL)
    assert_no_key_material (error->message, r->text);
  g_test_message ("%s -> %s", r->name, error->message);
}

static const Refusal hex_refusals[] = {
  { "null", NULL, NB_WG_KEY_ERROR_EMPTY, "no key" },
  { "empty", "", NB_WG_KEY_ERROR_EMPTY, "no key" },
  { "63-chars", "60a479d2b65c95e80f7ab124ece0e2a4ec7bf6bf63fc7acd311d2087a8cafc1",
    NB_WG_KEY_ERROR_BAD_LENGTH, "got 63" },
  { "65-chars", WG_PUB_HEX "0", NB_WG_KEY_ERROR_BAD_LENGTH, "got 65" },
  { "base64-form", WG_PUB_B64, NB_WG_KEY_ERROR_BAD_LENGTH, "got 44" },
  { "bad-char", "60a479d2b65c95e80f7ab124ece0e2a4ec7bf6bf63fc7acd311d2087a8cafcg1",
    NB_WG_KEY_ERROR_BAD_CHARACTER, "character 63" },
  { "0x-prefix", "0xa479d2b65c95e80f7ab124ece0e2a4ec7bf6bf63fc7acd311d2087a8cafc1f",
    NB_WG_KEY_ERROR_BAD_CHARACTER, "character 2" },
  { "space", "60a479d2b65c95e80f7ab124ece0e2a4 c7bf6bf63fc7acd311d2087a8cafc1f",
    NB_WG_KEY_ERROR_BAD_CHARACTER, "character 33" },
};

static void
test_hex_refusal (gconstpointer data)
{
  const Refusal *r = data;
  g_autoptr(GError) error = NULL;
  NbWgKey key;

  memset (&key, 0xaa, sizeof key);
  g_assert_false (nb_wg_key_from_hex (r->text, &key, &error));
  g_assert_error (error, NB_WG_KEY_ERROR, (gint) r->code);
  g_assert_nonnull (strstr (error->message, r->message_part));
  g_assert_true (nb_wg_key_is_zero (&key));
  if (r->text != NULL)
    assert_no_key_material (error->message, r->text);
  g_test_message ("%s -> %s", r->name, error->message);
}

static void
test_error_quark (void)
{
  g_assert_cmpstr (g_quark_to_string (NB_WG_KEY_ERROR), ==, "nb-wg-key-error-quark");
}

/* ---- equality and ordering ----------------------------------------------------- */

static void
test_equal (void)
{
  NbWgKey a = key_from_b64 (WG_PUB_B64);
  NbWgKey b = a;
  guint i;

  g_assert_true (nb_wg_key_equal (&a, &b));
  for (i = 0; i < NB_WG_KEY_LEN * 8; i++)
    {
      b = a;
      b.bytes[i / 8] ^= (guint8) (1u << (i % 8));
      g_assert_false (nb_wg_key_equal (&a, &b));
    }
}

static void
test_string_compare (void)
{
  /* the controller rule is Go's `>` on the base64 strings */
  g_assert_cmpint (nb_wg_key_string_compare (WG_PUB_B64, WG_PUB_B64), ==, 0);
  g_assert_cmpint (nb_wg_key_string_compare (WG_PUB_B64, ALICE_PUB_B64), ==, -1); /* 'Y' < 'h' */
  g_assert_cmpint (nb_wg_key_string_compare (ALICE_PUB_B64, WG_PUB_B64), ==, 1);
  g_assert_cmpint (nb_wg_key_string_compare (BOB_PUB_B64, ALICE_PUB_B64), ==, -1); /* '3' < 'h' */

  /* ASCII order of the alphabet: + < / < 0-9 < A-Z < a-z */
  g_assert_cmpint (nb_wg_key_string_compare ("+AAA", "/AAA"), ==, -1);
  g_assert_cmpint (nb_wg_key_string_compare ("/AAA", "0AAA"), ==, -1);
  g_assert_cmpint (nb_wg_key_string_compare ("9AAA", "AAAA"), ==, -1);
  g_assert_cmpint (nb_wg_key_string_compare ("ZAAA", "aAAA"), ==, -1);
  g_assert_cmpint (nb_wg_key_string_compare ("zAAA", "aAAA"), ==, 1);
  /* first difference decides, late in the string */
  g_assert_cmpint (nb_wg_key_string_compare ("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB=",
                                             "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="), ==, 1);
  /* a prefix sorts first, bytes compare unsigned (Go semantics) */
  g_assert_cmpint (nb_wg_key_string_compare ("abc", "abcd"), ==, -1);
  g_assert_cmpint (nb_wg_key_string_compare ("\xc3", "z"), ==, 1);
  /* NULL sorts first */
  g_assert_cmpint (nb_wg_key_string_compare (NULL, "A"), ==, -1);
  g_assert_cmpint (nb_wg_key_string_compare ("A", NULL), ==, 1);
  g_assert_cmpint (nb_wg_key_string_compare (NULL, NULL), ==, 0);
}

static void
test_key_compare (void)
{
  NbWgKey lo = NB_WG_KEY_INIT;
  NbWgKey hi = NB_WG_KEY_INIT;
  guint i;

  /* Raw bytes 0xf8... encode as "+..." and 0x00... as "A...": by bytes
   * the first is larger, by NetBird's (string) order it is smaller. */
  hi.bytes[0] = 0xf8;
  g_assert_cmpint (memcmp (hi.bytes, lo.bytes, NB_WG_KEY_LEN), >, 0);
  g_assert_cmpint (nb_wg_key_compare (&hi, &lo), ==, -1);
  g_assert_cmpint (nb_wg_key_compare (&lo, &hi), ==, 1);
  g_assert_cmpint (nb_wg_key_compare (&lo, &lo), ==, 0);

  /* 0xfc -> "/", 0xd0 -> "0": again the opposite of byte order */
  lo.bytes[0] = 0xd0;
  hi.bytes[0] = 0xfc;
  g_assert_cmpint (nb_wg_key_compare (&hi, &lo), ==, -1);

  for (i = 0; i < 100; i++)
    {
      NbWgKey a, b;
      char sa[NB_WG_KEY_B64_SIZE], sb[NB_WG_KEY_B64_SIZE];

      nb_wg_key_generate_private (&a);
      nb_wg_key_generate_private (&b);
      nb_wg_key_to_base64_buf (&a, sa);
      nb_wg_key_to_base64_buf (&b, sb);
      g_assert_cmpint (nb_wg_key_compare (&a, &b), ==, nb_wg_key_string_compare (sa, sb));
      g_assert_cmpint (nb_wg_key_compare (&a, &b), ==, -nb_wg_key_compare (&b, &a));
    }
}

/* ---- memory --------------------------------------------------------------------- */

static void
test_dup_free_clear (void)
{
  g_autoptr(NbWgKey) copy = NULL;
  NbWgKey key;

  nb_wg_key_generate_private (&key);
  copy = nb_wg_key_dup (&key);
  g_assert_true (copy != &key);
  g_assert_true (nb_wg_key_equal (copy, &key));

  nb_wg_key_clear (&key);
  g_assert_true (nb_wg_key_is_zero (&key));
  g_assert_false (nb_wg_key_is_zero (copy));

  nb_wg_key_free (NULL);
  nb_wg_key_clear (NULL);
}

/* ---- key file ------------------------------------------------------------------------ */

typedef struct {
  char *dir;
} FileFixture;

static void
file_setup (FileFixture *f,
            gconstpointer data)
{
  g_autoptr(GError) error = NULL;

  f->dir = g_dir_make_tmp ("test-wg-key-XXXXXX", &error);
  g_assert_no_error (error);
}

static void
file_teardown (FileFixture *f,
               gconstpointer data)
{
  g_autoptr(GDir) dir = g_dir_open (f->dir, 0, NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = g_build_filename (f->dir, name, NULL);
      if (g_remove (path) != 0)
        g_error ("cannot remove %s: %s", path, g_strerror (errno));
    }
  g_assert_cmpint (g_rmdir (f->dir), ==, 0);
  g_free (f->dir);
}

static char *
write_file (FileFixture *f,
            const char  *name,
            const char  *contents,
            gssize       len,
            int          mode)
{
  g_autoptr(GError) error = NULL;
  char *path = g_build_filename (f->dir, name, NULL);

  g_assert_true (g_file_set_contents (path, contents, len, &error));
  g_assert_no_error (error);
  g_assert_cmpint (g_chmod (path, mode), ==, 0);
  return path;
}

static guint
file_mode (const char *path)
{
  GStatBuf st;

  g_assert_cmpint (g_stat (path, &st), ==, 0);
  return st.st_mode & 07777;
}

static void
test_file_save_load (FileFixture *f,
                     gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *path = g_build_filename (f->dir, "private.key", NULL);
  g_autofree char *contents = NULL;
  g_auto(NbWgKey) key = NB_WG_KEY_INIT;
  g_auto(NbWgKey) loaded = NB_WG_KEY_INIT;
  g_autoptr(GDir) dir = NULL;
  NbWgKey pub, pub2;
  const char *name;
  guint n_entries = 0;

  nb_wg_key_generate_private (&key);
  g_assert_true (nb_wg_key_save_private_file (path, &key, &error));
  g_assert_no_error (error);
  g_assert_cmphex (file_mode (path), ==, 0600);

  /* one line, like `wg genkey > file` */
  g_assert_true (g_file_get_contents (path, &contents, NULL, NULL));
  g_assert_cmpuint (strlen (contents), ==, NB_WG_KEY_B64_LEN + 1);
  g_assert_cmpint (contents[NB_WG_KEY_B64_LEN], ==, '\n');

  g_assert_true (nb_wg_key_load_private_file (path, &loaded, &error));
  g_assert_no_error (error);
  g_assert_true (nb_wg_key_equal (&key, &loaded));
  nb_wg_key_derive_public (&key, &pub);
  nb_wg_key_derive_public (&loaded, &pub2);
  g_assert_true (nb_wg_key_equal (&pub, &pub2));

  /* atomic write leaves no temporary files behind */
  dir = g_dir_open (f->dir, 0, NULL);
  while ((name = g_dir_read_name (dir)) != NULL)
    n_entries++;
  g_assert_cmpuint (n_entries, ==, 1);

  /* saving again replaces the key */
  nb_wg_key_generate_private (&key);
  g_assert_true (nb_wg_key_save_private_file (path, &key, &error));
  g_assert_no_error (error);
  g_assert_true (nb_wg_key_load_private_file (path, &loaded, &error));
  g_assert_no_error (error);
  g_assert_true (nb_wg_key_equal (&key, &loaded));
}

static void
test_file_save_replaces_insecure_file (FileFixture *f,
                                   gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *path = write_file (f, "private.key", "old contents\n", -1, 0644);
  g_auto(NbWgKey) key = NB_WG_KEY_INIT;
  g_auto(NbWgKey) loaded = NB_WG_KEY_INIT;

  g_assert_cmphex (file_mode (path), ==, 0644);
  nb_wg_key_generate_private (&key);
  g_assert_true (nb_wg_key_save_private_file (path, &key, &error));
  g_assert_no_error (error);
  g_assert_cmphex (file_mode (path), ==, 0600);
  g_assert_true (nb_wg_key_load_private_file (path, &loaded, &error));
  g_assert_no_error (error);
  g_assert_true (nb_wg_key_equal (&key, &loaded));
}

static void
test_file_save_no_dir (FileFixture *f,
                       gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *path = g_build_filename (f->dir, "missing", "private.key", NULL);
  g_auto(NbWgKey) key = key_from_b64 (WG_PRIV_B64);

  g_assert_false (nb_wg_key_save_private_file (path, &key, &error));
  g_assert_error (error, NB_WG_KEY_ERROR, NB_WG_KEY_ERROR_FILE_IO);
  assert_no_key_material (error->message, WG_PRIV_B64);
}

static void
test_file_wg_genkey_format (FileFixture *f,
                            gconstpointer data)
{
  static const char *const forms[] = {
    WG_PRIV_B64 "\n",          /* wg genkey > file */
    WG_PRIV_B64,               /* no newline */
    WG_PRIV_B64 "\r\n",
    "  " WG_PRIV_B64 " \n\n",
  };
  NbWgKey want = key_from_b64 (WG_PRIV_B64);
  NbWgKey pub;
  char pub_b64[NB_WG_KEY_B64_SIZE];
  guint i;

  for (i = 0; i < G_N_ELEMENTS (forms); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autofree char *name = g_strdup_printf ("k%u", i);
      g_autofree char *path = write_file (f, name, forms[i], -1, 0600);
      g_auto(NbWgKey) loaded = NB_WG_KEY_INIT;

      g_assert_true (nb_wg_key_load_private_file (path, &loaded, &error));
      g_assert_no_error (error);
      g_assert_true (nb_wg_key_equal (&want, &loaded));
      nb_wg_key_derive_public (&loaded, &pub);
      nb_wg_key_to_base64_buf (&pub, pub_b64);
      g_assert_cmpstr (pub_b64, ==, WG_PUB_B64);
    }
  nb_wg_key_clear (&want);
}

static void
test_file_insecure_mode (FileFixture *f,
                         gconstpointer data)
{
  static const int modes[] = { 0644, 0640, 0604, 0620, 0602, 0660, 0666, 0610 };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (modes); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autofree char *name = g_strdup_printf ("k%o", (guint) modes[i]);
      g_autofree char *path = write_file (f, name, WG_PRIV_B64 "\n", -1, modes[i]);
      g_autofree char *mode_text = g_strdup_printf ("%04o", (guint) modes[i]);
      NbWgKey key;

      memset (&key, 0xaa, sizeof key);
      g_assert_false (nb_wg_key_load_private_file (path, &key, &error));
      g_assert_error (error, NB_WG_KEY_ERROR, NB_WG_KEY_ERROR_FILE_INSECURE);
      g_assert_nonnull (strstr (error->message, name));
      g_assert_nonnull (strstr (error->message, mode_text));
      g_assert_nonnull (strstr (error->message, "0600"));
      assert_no_key_material (error->message, WG_PRIV_B64);
      g_assert_true (nb_wg_key_is_zero (&key));
      g_test_message ("%s", error->message);
    }
}

static void
test_file_owner_only_modes (FileFixture *f,
                            gconstpointer data)
{
  /* read-only for the owner is fine too */
  static const int modes[] = { 0600, 0400 };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (modes); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autofree char *name = g_strdup_printf ("k%o", (guint) modes[i]);
      g_autofree char *path = write_file (f, name, WG_PRIV_B64 "\n", -1, modes[i]);
      g_auto(NbWgKey) key = NB_WG_KEY_INIT;

      g_assert_true (nb_wg_key_load_private_file (path, &key, &error));
      g_assert_no_error (error);
    }
}

static void
test_file_missing (FileFixture *f,
                   gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *path = g_build_filename (f->dir, "nope.key", NULL);
  NbWgKey key;

  g_assert_false (nb_wg_key_load_private_file (path, &key, &error));
  g_assert_error (error, NB_WG_KEY_ERROR, NB_WG_KEY_ERROR_FILE_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, "nope.key"));
}

static void
test_file_garbage (FileFixture *f,
                   gconstpointer data)
{
  static const struct {
    const char *contents;
    gssize len;
  } cases[] = {
    { "", 0 },
    { "\n", -1 },
    { "hello world\n", -1 },
    { WG_PRIV_HEX "\n", -1 },                                   /* hex form */
    { WG_PRIV_B64 "\n" WG_PUB_B64 "\n", -1 },                   /* two keys */
    { WG_PRIV_B64 " trailing\n", -1 },
    { "8AY6e6GLDqUpp/wdgltmDhyXD6Hm6jHePc5mMudemWA\n", -1 },   /* no padding */
    { "8AY6e6GLDqUpp-wdgltmDhyXD6Hm6jHePc5mMudemWA=\n", -1 },  /* url-safe */
    { WG_PRIV_B64 "\0junk", sizeof (WG_PRIV_B64 "\0junk") - 1 }, /* NUL inside */
    { "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n", -1 },   /* all-zero key */
    { "[Interface]\nPrivateKey = " WG_PRIV_B64 "\n", -1 },      /* a wg config */
  };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autofree char *name = g_strdup_printf ("garbage%u", i);
      g_autofree char *path = write_file (f, name, cases[i].contents, cases[i].len, 0600);
      NbWgKey key;

      memset (&key, 0xaa, sizeof key);
      g_assert_false (nb_wg_key_load_private_file (path, &key, &error));
      g_assert_error (error, NB_WG_KEY_ERROR, NB_WG_KEY_ERROR_FILE_CORRUPT);
      g_assert_nonnull (strstr (error->message, name));
      assert_no_key_material (error->message, WG_PRIV_B64);
      g_assert_true (nb_wg_key_is_zero (&key));
      g_test_message ("%s", error->message);
    }
}

static void
test_file_too_large (FileFixture *f,
                     gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GString) big = g_string_new (WG_PRIV_B64);
  g_autofree char *path = NULL;
  NbWgKey key;

  while (big->len < 4096)
    g_string_append_c (big, ' ');
  path = write_file (f, "big.key", big->str, (gssize) big->len, 0600);
  g_assert_false (nb_wg_key_load_private_file (path, &key, &error));
  g_assert_error (error, NB_WG_KEY_ERROR, NB_WG_KEY_ERROR_FILE_CORRUPT);
  g_assert_nonnull (strstr (error->message, "too large"));
}

static void
test_file_not_regular (FileFixture *f,
                       gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *subdir = g_build_filename (f->dir, "subdir", NULL);
  g_autofree char *fifo = g_build_filename (f->dir, "fifo", NULL);
  NbWgKey key;

  g_assert_cmpint (g_mkdir (subdir, 0700), ==, 0);
  g_assert_false (nb_wg_key_load_private_file (subdir, &key, &error));
  g_assert_error (error, NB_WG_KEY_ERROR, NB_WG_KEY_ERROR_FILE_IO);
  g_clear_error (&error);

  /* a FIFO must be refused, not block */
  g_assert_cmpint (mkfifo (fifo, 0600), ==, 0);
  g_assert_false (nb_wg_key_load_private_file (fifo, &key, &error));
  g_assert_error (error, NB_WG_KEY_ERROR, NB_WG_KEY_ERROR_FILE_IO);
  g_assert_nonnull (strstr (error->message, "regular"));
}

static void
test_file_symlink (FileFixture *f,
                   gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *target = write_file (f, "real.key", WG_PRIV_B64 "\n", -1, 0600);
  g_autofree char *link = g_build_filename (f->dir, "link.key", NULL);
  NbWgKey key;

  g_assert_cmpint (symlink (target, link), ==, 0);
  g_assert_false (nb_wg_key_load_private_file (link, &key, &error));
  g_assert_error (error, NB_WG_KEY_ERROR, NB_WG_KEY_ERROR_FILE_INSECURE);
  g_assert_nonnull (strstr (error->message, "symbolic link"));
}

int
main (int argc, char **argv)
{
  guint i;

  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/wg-key/generate", test_generate);
  g_test_add_func ("/wg-key/known-answer/wg-pubkey", test_known_answer_wg);
  g_test_add_func ("/wg-key/known-answer/rfc7748", test_known_answer_rfc7748);
  g_test_add_func ("/wg-key/base64/round-trip", test_base64_round_trip);
  g_test_add_func ("/wg-key/base64/extremes", test_base64_extremes);
  g_test_add_func ("/wg-key/hex", test_hex);
  for (i = 0; i < G_N_ELEMENTS (base64_refusals); i++)
    {
      g_autofree char *name = g_strdup_printf ("/wg-key/base64/refuse/%s", base64_refusals[i].name);
      g_test_add_data_func (name, &base64_refusals[i], test_base64_refusal);
    }
  for (i = 0; i < G_N_ELEMENTS (hex_refusals); i++)
    {
      g_autofree char *name = g_strdup_printf ("/wg-key/hex/refuse/%s", hex_refusals[i].name);
      g_test_add_data_func (name, &hex_refusals[i], test_hex_refusal);
    }
  g_test_add_func ("/wg-key/error-quark", test_error_quark);
  g_test_add_func ("/wg-key/equal", test_equal);
  g_test_add_func ("/wg-key/compare/strings", test_string_compare);
  g_test_add_func ("/wg-key/compare/keys", test_key_compare);
  g_test_add_func ("/wg-key/dup-free-clear", test_dup_free_clear);

#define ADD_FILE_TEST(path, func) \
  g_test_add (path, FileFixture, NULL, file_setup, func, file_teardown)
  ADD_FILE_TEST ("/wg-key/file/save-load", test_file_save_load);
  ADD_FILE_TEST ("/wg-key/file/save-replaces-insecure-file", test_file_save_replaces_insecure_file);
  ADD_FILE_TEST ("/wg-key/file/save-no-dir", test_file_save_no_dir);
  ADD_FILE_TEST ("/wg-key/file/wg-genkey-format", test_file_wg_genkey_format);
  ADD_FILE_TEST ("/wg-key/file/insecure-mode", test_file_insecure_mode);
  ADD_FILE_TEST ("/wg-key/file/owner-only-modes", test_file_owner_only_modes);
  ADD_FILE_TEST ("/wg-key/file/missing", test_file_missing);
  ADD_FILE_TEST ("/wg-key/file/garbage", test_file_garbage);
  ADD_FILE_TEST ("/wg-key/file/too-large", test_file_too_large);
  ADD_FILE_TEST ("/wg-key/file/not-regular", test_file_not_regular);
  ADD_FILE_TEST ("/wg-key/file/symlink", test_file_symlink);
#undef ADD_FILE_TEST

  return g_test_run ();
}
