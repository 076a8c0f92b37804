/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Connection status of remote peers and of our servers: what
 * `netbird status -d` shows (NetBird's client/internal/peer/status.go and
 * client/status/status.go), held for the D-Bus layer.
 *
 * NbPeerStatus is a plain value, one record per remote peer.
 * NbStatusRecorder (GObject) holds one record per peer plus the management,
 * signal and relay connection states. Its update functions compare field by
 * field and report a bitmask of the fields that really changed (0 when
 * nothing did); the record's @last_change is set to "now" only when a
 * connection field changed (NB_PEER_FIELDS_CONNECTION: status, connection
 * type, ICE/relay status, candidates, endpoints, relay address, Rosenpass),
 * which is NetBird's "Last connection update". Identity (FQDN, IP), routed
 * networks and traffic (handshake time, bytes, latency) change the record
 * and are reported, but do not bump @last_change: counters move every few
 * seconds and are not a status change.
 *
 * The recorder also holds our own side (FQDN, address, interface type,
 * WireGuard port: nb_status_recorder_set_local()) for the lines that
 * follow the servers in `netbird status`.
 *
 * Signals are emitted from an idle source of the thread-default main
 * context, never from inside an update call; changes of one peer made before
 * the idle runs are merged into one "peer-changed" with the OR of the masks
 * (one PropertiesChanged per peer per main-loop turn). A peer added and
 * removed before the idle runs is never announced; changes queued for a
 * removed peer are dropped.
 */
#pragma once

#include <glib-object.h>

G_BEGIN_DECLS

typedef enum {
  NB_PEER_CONN_IDLE,            /* not being connected (closed, lazy) */
  NB_PEER_CONN_CONNECTING,
  NB_PEER_CONN_CONNECTED,
  NB_PEER_CONN_DISCONNECTED,    /* was connected, lost, not yet back */
} NbPeerConnStatus;

typedef enum {
  NB_PEER_CONN_TYPE_NONE,
  NB_PEER_CONN_TYPE_P2P,        /* ICE without TURN on either side */
  NB_PEER_CONN_TYPE_RELAYED,    /* relay server, or ICE via TURN */
} NbPeerConnType;

/* One path (ICE, relay). */
typedef enum {
  NB_PEER_PATH_DISCONNECTED,
  NB_PEER_PATH_CONNECTING,
  NB_PEER_PATH_CONNECTED,
} NbPeerPathStatus;

/* "Idle", "Connecting", "Connected", "Disconnected". */
const char *nb_peer_conn_status_to_string (NbPeerConnStatus status);
/* "-", "P2P", "Relayed". */
const char *nb_peer_conn_type_to_string (NbPeerConnType type);
/* "Disconnected", "Connecting", "Connected". */
const char *nb_peer_path_status_to_string (NbPeerPathStatus status);

typedef enum {
  NB_PEER_FIELD_FQDN                  = 1 << 0,
  NB_PEER_FIELD_IP                    = 1 << 1,
  NB_PEER_FIELD_STATUS                = 1 << 2,
  NB_PEER_FIELD_CONN_TYPE             = 1 << 3,
  NB_PEER_FIELD_ICE_STATUS            = 1 << 4,
  NB_PEER_FIELD_RELAY_STATUS          = 1 << 5,
  NB_PEER_FIELD_LOCAL_CANDIDATE_TYPE  = 1 << 6,
  NB_PEER_FIELD_REMOTE_CANDIDATE_TYPE = 1 << 7,
  NB_PEER_FIELD_LOCAL_ENDPOINT        = 1 << 8,
  NB_PEER_FIELD_REMOTE_ENDPOINT       = 1 << 9,
  NB_PEER_FIELD_RELAY_ADDRESS         = 1 << 10,
  NB_PEER_FIELD_ROSENPASS             = 1 << 11,
  NB_PEER_FIELD_LAST_HANDSHAKE        = 1 << 12,
  NB_PEER_FIELD_RX_BYTES              = 1 << 13,
  NB_PEER_FIELD_TX_BYTES              = 1 << 14,
  NB_PEER_FIELD_LATENCY               = 1 << 15,
  NB_PEER_FIELD_LAST_CHANGE           = 1 << 16,
  NB_PEER_FIELD_NETWORKS              = 1 << 17,
} NbPeerStatusField;

#define NB_PEER_FIELDS_IDENTITY (NB_PEER_FIELD_FQDN | NB_PEER_FIELD_IP)
#define NB_PEER_FIELDS_CONNECTION                                               \
  (NB_PEER_FIELD_STATUS | NB_PEER_FIELD_CONN_TYPE | NB_PEER_FIELD_ICE_STATUS |  \
   NB_PEER_FIELD_RELAY_STATUS | NB_PEER_FIELD_LOCAL_CANDIDATE_TYPE |            \
   NB_PEER_FIELD_REMOTE_CANDIDATE_TYPE | NB_PEER_FIELD_LOCAL_ENDPOINT |         \
   NB_PEER_FIELD_REMOTE_ENDPOINT | NB_PEER_FIELD_RELAY_ADDRESS |                \
   NB_PEER_FIELD_ROSENPASS)
#define NB_PEER_FIELDS_TRAFFIC                                                  \
  (NB_PEER_FIELD_LAST_HANDSHAKE | NB_PEER_FIELD_RX_BYTES |                      \
   NB_PEER_FIELD_TX_BYTES | NB_PEER_FIELD_LATENCY)
/* Every field an update can set (not LAST_CHANGE). */
#define NB_PEER_FIELDS_ALL                                                      \
  (NB_PEER_FIELDS_IDENTITY | NB_PEER_FIELDS_CONNECTION | NB_PEER_FIELDS_TRAFFIC | \
   NB_PEER_FIELD_NETWORKS)

/*
 * One remote peer. Strings are heap strings or NULL (NULL and "" are the
 * same: "none"). Times are wall-clock microseconds (g_get_real_time()),
 * 0 = never.
 */
typedef struct {
  char *key;                    /* WireGuard public key (base64) */
  char *fqdn;
  char *ip;                     /* overlay address, e.g. 100.64.0.2 */
  NbPeerConnStatus status;
  NbPeerConnType conn_type;
  NbPeerPathStatus ice_status;
  NbPeerPathStatus relay_status;
  char *local_candidate_type;   /* "host", "srflx", "prflx", "relay" */
  char *remote_candidate_type;
  char *local_endpoint;         /* "ip:port" of the selected pair */
  char *remote_endpoint;
  char *relay_address;          /* relay server instance URL in use */
  gboolean rosenpass_enabled;
  gint64 last_handshake;        /* last WireGuard handshake */
  guint64 rx_bytes;
  guint64 tx_bytes;
  gint64 latency_us;
  gint64 last_change;           /* last connection-field change */
  /* The routed networks (CIDRs) this peer carries for us: NULL-terminated,
   * sorted, no duplicates. Never NULL in records made by nb_peer_status_new()
   * or _copy() (NULL and empty are the same for diff and update). */
  char **networks;
} NbPeerStatus;

/* Idle, no paths, everything empty. */
NbPeerStatus *nb_peer_status_new  (const char *key);
NbPeerStatus *nb_peer_status_copy (const NbPeerStatus *status);
void          nb_peer_status_free (NbPeerStatus *status);
/* The fields among @fields whose values differ (strings: NULL == ""). */
NbPeerStatusField nb_peer_status_diff (const NbPeerStatus *a,
                                       const NbPeerStatus *b,
                                       NbPeerStatusField   fields);

/*
 * The peer's block of `netbird status -d`, at wall-clock time @now (µs):
 *
 *    peer-b.netbird.cloud:
 *     NetBird IP: 100.64.0.2
 *     Public key: <key>
 *     Status: Connected
 *     -- detail --
 *     Connection type: P2P
 *     ICE / relay: Connected/Disconnected
 *     ICE candidate (Local/Remote): host/srflx
 *     ICE candidate endpoints (Local/Remote): 10.0.0.1:51820/203.0.113.7:51820
 *     Relay server address: -
 *     Last connection update: 5 seconds ago
 *     Last WireGuard handshake: 3 seconds ago
 *     Transfer status (received/sent) 1.5 KiB/200 B
 *     Quantum resistance: false
 *     Networks: 10.1.0.0/24, 10.2.0.0/16
 *     Latency: 1.234ms
 *
 * Layout and wording as NetBird's (timeAgo, IEC sizes, Go's duration
 * text); candidates, endpoints, relay address, handshake and transfer show
 * only while connected (else "-"), as NetBird does; "Networks" is "-"
 * without any, as NetBird's. Differences: the "ICE / relay" line is ours,
 * an empty value prints "-", the header falls back to the IP (then the
 * key) without FQDN.
 * @rosenpass_enabled/@rosenpass_permissive are our local settings (they
 * word "Quantum resistance" as NetBird does). Starts with "\n".
 */
char *nb_peer_status_format_detail (const NbPeerStatus *status,
                                    gint64              now,
                                    gboolean            rosenpass_enabled,
                                    gboolean            rosenpass_permissive);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (NbPeerStatus, nb_peer_status_free)

/* ------------------------------------------------------------------------ */

typedef enum {
  NB_STATUS_SERVICE_MANAGEMENT,
  NB_STATUS_SERVICE_SIGNAL,
  NB_STATUS_SERVICE_RELAY,
} NbStatusService;

/* A server connection. @error: why it is not connected (NULL when it is or
 * when unknown). */
typedef struct {
  char *url;
  gboolean connected;
  char *error;
} NbServiceState;

/* Our own side. Strings NULL when unknown (never ""). */
typedef struct {
  char *fqdn;                   /* "peer-a.netbird.cloud" */
  char *address;                /* overlay address with prefix, "100.64.0.1/16" */
  char *interface_type;         /* NetBird's words: "Userspace", "Kernel" */
  guint wg_port;                /* WireGuard listen port; 0: unknown */
} NbLocalState;

#define NB_TYPE_STATUS_RECORDER (nb_status_recorder_get_type ())
G_DECLARE_FINAL_TYPE (NbStatusRecorder, nb_status_recorder, NB, STATUS_RECORDER, GObject)

/*
 * Signals (from an idle source; the key is borrowed):
 *   "peer-added"      (NbStatusRecorder *, const char *key)
 *   "peer-removed"    (NbStatusRecorder *, const char *key)
 *   "peer-changed"    (NbStatusRecorder *, const char *key, guint fields):
 *                     an NbPeerStatusField mask, LAST_CHANGE included when
 *                     it moved. Read the record with
 *                     nb_status_recorder_get_peer().
 *   "service-changed" (NbStatusRecorder *, guint service, const char *url):
 *                     an NbStatusService and the server's URL.
 *   "local-changed"   (NbStatusRecorder *): nb_status_recorder_get_local()
 *                     changed.
 */

NbStatusRecorder *nb_status_recorder_new (void);

/* Test hook: the wall clock (µs) used for last_change. */
void nb_status_recorder_set_clock (NbStatusRecorder *self,
                                   gint64          (*now) (gpointer data),
                                   gpointer          data);

/* Adds an Idle record (last_change = now). FALSE if @key exists. */
gboolean nb_status_recorder_add_peer    (NbStatusRecorder *self,
                                         const char       *key,
                                         const char       *fqdn,
                                         const char       *ip);
gboolean nb_status_recorder_remove_peer (NbStatusRecorder *self,
                                         const char       *key);
/* Borrowed; NULL for an unknown key. Valid until the next update. */
const NbPeerStatus *nb_status_recorder_get_peer (NbStatusRecorder *self,
                                                 const char       *key);
/* Copies of all records (NbPeerStatus *, freed with the array), sorted by
 * overlay IP. */
GPtrArray *nb_status_recorder_dup_peers     (NbStatusRecorder *self);
guint      nb_status_recorder_get_n_peers   (NbStatusRecorder *self);
guint      nb_status_recorder_get_n_connected (NbStatusRecorder *self);

/*
 * Copies the @fields of @values (its key names the peer; LAST_CHANGE in
 * @fields is ignored) into the record. Returns the mask of fields that
 * changed, with NB_PEER_FIELD_LAST_CHANGE when a connection field did;
 * 0 for no change or an unknown peer.
 */
NbPeerStatusField nb_status_recorder_update (NbStatusRecorder   *self,
                                             const NbPeerStatus *values,
                                             NbPeerStatusField   fields);

/* Shorthands for nb_status_recorder_update(). */
NbPeerStatusField nb_status_recorder_update_identity (NbStatusRecorder *self,
                                                      const char       *key,
                                                      const char       *fqdn,
                                                      const char       *ip);
NbPeerStatusField nb_status_recorder_update_connection (NbStatusRecorder *self,
                                                        const char       *key,
                                                        NbPeerConnStatus  status,
                                                        NbPeerConnType    conn_type);
/* The ICE path and its selected pair (NULLs when there is none). */
NbPeerStatusField nb_status_recorder_update_ice (NbStatusRecorder *self,
                                                 const char       *key,
                                                 NbPeerPathStatus  ice_status,
                                                 const char       *local_candidate_type,
                                                 const char       *remote_candidate_type,
                                                 const char       *local_endpoint,
                                                 const char       *remote_endpoint);
NbPeerStatusField nb_status_recorder_update_relay (NbStatusRecorder *self,
                                                   const char       *key,
                                                   NbPeerPathStatus  relay_status,
                                                   const char       *relay_address);
NbPeerStatusField nb_status_recorder_update_rosenpass (NbStatusRecorder *self,
                                                       const char       *key,
                                                       gboolean          enabled);
NbPeerStatusField nb_status_recorder_update_wg_stats (NbStatusRecorder *self,
                                                      const char       *key,
                                                      gint64            last_handshake,
                                                      guint64           rx_bytes,
                                                      guint64           tx_bytes);
NbPeerStatusField nb_status_recorder_update_latency (NbStatusRecorder *self,
                                                     const char       *key,
                                                     gint64            latency_us);
/*
 * The routed networks @key carries for us (NULL or empty: none; any order,
 * duplicates allowed: the record keeps them sorted and unique). Unlike the
 * other updates this also works before the peer has a record and survives
 * its removal: the engine chooses routes before a connection opens, and
 * the record made then (nb_status_recorder_add_peer()) starts with them.
 * Returns NB_PEER_FIELD_NETWORKS when the record's list changed, else 0.
 */
NbPeerStatusField nb_status_recorder_set_peer_networks (NbStatusRecorder  *self,
                                                        const char        *key,
                                                        const char *const *networks);
/* Every network of every peer record, sorted, no duplicates (never NULL;
 * g_strfreev()). NetBird's own "Networks": what we route through peers. */
char **nb_status_recorder_dup_networks (NbStatusRecorder *self);

/* Server connections; each returns whether anything changed (and then
 * "service-changed" follows). Relays are keyed by URL. */
gboolean nb_status_recorder_set_management (NbStatusRecorder *self,
                                            const char       *url,
                                            gboolean          connected,
                                            const char       *error);
gboolean nb_status_recorder_set_signal     (NbStatusRecorder *self,
                                            const char       *url,
                                            gboolean          connected,
                                            const char       *error);
gboolean nb_status_recorder_set_relay      (NbStatusRecorder *self,
                                            const char       *url,
                                            gboolean          connected,
                                            const char       *error);
gboolean nb_status_recorder_remove_relay   (NbStatusRecorder *self,
                                            const char       *url);
const NbServiceState *nb_status_recorder_get_management (NbStatusRecorder *self);
const NbServiceState *nb_status_recorder_get_signal     (NbStatusRecorder *self);
/* Borrowed NbServiceState *, in the order the relays were first set. */
GPtrArray *nb_status_recorder_get_relays (NbStatusRecorder *self);

/* Our Rosenpass settings (for the "Quantum resistance" wording). */
void nb_status_recorder_set_rosenpass (NbStatusRecorder *self,
                                       gboolean          enabled,
                                       gboolean          permissive);
gboolean nb_status_recorder_get_rosenpass (NbStatusRecorder *self,
                                           gboolean         *permissive);

/* Our own side (NULL or "": unknown; @wg_port 0: unknown). Returns whether
 * anything changed (and then "local-changed" follows). */
gboolean nb_status_recorder_set_local (NbStatusRecorder *self,
                                       const char       *fqdn,
                                       const char       *address,
                                       const char       *interface_type,
                                       guint             wg_port);
const NbLocalState *nb_status_recorder_get_local (NbStatusRecorder *self);

/*
 * The lines of `netbird status` about ourselves, after the servers':
 *
 *    FQDN: peer-a.netbird.cloud
 *    NetBird IP: 100.64.0.1/16
 *    Interface type: Userspace
 *    Wireguard port: 51820
 *    Quantum resistance: false
 *    Networks: 10.1.0.0/24, 192.168.7.0/24
 *
 * NetBird's wording: "N/A" for an unknown address, interface type or
 * port, "-" for no networks; an unknown FQDN prints "-". NetBird's lines
 * in between that we have nothing for (NetBird IPv6, Lazy connection, SSH
 * Server) are left out.
 */
char *nb_status_recorder_format_local (NbStatusRecorder *self);

/* `netbird status -d` at wall-clock @now (µs): "Peers detail:", the peers'
 * blocks sorted by IP, then Management, Signal, Relays, the lines of
 * nb_status_recorder_format_local() and the peer count. NetBird's lines we
 * have no data for (Events, OS, versions, Profile, Nameservers, ...) are
 * left out, never made up. */
char *nb_status_recorder_format_detail (NbStatusRecorder *self, gint64 now);

G_END_DECLS
