/* Jobs, the task info topics and zx_object_get_child (zx-abi-objects.md sections 7 and 12),
 * from C: creation and its errors, the height limit, NO_JOBS / NO_PROCESSES, killing a job
 * tree (also from inside), the koid lists, get_child, ZX_INFO_JOB and ZX_INFO_THREAD. */
#include "child.h"
#include "harness.h"

#define JOB_RIGHTS ZX_DEFAULT_JOB_RIGHTS

/* CHECK_OK for the helpers that return a value: fails the case and returns `ret`. */
#define WANT_OK(expr, ret)                                                                 \
    do {                                                                                   \
        zx_status_t want_ok_s = (expr);                                                    \
        if (want_ok_s != ZX_OK) {                                                          \
            t_fail_status(__FILE__, __LINE__, ZX_OK, want_ok_s);                           \
            return ret;                                                                    \
        }                                                                                  \
    } while (0)

/* A tracked child job of `parent`; ZX_HANDLE_INVALID (case failed) on error. */
static zx_handle_t new_job(zx_handle_t parent) {
    zx_handle_t job = ZX_HANDLE_INVALID;
    WANT_OK(zx_job_create(parent, 0, &job), ZX_HANDLE_INVALID);
    return t_track(job);
}

/* A tracked, never started process of `job`. */
static zx_handle_t new_process(zx_handle_t job) {
    zx_handle_t proc = ZX_HANDLE_INVALID, vmar = ZX_HANDLE_INVALID;
    WANT_OK(zx_process_create(job, "in-job", 6, 0, &proc, &vmar), ZX_HANDLE_INVALID);
    t_track(vmar);
    return t_track(proc);
}

/* Starts `conformance-c child MODE` in `job` (tracked). */
static zx_handle_t spawn_in(zx_handle_t job, const char* mode) {
    const char* argv[3] = {t_self_path, "child", mode};
    zx_handle_t proc = ZX_HANDLE_INVALID;
    WANT_OK(zxr_spawn_in(job, t_self_path, 3, argv, NULL, 0, &proc), ZX_HANDLE_INVALID);
    return t_track(proc);
}

static zx_info_job_t job_info(zx_handle_t job) {
    zx_info_job_t info;
    t_memset(&info, 0x55, sizeof(info));
    size_t actual = 0, avail = 0;
    WANT_OK(zx_object_get_info(job, ZX_INFO_JOB, &info, sizeof(info), &actual, &avail), info);
    return info;
}

static uint32_t thread_state(zx_handle_t thread) {
    zx_info_thread_t info = {0};
    size_t actual = 0, avail = 0;
    WANT_OK(zx_object_get_info(thread, ZX_INFO_THREAD, &info, sizeof(info), &actual, &avail),
            0xffffffffu);
    return info.state;
}

static void job_create_gives_a_job_of_the_default_job(void) {
    zx_handle_t job = new_job(zx_job_default());
    zx_info_handle_basic_t b;
    t_basic(job, &b);
    CHECK_EQ(b.type, ZX_OBJ_TYPE_JOB);
    CHECK_EQ(b.rights, JOB_RIGHTS);
    CHECK_EQ(b.related_koid, t_koid(zx_job_default()));
    CHECK_EQ(t_signals(job), ZX_JOB_NO_JOBS | ZX_JOB_NO_PROCESSES);
    t_basic(zx_process_self(), &b);
    CHECK_EQ(b.related_koid, t_koid(zx_job_default()));
    CHECK_OK(zx_object_set_property(job, ZX_PROP_NAME, "c-job", 5));
    char name[ZX_MAX_NAME_LEN];
    CHECK_OK(zx_object_get_property(job, ZX_PROP_NAME, name, sizeof(name)));
    CHECK(t_streq(name, "c-job"));
    zx_info_job_t info = job_info(job);
    CHECK_EQ(info.exited, 0);
    CHECK_EQ(info.return_code, 0);
}

static void job_create_checks_in_lookup_order(void) {
    zx_handle_t out = 0x77;
    NEW_VMO(vmo, PAGE, 0);
    NEW_DUP(no_manage, zx_job_default(), JOB_RIGHTS & ~ZX_RIGHT_MANAGE_JOB);
    CHECK_ST(zx_job_create(0x12345, 0, &out), ZX_ERR_BAD_HANDLE);
    CHECK_ST(zx_job_create(ZX_HANDLE_INVALID, 0, &out), ZX_ERR_BAD_HANDLE);
    CHECK_ST(zx_job_create(vmo, 1, &out), ZX_ERR_WRONG_TYPE);
    CHECK_ST(zx_job_create(no_manage, 1, &out), ZX_ERR_ACCESS_DENIED);
    CHECK_ST(zx_job_create(zx_job_default(), 1, &out), ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_job_create(zx_job_default(), 0, NULL), ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_job_create(zx_job_default(), 0, (zx_handle_t*)KERNEL_PTR), ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_job_create(zx_job_default(), 0, (zx_handle_t*)NONCANON_PTR),
             ZX_ERR_INVALID_ARGS);
    CHECK_EQ(out, 0x77);
    zx_handle_t job = new_job(zx_job_default());
    CHECK_OK(zx_task_kill(job));
    CHECK_ST(zx_job_create(job, 0, &out), ZX_ERR_BAD_STATE);
    CHECK_ST(zx_process_create(job, "p", 1, 0, &out, &out), ZX_ERR_BAD_STATE);
}

static void job_height_is_limited(void) {
    zx_handle_t parent = zx_job_default();
    int levels = 0;
    for (;;) {
        zx_handle_t child = ZX_HANDLE_INVALID;
        zx_status_t s = zx_job_create(parent, 0, &child);
        if (s != ZX_OK) {
            CHECK_ST(s, ZX_ERR_OUT_OF_RANGE);
            break;
        }
        t_track(child);
        parent = child;
        if (++levels > 40) break;
    }
    /* One or two levels below the root: init's "programs" job. */
    CHECK(levels == 31 || levels == 32);
    new_process(parent);
}

static void job_signals_follow_live_children(void) {
    const zx_signals_t both = ZX_JOB_NO_JOBS | ZX_JOB_NO_PROCESSES;
    zx_handle_t job = new_job(zx_job_default());
    zx_handle_t child = new_job(job);
    CHECK_EQ(t_signals(job), ZX_JOB_NO_PROCESSES);
    t_untrack(child);
    zx_handle_close(child);
    CHECK_EQ(t_signals(job), both);
    zx_handle_t proc = spawn_in(job, "sleep");
    CHECK_EQ(t_signals(job), ZX_JOB_NO_JOBS);
    CHECK_OK(zx_task_kill(proc));
    zx_signals_t seen = 0;
    CHECK_OK(zx_object_wait_one(job, ZX_JOB_NO_PROCESSES, zx_deadline_after(ZX_SEC(5)), &seen));
    CHECK_EQ(seen & ZX_JOB_TERMINATED, 0);
    CHECK_EQ(job_info(job).exited, 0);
}

static void job_kill_ends_every_process_below(void) {
    zx_handle_t top = new_job(zx_job_default());
    zx_handle_t mid = new_job(top);
    zx_handle_t leaf = new_job(mid);
    zx_handle_t procs[4] = {spawn_in(top, "sleep"), spawn_in(mid, "sleep"),
                            spawn_in(leaf, "sleep"), new_process(leaf)};
    CHECK_OK(zx_task_kill(top));
    zx_signals_t seen = 0;
    CHECK_OK(zx_object_wait_one(top, ZX_JOB_TERMINATED, zx_deadline_after(ZX_SEC(10)), &seen));
    for (size_t i = 0; i < T_COUNT(procs); i++) {
        t_context("process", i);
        CHECK(t_signals(procs[i]) & ZX_PROCESS_TERMINATED);
        int64_t code = 0;
        CHECK_OK(zxr_wait_exit(procs[i], &code));
        CHECK_EQ(code, ZX_TASK_RETCODE_SYSCALL_KILL);
    }
    zx_handle_t jobs[3] = {top, mid, leaf};
    for (size_t i = 0; i < T_COUNT(jobs); i++) {
        t_context("job", i);
        CHECK_EQ(t_signals(jobs[i]), ZX_JOB_TERMINATED | ZX_JOB_NO_JOBS | ZX_JOB_NO_PROCESSES);
        zx_info_job_t info = job_info(jobs[i]);
        CHECK_EQ(info.exited, 1);
        CHECK_EQ(info.return_code, ZX_TASK_RETCODE_SYSCALL_KILL);
        zx_handle_t out;
        CHECK_ST(zx_job_create(jobs[i], 0, &out), ZX_ERR_BAD_STATE);
    }
    CHECK_OK(zx_task_kill(top));
    NEW_DUP(weak, mid, JOB_RIGHTS & ~ZX_RIGHT_DESTROY);
    CHECK_ST(zx_task_kill(weak), ZX_ERR_ACCESS_DENIED);
}

static void job_kill_of_own_job_does_not_return(void) {
    zx_handle_t job = new_job(zx_job_default());
    zx_handle_t sibling = spawn_in(job, "sleep");
    zx_handle_t proc = spawn_in(job, "kill-own-job");
    int64_t code = 0;
    if (!t_wait_child(proc, ZX_SEC(10), &code)) return;
    CHECK(code != CHILD_SURVIVED);
    CHECK_EQ(code, ZX_TASK_RETCODE_SYSCALL_KILL);
    zx_signals_t seen = 0;
    CHECK_OK(zx_object_wait_one(job, ZX_JOB_TERMINATED, zx_deadline_after(ZX_SEC(5)), &seen));
    CHECK_OK(zxr_wait_exit(sibling, &code));
    CHECK_EQ(code, ZX_TASK_RETCODE_SYSCALL_KILL);
}

static void job_lists_children_in_creation_order(void) {
    zx_handle_t job = new_job(zx_job_default());
    zx_handle_t a = new_job(job), b = new_job(job);
    zx_handle_t p1 = new_process(job), p2 = new_process(job), p3 = new_process(job);
    zx_koid_t koids[4] = {0};
    size_t actual = 99, avail = 99;
    CHECK_OK(zx_object_get_info(job, ZX_INFO_JOB_CHILDREN, koids, sizeof(koids), &actual,
                                &avail));
    CHECK_EQ(actual, 2);
    CHECK_EQ(avail, 2);
    CHECK_EQ(koids[0], t_koid(a));
    CHECK_EQ(koids[1], t_koid(b));
    /* Room for two of three: OK, not BUFFER_TOO_SMALL. */
    t_memset(koids, 0, sizeof(koids));
    CHECK_OK(zx_object_get_info(job, ZX_INFO_JOB_PROCESSES, koids, 2 * sizeof(zx_koid_t),
                                &actual, &avail));
    CHECK_EQ(actual, 2);
    CHECK_EQ(avail, 3);
    CHECK_EQ(koids[0], t_koid(p1));
    CHECK_EQ(koids[1], t_koid(p2));
    CHECK_EQ(koids[2], 0);
    CHECK_OK(zx_object_get_info(job, ZX_INFO_JOB_PROCESSES, NULL, 0, &actual, &avail));
    CHECK_EQ(actual, 0);
    CHECK_EQ(avail, 3);
    CHECK_OK(zx_object_get_info(job, ZX_INFO_JOB_PROCESSES, koids, sizeof(koids), NULL, NULL));
    CHECK_EQ(koids[2], t_koid(p3));
    CHECK_ST(zx_object_get_info(job, ZX_INFO_JOB_PROCESSES, KERNEL_PTR, 16, &actual, &avail),
             ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_object_get_info(job, ZX_INFO_JOB_PROCESSES, koids, 16, (size_t*)KERNEL_PTR,
                                &avail),
             ZX_ERR_INVALID_ARGS);
    /* This process's threads: at least the main one. */
    CHECK_OK(zx_object_get_info(zx_process_self(), ZX_INFO_PROCESS_THREADS, koids,
                                sizeof(koids), &actual, &avail));
    CHECK(avail >= 1);
}

static void job_info_needs_rights_and_the_right_object(void) {
    zx_handle_t job = new_job(zx_job_default());
    uint8_t buf[64];
    size_t actual, avail;
    NEW_DUP(no_enum, job, JOB_RIGHTS & ~ZX_RIGHT_ENUMERATE);
    NEW_DUP(no_inspect, job, JOB_RIGHTS & ~ZX_RIGHT_INSPECT);
    CHECK_ST(zx_object_get_info(no_enum, ZX_INFO_JOB_CHILDREN, buf, sizeof(buf), &actual, &avail),
             ZX_ERR_ACCESS_DENIED);
    CHECK_ST(zx_object_get_info(no_enum, ZX_INFO_JOB_PROCESSES, buf, sizeof(buf), &actual,
                                &avail),
             ZX_ERR_ACCESS_DENIED);
    CHECK_ST(zx_object_get_info(no_inspect, ZX_INFO_JOB, buf, sizeof(buf), &actual, &avail),
             ZX_ERR_ACCESS_DENIED);
    CHECK_ST(zx_object_get_info(zx_process_self(), ZX_INFO_JOB, buf, sizeof(buf), &actual,
                                &avail),
             ZX_ERR_WRONG_TYPE);
    CHECK_ST(zx_object_get_info(job, ZX_INFO_PROCESS_THREADS, buf, sizeof(buf), &actual, &avail),
             ZX_ERR_WRONG_TYPE);
    CHECK_ST(zx_object_get_info(job, ZX_INFO_THREAD, buf, sizeof(buf), &actual, &avail),
             ZX_ERR_WRONG_TYPE);
    CHECK_ST(zx_object_get_info(job, ZX_INFO_JOB, buf, 15, &actual, &avail),
             ZX_ERR_BUFFER_TOO_SMALL);
    CHECK_EQ(actual, 0);
    CHECK_EQ(avail, 1);
}

static void job_get_child_finds_live_direct_children(void) {
    zx_handle_t job = new_job(zx_job_default());
    zx_handle_t child = new_job(job);
    zx_handle_t grandchild = new_job(child);
    zx_handle_t proc = new_process(job);
    zx_handle_t out = ZX_HANDLE_INVALID;
    CHECK_OK(zx_object_get_child(job, t_koid(child), ZX_RIGHT_SAME_RIGHTS, &out));
    t_track(out);
    CHECK_EQ(t_koid(out), t_koid(child));
    CHECK_EQ(t_rights(out), JOB_RIGHTS);
    CHECK_OK(zx_object_get_child(job, t_koid(proc), ZX_RIGHT_WAIT, &out));
    t_track(out);
    CHECK_EQ(t_rights(out), ZX_RIGHT_WAIT);
    CHECK_ST(zx_object_get_child(job, t_koid(grandchild), ZX_RIGHT_SAME_RIGHTS, &out),
             ZX_ERR_NOT_FOUND);
    CHECK_ST(zx_object_get_child(job, 0, ZX_RIGHT_SAME_RIGHTS, &out), ZX_ERR_NOT_FOUND);
    NEW_VMO(vmo, PAGE, 0);
    CHECK_ST(zx_object_get_child(vmo, 1, ZX_RIGHT_SAME_RIGHTS, &out), ZX_ERR_WRONG_TYPE);
    CHECK_ST(zx_object_get_child(0x12345, 1, ZX_RIGHT_SAME_RIGHTS, &out), ZX_ERR_BAD_HANDLE);
    NEW_DUP(no_enum, job, JOB_RIGHTS & ~ZX_RIGHT_ENUMERATE);
    CHECK_ST(zx_object_get_child(no_enum, t_koid(child), ZX_RIGHT_SAME_RIGHTS, &out),
             ZX_ERR_ACCESS_DENIED);
    NEW_DUP(small, job, ZX_RIGHT_ENUMERATE | ZX_RIGHT_WAIT);
    CHECK_ST(zx_object_get_child(small, t_koid(child), ZX_RIGHT_DESTROY, &out),
             ZX_ERR_ACCESS_DENIED);
    CHECK_ST(zx_object_get_child(job, t_koid(child), ZX_RIGHT_SAME_RIGHTS, NULL),
             ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_object_get_child(job, t_koid(child), ZX_RIGHT_SAME_RIGHTS,
                                 (zx_handle_t*)KERNEL_PTR),
             ZX_ERR_INVALID_ARGS);
}

static volatile uint32_t g_spin_flag;
static zx_handle_t g_wait_channel;

static void spin_until_flag(uintptr_t a, uintptr_t b) {
    (void)a;
    (void)b;
    while (!g_spin_flag) {
    }
    zx_thread_exit();
}

static void wait_on_channel(uintptr_t a, uintptr_t b) {
    (void)a;
    (void)b;
    zx_signals_t seen = 0;
    zx_object_wait_one(g_wait_channel, ZX_CHANNEL_READABLE, ZX_TIME_INFINITE, &seen);
    zx_thread_exit();
}

static bool await_state(zx_handle_t thread, uint32_t want) {
    zx_time_t deadline = zx_deadline_after(ZX_SEC(5));
    while (zx_clock_get_monotonic() < deadline) {
        if (thread_state(thread) == want) return true;
        zx_nanosleep(zx_deadline_after(ZX_MSEC(1)));
    }
    t_fail_eq(__FILE__, __LINE__, "thread state", thread_state(thread), want);
    return false;
}

static void job_thread_states_new_running_blocked_dead(void) {
    zx_handle_t fresh = ZX_HANDLE_INVALID;
    CHECK_OK(zx_thread_create(zx_process_self(), "new", 3, 0, &fresh));
    t_track(fresh);
    CHECK_EQ(thread_state(fresh), ZX_THREAD_STATE_NEW);
    g_spin_flag = 0;
    zx_handle_t spinner = t_start_thread(spin_until_flag, 0);
    if (spinner == ZX_HANDLE_INVALID) return;
    CHECK_EQ(thread_state(spinner), ZX_THREAD_STATE_RUNNING);
    g_spin_flag = 1;
    if (!t_join_thread(spinner)) return;
    CHECK_EQ(thread_state(spinner), ZX_THREAD_STATE_DEAD);
    /* Blocked in wait_one, as another thread sees it. */
    NEW_CHANNEL(a, b);
    g_wait_channel = a;
    zx_handle_t waiter = t_start_thread(wait_on_channel, 0);
    if (waiter == ZX_HANDLE_INVALID) return;
    await_state(waiter, ZX_THREAD_STATE_BLOCKED_WAIT_ONE);
    CHECK_OK(zx_channel_write(b, 0, "go", 2, NULL, 0));
    t_join_thread(waiter);
}

static const t_case k_cases[] = {
    T_CASE(job_create_gives_a_job_of_the_default_job),
    T_CASE(job_create_checks_in_lookup_order),
    T_CASE(job_height_is_limited),
    T_CASE(job_signals_follow_live_children),
    T_CASE(job_kill_ends_every_process_below),
    T_CASE(job_kill_of_own_job_does_not_return),
    T_CASE(job_lists_children_in_creation_order),
    T_CASE(job_info_needs_rights_and_the_right_object),
    T_CASE(job_get_child_finds_live_direct_children),
    T_CASE(job_thread_states_new_running_blocked_dead),
};

const t_group t_group_job = {k_cases, T_COUNT(k_cases)};
