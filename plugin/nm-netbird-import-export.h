/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Import and export of NetBird connections, in two formats (plugin/README.md
 * documents both for users):
 *
 *  - our connection file ("*.netbird"): an INI-like text file with one
 *    [netbird] section whose keys are the vpn.data keys of
 *    shared/nm-netbird-settings.h, plus name= (the connection's name) and,
 *    on import only, setup-key= and preshared-key= (stored as secrets that
 *    NetworkManager keeps, flags 0). Export writes every vpn.data key the
 *    connection has, in a fixed order, and never a secret;
 *
 *  - NetBird's own client configuration (config.json, the JSON of the Go
 *    client's profilemanager.Config): ManagementURL and AdminURL (Go url.URL
 *    objects, or plain strings), WgIface, WgPort, MTU, RosenpassEnabled,
 *    RosenpassPermissive, PreSharedKey (a secret, import only) and Name.
 *    Field names match case-insensitively, as Go's encoding/json does; other
 *    fields (the private key, the SSH key, routes, ...) are ignored on
 *    import and never written.
 *
 * Every refusal is a GError in NM_CONNECTION_ERROR whose message names the
 * line (our file) or the field (config.json) and what is wrong with it:
 * "line 4: unknown key 'foo'", "line 2: management-url: not an http(s) URL",
 * "WgPort: not a port number (0-65535)". Values are checked with the shared
 * validation, so an imported connection is one the service accepts.
 *
 * No I/O happens here except in nm_netbird_import_file() and
 * nm_netbird_export_file(); the rest works on strings.
 */
#pragma once

#include <NetworkManager.h>

G_BEGIN_DECLS

#define NM_NETBIRD_FILE_EXTENSION ".netbird"
#define NM_NETBIRD_FILE_SECTION   "netbird"
#define NM_NETBIRD_FILE_KEY_NAME  "name"

/* Our file format. @fallback_id names the connection when the file has no
 * name= line (NULL: "NetBird"). */
NMConnection *nm_netbird_import_keyfile (const char *text, gsize len, const char *fallback_id,
                                         GError **error);
char *nm_netbird_export_keyfile (NMConnection *connection, GError **error);

/* NetBird's config.json. */
NMConnection *nm_netbird_import_config_json (const char *text, gsize len, const char *fallback_id,
                                             GError **error);
char *nm_netbird_export_config_json (NMConnection *connection, GError **error);

/* Reads @path and imports it: config.json when its name ends in ".json"
 * or its first non-blank character is '{', our format otherwise. The file's base name without its
 * extension is the fallback connection name. */
NMConnection *nm_netbird_import_file (const char *path, GError **error);

/* Writes config.json when @path ends in ".json", our format otherwise. */
gboolean nm_netbird_export_file (const char *path, NMConnection *connection, GError **error);

/* "<connection id>.netbird", with '/' and control characters replaced. */
char *nm_netbird_suggested_filename (NMConnection *connection);

G_END_DECLS
