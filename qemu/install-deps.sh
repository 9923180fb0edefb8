#!/usr/bin/env bash
# Installs what building and testing the kernel needs on a fresh Debian bookworm machine:
# QEMU 10 (bookworm-backports), the aarch64 cross toolchain, dtc, gdb-multiarch, and the
# rustup targets. Each step is skipped when its tool is already present.
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

need_apt=()
qemu_ok() {
    command -v qemu-system-aarch64 >/dev/null 2>&1 &&
        qemu-system-aarch64 -machine help 2>/dev/null | grep -q '^raspi4b'
}
qemu_ok || need_apt+=(qemu-system-arm)
command -v aarch64-linux-gnu-gcc >/dev/null 2>&1 || need_apt+=(gcc-aarch64-linux-gnu)
# Only recommended by the cross gcc; the static Linux benchmark (make bench-linux) needs it.
[ -f /usr/aarch64-linux-gnu/lib/libc.a ] || need_apt+=(libc6-dev-arm64-cross)
command -v dtc >/dev/null 2>&1 || need_apt+=(device-tree-compiler)
command -v gdb-multiarch >/dev/null 2>&1 || need_apt+=(gdb-multiarch)
command -v mcopy >/dev/null 2>&1 || need_apt+=(mtools)
command -v mkfs.vfat >/dev/null 2>&1 || need_apt+=(dosfstools)
command -v sfdisk >/dev/null 2>&1 || need_apt+=(fdisk)
command -v cpio >/dev/null 2>&1 || need_apt+=(cpio)
command -v python3 >/dev/null 2>&1 || need_apt+=(python3)

if [ ${#need_apt[@]} -gt 0 ]; then
    backports=/etc/apt/sources.list.d/bookworm-backports.list
    if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
        echo 'deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm-backports main' |
            $SUDO tee "$backports" >/dev/null
    fi
    # Third-party sources on some machines are unreachable; Debian's own are what we need.
    $SUDO apt-get update -q || true
    export DEBIAN_FRONTEND=noninteractive
    for pkg in "${need_apt[@]}"; do
        if [ "$pkg" = qemu-system-arm ]; then
            $SUDO apt-get install -y -q -t bookworm-backports qemu-system-arm
        else
            $SUDO apt-get install -y -q "$pkg"
        fi
    done
fi

# rust-toolchain.toml names the targets; rustup installs them on first use, but do it
# explicitly so a failure shows here rather than in the middle of a build.
if command -v rustup >/dev/null 2>&1; then
    rustup show active-toolchain >/dev/null
    rustup target add aarch64-unknown-none aarch64-unknown-none-softfloat >/dev/null
fi
