#!/usr/bin/env bash
# `make run`: private Postgres, the Linq simulator (unless LINQ_API_KEY is set)
# and the gateway on defaults. Ctrl-C stops the gateway and the simulator; the
# database keeps running for the next `make run` (`make stop` stops it).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
BIN="$ROOT/bin/gateway"

export DATABASE_URL="$(scripts/pg.sh start)"
export HTTP_ADDR="${HTTP_ADDR:-127.0.0.1:8080}"
export PUBLIC_URL="${PUBLIC_URL:-http://$HTTP_ADDR}"
SIM_PID=""
cleanup() { [ -n "$SIM_PID" ] && kill "$SIM_PID" 2>/dev/null; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

if [ -z "${LINQ_API_KEY:-}" ]; then
	SIM_ADDR="${SIM_ADDR:-127.0.0.1:8090}"
	export LINQ_BASE_URL="http://$SIM_ADDR"
	# The gateway has no webhook receiver yet, so the simulator is not given
	# a webhook target; its events stay inside it.
	"$BIN" sim --addr "$SIM_ADDR" --lines 5 >/dev/null &
	SIM_PID=$!
	echo "Linq simulator on $LINQ_BASE_URL (no LINQ_API_KEY: no real message leaves this machine)"
fi

"$BIN" migrate up >/dev/null
KEY="$("$BIN" apikey create --name "dev $(date +%FT%T)" --scopes send,signup,ops:read,ops:write 2>/dev/null)"
echo
echo "Linegate:    $PUBLIC_URL"
echo "Dev API key: $KEY   (all scopes)"
echo "Try:         curl -s -H \"Authorization: Bearer $KEY\" $PUBLIC_URL/v1/ops/lines"
echo "Ops page:    $PUBLIC_URL/ops"
echo
"$BIN" serve
