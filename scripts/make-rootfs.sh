#!/usr/bin/env bash
# Builds a small distribution rootfs tarball from Debian's busybox-static:
#   scripts/make-rootfs.sh OUT.tar.gz [ID] [VERSION_ID]
# Users: root (0) and user (1000, groups user and wheel). os-release says
# ID=debian VERSION_ID="13" unless told otherwise.
set -euo pipefail
out=${1:?usage: make-rootfs.sh OUT.tar[.gz|.xz|.zst] [ID] [VERSION_ID]}
id=${2:-debian}
ver=${3:-13}
bb=$(command -v busybox || true)
[ -n "$bb" ] && file -L "$bb" 2>/dev/null | grep -q static || bb=/bin/busybox
[ -x "$bb" ] || { echo "make-rootfs.sh: busybox-static is missing (apt-get install busybox-static)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
r=$tmp/rootfs
mkdir -p "$r"/{bin,sbin,etc,root,tmp,proc,sys,dev,run,home/user,usr/bin,usr/sbin,usr/lib,var/tmp}
chmod 1777 "$r/tmp" "$r/var/tmp"
chmod 700 "$r/root"
cp "$bb" "$r/bin/busybox"
for app in $("$r/bin/busybox" --list); do
    [ "$app" = busybox ] || ln -sf busybox "$r/bin/$app"
done
cat > "$r/etc/passwd" <<PW
root:x:0:0:root:/root:/bin/sh
user:x:1000:1000:A user:/home/user:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PW
cat > "$r/etc/group" <<GR
root:x:0:
wheel:x:10:user
user:x:1000:
nogroup:x:65534:
GR
chown 1000:1000 "$r/home/user"
cat > "$r/usr/lib/os-release" <<OS
PRETTY_NAME="wslp test distribution ($id $ver)"
NAME="wslp test"
ID=$id
VERSION_ID="$ver"
OS
ln -s ../usr/lib/os-release "$r/etc/os-release"
echo "$id" > "$r/etc/hostname"
case "$out" in
    *.gz | *.tgz) comp=(-z) ;;
    *.xz) comp=(-J) ;;
    *.zst) comp=(--zstd) ;;
    *) comp=() ;;
esac
tar -C "$r" --numeric-owner "${comp[@]}" -cf "$out" .
