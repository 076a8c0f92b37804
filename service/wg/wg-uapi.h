/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * NbWgUapi: the userspace WireGuard backend. wireguard-go configured over
 * its UAPI socket, `<socket dir>/<ifname>.sock` (wireguard-go's directory is
 * fixed at /var/run/wireguard = /run/wireguard; the directory is settable
 * for tests and for attaching to a device served elsewhere).
 *
 * Two ways to use it:
 *  - attach: nb_wg_uapi_new() and send requests; something else runs
 *    wireguard-go.
 *  - own the process: nb_wg_uapi_start_async() spawns `wireguard-go -f
 *    <ifname>` (program settable, environment LOG_LEVEL, its output logged
 *    line by line in the "nb-wg" domain at debug level, errors at message
 *    level) and completes once the UAPI socket accepts connections (polled
 *    on the main loop; start timeout). The child gets PR_SET_PDEATHSIG
 *    SIGTERM, so it does not outlive our process even when we crash.
 *    nb_wg_uapi_stop_async() and dispose stop it: SIGTERM, then SIGKILL if
 *    it has not exited after the stop timeout; dispose does that in the
 *    background (the process is reaped as long as the main context runs).
 *    If the process exits on its own, "died" is emitted once with the
 *    reason (NB_WG_ERROR_DIED) and later requests fail with
 *    NB_WG_ERROR_NOT_RUNNING.
 *
 * Requests (NbWgBackend, plus the typed wrappers below) are queued and
 * sent one at a time, each on a connection of its own (as wg(8) does:
 * wireguard-go reads a set request with a look-ahead scanner, so a second
 * request on the same connection is not safe). Each has a timeout from
 * the moment it is sent. A request completes once the device answered; it
 * has then applied the change (wireguard-go applies a set under its
 * configuration lock before it answers). Cancelling a queued request
 * drops it; cancelling one in flight closes its connection, and the
 * device may or may not have applied it.
 *
 * All I/O is non-blocking on the thread-default main context of the thread
 * that created the object; completions and "died" are delivered from it,
 * never from inside a call into this object. The private key and preshared
 * keys exist in text form only in the request buffer, which is wiped once
 * sent; answers (a get answer carries the private key) are wiped too.
 */
#pragma once

#include <gio/gio.h>

#include "wg-backend.h"

G_BEGIN_DECLS

#define NB_WG_UAPI_DEFAULT_SOCKET_DIR         "/run/wireguard"
#define NB_WG_UAPI_DEFAULT_PROGRAM            "wireguard-go"
#define NB_WG_UAPI_DEFAULT_LOG_LEVEL          "error"
#define NB_WG_UAPI_DEFAULT_REQUEST_TIMEOUT_MS 5000
#define NB_WG_UAPI_DEFAULT_START_TIMEOUT_MS   5000
#define NB_WG_UAPI_DEFAULT_STOP_TIMEOUT_MS    5000

#define NB_TYPE_WG_UAPI (nb_wg_uapi_get_type ())
G_DECLARE_FINAL_TYPE (NbWgUapi, nb_wg_uapi, NB, WG_UAPI, GObject)

/*
 * Signals:
 *   "died" (NbWgUapi *, const GError *reason)
 *       the wireguard-go we started exited without being asked to.
 */

/* NULL + NB_WG_ERROR_INVALID_ARGUMENT for a bad interface name
 * (nb_wg_interface_name_validate()). */
NbWgUapi   *nb_wg_uapi_new                 (const char *ifname,
                                            GError    **error);

const char *nb_wg_uapi_get_interface_name  (NbWgUapi   *self);
/* Where the UAPI socket is looked for (default /run/wireguard). */
void        nb_wg_uapi_set_socket_dir      (NbWgUapi   *self,
                                            const char *dir);
const char *nb_wg_uapi_get_socket_path     (NbWgUapi   *self);
/* The wireguard-go binary: a path, or a name looked up in PATH. */
void        nb_wg_uapi_set_program         (NbWgUapi   *self,
                                            const char *program);
/* wireguard-go's LOG_LEVEL: "verbose", "error" or "silent". */
void        nb_wg_uapi_set_log_level       (NbWgUapi   *self,
                                            const char *log_level);
void        nb_wg_uapi_set_request_timeout (NbWgUapi   *self,
                                            guint       timeout_ms);
void        nb_wg_uapi_set_start_timeout   (NbWgUapi   *self,
                                            guint       timeout_ms);
void        nb_wg_uapi_set_stop_timeout    (NbWgUapi   *self,
                                            guint       timeout_ms);

/* Spawn wireguard-go and wait until its UAPI socket accepts connections.
 * NB_WG_ERROR_EXISTS if already started or if a live socket for the
 * interface already exists (someone else serves it); NB_WG_ERROR_SPAWN if
 * it cannot be started or exits before it is ready;
 * NB_WG_ERROR_TIMED_OUT (and the process is stopped) if it is not ready
 * within the start timeout. A stale socket file (left by a killed
 * wireguard-go) is fine: wireguard-go replaces it. May be called again
 * after the process died or was stopped. */
void        nb_wg_uapi_start_async         (NbWgUapi            *self,
                                            GCancellable        *cancellable,
                                            GAsyncReadyCallback  callback,
                                            gpointer             user_data);
gboolean    nb_wg_uapi_start_finish        (NbWgUapi            *self,
                                            GAsyncResult        *result,
                                            GError             **error);

/* Stop the process we started: SIGTERM, SIGKILL after the stop timeout;
 * completes once it has exited (at once if there is none). No "died". */
void        nb_wg_uapi_stop_async          (NbWgUapi            *self,
                                            GCancellable        *cancellable,
                                            GAsyncReadyCallback  callback,
                                            gpointer             user_data);
gboolean    nb_wg_uapi_stop_finish         (NbWgUapi            *self,
                                            GAsyncResult        *result,
                                            GError             **error);

/* The PID of the wireguard-go we started, 0 when there is none running. */
GPid        nb_wg_uapi_get_pid             (NbWgUapi   *self);
gboolean    nb_wg_uapi_is_running          (NbWgUapi   *self);

/* The NbWgBackend operations, typed (same semantics as nb_wg_backend_*). */
void        nb_wg_uapi_set_device_async    (NbWgUapi             *self,
                                            const NbWgKey        *private_key,
                                            int                   listen_port,
                                            GCancellable         *cancellable,
                                            GAsyncReadyCallback   callback,
                                            gpointer              user_data);
gboolean    nb_wg_uapi_set_device_finish   (NbWgUapi             *self,
                                            GAsyncResult         *result,
                                            GError              **error);
void        nb_wg_uapi_set_peer_async      (NbWgUapi             *self,
                                            const NbWgPeerConfig *peer,
                                            GCancellable         *cancellable,
                                            GAsyncReadyCallback   callback,
                                            gpointer              user_data);
gboolean    nb_wg_uapi_set_peer_finish     (NbWgUapi             *self,
                                            GAsyncResult         *result,
                                            GError              **error);
void        nb_wg_uapi_remove_peer_async   (NbWgUapi             *self,
                                            const NbWgKey        *public_key,
                                            GCancellable         *cancellable,
                                            GAsyncReadyCallback   callback,
                                            gpointer              user_data);
gboolean    nb_wg_uapi_remove_peer_finish  (NbWgUapi             *self,
                                            GAsyncResult         *result,
                                            GError              **error);
void        nb_wg_uapi_get_stats_async     (NbWgUapi             *self,
                                            GCancellable         *cancellable,
                                            GAsyncReadyCallback   callback,
                                            gpointer              user_data);
NbWgStats  *nb_wg_uapi_get_stats_finish    (NbWgUapi             *self,
                                            GAsyncResult         *result,
                                            GError              **error);

G_END_DECLS
