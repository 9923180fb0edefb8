/* conformance-c: the test harness.
 *
 * Every case is a `void f(void)` that checks with the CHECK_* macros below; the first failed
 * check records a message and returns from the case. Resources a case creates are tracked
 * (t_track*) and released by the harness after the case, whether it passed or not.
 *
 * Freestanding C11: only <stdint.h>, <stddef.h>, <stdbool.h> and the zircon headers.
 */
#ifndef CONFORMANCE_C_HARNESS_H_
#define CONFORMANCE_C_HARNESS_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <zircon/syscalls.h>
#include <zircon/types.h>

/* The user runtime (libzircon). Its header may not exist yet: declare what we use. */
#if defined(__has_include)
#if __has_include(<zircon/process.h>)
#include <zircon/process.h>
#define T_HAVE_PROCESS_H 1
#endif
#endif
#ifndef T_HAVE_PROCESS_H
zx_handle_t zx_process_self(void);
zx_handle_t zx_vmar_root_self(void);
zx_handle_t zx_job_default(void);
zx_status_t zxr_spawn(const char* path, int argc, const char* const* argv,
                      const zx_handle_t* handles, uint32_t num_handles, zx_handle_t* proc_out);
zx_status_t zxr_wait_exit(zx_handle_t proc, int64_t* code_out);
zx_status_t zxr_spawn_in(zx_handle_t job, const char* path, int argc, const char* const* argv,
                         const zx_handle_t* handles, uint32_t num_handles,
                         zx_handle_t* proc_out);
zx_handle_t zxr_take_startup_handle(uint32_t index);
#endif

/* ---- cases ---------------------------------------------------------------------------- */

typedef struct t_case {
    const char* name;
    void (*fn)(void);
} t_case;

typedef struct t_group {
    const t_case* cases;
    size_t count;
} t_group;

#define T_COUNT(a) (sizeof(a) / sizeof((a)[0]))
#define T_CASE(f) {#f, f}

/* ---- failure reporting ---------------------------------------------------------------- */

bool t_failed(void);
void t_fail_status(const char* file, int line, zx_status_t want, zx_status_t got);
void t_fail_status2(const char* file, int line, zx_status_t want1, zx_status_t want2,
                    zx_status_t got);
void t_fail_cond(const char* file, int line, const char* cond);
void t_fail_eq(const char* file, int line, const char* what, uint64_t got, uint64_t want);
void t_fail_msg(const char* file, int line, const char* msg, uint64_t value);
/* Names what a loop is at; a failure message then ends with " (what = value)". */
void t_context(const char* what, uint64_t value);

/* `expr` must return `want`. */
#define CHECK_ST(expr, want)                                                               \
    do {                                                                                   \
        zx_status_t t_s_ = (zx_status_t)(expr);                                            \
        if (t_s_ != (zx_status_t)(want)) {                                                 \
            t_fail_status(__FILE__, __LINE__, (zx_status_t)(want), t_s_);                  \
            return;                                                                        \
        }                                                                                  \
    } while (0)

/* `expr` must return `want1` or `want2` (the contract leaves the choice open). */
#define CHECK_ST2(expr, want1, want2)                                                      \
    do {                                                                                   \
        zx_status_t t_s_ = (zx_status_t)(expr);                                            \
        if (t_s_ != (zx_status_t)(want1) && t_s_ != (zx_status_t)(want2)) {                \
            t_fail_status2(__FILE__, __LINE__, (want1), (want2), t_s_);                    \
            return;                                                                        \
        }                                                                                  \
    } while (0)

/* `expr` must fail (any negative status). */
#define CHECK_FAILS(expr)                                                                  \
    do {                                                                                   \
        zx_status_t t_s_ = (zx_status_t)(expr);                                            \
        if (t_s_ >= 0) {                                                                   \
            t_fail_msg(__FILE__, __LINE__, "expected an error got", (uint64_t)t_s_);       \
            return;                                                                        \
        }                                                                                  \
    } while (0)

#define CHECK_OK(expr) CHECK_ST(expr, ZX_OK)

#define CHECK(cond)                                                                        \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            t_fail_cond(__FILE__, __LINE__, #cond);                                        \
            return;                                                                        \
        }                                                                                  \
    } while (0)

#define CHECK_EQ(a, b)                                                                     \
    do {                                                                                   \
        uint64_t t_a_ = (uint64_t)(a);                                                     \
        uint64_t t_b_ = (uint64_t)(b);                                                     \
        if (t_a_ != t_b_) {                                                                \
            t_fail_eq(__FILE__, __LINE__, #a, t_a_, t_b_);                                 \
            return;                                                                        \
        }                                                                                  \
    } while (0)

/* After calling a helper that may have failed the case. */
#define CHECK_HELPER()                                                                     \
    do {                                                                                   \
        if (t_failed())                                                                    \
            return;                                                                        \
    } while (0)

/* ---- resources released after each case ----------------------------------------------- */

zx_handle_t t_track(zx_handle_t h);          /* closed after the case */
void t_untrack(zx_handle_t h);               /* no longer closed (consumed / closed by case) */
zx_handle_t t_track_vmar(zx_handle_t vmar);  /* destroyed and closed after the case */
void t_track_map(zx_vaddr_t addr, size_t len); /* unmapped from the root VMAR after the case */
void t_untrack_map(zx_vaddr_t addr);
void t_cleanup(void);

/* Declares `var` and creates a tracked VMO into it. */
#define NEW_VMO(var, size, opts)                                                           \
    zx_handle_t var = ZX_HANDLE_INVALID;                                                   \
    CHECK_OK(zx_vmo_create((size), (opts), &var));                                         \
    t_track(var)

/* Declares `var` and maps `len` bytes of `vmo` (offset 0) anywhere in the root VMAR. */
#define NEW_MAP(var, vmo, perms, len)                                                      \
    zx_vaddr_t var = 0;                                                                    \
    CHECK_OK(zx_vmar_map(zx_vmar_root_self(), (perms), 0, (vmo), 0, (len), &var));         \
    t_track_map(var, (len))

/* Declares `var` and creates a tracked duplicate of `h` with `rights`. */
#define NEW_DUP(var, h, rights)                                                            \
    zx_handle_t var = ZX_HANDLE_INVALID;                                                   \
    CHECK_OK(zx_handle_duplicate((h), (rights), &var));                                    \
    t_track(var)

/* Declares a tracked channel pair. */
#define NEW_CHANNEL(a, b)                                                                  \
    zx_handle_t a = ZX_HANDLE_INVALID, b = ZX_HANDLE_INVALID;                              \
    CHECK_OK(zx_channel_create(0, &a, &b));                                                \
    t_track(a);                                                                            \
    t_track(b)

#define RW (ZX_VM_PERM_READ | ZX_VM_PERM_WRITE)
#define PAGE ((size_t)4096u)

/* Addresses no user pointer may use. */
#define KERNEL_PTR ((void*)(uintptr_t)0xffff000000000000ull)
#define KERNEL_PTR2 ((void*)(uintptr_t)0xffffffffffff0000ull)
#define LOW_PTR ((void*)(uintptr_t)0x1000u) /* below the root VMAR */
#define NONCANON_PTR ((void*)(uintptr_t)0x0001000000000000ull)

/* ---- small helpers -------------------------------------------------------------------- */

void t_memset(void* dst, int c, size_t n);
void t_memcpy(void* dst, const void* src, size_t n);
int t_memcmp(const void* a, const void* b, size_t n);
size_t t_strlen(const char* s);
bool t_streq(const char* a, const char* b);
bool t_all_bytes(const void* p, int c, size_t n);
bool t_parse_u64(const char* s, uint64_t* out);
void t_fmt_hex(char* out, uint64_t v); /* "0x..." NUL-terminated, out >= 19 bytes */
void t_fmt_dec(char* out, uint64_t v); /* out >= 21 bytes */
void t_print(const char* s);           /* one zx_debug_write */

/* Page-sized scratch buffers (static: the stack may be small). */
extern uint8_t t_buf_a[4 * 4096];
extern uint8_t t_buf_b[4 * 4096];

/* Object info, failing the case on error. */
/* Both zero the record and fail the case on error. */
void t_basic(zx_handle_t h, zx_info_handle_basic_t* out);
void t_vmo_info(zx_handle_t h, zx_info_vmo_t* out);
zx_koid_t t_koid(zx_handle_t h);
zx_rights_t t_rights(zx_handle_t h);
uint64_t t_committed(zx_handle_t h);
bool t_handle_valid(zx_handle_t h);
/* Current signals of `h` (wait_one with a past deadline). */
zx_signals_t t_signals(zx_handle_t h);
/* System memory statistics; false when the topic is not available with any handle tried. */
bool t_kmem(zx_info_kmem_stats_t* out);
/* Pages of free memory that went away between two snapshots, not counting what the kernel
 * heap grew by (its growth is bookkeeping, not the pages under test). */
uint64_t t_pages_taken(const zx_info_kmem_stats_t* before, const zx_info_kmem_stats_t* after);

/* An unmapped but valid user range: a fresh empty sub-VMAR (tracked). 0 on failure. */
zx_vaddr_t t_unmapped_addr(void);
/* A read-only mapping of a fresh page VMO (tracked). 0 on failure. */
zx_vaddr_t t_readonly_page(void);

/* Raw system call: number in x16, four arguments; returns x0. */
uint64_t t_syscall(uint64_t num, uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3);

/* ---- threads of this process ------------------------------------------------------------ */

/* Starts a thread of this process at `entry(arg, 0)` on a fresh 64 KiB stack (the entry must
 * end with zx_thread_exit()). The thread handle is tracked; the stack is unmapped by
 * t_join_thread once the thread has ended (never before). ZX_HANDLE_INVALID (case failed)
 * on error. */
zx_handle_t t_start_thread(void (*entry)(uintptr_t, uintptr_t), uintptr_t arg);
/* Waits up to 5 s for the thread to end; fails the case otherwise. */
bool t_join_thread(zx_handle_t thread);

/* ---- child processes ------------------------------------------------------------------ */

/* Runs this program as `child MODE ARG` with extra handles; the exit code (negative when the
 * process was killed). Fails the case (and returns false) when the child cannot be started or
 * does not end within a few seconds (it is killed then). */
bool t_run_child(const char* mode, const char* arg, const zx_handle_t* handles, uint32_t nh,
                 int64_t* code);
/* Starts one without waiting; the process handle is tracked. */
bool t_spawn_child(const char* mode, const char* arg, const zx_handle_t* handles, uint32_t nh,
                   zx_handle_t* proc);
bool t_wait_child(zx_handle_t proc, zx_time_t timeout, int64_t* code);

extern const char* t_self_path;

/* Child-side entry (in child.c): runs `child MODE ARG...`, returns the exit code. */
int t_child_main(int argc, char** argv, int first);

/* Groups. */
extern const t_group t_group_vmo;
extern const t_group t_group_vmo_child;
extern const t_group t_group_handle;
extern const t_group t_group_object;
extern const t_group t_group_ports;
extern const t_group t_group_channel;
extern const t_group t_group_socket;
extern const t_group t_group_vmar;
extern const t_group t_group_process;
extern const t_group t_group_misc;
extern const t_group t_group_race;
extern const t_group t_group_stress;
extern const t_group t_group_timer;
extern const t_group t_group_futex;
extern const t_group t_group_job;

#endif /* CONFORMANCE_C_HARNESS_H_ */
