/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The NetBird connection settings: the keys of vpn.data and vpn.secrets and
 * their rules, in one place for the service, the editor plugin (import and
 * export), the GTK editors and the auth dialog, so that a value one of them
 * accepts is never refused by another.
 *
 * vpn.data keys (strings; an absent key means the default):
 *   management-url        http(s)://host[:port][/], port 1-65535
 *                         (default https://api.netbird.io:443)
 *   admin-url             http(s) URL (default https://app.netbird.io)
 *   interface-name        1-15 of [A-Za-z0-9_.-], not starting with '-',
 *                         not "." or ".." (default wt0)
 *   listen-port           0 (pick one) or 1-65535 (default 51820)
 *   rosenpass             yes / no (default no)
 *   rosenpass-permissive  yes / no (default no)
 *   wireguard-backend     kernel / userspace / auto (default auto)
 *   hostname              1-253 chars: letters, digits, '-' and '.'
 *                         (default the machine's)
 *   log-level             error / warning / info / debug / trace (default info)
 *   mtu                   576-8920 (default 1280)
 *   exit-node             which exit node (a route to 0.0.0.0/0 or ::/0) to
 *                         use: "auto" follows management (the route it marks
 *                         for auto-apply), "none" never uses one, anything
 *                         else is a route's network ID (NetID, as
 *                         `netbird routes select` takes it): 1-40
 *                         characters of UTF-8, no control characters, no
 *                         white space at either end (default auto)
 * vpn.secrets keys:
 *   setup-key             UUID form 8-4-4-4-12 hex; only needed until the
 *                         peer is registered
 *   preshared-key         WireGuard pre-shared key, base64 of 32 bytes
 * libnm keeps each secret's NMSettingSecretFlags in vpn.data as
 * "<secret>-flags" (decimal); those two flag keys are accepted in vpn.data
 * too, but are not in nm_netbird_data_keys().
 *
 * Error messages name the key and say what is wrong ("listen-port: not a
 * port number (0-65535)"), are translated, and never contain a secret's
 * value.
 */
#pragma once

#include <NetworkManager.h>

G_BEGIN_DECLS

#define NM_NETBIRD_SERVICE_TYPE "org.freedesktop.NetworkManager.netbird"

#define NM_NETBIRD_KEY_MANAGEMENT_URL        "management-url"
#define NM_NETBIRD_KEY_ADMIN_URL             "admin-url"
#define NM_NETBIRD_KEY_INTERFACE_NAME        "interface-name"
#define NM_NETBIRD_KEY_LISTEN_PORT           "listen-port"
#define NM_NETBIRD_KEY_ROSENPASS             "rosenpass"
#define NM_NETBIRD_KEY_ROSENPASS_PERMISSIVE  "rosenpass-permissive"
#define NM_NETBIRD_KEY_WIREGUARD_BACKEND     "wireguard-backend"
#define NM_NETBIRD_KEY_HOSTNAME              "hostname"
#define NM_NETBIRD_KEY_LOG_LEVEL             "log-level"
#define NM_NETBIRD_KEY_MTU                   "mtu"
#define NM_NETBIRD_KEY_EXIT_NODE             "exit-node"

#define NM_NETBIRD_KEY_SETUP_KEY             "setup-key"
#define NM_NETBIRD_KEY_PRESHARED_KEY         "preshared-key"

#define NM_NETBIRD_DEFAULT_MANAGEMENT_URL    "https://api.netbird.io:443"
#define NM_NETBIRD_DEFAULT_ADMIN_URL         "https://app.netbird.io"
#define NM_NETBIRD_DEFAULT_INTERFACE_NAME    "wt0"
#define NM_NETBIRD_DEFAULT_LISTEN_PORT       51820
#define NM_NETBIRD_DEFAULT_MTU               1280

#define NM_NETBIRD_EXIT_NODE_AUTO            "auto"
#define NM_NETBIRD_EXIT_NODE_NONE            "none"
#define NM_NETBIRD_EXIT_NODE_MAX_CHARS       40

#define NM_NETBIRD_MTU_MIN                   576
#define NM_NETBIRD_MTU_MAX                   8920

#define NM_NETBIRD_SETTINGS_ERROR (nm_netbird_settings_error_quark ())
GQuark nm_netbird_settings_error_quark (void);

typedef enum {
  NM_NETBIRD_SETTINGS_ERROR_INVALID_KEY,    /* a key that is not ours */
  NM_NETBIRD_SETTINGS_ERROR_INVALID_VALUE,  /* a value that breaks its key's rule */
  NM_NETBIRD_SETTINGS_ERROR_MISSING,        /* a value that is absent or empty */
} NMNetbirdSettingsError;

/* One key and its value. Accepts the vpn.data keys, the two secret keys
 * (setup-key, preshared-key) and the two secret-flags keys; any other key is
 * INVALID_KEY. A NULL or empty value is MISSING. */
gboolean nm_netbird_validate_key_value (const char *key, const char *value, GError **error);

gboolean nm_netbird_validate_setup_key (const char *value, GError **error);

/* Every vpn.data item; keys other than ours (and the secret-flags keys) are
 * refused. Absent keys are fine (defaults). */
gboolean nm_netbird_validate_data (NMSettingVpn *s_vpn, GError **error);

/* Every vpn.secrets item: setup-key and preshared-key only, each optional. */
gboolean nm_netbird_validate_secrets (NMSettingVpn *s_vpn, GError **error);

/* The vpn.data keys in the order above, NULL-terminated. */
const char * const *nm_netbird_data_keys (void);

G_END_DECLS
