/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The network map as NetworkManager's VPN configuration: the three
 * dictionaries of nm_vpn_service_plugin_set_config(), _set_ip4_config()
 * and _set_ip6_config(), so that NetworkManager (not we) puts the address,
 * routes, DNS and MTU on the WireGuard interface and keeps them in its
 * model of the host. A pure function of the map and a few parameters,
 * hence unit-testable without a daemon.
 *
 * What goes where:
 *   config  tundev = the WireGuard interface, has-ip4 / has-ip6, mtu, and
 *           gateway (NetworkManager refuses a VPN configuration without an
 *           external gateway; it adds a host route to it through the
 *           underlying connection. NetBird has no single gateway, so the
 *           service passes the management server's address; without one
 *           the own overlay address stands in, whose host route is
 *           shadowed by the local table and so does nothing).
 *   ip4     address + prefix from PeerConfig.address; routes: map routes
 *           with an IPv4 network (not domain routes, not ones routed by
 *           ourselves, not skip_auto_apply, not /0), then every
 *           peer's allowed IP that the own prefix does not already cover;
 *           duplicates dropped. dns: IPv4 nameservers on port 53 of every
 *           nameserver group (other ports cannot be expressed to NM and are
 *           counted in n_skipped_dns). domains: a group's domains as search
 *           domains when search is enabled for it, else as routing-only
 *           domains ("~example.com", NetworkManager's notation).
 *           never-default: TRUE, unless the map has a /0 route of this
 *           family with the exit node's network ID (params->exit_net_id,
 *           the engine's choice): then NetworkManager makes the tunnel the
 *           default route. Other /0 routes are counted in n_exit_routes.
 *   ip6     the same for PeerConfig.address_v6, when there is one.
 *           With custom zones (the peer names) and params->dns_server
 *           (the engine's resolver of them, dns-server.h), that server
 *           comes first, and each zone's domain is a search domain, or
 *           routing-only when the zone disables search.
 */
#pragma once

#include <gio/gio.h>

#include "network-map.h"

G_BEGIN_DECLS

#define NB_NM_IP_CONFIG_ERROR (nb_nm_ip_config_error_quark ())
GQuark nb_nm_ip_config_error_quark (void);

typedef enum {
  NB_NM_IP_CONFIG_ERROR_NO_ADDRESS,   /* the map has no usable own address */
  NB_NM_IP_CONFIG_ERROR_INVALID,      /* a bad parameter */
} NbNmIpConfigError;

typedef struct {
  const char   *tundev;       /* required: the WireGuard interface */
  guint         mtu;          /* 0: the map's (PeerConfig.mtu) */
  const char   *own_key;      /* nullable: routes whose routing peer is us are skipped */
  GInetAddress *gateway;      /* nullable: the own IPv4 address stands in */
  const char   *exit_net_id;  /* nullable: the exit node in use (nb_engine_get_exit_node()) */
  GInetAddress *dns_server;   /* nullable: our resolver of the peer names (port 53) */
} NbNmIpParams;

typedef struct {
  GVariant *config;           /* a{sv}, never NULL on success */
  GVariant *ip4;              /* a{sv}, NULL without an IPv4 address */
  GVariant *ip6;              /* a{sv}, NULL without an IPv6 address */
  guint     n_exit_routes;    /* /0 routes left out (exit nodes not in use) */
  gboolean  default4;         /* never-default is FALSE for IPv4 */
  gboolean  default6;         /* ... for IPv6 */
  guint     n_skipped_dns;    /* nameservers NM cannot take (port, family) */
} NbNmIpConfig;

/* Fills @out (all variants are full references, not floating). */
gboolean nb_nm_ip_config_build (const NbNetworkMap *map,
                                const NbNmIpParams *params,
                                NbNmIpConfig       *out,
                                GError            **error);
void     nb_nm_ip_config_clear (NbNmIpConfig *config);

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (NbNmIpConfig, nb_nm_ip_config_clear)

G_END_DECLS
