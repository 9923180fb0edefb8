/* bin/bench: the benchmark operations on this kernel, through <zircon/syscalls.h>. init runs
 * it when the kernel is booted with `bench` (make bench). With the argument "exit" it exits at
 * once: the child of the process-lifecycle benchmark; with "smp" it runs the multi-threaded
 * wall-time benchmark of make bench-smp instead (smp-zircon.c). */
#include <zircon/process.h>
#include <zircon/syscalls.h>
#include <zxr/thread.h>
#include <zircon/syscalls/port.h>

#include "bench.h"

#define MIB (1024u * 1024u)
#define PAGES_PER_MIB (MIB / ZX_PAGE_SIZE)

uint64_t bench_now_ns(void) { return (uint64_t)zx_clock_get_monotonic(); }
void bench_write(const char* s) { zxr_puts(s); }

static int failed;
static void check(zx_status_t status, const char* what) {
    if (status != ZX_OK && !failed) {
        failed = 1;
        zxr_puts("bench: ");
        zxr_puts(what);
        zxr_puts(" failed: ");
        zxr_print_i64(status);
        zxr_puts("\n");
    }
}

static uint8_t buffer[MIB] __attribute__((aligned(4096)));
static zx_handle_t vmo_1m;     /* 1 MiB, every page committed */
static zx_handle_t channel[2];

static uint64_t null_syscall(uint64_t n) {
    /* Closing ZX_HANDLE_INVALID is a valid call that does nothing. */
    for (uint64_t i = 0; i < n; i++) zx_handle_close(ZX_HANDLE_INVALID);
    return 0;
}

static uint64_t handle_dup_close(uint64_t n) {
    for (uint64_t i = 0; i < n; i++) {
        zx_handle_t dup;
        check(zx_handle_duplicate(vmo_1m, ZX_RIGHT_SAME_RIGHTS, &dup), "duplicate");
        zx_handle_close(dup);
    }
    return 0;
}

static uint64_t vmo_create_close(uint64_t n) {
    for (uint64_t i = 0; i < n; i++) {
        zx_handle_t vmo;
        check(zx_vmo_create(ZX_PAGE_SIZE, 0, &vmo), "vmo_create");
        zx_handle_close(vmo);
    }
    return 0;
}

static uint64_t vmo_write_4k(uint64_t n) {
    for (uint64_t i = 0; i < n; i++) zx_vmo_write(vmo_1m, buffer, 0, 4096);
    return 0;
}

static uint64_t vmo_read_4k(uint64_t n) {
    for (uint64_t i = 0; i < n; i++) zx_vmo_read(vmo_1m, buffer, 0, 4096);
    return 0;
}

static uint64_t vmo_write_1m(uint64_t n) {
    for (uint64_t i = 0; i < n; i++) zx_vmo_write(vmo_1m, buffer, 0, MIB);
    return 0;
}

static uint64_t vmo_read_1m(uint64_t n) {
    for (uint64_t i = 0; i < n; i++) zx_vmo_read(vmo_1m, buffer, 0, MIB);
    return 0;
}

/* Touches every page of a 1 MiB mapping (reading, or writing one byte), returns the time. */
static uint64_t touch_pages(zx_vaddr_t addr, int write) {
    volatile uint8_t* p = (volatile uint8_t*)addr;
    uint64_t start = bench_now_ns();
    for (uint64_t page = 0; page < PAGES_PER_MIB; page++) {
        if (write) {
            p[page * ZX_PAGE_SIZE] = 1;
        } else {
            (void)p[page * ZX_PAGE_SIZE];
        }
    }
    return bench_now_ns() - start;
}

/* Maps `vmo`, times the faulting pass over its pages minus a second, fault-free pass. */
static uint64_t fault_pass(zx_handle_t vmo, int write) {
    zx_vaddr_t addr = 0;
    check(zx_vmar_map(zx_vmar_root_self(), ZX_VM_PERM_READ | ZX_VM_PERM_WRITE, 0, vmo, 0, MIB,
                      &addr),
          "vmar_map");
    if (addr == 0) return 1;
    uint64_t faulting = touch_pages(addr, write);
    uint64_t resident = touch_pages(addr, write);
    check(zx_vmar_unmap(zx_vmar_root_self(), addr, MIB), "vmar_unmap");
    return faulting > resident ? faulting - resident : 1;
}

static uint64_t fault_committed(uint64_t n) {
    uint64_t total = 0;
    for (uint64_t i = 0; i < n; i++) total += fault_pass(vmo_1m, 0);
    return total;
}

static uint64_t fault_zero_fill(uint64_t n) {
    uint64_t total = 0;
    for (uint64_t i = 0; i < n; i++) {
        zx_handle_t vmo;
        check(zx_vmo_create(MIB, 0, &vmo), "vmo_create");
        total += fault_pass(vmo, 1);
        zx_handle_close(vmo);
    }
    return total;
}

static uint64_t fault_cow(uint64_t n) {
    uint64_t total = 0;
    for (uint64_t i = 0; i < n; i++) {
        zx_handle_t clone;
        check(zx_vmo_create_child(vmo_1m, ZX_VMO_CHILD_SNAPSHOT, 0, MIB, &clone), "clone");
        total += fault_pass(clone, 1);
        zx_handle_close(clone);
    }
    return total;
}

static uint64_t vmo_clone_256(uint64_t n) {
    for (uint64_t i = 0; i < n; i++) {
        zx_handle_t clone;
        check(zx_vmo_create_child(vmo_1m, ZX_VMO_CHILD_SNAPSHOT, 0, MIB, &clone), "clone");
        zx_handle_close(clone);
    }
    return 0;
}

static uint64_t channel_write_read_64(uint64_t n) {
    uint32_t bytes, handles;
    for (uint64_t i = 0; i < n; i++) {
        zx_channel_write(channel[0], 0, buffer, 64, 0, 0);
        zx_channel_read(channel[1], 0, buffer + 4096, 0, 64, 0, &bytes, &handles);
    }
    return 0;
}

static zx_handle_t event;
static zx_handle_t port;

static uint64_t event_signal_clear(uint64_t n) {
    for (uint64_t i = 0; i < n; i++) {
        zx_object_signal(event, 0, ZX_EVENT_SIGNALED);
        zx_object_signal(event, ZX_EVENT_SIGNALED, 0);
    }
    return 0;
}

static uint64_t port_queue_wait(uint64_t n) {
    zx_port_packet_t packet = {0};
    for (uint64_t i = 0; i < n; i++) {
        packet.key = i;
        zx_port_queue(port, &packet);
        zx_port_wait(port, ZX_TIME_INFINITE, &packet);
    }
    return 0;
}

static uint64_t process_lifecycle(uint64_t n) {
    static const char* const argv[] = {"bin/bench", "exit"};
    for (uint64_t i = 0; i < n; i++) {
        zx_handle_t process = ZX_HANDLE_INVALID;
        check(zxr_spawn("bin/bench", 2, argv, 0, 0, &process), "spawn");
        int64_t code = -1;
        check(zxr_wait_exit(process, &code), "wait");
        zx_handle_close(process);
    }
    return 0;
}

/* Futex round trip between two threads (issue 15): the partner, started once, sleeps on
 * `pingpong` while it reads 0; each round trip stores 1 and wakes it, then sleeps while the
 * word reads 1, until the partner has stored 0 and woken this thread. At most one thread
 * sleeps on the word at any time. */
static zx_futex_t pingpong;
static zxr_thread_t pingpong_partner;

static int pingpong_loop(void* arg) {
    (void)arg;
    for (;;) {
        while (__atomic_load_n(&pingpong, __ATOMIC_ACQUIRE) == 0)
            zx_futex_wait(&pingpong, 0, ZX_HANDLE_INVALID, ZX_TIME_INFINITE);
        __atomic_store_n(&pingpong, 0, __ATOMIC_RELEASE);
        zx_futex_wake(&pingpong, 1);
    }
    return 0;
}

static uint64_t futex_roundtrip(uint64_t n) {
    for (uint64_t i = 0; i < n; i++) {
        __atomic_store_n(&pingpong, 1, __ATOMIC_RELEASE);
        zx_futex_wake(&pingpong, 1);
        while (__atomic_load_n(&pingpong, __ATOMIC_ACQUIRE) == 1)
            zx_futex_wait(&pingpong, 1, ZX_HANDLE_INVALID, ZX_TIME_INFINITE);
    }
    return 0;
}

static int thread_noop(void* arg) { return (int)(uintptr_t)arg; }

/* Thread create + start + join through libzircon's futex-joined threads. */
static uint64_t thread_create_join(uint64_t n) {
    for (uint64_t i = 0; i < n; i++) {
        zxr_thread_t t;
        check(zxr_thread_create(&t, thread_noop, 0, "bench", 0), "zxr_thread_create");
        check(zxr_thread_join(&t, 0), "zxr_thread_join");
    }
    return 0;
}

/* The server of channel_call_64 (`bench call-server`, startup handle 3 its channel end):
 * answers every request with 64 bytes carrying the request's txid, until the peer closes. */
static int call_server(void) {
    zx_handle_t ch = zxr_take_startup_handle(3);
    uint8_t msg[64];
    for (;;) {
        uint32_t bytes = 0, handles = 0;
        zx_status_t s = zx_channel_read(ch, 0, msg, 0, sizeof(msg), 0, &bytes, &handles);
        if (s == ZX_ERR_SHOULD_WAIT) {
            zx_signals_t seen = 0;
            zx_object_wait_one(ch, ZX_CHANNEL_READABLE | ZX_CHANNEL_PEER_CLOSED,
                               ZX_TIME_INFINITE, &seen);
            continue;
        }
        if (s != ZX_OK) return 0;
        msg[4]++;
        zx_channel_write(ch, 0, msg, sizeof(msg), 0, 0);
    }
}

static zx_handle_t call_channel = ZX_HANDLE_INVALID;
static zx_handle_t call_process = ZX_HANDLE_INVALID;

/* zx_channel_call round trip with a server process, 64 bytes each way. Self-timed: the
 * fastest batch of 16 calls, times the iterations. With one CPU every batch costs the same;
 * with several the server's thread sometimes waits on another CPU (an IPI and an idle
 * CPU's wake-up), which under -icount also counts the other CPUs' instructions, and the
 * figure would not settle. */
#define CALL_BATCH 16
static uint64_t channel_call_64(uint64_t n) {
    if (call_channel == ZX_HANDLE_INVALID) {
        zx_handle_t ends[2];
        check(zx_channel_create(0, &ends[0], &ends[1]), "channel_create");
        static const char* const argv[] = {"bin/bench", "call-server"};
        check(zxr_spawn("bin/bench", 2, argv, &ends[1], 1, &call_process), "spawn server");
        call_channel = ends[0];
    }
    uint8_t reply[64];
    zx_channel_call_args_t args = {
        .wr_bytes = buffer,
        .wr_handles = 0,
        .rd_bytes = reply,
        .rd_handles = 0,
        .wr_num_bytes = 64,
        .wr_num_handles = 0,
        .rd_num_bytes = sizeof(reply),
        .rd_num_handles = 0,
    };
    uint64_t best = UINT64_MAX;
    for (uint64_t done = 0; done < n; done += CALL_BATCH) {
        uint64_t start = bench_now_ns();
        for (int i = 0; i < CALL_BATCH; i++) {
            uint32_t bytes = 0, handles = 0;
            check(zx_channel_call(call_channel, 0, ZX_TIME_INFINITE, &args, &bytes, &handles),
                  "channel_call");
        }
        uint64_t took = bench_now_ns() - start;
        if (took < best) best = took;
    }
    uint64_t total = best * n / CALL_BATCH;
    return total ? total : 1;
}

static const struct bench_op ops[] = {
    {"null_syscall", "null syscall", null_syscall, 1},
    {"handle_dup_close", "handle duplicate+close", handle_dup_close, 1},
    {"vmo_create_close", "VMO create+close (4 KiB)", vmo_create_close, 1},
    {"write_4k", "vmo_write 4 KiB", vmo_write_4k, 1},
    {"read_4k", "vmo_read 4 KiB", vmo_read_4k, 1},
    {"write_1m", "vmo_write 1 MiB", vmo_write_1m, 1},
    {"read_1m", "vmo_read 1 MiB", vmo_read_1m, 1},
    {"fault_committed", "fault, committed page", fault_committed, PAGES_PER_MIB},
    {"fault_zero_fill", "fault, zero-fill", fault_zero_fill, PAGES_PER_MIB},
    {"fault_cow", "fault, copy-on-write", fault_cow, PAGES_PER_MIB},
    {"clone_256", "clone of 256 committed pages", vmo_clone_256, 1},
    {"channel_64", "channel write+read 64 B", channel_write_read_64, 1},
    {"channel_call_64", "channel_call round trip, 2 processes, 64 B", channel_call_64, 1},
    {"process_lifecycle", "process create+start+exit+wait", process_lifecycle, 1},
    {"futex_roundtrip", "futex round trip, two threads", futex_roundtrip, 1},
    {"thread_create_join", "thread create+start+join", thread_create_join, 1},
    {"event_signal_clear", "event signal+clear", event_signal_clear, 1},
    {"port_queue_wait", "port queue+wait", port_queue_wait, 1},
};

int bench_smp(void); /* smp-zircon.c */

static int same(const char* a, const char* b) {
    while (*a != 0 && *a == *b) a++, b++;
    return *a == *b;
}

int main(int argc, char** argv) {
    if (argc > 1 && same(argv[1], "exit")) return 0; /* the lifecycle child */
    if (argc > 1 && same(argv[1], "smp")) return bench_smp();
    if (argc > 1 && same(argv[1], "call-server")) return call_server();
    for (uint64_t i = 0; i < sizeof(buffer); i++) buffer[i] = (uint8_t)i;
    check(zx_vmo_create(MIB, 0, &vmo_1m), "vmo_create");
    check(zx_vmo_write(vmo_1m, buffer, 0, MIB), "vmo_write");
    check(zx_channel_create(0, &channel[0], &channel[1]), "channel_create");
    check(zxr_thread_create(&pingpong_partner, pingpong_loop, 0, "pingpong", 0), "partner");
    check(zx_event_create(0, &event), "event_create");
    check(zx_port_create(0, &port), "port_create");
    if (failed) return 1;
    int count = (int)(sizeof(ops) / sizeof(ops[0]));
    if (argc > 2) {
        /* `bench NAME ITERATIONS`: run one operation a fixed number of times, for profiling
         * (qemu/profile.sh). */
        uint64_t iterations = 0;
        for (const char* p = argv[2]; *p >= '0' && *p <= '9'; p++) {
            iterations = iterations * 10 + (uint64_t)(*p - '0');
        }
        for (int k = 0; k < count; k++) {
            if (same(ops[k].name, argv[1])) {
                ops[k].run(iterations);
                return failed;
            }
        }
        zxr_puts("bench: no such operation\n");
        return 1;
    }
    int unsettled = bench_run_all("zircon", ops, count);
    return failed ? 1 : unsettled ? 2 : 0;
}
