#!/usr/bin/env bash
# Runs every cargo-fuzz target of fuzz/ for SECONDS each (default 600), two at a
# time, under nice. Needs a nightly toolchain and cargo-fuzz, which it installs.
# Crashes land in fuzz/artifacts/<target>/: add each one to
# fuzz/regressions/<target>/ so `cargo test` replays it (crates/*/tests/fuzz_regressions.rs).
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
secs=${1:-600}
shift || true
rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
command -v cargo-fuzz >/dev/null || cargo +nightly install cargo-fuzz --locked
targets=("$@")
[ "${#targets[@]}" -gt 0 ] || mapfile -t targets < <(cargo +nightly fuzz list)
cargo +nightly fuzz build -O "${targets[@]/#/}" >/dev/null 2>&1 || cargo +nightly fuzz build -O
mkdir -p logs
run() {
    local t=$1
    mkdir -p "corpus/$t" "work/$t"
    # New inputs go to work/ (not committed); corpus/ holds the seeds.
    nice -n 19 cargo +nightly fuzz run -O "$t" "work/$t" "corpus/$t" -- \
        -max_total_time="$secs" -rss_limit_mb=2048 -print_final_stats=1 >"logs/$t.log" 2>&1 &&
        echo "fuzz.sh: $t: $(grep -E '^stat::number_of_executed_units' "logs/$t.log" | awk '{print $2}' | tail -n 1) execs in ${secs}s, no crash" ||
        echo "fuzz.sh: $t: FAILED, see fuzz/logs/$t.log and fuzz/artifacts/$t/" >&2
}
i=0
for t in "${targets[@]}"; do
    run "$t" &
    i=$((i + 1))
    if [ $((i % 2)) -eq 0 ]; then wait; fi
done
wait
