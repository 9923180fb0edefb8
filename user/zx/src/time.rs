//! [`Time`] (a point on the monotonic clock) and [`Duration`], both in nanoseconds.

use core::ops::{Add, AddAssign, Neg, Sub, SubAssign};

use crate::sys;

/// A point in time on the monotonic clock (`zx_time_t`, nanoseconds since boot).
#[repr(transparent)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Time(i64);

/// A span of time in nanoseconds (`zx_duration_t`); may be negative.
#[repr(transparent)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration(i64);

/// Fuchsia's newer name for [`Time`].
pub type MonotonicInstant = Time;
/// Fuchsia's newer name for [`Duration`].
pub type MonotonicDuration = Duration;

impl Time {
    /// A deadline that never comes (`ZX_TIME_INFINITE`).
    pub const INFINITE: Time = Time(sys::ZX_TIME_INFINITE);
    /// A deadline that has always passed (`ZX_TIME_INFINITE_PAST`).
    pub const INFINITE_PAST: Time = Time(sys::ZX_TIME_INFINITE_PAST);
    /// Time 0 (boot).
    pub const ZERO: Time = Time(0);

    /// Now (`zx_clock_get_monotonic`).
    pub fn get_monotonic() -> Time {
        // SAFETY: takes no arguments and touches no memory.
        Time(unsafe { sys::zx_clock_get_monotonic() })
    }

    /// `duration` from now, saturating instead of overflowing.
    pub fn after(duration: Duration) -> Time {
        Time::get_monotonic() + duration
    }

    /// From nanoseconds since boot.
    pub const fn from_nanos(nanos: i64) -> Time {
        Time(nanos)
    }

    /// Nanoseconds since boot.
    pub const fn into_nanos(self) -> i64 {
        self.0
    }

    /// Sleeps until this deadline (`zx_nanosleep`).
    pub fn sleep(self) {
        // SAFETY: no memory is passed.
        unsafe {
            sys::zx_nanosleep(self.0);
        }
    }
}

impl Duration {
    /// No time.
    pub const ZERO: Duration = Duration(0);
    /// The longest duration.
    pub const INFINITE: Duration = Duration(i64::MAX);
    /// The most negative duration.
    pub const INFINITE_PAST: Duration = Duration(i64::MIN);

    /// From nanoseconds.
    pub const fn from_nanos(nanos: i64) -> Duration {
        Duration(nanos)
    }

    /// From microseconds (saturating).
    pub const fn from_micros(micros: i64) -> Duration {
        Duration(micros.saturating_mul(1_000))
    }

    /// From milliseconds (saturating).
    pub const fn from_millis(millis: i64) -> Duration {
        Duration(millis.saturating_mul(1_000_000))
    }

    /// From seconds (saturating).
    pub const fn from_seconds(secs: i64) -> Duration {
        Duration(secs.saturating_mul(1_000_000_000))
    }

    /// In nanoseconds.
    pub const fn into_nanos(self) -> i64 {
        self.0
    }

    /// In whole microseconds.
    pub const fn into_micros(self) -> i64 {
        self.0 / 1_000
    }

    /// In whole milliseconds.
    pub const fn into_millis(self) -> i64 {
        self.0 / 1_000_000
    }

    /// In whole seconds.
    pub const fn into_seconds(self) -> i64 {
        self.0 / 1_000_000_000
    }
}

impl Add<Duration> for Time {
    type Output = Time;
    fn add(self, rhs: Duration) -> Time {
        Time(self.0.saturating_add(rhs.0))
    }
}

impl AddAssign<Duration> for Time {
    fn add_assign(&mut self, rhs: Duration) {
        *self = *self + rhs;
    }
}

impl Sub<Duration> for Time {
    type Output = Time;
    fn sub(self, rhs: Duration) -> Time {
        Time(self.0.saturating_sub(rhs.0))
    }
}

impl SubAssign<Duration> for Time {
    fn sub_assign(&mut self, rhs: Duration) {
        *self = *self - rhs;
    }
}

impl Sub<Time> for Time {
    type Output = Duration;
    fn sub(self, rhs: Time) -> Duration {
        Duration(self.0.saturating_sub(rhs.0))
    }
}

impl Add for Duration {
    type Output = Duration;
    fn add(self, rhs: Duration) -> Duration {
        Duration(self.0.saturating_add(rhs.0))
    }
}

impl AddAssign for Duration {
    fn add_assign(&mut self, rhs: Duration) {
        *self = *self + rhs;
    }
}

impl Sub for Duration {
    type Output = Duration;
    fn sub(self, rhs: Duration) -> Duration {
        Duration(self.0.saturating_sub(rhs.0))
    }
}

impl SubAssign for Duration {
    fn sub_assign(&mut self, rhs: Duration) {
        *self = *self - rhs;
    }
}

impl Neg for Duration {
    type Output = Duration;
    fn neg(self) -> Duration {
        Duration(self.0.saturating_neg())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates() {
        assert_eq!(Time::INFINITE + Duration::from_seconds(1), Time::INFINITE);
        assert_eq!(
            Time::INFINITE_PAST - Duration::from_seconds(1),
            Time::INFINITE_PAST
        );
        assert_eq!(Duration::from_millis(3).into_nanos(), 3_000_000);
        assert_eq!(Duration::from_micros(3).into_nanos(), 3_000);
        assert_eq!(Duration::from_seconds(i64::MAX), Duration::INFINITE);
        assert_eq!(
            Time::from_nanos(10) - Time::from_nanos(4),
            Duration::from_nanos(6)
        );
        assert_eq!(-Duration::INFINITE_PAST, Duration::INFINITE);
        assert_eq!(Duration::from_millis(2500).into_seconds(), 2);
    }
}
