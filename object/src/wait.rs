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
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, Ordering};

use abi::{zx_handle_t, zx_time_t, Signals, Status};

use crate::handle::HandleTable;
use crate::object::KernelObject;
use crate::signal::{Observe, ObserverId, SignalWaker, Wakeup};
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

/// One item of [`wait_many`]: the handle value, the signals it waits for, and (written back)
/// the object's signals when the wait ended.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WaitItem {
    pub handle: zx_handle_t,
    pub waitfor: Signals,
    pub pending: Signals,
}

/// `ZX_WAIT_MANY_MAX_ITEMS`.
pub const MAX_WAIT_ITEMS: usize = abi::ZX_WAIT_MANY_MAX_ITEMS;

/// The observer one item of a [`wait_many`] registers: completes the shared waiter and
/// remembers whether its own handle was closed.
struct ItemWaker {
    waiter: Arc<Waiter>,
    canceled: AtomicBool,
}

impl SignalWaker for ItemWaker {
    fn complete(&self, wakeup: Wakeup) {
        if let Wakeup::Canceled(_) = wakeup {
            self.canceled.store(true, Ordering::Release);
        }
        self.waiter.complete(wakeup);
    }
}

/// `zx_object_wait_many` on `table`, once the items are copied in (at most
/// [`MAX_WAIT_ITEMS`]: `OUT_OF_RANGE` otherwise). Items are looked up in order (`BAD_HANDLE`,
/// then `NOT_SUPPORTED` for an object no wait accepts); the first failure returns with no
/// wait. Then one waiter observes every item's object, each through its own handle:
/// - OK as soon as some item has a requested signal active;
/// - `TIMED_OUT` at the deadline;
/// - `CANCELED` if an item's handle is closed meanwhile: its `pending` gets `HANDLE_CLOSED`;
/// - `NO_MEMORY` if an observer could not be registered.
///
/// On OK, TIMED_OUT and CANCELED every item's `pending` holds its object's current signals.
/// Every observer is removed before this returns.
pub fn wait_many(
    table: &HandleTable,
    items: &mut [WaitItem],
    deadline: zx_time_t,
    blocker: &dyn Blocker,
) -> ZxResult {
    if items.len() > MAX_WAIT_ITEMS {
        return Err(Status::OUT_OF_RANGE);
    }
    let mut objects: Vec<(Arc<dyn KernelObject>, u64)> = Vec::new();
    objects
        .try_reserve(items.len())
        .map_err(|_| Status::NO_MEMORY)?;
    for item in items.iter() {
        let (object, _, handle_id) = table.get(item.handle)?;
        if !object.waitable() {
            return Err(Status::NOT_SUPPORTED);
        }
        objects.push((object, handle_id));
    }
    let fill = |items: &mut [WaitItem], objects: &[(Arc<dyn KernelObject>, u64)]| {
        let mut any = false;
        for (item, (object, _)) in items.iter_mut().zip(objects) {
            item.pending = object.signals().get();
            any |= item.pending.intersects(item.waitfor);
        }
        any
    };
    if fill(items, &objects) {
        return Ok(());
    }
    if blocker.now() >= deadline {
        return Err(Status::TIMED_OUT);
    }

    let waiter = Arc::new(Waiter::new(blocker.wake_hook()));
    let mut wakers: Vec<(Arc<ItemWaker>, ObserverId)> = Vec::new();
    wakers
        .try_reserve(items.len())
        .map_err(|_| Status::NO_MEMORY)?;
    let mut early: Option<Status> = None;
    for (item, (_, handle_id)) in items.iter().zip(&objects) {
        let waker = Arc::new(ItemWaker {
            waiter: waiter.clone(),
            canceled: AtomicBool::new(false),
        });
        match table.observe(item.handle, *handle_id, item.waitfor, waker.clone()) {
            Ok(Observe::Registered(id)) => wakers.push((waker, id)),
            Ok(Observe::Active(_)) => {
                wakers.push((waker, 0));
                early = Some(Status::OK);
                break;
            }
            Err(Status::BAD_HANDLE) => {
                // Closed since the lookup: as if closed during the wait.
                waker.canceled.store(true, Ordering::Release);
                wakers.push((waker, 0));
                early = Some(Status::CANCELED);
                break;
            }
            Err(status) => {
                early = Some(status);
                break;
            }
        }
    }

    let mut status = early.unwrap_or(Status::OK);
    if early.is_none() {
        status = loop {
            match waiter.state() {
                WaitState::Satisfied(_) => break Status::OK,
                WaitState::Canceled(_) => break Status::CANCELED,
                WaitState::Pending => {}
            }
            if blocker.interrupted() {
                break Status::CANCELED;
            }
            if blocker.now() >= deadline {
                break Status::TIMED_OUT;
            }
            blocker.block_until(&waiter, deadline);
        };
    }
    // The observers never outlive the call.
    for ((_, id), (object, _)) in wakers.iter().zip(&objects) {
        if *id != 0 {
            object.signals().remove_observer(*id);
        }
    }
    // A completion that raced with the timeout decides.
    if status == Status::TIMED_OUT {
        match waiter.state() {
            WaitState::Satisfied(_) => status = Status::OK,
            WaitState::Canceled(_) => status = Status::CANCELED,
            WaitState::Pending => {}
        }
    }
    if status == Status::NO_MEMORY {
        return Err(status);
    }
    fill(items, &objects);
    // Only a CANCELED wait reports closed handles: an item closed after another item had
    // already satisfied the wait (before its observer was removed) is not why it returned.
    if status == Status::CANCELED {
        for (item, (waker, _)) in items.iter_mut().zip(&wakers) {
            if waker.canceled.load(Ordering::Acquire) {
                item.pending |= Signals::HANDLE_CLOSED;
            }
        }
    }
    status.into_result()
}
