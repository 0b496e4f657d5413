#!/usr/bin/env bash
# Installs what building and testing wslp needs on Debian 12 / Ubuntu 22.04+:
# a C compiler (plugins are C; the bundled liblzma and zstd are built from
# source and linked statically), the openssl tool (tests check that wslp's
# signatures interoperate with it; wslp itself links no OpenSSL),
# busybox-static (the test distribution), bubblewrap and crun (benchmark
# peers), mingw-w64 (the Windows build of the Rust SDK sample), and the Rust
# toolchain of rust-toolchain.toml with rustfmt and clippy; nftables (the
# networking tests read wslp's table back with `nft`), passt (pasta, nat of
# per-user instances), iproute2 (`ip` in the tests) and uidmap (newuidmap and
# newgidmap: a per-user instance's subordinate ids); docker.io, containerd
# and runc (the container engine that WSLC sessions run in their VM; on a
# systemd machine the package also enables a dockerd of its own, which wslp
# does not use); and the `wslp`
# system account whose subordinate ids the system instance's VM runs as.
# Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

need_root() {
    if [ "$(id -u)" -ne 0 ]; then
        echo "setup.sh: run as root (it installs packages): sudo $0" >&2
        exit 1
    fi
}

pkgs=(gcc g++ make openssl busybox-static bubblewrap crun hyperfine mingw-w64 curl ca-certificates xz-utils zstd gzip tar util-linux fonts-dejavu-core nftables passt iproute2 uidmap docker.io containerd runc)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    need_root
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The system instance's VM maps its ids 0-65535 onto 65536 host ids that no
# user has: the subordinate range of a dedicated account (docs/security.md).
# No login, no home. The range is the lowest one from 100000 up (where
# useradd hands them out) that no other entry of /etc/subuid or /etc/subgid
# meets; uids and gids get the same start when both are missing.
free_range() { # FILE...: prints the first START whose START..START+65535 meets no entry
    cat "$@" 2>/dev/null |
        awk -F: '$1 != "wslp" && NF == 3 && $2 ~ /^[0-9]+$/ && $3 ~ /^[0-9]+$/ { print $2, $2 + $3 }' |
        sort -n |
        awk -v start=100000 -v n=65536 '{ if ($1 < start + n && start < $2) start = $2 } END { print start }'
}
has_range() { # FILE: wslp has a range of 65536 ids or more there
    awk -F: '$1 == "wslp" && $3 >= 65536 { found = 1 } END { exit !found }' "$1" 2>/dev/null
}
if ! getent passwd wslp >/dev/null; then
    need_root
    useradd --system --user-group --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin --comment "wslp utility VM ids" wslp
fi
start=$(free_range /etc/subuid /etc/subgid) # the same ids for both, when both are missing
for kind in uid gid; do
    file=/etc/sub$kind
    if ! has_range "$file"; then
        need_root
        touch /etc/subuid /etc/subgid
        usermod "--add-sub${kind}s" "$start-$((start + 65535))" wslp
        echo "setup.sh: gave the account wslp the ${kind}s $start-$((start + 65535)) in $file" >&2
    fi
done

if ! command -v cargo >/dev/null 2>&1; then
    if [ -x "$HOME/.cargo/bin/cargo" ]; then
        export PATH="$HOME/.cargo/bin:$PATH"
    else
        # No default toolchain: the one rust-toolchain.toml pins is the only
        # download, rather than `stable` and then the pinned one as well.
        curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal --default-toolchain none
        export PATH="$HOME/.cargo/bin:$PATH"
    fi
fi

if command -v rustup >/dev/null 2>&1; then
    # Installs the toolchain of rust-toolchain.toml (and its rustfmt and
    # clippy) when missing; nothing when it is there.
    rustup toolchain install >/dev/null
    rustup target list --installed 2>/dev/null | grep -q x86_64-pc-windows-gnu ||
        rustup target add x86_64-pc-windows-gnu >/dev/null 2>&1 ||
        echo "setup.sh: could not add the x86_64-pc-windows-gnu target; the Windows build check will be skipped" >&2
    for c in rustfmt clippy; do
        rustup component list --installed 2>/dev/null | grep -q "^$c" || rustup component add "$c" >/dev/null
    done
fi
