/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * service/netbird/signal-client.c and signal-msg.c against an independent
 * NetBird-style signal server and peer (tests/protocol/node/
 * signal-test-server.js: grpc-js + proto-loader on our signalexchange.proto,
 * tweetnacl for sealing, protobufjs for Body). Loopback only.
 *
 * Skips (exit 77) when node or tests/protocol/node/node_modules is missing.
 */
#include "config.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "grpc.h"
#include "loop-util.h"
#include "node-fixture.h"
#include "signal-client.h"

#define WAIT_MS 15000 /* generous bound for anything that should happen */

/* ------------------------------------------------------------------------ */
/* The node server */

static char *node_dir;
static char *node_bin;

typedef struct {
  LineProc *lp;
  int port;
} Node;

static gboolean
is_event (const char *line, gpointer data)
{
  return g_str_has_prefix (line, "event ") == GPOINTER_TO_INT (data);
}

/* The next reply line (assert it arrives). */
static char *
node_reply (Node *n)
{
  char *line = line_proc_take (n->lp, is_event, GINT_TO_POINTER (FALSE), WAIT_MS);

  if (line == NULL)
    g_error ("node server did not answer");
  return line;
}

/* @max_age_ms: 0, or the server's maximum connection age (GOAWAY). */
static Node *
node_start_full (int port, guint max_age_ms)
{
  Node *n = g_new0 (Node, 1);
  g_autofree char *script = g_build_filename (node_dir, "signal-test-server.js", NULL);
  g_autofree char *port_arg = g_strdup_printf ("%d", port);
  g_autofree char *age_arg = g_strdup_printf ("%u", max_age_ms);
  g_autofree char *line = NULL;
  const char *argv[] = { node_bin, script, port_arg, age_arg, NULL };
  const char *p;

  n->lp = line_proc_spawn ("node", TRUE, argv);
  line = node_reply (n);
  p = strstr (line, "\"port\":");
  g_assert_nonnull (p);
  n->port = atoi (p + 7);
  g_assert_cmpint (n->port, >, 0);
  if (port)
    g_assert_cmpint (n->port, ==, port);
  return n;
}

static Node *
node_start (int port)
{
  return node_start_full (port, 0);
}

static void
node_free (Node *n)
{
  if (n == NULL)
    return;
  line_proc_kill (n->lp);
  line_proc_free (n->lp, WAIT_MS);
  g_free (n);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Node, node_free)

/* Sends one command and returns the text after "ok" (assert success). */
static char *
node_cmd (Node *n, const char *format, ...) G_GNUC_PRINTF (2, 3);

static char *
node_cmd (Node *n, const char *format, ...)
{
  g_autofree char *cmd = NULL;
  g_autofree char *line = NULL;
  va_list ap;

  va_start (ap, format);
  cmd = g_strdup_vprintf (format, ap);
  va_end (ap);
  g_debug ("node< %s", cmd);
  line_proc_write (n->lp, cmd);
  line = node_reply (n);
  if (!g_str_has_prefix (line, "ok"))
    g_error ("node command \"%s\" failed: %s", cmd, line);
  return g_strdup (line[2] == ' ' ? line + 3 : "");
}

#define NODE_CMD(n, ...) g_free (node_cmd (n, __VA_ARGS__))

/* The next event starting with @prefix; others before it are dropped. */
static GHashTable *
node_event (Node *n, const char *prefix)
{
  for (;;)
    {
      g_autofree char *line = NULL;
      g_auto (GStrv) words = NULL;
      GHashTable *fields;

      line = line_proc_take (n->lp, is_event, GINT_TO_POINTER (TRUE), WAIT_MS);
      if (line == NULL)
        g_error ("no node event \"%s\"", prefix);
      if (!g_str_has_prefix (line + 6, prefix))
        continue;
      fields = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
      words = g_strsplit (line + 6, " ", -1);
      for (char **w = words + 1; *w; w++)
        {
          const char *eq = strchr (*w, '=');

          g_assert_nonnull (eq);
          g_hash_table_insert (fields, g_strndup (*w, eq - *w), g_uri_unescape_string (eq + 1, NULL));
        }
      return fields;
    }
}

static char *
node_url (Node *n)
{
  return g_strdup_printf ("http://127.0.0.1:%d", n->port);
}

/* ------------------------------------------------------------------------ */
/* Clients under test */

typedef struct {
  NbSignalClient *client;
  NbWgKey priv;
  char *key;
  GPtrArray *messages;     /* NbSignalMessage* copies */
  GPtrArray *disconnects;  /* GError* copies */
  guint n_messages;
  guint n_disconnects;
  guint ready;
  guint reconnected;
  guint heartbeats;
} Peer;

static void
on_ready (NbSignalClient *c, gpointer data)
{
  Peer *p = data;

  g_assert_true (nb_signal_client_is_connected (c));
  p->ready++;
}

static void
on_reconnected (NbSignalClient *c, gpointer data)
{
  Peer *p = data;

  g_assert_true (nb_signal_client_is_connected (c));
  p->reconnected++;
}

static void
on_disconnected (NbSignalClient *c, const GError *reason, gpointer data)
{
  Peer *p = data;

  g_assert_nonnull (reason);
  g_assert_false (nb_signal_client_is_connected (c));
  g_debug ("%.8s disconnected: %s", p->key, reason->message);
  g_ptr_array_add (p->disconnects, g_error_copy (reason));
  p->n_disconnects++;
}

static void
on_message (NbSignalClient *c, const NbSignalMessage *msg, gpointer data)
{
  Peer *p = data;

  g_assert_nonnull (msg->sender_key);
  g_assert_cmpint (msg->type, !=, NB_SIGNAL_MSG_HEARTBEAT);
  g_ptr_array_add (p->messages, nb_signal_message_copy (msg));
  p->n_messages++;
}

static void
on_heartbeat (NbSignalClient *c, gpointer data)
{
  Peer *p = data;

  p->heartbeats++;
}

static Peer *
peer_new (Node *n)
{
  Peer *p = g_new0 (Peer, 1);
  g_autoptr (GError) error = NULL;
  g_autofree char *url = node_url (n);
  NbWgKey pub;

  nb_wg_key_generate_private (&p->priv);
  nb_wg_key_derive_public (&p->priv, &pub);
  p->key = nb_wg_key_to_base64 (&pub);
  p->client = nb_signal_client_new (url, &p->priv, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (nb_signal_client_get_public_key (p->client), ==, p->key);
  g_assert_cmpstr (nb_signal_client_get_url (p->client), ==, url);
  nb_signal_client_set_backoff (p->client, 50, 400);
  p->messages = g_ptr_array_new_with_free_func ((GDestroyNotify) nb_signal_message_free);
  p->disconnects = g_ptr_array_new_with_free_func ((GDestroyNotify) g_error_free);
  g_signal_connect (p->client, "ready", G_CALLBACK (on_ready), p);
  g_signal_connect (p->client, "reconnected", G_CALLBACK (on_reconnected), p);
  g_signal_connect (p->client, "disconnected", G_CALLBACK (on_disconnected), p);
  g_signal_connect (p->client, "message", G_CALLBACK (on_message), p);
  g_signal_connect (p->client, "heartbeat", G_CALLBACK (on_heartbeat), p);
  return p;
}

static void
peer_free (Peer *p)
{
  if (p == NULL)
    return;
  nb_signal_client_stop (p->client);
  g_object_unref (p->client);
  nb_wg_key_clear (&p->priv);
  g_free (p->key);
  g_ptr_array_unref (p->messages);
  g_ptr_array_unref (p->disconnects);
  g_free (p);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Peer, peer_free)

static void
peer_start_ready (Peer *p)
{
  guint ready = p->ready;

  nb_signal_client_start (p->client);
  WAIT_COUNT (p->ready, ready + 1);
  g_assert_true (nb_signal_client_is_connected (p->client));
  g_assert_null (nb_signal_client_get_last_error (p->client));
}

static const NbSignalMessage *
peer_wait_message (Peer *p, guint index)
{
  WAIT_COUNT (p->n_messages, index + 1);
  return p->messages->pdata[index];
}

static void
send_to_key (Peer *from, const char *to_key, const NbSignalMessage *msg)
{
  g_autoptr (GError) error = NULL;

  g_assert_true (nb_signal_client_send (from->client, to_key, msg, &error));
  g_assert_no_error (error);
}

static void
send_ok (Peer *from, Peer *to, const NbSignalMessage *msg)
{
  send_to_key (from, to->key, msg);
}

typedef struct {
  NbSignalClient *client;
  gboolean done;
  GError *error;
} AsyncResult;

static void
send_done_cb (GObject *source, GAsyncResult *result, gpointer data)
{
  AsyncResult *r = data;

  g_assert_null (source);
  if (nb_signal_client_send_finish (r->client, result, &r->error))
    g_assert_no_error (r->error);
  else
    g_assert_nonnull (r->error);
  r->done = TRUE;
}

static int
compare_strings (gconstpointer a, gconstpointer b)
{
  return g_strcmp0 (*(char *const *) a, *(char *const *) b);
}

/* Sorted candidate lines of messages [from, to) of @p. */
static char *
candidate_lines (Peer *p, guint from, guint to)
{
  g_autoptr (GPtrArray) lines = g_ptr_array_new_with_free_func (g_free);
  GString *s = g_string_new (NULL);

  for (guint i = from; i < to; i++)
    {
      const NbSignalMessage *m = p->messages->pdata[i];

      g_assert_cmpint (m->type, ==, NB_SIGNAL_MSG_CANDIDATE);
      g_ptr_array_add (lines, nb_signal_candidate_to_string (m->candidate, NULL));
    }
  g_ptr_array_sort (lines, compare_strings);
  for (guint i = 0; i < lines->len; i++)
    g_string_append_printf (s, "%s\n", (char *) lines->pdata[i]);
  return g_string_free (s, FALSE);
}

/* ------------------------------------------------------------------------ */
/* Messages used in the tests */

static NbSignalOffer *
test_offer (const char *ufrag)
{
  NbSignalOffer *o = nb_signal_offer_new ();

  o->ufrag = g_strdup (ufrag);
  o->pwd = g_strdup ("cPwdABCDEFGHIJKLMNOPQRSTUVWXYZab");
  o->wg_listen_port = 51820;
  o->version = g_strdup ("nm-netbird-" PACKAGE_VERSION);
  o->rosenpass_pub_key = g_bytes_new ("\x11\x22\x33", 3);
  o->rosenpass_addr = g_strdup ("100.64.0.2:9998");
  o->relay_server_address = g_strdup ("rels://relay.c.test:443");
  o->relay_server_ip = g_strdup ("198.51.100.77");
  o->has_session_id = TRUE;
  memcpy (o->session_id, "\x01\x23\x45\x67\x89", 5);
  nb_signal_offer_add_feature (o, NB_SIGNAL_FEATURE_DIRECT_CHECK);
  return o;
}

/* The OFFER/ANSWER signal-test-server.js's peer sends (offerFields()). */
static NbSignalOffer *
node_peer_offer (void)
{
  NbSignalOffer *o = nb_signal_offer_new ();

  o->ufrag = g_strdup ("nodeUfragABCDEFG");
  o->pwd = g_strdup ("nodePwdABCDEFGHIJKLMNOPQRSTUVWXYZ");
  o->wg_listen_port = 51821;
  o->version = g_strdup ("node-peer-1.0");
  o->rosenpass_pub_key = g_bytes_new ("\x01\x02\x03\x04\x05\x06\x07\x08", 8);
  o->rosenpass_addr = g_strdup ("127.0.0.1:9999");
  o->relay_server_address = g_strdup ("rels://relay.node.test:443");
  o->relay_server_ip = g_strdup ("2001:db8::1");
  o->has_session_id = TRUE;
  memcpy (o->session_id, "\xaa\xbb\xcc\xdd\xee", 5);
  nb_signal_offer_add_feature (o, 1);
  return o;
}

static void
assert_offer_equal (const NbSignalOffer *a, const NbSignalOffer *b)
{
  g_assert_cmpstr (a->ufrag, ==, b->ufrag);
  g_assert_cmpstr (a->pwd, ==, b->pwd);
  g_assert_cmpuint (a->wg_listen_port, ==, b->wg_listen_port);
  g_assert_cmpstr (a->version, ==, b->version);
  g_assert_true (g_bytes_equal (a->rosenpass_pub_key, b->rosenpass_pub_key));
  g_assert_cmpstr (a->rosenpass_addr, ==, b->rosenpass_addr);
  g_assert_cmpstr (a->relay_server_address, ==, b->relay_server_address);
  g_assert_cmpstr (a->relay_server_ip, ==, b->relay_server_ip);
  g_assert_cmpint (a->has_session_id, ==, b->has_session_id);
  g_assert_cmpmem (a->session_id, 5, b->session_id, 5);
  g_assert_cmpuint (a->features->len, ==, b->features->len);
  g_assert_cmpmem (a->features->data, a->features->len * 4, b->features->data, b->features->len * 4);
}

static char *
hex (const guint8 *data, gsize len)
{
  GString *s = g_string_new (NULL);

  for (gsize i = 0; i < len; i++)
    g_string_append_printf (s, "%02x", data[i]);
  return g_string_free (s, FALSE);
}

/* ------------------------------------------------------------------------ */
/* Tests */

/* Two of our clients exchange every message type through the node server. */
static void
test_exchange (void)
{
  g_autoptr (Node) n = node_start (0);
  g_autoptr (Peer) a = peer_new (n);
  g_autoptr (Peer) b = peer_new (n);
  g_autoptr (GError) error = NULL;
  const NbSignalMessage *got;

  peer_start_ready (a);
  peer_start_ready (b);
  {
    g_autofree char *reg = node_cmd (n, "registered %s", a->key);

    g_assert_cmpstr (reg, ==, "1");
  }

  /* OFFER A -> B, ANSWER B -> A */
  {
    g_autoptr (NbSignalOffer) expect = test_offer ("aUfragABCDEFGHIJ");
    g_autoptr (NbSignalMessage) offer = nb_signal_message_new_offer (NB_SIGNAL_MSG_OFFER, test_offer ("aUfragABCDEFGHIJ"));

    send_ok (a, b, offer);
    got = peer_wait_message (b, 0);
    g_assert_cmpint (got->type, ==, NB_SIGNAL_MSG_OFFER);
    g_assert_cmpstr (got->sender_key, ==, a->key);
    assert_offer_equal (got->offer, expect);
  }
  {
    g_autoptr (NbSignalOffer) expect = test_offer ("bUfragABCDEFGHIJ");
    g_autoptr (NbSignalMessage) answer = nb_signal_message_new_offer (NB_SIGNAL_MSG_ANSWER, test_offer ("bUfragABCDEFGHIJ"));

    send_ok (b, a, answer);
    got = peer_wait_message (a, 0);
    g_assert_cmpint (got->type, ==, NB_SIGNAL_MSG_ANSWER);
    g_assert_cmpstr (got->sender_key, ==, b->key);
    assert_offer_equal (got->offer, expect);
  }

  /* CANDIDATEs both ways (concurrent unary Sends: order not guaranteed). */
  {
    const char *lines[] = {
      "1 1 udp 2130706431 10.0.0.1 51820 typ host",
      "2 1 udp 1694498815 203.0.113.9 40001 typ srflx raddr 10.0.0.1 rport 51820",
      "3 1 udp 16777215 198.51.100.3 50000 typ relay raddr 203.0.113.9 rport 40001",
    };
    g_autofree char *expect = NULL;
    g_autofree char *got_a = NULL;
    g_autofree char *got_b = NULL;

    expect = g_strdup_printf ("%s\n%s\n%s\n", lines[0], lines[1], lines[2]);
    for (guint i = 0; i < G_N_ELEMENTS (lines); i++)
      {
        g_autoptr (NbSignalMessage) m = nb_signal_message_new_candidate (nb_signal_candidate_parse (lines[i], NULL));

        send_ok (a, b, m);
        send_ok (b, a, m);
      }
    WAIT_COUNT (b->n_messages, 4);
    WAIT_COUNT (a->n_messages, 4);
    got_b = candidate_lines (b, 1, 4);
    got_a = candidate_lines (a, 1, 4);
    g_assert_cmpstr (got_b, ==, expect);
    g_assert_cmpstr (got_a, ==, expect);
  }

  /* MODE and GO_IDLE, with the async API. */
  {
    g_autoptr (NbSignalMessage) mode = nb_signal_message_new_mode (TRUE, FALSE);
    g_autoptr (NbSignalMessage) idle = nb_signal_message_new (NB_SIGNAL_MSG_GO_IDLE);
    AsyncResult r1 = { a->client }, r2 = { a->client };
    gboolean seen_mode = FALSE, seen_idle = FALSE;

    nb_signal_client_send_async (a->client, b->key, mode, NULL, send_done_cb, &r1);
    nb_signal_client_send_async (a->client, b->key, idle, NULL, send_done_cb, &r2);
    WAIT_COUNT (b->n_messages, 6);
    for (guint i = 4; i < 6; i++)
      {
        got = b->messages->pdata[i];
        if (got->type == NB_SIGNAL_MSG_MODE)
          {
            g_assert_true (got->mode_has_direct);
            g_assert_false (got->mode_direct);
            seen_mode = TRUE;
          }
        else
          {
            g_assert_cmpint (got->type, ==, NB_SIGNAL_MSG_GO_IDLE);
            seen_idle = TRUE;
          }
      }
    g_assert_true (seen_mode && seen_idle);
    g_assert_true (run_until (&r1.done, WAIT_MS));
    g_assert_true (run_until (&r2.done, WAIT_MS));
    g_assert_no_error (r1.error);
    g_assert_no_error (r2.error);
  }

  /* To a peer that is not connected: the server drops it silently. */
  {
    g_autoptr (NbSignalMessage) idle = nb_signal_message_new (NB_SIGNAL_MSG_GO_IDLE);
    NbWgKey k, pk;
    g_autofree char *nobody = NULL;

    nb_wg_key_generate_private (&k);
    nb_wg_key_derive_public (&k, &pk);
    nobody = nb_wg_key_to_base64 (&pk);
    g_assert_true (nb_signal_client_send (a->client, nobody, idle, &error));
    g_assert_no_error (error);
    /* A bad key is refused at once. */
    g_assert_false (nb_signal_client_send (a->client, "not-a-key", idle, &error));
    g_assert_error (error, NB_SIGNAL_MSG_ERROR, NB_SIGNAL_MSG_ERROR_INVALID);
    g_clear_error (&error);
  }

  run_for (100);
  g_assert_cmpuint (a->n_messages, ==, 4);
  g_assert_cmpuint (b->n_messages, ==, 6);
  g_assert_cmpuint (a->n_disconnects + b->n_disconnects, ==, 0);
  g_assert_cmpuint (nb_signal_client_get_dropped_count (a->client), ==, 0);
  g_assert_cmpuint (nb_signal_client_get_dropped_count (b->client), ==, 0);
}

/* Our client <-> the node peer (tweetnacl + protobufjs): both directions and
 * a byte-for-byte known answer for a sealed OFFER with a fixed nonce. */
static void
test_node_peer_interop (void)
{
  g_autoptr (Node) n = node_start (0);
  g_autoptr (Peer) a = peer_new (n);
  NbWgKey node_priv, node_pub;
  g_autofree char *node_priv_b64 = NULL;
  g_autofree char *node_key = NULL;
  g_autofree char *node_key_expect = NULL;
  g_autoptr (GError) error = NULL;
  const NbSignalMessage *got;

  nb_wg_key_generate_private (&node_priv);
  nb_wg_key_derive_public (&node_priv, &node_pub);
  node_priv_b64 = nb_wg_key_to_base64 (&node_priv);
  node_key_expect = nb_wg_key_to_base64 (&node_pub);

  peer_start_ready (a);
  node_key = node_cmd (n, "peer-start %s", node_priv_b64);
  g_assert_cmpstr (node_key, ==, node_key_expect);

  /* node -> us: OFFER with a fixed nonce, and the same bytes from our code. */
  {
    guint8 nonce[NB_BOX_NONCE_LEN];
    g_autofree char *nonce_hex = NULL;
    g_autofree char *node_wire = NULL;
    g_autofree char *our_wire = NULL;
    g_autoptr (NbSignalOffer) expect = node_peer_offer ();
    g_autoptr (NbSignalMessage) mine = nb_signal_message_new_offer (NB_SIGNAL_MSG_OFFER, node_peer_offer ());
    g_autoptr (GBytes) sealed = NULL;

    for (guint i = 0; i < sizeof nonce; i++)
      nonce[i] = (guint8) (3 * i + 1);
    nonce_hex = hex (nonce, sizeof nonce);
    node_wire = node_cmd (n, "peer-offer %s OFFER %s", a->key, nonce_hex);

    got = peer_wait_message (a, 0);
    g_assert_cmpint (got->type, ==, NB_SIGNAL_MSG_OFFER);
    g_assert_cmpstr (got->sender_key, ==, node_key);
    assert_offer_equal (got->offer, expect);

    sealed = nb_signal_message_seal_with_nonce (mine, nonce, &node_priv, node_key, a->key, &error);
    g_assert_no_error (error);
    our_wire = hex (g_bytes_get_data (sealed, NULL), g_bytes_get_size (sealed));
    g_assert_cmpstr (our_wire, ==, node_wire);
  }

  /* node -> us: ANSWER with a random nonce; CANDIDATE with the prefix. */
  {
    g_autoptr (NbSignalOffer) expect = node_peer_offer ();
    g_autofree char *line = NULL;

    NODE_CMD (n, "peer-offer %s ANSWER", a->key);
    got = peer_wait_message (a, 1);
    g_assert_cmpint (got->type, ==, NB_SIGNAL_MSG_ANSWER);
    assert_offer_equal (got->offer, expect);

    NODE_CMD (n, "peer-candidate %s candidate:77 1 udp 1694498815 192.0.2.1 3478 typ srflx raddr 10.9.8.7 rport 51820 generation 0",
              a->key);
    got = peer_wait_message (a, 2);
    g_assert_cmpint (got->type, ==, NB_SIGNAL_MSG_CANDIDATE);
    line = nb_signal_candidate_to_string (got->candidate, NULL);
    g_assert_cmpstr (line, ==, "77 1 udp 1694498815 192.0.2.1 3478 typ srflx raddr 10.9.8.7 rport 51820");
  }

  /* us -> node: ANSWER, opened by tweetnacl and decoded by protobufjs. */
  {
    g_autoptr (NbSignalMessage) answer = nb_signal_message_new_offer (NB_SIGNAL_MSG_ANSWER, test_offer ("ourUfragABCDEFGH"));
    g_autoptr (GHashTable) ev = NULL;

    send_to_key (a, node_key, answer);
    ev = node_event (n, "peer-msg");
    g_assert_cmpstr (g_hash_table_lookup (ev, "from"), ==, a->key);
    g_assert_cmpstr (g_hash_table_lookup (ev, "remote"), ==, node_key);
    g_assert_cmpstr (g_hash_table_lookup (ev, "type"), ==, "ANSWER");
    g_assert_cmpstr (g_hash_table_lookup (ev, "payload"), ==, "ourUfragABCDEFGH:cPwdABCDEFGHIJKLMNOPQRSTUVWXYZab");
    g_assert_cmpstr (g_hash_table_lookup (ev, "port"), ==, "51820");
    g_assert_cmpstr (g_hash_table_lookup (ev, "version"), ==, "nm-netbird-" PACKAGE_VERSION);
    g_assert_cmpstr (g_hash_table_lookup (ev, "rpkey"), ==, "112233");
    g_assert_cmpstr (g_hash_table_lookup (ev, "rpaddr"), ==, "100.64.0.2:9998");
    g_assert_cmpstr (g_hash_table_lookup (ev, "relay"), ==, "rels://relay.c.test:443");
    g_assert_cmpstr (g_hash_table_lookup (ev, "relayip"), ==, "c633644d");
    g_assert_cmpstr (g_hash_table_lookup (ev, "session"), ==, "0123456789");
    g_assert_cmpstr (g_hash_table_lookup (ev, "features"), ==, "1");
  }

  /* us -> node: an OFFER without optional fields (NetBird without relay and
   * ICE) keeps them absent, and the rosenpass config present but empty. */
  {
    g_autoptr (NbSignalMessage) offer = nb_signal_message_new_offer (NB_SIGNAL_MSG_OFFER, nb_signal_offer_new ());
    g_autoptr (GHashTable) ev = NULL;

    send_to_key (a, node_key, offer);
    ev = node_event (n, "peer-msg");
    g_assert_cmpstr (g_hash_table_lookup (ev, "type"), ==, "OFFER");
    g_assert_cmpstr (g_hash_table_lookup (ev, "payload"), ==, ":");
    g_assert_cmpstr (g_hash_table_lookup (ev, "relay"), ==, "-");
    g_assert_cmpstr (g_hash_table_lookup (ev, "relayip"), ==, "-");
    g_assert_cmpstr (g_hash_table_lookup (ev, "session"), ==, "-");
    g_assert_cmpstr (g_hash_table_lookup (ev, "rpkey"), ==, "");
    g_assert_cmpstr (g_hash_table_lookup (ev, "rpaddr"), ==, "");
  }

  /* us -> node: CANDIDATE goes out without the "candidate:" prefix. */
  {
    g_autoptr (NbSignalMessage) cand =
      nb_signal_message_new_candidate (nb_signal_candidate_parse ("candidate:5 1 udp 2130706431 10.1.1.1 51820 typ host", NULL));
    g_autoptr (GHashTable) ev = NULL;

    send_to_key (a, node_key, cand);
    ev = node_event (n, "peer-msg");
    g_assert_cmpstr (g_hash_table_lookup (ev, "type"), ==, "CANDIDATE");
    g_assert_cmpstr (g_hash_table_lookup (ev, "payload"), ==, "5 1 udp 2130706431 10.1.1.1 51820 typ host");
  }

  g_assert_cmpuint (a->n_messages, ==, 3);
  g_assert_cmpuint (nb_signal_client_get_dropped_count (a->client), ==, 0);
  nb_wg_key_clear (&node_priv);
}

/* A third key sends forged and malformed messages: dropped, no crash, and
 * the valid flow goes on. */
static void
test_forgeries (void)
{
  static const char *kinds[] = {
    "wrong-sealer", "random-body", "short-body", "bad-key", "unknown-type", "bad-body",
    "bad-offer", "tcp-candidate", "foreign-heartbeat", "wrong-remote", "garbage-pb",
  };
  g_autoptr (Node) n = node_start (0);
  g_autoptr (Peer) a = peer_new (n);
  g_autoptr (Peer) b = peer_new (n);
  g_autofree char *node_key = NULL;

  peer_start_ready (a);
  peer_start_ready (b);
  node_key = node_cmd (n, "peer-start");

  for (guint round = 0; round < 2; round++)
    {
      g_autoptr (NbSignalMessage) offer = nb_signal_message_new_offer (NB_SIGNAL_MSG_OFFER, test_offer ("validUfragABCDEF"));
      const NbSignalMessage *got;

      for (guint i = 0; i < G_N_ELEMENTS (kinds); i++)
        NODE_CMD (n, "forge %s %s", a->key, kinds[i]);
      send_ok (b, a, offer);
      got = peer_wait_message (a, round);
      g_assert_cmpint (got->type, ==, NB_SIGNAL_MSG_OFFER);
      g_assert_cmpstr (got->sender_key, ==, b->key);
      g_assert_cmpstr (got->offer->ufrag, ==, "validUfragABCDEF");
      g_assert_cmpuint (nb_signal_client_get_dropped_count (a->client), ==, (round + 1) * G_N_ELEMENTS (kinds));
    }

  /* The node peer is unaffected too: a real offer from it still arrives. */
  NODE_CMD (n, "peer-offer %s OFFER", a->key);
  g_assert_cmpstr (peer_wait_message (a, 2)->sender_key, ==, node_key);

  run_for (100);
  g_assert_cmpuint (a->n_messages, ==, 3);
  g_assert_cmpuint (a->n_disconnects, ==, 0);
  g_assert_true (nb_signal_client_is_connected (a->client));
  g_assert_cmpuint (b->n_messages, ==, 0);
  g_assert_cmpuint (nb_signal_client_get_dropped_count (b->client), ==, 0);
}

static gboolean
error_seen (Peer *p, int code)
{
  for (guint i = 0; i < p->disconnects->len; i++)
    if (g_error_matches (p->disconnects->pdata[i], NB_SIGNAL_CLIENT_ERROR, code))
      return TRUE;
  return FALSE;
}

/* The server is killed and started again on the same port. */
static void
test_server_restart (void)
{
  g_autoptr (Node) n = node_start (0);
  g_autoptr (Peer) a = peer_new (n);
  g_autoptr (Peer) b = peer_new (n);
  int port = n->port;

  peer_start_ready (a);
  peer_start_ready (b);

  node_free (g_steal_pointer (&n));
  WAIT_COUNT (a->n_disconnects, 1);
  WAIT_COUNT (b->n_disconnects, 1);
  g_assert_false (nb_signal_client_is_connected (a->client));
  g_assert_true (error_seen (a, NB_SIGNAL_CLIENT_ERROR_UNAVAILABLE));
  g_assert_nonnull (nb_signal_client_get_last_error (a->client));
  {
    g_autoptr (NbSignalMessage) idle = nb_signal_message_new (NB_SIGNAL_MSG_GO_IDLE);
    g_autoptr (GError) error = NULL;

    g_assert_false (nb_signal_client_send (a->client, b->key, idle, &error));
    g_assert_error (error, NB_SIGNAL_CLIENT_ERROR, NB_SIGNAL_CLIENT_ERROR_NOT_CONNECTED);
  }
  /* Let a few attempts fail against the closed port. */
  WAIT_COUNT (a->n_disconnects, 3);

  n = node_start (port);
  WAIT_COUNT (a->reconnected, 1);
  WAIT_COUNT (b->reconnected, 1);
  g_assert_cmpuint (a->ready, ==, 1);
  g_assert_null (nb_signal_client_get_last_error (a->client));

  {
    g_autoptr (NbSignalMessage) offer = nb_signal_message_new_offer (NB_SIGNAL_MSG_OFFER, test_offer ("afterRestartABCD"));

    send_ok (a, b, offer);
    g_assert_cmpstr (peer_wait_message (b, 0)->offer->ufrag, ==, "afterRestartABCD");
    send_ok (b, a, offer);
    g_assert_cmpstr (peer_wait_message (a, 0)->sender_key, ==, b->key);
  }
}

/* Heartbeat with short intervals: the self-addressed probe round-trips;
 * when the server silently stops forwarding, the client reconnects. */
static void
test_heartbeat (void)
{
  g_autoptr (Node) n = node_start (0);
  g_autoptr (Peer) a = peer_new (n);
  g_autoptr (Peer) b = peer_new (n);
  g_autoptr (NbSignalMessage) offer = nb_signal_message_new_offer (NB_SIGNAL_MSG_OFFER, test_offer ("heartbeatABCDEFG"));

  nb_signal_client_set_heartbeat (a->client, 200, 300);
  peer_start_ready (a);
  peer_start_ready (b);

  WAIT_COUNT (a->heartbeats, 3);
  g_assert_cmpuint (a->n_disconnects, ==, 0);
  g_assert_cmpuint (a->n_messages, ==, 0); /* heartbeats are not messages */

  /* Traffic counts as liveness: no heartbeat needed while messages flow. */
  {
    guint hb = a->heartbeats;

    for (int i = 0; i < 6; i++)
      {
        send_ok (b, a, offer);
        WAIT_COUNT (a->n_messages, (guint) i + 1);
        run_for (60);
      }
    g_assert_cmpuint (a->heartbeats, <=, hb + 1);
  }

  NODE_CMD (n, "pause");
  WAIT_COUNT (a->n_disconnects, 1);
  g_assert_true (g_error_matches (a->disconnects->pdata[0], NB_SIGNAL_CLIENT_ERROR, NB_SIGNAL_CLIENT_ERROR_STALLED));
  NODE_CMD (n, "resume");
  WAIT_COUNT (a->reconnected, 1);
  {
    guint hb = a->heartbeats;

    WAIT_COUNT (a->heartbeats, hb + 2);
  }
  send_ok (b, a, offer);
  WAIT_COUNT (a->n_messages, 7);
  g_assert_cmpuint (b->n_disconnects, ==, 0); /* b's default 30 s interval */
}

static void
call_closed_cb (NbGrpcCall *call, const GError *error, gpointer data)
{
  AsyncResult *r = data;

  r->error = error ? g_error_copy (error) : NULL;
  r->done = TRUE;
}

/* Registration failures, the API without a connection, stop/restart. */
static void
test_registration_and_api (void)
{
  g_autoptr (Node) n = node_start (0);
  g_autoptr (GError) error = NULL;

  /* Invalid URLs. */
  {
    NbWgKey k;

    nb_wg_key_generate_private (&k);
    g_assert_null (nb_signal_client_new ("signal.netbird.io:443", &k, &error));
    g_assert_error (error, NB_SIGNAL_CLIENT_ERROR, NB_SIGNAL_CLIENT_ERROR_INVALID_URL);
    g_clear_error (&error);
    g_assert_null (nb_signal_client_new ("ftp://x", &k, &error));
    g_assert_error (error, NB_SIGNAL_CLIENT_ERROR, NB_SIGNAL_CLIENT_ERROR_INVALID_URL);
    g_clear_error (&error);
    nb_wg_key_clear (&k);
  }

  /* The node server itself refuses a stream without the peer-id metadata. */
  {
    g_autofree char *url = node_url (n);
    g_autoptr (NbGrpcChannel) ch = nb_grpc_channel_new (url, &error);
    g_autoptr (NbGrpcCall) call = NULL;
    AsyncResult r = { 0 };

    g_assert_no_error (error);
    call = nb_grpc_channel_open_call (ch, "/signalexchange.SignalExchange/ConnectStream", NULL, 0);
    g_signal_connect (call, "closed", G_CALLBACK (call_closed_cb), &r);
    g_assert_true (run_until (&r.done, WAIT_MS));
    g_assert_error (r.error, NB_GRPC_ERROR, NB_GRPC_STATUS_FAILED_PRECONDITION);
    g_clear_error (&r.error);
  }

  /* FAILED_PRECONDITION -> REJECTED, retried until the server accepts. */
  {
    g_autoptr (Peer) a = peer_new (n);
    g_autoptr (NbSignalMessage) idle = nb_signal_message_new (NB_SIGNAL_MSG_GO_IDLE);

    g_assert_false (nb_signal_client_send (a->client, a->key, idle, &error));
    g_assert_error (error, NB_SIGNAL_CLIENT_ERROR, NB_SIGNAL_CLIENT_ERROR_NOT_CONNECTED);
    g_clear_error (&error);

    NODE_CMD (n, "reject on");
    nb_signal_client_start (a->client);
    nb_signal_client_start (a->client); /* no-op */
    WAIT_COUNT (a->n_disconnects, 2);
    g_assert_true (g_error_matches (a->disconnects->pdata[0], NB_SIGNAL_CLIENT_ERROR, NB_SIGNAL_CLIENT_ERROR_REJECTED));
    g_assert_true (g_error_matches (nb_signal_client_get_last_error (a->client), NB_SIGNAL_CLIENT_ERROR,
                                    NB_SIGNAL_CLIENT_ERROR_REJECTED));
    g_assert_cmpuint (a->ready, ==, 0);
    NODE_CMD (n, "reject off");
    WAIT_COUNT (a->ready, 1);
    g_assert_cmpuint (a->reconnected, ==, 0);

    /* Stop: no "disconnected"; sends fail; a pending send fails STOPPED. */
    {
      AsyncResult r = { a->client };
      guint disc = a->n_disconnects;

      nb_signal_client_send_async (a->client, a->key, idle, NULL, send_done_cb, &r);
      nb_signal_client_stop (a->client);
      g_assert_false (nb_signal_client_is_connected (a->client));
      g_assert_true (run_until (&r.done, WAIT_MS));
      g_assert_error (r.error, NB_SIGNAL_CLIENT_ERROR, NB_SIGNAL_CLIENT_ERROR_STOPPED);
      g_clear_error (&r.error);
      run_for (100);
      g_assert_cmpuint (a->n_disconnects, ==, disc);
      g_assert_false (nb_signal_client_send (a->client, a->key, idle, &error));
      g_assert_error (error, NB_SIGNAL_CLIENT_ERROR, NB_SIGNAL_CLIENT_ERROR_NOT_CONNECTED);
      g_clear_error (&error);
    }

    /* Not connected: the async API reports it too. */
    {
      AsyncResult r = { a->client };

      nb_signal_client_send_async (a->client, a->key, idle, NULL, send_done_cb, &r);
      g_assert_false (r.done);
      g_assert_true (run_until (&r.done, WAIT_MS));
      g_assert_error (r.error, NB_SIGNAL_CLIENT_ERROR, NB_SIGNAL_CLIENT_ERROR_NOT_CONNECTED);
      g_clear_error (&r.error);
    }

    /* Start again: "ready" again, and it works. */
    nb_signal_client_start (a->client);
    WAIT_COUNT (a->ready, 2);
    {
      AsyncResult r = { a->client };
      g_autoptr (GCancellable) cancel = g_cancellable_new ();

      /* A cancelled send. */
      nb_signal_client_send_async (a->client, a->key, idle, cancel, send_done_cb, &r);
      g_cancellable_cancel (cancel);
      g_assert_true (run_until (&r.done, WAIT_MS));
      g_assert_error (r.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
      g_clear_error (&r.error);
    }
    /* A message to ourselves is delivered like any other. */
    send_ok (a, a, idle);
    WAIT_COUNT (a->n_messages, 1);
  }

  /* Stream without the registration header -> NOT_REGISTERED; a server that
   * answers nothing within the register timeout -> NOT_REGISTERED too. */
  {
    g_autoptr (Peer) b = peer_new (n);

    NODE_CMD (n, "noheader on");
    nb_signal_client_set_register_timeout (b->client, 5000);
    nb_signal_client_start (b->client);
    WAIT_COUNT (b->n_disconnects, 2);
    g_assert_true (g_error_matches (b->disconnects->pdata[0], NB_SIGNAL_CLIENT_ERROR,
                                    NB_SIGNAL_CLIENT_ERROR_NOT_REGISTERED));
    g_assert_cmpuint (b->ready, ==, 0);
    NODE_CMD (n, "noheader off");
    WAIT_COUNT (b->ready, 1);
    nb_signal_client_stop (b->client);
  }

  /* Dropping the last reference of a connected client with a send in
   * flight: the send fails STOPPED, nothing leaks or crashes. */
  {
    Peer *c = peer_new (n);
    g_autoptr (NbSignalMessage) idle = nb_signal_message_new (NB_SIGNAL_MSG_GO_IDLE);
    AsyncResult r = { 0 };

    peer_start_ready (c);
    r.client = c->client;
    nb_signal_client_send_async (c->client, c->key, idle, NULL, send_done_cb, &r);
    g_clear_object (&c->client);
    g_assert_true (run_until (&r.done, WAIT_MS));
    g_assert_error (r.error, NB_SIGNAL_CLIENT_ERROR, NB_SIGNAL_CLIENT_ERROR_STOPPED);
    g_clear_error (&r.error);
    nb_wg_key_clear (&c->priv);
    g_free (c->key);
    g_ptr_array_unref (c->messages);
    g_ptr_array_unref (c->disconnects);
    g_free (c);
  }
}

/* The server sends GOAWAY (maximum connection age) but keeps the old stream
 * running: the channel's "disconnected" alone makes the client move its
 * stream to a new connection. */
static void
test_goaway (void)
{
  g_autoptr (Node) n = node_start_full (0, 700);
  g_autoptr (Peer) a = peer_new (n);
  g_autoptr (Peer) b = peer_new (n);
  g_autoptr (NbSignalMessage) offer = nb_signal_message_new_offer (NB_SIGNAL_MSG_OFFER, test_offer ("afterGoawayABCDE"));

  peer_start_ready (a);
  WAIT_COUNT (a->reconnected, 1);
  g_assert_true (g_error_matches (a->disconnects->pdata[0], NB_SIGNAL_CLIENT_ERROR, NB_SIGNAL_CLIENT_ERROR_UNAVAILABLE));
  g_assert_nonnull (strstr (((GError *) a->disconnects->pdata[0])->message, "connection to the signal server lost"));

  /* Messages still flow between the GOAWAYs (a message sent while the
   * recipient moves its stream may be lost, as with NetBird: retry). */
  nb_signal_client_start (b->client);
  WAIT_COUNT (b->ready, 1);
  for (guint i = 0; i < 20 && a->n_messages == 0; i++)
    {
      if (nb_signal_client_is_connected (b->client))
        send_ok (b, a, offer);
      run_until_at_least (&a->n_messages, 1, 300);
    }
  g_assert_cmpuint (a->n_messages, >=, 1);
  g_assert_cmpstr (((NbSignalMessage *) a->messages->pdata[0])->offer->ufrag, ==, "afterGoawayABCDE");
  g_assert_cmpuint (a->ready, ==, 1);
}

/* A server that accepts the connection but answers nothing (the node
 * process is stopped with SIGSTOP): the register timeout ends the attempt
 * long before the channel's 10 s connect timeout. */
static void
test_register_timeout (void)
{
  g_autoptr (Node) n = node_start (0);
  g_autoptr (Peer) a = peer_new (n);

  nb_signal_client_set_register_timeout (a->client, 200);
  g_subprocess_send_signal (n->lp->proc, SIGSTOP);
  nb_signal_client_start (a->client);
  WAIT_COUNT (a->n_disconnects, 1);
  g_assert_true (g_error_matches (a->disconnects->pdata[0], NB_SIGNAL_CLIENT_ERROR,
                                  NB_SIGNAL_CLIENT_ERROR_NOT_REGISTERED));
  nb_signal_client_set_register_timeout (a->client, NB_SIGNAL_CLIENT_DEFAULT_REGISTER_TIMEOUT_MS);
  g_subprocess_send_signal (n->lp->proc, SIGCONT);
  WAIT_COUNT (a->ready, 1);
}

/* ------------------------------------------------------------------------ */

static void
retire_worker_threads (void)
{
  run_for (700);
  g_thread_pool_set_max_unused_threads (0);
  g_thread_pool_stop_unused_threads ();
  run_for (200);
}

static void
run_test (gconstpointer data)
{
  void (*test) (void) = (void (*) (void)) data;

  test ();
  drain_context ();
}

#define ADD_TEST(path, func) g_test_add_data_func (path, (gconstpointer) (func), run_test)

static gboolean
find_node (void)
{
  g_autofree char *why = NULL;

  if (node_find ("tweetnacl", &node_dir, &node_bin, &why))
    return TRUE;
  g_printerr ("SKIP: %s\n", why);
  return FALSE;
}

int
main (int argc, char **argv)
{
  int rc;

  g_test_init (&argc, &argv, NULL);
  if (!find_node ())
    return 77;

  ADD_TEST ("/signal-client/exchange", test_exchange);
  ADD_TEST ("/signal-client/node-peer-interop", test_node_peer_interop);
  ADD_TEST ("/signal-client/forgeries", test_forgeries);
  ADD_TEST ("/signal-client/server-restart", test_server_restart);
  ADD_TEST ("/signal-client/heartbeat", test_heartbeat);
  ADD_TEST ("/signal-client/registration-and-api", test_registration_and_api);
  ADD_TEST ("/signal-client/register-timeout", test_register_timeout);
  ADD_TEST ("/signal-client/goaway", test_goaway);

  rc = g_test_run ();

  drain_context ();
  retire_worker_threads ();
  g_free (node_dir);
  g_free (node_bin);
  return rc;
}
