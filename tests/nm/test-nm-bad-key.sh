#!/bin/bash
# shellcheck source-path=SCRIPTDIR/../lib
# shellcheck disable=SC2317,SC2016,SC2119 # functions and eval strings run through nb_check; helpers take their defaults
# A setup key that management does not know (well-formed, so it passes the
# settings check and really reaches devnet's Login) must fail `nmcli
# connection up` well within NetworkManager's VPN timeout (60 s), with a
# reason a user can read: in nmcli's error or the service's log line, not
# only "timed out".  NetworkManager must end up with the VPN down, no wt0
# and no service process; devnet registered no peer.  A malformed key is
# refused before anything is sent.
. "${NB_SOURCE_ROOT:-$(dirname "$0")/../..}/tests/lib/harness.sh"
. "$(dirname "$0")/nm-vpn.sh"
nb_sandbox "$@"
nb_vpn_require

nb_devnet_up || nb_die "devnet + coturn"
nb_nm_start
peers_before=$(nb_devnet list-peers 2>/dev/null | wc -l)

WRONG_KEY=0badc0de-1111-4222-8333-444455556666
nb_vpn_add nb-wrong-key "$WRONG_KEY" || nb_die "add the VPN connection"
nm_lines=$(wc -l < "$NB_NM_LOG")
nb_check_not "nmcli connection up fails with a setup key management does not know" nb_vpn_up nb-wrong-key 90
wrong_ms=$NB_VPN_UP_MS
echo "# wrong setup key: nmcli failed after $wrong_ms ms: $NB_VPN_UP_OUT"
nb_check "... within NetworkManager's VPN timeout: $wrong_ms ms < 60000 ms" test "$wrong_ms" -lt 60000
nb_check "... and not by timing out" eval '[[ $NB_VPN_UP_OUT != *"timed out"* && $NB_VPN_UP_OUT != *"Timeout"* ]]'
# nmcli can only say "Unknown reason" (NetworkManager 1.42 passes no text
# of a VPN service's failure on to its clients); the reason is the
# service's "connect failed: " line in NetworkManager's log (the journal
# on a real system), and NM's own line names the failure type.
reason=$(tail -n +"$((nm_lines + 1))" "$NB_NM_LOG" | grep -o 'connect failed: .*' | head -n 1)
nm_failure=$(tail -n +"$((nm_lines + 1))" "$NB_NM_LOG" | grep -o 'dbus: failure: .*' | head -n 1)
echo "# service log: $reason"
echo "# NetworkManager log: $nm_failure"
nb_check "the service logs that management rejected the setup key" \
	eval '[[ $reason == *management* && $reason == *"setup key"* ]]'
nb_check "NetworkManager records it as a login failure" eval '[[ $nm_failure == "dbus: failure: login-failed"* ]]'
nb_check "the setup key itself is in no log line" eval '! grep -qF "$WRONG_KEY" "$NB_NM_LOG"'
nb_check "the connection is not active" nb_vpn_inactive nb-wrong-key
nb_check "no wt0 in NM's namespace" nb_wait_until 10 "wt0 to vanish" eval '! nb_vpn_tundev_exists'
nb_check "no wireguard-go and no service process left" nb_wait_until 30 "service to exit" nb_vpn_nothing_left
nb_check "devnet registered no peer" test "$(nb_devnet list-peers 2>/dev/null | wc -l)" = "$peers_before"

# A malformed key: refused without asking management, by nmcli (the
# editor plugin's check) at add, or by the service's Connect, whose error
# (naming the key) must reach NetworkManager as the reply to Connect, not
# be lost because the service quit before replying.
malformed_refused() {
	local out lines nm_reply
	if ! out=$(nb_nmcli connection add type vpn vpn-type netbird con-name nb-malformed ifname '*' \
		connection.autoconnect no vpn.data "$(nb_vpn_data)" vpn.secrets "setup-key=not-a-key" 2>&1); then
		nb_log "nmcli refused the malformed key at add: $out"
		[[ $out == *setup-key* ]]
		return
	fi
	lines=$(wc -l < "$NB_NM_LOG")
	nb_vpn_up nb-malformed 60 && return 1
	echo "# malformed key: nmcli failed after $NB_VPN_UP_MS ms: $(head -n 1 <<< "$NB_VPN_UP_OUT")"
	nm_reply=$(tail -n +"$((lines + 1))" "$NB_NM_LOG" | grep -o 'failed to connect: .*' | head -n 1)
	echo "# NetworkManager log: $nm_reply"
	[ "$NB_VPN_UP_MS" -lt 60000 ] && [[ $nm_reply == *setup-key* ]]
}
nb_check "a malformed setup key is refused at once, and NetworkManager gets Connect's error naming setup-key" \
	malformed_refused

exit 0
