//! Starting secondary CPUs: the block the boot assembly's `secondary_entry` reads with its
//! MMU off (`secondary_boot` in `asm/boot.S`, whose offsets match [`SecondaryBoot`]), and the
//! spin-table release.
//!
//! A secondary finds its slot by its MPIDR affinity, so CPUs may arrive in any order, late,
//! or not at all: a slot is written once, before its CPU is started, and never reused, so a
//! CPU that arrives after the kernel gave up on it finds its own stack and nobody else's.

use crate::mmu;

/// Slots in `secondary_boot` (the boot CPU's included: it has none, but the kernel's CPU
/// indices run up to this).
pub const MAX_CPUS: usize = 4;

/// The MPIDR_EL1 bits that name a CPU (Aff3, Aff2, Aff1, Aff0).
pub const MPIDR_AFFINITY: u64 = 0xff_00ff_ffff;

#[repr(C)]
struct Slot {
    /// MPIDR affinity of the CPU this slot is for; all ones while unused.
    mpidr: u64,
    stack_top: u64,
    index: u64,
}

/// What a secondary CPU reads before its MMU is on.
#[repr(C)]
struct SecondaryBoot {
    /// Identity tables for the instant the MMU goes on (the boot CPU's, still in .bss).
    ttbr0: u64,
    /// The kernel's final tables.
    ttbr1: u64,
    slots: [Slot; MAX_CPUS],
}

extern "C" {
    /// In `.data`, written only here, by the boot CPU, before the CPU a slot names starts.
    static mut secondary_boot: SecondaryBoot;
    static secondary_entry: u8;
    static boot_l0_lo: u8;
}

/// The physical address a secondary CPU is started at.
pub fn entry_pa() -> u64 {
    mmu::image_virt_to_phys(&raw const secondary_entry as usize)
}

/// Fills in slot `slot` for the CPU `mpidr`, which will run the kernel's
/// `kernel_secondary_entry(index)` on the stack below `stack_top`, and writes the block back
/// to the point of coherency, where a CPU with its caches off reads it.
///
/// # Safety
/// Only the boot CPU calls this, one slot at a time, never for a slot used before, and before
/// the CPU is started; `stack_top` is the top of a mapped kernel stack no one else uses, kept
/// for as long as the CPU runs.
pub unsafe fn prepare(slot: usize, mpidr: u64, stack_top: usize, index: usize) {
    let block = &raw mut secondary_boot;
    // SAFETY: the block is a static only the boot CPU writes (the caller's promise), and no
    // CPU reads this slot before it is started below in the caller; the other fields are
    // written the same way every time.
    unsafe {
        (*block).ttbr0 = mmu::image_virt_to_phys(&raw const boot_l0_lo as usize);
        (*block).ttbr1 = mmu::kernel_root_pa();
        (*block).slots[slot] = Slot {
            mpidr: mpidr & MPIDR_AFFINITY,
            stack_top: stack_top as u64,
            index: index as u64,
        };
    }
    crate::cache::clean_range(block as usize, core::mem::size_of::<SecondaryBoot>());
}

/// Releases a CPU waiting in the firmware's spin table: writes `entry` to its
/// `cpu-release-addr` (physical), cleans that line to the point of coherency (the waiting CPU
/// reads with its caches off) and sends an event.
///
/// # Safety
/// `release_pa` is the device tree's `cpu-release-addr` of a CPU that waits on it, in RAM the
/// linear map covers, a word nothing else uses.
pub unsafe fn release_spin_table(release_pa: u64, entry: u64) {
    let va = mmu::phys_to_virt(release_pa);
    // SAFETY: the caller's promise: a mapped, aligned firmware word meant for this write.
    unsafe { core::ptr::write_volatile(va as *mut u64, entry) };
    crate::cache::clean_range(va, 8);
    // SAFETY: an event for every CPU waiting in `wfe`; changes no state.
    unsafe { core::arch::asm!("dsb sy", "sev", options(nostack)) };
}
