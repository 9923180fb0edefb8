//! Each CPU's own state, in one [`PerCpu`] per CPU reached through TPIDR_EL1
//! (`arch::cpu::per_cpu_ptr`): the running thread, the idle context, the need-resched flag
//! whether the idle loop waits for an interrupt, and whether the CPU is online.
//!
//! The running thread is an opaque pointer here (the scheduler, `task::scheduler`, stores and
//! reads it as its own thread type), so that code below the scheduler (the address space's
//! TLB batches) can ask who runs ([`current_token`]) without knowing what a thread is.
//!
//! Locking: a CPU's block is written only by that CPU (the tick, `schedule`, the idle loop);
//! its fields are atomics read without a lock. `current` changes only in `schedule`, under
//! the scheduler lock with IRQs masked, so code running on behalf of a thread always reads
//! itself there.

use arch::context::SavedContext;
use core::sync::atomic::{AtomicBool, AtomicI64, AtomicPtr, AtomicU64, AtomicUsize, Ordering};

/// CPUs the kernel has room for; index 0 is the boot CPU.
pub const MAX_CPUS: usize = arch::smp::MAX_CPUS;

pub struct PerCpu {
    /// The running thread: the reference the scheduler holds (from `Arc::into_raw` of its
    /// thread type, cast), null in the idle loop and at boot. First in the block: the
    /// system-call path reads it through TPIDR_EL1 at offset 0.
    pub current: AtomicPtr<()>,
    /// Set by the tick: the time slice is over, switch at the next chance.
    pub need_resched: AtomicBool,
    /// The idle loop waits for an interrupt with interrupts unmasked: a timer interrupt taken
    /// then is late only by what the emulator's clock did while the CPU slept, not by a
    /// stretch of kernel work (`irq::note_latency` skips it).
    pub idle_waiting: AtomicBool,
    /// The idle context (on this CPU's boot stack) while switched out.
    pub idle: SavedContext,
    /// Set by the scheduler's `finish_point` just before it switches: the thread leaving has
    /// work to finish and is queued again even if it was killed. `schedule` takes it.
    pub finishing: AtomicBool,
    /// The CPU runs the kernel: set by the CPU itself once its per-CPU state is in place
    /// (Release), read by the boot CPU waiting for it (Acquire).
    pub online: AtomicBool,
    /// Timer ticks this CPU took (written by itself only).
    pub ticks: AtomicU64,
    /// The counter value of this CPU's next scheduling tick (written by itself only): its
    /// timer is programmed for the earlier of this and its earliest deadline (`irq::handle`).
    pub next_tick: AtomicU64,
    /// The earliest deadline (monotonic ns) in this CPU's deadline heap, `i64::MAX` if none:
    /// a copy kept under the scheduler lock by whoever changes that heap, read without it by
    /// this CPU's timer interrupt (which takes the lock only when something is due).
    pub earliest_deadline: AtomicI64,
    /// Inter-processor interrupts this CPU took (written by itself only).
    pub ipis: AtomicU64,
    /// MPIDR_EL1 of the CPU, written once by itself before it is online.
    pub mpidr: AtomicU64,
    /// The CPU takes inter-processor interrupts (its side of the interrupt controller is set
    /// up): set once by itself.
    pub takes_ipis: AtomicBool,
}

impl PerCpu {
    const fn new() -> PerCpu {
        PerCpu {
            current: AtomicPtr::new(core::ptr::null_mut()),
            need_resched: AtomicBool::new(false),
            idle_waiting: AtomicBool::new(false),
            idle: SavedContext::new(),
            finishing: AtomicBool::new(false),
            online: AtomicBool::new(false),
            ticks: AtomicU64::new(0),
            next_tick: AtomicU64::new(u64::MAX),
            earliest_deadline: AtomicI64::new(i64::MAX),
            ipis: AtomicU64::new(0),
            mpidr: AtomicU64::new(0),
            takes_ipis: AtomicBool::new(false),
        }
    }
}

static PER_CPU: [PerCpu; MAX_CPUS] = [const { PerCpu::new() }; MAX_CPUS];

/// Points the boot CPU's TPIDR_EL1 at its block; the first thing the kernel does, before
/// anything may ask for the current thread (a panic's report does).
pub fn init_boot_cpu() {
    arch::cpu::set_per_cpu(&PER_CPU[0] as *const PerCpu as usize);
    PER_CPU[0]
        .mpidr
        .store(arch::cpu::mpidr(), Ordering::Relaxed);
    PER_CPU[0].online.store(true, Ordering::Release);
}

/// Points a secondary CPU's TPIDR_EL1 at block `index` (1 .. MAX_CPUS) and marks it online:
/// the first thing the CPU does in the kernel. False (and nothing changed) for an index
/// without a block.
pub fn init_secondary_cpu(index: usize) -> bool {
    let Some(block) = PER_CPU.get(index).filter(|_| index != 0) else {
        return false;
    };
    arch::cpu::set_per_cpu(block as *const PerCpu as usize);
    block.mpidr.store(arch::cpu::mpidr(), Ordering::Relaxed);
    block.online.store(true, Ordering::Release);
    true
}

/// This CPU takes inter-processor interrupts from now on.
pub fn note_takes_ipis() {
    this_cpu().takes_ipis.store(true, Ordering::Release);
}

/// Counts a timer tick of this CPU.
#[inline]
pub fn count_tick() {
    this_cpu().ticks.fetch_add(1, Ordering::Relaxed);
}

/// A counter of CPU `index`'s block (0 for an index without one).
fn count_of(index: usize, counter: fn(&PerCpu) -> &AtomicU64) -> u64 {
    PER_CPU
        .get(index)
        .map_or(0, |block| counter(block).load(Ordering::Relaxed))
}

/// Timer ticks CPU `index` took so far.
pub fn ticks_of(index: usize) -> u64 {
    count_of(index, |block| &block.ticks)
}

/// Counts an inter-processor interrupt this CPU took.
#[inline]
pub fn count_ipi() {
    this_cpu().ipis.fetch_add(1, Ordering::Relaxed);
}

/// Inter-processor interrupts CPU `index` took so far.
pub fn ipis_of(index: usize) -> u64 {
    count_of(index, |block| &block.ipis)
}

/// MPIDR_EL1 of CPU `index`, once it is online.
pub fn mpidr_of(index: usize) -> Option<u64> {
    is_online(index).then(|| PER_CPU[index].mpidr.load(Ordering::Relaxed))
}

/// Whether CPU `index` has come online.
pub fn is_online(index: usize) -> bool {
    PER_CPU
        .get(index)
        .is_some_and(|block| block.online.load(Ordering::Acquire))
}

/// CPU `index`'s block, once it is online.
pub fn cpu(index: usize) -> Option<&'static PerCpu> {
    PER_CPU
        .get(index)
        .filter(|block| block.online.load(Ordering::Acquire))
}

/// How the interrupt controller sends the inter-processor interrupt to CPU `index`, once
/// it is set up (`irq::install` registers it; the scheduler, below the interrupt code, sends
/// through it).
static IPI_SENDER: spin::Once<fn(usize) -> bool> = spin::Once::new();

/// Registers how to send the inter-processor interrupt (once; later calls change nothing).
pub fn set_ipi_sender(sender: fn(usize) -> bool) {
    IPI_SENDER.call_once(|| sender);
}

/// Sends the inter-processor interrupt to CPU `index`; false if there is no way yet, or the
/// CPU is not online.
pub fn send_ipi(index: usize) -> bool {
    IPI_SENDER.get().is_some_and(|sender| sender(index))
}

/// This CPU's index in `PER_CPU` (0 for the boot CPU).
pub fn cpu_index() -> usize {
    (arch::cpu::per_cpu_ptr() - PER_CPU.as_ptr() as usize) / core::mem::size_of::<PerCpu>()
}

/// This CPU's block.
#[inline(always)]
pub fn this_cpu() -> &'static PerCpu {
    // SAFETY: TPIDR_EL1 holds the address of an element of `PER_CPU` (a static), set by
    // `init_boot_cpu` at the top of `kernel_entry` before any task code runs, and never
    // changed after; nothing else writes TPIDR_EL1.
    unsafe { &*(arch::cpu::per_cpu_ptr() as *const PerCpu) }
}

/// Who is running now, as a number no other running thread has (its thread's address; 0 in
/// the idle loop): for state that belongs to the thread that set it.
#[inline]
pub fn current_token() -> usize {
    this_cpu().current.load(Ordering::Relaxed) as usize
}

// ---- stopping the other CPUs ---------------------------------------------------------------

/// Set while one CPU has the others parked ([`with_others_stopped`], or for good after a
/// panic): every other CPU spins in its inter-processor interrupt until it is clear.
static STOP: AtomicBool = AtomicBool::new(false);
/// CPUs spinning in [`park_if_asked`].
static PARKED: AtomicUsize = AtomicUsize::new(0);
/// Held by the CPU that stops the others. Never waited for with IRQs masked: a CPU that
/// wants it takes interrupts while it waits, so it parks when the holder asks.
static STOPPER: spin::Mutex<()> = spin::Mutex::new(());

/// Runs `f` while every other online CPU is parked in its interrupt handler, so that `f` sees
/// the kernel's books still (the invariant checks). Called with no lock held and IRQs masked
/// (a CPU takes interrupts only where it holds no lock, so the parked ones hold none).
pub fn with_others_stopped<R>(f: impl FnOnce() -> R) -> R {
    let guard = loop {
        if let Some(guard) = STOPPER.try_lock() {
            break guard;
        }
        // Another CPU stops the others: park when it asks.
        arch::cpu::take_pending_irqs();
        core::hint::spin_loop();
    };
    let me = cpu_index();
    STOP.store(true, Ordering::SeqCst);
    // Those the interrupt reaches (all online ones, once an interrupt controller is set up).
    let others = (0..MAX_CPUS)
        .filter(|&index| {
            index != me
                && cpu(index).is_some_and(|block| block.takes_ipis.load(Ordering::Acquire))
                && send_ipi(index)
        })
        .count();
    while PARKED.load(Ordering::Acquire) < others {
        core::hint::spin_loop();
    }
    let result = f();
    STOP.store(false, Ordering::SeqCst);
    while PARKED.load(Ordering::Acquire) != 0 {
        core::hint::spin_loop();
    }
    drop(guard);
    result
}

/// Parks the other CPUs for good (a panic): each at its next tick or inter-processor
/// interrupt. Sends nothing (the panic may have come from inside the interrupt controller's
/// lock) and waits for nothing.
pub fn stop_others_for_good() {
    STOP.store(true, Ordering::SeqCst);
}

/// From the interrupt handler (the inter-processor interrupt and the tick): spins while
/// another CPU has the others stopped.
pub fn park_if_asked() {
    if !STOP.load(Ordering::Acquire) {
        return;
    }
    PARKED.fetch_add(1, Ordering::AcqRel);
    while STOP.load(Ordering::Acquire) {
        core::hint::spin_loop();
    }
    PARKED.fetch_sub(1, Ordering::AcqRel);
}
