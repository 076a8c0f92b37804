/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Which remote peer carries which routed network as a WireGuard allowed IP.
 *
 * Management's map lists routes (network-map.h NbRoute): a network reached
 * through a routing peer. WireGuard sends a packet to the peer whose
 * allowed IPs hold its destination, so a routed network must be among the
 * allowed IPs of exactly one peer: the one traffic should go through (the
 * OS route through the WireGuard interface is NetworkManager's part,
 * nm-ip-config.h). Without it WireGuard drops routed traffic.
 *
 * Choice (pure logic, no I/O):
 *   - Domain routes (no network) are ignored: they need DNS interception.
 *   - Routes whose routing peer is us are ignored: we are the router.
 *   - Exit-node routes (0.0.0.0/0, ::/0) are left out, except those of
 *     the exit node chosen (nb_route_peers_choose_exit()), named by its
 *     network ID: NetBird keeps at most one exit node selected.
 *   - A route whose routing peer is not among the given peers (offline, or
 *     not in the map) cannot be served.
 *   - Several routes for the same network (NetBird's high availability:
 *     routing peers sharing a net_id) are grouped by the network alone,
 *     canonical form: a prefix can sit on one WireGuard peer only, so two
 *     net_ids naming the same prefix would fight over it. One routing peer
 *     is chosen per network: connected peers first, then the lowest metric,
 *     then the lowest key (byte order of the base64 text). NetBird picks by
 *     metric, then by connection quality (latency, relayed or not); here a
 *     disconnected peer never wins over a connected one, so a routed
 *     network moves to a working routing peer when its preferred one is
 *     down, and back when it returns.
 *   - Networks are normalised (host bits cleared, nb_wg_allowed_ip_normalize);
 *     an unparsable one is dropped with a warning.
 *
 * Log domain "nb-route".
 */
#pragma once

#include <glib.h>

#include "network-map.h"

G_BEGIN_DECLS

/* The setting's words (nm-netbird-settings.h "exit-node"); anything else
 * names a route's network ID. */
#define NB_ROUTE_PEERS_EXIT_AUTO "auto"
#define NB_ROUTE_PEERS_EXIT_NONE "none"

/*
 * @routes: NbRoute * (the map's routes).
 * @own_key: our public key (base64); routes through it are left out.
 * @peers: NbRemotePeer * (the map's peers): only these can be chosen;
 *   NULL: any routing peer.
 * @connected: set of keys (char *) of connected peers; NULL: none.
 * @exit_net_id: the chosen exit node's network ID; NULL: none.
 *
 * Returns: remote key (char *) -> NULL-terminated, sorted, duplicate-free
 * array of canonical CIDRs (char **) the peer must carry. Peers that carry
 * nothing are absent. Never NULL.
 */
GHashTable *nb_route_peers_compute (const GPtrArray   *routes,
                                    const char        *own_key,
                                    const GPtrArray   *peers,
                                    GHashTable        *connected,
                                    const char        *exit_net_id);

/* TRUE for a route to 0.0.0.0/0 or ::/0 (any spelling of them). */
gboolean    nb_route_is_exit_node (const NbRoute *route);

/*
 * The exit node to use, as NetBird's client picks it
 * (routemanager: at most one exit node is selected):
 * @setting NULL, "" or "auto": the exit-node routes management marks for
 * auto-apply (skip_auto_apply FALSE), the smallest network ID when several;
 * "none": none; else the route network ID @setting, when the map has an
 * exit-node route of that ID (no other is taken in its place: the user
 * chose that one).
 * Only routes another peer routes count (not @own_key), and, when @peers is
 * not NULL, only those whose routing peer is listed.
 *
 * Returns: (transfer none) the network ID (a route's net_id), or NULL.
 */
const char *nb_route_peers_choose_exit (const GPtrArray *routes,
                                        const char      *own_key,
                                        const GPtrArray *peers,
                                        const char      *setting);

/* A copy of @peer whose allowed IPs are its own (first, in order: the
 * first stays the overlay address) followed by those of @extra (nullable)
 * it does not have yet. */
NbRemotePeer *nb_route_peers_extend_peer (const NbRemotePeer *peer,
                                          const char *const  *extra);

G_END_DECLS
