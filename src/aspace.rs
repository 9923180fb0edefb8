//! User address spaces: one TTBR0 page-table tree per process, tagged with an ASID, over
//! page-pool pages. Implements the object layer's `AddressSpace`, so VMARs install and
//! remove PTEs through it.
//!
//! The tables are walked directly (48-bit VAs, 4 KiB granule, levels 0-3) rather than with
//! `aarch64-paging`, which the kernel's own tables use: measured under `make bench`, the
//! crate's generic `map_range` and `walk_range` cost about 1,800 instructions per page fault,
//! and the walk below about 40. User mappings are always single 4 KiB pages, so none of the
//! crate's generality is needed here. Tables are freed with the address space (in chunks
//! after the system call that released it, when there are many).
//!
//! With `kcheck` (or in test boots) every address space is listed, and [`table_owners`]
//! accounts for every page-table page the pool has handed out (src/kcheck.rs).
//!
//! TLB maintenance is by VA and ASID (`tlbi vae1is`, or `aside1is` for large ranges) with
//! `dsb ishst` before and `dsb ish; isb` after. Installing an entry where there was none needs
//! no TLB maintenance, only `dsb ishst` so the table walker sees it before EL0 runs again.

use crate::memory;
use alloc::format;
use alloc::string::String;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use arch::mmu;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use mm::pool::PageUse;
use object::frames::FrameAddr;
use object::vmar::{AddressSpace, MappingPerms};
use object::{Status, ZxResult};

const PAGE: usize = 4096;

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

/// Descriptor bits (VMSAv8-64, stage 1).
const DESC_VALID: u64 = 1 << 0;
/// Bit 1: a table (levels 0-2) or a page (level 3).
const DESC_TABLE_OR_PAGE: u64 = 1 << 1;
const ATTR_NORMAL: u64 = 1 << 2; // MAIR index 1
const AP_USER: u64 = 1 << 6;
const AP_READ_ONLY: u64 = 1 << 7;
const SH_INNER: u64 = 3 << 8;
const ACCESSED: u64 = 1 << 10;
const NOT_GLOBAL: u64 = 1 << 11;
const PXN: u64 = 1 << 53;
const UXN: u64 = 1 << 54;
const ADDRESS_MASK: u64 = 0x0000_ffff_ffff_f000;
const ENTRIES: usize = 512;

fn page_descriptor(frame: FrameAddr, perms: MappingPerms) -> u64 {
    let mut descriptor = (frame & ADDRESS_MASK)
        | DESC_VALID
        | DESC_TABLE_OR_PAGE
        | ATTR_NORMAL
        | SH_INNER
        | ACCESSED
        | NOT_GLOBAL
        | AP_USER
        | PXN;
    if !perms.write {
        descriptor |= AP_READ_ONLY;
    }
    if !perms.execute {
        descriptor |= UXN;
    }
    descriptor
}

/// Gives the level-3 entry at `entry` the permissions `perms` if it is valid, keeping its
/// page and never granting write (write comes from a fault, so copy-on-write stays intact).
/// True when it was valid.
///
/// # Safety
/// `entry` is a level-3 entry of a live table tree whose lock the caller holds.
unsafe fn reprotect(entry: *mut u64, perms: MappingPerms) -> bool {
    // SAFETY: the caller's promise.
    let old = unsafe { entry.read() };
    if old & DESC_VALID == 0 {
        return false;
    }
    let new = page_descriptor(old & ADDRESS_MASK, perms) | (old & AP_READ_ONLY);
    // SAFETY: as above. Only permissions change, to the same page: no break-before-make is
    // needed for that, the caller's TLB flush suffices.
    unsafe { entry.write(new) };
    true
}

/// The entries of the table at physical `pa`, through the linear map.
fn table(pa: u64) -> *mut u64 {
    mmu::phys_to_virt(pa) as *mut u64
}

fn index(va: usize, level: u32) -> usize {
    (va >> (39 - 9 * level)) & (ENTRIES - 1)
}

/// One process's tables: the level-0 table's physical address, and every table page below
/// it (freed with the address space without walking the tree).
struct Tables {
    root: u64,
    lower: Vec<u64>,
    /// TLB invalidations gathered between `begin_batch` and `end_batch`.
    batch: Batch,
}

/// TLB invalidations put off to the end of a batch: none, one range, or more (then the whole
/// ASID is invalidated at once). A batch belongs to the thread that opened it
/// ([`task::current_token`]): an unmap by another thread meanwhile (a VMO's, under its own
/// lock, which frees pages once it returns) invalidates at once.
#[derive(Clone, Copy, Default)]
enum Batch {
    #[default]
    Off,
    Empty(usize),
    One(usize, usize, usize),
    Many(usize),
}

impl Tables {
    /// Invalidates the TLB entries of `va .. va + len` in `asid` now, or at the end of the
    /// batch when one is open.
    fn flush(&mut self, asid: u16, va: usize, len: usize) {
        let me = crate::task::current_token();
        self.batch = match self.batch {
            Batch::Empty(owner) if owner == me => Batch::One(owner, va, len),
            Batch::One(owner, ..) | Batch::Many(owner) if owner == me => Batch::Many(owner),
            other => {
                tlb_flush_pages(asid, va, len);
                other
            }
        };
    }

    /// The level-3 entry for `va`, making the missing tables on the way (the caller has
    /// checked the pool can give `TABLE_RESERVE` pages). None when the pool is empty.
    fn make_leaf(&mut self, va: usize) -> Option<*mut u64> {
        let mut table_pa = self.root;
        for level in 0..3 {
            // SAFETY: `table_pa` is a table page of this tree (the root or one installed
            // below), owned by it and mapped in the linear map; the index is below 512.
            let entry = unsafe { table(table_pa).add(index(va, level)) };
            // SAFETY: as above; the tables are only reached under the address space's lock.
            let descriptor = unsafe { entry.read() };
            table_pa = if descriptor & DESC_VALID != 0 {
                descriptor & ADDRESS_MASK
            } else {
                if self.lower.try_reserve(1).is_err() {
                    return None;
                }
                let pa = memory::with_pool(|pool| pool.alloc_zeroed(1, PageUse::PageTable)).ok()?;
                self.lower.push(pa);
                // SAFETY: as above. The zeroed table is visible to the walker before the
                // entry that points at it: `dsb ishst` comes before any use from EL0.
                unsafe { entry.write(pa | DESC_VALID | DESC_TABLE_OR_PAGE) };
                pa
            };
        }
        // SAFETY: `table_pa` is now a level-3 table of this tree.
        Some(unsafe { table(table_pa).add(index(va, 3)) })
    }

    /// The level-3 entry for `va` if its tables exist, else the size of the span the first
    /// missing table would have covered (so a walk skips all of it).
    fn existing_leaf(&self, va: usize) -> Result<*mut u64, usize> {
        let mut table_pa = self.root;
        for level in 0..3 {
            // SAFETY: `table_pa` is a table page of this tree, mapped in the linear map; the
            // index is below 512. The tables are only reached under the address space's lock.
            let descriptor = unsafe { table(table_pa).add(index(va, level)).read() };
            if descriptor & DESC_VALID == 0 {
                return Err(1 << (39 - 9 * level));
            }
            table_pa = descriptor & ADDRESS_MASK;
        }
        // SAFETY: `table_pa` is now a level-3 table of this tree.
        Ok(unsafe { table(table_pa).add(index(va, 3)) })
    }

    /// Calls `f` on every valid level-3 entry for pages in `va..va + len`, skipping a missing
    /// table's whole span at once: the walk costs per table that exists, never per page or
    /// per 2 MiB of an empty range (a process may unmap its whole 128 TiB half).
    fn for_each_page(&mut self, va: usize, len: usize, mut f: impl FnMut(usize, *mut u64)) {
        let end = va.saturating_add(len);
        let mut at = va & !(PAGE - 1);
        while at < end {
            match self.existing_leaf(at) {
                Ok(entry) => {
                    // One level-3 table covers 2 MiB: walk its entries directly.
                    let table_end = ((at | 0x1f_ffff) + 1).min(end);
                    let mut entry = entry;
                    while at < table_end {
                        // SAFETY: `entry` stays inside the level-3 table that maps `at`.
                        if unsafe { entry.read() } & DESC_VALID != 0 {
                            f(at, entry);
                        }
                        at += PAGE;
                        // SAFETY: at most one past the last entry, never read then.
                        entry = unsafe { entry.add(1) };
                    }
                }
                Err(span) => at = (at | (span - 1)).saturating_add(1),
            }
        }
    }

    /// Clears the valid entries of `va .. end` (page-aligned) within the work left in
    /// `work` (taken from it: [`object::vmar::TABLE_WORK`] a level-3 table that exists, 1 a
    /// missing table's span skipped; no table is started with less left), from the bottom,
    /// or from the top when `from_top`. Returns the boundary reached (everything below it,
    /// or above it from the top, is clear) and whether any entry was cleared.
    fn clear_bounded(
        &mut self,
        va: usize,
        end: usize,
        work: &mut usize,
        from_top: bool,
    ) -> (usize, bool) {
        const TABLE: usize = object::vmar::TABLE_WORK;
        let mut any = false;
        let clear = |entry: *mut u64, pages: usize, any: &mut bool| {
            for i in 0..pages {
                // SAFETY: the caller passes entries inside one level-3 table of this tree,
                // under its lock.
                unsafe {
                    let e = entry.add(i);
                    if e.read() & DESC_VALID != 0 {
                        e.write(0);
                        *any = true;
                    }
                }
            }
        };
        if !from_top {
            let mut at = va;
            while at < end && *work >= TABLE {
                match self.existing_leaf(at) {
                    Ok(entry) => {
                        let table_end = ((at | 0x1f_ffff) + 1).min(end);
                        clear(entry, (table_end - at) / PAGE, &mut any);
                        *work -= TABLE;
                        at = table_end;
                    }
                    Err(span) => {
                        *work -= 1;
                        at = (at | (span - 1)).saturating_add(1).min(end);
                    }
                }
            }
            (at, any)
        } else {
            let mut top = end;
            while top > va && *work >= TABLE {
                let last = top - PAGE;
                match self.existing_leaf(last) {
                    Ok(entry) => {
                        let table_start = (last & !0x1f_ffff).max(va);
                        let pages = (top - table_start) / PAGE;
                        // SAFETY: `table_start` is in the same level-3 table as `last`.
                        let first = unsafe { entry.sub(pages - 1) };
                        clear(first, pages, &mut any);
                        *work -= TABLE;
                        top = table_start;
                    }
                    Err(span) => {
                        *work -= 1;
                        top = (last & !(span - 1)).max(va);
                    }
                }
            }
            (top, any)
        }
    }

    /// Gives the valid entries of `va .. end` (page-aligned) the permissions `perms` as
    /// [`AddressSpace::protect`] does (write is never granted), from the bottom, within the
    /// work left in `work` (counted as [`Tables::clear_bounded`] counts it). Returns the
    /// boundary below which every entry is done, and whether any entry changed.
    fn protect_bounded(
        &mut self,
        va: usize,
        end: usize,
        perms: MappingPerms,
        work: &mut usize,
    ) -> (usize, bool) {
        const TABLE: usize = object::vmar::TABLE_WORK;
        let mut any = false;
        let mut at = va;
        while at < end && *work >= TABLE {
            match self.existing_leaf(at) {
                Ok(entry) => {
                    let table_end = ((at | 0x1f_ffff) + 1).min(end);
                    for i in 0..(table_end - at) / PAGE {
                        // SAFETY: entries inside the level-3 table that maps `at`, of this
                        // tree, under its lock.
                        unsafe { any |= reprotect(entry.add(i), perms) };
                    }
                    *work -= TABLE;
                    at = table_end;
                }
                Err(span) => {
                    *work -= 1;
                    at = (at | (span - 1)).saturating_add(1).min(end);
                }
            }
        }
        (at, any)
    }

    /// Frees every table page: at once when they are few, else the root now and the rest
    /// in chunks later ([`free_dead_tables`]); an address space may have a table for every
    /// 2 MiB it touched, hundreds of thousands of pages.
    fn free(self) {
        free_table_pages(&[self.root]);
        if self.lower.len() <= TABLES_AT_ONCE {
            free_table_pages(&self.lower);
            return;
        }
        let mut dead = DEAD_TABLES.lock();
        if dead.try_reserve(1).is_err() {
            drop(dead);
            free_table_pages(&self.lower);
            return;
        }
        dead.push(self.lower);
        DEAD_TABLES_PENDING.store(true, Ordering::Release);
        drop(dead);
        object::preempt::mark_deferred();
    }
}

fn free_table_pages(pages: &[u64]) {
    for &pa in pages {
        let _ = memory::with_pool(|pool| pool.free_pages(pa, 1, PageUse::PageTable));
    }
}

/// Table pages freed between two preemption points (about 200 instructions each under
/// `-icount`, so a chunk stays near 0.1 ms), and as many as a released address space frees
/// at once.
const TABLES_AT_ONCE: usize = 512;

/// Table pages of released address spaces, no longer reachable from any TTBR0 and flushed
/// from the TLB, freed a chunk at a time by [`free_dead_tables`] (on the way out of the
/// system call that released them) or [`free_dead_tables_chunk`] (the idle loop). Taken
/// alone, never around another lock.
static DEAD_TABLES: spin::Mutex<Vec<Vec<u64>>> = spin::Mutex::new(Vec::new());
/// Whether `DEAD_TABLES` may hold anything.
static DEAD_TABLES_PENDING: AtomicBool = AtomicBool::new(false);

/// Frees the table pages left in `DEAD_TABLES`, with a preemption point between chunks; a
/// killed thread stops at its first point and leaves the rest to the idle loop.
pub fn free_dead_tables() {
    while free_dead_tables_chunk() && object::preempt::point() {}
}

/// Frees one chunk of `DEAD_TABLES`; true while more remain.
pub fn free_dead_tables_chunk() -> bool {
    if !DEAD_TABLES_PENDING.load(Ordering::Acquire) {
        return false;
    }
    let mut chunk = Vec::new();
    {
        let mut dead = DEAD_TABLES.lock();
        let Some(last) = dead.last_mut() else {
            // Under the lock, so a concurrent push cannot be missed.
            DEAD_TABLES_PENDING.store(false, Ordering::Release);
            return false;
        };
        let keep = last.len().saturating_sub(TABLES_AT_ONCE);
        if keep == 0 {
            if let Some(pages) = dead.pop() {
                chunk = pages;
            }
        } else if chunk.try_reserve(TABLES_AT_ONCE).is_ok() {
            chunk.extend(last.drain(keep..));
        } else {
            // No memory for the chunk: free the whole entry (rare, and only one).
            if let Some(pages) = dead.pop() {
                chunk = pages;
            }
        }
    }
    free_table_pages(&chunk);
    DEAD_TABLES_PENDING.load(Ordering::Acquire)
}

pub struct UserAddressSpace {
    tables: spin::Mutex<Option<Tables>>,
    asid: u16,
    root: u64,
}

/// Pages a `map_page` may need for intermediate tables: never start one without them.
const TABLE_RESERVE: usize = 4;

impl UserAddressSpace {
    pub fn new() -> ZxResult<Arc<UserAddressSpace>> {
        if !memory::can_spend(TABLE_RESERVE) {
            return Err(Status::NO_MEMORY);
        }
        let asid = allocate_asid()?;
        let root = match memory::with_pool(|pool| pool.alloc_zeroed(1, PageUse::PageTable)) {
            Ok(root) => root,
            Err(_) => {
                ASIDS.lock().free.push(asid);
                return Err(Status::NO_MEMORY);
            }
        };
        let space = Arc::new(UserAddressSpace {
            tables: spin::Mutex::new(Some(Tables {
                root,
                lower: Vec::new(),
                batch: Batch::Off,
            })),
            asid,
            root,
        });
        if crate::kcheck::listing() {
            let mut spaces = SPACES.lock();
            // The check needs every address space: no room to list one fails its creation.
            if spaces.try_reserve(1).is_err() {
                drop(spaces);
                return Err(Status::NO_MEMORY);
            }
            spaces.push(Arc::downgrade(&space));
        }
        Ok(space)
    }

    /// The TTBR0 value that selects this address space.
    pub fn ttbr0(&self) -> u64 {
        self.root | (u64::from(self.asid) << 48)
    }

    /// Frees the page tables and the ASID. The caller makes sure no CPU runs on them.
    pub fn release(&self) {
        let tables = self.tables.lock().take();
        if let Some(tables) = tables {
            tlb_flush_asid(self.asid);
            tables.free();
            ASIDS.lock().free.push(self.asid);
        }
    }
}

impl Drop for UserAddressSpace {
    fn drop(&mut self) {
        self.release();
        if crate::kcheck::listing() {
            let mut spaces = SPACES.lock();
            let me: *const UserAddressSpace = self;
            if let Some(i) = spaces.iter().position(|w| w.as_ptr() == me) {
                spaces.swap_remove(i);
            }
        }
    }
}

/// Every address space not yet dropped, for the kernel's invariant checks (`kcheck`); kept
/// only while they are on. Taken alone, never around another lock (IRQs masked, as all
/// kernel code runs).
static SPACES: spin::Mutex<Vec<Weak<UserAddressSpace>>> = spin::Mutex::new(Vec::new());

/// Page-table pages the kernel's own tables took from the pool after boot (they are never
/// freed), counted for `kcheck`.
static KERNEL_TABLES: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(0);

/// A page for the kernel's own tables (`arch::mmu::set_table_source`).
pub fn kernel_table_page() -> Option<u64> {
    let pa = memory::with_pool(|pool| pool.alloc_zeroed(1, PageUse::PageTable)).ok()?;
    KERNEL_TABLES.fetch_add(1, Ordering::Relaxed);
    Some(pa)
}

/// Who holds the page-table pages, as `kcheck` counts them.
#[derive(Debug)]
pub struct TableOwners {
    /// Address spaces alive.
    pub spaces: usize,
    /// Their table pages (roots included).
    pub in_spaces: usize,
    /// Pages of released address spaces waiting to be freed (`DEAD_TABLES`).
    pub dead: usize,
    /// The kernel's own tables from the pool, and the empty user table.
    pub kernel: usize,
}

impl TableOwners {
    pub fn total(&self) -> usize {
        self.in_spaces + self.dead + self.kernel
    }
}

/// Counts the owners of page-table pages. With `pages`, also lists every page of an address
/// space or `DEAD_TABLES` (the kernel's own are not listed), and checks that each address
/// space's tree reaches only table pages of its own list. O(tables); with `pages`, O(table
/// entries). Each lock is taken alone.
pub fn table_owners(mut pages: Option<&mut Vec<u64>>) -> Result<TableOwners, String> {
    let spaces: Vec<Arc<UserAddressSpace>> = {
        let spaces = SPACES.lock();
        let mut live = Vec::new();
        live.try_reserve(spaces.len()).map_err(|_| "no memory")?;
        live.extend(spaces.iter().filter_map(Weak::upgrade));
        live
    };
    let mut owners = TableOwners {
        spaces: spaces.len(),
        in_spaces: 0,
        dead: 0,
        kernel: KERNEL_TABLES.load(Ordering::Relaxed)
            + usize::from(EMPTY_ROOT.load(Ordering::Relaxed) != 0),
    };
    for space in &spaces {
        let guard = space.tables.lock();
        let Some(tables) = guard.as_ref() else {
            continue;
        };
        owners.in_spaces += 1 + tables.lower.len();
        if let Some(pages) = pages.as_deref_mut() {
            pages
                .try_reserve(1 + tables.lower.len())
                .map_err(|_| "no memory")?;
            pages.push(tables.root);
            pages.extend_from_slice(&tables.lower);
            tables.check_tree(space.asid)?;
        }
    }
    for list in DEAD_TABLES.lock().iter() {
        owners.dead += list.len();
        if let Some(pages) = pages.as_deref_mut() {
            pages.try_reserve(list.len()).map_err(|_| "no memory")?;
            pages.extend_from_slice(list);
        }
    }
    Ok(owners)
}

impl Tables {
    /// Every table a valid descriptor of this tree points at is one of its listed pages
    /// (so freeing the list frees the whole tree, and no page of another tree or of the pool
    /// is reached). Under the address space's lock.
    fn check_tree(&self, asid: u16) -> Result<(), String> {
        let mut own = Vec::new();
        own.try_reserve(self.lower.len()).map_err(|_| "no memory")?;
        own.extend_from_slice(&self.lower);
        own.sort_unstable();
        let mut reached = 0usize;
        let mut stack: Vec<(u64, u32)> = Vec::new();
        stack.push((self.root, 0));
        while let Some((pa, level)) = stack.pop() {
            for i in 0..ENTRIES {
                // SAFETY: `pa` is a table page of this tree (the root, or one found below in
                // its own list), mapped in the linear map; the caller holds the tree's lock.
                let descriptor = unsafe { table(pa).add(i).read() };
                if descriptor & DESC_VALID == 0 {
                    continue;
                }
                let child = descriptor & ADDRESS_MASK;
                if own.binary_search(&child).is_err() {
                    return Err(format!(
                        "address space (ASID {asid}): the level-{level} table {pa:#x} entry {i} \
                         points at {child:#x}, not one of its {} table pages",
                        own.len() + 1
                    ));
                }
                if descriptor & DESC_TABLE_OR_PAGE == 0 {
                    return Err(format!(
                        "address space (ASID {asid}): the level-{level} table {pa:#x} entry {i} \
                         is a block ({descriptor:#x})"
                    ));
                }
                reached += 1;
                // Level-3 tables hold pages only: nothing below them to walk.
                if level < 2 {
                    stack.try_reserve(1).map_err(|_| "no memory")?;
                    stack.push((child, level + 1));
                }
            }
        }
        if reached != self.lower.len() {
            return Err(format!(
                "address space (ASID {asid}): {} lower table pages listed, {reached} reached \
                 from its root",
                self.lower.len()
            ));
        }
        Ok(())
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
        // The tables are usually there already; the reserve is checked only before making
        // one.
        let entry = match tables.existing_leaf(va) {
            Ok(entry) => entry,
            Err(_) => {
                if !memory::can_spend(TABLE_RESERVE) {
                    return Err(Status::NO_MEMORY);
                }
                tables.make_leaf(va).ok_or(Status::NO_MEMORY)?
            }
        };
        // SAFETY: the level-3 entry for `va` in this tree, under its lock.
        unsafe {
            if entry.read() & DESC_VALID != 0 {
                // Break before make: the old entry goes, and out of the TLB, first.
                entry.write(0);
                tlb_flush_pages(self.asid, va, PAGE);
            }
            entry.write(page_descriptor(frame, perms));
            core::arch::asm!("dsb ishst", options(nostack));
        }
        Ok(())
    }

    fn unmap(&self, va: usize, len: usize) {
        let mut guard = self.tables.lock();
        let Some(tables) = guard.as_mut() else { return };
        let mut any = false;
        tables.for_each_page(va, len, |_, entry| {
            // SAFETY: a level-3 entry of this tree, under its lock.
            unsafe { entry.write(0) };
            any = true;
        });
        if any {
            tables.flush(self.asid, va, len);
        }
    }

    fn begin_batch(&self) {
        // A batch already open (another thread's, on another CPU) stays its own: this
        // thread's invalidations are then done at once.
        if let Some(tables) = self.tables.lock().as_mut() {
            if matches!(tables.batch, Batch::Off) {
                tables.batch = Batch::Empty(crate::task::current_token());
            }
        }
    }

    fn end_batch(&self) {
        let mut guard = self.tables.lock();
        let Some(tables) = guard.as_mut() else { return };
        let me = crate::task::current_token();
        match tables.batch {
            Batch::One(owner, va, len) if owner == me => tlb_flush_pages(self.asid, va, len),
            Batch::Many(owner) if owner == me => tlb_flush_asid(self.asid),
            Batch::Empty(owner) if owner == me => {}
            // Not this thread's: its owner ends it.
            _ => return,
        }
        tables.batch = Batch::Off;
    }

    fn unmap_bounded(&self, va: usize, len: usize, work: &mut usize, from_top: bool) -> usize {
        let end = va.saturating_add(len);
        let mut guard = self.tables.lock();
        let Some(t) = guard.as_mut() else {
            return if from_top { va } else { end };
        };
        let (reached, any) = t.clear_bounded(va, end, work, from_top);
        if any {
            let (lo, hi) = if from_top {
                (reached, end)
            } else {
                (va, reached)
            };
            t.flush(self.asid, lo, hi - lo);
        }
        reached
    }

    fn protect(&self, va: usize, len: usize, perms: MappingPerms) {
        let mut guard = self.tables.lock();
        let Some(tables) = guard.as_mut() else { return };
        let mut any = false;
        tables.for_each_page(va, len, |_, entry| {
            // SAFETY: a level-3 entry of this tree, under its lock.
            any |= unsafe { reprotect(entry, perms) };
        });
        if any {
            tables.flush(self.asid, va, len);
        }
    }

    fn protect_bounded(
        &self,
        va: usize,
        len: usize,
        perms: MappingPerms,
        work: &mut usize,
    ) -> usize {
        let end = va.saturating_add(len);
        let mut guard = self.tables.lock();
        let Some(t) = guard.as_mut() else {
            return end;
        };
        let (reached, any) = t.protect_bounded(va, end, perms, work);
        // Before the lock goes (now, or at the end of the batch, before the tree lock goes):
        // when the call returns, no TLB entry of the part done keeps rights its new entries
        // lack.
        if any {
            t.flush(self.asid, va, reached - va);
        }
        reached
    }
}
