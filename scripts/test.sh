#!/usr/bin/env bash
# Runs every check and test of paystate on a fresh machine: formatting, lints, and the whole
# test suite on SQLite and on PostgreSQL, and the event publisher against NATS JetStream.
# Installs and starts PostgreSQL and nats-server when they are missing; set
# PAYSTATE_TEST_POSTGRES_URL or PAYSTATE_TEST_NATS_URL yourself to use other servers.
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

# A NATS server with JetStream for the publisher's tests: the one PAYSTATE_TEST_NATS_URL names, or
# one answering on 127.0.0.1:4222, or else Debian's nats-server started here on its own port
# (stopped when the script ends). Tests that stop NATS start their own nats-server.
nats_answers() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

ensure_nats() {
  if [ -n "${PAYSTATE_TEST_NATS_URL:-}" ]; then
    return
  fi
  if nats_answers 4222; then
    export PAYSTATE_TEST_NATS_URL=nats://127.0.0.1:4222
    return
  fi
  if ! command -v nats-server >/dev/null 2>&1 && [ ! -x /usr/sbin/nats-server ]; then
    echo "installing nats-server…"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nats-server >/dev/null
  fi
  local server port=14222
  server=$(command -v nats-server || echo /usr/sbin/nats-server)
  nats_dir=$(mktemp -d)
  "$server" -js -a 127.0.0.1 -p "$port" -sd "$nats_dir" >"$nats_dir/nats.log" 2>&1 &
  nats_pid=$!
  for _ in $(seq 1 30); do
    nats_answers "$port" && break
    sleep 0.2
  done
  export PAYSTATE_TEST_NATS_URL=nats://127.0.0.1:$port
}

nats_pid=""
nats_dir=""
stop_nats() {
  if [ -n "$nats_pid" ]; then
    kill "$nats_pid" 2>/dev/null || true
    rm -rf "$nats_dir"
  fi
}

ensure_postgres
ensure_nats
ensure_chromium
trap stop_nats EXIT
echo "NATS tests run against $PAYSTATE_TEST_NATS_URL"
echo "PostgreSQL tests run against ${PAYSTATE_TEST_POSTGRES_URL%%@*}@… (password hidden)" | sed 's#://[^:]*:[^@]*@#://***@#'

# Secrets and databases never belong in the repository: a sealing key or a database file that is
# tracked fails the run before anything else.
tracked=$(git ls-files -- '*.sealing-key' '*.db' '*.db-wal' '*.db-shm' '*.sqlite' '*.sqlite3' 2>/dev/null || true)
if [ -n "$tracked" ]; then
  echo "these files must not be committed (secrets or databases):" >&2
  echo "$tracked" >&2
  exit 1
fi

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
test_log=$(mktemp)
trap 'rm -f "$test_log"; stop_nats' EXIT
cargo test --workspace --locked 2>&1 | tee "$test_log"

# The crash test's quick run: 3 kill -9s of a loaded server per store, on the debug build the tests
# just made; it fails on any lost, doubled or regressed write or missing webhook.
CRASH_PROFILE=debug bash bench/crash.sh --quick

# The benchmark's smoke run (seconds, no targets), so that it cannot rot.
bash bench/run.sh --smoke

# Whether the OpenAPI document describes what the server does: a bounded Schemathesis run (every
# check, 5 examples per operation) against the debug build the tests just made, installed from
# PyPI into a virtual environment under ~/.cache; any problem it finds fails the run. The seed is
# fixed so that CI repeats one exploration (run bench/schemathesis.sh without it to explore anew).
PAYSTATE_SCHEMATHESIS_SEED=20261207 bash bench/schemathesis.sh 5

# One closing line for the whole suite.
awk '/^test result:/ { passed += $4; failed += $6 } END { printf "tests: %d passed, %d failed\n", passed, failed }' "$test_log"
