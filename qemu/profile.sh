#!/usr/bin/env bash
# Where the guest instructions of one benchmark operation go, by function:
#
#   qemu/profile.sh OPERATION ITERATIONS     e.g. qemu/profile.sh null_syscall 20000
#
# Boots `bench OPERATION ITERATIONS` (bin/bench runs just that operation) under the bench's
# QEMU flags with `-d in_asm,exec,nochain`, then qemu/profile.py counts each executed
# translation block's instructions against the kernel's and bin/bench's symbols, divided by
# ITERATIONS, less a run with 0 iterations (boot and start-up).
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -eq 2 ] || { echo "usage: $0 OPERATION ITERATIONS" >&2; exit 2; }
make -s build/Image build/initrd.cpio
# The same boot with 0 iterations is the baseline that profile.py subtracts.
for n in 0 "$2"; do
    timeout --foreground 600 qemu-system-aarch64 -M virt -cpu cortex-a72 -m 1G -icount shift=0 \
        -nographic -semihosting -no-reboot -kernel build/Image -initrd build/initrd.cpio \
        -append "bench $1 $n" -d in_asm,exec,nochain -D "build/profile-trace-$n.log" \
        < /dev/null > "build/profile-$n.log" 2>&1 &
done
wait
python3 qemu/profile.py "build/profile-trace-$2.log" build/profile-trace-0.log "$2" \
    target/aarch64-unknown-none-softfloat/release/kernel build/user/debug/bench
