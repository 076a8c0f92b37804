# shellcheck shell=bash
# Network topologies in namespaces the test creates (needs harness.sh).
#
# Address plan, all inside the test's own namespaces:
#   hub       netns "hub", bridge br0: the "internet" 10.77.0.0/24
#   10.77.0.2   control plane (devnet: management, signal, relay)
#   10.77.0.3   coturn (TURN/STUN)
#   10.77.0.11+ peers attached directly (LAN)
#   10.77.0.101+ NAT routers; peer N behind one lives in 10.78.N.0/24
#   10.77.0.254 default next hop that never answers: a host with a
#               default route never gets ENETUNREACH (see lab F9)
#
# Every impairment (path cut, relay-only filter, loss) lives in an
# nftables table of its own, so removing it removes exactly what was added
# and nothing else.  Impairments sit on the far side of a link (the hub
# bridge or a router) wherever possible: a drop there is silent, like a
# real network, whereas a drop in the sender's own output hook turns into
# EPERM/ENOBUFS from sendmsg(), which daemons treat differently.
#
# $NB_LAB/net/NS.links records, per namespace, its uplinks as lines
# "IFNAME FAR_NS FAR_IFNAME"; nb_path_cut and nb_loss_set read it.

NB_HUB=hub
NB_NET_GW=10.77.0.254
NB_CTL_ADDR=10.77.0.2
NB_TURN_ADDR=10.77.0.3

# Creates the hub namespace and its bridge once.
nb_net_hub() {
	[ -e "/run/netns/$NB_HUB" ] && return 0
	nb_netns_add "$NB_HUB"
	ip -n "$NB_HUB" link add br0 type bridge
	ip -n "$NB_HUB" link set br0 up
}

# Remembers that IFNAME in NS is an uplink whose other end is FAR_IFNAME
# in FAR_NS.
_nb_net_record_link() {
	mkdir -p "$NB_LAB/net"
	echo "$2 $3 $4" >> "$NB_LAB/net/$1.links"
}

# nb_net_attach NS ADDR [IFNAME]: a veth from the hub bridge into NS.
# ADDR may be empty (NetworkManager configures the device itself).
nb_net_attach() {
	local ns=$1 addr=$2 ifname=${3:-eth0}
	local port="${ns:0:9}_${ifname:0:5}"
	nb_net_hub
	ip -n "$NB_HUB" link add "$port" type veth peer name "$ifname" netns "$ns" || return 1
	ip -n "$NB_HUB" link set "$port" master br0 up
	ip -n "$ns" link set "$ifname" up
	_nb_net_record_link "$ns" "$ifname" "$NB_HUB" "$port"
	if [ -n "$addr" ]; then
		ip -n "$ns" addr add "$addr/24" dev "$ifname" || return 1
		ip -n "$ns" route show default | grep -q . ||
			ip -n "$ns" route add default via "$NB_NET_GW"
	fi
}

# nb_net_host NS ADDR: a new namespace on the hub.
# nb_net_behind NS LINK ADDR STUB STUB_ADDR [STUB_GW]: a network behind
# NS: namespace STUB linked to NS by a veth (LINK in NS with ADDR/24, eth0
# in STUB with STUB_ADDR/24, STUB's default route via STUB_GW when given),
# and NS forwarding.
nb_net_behind() {
	local ns=$1 link=$2 addr=$3 stub=$4 stub_addr=$5 stub_gw=${6:-}
	nb_netns_add "$stub" || return 1
	ip -n "$ns" link add "$link" type veth peer name eth0 netns "$stub" || return 1
	ip -n "$ns" addr add "$addr/24" dev "$link" || return 1
	ip -n "$ns" link set "$link" up || return 1
	ip -n "$stub" addr add "$stub_addr/24" dev eth0 || return 1
	ip -n "$stub" link set eth0 up || return 1
	if [ -n "$stub_gw" ]; then
		ip -n "$stub" route add default via "$stub_gw" || return 1
	fi
	ip netns exec "$ns" sysctl -qw net.ipv4.ip_forward=1
}

nb_net_host() {
	nb_netns_add "$1" || return 1
	nb_net_attach "$1" "$2"
}

# nb_net_behind_nat NS N KIND [IFNAME] [ADDR]: puts the existing namespace
# NS behind a new NAT router "nat$N" (namespace), public address
# 10.77.0.(100+N) on the hub, private side 10.78.N.1/24 on its lan0.
# NS gets IFNAME (default eth0) with ADDR (default 10.78.N.2) and a default
# route via the router; pass ADDR "" when NetworkManager configures the
# device (it then needs 10.78.N.x/24, gateway 10.78.N.1).
# KIND: cone      port-preserving masquerade: one public port per private
#                 port whatever the destination (endpoint-independent
#                 mapping), which hole punching relies on;
#       symmetric "masquerade random": a fresh random port for every new
#                 destination address and port, so a STUN-learned mapping
#                 is useless for reaching anyone else.
nb_net_behind_nat() {
	local ns=$1 n=$2 kind=$3 ifname=${4:-eth0} addr=${5-10.78.$2.2}
	local router="nat$n" lan="10.78.$n" flags
	case $kind in
	cone) flags= ;;
	symmetric) flags=random ;;
	*) nb_log "nb_net_behind_nat: unknown NAT kind '$kind' (cone|symmetric)"; return 1 ;;
	esac
	case $n in
	[1-9] | [1-9][0-9]) ;;
	*) nb_log "nb_net_behind_nat: N must be 1..99, got '$n'"; return 1 ;;
	esac
	nb_net_host "$router" "10.77.0.$((100 + n))" || return 1
	ip -n "$router" link add lan0 type veth peer name "$ifname" netns "$ns" || return 1
	ip -n "$router" addr add "$lan.1/24" dev lan0
	ip -n "$router" link set lan0 up
	ip -n "$ns" link set "$ifname" up
	_nb_net_record_link "$ns" "$ifname" "$router" lan0
	if [ -n "$addr" ]; then
		ip -n "$ns" addr add "$addr/24" dev "$ifname" || return 1
		ip -n "$ns" route add default via "$lan.1" || return 1
	fi
	ip netns exec "$router" sysctl -qw net.ipv4.ip_forward=1
	ip netns exec "$router" nft -f - <<-EOF || return 1
	table ip nb_nat {
		chain postrouting {
			type nat hook postrouting priority srcnat; policy accept;
			oifname "eth0" masquerade $flags
		}
	}
	EOF
}

# nb_net_port_forward N PROTO PORT [DEST]: the NAT router "nat$N" forwards
# PROTO (udp|tcp) PORT on its public address to DEST (default 10.78.N.2),
# same port: a peer behind NAT with a known public endpoint.
nb_net_port_forward() {
	local n=$1 proto=$2 port=$3 dest=${4:-10.78.$1.2}
	ip netns exec "nat$n" nft -f - <<-EOF
	table ip nb_forward {
		chain prerouting {
			type nat hook prerouting priority dstnat; policy accept;
			iifname "eth0" $proto dport $port dnat to $dest:$port
		}
	}
	EOF
}

# nb_net_seen_addrs NS: every IPv4 address NS's traffic can carry as it
# crosses the hub: the addresses on its uplinks and, for an uplink behind
# a NAT router, the router's public addresses.  One per line.
nb_net_seen_addrs() {
	local ns=$1 ifname far farif
	[ -f "$NB_LAB/net/$ns.links" ] || return 1
	while read -r ifname far farif; do
		ip -n "$ns" -4 -o addr show dev "$ifname" | awk '{ sub("/.*", "", $4); print $4 }'
		[ "$far" = "$NB_HUB" ] || nb_net_seen_addrs "$far"
	done < "$NB_LAB/net/$ns.links" | sort -u
}

# An nft-safe identifier for a table name from arbitrary words.
_nb_nft_id() { local IFS=_; echo "$*" | tr -c 'A-Za-z0-9_\n' _; }

# _nb_hub_block TABLE MATCH A B: drops, on the hub bridge, traffic
# matching MATCH between every address A and B are seen under.  Replaces
# TABLE atomically if it already exists.
_nb_hub_block() {
	local table=$1 match=$2 a b
	a=$(nb_net_seen_addrs "$3" | paste -sd, -)
	b=$(nb_net_seen_addrs "$4" | paste -sd, -)
	if [ -z "$a" ] || [ -z "$b" ]; then
		nb_log "no hub address known for '$3' ('$a') or '$4' ('$b')"
		return 1
	fi
	ip netns exec "$NB_HUB" nft -f - <<-EOF
	table bridge $table
	delete table bridge $table
	table bridge $table {
		chain forward {
			type filter hook forward priority filter; policy accept;
			$match ip saddr { $a } ip daddr { $b } drop
			$match ip saddr { $b } ip daddr { $a } drop
		}
	}
	EOF
}

# The table name for a cut between A and B, independent of argument order.
_nb_cut_table() {
	if [[ $1 < $2 ]]; then _nb_nft_id nb_cut "$1" "$2"; else _nb_nft_id nb_cut "$2" "$1"; fi
}

# nb_path_cut A B: silently drops, at runtime, all traffic between the two
# namespaces on the hub (every address either is seen under, NAT public
# addresses included).  Paths to the control plane and coturn stay up, so
# only a relayed path can survive.  The addresses are read now, so cut
# after NetworkManager configured its device.
nb_path_cut() {
	_nb_hub_block "$(_nb_cut_table "$1" "$2")" "" "$1" "$2"
}

# nb_path_restore A B: undoes nb_path_cut A B (either order).
nb_path_restore() {
	local table
	table=$(_nb_cut_table "$1" "$2")
	ip netns exec "$NB_HUB" nft list table bridge "$table" >/dev/null 2>&1 || return 0
	ip netns exec "$NB_HUB" nft delete table bridge "$table"
}

# nb_loss_set NS PERCENT [DIR] [IFNAME]: drops PERCENT % of the packets on
# NS's IFNAME (default eth0), chosen at random per packet.
# DIR: out (default; like netem on NS's interface, so a ping from NS loses
# about PERCENT %), in, or both (a ping then loses 1-(1-P)^2).
# Outgoing packets are dropped at the ingress of the link's far end (hub
# port or NAT router) so the sender sees no error; only for a link the
# harness did not create is NS's own egress hook used instead.
nb_loss_set() {
	local ns=$1 pct=$2 dir=${3:-out} ifname=${4:-eth0} far farif
	case $pct in
	[0-9] | [1-9][0-9] | 100) ;;
	*) nb_log "nb_loss_set: PERCENT must be 0..100, got '$pct'"; return 1 ;;
	esac
	case $dir in out | in | both) ;; *) nb_log "nb_loss_set: DIR is out|in|both"; return 1 ;; esac
	nb_loss_clear "$ns" "$ifname"
	if [ "$dir" != in ]; then
		read -r far farif < <(awk -v i="$ifname" '$1 == i { print $2, $3; exit }' \
			"$NB_LAB/net/$ns.links" 2>/dev/null)
		if [ -n "$far" ]; then
			_nb_loss_table "$far" "$(_nb_nft_id nb_loss "$ns" "$ifname")" ingress "$farif" "$pct" || return 1
		else
			_nb_loss_table "$ns" "$(_nb_nft_id nb_loss_out "$ifname")" egress "$ifname" "$pct" || return 1
		fi
	fi
	if [ "$dir" != out ]; then
		_nb_loss_table "$ns" "$(_nb_nft_id nb_loss_in "$ifname")" ingress "$ifname" "$pct" || return 1
	fi
}

# _nb_loss_table NS TABLE HOOK DEVICE PERCENT
_nb_loss_table() {
	local rule="numgen random mod 100 < $5 drop"
	# numgen's "< 100" is out of its range 0..99.
	[ "$5" = 100 ] && rule=drop
	ip netns exec "$1" nft -f - <<-EOF
	table netdev $2 {
		chain loss {
			type filter hook $3 device "$4" priority -100; policy accept;
			$rule
		}
	}
	EOF
}

# nb_loss_clear NS [IFNAME]: removes what nb_loss_set NS put on IFNAME.
nb_loss_clear() {
	local ns=$1 ifname=${2:-eth0} far farif t
	read -r far farif < <(awk -v i="$ifname" '$1 == i { print $2, $3; exit }' \
		"$NB_LAB/net/$ns.links" 2>/dev/null)
	if [ -n "$far" ]; then
		t=$(_nb_nft_id nb_loss "$ns" "$ifname")
		ip netns exec "$far" nft list table netdev "$t" >/dev/null 2>&1 &&
			{ ip netns exec "$far" nft delete table netdev "$t" || return 1; }
	fi
	for t in "$(_nb_nft_id nb_loss_out "$ifname")" "$(_nb_nft_id nb_loss_in "$ifname")"; do
		ip netns exec "$ns" nft list table netdev "$t" >/dev/null 2>&1 &&
			{ ip netns exec "$ns" nft delete table netdev "$t" || return 1; }
	done
	return 0
}

# Topologies.  Each defines NB_PEER1 and NB_PEER2 (namespace names),
# NB_PEERn_ADDR (the peer's own address) and NB_PEERn_PUBLIC (the address
# it is seen under on the hub).  One topology per sandbox: the names are
# fixed.

_nb_topo_vars() {
	export NB_PEER1=peer1 NB_PEER2=peer2
	export NB_PEER1_ADDR=$1 NB_PEER2_ADDR=$2 NB_PEER1_PUBLIC=$3 NB_PEER2_PUBLIC=$4
}

# nb_topo_lan: both peers on the hub, 10.77.0.11 and 10.77.0.12.
nb_topo_lan() {
	_nb_topo_vars 10.77.0.11 10.77.0.12 10.77.0.11 10.77.0.12
	nb_net_host "$NB_PEER1" "$NB_PEER1_ADDR" && nb_net_host "$NB_PEER2" "$NB_PEER2_ADDR"
}

_nb_topo_nat() {
	_nb_topo_vars 10.78.1.2 10.78.2.2 10.77.0.101 10.77.0.102
	nb_netns_add "$NB_PEER1" && nb_net_behind_nat "$NB_PEER1" 1 "$1" &&
		nb_netns_add "$NB_PEER2" && nb_net_behind_nat "$NB_PEER2" 2 "$1"
}

# nb_topo_cone_nat: peer N at 10.78.N.2 behind its own port-preserving NAT
# router natN (10.77.0.(100+N)).
nb_topo_cone_nat() { _nb_topo_nat cone; }

# nb_topo_symmetric_nat: the same with random ports per destination.
nb_topo_symmetric_nat() { _nb_topo_nat symmetric; }

# nb_topo_relay_only: LAN peers between which every UDP packet is dropped
# (ICMP and TCP still pass); UDP to the control plane and coturn works, so
# the only UDP path between the peers is through a relay.
nb_topo_relay_only() {
	nb_topo_lan || return 1
	_nb_hub_block nb_relay_only "meta l4proto udp" "$NB_PEER1" "$NB_PEER2"
}

# Probes.  A reflector answers each UDP datagram, or each TCP connection
# once the client sent a line or shut down its side, with the address and
# port it came from, padded to a fixed length so the prober can stop
# reading at once instead of idling out.

NB_REFLECT_LEN=32

_nb_reflect_script() {
	local f="$NB_LAB/bin/nb-reflect"
	if [ ! -x "$f" ]; then
		mkdir -p "$NB_LAB/bin"
		# Reading the request first: exiting before socat has written it to
		# our stdin makes socat fail with EPIPE and drop the answer.
		printf '#!/bin/sh\nread -r _\nprintf "%%-%ds\\n" "$SOCAT_PEERADDR:$SOCAT_PEERPORT"\n' \
			$((NB_REFLECT_LEN - 1)) > "$f"
		chmod 755 "$f"
	fi
	echo "$f"
}

# nb_reflector_start NS PORT: UDP and TCP reflectors on PORT in NS.
nb_reflector_start() {
	local ns=$1 port=$2 f
	f=$(_nb_reflect_script)
	nb_spawn "reflect-udp-$ns-$port" ip netns exec "$ns" \
		socat "UDP4-RECVFROM:$port,fork" "EXEC:$f"
	nb_spawn "reflect-tcp-$ns-$port" ip netns exec "$ns" \
		socat "TCP4-LISTEN:$port,fork,reuseaddr" "EXEC:$f"
	nb_wait_until 5 "reflectors on $ns:$port" _nb_listening "$ns" "$port"
}

_nb_listening() {
	local -a lines
	mapfile -t lines < <(ip netns exec "$1" ss -Hlnut "sport = :$2")
	[ "${#lines[@]}" -ge 2 ]
}

# nb_probe_udp NS ADDR PORT [SRCPORT] [WAIT_S]: sends one datagram from NS
# (from SRCPORT if given) to a reflector; prints "addr:port" as the
# reflector saw the sender and succeeds, or fails after WAIT_S (default 2,
# fractions allowed) seconds without an answer.  socat's own timeouts bound
# both probes: no timeout(1), as every exec costs here.
nb_probe_udp() {
	local ns=$1 addr=$2 port=$3 src=${4:+,sourceport=$4} wait=${5:-2} out
	out=$(echo probe | ip netns exec "$ns" \
		socat -t "$wait" - "UDP4:$addr:$port$src,reuseaddr,readbytes=$NB_REFLECT_LEN" 2>/dev/null)
	out=${out%% *}
	[ -n "$out" ] && echo "$out"
}

# nb_probe_tcp NS ADDR PORT [WAIT_S]: the same over TCP.
nb_probe_tcp() {
	local ns=$1 addr=$2 port=$3 wait=${4:-2} out
	out=$(ip netns exec "$ns" \
		socat -t "$wait" -T "$wait" - "TCP4:$addr:$port,connect-timeout=$wait" </dev/null 2>/dev/null)
	out=${out%% *}
	[ -n "$out" ] && echo "$out"
}
