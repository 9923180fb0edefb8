//! The kernel's part of a thread (the object itself is `object::task::Thread`): its kernel
//! stack and saved contexts ([`KernelThread`]), and the current thread's ways out
//! (`exit_thread`, `exit_process`).
//!
//! Each thread has a 64 KiB kernel stack (in its own slot of the kernel stack region, with an
//! unmapped guard page below and aligned to 128 KiB, as the vectors' overflow check needs)
//! holding its trap frame while it is in the kernel; a switch (`arch::context`) saves the
//! callee-saved registers on it and moves SP to the next thread's stack. User FP/SIMD state
//! and TPIDR_EL0 are saved and restored on every switch (the kernel itself never uses FP).
//!
//! Locking: `KernelThread::user_registers` is taken only by `schedule`, inside `SCHEDULER`,
//! IRQs masked, with nothing nested (the thread's state lock is not held with it).
//! `SPARE_STACK` and `FREE_STACK_SLOTS` are taken alone (IRQs as they are: no IRQ handler takes it). Nothing
//! that may fault or sleep runs under any of them.

use super::scheduler::{current_process, current_thread, schedule};
use crate::memory;
use alloc::vec::Vec;
use arch::context::{SavedContext, UserRegisters};
use arch::mmu;
use core::sync::atomic::{AtomicBool, AtomicUsize};
use mm::pool::PageUse;
use object::{Status, ZxResult};

const KERNEL_STACK_PAGES: usize = mmu::KERNEL_STACK_SIZE / 4096;

/// What the kernel keeps for each thread ([`object::task::Thread::kernel`]).
pub struct KernelThread {
    /// The thread has been switched to at least once (its kernel stack is in use). Written
    /// and read under `SCHEDULER`.
    pub(super) ran: AtomicBool,
    /// The CPU whose run queue holds the thread, or that runs it or ran it last (a
    /// `percpu` index). Written and read under `SCHEDULER`.
    pub(super) cpu: AtomicUsize,
    /// The kernel context while switched out.
    pub(super) context: SavedContext,
    pub(super) stack: KernelStack,
    /// User FP/SIMD registers and TPIDR_EL0 while switched out. Taken only by `schedule`,
    /// inside `SCHEDULER`, with nothing nested; IRQs masked.
    pub(super) user_registers: spin::Mutex<UserRegisters>,
    /// Set while the thread copies between user memory and frames no lock keeps
    /// ([`super::copying_frames`]); only the thread itself reads or writes it.
    pub(super) copying_frames: AtomicBool,
    /// The user page (address, bit 0: a write) such a copy faulted on and could not have
    /// served without waiting, or `NO_FAULT`; only the thread itself reads or writes it.
    pub(super) fault_left: AtomicUsize,
    /// The thread's system call left work for later (`object::preempt::mark_deferred`): it
    /// does that work on its way out ([`super::take_left_work`]). Only the thread itself
    /// reads or writes it.
    pub(super) left_work: AtomicBool,
    /// Where the thread sits in a CPU's deadline queue while it sleeps with a deadline
    /// (`object::deadline`): written only by that queue, under `SCHEDULER`.
    pub(super) sleep_slot: AtomicUsize,
}

/// [`KernelThread::fault_left`]: none.
pub(super) const NO_FAULT: usize = usize::MAX;

impl KernelThread {
    /// A new thread's part, with its kernel stack.
    pub(super) fn new() -> ZxResult<KernelThread> {
        Ok(KernelThread {
            ran: AtomicBool::new(false),
            cpu: AtomicUsize::new(0),
            context: SavedContext::new(),
            stack: KernelStack::new()?,
            user_registers: spin::Mutex::new(UserRegisters::new()),
            copying_frames: AtomicBool::new(false),
            fault_left: AtomicUsize::new(NO_FAULT),
            // Set for good while the invariant checks run on every way out.
            left_work: AtomicBool::new(object::preempt::keeps_deferred()),
            sleep_slot: AtomicUsize::new(object::deadline::NOT_QUEUED),
        })
    }

    /// The top of the thread's kernel stack.
    pub(super) fn stack_top(&self) -> usize {
        self.stack.top
    }
}

/// A kernel stack for a secondary CPU's own context (where it enters the kernel, later its
/// idle loop), kept for as long as the kernel runs; returns its top.
pub fn new_cpu_stack() -> ZxResult<usize> {
    let stack = KernelStack::new()?;
    let top = stack.top;
    // A CPU never goes offline: its stack is never given back.
    core::mem::forget(stack);
    Ok(top)
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

/// One kernel stack of a freed thread, kept mapped for the next thread (slot, physical base,
/// top): mapping and unmapping a stack is most of what creating and ending a thread costs.
/// One at most (16 pages stay allocated for it), enough for a program that starts and joins
/// threads one after another. Taken alone, briefly, never around another lock; IRQs as they
/// are (no IRQ handler takes it).
static SPARE_STACK: spin::Mutex<Option<(usize, u64, usize)>> = spin::Mutex::new(None);

impl KernelStack {
    fn new() -> ZxResult<KernelStack> {
        if let Some((slot, pa, top)) = SPARE_STACK.lock().take() {
            return Ok(KernelStack { slot, pa, top });
        }
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
        // Nothing runs on a dropped thread's stack any more (the thread was switched out for
        // good), so the next thread may have it as it is.
        {
            let mut spare = SPARE_STACK.lock();
            if spare.is_none() {
                *spare = Some((self.slot, self.pa, self.top));
                return;
            }
        }
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
