//! User address spaces: one TTBR0 page-table tree per process, tagged with an ASID, over
//! page-pool pages. Implements the object layer's `AddressSpace`, so VMARs install and
//! remove PTEs through it.
//!
//! This is the policy half: ASIDs, which table pages each tree owns and when they are freed,
//! when TLB invalidations are batched, and the accounting `kcheck` checks. The hardware half
//! (descriptor format, the hand-written table walker and why it is not `aarch64-paging`'s,
//! TCR/TTBR0, the TLB invalidation sequences) is `arch::user_mmu`. Tables are freed with the
//! address space (in chunks after the system call that released it, when there are many).
//!
//! With `kcheck` (or in test boots) every address space is listed, and [`table_owners`]
//! accounts for every page-table page the pool has handed out (src/kcheck.rs).
//!
//! # Locking
//! - `UserAddressSpace::tables` (per address space): the tree, its table-page list and the
//!   TLB batch. Taken inside the VMAR tree lock (every [`AddressSpace`] call; a VMO's unmap
//!   reaches it through its family lock, then the tree lock) or alone (release, `kcheck`).
//!   Inside it: the page pool (`memory::with_pool`: new tables, the spend check) and the heap
//!   (the page list, `kcheck`'s lists and messages).
//! - [`ASIDS`]: leaf, taken alone (never with `tables` held: `release` takes the tables out
//!   first).
//! - [`DEAD_TABLES`] and [`SPACES`]: taken alone; only the heap nests inside them. Pages are
//!   freed to the pool and address spaces dropped after they are released.
//!
//! No IRQ handler takes any of them; the kernel holds them with IRQs masked (the page pool
//! masks them itself). Nothing done under them touches user memory, sleeps or passes a
//! preemption point ([`free_dead_tables`] points between chunks, with nothing held).

use crate::memory;
use alloc::format;
use alloc::string::String;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use arch::user_mmu::{self, TablePages, UserPerms, UserTables, LEAF_TABLE_SPAN, PAGE_SIZE};
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use mm::pool::PageUse;
use object::frames::FrameAddr;
use object::vmar::{AddressSpace, MappingPerms};
use object::{Status, ZxResult};

const PAGE: usize = PAGE_SIZE;

/// ASIDs: 0 is the "no process" tag; the rest are handed out and recycled after a TLB flush
/// of the ASID, so a reused tag never meets stale entries.
struct Asids {
    bits: u32,
    free: Vec<u16>,
    next: u32,
}

/// Protects the ASID allocator. Leaf, taken alone; IRQs masked, as the kernel runs.
static ASIDS: spin::Mutex<Asids> = spin::Mutex::new(Asids {
    bits: 8,
    free: Vec::new(),
    next: 1,
});

/// Physical address of an empty top-level table TTBR0 points at when no process runs.
static EMPTY_ROOT: AtomicU64 = AtomicU64::new(0);

/// Enables 16-bit ASIDs where the CPU has them, and TTBR0 walks with an empty table.
pub fn init() -> ZxResult {
    let bits = user_mmu::asid_bits();
    ASIDS.lock().bits = bits;
    let empty = memory::with_pool(|pool| pool.alloc_zeroed(1, PageUse::PageTable))
        .map_err(|_| Status::NO_MEMORY)?;
    EMPTY_ROOT.store(empty, Ordering::Relaxed);
    // SAFETY: `empty` is a zeroed pool page kept for good (never freed, never written); this
    // runs once at boot, before any ASID is handed out.
    unsafe { user_mmu::enable_user_tables(empty, bits) };
    Ok(())
}

/// Enables TTBR0 walks on a secondary CPU as [`init`] did on the boot CPU (after it).
pub fn init_secondary_cpu() {
    let empty = EMPTY_ROOT.load(Ordering::Relaxed);
    let bits = ASIDS.lock().bits;
    // SAFETY: `empty` is the zeroed table `init` kept for good; this CPU has used no ASID
    // but 0 yet (it ran no process).
    unsafe { user_mmu::enable_user_tables(empty, bits) };
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

/// The page permissions of a mapping's `perms`.
#[inline]
fn user_perms(perms: MappingPerms) -> UserPerms {
    UserPerms {
        read: perms.read,
        write: perms.write,
        execute: perms.execute,
    }
}

/// New table pages for one tree's `map_page`, from the pool, listed in the tree's `lower` as
/// they are handed out (so they are freed with it). The first checks the pool can give
/// [`TABLE_RESERVE`] pages: a mapping never starts its tables without them.
struct PoolTables<'a> {
    lower: &'a mut Vec<u64>,
    reserve_checked: bool,
}

// SAFETY: each page is a new zeroed pool page (`alloc_zeroed`, mapped in the linear map), put
// on the tree's own list at once; the list's pages are freed only with the tree
// (`Tables::free`), after it is out of every TTBR0 and the TLB.
unsafe impl TablePages for PoolTables<'_> {
    fn zeroed_table(&mut self) -> Option<u64> {
        if !self.reserve_checked {
            if !memory::can_spend(TABLE_RESERVE) {
                return None;
            }
            self.reserve_checked = true;
        }
        self.lower.try_reserve(1).ok()?;
        let pa = memory::with_pool(|pool| pool.alloc_zeroed(1, PageUse::PageTable)).ok()?;
        self.lower.push(pa);
        Some(pa)
    }
}

/// One process's tables: the tree (by its level-0 table), and every table page below the
/// root (freed with the address space without walking the tree).
struct Tables {
    tree: UserTables,
    lower: Vec<u64>,
    /// TLB invalidations gathered between `begin_batch` and `end_batch`.
    batch: Batch,
}

/// TLB invalidations put off to the end of a batch: none, one range, or more (then the whole
/// ASID is invalidated at once). A batch belongs to the thread that opened it
/// ([`crate::percpu::current_token`]): an unmap by another thread meanwhile (a VMO's, under
/// its own lock, which frees pages once it returns) invalidates at once.
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
        let me = crate::percpu::current_token();
        self.batch = match self.batch {
            Batch::Empty(owner) if owner == me => Batch::One(owner, va, len),
            Batch::One(owner, ..) | Batch::Many(owner) if owner == me => Batch::Many(owner),
            other => {
                user_mmu::flush_range(asid, va, len);
                other
            }
        };
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
        let clear = |entries: &[user_mmu::Entry], any: &mut bool| {
            for entry in entries {
                *any |= entry.clear();
            }
        };
        if !from_top {
            let mut at = va;
            while at < end && *work >= TABLE {
                match self.tree.leaf_table(at) {
                    Ok(table) => {
                        clear(table.leaf_entries(at, end), &mut any);
                        *work -= TABLE;
                        at = ((at | (LEAF_TABLE_SPAN - 1)) + 1).min(end);
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
                match self.tree.leaf_table(last) {
                    Ok(table) => {
                        let table_start = (last & !(LEAF_TABLE_SPAN - 1)).max(va);
                        clear(table.leaf_entries(table_start, top), &mut any);
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
        let execute = perms.execute;
        let perms = user_perms(perms);
        let mut any = false;
        let mut at = va;
        while at < end && *work >= TABLE {
            match self.tree.leaf_table(at) {
                Ok(table) => {
                    for entry in table.leaf_entries(at, end) {
                        if execute && entry.is_valid() {
                            // As in `map_page`: code written through a writable mapping.
                            let frame = entry.load().address();
                            arch::cache::sync_instructions(arch::mmu::phys_to_virt(frame), PAGE);
                        }
                        any |= entry.reprotect(perms);
                    }
                    *work -= TABLE;
                    at = ((at | (LEAF_TABLE_SPAN - 1)) + 1).min(end);
                }
                Err(span) => {
                    *work -= 1;
                    at = (at | (span - 1)).saturating_add(1).min(end);
                }
            }
        }
        (at, any)
    }

    /// Frees every table page below the root (the address space frees its root when it
    /// drops): at once when they are few, else in chunks later ([`free_dead_tables`]); an
    /// address space may have a table for every 2 MiB it touched, hundreds of thousands of
    /// pages. The caller has cut them off the root and invalidated the TLB.
    fn free_lower(self) {
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
/// alone, never around another lock but the heap's (the list grows, a chunk is cut off);
/// the pages go to the pool after it is released. IRQs masked, as the kernel runs.
static DEAD_TABLES: spin::Mutex<Vec<Vec<u64>>> = spin::Mutex::new(Vec::new());
/// Whether `DEAD_TABLES` may hold anything.
static DEAD_TABLES_PENDING: AtomicBool = AtomicBool::new(false);

/// Frees the table pages left in `DEAD_TABLES`, with a preemption point between chunks; a
/// killed thread stops at its first point and leaves the rest to the idle loop.
/// A chunk another CPU is freeing is waited for (it is short).
pub fn free_dead_tables() {
    loop {
        let more = if free_dead_tables_chunk() {
            true
        } else {
            core::hint::spin_loop();
            DEAD_TABLES_IN_FLIGHT.load(Ordering::Acquire) != 0
        };
        if !more || !object::preempt::point() {
            return;
        }
    }
}

/// [`free_dead_tables`] to the end, with finish points between chunks (a process's end does
/// it, maybe on its own killed thread).
/// A chunk another CPU is freeing is waited for (it is short).
pub fn free_dead_tables_finishing() {
    loop {
        if free_dead_tables_chunk() {
            object::preempt::finish_point();
        } else if DEAD_TABLES_IN_FLIGHT.load(Ordering::Acquire) != 0 {
            object::preempt::finish_point();
            core::hint::spin_loop();
        } else {
            return;
        }
    }
}

/// Chunks cut off `DEAD_TABLES` whose pages are being freed now (cut and counted under its
/// lock).
static DEAD_TABLES_IN_FLIGHT: core::sync::atomic::AtomicUsize =
    core::sync::atomic::AtomicUsize::new(0);

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
        if !chunk.is_empty() {
            DEAD_TABLES_IN_FLIGHT.fetch_add(1, Ordering::AcqRel);
        }
    }
    free_table_pages(&chunk);
    if !chunk.is_empty() {
        DEAD_TABLES_IN_FLIGHT.fetch_sub(1, Ordering::Release);
    }
    DEAD_TABLES_PENDING.load(Ordering::Acquire)
}

pub struct UserAddressSpace {
    /// Protects the tree, its pages and the TLB batch. Inside the VMAR tree lock; the page
    /// pool and the heap nest inside it; IRQs masked, as the kernel runs.
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
                // SAFETY: `root` is a new zeroed pool page, owned by this tree alone until
                // `Tables::free`; every table below it comes from `PoolTables`.
                tree: unsafe { UserTables::new(root) },
                lower: Vec::new(),
                batch: Batch::Off,
            })),
            asid,
            root,
        });
        if LISTED.load(Ordering::Relaxed) {
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
        user_mmu::ttbr0(self.root, self.asid)
    }

    /// Frees the page tables below the root and the ASID; the root stays, empty, until the
    /// address space drops. Threads of the process may still run on other CPUs until they
    /// next enter the kernel (they are dead, interrupted, on their way out), with TTBR0 on
    /// this root: cut off from the lower tables and with the ASID invalidated everywhere
    /// (walk caches included) first, every access of theirs faults, and no CPU can reach the
    /// freed tables. Nothing can fill the TLB with the ASID from an empty root either, so it
    /// is free for another address space at once.
    pub fn release(&self) {
        let tables = self.tables.lock().take();
        if let Some(tables) = tables {
            tables.tree.detach_root();
            user_mmu::flush_asid(self.asid);
            tables.free_lower();
            ASIDS.lock().free.push(self.asid);
        }
    }
}

impl Drop for UserAddressSpace {
    fn drop(&mut self) {
        self.release();
        // No CPU has TTBR0 on it any more: a CPU's TTBR0 selects the address space of the
        // thread it runs, which holds its process, which holds this.
        free_table_pages(&[self.root]);
        if LISTED.load(Ordering::Relaxed) {
            let mut spaces = SPACES.lock();
            let me: *const UserAddressSpace = self;
            if let Some(i) = spaces.iter().position(|w| w.as_ptr() == me) {
                spaces.swap_remove(i);
            }
        }
    }
}

/// Every address space not yet dropped, for the kernel's invariant checks (`kcheck`); kept
/// only while they are on. Taken alone, never around another lock but the heap's (IRQs
/// masked, as all kernel code runs); no address space is dropped under it.
static SPACES: spin::Mutex<Vec<Weak<UserAddressSpace>>> = spin::Mutex::new(Vec::new());

/// Address spaces are listed in [`SPACES`] (set once, by `kcheck`, before any exists).
static LISTED: AtomicBool = AtomicBool::new(false);

/// Lists every address space made from now on in [`SPACES`], for the invariant checks.
/// Called before the first one is made: one made earlier would be missing from the list.
pub fn keep_list() {
    LISTED.store(true, Ordering::Relaxed);
}

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
            // Released: only the root is left.
            owners.in_spaces += 1;
            if let Some(pages) = pages.as_deref_mut() {
                pages.try_reserve(1).map_err(|_| "no memory")?;
                pages.push(space.root);
            }
            continue;
        };
        owners.in_spaces += 1 + tables.lower.len();
        if let Some(pages) = pages.as_deref_mut() {
            pages
                .try_reserve(1 + tables.lower.len())
                .map_err(|_| "no memory")?;
            pages.push(tables.tree.root());
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
        // The walker descends only into tables this accepts, so never leaves the tree's own
        // pages.
        self.tree.visit_tables(|level, pa, i, descriptor| {
            let child = descriptor.address();
            if own.binary_search(&child).is_err() {
                return Err(format!(
                    "address space (ASID {asid}): the level-{level} table {pa:#x} entry {i} \
                     points at {child:#x}, not one of its {} table pages",
                    own.len() + 1
                ));
            }
            if !descriptor.is_table_or_page() {
                return Err(format!(
                    "address space (ASID {asid}): the level-{level} table {pa:#x} entry {i} \
                     is a block ({:#x})",
                    descriptor.bits()
                ));
            }
            reached += 1;
            Ok(())
        })?;
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
    // SAFETY: the value names live tables, a process's or the empty one (never freed). A
    // process's root lives until its address space drops, after every thread of it left its
    // CPU; `release` frees the lower tables only once they are cut off the root and the ASID
    // is invalidated everywhere, so no walk from this root reaches them. Their pages map only
    // VMO frames the process's VMARs map.
    unsafe { user_mmu::set_ttbr0(value) };
}

impl AddressSpace for UserAddressSpace {
    fn map_page(&self, va: usize, frame: FrameAddr, perms: MappingPerms) -> ZxResult {
        let mut guard = self.tables.lock();
        let Some(tables) = guard.as_mut() else {
            return Err(Status::BAD_STATE);
        };
        // The tables are usually there already; the reserve is checked only before making
        // one.
        let mut pages = PoolTables {
            lower: &mut tables.lower,
            reserve_checked: false,
        };
        let entry = tables
            .tree
            .make_leaf(va, &mut pages)
            .ok_or(Status::NO_MEMORY)?;
        // Break before make: the old entry goes, and out of the TLB, first.
        if entry.clear() {
            user_mmu::flush_range(self.asid, va, PAGE);
        }
        // An entry cleared by a batch still open (another thread's, which released this
        // lock between two steps) may still be in some CPU's TLB: the batch's invalidation
        // is done now, before a new entry could meet the stale one.
        match tables.batch {
            Batch::One(owner, start, len) => {
                user_mmu::flush_range(self.asid, start, len);
                tables.batch = Batch::Empty(owner);
            }
            Batch::Many(owner) => {
                user_mmu::flush_asid(self.asid);
                tables.batch = Batch::Empty(owner);
            }
            Batch::Off | Batch::Empty(_) => {}
        }
        if perms.execute {
            // The page's contents were written through the data side (the linear map, or a
            // writable mapping): every CPU must fetch them, not stale instructions.
            arch::cache::sync_instructions(arch::mmu::phys_to_virt(frame), PAGE);
        }
        entry.set_page(frame, user_perms(perms));
        user_mmu::sync_new_entries();
        Ok(())
    }

    fn unmap(&self, va: usize, len: usize) {
        let mut guard = self.tables.lock();
        let Some(tables) = guard.as_mut() else { return };
        let mut any = false;
        tables.tree.for_each_page(va, len, |_, entry| {
            entry.clear();
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
                tables.batch = Batch::Empty(crate::percpu::current_token());
            }
        }
    }

    fn end_batch(&self) {
        let mut guard = self.tables.lock();
        let Some(tables) = guard.as_mut() else { return };
        let me = crate::percpu::current_token();
        match tables.batch {
            Batch::One(owner, va, len) if owner == me => user_mmu::flush_range(self.asid, va, len),
            Batch::Many(owner) if owner == me => user_mmu::flush_asid(self.asid),
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
        let execute = perms.execute;
        let perms = user_perms(perms);
        tables.tree.for_each_page(va, len, |_, entry| {
            if execute && entry.is_valid() {
                // Code written through a writable mapping becomes executable: as in
                // `map_page`.
                let frame = entry.load().address();
                arch::cache::sync_instructions(arch::mmu::phys_to_virt(frame), PAGE);
            }
            any |= entry.reprotect(perms);
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
