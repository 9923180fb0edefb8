#!/usr/bin/env bash
# Runs every test: host unit tests (cargo test), then the in-kernel test build under QEMU
# across the machine matrix, then boot-failure cases. Each QEMU run has a timeout; a hang
# counts as a failure. Ends with one line "N passed, N failed"; exits 0 only if none failed.
set -uo pipefail
cd "$(dirname "$0")/.."

qemu_only=0
[ "${1:-}" = "--qemu-only" ] && qemu_only=1
# Per boot. A full test boot takes 40-110 s of host time on virt and more on the raspi
# machines (four vCPUs), so this leaves room for a slower machine and still ends a hung boot.
timeout_s=${KTEST_TIMEOUT:-400}
logs=build/test-logs
mkdir -p "$logs"
passed=0
failed=0
failures=()

fail() { failed=$((failed + 1)); failures+=("$1"); echo "FAILED: $1"; }

# --- host tests --------------------------------------------------------------------------
if [ "$qemu_only" = 0 ]; then
    echo "== host tests (cargo test: abi, arch, mm, object)"
    cargo test 2>&1 | tee "$logs/host.log"
    host_status=${PIPESTATUS[0]}
    host_passed=$(awk '/^test result:/ { for (i = 1; i < NF; i++) if ($(i+1) ~ /^passed/) n += $i } END { print n + 0 }' "$logs/host.log")
    host_failed=$(awk '/^test result:/ { for (i = 1; i < NF; i++) if ($(i+1) ~ /^failed/) n += $i } END { print n + 0 }' "$logs/host.log")
    passed=$((passed + ${host_passed:-0}))
    failed=$((failed + ${host_failed:-0}))
    if [ "$host_status" -ne 0 ] && [ "${host_failed:-0}" -eq 0 ]; then
        fail "host tests did not build or run (see $logs/host.log)"
    fi
fi

# --- in-kernel tests under QEMU ----------------------------------------------------------
echo "== building the kernel image (it runs its in-kernel tests when booted with \`test\`)"
if ! make -s build/Image > "$logs/build.log" 2>&1; then
    cat "$logs/build.log"
    fail "kernel image did not build"
    echo "$passed passed, $failed failed"
    exit 1
fi
image=build/Image
echo "== building the boot archive (user programs and conformance suites)"
if ! make -s build/initrd.cpio > "$logs/initrd.log" 2>&1; then
    cat "$logs/initrd.log"
    fail "boot archive build/initrd.cpio did not build"
    echo "$passed passed, $failed failed"
    exit 1
fi
initrd=build/initrd.cpio

# run_kernel NAME EXPECTED_EXIT PATTERN QEMU-ARGS...: one QEMU boot; sums the summary lines
# `SUITE: N passed, M failed` of every suite that prints one (the kernel's `ktest`, the user
# suites), else counts the run as one test. Each suite named in $required_suites must report,
# and each in-kernel test named in $required_tests must pass (not be skipped: some skip on a
# machine that lacks what they test, and this boot is there to have it).
required_suites=""
required_tests=""
qemu=qemu-system-aarch64   # or a wrapper that takes QEMU's arguments (word-split on purpose)
run_kernel() {
    local name=$1 expect_exit=$2 pattern=$3
    shift 3
    local log="$logs/$name.log"
    timeout --foreground -k 5 "$timeout_s" $qemu "$@" \
        -nographic -semihosting -no-reboot < /dev/null > "$log" 2>&1
    local status=$?
    sed "s/^/[$name] /" "$log" | tr -d '\r\000'
    if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
        fail "$name: timed out after ${timeout_s}s"
        return
    fi
    local summaries suite test
    # Programs may print any bytes (hostile debug_write cases): read the log as text.
    summaries=$(tr -d '\r\000' < "$log" | grep -aE '^[a-z0-9-]+: [0-9]+ passed, [0-9]+ failed$')
    for test in $required_tests; do
        # Not `grep -q`: it stops reading at the first match, `tr` then dies of SIGPIPE, and
        # with pipefail the match counts as a failure.
        tr -d '\r\000' < "$log" | grep -ax "test $test ... ok" > /dev/null ||
            fail "$name: in-kernel test $test did not pass (this boot must run it)"
    done
    if [ -n "$summaries" ]; then
        local line p f
        while read -r line; do
            suite=${line%%:*}
            p=$(echo "$line" | sed -E 's/^[a-z0-9-]+: ([0-9]+) passed.*/\1/')
            f=$(echo "$line" | sed -E 's/.* ([0-9]+) failed$/\1/')
            passed=$((passed + p))
            failed=$((failed + f))
            [ "$f" -ne 0 ] && failures+=("$name: $f $suite test(s) failed")
        done <<< "$summaries"
        # The failing tests by name, with why: CI shows only the end of the output.
        while read -r line; do
            [ -n "$line" ] && failures+=("$name:   ${line#test }")
        done < <(tr -d '\r\000' < "$log" | grep -a '^test .* \.\.\. FAILED' | cut -c1-300)
        for suite in $required_suites; do
            grep -q "^$suite: " <<< "$summaries" || fail "$name: $suite printed no summary"
        done
        if [ "$status" -ne "$expect_exit" ]; then
            fail "$name: QEMU exit status $status, expected $expect_exit"
        fi
    elif [ -n "$required_suites" ]; then
        fail "$name: no suite printed a summary (exit status $status)"
    elif [ "$status" -eq "$expect_exit" ] && grep -aq -- "$pattern" "$log"; then
        passed=$((passed + 1))
        echo "test $name ... ok"
    else
        fail "$name: exit status $status (expected $expect_exit), output lacks '$pattern'"
    fi
}

# The virt matrix. Four axes: the GIC (v2, v3); the entry EL (1, or 2 with
# virtualization=on); the CPU (cortex-a53 and cortex-a72, the Pi 3's and Pi 4's cores, which
# lack FEAT_PAN, and max, QEMU's CPU with every architecture feature it models: PAN and the
# other v8.1+ features, so the PAN test runs only there); the RAM (128 MiB, 2 GiB). The full
# product would be 24 boots. These 12 take every GIC x EL x CPU combination, because the boot
# code and the interrupt set-up depend on all three together (ICC_SRE_EL2 only for GICv3
# entered at EL2, the EL2 state a v8.1+ CPU has only on max), and alternate the RAM size so
# that each size meets every value of every other axis and every GIC x EL pair: the RAM size
# changes the memory layout and the page pool, not the CPU or interrupt paths.
#
# Two of them (a 2 GiB and a 128 MiB boot, one at each EL) boot QEMU's DTB with the
# /reserved-memory ranges of qemu/no-map.dtsi merged in, so the no-map test runs in them
# without a boot of its own; the others boot QEMU's DTB unchanged.
no_map_dtb() { # out machine cpu mem smp: QEMU's DTB for this machine plus qemu/no-map.dtsi
    local out=$1 machine=$2 cpu=$3 mem=$4 smp=$5
    qemu-system-aarch64 -M "$machine,dumpdtb=$out.qemu" -smp "$smp" -cpu "$cpu" -m "$mem" \
        > "$logs/dumpdtb-no-map.log" 2>&1 &&
        { dtc -q -I dtb -O dts "$out.qemu" && cat qemu/no-map.dtsi; } |
        dtc -q -I dts -O dtb -o "$out"
}
cpus=(cortex-a53 cortex-a72 max)
# A fifth axis, the CPU count (1, 2, 4), is spread the same way: every GIC x EL pair (so both
# PSCI conduits, hvc at EL1 and smc at EL2) boots with each count, on a different CPU model
# each time; every boot with more than one checks that all came online.
smp_counts=(1 2 4)
for gic in 2 3; do
    for el in 1 2; do
        for c in 0 1 2; do
            cpu=${cpus[c]}
            mem=128M
            [ $(((gic + el + c) % 2)) = 0 ] && mem=2G
            machine="virt,gic-version=$gic"
            [ "$el" = 2 ] && machine="$machine,virtualization=on"
            smp=${smp_counts[$(((gic + 2 * el + c) % 3))]}
            name="virt-gicv$gic-el$el-${cpu#cortex-}-$mem-smp$smp"
            tests=""
            [ "$cpu" = max ] && tests="pan_kernel_access_to_user_memory_faults"
            [ "$smp" -gt 1 ] && tests="$tests every_cpu_the_device_tree_lists_is_online"
            dtb_args=()
            case "$name" in
            virt-gicv2-el1-a72-2G-* | virt-gicv3-el2-max-128M-*)
                name="$name-no-map"
                tests="$tests mmu_no_map_reserved_memory_is_unmapped"
                if ! no_map_dtb "build/$name.dtb" "$machine" "$cpu" "$mem" "$smp"; then
                    fail "$name: the test DTB did not build"
                    continue
                fi
                dtb_args=(-dtb "build/$name.dtb")
                ;;
            esac
            echo "== $name"
            required_suites="ktest conformance-rust conformance-c" required_tests="$tests" \
                run_kernel "$name" 0 "ktest:" -M "$machine" -smp "$smp" -cpu "$cpu" -m "$mem" \
                "${dtb_args[@]}" -kernel "$image" -initrd "$initrd" -append test
        done
    done
done

# --- the CSPRNG differs between boots of the same image --------------------------------
# Two boots under -icount (everything the guest measures, counter jitter included, is then
# deterministic): only the DTB's rng-seed, fresh from QEMU at each boot, can make the draws
# differ (src/cprng.rs). conformance-rust prints its first 32-byte draw.
draws=()
for boot in 1 2; do
    log="$logs/cprng-boot$boot.log"
    timeout --foreground -k 5 "$timeout_s" $qemu -M virt -smp 1 -cpu cortex-a72 -m 1G \
        -icount shift=0 -kernel "$image" -initrd "$initrd" -append "test only=cprng_two" \
        -nographic -semihosting -no-reboot < /dev/null > "$log" 2>&1
    draws+=("$(tr -d '\r\000' < "$log" | grep -a '^  cprng draw: ' | head -1)")
done
echo "== cprng: ${draws[0]:-none} / ${draws[1]:-none}"
if [ -n "${draws[0]}" ] && [ -n "${draws[1]}" ] && [ "${draws[0]}" != "${draws[1]}" ]; then
    passed=$((passed + 1))
    echo "test cprng_two_boots_under_icount_draw_differently ... ok"
else
    fail "cprng: two -icount boots drew the same bytes or none (logs: $logs/cprng-boot*.log)"
fi

# --- Raspberry Pi 3 and 4: the SD card image, booted in QEMU ------------------------------
# The card's kernel8.img, initrd.cpio and, for each board, the DTB its config.txt names;
# qemu/rpi-qemu.sh explains the two modes: "firmware" does what the Pi firmware does with the
# card's config.txt (the PL011 on the header pins), "mainline" boots the DTB unchanged (the
# mini UART its stdout-path names).
echo "== building the SD card image (make sdcard)"
if make -s sdcard > "$logs/sdcard.log" 2>&1; then
    for board in rpi3 rpi4; do
        for mode in firmware mainline; do
            name="$board-$mode"
            echo "== $name"
            required_suites="ktest conformance-rust conformance-c" \
                required_tests="every_cpu_the_device_tree_lists_is_online" \
                qemu="bash qemu/rpi-qemu.sh build/sdcard.img $board $mode" \
                run_kernel "$name" 0 "ktest:" -append test
        done
    done
else
    cat "$logs/sdcard.log"
    fail "the SD card image build/sdcard.img did not build"
fi

# --- the system-call fuzzer (user/fuzz, issue 12) ----------------------------------------
# 10^6 calls in all over four machines: virt with four CPUs, virt on `max` (PAN and the
# v8.1+ features), virt with 128 MiB (the fuzzer's large commits exhaust it) and the Pi 4.
# Each boot's seed is printed; `make fuzz SEED=... CALLS=... ROUNDS=...` (or the boot's
# -append) reproduces a failure. FUZZ_SEED fixes the base seed, else it varies per run.
fuzz_seed=${FUZZ_SEED:-$(date +%s)}
echo "== fuzz: base seed $fuzz_seed"
fuzz_case=0
for case in "fuzz-virt-smp4:300000:-M virt -smp 4 -cpu cortex-a72 -m 1G" \
            "fuzz-virt-max:300000:-M virt,gic-version=3 -cpu max -m 2G" \
            "fuzz-virt-128M:200000:-M virt -cpu cortex-a53 -m 128M" \
            "fuzz-rpi4:200000:"; do
    IFS=: read -r name calls machine <<< "$case"
    seed=$((fuzz_seed + fuzz_case))
    fuzz_case=$((fuzz_case + 1))
    echo "== $name: fuzz $seed $calls 8"
    if [ -n "$machine" ]; then
        # shellcheck disable=SC2086 # the machine arguments are words on purpose
        required_suites="fuzz" run_kernel "$name" 0 "fuzz:" $machine -kernel "$image" \
            -initrd "$initrd" -append "fuzz $seed $calls 8"
    elif [ -f build/sdcard.img ]; then
        required_suites="fuzz" qemu="bash qemu/rpi-qemu.sh build/sdcard.img rpi4 mainline" \
            run_kernel "$name" 0 "fuzz:" -append "fuzz $seed $calls 8"
    fi
done
# The same image with the kernel's invariant checks (`kcheck`, src/kcheck.rs): pool
# accounting, page-table owners and handle tables after every call, the frame-table census
# every 64th (about 30 s of host time); a broken invariant panics with the figures. Two CPUs,
# so the checks also stop a live second CPU (`percpu::with_others_stopped`) while they read.
seed=$((fuzz_seed + fuzz_case))
echo "== fuzz-virt-kcheck: kcheck=64 fuzz $seed 100000 4"
required_suites="fuzz" run_kernel fuzz-virt-kcheck 0 "fuzz:" -M virt -smp 2 -cpu cortex-a72 -m 1G \
    -kernel "$image" -initrd "$initrd" -append "kcheck=64 fuzz $seed 100000 4"

# Latency, exact under -icount (guest time is instructions, so a host stall cannot pass for
# kernel work): with `klatency` the kernel reports every timer interrupt it took more than
# 1 ms late, which is a stretch of kernel work without a preemption point. The long_* cases
# (the largest arguments each call accepts) and a fuzz run must report none.
for case in "latency-long:test only=long_" "latency-fuzz:fuzz $((fuzz_seed + 7)) 100000 4"; do
    IFS=: read -r name args <<< "$case"
    echo "== $name: klatency $args"
    suite=conformance-rust
    [ "$name" = latency-fuzz ] && suite=fuzz
    required_suites="$suite" run_kernel "$name" 0 "passed" -M virt -cpu cortex-a72 -m 2G \
        -icount shift=0 -kernel "$image" -initrd "$initrd" -append "klatency $args"
    if tr -d '\r\000' < "$logs/$name.log" | grep -aq "kernel latency:"; then
        fail "$name: the kernel kept the CPU for more than 1 ms (see 'kernel latency:' in $logs/$name.log)"
    fi
done

# The failing-allocation sweep: a script of allocating calls, the N-th page decision refused
# for N = 1, 2, ... (zx_debug_send_command works only on this `kdebug` boot).
echo "== sweep"
required_suites="sweep" run_kernel sweep 0 "sweep:" -M virt -cpu cortex-a72 -m 1G \
    -kernel "$image" -initrd "$initrd" -append "kdebug fuzz sweep"

# --- fatal errors are reported once and stop the kernel -----------------------------------
# Only this image can crash on purpose (the `crash-hooks` feature). It is built last, as it
# leaves its ELF in target/ where gdb and `make run` would look for build/Image's.
crash_image=build/Image-crash-hooks
if ! make -s "$crash_image" > "$logs/build-crash-hooks.log" 2>&1; then
    cat "$logs/build-crash-hooks.log"
    fail "the crash-hooks kernel image did not build"
fi
# ... and the image everything else boots has none: its ELF lacks the argument's name.
if grep -aq "ktest.crash=" "$image"; then
    fail "build/Image has the deliberate-crash hooks (only $crash_image may)"
else
    passed=$((passed + 1))
fi
for case in "stack-overflow:kernel stack overflow into the guard page" \
            "undefined-instruction:unknown reason (undefined instruction)" \
            "panic:PANIC: " \
            "in-syscall:in system call 32 (zx_debug_write) of thread"; do
    IFS=: read -r kind pattern <<< "$case"
    echo "== crash-$kind"
    # in-syscall: the first zx_debug_write panics; the report names the call and its
    # arguments (a boot archive, so that init makes one).
    run_kernel "crash-$kind" 1 "$pattern" -M virt -cpu cortex-a72 -m 128M -kernel "$crash_image" \
        -initrd "$initrd" -append "ktest.crash=$kind"
done

# --- boot without a boot loader: x0 chosen by a stub ---------------------------------------
# QEMU virt puts its DTB at the start of RAM when there is no -kernel; the stub enters the
# kernel, loaded at an address that is only 4 KiB aligned, with x0 set to DTB_ADDRESS.
stub() {
    local out=$1 dtb=$2 kernel=$3
    aarch64-linux-gnu-gcc -nostdlib -ffreestanding -static -Wl,-Ttext=0x41000000 \
        -Wl,--defsym=DTB_ADDRESS="$dtb" -Wl,--defsym=KERNEL_ADDRESS="$kernel" \
        -o "$out" qemu/boot-stub.S
}
kernel_at=0x41234000
head -c 8192 /dev/urandom > build/garbage.bin
# QEMU's own DTB for this machine with `test` as the boot arguments (there is no -append
# without -kernel), loaded at 0x49000000.
qemu-system-aarch64 -M virt -cpu cortex-a72 -m 1G -machine dumpdtb=build/stub-virt.dtb \
    > "$logs/dumpdtb.log" 2>&1
fdtput -t s build/stub-virt.dtb /chosen bootargs test
for case in "firmware-entry-unaligned-load:0x49000000:0:ktest:" \
            "no-dtb:0:1:no device tree" \
            "garbage-dtb:0x48000000:1:is not valid" \
            "dtb-outside-ram:0x90000000:1:device tree at physical"; do
    IFS=: read -r name dtb expect pattern <<< "$case"
    echo "== $name"
    if ! stub "build/stub-$name.elf" "$dtb" "$kernel_at" 2> "$logs/stub-$name.log"; then
        fail "$name: boot stub did not assemble"
        continue
    fi
    run_kernel "$name" "$expect" "$pattern" -M virt -cpu cortex-a72 -m 1G \
        -device loader,file="$image",addr=$kernel_at,force-raw=on \
        -device loader,file=build/garbage.bin,addr=0x48000000,force-raw=on \
        -device loader,file=build/stub-virt.dtb,addr=0x49000000,force-raw=on \
        -device loader,file="build/stub-$name.elf",cpu-num=0
done

echo
if [ ${#failures[@]} -gt 0 ]; then
    echo "failures:"
    printf '  %s\n' "${failures[@]}"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
