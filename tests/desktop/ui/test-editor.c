/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The GTK4 editor as GNOME Settings uses it: the module built in
 * properties/ is opened with GModule, the editor comes from its factory
 * symbol, fields are filled through the widgets (by their builder ids, which
 * are the editor's contract with its .ui), and the NMConnection the editor
 * writes is checked key by key. Runs on a real X server (Xvfb, started by
 * test-editor.sh) because GTK needs a display; the screenshot it leaves in
 * the build tree shows what the form looks like.
 */
#include "config.h"

#include <gtk/gtk.h>
#include <nma-ui-utils.h>
#include <NetworkManager.h>

#include "editor-test-util.h"
#include "nm-netbird-editor.h"
#include "nm-netbird-settings.h"

#define SETUP_KEY "A1B2C3D4-0000-4111-8222-0123456789AB"
#define PSK "kDyh9e9mCgzlRMo8qUsaplZeNvf4Pq7tPUxrJ+5dDmM="

static NMNetbirdEditorFactory factory;

typedef struct {
  NMConnection *connection;
  NMVpnEditor *editor;
  GtkWidget *widget;
  guint changed;
} Fixture;

static void
changed_cb (NMVpnEditor *editor, gpointer user_data)
{
  Fixture *f = user_data;

  f->changed++;
}

static void
open_editor (Fixture *f, NMConnection *connection)
{
  g_autoptr (GError) error = NULL;

  f->connection = connection;
  f->editor = factory (NULL, connection, &error);
  g_assert_no_error (error);
  g_assert_true (NM_IS_VPN_EDITOR (f->editor));
  f->widget = GTK_WIDGET (nm_vpn_editor_get_widget (f->editor));
  g_assert_true (GTK_IS_WIDGET (f->widget));
  g_signal_connect (f->editor, "changed", G_CALLBACK (changed_cb), f);
}

static void
close_editor (Fixture *f)
{
  g_clear_object (&f->editor);
  g_clear_object (&f->connection);
}

/* Widgets are found by builder id: the editor's GtkBuilder keeps the ids as
 * the widgets' buildable ids, reachable from the root widget. (A collapsed
 * GtkExpander keeps its child out of the widget tree.) */
static GtkWidget *
find_widget (GtkWidget *root, const char *id)
{
  GtkWidget *child;

  if (g_strcmp0 (gtk_buildable_get_buildable_id (GTK_BUILDABLE (root)), id) == 0)
    return root;
  if (GTK_IS_EXPANDER (root) && gtk_expander_get_child (GTK_EXPANDER (root)) != NULL)
    {
      GtkWidget *found = find_widget (gtk_expander_get_child (GTK_EXPANDER (root)), id);

      if (found)
        return found;
    }
  for (child = gtk_widget_get_first_child (root); child; child = gtk_widget_get_next_sibling (child))
    {
      GtkWidget *found = find_widget (child, id);

      if (found)
        return found;
    }
  return NULL;
}

static GtkWidget *
widget (Fixture *f, const char *id)
{
  GtkWidget *w = find_widget (f->widget, id);

  if (w == NULL)
    g_error ("no widget '%s' in the editor", id);
  return w;
}

static void
set_text (Fixture *f, const char *id, const char *text)
{
  gtk_editable_set_text (GTK_EDITABLE (widget (f, id)), text);
}

static NMSettingVpn *
update (Fixture *f)
{
  g_autoptr (GError) error = NULL;

  g_assert_true (nm_vpn_editor_update_connection (f->editor, f->connection, &error));
  g_assert_no_error (error);
  return nm_connection_get_setting_vpn (f->connection);
}

static NMSettingSecretFlags
secret_flags (NMSettingVpn *s_vpn, const char *key)
{
  NMSettingSecretFlags flags = 0;
  g_autoptr (GError) error = NULL;

  g_assert_true (nm_setting_get_secret_flags (NM_SETTING (s_vpn), key, &flags, &error));
  g_assert_no_error (error);
  return flags;
}

/* ------------------------------------------------------------------------ */

/* A new connection: every field empty, combos at their defaults; empty
 * fields are left out of vpn.data, secrets default to the user's keyring. */
static void
test_defaults (void)
{
  Fixture f = { 0 };
  NMSettingVpn *s_vpn;
  g_autoptr (GError) error = NULL;

  open_editor (&f, editor_test_new_connection ());
  s_vpn = update (&f);

  g_assert_cmpstr (nm_setting_vpn_get_service_type (s_vpn), ==, NM_NETBIRD_SERVICE_TYPE);
  g_assert_null (nm_setting_vpn_get_data_item (s_vpn, NM_NETBIRD_KEY_MANAGEMENT_URL));
  g_assert_null (nm_setting_vpn_get_data_item (s_vpn, NM_NETBIRD_KEY_INTERFACE_NAME));
  g_assert_null (nm_setting_vpn_get_data_item (s_vpn, NM_NETBIRD_KEY_LISTEN_PORT));
  g_assert_null (nm_setting_vpn_get_data_item (s_vpn, NM_NETBIRD_KEY_ROSENPASS_PERMISSIVE));
  g_assert_null (nm_setting_vpn_get_data_item (s_vpn, NM_NETBIRD_KEY_EXIT_NODE));
  g_assert_cmpstr (nm_setting_vpn_get_data_item (s_vpn, NM_NETBIRD_KEY_WIREGUARD_BACKEND), ==, "auto");
  g_assert_cmpstr (nm_setting_vpn_get_data_item (s_vpn, NM_NETBIRD_KEY_LOG_LEVEL), ==, "info");
  g_assert_cmpstr (nm_setting_vpn_get_data_item (s_vpn, NM_NETBIRD_KEY_ROSENPASS), ==, "no");
  g_assert_null (nm_setting_vpn_get_secret (s_vpn, NM_NETBIRD_KEY_SETUP_KEY));
  g_assert_cmpint (secret_flags (s_vpn, NM_NETBIRD_KEY_SETUP_KEY), ==, NM_SETTING_SECRET_FLAG_AGENT_OWNED);
  g_assert_cmpint (secret_flags (s_vpn, NM_NETBIRD_KEY_PRESHARED_KEY), ==, NM_SETTING_SECRET_FLAG_AGENT_OWNED);

  /* What the editor writes, the service accepts. */
  g_assert_true (nm_netbird_validate_data (s_vpn, &error));
  g_assert_no_error (error);
  g_assert_true (nm_connection_verify (f.connection, &error));
  g_assert_no_error (error);
  close_editor (&f);
}

static void
fill_all (Fixture *f)
{
  set_text (f, "management_url_entry", "https://nb.example.com:33073");
  set_text (f, "admin_url_entry", "https://nb.example.com");
  set_text (f, "setup_key_entry", " " SETUP_KEY "\n");   /* as pasted */
  set_text (f, "interface_name_entry", "nb-office");
  set_text (f, "listen_port_entry", "51821");
  gtk_combo_box_set_active_id (GTK_COMBO_BOX (widget (f, "wireguard_backend_combo")), "userspace");
  gtk_check_button_set_active (GTK_CHECK_BUTTON (widget (f, "rosenpass_check")), TRUE);
  gtk_check_button_set_active (GTK_CHECK_BUTTON (widget (f, "rosenpass_permissive_check")), TRUE);
  set_text (f, "hostname_entry", "laptop.office");
  gtk_combo_box_set_active_id (GTK_COMBO_BOX (widget (f, "log_level_combo")), "debug");
  set_text (f, "mtu_entry", "1420");
  set_text (f, "exit_node_entry", "Exit DE 1");
  set_text (f, "preshared_key_entry", PSK);
}

/* Every field filled: each key lands in vpn.data / vpn.secrets, and every
 * edit told the host that the form changed. */
static void
test_fill (void)
{
  Fixture f = { 0 };
  NMSettingVpn *s_vpn;
  g_autoptr (GError) error = NULL;

  open_editor (&f, editor_test_new_connection ());
  g_assert_false (gtk_widget_get_sensitive (widget (&f, "rosenpass_permissive_check")));
  fill_all (&f);
  g_assert_cmpuint (f.changed, >=, 13);
  g_assert_true (gtk_widget_get_sensitive (widget (&f, "rosenpass_permissive_check")));

  s_vpn = update (&f);
  g_assert_cmpstr (nm_setting_vpn_get_data_item (s_vpn, NM_NETBIRD_KEY_MANAGEMENT_URL), ==, "https://nb.example.com:33073");
  g_assert_cmpstr (nm_setting_vpn_get_data_item (s_vpn, NM_NETBIRD_KEY_ADMIN_URL), ==, "https://nb.example.com");
  g_assert_cmpstr (nm_setting_vpn_get_data_item (s_vpn, NM_NETBIRD_KEY_INTERFACE_NAME), ==, "nb-office");
  g_assert_cmpstr (nm_setting_vpn_get_data_item (s_vpn, NM_NETBIRD_KEY_LISTEN_PORT), ==, "51821");
  g_assert_cmpstr (nm_setting_vpn_get_data_item (s_vpn, NM_NETBIRD_KEY_WIREGUARD_BACKEND), ==, "userspace");
  g_assert_cmpstr (nm_setting_vpn_get_data_item (s_vpn, NM_NETBIRD_KEY_ROSENPASS), ==, "yes");
  g_assert_cmpstr (nm_setting_vpn_get_data_item (s_vpn, NM_NETBIRD_KEY_ROSENPASS_PERMISSIVE), ==, "yes");
  g_assert_cmpstr (nm_setting_vpn_get_data_item (s_vpn, NM_NETBIRD_KEY_HOSTNAME), ==, "laptop.office");
  g_assert_cmpstr (nm_setting_vpn_get_data_item (s_vpn, NM_NETBIRD_KEY_LOG_LEVEL), ==, "debug");
  g_assert_cmpstr (nm_setting_vpn_get_data_item (s_vpn, NM_NETBIRD_KEY_MTU), ==, "1420");
  g_assert_cmpstr (nm_setting_vpn_get_data_item (s_vpn, NM_NETBIRD_KEY_EXIT_NODE), ==, "Exit DE 1");
  g_assert_cmpstr (nm_setting_vpn_get_secret (s_vpn, NM_NETBIRD_KEY_SETUP_KEY), ==, SETUP_KEY);
  g_assert_cmpstr (nm_setting_vpn_get_secret (s_vpn, NM_NETBIRD_KEY_PRESHARED_KEY), ==, PSK);
  g_assert_cmpint (secret_flags (s_vpn, NM_NETBIRD_KEY_SETUP_KEY), ==, NM_SETTING_SECRET_FLAG_AGENT_OWNED);
  g_assert_cmpstr (nm_setting_vpn_get_data_item (s_vpn, NM_NETBIRD_KEY_SETUP_KEY "-flags"), ==, "1");
  g_assert_true (nm_netbird_validate_data (s_vpn, &error));
  g_assert_no_error (error);
  g_assert_true (nm_netbird_validate_secrets (s_vpn, &error));
  g_assert_no_error (error);

  /* Turning Rosenpass off drops the permissive flag with it. */
  gtk_check_button_set_active (GTK_CHECK_BUTTON (widget (&f, "rosenpass_check")), FALSE);
  s_vpn = update (&f);
  g_assert_cmpstr (nm_setting_vpn_get_data_item (s_vpn, NM_NETBIRD_KEY_ROSENPASS), ==, "no");
  g_assert_null (nm_setting_vpn_get_data_item (s_vpn, NM_NETBIRD_KEY_ROSENPASS_PERMISSIVE));
  close_editor (&f);
}

/* The password-storage menu decides the flags, and a secret that is asked
 * every time (or not required) is not written, whatever the entry held. */
static void
test_secret_storage (void)
{
  static const NMSettingSecretFlags choices[] = {
    NM_SETTING_SECRET_FLAG_NONE,          /* stored for all users */
    NM_SETTING_SECRET_FLAG_AGENT_OWNED,   /* stored for this user */
    NM_SETTING_SECRET_FLAG_NOT_SAVED,     /* ask every time */
    NM_SETTING_SECRET_FLAG_NOT_REQUIRED,
  };
  Fixture f = { 0 };

  open_editor (&f, editor_test_new_connection ());
  fill_all (&f);
  for (gsize i = 0; i < G_N_ELEMENTS (choices); i++)
    {
      GtkWidget *entry = widget (&f, "setup_key_entry");
      NMSettingVpn *s_vpn;
      g_autofree char *flags_str = g_strdup_printf ("%u", choices[i]);

      guint changed_before = f.changed;

      nma_utils_update_password_storage (entry, choices[i], NULL, NULL);
      g_assert_cmpint (nma_utils_menu_to_secret_flags (entry), ==, choices[i]);
      if (i > 0)
        g_assert_cmpuint (f.changed, >, changed_before);
      /* libnma empties the entry for the last two; put the key back to
       * show the editor does not save it anyway. */
      gtk_editable_set_text (GTK_EDITABLE (entry), SETUP_KEY);
      s_vpn = update (&f);
      g_assert_cmpint (secret_flags (s_vpn, NM_NETBIRD_KEY_SETUP_KEY), ==, choices[i]);
      g_assert_cmpstr (nm_setting_vpn_get_data_item (s_vpn, NM_NETBIRD_KEY_SETUP_KEY "-flags"), ==, flags_str);
      if (choices[i] & (NM_SETTING_SECRET_FLAG_NOT_SAVED | NM_SETTING_SECRET_FLAG_NOT_REQUIRED))
        g_assert_null (nm_setting_vpn_get_secret (s_vpn, NM_NETBIRD_KEY_SETUP_KEY));
      else
        g_assert_cmpstr (nm_setting_vpn_get_secret (s_vpn, NM_NETBIRD_KEY_SETUP_KEY), ==, SETUP_KEY);
    }
  close_editor (&f);
}

/* An existing connection is shown as it is and written back unchanged;
 * its stored flags (here: for all users) are kept. */
static void
test_existing (void)
{
  Fixture f = { 0 };
  NMConnection *connection = editor_test_new_connection ();
  NMSettingVpn *s_vpn = nm_connection_get_setting_vpn (connection);
  g_autoptr (NMConnection) before = NULL;

  nm_setting_vpn_add_data_item (s_vpn, NM_NETBIRD_KEY_MANAGEMENT_URL, "http://10.0.0.1:8080");
  nm_setting_vpn_add_data_item (s_vpn, NM_NETBIRD_KEY_LISTEN_PORT, "0");
  nm_setting_vpn_add_data_item (s_vpn, NM_NETBIRD_KEY_WIREGUARD_BACKEND, "kernel");
  nm_setting_vpn_add_data_item (s_vpn, NM_NETBIRD_KEY_ROSENPASS, "yes");
  nm_setting_vpn_add_data_item (s_vpn, NM_NETBIRD_KEY_ROSENPASS_PERMISSIVE, "no");
  nm_setting_vpn_add_data_item (s_vpn, NM_NETBIRD_KEY_LOG_LEVEL, "trace");
  nm_setting_vpn_add_data_item (s_vpn, NM_NETBIRD_KEY_MTU, "1380");
  nm_setting_vpn_add_data_item (s_vpn, NM_NETBIRD_KEY_EXIT_NODE, NM_NETBIRD_EXIT_NODE_NONE);
  nm_setting_vpn_add_secret (s_vpn, NM_NETBIRD_KEY_SETUP_KEY, SETUP_KEY);
  nm_setting_set_secret_flags (NM_SETTING (s_vpn), NM_NETBIRD_KEY_SETUP_KEY, NM_SETTING_SECRET_FLAG_NONE, NULL);
  nm_setting_set_secret_flags (NM_SETTING (s_vpn), NM_NETBIRD_KEY_PRESHARED_KEY, NM_SETTING_SECRET_FLAG_NOT_REQUIRED, NULL);
  g_object_set (s_vpn, NM_SETTING_VPN_PERSISTENT, TRUE, NULL);
  before = nm_simple_connection_new_clone (connection);

  open_editor (&f, connection);
  g_assert_cmpstr (gtk_editable_get_text (GTK_EDITABLE (widget (&f, "management_url_entry"))), ==, "http://10.0.0.1:8080");
  g_assert_cmpstr (gtk_editable_get_text (GTK_EDITABLE (widget (&f, "setup_key_entry"))), ==, SETUP_KEY);
  g_assert_cmpstr (gtk_editable_get_text (GTK_EDITABLE (widget (&f, "exit_node_entry"))), ==, "none");
  g_assert_cmpstr (gtk_combo_box_get_active_id (GTK_COMBO_BOX (widget (&f, "wireguard_backend_combo"))), ==, "kernel");
  g_assert_true (gtk_check_button_get_active (GTK_CHECK_BUTTON (widget (&f, "rosenpass_check"))));
  g_assert_true (gtk_expander_get_expanded (GTK_EXPANDER (widget (&f, "advanced_expander"))));
  g_assert_cmpint (nma_utils_menu_to_secret_flags (widget (&f, "setup_key_entry")), ==, NM_SETTING_SECRET_FLAG_NONE);
  g_assert_cmpint (nma_utils_menu_to_secret_flags (widget (&f, "preshared_key_entry")), ==, NM_SETTING_SECRET_FLAG_NOT_REQUIRED);
  g_assert_cmpuint (f.changed, ==, 0);

  update (&f);
  g_assert_true (nm_connection_compare (before, f.connection, NM_SETTING_COMPARE_FLAG_EXACT));
  close_editor (&f);
}

typedef struct {
  const char *widget_id;
  const char *text;
  const char *key;          /* the error message must name it */
} BadInput;

/* Each invalid field alone blocks saving with a message naming its key and
 * marks the field; the connection is left as it was; correcting the field
 * clears the mark and saving works again. */
static void
test_invalid (void)
{
  static const BadInput bad[] = {
    { "management_url_entry", "ftp://nb.example.com", NM_NETBIRD_KEY_MANAGEMENT_URL },
    { "management_url_entry", "https://nb.example.com:0", NM_NETBIRD_KEY_MANAGEMENT_URL },
    { "admin_url_entry", "app.netbird.io", NM_NETBIRD_KEY_ADMIN_URL },
    { "listen_port_entry", "70000", NM_NETBIRD_KEY_LISTEN_PORT },
    { "listen_port_entry", "51820x", NM_NETBIRD_KEY_LISTEN_PORT },
    { "interface_name_entry", "-x", NM_NETBIRD_KEY_INTERFACE_NAME },
    { "interface_name_entry", "a-very-long-interface", NM_NETBIRD_KEY_INTERFACE_NAME },
    { "hostname_entry", "bad host", NM_NETBIRD_KEY_HOSTNAME },
    { "mtu_entry", "100", NM_NETBIRD_KEY_MTU },
    { "exit_node_entry", "0123456789012345678901234567890123456789x", NM_NETBIRD_KEY_EXIT_NODE },
    { "exit_node_entry", "Exit\x01" "DE", NM_NETBIRD_KEY_EXIT_NODE },
    { "exit_node_entry", "\xc2\xa0" "Exit DE 1", NM_NETBIRD_KEY_EXIT_NODE },
    { "setup_key_entry", "not-a-setup-key", NM_NETBIRD_KEY_SETUP_KEY },
    { "preshared_key_entry", "c2hvcnQ=", NM_NETBIRD_KEY_PRESHARED_KEY },
  };
  Fixture f = { 0 };

  open_editor (&f, editor_test_new_connection ());
  fill_all (&f);
  update (&f);
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      GtkWidget *w = widget (&f, bad[i].widget_id);
      g_autofree char *good = g_strdup (gtk_editable_get_text (GTK_EDITABLE (w)));
      g_autoptr (NMConnection) before = nm_simple_connection_new_clone (f.connection);
      g_autoptr (GError) error = NULL;

      g_test_message ("%s = '%s'", bad[i].widget_id, bad[i].text);
      g_autofree char *help = g_strdup (gtk_widget_get_tooltip_text (w));

      gtk_editable_set_text (GTK_EDITABLE (w), bad[i].text);
      g_assert_true (gtk_widget_has_css_class (w, "error"));
      /* The reason is at the field too. */
      g_assert_nonnull (strstr (gtk_widget_get_tooltip_text (w), bad[i].key));
      g_assert_false (nm_vpn_editor_update_connection (f.editor, f.connection, &error));
      g_assert_nonnull (error);
      g_assert_nonnull (strstr (error->message, bad[i].key));
      if (bad[i].widget_id[0] == 's' || bad[i].widget_id[0] == 'p')
        g_assert_null (strstr (error->message, bad[i].text));  /* no secret in messages */
      g_assert_true (nm_connection_compare (before, f.connection, NM_SETTING_COMPARE_FLAG_EXACT));

      gtk_editable_set_text (GTK_EDITABLE (w), good);
      g_assert_false (gtk_widget_has_css_class (w, "error"));
      g_assert_cmpstr (gtk_widget_get_tooltip_text (w), ==, help);
      update (&f);
    }

  /* Two wrong fields: both are marked, the first one is reported. */
  {
    g_autoptr (GError) error = NULL;

    set_text (&f, "management_url_entry", "nonsense");
    set_text (&f, "mtu_entry", "99999");
    g_assert_false (nm_vpn_editor_update_connection (f.editor, f.connection, &error));
    g_assert_nonnull (strstr (error->message, NM_NETBIRD_KEY_MANAGEMENT_URL));
    g_assert_true (gtk_widget_has_css_class (widget (&f, "management_url_entry"), "error"));
    g_assert_true (gtk_widget_has_css_class (widget (&f, "mtu_entry"), "error"));
  }
  close_editor (&f);

  /* A bad value already in the connection is marked as soon as the form
   * opens, and blocks saving until it is corrected. */
  {
    NMConnection *connection = editor_test_new_connection ();
    g_autoptr (GError) error = NULL;

    nm_setting_vpn_add_data_item (nm_connection_get_setting_vpn (connection), NM_NETBIRD_KEY_MTU, "5");
    open_editor (&f, connection);
    g_assert_true (gtk_widget_has_css_class (widget (&f, "mtu_entry"), "error"));
    g_assert_false (nm_vpn_editor_update_connection (f.editor, f.connection, &error));
    g_assert_nonnull (strstr (error->message, NM_NETBIRD_KEY_MTU));
    g_assert_cmpstr (nm_setting_vpn_get_data_item (nm_connection_get_setting_vpn (f.connection), NM_NETBIRD_KEY_MTU), ==, "5");
    set_text (&f, "mtu_entry", "");
    g_assert_false (gtk_widget_has_css_class (widget (&f, "mtu_entry"), "error"));
    g_assert_null (nm_setting_vpn_get_data_item (update (&f), NM_NETBIRD_KEY_MTU));
    close_editor (&f);
  }
}

/* The exit node field: an existing choice is shown (and opens the advanced
 * part), an empty field leaves the key out (management decides), the two
 * words and a network ID are saved as typed, blanks around it dropped like
 * in every field. */
static void
test_exit_node (void)
{
  static const struct {
    const char *text;
    const char *saved;  /* NULL: key absent */
  } cases[] = {
    { "", NULL },
    { NM_NETBIRD_EXIT_NODE_NONE, NM_NETBIRD_EXIT_NODE_NONE },
    { NM_NETBIRD_EXIT_NODE_AUTO, NM_NETBIRD_EXIT_NODE_AUTO },
    { " Exit DE 1\n", "Exit DE 1" },
    { "0123456789012345678901234567890123456789", "0123456789012345678901234567890123456789" },
  };
  Fixture f = { 0 };
  NMConnection *connection = editor_test_new_connection ();
  GtkWidget *entry;

  nm_setting_vpn_add_data_item (nm_connection_get_setting_vpn (connection),
                                NM_NETBIRD_KEY_EXIT_NODE, "Exit DE 1");
  open_editor (&f, connection);
  entry = widget (&f, "exit_node_entry");
  g_assert_cmpstr (gtk_editable_get_text (GTK_EDITABLE (entry)), ==, "Exit DE 1");
  g_assert_false (gtk_widget_has_css_class (entry, "error"));
  g_assert_true (gtk_expander_get_expanded (GTK_EXPANDER (widget (&f, "advanced_expander"))));
  g_assert_cmpstr (gtk_entry_get_placeholder_text (GTK_ENTRY (entry)), ==, "auto (as management decides)");
  g_assert_nonnull (strstr (gtk_widget_get_tooltip_text (entry), "none"));
  g_assert_cmpstr (nm_setting_vpn_get_data_item (update (&f), NM_NETBIRD_KEY_EXIT_NODE), ==, "Exit DE 1");

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      set_text (&f, "exit_node_entry", cases[i].text);
      g_assert_false (gtk_widget_has_css_class (entry, "error"));
      g_assert_cmpstr (nm_setting_vpn_get_data_item (update (&f), NM_NETBIRD_KEY_EXIT_NODE), ==, cases[i].saved);
    }
  close_editor (&f);

  /* "auto" is the default: it does not open the advanced part. */
  connection = editor_test_new_connection ();
  nm_setting_vpn_add_data_item (nm_connection_get_setting_vpn (connection),
                                NM_NETBIRD_KEY_EXIT_NODE, NM_NETBIRD_EXIT_NODE_AUTO);
  open_editor (&f, connection);
  g_assert_cmpstr (gtk_editable_get_text (GTK_EDITABLE (widget (&f, "exit_node_entry"))), ==, "auto");
  g_assert_false (gtk_expander_get_expanded (GTK_EXPANDER (widget (&f, "advanced_expander"))));
  close_editor (&f);
}

/* ------------------------------------------------------------------------ */
/* Screenshot */

static gboolean
tick_cb (GtkWidget *w, GdkFrameClock *clock, gpointer user_data)
{
  gboolean *ready = user_data;

  if (gtk_widget_get_mapped (w) && gtk_widget_get_width (w) > 0)
    {
      *ready = TRUE;
      return G_SOURCE_REMOVE;
    }
  return G_SOURCE_CONTINUE;
}

/* The form, shown in a window on the X server, rendered by the window's
 * own renderer into build-tree/tests/desktop/ui/editor-gtk4.png. */
static void
test_screenshot (void)
{
  Fixture f = { 0 };
  GtkWidget *window;
  gboolean ready = FALSE;
  int width, height;
  g_autoptr (GdkPaintable) paintable = NULL;
  g_autoptr (GskRenderNode) node = NULL;
  g_autoptr (GdkTexture) texture = NULL;
  g_autoptr (GdkTexture) reloaded = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *path = g_test_build_filename (G_TEST_BUILT, "editor-gtk4.png", NULL);
  GtkSnapshot *snapshot;
  GdkRGBA background = { 0.98, 0.98, 0.98, 1.0 };
  graphene_rect_t bounds;

  open_editor (&f, editor_test_new_connection ());
  fill_all (&f);
  set_text (&f, "setup_key_entry", SETUP_KEY);
  gtk_expander_set_expanded (GTK_EXPANDER (widget (&f, "advanced_expander")), TRUE);

  window = gtk_window_new ();
  gtk_window_set_title (GTK_WINDOW (window), "NetBird");
  gtk_window_set_default_size (GTK_WINDOW (window), 560, -1);
  gtk_window_set_child (GTK_WINDOW (window), f.widget);
  gtk_widget_add_tick_callback (f.widget, tick_cb, &ready, NULL);
  gtk_window_present (GTK_WINDOW (window));

  editor_test_wait_for (&ready, 20);

  g_test_message ("editor allocated %dx%d", gtk_widget_get_width (f.widget), gtk_widget_get_height (f.widget));
  g_assert_cmpint (gtk_widget_get_width (f.widget), >=, 400);
  g_assert_cmpint (gtk_widget_get_height (f.widget), >=, 300);

  /* The whole window: the form with its margins, as a user sees it. */
  width = gtk_widget_get_width (window);
  height = gtk_widget_get_height (window);
  graphene_rect_init (&bounds, 0, 0, width, height);
  paintable = gtk_widget_paintable_new (window);
  snapshot = gtk_snapshot_new ();
  gtk_snapshot_append_color (snapshot, &background, &bounds);
  gdk_paintable_snapshot (paintable, snapshot, width, height);
  node = gtk_snapshot_free_to_node (snapshot);
  g_assert_nonnull (node);
  texture = gsk_renderer_render_texture (gtk_native_get_renderer (GTK_NATIVE (window)), node, &bounds);
  g_assert_true (gdk_texture_save_to_png (texture, path));
  g_test_message ("screenshot: %s", path);

  reloaded = gdk_texture_new_from_filename (path, &error);
  g_assert_no_error (error);
  g_assert_cmpint (gdk_texture_get_width (reloaded), ==, width);
  g_assert_cmpint (gdk_texture_get_height (reloaded), ==, height);

  gtk_window_destroy (GTK_WINDOW (window));
  close_editor (&f);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  if (!gtk_init_check ())
    {
      g_test_skip ("no display (run through test-editor.sh, which starts Xvfb)");
      return 77;
    }

  factory = editor_test_load_factory ("NB_EDITOR_MODULE", EDITOR_MODULE_PATH);

  g_test_add_func ("/editor/gtk4/defaults", test_defaults);
  g_test_add_func ("/editor/gtk4/fill", test_fill);
  g_test_add_func ("/editor/gtk4/secret-storage", test_secret_storage);
  g_test_add_func ("/editor/gtk4/existing", test_existing);
  g_test_add_func ("/editor/gtk4/invalid", test_invalid);
  g_test_add_func ("/editor/gtk4/exit-node", test_exit_node);
  g_test_add_func ("/editor/gtk4/screenshot", test_screenshot);
  return g_test_run ();
}
