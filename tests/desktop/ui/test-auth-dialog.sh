#!/bin/bash
# shellcheck source-path=SCRIPTDIR/../../lib source-path=SCRIPTDIR
# nm-netbird-auth-dialog over its stdin/stdout protocol, as a secret agent
# drives it: normal and --external-ui-mode, with the setup key in a real
# Secret Service (gnome-keyring on a private session bus) and without it,
# with hints and reprompt, and the interactive GTK4 prompt on Xvfb, typed
# into with xdotool (XTEST) as a user would.
set -u
. "${NB_SOURCE_ROOT:-$(dirname "$0")/../../..}/tests/lib/harness.sh"
. "$(dirname "${BASH_SOURCE[0]}")/ui-lib.sh"
nb_sandbox "$@"
nb_require_cmd secret-tool

DIALOG="$NB_BUILD_ROOT/auth-dialog/nm-netbird-auth-dialog"
SERVICE=org.freedesktop.NetworkManager.netbird
STORED_UUID=1d6a3b52-51a8-4c11-9a3c-6d7f0a1b2c01     # its secrets are in the keyring
BARE_UUID=2e7b4c63-62b9-4d22-8b4d-7e801b2c3d02       # nothing stored
KEY=A1B2C3D4-0000-4111-8222-0123456789AB
OTHER_KEY=0F0E0D0C-1111-4222-8333-444455556666
PSK=kDyh9e9mCgzlRMo8qUsaplZeNvf4Pq7tPUxrJ+5dDmM=

nb_ui_home
nb_ui_session_bus
nb_ui_keyring

# store KEY VALUE UUID: as an agent stores an agent-owned VPN secret.
store() {
	printf '%s' "$2" | secret-tool store --label="NetBird $1" \
		xdg:schema org.freedesktop.NetworkManager.Connection \
		connection-uuid "$3" setting-name vpn setting-key "$1"
}
store setup-key "$KEY" "$STORED_UUID" || nb_die "secret-tool could not store the setup key"
store preshared-key "$PSK" "$STORED_UUID" || nb_die "secret-tool could not store the pre-shared key"
nb_check "keyring holds the setup key" \
	test "$(secret-tool lookup connection-uuid "$STORED_UUID" setting-name vpn setting-key setup-key)" = "$KEY"

# details FLAGS [PSK_FLAGS] [SECRET]: what NetworkManager writes to stdin.
details() {
	printf 'DATA_KEY=management-url\nDATA_VAL=https://nb.example.com:443\n\n'
	printf 'DATA_KEY=setup-key-flags\nDATA_VAL=%s\n\n' "$1"
	[ -n "${2:-}" ] && printf 'DATA_KEY=preshared-key-flags\nDATA_VAL=%s\n\n' "$2"
	[ -n "${3:-}" ] && printf 'SECRET_KEY=setup-key\nSECRET_VAL=%s\n\n' "$3"
	printf 'DONE\n\n'
}

OUT="$NB_LAB/out"
# run INPUT ARGS...: the dialog with INPUT (then QUIT) on stdin; stdout in
# $OUT, exit status in $RC.
run() {
	local input=$1; shift
	printf '%sQUIT\n\n' "$input" | timeout 30 "$DIALOG" -n "office" -s "$SERVICE" "$@" > "$OUT" 2>"$NB_LAB/err"
	RC=$?
}

# kf GROUP KEY: a value from the external-UI keyfile in $OUT.
kf() {
	awk -v g="[$1]" -v k="$2" '$0 == g { in_g = 1; next } /^\[/ { in_g = 0 }
		in_g && index($0, k "=") == 1 { print substr($0, length(k) + 2) }' "$OUT"
}

expect_plain() {   # expect_plain DESCRIPTION EXPECTED-STDOUT
	if [ "$RC" = 0 ] && [ "$(cat "$OUT"; echo x)" = "$(printf '%b' "$2"; echo x)" ]; then
		nb_ok "$1"
	else
		nb_fail "$1 (exit $RC, got: $(od -c "$OUT" | head -5))"
	fi
}

expect_kf() {      # expect_kf DESCRIPTION GROUP KEY VALUE
	local got
	got=$(kf "$2" "$3")
	if [ "$RC" = 0 ] && [ "$got" = "$4" ]; then nb_ok "$1"; else nb_fail "$1 (exit $RC, [$2] $3='$got', want '$4')"; fi
}

# --- a stored setup key is found without asking -------------------------
# (DISPLAY is not set yet: a dialog that tried to prompt would fail.)
run "$(details 1)" -u "$STORED_UUID" -i
expect_plain "normal mode: keyring setup key returned, no prompt" "setup-key\n$KEY\n\n\n"

run "$(details 1 1)" -u "$STORED_UUID"
expect_plain "normal mode: agent-owned pre-shared key returned too" "setup-key\n$KEY\npreshared-key\n$PSK\n\n\n"

run "$(details 1)" -u "$STORED_UUID" -i --external-ui-mode
expect_kf "external UI: stored key is the value" setup-key Value "$KEY"
expect_kf "external UI: stored key is not asked" setup-key ShouldAsk false
expect_kf "external UI: it is secret" setup-key IsSecret true
expect_kf "external UI: version 2" "VPN Plugin UI" Version 2
expect_kf "external UI: title" "VPN Plugin UI" Title "Authenticate VPN"
nb_check "external UI: description names the connection" grep -q '^Description=.*office' "$OUT"

run "$(details 1 '' "$OTHER_KEY")" -u "$STORED_UUID"
expect_plain "the secret NetworkManager passes wins over the keyring" "setup-key\n$OTHER_KEY\n\n\n"

run "$(details 2)" -u "$STORED_UUID" -i --external-ui-mode
expect_kf "ask every time (NOT_SAVED): keyring ignored" setup-key Value ""
expect_kf "ask every time (NOT_SAVED): asked" setup-key ShouldAsk true

run "$(details 1)" -u "$STORED_UUID" -i -r --external-ui-mode
expect_kf "reprompt: asked again" setup-key ShouldAsk true
expect_kf "reprompt: prefilled with the stored key" setup-key Value "$KEY"

# --- nothing stored -------------------------------------------------------
run "$(details 1)" -u "$BARE_UUID"
expect_plain "normal mode, no interaction: empty answer" "\n\n"

run "$(details 1)" -u "$BARE_UUID" -i --external-ui-mode
expect_kf "external UI: missing key is asked" setup-key ShouldAsk true
expect_kf "external UI: missing key has no value" setup-key Value ""
nb_check_not "external UI: optional pre-shared key not asked" grep -q '^\[preshared-key\]' "$OUT"

run "$(details 1)" -u "$BARE_UUID" --external-ui-mode
expect_kf "external UI without -i: not asked" setup-key ShouldAsk false

run "$(details 4)" -u "$BARE_UUID" -i
expect_plain "setup key not required (registered peer): nothing asked" "\n\n"

run "$(details 4)" -u "$BARE_UUID" -i --external-ui-mode
nb_check_not "setup key not required: no entry in the external UI" grep -q '^\[setup-key\]' "$OUT"

# --- hints ----------------------------------------------------------------
run "$(details 4)" -u "$BARE_UUID" -i --external-ui-mode -t setup-key -t "x-vpn-message:Registration needs the setup key"
expect_kf "hint: the service's request overrides the flags" setup-key ShouldAsk true
expect_kf "hint: x-vpn-message is the description" "VPN Plugin UI" Description "Registration needs the setup key"

run "$(details 1 4)" -u "$BARE_UUID" -i --external-ui-mode -t preshared-key
expect_kf "hint: pre-shared key asked" preshared-key ShouldAsk true
nb_check_not "hint: only what is hinted" grep -q '^\[setup-key\]' "$OUT"

# --- refusals ---------------------------------------------------------------
run "$(details 1)" -u "$BARE_UUID" -s org.freedesktop.NetworkManager.openvpn
nb_check "another service is refused" test "$RC" != 0 -a ! -s "$OUT"
printf 'DONE\n\n' | timeout 10 "$DIALOG" -n office -s "$SERVICE" > "$OUT" 2>/dev/null
nb_check "no UUID is refused" test $? != 0 -a ! -s "$OUT"

# --- the interactive prompt (GTK4, libnma's dialog) -----------------------
nb_require_cmd xdotool
nb_ui_xvfb

# prompt_start: the dialog asking for BARE_UUID's key, its stdin on fd 4.
prompt_start() {
	rm -f "$NB_LAB/in" && mkfifo "$NB_LAB/in"
	"$DIALOG" -u "$BARE_UUID" -n office -s "$SERVICE" -i < "$NB_LAB/in" > "$OUT" 2>"$NB_LAB/err" &
	PROMPT_PID=$!
	exec 4>"$NB_LAB/in"
	details 1 >&4
	WIN=$(timeout 20 xdotool search --sync --onlyvisible --name '^Authenticate VPN$' | head -n1)
	[ -n "$WIN" ] || nb_die "the prompt did not appear"
	xdotool windowfocus --sync "$WIN"
}

# prompt_type TEXT: types into the focused entry and presses Return.
prompt_type() {
	xdotool type --delay 5 "$1"
	xdotool key Return
}

prompt_finish() {   # sends QUIT; RC is the dialog's exit status
	printf 'QUIT\n\n' >&4
	exec 4>&-
	wait "$PROMPT_PID"
	RC=$?
}

prompt_start
prompt_type "$KEY"
nb_wait_until 20 "the typed key on stdout" grep -qx "$KEY" "$OUT"
prompt_finish
expect_plain "prompt: the typed setup key is the answer" "setup-key\n$KEY\n\n\n"

# A malformed key is refused in the dialog and asked again.
prompt_start
prompt_type "not-a-setup-key"
nb_wait_until 20 "the prompt to come back" \
	bash -c "xdotool search --onlyvisible --name '^Authenticate VPN$' | grep -vqx '$WIN'"
WIN=$(xdotool search --onlyvisible --name '^Authenticate VPN$' | head -n1)
xdotool windowfocus --sync "$WIN"
nb_check "prompt: nothing answered for a malformed key" test ! -s "$OUT"
xdotool key ctrl+a
prompt_type "$OTHER_KEY"
nb_wait_until 20 "the corrected key on stdout" grep -qx "$OTHER_KEY" "$OUT"
prompt_finish
expect_plain "prompt: the corrected key is the answer" "setup-key\n$OTHER_KEY\n\n\n"

# Cancel: no answer, failure status.
prompt_start
xdotool key Escape
wait "$PROMPT_PID"
RC=$?
exec 4>&-
nb_check "prompt: cancel fails without an answer" test "$RC" != 0 -a ! -s "$OUT"
