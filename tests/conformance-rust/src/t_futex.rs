//! zx_futex_wait, zx_futex_wake, zx_futex_requeue (zx-abi-objects.md section 1), and the
//! `zx::sync` Mutex and Condvar built on them.

use crate::harness::Case;
use crate::util::*;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicI32, AtomicU32, Ordering};
use zx::sync::{Condvar, Mutex};

pub const CASES: &[Case] = &[
    (
        "futex_wait_null_or_unaligned_invalid_args",
        wait_bad_pointer,
    ),
    ("futex_wait_unreadable_invalid_args", wait_unreadable),
    ("futex_wait_value_mismatch_bad_state", wait_mismatch),
    (
        "futex_wait_mismatch_wins_over_owner_errors",
        wait_mismatch_first,
    ),
    (
        "futex_wait_owner_bad_handle_and_wrong_type",
        wait_owner_lookup,
    ),
    (
        "futex_wait_owner_unstarted_or_other_process_invalid",
        wait_owner_invalid,
    ),
    ("futex_wait_owner_self_invalid_args", wait_owner_self),
    (
        "futex_wait_owner_waiting_on_futex_invalid_args",
        wait_owner_waiting,
    ),
    ("futex_wait_owner_dead_counts_as_none", wait_owner_dead),
    (
        "futex_wait_deadline_past_future_and_both_ends",
        wait_deadlines,
    ),
    (
        "futex_wake_bad_pointer_invalid_args_memory_not_read",
        wake_pointers,
    ),
    ("futex_wake_one_wakes_exactly_one", wake_exactly_one),
    ("futex_wake_is_fifo", wake_fifo),
    ("futex_wake_counts_zero_and_near_2_32", wake_counts),
    ("futex_requeue_argument_errors_in_order", requeue_errors),
    ("futex_requeue_then_wake_second_futex", requeue_then_wake),
    (
        "futex_requeue_owner_waiting_on_either_invalid",
        requeue_owner_waiting,
    ),
    ("futex_kill_blocked_waiter_leaves_queue", kill_waiter),
    (
        "futex_process_exit_with_waiters_no_leak",
        process_exit_waiters,
    ),
    ("futex_wait_timeout_no_leak", wait_no_leak),
    ("futex_rust_mutex_counter_4_threads", mutex_counter),
    ("futex_rust_mutex_try_lock", mutex_try_lock),
    ("futex_rust_condvar_notify_one_and_all", condvar),
];

fn fwait(f: &AtomicI32, v: i32, owner: u32, deadline: i64) -> i32 {
    // SAFETY: any pointer is allowed; the kernel only reads.
    unsafe { sys::zx_futex_wait(f.as_ptr(), v, owner, deadline) }
}

fn fwait_at(p: usize, v: i32, owner: u32, deadline: i64) -> i32 {
    // SAFETY: hostile pointers are the point; the kernel only reads.
    unsafe { sys::zx_futex_wait(p as *const i32, v, owner, deadline) }
}

fn fwake_at(p: usize, n: u32) -> i32 {
    // SAFETY: the kernel does not touch the memory.
    unsafe { sys::zx_futex_wake(p as *const i32, n) }
}

fn fwake(f: &AtomicI32, n: u32) -> i32 {
    fwake_at(f.as_ptr() as usize, n)
}

fn frequeue(a: usize, wake: u32, v: i32, b: usize, count: u32, owner: u32) -> i32 {
    // SAFETY: as above.
    unsafe { sys::zx_futex_requeue(a as *const i32, wake, v, b as *const i32, count, owner) }
}

const KERNEL_ADDR: usize = 0xffff_0000_4000_0000;
/// Below the root VMAR: never mapped.
const UNMAPPED: usize = 0x1000;

fn wait_bad_pointer() -> R {
    let f = AtomicI32::new(0);
    eq!(sname(fwait_at(0, 0, 0, 0)), sname(ZX_ERR_INVALID_ARGS));
    let p = f.as_ptr() as usize;
    for off in 1..4 {
        eq!(
            sname(fwait_at(p + off, 0, 0, 0)),
            sname(ZX_ERR_INVALID_ARGS)
        );
    }
    Ok(())
}

fn wait_unreadable() -> R {
    for p in [UNMAPPED, KERNEL_ADDR, usize::MAX - 3, (1usize << 47) - 4] {
        eq!(
            sname(fwait_at(p, 0, 0, ZX_TIME_INFINITE)),
            sname(ZX_ERR_INVALID_ARGS)
        );
    }
    Ok(())
}

fn wait_mismatch() -> R {
    let f = AtomicI32::new(5);
    eq!(
        sname(fwait(&f, 4, 0, ZX_TIME_INFINITE)),
        sname(ZX_ERR_BAD_STATE)
    );
    eq!(sname(fwait(&f, -5, 0, 0)), sname(ZX_ERR_BAD_STATE));
    Ok(())
}

fn wait_mismatch_first() -> R {
    let f = AtomicI32::new(1);
    let v = vmo(PAGE)?;
    for owner in [0x1234_5678u32, v.raw(), proc_self()] {
        eq!(
            sname(fwait(&f, 0, owner, ZX_TIME_INFINITE)),
            sname(ZX_ERR_BAD_STATE)
        );
    }
    Ok(())
}

fn wait_owner_lookup() -> R {
    let f = AtomicI32::new(0);
    eq!(
        sname(fwait(&f, 0, 0x1234_5678, 0)),
        sname(ZX_ERR_BAD_HANDLE)
    );
    let v = vmo(PAGE)?;
    eq!(sname(fwait(&f, 0, v.raw(), 0)), sname(ZX_ERR_WRONG_TYPE));
    eq!(
        sname(fwait(&f, 0, proc_self(), 0)),
        sname(ZX_ERR_WRONG_TYPE)
    );
    // No right needed: a thread handle with none.
    let t = create_unstarted()?;
    let bare = dup(t.raw(), 0)?;
    eq!(
        sname(fwait(&f, 0, bare.raw(), 0)),
        sname(ZX_ERR_INVALID_ARGS)
    );
    Ok(())
}

fn create_unstarted() -> Result<Owned, alloc::string::String> {
    let name = b"unstarted";
    let mut th = 0u32;
    zx_ok!(unsafe { sys::zx_thread_create(proc_self(), name.as_ptr(), name.len(), 0, &mut th) });
    Ok(Owned::from_raw(th))
}

fn wait_owner_invalid() -> R {
    let f = AtomicI32::new(0);
    let t = create_unstarted()?;
    eq!(sname(fwait(&f, 0, t.raw(), 0)), sname(ZX_ERR_INVALID_ARGS));
    // A thread of another process.
    let name = b"other";
    let (mut p, mut vmar) = (0u32, 0u32);
    zx_ok!(unsafe {
        sys::zx_process_create(
            zx::startup::job_default(),
            name.as_ptr(),
            name.len(),
            0,
            &mut p,
            &mut vmar,
        )
    });
    let (p, _vmar) = (Owned::from_raw(p), Owned::from_raw(vmar));
    let mut th = 0u32;
    zx_ok!(unsafe { sys::zx_thread_create(p.raw(), name.as_ptr(), name.len(), 0, &mut th) });
    let th = Owned::from_raw(th);
    eq!(sname(fwait(&f, 0, th.raw(), 0)), sname(ZX_ERR_INVALID_ARGS));
    Ok(())
}

static SELF_HANDLE: AtomicU32 = AtomicU32::new(0);
static SELF_RESULT: AtomicI32 = AtomicI32::new(1);

extern "C" fn self_owner_entry(_: usize, _: usize) -> ! {
    let mut h = SELF_HANDLE.load(Ordering::Acquire);
    while h == 0 {
        core::hint::spin_loop();
        h = SELF_HANDLE.load(Ordering::Acquire);
    }
    let f = AtomicI32::new(0);
    SELF_RESULT.store(fwait(&f, 0, h, 0), Ordering::Release);
    thread_exit()
}

fn wait_owner_self() -> R {
    SELF_HANDLE.store(0, Ordering::Release);
    SELF_RESULT.store(1, Ordering::Release);
    let t = start_thread(self_owner_entry, 0, 0)?;
    SELF_HANDLE.store(t.raw(), Ordering::Release);
    t.join(5000 * MS)?;
    eq!(
        sname(SELF_RESULT.load(Ordering::Acquire)),
        sname(ZX_ERR_INVALID_ARGS)
    );
    Ok(())
}

/// Shared with waiter threads: the futex, and counters of what they saw.
struct Waiters {
    futex: AtomicI32,
    ready: AtomicU32,
    woken: AtomicU32,
    bad: AtomicU32,
    order: [AtomicU32; 8],
    next: AtomicU32,
}

impl Waiters {
    const fn new() -> Self {
        Waiters {
            futex: AtomicI32::new(0),
            ready: AtomicU32::new(0),
            woken: AtomicU32::new(0),
            bad: AtomicU32::new(0),
            order: [const { AtomicU32::new(0) }; 8],
            next: AtomicU32::new(0),
        }
    }
}

/// Waits once on `w.futex` (value 0); records the status and its place in wake order.
extern "C" fn waiter_entry(w: usize, id: usize) -> ! {
    // SAFETY: the case keeps the `Waiters` alive until this thread has ended.
    let w = unsafe { &*(w as *const Waiters) };
    w.ready.fetch_add(1, Ordering::SeqCst);
    let s = fwait(&w.futex, 0, 0, ZX_TIME_INFINITE);
    if s == ZX_OK {
        let i = w.next.fetch_add(1, Ordering::SeqCst) as usize;
        if i < 8 {
            w.order[i].store(id as u32, Ordering::SeqCst);
        }
        w.woken.fetch_add(1, Ordering::SeqCst);
    } else {
        w.bad.fetch_add(1, Ordering::SeqCst);
    }
    thread_exit()
}

fn start_waiters(
    w: &Waiters,
    n: usize,
    spaced: bool,
) -> Result<Vec<Thread>, alloc::string::String> {
    let mut threads = Vec::new();
    for i in 0..n {
        threads.push(start_thread(waiter_entry, w as *const _ as usize, i + 1)?);
        if spaced {
            // The next one queues after this one.
            let deadline = now() + 2000 * MS;
            while (w.ready.load(Ordering::SeqCst) as usize) < i + 1 && now() < deadline {
                sleep_ns(MS);
            }
            sleep_ns(10 * MS);
        }
    }
    let deadline = now() + 2000 * MS;
    while (w.ready.load(Ordering::SeqCst) as usize) < n && now() < deadline {
        sleep_ns(MS);
    }
    // Past `ready`, each is about to block; give them time to be queued.
    sleep_ns(30 * MS);
    Ok(threads)
}

/// Waits until `w.woken` reaches `n`, then a little longer to see that it stays there.
fn expect_woken(w: &Waiters, n: u32) -> R {
    let deadline = now() + 2000 * MS;
    while w.woken.load(Ordering::SeqCst) < n && now() < deadline {
        sleep_ns(MS);
    }
    sleep_ns(20 * MS);
    eq!(w.woken.load(Ordering::SeqCst), n);
    eq!(w.bad.load(Ordering::SeqCst), 0);
    Ok(())
}

static OWNER_WAITERS: Waiters = Waiters::new();

fn wait_owner_waiting() -> R {
    let w = &OWNER_WAITERS;
    reset(w);
    let threads = start_waiters(w, 1, false)?;
    let f = &w.futex;
    // The owner waits on this futex: INVALID_ARGS, and the waiter stays queued.
    eq!(
        sname(fwait(f, 0, threads[0].raw(), after(10 * MS))),
        sname(ZX_ERR_INVALID_ARGS)
    );
    // As owner of another futex it is fine.
    let g = AtomicI32::new(0);
    eq!(
        sname(fwait(&g, 0, threads[0].raw(), after(MS))),
        sname(ZX_ERR_TIMED_OUT)
    );
    zx_ok!(fwake(f, 1));
    expect_woken(w, 1)?;
    for t in threads {
        t.join(5000 * MS)?;
    }
    Ok(())
}

fn reset(w: &Waiters) {
    w.futex.store(0, Ordering::SeqCst);
    w.ready.store(0, Ordering::SeqCst);
    w.woken.store(0, Ordering::SeqCst);
    w.bad.store(0, Ordering::SeqCst);
    w.next.store(0, Ordering::SeqCst);
    for o in &w.order {
        o.store(0, Ordering::SeqCst);
    }
}

extern "C" fn exit_at_once(_: usize, _: usize) -> ! {
    thread_exit()
}

fn wait_owner_dead() -> R {
    let t = start_thread(exit_at_once, 0, 0)?;
    let h = dup(t.raw(), ZX_RIGHT_SAME_RIGHTS)?;
    t.join(5000 * MS)?;
    let f = AtomicI32::new(0);
    // A dead owner is no owner: the wait goes on to its deadline.
    eq!(
        sname(fwait(&f, 0, h.raw(), after(5 * MS))),
        sname(ZX_ERR_TIMED_OUT)
    );
    Ok(())
}

fn wait_deadlines() -> R {
    let f = AtomicI32::new(0);
    for d in [0, ZX_TIME_INFINITE_PAST, 1, now()] {
        let start = now();
        eq!(sname(fwait(&f, 0, 0, d)), sname(ZX_ERR_TIMED_OUT));
        ensure!(
            now() - start < 500 * MS,
            "past deadline {d} took {} ns",
            now() - start
        );
    }
    let start = now();
    eq!(
        sname(fwait(&f, 0, 0, after(30 * MS))),
        sname(ZX_ERR_TIMED_OUT)
    );
    let took = now() - start;
    ensure!(took >= 30 * MS, "woke after {took} ns, before the deadline");
    // A mismatch is reported even with a past deadline (the value check comes first).
    eq!(
        sname(fwait(&f, 1, 0, ZX_TIME_INFINITE_PAST)),
        sname(ZX_ERR_BAD_STATE)
    );
    // Infinite: woken by a wake.
    let w = &INF_WAITERS;
    reset(w);
    let threads = start_waiters(w, 1, false)?;
    eq!(w.woken.load(Ordering::SeqCst), 0);
    zx_ok!(fwake(&w.futex, 1));
    expect_woken(w, 1)?;
    for t in threads {
        t.join(5000 * MS)?;
    }
    Ok(())
}

static INF_WAITERS: Waiters = Waiters::new();

fn wake_pointers() -> R {
    eq!(sname(fwake_at(0, 1)), sname(ZX_ERR_INVALID_ARGS));
    eq!(sname(fwake_at(0x1002, 1)), sname(ZX_ERR_INVALID_ARGS));
    eq!(
        sname(fwake_at(usize::MAX, u32::MAX)),
        sname(ZX_ERR_INVALID_ARGS)
    );
    // Memory is not read: unmapped and kernel addresses are fine.
    zx_ok!(fwake_at(UNMAPPED, 1));
    zx_ok!(fwake_at(KERNEL_ADDR, u32::MAX));
    Ok(())
}

static ONE_WAITERS: Waiters = Waiters::new();

fn wake_exactly_one() -> R {
    let w = &ONE_WAITERS;
    reset(w);
    let threads = start_waiters(w, 4, false)?;
    eq!(w.woken.load(Ordering::SeqCst), 0);
    zx_ok!(fwake(&w.futex, 1));
    expect_woken(w, 1)?;
    zx_ok!(fwake(&w.futex, 2));
    expect_woken(w, 3)?;
    zx_ok!(fwake(&w.futex, u32::MAX));
    expect_woken(w, 4)?;
    for t in threads {
        t.join(5000 * MS)?;
    }
    Ok(())
}

static FIFO_WAITERS: Waiters = Waiters::new();

fn wake_fifo() -> R {
    let w = &FIFO_WAITERS;
    reset(w);
    let threads = start_waiters(w, 4, true)?;
    for n in 1..=4 {
        zx_ok!(fwake(&w.futex, 1));
        expect_woken(w, n)?;
    }
    let order: Vec<u32> = w.order[..4]
        .iter()
        .map(|o| o.load(Ordering::SeqCst))
        .collect();
    eq!(order, alloc::vec![1u32, 2, 3, 4]);
    for t in threads {
        t.join(5000 * MS)?;
    }
    Ok(())
}

static COUNT_WAITERS: Waiters = Waiters::new();

fn wake_counts() -> R {
    let w = &COUNT_WAITERS;
    reset(w);
    let threads = start_waiters(w, 3, false)?;
    zx_ok!(fwake(&w.futex, 0));
    expect_woken(w, 0)?;
    zx_ok!(fwake(&w.futex, 1));
    expect_woken(w, 1)?;
    zx_ok!(fwake(&w.futex, 0x8000_0000));
    expect_woken(w, 3)?;
    zx_ok!(fwake(&w.futex, u32::MAX - 1));
    for t in threads {
        t.join(5000 * MS)?;
    }
    Ok(())
}

fn requeue_errors() -> R {
    let a = AtomicI32::new(0);
    let b = AtomicI32::new(0);
    let (pa, pb) = (a.as_ptr() as usize, b.as_ptr() as usize);
    eq!(
        sname(frequeue(0, 1, 0, pb, 1, 0)),
        sname(ZX_ERR_INVALID_ARGS)
    );
    eq!(
        sname(frequeue(pa, 1, 0, 0, 1, 0)),
        sname(ZX_ERR_INVALID_ARGS)
    );
    eq!(
        sname(frequeue(pa + 2, 1, 0, pb, 1, 0)),
        sname(ZX_ERR_INVALID_ARGS)
    );
    eq!(
        sname(frequeue(pa, 1, 0, pb + 1, 1, 0)),
        sname(ZX_ERR_INVALID_ARGS)
    );
    eq!(
        sname(frequeue(pa, 1, 0, pa, 1, 0)),
        sname(ZX_ERR_INVALID_ARGS)
    );
    // Pointer errors before the value; unreadable value pointer: INVALID_ARGS.
    eq!(
        sname(frequeue(UNMAPPED, 1, 0, pb, 1, 0)),
        sname(ZX_ERR_INVALID_ARGS)
    );
    eq!(
        sname(frequeue(KERNEL_ADDR, 1, 0, pb, 1, 0)),
        sname(ZX_ERR_INVALID_ARGS)
    );
    // The requeue target is not read.
    zx_ok!(frequeue(pa, 1, 0, UNMAPPED, 1, 0));
    // Mismatch before owner errors.
    eq!(
        sname(frequeue(pa, 1, 7, pb, 1, 0x1234_5678)),
        sname(ZX_ERR_BAD_STATE)
    );
    eq!(
        sname(frequeue(pa, 1, 0, pb, 1, 0x1234_5678)),
        sname(ZX_ERR_BAD_HANDLE)
    );
    let v = vmo(PAGE)?;
    eq!(
        sname(frequeue(pa, 1, 0, pb, 1, v.raw())),
        sname(ZX_ERR_WRONG_TYPE)
    );
    let t = create_unstarted()?;
    eq!(
        sname(frequeue(pa, 1, 0, pb, 1, t.raw())),
        sname(ZX_ERR_INVALID_ARGS)
    );
    zx_ok!(frequeue(pa, u32::MAX, 0, pb, u32::MAX, 0));
    Ok(())
}

static RQ_WAITERS: Waiters = Waiters::new();

/// Waits on futex `RQ_WAITERS.futex`; the requeue moves it to `RQ_SECOND`.
static RQ_SECOND: AtomicI32 = AtomicI32::new(0);

fn requeue_then_wake() -> R {
    let w = &RQ_WAITERS;
    reset(w);
    let threads = start_waiters(w, 4, true)?;
    let pa = w.futex.as_ptr() as usize;
    let pb = RQ_SECOND.as_ptr() as usize;
    // Wake 1 (the first), move 2 (second, third) to the other futex, leave the fourth.
    zx_ok!(frequeue(pa, 1, 0, pb, 2, 0));
    expect_woken(w, 1)?;
    eq!(w.order[0].load(Ordering::SeqCst), 1);
    // Waking the first futex wakes only the one left there.
    zx_ok!(fwake(&w.futex, 1));
    expect_woken(w, 2)?;
    eq!(w.order[1].load(Ordering::SeqCst), 4);
    zx_ok!(fwake(&w.futex, u32::MAX));
    expect_woken(w, 2)?;
    // The moved ones wait on the second futex, in order.
    zx_ok!(fwake(&RQ_SECOND, 1));
    expect_woken(w, 3)?;
    zx_ok!(fwake(&RQ_SECOND, u32::MAX));
    expect_woken(w, 4)?;
    eq!(w.order[2].load(Ordering::SeqCst), 2);
    eq!(w.order[3].load(Ordering::SeqCst), 3);
    for t in threads {
        t.join(5000 * MS)?;
    }
    Ok(())
}

static RQO_WAITERS: Waiters = Waiters::new();

fn requeue_owner_waiting() -> R {
    let w = &RQO_WAITERS;
    reset(w);
    let threads = start_waiters(w, 1, false)?;
    let other = AtomicI32::new(0);
    let pa = w.futex.as_ptr() as usize;
    let pb = other.as_ptr() as usize;
    let owner = threads[0].raw();
    // The owner waits on the first futex, then (as source) on the second.
    eq!(
        sname(frequeue(pa, 0, 0, pb, 0, owner)),
        sname(ZX_ERR_INVALID_ARGS)
    );
    eq!(
        sname(frequeue(pb, 0, 0, pa, 0, owner)),
        sname(ZX_ERR_INVALID_ARGS)
    );
    // Nothing changed: it is still queued on the first.
    expect_woken(w, 0)?;
    zx_ok!(fwake(&w.futex, 1));
    expect_woken(w, 1)?;
    for t in threads {
        t.join(5000 * MS)?;
    }
    Ok(())
}

static KILL_WAITERS: Waiters = Waiters::new();

fn kill_waiter() -> R {
    let w = &KILL_WAITERS;
    reset(w);
    let threads = start_waiters(w, 2, true)?;
    // Kill the first in line: it leaves the queue, so one wake reaches the second.
    zx_ok!(unsafe { sys::zx_task_kill(threads[0].raw()) });
    let (s, _) = wait(threads[0].raw(), ZX_THREAD_TERMINATED, 5000 * MS);
    zx_ok!(s);
    zx_ok!(fwake(&w.futex, 1));
    expect_woken(w, 1)?;
    eq!(w.order[0].load(Ordering::SeqCst), 2);
    let mut threads = threads;
    threads.remove(1).join(5000 * MS)?;
    // And killing blocked waiters leaks nothing.
    let f = &w.futex;
    let result = expect_no_kernel_leak(5, 40, || {
        reset(w);
        let t = start_thread(waiter_entry, w as *const _ as usize, 9)?;
        while w.ready.load(Ordering::SeqCst) == 0 {
            sleep_ns(MS);
        }
        sleep_ns(2 * MS);
        zx_ok!(unsafe { sys::zx_task_kill(t.raw()) });
        t.join(5000 * MS)?;
        Ok(())
    });
    zx_ok!(fwake(f, u32::MAX));
    result
}

fn process_exit_waiters() -> R {
    let mut round = 0u32;
    expect_no_kernel_leak(2, 8, || {
        round += 1;
        let p = spawn_child(&["futex-waiters"], Vec::new())?;
        if round.is_multiple_of(2) {
            // Killed from outside while its threads wait.
            sleep_ns(20 * MS);
            zx_ok!(unsafe { sys::zx_task_kill(p.raw()) });
        }
        let (s, _) = wait(p.raw(), ZX_PROCESS_TERMINATED, 5000 * MS);
        zx_ok!(s);
        Ok(())
    })
}

fn wait_no_leak() -> R {
    let f = AtomicI32::new(0);
    expect_no_kernel_leak(10, 200, || {
        eq!(
            sname(fwait(&f, 0, 0, after(10_000))),
            sname(ZX_ERR_TIMED_OUT)
        );
        eq!(
            sname(fwait(&f, 1, 0, ZX_TIME_INFINITE)),
            sname(ZX_ERR_BAD_STATE)
        );
        Ok(())
    })
}

const COUNTER_THREADS: usize = 4;
const COUNTER_ROUNDS: u64 = 20_000;

static COUNTER: Mutex<u64> = Mutex::new(0);

fn mutex_counter() -> R {
    *COUNTER.lock() = 0;
    let mut joins = Vec::new();
    for _ in 0..COUNTER_THREADS {
        let j = zx::thread::spawn(|| {
            for _ in 0..COUNTER_ROUNDS {
                let mut g = COUNTER.lock();
                // A read-modify-write a lost update would show.
                let v = core::hint::black_box(*g);
                *g = v + 1;
            }
        })
        .map_err(|s| alloc::format!("spawn: {s:?}"))?;
        joins.push(j);
    }
    for j in joins {
        j.join().map_err(|s| alloc::format!("join: {s:?}"))?;
    }
    eq!(*COUNTER.lock(), COUNTER_THREADS as u64 * COUNTER_ROUNDS);
    Ok(())
}

fn mutex_try_lock() -> R {
    let m = Mutex::new(1u32);
    let g = m.lock();
    ensure!(m.try_lock().is_none(), "try_lock took a held mutex");
    drop(g);
    let g = m.try_lock();
    ensure!(g.is_some(), "try_lock failed on a free mutex");
    Ok(())
}

struct Shared {
    mutex: Mutex<(u32, u32)>,
    cv: Condvar,
}

static SHARED: Shared = Shared {
    mutex: Mutex::new((0, 0)),
    cv: Condvar::new(),
};

fn condvar() -> R {
    *SHARED.mutex.lock() = (0, 0);
    let mut joins = Vec::new();
    for _ in 0..3 {
        // Each waits for a ticket (field 0) and counts itself done (field 1).
        joins.push(
            zx::thread::spawn(|| {
                let mut g = SHARED.mutex.lock();
                while g.0 == 0 {
                    g = SHARED.cv.wait(g);
                }
                g.0 -= 1;
                g.1 += 1;
            })
            .map_err(|s| alloc::format!("spawn: {s:?}"))?,
        );
    }
    sleep_ns(20 * MS);
    {
        let mut g = SHARED.mutex.lock();
        g.0 += 1;
    }
    SHARED.cv.notify_one();
    let deadline = now() + 2000 * MS;
    while SHARED.mutex.lock().1 < 1 && now() < deadline {
        sleep_ns(MS);
    }
    sleep_ns(10 * MS);
    eq!(*SHARED.mutex.lock(), (0, 1));
    {
        let mut g = SHARED.mutex.lock();
        g.0 += 2;
    }
    SHARED.cv.notify_all();
    for j in joins {
        j.join().map_err(|s| alloc::format!("join: {s:?}"))?;
    }
    eq!(*SHARED.mutex.lock(), (0, 3));
    // A timed wait with nobody notifying times out.
    let g = SHARED.mutex.lock();
    let (_g, timed_out) = SHARED.cv.wait_until(g, zx::Time::from_nanos(after(5 * MS)));
    ensure!(timed_out, "wait_until did not time out");
    Ok(())
}

/// The child mode `futex-waiters`: three threads wait on a futex for ever, then the process
/// exits with them still waiting (or is killed by the parent first).
pub fn child_futex_waiters() -> i32 {
    static W: Waiters = Waiters::new();
    let mut threads = Vec::new();
    for i in 0..3 {
        match start_thread(waiter_entry, &W as *const _ as usize, i) {
            Ok(t) => threads.push(t),
            Err(_) => return 61,
        }
    }
    while W.ready.load(Ordering::SeqCst) < 3 {
        sleep_ns(MS);
    }
    sleep_ns(40 * MS);
    // Leave with the waiters queued; the threads' handles are not closed first.
    core::mem::forget(threads);
    0
}
