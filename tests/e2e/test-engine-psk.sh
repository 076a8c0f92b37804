#!/bin/bash
# shellcheck source-path=SCRIPTDIR/../lib
# NetBird's pre-shared key (PreSharedKey in its config.json, vpn.secrets
# preshared-key here): every WireGuard peer of the engine gets it.  Two LAN
# peers with the same key ping each other and wg(8) shows the key on the
# peer; with different keys WireGuard's handshake cannot complete, so no
# ping gets through even though ICE still connects (the engines cannot
# tell a wrong key from a slow peer, as NetBird cannot either).
. "${NB_SOURCE_ROOT:-$(dirname "$0")/../..}/tests/lib/harness.sh"
. "$NB_LIB_DIR/net.sh"
. "$NB_LIB_DIR/turn.sh"
. "$NB_LIB_DIR/engine.sh"
nb_sandbox "$@"
nb_engine_require
nb_require_cmd wg

psk=$NB_LAB/psk
other_psk=$NB_LAB/psk-other
(umask 077; wg genpsk > "$psk"; wg genpsk > "$other_psk")

nb_engine_standard_setup nb_topo_lan
nb_engine_start a "$NB_PEER1" --preshared-key-file "$psk"
nb_engine_start b "$NB_PEER2" --preshared-key-file "$psk"
nb_engine_wait_all_started a b || nb_die "both engines started"
nb_check "a reports b Connected P2P" nb_engine_wait_peer 20 a b "$NB_P2P"
nb_check "ping a -> b through the tunnel with the shared key" nb_tunnel_ping a b 5
nb_check "a's WireGuard carries the pre-shared key for b" \
	test "$(ip netns exec "$NB_PEER1" wg show "${NB_ENG_IF[a]}" preshared-keys |
		awk -v k="$(nb_engine_key b)" '$1 == k { print $2 }')" = "$(cat "$psk")"
nb_check_not "the key is on no command line" grep -qF "$(cat "$psk")" /proc/[0-9]*/cmdline

nb_engine_stop b
nb_engine_start b "$NB_PEER2" --preshared-key-file "$other_psk"
nb_engine_wait_all_started b || nb_die "b started again"
nb_check "b reports a Connected (ICE does not know the key)" nb_engine_wait_peer 20 b a "$NB_P2P"
nb_check_not "no ping gets through with different keys" nb_tunnel_ping a b 3 4

nb_engine_stop a
nb_engine_stop b
nb_check "a stopped cleanly" test "${NB_ENG_RC[a]}" = 0
nb_check "b stopped cleanly" test "${NB_ENG_RC[b]}" = 0
