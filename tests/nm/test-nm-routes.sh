#!/bin/bash
# shellcheck source-path=SCRIPTDIR/../lib
# shellcheck disable=SC2317,SC2016,SC2119 # functions and eval strings run through nb_check; helpers take their defaults
# A network route through the VPN: peer b (nb-engine) is the routing peer
# of 10.99.0.0/24, a network behind it (b has 10.99.0.1 on a veth to
# namespace "lanb", which has 10.99.0.2 and a default route via b).  With
# the route in devnet's map, NetworkManager must put 10.99.0.0/24 on the
# VPN's tundev (nm-ip-config.c: the map's routes as the VPN's routes) and
# the service's engine must give b that network as a WireGuard allowed IP
# (route-peers.c), so that 10.99.0.1 and 10.99.0.2 answer through the
# tunnel.  Removing the route while the VPN is up takes both away again
# without reconnecting.
. "${NB_SOURCE_ROOT:-$(dirname "$0")/../..}/tests/lib/harness.sh"
. "$(dirname "$0")/nm-vpn.sh"
nb_sandbox "$@"
nb_vpn_require

NET=10.99.0.0/24
ROUTER=10.99.0.1
BEHIND=10.99.0.2

nb_vpn_lab b
# b's side of the routed network: rt0 (ROUTER) <-> lanb's eth0 (BEHIND).
nb_net_behind "$NB_PEER2" rt0 "$ROUTER" lanb "$BEHIND" "$ROUTER" || nb_die "the network behind b"
key_b=$(nb_engine_key b)
nb_check "netbird-devnet add-route --peer b --network $NET" nb_devnet add-route --peer "$key_b" --network "$NET"

nb_vpn_add "$NB_VPN_CON" || nb_die "add the VPN connection"
nb_vpn_up "$NB_VPN_CON" 60 || nb_die "nmcli connection up"
nb_check "ping b through the tunnel" nb_wait_until 20 "ping b" nb_vpn_ping "$(nb_engine_ip b)" 3

vpn_route() { ip -n "$NB_NM_NS" route show "$NET" | grep -w "dev $NB_VPN_IF"; }
no_vpn_route() { ! vpn_route; }
b_allowed() {
	ip netns exec "$NB_NM_NS" wg show "$NB_VPN_IF" allowed-ips |
		awk -v k="$key_b" '$1 == k { $1 = ""; print }'
}
b_carries_net() { b_allowed | grep -qw "$NET"; }
b_lacks_net() { ! b_carries_net; }

nb_check "NetworkManager's route to $NET is on $NB_VPN_IF" nb_wait_until 10 "route" vpn_route
nb_log "route: $(vpn_route); b's allowed IPs: $(b_allowed)"
nb_check "$NET is among b's WireGuard allowed IPs" nb_wait_until 10 "allowed IP" b_carries_net
nb_check "$ROUTER (b) answers through the tunnel" nb_wait_until 10 "ping $ROUTER" nb_vpn_ping "$ROUTER" 3
nb_check "$BEHIND (behind b) answers through the tunnel" nb_vpn_ping "$BEHIND" 3

# --- the route goes away while the VPN is up

pid_before=$(nb_service_pids)
nb_check "netbird-devnet remove-route --network $NET" nb_devnet remove-route --network "$NET"
nb_check "$NET leaves b's WireGuard allowed IPs" nb_wait_until 10 "allowed IP gone" b_lacks_net
nb_check "NetworkManager's route to $NET leaves $NB_VPN_IF" nb_wait_until 10 "route gone" no_vpn_route
nb_check_not "$ROUTER no longer answers" nb_vpn_ping "$ROUTER" 2 2
nb_check "ping b still works" nb_vpn_ping "$(nb_engine_ip b)" 3
nb_check "still activated" nb_vpn_activated "$NB_VPN_CON"
nb_check "same service process ($pid_before)" test "$(nb_service_pids)" = "$pid_before"

exit 0
