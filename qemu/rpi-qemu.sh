#!/usr/bin/env bash
# Boots a Raspberry Pi SD card image (qemu/mksdcard.sh) in QEMU's raspi3b or raspi4b machine:
#
#   qemu/rpi-qemu.sh CARD_IMG rpi3|rpi4 firmware|mainline [QEMU-ARGS...]
#
# Everything comes off the card: kernel8.img, initrd.cpio, and the DTB that config.txt's
# device_tree= names for the board ([pi3] or [pi4] section). QEMU runs no Raspberry Pi firmware,
# so the script does the firmware's part:
#   firmware  as the card's config.txt asks: applies overlays/disable-bt.dtbo to the DTB
#             (fdtoverlay) and enters the kernel through qemu/rpi-firmware-stub.S, which gives
#             GPIO 14/15 to the PL011 as `enable_uart=1` with `dtoverlay=disable-bt` does. The
#             console is the PL011, QEMU's first serial port.
#   mainline  the card's DTB unchanged, no pin setup: the console is the one the mainline DTB's
#             stdout-path names, the mini UART, QEMU's second serial port.
# Either way the kernel's console is on this terminal. Extra arguments go to QEMU (for example
# `-append test`; cmdline.txt is empty, and QEMU's -append stands in for it).
set -euo pipefail

if [ $# -lt 3 ]; then
    echo "usage: $0 CARD_IMG rpi3|rpi4 firmware|mainline [QEMU-ARGS...]" >&2
    exit 2
fi
card=$1 board=$2 mode=$3
shift 3
cd "$(dirname "$0")/.."
export MTOOLS_SKIP_CHECK=1

case "$board" in
    rpi3) machine=raspi3b section=pi3 gpio_base=0x3f200000 ;;
    rpi4) machine=raspi4b section=pi4 gpio_base=0xfe200000 ;;
    *) echo "unknown board $board (rpi3 or rpi4)" >&2; exit 2 ;;
esac
case "$mode" in
    firmware | mainline) ;;
    *) echo "unknown mode $mode (firmware or mainline)" >&2; exit 2 ;;
esac

out=build/card-$board-$mode
rm -rf "$out"
mkdir -p "$out"
part="$card@@1M"   # the FAT partition starts at sector 2048
for f in kernel8.img initrd.cpio config.txt overlays/disable-bt.dtbo; do
    mcopy -n -i "$part" "::$f" "$out/$(basename "$f")"
done
# The device_tree= of the board's section (the first one, as the firmware reads [pi3] before
# the narrower [pi3+]).
dtb=$(awk -v want="[$section]" '
    /^\[/ { in_section = ($0 == want); next }
    in_section && /^device_tree=/ { sub(/^device_tree=/, ""); print; exit }
' "$out/config.txt")
if [ -z "$dtb" ]; then
    echo "$card: config.txt names no device_tree for [$section]" >&2
    exit 1
fi
mcopy -n -i "$part" "::$dtb" "$out/$dtb"

qemu_args=(-M "$machine" -initrd "$out/initrd.cpio")
if [ "$mode" = firmware ]; then
    fdtoverlay -i "$out/$dtb" -o "$out/board.dtb" "$out/disable-bt.dtbo"
    kernel_at=0x400000
    aarch64-linux-gnu-gcc -nostdlib -ffreestanding -static -Wl,--build-id=none \
        -Wl,-Ttext=0x80000 -Wl,--defsym=GPIO_BASE=$gpio_base \
        -Wl,--defsym=KERNEL_ADDRESS=$kernel_at -o "$out/stub.elf" qemu/rpi-firmware-stub.S
    aarch64-linux-gnu-objcopy -O binary -j .text "$out/stub.elf" "$out/stub.bin"
    qemu_args+=(-dtb "$out/board.dtb" -kernel "$out/stub.bin"
        -device "loader,file=$out/kernel8.img,addr=$kernel_at,force-raw=on"
        -serial mon:stdio -serial null)
else
    cp "$out/$dtb" "$out/board.dtb"
    qemu_args+=(-dtb "$out/board.dtb" -kernel "$out/kernel8.img"
        -serial null -serial mon:stdio)
fi
exec qemu-system-aarch64 "${qemu_args[@]}" -display none "$@"
