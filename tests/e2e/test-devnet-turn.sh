#!/bin/bash
# shellcheck source-path=SCRIPTDIR/../lib
# netbird-devnet hands out TURN credentials for a coturn the harness starts.
# netbird-devnet (management + signal + relay) runs in namespace "devnet" at
# 10.77.0.2, coturn in REST mode (use-auth-secret) at 10.77.0.3; the two
# peers are LAN peers between which UDP is dropped (nb_topo_relay_only).
# In each peer namespace devnet-turn-driver logs in with the setup key
# (NbMgmtClient), takes the TURN server and its time-limited credentials
# from the login, and runs NbWorkerIce with relay candidates only and no
# interface filter; ICE credentials and candidates go through the driver's
# line broker (as in test-ice.sh) in the devnet namespace.
#
# Cases (parallel sandboxes):
#   ok            coturn uses devnet's turn.secret: both peers connect
#                 relay <-> relay, data flows both ways, coturn logged the
#                 ALLOCATE with the time-limited user name.
#   wrong_secret  coturn uses another secret: the allocation is refused
#                 (401), no relay candidate, both drivers report FAILED.
. "${NB_SOURCE_ROOT:-$(dirname "$0")/../..}/tests/lib/harness.sh"
. "$NB_LIB_DIR/net.sh"
. "$NB_LIB_DIR/turn.sh"
nb_sandbox "$@"
nb_cases ok wrong_secret
nb_require_cmd turnserver ss

DRIVER=${NB_DEVNET_TURN_DRIVER:-${NB_BUILD_ROOT:-}/tests/e2e/devnet-turn-driver}
DEVNET=${NB_DEVNET:-${NB_BUILD_ROOT:-}/service/devnet/netbird-devnet}
[ -x "$DRIVER" ] || nb_skip "no devnet-turn-driver at '$DRIVER' (build the project first)"
[ -x "$DEVNET" ] || nb_skip "no netbird-devnet at '$DEVNET' (build the project first)"

DEVNET_NS=devnet
MGMT_PORT=33073
RELAY_PORT=33080
CTL_PORT=7000
STATE=$NB_LAB/devnet-state
KEY_FILE=$NB_LAB/setup-key

now_ms() { local t=${EPOCHREALTIME/[.,]/}; echo $((t / 1000)); }
log_of() { echo "$NB_LAB/log/$1.log"; }
has_line() { grep -q "^$2" "$(log_of "$1")"; }
line_of() { grep -m1 "^$2" "$(log_of "$1")"; }
field_of() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<< "$1"; }
local_type() { sed -n 's/.* local=\([a-z]*\) .*/\1/p' <<< "$(line_of "$1" CONNECTED)"; }
remote_type() { sed -n 's/.* remote=\([a-z]*\) .*/\1/p' <<< "$(line_of "$1" CONNECTED)"; }

devnet_ready() { grep -q '^ready ' "$(log_of devnet)"; }
broker_listening() { ip netns exec "$DEVNET_NS" ss -Hltn "sport = :$CTL_PORT" | grep -q .; }
both_connected() { has_line A CONNECTED && has_line B CONNECTED; }
both_echoed() { has_line A ECHO-FIRST && has_line B ECHO-FIRST; }
both_failed() { has_line A FAILED && has_line B FAILED; }
both_logged_in() { has_line A LOGIN && has_line B LOGIN; }

# devnet_up: state dir, setup key (0600 file), coturn with SECRET_FILE,
# netbird-devnet serve, the broker.
devnet_up() {
	local secret_file=$1
	nb_net_host "$DEVNET_NS" "$NB_CTL_ADDR" || return 1
	(umask 077 && "$DEVNET" --state-dir "$STATE" init > "$KEY_FILE") || return 1
	nb_check "setup key file is 0600" test "$(stat -c %a "$KEY_FILE")" = 600
	nb_check "turn.secret exists in the state dir (0600)" \
		test "$(stat -c %a "$STATE/turn.secret")" = 600
	nb_turn_start_rest "$secret_file" || return 1
	nb_check_not "the TURN secret is not on coturn's command line" \
		grep -qF -- "$(head -n1 "$secret_file")" "/proc/$(nb_pid turnserver)/cmdline"
	nb_spawn devnet ip netns exec "$DEVNET_NS" "$DEVNET" --state-dir "$STATE" serve \
		--listen "$NB_CTL_ADDR:$MGMT_PORT" --relay-listen "$NB_CTL_ADDR:$RELAY_PORT" \
		--turn "$NB_TURN_ADDR:$NB_TURN_PORT"
	nb_wait_until 10 "netbird-devnet ready" devnet_ready || return 1
	nb_log "devnet: $(grep -m1 '^ready ' "$(log_of devnet)")"
	nb_spawn broker ip netns exec "$DEVNET_NS" "$DRIVER" broker "$NB_CTL_ADDR" "$CTL_PORT"
	nb_wait_until 5 "the broker listening" broker_listening
}

# peer NAME NS [options]
peer() {
	local name=$1 ns=$2
	shift 2
	nb_spawn "$name" ip netns exec "$ns" env G_MESSAGES_DEBUG=nb-ice "$DRIVER" peer \
		--management "http://$NB_CTL_ADDR:$MGMT_PORT" --setup-key-file "$KEY_FILE" \
		--name "$name" --control "$NB_CTL_ADDR:$CTL_PORT" --timeout 60 "$@"
}

# future_time T NOW: T is a Unix time after NOW.
future_time() { [[ $1 =~ ^[0-9]+$ ]] && [ "$1" -gt "$2" ]; }

check_login() {
	local n l user now
	nb_check "both drivers logged in with the setup key" nb_wait_until 15 "login" both_logged_in || return 1
	now=$(( $(now_ms) / 1000 ))
	for n in A B; do
		l=$(line_of $n LOGIN)
		nb_log "$NB_CASE $n: ${l#LOGIN }"
		nb_check "$n: TURN server from devnet is coturn ($(field_of "$l" turn))" \
			test "$(field_of "$l" turn)" = "turn:$NB_TURN_ADDR:$NB_TURN_PORT?transport=udp"
		user=$(field_of "$l" user)
		# NetBird's time-limited user name: the expiry Unix time.
		nb_check "$n: time-limited user name '$user' (an expiry in the future)" \
			future_time "$user" "$now"
	done
}

T0=$(now_ms)
nb_topo_relay_only || nb_die "relay-only topology"
case $NB_CASE in
ok)
	# devnet_up runs init before coturn reads $STATE/turn.secret.
	devnet_up "$STATE/turn.secret" || nb_die "devnet + coturn"
	peer A "$NB_PEER1" --controlling
	peer B "$NB_PEER2"
	check_login
	nb_check "both peers report connected" nb_wait_until 30 "connected" both_connected
	for n in A B; do
		l=$(line_of $n CONNECTED)
		nb_log "$NB_CASE $n: local=$(local_type $n) remote=$(remote_type $n) class=$(field_of "$l" class) connect_ms=$(field_of "$l" connect_ms)"
		nb_check "$n: relay <-> relay ($(local_type $n) <-> $(remote_type $n))" \
			test "$(local_type $n)/$(remote_type $n)" = relay/relay
		nb_check "$n: class TURN" test "$(field_of "$l" class)" = TURN
		nb_check "$n: a relay candidate on coturn was gathered" \
			grep -q "^LOCAL .* $NB_TURN_ADDR .* typ relay" "$(log_of $n)"
	done
	nb_check "datagrams flow both ways through coturn" nb_wait_until 10 "echoes" both_echoed
	for n in A B; do
		user=$(field_of "$(line_of $n LOGIN)" user)
		nb_check "coturn logged $n's ALLOCATE with the time-limited user <$user>" \
			grep -q "user <$user>: incoming packet ALLOCATE processed, success" "$(log_of turnserver)"
	done
	;;
wrong_secret)
	# devnet_up runs init; coturn gets a different secret.
	other=$NB_LAB/other.secret
	(umask 077 && head -c 24 /dev/urandom | base64 > "$other")
	devnet_up "$other" || nb_die "devnet + coturn"
	nb_check_not "the other secret differs from devnet's" cmp -s "$other" "$STATE/turn.secret"
	peer A "$NB_PEER1" --controlling
	peer B "$NB_PEER2"
	check_login
	nb_check "both drivers report failed" nb_wait_until 30 "failed" both_failed
	for n in A B; do
		nb_log "$NB_CASE $n: $(line_of $n FAILED)"
		nb_check_not "$n: never connected" has_line $n CONNECTED
		nb_check_not "$n: no relay candidate" grep -q '^LOCAL .* typ relay' "$(log_of $n)"
	done
	for n in A B; do
		user=$(field_of "$(line_of $n LOGIN)" user)
		# The ALLOCATE with devnet's user name is answered 401 (coturn
		# logs it as "message": the request failed authentication).
		nb_check "coturn refused $n's request with user <$user> (401)" \
			grep -q "user <$user>: incoming packet .* error 401" "$(log_of turnserver)"
	done
	nb_check_not "coturn allocated nothing" \
		grep -q "ALLOCATE processed, success" "$(log_of turnserver)"
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
	echo "----- devnet:" >&2
	tail -n 20 "$(log_of devnet)" >&2
	echo "----- turnserver:" >&2
	grep -i 'allocate\|401\|error' "$(log_of turnserver)" | tail -n 20 >&2
fi
