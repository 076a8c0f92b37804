# shellcheck shell=bash
# The test harness core, sourced by every test that starts daemons or
# namespaces.  A test calls nb_sandbox "$@" first: that re-executes it as
# PID 1 of a new PID namespace with a private mount namespace and a private
# tmpfs on /run, so
#   - every process it starts dies with it (the kernel kills the namespace),
#   - netns names, wireguard-go UAPI sockets and NetworkManager's runtime
#     directory never collide with another test or touch the host's /run,
#   - nothing can reach the host's system bus.
# Daemons are started with nb_spawn and stopped by PID in nb_cleanup.

NB_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
NB_TEST_NAME=${NB_TEST_NAME:-$(basename "$0" .sh)}

nb_log() { printf '[%s %s] %s\n' "$NB_TEST_NAME" "$(date +%T.%3N)" "$*" >&2; }

nb_skip() { echo "SKIP: $NB_TEST_NAME: $*" >&2; exit 77; }

nb_require_root() {
	[ "$(id -u)" = 0 ] || nb_skip "needs root for network namespaces (run the README test command as root)"
}

nb_require_cmd() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || nb_skip "needs '$c' (tools/install-deps.sh installs it)"
	done
}

# Re-executes the calling script inside a fresh PID + mount namespace.
nb_sandbox() {
	nb_require_root
	nb_require_cmd unshare ip nft
	if [ -z "${NB_IN_SANDBOX:-}" ]; then
		exec unshare --pid --fork --mount-proc --kill-child --mount --propagation private \
			env NB_IN_SANDBOX=1 NB_TEST_NAME="$NB_TEST_NAME" bash "$0" "$@"
	fi
	mount -t tmpfs -o mode=0755,size=64m nb-run /run
	mkdir -p /run/netns /run/wireguard /run/NetworkManager /run/lock
	NB_LAB=$(mktemp -d "${TMPDIR:-/tmp}/nb-$NB_TEST_NAME.XXXXXX")
	mkdir -p "$NB_LAB/pid" "$NB_LAB/log"
	: > "$NB_LAB/netns"
	NB_FAILED=0
	trap nb_cleanup EXIT
	trap 'exit 143' TERM
	trap 'exit 130' INT
	nb_log "lab in $NB_LAB"
}

# nb_cases CASE...: for a script made of independent cases (fixed
# namespace names, one topology each), called right after nb_sandbox.
# When $NB_CASE is unset it runs the script again once per CASE (or per
# word of $NB_CASES, to pick some), each in a fresh nested sandbox, all at
# once: most of a case's time is spent waiting for packets that must not
# arrive, and every exec costs ~10 ms on the 2-core test VM.  Each case's
# output is printed in order once it is done.  Exits 0 if all passed, 77
# if all skipped, 1 otherwise.  When $NB_CASE is set it returns and the
# script runs that case.  NB_CASE_SERIAL=1 runs them one after the other.
nb_cases() {
	[ -n "${NB_CASE:-}" ] && return 0
	local c i rc failed=0 passed=0
	local -a cases pids
	read -r -a cases <<< "${NB_CASES:-$*}"
	for i in "${!cases[@]}"; do
		c=${cases[$i]}
		env -u NB_IN_SANDBOX NB_CASE="$c" NB_TEST_NAME="$NB_TEST_NAME-$c" \
			bash "$0" > "$NB_LAB/case-$c.out" 2>&1 &
		pids[i]=$!
		[ -n "${NB_CASE_SERIAL:-}" ] && wait "${pids[i]}"
	done
	for i in "${!cases[@]}"; do
		c=${cases[$i]}
		wait "${pids[i]}"
		rc=$?
		nb_log "case $c: exit $rc"
		cat "$NB_LAB/case-$c.out"
		case $rc in
		0) passed=1 ;;
		77) ;;
		*) failed=1 ;;
		esac
	done
	[ "$failed" = 1 ] && exit 1
	[ "$passed" = 1 ] && exit 0
	exit 77
}

# nb_spawn NAME CMD... : runs CMD in the background with its output in
# $NB_LAB/log/NAME.log and its PID in $NB_LAB/pid/NAME.
nb_spawn() {
	local name=$1; shift
	"$@" >"$NB_LAB/log/$name.log" 2>&1 &
	echo $! > "$NB_LAB/pid/$name"
	echo "$name" >> "$NB_LAB/spawn-order"
}

nb_pid() { cat "$NB_LAB/pid/$1"; }

nb_alive() { [ -f "$NB_LAB/pid/$1" ] && kill -0 "$(nb_pid "$1")" 2>/dev/null; }

# nb_kill NAME [SIGNAL]: signals the process, waits up to 5 s, then SIGKILL.
nb_kill() {
	local name=$1 sig=${2:-TERM} pid
	[ -f "$NB_LAB/pid/$name" ] || return 0
	pid=$(nb_pid "$name")
	kill "-$sig" "$pid" 2>/dev/null || true
	if ! nb_wait_until 5 "" nb_pid_gone "$pid"; then
		kill -KILL "$pid" 2>/dev/null || true
		nb_wait_until 2 "" nb_pid_gone "$pid" || true
	fi
	wait "$pid" 2>/dev/null || true
	rm -f "$NB_LAB/pid/$name"
}

nb_pid_gone() { ! kill -0 "$1" 2>/dev/null; }

# nb_wait_until TIMEOUT_S DESCRIPTION CMD... : polls CMD every 20 ms until
# it succeeds.  Returns 1 (after logging DESCRIPTION, if any) on timeout.
nb_wait_until() {
	local timeout=$1 what=$2; shift 2
	# EPOCHREALTIME (bash 5, microseconds) instead of date(1): a fork per
	# poll is costly on a loaded 2-core VM (about 10 ms per exec).
	local deadline=$(( ${EPOCHREALTIME//[!0-9]/} + timeout * 1000000 ))
	while ! "$@" >/dev/null 2>&1; do
		if [ "${EPOCHREALTIME//[!0-9]/}" -ge "$deadline" ]; then
			[ -n "$what" ] && nb_log "timed out after ${timeout}s waiting for $what"
			return 1
		fi
		sleep 0.02
	done
}

# nb_netns_add NAME: a namespace with loopback up, removed in nb_cleanup.
nb_netns_add() {
	ip netns add "$1"
	echo "$1" >> "$NB_LAB/netns"
	ip -n "$1" link set lo up
	ip netns exec "$1" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
}

# Checks: each prints one line; nb_fail marks the test failed but lets it
# go on, nb_die stops it.
nb_ok() { echo "ok - $*"; }
nb_fail() { echo "FAIL - $*"; NB_FAILED=1; }
nb_die() { echo "FAIL - $*"; NB_FAILED=1; exit 1; }

# nb_check DESCRIPTION CMD...: runs CMD, records ok/FAIL.
nb_check() {
	local what=$1; shift
	if "$@"; then nb_ok "$what"; else nb_fail "$what"; fi
}

# nb_check_not DESCRIPTION CMD...: CMD must fail.
nb_check_not() {
	local what=$1; shift
	if "$@"; then nb_fail "$what"; else nb_ok "$what"; fi
}

# nb_on_cleanup FUNC: FUNC runs in nb_cleanup, before the processes that
# nb_spawn started are killed; hooks run in the reverse order of
# registration.
NB_CLEANUP_HOOKS=()
nb_on_cleanup() { NB_CLEANUP_HOOKS+=("$1"); }

nb_cleanup() {
	local rc=$? name ns i
	[ "$NB_FAILED" = 1 ] && [ "$rc" = 0 ] && rc=1
	trap - EXIT
	for ((i = ${#NB_CLEANUP_HOOKS[@]} - 1; i >= 0; i--)); do
		"${NB_CLEANUP_HOOKS[i]}" || true
	done
	if [ -f "$NB_LAB/spawn-order" ]; then
		for name in $(tac "$NB_LAB/spawn-order"); do nb_kill "$name"; done
	fi
	for ns in $(tac "$NB_LAB/netns"); do ip netns del "$ns" 2>/dev/null || true; done
	if [ "$rc" != 0 ]; then
		nb_log "failed (exit $rc); logs kept in $NB_LAB"
		for f in "$NB_LAB"/log/*.log; do
			[ -s "$f" ] || continue
			echo "----- tail of $f" >&2
			tail -n 40 "$f" >&2
		done
	elif [ -z "${NB_KEEP_LAB:-}" ]; then
		rm -rf "$NB_LAB"
	fi
	exit "$rc"
}
