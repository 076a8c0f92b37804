#!/bin/bash
# shellcheck source-path=SCRIPTDIR/../lib
# A network route (NetBird "network routes"): two nb-engine peers on one
# LAN (nb_topo_lan), b is the routing peer of 10.99.0.0/24, a network
# behind b: b has 10.99.0.1 on a veth to namespace "lanb" (10.99.0.2,
# default route via b, so b forwards and no masquerading is needed).
# `netbird-devnet add-route` while everything runs must reach a's engine in
# a pushed map, and a's engine must add the network to b's WireGuard
# allowed IPs: only then do pings from a to 10.99.0.1 (b itself) and
# 10.99.0.2 (forwarded by b) cross the tunnel (WireGuard drops a packet
# whose destination is in no peer's allowed IPs).  `remove-route` takes the
# allowed IP away again and the pings fail.
#
# nb-engine sets only its overlay address, never routes: the OS route
# 10.99.0.0/24 dev wta stands in for NetworkManager's, which the nm suite
# covers (nm-ip-config.c turns the map's routes into the VPN's routes).
. "${NB_SOURCE_ROOT:-$(dirname "$0")/../..}/tests/lib/harness.sh"
. "$NB_LIB_DIR/net.sh"
. "$NB_LIB_DIR/turn.sh"
. "$NB_LIB_DIR/engine.sh"
nb_sandbox "$@"
nb_engine_require

NET=10.99.0.0/24
ROUTER=10.99.0.1	# b's address in the routed network
BEHIND=10.99.0.2	# a host behind b

nb_engine_standard_setup nb_topo_lan
# b's side of the routed network: rt0 (ROUTER) <-> lanb's eth0 (BEHIND).
nb_net_behind "$NB_PEER2" rt0 "$ROUTER" lanb "$BEHIND" "$ROUTER" || nb_die "the network behind b"

nb_engine_start_ab
key_b=$(nb_engine_key b)
nb_log "a: $(nb_engine_key a) $(nb_engine_ip a); b: $key_b $(nb_engine_ip b)"
nb_check "a and b connected" nb_engine_pair_up 20 a b "$NB_CONNECTED"
nb_check "ping a -> b through the tunnel" nb_tunnel_ping a b 3

# What NetworkManager would do with the VPN's routes.
ip netns exec "$NB_PEER1" ip route add "$NET" dev "${NB_ENG_IF[a]}" || nb_die "route on a"

# WireGuard's allowed IPs of PEER on engine NAME's interface.
allowed_ips() {	# NAME PEER_NAME
	ip netns exec "${NB_ENG_NS[$1]}" wg show "${NB_ENG_IF[$1]}" allowed-ips |
		awk -v k="$(nb_engine_key "$2")" '$1 == k { $1 = ""; print }'
}
a_routes_via_b() { allowed_ips a b | grep -qw "$NET"; }
a_not_via_b() { ! a_routes_via_b; }
ping_from_a() {	# ADDR COUNT DEADLINE_S
	ip netns exec "$NB_PEER1" ping -q -n -c "$2" -i 0.2 -w "$3" "$1" > /dev/null 2>&1
}

nb_check_not "without a route in the map, $NET is not in b's allowed IPs on a" a_routes_via_b
nb_check_not "without a route in the map, a cannot reach $ROUTER" ping_from_a "$ROUTER" 2 2

nb_check "netbird-devnet add-route --peer <b's FQDN> --network $NET" \
	nb_devnet add-route --peer peer-b.netbird.test --network "$NET"
nb_log "routes: $(nb_devnet list-routes | sed 1d)"
nb_check "the route names b's key" grep -q "	$NET	$key_b	9999	no	" <<< "$(nb_devnet list-routes)"
t0=$(now_ms)
nb_check "a's WireGuard: $NET in b's allowed IPs" nb_wait_until 10 "allowed IP $NET" a_routes_via_b
nb_log "a's allowed IPs for b: $(allowed_ips a b) ($(( $(now_ms) - t0 )) ms after add-route)"
nb_check "a's WireGuard keeps b's overlay address first" \
	test "$(allowed_ips a b | awk '{ print $1 }')" = "$(nb_engine_ip b)/32"
b_routes_via_a() { allowed_ips b a | grep -qw "$NET"; }
nb_check_not "b (the routing peer) does not route $NET to a" b_routes_via_a
nb_check "ping a -> $ROUTER (b) through the tunnel" ping_from_a "$ROUTER" 5 5
nb_check "ping a -> $BEHIND (forwarded by b) through the tunnel" ping_from_a "$BEHIND" 5 5
nb_check "a and b still connected" nb_engine_pair_up 5 a b "$NB_CONNECTED"

nb_check "netbird-devnet remove-route --network $NET" nb_devnet remove-route --network "$NET"
nb_check "a's WireGuard: $NET no longer in b's allowed IPs" nb_wait_until 10 "allowed IP gone" a_not_via_b
nb_log "a's allowed IPs for b: $(allowed_ips a b)"
nb_check_not "a cannot reach $ROUTER any more" ping_from_a "$ROUTER" 3 3
nb_check_not "a cannot reach $BEHIND any more" ping_from_a "$BEHIND" 2 2
nb_check "the overlay still works: ping a -> b" nb_tunnel_ping a b 3
