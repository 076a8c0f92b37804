/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The state directory of netbird-devnet, the local control plane for the
 * demo and tests (not a NetBird replacement).
 *
 * Layout (DIR is `netbird-devnet --state-dir DIR`):
 *
 *   DIR/                 mode 0700, created by `init`
 *     server.key         management's WireGuard private key: one base64 line,
 *                        0600 (wg-key.h). Its public key is GetServerKey's.
 *     relay.secret       relay auth secret: one line of text, 0600. Tokens are
 *                        HMAC-SHA256 keyed with SHA-256(secret text), exactly
 *                        as NetBird's management and relay server do, so a
 *                        NetBird relay started with this text as its
 *                        auth secret accepts devnet's tokens.
 *     turn.secret        coturn `static-auth-secret` (use-auth-secret mode):
 *                        one line of text, 0600. TURN credentials are
 *                        user = expiry Unix time, password =
 *                        base64(HMAC-SHA1(secret, user)), as NetBird does.
 *     turn.static        optional, 0600: one line "user:password" for a coturn
 *                        with a static user (`serve --turn-static`); written
 *                        by `set-turn-static USER` (password from stdin).
 *     setup-keys         GKeyFile, 0600: one group `[setup-key ID]` per key
 *                        with hash (base64 SHA-256 of the upper-case key, as
 *                        NetBird stores it; the key itself is never stored),
 *                        prefix (first 5 characters, for listings), name,
 *                        created, expires (Unix time, 0 = never),
 *                        usage-limit (0 = unlimited), used, revoked.
 *     peers              GKeyFile, 0600: group `[network]` with net
 *                        (100.64.0.0/16), dns-domain (netbird.test), serial
 *                        (network map serial, +1 on every change other peers
 *                        can see) and last-ip (offset of the last address
 *                        handed out; addresses are not reused); one group
 *                        `[peer KEY]` per registered peer (KEY = WireGuard
 *                        public key, base64) with ip, dns-label, setup-key
 *                        (ID), created, last-login and the system meta the
 *                        peer reported (hostname, go-os, kernel, core,
 *                        platform, os, os-version, kernel-version,
 *                        netbird-version, ui-version, ssh-pubkey (base64));
 *                        one group `[route ID]` per route (ID: 12 hex
 *                        digits) with network (canonical CIDR: host bits
 *                        cleared), peer (the routing peer's key), metric,
 *                        masquerade, net-id (NetBird's NetID, by default
 *                        the network text: routes of one NetID form one
 *                        NetBird high-availability group; what `netbird
 *                        routes select` takes) and skip-auto-apply
 *                        (NetBird's skipAutoApply: clients do not select an
 *                        exit node of 0.0.0.0/0 or ::/0 on their own;
 *                        absent in older files: false). Routes live in
 *                        this file so that the serial, the lock and the
 *                        live reload of peers cover them too.
 *     lock               empty; writers hold flock(LOCK_EX) on it while they
 *                        read-modify-write setup-keys / peers.
 *     tls-cert.pem       written by `serve --tls-self-signed`: the generated
 *                        certificate (public; clients use it as their CA).
 *                        The private key never touches the disk.
 *
 * Every write goes to a temporary file that is fsync'ed and renamed over the
 * old one (g_file_set_contents_full, CONSISTENT), so readers never see half
 * a file. Every change re-reads the files under the lock first, so the admin
 * subcommands and a running server can change the same directory.
 *
 * Live changes: a server calls nb_devnet_state_watch(); a GFileMonitor on
 * `peers` then re-reads it whenever another process (e.g. `remove-peer`,
 * `add-route`) replaced it, and "peers-changed" tells the management
 * service to push new network maps. Setup keys are read from disk at every registration, so a
 * key added by `add-setup-key` works at once.
 *
 * NbDevnetState (GObject) signals:
 *   "peers-changed" (guint64 serial): the set of peers, or something other
 *     peers see of one (address, FQDN, agent version, SSH key), or the
 *     routes changed, by
 *     this process or (after watch()) by another. Emitted from the main
 *     context, never from inside an NbDevnetState function.
 *
 * Secrets (keys, secrets, setup keys) are never logged.
 */
#pragma once

#include <gio/gio.h>

#include "wg-key.h"

G_BEGIN_DECLS

#define NB_DEVNET_NETWORK_CIDR        "100.64.0.0/16"
#define NB_DEVNET_NETWORK_ADDR        0x64400000u /* 100.64.0.0 */
#define NB_DEVNET_NETWORK_PREFIX      16
#define NB_DEVNET_DEFAULT_DNS_DOMAIN  "netbird.test"

#define NB_DEVNET_STATE_ERROR (nb_devnet_state_error_quark ())
GQuark nb_devnet_state_error_quark (void);

/**
 * NbDevnetStateError:
 * @NB_DEVNET_STATE_ERROR_NOT_INITIALISED: DIR has no state (run `init`).
 * @NB_DEVNET_STATE_ERROR_ALREADY_INITIALISED: `init` on a DIR with state.
 * @NB_DEVNET_STATE_ERROR_CORRUPT: a state file cannot be parsed.
 * @NB_DEVNET_STATE_ERROR_IO: reading or writing failed.
 * @NB_DEVNET_STATE_ERROR_SETUP_KEY_INVALID: unknown, revoked, expired or
 *   used-up setup key (NetBird: NOT_FOUND "setup key is invalid").
 * @NB_DEVNET_STATE_ERROR_PEER_EXISTS: registering a key that is registered.
 * @NB_DEVNET_STATE_ERROR_PEER_NOT_FOUND: no peer with that key.
 * @NB_DEVNET_STATE_ERROR_NETWORK_FULL: no free address left.
 * @NB_DEVNET_STATE_ERROR_INVALID_ARGUMENT: unusable argument (bad key text).
 * @NB_DEVNET_STATE_ERROR_ROUTE_NOT_FOUND: no route for that network.
 */
typedef enum {
  NB_DEVNET_STATE_ERROR_NOT_INITIALISED,
  NB_DEVNET_STATE_ERROR_ALREADY_INITIALISED,
  NB_DEVNET_STATE_ERROR_CORRUPT,
  NB_DEVNET_STATE_ERROR_IO,
  NB_DEVNET_STATE_ERROR_SETUP_KEY_INVALID,
  NB_DEVNET_STATE_ERROR_PEER_EXISTS,
  NB_DEVNET_STATE_ERROR_PEER_NOT_FOUND,
  NB_DEVNET_STATE_ERROR_NETWORK_FULL,
  NB_DEVNET_STATE_ERROR_INVALID_ARGUMENT,
  NB_DEVNET_STATE_ERROR_ROUTE_NOT_FOUND,
} NbDevnetStateError;

/* The system meta a peer reports (LoginRequest / SyncRequest meta), the
 * parts devnet keeps. All strings non-NULL (maybe empty) after _new(). */
typedef struct {
  char *hostname;
  char *go_os;
  char *kernel;
  char *core;
  char *platform;
  char *os;
  char *os_version;
  char *kernel_version;
  char *netbird_version;
  char *ui_version;
  char *ssh_pubkey_b64; /* PeerKeys.sshPubKey, base64 ("" for none) */
} NbDevnetPeerMeta;

NbDevnetPeerMeta *nb_devnet_peer_meta_new (void);
NbDevnetPeerMeta *nb_devnet_peer_meta_copy (const NbDevnetPeerMeta *meta);
void              nb_devnet_peer_meta_free (NbDevnetPeerMeta *meta);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NbDevnetPeerMeta, nb_devnet_peer_meta_free)

/* One registered peer (a value: copies are independent). */
typedef struct {
  char *key;          /* WireGuard public key, base64 */
  guint32 ip;         /* overlay IPv4, host byte order */
  char *dns_label;    /* unique within the network */
  char *setup_key_id; /* the key it registered with */
  gint64 created;     /* Unix time */
  gint64 last_login;  /* Unix time */
  NbDevnetPeerMeta *meta;
} NbDevnetPeer;

NbDevnetPeer *nb_devnet_peer_copy (const NbDevnetPeer *peer);
void          nb_devnet_peer_free (NbDevnetPeer *peer);
/* "100.64.0.7" (g_free). */
char         *nb_devnet_peer_ip_string (const NbDevnetPeer *peer);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NbDevnetPeer, nb_devnet_peer_free)

/* One route: @network reached through the peer @peer (a value). */
typedef struct {
  char *id;           /* 12 hex digits */
  char *network;      /* canonical CIDR, "10.99.0.0/24" */
  char *peer;         /* the routing peer's key */
  gint64 metric;      /* lower wins; NetBird's default is 9999 */
  gboolean masquerade;
  char *net_id;       /* NetBird's NetID; by default the network text */
  gboolean skip_auto_apply;
} NbDevnetRoute;

#define NB_DEVNET_ROUTE_DEFAULT_METRIC 9999
/* NetBird's limit on a route's NetID (characters). */
#define NB_DEVNET_ROUTE_NET_ID_MAX 40

/* Whether @net_id is usable as a NetID: 1..NB_DEVNET_ROUTE_NET_ID_MAX
 * characters of valid UTF-8 without control characters; FALSE +
 * INVALID_ARGUMENT otherwise. */
gboolean nb_devnet_route_net_id_is_valid (const char *net_id,
                                          GError    **error);

NbDevnetRoute *nb_devnet_route_copy (const NbDevnetRoute *route);
void           nb_devnet_route_free (NbDevnetRoute *route);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NbDevnetRoute, nb_devnet_route_free)

/* "a.b.c.d/n" or "x::/n" with the host bits cleared, or NULL when @text
 * is not an IP literal with a prefix length of its family. */
char *nb_devnet_cidr_normalize (const char *text);

/* One setup key as stored (without the key itself). */
typedef struct {
  char *id;
  char *prefix;       /* first 5 characters of the key */
  char *name;
  gint64 created;
  gint64 expires;     /* 0: never */
  guint usage_limit;  /* 0: unlimited */
  guint used;
  gboolean revoked;
} NbDevnetSetupKey;

void nb_devnet_setup_key_free (NbDevnetSetupKey *key);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NbDevnetSetupKey, nb_devnet_setup_key_free)
/* Not revoked, not expired at @now, not used up: NetBird's IsValid(). */
gboolean nb_devnet_setup_key_is_valid (const NbDevnetSetupKey *key, gint64 now);

#define NB_TYPE_DEVNET_STATE (nb_devnet_state_get_type ())
G_DECLARE_FINAL_TYPE (NbDevnetState, nb_devnet_state, NB, DEVNET_STATE, GObject)

/* Creates the state in @dir (made 0700 if missing; must not hold state yet):
 * server key, relay and TURN secrets, an empty network with @dns_domain
 * (NULL: netbird.test) and one reusable, non-expiring setup key named
 * "default", returned in @out_setup_key (g_free; print it, never log it). */
NbDevnetState *nb_devnet_state_create (const char  *dir,
                                       const char  *dns_domain,
                                       char       **out_setup_key,
                                       GError     **error);
/* Loads the state of @dir. */
NbDevnetState *nb_devnet_state_open (const char *dir,
                                     GError    **error);

const char    *nb_devnet_state_get_dir (NbDevnetState *self);
const NbWgKey *nb_devnet_state_get_server_private_key (NbDevnetState *self);
const NbWgKey *nb_devnet_state_get_server_public_key (NbDevnetState *self);
/* The secret texts (without newline); never log them. */
GBytes        *nb_devnet_state_get_relay_secret (NbDevnetState *self);
GBytes        *nb_devnet_state_get_turn_secret (NbDevnetState *self);
/* turn.static, read now: FALSE + NOT_INITIALISED when it does not exist. */
gboolean       nb_devnet_state_get_turn_static (NbDevnetState *self,
                                                char         **out_user,
                                                char         **out_password,
                                                GError       **error);
gboolean       nb_devnet_state_set_turn_static (NbDevnetState *self,
                                                const char    *user,
                                                const char    *password,
                                                GError       **error);
const char    *nb_devnet_state_get_dns_domain (NbDevnetState *self);
guint64        nb_devnet_state_get_serial (NbDevnetState *self);

/* ---- setup keys -------------------------------------------------------- */

/* Adds a setup key (a new upper-case UUID, returned: g_free, never log it).
 * @usage_limit 0 = unlimited; @expires_in_s 0 = never. */
char      *nb_devnet_state_add_setup_key (NbDevnetState *self,
                                          const char    *name,
                                          guint          usage_limit,
                                          gint64         expires_in_s,
                                          GError       **error);
/* NbDevnetSetupKey *, in file order (re-read from disk). */
GPtrArray *nb_devnet_state_list_setup_keys (NbDevnetState *self,
                                            GError       **error);

/* ---- peers ------------------------------------------------------------- */

/* The peer with @key, or NULL (transfer none; valid until the next change). */
const NbDevnetPeer *nb_devnet_state_lookup_peer (NbDevnetState *self,
                                                 const char    *key);
/* NbDevnetPeer * (borrowed, as lookup_peer()) sorted by address. */
GPtrArray *nb_devnet_state_list_peers (NbDevnetState *self);
guint      nb_devnet_state_get_n_peers (NbDevnetState *self);

/* Registers @key with @setup_key (case-insensitive): checks the key
 * (SETUP_KEY_INVALID), allocates the next free address of 100.64.0.0/16 and
 * a unique DNS label from @meta->hostname (NetBird's rules: first label,
 * lower case, characters outside [a-z0-9-] become '-', at most 58
 * characters; a taken label gets "-<3rd octet>-<4th octet>" appended),
 * counts one use of the setup key, increments the serial and saves both
 * files. Returns the new peer (transfer none). */
const NbDevnetPeer *nb_devnet_state_register_peer (NbDevnetState          *self,
                                                   const char             *key,
                                                   const char             *setup_key,
                                                   const NbDevnetPeerMeta *meta,
                                                   GError                **error);
/* Stores new meta and the login time of @key. *@out_visible_change: whether
 * other peers see a difference (agent version, SSH key): then the serial was
 * incremented. */
gboolean   nb_devnet_state_update_peer (NbDevnetState          *self,
                                        const char             *key,
                                        const NbDevnetPeerMeta *meta,
                                        gboolean                login,
                                        gboolean               *out_visible_change,
                                        GError                **error);
/* Removes @key (PEER_NOT_FOUND when unknown) and the routes through it,
 * increments the serial. */
gboolean   nb_devnet_state_remove_peer (NbDevnetState *self,
                                        const char    *key,
                                        GError       **error);
/* The peer whose key, DNS label or FQDN (label.dns-domain) is @name, or
 * NULL (transfer none, as lookup_peer()). */
const NbDevnetPeer *nb_devnet_state_find_peer (NbDevnetState *self,
                                               const char    *name);

/* ---- routes ------------------------------------------------------------ */

/* NbDevnetRoute * (borrowed, valid until the next change) sorted by
 * network, then routing peer. */
GPtrArray *nb_devnet_state_list_routes (NbDevnetState *self);
/* Routes @network (a CIDR; normalised) through the registered peer @key
 * (PEER_NOT_FOUND otherwise) under the NetID @net_id (NULL: the canonical
 * network text; INVALID_ARGUMENT when not
 * nb_devnet_route_net_id_is_valid()); a route of the same network through
 * the same peer is updated in place (metric, masquerade, NetID,
 * skip-auto-apply). Increments the serial. Returns the stored route
 * (transfer none). */
const NbDevnetRoute *nb_devnet_state_add_route (NbDevnetState *self,
                                                const char    *key,
                                                const char    *network,
                                                gint64         metric,
                                                gboolean       masquerade,
                                                const char    *net_id,
                                                gboolean       skip_auto_apply,
                                                GError       **error);
/* Removes every route of @network (ROUTE_NOT_FOUND when there is none),
 * increments the serial. *@out_n_removed (nullable): how many. */
gboolean   nb_devnet_state_remove_routes (NbDevnetState *self,
                                          const char    *network,
                                          guint         *out_n_removed,
                                          GError       **error);

/* Re-reads `peers` from disk now (what the file monitor does). */
gboolean   nb_devnet_state_reload (NbDevnetState *self,
                                   GError       **error);

/* Starts watching `peers` for changes by other processes. */
gboolean   nb_devnet_state_watch (NbDevnetState *self,
                                  GError       **error);

/* NetBird's DNS label of a host name (see register_peer); "peer" when
 * nothing usable is left. */
char      *nb_devnet_dns_label_from_hostname (const char *hostname);

G_END_DECLS
