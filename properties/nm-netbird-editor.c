/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The NetBird connection editor: one form per connection, built from the
 * GResource .ui (GTK3 form in the source tree, a GTK4 copy made at build
 * time), compiled once against GTK3 + libnma and once against GTK4 +
 * libnma-gtk4. The few calls that differ between the toolkits are wrapped
 * below; everything else is shared.
 *
 * Every rule on a value comes from shared/nm-netbird-settings.c, so the
 * editor never accepts what the service would refuse. A field is checked as
 * it is edited (the "error" style class shows the problem at the field) and
 * again, all of them, in update_connection(), which refuses to produce a
 * connection while any field is wrong; the GError names the key.
 *
 * An empty field means "the default": its key is left out of vpn.data, so a
 * later change of a default reaches connections that never chose a value.
 */
#define G_LOG_DOMAIN "nb-editor"

#include "config.h"

#include "nm-netbird-editor.h"

#include <string.h>

#include <glib/gi18n-lib.h>
#include <gtk/gtk.h>
#include <nma-ui-utils.h>

#include "nm-netbird-settings.h"

#define UI_RESOURCE "/org/freedesktop/network-manager-netbird/nm-netbird-dialog.ui"
#define UI_ROOT "netbird-vbox"

/* ------------------------------------------------------------------------ */
/* GTK3 / GTK4 differences. */

static const char *
entry_get_text (GtkWidget *entry)
{
#if GTK_CHECK_VERSION (4, 0, 0)
  return gtk_editable_get_text (GTK_EDITABLE (entry));
#else
  return gtk_entry_get_text (GTK_ENTRY (entry));
#endif
}

static void
entry_set_text (GtkWidget *entry, const char *text)
{
#if GTK_CHECK_VERSION (4, 0, 0)
  gtk_editable_set_text (GTK_EDITABLE (entry), text);
#else
  gtk_entry_set_text (GTK_ENTRY (entry), text);
#endif
}

static gboolean
check_get_active (GtkWidget *check)
{
#if GTK_CHECK_VERSION (4, 0, 0)
  return gtk_check_button_get_active (GTK_CHECK_BUTTON (check));
#else
  return gtk_toggle_button_get_active (GTK_TOGGLE_BUTTON (check));
#endif
}

static void
check_set_active (GtkWidget *check, gboolean active)
{
#if GTK_CHECK_VERSION (4, 0, 0)
  gtk_check_button_set_active (GTK_CHECK_BUTTON (check), active);
#else
  gtk_toggle_button_set_active (GTK_TOGGLE_BUTTON (check), active);
#endif
}

static char *
tooltip_dup (GtkWidget *widget)
{
#if GTK_CHECK_VERSION (4, 0, 0)
  return g_strdup (gtk_widget_get_tooltip_text (widget));
#else
  return gtk_widget_get_tooltip_text (widget);   /* already a copy */
#endif
}

static void
set_error_style (GtkWidget *widget, gboolean is_error)
{
#if GTK_CHECK_VERSION (4, 0, 0)
  if (is_error)
    gtk_widget_add_css_class (widget, "error");
  else
    gtk_widget_remove_css_class (widget, "error");
#else
  GtkStyleContext *style = gtk_widget_get_style_context (widget);

  if (is_error)
    gtk_style_context_add_class (style, "error");
  else
    gtk_style_context_remove_class (style, "error");
#endif
}

/* A copy of a secret, wiped before it is freed. */
typedef char NbSecretCopy;

static void
nb_secret_copy_free (NbSecretCopy *secret)
{
  if (secret == NULL)
    return;
  explicit_bzero (secret, strlen (secret));
  g_free (secret);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (NbSecretCopy, nb_secret_copy_free)

/* ------------------------------------------------------------------------ */
/* The fields: widget id -> key. */

typedef struct {
  const char *widget_id;
  const char *key;
  const char *fallback;         /* combos: the item shown for an absent value */
} Field;

/* Free text, validated by nm_netbird_validate_key_value(). */
static const Field text_fields[] = {
  { "management_url_entry", NM_NETBIRD_KEY_MANAGEMENT_URL },
  { "admin_url_entry", NM_NETBIRD_KEY_ADMIN_URL },
  { "interface_name_entry", NM_NETBIRD_KEY_INTERFACE_NAME },
  { "listen_port_entry", NM_NETBIRD_KEY_LISTEN_PORT },
  { "hostname_entry", NM_NETBIRD_KEY_HOSTNAME },
  { "mtu_entry", NM_NETBIRD_KEY_MTU },
  { "exit_node_entry", NM_NETBIRD_KEY_EXIT_NODE },
};

/* Combo boxes whose item ids are the values; always written. */
static const Field combo_fields[] = {
  { "wireguard_backend_combo", NM_NETBIRD_KEY_WIREGUARD_BACKEND, "auto" },
  { "log_level_combo", NM_NETBIRD_KEY_LOG_LEVEL, "info" },
};

/* Secrets, each with libnma's password-storage menu on its entry. */
static const Field secret_fields[] = {
  { "setup_key_entry", NM_NETBIRD_KEY_SETUP_KEY },
  { "preshared_key_entry", NM_NETBIRD_KEY_PRESHARED_KEY },
};

/* ------------------------------------------------------------------------ */

#define NM_TYPE_NETBIRD_EDITOR (nm_netbird_editor_get_type ())
G_DECLARE_FINAL_TYPE (NMNetbirdEditor, nm_netbird_editor, NM, NETBIRD_EDITOR, GObject)

struct _NMNetbirdEditor {
  GObject parent_instance;

  GtkBuilder *builder;
  GtkWidget *widget;            /* UI_ROOT, a reference we own */
  gboolean new_connection;      /* no data and no secrets when opened */
};

static void nm_netbird_editor_interface_init (NMVpnEditorInterface *iface);

G_DEFINE_TYPE_WITH_CODE (NMNetbirdEditor, nm_netbird_editor, G_TYPE_OBJECT,
                         G_IMPLEMENT_INTERFACE (NM_TYPE_VPN_EDITOR,
                                                nm_netbird_editor_interface_init))

static GtkWidget *
get_widget (NMNetbirdEditor *self, const char *id)
{
  GObject *object = gtk_builder_get_object (self->builder, id);

  g_return_val_if_fail (GTK_IS_WIDGET (object), NULL);
  return GTK_WIDGET (object);
}

/* The entry's text without surrounding blanks (pasted keys often have a
 * trailing newline or space); NULL when nothing is left. */
static char *
entry_value (GtkWidget *entry)
{
  g_autoptr (NbSecretCopy) text = g_strdup (entry_get_text (entry));

  g_strstrip (text);
  if (text[0] == '\0')
    return NULL;
  return g_steal_pointer (&text);
}

static gboolean
secret_is_stored (GtkWidget *entry)
{
  NMSettingSecretFlags flags = nma_utils_menu_to_secret_flags (entry);

  return !(flags & (NM_SETTING_SECRET_FLAG_NOT_SAVED | NM_SETTING_SECRET_FLAG_NOT_REQUIRED));
}

/* Shows a field's state: the "error" style class, and the reason as its
 * tooltip (the .ui's own tooltip comes back once the value is right). */
static void
mark_field (GtkWidget *entry, const GError *problem)
{
  const char *help = g_object_get_data (G_OBJECT (entry), "nm-netbird-help");

  set_error_style (entry, problem != NULL);
  gtk_widget_set_tooltip_text (entry, problem ? problem->message : help);
}

/* Checks one field, marks it, and returns FALSE with the settings module's
 * error (which names the key) when it is wrong. Empty fields are fine. */
static gboolean
check_text_field (NMNetbirdEditor *self, const Field *field, GError **error)
{
  GtkWidget *entry = get_widget (self, field->widget_id);
  g_autofree char *value = entry_value (entry);
  g_autoptr (GError) problem = NULL;

  if (value != NULL)
    nm_netbird_validate_key_value (field->key, value, &problem);
  mark_field (entry, problem);
  if (problem == NULL)
    return TRUE;
  g_propagate_error (error, g_steal_pointer (&problem));
  return FALSE;
}

static gboolean
check_secret_field (NMNetbirdEditor *self, const Field *field, GError **error)
{
  GtkWidget *entry = get_widget (self, field->widget_id);
  g_autoptr (NbSecretCopy) value = NULL;
  g_autoptr (GError) problem = NULL;

  if (secret_is_stored (entry))
    value = entry_value (entry);
  if (value != NULL)
    {
      if (g_str_equal (field->key, NM_NETBIRD_KEY_SETUP_KEY))
        nm_netbird_validate_setup_key (value, &problem);
      else
        nm_netbird_validate_key_value (field->key, value, &problem);
    }
  mark_field (entry, problem);
  if (problem == NULL)
    return TRUE;
  g_propagate_error (error, g_steal_pointer (&problem));
  return FALSE;
}

/* Checks every field so that all wrong ones are marked at once; the error
 * is the first one's. */
static gboolean
check_all (NMNetbirdEditor *self, GError **error)
{
  gboolean ok = TRUE;

  for (gsize i = 0; i < G_N_ELEMENTS (text_fields); i++)
    if (!check_text_field (self, &text_fields[i], ok ? error : NULL))
      ok = FALSE;
  for (gsize i = 0; i < G_N_ELEMENTS (secret_fields); i++)
    if (!check_secret_field (self, &secret_fields[i], ok ? error : NULL))
      ok = FALSE;
  return ok;
}

static void
emit_changed (NMNetbirdEditor *self)
{
  g_signal_emit_by_name (self, "changed");
}

static void
text_changed_cb (GtkWidget *entry, gpointer user_data)
{
  NMNetbirdEditor *self = user_data;
  const Field *field = g_object_get_data (G_OBJECT (entry), "nm-netbird-field");

  if (field >= text_fields && field < text_fields + G_N_ELEMENTS (text_fields))
    check_text_field (self, field, NULL);
  else
    check_secret_field (self, field, NULL);
  emit_changed (self);
}

static void
storage_changed_cb (GObject *entry, GParamSpec *pspec, gpointer user_data)
{
  NMNetbirdEditor *self = user_data;

  check_secret_field (self, g_object_get_data (entry, "nm-netbird-field"), NULL);
  emit_changed (self);
}

static void
stuff_changed_cb (GtkWidget *widget, gpointer user_data)
{
  emit_changed (user_data);
}

static void
rosenpass_toggled_cb (GtkWidget *check, gpointer user_data)
{
  NMNetbirdEditor *self = user_data;

  gtk_widget_set_sensitive (get_widget (self, "rosenpass_permissive_check"),
                            check_get_active (check));
  emit_changed (self);
}

static gboolean
is_yes (const char *value)
{
  return g_strcmp0 (value, "yes") == 0;
}

static void
fill_form (NMNetbirdEditor *self, NMSettingVpn *s_vpn)
{
  GtkWidget *widget;

  for (gsize i = 0; i < G_N_ELEMENTS (text_fields); i++)
    {
      const char *value = s_vpn ? nm_setting_vpn_get_data_item (s_vpn, text_fields[i].key) : NULL;

      widget = get_widget (self, text_fields[i].widget_id);
      g_object_set_data_full (G_OBJECT (widget), "nm-netbird-help", tooltip_dup (widget), g_free);
      entry_set_text (widget, value ? value : "");
      g_object_set_data (G_OBJECT (widget), "nm-netbird-field", (gpointer) &text_fields[i]);
      g_signal_connect (widget, "changed", G_CALLBACK (text_changed_cb), self);
      check_text_field (self, &text_fields[i], NULL);
    }

  for (gsize i = 0; i < G_N_ELEMENTS (combo_fields); i++)
    {
      const char *value = s_vpn ? nm_setting_vpn_get_data_item (s_vpn, combo_fields[i].key) : NULL;

      widget = get_widget (self, combo_fields[i].widget_id);
      /* (GtkBuilder cannot preselect a GtkComboBoxText item: "active-id"
       * is applied before the items exist.) */
      if (value == NULL || !gtk_combo_box_set_active_id (GTK_COMBO_BOX (widget), value))
        gtk_combo_box_set_active_id (GTK_COMBO_BOX (widget), combo_fields[i].fallback);
      g_signal_connect (widget, "changed", G_CALLBACK (stuff_changed_cb), self);
    }

  widget = get_widget (self, "rosenpass_permissive_check");
  check_set_active (widget, s_vpn && is_yes (nm_setting_vpn_get_data_item (s_vpn, NM_NETBIRD_KEY_ROSENPASS_PERMISSIVE)));
  g_signal_connect (widget, "toggled", G_CALLBACK (stuff_changed_cb), self);

  widget = get_widget (self, "rosenpass_check");
  check_set_active (widget, s_vpn && is_yes (nm_setting_vpn_get_data_item (s_vpn, NM_NETBIRD_KEY_ROSENPASS)));
  gtk_widget_set_sensitive (get_widget (self, "rosenpass_permissive_check"), check_get_active (widget));
  g_signal_connect (widget, "toggled", G_CALLBACK (rosenpass_toggled_cb), self);

  for (gsize i = 0; i < G_N_ELEMENTS (secret_fields); i++)
    {
      const char *value = s_vpn ? nm_setting_vpn_get_secret (s_vpn, secret_fields[i].key) : NULL;

      widget = get_widget (self, secret_fields[i].widget_id);
      g_object_set_data_full (G_OBJECT (widget), "nm-netbird-help", tooltip_dup (widget), g_free);
      entry_set_text (widget, value ? value : "");
      /* New connections keep their secrets in the user's keyring (agent
       * owned), as the other VPN editors do; existing ones keep theirs. */
      if (self->new_connection)
        nma_utils_setup_password_storage (widget, NM_SETTING_SECRET_FLAG_AGENT_OWNED,
                                          NULL, NULL, TRUE, FALSE);
      else
        nma_utils_setup_password_storage (widget, NM_SETTING_SECRET_FLAG_NONE,
                                          NM_SETTING (s_vpn), secret_fields[i].key,
                                          TRUE, FALSE);
      g_object_set_data (G_OBJECT (widget), "nm-netbird-field", (gpointer) &secret_fields[i]);
      g_signal_connect (widget, "changed", G_CALLBACK (text_changed_cb), self);
      /* libnma shows the chosen storage as the entry's icon; a new choice
       * (e.g. "all users" instead of "this user") is an edit too. */
      g_signal_connect (widget, "notify::secondary-icon-name", G_CALLBACK (storage_changed_cb), self);
      check_secret_field (self, &secret_fields[i], NULL);
    }

  /* Open the advanced part when it holds something other than defaults. */
  if (s_vpn != NULL
      && (nm_setting_vpn_get_data_item (s_vpn, NM_NETBIRD_KEY_HOSTNAME)
          || nm_setting_vpn_get_data_item (s_vpn, NM_NETBIRD_KEY_MTU)
          || g_strcmp0 (nm_setting_vpn_get_data_item (s_vpn, NM_NETBIRD_KEY_EXIT_NODE) ?: NM_NETBIRD_EXIT_NODE_AUTO,
                        NM_NETBIRD_EXIT_NODE_AUTO) != 0
          || nm_setting_vpn_get_secret (s_vpn, NM_NETBIRD_KEY_PRESHARED_KEY)
          || is_yes (nm_setting_vpn_get_data_item (s_vpn, NM_NETBIRD_KEY_ROSENPASS_PERMISSIVE))
          || g_strcmp0 (nm_setting_vpn_get_data_item (s_vpn, NM_NETBIRD_KEY_LOG_LEVEL) ?: "info", "info") != 0))
    gtk_expander_set_expanded (GTK_EXPANDER (get_widget (self, "advanced_expander")), TRUE);
}

/* ------------------------------------------------------------------------ */
/* NMVpnEditor */

static GObject *
editor_get_widget (NMVpnEditor *iface)
{
  NMNetbirdEditor *self = NM_NETBIRD_EDITOR (iface);

  return G_OBJECT (self->widget);
}

static gboolean
editor_update_connection (NMVpnEditor *iface, NMConnection *connection, GError **error)
{
  NMNetbirdEditor *self = NM_NETBIRD_EDITOR (iface);
  NMSettingVpn *old_vpn = nm_connection_get_setting_vpn (connection);
  g_autoptr (NMSettingVpn) s_vpn = NULL;
  GtkWidget *widget;
  gboolean rosenpass;

  if (!check_all (self, error))
    return FALSE;

  s_vpn = NM_SETTING_VPN (nm_setting_vpn_new ());
  g_object_set (s_vpn, NM_SETTING_VPN_SERVICE_TYPE, NM_NETBIRD_SERVICE_TYPE, NULL);
  /* What the form does not show survives the edit. */
  if (old_vpn != NULL)
    g_object_set (s_vpn,
                  NM_SETTING_VPN_USER_NAME, nm_setting_vpn_get_user_name (old_vpn),
                  NM_SETTING_VPN_PERSISTENT, nm_setting_vpn_get_persistent (old_vpn),
                  NM_SETTING_VPN_TIMEOUT, nm_setting_vpn_get_timeout (old_vpn),
                  NULL);

  for (gsize i = 0; i < G_N_ELEMENTS (text_fields); i++)
    {
      g_autofree char *value = entry_value (get_widget (self, text_fields[i].widget_id));

      if (value != NULL)
        nm_setting_vpn_add_data_item (s_vpn, text_fields[i].key, value);
    }

  for (gsize i = 0; i < G_N_ELEMENTS (combo_fields); i++)
    {
      const char *id = gtk_combo_box_get_active_id (GTK_COMBO_BOX (get_widget (self, combo_fields[i].widget_id)));

      if (id != NULL)
        nm_setting_vpn_add_data_item (s_vpn, combo_fields[i].key, id);
    }

  rosenpass = check_get_active (get_widget (self, "rosenpass_check"));
  nm_setting_vpn_add_data_item (s_vpn, NM_NETBIRD_KEY_ROSENPASS, rosenpass ? "yes" : "no");
  if (rosenpass)
    nm_setting_vpn_add_data_item (s_vpn, NM_NETBIRD_KEY_ROSENPASS_PERMISSIVE,
                                  check_get_active (get_widget (self, "rosenpass_permissive_check")) ? "yes" : "no");

  for (gsize i = 0; i < G_N_ELEMENTS (secret_fields); i++)
    {
      NMSettingSecretFlags flags;
      g_autoptr (NbSecretCopy) value = NULL;

      widget = get_widget (self, secret_fields[i].widget_id);
      flags = nma_utils_menu_to_secret_flags (widget);
      if (secret_is_stored (widget))
        value = entry_value (widget);
      if (value != NULL)
        nm_setting_vpn_add_secret (s_vpn, secret_fields[i].key, value);
      if (!nm_setting_set_secret_flags (NM_SETTING (s_vpn), secret_fields[i].key, flags, error))
        return FALSE;
    }

  nm_connection_add_setting (connection, NM_SETTING (g_steal_pointer (&s_vpn)));
  return TRUE;
}

static void
nm_netbird_editor_interface_init (NMVpnEditorInterface *iface)
{
  iface->get_widget = editor_get_widget;
  iface->update_connection = editor_update_connection;
}

static void
nm_netbird_editor_dispose (GObject *object)
{
  NMNetbirdEditor *self = NM_NETBIRD_EDITOR (object);

  /* The host may keep the widgets a while longer (and GTK may still
   * notify on them while tearing them down): no callback must reach us. */
  if (self->builder != NULL)
    {
      g_autoptr (GSList) objects = gtk_builder_get_objects (self->builder);

      for (GSList *l = objects; l; l = l->next)
        g_signal_handlers_disconnect_by_data (l->data, self);
    }
  g_clear_object (&self->widget);
  g_clear_object (&self->builder);
  G_OBJECT_CLASS (nm_netbird_editor_parent_class)->dispose (object);
}

static void
nm_netbird_editor_class_init (NMNetbirdEditorClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = nm_netbird_editor_dispose;
}

static void
nm_netbird_editor_init (NMNetbirdEditor *self)
{
}

static void
count_item_cb (const char *key, const char *value, gpointer user_data)
{
  (*(guint *) user_data)++;
}

static NMVpnEditor *
nm_netbird_editor_new (NMConnection *connection, GError **error)
{
  g_autoptr (NMNetbirdEditor) self = g_object_new (NM_TYPE_NETBIRD_EDITOR, NULL);
  NMSettingVpn *s_vpn = nm_connection_get_setting_vpn (connection);
  guint items = 0;

  self->builder = gtk_builder_new ();
  gtk_builder_set_translation_domain (self->builder, GETTEXT_PACKAGE);
  if (!gtk_builder_add_from_resource (self->builder, UI_RESOURCE, error))
    return NULL;

  self->widget = get_widget (self, UI_ROOT);
  if (self->widget == NULL)
    {
      g_set_error_literal (error, NM_CONNECTION_ERROR, NM_CONNECTION_ERROR_FAILED,
                           _("could not load the NetBird editor's widgets"));
      return NULL;
    }
  g_object_ref_sink (self->widget);

  if (s_vpn != NULL)
    {
      nm_setting_vpn_foreach_data_item (s_vpn, count_item_cb, &items);
      nm_setting_vpn_foreach_secret (s_vpn, count_item_cb, &items);
    }
  self->new_connection = items == 0;

  fill_form (self, s_vpn);
  return NM_VPN_EDITOR (g_steal_pointer (&self));
}

G_MODULE_EXPORT NMVpnEditor *
nm_vpn_editor_factory_netbird (NMVpnEditorPlugin *editor_plugin,
                               NMConnection *connection,
                               GError **error)
{
  g_return_val_if_fail (NM_IS_CONNECTION (connection), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  return nm_netbird_editor_new (connection, error);
}
