#!/bin/bash
# shellcheck disable=SC2317 # functions run through nb_check
# The plugin's D-Bus policy (data/nm-netbird-service.conf) on a private
# system bus with Debian's stock defaults (tests/lib/nm-dbus-system.conf.in,
# as nm.sh uses it, without NetworkManager): the status objects are
# readable by any local user, with gdbus and with nm-netbird, while Refresh
# and the name are root's.  status-exporter stands in for the service.
. "${NB_SOURCE_ROOT:-$(dirname "$0")/../..}/tests/lib/harness.sh"
nb_sandbox "$@"
nb_require_cmd dbus-daemon dbus-send gdbus setpriv

NB_BUILD_ROOT=${NB_BUILD_ROOT:-$NB_SOURCE_ROOT/build}
NB_DBUS_POLICY=${NB_DBUS_POLICY:-$NB_SOURCE_ROOT/data/nm-netbird-service.conf}
EXPORTER=$NB_BUILD_ROOT/tests/status/status-exporter
NM_NETBIRD=$NB_BUILD_ROOT/service/status-dbus/nm-netbird
NETBIRD=org.freedesktop.NetworkManager.netbird
ROOT=/org/freedesktop/NetworkManager/netbird
as_nobody=(setpriv --reuid=65534 --regid=65534 --clear-groups)

if ! [ -x "$EXPORTER" ] || ! [ -x "$NM_NETBIRD" ]; then
	nb_die "build status-exporter and nm-netbird first ($NB_BUILD_ROOT)"
fi

# --- a private system bus with the project's policy installed

bus_dir=$NB_LAB/dbus
[ "${#bus_dir}" -lt 80 ] || nb_die "lab path too long for a D-Bus socket: $bus_dir (set TMPDIR)"
mkdir -p "$bus_dir/system.d"
# uid 65534 must reach the socket; search permission only.
chmod 0711 "$NB_LAB" "$bus_dir"
conf=$(<"$NB_LIB_DIR/nm-dbus-system.conf.in")
printf '%s\n' "${conf//@NB_DBUS_DIR@/$bus_dir}" > "$bus_dir/system.conf"
install -o root -g root -m 0644 "$NB_DBUS_POLICY" "$bus_dir/system.d/nm-netbird-service.conf"
export DBUS_SYSTEM_BUS_ADDRESS=unix:path=$bus_dir/system_bus_socket
nb_spawn dbus dbus-daemon --config-file="$bus_dir/system.conf" --nofork --nopidfile
bus_up() { dbus-send --system --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus.GetId; }
nb_wait_until 10 "the private system bus" bus_up || nb_die "private system bus did not come up"

# --- before the service runs

not_running() {
	local out rc
	out=$("${as_nobody[@]}" "$NM_NETBIRD" status -d 2>&1)
	rc=$?
	if [ "$rc" != 1 ] || [ "$out" != "nm-netbird: the NetBird VPN service is not running (no $NETBIRD on the system bus)" ]; then
		echo "  exit $rc: $out"
		return 1
	fi
}
nb_check "nm-netbird says the service is not running (exit 1)" not_running

# --- the service (root) owns the name

nb_spawn exporter "$EXPORTER"
owned() { grep -qx "owned $NETBIRD" "$NB_LAB/log/exporter.log"; }
exporter_settled() { owned || ! nb_alive exporter; }
nb_wait_until 10 "status-exporter to own $NETBIRD" exporter_settled
owned || nb_die "status-exporter (root) did not get $NETBIRD: $(cat "$NB_LAB/log/exporter.log")"
nb_ok "root owns $NETBIRD"

# call [CMD-PREFIX...] -- OBJECT METHOD ARGS...: gdbus call on the service;
# prints the reply or the error.
call() {
	local -a prefix=()
	while [ "$1" != -- ]; do prefix+=("$1"); shift; done
	shift
	local object=$1 method=$2; shift 2
	"${prefix[@]}" gdbus call --system --dest "$NETBIRD" --object-path "$object" --method "$method" "$@" 2>&1
}

# expect PATTERN CMD...: CMD's output matches the glob PATTERN.
expect() {
	local pattern=$1 out; shift
	out=$("$@")
	# shellcheck disable=SC2053 # a glob on purpose
	[[ $out == $pattern ]] || { echo "  $out" | head -c 600; echo; return 1; }
}

nb_check "uid 65534 may GetManagedObjects: the peer object is there" \
	expect "*'$ROOT/peers/1': {'$NETBIRD.Peer': {*'PublicKey': <'AAAA*'ConnectionType': <'P2P'>*" \
	call "${as_nobody[@]}" -- "$ROOT" org.freedesktop.DBus.ObjectManager.GetManagedObjects
nb_check "uid 65534 may GetAll on the daemon object" \
	expect "*'ManagementConnected': <true>*'Interface': <'nb0'>*" \
	call "${as_nobody[@]}" -- "$ROOT/daemon" org.freedesktop.DBus.Properties.GetAll "$NETBIRD.Daemon"
nb_check "uid 65534 may Get a peer property" \
	expect "(<'Connected'>,)" \
	call "${as_nobody[@]}" -- "$ROOT/peers/1" org.freedesktop.DBus.Properties.Get "$NETBIRD.Peer" Status
nb_check "uid 65534 may Introspect" \
	expect "*<method name=\"Refresh\"*" \
	call "${as_nobody[@]}" -- "$ROOT/daemon" org.freedesktop.DBus.Introspectable.Introspect

refresh_denied() {
	expect "*AccessDenied*" call "${as_nobody[@]}" -- "$ROOT/daemon" "$NETBIRD.Daemon.Refresh"
}
nb_check "uid 65534 may not call Refresh (AccessDenied by the bus)" refresh_denied
nb_check "uid 65534 may not Set a property" \
	expect "*AccessDenied*" \
	call "${as_nobody[@]}" -- "$ROOT/daemon" org.freedesktop.DBus.Properties.Set "$NETBIRD.Daemon" Interface "<'x'>"
# RequestName with flag 4 (DO_NOT_QUEUE); the bus refuses by policy
# before it looks at the current owner.
request_name() {
	"${as_nobody[@]}" gdbus call --system --dest org.freedesktop.DBus --object-path /org/freedesktop/DBus \
		--method org.freedesktop.DBus.RequestName "$NETBIRD" 4 2>&1
}
nb_check "uid 65534 may not own $NETBIRD" \
	expect "*AccessDenied*not allowed to own the service \"$NETBIRD\"*" request_name

nb_check "nm-netbird status -d as uid 65534 shows the peer, P2P" \
	expect "Peers detail:*peer-a.netbird.cloud:*Connection type: P2P*Management: Connected to https://mgmt.example:443*Peers count: 1/1 Connected" \
	"${as_nobody[@]}" "$NM_NETBIRD" status -d
nb_check "nm-netbird status as uid 65534" \
	expect "Management: Connected*NetBird IP: 100.64.0.1/16*Peers count: 1/1 Connected" \
	"${as_nobody[@]}" "$NM_NETBIRD" status

# The exporter prints "refresh" for each call that reached it; so far none.
n_refresh() { grep -cx refresh "$NB_LAB/log/exporter.log"; }
nb_check "no Refresh reached the service from uid 65534" test "$(n_refresh)" = 0
nb_check "root may call Refresh" expect "()" call -- "$ROOT/daemon" "$NETBIRD.Daemon.Refresh"
refreshed() { [ "$(n_refresh)" = 1 ]; }
nb_check "... and the service got it (refresh-requested)" nb_wait_until 5 "" refreshed

exit 0
