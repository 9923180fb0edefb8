/* conformance-c: the child side. The suite runs itself as `child MODE [ARG]` for the cases
 * that need a second process: faults that must kill only the faulting process, handle
 * isolation, sharing memory, and what the end of a process releases.
 *
 * Exit codes: 0 = the mode did what the parent expects of a surviving child;
 * CHILD_SURVIVED = an access that had to fault did not; CHILD_SETUP + n = setup step n failed;
 * other modes document their own.
 */
#include "harness.h"
#include "child.h"

static volatile uint64_t g_sink;

/* Instructions: `mov w0, #42; ret`. */
static const uint32_t k_code[2] = {0x52800540u, 0xd65f03c0u};

typedef int (*code_fn)(void);

static zx_status_t map_new(size_t size, uint32_t perms, zx_handle_t* vmo_out,
                           zx_vaddr_t* addr) {
    zx_handle_t vmo;
    zx_status_t s = zx_vmo_create(size, 0, &vmo);
    if (s != ZX_OK) return s;
    s = zx_vmar_map(zx_vmar_root_self(), perms, 0, vmo, 0, size, addr);
    if (vmo_out) {
        *vmo_out = vmo;
    } else {
        zx_handle_close(vmo);
    }
    return s;
}

static zx_status_t map_code(uint32_t perms, zx_vaddr_t* addr) {
    zx_handle_t vmo;
    zx_status_t s = zx_vmo_create(PAGE, 0, &vmo);
    if (s != ZX_OK) return s;
    s = zx_vmo_write(vmo, k_code, 0, sizeof(k_code));
    if (s != ZX_OK) return s;
    s = zx_vmo_op_range(vmo, ZX_VMO_OP_CACHE_CLEAN, 0, PAGE, NULL, 0);
    if (s != ZX_OK) return s;
    s = zx_vmar_map(zx_vmar_root_self(), perms, 0, vmo, 0, PAGE, addr);
    zx_handle_close(vmo);
    return s;
}

static int wait_and_read_one_handle(zx_handle_t ch, char* bytes, uint32_t nbytes,
                                    zx_handle_t* h) {
    zx_signals_t observed = 0;
    if (zx_object_wait_one(ch, ZX_CHANNEL_READABLE, zx_deadline_after(ZX_SEC(10)),
                           &observed) != ZX_OK)
        return 1;
    uint32_t ab = 0, ah = 0;
    if (zx_channel_read(ch, 0, bytes, h, nbytes, 1, &ab, &ah) != ZX_OK) return 2;
    if (ah != 1) return 3;
    return 0;
}

static void sleep_forever(uintptr_t a, uintptr_t b) {
    (void)a;
    (void)b;
    zx_nanosleep(ZX_TIME_INFINITE);
    zx_thread_exit();
}

static void fault_thread(uintptr_t a, uintptr_t b) {
    (void)a;
    (void)b;
    zx_nanosleep(zx_deadline_after(ZX_MSEC(2)));
    g_sink = *(volatile uint8_t*)(uintptr_t)0x1000;
    zx_thread_exit();
}

/* ---- "race": two threads hammer one VMO family; the kernel must neither deadlock nor lose
 * data. Exit 0 when both finished and the data checks out. */

static zx_handle_t g_race_vmo;
static volatile int g_race_done;
static volatile int g_race_error;

static void race_thread(uintptr_t a, uintptr_t b) {
    (void)a;
    (void)b;
    zx_time_t end = zx_deadline_after(ZX_MSEC(300));
    while (zx_clock_get_monotonic() < end && !g_race_error) {
        zx_handle_t c, s;
        zx_vaddr_t m;
        if (zx_vmo_clone(g_race_vmo, ZX_VMO_CLONE_COPY_ON_WRITE, 0, 8 * PAGE, &c) != ZX_OK) {
            g_race_error = 1;
            break;
        }
        if (zx_vmar_map(zx_vmar_root_self(), RW, 0, c, 0, 8 * PAGE, &m) != ZX_OK) {
            g_race_error = 2;
            break;
        }
        for (int i = 0; i < 8; i++) *(volatile uint8_t*)(m + (uintptr_t)i * PAGE + 8) = 0xcc;
        if (zx_vmo_create_child(c, ZX_VMO_CHILD_SNAPSHOT, 0, 8 * PAGE, &s) == ZX_OK) {
            zx_handle_close(s);
        }
        zx_vmar_unmap(zx_vmar_root_self(), m, 8 * PAGE);
        zx_handle_close(c);
        zx_vmo_op_range(g_race_vmo, ZX_VMO_OP_DECOMMIT, 6 * PAGE, 2 * PAGE, NULL, 0);
    }
    g_race_done = 1;
    zx_thread_exit();
}

static int race_main(void) {
    if (zx_vmo_create(8 * PAGE, 0, &g_race_vmo) != ZX_OK) return CHILD_SETUP + 1;
    zx_handle_t thread;
    zx_vaddr_t stack, m;
    if (zx_thread_create(zx_process_self(), "racer", 5, 0, &thread) != ZX_OK)
        return CHILD_SETUP + 2;
    if (map_new(16 * PAGE, RW, NULL, &stack) != ZX_OK) return CHILD_SETUP + 3;
    if (zx_vmar_map(zx_vmar_root_self(), RW, 0, g_race_vmo, 0, 8 * PAGE, &m) != ZX_OK)
        return CHILD_SETUP + 4;
    if (zx_thread_start(thread, (zx_vaddr_t)&race_thread, stack + 16 * PAGE, 0, 0) != ZX_OK)
        return CHILD_SETUP + 5;
    uint64_t n = 0;
    /* Bounded by time too: on a kernel that does not preempt, the other thread runs once
     * this one blocks in the wait below. */
    zx_time_t end = zx_deadline_after(ZX_MSEC(400));
    while (!g_race_done && zx_clock_get_monotonic() < end) {
        /* Pages 0-5 belong to this thread: what it writes it must read back. */
        uint8_t v = (uint8_t)(n++ | 1);
        uintptr_t page = (uintptr_t)(n % 6);
        *(volatile uint8_t*)(m + page * PAGE + 16) = v;
        uint8_t r = 0;
        if (zx_vmo_read(g_race_vmo, &r, page * PAGE + 16, 1) != ZX_OK) return CHILD_SETUP + 6;
        if (r != v) return CHILD_SETUP + 7;
        if (zx_vmo_write(g_race_vmo, &v, page * PAGE + 17, 1) != ZX_OK) return CHILD_SETUP + 8;
        if (*(volatile uint8_t*)(m + page * PAGE + 17) != v) return CHILD_SETUP + 9;
    }
    zx_signals_t observed;
    if (zx_object_wait_one(thread, ZX_THREAD_TERMINATED, zx_deadline_after(ZX_SEC(3)),
                           &observed) != ZX_OK)
        return CHILD_SETUP + 20;
    if (g_race_error) return CHILD_SETUP + 10 + g_race_error;
    /* Every clone is gone again. */
    if (zx_object_wait_one(g_race_vmo, ZX_VMO_ZERO_CHILDREN, 0, &observed) != ZX_OK)
        return CHILD_SETUP + 21;
    return 0;
}

int t_child_main(int argc, char** argv, int first) {
    const char* mode = first < argc ? argv[first] : "";
    const char* arg = first + 1 < argc ? argv[first + 1] : NULL;
    uint64_t value = 0;
    if (arg) t_parse_u64(arg, &value);

    if (t_streq(mode, "exit")) {
        return (int)value;
    }
    if (t_streq(mode, "cprng-draw")) {
        /* A bad buffer: the kernel kills this process (-1028). */
        zx_cprng_draw((void*)(uintptr_t)value, 32);
        return CHILD_SURVIVED;
    }
    if (t_streq(mode, "call-server")) {
        /* Extra handle 0: a channel. Answers each request with the same txid and the
         * payload's bytes + 1; ends when the peer closes. */
        zx_handle_t ch = zxr_take_startup_handle(CHILD_EXTRA_HANDLE_INDEX);
        if (ch == ZX_HANDLE_INVALID) return CHILD_SETUP + 1;
        uint8_t msg[64];
        for (;;) {
            zx_signals_t seen = 0;
            zx_status_t s = zx_object_wait_one(ch, ZX_CHANNEL_READABLE | ZX_CHANNEL_PEER_CLOSED,
                                               zx_deadline_after(ZX_SEC(30)), &seen);
            if (s != ZX_OK) return CHILD_SETUP + 2;
            uint32_t n = 0, nh = 0;
            s = zx_channel_read(ch, 0, msg, NULL, sizeof(msg), 0, &n, &nh);
            if (s == ZX_ERR_PEER_CLOSED) return 0;
            if (s != ZX_OK || n < 4) return CHILD_SETUP + 3;
            for (uint32_t i = 4; i < n; i++) msg[i]++;
            if (zx_channel_write(ch, 0, msg, n, NULL, 0) != ZX_OK) return CHILD_SETUP + 4;
        }
    }
    if (t_streq(mode, "read")) {
        g_sink = *(volatile uint8_t*)(uintptr_t)value;
        return CHILD_SURVIVED;
    }
    if (t_streq(mode, "write")) {
        *(volatile uint8_t*)(uintptr_t)value = 1;
        return CHILD_SURVIVED;
    }
    if (t_streq(mode, "read-unmapped")) {
        /* The middle of an empty sub-region: certainly nothing mapped there. */
        zx_handle_t vmar;
        zx_vaddr_t addr;
        if (zx_vmar_allocate(zx_vmar_root_self(), ZX_VM_CAN_MAP_READ, 0, 16 * PAGE, &vmar,
                             &addr) != ZX_OK)
            return CHILD_SETUP + 1;
        g_sink = *(volatile uint8_t*)(addr + 4 * PAGE);
        return CHILD_SURVIVED;
    }
    if (t_streq(mode, "ro-write")) {
        zx_vaddr_t addr;
        if (map_new(PAGE, ZX_VM_PERM_READ, NULL, &addr) != ZX_OK) return CHILD_SETUP + 1;
        g_sink = *(volatile uint8_t*)addr; /* reading is fine */
        *(volatile uint8_t*)addr = 1;
        return CHILD_SURVIVED;
    }
    if (t_streq(mode, "unmap-read")) {
        zx_vaddr_t addr;
        if (map_new(PAGE, RW, NULL, &addr) != ZX_OK) return CHILD_SETUP + 1;
        *(volatile uint8_t*)addr = 1;
        if (zx_vmar_unmap(zx_vmar_root_self(), addr, PAGE) != ZX_OK) return CHILD_SETUP + 2;
        g_sink = *(volatile uint8_t*)addr;
        return CHILD_SURVIVED;
    }
    if (t_streq(mode, "shrink-read")) {
        zx_handle_t vmo;
        zx_vaddr_t addr;
        if (map_new(2 * PAGE, RW, &vmo, &addr) != ZX_OK) return CHILD_SETUP + 1;
        *(volatile uint8_t*)addr = 1;
        *(volatile uint8_t*)(addr + PAGE) = 2;
        if (zx_vmo_set_size(vmo, PAGE) != ZX_OK) return CHILD_SETUP + 2;
        if (*(volatile uint8_t*)addr != 1) return CHILD_SETUP + 3; /* kept page stays */
        g_sink = *(volatile uint8_t*)(addr + PAGE);
        return CHILD_SURVIVED;
    }
    if (t_streq(mode, "exec-rw") || t_streq(mode, "exec-ro") || t_streq(mode, "exec-rx")) {
        uint32_t perms = ZX_VM_PERM_READ;
        if (t_streq(mode, "exec-rw")) perms |= ZX_VM_PERM_WRITE;
        if (t_streq(mode, "exec-rx")) perms |= ZX_VM_PERM_EXECUTE;
        zx_vaddr_t addr;
        if (map_code(perms, &addr) != ZX_OK) return CHILD_SETUP + 1;
        code_fn f = (code_fn)addr;
        int r = f();
        if (t_streq(mode, "exec-rx")) return r == 42 ? 0 : CHILD_SETUP + 2;
        return CHILD_SURVIVED;
    }
    if (t_streq(mode, "protect-write")) {
        zx_vaddr_t addr;
        if (map_new(PAGE, RW, NULL, &addr) != ZX_OK) return CHILD_SETUP + 1;
        *(volatile uint8_t*)addr = 1;
        if (zx_vmar_protect(zx_vmar_root_self(), ZX_VM_PERM_READ, addr, PAGE) != ZX_OK)
            return CHILD_SETUP + 2;
        if (*(volatile uint8_t*)addr != 1) return CHILD_SETUP + 3;
        *(volatile uint8_t*)addr = 2;
        return CHILD_SURVIVED;
    }
    if (t_streq(mode, "protect-rw-again")) {
        /* Lowering and raising again within what the handle allowed at map time works. */
        zx_vaddr_t addr;
        if (map_new(PAGE, RW, NULL, &addr) != ZX_OK) return CHILD_SETUP + 1;
        *(volatile uint8_t*)addr = 1;
        if (zx_vmar_protect(zx_vmar_root_self(), ZX_VM_PERM_READ, addr, PAGE) != ZX_OK)
            return CHILD_SETUP + 2;
        if (zx_vmar_protect(zx_vmar_root_self(), RW, addr, PAGE) != ZX_OK)
            return CHILD_SETUP + 3;
        *(volatile uint8_t*)addr = 2;
        return *(volatile uint8_t*)addr == 2 ? 0 : CHILD_SETUP + 4;
    }
    if (t_streq(mode, "write-code")) {
        *(volatile uint8_t*)(uintptr_t)&t_child_main = 0;
        return CHILD_SURVIVED;
    }
    if (t_streq(mode, "exec")) {
        code_fn f = (code_fn)(uintptr_t)value;
        f();
        return CHILD_SURVIVED;
    }
    if (t_streq(mode, "udf")) {
        __asm__ volatile(".inst 0x00000000" ::: "memory"); /* udf #0 */
        return CHILD_SURVIVED;
    }
    if (t_streq(mode, "brk")) {
        __asm__ volatile("brk #0" ::: "memory");
        return CHILD_SURVIVED;
    }
    if (t_streq(mode, "hvc")) {
        __asm__ volatile("hvc #0" ::: "memory");
        return CHILD_SURVIVED;
    }
    if (t_streq(mode, "smc")) {
        __asm__ volatile("smc #0" ::: "memory");
        return CHILD_SURVIVED;
    }
    if (t_streq(mode, "mrs-el1")) {
        uint64_t v;
        __asm__ volatile("mrs %0, sctlr_el1" : "=r"(v)::"memory");
        g_sink = v;
        return CHILD_SURVIVED;
    }
    if (t_streq(mode, "msr-el1")) {
        __asm__ volatile("msr vbar_el1, %0" ::"r"((uint64_t)0x10000000u) : "memory");
        return CHILD_SURVIVED;
    }
    if (t_streq(mode, "unaligned-exclusive")) {
        static uint64_t words[4];
        uintptr_t p = (uintptr_t)&words[1] + 1;
        uint64_t v;
        __asm__ volatile("ldxr %0, [%1]" : "=r"(v) : "r"(p) : "memory");
        g_sink = v;
        return CHILD_SURVIVED;
    }
    if (t_streq(mode, "first-handle")) {
        /* The value of a fresh handle: differs between processes if the secret does. */
        zx_handle_t h;
        if (zx_vmo_create(0, 0, &h) != ZX_OK) return -1;
        return (int)(h >> 2) & 0x3fffffff;
    }
    if (t_streq(mode, "commit")) {
        /* Commits `value` pages through a mapping and a VMO, then exits holding them. */
        zx_handle_t vmo;
        zx_vaddr_t addr;
        if (map_new(value * PAGE, RW, &vmo, &addr) != ZX_OK) return CHILD_SETUP + 1;
        for (uint64_t i = 0; i < value; i++) *(volatile uint8_t*)(addr + i * PAGE) = 1;
        zx_handle_t other;
        if (zx_vmo_create(value * PAGE, 0, &other) != ZX_OK) return CHILD_SETUP + 2;
        if (zx_vmo_op_range(other, ZX_VMO_OP_COMMIT, 0, value * PAGE, NULL, 0) != ZX_OK)
            return CHILD_SETUP + 3;
        return 0;
    }
    if (t_streq(mode, "shrink-regrow")) {
        /* A page dropped by a shrink and brought back by a grow reads zero through the
         * mapping that saw the old data. */
        zx_handle_t vmo;
        zx_vaddr_t addr;
        if (map_new(2 * PAGE, RW, &vmo, &addr) != ZX_OK) return CHILD_SETUP + 1;
        *(volatile uint8_t*)(addr + PAGE) = 0x77;
        if (zx_vmo_set_size(vmo, PAGE) != ZX_OK) return CHILD_SETUP + 2;
        if (zx_vmo_set_size(vmo, 2 * PAGE) != ZX_OK) return CHILD_SETUP + 3;
        return *(volatile uint8_t*)(addr + PAGE) == 0 ? 0 : CHILD_SETUP + 4;
    }
    if (t_streq(mode, "protect-middle")) {
        /* Protects the middle page of three read-only; value 0: write pages 0 and 2 (must
         * work), 1: write page 1 (must kill). */
        zx_vaddr_t addr;
        if (map_new(3 * PAGE, RW, NULL, &addr) != ZX_OK) return CHILD_SETUP + 1;
        for (int i = 0; i < 3; i++) *(volatile uint8_t*)(addr + (uintptr_t)i * PAGE) = 1;
        if (zx_vmar_protect(zx_vmar_root_self(), ZX_VM_PERM_READ, addr + PAGE, PAGE) != ZX_OK)
            return CHILD_SETUP + 2;
        if (value == 0) {
            *(volatile uint8_t*)addr = 2;
            *(volatile uint8_t*)(addr + 2 * PAGE) = 2;
            return *(volatile uint8_t*)(addr + PAGE) == 1 ? 0 : CHILD_SETUP + 3;
        }
        *(volatile uint8_t*)(addr + PAGE) = 2;
        return CHILD_SURVIVED;
    }
    if (t_streq(mode, "exec-misaligned")) {
        /* A branch to an address that is not a multiple of 4: PC alignment fault. */
        zx_vaddr_t addr;
        if (map_code(ZX_VM_PERM_READ | ZX_VM_PERM_EXECUTE, &addr) != ZX_OK)
            return CHILD_SETUP + 1;
        code_fn f = (code_fn)(addr + 2);
        f();
        return CHILD_SURVIVED;
    }
    if (t_streq(mode, "exit-with-threads")) {
        /* Returning from main (zx_process_exit) ends the process even though another thread
         * still sleeps. */
        zx_handle_t thread;
        zx_vaddr_t stack;
        if (zx_thread_create(zx_process_self(), "sleeper", 7, 0, &thread) != ZX_OK)
            return CHILD_SETUP + 1;
        if (map_new(4 * PAGE, RW, NULL, &stack) != ZX_OK) return CHILD_SETUP + 2;
        if (zx_thread_start(thread, (zx_vaddr_t)&sleep_forever, stack + 4 * PAGE, 0, 0) != ZX_OK)
            return CHILD_SETUP + 3;
        zx_nanosleep(zx_deadline_after(ZX_MSEC(5)));
        return 0;
    }
    if (t_streq(mode, "thread-fault")) {
        /* A fault in a second thread kills the whole process. */
        zx_handle_t thread;
        zx_vaddr_t stack;
        if (zx_thread_create(zx_process_self(), "faulter", 7, 0, &thread) != ZX_OK)
            return CHILD_SETUP + 1;
        if (map_new(4 * PAGE, RW, NULL, &stack) != ZX_OK) return CHILD_SETUP + 2;
        if (zx_thread_start(thread, (zx_vaddr_t)&fault_thread, stack + 4 * PAGE, 0, 0) != ZX_OK)
            return CHILD_SETUP + 3;
        zx_nanosleep(zx_deadline_after(ZX_SEC(3)));
        return CHILD_SURVIVED;
    }
    if (t_streq(mode, "oom-touch")) {
        /* Commits memory until there is none left, then touches a fresh mapping: a fault
         * the kernel cannot serve must kill this process and nothing else. */
        zx_handle_t hog, vmo;
        zx_vaddr_t addr;
        const uint64_t chunk = 4ull << 20;
        if (zx_vmo_create(64ull << 30, 0, &hog) != ZX_OK) return CHILD_SETUP + 1;
        uint64_t off = 0;
        while (zx_vmo_op_range(hog, ZX_VMO_OP_COMMIT, off, chunk, NULL, 0) == ZX_OK) off += chunk;
        /* Less than a chunk is left: take it page by page. */
        while (zx_vmo_op_range(hog, ZX_VMO_OP_COMMIT, off, PAGE, NULL, 0) == ZX_OK) off += PAGE;
        if (zx_vmo_create(64 * PAGE, 0, &vmo) != ZX_OK) return CHILD_SETUP + 2;
        if (zx_vmar_map(zx_vmar_root_self(), RW, 0, vmo, 0, 64 * PAGE, &addr) != ZX_OK)
            return CHILD_SETUP + 3;
        for (uint64_t o = 0; o < 64 * PAGE; o += PAGE) *(volatile uint8_t*)(addr + o) = 1;
        return CHILD_SURVIVED;
    }
    if (t_streq(mode, "race")) {
        return race_main();
    }
    if (t_streq(mode, "badhandle")) {
        /* `value` is a handle value of the parent: meaningless here. */
        uint8_t b[8];
        zx_status_t s = zx_vmo_read((zx_handle_t)value, b, 0, sizeof(b));
        if (s == ZX_ERR_BAD_HANDLE) return 0;
        return CHILD_STATUS_BASE - s; /* s <= 0 */
    }
    if (t_streq(mode, "share")) {
        /* Extra handle 0: a channel carrying one VMO handle. Map it, check the parent's
         * bytes, write ours, answer "done". */
        zx_handle_t ch = zxr_take_startup_handle(CHILD_EXTRA_HANDLE_INDEX);
        if (ch == ZX_HANDLE_INVALID) return CHILD_SETUP + 1;
        char msg[16];
        zx_handle_t vmo = ZX_HANDLE_INVALID;
        int r = wait_and_read_one_handle(ch, msg, sizeof(msg), &vmo);
        if (r) return CHILD_SETUP + 1 + r;
        zx_vaddr_t addr;
        if (zx_vmar_map(zx_vmar_root_self(), RW, 0, vmo, 0, PAGE, &addr) != ZX_OK)
            return CHILD_SETUP + 5;
        if (t_memcmp((const void*)addr, "from-parent", 11) != 0) return CHILD_SETUP + 6;
        t_memcpy((void*)(addr + 64), "from-child", 10);
        if (zx_channel_write(ch, 0, "done", 4, NULL, 0) != ZX_OK) return CHILD_SETUP + 7;
        return 0;
    }
    if (t_streq(mode, "hold")) {
        /* Extra handle 0: a channel carrying one VMO handle. Map it, touch it, answer
         * "held", then end (without closing or unmapping anything) when the parent closes
         * its end. */
        zx_handle_t ch = zxr_take_startup_handle(CHILD_EXTRA_HANDLE_INDEX);
        if (ch == ZX_HANDLE_INVALID) return CHILD_SETUP + 1;
        char msg[16];
        zx_handle_t vmo = ZX_HANDLE_INVALID;
        int r = wait_and_read_one_handle(ch, msg, sizeof(msg), &vmo);
        if (r) return CHILD_SETUP + 1 + r;
        zx_vaddr_t addr;
        if (zx_vmar_map(zx_vmar_root_self(), RW, 0, vmo, 0, PAGE, &addr) != ZX_OK)
            return CHILD_SETUP + 5;
        *(volatile uint8_t*)addr = 7;
        if (zx_channel_write(ch, 0, "held", 4, NULL, 0) != ZX_OK) return CHILD_SETUP + 6;
        zx_signals_t observed = 0;
        if (zx_object_wait_one(ch, ZX_CHANNEL_PEER_CLOSED, zx_deadline_after(ZX_SEC(20)),
                               &observed) != ZX_OK)
            return CHILD_SETUP + 7;
        return 0;
    }
    if (t_streq(mode, "kill-own-job")) {
        /* Kills its default job, so itself: the call must not return. */
        zx_task_kill(zx_job_default());
        return CHILD_SURVIVED;
    }
    if (t_streq(mode, "sleep")) {
        zx_nanosleep(ZX_TIME_INFINITE);
        return CHILD_SURVIVED;
    }
    if (t_streq(mode, "handles")) {
        /* Extra handle 0: a channel. Reports, as a message, whether the parent's handle
         * value `value` means anything here. */
        zx_handle_t ch = zxr_take_startup_handle(CHILD_EXTRA_HANDLE_INDEX);
        if (ch == ZX_HANDLE_INVALID) return CHILD_SETUP + 1;
        uint8_t b[8];
        zx_status_t s = zx_vmo_read((zx_handle_t)value, b, 0, sizeof(b));
        if (zx_channel_write(ch, 0, &s, sizeof(s), NULL, 0) != ZX_OK) return CHILD_SETUP + 2;
        return 0;
    }
    return CHILD_UNKNOWN_MODE;
}
