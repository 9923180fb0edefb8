//! The system-call ABI shared by the kernel and user space.
//!
//! Everything here is a number, a type or a memory layout that crosses the user/kernel
//! boundary; the contract is `shared/spec/zx-abi.md`, which follows Zircon. The same values
//! exist for C in `user/include/zircon/*.h`, and `tests/c_headers.rs` compiles a C file that
//! checks every one of them against this crate.
//!
//! The crate has three layers:
//! - C-style names (`zx_status_t`, `ZX_ERR_NO_MEMORY`, `zx_info_vmo_t`, ...) at the crate
//!   root, spelled exactly as in C. All constants are declared in one table
//!   ([`ALL_CONSTANTS`]) so that none can be left out of the C comparison.
//! - Rust newtypes over the raw numbers: [`Status`], [`Rights`], [`Signals`].
//! - [`syscall::Syscall`], the system-call numbers.
//!
//! The info structs are plain `repr(C)` data; [`AbiStruct::to_bytes`] produces their exact C
//! memory image (padding zeroed) without `unsafe`, for copying out to user memory.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![allow(non_camel_case_types)]

mod bitset;
pub mod bootfs;
pub mod bootstrap;
mod consts;
mod info;
mod rights;
mod signals;
mod status;
pub mod syscall;

pub use consts::*;
pub use info::{
    zx_channel_call_args_t, zx_info_handle_basic_t, zx_info_handle_count_t, zx_info_job_t,
    zx_info_kmem_stats_t, zx_info_process_t, zx_info_socket_t, zx_info_thread_t, zx_info_timer_t,
    zx_info_vmar_t, zx_info_vmo_t, zx_packet_interrupt_t, zx_packet_signal_t, zx_port_packet_t,
    zx_wait_item_t, AbiStruct,
};
pub use rights::Rights;
pub use signals::Signals;
pub use status::{ok, Status};
pub use syscall::Syscall;

/// A status code: `ZX_OK` (0) or a negative `ZX_ERR_*` value.
pub type zx_status_t = i32;
/// A handle value as user space sees it. `ZX_HANDLE_INVALID` is 0.
pub type zx_handle_t = u32;
/// A bit set of `ZX_RIGHT_*`.
pub type zx_rights_t = u32;
/// A bit set of signals (`ZX_*_SIGNAL*`, `ZX_CHANNEL_*`, ...).
pub type zx_signals_t = u32;
/// Kernel object id; unique for the life of the system, never reused. 0 means "none".
pub type zx_koid_t = u64;
/// A virtual address in the caller's address space.
pub type zx_vaddr_t = usize;
/// A physical address.
pub type zx_paddr_t = usize;
/// An offset into a VMO.
pub type zx_off_t = u64;
/// A point in time on the monotonic clock, in nanoseconds.
pub type zx_time_t = i64;
/// A span of time in nanoseconds.
pub type zx_duration_t = i64;
/// An object type (`ZX_OBJ_TYPE_*`).
pub type zx_obj_type_t = u32;
/// Options of the `zx_vmar_*` calls (`ZX_VM_*`).
pub type zx_vm_option_t = u32;
/// A topic of `zx_object_get_info` (`ZX_INFO_*`).
pub type zx_object_info_topic_t = u32;
/// A futex: a 32-bit word in user memory, 4-byte aligned.
pub type zx_futex_t = i32;
/// A clock id (`ZX_CLOCK_MONOTONIC`).
pub type zx_clock_t = u32;
/// A `zx_channel_call` transaction id: the first four bytes of a message.
pub type zx_txid_t = u32;

/// One entry of [`ALL_CONSTANTS`]: an ABI constant by its C name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AbiConstant {
    /// The name, identical in Rust and C (`"ZX_ERR_NO_MEMORY"`).
    pub name: &'static str,
    /// The value, widened without loss.
    pub value: i128,
    /// The type the constant has, as written in the Rust declaration; it is either a C
    /// typedef name (`zx_rights_t`) or a Rust primitive (`u32`, `u64`, `i64`, `usize`).
    pub rust_type: &'static str,
}
