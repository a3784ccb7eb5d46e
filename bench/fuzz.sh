#!/usr/bin/env bash
# Fuzzes every parser that reads what callers send (cargo-fuzz, libFuzzer, nightly Rust):
# Norce's order, Omnicasa's JSON and XML, Gormic's params, Teljoy's body and the native API's
# JSON bodies, each for SECONDS (default 60; the issue's bar is 600), seeded with fuzz/seeds/.
# Fails on a panic, a timeout or an invariant a target asserts. Nothing is written into the
# checkout but, with --keep, the minimized corpus (fuzz/corpus/: commit it, never the crashes):
# builds go to $PAYSTATE_FUZZ_DIR/target and crashes to $PAYSTATE_FUZZ_DIR/artifacts/TARGET/
# (~/.cache/paystate-fuzz by default).
#   bash bench/fuzz.sh 600 [--keep] [TARGET…]
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-60}"
shift || true
keep=false
targets=()
for arg in "$@"; do
  case "$arg" in
    --keep) keep=true ;;
    *) targets+=("$arg") ;;
  esac
done
[ ${#targets[@]} -gt 0 ] || targets=(norce_order omnicasa_update gormic_params teljoy_body native_bodies)

command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
rustup toolchain list | grep -q nightly || rustup toolchain install nightly --profile minimal

out="${PAYSTATE_FUZZ_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/paystate-fuzz}"
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for target in "${targets[@]}"; do
  corpus="$work/$target"
  mkdir -p "$corpus"
  cp fuzz/seeds/"$target"/* "$corpus"/ 2>/dev/null || true
  [ -d fuzz/corpus/"$target" ] && cp fuzz/corpus/"$target"/* "$corpus"/ 2>/dev/null || true
  echo "== $target: ${seconds}s"
  mkdir -p "$out/artifacts/$target"
  if (cd fuzz && cargo +nightly fuzz run --target-dir "$out/target" "$target" "$corpus" -- \
      -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix="$out/artifacts/$target/") >"$work/$target.log" 2>&1; then
    status=0
  else
    status=$?
  fi
  # cargo-fuzz makes fuzz/artifacts/TARGET in the checkout whatever -artifact_prefix says (the
  # prefix given last wins, so nothing lands there): take the empty folders away again.
  rmdir fuzz/artifacts/"$target" fuzz/artifacts 2>/dev/null || true
  grep -E "^(#[0-9]+ +DONE|stat::number_of_executed_units|stat::peak_rss_mb|==[0-9]+==|SUMMARY)|panicked|Test unit written" \
    "$work/$target.log" || true
  if [ "$status" -ne 0 ]; then
    tail -40 "$work/$target.log" >&2
    echo "$target failed (see $out/artifacts/$target)" >&2
    exit "$status"
  fi
  if $keep; then
    mkdir -p fuzz/corpus/"$target"
    (cd fuzz && cargo +nightly fuzz cmin --target-dir "$out/target" "$target" "$corpus" >/dev/null 2>&1)
    rm -f fuzz/corpus/"$target"/*
    cp "$corpus"/* fuzz/corpus/"$target"/
  fi
done
echo "fuzzing: ${#targets[@]} targets, ${seconds}s each, no failure"
