//! Interrupt dispatch: the interrupt controller the device tree names, and the timer tick.

use arch::exception::TrapFrame;
use arch::gic::Gic;
use core::sync::atomic::{AtomicU32, Ordering};

static CONTROLLER: spin::Mutex<Option<Gic>> = spin::Mutex::new(None);
static TIMER_INTID: AtomicU32 = AtomicU32::new(u32::MAX);
static SPURIOUS: AtomicU32 = AtomicU32::new(0);

pub fn install(mut gic: Gic) {
    gic.init();
    *CONTROLLER.lock() = Some(gic);
}

/// Whether an interrupt controller was set up (without one there is no tick).
#[cfg_attr(
    not(feature = "ktest"),
    allow(dead_code, reason = "read by the in-kernel tests")
)]
pub fn installed() -> bool {
    CONTROLLER.lock().is_some()
}

/// Routes the timer's interrupt (a GIC INTID) to the tick handler.
pub fn enable_timer(intid: u32) {
    TIMER_INTID.store(intid, Ordering::Relaxed);
    let irqs_were_on = arch::cpu::disable_irqs();
    if let Some(gic) = CONTROLLER.lock().as_mut() {
        gic.enable(intid, true);
    }
    if irqs_were_on {
        arch::cpu::enable_irqs();
    }
}

/// IRQ entry (IRQs are masked here; the controller lock is never held with IRQs on).
pub fn handle(_frame: &mut TrapFrame) {
    let mut controller = CONTROLLER.lock();
    let Some(gic) = controller.as_mut() else {
        return;
    };
    match gic.acknowledge() {
        Some((token, intid)) => {
            if intid == TIMER_INTID.load(Ordering::Relaxed) {
                arch::timer::handle_tick();
                crate::task::tick();
            } else {
                log::warn!("unexpected interrupt {intid}");
            }
            gic.end(token);
        }
        None => {
            SPURIOUS.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[cfg_attr(
    not(feature = "ktest"),
    allow(dead_code, reason = "read by the in-kernel tests")
)]
pub fn spurious_count() -> u32 {
    SPURIOUS.load(Ordering::Relaxed)
}
