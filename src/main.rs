//! The kernel: boots from the device tree, starts `init` from the boot archive and serves
//! its system calls, faults and interrupts.
//!
//! Boot order: the assembly in `arch` has turned the MMU on with boot tables and calls
//! `kernel_entry` in the high half. From here: read the DTB through the boot window, build
//! and switch to the final tables, bring up the console, the page pool and heap, the
//! interrupt controller and timer, and print the banner; then set up user address spaces,
//! run the in-kernel tests if asked, and start user mode.
#![no_std]
#![no_main]
#![deny(clippy::undocumented_unsafe_blocks, unsafe_op_in_unsafe_fn)]
// Hardware access lives in `arch`; the kernel's policy is safe code. The modules below that
// still need `unsafe` say why where they are declared; every use has a SAFETY comment.
#![deny(unsafe_code)]

extern crate alloc;

#[macro_use]
// The UART registers the device tree names, and taking over the console lock from this
// CPU's own print when a fatal exception interrupted it.
#[allow(unsafe_code)]
mod console;
// Page-table trees over pool pages: `arch::user_mmu` needs the tables' owner to vouch for
// them.
#[allow(unsafe_code)]
mod aspace;
// Bring-up: the boot window onto the DTB and initrd, the final tables, the page pool's RAM.
#[allow(unsafe_code)]
mod boot;
mod cprng;
mod irq;
mod kcheck;
// Deliberate faults and raw memory checks of the in-kernel tests.
#[allow(unsafe_code)]
mod ktest;
// The page pool and heap over RAM reached through the linear map.
#[allow(unsafe_code)]
mod memory;
// TPIDR_EL1 holds the address of this CPU's block.
#[allow(unsafe_code)]
mod percpu;
// Starting CPUs: their boot block and the firmware's spin-table word.
#[allow(unsafe_code)]
mod smp;
// Handing the scheduler's lock over a context switch.
#[allow(unsafe_code)]
mod sync;
mod syscall;
// The current-thread pointer and the context switch's stacks.
#[allow(unsafe_code)]
mod task;
mod trap;
// The boot archive, read in place through the linear map.
#[allow(unsafe_code)]
mod userboot;
// The copy routines and the fast copy of probed user ranges.
#[allow(unsafe_code)]
mod usercopy;
// The object layer's page and cache traits, for the syscall layer and the in-kernel tests:
// VMO pages through the linear map.
#[allow(unsafe_code)]
mod vm;

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Timer ticks per second.
pub const TICK_HZ: u64 = 100;

static COUNTER_FREQUENCY: AtomicU64 = AtomicU64::new(0);
/// In-kernel test failures, folded into the run's exit status.
pub static KTEST_FAILED: AtomicU64 = AtomicU64::new(0);
/// Set when the boot arguments hold `test`: run the in-kernel tests, let init run the
/// conformance suites, and end the emulator with the result.
static TEST_MODE: AtomicBool = AtomicBool::new(false);
/// Set for `test`, `bench` and `fuzz`: when init exits, end the emulator with its status.
static EXIT_WITH_INIT: AtomicBool = AtomicBool::new(false);
static BOOT_COUNTER: AtomicU64 = AtomicU64::new(0);
/// Set when the boot arguments hold `kdebug`: `zx_debug_send_command` works (test boots).
static KDEBUG: AtomicBool = AtomicBool::new(false);

/// Nanoseconds since `kernel_entry`, from the generic counter: exact to the counter's period
/// and monotonic (one multiplication and division of the whole count, so no rounding steps).
pub fn uptime_nanos() -> u64 {
    let frequency = COUNTER_FREQUENCY.load(Ordering::Relaxed);
    if frequency == 0 {
        return 0;
    }
    let ticks = arch::cpu::counter().saturating_sub(BOOT_COUNTER.load(Ordering::Relaxed));
    (u128::from(ticks) * 1_000_000_000 / u128::from(frequency)) as u64
}

/// The generic counter's value at `nanos` ns after `kernel_entry` (rounded up, so a timer
/// programmed for it never fires before that time; saturating).
pub fn counter_at_nanos(nanos: i64) -> u64 {
    let frequency = COUNTER_FREQUENCY.load(Ordering::Relaxed);
    let nanos = u128::try_from(nanos).unwrap_or(0);
    let ticks = (nanos * u128::from(frequency)).div_ceil(1_000_000_000);
    u64::try_from(ticks)
        .unwrap_or(u64::MAX)
        .saturating_add(BOOT_COUNTER.load(Ordering::Relaxed))
}

/// Microseconds since `kernel_entry`.
pub fn uptime_micros() -> u64 {
    uptime_nanos() / 1000
}

/// Called by the boot assembly, at the link address, with the MMU on.
// Named by the boot assembly: the symbol must be unmangled and unique (it is).
#[allow(unsafe_code)]
#[no_mangle]
extern "C" fn kernel_entry(dtb_pa: u64, boot_el: u64, image_pa: u64) -> ! {
    // First: TPIDR_EL1 is UNKNOWN at reset, and even a panic's report reads it.
    task::init_boot_cpu();
    BOOT_COUNTER.store(arch::cpu::counter(), Ordering::Relaxed);
    COUNTER_FREQUENCY.store(arch::cpu::counter_frequency(), Ordering::Relaxed);
    console::init_logger();
    let board = boot::start(dtb_pa, boot_el as u8, image_pa);
    let args = board.info.bootargs.unwrap_or("");
    if args.split_whitespace().any(|arg| arg == "test") {
        TEST_MODE.store(true, Ordering::Relaxed);
    }
    if args
        .split_whitespace()
        .any(|arg| matches!(arg, "test" | "bench" | "fuzz"))
    {
        EXIT_WITH_INIT.store(true, Ordering::Relaxed);
    }
    if args.split_whitespace().any(|arg| arg == "kdebug") {
        KDEBUG.store(true, Ordering::Relaxed);
    }
    #[cfg(feature = "crash-hooks")]
    ktest::crash::crash_if_asked(args);
    kcheck::init(args);
    if test_mode() {
        kcheck::keep_lists();
    }
    // User address spaces (ASIDs, TTBR0 walks) exist from here on; the in-kernel tests use
    // them too.
    if let Err(status) = aspace::init() {
        log::error!("user address spaces: {status:?}");
        stop();
    }
    if test_mode() {
        ktest::run(&board);
    }
    // After the in-kernel tests, which mask interrupts for as long as they like.
    if args.split_whitespace().any(|arg| arg == "klatency") {
        irq::watch_latency();
    }

    if board.info.initrd.is_none() {
        log::warn!("no boot archive (initrd): nothing to run");
    } else {
        let Err(status) = userboot::run(&board);
        log::error!("user mode did not start: {status:?}");
    }
    if test_mode() {
        let failed = KTEST_FAILED.load(Ordering::Relaxed);
        arch::semihosting::exit(u32::from(failed != 0));
    }
    log::info!("idle");
    loop {
        arch::cpu::wait_for_interrupt();
    }
}

/// Whether the emulator ends when init does (`test`, `bench` or `fuzz` in the boot arguments).
pub fn exit_with_init() -> bool {
    EXIT_WITH_INIT.load(Ordering::Relaxed)
}

/// Whether `zx_debug_send_command` works (`kdebug` in the boot arguments).
pub fn kdebug() -> bool {
    KDEBUG.load(Ordering::Relaxed)
}

/// Whether this boot runs the tests (`test` in the boot arguments).
pub fn test_mode() -> bool {
    TEST_MODE.load(Ordering::Relaxed)
}

/// Stops the kernel after a fatal error. Under an emulator with semihosting this ends it with
/// a failure status, so a broken kernel fails a test run at once instead of hanging; elsewhere
/// (a board, no debugger) the semihosting call does nothing and the CPU halts.
pub fn stop() -> ! {
    task::report_current_call();
    arch::semihosting::exit(1);
    arch::cpu::halt()
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    arch::cpu::disable_irqs();
    percpu::stop_others_for_good();
    log::error!("PANIC: {info}");
    stop()
}
