//! Kernel objects: VMOs with copy-on-write clones, snapshots and slices; VMAR bookkeeping;
//! handles and handle tables with rights; signals and waiters; channels.
//!
//! Plain logic with no `unsafe` and no knowledge of aarch64: physical pages come through
//! [`frames::FrameAllocator`], page tables through [`vmar::AddressSpace`], so everything here
//! is tested on the host (`cargo test -p object`).
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub use abi::{Rights, Signals, Status};

/// Result of a kernel-object operation: a value or a Zircon status.
pub type ZxResult<T = ()> = Result<T, Status>;

pub mod bootfs;
pub mod channel;
pub mod frames;
pub mod handle;
pub mod koid;
pub mod object;
pub mod pagemap;
pub mod preempt;
pub mod signal;
pub mod vmar;
pub mod vmo;
pub mod wait;
