#!/usr/bin/env bash
# make bench: boots the kernel with `bench` under `qemu -icount shift=0` (guest time advances
# one nanosecond per instruction, so the monotonic clock counts guest instructions); init runs
# bin/bench (user/bench/), which prints one `bench-result {...}` line per operation. Writes
# build/bench.json and prints the table with the targets of issue 6; then the same at -smp 4
# (build/bench-smp4.json) and both side by side, flagging rows more than 5% worse at -smp 4.
set -euo pipefail
cd "$(dirname "$0")/.."

# Each boot: its CPU count, log and JSON. The -smp 1 figures are build/bench.json, the reference
# bench-linux compares with; the -smp 4 boot runs the same single-threaded benchmark with three
# more CPUs online (idle ones, all in the one TCG thread -icount needs), to show what SMP
# costs a thread that runs alone: locks, IPIs, the other CPUs' idle loops and ticks. Under
# -icount every vCPU's instructions advance the one guest clock, so work done by the other
# CPUs meanwhile counts against the operation too.
runs=("1 build/bench.log build/bench.json" "4 build/bench-smp4.log build/bench-smp4.json")
mkdir -p build
for run in "${runs[@]}"; do
    read -r cpus log json <<<"$run"
    qemu_flags=(-M virt -cpu cortex-a72 -smp "$cpus" -m 1G -icount shift=0)
    timeout --foreground 600 qemu-system-aarch64 "${qemu_flags[@]}" -nographic -semihosting \
        -no-reboot -kernel build/Image -initrd build/initrd.cpio -append bench \
        < /dev/null > "$log" 2>&1 || {
        cat "$log"
        echo "make bench: the -smp $cpus benchmark run failed (log: $log)" >&2
        exit 1
    }
    tr -d '\r' < "$log" | python3 qemu/bench-report.py zircon "${qemu_flags[*]}" "$json"
    echo
done
python3 qemu/bench-report.py --smp4 build/bench.json build/bench-smp4.json
