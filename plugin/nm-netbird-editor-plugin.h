/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * NMNetbirdEditorPlugin: the NMVpnEditorPlugin of libnm-vpn-plugin-netbird.so,
 * what nmcli, nm-connection-editor and GNOME Settings load for a NetBird
 * connection: name, description, service, import and export
 * (nm-netbird-import-export.h), the suggested file name, and the editor.
 *
 * The plugin links no GTK, so nmcli works on a machine without it. The
 * editor comes from a second library, loaded on the first get_editor() and
 * kept loaded (it registers GTypes): the GTK3 one when GTK3 is already in
 * the process (gtk_container_add resolves, as in NetworkManager-openvpn),
 * the GTK4 one otherwise. Both are looked up in the directory this plugin
 * was loaded from, or in $NM_NETBIRD_EDITOR_DIR when that is set (the
 * build tree's properties/ for tests). Each exports
 * NM_NETBIRD_EDITOR_FACTORY with the NMNetbirdEditorFactory signature.
 */
#pragma once

#include <NetworkManager.h>

G_BEGIN_DECLS

#define NM_NETBIRD_EDITOR_GTK3        "libnm-vpn-plugin-netbird-editor.so"
#define NM_NETBIRD_EDITOR_GTK4        "libnm-gtk4-vpn-plugin-netbird-editor.so"
#define NM_NETBIRD_EDITOR_FACTORY     "nm_vpn_editor_factory_netbird"
#define NM_NETBIRD_EDITOR_DIR_ENV     "NM_NETBIRD_EDITOR_DIR"

typedef NMVpnEditor *(*NMNetbirdEditorFactory) (NMVpnEditorPlugin *plugin,
                                                NMConnection *connection,
                                                GError **error);

#define NM_TYPE_NETBIRD_EDITOR_PLUGIN (nm_netbird_editor_plugin_get_type ())
G_DECLARE_FINAL_TYPE (NMNetbirdEditorPlugin, nm_netbird_editor_plugin, NM, NETBIRD_EDITOR_PLUGIN, GObject)

G_END_DECLS
