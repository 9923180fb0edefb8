#!/usr/bin/env bash
# make bench: boots the kernel with `bench` under `qemu -icount shift=0` (guest time advances
# one nanosecond per instruction, so the monotonic clock counts guest instructions); init runs
# bin/bench (user/bench/), which prints one `bench-result {...}` line per operation. Writes
# build/bench.json and prints the table with the targets of issue 6.
set -euo pipefail
cd "$(dirname "$0")/.."

log=build/bench.log
json=build/bench.json
qemu_flags=(-M virt -cpu cortex-a72 -m 1G -icount shift=0)
mkdir -p build
timeout --foreground 600 qemu-system-aarch64 "${qemu_flags[@]}" -nographic -semihosting \
    -no-reboot -kernel build/Image -initrd build/initrd.cpio -append bench \
    < /dev/null > "$log" 2>&1 || {
    cat "$log"
    echo "make bench: the benchmark run failed (log: $log)" >&2
    exit 1
}
tr -d '\r' < "$log" | python3 qemu/bench-report.py zircon "${qemu_flags[*]}" "$json"
