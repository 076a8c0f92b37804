# shellcheck shell=bash
# wireguard-go peers in the test's namespaces (needs harness.sh).
#
# UAPI sockets live in /run/wireguard, which nb_sandbox made private to the
# test but which all namespaces of one test share: interface names must be
# unique within a test.  Keys stay in files under $NB_LAB/wg (mode 600) and
# reach wg(8) as file names, never as arguments.

NB_WG_RUNDIR=/run/wireguard
NB_WG_PORT1=51821
NB_WG_PORT2=51822
NB_WG_TUN1=10.100.0.1
NB_WG_TUN2=10.100.0.2

_nb_wg_check_args() {
	local ns=$1 ifname=$2
	# wireguard-go has no option parsing: any unknown argument becomes an
	# interface name, and without a namespace it lands in the host's (lab F8).
	if [ -z "$ns" ] || [ ! -e "/run/netns/$ns" ]; then
		nb_log "wireguard-go: no such test namespace '$ns'"
		return 1
	fi
	if ! [[ $ifname =~ ^[A-Za-z0-9][A-Za-z0-9_.]{0,14}$ ]]; then
		nb_log "wireguard-go: bad interface name '$ifname'"
		return 1
	fi
}

# nb_wg_start NS IFNAME: runs wireguard-go in the foreground inside NS and
# waits for its UAPI socket.  Log: $NB_LAB/log/wg-IFNAME.log.
nb_wg_start() {
	local ns=$1 ifname=$2
	_nb_wg_check_args "$ns" "$ifname" || return 1
	if [ -e "$NB_WG_RUNDIR/$ifname.sock" ]; then
		nb_log "wireguard-go: $ifname already exists in this test"
		return 1
	fi
	nb_spawn "wg-$ifname" env LOG_LEVEL="${NB_WG_LOG_LEVEL:-verbose}" \
		ip netns exec "$ns" wireguard-go -f "$ifname"
	nb_wait_until 5 "wireguard-go UAPI socket for $ifname" test -S "$NB_WG_RUNDIR/$ifname.sock"
}

# nb_wg_stop IFNAME: stops the wireguard-go of IFNAME (nb_cleanup does it too).
nb_wg_stop() { nb_kill "wg-$1"; }

# nb_wg_genkey NAME: a new private key in $NB_LAB/wg/NAME.key and its public
# key in NAME.pub; prints the private key's file name.
nb_wg_genkey() {
	local base="$NB_LAB/wg/$1"
	mkdir -p "$NB_LAB/wg"
	(umask 077 && wg genkey > "$base.key") || return 1
	wg pubkey < "$base.key" > "$base.pub" || return 1
	echo "$base.key"
}

# nb_wg_pubkey NAME: the base64 public key made by nb_wg_genkey NAME.
nb_wg_pubkey() { cat "$NB_LAB/wg/$1.pub"; }

# nb_wg_hex: base64 key on stdin -> hex, as UAPI wants it.
nb_wg_hex() { base64 -d | od -An -v -tx1 | tr -d ' \n'; echo; }

# nb_wg_uapi NS IFNAME < REQUEST: sends a raw UAPI request ("get=1\n\n" or
# "set=1\n...\n\n") to IFNAME's socket and prints the reply, which ends
# with errno=N.  Fails unless the reply says errno=0.
nb_wg_uapi() {
	local ns=$1 ifname=$2 reply
	_nb_wg_check_args "$ns" "$ifname" || return 1
	reply=$(timeout 10 ip netns exec "$ns" socat -t 5 - "UNIX-CONNECT:$NB_WG_RUNDIR/$ifname.sock") || return 1
	printf '%s\n' "$reply"
	grep -qx 'errno=0' <<< "$reply"
}

# nb_wg_pair_up NS1 IF1 NS2 IF2 ENDPOINT2 [ENDPOINT1]: two wireguard-go
# peers (started here unless already running) with tunnel addresses
# 10.100.0.1/24 on IF1 and 10.100.0.2/24 on IF2, listening on 51821 and
# 51822.  ENDPOINT2 is where peer 1 sends to reach peer 2 (e.g. a NAT's
# forwarded port); ENDPOINT1, if given, where peer 2 sends to reach peer 1,
# otherwise peer 2 learns it from peer 1's handshake (roaming), which is
# how a peer behind NAT gets reached.  Peer 1 keeps the path open with
# persistent keepalive $NB_WG_KEEPALIVE (default 25 s).
nb_wg_pair_up() {
	local ns1=$1 if1=$2 ns2=$3 if2=$4 ep2=$5 ep1=${6:-} key1 key2
	local -a ep1_args=()
	[ -n "$ep1" ] && ep1_args=(endpoint "$ep1")
	[ -S "$NB_WG_RUNDIR/$if1.sock" ] || nb_wg_start "$ns1" "$if1" || return 1
	[ -S "$NB_WG_RUNDIR/$if2.sock" ] || nb_wg_start "$ns2" "$if2" || return 1
	key1=$(nb_wg_genkey "$if1") && key2=$(nb_wg_genkey "$if2") || return 1
	# Responder first and fully up: peer 1's keepalive triggers a handshake
	# at once, and if peer 2 cannot answer it yet, the retry comes only
	# after REKEY_TIMEOUT, 5 s later (lab F7).
	ip netns exec "$ns2" wg set "$if2" listen-port "$NB_WG_PORT2" private-key "$key2" \
		peer "$(nb_wg_pubkey "$if1")" allowed-ips "$NB_WG_TUN1/32" "${ep1_args[@]}" || return 1
	ip -n "$ns2" addr add "$NB_WG_TUN2/24" dev "$if2" || return 1
	ip -n "$ns2" link set "$if2" up || return 1
	# wireguard-go binds its UDP port only once it has seen the link go up.
	nb_wait_until 5 "$if2 listening on $NB_WG_PORT2" _nb_wg_bound "$ns2" "$NB_WG_PORT2" || return 1
	ip netns exec "$ns1" wg set "$if1" listen-port "$NB_WG_PORT1" private-key "$key1" \
		peer "$(nb_wg_pubkey "$if2")" allowed-ips "$NB_WG_TUN2/32" endpoint "$ep2" \
		persistent-keepalive "${NB_WG_KEEPALIVE:-25}" || return 1
	ip -n "$ns1" addr add "$NB_WG_TUN1/24" dev "$if1" || return 1
	ip -n "$ns1" link set "$if1" up
}

_nb_wg_bound() {
	local out
	out=$(ip netns exec "$1" ss -Hlun "sport = :$2") || return 1
	[ -n "$out" ]
}
