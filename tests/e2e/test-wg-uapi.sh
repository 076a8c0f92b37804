#!/bin/bash
# shellcheck source-path=SCRIPTDIR/../lib
# NbWgUapi (service/wg/wg-uapi.c) against the real wireguard-go: two peers
# on nb_topo_lan, each with a wg-uapi-driver (tests/e2e/wg-uapi-driver.c)
# that runs inside the peer's namespace, spawns wireguard-go through
# NbWgUapi and configures it over UAPI. Tunnel addresses are set here with
# ip(8); wg(8) only reads, as an independent check of what we configured.
#
# Covered: spawn + readiness, device and peer configuration, a ping through
# the tunnel, stats (handshake, rx/tx, endpoints) cross-checked with wg(8),
# an in-place endpoint switch to a second address of the other peer under
# a running ping, quick successive endpoint updates (below), a refused
# request with its errno (listen port in use), remove_peer, "died" when
# wireguard-go is killed, a second instance refused, dispose leaving no
# process, and no private key in any log, argv or environment.
#
# Finding, quick successive updates (NetBird sleeps 100 ms after each
# WireGuard peer update, wgConfigWorkaround(): "the second update can be
# ignored"): with wireguard-go over UAPI both updates are applied. A set
# is answered only after IpcSetOperation has applied it under the device's
# configuration lock, and NbWgUapi sends the next request only after that
# answer. Checked below: 2 and 20 alternating endpoint updates issued back
# to back without waiting (with a get after each one, and with a single get
# at the end), each get sees the endpoint of the set just before it, and
# the next packets go to the last endpoint (nftables counters on the other
# peer's two addresses). Measured on the 2-core test VM: 20 updates and 20
# gets in 45 ms, 20 updates and one get in 24 ms, i.e. about 1 ms per
# request (connect, request, answer). So the backend needs no sleep; what can still move an endpoint
# afterwards is WireGuard roaming (an authenticated packet arriving from
# another address), which is the peer connection's business, not the
# backend's.
. "${NB_SOURCE_ROOT:-$(dirname "$0")/../..}/tests/lib/harness.sh"
. "$NB_LIB_DIR/net.sh"
. "$NB_LIB_DIR/wg.sh"
nb_sandbox "$@"
nb_require_cmd wireguard-go wg ping socat pgrep

DRIVER=${NB_WG_UAPI_DRIVER:-${NB_BUILD_ROOT:-}/tests/e2e/wg-uapi-driver}
[ -x "$DRIVER" ] || nb_skip "no wg-uapi-driver at '$DRIVER' (build the project first)"

PEER2_ALT=10.77.0.22        # a second address of peer 2, for the endpoint switch
TUN_CIDR1=$NB_WG_TUN1/32
TUN_CIDR2=$NB_WG_TUN2/32

# ---- the drivers ------------------------------------------------------------

declare -A DRV_FD
DRV_SEQ=0
DRV_REPLY=

# drv_start NAME NS IFNAME: a driver in NS for IFNAME; commands go through
# a FIFO, answers and logs to $NB_LAB/log/NAME.log.
drv_start() {
	local name=$1 ns=$2 ifname=$3 fifo="$NB_LAB/$1.cmd" fd
	mkfifo -m 600 "$fifo" || return 1
	nb_spawn "$name" env G_MESSAGES_DEBUG=nb-wg ip netns exec "$ns" "$DRIVER" "$ifname" "$fifo"
	# Read-write: opening never blocks, whichever side comes first.
	exec {fd}<>"$fifo"
	DRV_FD[$name]=$fd
	nb_wait_until 10 "driver $name" grep -q "^ready " "$NB_LAB/log/$name.log"
}

# drv NAME VERB ARGS...: runs one command, waits for its answer (in
# DRV_REPLY, without the ID) and succeeds if it is "ok ...".
drv() {
	local name=$1 id log
	shift
	id=$((++DRV_SEQ))
	log="$NB_LAB/log/$name.log"
	echo "$id $*" >&"${DRV_FD[$name]}"
	if ! nb_wait_until 60 "answer to '$*' from $name" grep -q "^$id " "$log"; then
		DRV_REPLY="(no answer)"
		return 1
	fi
	DRV_REPLY=$(grep -m1 "^$id " "$log")
	DRV_REPLY=${DRV_REPLY#"$id "}
	nb_log "$name: $* -> $DRV_REPLY"
	[[ $DRV_REPLY == ok* ]]
}

# field NAME: a value from the last stats answer (first peer for peer fields).
field() {
	case $1 in
	listen_port | pub | peers) grep -o " $1=[^ ]*" <<< "$DRV_REPLY" | head -n1 | cut -d= -f2- ;;
	*) grep -o ",$1=[^, ]*" <<< "$DRV_REPLY" | head -n1 | cut -d= -f2- ;;
	esac
}

# ---- probes -------------------------------------------------------------------

ping_ok() { ip netns exec "$1" ping -q -c "${3:-3}" -i 0.1 -W 1 "$2" >/dev/null 2>&1; }
ping_fails() { ! ip netns exec "$1" ping -q -c 3 -i 0.2 -W 1 "$2" >/dev/null 2>&1; }

# Counters of WireGuard packets arriving at each of peer 2's addresses.
counters_setup() {
	ip netns exec "$NB_PEER2" nft -f - <<-EOF
	table ip nb_wg_count {
		counter to_main {}
		counter to_alt {}
		chain input {
			type filter hook input priority filter; policy accept;
			ip daddr $NB_PEER2_ADDR udp dport $NB_WG_PORT2 counter name to_main
			ip daddr $PEER2_ALT udp dport $NB_WG_PORT2 counter name to_alt
		}
	}
	EOF
}
counter() {
	ip netns exec "$NB_PEER2" nft list counter ip nb_wg_count "$1" |
		awk '/packets/ { for (i = 1; i <= NF; i++) if ($i == "packets") print $(i + 1) }'
}
snapshot() { MAIN0=$(counter to_main); ALT0=$(counter to_alt); }
# goes_to main|alt: after a few pings, only the named address got packets.
goes_to() {
	local want=$1 main alt
	snapshot
	ping_ok "$NB_PEER1" "$NB_WG_TUN2" 5 || return 1
	main=$(($(counter to_main) - MAIN0))
	alt=$(($(counter to_alt) - ALT0))
	nb_log "packets to $NB_PEER2_ADDR: +$main, to $PEER2_ALT: +$alt"
	if [ "$want" = main ]; then
		[ "$main" -ge 5 ] && [ "$alt" = 0 ]
	else
		[ "$alt" -ge 5 ] && [ "$main" = 0 ]
	fi
}

wg_show() { ip netns exec "$1" wg show "$2" "$3"; }
link_gone() { ! ip -n "$1" link show "$2" >/dev/null 2>&1; }

# has TEXT: the last answer contains TEXT.
has() { [[ $DRV_REPLY == *"$1"* ]]; }

# ---- topology and keys ----------------------------------------------------------

nb_topo_lan || nb_die "LAN topology"
ip -n "$NB_PEER2" addr add "$PEER2_ALT/24" dev eth0 || nb_die "second address"
counters_setup || nb_die "nftables counters"
key1=$(nb_wg_genkey wg1) || nb_die "key 1"
key2=$(nb_wg_genkey wg2) || nb_die "key 2"
pub1=$(nb_wg_pubkey wg1)
pub2=$(nb_wg_pubkey wg2)
EP_MAIN=$NB_PEER2_ADDR:$NB_WG_PORT2
EP_ALT=$PEER2_ALT:$NB_WG_PORT2

drv_start d1 "$NB_PEER1" wg1 || nb_die "driver 1"
drv_start d2 "$NB_PEER2" wg2 || nb_die "driver 2"

# ---- start -------------------------------------------------------------------

nb_check "driver 1 starts wireguard-go" drv d1 start || nb_die "start"
pid1=${DRV_REPLY#ok pid=}
nb_check "driver 2 starts wireguard-go" drv d2 start || nb_die "start"
pid2=${DRV_REPLY#ok pid=}
nb_check "UAPI socket of wg1 exists" test -S "$NB_WG_RUNDIR/wg1.sock"
nb_check "wireguard-go 1 runs in $NB_PEER1" test "$(ip netns identify "$pid1")" = "$NB_PEER1"
nb_check "wireguard-go argv is 'wireguard-go -f wg1'" \
	test "$(tr '\0' ' ' < "/proc/$pid1/cmdline")" = "wireguard-go -f wg1 "
nb_check "wireguard-go got LOG_LEVEL=verbose" grep -qx LOG_LEVEL=verbose <(tr '\0' '\n' < "/proc/$pid1/environ")

# ---- configure: responder first (lab F7) ------------------------------------------

nb_check "peer 2: device key and port" drv d2 device "$key2" "$NB_WG_PORT2"
nb_check "peer 2: peer 1 without endpoint" drv d2 peer "$pub1" none 0 "$TUN_CIDR1"
{ ip -n "$NB_PEER2" addr add "$NB_WG_TUN2/24" dev wg2 && ip -n "$NB_PEER2" link set wg2 up; } ||
	nb_die "wg2 address"
nb_wait_until 5 "wg2 listening" _nb_wg_bound "$NB_PEER2" "$NB_WG_PORT2" || nb_die "wg2 bound"
nb_check "peer 1: device key and port" drv d1 device "$key1" "$NB_WG_PORT1"
nb_check "peer 1: peer 2 at $EP_MAIN" drv d1 peer "$pub2" "$EP_MAIN" 25 "$TUN_CIDR2"
{ ip -n "$NB_PEER1" addr add "$NB_WG_TUN1/24" dev wg1 && ip -n "$NB_PEER1" link set wg1 up; } ||
	nb_die "wg1 address"

nb_check "tunnel comes up" nb_wait_until 10 "a ping through the tunnel" \
	ip netns exec "$NB_PEER1" ping -c 1 -W 1 "$NB_WG_TUN2"
nb_check "peer1 -> peer2 through the tunnel" ping_ok "$NB_PEER1" "$NB_WG_TUN2"
nb_check "peer2 -> peer1 through the tunnel" ping_ok "$NB_PEER2" "$NB_WG_TUN1"

# ---- stats ----------------------------------------------------------------------

nb_check "peer 1: stats" drv d1 stats
hs1=$(field handshake)
nb_check "stats: our public key derived from the device's private key" test "$(field pub)" = "$pub1"
nb_check "stats: listen port $NB_WG_PORT1" test "$(field listen_port)" = "$NB_WG_PORT1"
nb_check "stats: one peer" test "$(field peers)" = 1
nb_check "stats: a handshake (${hs1:-none})" test "${hs1:-0}" -gt 0
nb_check "stats: rx and tx bytes ($(field rx)/$(field tx))" test "$(field rx)" -gt 0 -a "$(field tx)" -gt 0
nb_check "stats: endpoint $EP_MAIN" test "$(field endpoint)" = "$EP_MAIN"
nb_check "stats: keepalive 25, allowed IPs $TUN_CIDR2" \
	test "$(field keepalive),$(field ips)" = "25,$TUN_CIDR2"
read -r _ wg_rx wg_tx < <(wg_show "$NB_PEER1" wg1 transfer)
nb_check "wg(8), read later, reports at least these byte counts ($wg_rx/$wg_tx)" \
	test "$wg_rx" -ge "$(field rx)" -a "$wg_tx" -ge "$(field tx)"
nb_check "peer 2: stats" drv d2 stats
nb_check "peer 2 learnt peer 1's endpoint from the handshake ($(field endpoint))" \
	test "$(field endpoint)" = "$NB_PEER1_ADDR:$NB_WG_PORT1"

# ---- endpoint switch under a running ping ---------------------------------------------

ip netns exec "$NB_PEER1" ping -i 0.05 -c 60 -W 1 "$NB_WG_TUN2" > "$NB_LAB/switch-ping.txt" 2>&1 &
ping_pid=$!
nb_wait_until 5 "the ping to run" grep -q "icmp_seq=10 " "$NB_LAB/switch-ping.txt"
snapshot
# A reply peer 2 sent from its main address before it saw the first packet
# to the new one can arrive after the switch, and WireGuard would roam back
# to it (seen in CI under load). Peer 1 drops those for the switch: this
# part is about the backend's update, not roaming.
ip netns exec "$NB_PEER1" nft -f - <<-EOF || nb_die "the no-roaming rule"
	table ip nb_wg_noroam {
		chain in {
			type filter hook input priority filter;
			ip saddr $NB_PEER2_ADDR udp sport $NB_WG_PORT2 drop
		}
	}
EOF
nb_check "peer 1: switch peer 2 to $EP_ALT (in place)" drv d1 peer "$pub2" "$EP_ALT" 25 "$TUN_CIDR2"
wait "$ping_pid"
received=$(grep -o '[0-9]* received' "$NB_LAB/switch-ping.txt" | cut -d' ' -f1)
nb_check "the ping went on across the switch ($received/60 answered)" test "${received:-0}" -ge 59
nb_check "packets reached $PEER2_ALT after the switch (+$(($(counter to_alt) - ALT0)))" \
	test "$(($(counter to_alt) - ALT0))" -ge 10
nb_check "from now on only $PEER2_ALT gets packets" goes_to alt
nb_check "peer 1: stats" drv d1 stats
nb_check "stats: endpoint $EP_ALT" test "$(field endpoint)" = "$EP_ALT"
nb_check "the session survived the switch (no new handshake: $(field handshake) = $hs1)" \
	test "$(field handshake)" = "$hs1"
nb_check "wg(8) sees endpoint $EP_ALT" test "$(wg_show "$NB_PEER1" wg1 endpoints | cut -f2)" = "$EP_ALT"
ip netns exec "$NB_PEER1" nft delete table ip nb_wg_noroam || nb_die "remove the no-roaming rule"

# ---- quick successive updates (see the finding at the top) --------------------------------

nb_check "2 quick updates ($EP_MAIN, $EP_ALT): each applied" \
	drv d1 burst "$pub2" 2 25 "$TUN_CIDR2" "$EP_MAIN" "$EP_ALT"
nb_check "  ... final endpoint $EP_ALT" has "applied=2/2 final=$EP_ALT"
nb_check "  ... and the packets go there" goes_to alt
nb_check "2 quick updates ($EP_ALT, $EP_MAIN), no get in between: the last one holds" \
	drv d1 burst "$pub2" 2 25 "$TUN_CIDR2" "$EP_ALT" "$EP_MAIN" noget
nb_check "  ... final endpoint $EP_MAIN" has "applied=1/1 final=$EP_MAIN"
nb_check "  ... and the packets go there" goes_to main
nb_check "20 quick alternating updates: each applied" \
	drv d1 burst "$pub2" 20 25 "$TUN_CIDR2" "$EP_MAIN" "$EP_ALT"
nb_check "  ... final endpoint $EP_ALT" has "applied=20/20 final=$EP_ALT"
nb_check "  ... and the packets go there" goes_to alt
nb_check "20 quick alternating updates, no get in between" \
	drv d1 burst "$pub2" 20 25 "$TUN_CIDR2" "$EP_ALT" "$EP_MAIN" noget
nb_check "  ... final endpoint $EP_MAIN" has "applied=1/1 final=$EP_MAIN"
nb_check "  ... and the packets go there" goes_to main

# ---- a refused request: the device's errno comes through ------------------------------------

nb_spawn blocker ip netns exec "$NB_PEER1" socat -u UDP4-RECV:51899 -
nb_wait_until 5 "UDP 51899 taken" _nb_wg_bound "$NB_PEER1" 51899 || nb_die "blocker"
nb_check_not "peer 1: listen port 51899 (taken) is refused" drv d1 port 51899
nb_check "  ... with NB_WG_ERROR_REFUSED and errno 98 (EADDRINUSE)" \
	has "error nb-wg-error-quark:1 errno=98 "
nb_kill blocker
nb_check "peer 1: back to listen port $NB_WG_PORT1 (key unchanged)" drv d1 port "$NB_WG_PORT1"
nb_check "the tunnel works again" nb_wait_until 10 "a ping through the tunnel" \
	ip netns exec "$NB_PEER1" ping -c 1 -W 1 "$NB_WG_TUN2"

# ---- remove_peer ---------------------------------------------------------------------------

nb_check "peer 1: remove peer 2" drv d1 remove "$pub2"
nb_check "peer 1: stats" drv d1 stats
nb_check "stats: no peers" test "$(field peers)" = 0
nb_check "wg(8) lists no peers" test -z "$(wg_show "$NB_PEER1" wg1 peers)"
nb_check "peer1 -> peer2 no longer passes" ping_fails "$NB_PEER1" "$NB_WG_TUN2"
nb_check "peer2 -> peer1 no longer passes" ping_fails "$NB_PEER2" "$NB_WG_TUN1"

# ---- secrets ----------------------------------------------------------------------------------

no_secret_in() {
	local file=$1 k b64 hex
	for k in "$key1" "$key2"; do
		b64=$(cat "$k")
		hex=$(nb_wg_hex < "$k")
		if grep -qaF -e "$b64" -e "$hex" "$file"; then
			nb_log "key material of $k found in $file"
			return 1
		fi
	done
}
no_secret_in_procs() {
	local pid
	for pid in "$pid1" "$pid2" "$(nb_pid d1)" "$(nb_pid d2)"; do
		no_secret_in "/proc/$pid/cmdline" && no_secret_in "/proc/$pid/environ" || return 1
	done
}
nb_check "no private key in the argv or environment of wireguard-go or the drivers" no_secret_in_procs

# ---- death -------------------------------------------------------------------------------------

kill -KILL "$pid1"
nb_check "killing wireguard-go 1 emits \"died\"" \
	nb_wait_until 10 "event died" grep -q "^event died .*signal 9" "$NB_LAB/log/d1.log"
nb_check_not "peer 1: requests now fail" drv d1 stats
nb_check "  ... with NB_WG_ERROR_NOT_RUNNING" \
	has "error nb-wg-error-quark:3 "
nb_check "wg1 is gone with its process" nb_wait_until 5 "wg1 gone" link_gone "$NB_PEER1" wg1

# ---- a second instance, dispose ---------------------------------------------------------------------

nb_check "a second NbWgUapi for wg2 refuses to start" drv d2 dup
nb_check "dispose stops wireguard-go 2" drv d2 dispose
nb_check "  ... its process is gone" nb_pid_gone "$pid2"
nb_check "  ... wg2 is gone" link_gone "$NB_PEER2" wg2
nb_check "  ... its UAPI socket is gone" test ! -e "$NB_WG_RUNDIR/wg2.sock"
nb_check "driver 1 quits" drv d1 quit
nb_check "driver 2 quits" drv d2 quit
drivers_gone() { nb_pid_gone "$(nb_pid d1)" && nb_pid_gone "$(nb_pid d2)"; }
nb_check "the drivers exit" nb_wait_until 10 "drivers to exit" drivers_gone
nb_check_not "no wireguard-go process is left" pgrep -x wireguard-go
no_secret_in_logs() {
	local f
	for f in "$NB_LAB"/log/*.log; do no_secret_in "$f" || return 1; done
}
nb_check "no private key in any log" no_secret_in_logs
