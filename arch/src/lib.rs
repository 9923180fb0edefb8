//! aarch64 support: boot entry, exception vectors, thread context switch, MMU, interrupt controllers, timer, UART,
//! and the device-tree reader that tells the kernel what board it is on.
//!
//! The device-tree reader, ESR decoding, the user page-table descriptors and walker, and the
//! cache-line arithmetic are plain logic and are tested on the host; everything that
//! touches system registers only builds for aarch64.
#![cfg_attr(not(test), no_std)]
#![deny(clippy::undocumented_unsafe_blocks, unsafe_op_in_unsafe_fn)]

pub mod cache;
pub mod devicetree;
pub mod esr;
pub mod user_mmu;

#[cfg(all(target_arch = "aarch64", target_os = "none"))]
pub mod bcm2836;
#[cfg(all(target_arch = "aarch64", target_os = "none"))]
pub mod context;
#[cfg(all(target_arch = "aarch64", target_os = "none"))]
pub mod cpu;
#[cfg(all(target_arch = "aarch64", target_os = "none"))]
pub mod exception;
#[cfg(all(target_arch = "aarch64", target_os = "none"))]
pub mod gic;
#[cfg(all(target_arch = "aarch64", target_os = "none"))]
pub mod mmu;
#[cfg(all(target_arch = "aarch64", target_os = "none"))]
pub mod semihosting;
#[cfg(all(target_arch = "aarch64", target_os = "none"))]
pub mod smp;
#[cfg(all(target_arch = "aarch64", target_os = "none"))]
pub mod timer;
#[cfg(all(target_arch = "aarch64", target_os = "none"))]
pub mod uart;

#[cfg(all(target_arch = "aarch64", target_os = "none"))]
core::arch::global_asm!(include_str!("asm/boot.S"));
