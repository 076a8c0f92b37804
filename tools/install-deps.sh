#!/bin/sh
# Installs every Debian package the build, the demo and the tests need.
# Idempotent: packages already present are skipped, so a second run is quick.
# A policy-rc.d guard keeps apt from starting any daemon on the host
# (dbus, coturn, NetworkManager): the tests start their own, in namespaces.
set -eu

PACKAGES="
  meson ninja-build pkg-config gcc clang libclang-rt-14-dev gettext
  libglib2.0-dev libglib2.0-bin glib-networking libnm-dev libnice-dev
  libprotobuf-c-dev protobuf-c-compiler libprotobuf-dev libsodium-dev libsoup-3.0-dev
  libnghttp2-dev libsecret-1-dev libgtk-4-dev libnma-gtk4-dev libnma-headers
  libglib-testing-0-dev libgnutls28-dev appstream openssl
  libgtk-3-dev libnma-dev libjson-glib-dev libgtk-4-bin gnome-keyring libsecret-tools xdotool
  network-manager dbus dbus-bin wireguard-go wireguard-tools coturn iperf3
  nftables iproute2 iputils-ping socat procps xvfb xauth python3-gi gir1.2-glib-2.0 jq
  bind9-dnsutils
  nodejs
"

missing=""
# nodejs from some sources bundles npm; only ask Debian for npm when absent.
command -v npm >/dev/null 2>&1 || PACKAGES="$PACKAGES npm"
for p in $PACKAGES; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	case "$status" in
	*" installed") ;;
	*) missing="$missing $p" ;;
	esac
done

if [ -n "$missing" ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "install-deps: these packages are missing and installing them needs root:$missing" >&2
		exit 1
	fi
	guard=/usr/sbin/policy-rc.d
	guard_added=""
	if [ ! -e "$guard" ]; then
		printf '#!/bin/sh\nexit 101\n' > "$guard"
		chmod 755 "$guard"
		guard_added=1
	fi
	echo "install-deps: installing$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	apt-get install -y -q --no-install-recommends $missing
	if [ -n "$guard_added" ]; then
		rm -f "$guard"
	fi
fi
