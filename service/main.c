/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * nm-netbird-service: NetworkManager starts it (program= of the .name
 * file) with --bus-name; it claims that name and serves Connect,
 * Disconnect and NeedSecrets (nm-netbird-plugin.h). It exits when
 * NetworkManager has not used it for a while (NMVpnServicePlugin's "quit",
 * unless --persist), when NetworkManager leaves the bus (unless --debug),
 * or on SIGTERM/SIGINT; in every case the connection is taken down first,
 * so that no WireGuard device or wireguard-go outlives the service.
 *
 * Log level: --debug, or NetworkManager's NM_VPN_LOG_LEVEL (syslog
 * numbers; 7 = debug) for the service's start; each connection's
 * log-level setting then applies while it runs.
 */
#define G_LOG_DOMAIN "nm-netbird"

#include "config.h"

#include <glib-unix.h>
#include <locale.h>
#include <stdlib.h>

#include "nm-netbird-plugin.h"

typedef struct {
  GMainLoop *loop;
  NbNmPlugin *plugin;
  gboolean quitting;
} Service;

static void
bus_barrier_cb (GObject *source, GAsyncResult *result, gpointer data)
{
  Service *svc = data;
  g_autoptr (GVariant) ret = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), result, NULL);

  g_main_loop_quit (svc->loop);
}

/* dbus-daemon drops what a client sent but it had not routed yet when the
 * client disconnects: a Connect error reply sent just before the exit can
 * be lost, and NetworkManager then reports "disconnected without
 * replying" instead of our reason. The bus handles one client's messages
 * in order, so once it answered a call of ours, everything sent before is
 * routed; only then do we exit. */
static void
shutdown_cb (GObject *source, GAsyncResult *result, gpointer data)
{
  Service *svc = data;
  GDBusConnection *bus;

  nb_nm_plugin_shutdown_finish (NB_NM_PLUGIN (source), result);
  bus = nm_vpn_service_plugin_get_connection (NM_VPN_SERVICE_PLUGIN (svc->plugin));
  if (bus == NULL || g_dbus_connection_is_closed (bus))
    {
      g_main_loop_quit (svc->loop);
      return;
    }
  g_dbus_connection_call (bus, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                          "GetId", NULL, G_VARIANT_TYPE ("(s)"), G_DBUS_CALL_FLAGS_NONE, 2000, NULL,
                          bus_barrier_cb, svc);
}

static void
service_quit (Service *svc, const char *why)
{
  if (svc->quitting)
    return;
  svc->quitting = TRUE;
  g_message ("exiting: %s", why);
  nb_nm_plugin_shutdown_async (svc->plugin, shutdown_cb, svc);
}

static void
on_plugin_quit (NMVpnServicePlugin *plugin, gpointer data)
{
  service_quit (data, "NetworkManager no longer needs the service");
}

static gboolean
on_signal (gpointer data)
{
  service_quit (data, "signal");
  return G_SOURCE_CONTINUE;
}

int
main (int argc, char **argv)
{
  gboolean persist = FALSE, debug = FALSE;
  g_autofree char *bus_name = NULL;
  g_autoptr (GOptionContext) context = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GMainLoop) loop = NULL;
  g_autoptr (NbNmPlugin) plugin = NULL;
  const char *nm_level = g_getenv ("NM_VPN_LOG_LEVEL");
  Service svc = { 0 };
  GOptionEntry entries[] = {
    { "persist", 0, 0, G_OPTION_ARG_NONE, &persist, "Do not quit when no connection is active", NULL },
    { "debug", 0, 0, G_OPTION_ARG_NONE, &debug, "Log debug messages; keep running without NetworkManager", NULL },
    { "bus-name", 0, 0, G_OPTION_ARG_STRING, &bus_name, "D-Bus name to claim (default " NM_NETBIRD_DBUS_SERVICE ")", "NAME" },
    { NULL },
  };

  setlocale (LC_ALL, "");

  context = g_option_context_new ("- NetBird VPN service for NetworkManager");
  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      g_printerr ("nm-netbird-service: %s\n", error->message);
      return 2;
    }

  nb_nm_log_install (debug || (nm_level != NULL && atoi (nm_level) >= 7) ? "debug" : "info");

  plugin = nb_nm_plugin_new (bus_name != NULL ? bus_name : NM_NETBIRD_DBUS_SERVICE, !debug, &error);
  if (plugin == NULL)
    {
      g_warning ("cannot start the service: %s", error->message);
      return 1;
    }

  loop = g_main_loop_new (NULL, FALSE);
  svc.loop = loop;
  svc.plugin = plugin;
  if (!persist)
    g_signal_connect (plugin, "quit", G_CALLBACK (on_plugin_quit), &svc);
  g_unix_signal_add (SIGTERM, on_signal, &svc);
  g_unix_signal_add (SIGINT, on_signal, &svc);

  g_message ("NetBird VPN service %s started on %s", PACKAGE_VERSION,
             bus_name != NULL ? bus_name : NM_NETBIRD_DBUS_SERVICE);
  g_main_loop_run (loop);

  g_signal_handlers_disconnect_by_data (plugin, &svc);
  return 0;
}
