/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * NetBird relay protocol messages, see relay-msg.h.
 */
#define G_LOG_DOMAIN "nb-relay-msg"

#include "config.h"

#include "relay-msg.h"

#include <string.h>

#include <sodium.h>

#include "nb-sodium.h"

G_DEFINE_QUARK (nb-relay-msg-error-quark, nb_relay_msg_error)

G_STATIC_ASSERT (NB_RELAY_PEER_ID_LEN == NB_RELAY_PEER_ID_PREFIX_LEN + crypto_hash_sha256_BYTES);
G_STATIC_ASSERT (NB_RELAY_AUTH_SIGNATURE_LEN == crypto_auth_hmacsha256_BYTES);
G_STATIC_ASSERT (NB_RELAY_MAX_PEER_IDS_PER_MESSAGE == 244);
G_STATIC_ASSERT (NB_RELAY_MAX_TRANSPORT_PAYLOAD == 8782);
G_STATIC_ASSERT (NB_RELAY_MAX_AUTH_PAYLOAD == 170);
G_STATIC_ASSERT (sizeof (NbRelayPeerId) == NB_RELAY_PEER_ID_LEN);

static const guint8 auth_magic[NB_RELAY_AUTH_MAGIC_LEN] = { 0x21, 0x12, 0xA4, 0x42 };

#define AUTH_HEADER_LEN (NB_RELAY_HEADER_LEN + NB_RELAY_AUTH_MAGIC_LEN + NB_RELAY_PEER_ID_LEN)
#define BASE64_ALPHABET \
  "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
#define TRANSPORT_HEADER_LEN (NB_RELAY_HEADER_LEN + NB_RELAY_PEER_ID_LEN)

/* ---- peer IDs ---------------------------------------------------------- */

void
nb_relay_peer_id_from_key (NbRelayPeerId *out,
                           const char    *peer_key)
{
  g_return_if_fail (out != NULL);
  g_return_if_fail (peer_key != NULL);

  nb_sodium_init ();
  memcpy (out->bytes, NB_RELAY_PEER_ID_PREFIX, NB_RELAY_PEER_ID_PREFIX_LEN);
  crypto_hash_sha256 (out->bytes + NB_RELAY_PEER_ID_PREFIX_LEN,
                      (const guint8 *) peer_key, strlen (peer_key));
}

char *
nb_relay_peer_id_to_string (const NbRelayPeerId *id)
{
  g_autofree char *b64 = NULL;
  char prefix[NB_RELAY_PEER_ID_PREFIX_LEN + 1];

  g_return_val_if_fail (id != NULL, NULL);

  /* A wire ID is any 36 bytes; keep the log line printable. */
  for (gsize i = 0; i < NB_RELAY_PEER_ID_PREFIX_LEN; i++)
    prefix[i] = g_ascii_isprint (id->bytes[i]) ? (char) id->bytes[i] : '?';
  prefix[NB_RELAY_PEER_ID_PREFIX_LEN] = '\0';

  b64 = g_base64_encode (id->bytes + NB_RELAY_PEER_ID_PREFIX_LEN,
                         NB_RELAY_PEER_ID_LEN - NB_RELAY_PEER_ID_PREFIX_LEN);
  return g_strconcat (prefix, b64, NULL);
}

NbRelayPeerId *
nb_relay_peer_id_dup (const NbRelayPeerId *id)
{
  g_return_val_if_fail (id != NULL, NULL);

  return g_memdup2 (id, sizeof *id);
}

void
nb_relay_peer_id_free (NbRelayPeerId *id)
{
  g_free (id);
}

guint
nb_relay_peer_id_hash (gconstpointer id)
{
  const NbRelayPeerId *p = id;
  guint h;

  /* The hash part is SHA-256 output for honest peers; for hostile IDs a
   * collision only costs a longer bucket. */
  memcpy (&h, p->bytes + NB_RELAY_PEER_ID_PREFIX_LEN, sizeof h);
  return h;
}

gboolean
nb_relay_peer_id_equal (gconstpointer a,
                        gconstpointer b)
{
  return memcmp (a, b, NB_RELAY_PEER_ID_LEN) == 0;
}

const char *
nb_relay_msg_type_to_string (guint type)
{
  switch (type)
    {
    case NB_RELAY_MSG_HELLO:
      return "hello";
    case NB_RELAY_MSG_HELLO_RESPONSE:
      return "hello response";
    case NB_RELAY_MSG_TRANSPORT:
      return "transport";
    case NB_RELAY_MSG_CLOSE:
      return "close";
    case NB_RELAY_MSG_HEALTH_CHECK:
      return "health check";
    case NB_RELAY_MSG_AUTH:
      return "auth";
    case NB_RELAY_MSG_AUTH_RESPONSE:
      return "auth response";
    case NB_RELAY_MSG_SUBSCRIBE_PEER_STATE:
      return "subscribe peer state";
    case NB_RELAY_MSG_UNSUBSCRIBE_PEER_STATE:
      return "unsubscribe peer state";
    case NB_RELAY_MSG_PEERS_ONLINE:
      return "peers online";
    case NB_RELAY_MSG_PEERS_WENT_OFFLINE:
      return "peers went offline";
    default:
      return "unknown";
    }
}

/* ---- encoding ---------------------------------------------------------- */

static guint8 *
new_message (NbRelayMsgType type,
             gsize          total_len)
{
  guint8 *buf = g_malloc (total_len);

  buf[0] = NB_RELAY_PROTOCOL_VERSION;
  buf[1] = (guint8) type;
  return buf;
}

GBytes *
nb_relay_msg_encode_transport (const NbRelayPeerId *peer,
                               const void          *payload,
                               gsize                payload_len,
                               GError             **error)
{
  guint8 *buf;

  g_return_val_if_fail (peer != NULL, NULL);
  g_return_val_if_fail (payload != NULL || payload_len == 0, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (payload_len > NB_RELAY_MAX_TRANSPORT_PAYLOAD)
    {
      g_set_error (error, NB_RELAY_MSG_ERROR, NB_RELAY_MSG_ERROR_TOO_LARGE,
                   "Transport payload of %" G_GSIZE_FORMAT " bytes exceeds %d",
                   payload_len, NB_RELAY_MAX_TRANSPORT_PAYLOAD);
      return NULL;
    }

  buf = new_message (NB_RELAY_MSG_TRANSPORT, TRANSPORT_HEADER_LEN + payload_len);
  memcpy (buf + NB_RELAY_HEADER_LEN, peer->bytes, NB_RELAY_PEER_ID_LEN);
  if (payload_len > 0)
    memcpy (buf + TRANSPORT_HEADER_LEN, payload, payload_len);
  return g_bytes_new_take (buf, TRANSPORT_HEADER_LEN + payload_len);
}

GBytes *
nb_relay_msg_encode_close (void)
{
  static const guint8 msg[] = { NB_RELAY_PROTOCOL_VERSION, NB_RELAY_MSG_CLOSE };

  return g_bytes_new_static (msg, sizeof msg);
}

GBytes *
nb_relay_msg_encode_health_check (void)
{
  static const guint8 msg[] = { NB_RELAY_PROTOCOL_VERSION, NB_RELAY_MSG_HEALTH_CHECK };

  return g_bytes_new_static (msg, sizeof msg);
}

GBytes *
nb_relay_msg_encode_auth (const NbRelayPeerId *self,
                          const void          *auth_payload,
                          gsize                auth_payload_len,
                          GError             **error)
{
  guint8 *buf;

  g_return_val_if_fail (self != NULL, NULL);
  g_return_val_if_fail (auth_payload != NULL || auth_payload_len == 0, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (auth_payload_len > NB_RELAY_MAX_AUTH_PAYLOAD)
    {
      g_set_error (error, NB_RELAY_MSG_ERROR, NB_RELAY_MSG_ERROR_TOO_LARGE,
                   "Auth payload of %" G_GSIZE_FORMAT " bytes exceeds %d",
                   auth_payload_len, NB_RELAY_MAX_AUTH_PAYLOAD);
      return NULL;
    }

  buf = new_message (NB_RELAY_MSG_AUTH, AUTH_HEADER_LEN + auth_payload_len);
  memcpy (buf + NB_RELAY_HEADER_LEN, auth_magic, NB_RELAY_AUTH_MAGIC_LEN);
  memcpy (buf + NB_RELAY_HEADER_LEN + NB_RELAY_AUTH_MAGIC_LEN, self->bytes,
          NB_RELAY_PEER_ID_LEN);
  if (auth_payload_len > 0)
    memcpy (buf + AUTH_HEADER_LEN, auth_payload, auth_payload_len);
  return g_bytes_new_take (buf, AUTH_HEADER_LEN + auth_payload_len);
}

static gboolean
check_instance_url (const char *url,
                    gsize       len,
                    GError    **error)
{
  if (len == 0)
    {
      g_set_error_literal (error, NB_RELAY_MSG_ERROR, NB_RELAY_MSG_ERROR_MALFORMED,
                           "Empty relay instance URL");
      return FALSE;
    }
  if (memchr (url, '\0', len) != NULL || !g_utf8_validate (url, len, NULL))
    {
      g_set_error_literal (error, NB_RELAY_MSG_ERROR, NB_RELAY_MSG_ERROR_MALFORMED,
                           "Relay instance URL is not UTF-8 text");
      return FALSE;
    }
  return TRUE;
}

GBytes *
nb_relay_msg_encode_auth_response (const char *instance_url,
                                   GError    **error)
{
  gsize len;
  guint8 *buf;

  g_return_val_if_fail (instance_url != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  len = strlen (instance_url);
  if (len > NB_RELAY_MAX_AUTH_RESPONSE_SIZE - NB_RELAY_HEADER_LEN)
    {
      g_set_error (error, NB_RELAY_MSG_ERROR, NB_RELAY_MSG_ERROR_TOO_LARGE,
                   "Instance URL of %" G_GSIZE_FORMAT " bytes exceeds %d",
                   len, NB_RELAY_MAX_AUTH_RESPONSE_SIZE - NB_RELAY_HEADER_LEN);
      return NULL;
    }
  if (!check_instance_url (instance_url, len, error))
    return NULL;

  buf = new_message (NB_RELAY_MSG_AUTH_RESPONSE, NB_RELAY_HEADER_LEN + len);
  memcpy (buf + NB_RELAY_HEADER_LEN, instance_url, len);
  return g_bytes_new_take (buf, NB_RELAY_HEADER_LEN + len);
}

static gboolean
is_peer_list_type (guint type)
{
  return type == NB_RELAY_MSG_SUBSCRIBE_PEER_STATE ||
         type == NB_RELAY_MSG_UNSUBSCRIBE_PEER_STATE ||
         type == NB_RELAY_MSG_PEERS_ONLINE ||
         type == NB_RELAY_MSG_PEERS_WENT_OFFLINE;
}

GPtrArray *
nb_relay_msg_encode_peer_list (NbRelayMsgType       type,
                               const NbRelayPeerId *ids,
                               gsize                n_ids,
                               GError             **error)
{
  g_autoptr(GPtrArray) msgs = NULL;

  g_return_val_if_fail (ids != NULL || n_ids == 0, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (!is_peer_list_type (type))
    {
      g_set_error (error, NB_RELAY_MSG_ERROR, NB_RELAY_MSG_ERROR_INVALID_ARGUMENT,
                   "Message type %u does not carry a peer list", (guint) type);
      return NULL;
    }
  if (n_ids == 0)
    {
      g_set_error_literal (error, NB_RELAY_MSG_ERROR, NB_RELAY_MSG_ERROR_INVALID_ARGUMENT,
                           "No peer IDs given");
      return NULL;
    }

  msgs = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  for (gsize i = 0; i < n_ids; i += NB_RELAY_MAX_PEER_IDS_PER_MESSAGE)
    {
      gsize chunk = MIN (n_ids - i, (gsize) NB_RELAY_MAX_PEER_IDS_PER_MESSAGE);
      gsize total = NB_RELAY_HEADER_LEN + chunk * NB_RELAY_PEER_ID_LEN;
      guint8 *buf = new_message (type, total);

      memcpy (buf + NB_RELAY_HEADER_LEN, ids + i, chunk * NB_RELAY_PEER_ID_LEN);
      g_ptr_array_add (msgs, g_bytes_new_take (buf, total));
    }
  return g_steal_pointer (&msgs);
}

/* ---- decoding ---------------------------------------------------------- */

void
nb_relay_msg_free (NbRelayMsg *msg)
{
  if (msg == NULL)
    return;
  g_clear_pointer (&msg->payload, g_bytes_unref);
  g_free (msg->instance_url);
  g_free (msg->peer_ids);
  g_free (msg);
}

static gboolean
type_allowed (guint            type,
              NbRelayMsgOrigin origin)
{
  switch (type)
    {
    case NB_RELAY_MSG_TRANSPORT:
    case NB_RELAY_MSG_CLOSE:
    case NB_RELAY_MSG_HEALTH_CHECK:
      return TRUE;
    case NB_RELAY_MSG_AUTH:
    case NB_RELAY_MSG_SUBSCRIBE_PEER_STATE:
    case NB_RELAY_MSG_UNSUBSCRIBE_PEER_STATE:
      return origin == NB_RELAY_MSG_FROM_CLIENT;
    case NB_RELAY_MSG_AUTH_RESPONSE:
    case NB_RELAY_MSG_PEERS_ONLINE:
    case NB_RELAY_MSG_PEERS_WENT_OFFLINE:
      return origin == NB_RELAY_MSG_FROM_SERVER;
    default:
      /* legacy hello / hello response */
      return FALSE;
    }
}

static gsize
type_limit (guint type)
{
  switch (type)
    {
    case NB_RELAY_MSG_AUTH:
      return NB_RELAY_MAX_AUTH_SIZE;
    case NB_RELAY_MSG_AUTH_RESPONSE:
      return NB_RELAY_MAX_AUTH_RESPONSE_SIZE;
    default:
      return NB_RELAY_MAX_MESSAGE_SIZE;
    }
}

static NbRelayMsg *
decode (GBytes          *frame,
        const guint8    *data,
        gsize            len,
        NbRelayMsgOrigin origin,
        GError         **error)
{
  g_autoptr(NbRelayMsg) msg = NULL;
  guint type;

  if (len < NB_RELAY_HEADER_LEN)
    {
      g_set_error (error, NB_RELAY_MSG_ERROR, NB_RELAY_MSG_ERROR_TRUNCATED,
                   "Relay message of %" G_GSIZE_FORMAT " bytes has no header", len);
      return NULL;
    }
  if (data[0] != NB_RELAY_PROTOCOL_VERSION)
    {
      g_set_error (error, NB_RELAY_MSG_ERROR, NB_RELAY_MSG_ERROR_VERSION,
                   "Unsupported relay protocol version %u", (guint) data[0]);
      return NULL;
    }
  type = data[1];
  if (type < NB_RELAY_MSG_HELLO || type > NB_RELAY_MSG_PEERS_WENT_OFFLINE)
    {
      g_set_error (error, NB_RELAY_MSG_ERROR, NB_RELAY_MSG_ERROR_UNKNOWN_TYPE,
                   "Unknown relay message type %u", type);
      return NULL;
    }
  if (!type_allowed (type, origin))
    {
      g_set_error (error, NB_RELAY_MSG_ERROR, NB_RELAY_MSG_ERROR_UNEXPECTED_TYPE,
                   "Unexpected relay message type %u (%s) from the %s", type,
                   nb_relay_msg_type_to_string (type),
                   origin == NB_RELAY_MSG_FROM_CLIENT ? "client" : "server");
      return NULL;
    }
  if (len > type_limit (type))
    {
      g_set_error (error, NB_RELAY_MSG_ERROR, NB_RELAY_MSG_ERROR_TOO_LARGE,
                   "Relay %s message of %" G_GSIZE_FORMAT " bytes exceeds %" G_GSIZE_FORMAT,
                   nb_relay_msg_type_to_string (type), len, type_limit (type));
      return NULL;
    }

  msg = g_new0 (NbRelayMsg, 1);
  msg->type = type;

  switch (type)
    {
    case NB_RELAY_MSG_TRANSPORT:
      if (len < TRANSPORT_HEADER_LEN)
        {
          g_set_error (error, NB_RELAY_MSG_ERROR, NB_RELAY_MSG_ERROR_TRUNCATED,
                       "Transport message of %" G_GSIZE_FORMAT " bytes has no peer ID", len);
          return NULL;
        }
      memcpy (msg->peer_id.bytes, data + NB_RELAY_HEADER_LEN, NB_RELAY_PEER_ID_LEN);
      if (frame != NULL)
        msg->payload = g_bytes_new_from_bytes (frame, TRANSPORT_HEADER_LEN,
                                               len - TRANSPORT_HEADER_LEN);
      else
        msg->payload = g_bytes_new (data + TRANSPORT_HEADER_LEN, len - TRANSPORT_HEADER_LEN);
      break;

    case NB_RELAY_MSG_CLOSE:
    case NB_RELAY_MSG_HEALTH_CHECK:
      /* NetBird ignores anything after the header of these. */
      break;

    case NB_RELAY_MSG_AUTH:
      if (len < AUTH_HEADER_LEN)
        {
          g_set_error (error, NB_RELAY_MSG_ERROR, NB_RELAY_MSG_ERROR_TRUNCATED,
                       "Auth message of %" G_GSIZE_FORMAT " bytes is shorter than %d",
                       len, AUTH_HEADER_LEN);
          return NULL;
        }
      if (memcmp (data + NB_RELAY_HEADER_LEN, auth_magic, NB_RELAY_AUTH_MAGIC_LEN) != 0)
        {
          g_set_error_literal (error, NB_RELAY_MSG_ERROR, NB_RELAY_MSG_ERROR_MALFORMED,
                               "Auth message has a wrong magic header");
          return NULL;
        }
      memcpy (msg->peer_id.bytes, data + NB_RELAY_HEADER_LEN + NB_RELAY_AUTH_MAGIC_LEN,
              NB_RELAY_PEER_ID_LEN);
      if (frame != NULL)
        msg->payload = g_bytes_new_from_bytes (frame, AUTH_HEADER_LEN, len - AUTH_HEADER_LEN);
      else
        msg->payload = g_bytes_new (data + AUTH_HEADER_LEN, len - AUTH_HEADER_LEN);
      break;

    case NB_RELAY_MSG_AUTH_RESPONSE:
      if (len < NB_RELAY_HEADER_LEN + 1)
        {
          g_set_error_literal (error, NB_RELAY_MSG_ERROR, NB_RELAY_MSG_ERROR_TRUNCATED,
                               "Auth response carries no instance URL");
          return NULL;
        }
      if (!check_instance_url ((const char *) data + NB_RELAY_HEADER_LEN,
                               len - NB_RELAY_HEADER_LEN, error))
        return NULL;
      msg->instance_url = g_strndup ((const char *) data + NB_RELAY_HEADER_LEN,
                                     len - NB_RELAY_HEADER_LEN);
      break;

    default:
      {
        gsize body = len - NB_RELAY_HEADER_LEN;

        g_assert (is_peer_list_type (type));
        if (body % NB_RELAY_PEER_ID_LEN != 0)
          {
            g_set_error (error, NB_RELAY_MSG_ERROR, NB_RELAY_MSG_ERROR_MALFORMED,
                         "Peer list of %" G_GSIZE_FORMAT " bytes is not a multiple of %d",
                         body, NB_RELAY_PEER_ID_LEN);
            return NULL;
          }
        msg->n_peer_ids = body / NB_RELAY_PEER_ID_LEN;
        if (msg->n_peer_ids > 0)
          msg->peer_ids = g_memdup2 (data + NB_RELAY_HEADER_LEN, body);
      }
      break;
    }

  return g_steal_pointer (&msg);
}

NbRelayMsg *
nb_relay_msg_decode (GBytes          *frame,
                     NbRelayMsgOrigin origin,
                     GError         **error)
{
  gsize len = 0;
  const guint8 *data;

  g_return_val_if_fail (frame != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  data = g_bytes_get_data (frame, &len);
  return decode (frame, data, len, origin, error);
}

NbRelayMsg *
nb_relay_msg_decode_data (const void      *data,
                          gsize            len,
                          NbRelayMsgOrigin origin,
                          GError         **error)
{
  g_return_val_if_fail (data != NULL || len == 0, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  return decode (NULL, data, len, origin, error);
}

/* ---- auth tokens ------------------------------------------------------- */

GBytes *
nb_relay_auth_payload_new (const char *token_payload,
                           const char *token_signature,
                           GError    **error)
{
  guint8 sig[NB_RELAY_AUTH_SIGNATURE_LEN + 1];
  size_t sig_len = 0;
  const char *end = NULL;
  gsize payload_len;
  guint8 *buf;
  gsize total;

  g_return_val_if_fail (token_payload != NULL, NULL);
  g_return_val_if_fail (token_signature != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  nb_sodium_init ();

  payload_len = strlen (token_payload);
  if (payload_len == 0)
    {
      g_set_error_literal (error, NB_RELAY_MSG_ERROR, NB_RELAY_MSG_ERROR_TOKEN_INVALID,
                           "Relay token has an empty payload");
      return NULL;
    }

  /* Strict standard base64 with padding; one spare byte in @sig so that a
   * longer signature is seen as such rather than as a decoding failure.
   * libsodium 1.0.18 reads bytes >= 0x80 as '/', so the alphabet is checked
   * first (found by tests/fuzz/fuzz-relay-token.c). */
  if (strspn (token_signature, BASE64_ALPHABET) != strlen (token_signature) ||
      sodium_base642bin (sig, sizeof sig, token_signature, strlen (token_signature),
                         NULL, &sig_len, &end, sodium_base64_VARIANT_ORIGINAL) != 0 ||
      *end != '\0' || sig_len != NB_RELAY_AUTH_SIGNATURE_LEN)
    {
      sodium_memzero (sig, sizeof sig);
      g_set_error (error, NB_RELAY_MSG_ERROR, NB_RELAY_MSG_ERROR_TOKEN_INVALID,
                   "Relay token signature is not the base64 of %d bytes",
                   NB_RELAY_AUTH_SIGNATURE_LEN);
      return NULL;
    }

  total = 1 + NB_RELAY_AUTH_SIGNATURE_LEN + payload_len;
  if (total > NB_RELAY_MAX_AUTH_PAYLOAD)
    {
      sodium_memzero (sig, sizeof sig);
      g_set_error (error, NB_RELAY_MSG_ERROR, NB_RELAY_MSG_ERROR_TOO_LARGE,
                   "Relay token of %" G_GSIZE_FORMAT " bytes does not fit an auth message",
                   total);
      return NULL;
    }

  buf = g_malloc (total);
  buf[0] = NB_RELAY_AUTH_ALG_HMAC_SHA256;
  memcpy (buf + 1, sig, NB_RELAY_AUTH_SIGNATURE_LEN);
  memcpy (buf + 1 + NB_RELAY_AUTH_SIGNATURE_LEN, token_payload, payload_len);
  sodium_memzero (sig, sizeof sig);
  return g_bytes_new_take (buf, total);
}

static void
hmac_sha256 (guint8        out[NB_RELAY_AUTH_SIGNATURE_LEN],
             const guint8 *secret,
             gsize         secret_len,
             const guint8 *data,
             gsize         len)
{
  crypto_auth_hmacsha256_state st;

  nb_sodium_init ();
  crypto_auth_hmacsha256_init (&st, secret, secret_len);
  crypto_auth_hmacsha256_update (&st, data, len);
  crypto_auth_hmacsha256_final (&st, out);
  sodium_memzero (&st, sizeof st);
}

/* ASCII decimal digits only, like strconv.ParseInt without a sign. */
static gboolean
parse_unix_time (const guint8 *s,
                 gsize         len,
                 gint64       *out)
{
  guint64 v = 0;

  if (len == 0 || len > 18)
    return FALSE;
  for (gsize i = 0; i < len; i++)
    {
      if (s[i] < '0' || s[i] > '9')
        return FALSE;
      v = v * 10 + (guint64) (s[i] - '0');
    }
  *out = (gint64) v;
  return TRUE;
}

gboolean
nb_relay_auth_payload_verify (const void   *auth_payload,
                              gsize         auth_payload_len,
                              const guint8 *secret,
                              gsize         secret_len,
                              gint64        now_unix,
                              GError      **error)
{
  const guint8 *p = auth_payload;
  const guint8 *token_payload;
  gsize token_payload_len;
  guint8 expected[NB_RELAY_AUTH_SIGNATURE_LEN];
  gint64 expires = 0;
  int cmp;

  g_return_val_if_fail (auth_payload != NULL || auth_payload_len == 0, FALSE);
  g_return_val_if_fail (secret != NULL || secret_len == 0, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (auth_payload_len == 0)
    {
      g_set_error_literal (error, NB_RELAY_MSG_ERROR, NB_RELAY_MSG_ERROR_TOKEN_INVALID,
                           "Empty auth payload");
      return FALSE;
    }
  if (p[0] != NB_RELAY_AUTH_ALG_HMAC_SHA256)
    {
      g_set_error (error, NB_RELAY_MSG_ERROR, NB_RELAY_MSG_ERROR_TOKEN_ALGORITHM,
                   "Unsupported auth algorithm %u", (guint) p[0]);
      return FALSE;
    }
  if (auth_payload_len < 1 + NB_RELAY_AUTH_SIGNATURE_LEN + NB_RELAY_TOKEN_MIN_PAYLOAD_LEN)
    {
      g_set_error (error, NB_RELAY_MSG_ERROR, NB_RELAY_MSG_ERROR_TOKEN_INVALID,
                   "Auth payload of %" G_GSIZE_FORMAT " bytes is too short",
                   auth_payload_len);
      return FALSE;
    }

  token_payload = p + 1 + NB_RELAY_AUTH_SIGNATURE_LEN;
  token_payload_len = auth_payload_len - 1 - NB_RELAY_AUTH_SIGNATURE_LEN;
  hmac_sha256 (expected, secret, secret_len, token_payload, token_payload_len);
  cmp = sodium_memcmp (expected, p + 1, NB_RELAY_AUTH_SIGNATURE_LEN);
  sodium_memzero (expected, sizeof expected);
  if (cmp != 0)
    {
      g_set_error_literal (error, NB_RELAY_MSG_ERROR, NB_RELAY_MSG_ERROR_TOKEN_SIGNATURE,
                           "Auth token signature does not match");
      return FALSE;
    }

  if (!parse_unix_time (token_payload, token_payload_len, &expires))
    {
      g_set_error_literal (error, NB_RELAY_MSG_ERROR, NB_RELAY_MSG_ERROR_TOKEN_INVALID,
                           "Auth token payload is not a decimal Unix time");
      return FALSE;
    }
  if (now_unix > expires)
    {
      g_set_error (error, NB_RELAY_MSG_ERROR, NB_RELAY_MSG_ERROR_TOKEN_EXPIRED,
                   "Auth token expired %" G_GINT64_FORMAT " s ago", now_unix - expires);
      return FALSE;
    }
  return TRUE;
}

NbRelayToken *
nb_relay_token_new (const guint8 *secret,
                    gsize         secret_len,
                    gint64        expires_unix)
{
  NbRelayToken *token;
  guint8 mac[NB_RELAY_AUTH_SIGNATURE_LEN];

  g_return_val_if_fail (secret != NULL || secret_len == 0, NULL);
  g_return_val_if_fail (expires_unix >= 0, NULL);

  token = g_new0 (NbRelayToken, 1);
  token->payload = g_strdup_printf ("%" G_GINT64_FORMAT, expires_unix);
  hmac_sha256 (mac, secret, secret_len, (const guint8 *) token->payload,
               strlen (token->payload));
  token->signature = g_base64_encode (mac, sizeof mac);
  sodium_memzero (mac, sizeof mac);
  return token;
}

static void
wipe_string (char *s)
{
  if (s != NULL)
    {
      sodium_memzero (s, strlen (s));
      g_free (s);
    }
}

void
nb_relay_token_free (NbRelayToken *token)
{
  if (token == NULL)
    return;
  wipe_string (token->payload);
  wipe_string (token->signature);
  g_free (token);
}
