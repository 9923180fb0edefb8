#!/usr/bin/env bash
# make bench-linux: runs the benchmark's operations on Linux (user/bench/ops-linux.c, the nearest
# Linux equivalent of each) under the same QEMU flags as make bench, writes build/bench-linux.json
# and prints both systems side by side with build/bench.json.
#
# The kernel is Debian's arm64 one, found by following the linux-image-arm64 metapackage as
# qemu/fetch-pi-dtbs.sh does, cached in build/cache/linux-arm64/ (delete it to pick up a newer
# kernel). No modules: memfd, pipes and fork are built in. The benchmark is a static /init in an
# initramfs. The archive holds no device nodes, so no root is needed: Debian's kernel has
# /dev/console in its built-in initramfs, and /init mounts devtmpfs for one if a kernel has not.
# /init powers the machine off when done.
set -euo pipefail
cd "$(dirname "$0")/.."

cache=build/cache/linux-arm64
out=build/bench-linux
log=build/bench-linux.log
json=build/bench-linux.json
qemu_flags=(-M virt -cpu cortex-a72 -m 1G -icount shift=0)

if [ ! -f build/bench.json ]; then
    echo "build/bench.json is missing: run make bench first" >&2
    exit 1
fi

# ---- the kernel ----
if [ ! -f "$cache/VERSION" ] || [ ! -f "$cache/Image" ]; then
    # shellcheck source=qemu/debian-kernel-package.sh
    . qemu/debian-kernel-package.sh
    download_debian_arm64_kernel
    tmp="$deb_dir"
    trap 'rm -rf "$tmp"' EXIT
    # Only the kernel image: the package's modules are most of its size.
    dpkg-deb --fsys-tarfile "$tmp"/*.deb | tar -x -C "$tmp" --wildcards './boot/vmlinuz-*'
    vmlinuz="$(ls "$tmp"/boot/vmlinuz-*)"

    # QEMU's -kernel takes an arm64 Image raw or gzip-compressed, but not every kernel is
    # shipped that way: an EFI zboot image ("MZ", then "zimg") wraps a compressed Image that
    # only the EFI stub unpacks, so unpack it here.
    magic="$(head -c 8 "$vmlinuz" | od -An -tx1 | tr -d ' \n')"
    rm -rf "$cache"
    mkdir -p "$cache"
    case "$magic" in
    1f8b*)
        format="gzip-compressed Image"
        cp "$vmlinuz" "$cache/Image"
        ;;
    4d5a????7a696d67)
        # Header: payload offset and size (le32) at 8 and 12, compression name at 24.
        comp="$(dd if="$vmlinuz" bs=1 skip=24 count=8 status=none | tr -d '\0')"
        format="EFI zboot image ($comp)"
        read -r off size < <(od -An -tu4 -j8 -N8 "$vmlinuz")
        case "$comp" in
        gzip) unpack=(gzip -dc) ;;
        zstd | zstd22) unpack=(zstd -dcq) ;;
        xz) unpack=(xz -dc) ;;
        lzma) unpack=(xz -dc --format=lzma) ;;
        lz4) unpack=(lz4 -dc) ;;
        *)
            echo "$vmlinuz: EFI zboot image with unknown compression '$comp'" >&2
            exit 1
            ;;
        esac
        dd if="$vmlinuz" iflag=skip_bytes,count_bytes skip="$off" count="$size" bs=64K \
            status=none | "${unpack[@]}" >"$cache/Image"
        ;;
    *)
        if [ "$(od -An -tx1 -j56 -N4 "$vmlinuz" | tr -d ' \n')" != 41524d64 ]; then
            echo "$vmlinuz: not an arm64 Image (no ARM\\x64 magic), gzip or EFI zboot" >&2
            exit 1
        fi
        format="uncompressed Image"
        cp "$vmlinuz" "$cache/Image"
        ;;
    esac
    cat >"$cache/VERSION" <<EOF
package: $pkg (arm64)
version: $version
file:    $(basename "$tmp"/*.deb)
kernel:  ${vmlinuz#"$tmp/"} ($format), booted as Image
EOF
fi
echo "Linux kernel: $(sed -n 's/^package: //p' "$cache/VERSION") $(sed -n 's/^version: //p' "$cache/VERSION")"

# ---- /init and the initramfs ----
mkdir -p "$out/dev"
aarch64-linux-gnu-gcc -static -O2 -Wall -Wextra user/bench/bench.c user/bench/ops-linux.c \
    -o "$out/init"
# -R 0:0: owned by root in the archive whoever builds it.
(cd "$out" && printf 'dev\ninit\n' | cpio -o -H newc -R 0:0 --quiet) >"$out/initramfs.cpio"

# ---- the run ----
timeout --foreground 900 qemu-system-aarch64 "${qemu_flags[@]}" -nographic -no-reboot \
    -kernel "$cache/Image" -initrd "$out/initramfs.cpio" \
    -append "console=ttyAMA0 quiet rdinit=/init" \
    < /dev/null > "$log" 2>&1 || status=$?
if [ "${status:-0}" -ne 0 ] || ! grep -q '^bench: done' <(tr -d '\r' < "$log"); then
    cat "$log"
    echo "make bench-linux: the benchmark run failed (log: $log)" >&2
    exit 1
fi
tr -d '\r' < "$log" | python3 qemu/bench-report.py linux "${qemu_flags[*]}" "$json"
echo
python3 qemu/bench-report.py --compare build/bench.json "$json"
