#!/bin/bash
# shellcheck source-path=SCRIPTDIR/../lib
# Two nb-engine peers on one LAN (nb_topo_lan) with the real control plane
# (netbird-devnet: management, signal, relay), coturn and the wireguard-go
# each engine spawns.  They must find the direct host <-> host pair and say
# so (P2P host/host on both sides), pings must cross the tunnel, and the
# hub's counters must show those pings as UDP straight between the two
# hosts, not through coturn or the relay: the status is checked against
# where packets really go.  Once the first WireGuard handshake is done on
# the host/host pair, the status says "direct" and WireGuard's own view
# (wg show) must have the other peer's LAN address and WireGuard port as
# endpoint (no local proxy in between).
. "${NB_SOURCE_ROOT:-$(dirname "$0")/../..}/tests/lib/harness.sh"
. "$NB_LIB_DIR/net.sh"
. "$NB_LIB_DIR/turn.sh"
. "$NB_LIB_DIR/engine.sh"
nb_sandbox "$@"
nb_engine_require

nb_engine_standard_setup nb_topo_lan
nb_engine_start_ab
nb_log "a: $(nb_engine_key a) $(nb_engine_ip a); b: $(nb_engine_key b) $(nb_engine_ip b)"
nb_check "distinct overlay addresses in 100.64.0.0/10" \
	test "$(nb_engine_ip a)" != "$(nb_engine_ip b)"

nb_check "a reports b Connected P2P host/host" nb_engine_wait_peer 20 a b "$NB_P2P_HOST"
nb_check "b reports a Connected P2P host/host" nb_engine_wait_peer 20 b a "$NB_P2P_HOST"
for p in a:b b:a; do
	set -- "${p%:*}" "${p#*:}"
	nb_log "$1 sees $2: $(nb_engine_summary "$1" "$2")"
	nb_log "$1: Connecting -> Connected in $(( $(nb_engine_peer_t "$1" "$2" "$NB_CONNECTED") - $(nb_engine_peer_t "$1" "$2" '.status == "Connecting"') )) ms"
done
nb_check "a's remote endpoint is b's LAN address" \
	test "$(nb_engine_peer_field a b remote_endpoint | cut -d: -f1)" = "$NB_PEER2_ADDR"
nb_check "b's remote endpoint is a's LAN address" \
	test "$(nb_engine_peer_field b a remote_endpoint | cut -d: -f1)" = "$NB_PEER1_ADDR"

nb_check "ping a -> b through the tunnel" nb_tunnel_ping a b 5
nb_check "ping b -> a through the tunnel" nb_tunnel_ping b a 5

nb_paths_count_start a b
nb_check "a -> b: pings go straight between the hosts, as the status says" nb_engine_check_path a b
nb_check "b -> a: pings go straight between the hosts, as the status says" nb_engine_check_path b a

# WireGuard's view of the peer.
wg_a=$(ip netns exec "$NB_PEER1" wg show "${NB_ENG_IF[a]}" dump)
nb_log "wg show on a: $(sed 1d <<< "$wg_a" | cut -f1,3,4,5,6 | tr '\t' ' ')"
nb_check "a's WireGuard has b as peer with allowed IP $(nb_engine_ip b)/32" \
	grep -q "^$(nb_engine_key b)	.*	$(nb_engine_ip b)/32	" <<< "$wg_a"
nb_check "a's WireGuard had a handshake with b" \
	awk -F'\t' -v k="$(nb_engine_key b)" 'NR > 1 && $1 == k && $5 > 0 { f = 1 } END { exit !f }' <<< "$wg_a"
nb_check "the engines report a WireGuard handshake" \
	nb_wait_until 10 "last_handshake" nb_engine_peer_is a b '.last_handshake > 0'
nb_check "a reports WireGuard talking to b directly" \
	nb_wait_until 10 "direct" nb_engine_peer_is a b '.direct == true'
nb_check "b reports WireGuard talking to a directly" \
	nb_wait_until 10 "direct" nb_engine_peer_is b a '.direct == true'
ep_a=$(ip netns exec "$NB_PEER1" wg show "${NB_ENG_IF[a]}" endpoints | awk -v k="$(nb_engine_key b)" '$1 == k { print $2 }')
ep_b=$(ip netns exec "$NB_PEER2" wg show "${NB_ENG_IF[b]}" endpoints | awk -v k="$(nb_engine_key a)" '$1 == k { print $2 }')
nb_log "WireGuard endpoints: a -> b $ep_a, b -> a $ep_b"
nb_check "a's WireGuard endpoint for b is b's LAN address and WireGuard port" \
	test "$ep_a" = "$NB_PEER2_ADDR:51820"
nb_check "b's WireGuard endpoint for a is a's LAN address and WireGuard port" \
	test "$ep_b" = "$NB_PEER1_ADDR:51820"
nb_check "a -> b: still straight between the hosts" nb_engine_check_path a b

# Latency: the round trip of the first WireGuard handshake, which went
# through the proxies before WireGuard went direct; only the side whose
# WireGuard initiated it can time it, and the value stays while direct.
engine_latency() {	# NAME PEER: the "Latency:" of PEER in NAME's status text
	nb_engine_now_ms "$1" > /dev/null
	jq -n -r -R '[inputs | fromjson? | select(.event == "status") | .text] | last // ""' \
		"$(nb_engine_json "$1")" |
		awk -v k="$(nb_engine_key "$2")" '$1 == "Public" && $3 == k { f = 1 } f && $1 == "Latency:" { print $2; exit }'
}
some_latency() {
	lat_a=$(engine_latency a b) lat_b=$(engine_latency b a)
	[ -n "$lat_a$lat_b" ] && { [ "${lat_a:-0s}" != 0s ] || [ "${lat_b:-0s}" != 0s ]; }
}
nb_check "a or b reports a non-zero Latency for the other" nb_wait_until 10 "latency" some_latency
nb_log "Latency: a -> b ${lat_a:-none}, b -> a ${lat_b:-none}"
