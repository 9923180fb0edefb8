//! The thread object: its states, starting it (`start`, `launch`), killing it (`kill`,
//! `mark_dead`) and dying (`die`: the last live thread of a process ends it, code 0).
//!
//! States: New -> Runnable (launched) -> Running <-> Runnable / Blocked; any -> Dead, which
//! is final. Launching and killing are decided here ([`Thread::set_runnable_locked`],
//! [`Thread::set_dead_locked`]), called by the kernel under its scheduler lock; the moves
//! between Runnable, Running and Blocked are the scheduler's.
//!
//! Locking: `Thread::state` ([`TaskKernel::StateLock`]; the kernel's masks IRQs, as its tick
//! takes it) nests inside the scheduler lock and `Process::inner`, and nothing nests inside
//! it. Nothing that may fault or sleep runs under it.

use alloc::sync::Arc;
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use super::process::{ProcessInner, ProcessState};
use super::{check_entry, Killed, Process, TaskKernel, UserStart};
use crate::futex::FutexWaiter;
use crate::koid::Koid;
use crate::object::{KernelObject, ObjectBase};
use crate::{Signals, Status, ZxResult};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThreadState {
    New,
    Runnable,
    Running,
    Blocked,
    Dead,
}

/// What a thread is blocked in, as `ZX_INFO_THREAD` reports it (`ZX_THREAD_STATE_BLOCKED_*`).
/// A blocking system call marks its thread for as long as it may sleep
/// ([`Thread::blocked_in`]); whether the scheduler has it off the CPU at that moment does
/// not matter (as in Zircon, the state describes the call).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Blocked {
    Exception = abi::ZX_THREAD_STATE_BLOCKED_EXCEPTION,
    Sleeping = abi::ZX_THREAD_STATE_BLOCKED_SLEEPING,
    Futex = abi::ZX_THREAD_STATE_BLOCKED_FUTEX,
    Port = abi::ZX_THREAD_STATE_BLOCKED_PORT,
    Channel = abi::ZX_THREAD_STATE_BLOCKED_CHANNEL,
    WaitOne = abi::ZX_THREAD_STATE_BLOCKED_WAIT_ONE,
    WaitMany = abi::ZX_THREAD_STATE_BLOCKED_WAIT_MANY,
    Interrupt = abi::ZX_THREAD_STATE_BLOCKED_INTERRUPT,
    Pager = abi::ZX_THREAD_STATE_BLOCKED_PAGER,
}

/// Marks a thread blocked while it lives ([`Thread::blocked_in`]).
pub struct BlockedGuard<'a, K: TaskKernel> {
    thread: &'a Thread<K>,
}

impl<K: TaskKernel> Drop for BlockedGuard<'_, K> {
    fn drop(&mut self) {
        self.thread.blocked.store(NOT_BLOCKED, Ordering::Release);
    }
}

/// [`Thread::blocked`]: in no blocking call.
const NOT_BLOCKED: u32 = 0;

/// The lock over a thread's state. The kernel's masks IRQs (its tick takes it); the
/// scheduler, which knows the concrete type, takes it directly, in its own lock order.
pub trait StateLock: Send + Sync {
    fn new(state: ThreadState) -> Self;
    /// Runs `f` with the lock held.
    fn with<R>(&self, f: impl FnOnce(&mut ThreadState) -> R) -> R;
}

pub struct Thread<K: TaskKernel> {
    base: ObjectBase,
    process: Arc<Process<K>>,
    /// Nests inside the scheduler lock (and so inside `Process::inner`).
    state: K::StateLock,
    /// `state` is Dead: read without the lock on every return to user mode.
    dead: AtomicBool,
    /// The [`Blocked`] value of the blocking call the thread is in, or `NOT_BLOCKED`. Written
    /// only by the thread itself ([`Thread::blocked_in`]), read by `ZX_INFO_THREAD`.
    blocked: AtomicU32,
    /// What only the kernel keeps: kernel stack, saved contexts.
    kernel: K::ThreadPart,
    /// Its futex waiter, made at its first futex wait and reused by the next ones.
    futex_waiter: spin::Once<Arc<FutexWaiter>>,
}

impl<K: TaskKernel> Thread<K> {
    /// `zx_thread_create`: a thread of `process`, not yet started. BAD_STATE if the process
    /// has ended.
    pub fn create(process: &Arc<Process<K>>, name: &[u8]) -> ZxResult<Arc<Self>> {
        if process.has_exited() {
            return Err(Status::BAD_STATE);
        }
        let kernel = K::new_thread_part()?;
        let base = ObjectBase::new(Signals::NONE);
        base.set_name(name);
        Ok(Arc::new(Thread {
            base,
            process: process.clone(),
            state: K::StateLock::new(ThreadState::New),
            dead: AtomicBool::new(false),
            blocked: AtomicU32::new(NOT_BLOCKED),
            kernel,
            futex_waiter: spin::Once::new(),
        }))
    }

    pub fn koid(&self) -> Koid {
        self.base.koid()
    }

    pub fn process(&self) -> &Arc<Process<K>> {
        &self.process
    }

    /// The kernel's part.
    #[inline(always)]
    pub fn kernel(&self) -> &K::ThreadPart {
        &self.kernel
    }

    /// The thread's futex waiter (`make` builds it the first time). Only the thread itself
    /// uses it, in one futex wait at a time.
    pub fn futex_waiter(&self, make: impl FnOnce() -> Arc<FutexWaiter>) -> &Arc<FutexWaiter> {
        self.futex_waiter.call_once(make)
    }

    /// The lock over the state, for the scheduler (see the module doc for its order).
    #[inline(always)]
    pub fn state_lock(&self) -> &K::StateLock {
        &self.state
    }

    pub fn state(&self) -> ThreadState {
        self.state.with(|state| *state)
    }

    /// Marks the thread as blocked in `why` until the guard is dropped: a blocking call takes
    /// it around the part that may sleep, on its own thread. Calls do not nest.
    pub fn blocked_in(&self, why: Blocked) -> BlockedGuard<'_, K> {
        self.blocked.store(why as u32, Ordering::Release);
        BlockedGuard { thread: self }
    }

    /// `ZX_INFO_THREAD`: NEW until started; BLOCKED_* while in a blocking call; RUNNING
    /// otherwise; once killed DYING until it has left its CPU (THREAD_TERMINATED), then DEAD.
    pub fn info(&self) -> abi::zx_info_thread_t {
        let state = match self.state() {
            ThreadState::New => abi::ZX_THREAD_STATE_NEW,
            ThreadState::Dead => {
                let left = self
                    .base
                    .signals()
                    .get()
                    .contains(Signals::THREAD_TERMINATED);
                if left {
                    abi::ZX_THREAD_STATE_DEAD
                } else {
                    abi::ZX_THREAD_STATE_DYING
                }
            }
            ThreadState::Runnable | ThreadState::Running | ThreadState::Blocked => {
                match self.blocked.load(Ordering::Acquire) {
                    NOT_BLOCKED => abi::ZX_THREAD_STATE_RUNNING,
                    why => why,
                }
            }
        };
        abi::zx_info_thread_t {
            state,
            ..Default::default()
        }
    }

    /// Whether the thread was killed (or died): it must not return to user mode.
    #[inline(always)]
    pub fn is_dead(&self) -> bool {
        self.dead.load(Ordering::Relaxed)
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
        let start = UserStart {
            entry,
            stack,
            arg1,
            arg2,
        };
        self.launch(&mut process, start)
    }

    /// Makes a new thread runnable and one of its process's live threads (`process`, its
    /// `inner`, held by the caller). The kernel changes the state and queues the thread
    /// under its scheduler lock, so a concurrent kill finds it either New (nothing queued;
    /// this then fails) or queued.
    pub(super) fn launch(
        self: &Arc<Self>,
        process: &mut ProcessInner<K>,
        start: UserStart,
    ) -> ZxResult {
        K::launch(self, start)?;
        process.threads.push(self.clone());
        Ok(())
    }

    /// New -> Runnable, for [`TaskKernel::launch`] under its scheduler lock; BAD_STATE from
    /// any other state (started before, or killed).
    pub fn set_runnable_locked(&self) -> ZxResult {
        self.state.with(|state| {
            if *state != ThreadState::New {
                return Err(Status::BAD_STATE);
            }
            *state = ThreadState::Runnable;
            Ok(())
        })
    }

    /// Any state -> Dead, for [`TaskKernel::mark_dead`] under its scheduler lock: the state
    /// it was in, or None if it already was Dead.
    pub fn set_dead_locked(&self) -> Option<ThreadState> {
        self.state.with(|state| {
            if *state == ThreadState::Dead {
                return None;
            }
            let was = *state;
            *state = ThreadState::Dead;
            self.dead.store(true, Ordering::Relaxed);
            Some(was)
        })
    }

    /// `zx_task_kill` on a thread.
    pub fn kill(self: &Arc<Self>) {
        self.die();
    }

    /// Marks the thread dead and takes it off its process's live threads; the process ends
    /// (code 0) when that was its last one. Idempotent.
    pub fn die(self: &Arc<Self>) {
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

    /// Marks the thread dead (through the kernel, which takes it off its queues) and asserts
    /// THREAD_TERMINATED, or has the kernel assert it once the thread is off the CPU it runs
    /// on ([`Thread::left`]); false if it already was dead. One that is blocked or preempted
    /// still runs once more, in the kernel, to unwind its stack and leave through the
    /// scheduler; it never returns to user mode.
    pub(super) fn mark_dead(self: &Arc<Self>) -> bool {
        let killed = K::mark_dead(self);
        if killed != Killed::Already {
            // An exiting owner leaves its futexes unowned (after `dead` is set, so a wait
            // that names it as owner later sees it dead).
            self.process.futexes().owner_exited(self.koid());
        }
        match killed {
            Killed::Already => false,
            Killed::Stopped => {
                self.left();
                true
            }
            Killed::Leaving => true,
        }
    }

    /// The dead thread runs no user code any more: asserts THREAD_TERMINATED (once; later
    /// calls change nothing). The kernel calls it when a thread killed while it ran on
    /// another CPU has left that CPU.
    pub fn left(&self) {
        self.base
            .signals()
            .update(Signals::NONE, Signals::THREAD_TERMINATED);
    }
}

impl<K: TaskKernel> KernelObject for Thread<K> {
    fn base(&self) -> &ObjectBase {
        &self.base
    }

    fn object_type(&self) -> u32 {
        abi::ZX_OBJ_TYPE_THREAD
    }

    fn related_koid(&self) -> Koid {
        self.process.koid()
    }

    fn has_name(&self) -> bool {
        true
    }
}
