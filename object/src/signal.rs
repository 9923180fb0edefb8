//! Signal state of an object and the observers waiting for it.
//!
//! [`SignalState`] holds the active signals and a list of one-shot observers. An observer is
//! registered for one wait through one handle (its `handle_id`); it completes exactly once:
//! - satisfied, when an update makes a watched signal active (observed = the new state);
//! - canceled, when the handle it was registered through is closed (observed = the state at
//!   that moment plus `HANDLE_CLOSED`);
//!
//! or it is removed unfired by its owner ([`SignalState::remove_observer`], e.g. at a
//! timeout). Completion calls the observer's [`SignalWaker`] with the internal lock held.
//! That lock is a leaf: a waker may only record the result and make a thread runnable; it
//! must never call into a kernel object, a handle table or another `SignalState`.
//!
//! # Locking
//! `SignalState::inner` (one per object): the active signals and the observers. Taken inside
//! any object lock that changes signals (a channel's `sides`, a handle table's during a wait
//! registration or a `zx_object_signal`, a VMO family's) and by itself. Inside it only: the completing waker (a port's queue lock for
//! an asynchronous wait, see [`crate::port`]; the [`crate::wait::Waiter`]'s state lock, then, after that is released, the kernel's wake-up,
//! which takes the scheduler lock and a thread's state lock) and the heap (the observer list
//! grows). Never two signal states at once. No IRQ handler takes it; the kernel holds it
//! with IRQs masked, as it runs every system call. With it held: no user memory, no sleep, no
//! preemption point, no handle dropped (a dropped observer releases only its waker).

use alloc::sync::Arc;
use alloc::vec::Vec;

use abi::{Signals, Status};

use crate::ZxResult;

/// Identifies an observer within one [`SignalState`].
pub type ObserverId = u64;

/// How an observer completed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wakeup {
    /// A watched signal became active; the signals active at that moment.
    Satisfied(Signals),
    /// The handle the wait was registered through was closed; the signals active at that
    /// moment plus `HANDLE_CLOSED`.
    Canceled(Signals),
}

/// Receives the completion of an observer. Called at most once per registration, with the
/// signal-state lock held: see the module documentation for what it may do.
pub trait SignalWaker: Send + Sync {
    fn complete(&self, wakeup: Wakeup);

    /// `true` once the observer's owner has ended it without a completion (an asynchronous
    /// wait taken out of its port): [`SignalState::purge`] then drops it.
    fn is_dead(&self) -> bool {
        false
    }
}

/// Result of [`SignalState::add_observer`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Observe {
    /// A watched signal is already active (these are the current signals); nothing was
    /// registered.
    Active(Signals),
    /// The observer is registered under this id.
    Registered(ObserverId),
}

struct Observer {
    id: ObserverId,
    handle_id: u64,
    watched: Signals,
    waker: Arc<dyn SignalWaker>,
}

struct Inner {
    current: Signals,
    observers: Vec<Observer>,
    next_id: ObserverId,
}

/// The active signals of an object and the observers waiting on them.
pub struct SignalState {
    /// Protects the signals and observers. Leaf but for the wakers it completes (waiter
    /// state, scheduler, thread state) and the heap; IRQs masked, as the kernel runs.
    inner: spin::Mutex<Inner>,
}

impl SignalState {
    pub const fn new(initial: Signals) -> Self {
        SignalState {
            inner: spin::Mutex::new(Inner {
                current: initial,
                observers: Vec::new(),
                next_id: 1,
            }),
        }
    }

    /// The active signals.
    pub fn get(&self) -> Signals {
        self.inner.lock().current
    }

    /// Clears `clear`, then sets `set` (a bit in both ends up set). Every observer whose
    /// watched set intersects the new state completes as satisfied and is removed.
    pub fn update(&self, clear: Signals, set: Signals) {
        let mut inner = self.inner.lock();
        let new = inner.current.difference(clear).union(set);
        if new == inner.current {
            // Observers only exist while none of their signals is active, so an update that
            // changes nothing cannot satisfy one.
            return;
        }
        inner.current = new;
        if inner.observers.is_empty() {
            return;
        }
        inner.observers.retain(|observer| {
            if observer.watched.intersects(new) {
                observer.waker.complete(Wakeup::Satisfied(new));
                false
            } else {
                true
            }
        });
    }

    /// Makes `signals` active.
    pub fn set(&self, signals: Signals) {
        self.update(Signals::NONE, signals);
    }

    /// Makes `signals` inactive.
    pub fn clear(&self, signals: Signals) {
        self.update(signals, Signals::NONE);
    }

    /// Registers a one-shot observer of `watched` for a wait through the handle `handle_id`,
    /// unless a watched signal is already active. Check and registration are atomic, so no
    /// update can be missed in between. `NO_MEMORY` if the list cannot grow (nothing
    /// registered).
    pub fn add_observer(
        &self,
        handle_id: u64,
        watched: Signals,
        waker: Arc<dyn SignalWaker>,
    ) -> ZxResult<Observe> {
        let mut inner = self.inner.lock();
        if inner.current.intersects(watched) {
            return Ok(Observe::Active(inner.current));
        }
        inner
            .observers
            .try_reserve(1)
            .map_err(|_| Status::NO_MEMORY)?;
        let id = inner.next_id;
        inner.next_id += 1;
        inner.observers.push(Observer {
            id,
            handle_id,
            watched,
            waker,
        });
        Ok(Observe::Registered(id))
    }

    /// Removes an observer that has not completed, without calling its waker. Returns the
    /// signals active at the moment of removal, or `None` if the observer already completed
    /// (or never existed).
    pub fn remove_observer(&self, id: ObserverId) -> Option<Signals> {
        let mut inner = self.inner.lock();
        let position = inner.observers.iter().position(|o| o.id == id)?;
        inner.observers.swap_remove(position);
        if inner.observers.is_empty() {
            // Give back the memory of a burst of waiters.
            inner.observers = Vec::new();
        }
        Some(inner.current)
    }

    /// Drops every observer whose waker says it is dead ([`SignalWaker::is_dead`]), without
    /// calling it: one pass over the list, for an owner that ended many observers of this
    /// object at once (a port closing with thousands of waits on one object would otherwise
    /// remove them one search at a time).
    pub fn purge(&self) {
        let mut inner = self.inner.lock();
        inner.observers.retain(|observer| !observer.waker.is_dead());
        if inner.observers.is_empty() {
            inner.observers = Vec::new();
        }
    }

    /// The handle `handle_id` is gone: every observer registered through it completes as
    /// canceled with the current signals plus `HANDLE_CLOSED`.
    pub fn cancel_handle(&self, handle_id: u64) {
        let mut inner = self.inner.lock();
        if inner.observers.is_empty() {
            return;
        }
        let observed = inner.current | Signals::HANDLE_CLOSED;
        inner.observers.retain(|observer| {
            if observer.handle_id == handle_id {
                observer.waker.complete(Wakeup::Canceled(observed));
                false
            } else {
                true
            }
        });
    }

    /// Observers currently registered (for diagnostics and leak tests).
    pub fn observer_count(&self) -> usize {
        self.inner.lock().observers.len()
    }
}

impl Default for SignalState {
    fn default() -> Self {
        Self::new(Signals::NONE)
    }
}
