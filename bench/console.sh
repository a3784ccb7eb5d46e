#!/usr/bin/env bash
# The console's page times at 100,000 payments on SQLite, in release mode: the p99 of the
# overview, the payments list (plain, paged, filtered, searched) and a payment page must stay
# under 50 ms. Set PAYSTATE_CONSOLE_BENCH_PAYMENTS for another size.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --release --locked -p paystate-console --test console page_times -- --ignored --nocapture
