#!/usr/bin/env bash
# Runs every test of wslp: unit tests, real namespaces/mounts/dlopen as root,
# and end-to-end tests that drive the wslp and wslpd binaries.
# Run as root on Debian 12 / Ubuntu: ./scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
[ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"
if [ "$(id -u)" -ne 0 ]; then
    echo "test.sh: the tests create namespaces and mounts; run as root (sudo ./scripts/test.sh)" >&2
    exit 1
fi
# Gates first: a formatting or lint failure needs no test run to be seen.
cargo fmt --all --check
cargo clippy --workspace --all-targets -- -D warnings
cargo build --workspace --bins
if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --workspace --no-fail-fast
else
    cargo test --workspace --no-fail-fast
fi
# The binaries a release ships (static wslp and wslpd, the plugin host),
# run with a C plugin in a root that holds nothing else but busybox and libc.
./scripts/release.sh
# The Rust SDK's promise that one source builds for WSL too: the sample as a
# Windows DLL exporting WSLPluginAPIV1_EntryPoint.
if rustup target list --installed 2>/dev/null | grep -qx x86_64-pc-windows-gnu; then
    ./examples/rust/build-windows.sh
else
    echo "test.sh: SKIPPED the Windows DLL check: the x86_64-pc-windows-gnu target could not be installed" >&2
fi
