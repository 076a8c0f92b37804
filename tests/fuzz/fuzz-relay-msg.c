/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Relay protocol messages (relay-msg.h): every type, from both sides.
 *
 * Input: one binary WebSocket message. It is decoded as sent by a client and
 * as sent by a server, through both nb_relay_msg_decode() (slices of a
 * GBytes) and nb_relay_msg_decode_data() (copies), which must agree. A
 * decoded message must be what the encoders build from its fields (CLOSE and
 * HEALTH_CHECK: the header; NetBird ignores what follows). AUTH payloads go
 * through the relay server's token check.
 */
#include "config.h"

#include "fuzz-common.h"
#include "relay-msg.h"

#include <string.h>

static const guint8 secret[] = "fuzz relay secret";

static void
assert_same (const NbRelayMsg *a, const NbRelayMsg *b)
{
  g_assert_cmpint (a->type, ==, b->type);
  g_assert_cmpmem (a->peer_id.bytes, sizeof a->peer_id.bytes, b->peer_id.bytes, sizeof b->peer_id.bytes);
  g_assert_true ((a->payload == NULL) == (b->payload == NULL));
  if (a->payload)
    g_assert_true (g_bytes_equal (a->payload, b->payload));
  g_assert_cmpstr (a->instance_url, ==, b->instance_url);
  g_assert_cmpuint (a->n_peer_ids, ==, b->n_peer_ids);
  if (a->n_peer_ids)
    g_assert_cmpmem (a->peer_ids, a->n_peer_ids * sizeof (NbRelayPeerId),
                     b->peer_ids, b->n_peer_ids * sizeof (NbRelayPeerId));
}

static void
check_encoding (const NbRelayMsg *msg, const uint8_t *data, size_t size)
{
  g_autoptr(GBytes) again = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *id_text = NULL;
  const guint8 *payload = NULL;
  gsize payload_len = 0;

  g_assert_cmpuint (size, >=, NB_RELAY_HEADER_LEN);
  g_assert_cmpuint (data[0], ==, NB_RELAY_PROTOCOL_VERSION);
  g_assert_cmpuint (data[1], ==, msg->type);
  g_assert_nonnull (nb_relay_msg_type_to_string (msg->type));
  if (msg->payload)
    payload = g_bytes_get_data (msg->payload, &payload_len);

  switch (msg->type)
    {
    case NB_RELAY_MSG_TRANSPORT:
      g_assert_cmpuint (size, <=, NB_RELAY_MAX_MESSAGE_SIZE);
      g_assert_nonnull (msg->payload);
      id_text = nb_relay_peer_id_to_string (&msg->peer_id);
      again = nb_relay_msg_encode_transport (&msg->peer_id, payload, payload_len, &error);
      break;

    case NB_RELAY_MSG_CLOSE:
    case NB_RELAY_MSG_HEALTH_CHECK:
      g_assert_null (msg->payload);
      again = msg->type == NB_RELAY_MSG_CLOSE ? nb_relay_msg_encode_close ()
                                              : nb_relay_msg_encode_health_check ();
      g_assert_cmpmem (g_bytes_get_data (again, NULL), g_bytes_get_size (again), data, NB_RELAY_HEADER_LEN);
      return;

    case NB_RELAY_MSG_AUTH:
      g_assert_cmpuint (size, <=, NB_RELAY_MAX_AUTH_SIZE);
      g_assert_nonnull (msg->payload);
      id_text = nb_relay_peer_id_to_string (&msg->peer_id);
      again = nb_relay_msg_encode_auth (&msg->peer_id, payload, payload_len, &error);
      {
        g_autoptr(GError) verify_error = NULL;

        /* What the server does with it; a random payload never verifies. */
        if (!nb_relay_auth_payload_verify (payload, payload_len, secret, sizeof secret,
                                           0, &verify_error))
          g_assert_true (verify_error->domain == NB_RELAY_MSG_ERROR);
      }
      break;

    case NB_RELAY_MSG_AUTH_RESPONSE:
      g_assert_nonnull (msg->instance_url);
      g_assert_cmpuint (strlen (msg->instance_url), ==, size - NB_RELAY_HEADER_LEN);
      g_assert_true (g_utf8_validate (msg->instance_url, -1, NULL));
      again = nb_relay_msg_encode_auth_response (msg->instance_url, &error);
      break;

    case NB_RELAY_MSG_SUBSCRIBE_PEER_STATE:
    case NB_RELAY_MSG_UNSUBSCRIBE_PEER_STATE:
    case NB_RELAY_MSG_PEERS_ONLINE:
    case NB_RELAY_MSG_PEERS_WENT_OFFLINE:
      g_assert_cmpuint (msg->n_peer_ids * NB_RELAY_PEER_ID_LEN, ==, size - NB_RELAY_HEADER_LEN);
      g_assert_cmpuint (msg->n_peer_ids, <=, NB_RELAY_MAX_PEER_IDS_PER_MESSAGE);
      for (gsize i = 0; i < msg->n_peer_ids; i++)
        {
          g_autofree char *s = nb_relay_peer_id_to_string (&msg->peer_ids[i]);
          g_assert_true (g_utf8_validate (s, -1, NULL));
          (void) nb_relay_peer_id_hash (&msg->peer_ids[i]);
        }
      if (msg->n_peer_ids == 0)
        {
          g_assert_null (msg->peer_ids);
          return;
        }
      {
        g_autoptr(GPtrArray) list = nb_relay_msg_encode_peer_list (msg->type, msg->peer_ids,
                                                                    msg->n_peer_ids, &error);
        g_assert_no_error (error);
        g_assert_cmpuint (list->len, ==, 1);
        again = g_bytes_ref (g_ptr_array_index (list, 0));
      }
      break;

    default:
      g_assert_not_reached ();
    }

  g_assert_no_error (error);
  g_assert_nonnull (again);
  g_assert_cmpmem (g_bytes_get_data (again, NULL), g_bytes_get_size (again), data, size);
  if (id_text)
    g_assert_true (g_utf8_validate (id_text, -1, NULL));
}

static void
decode_from (NbRelayMsgOrigin origin, GBytes *frame, const uint8_t *data, size_t size)
{
  g_autoptr(GError) error1 = NULL;
  g_autoptr(GError) error2 = NULL;
  g_autoptr(NbRelayMsg) msg1 = nb_relay_msg_decode (frame, origin, &error1);
  g_autoptr(NbRelayMsg) msg2 = nb_relay_msg_decode_data (data, size, origin, &error2);

  g_assert_true ((msg1 == NULL) == (error1 != NULL));
  g_assert_true ((msg2 == NULL) == (error2 != NULL));
  if (msg1 == NULL)
    {
      g_assert_nonnull (error2);
      g_assert_true (error1->domain == NB_RELAY_MSG_ERROR);
      g_assert_cmpint (error1->code, ==, error2->code);
      g_assert_cmpint (error1->code, <=, NB_RELAY_MSG_ERROR_MALFORMED);
      return;
    }
  g_assert_nonnull (msg2);
  assert_same (msg1, msg2);
  check_encoding (msg1, data, size);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autoptr(GBytes) frame = g_bytes_new (data, size);

  decode_from (NB_RELAY_MSG_FROM_CLIENT, frame, data, size);
  decode_from (NB_RELAY_MSG_FROM_SERVER, frame, data, size);
  return 0;
}
