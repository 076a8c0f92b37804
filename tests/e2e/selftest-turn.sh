#!/bin/bash
# shellcheck source-path=SCRIPTDIR/../lib
# Self-test of tests/lib/turn.sh: coturn answers STUN with the NAT's public
# address and grants a TURN allocation to the right long-term credentials
# only, for a client behind a symmetric NAT (where only a relay works).
. "${NB_SOURCE_ROOT:-$(dirname "$0")/../..}/tests/lib/harness.sh"
. "$NB_LIB_DIR/net.sh"
. "$NB_LIB_DIR/turn.sh"
nb_sandbox "$@"
nb_require_cmd turnserver turnutils_uclient turnutils_stunclient timeout

USER_=alice PASS_=wonderland-7

nb_topo_symmetric_nat || nb_die "symmetric NAT topology"
nb_turn_start "$USER_" "$PASS_" || nb_die "nb_turn_start"
nb_check "coturn listens on $NB_TURN_ADDR:$NB_TURN_PORT/udp" _nb_turn_listening
nb_check "nb_turn_start exports the credentials" \
	test "$NB_TURN_USER:$NB_TURN_PASS@$NB_TURN_ADDR" = "$USER_:$PASS_@10.77.0.3"
turn_log="$NB_LAB/log/turnserver.log"

# turnutils_stunclient retries for ever when nothing answers.
stun=$(timeout 10 ip netns exec "$NB_PEER1" turnutils_stunclient "$NB_TURN_ADDR" 2>&1)
reflexive=$(sed -n 's/.*UDP reflexive addr: \([0-9.]*\):[0-9]*.*/\1/p' <<< "$stun" | head -n 1)
nb_check "STUN binding from behind the NAT reports the NAT's address ($reflexive)" \
	test "$reflexive" = "$NB_PEER1_PUBLIC"

# -y: the client relays to itself through two allocations, so the data
# really crosses the relay; -c: no RTCP allocation.
uclient() {
	timeout 30 ip netns exec "$NB_PEER1" turnutils_uclient -u "$USER_" -w "$1" \
		-y -c -n 5 -m 1 -l 100 "$NB_TURN_ADDR" 2>&1
}

good=$(uclient "$PASS_")
good_rc=$?
recv=$(sed -n 's/.*tot_recv_msgs=\([0-9]*\)$/\1/p' <<< "$good" | tail -n 1)
nb_check "allocation with the right password succeeds (exit $good_rc)" test "$good_rc" = 0
nb_check "data crossed the relay (received ${recv:-none} messages)" test "${recv:-0}" -gt 0
nb_check "coturn logged a successful ALLOCATE for $USER_" \
	grep -q "user <$USER_>: incoming packet ALLOCATE processed, success" "$turn_log"
# The client frees its allocations on exit; coturn then logs each
# session's remote address, which must be the NAT's, not 10.78.1.2.
nb_check "coturn saw the client at the NAT's public address" \
	nb_wait_until 10 "coturn closing the sessions" \
	grep -q "closed .*remote $NB_PEER1_PUBLIC:" "$turn_log"
nb_check_not "coturn never saw the private address" grep -q "remote $NB_PEER1_ADDR:" "$turn_log"

bad=$(uclient "not-$PASS_")
bad_rc=$?
nb_check "allocation with a wrong password fails (exit $bad_rc)" test "$bad_rc" != 0
nb_check "the client reports the refused allocation" grep -q "Cannot complete Allocation" <<< "$bad"
nb_check "coturn logged the wrong credentials" \
	grep -q "user $USER_ credentials are incorrect" "$turn_log"

if [ "$NB_FAILED" != 0 ]; then
	printf '%s\n' "----- stunclient:" "$stun" "----- uclient (good):" "$good" "----- uclient (bad):" "$bad" | tail -n 60 >&2
fi
