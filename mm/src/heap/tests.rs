//! Host tests: non-global heaps over host buffers, growing from an arena that stands in for
//! the page pool. Grow callbacks are plain `fn`s, so their state is thread-local (each test
//! runs on its own thread).

use super::*;
use std::cell::{Cell, RefCell};
use std::sync::Arc;

const KIB: usize = 1024;
const MIB: usize = 1024 * KIB;

/// A host buffer handed out in naturally aligned chunks, like page-pool blocks.
struct Arena {
    base: *mut u8,
    layout: Layout,
    next: usize,
    given: usize,
}

impl Arena {
    fn new(len: usize) -> Self {
        let layout = Layout::from_size_align(len, len).unwrap();
        // SAFETY: non-zero size.
        let base = unsafe { std::alloc::alloc(layout) };
        assert!(!base.is_null());
        Arena {
            base,
            layout,
            next: 0,
            given: 0,
        }
    }

    fn take(&mut self, bytes: usize) -> Option<(usize, usize)> {
        let bytes = bytes.next_power_of_two();
        let at = self.next.next_multiple_of(bytes);
        if at + bytes > self.layout.size() {
            return None;
        }
        self.next = at + bytes;
        self.given += bytes;
        Some((self.base as usize + at, bytes))
    }
}

impl Drop for Arena {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout.
        unsafe { std::alloc::dealloc(self.base, self.layout) };
    }
}

thread_local! {
    static ARENA: RefCell<Option<Arena>> = const { RefCell::new(None) };
    static GROWS: Cell<usize> = const { Cell::new(0) };
    static LAST_REQUEST: Cell<usize> = const { Cell::new(0) };
}

/// Installs a fresh arena for this thread; dropping the guard frees it.
struct ArenaGuard;

impl ArenaGuard {
    fn install(len: usize) -> Self {
        ARENA.with(|a| *a.borrow_mut() = Some(Arena::new(len)));
        GROWS.with(|g| g.set(0));
        ArenaGuard
    }
}

impl Drop for ArenaGuard {
    fn drop(&mut self) {
        ARENA.with(|a| a.borrow_mut().take());
    }
}

fn arena_take(bytes: usize) -> Option<(usize, usize)> {
    ARENA.with(|a| a.borrow_mut().as_mut()?.take(bytes))
}

fn arena_given() -> usize {
    ARENA.with(|a| a.borrow().as_ref().map_or(0, |a| a.given))
}

fn grows() -> usize {
    GROWS.with(Cell::get)
}

fn note_grow(min_bytes: usize) {
    GROWS.with(|g| g.set(g.get() + 1));
    LAST_REQUEST.with(|l| l.set(min_bytes));
}

/// Like the kernel's pool-backed grow: at least 16 KiB, naturally aligned.
fn grow_from_arena(min_bytes: usize) -> Option<(usize, usize)> {
    note_grow(min_bytes);
    arena_take(min_bytes.max(16 * KIB))
}

fn grow_nothing(min_bytes: usize) -> Option<(usize, usize)> {
    note_grow(min_bytes);
    None
}

/// Misaligned on purpose, so the grown region cannot hold the requested block.
fn grow_misaligned(min_bytes: usize) -> Option<(usize, usize)> {
    note_grow(min_bytes);
    let (start, _) = arena_take(min_bytes * 2)?;
    Some((start + 8, min_bytes))
}

fn heap_with<const ORDER: usize>(grow: GrowFn, initial: usize) -> KernelHeap<ORDER> {
    // SAFETY: every grow callback used in these tests returns arena chunks (or nothing),
    // which are unused memory that outlives the heap.
    let heap = unsafe { KernelHeap::new(grow) };
    if initial > 0 {
        let (start, len) = arena_take(initial).unwrap();
        // SAFETY: a fresh arena chunk, used by nothing else, outliving the heap.
        unsafe { heap.add_region(start, len) };
    }
    heap
}

fn alloc<const ORDER: usize>(heap: &KernelHeap<ORDER>, layout: Layout) -> *mut u8 {
    // SAFETY: every layout used in these tests has a non-zero size.
    unsafe { heap.alloc(layout) }
}

fn dealloc<const ORDER: usize>(heap: &KernelHeap<ORDER>, ptr: *mut u8, layout: Layout) {
    // SAFETY: tests only free what they allocated from the same heap with the same layout.
    unsafe { heap.dealloc(ptr, layout) }
}

fn fill(ptr: *mut u8, len: usize, value: u8) {
    // SAFETY: `ptr` is a live allocation of at least `len` bytes.
    unsafe { ptr.write_bytes(value, len) }
}

fn holds(ptr: *mut u8, len: usize, value: u8) -> bool {
    // SAFETY: `ptr` is a live allocation of at least `len` bytes, filled by `fill`.
    unsafe { std::slice::from_raw_parts(ptr, len) }
        .iter()
        .all(|&b| b == value)
}

#[test]
fn grows_and_serves_many_layouts() {
    let _arena = ArenaGuard::install(8 * MIB);
    let heap = heap_with::<24>(grow_from_arena, 16 * KIB);
    assert_eq!(heap.stats().bytes_from_pool, 16 * KIB);

    let sizes = [1, 7, 8, 24, 100, 512, 1000, 4096, 5000, 20000];
    let aligns = [1, 2, 8, 16, 64, 4096, 1];
    let mut live = Vec::new();
    let mut requested = 0;
    for i in 0..500usize {
        let layout =
            Layout::from_size_align(sizes[i % sizes.len()] + i % 3, aligns[i % 7]).unwrap();
        let p = alloc(&heap, layout);
        assert!(!p.is_null(), "alloc {layout:?}");
        assert_eq!(p as usize % layout.align(), 0);
        fill(p, layout.size(), i as u8);
        requested += layout.size();
        live.push((p, layout, i as u8));
    }
    assert!(grows() > 0);
    let stats = heap.stats();
    assert_eq!(stats.bytes_allocated, requested);
    assert_eq!(stats.bytes_from_pool, arena_given());

    let mut spans: Vec<_> = live
        .iter()
        .map(|(p, l, _)| (*p as usize, *p as usize + l.size()))
        .collect();
    spans.sort_unstable();
    assert!(spans.windows(2).all(|w| w[0].1 <= w[1].0), "overlap");
    assert!(live.iter().all(|&(p, l, v)| holds(p, l.size(), v)));

    // Free every other one, reuse the holes, then free everything.
    let mut kept = Vec::new();
    for (i, (p, l, v)) in live.into_iter().enumerate() {
        if i % 2 == 0 {
            dealloc(&heap, p, l);
        } else {
            kept.push((p, l, v));
        }
    }
    let grows_before = grows();
    for i in 0..100usize {
        let layout = Layout::from_size_align(64 + i, 8).unwrap();
        let p = alloc(&heap, layout);
        assert!(!p.is_null());
        fill(p, layout.size(), 0xee);
        kept.push((p, layout, 0xee));
    }
    assert_eq!(grows(), grows_before, "holes are reused before growing");
    assert!(kept.iter().all(|&(p, l, v)| holds(p, l.size(), v)));
    for (p, l, _) in kept {
        dealloc(&heap, p, l);
    }
    let end = heap.stats();
    assert_eq!(end.bytes_allocated, 0);
    assert_eq!(end.bytes_from_pool, stats.bytes_from_pool);

    // Everything merged back: a block as large as the biggest chunk fits without growing.
    let grows_before = grows();
    let big = Layout::from_size_align(16 * KIB, 16 * KIB).unwrap();
    let p = alloc(&heap, big);
    assert!(!p.is_null());
    assert_eq!(grows(), grows_before);
    dealloc(&heap, p, big);
}

#[test]
fn realloc_keeps_contents_and_grows() {
    let _arena = ArenaGuard::install(MIB);
    let heap = heap_with::<24>(grow_from_arena, 4 * KIB);
    let layout = Layout::from_size_align(100, 8).unwrap();
    let p = alloc(&heap, layout);
    fill(p, 100, 0x42);
    // SAFETY: `p` was allocated by `heap` with `layout`; the new size is non-zero.
    let q = unsafe { heap.realloc(p, layout, 64 * KIB) };
    assert!(!q.is_null());
    assert!(holds(q, 100, 0x42));
    assert!(grows() >= 1);
    assert_eq!(heap.stats().bytes_allocated, 64 * KIB);
    dealloc(&heap, q, Layout::from_size_align(64 * KIB, 8).unwrap());
    assert_eq!(heap.stats().bytes_allocated, 0);
}

#[test]
fn failed_growth_returns_null_after_one_attempt() {
    let _arena = ArenaGuard::install(MIB);
    let heap = heap_with::<24>(grow_nothing, 4 * KIB);
    let before = heap.stats();
    let layout = Layout::from_size_align(5000, 8).unwrap();
    assert!(alloc(&heap, layout).is_null());
    assert_eq!(grows(), 1);
    assert_eq!(
        LAST_REQUEST.with(Cell::get),
        8 * KIB,
        "block size requested"
    );
    assert_eq!(heap.stats(), before);

    // What fits is still served without asking.
    let small = Layout::from_size_align(100, 8).unwrap();
    let p = alloc(&heap, small);
    assert!(!p.is_null());
    assert_eq!(grows(), 1);
    dealloc(&heap, p, small);
    assert_eq!(heap.stats(), before);
}

#[test]
fn unusable_grown_region_returns_null() {
    let _arena = ArenaGuard::install(MIB);
    let heap = heap_with::<24>(grow_misaligned, 0);
    let layout = Layout::from_size_align(32 * KIB, 8).unwrap();
    assert!(alloc(&heap, layout).is_null());
    assert_eq!(grows(), 1);
    assert_eq!(heap.stats().bytes_allocated, 0);
    assert_eq!(heap.stats().bytes_from_pool, 32 * KIB);
}

#[test]
fn oversized_request_does_not_grow() {
    let _arena = ArenaGuard::install(MIB);
    // Largest block: 2^15 bytes.
    let heap = heap_with::<16>(grow_from_arena, 0);
    let layout = Layout::from_size_align(33 * KIB, 8).unwrap();
    assert!(alloc(&heap, layout).is_null());
    let layout = Layout::from_size_align(8, 64 * KIB).unwrap();
    assert!(alloc(&heap, layout).is_null());
    assert_eq!(grows(), 0);
    let ok = Layout::from_size_align(32 * KIB, 8).unwrap();
    let p = alloc(&heap, ok);
    assert!(!p.is_null());
    assert_eq!(grows(), 1);
    dealloc(&heap, p, ok);
}

#[test]
fn slivers_are_ignored() {
    let _arena = ArenaGuard::install(MIB);
    let heap = heap_with::<24>(grow_nothing, 0);
    let (start, _) = arena_take(4 * KIB).unwrap();
    // SAFETY: parts of a fresh arena chunk, used by nothing else, outliving the heap.
    unsafe {
        heap.add_region(start + 1, 3);
        heap.add_region(start + 9, 0);
    }
    assert!(alloc(&heap, Layout::new::<u8>()).is_null());
    // SAFETY: as above; disjoint from the slivers.
    unsafe { heap.add_region(start + 17, 20) };
    let p = alloc(&heap, Layout::new::<u64>());
    assert!(!p.is_null());
    assert_eq!(p as usize % 8, 0);
    assert!(p as usize >= start + 17 && p as usize + 8 <= start + 37);
}

static LOCK_CHECKED: KernelHeap<20> = {
    // SAFETY: `grow_checking_lock` returns fresh, leaked host memory.
    unsafe { KernelHeap::new(grow_checking_lock) }
};

fn grow_checking_lock(min_bytes: usize) -> Option<(usize, usize)> {
    assert!(
        !LOCK_CHECKED.inner.is_locked(),
        "grow called with the heap lock held"
    );
    let layout = Layout::from_size_align(min_bytes, min_bytes).ok()?;
    // SAFETY: non-zero size; the memory is deliberately leaked to the heap.
    let p = unsafe { std::alloc::alloc(layout) };
    (!p.is_null()).then_some((p as usize, min_bytes))
}

#[test]
fn grow_runs_without_the_heap_lock() {
    let layout = Layout::from_size_align(3000, 16).unwrap();
    let p = alloc(&LOCK_CHECKED, layout);
    assert!(!p.is_null());
    assert!(LOCK_CHECKED.stats().bytes_from_pool >= 4096);
    dealloc(&LOCK_CHECKED, p, layout);
}

#[test]
fn shared_between_threads() {
    let _arena = ArenaGuard::install(4 * MIB);
    let heap = Arc::new(heap_with::<24>(grow_nothing, 4 * MIB));
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let heap = Arc::clone(&heap);
            std::thread::spawn(move || {
                let mut live = Vec::new();
                for i in 0..1000usize {
                    let layout = Layout::from_size_align(1 + (i * 37 + t) % 700, 8).unwrap();
                    let p = alloc(&*heap, layout);
                    assert!(!p.is_null());
                    fill(p, layout.size(), t as u8);
                    live.push((p as usize, layout));
                    if i % 3 == 0 {
                        let (p, l) = live.swap_remove(i % live.len());
                        assert!(holds(p as *mut u8, l.size(), t as u8));
                        dealloc(&*heap, p as *mut u8, l);
                    }
                }
                for (p, l) in live {
                    assert!(holds(p as *mut u8, l.size(), t as u8));
                    dealloc(&*heap, p as *mut u8, l);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(heap.stats().bytes_allocated, 0);
    assert_eq!(grows(), 0);
}
