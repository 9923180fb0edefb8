//! The kernel console and the `log` backend: the UART boot chose from the device tree (a PL011
//! or the Pi's mini UART), or semihosting when there is none (or before it is known).
//!
//! # Locking
//! [`CONSOLE`] is the last lock: anything may print with any other lock held, from thread
//! context or from the IRQ handler, so it is taken with IRQs masked ([`with_console`]) and
//! nothing nests inside it but the UART (or semihosting) and the formatting of what is
//! printed. That formatting runs under it: a `Debug` or `Display` impl that takes a lock
//! (`ObjectBase`'s takes its signal state, `HandleTable`'s its table) nests that lock inside
//! the console's, so nothing may print such a value while holding that same lock. Printed
//! bytes from user space are copied into a kernel buffer first: no user memory is touched
//! under it. [`OWNER`] is not a lock: it records the holder, so that this CPU's own print,
//! abandoned by a fatal exception or a panic in its middle, is taken over.

use arch::devicetree::ConsoleKind;
use arch::uart::{MiniUart, Pl011};
use core::fmt::Write;
use core::sync::atomic::{AtomicU64, Ordering};

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

/// The console. Lock: taken with IRQs masked ([`with_console`]); nothing nests inside it but
/// the UART's registers; taken last, by anything that prints (with any other lock held).
static CONSOLE: spin::Mutex<Console> = spin::Mutex::new(Console {
    sink: Sink::Semihosting,
});

/// The CPU holding [`CONSOLE`] (its MPIDR affinity plus one), 0 while nobody does. Written
/// only by the holder.
static OWNER: AtomicU64 = AtomicU64::new(0);

/// This CPU, as [`OWNER`] records it.
fn this_cpu() -> u64 {
    (arch::cpu::mpidr() & 0x00ff_ffff) + 1
}

/// Runs `f` on the console with IRQs masked, waiting while another CPU prints. If the lock
/// is held by this very CPU, the print was interrupted by a fatal exception or a panic in
/// its middle (IRQs are masked while it is held, and nothing else runs on the CPU): the
/// interrupted print never resumes, so the lock is taken over rather than deadlocking.
fn with_console<R>(f: impl FnOnce(&mut Console) -> R) -> R {
    let irqs_were_on = arch::cpu::disable_irqs();
    let me = this_cpu();
    let mut guard = match CONSOLE.try_lock() {
        Some(guard) => guard,
        None if OWNER.load(Ordering::Acquire) == me => {
            // SAFETY: the holder is this CPU's own interrupted print, which will not run
            // again (see above): nobody else uses the console it was writing to.
            unsafe { CONSOLE.force_unlock() };
            CONSOLE.lock()
        }
        // Another CPU prints: its line goes out whole first.
        None => CONSOLE.lock(),
    };
    OWNER.store(me, Ordering::Release);
    let result = f(&mut guard);
    OWNER.store(0, Ordering::Release);
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
