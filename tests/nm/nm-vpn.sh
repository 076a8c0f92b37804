# shellcheck shell=bash
# shellcheck disable=SC2034,SC2119 # variables for the tests that source this; helpers take their defaults
# The suite `nm`'s common ground (sourced after harness.sh): the project's
# VPN service as NetworkManager runs it, against the real control plane.
#
#   hub 10.77.0.0/24
#   |- nm      10.77.0.11  NetworkManager (tests/lib/nm.sh) on a private
#   |                      bus; it starts nm-netbird-service, which runs the
#   |                      engine and wireguard-go: the VPN's tundev wt0
#   |- peer2   10.77.0.12  nb-engine "b" (interface wtb): the other peer
#   |- devnet  10.77.0.2   netbird-devnet serve (management, signal, relay)
#   '- turn    10.77.0.3   coturn (REST secret of devnet)
#
# What a test asserts comes from nmcli (NetworkManager's view), the kernel
# in NM's namespace (ip, ping), the service's D-Bus objects (busctl,
# gdbus, nm-netbird) and the process table of the sandbox.  Nothing here
# stands in for a component.
#
# The service's stderr is inherited from NetworkManager, so its log lines
# are in NM's log, $NB_LAB/log/nm.log.

. "$NB_LIB_DIR/net.sh"
. "$NB_LIB_DIR/turn.sh"
. "$NB_LIB_DIR/engine.sh"
. "$NB_LIB_DIR/nm.sh"

NB_SERVICE_BIN=${NB_SERVICE:-$NB_BUILD_ROOT/service/nm-netbird-service}
NB_STATUS_BIN=${NB_STATUS:-$NB_BUILD_ROOT/service/status-dbus/nm-netbird}
NB_VPN_NAME=org.freedesktop.NetworkManager.netbird
NB_VPN_ROOT=/org/freedesktop/NetworkManager/netbird
NB_VPN_IF=wt0
NB_VPN_CON=nb-vpn
NB_NM_LOG=${NB_LAB:-}/log/nm.log
NB_AS_NOBODY=(setpriv --reuid=65534 --regid=65534 --clear-groups)

# nb_vpn_require: skips unless the service, the status command and every
# program of engine.sh and nm.sh are here.
nb_vpn_require() {
	nb_engine_require
	nb_require_cmd nmcli NetworkManager gdbus busctl setpriv jq
	[ -x "$NB_SERVICE_BIN" ] || nb_skip "no nm-netbird-service at '$NB_SERVICE_BIN' (build the project first)"
	[ -x "$NB_STATUS_BIN" ] || nb_skip "no nm-netbird at '$NB_STATUS_BIN' (build the project first)"
	NB_NM_LOG=$NB_LAB/log/nm.log
	# The service keeps its identity under /var/lib/NetworkManager-netbird,
	# which NetworkManager's mount namespace does not redirect; NM passes
	# its environment on to the service it starts.
	export NM_NETBIRD_STATE_DIR=$NB_LAB/nm-netbird-state
	nb_on_cleanup _nb_vpn_dump_on_failure
}

_nb_vpn_dump_on_failure() {
	[ "$NB_FAILED" = 1 ] || return 0
	echo "----- nmcli connection show --active:" >&2
	nb_nmcli connection show --active >&2 2>&1
	echo "----- service / NetworkManager log lines about the VPN (last 80):" >&2
	grep -E 'nm-netbird|netbird|vpn|VPN' "$NB_NM_LOG" 2>/dev/null | tail -n 80 >&2
	return 0
}

# nb_vpn_lab [PEER_NAME]: devnet and coturn, the isolated NetworkManager in
# "nm", and the other peer: nb-engine PEER_NAME (default b) in "peer2",
# started and registered.
nb_vpn_lab() {
	local peer=${1:-b}
	nb_devnet_up || nb_die "devnet + coturn"
	nb_nm_start
	export NB_PEER2=peer2 NB_PEER2_ADDR=10.77.0.12
	nb_net_host "$NB_PEER2" "$NB_PEER2_ADDR" || nb_die "namespace $NB_PEER2"
	nb_engine_start "$peer" "$NB_PEER2"
	nb_engine_wait_started "$peer" || nb_die "peer $peer started"
}

# nb_vpn_data [KEY=VALUE...]: the vpn.data of a test connection: devnet's
# management URL, a hostname and debug logging, with KEY=VALUE added or
# replacing a default.
nb_vpn_data() {
	local -A d=([management-url]=$NB_MGMT_URL [hostname]=nm-peer [log-level]=debug)
	local kv k out=
	for kv in "$@"; do d[${kv%%=*}]=${kv#*=}; done
	for k in "${!d[@]}"; do out+="${out:+, }$k=${d[$k]}"; done
	echo "$out"
}

# nb_vpn_add NAME [SETUP_KEY] [KEY=VALUE...]: adds VPN connection NAME of
# type netbird (SETUP_KEY "" or absent: devnet's key).
nb_vpn_add() {
	local name=$1 key=${2:-}
	shift 2 2>/dev/null || shift
	[ -n "$key" ] || key=$(<"$NB_SETUP_KEY_FILE")
	nb_nmcli connection add type vpn vpn-type netbird con-name "$name" ifname '*' \
		connection.autoconnect no vpn.data "$(nb_vpn_data "$@")" \
		vpn.secrets "setup-key=$key" >/dev/null
}

# nb_vpn_up NAME [WAIT_S]: nmcli connection up; nmcli's output in
# NB_VPN_UP_OUT, its exit status in NB_VPN_UP_RC, the time it took in
# NB_VPN_UP_MS; returns that status.
nb_vpn_up() {
	local t0
	t0=$(now_ms)
	NB_VPN_UP_OUT=$(nb_nmcli --wait "${2:-60}" connection up "$1" 2>&1)
	NB_VPN_UP_RC=$?
	NB_VPN_UP_MS=$(( $(now_ms) - t0 ))
	nb_log "nmcli connection up $1: exit $NB_VPN_UP_RC after $NB_VPN_UP_MS ms: $NB_VPN_UP_OUT"
	return "$NB_VPN_UP_RC"
}

# nb_vpn_field NAME FIELD: one field of connection NAME (nmcli -g).
nb_vpn_field() { nb_nmcli -g "$2" connection show "$1" 2>/dev/null; }

# nb_vpn_state NAME: "5 - VPN connected" and the like (nmcli 1.42 shows
# VPN.VPN-STATE only in the full listing: -f/-g refuse the field).
nb_vpn_state() {
	nb_nmcli connection show "$1" 2>/dev/null | sed -n 's/^VPN\.VPN-STATE: *//p'
}

# nb_vpn_activated NAME: NAME is active and its VPN state is "connected".
nb_vpn_activated() {
	[ "$(nb_vpn_field "$1" GENERAL.STATE)" = activated ] &&
		[[ $(nb_vpn_state "$1") == *"VPN connected"* ]]
}

# nb_vpn_inactive NAME: NAME is not among the active connections.
nb_vpn_inactive() {
	! nb_nmcli -g NAME connection show --active | grep -qxF "$1"
}

# nb_vpn_ping IP [COUNT] [DEADLINE_S]: COUNT (3) pings from NM's namespace;
# all must be answered within DEADLINE_S (5).
nb_vpn_ping() {
	ip netns exec "$NB_NM_NS" ping -q -n -c "${2:-3}" -i 0.1 -w "${3:-5}" "$1" >/dev/null 2>&1
}

# nb_vpn_tundev_exists: wt0 exists in NM's namespace.
nb_vpn_tundev_exists() { ip -n "$NB_NM_NS" link show "$NB_VPN_IF" >/dev/null 2>&1; }

# nb_service_pids: PIDs of nm-netbird-service (the sandbox's PID namespace
# holds only what this test started).
nb_service_pids() {
	local p exe
	for p in /proc/[0-9]*; do
		exe=$(readlink "$p/exe" 2>/dev/null) || continue
		[ "${exe% (deleted)}" = "$NB_SERVICE_BIN" ] && echo "${p#/proc/}"
	done
	return 0
}

# nb_vpn_wg_pids: PIDs of a wireguard-go for the VPN's interface.
nb_vpn_wg_pids() {
	pgrep -f "wireguard-go.*[ =/]$NB_VPN_IF( |\$)" || true
}

# nb_vpn_nothing_left: no service process, no wireguard-go for wt0, no wt0.
nb_vpn_nothing_left() {
	[ -z "$(nb_service_pids)" ] && [ -z "$(nb_vpn_wg_pids)" ] && ! nb_vpn_tundev_exists
}

# nb_vpn_objects: the service's objects as busctl JSON (GetManagedObjects).
nb_vpn_objects() {
	busctl --system --json=short call "$NB_VPN_NAME" "$NB_VPN_ROOT" \
		org.freedesktop.DBus.ObjectManager GetManagedObjects 2>/dev/null
}

# nb_vpn_peer_path KEY: the object path of the peer with public key KEY.
nb_vpn_peer_path() {
	nb_vpn_objects | jq -r --arg k "$1" \
		'.data[0] | to_entries[] | select(.value["org.freedesktop.NetworkManager.netbird.Peer"].PublicKey.data == $k) | .key' |
		head -n 1 | grep .
}

# nb_vpn_peer_prop KEY PROPERTY: a property of KEY's peer object, read now.
nb_vpn_peer_prop() {
	nb_vpn_objects | jq -r --arg k "$1" --arg p "$2" \
		'.data[0][] | .["org.freedesktop.NetworkManager.netbird.Peer"] | select(. != null and .PublicKey.data == $k) | .[$p].data' |
		head -n 1 | grep .
}

# nb_vpn_peer_is KEY PROPERTY VALUE
nb_vpn_peer_is() { [ "$(nb_vpn_peer_prop "$1" "$2")" = "$3" ]; }

# nb_vpn_monitor_start ID: gdbus monitor of the service's name in the
# background (it waits for the name to appear); lines in log/mon-ID.log.
nb_vpn_monitor_start() {
	nb_spawn "mon-$1" gdbus monitor --system --dest "$NB_VPN_NAME"
}

# nb_service_log_has ERE: the NM log (service stderr included) has a line
# matching ERE.
nb_service_log_has() { grep -qE "$1" "$NB_NM_LOG"; }
