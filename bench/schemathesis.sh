#!/usr/bin/env bash
# Runs Schemathesis (installed from PyPI into a virtual environment outside the checkout) against
# a fresh debug `paystate serve` on SQLite, authenticated, with every check: whether the OpenAPI
# document describes what the server does. Prints Schemathesis' summary; exits as it does.
#   bash bench/schemathesis.sh [MAX_EXAMPLES]        # default 10 examples per operation
set -euo pipefail
cd "$(dirname "$0")/.."

examples="${1:-10}"
venv="${PAYSTATE_SCHEMATHESIS_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/paystate-schemathesis}"
if [ ! -x "$venv/bin/schemathesis" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q schemathesis
fi
cargo build --locked -p paystate
binary="$(cd "${CARGO_TARGET_DIR:-target}" && pwd)/debug/paystate"

work=$(mktemp -d)
trap 'kill "$server" 2>/dev/null || true; rm -rf "$work"' EXIT
url="sqlite://$work/paystate.db"
key=$("$binary" --database-url "$url" tenant create "Schemathesis" --json | python3 -c 'import json, sys; print(json.load(sys.stdin)["api_key"])')
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
PAYSTATE_LOG=warn "$binary" --database-url "$url" serve --listen "127.0.0.1:$port" >"$work/server.log" 2>&1 &
server=$!
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break
  sleep 0.1
done
# The bearer key for the native API and Norce, the same key as Gormic's and Teljoy's api-key.
# Run from the temporary directory: Schemathesis keeps its example database (.hypothesis) there.
cd "$work"
"$venv/bin/schemathesis" run "http://127.0.0.1:$port/openapi.json" \
  -H "Authorization: Bearer $key" -H "api-key: $key" \
  --checks all -n "$examples" --workers 2 --no-color
