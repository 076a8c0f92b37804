#!/bin/bash
# shellcheck source-path=SCRIPTDIR/../lib
# A clean stop leaves nothing behind.  Cases (parallel sandboxes):
#   connected  two nb-engine LAN peers connected P2P, traffic through the
#              tunnel; a gets SIGTERM, b SIGINT.
#   connecting b registers, then stops; a starts and tries to connect to
#              the offline b (offers unanswered, ICE gathering, guard
#              timers running) and gets SIGTERM while it reports b
#              Connecting.
# Each engine must print "stopped" as its last line and exit 0, and then:
# no nb-engine or wireguard-go process (pgrep), no UAPI socket (the
# directory is empty, ss -xl shows none), no wt interface, and no network
# namespace the harness did not create.
. "${NB_SOURCE_ROOT:-$(dirname "$0")/../..}/tests/lib/harness.sh"
. "$NB_LIB_DIR/net.sh"
. "$NB_LIB_DIR/turn.sh"
. "$NB_LIB_DIR/engine.sh"
nb_sandbox "$@"
nb_cases connected connecting
nb_engine_require

nb_engine_standard_setup nb_topo_lan
case $NB_CASE in
connected)
	nb_engine_start_ab
	nb_engine_pair_up 20 a b "$NB_P2P" || nb_die "a and b connected P2P"
	nb_check "ping a -> b" nb_tunnel_ping a b 3
	nb_engine_stop_clean a
	b_saw_a_go() { nb_engine_peer_is b a '.status != "Connected"'; }
	if nb_wait_until 15 "" b_saw_a_go; then
		nb_log "b after a stopped: $(nb_engine_summary b a)"
	else
		nb_log "b still reports a Connected 15 s after a stopped"
	fi
	nb_engine_stop b INT
	nb_check "b: exit 0 on SIGINT (got ${NB_ENG_RC[b]})" test "${NB_ENG_RC[b]}" = 0
	nb_check "b: last line is \"stopped\"" \
		jq -e -s -R 'split("\n") | map(select(length > 0)) | last | fromjson | .event == "stopped"' \
		"$(nb_engine_json b)"
	nb_check "b: no process, interface, UAPI socket or namespace left" nb_engine_gone b
	;;
connecting)
	nb_engine_start b "$NB_PEER2"
	nb_engine_wait_started b || nb_die "b started"
	nb_engine_stop_clean b
	nb_engine_start a "$NB_PEER1"
	nb_engine_wait_started a || nb_die "a started"
	connecting() { nb_engine_peer_is a b '.status == "Connecting"'; }
	nb_wait_until 10 "a connecting to b" connecting || nb_die "a reports the offline b Connecting"
	sleep 1
	nb_log "a before SIGTERM: $(nb_engine_summary a b)"
	nb_engine_stop_clean a
	;;
esac
nb_check "no nb-engine process left (pgrep)" test -z "$(pgrep -a nb-engine)"
nb_check "no wireguard-go process left (pgrep)" test -z "$(pgrep -a wireguard-go)"
nb_check "the UAPI directory is empty" test -z "$(ls -A /run/wireguard)"
for ns in "$NB_PEER1" "$NB_PEER2"; do
	nb_check "$ns: no wt interface" test -z "$(ip -n "$ns" -o link show | grep ': wt')"
	nb_check "$ns: no listening unix socket (ss -xlp)" \
		test -z "$(ip netns exec "$ns" ss -Hxlp | grep -E 'wireguard|nb-engine|wt[a-z]')"
done
nb_check "only the harness's namespaces exist" \
	test "$(ip netns list | awk '{print $1}' | sort)" = "$(sort -u "$NB_LAB/netns")"
