#!/bin/bash
# shellcheck source-path=SCRIPTDIR/../lib
# Two nb-engine peers, each behind its own NAT router, with devnet and
# coturn (STUN + TURN) on the hub.  Cases (parallel sandboxes):
#   cone       port-preserving NATs (nb_topo_cone_nat): they must connect;
#              a P2P path can only use server/peer reflexive candidates
#              (the host candidates are private addresses), so P2P must
#              say srflx/prflx, never host.
#   symmetric  random ports per destination (nb_topo_symmetric_nat): no
#              direct path can work, so they must report Relayed (TURN or
#              devnet's relay).
# In both, what the status says must match where the packets go: pings of
# 1000 bytes through the tunnel are counted on the hub straight between
# the NAT routers' public addresses, through coturn, or through the relay.
. "${NB_SOURCE_ROOT:-$(dirname "$0")/../..}/tests/lib/harness.sh"
. "$NB_LIB_DIR/net.sh"
. "$NB_LIB_DIR/turn.sh"
. "$NB_LIB_DIR/engine.sh"
nb_sandbox "$@"
nb_cases cone symmetric
nb_engine_require

case $NB_CASE in
cone) nb_engine_standard_setup nb_topo_cone_nat ;;
symmetric) nb_engine_standard_setup nb_topo_symmetric_nat ;;
*) nb_die "unknown case '$NB_CASE'" ;;
esac
nb_engine_start_ab
nb_check "a reports b Connected" nb_engine_wait_peer 30 a b "$NB_CONNECTED"
nb_check "b reports a Connected" nb_engine_wait_peer 30 b a "$NB_CONNECTED"
# A P2P pair may still win over a TURN pair for a few seconds: let the
# selection settle (a TURN pair is reported no earlier than 2 s).
sleep 3
nb_log "a sees b: $(nb_engine_summary a b)"
nb_log "b sees a: $(nb_engine_summary b a)"
nb_check "ping a -> b through the tunnel" nb_tunnel_ping a b 5
nb_check "ping b -> a through the tunnel" nb_tunnel_ping b a 5

case $NB_CASE in
cone)
	for p in a:b b:a; do
		set -- "${p%:*}" "${p#*:}"
		if nb_engine_peer_is "$1" "$2" "$NB_P2P"; then
			nb_check "$1: P2P through NAT uses reflexive candidates, not host" \
				nb_engine_peer_is "$1" "$2" '(.local_type == "srflx" or .local_type == "prflx") and (.remote_type == "srflx" or .remote_type == "prflx")'
			nb_check "$1: the remote endpoint is the other NAT's public address" \
				nb_engine_peer_is "$1" "$2" '.remote_endpoint | startswith("10.77.0.10")'
		else
			nb_log "$1: not P2P behind cone NATs ($(nb_engine_peer_field "$1" "$2" conn_type))"
		fi
	done
	;;
symmetric)
	nb_check "a reports Relayed behind symmetric NATs" nb_engine_peer_is a b "$NB_RELAYED"
	nb_check "b reports Relayed behind symmetric NATs" nb_engine_peer_is b a "$NB_RELAYED"
	;;
esac
nb_paths_count_start a b
nb_check "a -> b: the packets take the path a's status names" nb_engine_check_path a b
nb_check "b -> a: the packets take the path b's status names" nb_engine_check_path b a
