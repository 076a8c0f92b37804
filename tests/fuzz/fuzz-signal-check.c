/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include "fuzz-signal-check.h"

#include <string.h>

#include <gio/gio.h>

#include "fuzz-common.h"

static GBytes *
encode (const NbSignalMessage *msg)
{
  g_autoptr(GError) error = NULL;
  GBytes *bytes = nb_signal_message_encode_body (msg, &error);

  g_assert_no_error (error);
  g_assert_nonnull (bytes);
  return bytes;
}

void
fuzz_signal_check_candidate (const NbSignalCandidate *c)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *text = nb_signal_candidate_to_string (c, &error);
  g_autoptr(NbSignalCandidate) again = NULL;
  g_autoptr(NbSignalCandidate) copy = nb_signal_candidate_copy (c);
  g_autofree char *text2 = NULL;
  g_autofree char *text3 = NULL;

  g_assert_no_error (error);
  g_assert_nonnull (text);
  g_assert_false (g_str_has_prefix (text, "candidate:"));
  g_assert_nonnull (nb_signal_candidate_type_to_string (c->type));
  g_assert_cmpuint (c->component, >=, 1);
  g_assert_cmpuint (c->component, <=, 256);
  g_assert_cmpuint (c->port, >=, 1);
  g_assert_nonnull (c->foundation);
  g_assert_nonnull (c->address);

  again = nb_signal_candidate_parse (text, &error);
  g_assert_no_error (error);
  text2 = nb_signal_candidate_to_string (again, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (text2, ==, text);
  text3 = nb_signal_candidate_to_string (copy, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (text3, ==, text);
}

void
fuzz_signal_check_message (const NbSignalMessage *msg)
{
  g_autoptr(GBytes) bytes = encode (msg);
  g_autoptr(GBytes) bytes2 = NULL;
  g_autoptr(GBytes) bytes3 = NULL;
  g_autoptr(NbSignalMessage) again = NULL;
  g_autoptr(NbSignalMessage) copy = nb_signal_message_copy (msg);
  g_autoptr(GError) error = NULL;

  g_assert_cmpstr (nb_signal_msg_type_to_string (msg->type), !=, "UNKNOWN");

  switch (msg->type)
    {
    case NB_SIGNAL_MSG_OFFER:
    case NB_SIGNAL_MSG_ANSWER:
      {
        const NbSignalOffer *o = msg->offer;
        g_autofree char *hex = NULL;

        g_assert_nonnull (o);
        g_assert_null (msg->candidate);
        g_assert_nonnull (o->ufrag);
        g_assert_nonnull (o->pwd);
        g_assert_nonnull (o->version);
        g_assert_null (strchr (o->ufrag, ':'));
        g_assert_null (strchr (o->pwd, ':'));
        g_assert_true (g_utf8_validate (o->ufrag, -1, NULL));
        g_assert_true (g_utf8_validate (o->pwd, -1, NULL));
        g_assert_true (g_utf8_validate (o->version, -1, NULL));
        g_assert_true (o->rosenpass_addr == NULL || (*o->rosenpass_addr && g_utf8_validate (o->rosenpass_addr, -1, NULL)));
        g_assert_true (o->relay_server_address == NULL || (*o->relay_server_address && g_utf8_validate (o->relay_server_address, -1, NULL)));
        g_assert_true (o->rosenpass_pub_key == NULL || g_bytes_get_size (o->rosenpass_pub_key) > 0);
        if (o->relay_server_ip)
          {
            g_autoptr(GInetAddress) addr = g_inet_address_new_from_string (o->relay_server_ip);
            g_assert_nonnull (addr);
          }
        hex = nb_signal_offer_dup_session_id_hex (o);
        g_assert_true ((hex != NULL) == o->has_session_id);
        if (hex)
          g_assert_cmpuint (strlen (hex), ==, 2 * NB_SIGNAL_SESSION_ID_LEN);
        for (guint i = 0; o->features && i < o->features->len; i++)
          g_assert_true (nb_signal_offer_has_feature (o, g_array_index (o->features, guint32, i)));
      }
      break;

    case NB_SIGNAL_MSG_CANDIDATE:
      g_assert_nonnull (msg->candidate);
      g_assert_null (msg->offer);
      fuzz_signal_check_candidate (msg->candidate);
      break;

    case NB_SIGNAL_MSG_MODE:
    case NB_SIGNAL_MSG_GO_IDLE:
    case NB_SIGNAL_MSG_HEARTBEAT:
      g_assert_null (msg->offer);
      g_assert_null (msg->candidate);
      break;

    default:
      g_assert_not_reached ();
    }

  /* Encoding is a fixed point after one round. */
  again = nb_signal_message_decode_body (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes), &error);
  g_assert_no_error (error);
  g_assert_nonnull (again);
  g_assert_cmpint (again->type, ==, msg->type);
  bytes2 = encode (again);
  g_assert_true (g_bytes_equal (bytes, bytes2));

  bytes3 = encode (copy);
  g_assert_true (g_bytes_equal (bytes, bytes3));
}
