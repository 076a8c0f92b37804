#!/bin/bash
# shellcheck source-path=SCRIPTDIR/../lib
# The relay server restarts under a relayed connection.  Two nb-engine
# peers with --force-relay (no ICE: the relay server is their only path)
# between which UDP is dropped anyway (nb_topo_relay_only), a ping every
# 100 ms from a to b.  devnet serves the relay in the same process as
# management and signal, so the whole `netbird-devnet serve` goes down and
# comes back with the same state directory and ports.  Cases (parallel):
#   term   SIGTERM (clean shutdown: the server closes its connections)
#   kill   SIGKILL (a crash: the kernel resets the connections)
# Both engines must notice (relay service disconnected), reconnect to the
# new relay, report Connected/Relayed over it again, and the pings must
# resume; the outage is measured.
. "${NB_SOURCE_ROOT:-$(dirname "$0")/../..}/tests/lib/harness.sh"
. "$NB_LIB_DIR/net.sh"
. "$NB_LIB_DIR/turn.sh"
. "$NB_LIB_DIR/engine.sh"
nb_sandbox "$@"
nb_cases term kill
nb_engine_require

INTERVAL=0.1
nb_engine_standard_setup nb_topo_relay_only
nb_engine_start a "$NB_PEER1" --force-relay
nb_engine_start b "$NB_PEER2" --force-relay
nb_engine_wait_all_started a b || nb_die "both engines started"
RELAY_PATH="$NB_RELAYED"' and .path == "relay"'
nb_engine_pair_up 20 a b "$RELAY_PATH" || nb_die "a and b connected through the relay"
nb_log "a sees b: $(nb_engine_summary a b)"

ping_replied_after() { [ "$(nb_ping_seq ab)" -ge "$1" ]; }
nb_ping_start ab a b "$INTERVAL"
nb_wait_until 10 "pings answered" ping_replied_after 10 || nb_die "pings through the relay"

seq_down=$(nb_ping_seq ab)
t_down_a=$(nb_engine_now_ms a)
t_down_b=$(nb_engine_now_ms b)
case $NB_CASE in
term) nb_devnet_stop TERM ;;
kill) nb_devnet_stop KILL ;;
esac
nb_log "devnet stopped (SIG${NB_CASE^^}) after ping #$seq_down"
relay_down() {
	nb_engine_has "$1" ".event == \"service\" and .name == \"relay\" and .connected == false and .t_ms >= $2"
}
nb_check "a notices the relay went away" nb_wait_until 15 "a: relay down" relay_down a "$t_down_a"
nb_check "b notices the relay went away" nb_wait_until 15 "b: relay down" relay_down b "$t_down_b"
sleep 1
nb_devnet_serve || nb_die "netbird-devnet serve again (same state, same ports)"
nb_log "devnet serving again: $(head -n 1 "$NB_LAB/log/$NB_DEVNET_NAME.log")"

relay_up() {
	nb_engine_has "$1" ".event == \"service\" and .name == \"relay\" and .connected == true and .t_ms >= $2"
}
nb_check "a reconnects to the relay" nb_wait_until 40 "a: relay up" relay_up a "$t_down_a"
nb_check "b reconnects to the relay" nb_wait_until 40 "b: relay up" relay_up b "$t_down_b"
seq=$(nb_ping_seq ab)
nb_check "pings resume through the new relay" nb_wait_until 40 "pings again" ping_replied_after $((seq + 20))
nb_check "a reports b Connected through the relay" nb_engine_wait_peer 10 a b "$RELAY_PATH"
nb_check "b reports a Connected through the relay" nb_engine_wait_peer 10 b a "$RELAY_PATH"
seq_end=$(nb_ping_seq ab)
nb_ping_stop ab
stats=$(nb_ping_stats ab "$((seq_down + 1))" "$seq_end")
nb_log "from the stop to ping #$seq_end: $stats"
nb_log "outage: longest time between replies $(nb_stat_field "$stats" max_gap_ms) ms (devnet was down ~1 s + its restart)"
for n in a b; do
	nb_log "$n service lines: $(nb_engine_lines "$n" '.event == "service" and .name == "relay"' | jq -r '"\(.t_ms):\(.connected)"' | paste -sd' ' -)"
done
nb_paths_count_start a b
nb_check "a -> b: pings go through the relay server" nb_engine_check_path a b
nb_check "neither engine failed" eval 'nb_engine_no_crash a && nb_engine_no_crash b'
