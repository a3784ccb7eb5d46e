#!/usr/bin/env bash
# The crash test (issue 19): kill -9s a loaded `paystate serve` again and again, restarts it, and
# checks that every acknowledged write is there exactly once, nothing unsent is, no payment moved
# backwards, event numbers are gap-free, amounts equal their events and every webhook arrived.
# Prints a table; exits non-zero on any violation. Extra arguments go to `paystate-bench crash`.
#   bash bench/crash.sh                       # both stores: 50 kills on SQLite, 20 on PostgreSQL
#   bash bench/crash.sh --quick               # 3 kills per store, about two minutes each (CI)
#   bash bench/crash.sh --store sqlite --kills 10 --writers 32
#   target/debug/paystate-bench crash --help  # every option
# The server is a release build (set CRASH_PROFILE=debug to crash a debug build instead); the
# harness itself is built in debug, which is fast enough to drive it. PostgreSQL runs need
# PAYSTATE_TEST_POSTGRES_URL (a server where a database may be created; it is dropped after).
set -euo pipefail
cd "$(dirname "$0")/.."

target="${CARGO_TARGET_DIR:-target}"
profile="${CRASH_PROFILE:-release}"
if [ "$profile" = release ]; then
  cargo build --release --locked -p paystate
else
  cargo build --locked -p paystate
fi
cargo build --locked -p paystate-bench
# Absolute: the server runs in its own temporary directory.
target="$(cd "$target" && pwd)"

args=("$@")
if [[ " $* " != *" --store "* ]]; then
  # Both stores by default, PostgreSQL only when a server is there to crash on.
  if [ -n "${PAYSTATE_TEST_POSTGRES_URL:-}" ] || pg_isready -h 127.0.0.1 -q 2>/dev/null; then
    args+=(--store both)
  else
    echo "PostgreSQL is not reachable (set PAYSTATE_TEST_POSTGRES_URL): SQLite only" >&2
    args+=(--store sqlite)
  fi
fi
exec "$target/debug/paystate-bench" crash --server "$target/$profile/paystate" "${args[@]}"
