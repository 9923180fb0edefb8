/* conformance-c: zx_object_get_info, zx_object_wait_one, zx_object_signal (with a second
 * thread for the waits another thread ends). */
#include "harness.h"

/* ---- zx_object_get_info ---------------------------------------------------------------- */

static void info_handle_valid_tells_valid_from_invalid(void) {
    NEW_VMO(vmo, PAGE, 0);
    uint64_t dummy;
    size_t actual = 7, avail = 7;
    CHECK_OK(zx_object_get_info(vmo, ZX_INFO_HANDLE_VALID, &dummy, 0, &actual, &avail));
    CHECK_ST(zx_object_get_info(0x12345, ZX_INFO_HANDLE_VALID, &dummy, 0, &actual, &avail),
             ZX_ERR_BAD_HANDLE);
    CHECK_ST(zx_object_get_info(ZX_HANDLE_INVALID, ZX_INFO_HANDLE_VALID, &dummy, 0, &actual,
                                &avail),
             ZX_ERR_BAD_HANDLE);
    /* Even a handle without any right is valid. */
    NEW_DUP(none, vmo, ZX_RIGHT_NONE);
    CHECK_OK(zx_object_get_info(none, ZX_INFO_HANDLE_VALID, &dummy, 0, &actual, &avail));
}

static void info_handle_basic_describes_a_vmo(void) {
    NEW_VMO(vmo, PAGE, 0);
    zx_info_handle_basic_t b;
    t_memset(&b, 0xff, sizeof(b));
    size_t actual = 0, avail = 0;
    CHECK_OK(zx_object_get_info(vmo, ZX_INFO_HANDLE_BASIC, &b, sizeof(b), &actual, &avail));
    CHECK_EQ(actual, 1);
    CHECK_EQ(avail, 1);
    CHECK(b.koid != 0);
    CHECK(b.koid != ~(zx_koid_t)0);
    CHECK_EQ(b.rights, ZX_DEFAULT_VMO_RIGHTS);
    CHECK_EQ(b.type, ZX_OBJ_TYPE_VMO);
    CHECK_EQ(b.related_koid, 0);
    /* A duplicate is the same object with its own rights. */
    NEW_DUP(dup, vmo, ZX_RIGHT_READ);
    zx_info_handle_basic_t d;
    t_basic(dup, &d);
    CHECK_HELPER();
    CHECK_EQ(d.koid, b.koid);
    CHECK_EQ(d.rights, ZX_RIGHT_READ);
    /* Needs no right. */
    NEW_DUP(none, vmo, ZX_RIGHT_NONE);
    t_basic(none, &d);
    CHECK_HELPER();
    CHECK_EQ(d.koid, b.koid);
}

static void info_handle_basic_describes_channels_and_tasks(void) {
    NEW_CHANNEL(a, b);
    zx_info_handle_basic_t ia, ib;
    t_basic(a, &ia);
    t_basic(b, &ib);
    CHECK_HELPER();
    CHECK_EQ(ia.type, ZX_OBJ_TYPE_CHANNEL);
    CHECK_EQ(ia.rights, ZX_DEFAULT_CHANNEL_RIGHTS);
    CHECK(ia.koid != ib.koid);
    CHECK_EQ(ia.related_koid, ib.koid);
    CHECK_EQ(ib.related_koid, ia.koid);
    zx_info_handle_basic_t p, v;
    t_basic(zx_process_self(), &p);
    t_basic(zx_vmar_root_self(), &v);
    CHECK_HELPER();
    CHECK_EQ(p.type, ZX_OBJ_TYPE_PROCESS);
    CHECK_EQ(v.type, ZX_OBJ_TYPE_VMAR);
    CHECK(p.koid != 0 && v.koid != 0 && p.koid != v.koid);
}

static void info_koids_are_unique(void) {
    zx_koid_t seen[16];
    for (int i = 0; i < 16; i++) {
        NEW_VMO(vmo, 0, 0);
        seen[i] = t_koid(vmo);
        CHECK_HELPER();
        CHECK(seen[i] != 0);
        for (int j = 0; j < i; j++) CHECK(seen[i] != seen[j]);
    }
}

static void info_vmo_reports_every_field(void) {
    NEW_VMO(vmo, 3 * PAGE, 0);
    CHECK_OK(zx_object_set_property(vmo, ZX_PROP_NAME, "fields", 6));
    CHECK_OK(zx_vmo_write(vmo, "x", PAGE, 1));
    zx_info_vmo_t info;
    t_memset(&info, 0xff, sizeof(info));
    size_t actual = 0, avail = 0;
    CHECK_OK(zx_object_get_info(vmo, ZX_INFO_VMO, &info, sizeof(info), &actual, &avail));
    CHECK_EQ(actual, 1);
    CHECK_EQ(avail, 1);
    CHECK_EQ(info.koid, t_koid(vmo));
    CHECK(t_streq(info.name, "fields"));
    CHECK_EQ(info.size_bytes, 3 * PAGE);
    CHECK_EQ(info.parent_koid, 0);
    CHECK_EQ(info.num_children, 0);
    CHECK_EQ(info.num_mappings, 0);
    CHECK((info.flags & ZX_INFO_VMO_TYPE_PAGED) != 0);
    CHECK((info.flags & ZX_INFO_VMO_RESIZABLE) != 0);
    CHECK((info.flags & ZX_INFO_VMO_VIA_HANDLE) != 0);
    CHECK((info.flags & ZX_INFO_VMO_IS_COW_CLONE) == 0);
    CHECK_EQ(info.committed_bytes, PAGE);
    CHECK_EQ(info.handle_rights, ZX_DEFAULT_VMO_RIGHTS);
    CHECK_EQ(info.cache_policy, ZX_CACHE_POLICY_CACHED);
    /* Rights of the handle asked through. */
    NEW_DUP(ro, vmo, ZX_RIGHT_READ);
    t_vmo_info(ro, &info);
    CHECK_HELPER();
    CHECK_EQ(info.handle_rights, ZX_RIGHT_READ);
    /* Mappings are counted. */
    NEW_MAP(a1, vmo, ZX_VM_PERM_READ, PAGE);
    NEW_MAP(a2, vmo, RW, 3 * PAGE);
    t_vmo_info(vmo, &info);
    CHECK_HELPER();
    CHECK_EQ(info.num_mappings, 2);
    CHECK_EQ(info.share_count, 1);
    (void)a1;
    (void)a2;
}

static void info_kmem_stats_are_sane(void) {
    zx_info_kmem_stats_t k;
    CHECK(t_kmem(&k));
    CHECK(k.total_bytes >= (16u << 20));
    CHECK(k.total_bytes <= (1ull << 40));
    CHECK(k.free_bytes <= k.total_bytes);
    CHECK(k.free_bytes > 0);
    CHECK(k.vmo_bytes <= k.total_bytes);
    CHECK(k.free_heap_bytes <= k.total_heap_bytes);
    CHECK(k.total_heap_bytes <= k.total_bytes);
    /* Committing pages moves the numbers the right way. */
    NEW_VMO(vmo, 256 * PAGE, 0);
    CHECK_OK(zx_vmo_op_range(vmo, ZX_VMO_OP_COMMIT, 0, 256 * PAGE, NULL, 0));
    zx_info_kmem_stats_t k2;
    CHECK(t_kmem(&k2));
    CHECK(k2.free_bytes + 200 * PAGE <= k.free_bytes);
    CHECK(k2.vmo_bytes >= k.vmo_bytes + 200 * PAGE);
    t_untrack(vmo);
    CHECK_OK(zx_handle_close(vmo));
    zx_info_kmem_stats_t k3;
    CHECK(t_kmem(&k3));
    CHECK(k3.free_bytes >= k2.free_bytes + 200 * PAGE);
}

/* Issue 11, item 11: Zircon's topic number 17, by literal; 9 is Zircon's JOB_PROCESSES. */
static void info_kmem_stats_is_topic_17_not_9(void) {
    zx_info_kmem_stats_t k;
    size_t actual = 0, avail = 0;
    CHECK_OK(zx_object_get_info(zx_process_self(), 17u, &k, sizeof(k), &actual, &avail));
    CHECK_EQ(actual, 1);
    CHECK(k.total_bytes >= (16u << 20));
    CHECK(k.free_bytes <= k.total_bytes);
    /* JOB_PROCESSES on a process: a known topic on the wrong object. */
    CHECK_ST(zx_object_get_info(zx_process_self(), 9u, &k, sizeof(k), &actual, &avail),
             ZX_ERR_WRONG_TYPE);
}

static void info_short_buffer_is_buffer_too_small_with_actual_0_avail_1(void) {
    NEW_VMO(vmo, PAGE, 0);
    uint8_t buf[sizeof(zx_info_vmo_t)];
    size_t actual = 99, avail = 99;
    CHECK_ST(zx_object_get_info(vmo, ZX_INFO_HANDLE_BASIC, buf,
                                sizeof(zx_info_handle_basic_t) - 1, &actual, &avail),
             ZX_ERR_BUFFER_TOO_SMALL);
    CHECK_EQ(actual, 0);
    CHECK_EQ(avail, 1);
    actual = 99;
    avail = 99;
    CHECK_ST(zx_object_get_info(vmo, ZX_INFO_VMO, buf, sizeof(zx_info_vmo_t) - 8, &actual,
                                &avail),
             ZX_ERR_BUFFER_TOO_SMALL);
    CHECK_EQ(actual, 0);
    CHECK_EQ(avail, 1);
    actual = 99;
    avail = 99;
    CHECK_ST(zx_object_get_info(vmo, ZX_INFO_HANDLE_COUNT, buf, 0, &actual, &avail),
             ZX_ERR_BUFFER_TOO_SMALL);
    CHECK_EQ(actual, 0);
    CHECK_EQ(avail, 1);
}

static void info_topic_for_another_type_is_wrong_type(void) {
    NEW_CHANNEL(a, b);
    zx_info_vmo_t vi;
    zx_info_vmar_t ri;
    size_t actual, avail;
    CHECK_ST(zx_object_get_info(a, ZX_INFO_VMO, &vi, sizeof(vi), &actual, &avail),
             ZX_ERR_WRONG_TYPE);
    NEW_VMO(vmo, PAGE, 0);
    CHECK_ST(zx_object_get_info(vmo, ZX_INFO_VMAR, &ri, sizeof(ri), &actual, &avail),
             ZX_ERR_WRONG_TYPE);
    CHECK_ST(zx_object_get_info(zx_vmar_root_self(), ZX_INFO_VMO, &vi, sizeof(vi), &actual,
                                &avail),
             ZX_ERR_WRONG_TYPE);
    (void)b;
}

static void info_unknown_topic_is_rejected(void) {
    NEW_VMO(vmo, PAGE, 0);
    uint8_t buf[256];
    size_t actual, avail;
    static const uint32_t bad[] = {0, 5, 6, 20, 1000, 0xffffffffu};
    for (size_t i = 0; i < T_COUNT(bad); i++) {
        t_context("bad[i]", (uint64_t)bad[i]);
        CHECK_ST(zx_object_get_info(vmo, bad[i], buf, sizeof(buf), &actual, &avail),
                 ZX_ERR_NOT_SUPPORTED);
    }
    /* Known task topics on a VMO: the wrong object. */
    static const uint32_t task_topics[] = {4, 8, 9, 10, 24};
    for (size_t i = 0; i < T_COUNT(task_topics); i++) {
        t_context("task_topics[i]", (uint64_t)task_topics[i]);
        CHECK_ST(zx_object_get_info(vmo, task_topics[i], buf, sizeof(buf), &actual, &avail),
                 ZX_ERR_WRONG_TYPE);
    }
}

static void info_handle_count_counts_handles(void) {
    NEW_VMO(vmo, PAGE, 0);
    zx_info_handle_count_t c;
    size_t actual, avail;
    CHECK_OK(zx_object_get_info(vmo, ZX_INFO_HANDLE_COUNT, &c, sizeof(c), &actual, &avail));
    CHECK_EQ(c.handle_count, 1);
    NEW_DUP(d1, vmo, ZX_RIGHT_SAME_RIGHTS);
    NEW_DUP(d2, vmo, ZX_RIGHT_READ);
    CHECK_OK(zx_object_get_info(vmo, ZX_INFO_HANDLE_COUNT, &c, sizeof(c), &actual, &avail));
    CHECK_EQ(c.handle_count, 3);
    t_untrack(d1);
    CHECK_OK(zx_handle_close(d1));
    CHECK_OK(zx_object_get_info(d2, ZX_INFO_HANDLE_COUNT, &c, sizeof(c), &actual, &avail));
    CHECK_EQ(c.handle_count, 2);
}

static void info_vmar_of_the_root_covers_the_user_half(void) {
    zx_info_vmar_t v;
    size_t actual = 0, avail = 0;
    CHECK_OK(zx_object_get_info(zx_vmar_root_self(), ZX_INFO_VMAR, &v, sizeof(v), &actual,
                                &avail));
    CHECK_EQ(v.base, 0x0000000001000000ull);
    CHECK_EQ(v.base + v.len, 0x0000800000000000ull);
}

static void info_bad_buffers_are_invalid_args(void) {
    NEW_VMO(vmo, PAGE, 0);
    size_t actual, avail;
    CHECK_ST(zx_object_get_info(vmo, ZX_INFO_VMO, KERNEL_PTR, sizeof(zx_info_vmo_t), &actual,
                                &avail),
             ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_object_get_info(vmo, ZX_INFO_VMO, NULL, sizeof(zx_info_vmo_t), &actual, &avail),
             ZX_ERR_INVALID_ARGS);
    zx_vaddr_t ro = t_readonly_page();
    CHECK_HELPER();
    CHECK_ST(zx_object_get_info(vmo, ZX_INFO_VMO, (void*)ro, sizeof(zx_info_vmo_t), &actual,
                                &avail),
             ZX_ERR_INVALID_ARGS);
    zx_info_vmo_t info;
    CHECK_ST(zx_object_get_info(vmo, ZX_INFO_VMO, &info, sizeof(info), (size_t*)KERNEL_PTR,
                                &avail),
             ZX_ERR_INVALID_ARGS);
}

/* ---- zx_object_wait_one / zx_object_signal ------------------------------------------------ */

static void wait_one_returns_at_once_when_a_signal_is_active(void) {
    NEW_CHANNEL(a, b);
    zx_signals_t observed = 0;
    zx_time_t start = zx_clock_get_monotonic();
    CHECK_OK(zx_object_wait_one(a, ZX_CHANNEL_WRITABLE, ZX_TIME_INFINITE, &observed));
    CHECK((observed & ZX_CHANNEL_WRITABLE) != 0);
    CHECK((observed & ZX_CHANNEL_READABLE) == 0);
    /* Any one of several requested signals is enough. */
    CHECK_OK(zx_object_wait_one(a, ZX_CHANNEL_READABLE | ZX_CHANNEL_WRITABLE, 0, &observed));
    CHECK(zx_clock_get_monotonic() - start < ZX_SEC(1));
    (void)b;
}

static void wait_one_times_out_with_current_state(void) {
    NEW_CHANNEL(a, b);
    zx_signals_t observed = 0;
    zx_time_t start = zx_clock_get_monotonic();
    CHECK_ST(zx_object_wait_one(a, ZX_USER_SIGNAL_0, zx_deadline_after(ZX_MSEC(20)), &observed),
             ZX_ERR_TIMED_OUT);
    zx_time_t end = zx_clock_get_monotonic();
    CHECK(end - start >= ZX_MSEC(20));
    CHECK(end - start < ZX_SEC(5));
    CHECK_EQ(observed, ZX_CHANNEL_WRITABLE);
    (void)b;
}

static void wait_one_past_deadline_polls(void) {
    NEW_VMO(vmo, PAGE, 0);
    zx_signals_t observed = 0;
    CHECK_ST(zx_object_wait_one(vmo, ZX_USER_SIGNAL_1, 0, &observed), ZX_ERR_TIMED_OUT);
    CHECK((observed & ZX_VMO_ZERO_CHILDREN) != 0);
    CHECK_ST(zx_object_wait_one(vmo, ZX_USER_SIGNAL_1, ZX_TIME_INFINITE_PAST, &observed),
             ZX_ERR_TIMED_OUT);
    CHECK_OK(zx_object_wait_one(vmo, ZX_VMO_ZERO_CHILDREN, ZX_TIME_INFINITE_PAST, &observed));
}

static void wait_one_needs_no_right(void) {
    NEW_VMO(vmo, PAGE, 0);
    NEW_DUP(none, vmo, ZX_RIGHT_NONE);
    zx_signals_t observed = 0;
    CHECK_OK(zx_object_wait_one(none, ZX_VMO_ZERO_CHILDREN, 0, &observed));
}

static void object_signal_sets_and_clears_user_signals(void) {
    NEW_CHANNEL(a, b);
    zx_signals_t observed = 0;
    CHECK_OK(zx_object_signal(a, 0, ZX_USER_SIGNAL_0 | ZX_USER_SIGNAL_7));
    CHECK_OK(zx_object_wait_one(a, ZX_USER_SIGNAL_7, 0, &observed));
    CHECK_EQ(observed & ZX_USER_SIGNAL_ALL, ZX_USER_SIGNAL_0 | ZX_USER_SIGNAL_7);
    /* Signals are per endpoint. */
    CHECK_EQ(t_signals(b) & ZX_USER_SIGNAL_ALL, 0);
    CHECK_OK(zx_object_signal(a, ZX_USER_SIGNAL_0, ZX_USER_SIGNAL_3));
    CHECK_EQ(t_signals(a) & ZX_USER_SIGNAL_ALL, ZX_USER_SIGNAL_3 | ZX_USER_SIGNAL_7);
    CHECK_OK(zx_object_signal(a, ZX_USER_SIGNAL_ALL, 0));
    CHECK_EQ(t_signals(a) & ZX_USER_SIGNAL_ALL, 0);
    CHECK_ST(zx_object_wait_one(a, ZX_USER_SIGNAL_0, 0, &observed), ZX_ERR_TIMED_OUT);
}

static void object_signal_rejects_non_user_bits(void) {
    NEW_CHANNEL(a, b);
    CHECK_ST(zx_object_signal(a, 0, ZX_CHANNEL_READABLE), ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_object_signal(a, ZX_CHANNEL_WRITABLE, 0), ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_object_signal(a, 0, ZX_USER_SIGNAL_0 | ZX_CHANNEL_PEER_CLOSED),
             ZX_ERR_INVALID_ARGS);
    /* Nothing changed. */
    zx_signals_t s = t_signals(a);
    CHECK_HELPER();
    CHECK_EQ(s, ZX_CHANNEL_WRITABLE);
    (void)b;
}

static void object_signal_needs_signal_right(void) {
    NEW_CHANNEL(a, b);
    zx_handle_t nosig = ZX_HANDLE_INVALID;
    CHECK_OK(zx_handle_replace(a, ZX_DEFAULT_CHANNEL_RIGHTS & ~ZX_RIGHT_SIGNAL, &nosig));
    t_untrack(a);
    t_track(nosig);
    CHECK_ST(zx_object_signal(nosig, 0, ZX_USER_SIGNAL_0), ZX_ERR_ACCESS_DENIED);
    /* A VMO handle does not come with SIGNAL. */
    NEW_VMO(vmo, PAGE, 0);
    CHECK_ST(zx_object_signal(vmo, 0, ZX_USER_SIGNAL_0), ZX_ERR_ACCESS_DENIED);
    (void)b;
}

/* ---- waits ended by another thread ---------------------------------------------------- */

typedef struct helper_args {
    zx_handle_t handle;
    int action; /* 0: close handle, 1: signal USER_1 on it, 2: close handle (a VMO clone) */
    zx_duration_t delay;
} helper_args;

static helper_args g_helper;

static void helper_thread(uintptr_t arg1, uintptr_t arg2) {
    (void)arg2;
    helper_args* a = (helper_args*)arg1;
    zx_nanosleep(zx_deadline_after(a->delay));
    if (a->action == 1) {
        zx_object_signal(a->handle, 0, ZX_USER_SIGNAL_1);
    } else {
        zx_handle_close(a->handle);
    }
    zx_thread_exit();
}

static zx_handle_t start_helper(void) {
    return t_start_thread(helper_thread, (uintptr_t)&g_helper);
}

static void join_helper(zx_handle_t thread) {
    t_join_thread(thread);
}

static void wait_one_wakes_when_another_thread_signals(void) {
    NEW_CHANNEL(a, b);
    g_helper.handle = a;
    g_helper.action = 1;
    g_helper.delay = ZX_MSEC(20);
    zx_handle_t thread = start_helper();
    CHECK_HELPER();
    zx_signals_t observed = 0;
    zx_time_t start = zx_clock_get_monotonic();
    zx_status_t s = zx_object_wait_one(a, ZX_USER_SIGNAL_1, zx_deadline_after(ZX_SEC(5)),
                                       &observed);
    zx_time_t waited = zx_clock_get_monotonic() - start;
    join_helper(thread);
    CHECK_HELPER();
    CHECK_OK(s);
    CHECK((observed & ZX_USER_SIGNAL_1) != 0);
    CHECK(waited >= ZX_MSEC(10));
    (void)b;
}

static void wait_one_is_canceled_when_the_handle_is_closed(void) {
    NEW_CHANNEL(a, b);
    g_helper.handle = a;
    g_helper.action = 0;
    g_helper.delay = ZX_MSEC(20);
    t_untrack(a); /* the helper closes it */
    zx_handle_t thread = start_helper();
    CHECK_HELPER();
    zx_signals_t observed = 0;
    zx_status_t s = zx_object_wait_one(a, ZX_USER_SIGNAL_1, zx_deadline_after(ZX_SEC(5)),
                                       &observed);
    join_helper(thread);
    CHECK_HELPER();
    CHECK_ST(s, ZX_ERR_CANCELED);
    CHECK((observed & ZX_SIGNAL_HANDLE_CLOSED) != 0);
    CHECK(!t_handle_valid(a));
    (void)b;
}

static void zero_children_waiter_wakes_when_the_last_child_goes(void) {
    NEW_VMO(vmo, PAGE, 0);
    zx_handle_t child;
    CHECK_OK(zx_vmo_clone(vmo, ZX_VMO_CLONE_COPY_ON_WRITE, 0, PAGE, &child));
    g_helper.handle = child;
    g_helper.action = 2;
    g_helper.delay = ZX_MSEC(20);
    zx_handle_t thread = start_helper();
    if (t_failed()) {
        zx_handle_close(child);
        return;
    }
    zx_signals_t observed = 0;
    zx_status_t s = zx_object_wait_one(vmo, ZX_VMO_ZERO_CHILDREN, zx_deadline_after(ZX_SEC(5)),
                                       &observed);
    join_helper(thread);
    CHECK_HELPER();
    CHECK_OK(s);
    CHECK((observed & ZX_VMO_ZERO_CHILDREN) != 0);
}

static const t_case k_cases[] = {
    T_CASE(info_handle_valid_tells_valid_from_invalid),
    T_CASE(info_handle_basic_describes_a_vmo),
    T_CASE(info_handle_basic_describes_channels_and_tasks),
    T_CASE(info_koids_are_unique),
    T_CASE(info_vmo_reports_every_field),
    T_CASE(info_kmem_stats_are_sane),
    T_CASE(info_kmem_stats_is_topic_17_not_9),
    T_CASE(info_short_buffer_is_buffer_too_small_with_actual_0_avail_1),
    T_CASE(info_topic_for_another_type_is_wrong_type),
    T_CASE(info_unknown_topic_is_rejected),
    T_CASE(info_handle_count_counts_handles),
    T_CASE(info_vmar_of_the_root_covers_the_user_half),
    T_CASE(info_bad_buffers_are_invalid_args),
    T_CASE(wait_one_returns_at_once_when_a_signal_is_active),
    T_CASE(wait_one_times_out_with_current_state),
    T_CASE(wait_one_past_deadline_polls),
    T_CASE(wait_one_needs_no_right),
    T_CASE(object_signal_sets_and_clears_user_signals),
    T_CASE(object_signal_rejects_non_user_bits),
    T_CASE(object_signal_needs_signal_right),
    T_CASE(wait_one_wakes_when_another_thread_signals),
    T_CASE(wait_one_is_canceled_when_the_handle_is_closed),
    T_CASE(zero_children_waiter_wakes_when_the_last_child_goes),
};

const t_group t_group_object = {k_cases, T_COUNT(k_cases)};
