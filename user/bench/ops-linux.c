/* The benchmark operations on Linux, for comparison with ops-zircon.c: the nearest Linux
 * equivalent of each, under the same `name` keys. Built static and run as /init (pid 1) of an
 * initramfs by qemu/bench-linux.sh, which boots Debian's arm64 kernel under the same QEMU
 * flags as `make bench`. Powers the machine off when done so QEMU exits. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

#define MIB (1024u * 1024u)
#define PAGE_SIZE 4096u
#define PAGES_PER_MIB (MIB / PAGE_SIZE)

uint64_t bench_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void bench_write(const char* s) {
    size_t len = strlen(s);
    while (len > 0) {
        ssize_t n = write(1, s, len);
        if (n <= 0) return;
        s += n;
        len -= (size_t)n;
    }
}

static int failed;
static void check(int ok, const char* what) {
    if (!ok && !failed) {
        failed = 1;
        bench_write("bench: ");
        bench_write(what);
        bench_write(" failed\n");
    }
}

static uint8_t buffer[MIB] __attribute__((aligned(4096)));
static int memfd_1m; /* 1 MiB, every page written */
static int pipe_fds[2];

static uint64_t null_syscall(uint64_t n) {
    /* Through syscall(): glibc's getppid is a plain syscall too, but this leaves no doubt. */
    for (uint64_t i = 0; i < n; i++) syscall(SYS_getppid);
    return 0;
}

static uint64_t handle_dup_close(uint64_t n) {
    for (uint64_t i = 0; i < n; i++) {
        int fd = dup(memfd_1m);
        check(fd >= 0, "dup");
        close(fd);
    }
    return 0;
}

static uint64_t vmo_create_close(uint64_t n) {
    for (uint64_t i = 0; i < n; i++) {
        int fd = memfd_create("bench", 0);
        check(fd >= 0, "memfd_create");
        check(ftruncate(fd, PAGE_SIZE) == 0, "ftruncate");
        close(fd);
    }
    return 0;
}

static uint64_t write_4k(uint64_t n) {
    for (uint64_t i = 0; i < n; i++) pwrite(memfd_1m, buffer, 4096, 0);
    return 0;
}

static uint64_t read_4k(uint64_t n) {
    for (uint64_t i = 0; i < n; i++) pread(memfd_1m, buffer, 4096, 0);
    return 0;
}

static uint64_t write_1m(uint64_t n) {
    for (uint64_t i = 0; i < n; i++) pwrite(memfd_1m, buffer, MIB, 0);
    return 0;
}

static uint64_t read_1m(uint64_t n) {
    for (uint64_t i = 0; i < n; i++) pread(memfd_1m, buffer, MIB, 0);
    return 0;
}

/* Touches every page of a 1 MiB mapping (reading, or writing one byte), returns the time. */
static uint64_t touch_pages(uint8_t* addr, int write) {
    volatile uint8_t* p = addr;
    uint64_t start = bench_now_ns();
    for (uint64_t page = 0; page < PAGES_PER_MIB; page++) {
        if (write) {
            p[page * PAGE_SIZE] = 1;
        } else {
            (void)p[page * PAGE_SIZE];
        }
    }
    return bench_now_ns() - start;
}

/* Maps 1 MiB (of `fd`, or anonymous if -1), times the faulting pass over its pages minus a
 * second, fault-free pass, as fault_pass in ops-zircon.c. */
static uint64_t fault_pass(int fd, int flags, int write) {
    if (fd < 0) flags |= MAP_ANONYMOUS;
    void* addr = mmap(0, MIB, PROT_READ | PROT_WRITE, flags, fd, 0);
    check(addr != MAP_FAILED, "mmap");
    if (addr == MAP_FAILED) return 1;
    uint64_t faulting = touch_pages(addr, write);
    uint64_t resident = touch_pages(addr, write);
    check(munmap(addr, MIB) == 0, "munmap");
    return faulting > resident ? faulting - resident : 1;
}

static uint64_t fault_committed(uint64_t n) {
    uint64_t total = 0;
    for (uint64_t i = 0; i < n; i++) total += fault_pass(memfd_1m, MAP_SHARED, 0);
    return total;
}

static uint64_t fault_zero_fill(uint64_t n) {
    uint64_t total = 0;
    for (uint64_t i = 0; i < n; i++) total += fault_pass(-1, MAP_PRIVATE, 1);
    return total;
}

static uint64_t fault_cow(uint64_t n) {
    uint64_t total = 0;
    for (uint64_t i = 0; i < n; i++) total += fault_pass(memfd_1m, MAP_PRIVATE, 1);
    return total;
}

static uint64_t channel_write_read_64(uint64_t n) {
    for (uint64_t i = 0; i < n; i++) {
        write(pipe_fds[1], buffer, 64);
        read(pipe_fds[0], buffer + 4096, 64);
    }
    return 0;
}

static int event_fd;
static int epoll_fd;

static uint64_t event_signal_clear(uint64_t n) {
    uint64_t value = 1;
    for (uint64_t i = 0; i < n; i++) {
        write(event_fd, &value, 8);
        read(event_fd, &value, 8);
    }
    return 0;
}

/* The nearest Linux equivalent of queueing a packet on a port and taking it: make an
 * eventfd readable, take the readiness from epoll_wait, then consume it. */
static uint64_t port_queue_wait(uint64_t n) {
    uint64_t value = 1;
    struct epoll_event got;
    for (uint64_t i = 0; i < n; i++) {
        write(event_fd, &value, 8);
        epoll_wait(epoll_fd, &got, 1, -1);
        read(event_fd, &value, 8);
    }
    return 0;
}

/* The Linux equivalent of channel_call_64: a ping-pong of 64 bytes through two pipes with a
 * child process that echoes. */
static int pp_to_child[2], pp_to_parent[2];
static pid_t pp_child = -1;

static uint64_t pipe_ping_pong_64(uint64_t n) {
    if (pp_child < 0) {
        check(pipe(pp_to_child) == 0 && pipe(pp_to_parent) == 0, "pipe");
        pp_child = fork();
        check(pp_child >= 0, "fork");
        if (pp_child == 0) {
            uint8_t msg[64];
            for (;;) {
                if (read(pp_to_child[0], msg, 64) != 64) _exit(0);
                if (write(pp_to_parent[1], msg, 64) != 64) _exit(0);
            }
        }
    }
    for (uint64_t i = 0; i < n; i++) {
        write(pp_to_child[1], buffer, 64);
        read(pp_to_parent[0], buffer + 4096, 64);
    }
    return 0;
}

static uint64_t process_lifecycle(uint64_t n) {
    for (uint64_t i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid == 0) _exit(0);
        check(pid > 0, "fork");
        int status;
        check(waitpid(pid, &status, 0) == pid, "waitpid");
    }
    return 0;
}

/* Futex ping-pong between two threads, the same protocol as ops-zircon.c's. */
static int pingpong;

static long futex(int* word, int op, int value) {
    return syscall(SYS_futex, word, op, value, 0, 0, 0);
}

static void* pingpong_loop(void* arg) {
    (void)arg;
    for (;;) {
        while (__atomic_load_n(&pingpong, __ATOMIC_ACQUIRE) == 0)
            futex(&pingpong, FUTEX_WAIT_PRIVATE, 0);
        __atomic_store_n(&pingpong, 0, __ATOMIC_RELEASE);
        futex(&pingpong, FUTEX_WAKE_PRIVATE, 1);
    }
    return 0;
}

static uint64_t futex_roundtrip(uint64_t n) {
    for (uint64_t i = 0; i < n; i++) {
        __atomic_store_n(&pingpong, 1, __ATOMIC_RELEASE);
        futex(&pingpong, FUTEX_WAKE_PRIVATE, 1);
        while (__atomic_load_n(&pingpong, __ATOMIC_ACQUIRE) == 1)
            futex(&pingpong, FUTEX_WAIT_PRIVATE, 1);
    }
    return 0;
}

static void* thread_noop(void* arg) { return arg; }

static uint64_t thread_create_join(uint64_t n) {
    for (uint64_t i = 0; i < n; i++) {
        pthread_t t;
        check(pthread_create(&t, 0, thread_noop, 0) == 0, "pthread_create");
        check(pthread_join(t, 0) == 0, "pthread_join");
    }
    return 0;
}

static const struct bench_op ops[] = {
    {"null_syscall", "getppid", null_syscall, 1},
    {"handle_dup_close", "dup+close", handle_dup_close, 1},
    {"vmo_create_close", "memfd_create+ftruncate+close", vmo_create_close, 1},
    {"write_4k", "pwrite 4 KiB (memfd)", write_4k, 1},
    {"read_4k", "pread 4 KiB (memfd)", read_4k, 1},
    {"write_1m", "pwrite 1 MiB (memfd)", write_1m, 1},
    {"read_1m", "pread 1 MiB (memfd)", read_1m, 1},
    {"fault_committed", "fault, memfd page", fault_committed, PAGES_PER_MIB},
    {"fault_zero_fill", "fault, anonymous", fault_zero_fill, PAGES_PER_MIB},
    {"fault_cow", "fault, MAP_PRIVATE write", fault_cow, PAGES_PER_MIB},
    /* No Linux equivalent of a copy-on-write clone of a memory object: skipped. */
    {"clone_256", "-", 0, 1},
    {"channel_64", "pipe write+read 64 B", channel_write_read_64, 1},
    {"channel_call_64", "pipe ping-pong, 2 processes, 64 B", pipe_ping_pong_64, 1},
    {"process_lifecycle", "fork+exit+wait", process_lifecycle, 1},
    {"futex_roundtrip", "futex ping-pong (FUTEX_WAIT/WAKE)", futex_roundtrip, 1},
    {"thread_create_join", "pthread_create+join", thread_create_join, 1},
    {"event_signal_clear", "eventfd write+read", event_signal_clear, 1},
    {"port_queue_wait", "eventfd write+epoll_wait+read", port_queue_wait, 1},
};

/* Our archive has no /dev/console. Debian's kernel supplies one (its built-in initramfs has
 * it), but a kernel without one starts /init with fds 0-2 closed. */
static void open_console(void) {
    if (fcntl(1, F_GETFD) != -1) return;
    mkdir("/dev", 0755);
    mount("devtmpfs", "/dev", "devtmpfs", 0, 0);
    int fd = open("/dev/console", O_RDWR | O_NOCTTY);
    if (fd < 0) fd = open("/dev/ttyAMA0", O_RDWR | O_NOCTTY);
    if (fd < 0) return;
    for (int i = 0; i <= 2; i++) {
        if (fd != i) dup2(fd, i);
    }
    if (fd > 2) close(fd);
}

int main(void) {
    open_console();
    for (uint64_t i = 0; i < sizeof(buffer); i++) buffer[i] = (uint8_t)i;
    memfd_1m = memfd_create("bench-1m", 0);
    check(memfd_1m >= 0, "memfd_create");
    check(pwrite(memfd_1m, buffer, MIB, 0) == MIB, "pwrite");
    pthread_t partner;
    check(pthread_create(&partner, 0, pingpong_loop, 0) == 0, "pthread_create");
    check(pipe(pipe_fds) == 0, "pipe");
    event_fd = eventfd(0, 0);
    check(event_fd >= 0, "eventfd");
    epoll_fd = epoll_create1(0);
    check(epoll_fd >= 0, "epoll_create1");
    struct epoll_event interest = {.events = EPOLLIN};
    check(epoll_ctl(epoll_fd, EPOLL_CTL_ADD, event_fd, &interest) == 0, "epoll_ctl");
    if (!failed) bench_run_all("linux", ops, (int)(sizeof(ops) / sizeof(ops[0])));
    /* pid 1 must not exit (the kernel would panic); powering off makes QEMU exit. */
    reboot(RB_POWER_OFF);
    for (;;) pause();
}
