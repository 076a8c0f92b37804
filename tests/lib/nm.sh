# shellcheck shell=bash
# A real NetworkManager, isolated for one test (needs harness.sh, net.sh).
#
# nb_nm_start puts NetworkManager in its own network namespace on the hub,
# on a private system bus, in a private mount namespace where its
# configuration, state and VPN plugin directories are directories of the
# lab.  The project's VPN plugin is registered the way a package would
# register it: its .name file in /usr/lib/NetworkManager/VPN and its D-Bus
# policy in the bus's system.d, both as NetworkManager sees them.
#
# One NetworkManager per test.  After nb_nm_start the test has:
#   DBUS_SYSTEM_BUS_ADDRESS  the private bus (exported: NM's clients, the
#                            VPN service NM starts, gdbus/busctl all use it)
#   NB_NM_NS                 NetworkManager's network namespace
#   NB_NM_LAB                the lab directory of this NetworkManager
#   NB_NM_VPN_DIR            the lab directory NM sees as /usr/lib/NetworkManager/VPN
#   NB_NM_VPN_SERVICE        the D-Bus name from the installed .name file
#   nb_nmcli ARGS...         nmcli on the private bus
#   nb_nm_exec CMD...        CMD in NetworkManager's netns and mount namespace
#   nb_nm_stop               stops NetworkManager (nb_cleanup does it too)
#
# Inputs (environment; meson sets them, defaults for running by hand):
#   NB_SOURCE_ROOT  source tree (default: two levels above this file)
#   NB_BUILD_ROOT   build tree (default: $NB_SOURCE_ROOT/build)
#   NB_NAME_FILE    the .name file to install (default: generated from
#                   data/nm-netbird-service.name.in with program= in the
#                   build tree)
#   NB_DBUS_POLICY  the plugin's D-Bus policy (default: data/nm-netbird-service.conf)

NB_SOURCE_ROOT=${NB_SOURCE_ROOT:-$(cd "$NB_LIB_DIR/../.." && pwd)}
NB_BUILD_ROOT=${NB_BUILD_ROOT:-$NB_SOURCE_ROOT/build}
NB_DBUS_POLICY=${NB_DBUS_POLICY:-$NB_SOURCE_ROOT/data/nm-netbird-service.conf}
NB_NAME_FILE=${NB_NAME_FILE:-}

# Runs as "sh -c" between "unshare" and NetworkManager, inside NM's new
# mount namespace, so none of these mounts is seen by the test or the host.
# $1 is the lab directory, $2 the one for /etc/resolv.conf (or empty).
# shellcheck disable=SC2016
_NB_NM_MOUNTS='
set -e
lab=$1
# With a writable /sys NetworkManager waits for udev to announce every link
# and never completes startup; there is no udevd here, and one must not be
# started because it would act on the host devices (lab F1).  This only
# changes the flag of this mount namespace.
mount -o remount,bind,ro /sys
mount --bind "$lab/etc-nm" /etc/NetworkManager
mount --bind "$lab/run-nm" /run/NetworkManager
mount --bind "$lab/varlib-nm" /var/lib/NetworkManager
# NM reads .name files only from compiled-in directories; nothing
# redirects the daemon, so the directory itself is replaced.
mount --bind "$lab/usrlib-vpn" /usr/lib/NetworkManager/VPN
if [ -n "$2" ]; then mount --bind "$lab/resolv.conf" "$2"; fi
exec NetworkManager --debug --system-config-dir="$lab/usrlib-conf.d"
'

_nb_nm_bus_probe() {
	dbus-send --bus="$1" --print-reply --dest=org.freedesktop.DBus \
		/org/freedesktop/DBus org.freedesktop.DBus.GetId
}

# True once the bus answers, or once dbus-daemon is dead (no point waiting).
_nb_nm_bus_up_or_dead() { ! nb_alive nm-dbus || _nb_nm_bus_probe "$1"; }

_nb_nm_online_or_dead() { nb_pid_gone "$1" || ! nb_alive nm; }

# Installs the plugin's .name as NetworkManager's VPN directory holds it.
# NM skips a .name file that is not owned by root or is group/other
# writable, so ownership and mode are set, not copied.
_nb_nm_install_name_file() {
	local dest=$1 tpl
	if [ -n "$NB_NAME_FILE" ]; then
		[ -f "$NB_NAME_FILE" ] || nb_die "NB_NAME_FILE=$NB_NAME_FILE does not exist"
		install -o root -g root -m 0644 "$NB_NAME_FILE" "$dest"
	else
		[ -f "$NB_SOURCE_ROOT/data/nm-netbird-service.name.in" ] ||
			nb_die "no NB_NAME_FILE and no $NB_SOURCE_ROOT/data/nm-netbird-service.name.in"
		tpl=$(<"$NB_SOURCE_ROOT/data/nm-netbird-service.name.in")
		printf '%s\n' "${tpl//@SERVICE_PROGRAM@/$NB_BUILD_ROOT/service/nm-netbird-service}" > "$dest.tmp"
		install -o root -g root -m 0644 "$dest.tmp" "$dest"
		rm -f "$dest.tmp"
	fi
}

# nb_nm_start [NS=nm] [ADDR=10.77.0.11]
nb_nm_start() {
	local ns=${1:-nm} addr=${2:-10.77.0.11}
	local lab=$NB_LAB/nm
	local bus_dir=$lab/dbus
	local bus=unix:path=$lab/dbus/system_bus_socket
	local conf online resolv=

	nb_require_cmd NetworkManager nmcli nm-online dbus-daemon dbus-send nsenter
	[ -z "${NB_NM_NS:-}" ] || nb_die "nb_nm_start: NetworkManager already runs in $NB_NM_NS"
	[ -f "$NB_DBUS_POLICY" ] || nb_die "NB_DBUS_POLICY=$NB_DBUS_POLICY does not exist"
	# sun_path holds 108 bytes; a long TMPDIR would make bind() fail
	# with a message that does not say why.
	[ "${#bus_dir}" -lt 80 ] || nb_die "lab path too long for a D-Bus socket: $bus_dir (set TMPDIR)"

	mkdir -p "$bus_dir/system.d" "$lab/run-nm" "$lab/varlib-nm" "$lab/usrlib-vpn" \
		"$lab/usrlib-conf.d" "$lab/etc-nm/conf.d" "$lab/etc-nm/system-connections" \
		"$lab/etc-nm/VPN" "$lab/etc-nm/dispatcher.d"
	# Clients that are not root (policy checks, a GUI) must reach the bus
	# socket; mktemp made the lab 0700.  Search permission only: the lab's
	# listings stay private.
	chmod 0711 "$NB_LAB" "$lab" "$bus_dir"

	conf=$(<"$NB_LIB_DIR/nm-dbus-system.conf.in")
	printf '%s\n' "${conf//@NB_DBUS_DIR@/$bus_dir}" > "$bus_dir/system.conf"
	install -o root -g root -m 0644 "$NB_DBUS_POLICY" "$bus_dir/system.d/nm-netbird-service.conf"
	install -m 0644 "$NB_LIB_DIR/nm-NetworkManager.conf" "$lab/etc-nm/NetworkManager.conf"
	_nb_nm_install_name_file "$lab/usrlib-vpn/nm-netbird-service.name"
	NB_NM_VPN_SERVICE=$(sed -n 's/^service=//p' "$lab/usrlib-vpn/nm-netbird-service.name")
	# dns=none already keeps NM away from resolv.conf; the empty copy also
	# keeps whatever NM starts (the VPN service) from sending DNS queries to
	# the host's resolver: without a nameserver line libc asks 127.0.0.1.
	if [ -f /etc/resolv.conf ]; then
		echo "# resolv.conf of the test's NetworkManager (tests/lib/nm.sh)" > "$lab/resolv.conf"
		resolv=/etc/resolv.conf
	fi

	nb_netns_add "$ns"
	nb_net_attach "$ns" "" eth0

	# In NM's netns only for tidiness: the path socket works from anywhere.
	nb_spawn nm-dbus ip netns exec "$ns" \
		dbus-daemon --config-file="$bus_dir/system.conf" --nofork --nopidfile
	nb_wait_until 10 "the private system bus" _nb_nm_bus_up_or_dead "$bus"
	_nb_nm_bus_probe "$bus" >/dev/null 2>&1 || nb_die "private system bus did not come up"

	export DBUS_SYSTEM_BUS_ADDRESS=$bus
	# The VPN service NM starts inherits NM's environment: its per-connection
	# state (WireGuard identity) goes to the lab, never to the host's
	# /var/lib/NetworkManager-netbird.
	export NM_NETBIRD_STATE_DIR=${NM_NETBIRD_STATE_DIR:-$lab/netbird-state}
	# ip netns exec and unshare exec (no fork), and the mount script ends in
	# exec, so the PID nb_spawn records is NetworkManager's.
	nb_spawn nm ip netns exec "$ns" unshare --mount --uts --propagation private \
		sh -c "$_NB_NM_MOUNTS" nb-nm-mounts "$lab" "$resolv"
	# nm-online returns at "startup complete".  In the background so that
	# an NM that dies at once (a failed mount, a bad config) is reported
	# now rather than after nm-online's 30 s.
	nm-online -s -q -t 30 &
	online=$!
	nb_wait_until 35 "" _nb_nm_online_or_dead "$online"
	if ! nb_alive nm; then
		kill "$online" 2>/dev/null
		wait "$online" 2>/dev/null
		nb_die "NetworkManager exited during startup (see log/nm.log)"
	fi
	wait "$online" || nb_die "NetworkManager did not complete startup within 30 s"

	NB_NM_NS=$ns
	NB_NM_LAB=$lab
	NB_NM_VPN_DIR=$lab/usrlib-vpn
	export NB_NM_NS NB_NM_LAB NB_NM_VPN_DIR NB_NM_VPN_SERVICE

	# A VPN is only activated on top of an active base connection with a
	# default route.  Activated explicitly rather than by autoconnect so
	# the moment it is up is the moment nmcli returns.
	nb_nmcli connection add type ethernet ifname eth0 con-name nb-base \
		connection.autoconnect no \
		ipv4.method manual ipv4.addresses "$addr/24" ipv4.gateway "$NB_NET_GW" \
		ipv6.method disabled >/dev/null || nb_die "cannot add the base connection"
	nb_nmcli --wait 20 connection up nb-base >/dev/null || nb_die "base connection nb-base did not activate"
}

# nmcli resolves a short vpn-type (netbird) through .name files it can see;
# the plugin's lives only in NM's mount namespace (lab F3).
nb_nmcli() { NM_VPN_PLUGIN_DIR="$NB_NM_VPN_DIR" nmcli "$@"; }

# nb_nm_exec CMD...: CMD sees what NetworkManager (and the VPN service it
# starts) sees: its links and routes, its /etc/NetworkManager, its
# /usr/lib/NetworkManager/VPN.  Runs in the caller's directory.
nb_nm_exec() {
	nsenter --target "$(nb_pid nm)" --mount --net --uts --wd="$PWD" -- "$@"
}

# Prints the PIDs that share NetworkManager's mount namespace, except NM:
# what NM started (the VPN service, and what that runs), and nothing else,
# since the namespace is NM's own.  NM spawns the VPN service detached
# (its parent is PID 1 at once), so parentage would miss it.
_nb_nm_started_procs() {
	local nm_pid=$1 mnt p
	mnt=$(readlink "/proc/$nm_pid/ns/mnt") || return 0
	for p in /proc/[0-9]*; do
		p=${p#/proc/}
		[ "$p" != "$nm_pid" ] || continue
		[ "$(readlink "/proc/$p/ns/mnt" 2>/dev/null)" = "$mnt" ] && echo "$p"
	done
}

# nb_nm_stop: stops NetworkManager with SIGTERM, as an init system would,
# and returns its exit status (0 for a clean stop).  What NM started gets
# time to quit by itself first: a VPN service watches NetworkManager's name
# on the bus and shuts down when it goes, so this must happen while the bus
# is still up.
nb_nm_stop() {
	local pid procs p rc
	nb_alive nm || return 0
	pid=$(nb_pid nm)
	procs=$(_nb_nm_started_procs "$pid")
	kill -TERM "$pid"
	if ! nb_wait_until 10 "NetworkManager to exit" nb_pid_gone "$pid"; then
		kill -KILL "$pid" 2>/dev/null
		nb_wait_until 2 "" nb_pid_gone "$pid"
	fi
	wait "$pid" 2>/dev/null
	rc=$?
	rm -f "$NB_LAB/pid/nm"
	[ "$rc" = 0 ] || nb_log "NetworkManager exited with status $rc"
	for p in $procs; do
		nb_wait_until 5 "$(tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null)(pid $p, started by NetworkManager) to exit" \
			nb_pid_gone "$p" && continue
		kill -TERM "$p" 2>/dev/null
		nb_wait_until 2 "" nb_pid_gone "$p" || kill -KILL "$p" 2>/dev/null
	done
	return "$rc"
}

# NetworkManager stops before what nb_spawn started is killed (dbus-daemon
# last), so the VPN service it started can still quit over the bus.
nb_on_cleanup nb_nm_stop

# nb_nm_vpn_service_loaded [SERVICE]: true (0) if the NetworkManager daemon
# has a VPN plugin registered for SERVICE (default: the one of our .name),
# 1 if it has none, 2 if the probe itself went wrong.
#
# NM neither logs the .name files it reads at startup nor lists them on
# D-Bus; only activating a VPN profile shows whether it knows the service.
# To learn that without running the service's program, nm-vpn-probe.py
# holds SERVICE on the bus first: NM then talks to the holder instead of
# starting the program.  Known service: NM calls the probe's VPN plugin
# interface.  Unknown: activation fails with "... was not installed.".
# The probe needs a bus policy that lets root own SERVICE.
nb_nm_vpn_service_loaded() {
	local service=${1:-$NB_NM_VPN_SERVICE} out rc
	local probe=nm-vpn-probe-$service
	local log=$NB_LAB/log/$probe.log
	nb_spawn "$probe" /usr/bin/python3 "$NB_LIB_DIR/nm-vpn-probe.py" "$service"
	nb_wait_until 10 "nm-vpn-probe.py to own $service" _nb_nm_probe_settled "$probe" "$service"
	if ! grep -qxF "owned $service" "$log"; then
		nb_log "nb_nm_vpn_service_loaded: the probe did not get $service: $(cat "$log")"
		nb_kill "$probe"
		return 2
	fi
	if ! nb_nmcli connection add type vpn con-name nb-probe ifname '*' \
		connection.autoconnect no vpn.service-type "$service" vpn.data probe=1 \
		ipv4.never-default yes ipv6.method disabled >/dev/null; then
		nb_kill "$probe"
		return 2
	fi
	out=$(nb_nmcli --wait 10 connection up nb-probe 2>&1)
	if grep -q '^call org\.freedesktop\.NetworkManager\.VPN\.Plugin\.' "$log"; then
		rc=0
	elif [[ $out == *"'$service' was not installed"* ]]; then
		rc=1
	else
		nb_log "nb_nm_vpn_service_loaded: unexpected answer: $out"
		rc=2
	fi
	nb_kill "$probe"
	nb_nmcli connection delete nb-probe >/dev/null 2>&1
	return "$rc"
}

# The probe owns its name, was refused it, or died.
_nb_nm_probe_settled() {
	local log=$NB_LAB/log/$1.log
	grep -qxF "owned $2" "$log" || grep -q '^refused' "$log" || ! nb_alive "$1"
}
