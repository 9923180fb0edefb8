//! Interrupt dispatch: the interrupt controller the device tree names, the timer tick of every
//! CPU, and the inter-processor interrupt.

use crate::sync::IrqSafeLock;
use arch::bcm2836::Bcm2836;
use arch::exception::TrapFrame;
use arch::gic::Gic;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

/// A root interrupt controller. Interrupt numbers are the controller's own: GIC INTIDs, or
/// the BCM2836 numbering of `arch::bcm2836`; both are what the device tree's specifiers give.
pub enum Controller {
    Gic(Gic),
    Bcm2836(Bcm2836),
}

/// The SGI the kernel uses as its inter-processor interrupt on a GIC.
const GIC_IPI: u32 = 0;
/// The local source the kernel uses as its inter-processor interrupt on the BCM2836: the
/// core's mailbox 0.
const BCM2836_IPI: u32 = 4;

impl Controller {
    fn init(&mut self, core: usize) {
        match self {
            Controller::Gic(gic) => gic.init(core),
            Controller::Bcm2836(intc) => intc.init(),
        }
    }

    /// The number of the inter-processor interrupt.
    fn ipi(&self) -> u32 {
        match self {
            Controller::Gic(_) => GIC_IPI,
            Controller::Bcm2836(_) => BCM2836_IPI,
        }
    }

    /// Sends the inter-processor interrupt to the CPU with MPIDR `mpidr`; false if it cannot.
    fn send_ipi(&mut self, mpidr: u64) -> bool {
        match self {
            Controller::Gic(gic) => gic.send_sgi(GIC_IPI, mpidr),
            Controller::Bcm2836(intc) => {
                intc.send_mailbox((mpidr & 0xff) as usize, (BCM2836_IPI - 4) as usize, 1)
            }
        }
    }

    /// An inter-processor interrupt was taken by core `core`: what must be done before `end`.
    fn take_ipi(&mut self, core: usize) {
        if let Controller::Bcm2836(intc) = self {
            // Level triggered: pending until the mailbox is cleared.
            intc.clear_mailbox(core, (BCM2836_IPI - 4) as usize);
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

    /// Sets up the calling CPU, a secondary one (`core`: its MPIDR Aff0).
    fn init_secondary(&mut self, core: usize) {
        match self {
            Controller::Gic(gic) => gic.init_secondary(core),
            // Nothing per core until a source of the core is enabled.
            Controller::Bcm2836(_) => {}
        }
    }

    /// Enables a level-triggered interrupt of the calling CPU, `core` (a PPI, a local timer).
    fn enable_on(&mut self, irq: u32, core: usize) {
        match self {
            Controller::Gic(gic) => gic.enable_on(irq, true, core),
            Controller::Bcm2836(intc) => {
                if !intc.enable_on(irq, core) {
                    log::warn!("interrupt {irq} of core {core} does not exist on the BCM2836");
                }
            }
        }
    }

    /// The interrupt for the calling CPU (`core`) to handle: a token for `end`, and its number.
    fn acknowledge(&mut self, core: usize) -> Option<(u32, u32)> {
        match self {
            Controller::Gic(gic) => gic.acknowledge(),
            Controller::Bcm2836(intc) => intc.pending_on(core).map(|irq| (irq, irq)),
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

/// The root interrupt controller. IRQ-safe: every CPU's IRQ handler takes it. A leaf: held
/// only for a controller operation (acknowledging, ending, sending an IPI, enabling a
/// line), never while the handler's work runs (the tick takes the scheduler lock, which is
/// held while IPIs are sent, and the console), and only the console's warning nests inside.
// Acknowledging and ending are per-CPU registers and need no lock; one lock for all keeps
// the controller types' `&mut self` interfaces (the arm-gic crate's).
static CONTROLLER: IrqSafeLock<Option<Controller>> = IrqSafeLock::new(None);
static TIMER_INTID: AtomicU32 = AtomicU32::new(u32::MAX);
static SPURIOUS: AtomicU32 = AtomicU32::new(0);

pub fn install(mut controller: Controller) {
    let core = this_core();
    controller.init(core);
    let ipi = controller.ipi();
    controller.enable_on(ipi, core);
    *CONTROLLER.lock() = Some(controller);
    crate::percpu::set_ipi_sender(send_ipi);
    crate::percpu::note_takes_ipis();
}

/// Sends the inter-processor interrupt to CPU `index` (any online CPU, this one included);
/// false if it is not online or the controller cannot reach it.
pub fn send_ipi(index: usize) -> bool {
    let Some(mpidr) = crate::percpu::mpidr_of(index) else {
        return false;
    };
    CONTROLLER
        .lock()
        .as_mut()
        .is_some_and(|controller| controller.send_ipi(mpidr))
}

/// Whether an interrupt controller was set up (without one there is no tick).
pub fn installed() -> bool {
    CONTROLLER.lock().is_some()
}

/// The calling CPU's number for the interrupt controller: MPIDR Aff0 (the core within the
/// cluster, which is how QEMU's virt and the Pi number GICv3 redistributors and BCM2836
/// cores).
fn this_core() -> usize {
    (arch::cpu::mpidr() & 0xff) as usize
}

/// Sets up the calling secondary CPU's side of the interrupt controller and routes its own
/// timer interrupt to it, if the boot CPU installed a controller and a timer; returns
/// whether it did.
pub fn init_secondary_cpu() -> bool {
    let intid = TIMER_INTID.load(Ordering::Relaxed);
    let mut controller = CONTROLLER.lock();
    let Some(controller) = controller.as_mut() else {
        return false;
    };
    if intid == u32::MAX {
        return false;
    }
    let core = this_core();
    controller.init_secondary(core);
    controller.enable_on(intid, core);
    let ipi = controller.ipi();
    controller.enable_on(ipi, core);
    crate::percpu::note_takes_ipis();
    true
}

/// Routes the timer's interrupt (numbered as its controller numbers it) to the tick handler.
pub fn enable_timer(intid: u32) {
    TIMER_INTID.store(intid, Ordering::Relaxed);
    if let Some(controller) = CONTROLLER.lock().as_mut() {
        controller.enable(intid);
    }
}

/// Set by the boot argument `klatency`: every timer interrupt taken more than
/// [`LATENCY_LIMIT_US`] after its deadline is reported (when it is the worst so far), with
/// the system call the current thread was in. The kernel runs with interrupts masked between
/// preemption points, so the delay is how long one stretch kept the CPU: the rule is that no
/// call does so for more than about 1 ms. Under `qemu -icount` guest time is instructions
/// and the figure is exact; elsewhere a stall of the host looks the same.
pub static WATCH_LATENCY: AtomicBool = AtomicBool::new(false);
pub const LATENCY_LIMIT_US: u64 = 1000;
/// While latency is watched the timer interrupts this many times per scheduler tick (every
/// 100 us at 100 Hz), so that every stretch longer than the limit spans a deadline.
pub const LATENCY_SAMPLES_PER_TICK: u32 = 100;

/// Starts watching latency (`klatency`): see [`WATCH_LATENCY`].
pub fn watch_latency() {
    let frequency = arch::cpu::counter_frequency();
    arch::timer::set_rate(
        frequency,
        crate::TICK_HZ * u64::from(LATENCY_SAMPLES_PER_TICK),
    );
    WATCH_LATENCY.store(true, Ordering::Relaxed);
}
/// The worst delay reported so far, in counter ticks.
static WORST_LATENCY: AtomicU64 = AtomicU64::new(0);

/// `pc`: where the interrupt was taken, the end of the long stretch (where interrupts were
/// unmasked again).
fn note_latency(late: u64, pc: u64) {
    let frequency = arch::cpu::counter_frequency().max(1);
    let micros = u128::from(late) * 1_000_000 / u128::from(frequency);
    if micros <= u128::from(LATENCY_LIMIT_US) || late <= WORST_LATENCY.load(Ordering::Relaxed) {
        return;
    }
    WORST_LATENCY.store(late, Ordering::Relaxed);
    log::warn!(
        "kernel latency: a timer interrupt waited {micros} us past its deadline (over {LATENCY_LIMIT_US} us), taken at pc {pc:#x}"
    );
    crate::task::report_current_call();
}

/// IRQ entry (IRQs are masked here). The controller lock is taken for each controller
/// operation alone.
pub fn handle(frame: &mut TrapFrame) {
    let core = this_core();
    let (acknowledged, ipi) = {
        let mut controller = CONTROLLER.lock();
        let Some(controller) = controller.as_mut() else {
            return;
        };
        (controller.acknowledge(core), controller.ipi())
    };
    let Some((token, intid)) = acknowledged else {
        SPURIOUS.fetch_add(1, Ordering::Relaxed);
        return;
    };
    let end = |take_ipi: bool| {
        if let Some(controller) = CONTROLLER.lock().as_mut() {
            if take_ipi {
                controller.take_ipi(core);
            }
            controller.end(token);
        }
    };
    if intid == ipi {
        // It woke this CPU (a thread was queued for it) or interrupted the thread it runs (a
        // kill): the way back to that thread (`trap::irq_exit`) does the rest.
        crate::percpu::count_ipi();
        end(true);
        // Or another CPU stops the others (the invariant checks, a panic).
        crate::percpu::park_if_asked();
        return;
    }
    if intid != TIMER_INTID.load(Ordering::Relaxed) {
        log::warn!("unexpected interrupt {intid}");
        end(false);
        return;
    }
    // After a panic on another CPU (which sends no interrupt), this CPU stops here.
    crate::percpu::park_if_asked();
    // The comparator was set for the earlier of this CPU's next scheduling tick and its
    // earliest deadline: see which came, then set it for the next such moment.
    let cpu = crate::percpu::this_cpu();
    let now = arch::cpu::counter();
    let late = now.saturating_sub(arch::timer::compare());
    let mut next_tick = cpu.next_tick.load(Ordering::Relaxed);
    let tick_due = now >= next_tick;
    if tick_due {
        next_tick = arch::timer::next_tick(next_tick, now);
        cpu.next_tick.store(next_tick, Ordering::Relaxed);
        if crate::percpu::cpu_index() == 0 {
            arch::timer::count_tick();
        }
    }
    let deadline = crate::task::expire_deadlines();
    arch::timer::set_compare(deadline.map_or(next_tick, |deadline| {
        crate::counter_at_nanos(deadline).min(next_tick)
    }));
    end(false);
    if WATCH_LATENCY.load(Ordering::Relaxed) && !crate::task::idle_waiting() {
        note_latency(late, frame.elr);
    }
    if !tick_due {
        return;
    }
    crate::percpu::count_tick();
    // While latency is watched the timer runs LATENCY_SAMPLES_PER_TICK times faster; the
    // scheduler still sees its own tick.
    if WATCH_LATENCY.load(Ordering::Relaxed)
        && !cpu
            .ticks
            .load(Ordering::Relaxed)
            .is_multiple_of(u64::from(LATENCY_SAMPLES_PER_TICK))
    {
        return;
    }
    crate::task::tick();
}

pub fn spurious_count() -> u32 {
    SPURIOUS.load(Ordering::Relaxed)
}
