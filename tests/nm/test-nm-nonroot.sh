#!/bin/bash
# shellcheck source-path=SCRIPTDIR/../lib
# shellcheck disable=SC2317,SC2016,SC2119 # functions and eval strings run through nb_check; helpers take their defaults
# The real service's bus policy (data/nm-netbird-service.conf) with
# NetworkManager running it: a user who is not root (uid 65534) can read
# the status, with `nm-netbird status` and with plain D-Bus reads, but a
# call of the Daemon's Refresh method is refused by the bus, as are
# property writes; root may call Refresh.
. "${NB_SOURCE_ROOT:-$(dirname "$0")/../..}/tests/lib/harness.sh"
. "$(dirname "$0")/nm-vpn.sh"
nb_sandbox "$@"
nb_vpn_require

nb_vpn_lab b
ip_b=$(nb_engine_ip b)
nb_vpn_add "$NB_VPN_CON" || nb_die "add the VPN connection"
nb_vpn_up "$NB_VPN_CON" 60 || nb_die "nmcli connection up"
nb_check "b is Connected on D-Bus" \
	nb_wait_until 30 "b Connected" nb_vpn_peer_is "$(nb_engine_key b)" Status Connected

# The binary must be reachable for uid 65534 (a build tree under a 0700
# directory would make this test fail for the wrong reason).
"${NB_AS_NOBODY[@]}" test -x "$NB_STATUS_BIN" ||
	nb_skip "uid 65534 cannot run $NB_STATUS_BIN (a parent directory is not searchable)"

out=$("${NB_AS_NOBODY[@]}" "$NB_STATUS_BIN" status -d 2>&1)
rc=$?
printf '%s\n' "$out" | sed 's/^/# uid 65534: nm-netbird status -d: /'
nb_check "uid 65534: nm-netbird status -d exits 0" test "$rc" = 0
nb_check "uid 65534: ... and shows peer b ($ip_b) Connected" \
	eval '[[ $out == *"NetBird IP: $ip_b"* && $out == *"Status: Connected"* && $out == *"Peers count: 1/1 Connected"* ]]'

call() {
	local object=$1 method=$2; shift 2
	"${NB_AS_NOBODY[@]}" gdbus call --system --dest "$NB_VPN_NAME" --object-path "$object" --method "$method" "$@" 2>&1
}
out=$(call "$NB_VPN_ROOT/daemon" org.freedesktop.DBus.Properties.Get "$NB_VPN_NAME.Daemon" Interface)
nb_check "uid 65534: Get Daemon.Interface = wt0 ($out)" test "$out" = "(<'wt0'>,)"
out=$(call "$NB_VPN_ROOT" org.freedesktop.DBus.ObjectManager.GetManagedObjects)
nb_check "uid 65534: GetManagedObjects lists b's object" eval '[[ $out == *"$(nb_engine_key b)"* ]]'

refreshes() { grep -ciE 'refresh' "$NB_NM_LOG"; }
n0=$(refreshes)
out=$(call "$NB_VPN_ROOT/daemon" "$NB_VPN_NAME.Daemon.Refresh")
nb_log "uid 65534 Refresh: $out"
nb_check "uid 65534: calling Refresh is refused (AccessDenied)" eval '[[ $out == *AccessDenied* ]]'
out=$(call "$NB_VPN_ROOT/daemon" org.freedesktop.DBus.Properties.Set "$NB_VPN_NAME.Daemon" Interface "<'x'>")
nb_check "uid 65534: setting a property is refused (AccessDenied)" eval '[[ $out == *AccessDenied* ]]'
out=$(call /org/freedesktop/NetworkManager/VPN/Plugin org.freedesktop.NetworkManager.VPN.Plugin.Disconnect)
nb_log "uid 65534 VPN.Plugin.Disconnect: $out"
nb_check "uid 65534: calling the VPN plugin's Disconnect is refused (AccessDenied)" eval '[[ $out == *AccessDenied* ]]'
nb_check "... and the VPN is still up" nb_vpn_activated "$NB_VPN_CON"
nb_check "... and b still answers pings" nb_vpn_ping "$ip_b" 3
nb_check "... and no Refresh reached the service (no log line about it)" test "$(refreshes)" = "$n0"

out=$(gdbus call --system --dest "$NB_VPN_NAME" --object-path "$NB_VPN_ROOT/daemon" --method "$NB_VPN_NAME.Daemon.Refresh" 2>&1)
nb_check "root: Refresh returns () ($out)" test "$out" = "()"
nb_log "service log lines naming refresh: $(grep -iE 'refresh' "$NB_NM_LOG" | tail -n 2 | tr '\n' '|')"
nb_check "... and it reached the service (it logged it)" nb_wait_until 5 "" eval '[ "$(refreshes)" -gt "$n0" ]'
nb_check "... the VPN is still up after it" nb_vpn_activated "$NB_VPN_CON"
nb_check "... and b answers pings" nb_wait_until 20 "ping b" nb_vpn_ping "$ip_b" 3

exit 0
