/* `bench smp` (make bench-smp): throughput of threads doing independent work, and the
 * round trip between two threads, in wall time.
 *
 * make bench-smp boots the kernel under multi-threaded TCG (one host thread per vCPU, no
 * -icount), so the monotonic clock follows the host's and two vCPUs can really run at once.
 * The same two worker threads run in every boot: with one CPU they take turns, with two each
 * should have a CPU to itself, so the throughput ratio between the boots shows how much of the
 * second CPU the kernel lets them use (qemu/bench-smp.sh prints it).
 *
 * Each workload gives every worker a fixed amount of work on objects only it touches; the
 * workers wait for one start signal, and the time counted runs from that signal to the last
 * worker's end. Output: a human line and one
 *   bench-smp {"name":"write_4k","threads":2,"ops":N,"ns":T}
 * line per workload, and for the ping-pong
 *   bench-smp {"name":"pingpong","threads":2,"ops":ROUND_TRIPS,"ns":T}
 */
#include <zircon/process.h>
#include <zircon/syscalls.h>

#include "bench.h"

#define WORKERS 2
#define STACK_SIZE (64u * 1024u)
#define MIB (1024u * 1024u)
#define PAGES_PER_MIB (MIB / ZX_PAGE_SIZE)

/* Work per worker, sized for roughly a second per workload with one CPU under TCG. */
#define WRITES_PER_WORKER 160000u     /* zx_vmo_write of 4 KiB */
#define FAULT_ROUNDS_PER_WORKER 480u  /* map 1 MiB, fault its 256 pages, unmap */
#define ZERO_ROUNDS_PER_WORKER 240u    /* the same with a fresh VMO each round */
#define ROUND_TRIPS 20000u
#define SPINS_PER_WORKER 300000000ull /* the control: a loop without system calls */
#define NULLS_PER_WORKER 400000u      /* the second control: a system call that does nothing */

static uint8_t stacks[WORKERS][STACK_SIZE] __attribute__((aligned(16)));
static uint8_t sources[WORKERS][ZX_PAGE_SIZE] __attribute__((aligned(4096)));

struct worker {
    zx_handle_t thread;
    zx_handle_t vmo;       /* its own: 1 MiB, committed */
    zx_handle_t channel;   /* ping-pong end */
    uint64_t end_ns;
    zx_status_t status;    /* first failure */
};

static struct worker workers[WORKERS];
/* The start line: workers wait for start_line[1] to become readable; one message written to
 * start_line[0] releases them all (nobody reads it until they have all finished). */
static zx_handle_t start_line[2];

static void note(struct worker* w, zx_status_t status) {
    if (status != ZX_OK && w->status == ZX_OK) w->status = status;
}

static void wait_start(struct worker* w) {
    zx_signals_t observed;
    note(w, zx_object_wait_one(start_line[1], ZX_CHANNEL_READABLE, ZX_TIME_INFINITE, &observed));
}

static void finish(struct worker* w) {
    w->end_ns = (uint64_t)zx_clock_get_monotonic();
    zx_thread_exit();
}

static void write_worker(uintptr_t index, uintptr_t unused) {
    (void)unused;
    struct worker* w = &workers[index];
    wait_start(w);
    for (uint32_t i = 0; i < WRITES_PER_WORKER; i++) {
        /* Over the whole VMO, so that the copies are not all to one cached page. */
        uint64_t offset = (uint64_t)(i % PAGES_PER_MIB) * ZX_PAGE_SIZE;
        note(w, zx_vmo_write(w->vmo, sources[index], offset, ZX_PAGE_SIZE));
    }
    finish(w);
}

/* Maps `vmo`, writes a byte to each of its pages (one fault each) and unmaps it. */
static void fault_round(struct worker* w, zx_handle_t vmo) {
    zx_vaddr_t addr = 0;
    note(w, zx_vmar_map(zx_vmar_root_self(), ZX_VM_PERM_READ | ZX_VM_PERM_WRITE, 0, vmo, 0, MIB,
                        &addr));
    if (addr == 0) return;
    volatile uint8_t* p = (volatile uint8_t*)addr;
    for (uint32_t page = 0; page < PAGES_PER_MIB; page++) p[page * ZX_PAGE_SIZE] = 1;
    note(w, zx_vmar_unmap(zx_vmar_root_self(), addr, MIB));
}

static void fault_worker(uintptr_t index, uintptr_t unused) {
    (void)unused;
    struct worker* w = &workers[index];
    wait_start(w);
    for (uint32_t i = 0; i < FAULT_ROUNDS_PER_WORKER; i++) fault_round(w, w->vmo);
    finish(w);
}

static void zero_fill_worker(uintptr_t index, uintptr_t unused) {
    (void)unused;
    struct worker* w = &workers[index];
    wait_start(w);
    for (uint32_t i = 0; i < ZERO_ROUNDS_PER_WORKER; i++) {
        zx_handle_t vmo = ZX_HANDLE_INVALID;
        note(w, zx_vmo_create(MIB, 0, &vmo));
        fault_round(w, vmo);
        zx_handle_close(vmo);
    }
    finish(w);
}

/* The control: no kernel work at all, so its ratio is what the host gives two vCPUs. */
static void spin_worker(uintptr_t index, uintptr_t unused) {
    (void)unused;
    struct worker* w = &workers[index];
    wait_start(w);
    bench_empty_loop(SPINS_PER_WORKER);
    finish(w);
}

/* The second control: in and out of the kernel, touching no shared kernel state, so its ratio
 * is what entering and leaving the kernel costs on two vCPUs at once. */
static void null_worker(uintptr_t index, uintptr_t unused) {
    (void)unused;
    struct worker* w = &workers[index];
    wait_start(w);
    for (uint32_t i = 0; i < NULLS_PER_WORKER; i++) zx_handle_close(ZX_HANDLE_INVALID);
    finish(w);
}

/* Worker 0 sends, worker 1 echoes: each round trip wakes each of them once. */
static void pingpong_worker(uintptr_t index, uintptr_t unused) {
    (void)unused;
    struct worker* w = &workers[index];
    uint64_t message = 0;
    uint32_t bytes, handles;
    zx_signals_t observed;
    wait_start(w);
    for (uint32_t i = 0; i < ROUND_TRIPS && w->status == ZX_OK; i++) {
        if (index == 0) note(w, zx_channel_write(w->channel, 0, &message, 8, 0, 0));
        note(w, zx_object_wait_one(w->channel, ZX_CHANNEL_READABLE, ZX_TIME_INFINITE, &observed));
        note(w, zx_channel_read(w->channel, 0, &message, 0, 8, 0, &bytes, &handles));
        if (index == 1) note(w, zx_channel_write(w->channel, 0, &message, 8, 0, 0));
    }
    finish(w);
}

/* When run_workers() released the workers. Each worker's end is printed relative to it: with
 * two CPUs both should end together at about half the one-CPU time; one ending much earlier
 * means the other waited for a CPU part of the time. */
static uint64_t released_at;

static void print_result(const char* name, const char* label, uint64_t ops, uint64_t ns) {
    zxr_puts("bench-smp: ");
    zxr_puts(label);
    zxr_puts(": ");
    zxr_print_u64(ops);
    zxr_puts(" in ");
    zxr_print_u64(ns / 1000);
    zxr_puts(" us (workers ended at");
    for (uint32_t k = 0; k < WORKERS; k++) {
        zxr_puts(" ");
        zxr_print_u64((workers[k].end_ns - released_at) / 1000);
    }
    zxr_puts(" us)\nbench-smp {\"name\":\"");
    zxr_puts(name);
    zxr_puts("\",\"threads\":");
    zxr_print_u64(WORKERS);
    zxr_puts(",\"ops\":");
    zxr_print_u64(ops);
    zxr_puts(",\"ns\":");
    zxr_print_u64(ns);
    zxr_puts("}\n");
}

/* Starts every worker on `entry`, releases them at once and waits for them; returns the
 * nanoseconds from the release to the last one's end, 0 on failure. */
static uint64_t run_workers(void (*entry)(uintptr_t, uintptr_t)) {
    for (uint32_t k = 0; k < WORKERS; k++) {
        struct worker* w = &workers[k];
        w->status = ZX_OK;
        w->end_ns = 0;
        if (zx_thread_create(zx_process_self(), "bench-smp", 9, 0, &w->thread) != ZX_OK) {
            return 0;
        }
        /* The stacks are reused: the previous workload's threads have terminated. */
        if (zx_thread_start(w->thread, (zx_vaddr_t)entry,
                            (zx_vaddr_t)(stacks[k] + STACK_SIZE), k, 0) != ZX_OK) {
            return 0;
        }
    }
    /* Let the workers reach the start line, so that thread start-up is not counted. */
    zx_nanosleep(zx_deadline_after(ZX_MSEC(20)));
    uint64_t start = (uint64_t)zx_clock_get_monotonic();
    released_at = start;
    uint8_t go = 1;
    if (zx_channel_write(start_line[0], 0, &go, 1, 0, 0) != ZX_OK) return 0;
    uint64_t end = 0;
    int failed = 0;
    for (uint32_t k = 0; k < WORKERS; k++) {
        struct worker* w = &workers[k];
        zx_signals_t observed;
        if (zx_object_wait_one(w->thread, ZX_THREAD_TERMINATED, ZX_TIME_INFINITE, &observed) !=
            ZX_OK) {
            failed = 1;
        }
        zx_handle_close(w->thread);
        if (w->status != ZX_OK) {
            zxr_puts("bench-smp: a worker failed: ");
            zxr_print_i64(w->status);
            zxr_puts("\n");
            failed = 1;
        }
        if (w->end_ns > end) end = w->end_ns;
    }
    uint32_t bytes, handles;
    zx_channel_read(start_line[1], 0, &go, 0, 1, 0, &bytes, &handles);
    return failed || end <= start ? 0 : end - start;
}

int bench_smp(void) {
    if (zx_channel_create(0, &start_line[0], &start_line[1]) != ZX_OK) return 1;
    for (uint32_t k = 0; k < WORKERS; k++) {
        for (uint32_t i = 0; i < ZX_PAGE_SIZE; i++) sources[k][i] = (uint8_t)(i + k);
        if (zx_vmo_create(MIB, 0, &workers[k].vmo) != ZX_OK) return 1;
        /* Commit every page, so the fault workload only maps. */
        for (uint32_t page = 0; page < PAGES_PER_MIB; page++) {
            zx_vmo_write(workers[k].vmo, sources[k], (uint64_t)page * ZX_PAGE_SIZE,
                         ZX_PAGE_SIZE);
        }
    }
    zx_handle_t ends[2];
    if (zx_channel_create(0, &ends[0], &ends[1]) != ZX_OK) return 1;
    workers[0].channel = ends[0];
    workers[1].channel = ends[1];

    zxr_puts("bench-smp: ");
    zxr_print_u64(WORKERS);
    zxr_puts(" worker threads, wall time\n");
    uint64_t ns;
    if ((ns = run_workers(spin_worker)) == 0) return 1;
    print_result("spin", "user-space loop (control)", (uint64_t)WORKERS * SPINS_PER_WORKER, ns);
    if ((ns = run_workers(null_worker)) == 0) return 1;
    print_result("null_syscall", "null syscall (control)", (uint64_t)WORKERS * NULLS_PER_WORKER, ns);
    if ((ns = run_workers(write_worker)) == 0) return 1;
    print_result("write_4k", "vmo_write 4 KiB", (uint64_t)WORKERS * WRITES_PER_WORKER, ns);
    if ((ns = run_workers(fault_worker)) == 0) return 1;
    print_result("fault_committed", "fault, committed page",
                 (uint64_t)WORKERS * FAULT_ROUNDS_PER_WORKER * PAGES_PER_MIB, ns);
    if ((ns = run_workers(zero_fill_worker)) == 0) return 1;
    print_result("fault_zero_fill", "fault, zero-fill (fresh VMO)",
                 (uint64_t)WORKERS * ZERO_ROUNDS_PER_WORKER * PAGES_PER_MIB, ns);
    if ((ns = run_workers(pingpong_worker)) == 0) return 1;
    print_result("pingpong", "channel ping-pong round trips", ROUND_TRIPS, ns);
    zxr_puts("bench-smp: done\n");
    return 0;
}
