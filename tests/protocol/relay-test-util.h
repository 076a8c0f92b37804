/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <gio/gio.h>

#include "loop-util.h"
#include "relay-client.h"
#include "relay-manager.h"
#include "relay-msg.h"
#include "relay-server.h"

/* What the relay tests (test-relay, test-relay-manager, test-worker-relay)
 * share: keys, secrets, waits, in-process devnet relay servers, tokens,
 * managers and virtual connection recorders. */

#define SECRET       "test-relay-secret"
#define OTHER_SECRET "another-relay-secret"
#define KEY_A "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg="
#define KEY_B "TrMvSoP4jYQlY6RIzBgbssQqY3vxI2Pi+y71lOWWXX0="
#define KEY_C "HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw="
#define WAIT_MS 5000

/* Waits until *@var >= @n (at most WAIT_MS), or fails the test. */
void wait_at_least (const guint *var, guint n);
#define WAIT_UINT_AT_LEAST(lvalue, n) wait_at_least (&(lvalue), (n))

/* Holds 127.0.0.1:@port (0: any) bound but not listening: connections are
 * refused and no parallel test process can take the port, while a relay
 * server may still listen on it (both sides use SO_REUSEADDR). */
GSocket *reserve_port (guint16 port);
guint16 socket_port (GSocket *sock);
/* rel://127.0.0.1:@port */
char *url_for_port (guint16 port);

NbRelayToken *make_token (const char *secret, gint64 lifetime_s);

GBytes *bytes_of (const char *s);

/* A relay server that announces `rel://localhost:PORT` while it is listed
 * and dialled as `rel://127.0.0.1:PORT`. */
typedef struct {
  NbRelayServer *server;
  char *url;          /* listed and dialled: rel://127.0.0.1:PORT */
  char *instance_url; /* announced: rel://localhost:PORT */
  guint16 port;
  guint peer_connected;
  guint rejected;
} TestServer;

/* Starts (or restarts) @ts on @port (0: a fresh ephemeral port). */
void server_start (TestServer *ts, const char *secret, guint16 port);
/* Stops @ts; returns its port, held, for a restart. */
GSocket *server_stop_keep_port (TestServer *ts);
void server_clear (TestServer *ts);
gboolean server_has_no_connections (gpointer server);

/* A manager with short timers (backoff 20..100 ms, quick reconnect 20 ms,
 * foreign grace @grace_ms) and a token for @secret; @urls NULL-terminated. */
NbRelayManager *relay_test_manager_new (const char *key, const char *secret,
                                        const char *const *urls, guint grace_ms);
void set_token (NbRelayManager *m, const char *secret, gint64 lifetime_s);

/* What a virtual connection delivered. */
typedef struct {
  GPtrArray *messages; /* GBytes */
  guint closed;
  GError *error;
} ConnRec;

/* Resets @rec; with @conn, records its "message" and "closed" too. */
void conn_rec_init (ConnRec *rec, NbRelayConn *conn);
void conn_rec_watch (ConnRec *rec, NbRelayConn *conn);
void conn_rec_clear (ConnRec *rec);
