#!/bin/bash
# shellcheck source-path=SCRIPTDIR/../lib
# Two nb-engine peers between which every UDP packet is dropped on the hub
# (nb_topo_relay_only); UDP and TCP to the control plane and to coturn
# still work.  They must connect anyway, through devnet's relay (path
# "relay") or through ICE over coturn (path "ice" with a relay candidate),
# report conn_type Relayed, and pings must cross the tunnel along the path
# the status names (hub counters: relay TCP or TURN UDP, and no UDP between
# the hosts).
. "${NB_SOURCE_ROOT:-$(dirname "$0")/../..}/tests/lib/harness.sh"
. "$NB_LIB_DIR/net.sh"
. "$NB_LIB_DIR/turn.sh"
. "$NB_LIB_DIR/engine.sh"
nb_sandbox "$@"
nb_engine_require

nb_engine_standard_setup nb_topo_relay_only
nb_engine_start_ab

nb_check "a reports b Connected, Relayed" nb_engine_wait_peer 30 a b "$NB_RELAYED"
nb_check "b reports a Connected, Relayed" nb_engine_wait_peer 30 b a "$NB_RELAYED"
nb_log "a sees b: $(nb_engine_summary a b)"
nb_log "b sees a: $(nb_engine_summary b a)"
nb_check "ping a -> b through the tunnel" nb_tunnel_ping a b 5
nb_check "ping b -> a through the tunnel" nb_tunnel_ping b a 5
nb_check_not "a never reported P2P with b" nb_engine_has a '.event == "peer" and .conn_type == "P2P"'
nb_check_not "b never reported P2P with a" nb_engine_has b '.event == "peer" and .conn_type == "P2P"'

nb_paths_count_start a b
nb_check "a -> b: pings take the relayed path the status names" nb_engine_check_path a b
nb_check "b -> a: pings take the relayed path the status names" nb_engine_check_path b a
# A path that says "relay" must name the relay server it uses.
for p in a:b b:a; do
	set -- "${p%:*}" "${p#*:}"
	if [ "$(nb_engine_peer_field "$1" "$2" path)" = relay ]; then
		nb_check "$1: relay_address names devnet's relay" \
			grep -q "$NB_CTL_ADDR:$NB_DEVNET_RELAY_PORT" <<< "$(nb_engine_peer_field "$1" "$2" relay_address)"
	fi
done
