#!/usr/bin/env bash
# make bench-smp: boots the kernel with `bench smp` under multi-threaded TCG (one host thread
# per vCPU, no -icount: the monotonic clock is wall time), once with -smp 1 and once with
# -smp 2. bin/bench starts two worker threads per workload, each with its own objects
# (user/bench/smp-zircon.c), and a channel ping-pong between two threads. Prints each boot's
# throughput, the ratio between them, and the ping-pong round trip; writes build/bench-smp.json.
#
# Wall time depends on the host: figures are only comparable on a quiet machine (it warns if
# another QEMU runs), and even then they vary by a few percent from run to run.
set -euo pipefail
cd "$(dirname "$0")/.."

mkdir -p build
others="$(pgrep -fc qemu-system || true)"
if [ "${others:-0}" -gt 0 ]; then
    echo "make bench-smp: warning: $others other QEMU process(es) running, figures will be low" >&2
fi
logs=()
for cpus in 1 2; do
    log=build/bench-smp-$cpus.log
    qemu_flags=(-M virt,gic-version=3 -cpu cortex-a72 -smp "$cpus" -m 1G -accel tcg,thread=multi)
    timeout --foreground 600 qemu-system-aarch64 "${qemu_flags[@]}" -nographic -semihosting \
        -no-reboot -kernel build/Image -initrd build/initrd.cpio -append "bench smp" \
        < /dev/null > "$log" 2>&1 || status=$?
    if [ "${status:-0}" -ne 0 ] || ! grep -q '^bench-smp: done' <(tr -d '\r' < "$log"); then
        cat "$log"
        echo "make bench-smp: the -smp $cpus run failed (log: $log)" >&2
        exit 1
    fi
    logs+=("$log")
done
python3 qemu/bench-report.py --smp build/bench-smp.json "${logs[@]}"
