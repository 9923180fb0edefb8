//! aarch64 support: boot entry, exception vectors, MMU, interrupt controllers, timer, UART,
//! and the device-tree reader that tells the kernel what board it is on.
//!
//! The device-tree reader is plain logic and is tested on the host; everything that touches
//! system registers only builds for aarch64.
#![cfg_attr(not(test), no_std)]
#![deny(clippy::undocumented_unsafe_blocks, unsafe_op_in_unsafe_fn)]

pub mod devicetree;
