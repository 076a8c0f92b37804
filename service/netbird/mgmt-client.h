/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The client of NetBird's management service (package `management`,
 * service ManagementService), over gRPC (grpc.h) with every request and
 * response body sealed between our WireGuard key and the server's key
 * (box.h).
 *
 * Login (nb_mgmt_client_login_async):
 *   1. GetServerKey (not sealed, 5 s deadline).
 *   2. Login with a LoginRequest without a setup key (10 s deadline).
 *   3. If that fails with PERMISSION_DENIED (not registered, or the login
 *      expired) and a setup key is configured: Login again with it, which
 *      registers the peer. Any failure of this second call is final
 *      (NB_MGMT_CLIENT_ERROR_SETUP_KEY_REJECTED for INVALID_ARGUMENT,
 *      PERMISSION_DENIED, NOT_FOUND, FAILED_PRECONDITION; the gRPC error
 *      otherwise). There is no retry loop: the caller decides.
 *   A setup key must be a UUID (8-4-4-4-12 hex digits); anything else fails
 *   with NB_MGMT_CLIENT_ERROR_INVALID_SETUP_KEY before anything is sent. It
 *   is sent in NetBird's canonical (lowercase) form and never logged.
 *   Every LoginRequest carries PeerSystemMeta (NbSystemInfo, collected from
 *   uname, /etc/os-release and getifaddrs unless set explicitly) and
 *   PeerKeys.wgPubKey = the base64 text of our key as bytes. The only
 *   capability announced is SourcePrefixes (1); never ComponentNetworkMap
 *   (3), and syncMessageVersion stays 0, so the server sends plain
 *   NetworkMaps.
 *
 * Sync (nb_mgmt_client_start_sync): opens the Sync stream (SyncRequest with
 * the system meta). Every streamed message is opened with the server key
 * and converted (network-map.h); a message that does not decode, does not
 * open or is not a SyncResponse is logged and dropped, the stream stays.
 * Each accepted update is applied to the client's network map and reported:
 *   "network-map"   (const NbNetworkMap *map): the whole map after applying:
 *                   for the first message that carries a NetworkMap, then
 *                   whenever the map or the NetbirdConfig changed;
 *   "config-changed" (const NbNetbirdConfig *config): STUN/TURN/signal/relay
 *                   changed (refreshed TURN credentials, new relay token);
 *   "peers-changed" (GPtrArray *added, GPtrArray *removed,
 *                   GPtrArray *updated): arrays of const NbRemotePeer *.
 * in that order. A map with a serial lower than the applied one is ignored.
 *
 * When the stream ends:
 *   - PERMISSION_DENIED: the peer was deleted or its login expired.
 *     "login-expired" (const GError *) when the server says the login
 *     expired, "peer-removed" (const GError *) otherwise. No reconnect; the
 *     client is stopped (a new login, e.g. with a setup key, is needed).
 *   - anything else (server gone, stream ended, keepalive): "disconnected"
 *     (const GError *) once, then reconnect attempts after a capped
 *     exponential backoff with jitter (0.8 s -> 10 s): GetServerKey + Login
 *     (without setup key) + Sync. PERMISSION_DENIED from that Login ends it
 *     as above. "reconnected" () when a new stream delivers its headers or
 *     first message. The server then sends the whole map again; only real
 *     differences are reported.
 * If the very first stream of start_sync() cannot be opened, "disconnected"
 * is emitted in the same way and the client keeps trying.
 *
 * Handlers may call any function of the client, including stop() and
 * dropping their reference. Everything runs in the thread-default main
 * context of the thread that created the client. No secret (setup key,
 * private key, TURN password, relay token) reaches a log line.
 *
 * Log domain "nb-mgmt".
 */
#pragma once

#include <gio/gio.h>

#include "network-map.h"
#include "wg-key.h"

G_BEGIN_DECLS

#define NB_MGMT_CLIENT_SERVER_KEY_DEADLINE_MS 5000
#define NB_MGMT_CLIENT_LOGIN_DEADLINE_MS      10000
#define NB_MGMT_CLIENT_LOGOUT_DEADLINE_MS     15000
/* NetBird's management client accepts messages up to 16 MiB. */
#define NB_MGMT_CLIENT_MAX_MESSAGE_SIZE       (16 * 1024 * 1024)

#define NB_MGMT_CLIENT_ERROR (nb_mgmt_client_error_quark ())
GQuark nb_mgmt_client_error_quark (void);

/**
 * NbMgmtClientError:
 * @NB_MGMT_CLIENT_ERROR_INVALID_URL: the management URL is not
 *   http(s)://host[:port].
 * @NB_MGMT_CLIENT_ERROR_INVALID_SETUP_KEY: the setup key is not a UUID;
 *   nothing was sent.
 * @NB_MGMT_CLIENT_ERROR_SETUP_KEY_REJECTED: management refused the setup
 *   key (unknown, revoked, expired, used up). Final.
 * @NB_MGMT_CLIENT_ERROR_NOT_REGISTERED: PERMISSION_DENIED on login and no
 *   setup key configured: the peer must be registered (setup key) first.
 * @NB_MGMT_CLIENT_ERROR_LOGIN_EXPIRED: the peer's login expired.
 * @NB_MGMT_CLIENT_ERROR_PEER_REMOVED: the peer is no longer known (deleted).
 * @NB_MGMT_CLIENT_ERROR_BAD_SERVER_KEY: GetServerKey returned no valid key.
 * @NB_MGMT_CLIENT_ERROR_BAD_RESPONSE: a response did not open with the
 *   server key or did not decode.
 *
 * Transport and other server failures keep their NB_GRPC_ERROR (code = gRPC
 * status, e.g. UNAVAILABLE, DEADLINE_EXCEEDED).
 */
typedef enum {
  NB_MGMT_CLIENT_ERROR_INVALID_URL,
  NB_MGMT_CLIENT_ERROR_INVALID_SETUP_KEY,
  NB_MGMT_CLIENT_ERROR_SETUP_KEY_REJECTED,
  NB_MGMT_CLIENT_ERROR_NOT_REGISTERED,
  NB_MGMT_CLIENT_ERROR_LOGIN_EXPIRED,
  NB_MGMT_CLIENT_ERROR_PEER_REMOVED,
  NB_MGMT_CLIENT_ERROR_BAD_SERVER_KEY,
  NB_MGMT_CLIENT_ERROR_BAD_RESPONSE,
} NbMgmtClientError;

/* ---- System metadata (PeerSystemMeta) ------------------------------------ */

typedef struct {
  char *net_ip;   /* interface address with its prefix, "192.168.1.5/24" */
  char *mac;      /* "aa:bb:cc:dd:ee:ff" */
} NbNetworkAddress;

/* PeerSystemMeta.flags: client settings the server may take into account. */
typedef struct {
  gboolean rosenpass_enabled;
  gboolean rosenpass_permissive;
  gboolean server_ssh_allowed;
  gboolean disable_client_routes;
  gboolean disable_server_routes;
  gboolean disable_dns;
  gboolean disable_firewall;
  gboolean block_lan_access;
  gboolean block_inbound;
  gboolean lazy_connection_enabled;
  gboolean disable_ipv6;
} NbPeerFlags;

typedef struct {
  char *hostname;
  char *go_os;             /* "linux" */
  char *kernel;            /* "Linux" (uname sysname) */
  char *platform;          /* uname machine, "x86_64" */
  char *os;                /* os-release NAME, else the kernel name */
  char *os_version;        /* os-release VERSION_ID (also sent as core) */
  char *kernel_version;    /* uname release */
  char *netbird_version;
  char *ui_version;        /* may be "" */
  GPtrArray *network_addresses; /* NbNetworkAddress*, never NULL */
  NbPeerFlags flags;
} NbSystemInfo;

NbSystemInfo *nb_system_info_new     (void);
/* This machine: uname, /etc/os-release (or /usr/lib/os-release), the
 * addresses of the interfaces that are up and have a hardware address
 * (loopback, link-local and multicast addresses left out, as NetBird does),
 * hostname from uname. @netbird_version as given; flags all FALSE. */
NbSystemInfo *nb_system_info_collect (const char *netbird_version);
NbSystemInfo *nb_system_info_copy    (const NbSystemInfo *info);
void          nb_system_info_free    (NbSystemInfo *info);
/* Parses os-release text (NAME=, VERSION_ID=, quotes removed). Both
 * outputs are set ("" when missing). */
void          nb_os_release_parse    (const char *contents,
                                      char      **out_name,
                                      char      **out_version_id);

/* Whether @setup_key is a UUID: 36 characters, hex digits in groups
 * 8-4-4-4-12 separated by '-'. Either case. */
gboolean nb_setup_key_is_valid (const char *setup_key);

/* ---- The client ----------------------------------------------------------- */

#define NB_TYPE_MGMT_CLIENT (nb_mgmt_client_get_type ())
G_DECLARE_FINAL_TYPE (NbMgmtClient, nb_mgmt_client, NB, MGMT_CLIENT, GObject)

/* @management_url: "https://api.netbird.io:443", "http://127.0.0.1:33073".
 * @private_key: our WireGuard private key (copied, wiped on finalize).
 * Fails with NB_MGMT_CLIENT_ERROR_INVALID_URL. */
NbMgmtClient *nb_mgmt_client_new (const char    *management_url,
                                  const NbWgKey *private_key,
                                  GError       **error);

const char *nb_mgmt_client_get_url (NbMgmtClient *self);
/* Our public key, base64. */
const char *nb_mgmt_client_get_public_key (NbMgmtClient *self);

/* Setup key for registration (nullable: none). Copied; wiped when replaced
 * or on finalize; validated by the next login. */
void nb_mgmt_client_set_setup_key (NbMgmtClient *self,
                                   const char   *setup_key);
/* Overrides the hostname sent in PeerSystemMeta (nullable: the system's). */
void nb_mgmt_client_set_hostname (NbMgmtClient *self,
                                  const char   *hostname);
/* PeerSystemMeta.netbirdVersion; default: this project's version. */
void nb_mgmt_client_set_netbird_version (NbMgmtClient *self,
                                         const char   *version);
void nb_mgmt_client_set_flags (NbMgmtClient      *self,
                               const NbPeerFlags *flags);
/* Fixed system metadata (copied) instead of collecting it for every request
 * (nullable: collect again). The hostname override still applies. */
void nb_mgmt_client_set_system_info (NbMgmtClient       *self,
                                     const NbSystemInfo *info);
/* Reconnect backoff of the Sync stream (default 800 ms .. 10 s). */
void nb_mgmt_client_set_backoff (NbMgmtClient *self,
                                 guint         initial_ms,
                                 guint         max_ms);
/* Trust store for https:// (NULL: the system's). */
void nb_mgmt_client_set_tls_database (NbMgmtClient *self,
                                      GTlsDatabase *database);

/* GetServerKey + Login (+ registration with the setup key), see above. The
 * result holds our own peer config (address, fqdn, MTU, ...) and the
 * NetbirdConfig (STUN, TURN, signal, relay); @has_map is FALSE. The client
 * keeps it as the base of its network map. */
void          nb_mgmt_client_login_async  (NbMgmtClient        *self,
                                           GCancellable        *cancellable,
                                           GAsyncReadyCallback  callback,
                                           gpointer             user_data);
NbNetworkMap *nb_mgmt_client_login_finish (NbMgmtClient  *self,
                                           GAsyncResult  *result,
                                           GError       **error);

/* Starts the Sync stream (logging in first without the setup key unless a
 * login just succeeded) and keeps it up until stop() or a PERMISSION_DENIED.
 * Does nothing while already running. */
void     nb_mgmt_client_start_sync (NbMgmtClient *self);
/* Closes the stream, cancels pending attempts; emits nothing. The applied
 * network map is kept (a later start_sync() continues from it). */
void     nb_mgmt_client_stop       (NbMgmtClient *self);
/* Whether start_sync() is in effect (connected or reconnecting). */
gboolean nb_mgmt_client_is_running (NbMgmtClient *self);
/* Whether a Sync stream is established right now. */
gboolean nb_mgmt_client_is_connected (NbMgmtClient *self);
/* The applied network map (NULL before the first login/sync). */
const NbNetworkMap *nb_mgmt_client_get_network_map (NbMgmtClient *self);

/* GetServerKey + Logout (sealed Empty, 15 s deadline): management forgets
 * this peer's login. Does not stop a running sync. */
void     nb_mgmt_client_logout_async  (NbMgmtClient        *self,
                                       GCancellable        *cancellable,
                                       GAsyncReadyCallback  callback,
                                       gpointer             user_data);
gboolean nb_mgmt_client_logout_finish (NbMgmtClient  *self,
                                       GAsyncResult  *result,
                                       GError       **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (NbSystemInfo, nb_system_info_free)

G_END_DECLS
