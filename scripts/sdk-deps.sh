#!/usr/bin/env bash
# Installs the pinned Linq TypeScript SDK (test/sdk) that judges the
# simulator's conformance; on a machine without npm, Debian's nodejs and npm
# are installed first.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../test/sdk"
[ -d node_modules/@linqapp/sdk ] && exit 0
if ! command -v npm >/dev/null 2>&1; then
	echo "sdk-deps: npm not found; installing Debian's nodejs and npm" >&2
	sudo=""
	[ "$(id -u)" -ne 0 ] && sudo="sudo"
	export DEBIAN_FRONTEND=noninteractive
	$sudo apt-get update -qq >&2
	$sudo apt-get install -y -qq nodejs npm >&2
fi
npm ci --no-audit --no-fund --loglevel=error
