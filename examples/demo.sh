#!/usr/bin/env bash
# The wslp demo, from a fresh Debian 12 / Ubuntu machine, as root:
#   ./examples/demo.sh
# or as any user once root has run scripts/setup.sh (a per-user instance,
# docs/rootless.md).
# Installs what is needed, builds wslp, makes a throw-away root, imports a
# small busybox distribution, builds, signs and registers the demo plugin
# (examples/c/demo: Microsoft's WSL plugin sample for Linux), runs a command
# and prints what the plugin saw. Everything it makes goes away at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
[ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"

echo "==> building wslp (release)"
cargo build --release --bins -q
bin=$PWD/target/release
wslp() { "$bin/wslp" "$@"; }

work=$(mktemp -d /tmp/wslp-demo.XXXXXX)
export WSLP_ROOT=$work/root
export WSLP_DEMO_LOG=$work/plugin.log
cleanup() {
    wslp --shutdown >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

echo "==> building the demo plugin (C, against include/WslPluginApi.h)"
make -s -C examples/c/demo libdemo.so
cp examples/c/demo/libdemo.so "$work/libdemo.so"

echo "==> signing it with a fresh code-signing certificate and trusting that certificate"
wslp cert new --subject "CN=wslp demo signer" --key "$work/signer.key" --cert "$work/signer.pem" >/dev/null
wslp trust add "$work/signer.pem" >/dev/null
wslp sign --key "$work/signer.key" --cert "$work/signer.pem" "$work/libdemo.so" >/dev/null
wslp verify "$work/libdemo.so"

echo "==> registering the plugin and importing a busybox distribution"
wslp plugin add Demo "$work/libdemo.so"
./scripts/make-rootfs.sh "$work/rootfs.tar.gz"
wslp --import Demo "$work/distros/demo" "$work/rootfs.tar.gz"

echo "==> wslp -d Demo -- sh -c 'echo hello from \$(cat /etc/hostname); id'"
wslp -d Demo -- sh -c 'echo hello from $(cat /etc/hostname); id'
echo "==> wslp -l -v"
wslp -l -v
wslp --shutdown

echo "==> what the plugin saw ($WSLP_DEMO_LOG)"
cat "$WSLP_DEMO_LOG"
