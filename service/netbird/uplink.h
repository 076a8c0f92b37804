/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Keeps the engine's own traffic off the WireGuard tunnel.
 *
 * With an exit node, NetworkManager installs a default route through the
 * tunnel beside the physical one. The engine's management/signal gRPC, relay
 * WebSocket and libnice sockets must still leave through the physical
 * network, or they loop into the tunnel they carry. NetworkManager owns the
 * routing (no policy rules of ours), so every such socket of this process
 * gets SO_BINDTODEVICE to the device it must leave through: a per-socket
 * option that changes nothing in the host's routing.
 *
 * The state is process-wide: there is one engine per process. The functions
 * may be called from any thread.
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* Turns binding on and binds every existing socket (nb_uplink_bind_all()),
 * or off and removes the binding from the sockets this module bound.
 * @tunnel_ifname (nullable) is the WireGuard interface: never chosen as
 * a socket's device. Enabling again updates the tunnel and rebinds. */
void     nb_uplink_set_enabled (gboolean enabled, const char *tunnel_ifname);
gboolean nb_uplink_get_enabled (void);

/* When enabled, binds @fd to its outgoing device:
 *  - only TCP and UDP sockets over IPv4/IPv6 that are not listening;
 *  - never when the local or the connected peer address is loopback (the
 *    WireGuard proxy talks to wireguard-go on 127.0.0.1);
 *  - bound to a specific address: the interface owning that address,
 *    unless that is the tunnel;
 *  - bound to the wildcard address (or not bound yet): the device of the
 *    default route that is not the tunnel (nb_uplink_default_device()).
 * Call it before connect(): the kernel picks the source address and route
 * at connect time. Does nothing when disabled; never fails (logs). */
void     nb_uplink_bind_fd (int fd);

/* For GSocketClient::event and SoupMessage::network-event: binds the
 * socket of @connection at G_SOCKET_CLIENT_CONNECTING, that is before
 * connect(): afterwards the SYN would already have taken an exit node's
 * default route into the tunnel. Cheap when disabled. */
void     nb_uplink_bind_connecting (GSocketClientEvent event, GIOStream *connection);

/* When enabled, nb_uplink_bind_fd() on every socket in /proc/self/fd. */
void     nb_uplink_bind_all (void);

/* TRUE when @address lies inside the subnet of an address configured on an
 * interface that is up, is not loopback and is not @exclude_ifname
 * (nullable). Independent of nb_uplink_get_enabled(). */
gboolean nb_uplink_is_on_link (GInetAddress *address, const char *exclude_ifname);

/* The device of the lowest-metric IPv4 default route of the main table
 * that is not @exclude_ifname (nullable); NULL when there is none. */
char    *nb_uplink_default_device (const char *exclude_ifname);

G_END_DECLS
