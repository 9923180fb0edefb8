//! The kernel console and the `log` backend: the UART boot chose from the device tree (a PL011
//! or the Pi's mini UART), or semihosting when there is none (or before it is known).

use arch::devicetree::ConsoleKind;
use arch::uart::{MiniUart, Pl011};
use core::fmt::Write;

enum Sink {
    Semihosting,
    Pl011(Pl011),
    MiniUart(MiniUart),
}

struct Console {
    sink: Sink,
}

impl Write for Console {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        match &mut self.sink {
            Sink::Pl011(uart) => uart.write_bytes(s.as_bytes()),
            Sink::MiniUart(uart) => uart.write_bytes(s.as_bytes()),
            Sink::Semihosting => {
                arch::semihosting::write_str(s);
            }
        }
        Ok(())
    }
}

static CONSOLE: spin::Mutex<Console> = spin::Mutex::new(Console {
    sink: Sink::Semihosting,
});

/// Runs `f` on the console with IRQs masked. If the lock is held by code this CPU interrupted
/// (a fault or panic in the middle of a print), it is taken over rather than deadlocking:
/// there is one CPU, so the holder cannot be running elsewhere.
fn with_console<R>(f: impl FnOnce(&mut Console) -> R) -> R {
    let irqs_were_on = arch::cpu::disable_irqs();
    let mut guard = match CONSOLE.try_lock() {
        Some(guard) => guard,
        None => {
            // SAFETY: single CPU with IRQs masked: whoever holds the lock was interrupted by
            // us and will not touch the console again before we return.
            unsafe { CONSOLE.force_unlock() };
            CONSOLE.lock()
        }
    };
    let result = f(&mut guard);
    drop(guard);
    if irqs_were_on {
        arch::cpu::enable_irqs();
    }
    result
}

/// Switches the console to the UART of kind `kind` at virtual address `base`; false (and
/// no change) for a kind without a driver.
///
/// # Safety
/// `base` must be that UART's registers, mapped as device memory, used by nothing else.
pub unsafe fn use_uart(kind: ConsoleKind, base: usize) -> bool {
    let sink = match kind {
        // SAFETY: forwarded from the caller.
        ConsoleKind::Pl011 => unsafe { Pl011::new(base) }.map(Sink::Pl011),
        // SAFETY: forwarded from the caller.
        ConsoleKind::Bcm2835Aux => unsafe { MiniUart::new(base) }.map(Sink::MiniUart),
        ConsoleKind::Other => None,
    };
    match sink {
        Some(sink) => {
            with_console(|console| console.sink = sink);
            true
        }
        None => false,
    }
}

pub fn print(args: core::fmt::Arguments<'_>) {
    with_console(|console| {
        let _ = console.write_fmt(args);
    });
}

#[macro_export]
macro_rules! println {
    () => ($crate::console::print(format_args!("\n")));
    ($($arg:tt)*) => ($crate::console::print(format_args!("{}\n", format_args!($($arg)*))));
}

struct Logger;

impl log::Log for Logger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let micros = crate::uptime_micros();
        let level = match record.level() {
            log::Level::Error => "ERROR ",
            log::Level::Warn => "WARN ",
            log::Level::Info => "",
            log::Level::Debug => "debug ",
            log::Level::Trace => "trace ",
        };
        print(format_args!(
            "[{:5}.{:06}] {level}{}\n",
            micros / 1_000_000,
            micros % 1_000_000,
            record.args()
        ));
    }

    fn flush(&self) {}
}

static LOGGER: Logger = Logger;

pub fn init_logger() {
    // A second call (there is none) would fail harmlessly.
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(log::LevelFilter::Info);
}
