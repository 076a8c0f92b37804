/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Relay auth tokens (relay-msg.h): management's RelayConfig token turned
 * into an auth payload, and the server-side check of a payload.
 *
 * Input: tokenPayload '\n' tokenSignature '\n' rest. The two strings are what
 * management sends (untrusted text); the rest is a secret (up to 64 bytes)
 * for a token minted with nb_relay_token_new(), which must verify exactly
 * until it expires, and the whole input is also verified as an auth payload.
 */
#include "config.h"

#include "fuzz-common.h"
#include "relay-msg.h"

#include <string.h>

#define BASE64_ALPHABET "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  const uint8_t *end = data + size;
  const uint8_t *nl1 = memchr (data, '\n', size);
  const uint8_t *nl2 = nl1 ? memchr (nl1 + 1, '\n', end - nl1 - 1) : NULL;
  g_autofree char *payload = fuzz_strndup (data, nl1 ? (size_t) (nl1 - data) : size);
  g_autofree char *signature = nl1 ? fuzz_strndup (nl1 + 1, (nl2 ? nl2 : end) - nl1 - 1) : g_strdup ("");
  const uint8_t *secret = nl2 ? nl2 + 1 : end;
  size_t secret_len = MIN ((size_t) (end - secret), 64);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) auth = NULL;

  /* Management's strings -> auth payload. */
  auth = nb_relay_auth_payload_new (payload, signature, &error);
  if (auth != NULL)
    {
      gsize len;
      const guint8 *p = g_bytes_get_data (auth, &len);
      gsize sig_len = 0;
      g_autofree guint8 *sig = g_base64_decode (signature, &sig_len);

      g_assert_no_error (error);
      /* relay-msg.h: the signature is standard base64 with padding. */
      g_assert_cmpuint (strspn (signature, BASE64_ALPHABET "="), ==, strlen (signature));
      g_assert_cmpuint (len, ==, 1 + NB_RELAY_AUTH_SIGNATURE_LEN + strlen (payload));
      g_assert_cmpuint (len, <=, NB_RELAY_MAX_AUTH_PAYLOAD);
      g_assert_cmpuint (p[0], ==, NB_RELAY_AUTH_ALG_HMAC_SHA256);
      g_assert_cmpmem (p + 1, NB_RELAY_AUTH_SIGNATURE_LEN, sig, sig_len);
      g_assert_cmpmem (p + 1 + NB_RELAY_AUTH_SIGNATURE_LEN, len - 1 - NB_RELAY_AUTH_SIGNATURE_LEN,
                       payload, strlen (payload));
    }
  else
    {
      g_assert_true (error->domain == NB_RELAY_MSG_ERROR);
      g_assert_true (error->code == NB_RELAY_MSG_ERROR_TOKEN_INVALID ||
                     error->code == NB_RELAY_MSG_ERROR_TOO_LARGE);
    }
  g_clear_error (&error);

  /* The server's check on arbitrary bytes. */
  if (!nb_relay_auth_payload_verify (data, size, secret, secret_len, 0, &error))
    g_assert_true (error->domain == NB_RELAY_MSG_ERROR);
  g_clear_error (&error);

  /* Mint, encode, verify: valid until the expiry second, then expired; a
   * different secret never verifies. */
  {
    guint64 bits = 0;
    gint64 expires;
    g_autoptr(NbRelayToken) token = NULL;
    g_autoptr(GBytes) minted = NULL;
    guint8 other[65];
    const guint8 *mp;
    gsize mlen;

    for (size_t i = 0; i < MIN (size, 5); i++)
      bits = (bits << 8) | data[i];
    expires = (gint64) bits; /* up to 2^40 s, year ~36800 */
    token = nb_relay_token_new (secret, secret_len, expires);
    minted = nb_relay_auth_payload_new (token->payload, token->signature, &error);
    if (minted == NULL)
      {
        /* Only a too short expiry (fewer than 10 digits) is refused later. */
        g_assert_no_error (error);
      }
    mp = g_bytes_get_data (minted, &mlen);
    if (strlen (token->payload) >= NB_RELAY_TOKEN_MIN_PAYLOAD_LEN)
      {
        g_assert_true (nb_relay_auth_payload_verify (mp, mlen, secret, secret_len, expires, &error));
        g_assert_no_error (error);
        g_assert_false (nb_relay_auth_payload_verify (mp, mlen, secret, secret_len, expires + 1, &error));
        g_assert_error (error, NB_RELAY_MSG_ERROR, NB_RELAY_MSG_ERROR_TOKEN_EXPIRED);
        g_clear_error (&error);
        memcpy (other, secret, secret_len);
        other[secret_len] = 0x5a;
        g_assert_false (nb_relay_auth_payload_verify (mp, mlen, other, secret_len + 1, 0, &error));
        g_assert_error (error, NB_RELAY_MSG_ERROR, NB_RELAY_MSG_ERROR_TOKEN_SIGNATURE);
        g_clear_error (&error);
      }
    else
      {
        g_assert_false (nb_relay_auth_payload_verify (mp, mlen, secret, secret_len, 0, &error));
        g_assert_error (error, NB_RELAY_MSG_ERROR, NB_RELAY_MSG_ERROR_TOKEN_INVALID);
        g_clear_error (&error);
      }
  }
  return 0;
}
