/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The management service of netbird-devnet (`management.ManagementService`
 * on an NbGrpcServer), behaving like NetBird's management server for
 * peers that register with setup keys. Peers, setup keys and the server key
 * live in an NbDevnetState.
 *
 * Calls (NetBird's status codes and messages):
 * - GetServerKey: the server's WireGuard public key; expiresAt = now + 24 h.
 * - Login (body LoginRequest, sealed with the peer's key and the server
 *   key): a body that is not an EncryptedMessage → INTERNAL; a bad
 *   wgPubKey → INVALID_ARGUMENT "provided wgPubKey ... is invalid"; a body
 *   that does not open or parse → INVALID_ARGUMENT "invalid request
 *   message"; no meta → FAILED_PRECONDITION; dnsLabels (not allowed by any
 *   devnet setup key) → FAILED_PRECONDITION; a JWT (no SSO here) →
 *   PERMISSION_DENIED. A registered peer is logged in (meta and SSH key
 *   stored). An unknown peer without setup key → PERMISSION_DENIED "no peer
 *   auth method provided, ..."; with an unknown, revoked, expired or
 *   used-up setup key → NOT_FOUND "couldn't add peer: setup key is invalid"
 *   (what NetBird answers since July 2025; before, FAILED_PRECONDITION);
 *   a valid one registers the peer (devnet-state.h). The answer is a sealed
 *   LoginResponse: NetbirdConfig (below), PeerConfig (address
 *   "100.64.x.y/16", fqdn "<label>.<dns domain>", mtu, sshConfig, an
 *   empty autoUpdate) and sessionExpiresAt = 0 (no login expiry). Unlike
 *   NetBird, whose LoginResponse carries the configured static TURN user,
 *   it already has fresh time-limited TURN credentials.
 * - Sync (server streaming, body SyncRequest): unknown peer →
 *   PERMISSION_DENIED "peer is not registered". The first SyncResponse has
 *   the whole NetbirdConfig, peerConfig, NetworkMap {Serial, peerConfig,
 *   remotePeers = every other registered peer (wgPubKey, allowedIps
 *   ["ip/32"], sshConfig {sshPubKey}, fqdn, agentVersion), ordered by
 *   address, remotePeersIsEmpty}, the deprecated top-level remotePeers /
 *   remotePeersIsEmpty (top-level remotePeers only for clients older than
 *   0.29.3 or with a version that does not parse, as NetBird) and
 *   sessionExpiresAt = 0. Routes (`add-route`, devnet-state.h) go to every
 *   peer, the routing peer included, as NetBird's Route messages: ID,
 *   Network, NetworkType (1 IPv4, 2 IPv6), Peer (the routing peer's key),
 *   Metric, Masquerade, NetID; no domain routes, no route firewall rules.
 *   DNSConfig, as NetBird's for the peers: ServiceEnable, no nameserver
 *   groups, one CustomZone {Domain = "<dns domain>." (trailing dot),
 *   Records = for every registered peer, the receiving one included, an A
 *   record {Name = its fqdn, Type 1, Class "IN", TTL 300, RData = its
 *   address}, ordered by address}.
 *   No firewall rules are sent and
 *   firewallRulesIsEmpty stays false, which NetBird clients read as "allow
 *   all" (the default All-to-All policy). A newer Sync of the same peer ends
 *   the older stream with OK. Whenever the network changes (a peer
 *   registers, is removed - also by `remove-peer` in another process - or
 *   changes what others see, or a route is added or removed by `add-route`
 *   / `remove-route`) every stream gets a new map with the new serial
 *   (and no NetbirdConfig, like NetBird's fan-out updates), after
 *   map_debounce_ms; a removed peer's own stream gets NetBird's farewell (an
 *   empty map with remotePeersIsEmpty) and ends with OK. TURN credentials
 *   (secret mode) are refreshed at 3/4 of their lifetime with a config-only
 *   SyncResponse {turns, relay}, relay tokens at 3/4 of theirs with
 *   {relay}.
 * - isHealthy: Empty. SyncMeta: stores the meta (FAILED_PRECONDITION without
 *   meta, NOT_FOUND for an unknown peer). Logout: closes the peer's Sync
 *   stream (OK); the peer stays registered unless logout_deletes_peer
 *   (NetBird deletes it) - NOT_FOUND for an unknown peer.
 * - Everything else in ManagementService is answered UNIMPLEMENTED by the
 *   gRPC server (not registered).
 *
 * NetbirdConfig: stuns = "stun:H:P" per TURN host, turns = "turn:H:P?
 * transport=udp" with credentials (secret mode: user = expiry Unix time,
 * password = base64(HMAC-SHA1(turn.secret, user)), NetBird's TimedHMAC;
 * static mode: turn.static), signal = {uri "host:port" of this server,
 * protocol HTTP or HTTPS}, relay = {urls, tokenPayload = expiry Unix time,
 * tokenSignature = base64(HMAC-SHA256(SHA-256(relay.secret), payload))} when
 * relay URLs are configured, metrics = {enabled false}.
 *
 * Logs (domain nb-devnet-mgmt): one line per registration, login refusal,
 * Sync stream opened/closed and map push (serial, peer and stream counts).
 * Setup keys, TURN passwords, relay tokens and the server key never reach a
 * log line.
 */
#pragma once

#include <gio/gio.h>

#include "devnet-state.h"
#include "grpc-server.h"

G_BEGIN_DECLS

#define NB_DEVNET_DEFAULT_CREDENTIALS_TTL_S (12 * 60 * 60) /* NetBird's default */

typedef enum {
  NB_DEVNET_TURN_CREDENTIALS_SECRET, /* time-limited, from turn.secret */
  NB_DEVNET_TURN_CREDENTIALS_STATIC, /* user:password from turn.static */
} NbDevnetTurnCredentials;

/* Configuration of the management service (a value). */
typedef struct {
  char *signal_uri;       /* "host:port" of this server for peers */
  gboolean signal_tls;    /* HostConfig protocol HTTPS (else HTTP) */
  GStrv turn_hosts;       /* "host:port" of coturn servers; NULL: none */
  NbDevnetTurnCredentials turn_credentials;
  guint turn_ttl_s;       /* lifetime of TURN credentials (secret mode) */
  GStrv relay_urls;       /* rel:// / rels:// URLs; NULL: no relay */
  guint relay_ttl_s;      /* lifetime of relay tokens */
  gint mtu;               /* PeerConfig.mtu; 0: not sent */
  guint map_debounce_ms;  /* delay before a changed map is pushed */
  gboolean logout_deletes_peer;
} NbDevnetMgmtConfig;

NbDevnetMgmtConfig *nb_devnet_mgmt_config_new (void);
NbDevnetMgmtConfig *nb_devnet_mgmt_config_copy (const NbDevnetMgmtConfig *config);
void                nb_devnet_mgmt_config_free (NbDevnetMgmtConfig *config);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NbDevnetMgmtConfig, nb_devnet_mgmt_config_free)

#define NB_TYPE_DEVNET_MGMT (nb_devnet_mgmt_get_type ())
G_DECLARE_FINAL_TYPE (NbDevnetMgmt, nb_devnet_mgmt, NB, DEVNET_MGMT, GObject)

/*
 * Signals:
 *   "map-pushed" (guint64 serial, guint n_streams): a network map went out
 *     to the Sync streams.
 */

/* Loads static TURN credentials now when the config asks for them. */
NbDevnetMgmt *nb_devnet_mgmt_new (NbDevnetState             *state,
                                  const NbDevnetMgmtConfig  *config,
                                  GError                   **error);

/* Registers the ManagementService methods on @server. */
void  nb_devnet_mgmt_attach (NbDevnetMgmt *self,
                             NbGrpcServer *server);

guint nb_devnet_mgmt_get_n_sync_streams (NbDevnetMgmt *self);

/* Ends every Sync stream with UNAVAILABLE and stops all timers. */
void  nb_devnet_mgmt_stop (NbDevnetMgmt *self);

G_END_DECLS
