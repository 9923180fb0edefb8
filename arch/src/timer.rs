//! The generic timer: each CPU's EL1 virtual timer, programmed for the earlier of its next
//! scheduling tick and its earliest deadline (the kernel decides which, `src/irq.rs`). The
//! virtual timer is the one EL1 can always use, whether the kernel was entered at EL1 or
//! dropped from EL2 (where the boot code zeroes CNTVOFF_EL2, so virtual and physical counts
//! agree).

use aarch64_cpu::registers::*;
use core::sync::atomic::{AtomicU64, Ordering};

static INTERVAL: AtomicU64 = AtomicU64::new(0);
static TICKS: AtomicU64 = AtomicU64::new(0);

/// Starts the calling CPU's timer for ticks at `hz` per second of a counter running at
/// `frequency`; returns the counter value of the first tick.
pub fn start_periodic(frequency: u64, hz: u64) -> u64 {
    let interval = (frequency / hz).max(1);
    INTERVAL.store(interval, Ordering::Relaxed);
    let first = crate::cpu::counter() + interval;
    CNTV_CVAL_EL0.set(first);
    CNTV_CTL_EL0.write(CNTV_CTL_EL0::ENABLE::SET + CNTV_CTL_EL0::IMASK::CLEAR);
    first
}

/// Changes the tick to `hz` ticks per second from the next tick on.
pub fn set_rate(frequency: u64, hz: u64) {
    INTERVAL.store((frequency / hz).max(1), Ordering::Relaxed);
}

/// The tick after the one due at `tick`, seen at counter value `now`: whole intervals later
/// so ticks do not drift; ticks missed while interrupts were masked are skipped, not
/// replayed.
pub fn next_tick(tick: u64, now: u64) -> u64 {
    let interval = INTERVAL.load(Ordering::Relaxed).max(1);
    let next = tick.saturating_add(interval);
    if next <= now {
        now + interval
    } else {
        next
    }
}

/// The counter value the calling CPU's timer interrupts at.
#[inline]
pub fn compare() -> u64 {
    CNTV_CVAL_EL0.get()
}

/// Makes the calling CPU's timer interrupt at counter value `at` (at once if it passed).
#[inline]
pub fn set_compare(at: u64) {
    CNTV_CVAL_EL0.set(at);
}

/// Counts a scheduling tick of the boot CPU (what [`ticks`] reads).
pub fn count_tick() {
    TICKS.fetch_add(1, Ordering::Relaxed);
}

pub fn ticks() -> u64 {
    TICKS.load(Ordering::Relaxed)
}

pub fn stop() {
    CNTV_CTL_EL0.write(CNTV_CTL_EL0::ENABLE::CLEAR + CNTV_CTL_EL0::IMASK::SET);
}
