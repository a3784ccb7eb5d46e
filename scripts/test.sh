#!/usr/bin/env bash
# Runs every check and test of paystate on a fresh machine: formatting, lints, and the whole
# test suite on SQLite and on PostgreSQL. Installs and starts PostgreSQL when it is missing;
# set PAYSTATE_TEST_POSTGRES_URL yourself to use another server.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo is missing: install Rust (https://rustup.rs) and run again" >&2
  exit 1
fi

ensure_postgres() {
  if [ -n "${PAYSTATE_TEST_POSTGRES_URL:-}" ]; then
    return
  fi
  if ! command -v pg_ctlcluster >/dev/null 2>&1; then
    echo "installing PostgreSQL…"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  fi
  if ! pg_isready -h 127.0.0.1 -p 5432 -q; then
    local version
    version=$(ls /etc/postgresql | sort -V | tail -n 1)
    pg_ctlcluster --skip-systemctl-redirect "$version" main start 2>/dev/null || pg_ctlcluster "$version" main start
    for _ in $(seq 1 30); do
      pg_isready -h 127.0.0.1 -p 5432 -q && break
      sleep 1
    done
  fi
  # A known password makes the URL work under trust and password authentication alike.
  if command -v su >/dev/null 2>&1; then
    su postgres -c "psql -q -c \"ALTER USER postgres PASSWORD 'postgres'\"" >/dev/null 2>&1 || true
  fi
  export PAYSTATE_TEST_POSTGRES_URL=postgres://postgres:postgres@127.0.0.1:5432/postgres
}

# The console's browser tests drive Debian's Chromium through chromedriver; they fail (never
# skip) when either is missing, so install both here.
ensure_chromium() {
  if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
    return
  fi
  echo "installing Chromium and chromedriver…"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
}

ensure_postgres
ensure_chromium
echo "PostgreSQL tests run against ${PAYSTATE_TEST_POSTGRES_URL%%@*}@… (password hidden)" | sed 's#://[^:]*:[^@]*@#://***@#'

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
test_log=$(mktemp)
trap 'rm -f "$test_log"' EXIT
cargo test --workspace --locked 2>&1 | tee "$test_log"

# The benchmark's smoke run (seconds, no targets), so that it cannot rot.
bash bench/run.sh --smoke

# One closing line for the whole suite.
awk '/^test result:/ { passed += $4; failed += $6 } END { printf "tests: %d passed, %d failed\n", passed, failed }' "$test_log"
