/* conformance-c: timers (zx_timer_*, ZX_INFO_TIMER), deadlines finer than the scheduler tick,
 * and the random generator (zx_cprng_draw, zx_cprng_add_entropy): sections 4 and 9 of
 * zx-abi-objects.md, from C through <zircon/syscalls.h>. */
#include "harness.h"
#include "child.h"

#define US 1000ll
#define MS 1000000ll

/* A tracked timer; ZX_HANDLE_INVALID (and the case failed) if it cannot be made. */
static zx_handle_t new_timer(uint32_t options) {
    zx_handle_t h = ZX_HANDLE_INVALID;
    zx_status_t s = zx_timer_create(options, ZX_CLOCK_MONOTONIC, &h);
    if (s != ZX_OK) {
        t_fail_status(__FILE__, __LINE__, ZX_OK, s);
        return ZX_HANDLE_INVALID;
    }
    return t_track(h);
}

static bool signaled(zx_handle_t h) {
    return (t_signals(h) & ZX_TIMER_SIGNALED) != 0;
}

static void timer_create_checks_options_clock_and_out(void) {
    zx_handle_t h;
    CHECK_OK(zx_timer_create(ZX_TIMER_SLACK_CENTER, ZX_CLOCK_MONOTONIC, &h));
    t_track(h);
    CHECK_OK(zx_timer_create(ZX_TIMER_SLACK_EARLY, ZX_CLOCK_MONOTONIC, &h));
    t_track(h);
    CHECK_OK(zx_timer_create(ZX_TIMER_SLACK_LATE, ZX_CLOCK_MONOTONIC, &h));
    t_track(h);
    CHECK_ST(zx_timer_create(3, ZX_CLOCK_MONOTONIC, &h), ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_timer_create(0xffffffffu, ZX_CLOCK_MONOTONIC, &h), ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_timer_create(0, 1, &h), ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_timer_create(0, 0xffffffffu, &h), ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_timer_create(0, ZX_CLOCK_MONOTONIC, NULL), ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_timer_create(0, ZX_CLOCK_MONOTONIC, (zx_handle_t*)0xffff000000000000ull),
             ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_timer_create(0, ZX_CLOCK_MONOTONIC, (zx_handle_t*)t_unmapped_addr()),
             ZX_ERR_INVALID_ARGS);
}

static void timer_default_rights_and_type(void) {
    zx_handle_t t = new_timer(0);
    zx_info_handle_basic_t b;
    t_basic(t, &b);
    CHECK_EQ(b.type, ZX_OBJ_TYPE_TIMER);
    CHECK_EQ(b.rights, ZX_DEFAULT_TIMER_RIGHTS);
    CHECK_EQ(b.rights, 0xD00Bu);
    CHECK_EQ(t_signals(t), 0);
}

static void timer_lookup_order_and_write_right(void) {
    zx_handle_t t = new_timer(0);
    zx_handle_t ro;
    CHECK_OK(zx_handle_duplicate(t, ZX_RIGHTS_BASIC, &ro));
    t_track(ro);
    CHECK_ST(zx_timer_set(ro, 0, 0), ZX_ERR_ACCESS_DENIED);
    CHECK_ST(zx_timer_set(ro, 0, -1), ZX_ERR_ACCESS_DENIED);
    CHECK_ST(zx_timer_cancel(ro), ZX_ERR_ACCESS_DENIED);
    CHECK(!signaled(t));
    NEW_VMO(vmo, PAGE, 0);
    CHECK_ST(zx_timer_set(vmo, 0, 0), ZX_ERR_WRONG_TYPE);
    CHECK_ST(zx_timer_cancel(vmo), ZX_ERR_WRONG_TYPE);
    CHECK_ST(zx_timer_set(ZX_HANDLE_INVALID, 0, -1), ZX_ERR_BAD_HANDLE);
    CHECK_ST(zx_timer_cancel(0x7ffffff0u), ZX_ERR_BAD_HANDLE);
    zx_handle_t w;
    CHECK_OK(zx_handle_duplicate(t, ZX_RIGHT_WRITE, &w));
    t_track(w);
    CHECK_OK(zx_timer_set(w, 0, 0));
    CHECK(signaled(t));
    CHECK_OK(zx_timer_cancel(w));
    CHECK(!signaled(t));
}

static void timer_negative_slack_is_out_of_range_and_changes_nothing(void) {
    zx_handle_t t = new_timer(0);
    CHECK_OK(zx_timer_set(t, 0, 0));
    CHECK_ST(zx_timer_set(t, zx_clock_get_monotonic() + 1000 * MS, -1), ZX_ERR_OUT_OF_RANGE);
    CHECK_ST(zx_timer_set(t, zx_clock_get_monotonic() + 1000 * MS, INT64_MIN),
             ZX_ERR_OUT_OF_RANGE);
    CHECK(signaled(t));
}

static void timer_fires_not_before_deadline_minus_slack(void) {
    static const struct {
        uint32_t options;
        int64_t slack;
    } kinds[] = {{ZX_TIMER_SLACK_CENTER, 0}, {ZX_TIMER_SLACK_CENTER, 500 * US},
                 {ZX_TIMER_SLACK_EARLY, 500 * US}, {ZX_TIMER_SLACK_LATE, 0},
                 {ZX_TIMER_SLACK_LATE, 500 * US}};
    for (size_t i = 0; i < T_COUNT(kinds); i++) {
        t_context("kind", i);
        zx_handle_t t = new_timer(kinds[i].options);
        zx_time_t deadline = zx_clock_get_monotonic() + 2 * MS;
        CHECK_OK(zx_timer_set(t, deadline, kinds[i].slack));
        zx_signals_t obs;
        CHECK_OK(zx_object_wait_one(t, ZX_TIMER_SIGNALED, zx_deadline_after(5000 * MS), &obs));
        zx_time_t at = zx_clock_get_monotonic();
        zx_time_t earliest = deadline;
        if (kinds[i].options != ZX_TIMER_SLACK_LATE) earliest -= kinds[i].slack;
        CHECK(at >= earliest);
        CHECK(obs & ZX_TIMER_SIGNALED);
    }
}

static void print_latency(const char* what, int64_t late) {
    char num[24];
    t_print("  ");
    t_print(what);
    t_print(": 100 us deadline, late by ");
    t_fmt_dec(num, (uint64_t)(late / US));
    t_print(num);
    t_print(" us (best of 5)\n");
}

static void timer_100us_fires_well_within_the_tick(void) {
    zx_handle_t t = new_timer(0);
    int64_t best = INT64_MAX;
    for (int i = 0; i < 5; i++) {
        zx_time_t deadline = zx_clock_get_monotonic() + 100 * US;
        CHECK_OK(zx_timer_set(t, deadline, 0));
        CHECK_OK(zx_object_wait_one(t, ZX_TIMER_SIGNALED, ZX_TIME_INFINITE, NULL));
        int64_t late = zx_clock_get_monotonic() - deadline;
        CHECK(late >= 0);
        if (late < best) best = late;
    }
    print_latency("zx_timer_set", best);
    /* The 10 ms tick would give up to 10 ms. */
    CHECK(best < 2 * MS);
}

static void timer_nanosleep_100us_well_within_the_tick(void) {
    int64_t best = INT64_MAX;
    for (int i = 0; i < 5; i++) {
        zx_time_t deadline = zx_clock_get_monotonic() + 100 * US;
        CHECK_OK(zx_nanosleep(deadline));
        int64_t late = zx_clock_get_monotonic() - deadline;
        CHECK(late >= 0);
        if (late < best) best = late;
    }
    print_latency("zx_nanosleep", best);
    CHECK(best < 2 * MS);
}

static void timer_past_deadline_fires_at_once(void) {
    zx_handle_t t = new_timer(0);
    const zx_time_t deadlines[] = {0, 1, ZX_TIME_INFINITE_PAST, zx_clock_get_monotonic()};
    for (size_t i = 0; i < T_COUNT(deadlines); i++) {
        t_context("deadline", (uint64_t)deadlines[i]);
        CHECK_OK(zx_timer_set(t, deadlines[i], 0));
        CHECK_OK(zx_object_wait_one(t, ZX_TIMER_SIGNALED, 0, NULL));
        zx_info_timer_t info;
        CHECK_OK(zx_object_get_info(t, ZX_INFO_TIMER, &info, sizeof(info), NULL, NULL));
        CHECK_EQ(info.deadline, 0);
    }
}

static void timer_infinite_deadline_never_fires(void) {
    zx_handle_t t = new_timer(0);
    CHECK_OK(zx_timer_set(t, ZX_TIME_INFINITE, 0));
    CHECK_ST(zx_object_wait_one(t, ZX_TIMER_SIGNALED, zx_deadline_after(20 * MS), NULL),
             ZX_ERR_TIMED_OUT);
    CHECK_OK(zx_timer_set(t, ZX_TIME_INFINITE, INT64_MAX));
}

static void timer_cancel_disarms_clears_and_is_ok_unset(void) {
    zx_handle_t t = new_timer(0);
    CHECK_OK(zx_timer_cancel(t));
    CHECK_OK(zx_timer_set(t, zx_deadline_after(5 * MS), 0));
    CHECK_OK(zx_timer_cancel(t));
    CHECK_ST(zx_object_wait_one(t, ZX_TIMER_SIGNALED, zx_deadline_after(30 * MS), NULL),
             ZX_ERR_TIMED_OUT);
    CHECK_OK(zx_timer_set(t, 0, 0));
    CHECK(signaled(t));
    CHECK_OK(zx_timer_cancel(t));
    CHECK(!signaled(t));
}

static void timer_set_again_replaces_the_deadline(void) {
    zx_handle_t t = new_timer(0);
    CHECK_OK(zx_timer_set(t, zx_deadline_after(2 * MS), 0));
    zx_time_t second = zx_deadline_after(40 * MS);
    CHECK_OK(zx_timer_set(t, second, 0));
    CHECK_OK(zx_object_wait_one(t, ZX_TIMER_SIGNALED, zx_deadline_after(5000 * MS), NULL));
    CHECK(zx_clock_get_monotonic() >= second);
    CHECK_OK(zx_timer_set(t, zx_deadline_after(1000 * MS), 0));
    CHECK(!signaled(t));
}

static void timer_info_reports_options_deadline_slack(void) {
    zx_handle_t t = new_timer(ZX_TIMER_SLACK_EARLY);
    zx_info_timer_t info;
    size_t actual = 0, avail = 0;
    CHECK_OK(zx_object_get_info(t, ZX_INFO_TIMER, &info, sizeof(info), &actual, &avail));
    CHECK_EQ(actual, 1);
    CHECK_EQ(info.options, ZX_TIMER_SLACK_EARLY);
    CHECK_EQ(info.deadline, 0);
    zx_time_t deadline = zx_deadline_after(1000 * MS);
    CHECK_OK(zx_timer_set(t, deadline, 3 * US));
    CHECK_OK(zx_object_get_info(t, ZX_INFO_TIMER, &info, sizeof(info), NULL, NULL));
    CHECK_EQ(info.deadline, deadline);
    CHECK_EQ(info.slack, 3 * US);
    CHECK_ST(zx_object_get_info(t, ZX_INFO_TIMER, &info, sizeof(info) - 1, &actual, &avail),
             ZX_ERR_BUFFER_TOO_SMALL);
    zx_handle_t w;
    CHECK_OK(zx_handle_duplicate(t, ZX_RIGHT_WRITE, &w));
    t_track(w);
    CHECK_ST(zx_object_get_info(w, ZX_INFO_TIMER, &info, sizeof(info), NULL, NULL),
             ZX_ERR_ACCESS_DENIED);
    NEW_VMO(vmo, PAGE, 0);
    CHECK_ST(zx_object_get_info(vmo, ZX_INFO_TIMER, &info, sizeof(info), NULL, NULL),
             ZX_ERR_WRONG_TYPE);
}

static void timer_close_while_armed_leaks_nothing(void) {
    zx_info_kmem_stats_t before, after;
    for (int round = 0; round < 2; round++) {
        CHECK_OK(zx_object_get_info(ZX_HANDLE_INVALID, ZX_INFO_KMEM_STATS, &before,
                                    sizeof(before), NULL, NULL));
        for (int i = 0; i < 200; i++) {
            zx_handle_t t;
            CHECK_OK(zx_timer_create(0, ZX_CLOCK_MONOTONIC, &t));
            CHECK_OK(zx_timer_set(t, zx_deadline_after((i % 2) ? 10000 * MS : 50 * US), 0));
            CHECK_OK(zx_handle_close(t));
        }
        zx_nanosleep(zx_deadline_after(5 * MS));
        CHECK_OK(zx_object_get_info(ZX_HANDLE_INVALID, ZX_INFO_KMEM_STATS, &after,
                                    sizeof(after), NULL, NULL));
    }
    /* The second round (after any warm-up growth) gives back what it took. */
    uint64_t used_before = before.total_heap_bytes - before.free_heap_bytes;
    uint64_t used_after = after.total_heap_bytes - after.free_heap_bytes;
    CHECK(used_after <= used_before + 8192);
}

static zx_handle_t g_wait_handle;
static volatile zx_status_t g_wait_status;

static void wait_entry(uintptr_t arg, uintptr_t unused) {
    (void)arg;
    (void)unused;
    g_wait_status = zx_object_wait_one(g_wait_handle, ZX_TIMER_SIGNALED,
                                       zx_deadline_after(10000 * MS), NULL);
    zx_thread_exit();
}

static void timer_close_cancels_a_waiter(void) {
    zx_handle_t t;
    CHECK_OK(zx_timer_create(0, ZX_CLOCK_MONOTONIC, &t));
    CHECK_OK(zx_timer_set(t, zx_deadline_after(10000 * MS), 0));
    g_wait_handle = t;
    g_wait_status = 1;
    zx_handle_t th = t_start_thread(wait_entry, 0);
    if (th == ZX_HANDLE_INVALID) return;
    zx_nanosleep(zx_deadline_after(50 * MS));
    CHECK_OK(zx_handle_close(t));
    t_join_thread(th);
    CHECK_ST(g_wait_status, ZX_ERR_CANCELED);
}

static void timer_wakes_a_waiter_on_another_thread(void) {
    zx_handle_t t = new_timer(0);
    zx_time_t deadline = zx_deadline_after(100 * MS);
    CHECK_OK(zx_timer_set(t, deadline, 0));
    g_wait_handle = t;
    g_wait_status = 1;
    zx_handle_t th = t_start_thread(wait_entry, 0);
    if (th == ZX_HANDLE_INVALID) return;
    t_join_thread(th);
    CHECK_OK(g_wait_status);
    CHECK(zx_clock_get_monotonic() >= deadline);
}

static void cprng_two_draws_differ(void) {
    uint8_t a[32], b[32];
    zx_cprng_draw(a, sizeof(a));
    zx_cprng_draw(b, sizeof(b));
    CHECK(t_memcmp(a, b, sizeof(a)) != 0);
}

static uint8_t g_big[(1 << 16) + 300];

static void cprng_large_draw_fills_everything(void) {
    t_memset(g_big, 0xA5, sizeof(g_big));
    zx_cprng_draw(g_big, sizeof(g_big) - 8);
    for (size_t i = sizeof(g_big) - 8; i < sizeof(g_big); i++) CHECK_EQ(g_big[i], 0xA5);
    size_t same = 0;
    for (size_t i = 0; i < sizeof(g_big) - 8; i++) same += g_big[i] == 0xA5;
    CHECK(same < (sizeof(g_big) / 64));
    CHECK(t_memcmp(g_big, g_big + 256, 256) != 0);
    zx_cprng_draw(NULL, 0);
}

static void cprng_bad_buffer_kills_the_process(void) {
    static const char* addrs[] = {"0x0", "0xffff000000001000", "0x7ff000000000"};
    for (size_t i = 0; i < T_COUNT(addrs); i++) {
        t_context("addr", i);
        int64_t code = 0;
        if (!t_run_child("cprng-draw", addrs[i], NULL, 0, &code)) return;
        CHECK_EQ(code, (uint64_t)ZX_TASK_RETCODE_EXCEPTION_KILL);
    }
}

static void cprng_add_entropy_bounds(void) {
    uint8_t bytes[300];
    t_memset(bytes, 7, sizeof(bytes));
    CHECK_OK(zx_cprng_add_entropy(bytes, 0));
    CHECK_OK(zx_cprng_add_entropy(bytes, 256));
    CHECK_OK(zx_cprng_add_entropy(NULL, 0));
    CHECK_ST(zx_cprng_add_entropy(bytes, 257), ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_cprng_add_entropy(NULL, 8), ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_cprng_add_entropy((void*)0xffff000000000000ull, 8), ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_cprng_add_entropy((void*)t_unmapped_addr(), 8), ZX_ERR_INVALID_ARGS);
}

static const t_case k_cases[] = {
    T_CASE(timer_create_checks_options_clock_and_out),
    T_CASE(timer_default_rights_and_type),
    T_CASE(timer_lookup_order_and_write_right),
    T_CASE(timer_negative_slack_is_out_of_range_and_changes_nothing),
    T_CASE(timer_fires_not_before_deadline_minus_slack),
    T_CASE(timer_100us_fires_well_within_the_tick),
    T_CASE(timer_nanosleep_100us_well_within_the_tick),
    T_CASE(timer_past_deadline_fires_at_once),
    T_CASE(timer_infinite_deadline_never_fires),
    T_CASE(timer_cancel_disarms_clears_and_is_ok_unset),
    T_CASE(timer_set_again_replaces_the_deadline),
    T_CASE(timer_info_reports_options_deadline_slack),
    T_CASE(timer_close_while_armed_leaks_nothing),
    T_CASE(timer_close_cancels_a_waiter),
    T_CASE(timer_wakes_a_waiter_on_another_thread),
    T_CASE(cprng_two_draws_differ),
    T_CASE(cprng_large_draw_fills_everything),
    T_CASE(cprng_bad_buffer_kills_the_process),
    T_CASE(cprng_add_entropy_bounds),
};

const t_group t_group_timer = {k_cases, T_COUNT(k_cases)};
