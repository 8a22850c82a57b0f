#!/usr/bin/env bash
# scripts/make_initramfs.sh OUT INIT - a gzip'd newc cpio with Debian's static busybox
# (busybox-static, /bin/busybox) and INIT as /init: the initramfs of the Linux scenarios.
set -euo pipefail
out=$1 init=$2
[ -x /bin/busybox ] || { echo "make_initramfs: /bin/busybox missing (scripts/hv setup installs busybox-static)" >&2; exit 1; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
mkdir -p "$dir/bin"
cp /bin/busybox "$dir/bin/busybox"
cp "$init" "$dir/init"
chmod 755 "$dir/init"
(cd "$dir" && find . | LC_ALL=C sort | cpio -o -H newc --quiet) | gzip -9 >"$out.tmp"
mv "$out.tmp" "$out"
