#!/usr/bin/env bash
# Dumps the device trees QEMU hands the kernel, as test fixtures for arch's device-tree reader.
#
#   qemu/dtb/virt-gicv{2,3}-el{1,2}-{a53,a72,max}-{128M,2G}.dtb   QEMU virt, all 24
#                                                             combinations, -smp 4
#   qemu/dtb/virt-gicv3-el1-a72-128M-initrd.dtb               -smp 1, booted with -kernel/-initrd
#   qemu/dtb/virt-gicv2-el1-a72-2G-no-map.dtb                 -smp 1, with qemu/no-map.dtsi merged
#                                                             in as qemu/run-tests.sh does
#   qemu/dtb/raspi3b-qemu.dtb, raspi4b-qemu.dtb               QEMU's raspi machines given the real
#                                                             Pi DTBs (run fetch-pi-dtbs.sh first)
#
# el2 means virtualization=on. -smp 4 because QEMU only gives the CPU nodes an enable-method
# when there is more than one CPU; the -initrd variant keeps the single-CPU shape.
#
# QEMU edits the DTB it is given (fills /memory, adds /chosen properties, drops nodes it does not
# model), so the raspi dumps are what the kernel really sees under QEMU, unlike the firmware DTBs.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
out="$here/dtb"
mkdir -p "$out"
qemu="${QEMU:-qemu-system-aarch64}"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# QEMU only writes /chosen linux,initrd-* when it loads a kernel; a raw image of a few bytes is
# enough because dumpdtb exits before any guest code runs.
printf '\x00\x00\x00\x14' >"$tmp/kernel.bin" # "b ." would do; never executed
head -c 4096 /dev/zero >"$tmp/initrd.bin"

# virt builds its DTB in a 1 MiB buffer and dumps all of it (totalsize 1 MiB, mostly free
# space). The 24 combinations are repacked with dtc, which keeps the content and drops the padding;
# the -initrd variant is kept exactly as dumped so the reader is also tested on the padded layout
# the kernel really receives.
dump_virt() { # name gic el cpu mem raw|pack [extra qemu args...]
    local name=$1 gic=$2 el=$3 cpu=$4 mem=$5 mode=$6
    shift 6
    local virt=off
    [ "$el" = 2 ] && virt=on
    "$qemu" -nographic -display none \
        -machine "virt,gic-version=$gic,virtualization=$virt,dumpdtb=$tmp/$name.dtb" \
        -cpu "$cpu" -m "$mem" "$@" >/dev/null
    if [ "$mode" = pack ]; then
        dtc -q -I dtb -O dtb -o "$out/$name.dtb" "$tmp/$name.dtb"
    else
        cp "$tmp/$name.dtb" "$out/$name.dtb"
    fi
    echo "wrote qemu/dtb/$name.dtb"
}

for gic in 2 3; do
    for el in 1 2; do
        for cpu in a53 a72 max; do
            for mem in 128M 2G; do
                model=$cpu
                [ "$cpu" != max ] && model=cortex-$cpu
                dump_virt "virt-gicv$gic-el$el-$cpu-$mem" "$gic" "$el" "$model" "$mem" pack -smp 4
            done
        done
    done
done

dump_virt virt-gicv3-el1-a72-128M-initrd 3 1 cortex-a72 128M raw \
    -kernel "$tmp/kernel.bin" -initrd "$tmp/initrd.bin" -append "console=ttyAMA0 test=1"

dump_virt virt-gicv2-el1-a72-2G-no-map 2 1 cortex-a72 2G raw
{ dtc -q -I dtb -O dts "$out/virt-gicv2-el1-a72-2G-no-map.dtb"; cat "$here/no-map.dtsi"; } |
    dtc -q -I dts -O dtb -o "$tmp/no-map.dtb"
mv "$tmp/no-map.dtb" "$out/virt-gicv2-el1-a72-2G-no-map.dtb"

dump_raspi() { # machine source-dtb output-name
    local machine=$1 src="$out/rpi/$2" name=$3
    if [ ! -f "$src" ]; then
        echo "skipping $name: $src missing (run qemu/fetch-pi-dtbs.sh)" >&2
        return
    fi
    # The raspi machines refuse to start without a kernel image.
    "$qemu" -nographic -display none -M "$machine" -dtb "$src" \
        -kernel "$tmp/kernel.bin" -machine "dumpdtb=$out/$name.dtb" >/dev/null
    echo "wrote qemu/dtb/$name.dtb"
}

dump_raspi raspi3b bcm2837-rpi-3-b.dtb raspi3b-qemu
dump_raspi raspi4b bcm2711-rpi-4-b.dtb raspi4b-qemu
