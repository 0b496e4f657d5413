#!/bin/sh
# Builds the Rust example plugins as Windows DLLs (x86_64-pc-windows-gnu, with
# Debian's mingw-w64) and checks that each exports WSLPluginAPIV1_EntryPoint,
# the one symbol wslservice looks up.
#
# Needs: rustup target add x86_64-pc-windows-gnu; apt-get install mingw-w64.
# Usage: examples/rust/build-windows.sh [--release]
set -eu

target=x86_64-pc-windows-gnu
profile=debug
cargo_flags=
if [ "${1:-}" = "--release" ]; then
    profile=release
    cargo_flags=--release
fi

cd "$(dirname "$0")/../.."
root=$(pwd)

if ! rustup target list --installed 2>/dev/null | grep -qx "$target"; then
    echo "build-windows.sh: the Rust target $target is missing; run: rustup target add $target" >&2
    exit 1
fi
if ! command -v x86_64-w64-mingw32-objdump >/dev/null; then
    echo "build-windows.sh: x86_64-w64-mingw32-objdump is missing; run: apt-get install mingw-w64" >&2
    exit 1
fi

# shellcheck disable=SC2086 # cargo_flags is empty or one word
cargo build $cargo_flags --target "$target" -p wslp-sdk -p wslp-sample-plugin -p wslp-shared-folder-plugin

out="${CARGO_TARGET_DIR:-$root/target}/$target/$profile"
status=0
for dll in wslp_sample_plugin.dll wslp_shared_folder_plugin.dll; do
    path="$out/$dll"
    if [ ! -f "$path" ]; then
        echo "build-windows.sh: $path was not built" >&2
        status=1
        continue
    fi
    # The export table lists "[ordinal] name" lines; an exact name match is needed.
    if x86_64-w64-mingw32-objdump -p "$path" | grep -Eq '^[[:space:]]*\[[[:space:]]*[0-9]+\][[:space:]]+WSLPluginAPIV1_EntryPoint$'; then
        echo "ok: $path exports WSLPluginAPIV1_EntryPoint"
    else
        echo "build-windows.sh: $path does not export WSLPluginAPIV1_EntryPoint" >&2
        x86_64-w64-mingw32-objdump -p "$path" | sed -n '/Export Address Table/,/^$/p' >&2
        status=1
    fi
done
exit $status
