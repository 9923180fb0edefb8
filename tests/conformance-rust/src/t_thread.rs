//! Threads: create, start, exit, arguments, FP/SIMD state across preemption.

use crate::harness::Case;
use crate::util::*;
use core::sync::atomic::{AtomicI64, AtomicU64, Ordering};

pub const CASES: &[Case] = &[
    (
        "thread_create_start_exit_terminated_signal",
        create_start_exit,
    ),
    ("thread_start_passes_both_arguments_and_stack", arguments),
    ("thread_start_twice_bad_state", start_twice),
    ("thread_create_wrong_type_and_bad_args", create_bad),
    ("thread_kill_terminates_a_spinning_thread", kill_spinning),
    (
        "thread_fp_registers_preserved_across_preemption",
        fp_preserved,
    ),
    ("thread_kill_of_thread_blocked_in_wait", kill_blocked),
    ("thread_never_started_can_be_closed", never_started),
    (
        "thread_no_heap_leak_created_and_closed_unstarted",
        leak_unstarted,
    ),
    ("thread_no_heap_leak_exited_then_closed", leak_exited),
    ("thread_no_heap_leak_killed_then_closed", leak_killed),
    (
        "thread_killed_before_it_ran_never_runs",
        killed_before_it_ran,
    ),
    (
        "thread_start_entry_or_stack_outside_user_half_invalid_args",
        start_outside_user_half,
    ),
];

struct Shared {
    a: AtomicU64,
    b: AtomicU64,
    sp: AtomicU64,
}

extern "C" fn record_entry(arg1: usize, arg2: usize) -> ! {
    // SAFETY: arg1 is the address of a `Shared` the starter keeps alive until we exit.
    let s = unsafe { &*(arg1 as *const Shared) };
    let sp: u64;
    // SAFETY: reads SP only.
    unsafe { core::arch::asm!("mov {}, sp", out(reg) sp) };
    s.sp.store(sp, Ordering::SeqCst);
    s.b.store(arg2 as u64, Ordering::SeqCst);
    s.a.store(arg1 as u64, Ordering::SeqCst);
    thread_exit()
}

fn create_start_exit() -> R {
    let shared = Shared {
        a: AtomicU64::new(0),
        b: AtomicU64::new(0),
        sp: AtomicU64::new(0),
    };
    let t = start_thread(record_entry, &shared as *const Shared as usize, 7)?;
    let (s, obs) = wait(t.raw(), ZX_THREAD_TERMINATED, 5000 * MS);
    eq!(sname(s), sname(ZX_OK));
    ensure!(obs & ZX_THREAD_TERMINATED != 0, "observed {obs:#x}");
    let b = basic(t.raw())?;
    eq!(b.type_, ZX_OBJ_TYPE_THREAD);
    eqx!(b.rights, ZX_DEFAULT_THREAD_RIGHTS);
    t.join(100 * MS)?;
    eq!(shared.b.load(Ordering::SeqCst), 7u64);
    Ok(())
}

fn arguments() -> R {
    let shared = Shared {
        a: AtomicU64::new(0),
        b: AtomicU64::new(0),
        sp: AtomicU64::new(0),
    };
    let arg2 = 0xDEAD_BEEF_0BAD_F00Du64 as usize;
    let t = start_thread(record_entry, &shared as *const Shared as usize, arg2)?;
    t.join(5000 * MS)?;
    eqx!(
        shared.a.load(Ordering::SeqCst),
        &shared as *const Shared as u64
    );
    eqx!(shared.b.load(Ordering::SeqCst), arg2 as u64);
    let sp = shared.sp.load(Ordering::SeqCst);
    ensure!(sp != 0 && sp & 15 == 0, "thread SP {sp:#x}");
    Ok(())
}

extern "C" fn exit_entry(_: usize, _: usize) -> ! {
    thread_exit()
}

fn start_twice() -> R {
    let t = start_thread(exit_entry, 0, 0)?;
    let stack = vmo(PAGE)?;
    let m = map(stack.raw(), 0, PAGEZ, RW)?;
    let s = unsafe {
        sys::zx_thread_start(
            t.raw(),
            exit_entry as *const () as usize,
            m.addr + PAGEZ,
            0,
            0,
        )
    };
    t.join(5000 * MS)?;
    check!(ZX_ERR_BAD_STATE, s);
    Ok(())
}

fn create_bad() -> R {
    let v = vmo(PAGE)?;
    let name = b"t";
    let mut out = 0u32;
    check!(ZX_ERR_WRONG_TYPE, unsafe {
        sys::zx_thread_create(v.raw(), name.as_ptr().cast(), 1, 0, &mut out)
    });
    check!(ZX_ERR_BAD_HANDLE, unsafe {
        sys::zx_thread_create(0x7777_7777, name.as_ptr().cast(), 1, 0, &mut out)
    });
    check!(ZX_ERR_INVALID_ARGS, unsafe {
        sys::zx_thread_create(proc_self(), name.as_ptr().cast(), 1, 1, &mut out)
    });
    check!(ZX_ERR_WRONG_TYPE, unsafe {
        sys::zx_thread_start(v.raw(), exit_entry as *const () as usize, 0x1000_0000, 0, 0)
    });
    Ok(())
}

extern "C" fn spin_entry(counter: usize, _: usize) -> ! {
    // SAFETY: the starter keeps the counter alive until the thread is gone.
    let c = unsafe { &*(counter as *const AtomicU64) };
    loop {
        c.fetch_add(1, Ordering::Relaxed);
    }
}

fn kill_spinning() -> R {
    let counter = AtomicU64::new(0);
    let t = start_thread(spin_entry, &counter as *const AtomicU64 as usize, 0)?;
    // This thread keeps running while the other spins: the timer preempts it.
    let deadline = now() + 2000 * MS;
    while counter.load(Ordering::Relaxed) == 0 && now() < deadline {
        sleep_ns(MS);
    }
    ensure!(
        counter.load(Ordering::Relaxed) > 0,
        "the spinning thread never ran"
    );
    zx_ok!(unsafe { sys::zx_task_kill(t.raw()) });
    t.join(5000 * MS)?;
    let c1 = counter.load(Ordering::Relaxed);
    sleep_ns(20 * MS);
    eq!(counter.load(Ordering::Relaxed), c1);
    Ok(())
}

/// A deterministic floating-point workload over 16 accumulators (kept in FP/SIMD
/// registers); returns a hash of their bits.
#[inline(never)]
fn fp_work(seed: f64, iters: u32) -> u64 {
    let seed = core::hint::black_box(seed);
    let mut v = [0f64; 16];
    for (i, x) in v.iter_mut().enumerate() {
        *x = seed + i as f64 * 0.375;
    }
    for _ in 0..iters {
        let mut next = [0f64; 16];
        for i in 0..16 {
            let y = v[i] * 1.000_000_7 + v[(i + 5) & 15] * 0.001 - v[(i + 11) & 15] * 0.0005;
            next[i] = if y > 1.0e6 { y * 1.0e-6 } else { y };
        }
        v = next;
    }
    v.iter().fold(0u64, |h, x| h.rotate_left(9) ^ x.to_bits())
}

const FP_ITERS: u32 = 2000;

struct FpJob {
    seed: f64,
    expect: u64,
    deadline: i64,
    rounds: AtomicU64,
    mismatches: AtomicU64,
    start: AtomicI64,
    end: AtomicI64,
}

impl FpJob {
    fn new(seed: f64, deadline: i64) -> FpJob {
        FpJob {
            seed,
            expect: fp_work(seed, FP_ITERS),
            deadline,
            rounds: AtomicU64::new(0),
            mismatches: AtomicU64::new(0),
            start: AtomicI64::new(0),
            end: AtomicI64::new(0),
        }
    }

    fn run(&self) {
        self.start.store(now(), Ordering::SeqCst);
        loop {
            if fp_work(self.seed, FP_ITERS) != self.expect {
                self.mismatches.fetch_add(1, Ordering::SeqCst);
            }
            self.rounds.fetch_add(1, Ordering::SeqCst);
            if now() >= self.deadline {
                break;
            }
        }
        self.end.store(now(), Ordering::SeqCst);
    }
}

extern "C" fn fp_entry(job: usize, _: usize) -> ! {
    // SAFETY: the starter keeps the job alive until the thread has exited.
    let job = unsafe { &*(job as *const FpJob) };
    job.run();
    thread_exit()
}

fn fp_preserved() -> R {
    let deadline = now() + 600 * MS;
    let jobs = [
        FpJob::new(1.5, deadline),
        FpJob::new(-2.75, deadline),
        FpJob::new(1.0e5 + 0.125, deadline),
    ];
    let t1 = start_thread(fp_entry, &jobs[0] as *const FpJob as usize, 0)?;
    let t2 = start_thread(fp_entry, &jobs[1] as *const FpJob as usize, 0)?;
    jobs[2].run();
    let j1 = t1.join(20_000 * MS);
    let j2 = t2.join(20_000 * MS);
    j1?;
    j2?;
    for (i, j) in jobs.iter().enumerate() {
        let m = j.mismatches.load(Ordering::SeqCst);
        let r = j.rounds.load(Ordering::SeqCst);
        ensure!(
            m == 0,
            "job {i}: {m} of {r} rounds computed a wrong result (FP state corrupted)"
        );
        ensure!(r >= 2, "job {i}: only {r} rounds");
    }
    // The three ran interleaved (one CPU: only preemption interleaves them).
    let span = |j: &FpJob| (j.start.load(Ordering::SeqCst), j.end.load(Ordering::SeqCst));
    let (s0, e0) = span(&jobs[0]);
    let (s1, e1) = span(&jobs[1]);
    let (s2, e2) = span(&jobs[2]);
    ensure!(
        s0 < e1 && s1 < e0 && s0 < e2 && s2 < e0,
        "the FP loops did not overlap in time ([{s0}, {e0}], [{s1}, {e1}], [{s2}, {e2}]): no preemption seen"
    );
    Ok(())
}

extern "C" fn wait_forever_entry(h: usize, _: usize) -> ! {
    let mut obs = 0u32;
    // SAFETY: valid out pointer.
    unsafe {
        sys::zx_object_wait_one(h as u32, ZX_USER_SIGNAL_0, ZX_TIME_INFINITE, &mut obs);
    }
    thread_exit()
}

fn kill_blocked() -> R {
    let (a, _b) = channel()?;
    let t = start_thread(wait_forever_entry, a.raw() as usize, 0)?;
    sleep_ns(30 * MS);
    eqx!(signals(t.raw())? & ZX_THREAD_TERMINATED, 0u32);
    zx_ok!(unsafe { sys::zx_task_kill(t.raw()) });
    t.join(5000 * MS)?;
    // The handle it waited on is untouched.
    zx_ok!(valid(a.raw()));
    eqx!(signals(a.raw())?, ZX_CHANNEL_WRITABLE);
    Ok(())
}

fn never_started() -> R {
    for _ in 0..20 {
        let name = b"idle";
        let mut th = 0u32;
        zx_ok!(unsafe {
            sys::zx_thread_create(proc_self(), name.as_ptr(), name.len(), 0, &mut th)
        });
        eqx!(signals(th)? & ZX_THREAD_TERMINATED, 0u32);
        zx_ok!(unsafe { sys::zx_handle_close(th) });
    }
    Ok(())
}

/// A new thread of this process, not started.
fn create_unstarted() -> Result<Owned, alloc::string::String> {
    let name = b"unstarted";
    let mut th = 0u32;
    zx_ok!(unsafe { sys::zx_thread_create(proc_self(), name.as_ptr(), name.len(), 0, &mut th) });
    Ok(Owned::from_raw(th))
}

/// Issue 11, item 4: every thread's kernel memory comes back once its last handle is closed
/// and it is gone. Here: created, never started, closed.
fn leak_unstarted() -> R {
    expect_no_kernel_leak(20, 500, || {
        drop(create_unstarted()?);
        Ok(())
    })
}

/// Item 4: a thread that exits at once, joined, then closed.
fn leak_exited() -> R {
    expect_no_kernel_leak(20, 300, || {
        let t = start_thread(exit_entry, 0, 0)?;
        t.join(5000 * MS)
    })
}

extern "C" fn block_entry(channel: usize, _: usize) -> ! {
    // "running", then sleep for good: the starter wakes from its wait while this one sleeps.
    ch_write(channel as u32, b"r", &[]);
    // SAFETY: no pointers.
    unsafe {
        sys::zx_nanosleep(ZX_TIME_INFINITE);
    }
    thread_exit()
}

/// Item 4: a thread killed with zx_task_kill, then closed: every other round before it ran
/// (it is still queued with its first frame), the others while it sleeps in the kernel.
/// Every round's thread runs on the same stack, mapped for the whole case: earlier kernels
/// still ran a thread killed before it ran, and on an unmapped stack that fault would end this
/// whole program instead of failing the case.
fn leak_killed() -> R {
    let (a, b) = channel()?;
    let stack_vmo = vmo(THREAD_STACK as u64)?;
    let stack = map(stack_vmo.raw(), 0, THREAD_STACK, RW)?;
    let top = stack.addr + THREAD_STACK;
    let entry = block_entry as *const () as usize;
    let mut round = 0u32;
    let result = expect_no_kernel_leak(20, 300, || {
        round += 1;
        let t = create_unstarted()?;
        zx_ok!(unsafe { sys::zx_thread_start(t.raw(), entry, top, b.raw() as usize, 0) });
        if round.is_multiple_of(2) {
            let (s, _) = wait(a.raw(), ZX_CHANNEL_READABLE, 5000 * MS);
            zx_ok!(s);
            zx_ok!(ch_read(a.raw(), 1, 0).status);
        }
        zx_ok!(unsafe { sys::zx_task_kill(t.raw()) });
        let (s, _) = wait(t.raw(), ZX_THREAD_TERMINATED, 5000 * MS);
        zx_ok!(s);
        Ok(())
    });
    if result.is_err() {
        // A thread may still run on it.
        stack.leak();
    }
    result
}

/// Counts the runs of [`count_entry`].
static RUNS: AtomicU64 = AtomicU64::new(0);

extern "C" fn count_entry(_: usize, _: usize) -> ! {
    RUNS.fetch_add(1, Ordering::SeqCst);
    thread_exit()
}

/// Found with item 4: a thread killed after zx_thread_start but before it was first scheduled
/// must never run (earlier kernels entered user mode with it once). One CPU: the starter runs
/// on until it blocks or the tick preempts it, so the kill nearly always comes first; a thread
/// that did run before the kill is told apart by the round's time and not counted.
fn killed_before_it_ran() -> R {
    // One stack for all, kept mapped (see `leak_killed`).
    let stack_vmo = vmo(THREAD_STACK as u64)?;
    let stack = map(stack_vmo.raw(), 0, THREAD_STACK, RW)?;
    let top = stack.addr + THREAD_STACK;
    let entry = count_entry as *const () as usize;
    RUNS.store(0, Ordering::SeqCst);
    let mut killed_first = 0u64;
    for _ in 0..50 {
        let t = create_unstarted()?;
        let before = RUNS.load(Ordering::SeqCst);
        zx_ok!(unsafe { sys::zx_thread_start(t.raw(), entry, top, 0, 0) });
        zx_ok!(unsafe { sys::zx_task_kill(t.raw()) });
        if RUNS.load(Ordering::SeqCst) == before {
            killed_first += 1;
        }
        let (s, _) = wait(t.raw(), ZX_THREAD_TERMINATED, 5000 * MS);
        if s != ZX_OK {
            stack.leak();
            fail!("a killed thread did not terminate: {}", sname(s));
        }
    }
    // Let anything still queued run.
    sleep_ns(20 * MS);
    let runs = RUNS.load(Ordering::SeqCst);
    let ran_before_kill = 50 - killed_first;
    if runs > ran_before_kill {
        stack.leak();
        fail!(
            "{} of {killed_first} threads killed before they ran still ran",
            runs - ran_before_kill
        );
    }
    ensure!(killed_first > 0, "every thread ran before it was killed");
    Ok(())
}

/// Addresses outside the user half (kernel half or not canonical at all).
pub const OUTSIDE_USER_HALF: [usize; 6] = [
    KERNEL_ADDR,
    0xFFFF_FFFF_FFFF_F000,
    0x8000_0000_0000_0000,
    0x0001_0000_0000_1000,
    0x00FF_0000_0000_0000,
    usize::MAX & !15,
];

/// Issue 11, item 5: zx_thread_start refuses an entry or a stack outside the user half with
/// INVALID_ARGS and starts nothing. Checked in a child (`child::start_outside_user_half`): a
/// kernel that accepts such an entry kills the process the thread belongs to.
fn start_outside_user_half() -> R {
    let code = run_child(
        &["thread-start-outside-user-half"],
        alloc::vec![],
        30_000 * MS,
    )?;
    ensure!(
        code == 0,
        "child ended with {code} (0: all refused; 1..: case n-1 not refused; -1028/-1025: a thread started at a bad address and faulted)"
    );
    Ok(())
}
