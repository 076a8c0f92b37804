#!/bin/bash
# shellcheck source-path=SCRIPTDIR/../lib
# shellcheck disable=SC2317,SC2016,SC2119 # functions and eval strings run through nb_check; helpers take their defaults
# An exit node: peer b (nb-engine) routes 0.0.0.0/0 for the mesh and
# masquerades it onto a network of its own ("inet", 198.18.0.0/24, where
# 198.18.0.2 stands for the internet and knows no way back but b).
#
# NetworkManager's namespace reaches everything (devnet, coturn, b) only
# through a router "gw" on the hub: its address is a /32 and its one route
# is the default via gw.  So when the exit node makes the tunnel the
# default route (never-default off, metric 50 against the base
# connection's 100), every packet of the service's own sockets would
# follow it into wt0 and loop, unless the engine binds its sockets to eth0
# (service/netbird/uplink.h).  The test shows that management, signal,
# ICE and a new peer keep working after the default route moved.
#
# Settings (vpn.data exit-node): absent = management's choice (routes not
# marked skip-auto-apply), a network ID = that one, none = never.
. "${NB_SOURCE_ROOT:-$(dirname "$0")/../..}/tests/lib/harness.sh"
. "$(dirname "$0")/nm-vpn.sh"
nb_sandbox "$@"
nb_vpn_require

INET_NET=198.18.0.0/24
INET_B=198.18.0.1
INET_HOST=198.18.0.2

# Signal and relay are told at a second address of devnet's (SIGNAL_ADDR,
# NATed to its own in devnet's namespace), as NetBird's hosted service has
# them on other hosts than management: NetworkManager's host route to the
# VPN gateway (the management server) covers management only.
SIGNAL_ADDR=10.77.0.22
nb_devnet_up --public-url "http://$SIGNAL_ADDR:$NB_DEVNET_MGMT_PORT" \
	--relay-public-url "rel://$SIGNAL_ADDR:$NB_DEVNET_RELAY_PORT" || nb_die "devnet + coturn"
ip -n "$NB_DEVNET_NS" addr add "$SIGNAL_ADDR/24" dev eth0 || nb_die "devnet's second address"
ip netns exec "$NB_DEVNET_NS" nft -f - <<EOF || nb_die "devnet's NAT"
table ip nbsig {
	chain pre {
		type nat hook prerouting priority dstnat;
		ip daddr $SIGNAL_ADDR dnat to $NB_CTL_ADDR
	}
}
EOF
nb_nm_start
# b and c keep WireGuard behind their proxies (--no-direct): a WireGuard
# that sends to nm directly makes nm's WireGuard roam to that endpoint and
# answer through eth0 itself (WireGuard's sticky source), and the engine's
# path would go untested.
export NB_PEER2=peer2 NB_PEER2_ADDR=10.77.0.12
nb_net_host "$NB_PEER2" "$NB_PEER2_ADDR" || nb_die "namespace $NB_PEER2"
nb_engine_start b "$NB_PEER2" --no-direct
nb_engine_wait_started b || nb_die "peer b started"

# gw: the hub's router at NB_NET_GW (ICMP redirects off: it forwards
# between hosts of one link, which must not learn a shortcut).
router() {
	nb_netns_add gw || return 1
	nb_net_attach gw "" eth0 || return 1
	ip -n gw addr add "$NB_NET_GW/24" dev eth0 || return 1
	ip netns exec gw sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.send_redirects=0 \
		net.ipv4.conf.eth0.send_redirects=0 || return 1
	# What nm sends through gw as plain UDP, per destination: the proof
	# that its ICE traffic leaves through eth0 and not into the tunnel.
	ip netns exec gw nft -f - <<-EOF
		table ip nbgw {
			counter to_b { packets 0 bytes 0 }
			counter to_c { packets 0 bytes 0 }
			chain udp_through {
				type filter hook forward priority filter;
				ip saddr 10.77.0.11 ip daddr $NB_PEER2_ADDR udp dport != 3478 counter name to_b
				ip saddr 10.77.0.11 ip daddr 10.77.0.13 udp dport != 3478 counter name to_c
			}
		}
	EOF
}
router || nb_die "router gw"
# NetworkManager's base connection: a /32 behind gw.
nb_nmcli connection modify nb-base ipv4.addresses 10.77.0.11/32 ipv4.gateway "$NB_NET_GW" \
	ipv4.routes "$NB_NET_GW/32" || nb_die "modify nb-base"
nb_nmcli --wait 20 connection up nb-base >/dev/null || nb_die "nb-base again"
nb_log "nm's routes before the VPN: $(ip -n "$NB_NM_NS" route | tr '\n' '|')"
nb_check "nm reaches devnet through gw only" \
	eval 'ip -n "$NB_NM_NS" route get "$NB_CTL_ADDR" | grep -q "via $NB_NET_GW"'

# inet behind b, masqueraded by b.
masquerade_b() {
	ip netns exec "$NB_PEER2" nft -f - <<-EOF
		table ip nbexit {
			chain post {
				type nat hook postrouting priority srcnat;
				oifname "up0" masquerade
			}
		}
	EOF
}
nb_net_behind "$NB_PEER2" up0 "$INET_B" inet "$INET_HOST" || nb_die "the network behind b"
masquerade_b || nb_die "b's masquerade"
key_b=$(nb_engine_key b)
ip_b=$(nb_engine_ip b)

vpn_default() { ip -n "$NB_NM_NS" route show default | grep -w "dev $NB_VPN_IF"; }
no_vpn_default() { ! vpn_default; }
inet_via_tunnel() { ip -n "$NB_NM_NS" route get "$INET_HOST" | grep -qw "dev $NB_VPN_IF"; }
b_allowed() {
	ip netns exec "$NB_NM_NS" wg show "$NB_VPN_IF" allowed-ips |
		awk -v k="$key_b" '$1 == k { $1 = ""; print }'
}
b_is_exit() { b_allowed | grep -qw "0.0.0.0/0"; }
b_not_exit() { ! b_is_exit; }
inet_answers() { nb_vpn_ping "$INET_HOST" 3 5; }
b_connected() { nb_vpn_peer_is "$key_b" Status Connected; }
add_route() { nb_devnet add-route "$@" >/dev/null; }
gw_packets() { ip netns exec gw nft list counter ip nbgw "$1" | sed -n 's/.*packets \([0-9]*\).*/\1/p'; }
# pings_over_eth0 COUNTER IP: 20 pings through the tunnel to IP all
# answered, and at least 40 UDP datagrams (both ways' WireGuard packets
# leave nm as UDP to that peer) went through gw meanwhile.
pings_over_eth0() {
	local before after
	before=$(gw_packets "$1")
	ip netns exec "$NB_NM_NS" ping -q -n -c 20 -i 0.05 -w 5 "$2" >/dev/null 2>&1 || return 1
	after=$(gw_packets "$1")
	GW_LAST="$1: $((after - before)) UDP datagrams from nm through gw during 20 pings of $2"
	[ $((after - before)) -ge 20 ]
}

# --- 1. management's choice: b's 0.0.0.0/0, not marked skip-auto-apply

nb_check "netbird-devnet add-route 0.0.0.0/0 via b" add_route --peer "$key_b" --network 0.0.0.0/0
nb_vpn_add "$NB_VPN_CON" || nb_die "add the VPN connection"
nb_vpn_up "$NB_VPN_CON" 60 || nb_die "nmcli connection up"
nb_check "b Connected" nb_wait_until 20 "b Connected" b_connected
nb_check "the default route is on $NB_VPN_IF" nb_wait_until 10 "default route" vpn_default
nb_log "nm's routes with the exit node: $(ip -n "$NB_NM_NS" route | tr '\n' '|')"
nb_check "0.0.0.0/0 is among b's WireGuard allowed IPs" b_is_exit
nb_check "$INET_HOST is routed into the tunnel" inet_via_tunnel
nb_check "$INET_HOST answers through b" nb_wait_until 10 "ping $INET_HOST" inet_answers
nb_check "ping b's overlay address" nb_vpn_ping "$ip_b" 3
nb_check "the service logged the exit node" nb_service_log_has "exit node 0.0.0.0/0: the tunnel becomes the default route"
nb_check "nm-netbird status names the exit node" eval '"$NB_STATUS_BIN" status | grep -qx "Exit node: 0.0.0.0/0"'

# The engine's own traffic still leaves through eth0: a peer joining now
# needs management (the map), signal (offer/answer) and new ICE sockets.
nb_net_host peer3 10.77.0.13 || nb_die "namespace peer3"
nb_engine_start c peer3 --no-direct
nb_engine_wait_started c || nb_die "peer c started"
key_c=$(nb_engine_key c)
# Relayed would still work through the host route NetworkManager keeps to
# the management server (devnet's relay shares its address); P2P needs
# ICE's own sockets to leave through eth0.
nb_check "c P2P after the default route moved" \
	nb_wait_until 30 "c P2P" nb_vpn_peer_is "$key_c" ConnectionType P2P
nb_check "ping c through the tunnel" nb_wait_until 20 "ping c" nb_vpn_ping "$(nb_engine_ip c)" 3
# Right after ICE connects, c may still send on the relay; our watchdog
# then moves to the relay for a while (see DESIGN.md). Hence the retries.
nb_check "the tunnel to c runs over eth0 (UDP through gw)" \
	nb_wait_until 20 "pings over eth0" pings_over_eth0 to_c "$(nb_engine_ip c)"
nb_log "$GW_LAST"
nb_log "nm-netbird status -d: $("$NB_STATUS_BIN" status -d 2>&1 | tr '\n' '|')"
nb_check "management still connected" eval '"$NB_STATUS_BIN" status | grep -q "^Management: Connected"'
nb_check "signal at $SIGNAL_ADDR still connected" \
	eval '"$NB_STATUS_BIN" status -d | grep -q "^Signal: Connected to http://$SIGNAL_ADDR"'
nb_check "the relay at $SIGNAL_ADDR still available" \
	eval '"$NB_STATUS_BIN" status -d | grep -qF "[rel://$SIGNAL_ADDR:$NB_DEVNET_RELAY_PORT] is Available"'
nb_check "b P2P" nb_wait_until 20 "b P2P" nb_vpn_peer_is "$key_b" ConnectionType P2P
nb_check "the tunnel to b runs over eth0 (UDP through gw)" \
	nb_wait_until 20 "pings over eth0" pings_over_eth0 to_b "$ip_b"
nb_log "$GW_LAST"
nb_check "$INET_HOST still answers" inet_answers

# --- 2. the route leaves the map while the VPN is up

pid_before=$(nb_service_pids)
nb_check "netbird-devnet remove-route 0.0.0.0/0" nb_devnet remove-route --network 0.0.0.0/0
nb_check "the default route leaves $NB_VPN_IF" nb_wait_until 10 "default gone" no_vpn_default
nb_check "0.0.0.0/0 leaves b's allowed IPs" nb_wait_until 10 "allowed IP gone" b_not_exit
nb_check_not "nm-netbird status names no exit node" eval '"$NB_STATUS_BIN" status | grep -q "^Exit node"'
nb_check_not "$INET_HOST no longer answers" nb_vpn_ping "$INET_HOST" 2 2
nb_check "ping b still works" nb_vpn_ping "$ip_b" 3
nb_check "same service process ($pid_before)" test "$(nb_service_pids)" = "$pid_before"

# --- 3. a route management does not auto-apply: only when chosen by ID

maps_seen() { grep -c "nb-mgmt-DEBUG.*Sync update: map" "$NB_NM_LOG"; }
maps_before=$(maps_seen)
new_map_seen() { [ "$(maps_seen)" -gt "$maps_before" ]; }
nb_check "add-route 0.0.0.0/0 via b as \"Exit B\", skip-auto-apply" \
	add_route --peer "$key_b" --network 0.0.0.0/0 --net-id "Exit B" --skip-auto-apply
nb_check "the service got the new map" nb_wait_until 10 "new map" new_map_seen
nb_check "auto: no default route on $NB_VPN_IF" no_vpn_default
nb_vpn_down() { nb_nmcli --wait 20 connection down "$1" >/dev/null; }
nb_check "nmcli connection down" nb_vpn_down "$NB_VPN_CON"
nb_vpn_add nb-exit-b "" "exit-node=Exit B" || nb_die "add the connection with exit-node"
nb_check "vpn.data keeps exit-node" eval '[[ $(nb_vpn_field nb-exit-b vpn.data) == *"exit-node = Exit B"* ]]'
nb_vpn_up nb-exit-b 60 || nb_die "nmcli connection up nb-exit-b"
nb_check "exit-node=Exit B: the default route is on $NB_VPN_IF" nb_wait_until 20 "default route" vpn_default
nb_check "$INET_HOST answers through b" nb_wait_until 10 "ping $INET_HOST" inet_answers
nb_check "nmcli connection down" nb_vpn_down nb-exit-b

# --- 4. none: never

nb_vpn_add nb-no-exit "" exit-node=none || nb_die "add the connection with exit-node none"
nb_vpn_up nb-no-exit 60 || nb_die "nmcli connection up nb-no-exit"
nb_check "ping b" nb_wait_until 20 "ping b" nb_vpn_ping "$ip_b" 3
nb_check "exit-node=none: no default route on $NB_VPN_IF" no_vpn_default
nb_check "0.0.0.0/0 is not among b's allowed IPs" b_not_exit
nb_check_not "$INET_HOST does not answer" nb_vpn_ping "$INET_HOST" 2 2

# --- 5. a bad value fails the activation with the key named

nb_check "nmcli connection down" nb_vpn_down nb-no-exit
too_long=$(printf 'x%.0s' {1..41})
nb_check "nmcli connection add with a 41-character exit-node" \
	nb_vpn_add nb-bad-exit "" "exit-node=$too_long"
nb_check_not "a bad exit-node fails nmcli connection up" nb_vpn_up nb-bad-exit 30
nb_check "the service named the key" nb_service_log_has "exit-node: .*40 characters"

exit 0
