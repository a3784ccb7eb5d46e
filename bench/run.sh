#!/usr/bin/env bash
# Benchmarks paystate on SQLite and PostgreSQL with one command. Builds release binaries, runs
# bench on both databases, appends every measurement as a JSON line to DATE.jsonl in $PAYSTATE_BENCH_RESULTS (~/.cache/paystate-bench by default)
# and prints the summaries. Extra arguments go to paystate-bench (e.g. --seconds 30, --smoke).
#   bash bench/run.sh                 # the full run (100,000 orders, 64 connections)
#   bash bench/run.sh --smoke         # seconds, no targets: what CI runs
set -euo pipefail
cd "$(dirname "$0")/.."

profile=release
if [[ " $* " == *" --smoke "* ]]; then
  profile=debug # the smoke run checks that the benchmark works, not how fast
fi
if [ "$profile" = release ]; then
  cargo build --release --locked -p paystate -p paystate-bench
else
  cargo build --locked -p paystate -p paystate-bench
fi

# Results go outside the checkout (no run writes into it), to PAYSTATE_BENCH_RESULTS if set.
results="${PAYSTATE_BENCH_RESULTS:-${XDG_CACHE_HOME:-$HOME/.cache}/paystate-bench}"
mkdir -p "$results"
out="$results/$(date -u +%Y%m%dT%H%M%SZ).jsonl"
postgres_url="${PAYSTATE_BENCH_POSTGRES_URL:-${PAYSTATE_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}}"

"target/$profile/paystate-bench" --database sqlite --out "$out" "$@"
if pg_isready -h 127.0.0.1 -q 2>/dev/null || [ -n "${PAYSTATE_BENCH_POSTGRES_URL:-}" ]; then
  "target/$profile/paystate-bench" --database postgres --postgres-url "$postgres_url" --out "$out" "$@"
else
  echo "PostgreSQL is not reachable: skipped its benchmark" >&2
fi

# The event stream's benchmark (SSE and NATS JetStream; see bench/README.md), when NATS answers.
nats_url="${PAYSTATE_BENCH_NATS_URL:-${PAYSTATE_TEST_NATS_URL:-nats://127.0.0.1:4222}}"
nats_address=${nats_url#nats://}
events_args=()
if [[ " $* " == *" --smoke "* ]]; then
  events_args+=(--smoke)
fi
if (exec 3<>"/dev/tcp/${nats_address%:*}/${nats_address##*:}") 2>/dev/null; then
  "target/$profile/paystate-events-bench" --nats-url "$nats_url" "${events_args[@]}"
else
  echo "NATS is not reachable at $nats_url: skipped the event stream benchmark" >&2
fi
echo "results: $out"
