//! In-kernel tests, part of every kernel image and run when the boot arguments hold `test`
//! (`make test` passes `-append test` to QEMU with `-semihosting`; on a board, add `test` to
//! the card's cmdline.txt): one line per test, then "N passed, N failed", and the emulator
//! exits with status 0 only if every test passed.
//!
//! Each area's tests live in a module of their own, listed there in `TESTS`: `boot` (the
//! exception level, the device tree), `pages` (pool, heap, memory routines), `paging` (the
//! kernel's mappings and the faults they must give), `exceptions`, `vmo`, `kcheck`. This
//! module runs them. `crash` holds the deliberate crashes (`ktest.crash=KIND`), only in
//! images built with the `crash-hooks` feature.

use crate::boot::Board;
use crate::memory::{self, with_pool};
use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use arch::esr::FaultKind;
use arch::exception::{self, TrapFrame};
use arch::mmu;
use core::sync::atomic::{AtomicU64, Ordering};
use mm::pool::PageUse;

type TestResult = Result<(), String>;
type Test = (&'static str, fn(&Board) -> TestResult);

macro_rules! check {
    ($cond:expr) => {
        if !$cond {
            return Err(format!("{}:{}: check failed: {}", file!(), line!(), stringify!($cond)));
        }
    };
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!("{}:{}: {}", file!(), line!(), format!($($msg)+)));
        }
    };
}

mod boot;
#[cfg(feature = "crash-hooks")]
pub mod crash;
mod exceptions;
mod kcheck;
mod pages;
mod paging;
mod vmo;

/// Why the test running now was skipped, set by [`skip`] and taken by `run`. The lock
/// protects only this slot; nothing nests inside it, IRQs stay as they are (no IRQ handler
/// takes it).
static SKIPPED: spin::Mutex<Option<String>> = spin::Mutex::new(None);

/// Ends a test that cannot run on this machine: reported as skipped, counted as neither
/// passed nor failed. `make test` checks that the boots meant to run it did.
fn skip(why: &str) -> TestResult {
    *SKIPPED.lock() = Some(why.into());
    Ok(())
}

/// Runs the in-kernel tests; returns (to go on to user mode) when there is a boot archive.
pub fn run(board: &Board) {
    let tests = [
        boot::TESTS,
        pages::TESTS,
        paging::TESTS,
        exceptions::TESTS,
        vmo::TESTS,
        kcheck::TESTS,
    ]
    .concat();
    let mut passed = 0;
    let mut failed = 0;
    let mut skipped = 0;
    for (name, test) in tests {
        let result = test(board);
        match (result, SKIPPED.lock().take()) {
            (Ok(()), Some(why)) => {
                skipped += 1;
                println!("test {name} ... skipped: {why}");
            }
            (Ok(()), None) => {
                passed += 1;
                println!("test {name} ... ok");
            }
            (Err(why), _) => {
                failed += 1;
                println!("test {name} ... FAILED: {why}");
            }
        }
    }
    if skipped != 0 {
        println!("ktest: {skipped} skipped (this machine lacks what they test)");
    }
    println!("ktest: {passed} passed, {failed} failed");
    crate::KTEST_FAILED.store(failed, core::sync::atomic::Ordering::Relaxed);
    if board.info.initrd.is_none() {
        arch::semihosting::exit(if failed == 0 { 0 } else { 1 });
        // Only reached without a semihosting host.
        arch::cpu::halt()
    }
}
