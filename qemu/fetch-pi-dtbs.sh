#!/usr/bin/env bash
# Fetches the mainline Raspberry Pi device trees from Debian's arm64 kernel package into
# qemu/dtb/rpi/, as test fixtures for arch's device-tree reader, and records the package version
# in qemu/dtb/rpi/SOURCE. The fixtures are committed, so `cargo test` never needs this; rerun it to
# refresh them (then rerun dump-dtbs.sh, whose raspi dumps are made from these files).
#
# Follows the linux-image-arm64 metapackage rather than naming a kernel version, so it keeps
# working as Debian moves on.
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

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    $SUDO dpkg --add-architecture arm64
fi
# Third-party sources on some machines are unreachable; Debian's own are what we need.
$SUDO apt-get update -q || true

# The metapackage depends on exactly one versioned image package, e.g. linux-image-6.1.0-37-arm64.
pkg="$(apt-cache depends linux-image-arm64:arm64 |
    sed -n 's/^ *Depends: \(linux-image-[0-9][^ :]*\).*/\1/p' | head -n1)"
if [ -z "$pkg" ]; then
    echo "could not find the image package linux-image-arm64:arm64 depends on" >&2
    exit 1
fi
version="$(apt-cache policy "$pkg:arm64" | sed -n 's/^ *Candidate: //p')"
echo "using $pkg:arm64 $version"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
# apt-get download writes into the current directory and runs as the _apt user when it can.
chmod 777 "$tmp"
(cd "$tmp" && apt-get download -q "$pkg:arm64")
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
