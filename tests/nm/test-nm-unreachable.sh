#!/bin/bash
# shellcheck source-path=SCRIPTDIR/../lib
# shellcheck disable=SC2317,SC2016,SC2119 # functions and eval strings run through nb_check; helpers take their defaults
# A management server that cannot be reached must fail `nmcli connection
# up` within NetworkManager's VPN timeout (60 s) with a readable reason:
# one whose packets vanish (devnet's host drops every SYN to the port
# silently: the worst case, bounded only by the service's own deadlines,
# since the kernel would retry SYNs for two minutes), a host that does not
# exist (ARP goes unanswered: "no route to host"), and one that refuses at
# once (a port nothing listens on).  Nothing may be left behind.
. "${NB_SOURCE_ROOT:-$(dirname "$0")/../..}/tests/lib/harness.sh"
. "$(dirname "$0")/nm-vpn.sh"
nb_sandbox "$@"
nb_vpn_require

nb_devnet_up || nb_die "devnet + coturn"
nb_nm_start

# try_url CON URL CAUSE_ERE: activation of a connection to URL fails in
# time, and the service's "connect failed: " line names management and
# the cause.  (nmcli itself can only say "Unknown reason": NetworkManager
# 1.42 passes no text of a VPN service's failure on to its clients; the
# service's stderr is in NetworkManager's log, the journal on a real
# system.)
try_url() {
	local con=$1 url=$2 cause=$3 nm_lines reason
	nb_vpn_add "$con" "" "management-url=$url" || { nb_fail "add $con"; return 1; }
	nm_lines=$(wc -l < "$NB_NM_LOG")
	if nb_vpn_up "$con" 90; then
		nb_fail "nmcli connection up $con ($url) failed"
		return 1
	fi
	nb_ok "nmcli connection up fails with management at $url"
	echo "# management at $url: nmcli failed after $NB_VPN_UP_MS ms: $(head -n 1 <<< "$NB_VPN_UP_OUT")"
	reason=$(tail -n +"$((nm_lines + 1))" "$NB_NM_LOG" | grep -o 'connect failed: .*' | head -n 1)
	echo "# service log: $reason"
	nb_check "... within NetworkManager's VPN timeout: $NB_VPN_UP_MS ms < 60000 ms" test "$NB_VPN_UP_MS" -lt 60000
	nb_check "... the service logs why: management, $cause" \
		eval '[[ $reason == *management* ]] && grep -qiE "$cause" <<< "$reason"'
	nb_check "... the connection is not active" nb_vpn_inactive "$con"
	nb_check "... nothing left (service, wireguard-go, wt0)" nb_wait_until 30 "service to exit" nb_vpn_nothing_left
}

ip netns exec "$NB_DEVNET_NS" nft -f - <<-EOF2 || nb_die "drop rule in $NB_DEVNET_NS"
table inet nb_blackhole {
	chain input {
		type filter hook input priority filter; policy accept;
		tcp dport 33999 drop
	}
}
EOF2
try_url nb-blackhole "http://$NB_CTL_ADDR:33999" "deadline|timed out|timeout"
# 10.77.0.99: on the hub's subnet, nobody answers ARP for it.
try_url nb-nohost http://10.77.0.99:33073 "no route to host|unreachable"
try_url nb-refused "http://$NB_CTL_ADDR:1" "refused"

exit 0
