//! Console UARTs: the PL011 (through the `arm-pl011-uart` crate) and the BCM2835 mini UART.
//! Both keep the line settings the firmware (or QEMU) gave them; the kernel only sends bytes.
//!
//! A UART that never drains (not clocked, or switched off by the firmware) must not hang the
//! kernel: each byte waits at most [`STALL_MICROS`], and once a wait has timed out the UART is
//! treated as stalled, so later bytes are dropped at once until it accepts one again.

use arm_pl011_uart::{PL011Registers, Uart, UniqueMmioPointer};
use core::ptr::NonNull;
use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::register_structs;
use tock_registers::registers::{ReadOnly, ReadWrite};

/// How long one byte may wait for room: many times a byte's time at 9600 baud.
pub const STALL_MICROS: u64 = 20_000;

/// Waits until `ready` holds or the stall timeout passes; a stalled UART is polled once.
fn wait_ready(stalled: &mut bool, mut ready: impl FnMut() -> bool) -> bool {
    if ready() {
        *stalled = false;
        return true;
    }
    if *stalled {
        return false;
    }
    let frequency = crate::cpu::counter_frequency().max(1);
    let start = crate::cpu::counter();
    let limit = frequency.saturating_mul(STALL_MICROS) / 1_000_000;
    while crate::cpu::counter().wrapping_sub(start) < limit {
        if ready() {
            return true;
        }
        core::hint::spin_loop();
    }
    *stalled = true;
    false
}

pub struct Pl011 {
    uart: Uart<'static>,
    stalled: bool,
}

impl Pl011 {
    /// # Safety
    /// `base` must be the virtual address of a PL011's registers, mapped as device memory and
    /// used by nothing else.
    pub unsafe fn new(base: usize) -> Option<Pl011> {
        let regs = NonNull::new(base as *mut PL011Registers)?;
        // SAFETY: the caller vouches for the mapping and exclusivity.
        let uart = Uart::new(unsafe { UniqueMmioPointer::new(regs) });
        Some(Pl011 {
            uart,
            stalled: false,
        })
    }

    fn put(&mut self, byte: u8) {
        let uart = &mut self.uart;
        if wait_ready(&mut self.stalled, || !uart.is_tx_fifo_full()) {
            self.uart.write_word(byte);
        }
    }

    /// Sends `bytes`, turning "\n" into "\r\n" for terminals.
    pub fn write_bytes(&mut self, bytes: &[u8]) {
        for_terminal(bytes, |byte| self.put(byte));
    }
}

register_structs! {
    MiniUartRegisters {
        (0x00 => io: ReadWrite<u32>),
        (0x04 => _reserved0),
        (0x14 => lsr: ReadOnly<u32>),
        (0x18 => @END),
    }
}

/// AUX_MU_LSR: the transmit FIFO can take at least one byte.
const LSR_TX_EMPTY: u32 = 1 << 5;

/// The BCM2835 mini UART ("brcm,bcm2835-aux-uart"), the Pi's `uart1`: the header console of
/// the mainline device trees. Its baud rate follows the VPU clock, which the firmware's
/// `enable_uart=1` fixes.
pub struct MiniUart {
    regs: &'static MiniUartRegisters,
    stalled: bool,
}

// SAFETY: the registers are only reached through `&mut MiniUart`, which the console keeps
// behind a lock.
unsafe impl Send for MiniUart {}

impl MiniUart {
    /// # Safety
    /// `base` must be the virtual address of the mini UART's registers (the node's `reg`,
    /// which starts at AUX_MU_IO), mapped as device memory and used by nothing else.
    pub unsafe fn new(base: usize) -> Option<MiniUart> {
        if base == 0 {
            return None;
        }
        // SAFETY: the caller vouches for the mapping and exclusivity.
        let regs = unsafe { &*(base as *const MiniUartRegisters) };
        Some(MiniUart {
            regs,
            stalled: false,
        })
    }

    fn put(&mut self, byte: u8) {
        let regs = self.regs;
        if wait_ready(&mut self.stalled, || regs.lsr.get() & LSR_TX_EMPTY != 0) {
            regs.io.set(u32::from(byte));
        }
    }

    /// Sends `bytes`, turning "\n" into "\r\n" for terminals.
    pub fn write_bytes(&mut self, bytes: &[u8]) {
        for_terminal(bytes, |byte| self.put(byte));
    }
}

fn for_terminal(bytes: &[u8], mut put: impl FnMut(u8)) {
    for &byte in bytes {
        if byte == b'\n' {
            put(b'\r');
        }
        put(byte);
    }
}
