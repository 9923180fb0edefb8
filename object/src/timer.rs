//! Timer objects (`zx_timer_create`, `zx_timer_set`, `zx_timer_cancel`, `ZX_INFO_TIMER`).
//!
//! A timer is one-shot: `set` drops any pending deadline, clears `ZX_TIMER_SIGNALED` and arms
//! the new deadline in the kernel's deadline queue ([`TimerQueue`]); when the deadline
//! passes the kernel calls [`Timer::fire`] with the generation it was armed with, which
//! asserts SIGNALED unless the timer was set again or canceled meanwhile (the generation
//! changed). A deadline at or before now fires within `set` itself. The slack only has to be
//! valid: firing at the first moment at or after the deadline fits CENTER, EARLY and LATE.
//!
//! The queue holds a reference to the timer while it is armed; the last handle closing
//! disarms it ([`KernelObject::on_zero_handles`]), so a timer nobody can reach is freed, and it
//! holds nothing of the process that created it. A `set` that took its reference to the
//! timer before the last handle closed, and locks the state after, must not arm it again (the
//! queue would then hold the only reference, forever): `on_zero_handles` marks the state
//! `closed` under the state lock, and from then on `set` fails with `BAD_HANDLE` (as if it had
//! looked the handle up a moment later) and `cancel` changes nothing.
//!
//! # Locking
//! `Timer::state` (one per timer): the armed deadline, slack and generation. Taken alone by
//! the calls and by the kernel's firing path (never from an interrupt handler: the kernel
//! fires timers at a safe point, see `src/task/scheduler.rs`), with IRQs masked as the kernel
//! runs. Inside it: the kernel's queue lock (through [`TimerQueue`]: the scheduler lock) and
//! the timer's signal state (a leaf but for its wakers).

use alloc::sync::Arc;
use core::sync::atomic::AtomicUsize;

use abi::{
    zx_info_timer_t, ZX_CLOCK_MONOTONIC, ZX_OBJ_TYPE_TIMER, ZX_TIMER_SLACK_CENTER,
    ZX_TIMER_SLACK_EARLY, ZX_TIMER_SLACK_LATE,
};

use crate::deadline::NOT_QUEUED;
use crate::object::{KernelObject, ObjectBase};
use crate::{Signals, Status, ZxResult};

/// The kernel's side: the queue that fires armed timers.
pub trait TimerQueue: Send + Sync {
    /// The monotonic clock, in nanoseconds.
    fn now(&self) -> i64;
    /// Queues `timer` to fire at `deadline` with `generation` (replacing its entry if it has
    /// one). `NO_MEMORY` if the queue cannot make room: nothing changed then.
    fn arm(&self, timer: &Arc<Timer>, deadline: i64, generation: u64) -> ZxResult;
    /// Takes `timer`'s entry out of the queue, if it has one.
    fn disarm(&self, timer: &Timer);
}

#[derive(Clone, Copy, Debug, Default)]
struct State {
    /// The armed deadline and slack; both 0 when not armed.
    deadline: i64,
    slack: i64,
    armed: bool,
    /// Bumped by every set, cancel and disarm: a firing armed earlier is stale.
    generation: u64,
    /// The last handle closed ([`KernelObject::on_zero_handles`]): never armed again.
    closed: bool,
}

pub struct Timer {
    base: ObjectBase,
    options: u32,
    queue: &'static dyn TimerQueue,
    /// Protects the armed state; see the module documentation.
    state: spin::Mutex<State>,
    /// The kernel queue's bookkeeping ([`crate::deadline::Slotted`]): written only by the
    /// queue, under its lock.
    pub queue_slot: AtomicUsize,
}

impl Timer {
    /// `zx_timer_create`: options CENTER, EARLY or LATE and the monotonic clock, else
    /// `INVALID_ARGS`.
    pub fn create(options: u32, clock: u32, queue: &'static dyn TimerQueue) -> ZxResult<Arc<Self>> {
        let known = matches!(
            options,
            ZX_TIMER_SLACK_CENTER | ZX_TIMER_SLACK_EARLY | ZX_TIMER_SLACK_LATE
        );
        if !known || clock != ZX_CLOCK_MONOTONIC {
            return Err(Status::INVALID_ARGS);
        }
        Ok(Arc::new(Timer {
            base: ObjectBase::new(Signals::NONE),
            options,
            queue,
            state: spin::Mutex::new(State::default()),
            queue_slot: AtomicUsize::new(NOT_QUEUED),
        }))
    }

    /// `zx_timer_set` (the WRITE right checked by the caller): slack < 0 -> `OUT_OF_RANGE`;
    /// `BAD_HANDLE` (nothing armed) if the last handle closed since the caller looked it up.
    pub fn set(self: &Arc<Self>, deadline: i64, slack: i64) -> ZxResult {
        if slack < 0 {
            return Err(Status::OUT_OF_RANGE);
        }
        let mut state = self.state.lock();
        if state.closed {
            return Err(Status::BAD_HANDLE);
        }
        let generation = state.generation.wrapping_add(1);
        let past = deadline <= self.queue.now();
        if past {
            self.queue.disarm(self);
        } else {
            // Replaces any entry of this timer; fails before anything changed.
            self.queue.arm(self, deadline, generation)?;
        }
        state.generation = generation;
        self.base.signals().clear(Signals::TIMER_SIGNALED);
        if past {
            *state = State {
                generation,
                ..State::default()
            };
            self.base.signals().set(Signals::TIMER_SIGNALED);
        } else {
            state.deadline = deadline;
            state.slack = slack;
            state.armed = true;
        }
        Ok(())
    }

    /// `zx_timer_cancel` (WRITE checked by the caller): disarms, clears SIGNALED. After the
    /// last handle closed (a racing call) nothing is armed and nothing changes.
    pub fn cancel(&self) {
        let mut state = self.state.lock();
        if state.closed {
            return;
        }
        self.disarm_locked(&mut state);
        self.base.signals().clear(Signals::TIMER_SIGNALED);
    }

    fn disarm_locked(&self, state: &mut State) {
        self.queue.disarm(self);
        *state = State {
            generation: state.generation.wrapping_add(1),
            closed: state.closed,
            ..State::default()
        };
    }

    /// The kernel's deadline for `generation` passed: SIGNALED, unless the timer was set again
    /// or canceled since. Called with no lock held.
    pub fn fire(&self, generation: u64) {
        let mut state = self.state.lock();
        if !state.armed || state.generation != generation {
            return;
        }
        *state = State {
            generation,
            ..State::default()
        };
        self.base.signals().set(Signals::TIMER_SIGNALED);
    }

    /// `ZX_INFO_TIMER`.
    pub fn info(&self) -> zx_info_timer_t {
        let state = *self.state.lock();
        zx_info_timer_t {
            options: self.options,
            deadline: state.deadline,
            slack: state.slack,
            ..Default::default()
        }
    }
}

impl KernelObject for Timer {
    fn base(&self) -> &ObjectBase {
        &self.base
    }

    fn object_type(&self) -> u32 {
        ZX_OBJ_TYPE_TIMER
    }

    /// Nobody can set, cancel or wait on it any more: out of the queue, which frees it, and
    /// closed, so that a `set` already past the handle lookup does not arm it again.
    fn on_zero_handles(&self) {
        let mut state = self.state.lock();
        self.disarm_locked(&mut state);
        state.closed = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;
    use core::sync::atomic::{AtomicI64, Ordering};
    use proptest::prelude::*;
    use std::sync::Mutex;

    /// A queue that only records: entries (timer address, deadline, generation).
    struct FakeQueue {
        now: AtomicI64,
        entries: Mutex<Vec<(Arc<Timer>, i64, u64)>>,
        fail: core::sync::atomic::AtomicBool,
    }

    impl TimerQueue for FakeQueue {
        fn now(&self) -> i64 {
            self.now.load(Ordering::Relaxed)
        }
        fn arm(&self, timer: &Arc<Timer>, deadline: i64, generation: u64) -> ZxResult {
            if self.fail.load(Ordering::Relaxed) {
                return Err(Status::NO_MEMORY);
            }
            let mut entries = self.entries.lock().unwrap();
            entries.retain(|(t, _, _)| !Arc::ptr_eq(t, timer));
            entries.push((timer.clone(), deadline, generation));
            Ok(())
        }
        fn disarm(&self, timer: &Timer) {
            self.entries
                .lock()
                .unwrap()
                .retain(|(t, _, _)| !core::ptr::eq(Arc::as_ptr(t), timer));
        }
    }

    impl FakeQueue {
        /// Advances the clock to `now` and fires what expired, as the kernel does.
        fn advance(&self, now: i64) {
            self.now.store(now, Ordering::Relaxed);
            let expired: Vec<_> = {
                let mut entries = self.entries.lock().unwrap();
                let (expired, kept) = entries.drain(..).partition(|(_, d, _)| *d <= now);
                *entries = kept;
                expired
            };
            for (timer, _, generation) in expired {
                timer.fire(generation);
            }
        }
    }

    fn queue() -> &'static FakeQueue {
        Box::leak(Box::new(FakeQueue {
            now: AtomicI64::new(100),
            entries: Mutex::new(Vec::new()),
            fail: false.into(),
        }))
    }

    fn signaled(timer: &Timer) -> bool {
        timer.base.signals().get().contains(Signals::TIMER_SIGNALED)
    }

    #[test]
    fn create_checks_options_and_clock() {
        let q = queue();
        assert!(Timer::create(0, 0, q).is_ok());
        assert!(Timer::create(2, 0, q).is_ok());
        assert_eq!(Timer::create(3, 0, q).err(), Some(Status::INVALID_ARGS));
        assert_eq!(Timer::create(0, 1, q).err(), Some(Status::INVALID_ARGS));
    }

    #[test]
    fn set_fires_once_and_cancel_clears() {
        let q = queue();
        let timer = Timer::create(0, 0, q).unwrap();
        assert_eq!(timer.set(200, -1), Err(Status::OUT_OF_RANGE));
        timer.set(200, 5).unwrap();
        assert_eq!((timer.info().deadline, timer.info().slack), (200, 5));
        q.advance(199);
        assert!(!signaled(&timer));
        q.advance(200);
        assert!(signaled(&timer));
        assert_eq!(timer.info().deadline, 0);
        timer.cancel();
        assert!(!signaled(&timer));
        // A past deadline fires at once.
        timer.set(50, 0).unwrap();
        assert!(signaled(&timer));
        // Setting again clears it.
        timer.set(1000, 0).unwrap();
        assert!(!signaled(&timer));
        // The last handle disarms: nothing left in the queue, nothing keeps the timer.
        timer.on_zero_handles();
        assert!(q.entries.lock().unwrap().is_empty());
        assert_eq!(Arc::strong_count(&timer), 1);
    }

    /// The race of a `set` that looked the handle up before the last handle closed and locks
    /// the state after: it must not arm the timer (the queue would hold its only reference).
    #[test]
    fn set_after_last_handle_closed_arms_nothing() {
        let q = queue();
        let timer = Timer::create(0, 0, q).unwrap();
        timer.set(1000, 0).unwrap();
        // Thread B closes the last handle while thread A holds its `Arc` from the lookup.
        timer.on_zero_handles();
        assert_eq!(
            timer.set(1_000_000_000_000_000_000, 0),
            Err(Status::BAD_HANDLE)
        );
        assert_eq!(timer.set(50, 0), Err(Status::BAD_HANDLE));
        timer.cancel();
        assert!(q.entries.lock().unwrap().is_empty());
        assert!(!signaled(&timer));
        assert_eq!(timer.info().deadline, 0);
        assert_eq!(Arc::strong_count(&timer), 1);
        // An idle timer closed, then set: the same.
        let idle = Timer::create(0, 0, q).unwrap();
        idle.on_zero_handles();
        assert_eq!(idle.set(1_000_000, 0), Err(Status::BAD_HANDLE));
        assert!(q.entries.lock().unwrap().is_empty());
        assert_eq!(Arc::strong_count(&idle), 1);
    }

    #[test]
    fn failed_arm_changes_nothing() {
        let q = queue();
        let timer = Timer::create(0, 0, q).unwrap();
        timer.set(50, 0).unwrap();
        q.fail.store(true, Ordering::Relaxed);
        assert_eq!(timer.set(500, 0), Err(Status::NO_MEMORY));
        assert!(signaled(&timer));
    }

    proptest! {
        /// Against a model: the timer is signaled exactly when its last set (since the last
        /// cancel) had a deadline that passed.
        #[test]
        fn matches_model(ops in proptest::collection::vec((0u8..3, 0i64..400), 0..60)) {
            let q = queue();
            let timer = Timer::create(0, 0, q).unwrap();
            let mut armed: Option<i64> = None;
            let mut model_signaled = false;
            let mut now = 100;
            for (op, value) in ops {
                match op {
                    0 => {
                        timer.set(value, 0).unwrap();
                        if value <= now { model_signaled = true; armed = None; }
                        else { model_signaled = false; armed = Some(value); }
                    }
                    1 => { timer.cancel(); armed = None; model_signaled = false; }
                    _ => {
                        now += value / 4;
                        q.advance(now);
                        if armed.is_some_and(|d| d <= now) { armed = None; model_signaled = true; }
                    }
                }
                prop_assert_eq!(signaled(&timer), model_signaled);
                prop_assert_eq!(timer.info().deadline, armed.unwrap_or(0));
                prop_assert_eq!(q.entries.lock().unwrap().len(), usize::from(armed.is_some()));
            }
        }
    }
}
