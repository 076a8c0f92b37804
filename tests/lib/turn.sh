# shellcheck shell=bash
# coturn as the TURN/STUN server of the test network (needs harness.sh and
# net.sh).  It runs in its own namespace "turn" at 10.77.0.3 on the hub.

NB_TURN_NS=turn
NB_TURN_ADDR=10.77.0.3
NB_TURN_PORT=3478
NB_TURN_REALM=netbird.test
# Relay ports: a small range is enough for a test and keeps coturn's
# startup (it pre-allocates the range) fast.
NB_TURN_MIN_PORT=49160
NB_TURN_MAX_PORT=49260

# _nb_turn_run AUTH_LINES...: writes coturn's config with the given
# authentication lines and starts it in its own namespace on the hub, then
# waits until it listens.  A config file, not arguments, so no password or
# secret is in ps output; -c (not -n) keeps the host's
# /etc/turnserver.conf out.
_nb_turn_run() {
	local dir="$NB_LAB/turn" line
	export NB_TURN_ADDR NB_TURN_PORT NB_TURN_REALM
	nb_require_cmd turnserver
	# nb_net_attach gives it a default route via the never-answering
	# 10.77.0.254: without one, a relayed send to an unroutable peer
	# candidate fails with ENETUNREACH and coturn drops the whole
	# allocation (lab F9).
	nb_net_host "$NB_TURN_NS" "$NB_TURN_ADDR" || return 1
	mkdir -p "$dir"
	(
		umask 077
		{
			for line in "$@"; do printf '%s\n' "$line"; done
			cat <<-EOF
			listening-ip=$NB_TURN_ADDR
			relay-ip=$NB_TURN_ADDR
			listening-port=$NB_TURN_PORT
			min-port=$NB_TURN_MIN_PORT
			max-port=$NB_TURN_MAX_PORT
			realm=$NB_TURN_REALM
			fingerprint
			no-tls
			no-dtls
			no-cli
			no-software-attribute
			userdb=$dir/turndb
			pidfile=$dir/turnserver.pid
			log-file=stdout
			simple-log
			verbose
			EOF
		} > "$dir/turnserver.conf"
	)
	nb_spawn turnserver ip netns exec "$NB_TURN_NS" turnserver -c "$dir/turnserver.conf"
	if ! nb_wait_until 10 "coturn listening on $NB_TURN_ADDR:$NB_TURN_PORT" _nb_turn_listening; then
		nb_alive turnserver || nb_log "turnserver exited; see $NB_LAB/log/turnserver.log"
		return 1
	fi
}

# nb_turn_start [USER PASS]: starts coturn with long-term credentials for
# USER/PASS (default nbuser/nbpass) and waits until it listens on
# 10.77.0.3:3478/udp.  Exports NB_TURN_ADDR, NB_TURN_PORT, NB_TURN_USER,
# NB_TURN_PASS, NB_TURN_REALM.  Log: $NB_LAB/log/turnserver.log.
nb_turn_start() {
	export NB_TURN_USER=${1:-nbuser} NB_TURN_PASS=${2:-nbpass}
	_nb_turn_run lt-cred-mech "user=$NB_TURN_USER:$NB_TURN_PASS"
}

# nb_turn_start_rest SECRET_FILE: starts coturn in REST mode
# (use-auth-secret, static-auth-secret = the first line of SECRET_FILE), as
# NetBird's TURN credentials expect (user = expiry time, password = base64
# HMAC-SHA1), and waits until it listens on 10.77.0.3:3478/udp.  Exports
# NB_TURN_ADDR, NB_TURN_PORT, NB_TURN_REALM.  Log: $NB_LAB/log/turnserver.log.
nb_turn_start_rest() {
	local secret
	IFS= read -r secret < "$1" || [ -n "$secret" ] || { nb_log "no secret in $1"; return 1; }
	_nb_turn_run use-auth-secret "static-auth-secret=$secret"
}

_nb_turn_listening() {
	local out
	out=$(ip netns exec "$NB_TURN_NS" ss -Hlun "sport = :$NB_TURN_PORT") || return 1
	grep -qF "$NB_TURN_ADDR:$NB_TURN_PORT" <<< "$out"
}

# nb_turn_stop: stops coturn (nb_cleanup does it too).
nb_turn_stop() { nb_kill turnserver; }
