//! The kernel heap: a locked buddy allocator that grows on demand through a callback
//! (in the kernel, one taking pages from the [`crate::pool::PagePool`]).

use core::alloc::{GlobalAlloc, Layout};
use core::ptr::{self, NonNull};

use buddy_system_allocator::Heap;
use spin::Mutex;

/// Grow callback: given the minimum number of bytes needed, returns a new region
/// `(virtual start, length)` for the heap, or `None` if no memory is left.
///
/// `min_bytes` is a power of two, and the retried allocation only succeeds if the region
/// holds a `min_bytes` block aligned to `min_bytes` (start aligned to `min_bytes`, length at
/// least `min_bytes` is enough). Pages from `PagePool::alloc_pages(min_bytes.div_ceil(PAGE_SIZE),
/// ..)` always qualify: such blocks are aligned to the next power of two of their page count.
pub type GrowFn = fn(min_bytes: usize) -> Option<(usize, usize)>;

/// Heap accounting.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HeapStats {
    /// Bytes of all regions ever added (initial ones and grown ones).
    pub bytes_from_pool: usize,
    /// Bytes requested by live allocations (layout sizes, before rounding).
    pub bytes_allocated: usize,
}

struct Inner<const ORDER: usize> {
    heap: Heap<ORDER>,
    bytes_from_pool: usize,
}

/// A [`GlobalAlloc`] over a buddy heap whose largest block is `2^(ORDER-1)` bytes.
pub struct KernelHeap<const ORDER: usize> {
    inner: Mutex<Inner<ORDER>>,
    grow: GrowFn,
}

impl<const ORDER: usize> KernelHeap<ORDER> {
    // Blocks start at one word (order 3); the buddy crate shifts usize by up to ORDER - 1.
    const ORDER_OK: () = assert!(ORDER > 3 && ORDER <= usize::BITS as usize);

    /// An empty heap that calls `grow` when an allocation does not fit.
    ///
    /// # Safety
    ///
    /// Every region `grow` returns must satisfy the contract of
    /// [`KernelHeap::add_region`]: the heap takes it over without further checks.
    pub const unsafe fn new(grow: GrowFn) -> Self {
        let () = Self::ORDER_OK;
        KernelHeap {
            inner: Mutex::new(Inner {
                heap: Heap::new(),
                bytes_from_pool: 0,
            }),
            grow,
        }
    }

    /// Gives `[start, start + len)` to the heap. Parts too small or misaligned to hold a
    /// machine word are ignored; the end is clamped instead of wrapping.
    ///
    /// # Safety
    ///
    /// The region must be valid, readable and writable memory, used by nobody else (and not
    /// already in this heap), that stays valid for the rest of the heap's life.
    pub unsafe fn add_region(&self, start: usize, len: usize) {
        const WORD: usize = size_of::<usize>();
        // Word 0 would read as a null list link, so never hand it to the free lists.
        let Some(begin) = start.max(WORD).checked_next_multiple_of(WORD) else {
            return;
        };
        let end = start.saturating_add(len) & !(WORD - 1);
        let mut inner = self.inner.lock();
        inner.bytes_from_pool = inner.bytes_from_pool.saturating_add(len);
        // The buddy crate asserts start <= end, so skip regions that round to nothing.
        if end > begin {
            // SAFETY: `[begin, end)` lies inside the region the caller vouched for.
            unsafe { inner.heap.add_to_heap(begin, end) };
        }
    }

    /// Current accounting.
    pub fn stats(&self) -> HeapStats {
        let inner = self.inner.lock();
        HeapStats {
            bytes_from_pool: inner.bytes_from_pool,
            bytes_allocated: inner.heap.stats_alloc_user(),
        }
    }

    fn try_alloc(&self, layout: Layout) -> Option<NonNull<u8>> {
        self.inner.lock().heap.alloc(layout).ok()
    }
}

/// Size of the buddy block serving `layout` (mirrors the buddy crate's rounding).
fn block_size(layout: Layout) -> usize {
    layout
        .size()
        .next_power_of_two()
        .max(layout.align())
        .max(size_of::<usize>())
}

// SAFETY: blocks come from the buddy heap, which hands out disjoint blocks of at least
// `layout.size()` bytes aligned to `layout.align()` from memory vouched for by `add_region`
// (directly or through the grow callback, see `new`).
unsafe impl<const ORDER: usize> GlobalAlloc for KernelHeap<ORDER> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if let Some(p) = self.try_alloc(layout) {
            return p.as_ptr();
        }
        let need = block_size(layout);
        if need > 1 << (ORDER - 1) {
            // No region could ever serve it; do not waste pool memory.
            return ptr::null_mut();
        }
        // The heap lock is not held here: the callback may take other locks (the pool's)
        // and another CPU may free or allocate meanwhile.
        let Some((start, len)) = (self.grow)(need) else {
            return ptr::null_mut();
        };
        // SAFETY: the contract of `new` makes grown regions valid for `add_region`.
        unsafe { self.add_region(start, len) };
        self.try_alloc(layout)
            .map_or(ptr::null_mut(), |p| p.as_ptr())
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if let Some(p) = NonNull::new(ptr) {
            // SAFETY: GlobalAlloc's contract: `ptr` was allocated by this heap with `layout`.
            unsafe { self.inner.lock().heap.dealloc(p, layout) };
        }
    }
}

#[cfg(test)]
mod tests;
