//! Memory management for the kernel: physical memory maps, the physical page pool and the
//! kernel heap.
//!
//! `memmap` and `pool` never allocate, because they run before the kernel heap exists; `heap`
//! is the heap itself and grows by taking pages from the pool.
#![cfg_attr(not(test), no_std)]
#![deny(clippy::undocumented_unsafe_blocks, unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

pub mod heap;
pub mod memmap;
pub mod pool;

/// Size of a page frame in bytes (4 KiB translation granule).
pub const PAGE_SIZE: usize = 4096;
/// log2 of [`PAGE_SIZE`].
pub const PAGE_SHIFT: u32 = 12;

const _: () = assert!(1 << PAGE_SHIFT == PAGE_SIZE);
