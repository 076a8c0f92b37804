#!/bin/bash
# shellcheck source-path=SCRIPTDIR/../tests/lib
# Benchmarks of the peer connection engine, end to end with the same real
# parts as the e2e tests (tests/lib/engine.sh: nb-engine + wireguard-go per
# peer namespace, netbird-devnet, coturn, nftables topologies).  They
# measure; they do not gate CI: the exit status is 0 whenever the
# measurement itself worked, whatever the numbers, and each prints a table
#   metric  runs  p50  p95  max  target  pass/fail
# (percentiles by nearest rank).
#
#   bench-engine.sh B01|B03|B04|B05|B06|B09 [RUNS]   (or $NB_BENCH_RUNS)
#
# B01  LAN peers reachable: per run both engines start at once (already
#      registered).  Per side: from its first "peer" line (Connecting) or
#      its "started" line, whichever is first, to its Connected line.
#      The clocks of the two engines are their own, so the sides are not
#      combined: connect_ms is the smaller (the side that came up second,
#      whose peer was already there: the connection itself), target p50
#      <= 150 ms; connect_ms_slower the larger (it includes waiting for
#      the other engine's start), no target.
#      Also first_ping_ms: from the moment both printed "started" (as
#      seen by the script) to the first ping reply through the tunnel
#      (pings every 20 ms from then on).
# B03  relay-only peers (nb_topo_relay_only) connected: connect_ms and
#      connect_ms_slower as in B01; target p95 of connect_ms <= 1000 ms.
# B04  the first WireGuard handshake is not lost: the first ping is sent
#      as soon as both printed "started", first_reply_ms is the time to
#      its first reply; a lost handshake initiation costs 5 s
#      (REKEY_TIMEOUT); target p95 < 1000 ms.
# B05  failover P2P -> relay under traffic: LAN peers connected P2P, ping
#      every 50 ms, the direct path cut; gap_ms = longest time between two
#      replies, lost_x_interval_ms = unanswered pings x 50 ms; target p95
#      of gap_ms <= 2500 ms.
# B06  back to P2P: after a failover as in B05, the path restored while
#      pings run every 50 ms; return_ms = from the restore to the P2P
#      status line (engine clock), target p95 <= 30000 ms; lost = pings
#      lost from the restore on, target max 0.
# B09  throughput through the proxy hop: iperf3 TCP for 10 s through the
#      engines' tunnel with --no-direct (WireGuard always through the local
#      proxy, ICE host pair on the LAN) against a plain wireguard-go tunnel
#      set up with wg(8) (tests/lib/wg.sh) between the same namespaces,
#      same MTU, runs alternating; ratio target >= 95 %.
. "${NB_SOURCE_ROOT:-$(dirname "$0")/..}/tests/lib/harness.sh"
. "$NB_LIB_DIR/net.sh"
. "$NB_LIB_DIR/turn.sh"
. "$NB_LIB_DIR/wg.sh"
. "$NB_LIB_DIR/engine.sh"
BENCH=${1:-}
RUNS_ARG=${2:-}
NB_TEST_NAME=bench-$BENCH
nb_sandbox "$@"
nb_engine_require

declare -A VALUES=()

# record METRIC VALUE: one measurement.
record() { VALUES[$1]+="$2 "; }

# pct P VALUES...: nearest-rank percentile.
pct() {
	local p=$1; shift
	printf '%s\n' "$@" | sort -n | awk -v p="$p" '{ v[NR] = $1 } END {
		if (NR == 0) { print "-"; exit }
		i = int((p * NR + 99) / 100); if (i < 1) i = 1; if (i > NR) i = NR; print v[i] }'
}

# row METRIC STAT OP TARGET UNIT: a table row; STAT (p50|p95|max) of the
# values is compared with TARGET by OP (le|lt|ge); OP "-": no target.
ROWS=()
row() {
	local metric=$1 stat=$2 op=$3 target=$4 unit=$5 p50=- p95=- max=- n v verdict=- goal=- sym
	# shellcheck disable=SC2206
	local -a vals=(${VALUES[$metric]:-})
	n=${#vals[@]}
	if [ "$n" -gt 0 ]; then
		p50=$(pct 50 "${vals[@]}") p95=$(pct 95 "${vals[@]}") max=$(pct 100 "${vals[@]}")
	fi
	if [ "$op" != - ]; then
		case $op in le) sym='<=' ;; lt) sym='<' ;; ge) sym='>=' ;; esac
		goal="$stat $sym $target$unit"
		case $stat in p50) v=$p50 ;; p95) v=$p95 ;; max) v=$max ;; esac
		if [ "$n" = 0 ]; then
			verdict="no data"
		elif awk -v v="$v" -v t="$target" -v op="$op" 'BEGIN {
			if (op == "le") exit !(v <= t); if (op == "lt") exit !(v < t); exit !(v >= t) }'; then
			verdict=pass
		else
			verdict=FAIL
		fi
	fi
	ROWS+=("$(printf '%-20s %4d %8s %8s %8s  %-16s %s' "$metric" "$n" "$p50" "$p95" "$max" "$goal" "$verdict")")
}

table() {
	echo
	echo "== $BENCH: $1"
	printf '%-20s %4s %8s %8s %8s  %-16s %s\n' metric runs p50 p95 max target pass/fail
	printf '%s\n' "${ROWS[@]}"
	echo "raw: $(for m in "${!VALUES[@]}"; do printf '%s=[%s] ' "$m" "${VALUES[$m]% }"; done)"
}

# connect_ms NAME PEER: from NAME's first Connecting line about PEER (or
# its "started" line, if earlier) to its first Connected line.
connect_ms() {
	local s c t
	s=$(nb_engine_event_t "$1" started)
	c=$(nb_engine_peer_t "$1" "$2" '.status == "Connecting"')
	t=$(nb_engine_peer_t "$1" "$2" "$NB_CONNECTED")
	[ -n "$t" ] || return 1
	[ -n "$c" ] && [ "$c" -lt "$s" ] && s=$c
	echo $((t - s))
}

# first_reply_ms FROM TO: pings every 20 ms from now on (up to 15 s) until
# the first reply; prints the ms from now to that reply's arrival.
first_reply_ms() {
	local t0 out ts
	t0=$(now_us)
	out=$(ip netns exec "${NB_ENG_NS[$1]}" ping -n -D -c 1 -i 0.02 -w 15 "$(nb_engine_ip "$2")" 2>/dev/null) || return 1
	ts=$(grep -m1 -o '^\[[0-9.]*\] [0-9]* bytes from' <<< "$out" | tr -d '[]' | cut -d' ' -f1)
	[ -n "$ts" ] || return 1
	awk -v ts="$ts" -v t0="$t0" 'BEGIN { printf "%d\n", (ts * 1000000 - t0) / 1000 }'
}

start_pair() {
	nb_engine_start a "$NB_PEER1" "$@"
	nb_engine_start b "$NB_PEER2" "$@"
	nb_engine_wait_all_started a b
}

stop_pair() {
	nb_engine_stop a
	nb_engine_stop b
}

# The first run registers the peers; timing runs start with registered
# peers, as a real restart does.
# shellcheck disable=SC2120
warm_up() { # [ENGINE_OPTIONS...]
	start_pair "$@" || nb_die "engines start"
	nb_engine_pair_up 30 a b "$NB_CONNECTED" || nb_log "warm-up: not connected"
	stop_pair
}

ping_replied_after() { [ "$(nb_ping_seq "$1")" -ge "$2" ]; }

bench_connect() { # TOPOLOGY DESCRIPTION
	local topo=$1 i ca cb
	nb_engine_standard_setup "$topo"
	warm_up
	for ((i = 1; i <= RUNS; i++)); do
		start_pair || { nb_log "run $i: start failed"; stop_pair; continue; }
		[ "$BENCH" = B01 ] && record first_ping_ms "$(first_reply_ms a b || echo 15000)"
		if nb_engine_pair_up 30 a b "$NB_CONNECTED"; then
			ca=$(connect_ms a b) cb=$(connect_ms b a)
			record connect_ms $((ca < cb ? ca : cb))
			record connect_ms_slower $((ca > cb ? ca : cb))
			nb_log "run $i: a $ca ms ($(nb_engine_peer_field a b conn_type)), b $cb ms"
		else
			nb_log "run $i: not connected within 30 s"
			record connect_ms 30000
		fi
		stop_pair
	done
}

bench_first_handshake() {
	local i ms
	nb_engine_standard_setup nb_topo_lan
	warm_up
	for ((i = 1; i <= RUNS; i++)); do
		start_pair || { nb_log "run $i: start failed"; stop_pair; continue; }
		ms=$(first_reply_ms a b) || ms=15000
		record first_reply_ms "$ms"
		nb_log "run $i: first reply after $ms ms ($(nb_engine_summary a b))"
		stop_pair
	done
}

# failover_run ID: P2P, pings every 50 ms, cut; records B05's values.
# Leaves the path cut and the ping running.
failover_run() {
	local id=$1 seq_cut seq_end stats
	nb_engine_pair_up 20 a b "$NB_P2P" || { nb_log "$id: not P2P"; return 1; }
	nb_ping_start "$id" a b 0.05
	nb_wait_until 10 "" ping_replied_after "$id" 20 || { nb_log "$id: no pings"; return 1; }
	seq_cut=$(nb_ping_seq "$id")
	nb_path_cut "$NB_PEER1" "$NB_PEER2"
	if ! nb_engine_pair_up 30 a b "$NB_RELAYED"; then
		nb_log "$id: no failover within 30 s"
		return 1
	fi
	nb_wait_until 30 "" ping_replied_after "$id" $(($(nb_ping_seq "$id") + 40)) ||
		{ nb_log "$id: pings did not resume"; return 1; }
	seq_end=$(nb_ping_seq "$id")
	stats=$(nb_ping_stats "$id" $((seq_cut + 1)) "$seq_end")
	nb_log "$id: after the cut: $stats"
	record gap_ms "$(nb_stat_field "$stats" max_gap_ms)"
	record lost_x_interval_ms $(($(nb_stat_field "$stats" max_lost_run) * 50))
}

bench_failover() {
	local i
	nb_engine_standard_setup nb_topo_lan
	warm_up
	for ((i = 1; i <= RUNS; i++)); do
		start_pair || { stop_pair; continue; }
		failover_run "r$i" || record gap_ms 30000
		nb_ping_stop "r$i"
		nb_path_restore "$NB_PEER1" "$NB_PEER2"
		stop_pair
	done
}

bench_return() {
	local i seq_res seq_end t_res t_p2p stats id
	nb_engine_standard_setup nb_topo_lan
	warm_up
	for ((i = 1; i <= RUNS; i++)); do
		id=r$i
		start_pair || { stop_pair; continue; }
		if failover_run "$id"; then
			seq_res=$(nb_ping_seq "$id")
			t_res=$(nb_engine_now_ms a)
			nb_path_restore "$NB_PEER1" "$NB_PEER2"
			if nb_engine_wait_peer 40 a b "$NB_P2P"; then
				t_p2p=$(nb_engine_peer_t a b "$NB_P2P" "$t_res")
				record return_ms $((t_p2p - t_res))
				nb_wait_until 10 "" ping_replied_after "$id" $(($(nb_ping_seq "$id") + 40))
				seq_end=$(nb_ping_seq "$id")
				stats=$(nb_ping_stats "$id" $((seq_res + 1)) "$seq_end")
				record lost "$(nb_stat_field "$stats" lost)"
				nb_log "$id: back to P2P after $((t_p2p - t_res)) ms; from the restore: $stats"
			else
				record return_ms 40000
				nb_log "$id: not back to P2P within 40 s"
			fi
		fi
		nb_ping_stop "$id"
		nb_path_restore "$NB_PEER1" "$NB_PEER2"
		stop_pair
	done
}

# iperf_mbps NS ADDR: 10 s of iperf3 TCP to ADDR; prints Mbit/s received.
iperf_mbps() {
	ip netns exec "$1" iperf3 -c "$2" -t 10 -J 2>/dev/null |
		jq -r '.end.sum_received.bits_per_second / 1e6 | floor'
}

bench_throughput() {
	local i e d mtu
	nb_require_cmd iperf3
	nb_engine_standard_setup nb_topo_lan
	start_pair --no-direct || nb_die "engines start"
	nb_engine_pair_up 20 a b "$NB_P2P" || nb_die "engines connected P2P"
	nb_log "engine path: $(nb_engine_summary a b)"
	mtu=$(ip -n "$NB_PEER1" -o link show "${NB_ENG_IF[a]}" | sed -n 's/.* mtu \([0-9]*\).*/\1/p')
	nb_wg_pair_up "$NB_PEER1" wgx1 "$NB_PEER2" wgx2 "$NB_PEER2_ADDR:$NB_WG_PORT2" || nb_die "plain wireguard-go pair"
	ip -n "$NB_PEER1" link set wgx1 mtu "$mtu"
	ip -n "$NB_PEER2" link set wgx2 mtu "$mtu"
	nb_log "MTU $mtu on both tunnels"
	nb_spawn iperf3-server ip netns exec "$NB_PEER2" iperf3 -s -p 5201
	nb_wait_until 5 "iperf3 server" eval "ip netns exec $NB_PEER2 ss -Hltn 'sport = :5201' | grep -q ."
	ip netns exec "$NB_PEER1" ping -q -c 2 -w 5 "$NB_WG_TUN2" >/dev/null
	ip netns exec "$NB_PEER1" ping -q -c 2 -w 5 "$(nb_engine_ip b)" >/dev/null
	for ((i = 1; i <= RUNS; i++)); do
		e=$(iperf_mbps "$NB_PEER1" "$(nb_engine_ip b)")
		d=$(iperf_mbps "$NB_PEER1" "$NB_WG_TUN2")
		nb_log "run $i: engine (--no-direct) $e Mbit/s, plain wireguard-go $d Mbit/s"
		[ -n "$e" ] && record engine_mbps "$e"
		[ -n "$d" ] && record direct_wg_mbps "$d"
		[ -n "$e" ] && [ -n "$d" ] && [ "$d" -gt 0 ] && record ratio_pct $((e * 100 / d))
	done
	nb_log "engine path after: $(nb_engine_summary a b)"
}

case $BENCH in
B01)
	RUNS=${RUNS_ARG:-${NB_BENCH_RUNS:-10}}
	bench_connect nb_topo_lan
	row connect_ms p50 le 150 ms
	row connect_ms_slower - - "" ""
	row first_ping_ms - - "" ""
	table "LAN peer reachable from the start of the connection"
	;;
B03)
	RUNS=${RUNS_ARG:-${NB_BENCH_RUNS:-10}}
	bench_connect nb_topo_relay_only
	row connect_ms p95 le 1000 ms
	row connect_ms_slower - - "" ""
	table "relay-only peer connected"
	;;
B04)
	RUNS=${RUNS_ARG:-${NB_BENCH_RUNS:-10}}
	bench_first_handshake
	row first_reply_ms p95 lt 1000 ms
	table "first WireGuard handshake not lost (first ping right after start)"
	;;
B05)
	RUNS=${RUNS_ARG:-${NB_BENCH_RUNS:-6}}
	bench_failover
	row gap_ms p95 le 2500 ms
	row lost_x_interval_ms - - "" ""
	table "failover P2P -> relay under traffic (ping every 50 ms)"
	;;
B06)
	RUNS=${RUNS_ARG:-${NB_BENCH_RUNS:-3}}
	bench_return
	row return_ms p95 le 30000 ms
	row lost max le 0 ""
	table "back to P2P after the direct path returns"
	;;
B09)
	RUNS=${RUNS_ARG:-${NB_BENCH_RUNS:-3}}
	bench_throughput
	row engine_mbps - - "" ""
	row direct_wg_mbps - - "" ""
	row ratio_pct p50 ge 95 %
	table "iperf3 TCP 10 s: engine tunnel (--no-direct, proxy hop) vs plain wireguard-go"
	;;
*)
	echo "usage: $0 B01|B03|B04|B05|B06|B09 [RUNS]" >&2
	exit 2
	;;
esac
# Measurements never fail the run; only a broken measurement does (nb_die).
NB_FAILED=0
exit 0
