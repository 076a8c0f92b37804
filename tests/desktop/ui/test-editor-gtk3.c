/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The GTK3 editor (nm-connection-editor's) from the same source and .ui as
 * the GTK4 one: this proves the GTK3 form of the .ui loads in GTK3, the
 * toolkit wrappers in nm-netbird-editor.c hold, and libnma's GTK3 password
 * storage gives the same flags. test-editor.c covers the behaviour in
 * depth; this is the smaller twin, and also leaves a screenshot.
 */
#include "config.h"

#include <gtk/gtk.h>
#include <nma-ui-utils.h>
#include <NetworkManager.h>

#include "editor-test-util.h"
#include "nm-netbird-editor.h"
#include "nm-netbird-settings.h"

#define SETUP_KEY "A1B2C3D4-0000-4111-8222-0123456789AB"

static NMNetbirdEditorFactory factory;

typedef struct {
  const char *id;
  GtkWidget *found;
} FindData;

static void
find_cb (GtkWidget *w, gpointer user_data)
{
  FindData *find = user_data;

  if (find->found)
    return;
  if (g_strcmp0 (gtk_buildable_get_name (GTK_BUILDABLE (w)), find->id) == 0)
    find->found = w;
  else if (GTK_IS_CONTAINER (w))
    gtk_container_forall (GTK_CONTAINER (w), find_cb, find);
}

static GtkWidget *
widget (GtkWidget *root, const char *id)
{
  FindData find = { id, NULL };

  find_cb (root, &find);
  if (find.found == NULL)
    g_error ("no widget '%s' in the editor", id);
  return find.found;
}

static void
count_cb (NMVpnEditor *editor, gpointer user_data)
{
  (*(guint *) user_data)++;
}

static gboolean
drawn_cb (GtkWidget *w, cairo_t *cr, gpointer user_data)
{
  *(gboolean *) user_data = TRUE;
  return FALSE;
}

static void
test_gtk3 (void)
{
  g_autoptr (NMConnection) connection = editor_test_new_connection ();
  g_autoptr (NMVpnEditor) editor = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *png = g_test_build_filename (G_TEST_BUILT, "editor-gtk3.png", NULL);
  GtkWidget *root, *window;
  NMSettingVpn *s_vpn;
  guint changed = 0;
  cairo_surface_t *surface;
  cairo_t *cr;
  int width, height;
  gboolean drawn = FALSE;

  editor = factory (NULL, connection, &error);
  g_assert_no_error (error);
  root = GTK_WIDGET (nm_vpn_editor_get_widget (editor));
  g_signal_connect (editor, "changed", G_CALLBACK (count_cb), &changed);

  gtk_entry_set_text (GTK_ENTRY (widget (root, "management_url_entry")), "https://nb.example.com:33073");
  gtk_entry_set_text (GTK_ENTRY (widget (root, "setup_key_entry")), SETUP_KEY);
  gtk_entry_set_text (GTK_ENTRY (widget (root, "interface_name_entry")), "nb0");
  gtk_entry_set_text (GTK_ENTRY (widget (root, "listen_port_entry")), "0");
  gtk_entry_set_text (GTK_ENTRY (widget (root, "mtu_entry")), "1400");
  gtk_entry_set_text (GTK_ENTRY (widget (root, "exit_node_entry")), "Exit DE 1");
  gtk_combo_box_set_active_id (GTK_COMBO_BOX (widget (root, "wireguard_backend_combo")), "kernel");
  gtk_toggle_button_set_active (GTK_TOGGLE_BUTTON (widget (root, "rosenpass_check")), TRUE);
  g_assert_cmpuint (changed, >=, 8);

  g_assert_true (nm_vpn_editor_update_connection (editor, connection, &error));
  g_assert_no_error (error);
  s_vpn = nm_connection_get_setting_vpn (connection);
  g_assert_cmpstr (nm_setting_vpn_get_data_item (s_vpn, NM_NETBIRD_KEY_MANAGEMENT_URL), ==, "https://nb.example.com:33073");
  g_assert_cmpstr (nm_setting_vpn_get_data_item (s_vpn, NM_NETBIRD_KEY_INTERFACE_NAME), ==, "nb0");
  g_assert_cmpstr (nm_setting_vpn_get_data_item (s_vpn, NM_NETBIRD_KEY_LISTEN_PORT), ==, "0");
  g_assert_cmpstr (nm_setting_vpn_get_data_item (s_vpn, NM_NETBIRD_KEY_MTU), ==, "1400");
  g_assert_cmpstr (nm_setting_vpn_get_data_item (s_vpn, NM_NETBIRD_KEY_EXIT_NODE), ==, "Exit DE 1");
  g_assert_cmpstr (nm_setting_vpn_get_data_item (s_vpn, NM_NETBIRD_KEY_WIREGUARD_BACKEND), ==, "kernel");
  g_assert_cmpstr (nm_setting_vpn_get_data_item (s_vpn, NM_NETBIRD_KEY_LOG_LEVEL), ==, "info");
  g_assert_cmpstr (nm_setting_vpn_get_data_item (s_vpn, NM_NETBIRD_KEY_ROSENPASS), ==, "yes");
  g_assert_cmpstr (nm_setting_vpn_get_data_item (s_vpn, NM_NETBIRD_KEY_ROSENPASS_PERMISSIVE), ==, "no");
  g_assert_cmpstr (nm_setting_vpn_get_secret (s_vpn, NM_NETBIRD_KEY_SETUP_KEY), ==, SETUP_KEY);
  g_assert_cmpstr (nm_setting_vpn_get_data_item (s_vpn, NM_NETBIRD_KEY_SETUP_KEY "-flags"), ==, "1");

  nma_utils_update_password_storage (widget (root, "setup_key_entry"), NM_SETTING_SECRET_FLAG_NOT_SAVED, NULL, NULL);
  g_assert_true (nm_vpn_editor_update_connection (editor, connection, &error));
  s_vpn = nm_connection_get_setting_vpn (connection);
  g_assert_null (nm_setting_vpn_get_secret (s_vpn, NM_NETBIRD_KEY_SETUP_KEY));
  g_assert_cmpstr (nm_setting_vpn_get_data_item (s_vpn, NM_NETBIRD_KEY_SETUP_KEY "-flags"), ==, "2");

  /* Invalid input: marked at the field, saving refused, key named. */
  gtk_entry_set_text (GTK_ENTRY (widget (root, "listen_port_entry")), "70000");
  g_assert_true (gtk_style_context_has_class (gtk_widget_get_style_context (widget (root, "listen_port_entry")), "error"));
  g_assert_false (nm_vpn_editor_update_connection (editor, connection, &error));
  g_assert_nonnull (strstr (error->message, NM_NETBIRD_KEY_LISTEN_PORT));
  g_clear_error (&error);
  gtk_entry_set_text (GTK_ENTRY (widget (root, "listen_port_entry")), "51820");
  g_assert_false (gtk_style_context_has_class (gtk_widget_get_style_context (widget (root, "listen_port_entry")), "error"));
  g_assert_true (nm_vpn_editor_update_connection (editor, connection, &error));
  g_assert_no_error (error);

  /* The exit node: a bad network ID is refused the same way; emptied, the
   * key goes (management decides). */
  gtk_entry_set_text (GTK_ENTRY (widget (root, "exit_node_entry")), "0123456789012345678901234567890123456789x");
  g_assert_true (gtk_style_context_has_class (gtk_widget_get_style_context (widget (root, "exit_node_entry")), "error"));
  g_assert_false (nm_vpn_editor_update_connection (editor, connection, &error));
  g_assert_nonnull (strstr (error->message, NM_NETBIRD_KEY_EXIT_NODE));
  g_clear_error (&error);
  g_assert_cmpstr (nm_setting_vpn_get_data_item (nm_connection_get_setting_vpn (connection), NM_NETBIRD_KEY_EXIT_NODE), ==, "Exit DE 1");
  gtk_entry_set_text (GTK_ENTRY (widget (root, "exit_node_entry")), "");
  g_assert_false (gtk_style_context_has_class (gtk_widget_get_style_context (widget (root, "exit_node_entry")), "error"));
  g_assert_true (nm_vpn_editor_update_connection (editor, connection, &error));
  g_assert_no_error (error);
  g_assert_null (nm_setting_vpn_get_data_item (nm_connection_get_setting_vpn (connection), NM_NETBIRD_KEY_EXIT_NODE));
  gtk_entry_set_text (GTK_ENTRY (widget (root, "exit_node_entry")), "none");
  g_assert_true (nm_vpn_editor_update_connection (editor, connection, &error));
  g_assert_cmpstr (nm_setting_vpn_get_data_item (nm_connection_get_setting_vpn (connection), NM_NETBIRD_KEY_EXIT_NODE), ==, "none");

  /* Screenshot: the form in a window on the X server, drawn once shown. */
  gtk_expander_set_expanded (GTK_EXPANDER (widget (root, "advanced_expander")), TRUE);
  window = gtk_window_new (GTK_WINDOW_TOPLEVEL);
  gtk_window_set_default_size (GTK_WINDOW (window), 560, -1);
  gtk_container_add (GTK_CONTAINER (window), root);
  g_signal_connect (window, "draw", G_CALLBACK (drawn_cb), &drawn);
  gtk_widget_show_all (window);
  editor_test_wait_for (&drawn, 20);
  width = gtk_widget_get_allocated_width (window);
  height = gtk_widget_get_allocated_height (window);
  g_assert_cmpint (width, >=, 400);
  g_assert_cmpint (height, >=, 300);
  surface = cairo_image_surface_create (CAIRO_FORMAT_ARGB32, width, height);
  cr = cairo_create (surface);
  gtk_widget_draw (window, cr);
  cairo_destroy (cr);
  g_assert_cmpint (cairo_surface_write_to_png (surface, png), ==, CAIRO_STATUS_SUCCESS);
  cairo_surface_destroy (surface);
  g_test_message ("screenshot: %s (%dx%d)", png, width, height);
  gtk_container_remove (GTK_CONTAINER (window), root);
  gtk_widget_destroy (window);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  if (!gtk_init_check (NULL, NULL))
    {
      g_test_skip ("no display (run through test-editor.sh, which starts Xvfb)");
      return 77;
    }
  factory = editor_test_load_factory ("NB_EDITOR_GTK3_MODULE", EDITOR_MODULE_PATH);

  g_test_add_func ("/editor/gtk3/fill-validate-screenshot", test_gtk3);
  return g_test_run ();
}
