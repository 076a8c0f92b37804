#!/bin/bash
# shellcheck source-path=SCRIPTDIR/../lib
# Back to P2P: two nb-engine LAN peers, P2P, the direct path cut
# (they fail over to a relayed path), then restored while a ping every
# 100 ms runs from a to b.  Both must report P2P again within 30 s of the
# restore (the guard re-offers ICE while relayed), and the switch back must
# be make-before-break: no ping lost from the restore on.  The hub counters
# then show the pings straight between the hosts again.
. "${NB_SOURCE_ROOT:-$(dirname "$0")/../..}/tests/lib/harness.sh"
. "$NB_LIB_DIR/net.sh"
. "$NB_LIB_DIR/turn.sh"
. "$NB_LIB_DIR/engine.sh"
nb_sandbox "$@"
nb_engine_require

INTERVAL=0.1
nb_engine_standard_setup nb_topo_lan
nb_engine_start_ab
nb_engine_pair_up 20 a b "$NB_P2P" || nb_die "a and b connected P2P"
nb_paths_count_start a b

ping_replied_after() { [ "$(nb_ping_seq ab)" -ge "$1" ]; }
nb_ping_start ab a b "$INTERVAL"
nb_wait_until 10 "pings answered" ping_replied_after 5 || nb_die "pings through the tunnel"
nb_path_cut "$NB_PEER1" "$NB_PEER2" || nb_die "cut the direct path"
nb_engine_pair_up 30 a b "$NB_RELAYED" || nb_die "a and b fail over to Relayed after the cut"
seq=$(nb_ping_seq ab)
nb_wait_until 20 "pings through the relayed path" ping_replied_after $((seq + 10)) ||
	nb_die "pings through the relayed path"
nb_log "relayed: a sees b: $(nb_engine_summary a b)"

seq_restore=$(nb_ping_seq ab)
t_res_a=$(nb_engine_now_ms a)
t_res_b=$(nb_engine_now_ms b)
nb_path_restore "$NB_PEER1" "$NB_PEER2"
nb_log "direct path restored after ping #$seq_restore"
nb_check "a is back to P2P within 30 s" nb_engine_wait_peer 32 a b "$NB_P2P"
nb_check "b is back to P2P within 30 s" nb_engine_wait_peer 32 b a "$NB_P2P"
t_p2p_a=$(nb_engine_peer_t a b "$NB_P2P" "$t_res_a")
t_p2p_b=$(nb_engine_peer_t b a "$NB_P2P" "$t_res_b")
nb_log "back to P2P after the restore: a ${t_p2p_a:+$((t_p2p_a - t_res_a)) ms}, b ${t_p2p_b:+$((t_p2p_b - t_res_b)) ms}"
nb_log "a sees b: $(nb_engine_summary a b)"
nb_check "a: P2P within 30 s of the restore" test "$((t_p2p_a - t_res_a))" -le 30000
nb_check "b: P2P within 30 s of the restore" test "$((t_p2p_b - t_res_b))" -le 30000

# 2 s more of pings on the new path, then count from the restore on.
seq=$(nb_ping_seq ab)
nb_wait_until 10 "pings after the switch" ping_replied_after $((seq + 20))
seq_end=$(nb_ping_seq ab)
nb_ping_stop ab
stats=$(nb_ping_stats ab "$((seq_restore + 1))" "$seq_end")
nb_log "from the restore to ping #$seq_end: $stats"
nb_check "make-before-break: no ping lost during the switch back ($stats)" \
	test "$(nb_stat_field "$stats" lost)" = 0
nb_check "a -> b: pings go straight between the hosts again" nb_engine_check_path a b
nb_check "b -> a: pings go straight between the hosts again" nb_engine_check_path b a
