//! `zx_debug_write`, `zx_debug_send_command`, `zx_clock_get_monotonic`,
//! `zx_system_get_page_size`, `zx_nanosleep`.

use crate::usercopy::{In, UserSlice};
use core::fmt;
use object::ZxResult;

/// Most bytes one `zx_debug_write` prints; the rest is dropped (Zircon also truncates).
const DEBUG_WRITE_MAX: usize = 4096;

/// Bytes shown as text: valid UTF-8 as is, anything else as U+FFFD.
struct Text<'a>(&'a [u8]);

impl fmt::Display for Text<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for chunk in self.0.utf8_chunks() {
            f.write_str(chunk.valid())?;
            if !chunk.invalid().is_empty() {
                f.write_str("\u{fffd}")?;
            }
        }
        Ok(())
    }
}

/// Longest command `zx_debug_send_command` takes.
const DEBUG_COMMAND_MAX: usize = 64;

/// `zx_debug_send_command`: a command for the kernel's debug facilities, only on a kernel
/// booted with `kdebug` (else NOT_SUPPORTED). The resource is not checked: the kernel has no
/// resource objects yet (a boot argument stands in for the root resource). Commands:
/// - `failalloc N`: the N-th decision from now on whether a program's request may take pages
///   says no, once (`failalloc 0` disarms); the failing-allocation sweep's knob.
/// - `failalloc?`: OK if the failure last armed happened, SHOULD_WAIT if it did not (yet).
///
/// INVALID_ARGS for an unreadable buffer or an unknown command, OUT_OF_RANGE for one longer
/// than [`DEBUG_COMMAND_MAX`].
pub(super) fn debug_send_command(_resource: u32, buffer: UserSlice<In>) -> ZxResult {
    use object::Status;
    if !crate::kdebug() {
        return Err(Status::NOT_SUPPORTED);
    }
    let len = buffer.len();
    if len > DEBUG_COMMAND_MAX {
        return Err(Status::OUT_OF_RANGE);
    }
    let mut text = [0u8; DEBUG_COMMAND_MAX];
    buffer.read(&mut text[..len])?;
    let command = core::str::from_utf8(&text[..len]).map_err(|_| Status::INVALID_ARGS)?;
    let command = command.trim();
    if command == "failalloc?" {
        return if crate::memory::injected_failure_fired() {
            Ok(())
        } else {
            Err(Status::SHOULD_WAIT)
        };
    }
    if let Some(nth) = command.strip_prefix("failalloc ") {
        let nth = nth.trim().parse().map_err(|_| Status::INVALID_ARGS)?;
        crate::memory::fail_spend_after(nth);
        return Ok(());
    }
    Err(Status::INVALID_ARGS)
}

/// Set by the `crash-hooks` image's `ktest.crash=in-syscall`: the next `zx_debug_write`
/// panics, so the runner can check that a fatal error's report names the call.
#[cfg(feature = "crash-hooks")]
static PANIC_IN_DEBUG_WRITE: core::sync::atomic::AtomicBool =
    core::sync::atomic::AtomicBool::new(false);

/// Makes the next `zx_debug_write` panic (`ktest.crash=in-syscall`).
#[cfg(feature = "crash-hooks")]
pub fn panic_in_debug_write() {
    PANIC_IN_DEBUG_WRITE.store(true, core::sync::atomic::Ordering::Relaxed);
}

/// `zx_debug_write`: prints up to [`DEBUG_WRITE_MAX`] bytes on the console.
/// The whole range must be readable user memory (else INVALID_ARGS, nothing printed), also
/// the part beyond what is printed.
pub(super) fn debug_write(buffer: UserSlice<In>) -> ZxResult {
    #[cfg(feature = "crash-hooks")]
    if PANIC_IN_DEBUG_WRITE.load(core::sync::atomic::Ordering::Relaxed) {
        panic!("deliberate panic in a system call");
    }
    buffer.probe()?;
    let len = buffer.len().min(DEBUG_WRITE_MAX);
    let mut text = [0u8; DEBUG_WRITE_MAX];
    buffer.read(&mut text[..len])?;
    crate::console::print(format_args!("{}", Text(&text[..len])));
    Ok(())
}

pub(super) fn clock_get_monotonic() -> i64 {
    crate::task::now_ns()
}

pub(super) fn system_get_page_size() -> u32 {
    abi::ZX_PAGE_SIZE as u32
}

/// `zx_nanosleep`: a deadline in the past returns at once.
pub(super) fn nanosleep(deadline: i64) -> ZxResult {
    crate::task::sleep_until(deadline);
    Ok(())
}
