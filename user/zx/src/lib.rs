//! User-space Zircon API for programs of this kernel.
//!
//! - [`sys`]: every system call as `unsafe extern "C" fn zx_*`, implemented by tiny `svc #0`
//!   stubs exported as C symbols (the same objects serve C through `libzircon.a`), plus the
//!   ABI constants and types of the `abi` crate.
//! - A safe API in the shape of Fuchsia's `zx` crate: [`Handle`], [`Vmo`], [`Vmar`],
//!   [`Channel`], [`Process`], [`Thread`], [`Time`], [`Duration`], [`Status`], [`Rights`],
//!   [`Signals`] and the option types.
//! - The program runtime: [`entry!`] defines `_start`, which reads the bootstrap message
//!   (`user/README.md`), sets up the heap ([`alloc`] works) and calls `main`; [`startup`]
//!   hands out the startup handles; [`println!`] prints through `zx_debug_write`; a panic
//!   prints its message and exits the process with -1.
//! - [`sync`]: [`sync::Mutex`] and [`sync::Condvar`] on futexes.
//! - The launcher: [`process::spawn`] starts a program of the boot archive.
//!
//! Host builds (`cargo test -p zx`) compile only the pure parts and their unit tests: the
//! system-call stubs, runtime, allocator and panic handler exist only for
//! `target_os = "none"`.
#![cfg_attr(not(test), no_std)]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

extern crate alloc;

pub mod bootfs;
mod bootstrap;
mod channel;
mod elf;
pub mod executor;
mod flags;
mod handle;
// The allocator is only installed on the target; host builds keep it for its unit tests.
#[cfg_attr(not(target_os = "none"), allow(dead_code))]
mod heap;
mod port;
pub mod print;
pub mod process;
pub mod runtime;
mod socket;
pub mod startup;
pub mod sync;
pub mod sys;
mod task;
pub mod thread;
mod time;
mod timer;
mod vmar;
mod vmo;

pub use abi::{Rights, Signals, Status};
pub use channel::{Channel, MessageBuf, ReadError as ChannelReadError};
pub use handle::{AsHandleRef, Handle, HandleBased, HandleBasicInfo, Koid, ObjectType, Unowned};
pub use port::{
    object_wait_many, Event, EventPair, Packet, PacketContents, Port, WaitAsyncOpts, WaitItem,
};
pub use socket::Socket;
pub use task::{Job, Process, Thread};
pub use time::{Duration, MonotonicDuration, MonotonicInstant, Time};
pub use timer::{cprng_add_entropy, cprng_draw, Slack as TimerSlack, Timer};
pub use vmar::{Vmar, VmarFlags};
pub use vmo::{Vmo, VmoChildOptions, VmoCloneOptions, VmoOp, VmoOptions};

/// The info records of `zx_object_get_info`, as the kernel writes them.
pub use abi::{
    zx_info_handle_basic_t, zx_info_handle_count_t, zx_info_kmem_stats_t, zx_info_process_t,
    zx_info_timer_t, zx_info_vmar_t, zx_info_vmo_t,
};

/// `Result` of this crate's calls: the value, or the [`Status`] the kernel returned.
pub type Result<T> = core::result::Result<T, Status>;

/// Converts a raw status: `ZX_OK` gives `Ok(())`, anything else `Err(Status)`.
pub fn ok(raw: sys::zx_status_t) -> Result<()> {
    Status::ok(raw)
}

/// The traits of this crate, for `use zx::prelude::*`.
pub mod prelude {
    pub use crate::{AsHandleRef, HandleBased};
}

/// The page size (`ZX_PAGE_SIZE`, 4 KiB).
pub const PAGE_SIZE: usize = abi::ZX_PAGE_SIZE;

/// Writes `bytes` to the debug console (`zx_debug_write`), in pieces if needed.
pub fn debug_write(bytes: &[u8]) {
    print::write_bytes(bytes);
}

/// Sleeps until `deadline` (`zx_nanosleep`).
pub fn nanosleep(deadline: Time) {
    deadline.sleep();
}

/// System-wide memory figures (`ZX_INFO_KMEM_STATS`). This kernel has no resource objects;
/// the query is made on the process's own handle.
pub fn kmem_stats() -> Result<zx_info_kmem_stats_t> {
    Process::self_handle().get_info::<zx_info_kmem_stats_t>(abi::ZX_INFO_KMEM_STATS)
}
