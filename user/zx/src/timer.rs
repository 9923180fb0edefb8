//! [`Timer`]: one-shot timers on the monotonic clock, and [`cprng_draw`].

use crate::handle::handle_type;
use crate::sys::{self, ZX_HANDLE_INVALID};
use crate::{ok, Duration, Handle, Result, Time};

handle_type!(
    /// A timer: asserts `Signals::TIMER_SIGNALED` once its deadline passed.
    Timer
);

/// How a timer may use its slack (`ZX_TIMER_SLACK_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Slack {
    /// Fire within `[deadline - slack, deadline + slack]`.
    Center,
    /// Fire within `[deadline - slack, deadline]`.
    Early,
    /// Fire within `[deadline, deadline + slack]`.
    Late,
}

impl Slack {
    /// The option word of `zx_timer_create`.
    pub const fn into_raw(self) -> u32 {
        match self {
            Slack::Center => sys::ZX_TIMER_SLACK_CENTER,
            Slack::Early => sys::ZX_TIMER_SLACK_EARLY,
            Slack::Late => sys::ZX_TIMER_SLACK_LATE,
        }
    }
}

impl Timer {
    /// A disarmed timer on the monotonic clock, slack CENTER (`zx_timer_create`).
    pub fn create() -> Result<Timer> {
        Timer::create_with_slack(Slack::Center)
    }

    /// A disarmed timer with the given slack policy.
    pub fn create_with_slack(slack: Slack) -> Result<Timer> {
        let mut out = ZX_HANDLE_INVALID;
        // SAFETY: `out` is a valid place for the result.
        ok(unsafe { sys::zx_timer_create(slack.into_raw(), sys::ZX_CLOCK_MONOTONIC, &mut out) })?;
        // SAFETY: the kernel just created `out` for this process.
        Ok(Timer(unsafe { Handle::from_raw(out) }))
    }

    /// Arms the timer for `deadline` (`zx_timer_set`), dropping any earlier deadline and
    /// clearing the signal.
    pub fn set(&self, deadline: Time, slack: Duration) -> Result<()> {
        // SAFETY: plain values.
        ok(unsafe {
            sys::zx_timer_set(self.raw_handle(), deadline.into_nanos(), slack.into_nanos())
        })
    }

    /// Disarms the timer and clears the signal (`zx_timer_cancel`).
    pub fn cancel(&self) -> Result<()> {
        // SAFETY: plain values.
        ok(unsafe { sys::zx_timer_cancel(self.raw_handle()) })
    }
}

/// Fills `buffer` with random bytes from the kernel's generator (`zx_cprng_draw`).
pub fn cprng_draw(buffer: &mut [u8]) {
    // SAFETY: `buffer` is writable for its length.
    unsafe { sys::zx_cprng_draw(buffer.as_mut_ptr(), buffer.len()) }
}

/// Mixes `bytes` (at most 256) into the kernel's generator (`zx_cprng_add_entropy`).
pub fn cprng_add_entropy(bytes: &[u8]) -> Result<()> {
    // SAFETY: `bytes` is readable for its length.
    ok(unsafe { sys::zx_cprng_add_entropy(bytes.as_ptr(), bytes.len()) })
}
