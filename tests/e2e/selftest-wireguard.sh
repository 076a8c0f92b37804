#!/bin/bash
# shellcheck source-path=SCRIPTDIR/../lib
# Self-test of tests/lib/wg.sh: two wireguard-go peers carry traffic on a
# LAN and across two cone NATs, and UAPI works over the unix socket.
. "${NB_SOURCE_ROOT:-$(dirname "$0")/../..}/tests/lib/harness.sh"
. "$NB_LIB_DIR/net.sh"
. "$NB_LIB_DIR/wg.sh"
nb_sandbox "$@"
nb_require_cmd wireguard-go wg socat ping
nb_cases lan cone_nat

# tunnel_pings NS ADDR: 3 pings through the tunnel, none lost.
tunnel_pings() { ip netns exec "$1" ping -q -c 3 -i 0.1 -W 2 "$2" >/dev/null 2>&1; }

# The first ping waits for the handshake; poll instead of guessing a delay.
tunnel_up() {
	nb_wait_until 10 "a ping through the tunnel" \
		ip netns exec "$NB_PEER1" ping -c 1 -W 1 "$NB_WG_TUN2"
}

# handshake_and_transfer NS IFNAME: wg show reports a handshake and
# traffic in both directions for the one peer.
handshake_and_transfer() {
	local ns=$1 ifname=$2 hs rx tx
	read -r _ hs < <(ip netns exec "$ns" wg show "$ifname" latest-handshakes)
	read -r _ rx tx < <(ip netns exec "$ns" wg show "$ifname" transfer)
	nb_check "$ifname: latest handshake is set (${hs:-none})" test "${hs:-0}" -gt 0
	nb_check "$ifname: bytes received and sent (${rx:-0}/${tx:-0})" \
		test "${rx:-0}" -gt 0 -a "${tx:-0}" -gt 0
}

case $NB_CASE in
lan)
	nb_topo_lan || nb_die "LAN topology"
	nb_wg_pair_up "$NB_PEER1" wg1 "$NB_PEER2" wg2 \
		"$NB_PEER2_ADDR:$NB_WG_PORT2" "$NB_PEER1_ADDR:$NB_WG_PORT1" || nb_die "nb_wg_pair_up"
	nb_check "tunnel comes up" tunnel_up
	nb_check "peer1 -> peer2 through the tunnel" tunnel_pings "$NB_PEER1" "$NB_WG_TUN2"
	nb_check "peer2 -> peer1 through the tunnel" tunnel_pings "$NB_PEER2" "$NB_WG_TUN1"
	handshake_and_transfer "$NB_PEER1" wg1
	handshake_and_transfer "$NB_PEER2" wg2

	nb_check "the private key file is private" test "$(stat -c %a "$NB_LAB/wg/wg1.key")" = 600
	pub2_hex=$(nb_wg_pubkey wg2 | nb_wg_hex)
	reply=$(printf 'get=1\n\n' | nb_wg_uapi "$NB_PEER1" wg1)
	nb_check "UAPI get answers errno=0" grep -qx 'errno=0' <<< "$reply"
	nb_check "UAPI get lists peer2's public_key (hex)" grep -qx "public_key=$pub2_hex" <<< "$reply"
	nb_check "UAPI get reports listen_port=$NB_WG_PORT1" grep -qx "listen_port=$NB_WG_PORT1" <<< "$reply"
	nb_check "UAPI set of a peer's keepalive answers errno=0" nb_wg_uapi "$NB_PEER1" wg1 <<-EOF >/dev/null
	set=1
	public_key=$pub2_hex
	update_only=true
	persistent_keepalive_interval=7

	EOF
	read -r _ ka < <(ip netns exec "$NB_PEER1" wg show wg1 persistent-keepalive)
	nb_check "wg show sees the keepalive set over UAPI ($ka)" test "$ka" = 7
	# A peer section starts with public_key=; anything else is EINVAL.
	reply=$(printf 'set=1\npeer=%s\n\n' "$pub2_hex" | nb_wg_uapi "$NB_PEER1" wg1)
	nb_check "UAPI rejects an unknown key with errno=-22" grep -qx 'errno=-22' <<< "$reply"
	nb_check_not "nb_wg_start refuses an interface name too long for Linux" \
		nb_wg_start "$NB_PEER1" wg0123456789abcdef
	nb_check_not "nb_wg_start refuses an unknown namespace" nb_wg_start nosuchns wg9
	;;
cone_nat)
	nb_topo_cone_nat || nb_die "cone NAT topology"
	# Peer 2's NAT forwards its WireGuard port: a known public endpoint.
	# Peer 1 is reachable only through the mapping its own traffic opens,
	# which peer 2 learns from the handshake.
	nb_net_port_forward 2 udp "$NB_WG_PORT2" || nb_die "port forward"
	nb_wg_pair_up "$NB_PEER1" wg1 "$NB_PEER2" wg2 "$NB_PEER2_PUBLIC:$NB_WG_PORT2" ||
		nb_die "nb_wg_pair_up"
	nb_check "tunnel comes up across both NATs" tunnel_up
	nb_check "peer1 -> peer2 through the tunnel" tunnel_pings "$NB_PEER1" "$NB_WG_TUN2"
	nb_check "peer2 -> peer1 through the tunnel" tunnel_pings "$NB_PEER2" "$NB_WG_TUN1"
	read -r _ ep < <(ip netns exec "$NB_PEER2" wg show wg2 endpoints)
	nb_check "peer2 sees peer1 at its NAT's address, port preserved ($ep)" \
		test "$ep" = "$NB_PEER1_PUBLIC:$NB_WG_PORT1"
	handshake_and_transfer "$NB_PEER1" wg1
	handshake_and_transfer "$NB_PEER2" wg2
	;;
*)
	nb_die "unknown case '$NB_CASE'"
	;;
esac
