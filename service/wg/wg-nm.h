/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * NbWgNm: the kernel WireGuard backend, with NetworkManager owning the
 * device. NetworkManager must own it: it manages every link on the host,
 * and a WireGuard device created behind its back is either taken over or
 * fought over. So the device is an ordinary NetworkManager profile of
 * type wireguard, and every change to it goes through NetworkManager:
 *
 *  - set_device (first call): builds the profile (nb_wg_nm_build_connection)
 *    and activates it with AddAndActivate2, options persist=volatile (kept
 *    in memory only and deleted when it goes down) and
 *    bind-activation=dbus-client (NetworkManager takes it down when our
 *    D-Bus client disappears, so a crashed service leaves no device).
 *    Completes when the activation reached ACTIVATED (IP methods are
 *    disabled on the profile: the VPN connection, not this profile,
 *    carries the addresses and routes), or fails with its reason.
 *  - set_device (later), set_peer, remove_peer: queued; the queue is
 *    applied in one batch as a Reapply of the device's applied connection
 *    (GetAppliedConnection, modify, Reapply with its version id; a version
 *    mismatch is retried). NetworkManager applies WireGuard changes in
 *    place and keeps sessions unless peers were removed (then it replaces
 *    the peer list, which restarts every handshake).
 *  - get_stats: NetworkManager does not expose peers' handshakes or
 *    counters, so they are read from the kernel directly with WireGuard's
 *    generic netlink WG_CMD_GET_DEVICE (read-only; root). The kernel
 *    answers netlink requests from within the system call, so the read
 *    does not wait on anything but the kernel; it is done in the call and
 *    completed from an idle (GTask).
 *  - stop: deactivates the connection; the profile disappears with it.
 *    If NetworkManager deactivates it otherwise, "died" (const GError *)
 *    is emitted once and later requests fail with NB_WG_ERROR_NOT_RUNNING.
 *
 * Known limits (NetworkManager's, not ours): a Reapply clears peers'
 * preshared keys (NetworkManager drops secrets from the applied connection
 * and then writes an all-zero key), so preshared keys are not supported
 * here; an MTU change cannot be reapplied.
 *
 * Secrets: the private key reaches NetworkManager over the system bus (a
 * root-only method) and lives in its in-memory profile (secret flags NONE:
 * no agent is asked); it is never logged, never in argv or the
 * environment; our base64 buffers are wiped. The netlink answer holds the
 * private key too and is wiped after parsing.
 */
#pragma once

#include <gio/gio.h>
#include <NetworkManager.h>

#include "wg-backend.h"

G_BEGIN_DECLS

#define NB_WG_NM_ACTIVATE_TIMEOUT_MS 20000
#define NB_WG_NM_STOP_TIMEOUT_MS     10000

/* ---- the profile, as pure functions (unit-tested without a daemon) ------- */

typedef struct {
  const char    *id;              /* connection.id; NULL: "netbird <ifname>" */
  const char    *uuid;            /* NULL: a new one */
  const char    *interface_name;  /* required (nb_wg_interface_name_validate) */
  const NbWgKey *private_key;     /* required; secret */
  int            listen_port;     /* 0 (random) - 65535 */
  guint32        fwmark;          /* 0: none */
  guint32        mtu;             /* 0: NetworkManager's default */
  const NbWgPeerConfig *peers;    /* nullable */
  guint          n_peers;
} NbWgNmProfile;

/* A wireguard profile: connection.type wireguard, autoconnect off,
 * connection.interface-name; wireguard.private-key with secret flags NONE,
 * listen-port, fwmark, mtu, peer-routes off and no automatic default
 * routes; ipv4.method and ipv6.method disabled; the peers. Normalised
 * (nm_connection_normalize), so it passes nm_connection_verify() and is
 * what NetworkManager will apply. NB_WG_ERROR_INVALID_ARGUMENT for a bad interface
 * name, port, key or peer. */
NMConnection *nb_wg_nm_build_connection (const NbWgNmProfile *profile,
                                         GError             **error);

/* NbWgPeerConfig semantics (wg-backend.h) applied to the wireguard setting
 * of @connection: creates or updates the peer (NULL endpoint / preshared
 * key: left as they are; all-zero preshared key: removed; allowed IPs
 * replaced or added). With update_only and no such peer: nothing, TRUE.
 * On FALSE the connection is unchanged. */
gboolean      nb_wg_nm_apply_peer       (NMConnection         *connection,
                                         const NbWgPeerConfig *peer,
                                         GError              **error);
/* TRUE if the peer was there. */
gboolean      nb_wg_nm_remove_peer      (NMConnection         *connection,
                                         const NbWgKey        *public_key);

/* ---- kernel WireGuard ------------------------------------------------------ */

/* Whether the kernel has WireGuard: the generic netlink family "wireguard"
 * resolves (a read-only query; the kernel may load its module for it, as
 * `ip link add type wireguard` would). FALSE with the reason otherwise. */
gboolean   nb_wg_nm_kernel_available (GError **error);

/* The kernel device's state through generic netlink (WG_CMD_GET_DEVICE).
 * NB_WG_ERROR_NOT_RUNNING when there is no such WireGuard device. */
NbWgStats *nb_wg_nm_read_kernel_stats (const char *ifname,
                                       GError    **error);

/* ---- the backend ------------------------------------------------------------ */

#define NB_TYPE_WG_NM (nb_wg_nm_get_type ())
G_DECLARE_FINAL_TYPE (NbWgNm, nb_wg_nm, NB, WG_NM, GObject)

/* @client: an initialised NMClient (referenced). NULL +
 * NB_WG_ERROR_INVALID_ARGUMENT for a bad interface name. */
NbWgNm     *nb_wg_nm_new             (NMClient   *client,
                                      const char *ifname,
                                      GError    **error);
/* Profile details used at activation (before the first set_device). */
void        nb_wg_nm_set_connection_id (NbWgNm     *self,
                                        const char *id);
void        nb_wg_nm_set_mtu         (NbWgNm     *self,
                                      guint32     mtu);

/* The active connection once activated, else NULL. */
NMActiveConnection *nb_wg_nm_get_active_connection (NbWgNm *self);

/* Deactivate (the volatile profile goes with it). Completes when it is
 * down (at once if it never came up). No "died". */
void        nb_wg_nm_stop_async      (NbWgNm              *self,
                                      GCancellable        *cancellable,
                                      GAsyncReadyCallback  callback,
                                      gpointer             user_data);
gboolean    nb_wg_nm_stop_finish     (NbWgNm              *self,
                                      GAsyncResult        *result,
                                      GError             **error);

G_END_DECLS
