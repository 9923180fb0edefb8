//! The kernel's implementation of `object::task::TaskKernel`: what the process and thread
//! objects ask of the kernel binary (kernel stacks, page tables, the run queue, the clock).
//! It only routes each call to the module that owns the state; the locking rules are theirs.

use super::scheduler;
use super::thread::KernelThread;
use super::{now_ns, process, Process, Thread};
use crate::aspace::UserAddressSpace;
use crate::sync::IrqSafeLock;
use alloc::sync::Arc;
use object::task::{Killed, StateLock, TaskKernel, ThreadState, UserStart};
use object::ZxResult;

/// The kernel, as the task objects see it.
pub struct Kernel;

impl TaskKernel for Kernel {
    type ThreadPart = KernelThread;
    type Space = UserAddressSpace;
    type StateLock = IrqSafeLock<ThreadState>;

    fn new_thread_part() -> ZxResult<KernelThread> {
        KernelThread::new()
    }

    fn new_address_space() -> ZxResult<Arc<UserAddressSpace>> {
        process::new_address_space()
    }

    fn release_address_space(process: &Process) {
        process::release_address_space(process)
    }

    #[inline]
    fn launch(thread: &Arc<Thread>, start: UserStart) -> ZxResult {
        scheduler::launch(thread, start)
    }

    #[inline]
    fn mark_dead(thread: &Arc<Thread>) -> Killed {
        scheduler::mark_dead(thread)
    }

    fn now_ns() -> i64 {
        now_ns()
    }

    fn handle_seed() -> u64 {
        arch::cpu::counter()
    }

    fn process_created(process: &Arc<Process>) -> ZxResult {
        process::process_created(process)
    }

    fn process_dropped(process: &Process) {
        process::process_dropped(process)
    }

    fn root_job_terminated() {
        process::root_job_terminated()
    }
}

/// A thread's state lock masks IRQs: the tick takes it.
impl StateLock for IrqSafeLock<ThreadState> {
    fn new(state: ThreadState) -> Self {
        IrqSafeLock::new(state)
    }

    #[inline]
    fn with<R>(&self, f: impl FnOnce(&mut ThreadState) -> R) -> R {
        f(&mut self.lock())
    }
}
