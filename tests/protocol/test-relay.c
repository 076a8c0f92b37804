/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Tests for service/netbird/relay-client.c against service/devnet/relay-server.c
 * (and against raw WebSocket peers), all on 127.0.0.1 in one main loop.
 * Nothing sleeps: every wait is for an event, bounded by a timeout.
 */

#include "config.h"

#include <string.h>

#include <unistd.h>

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <libsoup/soup.h>

#include "relay-test-util.h"

/* A throwaway self-signed certificate for 127.0.0.1 (test only). */
static const char test_cert_pem[] =
  "-----BEGIN CERTIFICATE-----\n"
  "MIIBkDCCATagAwIBAgIUWIZWcyRH6qqtd4AmgoxovOURPd4wCgYIKoZIzj0EAwIw\n"
  "FDESMBAGA1UEAwwJMTI3LjAuMC4xMCAXDTI2MTEyNTExNTcwOVoYDzIxMjYxMTAx\n"
  "MTE1NzA5WjAUMRIwEAYDVQQDDAkxMjcuMC4wLjEwWTATBgcqhkjOPQIBBggqhkjO\n"
  "PQMBBwNCAAQtK2ZuqZCTVdkkZxXRQxckN4gBzUsOLJdv/NnMRkzasXgNSqLxQxa8\n"
  "P2MN0rDe3khJhNNjdqMX30F2zDTmWWHCo2QwYjAdBgNVHQ4EFgQUbaatKDHpOPCr\n"
  "KKe6TjTM4CfMZZowHwYDVR0jBBgwFoAUbaatKDHpOPCrKKe6TjTM4CfMZZowDwYD\n"
  "VR0TAQH/BAUwAwEB/zAPBgNVHREECDAGhwR/AAABMAoGCCqGSM49BAMCA0gAMEUC\n"
  "IQDdQDTFZgLmwlBvZy5R5snwv10S7Lve09yz4aeKRrOCSQIgEw8RmtWkg8HWk79H\n"
  "WqpwZG/76O+sRhV15GGGjKsT+lI=\n"
  "-----END CERTIFICATE-----\n";
static const char test_key_pem[] =
  "-----BEGIN PRIVATE KEY-----\n"
  "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgbjoP2HjyOPmdQpmA\n"
  "z1Sga6sxpqsVcfBq1PHK8SjNl8ahRANCAAQtK2ZuqZCTVdkkZxXRQxckN4gBzUsO\n"
  "LJdv/NnMRkzasXgNSqLxQxa8P2MN0rDe3khJhNNjdqMX30F2zDTmWWHC\n"
  "-----END PRIVATE KEY-----\n";

#if defined(__SANITIZE_ADDRESS__)
/* LeakSanitizer's thread tracer crashes on the dynamic TLS blocks of GIO
 * modules loaded with dlopen() (glib-networking's GnuTLS backend, used by
 * the TLS test): "Tracer caught signal 11" at exit. Not tracking
 * __tls_get_addr avoids that; ASAN_OPTIONS from the environment still
 * override this default. */
const char *__asan_default_options (void);

__attribute__((used)) const char *
__asan_default_options (void)
{
  return "intercept_tls_get_addr=0";
}
#endif

/* ---- recorders --------------------------------------------------------- */

typedef struct {
  guint connected;
  guint disconnected;
  gint64 connected_us;
  gint64 first_disconnect_us;
  gint64 last_disconnect_us;
  char *instance_url;
  GError *error;       /* of the last "disconnected" */
  GError *first_error; /* of the first one */
  GPtrArray *online;   /* peer ID strings */
  GPtrArray *offline;
} ClientRec;

static void
on_client_connected (NbRelayClient *client,
                     const char    *instance_url,
                     ClientRec     *rec)
{
  rec->connected++;
  rec->connected_us = g_get_monotonic_time ();
  g_free (rec->instance_url);
  rec->instance_url = g_strdup (instance_url);
}

static void
on_client_disconnected (NbRelayClient *client,
                        const GError  *error,
                        ClientRec     *rec)
{
  rec->disconnected++;
  rec->last_disconnect_us = g_get_monotonic_time ();
  if (rec->disconnected == 1)
    {
      rec->first_disconnect_us = rec->last_disconnect_us;
      rec->first_error = g_error_copy (error);
    }
  g_clear_error (&rec->error);
  rec->error = g_error_copy (error);
}

static void
record_ids (GPtrArray           *into,
            const NbRelayPeerId *ids,
            guint                n)
{
  for (guint i = 0; i < n; i++)
    g_ptr_array_add (into, nb_relay_peer_id_to_string (&ids[i]));
}

static void
on_client_online (NbRelayClient       *client,
                  const NbRelayPeerId *ids,
                  guint                n,
                  ClientRec           *rec)
{
  record_ids (rec->online, ids, n);
}

static void
on_client_offline (NbRelayClient       *client,
                   const NbRelayPeerId *ids,
                   guint                n,
                   ClientRec           *rec)
{
  record_ids (rec->offline, ids, n);
}

static void
client_rec_init (ClientRec *rec)
{
  memset (rec, 0, sizeof *rec);
  rec->online = g_ptr_array_new_with_free_func (g_free);
  rec->offline = g_ptr_array_new_with_free_func (g_free);
}

static void
client_rec_clear (ClientRec *rec)
{
  g_free (rec->instance_url);
  g_clear_error (&rec->error);
  g_clear_error (&rec->first_error);
  g_ptr_array_unref (rec->online);
  g_ptr_array_unref (rec->offline);
}

typedef struct {
  guint peer_connected;
  guint peer_disconnected;
  guint rejected;
  guint closed;
  guint dropped;
  guint hc_answered;
  char *last_dropped;
  char *last_disconnect_reason;
  char *last_reject_reason;
} ServerRec;

static void
on_srv_peer_connected (NbRelayServer *s, const char *id, ServerRec *rec)
{
  rec->peer_connected++;
}

static void
on_srv_peer_disconnected (NbRelayServer *s, const char *id, const char *reason, ServerRec *rec)
{
  rec->peer_disconnected++;
  g_free (rec->last_disconnect_reason);
  rec->last_disconnect_reason = g_strdup (reason);
}

static void
on_srv_rejected (NbRelayServer *s, const char *reason, ServerRec *rec)
{
  rec->rejected++;
  g_free (rec->last_reject_reason);
  rec->last_reject_reason = g_strdup (reason);
}

static void
on_srv_closed (NbRelayServer *s, ServerRec *rec)
{
  rec->closed++;
}

static void
on_srv_dropped (NbRelayServer *s, const char *id, ServerRec *rec)
{
  rec->dropped++;
  g_free (rec->last_dropped);
  rec->last_dropped = g_strdup (id);
}

static void
on_srv_hc (NbRelayServer *s, const char *id, ServerRec *rec)
{
  rec->hc_answered++;
}

static void
server_rec_watch (ServerRec     *rec,
                  NbRelayServer *server)
{
  g_signal_connect (server, "peer-connected", G_CALLBACK (on_srv_peer_connected), rec);
  g_signal_connect (server, "peer-disconnected", G_CALLBACK (on_srv_peer_disconnected), rec);
  g_signal_connect (server, "connection-rejected", G_CALLBACK (on_srv_rejected), rec);
  g_signal_connect (server, "connection-closed", G_CALLBACK (on_srv_closed), rec);
  g_signal_connect (server, "transport-dropped", G_CALLBACK (on_srv_dropped), rec);
  g_signal_connect (server, "health-check-answered", G_CALLBACK (on_srv_hc), rec);
}

static void
server_rec_clear (ServerRec *rec)
{
  g_free (rec->last_dropped);
  g_free (rec->last_disconnect_reason);
  g_free (rec->last_reject_reason);
}

/* ---- helpers ----------------------------------------------------------- */

static NbRelayServer *
start_server (const char *secret,
              guint16     port)
{
  g_autoptr(GError) error = NULL;
  NbRelayServer *server = nb_relay_server_new ((const guint8 *) secret, strlen (secret), NULL);

  g_assert_true (nb_relay_server_listen (server, "127.0.0.1", port, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (nb_relay_server_get_port (server), >, 0);
  return server;
}

static NbRelayClient *
new_client (const char *url,
            const char *key,
            const char *secret,
            ClientRec  *rec)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(NbRelayToken) token = make_token (secret, 3600);
  NbRelayClient *client = nb_relay_client_new (url, key, &error);

  g_assert_no_error (error);
  g_assert_true (nb_relay_client_set_token (client, token->payload, token->signature, &error));
  g_assert_no_error (error);
  nb_relay_client_set_backoff (client, 20, 100);
  if (rec != NULL)
    {
      g_signal_connect (client, "connected", G_CALLBACK (on_client_connected), rec);
      g_signal_connect (client, "disconnected", G_CALLBACK (on_client_disconnected), rec);
      g_signal_connect (client, "peers-online", G_CALLBACK (on_client_online), rec);
      g_signal_connect (client, "peers-offline", G_CALLBACK (on_client_offline), rec);
    }
  return client;
}

static void
start_and_wait_connected (NbRelayClient *client,
                          ClientRec     *rec)
{
  g_autoptr(GError) error = NULL;
  guint before = rec->connected;

  g_assert_true (nb_relay_client_start (client, &error));
  g_assert_no_error (error);
  WAIT_UINT_AT_LEAST (rec->connected, before + 1);
  g_assert_true (nb_relay_client_is_connected (client));
}

static void
stop_server (NbRelayServer *server)
{
  nb_relay_server_stop (server);
  drain_context ();
}

/* Stop @server but keep its port from other processes until the restart. */
static GSocket *
stop_server_keep_port (NbRelayServer *server)
{
  GSocket *reserved;

  nb_relay_server_stop (server);
  reserved = reserve_port (nb_relay_server_get_port (server));
  drain_context ();
  return reserved;
}

static void
assert_payload (GBytes     *got,
                const char *expected)
{
  g_assert_cmpmem (g_bytes_get_data (got, NULL), g_bytes_get_size (got),
                   expected, strlen (expected));
}

/* ---- raw WebSocket clients --------------------------------------------- */

typedef struct {
  SoupSession *session;
  SoupWebsocketConnection *ws;
  GError *error;
  gboolean done;
  gboolean closed;
  GPtrArray *received; /* GBytes */
} RawClient;

static void
on_raw_closed (SoupWebsocketConnection *ws,
               RawClient               *raw)
{
  raw->closed = TRUE;
}

static void
on_raw_message (SoupWebsocketConnection *ws,
                gint                     type,
                GBytes                  *message,
                RawClient               *raw)
{
  g_ptr_array_add (raw->received, g_bytes_ref (message));
}

static void
on_raw_connected (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  RawClient *raw = user_data;

  raw->ws = soup_session_websocket_connect_finish (SOUP_SESSION (source), result, &raw->error);
  raw->done = TRUE;
}

static gboolean
raw_done (gpointer data)
{
  return ((RawClient *) data)->done;
}

static gboolean
raw_closed (gpointer data)
{
  return ((RawClient *) data)->closed;
}

static RawClient *
raw_connect (NbRelayServer *server)
{
  RawClient *raw = g_new0 (RawClient, 1);
  g_autofree char *url = g_strdup_printf ("ws://127.0.0.1:%u/relay",
                                          (guint) nb_relay_server_get_port (server));
  g_autoptr(SoupMessage) msg = soup_message_new ("GET", url);

  raw->received = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  raw->session = soup_session_new ();
  soup_session_set_proxy_resolver (raw->session, NULL);
  soup_session_websocket_connect_async (raw->session, msg, NULL, NULL, G_PRIORITY_DEFAULT,
                                        NULL, on_raw_connected, raw);
  g_assert_true (run_until_cond (raw_done, raw, WAIT_MS));
  g_assert_no_error (raw->error);
  g_assert_nonnull (raw->ws);
  soup_websocket_connection_set_max_incoming_payload_size (raw->ws, 0);
  g_signal_connect (raw->ws, "closed", G_CALLBACK (on_raw_closed), raw);
  g_signal_connect (raw->ws, "message", G_CALLBACK (on_raw_message), raw);
  return raw;
}

static void
raw_send (RawClient    *raw,
          const guint8 *data,
          gsize         len)
{
  g_assert_cmpint (soup_websocket_connection_get_state (raw->ws), ==, SOUP_WEBSOCKET_STATE_OPEN);
  soup_websocket_connection_send_binary (raw->ws, data, len);
}

static void
raw_send_bytes (RawClient *raw,
                GBytes    *frame)
{
  raw_send (raw, g_bytes_get_data (frame, NULL), g_bytes_get_size (frame));
}

static void
raw_send_auth (RawClient  *raw,
               const char *key,
               const char *secret)
{
  g_autoptr(NbRelayToken) token = make_token (secret, 3600);
  g_autoptr(GBytes) payload = nb_relay_auth_payload_new (token->payload, token->signature, NULL);
  g_autoptr(GBytes) auth = NULL;
  NbRelayPeerId id;

  nb_relay_peer_id_from_key (&id, key);
  auth = nb_relay_msg_encode_auth (&id, g_bytes_get_data (payload, NULL),
                                   g_bytes_get_size (payload), NULL);
  raw_send_bytes (raw, auth);
}

static void
raw_free (RawClient *raw)
{
  if (raw->ws != NULL)
    {
      g_signal_handlers_disconnect_by_data (raw->ws, raw);
      if (soup_websocket_connection_get_state (raw->ws) == SOUP_WEBSOCKET_STATE_OPEN)
        {
          soup_websocket_connection_close (raw->ws, SOUP_WEBSOCKET_CLOSE_NORMAL, NULL);
          g_signal_connect (raw->ws, "closed", G_CALLBACK (on_raw_closed), raw);
          run_until_cond (raw_closed, raw, WAIT_MS);
          g_signal_handlers_disconnect_by_data (raw->ws, raw);
        }
      g_object_unref (raw->ws);
    }
  g_clear_error (&raw->error);
  g_clear_object (&raw->session);
  g_ptr_array_unref (raw->received);
  g_free (raw);
}

/* A fake relay server for the client side: records what it gets and lets
 * the test send anything. */
typedef struct {
  SoupServer *server;
  char *url;
  SoupWebsocketConnection *ws;
  gboolean answer_auth;
  guint n_received;
  gboolean closed;
} FakeServer;

static void
on_fake_message (SoupWebsocketConnection *ws,
                 gint                     type,
                 GBytes                  *message,
                 FakeServer              *fake)
{
  g_autoptr(NbRelayMsg) msg = nb_relay_msg_decode (message, NB_RELAY_MSG_FROM_CLIENT, NULL);

  fake->n_received++;
  if (msg != NULL && msg->type == NB_RELAY_MSG_AUTH && fake->answer_auth)
    {
      g_autoptr(GBytes) response = nb_relay_msg_encode_auth_response ("rel://fake.example:1", NULL);

      soup_websocket_connection_send_message (ws, SOUP_WEBSOCKET_DATA_BINARY, response);
    }
}

static void
on_fake_closed (SoupWebsocketConnection *ws,
                FakeServer              *fake)
{
  fake->closed = TRUE;
}

static void
on_fake_websocket (SoupServer              *server,
                   SoupServerMessage       *msg,
                   const char              *path,
                   SoupWebsocketConnection *ws,
                   gpointer                 user_data)
{
  FakeServer *fake = user_data;

  if (fake->ws != NULL)
    {
      g_signal_handlers_disconnect_by_data (fake->ws, fake);
      g_object_unref (fake->ws);
    }
  fake->ws = g_object_ref (ws);
  fake->closed = FALSE;
  soup_websocket_connection_set_max_incoming_payload_size (ws, 0);
  g_signal_connect (ws, "message", G_CALLBACK (on_fake_message), fake);
  g_signal_connect (ws, "closed", G_CALLBACK (on_fake_closed), fake);
}

static FakeServer *
fake_server_new (gboolean answer_auth)
{
  FakeServer *fake = g_new0 (FakeServer, 1);
  g_autoptr(GError) error = NULL;
  GSList *uris;

  fake->answer_auth = answer_auth;
  fake->server = soup_server_new (NULL, NULL);
  soup_server_add_websocket_handler (fake->server, "/relay", NULL, NULL,
                                     on_fake_websocket, fake, NULL);
  g_assert_true (soup_server_listen_local (fake->server, 0, SOUP_SERVER_LISTEN_IPV4_ONLY, &error));
  g_assert_no_error (error);
  uris = soup_server_get_uris (fake->server);
  fake->url = g_strdup_printf ("rel://127.0.0.1:%d", g_uri_get_port (uris->data));
  g_slist_free_full (uris, (GDestroyNotify) g_uri_unref);
  return fake;
}

static void
fake_send (FakeServer *fake,
           const char *hex)
{
  gsize len = strlen (hex) / 2;
  g_autofree guint8 *buf = g_malloc (len + 1);

  for (gsize i = 0; i < len; i++)
    buf[i] = (guint8) ((g_ascii_xdigit_value (hex[2 * i]) << 4) | g_ascii_xdigit_value (hex[2 * i + 1]));
  soup_websocket_connection_send_binary (fake->ws, buf, len);
}

static void
fake_server_free (FakeServer *fake)
{
  if (fake->ws != NULL)
    {
      g_signal_handlers_disconnect_by_data (fake->ws, fake);
      if (soup_websocket_connection_get_state (fake->ws) == SOUP_WEBSOCKET_STATE_OPEN)
        soup_websocket_connection_close (fake->ws, SOUP_WEBSOCKET_CLOSE_NORMAL, NULL);
      g_object_unref (fake->ws);
    }
  soup_server_disconnect (fake->server);
  g_object_unref (fake->server);
  g_free (fake->url);
  g_free (fake);
  drain_context ();
}

/* ---- tests: URLs ------------------------------------------------------- */

static void
test_url (void)
{
  struct {
    const char *in;
    const char *out;
  } good[] = {
    { "rel://relay.example.net", "ws://relay.example.net/relay" },
    { "rels://relay.example.net", "wss://relay.example.net/relay" },
    { "rels://relay.example.net:443", "wss://relay.example.net:443/relay" },
    { "rel://10.0.0.1:33080", "ws://10.0.0.1:33080/relay" },
    { "rel://[fd00::1]:80", "ws://[fd00::1]:80/relay" },
    { "rels://relay.example.net:8443/ignored", "wss://relay.example.net:8443/relay" },
  };
  const char *bad[] = {
    "", "relay.example.net", "http://relay.example.net", "wss://relay.example.net/relay",
    "rel://", "rel://:80", "rel://host:0", "rel://host:99999", "rels:relay",
  };

  for (guint i = 0; i < G_N_ELEMENTS (good); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autofree char *ws = nb_relay_url_to_websocket (good[i].in, &error);

      g_assert_no_error (error);
      g_assert_cmpstr (ws, ==, good[i].out);
    }
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autofree char *ws = nb_relay_url_to_websocket (bad[i], &error);
      g_autoptr(NbRelayClient) client = NULL;

      g_assert_null (ws);
      g_assert_error (error, NB_RELAY_CLIENT_ERROR, NB_RELAY_CLIENT_ERROR_INVALID_URL);
      g_clear_error (&error);
      client = nb_relay_client_new (bad[i], KEY_A, &error);
      g_assert_null (client);
      g_assert_error (error, NB_RELAY_CLIENT_ERROR, NB_RELAY_CLIENT_ERROR_INVALID_URL);
    }
}

/* ---- tests: auth ------------------------------------------------------- */

static void
test_auth_ok (void)
{
  g_autoptr(NbRelayServer) server = start_server (SECRET, 0);
  g_autoptr(NbRelayClient) client = NULL;
  ClientRec rec;
  ServerRec srec = { 0 };
  NbRelayPeerId id;

  client_rec_init (&rec);
  server_rec_watch (&srec, server);
  client = new_client (nb_relay_server_get_url (server), KEY_A, SECRET, &rec);
  g_assert_null (nb_relay_client_get_instance_url (client));
  {
    g_autoptr(GError) error = NULL;
    g_autoptr(NbRelayConn) conn = nb_relay_client_open_conn (client, KEY_B, &error);

    g_assert_null (conn);
    g_assert_error (error, NB_RELAY_CLIENT_ERROR, NB_RELAY_CLIENT_ERROR_NOT_CONNECTED);
  }

  start_and_wait_connected (client, &rec);
  g_assert_cmpstr (rec.instance_url, ==, nb_relay_server_get_url (server));
  g_assert_cmpstr (nb_relay_client_get_instance_url (client), ==, nb_relay_server_get_url (server));
  g_assert_null (nb_relay_client_get_last_error (client));
  g_assert_cmpuint (rec.disconnected, ==, 0);
  g_assert_cmpuint (nb_relay_server_get_n_peers (server), ==, 1);
  nb_relay_peer_id_from_key (&id, KEY_A);
  g_assert_true (nb_relay_server_has_peer (server, &id));
  g_assert_true (nb_relay_peer_id_equal (nb_relay_client_get_peer_id (client), &id));

  /* stop: CLOSE goes to the server, which forgets the peer */
  nb_relay_client_stop (client);
  g_assert_false (nb_relay_client_is_connected (client));
  g_assert_true (run_until_cond (server_has_no_connections, server, WAIT_MS));
  g_assert_cmpuint (srec.peer_disconnected, ==, 1);
  g_assert_cmpstr (srec.last_disconnect_reason, ==, "peer closed the connection");
  g_assert_cmpuint (rec.disconnected, ==, 0);

  g_clear_object (&client);
  stop_server (server);
  client_rec_clear (&rec);
  server_rec_clear (&srec);
}

static void
check_refused (const char *secret,
               gint64      lifetime_s)
{
  g_autoptr(NbRelayServer) server = start_server (SECRET, 0);
  g_autoptr(NbRelayClient) client = NULL;
  g_autoptr(NbRelayToken) token = make_token (secret, lifetime_s);
  g_autoptr(GError) error = NULL;
  ClientRec rec;
  ServerRec srec = { 0 };

  client_rec_init (&rec);
  server_rec_watch (&srec, server);
  client = new_client (nb_relay_server_get_url (server), KEY_A, SECRET, &rec);
  g_assert_true (nb_relay_client_set_token (client, token->payload, token->signature, &error));
  nb_relay_client_set_backoff (client, 60000, 60000);
  g_assert_true (nb_relay_client_start (client, &error));

  WAIT_UINT_AT_LEAST (rec.disconnected, 1);
  g_assert_cmpuint (rec.connected, ==, 0);
  g_assert_error (rec.error, NB_RELAY_CLIENT_ERROR, NB_RELAY_CLIENT_ERROR_AUTH_REJECTED);
  g_assert_nonnull (nb_relay_client_get_last_error (client));
  g_assert_false (nb_relay_client_is_connected (client));
  g_assert_cmpuint (srec.rejected, ==, 1);
  g_assert_cmpuint (srec.peer_connected, ==, 0);
  g_assert_cmpuint (nb_relay_server_get_n_peers (server), ==, 0);
  /* the token is not in the server's reason */
  g_assert_null (strstr (srec.last_reject_reason, token->signature));
  g_assert_true (run_until_cond (server_has_no_connections, server, WAIT_MS));

  nb_relay_client_stop (client);
  g_clear_object (&client);
  stop_server (server);
  client_rec_clear (&rec);
  server_rec_clear (&srec);
}

static void
test_auth_bad_token (void)
{
  check_refused (OTHER_SECRET, 3600);
}

static void
test_auth_expired_token (void)
{
  check_refused (SECRET, -10);
}

static void
test_auth_no_token (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(NbRelayClient) client = nb_relay_client_new ("rel://127.0.0.1:9", KEY_A, &error);

  g_assert_no_error (error);
  g_assert_false (nb_relay_client_start (client, &error));
  g_assert_error (error, NB_RELAY_CLIENT_ERROR, NB_RELAY_CLIENT_ERROR_NO_TOKEN);
  g_clear_error (&error);
  g_assert_false (nb_relay_client_set_token (client, "4102444800", "bad!", &error));
  g_assert_error (error, NB_RELAY_MSG_ERROR, NB_RELAY_MSG_ERROR_TOKEN_INVALID);
}

/* ---- tests: transport -------------------------------------------------- */

typedef struct {
  NbRelayServer *server;
  NbRelayClient *a, *b;
  ClientRec ra, rb;
  ServerRec srec;
} Pair;

static void
pair_setup (Pair *p)
{
  memset (p, 0, sizeof *p);
  p->server = start_server (SECRET, 0);
  server_rec_watch (&p->srec, p->server);
  client_rec_init (&p->ra);
  client_rec_init (&p->rb);
  p->a = new_client (nb_relay_server_get_url (p->server), KEY_A, SECRET, &p->ra);
  p->b = new_client (nb_relay_server_get_url (p->server), KEY_B, SECRET, &p->rb);
  start_and_wait_connected (p->a, &p->ra);
  start_and_wait_connected (p->b, &p->rb);
}

static void
pair_teardown (Pair *p)
{
  nb_relay_client_stop (p->a);
  nb_relay_client_stop (p->b);
  g_assert_true (run_until_cond (server_has_no_connections, p->server, WAIT_MS));
  g_clear_object (&p->a);
  g_clear_object (&p->b);
  stop_server (p->server);
  g_clear_object (&p->server);
  client_rec_clear (&p->ra);
  client_rec_clear (&p->rb);
  server_rec_clear (&p->srec);
}

static void
test_transport (void)
{
  Pair p;
  g_autoptr(GError) error = NULL;
  g_autoptr(NbRelayConn) a_to_b = NULL;
  g_autoptr(NbRelayConn) b_to_a = NULL;
  g_autoptr(NbRelayConn) dup = NULL;
  g_autoptr(GBytes) ping = bytes_of ("ping from A");
  g_autoptr(GBytes) pong = bytes_of ("pong from B");
  g_autofree guint8 *big = g_malloc (NB_RELAY_MAX_TRANSPORT_PAYLOAD + 1);
  g_autoptr(GBytes) big_ok = NULL;
  g_autoptr(GBytes) too_big = NULL;
  ConnRec ca, cb;
  NbRelayPeerId id_a;

  pair_setup (&p);
  for (gsize i = 0; i <= NB_RELAY_MAX_TRANSPORT_PAYLOAD; i++)
    big[i] = (guint8) (i * 7);
  big_ok = g_bytes_new (big, NB_RELAY_MAX_TRANSPORT_PAYLOAD);
  too_big = g_bytes_new (big, NB_RELAY_MAX_TRANSPORT_PAYLOAD + 1);

  a_to_b = nb_relay_client_open_conn (p.a, KEY_B, &error);
  g_assert_no_error (error);
  b_to_a = nb_relay_client_open_conn (p.b, KEY_A, &error);
  g_assert_no_error (error);
  conn_rec_init (&ca, a_to_b);
  conn_rec_init (&cb, b_to_a);
  nb_relay_peer_id_from_key (&id_a, KEY_A);
  g_assert_true (nb_relay_peer_id_equal (nb_relay_conn_get_peer_id (b_to_a), &id_a));
  g_assert_true (nb_relay_conn_get_client (a_to_b) == p.a);

  dup = nb_relay_client_open_conn (p.a, KEY_B, &error);
  g_assert_null (dup);
  g_assert_error (error, NB_RELAY_CLIENT_ERROR, NB_RELAY_CLIENT_ERROR_EXISTS);
  g_clear_error (&error);

  /* A -> B arrives on B's connection for A, i.e. attributed to A */
  g_assert_true (nb_relay_conn_send (a_to_b, ping, &error));
  g_assert_no_error (error);
  WAIT_UINT_AT_LEAST (cb.messages->len, 1);
  assert_payload (cb.messages->pdata[0], "ping from A");

  g_assert_true (nb_relay_conn_send (b_to_a, pong, &error));
  WAIT_UINT_AT_LEAST (ca.messages->len, 1);
  assert_payload (ca.messages->pdata[0], "pong from B");

  /* the largest payload passes unchanged; a larger one is refused locally */
  g_assert_true (nb_relay_conn_send (a_to_b, big_ok, &error));
  g_assert_no_error (error);
  WAIT_UINT_AT_LEAST (cb.messages->len, 2);
  g_assert_true (g_bytes_equal (cb.messages->pdata[1], big_ok));
  g_assert_false (nb_relay_conn_send (a_to_b, too_big, &error));
  g_assert_error (error, NB_RELAY_MSG_ERROR, NB_RELAY_MSG_ERROR_TOO_LARGE);
  g_clear_error (&error);

  /* a burst keeps its order */
  for (guint i = 0; i < 100; i++)
    {
      g_autofree char *s = g_strdup_printf ("msg %u", i);
      g_autoptr(GBytes) b = bytes_of (s);

      g_assert_true (nb_relay_conn_send (a_to_b, b, NULL));
    }
  WAIT_UINT_AT_LEAST (cb.messages->len, 102);
  for (guint i = 0; i < 100; i++)
    {
      g_autofree char *s = g_strdup_printf ("msg %u", i);

      assert_payload (cb.messages->pdata[2 + i], s);
    }

  /* closing a virtual connection sends nothing and emits nothing */
  nb_relay_conn_close (a_to_b);
  g_assert_false (nb_relay_conn_is_open (a_to_b));
  g_assert_null (nb_relay_conn_get_client (a_to_b));
  g_assert_cmpuint (ca.closed, ==, 0);
  g_assert_false (nb_relay_conn_send (a_to_b, ping, &error));
  g_assert_error (error, NB_RELAY_CLIENT_ERROR, NB_RELAY_CLIENT_ERROR_CLOSED);
  g_clear_error (&error);
  g_assert_cmpuint (p.srec.peer_disconnected, ==, 0);

  /* stopping the client closes its remaining virtual connections */
  nb_relay_client_stop (p.b);
  g_assert_cmpuint (cb.closed, ==, 1);
  g_assert_error (cb.error, NB_RELAY_CLIENT_ERROR, NB_RELAY_CLIENT_ERROR_CLOSED);

  conn_rec_clear (&ca);
  conn_rec_clear (&cb);
  pair_teardown (&p);
}

static void
test_early_message (void)
{
  Pair p;
  g_autoptr(GError) error = NULL;
  g_autoptr(NbRelayClient) c = NULL;
  g_autoptr(NbRelayConn) a_self = NULL;
  g_autoptr(NbRelayConn) b_to_c = NULL;
  g_autoptr(NbRelayConn) b_to_a = NULL;
  g_autoptr(GBytes) first = bytes_of ("handshake initiation");
  g_autoptr(GBytes) second = bytes_of ("second");
  g_autoptr(GBytes) marker = bytes_of ("marker");
  NbRelayPeerId id_a, id_b;
  ClientRec rc;
  ConnRec cself, cbc, cb;

  pair_setup (&p);
  client_rec_init (&rc);
  c = new_client (nb_relay_server_get_url (p.server), KEY_C, SECRET, &rc);
  start_and_wait_connected (c, &rc);
  nb_relay_peer_id_from_key (&id_a, KEY_A);
  nb_relay_peer_id_from_key (&id_b, KEY_B);

  /* B has no connection for A yet */
  g_assert_true (nb_relay_client_send_to (p.a, &id_b, first, &error));
  g_assert_no_error (error);

  /* Make sure B has read it: A's own echo proves the server forwarded it;
   * a later message from C to B then arrives behind it on B's socket. */
  a_self = nb_relay_client_open_conn (p.a, KEY_A, &error);
  g_assert_no_error (error);
  conn_rec_init (&cself, a_self);
  g_assert_true (nb_relay_conn_send (a_self, marker, &error));
  WAIT_UINT_AT_LEAST (cself.messages->len, 1);
  b_to_c = nb_relay_client_open_conn (p.b, KEY_C, &error);
  g_assert_no_error (error);
  conn_rec_init (&cbc, b_to_c);
  g_assert_true (nb_relay_client_send_to (c, &id_b, marker, &error));
  WAIT_UINT_AT_LEAST (cbc.messages->len, 1);

  /* opening the connection delivers the kept message first */
  b_to_a = nb_relay_client_open_conn (p.b, KEY_A, &error);
  g_assert_no_error (error);
  conn_rec_init (&cb, b_to_a);
  g_assert_cmpuint (cb.messages->len, ==, 0); /* delivered from an idle */
  g_assert_true (nb_relay_client_send_to (p.a, &id_b, second, &error));
  WAIT_UINT_AT_LEAST (cb.messages->len, 2);
  assert_payload (cb.messages->pdata[0], "handshake initiation");
  assert_payload (cb.messages->pdata[1], "second");

  nb_relay_client_stop (c);
  conn_rec_clear (&cself);
  conn_rec_clear (&cbc);
  conn_rec_clear (&cb);
  g_clear_object (&c);
  client_rec_clear (&rc);
  pair_teardown (&p);
}

static void
test_unknown_peer (void)
{
  Pair p;
  g_autoptr(GError) error = NULL;
  g_autoptr(NbRelayConn) a_to_c = NULL;
  g_autoptr(NbRelayConn) a_to_b = NULL;
  g_autoptr(NbRelayConn) b_to_a = NULL;
  g_autoptr(GBytes) lost = bytes_of ("nobody home");
  g_autoptr(GBytes) ok = bytes_of ("still works");
  g_autofree char *c_str = NULL;
  NbRelayPeerId id_c;
  ConnRec ca, cb;

  pair_setup (&p);
  nb_relay_peer_id_from_key (&id_c, KEY_C);
  c_str = nb_relay_peer_id_to_string (&id_c);

  a_to_c = nb_relay_client_open_conn (p.a, KEY_C, &error);
  g_assert_no_error (error);
  conn_rec_init (&ca, a_to_c);
  g_assert_true (nb_relay_conn_send (a_to_c, lost, &error));
  WAIT_UINT_AT_LEAST (p.srec.dropped, 1);
  g_assert_cmpstr (p.srec.last_dropped, ==, c_str);
  g_assert_cmpuint (p.ra.disconnected, ==, 0);
  g_assert_true (nb_relay_client_is_connected (p.a));

  a_to_b = nb_relay_client_open_conn (p.a, KEY_B, &error);
  b_to_a = nb_relay_client_open_conn (p.b, KEY_A, &error);
  g_assert_no_error (error);
  conn_rec_init (&cb, b_to_a);
  g_assert_true (nb_relay_conn_send (a_to_b, ok, &error));
  WAIT_UINT_AT_LEAST (cb.messages->len, 1);
  assert_payload (cb.messages->pdata[0], "still works");
  g_assert_cmpuint (ca.messages->len, ==, 0);

  conn_rec_clear (&ca);
  conn_rec_clear (&cb);
  pair_teardown (&p);
}

/* ---- tests: peer state ------------------------------------------------- */

static void
test_peer_state (void)
{
  g_autoptr(NbRelayServer) server = start_server (SECRET, 0);
  g_autoptr(NbRelayClient) a = NULL;
  g_autoptr(NbRelayClient) b = NULL;
  g_autoptr(NbRelayClient) c = NULL;
  g_autoptr(NbRelayConn) a_to_b = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *b_str = NULL;
  g_autofree char *c_str = NULL;
  NbRelayPeerId id_b, id_c;
  ClientRec ra, rb, rc;
  ServerRec srec = { 0 };
  ConnRec cab;

  server_rec_watch (&srec, server);
  client_rec_init (&ra);
  client_rec_init (&rb);
  client_rec_init (&rc);
  nb_relay_peer_id_from_key (&id_b, KEY_B);
  nb_relay_peer_id_from_key (&id_c, KEY_C);
  b_str = nb_relay_peer_id_to_string (&id_b);
  c_str = nb_relay_peer_id_to_string (&id_c);

  a = new_client (nb_relay_server_get_url (server), KEY_A, SECRET, &ra);
  c = new_client (nb_relay_server_get_url (server), KEY_C, SECRET, &rc);
  start_and_wait_connected (a, &ra);
  start_and_wait_connected (c, &rc);

  /* C is online already: answered at once; B is not */
  {
    NbRelayPeerId both[2] = { id_b, id_c };

    g_assert_true (nb_relay_client_subscribe (a, both, 2, &error));
    g_assert_no_error (error);
  }
  WAIT_UINT_AT_LEAST (ra.online->len, 1);
  g_assert_cmpstr (ra.online->pdata[0], ==, c_str);

  /* B comes online: reported */
  b = new_client (nb_relay_server_get_url (server), KEY_B, SECRET, &rb);
  start_and_wait_connected (b, &rb);
  WAIT_UINT_AT_LEAST (ra.online->len, 2);
  g_assert_cmpstr (ra.online->pdata[1], ==, b_str);

  a_to_b = nb_relay_client_open_conn (a, KEY_B, &error);
  g_assert_no_error (error);
  conn_rec_init (&cab, a_to_b);

  /* B goes away: reported offline, A's connection to B closes */
  nb_relay_client_stop (b);
  WAIT_UINT_AT_LEAST (ra.offline->len, 1);
  g_assert_cmpstr (ra.offline->pdata[0], ==, b_str);
  g_assert_cmpuint (cab.closed, ==, 1);
  g_assert_error (cab.error, NB_RELAY_CLIENT_ERROR, NB_RELAY_CLIENT_ERROR_PEER_OFFLINE);
  g_assert_false (nb_relay_conn_is_open (a_to_b));

  /* after unsubscribing, C going away is not reported */
  g_assert_true (nb_relay_client_unsubscribe (a, &id_c, 1, &error));
  g_assert_no_error (error);
  /* a round trip through the server orders the unsubscribe before C's stop */
  {
    g_autoptr(NbRelayConn) self_conn = nb_relay_client_open_conn (a, KEY_A, &error);
    g_autoptr(GBytes) marker = bytes_of ("marker");
    ConnRec cm;

    conn_rec_init (&cm, self_conn);
    g_assert_true (nb_relay_conn_send (self_conn, marker, &error));
    WAIT_UINT_AT_LEAST (cm.messages->len, 1);
    conn_rec_clear (&cm);
  }
  nb_relay_client_stop (c);
  WAIT_UINT_AT_LEAST (srec.peer_disconnected, 2);
  /* an offline notice for C would reach A before this echo */
  {
    g_autoptr(NbRelayConn) self_conn = nb_relay_client_open_conn (a, KEY_A, &error);
    g_autoptr(GBytes) marker = bytes_of ("marker 2");
    ConnRec cm;

    conn_rec_init (&cm, self_conn);
    g_assert_true (nb_relay_conn_send (self_conn, marker, &error));
    WAIT_UINT_AT_LEAST (cm.messages->len, 1);
    conn_rec_clear (&cm);
  }
  g_assert_cmpuint (ra.offline->len, ==, 1);

  nb_relay_client_stop (a);
  g_assert_true (run_until_cond (server_has_no_connections, server, WAIT_MS));
  conn_rec_clear (&cab);
  g_clear_object (&a);
  g_clear_object (&b);
  g_clear_object (&c);
  stop_server (server);
  client_rec_clear (&ra);
  client_rec_clear (&rb);
  client_rec_clear (&rc);
  server_rec_clear (&srec);
}

/* Subscriptions are renewed after a reconnect. */
static void
test_peer_state_resubscribe (void)
{
  g_autoptr(NbRelayServer) server = start_server (SECRET, 0);
  g_autoptr(NbRelayServer) server2 = NULL;
  g_autoptr(NbRelayClient) a = NULL;
  g_autoptr(NbRelayClient) b = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *url = g_strdup (nb_relay_server_get_url (server));
  guint16 port = nb_relay_server_get_port (server);
  g_autoptr(GSocket) reserved = NULL;
  NbRelayPeerId id_b;
  ClientRec ra, rb;

  client_rec_init (&ra);
  client_rec_init (&rb);
  nb_relay_peer_id_from_key (&id_b, KEY_B);
  a = new_client (url, KEY_A, SECRET, &ra);
  g_assert_true (nb_relay_client_subscribe (a, &id_b, 1, &error)); /* recorded only */
  start_and_wait_connected (a, &ra);

  reserved = stop_server_keep_port (server);
  g_clear_object (&server);
  WAIT_UINT_AT_LEAST (ra.disconnected, 1);

  server2 = start_server (SECRET, port);
  g_clear_object (&reserved);
  WAIT_UINT_AT_LEAST (ra.connected, 2);
  b = new_client (url, KEY_B, SECRET, &rb);
  start_and_wait_connected (b, &rb);
  WAIT_UINT_AT_LEAST (ra.online->len, 1);

  nb_relay_client_stop (a);
  nb_relay_client_stop (b);
  g_assert_true (run_until_cond (server_has_no_connections, server2, WAIT_MS));
  g_clear_object (&a);
  g_clear_object (&b);
  stop_server (server2);
  client_rec_clear (&ra);
  client_rec_clear (&rb);
}

/* ---- tests: health checks ---------------------------------------------- */

static void
test_health_check_answered (void)
{
  g_autoptr(NbRelayServer) server = nb_relay_server_new ((const guint8 *) SECRET, strlen (SECRET), NULL);
  g_autoptr(NbRelayClient) client = NULL;
  g_autoptr(GError) error = NULL;
  ClientRec rec;
  ServerRec srec = { 0 };

  /* checks every 30 ms, dropped after 30 + 150 ms without an answer; the
   * client gives up after 200 ms without a check */
  nb_relay_server_set_health_check_interval (server, 30);
  nb_relay_server_set_health_check_timeout (server, 150);
  g_assert_true (nb_relay_server_listen (server, "127.0.0.1", 0, &error));
  server_rec_watch (&srec, server);
  client_rec_init (&rec);
  client = new_client (nb_relay_server_get_url (server), KEY_A, SECRET, &rec);
  nb_relay_client_set_health_timeout (client, 200);
  start_and_wait_connected (client, &rec);

  /* 20 checks span ~600 ms: three times either side's timeout */
  WAIT_UINT_AT_LEAST (srec.hc_answered, 20);
  g_assert_cmpuint (rec.disconnected, ==, 0);
  g_assert_cmpuint (srec.peer_disconnected, ==, 0);
  g_assert_true (nb_relay_client_is_connected (client));

  nb_relay_client_stop (client);
  g_assert_true (run_until_cond (server_has_no_connections, server, WAIT_MS));
  g_clear_object (&client);
  stop_server (server);
  client_rec_clear (&rec);
  server_rec_clear (&srec);
}

static void
test_health_check_missing (void)
{
  g_autoptr(NbRelayServer) server = start_server (SECRET, 0); /* checks every 25 s */
  g_autoptr(NbRelayClient) client = NULL;
  ClientRec rec;
  ServerRec srec = { 0 };

  server_rec_watch (&srec, server);
  client_rec_init (&rec);
  client = new_client (nb_relay_server_get_url (server), KEY_A, SECRET, &rec);
  nb_relay_client_set_health_timeout (client, 150);
  nb_relay_client_set_backoff (client, 60000, 60000);
  start_and_wait_connected (client, &rec);

  WAIT_UINT_AT_LEAST (rec.disconnected, 1);
  /* GLib timeouts count from the start of the main loop iteration */
  g_assert_cmpint (rec.last_disconnect_us - rec.connected_us, >=, 100 * 1000);
  g_assert_error (rec.error, NB_RELAY_CLIENT_ERROR, NB_RELAY_CLIENT_ERROR_HEALTH_TIMEOUT);
  g_assert_false (nb_relay_client_is_connected (client));
  g_assert_null (nb_relay_client_get_instance_url (client));
  /* the client closed its socket: the server sees the peer go */
  WAIT_UINT_AT_LEAST (srec.peer_disconnected, 1);

  nb_relay_client_stop (client);
  g_clear_object (&client);
  stop_server (server);
  client_rec_clear (&rec);
  server_rec_clear (&srec);
}

/* The server drops a peer that does not answer its health checks. */
static void
test_health_check_server_drops_silent_peer (void)
{
  g_autoptr(NbRelayServer) server = nb_relay_server_new ((const guint8 *) SECRET, strlen (SECRET), NULL);
  g_autoptr(GError) error = NULL;
  ServerRec srec = { 0 };
  RawClient *raw;

  nb_relay_server_set_health_check_interval (server, 20);
  nb_relay_server_set_health_check_timeout (server, 60);
  g_assert_true (nb_relay_server_listen (server, "127.0.0.1", 0, &error));
  server_rec_watch (&srec, server);

  raw = raw_connect (server);
  raw_send_auth (raw, KEY_A, SECRET);
  WAIT_UINT_AT_LEAST (srec.peer_connected, 1);
  WAIT_UINT_AT_LEAST (srec.peer_disconnected, 1);
  g_assert_cmpstr (srec.last_disconnect_reason, ==, "health check timeout");
  g_assert_true (run_until_cond (raw_closed, raw, WAIT_MS));
  /* it got the auth response and health checks, each exactly "01 05" */
  g_assert_cmpuint (raw->received->len, >=, 2);
  for (guint i = 1; i < raw->received->len; i++)
    g_assert_cmpmem (g_bytes_get_data (raw->received->pdata[i], NULL),
                     g_bytes_get_size (raw->received->pdata[i]), "\x01\x05", 2);

  raw_free (raw);
  stop_server (server);
  server_rec_clear (&srec);
}

/* ---- tests: reconnect -------------------------------------------------- */

static void
test_reconnect (void)
{
  g_autoptr(NbRelayServer) server = start_server (SECRET, 0);
  g_autoptr(NbRelayClient) a = NULL;
  g_autoptr(NbRelayClient) b = NULL;
  g_autoptr(NbRelayConn) a_to_b = NULL;
  g_autoptr(NbRelayConn) b_to_a = NULL;
  g_autoptr(NbRelayToken) new_token = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) hello = bytes_of ("after restart");
  g_autofree char *url = g_strdup (nb_relay_server_get_url (server));
  guint16 port = nb_relay_server_get_port (server);
  g_autoptr(GSocket) reserved = NULL;
  ClientRec ra, rb;
  ConnRec cold, cb;

  client_rec_init (&ra);
  client_rec_init (&rb);
  a = new_client (url, KEY_A, SECRET, &ra);
  nb_relay_client_set_backoff (a, 40, 160);
  start_and_wait_connected (a, &ra);
  a_to_b = nb_relay_client_open_conn (a, KEY_B, &error);
  g_assert_no_error (error);
  conn_rec_init (&cold, a_to_b);

  /* the server goes away: CLOSE, then refused connections with backoff */
  reserved = stop_server_keep_port (server);
  g_clear_object (&server);
  WAIT_UINT_AT_LEAST (ra.disconnected, 1);
  g_assert_error (ra.first_error, NB_RELAY_CLIENT_ERROR, NB_RELAY_CLIENT_ERROR_CLOSED_BY_SERVER);
  g_assert_cmpuint (cold.closed, ==, 1);
  g_assert_false (nb_relay_conn_is_open (a_to_b));
  WAIT_UINT_AT_LEAST (ra.disconnected, 4);
  g_assert_error (ra.error, NB_RELAY_CLIENT_ERROR, NB_RELAY_CLIENT_ERROR_CONNECT);
  /* three backed-off attempts: 20 + 40 + 80 ms at least (-50 % jitter),
   * less some slack for GLib counting from the iteration start */
  g_assert_cmpint (ra.last_disconnect_us - ra.first_disconnect_us, >=, 110 * 1000);
  g_assert_cmpuint (ra.connected, ==, 1);

  /* the new server has another secret; the client got a fresh token */
  new_token = make_token (OTHER_SECRET, 3600);
  g_assert_true (nb_relay_client_set_token (a, new_token->payload, new_token->signature, &error));
  server = start_server (OTHER_SECRET, port);
  g_clear_object (&reserved);
  WAIT_UINT_AT_LEAST (ra.connected, 2);
  g_assert_cmpstr (ra.instance_url, ==, url);
  g_assert_null (nb_relay_client_get_last_error (a));

  b = new_client (url, KEY_B, OTHER_SECRET, &rb);
  start_and_wait_connected (b, &rb);
  g_clear_object (&a_to_b);
  a_to_b = nb_relay_client_open_conn (a, KEY_B, &error);
  g_assert_no_error (error);
  b_to_a = nb_relay_client_open_conn (b, KEY_A, &error);
  g_assert_no_error (error);
  conn_rec_init (&cb, b_to_a);
  g_assert_true (nb_relay_conn_send (a_to_b, hello, &error));
  WAIT_UINT_AT_LEAST (cb.messages->len, 1);
  assert_payload (cb.messages->pdata[0], "after restart");

  nb_relay_client_stop (a);
  nb_relay_client_stop (b);
  g_assert_true (run_until_cond (server_has_no_connections, server, WAIT_MS));
  conn_rec_clear (&cold);
  conn_rec_clear (&cb);
  g_clear_object (&a_to_b);
  g_clear_object (&b_to_a);
  g_clear_object (&a);
  g_clear_object (&b);
  stop_server (server);
  client_rec_clear (&ra);
  client_rec_clear (&rb);
}

/* ---- tests: hostile clients -------------------------------------------- */

static void
expect_dropped_before_auth (NbRelayServer *server,
                            ServerRec     *srec,
                            const guint8  *data,
                            gsize          len,
                            gboolean       text)
{
  RawClient *raw = raw_connect (server);
  guint rejected = srec->rejected;

  if (text)
    soup_websocket_connection_send_text (raw->ws, (const char *) data);
  else
    raw_send (raw, data, len);
  g_assert_true (run_until_cond (raw_closed, raw, WAIT_MS));
  g_assert_cmpuint (raw->received->len, ==, 0); /* no answer */
  WAIT_UINT_AT_LEAST (srec->rejected, rejected + 1);
  raw_free (raw);
}

static void
assert_server_still_works (NbRelayServer *server)
{
  g_autoptr(NbRelayClient) a = NULL;
  g_autoptr(NbRelayClient) b = NULL;
  g_autoptr(NbRelayConn) a_to_b = NULL;
  g_autoptr(NbRelayConn) b_to_a = NULL;
  g_autoptr(GBytes) msg = bytes_of ("alive");
  ClientRec ra, rb;
  ConnRec cb;

  client_rec_init (&ra);
  client_rec_init (&rb);
  a = new_client (nb_relay_server_get_url (server), KEY_A, SECRET, &ra);
  b = new_client (nb_relay_server_get_url (server), KEY_B, SECRET, &rb);
  start_and_wait_connected (a, &ra);
  start_and_wait_connected (b, &rb);
  a_to_b = nb_relay_client_open_conn (a, KEY_B, NULL);
  b_to_a = nb_relay_client_open_conn (b, KEY_A, NULL);
  conn_rec_init (&cb, b_to_a);
  g_assert_true (nb_relay_conn_send (a_to_b, msg, NULL));
  WAIT_UINT_AT_LEAST (cb.messages->len, 1);
  conn_rec_clear (&cb);
  nb_relay_client_stop (a);
  nb_relay_client_stop (b);
  g_assert_true (run_until_cond (server_has_no_connections, server, WAIT_MS));
  client_rec_clear (&ra);
  client_rec_clear (&rb);
}

static void
test_hostile_before_auth (void)
{
  g_autoptr(NbRelayServer) server = start_server (SECRET, 0);
  ServerRec srec = { 0 };
  g_autofree guint8 *oversize = g_malloc0 (NB_RELAY_MAX_MESSAGE_SIZE + 1);
  g_autoptr(GBytes) good_auth = NULL;
  g_autofree guint8 *bad_magic = NULL;
  g_autofree guint8 *bad_version = NULL;
  static const guint8 garbage[] = { 0xde, 0xad, 0xbe, 0xef, 0x00, 0x01 };
  static const guint8 hello[] = { 0x01, 0x01, 0x21, 0x12, 0xa4, 0x42 };
  static const guint8 transport_first[] = { 0x01, 0x03, 's', 'h', 'a', '-' };
  static const guint8 one_byte[] = { 0x01 };
  static const guint8 unknown_type[] = { 0x01, 0x2a };

  server_rec_watch (&srec, server);
  {
    g_autoptr(NbRelayToken) token = make_token (SECRET, 3600);
    g_autoptr(GBytes) payload = nb_relay_auth_payload_new (token->payload, token->signature, NULL);
    NbRelayPeerId id;

    nb_relay_peer_id_from_key (&id, KEY_A);
    good_auth = nb_relay_msg_encode_auth (&id, g_bytes_get_data (payload, NULL),
                                          g_bytes_get_size (payload), NULL);
  }
  bad_magic = g_memdup2 (g_bytes_get_data (good_auth, NULL), g_bytes_get_size (good_auth));
  bad_magic[3] = 0x13;
  bad_version = g_memdup2 (g_bytes_get_data (good_auth, NULL), g_bytes_get_size (good_auth));
  bad_version[0] = 2;
  oversize[0] = 1;
  oversize[1] = NB_RELAY_MSG_AUTH;

  expect_dropped_before_auth (server, &srec, garbage, sizeof garbage, FALSE);
  expect_dropped_before_auth (server, &srec, hello, sizeof hello, FALSE);
  expect_dropped_before_auth (server, &srec, transport_first, sizeof transport_first, FALSE);
  expect_dropped_before_auth (server, &srec, one_byte, sizeof one_byte, FALSE);
  expect_dropped_before_auth (server, &srec, unknown_type, sizeof unknown_type, FALSE);
  expect_dropped_before_auth (server, &srec, bad_magic, g_bytes_get_size (good_auth), FALSE);
  expect_dropped_before_auth (server, &srec, bad_version, g_bytes_get_size (good_auth), FALSE);
  expect_dropped_before_auth (server, &srec, (const guint8 *) "\x01\x06 text", 0, TRUE);
  /* above 8820 bytes: libsoup refuses the frame (close code 1009) */
  {
    RawClient *raw = raw_connect (server);

    raw_send (raw, oversize, NB_RELAY_MAX_MESSAGE_SIZE + 1);
    g_assert_true (run_until_cond (raw_closed, raw, WAIT_MS));
    g_assert_cmpuint (raw->received->len, ==, 0);
    raw_free (raw);
  }
  /* an empty binary message */
  {
    RawClient *raw = raw_connect (server);

    soup_websocket_connection_send_binary (raw->ws, NULL, 0);
    g_assert_true (run_until_cond (raw_closed, raw, WAIT_MS));
    raw_free (raw);
  }
  g_assert_cmpuint (srec.peer_connected, ==, 0);
  g_assert_true (run_until_cond (server_has_no_connections, server, WAIT_MS));

  assert_server_still_works (server);
  stop_server (server);
  server_rec_clear (&srec);
}

static void
test_hostile_after_auth (void)
{
  g_autoptr(NbRelayServer) server = start_server (SECRET, 0);
  g_autoptr(NbRelayClient) b = NULL;
  g_autoptr(NbRelayConn) b_to_a = NULL;
  ServerRec srec = { 0 };
  ClientRec rb;
  ConnRec cb;
  NbRelayPeerId id_b;
  struct {
    const char *what;
    guint8 data[8];
    gsize len;
  } fatal[] = {
    { "wrong version", { 0x02, 0x05 }, 2 },
    { "unknown type", { 0x01, 0x0c }, 2 },
    { "server-only type", { 0x01, 0x0a }, 2 },
    { "legacy hello", { 0x01, 0x01 }, 2 },
    { "truncated header", { 0x01 }, 1 },
  };

  server_rec_watch (&srec, server);
  client_rec_init (&rb);
  b = new_client (nb_relay_server_get_url (server), KEY_B, SECRET, &rb);
  start_and_wait_connected (b, &rb);
  b_to_a = nb_relay_client_open_conn (b, KEY_A, NULL);
  conn_rec_init (&cb, b_to_a);
  nb_relay_peer_id_from_key (&id_b, KEY_B);

  for (guint i = 0; i < G_N_ELEMENTS (fatal); i++)
    {
      RawClient *raw = raw_connect (server);
      guint disconnected = srec.peer_disconnected;

      raw_send_auth (raw, KEY_A, SECRET);
      WAIT_UINT_AT_LEAST (raw->received->len, 1); /* auth response */
      raw_send (raw, fatal[i].data, fatal[i].len);
      g_test_message ("sent %s", fatal[i].what);
      g_assert_true (run_until_cond (raw_closed, raw, WAIT_MS));
      WAIT_UINT_AT_LEAST (srec.peer_disconnected, disconnected + 1);
      raw_free (raw);
    }

  /* a second auth on an authenticated connection */
  {
    RawClient *raw = raw_connect (server);
    guint disconnected = srec.peer_disconnected;

    raw_send_auth (raw, KEY_A, SECRET);
    WAIT_UINT_AT_LEAST (raw->received->len, 1);
    raw_send_auth (raw, KEY_A, SECRET);
    g_assert_true (run_until_cond (raw_closed, raw, WAIT_MS));
    WAIT_UINT_AT_LEAST (srec.peer_disconnected, disconnected + 1);
    g_assert_cmpuint (raw->received->len, ==, 1);
    raw_free (raw);
  }

  /* bad bodies of known types are skipped, as NetBird does */
  {
    RawClient *raw = raw_connect (server);
    g_autoptr(GBytes) ok = NULL;
    static const guint8 short_transport[] = { 0x01, 0x03, 's', 'h', 'a' };
    static const guint8 bad_list[] = { 0x01, 0x08, 1, 2, 3 };

    raw_send_auth (raw, KEY_A, SECRET);
    WAIT_UINT_AT_LEAST (raw->received->len, 1);
    raw_send (raw, short_transport, sizeof short_transport);
    raw_send (raw, bad_list, sizeof bad_list);
    ok = nb_relay_msg_encode_transport (&id_b, "raw ok", 6, NULL);
    raw_send_bytes (raw, ok);
    WAIT_UINT_AT_LEAST (cb.messages->len, 1);
    assert_payload (cb.messages->pdata[0], "raw ok");
    g_assert_false (raw->closed);
    raw_free (raw);
  }

  /* a connection that never authenticates is closed by the auth timeout */
  nb_relay_server_set_auth_timeout (server, 50);
  {
    RawClient *raw = raw_connect (server);
    guint rejected = srec.rejected;

    g_assert_true (run_until_cond (raw_closed, raw, WAIT_MS));
    WAIT_UINT_AT_LEAST (srec.rejected, rejected + 1);
    g_assert_cmpstr (srec.last_reject_reason, ==, "no auth message in time");
    raw_free (raw);
  }

  g_assert_true (nb_relay_client_is_connected (b));
  g_assert_cmpuint (rb.disconnected, ==, 0);
  nb_relay_client_stop (b);
  g_assert_true (run_until_cond (server_has_no_connections, server, WAIT_MS));
  conn_rec_clear (&cb);
  g_clear_object (&b_to_a);
  g_clear_object (&b);
  nb_relay_server_set_auth_timeout (server, 10000);
  assert_server_still_works (server);
  stop_server (server);
  client_rec_clear (&rb);
  server_rec_clear (&srec);
}

/* A peer with the same ID replaces the old connection. */
static void
test_same_id_replaces (void)
{
  g_autoptr(NbRelayServer) server = start_server (SECRET, 0);
  ServerRec srec = { 0 };
  RawClient *first, *second;

  server_rec_watch (&srec, server);
  first = raw_connect (server);
  raw_send_auth (first, KEY_A, SECRET);
  WAIT_UINT_AT_LEAST (srec.peer_connected, 1);
  second = raw_connect (server);
  raw_send_auth (second, KEY_A, SECRET);
  WAIT_UINT_AT_LEAST (srec.peer_connected, 2);
  g_assert_true (run_until_cond (raw_closed, first, WAIT_MS));
  g_assert_false (second->closed);
  g_assert_cmpuint (nb_relay_server_get_n_peers (server), ==, 1);

  raw_free (first);
  raw_free (second);
  g_assert_true (run_until_cond (server_has_no_connections, server, WAIT_MS));
  stop_server (server);
  server_rec_clear (&srec);
}

/* Stopping (or dropping) the server from its own signal handlers is safe. */
static void
on_peer_connected_stop (NbRelayServer *server,
                        const char    *id,
                        gpointer       user_data)
{
  nb_relay_server_stop (server);
}

static void
on_peer_connected_unref (NbRelayServer *server,
                         const char    *id,
                         gpointer       user_data)
{
  NbRelayServer **slot = user_data;

  g_clear_object (slot);
}

static void
test_stop_in_handler (void)
{
  for (guint round = 0; round < 2; round++)
    {
      NbRelayServer *server = start_server (SECRET, 0);
      g_autoptr(NbRelayClient) client = NULL;
      ClientRec rec;

      if (round == 0)
        g_signal_connect (server, "peer-connected", G_CALLBACK (on_peer_connected_stop), NULL);
      else
        g_signal_connect (server, "peer-connected", G_CALLBACK (on_peer_connected_unref), &server);
      client_rec_init (&rec);
      client = new_client (nb_relay_server_get_url (server), KEY_A, SECRET, &rec);
      nb_relay_client_set_backoff (client, 60000, 60000);
      g_assert_true (nb_relay_client_start (client, NULL));
      WAIT_UINT_AT_LEAST (rec.disconnected, 1);
      nb_relay_client_stop (client);
      g_clear_object (&client);
      g_clear_object (&server);
      drain_context ();
      client_rec_clear (&rec);
    }
}

/* A client that drops the TCP connection in the middle of a frame. */
typedef struct {
  GSocketConnection *conn;
  GError *error;
  gboolean done;
  gssize n;
} Io;

static void
on_tcp_connected (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Io *io = user_data;

  io->conn = g_socket_client_connect_to_host_finish (G_SOCKET_CLIENT (source), result, &io->error);
  io->done = TRUE;
}

static void
on_written (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Io *io = user_data;

  g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result, NULL, &io->error);
  io->done = TRUE;
}

static void
on_read (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Io *io = user_data;

  io->n = g_input_stream_read_finish (G_INPUT_STREAM (source), result, &io->error);
  io->done = TRUE;
}

static gboolean
io_done (gpointer data)
{
  return ((Io *) data)->done;
}

static void
write_all (Io *io, const void *data, gsize len)
{
  io->done = FALSE;
  g_output_stream_write_all_async (g_io_stream_get_output_stream (G_IO_STREAM (io->conn)),
                                   data, len, G_PRIORITY_DEFAULT, NULL, on_written, io);
  g_assert_true (run_until_cond (io_done, io, WAIT_MS));
  g_assert_no_error (io->error);
}

static void
test_hostile_mid_frame (void)
{
  g_autoptr(NbRelayServer) server = start_server (SECRET, 0);
  g_autoptr(GSocketClient) sc = g_socket_client_new ();
  g_autoptr(GString) response = g_string_new (NULL);
  g_autofree char *request = NULL;
  ServerRec srec = { 0 };
  Io io = { 0 };
  /* a masked binary frame announcing 100 bytes, cut after 3 */
  static const guint8 partial[] = { 0x82, 0x80 | 100, 1, 2, 3, 4, 0x00, 0x11, 0x22 };

  server_rec_watch (&srec, server);
  g_socket_client_set_enable_proxy (sc, FALSE);
  g_socket_client_connect_to_host_async (sc, "127.0.0.1", nb_relay_server_get_port (server),
                                         NULL, on_tcp_connected, &io);
  g_assert_true (run_until_cond (io_done, &io, WAIT_MS));
  g_assert_no_error (io.error);

  request = g_strdup_printf ("GET /relay HTTP/1.1\r\n"
                             "Host: 127.0.0.1:%u\r\n"
                             "Upgrade: websocket\r\n"
                             "Connection: Upgrade\r\n"
                             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                             "Sec-WebSocket-Version: 13\r\n\r\n",
                             (guint) nb_relay_server_get_port (server));
  write_all (&io, request, strlen (request));

  while (strstr (response->str, "\r\n\r\n") == NULL)
    {
      char buf[512];

      io.done = FALSE;
      g_input_stream_read_async (g_io_stream_get_input_stream (G_IO_STREAM (io.conn)),
                                 buf, sizeof buf, G_PRIORITY_DEFAULT, NULL, on_read, &io);
      g_assert_true (run_until_cond (io_done, &io, WAIT_MS));
      g_assert_no_error (io.error);
      g_assert_cmpint (io.n, >, 0);
      g_string_append_len (response, buf, io.n);
    }
  g_assert_true (g_str_has_prefix (response->str, "HTTP/1.1 101"));
  g_assert_cmpuint (nb_relay_server_get_n_connections (server), ==, 1);

  write_all (&io, partial, sizeof partial);
  g_assert_true (g_io_stream_close (G_IO_STREAM (io.conn), NULL, NULL));
  g_clear_object (&io.conn);

  g_assert_true (run_until_cond (server_has_no_connections, server, WAIT_MS));
  g_assert_cmpuint (srec.closed, ==, 1);
  g_assert_cmpuint (srec.peer_connected, ==, 0);

  assert_server_still_works (server);
  stop_server (server);
  server_rec_clear (&srec);
}

/* ---- tests: a misbehaving server --------------------------------------- */

static void
test_client_malformed_from_server (void)
{
  FakeServer *fake = fake_server_new (TRUE);
  g_autoptr(NbRelayClient) client = NULL;
  g_autoptr(NbRelayConn) conn = NULL;
  g_autoptr(GError) error = NULL;
  ClientRec rec;
  ConnRec cr;
  NbRelayPeerId id_b;
  g_autoptr(GBytes) valid = NULL;
  g_autofree char *valid_hex = NULL;
  g_autoptr(GString) big = g_string_new ("010a");

  client_rec_init (&rec);
  client = new_client (fake->url, KEY_A, SECRET, &rec);
  nb_relay_client_set_backoff (client, 60000, 60000);
  start_and_wait_connected (client, &rec);
  g_assert_cmpstr (rec.instance_url, ==, "rel://fake.example:1");
  conn = nb_relay_client_open_conn (client, KEY_B, &error);
  g_assert_no_error (error);
  conn_rec_init (&cr, conn);

  /* skipped or dropped, the connection stays */
  fake_send (fake, "010c");                 /* unknown type */
  fake_send (fake, "01ff0102");             /* unknown type */
  fake_send (fake, "0101");                 /* legacy hello */
  fake_send (fake, "0106");                 /* client-only type */
  fake_send (fake, "0103736861");           /* truncated transport */
  fake_send (fake, "010a0102");             /* peer list, bad length */
  fake_send (fake, "0107");                 /* auth response while connected */
  fake_send (fake, "01");                   /* no type byte */
  for (guint i = 0; i < 245; i++)           /* 8822 bytes */
    g_string_append (big, "7368612d00000000000000000000000000000000000000000000000000000000000000ff");
  fake_send (fake, big->str);

  /* still alive: a health check is answered and a transport delivered */
  nb_relay_peer_id_from_key (&id_b, KEY_B);
  valid = nb_relay_msg_encode_transport (&id_b, "from B", 6, NULL);
  {
    gsize len;
    const guint8 *d = g_bytes_get_data (valid, &len);
    GString *s = g_string_new (NULL);

    for (gsize i = 0; i < len; i++)
      g_string_append_printf (s, "%02x", d[i]);
    valid_hex = g_string_free (s, FALSE);
  }
  {
    guint before = fake->n_received;

    fake_send (fake, "0105");
    WAIT_UINT_AT_LEAST (fake->n_received, before + 1);
  }
  fake_send (fake, valid_hex);
  WAIT_UINT_AT_LEAST (cr.messages->len, 1);
  assert_payload (cr.messages->pdata[0], "from B");
  g_assert_cmpuint (rec.disconnected, ==, 0);
  g_assert_true (nb_relay_client_is_connected (client));

  /* a wrong version ends the connection */
  fake_send (fake, "0205");
  WAIT_UINT_AT_LEAST (rec.disconnected, 1);
  g_assert_error (rec.error, NB_RELAY_CLIENT_ERROR, NB_RELAY_CLIENT_ERROR_PROTOCOL);
  g_assert_cmpuint (cr.closed, ==, 1);

  /* so does a text message (next connection) */
  nb_relay_client_stop (client);
  start_and_wait_connected (client, &rec);
  soup_websocket_connection_send_text (fake->ws, "hello");
  WAIT_UINT_AT_LEAST (rec.disconnected, 2);
  g_assert_error (rec.error, NB_RELAY_CLIENT_ERROR, NB_RELAY_CLIENT_ERROR_PROTOCOL);

  /* and a CLOSE message */
  nb_relay_client_stop (client);
  start_and_wait_connected (client, &rec);
  fake_send (fake, "0104");
  WAIT_UINT_AT_LEAST (rec.disconnected, 3);
  g_assert_error (rec.error, NB_RELAY_CLIENT_ERROR, NB_RELAY_CLIENT_ERROR_CLOSED_BY_SERVER);

  nb_relay_client_stop (client);
  conn_rec_clear (&cr);
  g_clear_object (&conn);
  g_clear_object (&client);
  fake_server_free (fake);
  client_rec_clear (&rec);
}

static void
test_client_auth_timeout (void)
{
  FakeServer *fake = fake_server_new (FALSE);
  g_autoptr(NbRelayClient) client = NULL;
  g_autoptr(GError) error = NULL;
  ClientRec rec;

  client_rec_init (&rec);
  client = new_client (fake->url, KEY_A, SECRET, &rec);
  nb_relay_client_set_backoff (client, 60000, 60000);
  nb_relay_client_set_auth_timeout (client, 100);
  g_assert_true (nb_relay_client_start (client, &error));
  WAIT_UINT_AT_LEAST (rec.disconnected, 1);
  g_assert_error (rec.error, NB_RELAY_CLIENT_ERROR, NB_RELAY_CLIENT_ERROR_AUTH_TIMEOUT);
  g_assert_cmpuint (rec.connected, ==, 0);
  g_assert_cmpuint (fake->n_received, ==, 1); /* the auth message */

  nb_relay_client_stop (client);
  g_clear_object (&client);
  fake_server_free (fake);
  client_rec_clear (&rec);
}

static void
test_client_connect_refused (void)
{
  g_autoptr(GSocket) reserved = reserve_port (0); /* bound, not listening */
  g_autofree char *url = g_strdup_printf ("rel://127.0.0.1:%u", (guint) socket_port (reserved));
  g_autoptr(NbRelayClient) client = NULL;
  g_autoptr(GError) error = NULL;
  ClientRec rec;

  client_rec_init (&rec);
  client = new_client (url, KEY_A, SECRET, &rec);
  g_assert_true (nb_relay_client_start (client, &error));
  WAIT_UINT_AT_LEAST (rec.disconnected, 3);
  g_assert_error (rec.error, NB_RELAY_CLIENT_ERROR, NB_RELAY_CLIENT_ERROR_CONNECT);
  g_assert_cmpuint (rec.connected, ==, 0);
  /* dropping the client while it waits to reconnect is fine */
  g_clear_object (&client);
  drain_context ();
  client_rec_clear (&rec);
}

/* ---- tests: TLS -------------------------------------------------------- */

static void
test_tls (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *pem = g_strconcat (test_cert_pem, test_key_pem, NULL);
  g_autoptr(GTlsCertificate) cert = g_tls_certificate_new_from_pem (pem, -1, &error);
  g_autoptr(NbRelayServer) server = NULL;
  g_autoptr(NbRelayClient) a = NULL;
  g_autoptr(NbRelayClient) b = NULL;
  g_autoptr(NbRelayConn) a_to_b = NULL;
  g_autoptr(NbRelayConn) b_to_a = NULL;
  g_autoptr(GTlsDatabase) db = NULL;
  g_autoptr(GBytes) msg = bytes_of ("over TLS");
  g_autofree char *ca_path = NULL;
  ClientRec ra, rb;
  ConnRec cb;
  int fd;

  if (!g_tls_backend_supports_tls (g_tls_backend_get_default ()))
    {
      g_test_skip ("no TLS backend (glib-networking)");
      return;
    }
  g_assert_no_error (error);

  fd = g_file_open_tmp ("relay-ca-XXXXXX.pem", &ca_path, &error);
  g_assert_no_error (error);
  close (fd);
  g_assert_true (g_file_set_contents (ca_path, test_cert_pem, -1, &error));
  db = g_tls_file_database_new (ca_path, &error);
  g_assert_no_error (error);

  server = nb_relay_server_new ((const guint8 *) SECRET, strlen (SECRET), cert);
  g_assert_true (nb_relay_server_listen (server, "127.0.0.1", 0, &error));
  g_assert_no_error (error);
  g_assert_true (g_str_has_prefix (nb_relay_server_get_url (server), "rels://127.0.0.1:"));

  client_rec_init (&ra);
  client_rec_init (&rb);
  a = new_client (nb_relay_server_get_url (server), KEY_A, SECRET, &ra);
  b = new_client (nb_relay_server_get_url (server), KEY_B, SECRET, &rb);
  g_assert_true (g_str_has_prefix (nb_relay_client_get_websocket_url (a), "wss://127.0.0.1:"));

  /* without the CA the certificate is refused */
  nb_relay_client_set_backoff (a, 60000, 60000);
  g_assert_true (nb_relay_client_start (a, &error));
  WAIT_UINT_AT_LEAST (ra.disconnected, 1);
  g_assert_error (ra.error, NB_RELAY_CLIENT_ERROR, NB_RELAY_CLIENT_ERROR_CONNECT);
  nb_relay_client_stop (a);

  nb_relay_client_set_tls_database (a, db);
  nb_relay_client_set_tls_database (b, db);
  start_and_wait_connected (a, &ra);
  start_and_wait_connected (b, &rb);
  g_assert_cmpstr (ra.instance_url, ==, nb_relay_server_get_url (server));
  a_to_b = nb_relay_client_open_conn (a, KEY_B, NULL);
  b_to_a = nb_relay_client_open_conn (b, KEY_A, NULL);
  conn_rec_init (&cb, b_to_a);
  g_assert_true (nb_relay_conn_send (a_to_b, msg, NULL));
  WAIT_UINT_AT_LEAST (cb.messages->len, 1);
  assert_payload (cb.messages->pdata[0], "over TLS");

  nb_relay_client_stop (a);
  nb_relay_client_stop (b);
  g_assert_true (run_until_cond (server_has_no_connections, server, WAIT_MS));
  conn_rec_clear (&cb);
  g_clear_object (&a_to_b);
  g_clear_object (&b_to_a);
  g_clear_object (&a);
  g_clear_object (&b);
  stop_server (server);
  g_unlink (ca_path);
  client_rec_clear (&ra);
  client_rec_clear (&rb);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/relay/url", test_url);
  g_test_add_func ("/relay/auth/ok", test_auth_ok);
  g_test_add_func ("/relay/auth/bad-token", test_auth_bad_token);
  g_test_add_func ("/relay/auth/expired-token", test_auth_expired_token);
  g_test_add_func ("/relay/auth/no-token", test_auth_no_token);
  g_test_add_func ("/relay/transport/forward", test_transport);
  g_test_add_func ("/relay/transport/early-message", test_early_message);
  g_test_add_func ("/relay/transport/unknown-peer", test_unknown_peer);
  g_test_add_func ("/relay/peer-state/notifications", test_peer_state);
  g_test_add_func ("/relay/peer-state/resubscribe", test_peer_state_resubscribe);
  g_test_add_func ("/relay/health-check/answered", test_health_check_answered);
  g_test_add_func ("/relay/health-check/missing", test_health_check_missing);
  g_test_add_func ("/relay/health-check/server-drops-silent-peer",
                   test_health_check_server_drops_silent_peer);
  g_test_add_func ("/relay/reconnect", test_reconnect);
  g_test_add_func ("/relay/hostile/before-auth", test_hostile_before_auth);
  g_test_add_func ("/relay/hostile/after-auth", test_hostile_after_auth);
  g_test_add_func ("/relay/hostile/same-id", test_same_id_replaces);
  g_test_add_func ("/relay/hostile/mid-frame", test_hostile_mid_frame);
  g_test_add_func ("/relay/server/stop-in-handler", test_stop_in_handler);
  g_test_add_func ("/relay/client/malformed-from-server", test_client_malformed_from_server);
  g_test_add_func ("/relay/client/auth-timeout", test_client_auth_timeout);
  g_test_add_func ("/relay/client/connect-refused", test_client_connect_refused);
  g_test_add_func ("/relay/tls", test_tls);

  return g_test_run ();
}
