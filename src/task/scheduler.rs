//! The scheduler: the run queue and the sleepers, switching (`schedule`), the idle loop, the
//! tick, blocking and waking, launching and killing threads (for `object::task`, through
//! `Kernel`), the preemption, wait and finish points, and what the current thread is doing
//! (`with_current_process`, `copying_frames` and the faults such a copy leaves for later).
//!
//! Locking: `SCHEDULER` is an IRQ-safe lock (the tick takes it from the IRQ handler). It
//! nests inside `Process::inner` (`launch` and `mark_dead` are called with it held);
//! `Thread::state` (an `IrqSafeLock` too) or `KernelThread::user_registers` (never both at
//! once) nest inside it. Under it nothing may fault or sleep, and nothing is dropped that
//! could run arbitrary teardown (a dying thread's last reference waits in `zombies`). The
//! current thread is this CPU's (`crate::percpu`), read without any lock: only this CPU
//! changes it, in `schedule`, under `SCHEDULER`.

use super::thread::NO_FAULT;
use super::{now_ns, Process, Thread};
use crate::aspace;
use crate::percpu::this_cpu;
use crate::sync::IrqSafeLock;
use alloc::collections::VecDeque;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use arch::context::{self, SavedContext, SavedSp};
use arch::exception::TrapFrame;
use core::sync::atomic::Ordering;
use object::task::{ThreadState, UserStart};
use object::wait::{Blocker, Waiter, Wake};
use object::ZxResult;

pub(super) struct Scheduler {
    pub(super) run_queue: VecDeque<Arc<Thread>>,
    /// Blocked threads with a deadline.
    pub(super) sleepers: Vec<(i64, Arc<Thread>)>,
    /// Dead threads whose kernel stack may still be in use until the next switch completes.
    zombies: Vec<Arc<Thread>>,
}

/// The threads waiting for a CPU or a deadline. IRQ-safe: the tick takes it. See the module
/// doc for what nests inside.
pub(super) static SCHEDULER: IrqSafeLock<Scheduler> = IrqSafeLock::new(Scheduler {
    run_queue: VecDeque::new(),
    sleepers: Vec::new(),
    zombies: Vec::new(),
});

/// The running thread's `Thread`, borrowed from this CPU's reference (null in the idle loop
/// and at boot): the system-call path must not pay for the scheduler lock and reference
/// counts on every call.
#[inline(always)]
fn current_ptr() -> *const Thread {
    this_cpu()
        .current
        .load(Ordering::Relaxed)
        .cast_const()
        .cast()
}

pub fn current_thread() -> Option<Arc<Thread>> {
    let thread = current_ptr();
    if thread.is_null() {
        return None;
    }
    // SAFETY: the pointer is this CPU's reference to the running thread (from
    // `Arc::into_raw` in `schedule`), alive while it stays current, which it does while code
    // runs on its behalf (see `with_current_process`); the count taken here is the new `Arc`'s.
    unsafe {
        Arc::increment_strong_count(thread);
        Some(Arc::from_raw(thread))
    }
}

pub fn current_process() -> Option<Arc<Process>> {
    with_current_process(Arc::clone)
}

/// Runs `f` on the current thread's process, without taking a reference.
#[inline]
pub fn with_current_process<R>(f: impl FnOnce(&Arc<Process>) -> R) -> Option<R> {
    let thread = current_ptr();
    if thread.is_null() {
        return None;
    }
    // SAFETY: the pointer is the reference this CPU's `current` holds of the running thread,
    // and it only changes in `schedule` on this CPU. The kernel switches only in `schedule`
    // (blocking, exiting, preemption points), so while code runs on behalf of this thread it
    // stays current: a `schedule` inside `f` returns only once this thread runs again, and a
    // thread that dies never returns from it.
    Some(f(unsafe { (*thread).process() }))
}

/// Prints what the current thread was doing in the kernel, for the report of a panic or a
/// fatal exception: the system call and its arguments, or the user fault, of its last entry
/// from EL0 (the frame the vectors saved at the top of its kernel stack), so that a fuzzer's
/// seed and the call named here reproduce it. Takes no lock: the kernel may have stopped
/// holding any of them.
pub fn report_current_call() {
    let thread = current_ptr();
    if thread.is_null() {
        log::error!("  on no thread (the idle loop or boot)");
        return;
    }
    // SAFETY: this CPU's reference to the running thread (see `with_current_process`); the
    // kernel has stopped, so it stays alive.
    let thread = unsafe { &*thread };
    let frame_addr = context::user_frame_address(thread.kernel().stack_top());
    // SAFETY: every entry from EL0 saves its frame there, at the top of this thread's own
    // kernel stack, which is mapped while the thread exists; plain integers, any bits valid.
    let frame = unsafe { &*(frame_addr as *const TrapFrame) };
    let (thread_koid, process_koid) = (thread.koid(), thread.process().koid());
    const EC_SVC64: u64 = 0x15;
    if frame.esr >> 26 == EC_SVC64 {
        let number = frame.x[16];
        let call = abi::Syscall::from_number(number).map_or("unknown", abi::Syscall::name);
        let a = &frame.x;
        log::error!(
            "  in system call {number} ({call}) of thread {thread_koid}, process {process_koid}\n  \
             args {:#x} {:#x} {:#x} {:#x} {:#x} {:#x} {:#x} {:#x}  (user pc {:#x})",
            a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], frame.elr
        );
    } else if frame.esr == 0 {
        // An interrupt from user mode, often taken right as a system call returns (its end
        // unmasked interrupts): x16 still holds that call's number.
        let number = frame.x[16];
        let call = abi::Syscall::from_number(number).map_or("unknown", abi::Syscall::name);
        log::error!(
            "  on thread {thread_koid}, process {process_koid}, interrupted in user mode at pc {:#x}; x16 = {number} ({call}), the system call just made if the pc follows an svc",
            frame.elr
        );
    } else {
        log::error!(
            "  on thread {thread_koid}, process {process_koid}, last in from user mode at pc {:#x} (ESR {:#x}, FAR {:#x})",
            frame.elr,
            frame.esr,
            frame.far
        );
    }
}

/// Marks the current thread as copying (`on`) between user memory and frames that no lock
/// keeps (a VMO's, in `zx_vmo_read` and `zx_vmo_write`; between two such copies it may take
/// preemption points, never during one), or done with it: a fault such a copy takes must not
/// let another thread run, which could free those frames meanwhile. It is served without
/// waiting ([`object::vmar::Vmar::handle_fault_without_waiting`]); one that would have to
/// wait fails the copy and leaves its page for [`take_fault_left`], for the caller to serve
/// once it let go of the frames and then copy the rest.
#[inline]
pub fn copying_frames(on: bool) {
    let thread = current_ptr();
    if !thread.is_null() {
        // SAFETY: as in `with_current_process`.
        unsafe {
            (*thread)
                .kernel()
                .copying_frames
                .store(on, Ordering::Relaxed)
        };
    }
}

/// The user page (address, whether for a write) a copy marked by [`copying_frames`] faulted
/// on and left for later, if any; taking it clears it.
pub fn take_fault_left() -> Option<(usize, bool)> {
    let thread = current_ptr();
    if thread.is_null() {
        return None;
    }
    // SAFETY: as in `with_current_process`.
    let left = unsafe {
        (*thread)
            .kernel()
            .fault_left
            .swap(NO_FAULT, Ordering::Relaxed)
    };
    (left != NO_FAULT).then_some((left & !1, left & 1 != 0))
}

/// Whether the current thread is in a copy marked by [`copying_frames`].
pub fn copy_holds_frames() -> bool {
    let thread = current_ptr();
    // SAFETY: as in `with_current_process`.
    !thread.is_null() && unsafe { (*thread).kernel().copying_frames.load(Ordering::Relaxed) }
}

/// A fault of a copy marked by [`copying_frames`] that needs waiting: the copy fails, and
/// [`take_fault_left`] hands the page to its caller.
pub fn leave_fault_for_later(va: usize, write: bool) {
    let thread = current_ptr();
    if !thread.is_null() {
        let page = va & !(arch::mmu::PAGE_SIZE - 1);
        // SAFETY: as in `with_current_process`.
        unsafe {
            (*thread)
                .kernel()
                .fault_left
                .store(page | usize::from(write), Ordering::Relaxed)
        };
    }
}

/// Whether the current thread was killed (it must not return to user mode).
pub fn current_is_dead() -> bool {
    let thread = current_ptr();
    // SAFETY: as in `with_current_process`.
    !thread.is_null() && unsafe { (*thread).is_dead() }
}

/// A thread killed during its own system call or fault does not go back to user mode: it
/// leaves through the scheduler here, on the way out of the kernel.
pub fn leave_if_dead() {
    if current_is_dead() {
        schedule();
    }
}

/// Picks the next thread and switches to it. Must be called with IRQs masked. Returns when
/// the calling context runs again.
pub fn schedule() {
    let cpu = this_cpu();
    let (save_slot, next_sp): (*const SavedContext, SavedSp);
    {
        let mut scheduler = SCHEDULER.lock();
        cpu.need_resched.store(false, Ordering::Relaxed);
        let current: *const Thread = cpu.current.load(Ordering::Relaxed).cast_const().cast();
        // SAFETY: `current` is null or this CPU's reference to the running thread (from
        // `Arc::into_raw` below); it is taken over here, and `cpu.current` is overwritten with
        // the next thread's before the lock goes, with nothing on this CPU reading it between.
        let previous = (!current.is_null()).then(|| unsafe { Arc::from_raw(current) });
        // A killed thread is Dead (for good: no transition leaves Dead), so it is never
        // queued again, unless it leaves at a finish point: it runs again, still Dead, to
        // finish what it must (and then leaves for good).
        let finishing = cpu.finishing.swap(false, Ordering::Relaxed);
        let mut previous_gone = false;
        if let Some(previous) = &previous {
            let mut state = previous.state_lock().lock();
            if *state == ThreadState::Running {
                *state = ThreadState::Runnable;
                drop(state);
                scheduler.run_queue.push_back(previous.clone());
            } else if *state == ThreadState::Dead {
                drop(state);
                if finishing {
                    scheduler.run_queue.push_back(previous.clone());
                } else {
                    previous_gone = true;
                }
            }
        }
        let next = scheduler.run_queue.pop_front();
        if let (Some(previous), Some(next)) = (&previous, &next) {
            if Arc::ptr_eq(previous, next) {
                let mut state = next.state_lock().lock();
                if *state != ThreadState::Dead {
                    *state = ThreadState::Running;
                }
                drop(state);
                // The queue's reference becomes this CPU's; `previous` (the old one) drops.
                cpu.current.store(
                    Arc::into_raw(next.clone()).cast_mut().cast(),
                    Ordering::Relaxed,
                );
                return;
            }
        }
        if previous.is_none() && next.is_none() {
            return;
        }
        if let Some(previous) = &previous {
            previous.kernel().user_registers.lock().save();
        }
        match &next {
            Some(next) => {
                let mut state = next.state_lock().lock();
                if *state != ThreadState::Dead {
                    *state = ThreadState::Running;
                }
                drop(state);
                next.kernel().ran.store(true, Ordering::Relaxed);
                next.kernel().user_registers.lock().restore();
                let process = next.process();
                aspace::switch_to(if process.has_exited() {
                    None
                } else {
                    Some(process.aspace().ttbr0())
                });
            }
            None => aspace::switch_to(None),
        }
        save_slot = match &previous {
            Some(previous) => &previous.kernel().context,
            None => &cpu.idle,
        };
        next_sp = match &next {
            Some(next) => next.kernel().context.saved_sp(),
            None => cpu.idle.saved_sp(),
        };
        // Keep the previous thread alive while its stack is still ours; a dead one is freed
        // after the next switch.
        if let Some(previous) = previous {
            if previous_gone {
                scheduler.zombies.push(previous);
            }
        }
        cpu.current.store(
            next.map_or(core::ptr::null(), Arc::into_raw)
                .cast_mut()
                .cast(),
            Ordering::Relaxed,
        );
    }
    // SAFETY: IRQs are masked (our caller's duty). `save_slot` is the previous context's
    // slot, kept alive above (its thread is queued, current or a zombie until the next
    // switch completes; or this CPU's idle context, in a static), and `next_sp` a context
    // prepared by `launch` or saved by an earlier switch, which only this switch
    // resumes: it was taken off the run queue (or is this CPU's idle context, which runs only
    // when no thread does on it).
    unsafe { context::switch(save_slot, next_sp) };
    reap_zombies();
}

fn reap_zombies() {
    let zombies = {
        let mut scheduler = SCHEDULER.lock();
        let current = current_ptr();
        let (keep, free): (Vec<_>, Vec<_>) = core::mem::take(&mut scheduler.zombies)
            .into_iter()
            .partition(|z| core::ptr::eq(Arc::as_ptr(z), current));
        scheduler.zombies = keep;
        free
    };
    drop(zombies);
}

/// The kernel's preemption point for long operations (`object::preempt`), called with no
/// lock held and IRQs masked: lets a pending interrupt in (the tick, which asks for a switch
/// at the end of the time slice), then switches if another thread should run. Returns false
/// when the current thread was killed: it stops the work and leaves at the system-call
/// boundary. Nothing happens outside a thread (boot, the idle loop).
pub fn preempt_point() -> bool {
    if current_ptr().is_null() {
        return true;
    }
    // A killed thread must not switch away here: the scheduler would never run it again, and
    // what its frames hold would never be dropped. It unwinds to the system-call boundary.
    if current_is_dead() {
        return false;
    }
    arch::cpu::take_pending_irqs();
    if should_preempt() {
        schedule();
    }
    !current_is_dead()
}

/// The kernel's finish point (`object::preempt::finish_point`), called with no lock held and
/// IRQs masked by work that must be finished even if the current thread was killed (closing
/// a dying process's handles, often on that process's own last thread): lets a pending
/// interrupt in, and switches if another thread should run, queueing this one again even if
/// it is Dead, so it comes back to finish.
pub fn finish_point() {
    if current_ptr().is_null() {
        return;
    }
    arch::cpu::take_pending_irqs();
    if should_preempt() {
        this_cpu().finishing.store(true, Ordering::Relaxed);
        schedule();
    }
}

/// The kernel's wait point (`object::preempt::wait_point`), called with no lock held and IRQs
/// masked by a thread that waits for another thread's long operation: sleeps until the next
/// tick (at most a time slice), so that the long operation runs undisturbed meanwhile; a
/// thread that only yielded was switched to at every preemption point of the operation and
/// slowed it (twice as long on the raspi machines, where a switch costs more). Returns false
/// when the current thread was killed.
pub fn wait_point() -> bool {
    if current_ptr().is_null() {
        return true;
    }
    if current_is_dead() {
        return false;
    }
    sleep_until(now_ns() + WAIT_POINT_SLEEP_NS);
    !current_is_dead()
}

/// How long [`wait_point`] sleeps; the tick rounds it up.
const WAIT_POINT_SLEEP_NS: i64 = 1_000_000;

/// Runs on the boot stack once the kernel has started `init`: sleeps until there is work.
pub fn idle_loop() -> ! {
    object::preempt::set_hook(preempt_point);
    object::preempt::set_wait_hook(wait_point);
    object::preempt::set_finish_hook(finish_point);
    loop {
        schedule();
        // What a thread which never came back (it exited) left for later (address spaces,
        // pages of large VMOs, queues of dead channel endpoints, VMO families' work, page
        // tables): a chunk per round, so that a thread made runnable meanwhile runs after it.
        if object::free_deferred_chunk() || aspace::free_dead_tables_chunk() {
            arch::cpu::take_pending_irqs();
            continue;
        }
        let cpu = this_cpu();
        cpu.idle_waiting.store(true, Ordering::Relaxed);
        arch::cpu::enable_irqs();
        arch::cpu::wait_for_interrupt();
        arch::cpu::disable_irqs();
        cpu.idle_waiting.store(false, Ordering::Relaxed);
    }
}

/// Whether this CPU is in the idle loop's wait for an interrupt ([`crate::percpu::PerCpu`]
/// says why that matters).
pub fn idle_waiting() -> bool {
    this_cpu().idle_waiting.load(Ordering::Relaxed)
}

/// The timer tick (IRQs masked): wakes sleepers whose deadline passed and asks for a
/// reschedule at the end of the time slice.
pub fn tick() {
    let now = now_ns();
    let mut scheduler = SCHEDULER.lock();
    let mut index = 0;
    while index < scheduler.sleepers.len() {
        if scheduler.sleepers[index].0 <= now {
            let (_, thread) = scheduler.sleepers.swap_remove(index);
            let mut state = thread.state_lock().lock();
            if *state == ThreadState::Blocked {
                *state = ThreadState::Runnable;
                drop(state);
                scheduler.run_queue.push_back(thread);
            }
        } else {
            index += 1;
        }
    }
    drop(scheduler);
    this_cpu().need_resched.store(true, Ordering::Relaxed);
}

/// Whether an IRQ taken from EL0 should switch threads before returning.
pub fn should_preempt() -> bool {
    this_cpu().need_resched.load(Ordering::Relaxed) && !SCHEDULER.lock().run_queue.is_empty()
}

/// Starts a new thread ([`object::task::TaskKernel::launch`]; its process's `inner` is
/// held): New -> Runnable, its context prepared for `start`, queued, all under `SCHEDULER`,
/// so a concurrent kill finds it either New (nothing queued; this then fails) or queued.
pub(super) fn launch(thread: &Arc<Thread>, start: UserStart) -> ZxResult {
    let mut scheduler = SCHEDULER.lock();
    thread.set_runnable_locked()?;
    let mut registers = [0u64; 31];
    registers[0] = start.arg1;
    registers[1] = start.arg2;
    let frame = TrapFrame {
        x: registers,
        sp_el0: start.stack as u64,
        elr: start.entry as u64,
        spsr: 0, // EL0t, interrupts unmasked
        ..TrapFrame::default()
    };
    let kernel = thread.kernel();
    // SAFETY: the thread was New until `set_runnable_locked` just now (under `SCHEDULER`,
    // still held), so its kernel stack, mapped with it, has never been switched to; it is
    // not queued yet, so nothing switches to it before the context is ready.
    unsafe { kernel.context.prepare(kernel.stack_top(), frame) };
    scheduler.run_queue.push_back(thread.clone());
    Ok(())
}

/// Kills a thread ([`object::task::TaskKernel::mark_dead`]): Dead under `SCHEDULER`, and off
/// the sleepers; false if it already was. One that is blocked or preempted still runs once
/// more, in the kernel, to unwind its stack (releasing what its frames hold) and leave
/// through the scheduler; it never returns to user mode. One that was started but never ran
/// is taken off the run queue: its stack holds nothing yet.
pub(super) fn mark_dead(thread: &Arc<Thread>) -> bool {
    let mut scheduler = SCHEDULER.lock();
    let Some(was) = thread.set_dead_locked() else {
        return false;
    };
    scheduler.sleepers.retain(|(_, t)| !Arc::ptr_eq(t, thread));
    // Taken out of the queue under the lock, dropped after it.
    let mut unqueued = None;
    match was {
        // The current thread: it leaves at its next trip through the scheduler, which does
        // not queue a Dead thread again.
        ThreadState::Blocked => scheduler.run_queue.push_back(thread.clone()),
        ThreadState::Runnable if !thread.kernel().ran.load(Ordering::Relaxed) => {
            if let Some(index) = scheduler
                .run_queue
                .iter()
                .position(|t| Arc::ptr_eq(t, thread))
            {
                unqueued = scheduler.run_queue.remove(index);
            }
        }
        // Other runnable ones are queued and unwind when they run; new ones never ran.
        _ => {}
    }
    drop(scheduler);
    drop(unqueued);
    true
}

/// Makes a blocked thread runnable.
fn wake(thread: &Arc<Thread>) {
    let mut scheduler = SCHEDULER.lock();
    let mut state = thread.state_lock().lock();
    if *state == ThreadState::Blocked {
        *state = ThreadState::Runnable;
        drop(state);
        scheduler.sleepers.retain(|(_, t)| !Arc::ptr_eq(t, thread));
        scheduler.run_queue.push_back(thread.clone());
    }
}

/// Blocks the current thread until `deadline` or until something wakes it.
fn block_current(deadline: i64, still_waiting: impl Fn() -> bool) {
    let Some(thread) = current_thread() else {
        return;
    };
    {
        let mut scheduler = SCHEDULER.lock();
        if !still_waiting() {
            return;
        }
        let mut state = thread.state_lock().lock();
        // A killed thread never blocks again: it unwinds to the system-call boundary and
        // leaves there. Marking it Blocked would also hide that it is dead.
        if *state == ThreadState::Dead {
            return;
        }
        *state = ThreadState::Blocked;
        drop(state);
        if deadline != abi::ZX_TIME_INFINITE {
            scheduler.sleepers.push((deadline, thread.clone()));
        }
    }
    schedule();
}

/// `zx_nanosleep`.
pub fn sleep_until(deadline: i64) {
    if deadline <= now_ns() {
        return;
    }
    block_current(deadline, || true);
}

struct ThreadWaker(Weak<Thread>);

impl Wake for ThreadWaker {
    fn wake(&self) {
        if let Some(thread) = self.0.upgrade() {
            self::wake(&thread);
        }
    }
}

/// Blocking for `object::wait`: the current thread sleeps in the scheduler.
pub struct KernelBlocker;

impl Blocker for KernelBlocker {
    fn now(&self) -> i64 {
        now_ns()
    }

    fn wake_hook(&self) -> Arc<dyn Wake> {
        let thread = current_thread()
            .map(|t| Arc::downgrade(&t))
            .unwrap_or_default();
        Arc::new(ThreadWaker(thread))
    }

    fn block_until(&self, waiter: &Waiter, deadline: i64) {
        block_current(deadline, || waiter.is_pending());
    }

    fn interrupted(&self) -> bool {
        current_is_dead()
    }
}
