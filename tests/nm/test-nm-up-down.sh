#!/bin/bash
# shellcheck source-path=SCRIPTDIR/../lib
# shellcheck disable=SC2317,SC2016,SC2119 # functions and eval strings run through nb_check; helpers take their defaults
# The VPN as a user meets it: `nmcli connection add type vpn vpn-type
# netbird` with devnet's management URL and setup key, then `up`.
# NetworkManager must report the VPN connected, the overlay address and
# the routes must be on the tundev (wt0, the service's wireguard-go) in
# NM's namespace, the other peer (an nb-engine in its own namespace) must
# answer pings through the tunnel, and `nm-netbird status -d` must show it
# Connected.  The time from `nmcli connection up` to the first ping reply
# is printed.  `down` must remove the WireGuard device and leave no
# service or wireguard-go process behind.
. "${NB_SOURCE_ROOT:-$(dirname "$0")/../..}/tests/lib/harness.sh"
. "$(dirname "$0")/nm-vpn.sh"
nb_sandbox "$@"
nb_vpn_require

nb_vpn_lab b
peer_ip=$(nb_engine_ip b)
nb_log "peer b: $(nb_engine_key b) $peer_ip"

nb_vpn_add "$NB_VPN_CON" || nb_die "nmcli connection add type vpn vpn-type netbird"
nb_check "the connection's service type is $NB_VPN_NAME" \
	test "$(nb_vpn_field "$NB_VPN_CON" vpn.service-type)" = "$NB_VPN_NAME"

# --- up, and the time to the first ping reply through the tunnel

# Nothing but the two commands between the time stamps.  One ping every
# 50 ms until the first reply (up to 30 s), started only after `up`
# returned, when NetworkManager has configured wt0, so the kernel picks
# the overlay address as the source.
t0=$(now_ms)
up_out=$(nb_nmcli --wait 60 connection up "$NB_VPN_CON" 2>&1)
up_rc=$?
t_up=$(now_ms)
ip netns exec "$NB_NM_NS" ping -n -q -c 1 -i 0.05 -w 30 "$peer_ip" >/dev/null 2>&1
ping_rc=$?
t_ping=$(now_ms)
nb_log "nmcli connection up: exit $up_rc after $((t_up - t0)) ms: $up_out"
[ "$up_rc" = 0 ] || nb_die "nmcli connection up $NB_VPN_CON"
nb_ok "nmcli connection up succeeded in $((t_up - t0)) ms"
if [ "$ping_rc" = 0 ]; then
	nb_ok "first ping reply from $peer_ip"
	echo "# nmcli connection up -> first ping reply: $((t_ping - t0)) ms (up returned after $((t_up - t0)) ms)"
	nb_log "nmcli connection up -> first ping reply: $((t_ping - t0)) ms"
else
	nb_fail "a ping reply from $peer_ip within 30 s of up"
fi

nb_check "GENERAL.STATE activated, VPN-STATE connected" nb_vpn_activated "$NB_VPN_CON"
nb_log "VPN-STATE: $(nb_vpn_state "$NB_VPN_CON")"

# NetworkManager's view of the VPN's IPv4 config and the kernel's.
vpn_addr=$(nb_vpn_field "$NB_VPN_CON" IP4.ADDRESS | head -n 1)
nb_log "IP4.ADDRESS: $vpn_addr; IP4.ROUTE: $(nb_vpn_field "$NB_VPN_CON" IP4.ROUTE | tr '\n' ' ')"
nb_check "NetworkManager reports an overlay address in 100.64.0.0/10 ($vpn_addr)" \
	eval '[[ $vpn_addr == 100.* ]]'
own_addr=$(busctl --system --json=short get-property "$NB_VPN_NAME" "$NB_VPN_ROOT/daemon" \
	"$NB_VPN_NAME.Daemon" Address 2>/dev/null | jq -r .data)
nb_check "it is the address management gave (the service's Daemon.Address, $own_addr)" \
	test "$vpn_addr" = "$own_addr"
nb_check "wt0 in NM's namespace carries $vpn_addr" \
	eval 'ip -n "$NB_NM_NS" -4 -o addr show dev "$NB_VPN_IF" | grep -q " inet ${vpn_addr%%/*}/"'
nb_check "NetworkManager lists wt0 as the VPN's interface (GENERAL.IP-IFACE or device)" \
	eval 'nb_nmcli -g GENERAL.IP-IFACE connection show "$NB_VPN_CON" | grep -qx "$NB_VPN_IF" ||
		nb_nmcli -t -f DEVICE,TYPE device | grep -q "^$NB_VPN_IF:"'
route=$(ip -n "$NB_NM_NS" -4 route get "$peer_ip" 2>&1)
nb_log "route to $peer_ip: $route"
nb_check "the route to the peer's overlay address goes through wt0" \
	eval '[[ $route == *" dev $NB_VPN_IF "* ]]'
nb_check "the base connection's default route stays on eth0 (the VPN routes only the overlay)" \
	eval 'ip -n "$NB_NM_NS" route show default | grep -q "dev eth0"'
nb_check "wt0 is a wireguard-go (tun) device: userspace WireGuard" \
	eval 'ip -n "$NB_NM_NS" -d link show "$NB_VPN_IF" | grep -qw tun'
nb_check "10 pings to the other peer through the tunnel" nb_vpn_ping "$peer_ip" 10 5

# The other peer's view: it has the VPN's key as peer and it is Connected.
nb_check "peer b reports the NM peer Connected" \
	nb_wait_until 20 "b to see the NM peer connected" \
	nb_engine_has b "$NB_CONNECTED and .ip == \"${vpn_addr%%/*}\""

status=$("$NB_STATUS_BIN" status -d 2>&1)
printf '%s\n' "$status" | sed 's/^/# nm-netbird status -d: /'
nb_check "nm-netbird status -d names the peer's IP, Connected" \
	eval '[[ $status == *"NetBird IP: $peer_ip"* && $status == *"Status: Connected"* ]]'
nb_check "nm-netbird status -d: management connected, 1/1 peers" \
	eval '[[ $status == *"Management: Connected"* && $status == *"Peers count: 1/1 Connected"* ]]'

# --- down: the device and every process go

[ -n "$(nb_service_pids)" ] && nb_log "service pid $(nb_service_pids); wireguard-go: $(nb_vpn_wg_pids | tr '\n' ' ')"
t0=$(now_ms)
nb_check "nmcli connection down" eval 'nb_nmcli --wait 30 connection down "$NB_VPN_CON" >/dev/null'
nb_check "the connection is no longer active" nb_vpn_inactive "$NB_VPN_CON"
nb_check "wt0 is gone from NM's namespace" nb_wait_until 10 "wt0 to vanish" eval '! nb_vpn_tundev_exists'
nb_check "no wireguard-go for wt0 is left" nb_wait_until 10 "wireguard-go to exit" eval '[ -z "$(nb_vpn_wg_pids)" ]'
nb_check "no nm-netbird-service process is left" \
	nb_wait_until 30 "nm-netbird-service to exit" eval '[ -z "$(nb_service_pids)" ]'
nb_log "down -> nothing left after $(( $(now_ms) - t0 )) ms"
nb_check "no UAPI socket for wt0 is left" test ! -e "/run/wireguard/$NB_VPN_IF.sock"
nb_check "the other peer still runs (it does not depend on us)" nb_engine_no_crash b

exit 0
