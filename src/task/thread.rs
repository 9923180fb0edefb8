//! The thread object: its states, its kernel stack and saved contexts, starting it
//! (`launch`), killing it (`mark_dead`, `die`) and the current thread's ways out
//! (`exit_thread`, `exit_process`).
//!
//! Each thread has a 64 KiB kernel stack (in its own slot of the kernel stack region, with an
//! unmapped guard page below and aligned to 128 KiB, as the vectors' overflow check needs)
//! holding its trap frame while it is in the kernel; a switch (`arch::context`) saves the
//! callee-saved registers on it and moves SP to the next thread's stack. User FP/SIMD state
//! and TPIDR_EL0 are saved and restored on every switch (the kernel itself never uses FP).
//!
//! Locking: `Thread::state` is an IRQ-safe lock (the tick takes it to wake sleepers); it
//! nests inside `SCHEDULER` and `Process::inner` and nothing nests inside it.
//! `Thread::user_registers` is taken only by `schedule`, inside `SCHEDULER`, IRQs masked.
//! `FREE_STACK_SLOTS` is taken alone (IRQs as they are: no IRQ handler takes it). Nothing
//! that may fault or sleep runs under any of them.

use super::process::{check_entry, Process, ProcessInner, ProcessState};
use super::scheduler::{current_process, current_thread, schedule, SCHEDULER};
use crate::memory;
use crate::sync::IrqSafeLock;
use alloc::sync::Arc;
use alloc::vec::Vec;
use arch::context::{SavedContext, UserRegisters};
use arch::exception::TrapFrame;
use arch::mmu;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use mm::pool::PageUse;
use object::object::{KernelObject, ObjectBase};
use object::{Signals, Status, ZxResult};

const KERNEL_STACK_PAGES: usize = mmu::KERNEL_STACK_SIZE / 4096;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThreadState {
    New,
    Runnable,
    Running,
    Blocked,
    Dead,
}

pub struct Thread {
    pub(super) base: ObjectBase,
    pub(super) process: Arc<Process>,
    /// Nests inside `SCHEDULER` (and so inside `Process::inner`); IRQ-safe: the tick takes it.
    pub(super) state: IrqSafeLock<ThreadState>,
    /// `state` is Dead: read without the lock on every return to user mode.
    pub(super) dead: AtomicBool,
    /// The thread has been switched to at least once (its kernel stack is in use). Written
    /// and read under `SCHEDULER`.
    pub(super) ran: AtomicBool,
    /// The kernel context while switched out.
    pub(super) context: SavedContext,
    pub(super) stack: KernelStack,
    /// User FP/SIMD registers and TPIDR_EL0 while switched out. Taken only by `schedule`,
    /// inside `SCHEDULER`, with nothing nested; IRQs masked.
    pub(super) user_registers: spin::Mutex<UserRegisters>,
    /// Set while the thread copies between user memory and frames no lock keeps
    /// ([`copying_frames`]); only the thread itself reads or writes it.
    pub(super) copying_frames: AtomicBool,
    /// The user page (address, bit 0: a write) such a copy faulted on and could not have
    /// served without waiting, or `NO_FAULT`; only the thread itself reads or writes it.
    pub(super) fault_left: AtomicUsize,
}

/// [`Thread::fault_left`]: none.
pub(super) const NO_FAULT: usize = usize::MAX;

impl Thread {
    /// `zx_thread_create`: a thread of `process`, not yet started.
    pub fn create(process: &Arc<Process>, name: &[u8]) -> ZxResult<Arc<Thread>> {
        if process.has_exited() {
            return Err(Status::BAD_STATE);
        }
        let stack = KernelStack::new()?;
        let base = ObjectBase::new(Signals::NONE);
        base.set_name(name);
        let thread = Arc::new(Thread {
            base,
            process: process.clone(),
            state: IrqSafeLock::new(ThreadState::New),
            dead: AtomicBool::new(false),
            ran: AtomicBool::new(false),
            context: SavedContext::new(),
            stack,
            user_registers: spin::Mutex::new(UserRegisters::new()),
            copying_frames: AtomicBool::new(false),
            fault_left: AtomicUsize::new(NO_FAULT),
        });
        Ok(thread)
    }

    pub fn process(&self) -> &Arc<Process> {
        &self.process
    }

    pub fn state(&self) -> ThreadState {
        *self.state.lock()
    }

    pub(super) fn stack_top(&self) -> usize {
        self.stack.top
    }

    /// `zx_thread_start`: runs at EL0 from `entry` with `sp` = `stack`, `x0`/`x1` = args.
    /// INVALID_ARGS for an entry or stack outside the user half; BAD_STATE if the thread was
    /// started before or its process is not running (not yet started, as in Zircon: the first
    /// thread starts with `zx_process_start`, or already ended).
    pub fn start(self: &Arc<Self>, entry: usize, stack: usize, arg1: u64, arg2: u64) -> ZxResult {
        check_entry(entry, stack)?;
        let mut process = self.process.inner.lock();
        if process.state != ProcessState::Running {
            return Err(Status::BAD_STATE);
        }
        self.launch(&mut process, entry, stack, arg1, arg2)
    }

    /// Makes a new thread runnable and one of `process`'s live threads (its `inner`, held by
    /// the caller). The state changes and the thread is queued under `SCHEDULER`, so a
    /// concurrent kill finds it either New (nothing queued; this then fails) or queued.
    pub(super) fn launch(
        self: &Arc<Self>,
        process: &mut ProcessInner,
        entry: usize,
        stack: usize,
        arg1: u64,
        arg2: u64,
    ) -> ZxResult {
        let mut scheduler = SCHEDULER.lock();
        let mut state = self.state.lock();
        if *state != ThreadState::New {
            return Err(Status::BAD_STATE);
        }
        let mut registers = [0u64; 31];
        registers[0] = arg1;
        registers[1] = arg2;
        let frame = TrapFrame {
            x: registers,
            sp_el0: stack as u64,
            elr: entry as u64,
            spsr: 0, // EL0t, interrupts unmasked
            ..TrapFrame::default()
        };
        // SAFETY: the thread is New (checked above, under its lock), so its kernel stack,
        // mapped with it, has never been switched to and nothing uses it.
        unsafe { self.context.prepare(self.stack_top(), frame) };
        *state = ThreadState::Runnable;
        drop(state);
        scheduler.run_queue.push_back(self.clone());
        drop(scheduler);
        process.threads.push(self.clone());
        Ok(())
    }

    /// `zx_task_kill` on a thread.
    pub fn kill(self: &Arc<Self>) {
        self.die();
    }

    /// Marks the thread dead and takes it off its process's live threads; the process ends
    /// (code 0) when that was its last one. Idempotent.
    pub(super) fn die(self: &Arc<Self>) {
        if !self.mark_dead() {
            return;
        }
        let (this, last) = {
            let mut inner = self.process.inner.lock();
            match inner.threads.iter().position(|t| Arc::ptr_eq(t, self)) {
                Some(index) => {
                    let this = inner.threads.swap_remove(index);
                    let last = inner.threads.is_empty() && inner.state == ProcessState::Running;
                    (Some(this), last)
                }
                // Never started, or its process already ended.
                None => (None, false),
            }
        };
        drop(this);
        if last {
            self.process.terminate(0);
        }
    }

    /// Marks the thread dead; false if it already was. One that is blocked or preempted still
    /// runs once more, in the kernel, to unwind its stack (releasing what its frames hold)
    /// and leave through the scheduler; it never returns to user mode. One that was started
    /// but never ran is taken off the run queue: its stack holds nothing yet.
    pub(super) fn mark_dead(self: &Arc<Self>) -> bool {
        let mut scheduler = SCHEDULER.lock();
        let mut state = self.state.lock();
        if *state == ThreadState::Dead {
            return false;
        }
        let was = *state;
        *state = ThreadState::Dead;
        self.dead.store(true, Ordering::Relaxed);
        drop(state);
        scheduler.sleepers.retain(|(_, t)| !Arc::ptr_eq(t, self));
        // Taken out of the queue under the lock, dropped after it.
        let mut unqueued = None;
        match was {
            // The current thread: it leaves at its next trip through the scheduler, which
            // does not queue a Dead thread again.
            ThreadState::Blocked => scheduler.run_queue.push_back(self.clone()),
            ThreadState::Runnable if !self.ran.load(Ordering::Relaxed) => {
                if let Some(index) = scheduler
                    .run_queue
                    .iter()
                    .position(|t| Arc::ptr_eq(t, self))
                {
                    unqueued = scheduler.run_queue.remove(index);
                }
            }
            // Other runnable ones are queued and unwind when they run; new ones never ran.
            _ => {}
        }
        drop(scheduler);
        drop(unqueued);
        self.base
            .signals()
            .update(Signals::NONE, Signals::THREAD_TERMINATED);
        true
    }
}

impl KernelObject for Thread {
    fn base(&self) -> &ObjectBase {
        &self.base
    }

    fn object_type(&self) -> u32 {
        abi::ZX_OBJ_TYPE_THREAD
    }

    fn related_koid(&self) -> u64 {
        self.process.base.koid()
    }

    fn has_name(&self) -> bool {
        true
    }
}

/// A thread's kernel stack: pool pages mapped in a slot of the stack region, with the
/// unmapped page below as its guard.
pub(super) struct KernelStack {
    slot: usize,
    pa: u64,
    top: usize,
}

/// Slots of the kernel stack region given back (reused first), and how many were ever handed
/// out. Taken alone, briefly, never around another lock; no IRQ handler takes it, so it does
/// not mask IRQs itself (they are masked today, as all kernel code runs).
static FREE_STACK_SLOTS: spin::Mutex<(Vec<usize>, usize)> = spin::Mutex::new((Vec::new(), 0));

impl KernelStack {
    fn new() -> ZxResult<KernelStack> {
        // Mapping may need a few page-table pages on top of the stack itself.
        if !memory::can_spend(KERNEL_STACK_PAGES + 4) {
            return Err(Status::NO_MEMORY);
        }
        let slot = {
            let mut slots = FREE_STACK_SLOTS.lock();
            match slots.0.pop() {
                Some(slot) => slot,
                None if slots.1 < mmu::KERNEL_STACK_SLOTS => {
                    slots.1 += 1;
                    slots.1 - 1
                }
                None => return Err(Status::NO_RESOURCES),
            }
        };
        let pa =
            match memory::with_pool(|pool| pool.alloc_pages(KERNEL_STACK_PAGES, PageUse::Kernel)) {
                Ok(pa) => pa,
                Err(_) => {
                    FREE_STACK_SLOTS.lock().0.push(slot);
                    return Err(Status::NO_MEMORY);
                }
            };
        match mmu::map_kernel_stack(slot, pa) {
            Ok(top) => Ok(KernelStack { slot, pa, top }),
            Err(_) => {
                let _ = memory::with_pool(|pool| {
                    pool.free_pages(pa, KERNEL_STACK_PAGES, PageUse::Kernel)
                });
                FREE_STACK_SLOTS.lock().0.push(slot);
                Err(Status::NO_MEMORY)
            }
        }
    }
}

impl Drop for KernelStack {
    fn drop(&mut self) {
        mmu::unmap_kernel_stack(self.slot);
        let _ =
            memory::with_pool(|pool| pool.free_pages(self.pa, KERNEL_STACK_PAGES, PageUse::Kernel));
        FREE_STACK_SLOTS.lock().0.push(self.slot);
    }
}

// ---- the current thread's ways out -------------------------------------------------------

/// Marks the current thread dead and switches away for good. Nothing may be alive on the
/// callers' frames that needs dropping: they are abandoned.
fn leave_current() -> ! {
    if let Some(thread) = current_thread() {
        thread.die();
    }
    schedule();
    unreachable!("a dead thread was scheduled again");
}

/// `zx_thread_exit`.
pub fn exit_thread() -> ! {
    leave_current()
}

/// `zx_process_exit`.
pub fn exit_process(code: i64) -> ! {
    if let Some(process) = current_process() {
        process.terminate(code);
    }
    leave_current()
}

/// Ends the current process with `code` from inside one of its system calls, which then
/// unwinds normally (dropping what it holds) and does not return to user mode.
pub fn end_current_process(code: i64) {
    if let Some(process) = current_process() {
        process.terminate(code);
    }
}

/// Ends the current process after a fault it cannot recover from.
pub fn kill_current_process(code: i64) -> ! {
    exit_process(code)
}
