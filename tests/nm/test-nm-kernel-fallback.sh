#!/bin/bash
# shellcheck source-path=SCRIPTDIR/../lib
# shellcheck disable=SC2317,SC2016,SC2119 # functions and eval strings run through nb_check; helpers take their defaults
# This kernel has no WireGuard module (`ip link add type wireguard` says
# "Unknown device type"), which makes the backend choice testable for
# real.  wireguard-backend=kernel must fail activation within the VPN
# timeout with a reason that says the kernel WireGuard is missing;
# wireguard-backend=auto must try the kernel first, say why it could not
# use it and that it falls back to userspace wireguard-go, and then work:
# wt0 is a TUN device of wireguard-go and the other peer answers pings.
. "${NB_SOURCE_ROOT:-$(dirname "$0")/../..}/tests/lib/harness.sh"
. "$(dirname "$0")/nm-vpn.sh"
nb_sandbox "$@"
nb_vpn_require

nb_vpn_lab b
ip_b=$(nb_engine_ip b)

# The premise, checked in NM's namespace (and undone if it ever worked).
kernel_wg_absent() {
	local out
	out=$(ip -n "$NB_NM_NS" link add nbkprobe type wireguard 2>&1) && {
		ip -n "$NB_NM_NS" link del nbkprobe
		return 1
	}
	nb_log "ip link add type wireguard: $out"
}
kernel_wg_absent || nb_skip "this kernel has WireGuard; the fallback cannot be shown here"
nb_ok "kernel WireGuard is absent here (ip link add type wireguard fails)"

# --- wireguard-backend=kernel: a readable failure

nb_vpn_add nb-kernel "" wireguard-backend=kernel || nb_die "add the kernel connection"
nm_lines=$(wc -l < "$NB_NM_LOG")
nb_check_not "wireguard-backend=kernel: nmcli connection up fails" nb_vpn_up nb-kernel 90
echo "# wireguard-backend=kernel: nmcli failed after $NB_VPN_UP_MS ms: $NB_VPN_UP_OUT"
klog=$(tail -n +"$((nm_lines + 1))" "$NB_NM_LOG" | grep -iE 'kernel|wireguard' | grep -v 'nm-netbird.*debug' )
printf '%s\n' "$klog" | tail -n 4 | sed 's/^/# log: /'
nb_check "... within the VPN timeout ($NB_VPN_UP_MS ms < 60000 ms)" test "$NB_VPN_UP_MS" -lt 60000
nb_check "... the reason says kernel WireGuard is unavailable" \
	eval '[[ $NB_VPN_UP_OUT == *[Kk]ernel* ]] || grep -qiE "kernel wireguard.*(unavailable|not supported|unknown|missing|absent|failed)" <<< "$klog"'
nb_check "... no wireguard-go was started for it" eval '! grep -qiE "using userspace wireguard-go" <<< "$klog"'
nb_check "... nothing left" nb_wait_until 30 "service to exit" nb_vpn_nothing_left

# --- wireguard-backend=auto: tries the kernel, falls back

nb_vpn_add nb-auto "" wireguard-backend=auto || nb_die "add the auto connection"
nm_lines=$(wc -l < "$NB_NM_LOG")
nb_check "wireguard-backend=auto: nmcli connection up succeeds" nb_vpn_up nb-auto 60
alog=$(tail -n +"$((nm_lines + 1))" "$NB_NM_LOG")
fallback=$(grep -E 'wireguard-backend auto: kernel WireGuard unavailable: .+; using userspace wireguard-go' <<< "$alog")
printf '%s\n' "$fallback" | sed 's/^/# log: /'
nb_check "the service logged that the kernel was tried and why it is unavailable, then the fallback" \
	test -n "$fallback"
nb_check "... the reason is the kernel's (no WireGuard netlink family / module)" \
	eval 'grep -qiE "unavailable: .*(netlink|module|not supported|unknown)" <<< "$fallback"'
nb_check "wt0 is a TUN device (userspace), not a kernel wireguard link" \
	eval 'ip -n "$NB_NM_NS" -d link show "$NB_VPN_IF" | grep -qw tun && ! ip -n "$NB_NM_NS" -d link show "$NB_VPN_IF" | grep -qw wireguard'
nb_check "a wireguard-go serves wt0" eval '[ -n "$(nb_vpn_wg_pids)" ]'
nb_check "b answers pings through the fallback tunnel" nb_wait_until 20 "ping b" nb_vpn_ping "$ip_b" 5
nb_check "nmcli connection down" eval 'nb_nmcli --wait 30 connection down nb-auto >/dev/null'
nb_check "nothing left after down" nb_wait_until 30 "service to exit" nb_vpn_nothing_left

exit 0
