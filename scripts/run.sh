#!/usr/bin/env bash
# `make run`: private Postgres, the Linq simulator (unless LINQ_API_KEY is set)
# and the gateway on defaults. Ctrl-C stops the gateway and the simulator and
# ends with status 0; the database keeps running for the next `make run`
# (`make stop` stops it).
#
#   HTTP_ADDR    gateway listen address (default 127.0.0.1:8080)
#   SIM_ADDR     simulator listen address (default 127.0.0.1:8090)
#   GATEWAY_BIN  the gateway binary (default bin/gateway, built by `make run`)
#
# A busy address stops the script with a message before anything starts;
# the URL and the dev API key are printed only once the gateway answers
# /readyz.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
BIN="${GATEWAY_BIN:-$ROOT/bin/gateway}"
READY_TIMEOUT="${READY_TIMEOUT:-60}"

log() { echo "run.sh: $*" >&2; }
die() { log "$*"; exit 1; }

# host_of host:port — where to connect to reach a listener on that address.
host_of() {
	local host="${1%:*}"
	case "$host" in "" | 0.0.0.0) echo 127.0.0.1 ;; "[::]") echo ::1 ;; *) echo "${host#[}" | tr -d ']' ;; esac
}

# busy host:port — true when something accepts connections there.
busy() {
	(exec 3<>"/dev/tcp/$(host_of "$1")/${1##*:}") 2>/dev/null
}

# http_status host:port path — the status code of a GET, empty on no answer.
http_status() {
	local host port="${1##*:}" line
	host="$(host_of "$1")"
	{
		exec 3<>"/dev/tcp/$host/$port" &&
			printf 'GET %s HTTP/1.0\r\nHost: %s\r\n\r\n' "$2" "$1" >&3 &&
			IFS=' ' read -r -t 2 _ line _ <&3 &&
			echo "$line"
	} 2>/dev/null || true
}

check_addr() {
	local name="$1" addr="$2"
	[[ "$addr" =~ :[0-9]+$ ]] || die "$name=$addr is not host:port"
	if busy "$addr"; then
		die "$name $addr is already in use (another \`make run\`?). Stop what listens there or pick another address, e.g. $name=${addr%:*}:$((${addr##*:} + 100)) make run"
	fi
}

[ -x "$BIN" ] || die "$BIN not found: run \`make run\` (it builds the binary)"

export HTTP_ADDR="${HTTP_ADDR:-127.0.0.1:8080}"
export PUBLIC_URL="${PUBLIC_URL:-http://$HTTP_ADDR}"
check_addr HTTP_ADDR "$HTTP_ADDR"
SIM=""
if [ -z "${LINQ_API_KEY:-}" ]; then
	SIM=1
	SIM_ADDR="${SIM_ADDR:-127.0.0.1:8090}"
	check_addr SIM_ADDR "$SIM_ADDR"
	export LINQ_BASE_URL="http://$SIM_ADDR"
fi

export DATABASE_URL="${DATABASE_URL:-$(scripts/pg.sh start)}"

# On a terminal the gateway runs as its own foreground job, so Ctrl-C reaches
# it alone: it drains and exits 0, and neither this script nor make is
# interrupted. Elsewhere an INT or TERM to the script stops both children.
INTERACTIVE=""
if [ -t 0 ] && [ -t 1 ]; then
	INTERACTIVE=1
	set -m
fi

SIM_PID="" GW_PID="" SIM_LOG=""
stop_children() {
	local pid
	for pid in $GW_PID $SIM_PID; do kill -TERM "$pid" 2>/dev/null || true; done
	for pid in $GW_PID $SIM_PID; do wait "$pid" 2>/dev/null || true; done
	GW_PID="" SIM_PID=""
	[ -n "$SIM_LOG" ] && rm -f "$SIM_LOG"
	return 0
}
trap 'stop_children' EXIT
trap 'stop_children; exit 0' INT TERM

if [ -n "$SIM" ]; then
	# The simulator's own secret (GET /_sim/webhook-secret) is one the
	# gateway accepts too, so a hand-signed test delivery gets in.
	SIM_SECRET="whsec_$(head -c 24 /dev/urandom | base64 | tr -d '\n')"
	export LINQ_WEBHOOK_SECRETS="${LINQ_WEBHOOK_SECRETS:+$LINQ_WEBHOOK_SECRETS,}$SIM_SECRET"
	SIM_LOG="$(mktemp "${TMPDIR:-/tmp}/linegate-sim.XXXXXX")"
	"$BIN" sim --addr "$SIM_ADDR" --lines 5 --webhook-secret "$SIM_SECRET" >"$SIM_LOG" 2>&1 &
	SIM_PID=$!
	# The simulator prints its address once it listens; if it exits first,
	# show why and stop.
	for ((i = 0; i < READY_TIMEOUT * 10; i++)); do
		grep -q "listening on" "$SIM_LOG" && break
		if ! kill -0 "$SIM_PID" 2>/dev/null; then
			cat "$SIM_LOG" >&2
			SIM_PID=""
			die "the Linq simulator did not start on $SIM_ADDR"
		fi
		sleep 0.1
	done
	grep -q "listening on" "$SIM_LOG" || die "the Linq simulator did not listen on $SIM_ADDR within ${READY_TIMEOUT}s"
	echo "Linq simulator on $LINQ_BASE_URL (no LINQ_API_KEY: no real message leaves this machine)"
fi

"$BIN" migrate up >/dev/null
# apikey create explains the key on stderr; show that only if it fails.
KEY_ERR="$(mktemp "${TMPDIR:-/tmp}/linegate-key.XXXXXX")"
KEY="$("$BIN" apikey create --name "dev $(date +%FT%T)" --scopes send,signup,ops:read,ops:write 2>"$KEY_ERR")" ||
	{ cat "$KEY_ERR" >&2; rm -f "$KEY_ERR"; die "could not create a dev API key"; }
rm -f "$KEY_ERR"

"$BIN" serve &
GW_PID=$!
for ((i = 0; i < READY_TIMEOUT * 10; i++)); do
	[ "$(http_status "$HTTP_ADDR" /readyz)" = 200 ] && break
	if ! kill -0 "$GW_PID" 2>/dev/null; then
		wait "$GW_PID" && code=0 || code=$?
		GW_PID=""
		die "the gateway exited (status $code) before it was ready on $HTTP_ADDR"
	fi
	sleep 0.1
done
[ "$(http_status "$HTTP_ADDR" /readyz)" = 200 ] || die "the gateway did not answer /readyz on $HTTP_ADDR within ${READY_TIMEOUT}s"

echo
echo "Linegate:    $PUBLIC_URL"
echo "Dev API key: $KEY   (all scopes)"
echo "Try:         curl -s -H \"Authorization: Bearer $KEY\" $PUBLIC_URL/v1/ops/lines"
echo "Ops page:    $PUBLIC_URL/ops"
echo "Ctrl-C stops the gateway and the simulator."
echo

if [ -n "$INTERACTIVE" ]; then
	fg %+ >/dev/null && code=0 || code=$?
else
	wait "$GW_PID" && code=0 || code=$?
fi
GW_PID=""
exit "$code"
