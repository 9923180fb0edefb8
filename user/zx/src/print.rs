//! Console output through `zx_debug_write`: [`print!`](crate::print) and
//! [`println!`](crate::println).

use core::fmt;

use crate::sys;

/// Writes `bytes` to the console in pieces of at most 4 KiB.
pub(crate) fn write_bytes(bytes: &[u8]) {
    for chunk in bytes.chunks(4096) {
        // SAFETY: `chunk` is readable for its length.
        unsafe {
            sys::zx_debug_write(chunk.as_ptr(), chunk.len());
        }
    }
}

/// A `fmt::Write` that collects output in a stack buffer and writes it to the console when
/// full, on [`flush`](DebugWriter::flush) and on drop. One `print!` of up to 512 bytes is one
/// `zx_debug_write`, so lines of different threads do not interleave mid-line.
pub struct DebugWriter {
    buf: [u8; 512],
    len: usize,
}

impl DebugWriter {
    /// An empty writer.
    pub const fn new() -> DebugWriter {
        DebugWriter {
            buf: [0; 512],
            len: 0,
        }
    }

    /// Writes what is buffered.
    pub fn flush(&mut self) {
        if self.len > 0 {
            write_bytes(&self.buf[..self.len]);
            self.len = 0;
        }
    }
}

impl Default for DebugWriter {
    fn default() -> DebugWriter {
        DebugWriter::new()
    }
}

impl fmt::Write for DebugWriter {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let mut rest = s.as_bytes();
        while !rest.is_empty() {
            if self.len == self.buf.len() {
                self.flush();
            }
            let n = rest.len().min(self.buf.len() - self.len);
            self.buf[self.len..self.len + n].copy_from_slice(&rest[..n]);
            self.len += n;
            rest = &rest[n..];
        }
        Ok(())
    }
}

impl Drop for DebugWriter {
    fn drop(&mut self) {
        self.flush();
    }
}

/// Implementation of [`print!`](crate::print).
#[doc(hidden)]
pub fn _print(args: fmt::Arguments<'_>) {
    let mut w = DebugWriter::new();
    let _ = fmt::Write::write_fmt(&mut w, args);
}

/// Prints to the debug console.
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => {
        $crate::print::_print(format_args!($($arg)*))
    };
}

/// Prints to the debug console, with a newline.
#[macro_export]
macro_rules! println {
    () => {
        $crate::print::_print(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::print::_print(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// Same as [`println!`](crate::println): there is one console.
#[macro_export]
macro_rules! eprintln {
    ($($arg:tt)*) => {
        $crate::println!($($arg)*)
    };
}
