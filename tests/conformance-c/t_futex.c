/* Futexes (zx-abi-objects.md section 1) from C, and the libzircon helpers built on them:
 * zxr_mutex_t (<zxr/mutex.h>) and zxr_thread_create/join (<zxr/thread.h>). */
#include <zxr/mutex.h>
#include <zxr/thread.h>

#include "harness.h"

#define UNMAPPED_FUTEX ((const zx_futex_t*)LOW_PTR)
#define KERNEL_FUTEX ((const zx_futex_t*)KERNEL_PTR)

static zx_time_t after_ms(int64_t ms) { return zx_deadline_after(ZX_MSEC(ms)); }

static void futex_wait_rejects_null_unaligned_and_unreadable_pointers(void) {
    static zx_futex_t f;
    const char* p = (const char*)&f;
    CHECK_ST(zx_futex_wait(NULL, 0, ZX_HANDLE_INVALID, 0), ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_futex_wait((const zx_futex_t*)(p + 2), 0, ZX_HANDLE_INVALID, 0),
             ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_futex_wait(UNMAPPED_FUTEX, 0, ZX_HANDLE_INVALID, ZX_TIME_INFINITE),
             ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_futex_wait(KERNEL_FUTEX, 0, ZX_HANDLE_INVALID, ZX_TIME_INFINITE),
             ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_futex_wait((const zx_futex_t*)NONCANON_PTR, 0, ZX_HANDLE_INVALID, 0),
             ZX_ERR_INVALID_ARGS);
}

static void futex_wait_value_mismatch_is_bad_state_before_owner_errors(void) {
    static zx_futex_t f = 3;
    CHECK_ST(zx_futex_wait(&f, 2, ZX_HANDLE_INVALID, ZX_TIME_INFINITE), ZX_ERR_BAD_STATE);
    CHECK_ST(zx_futex_wait(&f, 2, 0x12345678u, ZX_TIME_INFINITE), ZX_ERR_BAD_STATE);
    CHECK_ST(zx_futex_wait(&f, 2, zx_process_self(), ZX_TIME_INFINITE), ZX_ERR_BAD_STATE);
}

static void futex_wait_owner_handle_rules(void) {
    static zx_futex_t f;
    NEW_VMO(v, PAGE, 0);
    CHECK_ST(zx_futex_wait(&f, 0, 0x12345678u, 0), ZX_ERR_BAD_HANDLE);
    CHECK_ST(zx_futex_wait(&f, 0, v, 0), ZX_ERR_WRONG_TYPE);
    zx_handle_t t = ZX_HANDLE_INVALID;
    CHECK_OK(zx_thread_create(zx_process_self(), "idle", 4, 0, &t));
    t_track(t);
    /* Not started: INVALID_ARGS, with or without rights on the handle. */
    CHECK_ST(zx_futex_wait(&f, 0, t, 0), ZX_ERR_INVALID_ARGS);
    NEW_DUP(bare, t, 0);
    CHECK_ST(zx_futex_wait(&f, 0, bare, 0), ZX_ERR_INVALID_ARGS);
}

static void futex_wait_deadlines_past_future_and_both_ends(void) {
    static zx_futex_t f;
    zx_time_t start = zx_clock_get_monotonic();
    CHECK_ST(zx_futex_wait(&f, 0, ZX_HANDLE_INVALID, 0), ZX_ERR_TIMED_OUT);
    CHECK_ST(zx_futex_wait(&f, 0, ZX_HANDLE_INVALID, ZX_TIME_INFINITE_PAST), ZX_ERR_TIMED_OUT);
    CHECK(zx_clock_get_monotonic() - start < ZX_MSEC(500));
    start = zx_clock_get_monotonic();
    CHECK_ST(zx_futex_wait(&f, 0, ZX_HANDLE_INVALID, after_ms(20)), ZX_ERR_TIMED_OUT);
    CHECK(zx_clock_get_monotonic() - start >= ZX_MSEC(20));
}

static void futex_wake_checks_only_the_pointer(void) {
    static zx_futex_t f;
    CHECK_ST(zx_futex_wake(NULL, 1), ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_futex_wake((const zx_futex_t*)((const char*)&f + 1), 1), ZX_ERR_INVALID_ARGS);
    CHECK_OK(zx_futex_wake(UNMAPPED_FUTEX, 1));
    CHECK_OK(zx_futex_wake(KERNEL_FUTEX, UINT32_MAX));
    CHECK_OK(zx_futex_wake(&f, 0));
    CHECK_OK(zx_futex_wake(&f, 0xfffffffeu));
}

static void futex_requeue_errors_in_order(void) {
    static zx_futex_t a, b;
    CHECK_ST(zx_futex_requeue(NULL, 1, 0, &b, 1, ZX_HANDLE_INVALID), ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_futex_requeue(&a, 1, 0, NULL, 1, ZX_HANDLE_INVALID), ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_futex_requeue(&a, 1, 0, &a, 1, ZX_HANDLE_INVALID), ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_futex_requeue(KERNEL_FUTEX, 1, 0, &b, 1, ZX_HANDLE_INVALID),
             ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_futex_requeue(&a, 1, 5, &b, 1, 0x12345678u), ZX_ERR_BAD_STATE);
    CHECK_ST(zx_futex_requeue(&a, 1, 0, &b, 1, 0x12345678u), ZX_ERR_BAD_HANDLE);
    CHECK_ST(zx_futex_requeue(&a, 1, 0, &b, 1, zx_process_self()), ZX_ERR_WRONG_TYPE);
    CHECK_OK(zx_futex_requeue(&a, UINT32_MAX, 0, &b, UINT32_MAX, ZX_HANDLE_INVALID));
}

/* ---- several waiters ------------------------------------------------------------------ */

static zx_futex_t g_futex;
static zx_futex_t g_second;
static volatile uint32_t g_ready;
static volatile uint32_t g_woken;
static volatile uint32_t g_bad;
static volatile uint32_t g_order[8];

static void waiter(uintptr_t id, uintptr_t unused) {
    (void)unused;
    __atomic_fetch_add(&g_ready, 1, __ATOMIC_SEQ_CST);
    zx_status_t s = zx_futex_wait(&g_futex, 0, ZX_HANDLE_INVALID, ZX_TIME_INFINITE);
    if (s == ZX_OK) {
        uint32_t i = __atomic_fetch_add(&g_woken, 1, __ATOMIC_SEQ_CST);
        if (i < 8) g_order[i] = (uint32_t)id;
    } else {
        __atomic_fetch_add(&g_bad, 1, __ATOMIC_SEQ_CST);
    }
    zx_thread_exit();
}

static void reset_waiters(void) {
    g_futex = 0;
    g_second = 0;
    g_ready = 0;
    g_woken = 0;
    g_bad = 0;
    for (int i = 0; i < 8; i++) g_order[i] = 0;
}

/* Starts `n` waiters one after another (each queued before the next starts). */
static void start_waiters(zx_handle_t* threads, uint32_t n) {
    for (uint32_t i = 0; i < n; i++) {
        threads[i] = t_start_thread(waiter, i + 1);
        CHECK(threads[i] != ZX_HANDLE_INVALID);
        zx_time_t until = after_ms(2000);
        while (__atomic_load_n(&g_ready, __ATOMIC_SEQ_CST) < i + 1 &&
               zx_clock_get_monotonic() < until)
            zx_nanosleep(after_ms(1));
        zx_nanosleep(after_ms(10));
    }
    zx_nanosleep(after_ms(20));
}

/* Waits until `n` are woken, then checks it stays `n`. */
static void expect_woken(uint32_t n) {
    zx_time_t until = after_ms(2000);
    while (__atomic_load_n(&g_woken, __ATOMIC_SEQ_CST) < n && zx_clock_get_monotonic() < until)
        zx_nanosleep(after_ms(1));
    zx_nanosleep(after_ms(20));
    CHECK_EQ(g_woken, n);
    CHECK_EQ(g_bad, 0);
}

static void futex_wake_one_wakes_exactly_one_in_fifo_order(void) {
    reset_waiters();
    zx_handle_t t[4];
    start_waiters(t, 4);
    CHECK_HELPER();
    CHECK_EQ(g_woken, 0);
    CHECK_OK(zx_futex_wake(&g_futex, 1));
    expect_woken(1);
    CHECK_HELPER();
    CHECK_EQ(g_order[0], 1);
    CHECK_OK(zx_futex_wake(&g_futex, 2));
    expect_woken(3);
    CHECK_HELPER();
    CHECK_EQ(g_order[1] + g_order[2], 5); /* 2 and 3, in either finishing order */
    CHECK_OK(zx_futex_wake(&g_futex, UINT32_MAX));
    expect_woken(4);
    CHECK_HELPER();
    CHECK_EQ(g_order[3], 4);
    for (int i = 0; i < 4; i++) CHECK(t_join_thread(t[i]));
}

static void futex_requeue_moves_to_the_second_futex(void) {
    reset_waiters();
    zx_handle_t t[3];
    start_waiters(t, 3);
    CHECK_HELPER();
    /* Wake none, move two; the third stays. */
    CHECK_OK(zx_futex_requeue(&g_futex, 0, 0, &g_second, 2, ZX_HANDLE_INVALID));
    expect_woken(0);
    CHECK_HELPER();
    CHECK_OK(zx_futex_wake(&g_futex, UINT32_MAX));
    expect_woken(1);
    CHECK_HELPER();
    CHECK_EQ(g_order[0], 3);
    CHECK_OK(zx_futex_wake(&g_second, UINT32_MAX));
    expect_woken(3);
    CHECK_HELPER();
    for (int i = 0; i < 3; i++) CHECK(t_join_thread(t[i]));
}

static void futex_owner_waiting_on_the_futex_is_invalid_args(void) {
    reset_waiters();
    zx_handle_t t[1];
    start_waiters(t, 1);
    CHECK_HELPER();
    CHECK_ST(zx_futex_wait(&g_futex, 0, t[0], after_ms(5)), ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_futex_requeue(&g_second, 0, 0, &g_futex, 0, t[0]), ZX_ERR_INVALID_ARGS);
    /* A thread waiting elsewhere may own: the wait goes on to its deadline. */
    static zx_futex_t other;
    CHECK_ST(zx_futex_wait(&other, 0, t[0], after_ms(5)), ZX_ERR_TIMED_OUT);
    CHECK_OK(zx_futex_wake(&g_futex, 1));
    expect_woken(1);
    CHECK_HELPER();
    CHECK(t_join_thread(t[0]));
}

static void futex_killed_waiter_leaves_the_queue(void) {
    reset_waiters();
    zx_handle_t t[2];
    start_waiters(t, 2);
    CHECK_HELPER();
    CHECK_OK(zx_task_kill(t[0]));
    zx_signals_t obs = 0;
    CHECK_OK(zx_object_wait_one(t[0], ZX_THREAD_TERMINATED, after_ms(5000), &obs));
    CHECK_OK(zx_futex_wake(&g_futex, 1));
    expect_woken(1);
    CHECK_HELPER();
    CHECK_EQ(g_order[0], 2);
    CHECK(t_join_thread(t[1]));
}

/* ---- zxr_mutex_t and zxr_thread ------------------------------------------------------- */

#define COUNTER_THREADS 4
#define COUNTER_ROUNDS 20000

static zxr_mutex_t g_mutex = ZXR_MUTEX_INIT;
static volatile uint64_t g_counter;

static int count_up(void* arg) {
    (void)arg;
    for (int i = 0; i < COUNTER_ROUNDS; i++) {
        zxr_mutex_lock(&g_mutex);
        uint64_t v = g_counter;
        g_counter = v + 1;
        zxr_mutex_unlock(&g_mutex);
    }
    return 7;
}

static void zxr_mutex_counter_reaches_the_exact_total(void) {
    g_counter = 0;
    zxr_thread_t threads[COUNTER_THREADS];
    for (int i = 0; i < COUNTER_THREADS; i++)
        CHECK_OK(zxr_thread_create(&threads[i], count_up, NULL, "counter", 0));
    for (int i = 0; i < COUNTER_THREADS; i++) {
        int result = 0;
        CHECK_OK(zxr_thread_join(&threads[i], &result));
        CHECK_EQ(result, 7);
    }
    CHECK_EQ(g_counter, (uint64_t)COUNTER_THREADS * COUNTER_ROUNDS);
    CHECK_EQ(g_mutex.futex, 0);
}

static void zxr_mutex_trylock_and_uncontended_word(void) {
    zxr_mutex_t m = ZXR_MUTEX_INIT;
    CHECK_OK(zxr_mutex_trylock(&m));
    CHECK_EQ(m.futex, 1);
    CHECK_ST(zxr_mutex_trylock(&m), ZX_ERR_BAD_STATE);
    zxr_mutex_unlock(&m);
    CHECK_EQ(m.futex, 0);
    zxr_mutex_lock(&m);
    CHECK_EQ(m.futex, 1);
    zxr_mutex_unlock(&m);
}

static int return_arg(void* arg) { return (int)(uintptr_t)arg; }

static void zxr_thread_create_join_passes_the_result_and_leaks_nothing(void) {
    zxr_thread_t t;
    CHECK_ST(zxr_thread_create(NULL, return_arg, NULL, "x", 0), ZX_ERR_INVALID_ARGS);
    CHECK_ST(zxr_thread_create(&t, NULL, NULL, "x", 0), ZX_ERR_INVALID_ARGS);
    zx_info_kmem_stats_t before, now;
    for (int round = 0; round < 2; round++) {
        if (round == 1) CHECK(t_kmem(&before));
        for (int i = 0; i < 100; i++) {
            CHECK_OK(zxr_thread_create(&t, return_arg, (void*)(uintptr_t)i, NULL, 0));
            int result = -1;
            CHECK_OK(zxr_thread_join(&t, &result));
            CHECK_EQ(result, i);
            CHECK_EQ(t.done, 1);
        }
    }
    zx_time_t until = after_ms(2000);
    for (;;) {
        zx_nanosleep(after_ms(5));
        CHECK(t_kmem(&now));
        uint64_t hb = before.total_heap_bytes - before.free_heap_bytes;
        uint64_t ha = now.total_heap_bytes - now.free_heap_bytes;
        uint64_t lost =
            now.free_bytes < before.free_bytes ? (before.free_bytes - now.free_bytes) / PAGE : 0;
        if ((ha <= hb || ha - hb <= 8 * 1024) && lost <= 16) return;
        if (zx_clock_get_monotonic() > until) {
            t_fail_msg(__FILE__, __LINE__, "thread create/join leaked pages:", lost);
            return;
        }
    }
}

static const t_case k_cases[] = {
    T_CASE(futex_wait_rejects_null_unaligned_and_unreadable_pointers),
    T_CASE(futex_wait_value_mismatch_is_bad_state_before_owner_errors),
    T_CASE(futex_wait_owner_handle_rules),
    T_CASE(futex_wait_deadlines_past_future_and_both_ends),
    T_CASE(futex_wake_checks_only_the_pointer),
    T_CASE(futex_requeue_errors_in_order),
    T_CASE(futex_wake_one_wakes_exactly_one_in_fifo_order),
    T_CASE(futex_requeue_moves_to_the_second_futex),
    T_CASE(futex_owner_waiting_on_the_futex_is_invalid_args),
    T_CASE(futex_killed_waiter_leaves_the_queue),
    T_CASE(zxr_mutex_counter_reaches_the_exact_total),
    T_CASE(zxr_mutex_trylock_and_uncontended_word),
    T_CASE(zxr_thread_create_join_passes_the_result_and_leaks_nothing),
};

const t_group t_group_futex = {k_cases, T_COUNT(k_cases)};
