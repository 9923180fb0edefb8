//! Host tests: non-global heaps whose chunks come from a fake page pool (naturally aligned
//! host allocations, counted). Grow and release callbacks are plain `fn`s, so the fake pool is
//! thread-local (each test runs on its own thread), except for the multi-threaded test, which
//! has a pool of its own behind a mutex.
//!
//! The fake pool checks every release: it must be a chunk it gave out, with its length, and
//! no allocation made through the test helpers may still be live inside it. Chunks are filled
//! with garbage when given out, and poisoned before they are freed.

use super::*;
use proptest::prelude::*;
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex as StdMutex;

/// Small chunks (16 KiB) so that tests span many of them.
const ORDER: usize = 14;
type TestHeap = KernelHeap<ORDER>;
const CHUNK: usize = TestHeap::CHUNK_SIZE;
const MAX_BLOCK: usize = TestHeap::MAX_BLOCK;
/// The kernel's chunk order (256 KiB).
const KERNEL_ORDER: usize = 18;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum GrowMode {
    /// Chunks as asked.
    Good,
    /// Half a chunk off the requested alignment.
    Misaligned,
    /// Half the requested length.
    Short,
}

/// A region given out: what the heap got, and the host allocation behind it.
struct Given {
    len: usize,
    /// Address of the host allocation (an integer, so the pool can move between threads).
    host: usize,
    host_layout: Layout,
}

/// Stand-in for the page pool.
struct FakePool {
    /// Regions given out and not released, by start.
    out: BTreeMap<usize, Given>,
    /// Most regions out at once; `grow` fails beyond.
    limit: usize,
    mode: GrowMode,
    grows: usize,
    failed_grows: usize,
    releases: usize,
    last_request: usize,
    /// Live allocations made through the test helpers: start -> length.
    live: BTreeMap<usize, usize>,
}

impl FakePool {
    fn new(limit: usize) -> Self {
        FakePool {
            out: BTreeMap::new(),
            limit,
            mode: GrowMode::Good,
            grows: 0,
            failed_grows: 0,
            releases: 0,
            last_request: 0,
            live: BTreeMap::new(),
        }
    }

    fn grow(&mut self, bytes: usize) -> Option<(usize, usize)> {
        self.grows += 1;
        self.last_request = bytes;
        if self.out.len() >= self.limit {
            self.failed_grows += 1;
            return None;
        }
        let host_layout = Layout::from_size_align(2 * bytes, bytes).unwrap();
        // SAFETY: non-zero size.
        let host = unsafe { std::alloc::alloc(host_layout) };
        assert!(!host.is_null());
        // SAFETY: `host` is a fresh allocation of `2 * bytes`.
        unsafe { host.write_bytes(0xa5, 2 * bytes) };
        let (start, len) = match self.mode {
            GrowMode::Good => (host as usize, bytes),
            GrowMode::Misaligned => (host as usize + bytes / 2, bytes),
            GrowMode::Short => (host as usize, bytes / 2),
        };
        let given = Given {
            len,
            host: host as usize,
            host_layout,
        };
        self.out.insert(start, given);
        Some((start, len))
    }

    fn release(&mut self, start: usize, len: usize) {
        let given = self
            .out
            .remove(&start)
            .unwrap_or_else(|| panic!("released {start:#x}, which was never given out"));
        assert_eq!(given.len, len, "released with another length");
        if let Some((&p, &l)) = self.live.range(start..start + len).next() {
            panic!("released {start:#x} with {l} live bytes at {p:#x}");
        }
        self.releases += 1;
        // SAFETY: the heap gave the region back, so nothing uses it.
        unsafe { (start as *mut u8).write_bytes(0xdd, len) };
        // SAFETY: allocated in `grow` with this layout.
        unsafe { std::alloc::dealloc(given.host as *mut u8, given.host_layout) };
    }

    fn live_bytes(&self) -> usize {
        self.live.values().sum()
    }

    /// Chunks (of `chunk` bytes) holding at least one live allocation.
    fn used_chunks(&self, chunk: usize) -> BTreeSet<usize> {
        self.live.keys().map(|&p| p & !(chunk - 1)).collect()
    }
}

impl Drop for FakePool {
    fn drop(&mut self) {
        for given in self.out.values() {
            // SAFETY: allocated in `grow` with this layout; the heap using it is gone.
            unsafe { std::alloc::dealloc(given.host as *mut u8, given.host_layout) };
        }
    }
}

thread_local! {
    static POOL: RefCell<FakePool> = RefCell::new(FakePool::new(usize::MAX));
}

/// Runs `f` on this thread's fake pool.
fn pool<R>(f: impl FnOnce(&mut FakePool) -> R) -> R {
    POOL.with(|p| f(&mut p.borrow_mut()))
}

/// Starts this thread over with a fresh fake pool giving out at most `limit` chunks.
fn fresh_pool(limit: usize) {
    POOL.with(|p| *p.borrow_mut() = FakePool::new(limit));
}

fn grow_local(bytes: usize) -> Option<(usize, usize)> {
    pool(|p| p.grow(bytes))
}

fn release_local(start: usize, len: usize) {
    pool(|p| p.release(start, len))
}

fn heap<const O: usize>() -> KernelHeap<O> {
    // SAFETY: the fake pool gives out unused host memory and frees it only when released
    // (or when the pool is replaced, after the test is done with the heap).
    unsafe { KernelHeap::new(grow_local, release_local) }
}

fn layout(size: usize, align: usize) -> Layout {
    Layout::from_size_align(size, align).unwrap()
}

/// Allocates, checks the block (aligned, inside a chunk given out, overlapping no live
/// allocation), fills it with `fill` and records it. `None` if the heap returned null.
fn alloc_fill<const O: usize>(heap: &KernelHeap<O>, layout: Layout, fill: u8) -> Option<usize> {
    // SAFETY: every layout used in these tests has a non-zero size.
    let p = unsafe { heap.alloc(layout) };
    if p.is_null() {
        return None;
    }
    let (start, end) = (p as usize, p as usize + layout.size());
    assert_eq!(start % layout.align(), 0, "{layout:?} misaligned at {p:?}");
    let chunk = start & !(KernelHeap::<O>::CHUNK_SIZE - 1);
    pool(|pool| {
        assert!(
            pool.out.contains_key(&chunk),
            "{p:?} not in a chunk given out"
        );
        assert!(
            end <= chunk + KernelHeap::<O>::CHUNK_SIZE,
            "crosses its chunk"
        );
        assert!(
            start >= chunk + KernelHeap::<O>::HEADER,
            "overlaps the header"
        );
        if let Some((&q, &l)) = pool.live.range(..end).next_back() {
            assert!(
                q + l <= start,
                "{p:?}+{} overlaps {q:#x}+{l}",
                layout.size()
            );
        }
        pool.live.insert(start, layout.size());
    });
    // SAFETY: a fresh block of `layout.size()` bytes.
    unsafe { p.write_bytes(fill, layout.size()) };
    Some(start)
}

/// Checks that the block still holds `fill`, forgets it and frees it.
fn check_free<const O: usize>(heap: &KernelHeap<O>, p: usize, layout: Layout, fill: u8) {
    // SAFETY: `p` is a live block of `layout.size()` bytes filled by `alloc_fill`.
    let bytes = unsafe { std::slice::from_raw_parts(p as *const u8, layout.size()) };
    assert!(
        bytes.iter().all(|&b| b == fill),
        "{p:#x}+{} was overwritten",
        layout.size()
    );
    assert_eq!(pool(|pool| pool.live.remove(&p)), Some(layout.size()));
    // SAFETY: allocated from `heap` with `layout` and not freed yet.
    unsafe { heap.dealloc(p as *mut u8, layout) };
}

/// Stats exact, and at most one chunk without a live allocation.
fn check_invariants<const O: usize>(heap: &KernelHeap<O>) {
    heap.check_open_from();
    let chunk = KernelHeap::<O>::CHUNK_SIZE;
    let stats = heap.stats();
    pool(|pool| {
        assert_eq!(stats.bytes_from_pool, pool.out.len() * chunk);
        assert_eq!(stats.bytes_allocated, pool.live_bytes());
        let used = pool.used_chunks(chunk);
        assert!(used.iter().all(|c| pool.out.contains_key(c)));
        assert!(
            pool.out.len() - used.len() <= 1,
            "{} chunks held, {} in use",
            pool.out.len(),
            used.len()
        );
    });
}

/// After everything was freed: one spare chunk at most, nothing allocated.
fn check_drained<const O: usize>(heap: &KernelHeap<O>) {
    check_invariants(heap);
    let stats = heap.stats();
    assert_eq!(stats.bytes_allocated, 0);
    assert!(stats.bytes_from_pool <= KernelHeap::<O>::CHUNK_SIZE);
    pool(|pool| {
        assert!(pool.out.len() <= 1);
        assert_eq!(
            pool.grows - pool.failed_grows - pool.releases,
            pool.out.len()
        );
    });
}

/// xorshift64*, for reproducible shuffles.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            v.swap(i, self.below(i + 1));
        }
    }
}

type Live = Vec<(usize, Layout, u8)>;

fn free_all<const O: usize>(heap: &KernelHeap<O>, live: Live) {
    for (p, l, v) in live {
        check_free(heap, p, l, v);
    }
}

// The headers cost little: under 300 bytes of 16 KiB here and of the kernel's 256 KiB.
const _: () = assert!(TestHeap::HEADER <= 300);
const _: () = assert!(KernelHeap::<KERNEL_ORDER>::HEADER <= 300);
const _: () = assert!(KernelHeap::<KERNEL_ORDER>::CHUNK_SIZE == 256 * 1024);

#[test]
fn grows_one_chunk_at_a_time() {
    fresh_pool(usize::MAX);
    let heap = heap::<ORDER>();
    assert_eq!(heap.stats(), HeapStats::default());
    let mut live = Live::new();
    let small = layout(100, 8);
    live.push((alloc_fill(&heap, small, 1).unwrap(), small, 1));
    assert_eq!(pool(|p| (p.grows, p.last_request)), (1, CHUNK));
    assert_eq!(
        heap.stats(),
        HeapStats {
            bytes_from_pool: CHUNK,
            bytes_allocated: 100
        }
    );
    // 1 KiB blocks: nearly a chunk's worth fit before the heap grows again.
    let kib = layout(1024, 8);
    let mut before_second = 0;
    while pool(|p| p.grows) == 1 {
        live.push((alloc_fill(&heap, kib, 2).unwrap(), kib, 2));
        before_second += 1;
    }
    // 15 in the first chunk (the header and the 100 bytes take the first KiB), 1 in the next.
    assert_eq!(before_second, 16);
    assert_eq!(pool(|p| (p.grows, p.last_request)), (2, CHUNK));
    check_invariants(&heap);
    free_all(&heap, live);
    check_drained(&heap);
    assert_eq!(pool(|p| p.releases), 1);
}

#[test]
fn serves_many_sizes_and_alignments() {
    fresh_pool(usize::MAX);
    let heap = heap::<ORDER>();
    let sizes = [1, 7, 8, 24, 100, 512, 1000, 4096, 5000, MAX_BLOCK, 3, 64];
    let aligns = [1, 2, 8, 16, 64, 4096, 1, 32, 256];
    let mut live = Live::new();
    for i in 0..2000usize {
        let l = layout(
            sizes[i % sizes.len()] - usize::from(i % 3 == 1 && sizes[i % sizes.len()] > 1),
            aligns[i % aligns.len()],
        );
        live.push((alloc_fill(&heap, l, i as u8).unwrap(), l, i as u8));
        if i % 97 == 0 {
            check_invariants(&heap);
        }
    }
    check_invariants(&heap);
    // Free every other one, refill the holes, then free everything.
    let (mut odd, mut even) = (Live::new(), Live::new());
    for (i, entry) in live.into_iter().enumerate() {
        if i % 2 == 1 {
            odd.push(entry);
        } else {
            even.push(entry);
        }
    }
    free_all(&heap, even);
    check_invariants(&heap);
    let grows = pool(|p| p.grows);
    for i in 0..300usize {
        let l = layout(16 + i, 8);
        odd.push((alloc_fill(&heap, l, 0xee).unwrap(), l, 0xee));
    }
    assert_eq!(pool(|p| p.grows), grows, "holes are reused before growing");
    free_all(&heap, odd);
    check_drained(&heap);
}

#[test]
fn alloc_free_storm_returns_every_chunk_but_one() {
    fresh_pool(usize::MAX);
    let heap = heap::<ORDER>();
    let mut rng = Rng(7);
    for round in 0..5 {
        let mut live = Live::new();
        for i in 0..5000usize {
            let l = layout(16 + rng.below(500), 8);
            live.push((alloc_fill(&heap, l, i as u8).unwrap(), l, i as u8));
        }
        assert!(heap.stats().bytes_from_pool > 50 * CHUNK);
        check_invariants(&heap);
        if round % 2 == 1 {
            live.reverse();
        }
        free_all(&heap, live);
        check_drained(&heap);
        assert_eq!(heap.stats().bytes_from_pool, CHUNK);
        assert_eq!(pool(|p| p.grows - p.releases), 1);
    }
}

#[test]
fn interleaved_frees_in_random_order() {
    fresh_pool(usize::MAX);
    let heap = heap::<ORDER>();
    let mut rng = Rng(0x1234_5678);
    let mut live = Live::new();
    for step in 0..30_000usize {
        // Mostly allocating in the first half, mostly freeing in the second.
        let alloc_odds = if step < 15_000 { 6 } else { 3 };
        if live.is_empty() || rng.below(10) < alloc_odds {
            let size = match rng.below(10) {
                0 => 1 + rng.below(MAX_BLOCK),
                1..=3 => 1 + rng.below(2048),
                _ => 1 + rng.below(128),
            };
            let l = layout(size, 1 << rng.below(8));
            live.push((alloc_fill(&heap, l, step as u8).unwrap(), l, step as u8));
        } else {
            let (p, l, v) = live.swap_remove(rng.below(live.len()));
            check_free(&heap, p, l, v);
        }
        if step % 500 == 0 {
            check_invariants(&heap);
        }
    }
    check_invariants(&heap);
    rng.shuffle(&mut live);
    free_all(&heap, live);
    check_drained(&heap);
    assert!(pool(|p| p.releases) > 10);
}

#[test]
fn pointers_from_different_chunks() {
    fresh_pool(usize::MAX);
    let heap = heap::<ORDER>();
    // A chunk holds one block of half its size (the other half holds the header).
    let half = layout(MAX_BLOCK, 8);
    let blocks: Vec<usize> = (0..6)
        .map(|i| alloc_fill(&heap, half, i).unwrap())
        .collect();
    let chunks: BTreeSet<usize> = blocks.iter().map(|p| p & !(CHUNK - 1)).collect();
    assert_eq!(chunks.len(), 6);
    assert!(blocks.iter().all(|p| p % CHUNK == CHUNK / 2));
    assert_eq!(heap.stats().bytes_from_pool, 6 * CHUNK);
    // Small blocks fill the first halves, lowest chunk first, without growing.
    let small = layout(200, 8);
    let lowest = *chunks.first().unwrap();
    let s = alloc_fill(&heap, small, 0x55).unwrap();
    assert_eq!(s & !(CHUNK - 1), lowest, "first fit in address order");
    assert_eq!(pool(|p| p.grows), 6);

    // Every chunk but the lowest (which still holds `s`) empties in turn: the first one to
    // do so stays as the spare, the others go back at once.
    let mut emptied = 0;
    for i in [3, 0, 5, 1, 4, 2] {
        check_free(&heap, blocks[i], half, i as u8);
        emptied += usize::from(blocks[i] & !(CHUNK - 1) != lowest);
        assert_eq!(pool(|p| p.releases), emptied.saturating_sub(1));
        check_invariants(&heap);
    }
    assert_eq!(pool(|p| p.releases), 4);
    check_free(&heap, s, small, 0x55);
    check_drained(&heap);
    assert_eq!(pool(|p| p.releases), 5);
}

#[test]
fn alignment_up_to_a_page_and_beyond() {
    fresh_pool(usize::MAX);
    let heap = heap::<ORDER>();
    let mut live = Live::new();
    for round in 0..4 {
        for shift in 0..=13 {
            let l = layout(1 + round * 40, 1 << shift);
            live.push((alloc_fill(&heap, l, shift as u8).unwrap(), l, shift as u8));
        }
    }
    assert!(live.iter().any(|(p, _, _)| p % 4096 == 0));
    check_invariants(&heap);
    free_all(&heap, live);
    check_drained(&heap);
}

#[test]
fn null_when_grow_fails_and_heap_unchanged() {
    fresh_pool(1);
    let heap = heap::<ORDER>();
    let kib = layout(1024, 1024);
    let mut live = Live::new();
    while let Some(p) = alloc_fill(&heap, kib, 9) {
        live.push((p, kib, 9));
    }
    assert_eq!(pool(|p| (p.grows, p.failed_grows)), (2, 1));
    let before = heap.stats();
    assert_eq!(before.bytes_from_pool, CHUNK);
    assert_eq!(before.bytes_allocated, live.len() * 1024);

    for _ in 0..3 {
        assert_eq!(alloc_fill(&heap, kib, 0), None);
        assert_eq!(heap.stats(), before);
    }
    assert_eq!(pool(|p| (p.grows, p.failed_grows, p.out.len())), (5, 4, 1));
    // What still fits (the crumbs beside the header) is served without asking.
    let crumb = layout(16, 8);
    let c = alloc_fill(&heap, crumb, 3).unwrap();
    assert_eq!(pool(|p| p.grows), 5);
    // A freed block is reused, again without asking.
    let (p, l, v) = live.pop().unwrap();
    check_free(&heap, p, l, v);
    live.push((alloc_fill(&heap, kib, 4).unwrap(), kib, 4));
    assert_eq!(pool(|p| p.grows), 5);
    check_free(&heap, c, crumb, 3);
    free_all(&heap, live);
    check_drained(&heap);
    assert_eq!(pool(|p| p.releases), 0, "the only chunk is the spare");
}

#[test]
fn null_when_the_pool_is_empty_from_the_start() {
    fresh_pool(0);
    let heap = heap::<ORDER>();
    assert_eq!(alloc_fill(&heap, layout(8, 8), 0), None);
    assert_eq!(heap.stats(), HeapStats::default());
    assert_eq!(pool(|p| (p.grows, p.failed_grows)), (1, 1));
}

#[test]
fn oversized_requests_never_grow() {
    fresh_pool(usize::MAX);
    let heap = heap::<ORDER>();
    for l in [
        layout(MAX_BLOCK + 1, 1),
        layout(8, CHUNK),
        layout(CHUNK, 8),
        layout(1 << 62, 1),
        layout(isize::MAX as usize - 7, 8),
    ] {
        assert_eq!(alloc_fill(&heap, l, 0), None, "{l:?}");
    }
    assert_eq!(pool(|p| p.grows), 0);
    assert_eq!(heap.stats(), HeapStats::default());
    let biggest = layout(MAX_BLOCK, MAX_BLOCK);
    let p = alloc_fill(&heap, biggest, 1).unwrap();
    assert_eq!(pool(|p| p.grows), 1);
    check_free(&heap, p, biggest, 1);
    check_drained(&heap);
}

#[test]
fn no_release_while_anything_in_the_chunk_lives() {
    fresh_pool(usize::MAX);
    let heap = heap::<ORDER>();
    let kib = layout(1024, 8);
    let mut live = Live::new();
    while pool(|p| p.out.len()) < 4 {
        live.push((alloc_fill(&heap, kib, 1).unwrap(), kib, 1));
    }
    // Keep the first block of each of the four chunks; free the rest in random order.
    let mut keepers = BTreeMap::new();
    let mut rest = Live::new();
    for entry in live {
        match keepers.entry(entry.0 & !(CHUNK - 1)) {
            std::collections::btree_map::Entry::Vacant(v) => {
                v.insert(entry);
            }
            std::collections::btree_map::Entry::Occupied(_) => rest.push(entry),
        }
    }
    assert_eq!(keepers.len(), 4);
    Rng(99).shuffle(&mut rest);
    free_all(&heap, rest);
    assert_eq!(pool(|p| p.releases), 0);
    assert_eq!(heap.stats().bytes_from_pool, 4 * CHUNK);
    check_invariants(&heap);
    // The first chunk to empty becomes the spare; the next ones go back.
    for (n, (_, (p, l, v))) in keepers.into_iter().enumerate() {
        check_free(&heap, p, l, v);
        assert_eq!(pool(|p| p.releases), n);
        check_invariants(&heap);
    }
    check_drained(&heap);
    assert_eq!(pool(|p| p.releases), 3);
}

#[test]
fn no_thrash_at_a_chunk_boundary() {
    fresh_pool(usize::MAX);
    let heap = heap::<ORDER>();
    let kib = layout(1024, 1024);
    let mut live = Live::new();
    // Fill one chunk exactly (the header's crumbs aside): the next 1 KiB block needs another.
    while pool(|p| p.grows) < 2 {
        live.push((alloc_fill(&heap, kib, 1).unwrap(), kib, 1));
    }
    let (p, l, v) = live.pop().unwrap();
    check_free(&heap, p, l, v);
    assert_eq!(pool(|p| (p.grows, p.releases)), (2, 0));
    for i in 0..100 {
        let p = alloc_fill(&heap, kib, i).unwrap();
        check_free(&heap, p, kib, i);
    }
    assert_eq!(pool(|p| (p.grows, p.releases)), (2, 0));
    free_all(&heap, live);
    check_drained(&heap);
    assert_eq!(pool(|p| p.releases), 1);
}

#[test]
fn a_freed_small_block_is_the_next_one_given() {
    fresh_pool(usize::MAX);
    let heap = heap::<ORDER>();
    let keep = alloc_fill(&heap, layout(24, 8), 1).unwrap();
    let mut live = Live::new();
    for size in [8, 24, 100, 512, LARGEST_CACHED] {
        let l = layout(size, 8);
        let a = alloc_fill(&heap, l, 2).unwrap();
        let b = alloc_fill(&heap, l, 3).unwrap();
        check_free(&heap, a, l, 2);
        check_free(&heap, b, l, 3);
        // Not live any more, whatever the lists hold.
        let still_live: usize = live.iter().map(|(_, l, _)| l.size()).sum();
        assert_eq!(heap.stats().bytes_allocated, 24 + still_live);
        // Last in, first out; any layout of the same class gets the block.
        assert_eq!(alloc_fill(&heap, l, 4), Some(b));
        let same_class = layout(size.next_power_of_two(), size.next_power_of_two());
        assert_eq!(alloc_fill(&heap, same_class, 5), Some(a));
        live.push((b, l, 4));
        live.push((a, same_class, 5));
        check_invariants(&heap);
    }
    free_all(&heap, live);
    check_free(&heap, keep, layout(24, 8), 1);
    check_drained(&heap);
    assert_eq!(pool(|p| (p.grows, p.releases)), (1, 0));
}

#[test]
fn cached_blocks_merge_before_the_heap_grows() {
    // Two chunks at most, both filled with 1 KiB blocks.
    fresh_pool(2);
    let heap = heap::<ORDER>();
    let kib = layout(1024, 1024);
    let mut live = Live::new();
    while let Some(p) = alloc_fill(&heap, kib, 1) {
        live.push((p, kib, 1));
    }
    assert_eq!(pool(|p| (p.grows, p.failed_grows)), (3, 1));
    // Everything in the lower chunk but its first block goes on the 1 KiB list.
    live.sort_by_key(|&(p, _, _)| p);
    let low_chunk = live[0].0 & !(CHUNK - 1);
    let (in_low, in_high): (Live, Live) = live
        .into_iter()
        .partition(|&(p, _, _)| p & !(CHUNK - 1) == low_chunk);
    let keeper = in_low[0];
    free_all(&heap, in_low[1..].to_vec());
    // Half a chunk, the largest block: only the merged 1 KiB blocks can serve it, and they
    // must, without asking the pool.
    let half = layout(MAX_BLOCK, MAX_BLOCK);
    let big = alloc_fill(&heap, half, 6).unwrap();
    assert_eq!(big & !(CHUNK - 1), low_chunk);
    assert_eq!(pool(|p| (p.grows, p.failed_grows)), (3, 1));
    check_invariants(&heap);
    check_free(&heap, big, half, 6);
    check_free(&heap, keeper.0, keeper.1, keeper.2);
    free_all(&heap, in_high);
    check_drained(&heap);
}

#[test]
fn a_region_that_is_not_a_chunk_goes_back() {
    for mode in [GrowMode::Misaligned, GrowMode::Short] {
        fresh_pool(usize::MAX);
        pool(|p| p.mode = mode);
        let heap = heap::<ORDER>();
        assert_eq!(alloc_fill(&heap, layout(64, 8), 0), None, "{mode:?}");
        assert_eq!(heap.stats(), HeapStats::default());
        assert_eq!(
            pool(|p| (p.grows, p.releases, p.out.len())),
            (1, 1, 0),
            "{mode:?}"
        );
    }
}

#[test]
fn realloc_keeps_contents_across_chunks() {
    fresh_pool(usize::MAX);
    let heap = heap::<ORDER>();
    let first = layout(100, 8);
    let p = alloc_fill(&heap, first, 0x42).unwrap();
    pool(|pool| pool.live.remove(&p));
    let mut ptr = p as *mut u8;
    let mut old = first;
    for size in [3000, MAX_BLOCK, 10, MAX_BLOCK - 1] {
        // SAFETY: `ptr` was allocated by `heap` with `old`; the new size is non-zero.
        let q = unsafe { heap.realloc(ptr, old, size) };
        assert!(!q.is_null());
        // SAFETY: at least 10 bytes live at `q`.
        let bytes = unsafe { std::slice::from_raw_parts(q, 10) };
        assert!(bytes.iter().all(|&b| b == 0x42));
        assert_eq!(heap.stats().bytes_allocated, size);
        (ptr, old) = (q, layout(size, 8));
    }
    // SAFETY: allocated by `heap` with `old`.
    unsafe { heap.dealloc(ptr, old) };
    check_drained(&heap);
}

#[test]
fn kernel_sized_chunks() {
    fresh_pool(usize::MAX);
    let heap = heap::<KERNEL_ORDER>();
    let mut rng = Rng(42);
    for _ in 0..2 {
        // BTreeMap-node-like objects: a few MiB of them, then all gone.
        let mut live = Live::new();
        for i in 0..20_000usize {
            let l = layout([48, 96, 192, 280, 392][i % 5], 8);
            live.push((alloc_fill(&heap, l, i as u8).unwrap(), l, i as u8));
        }
        assert!(heap.stats().bytes_from_pool >= 16 * (256 << 10));
        check_invariants(&heap);
        rng.shuffle(&mut live);
        free_all(&heap, live);
        check_drained(&heap);
        assert_eq!(heap.stats().bytes_from_pool, 256 << 10);
    }
    let biggest = layout(128 << 10, 4096);
    let p = alloc_fill(&heap, biggest, 1).unwrap();
    check_free(&heap, p, biggest, 1);
    assert!(alloc_fill(&heap, layout((128 << 10) + 1, 8), 0).is_none());
    check_drained(&heap);
}

// ---- grow and release without the heap lock -------------------------------------------------

/// Used by one test only; the chunk it keeps dangles once that test's thread is gone.
static LOCK_CHECKED: TestHeap = {
    // SAFETY: as in `heap`.
    unsafe { KernelHeap::new(grow_checking_lock, release_checking_lock) }
};

fn grow_checking_lock(bytes: usize) -> Option<(usize, usize)> {
    assert!(
        !LOCK_CHECKED.inner.is_locked(),
        "grow called with the heap lock held"
    );
    grow_local(bytes)
}

fn release_checking_lock(start: usize, len: usize) {
    assert!(
        !LOCK_CHECKED.inner.is_locked(),
        "release called with the heap lock held"
    );
    release_local(start, len);
}

#[test]
fn grow_and_release_run_without_the_heap_lock() {
    fresh_pool(usize::MAX);
    let half = layout(MAX_BLOCK, 8);
    let blocks: Vec<usize> = (0..3)
        .map(|i| alloc_fill(&LOCK_CHECKED, half, i).unwrap())
        .collect();
    for (i, p) in blocks.into_iter().enumerate() {
        check_free(&LOCK_CHECKED, p, half, i as u8);
    }
    assert_eq!(pool(|p| (p.grows, p.releases)), (3, 2));
    check_drained(&LOCK_CHECKED);
}

// ---- threads --------------------------------------------------------------------------------

static SHARED_POOL: StdMutex<Option<FakePool>> = StdMutex::new(None);

fn grow_shared(bytes: usize) -> Option<(usize, usize)> {
    SHARED_POOL.lock().unwrap().as_mut()?.grow(bytes)
}

fn release_shared(start: usize, len: usize) {
    SHARED_POOL
        .lock()
        .unwrap()
        .as_mut()
        .unwrap()
        .release(start, len);
}

#[test]
fn shared_between_threads() {
    *SHARED_POOL.lock().unwrap() = Some(FakePool::new(usize::MAX));
    // SAFETY: as in `heap`.
    let heap: TestHeap = unsafe { KernelHeap::new(grow_shared, release_shared) };
    std::thread::scope(|s| {
        for t in 0..4u64 {
            let heap = &heap;
            s.spawn(move || {
                let mut rng = Rng(t + 1);
                let mut live: Vec<(usize, Layout, u8)> = Vec::new();
                for i in 0..20_000usize {
                    if live.len() < 400 && (live.is_empty() || rng.below(10) < 6) {
                        let l = layout(1 + rng.below(1500), 1 << rng.below(7));
                        // SAFETY: non-zero size.
                        let p = unsafe { heap.alloc(l) };
                        assert!(!p.is_null());
                        assert_eq!(p as usize % l.align(), 0);
                        let v = ((t as u8) << 6) | (i as u8 & 63);
                        // SAFETY: a fresh block of `l.size()` bytes.
                        unsafe { p.write_bytes(v, l.size()) };
                        live.push((p as usize, l, v));
                    } else {
                        let (p, l, v) = live.swap_remove(rng.below(live.len()));
                        // SAFETY: a live block of `l.size()` bytes.
                        let bytes = unsafe { std::slice::from_raw_parts(p as *const u8, l.size()) };
                        assert!(bytes.iter().all(|&b| b == v), "thread {t}: overwritten");
                        // SAFETY: allocated from `heap` with `l`.
                        unsafe { heap.dealloc(p as *mut u8, l) };
                    }
                }
                for (p, l, v) in live {
                    // SAFETY: as above.
                    let bytes = unsafe { std::slice::from_raw_parts(p as *const u8, l.size()) };
                    assert!(bytes.iter().all(|&b| b == v), "thread {t}: overwritten");
                    // SAFETY: as above.
                    unsafe { heap.dealloc(p as *mut u8, l) };
                }
            });
        }
    });
    let stats = heap.stats();
    let pool = SHARED_POOL.lock().unwrap().take().unwrap();
    assert_eq!(stats.bytes_allocated, 0);
    assert_eq!(stats.bytes_from_pool, CHUNK);
    assert_eq!(pool.out.len(), 1);
    assert!(pool.grows > 10, "only {} chunks ever used", pool.grows);
    assert_eq!(pool.grows - pool.releases, 1);
}

// ---- model ----------------------------------------------------------------------------------

#[derive(Clone, Debug)]
enum Op {
    Alloc { size: usize, align_shift: u32 },
    Free(prop::sample::Index),
}

fn op() -> impl Strategy<Value = Op> {
    let size = prop_oneof![
        6 => 1usize..=64,
        3 => 65usize..=1024,
        2 => 1025usize..=MAX_BLOCK,
        1 => MAX_BLOCK + 1..=2 * CHUNK,
    ];
    prop_oneof![
        3 => (size, 0u32..=13).prop_map(|(size, align_shift)| Op::Alloc { size, align_shift }),
        2 => any::<prop::sample::Index>().prop_map(Op::Free),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn behaves_like_the_model(
        ops in prop::collection::vec(op(), 1..400),
        limit in 1usize..8,
        final_order in any::<u64>(),
    ) {
        fresh_pool(limit);
        let heap = heap::<ORDER>();
        let mut live = Live::new();
        for (i, op) in ops.into_iter().enumerate() {
            match op {
                Op::Alloc { size, align_shift } => {
                    let l = layout(size, 1 << align_shift);
                    let fits = TestHeap::class(l).is_some();
                    let before = heap.stats();
                    let (grows, failed) = pool(|p| (p.grows, p.failed_grows));
                    match alloc_fill(&heap, l, i as u8) {
                        Some(p) => {
                            prop_assert!(fits);
                            live.push((p, l, i as u8));
                        }
                        None => {
                            // Null only when too big (without asking the pool) or when the
                            // pool refused, and then nothing changed.
                            let (grows_now, failed_now) = pool(|p| (p.grows, p.failed_grows));
                            if fits {
                                prop_assert_eq!(failed_now, failed + 1);
                            } else {
                                prop_assert_eq!(grows_now, grows);
                            }
                            prop_assert_eq!(heap.stats(), before);
                        }
                    }
                }
                Op::Free(index) => {
                    if !live.is_empty() {
                        let (p, l, v) = live.swap_remove(index.index(live.len()));
                        check_free(&heap, p, l, v);
                    }
                }
            }
            check_invariants(&heap);
        }
        Rng(final_order | 1).shuffle(&mut live);
        free_all(&heap, live);
        check_drained(&heap);
    }
}
