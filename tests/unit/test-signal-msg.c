/* SPDX-License-Identifier: GPL-2.0-or-later
 * Tests service/netbird/signal-msg.c: body codec, sealing, candidate lines. */
#include "config.h"

#include <string.h>

#include <sodium.h>

#include "signal-msg.h"
#include "signalexchange.pb-c.h"

typedef struct {
  NbWgKey priv;
  NbWgKey pub;
  char *key; /* base64 public key */
} Peer;

static void
peer_init (Peer *p)
{
  nb_wg_key_generate_private (&p->priv);
  nb_wg_key_derive_public (&p->priv, &p->pub);
  p->key = nb_wg_key_to_base64 (&p->pub);
}

static void
peer_clear (Peer *p)
{
  nb_wg_key_clear (&p->priv);
  g_clear_pointer (&p->key, g_free);
}

static NbSignalOffer *
full_offer (void)
{
  NbSignalOffer *o = nb_signal_offer_new ();
  static const guint8 rp_key[] = { 0xde, 0xad, 0xbe, 0xef, 0x00, 0x01 };
  static const guint8 sid[NB_SIGNAL_SESSION_ID_LEN] = { 0x01, 0x02, 0x03, 0x04, 0xfe };

  o->ufrag = g_strdup ("AbCdEfGhIjKlMnOp");
  o->pwd = g_strdup ("QrStUvWxYzAbCdEfGhIjKlMnOpQrStUv");
  o->wg_listen_port = 51820;
  o->version = g_strdup ("0.36.5");
  o->rosenpass_pub_key = g_bytes_new_static (rp_key, sizeof rp_key);
  o->rosenpass_addr = g_strdup ("100.64.0.1:9999");
  o->relay_server_address = g_strdup ("rels://relay.example.net:443");
  o->relay_server_ip = g_strdup ("192.0.2.7");
  o->has_session_id = TRUE;
  memcpy (o->session_id, sid, sizeof sid);
  nb_signal_offer_add_feature (o, NB_SIGNAL_FEATURE_DIRECT_CHECK);
  nb_signal_offer_add_feature (o, 77);
  return o;
}

static void
assert_offer_equal (const NbSignalOffer *a, const NbSignalOffer *b)
{
  g_assert_cmpstr (a->ufrag, ==, b->ufrag);
  g_assert_cmpstr (a->pwd, ==, b->pwd);
  g_assert_cmpuint (a->wg_listen_port, ==, b->wg_listen_port);
  g_assert_cmpstr (a->version, ==, b->version);
  g_assert_true ((a->rosenpass_pub_key == NULL) == (b->rosenpass_pub_key == NULL));
  if (a->rosenpass_pub_key)
    g_assert_true (g_bytes_equal (a->rosenpass_pub_key, b->rosenpass_pub_key));
  g_assert_cmpstr (a->rosenpass_addr, ==, b->rosenpass_addr);
  g_assert_cmpstr (a->relay_server_address, ==, b->relay_server_address);
  g_assert_cmpstr (a->relay_server_ip, ==, b->relay_server_ip);
  g_assert_cmpint (a->has_session_id, ==, b->has_session_id);
  if (a->has_session_id)
    g_assert_cmpmem (a->session_id, NB_SIGNAL_SESSION_ID_LEN, b->session_id, NB_SIGNAL_SESSION_ID_LEN);
  g_assert_cmpuint (a->features ? a->features->len : 0, ==, b->features ? b->features->len : 0);
  if (a->features)
    g_assert_cmpmem (a->features->data, a->features->len * 4, b->features->data, b->features->len * 4);
}

/* Seals @msg from @from to @to and opens it as @to. */
static NbSignalMessage *
round_trip (const NbSignalMessage *msg, Peer *from, Peer *to)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) wire = nb_signal_message_seal (msg, &from->priv, from->key, to->key, &error);
  NbSignalMessage *opened;
  gsize len;
  const guint8 *data;

  g_assert_no_error (error);
  g_assert_nonnull (wire);
  data = g_bytes_get_data (wire, &len);
  opened = nb_signal_message_open (data, len, &to->priv, to->key, &error);
  g_assert_no_error (error);
  g_assert_nonnull (opened);
  g_assert_cmpstr (opened->sender_key, ==, from->key);
  g_assert_cmpint (opened->type, ==, msg->type);
  return opened;
}

static void
test_round_trip_offer_answer (void)
{
  Peer a, b;

  peer_init (&a);
  peer_init (&b);
  for (int t = NB_SIGNAL_MSG_OFFER; t <= NB_SIGNAL_MSG_ANSWER; t++)
    {
      g_autoptr (NbSignalOffer) expect = full_offer ();
      g_autoptr (NbSignalMessage) msg = nb_signal_message_new_offer (t, full_offer ());
      g_autoptr (NbSignalMessage) got = round_trip (msg, &a, &b);
      g_autoptr (NbSignalMessage) copy = NULL;
      g_autofree char *sid = NULL;

      g_assert_nonnull (got->offer);
      g_assert_null (got->candidate);
      assert_offer_equal (got->offer, expect);
      g_assert_true (nb_signal_offer_has_feature (got->offer, NB_SIGNAL_FEATURE_DIRECT_CHECK));
      g_assert_false (nb_signal_offer_has_feature (got->offer, 2));
      sid = nb_signal_offer_dup_session_id_hex (got->offer);
      g_assert_cmpstr (sid, ==, "01020304fe");

      copy = nb_signal_message_copy (got);
      g_assert_cmpstr (copy->sender_key, ==, a.key);
      assert_offer_equal (copy->offer, expect);
    }

  /* Minimal: NetBird without ICE sends ":"; no optional fields. */
  {
    g_autoptr (NbSignalMessage) msg = nb_signal_message_new_offer (NB_SIGNAL_MSG_OFFER, nb_signal_offer_new ());
    g_autoptr (NbSignalMessage) got = round_trip (msg, &b, &a);

    g_assert_cmpstr (got->offer->ufrag, ==, "");
    g_assert_cmpstr (got->offer->pwd, ==, "");
    g_assert_cmpstr (got->offer->version, ==, "");
    g_assert_cmpuint (got->offer->wg_listen_port, ==, 0);
    g_assert_null (got->offer->rosenpass_pub_key);
    g_assert_null (got->offer->rosenpass_addr);
    g_assert_null (got->offer->relay_server_address);
    g_assert_null (got->offer->relay_server_ip);
    g_assert_false (got->offer->has_session_id);
    g_assert_null (got->offer->features);
    g_assert_null (nb_signal_offer_dup_session_id_hex (got->offer));
  }

  /* IPv6 relay IP; IPv4-mapped goes out as IPv4. */
  {
    const char *in[] = { "2001:db8::5", "::ffff:198.51.100.9" };
    const char *out[] = { "2001:db8::5", "198.51.100.9" };

    for (guint i = 0; i < G_N_ELEMENTS (in); i++)
      {
        NbSignalOffer *o = nb_signal_offer_new ();
        g_autoptr (NbSignalMessage) msg = NULL;
        g_autoptr (NbSignalMessage) got = NULL;

        o->relay_server_ip = g_strdup (in[i]);
        msg = nb_signal_message_new_offer (NB_SIGNAL_MSG_ANSWER, o);
        got = round_trip (msg, &a, &b);
        g_assert_cmpstr (got->offer->relay_server_ip, ==, out[i]);
      }
  }

  peer_clear (&a);
  peer_clear (&b);
}

static void
test_round_trip_other_types (void)
{
  Peer a, b;

  peer_init (&a);
  peer_init (&b);

  {
    g_autoptr (GError) error = NULL;
    NbSignalCandidate *c = nb_signal_candidate_parse (
      "candidate:3362345289 1 udp 1694498815 203.0.113.4 51820 typ srflx raddr 10.0.0.2 rport 51820",
      &error);
    g_autoptr (NbSignalMessage) msg = NULL;
    g_autoptr (NbSignalMessage) got = NULL;
    g_autofree char *line = NULL;
    static const guint8 sid[NB_SIGNAL_SESSION_ID_LEN] = { 9, 8, 7, 6, 5 };

    g_assert_no_error (error);
    msg = nb_signal_message_new_candidate (c);
    msg->has_session_id = TRUE;
    memcpy (msg->session_id, sid, sizeof sid);
    got = round_trip (msg, &a, &b);
    g_assert_nonnull (got->candidate);
    g_assert_null (got->offer);
    line = nb_signal_candidate_to_string (got->candidate, &error);
    g_assert_no_error (error);
    g_assert_cmpstr (line, ==,
                     "3362345289 1 udp 1694498815 203.0.113.4 51820 typ srflx raddr 10.0.0.2 rport 51820");
    g_assert_true (got->has_session_id);
    g_assert_cmpmem (got->session_id, 5, sid, 5);
  }

  for (int m = 0; m < 3; m++)
    {
      g_autoptr (NbSignalMessage) msg = nb_signal_message_new_mode (m > 0, m == 2);
      g_autoptr (NbSignalMessage) got = round_trip (msg, &a, &b);

      g_assert_cmpint (got->mode_has_direct, ==, m > 0);
      g_assert_cmpint (got->mode_direct, ==, m == 2);
    }

  {
    g_autoptr (NbSignalMessage) msg = nb_signal_message_new (NB_SIGNAL_MSG_GO_IDLE);
    g_autoptr (NbSignalMessage) got = round_trip (msg, &b, &a);

    g_assert_null (got->offer);
    g_assert_null (got->candidate);
    g_assert_false (got->has_session_id);
  }

  /* The self-addressed heartbeat: sealed to and opened by the same key. */
  {
    g_autoptr (NbSignalMessage) msg = nb_signal_message_new (NB_SIGNAL_MSG_HEARTBEAT);
    g_autoptr (NbSignalMessage) got = round_trip (msg, &a, &a);

    g_assert_cmpstr (got->sender_key, ==, a.key);
  }

  /* Boxed type. */
  {
    g_autoptr (NbSignalMessage) msg = nb_signal_message_new (NB_SIGNAL_MSG_HEARTBEAT);
    NbSignalMessage *copy = g_boxed_copy (NB_TYPE_SIGNAL_MESSAGE, msg);

    g_assert_cmpint (copy->type, ==, NB_SIGNAL_MSG_HEARTBEAT);
    g_boxed_free (NB_TYPE_SIGNAL_MESSAGE, copy);
  }

  peer_clear (&a);
  peer_clear (&b);
}

static void
test_type_names (void)
{
  g_assert_cmpstr (nb_signal_msg_type_to_string (NB_SIGNAL_MSG_OFFER), ==, "OFFER");
  g_assert_cmpstr (nb_signal_msg_type_to_string (NB_SIGNAL_MSG_ANSWER), ==, "ANSWER");
  g_assert_cmpstr (nb_signal_msg_type_to_string (NB_SIGNAL_MSG_CANDIDATE), ==, "CANDIDATE");
  g_assert_cmpstr (nb_signal_msg_type_to_string (NB_SIGNAL_MSG_MODE), ==, "MODE");
  g_assert_cmpstr (nb_signal_msg_type_to_string (NB_SIGNAL_MSG_GO_IDLE), ==, "GO_IDLE");
  g_assert_cmpstr (nb_signal_msg_type_to_string (NB_SIGNAL_MSG_HEARTBEAT), ==, "HEARTBEAT");
  g_assert_cmpstr (nb_signal_msg_type_to_string (3), ==, "UNKNOWN");
}

/* ------------------------------------------------------------------------ */
/* Candidates */

typedef struct {
  const char *in;
  const char *out;          /* NULL: must fail */
  int error_code;           /* when failing */
  NbSignalCandidateType type;
  const char *raddr;
  guint rport;
} CandidateCase;

static const CandidateCase candidate_cases[] = {
  { "1 1 udp 2130706431 192.168.1.10 51820 typ host",
    "1 1 udp 2130706431 192.168.1.10 51820 typ host", 0, NB_SIGNAL_CANDIDATE_HOST, NULL, 0 },
  { "candidate:1 1 udp 2130706431 192.168.1.10 51820 typ host",
    "1 1 udp 2130706431 192.168.1.10 51820 typ host", 0, NB_SIGNAL_CANDIDATE_HOST, NULL, 0 },
  { "candidate:842163049 1 UDP 1677729535 198.51.100.1 61000 typ srflx raddr 10.1.2.3 rport 51820 generation 0 ufrag abcd network-cost 999",
    "842163049 1 udp 1677729535 198.51.100.1 61000 typ srflx raddr 10.1.2.3 rport 51820", 0,
    NB_SIGNAL_CANDIDATE_SRFLX, "10.1.2.3", 51820 },
  { "4207062234 1 udp 1853824767 203.0.113.77 40000 typ prflx raddr 0.0.0.0 rport 0",
    "4207062234 1 udp 1853824767 203.0.113.77 40000 typ prflx raddr 0.0.0.0 rport 0", 0,
    NB_SIGNAL_CANDIDATE_PRFLX, "0.0.0.0", 0 },
  { "2596673432 1 udp 16777215 198.51.100.200 49152 typ relay raddr 203.0.113.5 rport 50000",
    "2596673432 1 udp 16777215 198.51.100.200 49152 typ relay raddr 203.0.113.5 rport 50000", 0,
    NB_SIGNAL_CANDIDATE_RELAY, "203.0.113.5", 50000 },
  { "7 1 udp 2130706431 fe80::1%eth0 51820 typ host network-id 1",
    "7 1 udp 2130706431 fe80::1%eth0 51820 typ host", 0, NB_SIGNAL_CANDIDATE_HOST, NULL, 0 },
  { "7 1 udp 2130706431 2001:db8::42 51820 typ host generation",
    "7 1 udp 2130706431 2001:db8::42 51820 typ host", 0, NB_SIGNAL_CANDIDATE_HOST, NULL, 0 },
  { "abc+/ 2 udp 5 4c2a9f3e-1111-2222-3333-444455556666.local 9 typ host",
    "abc+/ 2 udp 5 4c2a9f3e-1111-2222-3333-444455556666.local 9 typ host", 0,
    NB_SIGNAL_CANDIDATE_HOST, NULL, 0 },
  /* Refused. */
  { "1 1 tcp 2130706431 192.168.1.10 9 typ host tcptype active", NULL, NB_SIGNAL_MSG_ERROR_UNSUPPORTED },
  { "candidate:1 1 TCP 2130706431 192.168.1.10 9 typ host", NULL, NB_SIGNAL_MSG_ERROR_UNSUPPORTED },
  { "", NULL, NB_SIGNAL_MSG_ERROR_MALFORMED },
  { "candidate:", NULL, NB_SIGNAL_MSG_ERROR_MALFORMED },
  { "garbage", NULL, NB_SIGNAL_MSG_ERROR_MALFORMED },
  { "1 1 udp 2130706431 192.168.1.10 51820 typ", NULL, NB_SIGNAL_MSG_ERROR_MALFORMED },
  { "1 1 udp 2130706431 192.168.1.10 51820 type host", NULL, NB_SIGNAL_MSG_ERROR_MALFORMED },
  { "1 1 udp 2130706431 192.168.1.10 51820 typ bogus", NULL, NB_SIGNAL_MSG_ERROR_MALFORMED },
  { "1 0 udp 2130706431 192.168.1.10 51820 typ host", NULL, NB_SIGNAL_MSG_ERROR_MALFORMED },
  { "1 257 udp 2130706431 192.168.1.10 51820 typ host", NULL, NB_SIGNAL_MSG_ERROR_MALFORMED },
  { "1 1 udp 4294967296 192.168.1.10 51820 typ host", NULL, NB_SIGNAL_MSG_ERROR_MALFORMED },
  { "1 1 udp -5 192.168.1.10 51820 typ host", NULL, NB_SIGNAL_MSG_ERROR_MALFORMED },
  { "1 1 udp 1 192.168.1.10 65536 typ host", NULL, NB_SIGNAL_MSG_ERROR_MALFORMED },
  { "1 1 udp 1 192.168.1.10 0 typ host", NULL, NB_SIGNAL_MSG_ERROR_MALFORMED },
  { "1 1 udp 1 192.168.1.10 +5 typ host", NULL, NB_SIGNAL_MSG_ERROR_MALFORMED },
  { "1 1 udp 1 192.168.1.10 5 typ srflx raddr 1.2.3.4 rport x", NULL, NB_SIGNAL_MSG_ERROR_MALFORMED },
  { "1 1 udp 1 bad\"addr 5 typ host", NULL, NB_SIGNAL_MSG_ERROR_MALFORMED },
  { "foundation-way-too-long-for-ice-xxxxxxxxxxx 1 udp 1 1.2.3.4 5 typ host", NULL, NB_SIGNAL_MSG_ERROR_MALFORMED },
  { "1 1 u$p 1 1.2.3.4 5 typ host", NULL, NB_SIGNAL_MSG_ERROR_MALFORMED },
  { "1 1 udp 1 1.2.3.4 5 typ host \xff\xfe", NULL, NB_SIGNAL_MSG_ERROR_MALFORMED },
};

static void
test_candidate_table (void)
{
  for (guint i = 0; i < G_N_ELEMENTS (candidate_cases); i++)
    {
      const CandidateCase *cc = &candidate_cases[i];
      g_autoptr (GError) error = NULL;
      g_autoptr (NbSignalCandidate) c = nb_signal_candidate_parse (cc->in, &error);

      g_test_message ("case %u: %s", i, cc->in);
      if (cc->out == NULL)
        {
          g_assert_null (c);
          g_assert_error (error, NB_SIGNAL_MSG_ERROR, cc->error_code);
          continue;
        }
      g_assert_no_error (error);
      g_assert_nonnull (c);
      {
        g_autofree char *line = nb_signal_candidate_to_string (c, &error);
        g_autoptr (NbSignalCandidate) copy = nb_signal_candidate_copy (c);
        g_autofree char *line2 = nb_signal_candidate_to_string (copy, NULL);

        g_assert_no_error (error);
        g_assert_cmpstr (line, ==, cc->out);
        g_assert_cmpstr (line2, ==, cc->out);
        g_assert_false (g_str_has_prefix (line, "candidate:"));
        g_assert_cmpint (c->type, ==, cc->type);
        g_assert_cmpstr (c->related_address, ==, cc->raddr);
        g_assert_cmpuint (c->related_port, ==, cc->rport);
      }
    }

  /* Fields of one parse. */
  {
    g_autoptr (NbSignalCandidate) c =
      nb_signal_candidate_parse ("candidate:99 2 udp 1234 10.0.0.1 4242 typ host", NULL);

    g_assert_cmpstr (c->foundation, ==, "99");
    g_assert_cmpuint (c->component, ==, 2);
    g_assert_cmpuint (c->priority, ==, 1234);
    g_assert_cmpstr (c->address, ==, "10.0.0.1");
    g_assert_cmpuint (c->port, ==, 4242);
    g_assert_cmpstr (nb_signal_candidate_type_to_string (c->type), ==, "host");
  }

  /* Formatting refuses what it cannot write. */
  {
    g_autoptr (NbSignalCandidate) c = nb_signal_candidate_new ();
    g_autoptr (GError) error = NULL;

    g_assert_null (nb_signal_candidate_to_string (c, &error));
    g_assert_error (error, NB_SIGNAL_MSG_ERROR, NB_SIGNAL_MSG_ERROR_INVALID);
  }
}

/* ------------------------------------------------------------------------ */
/* Errors */

/* An EncryptedMessage with arbitrary fields. */
static GBytes *
encrypted_message (const char *key, const char *remote_key, const guint8 *body, gsize body_len)
{
  Signalexchange__EncryptedMessage em;
  gsize len;
  guint8 *buf;

  signalexchange__encrypted_message__init (&em);
  em.key = (char *) key;
  em.remotekey = (char *) remote_key;
  em.body.data = (guint8 *) body;
  em.body.len = body_len;
  len = signalexchange__encrypted_message__get_packed_size (&em);
  buf = g_malloc (len + 1);
  signalexchange__encrypted_message__pack (&em, buf);
  return g_bytes_new_take (buf, len);
}

/* A correctly sealed EncryptedMessage around arbitrary Body bytes. */
static GBytes *
sealed_raw_body (Peer *from, Peer *to, const guint8 *body, gsize len)
{
  g_autoptr (GBytes) sealed = nb_box_seal (body, len, &to->pub, &from->priv, NULL);
  gsize sealed_len;
  const guint8 *s = g_bytes_get_data (sealed, &sealed_len);

  return encrypted_message (from->key, to->key, s, sealed_len);
}

static void
assert_open_fails (GBytes *wire, Peer *to, int code)
{
  g_autoptr (GError) error = NULL;
  gsize len;
  const guint8 *data = g_bytes_get_data (wire, &len);
  NbSignalMessage *msg = nb_signal_message_open (data, len, &to->priv, to->key, &error);

  g_assert_null (msg);
  g_assert_error (error, NB_SIGNAL_MSG_ERROR, code);
  g_test_message ("error: %s", error->message);
}

static void
test_open_errors (void)
{
  Peer a, b, c;
  g_autoptr (NbSignalMessage) offer = nb_signal_message_new_offer (NB_SIGNAL_MSG_OFFER, full_offer ());
  g_autoptr (GBytes) good = NULL;
  g_autoptr (GError) error = NULL;
  const guint8 *data;
  gsize len;

  peer_init (&a);
  peer_init (&b);
  peer_init (&c);
  good = nb_signal_message_seal (offer, &a.priv, a.key, b.key, &error);
  g_assert_no_error (error);
  data = g_bytes_get_data (good, &len);

  /* Not for us: B's message opened by C. */
  assert_open_fails (good, &c, NB_SIGNAL_MSG_ERROR_NOT_FOR_US);

  /* Sealed for C but claiming to be for B: B cannot open it. */
  {
    g_autoptr (GBytes) for_c = nb_signal_message_seal (offer, &a.priv, a.key, c.key, NULL);
    Signalexchange__EncryptedMessage *em =
      signalexchange__encrypted_message__unpack (NULL, g_bytes_get_size (for_c), g_bytes_get_data (for_c, NULL));
    g_autoptr (GBytes) relabelled = encrypted_message (a.key, b.key, em->body.data, em->body.len);

    assert_open_fails (relabelled, &b, NB_SIGNAL_MSG_ERROR_OPEN_FAILED);
    signalexchange__encrypted_message__free_unpacked (em, NULL);
  }

  /* Forged sender: sealed by C, claiming to come from A. */
  {
    g_autoptr (GBytes) by_c = nb_signal_message_seal (offer, &c.priv, c.key, b.key, NULL);
    Signalexchange__EncryptedMessage *em =
      signalexchange__encrypted_message__unpack (NULL, g_bytes_get_size (by_c), g_bytes_get_data (by_c, NULL));
    g_autoptr (GBytes) forged = encrypted_message (a.key, b.key, em->body.data, em->body.len);

    assert_open_fails (forged, &b, NB_SIGNAL_MSG_ERROR_OPEN_FAILED);
    signalexchange__encrypted_message__free_unpacked (em, NULL);
  }

  /* Tampered: flip each byte of the sealed body in turn. */
  {
    Signalexchange__EncryptedMessage *em = signalexchange__encrypted_message__unpack (NULL, len, data);

    for (gsize i = 0; i < em->body.len; i += 7)
      {
        g_autofree guint8 *body = g_memdup2 (em->body.data, em->body.len);
        g_autoptr (GBytes) tampered = NULL;

        body[i] ^= 0x20;
        tampered = encrypted_message (a.key, b.key, body, em->body.len);
        assert_open_fails (tampered, &b, NB_SIGNAL_MSG_ERROR_OPEN_FAILED);
      }
    /* Truncated body, and shorter than nonce + MAC. */
    {
      g_autoptr (GBytes) cut = encrypted_message (a.key, b.key, em->body.data, em->body.len - 1);
      g_autoptr (GBytes) tiny = encrypted_message (a.key, b.key, em->body.data, 39);
      g_autoptr (GBytes) empty = encrypted_message (a.key, b.key, NULL, 0);

      assert_open_fails (cut, &b, NB_SIGNAL_MSG_ERROR_OPEN_FAILED);
      assert_open_fails (tiny, &b, NB_SIGNAL_MSG_ERROR_OPEN_FAILED);
      assert_open_fails (empty, &b, NB_SIGNAL_MSG_ERROR_OPEN_FAILED);
    }
    signalexchange__encrypted_message__free_unpacked (em, NULL);
  }

  /* Truncated wire bytes: every prefix fails cleanly (mostly BAD_PROTOBUF; a
   * cut at a field boundary leaves a valid message that fails later). */
  for (gsize cut = 0; cut < len; cut++)
    {
      g_autoptr (GError) e = NULL;
      NbSignalMessage *msg = nb_signal_message_open (data, cut, &b.priv, b.key, &e);

      g_assert_null (msg);
      g_assert_nonnull (e);
      g_assert_true (e->domain == NB_SIGNAL_MSG_ERROR);
      g_assert_true (e->code == NB_SIGNAL_MSG_ERROR_BAD_PROTOBUF || e->code == NB_SIGNAL_MSG_ERROR_BAD_SENDER_KEY
                     || e->code == NB_SIGNAL_MSG_ERROR_NOT_FOR_US || e->code == NB_SIGNAL_MSG_ERROR_OPEN_FAILED);
    }

  /* Garbage protobuf. */
  {
    static const guint8 garbage[] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01 };
    static const guint8 bad_len[] = { 0x12, 0x7f, 'a' };
    static const guint8 bad_utf8[] = { 0x12, 0x02, 0xc3, 0x28 };
    g_autoptr (GBytes) g1 = g_bytes_new_static (garbage, sizeof garbage);
    g_autoptr (GBytes) g2 = g_bytes_new_static (bad_len, sizeof bad_len);
    g_autoptr (GBytes) g3 = g_bytes_new_static (bad_utf8, sizeof bad_utf8);

    assert_open_fails (g1, &b, NB_SIGNAL_MSG_ERROR_BAD_PROTOBUF);
    assert_open_fails (g2, &b, NB_SIGNAL_MSG_ERROR_BAD_PROTOBUF);
    assert_open_fails (g3, &b, NB_SIGNAL_MSG_ERROR_BAD_PROTOBUF);
  }

  /* Sender key not a key. */
  {
    const char *bad_keys[] = { "", "not-a-key", "AAAA", "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg", /* no '=' */ };

    for (guint i = 0; i < G_N_ELEMENTS (bad_keys); i++)
      {
        g_autoptr (GBytes) wire = encrypted_message (bad_keys[i], b.key, data, 50);

        assert_open_fails (wire, &b, NB_SIGNAL_MSG_ERROR_BAD_SENDER_KEY);
      }
  }

  /* Body that opens but is not a Body, has an unknown type, or a bad payload. */
  {
    static const guint8 not_body[] = { 0x0a, 0x05, 'x' };
    static const guint8 type3[] = { 0x08, 0x03 };
    static const guint8 type99[] = { 0x08, 0x63 };
    static const guint8 offer_3colons[] = { 0x12, 0x05, 'a', ':', 'b', ':', 'c' };
    static const guint8 offer_nocolon[] = { 0x12, 0x03, 'a', 'b', 'c' };
    static const guint8 answer_port[] = { 0x08, 0x01, 0x12, 0x01, ':', 0x18, 0x80, 0x80, 0x04 }; /* 65536 */
    static const guint8 cand_tcp[] = { 0x08, 0x02, 0x12, 0x21, '1', ' ', '1', ' ', 't', 'c', 'p', ' ', '1', ' ',
                                       '1', '.', '2', '.', '3', '.', '4', ' ', '9', ' ', 't', 'y', 'p', ' ',
                                       'h', 'o', 's', 't', ' ', ' ', ' ', ' ', ' ' };
    static const guint8 cand_garbage[] = { 0x08, 0x02, 0x12, 0x03, 'x', 'y', 'z' };
    static const guint8 cand_empty[] = { 0x08, 0x02 };
    static const guint8 bad_utf8[] = { 0x08, 0x01, 0x22, 0x02, 0xc3, 0x28 };
    struct {
      const guint8 *body;
      gsize len;
      int code;
    } cases[] = {
      { not_body, sizeof not_body, NB_SIGNAL_MSG_ERROR_BAD_PROTOBUF },
      { type3, sizeof type3, NB_SIGNAL_MSG_ERROR_UNKNOWN_TYPE },
      { type99, sizeof type99, NB_SIGNAL_MSG_ERROR_UNKNOWN_TYPE },
      { offer_3colons, sizeof offer_3colons, NB_SIGNAL_MSG_ERROR_MALFORMED },
      { offer_nocolon, sizeof offer_nocolon, NB_SIGNAL_MSG_ERROR_MALFORMED },
      { NULL, 0, NB_SIGNAL_MSG_ERROR_MALFORMED }, /* empty Body = OFFER with "" */
      { answer_port, sizeof answer_port, NB_SIGNAL_MSG_ERROR_MALFORMED },
      { cand_tcp, sizeof cand_tcp, NB_SIGNAL_MSG_ERROR_UNSUPPORTED },
      { cand_garbage, sizeof cand_garbage, NB_SIGNAL_MSG_ERROR_MALFORMED },
      { cand_empty, sizeof cand_empty, NB_SIGNAL_MSG_ERROR_MALFORMED },
      { bad_utf8, sizeof bad_utf8, NB_SIGNAL_MSG_ERROR_BAD_PROTOBUF },
    };

    for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
      {
        g_autoptr (GBytes) wire = sealed_raw_body (&a, &b, cases[i].body, cases[i].len);

        g_test_message ("body case %u", i);
        assert_open_fails (wire, &b, cases[i].code);
      }
  }

  /* Lenient fields, as NetBird: a 4-byte session ID and a 5-byte relay IP
   * are ignored; unknown fields are skipped. */
  {
    static const guint8 lenient[] = { 0x08, 0x01, 0x12, 0x03, 'u', ':', 'p',
                                      0x52, 0x04, 1, 2, 3, 4,
                                      0x5a, 0x05, 1, 2, 3, 4, 5,
                                      0xa2, 0x06, 0x02, 'h', 'i' /* field 100 */ };
    g_autoptr (GBytes) wire = sealed_raw_body (&a, &b, lenient, sizeof lenient);
    g_autoptr (NbSignalMessage) msg =
      nb_signal_message_open (g_bytes_get_data (wire, NULL), g_bytes_get_size (wire), &b.priv, b.key, &error);

    g_assert_no_error (error);
    g_assert_cmpint (msg->type, ==, NB_SIGNAL_MSG_ANSWER);
    g_assert_cmpstr (msg->offer->ufrag, ==, "u");
    g_assert_cmpstr (msg->offer->pwd, ==, "p");
    g_assert_false (msg->offer->has_session_id);
    g_assert_null (msg->offer->relay_server_ip);
  }

  peer_clear (&a);
  peer_clear (&b);
  peer_clear (&c);
}

static void
test_seal_errors (void)
{
  Peer a, b;
  g_autoptr (GError) error = NULL;

  peer_init (&a);
  peer_init (&b);

  {
    g_autoptr (NbSignalMessage) msg = nb_signal_message_new (NB_SIGNAL_MSG_GO_IDLE);

    g_assert_null (nb_signal_message_seal (msg, &a.priv, a.key, "bogus", &error));
    g_assert_error (error, NB_SIGNAL_MSG_ERROR, NB_SIGNAL_MSG_ERROR_INVALID);
    g_clear_error (&error);
    g_assert_null (nb_signal_message_seal (msg, &a.priv, "bogus", b.key, &error));
    g_assert_error (error, NB_SIGNAL_MSG_ERROR, NB_SIGNAL_MSG_ERROR_INVALID);
    g_clear_error (&error);
  }
  {
    NbSignalOffer *o = nb_signal_offer_new ();
    g_autoptr (NbSignalMessage) msg = NULL;

    o->ufrag = g_strdup ("a:b");
    msg = nb_signal_message_new_offer (NB_SIGNAL_MSG_OFFER, o);
    g_assert_null (nb_signal_message_seal (msg, &a.priv, a.key, b.key, &error));
    g_assert_error (error, NB_SIGNAL_MSG_ERROR, NB_SIGNAL_MSG_ERROR_INVALID);
    g_clear_error (&error);
    g_free (o->ufrag);
    o->ufrag = g_strdup ("ok");
    o->relay_server_ip = g_strdup ("relay.example.net");
    g_assert_null (nb_signal_message_seal (msg, &a.priv, a.key, b.key, &error));
    g_assert_error (error, NB_SIGNAL_MSG_ERROR, NB_SIGNAL_MSG_ERROR_INVALID);
    g_clear_error (&error);
    g_clear_pointer (&o->relay_server_ip, g_free);
    o->version = g_strdup ("\xff");
    g_assert_null (nb_signal_message_seal (msg, &a.priv, a.key, b.key, &error));
    g_assert_error (error, NB_SIGNAL_MSG_ERROR, NB_SIGNAL_MSG_ERROR_INVALID);
    g_clear_error (&error);
  }
  {
    g_autoptr (NbSignalMessage) msg = nb_signal_message_new (NB_SIGNAL_MSG_OFFER);

    g_assert_null (nb_signal_message_encode_body (msg, &error));
    g_assert_error (error, NB_SIGNAL_MSG_ERROR, NB_SIGNAL_MSG_ERROR_INVALID);
    g_clear_error (&error);
    msg->type = 3;
    g_assert_null (nb_signal_message_encode_body (msg, &error));
    g_assert_error (error, NB_SIGNAL_MSG_ERROR, NB_SIGNAL_MSG_ERROR_INVALID);
    g_clear_error (&error);
  }

  peer_clear (&a);
  peer_clear (&b);
}

/* ------------------------------------------------------------------------ */
/* Known answer: the Body bytes written by hand from the schema, the sealed
 * form computed directly with libsodium (golang.org/x/crypto/nacl/box
 * produces the same bytes). */

static const guint8 kat_body[] = {
  0x08, 0x01,                                     /* type ANSWER */
  0x12, 0x05, 'u', 'f', ':', 'p', 'w',            /* payload */
  0x18, 0xec, 0x94, 0x03,                         /* wgListenPort 51820 */
  0x22, 0x05, '0', '.', '1', '.', '0',            /* netBirdVersion */
  0x32, 0x01, 0x01,                               /* featuresSupported [1] */
  0x3a, 0x00,                                     /* rosenpassConfig {} */
  0x42, 0x0c, 'r', 'e', 'l', 's', ':', '/', '/', 'r', ':', '4', '4', '3',
  0x52, 0x05, 0x01, 0x02, 0x03, 0x04, 0x05,       /* sessionId */
  0x5a, 0x04, 0x0a, 0x00, 0x00, 0x01,             /* relayServerIP 10.0.0.1 */
};

static void
test_known_answer (void)
{
  NbWgKey a_priv, b_priv, a_pub, b_pub;
  g_autofree char *a_key = NULL, *b_key = NULL;
  guint8 nonce[NB_BOX_NONCE_LEN];
  NbSignalOffer *o = nb_signal_offer_new ();
  g_autoptr (NbSignalMessage) msg = NULL;
  g_autoptr (GBytes) body = NULL;
  g_autoptr (GBytes) wire = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree guint8 *boxed = NULL;
  g_autoptr (GByteArray) expect = g_byte_array_new ();
  gsize boxed_len = NB_BOX_NONCE_LEN + crypto_box_MACBYTES + sizeof kat_body;

  for (int i = 0; i < NB_WG_KEY_LEN; i++)
    {
      a_priv.bytes[i] = (guint8) (i + 1);
      b_priv.bytes[i] = (guint8) (0x80 + i);
    }
  for (int i = 0; i < NB_BOX_NONCE_LEN; i++)
    nonce[i] = (guint8) (0xa0 + i);
  nb_wg_key_derive_public (&a_priv, &a_pub);
  nb_wg_key_derive_public (&b_priv, &b_pub);
  a_key = nb_wg_key_to_base64 (&a_pub);
  b_key = nb_wg_key_to_base64 (&b_pub);

  o->ufrag = g_strdup ("uf");
  o->pwd = g_strdup ("pw");
  o->wg_listen_port = 51820;
  o->version = g_strdup ("0.1.0");
  o->relay_server_address = g_strdup ("rels://r:443");
  o->relay_server_ip = g_strdup ("10.0.0.1");
  o->has_session_id = TRUE;
  for (int i = 0; i < 5; i++)
    o->session_id[i] = (guint8) (i + 1);
  nb_signal_offer_add_feature (o, 1);
  msg = nb_signal_message_new_offer (NB_SIGNAL_MSG_ANSWER, o);

  body = nb_signal_message_encode_body (msg, &error);
  g_assert_no_error (error);
  g_assert_cmpmem (g_bytes_get_data (body, NULL), g_bytes_get_size (body), kat_body, sizeof kat_body);

  /* Sealed: EncryptedMessage {2: A, 3: B, 4: nonce || crypto_box_easy}. */
  g_assert_cmpint (sodium_init (), >=, 0);
  boxed = g_malloc (boxed_len);
  memcpy (boxed, nonce, NB_BOX_NONCE_LEN);
  g_assert_cmpint (crypto_box_easy (boxed + NB_BOX_NONCE_LEN, kat_body, sizeof kat_body, nonce,
                                    b_pub.bytes, a_priv.bytes), ==, 0);
  g_byte_array_append (expect, (const guint8 *) "\x12\x2c", 2);
  g_byte_array_append (expect, (const guint8 *) a_key, 44);
  g_byte_array_append (expect, (const guint8 *) "\x1a\x2c", 2);
  g_byte_array_append (expect, (const guint8 *) b_key, 44);
  g_byte_array_append (expect, (const guint8 *) "\x22", 1);
  g_byte_array_append (expect, (const guint8[]) { (guint8) boxed_len }, 1);
  g_byte_array_append (expect, boxed, boxed_len);
  g_assert_cmpuint (boxed_len, <, 128);

  wire = nb_signal_message_seal_with_nonce (msg, nonce, &a_priv, a_key, b_key, &error);
  g_assert_no_error (error);
  g_assert_cmpmem (g_bytes_get_data (wire, NULL), g_bytes_get_size (wire), expect->data, expect->len);

  /* And it opens to the same message. */
  {
    g_autoptr (NbSignalMessage) got =
      nb_signal_message_open (expect->data, expect->len, &b_priv, b_key, &error);

    g_assert_no_error (error);
    assert_offer_equal (got->offer, o);
  }
  nb_wg_key_clear (&a_priv);
  nb_wg_key_clear (&b_priv);
}

/* Random bytes never crash the parser. */
static void
test_random_input (void)
{
  Peer a;

  peer_init (&a);
  for (int i = 0; i < 2000; i++)
    {
      guint8 buf[200];
      gsize len = randombytes_uniform (sizeof buf);
      g_autoptr (GError) error = NULL;
      NbSignalMessage *msg;

      randombytes_buf (buf, len);
      msg = nb_signal_message_open (buf, len, &a.priv, a.key, &error);
      g_assert_null (msg);
      g_assert_nonnull (error);
      msg = nb_signal_message_decode_body (buf, len, NULL);
      nb_signal_message_free (msg);
    }
  peer_clear (&a);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_assert_cmpint (sodium_init (), >=, 0);

  g_test_add_func ("/signal-msg/round-trip/offer-answer", test_round_trip_offer_answer);
  g_test_add_func ("/signal-msg/round-trip/other-types", test_round_trip_other_types);
  g_test_add_func ("/signal-msg/type-names", test_type_names);
  g_test_add_func ("/signal-msg/candidate/table", test_candidate_table);
  g_test_add_func ("/signal-msg/errors/open", test_open_errors);
  g_test_add_func ("/signal-msg/errors/seal", test_seal_errors);
  g_test_add_func ("/signal-msg/known-answer", test_known_answer);
  g_test_add_func ("/signal-msg/random-input", test_random_input);
  return g_test_run ();
}
