/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * nm-netbird status [-d|--detail] [--json]: the NetBird VPN service's status
 * for any local user, read from the system bus only (the objects of
 * status-dbus.c), so it needs no privileges and no socket of its own.
 *
 * The text is the service's own: the D-Bus properties are turned back into
 * an NbStatusRecorder and printed with nb_status_recorder_format_detail(),
 * so `nm-netbird status -d` and the engine cannot drift apart.
 *
 * NM_NETBIRD_STATUS_NOW (wall-clock microseconds since the epoch) pins the
 * time the "... ago" texts count from; tests set it so that the output is
 * reproducible. Unset, it is the real time.
 */
#define G_LOG_DOMAIN "nm-netbird"

#include "config.h"

#include <errno.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>

#include "nb-status-generated.h"
#include "status-dbus.h"

#define NOT_RUNNING \
  "nm-netbird: the NetBird VPN service is not running (no " NB_STATUS_DBUS_NAME " on the system bus)\n"

/* ------------------------------------------------------------------------ */
/* Properties back into values */

static NbPeerConnStatus
parse_conn_status (const char *s)
{
  for (NbPeerConnStatus v = NB_PEER_CONN_IDLE; v <= NB_PEER_CONN_DISCONNECTED; v++)
    if (g_strcmp0 (s, nb_peer_conn_status_to_string (v)) == 0)
      return v;
  return NB_PEER_CONN_IDLE;
}

static NbPeerConnType
parse_conn_type (const char *s)
{
  for (NbPeerConnType v = NB_PEER_CONN_TYPE_NONE; v <= NB_PEER_CONN_TYPE_RELAYED; v++)
    if (g_strcmp0 (s, nb_peer_conn_type_to_string (v)) == 0)
      return v;
  return NB_PEER_CONN_TYPE_NONE;
}

static NbPeerPathStatus
parse_path_status (const char *s)
{
  for (NbPeerPathStatus v = NB_PEER_PATH_DISCONNECTED; v <= NB_PEER_PATH_CONNECTED; v++)
    if (g_strcmp0 (s, nb_peer_path_status_to_string (v)) == 0)
      return v;
  return NB_PEER_PATH_DISCONNECTED;
}

static gint64
pinned_clock (gpointer data)
{
  return *(gint64 *) data;
}

/* Adds the peer of @peer's properties to @recorder with its own
 * last_change (the recorder takes it from @clock). */
static void
add_peer (NbStatusRecorder *recorder, gint64 *clock, NbDbusPeer *peer)
{
  NbPeerStatus v = {
    .key = (char *) nb_dbus_peer_get_public_key (peer),
    .fqdn = (char *) nb_dbus_peer_get_fqdn (peer),
    .ip = (char *) nb_dbus_peer_get_ip (peer),
    .status = parse_conn_status (nb_dbus_peer_get_status (peer)),
    .conn_type = parse_conn_type (nb_dbus_peer_get_connection_type (peer)),
    .ice_status = parse_path_status (nb_dbus_peer_get_ice_status (peer)),
    .relay_status = parse_path_status (nb_dbus_peer_get_relay_status (peer)),
    .local_candidate_type = (char *) nb_dbus_peer_get_local_candidate_type (peer),
    .remote_candidate_type = (char *) nb_dbus_peer_get_remote_candidate_type (peer),
    .local_endpoint = (char *) nb_dbus_peer_get_local_endpoint (peer),
    .remote_endpoint = (char *) nb_dbus_peer_get_remote_endpoint (peer),
    .relay_address = (char *) nb_dbus_peer_get_relay_server (peer),
    .rosenpass_enabled = nb_dbus_peer_get_rosenpass_enabled (peer),
    .last_handshake = nb_dbus_peer_get_last_handshake (peer),
    .rx_bytes = nb_dbus_peer_get_rx_bytes (peer),
    .tx_bytes = nb_dbus_peer_get_tx_bytes (peer),
    .latency_us = nb_dbus_peer_get_latency_us (peer),
    /* NULL from a service without the property: none. */
    .networks = (char **) nb_dbus_peer_get_networks (peer),
  };

  if (v.key == NULL)
    return;
  /* The record starts with last_change = the clock, and an update at the
   * same clock does not move it. */
  *clock = nb_dbus_peer_get_last_change (peer);
  if (!nb_status_recorder_add_peer (recorder, v.key, v.fqdn, v.ip))
    return; /* two objects for one key: the first wins */
  nb_status_recorder_update (recorder, &v, NB_PEER_FIELDS_ALL);
}

/* The status as a recorder: peers, servers, our own side, Rosenpass
 * settings. */
static NbStatusRecorder *
recorder_from_objects (GDBusObjectManager *manager, NbDbusDaemon *daemon)
{
  g_autoptr (NbStatusRecorder) recorder = nb_status_recorder_new ();
  GList *objects = g_dbus_object_manager_get_objects (manager);
  GVariant *relays;
  GVariantIter iter;
  const char *url, *error;
  gboolean connected;
  gint64 clock = 0;

  nb_status_recorder_set_clock (recorder, pinned_clock, &clock);
  for (GList *l = objects; l != NULL; l = l->next)
    {
      g_autoptr (NbDbusPeer) peer = nb_dbus_object_get_peer (NB_DBUS_OBJECT (l->data));

      if (peer != NULL)
        add_peer (recorder, &clock, peer);
    }
  g_list_free_full (objects, g_object_unref);
  nb_status_recorder_set_clock (recorder, NULL, NULL);

  nb_status_recorder_set_management (recorder,
                                     nb_dbus_daemon_get_management_url (daemon),
                                     nb_dbus_daemon_get_management_connected (daemon),
                                     nb_dbus_daemon_get_management_error (daemon));
  nb_status_recorder_set_signal (recorder,
                                 nb_dbus_daemon_get_signal_url (daemon),
                                 nb_dbus_daemon_get_signal_connected (daemon),
                                 nb_dbus_daemon_get_signal_error (daemon));
  relays = nb_dbus_daemon_get_relays (daemon);
  if (relays != NULL && g_variant_is_of_type (relays, G_VARIANT_TYPE ("a(sbs)")))
    {
      g_variant_iter_init (&iter, relays);
      while (g_variant_iter_next (&iter, "(&sb&s)", &url, &connected, &error))
        if (url[0] != '\0')
          nb_status_recorder_set_relay (recorder, url, connected, error);
    }
  nb_status_recorder_set_rosenpass (recorder,
                                    nb_dbus_daemon_get_rosenpass_enabled (daemon),
                                    nb_dbus_daemon_get_rosenpass_permissive (daemon));
  nb_status_recorder_set_local (recorder,
                                nb_dbus_daemon_get_fqdn (daemon),
                                nb_dbus_daemon_get_address (daemon),
                                nb_dbus_daemon_get_interface_type (daemon),
                                nb_dbus_daemon_get_wireguard_port (daemon));
  return g_steal_pointer (&recorder);
}

/* ------------------------------------------------------------------------ */
/* Output */

static const char *
str_or_empty (const char *s)
{
  return s != NULL ? s : "";
}

/* `netbird status` without -d: NetBird's lines that we have, in its order
 * (the interface name, not one of them, is in --json only). */
static char *
format_summary (NbStatusRecorder *recorder, NbDbusDaemon *daemon)
{
  g_autofree char *local = nb_status_recorder_format_local (recorder);
  const char *exit_node = str_or_empty (nb_dbus_daemon_get_exit_node (daemon));
  const char *names = str_or_empty (nb_dbus_daemon_get_peer_names_server (daemon));
  const NbServiceState *services[2] = {
    nb_status_recorder_get_management (recorder),
    nb_status_recorder_get_signal (recorder),
  };
  const char *labels[2] = { "Management", "Signal" };
  GPtrArray *relays = nb_status_recorder_get_relays (recorder);
  GString *out = g_string_new (NULL);
  guint available = 0;

  for (guint i = 0; i < G_N_ELEMENTS (services); i++)
    {
      g_string_append_printf (out, "%s: %s", labels[i], services[i]->connected ? "Connected" : "Disconnected");
      if (services[i]->error != NULL)
        g_string_append_printf (out, ", reason: %s", services[i]->error);
      g_string_append_c (out, '\n');
    }
  for (guint i = 0; i < relays->len; i++)
    if (((NbServiceState *) g_ptr_array_index (relays, i))->connected)
      available++;
  g_string_append_printf (out, "Relays: %u/%u Available\n", available, relays->len);
  /* FQDN ... Networks. */
  g_string_append (out, local);
  /* Not in NetBird's layout: only when there is something to say. */
  if (exit_node[0] != '\0')
    g_string_append_printf (out, "Exit node: %s\n", exit_node);
  if (names[0] != '\0')
    g_string_append_printf (out, "Peer names: answered on %s\n", names);
  g_string_append_printf (out, "Peers count: %u/%u Connected\n",
                          nb_status_recorder_get_n_connected (recorder),
                          nb_status_recorder_get_n_peers (recorder));
  return g_string_free (out, FALSE);
}

static void
json_string (GString *out, const char *s)
{
  g_string_append_c (out, '"');
  for (const char *p = s != NULL ? s : ""; *p != '\0'; p++)
    {
      guchar c = (guchar) *p;

      if (c == '"' || c == '\\')
        g_string_append_printf (out, "\\%c", c);
      else if (c == '\n')
        g_string_append (out, "\\n");
      else if (c < 0x20 || c == 0x7f)
        g_string_append_printf (out, "\\u%04x", c);
      else
        g_string_append_c (out, (char) c);
    }
  g_string_append_c (out, '"');
}

/* RFC 3339 in UTC; Go's zero time for 0, as NetBird's JSON has it. */
static void
json_time (GString *out, gint64 usec)
{
  g_autoptr (GDateTime) base = NULL;
  g_autoptr (GDateTime) t = NULL;
  g_autofree char *text = NULL;

  if (usec > 0)
    {
      base = g_date_time_new_from_unix_utc (usec / G_USEC_PER_SEC);
      t = base != NULL ? g_date_time_add (base, usec % G_USEC_PER_SEC) : NULL;
      text = t != NULL ? g_date_time_format_iso8601 (t) : NULL;
    }
  json_string (out, text != NULL ? text : "0001-01-01T00:00:00Z");
}

/* ["a", "b"] */
static void
json_strv (GString *out, const char *const *list)
{
  g_string_append_c (out, '[');
  for (guint i = 0; list != NULL && list[i] != NULL; i++)
    {
      if (i > 0)
        g_string_append (out, ", ");
      json_string (out, list[i]);
    }
  g_string_append_c (out, ']');
}

static void
json_service (GString *out, const char *name, const NbServiceState *s)
{
  g_string_append_printf (out, "  \"%s\": {\"url\": ", name);
  json_string (out, s->url);
  g_string_append_printf (out, ", \"connected\": %s, \"error\": ", s->connected ? "true" : "false");
  json_string (out, s->error);
  g_string_append (out, "},\n");
}

/* The fields of `netbird status --json` that we have, under NetBird's
 * names, plus iceStatus/relayStatus, interface, exitNode and
 * peerNamesServer. */
static char *
format_json (NbStatusRecorder *recorder, NbDbusDaemon *daemon)
{
  g_autoptr (GPtrArray) peers = nb_status_recorder_dup_peers (recorder);
  g_auto (GStrv) networks = nb_status_recorder_dup_networks (recorder);
  const NbLocalState *local = nb_status_recorder_get_local (recorder);
  GPtrArray *relays = nb_status_recorder_get_relays (recorder);
  GString *out = g_string_new ("{\n");
  guint available = 0;

  g_string_append_printf (out, "  \"peers\": {\"total\": %u, \"connected\": %u, \"details\": [",
                          nb_status_recorder_get_n_peers (recorder),
                          nb_status_recorder_get_n_connected (recorder));
  for (guint i = 0; i < peers->len; i++)
    {
      const NbPeerStatus *p = g_ptr_array_index (peers, i);

      g_string_append (out, i == 0 ? "\n    {" : ",\n    {");
      g_string_append (out, "\"fqdn\": ");
      json_string (out, p->fqdn);
      g_string_append (out, ", \"netbirdIp\": ");
      json_string (out, p->ip);
      g_string_append (out, ", \"publicKey\": ");
      json_string (out, p->key);
      g_string_append (out, ", \"status\": ");
      json_string (out, nb_peer_conn_status_to_string (p->status));
      g_string_append (out, ", \"lastStatusUpdate\": ");
      json_time (out, p->last_change);
      g_string_append (out, ", \"connectionType\": ");
      json_string (out, nb_peer_conn_type_to_string (p->conn_type));
      g_string_append (out, ", \"iceStatus\": ");
      json_string (out, nb_peer_path_status_to_string (p->ice_status));
      g_string_append (out, ", \"relayStatus\": ");
      json_string (out, nb_peer_path_status_to_string (p->relay_status));
      g_string_append (out, ", \"iceCandidateType\": {\"local\": ");
      json_string (out, p->local_candidate_type);
      g_string_append (out, ", \"remote\": ");
      json_string (out, p->remote_candidate_type);
      g_string_append (out, "}, \"iceCandidateEndpoint\": {\"local\": ");
      json_string (out, p->local_endpoint);
      g_string_append (out, ", \"remote\": ");
      json_string (out, p->remote_endpoint);
      g_string_append (out, "}, \"relayAddress\": ");
      json_string (out, p->relay_address);
      g_string_append (out, ", \"lastWireguardHandshake\": ");
      json_time (out, p->last_handshake);
      g_string_append_printf (out, ", \"transferReceived\": %" G_GUINT64_FORMAT
                              ", \"transferSent\": %" G_GUINT64_FORMAT
                              ", \"latency\": %" G_GINT64_FORMAT
                              ", \"quantumResistance\": %s, \"networks\": ",
                              p->rx_bytes, p->tx_bytes, p->latency_us * 1000,
                              p->rosenpass_enabled ? "true" : "false");
      json_strv (out, (const char *const *) p->networks);
      g_string_append_c (out, '}');
    }
  g_string_append (out, peers->len > 0 ? "\n  ]},\n" : "]},\n");

  json_service (out, "management", nb_status_recorder_get_management (recorder));
  json_service (out, "signal", nb_status_recorder_get_signal (recorder));

  for (guint i = 0; i < relays->len; i++)
    if (((NbServiceState *) g_ptr_array_index (relays, i))->connected)
      available++;
  g_string_append_printf (out, "  \"relays\": {\"total\": %u, \"available\": %u, \"details\": [",
                          relays->len, available);
  for (guint i = 0; i < relays->len; i++)
    {
      const NbServiceState *r = g_ptr_array_index (relays, i);

      g_string_append (out, i == 0 ? "{\"uri\": " : ", {\"uri\": ");
      json_string (out, r->url);
      g_string_append_printf (out, ", \"available\": %s, \"error\": ", r->connected ? "true" : "false");
      json_string (out, r->error);
      g_string_append_c (out, '}');
    }
  g_string_append (out, "]},\n");

  g_string_append (out, "  \"netbirdIp\": ");
  json_string (out, nb_dbus_daemon_get_address (daemon));
  g_string_append (out, ",\n  \"publicKey\": ");
  json_string (out, nb_dbus_daemon_get_public_key (daemon));
  g_string_append_printf (out, ",\n  \"usesKernelInterface\": %s,\n  \"wireguardPort\": %u,\n  \"fqdn\": ",
                          g_strcmp0 (local->interface_type, "Kernel") == 0 ? "true" : "false", local->wg_port);
  json_string (out, local->fqdn);
  g_string_append (out, ",\n  \"interface\": ");
  json_string (out, nb_dbus_daemon_get_interface (daemon));
  g_string_append (out, ",\n  \"exitNode\": ");
  json_string (out, nb_dbus_daemon_get_exit_node (daemon));
  g_string_append (out, ",\n  \"peerNamesServer\": ");
  json_string (out, nb_dbus_daemon_get_peer_names_server (daemon));
  g_string_append_printf (out, ",\n  \"quantumResistance\": %s,\n  \"quantumResistancePermissive\": %s,\n"
                          "  \"networks\": ",
                          nb_dbus_daemon_get_rosenpass_enabled (daemon) ? "true" : "false",
                          nb_dbus_daemon_get_rosenpass_permissive (daemon) ? "true" : "false");
  json_strv (out, (const char *const *) networks);
  g_string_append (out, "\n}\n");
  return g_string_free (out, FALSE);
}

/* ------------------------------------------------------------------------ */

static gboolean
get_now (gint64 *now)
{
  const char *pinned = g_getenv ("NM_NETBIRD_STATUS_NOW");
  char *end = NULL;

  if (pinned == NULL || pinned[0] == '\0')
    {
      *now = g_get_real_time ();
      return TRUE;
    }
  errno = 0;
  *now = g_ascii_strtoll (pinned, &end, 10);
  return errno == 0 && end != pinned && *end == '\0';
}

static int
cmd_status (gboolean detail, gboolean json)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GDBusConnection) bus = NULL;
  g_autoptr (GDBusObjectManager) manager = NULL;
  g_autoptr (GDBusObject) daemon_object = NULL;
  g_autoptr (NbDbusDaemon) daemon = NULL;
  g_autoptr (NbStatusRecorder) recorder = NULL;
  g_autofree char *name_owner = NULL;
  g_autofree char *daemon_path = NULL;
  g_autofree char *text = NULL;
  gint64 now;

  if (!get_now (&now))
    {
      g_printerr ("nm-netbird: NM_NETBIRD_STATUS_NOW is not a number of microseconds\n");
      return 2;
    }

  bus = g_bus_get_sync (G_BUS_TYPE_SYSTEM, NULL, &error);
  if (bus == NULL)
    {
      g_printerr ("nm-netbird: cannot connect to the system bus: %s\n", error->message);
      return 1;
    }
  manager = nb_dbus_object_manager_client_new_sync (bus, G_DBUS_OBJECT_MANAGER_CLIENT_FLAGS_DO_NOT_AUTO_START,
                                                    NB_STATUS_DBUS_NAME, NB_STATUS_DBUS_ROOT, NULL, &error);
  if (manager == NULL)
    {
      g_printerr ("nm-netbird: cannot read the status: %s\n", error->message);
      return 1;
    }
  name_owner = g_dbus_object_manager_client_get_name_owner (G_DBUS_OBJECT_MANAGER_CLIENT (manager));
  daemon_path = g_strdup_printf ("%s/daemon", NB_STATUS_DBUS_ROOT);
  daemon_object = g_dbus_object_manager_get_object (manager, daemon_path);
  if (daemon_object != NULL)
    daemon = nb_dbus_object_get_daemon (NB_DBUS_OBJECT (daemon_object));
  if (name_owner == NULL || daemon == NULL)
    {
      g_printerr (NOT_RUNNING);
      return 1;
    }

  recorder = recorder_from_objects (manager, daemon);
  if (json)
    text = format_json (recorder, daemon);
  else if (detail)
    text = nb_status_recorder_format_detail (recorder, now);
  else
    text = format_summary (recorder, daemon);
  fputs (text, stdout);
  return fflush (stdout) == 0 ? 0 : 1;
}

int
main (int argc, char **argv)
{
  gboolean detail = FALSE;
  gboolean json = FALSE;
  const GOptionEntry entries[] = {
    { "detail", 'd', 0, G_OPTION_ARG_NONE, &detail, "Peers in detail, as `netbird status -d`", NULL },
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, "JSON, with NetBird's field names", NULL },
    { NULL }
  };
  g_autoptr (GOptionContext) context = NULL;
  g_autoptr (GError) error = NULL;

  setlocale (LC_ALL, "");

  context = g_option_context_new ("status");
  g_option_context_set_summary (context,
                                "Shows the NetBird VPN service's status, as `netbird status` does.\n"
                                "Reads it from the system bus; needs no privileges.");
  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      g_printerr ("nm-netbird: %s\n", error->message);
      return 2;
    }
  if (argc != 2 || g_strcmp0 (argv[1], "status") != 0)
    {
      g_autofree char *help = g_option_context_get_help (context, TRUE, NULL);

      g_printerr ("%s", help);
      return 2;
    }
  return cmd_status (detail, json);
}
