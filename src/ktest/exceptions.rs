//! Exceptions and interrupts: a `brk` round trip and the timer tick.

use super::*;

pub(super) const TESTS: &[Test] = &[
    ("exception_brk_round_trip", exception_brk_round_trip),
    ("timer_ticks_advance", timer_ticks_advance),
];

static BRK_SEEN: AtomicU64 = AtomicU64::new(0);

fn catch_brk(frame: &mut TrapFrame) -> bool {
    if arch::esr::Esr(frame.esr).brk_immediate() == Some(0x42) {
        BRK_SEEN.fetch_add(1, Ordering::Relaxed);
        frame.x[0] += 1;
        frame.elr += 4;
        return true;
    }
    false
}

/// The kernel's handlers, with `catch_brk` for kernel synchronous exceptions.
static CATCH_BRK: exception::Handlers = exception::Handlers {
    kernel_sync: Some(catch_brk),
    ..crate::boot::HANDLERS
};

fn exception_brk_round_trip(_: &Board) -> TestResult {
    let before = BRK_SEEN.load(Ordering::Relaxed);
    let mut value: u64 = 41;
    let callee_saved: u64 = exception::with_handlers(&CATCH_BRK, || {
        let callee_saved;
        // SAFETY: `brk #0x42` traps to `catch_brk`, which increments x0 and resumes after
        // it; x19 checks that the frame restores registers the handler did not touch.
        unsafe {
            core::arch::asm!(
                "mov {saved}, x19",
                "mov x19, #0x77",
                "brk #0x42",
                "mov {callee}, x19",
                "mov x19, {saved}",
                saved = out(reg) _,
                callee = out(reg) callee_saved,
                inout("x0") value,
            );
        }
        callee_saved
    });
    check!(value == 42, "x0 = {value}");
    check!(callee_saved == 0x77, "x19 = {callee_saved:#x}");
    check!(BRK_SEEN.load(Ordering::Relaxed) == before + 1);
    Ok(())
}

fn timer_ticks_advance(_: &Board) -> TestResult {
    let frequency = arch::cpu::counter_frequency();
    check!(frequency != 0, "counter frequency is 0");
    // Without an interrupt controller `wfi` would never wake: fail instead of hanging.
    check!(
        crate::irq::installed(),
        "no interrupt controller: the timer cannot tick"
    );
    let start_ticks = arch::timer::ticks();
    let start = arch::cpu::counter();
    // Wait for 10 ticks (100 ms at 100 Hz) but give up after 2 s of counter time.
    while arch::timer::ticks() < start_ticks + 10 && arch::cpu::counter() - start < 2 * frequency {
        arch::cpu::wait_for_interrupt();
    }
    let elapsed_ms = (arch::cpu::counter() - start) * 1000 / frequency;
    let ticks = arch::timer::ticks() - start_ticks;
    check!(ticks >= 10, "only {ticks} ticks in {elapsed_ms} ms");
    // 10 ticks at 100 Hz take about 100 ms; the bound leaves room for a busy host.
    check!(
        (80..=400).contains(&elapsed_ms),
        "10 ticks took {elapsed_ms} ms"
    );
    check!(crate::irq::spurious_count() < 10);
    Ok(())
}
