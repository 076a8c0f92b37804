# shellcheck shell=bash
# What the desktop UI tests need besides the harness: an X server for GTK
# and, for the auth dialog, a private D-Bus session bus with a Secret
# Service on it. Everything is started with nb_spawn inside nb_sandbox, so
# it dies with the test; nothing touches the user's display, bus or keyring.

# nb_ui_xvfb: starts Xvfb on a display number it picks itself (-displayfd),
# exports DISPLAY and the GTK environment for a headless, deterministic run.
nb_ui_xvfb() {
	nb_require_cmd Xvfb
	local fifo="$NB_LAB/xvfb-display"
	: > "$fifo"
	nb_spawn xvfb Xvfb -displayfd 3 -screen 0 1280x1024x24 -nolisten tcp -noreset 3>"$fifo"
	nb_wait_until 20 "Xvfb to pick a display" test -s "$fifo" || nb_die "Xvfb did not start"
	DISPLAY=":$(head -n1 "$fifo")"
	export DISPLAY
	export GDK_BACKEND=x11 GSK_RENDERER=cairo GTK_A11Y=none NO_AT_BRIDGE=1
	export GSETTINGS_BACKEND=memory GTK_THEME=Adwaita
	nb_log "Xvfb on $DISPLAY"
}

# nb_ui_home: a fresh HOME and XDG runtime directory, so that keyrings and
# caches are the test's own.
nb_ui_home() {
	export HOME="$NB_LAB/home" XDG_RUNTIME_DIR="$NB_LAB/xdg-runtime"
	export XDG_DATA_HOME="$HOME/.local/share" XDG_CONFIG_HOME="$HOME/.config" XDG_CACHE_HOME="$HOME/.cache"
	mkdir -p "$XDG_DATA_HOME" "$XDG_CONFIG_HOME" "$XDG_CACHE_HOME"
	mkdir -p "$XDG_RUNTIME_DIR" && chmod 0700 "$XDG_RUNTIME_DIR"
}

# nb_ui_session_bus: a dbus-daemon with the session configuration on a
# socket in the lab; exports DBUS_SESSION_BUS_ADDRESS.
nb_ui_session_bus() {
	nb_require_cmd dbus-daemon
	local sock="$NB_LAB/session-bus"
	nb_spawn session-bus dbus-daemon --session --nofork --nopidfile --address="unix:path=$sock"
	nb_wait_until 10 "the session bus socket" test -S "$sock" || nb_die "dbus-daemon did not start"
	export DBUS_SESSION_BUS_ADDRESS="unix:path=$sock"
}

nb_ui_secret_service_up() {
	dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
		org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets | grep -q 'boolean true'
}

# nb_ui_keyring: gnome-keyring-daemon's Secret Service on the session bus,
# with a login keyring created and unlocked with a throwaway password (read
# from stdin, as PAM would give it).
nb_ui_keyring() {
	nb_require_cmd gnome-keyring-daemon dbus-send
	nb_spawn keyring bash -c 'printf "%s" nb-test-keyring | exec gnome-keyring-daemon --foreground --unlock --components=secrets'
	nb_wait_until 20 "the Secret Service on the session bus" nb_ui_secret_service_up \
		|| nb_die "gnome-keyring-daemon did not take org.freedesktop.secrets"
}
