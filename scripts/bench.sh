#!/usr/bin/env bash
# The benchmark suite: builds wslp in release mode and prints the whole table
# (every figure a ratio to a peer measured in the same run), and writes it as
# target/wslp-bench/results.json and target/wslp-bench/results.png.
#   sudo scripts/bench.sh            # the full run, a few minutes on 2 cores
#   sudo scripts/bench.sh --quick    # fewer iterations, a smoke run
#   sudo scripts/bench.sh --only wslc   # only the WSLC rows (issue 19)
#   sudo scripts/bench.sh --baseline REV   # also: warm and cold runs of this
#       build against release binaries of git revision REV, built side by side
#       (docs/benchmarks.md: what the user namespace adds, against 4cc4707)
# Exit status: 0 when every goal is met, 2 when one is missed, 1 on an error.
# Micro-benchmarks of hot paths: cargo bench -p wslp-bench
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
    echo "bench.sh: run as root (the VM and the peers need namespaces and mounts): sudo $0" >&2
    exit 1
fi

# The peers and what the suite itself needs, installed when missing.
pkgs=(bubblewrap crun hyperfine util-linux coreutils busybox-static gcc tar xz-utils zstd fonts-dejavu-core docker.io containerd runc)
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
target_dir=${target_dir:-$PWD/target}

# The wslp that releases ship (scripts/release.sh): static, musl. The warm and
# --version goals are on it; without the target, on this build's.
musl=x86_64-unknown-linux-musl
args=()
if rustup target list --installed 2>/dev/null | grep -qx "$musl" || rustup target add "$musl" >/dev/null 2>&1; then
    cargo build --release --quiet --target "$musl" -p wslp-cli
    args+=(--static "$target_dir/$musl/release")
else
    echo "bench.sh: no $musl target: the static client's rows are left out" >&2
fi

# --baseline REV: the binaries of REV, from its files (git archive, no
# worktree registered) with a target directory of its own (cargo rebuilds
# only what changed when REV does).
while [ $# -gt 0 ]; do
    case "$1" in
    --baseline)
        rev=$(git rev-parse --verify "${2:?--baseline needs a git revision}^{commit}")
        src=$target_dir/wslp-bench/baseline-src
        if [ "$(cat "$src/.wslp-bench-rev" 2>/dev/null)" != "$rev" ]; then
            rm -rf "$src"
            mkdir -p "$src"
            git archive --format=tar "$rev" | tar -x -C "$src"
            echo "$rev" >"$src/.wslp-bench-rev"
        fi
        echo "bench.sh: building the baseline $2 ($rev) in $src" >&2
        (cd "$src" && CARGO_TARGET_DIR=$target_dir/wslp-bench/baseline-target \
            cargo build --release --quiet -p wslp-cli -p wslp-service -p wslp-host)
        bin=$target_dir/wslp-bench/baseline-target/release
        echo "$2 (${rev:0:7})" >"$bin/REVISION"
        args+=(--baseline "$bin")
        shift 2
        ;;
    *)
        args+=("$1")
        shift
        ;;
    esac
done
exec "$target_dir/release/wslp-bench" --out "$target_dir/wslp-bench" "${args[@]}"
