/* SPDX-License-Identifier: GPL-2.0-or-later
 * status-exporter: stands in for the NetBird VPN service on the system bus
 * (DBUS_SYSTEM_BUS_ADDRESS) in test-status-policy.sh. It owns
 * org.freedesktop.NetworkManager.netbird, exports NbStatusDbus with one
 * connected peer, and prints one line per event on stdout:
 *   "owned NAME"    the name is ours and the objects are exported
 *   "refused NAME"  the bus would not give us the name (exit 1)
 *   "refresh"       Refresh() was called
 * Stops on SIGTERM/SIGINT. */
#include "config.h"

#include <glib-unix.h>
#include <stdio.h>

#include "status-dbus.h"

static void
say (const char *line)
{
  printf ("%s\n", line);
  fflush (stdout);
}

static void
on_refresh (NbStatusDbus *exporter, gpointer user_data)
{
  say ("refresh");
}

static void
on_name_acquired (GDBusConnection *connection, const char *name, gpointer user_data)
{
  g_autofree char *line = g_strdup_printf ("owned %s", name);

  say (line);
}

static void
on_name_lost (GDBusConnection *connection, const char *name, gpointer user_data)
{
  g_autofree char *line = g_strdup_printf ("refused %s", name);

  say (line);
  *(int *) user_data = 1;
  g_main_loop_quit (g_object_get_data (G_OBJECT (connection), "loop"));
}

static gboolean
on_stop (gpointer user_data)
{
  g_main_loop_quit (user_data);
  return G_SOURCE_CONTINUE;
}

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GDBusConnection) bus = NULL;
  g_autoptr (GMainLoop) loop = g_main_loop_new (NULL, FALSE);
  g_autoptr (NbStatusRecorder) rec = nb_status_recorder_new ();
  g_autoptr (NbStatusDbus) exporter = NULL;
  const char *key = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
  int status = 0;
  guint owner;

  bus = g_bus_get_sync (G_BUS_TYPE_SYSTEM, NULL, &error);
  if (bus == NULL)
    {
      g_printerr ("status-exporter: %s\n", error->message);
      return 1;
    }
  g_object_set_data (G_OBJECT (bus), "loop", loop);

  nb_status_recorder_add_peer (rec, key, "peer-a.netbird.cloud", "100.64.0.2");
  nb_status_recorder_update_ice (rec, key, NB_PEER_PATH_CONNECTED, "host", "host",
                                 "10.0.0.1:51820", "10.0.0.2:51820");
  nb_status_recorder_update_connection (rec, key, NB_PEER_CONN_CONNECTED, NB_PEER_CONN_TYPE_P2P);
  nb_status_recorder_set_management (rec, "https://mgmt.example:443", TRUE, NULL);
  nb_status_recorder_set_signal (rec, "https://signal.example:443", TRUE, NULL);

  exporter = nb_status_dbus_new (bus, NB_STATUS_DBUS_ROOT, rec);
  nb_status_dbus_set_address (exporter, "100.64.0.1/16");
  nb_status_dbus_set_interface (exporter, "nb0");
  g_signal_connect (exporter, "refresh-requested", G_CALLBACK (on_refresh), NULL);

  owner = g_bus_own_name_on_connection (bus, NB_STATUS_DBUS_NAME, G_BUS_NAME_OWNER_FLAGS_DO_NOT_QUEUE,
                                        on_name_acquired, on_name_lost, &status, NULL);
  g_unix_signal_add (SIGTERM, on_stop, loop);
  g_unix_signal_add (SIGINT, on_stop, loop);
  g_main_loop_run (loop);
  g_bus_unown_name (owner);
  return status;
}
