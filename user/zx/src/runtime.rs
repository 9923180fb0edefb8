//! The program runtime: what runs between the kernel's jump to `_start` and `main`.
//!
//! [`entry!`](crate::entry) (Rust) and `libzircon`'s crt0 (C) both call [`init`] with the
//! bootstrap channel the kernel put in `x0`. It reads the one message into a static buffer
//! (no heap is needed for that), records the startup handles, closes the channel and keeps
//! the argument strings in place for the rest of the program. The heap maps its first chunk
//! on the first allocation, through the root VMAR handle recorded here.

use alloc::vec::Vec;
use core::cell::UnsafeCell;
use core::ffi::c_char;
use core::sync::atomic::{AtomicBool, Ordering};

use crate::bootstrap;
use crate::startup::{self, MAX_HANDLES};
use crate::sys::{self, zx_handle_t, ZX_HANDLE_INVALID};

/// Largest bootstrap message (`ZX_CHANNEL_MAX_MSG_BYTES`).
const MAX_BYTES: usize = sys::ZX_CHANNEL_MAX_MSG_BYTES as usize;

/// Where the bootstrap message is read to. The extra bytes past `MAX_BYTES` stay zero, so
/// every argument string is NUL-terminated even if the message's last one is not.
struct BootBuffer {
    bytes: UnsafeCell<[u8; MAX_BYTES + 8]>,
    handles: UnsafeCell<[zx_handle_t; MAX_HANDLES]>,
}

// SAFETY: written once by `init` (guarded by `INIT_STARTED`) before anything reads it; only
// read afterwards.
unsafe impl Sync for BootBuffer {}

static BOOT: BootBuffer = BootBuffer {
    bytes: UnsafeCell::new([0; MAX_BYTES + 8]),
    handles: UnsafeCell::new([ZX_HANDLE_INVALID; MAX_HANDLES]),
};
static INIT_STARTED: AtomicBool = AtomicBool::new(false);

/// The message as read: (bytes, length). Empty before `init` or if reading failed.
static MESSAGE_LEN: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(0);

fn message() -> &'static [u8] {
    let len = MESSAGE_LEN.load(Ordering::Acquire);
    // SAFETY: `init` wrote the first `len` bytes before publishing `len`; the buffer is never
    // written again.
    unsafe { &(&*BOOT.bytes.get())[..len] }
}

/// Reads the bootstrap message from `bootstrap` (then closes it), records the startup
/// handles and the arguments. Runs once; later calls do nothing. Problems are reported on
/// the console and leave the program without handles or arguments.
///
/// # Safety
/// Call once, from the entry point, before any other thread exists.
pub unsafe fn init(bootstrap: zx_handle_t) {
    if INIT_STARTED.swap(true, Ordering::AcqRel) {
        return;
    }
    let (mut num_bytes, mut num_handles) = (0u32, 0u32);
    // SAFETY: the buffers are only written here, once; their sizes are passed.
    let status = unsafe {
        sys::zx_channel_read(
            bootstrap,
            0,
            BOOT.bytes.get().cast::<u8>(),
            BOOT.handles.get().cast::<zx_handle_t>(),
            MAX_BYTES as u32,
            MAX_HANDLES as u32,
            &mut num_bytes,
            &mut num_handles,
        )
    };
    // SAFETY: the channel was given to the runtime; it is not used again.
    unsafe {
        sys::zx_handle_close(bootstrap);
    }
    if status != sys::ZX_OK {
        crate::println!(
            "runtime: cannot read the bootstrap message: {}",
            sys::Status::from_raw(status)
        );
        return;
    }
    let num_handles = (num_handles as usize).min(MAX_HANDLES);
    // SAFETY: the kernel wrote `num_handles` handles; the buffer is not written again.
    let handles = unsafe { &(&*BOOT.handles.get())[..num_handles] };
    startup::set_handles(handles);
    MESSAGE_LEN.store((num_bytes as usize).min(MAX_BYTES), Ordering::Release);

    let Some(msg) = bootstrap::parse(message()) else {
        crate::println!("runtime: the bootstrap message has no zxstart1 header");
        return;
    };
    let args: Vec<&'static str> = msg
        .args()
        .map(|a| core::str::from_utf8(a).unwrap_or("<not utf-8>"))
        .collect();
    startup::set_args(args.leak());
}

/// `argc` and a NULL-terminated `argv` for C `main`, pointing into the message (allocated
/// once, never freed).
pub fn c_argv() -> (i32, *mut *mut c_char) {
    let mut argv: Vec<*mut c_char> = Vec::new();
    if let Some(msg) = bootstrap::parse(message()) {
        let base = BOOT.bytes.get().cast::<u8>().cast_const();
        argv.extend(
            msg.arg_offsets()
                // Every offset is inside the message buffer, and each string ends with a NUL
                // inside the buffer (the message's or the zero bytes past it).
                .map(|offset| base.wrapping_add(offset).cast::<c_char>().cast_mut()),
        );
    }
    let argc = argv.len() as i32;
    argv.push(core::ptr::null_mut());
    (argc, argv.leak().as_mut_ptr())
}

/// Runs a Rust program: [`init`], `main(args)`, then exits with its return value. Used by
/// [`entry!`](crate::entry).
///
/// # Safety
/// Call once, from `_start`, with the handle the kernel passed in `x0`.
pub unsafe fn start_main(bootstrap: zx_handle_t, main: fn(&[&str]) -> i32) -> ! {
    // SAFETY: forwarded to the caller.
    unsafe { init(bootstrap) };
    let code = main(startup::args());
    exit(i64::from(code))
}

/// Ends the process with `code`.
pub fn exit(code: i64) -> ! {
    crate::Process::exit(code)
}

/// Defines the program entry point `_start` of a Rust program: it reads the bootstrap
/// message, then calls `$main(args: &[&str]) -> i32` and exits the process with its result.
///
/// ```ignore
/// #![no_std]
/// #![no_main]
/// zx::entry!(main);
/// fn main(args: &[&str]) -> i32 { zx::println!("hello from {}", args[0]); 0 }
/// ```
#[macro_export]
macro_rules! entry {
    ($main:path) => {
        /// The program entry point: the kernel jumps here with the bootstrap channel in `x0`.
        ///
        /// # Safety
        /// Only the kernel calls it, once, on a fresh stack.
        #[no_mangle]
        pub unsafe extern "C" fn _start(bootstrap: $crate::sys::zx_handle_t) -> ! {
            // SAFETY: this is the entry point, run once with the kernel's x0.
            unsafe { $crate::runtime::start_main(bootstrap, $main) }
        }
    };
}

/// Prints `PROGRAM: panicked at FILE:LINE:COL: MESSAGE` and exits the process with -1.
/// Formatting uses a stack buffer, never the heap.
#[cfg(all(target_os = "none", not(test)))]
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    use core::fmt::Write;
    static PANICKING: AtomicBool = AtomicBool::new(false);
    if !PANICKING.swap(true, Ordering::AcqRel) {
        let mut w = crate::print::DebugWriter::new();
        let _ = write!(w, "{}: panicked", startup::program_name());
        if let Some(loc) = info.location() {
            let _ = write!(w, " at {}:{}:{}", loc.file(), loc.line(), loc.column());
        }
        let _ = writeln!(w, ": {}", info.message());
        w.flush();
    }
    exit(-1)
}
