/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The small interface through which the peer connection engine drives one
 * WireGuard device.
 *
 * A backend owns (or attaches to) one WireGuard interface and does five
 * things: configure the device (private key, listen port), create or
 * update a peer in place, remove a peer, read per-peer statistics, and name
 * its interface. Everything that talks to the device is asynchronous
 * (GTask, completed on the thread-default main context of the caller) and
 * every failure is a GError, in the NB_WG_ERROR domain for the backend's
 * own failures.
 *
 * Implementations: NbWgUapi (wg-uapi.h, wireguard-go over its UAPI socket);
 * NbWgNm (wg-nm.h, the kernel's device, owned by NetworkManager).
 *
 * Semantics every backend keeps:
 *  - Requests on one backend are applied in the order they were made; a
 *    request completes only once the device has applied it (or refused).
 *  - set_peer creates the peer if it does not exist and otherwise updates
 *    it in place: the handshake and session survive an endpoint change.
 *  - Fields left unset (NULL endpoint, NULL preshared key) are not
 *    touched on an existing peer. WireGuard has no way to clear an
 *    endpoint in place; remove and re-add the peer for that.
 *  - A refused request may have been applied in part (WireGuard applies
 *    a request line by line and stops at the first bad one).
 *  - Secrets (private key, preshared keys) are borrowed for the duration
 *    of the call only, never logged, and every buffer that held them in
 *    text form is wiped.
 */
#pragma once

#include <gio/gio.h>

#include "wg-key.h"

G_BEGIN_DECLS

/* ---- errors --------------------------------------------------------------- */

#define NB_WG_ERROR (nb_wg_error_quark ())
GQuark nb_wg_error_quark (void);

/**
 * NbWgError:
 * @NB_WG_ERROR_INVALID_ARGUMENT: a bad interface name, allowed IP, port or
 *   endpoint; nothing was sent to the device.
 * @NB_WG_ERROR_REFUSED: the device answered the request with an error; the
 *   (positive) errno it gave is nb_wg_error_get_uapi_errno().
 * @NB_WG_ERROR_PROTOCOL: the device's answer was malformed, truncated, or
 *   it closed the connection without answering.
 * @NB_WG_ERROR_NOT_RUNNING: there is no device to talk to (no UAPI socket,
 *   a stale one, the backend's process died, or it was never started).
 * @NB_WG_ERROR_IO: talking to the device failed otherwise.
 * @NB_WG_ERROR_TIMED_OUT: no complete answer within the request timeout, or
 *   the device did not come up within the start timeout. A request that
 *   timed out may still be applied by the device later.
 * @NB_WG_ERROR_SPAWN: the device process could not be started or exited
 *   before it was ready.
 * @NB_WG_ERROR_EXISTS: the interface is already served by someone else, or
 *   the backend was already started.
 * @NB_WG_ERROR_DIED: the device process ended without being asked to (the
 *   reason passed with NbWgUapi's "died").
 */
typedef enum {
  NB_WG_ERROR_INVALID_ARGUMENT,
  NB_WG_ERROR_REFUSED,
  NB_WG_ERROR_PROTOCOL,
  NB_WG_ERROR_NOT_RUNNING,
  NB_WG_ERROR_IO,
  NB_WG_ERROR_TIMED_OUT,
  NB_WG_ERROR_SPAWN,
  NB_WG_ERROR_EXISTS,
  NB_WG_ERROR_DIED,
} NbWgError;

/* The errno the device gave for a NB_WG_ERROR_REFUSED error, as a positive
 * number (wireguard-go answers `errno=-22`, this returns 22: EINVAL).
 * 0 for any other error. The value travels with the GError (an extended
 * error domain), so it survives g_error_copy() and GTask. */
int      nb_wg_error_get_uapi_errno (const GError *error);

/* Sets a NB_WG_ERROR_REFUSED error carrying @uapi_errno (either sign). */
void     nb_wg_set_refused_error (GError    **error,
                                  int         uapi_errno,
                                  const char *what);

/* ---- values ----------------------------------------------------------------- */

/* A Linux interface name the backends accept: 1-15 characters from
 * [A-Za-z0-9_.-], not starting with '-' (it becomes an argument of
 * wireguard-go, which has no option parser: lab F8), and not "." or "..".
 * FALSE + NB_WG_ERROR_INVALID_ARGUMENT otherwise. */
gboolean nb_wg_interface_name_validate (const char *name,
                                        GError    **error);

/* An allowed IP in canonical form: "addr/len" with the host bits cleared
 * ("10.1.2.3/16" -> "10.1.0.0/16", "fd00::1/64" -> "fd00::/64"); a bare
 * address gets /32 or /128. Refuses anything else (spaces, leading zeros
 * in the length, a length beyond the family's) with
 * NB_WG_ERROR_INVALID_ARGUMENT. Returns a new string. */
char    *nb_wg_allowed_ip_normalize (const char *cidr,
                                     GError    **error);

/* Endpoints in WireGuard's text form: "192.0.2.1:51820", "[2001:db8::1]:51820".
 * Parsing refuses port 0 and anything but a literal address; an IPv6 zone
 * ("%eth0") is accepted and dropped. */
char               *nb_wg_endpoint_to_string (GInetSocketAddress *endpoint);
GInetSocketAddress *nb_wg_endpoint_parse     (const char         *text,
                                              GError            **error);

/**
 * NbWgPeerConfig:
 * @public_key: the peer.
 * @endpoint: where to send to it; NULL leaves the endpoint as it is (a new
 *   peer then has none and waits for the peer's handshake). Port != 0.
 * @preshared_key: NULL leaves it as it is (a new peer has none); the
 *   all-zero key removes it. A secret: borrowed, never copied as text
 *   outside a wiped buffer.
 * @persistent_keepalive_s: seconds, 0 turns it off. Always applied.
 * @allowed_ips: NULL-terminated list of CIDRs (nb_wg_allowed_ip_normalize()
 *   forms), or NULL for none.
 * @replace_allowed_ips: TRUE: @allowed_ips replace the peer's list;
 *   FALSE: they are added to it (WireGuard moves an allowed IP that
 *   another peer had to this one either way).
 * @update_only: TRUE: do nothing if the peer does not exist.
 *
 * Borrowed by the call: a backend copies what it needs before
 * nb_wg_backend_set_peer_async() returns.
 */
typedef struct {
  NbWgKey              public_key;
  GInetSocketAddress  *endpoint;
  const NbWgKey       *preshared_key;
  guint16              persistent_keepalive_s;
  const char * const  *allowed_ips;
  gboolean             replace_allowed_ips;
  gboolean             update_only;
} NbWgPeerConfig;

/* Per-peer state as the device reports it. */
typedef struct {
  NbWgKey             public_key;
  GInetSocketAddress *endpoint;            /* NULL: none known */
  gint64              last_handshake_us;   /* wall clock, µs since the epoch
                                            * (g_get_real_time() scale); 0: never */
  guint64             rx_bytes;
  guint64             tx_bytes;
  guint16             persistent_keepalive_s;
  gboolean            has_preshared_key;   /* the key itself is never kept */
  GPtrArray          *allowed_ips;         /* char *, canonical CIDRs */
} NbWgPeerStats;

/* The device as it reports itself. */
typedef struct {
  gboolean   has_private_key;
  NbWgKey    public_key;     /* derived from the private key; zero without one */
  guint16    listen_port;    /* 0: not set / not bound */
  guint32    fwmark;
  GPtrArray *peers;          /* NbWgPeerStats *, in the device's order */
} NbWgStats;

NbWgStats           *nb_wg_stats_new        (void);
void                 nb_wg_stats_free       (NbWgStats       *stats);
/* NULL when @stats has no such peer. */
const NbWgPeerStats *nb_wg_stats_find_peer  (const NbWgStats *stats,
                                             const NbWgKey   *public_key);

NbWgPeerStats       *nb_wg_peer_stats_new   (void);
void                 nb_wg_peer_stats_free  (NbWgPeerStats   *peer);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (NbWgStats, nb_wg_stats_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NbWgPeerStats, nb_wg_peer_stats_free)

/* ---- the interface -------------------------------------------------------- */

/* Where the WireGuard device runs (what `netbird status` calls the
 * interface type). */
typedef enum {
  NB_WG_BACKEND_KIND_USERSPACE,  /* wireguard-go (NbWgUapi) */
  NB_WG_BACKEND_KIND_KERNEL,     /* the kernel's, NetworkManager-owned (NbWgNm) */
} NbWgBackendKind;

/* NetBird's words: "Userspace", "Kernel". */
const char *nb_wg_backend_kind_to_string (NbWgBackendKind kind);

#define NB_TYPE_WG_BACKEND (nb_wg_backend_get_type ())
G_DECLARE_INTERFACE (NbWgBackend, nb_wg_backend, NB, WG_BACKEND, GObject)

/* Sentinel for set_device's @listen_port: leave the port as it is. */
#define NB_WG_LISTEN_PORT_UNCHANGED (-1)

struct _NbWgBackendInterface {
  GTypeInterface g_iface;

  const char *(*get_interface_name) (NbWgBackend         *self);
  NbWgBackendKind (*get_kind)       (NbWgBackend         *self);

  void        (*set_device)         (NbWgBackend         *self,
                                     const NbWgKey       *private_key,
                                     int                  listen_port,
                                     GCancellable        *cancellable,
                                     GAsyncReadyCallback  callback,
                                     gpointer             user_data);
  gboolean    (*set_device_finish)  (NbWgBackend         *self,
                                     GAsyncResult        *result,
                                     GError             **error);

  void        (*set_peer)           (NbWgBackend         *self,
                                     const NbWgPeerConfig *peer,
                                     GCancellable        *cancellable,
                                     GAsyncReadyCallback  callback,
                                     gpointer             user_data);
  gboolean    (*set_peer_finish)    (NbWgBackend         *self,
                                     GAsyncResult        *result,
                                     GError             **error);

  void        (*remove_peer)        (NbWgBackend         *self,
                                     const NbWgKey       *public_key,
                                     GCancellable        *cancellable,
                                     GAsyncReadyCallback  callback,
                                     gpointer             user_data);
  gboolean    (*remove_peer_finish) (NbWgBackend         *self,
                                     GAsyncResult        *result,
                                     GError             **error);

  void        (*get_stats)          (NbWgBackend         *self,
                                     GCancellable        *cancellable,
                                     GAsyncReadyCallback  callback,
                                     gpointer             user_data);
  NbWgStats  *(*get_stats_finish)   (NbWgBackend         *self,
                                     GAsyncResult        *result,
                                     GError             **error);
};

/* The interface name (never NULL). */
const char *nb_wg_backend_get_interface_name (NbWgBackend *self);
/* Kernel or userspace device. */
NbWgBackendKind nb_wg_backend_get_kind       (NbWgBackend *self);

/* Device configuration. @private_key: NULL leaves it as it is (a secret,
 * borrowed for the call). @listen_port: 1-65535, 0 for a port the device
 * picks, or NB_WG_LISTEN_PORT_UNCHANGED. */
void        nb_wg_backend_set_device_async   (NbWgBackend          *self,
                                              const NbWgKey        *private_key,
                                              int                   listen_port,
                                              GCancellable         *cancellable,
                                              GAsyncReadyCallback   callback,
                                              gpointer              user_data);
gboolean    nb_wg_backend_set_device_finish  (NbWgBackend          *self,
                                              GAsyncResult         *result,
                                              GError              **error);

/* Create or update one peer in place (see NbWgPeerConfig). */
void        nb_wg_backend_set_peer_async     (NbWgBackend          *self,
                                              const NbWgPeerConfig *peer,
                                              GCancellable         *cancellable,
                                              GAsyncReadyCallback   callback,
                                              gpointer              user_data);
gboolean    nb_wg_backend_set_peer_finish    (NbWgBackend          *self,
                                              GAsyncResult         *result,
                                              GError              **error);

/* Remove one peer; removing an absent peer succeeds. */
void        nb_wg_backend_remove_peer_async  (NbWgBackend          *self,
                                              const NbWgKey        *public_key,
                                              GCancellable         *cancellable,
                                              GAsyncReadyCallback   callback,
                                              gpointer              user_data);
gboolean    nb_wg_backend_remove_peer_finish (NbWgBackend          *self,
                                              GAsyncResult         *result,
                                              GError              **error);

/* Device and per-peer statistics; free with nb_wg_stats_free(). */
void        nb_wg_backend_get_stats_async    (NbWgBackend          *self,
                                              GCancellable         *cancellable,
                                              GAsyncReadyCallback   callback,
                                              gpointer              user_data);
NbWgStats  *nb_wg_backend_get_stats_finish   (NbWgBackend          *self,
                                              GAsyncResult         *result,
                                              GError              **error);

G_END_DECLS
