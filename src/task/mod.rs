//! Processes, threads and the scheduler, on the kernel's side: the process and thread
//! objects themselves (states, lifecycle, start, kill, terminate) are `object::task`'s,
//! host-tested; this module gives them what only the kernel binary can ([`Kernel`], its
//! `object::task::TaskKernel`) and names them [`Process`] and [`Thread`].
//!
//! - `kernel`: [`Kernel`], routing the objects' requests to the modules below;
//! - `process`: address spaces of processes, and the list of live processes for `kcheck`;
//! - `thread`: a thread's kernel part (kernel stack, saved contexts), and the current
//!   thread's ways out;
//! - `scheduler`: the run queue, switching, the idle loop, the tick, blocking and waking,
//!   launching and killing threads, preemption and wait points, and what the current thread
//!   is doing (`copying_frames` and the faults it leaves for later).
//!
//! Each CPU's own state (the running thread, the idle context, need-resched) is in
//! `crate::percpu`, reached through TPIDR_EL1; the scheduler gives its opaque `current`
//! pointer its type.
//!
//! Threads run on every online CPU, each CPU round robin over its own run queue (placement
//! and stealing: `scheduler`). The kernel runs with IRQs masked (they are taken at EL0, in
//! the idle loop and at preemption points). Threads are switched preemptively on their CPU's
//! tick when they run at EL0; a thread in the kernel gives the CPU up by blocking, by
//! exiting, or at a preemption point ([`preempt_point`]): long operations work in bounded
//! chunks and pass one between chunks, holding no lock, so no call keeps the CPU for more
//! than a chunk.
//!
//! Lifetimes: see `object::task` (a process holds its started, live threads; each thread
//! its process; the cycle ends when the last of them dies).
//!
//! Lock order across the modules: `Process::inner` -> `SCHEDULER` -> `Thread::state` (or
//! `KernelThread::user_registers`, never both at once). `SCHEDULER` and `Thread::state` are
//! [`crate::sync::IrqSafeLock`]s (the tick takes them); the others are taken with IRQs
//! already masked. The handle table and the signal state of an object are never held while
//! taking these. Nothing is dropped that could run arbitrary teardown while one of them is
//! held, and nothing that may fault or sleep runs under them.

mod kernel;
mod process;
mod scheduler;
mod thread;

pub use crate::percpu::{cpu_index, current_token, init_boot_cpu};
pub use kernel::Kernel;
pub use object::task::ROOT_BASE;
pub use process::{all_processes, keep_process_list, root_job};
pub use scheduler::{
    blocked_in, copy_holds_frames, copying_frames, current_is_dead, current_process,
    current_thread, expire_deadlines, fire_timers, idle_loop, idle_waiting, leave_fault_for_later,
    leave_if_dead, preempt_point, report_current_call, run_secondary, schedule, should_preempt,
    sleep_until, take_fault_left, take_left_work, tick, with_current_process, KernelBlocker,
    KERNEL_TIMERS,
};
pub use thread::{
    end_current_process, exit_process, exit_thread, kill_current_process, new_cpu_stack,
};

/// The process object, with the kernel's part.
pub type Process = object::task::Process<Kernel>;
/// The thread object, with the kernel's part.
pub type Thread = object::task::Thread<Kernel>;
/// The job object.
pub type Job = object::task::Job<Kernel>;

/// Monotonic time in nanoseconds since boot.
pub fn now_ns() -> i64 {
    i64::try_from(crate::uptime_nanos()).unwrap_or(i64::MAX)
}
