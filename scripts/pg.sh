#!/usr/bin/env bash
# Private PostgreSQL cluster for development, tests and benchmarks.
#   scripts/pg.sh start   start (or reuse) the cluster; prints DATABASE_URL on stdout
#   scripts/pg.sh stop    stop it
#   scripts/pg.sh url     print DATABASE_URL of a running cluster
#   scripts/pg.sh clean   stop it and delete its data (the dev database too)
# If DATABASE_URL is already set, `start` and `url` just print it.
# PG_DATA_DIR puts the cluster in another folder (a second, separate cluster,
# as the chaos run uses); a restarted cluster keeps its port when it is free.
# Data lives under .pgdata/ (git-ignored); the server listens on 127.0.0.1 and a
# unix socket only, on a free port, with a generated password. Works as root
# (the server runs as the postgres user) and as an ordinary user.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DATA_LINK="${PG_DATA_DIR:-$ROOT/.pgdata}"
log() { echo "pg.sh: $*" >&2; }

find_bin() {
	local d
	if command -v initdb >/dev/null 2>&1; then dirname "$(readlink -f "$(command -v initdb)")"; return 0; fi
	for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
		[ -x "$d/initdb" ] && { echo "$d"; return 0; }
	done
	return 1
}

install_postgres() {
	log "initdb not found; installing Debian's postgresql package"
	local sudo=""
	[ "$(id -u)" -ne 0 ] && sudo="sudo"
	export DEBIAN_FRONTEND=noninteractive
	$sudo apt-get update -qq >&2
	$sudo apt-get install -y -qq postgresql >&2
	# Debian starts its own cluster on 5432; we do not use it.
	$sudo service postgresql stop >/dev/null 2>&1 || true
}

as_owner() {
	if [ "$(id -u)" -eq 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

# Ports come from below the kernel's ephemeral range: a client connection
# anywhere on the box can hold an ephemeral port as its local end, which a
# connect check cannot see and which makes the server's bind fail.
port_range() {
	local lo=32768 hi
	[ -r /proc/sys/net/ipv4/ip_local_port_range ] && read -r lo hi </proc/sys/net/ipv4/ip_local_port_range
	if [ "$lo" -gt 20000 ]; then echo "$((lo - 8000)) $((lo - 1))"; else echo "54329 54999"; fi
}

# port_taken: something listens on the port or a socket is bound to it
# (states 01 established, 02 connecting, 07 bound, 0A listening). A stopped
# server's own connections, closing (FIN_WAIT, TIME_WAIT, ...) while its
# clients have not yet noticed, do not count: the server binds over them,
# and counting them moved a restarted cluster to another port.
port_taken() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
	local hex; hex="$(printf ':%04X ' "$1")"
	cat /proc/net/tcp /proc/net/tcp6 2>/dev/null |
		awk '$4 == "01" || $4 == "02" || $4 == "07" || $4 == "0A" {print $2" "}' | grep -qF "$hex"
}

# free_port [skip...]: the first free port of the range not among skip.
free_port() {
	local p lo hi
	read -r lo hi <<<"$(port_range)"
	for p in $(seq "$lo" "$hi"); do
		case " $* " in *" $p "*) continue ;; esac
		port_taken "$p" || { echo "$p"; return 0; }
	done
	log "no free port in $lo-$hi"; return 1
}

data_dir() {
	if [ -L "$DATA_LINK" ] || [ -d "$DATA_LINK" ]; then readlink -f "$DATA_LINK"; return; fi
	if [ "$(id -u)" -eq 0 ]; then
		mkdir -p "$DATA_LINK"
		chown postgres: "$DATA_LINK"
		# The postgres user must reach the folder; if the checkout's path is
		# closed to it, keep the data in /var/tmp and link it here.
		if ! runuser -u postgres -- test -w "$DATA_LINK"; then
			rmdir "$DATA_LINK"
			[ -z "${PG_DATA_DIR:-}" ] || { log "the postgres user cannot write PG_DATA_DIR $DATA_LINK"; return 1; }
			local alt="/var/tmp/linegate-pg-$(echo -n "$ROOT" | sha1sum | cut -c1-12)"
			mkdir -p "$alt" && chown postgres: "$alt" && ln -s "$alt" "$DATA_LINK"
		fi
	else
		mkdir -p "$DATA_LINK"
	fi
	readlink -f "$DATA_LINK"
}

url_of() {
	local dir="$1"
	echo "postgres://linegate:$(cat "$dir/password")@127.0.0.1:$(cat "$dir/port")/linegate?sslmode=disable"
}

cmd_start() {
	if [ -n "${DATABASE_URL:-}" ]; then echo "$DATABASE_URL"; return 0; fi
	local bin dir
	bin="$(find_bin)" || { install_postgres; bin="$(find_bin)"; }
	dir="$(data_dir)"
	exec 9>"$dir/.lock"
	flock 9
	if [ ! -f "$dir/cluster/PG_VERSION" ]; then
		log "initialising a private cluster in $dir"
		head -c 18 /dev/urandom | base64 | tr -d '/+=' >"$dir/password"
		cp "$dir/password" "$dir/.pwfile"
		[ "$(id -u)" -eq 0 ] && chown postgres: "$dir" "$dir/password" "$dir/.pwfile" "$dir/.lock"
		chmod 600 "$dir/password" "$dir/.pwfile"
		as_owner "$bin/initdb" -D "$dir/cluster" -U linegate --pwfile="$dir/.pwfile" \
			--auth-local=scram-sha-256 --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
			|| { cat "$dir/initdb.log" >&2; exit 1; }
		rm -f "$dir/.pwfile"
		mkdir -p "$dir/run"
		[ "$(id -u)" -eq 0 ] && chown postgres: "$dir/run"
	fi
	if as_owner "$bin/pg_ctl" -D "$dir/cluster" status >/dev/null 2>&1; then
		log "cluster already running on port $(cat "$dir/port")"
	else
		local port="" tried="" try
		if [ -f "$dir/port" ] && ! port_taken "$(cat "$dir/port")"; then port="$(cat "$dir/port")"; fi
		# WAL compression: the first change to a page after a checkpoint
		# writes the whole page to the WAL, and at fleet size a send
		# touches pages of several large indexes; compressing them brought
		# the scale run's sends closer to the small run's (docs/scaling.md).
		# lz4 from PostgreSQL 15 on, pglz before.
		local walz=lz4
		[ "$("$bin/postgres" --version | sed -E 's/[^0-9]*([0-9]+).*/\1/')" -ge 15 ] || walz=on
		# Another process can take the port between the check and the
		# bind; then the next free one is tried.
		for try in 1 2 3 4 5; do
			[ -n "$port" ] || port="$(free_port $tried)"
			echo "$port" >"$dir/port"
			if as_owner "$bin/pg_ctl" -D "$dir/cluster" -l "$dir/server.log" -w -t 60 start 9>&- -o \
				"-p $port -c listen_addresses=127.0.0.1 -c unix_socket_directories=$dir/run -c max_connections=400 -c shared_buffers=256MB -c fsync=${PG_FSYNC:-on} -c wal_compression=$walz" >&2; then
				break
			fi
			if [ "$try" -eq 5 ] || ! tail -5 "$dir/server.log" | grep -q "could not create any TCP/IP sockets"; then
				tail -20 "$dir/server.log" >&2; exit 1
			fi
			log "port $port was taken as the server bound it; trying another"
			tried="$tried $port"; port=""
		done
		log "cluster started on 127.0.0.1:$port"
	fi
	# The default database for `make run`; tests create their own.
	if ! PGPASSWORD="$(cat "$dir/password")" "$bin/psql" -h 127.0.0.1 -p "$(cat "$dir/port")" -U linegate -d postgres -tAc \
		"SELECT 1 FROM pg_database WHERE datname='linegate'" | grep -q 1; then
		PGPASSWORD="$(cat "$dir/password")" "$bin/psql" -h 127.0.0.1 -p "$(cat "$dir/port")" -U linegate -d postgres -qc "CREATE DATABASE linegate" >&2
	fi
	url_of "$dir"
}

cmd_stop() {
	local bin dir
	[ -e "$DATA_LINK" ] || { log "no cluster"; return 0; }
	bin="$(find_bin)" || { log "postgres not installed"; return 0; }
	dir="$(readlink -f "$DATA_LINK")"
	if as_owner "$bin/pg_ctl" -D "$dir/cluster" status >/dev/null 2>&1; then
		as_owner "$bin/pg_ctl" -D "$dir/cluster" -m fast -w stop >&2
	else
		log "cluster not running"
	fi
}

# The data is .pgdata/ itself, or (when the checkout's path is closed to the
# postgres user) /var/tmp/linegate-pg-<hash of the checkout path> behind a
# .pgdata link; clean removes either, and nothing else.
cmd_clean() {
	if [ ! -e "$DATA_LINK" ] && [ ! -L "$DATA_LINK" ]; then log "no cluster data"; return 0; fi
	local dir; dir="$(readlink -f "$DATA_LINK")"
	case "$dir" in
	"$DATA_LINK" | "$(cd "$ROOT" && pwd -P)/.pgdata" | /var/tmp/linegate-pg-*) ;;
	*) log "refusing to delete $dir: .pgdata points outside the places pg.sh uses"; return 1 ;;
	esac
	cmd_stop
	[ -L "$DATA_LINK" ] && rm -f "$DATA_LINK"
	rm -rf "$dir"
	log "removed $dir"
}

cmd_url() {
	if [ -n "${DATABASE_URL:-}" ]; then echo "$DATABASE_URL"; return 0; fi
	url_of "$(readlink -f "$DATA_LINK")"
}

case "${1:-}" in
start) cmd_start ;;
stop) cmd_stop ;;
url) cmd_url ;;
clean) cmd_clean ;;
*) echo "usage: $0 start|stop|url|clean" >&2; exit 2 ;;
esac
