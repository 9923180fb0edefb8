/* conformance-c: failure reporting, resource tracking and helpers. */
#include "harness.h"

uint8_t t_buf_a[4 * 4096];
uint8_t t_buf_b[4 * 4096];

const char* t_self_path = "bin/conformance-c";

/* ---- small helpers -------------------------------------------------------------------- */

/* Byte loops through volatile pointers so the compiler cannot turn them into calls to
 * memset/memcpy, which nothing provides here. */
void t_memset(void* dst, int c, size_t n) {
    volatile uint8_t* d = (volatile uint8_t*)dst;
    for (size_t i = 0; i < n; i++) d[i] = (uint8_t)c;
}

void t_memcpy(void* dst, const void* src, size_t n) {
    volatile uint8_t* d = (volatile uint8_t*)dst;
    const volatile uint8_t* s = (const volatile uint8_t*)src;
    for (size_t i = 0; i < n; i++) d[i] = s[i];
}

int t_memcmp(const void* a, const void* b, size_t n) {
    const volatile uint8_t* x = (const volatile uint8_t*)a;
    const volatile uint8_t* y = (const volatile uint8_t*)b;
    for (size_t i = 0; i < n; i++) {
        if (x[i] != y[i]) return x[i] < y[i] ? -1 : 1;
    }
    return 0;
}

size_t t_strlen(const char* s) {
    size_t n = 0;
    while (s[n]) n++;
    return n;
}

bool t_streq(const char* a, const char* b) {
    while (*a && *a == *b) {
        a++;
        b++;
    }
    return *a == *b;
}

bool t_all_bytes(const void* p, int c, size_t n) {
    const volatile uint8_t* x = (const volatile uint8_t*)p;
    for (size_t i = 0; i < n; i++) {
        if (x[i] != (uint8_t)c) return false;
    }
    return true;
}

bool t_parse_u64(const char* s, uint64_t* out) {
    uint64_t v = 0;
    if (!s || !*s) return false;
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        s += 2;
        if (!*s) return false;
        for (; *s; s++) {
            uint64_t d;
            if (*s >= '0' && *s <= '9') d = (uint64_t)(*s - '0');
            else if (*s >= 'a' && *s <= 'f') d = (uint64_t)(*s - 'a' + 10);
            else if (*s >= 'A' && *s <= 'F') d = (uint64_t)(*s - 'A' + 10);
            else return false;
            v = (v << 4) | d;
        }
    } else {
        for (; *s; s++) {
            if (*s < '0' || *s > '9') return false;
            v = v * 10 + (uint64_t)(*s - '0');
        }
    }
    *out = v;
    return true;
}

void t_fmt_hex(char* out, uint64_t v) {
    static const char digits[] = "0123456789abcdef";
    char tmp[16];
    int n = 0;
    do {
        tmp[n++] = digits[v & 0xf];
        v >>= 4;
    } while (v);
    out[0] = '0';
    out[1] = 'x';
    int i = 2;
    while (n) out[i++] = tmp[--n];
    out[i] = 0;
}

void t_fmt_dec(char* out, uint64_t v) {
    char tmp[20];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    int i = 0;
    while (n) out[i++] = tmp[--n];
    out[i] = 0;
}

void t_print(const char* s) {
    zx_debug_write(s, t_strlen(s));
}

/* ---- failure reporting ---------------------------------------------------------------- */

static bool g_failed;
static char g_msg[400];
static size_t g_len;

static void msg_add(const char* s) {
    while (*s && g_len + 1 < sizeof(g_msg)) g_msg[g_len++] = *s++;
    g_msg[g_len] = 0;
}

static void msg_dec(int64_t v) {
    char b[24];
    if (v < 0) {
        msg_add("-");
        t_fmt_dec(b, (uint64_t)(-(v + 1)) + 1);
    } else {
        t_fmt_dec(b, (uint64_t)v);
    }
    msg_add(b);
}

static void msg_hex(uint64_t v) {
    char b[24];
    t_fmt_hex(b, v);
    msg_add(b);
}

static const char* status_name(zx_status_t s) {
    switch (s) {
    case ZX_OK: return "ZX_OK";
    case ZX_ERR_INTERNAL: return "ZX_ERR_INTERNAL";
    case ZX_ERR_NOT_SUPPORTED: return "ZX_ERR_NOT_SUPPORTED";
    case ZX_ERR_NO_RESOURCES: return "ZX_ERR_NO_RESOURCES";
    case ZX_ERR_NO_MEMORY: return "ZX_ERR_NO_MEMORY";
    case ZX_ERR_INVALID_ARGS: return "ZX_ERR_INVALID_ARGS";
    case ZX_ERR_BAD_HANDLE: return "ZX_ERR_BAD_HANDLE";
    case ZX_ERR_WRONG_TYPE: return "ZX_ERR_WRONG_TYPE";
    case ZX_ERR_BAD_SYSCALL: return "ZX_ERR_BAD_SYSCALL";
    case ZX_ERR_OUT_OF_RANGE: return "ZX_ERR_OUT_OF_RANGE";
    case ZX_ERR_BUFFER_TOO_SMALL: return "ZX_ERR_BUFFER_TOO_SMALL";
    case ZX_ERR_BAD_STATE: return "ZX_ERR_BAD_STATE";
    case ZX_ERR_TIMED_OUT: return "ZX_ERR_TIMED_OUT";
    case ZX_ERR_SHOULD_WAIT: return "ZX_ERR_SHOULD_WAIT";
    case ZX_ERR_CANCELED: return "ZX_ERR_CANCELED";
    case ZX_ERR_PEER_CLOSED: return "ZX_ERR_PEER_CLOSED";
    case ZX_ERR_NOT_FOUND: return "ZX_ERR_NOT_FOUND";
    case ZX_ERR_ALREADY_EXISTS: return "ZX_ERR_ALREADY_EXISTS";
    case ZX_ERR_UNAVAILABLE: return "ZX_ERR_UNAVAILABLE";
    case ZX_ERR_ACCESS_DENIED: return "ZX_ERR_ACCESS_DENIED";
    default: return NULL;
    }
}

static void msg_status(zx_status_t s) {
    const char* n = status_name(s);
    if (n) {
        msg_add(n);
    } else {
        msg_dec(s);
    }
}

static const char* g_ctx_what;
static uint64_t g_ctx_value;

void t_context(const char* what, uint64_t value) {
    g_ctx_what = what;
    g_ctx_value = value;
}

static void msg_where(const char* file, int line) {
    const char* base = file;
    for (const char* p = file; *p; p++) {
        if (*p == '/') base = p + 1;
    }
    msg_add(" at ");
    msg_add(base);
    msg_add(":");
    msg_dec(line);
    if (g_ctx_what) {
        msg_add(" (");
        msg_add(g_ctx_what);
        msg_add(" = ");
        msg_hex(g_ctx_value);
        msg_add(")");
    }
}

static bool begin_failure(void) {
    if (g_failed) return false;
    g_failed = true;
    g_len = 0;
    g_msg[0] = 0;
    return true;
}

bool t_failed(void) {
    return g_failed;
}

void t_fail_status(const char* file, int line, zx_status_t want, zx_status_t got) {
    if (!begin_failure()) return;
    msg_add("expected ");
    msg_status(want);
    msg_add(" got ");
    msg_dec(got);
    if (status_name(got)) {
        msg_add(" (");
        msg_add(status_name(got));
        msg_add(")");
    }
    msg_where(file, line);
}

void t_fail_status2(const char* file, int line, zx_status_t want1, zx_status_t want2,
                    zx_status_t got) {
    if (!begin_failure()) return;
    msg_add("expected ");
    msg_status(want1);
    msg_add(" or ");
    msg_status(want2);
    msg_add(" got ");
    msg_dec(got);
    if (status_name(got)) {
        msg_add(" (");
        msg_add(status_name(got));
        msg_add(")");
    }
    msg_where(file, line);
}

void t_fail_cond(const char* file, int line, const char* cond) {
    if (!begin_failure()) return;
    msg_add("check `");
    msg_add(cond);
    msg_add("` is false");
    msg_where(file, line);
}

void t_fail_eq(const char* file, int line, const char* what, uint64_t got, uint64_t want) {
    if (!begin_failure()) return;
    msg_add(what);
    msg_add(" is ");
    msg_hex(got);
    msg_add(", expected ");
    msg_hex(want);
    msg_where(file, line);
}

void t_fail_msg(const char* file, int line, const char* msg, uint64_t value) {
    if (!begin_failure()) return;
    msg_add(msg);
    msg_add(" ");
    msg_dec((int64_t)value);
    msg_where(file, line);
}

/* Used by main.c. */
void t_reset_case(void);
const char* t_failure_message(void);

void t_reset_case(void) {
    g_ctx_what = NULL;
    g_failed = false;
    g_len = 0;
    g_msg[0] = 0;
}

const char* t_failure_message(void) {
    return g_msg;
}

/* ---- tracking ------------------------------------------------------------------------- */

#define MAX_TRACKED 256
static zx_handle_t g_handles[MAX_TRACKED];
static size_t g_nhandles;
static zx_handle_t g_vmars[32];
static size_t g_nvmars;
static struct {
    zx_vaddr_t addr;
    size_t len;
} g_maps[64];
static size_t g_nmaps;

zx_handle_t t_track(zx_handle_t h) {
    if (h != ZX_HANDLE_INVALID && g_nhandles < MAX_TRACKED) g_handles[g_nhandles++] = h;
    return h;
}

void t_untrack(zx_handle_t h) {
    for (size_t i = 0; i < g_nhandles; i++) {
        if (g_handles[i] == h) {
            g_handles[i] = g_handles[--g_nhandles];
            return;
        }
    }
}

zx_handle_t t_track_vmar(zx_handle_t vmar) {
    if (vmar != ZX_HANDLE_INVALID && g_nvmars < T_COUNT(g_vmars)) g_vmars[g_nvmars++] = vmar;
    return vmar;
}

void t_track_map(zx_vaddr_t addr, size_t len) {
    if (g_nmaps < T_COUNT(g_maps)) {
        g_maps[g_nmaps].addr = addr;
        g_maps[g_nmaps].len = len;
        g_nmaps++;
    }
}

void t_untrack_map(zx_vaddr_t addr) {
    for (size_t i = 0; i < g_nmaps; i++) {
        if (g_maps[i].addr == addr) {
            g_maps[i] = g_maps[--g_nmaps];
            return;
        }
    }
}

void t_cleanup(void) {
    for (size_t i = 0; i < g_nmaps; i++) {
        zx_vmar_unmap(zx_vmar_root_self(), g_maps[i].addr, g_maps[i].len);
    }
    g_nmaps = 0;
    for (size_t i = 0; i < g_nvmars; i++) {
        zx_vmar_destroy(g_vmars[i]);
        zx_handle_close(g_vmars[i]);
    }
    g_nvmars = 0;
    for (size_t i = 0; i < g_nhandles; i++) {
        zx_handle_close(g_handles[i]);
    }
    g_nhandles = 0;
}

/* ---- object info ---------------------------------------------------------------------- */

void t_basic(zx_handle_t h, zx_info_handle_basic_t* out) {
    t_memset(out, 0, sizeof(*out));
    size_t actual = 0, avail = 0;
    zx_status_t s =
        zx_object_get_info(h, ZX_INFO_HANDLE_BASIC, out, sizeof(*out), &actual, &avail);
    if (s != ZX_OK) {
        t_fail_status(__FILE__, __LINE__, ZX_OK, s);
        t_memset(out, 0, sizeof(*out));
    }
}

void t_vmo_info(zx_handle_t h, zx_info_vmo_t* out) {
    t_memset(out, 0, sizeof(*out));
    size_t actual = 0, avail = 0;
    zx_status_t s = zx_object_get_info(h, ZX_INFO_VMO, out, sizeof(*out), &actual, &avail);
    if (s != ZX_OK) {
        t_fail_status(__FILE__, __LINE__, ZX_OK, s);
        t_memset(out, 0, sizeof(*out));
    }
}

zx_koid_t t_koid(zx_handle_t h) {
    zx_info_handle_basic_t b;
    t_basic(h, &b);
    return b.koid;
}

zx_rights_t t_rights(zx_handle_t h) {
    zx_info_handle_basic_t b;
    t_basic(h, &b);
    return b.rights;
}

uint64_t t_committed(zx_handle_t h) {
    zx_info_vmo_t v;
    t_vmo_info(h, &v);
    return v.committed_bytes;
}

bool t_handle_valid(zx_handle_t h) {
    /* Real pointers everywhere: optional outputs are not this helper's question. */
    uint64_t dummy = 0;
    size_t actual = 0, avail = 0;
    return zx_object_get_info(h, ZX_INFO_HANDLE_VALID, &dummy, 0, &actual, &avail) == ZX_OK;
}

zx_signals_t t_signals(zx_handle_t h) {
    zx_signals_t observed = 0;
    zx_status_t s = zx_object_wait_one(h, 0, 0, &observed);
    if (s != ZX_ERR_TIMED_OUT && s != ZX_OK) {
        t_fail_status(__FILE__, __LINE__, ZX_ERR_TIMED_OUT, s);
    }
    return observed;
}

bool t_kmem(zx_info_kmem_stats_t* out) {
    zx_handle_t candidates[3] = {zx_process_self(), ZX_HANDLE_INVALID, zx_vmar_root_self()};
    for (size_t i = 0; i < 3; i++) {
        size_t actual = 0, avail = 0;
        t_memset(out, 0, sizeof(*out));
        if (zx_object_get_info(candidates[i], ZX_INFO_KMEM_STATS, out, sizeof(*out), &actual,
                               &avail) == ZX_OK) {
            return true;
        }
    }
    return false;
}

uint64_t t_pages_taken(const zx_info_kmem_stats_t* before, const zx_info_kmem_stats_t* after) {
    if (after->free_bytes >= before->free_bytes) return 0;
    uint64_t taken = before->free_bytes - after->free_bytes;
    if (after->total_heap_bytes > before->total_heap_bytes) {
        uint64_t heap = after->total_heap_bytes - before->total_heap_bytes;
        taken = taken > heap ? taken - heap : 0;
    }
    return taken / PAGE;
}

zx_vaddr_t t_unmapped_addr(void) {
    zx_handle_t vmar = ZX_HANDLE_INVALID;
    zx_vaddr_t addr = 0;
    zx_status_t s = zx_vmar_allocate(zx_vmar_root_self(),
                                     ZX_VM_CAN_MAP_READ | ZX_VM_CAN_MAP_WRITE, 0, 16 * PAGE,
                                     &vmar, &addr);
    if (s != ZX_OK) {
        t_fail_status(__FILE__, __LINE__, ZX_OK, s);
        return 0;
    }
    t_track_vmar(vmar);
    return addr + 4 * PAGE;
}

zx_vaddr_t t_readonly_page(void) {
    zx_handle_t vmo = ZX_HANDLE_INVALID;
    zx_status_t s = zx_vmo_create(PAGE, 0, &vmo);
    if (s != ZX_OK) {
        t_fail_status(__FILE__, __LINE__, ZX_OK, s);
        return 0;
    }
    t_track(vmo);
    zx_vaddr_t addr = 0;
    s = zx_vmar_map(zx_vmar_root_self(), ZX_VM_PERM_READ, 0, vmo, 0, PAGE, &addr);
    if (s != ZX_OK) {
        t_fail_status(__FILE__, __LINE__, ZX_OK, s);
        return 0;
    }
    t_track_map(addr, PAGE);
    return addr;
}

/* ---- raw system calls ----------------------------------------------------------------- */

uint64_t t_syscall(uint64_t num, uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3) {
    register uint64_t x0 __asm__("x0") = a0;
    register uint64_t x1 __asm__("x1") = a1;
    register uint64_t x2 __asm__("x2") = a2;
    register uint64_t x3 __asm__("x3") = a3;
    register uint64_t x16 __asm__("x16") = num;
    /* The contract preserves everything but x16/x17; declare more clobbers anyway so that a
     * kernel breaking it cannot corrupt this program (a dedicated case checks the rule). */
    __asm__ volatile("svc #0"
                     : "+r"(x0), "+r"(x1), "+r"(x2), "+r"(x3), "+r"(x16)
                     :
                     : "x4", "x5", "x6", "x7", "x8", "x9", "x10", "x11", "x12", "x13", "x14",
                       "x15", "x17", "memory");
    return x0;
}

/* ---- child processes ------------------------------------------------------------------ */

bool t_spawn_child(const char* mode, const char* arg, const zx_handle_t* handles, uint32_t nh,
                   zx_handle_t* proc) {
    const char* argv[4] = {t_self_path, "child", mode, arg};
    int argc = arg ? 4 : 3;
    *proc = ZX_HANDLE_INVALID;
    zx_status_t s = zxr_spawn(t_self_path, argc, argv, handles, nh, proc);
    if (s != ZX_OK) {
        t_fail_status(__FILE__, __LINE__, ZX_OK, s);
        return false;
    }
    t_track(*proc);
    return true;
}

bool t_wait_child(zx_handle_t proc, zx_time_t timeout, int64_t* code) {
    zx_signals_t observed = 0;
    zx_status_t s =
        zx_object_wait_one(proc, ZX_PROCESS_TERMINATED, zx_deadline_after(timeout), &observed);
    if (s != ZX_OK) {
        zx_task_kill(proc);
        zx_object_wait_one(proc, ZX_PROCESS_TERMINATED, zx_deadline_after(ZX_SEC(2)),
                           &observed);
        t_fail_status(__FILE__, __LINE__, ZX_OK, s);
        return false;
    }
    *code = 0;
    s = zxr_wait_exit(proc, code);
    if (s != ZX_OK) {
        t_fail_status(__FILE__, __LINE__, ZX_OK, s);
        return false;
    }
    return true;
}

bool t_run_child(const char* mode, const char* arg, const zx_handle_t* handles, uint32_t nh,
                 int64_t* code) {
    zx_handle_t proc;
    if (!t_spawn_child(mode, arg, handles, nh, &proc)) return false;
    return t_wait_child(proc, ZX_SEC(5), code);
}

/* ---- threads ----------------------------------------------------------------------------- */

#define THREAD_STACK (16 * PAGE)
static struct {
    zx_handle_t thread;
    zx_vaddr_t stack;
} g_threads[8];

zx_handle_t t_start_thread(void (*entry)(uintptr_t, uintptr_t), uintptr_t arg) {
    size_t slot = 0;
    while (slot < T_COUNT(g_threads) && g_threads[slot].thread != ZX_HANDLE_INVALID) slot++;
    if (slot == T_COUNT(g_threads)) {
        t_fail_msg(__FILE__, __LINE__, "too many threads:", slot);
        return ZX_HANDLE_INVALID;
    }
    zx_handle_t thread = ZX_HANDLE_INVALID;
    zx_status_t s = zx_thread_create(zx_process_self(), "helper", 6, 0, &thread);
    if (s != ZX_OK) {
        t_fail_status(__FILE__, __LINE__, ZX_OK, s);
        return ZX_HANDLE_INVALID;
    }
    t_track(thread);
    zx_handle_t stack_vmo;
    s = zx_vmo_create(THREAD_STACK, 0, &stack_vmo);
    if (s != ZX_OK) {
        t_fail_status(__FILE__, __LINE__, ZX_OK, s);
        return ZX_HANDLE_INVALID;
    }
    zx_vaddr_t stack = 0;
    s = zx_vmar_map(zx_vmar_root_self(), RW, 0, stack_vmo, 0, THREAD_STACK, &stack);
    zx_handle_close(stack_vmo);
    if (s != ZX_OK) {
        t_fail_status(__FILE__, __LINE__, ZX_OK, s);
        return ZX_HANDLE_INVALID;
    }
    s = zx_thread_start(thread, (zx_vaddr_t)entry, stack + THREAD_STACK, arg, 0);
    if (s != ZX_OK) {
        zx_vmar_unmap(zx_vmar_root_self(), stack, THREAD_STACK);
        t_fail_status(__FILE__, __LINE__, ZX_OK, s);
        return ZX_HANDLE_INVALID;
    }
    g_threads[slot].thread = thread;
    g_threads[slot].stack = stack;
    return thread;
}

bool t_join_thread(zx_handle_t thread) {
    zx_signals_t observed = 0;
    zx_status_t s =
        zx_object_wait_one(thread, ZX_THREAD_TERMINATED, zx_deadline_after(ZX_SEC(5)), &observed);
    if (s != ZX_OK) {
        /* Leave the stack mapped: the thread may still run. */
        t_fail_status(__FILE__, __LINE__, ZX_OK, s);
        return false;
    }
    for (size_t i = 0; i < T_COUNT(g_threads); i++) {
        if (g_threads[i].thread == thread) {
            zx_vmar_unmap(zx_vmar_root_self(), g_threads[i].stack, THREAD_STACK);
            g_threads[i].thread = ZX_HANDLE_INVALID;
        }
    }
    return true;
}
