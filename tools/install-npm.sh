#!/bin/bash
# Installs the Node packages of the protocol conformance tests
# (tests/protocol/node: @grpc/grpc-js, @grpc/proto-loader, pinned by
# package-lock.json) when node_modules is missing or older than the lock.
# Needs node + npm and the npm registry; does nothing when they are up to date.
set -euo pipefail
cd "$(dirname "$0")/../tests/protocol/node"

stamp=node_modules/.package-lock.json # written by npm on every install
if [ -f "$stamp" ] && [ ! package-lock.json -nt "$stamp" ]; then
	exit 0
fi
if ! command -v npm >/dev/null; then
	echo "install-npm.sh: npm not found; the gRPC conformance test will be skipped" >&2
	exit 0
fi
npm ci --no-audit --no-fund --ignore-scripts
