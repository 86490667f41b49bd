#!/usr/bin/env bash
# Headless Chromium for the ops dashboard's browser test: installs Debian's
# chromium package when it is missing, like pg.sh does Postgres, and prints
# the binary's path on stdout.
set -euo pipefail

log() { echo "chromium.sh: $*" >&2; }

find_bin() {
	local b
	for b in "${CHROMIUM_BIN:-}" /usr/bin/chromium /usr/bin/chromium-browser; do
		[ -n "$b" ] && [ -x "$b" ] && { echo "$b"; return 0; }
	done
	return 1
}

if ! bin="$(find_bin)"; then
	log "chromium not found; installing Debian's chromium package"
	sudo=""
	[ "$(id -u)" -ne 0 ] && sudo="sudo"
	export DEBIAN_FRONTEND=noninteractive
	$sudo apt-get update -qq >&2
	$sudo apt-get install -y -qq chromium >&2
	bin="$(find_bin)" || { log "chromium is still missing after the install"; exit 1; }
fi
echo "$bin"
