/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Tests for service/netbird/box.c: NetBird's nonce || crypto_box sealing. */

#include "config.h"

#include <string.h>

#include <glib.h>
#include <sodium.h>

#include "box.h"
#include "wg-key.h"

/* The classic crypto_box test vector from D. J. Bernstein, "Cryptography in
 * NaCl" (2009), section 7, as carried by NaCl's tests/box.c and libsodium's
 * test/default/box.c + box.exp. Alice's and Bob's keys are also RFC 7748's. */
#define KAT_ALICE_SK "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"
#define KAT_ALICE_PK "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"
#define KAT_BOB_SK   "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb"
#define KAT_BOB_PK   "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f"
#define KAT_NONCE    "69696ee955b62b73cd62bda875fc73d68219e0036b7a0b37"
/* 131-byte message */
#define KAT_MESSAGE \
  "be075fc53c81f2d5cf141316ebeb0c7b5228c52a4c62cbd44b66849b64244ffc" \
  "e5ecbaaf33bd751a1ac728d45e6c61296cdc3c01233561f41db66cce314adb31" \
  "0e3be8250c46f06dceea3a7fa1348057e2f6556ad6b1318a024a838f21af1fde" \
  "048977eb48f59ffd4924ca1c60902e52f0a089bc76897040e082f93776384864" \
  "5e0705"
/* 147 bytes: the 16-byte Poly1305 MAC, then the 131-byte ciphertext
 * (crypto_box_easy() layout; in NaCl's zero-padded API these are bytes
 * 16..162 of the output). */
#define KAT_BOX \
  "f3ffc7703f9400e52a7dfb4b3d3305d98e993b9f48681273c29650ba32fc76ce" \
  "48332ea7164d96a4476fb8c531a1186ac0dfc17c98dce87b4da7f011ec48c972" \
  "71d2c20f9b928fe2270d6fb863d51738b48eeee314a7cc8ab932164548e526ae" \
  "90224368517acfeabd6bb3732bc0e9da99832b61ca01b6de56244a9e88d5f9b3" \
  "7973f622a43d14a6599b1f654cb45a74e355a5"

/* A point of order 8 on Curve25519 (libsodium's test/default/box.c). */
#define SMALL_ORDER_POINT "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"

static GBytes *
hex_bytes (const char *hex)
{
  gsize len = strlen (hex);
  guint8 *buf;
  gsize i;

  g_assert_cmpuint (len % 2, ==, 0);
  buf = g_malloc (len / 2 + 1);
  for (i = 0; i < len / 2; i++)
    {
      int hi = g_ascii_xdigit_value (hex[2 * i]);
      int lo = g_ascii_xdigit_value (hex[2 * i + 1]);
      g_assert_cmpint (hi, >=, 0);
      g_assert_cmpint (lo, >=, 0);
      buf[i] = (guint8) ((hi << 4) | lo);
    }
  return g_bytes_new_take (buf, len / 2);
}

static NbWgKey
hex_key (const char *hex)
{
  g_autoptr(GError) error = NULL;
  NbWgKey key = NB_WG_KEY_INIT;

  g_assert_true (nb_wg_key_from_hex (hex, &key, &error));
  g_assert_no_error (error);
  return key;
}

typedef struct {
  NbWgKey priv;
  NbWgKey pub;
} KeyPair;

static KeyPair
key_pair_generate (void)
{
  KeyPair kp;

  nb_wg_key_generate_private (&kp.priv);
  nb_wg_key_derive_public (&kp.priv, &kp.pub);
  return kp;
}

static void
assert_bytes_equal (GBytes       *got,
                    const guint8 *want,
                    gsize         want_len)
{
  gsize len;
  const guint8 *data = g_bytes_get_data (got, &len);

  g_assert_cmpmem (data, len, want, want_len);
}

/* ---- known answers ----------------------------------------------------------- */

static void
test_kat_keys (void)
{
  NbWgKey alice_sk = hex_key (KAT_ALICE_SK);
  NbWgKey bob_sk = hex_key (KAT_BOB_SK);
  NbWgKey want, got;

  nb_wg_key_derive_public (&alice_sk, &got);
  want = hex_key (KAT_ALICE_PK);
  g_assert_true (nb_wg_key_equal (&got, &want));

  nb_wg_key_derive_public (&bob_sk, &got);
  want = hex_key (KAT_BOB_PK);
  g_assert_true (nb_wg_key_equal (&got, &want));
}

static void
test_kat_seal (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) nonce = hex_bytes (KAT_NONCE);
  g_autoptr(GBytes) message = hex_bytes (KAT_MESSAGE);
  g_autoptr(GBytes) box = hex_bytes (KAT_BOX);
  g_autoptr(GBytes) sealed = NULL;
  NbWgKey alice_sk = hex_key (KAT_ALICE_SK);
  NbWgKey bob_pk = hex_key (KAT_BOB_PK);
  const guint8 *data;
  gsize len;

  g_assert_cmpuint (g_bytes_get_size (nonce), ==, NB_BOX_NONCE_LEN);
  g_assert_cmpuint (g_bytes_get_size (message), ==, 131);
  g_assert_cmpuint (g_bytes_get_size (box), ==, 147);

  sealed = nb_box_seal_with_nonce (g_bytes_get_data (message, NULL),
                                   g_bytes_get_size (message),
                                   g_bytes_get_data (nonce, NULL),
                                   &bob_pk, &alice_sk, &error);
  g_assert_no_error (error);
  g_assert_nonnull (sealed);

  data = g_bytes_get_data (sealed, &len);
  g_assert_cmpuint (len, ==, NB_BOX_OVERHEAD + 131);
  /* nonce first, then MAC || ciphertext */
  g_assert_cmpmem (data, NB_BOX_NONCE_LEN,
                   g_bytes_get_data (nonce, NULL), NB_BOX_NONCE_LEN);
  g_assert_cmpmem (data + NB_BOX_NONCE_LEN, len - NB_BOX_NONCE_LEN,
                   g_bytes_get_data (box, NULL), g_bytes_get_size (box));
}

static void
test_kat_open (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) nonce = hex_bytes (KAT_NONCE);
  g_autoptr(GBytes) message = hex_bytes (KAT_MESSAGE);
  g_autoptr(GBytes) box = hex_bytes (KAT_BOX);
  g_autoptr(GByteArray) sealed = g_byte_array_new ();
  g_autoptr(GBytes) opened = NULL;
  NbWgKey bob_sk = hex_key (KAT_BOB_SK);
  NbWgKey alice_pk = hex_key (KAT_ALICE_PK);

  g_byte_array_append (sealed, g_bytes_get_data (nonce, NULL), g_bytes_get_size (nonce));
  g_byte_array_append (sealed, g_bytes_get_data (box, NULL), g_bytes_get_size (box));

  opened = nb_box_open (sealed->data, sealed->len, &alice_pk, &bob_sk, &error);
  g_assert_no_error (error);
  g_assert_nonnull (opened);
  assert_bytes_equal (opened, g_bytes_get_data (message, NULL), g_bytes_get_size (message));
}

/* Independent check against libsodium's one-shot API with random inputs. */
static void
test_matches_crypto_box_easy (void)
{
  guint i;

  for (i = 0; i < 32; i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(GBytes) sealed = NULL;
      KeyPair a = key_pair_generate ();
      KeyPair b = key_pair_generate ();
      guint8 nonce[NB_BOX_NONCE_LEN];
      gsize pt_len = g_test_rand_int_range (0, 300);
      g_autofree guint8 *pt = g_malloc (pt_len + 1);
      g_autofree guint8 *want = g_malloc (pt_len + crypto_box_MACBYTES);
      const guint8 *data;
      gsize len;

      randombytes_buf (nonce, sizeof nonce);
      randombytes_buf (pt, pt_len);
      g_assert_cmpint (crypto_box_easy (want, pt, pt_len, nonce, b.pub.bytes, a.priv.bytes), ==, 0);

      sealed = nb_box_seal_with_nonce (pt, pt_len, nonce, &b.pub, &a.priv, &error);
      g_assert_no_error (error);
      data = g_bytes_get_data (sealed, &len);
      g_assert_cmpmem (data, NB_BOX_NONCE_LEN, nonce, NB_BOX_NONCE_LEN);
      g_assert_cmpmem (data + NB_BOX_NONCE_LEN, len - NB_BOX_NONCE_LEN,
                       want, pt_len + crypto_box_MACBYTES);
    }
}

/* ---- round trips ------------------------------------------------------------------- */

static void
seal_and_open (const KeyPair *from,
               const KeyPair *to,
               gsize          pt_len)
{
  g_autoptr(GError) error = NULL;
  g_autofree guint8 *pt = g_malloc (pt_len + 1);
  g_autoptr(GBytes) sealed = NULL;
  g_autoptr(GBytes) opened = NULL;

  randombytes_buf (pt, pt_len);
  sealed = nb_box_seal (pt, pt_len, &to->pub, &from->priv, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_bytes_get_size (sealed), ==, NB_BOX_OVERHEAD + pt_len);

  opened = nb_box_open (g_bytes_get_data (sealed, NULL), g_bytes_get_size (sealed),
                        &from->pub, &to->priv, &error);
  g_assert_no_error (error);
  g_assert_nonnull (opened);
  assert_bytes_equal (opened, pt, pt_len);
}

static void
test_round_trip (void)
{
  static const gsize lengths[] = { 0, 1, 15, 16, 17, 31, 32, 33, 63, 64, 65, 131, 1000, 65536 };
  KeyPair alice = key_pair_generate ();
  KeyPair bob = key_pair_generate ();
  guint i;

  for (i = 0; i < G_N_ELEMENTS (lengths); i++)
    {
      seal_and_open (&alice, &bob, lengths[i]);
      seal_and_open (&bob, &alice, lengths[i]);
    }
}

static void
test_self_addressed (void)
{
  /* HEARTBEAT: key = remoteKey = our own key */
  KeyPair me = key_pair_generate ();

  seal_and_open (&me, &me, 0);
  seal_and_open (&me, &me, 100);
}

static void
test_random_nonce (void)
{
  g_autoptr(GError) error = NULL;
  static const guint8 pt[] = "the same message twice";
  KeyPair alice = key_pair_generate ();
  KeyPair bob = key_pair_generate ();
  g_autoptr(GBytes) one = nb_box_seal (pt, sizeof pt, &bob.pub, &alice.priv, &error);
  g_autoptr(GBytes) two = nb_box_seal (pt, sizeof pt, &bob.pub, &alice.priv, &error);

  g_assert_no_error (error);
  g_assert_false (g_bytes_equal (one, two));
  g_assert_true (memcmp (g_bytes_get_data (one, NULL), g_bytes_get_data (two, NULL),
                         NB_BOX_NONCE_LEN) != 0);
}

static void
test_empty_plaintext (void)
{
  g_autoptr(GError) error = NULL;
  KeyPair alice = key_pair_generate ();
  KeyPair bob = key_pair_generate ();
  g_autoptr(GBytes) sealed = NULL;
  g_autoptr(GBytes) opened = NULL;

  sealed = nb_box_seal (NULL, 0, &bob.pub, &alice.priv, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_bytes_get_size (sealed), ==, NB_BOX_OVERHEAD);
  g_assert_cmpuint (g_bytes_get_size (sealed), ==, 40);

  opened = nb_box_open (g_bytes_get_data (sealed, NULL), g_bytes_get_size (sealed),
                        &alice.pub, &bob.priv, &error);
  g_assert_no_error (error);
  g_assert_nonnull (opened);
  g_assert_cmpuint (g_bytes_get_size (opened), ==, 0);
}

/* ---- refusals ------------------------------------------------------------------------- */

static void
assert_open_fails (const guint8  *sealed,
                   gsize          len,
                   const NbWgKey *sender_pub,
                   const NbWgKey *recipient_priv,
                   NbBoxError     code)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) opened = nb_box_open (sealed, len, sender_pub, recipient_priv, &error);

  g_assert_null (opened);
  g_assert_error (error, NB_BOX_ERROR, (gint) code);
}

static void
test_wrong_key (void)
{
  g_autoptr(GError) error = NULL;
  static const guint8 pt[] = "offer";
  KeyPair alice = key_pair_generate ();
  KeyPair bob = key_pair_generate ();
  KeyPair carol = key_pair_generate ();
  g_autoptr(GBytes) sealed = nb_box_seal (pt, sizeof pt, &bob.pub, &alice.priv, &error);
  const guint8 *data;
  gsize len;

  g_assert_no_error (error);
  data = g_bytes_get_data (sealed, &len);

  /* not for carol */
  assert_open_fails (data, len, &alice.pub, &carol.priv, NB_BOX_ERROR_OPEN_FAILED);
  /* not from carol */
  assert_open_fails (data, len, &carol.pub, &bob.priv, NB_BOX_ERROR_OPEN_FAILED);
  /* keys swapped into the wrong roles */
  assert_open_fails (data, len, &bob.pub, &bob.priv, NB_BOX_ERROR_OPEN_FAILED);
  /* a public key used as a private key */
  assert_open_fails (data, len, &alice.pub, &bob.pub, NB_BOX_ERROR_OPEN_FAILED);

  /* crypto_box is symmetric: the sender can open what it sealed */
  {
    g_autoptr(GBytes) opened = nb_box_open (data, len, &bob.pub, &alice.priv, &error);
    g_assert_no_error (error);
    assert_bytes_equal (opened, pt, sizeof pt);
  }
}

static void
test_bit_flips (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) message = hex_bytes (KAT_MESSAGE);
  KeyPair alice = key_pair_generate ();
  KeyPair bob = key_pair_generate ();
  g_autoptr(GBytes) sealed = nb_box_seal (g_bytes_get_data (message, NULL),
                                          g_bytes_get_size (message),
                                          &bob.pub, &alice.priv, &error);
  gsize len;
  g_autofree guint8 *copy = g_bytes_unref_to_data (g_steal_pointer (&sealed), &len);
  gsize bit;

  g_assert_no_error (error);
  /* every bit: nonce, MAC and ciphertext */
  for (bit = 0; bit < len * 8; bit++)
    {
      copy[bit / 8] ^= (guint8) (1u << (bit % 8));
      assert_open_fails (copy, len, &alice.pub, &bob.priv, NB_BOX_ERROR_OPEN_FAILED);
      copy[bit / 8] ^= (guint8) (1u << (bit % 8));
    }

  /* and the untouched message still opens */
  {
    g_autoptr(GBytes) opened = nb_box_open (copy, len, &alice.pub, &bob.priv, &error);
    g_assert_no_error (error);
    assert_bytes_equal (opened, g_bytes_get_data (message, NULL), g_bytes_get_size (message));
  }
}

static void
test_truncated (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) message = hex_bytes (KAT_MESSAGE);
  KeyPair alice = key_pair_generate ();
  KeyPair bob = key_pair_generate ();
  g_autoptr(GBytes) sealed = nb_box_seal (g_bytes_get_data (message, NULL),
                                          g_bytes_get_size (message),
                                          &bob.pub, &alice.priv, &error);
  gsize full;
  const guint8 *data = g_bytes_get_data (sealed, &full);
  g_autofree guint8 *longer = g_malloc (full + 1);
  gsize len;

  g_assert_no_error (error);

  /* shorter than nonce + MAC: "too short", whatever the bytes */
  for (len = 0; len < NB_BOX_OVERHEAD; len++)
    {
      g_autofree guint8 *exact = g_memdup2 (data, MAX (len, 1));
      assert_open_fails (exact, len, &alice.pub, &bob.priv, NB_BOX_ERROR_TOO_SHORT);
    }
  assert_open_fails (NULL, 0, &alice.pub, &bob.priv, NB_BOX_ERROR_TOO_SHORT);

  /* long enough but cut: the MAC does not verify */
  for (len = NB_BOX_OVERHEAD; len < full; len++)
    {
      g_autofree guint8 *exact = g_memdup2 (data, len);
      assert_open_fails (exact, len, &alice.pub, &bob.priv, NB_BOX_ERROR_OPEN_FAILED);
    }

  /* one byte appended */
  memcpy (longer, data, full);
  longer[full] = 0;
  assert_open_fails (longer, full + 1, &alice.pub, &bob.priv, NB_BOX_ERROR_OPEN_FAILED);
}

static void
test_too_short_message (void)
{
  g_autoptr(GError) error = NULL;
  guint8 buf[NB_BOX_OVERHEAD - 1] = { 0 };
  KeyPair me = key_pair_generate ();
  g_autoptr(GBytes) opened = nb_box_open (buf, sizeof buf, &me.pub, &me.priv, &error);

  g_assert_null (opened);
  g_assert_error (error, NB_BOX_ERROR, NB_BOX_ERROR_TOO_SHORT);
  g_assert_nonnull (strstr (error->message, "39 bytes"));
  g_assert_nonnull (strstr (error->message, "40"));
}

static void
test_random_garbage (void)
{
  KeyPair alice = key_pair_generate ();
  KeyPair bob = key_pair_generate ();
  guint i;

  for (i = 0; i < 500; i++)
    {
      g_autoptr(GError) error = NULL;
      gsize len = g_test_rand_int_range (0, 200);
      g_autofree guint8 *buf = g_malloc (len + 1);
      g_autoptr(GBytes) opened = NULL;

      randombytes_buf (buf, len);
      opened = nb_box_open (buf, len, &alice.pub, &bob.priv, &error);
      g_assert_null (opened);
      g_assert_error (error, NB_BOX_ERROR,
                      (len < NB_BOX_OVERHEAD ? NB_BOX_ERROR_TOO_SHORT : NB_BOX_ERROR_OPEN_FAILED));
    }
}

static void
test_low_order_key (void)
{
  static const guint8 pt[] = "x";
  NbWgKey bad_keys[2];
  KeyPair me = key_pair_generate ();
  guint8 sealed[NB_BOX_OVERHEAD + 8] = { 0 };
  guint i;

  bad_keys[0] = hex_key (SMALL_ORDER_POINT);
  memset (&bad_keys[1], 0, sizeof bad_keys[1]);

  for (i = 0; i < G_N_ELEMENTS (bad_keys); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(GBytes) out = nb_box_seal (pt, sizeof pt, &bad_keys[i], &me.priv, &error);

      g_assert_null (out);
      g_assert_error (error, NB_BOX_ERROR, NB_BOX_ERROR_BAD_KEY);
      assert_open_fails (sealed, sizeof sealed, &bad_keys[i], &me.priv, NB_BOX_ERROR_BAD_KEY);
    }
}

static void
test_too_long (void)
{
  g_autoptr(GError) error = NULL;
  guint8 byte = 0;
  KeyPair me = key_pair_generate ();
  /* the length is refused before any byte is read */
  g_autoptr(GBytes) out = nb_box_seal (&byte, G_MAXSIZE - 10, &me.pub, &me.priv, &error);

  g_assert_null (out);
  g_assert_error (error, NB_BOX_ERROR, NB_BOX_ERROR_TOO_LONG);
}

static void
test_error_quark (void)
{
  g_assert_cmpstr (g_quark_to_string (NB_BOX_ERROR), ==, "nb-box-error-quark");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  if (sodium_init () < 0)
    g_error ("sodium_init failed");

  g_test_add_func ("/box/known-answer/keys", test_kat_keys);
  g_test_add_func ("/box/known-answer/seal", test_kat_seal);
  g_test_add_func ("/box/known-answer/open", test_kat_open);
  g_test_add_func ("/box/matches-crypto-box-easy", test_matches_crypto_box_easy);
  g_test_add_func ("/box/round-trip", test_round_trip);
  g_test_add_func ("/box/self-addressed", test_self_addressed);
  g_test_add_func ("/box/random-nonce", test_random_nonce);
  g_test_add_func ("/box/empty-plaintext", test_empty_plaintext);
  g_test_add_func ("/box/refuse/wrong-key", test_wrong_key);
  g_test_add_func ("/box/refuse/bit-flips", test_bit_flips);
  g_test_add_func ("/box/refuse/truncated", test_truncated);
  g_test_add_func ("/box/refuse/too-short-message", test_too_short_message);
  g_test_add_func ("/box/refuse/random-garbage", test_random_garbage);
  g_test_add_func ("/box/refuse/low-order-key", test_low_order_key);
  g_test_add_func ("/box/refuse/too-long", test_too_long);
  g_test_add_func ("/box/error-quark", test_error_quark);

  return g_test_run ();
}
