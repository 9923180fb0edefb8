#!/usr/bin/env bash
# Fetches the mainline Raspberry Pi device trees from Debian's arm64 kernel package into
# qemu/dtb/rpi/, as test fixtures for arch's device-tree reader, and records the package version
# in qemu/dtb/rpi/SOURCE. The fixtures are committed, so `cargo test` never needs this; rerun it to
# refresh them (then rerun dump-dtbs.sh, whose raspi dumps are made from these files).
#
# The package comes through qemu/debian-kernel-package.sh, which follows the linux-image-arm64
# metapackage.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
out="$here/dtb/rpi"
boards=(
    bcm2837-rpi-3-b
    bcm2837-rpi-3-b-plus
    bcm2837-rpi-3-a-plus
    bcm2837-rpi-zero-2-w
    bcm2711-rpi-4-b
    bcm2711-rpi-400
    bcm2711-rpi-cm4-io
)

# shellcheck source=qemu/debian-kernel-package.sh
. "$here/debian-kernel-package.sh"
download_debian_arm64_kernel
tmp="$deb_dir"
trap 'rm -rf "$tmp"' EXIT
dpkg-deb -x "$tmp"/*.deb "$tmp/root"

src_dir="$(find "$tmp/root/usr/lib" -maxdepth 2 -type d -name broadcom | head -n1)"
if [ -z "$src_dir" ]; then
    echo "no broadcom/ DTB directory in $pkg" >&2
    exit 1
fi

mkdir -p "$out"
for b in "${boards[@]}"; do
    if [ -f "$src_dir/$b.dtb" ]; then
        cp "$src_dir/$b.dtb" "$out/"
        echo "copied $b.dtb"
    else
        echo "warning: $b.dtb is not in $pkg" >&2
    fi
done

deb="$(basename "$tmp"/*.deb)"
cat >"$out/SOURCE" <<EOF
Mainline Raspberry Pi device trees, unmodified, copied by qemu/fetch-pi-dtbs.sh from
${src_dir#"$tmp/root/"}/ in Debian's package:

  package: $pkg (arm64)
  version: $version
  file:    $deb

They are built from the Linux kernel's arch/arm64/boot/dts/broadcom/ sources (GPL-2.0 OR MIT).
EOF
echo "wrote qemu/dtb/rpi/SOURCE"
