#!/bin/bash
# shellcheck source-path=SCRIPTDIR/../lib
# A mesh of four nb-engine peers on one LAN (10.77.0.11-14): every engine
# must report each of the three others Connected (all 12 directed pairs,
# P2P on a LAN; the candidate types are logged), know exactly those three peers, have them as
# WireGuard peers, and every one must ping every other through the tunnel.
. "${NB_SOURCE_ROOT:-$(dirname "$0")/../..}/tests/lib/harness.sh"
. "$NB_LIB_DIR/net.sh"
. "$NB_LIB_DIR/turn.sh"
. "$NB_LIB_DIR/engine.sh"
nb_sandbox "$@"
nb_engine_require

nb_engine_standard_setup nb_engine_topo_lan4
names=(a b c d)
nss=("$NB_PEER1" "$NB_PEER2" "$NB_PEER3" "$NB_PEER4")
T0=$(now_ms)
for i in 0 1 2 3; do nb_engine_start "${names[i]}" "${nss[i]}"; done
nb_engine_wait_all_started "${names[@]}" || nb_die "four engines started"

for x in "${names[@]}"; do
	for y in "${names[@]}"; do
		[ "$x" = "$y" ] && continue
		nb_check "$x reports $y Connected P2P" nb_engine_wait_peer 30 "$x" "$y" "$NB_P2P"
	done
done
nb_log "all 12 directed pairs Connected $(( $(now_ms) - T0 )) ms after the start"

for x in "${names[@]}"; do
	keys=$(nb_engine_lines "$x" '.event == "peer"' | jq -r .key | sort -u)
	want=$(for y in "${names[@]}"; do [ "$x" != "$y" ] && nb_engine_key "$y"; done | sort)
	nb_check "$x knows exactly the other three peers" test "$keys" = "$want"
	wg=$(ip netns exec "${NB_ENG_NS[$x]}" wg show "${NB_ENG_IF[$x]}" peers | sort)
	nb_check "$x's WireGuard has the other three as peers" test "$wg" = "$want"
done
for x in "${names[@]}"; do
	for y in "${names[@]}"; do
		[ "$x" = "$y" ] && continue
		nb_check "ping $x -> $y through the tunnel" nb_tunnel_ping "$x" "$y" 2 5
	done
done
for x in "${names[@]}"; do nb_check "$x still running" nb_engine_no_crash "$x"; done
