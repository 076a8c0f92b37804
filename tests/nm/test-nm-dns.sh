#!/bin/bash
# shellcheck source-path=SCRIPTDIR/../lib
# shellcheck disable=SC2317,SC2016,SC2119 # functions and eval strings run through nb_check; helpers take their defaults
# Peer names: devnet sends, as NetBird's management does, a custom zone
# with every peer's name (netbird.test).  The service's engine answers it
# on the VPN's own overlay address, port 53 (service/engine/dns-server.c),
# and NetworkManager gets that address as the VPN's first DNS server and
# netbird.test as its search domain (nm-ip-config.c).
#
# NetworkManager here runs with dns=none (it must not touch the host's
# resolv.conf), so the test takes NM's view (nmcli IP4.DNS / IP4.DOMAIN),
# asks the server with dig, and resolves short names with glibc through a
# resolv.conf made of NM's values in a private mount namespace.
. "${NB_SOURCE_ROOT:-$(dirname "$0")/../..}/tests/lib/harness.sh"
. "$(dirname "$0")/nm-vpn.sh"
nb_sandbox "$@"
nb_vpn_require
nb_require_cmd dig getent

DOMAIN=netbird.test

nb_vpn_lab b
nb_vpn_add "$NB_VPN_CON" || nb_die "add the VPN connection"
nb_vpn_up "$NB_VPN_CON" 60 || nb_die "nmcli connection up"
ip_b=$(nb_engine_ip b)
nb_check "ping b through the tunnel" nb_wait_until 20 "ping b" nb_vpn_ping "$ip_b" 3
own_ip=$(ip -n "$NB_NM_NS" -4 -o addr show dev "$NB_VPN_IF" | awk '{ sub("/.*", "", $4); print $4 }')
nb_log "our overlay address: $own_ip; b: $ip_b"
[ -n "$own_ip" ] || nb_die "no address on $NB_VPN_IF"

nb_check "nm-netbird status: peer names answered on $own_ip:53" \
	eval '"$NB_STATUS_BIN" status | grep -qx "Peer names: answered on $own_ip:53"'
nm_dns() { nb_vpn_field "$NB_VPN_CON" IP4.DNS; }
nm_domains() { nb_vpn_field "$NB_VPN_CON" IP4.DOMAIN; }
nb_log "NetworkManager: IP4.DNS '$(nm_dns)', IP4.DOMAIN '$(nm_domains)'"
nb_check "NetworkManager's first DNS server of the VPN is $own_ip" \
	eval '[ "$(nm_dns | tr "|" "\n" | sed "s/ //g" | head -n 1)" = "$own_ip" ]'
nb_check "NetworkManager's search domains of the VPN hold $DOMAIN" \
	eval 'nm_domains | tr "|" "\n" | sed "s/ //g" | grep -qx "$DOMAIN"'

# ask NAME [TYPE] [SERVER_NS SERVER]: dig's short answer.
ask() {
	ip netns exec "${3:-$NB_NM_NS}" dig +time=2 +tries=2 +short "@${4:-$own_ip}" "$1" "${2:-A}" 2>/dev/null
}
# status NAME: the response code dig reports.
status() {
	ip netns exec "$NB_NM_NS" dig +time=2 +tries=2 "@$own_ip" "$1" A 2>/dev/null |
		sed -n 's/.*status: \([A-Z]*\).*/\1/p'
}
nb_check "peer-b.$DOMAIN is b ($ip_b)" eval '[ "$(ask "peer-b.$DOMAIN")" = "$ip_b" ]'
nb_check "PEER-B.${DOMAIN^^}. (case, root dot) is b" eval '[ "$(ask "PEER-B.${DOMAIN^^}.")" = "$ip_b" ]'
nb_check "nm-peer.$DOMAIN (ourselves) is $own_ip" eval '[ "$(ask "nm-peer.$DOMAIN")" = "$own_ip" ]'
nb_check "an unknown name in $DOMAIN: NXDOMAIN" eval '[ "$(status "nobody.$DOMAIN")" = NXDOMAIN ]'
nb_check "peer-b.$DOMAIN has no AAAA (NOERROR, no answer)" \
	eval '[ "$(status "peer-b.$DOMAIN")" = NOERROR ] && [ -z "$(ask "peer-b.$DOMAIN" AAAA)" ]'
nb_check "a name outside $DOMAIN is refused (the next server's)" eval '[ "$(status example.org)" = REFUSED ]'

# glibc with NetworkManager's values: a short name through the search domain.
resolv_of_nm() {
	local ns dom
	for ns in $(nm_dns | tr '|' ' '); do echo "nameserver $ns"; done
	dom=$(nm_domains | tr '|' '\n' | sed 's/ //g' | grep -v '^~' | tr '\n' ' ')
	[ -n "$dom" ] && echo "search $dom"
	echo "options timeout:2 attempts:1"
}
resolv_of_nm > "$NB_LAB/resolv-of-nm.conf"
nb_log "resolv.conf from NetworkManager's values: $(tr '\n' '|' < "$NB_LAB/resolv-of-nm.conf")"
glibc_hosts() {
	ip netns exec "$NB_NM_NS" unshare --mount sh -c \
		'mount --bind "$1" /etc/resolv.conf && getent ahostsv4 "$2"' sh "$NB_LAB/resolv-of-nm.conf" "$1" |
		awk 'NR == 1 { print $1 }'
}
nb_check "getent: the short name peer-b is b" eval '[ "$(glibc_hosts peer-b)" = "$ip_b" ]'

# b (nb-engine) answers the same zone on its own overlay address.
nb_check "b answers nm-peer.$DOMAIN on $ip_b" \
	eval '[ "$(ask "nm-peer.$DOMAIN" A "$NB_PEER2" "$ip_b")" = "$own_ip" ]'

# A peer joining: its name resolves without a reconnect.
pid_before=$(nb_service_pids)
nb_net_host peer3 10.77.0.13 || nb_die "namespace peer3"
nb_engine_start c peer3
nb_engine_wait_started c || nb_die "peer c started"
ip_c=$(nb_engine_ip c)
nb_check "peer-c.$DOMAIN resolves to $ip_c once c joined" \
	nb_wait_until 20 "peer-c's name" eval '[ "$(ask "peer-c.$DOMAIN")" = "$ip_c" ]'
nb_check "same service process ($pid_before)" test "$(nb_service_pids)" = "$pid_before"

# A peer leaving: its name goes.
nb_engine_stop c
nb_check "netbird-devnet remove-peer c" nb_devnet remove-peer "$(nb_engine_key c)"
nb_check "peer-c.$DOMAIN is NXDOMAIN once c is removed" \
	nb_wait_until 20 "peer-c gone" eval '[ "$(status "peer-c.$DOMAIN")" = NXDOMAIN ]'

exit 0
