/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The plugin object is a thin shell: import, export and the file name are in
 * nm-netbird-import-export.c, the editor in properties/. Keeping GTK out of
 * this library is the point of the split: nmcli loads it to import a file on
 * a server without GTK, and a GTK3 process (nm-connection-editor) and a GTK4
 * one (GNOME Settings) each get the editor built for their toolkit.
 */
#define G_LOG_DOMAIN "nm-netbird-plugin"
#define _GNU_SOURCE  /* dladdr, RTLD_DEFAULT */

#include "config.h"

#include "nm-netbird-editor-plugin.h"

#include <dlfcn.h>
#include <glib/gi18n-lib.h>

#include "nm-netbird-import-export.h"
#include "nm-netbird-settings.h"

struct _NMNetbirdEditorPlugin {
  GObject parent_instance;
};

enum {
  PROP_0,
  PROP_NAME,
  PROP_DESCRIPTION,
  PROP_SERVICE,
};

static void nm_netbird_editor_plugin_interface_init (NMVpnEditorPluginInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (NMNetbirdEditorPlugin, nm_netbird_editor_plugin, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (NM_TYPE_VPN_EDITOR_PLUGIN,
                                                      nm_netbird_editor_plugin_interface_init))

/* ------------------------------------------------------------------------ */
/* The editor library */

/* The directory this library was loaded from. */
static char *
own_directory (void)
{
  Dl_info info;

  if (!dladdr ((void *) nm_netbird_editor_plugin_get_type, &info) || !info.dli_fname)
    return NULL;
  return g_path_get_dirname (info.dli_fname);
}

/* Loads @name once per process and returns its factory. A library that
 * loaded is never unloaded: it has registered GTypes. */
static NMNetbirdEditorFactory
load_editor_factory (const char *name, GError **error)
{
  static GHashTable *factories;  /* name -> factory; one thread (the UI's) */
  g_autofree char *dir = NULL;
  g_autofree char *path = NULL;
  NMNetbirdEditorFactory factory;
  void *module;

  if (!factories)
    factories = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  factory = g_hash_table_lookup (factories, name);
  if (factory)
    return factory;

  if (g_getenv (NM_NETBIRD_EDITOR_DIR_ENV) && g_getenv (NM_NETBIRD_EDITOR_DIR_ENV)[0])
    dir = g_strdup (g_getenv (NM_NETBIRD_EDITOR_DIR_ENV));
  else
    dir = own_directory ();
  if (!dir)
    {
      g_set_error (error, NM_VPN_PLUGIN_ERROR, NM_VPN_PLUGIN_ERROR_FAILED,
                   _("cannot load the NetBird editor %s: the plugin's own directory is unknown"), name);
      return NULL;
    }
  path = g_build_filename (dir, name, NULL);

  module = dlopen (path, RTLD_LAZY | RTLD_LOCAL);
  if (!module)
    {
      g_set_error (error, NM_VPN_PLUGIN_ERROR, NM_VPN_PLUGIN_ERROR_FAILED,
                   _("cannot load the NetBird editor %s: %s"), path, dlerror ());
      return NULL;
    }
  factory = (NMNetbirdEditorFactory) dlsym (module, NM_NETBIRD_EDITOR_FACTORY);
  if (!factory)
    {
      g_set_error (error, NM_VPN_PLUGIN_ERROR, NM_VPN_PLUGIN_ERROR_FAILED,
                   _("cannot load the NetBird editor %s: it has no %s"), path, NM_NETBIRD_EDITOR_FACTORY);
      dlclose (module);
      return NULL;
    }
  g_hash_table_insert (factories, g_strdup (name), factory);
  return factory;
}

static NMVpnEditor *
get_editor (NMVpnEditorPlugin *plugin, NMConnection *connection, GError **error)
{
  NMNetbirdEditorFactory factory;
  NMVpnEditor *editor;
  const char *name;

  g_return_val_if_fail (NM_IS_CONNECTION (connection), NULL);

  /* gtk_container_add exists in GTK3 only. */
  name = dlsym (RTLD_DEFAULT, "gtk_container_add") ? NM_NETBIRD_EDITOR_GTK3 : NM_NETBIRD_EDITOR_GTK4;
  factory = load_editor_factory (name, error);
  if (!factory)
    return NULL;

  editor = factory (plugin, connection, error);
  if (!editor)
    {
      if (error && !*error)
        g_set_error (error, NM_VPN_PLUGIN_ERROR, NM_VPN_PLUGIN_ERROR_FAILED,
                     _("the NetBird editor %s could not be created"), name);
      return NULL;
    }
  g_return_val_if_fail (NM_IS_VPN_EDITOR (editor), NULL);
  return editor;
}

/* ------------------------------------------------------------------------ */

static NMVpnEditorPluginCapability
get_capabilities (NMVpnEditorPlugin *plugin)
{
  return NM_VPN_EDITOR_PLUGIN_CAPABILITY_IMPORT | NM_VPN_EDITOR_PLUGIN_CAPABILITY_EXPORT;
}

static NMConnection *
import_from_file (NMVpnEditorPlugin *plugin, const char *path, GError **error)
{
  return nm_netbird_import_file (path, error);
}

static gboolean
export_to_file (NMVpnEditorPlugin *plugin, const char *path, NMConnection *connection,
                GError **error)
{
  return nm_netbird_export_file (path, connection, error);
}

static char *
get_suggested_filename (NMVpnEditorPlugin *plugin, NMConnection *connection)
{
  return nm_netbird_suggested_filename (connection);
}

static void
nm_netbird_editor_plugin_get_property (GObject *object, guint prop_id, GValue *value,
                                       GParamSpec *pspec)
{
  switch (prop_id)
    {
    case PROP_NAME:
      g_value_set_string (value, _("NetBird"));
      break;
    case PROP_DESCRIPTION:
      g_value_set_string (value, _("Joins a NetBird network: a peer-to-peer WireGuard mesh."));
      break;
    case PROP_SERVICE:
      g_value_set_string (value, NM_NETBIRD_SERVICE_TYPE);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
    }
}

static void
nm_netbird_editor_plugin_init (NMNetbirdEditorPlugin *self)
{
}

static void
nm_netbird_editor_plugin_interface_init (NMVpnEditorPluginInterface *iface)
{
  iface->get_editor = get_editor;
  iface->get_capabilities = get_capabilities;
  iface->import_from_file = import_from_file;
  iface->export_to_file = export_to_file;
  iface->get_suggested_filename = get_suggested_filename;
}

static void
nm_netbird_editor_plugin_class_init (NMNetbirdEditorPluginClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->get_property = nm_netbird_editor_plugin_get_property;

  g_object_class_override_property (object_class, PROP_NAME, NM_VPN_EDITOR_PLUGIN_NAME);
  g_object_class_override_property (object_class, PROP_DESCRIPTION, NM_VPN_EDITOR_PLUGIN_DESCRIPTION);
  g_object_class_override_property (object_class, PROP_SERVICE, NM_VPN_EDITOR_PLUGIN_SERVICE);
}

/* The entry point libnm looks up (the only exported symbol). */
NMVpnEditorPlugin *
nm_vpn_editor_plugin_factory (GError **error)
{
  g_return_val_if_fail (!error || !*error, NULL);

  bindtextdomain (GETTEXT_PACKAGE, LOCALEDIR);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");

  return g_object_new (NM_TYPE_NETBIRD_EDITOR_PLUGIN, NULL);
}
