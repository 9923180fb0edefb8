#!/usr/bin/env bash
# make stress: boots the racing conformance cases (`test only=race_`, issue 14 item 6) again
# and again for STRESS_SECONDS (default 300) on QEMU virt with four vCPUs under MTTCG
# (`-accel tcg,thread=multi`: the host runs the vCPUs in parallel threads), GICv3 and GICv2
# alternating. Stops at the first failed boot (a failed case, a missing suite summary, a
# non-zero exit, a panic or a hang) and prints its log; ends with "stress: N runs, N passed".
# STRESS_ONLY picks other cases (a prefix, default race_), STRESS_SMP the vCPU count.
set -uo pipefail
cd "$(dirname "$0")/.."

seconds=${STRESS_SECONDS:-300}
only=${STRESS_ONLY:-race_}
smp=${STRESS_SMP:-4}
timeout_s=${KTEST_TIMEOUT:-400}
logs=build/test-logs
mkdir -p "$logs"

make -s build/Image build/initrd.cpio > "$logs/stress-build.log" 2>&1 || {
    cat "$logs/stress-build.log"
    echo "stress: the kernel or the boot archive did not build"
    exit 1
}

runs=0
passes=0
end=$((SECONDS + seconds))
echo "stress: 'test only=$only' on virt -smp $smp MTTCG for ${seconds}s"
while [ "$SECONDS" -lt "$end" ]; do
    gic=$((runs % 2 == 0 ? 3 : 2))
    runs=$((runs + 1))
    log="$logs/stress-$runs.log"
    start=$SECONDS
    # The same machine flags as qemu/run-tests.sh's boots; -no-reboot ends QEMU when the
    # kernel stops.
    timeout --foreground -k 5 "$timeout_s" qemu-system-aarch64 \
        -M "virt,gic-version=$gic" -smp "$smp" -accel tcg,thread=multi -cpu cortex-a72 -m 1G \
        -kernel build/Image -initrd build/initrd.cpio -append "test only=$only" \
        -nographic -semihosting -no-reboot < /dev/null > "$log" 2>&1
    status=$?
    why=""
    text=$(tr -d '\r\000' < "$log")
    if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
        why="timed out after ${timeout_s}s"
    elif [ "$status" -ne 0 ]; then
        why="QEMU exit status $status"
    fi
    for suite in ktest conformance-rust conformance-c; do
        if ! grep -aqE "^$suite: [0-9]+ passed, 0 failed$" <<< "$text"; then
            why="${why:+$why; }$suite did not report 0 failed"
        fi
    done
    if grep -aq "PANIC" <<< "$text"; then
        why="${why:+$why; }kernel panic"
    fi
    if [ -n "$why" ]; then
        grep -a -E '^test .* \.\.\. FAILED|PANIC|panic' <<< "$text" | head -20
        echo "--- last lines of $log"
        tail -n 30 "$log"
        echo "stress: run $runs (GICv$gic) FAILED: $why"
        echo "stress: $runs runs, $passes passed"
        exit 1
    fi
    passes=$((passes + 1))
    echo "stress: run $runs (GICv$gic) ok in $((SECONDS - start))s"
    rm -f "$log"
done
echo "stress: $runs runs, $passes passed"
