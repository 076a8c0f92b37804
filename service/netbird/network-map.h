/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The network map: what management tells a peer about itself, the other
 * peers and the control-plane servers, as plain C values.
 *
 * Management (management.proto) answers Login with a LoginResponse and
 * streams SyncResponse messages on Sync. Both are converted here into
 * NbNetworkMap values; nothing of protobuf leaks out of this module (the
 * conversion takes the serialised message).
 *
 * Conversion validates every entry and drops the bad ones with a warning,
 * never the whole map: a remote peer whose key is not a canonical base64
 * WireGuard key or whose allowed IPs are not all CIDRs, a STUN/TURN URI
 * without its scheme, a relay URL that is not rel:// or rels://, a route
 * whose network is not a CIDR (and that has no domains) or whose routing
 * peer key is invalid, a nameserver whose IP does not parse. The count of
 * dropped entries is kept in NbNetworkMap.n_skipped. A remote peer with our
 * own key and repeated peer keys are dropped as well.
 *
 * Applying updates (nb_network_map_apply / nb_network_map_diff), with
 * NetBird's rules:
 *   - A SyncResponse carries a NetbirdConfig, a NetworkMap, both or
 *     neither. A config without a map ("config-only": refreshed TURN
 *     credentials, a new relay token) is applied on its own.
 *   - A map whose serial is lower than the applied map's serial is stale and
 *     ignored entirely (the diff says so); an equal serial is applied, and
 *     with identical content it changes nothing.
 *   - remotePeersIsEmpty: proto3 cannot tell an empty repeated field from an
 *     absent one. An empty peer list with the flag set means "no peers" (all
 *     are removed); an empty list without the flag means the map did not
 *     carry peers, and the applied peers stay.
 *   - In a NetbirdConfig, an empty STUN or TURN list and an absent signal
 *     keep the applied ones (as NetBird's client does); an absent relay
 *     config means relaying is off.
 *   - A map without a DNS config means an empty DNS config (NetBird's
 *     client does the same); routes and offline peers are replaced.
 *
 * Secrets: TURN passwords and relay tokens are wiped from memory when the
 * values holding them are freed (sodium_memzero), the protobuf message they
 * were decoded from is wiped too, and no function here logs them.
 *
 * Log domain "nb-netmap".
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* PeerConfig.mtu 0 means this. */
#define NB_NETWORK_MAP_DEFAULT_MTU 1280

#define NB_NETWORK_MAP_ERROR (nb_network_map_error_quark ())
GQuark nb_network_map_error_quark (void);

/**
 * NbNetworkMapError:
 * @NB_NETWORK_MAP_ERROR_PARSE: the bytes are not a valid protobuf message
 *   of the expected type.
 * @NB_NETWORK_MAP_ERROR_INVALID: a LoginResponse without a usable own peer
 *   config (no PeerConfig, or its address is not a CIDR).
 */
typedef enum {
  NB_NETWORK_MAP_ERROR_PARSE,
  NB_NETWORK_MAP_ERROR_INVALID,
} NbNetworkMapError;

/* HostConfig.Protocol; values are the wire numbers. Unknown numbers are
 * kept as they are. */
typedef enum {
  NB_HOST_PROTOCOL_UDP = 0,
  NB_HOST_PROTOCOL_TCP = 1,
  NB_HOST_PROTOCOL_HTTP = 2,
  NB_HOST_PROTOCOL_HTTPS = 3,
  NB_HOST_PROTOCOL_DTLS = 4,
} NbHostProtocol;

/* "udp", "tcp", "http", "https", "dtls", or "unknown". */
const char *nb_host_protocol_to_string (NbHostProtocol protocol);

/* A STUN server or the signal server. */
typedef struct {
  char *uri;               /* "stun:host:port", "signal.example:443" */
  NbHostProtocol protocol;
} NbHostConfig;

/* A TURN server with its time-limited credentials. @password is a secret:
 * wiped on free, never logged. */
typedef struct {
  char *uri;               /* "turn:host:port?transport=udp" */
  NbHostProtocol protocol;
  char *user;
  char *password;
} NbTurnConfig;

/* Relay servers and the token to authenticate with (payload and signature
 * are secrets: wiped on free, never logged). */
typedef struct {
  char **urls;             /* rel:// or rels://, never NULL */
  char *token_payload;
  char *token_signature;
} NbRelayConfig;

/* NetbirdConfig: where the control plane lives. */
typedef struct {
  GPtrArray *stuns;        /* NbHostConfig*, never NULL */
  GPtrArray *turns;        /* NbTurnConfig*, never NULL */
  NbHostConfig *signal;    /* nullable */
  NbRelayConfig *relay;    /* nullable: no relay */
} NbNetbirdConfig;

/* PeerConfig: our own peer. */
typedef struct {
  char *address;           /* overlay IPv4 in CIDR form, "100.64.0.5/16" */
  char *address_v6;        /* "fd00:1234::5/64", or NULL */
  char *fqdn;              /* "peer5.netbird.cloud", may be "" */
  char *dns_domain;        /* the fqdn without its first label, may be "" */
  guint mtu;               /* never 0: 0 on the wire becomes the default */
  gboolean ssh_enabled;
  gboolean routing_peer_dns_resolution;
  gboolean lazy_connection;
} NbPeerConfig;

/* RemotePeerConfig: a peer to connect to (or an offline one). */
typedef struct {
  char *key;               /* WireGuard public key, canonical base64 */
  char **allowed_ips;      /* CIDRs, never NULL */
  char *fqdn;
  char *agent_version;
} NbRemotePeer;

/* Route: a network (CIDR) or a set of domains reached through a routing
 * peer. */
typedef struct {
  char *id;
  char *network;           /* CIDR, or NULL for a domain route */
  char **domains;          /* never NULL */
  char *peer;              /* routing peer's key */
  gint64 network_type;
  gint64 metric;
  gboolean masquerade;
  char *net_id;
  gboolean keep_route;
  gboolean skip_auto_apply;
} NbRoute;

typedef struct {
  char *ip;
  gint64 type;             /* NSType: 1 = UDP */
  guint16 port;            /* 0 on the wire becomes 53 */
} NbNameServer;

typedef struct {
  GPtrArray *nameservers;  /* NbNameServer*, never NULL */
  gboolean primary;
  char **domains;          /* never NULL */
  gboolean search_domains_enabled;
} NbNameServerGroup;

typedef struct {
  char *name;
  gint64 type;             /* DNS RR type number */
  char *record_class;      /* "IN" */
  gint64 ttl;
  char *rdata;
} NbDnsRecord;

typedef struct {
  char *domain;
  GPtrArray *records;      /* NbDnsRecord*, never NULL */
  gboolean search_domain_disabled;
  gboolean non_authoritative;
} NbCustomZone;

typedef struct {
  gboolean service_enable;
  GPtrArray *nameserver_groups; /* NbNameServerGroup*, never NULL */
  GPtrArray *custom_zones;      /* NbCustomZone*, never NULL */
} NbDnsConfig;

/*
 * One converted message, or the applied state of a client.
 *
 * @has_map: a NetworkMap was present (FALSE for config-only updates and
 *   for a LoginResponse); then @serial, @peers_present, @peers,
 *   @offline_peers, @routes and @dns are meaningful.
 * @own: our peer config; NULL when absent (or invalid, in a sync).
 * @peers_present: the map carried a peer list (non-empty, or empty with
 *   remotePeersIsEmpty); FALSE: keep the applied peers.
 * @config: the NetbirdConfig; NULL when absent.
 */
typedef struct {
  gboolean has_map;
  guint64 serial;
  NbPeerConfig *own;
  gboolean peers_present;
  GPtrArray *peers;          /* NbRemotePeer*, never NULL */
  GPtrArray *offline_peers;  /* NbRemotePeer*, never NULL */
  GPtrArray *routes;         /* NbRoute*, never NULL */
  NbDnsConfig *dns;          /* nullable */
  NbNetbirdConfig *config;   /* nullable */
  guint n_skipped;           /* invalid entries dropped by the conversion */
} NbNetworkMap;

/* What applying an update changed. The peer arrays hold copies: @added and
 * @updated the new versions, @removed the applied versions. A peer is
 * "updated" when its allowed IPs (as a set) or its fqdn changed. */
typedef struct {
  gboolean stale;            /* the update's map had a lower serial: ignored */
  gboolean map_changed;      /* own, peers, offline peers, routes or DNS */
  gboolean own_changed;
  gboolean offline_peers_changed;
  gboolean routes_changed;
  gboolean dns_changed;
  gboolean config_changed;   /* STUN, TURN, signal or relay */
  GPtrArray *added;          /* NbRemotePeer*, never NULL */
  GPtrArray *removed;        /* NbRemotePeer*, never NULL */
  GPtrArray *updated;        /* NbRemotePeer*, never NULL */
} NbNetworkMapDiff;

/* ---- Conversion ---------------------------------------------------------- */

/* A serialised management.SyncResponse (the opened body of a Sync stream
 * message). @own_key (nullable): our peer key; peers with it are dropped.
 * NULL + NB_NETWORK_MAP_ERROR_PARSE when the bytes do not decode. */
NbNetworkMap *nb_network_map_from_sync_response  (const guint8 *data,
                                                  gsize         len,
                                                  const char   *own_key,
                                                  GError      **error);

/* A serialised management.LoginResponse: @own and @config, @has_map FALSE.
 * Fails with NB_NETWORK_MAP_ERROR_INVALID without a valid own address. */
NbNetworkMap *nb_network_map_from_login_response (const guint8 *data,
                                                  gsize         len,
                                                  GError      **error);

/* Whether @text is "<IPv4 or IPv6 address>/<prefix length>" (host bits may
 * be set). */
gboolean nb_cidr_is_valid (const char *text);

/* ---- Values -------------------------------------------------------------- */

NbNetworkMap *nb_network_map_new  (void);
NbNetworkMap *nb_network_map_copy (const NbNetworkMap *map);
void          nb_network_map_free (NbNetworkMap *map);
/* The peer with @key in @map->peers, or NULL. */
const NbRemotePeer *nb_network_map_find_peer (const NbNetworkMap *map,
                                              const char         *key);

NbHostConfig *nb_host_config_new   (const char *uri, NbHostProtocol protocol);
NbHostConfig *nb_host_config_copy  (const NbHostConfig *host);
/* A URL for a gRPC client: management gives "host:port" and a protocol
 * (a URI that already has a scheme is taken as it is). */
char         *nb_host_config_to_url (const NbHostConfig *host);
void          nb_host_config_free  (NbHostConfig *host);
gboolean      nb_host_config_equal (const NbHostConfig *a, const NbHostConfig *b);

NbTurnConfig *nb_turn_config_copy  (const NbTurnConfig *turn);
/* Wipes the password, then frees. */
void          nb_turn_config_free  (NbTurnConfig *turn);
/* Overwrites the password with zero bytes in place (its length stays
 * readable as the buffer size; the string becomes ""). */
void          nb_turn_config_wipe  (NbTurnConfig *turn);
gboolean      nb_turn_config_equal (const NbTurnConfig *a, const NbTurnConfig *b);

NbRelayConfig *nb_relay_config_copy  (const NbRelayConfig *relay);
void           nb_relay_config_free  (NbRelayConfig *relay);
gboolean       nb_relay_config_equal (const NbRelayConfig *a, const NbRelayConfig *b);

NbNetbirdConfig *nb_netbird_config_new   (void);
NbNetbirdConfig *nb_netbird_config_copy  (const NbNetbirdConfig *config);
void             nb_netbird_config_free  (NbNetbirdConfig *config);
/* NULL equals NULL only. */
gboolean         nb_netbird_config_equal (const NbNetbirdConfig *a, const NbNetbirdConfig *b);

NbPeerConfig *nb_peer_config_copy  (const NbPeerConfig *own);
void          nb_peer_config_free  (NbPeerConfig *own);
gboolean      nb_peer_config_equal (const NbPeerConfig *a, const NbPeerConfig *b);

NbRemotePeer *nb_remote_peer_new   (const char *key, const char *const *allowed_ips,
                                    const char *fqdn, const char *agent_version);
NbRemotePeer *nb_remote_peer_copy  (const NbRemotePeer *peer);
void          nb_remote_peer_free  (NbRemotePeer *peer);
/* All fields; allowed IPs compared as a set. */
gboolean      nb_remote_peer_equal (const NbRemotePeer *a, const NbRemotePeer *b);

NbRoute *nb_route_copy (const NbRoute *route);
void     nb_route_free (NbRoute *route);
void     nb_dns_record_free (NbDnsRecord *record);
void     nb_custom_zone_free (NbCustomZone *zone);

NbDnsConfig *nb_dns_config_copy (const NbDnsConfig *dns);
void         nb_dns_config_free (NbDnsConfig *dns);

/* ---- Updates ------------------------------------------------------------- */

/* The state after applying @update to @applied (nullable: nothing applied
 * yet), following the rules at the top of this file. Never NULL. With
 * @out_diff (nullable), also what changed (see nb_network_map_diff()). */
NbNetworkMap *nb_network_map_apply (const NbNetworkMap  *applied,
                                    const NbNetworkMap  *update,
                                    NbNetworkMapDiff   **out_diff);

/* What applying @update to @applied (nullable) would change. */
NbNetworkMapDiff *nb_network_map_diff (const NbNetworkMap *applied,
                                       const NbNetworkMap *update);

/* Whether the diff changes nothing at all. */
gboolean nb_network_map_diff_is_empty (const NbNetworkMapDiff *diff);
/* Whether peers were added, removed or updated. */
gboolean nb_network_map_diff_has_peer_changes (const NbNetworkMapDiff *diff);
void     nb_network_map_diff_free (NbNetworkMapDiff *diff);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (NbNetworkMap, nb_network_map_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NbNetworkMapDiff, nb_network_map_diff_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NbHostConfig, nb_host_config_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NbTurnConfig, nb_turn_config_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NbRelayConfig, nb_relay_config_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NbNetbirdConfig, nb_netbird_config_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NbPeerConfig, nb_peer_config_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NbRemotePeer, nb_remote_peer_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NbRoute, nb_route_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NbDnsConfig, nb_dns_config_free)

G_END_DECLS
