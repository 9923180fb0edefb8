//! Tasks: the process and thread objects, their states and lifecycle.
//!
//! - `process`: [`Process`] (its handle table, address space and root VMAR, its lifecycle
//!   New -> Running -> Exited, `start`, `terminate`, `kill`, `ZX_INFO_PROCESS`);
//! - `thread`: [`Thread`] (its states, `start`, `kill`, dying, THREAD_TERMINATED, what it is
//!   blocked in for `ZX_INFO_THREAD`);
//! - `job`: [`Job`] (the job tree, its signals, `kill` of a whole subtree, the lists behind
//!   `ZX_INFO_JOB_CHILDREN` / `_PROCESSES` and `zx_object_get_child`).
//!
//! What only the kernel binary can do (kernel stacks and saved contexts, page tables, the
//! run queue, the clock) is behind [`TaskKernel`]; the kernel implements it once (its
//! `task` module names `Process<Kernel>` and `Thread<Kernel>`, so nothing is dispatched
//! dynamically on the switch path) and the host tests with a fake that records what it was
//! asked.
//!
//! Lifetimes: a process holds its started threads that have not died (its `threads`) and
//! each thread holds its process, a cycle that lasts only while the thread runs: a thread
//! leaves the list when it dies, and the process ends (its handle table emptied, which breaks
//! any cycle through handles) when its last started thread dies. A thread that was never
//! started is not in the list: it is freed with its last handle, and it neither keeps its
//! process running nor is killed with it (as in Zircon).
//!
//! # Locking
//! `Job::inner` is taken alone (with only its signal state inside): see `job`.
//! Lock order: `Process::inner` -> the kernel's scheduler lock (taken inside
//! [`TaskKernel::launch`] and [`TaskKernel::mark_dead`]) -> `Thread::state`. `Process::inner`
//! is a spin lock that masks no IRQs (no IRQ handler takes it; the kernel holds it with IRQs
//! masked, as all its code runs). `Thread::state` is the kernel's lock type
//! ([`TaskKernel::StateLock`]): the kernel's masks IRQs, as its tick takes it. The handle
//! table and an object's signal state are never held while taking these, and nothing runs
//! under them that may fault, sleep or run an object's teardown (dropping a handle): handles
//! are added before `inner` is taken and removed after, threads taken off the list are
//! dropped after it.

use alloc::sync::Arc;

use crate::vmar::AddressSpace;
use crate::ZxResult;

mod job;
mod process;
mod thread;

pub use job::{Job, ROOT_JOB_MAX_HEIGHT};
pub use process::{Process, MAX_HANDLES, ROOT_BASE, ROOT_END};
pub use thread::{Blocked, BlockedGuard, StateLock, Thread, ThreadState};

/// First address above the user half the kernel gives EL0 (TTBR0 covers 48 bits): user
/// pointers, entry points and stacks lie below it.
pub const USER_END: usize = 1 << 48;

/// Where a new thread starts in user mode: `entry` with `sp` = `stack`, `x0` = `arg1`,
/// `x1` = `arg2`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UserStart {
    pub entry: usize,
    pub stack: usize,
    pub arg1: u64,
    pub arg2: u64,
}

/// A new thread's entry point must lie in the user half (0 included: it faults at once, as
/// any unmapped user address does; Zircon accepts it too) and its stack pointer at most at
/// the top of it. Anything else would only fault after the start succeeded.
fn check_entry(entry: usize, stack: usize) -> ZxResult {
    if entry >= USER_END || stack > USER_END {
        return Err(crate::Status::INVALID_ARGS);
    }
    Ok(())
}

/// What [`TaskKernel::mark_dead`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Killed {
    /// The thread already was dead.
    Already,
    /// It runs no user code any more (it may still unwind in the kernel).
    Stopped,
    /// It runs on another CPU, maybe in user mode, until that CPU takes the interrupt the
    /// kernel sent it: the kernel calls [`Thread::left`] once it is off that CPU for good.
    Leaving,
}

/// What the task objects need from the kernel binary. Every function is called with no lock
/// of this module held unless it says otherwise.
pub trait TaskKernel: Sized + Send + Sync + 'static {
    /// The kernel's own part of a thread (kernel stack, saved contexts, what the scheduler
    /// keeps per thread), reached through [`Thread::kernel`].
    type ThreadPart: Send + Sync;
    /// A process's user address space (page tables).
    type Space: AddressSpace + 'static;
    /// The lock over a thread's [`ThreadState`]; the scheduler takes it in its own order.
    type StateLock: StateLock;

    /// A new thread's kernel part (its kernel stack: NO_MEMORY or NO_RESOURCES when none).
    fn new_thread_part() -> ZxResult<Self::ThreadPart>;

    /// A new, empty address space.
    fn new_address_space() -> ZxResult<Arc<Self::Space>>;

    /// Frees `process`'s page tables once its root VMAR is torn down, first moving this CPU
    /// off them if it runs on them.
    fn release_address_space(process: &Process<Self>);

    /// Starts a new thread: under the scheduler lock, [`Thread::set_runnable_locked`] (which
    /// fails with BAD_STATE unless the thread is New), then prepares its context for `start`
    /// and queues it. Called with its process's `inner` held.
    fn launch(thread: &Arc<Thread<Self>>, start: UserStart) -> ZxResult;

    /// Kills a thread: under the scheduler lock, [`Thread::set_dead_locked`], then takes it
    /// off whatever queue it waits in (a blocked one runs once more, to unwind its kernel
    /// stack). May be called with its process's `inner` held.
    fn mark_dead(thread: &Arc<Thread<Self>>) -> Killed;

    /// Monotonic time in nanoseconds.
    fn now_ns() -> i64;

    /// Something different on every call and every boot, mixed into a process's handle
    /// values.
    fn handle_seed() -> u64;

    /// A process was made (the kernel lists them for its checks); an error fails the
    /// creation.
    fn process_created(process: &Arc<Process<Self>>) -> ZxResult {
        let _ = process;
        Ok(())
    }

    /// A process is being freed.
    fn process_dropped(process: &Process<Self>) {
        let _ = process;
    }

    /// The root job was killed and everything below it is gone (the kernel powers off).
    fn root_job_terminated() {}
}
