/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * One copy of the toolkit-independent parts of the editor tests, so the
 * GTK3 twin opens the module and builds its connection exactly as the GTK4
 * test does.
 */
#include "config.h"

#include <gmodule.h>

#include "editor-test-util.h"
#include "nm-netbird-settings.h"

NMNetbirdEditorFactory
editor_test_load_factory (const char *env_var, const char *default_path)
{
  const char *module_path = g_getenv (env_var);
  NMNetbirdEditorFactory factory = NULL;
  GModule *module;

  if (module_path == NULL)
    module_path = default_path;
  module = g_module_open (module_path, G_MODULE_BIND_LOCAL);
  if (module == NULL)
    g_error ("%s", g_module_error ());
  if (!g_module_symbol (module, "nm_vpn_editor_factory_netbird", (gpointer *) &factory))
    g_error ("%s", g_module_error ());
  return factory;
}

NMConnection *
editor_test_new_connection (void)
{
  NMConnection *connection = nm_simple_connection_new ();
  NMSetting *s_con = nm_setting_connection_new ();
  NMSetting *s_vpn = nm_setting_vpn_new ();

  g_object_set (s_con,
                NM_SETTING_CONNECTION_ID, "netbird test",
                NM_SETTING_CONNECTION_UUID, "6f0e1c52-0b7c-4d0e-9f57-3c1b1f6a9c01",
                NM_SETTING_CONNECTION_TYPE, NM_SETTING_VPN_SETTING_NAME,
                NULL);
  g_object_set (s_vpn, NM_SETTING_VPN_SERVICE_TYPE, NM_NETBIRD_SERVICE_TYPE, NULL);
  nm_connection_add_setting (connection, s_con);
  nm_connection_add_setting (connection, s_vpn);
  return connection;
}

static gboolean
timeout_cb (gpointer user_data)
{
  gboolean *timed_out = user_data;

  *timed_out = TRUE;
  return G_SOURCE_REMOVE;
}

void
editor_test_wait_for (gboolean *flag, guint timeout_seconds)
{
  gboolean timed_out = FALSE;
  guint timeout_id = g_timeout_add_seconds (timeout_seconds, timeout_cb, &timed_out);

  while (!*flag && !timed_out)
    g_main_context_iteration (NULL, TRUE);
  g_assert_false (timed_out);
  g_source_remove (timeout_id);
}
