#!/usr/bin/env bash
# Installable binaries, and a check that they run where neither Rust nor
# OpenSSL is installed.
#   scripts/release.sh           # dist/: wslp and wslpd (static, musl),
#                                # wslp-plugin-host (links only the C library),
#                                # completions, man pages; then the bare check
#   scripts/release.sh --deb     # also dist/wslp_<version>_amd64.deb (cargo-deb)
#   scripts/release.sh --check   # only the bare check of what dist/ holds
#
# Why the plugin host is not static: it dlopen()s plugins, shared objects
# linked against the system's C library, and a static program cannot load
# them. It needs libc and nothing else (`ldd` says so below).
#
# The bare check runs the binaries under bwrap in a root that holds only
# them, a static busybox and (for the plugin host) the C library: wslpd
# starts its VM there, imports a busybox distribution and runs a command in
# it, with a C plugin loaded out of process whose hooks write to a file.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo >/dev/null 2>&1 || [ ! -x "$HOME/.cargo/bin/cargo" ] || export PATH="$HOME/.cargo/bin:$PATH"

deb=0 build=1
for a in "$@"; do
    case "$a" in
    --deb) deb=1 ;;
    --check) build=0 ;;
    *) echo "usage: $0 [--deb] [--check]" >&2; exit 64 ;;
    esac
done

need() {
    local missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        echo "release.sh: installing ${missing[*]}" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
}

musl=x86_64-unknown-linux-musl
dist=$PWD/dist
target_dir=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
target_dir=${target_dir:-$PWD/target}

if [ "$build" = 1 ]; then
    need musl-tools
    rustup target list --installed | grep -qx "$musl" || rustup target add "$musl"
    cargo build --release --locked --target "$musl" -p wslp-cli -p wslp-service
    cargo build --release --locked -p wslp-host --bin wslp-plugin-host
    rm -rf "$dist"
    mkdir -p "$dist/bin" "$dist/lib" "$dist/completions" "$dist/man"
    cp "$target_dir/$musl/release/wslp" "$target_dir/$musl/release/wslpd" "$dist/bin/"
    cp "$target_dir/release/wslp-plugin-host" "$dist/bin/"
    strip "$dist/bin/"*
    "$dist/bin/wslp" completions bash >"$dist/completions/wslp.bash"
    "$dist/bin/wslp" completions zsh >"$dist/completions/_wslp"
    "$dist/bin/wslp" completions fish >"$dist/completions/wslp.fish"
    "$dist/bin/wslp" man "$dist/man"
    cp include/WslPluginApi.h "$dist/"
    for u in contrib/systemd/*; do
        sed 's|/usr/local/bin/|/usr/bin/|' "$u" >"$dist/lib/$(basename "$u")"
    done
fi

# What each binary links.
for b in wslp wslpd; do
    if ! ldd "$dist/bin/$b" 2>&1 | grep -Eq 'statically linked|not a dynamic executable'; then
        echo "release.sh: $b is not static: $(ldd "$dist/bin/$b" | tr '\n' ' ')" >&2
        exit 1
    fi
done
extra=$(ldd "$dist/bin/wslp-plugin-host" | grep -Ev 'linux-vdso|ld-linux|libc\.so|libgcc_s|libm\.so' || true)
if [ -n "$extra" ]; then
    echo "release.sh: wslp-plugin-host links more than the C library: $extra" >&2
    exit 1
fi
echo "release.sh: wslp and wslpd are static; wslp-plugin-host links only: $(ldd "$dist/bin/wslp-plugin-host" | awk '{print $1}' | tr '\n' ' ')"

# The bare check.
need bubblewrap busybox-static gcc
work=$(mktemp -d /tmp/wslp-bare.XXXXXX)
trap 'rm -rf "$work"' EXIT
root=$work/root
# /usr is there on any Linux (the VM's system is the host's /usr): empty here.
mkdir -p "$root/bin" "$root/tmp" "$root/var" "$root/etc" "$root/usr/bin" "$root/proc"
cp /bin/busybox "$root/bin/"
for t in sh cat echo ls mkdir mount tar; do ln -s busybox "$root/bin/$t"; done
cp "$dist/bin/wslp" "$dist/bin/wslpd" "$root/bin/"
cp "$dist/bin/wslp-plugin-host" "$root/bin/"
echo 'root:x:0:0:root:/:/bin/sh' >"$root/etc/passwd"
echo 'root:x:0:' >"$root/etc/group"
# The C library of the plugin host (and of the plugin), as ldd names it.
libs=()
for f in $(ldd "$dist/bin/wslp-plugin-host" | grep -o '/[^ ]*'); do
    libs+=(--ro-bind "$f" "$f")
done
# A distribution: busybox, as a tarball.
mkdir -p "$work/distro/bin" "$work/distro/etc"
cp /bin/busybox "$work/distro/bin/"
ln -s busybox "$work/distro/bin/sh"
ln -s busybox "$work/distro/bin/echo"
printf 'ID=tinybox\nVERSION_ID=1\n' >"$work/distro/etc/os-release"
echo 'root:x:0:0:root:/:/bin/sh' >"$work/distro/etc/passwd"
tar -C "$work/distro" -cf "$root/tmp/distro.tar" .
# A plugin: the demo, built from the header with a C compiler, nothing of wslp's build.
gcc -Wall -Wextra -Werror -shared -fPIC -O2 -I include -o "$root/tmp/plugin.so" examples/c/demo/demo.c
cat >"$root/tmp/plugins.toml" <<'T'
[plugins]
Bare = "/tmp/plugin.so"
T
# No network: the check must not touch the host's (nor need one).
printf 'require_signatures = false\nnetworking_mode = "none"\n' >"$work/wslp.toml"
cat >"$root/tmp/check.sh" <<'S'
set -e
# A proc of our own, fully visible (bwrap's has read-only parts laid over
# it, and the VM could not mount one of its own beside that).
mount -t proc proc /proc
export WSLP_ROOT=/var/wslp PATH=/bin
mkdir -p /var/wslp
cp /tmp/wslp.toml /tmp/plugins.toml /var/wslp/
wslp --version
wslp --import Bare /var/bare /tmp/distro.tar
out=$(wslp -d Bare -- echo hello from a bare container)
[ "$out" = "hello from a bare container" ] || { echo "got: $out" >&2; exit 1; }
wslp --shutdown
cat /tmp/wslp-demo.log
S
cp "$work/wslp.toml" "$root/tmp/"
out=$(bwrap --bind "$root" / --dev /dev --ro-bind /sys /sys --tmpfs /var --unshare-pid --unshare-ipc \
    --unshare-uts --unshare-net --cap-add ALL --die-with-parent "${libs[@]}" /bin/sh /tmp/check.sh 2>&1) || {
    echo "release.sh: the bare check failed:" >&2
    echo "$out" >&2
    exit 1
}
echo "$out" | sed 's/^/  /'
grep -q "^  Kernel version info: Linux" <<<"$(echo "$out" | sed 's/^/  /')" && grep -q "Distribution started:.*name=Bare" <<<"$out" || {
    echo "release.sh: the plugin's hooks did not run in the bare check" >&2
    exit 1
}
echo "release.sh: the bare check passed (wslp, wslpd, the plugin host and a C plugin, with only busybox and libc)"

if [ "$deb" = 1 ]; then
    command -v cargo-deb >/dev/null 2>&1 || cargo install --locked cargo-deb
    rm -f "$dist"/*.deb
    cargo deb --no-build --no-strip -p wslp-cli -o "$dist/"
    pkg=$(ls "$dist"/*.deb)
    # What it installs, unpacked beside the bare check's files.
    dpkg-deb -x "$pkg" "$work/deb"
    for f in usr/bin/wslp usr/bin/wslpd usr/bin/wslp-plugin-host usr/include/WslPluginApi.h \
        lib/systemd/system/wslpd.service lib/systemd/system/wslpd.socket \
        usr/share/bash-completion/completions/wslp usr/share/man/man1/wslp.1.gz; do
        [ -e "$work/deb/$f" ] || { echo "release.sh: $pkg lacks /$f" >&2; exit 1; }
    done
    grep -q '^ExecStart=/usr/bin/wslpd' "$work/deb/lib/systemd/system/wslpd.service" || {
        echo "release.sh: wslpd.service in $pkg does not start /usr/bin/wslpd" >&2
        exit 1
    }
    "$work/deb/usr/bin/wslp" --version | head -1
    echo "release.sh: built $pkg"
fi
