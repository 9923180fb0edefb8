//! The scheduler: each CPU's run queue and deadline queue, placement and stealing, switching
//! (`schedule`), the idle loops, the tick, blocking and waking, launching and killing threads
//! (for `object::task`, through `Kernel`), the preemption, wait and finish points, and what
//! the current thread is doing (`with_current_process`, `copying_frames` and the faults such
//! a copy leaves for later).
//!
//! Placement: a thread made runnable goes to the CPU it ran on last if nothing else waits
//! there, else to the least loaded CPU that joined (queued plus running), and that CPU is
//! interrupted if it was idle. An idle CPU takes the oldest thread of the longest other
//! queue; a CPU whose slice ended with nothing of its own queued takes one from a queue where
//! two wait. A killed thread running on another CPU is interrupted there.
//!
//! Deadlines: each CPU keeps the deadlines armed on it (sleeping threads, timer objects) in
//! a heap, and its timer interrupts at the earlier of its next 10 ms scheduling tick and its
//! earliest deadline (`irq::handle`), so a deadline is met to within the interrupt's latency
//! instead of rounded up to the tick. See `Scheduler::deadlines` for why per CPU.
//!
//! Locking: `SCHEDULER` is one IRQ-safe lock over every CPU's queues (the timer interrupt
//! takes it from the IRQ handler when a deadline is due). Timer objects take it inside their
//! own state lock (`object::timer`) to arm and disarm. It nests inside `Process::inner` (`launch` and `mark_dead` are called
//! with it held); `Thread::state` (an `IrqSafeLock` too) or `KernelThread::user_registers`
//! (never both at once) nest inside it. A switch holds it across `context::switch` and the
//! context switched to releases it (`finish_switch`). Under it nothing may fault or sleep,
//! nothing allocates (`launch` reserves room for every thread first; arming a timer
//! makes its room with the lock released, `KernelTimers::arm`) and nothing is dropped
//! that could run arbitrary teardown (a dying thread's last reference waits in `zombies`).
//! IPIs are sent after it is released (the interrupt controller's lock is a leaf). The
//! current thread is this CPU's (`crate::percpu`), read without any lock: only this CPU
//! changes it, in `schedule`, under `SCHEDULER`.

use super::thread::NO_FAULT;
use super::{now_ns, Process, Thread};
use crate::aspace;
use crate::percpu::{self, cpu_index, this_cpu, MAX_CPUS};
use crate::sync::{IrqSafeGuard, IrqSafeLock};
use alloc::collections::VecDeque;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use arch::context::{self, SavedContext, SavedSp};
use arch::exception::TrapFrame;
use core::sync::atomic::AtomicUsize;
use core::sync::atomic::{AtomicBool, Ordering};
use object::deadline::{DeadlineHeap, Slotted, NOT_QUEUED};
use object::task::{Killed, ThreadState, UserStart};
use object::timer::{Timer, TimerQueue};
use object::wait::{Blocker, Waiter, Wake};
use object::{Status, ZxResult};

/// What waits for a deadline: a blocked thread, or an armed timer with the generation it was
/// armed with ([`object::timer::Timer::fire`]).
pub(super) enum Sleeper {
    Thread(Arc<Thread>),
    Timer(Arc<Timer>, u64),
}

impl Slotted for Sleeper {
    fn slot(&self) -> &AtomicUsize {
        match self {
            Sleeper::Thread(thread) => &thread.kernel().sleep_slot,
            Sleeper::Timer(timer, _) => &timer.queue_slot,
        }
    }
}

/// Most expired deadlines one timer interrupt handles, and most fired timers one
/// [`fire_timers`] signals: a burst of thousands due at once is spread over interrupts that
/// come back at once, so none keeps IRQs masked for long.
const DEADLINE_BATCH: usize = 32;

pub(super) struct Scheduler {
    /// Each CPU's threads waiting to run on it (by `percpu` index), round robin.
    queues: [VecDeque<Arc<Thread>>; MAX_CPUS],
    /// Each CPU's deadlines: the threads that blocked there with a deadline and the timers
    /// armed there, earliest first.
    ///
    /// Why per CPU: a deadline is always queued by the CPU that arms it (a thread blocks on
    /// the CPU it runs on; `zx_timer_set` runs on the caller's CPU), so that CPU only has to
    /// pull its own comparator earlier (a register write, no IPI), and only it is interrupted
    /// when the deadline comes. One global earliest deadline folded into every CPU's
    /// comparator would interrupt all four CPUs for each deadline, or need IPIs to pull the
    /// others' comparators in. Taking an entry out (an early wake-up, a cancel) may happen on
    /// any CPU and leaves the owner's comparator as it is: at worst one early interrupt that
    /// finds nothing due. The price: a deadline waits for its own CPU, which may have IRQs
    /// masked for up to the ~1 ms the kernel allows a stretch.
    ///
    /// A binary heap with removal by slot: O(log n) under this lock, never a scan of the
    /// sleepers. Room: every heap holds `threads + timer_entries` (reserved by `launch` and
    /// by arming a timer), so pushing never allocates.
    deadlines: [DeadlineHeap<Sleeper>; MAX_CPUS],
    /// Timers whose deadline passed, with the generation they were armed with, waiting for a
    /// safe point to assert their signal ([`fire_timers`]): the timer interrupt may not take
    /// a signal-state lock (`object::signal`). Room for `timer_entries`. First in, first out:
    /// the timers that expired first are signaled first.
    fired: VecDeque<(Arc<Timer>, u64)>,
    /// Timer entries in `deadlines` plus entries in `fired`.
    timer_entries: usize,
    /// Dead threads whose kernel stack may still be in use until the next switch completes.
    zombies: Vec<Arc<Thread>>,
    /// References to dead threads a wake-up took under other locks, dropped at the next
    /// switch (`ThreadWaker::wake`).
    orphans: Vec<Arc<Thread>>,
    /// The CPUs that take threads, a bit per `percpu` index: the boot CPU from the start,
    /// each other CPU once it joined ([`run_secondary`]).
    joined: u32,
    /// Threads launched and not yet gone. Every queue, deadline heap and the zombies have room
    /// for this many (`launch` reserves it), so nothing allocates under this lock elsewhere.
    threads: usize,
}

/// The threads waiting for a CPU or a deadline. IRQ-safe: the tick takes it. See the module
/// doc for what nests inside. A switch holds it across `context::switch`: the context
/// switched to releases it ([`finish_switch`]).
pub(super) static SCHEDULER: IrqSafeLock<Scheduler> = IrqSafeLock::new(Scheduler {
    queues: [const { VecDeque::new() }; MAX_CPUS],
    deadlines: [const { DeadlineHeap::new(NOT_QUEUED) }; MAX_CPUS],
    fired: VecDeque::new(),
    timer_entries: 0,
    zombies: Vec::new(),
    orphans: Vec::new(),
    joined: 1,
    threads: 0,
});

/// How many timers wait in `Scheduler::fired` (changed under `SCHEDULER`): read without the
/// lock by [`fire_timers`] on every interrupt's way out, so that an interrupt with no timer
/// to fire does not take the lock.
static FIRED: AtomicUsize = AtomicUsize::new(0);

/// Set once the boot CPU runs its idle loop: from then on the other CPUs join.
static OPEN: AtomicBool = AtomicBool::new(false);

/// Inter-processor interrupts to send once the scheduler lock is released: a bit per CPU
/// (each an idle CPU given a thread, or one running a thread just killed).
#[must_use]
struct Kicks(u32);

impl Kicks {
    fn send(self) {
        for index in 0..MAX_CPUS {
            if self.0 & (1 << index) != 0 {
                percpu::send_ipi(index);
            }
        }
    }
}

/// Whether CPU `index` runs a thread now (read under `SCHEDULER`, which every change of a
/// CPU's `current` holds).
fn runs_thread(index: usize) -> bool {
    percpu::cpu(index).is_some_and(|cpu| !cpu.current.load(Ordering::Relaxed).is_null())
}

impl Scheduler {
    fn takes(&self, index: usize) -> bool {
        index < MAX_CPUS && self.joined & (1 << index) != 0
    }

    /// Threads on CPU `index`: queued there, and the one it runs.
    fn load(&self, index: usize) -> usize {
        self.queues[index].len() + usize::from(runs_thread(index))
    }

    /// Queues a runnable thread on the CPU that should run it: the one it ran on last if
    /// nothing else waits for that one, else the least loaded CPU that takes threads (ties
    /// go to the last one). Returns the CPU to interrupt: another CPU, idle until now.
    fn enqueue(&mut self, thread: Arc<Thread>) -> Kicks {
        let me = cpu_index();
        let last = thread.kernel().cpu.load(Ordering::Relaxed);
        // A CPU that has not joined yet (its tick may wake a sleeper) queues nothing on itself.
        let mut best = if self.takes(last) {
            last
        } else if self.takes(me) {
            me
        } else {
            0
        };
        let mut best_load = self.load(best);
        for index in 0..MAX_CPUS {
            if best_load == 0 {
                break;
            }
            if self.takes(index) && self.load(index) < best_load {
                best = index;
                best_load = self.load(index);
            }
        }
        thread.kernel().cpu.store(best, Ordering::Relaxed);
        self.queues[best].push_back(thread);
        // An idle CPU is interrupted, this one too: its idle loop may be about to sleep
        // (a wake-up from its own interrupt handler or deferred work).
        Kicks(if !runs_thread(best) { 1 << best } else { 0 })
    }

    /// The next thread for CPU `me`: the first of its own queue, else one taken from the
    /// front of the longest other queue; while `me` has a thread to go on with, only from a
    /// queue that still has another one waiting (else nothing would gain).
    fn take_next(&mut self, me: usize, has_thread: bool) -> Option<Arc<Thread>> {
        if let Some(next) = self.queues[me].pop_front() {
            return Some(next);
        }
        if !self.takes(me) {
            return None;
        }
        let victim = (0..MAX_CPUS)
            .filter(|&index| index != me)
            .max_by_key(|&index| self.queues[index].len())?;
        if self.queues[victim].len() < if has_thread { 2 } else { 1 } {
            return None;
        }
        let next = self.queues[victim].pop_front()?;
        next.kernel().cpu.store(me, Ordering::Relaxed);
        Some(next)
    }

    /// Makes room for one more thread in every list a thread can be on.
    fn reserve_thread(&mut self) -> ZxResult {
        let threads = self.threads + 1;
        for queue in &mut self.queues {
            queue
                .try_reserve(threads.saturating_sub(queue.len()))
                .map_err(|_| Status::NO_MEMORY)?;
        }
        for heap in &mut self.deadlines {
            heap.try_reserve(threads + self.timer_entries)?;
        }
        self.zombies
            .try_reserve(threads.saturating_sub(self.zombies.len()))
            .map_err(|_| Status::NO_MEMORY)?;
        self.orphans
            .try_reserve(threads.saturating_sub(self.orphans.len()))
            .map_err(|_| Status::NO_MEMORY)?;
        self.threads = threads;
        Ok(())
    }

    /// Moves the heaps and `fired` into the bigger buffers of `room` (made outside this lock),
    /// where they are bigger; returns the buffers left over, to be dropped after the lock.
    /// No allocation: the entries are moved into room already there.
    fn adopt(&mut self, room: Room) -> Room {
        let Room { heaps, mut fired } = room;
        let mut index = 0;
        let heaps = heaps.map(|storage| {
            let left = self.deadlines[index].adopt(storage);
            index += 1;
            left
        });
        if fired.is_empty() && fired.capacity() > self.fired.capacity() {
            fired.append(&mut self.fired);
            core::mem::swap(&mut fired, &mut self.fired);
        }
        Room { heaps, fired }
    }

    /// Queues `timer` at `deadline` on this CPU, replacing its entry if it has one (returned,
    /// to be dropped after this lock). A new entry needs room for one more in every heap and
    /// in `fired`; without it nothing changes and the room wanted comes back.
    fn arm_timer(
        &mut self,
        timer: &Arc<Timer>,
        deadline: i64,
        generation: u64,
    ) -> Result<Option<Sleeper>, Short> {
        let slot = timer.queue_slot.load(Ordering::Relaxed);
        let fresh = DeadlineHeap::<Sleeper>::heap_of(slot).is_none();
        if fresh {
            let fired_total = self.timer_entries + 1;
            let heap_total = self.threads + fired_total;
            let short_heaps = self.deadlines.each_ref().map(|h| h.capacity() < heap_total);
            let short_fired = self.fired.capacity() < fired_total;
            if short_fired || short_heaps.contains(&true) {
                return Err(Short::Room(Wanted {
                    heap_total,
                    fired_total,
                    short_heaps,
                    short_fired,
                }));
            }
            self.timer_entries = fired_total;
        }
        let old = self.remove_deadline(slot);
        match self.push_deadline(deadline, Sleeper::Timer(timer.clone(), generation)) {
            Ok(()) => Ok(old),
            Err(sleeper) => {
                // Not reached: room was checked above or freed by `old`.
                if fresh {
                    self.timer_entries -= 1;
                }
                Err(Short::Full(sleeper, old))
            }
        }
    }

    /// CPU `cpu`'s deadline heap (named on first use: a `const` array cannot number them).
    fn heap(&mut self, cpu: usize) -> &mut DeadlineHeap<Sleeper> {
        let heap = &mut self.deadlines[cpu];
        heap.name_once(cpu);
        heap
    }

    /// Queues `sleeper` at `deadline` on this CPU and pulls its comparator in if that is now
    /// its earliest deadline. Needs the room reserved.
    fn push_deadline(&mut self, deadline: i64, sleeper: Sleeper) -> Result<(), Sleeper> {
        let me = cpu_index();
        let heap = self.heap(me);
        heap.push(deadline, sleeper)?;
        if heap.earliest() == Some(deadline) {
            if let Some(cpu) = percpu::cpu(me) {
                cpu.earliest_deadline.store(deadline, Ordering::Relaxed);
            }
            pull_comparator_in(deadline);
        }
        Ok(())
    }

    /// Takes the entry whose slot holds `slot` (a thread's `sleep_slot`, a timer's
    /// `queue_slot`, read under this lock) out of whichever CPU's heap holds it.
    fn remove_deadline(&mut self, slot: usize) -> Option<Sleeper> {
        let cpu = DeadlineHeap::<Sleeper>::heap_of(slot)?;
        let heap = self.deadlines.get_mut(cpu)?;
        let (_, removed) = heap.remove_slot(slot)?;
        let earliest = heap.earliest().unwrap_or(i64::MAX);
        if let Some(cpu) = percpu::cpu(cpu) {
            cpu.earliest_deadline.store(earliest, Ordering::Relaxed);
        }
        Some(removed)
    }
}

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

/// Runs `call` with the current thread marked as blocked in `why` for `ZX_INFO_THREAD`
/// (`object::task::Blocked`; cleared when `call` returns, also when it sleeps and the
/// thread is killed meanwhile, as the stack unwinds). Every system call that may sleep wraps
/// the part that may sleep in it: `zx_object_wait_one` (WaitOne), `zx_nanosleep` (Sleeping),
/// `zx_futex_wait` (Futex), `zx_port_wait` (Port), `zx_object_wait_many` (WaitMany),
/// `zx_channel_call` (Channel). Without a current thread `call` just runs. Takes no
/// reference to the thread.
pub fn blocked_in<R>(why: object::task::Blocked, call: impl FnOnce() -> R) -> R {
    let thread = current_ptr();
    if thread.is_null() {
        return call();
    }
    // SAFETY: this CPU's reference to the running thread, which stays current while code
    // runs on its behalf, across switches inside `call` (see `with_current_process`).
    let _blocked = unsafe { (*thread).blocked_in(why) };
    call()
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

/// The current thread's system call left work for later (`object::preempt::mark_deferred`'s
/// hook). Outside a thread (the idle loop) nothing: the idle loop does such work anyway.
fn note_left_work() {
    let thread = current_ptr();
    if !thread.is_null() {
        // SAFETY: as in `with_current_process`.
        unsafe { (*thread).kernel().left_work.store(true, Ordering::Relaxed) };
    }
}

/// Whether the current thread's system call left work for later, clearing the mark (kept
/// while the invariant checks run after every call).
#[inline]
pub fn take_left_work() -> bool {
    let thread = current_ptr();
    if thread.is_null() {
        return false;
    }
    // SAFETY: as in `with_current_process`.
    let left = unsafe { &(*thread).kernel().left_work };
    if !left.load(Ordering::Relaxed) {
        return false;
    }
    if !object::preempt::keeps_deferred() {
        left.store(false, Ordering::Relaxed);
    }
    true
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
/// the calling context runs again, maybe on another CPU.
pub fn schedule() {
    switch_locked(SCHEDULER.lock());
}

/// [`schedule`] with the scheduler lock already held (by a thread that just blocked, which
/// no other CPU may resume before its context is saved). The lock is held across the switch
/// and released by the context switched to ([`finish_switch`]): until then no other CPU can
/// take the previous thread off a queue and resume it while this CPU still runs on its stack.
fn switch_locked(mut scheduler: IrqSafeGuard<'static, Scheduler>) {
    let cpu = this_cpu();
    let me = cpu_index();
    let (save_slot, next_sp): (*const SavedContext, SavedSp);
    {
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
        let mut goes_on = false;
        if let Some(previous) = &previous {
            let mut state = previous.state_lock().lock();
            if *state == ThreadState::Running {
                *state = ThreadState::Runnable;
                goes_on = true;
            } else if *state == ThreadState::Dead {
                goes_on = finishing;
                previous_gone = !finishing;
            }
        }
        let mut next = scheduler.take_next(me, goes_on);
        if goes_on {
            if let Some(previous) = &previous {
                match next {
                    // Nothing else to run here: it goes on.
                    None => next = Some(previous.clone()),
                    // Room reserved by `launch`.
                    Some(_) => scheduler.queues[me].push_back(previous.clone()),
                }
            }
        }
        if let (Some(previous), Some(next)) = (&previous, &next) {
            if Arc::ptr_eq(previous, next) {
                let mut state = next.state_lock().lock();
                if *state != ThreadState::Dead {
                    *state = ThreadState::Running;
                }
                drop(state);
                // The new reference becomes this CPU's; `previous` (the old one) drops.
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
                let kernel = next.kernel();
                kernel.ran.store(true, Ordering::Relaxed);
                kernel.cpu.store(me, Ordering::Relaxed);
                kernel.user_registers.lock().restore();
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
                scheduler.threads -= 1;
                // Room reserved by `launch`.
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
    scheduler.keep_locked();
    // SAFETY: IRQs are masked (our caller's duty). `save_slot` is the previous context's
    // slot, kept alive above (its thread is queued, current or a zombie until the next
    // switch completes; or this CPU's idle context, in a static), and `next_sp` a context
    // prepared by `launch` or saved by an earlier switch, which only this switch resumes:
    // it was taken off a run queue (or is this CPU's idle context, which runs only when no
    // thread does on it), and its switch out completed before the lock it held was released
    // (this CPU holds it now).
    unsafe { context::switch(save_slot, next_sp) };
    finish_switch();
}

/// Finishes a switch in the context switched to (a new thread's first entry calls it too):
/// releases the scheduler lock its switch held and frees the threads that left for good.
extern "C" fn finish_switch() {
    // SAFETY: the switch that resumed this context holds the lock (`switch_locked` kept it
    // locked and handed it over); nothing else releases it.
    unsafe { SCHEDULER.force_unlock() };
    reap_zombies();
}

/// Frees the threads that left for good, and drops the references wake-ups handed over
/// (`orphans`), one at a time (no allocation: the list keeps the
/// room `launch` reserved). Every zombie's switch out completed before the lock was released
/// (the lock is held across a switch), so none of their stacks is in use.
fn reap_zombies() {
    loop {
        let (zombie, orphan) = {
            let mut scheduler = SCHEDULER.lock();
            (scheduler.zombies.pop(), scheduler.orphans.pop())
        };
        if zombie.is_none() && orphan.is_none() {
            return;
        }
        if let Some(zombie) = zombie {
            // Off its CPU for good: a thread killed while it ran on another CPU is seen to
            // have ended only now.
            zombie.left();
        }
    }
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
/// masked by a thread that waits for another thread's long operation: sleeps for half a time
/// slice, so that the long operation runs undisturbed meanwhile; a
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

/// How long [`wait_point`] sleeps: half a time slice, what its old 1 ms rounded up to the
/// next tick came to on average before deadlines were precise.
const WAIT_POINT_SLEEP_NS: i64 = 5_000_000;

/// Runs on the boot stack once the kernel has started `init`: lets the other CPUs join the
/// scheduler, then runs threads, or sleeps until there is work.
pub fn idle_loop() -> ! {
    object::preempt::set_hook(preempt_point);
    object::preempt::set_wait_hook(wait_point);
    object::preempt::set_finish_hook(finish_point);
    object::preempt::set_mark_hook(note_left_work);
    object::preempt::set_cpu_hook(cpu_index);
    OPEN.store(true, Ordering::Release);
    for index in 1..MAX_CPUS {
        if percpu::is_online(index) {
            percpu::send_ipi(index);
        }
    }
    idle_forever()
}

/// A secondary CPU, online with its interrupts and tick set up (IRQs masked): waits until the
/// boot CPU opens the scheduler, joins it, and runs threads from then on.
pub fn run_secondary() -> ! {
    let cpu = this_cpu();
    while !OPEN.load(Ordering::Acquire) {
        wait_for_work(cpu);
    }
    // User address spaces exist by now (the boot CPU set them up before opening): TTBR0
    // walks as the boot CPU has them, off the boot assembly's identity map.
    aspace::init_secondary_cpu();
    SCHEDULER.lock().joined |= 1 << cpu_index();
    idle_forever()
}

/// Sleeps until an interrupt comes, and takes it. `wfi` with IRQs masked still wakes on a
/// pending interrupt, so a wake-up's IPI that came after the caller last looked at its run
/// queue is never slept through.
fn wait_for_work(cpu: &percpu::PerCpu) {
    cpu.idle_waiting.store(true, Ordering::Relaxed);
    arch::cpu::wait_for_interrupt();
    arch::cpu::take_pending_irqs();
    cpu.idle_waiting.store(false, Ordering::Relaxed);
}

fn idle_forever() -> ! {
    loop {
        schedule();
        // What wake-ups handed over, dropped here too when no switch came (a CPU that only
        // idles would otherwise keep a dead thread's stack and process until one does).
        reap_zombies();
        // What a thread which never came back (it exited) left for later (address spaces,
        // pages of large VMOs, queues of dead channel endpoints, VMO families' work, page
        // tables): a chunk per round, so that a thread made runnable meanwhile runs after it.
        if object::free_deferred_chunk() || aspace::free_dead_tables_chunk() {
            arch::cpu::take_pending_irqs();
            continue;
        }
        // This CPU's block: the loop may have run on no other (the idle context never moves).
        wait_for_work(this_cpu());
    }
}

/// Whether this CPU is in the idle loop's wait for an interrupt ([`crate::percpu::PerCpu`]
/// says why that matters).
pub fn idle_waiting() -> bool {
    this_cpu().idle_waiting.load(Ordering::Relaxed)
}

/// The scheduling tick (IRQs masked): asks for a reschedule at the end of the time slice.
/// Deadlines are [`expire_deadlines`]'s.
pub fn tick() {
    this_cpu().need_resched.store(true, Ordering::Relaxed);
}

/// From the timer interrupt (IRQs masked): wakes this CPU's threads whose deadline passed and
/// moves its expired timers to `fired` (signaled at the next safe point, [`fire_timers`]), at
/// most [`DEADLINE_BATCH`] of them. Returns the earliest deadline left on this CPU (now, if
/// the batch was cut short or more timers wait in `fired` than the next [`fire_timers`]
/// signals), for the comparator. Takes no lock unless something is due.
pub fn expire_deadlines() -> Option<i64> {
    let left = expire_due();
    // More fired timers than this interrupt's `fire_timers` signals: the comparator comes
    // back at once for the rest rather than leave them until the next deadline or tick.
    if FIRED.load(Ordering::Relaxed) > DEADLINE_BATCH {
        return Some(now_ns());
    }
    left
}

/// [`expire_deadlines`] but for the timers left in `fired`.
fn expire_due() -> Option<i64> {
    let cpu = this_cpu();
    let earliest = cpu.earliest_deadline.load(Ordering::Relaxed);
    if earliest == i64::MAX {
        // The common tick: nothing queued here, not even the clock read.
        return None;
    }
    let now = now_ns();
    if earliest > now {
        return Some(earliest);
    }
    let me = cpu_index();
    let mut kicks = Kicks(0);
    let left = {
        let mut scheduler = SCHEDULER.lock();
        let mut handled = 0;
        while handled < DEADLINE_BATCH {
            let Some((_, sleeper)) = scheduler.heap(me).pop_expired(now) else {
                break;
            };
            handled += 1;
            match sleeper {
                Sleeper::Thread(thread) => {
                    let mut state = thread.state_lock().lock();
                    if *state == ThreadState::Blocked {
                        *state = ThreadState::Runnable;
                        drop(state);
                        kicks.0 |= scheduler.enqueue(thread).0;
                    } else {
                        drop(state);
                        // Not reached (a thread leaves the heap when it stops being Blocked);
                        // its reference goes where wake-ups leave theirs, dropped at a switch.
                        if scheduler.orphans.len() < scheduler.orphans.capacity() {
                            scheduler.orphans.push(thread);
                        }
                    }
                }
                // Room reserved when it was armed (`timer_entries` counts it in both).
                Sleeper::Timer(timer, generation) => {
                    scheduler.fired.push_back((timer, generation));
                    FIRED.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        let earliest = scheduler.heap(me).earliest();
        cpu.earliest_deadline
            .store(earliest.unwrap_or(i64::MAX), Ordering::Relaxed);
        if handled == DEADLINE_BATCH {
            earliest.map(|deadline| deadline.min(now))
        } else {
            earliest
        }
    };
    kicks.send();
    left
}

/// Signals the timers whose deadline passed ([`expire_deadlines`] left them in `fired`), at
/// most [`DEADLINE_BATCH`] per call. Runs at a safe point: on the way out of every interrupt
/// (`trap::irq_exit`), after the handler released every lock it took; a CPU takes
/// interrupts only where it holds no lock (user mode, the idle loop, preemption points), so
/// the signal-state and timer locks taken here nest in nothing. (`object::signal` forbids
/// them in the interrupt handler proper, which may not assume that.)
pub fn fire_timers() {
    if FIRED.load(Ordering::Relaxed) == 0 {
        return;
    }
    for _ in 0..DEADLINE_BATCH {
        let fired = {
            let mut scheduler = SCHEDULER.lock();
            let fired = scheduler.fired.pop_front();
            if fired.is_some() {
                scheduler.timer_entries -= 1;
                FIRED.fetch_sub(1, Ordering::Relaxed);
            }
            fired
        };
        let Some((timer, generation)) = fired else {
            return;
        };
        timer.fire(generation);
        // Maybe the last reference (its last handle closed meanwhile): dropped with no lock.
        drop(timer);
    }
}

/// Most rounds [`KernelTimers::arm`] makes bigger buffers and finds them outgrown by other
/// CPUs' timers before giving up with `NO_MEMORY` (each round asks for twice the room).
const ARM_TRIES: usize = 8;

/// The room a timer entry needs ([`Scheduler::arm_timer`] found it missing): entries in
/// every heap and in `fired`, and which of them are short of it.
struct Wanted {
    heap_total: usize,
    fired_total: usize,
    short_heaps: [bool; MAX_CPUS],
    short_fired: bool,
}

/// Buffers made outside `SCHEDULER` for [`Scheduler::adopt`] (empty where nothing is short).
struct Room {
    heaps: [Vec<(i64, Sleeper)>; MAX_CPUS],
    fired: VecDeque<(Arc<Timer>, u64)>,
}

impl Room {
    /// Twice the room wanted, so that arming timers one by one copies each entry O(1) times
    /// on average. `NO_MEMORY` if the allocator has not that much.
    fn new(wanted: &Wanted) -> ZxResult<Room> {
        let heap_total = wanted.heap_total.saturating_mul(2);
        let mut heaps = [const { Vec::new() }; MAX_CPUS];
        for (heap, short) in heaps.iter_mut().zip(wanted.short_heaps) {
            if short {
                *heap = DeadlineHeap::<Sleeper>::storage(heap_total)?;
            }
        }
        let mut fired = VecDeque::new();
        if wanted.short_fired {
            fired
                .try_reserve_exact(wanted.fired_total.saturating_mul(2))
                .map_err(|_| Status::NO_MEMORY)?;
        }
        Ok(Room { heaps, fired })
    }
}

/// Why [`Scheduler::arm_timer`] armed nothing.
enum Short {
    /// A new entry needs more room than there is.
    Room(Wanted),
    /// Not reached (room was checked): the entry and the timer's previous one.
    Full(Sleeper, Option<Sleeper>),
}

/// The deadline queue timer objects arm themselves in ([`object::timer::TimerQueue`]).
pub struct KernelTimers;

/// The one [`KernelTimers`], given to every timer.
pub static KERNEL_TIMERS: KernelTimers = KernelTimers;

impl TimerQueue for KernelTimers {
    fn now(&self) -> i64 {
        now_ns()
    }

    /// Room for a new entry is made outside `SCHEDULER` (nothing allocates or frees under
    /// it): under the lock, a timer that needs room no heap or `fired` has gets back the sizes
    /// wanted; bigger buffers are allocated with the lock released, and under the lock again
    /// the entries are moved into them (a copy, no allocation) before the timer is queued.
    /// Other CPUs may arm meanwhile and outgrow them: at most [`ARM_TRIES`] rounds, each
    /// asking for twice the room needed, then `NO_MEMORY`. Nothing is armed on failure.
    fn arm(&self, timer: &Arc<Timer>, deadline: i64, generation: u64) -> ZxResult {
        let mut room: Option<Room> = None;
        for _ in 0..ARM_TRIES {
            let mut scheduler = SCHEDULER.lock();
            let left = room.take().map(|room| scheduler.adopt(room));
            let armed = scheduler.arm_timer(timer, deadline, generation);
            drop(scheduler);
            // The buffers replaced (or not needed), the previous entry: freed with no lock.
            drop(left);
            match armed {
                Ok(old) => {
                    // The caller holds a reference to the timer: not the last one.
                    drop(old);
                    return Ok(());
                }
                Err(Short::Room(wanted)) => room = Some(Room::new(&wanted)?),
                Err(Short::Full(sleeper, old)) => {
                    drop((sleeper, old));
                    return Err(Status::NO_MEMORY);
                }
            }
        }
        Err(Status::NO_MEMORY)
    }

    fn disarm(&self, timer: &Timer) {
        let removed = {
            let mut scheduler = SCHEDULER.lock();
            let removed = scheduler.remove_deadline(timer.queue_slot.load(Ordering::Relaxed));
            if removed.is_some() {
                scheduler.timer_entries -= 1;
            }
            removed
        };
        // May be the timer's last reference (its last handle is going): dropped with no lock.
        drop(removed);
    }
}

/// Whether the current thread should give the CPU up now (an IRQ taken from EL0, a
/// preemption point): its time slice is over and another thread waits for this CPU, or
/// waits behind another on a CPU this one could take it from.
pub fn should_preempt() -> bool {
    if !this_cpu().need_resched.load(Ordering::Relaxed) {
        return false;
    }
    let scheduler = SCHEDULER.lock();
    !scheduler.queues[cpu_index()].is_empty() || scheduler.queues.iter().any(|q| q.len() >= 2)
}

/// Starts a new thread ([`object::task::TaskKernel::launch`]; its process's `inner` is
/// held): New -> Runnable, its context prepared for `start`, queued on the least loaded CPU,
/// all under `SCHEDULER`, so a concurrent kill finds it either New (nothing queued; this
/// then fails) or queued.
pub(super) fn launch(thread: &Arc<Thread>, start: UserStart) -> ZxResult {
    let kicks = {
        let mut scheduler = SCHEDULER.lock();
        scheduler.reserve_thread()?;
        if let Err(status) = thread.set_runnable_locked() {
            scheduler.threads -= 1;
            return Err(status);
        }
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
        unsafe {
            kernel
                .context
                .prepare(kernel.stack_top(), frame, finish_switch)
        };
        // A new thread has no CPU of its own yet: the least loaded one.
        kernel.cpu.store(usize::MAX, Ordering::Relaxed);
        scheduler.enqueue(thread.clone())
    };
    kicks.send();
    Ok(())
}

/// Kills a thread ([`object::task::TaskKernel::mark_dead`]): Dead under `SCHEDULER`, and off
/// the sleepers; false if it already was. One that is blocked or preempted still runs once
/// more, in the kernel, to unwind its stack (releasing what its frames hold) and leave
/// through the scheduler; it never returns to user mode. One running on another CPU is
/// interrupted there, so that it leaves at once. One that was started but never ran is taken
/// off its run queue: its stack holds nothing yet.
pub(super) fn mark_dead(thread: &Arc<Thread>) -> Killed {
    let mut scheduler = SCHEDULER.lock();
    let Some(was) = thread.set_dead_locked() else {
        return Killed::Already;
    };
    // Not the thread's last reference (the caller holds one): dropped here.
    let slot = thread.kernel().sleep_slot.load(Ordering::Relaxed);
    drop(scheduler.remove_deadline(slot));
    // Taken out of the queue under the lock, dropped after it.
    let mut unqueued = None;
    let mut kicks = Kicks(0);
    let mut killed = Killed::Stopped;
    let cpu = thread.kernel().cpu.load(Ordering::Relaxed);
    match was {
        ThreadState::Blocked => kicks = scheduler.enqueue(thread.clone()),
        ThreadState::Runnable if !thread.kernel().ran.load(Ordering::Relaxed) => {
            if let Some(queue) = scheduler.queues.get_mut(cpu) {
                if let Some(index) = queue.iter().position(|t| Arc::ptr_eq(t, thread)) {
                    unqueued = queue.remove(index);
                }
            }
            if unqueued.is_some() {
                scheduler.threads -= 1;
            }
        }
        // Running on another CPU: interrupted, it leaves on the way back to user mode (or at
        // the end of the system call it is in). The current thread leaves at its next trip
        // through the scheduler, which does not queue a Dead thread again.
        ThreadState::Running if cpu != cpu_index() => {
            kicks = Kicks(1 << cpu);
            killed = Killed::Leaving;
        }
        // Other runnable ones are queued and unwind when they run; new ones never ran.
        _ => {}
    }
    drop(scheduler);
    kicks.send();
    drop(unqueued);
    killed
}

/// Makes a blocked thread runnable, with the scheduler lock held; the IPIs to send once it is
/// released.
fn wake_locked(scheduler: &mut Scheduler, thread: &Arc<Thread>) -> Kicks {
    let mut state = thread.state_lock().lock();
    if *state != ThreadState::Blocked {
        return Kicks(0);
    }
    *state = ThreadState::Runnable;
    drop(state);
    // Not the thread's last reference (the caller holds one): dropped here.
    let slot = thread.kernel().sleep_slot.load(Ordering::Relaxed);
    drop(scheduler.remove_deadline(slot));
    scheduler.enqueue(thread.clone())
}

/// Blocks the current thread until `deadline` or until something wakes it. The scheduler
/// lock is held from the check of `still_waiting` until the thread is switched out, so a
/// waker on another CPU finds it either still running (and `still_waiting` false by then) or
/// Blocked and switched out.
fn block_current(deadline: i64, still_waiting: impl Fn() -> bool) {
    let Some(thread) = current_thread() else {
        return;
    };
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
        // Room reserved by `launch`, so this cannot fail; if it did, the thread would wait
        // without its deadline rather than the kernel allocate here.
        let _ = scheduler.push_deadline(deadline, Sleeper::Thread(thread.clone()));
    }
    drop(thread);
    switch_locked(scheduler);
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
    /// Called under the signal lock of the object waited on (and maybe its owner's lock): the
    /// reference taken here must not be the thread's last, whose drop could tear its process
    /// down under those locks (the thread may die and be reaped on other CPUs meanwhile). It
    /// is handed to the scheduler, dropped at the next switch, in the same hold of the lock
    /// as the wake-up; only when the room `launch` reserved is taken (wake-ups of one thread
    /// faster than switches) is it dropped here.
    fn wake(&self) {
        let Some(thread) = self.0.upgrade() else {
            return;
        };
        let mut kept = Some(thread);
        let kicks = {
            let mut scheduler = SCHEDULER.lock();
            let kicks = match kept.as_ref() {
                Some(thread) => wake_locked(&mut scheduler, thread),
                None => Kicks(0),
            };
            if scheduler.orphans.len() < scheduler.orphans.capacity() {
                if let Some(thread) = kept.take() {
                    scheduler.orphans.push(thread);
                }
            }
            kicks
        };
        kicks.send();
        drop(kept);
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

/// A deadline `deadline` (monotonic ns) became the calling CPU's earliest (IRQs masked, under
/// the scheduler lock): pulls its comparator in if it is set for later.
fn pull_comparator_in(deadline: i64) {
    // A deadline already passed interrupts at once, counted from now: `klatency` measures
    // how late an interrupt is taken against the comparator, which must not look late for
    // a deadline that was due before it was queued.
    let at = crate::counter_at_nanos(deadline).max(arch::cpu::counter());
    if at < arch::timer::compare() {
        arch::timer::set_compare(at);
    }
}
