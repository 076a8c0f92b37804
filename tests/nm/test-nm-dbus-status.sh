#!/bin/bash
# shellcheck source-path=SCRIPTDIR/../lib
# shellcheck disable=SC2317,SC2016,SC2119 # functions and eval strings run through nb_check; helpers take their defaults
# The service's status objects on the system bus while NetworkManager
# runs it: the other peer's object says P2P (between the hosts' own
# addresses) once connected, and after the direct path between the two
# hosts is cut on the hub it says Relayed; both changes reach a client
# as PropertiesChanged signals (gdbus monitor, started before `up`).
# Pings keep crossing the tunnel over the relayed path, and the D-Bus
# view is checked against the kernel's: the path the objects name is the
# one the hub counts bytes on.
. "${NB_SOURCE_ROOT:-$(dirname "$0")/../..}/tests/lib/harness.sh"
. "$(dirname "$0")/nm-vpn.sh"
nb_sandbox "$@"
nb_vpn_require

nb_vpn_lab b
key_b=$(nb_engine_key b)
ip_b=$(nb_engine_ip b)
PEER_IF=$NB_VPN_NAME.Peer
MON=$NB_LAB/log/mon-status.log

nb_vpn_monitor_start status
nb_vpn_add "$NB_VPN_CON" || nb_die "add the VPN connection"
nb_vpn_up "$NB_VPN_CON" 60 || nb_die "nmcli connection up"

nb_check "the service exports an object for peer b" \
	nb_wait_until 10 "b's object" nb_vpn_peer_path "$key_b"
path_b=$(nb_vpn_peer_path "$key_b")
nb_log "peer b is $path_b"
nb_check "its Ip is b's overlay address" nb_vpn_peer_is "$key_b" Ip "$ip_b"

nb_check "b's object: Status Connected, ConnectionType P2P" \
	nb_wait_until 30 "b P2P on D-Bus" eval 'nb_vpn_peer_is "$key_b" Status Connected && nb_vpn_peer_is "$key_b" ConnectionType P2P'
# The remote side may be learned from b's checks (prflx) before its
# candidate arrives through signal; either way it is b's host address.
nb_check "... over an ICE pair of host addresses (local host, remote host/prflx)" \
	eval 'nb_vpn_peer_is "$key_b" LocalCandidateType host && [[ $(nb_vpn_peer_prop "$key_b" RemoteCandidateType) == @(host|prflx) ]]'
nb_check "... whose remote endpoint is b's LAN address" \
	eval '[[ $(nb_vpn_peer_prop "$key_b" RemoteEndpoint) == "$NB_PEER2_ADDR:"* ]]'
nb_log "b on D-Bus: $(nb_vpn_objects | jq -c --arg p "$path_b" '.data[0][$p]["'"$PEER_IF"'"] | map_values(.data) | {Status, ConnectionType, IceStatus, RelayStatus, LocalCandidateType, RemoteCandidateType, LocalEndpoint, RemoteEndpoint, RelayServer}')"

# PropertiesChanged of b's object that carries PROP = VALUE.
signal_seen() {
	grep -F "$path_b: org.freedesktop.DBus.Properties.PropertiesChanged ('$PEER_IF'," "$MON" |
		grep -qF "'$1': <'$2'>"
}
nb_check "a PropertiesChanged on $path_b carried ConnectionType 'P2P'" \
	nb_wait_until 5 "" signal_seen ConnectionType P2P
nb_check "ping b through the tunnel (P2P)" nb_vpn_ping "$ip_b" 5

# The status is the truth about the path: 20 pings of 1000 B go straight
# between the hosts on the hub.
NB_ENG_NS[nm]=$NB_NM_NS
nb_paths_count_start nm b
nb_paths_reset
ip netns exec "$NB_NM_NS" ping -q -n -c 20 -i 0.05 -s 1000 -w 10 "$ip_b" >/dev/null 2>&1
bytes=$(nb_paths_bytes)
nb_log "hub bytes during 20 P2P pings: $bytes"
nb_check "P2P: the pings went straight between the hosts (direct >= 40000 B)" \
	test "$(nb_stat_field "$bytes" direct)" -ge 40000

# --- cut the direct path: Relayed, seen as a signal

lines_before=$(wc -l < "$MON")
t_cut=$(now_ms)
nb_path_cut "$NB_NM_NS" "$NB_PEER2" || nb_die "cut the path between $NB_NM_NS and $NB_PEER2"
nb_log "direct path cut"
nb_check "b's object says Relayed within 45 s of the cut" \
	nb_wait_until 45 "b Relayed on D-Bus" eval 'nb_vpn_peer_is "$key_b" ConnectionType Relayed && nb_vpn_peer_is "$key_b" Status Connected'
nb_log "cut -> Relayed on D-Bus: $(( $(now_ms) - t_cut )) ms"
nb_log "b on D-Bus: $(nb_vpn_objects | jq -c --arg p "$path_b" '.data[0][$p]["'"$PEER_IF"'"] | map_values(.data) | {Status, ConnectionType, IceStatus, RelayStatus, LocalCandidateType, RemoteCandidateType, RelayServer}')"
relayed_signal_after_cut() {
	tail -n +"$((lines_before + 1))" "$MON" |
		grep -F "$path_b: org.freedesktop.DBus.Properties.PropertiesChanged ('$PEER_IF'," |
		grep -qF "'ConnectionType': <'Relayed'>"
}
nb_check "a PropertiesChanged on $path_b after the cut carried ConnectionType 'Relayed'" \
	nb_wait_until 5 "" relayed_signal_after_cut
nb_check "the signal carried only changed properties (no PublicKey)" \
	eval '! tail -n +"$((lines_before + 1))" "$MON" | grep -F "$path_b:" | grep -qF "'"'"'PublicKey'"'"'"'
nb_check "ping b through the tunnel (relayed)" nb_wait_until 20 "pings over the relayed path" nb_vpn_ping "$ip_b" 5

nb_paths_reset
ip netns exec "$NB_NM_NS" ping -q -n -c 20 -i 0.05 -s 1000 -w 10 "$ip_b" >/dev/null 2>&1
bytes=$(nb_paths_bytes)
nb_log "hub bytes during 20 relayed pings: $bytes"
relayed_path_real() {
	local direct turn relay
	direct=$(nb_stat_field "$bytes" direct) turn=$(nb_stat_field "$bytes" turn) relay=$(nb_stat_field "$bytes" relay)
	# The counters sit after nb_path_cut's drop rules, so "direct" counts
	# only what got through the cut: nothing.
	[ "$direct" -lt 4000 ] && [ $((turn + relay)) -ge 40000 ]
}
nb_check "Relayed: the pings went through coturn or devnet's relay, not straight" relayed_path_real
nb_check "nm-netbird status -d shows the peer Relayed" \
	eval '"$NB_STATUS_BIN" status -d | grep -q "Connection type: Relayed"'

exit 0
