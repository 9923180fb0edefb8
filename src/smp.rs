//! Secondary CPUs: every CPU the device tree's `/cpus` lists besides the boot CPU is started
//! the way its `enable-method` says (PSCI CPU_ON through the `/psci` node's conduit, or the
//! firmware's spin table), on a kernel stack of its own, and waited for: one that does not
//! come online within [`START_TIMEOUT_MS`] is reported and left out, and the kernel goes on
//! with the others.
//!
//! A started CPU drops to EL1 and turns its MMU on in the boot assembly
//! (`secondary_entry`), then [`kernel_secondary_entry`] sets its per-CPU state and marks it
//! online, sets up its side of the interrupt controller, its own tick
//! and the inter-processor interrupt (`irq::send_ipi`), and joins the scheduler
//! (`task::run_secondary`, which enables its TTBR0 walks for user address spaces) once the
//! boot CPU opened it.
//!
//! Locking: none. The boot CPU starts the others one at a time, before any process exists;
//! each secondary writes only its own per-CPU block (`percpu::init_secondary_cpu`).

use crate::percpu::{self, MAX_CPUS};
use arch::devicetree::{BoardInfo, EnableMethod, PsciMethod};
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// How long the boot CPU waits for a started CPU to come online.
const START_TIMEOUT_MS: u64 = 200;

/// The generic counter's frequency the boot CPU's tick runs on (0: the boot CPU has no tick,
/// so the others get none either).
static TICK_FREQUENCY: AtomicU64 = AtomicU64::new(0);

/// CPUs online (the boot CPU included), for the banner and the tests.
static ONLINE: AtomicUsize = AtomicUsize::new(1);
/// CPUs the device tree lists that the kernel tried to start or had no room for.
static WANTED: AtomicUsize = AtomicUsize::new(1);

/// How many CPUs are online, the boot CPU included.
pub fn online() -> usize {
    ONLINE.load(Ordering::Acquire)
}

/// How many CPUs should be online: those the device tree lists (at least the boot CPU), at
/// most [`MAX_CPUS`].
pub fn expected() -> usize {
    WANTED.load(Ordering::Relaxed)
}

/// How the secondaries were started, for the banner: "psci hvc", "psci smc", "spin-table".
pub fn method_name(info: &BoardInfo<'_>) -> &'static str {
    let method = info
        .cpus
        .iter()
        .map(|cpu| cpu.enable_method)
        .find(|method| !matches!(method, EnableMethod::Absent));
    match (method, info.psci) {
        (Some(EnableMethod::Psci), Some(PsciMethod::Hvc)) => "psci hvc",
        (Some(EnableMethod::Psci), Some(PsciMethod::Smc)) => "psci smc",
        (Some(EnableMethod::Psci), None) => "psci without a conduit",
        (Some(EnableMethod::SpinTable { .. }), _) => "spin-table",
        (Some(_), _) => "an enable-method this kernel lacks",
        (None, _) => "one CPU",
    }
}

/// Starts every CPU the device tree lists besides this one, one at a time, each waited for.
/// Called once, by the boot CPU, after the kernel tables, the page pool and (when
/// `tick_frequency` is not 0) the interrupt controller and the boot CPU's tick exist.
pub fn start_secondaries(info: &BoardInfo<'_>, tick_frequency: u64) {
    TICK_FREQUENCY.store(tick_frequency, Ordering::Relaxed);
    let me = arch::cpu::mpidr() & arch::smp::MPIDR_AFFINITY;
    let entry = arch::smp::entry_pa();
    let mut index = 0;
    let mut wanted = 1;
    for cpu in info.cpus.iter() {
        let mpidr = cpu.mpidr & arch::smp::MPIDR_AFFINITY;
        if mpidr == me {
            continue;
        }
        if index + 1 >= MAX_CPUS {
            log::warn!("cpu {mpidr:#x}: left out, this kernel runs at most {MAX_CPUS} CPUs");
            continue;
        }
        index += 1;
        wanted += 1;
        if let Err(why) = start(cpu.enable_method, info.psci, mpidr, index, entry) {
            log::warn!("cpu {mpidr:#x}: not started: {why}; left out");
            continue;
        }
        if wait_online(index) {
            ONLINE.fetch_add(1, Ordering::Release);
        } else {
            log::warn!(
                "cpu {mpidr:#x}: did not come online within {START_TIMEOUT_MS} ms; left out"
            );
        }
    }
    WANTED.store(wanted, Ordering::Relaxed);
}

/// Gives CPU `mpidr` its slot (index `index`, a new stack) and starts it at `entry`.
fn start(
    method: EnableMethod,
    psci: Option<PsciMethod>,
    mpidr: u64,
    index: usize,
    entry: u64,
) -> Result<(), &'static str> {
    let stack_top = crate::task::new_cpu_stack().map_err(|_| "no memory for its stack")?;
    // SAFETY: only the boot CPU runs here; each index is handed out once (the caller counts
    // up), before its CPU starts; the stack is new, mapped and never freed.
    unsafe { arch::smp::prepare(index, mpidr, stack_top, index) };
    match (method, psci) {
        (EnableMethod::Psci, Some(PsciMethod::Hvc)) => {
            smccc::psci::cpu_on::<smccc::Hvc>(mpidr, entry, index as u64)
                .map_err(|_| "PSCI CPU_ON failed")
        }
        (EnableMethod::Psci, Some(PsciMethod::Smc)) => {
            smccc::psci::cpu_on::<smccc::Smc>(mpidr, entry, index as u64)
                .map_err(|_| "PSCI CPU_ON failed")
        }
        (EnableMethod::Psci, None) => Err("enable-method psci but no /psci node"),
        (EnableMethod::SpinTable { release_addr }, _) => {
            if arch::mmu::translate_read(arch::mmu::phys_to_virt(release_addr)).is_none()
                || release_addr % 8 != 0
            {
                return Err("its cpu-release-addr is not mapped RAM");
            }
            // SAFETY: the device tree names this word as where the CPU waits for its entry
            // point; it is mapped (checked above) and aligned.
            unsafe { arch::smp::release_spin_table(release_addr, entry) };
            Ok(())
        }
        (EnableMethod::Other, _) => Err("an enable-method this kernel lacks"),
        (EnableMethod::Absent, _) => Err("no enable-method"),
    }
}

/// Waits until CPU `index` is online, at most [`START_TIMEOUT_MS`].
fn wait_online(index: usize) -> bool {
    let frequency = arch::cpu::counter_frequency().max(1);
    let deadline = arch::cpu::counter() + frequency * START_TIMEOUT_MS / 1000;
    while !percpu::is_online(index) {
        if arch::cpu::counter() > deadline {
            return false;
        }
        core::hint::spin_loop();
    }
    true
}

/// Where a secondary CPU enters Rust, from the boot assembly, at EL1 with its MMU on, on its
/// own stack, with interrupts masked.
// Named by the boot assembly: the symbol must be unmangled and unique (it is).
#[allow(unsafe_code)]
#[no_mangle]
extern "C" fn kernel_secondary_entry(index: usize) -> ! {
    if !percpu::init_secondary_cpu(index) {
        arch::cpu::halt();
    }
    arch::cpu::enable_pan();
    // Its own side of the interrupt controller and its own tick, as the boot CPU has them.
    let tick_hz = TICK_FREQUENCY.load(Ordering::Relaxed);
    if tick_hz == 0 || !crate::irq::init_secondary_cpu() {
        // No tick and no IPI would ever reach it: it takes no threads (and nobody waits
        // for it to park).
        log::warn!("cpu {index}: no interrupts; it runs nothing");
        loop {
            arch::cpu::wait_for_interrupt();
        }
    }
    let first_tick = arch::timer::start_periodic(tick_hz, crate::TICK_HZ);
    crate::percpu::this_cpu()
        .next_tick
        .store(first_tick, core::sync::atomic::Ordering::Relaxed);
    // Online: runs threads once the boot CPU opens the scheduler.
    crate::task::run_secondary()
}
