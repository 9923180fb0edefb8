//! What the threaded host tests share: a `Blocker` on std (a monotonic nanosecond clock and
//! a condition variable per waiting thread).
// Each test crate uses its own part of this module.
#![allow(dead_code)]

use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use abi::zx_time_t;
use object::wait::{Blocker, Waiter, Wake};

/// Nanoseconds since the first call, never 0.
pub fn clock_now() -> zx_time_t {
    static START: OnceLock<Instant> = OnceLock::new();
    let start = *START.get_or_init(Instant::now);
    start.elapsed().as_nanos() as zx_time_t + 1
}

/// The deadline `n` milliseconds from now.
pub fn ms(n: i64) -> zx_time_t {
    clock_now() + n * 1_000_000
}

/// Wakes the thread blocked in [`StdBlocker::block_until`].
#[derive(Default)]
pub struct Parker {
    pub lock: Mutex<()>,
    pub condvar: Condvar,
}

impl Wake for Parker {
    fn wake(&self) {
        let _guard = self.lock.lock().unwrap();
        self.condvar.notify_all();
    }
}

/// The std implementation of the kernel's blocking: sleeps on a condition variable until
/// the waiter completes or the deadline passes (re-checking at least every 50 ms).
#[derive(Default)]
pub struct StdBlocker {
    pub parker: Arc<Parker>,
}

impl Blocker for StdBlocker {
    fn now(&self) -> zx_time_t {
        clock_now()
    }

    fn wake_hook(&self) -> Arc<dyn Wake> {
        self.parker.clone()
    }

    fn block_until(&self, waiter: &Waiter, deadline: zx_time_t) {
        let mut guard = self.parker.lock.lock().unwrap();
        loop {
            if !waiter.is_pending() {
                return;
            }
            let now = self.now();
            if now >= deadline {
                return;
            }
            let left = Duration::from_nanos((deadline - now) as u64).min(Duration::from_millis(50));
            guard = self.parker.condvar.wait_timeout(guard, left).unwrap().0;
        }
    }
}
