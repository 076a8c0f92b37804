/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * service/netbird/mgmt-client.c (and network-map.c) against an independent
 * NetBird-style management server (tests/protocol/node/mgmt-test-server.js:
 * grpc-js + proto-loader on our management.proto, tweetnacl for sealing,
 * protobufjs for the inner messages), driven over its stdin. Loopback only.
 *
 * Skips (exit 77) when node or tests/protocol/node/node_modules is missing.
 */
#include "config.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include "json-line.h"
#include "loop-util.h"
#include "mgmt-client.h"
#include "node-fixture.h"

#define WAIT_MS 15000 /* generous bound for anything that should happen */
#define SETUP_KEY "A2C8E62B-38F5-4553-B31E-DD66C696CEBB"

#define RUN_UNTIL(flag) g_assert_true (run_until (&(flag), WAIT_MS))

/* ------------------------------------------------------------------------ */
/* The node server */

static char *node_dir;
static char *node_bin;
static char *proto_path;

typedef struct {
  LineProc *lp;
  int port;
  char *url;
} Node;

static Node server;

/* The next line from the server, iterating the main loop meanwhile. */
static char *
server_read_line (void)
{
  char *line = line_proc_take (server.lp, NULL, NULL, WAIT_MS);

  if (line == NULL)
    g_error ("management test server exited or did not answer");
  return line;
}

static void
server_start (void)
{
  g_autofree char *script = g_build_filename (node_dir, "mgmt-test-server.js", NULL);
  g_autofree char *first = NULL;
  const char *argv[] = { node_bin, script, proto_path, NULL };

  server.lp = line_proc_spawn ("mgmt-test-server", TRUE, argv);
  first = server_read_line ();
  server.port = (int) json_int (first, "port");
  g_assert_cmpint (server.port, >, 0);
  server.url = g_strdup_printf ("http://127.0.0.1:%d", server.port);
  g_debug ("management test server at %s", server.url);
}

static void
server_stop (void)
{
  if (server.lp == NULL)
    return;
  line_proc_kill (server.lp);
  line_proc_free (g_steal_pointer (&server.lp), WAIT_MS);
  g_clear_pointer (&server.url, g_free);
}

static void
server_send (const char *line)
{
  line_proc_write (server.lp, line);
}

/* The JSON of the "ok" answer to the command sent last. */
static char *
server_reply (void)
{
  g_autofree char *line = server_read_line ();

  if (!g_str_has_prefix (line, "ok "))
    g_error ("management test server: %s", line);
  return g_strdup (line + 3);
}

static char *
server_cmd (const char *format, ...) G_GNUC_PRINTF (1, 2);

static char *
server_cmd (const char *format, ...)
{
  g_autofree char *line = NULL;
  va_list ap;

  va_start (ap, format);
  line = g_strdup_vprintf (format, ap);
  va_end (ap);
  server_send (line);
  return server_reply ();
}

static gint64
server_stat (const char *name)
{
  g_autofree char *stats = server_cmd ("stats");

  return json_int (stats, name);
}

/* ------------------------------------------------------------------------ */
/* Clients and their signals */

typedef struct {
  NbWgKey priv;
  char *key;
} Ident;

static void
ident_init (Ident *id)
{
  NbWgKey pub;

  nb_wg_key_generate_private (&id->priv);
  nb_wg_key_derive_public (&id->priv, &pub);
  id->key = nb_wg_key_to_base64 (&pub);
}

static void
ident_clear (Ident *id)
{
  nb_wg_key_clear (&id->priv);
  g_clear_pointer (&id->key, g_free);
}

static NbMgmtClient *
client_new (const Ident *id, const char *setup_key)
{
  g_autoptr (GError) error = NULL;
  NbMgmtClient *client = nb_mgmt_client_new (server.url, &id->priv, &error);

  g_assert_no_error (error);
  g_assert_cmpstr (nb_mgmt_client_get_public_key (client), ==, id->key);
  nb_mgmt_client_set_hostname (client, "nb-test-host");
  nb_mgmt_client_set_setup_key (client, setup_key);
  nb_mgmt_client_set_backoff (client, 100, 400);
  return client;
}

typedef struct {
  NbNetworkMap *map;
  GError *error;
  gboolean done;
} LoginResult;

static void
login_done_cb (GObject *source, GAsyncResult *result, gpointer data)
{
  LoginResult *r = data;

  r->map = nb_mgmt_client_login_finish (NB_MGMT_CLIENT (source), result, &r->error);
  g_assert_true ((r->map == NULL) != (r->error == NULL));
  r->done = TRUE;
}

static NbNetworkMap *
client_login (NbMgmtClient *client, GError **error)
{
  LoginResult r = { 0 };

  nb_mgmt_client_login_async (client, NULL, login_done_cb, &r);
  g_assert_false (r.done);
  RUN_UNTIL (r.done);
  if (r.error)
    g_propagate_error (error, r.error);
  return r.map;
}

/* A client for a newly registered key. */
static NbMgmtClient *
registered_client (const Ident *id)
{
  g_autoptr (GError) error = NULL;
  NbMgmtClient *client = client_new (id, SETUP_KEY);
  g_autoptr (NbNetworkMap) map = client_login (client, &error);

  g_assert_no_error (error);
  g_assert_nonnull (map);
  return client;
}

typedef struct {
  guint maps;
  guint configs;
  guint peer_events;
  guint disconnected;
  guint reconnected;
  guint login_expired;
  guint peer_removed;
  NbNetworkMap *map;          /* copy of the last "network-map" */
  NbNetbirdConfig *config;    /* copy of the last "config-changed" */
  char **added;               /* keys of the last "peers-changed" */
  char **removed;
  char **updated;
  GError *error;              /* last disconnected/removed/expired reason */
} Recorder;

static void
on_network_map (NbMgmtClient *client, const NbNetworkMap *map, Recorder *rec)
{
  g_assert_nonnull (map);
  g_clear_pointer (&rec->map, nb_network_map_free);
  rec->map = nb_network_map_copy (map);
  rec->maps++;
}

static void
on_config_changed (NbMgmtClient *client, const NbNetbirdConfig *config, Recorder *rec)
{
  g_clear_pointer (&rec->config, nb_netbird_config_free);
  rec->config = nb_netbird_config_copy (config);
  rec->configs++;
}

static char **
keys_of (GPtrArray *peers)
{
  GPtrArray *keys = g_ptr_array_new ();

  for (guint i = 0; i < peers->len; i++)
    g_ptr_array_add (keys, g_strdup (((NbRemotePeer *) peers->pdata[i])->key));
  g_ptr_array_add (keys, NULL);
  return (char **) g_ptr_array_free (keys, FALSE);
}

static void
on_peers_changed (NbMgmtClient *client, GPtrArray *added, GPtrArray *removed, GPtrArray *updated,
                  Recorder *rec)
{
  g_strfreev (rec->added);
  g_strfreev (rec->removed);
  g_strfreev (rec->updated);
  rec->added = keys_of (added);
  rec->removed = keys_of (removed);
  rec->updated = keys_of (updated);
  rec->peer_events++;
}

static void
record_error (Recorder *rec, const GError *error)
{
  g_assert_nonnull (error);
  g_clear_error (&rec->error);
  rec->error = g_error_copy (error);
}

static void
on_disconnected (NbMgmtClient *client, const GError *error, Recorder *rec)
{
  record_error (rec, error);
  rec->disconnected++;
}

static void
on_reconnected (NbMgmtClient *client, Recorder *rec)
{
  rec->reconnected++;
}

static void
on_login_expired (NbMgmtClient *client, const GError *error, Recorder *rec)
{
  record_error (rec, error);
  rec->login_expired++;
}

static void
on_peer_removed (NbMgmtClient *client, const GError *error, Recorder *rec)
{
  record_error (rec, error);
  rec->peer_removed++;
}

static void
recorder_attach (Recorder *rec, NbMgmtClient *client)
{
  g_signal_connect (client, "network-map", G_CALLBACK (on_network_map), rec);
  g_signal_connect (client, "config-changed", G_CALLBACK (on_config_changed), rec);
  g_signal_connect (client, "peers-changed", G_CALLBACK (on_peers_changed), rec);
  g_signal_connect (client, "disconnected", G_CALLBACK (on_disconnected), rec);
  g_signal_connect (client, "reconnected", G_CALLBACK (on_reconnected), rec);
  g_signal_connect (client, "login-expired", G_CALLBACK (on_login_expired), rec);
  g_signal_connect (client, "peer-removed", G_CALLBACK (on_peer_removed), rec);
}

static void
recorder_clear (Recorder *rec)
{
  g_clear_pointer (&rec->map, nb_network_map_free);
  g_clear_pointer (&rec->config, nb_netbird_config_free);
  g_clear_pointer (&rec->added, g_strfreev);
  g_clear_pointer (&rec->removed, g_strfreev);
  g_clear_pointer (&rec->updated, g_strfreev);
  g_clear_error (&rec->error);
}

static void
assert_keys (char **keys, ...)
{
  va_list ap;
  guint n = 0;

  va_start (ap, keys);
  for (const char *k = va_arg (ap, const char *); k; k = va_arg (ap, const char *))
    {
      g_assert_true (g_strv_contains ((const char *const *) keys, k));
      n++;
    }
  va_end (ap);
  g_assert_cmpuint (g_strv_length (keys), ==, n);
}

/* ------------------------------------------------------------------------ */
/* Network map JSON for the server (SyncResponse, protobufjs field names) */

static Ident peers[6];
#define PEER(i) (peers[(i)].key)

typedef struct {
  int peer;            /* index into peers[] */
  const char *ip;
  const char *fqdn;
} PeerSpec;

static void
append_peer (GString *json, const PeerSpec *p)
{
  g_string_append_printf (json, "{\"wgPubKey\":\"%s\",\"allowedIps\":[\"%s\"],\"fqdn\":\"%s\","
                                "\"agentVersion\":\"0.36.5\"}",
                          PEER (p->peer), p->ip, p->fqdn);
}

/* {"NetworkMap":{Serial, peerConfig, remotePeers [, remotePeersIsEmpty]}} */
static char *
map_json (guint64 serial, gboolean empty_flag, const PeerSpec *list, guint n)
{
  GString *json = g_string_new (NULL);

  g_string_append_printf (json, "{\"NetworkMap\":{\"Serial\":%" G_GUINT64_FORMAT ","
                                "\"peerConfig\":{\"address\":\"100.64.0.100/16\","
                                "\"fqdn\":\"me.netbird.test\",\"mtu\":1380},"
                                "\"remotePeersIsEmpty\":%s,\"remotePeers\":[",
                          serial, empty_flag ? "true" : "false");
  for (guint i = 0; i < n; i++)
    {
      if (i)
        g_string_append_c (json, ',');
      append_peer (json, &list[i]);
    }
  g_string_append (json, "]}}");
  return g_string_free (json, FALSE);
}

static char *
config_json (const char *turn_password, const char *relay_token)
{
  return g_strdup_printf ("{\"stuns\":[{\"uri\":\"stun:stun.example.net:3478\",\"protocol\":0}],"
                          "\"turns\":[{\"hostConfig\":{\"uri\":\"turn:turn.example.net:3478?transport=udp\","
                          "\"protocol\":0},\"user\":\"1700000000:peer\",\"password\":\"%s\"}],"
                          "\"signal\":{\"uri\":\"signal.example.net:443\",\"protocol\":3},"
                          "\"relay\":{\"urls\":[\"rels://relay.example.net:443\"],"
                          "\"tokenPayload\":\"%s\",\"tokenSignature\":\"sig-%s\"}}",
                          turn_password, relay_token, relay_token);
}

static void
push_map (guint64 serial, gboolean empty_flag, const PeerSpec *list, guint n, gint64 expect_streams)
{
  g_autofree char *json = map_json (serial, empty_flag, list, n);
  g_autofree char *reply = server_cmd ("push-map %s", json);

  if (expect_streams >= 0)
    g_assert_cmpint (json_int (reply, "streams"), ==, expect_streams);
}

static const PeerSpec three_peers[] = {
  { 0, "100.64.0.1/32", "a.netbird.test" },
  { 1, "100.64.0.2/32", "b.netbird.test" },
  { 2, "100.64.0.3/32", "c.netbird.test" },
};

/* A registered, syncing client that received the first map (three_peers,
 * serial 1). */
static NbMgmtClient *
syncing_client (Ident *id, Recorder *rec)
{
  NbMgmtClient *client = registered_client (id);

  recorder_attach (rec, client);
  push_map (1, FALSE, three_peers, G_N_ELEMENTS (three_peers), -1);
  nb_mgmt_client_start_sync (client);
  WAIT_COUNT (rec->maps, 1);
  g_assert_true (nb_mgmt_client_is_connected (client));
  g_assert_cmpuint (rec->peer_events, ==, 1);
  return client;
}

/* ------------------------------------------------------------------------ */
/* Tests: login */

static void
test_setup_key_validation (void)
{
  g_assert_true (nb_setup_key_is_valid (SETUP_KEY));
  g_assert_true (nb_setup_key_is_valid ("a2c8e62b-38f5-4553-b31e-dd66c696cebb"));
  g_assert_false (nb_setup_key_is_valid (NULL));
  g_assert_false (nb_setup_key_is_valid (""));
  g_assert_false (nb_setup_key_is_valid ("A2C8E62B38F54553B31EDD66C696CEBB"));
  g_assert_false (nb_setup_key_is_valid ("A2C8E62B-38F5-4553-B31E-DD66C696CEBG"));
  g_assert_false (nb_setup_key_is_valid ("A2C8E62B-38F5-4553-B31E-DD66C696CEBB "));
  g_assert_false (nb_setup_key_is_valid ("{A2C8E62B-38F5-4553-B31E-DD66C696CEB}"));
  g_assert_false (nb_setup_key_is_valid ("A2C8E62B-38F5-4553-B31EDD-66C696CEBB"));
}

static void
test_os_release (void)
{
  g_autofree char *name = NULL;
  g_autofree char *version = NULL;

  nb_os_release_parse ("PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\n"
                       "VERSION_ID=\"12\"\nID=debian\n", &name, &version);
  g_assert_cmpstr (name, ==, "Debian GNU/Linux");
  g_assert_cmpstr (version, ==, "12");
  g_clear_pointer (&name, g_free);
  g_clear_pointer (&version, g_free);
  nb_os_release_parse ("NAME=Fedora Linux\nVERSION_ID='40'\n", &name, &version);
  g_assert_cmpstr (name, ==, "Fedora Linux");
  g_assert_cmpstr (version, ==, "40");
  g_clear_pointer (&name, g_free);
  g_clear_pointer (&version, g_free);
  nb_os_release_parse ("", &name, &version);
  g_assert_cmpstr (name, ==, "");
  g_assert_cmpstr (version, ==, "");
}

static void
test_system_info (void)
{
  g_autoptr (NbSystemInfo) info = nb_system_info_collect ("1.2.3");
  struct utsname uts;

  g_assert_cmpint (uname (&uts), ==, 0);
  g_assert_cmpstr (info->go_os, ==, "linux");
  g_assert_cmpstr (info->kernel, ==, "Linux");
  g_assert_cmpstr (info->platform, ==, uts.machine);
  g_assert_cmpstr (info->kernel_version, ==, uts.release);
  g_assert_cmpstr (info->hostname, ==, uts.nodename);
  g_assert_cmpstr (info->netbird_version, ==, "1.2.3");
  g_assert_cmpstr (info->os, !=, "");
  for (guint i = 0; i < info->network_addresses->len; i++)
    {
      const NbNetworkAddress *a = info->network_addresses->pdata[i];

      g_assert_nonnull (strchr (a->net_ip, '/'));
      g_assert_cmpuint (strlen (a->mac), >=, 2);
      g_assert_false (g_str_has_prefix (a->net_ip, "127."));
    }
}

static void
test_setup_key_registers (void)
{
  Ident id;
  g_autoptr (GError) error = NULL;
  g_autoptr (NbMgmtClient) client = NULL;
  g_autoptr (NbNetworkMap) map = NULL;
  g_autofree char *login = NULL;
  g_autofree char *expect = NULL;
  const NbTurnConfig *turn;
  struct utsname uts;

  ident_init (&id);
  g_free (server_cmd ("reset-stats"));
  client = client_new (&id, SETUP_KEY);
  map = client_login (client, &error);
  g_assert_no_error (error);
  g_assert_false (map->has_map);
  g_assert_nonnull (map->own);
  g_assert_true (g_str_has_prefix (map->own->address, "100.64.0."));
  g_assert_true (g_str_has_suffix (map->own->address, "/16"));
  g_assert_true (g_str_has_suffix (map->own->fqdn, ".netbird.test"));
  g_assert_cmpstr (map->own->dns_domain, ==, "netbird.test");
  g_assert_cmpuint (map->own->mtu, ==, 1280);
  g_assert_nonnull (map->config);
  g_assert_cmpuint (map->config->stuns->len, ==, 1);
  turn = map->config->turns->pdata[0];
  g_assert_cmpstr (turn->user, ==, "login-user");
  g_assert_cmpstr (turn->password, ==, "login-pass");
  g_assert_cmpstr (map->config->signal->uri, ==, "signal.netbird.test:443");
  g_assert_cmpstr (map->config->relay->token_payload, ==, "login-token");
  g_assert_nonnull (nb_mgmt_client_get_network_map (client));

  /* One server key, a Login without and one with the setup key. */
  g_assert_cmpint (server_stat ("getServerKey"), ==, 1);
  g_assert_cmpint (server_stat ("login"), ==, 2);
  g_assert_cmpint (server_stat ("loginWithSetupKey"), ==, 1);
  g_assert_cmpint (server_stat ("registered"), ==, 1);
  g_assert_cmpint (server_stat ("badRequests"), ==, 0);

  /* What the server saw (it checked the sealing and PeerKeys itself). */
  login = server_cmd ("last-login");
  g_assert_cmpint (uname (&uts), ==, 0);
  g_assert_nonnull (strstr (login, "\"setupKeyPresent\":true"));
  expect = g_strdup_printf ("\"peerKeysWgPubKey\":\"%s\"", id.key);
  g_assert_nonnull (strstr (login, expect));
  g_assert_nonnull (strstr (login, "\"hostname\":\"nb-test-host\""));
  g_assert_nonnull (strstr (login, "\"goOS\":\"linux\""));
  g_assert_nonnull (strstr (login, "\"kernel\":\"Linux\""));
  g_clear_pointer (&expect, g_free);
  expect = g_strdup_printf ("\"platform\":\"%s\"", uts.machine);
  g_assert_nonnull (strstr (login, expect));
  g_clear_pointer (&expect, g_free);
  expect = g_strdup_printf ("\"kernelVersion\":\"%s\"", uts.release);
  g_assert_nonnull (strstr (login, expect));
  g_assert_nonnull (strstr (login, "\"netbirdVersion\":\"" PACKAGE_VERSION "\""));
  g_assert_nonnull (strstr (login, "\"capabilities\":[1]"));
  g_assert_null (strstr (login, SETUP_KEY));

  /* A second client with the same key and no setup key just logs in. */
  g_clear_object (&client);
  g_clear_pointer (&map, nb_network_map_free);
  g_free (server_cmd ("reset-stats"));
  client = client_new (&id, NULL);
  map = client_login (client, &error);
  g_assert_no_error (error);
  g_assert_nonnull (map->own);
  g_assert_cmpint (server_stat ("login"), ==, 1);
  g_assert_cmpint (server_stat ("loginWithSetupKey"), ==, 0);
  g_assert_cmpint (server_stat ("registered"), ==, 0);
  g_clear_pointer (&login, g_free);
  login = server_cmd ("last-login");
  g_assert_nonnull (strstr (login, "\"setupKeyPresent\":false"));

  /* A configured setup key is not used when the login works without it. */
  g_clear_object (&client);
  g_clear_pointer (&map, nb_network_map_free);
  g_free (server_cmd ("reset-stats"));
  client = client_new (&id, SETUP_KEY);
  map = client_login (client, &error);
  g_assert_no_error (error);
  g_assert_cmpint (server_stat ("login"), ==, 1);
  g_assert_cmpint (server_stat ("loginWithSetupKey"), ==, 0);
  ident_clear (&id);
}

static void
test_wrong_setup_key (void)
{
  Ident id;
  g_autoptr (GError) error = NULL;
  g_autoptr (NbMgmtClient) client = NULL;
  g_autoptr (NbNetworkMap) map = NULL;

  ident_init (&id);
  g_free (server_cmd ("reset-stats"));
  client = client_new (&id, "00000000-0000-4000-8000-000000000000");
  map = client_login (client, &error);
  g_assert_null (map);
  g_assert_error (error, NB_MGMT_CLIENT_ERROR, NB_MGMT_CLIENT_ERROR_SETUP_KEY_REJECTED);
  g_assert_nonnull (strstr (error->message, "rejected the setup key"));
  g_assert_nonnull (strstr (error->message, "invalid setup key"));
  g_assert_null (strstr (error->message, "00000000-0000"));
  g_assert_cmpint (server_stat ("login"), ==, 2);
  g_assert_cmpint (server_stat ("loginWithSetupKey"), ==, 1);
  g_assert_false (nb_mgmt_client_is_running (client));

  /* Final: nothing retries behind our back. */
  run_for (1000);
  g_assert_cmpint (server_stat ("login"), ==, 2);
  g_assert_cmpint (server_stat ("getServerKey"), ==, 1);
  g_assert_cmpint (server_stat ("registered"), ==, 0);
  ident_clear (&id);
}

static void
test_malformed_setup_key (void)
{
  static const char *const bad[] = {
    "not-a-uuid",
    "A2C8E62B38F54553B31EDD66C696CEBB",
    "A2C8E62B-38F5-4553-B31E-DD66C696CEBG",
    " A2C8E62B-38F5-4553-B31E-DD66C696CEBB",
  };
  Ident id;

  ident_init (&id);
  g_free (server_cmd ("reset-stats"));
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (NbMgmtClient) client = client_new (&id, bad[i]);
      g_autoptr (NbNetworkMap) map = client_login (client, &error);

      g_assert_null (map);
      g_assert_error (error, NB_MGMT_CLIENT_ERROR, NB_MGMT_CLIENT_ERROR_INVALID_SETUP_KEY);
      g_assert_null (strstr (error->message, bad[i]));
    }
  /* Rejected before any call. */
  g_assert_cmpint (server_stat ("getServerKey"), ==, 0);
  g_assert_cmpint (server_stat ("login"), ==, 0);
  ident_clear (&id);
}

static void
test_not_registered (void)
{
  Ident id;
  g_autoptr (GError) error = NULL;
  g_autoptr (NbMgmtClient) client = NULL;
  g_autoptr (NbNetworkMap) map = NULL;

  ident_init (&id);
  g_free (server_cmd ("reset-stats"));
  client = client_new (&id, NULL);
  map = client_login (client, &error);
  g_assert_null (map);
  g_assert_error (error, NB_MGMT_CLIENT_ERROR, NB_MGMT_CLIENT_ERROR_NOT_REGISTERED);
  g_assert_nonnull (strstr (error->message, "peer is not registered"));
  g_assert_cmpint (server_stat ("login"), ==, 1);
  ident_clear (&id);
}

static void
logout_done_cb (GObject *source, GAsyncResult *result, gpointer data)
{
  LoginResult *r = data;

  g_assert_true (nb_mgmt_client_logout_finish (NB_MGMT_CLIENT (source), result, &r->error) ==
                 (r->error == NULL));
  r->done = TRUE;
}

static void
test_logout (void)
{
  Ident id;
  g_autoptr (GError) error = NULL;
  g_autoptr (NbMgmtClient) client = NULL;
  g_autoptr (NbMgmtClient) again = NULL;
  g_autoptr (NbNetworkMap) map = NULL;
  LoginResult r = { 0 };

  ident_init (&id);
  client = registered_client (&id);
  g_free (server_cmd ("reset-stats"));
  nb_mgmt_client_logout_async (client, NULL, logout_done_cb, &r);
  RUN_UNTIL (r.done);
  g_assert_no_error (r.error);
  g_assert_cmpint (server_stat ("logout"), ==, 1);
  g_assert_cmpint (server_stat ("badRequests"), ==, 0);

  again = client_new (&id, NULL);
  map = client_login (again, &error);
  g_assert_error (error, NB_MGMT_CLIENT_ERROR, NB_MGMT_CLIENT_ERROR_NOT_REGISTERED);
  ident_clear (&id);
}

/* ------------------------------------------------------------------------ */
/* Tests: sync */

static void
test_first_map (void)
{
  Ident id;
  Recorder rec = { 0 };
  g_autoptr (NbMgmtClient) client = NULL;
  g_autofree char *config = config_json ("sync-pass", "sync-token");
  g_autofree char *json = NULL;
  const NbNetworkMap *map;
  const NbRemotePeer *peer;
  const NbTurnConfig *turn;
  const NbRoute *route;

  ident_init (&id);
  client = registered_client (&id);
  recorder_attach (&rec, client);
  json = g_strdup_printf (
    "{\"netbirdConfig\":%s,\"NetworkMap\":{\"Serial\":17,"
    "\"peerConfig\":{\"address\":\"100.64.0.100/16\",\"fqdn\":\"me.netbird.test\",\"mtu\":1380},"
    "\"remotePeers\":[{\"wgPubKey\":\"%s\",\"allowedIps\":[\"100.64.0.1/32\"],\"fqdn\":\"a.netbird.test\","
    "\"agentVersion\":\"0.36.5\"},{\"wgPubKey\":\"%s\",\"allowedIps\":[\"100.64.0.2/32\",\"10.1.0.0/16\"],"
    "\"fqdn\":\"b.netbird.test\"},{\"wgPubKey\":\"not-a-key\",\"allowedIps\":[\"100.64.0.9/32\"]}],"
    "\"offlinePeers\":[{\"wgPubKey\":\"%s\",\"allowedIps\":[\"100.64.0.3/32\"],\"fqdn\":\"c.netbird.test\"}],"
    "\"Routes\":[{\"ID\":\"r1\",\"Network\":\"192.168.50.0/24\",\"NetworkType\":1,\"Peer\":\"%s\","
    "\"Metric\":100,\"Masquerade\":true,\"NetID\":\"lan\"}],"
    "\"DNSConfig\":{\"ServiceEnable\":true,\"NameServerGroups\":[{\"NameServers\":[{\"IP\":\"9.9.9.9\","
    "\"NSType\":1,\"Port\":53}],\"Primary\":true}],\"CustomZones\":[{\"Domain\":\"netbird.test\","
    "\"Records\":[{\"Name\":\"a.netbird.test\",\"Type\":1,\"Class\":\"IN\",\"TTL\":300,"
    "\"RData\":\"100.64.0.1\"}]}]},"
    "\"FirewallRules\":[{\"PeerIP\":\"100.64.0.1\",\"Direction\":0,\"Action\":0,\"Protocol\":1}]}}",
    config, PEER (0), PEER (1), PEER (2), PEER (1));
  g_free (server_cmd ("push-map %s", json));

  nb_mgmt_client_start_sync (client);
  g_assert_true (nb_mgmt_client_is_running (client));
  WAIT_COUNT (rec.maps, 1);
  g_assert_true (nb_mgmt_client_is_connected (client));

  map = rec.map;
  g_assert_true (map->has_map);
  g_assert_cmpuint (map->serial, ==, 17);
  g_assert_cmpstr (map->own->address, ==, "100.64.0.100/16");
  g_assert_cmpuint (map->own->mtu, ==, 1380);
  g_assert_cmpuint (map->peers->len, ==, 2);
  peer = nb_network_map_find_peer (map, PEER (1));
  g_assert_nonnull (peer);
  g_assert_cmpstr (peer->allowed_ips[1], ==, "10.1.0.0/16");
  g_assert_cmpstr (peer->fqdn, ==, "b.netbird.test");
  g_assert_cmpuint (map->offline_peers->len, ==, 1);
  g_assert_cmpuint (map->routes->len, ==, 1);
  route = map->routes->pdata[0];
  g_assert_cmpstr (route->network, ==, "192.168.50.0/24");
  g_assert_cmpstr (route->peer, ==, PEER (1));
  g_assert_true (route->masquerade);
  g_assert_true (map->dns->service_enable);
  g_assert_cmpuint (map->dns->custom_zones->len, ==, 1);
  g_assert_cmpuint (map->n_skipped, ==, 1);

  g_assert_nonnull (map->config);
  g_assert_cmpstr (((NbHostConfig *) map->config->stuns->pdata[0])->uri, ==, "stun:stun.example.net:3478");
  turn = map->config->turns->pdata[0];
  g_assert_cmpstr (turn->uri, ==, "turn:turn.example.net:3478?transport=udp");
  g_assert_cmpstr (turn->user, ==, "1700000000:peer");
  g_assert_cmpstr (turn->password, ==, "sync-pass");
  g_assert_cmpstr (map->config->signal->uri, ==, "signal.example.net:443");
  g_assert_cmpint (map->config->signal->protocol, ==, NB_HOST_PROTOCOL_HTTPS);
  g_assert_cmpstr (map->config->relay->urls[0], ==, "rels://relay.example.net:443");
  g_assert_cmpstr (map->config->relay->token_payload, ==, "sync-token");
  g_assert_cmpstr (map->config->relay->token_signature, ==, "sig-sync-token");

  /* The login's config was different: reported as a change. */
  g_assert_cmpuint (rec.configs, ==, 1);
  g_assert_cmpuint (rec.peer_events, ==, 1);
  assert_keys (rec.added, PEER (0), PEER (1), NULL);
  assert_keys (rec.removed, NULL);
  g_assert_cmpuint (rec.disconnected, ==, 0);

  nb_mgmt_client_stop (client);
  g_assert_false (nb_mgmt_client_is_running (client));
  drain_context ();
  recorder_clear (&rec);
  ident_clear (&id);
}

static void
test_peer_changes (void)
{
  Ident id;
  Recorder rec = { 0 };
  g_autoptr (NbMgmtClient) client = NULL;
  static const PeerSpec serial2[] = {
    { 0, "100.64.0.1/32", "a.netbird.test" },    /* same */
    { 1, "100.64.0.22/32", "b.netbird.test" },   /* allowed IPs changed */
    { 3, "100.64.0.4/32", "d.netbird.test" },    /* new; c removed */
  };
  static const PeerSpec stale[] = {
    { 4, "100.64.0.5/32", "e.netbird.test" },
  };
  static const PeerSpec serial3[] = {
    { 0, "100.64.0.1/32", "a.netbird.test" },
    { 1, "100.64.0.22/32", "b.netbird.test" },
    { 3, "100.64.0.4/32", "d2.netbird.test" },   /* fqdn changed */
  };

  ident_init (&id);
  client = syncing_client (&id, &rec);
  assert_keys (rec.added, PEER (0), PEER (1), PEER (2), NULL);

  push_map (2, FALSE, serial2, G_N_ELEMENTS (serial2), 1);
  WAIT_COUNT (rec.peer_events, 2);
  assert_keys (rec.added, PEER (3), NULL);
  assert_keys (rec.removed, PEER (2), NULL);
  assert_keys (rec.updated, PEER (1), NULL);
  g_assert_cmpuint (rec.maps, ==, 2);
  g_assert_cmpuint (rec.map->serial, ==, 2);

  /* An older serial is ignored; the next real change is the next event. */
  push_map (1, FALSE, stale, G_N_ELEMENTS (stale), 1);
  push_map (3, FALSE, serial3, G_N_ELEMENTS (serial3), 1);
  WAIT_COUNT (rec.peer_events, 3);
  assert_keys (rec.added, NULL);
  assert_keys (rec.removed, NULL);
  assert_keys (rec.updated, PEER (3), NULL);
  g_assert_cmpuint (rec.maps, ==, 3);
  g_assert_cmpuint (rec.map->serial, ==, 3);
  g_assert_null (nb_network_map_find_peer (rec.map, PEER (4)));

  /* The same map again, and a map without peers (and without
   * remotePeersIsEmpty) change nothing; remotePeersIsEmpty removes all. */
  push_map (3, FALSE, serial3, G_N_ELEMENTS (serial3), 1);
  push_map (4, FALSE, NULL, 0, 1);
  push_map (5, TRUE, NULL, 0, 1);
  WAIT_COUNT (rec.peer_events, 4);
  assert_keys (rec.removed, PEER (0), PEER (1), PEER (3), NULL);
  assert_keys (rec.added, NULL);
  g_assert_cmpuint (rec.map->serial, ==, 5);
  g_assert_cmpuint (rec.map->peers->len, ==, 0);
  g_assert_cmpuint (nb_mgmt_client_get_network_map (client)->serial, ==, 5);
  g_assert_cmpuint (rec.disconnected, ==, 0);

  g_clear_object (&client);
  drain_context ();
  recorder_clear (&rec);
  ident_clear (&id);
}

static void
test_config_refresh (void)
{
  Ident id;
  Recorder rec = { 0 };
  g_autoptr (NbMgmtClient) client = NULL;
  g_autofree char *config = config_json ("refreshed-pass", "refreshed-token");
  const NbTurnConfig *turn;
  guint maps, peer_events, configs;

  ident_init (&id);
  client = syncing_client (&id, &rec);
  maps = rec.maps;
  peer_events = rec.peer_events;
  configs = rec.configs;

  g_free (server_cmd ("push-config %s", config));
  WAIT_COUNT (rec.configs, configs + 1);
  turn = rec.config->turns->pdata[0];
  g_assert_cmpstr (turn->password, ==, "refreshed-pass");
  g_assert_cmpstr (rec.config->relay->token_payload, ==, "refreshed-token");
  g_assert_cmpuint (rec.peer_events, ==, peer_events);
  g_assert_cmpuint (rec.maps, ==, maps + 1);
  g_assert_cmpuint (rec.map->serial, ==, 1);
  g_assert_cmpuint (rec.map->peers->len, ==, 3);

  /* The same config again: nothing. */
  g_free (server_cmd ("push-config %s", config));
  push_map (2, FALSE, three_peers, 1, 1);
  WAIT_COUNT (rec.peer_events, peer_events + 1);
  g_assert_cmpuint (rec.configs, ==, configs + 1);

  g_clear_object (&client);
  drain_context ();
  recorder_clear (&rec);
  ident_clear (&id);
}

static void
test_malformed_messages (void)
{
  static const char *const kinds[] = { "garbage", "garbage-body", "short-body", "wrong-key", "sealed-garbage" };
  static const PeerSpec serial2[] = {
    { 0, "100.64.0.1/32", "a.netbird.test" },
    { 1, "100.64.0.2/32", "b.netbird.test" },
    { 2, "100.64.0.3/32", "c.netbird.test" },
    { 5, "100.64.0.6/32", "f.netbird.test" },
  };
  Ident id;
  Recorder rec = { 0 };
  g_autoptr (NbMgmtClient) client = NULL;

  ident_init (&id);
  client = syncing_client (&id, &rec);

  for (guint i = 0; i < G_N_ELEMENTS (kinds); i++)
    {
      g_autofree char *reply = server_cmd ("push-raw %s", kinds[i]);

      g_assert_cmpint (json_int (reply, "streams"), ==, 1);
    }
  /* The "wrong-key" message would have emptied the map with serial 999999;
   * dropped, the next valid message applies. */
  push_map (2, FALSE, serial2, G_N_ELEMENTS (serial2), 1);
  WAIT_COUNT (rec.peer_events, 2);
  assert_keys (rec.added, PEER (5), NULL);
  assert_keys (rec.removed, NULL);
  g_assert_cmpuint (rec.map->serial, ==, 2);
  g_assert_cmpuint (rec.maps, ==, 2);
  g_assert_cmpuint (rec.disconnected, ==, 0);
  g_assert_true (nb_mgmt_client_is_connected (client));

  g_clear_object (&client);
  drain_context ();
  recorder_clear (&rec);
  ident_clear (&id);
}

static void
test_server_restart (void)
{
  static const PeerSpec serial2[] = {
    { 0, "100.64.0.1/32", "a.netbird.test" },
    { 2, "100.64.0.3/32", "c.netbird.test" },
  };
  Ident id;
  Recorder rec = { 0 };
  g_autoptr (NbMgmtClient) client = NULL;
  g_autofree char *reply = NULL;

  ident_init (&id);
  client = syncing_client (&id, &rec);
  g_free (server_cmd ("reset-stats"));

  /* Down for 300 ms, back with a new server key. */
  reply = server_cmd ("restart 300 rotate");
  g_assert_cmpint (json_int (reply, "port"), ==, server.port);
  WAIT_COUNT (rec.disconnected, 1);
  WAIT_COUNT (rec.reconnected, 1);
  g_assert_nonnull (rec.error);
  g_assert_true (nb_mgmt_client_is_connected (client));
  /* Reconnecting = GetServerKey + Login + Sync again. */
  g_assert_cmpint (server_stat ("getServerKey"), >=, 1);
  g_assert_cmpint (server_stat ("loginOk"), ==, 1);
  g_assert_cmpint (server_stat ("syncOpen"), ==, 1);
  g_assert_cmpint (server_stat ("streams"), ==, 1);
  /* The resync carried the same map: no change reported. */
  run_for (200);
  g_assert_cmpuint (rec.maps, ==, 1);
  g_assert_cmpuint (rec.peer_events, ==, 1);

  /* Updates sealed with the new key are understood. */
  push_map (2, FALSE, serial2, G_N_ELEMENTS (serial2), 1);
  WAIT_COUNT (rec.peer_events, 2);
  assert_keys (rec.removed, PEER (1), NULL);
  g_assert_cmpuint (rec.disconnected, ==, 1);
  g_assert_cmpuint (rec.reconnected, ==, 1);

  /* A stream that just ends is reconnected as well. */
  g_free (server_cmd ("close-stream 0"));
  WAIT_COUNT (rec.disconnected, 2);
  WAIT_COUNT (rec.reconnected, 2);
  g_free (server_cmd ("close-stream 14 try again"));
  WAIT_COUNT (rec.reconnected, 3);
  g_assert_nonnull (strstr (rec.error->message, "try again"));
  g_assert_cmpuint (rec.peer_removed + rec.login_expired, ==, 0);

  g_clear_object (&client);
  drain_context ();
  recorder_clear (&rec);
  ident_clear (&id);
}

static void
test_peer_removed (void)
{
  Ident id;
  Recorder rec = { 0 };
  g_autoptr (NbMgmtClient) client = NULL;

  ident_init (&id);
  client = syncing_client (&id, &rec);
  g_free (server_cmd ("reset-stats"));
  g_free (server_cmd ("close-stream 7 peer is not registered"));
  WAIT_COUNT (rec.peer_removed, 1);
  g_assert_error (rec.error, NB_MGMT_CLIENT_ERROR, NB_MGMT_CLIENT_ERROR_PEER_REMOVED);
  g_assert_nonnull (strstr (rec.error->message, "peer is not registered"));
  g_assert_false (nb_mgmt_client_is_running (client));

  /* No reconnect. */
  run_for (1000);
  g_assert_cmpuint (rec.disconnected, ==, 0);
  g_assert_cmpuint (rec.login_expired, ==, 0);
  g_assert_cmpint (server_stat ("getServerKey"), ==, 0);
  g_assert_cmpint (server_stat ("login"), ==, 0);
  g_assert_cmpint (server_stat ("sync"), ==, 0);
  /* The map stays available. */
  g_assert_cmpuint (nb_mgmt_client_get_network_map (client)->peers->len, ==, 3);

  g_clear_object (&client);
  drain_context ();
  recorder_clear (&rec);
  ident_clear (&id);
}

static void
test_login_expired (void)
{
  Ident id;
  Recorder rec = { 0 };
  g_autoptr (NbMgmtClient) client = NULL;

  ident_init (&id);
  client = syncing_client (&id, &rec);
  g_free (server_cmd ("reset-stats"));
  g_free (server_cmd ("close-stream 7 peer login has expired, please log in once more"));
  WAIT_COUNT (rec.login_expired, 1);
  g_assert_error (rec.error, NB_MGMT_CLIENT_ERROR, NB_MGMT_CLIENT_ERROR_LOGIN_EXPIRED);
  g_assert_false (nb_mgmt_client_is_running (client));
  run_for (600);
  g_assert_cmpuint (rec.peer_removed + rec.disconnected, ==, 0);
  g_assert_cmpint (server_stat ("sync"), ==, 0);

  g_clear_object (&client);
  drain_context ();
  recorder_clear (&rec);
  ident_clear (&id);
}

static void
test_deleted_while_away (void)
{
  Ident id;
  Recorder rec = { 0 };
  g_autoptr (NbMgmtClient) client = NULL;
  g_autofree char *reply = NULL;

  /* The peer is deleted while the server is down: the reconnect login gets
   * PERMISSION_DENIED and the client gives up. */
  ident_init (&id);
  client = syncing_client (&id, &rec);
  g_free (server_cmd ("unregister %s", id.key));
  reply = server_cmd ("restart 100");
  WAIT_COUNT (rec.disconnected, 1);
  WAIT_COUNT (rec.peer_removed, 1);
  g_assert_cmpuint (rec.reconnected, ==, 0);
  g_assert_false (nb_mgmt_client_is_running (client));

  g_clear_object (&client);
  drain_context ();
  recorder_clear (&rec);
  ident_clear (&id);
}

static void
test_start_unregistered (void)
{
  Ident id;
  Recorder rec = { 0 };
  g_autoptr (NbMgmtClient) client = NULL;

  ident_init (&id);
  client = client_new (&id, NULL);
  recorder_attach (&rec, client);
  nb_mgmt_client_start_sync (client);
  WAIT_COUNT (rec.peer_removed, 1);
  g_assert_nonnull (strstr (rec.error->message, "not registered"));
  g_assert_cmpuint (rec.disconnected + rec.maps, ==, 0);
  g_assert_false (nb_mgmt_client_is_running (client));

  g_clear_object (&client);
  drain_context ();
  recorder_clear (&rec);
  ident_clear (&id);
}

static gboolean
connected_cond (gpointer data)
{
  return nb_mgmt_client_is_connected (data);
}

static void
test_drop_while_reconnecting (void)
{
  Ident id;
  Recorder rec = { 0 };
  g_autoptr (NbMgmtClient) client = NULL;
  g_autofree char *reply = NULL;

  ident_init (&id);
  client = syncing_client (&id, &rec);
  /* Down long enough for a few failed attempts; the client goes away in
   * the middle and must not come back. */
  server_send ("restart 800");
  WAIT_COUNT (rec.disconnected, 1);
  run_for (250);
  g_clear_object (&client);
  reply = server_reply ();
  g_free (server_cmd ("reset-stats"));
  run_for (600);
  g_assert_cmpint (server_stat ("getServerKey"), ==, 0);
  g_assert_cmpint (server_stat ("sync"), ==, 0);
  g_assert_cmpuint (rec.reconnected, ==, 0);

  /* stop() + start_sync() resumes from the kept map. */
  client = registered_client (&id);
  recorder_attach (&rec, client);
  nb_mgmt_client_start_sync (client);
  WAIT_COUNT (rec.maps, 2);
  nb_mgmt_client_stop (client);
  g_assert_false (nb_mgmt_client_is_running (client));
  nb_mgmt_client_start_sync (client);
  g_assert_true (run_until_cond (connected_cond, client, WAIT_MS));
  run_for (200);
  g_assert_cmpuint (rec.maps, ==, 2); /* the same map again: nothing new */
  g_assert_cmpuint (rec.disconnected, ==, 1);

  g_clear_object (&client);
  drain_context ();
  recorder_clear (&rec);
  ident_clear (&id);
}

/* ------------------------------------------------------------------------ */

static gboolean
find_node (void)
{
  g_autofree char *why = NULL;
  gboolean found = node_find ("@grpc/grpc-js", &node_dir, &node_bin, &why);

  proto_path = g_build_filename (node_dir, "..", "..", "..", "service", "netbird", "proto", "management.proto", NULL);
  if (!found)
    g_printerr ("SKIP: %s\n", why);
  return found;
}

int
main (int argc, char **argv)
{
  int rc;

  g_test_init (&argc, &argv, NULL);
  /* Dropped messages and refused logins are logged as warnings on purpose. */
  g_log_set_always_fatal (G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);
  if (!find_node ())
    return 77;

  server_start ();
  for (guint i = 0; i < G_N_ELEMENTS (peers); i++)
    ident_init (&peers[i]);

  g_test_add_func ("/mgmt/setup-key-validation", test_setup_key_validation);
  g_test_add_func ("/mgmt/os-release", test_os_release);
  g_test_add_func ("/mgmt/system-info", test_system_info);
  g_test_add_func ("/mgmt/login/setup-key-registers", test_setup_key_registers);
  g_test_add_func ("/mgmt/login/wrong-setup-key", test_wrong_setup_key);
  g_test_add_func ("/mgmt/login/malformed-setup-key", test_malformed_setup_key);
  g_test_add_func ("/mgmt/login/not-registered", test_not_registered);
  g_test_add_func ("/mgmt/logout", test_logout);
  g_test_add_func ("/mgmt/sync/first-map", test_first_map);
  g_test_add_func ("/mgmt/sync/peer-changes", test_peer_changes);
  g_test_add_func ("/mgmt/sync/config-refresh", test_config_refresh);
  g_test_add_func ("/mgmt/sync/malformed-messages", test_malformed_messages);
  g_test_add_func ("/mgmt/sync/server-restart", test_server_restart);
  g_test_add_func ("/mgmt/sync/peer-removed", test_peer_removed);
  g_test_add_func ("/mgmt/sync/login-expired", test_login_expired);
  g_test_add_func ("/mgmt/sync/deleted-while-away", test_deleted_while_away);
  g_test_add_func ("/mgmt/sync/start-unregistered", test_start_unregistered);
  g_test_add_func ("/mgmt/sync/drop-while-reconnecting", test_drop_while_reconnecting);

  rc = g_test_run ();

  for (guint i = 0; i < G_N_ELEMENTS (peers); i++)
    ident_clear (&peers[i]);
  server_stop ();
  g_free (node_dir);
  g_free (node_bin);
  g_free (proto_path);
  return rc;
}
