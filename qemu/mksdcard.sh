#!/usr/bin/env bash
# Writes a Raspberry Pi (3, 3+, Zero 2 W, 4, 400, CM4) SD card image that boots KERNEL_IMAGE with
# INITRD as its boot archive:
#
#   qemu/mksdcard.sh OUT_IMG KERNEL_IMAGE INITRD
#
# The card holds the Raspberry Pi firmware (Debian's raspi-firmware package, cached under
# build/cache/raspi-firmware/), the mainline DTBs from qemu/dtb/rpi/, an overlay that makes the
# PL011 the console (qemu/rpi/disable-bt-overlay.dts), and qemu/rpi/config.txt and cmdline.txt.
# Write it to a card with e.g. `dd if=OUT_IMG of=/dev/sdX bs=4M conv=fsync`.
#
# The image is built in ordinary files with mtools, mkfs.vfat and sfdisk, so no loop devices or
# mounts are needed; root (or sudo) is only used to fetch the firmware package with apt.
set -euo pipefail

if [ $# -ne 3 ]; then
    echo "usage: $0 OUT_IMG KERNEL_IMAGE INITRD" >&2
    exit 2
fi
out="$1"
kernel="$2"
initrd="$3"
for f in "$kernel" "$initrd"; do
    if [ ! -f "$f" ]; then
        echo "$f: no such file" >&2
        exit 1
    fi
done

here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
cache="$root/build/cache/raspi-firmware"
fw="$cache/usr/lib/raspi-firmware"

# mkfs.vfat and sfdisk live in /usr/sbin, which a normal user's PATH may lack.
PATH="$PATH:/usr/sbin:/sbin"
for tool in mcopy mmd mkfs.vfat sfdisk dtc dpkg-deb; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "$tool is missing; qemu/install-deps.sh installs it" >&2
        exit 1
    fi
done
# Our images have no real drive geometry; without this mtools rejects them.
export MTOOLS_SKIP_CHECK=1

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

dl=""
work=""
img_tmp=""
trap 'rm -rf "$dl" "$work" "$img_tmp"' EXIT

# True when some apt source already offers bookworm's non-free-firmware component, in either
# the one-line format or a deb822 .sources stanza.
have_non_free_firmware() {
    grep -rqsE '^[^#]*[[:space:]]bookworm[[:space:]].*non-free-firmware' \
        /etc/apt/sources.list /etc/apt/sources.list.d/ && return 0
    local f
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        grep -qE '^Suites:(.*[[:space:]])?bookworm([[:space:]]|$)' "$f" &&
            grep -qE '^Components:.*non-free-firmware' "$f" && return 0
    done
    return 1
}

# The firmware (bootcode.bin, start*.elf, fixup*.dat) is Broadcom's closed, redistributable
# blob; Debian packages it in non-free-firmware. Fetched once and kept in build/cache/.
if [ ! -f "$fw/start4.elf" ]; then
    if ! have_non_free_firmware; then
        echo 'deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm non-free-firmware' |
            $SUDO tee /etc/apt/sources.list.d/non-free-firmware.list >/dev/null
    fi
    # Third-party sources on some machines are unreachable; Debian's own are what we need.
    $SUDO apt-get update -q || true
    dl="$(mktemp -d)"
    # apt-get download writes into the current directory and runs as the _apt user when it can.
    chmod 777 "$dl"
    (cd "$dl" && apt-get download -q raspi-firmware)
    debs=("$dl"/raspi-firmware_*.deb)
    if [ ! -f "${debs[0]}" ]; then
        echo "apt-get download raspi-firmware produced no package" >&2
        exit 1
    fi
    version="$(dpkg-deb -f "${debs[0]}" Version)"
    # Extract beside the cache and rename, so an interrupted run leaves no half-filled cache.
    rm -rf "$cache.new"
    mkdir -p "$cache.new"
    dpkg-deb -x "${debs[0]}" "$cache.new"
    echo "$version" >"$cache.new/VERSION"
    rm -rf "$cache"
    mv "$cache.new" "$cache"
    echo "cached raspi-firmware $version in ${cache#"$root/"}/"
fi
if [ -f "$cache/VERSION" ]; then
    version="$(cat "$cache/VERSION")"
else
    # A cache extracted by hand: the package's changelog names its version on the first line.
    version="$(zcat "$cache/usr/share/doc/raspi-firmware/changelog.Debian.gz" 2>/dev/null |
        sed -n '1s/^raspi-firmware (\([^)]*\)).*/\1/p')"
    version="${version:-unknown}"
fi

work="$(mktemp -d)"
files="$work/files"
mkdir -p "$files/overlays"

# Everything the card holds, staged in a directory first so its size can be checked.
cp "$fw"/bootcode.bin "$fw"/start*.elf "$fw"/fixup*.dat "$files/"
cp "$cache/usr/share/doc/raspi-firmware/copyright" "$files/LICENCE.broadcom"
printf 'raspi-firmware %s (Debian bookworm, non-free-firmware)\n' "$version" >"$files/FIRMWARE-VERSION"
cp "$here"/dtb/rpi/*.dtb "$files/"
dtc -q -I dts -O dtb -o "$files/overlays/disable-bt.dtbo" "$here/rpi/disable-bt-overlay.dts"
cp "$here/rpi/config.txt" "$here/rpi/cmdline.txt" "$files/"
cp "$kernel" "$files/kernel8.img"
cp "$initrd" "$files/initrd.cpio"

# 64 MiB, with the partition at sector 2048 (1 MiB, the usual alignment) running to the end.
img_sectors=$((64 * 1024 * 2))
part_start=2048
part_sectors=$((img_sectors - part_start))
part_kib=$((part_sectors / 2))

# FAT overhead (two FATs, reserved sectors, directories) stays under 2 MiB at this size.
# Apparent sizes: a sparse input file still fills its clusters on the card.
used_kib="$(du -sk --apparent-size "$files" | cut -f1)"
if [ "$used_kib" -gt $((part_kib - 2048)) ]; then
    echo "the card's files take ${used_kib} KiB; the ${part_kib} KiB partition is too small" >&2
    exit 1
fi

# One sector per cluster: FAT32 needs at least 65525 clusters, which 63 MiB only gives with
# 512-byte clusters; saying so keeps the result independent of mkfs.vfat's defaults.
part="$work/part.img"
mkfs.vfat -F 32 -s 1 -n ZXBOOT -C "$part" "$part_kib" >/dev/null
mapfile -t top < <(find "$files" -maxdepth 1 -type f | sort)
mcopy -i "$part" "${top[@]}" ::/
mmd -i "$part" ::overlays
mcopy -i "$part" "$files"/overlays/* ::overlays/

outdir="$(dirname "$out")"
mkdir -p "$outdir"
# Built beside OUT_IMG, so the final rename is atomic: a reader never sees a partial image.
img_tmp="$(mktemp "$outdir/.$(basename "$out").XXXXXX")"
truncate -s $((img_sectors * 512)) "$img_tmp"
# Type c (W95 FAT32 LBA), as on Raspberry Pi OS cards; the boot ROM reads the first FAT partition.
printf 'label: dos\nunit: sectors\nstart=%d, type=c, bootable\n' "$part_start" |
    sfdisk -q "$img_tmp"
dd if="$part" of="$img_tmp" bs=512 seek="$part_start" conv=notrunc status=none
chmod 644 "$img_tmp"
mv -f "$img_tmp" "$out"
img_tmp=""

echo "wrote $out: 64 MiB, FAT32 partition ZXBOOT from sector $part_start, ${used_kib} KiB used"
echo "firmware: raspi-firmware $version"
(cd "$files" && find . -type f -printf '  %-32P %9s\n' | sort)
