//! User (TTBR0) translation tables, the hardware half: the stage-1 descriptor format of user
//! pages and tables, the walker over one tree, ASID width detection and TCR setup, the TTBR0
//! switch and the TLB invalidation sequences. The kernel's `aspace` module keeps the policy
//! (ASIDs, which pages a tree owns, when to invalidate); `arch::mmu` is the kernel's own
//! (TTBR1) tables.
//!
//! Trees are 48-bit VAs with the 4 KiB granule, levels 0-3, and user mappings are always
//! single 4 KiB pages (no blocks). They are walked here by hand rather than with
//! `aarch64-paging`, which the kernel's own tables use: measured under `make bench`, the
//! crate's generic `map_range` and `walk_range` cost about 1,800 instructions per page fault,
//! and the walk below about 40. None of the crate's generality is needed for single pages.
//!
//! Entries are `AtomicU64`s, and every entry of a tree is written with one atomic store,
//! never a plain store: the table walker of any CPU running the process may read an entry at
//! any time, so a write must reach memory as one single-copy-atomic 64-bit store that the
//! compiler can neither split nor merge, nor drop as dead (the kernel itself never reads most
//! entries back). Installing an entry (a table or a page) is a Release store, so the new
//! table's zeroing or the page's contents come before it for any software reader; clearing
//! and changing permissions publish nothing and are Relaxed (plain `str`, as cheap as before
//! on the long unmap and protect loops). The hardware walker is ordered by none of this: a
//! [`sync_new_entries`] (`dsb ishst`) comes between installing entries and returning to EL0,
//! and a TLB invalidation after clearing.
//!
//! TLB maintenance is by VA and ASID (`tlbi vae1is`, or `aside1is` for large ranges) with
//! `dsb ishst` before and `dsb ish; isb` after. Installing an entry where there was none needs
//! no TLB maintenance, only [`sync_new_entries`].
//!
//! As with `aarch64-paging`, building and changing a tree is safe: which frame a page maps is
//! the caller's policy. What is unsafe is making a tree over pages ([`UserTables::new`],
//! [`TablePages`]) and pointing TTBR0 at one ([`set_ttbr0`], [`enable_user_tables`]).
//!
//! The descriptor logic and the walker are plain code, tested on the host (where a table's
//! "physical" address is its own address); the system-register and TLB functions build only
//! for aarch64.

use core::sync::atomic::{AtomicU64, Ordering};

/// Bytes in a page (the 4 KiB granule).
pub const PAGE_SIZE: usize = 4096;
/// Entries in a table.
pub const ENTRIES: usize = 512;
/// The level whose entries map pages.
pub const LEAF_LEVEL: u32 = 3;
/// Bytes of address space one level-3 table maps.
pub const LEAF_TABLE_SPAN: usize = span(LEAF_LEVEL - 1);

/// Descriptor bits (VMSAv8-64, stage 1).
const VALID: u64 = 1 << 0;
/// Bit 1: a table (levels 0-2) or a page (level 3); clear in a valid entry, a block.
const TABLE_OR_PAGE: u64 = 1 << 1;
/// AttrIndx 1: Normal write-back memory in MAIR_EL1 (set at boot, boot.S).
const ATTR_NORMAL: u64 = 1 << 2;
/// AP[1]: EL0 may access.
const AP_USER: u64 = 1 << 6;
/// AP[2]: read-only (at EL0 and EL1).
const AP_READ_ONLY: u64 = 1 << 7;
const SH_INNER: u64 = 3 << 8;
/// The access flag: set up front, so no access-flag fault is ever taken.
const ACCESSED: u64 = 1 << 10;
/// nG: the TLB tags the entry with the ASID.
const NOT_GLOBAL: u64 = 1 << 11;
const PXN: u64 = 1 << 53;
const UXN: u64 = 1 << 54;
const ADDRESS_MASK: u64 = 0x0000_ffff_ffff_f000;

/// The table index of `va` at `level` (0-3).
#[inline]
pub const fn index(va: usize, level: u32) -> usize {
    (va >> (39 - 9 * level)) & (ENTRIES - 1)
}

/// Bytes of address space one entry of a table at `level` (0-3) maps.
#[inline]
pub const fn span(level: u32) -> usize {
    1 << (39 - 9 * level)
}

/// What EL0 may do with a page. Every valid user page is readable (stage 1 cannot express
/// write-only or execute-only for EL0), so `read` is not encoded: a page descriptor decodes
/// with `read` set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UserPerms {
    pub read: bool,
    pub write: bool,
    pub execute: bool,
}

/// One translation-table descriptor of a user tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(transparent)]
pub struct Descriptor(u64);

impl Descriptor {
    /// No translation: every access through it faults.
    pub const INVALID: Descriptor = Descriptor(0);

    /// A level-3 descriptor mapping `frame` (4 KiB aligned; low bits are dropped) for EL0:
    /// Normal inner-shareable memory, accessed, ASID-tagged, never executable at EL1 (PXN),
    /// read-only unless `perms.write`, not executable at EL0 unless `perms.execute`.
    #[inline]
    pub const fn page(frame: u64, perms: UserPerms) -> Descriptor {
        let mut bits = (frame & ADDRESS_MASK)
            | VALID
            | TABLE_OR_PAGE
            | ATTR_NORMAL
            | SH_INNER
            | ACCESSED
            | NOT_GLOBAL
            | AP_USER
            | PXN;
        if !perms.write {
            bits |= AP_READ_ONLY;
        }
        if !perms.execute {
            bits |= UXN;
        }
        Descriptor(bits)
    }

    /// A level 0-2 descriptor pointing at the next-level table at `pa` (4 KiB aligned). No
    /// hierarchical attributes: the pages' own descriptors say everything.
    #[inline]
    pub const fn table(pa: u64) -> Descriptor {
        Descriptor((pa & ADDRESS_MASK) | VALID | TABLE_OR_PAGE)
    }

    /// The raw bits.
    #[inline]
    pub const fn bits(self) -> u64 {
        self.0
    }

    /// The descriptor with raw bits `bits` (for decoding; trees are only built from
    /// [`Descriptor::page`] and [`Descriptor::table`]).
    #[inline]
    pub const fn from_bits(bits: u64) -> Descriptor {
        Descriptor(bits)
    }

    #[inline]
    pub const fn is_valid(self) -> bool {
        self.0 & VALID != 0
    }

    /// A valid table (levels 0-2) or page (level 3) descriptor, not a block.
    #[inline]
    pub const fn is_table_or_page(self) -> bool {
        self.0 & (VALID | TABLE_OR_PAGE) == VALID | TABLE_OR_PAGE
    }

    /// The output address: the next table's, or the page's.
    #[inline]
    pub const fn address(self) -> u64 {
        self.0 & ADDRESS_MASK
    }

    /// What EL0 may do with the page of a valid level-3 descriptor; None when it is invalid
    /// or not accessible from EL0.
    pub const fn perms(self) -> Option<UserPerms> {
        if !self.is_table_or_page() || self.0 & AP_USER == 0 {
            return None;
        }
        Some(UserPerms {
            read: true,
            write: self.0 & AP_READ_ONLY == 0,
            execute: self.0 & UXN == 0,
        })
    }

    /// The same page with the permissions `perms`, but never gaining write (write is granted
    /// by a fault, so copy-on-write stays intact).
    #[inline]
    pub const fn reprotected(self, perms: UserPerms) -> Descriptor {
        Descriptor(Descriptor::page(self.address(), perms).0 | (self.0 & AP_READ_ONLY))
    }
}

/// One entry of a live table: written with single atomic stores (see the module doc).
#[repr(transparent)]
pub struct Entry(AtomicU64);

impl Entry {
    #[inline]
    pub fn load(&self) -> Descriptor {
        Descriptor(self.0.load(Ordering::Relaxed))
    }

    #[inline]
    fn store(&self, descriptor: Descriptor, order: Ordering) {
        self.0.store(descriptor.0, order);
    }

    #[inline]
    pub fn is_valid(&self) -> bool {
        self.load().is_valid()
    }

    /// Maps `frame` with `perms` (a level-3 entry; the walker hands out no other). Replacing
    /// a valid entry needs break-before-make: clear it and invalidate its TLB entry first.
    #[inline]
    pub fn set_page(&self, frame: u64, perms: UserPerms) {
        self.store(Descriptor::page(frame, perms), Ordering::Release);
    }

    /// Unmaps the entry; true when it was valid. The TLB may keep the old translation until
    /// it is invalidated.
    #[inline]
    pub fn clear(&self) -> bool {
        if !self.is_valid() {
            return false;
        }
        self.store(Descriptor::INVALID, Ordering::Relaxed);
        true
    }

    /// Gives a valid level-3 entry the permissions `perms`, keeping its page and never
    /// granting write; true when it was valid. Only permissions change, to the same page, so
    /// no break-before-make is needed: a TLB invalidation afterwards suffices.
    #[inline]
    pub fn reprotect(&self, perms: UserPerms) -> bool {
        let old = self.load();
        if !old.is_valid() {
            return false;
        }
        self.store(old.reprotected(perms), Ordering::Relaxed);
        true
    }
}

/// A table page: 512 entries. A tree hands out only its level-3 tables ([`Entry`] writes
/// only page descriptors), so safe code cannot install a table descriptor.
#[repr(C, align(4096))]
pub struct Table([Entry; ENTRIES]);

impl Table {
    /// An empty table (for host tests; the kernel's tables are zeroed pool pages).
    pub const fn new() -> Table {
        Table([const { Entry(AtomicU64::new(0)) }; ENTRIES])
    }
}

impl Table {
    /// The entries of this level-3 table for the pages from `va` up to `end` or the end of
    /// the table, whichever comes first.
    #[inline]
    pub fn leaf_entries(&self, va: usize, end: usize) -> &[Entry] {
        let first = index(va, LEAF_LEVEL);
        let pages = end
            .saturating_sub(va & !(PAGE_SIZE - 1))
            .div_ceil(PAGE_SIZE)
            .min(ENTRIES - first);
        &self.0[first..first + pages]
    }
}

impl Default for Table {
    fn default() -> Table {
        Table::new()
    }
}

/// The table page at physical `pa`: through the linear map in the kernel, at `pa` itself
/// on the host.
#[inline]
fn table_ptr(pa: u64) -> *const Table {
    #[cfg(all(target_arch = "aarch64", target_os = "none"))]
    return crate::mmu::phys_to_virt(pa) as *const Table;
    #[cfg(not(all(target_arch = "aarch64", target_os = "none")))]
    return pa as usize as *const Table;
}

/// Where a tree's new tables come from.
///
/// # Safety
/// Every address `zeroed_table` returns is a zeroed page (mapped in the linear map in the
/// kernel) that belongs to the tree it was asked for and to nothing else until the tree is
/// no longer used.
pub unsafe trait TablePages {
    /// A new zeroed table page's physical address; None when there is none.
    fn zeroed_table(&mut self) -> Option<u64>;
}

/// One tree of user translation tables, by its level-0 table. It does not own its pages:
/// the caller lists them and frees them once the tree is no longer used (nor pointed at by
/// TTBR0). Changes are serialized by the caller (`&mut self`); hardware walkers read it
/// meanwhile.
pub struct UserTables {
    root: u64,
    /// The root's entries ever made valid, a bit per entry: what [`UserTables::detach_root`]
    /// clears (a process uses a few of the 512).
    root_used: [u64; ENTRIES / 64],
}

impl UserTables {
    /// The tree whose level-0 table is at `root`.
    ///
    /// # Safety
    /// `root` is a zeroed table page (mapped in the linear map in the kernel) that belongs to
    /// this tree and nothing else while the tree is used; every table below it comes from a
    /// [`TablePages`] through [`UserTables::make_leaf`].
    pub unsafe fn new(root: u64) -> UserTables {
        UserTables {
            root,
            root_used: [0; ENTRIES / 64],
        }
    }

    /// The level-0 table's physical address.
    #[inline]
    pub fn root(&self) -> u64 {
        self.root
    }

    /// Cuts the lower tables off the root: clears the root's entries, so that a walk from
    /// it finds nothing. Another CPU that may still walk this tree (a thread of a dying
    /// process, running elsewhere until it next enters the kernel) then faults instead of
    /// reaching the lower tables, which may be freed once the TLB has been invalidated.
    pub fn detach_root(&self) {
        let root = self.table(self.root);
        for (word, &used) in self.root_used.iter().enumerate() {
            let mut bits = used;
            while bits != 0 {
                root.0[word * 64 + bits.trailing_zeros() as usize].clear();
                bits &= bits - 1;
            }
        }
    }

    #[inline]
    fn table(&self, pa: u64) -> &Table {
        // SAFETY: `pa` is the root or a table installed by `make_leaf` from a `TablePages`,
        // so a live zeroed-then-owned table page of this tree (`new`'s and `TablePages`'
        // contracts); its entries are atomics, so shared references are sound while hardware
        // walkers and this tree's holder read and write them.
        unsafe { &*table_ptr(pa) }
    }

    /// The level-3 table mapping `va`, or when a table on the way is missing, the bytes of
    /// address space that table would have mapped (so a walk skips all of them).
    #[inline]
    pub fn leaf_table(&self, va: usize) -> Result<&Table, usize> {
        Ok(self.table(self.leaf_table_pa(va)?))
    }

    /// As [`UserTables::leaf_table`], the table's physical address.
    #[inline]
    fn leaf_table_pa(&self, va: usize) -> Result<u64, usize> {
        let mut table_pa = self.root;
        for level in 0..LEAF_LEVEL {
            let descriptor = self.table(table_pa).0[index(va, level)].load();
            if !descriptor.is_valid() {
                return Err(span(level));
            }
            table_pa = descriptor.address();
        }
        Ok(table_pa)
    }

    /// The level-3 entry for `va` if its tables exist, else as [`UserTables::leaf_table`].
    #[inline]
    pub fn existing_leaf(&self, va: usize) -> Result<&Entry, usize> {
        Ok(&self.leaf_table(va)?.0[index(va, LEAF_LEVEL)])
    }

    /// The level-3 entry for `va`, making the missing tables on the way from `pages`. None
    /// when `pages` has none left (the tables made so far stay, empty).
    #[inline]
    pub fn make_leaf(&mut self, va: usize, pages: &mut impl TablePages) -> Option<&Entry> {
        // The tables are usually there already (a page fault's path): that walk is inline.
        let table_pa = match self.leaf_table_pa(va) {
            Ok(pa) => pa,
            Err(_) => self.make_tables(va, pages)?,
        };
        Some(&self.table(table_pa).0[index(va, LEAF_LEVEL)])
    }

    /// The level-3 table for `va`, making the missing ones on the way, as
    /// [`UserTables::make_leaf`].
    #[inline(never)]
    fn make_tables(&mut self, va: usize, pages: &mut impl TablePages) -> Option<u64> {
        let mut table_pa = self.root;
        for level in 0..LEAF_LEVEL {
            let entry = &self.table(table_pa).0[index(va, level)];
            let descriptor = entry.load();
            table_pa = if descriptor.is_valid() {
                descriptor.address()
            } else {
                let pa = pages.zeroed_table()?;
                // The zeroed table is visible to the walker before the entry that points at
                // it: `dsb ishst` comes before any use from EL0.
                entry.store(Descriptor::table(pa), Ordering::Release);
                if level == 0 {
                    let i = index(va, 0);
                    self.root_used[i / 64] |= 1 << (i % 64);
                }
                pa
            };
        }
        Some(table_pa)
    }

    /// Calls `f` on every valid level-3 entry for pages in `va..va + len`, skipping a missing
    /// table's whole span at once: the walk costs per table that exists, never per page or
    /// per 2 MiB of an empty range (a process may unmap its whole 128 TiB half).
    pub fn for_each_page(&self, va: usize, len: usize, mut f: impl FnMut(usize, &Entry)) {
        let end = va.saturating_add(len);
        let mut at = va & !(PAGE_SIZE - 1);
        while at < end {
            match self.leaf_table(at) {
                Ok(table) => {
                    // One level-3 table covers 2 MiB: walk its entries directly.
                    for entry in table.leaf_entries(at, end) {
                        if entry.is_valid() {
                            f(at, entry);
                        }
                        at += PAGE_SIZE;
                    }
                }
                Err(span) => at = (at | (span - 1)).saturating_add(1),
            }
        }
    }

    /// Calls `visit(level, table_pa, index, descriptor)` on every valid entry of the tables
    /// at levels 0-2 (not the level-3 tables' page entries), depth first, and descends into
    /// a table entry's table only when `visit` returned Ok for it. Stops at the first error.
    pub fn visit_tables<E>(
        &self,
        mut visit: impl FnMut(u32, u64, usize, Descriptor) -> Result<(), E>,
    ) -> Result<(), E> {
        self.visit_level(0, self.root, &mut visit)
    }

    fn visit_level<E>(
        &self,
        level: u32,
        pa: u64,
        visit: &mut impl FnMut(u32, u64, usize, Descriptor) -> Result<(), E>,
    ) -> Result<(), E> {
        for (i, entry) in self.table(pa).0.iter().enumerate() {
            let descriptor = entry.load();
            if !descriptor.is_valid() {
                continue;
            }
            visit(level, pa, i, descriptor)?;
            // Level-2 entries point at level-3 tables, which hold pages only.
            if level < LEAF_LEVEL - 1 && descriptor.is_table_or_page() {
                self.visit_level(level + 1, descriptor.address(), visit)?;
            }
        }
        Ok(())
    }
}

/// The TTBR0 value selecting the tree at `root` with `asid`.
#[inline]
pub const fn ttbr0(root: u64, asid: u16) -> u64 {
    root | ((asid as u64) << 48)
}

/// The TLBI operand naming `va`'s page in `asid`.
#[cfg(any(test, all(target_arch = "aarch64", target_os = "none")))]
#[inline]
const fn tlbi_va_operand(asid: u16, va: usize) -> u64 {
    ((va >> 12) as u64 & 0xfff_ffff_ffff) | ((asid as u64) << 48)
}

/// Above this many pages a range is invalidated by ASID rather than page by page.
#[cfg(all(target_arch = "aarch64", target_os = "none"))]
const TLBI_PAGES_MAX: usize = 64;

/// ASID bits the CPU has (16 or 8; ID_AA64MMFR0_EL1.ASIDBits).
#[cfg(all(target_arch = "aarch64", target_os = "none"))]
pub fn asid_bits() -> u32 {
    let mmfr0: u64;
    // SAFETY: reading an ID register has no side effects.
    unsafe {
        core::arch::asm!("mrs {}, id_aa64mmfr0_el1", out(reg) mmfr0, options(nomem, nostack))
    };
    if (mmfr0 >> 4) & 0xf == 2 {
        16
    } else {
        8
    }
}

/// Points TTBR0 at the table `empty_root` and enables TTBR0 walks with `asid_bits`-bit ASIDs
/// (TCR_EL1.AS; EPD0 cleared), then invalidates the local TLB.
///
/// # Safety
/// `empty_root` is a zeroed table page that stays so and allocated for as long as TTBR0 may
/// point at it. Called once at boot, before any ASID other than 0 has been used.
#[cfg(all(target_arch = "aarch64", target_os = "none"))]
pub unsafe fn enable_user_tables(empty_root: u64, asid_bits: u32) {
    // SAFETY: TTBR0 gets an empty table (every walk faults) before TTBR0 walks are enabled;
    // changing TCR.AS is safe while no ASID-tagged entries exist (only ASID 0 so far, the
    // caller's promise), and the TLB is flushed after.
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
            root = in(reg) empty_root,
            tcr = out(reg) _,
            as_bit = in(reg) if asid_bits == 16 { 1u64 << 36 } else { 0 },
            options(nostack)
        );
    }
}

/// Points TTBR0 at `value` (from [`ttbr0`]). Entries are ASID-tagged, so a switch needs no
/// TLB maintenance.
///
/// # Safety
/// `value` names a tree (or the empty table of [`enable_user_tables`]) whose pages stay
/// allocated and tables while TTBR0 may point at it, and whose pages map only memory EL0 may
/// have.
#[cfg(all(target_arch = "aarch64", target_os = "none"))]
#[inline]
pub unsafe fn set_ttbr0(value: u64) {
    // SAFETY: the caller's promise.
    unsafe { core::arch::asm!("msr ttbr0_el1, {}", "isb", in(reg) value, options(nostack)) };
}

/// Makes entries just installed visible to every CPU's table walker (`dsb ishst`); before
/// returning to EL0 after installing, and before any TLB invalidation of a cleared entry.
#[cfg(all(target_arch = "aarch64", target_os = "none"))]
#[inline]
pub fn sync_new_entries() {
    // SAFETY: a barrier only.
    unsafe { core::arch::asm!("dsb ishst", options(nostack)) };
}

/// Invalidates every TLB entry tagged `asid`, on every CPU of the inner-shareable domain.
#[cfg(all(target_arch = "aarch64", target_os = "none"))]
pub fn flush_asid(asid: u16) {
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

/// Invalidates the TLB entries of the pages of `va .. va + len` in `asid`, on every CPU of
/// the inner-shareable domain: page by page, or the whole ASID for a large range.
#[cfg(all(target_arch = "aarch64", target_os = "none"))]
pub fn flush_range(asid: u16, va: usize, len: usize) {
    let pages = len.div_ceil(PAGE_SIZE);
    if pages > TLBI_PAGES_MAX {
        flush_asid(asid);
        return;
    }
    sync_new_entries();
    for page in 0..pages {
        let operand = tlbi_va_operand(asid, va + page * PAGE_SIZE);
        // SAFETY: TLB maintenance only.
        unsafe { core::arch::asm!("tlbi vae1is, {}", in(reg) operand, options(nostack)) };
    }
    // SAFETY: barriers only.
    unsafe { core::arch::asm!("dsb ish", "isb", options(nostack)) };
}

/// Why EL0 could not make an access, from the address translation instruction's report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserAccess {
    /// EL0 may make it: the page is mapped with that permission.
    Allowed,
    /// No valid entry, a permission EL0 lacks, or the access flag clear: what a page fault
    /// on the access would report, and a VMAR may serve.
    Fault,
    /// Anything else (an external abort on the walk, an address-size fault, ...): serving
    /// it would not help.
    Other,
}

/// What PAR_EL1 says of a stage 1 translation: its fault status code (FST, bits 1..7) when
/// F (bit 0) is set.
pub fn user_access_from_par(par: u64) -> UserAccess {
    if par & 1 == 0 {
        return UserAccess::Allowed;
    }
    // FST: 0b0001LL translation, 0b0010LL access flag, 0b0011LL permission fault.
    match (par >> 1) & 0x3f {
        0b00_0100..=0b00_1111 => UserAccess::Fault,
        _ => UserAccess::Other,
    }
}

/// Whether EL0 could read (or, with `write`, write) the byte at user address `va` now,
/// asked of the MMU with an address translation instruction (`at s1e0r`/`s1e0w`) instead of
/// an access: nothing is read or written, so a store another thread makes meanwhile is
/// never lost, and a missing page costs no exception. PAN does not apply to these checks.
#[cfg(all(target_arch = "aarch64", target_os = "none"))]
#[inline]
pub fn user_access(va: usize, write: bool) -> UserAccess {
    let par: u64;
    // SAFETY: an address translation only writes PAR_EL1, in which nothing else keeps a
    // value: no interrupt handler translates addresses (one that did could only make this
    // answer wrong, and the copies that follow a check still recover from a fault).
    unsafe {
        if write {
            core::arch::asm!(
                "at s1e0w, {va}",
                "isb",
                "mrs {par}, par_el1",
                va = in(reg) va,
                par = out(reg) par,
                options(nostack)
            );
        } else {
            core::arch::asm!(
                "at s1e0r, {va}",
                "isb",
                "mrs {par}, par_el1",
                va = in(reg) va,
                par = out(reg) par,
                options(nostack)
            );
        }
    }
    user_access_from_par(par)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_translation_report_says_which_user_faults_a_vmar_may_serve() {
        assert_eq!(
            user_access_from_par(0x0000_0000_4000_0f00),
            UserAccess::Allowed
        );
        // F set; FST translation fault levels 0-3, access flag, permission.
        for fst in [0b00_0100u64, 0b00_0111, 0b00_1011, 0b00_1101, 0b00_1111] {
            assert_eq!(
                user_access_from_par(1 | fst << 1),
                UserAccess::Fault,
                "{fst:#b}"
            );
        }
        // Address size fault, synchronous external abort on the walk, TLB conflict.
        for fst in [0b00_0000u64, 0b01_0101, 0b11_0000] {
            assert_eq!(
                user_access_from_par(1 | fst << 1),
                UserAccess::Other,
                "{fst:#b}"
            );
        }
    }

    const FRAME: u64 = 0x0000_1234_5678_9000;

    fn perms(read: bool, write: bool, execute: bool) -> UserPerms {
        UserPerms {
            read,
            write,
            execute,
        }
    }

    /// Every combination `MappingPerms` can carry.
    fn all_perms() -> impl Iterator<Item = UserPerms> {
        (0..8).map(|b| perms(b & 1 != 0, b & 2 != 0, b & 4 != 0))
    }

    #[test]
    fn page_round_trips() {
        for p in all_perms() {
            let d = Descriptor::page(FRAME, p);
            assert!(d.is_valid() && d.is_table_or_page());
            assert_eq!(d.address(), FRAME);
            // Read is implied by any valid user page.
            assert_eq!(d.perms(), Some(UserPerms { read: true, ..p }), "{p:?}");
            assert_eq!(Descriptor::from_bits(d.bits()), d);
        }
    }

    #[test]
    fn page_bits() {
        for p in all_perms() {
            let bits = Descriptor::page(FRAME, p).bits();
            // Always: valid page, AttrIndx 1, inner shareable, AF, nG, EL0 access, PXN.
            for (bit, name) in [
                (VALID, "valid"),
                (TABLE_OR_PAGE, "page"),
                (ATTR_NORMAL, "AttrIndx 1"),
                (SH_INNER, "inner shareable"),
                (ACCESSED, "AF"),
                (NOT_GLOBAL, "nG"),
                (AP_USER, "AP[1]"),
                (PXN, "PXN"),
            ] {
                assert_eq!(bits & bit, bit, "{name} missing for {p:?}");
            }
            assert_eq!(bits & AP_READ_ONLY != 0, !p.write, "AP[2] for {p:?}");
            assert_eq!(bits & UXN != 0, !p.execute, "UXN for {p:?}");
            // Nothing else: AttrIndx[2:1], NS, DBM, Contiguous, software and upper bits.
            let known = VALID
                | TABLE_OR_PAGE
                | ATTR_NORMAL
                | AP_USER
                | AP_READ_ONLY
                | SH_INNER
                | ACCESSED
                | NOT_GLOBAL
                | PXN
                | UXN
                | ADDRESS_MASK;
            assert_eq!(bits & !known, 0, "stray bits for {p:?}: {bits:#x}");
        }
    }

    #[test]
    fn kernel_never_executes_user_pages() {
        // PXN on every user page, whatever EL0 may do: a writable page is never executable
        // at EL1 either.
        for p in all_perms() {
            assert_ne!(Descriptor::page(FRAME, p).bits() & PXN, 0);
        }
    }

    #[test]
    fn page_drops_offset_and_high_bits() {
        let d = Descriptor::page(0xffff_0000_0000_1fff, perms(true, true, false));
        assert_eq!(d.address(), 0x1000);
    }

    #[test]
    fn table_descriptor() {
        let d = Descriptor::table(0x8000_2000);
        assert_eq!(d.bits(), 0x8000_2000 | 3);
        assert!(d.is_valid() && d.is_table_or_page());
        assert_eq!(d.address(), 0x8000_2000);
        assert_eq!(Descriptor::INVALID.bits(), 0);
        assert!(!Descriptor::INVALID.is_valid());
        // A block (valid, bit 1 clear) is not a table.
        assert!(!Descriptor::from_bits(0x4000_0001).is_table_or_page());
        assert_eq!(Descriptor::from_bits(0x4000_0001).perms(), None);
    }

    #[test]
    fn reprotect_never_grants_write() {
        for old in all_perms() {
            for new in all_perms() {
                let d = Descriptor::page(FRAME, old).reprotected(new);
                let got = d.perms().unwrap();
                assert_eq!(d.address(), FRAME);
                assert_eq!(got.write, old.write && new.write, "{old:?} -> {new:?}");
                assert_eq!(got.execute, new.execute, "{old:?} -> {new:?}");
            }
        }
    }

    #[test]
    fn indices() {
        let va = (1 << 39) * 3 + (1 << 30) * 5 + (1 << 21) * 7 + (1 << 12) * 9 + 0x123;
        assert_eq!(
            [0, 1, 2, 3].map(|l| index(va, l)),
            [3, 5, 7, 9],
            "index per level"
        );
        let top = 0x0000_ffff_ffff_f000;
        assert_eq!([0, 1, 2, 3].map(|l| index(top, l)), [511; 4]);
        assert_eq!([0, 1, 2, 3].map(|l| index(0, l)), [0; 4]);
        assert_eq!([0, 1, 2, 3].map(span), [1 << 39, 1 << 30, 1 << 21, 1 << 12]);
        assert_eq!(LEAF_TABLE_SPAN, 2 << 20);
    }

    #[test]
    fn ttbr0_and_tlbi_operands() {
        assert_eq!(ttbr0(0x4000_0000, 0x1234), 0x1234_0000_4000_0000);
        assert_eq!(
            tlbi_va_operand(7, 0x0000_ffff_ffff_f000),
            (7 << 48) | 0xf_ffff_ffff
        );
        assert_eq!(tlbi_va_operand(0xffff, 0x1fff), (0xffff << 48) | 1);
    }

    /// Tables from the host heap, kept until the test ends.
    #[derive(Default)]
    struct HostPages {
        tables: Vec<Box<Table>>,
        limit: Option<usize>,
    }

    // SAFETY: each table is a new zeroed allocation, freed only when the test's `HostPages`
    // goes, after its tree.
    unsafe impl TablePages for HostPages {
        fn zeroed_table(&mut self) -> Option<u64> {
            if self.limit.is_some_and(|limit| self.tables.len() >= limit) {
                return None;
            }
            let table = Box::new(Table::new());
            let pa = &*table as *const Table as u64;
            self.tables.push(table);
            Some(pa)
        }
    }

    fn tree(pages: &mut HostPages) -> UserTables {
        let root = pages.zeroed_table().unwrap();
        // SAFETY: a zeroed table of `pages`, which outlives the tree in every test.
        unsafe { UserTables::new(root) }
    }

    #[test]
    fn walker_makes_and_finds_leaves() {
        let mut pages = HostPages::default();
        let mut tree = tree(&mut pages);
        let va = 0x0000_7fff_1234_5000;
        assert_eq!(tree.existing_leaf(va).err(), Some(span(0)));
        let rw = perms(true, true, false);
        tree.make_leaf(va, &mut pages).unwrap().set_page(FRAME, rw);
        // Root plus one table at each of levels 1-3.
        assert_eq!(pages.tables.len(), 4);
        let entry = tree.existing_leaf(va).unwrap();
        assert_eq!(entry.load(), Descriptor::page(FRAME, rw));
        // The neighbour shares every table; one 2 MiB on, only a level-3 table is missing.
        assert!(!tree.existing_leaf(va + PAGE_SIZE).unwrap().is_valid());
        assert_eq!(
            tree.existing_leaf(va + LEAF_TABLE_SPAN).err(),
            Some(span(2))
        );
        tree.make_leaf(va + PAGE_SIZE, &mut pages).unwrap();
        assert_eq!(pages.tables.len(), 4);
        // The table entries point at the tables made, in order.
        let mut seen = Vec::new();
        tree.visit_tables(|level, _, i, d| {
            assert!(d.is_table_or_page());
            seen.push((level, i, d.address()));
            Ok::<(), ()>(())
        })
        .unwrap();
        let addresses: Vec<u64> = pages.tables[1..]
            .iter()
            .map(|t| &**t as *const Table as u64)
            .collect();
        assert_eq!(
            seen,
            vec![
                (0, index(va, 0), addresses[0]),
                (1, index(va, 1), addresses[1]),
                (2, index(va, 2), addresses[2]),
            ]
        );
        // A refused table is not descended into.
        let mut visited = 0;
        tree.visit_tables(|_, _, _, _| {
            visited += 1;
            Err::<(), ()>(())
        })
        .unwrap_err();
        assert_eq!(visited, 1);
    }

    #[test]
    fn detaching_the_root_leaves_nothing_a_walk_can_reach() {
        let mut pages = HostPages::default();
        let mut tree = tree(&mut pages);
        let rw = perms(true, true, false);
        // Three root entries: the lowest, one in the middle and the top one.
        let addresses = [0x1000, 0x0000_4000_0000_0000, 0x0000_ffff_ffff_f000];
        for va in addresses {
            tree.make_leaf(va, &mut pages).unwrap().set_page(FRAME, rw);
        }
        tree.detach_root();
        for va in addresses {
            assert_eq!(tree.existing_leaf(va).err(), Some(span(0)), "{va:#x}");
        }
        let mut visited = 0;
        tree.visit_tables(|_, _, _, _| {
            visited += 1;
            Ok::<(), ()>(())
        })
        .unwrap();
        assert_eq!(visited, 0);
    }

    #[test]
    fn walker_stops_when_out_of_pages() {
        let mut pages = HostPages {
            limit: Some(2),
            ..HostPages::default()
        };
        let mut tree = tree(&mut pages);
        assert!(tree.make_leaf(0x40_0000, &mut pages).is_none());
        // The level-1 table made stays; the level-2 one is missing.
        assert_eq!(tree.existing_leaf(0x40_0000).err(), Some(span(1)));
    }

    #[test]
    fn for_each_page_skips_missing_tables() {
        let mut pages = HostPages::default();
        let mut tree = tree(&mut pages);
        let r = perms(true, false, false);
        // Pages at the end of one 2 MiB table, the start of the next, and one far away.
        let mapped = [0x1f_e000, 0x1f_f000, 0x20_0000, 0x80_0000_0000];
        for va in mapped {
            tree.make_leaf(va, &mut pages)
                .unwrap()
                .set_page(va as u64, r);
        }
        let mut found = Vec::new();
        tree.for_each_page(0, 1 << 47, |va, e| {
            assert_eq!(e.load().address(), va as u64);
            found.push(va);
        });
        assert_eq!(found, mapped);
        // A range inside one table, unaligned at both ends.
        found.clear();
        tree.for_each_page(0x1f_f800, 0x1000, |va, _| found.push(va));
        assert_eq!(found, [0x1f_f000, 0x20_0000]);
        // Clearing and reprotecting.
        tree.for_each_page(0, 0x20_0000, |_, e| assert!(e.clear()));
        let e = tree.existing_leaf(0x20_0000).unwrap();
        assert!(!tree.existing_leaf(0x1f_f000).unwrap().clear());
        assert!(e.reprotect(perms(true, true, true)));
        assert_eq!(e.load().perms(), Some(perms(true, false, true)));
        found.clear();
        tree.for_each_page(0, 1 << 47, |va, _| found.push(va));
        assert_eq!(found, [0x20_0000, 0x80_0000_0000]);
    }

    #[test]
    fn leaf_entries_stay_in_their_table() {
        let table = Table::new();
        let base = 0x4000_0000;
        let first = |entries: &[Entry]| {
            (entries.as_ptr() as usize - table.0.as_ptr() as usize) / size_of::<Entry>()
        };
        let all = table.leaf_entries(base, base + LEAF_TABLE_SPAN);
        assert_eq!((first(all), all.len()), (0, ENTRIES));
        // Clipped at the table's end, whatever `end` says.
        let tail = table.leaf_entries(base + 510 * PAGE_SIZE, base + (4 << 20));
        assert_eq!((first(tail), tail.len()), (510, 2));
        // An end inside a page counts that page; an empty range has no entries.
        let some = table.leaf_entries(base + 3 * PAGE_SIZE, base + 5 * PAGE_SIZE + 1);
        assert_eq!((first(some), some.len()), (3, 3));
        assert!(table.leaf_entries(base + PAGE_SIZE, base).is_empty());
    }
}
