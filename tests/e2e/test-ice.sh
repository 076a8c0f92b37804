#!/bin/bash
# shellcheck source-path=SCRIPTDIR/../lib
# NbWorkerIce (service/engine/worker-ice.c) between two namespaces, one
# ice-driver process per peer, with coturn from tests/lib/turn.sh as STUN and
# TURN server. Credentials and trickled candidates travel through a small TCP
# broker (ice-driver broker) at the control-plane address 10.77.0.2, like
# signal messages would; path cuts never touch it.
#
# Cases (run in parallel sandboxes):
#   lan          LAN peers: P2P host<->host; data both ways; nb_path_cut ->
#                both sides report "disconnected" within NetBird-like time.
#   force_relay  LAN peers, relay candidates only: TURN relay<->relay.
#   symnat       both peers behind symmetric NATs: TURN (a relay candidate on
#                at least one side).
#   relay_only   LAN peers between which UDP is dropped: TURN; the relayed
#                path survives a later cut of the direct path.
#   cone         both behind port-preserving NATs: reported, data must flow
#                (whatever pair wins; see lab notes on masquerade clashes).
#   no_relay     relay_only topology without relay candidates: "failed"
#                after the check timeout (NetBird: 6 s + 6 s).
. "${NB_SOURCE_ROOT:-$(dirname "$0")/../..}/tests/lib/harness.sh"
. "$NB_LIB_DIR/net.sh"
. "$NB_LIB_DIR/turn.sh"
nb_sandbox "$@"
nb_cases lan force_relay symnat relay_only cone no_relay
nb_require_cmd turnserver ss

DRIVER=${NB_ICE_DRIVER:-${NB_BUILD_ROOT:-}/tests/e2e/ice-driver}
[ -x "$DRIVER" ] || nb_skip "no ice-driver at '$DRIVER' (build the project first)"

CTL_NS=ctl
CTL_PORT=7000

now_ms() { local t=${EPOCHREALTIME/[.,]/}; echo $((t / 1000)); }

ctl_listening() { ip netns exec "$CTL_NS" ss -Hltn "sport = :$CTL_PORT" | grep -q .; }

# ice_broker: the candidate/credential exchange at 10.77.0.2.
ice_broker() {
	nb_net_host "$CTL_NS" "$NB_CTL_ADDR" || return 1
	nb_spawn broker ip netns exec "$CTL_NS" "$DRIVER" broker "$NB_CTL_ADDR" "$CTL_PORT"
	nb_wait_until 5 "the broker listening" ctl_listening
}

# ice_peer NAME NS [driver options...]
ice_peer() {
	local name=$1 ns=$2
	shift 2
	nb_spawn "$name" ip netns exec "$ns" env G_MESSAGES_DEBUG=nb-ice "$DRIVER" peer --name "$name" \
		--control "$NB_CTL_ADDR:$CTL_PORT" --timeout 90 "$@"
}

# The TURN user/password for the driver: a 0600 file, never argv/env of
# the driver.
turn_credentials() {
	local f="$NB_LAB/turn-credentials"
	(umask 077 && printf '%s\n%s\n' "$NB_TURN_USER" "$NB_TURN_PASS" > "$f")
	echo "$f"
}

# servers_args: STUN + TURN from coturn (the same address and port: the
# worker must not give libnice that STUN server, lab F10).
servers_args() {
	SERVERS=(--stun "stun:$NB_TURN_ADDR:$NB_TURN_PORT"
		--turn "turn:$NB_TURN_ADDR:$NB_TURN_PORT?transport=udp"
		--turn-credentials "$(turn_credentials)")
}

log_of() { echo "$NB_LAB/log/$1.log"; }
has_line() { grep -q "^$2" "$(log_of "$1")"; }
line_of() { grep -m1 "^$2" "$(log_of "$1")"; }
# field_of LINE KEY: the value after "KEY=" (up to the next space).
field_of() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<< "$1"; }
# pair_of LINE: "local=TYPE EP remote=TYPE EP"
pair_of() { sed -n 's/.*\(local=[a-z]* [^ ]* remote=[a-z]* [^ ]*\).*/\1/p' <<< "$1"; }

both_connected() { has_line A CONNECTED && has_line B CONNECTED; }
both_echoed() { has_line A ECHO-FIRST && has_line B ECHO-FIRST; }
both_ended() {
	{ has_line A DISCONNECTED || has_line A FAILED; } && { has_line B DISCONNECTED || has_line B FAILED; }
}
any_ended() { has_line A DISCONNECTED || has_line A FAILED || has_line B DISCONNECTED || has_line B FAILED; }

# report NAME: the selected pair and connect time of peer NAME.
report() {
	local l
	l=$(line_of "$1" CONNECTED)
	nb_log "$NB_CASE $1: $(pair_of "$l") class=$(field_of "$l" class)" \
		"priority=$(field_of "$l" priority) connect_ms=$(field_of "$l" connect_ms)" \
		"start_ms=$(field_of "$l" start_ms) local_socket=$(field_of "$l" local_socket)"
}

# connect_and_check EXPECTED_CLASS: both sides connect with that class, and
# datagrams flow both ways (each side gets answers to its pings).
connect_and_check() {
	local want=$1 n l
	nb_check "both peers report connected" nb_wait_until 30 "connected" both_connected || return 1
	for n in A B; do
		report "$n"
		l=$(line_of "$n" CONNECTED)
		nb_check "$n: connection class $want ($(field_of "$l" class))" \
			test "$(field_of "$l" class)" = "$want"
		if [ "$want" = P2P ]; then
			nb_check "$n: priority 2 (ICE P2P)" test "$(field_of "$l" priority)" = 2
		else
			nb_check "$n: priority 1 (ICE via TURN)" test "$(field_of "$l" priority)" = 1
		fi
	done
	nb_check "datagrams flow both ways (each side got answers)" \
		nb_wait_until 10 "echoes" both_echoed
}

local_type() { sed -n 's/.* local=\([a-z]*\) .*/\1/p' <<< "$(line_of "$1" CONNECTED)"; }
remote_type() { sed -n 's/.* remote=\([a-z]*\) .*/\1/p' <<< "$(line_of "$1" CONNECTED)"; }

end_ms() { local l; l=$(grep -m1 -E '^(DISCONNECTED|FAILED)' "$(log_of "$1")"); field_of "$l" t; }

T0=$(now_ms)
case $NB_CASE in
lan)
	nb_topo_lan || nb_die "LAN topology"
	nb_turn_start nbuser "ice-$$-pass" || nb_die "coturn"
	ice_broker || nb_die "broker"
	servers_args
	ice_peer A "$NB_PEER1" --controlling --relay "${SERVERS[@]}"
	ice_peer B "$NB_PEER2" --relay "${SERVERS[@]}"
	connect_and_check P2P
	for n in A B; do
		nb_check "$n: host <-> host ($(local_type $n) <-> $(remote_type $n))" \
			test "$(local_type $n)/$(remote_type $n)" = host/host
		nb_check "$n: a local socket for a direct WireGuard endpoint" \
			test "$(field_of "$(line_of $n CONNECTED)" local_socket)" != none
	done
	nb_check "the STUN server equal to the TURN server was not given to libnice (F10)" \
		grep -q "stun:$NB_TURN_ADDR:$NB_TURN_PORT is also a TURN server" "$(log_of A)"
	nb_check_not "... and no other STUN server was" grep -q "STUN server $NB_TURN_ADDR" "$(log_of A)"
	cut=$(now_ms)
	nb_path_cut "$NB_PEER1" "$NB_PEER2" || nb_die "path cut"
	nb_check "both sides notice the cut" nb_wait_until 25 "disconnected" both_ended
	for n in A B; do
		nb_check "$n: disconnected (not failed)" has_line $n DISCONNECTED
		e=$(end_ms $n)
		d=$(( ${e:-0} - cut ))
		nb_log "$NB_CASE $n: disconnected ${d} ms after the cut: $(sed -n 's/.*reason=//p' <<< "$(line_of $n DISCONNECTED)")"
		# libnice: consent lost 10 s after the last answered keepalive,
		# keepalives every 4-6 s -> 4-10 s after the cut (NetBird ~6 s).
		nb_check "$n: noticed within 3-16 s (${d} ms)" test "$d" -ge 3000 -a "$d" -le 16000
	done
	;;
force_relay)
	nb_topo_lan || nb_die "LAN topology"
	nb_turn_start nbuser "ice-$$-pass" || nb_die "coturn"
	ice_broker || nb_die "broker"
	servers_args
	ice_peer A "$NB_PEER1" --controlling --relay --force-relay "${SERVERS[@]}"
	ice_peer B "$NB_PEER2" --relay --force-relay "${SERVERS[@]}"
	connect_and_check TURN
	for n in A B; do
		nb_check "$n: relay <-> relay ($(local_type $n) <-> $(remote_type $n))" \
			test "$(local_type $n)/$(remote_type $n)" = relay/relay
		nb_check "$n: no direct local socket (a proxy is needed)" \
			test "$(field_of "$(line_of $n CONNECTED)" local_socket)" = none
	done
	nb_check_not "no host candidate was signalled" grep -q '^LOCAL .* typ host' "$(log_of A)" "$(log_of B)"
	;;
symnat | cone)
	if [ "$NB_CASE" = symnat ]; then
		nb_topo_symmetric_nat || nb_die "symmetric NAT topology"
	else
		nb_topo_cone_nat || nb_die "cone NAT topology"
	fi
	nb_turn_start nbuser "ice-$$-pass" || nb_die "coturn"
	ice_broker || nb_die "broker"
	servers_args
	ice_peer A "$NB_PEER1" --controlling --relay "${SERVERS[@]}"
	ice_peer B "$NB_PEER2" --relay "${SERVERS[@]}"
	if [ "$NB_CASE" = symnat ]; then
		connect_and_check TURN
		nb_check "a relay candidate on at least one side ($(local_type A)/$(remote_type A))" \
			grep -q 'relay' <<< "$(local_type A)/$(remote_type A)"
		l=$(line_of A CONNECTED)
		nb_check "a relayed pair is reported no earlier than 2 s after the checks (pion's wait): $(field_of "$l" connect_ms) ms" \
			test "$(field_of "$l" connect_ms)" -ge 1900
		nb_check "server-reflexive candidates (NAT public address) were signalled" \
			grep -q "^LOCAL .* $NB_PEER1_PUBLIC .* typ srflx" "$(log_of A)"
	else
		nb_check "both peers report connected" nb_wait_until 30 "connected" both_connected
		report A
		report B
		nb_check "datagrams flow both ways" nb_wait_until 10 "echoes" both_echoed
	fi
	;;
relay_only)
	nb_topo_relay_only || nb_die "relay-only topology"
	nb_turn_start nbuser "ice-$$-pass" || nb_die "coturn"
	ice_broker || nb_die "broker"
	servers_args
	ice_peer A "$NB_PEER1" --controlling --relay "${SERVERS[@]}"
	ice_peer B "$NB_PEER2" --relay "${SERVERS[@]}"
	connect_and_check TURN
	nb_path_cut "$NB_PEER1" "$NB_PEER2" || nb_die "path cut"
	before=$(grep -c '^ECHOES' "$(log_of A)")
	# Longer than libnice's consent timeout (10 s): the relayed path does
	# not go through the cut.
	nb_check_not "the relayed path survives a cut of the direct path (12 s)" \
		nb_wait_until 12 "" any_ended
	after=$(grep -c '^ECHOES' "$(log_of A)")
	nb_check "datagrams kept flowing through the relay ($before -> $after echo reports)" \
		test "$after" -gt "$before"
	;;
no_relay)
	nb_topo_relay_only || nb_die "relay-only topology"
	nb_turn_start nbuser "ice-$$-pass" || nb_die "coturn"
	ice_broker || nb_die "broker"
	stun=(--stun "stun:$NB_TURN_ADDR:$NB_TURN_PORT")
	ice_peer A "$NB_PEER1" --controlling "${stun[@]}"
	ice_peer B "$NB_PEER2" "${stun[@]}"
	nb_check "both sides give up" nb_wait_until 25 "failed" both_ended
	for n in A B; do
		nb_check "$n: failed" has_line $n FAILED
		nb_check_not "$n: never connected" has_line $n CONNECTED
		s=$(field_of "$(line_of $n STARTED)" t)
		e=$(end_ms $n)
		d=$(( ${e:-0} - ${s:-0} ))
		nb_log "$NB_CASE $n: failed ${d} ms after start: $(sed -n 's/.*reason=//p' <<< "$(line_of $n FAILED)")"
		nb_check "$n: failed after NetBird's 12 s check timeout (${d} ms)" test "$d" -ge 11500 -a "$d" -le 16000
	done
	nb_check "relaying off: the STUN server is given to libnice" \
		grep -q "STUN server $NB_TURN_ADDR:$NB_TURN_PORT\$" "$(log_of A)"
	nb_check_not "relaying off: no relay candidate" grep -q '^LOCAL .* typ relay' "$(log_of A)" "$(log_of B)"
	;;
*)
	nb_die "unknown case '$NB_CASE'"
	;;
esac
nb_log "$NB_CASE done in $(( $(now_ms) - T0 )) ms"

if [ "$NB_FAILED" != 0 ]; then
	for n in A B; do
		echo "----- $n:" >&2
		grep -v '^LOCAL\|^REMOTE\|^ECHOES' "$(log_of $n)" | tail -n 30 >&2
	done
fi
