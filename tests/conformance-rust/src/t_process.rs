//! Processes: spawning this program as a child, sharing memory, isolation, faults, kill,
//! exit status, cleanup.

use crate::child::{SETUP, SURVIVED};
use crate::harness::Case;
use crate::util::*;
use alloc::format;
use alloc::string::String;
use alloc::vec;

pub const CASES: &[Case] = &[
    ("process_exit_code_via_info_process", exit_code),
    ("process_safe_api_spawn_and_wait_exit", safe_api_wait_exit),
    (
        "process_share_vmo_through_channel_both_see_writes",
        share_vmo,
    ),
    (
        "process_child_cannot_use_parent_handle_values",
        child_cannot_use_handles,
    ),
    (
        "process_handle_values_differ_between_processes",
        values_differ,
    ),
    (
        "process_child_cannot_read_parent_memory",
        child_cannot_read_parent,
    ),
    (
        "process_fault_on_bad_address_killed_exception_kill",
        fault_null,
    ),
    ("process_fault_on_kernel_address_killed", fault_kernel),
    ("process_write_to_readonly_page_killed", fault_rodata),
    ("process_exec_of_writable_page_killed", fault_exec_rw),
    ("process_set_size_shrink_unmaps_child_faults", shrink_fault),
    ("process_task_kill_child_syscall_kill", task_kill),
    (
        "process_exit_closes_handles_and_mappings",
        exit_closes_handles,
    ),
    ("process_kill_closes_handles", kill_closes_handles),
    ("process_kmem_pages_return_after_child_exit", kmem_returns),
    ("process_create_bad_arguments", create_bad_args),
    (
        "process_write_to_read_only_mapping_killed",
        write_ro_mapping,
    ),
    (
        "process_protect_removes_write_access_from_page_tables",
        protect_then_write,
    ),
    ("process_unmap_removes_page_table_entries", unmap_then_read),
    (
        "process_vmar_destroy_removes_page_table_entries",
        destroy_then_read,
    ),
    (
        "process_execute_mapping_runs_code_after_cache_sync",
        exec_rx,
    ),
    (
        "process_exit_from_main_ends_process_with_running_thread",
        exit_with_thread,
    ),
    (
        "process_exit_from_second_thread_ends_process",
        exit_from_thread,
    ),
    ("process_fault_in_second_thread_kills_process", thread_fault),
    ("process_task_kill_of_self", kill_self),
    (
        "process_shrink_in_child_unmaps_parent_mapping",
        child_shrink,
    ),
    ("process_lives_on_after_main_thread_exits", main_thread_exit),
    ("process_ends_when_its_last_thread_exits", all_threads_exit),
    ("process_many_children_concurrently", many_children),
    ("process_start_runs_code_mapped_by_parent", start_direct),
    (
        "process_start_faulting_entry_killed_arg_handle_closed",
        start_faulting,
    ),
    ("process_start_argument_checks", start_checks),
    (
        "process_kmem_returns_after_child_floods_a_channel",
        kmem_after_flood,
    ),
    (
        "process_thread_start_before_process_start_bad_state",
        thread_start_before_process_start,
    ),
    (
        "process_start_entry_or_stack_outside_user_half_invalid_args",
        start_outside_user_half,
    ),
    (
        "process_no_heap_leak_thread_started_before_process_start",
        leak_thread_started_early,
    ),
    ("process_no_heap_leak_killed_for_a_fault", leak_fault_kill),
];

const CHILD_TIMEOUT: i64 = 30_000 * MS;

/// Names the usual child outcomes.
fn describe(code: i64) -> String {
    match code {
        c if c == ZX_TASK_RETCODE_EXCEPTION_KILL => String::from("EXCEPTION_KILL"),
        c if c == ZX_TASK_RETCODE_SYSCALL_KILL => String::from("SYSCALL_KILL"),
        c if c == SURVIVED as i64 => String::from("99 (the child survived the access)"),
        c if (SETUP as i64..SETUP as i64 + 10).contains(&c) => {
            format!("{c} (child setup step {} failed)", c - SETUP as i64)
        }
        c => format!("{c}"),
    }
}

fn expect_code(got: i64, want: i64) -> R {
    if got != want {
        return Err(format!(
            "child return code: expected {}, got {}",
            describe(want),
            describe(got)
        ));
    }
    Ok(())
}

fn exit_code() -> R {
    let code = run_child(&["exit", "42"], vec![], CHILD_TIMEOUT)?;
    expect_code(code, 42)?;
    let code = run_child(&["exit", "-7"], vec![], CHILD_TIMEOUT)?;
    expect_code(code, -7)?;
    let p = spawn_child(&["exit", "0"], vec![])?;
    let code = wait_child(&p, CHILD_TIMEOUT)?;
    expect_code(code, 0)?;
    let info: zx_info_process_t = get_info(p.raw(), ZX_INFO_PROCESS)?;
    let want = ZX_INFO_PROCESS_FLAG_STARTED | ZX_INFO_PROCESS_FLAG_EXITED;
    eqx!(info.flags & want, want);
    ensure!(info.start_time > 0, "start_time {}", info.start_time);
    eqx!(
        signals(p.raw())? & ZX_PROCESS_TERMINATED,
        ZX_PROCESS_TERMINATED
    );
    Ok(())
}

fn safe_api_wait_exit() -> R {
    let p = match zx::process::spawn(SELF_PATH, &["child", "exit", "13"], vec![]) {
        Ok(p) => p,
        Err(s) => fail!("zx::process::spawn: {s}"),
    };
    let code = ok!(p.wait_exit());
    expect_code(code, 13)
}

fn share_vmo() -> R {
    let v = vmo(2 * PAGE)?;
    let m = map(v.raw(), 0, 2 * PAGEZ, RW)?;
    poke_slice(m.addr, b"parent-hello");
    // Page 1 is read here first (the zero page gets mapped); the child's later write to it
    // must show through this mapping.
    eq!(m.peek(PAGEZ), 0u8);
    let (a, b) = channel()?;
    let p = spawn_child(&["map-shared"], vec![b.into_raw()])?;
    let d = dup(v.raw(), ZX_RIGHT_SAME_RIGHTS)?;
    zx_ok!(ch_write(a.raw(), b"vmo", &[d.into_raw()]));
    let (s, _) = wait(
        a.raw(),
        ZX_CHANNEL_READABLE | ZX_CHANNEL_PEER_CLOSED,
        CHILD_TIMEOUT,
    );
    if s != ZX_OK {
        let code = wait_child(&p, 1000 * MS);
        fail!(
            "no answer from the child ({}), child ended with {:?}",
            sname(s),
            code.map(describe)
        );
    }
    let msg = ch_read(a.raw(), 32, 0);
    if msg.status != ZX_OK || msg.bytes != b"child-wrote" {
        let code = wait_child(&p, 5000 * MS);
        fail!(
            "child answered {} {:?}; child ended with {:?}",
            sname(msg.status),
            msg.bytes,
            code.map(describe)
        );
    }
    eq!(peek_vec(m.addr + PAGEZ, 10), b"child-data".to_vec());
    // Mapped in two address spaces now.
    let info = vmo_info(v.raw())?;
    eq!(info.num_mappings, 2usize);
    eq!(info.share_count, 2usize);
    eq!(read_vec(v.raw(), PAGE, 10)?, b"child-data".to_vec());
    poke_slice(m.addr + 64, b"parent-again");
    zx_ok!(ch_write(a.raw(), b"check", &[]));
    expect_code(wait_child(&p, CHILD_TIMEOUT)?, 0)?;
    // The child's mapping went away with it.
    eq!(vmo_info(v.raw())?.num_mappings, 1usize);
    Ok(())
}

fn child_cannot_use_handles() -> R {
    let v = vmo(PAGE)?;
    let (a, _b) = channel()?;
    let vals = [
        format!("{:#x}", v.raw()),
        format!("{:#x}", a.raw()),
        format!("{:#x}", proc_self()),
        format!("{:#x}", root_vmar()),
    ];
    let args = [
        "use-handle",
        vals[0].as_str(),
        vals[1].as_str(),
        vals[2].as_str(),
        vals[3].as_str(),
    ];
    let code = run_child(&args, vec![], CHILD_TIMEOUT)?;
    ensure!(
        code == ZX_ERR_BAD_HANDLE as i64,
        "the child using the parent's handle values got {} (expected ZX_ERR_BAD_HANDLE for all)",
        if code <= 0 && code > -100 {
            sname(code as i32)
        } else {
            describe(code)
        }
    );
    // And the parent's handles are untouched.
    zx_ok!(valid(v.raw()));
    zx_ok!(valid(a.raw()));
    Ok(())
}

fn values_differ() -> R {
    let code = run_child(&["self-handle"], vec![], CHILD_TIMEOUT)?;
    let child_value = code as u32;
    ensure!(
        child_value & 0b11 == 0b11,
        "child's process handle value {child_value:#x}"
    );
    ensure!(
        child_value != proc_self(),
        "the child's process handle has the same value {child_value:#x} as the parent's"
    );
    Ok(())
}

fn child_cannot_read_parent() -> R {
    let v = vmo(PAGE)?;
    let info: zx_info_vmar_t = get_info(root_vmar(), ZX_INFO_VMAR)?;
    let target = 0x0000_4000_0000_0000usize;
    let addr = match map_raw(
        root_vmar(),
        RW | ZX_VM_SPECIFIC,
        target - info.base,
        v.raw(),
        0,
        PAGEZ,
    ) {
        Ok(a) => a,
        Err(s) => fail!("SPECIFIC map at {target:#x}: {}", sname(s)),
    };
    let m = Mapping {
        vmar: root_vmar(),
        addr,
        len: PAGEZ,
    };
    m.poke(0, 0x5C);
    let a = format!("{:#x}", m.addr);
    let code = run_child(&["read-addr", a.as_str()], vec![], CHILD_TIMEOUT)?;
    expect_code(code, ZX_TASK_RETCODE_EXCEPTION_KILL)?;
    eq!(m.peek(0), 0x5Cu8);
    Ok(())
}

fn fault_null() -> R {
    let code = run_child(&["read-addr", "0x10"], vec![], CHILD_TIMEOUT)?;
    expect_code(code, ZX_TASK_RETCODE_EXCEPTION_KILL)?;
    let code = run_child(&["write-addr", "0x0"], vec![], CHILD_TIMEOUT)?;
    expect_code(code, ZX_TASK_RETCODE_EXCEPTION_KILL)?;
    let a = format!("{:#x}", UNMAPPED_ADDR);
    let code = run_child(&["read-addr", a.as_str()], vec![], CHILD_TIMEOUT)?;
    expect_code(code, ZX_TASK_RETCODE_EXCEPTION_KILL)
}

fn fault_kernel() -> R {
    for a in [
        "0xffff000000000000",
        "0xffffff8000001000",
        "0x0000800000000000",
    ] {
        let code = run_child(&["read-addr", a], vec![], CHILD_TIMEOUT)?;
        if code != ZX_TASK_RETCODE_EXCEPTION_KILL {
            fail!(
                "reading {a}: expected EXCEPTION_KILL, got {}",
                describe(code)
            );
        }
    }
    Ok(())
}

fn fault_rodata() -> R {
    let code = run_child(&["write-rodata"], vec![], CHILD_TIMEOUT)?;
    expect_code(code, ZX_TASK_RETCODE_EXCEPTION_KILL)?;
    // The program's own text is not writable either.
    let text = format!("{:#x}", fault_rodata as *const () as usize);
    let code = run_child(&["write-addr", text.as_str()], vec![], CHILD_TIMEOUT)?;
    expect_code(code, ZX_TASK_RETCODE_EXCEPTION_KILL)
}

fn fault_exec_rw() -> R {
    let code = run_child(&["exec-rw"], vec![], CHILD_TIMEOUT)?;
    expect_code(code, ZX_TASK_RETCODE_EXCEPTION_KILL)
}

fn shrink_fault() -> R {
    let code = run_child(&["shrink-fault"], vec![], CHILD_TIMEOUT)?;
    expect_code(code, ZX_TASK_RETCODE_EXCEPTION_KILL)
}

fn task_kill() -> R {
    let (a, b) = channel()?;
    let p = spawn_child(&["sleep"], vec![b.into_raw()])?;
    sleep_ns(50 * MS);
    eqx!(signals(p.raw())? & ZX_PROCESS_TERMINATED, 0u32);
    zx_ok!(unsafe { sys::zx_task_kill(p.raw()) });
    let code = wait_child(&p, CHILD_TIMEOUT)?;
    expect_code(code, ZX_TASK_RETCODE_SYSCALL_KILL)?;
    let (s, obs) = wait(a.raw(), ZX_CHANNEL_PEER_CLOSED, 5000 * MS);
    ensure!(
        s == ZX_OK,
        "the killed child's channel end was not closed: {} (signals {obs:#x})",
        sname(s)
    );
    // Killing a dead process is fine.
    zx_ok!(unsafe { sys::zx_task_kill(p.raw()) });
    Ok(())
}

fn exit_closes_handles() -> R {
    let v = vmo(PAGE)?;
    let c = clone_vmo(v.raw(), ZX_VMO_CLONE_COPY_ON_WRITE, 0, PAGE)?;
    let (a, b) = channel()?;
    let p = spawn_child(&["hold-exit"], vec![b.into_raw(), c.into_raw()])?;
    let code = wait_child(&p, CHILD_TIMEOUT)?;
    expect_code(code, 5)?;
    let (s, obs) = wait(a.raw(), ZX_CHANNEL_PEER_CLOSED, 5000 * MS);
    ensure!(
        s == ZX_OK,
        "channel peer not closed after the child exited: {} ({obs:#x})",
        sname(s)
    );
    // The clone's handle and its mapping in the child are gone too.
    let (s, _) = wait(v.raw(), ZX_VMO_ZERO_CHILDREN, 5000 * MS);
    ensure!(
        s == ZX_OK,
        "ZERO_CHILDREN not active after the child holding (and mapping) the clone exited: {}",
        sname(s)
    );
    eq!(vmo_info(v.raw())?.num_children, 0usize);
    Ok(())
}

fn kill_closes_handles() -> R {
    let v = vmo(PAGE)?;
    let c = clone_vmo(v.raw(), ZX_VMO_CLONE_COPY_ON_WRITE, 0, PAGE)?;
    let (a, b) = channel()?;
    // `sleep` ignores its extra handles; they are just held.
    let p = spawn_child(&["sleep"], vec![b.into_raw(), c.into_raw()])?;
    sleep_ns(30 * MS);
    zx_ok!(unsafe { sys::zx_task_kill(p.raw()) });
    wait_child(&p, CHILD_TIMEOUT)?;
    let (s, _) = wait(a.raw(), ZX_CHANNEL_PEER_CLOSED, 5000 * MS);
    ensure!(
        s == ZX_OK,
        "channel peer not closed after kill: {}",
        sname(s)
    );
    let (s, _) = wait(v.raw(), ZX_VMO_ZERO_CHILDREN, 5000 * MS);
    ensure!(
        s == ZX_OK,
        "ZERO_CHILDREN not active after the killed child's clone handle: {}",
        sname(s)
    );
    Ok(())
}

/// Starts a child that commits `pages` pages in one VMO and touches as many through a
/// mapping of another, and waits until it says it is ready; returns the process and the
/// channel end to tell it `go` (it then exits 0) or to wait on.
pub(crate) fn spawn_committing_child(pages: u64) -> Result<(Owned, Owned), String> {
    spawn_ready_child(&["commit", format!("{pages}").as_str()])
}

/// Starts a child in `mode_args` with a channel end as its extra handle 0 and waits until it
/// says `ready` there; returns the process and the other end.
pub(crate) fn spawn_ready_child(mode_args: &[&str]) -> Result<(Owned, Owned), String> {
    let (a, b) = channel()?;
    let p = spawn_child(mode_args, vec![b.into_raw()])?;
    let (s, _) = wait(
        a.raw(),
        ZX_CHANNEL_READABLE | ZX_CHANNEL_PEER_CLOSED,
        CHILD_TIMEOUT,
    );
    let msg = ch_read(a.raw(), 16, 0);
    if s != ZX_OK || msg.bytes != b"ready" {
        let code = wait_child(&p, 5000 * MS);
        fail!(
            "child not ready ({} {:?}); ended with {:?}",
            sname(s),
            msg.bytes,
            code.map(describe)
        );
    }
    Ok((p, a))
}

fn kmem_returns() -> R {
    // Warm up: the first spawn may allocate lasting things (heap, caches) in this process.
    let _ = run_child(&["exit", "0"], vec![], CHILD_TIMEOUT)?;
    let pages = 256u64;
    let base = kmem()?;
    let (p, a) = spawn_committing_child(pages)?;
    let during = kmem()?;
    zx_ok!(ch_write(a.raw(), b"go", &[]));
    expect_code(wait_child(&p, CHILD_TIMEOUT)?, 0)?;
    ensure!(
        during.vmo_bytes >= base.vmo_bytes + 2 * pages * PAGE - 16 * PAGE,
        "while the child held {} pages: vmo_bytes {:#x} -> {:#x}",
        2 * pages,
        base.vmo_bytes,
        during.vmo_bytes
    );
    let slack = 32 * PAGE;
    let deadline = now() + 3000 * MS;
    loop {
        let k = kmem()?;
        let vmo_ok = k.vmo_bytes <= base.vmo_bytes + slack;
        let mmu_ok = k.mmu_overhead_bytes <= base.mmu_overhead_bytes + slack;
        let free_ok = k.free_bytes + 4 * slack >= base.free_bytes;
        if vmo_ok && mmu_ok && free_ok {
            return Ok(());
        }
        if now() > deadline {
            fail!(
                "after the child exited: vmo_bytes {:#x} (before {:#x}, during {:#x}), mmu {:#x} (before {:#x}), free {:#x} (before {:#x})",
                k.vmo_bytes,
                base.vmo_bytes,
                during.vmo_bytes,
                k.mmu_overhead_bytes,
                base.mmu_overhead_bytes,
                k.free_bytes,
                base.free_bytes
            );
        }
        sleep_ns(20 * MS);
    }
}

fn create_bad_args() -> R {
    let name = b"proc";
    let (mut p, mut v) = (0u32, 0u32);
    let vm = vmo(PAGE)?;
    check!(ZX_ERR_WRONG_TYPE, unsafe {
        sys::zx_process_create(
            vm.raw(),
            name.as_ptr().cast(),
            name.len(),
            0,
            &mut p,
            &mut v,
        )
    });
    check!(ZX_ERR_INVALID_ARGS, unsafe {
        sys::zx_process_create(
            zx::startup::job_default(),
            name.as_ptr().cast(),
            name.len(),
            1,
            &mut p,
            &mut v,
        )
    });
    for bad in [0usize, KERNEL_ADDR, UNMAPPED_ADDR] {
        check!(ZX_ERR_INVALID_ARGS, unsafe {
            sys::zx_process_create(
                zx::startup::job_default(),
                bad as *const _,
                4,
                0,
                &mut p,
                &mut v,
            )
        });
        check!(ZX_ERR_INVALID_ARGS, unsafe {
            sys::zx_process_create(
                zx::startup::job_default(),
                name.as_ptr().cast(),
                name.len(),
                0,
                bad as *mut u32,
                &mut v,
            )
        });
        check!(ZX_ERR_INVALID_ARGS, unsafe {
            sys::zx_process_create(
                zx::startup::job_default(),
                name.as_ptr().cast(),
                name.len(),
                0,
                &mut p,
                bad as *mut u32,
            )
        });
    }
    // A created but never started process can be closed.
    zx_ok!(unsafe {
        sys::zx_process_create(
            zx::startup::job_default(),
            name.as_ptr().cast(),
            name.len(),
            0,
            &mut p,
            &mut v,
        )
    });
    let p = Owned::from_raw(p);
    let v = Owned::from_raw(v);
    eq!(basic(p.raw())?.type_, ZX_OBJ_TYPE_PROCESS);
    eqx!(basic(p.raw())?.rights, ZX_DEFAULT_PROCESS_RIGHTS);
    eq!(basic(v.raw())?.type_, ZX_OBJ_TYPE_VMAR);
    let i: zx_info_process_t = get_info(p.raw(), ZX_INFO_PROCESS)?;
    eqx!(i.flags & ZX_INFO_PROCESS_FLAG_STARTED, 0u32);
    Ok(())
}

fn write_ro_mapping() -> R {
    expect_code(
        run_child(&["write-ro-mapping"], vec![], CHILD_TIMEOUT)?,
        ZX_TASK_RETCODE_EXCEPTION_KILL,
    )
}

fn protect_then_write() -> R {
    expect_code(
        run_child(&["protect-then-write"], vec![], CHILD_TIMEOUT)?,
        ZX_TASK_RETCODE_EXCEPTION_KILL,
    )
}

fn unmap_then_read() -> R {
    expect_code(
        run_child(&["unmap-then-read"], vec![], CHILD_TIMEOUT)?,
        ZX_TASK_RETCODE_EXCEPTION_KILL,
    )
}

fn destroy_then_read() -> R {
    expect_code(
        run_child(&["destroy-then-read"], vec![], CHILD_TIMEOUT)?,
        ZX_TASK_RETCODE_EXCEPTION_KILL,
    )
}

fn exec_rx() -> R {
    expect_code(run_child(&["exec-rx"], vec![], CHILD_TIMEOUT)?, 0)
}

fn exit_with_thread() -> R {
    expect_code(run_child(&["exit-with-thread"], vec![], CHILD_TIMEOUT)?, 3)
}

fn exit_from_thread() -> R {
    expect_code(run_child(&["exit-from-thread"], vec![], CHILD_TIMEOUT)?, 7)
}

fn thread_fault() -> R {
    expect_code(
        run_child(&["thread-fault"], vec![], CHILD_TIMEOUT)?,
        ZX_TASK_RETCODE_EXCEPTION_KILL,
    )
}

fn kill_self() -> R {
    expect_code(
        run_child(&["kill-self"], vec![], CHILD_TIMEOUT)?,
        ZX_TASK_RETCODE_SYSCALL_KILL,
    )
}

fn child_shrink() -> R {
    let v = vmo(2 * PAGE)?;
    let m = map(v.raw(), 0, 2 * PAGEZ, RW)?;
    m.poke(0, 1);
    m.poke(PAGEZ, 0xAB);
    let d = dup(v.raw(), ZX_RIGHT_SAME_RIGHTS)?;
    let code = run_child(&["shrink-vmo"], vec![d.into_raw()], CHILD_TIMEOUT)?;
    expect_code(code, 0)?;
    eq!(get_size(v.raw())?, PAGE);
    // This process's mapping of the dropped page is gone: the kernel cannot write there.
    let src = vmo(PAGE)?;
    check!(ZX_ERR_INVALID_ARGS, unsafe {
        sys::zx_vmo_read(src.raw(), m.ptr(PAGEZ), 0, 8)
    });
    // Regrown, the page is a fresh zero page, not the old one.
    zx_ok!(unsafe { sys::zx_vmo_set_size(v.raw(), 2 * PAGE) });
    eq!(m.peek(PAGEZ), 0u8);
    eq!(m.peek(0), 1u8);
    Ok(())
}

fn main_thread_exit() -> R {
    expect_code(run_child(&["main-thread-exit"], vec![], CHILD_TIMEOUT)?, 9)
}

fn all_threads_exit() -> R {
    // The return code is not part of the contract; the process must end.
    let p = spawn_child(&["all-threads-exit"], vec![])?;
    wait_child(&p, CHILD_TIMEOUT)?;
    Ok(())
}

fn many_children() -> R {
    let mut kids = alloc::vec::Vec::new();
    let codes = ["10", "11", "12", "13", "14", "15", "16", "17"];
    for c in codes.iter() {
        kids.push(spawn_child(&["exit", c], vec![])?);
    }
    for (i, p) in kids.iter().enumerate() {
        let code = wait_child(p, CHILD_TIMEOUT)?;
        if code != 10 + i as i64 {
            fail!(
                "child {i}: expected return code {}, got {}",
                10 + i,
                describe(code)
            );
        }
    }
    Ok(())
}

/// `movz x0, #code; movz x16, #ZX_SYS_process_exit; svc #0; b .`
fn exit_code_program(code: u16) -> [u8; 16] {
    let insns: [u32; 4] = [
        0xD280_0000 | (u32::from(code) << 5),
        0xD280_0000 | (ZX_SYS_process_exit << 5) | 16,
        0xD400_0001,
        0x1400_0000,
    ];
    let mut out = [0u8; 16];
    for (i, w) in insns.iter().enumerate() {
        out[4 * i..4 * i + 4].copy_from_slice(&w.to_le_bytes());
    }
    out
}

fn new_process(name: &[u8]) -> Result<(Owned, Owned, Owned), String> {
    let (mut p, mut v, mut t) = (0u32, 0u32, 0u32);
    let s = unsafe {
        sys::zx_process_create(
            zx::startup::job_default(),
            name.as_ptr(),
            name.len(),
            0,
            &mut p,
            &mut v,
        )
    };
    if s != ZX_OK {
        return Err(format!("zx_process_create: {}", sname(s)));
    }
    let (p, v) = (Owned::from_raw(p), Owned::from_raw(v));
    let s = unsafe { sys::zx_thread_create(p.raw(), name.as_ptr(), name.len(), 0, &mut t) };
    if s != ZX_OK {
        return Err(format!("zx_thread_create: {}", sname(s)));
    }
    Ok((p, v, Owned::from_raw(t)))
}

fn start_direct() -> R {
    let (p, vmar, t) = new_process(b"hand-made")?;
    let code = vmo(PAGE)?;
    write_all(code.raw(), 0, &exit_code_program(77))?;
    zx_ok!(op(code.raw(), ZX_VMO_OP_CACHE_SYNC, 0, 16));
    // Mapped into the new process's root VMAR, not ours.
    let entry = match map_raw(
        vmar.raw(),
        ZX_VM_PERM_READ | ZX_VM_PERM_EXECUTE,
        0,
        code.raw(),
        0,
        PAGEZ,
    ) {
        Ok(a) => a,
        Err(s) => fail!("mapping code into the new process: {}", sname(s)),
    };
    zx_ok!(unsafe { sys::zx_process_start(p.raw(), t.raw(), entry, 0, ZX_HANDLE_INVALID, 0) });
    expect_code(wait_child(&p, CHILD_TIMEOUT)?, 77)?;
    // Its address space went away with it.
    eq!(vmo_info(code.raw())?.num_mappings, 0usize);
    eqx!(
        signals(t.raw())? & ZX_THREAD_TERMINATED,
        ZX_THREAD_TERMINATED
    );
    Ok(())
}

fn start_faulting() -> R {
    let (p, _vmar, t) = new_process(b"faulting")?;
    let (a, b) = channel()?;
    // Nothing is mapped in the new process: its first instruction faults.
    zx_ok!(unsafe { sys::zx_process_start(p.raw(), t.raw(), 0x1000_0000, 0, b.into_raw(), 0) });
    expect_code(
        wait_child(&p, CHILD_TIMEOUT)?,
        ZX_TASK_RETCODE_EXCEPTION_KILL,
    )?;
    let (s, _) = wait(a.raw(), ZX_CHANNEL_PEER_CLOSED, 5000 * MS);
    ensure!(
        s == ZX_OK,
        "the handle given to the dead process was not closed: {}",
        sname(s)
    );
    Ok(())
}

fn start_checks() -> R {
    let (p, _vmar, t) = new_process(b"checks")?;
    let v = vmo(PAGE)?;
    // The argument handle needs TRANSFER and is consumed even when refused.
    let no_transfer = dup(v.raw(), ZX_DEFAULT_VMO_RIGHTS & !ZX_RIGHT_TRANSFER)?.into_raw();
    check!(ZX_ERR_ACCESS_DENIED, unsafe {
        sys::zx_process_start(p.raw(), t.raw(), 0x1000_0000, 0, no_transfer, 0)
    });
    check!(ZX_ERR_BAD_HANDLE, valid(no_transfer));
    // Wrong types.
    check!(ZX_ERR_WRONG_TYPE, unsafe {
        sys::zx_process_start(v.raw(), t.raw(), 0x1000_0000, 0, ZX_HANDLE_INVALID, 0)
    });
    check!(ZX_ERR_WRONG_TYPE, unsafe {
        sys::zx_process_start(p.raw(), v.raw(), 0x1000_0000, 0, ZX_HANDLE_INVALID, 0)
    });
    // Started once, not twice.
    zx_ok!(unsafe {
        sys::zx_process_start(p.raw(), t.raw(), 0x1000_0000, 0, ZX_HANDLE_INVALID, 0)
    });
    check!(ZX_ERR_BAD_STATE, unsafe {
        sys::zx_process_start(p.raw(), t.raw(), 0x1000_0000, 0, ZX_HANDLE_INVALID, 0)
    });
    wait_child(&p, CHILD_TIMEOUT)?;
    eq!(handle_count(v.raw())?, 1u32);
    Ok(())
}

fn kmem_after_flood() -> R {
    let base = kmem()?;
    let code = run_child(&["flood"], vec![], CHILD_TIMEOUT)?;
    ensure!(code > 0, "the flooding child ended with {}", describe(code));
    let slack = 256 * PAGE;
    let deadline = now() + 3000 * MS;
    loop {
        let k = kmem()?;
        if k.free_bytes + slack >= base.free_bytes && k.vmo_bytes <= base.vmo_bytes + slack {
            return Ok(());
        }
        if now() > deadline {
            fail!(
                "after a child queued {code} 64 KiB messages and exited: free_bytes {:#x} (before {:#x}), kernel heap {:#x} of which {:#x} free (before {:#x}/{:#x}): the memory did not go back to the page pool",
                k.free_bytes,
                base.free_bytes,
                k.total_heap_bytes,
                k.free_heap_bytes,
                base.total_heap_bytes,
                base.free_heap_bytes
            );
        }
        sleep_ns(20 * MS);
    }
}

/// Maps [`exit_code_program`] with `code` into `vmar` (another process's root VMAR); returns
/// the entry address.
fn map_exit_program(vmar: u32, code: u16) -> Result<usize, String> {
    let text = vmo(PAGE)?;
    write_all(text.raw(), 0, &exit_code_program(code))?;
    zx_ok!(op(text.raw(), ZX_VMO_OP_CACHE_SYNC, 0, 16));
    map_raw(
        vmar,
        ZX_VM_PERM_READ | ZX_VM_PERM_EXECUTE,
        0,
        text.raw(),
        0,
        PAGEZ,
    )
    .map_err(|s| format!("mapping code into the new process: {}", sname(s)))
}

/// Issue 11, item 4 (Zircon's rule): a thread of a process that has not been started cannot
/// be started (BAD_STATE); the process's first thread starts with zx_process_start. Nothing
/// changes: the same thread then starts the process.
fn thread_start_before_process_start() -> R {
    let (p, vmar, t) = new_process(b"early-thread")?;
    check!(ZX_ERR_BAD_STATE, unsafe {
        sys::zx_thread_start(t.raw(), 0x1000_0000, 0x2000_0000, 0, 0)
    });
    let info: zx_info_process_t = get_info(p.raw(), ZX_INFO_PROCESS)?;
    eqx!(info.flags, 0u32);
    let entry = map_exit_program(vmar.raw(), 78)?;
    zx_ok!(unsafe { sys::zx_process_start(p.raw(), t.raw(), entry, 0, ZX_HANDLE_INVALID, 0) });
    expect_code(wait_child(&p, CHILD_TIMEOUT)?, 78)
}

/// Issue 11, item 5: zx_process_start refuses an entry or a stack outside the user half with
/// INVALID_ARGS, starts nothing, and (as on every failure) consumes the argument handle.
fn start_outside_user_half() -> R {
    let (p, vmar, t) = new_process(b"outside")?;
    for bad in crate::t_thread::OUTSIDE_USER_HALF {
        for (entry, stack) in [(bad, 0), (0x1000_0000, bad)] {
            let (a, b) = channel()?;
            let b = b.into_raw();
            let s = unsafe { sys::zx_process_start(p.raw(), t.raw(), entry, stack, b, 0) };
            ensure!(
                s == ZX_ERR_INVALID_ARGS,
                "entry {entry:#x}, stack {stack:#x}: {} (expected ZX_ERR_INVALID_ARGS)",
                sname(s)
            );
            check!(ZX_ERR_BAD_HANDLE, valid(b));
            let (s, _) = wait(a.raw(), ZX_CHANNEL_PEER_CLOSED, 0);
            ensure!(
                s == ZX_OK,
                "the argument handle was not closed: {}",
                sname(s)
            );
        }
    }
    let info: zx_info_process_t = get_info(p.raw(), ZX_INFO_PROCESS)?;
    eqx!(info.flags, 0u32);
    let entry = map_exit_program(vmar.raw(), 79)?;
    zx_ok!(unsafe { sys::zx_process_start(p.raw(), t.raw(), entry, 0, ZX_HANDLE_INVALID, 0) });
    expect_code(wait_child(&p, CHILD_TIMEOUT)?, 79)
}

/// Issue 11, item 4: a process whose thread is started before the process (refused today;
/// earlier kernels ran it, it faulted and the process was killed), then closed.
fn leak_thread_started_early() -> R {
    expect_no_kernel_leak(10, 300, || {
        let (p, _vmar, t) = new_process(b"early")?;
        let s = unsafe { sys::zx_thread_start(t.raw(), 0x1000_0000, 0x2000_0000, 0, 0) };
        if s == ZX_OK {
            wait(p.raw(), ZX_PROCESS_TERMINATED, 5000 * MS);
        }
        Ok(())
    })
}

/// Issue 11, item 4: a child the kernel kills because it read address 0.
fn leak_fault_kill() -> R {
    expect_no_kernel_leak(3, 100, || {
        let code = run_child(&["read-addr", "0"], vec![], CHILD_TIMEOUT)?;
        expect_code(code, ZX_TASK_RETCODE_EXCEPTION_KILL)
    })
}
