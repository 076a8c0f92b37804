/* SPDX-License-Identifier: GPL-2.0-or-later
 * Tests service/engine/handshaker.c: controller rule, offer contents,
 * answering offers, stale session ids, answer matching, coalescing. No
 * network: a fake sender records what would go to the signal server. */
#include "config.h"

#include <string.h>

#include "handshaker.h"
#include "signal-client.h"

/* A public key (base64) whose raw bytes start with @first, rest @fill. */
static char *
key_with (guint8 first, guint8 fill)
{
  NbWgKey k;

  memset (k.bytes, fill, sizeof k.bytes);
  k.bytes[0] = first;
  return nb_wg_key_to_base64 (&k);
}

static char *
random_key (void)
{
  NbWgKey priv, pub;

  nb_wg_key_generate_private (&priv);
  nb_wg_key_derive_public (&priv, &pub);
  nb_wg_key_clear (&priv);
  return nb_wg_key_to_base64 (&pub);
}

static void
flush (void)
{
  while (g_main_context_iteration (NULL, FALSE))
    ;
}

static const guint8 SID_L1[5] = { 0x11, 0x11, 0x11, 0x11, 0x11 };
static const guint8 SID_L2[5] = { 0x12, 0x12, 0x12, 0x12, 0x12 };
static const guint8 SID_R1[5] = { 0xa1, 0xa1, 0xa1, 0xa1, 0xa1 };
static const guint8 SID_R2[5] = { 0xa2, 0xa2, 0xa2, 0xa2, 0xa2 };
static const guint8 SID_R3[5] = { 0xa3, 0xa3, 0xa3, 0xa3, 0xa3 };

/* ------------------------------------------------------------------------ */
/* Fixture: our local state, a fake sender, recorded events */

typedef struct {
  char *local_key;
  char *remote_key;
  NbHandshaker *hs;

  /* local state */
  char *ufrag;
  char *pwd;
  gboolean has_sid;
  guint8 sid[5];
  gboolean change_sid_on_offer;   /* the "ICE worker" starts a session */

  /* sender */
  gboolean fail_send;
  GPtrArray *sent;                /* NbSignalMessage * */
  GPtrArray *sent_to;             /* char * */

  /* events */
  GPtrArray *offers;              /* NbSignalOffer * */
  GArray *offer_changed;          /* gboolean */
  GPtrArray *answers;             /* NbSignalOffer * */
  GArray *answer_changed;         /* gboolean */
  GArray *answer_matched;         /* gboolean */
  GPtrArray *candidates;          /* NbSignalCandidate * */
  guint ice_notify;
  gboolean dispose_on_offer;
} Fixture;

static void
local_func (NbSignalOffer *out, gpointer user_data)
{
  Fixture *f = user_data;

  out->ufrag = g_strdup (f->ufrag);
  out->pwd = g_strdup (f->pwd);
  out->wg_listen_port = 51820;
  out->version = g_strdup ("0.36.5");
  out->rosenpass_pub_key = g_bytes_new_static ("rp-key", 6);
  out->rosenpass_addr = g_strdup ("100.64.0.1:9999");
  out->relay_server_address = g_strdup ("rels://relay.example.net:443");
  out->relay_server_ip = g_strdup ("203.0.113.9");
  out->has_session_id = f->has_sid;
  memcpy (out->session_id, f->sid, 5);
  nb_signal_offer_add_feature (out, NB_SIGNAL_FEATURE_DIRECT_CHECK);
}

static gboolean
fake_send (const char *remote_key, const NbSignalMessage *msg, gpointer user_data, GError **error)
{
  Fixture *f = user_data;

  if (f->fail_send)
    {
      g_set_error_literal (error, NB_SIGNAL_CLIENT_ERROR, NB_SIGNAL_CLIENT_ERROR_NOT_CONNECTED, "not connected");
      return FALSE;
    }
  g_ptr_array_add (f->sent, nb_signal_message_copy (msg));
  g_ptr_array_add (f->sent_to, g_strdup (remote_key));
  return TRUE;
}

static void
on_remote_offer (NbHandshaker *hs, const NbSignalOffer *offer, gboolean changed, gpointer user_data)
{
  Fixture *f = user_data;

  g_ptr_array_add (f->offers, nb_signal_offer_copy (offer));
  g_array_append_val (f->offer_changed, changed);
  if (f->change_sid_on_offer)
    memcpy (f->sid, SID_L2, 5);
  if (f->dispose_on_offer)
    g_object_run_dispose (G_OBJECT (hs));
}

static void
on_remote_answer (NbHandshaker *hs, const NbSignalOffer *answer, gboolean changed, gboolean matched,
                  gpointer user_data)
{
  Fixture *f = user_data;

  g_ptr_array_add (f->answers, nb_signal_offer_copy (answer));
  g_array_append_val (f->answer_changed, changed);
  g_array_append_val (f->answer_matched, matched);
}

static void
on_remote_candidate (NbHandshaker *hs, const NbSignalCandidate *c, gpointer user_data)
{
  Fixture *f = user_data;

  g_ptr_array_add (f->candidates, nb_signal_candidate_copy (c));
}

static void
on_ice_notify (GObject *obj, GParamSpec *pspec, gpointer user_data)
{
  ((Fixture *) user_data)->ice_notify++;
}

static void
fixture_init (Fixture *f)
{
  memset (f, 0, sizeof *f);
  f->local_key = key_with (0x80, 0x01);   /* "g..." */
  f->remote_key = key_with (0x10, 0x02);  /* "E..." */
  f->ufrag = g_strdup ("LocUfrag");
  f->pwd = g_strdup ("LocalIcePasswordLocalIce");
  f->has_sid = TRUE;
  memcpy (f->sid, SID_L1, 5);
  f->sent = g_ptr_array_new_with_free_func ((GDestroyNotify) nb_signal_message_free);
  f->sent_to = g_ptr_array_new_with_free_func (g_free);
  f->offers = g_ptr_array_new_with_free_func ((GDestroyNotify) nb_signal_offer_free);
  f->answers = g_ptr_array_new_with_free_func ((GDestroyNotify) nb_signal_offer_free);
  f->candidates = g_ptr_array_new_with_free_func ((GDestroyNotify) nb_signal_candidate_free);
  f->offer_changed = g_array_new (FALSE, FALSE, sizeof (gboolean));
  f->answer_changed = g_array_new (FALSE, FALSE, sizeof (gboolean));
  f->answer_matched = g_array_new (FALSE, FALSE, sizeof (gboolean));

  f->hs = nb_handshaker_new (f->local_key, f->remote_key);
  g_assert_nonnull (f->hs);
  nb_handshaker_set_sender (f->hs, fake_send, f, NULL);
  nb_handshaker_set_local_func (f->hs, local_func, f, NULL);
  g_signal_connect (f->hs, "remote-offer", G_CALLBACK (on_remote_offer), f);
  g_signal_connect (f->hs, "remote-answer", G_CALLBACK (on_remote_answer), f);
  g_signal_connect (f->hs, "remote-candidate", G_CALLBACK (on_remote_candidate), f);
  g_signal_connect (f->hs, "notify::remote-ice-supported", G_CALLBACK (on_ice_notify), f);
}

static void
fixture_clear (Fixture *f)
{
  g_clear_object (&f->hs);
  flush ();
  g_free (f->local_key);
  g_free (f->remote_key);
  g_free (f->ufrag);
  g_free (f->pwd);
  g_ptr_array_unref (f->sent);
  g_ptr_array_unref (f->sent_to);
  g_ptr_array_unref (f->offers);
  g_ptr_array_unref (f->answers);
  g_ptr_array_unref (f->candidates);
  g_array_unref (f->offer_changed);
  g_array_unref (f->answer_changed);
  g_array_unref (f->answer_matched);
}

/* An OFFER/ANSWER from the remote. */
static NbSignalMessage *
remote_msg (Fixture *f, NbSignalMsgType type, const guint8 *sid, gboolean with_ice)
{
  NbSignalOffer *o = nb_signal_offer_new ();
  NbSignalMessage *msg;

  o->ufrag = g_strdup (with_ice ? "RemUfrag" : "");
  o->pwd = g_strdup (with_ice ? "RemotePasswordRemotePass" : "");
  o->wg_listen_port = 51821;
  o->version = g_strdup ("0.60.2");
  o->relay_server_address = g_strdup ("rels://remote-relay.example.net:443");
  if (sid != NULL)
    {
      o->has_session_id = TRUE;
      memcpy (o->session_id, sid, 5);
    }
  nb_signal_offer_add_feature (o, 7);
  msg = nb_signal_message_new_offer (type, o);
  msg->sender_key = g_strdup (f->remote_key);
  return msg;
}

static NbSignalMessage *
remote_candidate (Fixture *f, const char *addr, const guint8 *sid)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *line = g_strdup_printf ("1 1 udp 2130706431 %s 51820 typ host", addr);
  NbSignalCandidate *c = nb_signal_candidate_parse (line, &error);
  NbSignalMessage *msg;

  g_assert_no_error (error);
  msg = nb_signal_message_new_candidate (c);
  msg->sender_key = g_strdup (f->remote_key);
  if (sid != NULL)
    {
      msg->has_session_id = TRUE;
      memcpy (msg->session_id, sid, 5);
    }
  return msg;
}

static void
receive (Fixture *f, NbSignalMessage *msg)
{
  g_assert_true (nb_handshaker_receive (f->hs, msg));
  nb_signal_message_free (msg);
}

static NbSignalMessage *
sent_at (Fixture *f, guint i)
{
  g_assert_cmpuint (i, <, f->sent->len);
  return g_ptr_array_index (f->sent, i);
}

static void
assert_sid (gboolean has, const guint8 *sid, const guint8 *expected)
{
  g_assert_true (has);
  g_assert_cmpmem (sid, 5, expected, 5);
}

/* ------------------------------------------------------------------------ */

static void
test_controller_rule (void)
{
  g_autofree char *k_a = key_with (0x00, 0x00);     /* "AAAA..." */
  g_autofree char *k_lower = key_with (0x68, 0x00); /* "aAAA..." */
  g_autofree char *k_slash = key_with (0xfc, 0x00); /* "/AAA..." */
  g_autofree char *k_plus = key_with (0xf8, 0x00);  /* "+AAA..." */
  g_autoptr (NbHandshaker) h1 = NULL;
  g_autoptr (NbHandshaker) h2 = NULL;

  g_assert_cmpint (k_a[0], ==, 'A');
  g_assert_cmpint (k_lower[0], ==, 'a');
  g_assert_cmpint (k_slash[0], ==, '/');
  g_assert_cmpint (k_plus[0], ==, '+');

  /* String order, not byte order: "A" > "/" > "+" although 0x00 < 0xf8 < 0xfc. */
  g_assert_true (nb_handshaker_is_controller_for (k_lower, k_a));
  g_assert_false (nb_handshaker_is_controller_for (k_a, k_lower));
  g_assert_true (nb_handshaker_is_controller_for (k_a, k_slash));
  g_assert_false (nb_handshaker_is_controller_for (k_slash, k_a));
  g_assert_true (nb_handshaker_is_controller_for (k_slash, k_plus));
  g_assert_false (nb_handshaker_is_controller_for (k_plus, k_slash));
  g_assert_false (nb_handshaker_is_controller_for (k_a, k_a));

  h1 = nb_handshaker_new (k_a, k_slash);
  h2 = nb_handshaker_new (k_slash, k_a);
  g_assert_true (nb_handshaker_is_controller (h1));
  g_assert_false (nb_handshaker_is_controller (h2));
  g_assert_cmpstr (nb_handshaker_get_local_key (h1), ==, k_a);
  g_assert_cmpstr (nb_handshaker_get_remote_key (h1), ==, k_slash);

  /* Random pairs: exactly one side controls. */
  for (int i = 0; i < 50; i++)
    {
      g_autofree char *x = random_key ();
      g_autofree char *y = random_key ();

      g_assert_true (nb_handshaker_is_controller_for (x, y) != nb_handshaker_is_controller_for (y, x));
      g_assert_cmpint (nb_handshaker_is_controller_for (x, y), ==, strcmp (x, y) > 0);
    }
}

static void
test_invalid_keys (void)
{
  g_autofree char *k = random_key ();

  if (g_test_undefined ())
    {
      NbHandshaker *h;

      g_test_expect_message ("nb-handshaker", G_LOG_LEVEL_CRITICAL, "*valid_key*");
      h = nb_handshaker_new ("not a key", k);
      g_test_assert_expected_messages ();
      g_assert_null (h);
    }
}

static void
test_offer_contents (void)
{
  Fixture f;
  NbSignalMessage *msg;
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) body = NULL;
  g_autoptr (NbSignalMessage) decoded = NULL;
  NbHandshakerStats stats;

  fixture_init (&f);
  g_assert_false (nb_handshaker_has_outstanding_offer (f.hs));
  g_assert_true (nb_handshaker_send_offer (f.hs, &error));
  g_assert_no_error (error);
  g_assert_true (nb_handshaker_has_outstanding_offer (f.hs));

  g_assert_cmpuint (f.sent->len, ==, 1);
  g_assert_cmpstr (g_ptr_array_index (f.sent_to, 0), ==, f.remote_key);
  msg = sent_at (&f, 0);
  g_assert_cmpuint (msg->type, ==, NB_SIGNAL_MSG_OFFER);

  /* Through the wire codec and back: what the remote would read. */
  body = nb_signal_message_encode_body (msg, &error);
  g_assert_no_error (error);
  decoded = nb_signal_message_decode_body (g_bytes_get_data (body, NULL), g_bytes_get_size (body), &error);
  g_assert_no_error (error);
  g_assert_cmpuint (decoded->type, ==, NB_SIGNAL_MSG_OFFER);
  g_assert_cmpstr (decoded->offer->ufrag, ==, "LocUfrag");
  g_assert_cmpstr (decoded->offer->pwd, ==, "LocalIcePasswordLocalIce");
  g_assert_cmpuint (decoded->offer->wg_listen_port, ==, 51820);
  g_assert_cmpstr (decoded->offer->version, ==, "0.36.5");
  g_assert_cmpstr (decoded->offer->relay_server_address, ==, "rels://relay.example.net:443");
  g_assert_cmpstr (decoded->offer->relay_server_ip, ==, "203.0.113.9");
  g_assert_cmpstr (decoded->offer->rosenpass_addr, ==, "100.64.0.1:9999");
  g_assert_nonnull (decoded->offer->rosenpass_pub_key);
  g_assert_cmpmem (g_bytes_get_data (decoded->offer->rosenpass_pub_key, NULL),
                   g_bytes_get_size (decoded->offer->rosenpass_pub_key), "rp-key", 6);
  assert_sid (decoded->offer->has_session_id, decoded->offer->session_id, SID_L1);
  g_assert_true (nb_signal_offer_has_feature (decoded->offer, NB_SIGNAL_FEATURE_DIRECT_CHECK));

  /* Sending emits nothing. */
  flush ();
  g_assert_cmpuint (f.offers->len + f.answers->len + f.candidates->len, ==, 0);

  /* The current state at each send. */
  g_free (f.ufrag);
  f.ufrag = g_strdup ("NewUfrag");
  memcpy (f.sid, SID_L2, 5);
  g_assert_true (nb_handshaker_send_offer (f.hs, NULL));
  g_assert_cmpstr (sent_at (&f, 1)->offer->ufrag, ==, "NewUfrag");
  assert_sid (sent_at (&f, 1)->offer->has_session_id, sent_at (&f, 1)->offer->session_id, SID_L2);

  /* A send failure is reported and leaves no outstanding offer. */
  nb_handshaker_reset (f.hs);
  f.fail_send = TRUE;
  g_assert_false (nb_handshaker_send_offer (f.hs, &error));
  g_assert_error (error, NB_SIGNAL_CLIENT_ERROR, NB_SIGNAL_CLIENT_ERROR_NOT_CONNECTED);
  g_assert_false (nb_handshaker_has_outstanding_offer (f.hs));
  nb_handshaker_get_stats (f.hs, &stats);
  g_assert_cmpuint (stats.offers_sent, ==, 2);
  g_assert_cmpuint (stats.send_failures, ==, 1);
  fixture_clear (&f);
}

static void
test_answer_to_offer (void)
{
  Fixture f;
  NbSignalMessage *answer;
  const NbSignalOffer *remote;
  guint8 sid[5];

  fixture_init (&f);
  f.change_sid_on_offer = TRUE;
  g_assert_null (nb_handshaker_get_remote_version (f.hs));
  g_assert_false (nb_handshaker_get_remote_session_id (f.hs, sid));

  receive (&f, remote_msg (&f, NB_SIGNAL_MSG_OFFER, SID_R1, TRUE));
  /* Nothing from inside receive(). */
  g_assert_cmpuint (f.offers->len, ==, 0);
  g_assert_cmpuint (f.sent->len, ==, 0);
  flush ();

  g_assert_cmpuint (f.offers->len, ==, 1);
  g_assert_true (g_array_index (f.offer_changed, gboolean, 0));
  remote = g_ptr_array_index (f.offers, 0);
  g_assert_cmpstr (remote->ufrag, ==, "RemUfrag");
  g_assert_cmpuint (remote->wg_listen_port, ==, 51821);
  assert_sid (remote->has_session_id, remote->session_id, SID_R1);

  /* Answered, with the session the handler started (built after it ran). */
  g_assert_cmpuint (f.sent->len, ==, 1);
  answer = sent_at (&f, 0);
  g_assert_cmpuint (answer->type, ==, NB_SIGNAL_MSG_ANSWER);
  g_assert_cmpstr (g_ptr_array_index (f.sent_to, 0), ==, f.remote_key);
  g_assert_cmpstr (answer->offer->ufrag, ==, "LocUfrag");
  g_assert_cmpstr (answer->offer->relay_server_address, ==, "rels://relay.example.net:443");
  assert_sid (answer->offer->has_session_id, answer->offer->session_id, SID_L2);
  g_assert_false (nb_handshaker_has_outstanding_offer (f.hs)); /* an answer is no offer */

  /* Remote tracking. */
  g_assert_cmpstr (nb_handshaker_get_remote_version (f.hs), ==, "0.60.2");
  g_assert_true (nb_handshaker_remote_has_feature (f.hs, 7));
  g_assert_false (nb_handshaker_remote_has_feature (f.hs, NB_SIGNAL_FEATURE_DIRECT_CHECK));
  g_assert_true (nb_handshaker_get_remote_session_id (f.hs, sid));
  g_assert_cmpmem (sid, 5, SID_R1, 5);
  g_assert_cmpstr (nb_handshaker_get_remote_params (f.hs)->relay_server_address, ==,
                   "rels://remote-relay.example.net:443");

  /* A re-offer of the same session (the remote's guard): still answered,
   * but no new session. */
  receive (&f, remote_msg (&f, NB_SIGNAL_MSG_OFFER, SID_R1, TRUE));
  flush ();
  g_assert_cmpuint (f.offers->len, ==, 2);
  g_assert_false (g_array_index (f.offer_changed, gboolean, 1));
  g_assert_cmpuint (f.sent->len, ==, 2);
  g_assert_cmpuint (sent_at (&f, 1)->type, ==, NB_SIGNAL_MSG_ANSWER);

  /* No session id (an old client): not a new session after the first. */
  receive (&f, remote_msg (&f, NB_SIGNAL_MSG_OFFER, NULL, TRUE));
  flush ();
  g_assert_cmpuint (f.offers->len, ==, 3);
  g_assert_false (g_array_index (f.offer_changed, gboolean, 2));
  g_assert_cmpuint (f.sent->len, ==, 3);
  fixture_clear (&f);
}

/* NetBird leaves ICE out when the remote does. */
static void
test_remote_without_ice (void)
{
  Fixture f;
  NbSignalMessage *m;

  fixture_init (&f);
  g_assert_true (nb_handshaker_get_remote_ice_supported (f.hs));

  receive (&f, remote_msg (&f, NB_SIGNAL_MSG_OFFER, NULL, FALSE));
  flush ();
  g_assert_false (nb_handshaker_get_remote_ice_supported (f.hs));
  g_assert_cmpuint (f.ice_notify, ==, 1);
  g_assert_true (g_array_index (f.offer_changed, gboolean, 0)); /* first */
  m = sent_at (&f, 0);
  g_assert_cmpuint (m->type, ==, NB_SIGNAL_MSG_ANSWER);
  g_assert_null (m->offer->ufrag);
  g_assert_null (m->offer->pwd);
  g_assert_false (m->offer->has_session_id);
  g_assert_cmpstr (m->offer->relay_server_address, ==, "rels://relay.example.net:443");

  g_assert_true (nb_handshaker_send_offer (f.hs, NULL));
  m = sent_at (&f, 1);
  g_assert_null (m->offer->ufrag);
  g_assert_false (m->offer->has_session_id);

  /* Matching still works on our real (unsent) session. */
  receive (&f, remote_msg (&f, NB_SIGNAL_MSG_ANSWER, NULL, FALSE));
  flush ();
  g_assert_cmpuint (f.answers->len, ==, 1);
  g_assert_true (g_array_index (f.answer_matched, gboolean, 0));

  /* ICE back. */
  receive (&f, remote_msg (&f, NB_SIGNAL_MSG_OFFER, SID_R1, TRUE));
  flush ();
  g_assert_true (nb_handshaker_get_remote_ice_supported (f.hs));
  g_assert_cmpuint (f.ice_notify, ==, 2);
  m = sent_at (&f, 2);
  g_assert_cmpstr (m->offer->ufrag, ==, "LocUfrag");
  assert_sid (m->offer->has_session_id, m->offer->session_id, SID_L1);
  fixture_clear (&f);
}

static void
test_stale_sessions (void)
{
  Fixture f;
  NbHandshakerStats stats;

  fixture_init (&f);
  receive (&f, remote_msg (&f, NB_SIGNAL_MSG_OFFER, SID_R1, TRUE));
  flush ();
  receive (&f, remote_msg (&f, NB_SIGNAL_MSG_OFFER, SID_R2, TRUE));
  flush ();
  g_assert_cmpuint (f.offers->len, ==, 2);
  g_assert_true (g_array_index (f.offer_changed, gboolean, 1));
  g_assert_cmpuint (f.sent->len, ==, 2);

  /* Late deliveries of the superseded session R1. */
  receive (&f, remote_msg (&f, NB_SIGNAL_MSG_OFFER, SID_R1, TRUE));
  flush ();
  receive (&f, remote_msg (&f, NB_SIGNAL_MSG_ANSWER, SID_R1, TRUE));
  flush ();
  receive (&f, remote_candidate (&f, "192.0.2.1", SID_R1));
  flush ();
  g_assert_cmpuint (f.offers->len, ==, 2);
  g_assert_cmpuint (f.answers->len, ==, 0);
  g_assert_cmpuint (f.candidates->len, ==, 0);
  g_assert_cmpuint (f.sent->len, ==, 2); /* no answer to a stale offer */
  nb_handshaker_get_stats (f.hs, &stats);
  g_assert_cmpuint (stats.dropped_stale, ==, 3);

  /* Current session and no session id: taken. */
  receive (&f, remote_candidate (&f, "192.0.2.2", SID_R2));
  receive (&f, remote_candidate (&f, "192.0.2.3", NULL));
  flush ();
  g_assert_cmpuint (f.candidates->len, ==, 2);
  g_assert_cmpstr (((NbSignalCandidate *) g_ptr_array_index (f.candidates, 0))->address, ==, "192.0.2.2");
  g_assert_cmpstr (((NbSignalCandidate *) g_ptr_array_index (f.candidates, 1))->address, ==, "192.0.2.3");

  /* A new session R3 retires R2. */
  receive (&f, remote_msg (&f, NB_SIGNAL_MSG_OFFER, SID_R3, TRUE));
  flush ();
  receive (&f, remote_candidate (&f, "192.0.2.4", SID_R2));
  flush ();
  g_assert_cmpuint (f.offers->len, ==, 3);
  g_assert_cmpuint (f.candidates->len, ==, 2);
  nb_handshaker_get_stats (f.hs, &stats);
  g_assert_cmpuint (stats.dropped_stale, ==, 4);
  g_assert_cmpuint (stats.offers_received, ==, 3);
  g_assert_cmpuint (stats.candidates_received, ==, 2);
  fixture_clear (&f);
}

static void
test_answer_matching (void)
{
  Fixture f;
  NbHandshakerStats stats;

  fixture_init (&f);

  /* No offer outstanding: NetBird would take it; so do we, unmatched. */
  receive (&f, remote_msg (&f, NB_SIGNAL_MSG_ANSWER, SID_R1, TRUE));
  flush ();
  g_assert_cmpuint (f.answers->len, ==, 1);
  g_assert_false (g_array_index (f.answer_matched, gboolean, 0));
  g_assert_true (g_array_index (f.answer_changed, gboolean, 0));
  g_assert_cmpuint (f.sent->len, ==, 0); /* answers are not answered */

  /* Our offer, its answer: matched (same remote session: not changed). */
  g_assert_true (nb_handshaker_send_offer (f.hs, NULL));
  receive (&f, remote_msg (&f, NB_SIGNAL_MSG_ANSWER, SID_R1, TRUE));
  flush ();
  g_assert_cmpuint (f.answers->len, ==, 2);
  g_assert_true (g_array_index (f.answer_matched, gboolean, 1));
  g_assert_false (g_array_index (f.answer_changed, gboolean, 1));
  g_assert_false (nb_handshaker_has_outstanding_offer (f.hs));

  /* A second answer to the same offer, same session: duplicate. */
  receive (&f, remote_msg (&f, NB_SIGNAL_MSG_ANSWER, SID_R1, TRUE));
  flush ();
  g_assert_cmpuint (f.answers->len, ==, 2);
  nb_handshaker_get_stats (f.hs, &stats);
  g_assert_cmpuint (stats.dropped_duplicate, ==, 1);

  /* Offer, then our ICE session moves on: the answer is for an abandoned
   * session; taken (new remote session) but not matched. */
  g_assert_true (nb_handshaker_send_offer (f.hs, NULL));
  memcpy (f.sid, SID_L2, 5);
  receive (&f, remote_msg (&f, NB_SIGNAL_MSG_ANSWER, SID_R2, TRUE));
  flush ();
  g_assert_cmpuint (f.answers->len, ==, 3);
  g_assert_false (g_array_index (f.answer_matched, gboolean, 2));
  g_assert_true (g_array_index (f.answer_changed, gboolean, 2));
  g_assert_false (nb_handshaker_has_outstanding_offer (f.hs));

  /* ... and the same again repeating R2: dropped. */
  g_assert_true (nb_handshaker_send_offer (f.hs, NULL));
  memcpy (f.sid, SID_L1, 5);
  receive (&f, remote_msg (&f, NB_SIGNAL_MSG_ANSWER, SID_R2, TRUE));
  flush ();
  g_assert_cmpuint (f.answers->len, ==, 3);

  /* Offer with the current session, answer with a new remote one: matched
   * and changed. */
  g_assert_true (nb_handshaker_send_offer (f.hs, NULL));
  receive (&f, remote_msg (&f, NB_SIGNAL_MSG_ANSWER, SID_R3, TRUE));
  flush ();
  g_assert_cmpuint (f.answers->len, ==, 4);
  g_assert_true (g_array_index (f.answer_matched, gboolean, 3));
  g_assert_true (g_array_index (f.answer_changed, gboolean, 3));

  /* Answers of a stale session never match. */
  g_assert_true (nb_handshaker_send_offer (f.hs, NULL));
  receive (&f, remote_msg (&f, NB_SIGNAL_MSG_ANSWER, SID_R1, TRUE));
  flush ();
  g_assert_cmpuint (f.answers->len, ==, 4);
  g_assert_true (nb_handshaker_has_outstanding_offer (f.hs));

  nb_handshaker_get_stats (f.hs, &stats);
  g_assert_cmpuint (stats.answers_received, ==, 4);
  g_assert_cmpuint (stats.dropped_duplicate, ==, 2);
  g_assert_cmpuint (stats.dropped_stale, ==, 1);
  fixture_clear (&f);
}

/* Offers arriving faster than they are processed: the newest wins. */
static void
test_coalesce (void)
{
  Fixture f;
  NbHandshakerStats stats;

  fixture_init (&f);
  receive (&f, remote_msg (&f, NB_SIGNAL_MSG_OFFER, SID_R1, TRUE));
  receive (&f, remote_candidate (&f, "192.0.2.1", NULL));
  receive (&f, remote_msg (&f, NB_SIGNAL_MSG_OFFER, SID_R2, TRUE));
  receive (&f, remote_candidate (&f, "192.0.2.2", NULL));
  flush ();

  g_assert_cmpuint (f.offers->len, ==, 1);
  assert_sid (((NbSignalOffer *) g_ptr_array_index (f.offers, 0))->has_session_id,
              ((NbSignalOffer *) g_ptr_array_index (f.offers, 0))->session_id, SID_R2);
  g_assert_cmpuint (f.sent->len, ==, 1);
  g_assert_cmpuint (f.candidates->len, ==, 2);
  g_assert_cmpstr (((NbSignalCandidate *) g_ptr_array_index (f.candidates, 0))->address, ==, "192.0.2.1");
  g_assert_cmpstr (((NbSignalCandidate *) g_ptr_array_index (f.candidates, 1))->address, ==, "192.0.2.2");
  nb_handshaker_get_stats (f.hs, &stats);
  g_assert_cmpuint (stats.coalesced, ==, 1);

  /* R1 was never taken, so it is not stale. */
  receive (&f, remote_candidate (&f, "192.0.2.3", SID_R1));
  flush ();
  g_assert_cmpuint (f.candidates->len, ==, 3);

  /* reset() drops what is queued. */
  receive (&f, remote_msg (&f, NB_SIGNAL_MSG_OFFER, SID_R3, TRUE));
  nb_handshaker_reset (f.hs);
  flush ();
  g_assert_cmpuint (f.offers->len, ==, 1);
  fixture_clear (&f);
}

static void
test_not_taken (void)
{
  Fixture f;
  g_autoptr (NbSignalMessage) other = NULL;
  g_autoptr (NbSignalMessage) mode = nb_signal_message_new_mode (TRUE, TRUE);
  g_autoptr (NbSignalMessage) idle = nb_signal_message_new (NB_SIGNAL_MSG_GO_IDLE);
  g_autoptr (NbSignalMessage) bare = NULL;

  fixture_init (&f);
  other = remote_msg (&f, NB_SIGNAL_MSG_OFFER, SID_R1, TRUE);
  g_free (other->sender_key);
  other->sender_key = random_key ();
  g_assert_false (nb_handshaker_receive (f.hs, other));
  g_assert_false (nb_handshaker_receive (f.hs, mode));
  g_assert_false (nb_handshaker_receive (f.hs, idle));

  /* Without sender key (the owner already routed it): taken. */
  bare = remote_msg (&f, NB_SIGNAL_MSG_OFFER, SID_R1, TRUE);
  g_clear_pointer (&bare->sender_key, g_free);
  g_assert_true (nb_handshaker_receive (f.hs, bare));
  flush ();
  g_assert_cmpuint (f.offers->len, ==, 1);
  fixture_clear (&f);
}

/* The owner closing the peer from a handler: nothing more happens. */
static void
test_dispose_in_handler (void)
{
  Fixture f;

  fixture_init (&f);
  f.dispose_on_offer = TRUE;
  receive (&f, remote_msg (&f, NB_SIGNAL_MSG_OFFER, SID_R1, TRUE));
  receive (&f, remote_candidate (&f, "192.0.2.1", NULL));
  flush ();
  g_assert_cmpuint (f.offers->len, ==, 1);
  g_assert_cmpuint (f.sent->len, ==, 0);
  g_assert_cmpuint (f.candidates->len, ==, 0);
  fixture_clear (&f);
}

/* The sender the engine uses: an NbSignalClient that is not connected
 * refuses at once. */
static void
test_signal_client_sender (void)
{
  g_auto (NbWgKey) priv = NB_WG_KEY_INIT;
  g_autoptr (NbSignalClient) client = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *remote = random_key ();
  g_autofree char *local = NULL;
  g_autoptr (NbHandshaker) hs = NULL;

  nb_wg_key_generate_private (&priv);
  client = nb_signal_client_new ("http://127.0.0.1:9", &priv, &error);
  g_assert_no_error (error);
  local = g_strdup (nb_signal_client_get_public_key (client));
  hs = nb_handshaker_new (local, remote);
  nb_handshaker_set_sender (hs, nb_handshaker_send_via_signal_client, g_object_ref (client), g_object_unref);
  g_assert_false (nb_handshaker_send_offer (hs, &error));
  g_assert_error (error, NB_SIGNAL_CLIENT_ERROR, NB_SIGNAL_CLIENT_ERROR_NOT_CONNECTED);
}

static void
test_new_session_id (void)
{
  guint8 a[5], b[5];

  nb_handshaker_new_session_id (a);
  nb_handshaker_new_session_id (b);
  g_assert_true (memcmp (a, b, 5) != 0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/handshaker/controller-rule", test_controller_rule);
  g_test_add_func ("/handshaker/invalid-keys", test_invalid_keys);
  g_test_add_func ("/handshaker/offer-contents", test_offer_contents);
  g_test_add_func ("/handshaker/answer-to-offer", test_answer_to_offer);
  g_test_add_func ("/handshaker/remote-without-ice", test_remote_without_ice);
  g_test_add_func ("/handshaker/stale-sessions", test_stale_sessions);
  g_test_add_func ("/handshaker/answer-matching", test_answer_matching);
  g_test_add_func ("/handshaker/coalesce", test_coalesce);
  g_test_add_func ("/handshaker/not-taken", test_not_taken);
  g_test_add_func ("/handshaker/dispose-in-handler", test_dispose_in_handler);
  g_test_add_func ("/handshaker/signal-client-sender", test_signal_client_sender);
  g_test_add_func ("/handshaker/new-session-id", test_new_session_id);

  return g_test_run ();
}
