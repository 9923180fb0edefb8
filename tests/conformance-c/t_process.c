/* conformance-c: cases with a second process (this program run as `child MODE [ARG]`, see
 * child.c): faults kill the faulting process and nothing else, handles are per process,
 * memory is shared through a channel, and the end of a process releases what it held. */
#include "harness.h"
#include "child.h"

/* Runs `mode arg` and requires that the child was killed by its fault
 * (ZX_TASK_RETCODE_EXCEPTION_KILL). */
static void expect_killed(const char* mode, const char* arg) {
    int64_t code = 0;
    if (!t_run_child(mode, arg, NULL, 0, &code)) return;
    if (code == CHILD_SURVIVED) {
        t_fail_msg(__FILE__, __LINE__, "the faulting access did not kill the child, exit",
                   (uint64_t)code);
    } else if (code != ZX_TASK_RETCODE_EXCEPTION_KILL) {
        t_fail_msg(__FILE__, __LINE__,
                   "child not killed by an exception (want -1028): exit code", (uint64_t)code);
    }
}

static void expect_exit(const char* mode, const char* arg, int64_t want) {
    int64_t code = 0;
    if (!t_run_child(mode, arg, NULL, 0, &code)) return;
    if (code != want) t_fail_msg(__FILE__, __LINE__, "child exit code", (uint64_t)code);
}

/* After a child died: this process is still fine. */
static void check_self_still_works(void) {
    NEW_VMO(vmo, PAGE, 0);
    CHECK_OK(zx_vmo_write(vmo, "ok", 0, 2));
}

static void process_child_exit_code_is_reported(void) {
    expect_exit("exit", "0", 0);
    CHECK_HELPER();
    expect_exit("exit", "7", 7);
    CHECK_HELPER();
    expect_exit("exit", "123", 123);
}

static void process_info_reports_start_and_exit(void) {
    zx_info_process_t info;
    size_t actual = 0, avail = 0;
    t_memset(&info, 0xff, sizeof(info));
    CHECK_OK(zx_object_get_info(zx_process_self(), ZX_INFO_PROCESS, &info, sizeof(info),
                                &actual, &avail));
    CHECK((info.flags & ZX_INFO_PROCESS_FLAG_STARTED) != 0);
    CHECK((info.flags & ZX_INFO_PROCESS_FLAG_EXITED) == 0);
    CHECK(info.start_time > 0);
    CHECK(info.start_time <= zx_clock_get_monotonic());
    zx_handle_t proc;
    if (!t_spawn_child("exit", "42", NULL, 0, &proc)) return;
    int64_t code = 0;
    if (!t_wait_child(proc, ZX_SEC(10), &code)) return;
    CHECK_EQ(code, 42);
    t_memset(&info, 0, sizeof(info));
    CHECK_OK(zx_object_get_info(proc, ZX_INFO_PROCESS, &info, sizeof(info), &actual, &avail));
    CHECK((info.flags & ZX_INFO_PROCESS_FLAG_STARTED) != 0);
    CHECK((info.flags & ZX_INFO_PROCESS_FLAG_EXITED) != 0);
    CHECK_EQ(info.return_code, 42);
    CHECK(info.start_time > 0);
}

static void process_unknown_child_mode_is_reported(void) {
    /* Checks the harness itself: the child sees its arguments. */
    expect_exit("no-such-mode", NULL, CHILD_UNKNOWN_MODE);
}

static void process_fault_reading_unmapped_memory_kills_only_the_child(void) {
    expect_killed("read-unmapped", NULL);
    CHECK_HELPER();
    check_self_still_works();
}

static void process_fault_below_the_root_vmar_kills_the_child(void) {
    expect_killed("read", "0x1000");
    CHECK_HELPER();
    expect_killed("write", "0x0");
}

static void process_fault_touching_kernel_memory_kills_the_child(void) {
    expect_killed("read", "0xffff000000000000");
    CHECK_HELPER();
    expect_killed("write", "0xffff000040000000");
    CHECK_HELPER();
    expect_killed("read", "0x0001000000000000"); /* outside both halves */
    CHECK_HELPER();
    check_self_still_works();
}

static void process_fault_writing_a_read_only_mapping_kills_the_child(void) {
    expect_killed("ro-write", NULL);
}

static void process_fault_writing_its_own_code_kills_the_child(void) {
    expect_killed("write-code", NULL);
}

static void process_fault_after_unmap_kills_the_child(void) {
    expect_killed("unmap-read", NULL);
}

static void process_fault_after_shrink_kills_the_child(void) {
    expect_killed("shrink-read", NULL);
}

static void process_fault_after_protect_read_only_kills_the_child(void) {
    expect_killed("protect-write", NULL);
}

static void process_protect_can_restore_write_within_map_rights(void) {
    expect_exit("protect-rw-again", NULL, 0);
}

static void process_executing_a_writable_page_kills_the_child(void) {
    expect_killed("exec-rw", NULL);
}

static void process_executing_a_non_executable_page_kills_the_child(void) {
    expect_killed("exec-ro", NULL);
}

static void process_executing_an_executable_mapping_works(void) {
    expect_exit("exec-rx", NULL, 0);
}

static void process_handle_values_are_per_process(void) {
    NEW_VMO(vmo, PAGE, 0);
    char arg[24];
    t_fmt_hex(arg, vmo);
    int64_t code = 0;
    if (!t_run_child("badhandle", arg, NULL, 0, &code)) return;
    if (code != 0) {
        t_fail_msg(__FILE__, __LINE__,
                   "child's zx_vmo_read on the parent's handle value did not give BAD_HANDLE; "
                   "status",
                   (uint64_t)(CHILD_STATUS_BASE - code));
        return;
    }
    /* Our handle is untouched. */
    CHECK(t_handle_valid(vmo));
}

static void process_shares_a_vmo_through_a_channel(void) {
    NEW_VMO(vmo, PAGE, 0);
    NEW_MAP(addr, vmo, RW, PAGE);
    t_memcpy((void*)addr, "from-parent", 11);
    NEW_CHANNEL(a, b);
    zx_handle_t dup;
    CHECK_OK(zx_handle_duplicate(vmo, ZX_RIGHT_SAME_RIGHTS, &dup));
    CHECK_OK(zx_channel_write(a, 0, "vmo", 3, &dup, 1));
    zx_handle_t proc;
    t_untrack(b); /* handed to the child */
    if (!t_spawn_child("share", NULL, &b, 1, &proc)) return;
    int64_t code = 0;
    if (!t_wait_child(proc, ZX_SEC(10), &code)) return;
    if (code != 0) {
        t_fail_msg(__FILE__, __LINE__, "share child exit code", (uint64_t)code);
        return;
    }
    char reply[8];
    uint32_t ab = 0, ah = 0;
    CHECK_OK(zx_channel_read(a, 0, reply, NULL, sizeof(reply), 0, &ab, &ah));
    CHECK_EQ(ab, 4);
    CHECK(t_memcmp(reply, "done", 4) == 0);
    /* The child's write through its own mapping shows in ours and in the VMO. */
    CHECK(t_memcmp((const void*)(addr + 64), "from-child", 10) == 0);
    char r[10];
    CHECK_OK(zx_vmo_read(vmo, r, 64, 10));
    CHECK(t_memcmp(r, "from-child", 10) == 0);
    /* The child is gone: its handle and mapping went with it. */
    zx_info_vmo_t info;
    t_vmo_info(vmo, &info);
    CHECK_HELPER();
    CHECK_EQ(info.num_mappings, 1);
}

static void process_exit_releases_handles_and_mappings(void) {
    NEW_VMO(vmo, PAGE, 0);
    zx_handle_t clone;
    CHECK_OK(zx_vmo_clone(vmo, ZX_VMO_CLONE_COPY_ON_WRITE, 0, PAGE, &clone));
    NEW_CHANNEL(a, b);
    CHECK_OK(zx_channel_write(a, 0, "c", 1, &clone, 1));
    zx_handle_t proc;
    t_untrack(b);
    if (!t_spawn_child("hold", NULL, &b, 1, &proc)) return;
    zx_signals_t observed = 0;
    zx_status_t s =
        zx_object_wait_one(a, ZX_CHANNEL_READABLE, zx_deadline_after(ZX_SEC(10)), &observed);
    if (s != ZX_OK) {
        zx_task_kill(proc);
        CHECK_OK(s);
    }
    char reply[8];
    uint32_t ab = 0, ah = 0;
    CHECK_OK(zx_channel_read(a, 0, reply, NULL, sizeof(reply), 0, &ab, &ah));
    CHECK(t_memcmp(reply, "held", 4) == 0);
    /* The child holds the clone (a handle and a mapping). */
    CHECK((t_signals(vmo) & ZX_VMO_ZERO_CHILDREN) == 0);
    zx_info_vmo_t info;
    t_vmo_info(vmo, &info);
    CHECK_HELPER();
    CHECK_EQ(info.num_children, 1);
    /* Closing our end makes the child return from main without cleaning up. */
    t_untrack(a);
    CHECK_OK(zx_handle_close(a));
    int64_t code = 0;
    if (!t_wait_child(proc, ZX_SEC(10), &code)) return;
    CHECK_EQ(code, 0);
    /* Everything it held is gone, so the clone is gone. */
    CHECK_OK(zx_object_wait_one(vmo, ZX_VMO_ZERO_CHILDREN, zx_deadline_after(ZX_SEC(2)),
                                &observed));
    t_vmo_info(vmo, &info);
    CHECK_HELPER();
    CHECK_EQ(info.num_children, 0);
}

static void process_exit_closes_the_child_channel_end(void) {
    NEW_CHANNEL(a, b);
    zx_handle_t proc;
    t_untrack(b);
    /* The child never takes the handle: the end of the process must close it. */
    if (!t_spawn_child("exit", "0", &b, 1, &proc)) return;
    int64_t code = 0;
    if (!t_wait_child(proc, ZX_SEC(10), &code)) return;
    CHECK_EQ(code, 0);
    zx_signals_t observed = 0;
    CHECK_OK(zx_object_wait_one(a, ZX_CHANNEL_PEER_CLOSED, zx_deadline_after(ZX_SEC(2)),
                                &observed));
}

static void process_kill_ends_a_sleeping_child(void) {
    zx_handle_t proc;
    if (!t_spawn_child("sleep", NULL, NULL, 0, &proc)) return;
    zx_info_handle_basic_t b;
    t_basic(proc, &b);
    CHECK_HELPER();
    CHECK_EQ(b.type, ZX_OBJ_TYPE_PROCESS);
    zx_signals_t observed = 0;
    CHECK_ST(zx_object_wait_one(proc, ZX_PROCESS_TERMINATED, zx_deadline_after(ZX_MSEC(30)),
                                &observed),
             ZX_ERR_TIMED_OUT);
    CHECK_OK(zx_task_kill(proc));
    int64_t code = 0;
    if (!t_wait_child(proc, ZX_SEC(5), &code)) return;
    CHECK_EQ(code, ZX_TASK_RETCODE_SYSCALL_KILL);
    /* Killing a dead process is harmless. */
    zx_status_t s = zx_task_kill(proc);
    CHECK(s == ZX_OK || s == ZX_ERR_BAD_STATE);
}

/* ---- CPU exceptions other than page faults ------------------------------------------------ */

static void process_undefined_instruction_kills_the_child(void) {
    expect_killed("udf", NULL);
}

static void process_breakpoint_kills_the_child(void) {
    expect_killed("brk", NULL);
}

static void process_privileged_instructions_kill_the_child(void) {
    static const char* const modes[] = {"hvc", "smc", "mrs-el1", "msr-el1"};
    for (size_t i = 0; i < T_COUNT(modes); i++) {
        t_context(modes[i], i);
        expect_killed(modes[i], NULL);
        CHECK_HELPER();
    }
    check_self_still_works();
}

static void process_unaligned_exclusive_access_kills_the_child(void) {
    expect_killed("unaligned-exclusive", NULL);
}

static void process_jump_to_null_or_kernel_kills_the_child(void) {
    expect_killed("exec", "0x0");
    CHECK_HELPER();
    expect_killed("exec", "0xffff000040200000");
    CHECK_HELPER();
    expect_killed("exec", "0x0000800000000000");
}

static void process_protect_of_one_page_splits_the_mapping(void) {
    expect_exit("protect-middle", "0", 0);
    CHECK_HELPER();
    expect_killed("protect-middle", "1");
}

static void process_shrink_then_regrow_reads_zero_through_the_mapping(void) {
    expect_exit("shrink-regrow", NULL, 0);
}

/* ---- what processes share and what they do not ---------------------------------------- */

static void process_handle_values_differ_between_processes(void) {
    /* Two fresh processes doing the same thing get different values: the secret is per
     * process. */
    int64_t c1 = 0, c2 = 0;
    if (!t_run_child("first-handle", NULL, NULL, 0, &c1)) return;
    if (!t_run_child("first-handle", NULL, NULL, 0, &c2)) return;
    CHECK(c1 > 0 && c2 > 0);
    CHECK(c1 != c2);
}

static void process_exit_frees_its_memory(void) {
    zx_info_kmem_stats_t before, after;
    CHECK(t_kmem(&before));
    /* Warm up once (kernel heap growth is not a leak), then measure. */
    expect_exit("commit", "256", 0);
    CHECK_HELPER();
    CHECK(t_kmem(&before));
    for (int i = 0; i < 3; i++) {
        t_context("round", (uint64_t)i);
        expect_exit("commit", "1024", 0);
        CHECK_HELPER();
    }
    CHECK(t_kmem(&after));
    /* 3 x 8 MiB went through; allow 64 pages of drift. */
    CHECK(after.free_bytes + 64 * PAGE >= before.free_bytes);
}

/* ---- zx_process_create / zx_process_start / threads ----------------------------------------- */

static void process_create_gives_a_process_and_its_root_vmar(void) {
    zx_handle_t proc = ZX_HANDLE_INVALID, vmar = ZX_HANDLE_INVALID;
    CHECK_OK(zx_process_create(zx_job_default(), "created", 7, 0, &proc, &vmar));
    t_track(proc);
    t_track(vmar);
    zx_info_handle_basic_t pb, vb;
    t_basic(proc, &pb);
    t_basic(vmar, &vb);
    CHECK_HELPER();
    CHECK_EQ(pb.type, ZX_OBJ_TYPE_PROCESS);
    CHECK_EQ(pb.rights, ZX_DEFAULT_PROCESS_RIGHTS);
    CHECK_EQ(vb.type, ZX_OBJ_TYPE_VMAR);
    CHECK(pb.koid != t_koid(zx_process_self()));
    zx_info_vmar_t vi;
    size_t actual, avail;
    CHECK_OK(zx_object_get_info(vmar, ZX_INFO_VMAR, &vi, sizeof(vi), &actual, &avail));
    CHECK_EQ(vi.base, 0x1000000);
    CHECK_EQ(vi.base + vi.len, 0x800000000000ull);
    zx_info_process_t info;
    CHECK_OK(zx_object_get_info(proc, ZX_INFO_PROCESS, &info, sizeof(info), &actual, &avail));
    CHECK_EQ(info.flags & (ZX_INFO_PROCESS_FLAG_STARTED | ZX_INFO_PROCESS_FLAG_EXITED), 0);
    /* Its address space is not ours: a mapping there is a second address space. */
    NEW_VMO(vmo, PAGE, 0);
    NEW_MAP(mine, vmo, ZX_VM_PERM_READ, PAGE);
    zx_vaddr_t theirs = 0;
    CHECK_OK(zx_vmar_map(vmar, RW, 0, vmo, 0, PAGE, &theirs));
    zx_info_vmo_t vinfo;
    t_vmo_info(vmo, &vinfo);
    CHECK_HELPER();
    CHECK_EQ(vinfo.num_mappings, 2);
    CHECK_EQ(vinfo.share_count, 2);
    /* Destroying its root VMAR removes that mapping. */
    CHECK_OK(zx_vmar_destroy(vmar));
    t_vmo_info(vmo, &vinfo);
    CHECK_HELPER();
    CHECK_EQ(vinfo.num_mappings, 1);
    (void)mine;
}

static void process_create_name_is_its_name_property(void) {
    zx_handle_t proc = ZX_HANDLE_INVALID, vmar = ZX_HANDLE_INVALID;
    CHECK_OK(zx_process_create(zx_job_default(), "named-process", 13, 0, &proc, &vmar));
    t_track(proc);
    t_track(vmar);
    char name[ZX_MAX_NAME_LEN];
    t_memset(name, 'x', sizeof(name));
    CHECK_OK(zx_object_get_property(proc, ZX_PROP_NAME, name, sizeof(name)));
    CHECK(t_streq(name, "named-process"));
}

static void process_create_checks_its_arguments(void) {
    zx_handle_t proc = 0x77, vmar = 0x77;
    NEW_VMO(vmo, PAGE, 0);
    CHECK_ST(zx_process_create(zx_job_default(), "p", 1, 1, &proc, &vmar), ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_process_create(0x12345, "p", 1, 0, &proc, &vmar), ZX_ERR_BAD_HANDLE);
    CHECK_ST(zx_process_create(vmo, "p", 1, 0, &proc, &vmar), ZX_ERR_WRONG_TYPE);
    CHECK_ST(zx_process_create(zx_job_default(), (const char*)KERNEL_PTR, 4, 0, &proc, &vmar),
             ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_process_create(zx_job_default(), "p", 1, 0, NULL, &vmar), ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_process_create(zx_job_default(), "p", 1, 0, &proc, (zx_handle_t*)KERNEL_PTR),
             ZX_ERR_INVALID_ARGS);
    CHECK_EQ(proc, 0x77);
    CHECK_EQ(vmar, 0x77);
}

static void process_start_at_a_garbage_entry_kills_only_that_process(void) {
    zx_handle_t proc = ZX_HANDLE_INVALID, vmar = ZX_HANDLE_INVALID, thread = ZX_HANDLE_INVALID;
    CHECK_OK(zx_process_create(zx_job_default(), "garbage", 7, 0, &proc, &vmar));
    t_track(proc);
    t_track(vmar);
    CHECK_OK(zx_thread_create(proc, "t", 1, 0, &thread));
    t_track(thread);
    zx_info_handle_basic_t tb;
    t_basic(thread, &tb);
    CHECK_HELPER();
    CHECK_EQ(tb.type, ZX_OBJ_TYPE_THREAD);
    CHECK_EQ(tb.rights, ZX_DEFAULT_THREAD_RIGHTS);
    /* Nothing is mapped in the new address space: the first instruction faults. */
    CHECK_OK(zx_process_start(proc, thread, 0x10000000, 0x20000000, ZX_HANDLE_INVALID, 0));
    zx_signals_t observed = 0;
    CHECK_OK(zx_object_wait_one(proc, ZX_PROCESS_TERMINATED, zx_deadline_after(ZX_SEC(5)),
                                &observed));
    zx_info_process_t info;
    size_t actual, avail;
    CHECK_OK(zx_object_get_info(proc, ZX_INFO_PROCESS, &info, sizeof(info), &actual, &avail));
    CHECK((info.flags & ZX_INFO_PROCESS_FLAG_EXITED) != 0);
    CHECK_EQ(info.return_code, ZX_TASK_RETCODE_EXCEPTION_KILL);
    CHECK_OK(zx_object_wait_one(thread, ZX_THREAD_TERMINATED, 0, &observed));
    /* A process runs once. */
    CHECK_FAILS(zx_process_start(proc, thread, 0x10000000, 0x20000000, ZX_HANDLE_INVALID, 0));
}

static void process_start_consumes_the_argument_handle_on_failure(void) {
    NEW_VMO(vmo, PAGE, 0);
    zx_handle_t dup;
    CHECK_OK(zx_handle_duplicate(vmo, ZX_RIGHT_SAME_RIGHTS, &dup));
    CHECK_ST(zx_process_start(0x12345, 0x12345, 0x10000000, 0x20000000, dup, 0),
             ZX_ERR_BAD_HANDLE);
    CHECK(!t_handle_valid(dup));
}

/* Issue 11, item 5: an entry or stack outside the user half is INVALID_ARGS; nothing starts,
 * and the argument handle is consumed as on every failure. */
static void process_start_outside_user_half_is_invalid_args(void) {
    zx_handle_t proc = ZX_HANDLE_INVALID, vmar = ZX_HANDLE_INVALID, thread = ZX_HANDLE_INVALID;
    CHECK_OK(zx_process_create(zx_job_default(), "outside", 7, 0, &proc, &vmar));
    t_track(proc);
    t_track(vmar);
    CHECK_OK(zx_thread_create(proc, "t", 1, 0, &thread));
    t_track(thread);
    static const uint64_t bad[] = {0xffff000000100000ull, 0x8000000000000000ull,
                                   0x0001000000001000ull, 0xfffffffffffffff0ull};
    NEW_VMO(vmo, PAGE, 0);
    for (size_t i = 0; i < T_COUNT(bad); i++) {
        t_context("bad[i]", bad[i]);
        zx_handle_t arg;
        CHECK_OK(zx_handle_duplicate(vmo, ZX_RIGHT_SAME_RIGHTS, &arg));
        CHECK_ST(zx_process_start(proc, thread, (zx_vaddr_t)bad[i], 0, arg, 0),
                 ZX_ERR_INVALID_ARGS);
        CHECK(!t_handle_valid(arg));
        CHECK_OK(zx_handle_duplicate(vmo, ZX_RIGHT_SAME_RIGHTS, &arg));
        CHECK_ST(zx_process_start(proc, thread, 0x10000000, (zx_vaddr_t)bad[i], arg, 0),
                 ZX_ERR_INVALID_ARGS);
        CHECK(!t_handle_valid(arg));
    }
    zx_info_process_t info;
    size_t actual, avail;
    CHECK_OK(zx_object_get_info(proc, ZX_INFO_PROCESS, &info, sizeof(info), &actual, &avail));
    CHECK_EQ(info.flags, 0);
}

static void thread_create_checks_its_arguments(void) {
    zx_handle_t t = 0x77;
    NEW_VMO(vmo, PAGE, 0);
    CHECK_ST(zx_thread_create(zx_process_self(), "t", 1, 1, &t), ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_thread_create(0x12345, "t", 1, 0, &t), ZX_ERR_BAD_HANDLE);
    CHECK_ST(zx_thread_create(vmo, "t", 1, 0, &t), ZX_ERR_WRONG_TYPE);
    CHECK_ST(zx_thread_create(zx_process_self(), (const char*)KERNEL_PTR, 1, 0, &t),
             ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_thread_create(zx_process_self(), "t", 1, 0, NULL), ZX_ERR_INVALID_ARGS);
    CHECK_EQ(t, 0x77);
    zx_handle_t limited = ZX_HANDLE_INVALID;
    CHECK_OK(zx_handle_duplicate(zx_process_self(), ZX_RIGHT_WAIT | ZX_RIGHT_INSPECT, &limited));
    t_track(limited);
    CHECK_ST(zx_thread_create(limited, "t", 1, 0, &t), ZX_ERR_ACCESS_DENIED);
}

static volatile int g_spin_stop;

static void sleeper_thread(uintptr_t arg1, uintptr_t arg2) {
    (void)arg1;
    (void)arg2;
    while (!g_spin_stop) zx_nanosleep(zx_deadline_after(ZX_MSEC(1)));
    zx_thread_exit();
}

static void thread_kill_ends_the_thread_and_start_twice_is_refused(void) {
    g_spin_stop = 0;
    zx_handle_t t = t_start_thread(sleeper_thread, 0);
    CHECK_HELPER();
    CHECK_FAILS(zx_thread_start(t, (zx_vaddr_t)&sleeper_thread, 0x20000000, 0, 0));
    zx_signals_t observed = 0;
    CHECK_ST(zx_object_wait_one(t, ZX_THREAD_TERMINATED, zx_deadline_after(ZX_MSEC(10)),
                                &observed),
             ZX_ERR_TIMED_OUT);
    CHECK_OK(zx_task_kill(t));
    g_spin_stop = 1;
    CHECK(t_join_thread(t));
    /* We are still here. */
    check_self_still_works();
}

static void process_misaligned_pc_kills_the_child(void) {
    expect_killed("exec-misaligned", NULL);
}

static void process_exit_ends_every_thread(void) {
    expect_exit("exit-with-threads", NULL, 0);
}

static void process_fault_in_a_second_thread_kills_the_process(void) {
    expect_killed("thread-fault", NULL);
}

static void process_kill_ends_a_child_blocked_in_wait_one(void) {
    NEW_VMO(vmo, PAGE, 0);
    zx_handle_t clone;
    CHECK_OK(zx_vmo_clone(vmo, ZX_VMO_CLONE_COPY_ON_WRITE, 0, PAGE, &clone));
    NEW_CHANNEL(a, b);
    CHECK_OK(zx_channel_write(a, 0, "c", 1, &clone, 1));
    zx_handle_t proc;
    t_untrack(b);
    if (!t_spawn_child("hold", NULL, &b, 1, &proc)) return;
    zx_signals_t observed = 0;
    zx_status_t s =
        zx_object_wait_one(a, ZX_CHANNEL_READABLE, zx_deadline_after(ZX_SEC(5)), &observed);
    if (s != ZX_OK) zx_task_kill(proc);
    CHECK_OK(s);
    /* The child now waits for PEER_CLOSED inside zx_object_wait_one. */
    CHECK_OK(zx_task_kill(proc));
    int64_t code = 0;
    if (!t_wait_child(proc, ZX_SEC(5), &code)) return;
    CHECK_EQ(code, ZX_TASK_RETCODE_SYSCALL_KILL);
    CHECK_OK(zx_object_wait_one(a, ZX_CHANNEL_PEER_CLOSED, zx_deadline_after(ZX_SEC(2)),
                                &observed));
    CHECK_OK(zx_object_wait_one(vmo, ZX_VMO_ZERO_CHILDREN, zx_deadline_after(ZX_SEC(2)),
                                &observed));
}

static void process_threads_racing_on_one_vmo_family(void) {
    expect_exit("race", NULL, 0);
}

static const t_case k_cases[] = {
    T_CASE(process_child_exit_code_is_reported),
    T_CASE(process_unknown_child_mode_is_reported),
    T_CASE(process_info_reports_start_and_exit),
    T_CASE(process_fault_reading_unmapped_memory_kills_only_the_child),
    T_CASE(process_fault_below_the_root_vmar_kills_the_child),
    T_CASE(process_fault_touching_kernel_memory_kills_the_child),
    T_CASE(process_fault_writing_a_read_only_mapping_kills_the_child),
    T_CASE(process_fault_writing_its_own_code_kills_the_child),
    T_CASE(process_fault_after_unmap_kills_the_child),
    T_CASE(process_fault_after_shrink_kills_the_child),
    T_CASE(process_fault_after_protect_read_only_kills_the_child),
    T_CASE(process_protect_can_restore_write_within_map_rights),
    T_CASE(process_executing_a_writable_page_kills_the_child),
    T_CASE(process_executing_a_non_executable_page_kills_the_child),
    T_CASE(process_executing_an_executable_mapping_works),
    T_CASE(process_handle_values_are_per_process),
    T_CASE(process_shares_a_vmo_through_a_channel),
    T_CASE(process_exit_releases_handles_and_mappings),
    T_CASE(process_exit_closes_the_child_channel_end),
    T_CASE(process_kill_ends_a_sleeping_child),
    T_CASE(process_undefined_instruction_kills_the_child),
    T_CASE(process_breakpoint_kills_the_child),
    T_CASE(process_privileged_instructions_kill_the_child),
    T_CASE(process_unaligned_exclusive_access_kills_the_child),
    T_CASE(process_misaligned_pc_kills_the_child),
    T_CASE(process_exit_ends_every_thread),
    T_CASE(process_fault_in_a_second_thread_kills_the_process),
    T_CASE(process_kill_ends_a_child_blocked_in_wait_one),
    T_CASE(process_threads_racing_on_one_vmo_family),
    T_CASE(process_jump_to_null_or_kernel_kills_the_child),
    T_CASE(process_protect_of_one_page_splits_the_mapping),
    T_CASE(process_shrink_then_regrow_reads_zero_through_the_mapping),
    T_CASE(process_handle_values_differ_between_processes),
    T_CASE(process_exit_frees_its_memory),
    T_CASE(process_create_gives_a_process_and_its_root_vmar),
    T_CASE(process_create_name_is_its_name_property),
    T_CASE(process_create_checks_its_arguments),
    T_CASE(process_start_at_a_garbage_entry_kills_only_that_process),
    T_CASE(process_start_consumes_the_argument_handle_on_failure),
    T_CASE(process_start_outside_user_half_is_invalid_args),
    T_CASE(thread_create_checks_its_arguments),
    T_CASE(thread_kill_ends_the_thread_and_start_twice_is_refused),
};

const t_group t_group_process = {k_cases, T_COUNT(k_cases)};
