/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * NbNmPlugin: the NetworkManager VPN service for NetBird
 * (org.freedesktop.NetworkManager.netbird). NetworkManager starts the
 * service from the .name file and calls Connect with the connection's
 * vpn.data and vpn.secrets (keys: shared/nm-netbird-settings.h); the
 * service runs one NbEngine on its main loop and reports the WireGuard
 * interface with its address, routes, DNS and MTU back to NetworkManager,
 * which applies them (nm-ip-config.h). One connection at a time.
 *
 * Connect: the data and secrets are validated first; anything wrong fails
 * Connect at once with NM_VPN_PLUGIN_ERROR_BAD_ARGUMENTS (or
 * INVALID_CONNECTION for a missing setup key), whose message names the key
 * (nmcli shows it). Then, asynchronously: the WireGuard backend (below),
 * the engine's start (login, device, first network map), the
 * configuration to NetworkManager. A failure on the way is logged with its
 * reason ("connect failed: ...") and reported with
 * nm_vpn_service_plugin_failure (CONNECT_FAILED), then the plugin
 * disconnects. The whole start is bounded by NB_NM_PLUGIN_CONNECT_TIMEOUT_MS,
 * below NetworkManager's 60 s VPN timeout, so a wrong setup key or an
 * unreachable management server fails with our reason, not NM's timeout.
 *
 * WireGuard backend (wireguard-backend): "kernel" uses NbWgNm (the
 * kernel device is a volatile NetworkManager profile bound to our D-Bus
 * client); "userspace" spawns wireguard-go (NbWgUapi, UAPI sockets in
 * /run/wireguard); "auto" tries kernel first. Whether the kernel has
 * WireGuard is probed without side effects (nb_wg_nm_kernel_available:
 * the generic netlink family resolves). When "auto" falls back (the
 * probe fails, or NetworkManager cannot activate the kernel device), it
 * logs exactly this line (tests grep it):
 *   wireguard-backend auto: kernel WireGuard unavailable: <reason>; using userspace wireguard-go
 * and "kernel" without kernel WireGuard fails Connect with
 *   wireguard-backend kernel: kernel WireGuard unavailable: <reason>
 * A successful choice logs "wireguard-backend <mode>: using kernel
 * WireGuard through NetworkManager" / "...: using userspace wireguard-go".
 *
 * Identity: the engine's state directory is
 * /var/lib/NetworkManager-netbird/<connection uuid>/ (0700; the WireGuard
 * private key file lives there, 0600, never logged). After the first
 * successful start the service writes the file "registered" there;
 * NeedSecrets asks for the setup key only while it is absent (and the
 * key's flags do not say NOT_REQUIRED). A login that fails because the
 * peer is unknown, removed or expired deletes the marker again.
 *
 * While connected: every network map from the engine is sent again as
 * configuration (NetworkManager applies it in place); NetworkManager's own
 * events (primary connection changed, its IP configuration changed,
 * NetworkManager woke up) make every peer gather ICE candidates again,
 * debounced by NB_NM_PLUGIN_NETWORK_DEBOUNCE_MS; so does the status
 * object's Refresh(). The status (service/status-dbus) is exported on the
 * plugin's bus connection under NB_STATUS_DBUS_ROOT.
 *
 * Environment, for tests and packaging (never secrets):
 *   NM_NETBIRD_STATE_DIR   base of the state directories
 *                          (default /var/lib/NetworkManager-netbird)
 *   NM_NETBIRD_WIREGUARD_GO  the wireguard-go program (default from PATH)
 *   NM_NETBIRD_UAPI_DIR    wireguard-go's socket directory (default
 *                          /run/wireguard; must match wireguard-go's)
 *   NM_NETBIRD_KERNEL_PROBE=skip  tests only: take the kernel path
 *                          without probing, so that NetworkManager's own
 *                          refusal (and "auto"'s fallback after it) can be
 *                          exercised on machines without kernel WireGuard
 *
 * Log domain "nm-netbird".
 */
#pragma once

#include <NetworkManager.h>

G_BEGIN_DECLS

#define NB_NM_PLUGIN_DEFAULT_STATE_DIR     "/var/lib/NetworkManager-netbird"
#define NB_NM_PLUGIN_REGISTERED_FILE       "registered"
#define NB_NM_PLUGIN_CONNECT_TIMEOUT_MS    50000
#define NB_NM_PLUGIN_NETWORK_DEBOUNCE_MS   500

#define NB_TYPE_NM_PLUGIN (nb_nm_plugin_get_type ())
G_DECLARE_FINAL_TYPE (NbNmPlugin, nb_nm_plugin, NB, NM_PLUGIN, NMVpnServicePlugin)

/* Claims @bus_name on the system bus. @watch_peer: quit when
 * NetworkManager goes away. */
NbNmPlugin *nb_nm_plugin_new (const char *bus_name,
                              gboolean    watch_peer,
                              GError    **error);

/* Takes the connection down (engine, WireGuard device) and completes
 * when that is done; for the service's exit. */
void        nb_nm_plugin_shutdown_async  (NbNmPlugin          *self,
                                          GAsyncReadyCallback  callback,
                                          gpointer             user_data);
void        nb_nm_plugin_shutdown_finish (NbNmPlugin          *self,
                                          GAsyncResult        *result);

/* The state directory of the connection @uuid. */
char       *nb_nm_plugin_state_dir (const char *uuid);

/* Logging: a writer on stderr that lets through levels up to @level
 * ("error", "warning", "info", "debug", "trace"; "debug" leaves out the
 * chattiest third-party domains, "trace" shows everything). */
void        nb_nm_log_install   (const char *level);
void        nb_nm_log_set_level (const char *level);

G_END_DECLS
