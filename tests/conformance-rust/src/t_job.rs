//! Jobs, the task info topics and `zx_object_get_child` (zx-abi-objects.md sections 7 and
//! 12): job creation and its errors, the height limit, NO_JOBS / NO_PROCESSES, killing a job
//! tree (also racing process creation, and from inside), ZX_INFO_JOB / _JOB_CHILDREN /
//! _JOB_PROCESSES / _PROCESS_THREADS / _THREAD, and the thread states.

use crate::child::SURVIVED;
use crate::harness::Case;
use crate::util::*;
use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};

pub const CASES: &[Case] = &[
    ("job_create_rights_type_and_related_koid", create_basics),
    ("job_create_errors_in_lookup_order", create_errors),
    ("job_height_limit_is_32_levels", height_limit),
    ("job_signals_follow_children", signals_follow_children),
    ("job_kill_tree_kills_every_process", kill_tree),
    ("job_kill_empty_job_terminates_at_once", kill_empty),
    ("job_kill_needs_destroy", kill_needs_destroy),
    ("job_kill_own_job_does_not_return", kill_own_job),
    ("job_kill_races_process_creation", kill_races_creation),
    ("job_process_create_in_job", process_create_in_job),
    ("job_info_lists_in_creation_order", info_lists),
    ("job_info_rights_and_wrong_types", info_rights),
    ("job_info_bad_buffers", info_bad_buffers),
    ("job_process_threads_lists_live_threads", process_threads),
    ("job_get_child_finds_direct_children", get_child_cases),
    ("job_get_child_errors", get_child_errors),
    ("job_thread_states", thread_states),
    (
        "job_thread_blocked_in_wait_one_seen_by_another",
        blocked_wait_one,
    ),
    (
        "job_thread_state_names_each_blocking_call",
        blocked_in_each_call,
    ),
    ("job_no_kernel_leak", no_leak),
];

const JOB_RIGHTS: u32 = ZX_DEFAULT_JOB_RIGHTS;

fn job_default() -> u32 {
    zx::startup::job_default()
}

/// A new child job of `parent`.
fn job_in(parent: u32) -> Result<Owned, String> {
    let mut out = 0u32;
    // SAFETY: valid out pointer.
    let s = unsafe { sys::zx_job_create(parent, 0, &mut out) };
    if s != ZX_OK {
        return Err(format!("zx_job_create: {}", sname(s)));
    }
    Ok(Owned::from_raw(out))
}

fn job() -> Result<Owned, String> {
    job_in(job_default())
}

fn kill(h: u32) -> i32 {
    // SAFETY: no pointers.
    unsafe { sys::zx_task_kill(h) }
}

fn process_create(job: u32) -> (i32, Owned, Owned) {
    let (mut p, mut v) = (0u32, 0u32);
    let name = b"in-job";
    // SAFETY: valid name and out pointers.
    let s =
        unsafe { sys::zx_process_create(job, name.as_ptr().cast(), name.len(), 0, &mut p, &mut v) };
    (s, Owned::from_raw(p), Owned::from_raw(v))
}

/// Starts this program as a child (`child MODE ...`) in `job`.
fn spawn_in(job: u32, mode_args: &[&str]) -> Result<Owned, String> {
    let mut argv = vec![SELF_PATH, "child"];
    argv.extend_from_slice(mode_args);
    // SAFETY: `job` stays open for the call.
    let job = unsafe { zx::Unowned::<zx::Job>::from_raw_static(job) };
    let archive = zx::startup::bootfs_vmo();
    match zx::process::spawn_in(&job, &archive, SELF_PATH, &argv, Vec::new()) {
        Ok(p) => Ok(Owned::from_raw(p.into_raw())),
        Err(s) => Err(format!("spawn child {mode_args:?} in a job: {s}")),
    }
}

/// Reads a koid-list topic: (status, koids written, actual, avail).
fn koids(h: u32, topic: u32, room: usize) -> (i32, Vec<u64>, usize, usize) {
    let mut buf = vec![0u64; room];
    let (mut actual, mut avail) = (usize::MAX, usize::MAX);
    // SAFETY: the buffer is writable for room * 8 bytes.
    let s = unsafe {
        sys::zx_object_get_info(
            h,
            topic,
            buf.as_mut_ptr().cast(),
            room * 8,
            &mut actual,
            &mut avail,
        )
    };
    if s == ZX_OK {
        buf.truncate(actual.min(room));
    }
    (s, buf, actual, avail)
}

fn list(h: u32, topic: u32) -> Result<Vec<u64>, String> {
    let (s, list, _, avail) = koids(h, topic, 64);
    if s != ZX_OK {
        return Err(format!("list topic {topic}: {}", sname(s)));
    }
    if avail != list.len() {
        return Err(format!("avail {avail} but {} koids", list.len()));
    }
    Ok(list)
}

fn get_child(h: u32, koid: u64, rights: u32) -> (i32, Owned) {
    let mut out = 0u32;
    // SAFETY: valid out pointer.
    let s = unsafe { sys::zx_object_get_child(h, koid, rights, &mut out) };
    (s, Owned::from_raw(out))
}

fn job_info(h: u32) -> Result<zx_info_job_t, String> {
    get_info(h, ZX_INFO_JOB)
}

fn thread_state(h: u32) -> Result<u32, String> {
    Ok(get_info::<zx_info_thread_t>(h, ZX_INFO_THREAD)?.state)
}

/// Signals active now.
fn now_signals(h: u32) -> u32 {
    wait(h, 0, 0).1
}

fn create_basics() -> R {
    let j = job()?;
    let b = basic(j.raw())?;
    eq!(b.type_, ZX_OBJ_TYPE_JOB);
    eqx!(b.rights, JOB_RIGHTS);
    eq!(b.related_koid, koid_of(job_default())?);
    eqx!(now_signals(j.raw()), ZX_JOB_NO_JOBS | ZX_JOB_NO_PROCESSES);
    // This process belongs to its default job.
    eq!(basic(proc_self())?.related_koid, koid_of(job_default())?);
    eqx!(rights_of(job_default())?, JOB_RIGHTS);
    // Names: ZX_PROP_NAME works on jobs.
    zx_ok!(set_name(j.raw(), b"a-job"));
    eq!(name_str(&get_name(j.raw())?), &b"a-job"[..]);
    let i = job_info(j.raw())?;
    eq!((i.exited, i.return_code), (0u8, 0i64));
    Ok(())
}

fn create_errors() -> R {
    let mut out = 0x77u32;
    let v = vmo(PAGE)?;
    let no_manage = dup(job_default(), JOB_RIGHTS & !ZX_RIGHT_MANAGE_JOB)?;
    // SAFETY (all below): the out pointers are valid or deliberately bad.
    check!(ZX_ERR_BAD_HANDLE, unsafe {
        sys::zx_job_create(0x1234_5673, 0, &mut out)
    });
    check!(ZX_ERR_BAD_HANDLE, unsafe {
        sys::zx_job_create(ZX_HANDLE_INVALID, 0, &mut out)
    });
    // Lookup first: the wrong type wins over bad options.
    check!(ZX_ERR_WRONG_TYPE, unsafe {
        sys::zx_job_create(v.raw(), 1, &mut out)
    });
    check!(ZX_ERR_WRONG_TYPE, unsafe {
        sys::zx_job_create(proc_self(), 0, &mut out)
    });
    check!(ZX_ERR_ACCESS_DENIED, unsafe {
        sys::zx_job_create(no_manage.raw(), 1, &mut out)
    });
    check!(ZX_ERR_INVALID_ARGS, unsafe {
        sys::zx_job_create(job_default(), 1, &mut out)
    });
    for bad in [0usize, KERNEL_ADDR, UNMAPPED_ADDR, rodata_addr()] {
        check!(ZX_ERR_INVALID_ARGS, unsafe {
            sys::zx_job_create(job_default(), 0, bad as *mut u32)
        });
    }
    eq!(out, 0x77);
    // A failed create leaves no child behind.
    let j = job()?;
    check!(ZX_ERR_INVALID_ARGS, unsafe {
        sys::zx_job_create(j.raw(), 0, KERNEL_ADDR as *mut u32)
    });
    eqx!(now_signals(j.raw()) & ZX_JOB_NO_JOBS, ZX_JOB_NO_JOBS);
    // A killed parent: BAD_STATE.
    zx_ok!(kill(j.raw()));
    check!(ZX_ERR_BAD_STATE, unsafe {
        sys::zx_job_create(j.raw(), 0, &mut out)
    });
    Ok(())
}

fn height_limit() -> R {
    let mut chain: Vec<Owned> = Vec::new();
    let mut parent = job_default();
    loop {
        let mut out = 0u32;
        // SAFETY: valid out pointer.
        let s = unsafe { sys::zx_job_create(parent, 0, &mut out) };
        if s != ZX_OK {
            check!(ZX_ERR_OUT_OF_RANGE, s);
            break;
        }
        chain.push(Owned::from_raw(out));
        parent = out;
        ensure!(chain.len() <= 40, "no height limit");
    }
    // This program runs one or two levels below the root ("programs" under it).
    ensure!(
        chain.len() == 31 || chain.len() == 32,
        "{} levels below the default job",
        chain.len()
    );
    // A process may still live in the deepest job.
    let (s, _p, _v) = process_create(parent);
    check!(ZX_OK, s);
    Ok(())
}

fn signals_follow_children() -> R {
    let j = job()?;
    let both = ZX_JOB_NO_JOBS | ZX_JOB_NO_PROCESSES;
    eqx!(now_signals(j.raw()), both);
    let c = job_in(j.raw())?;
    eqx!(now_signals(j.raw()), ZX_JOB_NO_PROCESSES);
    drop(c);
    eqx!(now_signals(j.raw()), both);
    // An unstarted process counts while it lives.
    let (s, p, v) = process_create(j.raw());
    check!(ZX_OK, s);
    eqx!(now_signals(j.raw()), ZX_JOB_NO_JOBS);
    drop((p, v));
    eqx!(now_signals(j.raw()), both);
    // A running one until it ends; then the emptied job lives on.
    let p = spawn_in(j.raw(), &["sleep"])?;
    eqx!(now_signals(j.raw()) & ZX_JOB_NO_PROCESSES, 0);
    zx_ok!(kill(p.raw()));
    let (s, seen) = wait(j.raw(), ZX_JOB_NO_PROCESSES, 5000 * MS);
    check!(ZX_OK, s);
    eqx!(seen & ZX_JOB_TERMINATED, 0);
    eq!(wait_child(&p, 1000 * MS)?, ZX_TASK_RETCODE_SYSCALL_KILL);
    eq!(job_info(j.raw())?.exited, 0u8);
    // Still usable.
    let again = job_in(j.raw())?;
    drop(again);
    Ok(())
}

fn kill_tree() -> R {
    let top = job()?;
    let mid = job_in(top.raw())?;
    let leaf = job_in(mid.raw())?;
    let empty = job_in(leaf.raw())?;
    let mut procs = Vec::new();
    for j in [&top, &mid, &leaf, &leaf] {
        procs.push(spawn_in(j.raw(), &["sleep"])?);
    }
    let (s, unstarted, _v) = process_create(mid.raw());
    check!(ZX_OK, s);
    zx_ok!(kill(top.raw()));
    let (s, _) = wait(top.raw(), ZX_JOB_TERMINATED, 10_000 * MS);
    check!(ZX_OK, s);
    for p in procs.iter().chain([&unstarted]) {
        eqx!(
            now_signals(p.raw()) & ZX_PROCESS_TERMINATED,
            ZX_PROCESS_TERMINATED
        );
        let i: zx_info_process_t = get_info(p.raw(), ZX_INFO_PROCESS)?;
        eq!(i.return_code, ZX_TASK_RETCODE_SYSCALL_KILL);
    }
    for j in [&top, &mid, &leaf, &empty] {
        eqx!(
            now_signals(j.raw()),
            ZX_JOB_TERMINATED | ZX_JOB_NO_JOBS | ZX_JOB_NO_PROCESSES
        );
        let i = job_info(j.raw())?;
        eq!(
            (i.exited, i.return_code),
            (1u8, ZX_TASK_RETCODE_SYSCALL_KILL)
        );
        let mut out = 0u32;
        // SAFETY: valid out pointer.
        check!(ZX_ERR_BAD_STATE, unsafe {
            sys::zx_job_create(j.raw(), 0, &mut out)
        });
        check!(ZX_ERR_BAD_STATE, process_create(j.raw()).0);
        eq!(list(j.raw(), ZX_INFO_JOB_CHILDREN)?.len(), 0usize);
        eq!(list(j.raw(), ZX_INFO_JOB_PROCESSES)?.len(), 0usize);
    }
    // Killing a dead job is OK; the parent lives on.
    zx_ok!(kill(top.raw()));
    eq!(job_info(job_default())?.exited, 0u8);
    Ok(())
}

fn kill_empty() -> R {
    let j = job()?;
    zx_ok!(kill(j.raw()));
    let (s, _) = wait(j.raw(), ZX_JOB_TERMINATED, 0);
    check!(ZX_OK, s);
    eq!(job_info(j.raw())?.exited, 1u8);
    Ok(())
}

fn kill_needs_destroy() -> R {
    let j = job()?;
    let weak = dup(j.raw(), JOB_RIGHTS & !ZX_RIGHT_DESTROY)?;
    check!(ZX_ERR_ACCESS_DENIED, kill(weak.raw()));
    eq!(job_info(j.raw())?.exited, 0u8);
    check!(ZX_ERR_BAD_HANDLE, kill(0x1234_5673));
    let v = vmo(PAGE)?;
    check!(ZX_ERR_WRONG_TYPE, kill(v.raw()));
    Ok(())
}

/// A child that kills its own default job (and so itself): the call must not return.
fn kill_own_job() -> R {
    let j = job()?;
    let inner = job_in(j.raw())?;
    let sibling = spawn_in(inner.raw(), &["sleep"])?;
    let p = spawn_in(j.raw(), &["kill-own-job"])?;
    let code = wait_child(&p, 10_000 * MS)?;
    ensure!(
        code != i64::from(SURVIVED),
        "zx_task_kill of its own job returned"
    );
    eq!(code, ZX_TASK_RETCODE_SYSCALL_KILL);
    let (s, _) = wait(j.raw(), ZX_JOB_TERMINATED, 5000 * MS);
    check!(ZX_OK, s);
    eq!(
        wait_child(&sibling, 1000 * MS)?,
        ZX_TASK_RETCODE_SYSCALL_KILL
    );
    Ok(())
}

static RACE_JOB: AtomicU32 = AtomicU32::new(0);
static RACE_GO: AtomicBool = AtomicBool::new(false);
static RACE_DONE: AtomicUsize = AtomicUsize::new(0);
static RACE_BAD: AtomicU32 = AtomicU32::new(0);
/// Raw process handles the racers made (closed by the checker).
static RACE_MADE: [AtomicU32; 3 * RACE_PER_THREAD] =
    [const { AtomicU32::new(0) }; 3 * RACE_PER_THREAD];
const RACE_PER_THREAD: usize = 40;

extern "C" fn racer(index: usize, _: usize) -> ! {
    while !RACE_GO.load(Ordering::Acquire) {
        core::hint::spin_loop();
    }
    let job = RACE_JOB.load(Ordering::Acquire);
    for i in 0..RACE_PER_THREAD {
        let (s, p, v) = process_create(job);
        drop(v);
        if s == ZX_OK {
            RACE_MADE[index * RACE_PER_THREAD + i].store(p.into_raw(), Ordering::Release);
        } else if s != ZX_ERR_BAD_STATE {
            RACE_BAD.store(s as u32, Ordering::Release);
            break;
        } else {
            break;
        }
    }
    RACE_DONE.fetch_add(1, Ordering::AcqRel);
    thread_exit()
}

/// Threads create processes in a job while it is killed (-smp 4: on other CPUs): every
/// create succeeds or fails with BAD_STATE, every process made is killed, the job ends.
fn kill_races_creation() -> R {
    for round in 0..4 {
        let j = job()?;
        let running = spawn_in(j.raw(), &["sleep"])?;
        RACE_JOB.store(j.raw(), Ordering::Release);
        RACE_GO.store(false, Ordering::Release);
        RACE_DONE.store(0, Ordering::Release);
        RACE_BAD.store(0, Ordering::Release);
        let threads: Vec<Thread> = (0..3)
            .map(|i| start_thread(racer, i, 0))
            .collect::<Result<_, _>>()?;
        RACE_GO.store(true, Ordering::Release);
        sleep_ns(i64::from(round) * MS / 2);
        zx_ok!(kill(j.raw()));
        for t in threads {
            t.join(10_000 * MS)?;
        }
        let bad = RACE_BAD.load(Ordering::Acquire);
        ensure!(
            bad == 0,
            "zx_process_create racing a kill: {}",
            sname(bad as i32)
        );
        // Every process created, before or after the kill began, ends killed.
        for slot in RACE_MADE.iter() {
            let raw = slot.swap(0, Ordering::AcqRel);
            if raw == 0 {
                continue;
            }
            let p = Owned::from_raw(raw);
            let (s, _) = wait(p.raw(), ZX_PROCESS_TERMINATED, 5000 * MS);
            check!(ZX_OK, s);
            let i: zx_info_process_t = get_info(p.raw(), ZX_INFO_PROCESS)?;
            eq!(i.return_code, ZX_TASK_RETCODE_SYSCALL_KILL);
        }
        eq!(
            wait_child(&running, 5000 * MS)?,
            ZX_TASK_RETCODE_SYSCALL_KILL
        );
        let (s, _) = wait(j.raw(), ZX_JOB_TERMINATED, 5000 * MS);
        check!(ZX_OK, s);
        check!(ZX_ERR_BAD_STATE, process_create(j.raw()).0);
    }
    Ok(())
}

fn process_create_in_job() -> R {
    let j = job()?;
    let (s, p, _v) = process_create(j.raw());
    check!(ZX_OK, s);
    eq!(basic(p.raw())?.related_koid, koid_of(j.raw())?);
    eq!(
        list(j.raw(), ZX_INFO_JOB_PROCESSES)?,
        vec![koid_of(p.raw())?]
    );
    // MANAGE_PROCESS is needed; a thread or VMO is the wrong type.
    let weak = dup(j.raw(), JOB_RIGHTS & !ZX_RIGHT_MANAGE_PROCESS)?;
    check!(ZX_ERR_ACCESS_DENIED, process_create(weak.raw()).0);
    check!(ZX_ERR_WRONG_TYPE, process_create(proc_self()).0);
    check!(ZX_ERR_BAD_HANDLE, process_create(ZX_HANDLE_INVALID).0);
    Ok(())
}

fn info_lists() -> R {
    let j = job()?;
    let a = job_in(j.raw())?;
    let b = job_in(j.raw())?;
    let (_, p1, _v1) = process_create(j.raw());
    let (_, p2, _v2) = process_create(j.raw());
    let (_, p3, _v3) = process_create(j.raw());
    eq!(
        list(j.raw(), ZX_INFO_JOB_CHILDREN)?,
        vec![koid_of(a.raw())?, koid_of(b.raw())?]
    );
    let all = vec![koid_of(p1.raw())?, koid_of(p2.raw())?, koid_of(p3.raw())?];
    eq!(list(j.raw(), ZX_INFO_JOB_PROCESSES)?, all.clone());
    // No BUFFER_TOO_SMALL: what fits, and how many there are.
    let (s, got, actual, avail) = koids(j.raw(), ZX_INFO_JOB_PROCESSES, 2);
    check!(ZX_OK, s);
    eq!((actual, avail), (2usize, 3usize));
    eq!(got, all[..2].to_vec());
    // A buffer of 12 bytes holds one koid.
    let mut buf = [0u64; 2];
    let (mut actual, mut avail) = (9usize, 9usize);
    // SAFETY: 12 bytes of a 16-byte buffer.
    zx_ok!(unsafe {
        sys::zx_object_get_info(
            j.raw(),
            ZX_INFO_JOB_PROCESSES,
            buf.as_mut_ptr().cast(),
            12,
            &mut actual,
            &mut avail,
        )
    });
    eq!(
        (actual, avail, buf[0], buf[1]),
        (1usize, 3usize, all[0], 0u64)
    );
    // NULL buffer, size 0: just the count; NULL counts are fine too.
    // SAFETY: NULL with size 0.
    zx_ok!(unsafe {
        sys::zx_object_get_info(
            j.raw(),
            ZX_INFO_JOB_CHILDREN,
            core::ptr::null_mut(),
            0,
            &mut actual,
            &mut avail,
        )
    });
    eq!((actual, avail), (0usize, 2usize));
    // SAFETY: NULL counts.
    zx_ok!(unsafe {
        sys::zx_object_get_info(
            j.raw(),
            ZX_INFO_JOB_CHILDREN,
            buf.as_mut_ptr().cast(),
            16,
            core::ptr::null_mut(),
            core::ptr::null_mut(),
        )
    });
    // Gone children leave the lists.
    drop((p2, _v2, a));
    eq!(
        list(j.raw(), ZX_INFO_JOB_CHILDREN)?,
        vec![koid_of(b.raw())?]
    );
    eq!(list(j.raw(), ZX_INFO_JOB_PROCESSES)?, vec![all[0], all[2]]);
    Ok(())
}

fn info_rights() -> R {
    let j = job()?;
    let mut buf = [0u8; 64];
    let call = |h: u32, topic: u32, buf: &mut [u8]| {
        let (mut a, mut v) = (0usize, 0usize);
        // SAFETY: valid buffer and counts.
        unsafe {
            sys::zx_object_get_info(h, topic, buf.as_mut_ptr().cast(), buf.len(), &mut a, &mut v)
        }
    };
    let no_enum = dup(j.raw(), JOB_RIGHTS & !ZX_RIGHT_ENUMERATE)?;
    let no_inspect = dup(j.raw(), JOB_RIGHTS & !ZX_RIGHT_INSPECT)?;
    check!(
        ZX_ERR_ACCESS_DENIED,
        call(no_enum.raw(), ZX_INFO_JOB_CHILDREN, &mut buf)
    );
    check!(
        ZX_ERR_ACCESS_DENIED,
        call(no_enum.raw(), ZX_INFO_JOB_PROCESSES, &mut buf)
    );
    check!(ZX_OK, call(no_enum.raw(), ZX_INFO_JOB, &mut buf));
    check!(
        ZX_ERR_ACCESS_DENIED,
        call(no_inspect.raw(), ZX_INFO_JOB, &mut buf)
    );
    check!(
        ZX_OK,
        call(no_inspect.raw(), ZX_INFO_JOB_CHILDREN, &mut buf)
    );
    // Known topics on the wrong object.
    check!(ZX_ERR_WRONG_TYPE, call(proc_self(), ZX_INFO_JOB, &mut buf));
    check!(
        ZX_ERR_WRONG_TYPE,
        call(proc_self(), ZX_INFO_JOB_CHILDREN, &mut buf)
    );
    check!(
        ZX_ERR_WRONG_TYPE,
        call(j.raw(), ZX_INFO_PROCESS_THREADS, &mut buf)
    );
    check!(ZX_ERR_WRONG_TYPE, call(j.raw(), ZX_INFO_THREAD, &mut buf));
    check!(ZX_ERR_WRONG_TYPE, call(j.raw(), ZX_INFO_PROCESS, &mut buf));
    let no_enum_proc = dup(proc_self(), ZX_DEFAULT_PROCESS_RIGHTS & !ZX_RIGHT_ENUMERATE)?;
    check!(
        ZX_ERR_ACCESS_DENIED,
        call(no_enum_proc.raw(), ZX_INFO_PROCESS_THREADS, &mut buf)
    );
    // A short buffer for ZX_INFO_JOB: BUFFER_TOO_SMALL, actual 0, avail 1.
    check!(
        ZX_ERR_BUFFER_TOO_SMALL,
        call(j.raw(), ZX_INFO_JOB, &mut buf[..15])
    );
    Ok(())
}

fn info_bad_buffers() -> R {
    let j = job()?;
    let (_, _p, _v) = process_create(j.raw());
    let (mut actual, mut avail) = (0usize, 0usize);
    for bad in [0usize, KERNEL_ADDR, UNMAPPED_ADDR, rodata_addr()] {
        // SAFETY: deliberately bad buffers and count pointers.
        check!(ZX_ERR_INVALID_ARGS, unsafe {
            sys::zx_object_get_info(
                j.raw(),
                ZX_INFO_JOB_PROCESSES,
                bad as *mut u8,
                16,
                &mut actual,
                &mut avail,
            )
        });
        let mut buf = [0u64; 2];
        if bad == 0 {
            continue; // NULL counts are allowed
        }
        check!(ZX_ERR_INVALID_ARGS, unsafe {
            sys::zx_object_get_info(
                j.raw(),
                ZX_INFO_JOB_PROCESSES,
                buf.as_mut_ptr().cast(),
                16,
                bad as *mut usize,
                &mut avail,
            )
        });
        check!(ZX_ERR_INVALID_ARGS, unsafe {
            sys::zx_object_get_info(
                j.raw(),
                ZX_INFO_JOB,
                bad as *mut u8,
                16,
                &mut actual,
                &mut avail,
            )
        });
    }
    Ok(())
}

extern "C" fn parked(flag: usize, _: usize) -> ! {
    // SAFETY: `flag` is the address of a live AtomicU32 of the case.
    let flag = unsafe { &*(flag as *const AtomicU32) };
    while flag.load(Ordering::Acquire) == 0 {
        sleep_ns(MS);
    }
    thread_exit()
}

fn process_threads() -> R {
    let flag = AtomicU32::new(0);
    let before = list(proc_self(), ZX_INFO_PROCESS_THREADS)?;
    ensure!(!before.is_empty(), "no thread listed for this process");
    let t = start_thread(parked, &flag as *const _ as usize, 0)?;
    let koid = koid_of(t.raw())?;
    let during = list(proc_self(), ZX_INFO_PROCESS_THREADS)?;
    ensure!(
        during.contains(&koid),
        "new thread {koid} not in {during:?}"
    );
    ensure!(
        during.windows(2).all(|w| w[0] < w[1]),
        "not in creation order: {during:?}"
    );
    flag.store(1, Ordering::Release);
    t.join(5000 * MS)?;
    let after = list(proc_self(), ZX_INFO_PROCESS_THREADS)?;
    ensure!(!after.contains(&koid), "dead thread still listed");
    // A process never started has none.
    let (_, p, _v) = process_create(job_default());
    eq!(list(p.raw(), ZX_INFO_PROCESS_THREADS)?.len(), 0usize);
    Ok(())
}

fn get_child_cases() -> R {
    let j = job()?;
    let c = job_in(j.raw())?;
    let (_, p, _v) = process_create(j.raw());
    let (s, h) = get_child(j.raw(), koid_of(c.raw())?, ZX_RIGHT_SAME_RIGHTS);
    check!(ZX_OK, s);
    eq!(koid_of(h.raw())?, koid_of(c.raw())?);
    eqx!(rights_of(h.raw())?, JOB_RIGHTS);
    let (s, h) = get_child(j.raw(), koid_of(p.raw())?, ZX_RIGHT_INSPECT | ZX_RIGHT_WAIT);
    check!(ZX_OK, s);
    eq!(basic(h.raw())?.type_, ZX_OBJ_TYPE_PROCESS);
    eqx!(rights_of(h.raw())?, ZX_RIGHT_INSPECT | ZX_RIGHT_WAIT);
    // A thread of this process.
    let flag = AtomicU32::new(0);
    let t = start_thread(parked, &flag as *const _ as usize, 0)?;
    let (s, h) = get_child(proc_self(), koid_of(t.raw())?, ZX_RIGHT_SAME_RIGHTS);
    check!(ZX_OK, s);
    eq!(basic(h.raw())?.type_, ZX_OBJ_TYPE_THREAD);
    eqx!(rights_of(h.raw())?, rights_of(proc_self())?);
    flag.store(1, Ordering::Release);
    t.join(5000 * MS)?;
    Ok(())
}

fn get_child_errors() -> R {
    let j = job()?;
    let c = job_in(j.raw())?;
    let g = job_in(c.raw())?;
    let (_, p, _v) = process_create(j.raw());
    let ck = koid_of(c.raw())?;
    check!(
        ZX_ERR_BAD_HANDLE,
        get_child(0x1234_5673, ck, ZX_RIGHT_SAME_RIGHTS).0
    );
    let v = vmo(PAGE)?;
    check!(
        ZX_ERR_WRONG_TYPE,
        get_child(v.raw(), ck, ZX_RIGHT_SAME_RIGHTS).0
    );
    let no_enum = dup(j.raw(), JOB_RIGHTS & !ZX_RIGHT_ENUMERATE)?;
    check!(
        ZX_ERR_ACCESS_DENIED,
        get_child(no_enum.raw(), ck, ZX_RIGHT_SAME_RIGHTS).0
    );
    // Rights beyond the handle's.
    let small = dup(j.raw(), ZX_RIGHT_ENUMERATE | ZX_RIGHT_INSPECT)?;
    check!(
        ZX_ERR_ACCESS_DENIED,
        get_child(small.raw(), ck, ZX_RIGHT_DESTROY).0
    );
    let (s, h) = get_child(small.raw(), ck, ZX_RIGHT_SAME_RIGHTS);
    check!(ZX_OK, s);
    eqx!(rights_of(h.raw())?, ZX_RIGHT_ENUMERATE | ZX_RIGHT_INSPECT);
    // Not a direct child, no such koid, the job itself, a process koid asked of a process.
    check!(
        ZX_ERR_NOT_FOUND,
        get_child(j.raw(), koid_of(g.raw())?, ZX_RIGHT_SAME_RIGHTS).0
    );
    check!(
        ZX_ERR_NOT_FOUND,
        get_child(j.raw(), u64::MAX, ZX_RIGHT_SAME_RIGHTS).0
    );
    check!(
        ZX_ERR_NOT_FOUND,
        get_child(j.raw(), 0, ZX_RIGHT_SAME_RIGHTS).0
    );
    check!(
        ZX_ERR_NOT_FOUND,
        get_child(j.raw(), koid_of(j.raw())?, ZX_RIGHT_SAME_RIGHTS).0
    );
    check!(
        ZX_ERR_NOT_FOUND,
        get_child(proc_self(), koid_of(p.raw())?, ZX_RIGHT_SAME_RIGHTS).0
    );
    // Bad out pointers.
    for bad in [0usize, KERNEL_ADDR, UNMAPPED_ADDR, rodata_addr()] {
        // SAFETY: deliberately bad out pointer.
        check!(ZX_ERR_INVALID_ARGS, unsafe {
            sys::zx_object_get_child(j.raw(), ck, ZX_RIGHT_SAME_RIGHTS, bad as *mut u32)
        });
    }
    // A dead child is not found.
    let pk = koid_of(p.raw())?;
    zx_ok!(kill(p.raw()));
    let (s, _) = wait(j.raw(), ZX_JOB_NO_PROCESSES, 5000 * MS);
    check!(ZX_OK, s);
    check!(
        ZX_ERR_NOT_FOUND,
        get_child(j.raw(), pk, ZX_RIGHT_SAME_RIGHTS).0
    );
    Ok(())
}

extern "C" fn spinner(flag: usize, _: usize) -> ! {
    // SAFETY: `flag` is the address of a live AtomicU32 of the case.
    let flag = unsafe { &*(flag as *const AtomicU32) };
    while flag.load(Ordering::Acquire) == 0 {
        core::hint::spin_loop();
    }
    thread_exit()
}

extern "C" fn sleeper(_: usize, _: usize) -> ! {
    // SAFETY: no pointers.
    unsafe {
        sys::zx_nanosleep(ZX_TIME_INFINITE);
    }
    thread_exit()
}

/// Polls `thread`'s state until it is `want` (up to 5 s).
fn await_state(thread: u32, want: u32) -> R {
    let deadline = now() + 5000 * MS;
    loop {
        let state = thread_state(thread)?;
        if state == want {
            return Ok(());
        }
        if now() > deadline {
            fail!("thread state {state:#x}, expected {want:#x}");
        }
        sleep_ns(MS);
    }
}

fn thread_states() -> R {
    // New: created, not started.
    let name = b"new";
    let mut th = 0u32;
    // SAFETY: valid name and out pointer.
    zx_ok!(unsafe {
        sys::zx_thread_create(proc_self(), name.as_ptr().cast(), name.len(), 0, &mut th)
    });
    let th = Owned::from_raw(th);
    eq!(thread_state(th.raw())?, ZX_THREAD_STATE_NEW);
    // Running (spinning on another CPU, or runnable).
    let flag = AtomicU32::new(0);
    let t = start_thread(spinner, &flag as *const _ as usize, 0)?;
    eq!(thread_state(t.raw())?, ZX_THREAD_STATE_RUNNING);
    flag.store(1, Ordering::Release);
    let dup_t = dup(t.raw(), ZX_RIGHT_SAME_RIGHTS)?;
    t.join(5000 * MS)?;
    eq!(thread_state(dup_t.raw())?, ZX_THREAD_STATE_DEAD);
    // Sleeping.
    let s = start_thread(sleeper, 0, 0)?;
    await_state(s.raw(), ZX_THREAD_STATE_BLOCKED_SLEEPING)?;
    let dup_s = dup(s.raw(), ZX_RIGHT_SAME_RIGHTS)?;
    drop(s); // killed and waited for
    eq!(thread_state(dup_s.raw())?, ZX_THREAD_STATE_DEAD);
    // INSPECT is needed.
    let weak = dup(dup_s.raw(), ZX_RIGHT_WAIT)?;
    let mut info = [0u8; 8];
    let (mut a, mut v) = (0usize, 0usize);
    // SAFETY: valid buffer and counts.
    check!(ZX_ERR_ACCESS_DENIED, unsafe {
        sys::zx_object_get_info(
            weak.raw(),
            ZX_INFO_THREAD,
            info.as_mut_ptr(),
            8,
            &mut a,
            &mut v,
        )
    });
    Ok(())
}

static WAIT_ON: AtomicU32 = AtomicU32::new(0);

extern "C" fn waiter(_: usize, _: usize) -> ! {
    let mut seen = 0u32;
    // SAFETY: valid out pointer.
    unsafe {
        sys::zx_object_wait_one(
            WAIT_ON.load(Ordering::Acquire),
            ZX_CHANNEL_READABLE,
            ZX_TIME_INFINITE,
            &mut seen,
        );
    }
    thread_exit()
}

/// A thread blocked in `zx_object_wait_one` reads BLOCKED_WAIT_ONE from another thread, and
/// RUNNING again once woken.
fn blocked_wait_one() -> R {
    let (a, b) = channel()?;
    WAIT_ON.store(a.raw(), Ordering::Release);
    let t = start_thread(waiter, 0, 0)?;
    await_state(t.raw(), ZX_THREAD_STATE_BLOCKED_WAIT_ONE)?;
    zx_ok!(ch_write(b.raw(), b"wake", &[]));
    t.join(5000 * MS)?;
    Ok(())
}

static BLOCK_KIND: AtomicU32 = AtomicU32::new(0);
static BLOCK_FUTEX: core::sync::atomic::AtomicI32 = core::sync::atomic::AtomicI32::new(0);

/// Blocks in the call `BLOCK_KIND` names on `WAIT_ON` (or the futex word), until that
/// handle's peer writes or closes (the futex word is woken).
extern "C" fn blocker(_: usize, _: usize) -> ! {
    let h = WAIT_ON.load(Ordering::Acquire);
    // SAFETY: valid pointers to this function's locals and statics.
    unsafe {
        match BLOCK_KIND.load(Ordering::Acquire) {
            0 => {
                sys::zx_futex_wait(BLOCK_FUTEX.as_ptr(), 0, ZX_HANDLE_INVALID, ZX_TIME_INFINITE);
            }
            1 => {
                let mut packet = zx_port_packet_t::default();
                sys::zx_port_wait(h, ZX_TIME_INFINITE, &mut packet);
            }
            2 => {
                let mut items = [zx_wait_item_t {
                    handle: h,
                    waitfor: ZX_CHANNEL_READABLE,
                    pending: 0,
                }];
                sys::zx_object_wait_many(items.as_mut_ptr(), 1, ZX_TIME_INFINITE);
            }
            _ => {
                let mut request = [0u8; 8];
                let mut reply = [0u8; 8];
                let args = zx_channel_call_args_t {
                    wr_bytes: request.as_mut_ptr() as usize,
                    wr_num_bytes: 8,
                    rd_bytes: reply.as_mut_ptr() as usize,
                    rd_num_bytes: 8,
                    ..Default::default()
                };
                let (mut bytes, mut handles) = (0u32, 0u32);
                sys::zx_channel_call(h, 0, ZX_TIME_INFINITE, &args, &mut bytes, &mut handles);
            }
        }
    }
    thread_exit()
}

/// Each blocking call of issue 15 names itself in ZX_INFO_THREAD while it sleeps.
fn blocked_in_each_call() -> R {
    let expected = [
        ZX_THREAD_STATE_BLOCKED_FUTEX,
        ZX_THREAD_STATE_BLOCKED_PORT,
        ZX_THREAD_STATE_BLOCKED_WAIT_MANY,
        ZX_THREAD_STATE_BLOCKED_CHANNEL,
    ];
    for (kind, want) in expected.into_iter().enumerate() {
        let (a, b) = channel()?;
        let mut port = 0u32;
        // SAFETY: valid out pointer.
        zx_ok!(unsafe { sys::zx_port_create(0, &mut port) });
        let port = Owned::from_raw(port);
        BLOCK_FUTEX.store(0, Ordering::Release);
        WAIT_ON.store(
            if kind == 1 { port.raw() } else { a.raw() },
            Ordering::Release,
        );
        BLOCK_KIND.store(kind as u32, Ordering::Release);
        let t = start_thread(blocker, 0, 0)?;
        await_state(t.raw(), want)?;
        // Wake it: the futex word, a user packet, a message, the peer's close.
        match kind {
            0 => {
                BLOCK_FUTEX.store(1, Ordering::Release);
                // SAFETY: a valid futex word.
                zx_ok!(unsafe { sys::zx_futex_wake(BLOCK_FUTEX.as_ptr(), u32::MAX) });
            }
            1 => {
                let packet = zx_port_packet_t::default();
                // SAFETY: a valid packet.
                zx_ok!(unsafe { sys::zx_port_queue(port.raw(), &packet) });
            }
            2 => zx_ok!(ch_write(b.raw(), b"wake", &[])),
            _ => drop(b),
        }
        t.join(5000 * MS)?;
    }
    Ok(())
}

fn no_leak() -> R {
    expect_no_kernel_leak(2, 6, || {
        let j = job()?;
        let c = job_in(j.raw())?;
        let _p = spawn_in(c.raw(), &["sleep"])?;
        let (_, _q, _v) = process_create(j.raw());
        zx_ok!(kill(j.raw()));
        let (s, _) = wait(j.raw(), ZX_JOB_TERMINATED, 5000 * MS);
        check!(ZX_OK, s);
        Ok(())
    })
}
