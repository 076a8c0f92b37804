#!/bin/bash
# shellcheck disable=SC2317,SC2119 # functions run through nb_check; nb_nm_start takes its defaults
# Self-test of tests/lib/nm.sh: a real NetworkManager comes up isolated on
# the hub, on its private bus, with the project's VPN plugin registered and
# its D-Bus policy in force, and leaves the host's NetworkManager state alone.
. "${NB_SOURCE_ROOT:-$(dirname "$0")/../..}/tests/lib/harness.sh"
. "$NB_LIB_DIR/net.sh"
. "$NB_LIB_DIR/nm.sh"
nb_sandbox "$@"
nb_require_cmd gdbus setpriv

NETBIRD=org.freedesktop.NetworkManager.netbird

# What a NetworkManager that escaped its mount namespace would change.  This
# shell shares the host's view of these paths (only NM's namespace has the
# bind mounts), so comparing before/after is a check on the host itself.
host_state() {
	find /etc/NetworkManager /var/lib/NetworkManager /usr/lib/NetworkManager \
		-printf '%p %y %m %U:%G %s %T@\n' 2>&1 | sort
	md5sum /etc/resolv.conf /etc/hostname 2>&1
}
host_before=$(host_state)
host_unchanged() {
	local host_after
	host_after=$(host_state)
	[ "$host_before" = "$host_after" ] && return 0
	diff <(echo "$host_before") <(echo "$host_after") | sed 's/^/  /'
	return 1
}

t0=$(date +%s%N)
nb_nm_start
nb_log "nb_nm_start took $(( ($(date +%s%N) - t0) / 1000000 )) ms"

# --- NetworkManager answers on the private bus and is connected

private_bus_only() {
	[[ $DBUS_SYSTEM_BUS_ADDRESS == "unix:path=$NB_LAB/"* ]] || { echo "  $DBUS_SYSTEM_BUS_ADDRESS"; return 1; }
	# the host's bus socket is under the host's /run, which the sandbox hides
	! [ -e /run/dbus/system_bus_socket ]
}
nb_check "clients use the lab's bus; the host's is out of reach" private_bus_only

general_connected() {
	local state
	state=$(nb_nmcli -t -f STATE general status) || return 1
	[ "$state" = connected ] || { echo "  state: $state"; return 1; }
}
nb_check "nmcli general status answers: connected" general_connected

base_active() {
	nb_nmcli -t -f NAME,DEVICE,STATE connection show --active | grep -qx 'nb-base:eth0:activated'
}
nb_check "nb-base is activated on eth0" base_active

nb_check "eth0 in netns nm has 10.77.0.11/24 (ip -n nm)" \
	eval "ip -n nm -4 -o addr show dev eth0 | grep -q ' inet 10.77.0.11/24 '"
nb_check "default route via the hub's dead-end next hop" \
	eval "ip -n nm route show default | grep -q '^default via 10.77.0.254 dev eth0 proto static'"
nb_check "nb_nm_exec runs in NM's netns" \
	eval "nb_nm_exec ip -4 -o addr show dev eth0 | grep -q ' inet 10.77.0.11/24 '"
nb_check "NetworkManager sees /sys read-only (else startup hangs on udev)" \
	eval "nb_nm_exec findmnt -n -o OPTIONS /sys | grep -q '^ro,'"

# --- the VPN plugin is registered

name_file_ok() {
	local st
	st=$(nb_nm_exec stat -c '%U:%G %a' /usr/lib/NetworkManager/VPN/nm-netbird-service.name) || return 1
	[ "$st" = "root:root 644" ] || { echo "  $st"; return 1; }
	nb_nm_exec grep -qx "service=$NETBIRD" /usr/lib/NetworkManager/VPN/nm-netbird-service.name
}
nb_check "NM's /usr/lib/NetworkManager/VPN holds our .name, root:root 0644" name_file_ok
nb_check "the .name names service $NETBIRD" test "$NB_NM_VPN_SERVICE" = "$NETBIRD"
nb_check "NetworkManager has a VPN plugin for $NETBIRD" nb_nm_vpn_service_loaded "$NETBIRD"
# The probe above is only worth something if it can also say no (1, not
# 2 for a probe that went wrong).
service_unknown() {
	local rc
	nb_nm_vpn_service_loaded "$1"
	rc=$?
	[ "$rc" = 1 ] || { echo "  nb_nm_vpn_service_loaded returned $rc"; return 1; }
}
nb_check "... and none for a service no .name file declares" service_unknown "$NETBIRD.absent"

short_type_resolves() {
	local st
	nb_nmcli connection add type vpn vpn-type netbird con-name nb-short ifname '*' \
		connection.autoconnect no vpn.data probe=1 >/dev/null || return 1
	st=$(nb_nmcli -g vpn.service-type connection show nb-short)
	nb_nmcli connection delete nb-short >/dev/null
	[ "$st" = "$NETBIRD" ] || { echo "  service-type: $st"; return 1; }
}
nb_check "nb_nmcli resolves vpn-type netbird to $NETBIRD" short_type_resolves

# --- the plugin's D-Bus policy is in force on the private bus

# request_name NAME [CMD-PREFIX...]: RequestName with GIO (which follows
# DBUS_SYSTEM_BUS_ADDRESS); prints the reply or the error.  The connection
# closes right after, which releases the name again.
request_name() {
	local name=$1; shift
	"$@" gdbus call --system --dest org.freedesktop.DBus --object-path /org/freedesktop/DBus \
		--method org.freedesktop.DBus.RequestName "$name" 0 2>&1
}
as_nobody=(setpriv --reuid=65534 --regid=65534 --clear-groups)

may_own() {
	local out
	out=$(request_name "$@")
	[ "$out" = "(uint32 1,)" ] || { echo "  $out"; return 1; }
}
# Refused by the bus policy: not merely failing (an unreachable socket
# would fail too).
refused_own() {
	local name=$1 out
	out=$(request_name "$@")
	[[ $out == *AccessDenied*"not allowed to own the service \"$name\""* ]] || { echo "  $out"; return 1; }
}

nb_check "root may own $NETBIRD" may_own "$NETBIRD"
nb_check "root may own names under it (own_prefix)" may_own "$NETBIRD.Sub"
# Debian's default policy is really in force: root gets no other name.
nb_check "root may not own an unrelated name" refused_own org.example.NbSelftest
nb_check "uid 65534 may not own $NETBIRD" refused_own "$NETBIRD" "${as_nobody[@]}"
nb_check "uid 65534 may not own names under it" refused_own "$NETBIRD.Sub" "${as_nobody[@]}"

# --- isolation: NM's profiles went to the lab; nothing of the host changed

nb_check "the nb-base profile is in NM's /etc/NetworkManager" \
	nb_nm_exec test -f /etc/NetworkManager/system-connections/nb-base.nmconnection
nb_check "... which is the lab's directory" \
	test -f "$NB_NM_LAB/etc-nm/system-connections/nb-base.nmconnection"
nb_check_not "... and not the host's" \
	test -e /etc/NetworkManager/system-connections/nb-base.nmconnection

# Stopped here, not in cleanup, so what NM writes on its way out counts.
nb_check "NetworkManager stops cleanly on SIGTERM (exit 0)" nb_nm_stop
nb_check_not "no NetworkManager process is left" pgrep -x NetworkManager
nb_check "host /etc, /var/lib, /usr/lib NetworkManager, resolv.conf, hostname unchanged" host_unchanged

exit 0
