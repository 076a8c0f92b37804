/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * netbird-devnet (service/devnet) end to end, loopback only: the program is
 * started from the build tree with a temporary state directory and driven by
 * an independent client, tests/protocol/node/devnet-test-client.js (grpc-js
 * + proto-loader on our .proto files + tweetnacl), plus NbRelayClient for
 * the relay port and the admin subcommands as subprocesses.
 *
 * The cases share one server and run in order (registrations build on each
 * other). Skips (exit 77) when node or tests/protocol/node/node_modules is
 * missing (tools/install-npm.sh). The TLS case with a PEM pair from
 * `openssl` is skipped without openssl; --tls-self-signed needs nothing.
 */
#include "config.h"

#include "json-line.h"
#include "loop-util.h"
#include "node-fixture.h"

#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>

#include "devnet-state.h"
#include "relay-client.h"

#ifndef NETBIRD_DEVNET_PATH
#error "NETBIRD_DEVNET_PATH must name the netbird-devnet binary"
#endif

#define WAIT_MS 15000

/* ------------------------------------------------------------------------ */
/* Flat JSON (what devnet-test-client.js prints) */

static void
assert_json (const char *line, const char *key, const char *expected)
{
  g_autofree char *v = json_get (line, key);

  if (g_strcmp0 (v, expected) != 0)
    g_error ("%s: \"%s\" is \"%s\", expected \"%s\"", line, key, v ? v : "(absent)", expected);
}

static gboolean
csv_contains (const char *csv, const char *item)
{
  g_auto (GStrv) items = g_strsplit (csv ? csv : "", ",", -1);

  return g_strv_contains ((const char *const *) items, item);
}

/* The peers' DNS zone of a "sync" event's map, as NetBird's management
 * sends it: the service on, no nameserver groups, one zone "netbird.test."
 * with exactly the A records @first_label, @first_ip, ... (NULL terminated;
 * in address order, the order devnet sends). */
static void
assert_peer_zone (const char *line, const char *first_label, ...)
{
  g_autoptr (GPtrArray) records = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *zone = NULL;
  g_autofree char *expected = NULL;
  const char *label;
  va_list ap;

  va_start (ap, first_label);
  for (label = first_label; label != NULL; label = va_arg (ap, const char *))
    {
      const char *ip = va_arg (ap, const char *);

      g_ptr_array_add (records, g_strdup_printf ("netbird.test.>%s.netbird.test|1|IN|300|%s", label, ip));
    }
  va_end (ap);
  g_ptr_array_add (records, NULL);

  assert_json (line, "hasDns", "true");
  assert_json (line, "dnsServiceEnable", "true");
  assert_json (line, "nNameServerGroups", "0");
  assert_json (line, "nZones", "1");
  zone = g_strdup_printf ("netbird.test.|false|false|%u", records->len - 1);
  assert_json (line, "zones", zone);
  expected = g_strjoinv (",", (char **) records->pdata);
  assert_json (line, "zoneRecords", expected);
}

/* ------------------------------------------------------------------------ */
/* The node client */

typedef struct {
  LineProc *lp;
  guint next_id;
} Client;

static char *node_dir;
static char *node_bin;

static Client *
client_start (const char *url, const char *ca)
{
  Client *c = g_new0 (Client, 1);
  g_autofree char *script = g_build_filename (node_dir, "devnet-test-client.js", NULL);
  const char *argv[] = { node_bin, script, url, ca, NULL };

  c->lp = line_proc_spawn ("client", TRUE, argv);
  return c;
}

static void
client_stop (Client *c)
{
  if (c == NULL)
    return;
  line_proc_free (c->lp, WAIT_MS);
  g_free (c);
}

typedef struct {
  va_list ap;
} Pairs;

static gboolean
line_matches (const char *line, gpointer data)
{
  Pairs *pairs = data;
  const char *key;
  va_list aq;
  gboolean ok = TRUE;

  va_copy (aq, pairs->ap);
  while (ok && (key = va_arg (aq, const char *)) != NULL)
    {
      const char *want = va_arg (aq, const char *);
      g_autofree char *v = json_get (line, key);

      ok = g_strcmp0 (v, want) == 0;
    }
  va_end (aq);
  return ok;
}

/* Removes and returns the first line with every key = value pair (NULL
 * terminated); waits up to @timeout_ms for it, else NULL. */
static char *
client_take_v (Client *c, guint timeout_ms, va_list ap)
{
  Pairs pairs;
  char *line;

  va_copy (pairs.ap, ap);
  line = line_proc_take (c->lp, line_matches, &pairs, timeout_ms);
  va_end (pairs.ap);
  return line;
}

static char *
client_wait (Client *c, ...)
{
  va_list ap;
  char *line;

  va_start (ap, c);
  line = client_take_v (c, WAIT_MS, ap);
  va_end (ap);
  if (line == NULL)
    {
      GString *pending = g_string_new (NULL);

      for (guint i = 0; i < c->lp->lines->len; i++)
        g_string_append_printf (pending, "  %s\n", (char *) c->lp->lines->pdata[i]);
      g_error ("no matching line from the client (eof %d); pending:\n%s", c->lp->eof, pending->str);
    }
  return line;
}

/* Asserts that no matching line arrives within @ms. */
static void
client_expect_none (Client *c, guint ms, ...)
{
  va_list ap;
  g_autofree char *line = NULL;

  va_start (ap, ms);
  line = client_take_v (c, ms, ap);
  va_end (ap);
  if (line != NULL)
    g_error ("unexpected line: %s", line);
}

/* Sends {"id":N,<fields>} and returns the answer. */
static char *
client_call (Client *c, const char *format, ...) G_GNUC_PRINTF (2, 3);

static char *
client_call (Client *c, const char *format, ...)
{
  va_list ap;
  g_autofree char *fields = NULL;
  g_autofree char *line = NULL;
  g_autofree char *id = NULL;

  va_start (ap, format);
  fields = g_strdup_vprintf (format, ap);
  va_end (ap);
  id = g_strdup_printf ("%u", ++c->next_id);
  line = g_strdup_printf ("{\"id\":%s,%s}", id, fields);
  line_proc_write (c->lp, line);
  return client_wait (c, "id", id, NULL);
}

/* A call that must succeed. */
static char *
client_ok (Client *c, const char *format, ...) G_GNUC_PRINTF (2, 3);

static char *
client_ok (Client *c, const char *format, ...)
{
  va_list ap;
  g_autofree char *fields = NULL;
  char *answer;

  va_start (ap, format);
  fields = g_strdup_vprintf (format, ap);
  va_end (ap);
  answer = client_call (c, "%s", fields);
  {
    g_autofree char *ok = json_get (answer, "ok");

    if (g_strcmp0 (ok, "true") != 0)
      g_error ("command {%s} failed: %s", fields, answer);
  }
  return answer;
}

static char *
new_peer (Client *c, const char *name)
{
  g_autofree char *answer = client_ok (c, "\"op\":\"peer\",\"name\":\"%s\"", name);

  return json_get (answer, "key");
}

/* ------------------------------------------------------------------------ */
/* netbird-devnet */

typedef struct {
  LineProc *lp;
  char *dir;
  char *url;
  char *public_url;
  char *relay_url;
  char *relay_public_url;
  char *tls_cert;
  char *turn_secret;
  char *relay_secret;
} Devnet;

static char *
run_cli (int expected_status, const char *dir, ...)
{
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  g_autoptr (GSubprocess) proc = NULL;
  g_autoptr (GError) error = NULL;
  char *out = NULL;
  va_list ap;
  const char *arg;

  g_ptr_array_add (argv, (gpointer) NETBIRD_DEVNET_PATH);
  g_ptr_array_add (argv, (gpointer) "--state-dir");
  g_ptr_array_add (argv, (gpointer) dir);
  va_start (ap, dir);
  while ((arg = va_arg (ap, const char *)) != NULL)
    g_ptr_array_add (argv, (gpointer) arg);
  va_end (ap);
  g_ptr_array_add (argv, NULL);
  proc = g_subprocess_newv ((const char *const *) argv->pdata, G_SUBPROCESS_FLAGS_STDOUT_PIPE, &error);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8 (proc, NULL, NULL, &out, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (g_subprocess_get_if_exited (proc));
  g_assert_cmpint (g_subprocess_get_exit_status (proc), ==, expected_status);
  return out;
}

static char *
read_secret (const char *dir, const char *name)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  char *text = NULL;

  g_assert_true (g_file_get_contents (path, &text, NULL, NULL));
  return g_strchomp (text);
}

/* Starts `serve` on @dir with the common options plus @extra (NULL
 * terminated). */
static Devnet *
devnet_start (const char *dir, const char *first_extra, ...)
{
  Devnet *d = g_new0 (Devnet, 1);
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  g_autofree char *line = NULL;
  va_list ap;
  const char *arg;

  d->dir = g_strdup (dir);
  g_ptr_array_add (argv, (gpointer) NETBIRD_DEVNET_PATH);
  g_ptr_array_add (argv, (gpointer) "--state-dir");
  g_ptr_array_add (argv, (gpointer) dir);
  g_ptr_array_add (argv, (gpointer) "serve");
  g_ptr_array_add (argv, (gpointer) "--listen");
  g_ptr_array_add (argv, (gpointer) "127.0.0.1:0");
  g_ptr_array_add (argv, (gpointer) "--relay-listen");
  g_ptr_array_add (argv, (gpointer) "127.0.0.1:0");
  g_ptr_array_add (argv, (gpointer) "--turn");
  g_ptr_array_add (argv, (gpointer) "127.0.0.1:3478");
  va_start (ap, first_extra);
  for (arg = first_extra; arg != NULL; arg = va_arg (ap, const char *))
    g_ptr_array_add (argv, (gpointer) arg);
  va_end (ap);
  g_ptr_array_add (argv, NULL);

  d->lp = line_proc_spawn ("devnet", FALSE, (const char *const *) argv->pdata);
  line = line_proc_take (d->lp, NULL, NULL, WAIT_MS);
  g_assert_nonnull (line);
  g_assert_true (g_str_has_prefix (line, "ready "));
  d->url = ready_field (line, "management-url");
  d->relay_url = ready_field (line, "relay-url");
  d->public_url = ready_field (line, "public-url");
  d->relay_public_url = ready_field (line, "relay-public-url");
  d->tls_cert = ready_field (line, "tls-cert");
  g_assert_nonnull (d->url);
  g_assert_nonnull (d->relay_url);
  d->turn_secret = read_secret (dir, "turn.secret");
  d->relay_secret = read_secret (dir, "relay.secret");
  return d;
}

/* SIGTERM, then the exit status (must be a clean 0). */
static void
devnet_stop (Devnet *d)
{
  if (d == NULL)
    return;
  g_subprocess_send_signal (d->lp->proc, SIGTERM);
  if (!run_until_cond (line_proc_done, d->lp, WAIT_MS))
    {
      line_proc_kill (d->lp);
      g_error ("netbird-devnet did not stop on SIGTERM");
    }
  g_assert_true (g_subprocess_get_if_exited (d->lp->proc));
  g_assert_cmpint (g_subprocess_get_exit_status (d->lp->proc), ==, 0);
  line_proc_free (d->lp, 0);
  g_free (d->dir);
  g_free (d->url);
  g_free (d->relay_url);
  g_free (d->public_url);
  g_free (d->relay_public_url);
  g_free (d->tls_cert);
  g_free (d->turn_secret);
  g_free (d->relay_secret);
  g_free (d);
}

/* ------------------------------------------------------------------------ */
/* Shared state of the ordered cases */

static char *state_dir;
static char *setup_key;
static char *one_use_key;
static char *short_key;       /* --expires-in 1 */
static gint64 short_key_made; /* monotonic µs */
static Devnet *devnet;
static Client *client;
static char *alice, *bob, *carol;
static char *alice_relay_payload, *alice_relay_signature;
static guint64 alice_serial;

static char *
login_fields (const char *peer, const char *key)
{
  return g_strdup_printf ("\"op\":\"login\",\"peer\":\"%s\",\"setupKey\":\"%s\",\"turnSecret\":\"%s\","
                          "\"relaySecret\":\"%s\"",
                          peer, key ? key : "", devnet->turn_secret, devnet->relay_secret);
}

static char *
login (const char *peer, const char *key)
{
  g_autofree char *fields = login_fields (peer, key);

  return client_call (client, "%s", fields);
}

/* ------------------------------------------------------------------------ */
/* Cases */

static void
test_cli (void)
{
  g_autofree char *out = NULL;
  g_autofree char *list = NULL;
  g_autofree char *peers = NULL;
  g_auto (GStrv) lines = NULL;

  /* init ran in main(); a second init refuses. */
  g_free (run_cli (1, state_dir, "init", NULL));
  out = run_cli (0, state_dir, "add-setup-key", "--uses", "1", "--name", "one-use", NULL);
  one_use_key = g_strchomp (g_strdup (out));
  g_assert_cmpuint (strlen (one_use_key), ==, 36);
  g_free (out);
  out = run_cli (0, state_dir, "add-setup-key", "--expires-in", "1", NULL);
  short_key = g_strchomp (g_strdup (out));
  short_key_made = g_get_monotonic_time ();

  list = run_cli (0, state_dir, "list-setup-keys", NULL);
  lines = g_strsplit (list, "\n", -1);
  g_assert_cmpuint (g_strv_length (lines), ==, 5); /* header, 3 keys, "" */
  g_assert_nonnull (strstr (list, "default"));
  g_assert_nonnull (strstr (list, "one-use"));
  /* Listings never show a key. */
  g_assert_null (strstr (list, setup_key));
  g_assert_null (strstr (list, one_use_key));

  peers = run_cli (0, state_dir, "list-peers", NULL);
  g_assert_true (g_str_has_prefix (peers, "# serial 0\n"));
  g_free (run_cli (1, state_dir, "remove-peer", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", NULL));
  g_free (run_cli (2, state_dir, "remove-peer", NULL));
  g_free (run_cli (2, state_dir, "no-such-command", NULL));
}

static void
test_server_key (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (NbDevnetState) state = nb_devnet_state_open (state_dir, &error);
  g_autofree char *expected = NULL;
  g_autofree char *answer = NULL;
  gint64 expires;

  g_assert_no_error (error);
  expected = nb_wg_key_to_base64 (nb_devnet_state_get_server_public_key (state));
  answer = client_ok (client, "\"op\":\"serverKey\"");
  assert_json (answer, "key", expected);
  expires = json_int (answer, "expiresAt");
  g_assert_cmpint (expires, >, g_get_real_time () / G_USEC_PER_SEC + 23 * 3600);

  g_free (client_ok (client, "\"op\":\"isHealthy\""));
}

static void
test_login_refused (void)
{
  g_autofree char *a1 = NULL;
  g_autofree char *a2 = NULL;
  g_autofree char *a3 = NULL;
  g_autofree char *a4 = NULL;
  g_autofree char *a5 = NULL;

  alice = new_peer (client, "alice");
  bob = new_peer (client, "bob");
  carol = new_peer (client, "carol");

  /* Not registered, no setup key. */
  a1 = login ("alice", NULL);
  assert_json (a1, "ok", "false");
  assert_json (a1, "code", "7");
  /* A setup key nobody made (NetBird: NOT_FOUND "setup key is invalid"). */
  a2 = login ("alice", "8C3E1F4A-0B1D-4E5F-9A6B-7C8D9E0F1A2B");
  assert_json (a2, "code", "5");
  g_assert_nonnull (strstr (a2, "setup key is invalid"));
  /* No system meta. */
  a3 = client_call (client, "\"op\":\"login\",\"peer\":\"alice\",\"setupKey\":\"%s\",\"noMeta\":true", setup_key);
  assert_json (a3, "code", "9");
  /* Extra DNS labels are not allowed by devnet setup keys. */
  a4 = client_call (client, "\"op\":\"login\",\"peer\":\"alice\",\"setupKey\":\"%s\",\"dnsLabel\":\"x\"",
                    setup_key);
  assert_json (a4, "code", "9");
  /* A body not sealed for the server. */
  a5 = client_call (client, "\"op\":\"garbageLogin\",\"peer\":\"alice\"");
  assert_json (a5, "code", "3");
  assert_json (a5, "details", "invalid request message");
}

static void
test_login_register (void)
{
  g_autofree char *a = NULL;
  g_autofree char *again = NULL;
  g_autofree char *lower = NULL;
  g_autofree char *c1 = NULL;
  g_autofree char *c2 = NULL;
  g_autofree char *signal_uri = NULL;
  g_autofree char *turn_user = NULL;
  g_autofree char *peers = NULL;
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;

  a = login ("alice", setup_key);
  assert_json (a, "ok", "true");
  assert_json (a, "serverKeyMatches", "true");
  assert_json (a, "address", "100.64.0.1/16");
  assert_json (a, "fqdn", "alice.netbird.test");
  assert_json (a, "mtu", "1280");
  assert_json (a, "sessionExpiresAt", "0");
  assert_json (a, "stuns", "stun:127.0.0.1:3478");
  assert_json (a, "turns", "turn:127.0.0.1:3478?transport=udp");
  assert_json (a, "turnPasswordValid", "true");
  turn_user = json_get (a, "turnUser");
  g_assert_cmpint (g_ascii_strtoll (turn_user, NULL, 10), >, now + 12 * 3600 - 60);
  signal_uri = json_get (a, "signalUri");
  g_assert_true (g_str_has_suffix (devnet->url, signal_uri));
  assert_json (a, "signalProtocol", "2"); /* HTTP */
  assert_json (a, "relayUrls", devnet->relay_public_url);
  assert_json (a, "relayTokenValid", "true");
  alice_relay_payload = json_get (a, "relayPayload");
  alice_relay_signature = json_get (a, "relaySignature");

  /* Registered now: a login without setup key works and keeps the address. */
  again = login ("alice", NULL);
  assert_json (again, "ok", "true");
  assert_json (again, "address", "100.64.0.1/16");

  /* The one-use key registers carol (lower case, as NetBird's client sends
   * it), then is used up. */
  lower = g_ascii_strdown (one_use_key, -1);
  c1 = login ("carol", lower);
  assert_json (c1, "ok", "true");
  assert_json (c1, "address", "100.64.0.2/16");
  c2 = login ("bob", one_use_key);
  assert_json (c2, "code", "5");

  peers = run_cli (0, state_dir, "list-peers", NULL);
  g_assert_nonnull (strstr (peers, alice));
  g_assert_nonnull (strstr (peers, carol));
  g_assert_null (strstr (peers, bob));
}

static void
test_sync_map_push (void)
{
  g_autofree char *first = NULL;
  g_autofree char *pushed = NULL;
  g_autofree char *b = NULL;
  g_autofree char *bob2_reg = NULL;
  g_autofree char *bob2_map = NULL;
  g_autofree char *bob_sync = NULL;
  g_autofree char *refused = NULL;
  g_autofree char *end = NULL;
  g_autofree char *keys = NULL;
  g_autofree char *fqdns = NULL;
  g_autofree char *bob2 = NULL;
  g_autofree char *dave = NULL;

  /* Unregistered peers cannot sync. */
  dave = new_peer (client, "dave");
  g_free (client_ok (client, "\"op\":\"syncStart\",\"peer\":\"dave\""));
  end = client_wait (client, "event", "syncEnd", "peer", "dave", NULL);
  assert_json (end, "code", "7");
  assert_json (end, "details", "peer is not registered");

  g_free (client_ok (client, "\"op\":\"syncStart\",\"peer\":\"alice\",\"turnSecret\":\"%s\",\"relaySecret\":\"%s\"",
                     devnet->turn_secret, devnet->relay_secret));
  first = client_wait (client, "event", "sync", "peer", "alice", "n", "0", NULL);
  assert_json (first, "hasConfig", "true");
  assert_json (first, "hasMap", "true");
  assert_json (first, "address", "100.64.0.1/16");
  assert_json (first, "remoteKeys", carol);
  assert_json (first, "remoteIps", "100.64.0.2/32");
  assert_json (first, "remoteFqdns", "carol.netbird.test");
  assert_json (first, "remoteIsEmpty", "false");
  assert_json (first, "turnPasswordValid", "true");
  assert_json (first, "relayTokenValid", "true");
  assert_json (first, "nDeprecated", "0"); /* client 0.60.0 */
  alice_serial = json_int (first, "serial");
  g_assert_cmpuint (alice_serial, ==, 2);
  /* Her own name too (NetBird's zone has every peer); carol has no Sync
   * stream (offline) and is in it all the same. */
  assert_peer_zone (first, "alice", "100.64.0.1", "carol", "100.64.0.2", NULL);

  /* bob registers: alice's stream gets a new map with him. */
  b = login ("bob", setup_key);
  assert_json (b, "address", "100.64.0.3/16");
  pushed = client_wait (client, "event", "sync", "peer", "alice", "n", "1", NULL);
  g_assert_cmpint (json_int (pushed, "serial"), ==, alice_serial + 1);
  alice_serial++;
  assert_json (pushed, "hasConfig", "false");
  keys = json_get (pushed, "remoteKeys");
  g_assert_true (csv_contains (keys, bob));
  g_assert_true (csv_contains (keys, carol));
  g_assert_false (csv_contains (keys, alice));
  g_assert_nonnull (strstr (pushed, "100.64.0.3/32"));
  fqdns = json_get (pushed, "remoteFqdns");
  g_assert_true (csv_contains (fqdns, "bob.netbird.test"));
  /* His registration adds his name. */
  assert_peer_zone (pushed, "alice", "100.64.0.1", "carol", "100.64.0.2", "bob", "100.64.0.3", NULL);

  /* Another host called "bob" gets a unique name. */
  bob2 = new_peer (client, "bob2");
  bob2_reg = client_call (client, "\"op\":\"login\",\"peer\":\"bob2\",\"setupKey\":\"%s\",\"hostname\":\"Bob.lan\"",
                          setup_key);
  assert_json (bob2_reg, "fqdn", "bob-0-4.netbird.test");
  bob2_map = client_wait (client, "event", "sync", "peer", "alice", "n", "2", NULL);
  g_free (fqdns);
  fqdns = json_get (bob2_map, "remoteFqdns");
  g_assert_true (csv_contains (fqdns, "bob-0-4.netbird.test"));
  assert_peer_zone (bob2_map, "alice", "100.64.0.1", "carol", "100.64.0.2", "bob", "100.64.0.3", "bob-0-4",
                    "100.64.0.4", NULL);
  alice_serial = json_int (bob2_map, "serial");

  /* bob syncs too, as an old client: that one also gets the deprecated
   * top-level list, and the others see his new agent version. */
  g_free (client_ok (client, "\"op\":\"syncStart\",\"peer\":\"bob\",\"version\":\"0.28.0\""));
  bob_sync = client_wait (client, "event", "sync", "peer", "bob", "n", "0", NULL);
  assert_json (bob_sync, "nRemote", "3");
  assert_json (bob_sync, "nDeprecated", "3");
  assert_peer_zone (bob_sync, "alice", "100.64.0.1", "carol", "100.64.0.2", "bob", "100.64.0.3", "bob-0-4",
                    "100.64.0.4", NULL);
  g_free (pushed);
  pushed = client_wait (client, "event", "sync", "peer", "alice", "n", "3", NULL);
  g_assert_cmpint (json_int (pushed, "serial"), ==, alice_serial + 1);
  alice_serial++;
  g_assert_nonnull (strstr (pushed, "0.28.0"));

  /* An unknown key's Sync is refused, even with a valid seal. */
  refused = client_call (client, "\"op\":\"syncMeta\",\"peer\":\"dave\"");
  assert_json (refused, "code", "5");
}

static void
test_signal (void)
{
  g_autofree char *h1 = NULL;
  g_autofree char *h2 = NULL;
  g_autofree char *m1 = NULL;
  g_autofree char *m2 = NULL;
  g_autofree char *m3 = NULL;
  g_autofree char *m4 = NULL;
  g_autofree char *unary = NULL;
  g_autofree char *end = NULL;
  g_autofree char *old_end = NULL;
  g_autofree char *h3 = NULL;

  g_free (client_ok (client, "\"op\":\"signalConnect\",\"peer\":\"alice\""));
  g_free (client_ok (client, "\"op\":\"signalConnect\",\"peer\":\"bob\""));
  h1 = client_wait (client, "event", "signalHeaders", "tag", "alice", NULL);
  assert_json (h1, "registered", "1");
  h2 = client_wait (client, "event", "signalHeaders", "tag", "bob", NULL);
  assert_json (h2, "registered", "1");

  /* On the stream: alice → bob, the body untouched (it is not even a box). */
  g_free (client_ok (client, "\"op\":\"signalSend\",\"peer\":\"alice\",\"to\":\"bob\",\"body\":\"b3BhcXVlIGJvZHk=\""));
  m1 = client_wait (client, "event", "signalMessage", "tag", "bob", NULL);
  assert_json (m1, "from", alice);
  assert_json (m1, "to", bob);
  assert_json (m1, "body", "b3BhcXVlIGJvZHk=");

  /* Unary Send: bob → alice, answered with an empty message. */
  unary = client_ok (client, "\"op\":\"signalSend\",\"peer\":\"bob\",\"to\":\"alice\",\"body\":\"AAECAw==\","
                             "\"via\":\"unary\"");
  assert_json (unary, "emptyAnswer", "true");
  m2 = client_wait (client, "event", "signalMessage", "tag", "alice", NULL);
  assert_json (m2, "from", bob);
  assert_json (m2, "body", "AAECAw==");

  /* To a key without a stream: dropped, Send still answers. */
  g_free (client_ok (client, "\"op\":\"signalSend\",\"peer\":\"bob\",\"to\":\"carol\",\"body\":\"AA==\","
                             "\"via\":\"unary\""));

  /* Garbage on a stream is dropped; the stream keeps working. */
  g_free (client_ok (client, "\"op\":\"signalSendRaw\",\"tag\":\"alice\",\"bytes\":\"//////8=\""));
  g_free (client_ok (client, "\"op\":\"signalSend\",\"peer\":\"alice\",\"to\":\"bob\",\"body\":\"AQ==\""));
  m3 = client_wait (client, "event", "signalMessage", "tag", "bob", NULL);
  assert_json (m3, "body", "AQ==");
  client_expect_none (client, 200, "event", "signalEnd", "tag", "alice", NULL);

  /* Garbage to unary Send fails the call, not the server. */
  end = client_call (client, "\"op\":\"rawUnary\",\"path\":\"/signalexchange.SignalExchange/Send\","
                             "\"bytes\":\"//////8=\"");
  assert_json (end, "ok", "false");
  assert_json (end, "code", "13");

  /* No peer-id metadata. */
  g_free (client_ok (client, "\"op\":\"signalConnect\",\"peer\":\"carol\",\"noMetadata\":true,\"tag\":\"anon\""));
  g_free (end);
  end = client_wait (client, "event", "signalEnd", "tag", "anon", NULL);
  assert_json (end, "code", "9");
  g_assert_nonnull (strstr (end, "x-wiretrustee-peer-id"));

  /* A second stream for bob replaces the first. */
  g_free (client_ok (client, "\"op\":\"signalConnect\",\"peer\":\"bob\",\"tag\":\"bob-new\""));
  h3 = client_wait (client, "event", "signalHeaders", "tag", "bob-new", NULL);
  assert_json (h3, "registered", "1");
  old_end = client_wait (client, "event", "signalEnd", "tag", "bob", NULL);
  assert_json (old_end, "code", "2");
  assert_json (old_end, "details", "peer registered again");
  g_free (client_ok (client, "\"op\":\"signalSend\",\"peer\":\"alice\",\"to\":\"bob\",\"body\":\"Ag==\",\"tag\":\"alice\""));
  m4 = client_wait (client, "event", "signalMessage", "tag", "bob-new", NULL);
  assert_json (m4, "body", "Ag==");

  /* Half-closing ends the stream with OK. */
  g_free (client_ok (client, "\"op\":\"signalClose\",\"tag\":\"bob-new\""));
  g_free (end);
  end = client_wait (client, "event", "signalEnd", "tag", "bob-new", NULL);
  assert_json (end, "code", "0");
}

static void
test_unimplemented (void)
{
  const char *paths[] = {
    "/management.ManagementService/GetDeviceAuthorizationFlow",
    "/management.ManagementService/GetPKCEAuthorizationFlow",
    "/management.ManagementService/ExtendAuthSession",
    "/management.ManagementService/NoSuchMethod",
    "/nope.Service/Call",
  };

  for (gsize i = 0; i < G_N_ELEMENTS (paths); i++)
    {
      g_autofree char *a = client_call (client, "\"op\":\"rawUnary\",\"path\":\"%s\",\"bytes\":\"\"", paths[i]);

      assert_json (a, "code", "12");
    }
}

static void
test_garbage (void)
{
  g_autofree char *a = NULL;
  g_autofree char *b = NULL;
  g_autofree char *c = NULL;

  /* Not an EncryptedMessage at all. */
  a = client_call (client, "\"op\":\"rawUnary\",\"path\":\"/management.ManagementService/Login\","
                           "\"bytes\":\"//////////8=\"");
  assert_json (a, "code", "13");
  /* A bad wgPubKey (field 1 = "xyz"). */
  b = client_call (client, "\"op\":\"rawUnary\",\"path\":\"/management.ManagementService/Sync\","
                           "\"bytes\":\"CgN4eXo=\"");
  assert_json (b, "code", "3");
  g_assert_nonnull (strstr (b, "is invalid"));
  /* A sealed body that does not open (checked in test_login_refused) and
   * still serving: */
  c = client_ok (client, "\"op\":\"isHealthy\"");
  g_free (client_ok (client, "\"op\":\"serverKey\""));
}

typedef struct {
  char *instance_url;
  GError *error;
  gboolean connected;
  gboolean disconnected;
} RelayResult;

static void
relay_connected_cb (NbRelayClient *rc, const char *url, gpointer data)
{
  RelayResult *r = data;

  r->instance_url = g_strdup (url);
  r->connected = TRUE;
}

static void
relay_disconnected_cb (NbRelayClient *rc, const GError *reason, gpointer data)
{
  RelayResult *r = data;

  if (r->error == NULL)
    r->error = g_error_copy (reason);
  r->disconnected = TRUE;
}

static void
test_relay (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (NbRelayClient) rc = nb_relay_client_new (devnet->relay_url, alice, &error);
  g_autoptr (NbRelayClient) bad = NULL;
  RelayResult r = { 0 };
  RelayResult rb = { 0 };

  g_assert_no_error (error);
  g_assert_true (nb_relay_client_set_token (rc, alice_relay_payload, alice_relay_signature, &error));
  g_signal_connect (rc, "connected", G_CALLBACK (relay_connected_cb), &r);
  g_signal_connect (rc, "disconnected", G_CALLBACK (relay_disconnected_cb), &r);
  g_assert_true (nb_relay_client_start (rc, &error));
  g_assert_true (run_until (&r.connected, WAIT_MS));
  g_assert_cmpstr (r.instance_url, ==, devnet->relay_public_url);
  nb_relay_client_stop (rc);

  /* A token signed with another secret is refused. */
  bad = nb_relay_client_new (devnet->relay_url, bob, &error);
  g_assert_no_error (error);
  g_assert_true (nb_relay_client_set_token (bad, alice_relay_payload,
                                            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", &error));
  g_signal_connect (bad, "connected", G_CALLBACK (relay_connected_cb), &rb);
  g_signal_connect (bad, "disconnected", G_CALLBACK (relay_disconnected_cb), &rb);
  g_assert_true (nb_relay_client_start (bad, &error));
  g_assert_true (run_until (&rb.disconnected, WAIT_MS));
  g_assert_false (rb.connected);
  g_assert_error (rb.error, NB_RELAY_CLIENT_ERROR, NB_RELAY_CLIENT_ERROR_AUTH_REJECTED);
  nb_relay_client_stop (bad);

  g_free (r.instance_url);
  g_clear_error (&rb.error);
  g_clear_error (&r.error);
  run_for (50);
}

static void
test_remove_peer_live (void)
{
  g_autofree char *alice_map = NULL;
  g_autofree char *bob_farewell = NULL;
  g_autofree char *bob_end = NULL;
  g_autofree char *relogin = NULL;
  g_autofree char *resync_end = NULL;
  g_autofree char *keys = NULL;
  g_autofree char *peers = NULL;
  g_autofree char *n = NULL;

  /* Another process edits the state; the server notices. */
  g_free (run_cli (0, state_dir, "remove-peer", bob, NULL));
  alice_map = client_wait (client, "event", "sync", "peer", "alice", "n", "4", NULL);
  g_assert_cmpint (json_int (alice_map, "serial"), ==, alice_serial + 1);
  alice_serial++;
  keys = json_get (alice_map, "remoteKeys");
  g_assert_false (csv_contains (keys, bob));
  g_assert_true (csv_contains (keys, carol));
  /* His name is gone with him. */
  assert_peer_zone (alice_map, "alice", "100.64.0.1", "carol", "100.64.0.2", "bob-0-4", "100.64.0.4", NULL);

  /* bob's own stream: NetBird's farewell (empty map, empty DNSConfig: the
   * service off, no zone), then OK. */
  bob_farewell = client_wait (client, "event", "sync", "peer", "bob", "n", "1", NULL);
  assert_json (bob_farewell, "remoteIsEmpty", "true");
  assert_json (bob_farewell, "nRemote", "0");
  assert_json (bob_farewell, "hasDns", "true");
  assert_json (bob_farewell, "dnsServiceEnable", "false");
  assert_json (bob_farewell, "nZones", "0");
  bob_end = client_wait (client, "event", "syncEnd", "peer", "bob", NULL);
  assert_json (bob_end, "code", "0");

  relogin = login ("bob", NULL);
  assert_json (relogin, "code", "7");
  g_free (client_ok (client, "\"op\":\"syncStart\",\"peer\":\"bob\""));
  resync_end = client_wait (client, "event", "syncEnd", "peer", "bob", NULL);
  assert_json (resync_end, "code", "7");

  peers = run_cli (0, state_dir, "list-peers", NULL);
  g_assert_null (strstr (peers, bob));
  n = g_strdup_printf ("# serial %" G_GUINT64_FORMAT "\n", alice_serial);
  g_assert_true (g_str_has_prefix (peers, n));
}

static void
test_sync_meta_and_logout (void)
{
  g_autofree char *m = NULL;
  g_autofree char *end = NULL;
  g_autofree char *again = NULL;
  g_autofree char *peers = NULL;

  /* carol upgrades: alice sees the new agent version. */
  g_free (client_ok (client, "\"op\":\"syncMeta\",\"peer\":\"carol\",\"version\":\"0.61.0\""));
  m = client_wait (client, "event", "sync", "peer", "alice", "n", "5", NULL);
  g_assert_cmpint (json_int (m, "serial"), ==, alice_serial + 1);
  alice_serial++;
  g_assert_nonnull (strstr (m, "0.61.0"));

  /* Logout closes alice's Sync stream; she stays registered. */
  g_free (client_ok (client, "\"op\":\"logout\",\"peer\":\"alice\""));
  end = client_wait (client, "event", "syncEnd", "peer", "alice", NULL);
  assert_json (end, "code", "0");
  peers = run_cli (0, state_dir, "list-peers", NULL);
  g_assert_nonnull (strstr (peers, alice));
  again = login ("alice", NULL);
  assert_json (again, "ok", "true");
  assert_json (again, "address", "100.64.0.1/16");
}

static void
test_expired_setup_key (void)
{
  g_autofree char *a = NULL;
  g_autofree char *eve = NULL;
  gint64 elapsed_ms = (g_get_monotonic_time () - short_key_made) / 1000;

  /* Expiry has a resolution of one second. */
  if (elapsed_ms < 2100)
    run_for ((guint) (2100 - elapsed_ms));
  eve = new_peer (client, "eve");
  a = login ("eve", short_key);
  assert_json (a, "code", "5");
}

static void
test_restart (void)
{
  g_autofree char *a = NULL;
  g_autofree char *s = NULL;
  g_autofree char *keys = NULL;

  /* SIGTERM ends the streams and the program cleanly; state persists. */
  g_free (client_ok (client, "\"op\":\"syncStart\",\"peer\":\"carol\",\"version\":\"0.61.0\""));
  g_free (client_wait (client, "event", "sync", "peer", "carol", "n", "0", NULL));
  devnet_stop (devnet);
  g_free (client_wait (client, "event", "syncEnd", "peer", "carol", NULL));
  client_stop (client);

  devnet = devnet_start (state_dir, NULL);
  client = client_start (devnet->url, NULL);
  g_free (client_wait (client, "event", "started", NULL));
  /* Registrations, address allocation and the serial persist. */
  {
    g_autofree char *peers = run_cli (0, state_dir, "list-peers", NULL);

    g_assert_nonnull (strstr (peers, alice));
    g_assert_nonnull (strstr (peers, carol));
  }
  g_free (new_peer (client, "frank"));
  a = login ("frank", setup_key);
  assert_json (a, "ok", "true");
  /* Addresses are not reused: after .1 .. .4 (bob's .3 was removed). */
  assert_json (a, "address", "100.64.0.5/16");
  g_free (client_ok (client, "\"op\":\"syncStart\",\"peer\":\"frank\""));
  s = client_wait (client, "event", "sync", "peer", "frank", "n", "0", NULL);
  g_assert_cmpint (json_int (s, "serial"), ==, alice_serial + 1);
  keys = json_get (s, "remoteKeys");
  g_assert_false (csv_contains (keys, bob));
  g_assert_true (csv_contains (keys, alice));
  /* Only frank is online; the zone still names every registered peer. */
  assert_peer_zone (s, "alice", "100.64.0.1", "carol", "100.64.0.2", "bob-0-4", "100.64.0.4", "frank",
                    "100.64.0.5", NULL);
}

static void
test_credentials_refresh (void)
{
  g_autofree char *dir = g_dir_make_tmp ("devnet-refresh-XXXXXX", NULL);
  g_autofree char *key = NULL;
  g_autofree char *reg = NULL;
  g_autofree char *first = NULL;
  g_autofree char *turn = NULL;
  g_autofree char *relay = NULL;
  g_autofree char *user1 = NULL;
  g_autofree char *user2 = NULL;
  Devnet *d;
  Client *c;
  Devnet *saved = devnet;
  gint64 t0;

  key = g_strchomp (run_cli (0, dir, "init", NULL));
  /* TURN credentials live 2 s (refreshed after 1.5 s), relay tokens 4 s
   * (after 3 s). */
  d = devnet_start (dir, "--turn-ttl", "2", "--relay-token-ttl", "4", NULL);
  devnet = d;
  c = client_start (d->url, NULL);
  g_free (new_peer (c, "gina"));
  reg = client_call (c, "\"op\":\"login\",\"peer\":\"gina\",\"setupKey\":\"%s\"", key);
  assert_json (reg, "ok", "true");
  g_free (client_ok (c, "\"op\":\"syncStart\",\"peer\":\"gina\",\"turnSecret\":\"%s\",\"relaySecret\":\"%s\"",
                     d->turn_secret, d->relay_secret));
  t0 = g_get_monotonic_time ();
  first = client_wait (c, "event", "sync", "peer", "gina", "n", "0", NULL);
  user1 = json_get (first, "turnUser");

  /* Config-only: TURN + relay (NetBird's TURN refresh). */
  turn = client_wait (c, "event", "sync", "peer", "gina", "n", "1", NULL);
  assert_json (turn, "hasMap", "false");
  assert_json (turn, "hasTurns", "true");
  assert_json (turn, "hasRelay", "true");
  assert_json (turn, "turnPasswordValid", "true");
  assert_json (turn, "relayTokenValid", "true");
  assert_json (turn, "stuns", ""); /* only what is refreshed */
  user2 = json_get (turn, "turnUser");
  g_assert_cmpint (g_ascii_strtoll (user2, NULL, 10), >=, g_ascii_strtoll (user1, NULL, 10));
  g_assert_cmpint ((g_get_monotonic_time () - t0) / 1000, >=, 1200);

  /* Relay only, after 3 s. */
  for (guint n = 2; relay == NULL && n < 10; n++)
    {
      g_autofree char *ns = g_strdup_printf ("%u", n);
      g_autofree char *m = client_wait (c, "event", "sync", "peer", "gina", "n", ns, NULL);

      g_autofree char *has_turns = json_get (m, "hasTurns");

      if (g_strcmp0 (has_turns, "false") == 0)
        relay = g_steal_pointer (&m);
    }
  g_assert_nonnull (relay);
  assert_json (relay, "hasRelay", "true");
  assert_json (relay, "relayTokenValid", "true");

  client_stop (c);
  devnet_stop (d);
  devnet = saved;
  rm_rf (dir);
}

/* set-turn-static USER with the password on stdin. */
static void
set_turn_static (const char *dir, const char *user, const char *password)
{
  const char *argv[] = { NETBIRD_DEVNET_PATH, "--state-dir", dir, "set-turn-static", user, NULL };
  g_autoptr (GSubprocess) proc = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *input = g_strconcat (password, "\n", NULL);

  proc = g_subprocess_newv (argv, G_SUBPROCESS_FLAGS_STDIN_PIPE, &error);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8 (proc, input, NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (g_subprocess_get_successful (proc));
}

static void
test_tls (const char *cert_arg, const char *key_arg, gboolean self_signed)
{
  g_autofree char *dir = g_dir_make_tmp ("devnet-tls-XXXXXX", NULL);
  g_autofree char *key = NULL;
  g_autofree char *a = NULL;
  g_autofree char *s = NULL;
  Devnet *d;
  Client *c;
  Devnet *saved = devnet;

  key = g_strchomp (run_cli (0, dir, "init", NULL));
  if (self_signed)
    {
      /* Also: static TURN credentials and announced URLs that differ from
       * the listening ones (a proxy in front). */
      set_turn_static (dir, "devnet", "s3cret:with:colons");
      d = devnet_start (dir, "--tls-self-signed", "--turn-static", "--public-url", "https://localhost:8443",
                        "--relay-public-url", "rels://relay.example:443", NULL);
      g_assert_cmpstr (d->public_url, ==, "https://localhost:8443");
      g_assert_cmpstr (d->relay_public_url, ==, "rels://relay.example:443");
    }
  else
    d = devnet_start (dir, "--tls-cert", cert_arg, "--tls-key", key_arg, NULL);
  devnet = d;
  g_assert_true (g_str_has_prefix (d->url, "https://"));
  g_assert_true (g_str_has_prefix (d->relay_url, "rels://"));
  c = client_start (d->url, self_signed ? d->tls_cert : cert_arg);
  g_free (new_peer (c, "hank"));
  a = client_call (c, "\"op\":\"login\",\"peer\":\"hank\",\"setupKey\":\"%s\",\"relaySecret\":\"%s\"", key,
                   d->relay_secret);
  assert_json (a, "ok", "true");
  assert_json (a, "signalProtocol", "3"); /* HTTPS */
  assert_json (a, "relayTokenValid", "true");
  if (self_signed)
    {
      assert_json (a, "signalUri", "localhost:8443");
      assert_json (a, "relayUrls", "rels://relay.example:443");
      assert_json (a, "turnUser", "devnet");
      assert_json (a, "turnPassword", "s3cret:with:colons");
    }
  g_free (client_ok (c, "\"op\":\"signalConnect\",\"peer\":\"hank\""));
  s = client_wait (c, "event", "signalHeaders", "tag", "hank", NULL);
  assert_json (s, "registered", "1");

  client_stop (c);
  devnet_stop (d);
  devnet = saved;
  rm_rf (dir);
}

static void
test_tls_self_signed (void)
{
  test_tls (NULL, NULL, TRUE);
}

static void
test_tls_openssl (void)
{
  g_autofree char *openssl = g_find_program_in_path ("openssl");
  g_autofree char *dir = NULL;
  g_autofree char *cert = NULL;
  g_autofree char *key = NULL;
  g_autoptr (GSubprocess) proc = NULL;
  g_autoptr (GError) error = NULL;

  if (openssl == NULL)
    {
      g_test_skip ("openssl not installed (Debian package: openssl)");
      return;
    }
  dir = g_dir_make_tmp ("devnet-pem-XXXXXX", NULL);
  cert = g_build_filename (dir, "cert.pem", NULL);
  key = g_build_filename (dir, "key.pem", NULL);
  proc = g_subprocess_new (G_SUBPROCESS_FLAGS_STDOUT_SILENCE | G_SUBPROCESS_FLAGS_STDERR_SILENCE, &error, openssl,
                           "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                           "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=devnet-test",
                           "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", NULL);
  g_assert_no_error (error);
  g_assert_true (g_subprocess_wait_check (proc, NULL, &error));
  g_assert_no_error (error);
  test_tls (cert, key, FALSE);
  rm_rf (dir);
}

/* Routes: the admin commands change the state of the running server
 * (frank's Sync stream from test_restart is still open), every map
 * carries them as NetBird's Route messages. */
static void
test_routes_live (void)
{
  g_autofree char *m1 = NULL;
  g_autofree char *m2 = NULL;
  g_autofree char *m3 = NULL;
  g_autofree char *list = NULL;
  g_autofree char *id = NULL;
  g_autofree char *expect = NULL;
  g_autofree char *routes = NULL;
  g_autofree char *carol_route = NULL;
  g_autofree char *alice_route = NULL;
  g_autofree char *v6_route = NULL;
  gint64 serial;

  /* Refusals: unknown peer, bad network, nothing to remove, usage. */
  g_free (run_cli (1, state_dir, "add-route", "--peer", "nobody", "--network", "10.99.0.0/24", NULL));
  g_free (run_cli (1, state_dir, "add-route", "--peer", carol, "--network", "10.99.0.0/33", NULL));
  g_free (run_cli (1, state_dir, "remove-route", "--network", "10.99.0.0/24", NULL));
  g_free (run_cli (2, state_dir, "add-route", "--network", "10.99.0.0/24", NULL));
  g_free (run_cli (2, state_dir, "remove-route", NULL));

  /* Through carol (by key), host bits cleared. */
  id = g_strchomp (run_cli (0, state_dir, "add-route", "--peer", carol, "--network", "10.99.0.7/24", "--metric",
                            "5", "--masquerade", NULL));
  g_assert_cmpuint (strlen (id), ==, 12);
  m1 = client_wait (client, "event", "sync", "peer", "frank", "n", "1", NULL);
  serial = json_int (m1, "serial");
  carol_route = g_strdup_printf ("10.99.0.0/24|%s|5|true|10.99.0.0/24|1|false", carol);
  assert_json (m1, "routes", carol_route);
  list = run_cli (0, state_dir, "list-routes", NULL);
  expect = g_strdup_printf ("%s\t10.99.0.0/24\t%s\t5\tyes\t10.99.0.0/24\tno\n", id, carol);
  g_assert_nonnull (strstr (list, expect));

  /* The same network through alice (by FQDN; NetBird's HA routes) and an
   * IPv6 network: one push each. */
  g_free (run_cli (0, state_dir, "add-route", "--peer", "alice.netbird.test", "--network", "10.99.0.0/24", NULL));
  g_free (client_wait (client, "event", "sync", "peer", "frank", "n", "2", NULL));
  g_free (run_cli (0, state_dir, "add-route", "--peer", carol, "--network", "fd00:99::1/64", NULL));
  m2 = client_wait (client, "event", "sync", "peer", "frank", "n", "3", NULL);
  g_assert_cmpint (json_int (m2, "serial"), ==, serial + 2);
  alice_route = g_strdup_printf ("10.99.0.0/24|%s|9999|false|10.99.0.0/24|1|false", alice);
  v6_route = g_strdup_printf ("fd00:99::/64|%s|9999|false|fd00:99::/64|2|false", carol);
  routes = json_get (m2, "routes");
  g_assert_true (csv_contains (routes, carol_route));
  g_assert_true (csv_contains (routes, alice_route));
  g_assert_true (csv_contains (routes, v6_route));

  /* remove-route takes every route of the network. */
  g_free (run_cli (0, state_dir, "remove-route", "--network", "10.99.0.0/24", NULL));
  m3 = client_wait (client, "event", "sync", "peer", "frank", "n", "4", NULL);
  g_assert_cmpint (json_int (m3, "serial"), ==, serial + 3);
  assert_json (m3, "routes", v6_route);
  g_free (run_cli (0, state_dir, "remove-route", "--network", "fd00:99::/64", NULL));
  g_free (m3);
  m3 = client_wait (client, "event", "sync", "peer", "frank", "n", "5", NULL);
  assert_json (m3, "routes", "");
}

/* Exit nodes as NetBird's management serves them: 0.0.0.0/0 or ::/0 under
 * a NetID of its own (what `netbird routes select` and the `exit-node`
 * setting name), with or without skipAutoApply. Runs after
 * test_routes_live (frank's Sync stream has seen 5 maps). */
static void
test_routes_exit_node (void)
{
  /* 40 characters, 80 bytes: the limit counts characters. */
  g_autoptr (GString) umlauts = g_string_new (NULL);
  const char *too_long = "0123456789012345678901234567890123456789x";
  g_autofree char *m = NULL;
  g_autofree char *list = NULL;
  g_autofree char *expect = NULL;
  g_autofree char *id = NULL;
  g_autofree char *id_again = NULL;
  g_autofree char *routes = NULL;
  g_autofree char *carol_exit = NULL;
  g_autofree char *alice_exit = NULL;
  gint64 serial;

  for (guint i = 0; i < 40; i++)
    g_string_append (umlauts, "\xc3\xbc");
  g_assert_cmpuint (strlen (too_long), ==, 41);

  /* Unusable NetIDs are usage errors; nothing is stored, no map pushed. */
  g_free (run_cli (2, state_dir, "add-route", "--peer", carol, "--network", "0.0.0.0/0", "--net-id", "", NULL));
  g_free (run_cli (2, state_dir, "add-route", "--peer", carol, "--network", "0.0.0.0/0", "--net-id", too_long,
                   NULL));
  g_free (run_cli (2, state_dir, "add-route", "--peer", carol, "--network", "0.0.0.0/0", "--net-id", "exit\tnode",
                   NULL));
  g_free (run_cli (2, state_dir, "add-route", "--peer", carol, "--network", "0.0.0.0/0", "--net-id", "exit\x7f",
                   NULL));
  g_free (run_cli (2, state_dir, "add-route", "--peer", carol, "--network", "0.0.0.0/0", "--net-id", "exit\xff",
                   NULL));
  g_free (run_cli (2, state_dir, "add-route", "--peer", carol, "--network", "0.0.0.0/0", "--net-id", NULL));
  list = run_cli (0, state_dir, "list-routes", NULL);
  g_assert_null (strstr (list, "0.0.0.0/0"));
  g_clear_pointer (&list, g_free);

  /* carol: a NetID of its own, not for automatic selection. */
  id = g_strchomp (run_cli (0, state_dir, "add-route", "--peer", carol, "--network", "0.0.0.0/0", "--net-id",
                            "exit-carol", "--skip-auto-apply", NULL));
  m = client_wait (client, "event", "sync", "peer", "frank", "n", "6", NULL);
  serial = json_int (m, "serial");
  carol_exit = g_strdup_printf ("0.0.0.0/0|%s|9999|false|exit-carol|1|true", carol);
  assert_json (m, "routes", carol_exit);
  list = run_cli (0, state_dir, "list-routes", NULL);
  expect = g_strdup_printf ("%s\t0.0.0.0/0\t%s\t9999\tno\texit-carol\tyes\n", id, carol);
  g_assert_nonnull (strstr (list, expect));
  g_clear_pointer (&list, g_free);
  g_clear_pointer (&expect, g_free);

  /* alice: IPv6, a NetID of 40 characters, auto-applied. */
  g_free (run_cli (0, state_dir, "add-route", "--peer", alice, "--network", "::/0", "--net-id", umlauts->str,
                   NULL));
  g_free (m);
  m = client_wait (client, "event", "sync", "peer", "frank", "n", "7", NULL);
  g_assert_cmpint (json_int (m, "serial"), ==, serial + 1);
  alice_exit = g_strdup_printf ("::/0|%s|9999|false|%s|2|false", alice, umlauts->str);
  routes = json_get (m, "routes");
  g_assert_true (csv_contains (routes, carol_exit));
  g_assert_true (csv_contains (routes, alice_exit));
  g_clear_pointer (&routes, g_free);
  list = run_cli (0, state_dir, "list-routes", NULL);
  expect = g_strdup_printf ("\t::/0\t%s\t9999\tno\t%s\tno\n", alice, umlauts->str);
  g_assert_nonnull (strstr (list, expect));
  g_clear_pointer (&list, g_free);
  g_clear_pointer (&expect, g_free);

  /* carol's route again without the options: the same route, back to the
   * default NetID (the network) and auto-apply. */
  id_again = g_strchomp (run_cli (0, state_dir, "add-route", "--peer", carol, "--network", "0.0.0.0/0", NULL));
  g_assert_cmpstr (id_again, ==, id);
  g_free (m);
  m = client_wait (client, "event", "sync", "peer", "frank", "n", "8", NULL);
  g_free (carol_exit);
  carol_exit = g_strdup_printf ("0.0.0.0/0|%s|9999|false|0.0.0.0/0|1|false", carol);
  routes = json_get (m, "routes");
  g_assert_true (csv_contains (routes, carol_exit));
  g_assert_true (csv_contains (routes, alice_exit));
  g_clear_pointer (&routes, g_free);
  list = run_cli (0, state_dir, "list-routes", NULL);
  expect = g_strdup_printf ("%s\t0.0.0.0/0\t%s\t9999\tno\t0.0.0.0/0\tno\n", id, carol);
  g_assert_nonnull (strstr (list, expect));

  g_free (run_cli (0, state_dir, "remove-route", "--network", "0.0.0.0/0", NULL));
  g_free (m);
  m = client_wait (client, "event", "sync", "peer", "frank", "n", "9", NULL);
  assert_json (m, "routes", alice_exit);
  g_free (run_cli (0, state_dir, "remove-route", "--network", "::/0", NULL));
  g_free (m);
  m = client_wait (client, "event", "sync", "peer", "frank", "n", "10", NULL);
  assert_json (m, "routes", "");
}

/* The route fields in the state file: stored, re-read, and the defaults
 * for a file written before net-id / skip-auto-apply existed. */
static void
test_route_state_fields (void)
{
  g_autofree char *dir = g_dir_make_tmp ("devnet-routes-XXXXXX", NULL);
  g_autofree char *key = NULL;
  g_autofree char *peers_path = NULL;
  g_autofree char *text = NULL;
  g_autofree char *group = NULL;
  g_autoptr (NbDevnetState) state = NULL;
  g_autoptr (NbDevnetPeerMeta) meta = nb_devnet_peer_meta_new ();
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  g_autoptr (GPtrArray) routes = NULL;
  g_autoptr (GError) error = NULL;
  const NbDevnetRoute *route;
  const NbDevnetRoute *r;

  g_assert_nonnull (dir);
  state = nb_devnet_state_create (dir, NULL, &key, &error);
  g_assert_no_error (error);
  g_free (meta->hostname);
  meta->hostname = g_strdup ("exit");
  g_assert_nonnull (nb_devnet_state_register_peer (state, carol, key, meta, &error));
  g_assert_no_error (error);

  g_assert_null (nb_devnet_state_add_route (state, carol, "0.0.0.0/0", 9999, FALSE, "", FALSE, &error));
  g_assert_error (error, NB_DEVNET_STATE_ERROR, NB_DEVNET_STATE_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_null (nb_devnet_state_add_route (state, carol, "0.0.0.0/0", 9999, FALSE, "a\nb", FALSE, &error));
  g_assert_error (error, NB_DEVNET_STATE_ERROR, NB_DEVNET_STATE_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);

  route = nb_devnet_state_add_route (state, carol, "0.0.0.0/0", 100, TRUE, " exit node ", TRUE, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (route->net_id, ==, " exit node ");
  g_assert_true (route->skip_auto_apply);
  route = nb_devnet_state_add_route (state, carol, "10.98.0.0/16", 9999, FALSE, NULL, FALSE, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (route->net_id, ==, "10.98.0.0/16");
  g_assert_false (route->skip_auto_apply);
  group = g_strconcat ("route ", route->id, NULL);
  g_clear_object (&state);

  /* Re-read: everything as stored (sorted by network). */
  state = nb_devnet_state_open (dir, &error);
  g_assert_no_error (error);
  routes = nb_devnet_state_list_routes (state);
  g_assert_cmpuint (routes->len, ==, 2);
  r = routes->pdata[0];
  g_assert_cmpstr (r->network, ==, "0.0.0.0/0");
  g_assert_cmpint (r->metric, ==, 100);
  g_assert_true (r->masquerade);
  g_assert_cmpstr (r->net_id, ==, " exit node ");
  g_assert_true (r->skip_auto_apply);
  r = routes->pdata[1];
  g_assert_cmpstr (r->net_id, ==, "10.98.0.0/16");
  g_assert_false (r->skip_auto_apply);
  g_clear_pointer (&routes, g_ptr_array_unref);
  g_clear_object (&state);

  /* A file of an older devnet: neither key in the route group. */
  peers_path = g_build_filename (dir, "peers", NULL);
  g_assert_true (g_key_file_load_from_file (kf, peers_path, G_KEY_FILE_KEEP_COMMENTS, &error));
  g_assert_no_error (error);
  g_assert_true (g_key_file_has_key (kf, group, "skip-auto-apply", NULL));
  g_assert_true (g_key_file_remove_key (kf, group, "net-id", NULL));
  g_assert_true (g_key_file_remove_key (kf, group, "skip-auto-apply", NULL));
  g_key_file_set_boolean (kf, group, "masquerade", TRUE);
  text = g_key_file_to_data (kf, NULL, NULL);
  g_assert_true (g_file_set_contents_full (peers_path, text, -1, G_FILE_SET_CONTENTS_CONSISTENT, 0600, &error));
  g_assert_no_error (error);
  state = nb_devnet_state_open (dir, &error);
  g_assert_no_error (error);
  routes = nb_devnet_state_list_routes (state);
  g_assert_cmpuint (routes->len, ==, 2);
  r = routes->pdata[1];
  g_assert_cmpstr (r->network, ==, "10.98.0.0/16");
  g_assert_true (r->masquerade);
  g_assert_cmpstr (r->net_id, ==, "10.98.0.0/16");
  g_assert_false (r->skip_auto_apply);
  g_clear_pointer (&routes, g_ptr_array_unref);
  g_clear_object (&state);
  rm_rf (dir);
}

/* ------------------------------------------------------------------------ */

int
main (int argc, char **argv)
{
  g_autofree char *why = NULL;
  g_autofree char *out = NULL;
  int status;

  g_test_init (&argc, &argv, NULL);

  if (!node_find ("tweetnacl", &node_dir, &node_bin, &why))
    {
      g_printerr ("SKIP: %s\n", why);
      g_free (node_dir);
      g_free (node_bin);
      return 77;
    }

  state_dir = g_dir_make_tmp ("devnet-XXXXXX", NULL);
  g_assert_nonnull (state_dir);
  out = run_cli (0, state_dir, "init", NULL);
  setup_key = g_strchomp (g_strdup (out));
  g_assert_cmpuint (strlen (setup_key), ==, 36);
  devnet = devnet_start (state_dir, NULL);
  client = client_start (devnet->url, NULL);
  g_free (client_wait (client, "event", "started", NULL));

  g_test_add_func ("/devnet/cli", test_cli);
  g_test_add_func ("/devnet/management-server-key", test_server_key);
  g_test_add_func ("/devnet/management-login-refused", test_login_refused);
  g_test_add_func ("/devnet/management-login-register", test_login_register);
  g_test_add_func ("/devnet/management-sync-map-push", test_sync_map_push);
  g_test_add_func ("/devnet/signal", test_signal);
  g_test_add_func ("/devnet/unimplemented", test_unimplemented);
  g_test_add_func ("/devnet/garbage", test_garbage);
  g_test_add_func ("/devnet/relay", test_relay);
  g_test_add_func ("/devnet/management-remove-peer-live", test_remove_peer_live);
  g_test_add_func ("/devnet/management-sync-meta-logout", test_sync_meta_and_logout);
  g_test_add_func ("/devnet/management-expired-setup-key", test_expired_setup_key);
  g_test_add_func ("/devnet/restart", test_restart);
  g_test_add_func ("/devnet/management-credentials-refresh", test_credentials_refresh);
  g_test_add_func ("/devnet/tls-self-signed", test_tls_self_signed);
  g_test_add_func ("/devnet/tls-pem-files", test_tls_openssl);
  g_test_add_func ("/devnet/management-routes-live", test_routes_live);
  g_test_add_func ("/devnet/management-routes-exit-node", test_routes_exit_node);
  g_test_add_func ("/devnet/route-state-fields", test_route_state_fields);

  status = g_test_run ();

  client_stop (client);
  devnet_stop (devnet);
  rm_rf (state_dir);
  g_free (state_dir);
  g_free (setup_key);
  g_free (one_use_key);
  g_free (short_key);
  g_free (alice);
  g_free (bob);
  g_free (carol);
  g_free (alice_relay_payload);
  g_free (alice_relay_signature);
  g_free (node_dir);
  g_free (node_bin);
  return status;
}
