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
# Other QEMUs (by process name, not the `timeout` wrappers around them), before and after
# each boot: one seen means the figures of that boot are low.
others() { pgrep -c '^qemu-system' || true; }
logs=()
busy=""
for cpus in 1 2; do
    log=build/bench-smp-$cpus.log
    qemu_flags=(-M virt,gic-version=3 -cpu cortex-a72 -smp "$cpus" -m 1G -accel tcg,thread=multi)
    before="$(others)"
    timeout --foreground 600 qemu-system-aarch64 "${qemu_flags[@]}" -nographic -semihosting \
        -no-reboot -kernel build/Image -initrd build/initrd.cpio -append "bench smp" \
        < /dev/null > "$log" 2>&1 || status=$?
    after="$(others)"
    if [ "${status:-0}" -ne 0 ] || ! grep -q '^bench-smp: done' <(tr -d '\r' < "$log"); then
        cat "$log"
        echo "make bench-smp: the -smp $cpus run failed (log: $log)" >&2
        exit 1
    fi
    if [ "$before" -gt 0 ] || [ "$after" -gt 0 ]; then
        busy="$busy -smp $cpus (other QEMUs: $before before, $after after)"
    fi
    logs+=("$log")
done
python3 qemu/bench-report.py --smp build/bench-smp.json "${logs[@]}"
if [ -n "$busy" ]; then
    echo "make bench-smp: warning: the host was busy during$busy: figures are low" >&2
fi
