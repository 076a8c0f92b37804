/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * nb-engine: the whole NetBird peer without NetworkManager, for the
 * end-to-end tests and benchmarks (and for debugging on a real machine).
 * It runs wireguard-go (NbWgUapi) as the engine's WireGuard backend, puts
 * the overlay address on the interface itself (there is no NetworkManager
 * to do it), and reports what the status recorder sees as JSON lines, so
 * that a test can wait for "Connected" and read connect times without
 * parsing logs. The contract of options and lines is the engine/e2e spec
 * (tests/lib/engine.sh uses it):
 *
 *   nb-engine --management-url URL --state-dir DIR [options]
 *     --setup-key-file FILE   --preshared-key-file FILE
 *     --interface NAME (wt0)   --listen-port N (51820)
 *     --wireguard-go PATH     --uapi-dir DIR           --force-relay
 *     --no-direct             --interface-blacklist LIST ("" = none)
 *     --ca-file PEM           --hostname NAME          --stats-interval MS (2000)
 *     --no-address            --exit-node ID|auto|none (auto)
 *     --dns-port N (53)       --no-dns
 *
 * stdout, one object per line, each with "event" and "t_ms" (ms since
 * start): started, peer, peer-removed, service, status (on SIGUSR1),
 * failed (then exit 1), stopped (SIGTERM/SIGINT, exit 0). A peer line is
 * printed when a connection field or identity changes or the active path
 * changes; traffic counters alone print only when the first handshake
 * shows up. Empty strings stand for "none". Usage errors exit 2 with a
 * message on stderr. No secret reaches stdout, stderr or argv: the setup
 * key comes from a file and its buffers are wiped.
 */
#define G_LOG_DOMAIN "nb-engine-cli"

#include "config.h"

#include <glib-unix.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "drain.h"
#include "engine.h"
#include "json-out.h"
#include "nb-sodium.h"
#include "peer-status.h"
#include "wg-uapi.h"

#define MAX_SETUP_KEY_FILE 4096
#define DRAIN_MS           50
/* How long a stop waits for the engine's WireGuard peer removals before
 * wireguard-go goes anyway. */
#define STOP_WAIT_MS       2000

/* ------------------------------------------------------------------------ */
/* Options */

static char *opt_management_url;
static char *opt_state_dir;
static char *opt_setup_key_file;
static char *opt_preshared_key_file;
static char *opt_interface;
static gint opt_listen_port = NB_ENGINE_DEFAULT_LISTEN_PORT;
static char *opt_wireguard_go;
static char *opt_uapi_dir;
static gboolean opt_force_relay;
static gboolean opt_no_direct;
static char *opt_interface_blacklist;
static char *opt_ca_file;
static char *opt_hostname;
static gint opt_stats_interval = NB_ENGINE_DEFAULT_STATS_INTERVAL_MS;
static gboolean opt_no_address;
static char *opt_exit_node;
static gint opt_dns_port = NB_ENGINE_DNS_PORT;
static gboolean opt_no_dns;

static const GOptionEntry option_entries[] = {
  { "management-url", 0, 0, G_OPTION_ARG_STRING, &opt_management_url, "Management URL (required)", "URL" },
  { "state-dir", 0, 0, G_OPTION_ARG_FILENAME, &opt_state_dir, "State directory (required)", "DIR" },
  { "setup-key-file", 0, 0, G_OPTION_ARG_FILENAME, &opt_setup_key_file, "File holding the setup key", "FILE" },
  { "preshared-key-file", 0, 0, G_OPTION_ARG_FILENAME, &opt_preshared_key_file, "File holding a WireGuard pre-shared key for every peer", "FILE" },
  { "interface", 0, 0, G_OPTION_ARG_STRING, &opt_interface, "WireGuard interface (wt0)", "NAME" },
  { "listen-port", 0, 0, G_OPTION_ARG_INT, &opt_listen_port, "WireGuard listen port (51820)", "N" },
  { "wireguard-go", 0, 0, G_OPTION_ARG_FILENAME, &opt_wireguard_go, "wireguard-go program (from PATH)", "PATH" },
  { "uapi-dir", 0, 0, G_OPTION_ARG_FILENAME, &opt_uapi_dir, "UAPI socket directory (/var/run/wireguard)", "DIR" },
  { "force-relay", 0, 0, G_OPTION_ARG_NONE, &opt_force_relay, "No ICE: relay server only", NULL },
  { "dns-port", 0, 0, G_OPTION_ARG_INT, &opt_dns_port, "Port of the peer-name resolver on the overlay address (53)", "N" },
  { "no-dns", 0, 0, G_OPTION_ARG_NONE, &opt_no_dns, "Serve no peer names", NULL },
  { "exit-node", 0, 0, G_OPTION_ARG_STRING, &opt_exit_node, "Exit node: a route network ID, auto (management's choice) or none; the default route itself is the user's", "ID" },
  { "no-direct", 0, 0, G_OPTION_ARG_NONE, &opt_no_direct, "Always send WireGuard through the proxy", NULL },
  { "interface-blacklist", 0, 0, G_OPTION_ARG_STRING, &opt_interface_blacklist,
    "Interface name prefixes ICE must not use, comma-separated (\"\" = none)", "LIST" },
  { "ca-file", 0, 0, G_OPTION_ARG_FILENAME, &opt_ca_file, "Trust this CA (PEM) for TLS", "PEM" },
  { "hostname", 0, 0, G_OPTION_ARG_STRING, &opt_hostname, "Hostname sent to management", "NAME" },
  { "stats-interval", 0, 0, G_OPTION_ARG_INT, &opt_stats_interval, "WireGuard stats interval (2000)", "MS" },
  { "no-address", 0, 0, G_OPTION_ARG_NONE, &opt_no_address, "Do not put the overlay address on the interface", NULL },
  { NULL }
};

/* ------------------------------------------------------------------------ */
/* State */

typedef struct _Cli Cli;

/* A peer we print: its connection, for "path-changed". */
typedef struct {
  Cli *cli;
  char *key;
  NbPeerConn *conn;
  gulong path_id;
  gboolean handshake_seen;
  int last_path;                /* NbPeerPath printed last, -1: none yet */
  int last_direct;
} PeerWatch;

struct _Cli {
  GMainLoop *loop;
  int exit_code;
  gboolean finishing;
  char *ifname;

  NbWgUapi *wg;
  GCancellable *cancellable;
  NbEngine *engine;
  GCancellable *stop_wait;      /* bounds the wait for the engine's removals */
  guint stop_wait_id;
  NbStatusRecorder *status;
  GHashTable *watches;          /* key -> PeerWatch */

  char *address;                /* on the interface now */
  guint mtu;
  GQueue commands;              /* char ** argv, run one at a time */
  gboolean command_running;
};

static void
peer_watch_free (PeerWatch *w)
{
  if (w->conn)
    {
      g_clear_signal_handler (&w->path_id, w->conn);
      g_object_unref (w->conn);
    }
  g_free (w->key);
  g_free (w);
}

/* ------------------------------------------------------------------------ */
/* Lines */

/* Strings are never null on our lines: "" is "none". */
static void
ev_text (GString *s, const char *key, const char *value)
{
  ev_str (s, key, value ? value : "");
}

static const char *
path_name (NbPeerPath path)
{
  switch (path)
    {
    case NB_PEER_PATH_ICE: return "ice";
    case NB_PEER_PATH_RELAY: return "relay";
    case NB_PEER_PATH_NONE: break;
    }
  return "none";
}

static void
print_peer (Cli *cli, const char *key)
{
  const NbPeerStatus *st = nb_status_recorder_get_peer (cli->status, key);
  NbPeerConn *conn = nb_engine_get_peer_conn (cli->engine, key);
  PeerWatch *w = g_hash_table_lookup (cli->watches, key);
  GString *s;

  if (st == NULL)
    return;
  if (w)
    {
      w->handshake_seen = w->handshake_seen || st->last_handshake != 0;
      w->last_path = conn ? (int) nb_peer_conn_get_active_path (conn) : NB_PEER_PATH_NONE;
      w->last_direct = conn ? nb_peer_conn_is_direct (conn) : FALSE;
    }
  s = ev_begin ("peer");
  ev_text (s, "key", st->key);
  ev_text (s, "ip", st->ip);
  ev_text (s, "fqdn", st->fqdn);
  ev_text (s, "status", nb_peer_conn_status_to_string (st->status));
  ev_text (s, "conn_type", nb_peer_conn_type_to_string (st->conn_type));
  ev_text (s, "ice", nb_peer_path_status_to_string (st->ice_status));
  ev_text (s, "relay", nb_peer_path_status_to_string (st->relay_status));
  ev_text (s, "local_type", st->local_candidate_type);
  ev_text (s, "remote_type", st->remote_candidate_type);
  ev_text (s, "local_endpoint", st->local_endpoint);
  ev_text (s, "remote_endpoint", st->remote_endpoint);
  ev_text (s, "relay_address", st->relay_address);
  ev_text (s, "path", path_name (conn ? nb_peer_conn_get_active_path (conn) : NB_PEER_PATH_NONE));
  ev_bool (s, "direct", conn ? nb_peer_conn_is_direct (conn) : FALSE);
  ev_int (s, "last_handshake", st->last_handshake);
  ev_int (s, "rx_bytes", (gint64) st->rx_bytes);
  ev_int (s, "tx_bytes", (gint64) st->tx_bytes);
  ev_end (s);
}

static void
on_path_changed (NbPeerConn *conn, gpointer data)
{
  PeerWatch *w = data;

  print_peer (w->cli, w->key);
}

static void
on_peer_added (NbStatusRecorder *status, const char *key, gpointer data)
{
  Cli *cli = data;
  NbPeerConn *conn = nb_engine_get_peer_conn (cli->engine, key);
  PeerWatch *w = g_new0 (PeerWatch, 1);

  w->cli = cli;
  w->key = g_strdup (key);
  w->last_path = w->last_direct = -1;
  if (conn)
    {
      w->conn = g_object_ref (conn);
      w->path_id = g_signal_connect (conn, "path-changed", G_CALLBACK (on_path_changed), w);
    }
  g_hash_table_replace (cli->watches, w->key, w);
  print_peer (cli, key);
}

static void
on_peer_changed (NbStatusRecorder *status, const char *key, guint fields, gpointer data)
{
  Cli *cli = data;
  PeerWatch *w = g_hash_table_lookup (cli->watches, key);
  const NbPeerStatus *st;

  if (fields & (NB_PEER_FIELDS_CONNECTION | NB_PEER_FIELDS_IDENTITY))
    {
      print_peer (cli, key);
      return;
    }
  st = nb_status_recorder_get_peer (status, key);
  if ((fields & NB_PEER_FIELD_LAST_HANDSHAKE) && st && st->last_handshake != 0 && (w == NULL || !w->handshake_seen))
    {
      print_peer (cli, key);
      return;
    }
  /* A path change that has not been printed yet (belt and braces: the
   * connection announces them with "path-changed"). */
  if (w && w->conn
      && (w->last_path != (int) nb_peer_conn_get_active_path (w->conn)
          || w->last_direct != nb_peer_conn_is_direct (w->conn)))
    print_peer (cli, key);
}

static void
on_peer_removed (NbStatusRecorder *status, const char *key, gpointer data)
{
  Cli *cli = data;
  GString *s = ev_begin ("peer-removed");

  ev_text (s, "key", key);
  ev_end (s);
  g_hash_table_remove (cli->watches, key);
}

static void
on_service_changed (NbStatusRecorder *status, guint service, const char *url, gpointer data)
{
  const NbServiceState *state = NULL;
  const char *name = "relay";
  GString *s;

  switch ((NbStatusService) service)
    {
    case NB_STATUS_SERVICE_MANAGEMENT:
      name = "management";
      state = nb_status_recorder_get_management (status);
      break;
    case NB_STATUS_SERVICE_SIGNAL:
      name = "signal";
      state = nb_status_recorder_get_signal (status);
      break;
    case NB_STATUS_SERVICE_RELAY:
      {
        GPtrArray *relays = nb_status_recorder_get_relays (status);

        for (guint i = 0; i < relays->len && state == NULL; i++)
          if (g_strcmp0 (((NbServiceState *) relays->pdata[i])->url, url) == 0)
            state = relays->pdata[i];
      }
      break;
    }
  s = ev_begin ("service");
  ev_text (s, "name", name);
  ev_text (s, "url", url);
  ev_bool (s, "connected", state ? state->connected : FALSE);
  ev_text (s, "error", state ? state->error : NULL);
  ev_end (s);
}

/* ------------------------------------------------------------------------ */
/* Finishing */

static void
wg_stopped_cb (GObject *source, GAsyncResult *result, gpointer data)
{
  Cli *cli = data;
  g_autoptr (GError) error = NULL;

  if (!nb_wg_uapi_stop_finish (NB_WG_UAPI (source), result, &error))
    g_warning ("stopping wireguard-go: %s", error->message);
  g_main_loop_quit (cli->loop);
}

/* After the engine's stop: a check that it left no WireGuard peer behind
 * (requests to wireguard-go are applied in order, so this also waits for
 * removals still queued when the stop's wait ran out). */
static void
wg_barrier_cb (GObject *source, GAsyncResult *result, gpointer data)
{
  Cli *cli = data;
  g_autoptr (NbWgStats) stats = nb_wg_uapi_get_stats_finish (NB_WG_UAPI (source), result, NULL);

  if (stats && stats->peers->len > 0)
    g_warning ("%u WireGuard peers left after the engine stopped", stats->peers->len);
  nb_wg_uapi_stop_async (cli->wg, NULL, wg_stopped_cb, cli);
}

static void
stop_wg (Cli *cli)
{
  if (nb_wg_uapi_is_running (cli->wg))
    nb_wg_uapi_get_stats_async (cli->wg, NULL, wg_barrier_cb, cli);
  else
    nb_wg_uapi_stop_async (cli->wg, NULL, wg_stopped_cb, cli);
}

static gboolean
stop_wait_timeout_cb (gpointer data)
{
  Cli *cli = data;

  cli->stop_wait_id = 0;
  g_cancellable_cancel (cli->stop_wait);
  return G_SOURCE_REMOVE;
}

static void
engine_stopped_cb (GObject *source, GAsyncResult *result, gpointer data)
{
  Cli *cli = data;
  g_autoptr (GError) error = NULL;

  g_clear_handle_id (&cli->stop_wait_id, g_source_remove);
  if (!nb_engine_stop_finish (NB_ENGINE (source), result, &error))
    {
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        g_warning ("the engine's WireGuard peer removals take over %u ms: stopping wireguard-go anyway",
                   STOP_WAIT_MS);
      else
        g_debug ("engine stopped: %s", error->message);  /* logged by the engine */
    }
  stop_wg (cli);
}

/* Engine down (its peers and clients closed, its WireGuard peers removed:
 * wireguard-go gone first would fail the removals), then wireguard-go. */
static void
finish (Cli *cli, int code, const char *error)
{
  if (cli->finishing)
    return;
  cli->finishing = TRUE;
  cli->exit_code = code;
  if (error)
    {
      GString *s = ev_begin ("failed");

      ev_text (s, "error", error);
      ev_end (s);
      /* "failed" is the last line. */
      g_signal_handlers_disconnect_by_data (cli->status, cli);
    }
  g_cancellable_cancel (cli->cancellable);
  g_hash_table_remove_all (cli->watches);
  if (cli->engine == NULL)
    {
      stop_wg (cli);
      return;
    }
  cli->stop_wait = g_cancellable_new ();
  cli->stop_wait_id = g_timeout_add (STOP_WAIT_MS, stop_wait_timeout_cb, cli);
  nb_engine_stop_async (cli->engine, cli->stop_wait, engine_stopped_cb, cli);
}

static gboolean
on_sigterm (gpointer data)
{
  Cli *cli = data;

  g_message ("stopping on a signal");
  finish (cli, 0, NULL);
  return G_SOURCE_CONTINUE;
}

static gboolean
on_sigusr1 (gpointer data)
{
  Cli *cli = data;
  g_autofree char *text = nb_status_recorder_format_detail (cli->status, g_get_real_time ());
  GString *s = ev_begin ("status");

  ev_text (s, "text", text);
  ev_end (s);
  return G_SOURCE_CONTINUE;
}

static void
on_wg_died (NbWgUapi *wg, const GError *reason, gpointer data)
{
  g_autofree char *message = g_strdup_printf ("wireguard-go died: %s", reason ? reason->message : "(no reason)");

  finish (data, 1, message);
}

static void
on_engine_failed (NbEngine *engine, const GError *reason, gpointer data)
{
  finish (data, 1, reason ? reason->message : "the engine failed");
}

/* ------------------------------------------------------------------------ */
/* The overlay address (no NetworkManager here) */

static void run_next_command (Cli *cli);

static void
command_done_cb (GObject *source, GAsyncResult *result, gpointer data)
{
  Cli *cli = data;
  g_autoptr (GError) error = NULL;

  if (!g_subprocess_wait_check_finish (G_SUBPROCESS (source), result, &error))
    g_warning ("ip: %s", error->message);
  cli->command_running = FALSE;
  run_next_command (cli);
}

static void
run_next_command (Cli *cli)
{
  g_auto (GStrv) argv = NULL;
  g_autoptr (GSubprocess) proc = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *line = NULL;

  if (cli->command_running || cli->finishing)
    return;
  argv = g_queue_pop_head (&cli->commands);
  if (argv == NULL)
    return;
  line = g_strjoinv (" ", argv);
  g_debug ("running %s", line);
  proc = g_subprocess_newv ((const char *const *) argv, G_SUBPROCESS_FLAGS_STDOUT_SILENCE, &error);
  if (proc == NULL)
    {
      g_warning ("%s: %s", line, error->message);
      run_next_command (cli);
      return;
    }
  cli->command_running = TRUE;
  g_subprocess_wait_check_async (proc, NULL, command_done_cb, cli);
}

static void
queue_command (Cli *cli, ...)
{
  GPtrArray *argv = g_ptr_array_new ();
  va_list ap;
  const char *arg;

  va_start (ap, cli);
  while ((arg = va_arg (ap, const char *)) != NULL)
    g_ptr_array_add (argv, g_strdup (arg));
  va_end (ap);
  g_ptr_array_add (argv, NULL);
  g_queue_push_tail (&cli->commands, g_ptr_array_free (argv, FALSE));
}

static void
on_network_map (NbEngine *engine, const NbNetworkMap *map, gpointer data)
{
  Cli *cli = data;
  g_autofree char *mtu = NULL;

  if (opt_no_address || map->own == NULL || map->own->address == NULL)
    return;
  if (g_strcmp0 (cli->address, map->own->address) == 0 && cli->mtu == map->own->mtu)
    return;
  if (cli->address && g_strcmp0 (cli->address, map->own->address) != 0)
    queue_command (cli, "ip", "addr", "del", cli->address, "dev", cli->ifname, NULL);
  if (g_strcmp0 (cli->address, map->own->address) != 0)
    {
      g_message ("address %s on %s", map->own->address, cli->ifname);
      queue_command (cli, "ip", "addr", "replace", map->own->address, "dev", cli->ifname, NULL);
    }
  mtu = g_strdup_printf ("%u", map->own->mtu);
  queue_command (cli, "ip", "link", "set", "dev", cli->ifname, "mtu", mtu, "up", NULL);
  g_free (cli->address);
  cli->address = g_strdup (map->own->address);
  cli->mtu = map->own->mtu;
  run_next_command (cli);
}

/* ------------------------------------------------------------------------ */
/* Start: wireguard-go, then the engine */

static void
engine_started_cb (GObject *source, GAsyncResult *result, gpointer data)
{
  Cli *cli = data;
  g_autoptr (GError) error = NULL;
  const NbNetworkMap *map;
  GString *s;

  if (!nb_engine_start_finish (NB_ENGINE (source), result, &error))
    {
      finish (cli, 1, error->message);
      return;
    }
  if (cli->finishing)
    return;
  map = nb_engine_get_network_map (cli->engine);
  s = ev_begin ("started");
  ev_text (s, "key", nb_engine_get_public_key (cli->engine));
  ev_text (s, "address", map && map->own ? map->own->address : NULL);
  ev_text (s, "interface", cli->ifname);
  ev_int (s, "listen_port", opt_listen_port);
  ev_end (s);
}

static void
wg_started_cb (GObject *source, GAsyncResult *result, gpointer data)
{
  Cli *cli = data;
  g_autoptr (GError) error = NULL;

  if (!nb_wg_uapi_start_finish (NB_WG_UAPI (source), result, &error))
    {
      g_autofree char *message = g_strdup_printf ("wireguard-go: %s", error->message);

      finish (cli, 1, message);
      return;
    }
  if (cli->finishing)
    return;
  g_debug ("wireguard-go %d serves %s", (int) nb_wg_uapi_get_pid (cli->wg), cli->ifname);
  nb_engine_start_async (cli->engine, NULL, engine_started_cb, cli);
}

/* ------------------------------------------------------------------------ */

/* A secret from a file (@what: "setup key"), in a buffer the caller wipes. */
static char *
read_secret_file (const char *path, const char *what, GError **error)
{
  g_autoptr (GError) local = NULL;
  char *contents = NULL;
  gsize len = 0;
  char *key;

  if (!g_file_get_contents (path, &contents, &len, &local))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "cannot read the %s file: %s", what, local->message);
      return NULL;
    }
  if (len > MAX_SETUP_KEY_FILE)
    {
      sodium_memzero (contents, len);
      g_free (contents);
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "the %s file %s is too large", what, path);
      return NULL;
    }
  key = g_strdup (g_strstrip (contents));
  sodium_memzero (contents, len);
  g_free (contents);
  if (*key == '\0')
    {
      g_free (key);
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "the %s file %s is empty", what, path);
      return NULL;
    }
  return key;
}

/* "wt,lo" -> {"wt", "lo"}; "" -> {} (filter nothing). */
static char **
parse_blacklist (const char *text)
{
  g_auto (GStrv) parts = g_strsplit (text, ",", -1);
  GPtrArray *out = g_ptr_array_new ();

  for (guint i = 0; parts[i]; i++)
    {
      char *name = g_strstrip (parts[i]);

      if (*name)
        g_ptr_array_add (out, g_strdup (name));
    }
  g_ptr_array_add (out, NULL);
  return (char **) g_ptr_array_free (out, FALSE);
}

static int
usage_error (GOptionContext *context, const char *message)
{
  g_printerr ("nb-engine: %s\n(see nb-engine --help)\n", message);
  return 2;
}

static int
fail_early (const char *message)
{
  GString *s = ev_begin ("failed");

  ev_text (s, "error", message);
  ev_end (s);
  return 1;
}

int
main (int argc, char **argv)
{
  g_autoptr (GOptionContext) context = g_option_context_new ("- a NetBird peer without NetworkManager");
  g_autoptr (GError) error = NULL;
  g_autoptr (GTlsDatabase) tls_database = NULL;
  NbEngineConfig config;
  Cli cli_data = { 0 };
  Cli *cli = &cli_data;
  guint sigterm_id, sigint_id, sigusr1_id;
  int code;

  json_out_init ();
  g_log_writer_default_set_use_stderr (TRUE);
  nb_sodium_init ();

  g_option_context_set_summary (context,
                                "Runs the NetBird peer engine with wireguard-go and prints one JSON object\n"
                                "per line and event on stdout. The setup key is read from a file only.");
  g_option_context_add_main_entries (context, option_entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    return usage_error (context, error->message);
  if (argc > 1)
    {
      g_autofree char *message = g_strdup_printf ("unexpected argument %s", argv[1]);

      return usage_error (context, message);
    }
  if (opt_management_url == NULL)
    return usage_error (context, "--management-url is required");
  if (!g_str_has_prefix (opt_management_url, "http://") && !g_str_has_prefix (opt_management_url, "https://"))
    return usage_error (context, "--management-url must be http(s)://host[:port]");
  if (opt_state_dir == NULL)
    return usage_error (context, "--state-dir is required");
  if (opt_listen_port < 1 || opt_listen_port > 65535)
    return usage_error (context, "--listen-port must be between 1 and 65535");
  if (opt_dns_port < 1 || opt_dns_port > 65535)
    return usage_error (context, "--dns-port must be between 1 and 65535");
  if (opt_stats_interval < 1)
    return usage_error (context, "--stats-interval must be a positive number of milliseconds");
  cli->ifname = g_strdup (opt_interface ? opt_interface : NB_ENGINE_DEFAULT_INTERFACE);
  cli->wg = nb_wg_uapi_new (cli->ifname, &error);
  if (cli->wg == NULL)
    {
      g_autofree char *message = g_strdup_printf ("--interface: %s", error->message);

      return usage_error (context, message);
    }

  if (opt_ca_file)
    {
      tls_database = g_tls_file_database_new (opt_ca_file, &error);
      if (tls_database == NULL)
        {
          g_autofree char *message = g_strdup_printf ("--ca-file: %s", error->message);

          return fail_early (message);
        }
    }

  nb_engine_config_init (&config);
  config.management_url = g_strdup (opt_management_url);
  config.state_dir = g_strdup (opt_state_dir);
  config.hostname = g_strdup (opt_hostname);
  config.listen_port = (guint16) opt_listen_port;
  config.force_relay = opt_force_relay;
  config.allow_direct = !opt_no_direct;
  config.exit_node = g_strdup (opt_exit_node);
  config.dns_port = (guint16) opt_dns_port;
  config.no_dns = opt_no_dns;
  config.interface_blacklist = opt_interface_blacklist ? parse_blacklist (opt_interface_blacklist) : NULL;
  config.tls_database = tls_database ? g_object_ref (tls_database) : NULL;
  if (opt_setup_key_file)
    {
      config.setup_key = read_secret_file (opt_setup_key_file, "setup key", &error);
      if (config.setup_key == NULL)
        {
          nb_engine_config_clear (&config);
          return fail_early (error->message);
        }
    }
  if (opt_preshared_key_file)
    {
      config.preshared_key = read_secret_file (opt_preshared_key_file, "pre-shared key", &error);
      if (config.preshared_key == NULL)
        {
          nb_engine_config_clear (&config);
          return fail_early (error->message);
        }
    }
  cli->engine = nb_engine_new (&config, NB_WG_BACKEND (cli->wg), &error);
  nb_engine_config_clear (&config);
  if (cli->engine == NULL)
    {
      g_autofree char *message = g_strdup_printf ("invalid configuration: %s", error->message);

      g_clear_object (&cli->wg);
      return usage_error (context, message);
    }
  nb_engine_set_stats_interval (cli->engine, (guint) opt_stats_interval);

  if (opt_wireguard_go)
    nb_wg_uapi_set_program (cli->wg, opt_wireguard_go);
  if (opt_uapi_dir)
    nb_wg_uapi_set_socket_dir (cli->wg, opt_uapi_dir);

  cli->loop = g_main_loop_new (NULL, FALSE);
  cli->cancellable = g_cancellable_new ();
  cli->watches = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, (GDestroyNotify) peer_watch_free);
  g_queue_init (&cli->commands);
  cli->status = g_object_ref (nb_engine_get_status (cli->engine));

  g_signal_connect (cli->wg, "died", G_CALLBACK (on_wg_died), cli);
  g_signal_connect (cli->engine, "failed", G_CALLBACK (on_engine_failed), cli);
  g_signal_connect (cli->engine, "network-map", G_CALLBACK (on_network_map), cli);
  g_signal_connect (cli->status, "peer-added", G_CALLBACK (on_peer_added), cli);
  g_signal_connect (cli->status, "peer-changed", G_CALLBACK (on_peer_changed), cli);
  g_signal_connect (cli->status, "peer-removed", G_CALLBACK (on_peer_removed), cli);
  g_signal_connect (cli->status, "service-changed", G_CALLBACK (on_service_changed), cli);
  sigterm_id = g_unix_signal_add (SIGTERM, on_sigterm, cli);
  sigint_id = g_unix_signal_add (SIGINT, on_sigterm, cli);
  sigusr1_id = g_unix_signal_add (SIGUSR1, on_sigusr1, cli);

  nb_wg_uapi_start_async (cli->wg, cli->cancellable, wg_started_cb, cli);
  g_main_loop_run (cli->loop);
  code = cli->exit_code;

  /* Tear down: nothing may call back into @cli after this. */
  g_source_remove (sigterm_id);
  g_source_remove (sigint_id);
  g_source_remove (sigusr1_id);
  g_hash_table_remove_all (cli->watches);
  g_signal_handlers_disconnect_by_data (cli->status, cli);
  g_signal_handlers_disconnect_by_data (cli->engine, cli);
  g_signal_handlers_disconnect_by_data (cli->wg, cli);
  g_clear_object (&cli->engine);
  /* Lets the last closes and idle callbacks run. */
  nb_main_context_drain (DRAIN_MS);
  g_clear_object (&cli->status);
  g_clear_object (&cli->wg);
  nb_main_context_drain (DRAIN_MS);
  if (code == 0)
    ev_end (ev_begin ("stopped"));

  g_queue_clear_full (&cli->commands, (GDestroyNotify) g_strfreev);
  g_hash_table_unref (cli->watches);
  g_clear_object (&cli->cancellable);
  g_clear_handle_id (&cli->stop_wait_id, g_source_remove);
  g_clear_object (&cli->stop_wait);
  g_main_loop_unref (cli->loop);
  g_free (cli->address);
  g_free (cli->ifname);
  g_free (opt_management_url);
  g_free (opt_state_dir);
  g_free (opt_setup_key_file);
  g_free (opt_preshared_key_file);
  g_free (opt_exit_node);
  g_free (opt_interface);
  g_free (opt_wireguard_go);
  g_free (opt_uapi_dir);
  g_free (opt_interface_blacklist);
  g_free (opt_ca_file);
  g_free (opt_hostname);
  return code;
}
