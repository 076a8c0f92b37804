#!/bin/bash
# shellcheck source-path=SCRIPTDIR/../lib
# Self-test of tests/lib/net.sh: every topology gives the reachability it
# promises, and path cuts and packet loss do what they say, measured with
# real packets (ping, socat).
. "${NB_SOURCE_ROOT:-$(dirname "$0")/../..}/tests/lib/harness.sh"
. "$NB_LIB_DIR/net.sh"
nb_sandbox "$@"
nb_require_cmd socat ping ss
nb_cases lan loss cone_nat symmetric_nat relay_only

PORT=5000

# expect_eq DESCRIPTION EXPECTED ACTUAL
expect_eq() {
	if [ "$2" = "$3" ]; then nb_ok "$1"; else nb_fail "$1 (expected '$2', got '$3')"; fi
}

pings() { ip netns exec "$1" ping -c 1 -W 1 "$2" >/dev/null 2>&1; }

# udp_ok / tcp_ok NS ADDR PORT: an answer comes back (within 2 s).
udp_ok() { nb_probe_udp "$1" "$2" "$3" >/dev/null; }
tcp_ok() { nb_probe_tcp "$1" "$2" "$3" >/dev/null; }
# udp_lost / tcp_lost NS ADDR PORT: no answer within 0.5 s, ample on a
# namespace LAN whose round trips take well under a millisecond.
udp_lost() { ! nb_probe_udp "$1" "$2" "$3" "" 0.5 >/dev/null; }
tcp_lost() { ! nb_probe_tcp "$1" "$2" "$3" 0.5 >/dev/null; }

# Loss percentage of COUNT pings from NS to ADDR, 10 ms apart.
ping_loss() {
	ip netns exec "$1" ping -q -n -c "$3" -i 0.01 -W 1 "$2" 2>/dev/null |
		sed -n 's/.* \([0-9.]*\)% packet loss.*/\1/p' | cut -d. -f1
}

# The hosts that stand for the control plane and coturn, with reflectors.
servers_up() {
	nb_net_host ctl "$NB_CTL_ADDR" && nb_net_host turn "$NB_TURN_ADDR" &&
		nb_reflector_start ctl "$PORT" && nb_reflector_start turn "$PORT" ||
		nb_die "control plane / coturn stand-ins"
}

# servers_reachable NS [udp]: UDP (and TCP unless "udp") from NS to
# 10.77.0.2 and 10.77.0.3.
servers_reachable() {
	local ns=$1 a
	for a in "$NB_CTL_ADDR" "$NB_TURN_ADDR"; do
		nb_check "$ns: UDP to $a works" udp_ok "$ns" "$a" "$PORT"
		[ "${2:-}" = udp ] || nb_check "$ns: TCP to $a works" tcp_ok "$ns" "$a" "$PORT"
	done
}

hub_tables() { ip netns exec "$NB_HUB" nft list tables; }

case $NB_CASE in
lan)
	nb_topo_lan || nb_die "LAN topology"
	servers_up
	nb_reflector_start "$NB_PEER1" "$PORT" && nb_reflector_start "$NB_PEER2" "$PORT" || nb_die reflectors
	nb_check "peer1 pings peer2" pings "$NB_PEER1" "$NB_PEER2_ADDR"
	nb_check "peer2 pings peer1" pings "$NB_PEER2" "$NB_PEER1_ADDR"
	expect_eq "UDP peer1 -> peer2 arrives from peer1's own address and port" \
		"$NB_PEER1_ADDR:40000" "$(nb_probe_udp "$NB_PEER1" "$NB_PEER2_ADDR" "$PORT" 40000)"
	expect_eq "UDP peer2 -> peer1 arrives from peer2's own address and port" \
		"$NB_PEER2_ADDR:40001" "$(nb_probe_udp "$NB_PEER2" "$NB_PEER1_ADDR" "$PORT" 40001)"
	nb_check "TCP peer1 -> peer2" tcp_ok "$NB_PEER1" "$NB_PEER2_ADDR" "$PORT"

	nb_path_cut "$NB_PEER1" "$NB_PEER2" || nb_die "nb_path_cut"
	nb_check_not "cut: peer1 cannot ping peer2" pings "$NB_PEER1" "$NB_PEER2_ADDR"
	nb_check "cut: UDP peer1 -> peer2 is lost" udp_lost "$NB_PEER1" "$NB_PEER2_ADDR" "$PORT"
	nb_check "cut: UDP peer2 -> peer1 is lost" udp_lost "$NB_PEER2" "$NB_PEER1_ADDR" "$PORT"
	nb_check "cut: TCP peer2 -> peer1 is lost" tcp_lost "$NB_PEER2" "$NB_PEER1_ADDR" "$PORT"
	servers_reachable "$NB_PEER1"
	servers_reachable "$NB_PEER2" udp
	# The argument order must not matter for restoring.
	nb_path_restore "$NB_PEER2" "$NB_PEER1" || nb_fail "nb_path_restore"
	nb_check "restored: peer1 pings peer2" pings "$NB_PEER1" "$NB_PEER2_ADDR"
	nb_check "restored: UDP peer2 -> peer1" udp_ok "$NB_PEER2" "$NB_PEER1_ADDR" "$PORT"
	expect_eq "restore removes the cut's table" "" "$(hub_tables | grep nb_cut)"
	;;
loss)
	nb_topo_lan || nb_die "LAN topology"
	nb_loss_set "$NB_PEER1" 50 || nb_die "nb_loss_set"
	loss=$(ping_loss "$NB_PEER1" "$NB_PEER2_ADDR" 200)
	nb_log "50 % loss set: ping lost ${loss:-?} %"
	nb_check "nb_loss_set 50: 25..75 % of 200 pings lost (got ${loss:-?} %)" \
		test "${loss:-0}" -ge 25 -a "${loss:-100}" -le 75
	nb_loss_clear "$NB_PEER1" || nb_fail "nb_loss_clear"
	loss=$(ping_loss "$NB_PEER1" "$NB_PEER2_ADDR" 50)
	expect_eq "nb_loss_clear: no ping lost" 0 "$loss"
	expect_eq "nb_loss_clear removes its tables" "" \
		"$(hub_tables | grep nb_loss; ip netns exec "$NB_PEER1" nft list tables)"
	nb_loss_set "$NB_PEER1" 100 in || nb_die "nb_loss_set in"
	nb_check_not "nb_loss_set 100 in: replies to peer1 are lost" pings "$NB_PEER1" "$NB_PEER2_ADDR"
	nb_loss_clear "$NB_PEER1"
	nb_check "nb_loss_clear after 'in': ping works" pings "$NB_PEER1" "$NB_PEER2_ADDR"
	;;
cone_nat)
	nb_topo_cone_nat || nb_die "cone NAT topology"
	servers_up
	nb_check "peer1 pings the control plane" pings "$NB_PEER1" "$NB_CTL_ADDR"
	expect_eq "cone: UDP to 10.77.0.2 shows the NAT's address and the same port" \
		"$NB_PEER1_PUBLIC:40000" "$(nb_probe_udp "$NB_PEER1" "$NB_CTL_ADDR" "$PORT" 40000)"
	expect_eq "cone: UDP to 10.77.0.3 from the same port maps to the same public port" \
		"$NB_PEER1_PUBLIC:40000" "$(nb_probe_udp "$NB_PEER1" "$NB_TURN_ADDR" "$PORT" 40000)"
	nb_check "cone: TCP peer1 -> 10.77.0.2" tcp_ok "$NB_PEER1" "$NB_CTL_ADDR" "$PORT"

	nb_reflector_start "$NB_PEER2" "$PORT" || nb_die reflectors
	nb_check "cone: unsolicited UDP to peer2's NAT does not get in" \
		udp_lost "$NB_PEER1" "$NB_PEER2_PUBLIC" "$PORT"
	nb_net_port_forward 2 udp "$PORT" || nb_die "port forward"
	expect_eq "port forward: peer1 reaches peer2 through both NATs" \
		"$NB_PEER1_PUBLIC:40002" "$(nb_probe_udp "$NB_PEER1" "$NB_PEER2_PUBLIC" "$PORT" 40002)"

	nb_path_cut "$NB_PEER1" "$NB_PEER2" || nb_die "nb_path_cut"
	nb_check "cut across NAT: peer1 -> peer2's public address is lost" \
		udp_lost "$NB_PEER1" "$NB_PEER2_PUBLIC" "$PORT"
	servers_reachable "$NB_PEER1"
	servers_reachable "$NB_PEER2" udp
	nb_path_restore "$NB_PEER1" "$NB_PEER2" || nb_fail "nb_path_restore"
	nb_check "restored across NAT: peer1 -> peer2" \
		udp_ok "$NB_PEER1" "$NB_PEER2_PUBLIC" "$PORT"
	;;
symmetric_nat)
	nb_topo_symmetric_nat || nb_die "symmetric NAT topology"
	servers_up
	nb_reflector_start ctl $((PORT + 1)) || nb_die reflectors
	# Three destinations, all from source port 40000: two random ports
	# would be equal once in 64k runs, three only once in 4 billion.
	seen=$(
		nb_probe_udp "$NB_PEER1" "$NB_CTL_ADDR" "$PORT" 40000
		nb_probe_udp "$NB_PEER1" "$NB_TURN_ADDR" "$PORT" 40000
		nb_probe_udp "$NB_PEER1" "$NB_CTL_ADDR" $((PORT + 1)) 40000
	)
	nb_log "symmetric NAT mappings: ${seen//$'\n'/ }"
	expect_eq "symmetric: all three destinations answered" 3 "$(grep -c . <<< "$seen")"
	expect_eq "symmetric: all seen from the NAT's address" \
		"$NB_PEER1_PUBLIC" "$(cut -d: -f1 <<< "$seen" | sort -u)"
	nb_check "symmetric: destinations see different source ports" \
		test "$(cut -d: -f2 <<< "$seen" | sort -u | wc -l)" -ge 2
	servers_reachable "$NB_PEER2" udp
	;;
relay_only)
	nb_topo_relay_only || nb_die "relay-only topology"
	servers_up
	nb_reflector_start "$NB_PEER1" "$PORT" && nb_reflector_start "$NB_PEER2" "$PORT" || nb_die reflectors
	nb_check "relay-only: UDP peer1 -> peer2 is lost" udp_lost "$NB_PEER1" "$NB_PEER2_ADDR" "$PORT"
	nb_check "relay-only: UDP peer2 -> peer1 is lost" udp_lost "$NB_PEER2" "$NB_PEER1_ADDR" "$PORT"
	nb_check "relay-only: TCP peer1 -> peer2 still works" tcp_ok "$NB_PEER1" "$NB_PEER2_ADDR" "$PORT"
	nb_check "relay-only: ping peer1 -> peer2 still works" pings "$NB_PEER1" "$NB_PEER2_ADDR"
	servers_reachable "$NB_PEER1"
	servers_reachable "$NB_PEER2" udp
	;;
*)
	nb_die "unknown case '$NB_CASE'"
	;;
esac
