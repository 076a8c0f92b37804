#!/bin/bash
# shellcheck source-path=SCRIPTDIR/../lib
# shellcheck disable=SC2317,SC2016,SC2119 # functions and eval strings run through nb_check; helpers take their defaults
# The service dies (kill -9, no chance to clean up): NetworkManager must
# notice that its VPN service left the bus and mark the VPN down, and the
# tundev must vanish with it: wireguard-go must not outlive the service
# (nor keep wt0 and its UAPI socket).  The other peer is unaffected, and
# the VPN can be brought up again.
. "${NB_SOURCE_ROOT:-$(dirname "$0")/../..}/tests/lib/harness.sh"
. "$(dirname "$0")/nm-vpn.sh"
nb_sandbox "$@"
nb_vpn_require

nb_vpn_lab b
ip_b=$(nb_engine_ip b)
nb_vpn_add "$NB_VPN_CON" || nb_die "add the VPN connection"
nb_vpn_up "$NB_VPN_CON" 60 || nb_die "nmcli connection up"
nb_check "ping b through the tunnel" nb_wait_until 20 "ping b" nb_vpn_ping "$ip_b" 3

pid=$(nb_service_pids)
if [ -z "$pid" ] || [ "$(wc -w <<< "$pid")" != 1 ]; then
	nb_die "one nm-netbird-service process (got '$pid')"
fi
nb_log "service pid $pid, wireguard-go $(nb_vpn_wg_pids | tr '\n' ' ')"

nm_lines=$(wc -l < "$NB_NM_LOG")
t0=$(now_ms)
kill -KILL "$pid"
nb_check "NetworkManager marks the VPN down" \
	nb_wait_until 20 "the VPN to be deactivated" nb_vpn_inactive "$NB_VPN_CON"
nb_log "kill -9 -> VPN inactive in NetworkManager: $(( $(now_ms) - t0 )) ms"
nb_check "the tundev wt0 vanishes" nb_wait_until 20 "wt0 to vanish" eval '! nb_vpn_tundev_exists'
nb_log "kill -9 -> wt0 gone: $(( $(now_ms) - t0 )) ms"
nb_check "no wireguard-go for wt0 is left" nb_wait_until 10 "wireguard-go to exit" eval '[ -z "$(nb_vpn_wg_pids)" ]'
nb_check "no UAPI socket for wt0 is left" nb_wait_until 5 "" test ! -e "/run/wireguard/$NB_VPN_IF.sock"
tail -n +"$((nm_lines + 1))" "$NB_NM_LOG" | grep -E 'vpn\[.*\]: set state:|device \(wt0\)' |
	sed 's/^.*\(vpn\[\|device (wt0)\)/\1/; s/^/# NM log: /'
nb_check "no route through wt0 is left in NM's namespace" \
	eval '! ip -n "$NB_NM_NS" route show | grep -q "dev $NB_VPN_IF"'
nb_check "the base connection is still activated" \
	eval 'nb_nmcli -t -f NAME,STATE connection show --active | grep -qx "nb-base:activated"'

# NetworkManager starts a fresh service on the next up.
nb_check "the VPN comes up again" nb_vpn_up "$NB_VPN_CON" 60
nb_check "... with a new service process" eval '[ -n "$(nb_service_pids)" ] && [ "$(nb_service_pids)" != "$pid" ]'
nb_check "... and b answers pings again" nb_wait_until 30 "ping b" nb_vpn_ping "$ip_b" 3

exit 0
