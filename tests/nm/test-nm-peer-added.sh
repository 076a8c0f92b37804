#!/bin/bash
# shellcheck source-path=SCRIPTDIR/../lib
# shellcheck disable=SC2317,SC2016,SC2119 # functions and eval strings run through nb_check; helpers take their defaults
# A peer that joins the network while the VPN is up reaches us through
# management's next network map: it must get a status object (announced
# with InterfacesAdded), show up in `nm-netbird status`, and answer pings
# through the tunnel, all without the VPN being reconnected: the same
# active connection object, the same service process, the same wt0, and
# NetworkManager never asked the service to connect again.
. "${NB_SOURCE_ROOT:-$(dirname "$0")/../..}/tests/lib/harness.sh"
. "$(dirname "$0")/nm-vpn.sh"
nb_sandbox "$@"
nb_vpn_require

nb_vpn_lab b
nb_vpn_monitor_start objects
nb_vpn_add "$NB_VPN_CON" || nb_die "add the VPN connection"
nb_vpn_up "$NB_VPN_CON" 60 || nb_die "nmcli connection up"
nb_check "ping b through the tunnel" nb_wait_until 20 "ping b" nb_vpn_ping "$(nb_engine_ip b)" 3

# What a reconnect would change.
active_path() { nb_nmcli -g GENERAL.DBUS-PATH connection show "$NB_VPN_CON"; }
wt0_ifindex() { ip -n "$NB_NM_NS" -o link show "$NB_VPN_IF" | cut -d: -f1; }
ac_before=$(active_path)
pid_before=$(nb_service_pids)
ifindex_before=$(wt0_ifindex)
nm_log_lines=$(wc -l < "$NB_NM_LOG")
nb_log "before: active connection $ac_before, service pid $pid_before, wt0 ifindex $ifindex_before"
if [ -z "$ac_before" ] || [ -z "$pid_before" ] || [ -z "$ifindex_before" ]; then
	nb_die "the VPN is up"
fi

# --- a third peer joins devnet

nb_net_host peer3 10.77.0.13 || nb_die "namespace peer3"
t_join=$(now_ms)
nb_engine_start c peer3
nb_engine_wait_started c || nb_die "peer c started"
key_c=$(nb_engine_key c)
ip_c=$(nb_engine_ip c)
nb_log "peer c: $key_c $ip_c"

nb_check "c gets a status object" nb_wait_until 30 "c's object" nb_vpn_peer_path "$key_c"
path_c=$(nb_vpn_peer_path "$key_c")
nb_log "c is $path_c, $(( $(now_ms) - t_join )) ms after c started"
nb_check "InterfacesAdded announced $path_c" \
	eval 'grep -F "org.freedesktop.DBus.ObjectManager.InterfacesAdded" "$NB_LAB/log/mon-objects.log" | grep -qF "$path_c"'
nb_check "c's object: Ip $ip_c" nb_vpn_peer_is "$key_c" Ip "$ip_c"
nb_check "c's object: Connected" nb_wait_until 30 "c Connected on D-Bus" nb_vpn_peer_is "$key_c" Status Connected
nb_check "ping c through the tunnel" nb_wait_until 20 "ping c" nb_vpn_ping "$ip_c" 3
nb_log "c joined -> pingable: $(( $(now_ms) - t_join )) ms"
nb_check "ping b still works" nb_vpn_ping "$(nb_engine_ip b)" 3
status=$("$NB_STATUS_BIN" status 2>&1)
nb_log "nm-netbird status: $(tr '\n' '|' <<< "$status")"
nb_check "nm-netbird status counts 2/2 peers connected" eval '[[ $status == *"Peers count: 2/2 Connected"* ]]'

# --- and the VPN was not reconnected

nb_check "same active connection object ($ac_before)" test "$(active_path)" = "$ac_before"
nb_check "same service process ($pid_before)" test "$(nb_service_pids)" = "$pid_before"
nb_check "same wt0 (ifindex $ifindex_before)" test "$(wt0_ifindex)" = "$ifindex_before"
nb_check "still activated" nb_vpn_activated "$NB_VPN_CON"
# NetworkManager logs each VPN state change ("set state: ...", "dbus:
# state changed: ...") and each start of the service ("starting netbird");
# a new map applied in place shows only as "config: reply received".
new_vpn_lines() { tail -n +"$((nm_log_lines + 1))" "$NB_NM_LOG" | grep -E 'vpn\[.*\]: '; }
vpn_changes=$(new_vpn_lines | grep -E '\]: (set state:|dbus: state changed:|starting netbird)')
nb_log "NM's VPN log lines since c joined: $(new_vpn_lines | sed 's/.*\]: //' | sort | uniq -c | tr -s ' \n' ' ')"
nb_check "NetworkManager logged no VPN state change and no service start" test -z "$vpn_changes"
[ -n "$vpn_changes" ] && printf '%s\n' "$vpn_changes" | sed 's/^/# /'

exit 0
