//! A thread's CPU context as the scheduler switches it: the callee-saved registers, kept on
//! its kernel stack while it is switched out (`arch_switch_context` in `asm/user.S`), and
//! the user registers its trap frame does not hold, FP/SIMD and TPIDR_EL0. The kernel is
//! built without FP and never touches TPIDR_EL0, so the live ones belong to the thread that
//! last ran on this CPU until a switch saves them.

use crate::exception::TrapFrame;
use core::mem::size_of;
use core::sync::atomic::{AtomicUsize, Ordering};

extern "C" {
    fn arch_switch_context(save_sp: *mut usize, next_sp: usize);
    fn arch_thread_first_entry();
    fn arch_fp_save(state: *mut FpState);
    fn arch_fp_restore(state: *const FpState);
}

/// User FP/SIMD registers: q0-q31, FPCR, FPSR, as `arch_fp_save` lays them out (528 bytes,
/// 16-byte aligned).
#[repr(C, align(16))]
struct FpState {
    q: [u128; 32],
    fpcr: u64,
    fpsr: u64,
}

const _: () = assert!(size_of::<FpState>() == 528);

/// A thread's user registers besides its trap frame, kept while it is switched out.
pub struct UserRegisters {
    fp: FpState,
    tpidr_el0: u64,
}

impl UserRegisters {
    /// A new thread's: all zero.
    pub const fn new() -> Self {
        UserRegisters {
            fp: FpState {
                q: [0; 32],
                fpcr: 0,
                fpsr: 0,
            },
            tpidr_el0: 0,
        }
    }

    /// Saves this CPU's live user FP/SIMD registers and TPIDR_EL0 into `self`.
    #[inline]
    pub fn save(&mut self) {
        // SAFETY: `arch_fp_save` only reads registers and writes the 528 bytes of an
        // `FpState` (its layout, checked above) at a 16-byte-aligned address, here one we
        // borrow exclusively.
        unsafe { arch_fp_save(&mut self.fp) };
        let tpidr_el0;
        // SAFETY: reading the user thread pointer register has no side effects.
        unsafe {
            core::arch::asm!("mrs {}, tpidr_el0", out(reg) tpidr_el0, options(nomem, nostack))
        };
        self.tpidr_el0 = tpidr_el0;
    }

    /// Loads `self` into this CPU's user FP/SIMD registers and TPIDR_EL0, for the thread
    /// about to run.
    #[inline]
    pub fn restore(&self) {
        // SAFETY: `arch_fp_restore` only reads the 528 bytes of an `FpState` and writes the
        // FP/SIMD registers, FPCR and FPSR, which the kernel (built without FP) never uses.
        unsafe { arch_fp_restore(&self.fp) };
        // SAFETY: the user thread pointer register only affects EL0, which gets it back as
        // the thread left it.
        unsafe {
            core::arch::asm!("msr tpidr_el0, {}", in(reg) self.tpidr_el0, options(nomem, nostack))
        };
    }
}

impl Default for UserRegisters {
    fn default() -> Self {
        Self::new()
    }
}

/// x19-x30: what `arch_switch_context` saves below a switched-out context's SP.
const SWITCH_FRAME_SIZE: usize = 96;
/// The switch frame's slot of x30, where `arch_switch_context` returns to.
const SWITCH_FRAME_X30: usize = 11;
/// The switch frame's slot of x19: a new thread's first entry calls the function there.
const SWITCH_FRAME_X19: usize = 0;

/// Where the vectors save the trap frame of every entry from EL0 into a thread: the top of
/// its kernel stack, which ends at `stack_top`.
pub const fn user_frame_address(stack_top: usize) -> usize {
    stack_top - size_of::<TrapFrame>()
}

/// Where a switched-out kernel context (a thread, or the idle loop on the boot stack) keeps
/// its stack pointer; its callee-saved registers lie on that stack.
#[derive(Debug, Default)]
pub struct SavedContext {
    sp: AtomicUsize,
}

/// The stack pointer of a switched-out context, read from its [`SavedContext`]: what
/// [`switch`] resumes.
#[derive(Clone, Copy, Debug)]
pub struct SavedSp(usize);

impl SavedContext {
    pub const fn new() -> Self {
        SavedContext {
            sp: AtomicUsize::new(0),
        }
    }

    /// Prepares a new thread's first switch: `frame` at the top of its kernel stack, and
    /// below it a switch frame whose return address calls `first_entry` (what the switch's
    /// caller finishes after every switch: the scheduler releases its lock there), then
    /// enters the exception return, which resumes `frame` (at EL0 for a user thread).
    ///
    /// # Safety
    /// `stack_top` is the 16-byte-aligned end of a mapped kernel stack that nothing uses,
    /// with room for both frames (384 bytes) below it, and no context runs from `self`.
    pub unsafe fn prepare(&self, stack_top: usize, frame: TrapFrame, first_entry: extern "C" fn()) {
        let frame_addr = user_frame_address(stack_top);
        let switch_addr = frame_addr - SWITCH_FRAME_SIZE;
        // SAFETY: both frames lie in the caller's unused stack, below `stack_top`.
        unsafe {
            (frame_addr as *mut TrapFrame).write(frame);
            let switch_frame = switch_addr as *mut u64;
            for i in 0..SWITCH_FRAME_SIZE / 8 {
                switch_frame.add(i).write(0);
            }
            switch_frame
                .add(SWITCH_FRAME_X19)
                .write(first_entry as usize as u64);
            switch_frame
                .add(SWITCH_FRAME_X30)
                .write(arch_thread_first_entry as unsafe extern "C" fn() as usize as u64);
        }
        self.sp.store(switch_addr, Ordering::Relaxed);
    }

    /// The context saved here, to resume with [`switch`].
    pub fn saved_sp(&self) -> SavedSp {
        SavedSp(self.sp.load(Ordering::Relaxed))
    }
}

/// Switches this CPU from the running kernel context to `next`: saves the callee-saved
/// registers on the current stack and its SP in `*save`, and resumes `next`. Returns when
/// some CPU switches back to what `*save` then holds.
///
/// # Safety
/// IRQs are masked. `save` stays valid until the context saved in it is resumed. `next` was
/// saved (by [`SavedContext::prepare`] or by a switch) and not resumed since, and its stack
/// is still mapped.
#[inline]
pub unsafe fn switch(save: *const SavedContext, next: SavedSp) {
    // SAFETY: the caller vouches for both contexts; `arch_switch_context` stores one word
    // into the slot (aligned, so single-copy atomic like the atomic's own stores).
    unsafe { arch_switch_context((*save).sp.as_ptr(), next.0) };
}
