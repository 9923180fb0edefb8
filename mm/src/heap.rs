//! The kernel heap: small allocations from naturally aligned chunks of pool memory that go
//! back to the pool as soon as they are empty.
//!
//! The heap is a list of chunks of `2^ORDER` bytes, each aligned to its size, taken from the
//! page pool through a `grow` callback. Every chunk starts with a header holding its own buddy
//! allocator over the rest of the chunk (so the largest block is half a chunk: the first half
//! holds the header), the buddy allocator's count of live bytes, and the links of the heap's
//! chunk list. The chunk of any block is its address rounded down to the chunk size, and the
//! heap keeps no other metadata: nothing is allocated from the heap itself.
//!
//! Allocation is first fit over the chunks in address order (O(number of chunks)); a chunk
//! remembers the smallest block size it failed to serve since its last free, so full chunks
//! cost one comparison. When no chunk has room, the heap asks `grow` for one more chunk.
//! When the last block of a chunk is freed, the chunk goes back to the pool through a
//! `release` callback, except that one empty chunk is kept as a spare, so that allocating and
//! freeing across a chunk boundary does not take and give back pages every time. Both
//! callbacks run without the heap lock held.
//!
//! Requests whose buddy block (size rounded up to a power of two, at least the alignment)
//! exceeds half a chunk are refused with null, without asking `grow`: the kernel serves large
//! allocations from the pool directly.

use core::alloc::{GlobalAlloc, Layout};
use core::ptr::{self, NonNull};

use buddy_system_allocator::Heap;
use spin::Mutex;

/// Grow callback: given `bytes`, the heap's chunk size ([`KernelHeap::CHUNK_SIZE`], a power of
/// two), returns a new chunk `(virtual start, length)`, or `None` if no memory is left.
///
/// The chunk must be exactly what was asked: `length == bytes`, and `start` a non-zero
/// multiple of `bytes` (naturally aligned) whose end does not wrap around the address space.
/// A region that is not is handed back at once through the [`ReleaseFn`] and the allocation
/// fails. Pages from `PagePool::alloc_pages(bytes / PAGE_SIZE, ..)` qualify: the pool aligns
/// blocks of a power-of-two page count to their size.
///
/// Called without the heap lock held, so it may take other locks (or even use the heap).
pub type GrowFn = fn(bytes: usize) -> Option<(usize, usize)>;

/// Release callback: takes back `[start, start + len)`, exactly a `(start, len)` the
/// [`GrowFn`] returned, once the heap no longer uses any byte of it.
///
/// Called without the heap lock held, like [`GrowFn`].
pub type ReleaseFn = fn(start: usize, len: usize);

/// Heap accounting.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HeapStats {
    /// Bytes of the chunks the heap currently holds (taken through `grow` and not released).
    pub bytes_from_pool: usize,
    /// Bytes requested by live allocations (layout sizes, before rounding).
    pub bytes_allocated: usize,
}

/// The header at the start of every chunk.
struct Chunk<const ORDER: usize> {
    /// Buddy allocator over the rest of the chunk. Its count of allocated bytes (blocks
    /// rounded to powers of two) is the chunk's count of live bytes.
    buddy: Heap<ORDER>,
    /// Neighbours in the heap's address-ordered chunk list (null at the ends).
    prev: *mut Chunk<ORDER>,
    next: *mut Chunk<ORDER>,
    /// Blocks of this size class (log2 of the block size) or larger are known not to fit:
    /// set when an allocation fails here, reset by any free here. `ORDER` (larger than every
    /// class) when nothing is known. Allocations only shrink free blocks, so the knowledge
    /// stays true until the next free.
    full_from: usize,
}

impl<const ORDER: usize> Chunk<ORDER> {
    fn is_empty(&self) -> bool {
        self.buddy.stats_alloc_actual() == 0
    }
}

/// The heap's state behind its lock.
///
/// Invariant: `head` starts a doubly linked list, in increasing address order, of exactly
/// `chunks` live chunk headers, each at the start of a chunk the heap took from `grow` and
/// has not released, and reached by nothing else while the heap lock is not held (besides the
/// blocks handed out, which the headers never overlap). `empty` counts the linked chunks
/// without any live block; it is at most 1 whenever the lock is free.
struct Inner<const ORDER: usize> {
    head: *mut Chunk<ORDER>,
    chunks: usize,
    empty: usize,
    bytes_allocated: usize,
}

// SAFETY: the raw pointers lead to chunk headers owned by the heap, not by any thread, and
// only dereferenced by whoever holds the heap lock (the `Mutex` around `Inner`).
unsafe impl<const ORDER: usize> Send for Inner<ORDER> {}

impl<const ORDER: usize> Inner<ORDER> {
    /// First fit over the chunks, in address order.
    fn alloc(&mut self, layout: Layout, class: usize) -> Option<NonNull<u8>> {
        let mut cursor = self.head;
        // SAFETY: linked chunks are live headers that only the lock holder (we, through
        // `&mut self`) touches (invariant of `Inner`).
        while let Some(chunk) = unsafe { cursor.as_mut() } {
            if class < chunk.full_from {
                let was_empty = chunk.is_empty();
                if let Ok(block) = chunk.buddy.alloc(layout) {
                    self.empty -= usize::from(was_empty);
                    self.bytes_allocated += layout.size();
                    return Some(block);
                }
                chunk.full_from = class;
            }
            cursor = chunk.next;
        }
        None
    }

    /// Adds `chunk` to the list, keeping address order.
    ///
    /// # Safety
    ///
    /// `chunk` must be an initialised header of a chunk the heap owns, not linked yet.
    unsafe fn link(&mut self, chunk: *mut Chunk<ORDER>) {
        let mut prev: *mut Chunk<ORDER> = ptr::null_mut();
        let mut next = self.head;
        // SAFETY: linked chunks are live headers (invariant of `Inner`).
        while let Some(n) = unsafe { next.as_ref() } {
            if next > chunk {
                break;
            }
            prev = next;
            next = n.next;
        }
        // SAFETY: `chunk` is a live, unlinked header (contract); `prev` and `next` are null
        // or linked headers, distinct from `chunk`.
        unsafe {
            (*chunk).prev = prev;
            (*chunk).next = next;
            match prev.as_mut() {
                Some(p) => p.next = chunk,
                None => self.head = chunk,
            }
            if let Some(n) = next.as_mut() {
                n.prev = chunk;
            }
            self.empty += usize::from((*chunk).is_empty());
        }
        self.chunks += 1;
    }

    /// Takes `chunk` out of the list; the heap no longer reaches it.
    ///
    /// # Safety
    ///
    /// `chunk` must be linked.
    unsafe fn unlink(&mut self, chunk: *mut Chunk<ORDER>) {
        // SAFETY: `chunk` is linked (contract), so it and its neighbours (null or linked) are
        // live headers.
        unsafe {
            let (prev, next) = ((*chunk).prev, (*chunk).next);
            match prev.as_mut() {
                Some(p) => p.next = next,
                None => self.head = next,
            }
            if let Some(n) = next.as_mut() {
                n.prev = prev;
            }
            self.empty -= usize::from((*chunk).is_empty());
        }
        self.chunks -= 1;
    }

    /// If more than one chunk is empty, unlinks one (`hint` if it is empty) and returns its
    /// start, for the caller to release once it has dropped the lock.
    ///
    /// # Safety
    ///
    /// `hint` must be linked.
    unsafe fn surplus(&mut self, hint: *mut Chunk<ORDER>) -> Option<usize> {
        if self.empty <= 1 {
            return None;
        }
        // Callers pass the chunk that just became empty or was just added, which is then the
        // empty one; looking through the list otherwise is cheap insurance.
        // SAFETY: `hint` is linked (contract), so a live header.
        let mut victim = if unsafe { (*hint).is_empty() } {
            hint
        } else {
            self.head
        };
        // SAFETY: `victim` is `hint` or follows the list: null or a linked header.
        while let Some(c) = unsafe { victim.as_ref() } {
            if c.is_empty() {
                break;
            }
            victim = c.next;
        }
        if victim.is_null() {
            return None;
        }
        // SAFETY: `victim` is linked (found on the list).
        unsafe { self.unlink(victim) };
        Some(victim as usize)
    }
}

/// A [`GlobalAlloc`] over chunks of `2^ORDER` bytes, each a buddy heap whose largest block is
/// `2^(ORDER-1)` bytes (see the module documentation).
pub struct KernelHeap<const ORDER: usize> {
    inner: Mutex<Inner<ORDER>>,
    grow: GrowFn,
    release: ReleaseFn,
}

impl<const ORDER: usize> KernelHeap<ORDER> {
    /// Size (and alignment) of the chunks the heap asks `grow` for.
    pub const CHUNK_SIZE: usize = 1 << ORDER;
    /// Largest buddy block the heap serves: the half of a chunk without the header.
    pub const MAX_BLOCK: usize = Self::CHUNK_SIZE / 2;
    const HEADER: usize = size_of::<Chunk<ORDER>>();

    // The header must leave the second half of the chunk whole, and needs word alignment.
    const ORDER_OK: () = assert!(
        ORDER < usize::BITS as usize
            && Self::HEADER <= Self::MAX_BLOCK
            && Self::HEADER.is_multiple_of(size_of::<usize>())
            && align_of::<Chunk<ORDER>>() <= Self::CHUNK_SIZE
    );

    /// An empty heap that takes chunks through `grow` and gives them back through `release`.
    ///
    /// # Safety
    ///
    /// Every region `grow` returns must be valid, readable and writable memory, used by
    /// nobody else, that stays valid until the heap hands it to `release` (which may then do
    /// anything with it).
    pub const unsafe fn new(grow: GrowFn, release: ReleaseFn) -> Self {
        let () = Self::ORDER_OK;
        KernelHeap {
            inner: Mutex::new(Inner {
                head: ptr::null_mut(),
                chunks: 0,
                empty: 0,
                bytes_allocated: 0,
            }),
            grow,
            release,
        }
    }

    /// Current accounting.
    pub fn stats(&self) -> HeapStats {
        let inner = self.inner.lock();
        HeapStats {
            bytes_from_pool: inner.chunks * Self::CHUNK_SIZE,
            bytes_allocated: inner.bytes_allocated,
        }
    }

    /// Size class (log2 of the buddy block, mirroring the buddy crate's rounding) serving
    /// `layout`, if a chunk can hold such a block.
    fn class(layout: Layout) -> Option<usize> {
        let block = layout
            .size()
            .checked_next_power_of_two()?
            .max(layout.align())
            .max(size_of::<usize>());
        (block <= Self::MAX_BLOCK).then_some(block.trailing_zeros() as usize)
    }

    /// Writes a chunk header at `start` with a buddy heap over the rest of the chunk, if
    /// `(start, len)` is a chunk as the grow callback must return.
    ///
    /// # Safety
    ///
    /// `(start, len)` must come from `grow` (so satisfy the contract of `new`) and not be in
    /// use by the heap.
    unsafe fn init_chunk(start: usize, len: usize) -> Option<*mut Chunk<ORDER>> {
        let is_chunk = len == Self::CHUNK_SIZE
            && start != 0
            && start.is_multiple_of(Self::CHUNK_SIZE)
            && start.checked_add(len).is_some();
        if !is_chunk {
            return None;
        }
        let chunk = start as *mut Chunk<ORDER>;
        // SAFETY: the chunk is valid, writable memory nobody else uses (contract of `new`),
        // aligned for the header (`ORDER_OK`, and `start` is aligned to the chunk size) and
        // larger than it. The buddy heap gets the rest of the chunk, which does not wrap.
        unsafe {
            chunk.write(Chunk {
                buddy: Heap::new(),
                prev: ptr::null_mut(),
                next: ptr::null_mut(),
                full_from: ORDER,
            });
            (*chunk)
                .buddy
                .add_to_heap(start + Self::HEADER, start + Self::CHUNK_SIZE);
        }
        Some(chunk)
    }

    /// Gives `start` (a chunk taken out of the list) back to the pool. The heap lock must not
    /// be held.
    fn release_chunk(&self, start: usize) {
        (self.release)(start, Self::CHUNK_SIZE);
    }
}

// SAFETY: blocks come from the chunks' buddy heaps, which hand out disjoint blocks of at
// least `layout.size()` bytes aligned to `layout.align()` within their chunk, never
// overlapping the header; chunks are memory the heap owns (contract of `new`) until it
// releases them, which it only does once no block in them is live.
unsafe impl<const ORDER: usize> GlobalAlloc for KernelHeap<ORDER> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let Some(class) = Self::class(layout) else {
            // No chunk could ever serve it; do not waste pool memory.
            return ptr::null_mut();
        };
        if let Some(block) = self.inner.lock().alloc(layout, class) {
            return block.as_ptr();
        }
        // The heap lock is not held here: the callback may take other locks (the pool's)
        // and another CPU may free or allocate meanwhile.
        let Some((start, len)) = (self.grow)(Self::CHUNK_SIZE) else {
            // Something may have been freed meanwhile.
            let block = self.inner.lock().alloc(layout, class);
            return block.map_or(ptr::null_mut(), NonNull::as_ptr);
        };
        // SAFETY: the region comes from `grow` and is new to the heap.
        let Some(chunk) = (unsafe { Self::init_chunk(start, len) }) else {
            // Not a chunk (broken grow callback): hand it back untouched.
            (self.release)(start, len);
            return ptr::null_mut();
        };
        let mut inner = self.inner.lock();
        // SAFETY: `chunk` was just initialised, and is not linked.
        unsafe { inner.link(chunk) };
        // The new chunk is empty and can hold any block that passed `class`, so this succeeds,
        // though maybe in a chunk freed meanwhile; then one empty chunk too many may be left.
        let block = inner.alloc(layout, class);
        // SAFETY: `chunk` is linked.
        let surplus = unsafe { inner.surplus(chunk) };
        drop(inner);
        if let Some(start) = surplus {
            self.release_chunk(start);
        }
        block.map_or(ptr::null_mut(), NonNull::as_ptr)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let Some(block) = NonNull::new(ptr) else {
            return;
        };
        let chunk = ptr
            .map_addr(|a| a & !(Self::CHUNK_SIZE - 1))
            .cast::<Chunk<ORDER>>();
        let mut inner = self.inner.lock();
        // SAFETY: GlobalAlloc's contract: `ptr` was allocated by this heap with `layout` and
        // is still live, so it lies in a linked chunk whose header starts at the chunk's
        // aligned start, and only we (holding the lock) touch that header.
        let now_empty = unsafe {
            let header = &mut *chunk;
            header.buddy.dealloc(block, layout);
            header.full_from = ORDER;
            header.is_empty()
        };
        inner.bytes_allocated -= layout.size();
        let surplus = if now_empty {
            inner.empty += 1;
            // SAFETY: `chunk` is linked (it held the block).
            unsafe { inner.surplus(chunk) }
        } else {
            None
        };
        drop(inner);
        if let Some(start) = surplus {
            self.release_chunk(start);
        }
    }
}

#[cfg(test)]
mod tests;
