#!/usr/bin/env bash
# Runs Schemathesis (installed from PyPI into a virtual environment outside the checkout) against
# a fresh debug `paystate serve` on SQLite, authenticated, with every check: whether the OpenAPI
# document describes what the server does. Prints Schemathesis' summary; exits as it does.
# bench/schemathesis.toml gives the dialects' credentials and the test tenant's identifiers.
#   bash bench/schemathesis.sh [MAX_EXAMPLES]        # default 10 examples per operation
#   PAYSTATE_SCHEMATHESIS_SEED=N bash bench/schemathesis.sh 5   # repeat one run (CI pins its seed)
# The version is pinned so that a new release cannot change what a run checks unannounced; raise
# it on purpose.
set -euo pipefail
cd "$(dirname "$0")/.."

examples="${1:-10}"
venv="${PAYSTATE_SCHEMATHESIS_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/paystate-schemathesis}"
version=4.32.5
if ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -q "$version"; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "schemathesis==$version"
fi
seed=()
[ -n "${PAYSTATE_SCHEMATHESIS_SEED:-}" ] && seed=(--seed "$PAYSTATE_SCHEMATHESIS_SEED")
config="$(pwd)/bench/schemathesis.toml"
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
# The dialects' settings that bench/schemathesis.toml's identifiers name.
curl -sf -X PATCH "http://127.0.0.1:$port/v1/tenant" -H "Authorization: Bearer $key" \
  -H 'Content-Type: application/merge-patch+json' \
  -d '{"settings": {"gormic": {"organization_id": "schemathesis-organization"}, "norce": {"merchants": ["schemathesis-merchant"]}}}' \
  >/dev/null
# The bearer key for the native API and Norce, the same key as Gormic's and Teljoy's api-key
# (and Omnicasa's path secret, Teljoy's body apiKey: see bench/schemathesis.toml).
# Run from the temporary directory: Schemathesis keeps its example database (.hypothesis) and
# its .schemathesis cache there.
export PAYSTATE_SCHEMATHESIS_KEY="$key"
cd "$work"
"$venv/bin/schemathesis" --config-file "$config" run "http://127.0.0.1:$port/openapi.json" \
  -H "Authorization: Bearer $key" -H "api-key: $key" \
  --checks all -n "$examples" --workers 2 --no-color --generation-database none "${seed[@]}"
