# shellcheck shell=bash
# The peer connection engine end to end (needs harness.sh, net.sh and
# turn.sh): netbird-devnet (management, signal, relay) in namespace
# "devnet" at 10.77.0.2 with coturn (REST secret) at 10.77.0.3, and one
# nb-engine (service/cli) per peer namespace, which spawns its own
# wireguard-go.  Everything a test asserts comes from what the engines
# print (one JSON object per line, service/cli's contract), from the
# kernel (ping, wg, ip, ss) and from nftables counters on the hub, which
# tell where packets really went.
#
# An engine is known by a short NAME (a, b, ...): its JSON lines go to
# $NB_LAB/log/eng-NAME.jsonl, its logs (stderr) to $NB_LAB/log/eng-NAME.log,
# its state to $NB_LAB/engine/NAME, its WireGuard interface is "wtNAME"
# (interface names must be unique: all namespaces of a test share
# /run/wireguard).

NB_DEVNET_NS=devnet
NB_DEVNET_MGMT_PORT=33073
NB_DEVNET_RELAY_PORT=33080
NB_DEVNET_STATE=${NB_LAB:-}/devnet-state
NB_SETUP_KEY_FILE=${NB_LAB:-}/setup-key
NB_MGMT_URL=http://$NB_CTL_ADDR:$NB_DEVNET_MGMT_PORT
NB_DEVNET_BIN=${NB_DEVNET:-${NB_BUILD_ROOT:-}/service/devnet/netbird-devnet}
NB_ENGINE_BIN=${NB_ENGINE:-${NB_BUILD_ROOT:-}/service/cli/nb-engine}
NB_FORGER_BIN=${NB_FORGER:-${NB_BUILD_ROOT:-}/tests/protocol/test-two-peers}
NB_CONTROL_PEER_BIN=${NB_CONTROL_PEER:-${NB_BUILD_ROOT:-}/service/cli/nb-control-peer}
NB_PATH_TABLE=nb_e2e_paths

# Status conditions (jq, on one "peer" line).
NB_CONNECTED='.status == "Connected"'
NB_P2P_HOST='.status == "Connected" and .conn_type == "P2P" and .local_type == "host" and .remote_type == "host"'
NB_RELAYED='.status == "Connected" and .conn_type == "Relayed"'
NB_P2P='.status == "Connected" and .conn_type == "P2P"'

declare -gA NB_ENG_NS=() NB_ENG_IF=() NB_ENG_T0=() NB_ENG_RC=()

now_us() { echo "${EPOCHREALTIME//[!0-9]/}"; }
now_ms() { echo $(( $(now_us) / 1000 )); }

# nb_engine_require: skips unless every program the engine tests need is
# here (the build tree's nb-engine and netbird-devnet included).
nb_engine_require() {
	nb_require_cmd jq ping wg ss wireguard-go turnserver pgrep
	[ -x "$NB_ENGINE_BIN" ] || nb_skip "no nb-engine at '$NB_ENGINE_BIN' (build the project first)"
	[ -x "$NB_DEVNET_BIN" ] || nb_skip "no netbird-devnet at '$NB_DEVNET_BIN' (build the project first)"
	nb_on_cleanup _nb_engine_dump_on_failure
}

# On failure: every engine's last JSON lines and logs, and devnet's log.
_nb_engine_dump_on_failure() {
	[ "$NB_FAILED" = 1 ] || return 0
	[ "${#NB_ENG_NS[@]}" -gt 0 ] && nb_engine_dump "${!NB_ENG_NS[@]}"
	return 0
}

# ------------------------------------------------------------------------
# Control plane

_nb_devnet_ready() { grep -q '^ready ' "$NB_LAB/log/$NB_DEVNET_NAME.log"; }

# nb_devnet_up [SERVE_OPTIONS...]: namespace "devnet" on the hub, a fresh
# state (its setup key in $NB_SETUP_KEY_FILE, 0600), coturn in REST mode
# with devnet's TURN secret, then `netbird-devnet serve` with management
# and signal on 10.77.0.2:33073, the relay on :33080 and coturn handed out
# as STUN/TURN server.  Waits for its "ready" line.
nb_devnet_up() {
	NB_DEVNET_STATE=$NB_LAB/devnet-state
	NB_SETUP_KEY_FILE=$NB_LAB/setup-key
	nb_net_host "$NB_DEVNET_NS" "$NB_CTL_ADDR" || return 1
	(umask 077 && "$NB_DEVNET_BIN" --state-dir "$NB_DEVNET_STATE" init > "$NB_SETUP_KEY_FILE") ||
		{ nb_log "netbird-devnet init failed"; return 1; }
	nb_turn_start_rest "$NB_DEVNET_STATE/turn.secret" || return 1
	NB_DEVNET_ARGS=(serve --listen "$NB_CTL_ADDR:$NB_DEVNET_MGMT_PORT"
		--relay-listen "$NB_CTL_ADDR:$NB_DEVNET_RELAY_PORT"
		--turn "$NB_TURN_ADDR:$NB_TURN_PORT" "$@")
	NB_DEVNET_GEN=0
	nb_devnet_serve
}

# nb_devnet_serve: (re)starts `netbird-devnet serve` with the arguments of
# nb_devnet_up and the same state directory; each start logs to a log of
# its own (devnet.log, devnet-1.log, ...).
nb_devnet_serve() {
	NB_DEVNET_NAME=devnet
	[ "$NB_DEVNET_GEN" -gt 0 ] && NB_DEVNET_NAME=devnet-$NB_DEVNET_GEN
	NB_DEVNET_GEN=$((NB_DEVNET_GEN + 1))
	nb_spawn "$NB_DEVNET_NAME" ip netns exec "$NB_DEVNET_NS" "$NB_DEVNET_BIN" \
		--state-dir "$NB_DEVNET_STATE" "${NB_DEVNET_ARGS[@]}"
	if ! nb_wait_until 10 "netbird-devnet ready" _nb_devnet_ready; then
		nb_alive "$NB_DEVNET_NAME" || nb_log "netbird-devnet exited; see $NB_LAB/log/$NB_DEVNET_NAME.log"
		return 1
	fi
}

# nb_devnet_stop [SIGNAL]: stops the running serve (SIGTERM by default).
nb_devnet_stop() { nb_kill "$NB_DEVNET_NAME" "${1:-TERM}"; }

# nb_devnet CMD...: an admin command on devnet's state (the server notices).
nb_devnet() { "$NB_DEVNET_BIN" --state-dir "$NB_DEVNET_STATE" "$@"; }

# ------------------------------------------------------------------------
# Topologies beyond net.sh's two peers

# nb_engine_topo_lan4: nb_topo_lan plus peer3 (10.77.0.13) and peer4
# (10.77.0.14) on the hub.
nb_engine_topo_lan4() {
	nb_topo_lan || return 1
	export NB_PEER3=peer3 NB_PEER4=peer4 NB_PEER3_ADDR=10.77.0.13 NB_PEER4_ADDR=10.77.0.14
	nb_net_host "$NB_PEER3" "$NB_PEER3_ADDR" && nb_net_host "$NB_PEER4" "$NB_PEER4_ADDR"
}

# ------------------------------------------------------------------------
# Engines

nb_engine_json() { echo "$NB_LAB/log/eng-$1.jsonl"; }

# nb_engine_start NAME NS [NB_ENGINE_OPTIONS...]: starts nb-engine in NS
# (state $NB_LAB/engine/NAME, interface wtNAME, ICE on every interface but
# wt* and lo, since the test links are veths).  A previous run's JSON log
# of NAME is kept as eng-NAME.jsonl.N.  Not in a subshell: the engine must
# be a child of the test's shell so that nb_engine_stop gets its exit code.
nb_engine_start() {
	local name=$1 ns=$2 json log n=1
	shift 2
	json=$(nb_engine_json "$name")
	log=$NB_LAB/log/eng-$name.log
	if [ -e "$json" ]; then
		while [ -e "$json.$n" ]; do n=$((n + 1)); done
		mv "$json" "$json.$n"
		mv "$log" "$log.$n" 2>/dev/null
	fi
	mkdir -p "$NB_LAB/engine"
	NB_ENG_NS[$name]=$ns
	NB_ENG_IF[$name]=wt$name
	NB_ENG_T0[$name]=$(now_us)
	G_MESSAGES_DEBUG=${NB_ENGINE_DEBUG:-} ip netns exec "$ns" "$NB_ENGINE_BIN" \
		--management-url "$NB_MGMT_URL" --state-dir "$NB_LAB/engine/$name" \
		--setup-key-file "$NB_SETUP_KEY_FILE" --interface "wt$name" \
		--interface-blacklist wt,lo --hostname "peer-$name" \
		"$@" > "$json" 2> "$log" &
	echo $! > "$NB_LAB/pid/eng-$name"
	echo "eng-$name" >> "$NB_LAB/spawn-order"
}

# nb_engine_start_ab [NB_ENGINE_OPTIONS...]: engines a (in NB_PEER1) and b
# (in NB_PEER2) with the same options, both started and registered (the
# test dies otherwise).
nb_engine_start_ab() {
	nb_engine_start a "$NB_PEER1" "$@"
	nb_engine_start b "$NB_PEER2" "$@"
	nb_engine_wait_all_started a b || nb_die "both engines started"
}

# nb_engine_stop NAME [SIGNAL]: signals the engine (SIGTERM) and waits up
# to 15 s for it to exit (then SIGKILL); its exit code is in
# NB_ENG_RC[NAME] (137 when it had to be killed).
nb_engine_stop() {
	local name=$1 sig=${2:-TERM} pid
	[ -f "$NB_LAB/pid/eng-$name" ] || return 0
	pid=$(nb_pid "eng-$name")
	kill "-$sig" "$pid" 2>/dev/null
	if ! nb_wait_until 15 "engine $name to exit" nb_pid_gone "$pid"; then
		kill -KILL "$pid" 2>/dev/null
		nb_wait_until 2 "" nb_pid_gone "$pid"
	fi
	wait "$pid" 2>/dev/null
	NB_ENG_RC[$name]=$?
	rm -f "$NB_LAB/pid/eng-$name"
}

# nb_engine_lines NAME JQ_FILTER: the JSON lines of NAME that pass the
# filter (a half-written last line is skipped), compact, in order.
# (No first()/limit() over "fromjson?" anywhere: in jq 1.6 the try
# swallows their break and every match comes out.)
nb_engine_lines() {
	jq -c -n -R "inputs | fromjson? | select($2)" "$(nb_engine_json "$1")" 2>/dev/null
}

# nb_engine_has NAME JQ_FILTER: some line passes the filter.
nb_engine_has() {
	jq -e -n -R "[inputs | fromjson? | select($2)] | length > 0" "$(nb_engine_json "$1")" >/dev/null 2>&1
}

# nb_engine_event_t NAME EVENT: t_ms of NAME's first EVENT line.
nb_engine_event_t() {
	jq -n -R --arg e "$2" '[inputs | fromjson? | select(.event == $e) | .t_ms] | .[0] // empty' \
		"$(nb_engine_json "$1")" 2>/dev/null
}

nb_engine_started() { nb_engine_has "$1" '.event == "started"'; }

# nb_engine_wait_all_started NAME...: every one printed "started".
nb_engine_wait_all_started() {
	local n
	for n in "$@"; do nb_engine_wait_started "$n" || return 1; done
}

# nb_engine_wait_started NAME [TIMEOUT]: waits for "started" (or fails at
# once on "failed" or an exit).
nb_engine_wait_started() {
	local name=$1 t=${2:-20}
	if nb_wait_until "$t" "engine $name started" _nb_engine_started_or_dead "$name" &&
		nb_engine_started "$name"; then
		return 0
	fi
	nb_log "engine $name did not start: $(tail -n 3 "$(nb_engine_json "$name")" | tr '\n' ' ')"
	return 1
}

_nb_engine_started_or_dead() {
	nb_engine_started "$1" || nb_engine_has "$1" '.event == "failed"' || ! nb_alive "eng-$1"
}

# nb_engine_key NAME / nb_engine_ip NAME: our public key and overlay
# address (no prefix length) from NAME's "started" line.
nb_engine_key() {
	jq -r -n -R '[inputs | fromjson? | select(.event == "started") | .key] | .[0] // empty' \
		"$(nb_engine_json "$1")" 2>/dev/null
}
nb_engine_ip() {
	jq -r -n -R '[inputs | fromjson? | select(.event == "started") | .address | sub("/.*"; "")] | .[0] // empty' \
		"$(nb_engine_json "$1")" 2>/dev/null
}

# nb_engine_peer NAME PEER: NAME's last "peer" line about engine PEER.
nb_engine_peer() {
	jq -c -n -R --arg k "$(nb_engine_key "$2")" \
		'[inputs | fromjson? | select(.event == "peer" and .key == $k)] | last // empty' \
		"$(nb_engine_json "$1")" 2>/dev/null
}

# nb_engine_peer_is NAME PEER JQ_COND: NAME's last line about PEER passes.
nb_engine_peer_is() {
	jq -e -n -R --arg k "$(nb_engine_key "$2")" \
		"[inputs | fromjson? | select(.event == \"peer\" and .key == \$k)] | last | select(. != null) | ($3)" \
		"$(nb_engine_json "$1")" >/dev/null 2>&1
}

# nb_engine_wait_peer TIMEOUT NAME PEER JQ_COND: waits until NAME's last
# line about PEER passes JQ_COND.
nb_engine_wait_peer() {
	nb_wait_until "$1" "$2's status of $3 to pass: $4" nb_engine_peer_is "$2" "$3" "$4"
}

# nb_engine_peer_t NAME PEER JQ_COND [AFTER_MS]: t_ms of NAME's first line
# about PEER that passes JQ_COND (at or after AFTER_MS).
nb_engine_peer_t() {
	jq -n -R --arg k "$(nb_engine_key "$2")" --argjson after "${4:-0}" \
		"[inputs | fromjson? | select(.event == \"peer\" and .key == \$k and .t_ms >= \$after) | select($3) | .t_ms] | .[0] // empty" \
		"$(nb_engine_json "$1")" 2>/dev/null
}

# nb_engine_peer_field NAME PEER FIELD: a field of NAME's last line about PEER.
nb_engine_peer_field() { nb_engine_peer "$1" "$2" | jq -r ".$3"; }

# nb_engine_summary NAME PEER: the interesting fields of the last line.
nb_engine_summary() {
	nb_engine_peer "$1" "$2" | jq -r '"\(.status) \(.conn_type) path=\(.path) direct=\(.direct) ice=\(.ice) relay=\(.relay) \(.local_type)/\(.remote_type) \(.local_endpoint) -> \(.remote_endpoint) relay_address=\(.relay_address)"'
}

# nb_engine_now_ms NAME: NAME's clock (t_ms) now, read from NAME itself:
# SIGUSR1 makes it print a "status" line, whose t_ms is taken (at most a
# poll, ~20 ms, early).  Counting from the spawn time instead would be
# off by the engine's start-up time, hundreds of ms on a loaded VM.  Falls
# back to the spawn time if no status line comes within 2 s.
nb_engine_now_ms() {
	local name=$1 n
	n=$(_nb_engine_status_count "$name")
	if kill -USR1 "$(nb_pid "eng-$name")" 2>/dev/null &&
		nb_wait_until 2 "" _nb_engine_status_more "$name" "$n"; then
		jq -n -R '[inputs | fromjson? | select(.event == "status") | .t_ms] | last' "$(nb_engine_json "$name")"
	else
		echo $(( ($(now_us) - NB_ENG_T0[$name]) / 1000 ))
	fi
}
_nb_engine_status_count() { grep -c '"event":"status"' "$(nb_engine_json "$1")"; }
_nb_engine_status_more() { [ "$(_nb_engine_status_count "$1")" -gt "$2" ]; }

# nb_engine_pair_up TIMEOUT A B JQ_COND: both A->B and B->A pass JQ_COND.
nb_engine_pair_up() {
	local t=$1 a=$2 b=$3 cond=$4
	nb_engine_wait_peer "$t" "$a" "$b" "$cond" && nb_engine_wait_peer "$t" "$b" "$a" "$cond"
}

# ------------------------------------------------------------------------
# Traffic through the tunnel

# nb_tunnel_ping FROM TO [COUNT] [DEADLINE_S]: COUNT (3) pings from engine
# FROM's namespace to engine TO's overlay address; succeeds only when all
# COUNT replies came within DEADLINE_S (5).
nb_tunnel_ping() {
	local count=${3:-3} deadline=${4:-5}
	ip netns exec "${NB_ENG_NS[$1]}" ping -q -n -c "$count" -i 0.1 -w "$deadline" \
		"$(nb_engine_ip "$2")" >/dev/null 2>&1
}

# nb_ping_start ID FROM TO INTERVAL [SIZE]: a continuous ping (timestamps,
# -O) from engine FROM to engine TO in the background; nb_ping_stop ID
# ends it.  Output in $NB_LAB/log/ping-ID.log.
nb_ping_start() {
	nb_spawn "ping-$1" ip netns exec "${NB_ENG_NS[$2]}" ping -n -D -O -i "$4" -s "${5:-56}" \
		"$(nb_engine_ip "$3")"
}

nb_ping_stop() { nb_kill "ping-$1" INT; }

# nb_ping_seq ID: the icmp_seq of the last reply so far (0 if none).
nb_ping_seq() {
	local s
	s=$(grep -o 'bytes from .*icmp_seq=[0-9]*' "$NB_LAB/log/ping-$1.log" | tail -n 1)
	echo "${s##*=}" | grep . || echo 0
}

# nb_ping_stats ID [FROM_SEQ] [TO_SEQ]: over the pings FROM_SEQ..TO_SEQ
# (default: all that were answered or reported unanswered), prints
# "sent=N received=N lost=N max_lost_run=N max_gap_ms=N" where
# max_lost_run is the longest run of consecutive unanswered pings and
# max_gap_ms the longest time between two consecutive replies (by their
# arrival timestamps), the traffic gap the user sees.
nb_ping_stats() {
	awk -v from="${2:-1}" -v to="${3:-0}" '
	/bytes from/ && !/DUP/ {
		match($0, /icmp_seq=[0-9]+/); s = substr($0, RSTART + 9, RLENGTH - 9) + 0
		match($0, /^\[[0-9.]+\]/); t = substr($0, 2, RLENGTH - 2) + 0
		if (s < from || (to > 0 && s > to)) next
		got[s] = 1
		if (s > maxs) maxs = s
		if (last_t > 0 && t - last_t > gap) gap = t - last_t
		last_t = t
	}
	/no answer yet/ {
		match($0, /icmp_seq=[0-9]+/); s = substr($0, RSTART + 9, RLENGTH - 9) + 0
		if (s >= from && (to == 0 || s <= to) && s > maxs) maxs = s
	}
	END {
		if (to > 0) maxs = to
		n = 0; run = 0; maxrun = 0; recv = 0
		for (i = from; i <= maxs; i++) {
			n++
			if (i in got) { recv++; run = 0 } else { run++; if (run > maxrun) maxrun = run }
		}
		printf "sent=%d received=%d lost=%d max_lost_run=%d max_gap_ms=%d\n", n, recv, n - recv, maxrun, gap * 1000
	}' "$NB_LAB/log/ping-$1.log"
}

# nb_stat_field LINE KEY: KEY's value in a "k=v k=v" line.
nb_stat_field() { sed -n "s/.*\\b$2=\\([^ ]*\\).*/\\1/p" <<< "$1"; }

# ------------------------------------------------------------------------
# Where packets go: counters on the hub

# nb_paths_count_start A B: counters on the hub bridge, after every drop
# rule (so only delivered packets count), for the traffic of engines A and
# B: "direct" (UDP between them, NAT addresses included), "a_to_b" (the
# part of it from A to B), "turn" (UDP to or from coturn) and "relay" (TCP
# to or from devnet's relay port).
nb_paths_count_start() {
	local a b
	a=$(nb_net_seen_addrs "${NB_ENG_NS[$1]}" | paste -sd, -)
	b=$(nb_net_seen_addrs "${NB_ENG_NS[$2]}" | paste -sd, -)
	ip netns exec "$NB_HUB" nft -f - <<-EOF
	table bridge $NB_PATH_TABLE
	delete table bridge $NB_PATH_TABLE
	table bridge $NB_PATH_TABLE {
		counter direct { }
		counter turn { }
		counter relay { }
		counter a_to_b { }
		chain forward {
			ip saddr { $a } ip daddr { $b } meta l4proto udp counter name a_to_b
			type filter hook forward priority 100; policy accept;
			ip saddr { $a } ip daddr { $b } meta l4proto udp counter name direct
			ip saddr { $b } ip daddr { $a } meta l4proto udp counter name direct
			ip saddr { $a, $b } ip daddr $NB_TURN_ADDR meta l4proto udp counter name turn
			ip daddr { $a, $b } ip saddr $NB_TURN_ADDR meta l4proto udp counter name turn
			ip saddr { $a, $b } ip daddr $NB_CTL_ADDR tcp dport $NB_DEVNET_RELAY_PORT counter name relay
			ip daddr { $a, $b } ip saddr $NB_CTL_ADDR tcp sport $NB_DEVNET_RELAY_PORT counter name relay
		}
	}
	EOF
}

# nb_paths_bytes: "direct=N turn=N relay=N a_to_b=N" bytes counted so far.
nb_paths_bytes() {
	ip netns exec "$NB_HUB" nft -j list counters table bridge "$NB_PATH_TABLE" |
		jq -r '[.nftables[] | select(.counter) | .counter | "\(.name)=\(.bytes)"] | join(" ")'
}

nb_paths_reset() { ip netns exec "$NB_HUB" nft reset counters table bridge "$NB_PATH_TABLE" >/dev/null; }

# nb_paths_probe A B [COUNT]: COUNT (20) pings of 1000 bytes from A to B
# through the tunnel; prints the bytes each path carried meanwhile
# ("direct=N turn=N relay=N").  Fails if a ping was lost.
nb_paths_probe() {
	local count=${3:-20} rc=0
	nb_paths_reset
	ip netns exec "${NB_ENG_NS[$1]}" ping -q -n -c "$count" -i 0.05 -s 1000 -w 10 \
		"$(nb_engine_ip "$2")" >/dev/null 2>&1 || rc=1
	nb_paths_bytes
	return $rc
}

# nb_engine_check_path A B [COUNT]: what A says about B (conn_type, path,
# candidate types) is where A's pings to B really go: the path the status
# names carries at least the pings' bytes both ways, each other path less
# than the pings' bytes of one way.  Logs the evidence.
nb_engine_check_path() {
	local a=$1 b=$2 count=${3:-20} bytes line path ctype lt rt want direct turn relay min
	line=$(nb_engine_peer "$a" "$b")
	path=$(jq -r .path <<< "$line") ctype=$(jq -r .conn_type <<< "$line")
	lt=$(jq -r .local_type <<< "$line") rt=$(jq -r .remote_type <<< "$line")
	if ! bytes=$(nb_paths_probe "$a" "$b" "$count"); then
		nb_log "$a -> $b: pings lost ($bytes)"
		return 1
	fi
	direct=$(nb_stat_field "$bytes" direct) turn=$(nb_stat_field "$bytes" turn) relay=$(nb_stat_field "$bytes" relay)
	case $path/$ctype in
	ice/P2P) want=direct ;;
	ice/Relayed)
		want=turn
		[ "$lt" = relay ] || [ "$rt" = relay ] || { nb_log "$a -> $b: Relayed over ICE without a relay candidate ($lt/$rt)"; return 1; }
		;;
	relay/Relayed) want=relay ;;
	*) nb_log "$a -> $b: unexpected path/conn_type $path/$ctype"; return 1 ;;
	esac
	min=$((count * 1000 * 2))
	nb_log "$a -> $b: status says $path/$ctype $lt/$rt; hub bytes during $count pings of 1000 B: $bytes"
	# Another path may carry ICE checks, TURN refreshes, keepalives (a
	# few kB while ICE is still trying), but not the pings of even one
	# direction (min / 2).
	case $want in
	direct) [ "$direct" -ge "$min" ] && [ "$turn" -lt $((min / 2)) ] && [ "$relay" -lt $((min / 2)) ] ;;
	turn) [ "$turn" -ge "$min" ] && [ "$direct" -lt $((min / 2)) ] && [ "$relay" -lt $((min / 2)) ] ;;
	relay) [ "$relay" -ge "$min" ] && [ "$direct" -lt $((min / 2)) ] && [ "$turn" -lt $((min / 2)) ] ;;
	esac
}

# ------------------------------------------------------------------------
# Nothing left behind

# nb_engine_gone NAME: after NAME stopped: its process, its wireguard-go,
# its interface and its UAPI socket are gone, and no namespace exists
# that the harness did not make.  Logs what it finds.
nb_engine_gone() {
	local name=$1 ns=${NB_ENG_NS[$1]} ifname=${NB_ENG_IF[$1]} ok=0 extra
	if [ -f "$NB_LAB/pid/eng-$name" ] && nb_alive "eng-$name"; then
		nb_log "engine $name still runs"; ok=1
	fi
	if pgrep -f "wireguard-go( -f)? $ifname\$" >/dev/null; then
		nb_log "wireguard-go for $ifname still runs: $(pgrep -af wireguard-go)"; ok=1
	fi
	if pgrep -f "nb-engine.*--interface $ifname( |\$)" >/dev/null; then
		nb_log "an nb-engine for $ifname still runs"; ok=1
	fi
	if ip -n "$ns" link show "$ifname" >/dev/null 2>&1; then
		nb_log "interface $ifname still exists in $ns"; ok=1
	fi
	if [ -e "/run/wireguard/$ifname.sock" ]; then
		nb_log "UAPI socket /run/wireguard/$ifname.sock still exists"; ok=1
	fi
	if ip netns exec "$ns" ss -Hxlp 2>/dev/null | grep -q "$ifname"; then
		nb_log "a listening unix socket of $ifname in $ns: $(ip netns exec "$ns" ss -Hxlp | grep "$ifname")"; ok=1
	fi
	extra=$(comm -23 <(ip netns list | awk '{print $1}' | sort) <(sort -u "$NB_LAB/netns"))
	if [ -n "$extra" ]; then
		nb_log "namespaces the harness did not make: $extra"; ok=1
	fi
	return $ok
}

# nb_engine_stop_clean NAME: SIGTERM; checks "stopped" as last line, exit
# 0 and nothing left behind.
nb_engine_stop_clean() {
	local name=$1
	nb_engine_stop "$name"
	nb_check "$name: exit 0 on SIGTERM (got ${NB_ENG_RC[$name]})" test "${NB_ENG_RC[$name]}" = 0
	nb_check "$name: last line is \"stopped\"" \
		jq -e -s -R 'split("\n") | map(select(length > 0)) | last | fromjson | .event == "stopped"' \
		"$(nb_engine_json "$name")"
	nb_check "$name: no process, interface, UAPI socket or namespace left" nb_engine_gone "$name"
}

# nb_engine_no_crash NAME: NAME is still running and printed no "failed".
nb_engine_no_crash() {
	nb_alive "eng-$1" && ! nb_engine_has "$1" '.event == "failed"'
}

# nb_engine_dump NAME...: on failure, the engines' JSON lines (compact
# summary) and the tail of their logs, to stderr.
nb_engine_dump() {
	local n
	for n in "$@"; do
		echo "----- engine $n JSON ($(nb_engine_json "$n")):" >&2
		tail -n 40 "$(nb_engine_json "$n")" >&2
		echo "----- engine $n stderr:" >&2
		tail -n 30 "$NB_LAB/log/eng-$n.log" >&2
	done
}

# nb_engine_standard_setup TOPOLOGY: the usual start of a test: the
# topology function, devnet + coturn.
nb_engine_standard_setup() {
	"$1" || nb_die "topology $1"
	nb_devnet_up || nb_die "devnet + coturn"
}
