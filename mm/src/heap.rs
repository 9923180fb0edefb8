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
//! Allocation is first fit over the chunks in address order. A chunk remembers the smallest
//! block size it failed to serve since its last free, and the heap remembers, per size
//! class, the first chunk that may still serve it: the chunks before it are full for that
//! class, so a search does not pass over them again until a free makes room there. When no
//! chunk has room, the heap asks `grow` for one more chunk.
//!
//! Small freed blocks (up to [`LARGEST_CACHED`] bytes) do not go back to their chunk's buddy
//! allocator at once: each chunk keeps a short last-in first-out list per size class, and an
//! allocation of that class takes from it before splitting anything. Freeing and merging
//! buddies walks the buddy allocator's free lists, which costs hundreds of instructions; the
//! lists make the common free-then-allocate pattern of kernel objects a few loads and stores.
//! A listed block still counts as allocated to the buddy allocator, so the lists are emptied
//! into it whenever they could matter: when the chunk holds nothing live any more (so the
//! chunk release rule below is unchanged), and before the heap asks `grow` for memory (so
//! cached blocks never make the heap larger).
//! When the last block of a chunk is freed, the chunk goes back to the pool through a
//! `release` callback, except that one empty chunk is kept as a spare, so that allocating and
//! freeing across a chunk boundary does not take and give back pages every time. Both
//! callbacks run without the heap lock held.
//!
//! Requests whose buddy block (size rounded up to a power of two, at least the alignment)
//! exceeds half a chunk are refused with null, without asking `grow`: the kernel serves large
//! allocations from the pool directly.
//!
//! # Locking
//! One lock (`KernelHeap::inner`): the chunk list, every chunk header (buddy allocator and
//! cached blocks) and the accounting. It is a leaf: no other lock is taken while it is held,
//! as `grow` and `release` (which take the page pool's lock) run after it is released, so
//! any lock of the kernel may be held while allocating or freeing (the heap nests inside
//! them all). It does not mask IRQs, so no IRQ handler may allocate or free: it could spin
//! forever on the lock held by the code it interrupted. Nothing under it touches user
//! memory, sleeps or passes a preemption point.

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

/// Smallest size class (log2 of a block size): the buddy allocator's blocks hold at least a
/// word, which is also where a cached block keeps its link.
const MIN_CLASS: usize = size_of::<usize>().trailing_zeros() as usize;
/// Size classes with a per-chunk list of freed blocks: 8 bytes to [`LARGEST_CACHED`].
const CACHED_CLASSES: usize = 10;
/// The largest block that is cached.
pub const LARGEST_CACHED: usize = 1 << (MIN_CLASS + CACHED_CLASSES - 1);
/// Blocks kept per list: enough for the objects one system call frees and makes again.
const CACHE_DEPTH: u8 = 32;

/// The layout of a whole block of `class`. The buddy allocators are only ever asked for
/// these, so that a block cached under one layout can go back to its buddy allocator later
/// (the allocator's byte counts then match in both directions).
fn block_layout(class: usize) -> Layout {
    let size = 1usize << class;
    match Layout::from_size_align(size, size) {
        Ok(layout) => layout,
        // Classes stay below the chunk order, far below the address width.
        Err(_) => unreachable!("size classes are valid layouts"),
    }
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
    /// Per cached class, a list of freed blocks linked through their first word (null ends
    /// it), and its length. The blocks are allocated as far as `buddy` is concerned.
    cached: [*mut usize; CACHED_CLASSES],
    cached_len: [u8; CACHED_CLASSES],
    /// Bytes of all blocks on the lists.
    cached_bytes: usize,
}

impl<const ORDER: usize> Chunk<ORDER> {
    /// No live block in the chunk. Cached blocks are flushed once a chunk holds nothing live
    /// (see [`Chunk::cache`]), so a chunk whose buddy allocator has nothing allocated is empty.
    fn is_empty(&self) -> bool {
        self.buddy.stats_alloc_actual() == 0
    }

    /// A cached block of `class`, if the chunk has one.
    #[inline]
    fn take_cached(&mut self, class: usize) -> Option<NonNull<u8>> {
        let list = class
            .checked_sub(MIN_CLASS)
            .filter(|&l| l < CACHED_CLASSES)?;
        let block = NonNull::new(self.cached[list])?;
        // SAFETY: listed blocks are blocks of this chunk, freed by their owners, whose first
        // word holds the next link (see `cache`); only the heap lock holder touches them.
        self.cached[list] = unsafe { *block.as_ptr() as *mut usize };
        self.cached_len[list] -= 1;
        self.cached_bytes -= 1 << class;
        Some(block.cast())
    }

    /// Keeps the freed `block` of `class` on its list if there is room; returns whether it
    /// did. The caller must then check whether the chunk still holds anything live.
    ///
    /// # Safety
    ///
    /// `block` must be a block of this chunk of size class `class`, allocated from `buddy`
    /// and no longer used by anyone.
    unsafe fn cache(&mut self, block: NonNull<u8>, class: usize) -> bool {
        let Some(list) = class.checked_sub(MIN_CLASS).filter(|&l| l < CACHED_CLASSES) else {
            return false;
        };
        if self.cached_len[list] >= CACHE_DEPTH {
            return false;
        }
        let link = block.cast::<usize>().as_ptr();
        // SAFETY: the block is at least a word, word aligned (its class is at least
        // `MIN_CLASS` and buddy blocks are aligned to their size), and unused (contract).
        unsafe { link.write(self.cached[list] as usize) };
        self.cached[list] = link;
        self.cached_len[list] += 1;
        self.cached_bytes += 1 << class;
        true
    }

    /// Whether everything `buddy` counts as allocated is on the lists.
    fn only_cached(&self) -> bool {
        self.buddy.stats_alloc_actual() == self.cached_bytes
    }

    /// Gives every cached block back to `buddy`, merging buddies again; returns how many.
    fn flush_cache(&mut self) -> usize {
        let mut flushed = 0;
        for list in 0..CACHED_CLASSES {
            let class = MIN_CLASS + list;
            while let Some(block) = self.take_cached(class) {
                // SAFETY: the block was allocated from `buddy` with this layout and nobody
                // uses it (it was on the list).
                unsafe { self.buddy.dealloc(block, block_layout(class)) };
                flushed += 1;
            }
        }
        self.full_from = ORDER;
        flushed
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
    /// Blocks on the chunks' lists, heap wide: flushing before a grow is skipped at zero.
    cached_blocks: usize,
    /// Per size class, where first fit starts: every linked chunk before `open_from[class]`
    /// is known to be full for the class in its buddy allocator (`full_from` at most the
    /// class). Null: no linked chunk has buddy room for it. Without it, every allocation
    /// would walk past all full chunks, a few instructions each, which adds up once the heap
    /// has hundreds of chunks.
    ///
    /// Freeing onto a list does not move it back (that would cost every free): a block
    /// cached in a chunk before it is found by the first chunk's inline check, or after the
    /// flush that comes before any grow (which starts every search at the first chunk
    /// again), so cached blocks still never make the heap grow.
    open_from: [*mut Chunk<ORDER>; ORDER],
}

// SAFETY: the raw pointers lead to chunk headers owned by the heap, not by any thread, and
// only dereferenced by whoever holds the heap lock (the `Mutex` around `Inner`).
unsafe impl<const ORDER: usize> Send for Inner<ORDER> {}

impl<const ORDER: usize> Inner<ORDER> {
    /// `chunk` (linked) may now have room for `class`: first fit must look at it again.
    #[inline]
    fn reopen(&mut self, class: usize, chunk: *mut Chunk<ORDER>) {
        let open = &mut self.open_from[class];
        // Chunks are linked in address order, so the earlier one comes first.
        if open.is_null() || chunk < *open {
            *open = chunk;
        }
    }

    /// `chunk` (linked) may now have room for every class.
    fn reopen_all(&mut self, chunk: *mut Chunk<ORDER>) {
        for class in MIN_CLASS..ORDER {
            self.reopen(class, chunk);
        }
    }

    /// First fit over the chunks, in address order. The first chunk's list is tried inline:
    /// most blocks live there, and a block freed a moment ago is usually what is needed.
    #[inline]
    fn alloc(&mut self, layout: Layout, class: usize) -> Option<NonNull<u8>> {
        // SAFETY: linked chunks are live headers that only the lock holder (we, through
        // `&mut self`) touches (invariant of `Inner`).
        if let Some(head) = unsafe { self.head.as_mut() } {
            if let Some(block) = head.take_cached(class) {
                self.cached_blocks -= 1;
                self.bytes_allocated += layout.size();
                return Some(block);
            }
        }
        self.alloc_first_fit(layout, class)
    }

    /// [`Inner::alloc`] past the first chunk's list.
    #[inline(never)]
    fn alloc_first_fit(&mut self, layout: Layout, class: usize) -> Option<NonNull<u8>> {
        let mut cursor = self.open_from[class];
        // SAFETY: linked chunks are live headers that only the lock holder (we, through
        // `&mut self`) touches (invariant of `Inner`); `open_from` holds null or linked
        // chunks.
        while let Some(chunk) = unsafe { cursor.as_mut() } {
            // Most chunks passed over are full with nothing cached: two loads each.
            if chunk.cached_bytes != 0 {
                if let Some(block) = chunk.take_cached(class) {
                    self.cached_blocks -= 1;
                    self.bytes_allocated += layout.size();
                    return Some(block);
                }
            }
            if class < chunk.full_from {
                let was_empty = chunk.is_empty();
                if let Ok(block) = chunk.buddy.alloc(block_layout(class)) {
                    self.empty -= usize::from(was_empty);
                    self.bytes_allocated += layout.size();
                    return Some(block);
                }
                chunk.full_from = class;
            }
            // No room here for the class: later searches start after this chunk.
            cursor = chunk.next;
            self.open_from[class] = cursor;
        }
        None
    }

    /// Empties every chunk's lists into its buddy allocator, so that merged blocks can serve
    /// larger classes. No chunk becomes empty: one with cached blocks holds a live one.
    fn flush_caches(&mut self) {
        if self.cached_blocks == 0 {
            return;
        }
        let mut cursor = self.head;
        // SAFETY: linked chunks are live headers that only the lock holder touches.
        while let Some(chunk) = unsafe { cursor.as_mut() } {
            self.cached_blocks -= chunk.flush_cache();
            cursor = chunk.next;
        }
        // Every chunk may have merged room.
        self.open_from = [self.head; ORDER];
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
        self.reopen_all(chunk);
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
            // The chunks before it had no room; neither does the list without it.
            for open in self.open_from.iter_mut() {
                if *open == chunk {
                    *open = next;
                }
            }
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
    /// Protects the chunks and the accounting. Leaf (grow and release run outside it); IRQs
    /// are not masked by it: no IRQ handler may allocate.
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
                cached_blocks: 0,
                open_from: [ptr::null_mut(); ORDER],
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
    #[inline]
    fn class(layout: Layout) -> Option<usize> {
        // The alignment is a power of two, so rounding the larger of size and alignment up
        // to a power of two is the buddy crate's `max(size.next_power_of_two(), align)`.
        let bytes = layout.size().max(layout.align()).max(size_of::<usize>());
        if bytes > Self::MAX_BLOCK {
            return None;
        }
        // ceil(log2(bytes)), bytes >= 8.
        Some((usize::BITS - (bytes - 1).leading_zeros()) as usize)
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
                cached: [ptr::null_mut(); CACHED_CLASSES],
                cached_len: [0; CACHED_CLASSES],
                cached_bytes: 0,
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
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let Some(class) = Self::class(layout) else {
            // No chunk could ever serve it; do not waste pool memory.
            return ptr::null_mut();
        };
        let mut inner = self.inner.lock();
        match inner.alloc(layout, class) {
            Some(block) => block.as_ptr(),
            None => self.alloc_slow(inner, layout, class),
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let Some(block) = NonNull::new(ptr) else {
            return;
        };
        let chunk = ptr
            .map_addr(|a| a & !(Self::CHUNK_SIZE - 1))
            .cast::<Chunk<ORDER>>();
        // Every block passed `class` when it was allocated with this layout.
        let class = Self::class(layout).unwrap_or(ORDER);
        let mut inner = self.inner.lock();
        inner.bytes_allocated -= layout.size();
        // SAFETY: GlobalAlloc's contract: `ptr` was allocated by this heap with `layout` and
        // is still live, so it lies in a linked chunk whose header starts at the chunk's
        // aligned start, and only we (holding the lock) touch that header. The block's class
        // is `class`, as the buddy allocator rounded it the same way, and it is no longer
        // used.
        let header = unsafe { &mut *chunk };
        // SAFETY: as above.
        if unsafe { header.cache(block, class) } {
            inner.cached_blocks += 1;
            if !header.only_cached() {
                return;
            }
        } else {
            // SAFETY: as above.
            unsafe { header.buddy.dealloc(block, block_layout(class)) };
            header.full_from = ORDER;
            inner.reopen_all(chunk);
        }
        self.after_dealloc(inner, chunk);
    }
}

impl<const ORDER: usize> KernelHeap<ORDER> {
    /// No chunk has a free block for `class`: merges the cached blocks, then grows.
    #[cold]
    #[inline(never)]
    fn alloc_slow(
        &self,
        mut inner: spin::MutexGuard<'_, Inner<ORDER>>,
        layout: Layout,
        class: usize,
    ) -> *mut u8 {
        // Cached blocks may merge into what is needed: never grow because of them.
        if inner.cached_blocks > 0 {
            inner.flush_caches();
            if let Some(block) = inner.alloc(layout, class) {
                return block.as_ptr();
            }
        }
        // The heap lock is not held while growing: the callback may take other locks (the
        // pool's) and another CPU may free or allocate meanwhile.
        drop(inner);
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

    /// A block of `chunk` was freed into its buddy allocator, or the chunk holds nothing but
    /// cached blocks: empties the lists of a chunk without live blocks, and gives back a
    /// surplus empty chunk.
    #[inline(never)]
    fn after_dealloc(
        &self,
        mut inner: spin::MutexGuard<'_, Inner<ORDER>>,
        chunk: *mut Chunk<ORDER>,
    ) {
        // SAFETY: `chunk` is linked (it held the block just freed), so a live header that
        // only we, holding the lock, touch.
        let header = unsafe { &mut *chunk };
        if header.cached_bytes != 0 && header.only_cached() {
            // That was the chunk's last live block: give the lists back so that it is empty.
            inner.cached_blocks -= header.flush_cache();
            inner.reopen_all(chunk);
        }
        let surplus = if header.is_empty() {
            inner.empty += 1;
            // SAFETY: `chunk` is linked.
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
impl<const ORDER: usize> KernelHeap<ORDER> {
    /// Panics unless `open_from` keeps its invariant (for the tests).
    fn check_open_from(&self) {
        let inner = self.inner.lock();
        for class in MIN_CLASS..ORDER {
            let open = inner.open_from[class];
            let mut cursor = inner.head;
            let mut reached = open.is_null();
            // SAFETY: linked chunks are live headers, and we hold the lock.
            while let Some(chunk) = unsafe { cursor.as_ref() } {
                if cursor == open {
                    reached = true;
                    break;
                }
                assert!(
                    chunk.full_from <= class,
                    "class {class} skips a chunk with room"
                );
                cursor = chunk.next;
            }
            assert!(reached, "open_from[{class}] is not a linked chunk");
        }
    }
}

#[cfg(test)]
mod tests;
