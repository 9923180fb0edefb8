//! User address spaces: one TTBR0 page-table tree per process, tagged with an ASID, built
//! with `aarch64-paging` over page-pool pages. Implements the object layer's
//! `AddressSpace`, so VMARs install and remove PTEs through it.
//!
//! The crate's mapping is never "activated" (the scheduler writes TTBR0 itself on every
//! switch), so the crate does no TLB maintenance: this module issues it, by VA and ASID
//! (`tlbi vae1is`, or `aside1is` for large ranges) with `dsb ishst` before and `dsb ish; isb`
//! after.

use crate::memory;
use aarch64_paging::descriptor::{El1Attributes, PhysicalAddress};
use aarch64_paging::paging::{Constraints, El1And0, MemoryRegion, PageTable, Translation, VaRange};
use aarch64_paging::Mapping;
use alloc::vec::Vec;
use arch::mmu;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicU64, Ordering};
use mm::pool::PageUse;
use object::frames::FrameAddr;
use object::vmar::{AddressSpace, MappingPerms};
use object::{Status, ZxResult};

const PAGE: usize = 4096;

/// Page tables come from the page pool, reached through the linear map.
struct PoolTranslation;

impl Translation<El1Attributes> for PoolTranslation {
    fn allocate_table(&mut self) -> (NonNull<PageTable<El1Attributes>>, PhysicalAddress) {
        // `map_page` checks the pool has room before it can get here; the trait has no way
        // to report failure.
        let pa = memory::with_pool(|pool| pool.alloc_zeroed(1, PageUse::PageTable))
            .expect("page-table page (reserve checked by map_page)");
        let va = mmu::phys_to_virt(pa) as *mut PageTable<El1Attributes>;
        (
            NonNull::new(va).expect("linear map address is not null"),
            PhysicalAddress(pa as usize),
        )
    }

    unsafe fn deallocate_table(&mut self, page_table: NonNull<PageTable<El1Attributes>>) {
        let pa = (page_table.as_ptr() as usize - mmu::LINEAR_BASE) as u64;
        let _ = memory::with_pool(|pool| pool.free_pages(pa, 1, PageUse::PageTable));
    }

    fn physical_to_virtual(&self, pa: PhysicalAddress) -> NonNull<PageTable<El1Attributes>> {
        NonNull::new(mmu::phys_to_virt(pa.0 as u64) as *mut PageTable<El1Attributes>)
            .expect("linear map address is not null")
    }
}

/// ASIDs: 0 is the "no process" tag; the rest are handed out and recycled after a TLB flush
/// of the ASID, so a reused tag never meets stale entries.
struct Asids {
    bits: u32,
    free: Vec<u16>,
    next: u32,
}

static ASIDS: spin::Mutex<Asids> = spin::Mutex::new(Asids {
    bits: 8,
    free: Vec::new(),
    next: 1,
});

/// Physical address of an empty top-level table TTBR0 points at when no process runs.
static EMPTY_ROOT: AtomicU64 = AtomicU64::new(0);

/// Enables 16-bit ASIDs where the CPU has them, and TTBR0 walks with an empty table.
pub fn init() -> ZxResult {
    let mmfr0: u64;
    // SAFETY: reading an ID register has no side effects.
    unsafe {
        core::arch::asm!("mrs {}, id_aa64mmfr0_el1", out(reg) mmfr0, options(nomem, nostack))
    };
    let sixteen = (mmfr0 >> 4) & 0xf == 2;
    ASIDS.lock().bits = if sixteen { 16 } else { 8 };
    let empty = memory::with_pool(|pool| pool.alloc_zeroed(1, PageUse::PageTable))
        .map_err(|_| Status::NO_MEMORY)?;
    EMPTY_ROOT.store(empty, Ordering::Relaxed);
    enable_pan();
    // SAFETY: TTBR0 gets an empty table (every walk faults) before TTBR0 walks are enabled;
    // changing TCR.AS is safe while no ASID-tagged entries exist (only ASID 0 so far), and the
    // TLB is flushed after.
    unsafe {
        core::arch::asm!(
            "msr ttbr0_el1, {root}",
            "isb",
            "mrs {tcr}, tcr_el1",
            "bic {tcr}, {tcr}, #(1 << 7)",
            "bic {tcr}, {tcr}, #(1 << 36)",
            "orr {tcr}, {tcr}, {as_bit}",
            "msr tcr_el1, {tcr}",
            "isb",
            "tlbi vmalle1",
            "dsb nsh",
            "isb",
            root = in(reg) empty,
            tcr = out(reg) _,
            as_bit = in(reg) if sixteen { 1u64 << 36 } else { 0 },
            options(nostack)
        );
    }
    Ok(())
}

/// Privileged Access Never, where the CPU has it (ARMv8.1): kernel loads and stores to user
/// pages fault, so only the `ldtr`/`sttr` copy routines can reach user memory. SCTLR.SPAN
/// is cleared so every exception entry sets PSTATE.PAN again.
fn enable_pan() {
    let mmfr1: u64;
    // SAFETY: reading an ID register has no side effects.
    unsafe {
        core::arch::asm!("mrs {}, id_aa64mmfr1_el1", out(reg) mmfr1, options(nomem, nostack))
    };
    if (mmfr1 >> 20) & 0xf == 0 {
        return;
    }
    // SAFETY: the kernel never accesses user memory with ordinary loads and stores, so
    // turning PAN on changes nothing for correct code. `.inst` encodes `msr pan, #1`
    // (the assembler is not told the CPU has ARMv8.1).
    unsafe {
        core::arch::asm!(
            "mrs {s}, sctlr_el1",
            "bic {s}, {s}, #(1 << 23)",
            "msr sctlr_el1, {s}",
            ".inst 0xd500419f",
            "isb",
            s = out(reg) _,
            options(nostack)
        );
    }
}

fn allocate_asid() -> ZxResult<u16> {
    let mut asids = ASIDS.lock();
    if let Some(asid) = asids.free.pop() {
        return Ok(asid);
    }
    if asids.next >= 1 << asids.bits {
        return Err(Status::NO_RESOURCES);
    }
    let asid = asids.next as u16;
    asids.next += 1;
    Ok(asid)
}

fn tlb_flush_asid(asid: u16) {
    // SAFETY: TLB maintenance only.
    unsafe {
        core::arch::asm!(
            "dsb ishst",
            "tlbi aside1is, {}",
            "dsb ish",
            "isb",
            in(reg) u64::from(asid) << 48,
            options(nostack)
        );
    }
}

fn tlb_flush_pages(asid: u16, va: usize, len: usize) {
    let pages = len.div_ceil(PAGE);
    if pages > 64 {
        tlb_flush_asid(asid);
        return;
    }
    // SAFETY: TLB maintenance only.
    unsafe { core::arch::asm!("dsb ishst", options(nostack)) };
    for page in 0..pages {
        let operand =
            (((va + page * PAGE) >> 12) as u64 & 0xfff_ffff_ffff) | (u64::from(asid) << 48);
        // SAFETY: as above.
        unsafe { core::arch::asm!("tlbi vae1is, {}", in(reg) operand, options(nostack)) };
    }
    // SAFETY: as above.
    unsafe { core::arch::asm!("dsb ish", "isb", options(nostack)) };
}

struct Tables(Mapping<PoolTranslation, El1And0>);

// SAFETY: the tables are only reached through the `spin::Mutex` in `UserAddressSpace`.
unsafe impl Send for Tables {}

pub struct UserAddressSpace {
    tables: spin::Mutex<Option<Tables>>,
    asid: u16,
    root: u64,
}

fn attributes(perms: MappingPerms) -> El1Attributes {
    let mut flags = El1Attributes::VALID
        | El1Attributes::ATTRIBUTE_INDEX_1
        | El1Attributes::INNER_SHAREABLE
        | El1Attributes::ACCESSED
        | El1Attributes::NON_GLOBAL
        | El1Attributes::USER
        | El1Attributes::PXN;
    if !perms.write {
        flags |= El1Attributes::READ_ONLY;
    }
    if !perms.execute {
        flags |= El1Attributes::UXN;
    }
    flags
}

/// Pages a `map_page` may need for intermediate tables: never start one without them.
const TABLE_RESERVE: usize = 4;

impl UserAddressSpace {
    pub fn new() -> ZxResult<UserAddressSpace> {
        if !memory::can_spend(TABLE_RESERVE) {
            return Err(Status::NO_MEMORY);
        }
        let asid = allocate_asid()?;
        let mapping = Mapping::with_asid_and_va_range(
            PoolTranslation,
            usize::from(asid),
            0,
            El1And0,
            VaRange::Lower,
        );
        let root = mapping.root_address().0 as u64;
        Ok(UserAddressSpace {
            tables: spin::Mutex::new(Some(Tables(mapping))),
            asid,
            root,
        })
    }

    /// The TTBR0 value that selects this address space.
    pub fn ttbr0(&self) -> u64 {
        self.root | (u64::from(self.asid) << 48)
    }

    /// Valid leaf pages in `va..va+len`, found without allocating any table.
    fn mapped_pages(tables: &Tables, va: usize, len: usize) -> Vec<(usize, usize, El1Attributes)> {
        let mut found = Vec::new();
        let _ = tables.0.walk_range(
            &MemoryRegion::new(va, va + len),
            &mut |region, descriptor, level| {
                if level == 3 && descriptor.is_valid() {
                    found.push((
                        region.start().0,
                        descriptor.output_address().0,
                        descriptor.flags(),
                    ));
                }
                Ok(())
            },
        );
        found
    }

    /// Frees the page tables and the ASID. The caller makes sure no CPU runs on them.
    pub fn release(&self) {
        let tables = self.tables.lock().take();
        if tables.is_some() {
            tlb_flush_asid(self.asid);
            drop(tables);
            ASIDS.lock().free.push(self.asid);
        }
    }
}

impl Drop for UserAddressSpace {
    fn drop(&mut self) {
        self.release();
    }
}

/// Points TTBR0 at `ttbr0` (a process's tables and ASID, or the empty table when `None`).
pub fn switch_to(ttbr0: Option<u64>) {
    let value = ttbr0.unwrap_or_else(|| EMPTY_ROOT.load(Ordering::Relaxed));
    // SAFETY: the value names live tables (or the empty one); entries are ASID-tagged, so no
    // TLB maintenance is needed on a switch.
    unsafe { core::arch::asm!("msr ttbr0_el1, {}", "isb", in(reg) value, options(nostack)) };
}

impl AddressSpace for UserAddressSpace {
    fn map_page(&self, va: usize, frame: FrameAddr, perms: MappingPerms) -> ZxResult {
        let mut guard = self.tables.lock();
        let Some(tables) = guard.as_mut() else {
            return Err(Status::BAD_STATE);
        };
        if !memory::can_spend(TABLE_RESERVE) {
            return Err(Status::NO_MEMORY);
        }
        let region = MemoryRegion::new(va, va + PAGE);
        // Break before make: drop any existing entry first.
        if !Self::mapped_pages(tables, va, PAGE).is_empty() {
            tables
                .0
                .map_range(
                    &region,
                    PhysicalAddress(0),
                    El1Attributes::empty(),
                    Constraints::empty(),
                )
                .map_err(|_| Status::INTERNAL)?;
            tlb_flush_pages(self.asid, va, PAGE);
        }
        tables
            .0
            .map_range(
                &region,
                PhysicalAddress(frame as usize),
                attributes(perms),
                Constraints::NO_BLOCK_MAPPINGS,
            )
            .map_err(|_| Status::INTERNAL)
    }

    fn unmap(&self, va: usize, len: usize) {
        let mut guard = self.tables.lock();
        let Some(tables) = guard.as_mut() else { return };
        let pages = Self::mapped_pages(tables, va, len);
        for &(page_va, _, _) in &pages {
            let _ = tables.0.map_range(
                &MemoryRegion::new(page_va, page_va + PAGE),
                PhysicalAddress(0),
                El1Attributes::empty(),
                Constraints::empty(),
            );
        }
        if !pages.is_empty() {
            tlb_flush_pages(self.asid, va, len);
        }
    }

    fn protect(&self, va: usize, len: usize, perms: MappingPerms) {
        let mut guard = self.tables.lock();
        let Some(tables) = guard.as_mut() else { return };
        let pages = Self::mapped_pages(tables, va, len);
        for &(page_va, pa, flags) in &pages {
            let mut new = attributes(perms);
            // Never grant write here: write comes from a fault (copy-on-write stays intact).
            if flags.contains(El1Attributes::READ_ONLY) {
                new |= El1Attributes::READ_ONLY;
            }
            let _ = tables.0.map_range(
                &MemoryRegion::new(page_va, page_va + PAGE),
                PhysicalAddress(pa),
                new,
                Constraints::NO_BLOCK_MAPPINGS,
            );
        }
        if !pages.is_empty() {
            tlb_flush_pages(self.asid, va, len);
        }
    }
}
