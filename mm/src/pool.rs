//! The physical page pool: a buddy allocator over free RAM plus a per-frame reference count
//! table.
//!
//! The buddy free lists are intrusive: they live in the free pages themselves, which the pool
//! reaches through a linear map (`virtual = physical + phys_offset`, wrapping). Nothing here
//! allocates, so the pool works before the kernel heap exists (the heap grows from it).
//!
//! The buddy allocator is the pool's own rather than the `buddy_system_allocator` crate's
//! (which the kernel heap still uses, per chunk): that crate finds a freed block's buddy by
//! walking the free list of its order, so freeing costs as much as the list is long, and
//! pages freed out of order leave long lists: two threads committing VMOs at once on two
//! CPUs interleave their pages, and freeing one 1 GiB VMO then walked lists of thousands of
//! single pages per page freed, seconds with the pool locked (found by the fuzzer at
//! `-smp 4`). Here each list is doubly linked and the head page of a free block says its
//! order in its frame-table entry, so a buddy is found and unlinked in constant time.
//!
//! # Frame table
//!
//! Every page frame of every RAM range has one `AtomicU32` entry holding a 3-bit state and a
//! 29-bit reference count:
//!
//! * *untracked*: RAM the pool does not own (kernel image, DTB, reserved memory, ...). Its
//!   count may still be raised and lowered (e.g. for kernel pages mapped into user space),
//!   but such pages are never freed into the pool.
//! * *free*: on the buddy free lists (or the quick pages); no count, and reference operations
//!   fail. The count's bits hold the block's order plus one in the first page of a block on
//!   a free list, 0 in every other free page.
//! * *allocated for a [`PageUse`]*: handed out by [`PagePool::alloc_pages`] with count 1.
//! * *held*: given up by its owner while something may still read or write it (a copy that
//!   runs without its owner's lock), so not reusable yet: instead of a count, the entry holds
//!   the link to the next frame of the owner's [`HeldFrames`] list, so the list costs no
//!   memory and nothing is written into the page. [`PagePool::free_held`] frees the list.
//!   A held page still counts as used by its use until then.
//!
//! The entry records the use so that [`PagePool::free_pages`] can check the caller's claim
//! and keep the per-use accounting exact.
//!
//! # Locking
//! No lock here: a [`PagePool`] is changed through `&mut`, and the kernel keeps its one pool
//! under one lock (`POOL` in src/memory.rs: taken through `memory::with_pool`, which masks
//! IRQs while it is held, and once at boot to install the pool). That lock is a leaf, as
//! nothing here allocates or takes a lock, and nests inside any other (a VMO family's, an
//! address space's tables; the heap grows only after releasing its own lock). The frame
//! table's reference counts are atomics, but are changed with that lock held all the same.

use core::fmt;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicU32, Ordering};

use crate::memmap::{PhysRange, RangeSet};
use crate::{PAGE_SHIFT, PAGE_SIZE};

// Physical addresses are u64 and virtual ones usize; converting between them with `as` is
// lossless only on 64-bit targets, which are the only ones the kernel supports.
const _: () = assert!(usize::BITS == 64);

/// Maximum number of (merged) RAM ranges the frame table can describe.
pub const MAX_RAM_RANGES: usize = 8;

/// Buddy orders (a block of order `k` is 2^k pages): blocks of up to 2^48 bytes, enough for
/// any RAM range below 2^48.
const ORDERS: usize = 37;
const MAX_ORDER: usize = ORDERS - 1;
const MAX_BLOCK_PAGES: usize = 1 << MAX_ORDER;
const MAX_BLOCK_BYTES: usize = MAX_BLOCK_PAGES << PAGE_SHIFT;
const PAGE: u64 = PAGE_SIZE as u64;

const TAG_SHIFT: u32 = 29;
const REF_MASK: u32 = (1 << TAG_SHIFT) - 1;
const TAG_UNTRACKED: u32 = 0;
const TAG_HELD: u32 = 6;
const TAG_FREE: u32 = 7;
const FREE_ENTRY: u32 = TAG_FREE << TAG_SHIFT;

const fn tag_of(entry: u32) -> u32 {
    entry >> TAG_SHIFT
}

const fn refs_of(entry: u32) -> u32 {
    entry & REF_MASK
}

/// Whether a page whose frame-table entry is `entry` may be given up (freed or held) by its
/// last owner, who claims it was allocated for `use_`: allocated for that use, with at most
/// the owner's own reference left.
fn last_owner_may_give_up(entry: u32, use_: PageUse) -> Result<(), PoolError> {
    match tag_of(entry) {
        TAG_UNTRACKED => Err(PoolError::NotPoolMemory),
        TAG_FREE | TAG_HELD => Err(PoolError::NotAllocated),
        t if t != use_.tag() => Err(PoolError::UseMismatch),
        _ if refs_of(entry) > 1 => Err(PoolError::StillReferenced),
        _ => Ok(()),
    }
}

/// What a page handed out by the pool is used for (accounting only).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PageUse {
    /// The pool's own frame table (allocated once, never freed).
    FrameTable,
    /// Backing memory of the kernel heap.
    Heap,
    /// Translation tables.
    PageTable,
    /// Pages owned by virtual memory objects.
    Vmo,
    /// Other kernel uses (stacks, ...).
    Kernel,
}

impl PageUse {
    /// Number of uses, the length of [`PoolStats::used_by`].
    pub const COUNT: usize = 5;
    /// Every use, in index order.
    pub const ALL: [PageUse; PageUse::COUNT] = [
        PageUse::FrameTable,
        PageUse::Heap,
        PageUse::PageTable,
        PageUse::Vmo,
        PageUse::Kernel,
    ];

    /// Index into [`PoolStats::used_by`].
    pub const fn index(self) -> usize {
        self as usize
    }

    /// Frame-table state tag: 1..=COUNT, between "untracked" (0) and "free" (7).
    const fn tag(self) -> u32 {
        self as u32 + 1
    }

    const fn allocated_entry(self) -> u32 {
        (self.tag() << TAG_SHIFT) | 1
    }
}

const _: () = assert!(PageUse::COUNT < TAG_HELD as usize);

/// Frames given up while a copy may still touch them ([`PagePool::hold`]), linked through
/// their frame-table entries; [`PagePool::free_held`] frees them. Empty by default.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct HeldFrames {
    /// Frame-table index of the first frame plus one; 0 for none.
    head: u32,
    /// Frames on the list.
    len: usize,
}

impl HeldFrames {
    /// Whether the list holds no frame.
    pub fn is_empty(&self) -> bool {
        self.head == 0
    }

    /// Frames on the list.
    pub fn len(&self) -> usize {
        self.len
    }

    /// The list as two numbers, for an owner that keeps it in a type of its own; only
    /// [`HeldFrames::from_raw`] of the same pool gives them meaning again.
    pub fn into_raw(self) -> (u64, u64) {
        (u64::from(self.head), self.len as u64)
    }

    /// A list from [`HeldFrames::into_raw`]. Numbers that do not come from there make
    /// [`PagePool::free_held`] fail, not free something else: it checks each entry.
    pub fn from_raw(head: u64, len: u64) -> HeldFrames {
        HeldFrames {
            head: u32::try_from(head).unwrap_or(u32::MAX),
            len: len as usize,
        }
    }
}

impl fmt::Display for PageUse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PageUse::FrameTable => "frame-table",
            PageUse::Heap => "heap",
            PageUse::PageTable => "page-table",
            PageUse::Vmo => "vmo",
            PageUse::Kernel => "kernel",
        })
    }
}

/// Errors from the page pool. The pool state is unchanged whenever one is returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolError {
    /// No free block large (and aligned) enough.
    OutOfMemory,
    /// Malformed request: zero count, unaligned address, alignment not a power of two or
    /// larger than the linear map preserves, [`PageUse::FrameTable`] passed by a caller, or
    /// inconsistent ranges given to [`PagePool::new`].
    InvalidArgument,
    /// More than [`MAX_RAM_RANGES`] RAM ranges.
    TooManyRamRanges,
    /// A reference-count operation on an address outside RAM.
    NotRam,
    /// Freeing pages the pool does not manage (outside RAM or never given to the pool).
    NotPoolMemory,
    /// The page is free in the pool (double free, or referencing a free page).
    NotAllocated,
    /// Freeing pages under a different [`PageUse`] than they were allocated for.
    UseMismatch,
    /// Freeing a page whose reference count is above 1.
    StillReferenced,
    /// Decrementing a reference count that is already 0.
    RefCountUnderflow,
    /// Incrementing a reference count past its 29-bit maximum.
    RefCountOverflow,
}

impl fmt::Display for PoolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PoolError::OutOfMemory => "out of physical memory",
            PoolError::InvalidArgument => "invalid argument",
            PoolError::TooManyRamRanges => "too many RAM ranges",
            PoolError::NotRam => "address is not RAM",
            PoolError::NotPoolMemory => "address is not managed by the page pool",
            PoolError::NotAllocated => "page is not allocated",
            PoolError::UseMismatch => "page was allocated for another use",
            PoolError::StillReferenced => "page is still referenced",
            PoolError::RefCountUnderflow => "reference count underflow",
            PoolError::RefCountOverflow => "reference count overflow",
        })
    }
}

/// Page accounting. `total_pages == free_pages + used_by.iter().sum()` always holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolStats {
    /// Pages managed by the pool, including its frame table.
    pub total_pages: usize,
    /// Pages on the buddy free lists.
    pub free_pages: usize,
    /// Allocated pages per [`PageUse::index`].
    pub used_by: [usize; PageUse::COUNT],
}

impl PoolStats {
    /// Pages handed out, all uses together.
    pub fn used_pages(&self) -> usize {
        self.used_by.iter().sum()
    }
}

/// The frames of one merged RAM range and where their entries start in the frame table.
#[derive(Clone, Copy)]
struct RamSpan {
    first_pfn: u64,
    pages: u64,
    table_base: usize,
}

/// The physical page allocator. See the module documentation.
pub struct PagePool {
    /// The first free block of each order (its virtual address; 0: none). Each free block's
    /// first page starts with its [`FreeNode`].
    free_lists: [usize; ORDERS],
    /// Pages in blocks on the free lists.
    buddy_pages: usize,
    phys_offset: usize,
    spans: [RamSpan; MAX_RAM_RANGES],
    span_count: usize,
    table: NonNull<AtomicU32>,
    table_len: usize,
    table_range: PhysRange,
    total_pages: usize,
    free_pages: usize,
    used_by: [usize; PageUse::COUNT],
    /// Pages of each use that are held ([`PagePool::hold`]): still counted in `used_by`.
    held_by: [usize; PageUse::COUNT],
    /// Free single pages kept off the buddy free lists for quick reuse: they count as free
    /// (their entries say so), and go back to the buddy allocator whenever an allocation
    /// fails, so they never stand in the way of a larger block.
    quick: [u64; QUICK_PAGES],
    quick_len: usize,
}

/// How many freed single pages the pool keeps for quick reuse: 1 MiB, so that a VMO of that
/// size can be faulted in, dropped and faulted in again without the buddy allocator's
/// splitting and merging (Linux keeps a few hundred pages per CPU for the same reason).
const QUICK_PAGES: usize = 256;

// SAFETY: the pool exclusively owns its pages and frame table (contract of `new`); nothing in
// it is tied to the creating CPU, so it may move between CPUs.
unsafe impl Send for PagePool {}
// SAFETY: `&self` methods only read plain fields or access the frame table through atomics;
// every mutation of the free lists and counters takes `&mut self`.
unsafe impl Sync for PagePool {}

impl PagePool {
    /// Creates the pool.
    ///
    /// `ram` lists every RAM range (any alignment; entries may touch or overlap, at most
    /// [`MAX_RAM_RANGES`] after merging); `free` lists page-aligned, non-overlapping ranges
    /// inside RAM that the pool may use (e.g. from [`crate::memmap::free_ranges`]).
    /// `phys_offset` must be page aligned. The frame table is carved from the end of the
    /// first free range large enough and accounted as [`PageUse::FrameTable`]; the rest goes
    /// to the buddy allocator. Pages whose linear-map address would be null or wrap around
    /// the address space are left unused.
    ///
    /// The largest alignment [`PagePool::alloc_pages_aligned`] can give is the alignment of
    /// `phys_offset` (buddy blocks are aligned in the virtual addresses).
    ///
    /// # Safety
    ///
    /// Every range in `free` must be unused RAM, readable and writable at
    /// `pa.wrapping_add(phys_offset)`, used by nobody else, and stay so for as long as the
    /// pool or any page it hands out is alive.
    pub unsafe fn new(
        phys_offset: usize,
        ram: &[PhysRange],
        free: &[PhysRange],
    ) -> Result<PagePool, PoolError> {
        if !phys_offset.is_multiple_of(PAGE_SIZE) {
            return Err(PoolError::InvalidArgument);
        }

        // Outward alignment so partial pages at the edges still get an entry; merging so a
        // frame shared by two touching entries gets exactly one.
        let mut merged = RangeSet::<MAX_RAM_RANGES>::new();
        for r in ram {
            merged
                .insert(r.page_align_outward())
                .map_err(|_| PoolError::TooManyRamRanges)?;
        }
        let mut spans = [RamSpan {
            first_pfn: 0,
            pages: 0,
            table_base: 0,
        }; MAX_RAM_RANGES];
        let mut table_len = 0usize;
        for (span, r) in spans.iter_mut().zip(merged.iter()) {
            let pages = r.len() >> PAGE_SHIFT;
            *span = RamSpan {
                first_pfn: r.start >> PAGE_SHIFT,
                pages,
                table_base: table_len,
            };
            table_len = usize::try_from(pages)
                .ok()
                .and_then(|p| table_len.checked_add(p))
                .ok_or(PoolError::InvalidArgument)?;
        }
        // A held frame's entry links to the next by table index plus one (2 TiB of RAM).
        if table_len >= REF_MASK as usize {
            return Err(PoolError::InvalidArgument);
        }
        let table_bytes = table_len
            .checked_mul(size_of::<AtomicU32>())
            .and_then(|b| b.checked_next_multiple_of(PAGE_SIZE))
            .ok_or(PoolError::InvalidArgument)?;

        for (i, f) in free.iter().enumerate() {
            if f.is_empty() {
                continue;
            }
            let aligned = f.start.is_multiple_of(PAGE) && f.end.is_multiple_of(PAGE);
            let in_ram = merged.iter().any(|r| r.start <= f.start && f.end <= r.end);
            let overlaps = free[..i].iter().any(|g| g.overlaps(f));
            if !aligned || !in_ram || overlaps {
                return Err(PoolError::InvalidArgument);
            }
        }

        let mut table_range = PhysRange::EMPTY;
        let mut table = NonNull::dangling();
        if table_bytes > 0 {
            let host = free
                .iter()
                .map(|f| usable(phys_offset, *f))
                .find(|u| u.len() >= table_bytes as u64)
                .ok_or(PoolError::OutOfMemory)?;
            table_range = PhysRange::new(host.end - table_bytes as u64, host.end);
            let va = (table_range.start as usize).wrapping_add(phys_offset);
            // SAFETY: the table lies in a free range (caller: unused, writable through the
            // linear map), and `usable` ensured its virtual range neither is null nor wraps.
            unsafe { core::ptr::write_bytes(va as *mut u8, 0, table_bytes) };
            // A zeroed AtomicU32 is a valid 0 ("untracked, no references"); `va` is page
            // aligned because both the physical address and phys_offset are.
            table = NonNull::new(va as *mut AtomicU32).ok_or(PoolError::InvalidArgument)?;
        }

        let mut pool = PagePool {
            free_lists: [0; ORDERS],
            buddy_pages: 0,
            phys_offset,
            spans,
            span_count: merged.len(),
            table,
            table_len,
            table_range,
            total_pages: 0,
            free_pages: 0,
            used_by: [0; PageUse::COUNT],
            held_by: [0; PageUse::COUNT],
            quick: [0; QUICK_PAGES],
            quick_len: 0,
        };

        let table_pages = table_bytes / PAGE_SIZE;
        if let Some(entries) = pool.frames(table_range.start, table_pages) {
            for e in entries {
                e.store(PageUse::FrameTable.allocated_entry(), Ordering::Relaxed);
            }
        }
        pool.total_pages = table_pages;
        pool.used_by[PageUse::FrameTable.index()] = table_pages;

        for f in free {
            let u = usable(phys_offset, *f);
            let below = PhysRange::new(u.start, u.end.min(table_range.start));
            let above = PhysRange::new(u.start.max(table_range.end), u.end);
            let pieces = if u.overlaps(&table_range) {
                [below, above]
            } else {
                [u, PhysRange::EMPTY]
            };
            for piece in pieces.into_iter().filter(|p| !p.is_empty()) {
                let pages = (piece.len() / PAGE) as usize;
                if let Some(entries) = pool.frames(piece.start, pages) {
                    for e in entries {
                        e.store(FREE_ENTRY, Ordering::Relaxed);
                    }
                }
                let va = (piece.start as usize).wrapping_add(phys_offset);
                // SAFETY: the piece is free RAM the caller gave us (its entries just marked
                // free), writable at `va`, not overlapping the frame table or any other piece
                // (free ranges were checked disjoint), and its virtual range does not wrap
                // (`usable`).
                unsafe { pool.release(va, pages) };
                pool.total_pages += pages;
                pool.free_pages += pages;
            }
        }

        log::debug!(
            "page pool: {} pages, frame table {} ({} pages)",
            pool.total_pages,
            table_range,
            table_pages
        );
        Ok(pool)
    }

    /// The linear-map offset given to [`PagePool::new`].
    pub fn phys_offset(&self) -> usize {
        self.phys_offset
    }

    /// Virtual address of `pa` in the linear map.
    pub fn phys_to_virt(&self, pa: u64) -> usize {
        (pa as usize).wrapping_add(self.phys_offset)
    }

    /// Physical range holding the frame table.
    pub fn frame_table(&self) -> PhysRange {
        self.table_range
    }

    /// Free pages (what `stats().free_pages` says, without copying the rest).
    pub fn free_page_count(&self) -> usize {
        self.free_pages
    }

    /// Current accounting.
    pub fn stats(&self) -> PoolStats {
        PoolStats {
            total_pages: self.total_pages,
            free_pages: self.free_pages,
            used_by: self.used_by,
        }
    }

    /// Allocates `count` contiguous pages for `use_`, aligned to the next power of two of
    /// `count` pages. Exactly `count` pages are accounted and returned, each with reference
    /// count 1; the rest of the power-of-two buddy block goes straight back to the free lists.
    pub fn alloc_pages(&mut self, count: usize, use_: PageUse) -> Result<u64, PoolError> {
        if count == 1 && use_ != PageUse::FrameTable {
            if let Some(pa) = self.take_quick(use_) {
                return Ok(pa);
            }
        }
        self.alloc_pages_aligned(count, PAGE_SIZE, use_)
    }

    /// The most recently freed quick page, now allocated for `use_`.
    #[inline]
    fn take_quick(&mut self, use_: PageUse) -> Option<u64> {
        let pa = *self.quick[..self.quick_len].last()?;
        let [entry] = self.frames(pa, 1)? else {
            return None;
        };
        entry.store(use_.allocated_entry(), Ordering::Release);
        self.quick_len -= 1;
        self.free_pages -= 1;
        self.used_by[use_.index()] += 1;
        Some(pa)
    }

    /// Like [`PagePool::alloc_pages`], with the physical address also aligned to
    /// `align_bytes` (a power of two; values below the page size mean page alignment).
    ///
    /// Fails with [`PoolError::InvalidArgument`] if `align_bytes` exceeds the alignment of
    /// `phys_offset` (the linear map would not preserve it).
    pub fn alloc_pages_aligned(
        &mut self,
        count: usize,
        align_bytes: usize,
        use_: PageUse,
    ) -> Result<u64, PoolError> {
        if count == 0 || use_ == PageUse::FrameTable || !align_bytes.is_power_of_two() {
            return Err(PoolError::InvalidArgument);
        }
        if align_bytes > self.max_align() {
            return Err(PoolError::InvalidArgument);
        }
        if count > self.free_pages {
            return Err(PoolError::OutOfMemory);
        }
        if count == 1 && align_bytes <= PAGE_SIZE {
            if let Some(pa) = self.take_quick(use_) {
                return Ok(pa);
            }
        }
        match self.alloc_from_buddy(count, align_bytes, use_) {
            Err(PoolError::OutOfMemory) if self.quick_len > 0 => {
                self.flush_quick();
                self.alloc_from_buddy(count, align_bytes, use_)
            }
            result => result,
        }
    }

    /// Gives the quick pages back to the buddy allocator, where they merge with their buddies.
    fn flush_quick(&mut self) {
        while self.quick_len > 0 {
            self.quick_len -= 1;
            let va = self.phys_to_virt(self.quick[self.quick_len]);
            // SAFETY: a quick page is free (its entry says so), allocated from the buddy
            // heap as far as the heap knows, and used by nobody.
            unsafe { self.release(va, 1) };
        }
    }

    fn alloc_from_buddy(
        &mut self,
        count: usize,
        align_bytes: usize,
        use_: PageUse,
    ) -> Result<u64, PoolError> {
        let block_pages = count
            .checked_next_power_of_two()
            .ok_or(PoolError::OutOfMemory)?
            .max(align_bytes >> PAGE_SHIFT);
        if block_pages > MAX_BLOCK_PAGES {
            return Err(PoolError::OutOfMemory);
        }
        let va = self
            .take_block(block_pages.trailing_zeros() as usize)
            .ok_or(PoolError::OutOfMemory)?;
        // SAFETY: the tail of the block we just took is unused by anyone.
        unsafe { self.release(va + (count << PAGE_SHIFT), block_pages - count) };

        let pa = va.wrapping_sub(self.phys_offset) as u64;
        let Some(entries) = self.frames(pa, count) else {
            // Unreachable: every page on the free lists has an entry. Undo instead of
            // panicking.
            // SAFETY: the pages were just taken from the free lists and are unused.
            unsafe { self.release(va, count) };
            return Err(PoolError::OutOfMemory);
        };
        for e in entries {
            e.store(use_.allocated_entry(), Ordering::Release);
        }
        self.free_pages -= count;
        self.used_by[use_.index()] += count;
        Ok(pa)
    }

    /// [`PagePool::alloc_pages`], then fills the pages with zeros through the linear map.
    pub fn alloc_zeroed(&mut self, count: usize, use_: PageUse) -> Result<u64, PoolError> {
        let pa = self.alloc_pages(count, use_)?;
        // SAFETY: the `count` pages were just allocated, so nobody else uses them, and they
        // are writable through the linear map (contract of `new`).
        unsafe { core::ptr::write_bytes(self.phys_to_virt(pa) as *mut u8, 0, count * PAGE_SIZE) };
        Ok(pa)
    }

    /// Returns `count` pages starting at `pa` to the pool.
    ///
    /// Any run of pages that are all allocated for `use_` may be freed, not only a whole
    /// allocation (e.g. one page of a multi-page block). Every page must have reference count
    /// 0 or 1: the caller is the last owner, whether it still holds the allocation reference
    /// or has already dropped it with [`PagePool::page_ref_dec`]. All pages are checked
    /// before any is freed, so on error nothing changes. Double frees are reported as
    /// [`PoolError::NotAllocated`].
    pub fn free_pages(&mut self, pa: u64, count: usize, use_: PageUse) -> Result<(), PoolError> {
        if count == 0 || use_ == PageUse::FrameTable || !pa.is_multiple_of(PAGE) {
            return Err(PoolError::InvalidArgument);
        }
        {
            let entries = self.frames(pa, count).ok_or(PoolError::NotPoolMemory)?;
            for e in entries {
                last_owner_may_give_up(e.load(Ordering::Acquire), use_)?;
            }
            for e in entries {
                e.store(FREE_ENTRY, Ordering::Release);
            }
        }
        if count == 1 && self.quick_len < QUICK_PAGES {
            self.quick[self.quick_len] = pa;
            self.quick_len += 1;
        } else {
            // SAFETY: the pages were allocated from this pool (their entries said so) and
            // the caller, as last owner, gives them up.
            unsafe { self.release(self.phys_to_virt(pa), count) };
        }
        self.free_pages += count;
        self.used_by[use_.index()] -= count;
        Ok(())
    }

    /// Reference count of the frame containing `pa`, `None` if it is not RAM. Free pages
    /// report 0.
    pub fn page_ref(&self, pa: u64) -> Option<u32> {
        let i = self.frame_index(pa)?;
        let entry = self.table()[i].load(Ordering::Acquire);
        Some(if tag_of(entry) == TAG_FREE {
            0
        } else {
            refs_of(entry)
        })
    }

    /// Adds a reference to the frame containing `pa`; returns the new count. Fails for
    /// non-RAM and for pages free or held in the pool.
    pub fn page_ref_inc(&self, pa: u64) -> Result<u32, PoolError> {
        let e = &self.table()[self.frame_index(pa).ok_or(PoolError::NotRam)?];
        e.fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
            (tag_of(v) < TAG_HELD && refs_of(v) < REF_MASK).then(|| v + 1)
        })
        .map(|old| refs_of(old) + 1)
        .map_err(|v| {
            if tag_of(v) >= TAG_HELD {
                PoolError::NotAllocated
            } else {
                PoolError::RefCountOverflow
            }
        })
    }

    /// Drops a reference to the frame containing `pa`; returns the new count. Reaching 0
    /// does not free the page: its owner then calls [`PagePool::free_pages`].
    pub fn page_ref_dec(&self, pa: u64) -> Result<u32, PoolError> {
        let e = &self.table()[self.frame_index(pa).ok_or(PoolError::NotRam)?];
        e.fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
            (tag_of(v) < TAG_HELD && refs_of(v) > 0).then(|| v - 1)
        })
        .map(|old| refs_of(old) - 1)
        .map_err(|v| {
            if tag_of(v) >= TAG_HELD {
                PoolError::NotAllocated
            } else {
                PoolError::RefCountUnderflow
            }
        })
    }

    /// Gives up a page allocated for `use_` whose owner is done with it while something may
    /// still read or write its contents (a copy running without the owner's lock): the page
    /// is not reused until [`PagePool::free_held`] frees `list`. Nothing is written into the
    /// page: it is linked into `list` through its frame-table entry. Like
    /// [`PagePool::free_pages`], the caller must be the page's last owner; on error nothing
    /// changes. Every page of one list must be of one use.
    pub fn hold(&mut self, pa: u64, use_: PageUse, list: &mut HeldFrames) -> Result<(), PoolError> {
        if use_ == PageUse::FrameTable || !pa.is_multiple_of(PAGE) {
            return Err(PoolError::InvalidArgument);
        }
        let index = self.frame_index(pa).ok_or(PoolError::NotPoolMemory)?;
        let entry = &self.table()[index];
        last_owner_may_give_up(entry.load(Ordering::Acquire), use_)?;
        // `new` keeps every index plus one below REF_MASK.
        entry.store((TAG_HELD << TAG_SHIFT) | list.head, Ordering::Release);
        list.head = index as u32 + 1;
        list.len += 1;
        self.held_by[use_.index()] += 1;
        Ok(())
    }

    /// Frees every page of `list` (held for `use_` by [`PagePool::hold`]) and empties it.
    /// Stops with [`PoolError::NotAllocated`] at an entry that is not held (a list that was
    /// not built by `hold` on this pool), leaving the rest on the list.
    pub fn free_held(&mut self, list: &mut HeldFrames, use_: PageUse) -> Result<(), PoolError> {
        while list.head != 0 {
            let index = list.head as usize - 1;
            let v = self
                .table()
                .get(index)
                .ok_or(PoolError::NotAllocated)?
                .load(Ordering::Acquire);
            if tag_of(v) != TAG_HELD || self.held_by[use_.index()] == 0 {
                return Err(PoolError::NotAllocated);
            }
            let pa = self.frame_address(index).ok_or(PoolError::NotAllocated)?;
            list.head = refs_of(v);
            list.len -= 1;
            self.held_by[use_.index()] -= 1;
            // Back to allocated with one reference: then freed like any other page.
            self.table()[index].store(use_.allocated_entry(), Ordering::Release);
            self.free_pages(pa, 1, use_)?;
        }
        Ok(())
    }

    /// Physical address of the frame whose entry is at `index` of the frame table.
    fn frame_address(&self, index: usize) -> Option<u64> {
        self.spans[..self.span_count]
            .iter()
            .find(|s| index >= s.table_base && ((index - s.table_base) as u64) < s.pages)
            .map(|s| (s.first_pfn + (index - s.table_base) as u64) << PAGE_SHIFT)
    }

    /// Largest physical alignment the buddy blocks (aligned in virtual addresses) carry.
    fn max_align(&self) -> usize {
        let low_bit = self.phys_offset & self.phys_offset.wrapping_neg();
        if low_bit == 0 {
            MAX_BLOCK_BYTES
        } else {
            low_bit.min(MAX_BLOCK_BYTES)
        }
    }

    fn table(&self) -> &[AtomicU32] {
        // SAFETY: `table` points to `table_len` initialised entries in memory the pool owns
        // for its whole life (contract of `new`), or is dangling with length 0. Entries are
        // only accessed atomically.
        unsafe { core::slice::from_raw_parts(self.table.as_ptr(), self.table_len) }
    }

    fn frame_index(&self, pa: u64) -> Option<usize> {
        let pfn = pa >> PAGE_SHIFT;
        self.spans[..self.span_count]
            .iter()
            .find(|s| pfn >= s.first_pfn && pfn - s.first_pfn < s.pages)
            .map(|s| s.table_base + (pfn - s.first_pfn) as usize)
    }

    /// Entries for `count` pages from `pa`, if they all lie in RAM. Spans never touch (they
    /// are merged), so a contiguous run of RAM lies within one span.
    fn frames(&self, pa: u64, count: usize) -> Option<&[AtomicU32]> {
        let first = self.frame_index(pa)?;
        if count == 1 {
            return self.table().get(first..=first);
        }
        let last_pa = pa.checked_add((count as u64).checked_sub(1)?.checked_mul(PAGE)?)?;
        let last = self.frame_index(last_pa)?;
        (last.checked_sub(first)? == count - 1).then(|| &self.table()[first..=last])
    }

    /// Pushes `pages` pages at virtual address `va` onto the free lists as naturally aligned
    /// power-of-two blocks, merging with free buddies.
    ///
    /// # Safety
    ///
    /// The pages must belong to the pool, be marked free in the frame table but be on no
    /// free list (taken off one, or just given up), and be unused from now on.
    unsafe fn release(&mut self, mut va: usize, mut pages: usize) {
        while pages > 0 {
            let page_index = va >> PAGE_SHIFT;
            let align_pages = if page_index == 0 {
                MAX_BLOCK_PAGES
            } else {
                page_index & page_index.wrapping_neg()
            };
            let prev_pow2 = 1usize << (usize::BITS - 1 - pages.leading_zeros());
            let block = align_pages.min(prev_pow2).min(MAX_BLOCK_PAGES);
            // SAFETY: the caller's promise, for this naturally aligned part of the range.
            unsafe { self.free_block(va, block.trailing_zeros() as usize) };
            va += block << PAGE_SHIFT;
            pages -= block;
        }
    }

    /// The frame-table entry of the page at virtual address `va`, if the pool has one.
    fn entry_at(&self, va: usize) -> Option<&AtomicU32> {
        let pa = va.wrapping_sub(self.phys_offset) as u64;
        self.frame_index(pa).map(|i| &self.table()[i])
    }

    /// Whether the block of 2^`order` pages at `va` is on the free list of that order.
    fn is_free_head(&self, va: usize, order: usize) -> bool {
        self.entry_at(va)
            .is_some_and(|e| e.load(Ordering::Relaxed) == free_head_entry(order))
    }

    /// Frees the block of 2^`order` pages at `va`, merged with its buddy while that one is
    /// free too (each a constant-time look at the buddy's frame-table entry).
    ///
    /// # Safety
    /// As for [`PagePool::release`], for this naturally aligned block.
    unsafe fn free_block(&mut self, mut va: usize, mut order: usize) {
        while order < MAX_ORDER {
            let buddy = va ^ (PAGE_SIZE << order);
            if !self.is_free_head(buddy, order) {
                break;
            }
            // SAFETY: its entry says the buddy heads a free block of this order, on its list.
            unsafe { self.unlink_free(buddy, order) };
            va = va.min(buddy);
            order += 1;
        }
        // SAFETY: the caller's promise, for the merged block (made of free blocks).
        unsafe { self.push_free(va, order) };
    }

    /// Takes a block of 2^`order` pages off the free lists (splitting a larger one, whose
    /// other halves stay free); its pages stay marked free, none a list head.
    fn take_block(&mut self, order: usize) -> Option<usize> {
        let mut found = (order..ORDERS).find(|&o| self.free_lists[o] != 0)?;
        let va = self.free_lists[found];
        // SAFETY: the first block of a free list.
        unsafe { self.unlink_free(va, found) };
        while found > order {
            found -= 1;
            // SAFETY: the upper half of a block just taken off its list: free, on no list.
            unsafe { self.push_free(va + (PAGE_SIZE << found), found) };
        }
        Some(va)
    }

    /// Links the free block of 2^`order` pages at `va` first on its list and marks its head.
    ///
    /// # Safety
    /// The block belongs to the pool, is marked free, is on no list, and is unused.
    unsafe fn push_free(&mut self, va: usize, order: usize) {
        let next = self.free_lists[order];
        // SAFETY: the block's first page is free and writable through the linear map
        // (contract of `new`), page aligned, so its node fits and is aligned.
        unsafe { (va as *mut FreeNode).write(FreeNode { next, prev: 0 }) };
        if next != 0 {
            // SAFETY: `next` heads a free block on this list: its node is ours to change.
            unsafe { (*(next as *mut FreeNode)).prev = va };
        }
        self.free_lists[order] = va;
        if let Some(entry) = self.entry_at(va) {
            entry.store(free_head_entry(order), Ordering::Relaxed);
        }
        self.buddy_pages += 1 << order;
    }

    /// Takes the free block of 2^`order` pages at `va` off its list; its pages stay free.
    ///
    /// # Safety
    /// The block is on the free list of `order`.
    unsafe fn unlink_free(&mut self, va: usize, order: usize) {
        // SAFETY: a block on a free list starts with its node.
        let FreeNode { next, prev } = unsafe { (va as *const FreeNode).read() };
        if prev == 0 {
            self.free_lists[order] = next;
        } else {
            // SAFETY: `prev` and `next` are blocks on the same list: their nodes are ours.
            unsafe { (*(prev as *mut FreeNode)).next = next };
        }
        if next != 0 {
            // SAFETY: as above.
            unsafe { (*(next as *mut FreeNode)).prev = prev };
        }
        if let Some(entry) = self.entry_at(va) {
            entry.store(FREE_ENTRY, Ordering::Relaxed);
        }
        self.buddy_pages -= 1 << order;
    }
}

/// The links at the start of a free block's first page (virtual addresses; 0: none).
#[repr(C)]
struct FreeNode {
    next: usize,
    prev: usize,
}

/// The frame-table entry of the first page of a free block of 2^`order` pages on its list.
const fn free_head_entry(order: usize) -> u32 {
    FREE_ENTRY | (order as u32 + 1)
}

/// What [`PagePool::audit`] or [`PagePool::census`] found wrong with the pool's accounting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolMismatch {
    /// The counters disagree: total is not free plus the pages used by every owner.
    Sum {
        /// Pages the pool manages.
        total: usize,
        /// The free counter.
        free: usize,
        /// The used counters together.
        used: usize,
    },
    /// The free counter against what the buddy allocator holds free plus the quick pages.
    FreeLists {
        /// The free counter.
        free: usize,
        /// Pages the buddy allocator has not handed out.
        buddy: usize,
        /// Quick pages.
        quick: usize,
    },
    /// The frame table holds `entries` held pages where the held counters say `counted`.
    Held {
        /// The held counters together.
        counted: usize,
        /// Held entries in the frame table.
        entries: usize,
    },
    /// A quick page (counted free) whose frame-table entry does not say free.
    QuickNotFree {
        /// The page.
        pa: u64,
        /// Its frame-table entry.
        entry: u32,
    },
    /// The frame table holds `entries` pages in a state whose counter says `counted`
    /// (`use_` is `None` for free pages).
    Census {
        /// The use, `None` for free pages.
        use_: Option<PageUse>,
        /// Its counter.
        counted: usize,
        /// Entries found in that state.
        entries: usize,
    },
    /// A frame-table entry with a state no page can have.
    BadEntry {
        /// The page.
        pa: u64,
        /// Its frame-table entry.
        entry: u32,
    },
}

impl fmt::Display for PoolMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            PoolMismatch::Sum { total, free, used } => write!(
                f,
                "total {total} pages != free {free} + used {used} (= {})",
                free + used
            ),
            PoolMismatch::FreeLists { free, buddy, quick } => write!(
                f,
                "free counter {free} pages != buddy free lists {buddy} + quick pages {quick}"
            ),
            PoolMismatch::QuickNotFree { pa, entry } => {
                write!(f, "quick page {pa:#x} has frame entry {entry:#x}, not free")
            }
            PoolMismatch::Held { counted, entries } => write!(
                f,
                "held: counters {counted} pages, frame table {entries} pages"
            ),
            PoolMismatch::Census {
                use_,
                counted,
                entries,
            } => match use_ {
                Some(use_) => write!(
                    f,
                    "{use_}: counter {counted} pages, frame table {entries} pages"
                ),
                None => write!(
                    f,
                    "free: counter {counted} pages, frame table {entries} pages"
                ),
            },
            PoolMismatch::BadEntry { pa, entry } => {
                write!(f, "page {pa:#x} has frame entry {entry:#x} (no such state)")
            }
        }
    }
}

impl PagePool {
    /// Checks the counters against each other and against the buddy allocator's own figures
    /// (cheap: no walk but of the quick pages): total = free + used by every owner, and free =
    /// what the buddy allocator has not handed out + the quick pages, which are all free in
    /// the frame table.
    pub fn audit(&self) -> Result<(), PoolMismatch> {
        let used: usize = self.used_by.iter().sum();
        if self.total_pages != self.free_pages + used {
            return Err(PoolMismatch::Sum {
                total: self.total_pages,
                free: self.free_pages,
                used,
            });
        }
        let buddy = self.buddy_pages;
        if self.free_pages != buddy + self.quick_len {
            return Err(PoolMismatch::FreeLists {
                free: self.free_pages,
                buddy,
                quick: self.quick_len,
            });
        }
        for &pa in &self.quick[..self.quick_len] {
            let entry = self
                .frame_index(pa)
                .map_or(0, |i| self.table()[i].load(Ordering::Acquire));
            if entry != FREE_ENTRY {
                return Err(PoolMismatch::QuickNotFree { pa, entry });
            }
        }
        Ok(())
    }

    /// [`PagePool::audit`], then walks the whole frame table (one entry per page of RAM) and
    /// compares the pages in each state with its counter.
    pub fn census(&self) -> Result<(), PoolMismatch> {
        self.audit()?;
        let mut free = 0usize;
        let mut used = [0usize; PageUse::COUNT];
        let mut bad = None;
        let mut held = 0usize;
        self.for_each_entry(|pa, entry| match tag_of(entry) {
            TAG_UNTRACKED => {}
            TAG_FREE if refs_of(entry) <= ORDERS as u32 => free += 1,
            TAG_HELD => held += 1,
            tag if (1..=PageUse::COUNT as u32).contains(&tag) => used[tag as usize - 1] += 1,
            _ => {
                bad.get_or_insert(PoolMismatch::BadEntry { pa, entry });
            }
        });
        if let Some(bad) = bad {
            return Err(bad);
        }
        if free != self.free_pages {
            return Err(PoolMismatch::Census {
                use_: None,
                counted: self.free_pages,
                entries: free,
            });
        }
        let held_counted: usize = self.held_by.iter().sum();
        if held != held_counted {
            return Err(PoolMismatch::Held {
                counted: held_counted,
                entries: held,
            });
        }
        for use_ in PageUse::ALL {
            // Held pages still count as used by their use.
            let (counted, entries) = (
                self.used_by[use_.index()],
                used[use_.index()] + self.held_by[use_.index()],
            );
            if counted != entries {
                return Err(PoolMismatch::Census {
                    use_: Some(use_),
                    counted,
                    entries,
                });
            }
        }
        Ok(())
    }

    /// Calls `f` with the physical address of every page allocated for `use_` (a walk of the
    /// whole frame table).
    pub fn for_each_page_of(&self, use_: PageUse, mut f: impl FnMut(u64)) {
        self.for_each_entry(|pa, entry| {
            if tag_of(entry) == use_.tag() {
                f(pa);
            }
        });
    }

    /// What the page at `pa` is allocated for; `None` when it is free, not the pool's or not
    /// RAM.
    pub fn page_use(&self, pa: u64) -> Option<PageUse> {
        let tag = tag_of(self.table()[self.frame_index(pa)?].load(Ordering::Acquire));
        PageUse::ALL.into_iter().find(|u| u.tag() == tag)
    }

    fn for_each_entry(&self, mut f: impl FnMut(u64, u32)) {
        let table = self.table();
        for span in &self.spans[..self.span_count] {
            let entries = &table[span.table_base..span.table_base + span.pages as usize];
            for (i, e) in entries.iter().enumerate() {
                f(
                    (span.first_pfn + i as u64) << PAGE_SHIFT,
                    e.load(Ordering::Relaxed),
                );
            }
        }
    }
}

impl fmt::Debug for PagePool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PagePool")
            .field("phys_offset", &format_args!("{:#x}", self.phys_offset))
            .field("frame_table", &self.table_range)
            .field("stats", &self.stats())
            .finish()
    }
}

/// The part of page-aligned `r` whose linear-map addresses are usable by the intrusive free
/// lists: not null and not wrapping past the top of the address space. The page at the very
/// top is dropped too, because the buddy arithmetic computes the end address of a block.
fn usable(phys_offset: usize, r: PhysRange) -> PhysRange {
    if r.is_empty() {
        return PhysRange::EMPTY;
    }
    let mut start = r.start;
    let mut va = (start as usize).wrapping_add(phys_offset);
    if va == 0 {
        start += PAGE;
        va = PAGE_SIZE;
    }
    let top = usize::MAX - (PAGE_SIZE - 1);
    if start >= r.end || va >= top {
        return PhysRange::EMPTY;
    }
    let len = (r.end - start).min((top - va) as u64);
    PhysRange::new(start, start + len)
}

#[cfg(test)]
mod tests;
