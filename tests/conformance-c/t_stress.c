/* conformance-c: running out of memory and handles, many processes. Run last: these push the
 * kernel hardest (it must never crash, whatever a process asks for). */
#include "harness.h"
#include "child.h"

/* Fails the case when free memory dropped by more than `slack` pages (reports how much). */
static void check_memory_back(const zx_info_kmem_stats_t* before, uint64_t slack, int line) {
    zx_info_kmem_stats_t after;
    if (!t_kmem(&after)) {
        t_fail_cond(__FILE__, line, "t_kmem(&after)");
        return;
    }
    if (after.free_bytes + slack * PAGE < before->free_bytes) {
        t_context("kernel heap grew by pages",
                  (after.total_heap_bytes - before->total_heap_bytes) / PAGE);
        t_fail_msg(__FILE__, line, "free memory did not come back; pages missing:",
                   (before->free_bytes - after.free_bytes) / PAGE);
    }
}

static void stress_commit_beyond_memory_is_no_memory_and_changes_nothing(void) {
    zx_info_kmem_stats_t before;
    NEW_VMO(vmo, 64ull << 30, 0);
    /* Once to let the kernel heap reach its size, then measured. */
    CHECK_ST(zx_vmo_op_range(vmo, ZX_VMO_OP_COMMIT, 0, 64ull << 30, NULL, 0), ZX_ERR_NO_MEMORY);
    CHECK(t_kmem(&before));
    for (int i = 0; i < 3; i++) {
        t_context("round", (uint64_t)i);
        /* Far more than there is: all or nothing. */
        CHECK_ST(zx_vmo_op_range(vmo, ZX_VMO_OP_COMMIT, 0, 64ull << 30, NULL, 0),
                 ZX_ERR_NO_MEMORY);
        CHECK_EQ(t_committed(vmo), 0);
        /* A range that nearly fits: the pool runs dry in the middle. */
        CHECK_ST(zx_vmo_op_range(vmo, ZX_VMO_OP_COMMIT, 0, before.free_bytes + (64u << 20), NULL,
                                 0),
                 ZX_ERR_NO_MEMORY);
        CHECK_EQ(t_committed(vmo), 0);
    }
    check_memory_back(&before, 64, __LINE__);
    CHECK_HELPER();
    /* Everything still works. */
    NEW_VMO(small, PAGE, 0);
    CHECK_OK(zx_vmo_write(small, "still", 0, 5));
    NEW_MAP(a, small, RW, PAGE);
    CHECK_EQ(*(volatile uint8_t*)a, 's');
}

/* Writes one byte at every `stride` of `vmo`, `slots` times or until memory runs out;
 * returns how many pages were written. */
static uint64_t scatter_pages(zx_handle_t vmo, uint64_t stride, uint64_t slots) {
    uint64_t written = 0;
    for (uint64_t i = 0; i < slots; i++) {
        zx_status_t st = zx_vmo_write(vmo, "x", i * stride, 1);
        if (st == ZX_ERR_NO_MEMORY) break;
        if (st != ZX_OK) {
            t_fail_msg(__FILE__, __LINE__, "zx_vmo_write of a scattered page", (uint64_t)st);
            break;
        }
        written++;
    }
    return written;
}

static void stress_scattered_pages_until_no_memory_all_come_back(void) {
    /* One page every 64 GiB of a huge VMO: besides the page, each needs page-map nodes of
     * its own in the kernel (about 3.5 KiB). Written until memory runs out (on a 128 MiB
     * machine) or 24576 pages are in, then the VMO is closed: every page and node must come
     * back. The first round lets the kernel heap reach its size. */
    const uint64_t stride = 64ull << 30;
    zx_info_kmem_stats_t before;
    for (int round = 0; round < 2; round++) {
        t_context("round", (uint64_t)round);
        if (round == 1) CHECK(t_kmem(&before));
        zx_handle_t vmo;
        CHECK_OK(zx_vmo_create(1ull << 62, 0, &vmo));
        uint64_t written = scatter_pages(vmo, stride, 24576);
        CHECK(written > 0);
        CHECK_EQ(t_committed(vmo), written * PAGE);
        /* The pages read back. */
        char byte = 0;
        CHECK_OK(zx_vmo_read(vmo, &byte, (written - 1) * stride, 1));
        CHECK_EQ(byte, 'x');
        CHECK_OK(zx_handle_close(vmo));
    }
    check_memory_back(&before, 64, __LINE__);
    CHECK_HELPER();
    NEW_VMO(small, PAGE, 0);
    CHECK_OK(zx_vmo_write(small, "still", 0, 5));
}

static void oom_child(void) {
    int64_t code = 0;
    zx_handle_t proc;
    if (!t_spawn_child("oom-touch", NULL, NULL, 0, &proc)) return;
    if (!t_wait_child(proc, ZX_SEC(60), &code)) return;
    if (code == CHILD_SURVIVED) {
        t_fail_msg(__FILE__, __LINE__, "touching memory with none left did not kill the child",
                   (uint64_t)code);
        return;
    }
    CHECK_EQ(code, ZX_TASK_RETCODE_EXCEPTION_KILL);
}

static void stress_fault_without_memory_kills_only_the_child(void) {
    /* Twice: the first run may leave the kernel heap larger (not a leak); the second must
     * give every page back. */
    oom_child();
    CHECK_HELPER();
    t_cleanup();
    zx_info_kmem_stats_t before;
    CHECK(t_kmem(&before));
    oom_child();
    CHECK_HELPER();
    t_cleanup();
    check_memory_back(&before, 64, __LINE__);
    CHECK_HELPER();
    NEW_VMO(vmo, 16 * PAGE, 0);
    CHECK_OK(zx_vmo_op_range(vmo, ZX_VMO_OP_COMMIT, 0, 16 * PAGE, NULL, 0));
}

static zx_handle_t g_many[5000];

static void stress_handle_table_limit_is_no_resources_and_recovers(void) {
    /* Duplicates until the table is full: the limit is NO_RESOURCES (this kernel allows
     * a few thousand per process), then everything closes and works again. */
    NEW_VMO(vmo, PAGE, 0);
    size_t n = 0;
    zx_status_t s = ZX_OK;
    for (; n < T_COUNT(g_many); n++) {
        s = zx_handle_duplicate(vmo, ZX_RIGHT_READ | ZX_RIGHT_DUPLICATE, &g_many[n]);
        if (s != ZX_OK) break;
    }
    /* At the limit, creating calls fail the same way and leak nothing. */
    zx_handle_t extra = ZX_HANDLE_INVALID, a = ZX_HANDLE_INVALID, b = ZX_HANDLE_INVALID;
    zx_status_t s_vmo = n < T_COUNT(g_many) ? zx_vmo_create(PAGE, 0, &extra) : ZX_ERR_NO_RESOURCES;
    zx_status_t s_chan =
        n < T_COUNT(g_many) ? zx_channel_create(0, &a, &b) : ZX_ERR_NO_RESOURCES;
    bool ok = true;
    for (size_t i = 0; ok && i < n; i += 97) ok = t_handle_valid(g_many[i]);
    zx_info_handle_count_t count = {0};
    size_t actual, avail;
    zx_status_t cs =
        zx_object_get_info(vmo, ZX_INFO_HANDLE_COUNT, &count, sizeof(count), &actual, &avail);
    zx_status_t closed = zx_handle_close_many(g_many, n);
    if (s_vmo == ZX_OK) zx_handle_close(extra);
    if (s_chan == ZX_OK) {
        zx_handle_close(a);
        zx_handle_close(b);
    }
    t_context("handles", n);
    CHECK(n >= 1024);
    if (n < T_COUNT(g_many)) {
        CHECK_ST(s, ZX_ERR_NO_RESOURCES);
        CHECK_ST(s_vmo, ZX_ERR_NO_RESOURCES);
        CHECK_ST(s_chan, ZX_ERR_NO_RESOURCES);
    }
    CHECK(ok);
    CHECK_OK(cs);
    CHECK_EQ(count.handle_count, n + 1);
    CHECK_OK(closed);
    CHECK(!t_handle_valid(g_many[0]));
    CHECK(!t_handle_valid(g_many[n - 1]));
    CHECK_OK(zx_object_get_info(vmo, ZX_INFO_HANDLE_COUNT, &count, sizeof(count), &actual,
                                &avail));
    CHECK_EQ(count.handle_count, 1);
    NEW_VMO(after, PAGE, 0);
    NEW_CHANNEL(c, d);
    (void)after;
    (void)c;
    (void)d;
}

static void stress_many_processes_in_a_row(void) {
    zx_info_kmem_stats_t before;
    CHECK(t_kmem(&before));
    for (int i = 0; i < 24; i++) {
        char arg[24];
        t_fmt_dec(arg, (uint64_t)i);
        t_context("child", (uint64_t)i);
        int64_t code = -1;
        if (!t_run_child("exit", arg, NULL, 0, &code)) return;
        CHECK_EQ(code, i);
        t_cleanup(); /* the process handle */
    }
    /* Each process holds at least a stack and its image pages: 24 leaked would show. */
    check_memory_back(&before, 64, __LINE__);
}

static const t_case k_cases[] = {
    T_CASE(stress_handle_table_limit_is_no_resources_and_recovers),
    T_CASE(stress_many_processes_in_a_row),
    T_CASE(stress_commit_beyond_memory_is_no_memory_and_changes_nothing),
    T_CASE(stress_fault_without_memory_kills_only_the_child),
    T_CASE(stress_scattered_pages_until_no_memory_all_come_back),
};

const t_group t_group_stress = {k_cases, T_COUNT(k_cases)};
