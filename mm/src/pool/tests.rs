//! Host tests: a page-aligned `std::alloc` buffer poses as physical memory at `BASE`.

use super::*;
use proptest::prelude::*;
use std::alloc::Layout;
use std::collections::BTreeMap;

const BASE: u64 = 0x4000_0000;
const P: u64 = PAGE_SIZE as u64;
const MIB: usize = 1 << 20;

/// Zeroed host memory standing in for RAM at physical `BASE`.
struct FakeRam {
    ptr: *mut u8,
    layout: Layout,
}

impl FakeRam {
    fn new(bytes: usize, align: usize) -> Self {
        let layout = Layout::from_size_align(bytes, align).unwrap();
        // Not zeroed: zeroing would commit every page of the multi-GiB buffers, and the pool
        // must not rely on free memory being clean anyway.
        // SAFETY: the layout has a non-zero size.
        let ptr = unsafe { std::alloc::alloc(layout) };
        assert!(!ptr.is_null());
        FakeRam { ptr, layout }
    }

    fn offset(&self) -> usize {
        (self.ptr as usize).wrapping_sub(BASE as usize)
    }

    /// # Safety
    ///
    /// The free ranges must lie inside the buffer, and the pool must be dropped before it.
    unsafe fn pool(&self, ram: &[PhysRange], free: &[PhysRange]) -> Result<PagePool, PoolError> {
        // SAFETY: forwarded to the caller; nothing else touches the buffer.
        unsafe { PagePool::new(self.offset(), ram, free) }
    }
}

impl Drop for FakeRam {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout.
        unsafe { std::alloc::dealloc(self.ptr, self.layout) };
    }
}

/// Range relative to `BASE`.
fn pr(from: u64, to: u64) -> PhysRange {
    PhysRange::new(BASE + from, BASE + to)
}

/// 1 MiB of RAM, the first 64 KiB taken by the "kernel image".
fn simple(ram: &FakeRam) -> PagePool {
    // SAFETY: the free range is inside the 1 MiB buffer, which outlives the pool.
    unsafe { ram.pool(&[pr(0, MIB as u64)], &[pr(0x1_0000, MIB as u64)]) }.unwrap()
}

fn check_invariant(pool: &PagePool) {
    let s = pool.stats();
    assert_eq!(s.total_pages, s.free_pages + s.used_pages());
    assert_eq!(pool.census(), Ok(()));
}

/// Largest power-of-two page count that can be allocated right now (then freed again).
fn largest_block(pool: &mut PagePool) -> usize {
    let mut k = 1usize << 20;
    while k > 0 {
        if let Ok(pa) = pool.alloc_pages(k, PageUse::Kernel) {
            pool.free_pages(pa, k, PageUse::Kernel).unwrap();
            return k;
        }
        k /= 2;
    }
    0
}

fn write_word(pool: &PagePool, pa: u64, value: u64) {
    // SAFETY: tests only call this on pages they allocated, which the linear map covers.
    unsafe { (pool.phys_to_virt(pa) as *mut u64).write(value) }
}

fn read_word(pool: &PagePool, pa: u64) -> u64 {
    // SAFETY: as for `write_word`.
    unsafe { (pool.phys_to_virt(pa) as *const u64).read() }
}

#[test]
fn initial_layout() {
    let ram = FakeRam::new(MIB, MIB);
    let pool = simple(&ram);
    // 256 frames * 4 bytes fit in one page, carved from the end of the free range.
    assert_eq!(pool.frame_table(), pr(MIB as u64 - P, MIB as u64));
    let s = pool.stats();
    assert_eq!(s.total_pages, 240);
    assert_eq!(s.free_pages, 239);
    assert_eq!(s.used_by, [1, 0, 0, 0, 0]);
    check_invariant(&pool);
    assert_eq!(pool.page_ref(BASE), Some(0));
    assert_eq!(
        pool.page_ref(BASE + MIB as u64 - 1),
        Some(1),
        "frame table page"
    );
    assert_eq!(pool.page_ref(BASE + MIB as u64), None);
    assert_eq!(format!("{}", PageUse::PageTable), "page-table");
    assert_eq!(PageUse::ALL.map(PageUse::index), [0, 1, 2, 3, 4]);
}

#[test]
fn single_and_multi_page_allocations() {
    let ram = FakeRam::new(MIB, MIB);
    let mut pool = simple(&ram);
    let initial = pool.stats();

    let a = pool.alloc_pages(1, PageUse::Heap).unwrap();
    assert!(a >= BASE + 0x1_0000 && a < BASE + MIB as u64 - P);
    assert_eq!(a % P, 0);
    assert_eq!(pool.page_ref(a), Some(1));
    assert_eq!(pool.stats().used_by[PageUse::Heap.index()], 1);

    // Non-power-of-two counts: exactly `count` pages accounted, block-aligned.
    let b = pool.alloc_pages(3, PageUse::Vmo).unwrap();
    assert_eq!(b % (4 * P), 0);
    let c = pool.alloc_pages(5, PageUse::PageTable).unwrap();
    assert_eq!(c % (8 * P), 0);
    let s = pool.stats();
    assert_eq!(s.used_by, [1, 1, 5, 3, 0]);
    assert_eq!(s.free_pages, initial.free_pages - 9);
    check_invariant(&pool);
    for i in 0..5 {
        assert_eq!(pool.page_ref(c + i * P), Some(1));
    }
    // The tails went back: page 3 of b's block and pages 5..8 of c's are free.
    assert_eq!(pool.page_ref(b + 3 * P), Some(0));
    assert_eq!(pool.page_ref(c + 5 * P), Some(0));

    // Partial frees are allowed: one page out of the middle, then the rest.
    pool.free_pages(c + 2 * P, 1, PageUse::PageTable).unwrap();
    pool.free_pages(c, 2, PageUse::PageTable).unwrap();
    pool.free_pages(c + 3 * P, 2, PageUse::PageTable).unwrap();
    pool.free_pages(b, 3, PageUse::Vmo).unwrap();
    pool.free_pages(a, 1, PageUse::Heap).unwrap();
    assert_eq!(pool.stats(), initial);
}

#[test]
fn split_and_merge() {
    let ram = FakeRam::new(MIB, MIB);
    let mut pool = simple(&ram);
    let initial = pool.stats();
    let biggest = largest_block(&mut pool);
    assert!(biggest >= 64, "biggest block {biggest}");

    let mut pages = Vec::new();
    while let Ok(pa) = pool.alloc_pages(1, PageUse::Vmo) {
        pages.push(pa);
    }
    assert_eq!(pages.len(), initial.free_pages);
    assert_eq!(pool.stats().free_pages, 0);
    let mut sorted = pages.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), pages.len(), "a page was handed out twice");

    // Free in an interleaved order so merging has to wait for buddies.
    for pa in pages
        .iter()
        .step_by(2)
        .chain(pages.iter().skip(1).step_by(2))
    {
        pool.free_pages(*pa, 1, PageUse::Vmo).unwrap();
    }
    assert_eq!(pool.stats(), initial);
    assert_eq!(largest_block(&mut pool), biggest);
    let pa = pool.alloc_pages(biggest, PageUse::Kernel).unwrap();
    pool.free_pages(pa, biggest, PageUse::Kernel).unwrap();
    assert_eq!(pool.stats(), initial);
}

#[test]
fn free_pages_report_no_references_whether_or_not_they_head_a_block() {
    let ram = FakeRam::new(MIB, MIB);
    let mut pool = simple(&ram);
    let a = pool.alloc_pages(3, PageUse::Vmo).unwrap();
    // Free pages (kept quick or heading a block on a free list) have no count.
    pool.free_pages(a, 1, PageUse::Vmo).unwrap();
    pool.free_pages(a + 2 * P, 1, PageUse::Vmo).unwrap();
    for pa in [a, a + 2 * P] {
        assert_eq!(pool.page_ref(pa), Some(0));
        assert_eq!(pool.page_ref_inc(pa), Err(PoolError::NotAllocated));
    }
    assert_eq!(pool.page_ref(a + P), Some(1));
    pool.free_pages(a + P, 1, PageUse::Vmo).unwrap();
    check_invariant(&pool);
}

#[test]
fn alignment() {
    let ram = FakeRam::new(2 * MIB, 2 * MIB);
    // SAFETY: the free range is inside the buffer, which outlives the pool.
    let mut pool = unsafe { ram.pool(&[pr(0, 2 * MIB as u64)], &[pr(P, 2 * MIB as u64)]) }.unwrap();
    let initial = pool.stats();
    let mut held = Vec::new();
    for (count, align) in [(1, 64 << 10), (3, 16 << 10), (1, 8), (2, 1), (1, 256 << 10)] {
        let pa = pool
            .alloc_pages_aligned(count, align, PageUse::PageTable)
            .unwrap();
        assert_eq!(pa % align.max(PAGE_SIZE) as u64, 0, "align {align}");
        held.push((pa, count));
    }
    assert_eq!(
        pool.stats().used_by[PageUse::PageTable.index()],
        held.iter().map(|h| h.1).sum::<usize>()
    );
    assert_eq!(
        pool.alloc_pages_aligned(1, 3 * PAGE_SIZE, PageUse::Vmo),
        Err(PoolError::InvalidArgument)
    );
    assert_eq!(
        pool.alloc_pages_aligned(1, 0, PageUse::Vmo),
        Err(PoolError::InvalidArgument)
    );
    // Beyond what the linear map preserves.
    let max = 1usize << pool.phys_offset().trailing_zeros().min(48);
    if let Some(too_big) = max.checked_mul(2) {
        assert_eq!(
            pool.alloc_pages_aligned(1, too_big, PageUse::Vmo),
            Err(PoolError::InvalidArgument)
        );
    }
    for (pa, count) in held {
        pool.free_pages(pa, count, PageUse::PageTable).unwrap();
    }
    assert_eq!(pool.stats(), initial);
}

#[test]
fn exhaustion_is_an_error_and_recoverable() {
    let ram = FakeRam::new(MIB, MIB);
    let mut pool = simple(&ram);
    let initial = pool.stats();
    assert_eq!(
        pool.alloc_pages(initial.free_pages + 1, PageUse::Vmo),
        Err(PoolError::OutOfMemory)
    );
    assert_eq!(
        pool.alloc_pages(usize::MAX, PageUse::Vmo),
        Err(PoolError::OutOfMemory)
    );
    // 239 free pages never form a 256-page block.
    assert_eq!(
        pool.alloc_pages(200, PageUse::Vmo),
        Err(PoolError::OutOfMemory)
    );
    assert_eq!(pool.stats(), initial);

    let mut held = Vec::new();
    while let Ok(pa) = pool.alloc_pages(4, PageUse::Heap) {
        held.push(pa);
    }
    assert_eq!(
        pool.alloc_pages(4, PageUse::Heap),
        Err(PoolError::OutOfMemory)
    );
    assert_eq!(
        pool.alloc_zeroed(4, PageUse::Heap),
        Err(PoolError::OutOfMemory)
    );
    check_invariant(&pool);
    // Leftover single pages are still usable, and freeing makes room again.
    if let Ok(pa) = pool.alloc_pages(1, PageUse::Kernel) {
        pool.free_pages(pa, 1, PageUse::Kernel).unwrap();
    }
    let pa = held.pop().unwrap();
    pool.free_pages(pa, 4, PageUse::Heap).unwrap();
    let again = pool.alloc_pages(4, PageUse::Heap).unwrap();
    held.push(again);
    for pa in held {
        pool.free_pages(pa, 4, PageUse::Heap).unwrap();
    }
    assert_eq!(pool.stats(), initial);
}

#[test]
fn bad_frees_are_rejected_without_damage() {
    let ram = FakeRam::new(MIB, MIB);
    let mut pool = simple(&ram);
    let initial = pool.stats();
    let a = pool.alloc_pages(2, PageUse::Vmo).unwrap();
    let after_alloc = pool.stats();

    use PoolError::*;
    let cases: [(u64, usize, PageUse, PoolError); 12] = [
        (a, 0, PageUse::Vmo, InvalidArgument),
        (a + 1, 1, PageUse::Vmo, InvalidArgument),
        (a, 1, PageUse::FrameTable, InvalidArgument),
        (a, 2, PageUse::Heap, UseMismatch),
        (a, 3, PageUse::Vmo, NotAllocated), // third page is free
        (a + 2 * P, 1, PageUse::Vmo, NotAllocated),
        (BASE, 1, PageUse::Vmo, NotPoolMemory), // kernel image: RAM, not pool
        (BASE + MIB as u64, 1, PageUse::Vmo, NotPoolMemory),
        (0, 1, PageUse::Vmo, NotPoolMemory),
        (BASE + MIB as u64 - P, 1, PageUse::Heap, UseMismatch), // frame table
        (a, usize::MAX, PageUse::Vmo, NotPoolMemory),
        (u64::MAX - (P - 1), 3, PageUse::Vmo, NotPoolMemory),
    ];
    for (pa, count, use_, err) in cases {
        assert_eq!(
            pool.free_pages(pa, count, use_),
            Err(err),
            "free({pa:#x}, {count}, {use_})"
        );
        assert_eq!(pool.stats(), after_alloc);
        assert_eq!(pool.page_ref(a), Some(1));
        assert_eq!(pool.page_ref(a + P), Some(1));
    }
    pool.free_pages(a, 2, PageUse::Vmo).unwrap();
    assert_eq!(
        pool.free_pages(a, 1, PageUse::Vmo),
        Err(PoolError::NotAllocated)
    );
    assert_eq!(
        pool.free_pages(a, 2, PageUse::Vmo),
        Err(PoolError::NotAllocated)
    );
    assert_eq!(pool.stats(), initial);
}

#[test]
fn held_pages_are_not_reused_until_their_list_is_freed() {
    let ram = FakeRam::new(MIB, MIB);
    let mut pool = simple(&ram);
    let initial = pool.stats();
    let pages: Vec<u64> = (0..5)
        .map(|_| pool.alloc_pages(1, PageUse::Vmo).unwrap())
        .collect();
    let mut list = HeldFrames::default();
    let mut other = HeldFrames::default();
    for &pa in &pages[..3] {
        // A marker the pool must leave alone: a copy may still be reading the page.
        // SAFETY: the page is allocated to the test and mapped at `pa + offset`.
        unsafe { *((pa as usize).wrapping_add(ram.offset()) as *mut u64) = pa ^ 0x5a5a };
        pool.hold(pa, PageUse::Vmo, &mut list).unwrap();
    }
    pool.hold(pages[3], PageUse::Vmo, &mut other).unwrap();
    assert_eq!(list.len(), 3);
    pool.census().unwrap();
    // Held pages still count as used and are not handed out again.
    assert_eq!(pool.stats().used_by[PageUse::Vmo.index()], 5);
    let fresh: Vec<u64> = (0..200)
        .map(|_| pool.alloc_pages(1, PageUse::Vmo).unwrap())
        .collect();
    assert!(fresh.iter().all(|pa| !pages.contains(pa)));
    for &pa in &fresh {
        pool.free_pages(pa, 1, PageUse::Vmo).unwrap();
    }
    for &pa in &pages[..3] {
        // SAFETY: as above; the page is held, not reused.
        let word = unsafe { *((pa as usize).wrapping_add(ram.offset()) as *const u64) };
        assert_eq!(word, pa ^ 0x5a5a, "nothing is written into a held page");
        assert_eq!(pool.page_ref_inc(pa), Err(PoolError::NotAllocated));
        assert_eq!(pool.page_ref_dec(pa), Err(PoolError::NotAllocated));
        assert_eq!(
            pool.free_pages(pa, 1, PageUse::Vmo),
            Err(PoolError::NotAllocated)
        );
        assert_eq!(
            pool.hold(pa, PageUse::Vmo, &mut other),
            Err(PoolError::NotAllocated)
        );
    }
    assert_eq!(
        pool.hold(pages[4], PageUse::Heap, &mut other),
        Err(PoolError::UseMismatch)
    );
    pool.free_held(&mut list, PageUse::Vmo).unwrap();
    assert!(list.is_empty());
    assert_eq!(list.len(), 0);
    pool.census().unwrap();
    pool.free_held(&mut other, PageUse::Vmo).unwrap();
    pool.free_pages(pages[4], 1, PageUse::Vmo).unwrap();
    pool.census().unwrap();
    assert_eq!(pool.stats(), initial);
    // Freed pages can be allocated again.
    let again: Vec<u64> = (0..5)
        .map(|_| pool.alloc_pages(1, PageUse::Vmo).unwrap())
        .collect();
    assert!(pages[..3].iter().all(|pa| again.contains(pa)));
}

#[test]
fn reference_counts() {
    let ram = FakeRam::new(MIB, MIB);
    let mut pool = simple(&ram);
    let initial = pool.stats();
    let pa = pool.alloc_pages(1, PageUse::Vmo).unwrap();
    assert_eq!(pool.page_ref(pa + 123), Some(1), "any address in the frame");
    assert_eq!(pool.page_ref_inc(pa), Ok(2));
    assert_eq!(pool.page_ref_inc(pa + 7), Ok(3));
    assert_eq!(
        pool.free_pages(pa, 1, PageUse::Vmo),
        Err(PoolError::StillReferenced)
    );
    assert_eq!(pool.page_ref_dec(pa), Ok(2));
    assert_eq!(pool.page_ref_dec(pa), Ok(1));
    // The last owner may drop its reference first and then free.
    assert_eq!(pool.page_ref_dec(pa), Ok(0));
    assert_eq!(pool.page_ref_dec(pa), Err(PoolError::RefCountUnderflow));
    pool.free_pages(pa, 1, PageUse::Vmo).unwrap();
    assert_eq!(pool.page_ref(pa), Some(0));
    assert_eq!(pool.page_ref_inc(pa), Err(PoolError::NotAllocated));
    assert_eq!(pool.page_ref_dec(pa), Err(PoolError::NotAllocated));
    assert_eq!(pool.page_ref(pa), Some(0));

    // Outside RAM.
    assert_eq!(pool.page_ref(0x1000), None);
    assert_eq!(pool.page_ref_inc(0x1000), Err(PoolError::NotRam));
    assert_eq!(pool.page_ref_dec(u64::MAX), Err(PoolError::NotRam));

    // RAM the pool does not own (kernel image) can be shared but never freed.
    assert_eq!(pool.page_ref_inc(BASE), Ok(1));
    assert_eq!(
        pool.free_pages(BASE, 1, PageUse::Kernel),
        Err(PoolError::NotPoolMemory)
    );
    assert_eq!(pool.page_ref_dec(BASE), Ok(0));
    assert_eq!(pool.page_ref_dec(BASE), Err(PoolError::RefCountUnderflow));

    // Saturation.
    let pa = pool.alloc_pages(1, PageUse::Vmo).unwrap();
    let i = pool.frame_index(pa).unwrap();
    pool.table()[i].store(
        PageUse::Vmo.allocated_entry() - 1 + REF_MASK - 1,
        Ordering::Relaxed,
    );
    assert_eq!(pool.page_ref_inc(pa), Ok(REF_MASK));
    assert_eq!(pool.page_ref_inc(pa), Err(PoolError::RefCountOverflow));
    assert_eq!(pool.page_ref(pa), Some(REF_MASK));
    pool.table()[i].store(PageUse::Vmo.allocated_entry(), Ordering::Relaxed);
    pool.free_pages(pa, 1, PageUse::Vmo).unwrap();
    assert_eq!(pool.stats(), initial);
}

#[test]
fn alloc_zeroed_clears_pages() {
    let ram = FakeRam::new(MIB, MIB);
    let mut pool = simple(&ram);
    let pa = pool.alloc_pages(2, PageUse::Kernel).unwrap();
    for off in (0..2 * P).step_by(8) {
        write_word(&pool, pa + off, 0xdead_beef_dead_beef);
    }
    pool.free_pages(pa, 2, PageUse::Kernel).unwrap();
    // LIFO free lists hand the same block back.
    let pz = pool.alloc_zeroed(2, PageUse::Kernel).unwrap();
    assert_eq!(pz, pa);
    for off in (0..2 * P).step_by(8) {
        assert_eq!(read_word(&pool, pz + off), 0);
    }
    pool.free_pages(pz, 2, PageUse::Kernel).unwrap();
}

#[test]
fn two_ram_ranges() {
    let ram = FakeRam::new(2 * MIB, 2 * MIB);
    let banks = [pr(0, 0x8_0000), pr(0x10_0000, 0x18_0000)];
    let free = [pr(0x2000, 0x8_0000), pr(0x10_0000, 0x17_f000)];
    // SAFETY: the free ranges are inside the buffer, which outlives the pool.
    let mut pool = unsafe { ram.pool(&banks, &free) }.unwrap();
    let initial = pool.stats();
    assert_eq!(initial.total_pages, 126 + 127);
    assert_eq!(pool.page_ref(BASE + 0x9_0000), None, "gap between banks");
    assert_eq!(pool.page_ref(BASE + 0x17_f000), Some(0), "reserved, in RAM");

    let mut pages = Vec::new();
    while let Ok(pa) = pool.alloc_pages(1, PageUse::Heap) {
        assert!(free.iter().any(|f| f.contains(pa)));
        assert!(!pool.frame_table().contains(pa));
        pages.push(pa);
    }
    assert_eq!(pages.len(), initial.free_pages);
    assert!(pages.iter().any(|&pa| pa < BASE + 0x8_0000));
    assert!(pages.iter().any(|&pa| pa >= BASE + 0x10_0000));
    // A run across the gap is not pool memory.
    assert_eq!(
        pool.free_pages(BASE + 0x7_f000, 2, PageUse::Heap),
        Err(PoolError::NotPoolMemory)
    );
    for pa in pages {
        pool.free_pages(pa, 1, PageUse::Heap).unwrap();
    }
    assert_eq!(pool.stats(), initial);
}

#[test]
fn touching_unaligned_ram_entries_share_a_frame() {
    let ram = FakeRam::new(MIB, MIB);
    let banks = [pr(0, 0x1800), pr(0x1800, 0x8_0000)];
    // SAFETY: the free range is inside the buffer, which outlives the pool.
    let mut pool = unsafe { ram.pool(&banks, &[pr(0x1000, 0x8_0000)]) }.unwrap();
    assert_eq!(pool.page_ref(BASE + 0x1800), Some(0));
    let mut pages = Vec::new();
    while let Ok(pa) = pool.alloc_pages(1, PageUse::Vmo) {
        pages.push(pa);
    }
    assert!(pages.contains(&(BASE + 0x1000)));
}

#[test]
fn new_rejects_bad_input() {
    let ram = FakeRam::new(MIB, MIB);
    let all = [pr(0, MIB as u64)];
    let try_new = |off: usize, banks: &[PhysRange], free: &[PhysRange]| {
        // SAFETY: every free range passed below lies inside the buffer (or the call fails
        // validation before touching memory), and the pool is dropped right away.
        unsafe { PagePool::new(off, banks, free) }.map(|p| p.stats())
    };
    let off = ram.offset();
    assert_eq!(
        try_new(off + 8, &all, &all).unwrap_err(),
        PoolError::InvalidArgument
    );
    let many: Vec<_> = (0..9).map(|i| pr(i * 2 * P, i * 2 * P + P)).collect();
    assert_eq!(
        try_new(off, &many, &many[..1]).unwrap_err(),
        PoolError::TooManyRamRanges
    );
    assert_eq!(try_new(off, &many[..8], &many[..8]).unwrap().total_pages, 8);
    assert_eq!(
        try_new(off, &all, &[pr(0x800, 0x2000)]).unwrap_err(),
        PoolError::InvalidArgument
    );
    assert_eq!(
        try_new(off, &[pr(0, 0x8_0000)], &[pr(0x7_0000, 0x9_0000)]).unwrap_err(),
        PoolError::InvalidArgument
    );
    assert_eq!(
        try_new(off, &all, &[pr(0, 0x3000), pr(0x2000, 0x5000)]).unwrap_err(),
        PoolError::InvalidArgument
    );
    // 4 GiB of RAM needs a 4 MiB frame table, which does not fit in one free page.
    assert_eq!(
        try_new(off, &[pr(0, 4 << 30)], &[pr(0, P)]).unwrap_err(),
        PoolError::OutOfMemory
    );
    // No RAM at all: an empty but working pool.
    let empty = try_new(off, &[], &[]).unwrap();
    assert_eq!(empty.total_pages, 0);
    // SAFETY: no memory is given to the pool.
    let mut pool = unsafe { PagePool::new(off, &[], &[]) }.unwrap();
    assert_eq!(
        pool.alloc_pages(1, PageUse::Vmo),
        Err(PoolError::OutOfMemory)
    );
    assert_eq!(pool.page_ref(BASE), None);
}

#[test]
fn several_gib_of_ram() {
    // Lazily committed host memory: only the frame table and free-list links get touched.
    let size = 4usize << 30;
    let ram = FakeRam::new(size, 2 * MIB);
    // SAFETY: the free range is inside the buffer, which outlives the pool.
    let mut pool =
        unsafe { ram.pool(&[pr(0, size as u64)], &[pr(2 * MIB as u64, size as u64)]) }.unwrap();
    let initial = pool.stats();
    assert_eq!(initial.used_by[PageUse::FrameTable.index()], 1024);
    let gib = pool.alloc_pages(1 << 18, PageUse::Vmo).unwrap();
    let odd = pool.alloc_pages(300 << 8, PageUse::Vmo).unwrap();
    assert_eq!(
        pool.stats().used_by[PageUse::Vmo.index()],
        (1 << 18) + (300 << 8)
    );
    pool.free_pages(odd, 300 << 8, PageUse::Vmo).unwrap();
    pool.free_pages(gib, 1 << 18, PageUse::Vmo).unwrap();
    assert_eq!(pool.stats(), initial);
}

#[test]
fn usable_trims_linear_map_wrap() {
    let kernel_offset = 0xffff_0000_0000_0000usize;
    let top = 1u64 << 48;
    assert_eq!(
        usable(kernel_offset, PhysRange::new(top - 4 * P, top)),
        PhysRange::new(top - 4 * P, top - P)
    );
    assert_eq!(
        usable(kernel_offset, PhysRange::new(0x4000_0000, 0x8000_0000)),
        PhysRange::new(0x4000_0000, 0x8000_0000)
    );
    // A range whose linear-map address starts at null loses its first page.
    let off = 0usize.wrapping_sub(0x4000_0000);
    assert_eq!(
        usable(off, PhysRange::new(0x4000_0000, 0x4000_3000)),
        PhysRange::new(0x4000_1000, 0x4000_3000)
    );
    assert!(usable(0, PhysRange::new(0, P)).is_empty());
}

// ---------------------------------------------------------------------------------------
// Model-based state machine.

#[derive(Clone, Debug)]
enum Op {
    Alloc {
        count: usize,
        use_: usize,
        align_shift: u32,
        zeroed: bool,
    },
    FreeRun {
        which: usize,
        count: usize,
        wrong_use: bool,
    },
    FreeAddr {
        page: u64,
        count: usize,
        use_: usize,
    },
    Ref {
        which: usize,
        inc: bool,
    },
    RefAddr {
        page: u64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (1usize..=9, 1usize..5, 12u32..=17, any::<bool>()).prop_map(
            |(count, use_, align_shift, zeroed)| Op::Alloc { count, use_, align_shift, zeroed }
        ),
        3 => (any::<usize>(), 1usize..=6, prop::bool::weighted(0.1))
            .prop_map(|(which, count, wrong_use)| Op::FreeRun { which, count, wrong_use }),
        1 => (0u64..230, 1usize..=3, 1usize..5)
            .prop_map(|(page, count, use_)| Op::FreeAddr { page, count, use_ }),
        2 => (any::<usize>(), any::<bool>()).prop_map(|(which, inc)| Op::Ref { which, inc }),
        1 => (0u64..230).prop_map(|page| Op::RefAddr { page }),
    ]
}

const MAGIC: u64 = 0x5a5a_0000_0000_0000;

struct Machine {
    // Declared before `_ram` so it is dropped first.
    pool: PagePool,
    ram: Vec<PhysRange>,
    free: Vec<PhysRange>,
    table: PhysRange,
    initial: PoolStats,
    biggest: usize,
    /// Allocated page -> (use, reference count).
    live: BTreeMap<u64, (PageUse, u32)>,
    _ram: FakeRam,
}

impl Machine {
    fn new() -> Self {
        let fake = FakeRam::new(MIB, MIB);
        let ram = vec![pr(0, 0x4_0000), pr(0x8_0000, 0xc_0000)];
        let free = vec![
            pr(0x2000, 0x3_0000),
            pr(0x3_1000, 0x4_0000),
            pr(0x8_0000, 0xc_0000),
        ];
        // SAFETY: the free ranges are inside the buffer, which the machine drops after the
        // pool.
        let mut pool = unsafe { fake.pool(&ram, &free) }.unwrap();
        let table = pool.frame_table();
        let biggest = largest_block(&mut pool);
        let initial = pool.stats();
        Machine {
            _ram: fake,
            pool,
            ram,
            free,
            table,
            initial,
            biggest,
            live: BTreeMap::new(),
        }
    }

    fn marker(pa: u64) -> u64 {
        MAGIC ^ pa
    }

    fn in_ram(&self, pa: u64) -> bool {
        self.ram.iter().any(|r| r.contains(pa))
    }

    fn in_pool(&self, pa: u64) -> bool {
        self.free.iter().any(|r| r.contains(pa))
    }

    /// What a reference count operation must see at `pa`: None = not RAM,
    /// Some(None) = free in pool, Some(Some(n)) = count n.
    fn model_refs(&self, pa: u64) -> Option<Option<u32>> {
        if !self.in_ram(pa) {
            None
        } else if let Some(&(_, n)) = self.live.get(&pa) {
            Some(Some(n))
        } else if self.table.contains(pa) {
            Some(Some(1))
        } else if self.in_pool(pa) {
            Some(None)
        } else {
            Some(Some(0))
        }
    }

    fn expect_free(&self, pa: u64, count: usize, use_: PageUse) -> Result<(), PoolError> {
        let pages: Vec<u64> = (0..count as u64).map(|i| pa + i * P).collect();
        if pages.iter().any(|&p| !self.in_ram(p)) {
            return Err(PoolError::NotPoolMemory);
        }
        for &p in &pages {
            if !self.in_pool(p) {
                return Err(PoolError::NotPoolMemory);
            }
            if self.table.contains(p) {
                return Err(PoolError::UseMismatch);
            }
            match self.live.get(&p) {
                None => return Err(PoolError::NotAllocated),
                Some(&(u, _)) if u != use_ => return Err(PoolError::UseMismatch),
                Some(&(_, n)) if n > 1 => return Err(PoolError::StillReferenced),
                Some(_) => {}
            }
        }
        Ok(())
    }

    fn free(&mut self, pa: u64, count: usize, use_: PageUse) -> Result<(), TestCaseError> {
        let before = self.pool.stats();
        let expected = self.expect_free(pa, count, use_);
        let got = self.pool.free_pages(pa, count, use_);
        prop_assert_eq!(got, expected, "free({:#x}, {}, {})", pa, count, use_);
        if got.is_ok() {
            for i in 0..count as u64 {
                self.live.remove(&(pa + i * P));
            }
        } else {
            prop_assert_eq!(self.pool.stats(), before);
        }
        Ok(())
    }

    fn nth_live(&self, which: usize) -> Option<(u64, PageUse, u32)> {
        if self.live.is_empty() {
            return None;
        }
        let (&pa, &(u, n)) = self.live.iter().nth(which % self.live.len())?;
        Some((pa, u, n))
    }

    fn apply(&mut self, op: Op) -> Result<(), TestCaseError> {
        match op {
            Op::Alloc {
                count,
                use_,
                align_shift,
                zeroed,
            } => {
                let use_ = PageUse::ALL[use_];
                let align = 1usize << align_shift;
                let before = self.pool.stats();
                let res = if zeroed {
                    self.pool.alloc_zeroed(count, use_)
                } else {
                    self.pool.alloc_pages_aligned(count, align, use_)
                };
                match res {
                    Ok(pa) => {
                        let natural = count.next_power_of_two() as u64 * P;
                        prop_assert_eq!(pa % natural, 0);
                        if !zeroed {
                            prop_assert_eq!(pa % align as u64, 0);
                        }
                        for i in 0..count as u64 {
                            let p = pa + i * P;
                            prop_assert!(self.in_pool(p) && !self.table.contains(p));
                            prop_assert!(self.live.insert(p, (use_, 1)).is_none(), "overlap");
                            if zeroed {
                                for off in (0..P).step_by(512) {
                                    prop_assert_eq!(read_word(&self.pool, p + off), 0);
                                }
                            }
                            write_word(&self.pool, p, Self::marker(p));
                            write_word(&self.pool, p + P - 8, Self::marker(p));
                        }
                    }
                    Err(e) => {
                        prop_assert_eq!(e, PoolError::OutOfMemory);
                        prop_assert_eq!(self.pool.stats(), before);
                    }
                }
                if before.free_pages < count {
                    prop_assert!(res.is_err());
                }
            }
            Op::FreeRun {
                which,
                count,
                wrong_use,
            } => {
                if let Some((pa, u, _)) = self.nth_live(which) {
                    let use_ = if wrong_use {
                        PageUse::ALL[1 + (u.index() % 4)]
                    } else {
                        u
                    };
                    self.free(pa, count, use_)?;
                }
            }
            Op::FreeAddr { page, count, use_ } => {
                let pa = BASE - 16 * P + page * P;
                self.free(pa, count, PageUse::ALL[use_])?;
            }
            Op::Ref { which, inc } => {
                if let Some((pa, u, n)) = self.nth_live(which) {
                    if inc {
                        prop_assert_eq!(self.pool.page_ref_inc(pa), Ok(n + 1));
                        self.live.insert(pa, (u, n + 1));
                    } else if n == 0 {
                        prop_assert_eq!(
                            self.pool.page_ref_dec(pa),
                            Err(PoolError::RefCountUnderflow)
                        );
                    } else {
                        prop_assert_eq!(self.pool.page_ref_dec(pa), Ok(n - 1));
                        self.live.insert(pa, (u, n - 1));
                    }
                }
            }
            Op::RefAddr { page } => {
                let pa = BASE - 16 * P + page * P;
                match self.model_refs(pa) {
                    None => {
                        prop_assert_eq!(self.pool.page_ref(pa), None);
                        prop_assert_eq!(self.pool.page_ref_inc(pa), Err(PoolError::NotRam));
                        prop_assert_eq!(self.pool.page_ref_dec(pa), Err(PoolError::NotRam));
                    }
                    Some(None) => {
                        prop_assert_eq!(self.pool.page_ref(pa), Some(0));
                        let e = Err(PoolError::NotAllocated);
                        prop_assert_eq!(self.pool.page_ref_inc(pa), e);
                        prop_assert_eq!(self.pool.page_ref_dec(pa), e);
                    }
                    Some(Some(n)) => {
                        prop_assert_eq!(self.pool.page_ref(pa), Some(n));
                        prop_assert_eq!(self.pool.page_ref_inc(pa), Ok(n + 1));
                        prop_assert_eq!(self.pool.page_ref_dec(pa), Ok(n));
                    }
                }
            }
        }
        self.check()
    }

    fn check(&self) -> Result<(), TestCaseError> {
        let s = self.pool.stats();
        prop_assert_eq!(s.total_pages, self.initial.total_pages);
        prop_assert_eq!(s.total_pages, s.free_pages + s.used_pages());
        prop_assert_eq!(s.free_pages, self.initial.free_pages - self.live.len());
        for u in PageUse::ALL {
            let model = self.live.values().filter(|(lu, _)| *lu == u).count()
                + self.initial.used_by[u.index()];
            prop_assert_eq!(s.used_by[u.index()], model, "use {}", u);
        }
        for (&pa, &(_, n)) in &self.live {
            prop_assert_eq!(self.pool.page_ref(pa), Some(n));
            prop_assert_eq!(
                read_word(&self.pool, pa),
                Self::marker(pa),
                "page clobbered"
            );
            prop_assert_eq!(read_word(&self.pool, pa + P - 8), Self::marker(pa));
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), TestCaseError> {
        let pages: Vec<_> = self.live.iter().map(|(&pa, &(u, n))| (pa, u, n)).collect();
        for (pa, u, n) in pages {
            for _ in 1..n {
                self.pool.page_ref_dec(pa).unwrap();
            }
            prop_assert_eq!(self.pool.free_pages(pa, 1, u), Ok(()));
            self.live.remove(&pa);
        }
        self.check()?;
        prop_assert_eq!(self.pool.stats(), self.initial);
        prop_assert_eq!(largest_block(&mut self.pool), self.biggest);
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]
    #[test]
    fn pool_state_machine(ops in proptest::collection::vec(op(), 1..80)) {
        let mut m = Machine::new();
        m.check()?;
        for op in ops {
            m.apply(op)?;
        }
        m.finish()?;
    }
}

// ---- the kernel invariant checks (`kcheck`): each mismatch trips on a crafted pool ----------

/// A pool with pages in several uses, some freed (quick pages and buddy blocks).
fn busy(ram: &FakeRam) -> PagePool {
    let mut pool = simple(ram);
    let a = pool.alloc_pages(3, PageUse::Vmo).unwrap();
    let b = pool.alloc_pages(1, PageUse::PageTable).unwrap();
    let _c = pool.alloc_pages(8, PageUse::Heap).unwrap();
    let _d = pool.alloc_pages(1, PageUse::Kernel).unwrap();
    pool.free_pages(a + P, 1, PageUse::Vmo).unwrap();
    pool.free_pages(b, 1, PageUse::PageTable).unwrap();
    pool
}

#[test]
fn kcheck_pool_audit_and_census_pass_on_a_busy_pool() {
    let ram = FakeRam::new(MIB, MIB);
    let pool = busy(&ram);
    assert_eq!(pool.audit(), Ok(()));
    assert_eq!(pool.census(), Ok(()));
    let mut tables = 0;
    pool.for_each_page_of(PageUse::Vmo, |pa| {
        assert_eq!(pool.page_use(pa), Some(PageUse::Vmo));
        tables += 1;
    });
    assert_eq!(tables, 2);
}

#[test]
fn kcheck_pool_audit_trips_on_counters_that_do_not_sum() {
    let ram = FakeRam::new(MIB, MIB);
    let mut pool = busy(&ram);
    pool.used_by[PageUse::Vmo.index()] += 1;
    let total = pool.total_pages;
    assert!(matches!(pool.audit(), Err(PoolMismatch::Sum { total: t, .. }) if t == total));
}

#[test]
fn kcheck_pool_audit_trips_on_a_free_count_the_buddy_allocator_does_not_hold() {
    let ram = FakeRam::new(MIB, MIB);
    let mut pool = busy(&ram);
    // Counted free and used alike: the sum holds, the free lists do not.
    pool.free_pages += 1;
    pool.total_pages += 1;
    let e = pool.audit().unwrap_err();
    assert!(matches!(e, PoolMismatch::FreeLists { quick: 2, .. }), "{e}");
}

#[test]
fn kcheck_pool_audit_trips_on_a_quick_page_in_use() {
    let ram = FakeRam::new(MIB, MIB);
    let pool = busy(&ram);
    let pa = pool.quick[0];
    pool.frames(pa, 1).unwrap()[0].store(PageUse::Vmo.allocated_entry(), Ordering::Relaxed);
    assert!(matches!(pool.audit(), Err(PoolMismatch::QuickNotFree { pa: p, .. }) if p == pa));
}

#[test]
fn kcheck_pool_census_trips_on_a_page_counted_for_another_use() {
    let ram = FakeRam::new(MIB, MIB);
    let pool = busy(&ram);
    // A Vmo page whose entry says page table: both counters sum, the census does not.
    let mut vmo_page = None;
    pool.for_each_page_of(PageUse::Vmo, |pa| vmo_page = Some(pa));
    let pa = vmo_page.unwrap();
    pool.frames(pa, 1).unwrap()[0].store(PageUse::PageTable.allocated_entry(), Ordering::Relaxed);
    assert_eq!(pool.audit(), Ok(()));
    let e = pool.census().unwrap_err();
    assert_eq!(
        e,
        PoolMismatch::Census {
            use_: Some(PageUse::PageTable),
            counted: 0,
            entries: 1
        },
        "{e}"
    );
    // And a page leaked out of the free lists: free in the counter, allocated in the table.
    pool.frames(pa, 1).unwrap()[0].store(PageUse::Vmo.allocated_entry(), Ordering::Relaxed);
    assert_eq!(pool.census(), Ok(()));
    let quick = pool.quick[..pool.quick_len].to_vec();
    let mut free = None;
    pool.for_each_entry(|pa, entry| {
        if entry == FREE_ENTRY && !quick.contains(&pa) {
            free.get_or_insert(pa);
        }
    });
    let free = free.unwrap();
    pool.frames(free, 1).unwrap()[0].store(PageUse::Kernel.allocated_entry(), Ordering::Relaxed);
    let e = pool.census().unwrap_err();
    assert!(matches!(e, PoolMismatch::Census { use_: None, .. }), "{e}");
}

#[test]
fn kcheck_pool_census_trips_on_an_entry_with_no_such_state() {
    let ram = FakeRam::new(MIB, MIB);
    let pool = busy(&ram);
    let mut kernel_page = None;
    pool.for_each_page_of(PageUse::Kernel, |pa| kernel_page = Some(pa));
    let pa = kernel_page.unwrap();
    // Every tag means a state; a free entry with more than a block order is none.
    let bad = TAG_FREE << TAG_SHIFT | (ORDERS as u32 + 1);
    pool.frames(pa, 1).unwrap()[0].store(bad, Ordering::Relaxed);
    assert_eq!(
        pool.census(),
        Err(PoolMismatch::BadEntry { pa, entry: bad })
    );
}
