#!/usr/bin/env bash
# The benchmark suite: builds wslp in release mode and prints the whole table
# (every figure a ratio to a peer measured in the same run), and writes it as
# target/wslp-bench/results.json and target/wslp-bench/results.png.
#   sudo scripts/bench.sh            # the full run, a few minutes on 2 cores
#   sudo scripts/bench.sh --quick    # fewer iterations, a smoke run
# Exit status: 0 when every goal is met, 2 when one is missed, 1 on an error.
# Micro-benchmarks of hot paths: cargo bench -p wslp-bench
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
    echo "bench.sh: run as root (the VM and the peers need namespaces and mounts): sudo $0" >&2
    exit 1
fi

# The peers and what the suite itself needs, installed when missing.
pkgs=(bubblewrap crun hyperfine util-linux coreutils busybox-static gcc tar fonts-dejavu-core)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "bench.sh: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
command -v cargo >/dev/null 2>&1 || [ ! -x "$HOME/.cargo/bin/cargo" ] || export PATH="$HOME/.cargo/bin:$PATH"
command -v cargo >/dev/null 2>&1 || { echo "bench.sh: cargo is missing: run scripts/setup.sh first" >&2; exit 1; }

# One build, so that wslp, wslpd, the plugin host and the suite match.
cargo build --release --quiet -p wslp-cli -p wslp-service -p wslp-host -p wslp-bench
target_dir=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
exec "${target_dir:-target}/release/wslp-bench" --out "${target_dir:-target}/wslp-bench" "$@"
