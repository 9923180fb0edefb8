//! Waiting for signals with a deadline (`zx_object_wait_one`, `zx_object_wait_many`).
//!
//! The object layer does not know about threads. A wait registers a [`Waiter`] as an
//! observer of the object's [`SignalState`](crate::signal::SignalState); the caller's
//! [`Blocker`] puts the current thread to sleep until the waiter is completed or the deadline
//! passes. The kernel implements `Blocker` with its scheduler and timer, the host tests with a
//! `std` condition variable.
//!
//! Protocol, which makes lost wake-ups impossible: the completing side first records the
//! result in the waiter (under the waiter's lock) and then calls [`Wake::wake`]; the blocking
//! side must re-check [`Waiter::is_pending`] after arming whatever `wake` signals and before
//! sleeping.
//!
//! # Locking
//! `Waiter::state` (one per wait): the result. A leaf: taken by the completing side inside a
//! signal-state lock (and released before [`Wake::wake`], which takes the scheduler's locks),
//! and by the kernel's blocker inside the scheduler lock (its re-check before sleeping), or
//! alone. The waiting thread holds no lock while it blocks: registration (maybe under a
//! handle-table lock, see `wait_with`) ends before the loop that sleeps. No IRQ handler
//! takes it; the kernel holds it with IRQs masked.

use alloc::sync::Arc;

use abi::{zx_time_t, Signals, Status};

use crate::object::KernelObject;
use crate::signal::{Observe, SignalWaker, Wakeup};
use crate::ZxResult;

/// Makes a blocked thread runnable again. Called with a signal-state lock held: it must not
/// touch any kernel object.
pub trait Wake: Send + Sync {
    fn wake(&self);
}

/// The scheduler side of a wait.
pub trait Blocker {
    /// The monotonic clock, in nanoseconds.
    fn now(&self) -> zx_time_t;

    /// The wake-up hook of the calling thread, stored in the [`Waiter`] of each wait.
    fn wake_hook(&self) -> Arc<dyn Wake>;

    /// Sleeps until `waiter` is no longer pending (its hook was called) or `deadline` has
    /// passed. May return early for any reason: the caller re-checks.
    fn block_until(&self, waiter: &Waiter, deadline: zx_time_t);

    /// Whether the waiting thread was killed: the wait is then abandoned (its observer
    /// removed) instead of blocking again, so the thread can unwind and leave.
    fn interrupted(&self) -> bool {
        false
    }
}

/// State of one wait.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitState {
    Pending,
    /// A requested signal became active; the signals observed then.
    Satisfied(Signals),
    /// The handle was closed; the signals observed then (including `HANDLE_CLOSED`).
    Canceled(Signals),
}

/// One wait in progress: the result once known and the hook that wakes the waiting thread.
pub struct Waiter {
    /// Protects the result. Leaf (inside a signal-state or the scheduler lock, or alone);
    /// IRQs masked, as the kernel runs.
    state: spin::Mutex<WaitState>,
    hook: Arc<dyn Wake>,
}

impl Waiter {
    pub fn new(hook: Arc<dyn Wake>) -> Self {
        Waiter {
            state: spin::Mutex::new(WaitState::Pending),
            hook,
        }
    }

    pub fn state(&self) -> WaitState {
        *self.state.lock()
    }

    pub fn is_pending(&self) -> bool {
        matches!(self.state(), WaitState::Pending)
    }

    /// Pending again, for a waiter reused by its thread's next wait (futexes): only once
    /// nothing can complete it any more (see `crate::futex`).
    pub(crate) fn reset(&self) {
        *self.state.lock() = WaitState::Pending;
    }

    /// Calls the wake-up hook (without changing the state).
    pub fn wake(&self) {
        self.hook.wake();
    }
}

impl SignalWaker for Waiter {
    fn complete(&self, wakeup: Wakeup) {
        {
            let mut state = self.state.lock();
            if *state != WaitState::Pending {
                return;
            }
            *state = match wakeup {
                Wakeup::Satisfied(observed) => WaitState::Satisfied(observed),
                Wakeup::Canceled(observed) => WaitState::Canceled(observed),
            };
        }
        self.wake();
    }
}

/// Waits until one of `signals` is active on `object`, the deadline passes, or the handle
/// `handle_id` (through which the caller reached the object) is closed.
///
/// - a requested signal already active: `Ok(current signals)` at once;
/// - deadline reached (a deadline in the past only polls): `Err((TIMED_OUT, current))`;
/// - handle closed during the wait: `Err((CANCELED, signals then | HANDLE_CLOSED))`;
/// - no memory to register: `Err((NO_MEMORY, current))`.
///
/// The observer never outlives the call. A close that happens between the caller's handle
/// lookup and the registration here is not seen; [`HandleTable::wait_one`] closes that gap.
///
/// [`HandleTable::wait_one`]: crate::handle::HandleTable::wait_one
pub fn wait_one(
    object: &Arc<dyn KernelObject>,
    handle_id: u64,
    signals: Signals,
    deadline: zx_time_t,
    blocker: &dyn Blocker,
) -> Result<Signals, (Status, Signals)> {
    wait_with(object, signals, deadline, blocker, |waker| {
        object.signals().add_observer(handle_id, signals, waker)
    })
}

/// [`wait_one`] with the registration step supplied by the caller (which may, for example,
/// perform it under a handle-table lock). `register` must add an observer of exactly
/// `signals` to `object`'s signal state, or fail: `BAD_HANDLE` is reported as a cancel (the
/// handle was closed before the wait started), any other status as itself.
pub(crate) fn wait_with(
    object: &Arc<dyn KernelObject>,
    signals: Signals,
    deadline: zx_time_t,
    blocker: &dyn Blocker,
    register: impl FnOnce(Arc<dyn SignalWaker>) -> ZxResult<Observe>,
) -> Result<Signals, (Status, Signals)> {
    let state = object.signals();
    let current = state.get();
    if current.intersects(signals) {
        return Ok(current);
    }
    if blocker.now() >= deadline {
        return Err((Status::TIMED_OUT, current));
    }

    let waiter = Arc::new(Waiter::new(blocker.wake_hook()));
    let id = match register(waiter.clone()) {
        Ok(Observe::Active(observed)) => return Ok(observed),
        Ok(Observe::Registered(id)) => id,
        Err(Status::BAD_HANDLE) => {
            return Err((Status::CANCELED, state.get() | Signals::HANDLE_CLOSED))
        }
        Err(status) => return Err((status, state.get())),
    };

    loop {
        match waiter.state() {
            WaitState::Satisfied(observed) => return Ok(observed),
            WaitState::Canceled(observed) => return Err((Status::CANCELED, observed)),
            WaitState::Pending => {}
        }
        if blocker.interrupted() {
            let current = state.remove_observer(id).unwrap_or_else(|| state.get());
            return Err((Status::CANCELED, current));
        }
        if blocker.now() >= deadline {
            if let Some(current) = state.remove_observer(id) {
                return Err((Status::TIMED_OUT, current));
            }
            // The observer completed meanwhile and recorded its result before leaving the
            // list: report that result.
            return match waiter.state() {
                WaitState::Satisfied(observed) => Ok(observed),
                WaitState::Canceled(observed) => Err((Status::CANCELED, observed)),
                WaitState::Pending => Err((Status::TIMED_OUT, state.get())),
            };
        }
        blocker.block_until(&waiter, deadline);
    }
}
