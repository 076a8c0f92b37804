/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The editor plugin's lazy loading in a real GTK process: built once
 * against GTK3 and once against GTK4, each loads the plugin through libnm
 * and asks for an editor. The plugin must pick the editor library of the
 * process's toolkit (and never the other one), get a working NMVpnEditor
 * from its factory, also a second time. Runs on Xvfb
 * (test-editor-load.sh).
 */
#include "config.h"

#include <string.h>
#include <gtk/gtk.h>
#include <NetworkManager.h>

#include "nm-netbird-settings.h"

#if GTK_MAJOR_VERSION == 3
#define EXPECTED "/libnm-vpn-plugin-netbird-editor.so"
#define OTHER    "/libnm-gtk4-vpn-plugin-netbird-editor.so"
#define TEST_PATH "/editor-load/gtk3"
#else
#define EXPECTED "/libnm-gtk4-vpn-plugin-netbird-editor.so"
#define OTHER    "/libnm-vpn-plugin-netbird-editor.so"
#define TEST_PATH "/editor-load/gtk4"
#endif

static gboolean
is_mapped (const char *name)
{
  g_autofree char *maps = NULL;
  g_auto (GStrv) lines = NULL;

  g_assert_true (g_file_get_contents ("/proc/self/maps", &maps, NULL, NULL));
  lines = g_strsplit (maps, "\n", -1);
  for (guint i = 0; lines[i]; i++)
    if (g_str_has_suffix (lines[i], name))
      return TRUE;
  return FALSE;
}

static void
test_load (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (NMVpnEditorPlugin) plugin = NULL;
  g_autoptr (NMConnection) connection = nm_simple_connection_new ();
  g_autoptr (NMVpnEditor) editor = NULL;
  g_autoptr (NMVpnEditor) editor2 = NULL;
  NMSetting *s_con = nm_setting_connection_new ();
  NMSetting *s_vpn = nm_setting_vpn_new ();
  GObject *widget;

  g_object_set (s_con, NM_SETTING_CONNECTION_ID, "lazy",
                NM_SETTING_CONNECTION_TYPE, NM_SETTING_VPN_SETTING_NAME, NULL);
  g_object_set (s_vpn, NM_SETTING_VPN_SERVICE_TYPE, NM_NETBIRD_SERVICE_TYPE, NULL);
  nm_setting_vpn_add_data_item (NM_SETTING_VPN (s_vpn), NM_NETBIRD_KEY_MANAGEMENT_URL,
                                "https://netbird.example.com:443");
  nm_connection_add_setting (connection, s_con);
  nm_connection_add_setting (connection, s_vpn);

  plugin = nm_vpn_editor_plugin_load_from_file (PLUGIN_PATH, NM_NETBIRD_SERVICE_TYPE, -1, NULL, NULL, &error);
  g_assert_no_error (error);

  g_assert_false (is_mapped (EXPECTED));

  editor = nm_vpn_editor_plugin_get_editor (plugin, connection, &error);
  g_assert_no_error (error);
  g_assert_true (NM_IS_VPN_EDITOR (editor));
  widget = nm_vpn_editor_get_widget (editor);
  g_assert_true (GTK_IS_WIDGET (widget));

  /* the editor works on the connection it was given */
  g_assert_true (nm_vpn_editor_update_connection (editor, connection, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (nm_setting_vpn_get_data_item (nm_connection_get_setting_vpn (connection),
                                                 NM_NETBIRD_KEY_MANAGEMENT_URL),
                   ==, "https://netbird.example.com:443");

  editor2 = nm_vpn_editor_plugin_get_editor (plugin, connection, &error);
  g_assert_no_error (error);
  g_assert_true (NM_IS_VPN_EDITOR (editor2));

  g_assert_true (is_mapped (EXPECTED));
  g_assert_false (is_mapped (OTHER));
}

int
main (int argc, char **argv)
{
  g_setenv ("LC_ALL", "C", TRUE);
  g_test_init (&argc, &argv, NULL);
#if GTK_MAJOR_VERSION == 3
  gtk_init (&argc, &argv);
#else
  gtk_init ();
#endif
  g_setenv ("NM_NETBIRD_EDITOR_DIR", EDITOR_DIR, TRUE);

  g_test_add_func (TEST_PATH, test_load);
  return g_test_run ();
}
