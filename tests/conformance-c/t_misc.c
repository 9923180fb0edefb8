/* conformance-c: the calling convention, time, the console, and hostile arguments. */
#include "harness.h"

#include <zircon/syscalls/port.h>

/* ---- calling convention --------------------------------------------------------------- */

static void unknown_syscall_is_bad_syscall(void) {
    static const uint64_t numbers[] = {9999, ZX_SYS_COUNT, ZX_SYS_COUNT + 1, 0xffff,
                                       0xffffffffull, 0x7fffffffffffffffull,
                                       0xffffffffffffffffull};
    for (size_t i = 0; i < T_COUNT(numbers); i++) {
        t_context("numbers[i]", (uint64_t)numbers[i]);
        uint64_t r = t_syscall(numbers[i], 0, 0, 0, 0);
        CHECK_ST((zx_status_t)r, ZX_ERR_BAD_SYSCALL);
    }
}

static void unknown_syscall_high_bits_are_not_ignored(void) {
    /* 1<<32 | handle_close: a kernel that truncates x16 to 32 bits would run handle_close
     * and answer BAD_HANDLE for the bogus handle instead. */
    uint64_t r = t_syscall((1ull << 32) | ZX_SYS_handle_close, 0x12345, 0, 0, 0);
    CHECK_ST((zx_status_t)r, ZX_ERR_BAD_SYSCALL);
    r = t_syscall((1ull << 63) | ZX_SYS_system_get_page_size, 0, 0, 0, 0);
    CHECK_ST((zx_status_t)r, ZX_ERR_BAD_SYSCALL);
}

static void syscall_status_is_sign_extended_in_x0(void) {
    uint64_t r = t_syscall(ZX_SYS_handle_close, 0x12345, 0, 0, 0);
    CHECK_EQ(r, (uint64_t)(int64_t)ZX_ERR_BAD_HANDLE);
    r = t_syscall(9999, 0, 0, 0, 0);
    CHECK_EQ(r, (uint64_t)(int64_t)ZX_ERR_BAD_SYSCALL);
}

/* t_regs_probe(num, a0, in, out): loads x1..x15 and x18..x30 from in[1..], x0 = a0,
 * x16 = num, issues `svc #0`, and stores x0..x30 to out[0..30]. Callee-saved registers and
 * the frame are restored before it returns. */
void t_regs_probe(uint64_t num, uint64_t a0, const uint64_t* in, uint64_t* out);
__asm__(
    ".text\n"
    ".balign 4\n"
    ".global t_regs_probe\n"
    ".type t_regs_probe, %function\n"
    "t_regs_probe:\n"
    "  stp x29, x30, [sp, #-112]!\n"
    "  stp x19, x20, [sp, #16]\n"
    "  stp x21, x22, [sp, #32]\n"
    "  stp x23, x24, [sp, #48]\n"
    "  stp x25, x26, [sp, #64]\n"
    "  stp x27, x28, [sp, #80]\n"
    "  str x3, [sp, #96]\n"
    "  mov x16, x0\n"
    "  mov x17, x2\n"
    "  mov x0, x1\n"
    "  ldp x1, x2, [x17, #8]\n"
    "  ldp x3, x4, [x17, #24]\n"
    "  ldp x5, x6, [x17, #40]\n"
    "  ldp x7, x8, [x17, #56]\n"
    "  ldp x9, x10, [x17, #72]\n"
    "  ldp x11, x12, [x17, #88]\n"
    "  ldp x13, x14, [x17, #104]\n"
    "  ldr x15, [x17, #120]\n"
    "  ldr x18, [x17, #144]\n"
    "  ldp x19, x20, [x17, #152]\n"
    "  ldp x21, x22, [x17, #168]\n"
    "  ldp x23, x24, [x17, #184]\n"
    "  ldp x25, x26, [x17, #200]\n"
    "  ldp x27, x28, [x17, #216]\n"
    "  ldp x29, x30, [x17, #232]\n"
    "  svc #0\n"
    "  ldr x17, [sp, #96]\n"
    "  stp x0, x1, [x17, #0]\n"
    "  stp x2, x3, [x17, #16]\n"
    "  stp x4, x5, [x17, #32]\n"
    "  stp x6, x7, [x17, #48]\n"
    "  stp x8, x9, [x17, #64]\n"
    "  stp x10, x11, [x17, #80]\n"
    "  stp x12, x13, [x17, #96]\n"
    "  stp x14, x15, [x17, #112]\n"
    "  str x18, [x17, #144]\n"
    "  stp x19, x20, [x17, #152]\n"
    "  stp x21, x22, [x17, #168]\n"
    "  stp x23, x24, [x17, #184]\n"
    "  stp x25, x26, [x17, #200]\n"
    "  stp x27, x28, [x17, #216]\n"
    "  stp x29, x30, [x17, #232]\n"
    "  ldp x19, x20, [sp, #16]\n"
    "  ldp x21, x22, [sp, #32]\n"
    "  ldp x23, x24, [sp, #48]\n"
    "  ldp x25, x26, [sp, #64]\n"
    "  ldp x27, x28, [sp, #80]\n"
    "  ldp x29, x30, [sp], #112\n"
    "  ret\n"
    ".size t_regs_probe, . - t_regs_probe\n");

static void syscall_preserves_general_registers(void) {
    static uint64_t in[31], out[31];
    for (int round = 0; round < 3; round++) {
        t_context("round", (uint64_t)round);
        for (int i = 0; i < 31; i++) {
            in[i] = 0x0101010101010101ull * (uint64_t)(i + 1) ^ ((uint64_t)round << 60);
            out[i] = 0;
        }
        /* Round 0: a real call (handle_close of a bogus handle), round 1: an unknown number,
         * round 2: a call that writes through a pointer argument (x1). */
        uint64_t num = round == 0 ? ZX_SYS_handle_close : round == 1 ? 9999u : ZX_SYS_vmo_get_size;
        zx_status_t want = round == 0 ? ZX_ERR_BAD_HANDLE
                           : round == 1 ? ZX_ERR_BAD_SYSCALL
                                        : ZX_OK;
        uint64_t a0 = 0x12345;
        uint64_t size = 0;
        if (round == 2) {
            zx_handle_t vmo;
            CHECK_OK(zx_vmo_create(3 * PAGE, 0, &vmo));
            t_track(vmo);
            a0 = vmo;
            in[1] = (uint64_t)(uintptr_t)&size;
        }
        t_regs_probe(num, a0, in, out);
        CHECK_EQ(out[0], (uint64_t)(int64_t)want);
        for (int i = 1; i < 31; i++) {
            if (i == 16 || i == 17) continue;
            if (out[i] != in[i]) {
                t_fail_msg(__FILE__, __LINE__, "syscall changed register x", (uint64_t)i);
                return;
            }
        }
        if (round == 2) CHECK_EQ(size, 3 * PAGE);
    }
}

/* Loads q0..q31 from `in` (64 u64), issues syscall `num` with x0 = `a0`, stores q0..q31 to
 * `out`; returns x0. */
static uint64_t simd_probe(uint64_t num, uint64_t a0, const uint64_t* in, uint64_t* out) {
    register uint64_t x0 __asm__("x0") = a0;
    register uint64_t x16 __asm__("x16") = num;
    __asm__ volatile(
        "ldp q0, q1, [%[in], #0]\n"
        "ldp q2, q3, [%[in], #32]\n"
        "ldp q4, q5, [%[in], #64]\n"
        "ldp q6, q7, [%[in], #96]\n"
        "ldp q8, q9, [%[in], #128]\n"
        "ldp q10, q11, [%[in], #160]\n"
        "ldp q12, q13, [%[in], #192]\n"
        "ldp q14, q15, [%[in], #224]\n"
        "ldp q16, q17, [%[in], #256]\n"
        "ldp q18, q19, [%[in], #288]\n"
        "ldp q20, q21, [%[in], #320]\n"
        "ldp q22, q23, [%[in], #352]\n"
        "ldp q24, q25, [%[in], #384]\n"
        "ldp q26, q27, [%[in], #416]\n"
        "ldp q28, q29, [%[in], #448]\n"
        "ldp q30, q31, [%[in], #480]\n"
        "svc #0\n"
        "stp q0, q1, [%[out], #0]\n"
        "stp q2, q3, [%[out], #32]\n"
        "stp q4, q5, [%[out], #64]\n"
        "stp q6, q7, [%[out], #96]\n"
        "stp q8, q9, [%[out], #128]\n"
        "stp q10, q11, [%[out], #160]\n"
        "stp q12, q13, [%[out], #192]\n"
        "stp q14, q15, [%[out], #224]\n"
        "stp q16, q17, [%[out], #256]\n"
        "stp q18, q19, [%[out], #288]\n"
        "stp q20, q21, [%[out], #320]\n"
        "stp q22, q23, [%[out], #352]\n"
        "stp q24, q25, [%[out], #384]\n"
        "stp q26, q27, [%[out], #416]\n"
        "stp q28, q29, [%[out], #448]\n"
        "stp q30, q31, [%[out], #480]\n"
        : "+r"(x0), "+r"(x16)
        : [in] "r"(in), [out] "r"(out)
        : "x17", "v0", "v1", "v2", "v3", "v4", "v5", "v6", "v7", "v8", "v9", "v10", "v11",
          "v12", "v13", "v14", "v15", "v16", "v17", "v18", "v19", "v20", "v21", "v22", "v23",
          "v24", "v25", "v26", "v27", "v28", "v29", "v30", "v31", "memory");
    return x0;
}

/* One SIMD round: every q register must come back unchanged. */
static void check_simd_round(uint64_t num, uint64_t a0, zx_status_t want, uint64_t seed) {
    static uint64_t vin[64], vout[64];
    for (int i = 0; i < 64; i++) {
        vin[i] = 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1) + seed;
        vout[i] = 0;
    }
    uint64_t r = simd_probe(num, a0, vin, vout);
    CHECK_EQ(r, (uint64_t)(int64_t)want);
    for (int i = 0; i < 64; i++) {
        if (vin[i] != vout[i]) {
            t_fail_msg(__FILE__, __LINE__, "syscall changed SIMD register q", (uint64_t)(i / 2));
            return;
        }
    }
}

static void syscall_preserves_simd_registers(void) {
    check_simd_round(ZX_SYS_handle_close, 0x12345, ZX_ERR_BAD_HANDLE, 1);
    CHECK_HELPER();
    check_simd_round(9999, 0, ZX_ERR_BAD_SYSCALL, 2);
    CHECK_HELPER();
    check_simd_round(ZX_SYS_nanosleep, 0, ZX_OK, 3);
}

/* One general-register round (see t_regs_probe). */
static void check_regs_round(uint64_t num, uint64_t a0, zx_status_t want, uint64_t seed) {
    static uint64_t in[31], out[31];
    for (int i = 0; i < 31; i++) {
        in[i] = 0x0101010101010101ull * (uint64_t)(i + 1) ^ (seed << 56);
        out[i] = 0;
    }
    t_regs_probe(num, a0, in, out);
    CHECK_EQ(out[0], (uint64_t)(int64_t)want);
    for (int i = 1; i < 31; i++) {
        if (i == 16 || i == 17) continue;
        if (out[i] != in[i]) {
            t_fail_msg(__FILE__, __LINE__, "syscall changed register x", (uint64_t)i);
            return;
        }
    }
}

/* A thread that keeps every register it can dirty, sleeping briefly in between so that the
 * other thread runs on the same CPU. */
static volatile int g_clobber_stop;

static void clobber_thread(uintptr_t arg1, uintptr_t arg2) {
    (void)arg1;
    (void)arg2;
    while (!g_clobber_stop) {
        __asm__ volatile(
            "mvn x0, xzr\n mvn x1, xzr\n mvn x2, xzr\n mvn x3, xzr\n"
            "mvn x4, xzr\n mvn x5, xzr\n mvn x6, xzr\n mvn x7, xzr\n"
            "mvn x8, xzr\n mvn x9, xzr\n mvn x10, xzr\n mvn x11, xzr\n"
            "mvn x12, xzr\n mvn x13, xzr\n mvn x14, xzr\n mvn x15, xzr\n"
            "mvn x18, xzr\n mvn x19, xzr\n mvn x20, xzr\n mvn x21, xzr\n"
            "mvn x22, xzr\n mvn x23, xzr\n mvn x24, xzr\n mvn x25, xzr\n"
            "mvn x26, xzr\n mvn x27, xzr\n mvn x28, xzr\n"
            "movi v0.16b, #0xa5\n movi v1.16b, #0xa5\n movi v2.16b, #0xa5\n"
            "movi v3.16b, #0xa5\n movi v4.16b, #0xa5\n movi v5.16b, #0xa5\n"
            "movi v6.16b, #0xa5\n movi v7.16b, #0xa5\n movi v8.16b, #0xa5\n"
            "movi v9.16b, #0xa5\n movi v10.16b, #0xa5\n movi v11.16b, #0xa5\n"
            "movi v12.16b, #0xa5\n movi v13.16b, #0xa5\n movi v14.16b, #0xa5\n"
            "movi v15.16b, #0xa5\n movi v16.16b, #0xa5\n movi v17.16b, #0xa5\n"
            "movi v18.16b, #0xa5\n movi v19.16b, #0xa5\n movi v20.16b, #0xa5\n"
            "movi v21.16b, #0xa5\n movi v22.16b, #0xa5\n movi v23.16b, #0xa5\n"
            "movi v24.16b, #0xa5\n movi v25.16b, #0xa5\n movi v26.16b, #0xa5\n"
            "movi v27.16b, #0xa5\n movi v28.16b, #0xa5\n movi v29.16b, #0xa5\n"
            "movi v30.16b, #0xa5\n movi v31.16b, #0xa5\n"
            :
            :
            : "x0", "x1", "x2", "x3", "x4", "x5", "x6", "x7", "x8", "x9", "x10", "x11", "x12",
              "x13", "x14", "x15", "x18", "x19", "x20", "x21", "x22", "x23", "x24", "x25",
              "x26", "x27", "x28", "v0", "v1", "v2", "v3", "v4", "v5", "v6", "v7", "v8", "v9",
              "v10", "v11", "v12", "v13", "v14", "v15", "v16", "v17", "v18", "v19", "v20",
              "v21", "v22", "v23", "v24", "v25", "v26", "v27", "v28", "v29", "v30", "v31",
              "memory");
        zx_nanosleep(zx_deadline_after(ZX_USEC(300)));
    }
    zx_thread_exit();
}

static void switch_rounds(void) {
    for (uint64_t round = 0; round < 6; round++) {
        t_context("round", round);
        check_regs_round(ZX_SYS_nanosleep, (uint64_t)zx_deadline_after(ZX_MSEC(3)), ZX_OK,
                         round + 5);
        CHECK_HELPER();
        check_simd_round(ZX_SYS_nanosleep, (uint64_t)zx_deadline_after(ZX_MSEC(3)), ZX_OK,
                         round + 5);
        CHECK_HELPER();
    }
}

static void thread_switch_preserves_all_registers(void) {
    /* Another thread of this process runs (and dirties every register) while this one
     * sleeps inside the system call. */
    g_clobber_stop = 0;
    zx_handle_t t = t_start_thread(clobber_thread, 0);
    CHECK_HELPER();
    switch_rounds();
    g_clobber_stop = 1;
    t_join_thread(t);
}

/* ---- system, time ---------------------------------------------------------------------- */

static void system_get_page_size_is_4096(void) {
    CHECK_EQ(zx_system_get_page_size(), 4096);
    CHECK_EQ(zx_system_get_page_size(), ZX_PAGE_SIZE);
}

static void clock_get_monotonic_never_goes_back(void) {
    zx_time_t prev = zx_clock_get_monotonic();
    CHECK(prev > 0);
    for (int i = 0; i < 2000; i++) {
        zx_time_t now = zx_clock_get_monotonic();
        CHECK(now >= prev);
        prev = now;
    }
}

static void clock_get_monotonic_advances(void) {
    zx_time_t start = zx_clock_get_monotonic();
    CHECK_OK(zx_nanosleep(zx_deadline_after(ZX_MSEC(5))));
    zx_time_t end = zx_clock_get_monotonic();
    CHECK(end > start);
    CHECK(end - start >= ZX_MSEC(5));
}

static void nanosleep_sleeps_until_deadline(void) {
    zx_time_t start = zx_clock_get_monotonic();
    zx_time_t deadline = start + ZX_MSEC(20);
    CHECK_OK(zx_nanosleep(deadline));
    zx_time_t end = zx_clock_get_monotonic();
    CHECK(end >= deadline);
    CHECK(end - start < ZX_SEC(5));
}

static void nanosleep_past_deadline_returns_at_once(void) {
    zx_time_t start = zx_clock_get_monotonic();
    CHECK_OK(zx_nanosleep(0));
    CHECK_OK(zx_nanosleep(ZX_TIME_INFINITE_PAST));
    CHECK_OK(zx_nanosleep(start - ZX_SEC(1)));
    CHECK(zx_clock_get_monotonic() - start < ZX_MSEC(500));
}

/* ---- console ------------------------------------------------------------------------- */

static void debug_write_writes_and_checks_its_buffer(void) {
    CHECK_OK(zx_debug_write("", 0));
    CHECK_ST(zx_debug_write((const char*)KERNEL_PTR, 16), ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_debug_write((const char*)KERNEL_PTR2, 16), ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_debug_write((const char*)LOW_PTR, 16), ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_debug_write(NULL, 16), ZX_ERR_INVALID_ARGS);
    zx_vaddr_t un = t_unmapped_addr();
    CHECK_HELPER();
    CHECK_ST(zx_debug_write((const char*)un, 16), ZX_ERR_INVALID_ARGS);
    /* A buffer running off the end of the user half. */
    CHECK_ST(zx_debug_write((const char*)(uintptr_t)0x00007ffffffff000ull, 0x2000),
             ZX_ERR_INVALID_ARGS);
    /* A length that wraps the address space. */
    CHECK_ST(zx_debug_write("x", SIZE_MAX), ZX_ERR_INVALID_ARGS);
}

/* ---- hostile arguments ----------------------------------------------------------------- */

static void hostile_bad_handle_values_are_bad_handle_everywhere(void) {
    static const zx_handle_t bad[] = {0x12345, 0xfffffffc, 0xffffffff, 0x3, 0x7fffffff};
    NEW_VMO(vmo, PAGE, 0);
    uint8_t buf[64];
    uint64_t size;
    zx_handle_t out;
    zx_vaddr_t addr;
    zx_signals_t obs;
    size_t actual, avail;
    uint32_t ab, ah;
    for (size_t i = 0; i < T_COUNT(bad); i++) {
        t_context("bad[i]", (uint64_t)bad[i]);
        zx_handle_t h = bad[i];
        CHECK_ST(zx_handle_close(h), ZX_ERR_BAD_HANDLE);
        CHECK_ST(zx_handle_duplicate(h, ZX_RIGHT_SAME_RIGHTS, &out), ZX_ERR_BAD_HANDLE);
        CHECK_ST(zx_vmo_read(h, buf, 0, 8), ZX_ERR_BAD_HANDLE);
        CHECK_ST(zx_vmo_write(h, buf, 0, 8), ZX_ERR_BAD_HANDLE);
        CHECK_ST(zx_vmo_get_size(h, &size), ZX_ERR_BAD_HANDLE);
        CHECK_ST(zx_vmo_set_size(h, PAGE), ZX_ERR_BAD_HANDLE);
        CHECK_ST(zx_vmo_clone(h, ZX_VMO_CLONE_COPY_ON_WRITE, 0, PAGE, &out),
                 ZX_ERR_BAD_HANDLE);
        CHECK_ST(zx_vmo_create_child(h, ZX_VMO_CHILD_SNAPSHOT, 0, PAGE, &out),
                 ZX_ERR_BAD_HANDLE);
        CHECK_ST(zx_vmo_op_range(h, ZX_VMO_OP_COMMIT, 0, PAGE, NULL, 0), ZX_ERR_BAD_HANDLE);
        CHECK_ST(zx_object_get_property(h, ZX_PROP_NAME, buf, ZX_MAX_NAME_LEN),
                 ZX_ERR_BAD_HANDLE);
        CHECK_ST(zx_object_set_property(h, ZX_PROP_NAME, "n", 1), ZX_ERR_BAD_HANDLE);
        CHECK_ST(zx_object_get_info(h, ZX_INFO_HANDLE_BASIC, buf, sizeof(buf), &actual,
                                    &avail),
                 ZX_ERR_BAD_HANDLE);
        CHECK_ST(zx_object_wait_one(h, ZX_USER_SIGNAL_0, 0, &obs), ZX_ERR_BAD_HANDLE);
        CHECK_ST(zx_object_signal(h, 0, ZX_USER_SIGNAL_0), ZX_ERR_BAD_HANDLE);
        CHECK_ST(zx_timer_set(h, 0, 0), ZX_ERR_BAD_HANDLE);
        CHECK_ST(zx_timer_set(h, INT64_MAX, -1), ZX_ERR_BAD_HANDLE);
        CHECK_ST(zx_timer_cancel(h), ZX_ERR_BAD_HANDLE);
        CHECK_ST(zx_channel_write(h, 0, buf, 4, NULL, 0), ZX_ERR_BAD_HANDLE);
        CHECK_ST(zx_channel_read(h, 0, buf, NULL, sizeof(buf), 0, &ab, &ah), ZX_ERR_BAD_HANDLE);
        CHECK_ST(zx_vmar_map(h, ZX_VM_PERM_READ, 0, vmo, 0, PAGE, &addr), ZX_ERR_BAD_HANDLE);
        CHECK_ST(zx_vmar_map(zx_vmar_root_self(), ZX_VM_PERM_READ, 0, h, 0, PAGE, &addr),
                 ZX_ERR_BAD_HANDLE);
        CHECK_ST(zx_vmar_unmap(h, 0x10000000, PAGE), ZX_ERR_BAD_HANDLE);
        CHECK_ST(zx_vmar_protect(h, ZX_VM_PERM_READ, 0x10000000, PAGE), ZX_ERR_BAD_HANDLE);
        CHECK_ST(zx_vmar_allocate(h, ZX_VM_CAN_MAP_READ, 0, PAGE, &out, &addr),
                 ZX_ERR_BAD_HANDLE);
        CHECK_ST(zx_vmar_destroy(h), ZX_ERR_BAD_HANDLE);
        CHECK_ST(zx_task_kill(h), ZX_ERR_BAD_HANDLE);
        CHECK_ST(zx_job_create(h, 0, &out), ZX_ERR_BAD_HANDLE);
        CHECK_ST(zx_object_get_child(h, 1, ZX_RIGHT_SAME_RIGHTS, &out), ZX_ERR_BAD_HANDLE);
        CHECK_ST(zx_process_create(h, "p", 1, 0, &out, &out), ZX_ERR_BAD_HANDLE);
    }
    /* ZX_HANDLE_INVALID is never a handle either (closing it is the one exception). */
    CHECK_ST(zx_vmo_read(ZX_HANDLE_INVALID, buf, 0, 8), ZX_ERR_BAD_HANDLE);
    CHECK_ST(zx_vmo_get_size(ZX_HANDLE_INVALID, &size), ZX_ERR_BAD_HANDLE);
    CHECK_ST(zx_handle_duplicate(ZX_HANDLE_INVALID, ZX_RIGHT_SAME_RIGHTS, &out),
             ZX_ERR_BAD_HANDLE);
    CHECK_ST(zx_object_wait_one(ZX_HANDLE_INVALID, ZX_USER_SIGNAL_0, 0, &obs),
             ZX_ERR_BAD_HANDLE);
    CHECK_ST(zx_vmar_map(ZX_HANDLE_INVALID, ZX_VM_PERM_READ, 0, vmo, 0, PAGE, &addr),
             ZX_ERR_BAD_HANDLE);
    /* The VMO was never mapped by any of this. */
    zx_info_vmo_t info;
    t_vmo_info(vmo, &info);
    CHECK_HELPER();
    CHECK_EQ(info.num_mappings, 0);
}

/* Every out-pointer we can reach gets `p`; each call must answer INVALID_ARGS and leave
 * nothing behind. `nullable` skips the outputs Zircon treats as optional. */
static void bad_out_pointers(void* p, bool optional_too) {
    t_context("pointer", (uint64_t)(uintptr_t)p);
    NEW_VMO(vmo, PAGE, 0);
    CHECK_OK(zx_vmo_write(vmo, "data", 0, 4));
    NEW_CHANNEL(c0, c1);
    zx_handle_t out = ZX_HANDLE_INVALID, out2 = ZX_HANDLE_INVALID;
    zx_vaddr_t addr = 0;
    size_t actual = 0, avail = 0;
    uint32_t ab = 0, ah = 0;
    zx_info_handle_basic_t basic;

    CHECK_ST(zx_vmo_create(PAGE, 0, (zx_handle_t*)p), ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_vmo_get_size(vmo, (uint64_t*)p), ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_vmo_read(vmo, p, 0, 4), ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_vmo_clone(vmo, ZX_VMO_CLONE_COPY_ON_WRITE, 0, PAGE, (zx_handle_t*)p),
             ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_vmo_create_child(vmo, ZX_VMO_CHILD_SNAPSHOT, 0, PAGE, (zx_handle_t*)p),
             ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_handle_duplicate(vmo, ZX_RIGHT_SAME_RIGHTS, (zx_handle_t*)p),
             ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_object_get_property(vmo, ZX_PROP_NAME, p, ZX_MAX_NAME_LEN),
             ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_object_get_info(vmo, ZX_INFO_HANDLE_BASIC, p, sizeof(basic), &actual, &avail),
             ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_channel_create(0, (zx_handle_t*)p, &out2), ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_channel_create(0, &out, (zx_handle_t*)p), ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_vmar_map(zx_vmar_root_self(), ZX_VM_PERM_READ, 0, vmo, 0, PAGE,
                         (zx_vaddr_t*)p),
             ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_vmar_allocate(zx_vmar_root_self(), ZX_VM_CAN_MAP_READ, 0, 4 * PAGE,
                              (zx_handle_t*)p, &addr),
             ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_vmar_allocate(zx_vmar_root_self(), ZX_VM_CAN_MAP_READ, 0, 4 * PAGE, &out,
                              (zx_vaddr_t*)p),
             ZX_ERR_INVALID_ARGS);
    /* Jobs: a new job, this process as a child of its job, a job's koid list. */
    CHECK_ST(zx_job_create(zx_job_default(), 0, (zx_handle_t*)p), ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_object_get_child(zx_job_default(), t_koid(zx_process_self()),
                                 ZX_RIGHT_SAME_RIGHTS, (zx_handle_t*)p),
             ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_object_get_info(zx_job_default(), ZX_INFO_JOB_PROCESSES, p, 8, &actual, &avail),
             ZX_ERR_INVALID_ARGS);
    /* Channel reads: a message is waiting; every output is bad in turn. */
    CHECK_OK(zx_channel_write(c0, 0, "msg", 3, NULL, 0));
    CHECK_ST(zx_channel_read(c1, 0, p, NULL, 16, 0, &ab, &ah), ZX_ERR_INVALID_ARGS);
    if (optional_too) {
        zx_signals_t obs;
        uint8_t buf[16];
        CHECK_ST(zx_object_wait_one(vmo, ZX_VMO_ZERO_CHILDREN, 0, (zx_signals_t*)p),
                 ZX_ERR_INVALID_ARGS);
        CHECK_ST(zx_object_get_info(vmo, ZX_INFO_HANDLE_BASIC, &basic, sizeof(basic),
                                    (size_t*)p, &avail),
                 ZX_ERR_INVALID_ARGS);
        CHECK_ST(zx_object_get_info(vmo, ZX_INFO_HANDLE_BASIC, &basic, sizeof(basic), &actual,
                                    (size_t*)p),
                 ZX_ERR_INVALID_ARGS);
        CHECK_OK(zx_channel_write(c0, 0, "msg", 3, NULL, 0));
        CHECK_ST(zx_channel_read(c1, 0, buf, NULL, sizeof(buf), 0, (uint32_t*)p, &ah),
                 ZX_ERR_INVALID_ARGS);
        CHECK_OK(zx_channel_write(c0, 0, "msg", 3, NULL, 0));
        CHECK_ST(zx_channel_read(c1, 0, buf, NULL, sizeof(buf), 0, &ab, (uint32_t*)p),
                 ZX_ERR_INVALID_ARGS);
        (void)obs;
    }
    /* Nothing leaked: no clone or child exists, nothing is mapped, the VMO still works. */
    zx_signals_t observed = 0;
    CHECK_OK(zx_object_wait_one(vmo, ZX_VMO_ZERO_CHILDREN, 0, &observed));
    zx_info_vmo_t info;
    t_vmo_info(vmo, &info);
    CHECK_HELPER();
    CHECK_EQ(info.num_mappings, 0);
    CHECK_EQ(info.num_children, 0);
    zx_info_handle_count_t count;
    CHECK_OK(zx_object_get_info(vmo, ZX_INFO_HANDLE_COUNT, &count, sizeof(count), &actual,
                                &avail));
    CHECK_EQ(count.handle_count, 1);
    char back[4];
    CHECK_OK(zx_vmo_read(vmo, back, 0, 4));
    CHECK(t_memcmp(back, "data", 4) == 0);
    (void)out;
    (void)out2;
}

static void hostile_kernel_out_pointers_are_invalid_args(void) {
    bad_out_pointers(KERNEL_PTR, true);
    CHECK_HELPER();
    bad_out_pointers(KERNEL_PTR2, true);
    CHECK_HELPER();
    bad_out_pointers(NONCANON_PTR, true);
}

static void hostile_null_out_pointers_are_invalid_args(void) {
    /* Zircon lets wait_one's `observed` and get_info's `actual`/`avail` be NULL; the other
     * outputs are required. */
    bad_out_pointers(NULL, false);
}

static void hostile_unmapped_out_pointers_are_invalid_args(void) {
    zx_vaddr_t un = t_unmapped_addr();
    CHECK_HELPER();
    bad_out_pointers((void*)un, true);
    CHECK_HELPER();
    bad_out_pointers(LOW_PTR, true);
}

static void hostile_readonly_out_pointers_are_invalid_args(void) {
    zx_vaddr_t ro = t_readonly_page();
    CHECK_HELPER();
    bad_out_pointers((void*)ro, true);
    CHECK_HELPER();
    /* Also once it is faulted in (read-only). */
    CHECK_EQ(*(volatile uint8_t*)ro, 0);
    bad_out_pointers((void*)ro, true);
    CHECK_HELPER();
    /* The program's own read-only data. */
    static const uint64_t k_rodata[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    bad_out_pointers((void*)(uintptr_t)&k_rodata[2], true);
    CHECK_HELPER();
    /* And its code. */
    bad_out_pointers((void*)(uintptr_t)&hostile_readonly_out_pointers_are_invalid_args,
                     true);
    CHECK_HELPER();
    CHECK_EQ(k_rodata[2], 3);
}

static void hostile_unfaulted_mapping_is_a_valid_out_pointer(void) {
    /* A pointer into a mapped-but-never-touched VMO page is valid: the kernel faults it in. */
    NEW_VMO(backing, 4 * PAGE, 0);
    NEW_MAP(base, backing, RW, 4 * PAGE);
    zx_handle_t* hp = (zx_handle_t*)(base + 3 * PAGE + 16);
    CHECK_OK(zx_vmo_create(PAGE, 0, hp));
    zx_handle_t h = *(volatile zx_handle_t*)hp;
    t_track(h);
    uint64_t size = 0;
    CHECK_OK(zx_vmo_get_size(h, &size));
    CHECK_EQ(size, PAGE);
    /* And a buffer for read / info spread over untouched pages. */
    CHECK_OK(zx_vmo_write(h, "abcdef", PAGE - 6, 6));
    CHECK_OK(zx_vmo_read(h, (void*)(base + 2 * PAGE - 3), PAGE - 6, 6));
    CHECK(t_memcmp((void*)(base + 2 * PAGE - 3), "abcdef", 6) == 0);
    size_t actual = 0, avail = 0;
    /* The record straddles two untouched pages. */
    zx_info_handle_basic_t* bp = (zx_info_handle_basic_t*)(base + PAGE - 8);
    CHECK_OK(zx_object_get_info(h, ZX_INFO_HANDLE_BASIC, bp, sizeof(*bp), &actual, &avail));
    CHECK_EQ(bp->type, ZX_OBJ_TYPE_VMO);
    /* The backing VMO now has what the kernel wrote. */
    zx_handle_t check = 0;
    CHECK_OK(zx_vmo_read(backing, &check, 3 * PAGE + 16, sizeof(check)));
    CHECK_EQ(check, h);
}

static void hostile_wrapping_buffers_are_invalid_args(void) {
    NEW_VMO(vmo, 2 * PAGE, 0);
    /* Runs off the end of the user half. */
    void* edge = (void*)(uintptr_t)0x00007ffffffff000ull;
    CHECK_ST(zx_vmo_read(vmo, edge, 0, 2 * PAGE), ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_vmo_write(vmo, edge, 0, 2 * PAGE), ZX_ERR_INVALID_ARGS);
    /* Pointer + length wraps around zero. */
    void* top = (void*)(uintptr_t)0xfffffffffffff000ull;
    CHECK_ST(zx_vmo_read(vmo, top, 0, 2 * PAGE), ZX_ERR_INVALID_ARGS);
    NEW_CHANNEL(a, b);
    CHECK_ST(zx_channel_write(a, 0, edge, 2 * PAGE, NULL, 0), ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_channel_write(a, 0, top, 2 * PAGE, NULL, 0), ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_object_set_property(vmo, ZX_PROP_NAME, (const void*)(uintptr_t)0x00007ffffffffff0ull,
                                    ZX_MAX_NAME_LEN),
             ZX_ERR_INVALID_ARGS);
    /* A valid start but a length past the buffer's mapping: one page mapped at the start of
     * an otherwise empty region, the buffer crossing from it into the hole. */
    zx_handle_t region = ZX_HANDLE_INVALID;
    zx_vaddr_t base = 0;
    CHECK_OK(zx_vmar_allocate(zx_vmar_root_self(),
                              ZX_VM_CAN_MAP_READ | ZX_VM_CAN_MAP_WRITE | ZX_VM_CAN_MAP_SPECIFIC,
                              0, 8 * PAGE, &region, &base));
    t_track_vmar(region);
    NEW_VMO(small, PAGE, 0);
    zx_vaddr_t m = 0;
    CHECK_OK(zx_vmar_map(region, RW | ZX_VM_SPECIFIC, 0, small, 0, PAGE, &m));
    CHECK_EQ(m, base);
    t_memset(t_buf_a, 0xab, 2 * PAGE);
    CHECK_OK(zx_vmo_write(vmo, t_buf_a, 0, 2 * PAGE));
    CHECK_ST(zx_vmo_read(vmo, (void*)(m + PAGE / 2), 0, 2 * PAGE), ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_vmo_write(vmo, (void*)(m + PAGE / 2), 0, 2 * PAGE), ZX_ERR_INVALID_ARGS);
    /* The part that was valid was not written either ("a failing call changes nothing"):
     * the mapped half page still reads zero, not the VMO's 0xab. */
    CHECK(t_all_bytes((void*)(m + PAGE / 2), 0, PAGE / 2));
    (void)b;
}

static void hostile_unknown_option_bits_are_invalid_args(void) {
    NEW_VMO(vmo, PAGE, 0);
    NEW_CHANNEL(a, b);
    zx_handle_t out;
    zx_vaddr_t addr;
    uint8_t buf[8];
    uint32_t ab, ah;
    CHECK_ST(zx_vmo_create(PAGE, 2, &out), ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_vmo_create(PAGE, 1u << 31, &out), ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_vmo_clone(vmo, ZX_VMO_CLONE_COPY_ON_WRITE | (1u << 7), 0, PAGE, &out),
             ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_vmo_create_child(vmo, ZX_VMO_CHILD_SNAPSHOT | (1u << 7), 0, PAGE, &out),
             ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_vmar_map(zx_vmar_root_self(), ZX_VM_PERM_READ | (1u << 15), 0, vmo, 0, PAGE,
                         &addr),
             ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_vmar_allocate(zx_vmar_root_self(), ZX_VM_CAN_MAP_READ | (1u << 15), 0,
                              4 * PAGE, &out, &addr),
             ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_channel_create(1, &out, &out), ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_job_create(zx_job_default(), 1, &out), ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_job_create(zx_job_default(), 1u << 31, &out), ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_channel_write(a, 1u << 7, "x", 1, NULL, 0), ZX_ERR_INVALID_ARGS);
    CHECK_OK(zx_channel_write(a, 0, "x", 1, NULL, 0));
    CHECK_ST(zx_channel_read(b, 1u << 7, buf, NULL, sizeof(buf), 0, &ab, &ah),
             ZX_ERR_INVALID_ARGS);
    /* None of this created anything: the VMO still has no child, nothing mapped. */
    zx_info_vmo_t info;
    t_vmo_info(vmo, &info);
    CHECK_HELPER();
    CHECK_EQ(info.num_children, 0);
    CHECK_EQ(info.num_mappings, 0);
}

static void hostile_overflowing_lengths_are_rejected(void) {
    NEW_VMO(vmo, PAGE, 0);
    uint8_t buf[16];
    zx_handle_t out;
    zx_vaddr_t addr;
    CHECK_ST(zx_vmo_read(vmo, buf, UINT64_MAX - 1, 4), ZX_ERR_OUT_OF_RANGE);
    CHECK_ST(zx_vmo_write(vmo, buf, UINT64_MAX - 1, 4), ZX_ERR_OUT_OF_RANGE);
    CHECK_ST2(zx_vmo_read(vmo, buf, 8, SIZE_MAX - 4), ZX_ERR_OUT_OF_RANGE, ZX_ERR_INVALID_ARGS);
    CHECK_ST2(zx_vmo_write(vmo, buf, 8, SIZE_MAX - 4), ZX_ERR_OUT_OF_RANGE,
              ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_vmo_op_range(vmo, ZX_VMO_OP_COMMIT, PAGE, UINT64_MAX, NULL, 0),
             ZX_ERR_OUT_OF_RANGE);
    CHECK_ST(zx_vmo_op_range(vmo, ZX_VMO_OP_ZERO, UINT64_MAX, 2, NULL, 0),
             ZX_ERR_OUT_OF_RANGE);
    CHECK_ST(zx_vmo_clone(vmo, ZX_VMO_CLONE_COPY_ON_WRITE, PAGE, UINT64_MAX - 10, &out),
             ZX_ERR_OUT_OF_RANGE);
    CHECK_ST(zx_vmar_map(zx_vmar_root_self(), ZX_VM_PERM_READ, 0, vmo, 0, SIZE_MAX, &addr),
             ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_vmar_map(zx_vmar_root_self(), ZX_VM_PERM_READ, 0, vmo, 0, SIZE_MAX - 100,
                         &addr),
             ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_vmar_map(zx_vmar_root_self(), ZX_VM_PERM_READ, 0, vmo, UINT64_MAX & ~0xfffull,
                         2 * PAGE, &addr),
             ZX_ERR_INVALID_ARGS);
    zx_vaddr_t hole = t_unmapped_addr();
    CHECK_HELPER();
    CHECK_ST(zx_vmar_unmap(zx_vmar_root_self(), hole, SIZE_MAX), ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_vmar_protect(zx_vmar_root_self(), ZX_VM_PERM_READ, hole, SIZE_MAX),
             ZX_ERR_INVALID_ARGS);
    CHECK_ST2(zx_vmar_allocate(zx_vmar_root_self(), ZX_VM_CAN_MAP_READ, 0,
                               SIZE_MAX & ~(size_t)0xfff, &out, &addr),
              ZX_ERR_INVALID_ARGS, ZX_ERR_NO_MEMORY);
    NEW_CHANNEL(a, b);
    CHECK_ST2(zx_channel_write(a, 0, buf, 0xffffffffu, NULL, 0), ZX_ERR_OUT_OF_RANGE,
              ZX_ERR_INVALID_ARGS);
    static const zx_handle_t zeros[16];
    /* 4 * n wraps to 0: a kernel that multiplies without checking reads nothing. */
    CHECK_ST2(zx_handle_close_many(zeros, (SIZE_MAX / 4) + 1), ZX_ERR_INVALID_ARGS,
              ZX_ERR_OUT_OF_RANGE);
    CHECK_ST2(zx_handle_close_many(zeros, SIZE_MAX), ZX_ERR_INVALID_ARGS, ZX_ERR_OUT_OF_RANGE);
    (void)b;
    /* The VMO is untouched. */
    CHECK_EQ(t_committed(vmo), 0);
}

/* ---- the C headers say what the contract says -------------------------------------------- */

typedef struct named_value {
    const char* name;
    uint64_t got;
    uint64_t want;
} named_value;

#define NV(c, v) {#c, (uint64_t)(c), (uint64_t)(v)}

static void hostile_futex_arguments_are_refused_cleanly(void) {
    static zx_futex_t word;
    static zx_futex_t other;
    const zx_futex_t* bad[] = {
        NULL,
        (const zx_futex_t*)KERNEL_PTR,
        (const zx_futex_t*)KERNEL_PTR2,
        (const zx_futex_t*)LOW_PTR,
        (const zx_futex_t*)NONCANON_PTR,
        (const zx_futex_t*)(uintptr_t)(UINT64_MAX - 3),
        (const zx_futex_t*)((const char*)&word + 1),
        (const zx_futex_t*)((const char*)&word + 2),
        (const zx_futex_t*)((const char*)&word + 3),
    };
    for (uint32_t i = 0; i < T_COUNT(bad); i++) {
        t_context("pointer", (uint64_t)(uintptr_t)bad[i]);
        CHECK_ST(zx_futex_wait(bad[i], 0, ZX_HANDLE_INVALID, ZX_TIME_INFINITE),
                 ZX_ERR_INVALID_ARGS);
        CHECK_ST(zx_futex_requeue(bad[i], 1, 0, &other, 1, ZX_HANDLE_INVALID),
                 ZX_ERR_INVALID_ARGS);
        /* Misaligned/NULL requeue targets are refused; other bad targets are not read. */
        zx_status_t s = zx_futex_requeue(&word, 1, 0, bad[i], 1, ZX_HANDLE_INVALID);
        bool misaligned = bad[i] == NULL || ((uintptr_t)bad[i] & 3) != 0;
        CHECK_EQ(s, misaligned ? ZX_ERR_INVALID_ARGS : ZX_OK);
        s = zx_futex_wake(bad[i], UINT32_MAX);
        CHECK_EQ(s, misaligned ? ZX_ERR_INVALID_ARGS : ZX_OK);
    }
    /* Counts near 2^32 and deadlines at both ends. */
    const uint32_t counts[] = {0, 1, 0x7fffffffu, 0x80000000u, UINT32_MAX - 1, UINT32_MAX};
    for (uint32_t i = 0; i < T_COUNT(counts); i++) {
        t_context("count", counts[i]);
        CHECK_OK(zx_futex_wake(&word, counts[i]));
        CHECK_OK(zx_futex_requeue(&word, counts[i], 0, &other, counts[i], ZX_HANDLE_INVALID));
    }
    CHECK_ST(zx_futex_wait(&word, 0, ZX_HANDLE_INVALID, INT64_MIN), ZX_ERR_TIMED_OUT);
    CHECK_ST(zx_futex_wait(&word, 0, ZX_HANDLE_INVALID, 0), ZX_ERR_TIMED_OUT);
    CHECK_ST(zx_futex_wait(&word, 1, ZX_HANDLE_INVALID, INT64_MAX), ZX_ERR_BAD_STATE);
    /* Random owner handle values. */
    const zx_handle_t owners[] = {1u, 0x7fffffffu, 0xfffffffeu, UINT32_MAX};
    for (uint32_t i = 0; i < T_COUNT(owners); i++) {
        t_context("owner", owners[i]);
        CHECK_ST(zx_futex_wait(&word, 0, owners[i], 0), ZX_ERR_BAD_HANDLE);
        CHECK_ST(zx_futex_requeue(&word, 1, 0, &other, 1, owners[i]), ZX_ERR_BAD_HANDLE);
    }
}

static void abi_header_constants_match_the_contract(void) {
    static const named_value k[] = {
        NV(ZX_OK, 0), NV(ZX_ERR_INTERNAL, -1), NV(ZX_ERR_NOT_SUPPORTED, -2),
        NV(ZX_ERR_NO_RESOURCES, -3), NV(ZX_ERR_NO_MEMORY, -4), NV(ZX_ERR_INVALID_ARGS, -10),
        NV(ZX_ERR_BAD_HANDLE, -11), NV(ZX_ERR_WRONG_TYPE, -12), NV(ZX_ERR_BAD_SYSCALL, -13),
        NV(ZX_ERR_OUT_OF_RANGE, -14), NV(ZX_ERR_BUFFER_TOO_SMALL, -15),
        NV(ZX_ERR_BAD_STATE, -20), NV(ZX_ERR_TIMED_OUT, -21), NV(ZX_ERR_SHOULD_WAIT, -22),
        NV(ZX_ERR_CANCELED, -23), NV(ZX_ERR_PEER_CLOSED, -24), NV(ZX_ERR_NOT_FOUND, -25),
        NV(ZX_ERR_ALREADY_EXISTS, -26), NV(ZX_ERR_UNAVAILABLE, -28),
        NV(ZX_ERR_ACCESS_DENIED, -30),
        NV(ZX_RIGHT_DUPLICATE, 1u << 0), NV(ZX_RIGHT_TRANSFER, 1u << 1),
        NV(ZX_RIGHT_READ, 1u << 2), NV(ZX_RIGHT_WRITE, 1u << 3), NV(ZX_RIGHT_EXECUTE, 1u << 4),
        NV(ZX_RIGHT_MAP, 1u << 5), NV(ZX_RIGHT_GET_PROPERTY, 1u << 6),
        NV(ZX_RIGHT_SET_PROPERTY, 1u << 7), NV(ZX_RIGHT_ENUMERATE, 1u << 8),
        NV(ZX_RIGHT_DESTROY, 1u << 9), NV(ZX_RIGHT_SET_POLICY, 1u << 10),
        NV(ZX_RIGHT_GET_POLICY, 1u << 11), NV(ZX_RIGHT_SIGNAL, 1u << 12),
        NV(ZX_RIGHT_SIGNAL_PEER, 1u << 13), NV(ZX_RIGHT_WAIT, 1u << 14),
        NV(ZX_RIGHT_INSPECT, 1u << 15), NV(ZX_RIGHT_MANAGE_JOB, 1u << 16),
        NV(ZX_RIGHT_MANAGE_PROCESS, 1u << 17), NV(ZX_RIGHT_MANAGE_THREAD, 1u << 18),
        NV(ZX_RIGHT_SAME_RIGHTS, 1u << 31), NV(ZX_RIGHT_NONE, 0),
        NV(ZX_DEFAULT_VMO_RIGHTS, 0xff),
        NV(ZX_DEFAULT_CHANNEL_RIGHTS, (1u << 1) | (1u << 2) | (1u << 3) | (1u << 12) |
                                          (1u << 13) | (1u << 14) | (1u << 15)),
        NV(ZX_HANDLE_INVALID, 0), NV(ZX_PAGE_SIZE, 4096), NV(ZX_TIME_INFINITE, INT64_MAX),
        NV(ZX_VMO_NON_RESIZABLE, 1), NV(ZX_VMO_CLONE_COPY_ON_WRITE, 1),
        NV(ZX_VMO_CLONE_NON_RESIZEABLE, 2), NV(ZX_VMO_CHILD_SNAPSHOT, 1),
        NV(ZX_VMO_CHILD_RESIZABLE, 4), NV(ZX_VMO_CHILD_SLICE, 8), NV(ZX_VMO_CHILD_NO_WRITE, 32),
        NV(ZX_VMO_OP_COMMIT, 1), NV(ZX_VMO_OP_DECOMMIT, 2), NV(ZX_VMO_OP_LOCK, 3),
        NV(ZX_VMO_OP_UNLOCK, 4), NV(ZX_VMO_OP_CACHE_SYNC, 6), NV(ZX_VMO_OP_CACHE_INVALIDATE, 7),
        NV(ZX_VMO_OP_CACHE_CLEAN, 8), NV(ZX_VMO_OP_CACHE_CLEAN_INVALIDATE, 9),
        NV(ZX_VMO_OP_ZERO, 10), NV(ZX_VM_PERM_READ, 1), NV(ZX_VM_PERM_WRITE, 2),
        NV(ZX_VM_PERM_EXECUTE, 4), NV(ZX_VM_COMPACT, 8), NV(ZX_VM_SPECIFIC, 16),
        NV(ZX_VM_SPECIFIC_OVERWRITE, 32), NV(ZX_VM_CAN_MAP_SPECIFIC, 64),
        NV(ZX_VM_CAN_MAP_READ, 128), NV(ZX_VM_CAN_MAP_WRITE, 256),
        NV(ZX_VM_CAN_MAP_EXECUTE, 512), NV(ZX_VM_MAP_RANGE, 1024),
        NV(ZX_VM_REQUIRE_NON_RESIZABLE, 2048), NV(ZX_VM_ALIGN_BASE, 24),
        NV(ZX_VMO_ZERO_CHILDREN, 1u << 3), NV(ZX_CHANNEL_READABLE, 1),
        NV(ZX_CHANNEL_WRITABLE, 2), NV(ZX_CHANNEL_PEER_CLOSED, 4),
        NV(ZX_SIGNAL_HANDLE_CLOSED, 1u << 23), NV(ZX_USER_SIGNAL_0, 1u << 24),
        NV(ZX_USER_SIGNAL_7, 1u << 31), NV(ZX_PROP_NAME, 3), NV(ZX_MAX_NAME_LEN, 32),
        NV(ZX_INFO_HANDLE_VALID, 1), NV(ZX_INFO_HANDLE_BASIC, 2), NV(ZX_INFO_VMAR, 7),
        NV(ZX_INFO_HANDLE_COUNT, 19), NV(ZX_INFO_VMO, 23), NV(ZX_INFO_KMEM_STATS, 17),
        NV(ZX_OBJ_TYPE_PROCESS, 1), NV(ZX_OBJ_TYPE_THREAD, 2), NV(ZX_OBJ_TYPE_VMO, 3),
        NV(ZX_OBJ_TYPE_CHANNEL, 4), NV(ZX_OBJ_TYPE_VMAR, 18),
        NV(ZX_MAX_VMO_SIZE, 0xFFFFFFFFFFFE0000ull),
        NV(sizeof(zx_status_t), 4), NV(sizeof(zx_handle_t), 4), NV(sizeof(zx_rights_t), 4),
        NV(sizeof(zx_signals_t), 4), NV(sizeof(zx_koid_t), 8), NV(sizeof(zx_vaddr_t), 8),
        NV(sizeof(zx_time_t), 8), NV((zx_status_t)-1 < 0, 1), NV((zx_time_t)-1 < 0, 1),
    };
    for (size_t i = 0; i < T_COUNT(k); i++) {
        if (k[i].got != k[i].want) {
            t_context(k[i].name, k[i].got);
            t_fail_eq(__FILE__, __LINE__, "header constant", k[i].got, k[i].want);
            return;
        }
    }
}

/* Ports, events, event pairs and wait_many: bad handles, pointers everywhere it matters,
 * counts near 2^32 and 2^64, deadlines at both ends. */
static void hostile_ports_events_and_wait_many(void) {
    zx_handle_t h;
    const zx_handle_t bad[] = {ZX_HANDLE_INVALID, 0x7ffffff3u, 0xffffffffu};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        zx_port_packet_t packet = {0};
        t_context("handle index", i);
        CHECK_ST(zx_port_queue(bad[i], &packet), ZX_ERR_BAD_HANDLE);
        CHECK_ST(zx_port_wait(bad[i], ZX_TIME_INFINITE, &packet), ZX_ERR_BAD_HANDLE);
        CHECK_ST(zx_port_cancel(bad[i], bad[i], 0), ZX_ERR_BAD_HANDLE);
        CHECK_ST(zx_object_wait_async(bad[i], bad[i], 0, 1, 0), ZX_ERR_BAD_HANDLE);
        CHECK_ST(zx_object_signal_peer(bad[i], 0, 0), ZX_ERR_BAD_HANDLE);
    }
    void* const ptrs[] = {NULL, KERNEL_PTR, KERNEL_PTR2, NONCANON_PTR, LOW_PTR};
    zx_handle_t port;
    CHECK_OK(zx_port_create(0, &port));
    t_track(port);
    for (size_t i = 0; i < sizeof(ptrs) / sizeof(ptrs[0]); i++) {
        t_context("pointer index", i);
        CHECK_ST(zx_event_create(0, ptrs[i]), ZX_ERR_INVALID_ARGS);
        CHECK_ST(zx_port_create(0, ptrs[i]), ZX_ERR_INVALID_ARGS);
        CHECK_ST(zx_eventpair_create(0, ptrs[i], &h), ZX_ERR_INVALID_ARGS);
        CHECK_ST(zx_port_queue(port, ptrs[i]), ZX_ERR_INVALID_ARGS);
        CHECK_ST(zx_port_wait(port, ZX_TIME_INFINITE, ptrs[i]), ZX_ERR_INVALID_ARGS);
        CHECK_ST(zx_object_wait_many(ptrs[i], 3, ZX_TIME_INFINITE), ZX_ERR_INVALID_ARGS);
    }
    CHECK_ST(zx_object_wait_many(NULL, (size_t)1 << 32, 0), ZX_ERR_OUT_OF_RANGE);
    CHECK_ST(zx_object_wait_many(NULL, SIZE_MAX, 0), ZX_ERR_OUT_OF_RANGE);
    zx_port_packet_t packet;
    CHECK_ST(zx_port_wait(port, INT64_MIN, &packet), ZX_ERR_TIMED_OUT);
    CHECK_ST(zx_port_wait(port, 0, &packet), ZX_ERR_TIMED_OUT);
    CHECK_ST(zx_object_wait_async(port, port, 0, 1, UINT32_MAX), ZX_ERR_NOT_SUPPORTED);
}

static const t_case k_cases[] = {
    T_CASE(abi_header_constants_match_the_contract),
    T_CASE(unknown_syscall_is_bad_syscall),
    T_CASE(unknown_syscall_high_bits_are_not_ignored),
    T_CASE(syscall_status_is_sign_extended_in_x0),
    T_CASE(syscall_preserves_general_registers),
    T_CASE(syscall_preserves_simd_registers),
    T_CASE(thread_switch_preserves_all_registers),
    T_CASE(system_get_page_size_is_4096),
    T_CASE(clock_get_monotonic_never_goes_back),
    T_CASE(clock_get_monotonic_advances),
    T_CASE(nanosleep_sleeps_until_deadline),
    T_CASE(nanosleep_past_deadline_returns_at_once),
    T_CASE(debug_write_writes_and_checks_its_buffer),
    T_CASE(hostile_bad_handle_values_are_bad_handle_everywhere),
    T_CASE(hostile_kernel_out_pointers_are_invalid_args),
    T_CASE(hostile_null_out_pointers_are_invalid_args),
    T_CASE(hostile_unmapped_out_pointers_are_invalid_args),
    T_CASE(hostile_readonly_out_pointers_are_invalid_args),
    T_CASE(hostile_unfaulted_mapping_is_a_valid_out_pointer),
    T_CASE(hostile_wrapping_buffers_are_invalid_args),
    T_CASE(hostile_unknown_option_bits_are_invalid_args),
    T_CASE(hostile_overflowing_lengths_are_rejected),
    T_CASE(hostile_futex_arguments_are_refused_cleanly),
    T_CASE(hostile_ports_events_and_wait_many),
};

const t_group t_group_misc = {k_cases, T_COUNT(k_cases)};
