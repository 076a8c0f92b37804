/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The fixture the relay tests share, so that the client, manager and
 * worker tests start their in-process devnet relay servers, sign their
 * tokens and configure their managers the same way. */
#include "config.h"

#include "relay-test-util.h"

#include <string.h>

void
wait_at_least (const guint *var, guint n)
{
  run_until_at_least (var, n, WAIT_MS);
  g_assert_cmpuint (*var, >=, n);
}

GSocket *
reserve_port (guint16 port)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GInetAddress) lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr (GSocketAddress) addr = g_inet_socket_address_new (lo, port);
  GSocket *sock = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM,
                                G_SOCKET_PROTOCOL_TCP, &error);

  g_assert_no_error (error);
  g_assert_true (g_socket_bind (sock, addr, TRUE, &error));
  g_assert_no_error (error);
  return sock;
}

guint16
socket_port (GSocket *sock)
{
  g_autoptr (GSocketAddress) local = g_socket_get_local_address (sock, NULL);

  return g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (local));
}

char *
url_for_port (guint16 port)
{
  return g_strdup_printf ("rel://127.0.0.1:%u", (guint) port);
}

NbRelayToken *
make_token (const char *secret, gint64 lifetime_s)
{
  return nb_relay_token_new ((const guint8 *) secret, strlen (secret),
                             g_get_real_time () / G_USEC_PER_SEC + lifetime_s);
}

GBytes *
bytes_of (const char *s)
{
  return g_bytes_new (s, strlen (s));
}

/* ---- servers ------------------------------------------------------------ */

static void
on_srv_peer_connected (NbRelayServer *s, const char *id, TestServer *ts)
{
  ts->peer_connected++;
}

static void
on_srv_rejected (NbRelayServer *s, const char *reason, TestServer *ts)
{
  ts->rejected++;
}

void
server_start (TestServer *ts, const char *secret, guint16 port)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GSocket) reserved = reserve_port (port);
  g_autofree char *instance = NULL;

  g_assert_null (ts->server);
  ts->port = socket_port (reserved);
  instance = g_strdup_printf ("rel://localhost:%u", (guint) ts->port);
  ts->server = nb_relay_server_new ((const guint8 *) secret, strlen (secret), NULL);
  nb_relay_server_set_instance_url (ts->server, instance);
  g_assert_true (nb_relay_server_listen (ts->server, "127.0.0.1", ts->port, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (nb_relay_server_get_port (ts->server), ==, ts->port);
  g_signal_connect (ts->server, "peer-connected", G_CALLBACK (on_srv_peer_connected), ts);
  g_signal_connect (ts->server, "connection-rejected", G_CALLBACK (on_srv_rejected), ts);

  g_free (ts->url);
  ts->url = url_for_port (ts->port);
  g_assert_cmpstr (ts->url, ==, nb_relay_server_get_url (ts->server));
  g_free (ts->instance_url);
  ts->instance_url = g_strdup (nb_relay_server_get_instance_url (ts->server));
  g_assert_cmpstr (ts->instance_url, ==, instance);
}

GSocket *
server_stop_keep_port (TestServer *ts)
{
  GSocket *reserved;

  nb_relay_server_stop (ts->server);
  reserved = reserve_port (ts->port);
  g_clear_object (&ts->server);
  drain_context ();
  return reserved;
}

void
server_clear (TestServer *ts)
{
  if (ts->server != NULL)
    {
      nb_relay_server_stop (ts->server);
      g_clear_object (&ts->server);
      drain_context ();
    }
  g_free (ts->url);
  g_free (ts->instance_url);
  memset (ts, 0, sizeof *ts);
}

gboolean
server_has_no_connections (gpointer server)
{
  return nb_relay_server_get_n_connections (server) == 0;
}

/* ---- managers ----------------------------------------------------------- */

void
set_token (NbRelayManager *m, const char *secret, gint64 lifetime_s)
{
  g_autoptr (NbRelayToken) token = make_token (secret, lifetime_s);
  g_autoptr (GError) error = NULL;

  g_assert_true (nb_relay_manager_set_token (m, token->payload, token->signature, &error));
  g_assert_no_error (error);
}

NbRelayManager *
relay_test_manager_new (const char *key, const char *secret,
                        const char *const *urls, guint grace_ms)
{
  NbRelayManager *m = nb_relay_manager_new (key);

  nb_relay_manager_set_servers (m, urls);
  set_token (m, secret, 3600);
  nb_relay_manager_set_backoff (m, 20, 100);
  nb_relay_manager_set_quick_reconnect_delay (m, 20);
  nb_relay_manager_set_foreign_grace (m, grace_ms);
  return m;
}

/* ---- virtual connections ------------------------------------------------ */

static void
on_conn_message (NbRelayConn *conn, GBytes *payload, ConnRec *rec)
{
  g_ptr_array_add (rec->messages, g_bytes_ref (payload));
}

static void
on_conn_closed (NbRelayConn *conn, const GError *error, ConnRec *rec)
{
  rec->closed++;
  g_clear_error (&rec->error);
  rec->error = g_error_copy (error);
}

void
conn_rec_watch (ConnRec *rec, NbRelayConn *conn)
{
  g_signal_connect (conn, "message", G_CALLBACK (on_conn_message), rec);
  g_signal_connect (conn, "closed", G_CALLBACK (on_conn_closed), rec);
}

void
conn_rec_init (ConnRec *rec, NbRelayConn *conn)
{
  memset (rec, 0, sizeof *rec);
  rec->messages = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  if (conn != NULL)
    conn_rec_watch (rec, conn);
}

void
conn_rec_clear (ConnRec *rec)
{
  g_ptr_array_unref (rec->messages);
  g_clear_error (&rec->error);
}
