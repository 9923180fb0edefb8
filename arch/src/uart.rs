//! PL011 console through the `arm-pl011-uart` crate. The UART keeps the line settings the
//! firmware (or QEMU) gave it; the kernel only sends bytes.

use arm_pl011_uart::{PL011Registers, Uart, UniqueMmioPointer};
use core::ptr::NonNull;

pub struct Pl011 {
    uart: Uart<'static>,
}

impl Pl011 {
    /// # Safety
    /// `base` must be the virtual address of a PL011's registers, mapped as device memory and
    /// used by nothing else.
    pub unsafe fn new(base: usize) -> Option<Pl011> {
        let regs = NonNull::new(base as *mut PL011Registers)?;
        // SAFETY: the caller vouches for the mapping and exclusivity.
        let uart = Uart::new(unsafe { UniqueMmioPointer::new(regs) });
        Some(Pl011 { uart })
    }

    fn put(&mut self, byte: u8) {
        while self.uart.is_tx_fifo_full() {}
        self.uart.write_word(byte);
    }

    /// Sends `bytes`, turning "\n" into "\r\n" for terminals.
    pub fn write_bytes(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            if byte == b'\n' {
                self.put(b'\r');
            }
            self.put(byte);
        }
    }
}

impl core::fmt::Write for Pl011 {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        self.write_bytes(s.as_bytes());
        Ok(())
    }
}
