//! Interrupt dispatch: the interrupt controller the device tree names, and the timer tick.

use arch::bcm2836::Bcm2836;
use arch::exception::TrapFrame;
use arch::gic::Gic;
use core::sync::atomic::{AtomicU32, Ordering};

/// A root interrupt controller. Interrupt numbers are the controller's own: GIC INTIDs, or
/// the BCM2836 numbering of `arch::bcm2836`; both are what the device tree's specifiers give.
pub enum Controller {
    Gic(Gic),
    Bcm2836(Bcm2836),
}

impl Controller {
    fn init(&mut self) {
        match self {
            Controller::Gic(gic) => gic.init(),
            Controller::Bcm2836(intc) => intc.init(),
        }
    }

    /// Enables a level-triggered interrupt.
    fn enable(&mut self, irq: u32) {
        match self {
            Controller::Gic(gic) => gic.enable(irq, true),
            Controller::Bcm2836(intc) => {
                if !intc.enable(irq) {
                    log::warn!("interrupt {irq} does not exist on the BCM2836 controller");
                }
            }
        }
    }

    /// The interrupt to handle: a token for `end`, and its number.
    fn acknowledge(&mut self) -> Option<(u32, u32)> {
        match self {
            Controller::Gic(gic) => gic.acknowledge(),
            Controller::Bcm2836(intc) => intc.pending().map(|irq| (irq, irq)),
        }
    }

    fn end(&mut self, token: u32) {
        match self {
            Controller::Gic(gic) => gic.end(token),
            // Level triggered: the device's handler has cleared the request.
            Controller::Bcm2836(_) => {}
        }
    }
}

static CONTROLLER: spin::Mutex<Option<Controller>> = spin::Mutex::new(None);
static TIMER_INTID: AtomicU32 = AtomicU32::new(u32::MAX);
static SPURIOUS: AtomicU32 = AtomicU32::new(0);

pub fn install(mut controller: Controller) {
    controller.init();
    *CONTROLLER.lock() = Some(controller);
}

/// Whether an interrupt controller was set up (without one there is no tick).
pub fn installed() -> bool {
    CONTROLLER.lock().is_some()
}

/// Routes the timer's interrupt (numbered as its controller numbers it) to the tick handler.
pub fn enable_timer(intid: u32) {
    TIMER_INTID.store(intid, Ordering::Relaxed);
    let irqs_were_on = arch::cpu::disable_irqs();
    if let Some(controller) = CONTROLLER.lock().as_mut() {
        controller.enable(intid);
    }
    if irqs_were_on {
        arch::cpu::enable_irqs();
    }
}

/// IRQ entry (IRQs are masked here; the controller lock is never held with IRQs on).
pub fn handle(_frame: &mut TrapFrame) {
    let mut controller = CONTROLLER.lock();
    let Some(controller) = controller.as_mut() else {
        return;
    };
    match controller.acknowledge() {
        Some((token, intid)) => {
            if intid == TIMER_INTID.load(Ordering::Relaxed) {
                arch::timer::handle_tick();
                crate::task::tick();
            } else {
                log::warn!("unexpected interrupt {intid}");
            }
            controller.end(token);
        }
        None => {
            SPURIOUS.fetch_add(1, Ordering::Relaxed);
        }
    }
}

pub fn spurious_count() -> u32 {
    SPURIOUS.load(Ordering::Relaxed)
}
