#!/bin/bash
# shellcheck source-path=SCRIPTDIR/../lib
# Forged and garbage signal messages while two nb-engine LAN peers connect.
# Two kinds of third party, both in namespace peer3 (10.77.0.13):
#   - a peer registered with the setup key (nb-control-peer, so its key is
#     in everyone's network map) that runs its own offer/answer exchange
#     with a: legitimate traffic from a third key, which must not disturb
#     the a-b pair;
#   - the signal forger of tests/protocol/test-two-peers (--forger), one
#     aimed at a and one at b, from a key nobody knows: every ~20 ms a round
#     of non-protobuf bytes, random and short bodies, a non-key sender,
#     a body sealed by the forger but claiming another sender, one sealed
#     for someone else, sealed garbage / malformed offers / unknown types,
#     and well-formed offer, answer, candidate (10.9.9.9) and heartbeat.
# The forgers start before b does and keep going until 5 s after a and b
# are connected.  a and b must connect P2P anyway, keep that
# path (no connection field of the pair changes after it is up), ping,
# not crash, and never show a peer for a key outside the network map.
. "${NB_SOURCE_ROOT:-$(dirname "$0")/../..}/tests/lib/harness.sh"
. "$NB_LIB_DIR/net.sh"
. "$NB_LIB_DIR/turn.sh"
. "$NB_LIB_DIR/engine.sh"
nb_sandbox "$@"
nb_engine_require
[ -x "$NB_FORGER_BIN" ] || nb_skip "no test-two-peers (the forger) at '$NB_FORGER_BIN' (build the project first)"
[ -x "$NB_CONTROL_PEER_BIN" ] || nb_skip "no nb-control-peer at '$NB_CONTROL_PEER_BIN' (build the project first)"

nb_engine_standard_setup nb_engine_topo_lan4

# forger_start NAME TO_KEY: the forger runs until its stdin closes; here
# it gets a FIFO it opens read-write itself, which never ends, and it is
# stopped with a signal.  Not nb_spawn: a background command's stdin is
# /dev/null unless the command itself redirects it.
forger_rounds() { grep -c '^round ' "$NB_LAB/log/forger-$1.log"; }
forger_start() {
	local fifo=$NB_LAB/forger-$1.fifo
	mkfifo "$fifo"
	ip netns exec "$NB_PEER3" "$NB_FORGER_BIN" --forger "$NB_MGMT_URL" "$2" \
		0<> "$fifo" > "$NB_LAB/log/forger-$1.log" 2>&1 &
	echo $! > "$NB_LAB/pid/forger-$1"
	echo "forger-$1" >> "$NB_LAB/spawn-order"
}
forger_has_rounds() { [ "$(forger_rounds "$1")" -ge "$2" ]; }

nb_engine_start a "$NB_PEER1"
nb_engine_wait_started a || nb_die "a started"
key_a=$(nb_engine_key a)
forger_start a "$key_a"
nb_check "the forger sent a whole round to a before b starts" \
	nb_wait_until 10 "a forger round" forger_has_rounds a 1

# The registered third peer, exchanging offers with a.
nb_spawn intruder ip netns exec "$NB_PEER3" "$NB_CONTROL_PEER_BIN" --management "$NB_MGMT_URL" \
	--state-dir "$NB_LAB/intruder" --setup-key-file "$NB_SETUP_KEY_FILE" --hostname intruder \
	--peer "$key_a" --exchange --timeout 40

nb_engine_start b "$NB_PEER2"
nb_engine_wait_started b || nb_die "b started"
forger_start b "$(nb_engine_key b)"

nb_check "a reports b Connected P2P" nb_engine_wait_peer 30 a b "$NB_P2P"
nb_check "b reports a Connected P2P" nb_engine_wait_peer 30 b a "$NB_P2P"
t_up_a=$(nb_engine_peer_t a b "$NB_P2P")
t_up_b=$(nb_engine_peer_t b a "$NB_P2P")
nb_log "connected under forgery: a at ${t_up_a} ms, b at ${t_up_b} ms (engine clocks)"
nb_check "ping a -> b" nb_tunnel_ping a b 5
ra=$(forger_rounds a)
sleep 5
nb_check "the forger to a kept going (rounds $ra -> $(forger_rounds a))" forger_has_rounds a $((ra + 2))
nb_check "ping a -> b while forged" nb_tunnel_ping a b 5
nb_check "ping b -> a while forged" nb_tunnel_ping b a 5
for n in a b; do
	nb_check "the forger to $n is still running" nb_alive "forger-$n"
	nb_kill "forger-$n"
	nb_log "forger to $n: $(grep '^round ' "$NB_LAB/log/forger-$n.log" | tail -n 1)"
done
nb_log "intruder (nb-control-peer): $(grep -c . "$NB_LAB/log/intruder.log") lines; last: $(grep '^{' "$NB_LAB/log/intruder.log" | tail -n 1)"

for p in a:b b:a; do
	set -- "${p%:*}" "${p#*:}"
	t_up=$(nb_engine_peer_t "$1" "$2" "$NB_P2P")
	# A forged offer, answer or candidate that got through would restart
	# ICE or move it to another pair.  The traffic watchdog may still move
	# WireGuard to the relay for a moment on a loaded machine (ICE stays up
	# on the same pair): that is logged, not a forgery.
	pair=$(nb_engine_lines "$1" ".event == \"peer\" and .key == \"$(nb_engine_key "$2")\" and .t_ms == $t_up" |
		head -n 1 | jq -r '.local_endpoint + " " + .remote_endpoint')
	changes=$(nb_engine_lines "$1" ".event == \"peer\" and .key == \"$(nb_engine_key "$2")\" and .t_ms > $t_up and (.status != \"Connected\" or .ice != \"Connected\" or (.local_endpoint + \" \" + .remote_endpoint) != \"$pair\")")
	nb_check "$1: ICE to $2 stayed up on the pair $pair" test -z "$changes"
	blips=$(nb_engine_lines "$1" ".event == \"peer\" and .key == \"$(nb_engine_key "$2")\" and .t_ms > $t_up and .path != \"ice\"" | grep -c . || true)
	[ "$blips" = 0 ] || nb_log "$1: the watchdog moved traffic to $2 off ICE in $blips status lines (ICE stayed up)"
	[ -n "$changes" ] && nb_log "$1: $changes"
	nb_check "$1 did not crash or fail" nb_engine_no_crash "$1"
	intruder_key=$(grep -o '"key":"[^"]*"' "$NB_LAB/log/intruder.log" | head -n 1 | cut -d'"' -f4)
	strangers=$(nb_engine_lines "$1" '.event == "peer"' | jq -r .key | sort -u |
		grep -vxF -e "$(nb_engine_key "$2")" -e "${intruder_key:-none}")
	nb_check "$1 shows no peer for a key outside the map" test -z "$strangers"
	[ -n "$strangers" ] && nb_log "$1: strangers: $strangers"
done
nb_paths_count_start a b
nb_check "a -> b: the pings still go straight between the hosts" nb_engine_check_path a b
