//! The generic timer: a periodic tick from the EL1 virtual timer. The virtual timer is the
//! one EL1 can always use, whether the kernel was entered at EL1 or dropped from EL2 (where
//! the boot code zeroes CNTVOFF_EL2, so virtual and physical counts agree).

use aarch64_cpu::registers::*;
use core::sync::atomic::{AtomicU64, Ordering};

static INTERVAL: AtomicU64 = AtomicU64::new(0);
static TICKS: AtomicU64 = AtomicU64::new(0);

/// Starts a periodic tick at `hz` ticks per second of a counter running at `frequency`.
pub fn start_periodic(frequency: u64, hz: u64) {
    let interval = (frequency / hz).max(1);
    INTERVAL.store(interval, Ordering::Relaxed);
    CNTV_CVAL_EL0.set(crate::cpu::counter() + interval);
    CNTV_CTL_EL0.write(CNTV_CTL_EL0::ENABLE::SET + CNTV_CTL_EL0::IMASK::CLEAR);
}

/// Changes the tick to `hz` ticks per second from the next tick on.
pub fn set_rate(frequency: u64, hz: u64) {
    INTERVAL.store((frequency / hz).max(1), Ordering::Relaxed);
}

/// Called from the timer interrupt: counts the tick and arms the next one. The deadline
/// advances by whole intervals so ticks do not drift; ticks missed while interrupts were
/// masked are skipped, not replayed. Returns how many counter ticks after its deadline the
/// interrupt was taken: how long interrupts were masked past it.
pub fn handle_tick() -> u64 {
    let late = rearm();
    TICKS.fetch_add(1, Ordering::Relaxed);
    late
}

/// [`handle_tick`] without counting the tick in [`ticks`] (a CPU other than the boot CPU,
/// whose ticks the scheduler does not use yet): arms this CPU's next tick; returns how late
/// this one was taken.
pub fn rearm() -> u64 {
    let interval = INTERVAL.load(Ordering::Relaxed);
    let now = crate::cpu::counter();
    let deadline = CNTV_CVAL_EL0.get();
    let late = now.saturating_sub(deadline);
    let mut next = deadline + interval;
    if next <= now {
        next = now + interval;
    }
    CNTV_CVAL_EL0.set(next);
    late
}

pub fn ticks() -> u64 {
    TICKS.load(Ordering::Relaxed)
}

pub fn stop() {
    CNTV_CTL_EL0.write(CNTV_CTL_EL0::ENABLE::CLEAR + CNTV_CTL_EL0::IMASK::SET);
}
