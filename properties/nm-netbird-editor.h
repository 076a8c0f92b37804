/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The NetBird connection editor (NMVpnEditor), built twice from one source:
 * libnm-vpn-plugin-netbird-editor.so (GTK3, nm-connection-editor) and
 * libnm-gtk4-vpn-plugin-netbird-editor.so (GTK4, GNOME Settings). The editor
 * plugin dlopens the one that matches the host's GTK and calls the factory,
 * so the plugin itself never links GTK.
 */
#pragma once

#include <NetworkManager.h>

G_BEGIN_DECLS

/* Resolved by name with dlsym(): keep the name and signature. */
typedef NMVpnEditor *(*NMNetbirdEditorFactory) (NMVpnEditorPlugin *editor_plugin,
                                                NMConnection *connection,
                                                GError **error);

NMVpnEditor *nm_vpn_editor_factory_netbird (NMVpnEditorPlugin *editor_plugin,
                                            NMConnection *connection,
                                            GError **error);

G_END_DECLS
