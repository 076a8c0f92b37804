/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Tests for service/netbird/relay-msg.c: NetBird's relay message codec. */

#include "config.h"

#include <string.h>

#include <glib.h>
#include <sodium.h>

#include "relay-msg.h"

/* A WireGuard public key string and its relay ID, computed independently:
 *   printf %s KEY | sha256sum
 *   printf %s KEY | openssl dgst -sha256 -binary | base64 */
#define KEY1        "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg="
#define KEY1_SHA256 "9464ea2300e9c9f5f7eccf8c338b2920baee69f2c492361c8756f3f8d4cfc1c6"
#define KEY1_LOG    "sha-lGTqIwDpyfX37M+MM4spILruafLEkjYch1bz+NTPwcY="
#define KEY2        "TrMvSoP4jYQlY6RIzBgbssQqY3vxI2Pi+y71lOWWXX0="
#define KEY2_SHA256 "c780b83a2de9703da5842fa569a34aa263e3c407378479290c6fe7d3b742c865"
#define KEY2_LOG    "sha-x4C4Oi3pcD2lhC+laaNKomPjxAc3hHkpDG/n07dCyGU="
#define SHA_PREFIX_HEX "7368612d" /* "sha-" */

/* Relay tokens, computed independently:
 *   printf %s 4102444800 | openssl dgst -sha256 -hmac relay-secret
 *   (and python3 hmac.new(b'relay-secret', b'4102444800', hashlib.sha256)) */
#define SECRET          "relay-secret"
#define TOKEN_PAYLOAD   "4102444800"   /* 2100-01-01T00:00:00Z */
#define TOKEN_PAYLOAD_HEX "34313032343434383030"
#define TOKEN_SIG_HEX   "a92d34b2e82171f9cf3652b97a27aa67ad16a7d3f3b4961eef4111e9ecfecbf5"
#define TOKEN_SIG_B64   "qS00sughcfnPNlK5eieqZ60Wp9PztJYe70ER6ez+y/U="
/* HMAC-SHA256(key = 100 x 'a', "4102444800"): a key longer than the block. */
#define LONG_SECRET_SIG_HEX "029a4ec325c0854fb507c13f62f0a032e01122eb4594124ee282fde4ae1b5822"
/* HMAC-SHA256("relay-secret", "not-a-time") */
#define NOT_A_TIME_SIG_HEX "8c24662aa2a2f1111e0fd980ba7f4d5913a653dab0d54cb16b6b456dd31d00d6"
/* HMAC-SHA256("other-secret", "4102444800") */
#define OTHER_SECRET_SIG_HEX "4957b2e28a1a56feb7f166d586570d2db0ecf6ce92469ea29e8a932889711871"

#define INSTANCE_URL     "rels://relay-eu-1.example.net:443"
#define INSTANCE_URL_HEX "72656c733a2f2f72656c61792d65752d312e6578616d706c652e6e65743a343433"

static GBytes *
hex_bytes (const char *hex)
{
  gsize len = strlen (hex);
  guint8 *buf;

  g_assert_cmpuint (len % 2, ==, 0);
  buf = g_malloc (len / 2 + 1);
  for (gsize i = 0; i < len / 2; i++)
    {
      int hi = g_ascii_xdigit_value (hex[2 * i]);
      int lo = g_ascii_xdigit_value (hex[2 * i + 1]);

      g_assert_cmpint (hi, >=, 0);
      g_assert_cmpint (lo, >=, 0);
      buf[i] = (guint8) ((hi << 4) | lo);
    }
  return g_bytes_new_take (buf, len / 2);
}

static char *
bytes_hex (GBytes *bytes)
{
  gsize len = 0;
  const guint8 *data = g_bytes_get_data (bytes, &len);
  GString *s = g_string_sized_new (len * 2);

  for (gsize i = 0; i < len; i++)
    g_string_append_printf (s, "%02x", data[i]);
  return g_string_free (s, FALSE);
}

static void
assert_bytes_hex (GBytes     *bytes,
                  const char *hex)
{
  g_autofree char *got = bytes_hex (bytes);

  g_assert_cmpstr (got, ==, hex);
}

static void
peer_id_from_hex (NbRelayPeerId *id,
                  const char    *sha_hex)
{
  g_autofree char *hex = g_strconcat (SHA_PREFIX_HEX, sha_hex, NULL);
  g_autoptr(GBytes) b = hex_bytes (hex);

  g_assert_cmpuint (g_bytes_get_size (b), ==, NB_RELAY_PEER_ID_LEN);
  memcpy (id->bytes, g_bytes_get_data (b, NULL), NB_RELAY_PEER_ID_LEN);
}

/* A frame of @len bytes: version 1, @type, then @fill. */
static GBytes *
frame_of (guint8 type,
          gsize  len,
          guint8 fill)
{
  guint8 *buf = g_malloc (MAX (len, 1));

  memset (buf, fill, len);
  if (len > 0)
    buf[0] = 1;
  if (len > 1)
    buf[1] = type;
  return g_bytes_new_take (buf, len);
}

static void
assert_decode_error (GBytes          *frame,
                     NbRelayMsgOrigin origin,
                     gint             code)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(NbRelayMsg) msg = nb_relay_msg_decode (frame, origin, &error);

  g_assert_null (msg);
  g_assert_error (error, NB_RELAY_MSG_ERROR, code);
}

/* ---- peer IDs ---------------------------------------------------------- */

static void
test_peer_id_known_answer (void)
{
  NbRelayPeerId id, expected;
  g_autofree char *s1 = NULL;
  g_autofree char *s2 = NULL;

  nb_relay_peer_id_from_key (&id, KEY1);
  peer_id_from_hex (&expected, KEY1_SHA256);
  g_assert_cmpmem (id.bytes, sizeof id.bytes, expected.bytes, sizeof expected.bytes);
  s1 = nb_relay_peer_id_to_string (&id);
  g_assert_cmpstr (s1, ==, KEY1_LOG);

  nb_relay_peer_id_from_key (&id, KEY2);
  peer_id_from_hex (&expected, KEY2_SHA256);
  g_assert_cmpmem (id.bytes, sizeof id.bytes, expected.bytes, sizeof expected.bytes);
  s2 = nb_relay_peer_id_to_string (&id);
  g_assert_cmpstr (s2, ==, KEY2_LOG);
}

static void
test_peer_id_table (void)
{
  g_autoptr(GHashTable) table = g_hash_table_new_full (nb_relay_peer_id_hash,
                                                       nb_relay_peer_id_equal,
                                                       g_free, NULL);
  NbRelayPeerId a, b, a2;
  g_autoptr(NbRelayPeerId) dup = NULL;

  nb_relay_peer_id_from_key (&a, KEY1);
  nb_relay_peer_id_from_key (&b, KEY2);
  nb_relay_peer_id_from_key (&a2, KEY1);
  g_assert_true (nb_relay_peer_id_equal (&a, &a2));
  g_assert_false (nb_relay_peer_id_equal (&a, &b));
  g_assert_cmpuint (nb_relay_peer_id_hash (&a), ==, nb_relay_peer_id_hash (&a2));

  g_hash_table_add (table, nb_relay_peer_id_dup (&a));
  g_assert_true (g_hash_table_contains (table, &a2));
  g_assert_false (g_hash_table_contains (table, &b));

  dup = nb_relay_peer_id_dup (&b);
  g_assert_true (nb_relay_peer_id_equal (dup, &b));
}

static void
test_peer_id_string_hostile (void)
{
  NbRelayPeerId id;
  g_autofree char *s = NULL;

  memset (&id, 0, sizeof id);
  id.bytes[0] = 0x01;
  id.bytes[1] = 'h';
  id.bytes[2] = 0xff;
  id.bytes[3] = '-';
  s = nb_relay_peer_id_to_string (&id);
  g_assert_cmpstr (s, ==, "?h?-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
}

/* ---- transport --------------------------------------------------------- */

static void
test_transport_layout (void)
{
  NbRelayPeerId peer;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) frame = NULL;
  g_autoptr(NbRelayMsg) from_client = NULL;
  g_autoptr(NbRelayMsg) from_server = NULL;

  nb_relay_peer_id_from_key (&peer, KEY2);
  frame = nb_relay_msg_encode_transport (&peer, "hello", 5, &error);
  g_assert_no_error (error);
  assert_bytes_hex (frame, "0103" SHA_PREFIX_HEX KEY2_SHA256 "68656c6c6f");

  from_client = nb_relay_msg_decode (frame, NB_RELAY_MSG_FROM_CLIENT, &error);
  g_assert_no_error (error);
  g_assert_cmpint (from_client->type, ==, NB_RELAY_MSG_TRANSPORT);
  g_assert_true (nb_relay_peer_id_equal (&from_client->peer_id, &peer));
  g_assert_cmpmem (g_bytes_get_data (from_client->payload, NULL),
                   g_bytes_get_size (from_client->payload), "hello", 5);

  from_server = nb_relay_msg_decode (frame, NB_RELAY_MSG_FROM_SERVER, &error);
  g_assert_no_error (error);
  g_assert_cmpint (from_server->type, ==, NB_RELAY_MSG_TRANSPORT);
  g_assert_true (nb_relay_peer_id_equal (&from_server->peer_id, &peer));
}

static void
test_transport_limits (void)
{
  NbRelayPeerId peer;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) empty = NULL;
  g_autoptr(GBytes) max = NULL;
  g_autoptr(GBytes) too_big = NULL;
  g_autoptr(GBytes) oversize_frame = NULL;
  g_autoptr(NbRelayMsg) msg = NULL;
  g_autofree guint8 *payload = g_malloc0 (NB_RELAY_MAX_TRANSPORT_PAYLOAD + 1);

  nb_relay_peer_id_from_key (&peer, KEY1);

  empty = nb_relay_msg_encode_transport (&peer, NULL, 0, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_bytes_get_size (empty), ==, 38);
  msg = nb_relay_msg_decode (empty, NB_RELAY_MSG_FROM_SERVER, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_bytes_get_size (msg->payload), ==, 0);
  g_clear_pointer (&msg, nb_relay_msg_free);

  max = nb_relay_msg_encode_transport (&peer, payload, NB_RELAY_MAX_TRANSPORT_PAYLOAD, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_bytes_get_size (max), ==, 8820);
  msg = nb_relay_msg_decode (max, NB_RELAY_MSG_FROM_CLIENT, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_bytes_get_size (msg->payload), ==, 8782);

  too_big = nb_relay_msg_encode_transport (&peer, payload, NB_RELAY_MAX_TRANSPORT_PAYLOAD + 1, &error);
  g_assert_null (too_big);
  g_assert_error (error, NB_RELAY_MSG_ERROR, NB_RELAY_MSG_ERROR_TOO_LARGE);

  oversize_frame = frame_of (NB_RELAY_MSG_TRANSPORT, 8821, 0x55);
  assert_decode_error (oversize_frame, NB_RELAY_MSG_FROM_CLIENT, NB_RELAY_MSG_ERROR_TOO_LARGE);
  assert_decode_error (oversize_frame, NB_RELAY_MSG_FROM_SERVER, NB_RELAY_MSG_ERROR_TOO_LARGE);
}

static void
test_transport_truncated (void)
{
  /* 0..37 bytes: no room for the 36-byte peer ID */
  for (gsize len = 0; len < 38; len++)
    {
      g_autoptr(GBytes) frame = frame_of (NB_RELAY_MSG_TRANSPORT, len, 0x73);

      assert_decode_error (frame, NB_RELAY_MSG_FROM_SERVER, NB_RELAY_MSG_ERROR_TRUNCATED);
      assert_decode_error (frame, NB_RELAY_MSG_FROM_CLIENT, NB_RELAY_MSG_ERROR_TRUNCATED);
    }
}

/* ---- close, health check ----------------------------------------------- */

static void
test_close_and_health_check (void)
{
  g_autoptr(GBytes) close_msg = nb_relay_msg_encode_close ();
  g_autoptr(GBytes) hc = nb_relay_msg_encode_health_check ();
  NbRelayMsgOrigin origins[] = { NB_RELAY_MSG_FROM_CLIENT, NB_RELAY_MSG_FROM_SERVER };

  assert_bytes_hex (close_msg, "0104");
  assert_bytes_hex (hc, "0105");

  for (guint i = 0; i < G_N_ELEMENTS (origins); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(NbRelayMsg) c = nb_relay_msg_decode (close_msg, origins[i], &error);
      g_autoptr(NbRelayMsg) h = NULL;

      g_assert_no_error (error);
      g_assert_cmpint (c->type, ==, NB_RELAY_MSG_CLOSE);
      h = nb_relay_msg_decode (hc, origins[i], &error);
      g_assert_no_error (error);
      g_assert_cmpint (h->type, ==, NB_RELAY_MSG_HEALTH_CHECK);
      g_assert_null (h->payload);
    }
}

/* ---- auth -------------------------------------------------------------- */

#define AUTH_PAYLOAD_HEX "01" TOKEN_SIG_HEX TOKEN_PAYLOAD_HEX
#define AUTH_MSG_HEX "0106" "2112a442" SHA_PREFIX_HEX KEY1_SHA256 AUTH_PAYLOAD_HEX

static void
test_auth_layout (void)
{
  NbRelayPeerId self;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) payload = NULL;
  g_autoptr(GBytes) frame = NULL;
  g_autoptr(NbRelayMsg) msg = NULL;

  payload = nb_relay_auth_payload_new (TOKEN_PAYLOAD, TOKEN_SIG_B64, &error);
  g_assert_no_error (error);
  assert_bytes_hex (payload, AUTH_PAYLOAD_HEX);

  nb_relay_peer_id_from_key (&self, KEY1);
  frame = nb_relay_msg_encode_auth (&self, g_bytes_get_data (payload, NULL),
                                    g_bytes_get_size (payload), &error);
  g_assert_no_error (error);
  assert_bytes_hex (frame, AUTH_MSG_HEX);
  g_assert_cmpuint (g_bytes_get_size (frame), ==, 2 + 4 + 36 + 1 + 32 + 10);

  msg = nb_relay_msg_decode (frame, NB_RELAY_MSG_FROM_CLIENT, &error);
  g_assert_no_error (error);
  g_assert_cmpint (msg->type, ==, NB_RELAY_MSG_AUTH);
  g_assert_true (nb_relay_peer_id_equal (&msg->peer_id, &self));
  g_assert_true (g_bytes_equal (msg->payload, payload));

  /* a client never receives an auth message */
  assert_decode_error (frame, NB_RELAY_MSG_FROM_SERVER, NB_RELAY_MSG_ERROR_UNEXPECTED_TYPE);
}

static void
test_auth_truncated_and_magic (void)
{
  g_autoptr(GBytes) good = hex_bytes (AUTH_MSG_HEX);
  const guint8 *data = g_bytes_get_data (good, NULL);
  g_autofree guint8 *bad_magic = g_memdup2 (data, g_bytes_get_size (good));
  g_autoptr(GBytes) bad = NULL;

  /* every prefix shorter than header + magic + ID */
  for (gsize len = 0; len < 42; len++)
    {
      g_autoptr(GBytes) prefix = g_bytes_new (data, len);

      assert_decode_error (prefix, NB_RELAY_MSG_FROM_CLIENT, NB_RELAY_MSG_ERROR_TRUNCATED);
    }
  /* exactly the header, magic and ID: an empty auth payload decodes */
  {
    g_autoptr(GBytes) prefix = g_bytes_new (data, 42);
    g_autoptr(GError) error = NULL;
    g_autoptr(NbRelayMsg) msg = nb_relay_msg_decode (prefix, NB_RELAY_MSG_FROM_CLIENT, &error);

    g_assert_no_error (error);
    g_assert_cmpuint (g_bytes_get_size (msg->payload), ==, 0);
  }

  for (gsize i = 2; i < 6; i++)
    {
      memcpy (bad_magic, data, g_bytes_get_size (good));
      bad_magic[i] ^= 0x01;
      bad = g_bytes_new (bad_magic, g_bytes_get_size (good));
      assert_decode_error (bad, NB_RELAY_MSG_FROM_CLIENT, NB_RELAY_MSG_ERROR_MALFORMED);
      g_clear_pointer (&bad, g_bytes_unref);
    }
}

static void
test_auth_limits (void)
{
  NbRelayPeerId self;
  guint8 payload[NB_RELAY_MAX_AUTH_PAYLOAD + 1];
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) max = NULL;
  g_autoptr(GBytes) too_big = NULL;
  g_autoptr(GBytes) oversize = NULL;
  g_autoptr(NbRelayMsg) msg = NULL;

  memset (payload, 'x', sizeof payload);
  nb_relay_peer_id_from_key (&self, KEY1);

  max = nb_relay_msg_encode_auth (&self, payload, NB_RELAY_MAX_AUTH_PAYLOAD, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_bytes_get_size (max), ==, 212);
  msg = nb_relay_msg_decode (max, NB_RELAY_MSG_FROM_CLIENT, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_bytes_get_size (msg->payload), ==, 170);

  too_big = nb_relay_msg_encode_auth (&self, payload, NB_RELAY_MAX_AUTH_PAYLOAD + 1, &error);
  g_assert_null (too_big);
  g_assert_error (error, NB_RELAY_MSG_ERROR, NB_RELAY_MSG_ERROR_TOO_LARGE);

  oversize = frame_of (NB_RELAY_MSG_AUTH, 213, 0x21);
  assert_decode_error (oversize, NB_RELAY_MSG_FROM_CLIENT, NB_RELAY_MSG_ERROR_TOO_LARGE);
}

static void
test_auth_payload_errors (void)
{
  /* 137 payload bytes is the most that fits: 1 + 32 + 137 = 170 */
  g_autofree char *longest = g_strnfill (137, '9');
  g_autofree char *too_long = g_strnfill (138, '9');
  g_autofree char *b64_31 = NULL;
  g_autofree char *b64_33 = NULL;
  guint8 raw[33] = { 0 };
  struct {
    const char *payload;
    const char *signature;
    gint code;
  } cases[] = {
    { "", TOKEN_SIG_B64, NB_RELAY_MSG_ERROR_TOKEN_INVALID },
    { TOKEN_PAYLOAD, "", NB_RELAY_MSG_ERROR_TOKEN_INVALID },
    { TOKEN_PAYLOAD, "not base64!", NB_RELAY_MSG_ERROR_TOKEN_INVALID },
    { TOKEN_PAYLOAD, "qS00sughcfnPNlK5eieqZ60Wp9PztJYe70ER6ez+y/U", NB_RELAY_MSG_ERROR_TOKEN_INVALID },
    { TOKEN_PAYLOAD, TOKEN_SIG_B64 "\n", NB_RELAY_MSG_ERROR_TOKEN_INVALID },
    { TOKEN_PAYLOAD, "qS00sughcfnPNlK5eieqZ60Wp9PztJYe70ER6ez-y_U=", NB_RELAY_MSG_ERROR_TOKEN_INVALID },
    /* a byte >= 0x80 where libsodium 1.0.18 would read '/' */
    { TOKEN_PAYLOAD, "\xff" "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", NB_RELAY_MSG_ERROR_TOKEN_INVALID },
    { too_long, TOKEN_SIG_B64, NB_RELAY_MSG_ERROR_TOO_LARGE },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(GBytes) p = nb_relay_auth_payload_new (cases[i].payload, cases[i].signature, &error);

      g_assert_null (p);
      g_assert_error (error, NB_RELAY_MSG_ERROR, cases[i].code);
      /* the token never shows up in the message */
      if (*cases[i].signature != '\0')
        g_assert_null (strstr (error->message, cases[i].signature));
    }

  b64_31 = g_base64_encode (raw, 31);
  b64_33 = g_base64_encode (raw, 33);
  {
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) p = nb_relay_auth_payload_new (TOKEN_PAYLOAD, b64_31, &error);

    g_assert_null (p);
    g_assert_error (error, NB_RELAY_MSG_ERROR, NB_RELAY_MSG_ERROR_TOKEN_INVALID);
  }
  {
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) p = nb_relay_auth_payload_new (TOKEN_PAYLOAD, b64_33, &error);

    g_assert_null (p);
    g_assert_error (error, NB_RELAY_MSG_ERROR, NB_RELAY_MSG_ERROR_TOKEN_INVALID);
  }
  {
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) p = nb_relay_auth_payload_new (longest, TOKEN_SIG_B64, &error);
    NbRelayPeerId self;
    g_autoptr(GBytes) frame = NULL;

    g_assert_no_error (error);
    g_assert_cmpuint (g_bytes_get_size (p), ==, 170);
    nb_relay_peer_id_from_key (&self, KEY1);
    frame = nb_relay_msg_encode_auth (&self, g_bytes_get_data (p, NULL), g_bytes_get_size (p), &error);
    g_assert_no_error (error);
    g_assert_cmpuint (g_bytes_get_size (frame), ==, NB_RELAY_MAX_AUTH_SIZE);
  }
}

/* ---- auth response ----------------------------------------------------- */

static void
test_auth_response (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) frame = NULL;
  g_autoptr(NbRelayMsg) msg = NULL;
  g_autoptr(GBytes) empty = hex_bytes ("0107");

  frame = nb_relay_msg_encode_auth_response (INSTANCE_URL, &error);
  g_assert_no_error (error);
  assert_bytes_hex (frame, "0107" INSTANCE_URL_HEX);

  msg = nb_relay_msg_decode (frame, NB_RELAY_MSG_FROM_SERVER, &error);
  g_assert_no_error (error);
  g_assert_cmpint (msg->type, ==, NB_RELAY_MSG_AUTH_RESPONSE);
  g_assert_cmpstr (msg->instance_url, ==, INSTANCE_URL);

  assert_decode_error (frame, NB_RELAY_MSG_FROM_CLIENT, NB_RELAY_MSG_ERROR_UNEXPECTED_TYPE);
  assert_decode_error (empty, NB_RELAY_MSG_FROM_SERVER, NB_RELAY_MSG_ERROR_TRUNCATED);
}

static void
test_auth_response_limits (void)
{
  g_autofree char *max_url = g_strnfill (8190, 'u');
  g_autofree char *long_url = g_strnfill (8191, 'u');
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) max = NULL;
  g_autoptr(GBytes) too_big = NULL;
  g_autoptr(GBytes) empty = NULL;
  g_autoptr(GBytes) oversize = frame_of (NB_RELAY_MSG_AUTH_RESPONSE, 8193, 'u');
  g_autoptr(GBytes) with_nul = hex_bytes ("0107" "72656c00" "3a2f2f");
  g_autoptr(GBytes) not_utf8 = hex_bytes ("0107" "72656cff");
  g_autoptr(NbRelayMsg) msg = NULL;

  max = nb_relay_msg_encode_auth_response (max_url, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_bytes_get_size (max), ==, 8192);
  msg = nb_relay_msg_decode (max, NB_RELAY_MSG_FROM_SERVER, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (strlen (msg->instance_url), ==, 8190);

  too_big = nb_relay_msg_encode_auth_response (long_url, &error);
  g_assert_null (too_big);
  g_assert_error (error, NB_RELAY_MSG_ERROR, NB_RELAY_MSG_ERROR_TOO_LARGE);
  g_clear_error (&error);

  empty = nb_relay_msg_encode_auth_response ("", &error);
  g_assert_null (empty);
  g_assert_error (error, NB_RELAY_MSG_ERROR, NB_RELAY_MSG_ERROR_MALFORMED);

  assert_decode_error (oversize, NB_RELAY_MSG_FROM_SERVER, NB_RELAY_MSG_ERROR_TOO_LARGE);
  assert_decode_error (with_nul, NB_RELAY_MSG_FROM_SERVER, NB_RELAY_MSG_ERROR_MALFORMED);
  assert_decode_error (not_utf8, NB_RELAY_MSG_FROM_SERVER, NB_RELAY_MSG_ERROR_MALFORMED);
}

/* ---- peer lists -------------------------------------------------------- */

static void
test_peer_list_layout (void)
{
  struct {
    NbRelayMsgType type;
    const char *hex_type;
    NbRelayMsgOrigin sender;
    NbRelayMsgOrigin other;
  } types[] = {
    { NB_RELAY_MSG_SUBSCRIBE_PEER_STATE, "08", NB_RELAY_MSG_FROM_CLIENT, NB_RELAY_MSG_FROM_SERVER },
    { NB_RELAY_MSG_UNSUBSCRIBE_PEER_STATE, "09", NB_RELAY_MSG_FROM_CLIENT, NB_RELAY_MSG_FROM_SERVER },
    { NB_RELAY_MSG_PEERS_ONLINE, "0a", NB_RELAY_MSG_FROM_SERVER, NB_RELAY_MSG_FROM_CLIENT },
    { NB_RELAY_MSG_PEERS_WENT_OFFLINE, "0b", NB_RELAY_MSG_FROM_SERVER, NB_RELAY_MSG_FROM_CLIENT },
  };
  NbRelayPeerId ids[2];

  nb_relay_peer_id_from_key (&ids[0], KEY1);
  nb_relay_peer_id_from_key (&ids[1], KEY2);

  for (guint i = 0; i < G_N_ELEMENTS (types); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(GPtrArray) msgs = nb_relay_msg_encode_peer_list (types[i].type, ids, 2, &error);
      g_autofree char *hex = g_strconcat ("01", types[i].hex_type, SHA_PREFIX_HEX, KEY1_SHA256,
                                          SHA_PREFIX_HEX, KEY2_SHA256, NULL);
      g_autoptr(NbRelayMsg) msg = NULL;
      g_autofree char *header = g_strconcat ("01", types[i].hex_type, NULL);
      g_autoptr(GBytes) empty = hex_bytes (header);
      g_autoptr(NbRelayMsg) empty_msg = NULL;

      g_assert_no_error (error);
      g_assert_cmpuint (msgs->len, ==, 1);
      assert_bytes_hex (msgs->pdata[0], hex);

      msg = nb_relay_msg_decode (msgs->pdata[0], types[i].sender, &error);
      g_assert_no_error (error);
      g_assert_cmpint (msg->type, ==, types[i].type);
      g_assert_cmpuint (msg->n_peer_ids, ==, 2);
      g_assert_true (nb_relay_peer_id_equal (&msg->peer_ids[0], &ids[0]));
      g_assert_true (nb_relay_peer_id_equal (&msg->peer_ids[1], &ids[1]));

      assert_decode_error (msgs->pdata[0], types[i].other, NB_RELAY_MSG_ERROR_UNEXPECTED_TYPE);

      /* an empty list decodes (NetBird accepts it) */
      empty_msg = nb_relay_msg_decode (empty, types[i].sender, &error);
      g_assert_no_error (error);
      g_assert_cmpuint (empty_msg->n_peer_ids, ==, 0);
      g_assert_null (empty_msg->peer_ids);

      /* every length that is not 2 + n x 36 is refused */
      for (gsize len = 3; len < 2 + 3 * 36; len++)
        {
          g_autoptr(GBytes) frame = NULL;

          if ((len - 2) % 36 == 0)
            continue;
          frame = frame_of (types[i].type, len, 0x41);
          assert_decode_error (frame, types[i].sender, NB_RELAY_MSG_ERROR_MALFORMED);
        }
    }
}

static void
test_peer_list_split (void)
{
  gsize counts[] = { 1, 243, 244, 245, 488, 489, 500 };

  for (guint c = 0; c < G_N_ELEMENTS (counts); c++)
    {
      gsize n = counts[c];
      g_autofree NbRelayPeerId *ids = g_new (NbRelayPeerId, n);
      g_autoptr(GError) error = NULL;
      g_autoptr(GPtrArray) msgs = NULL;
      gsize seen = 0;

      for (gsize i = 0; i < n; i++)
        {
          g_autofree char *key = g_strdup_printf ("peer-%" G_GSIZE_FORMAT, i);

          nb_relay_peer_id_from_key (&ids[i], key);
        }

      msgs = nb_relay_msg_encode_peer_list (NB_RELAY_MSG_PEERS_ONLINE, ids, n, &error);
      g_assert_no_error (error);
      g_assert_cmpuint (msgs->len, ==, (n + 243) / 244);
      for (guint m = 0; m < msgs->len; m++)
        {
          g_autoptr(NbRelayMsg) msg = nb_relay_msg_decode (msgs->pdata[m], NB_RELAY_MSG_FROM_SERVER,
                                                           &error);

          g_assert_no_error (error);
          g_assert_cmpuint (g_bytes_get_size (msgs->pdata[m]), <=, NB_RELAY_MAX_MESSAGE_SIZE);
          if (m + 1 < msgs->len)
            {
              g_assert_cmpuint (msg->n_peer_ids, ==, 244);
              g_assert_cmpuint (g_bytes_get_size (msgs->pdata[m]), ==, 2 + 244 * 36);
            }
          for (gsize i = 0; i < msg->n_peer_ids; i++)
            g_assert_true (nb_relay_peer_id_equal (&msg->peer_ids[i], &ids[seen + i]));
          seen += msg->n_peer_ids;
        }
      g_assert_cmpuint (seen, ==, n);
    }
}

static void
test_peer_list_errors (void)
{
  NbRelayPeerId id;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) none = NULL;
  g_autoptr(GPtrArray) wrong = NULL;
  /* 245 IDs in one message: 8822 bytes */
  g_autoptr(GBytes) oversize = frame_of (NB_RELAY_MSG_PEERS_ONLINE, 2 + 245 * 36, 0x42);
  g_autoptr(GBytes) oversize_sub = frame_of (NB_RELAY_MSG_SUBSCRIBE_PEER_STATE, 2 + 245 * 36, 0x42);

  nb_relay_peer_id_from_key (&id, KEY1);
  none = nb_relay_msg_encode_peer_list (NB_RELAY_MSG_SUBSCRIBE_PEER_STATE, &id, 0, &error);
  g_assert_null (none);
  g_assert_error (error, NB_RELAY_MSG_ERROR, NB_RELAY_MSG_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);

  wrong = nb_relay_msg_encode_peer_list (NB_RELAY_MSG_TRANSPORT, &id, 1, &error);
  g_assert_null (wrong);
  g_assert_error (error, NB_RELAY_MSG_ERROR, NB_RELAY_MSG_ERROR_INVALID_ARGUMENT);

  assert_decode_error (oversize, NB_RELAY_MSG_FROM_SERVER, NB_RELAY_MSG_ERROR_TOO_LARGE);
  assert_decode_error (oversize_sub, NB_RELAY_MSG_FROM_CLIENT, NB_RELAY_MSG_ERROR_TOO_LARGE);
}

/* ---- header checks ----------------------------------------------------- */

static void
test_version_and_type (void)
{
  struct {
    const char *hex;
    gint client_code;
    gint server_code;
  } cases[] = {
    { "", NB_RELAY_MSG_ERROR_TRUNCATED, NB_RELAY_MSG_ERROR_TRUNCATED },
    { "01", NB_RELAY_MSG_ERROR_TRUNCATED, NB_RELAY_MSG_ERROR_TRUNCATED },
    { "0005", NB_RELAY_MSG_ERROR_VERSION, NB_RELAY_MSG_ERROR_VERSION },
    { "0205", NB_RELAY_MSG_ERROR_VERSION, NB_RELAY_MSG_ERROR_VERSION },
    { "ff04", NB_RELAY_MSG_ERROR_VERSION, NB_RELAY_MSG_ERROR_VERSION },
    { "02ff", NB_RELAY_MSG_ERROR_VERSION, NB_RELAY_MSG_ERROR_VERSION },
    { "0100", NB_RELAY_MSG_ERROR_UNKNOWN_TYPE, NB_RELAY_MSG_ERROR_UNKNOWN_TYPE },
    { "010c", NB_RELAY_MSG_ERROR_UNKNOWN_TYPE, NB_RELAY_MSG_ERROR_UNKNOWN_TYPE },
    { "01ff00", NB_RELAY_MSG_ERROR_UNKNOWN_TYPE, NB_RELAY_MSG_ERROR_UNKNOWN_TYPE },
    /* legacy hello / hello response: refused both ways */
    { "0101", NB_RELAY_MSG_ERROR_UNEXPECTED_TYPE, NB_RELAY_MSG_ERROR_UNEXPECTED_TYPE },
    { "0102", NB_RELAY_MSG_ERROR_UNEXPECTED_TYPE, NB_RELAY_MSG_ERROR_UNEXPECTED_TYPE },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GBytes) frame = hex_bytes (cases[i].hex);

      assert_decode_error (frame, NB_RELAY_MSG_FROM_CLIENT, cases[i].client_code);
      assert_decode_error (frame, NB_RELAY_MSG_FROM_SERVER, cases[i].server_code);
    }

  /* the version is checked before anything else, also on valid layouts */
  {
    g_autoptr(GBytes) frame = hex_bytes ("0203" SHA_PREFIX_HEX KEY1_SHA256 "00");

    assert_decode_error (frame, NB_RELAY_MSG_FROM_SERVER, NB_RELAY_MSG_ERROR_VERSION);
  }
  /* unknown types are told apart even when oversized */
  {
    g_autoptr(GBytes) frame = frame_of (0x7f, 9000, 0);

    assert_decode_error (frame, NB_RELAY_MSG_FROM_SERVER, NB_RELAY_MSG_ERROR_UNKNOWN_TYPE);
  }
  g_assert_cmpstr (nb_relay_msg_type_to_string (200), ==, "unknown");
  g_assert_cmpstr (nb_relay_msg_type_to_string (NB_RELAY_MSG_PEERS_WENT_OFFLINE), ==,
                   "peers went offline");
}

/* Every prefix of every valid message either decodes or fails cleanly;
 * random frames never crash (run under ASan/UBSan in CI). */
static void
test_decode_robustness (void)
{
  NbRelayPeerId ids[3];
  g_autoptr(GPtrArray) frames = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  g_autoptr(GPtrArray) lists = NULL;
  g_autoptr(GBytes) auth_payload = NULL;

  nb_relay_peer_id_from_key (&ids[0], KEY1);
  nb_relay_peer_id_from_key (&ids[1], KEY2);
  nb_relay_peer_id_from_key (&ids[2], "third");

  auth_payload = nb_relay_auth_payload_new (TOKEN_PAYLOAD, TOKEN_SIG_B64, NULL);
  g_ptr_array_add (frames, nb_relay_msg_encode_transport (&ids[0], "abc", 3, NULL));
  g_ptr_array_add (frames, nb_relay_msg_encode_close ());
  g_ptr_array_add (frames, nb_relay_msg_encode_health_check ());
  g_ptr_array_add (frames, nb_relay_msg_encode_auth (&ids[0], g_bytes_get_data (auth_payload, NULL),
                                                     g_bytes_get_size (auth_payload), NULL));
  g_ptr_array_add (frames, nb_relay_msg_encode_auth_response (INSTANCE_URL, NULL));
  for (NbRelayMsgType t = NB_RELAY_MSG_SUBSCRIBE_PEER_STATE; t <= NB_RELAY_MSG_PEERS_WENT_OFFLINE; t++)
    {
      lists = nb_relay_msg_encode_peer_list (t, ids, 3, NULL);
      g_ptr_array_add (frames, g_bytes_ref (lists->pdata[0]));
      g_clear_pointer (&lists, g_ptr_array_unref);
    }

  for (guint f = 0; f < frames->len; f++)
    {
      gsize len = 0;
      const guint8 *data = g_bytes_get_data (frames->pdata[f], &len);

      g_assert_nonnull (data);
      for (gsize cut = 0; cut <= len; cut++)
        for (int origin = 0; origin < 2; origin++)
          {
            g_autoptr(GError) error = NULL;
            g_autoptr(NbRelayMsg) msg = nb_relay_msg_decode_data (data, cut, origin, &error);

            g_assert_true ((msg == NULL) != (error == NULL));
          }
    }

  for (guint round = 0; round < 20000; round++)
    {
      guint8 buf[300];
      gsize len = randombytes_uniform (sizeof buf + 1);

      randombytes_buf (buf, len);
      if (len > 0 && (round & 1))
        buf[0] = 1;
      if (len > 1 && (round & 2))
        buf[1] = (guint8) (randombytes_uniform (13));
      for (int origin = 0; origin < 2; origin++)
        {
          g_autoptr(GError) error = NULL;
          g_autoptr(NbRelayMsg) msg = nb_relay_msg_decode_data (buf, len, origin, &error);

          g_assert_true ((msg == NULL) != (error == NULL));
        }
    }
}

/* ---- tokens ------------------------------------------------------------ */

static GBytes *
auth_payload_from_parts (guint8      alg,
                         const char *sig_hex,
                         const char *payload)
{
  g_autoptr(GBytes) sig = hex_bytes (sig_hex);
  GByteArray *buf = g_byte_array_new ();

  g_byte_array_append (buf, &alg, 1);
  g_byte_array_append (buf, g_bytes_get_data (sig, NULL), g_bytes_get_size (sig));
  g_byte_array_append (buf, (const guint8 *) payload, strlen (payload));
  return g_byte_array_free_to_bytes (buf);
}

static void
test_token_create (void)
{
  g_autoptr(NbRelayToken) token = NULL;
  g_autoptr(NbRelayToken) long_token = NULL;
  g_autofree char *long_secret = g_strnfill (100, 'a');
  g_autofree guint8 *sig = NULL;
  gsize sig_len = 0;
  g_autoptr(GBytes) sig_bytes = NULL;

  token = nb_relay_token_new ((const guint8 *) SECRET, strlen (SECRET), 4102444800);
  g_assert_cmpstr (token->payload, ==, TOKEN_PAYLOAD);
  g_assert_cmpstr (token->signature, ==, TOKEN_SIG_B64);

  long_token = nb_relay_token_new ((const guint8 *) long_secret, 100, 4102444800);
  g_assert_cmpstr (long_token->payload, ==, TOKEN_PAYLOAD);
  sig = g_base64_decode (long_token->signature, &sig_len);
  sig_bytes = g_bytes_new (sig, sig_len);
  assert_bytes_hex (sig_bytes, LONG_SECRET_SIG_HEX);
}

static void
test_token_verify (void)
{
  const guint8 *secret = (const guint8 *) SECRET;
  gsize secret_len = strlen (SECRET);
  g_autoptr(GBytes) good = hex_bytes (AUTH_PAYLOAD_HEX);
  g_autoptr(GBytes) other_secret = auth_payload_from_parts (1, OTHER_SECRET_SIG_HEX, TOKEN_PAYLOAD);
  g_autoptr(GBytes) tampered = auth_payload_from_parts (1, TOKEN_SIG_HEX, "4102444801");
  g_autoptr(GBytes) alg2 = auth_payload_from_parts (2, TOKEN_SIG_HEX, TOKEN_PAYLOAD);
  g_autoptr(GBytes) alg0 = auth_payload_from_parts (0, TOKEN_SIG_HEX, TOKEN_PAYLOAD);
  g_autoptr(GBytes) not_time = auth_payload_from_parts (1, NOT_A_TIME_SIG_HEX, "not-a-time");
  g_autoptr(GBytes) short_payload = auth_payload_from_parts (1, TOKEN_SIG_HEX, "410244480");
  struct {
    GBytes *payload;
    gint64 now;
    gint code; /* -1: valid */
  } cases[] = {
    { good, 1700000000, -1 },
    { good, 4102444800, -1 },   /* the expiry second itself is still valid */
    { good, 4102444801, NB_RELAY_MSG_ERROR_TOKEN_EXPIRED },
    { other_secret, 1700000000, NB_RELAY_MSG_ERROR_TOKEN_SIGNATURE },
    { tampered, 1700000000, NB_RELAY_MSG_ERROR_TOKEN_SIGNATURE },
    { alg2, 1700000000, NB_RELAY_MSG_ERROR_TOKEN_ALGORITHM },
    { alg0, 1700000000, NB_RELAY_MSG_ERROR_TOKEN_ALGORITHM },
    { not_time, 1700000000, NB_RELAY_MSG_ERROR_TOKEN_INVALID },
    { short_payload, 1700000000, NB_RELAY_MSG_ERROR_TOKEN_INVALID },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GError) error = NULL;
      gsize len = 0;
      const void *data = g_bytes_get_data (cases[i].payload, &len);
      gboolean ok = nb_relay_auth_payload_verify (data, len, secret, secret_len, cases[i].now, &error);

      if (cases[i].code < 0)
        {
          g_assert_no_error (error);
          g_assert_true (ok);
        }
      else
        {
          g_assert_false (ok);
          g_assert_error (error, NB_RELAY_MSG_ERROR, cases[i].code);
        }
    }

  /* every truncation of a valid payload is refused */
  for (gsize len = 0; len < g_bytes_get_size (good); len++)
    {
      g_autoptr(GError) error = NULL;

      g_assert_false (nb_relay_auth_payload_verify (g_bytes_get_data (good, NULL), len,
                                                    secret, secret_len, 1700000000, &error));
      g_assert_nonnull (error);
    }

  /* what nb_relay_token_new() makes verifies; round trip via the auth payload */
  {
    g_autoptr(NbRelayToken) token = nb_relay_token_new (secret, secret_len, 1800000000);
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) p = nb_relay_auth_payload_new (token->payload, token->signature, &error);

    g_assert_no_error (error);
    g_assert_true (nb_relay_auth_payload_verify (g_bytes_get_data (p, NULL), g_bytes_get_size (p),
                                                 secret, secret_len, 1799999999, &error));
    g_assert_false (nb_relay_auth_payload_verify (g_bytes_get_data (p, NULL), g_bytes_get_size (p),
                                                  secret, secret_len, 1800000001, &error));
    g_assert_error (error, NB_RELAY_MSG_ERROR, NB_RELAY_MSG_ERROR_TOKEN_EXPIRED);
  }
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_assert_cmpint (sodium_init (), >=, 0);

  g_test_add_func ("/relay-msg/peer-id/known-answer", test_peer_id_known_answer);
  g_test_add_func ("/relay-msg/peer-id/table", test_peer_id_table);
  g_test_add_func ("/relay-msg/peer-id/hostile-string", test_peer_id_string_hostile);
  g_test_add_func ("/relay-msg/transport/layout", test_transport_layout);
  g_test_add_func ("/relay-msg/transport/limits", test_transport_limits);
  g_test_add_func ("/relay-msg/transport/truncated", test_transport_truncated);
  g_test_add_func ("/relay-msg/close-and-health-check", test_close_and_health_check);
  g_test_add_func ("/relay-msg/auth/layout", test_auth_layout);
  g_test_add_func ("/relay-msg/auth/truncated-and-magic", test_auth_truncated_and_magic);
  g_test_add_func ("/relay-msg/auth/limits", test_auth_limits);
  g_test_add_func ("/relay-msg/auth/payload-errors", test_auth_payload_errors);
  g_test_add_func ("/relay-msg/auth-response/layout", test_auth_response);
  g_test_add_func ("/relay-msg/auth-response/limits", test_auth_response_limits);
  g_test_add_func ("/relay-msg/peer-list/layout", test_peer_list_layout);
  g_test_add_func ("/relay-msg/peer-list/split", test_peer_list_split);
  g_test_add_func ("/relay-msg/peer-list/errors", test_peer_list_errors);
  g_test_add_func ("/relay-msg/header/version-and-type", test_version_and_type);
  g_test_add_func ("/relay-msg/decode/robustness", test_decode_robustness);
  g_test_add_func ("/relay-msg/token/create", test_token_create);
  g_test_add_func ("/relay-msg/token/verify", test_token_verify);

  return g_test_run ();
}
