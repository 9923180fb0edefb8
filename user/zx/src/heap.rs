//! The global allocator: a first-fit free list over memory mapped from VMOs.
//!
//! The heap starts empty. When no free block fits, it maps another chunk (at least 4 MiB, a
//! fresh VMO mapped read-write anywhere in the root VMAR; the kernel commits its pages only
//! when they are touched) and adds it to the list. Free blocks are kept sorted by address and
//! merged with their neighbours. Every block is a multiple of 16 bytes and 16-byte aligned.
//! A spin lock makes it usable from several threads.

use core::alloc::Layout;
use core::ptr;

/// Granule of every block: size and alignment.
const UNIT: usize = 16;

/// A free block, stored in the free memory itself.
#[repr(C)]
struct Block {
    size: usize,
    next: *mut Block,
}

const _: () = assert!(core::mem::size_of::<Block>() <= UNIT);

/// Free blocks sorted by address.
pub(crate) struct FreeList {
    head: *mut Block,
}

/// The block size for `layout`: its size rounded up to `UNIT` (at least `UNIT`).
fn block_size(layout: Layout) -> Option<usize> {
    layout.size().max(1).checked_next_multiple_of(UNIT)
}

impl FreeList {
    pub(crate) const fn new() -> FreeList {
        FreeList {
            head: ptr::null_mut(),
        }
    }

    /// Adds `[start, start + size)` to the free memory.
    ///
    /// # Safety
    /// The range must be writable memory owned by the list from now on, `start` and `size`
    /// multiples of 16, not overlapping anything already in the list.
    pub(crate) unsafe fn add_region(&mut self, start: usize, size: usize) {
        debug_assert!(start.is_multiple_of(UNIT) && size.is_multiple_of(UNIT) && size > 0);
        // SAFETY: forwarded to the caller.
        unsafe { self.insert(start, size) }
    }

    /// A block for `layout`, or null if no free block fits.
    ///
    /// # Safety
    /// The list must only hold memory given by `add_region` and `dealloc`.
    pub(crate) unsafe fn alloc(&mut self, layout: Layout) -> *mut u8 {
        let Some(size) = block_size(layout) else {
            return ptr::null_mut();
        };
        let align = layout.align().max(UNIT);
        let mut prev: *mut *mut Block = &mut self.head;
        // SAFETY: every pointer in the list points at a free block of the list's memory.
        unsafe {
            let mut cur = *prev;
            while !cur.is_null() {
                let addr = cur as usize;
                let end_of_block = addr + (*cur).size;
                let next = (*cur).next;
                let fits = addr
                    .checked_next_multiple_of(align)
                    .and_then(|start| Some((start, start.checked_add(size)?)))
                    .filter(|(_, end)| *end <= end_of_block);
                if let Some((start, end)) = fits {
                    // Unlink the block, then give back what is left after and before the
                    // allocation (both multiples of UNIT, so each can hold a `Block`).
                    *prev = next;
                    if end < end_of_block {
                        let back = end as *mut Block;
                        back.write(Block {
                            size: end_of_block - end,
                            next: *prev,
                        });
                        *prev = back;
                    }
                    if start > addr {
                        cur.write(Block {
                            size: start - addr,
                            next: *prev,
                        });
                        *prev = cur;
                    }
                    return start as *mut u8;
                }
                prev = ptr::addr_of_mut!((*cur).next);
                cur = next;
            }
        }
        ptr::null_mut()
    }

    /// Gives back a block `alloc` returned for `layout`.
    ///
    /// # Safety
    /// `ptr` must come from `alloc` with the same `layout` and not be freed yet.
    pub(crate) unsafe fn dealloc(&mut self, ptr: *mut u8, layout: Layout) {
        if let Some(size) = block_size(layout) {
            // SAFETY: forwarded to the caller.
            unsafe { self.insert(ptr as usize, size) }
        }
    }

    /// Inserts a free range in address order, merging it with adjacent blocks.
    ///
    /// # Safety
    /// The range must be free memory of the list's, not in the list.
    unsafe fn insert(&mut self, addr: usize, size: usize) {
        // SAFETY: every pointer in the list points at a free block; `addr` is writable.
        unsafe {
            let mut before: *mut Block = ptr::null_mut();
            let mut after = self.head;
            while !after.is_null() && (after as usize) < addr {
                before = after;
                after = (*after).next;
            }
            debug_assert!(
                after.is_null() || addr + size <= after as usize,
                "double free"
            );
            debug_assert!(
                before.is_null() || before as usize + (*before).size <= addr,
                "double free"
            );
            let block = addr as *mut Block;
            block.write(Block { size, next: after });
            if !after.is_null() && addr + size == after as usize {
                (*block).size += (*after).size;
                (*block).next = (*after).next;
            }
            if before.is_null() {
                self.head = block;
            } else if before as usize + (*before).size == addr {
                (*before).size += (*block).size;
                (*before).next = (*block).next;
            } else {
                (*before).next = block;
            }
        }
    }

    /// Total free bytes (for tests).
    #[cfg(test)]
    fn free_bytes(&self) -> usize {
        let mut total = 0;
        let mut cur = self.head;
        while !cur.is_null() {
            // SAFETY: list pointers point at free blocks.
            unsafe {
                total += (*cur).size;
                cur = (*cur).next;
            }
        }
        total
    }

    /// Number of free blocks (for tests).
    #[cfg(test)]
    fn blocks(&self) -> usize {
        let mut n = 0;
        let mut cur = self.head;
        while !cur.is_null() {
            n += 1;
            // SAFETY: list pointers point at free blocks.
            cur = unsafe { (*cur).next };
        }
        n
    }
}

#[cfg(all(target_os = "none", not(test)))]
mod global {
    use core::alloc::{GlobalAlloc, Layout};
    use core::cell::UnsafeCell;
    use core::ptr;
    use core::sync::atomic::{AtomicBool, Ordering};

    use super::{block_size, FreeList};
    use crate::startup;
    use crate::sys::{self, ZX_HANDLE_INVALID};

    /// Smallest chunk the heap maps at a time.
    const CHUNK: usize = 4 << 20;

    struct Heap {
        locked: AtomicBool,
        list: UnsafeCell<FreeList>,
    }

    // SAFETY: `list` is only touched with `locked` held.
    unsafe impl Sync for Heap {}

    struct Guard<'a>(&'a Heap);

    impl Drop for Guard<'_> {
        fn drop(&mut self) {
            self.0.locked.store(false, Ordering::Release);
        }
    }

    impl Heap {
        fn lock(&self) -> Guard<'_> {
            while self
                .locked
                .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_err()
            {
                core::hint::spin_loop();
            }
            Guard(self)
        }
    }

    /// Maps a fresh read-write VMO of `size` bytes; returns its address.
    fn map_chunk(size: usize) -> Option<usize> {
        let mut vmo = ZX_HANDLE_INVALID;
        // SAFETY: `vmo` is a valid place for the result.
        if unsafe { sys::zx_vmo_create(size as u64, 0, &mut vmo) } != sys::ZX_OK {
            return None;
        }
        let name = b"heap";
        let mut addr = 0usize;
        // SAFETY: `name` and `addr` are valid; the mapping is new memory nothing else uses.
        let status = unsafe {
            sys::zx_object_set_property(vmo, sys::ZX_PROP_NAME, name.as_ptr(), name.len());
            let status = sys::zx_vmar_map(
                startup::vmar_root_self(),
                sys::ZX_VM_PERM_READ | sys::ZX_VM_PERM_WRITE,
                0,
                vmo,
                0,
                size,
                &mut addr,
            );
            sys::zx_handle_close(vmo);
            status
        };
        (status == sys::ZX_OK).then_some(addr)
    }

    // SAFETY: blocks come from the free list, which only holds memory of mapped heap chunks;
    // each is handed out once until it is freed.
    unsafe impl GlobalAlloc for Heap {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            let _guard = self.lock();
            // SAFETY: the lock is held; the list holds heap memory only.
            let list = unsafe { &mut *self.list.get() };
            // SAFETY: as above.
            let p = unsafe { list.alloc(layout) };
            if !p.is_null() {
                return p;
            }
            let Some(need) = block_size(layout)
                .and_then(|s| s.checked_add(layout.align()))
                .and_then(|s| s.checked_next_multiple_of(crate::PAGE_SIZE))
            else {
                return ptr::null_mut();
            };
            let size = need.max(CHUNK);
            match map_chunk(size) {
                Some(addr) => {
                    // SAFETY: the chunk is new, page aligned, writable and now the heap's.
                    unsafe {
                        list.add_region(addr, size);
                        list.alloc(layout)
                    }
                }
                None => ptr::null_mut(),
            }
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            let _guard = self.lock();
            // SAFETY: the lock is held; `ptr` came from `alloc` with `layout`.
            unsafe { (*self.list.get()).dealloc(ptr, layout) }
        }
    }

    #[global_allocator]
    static HEAP: Heap = Heap {
        locked: AtomicBool::new(false),
        list: UnsafeCell::new(FreeList::new()),
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    #[repr(align(4096))]
    struct Arena([u8; 1 << 16]);

    fn arena() -> (std::boxed::Box<Arena>, FreeList) {
        let mut a = std::boxed::Box::new(Arena([0; 1 << 16]));
        let mut list = FreeList::new();
        // SAFETY: the arena outlives the list in each test and is used only through it.
        unsafe { list.add_region(a.0.as_mut_ptr() as usize, a.0.len()) };
        (a, list)
    }

    #[test]
    fn alloc_free_merges_back() {
        let (a, mut list) = arena();
        let base = a.0.as_ptr() as usize;
        let l = |size, align| Layout::from_size_align(size, align).unwrap();
        // SAFETY: blocks are only used through the list, within the arena.
        unsafe {
            let p1 = list.alloc(l(1, 1));
            let p2 = list.alloc(l(100, 8));
            let p3 = list.alloc(l(64, 64));
            assert_eq!(p1 as usize, base);
            assert_eq!(p2 as usize, base + 16);
            assert_eq!(p3 as usize % 64, 0);
            assert!(p3 as usize >= base + 16 + 112);
            p1.write_bytes(0xAA, 1);
            p2.write_bytes(0xBB, 100);
            p3.write_bytes(0xCC, 64);
            assert_eq!(list.free_bytes(), (1 << 16) - 16 - 112 - 64);
            list.dealloc(p2, l(100, 8));
            list.dealloc(p1, l(1, 1));
            list.dealloc(p3, l(64, 64));
            assert_eq!(list.free_bytes(), 1 << 16);
            assert_eq!(list.blocks(), 1);
        }
    }

    #[test]
    fn exhaustion_and_big_alignment() {
        let (a, mut list) = arena();
        let base = a.0.as_ptr() as usize;
        // SAFETY: as above.
        unsafe {
            let big = list.alloc(Layout::from_size_align(1 << 16, 16).unwrap());
            assert_eq!(big as usize, base);
            assert!(list.alloc(Layout::from_size_align(1, 1).unwrap()).is_null());
            list.dealloc(big, Layout::from_size_align(1 << 16, 16).unwrap());
            let small = list.alloc(Layout::from_size_align(16, 16).unwrap());
            let aligned = list.alloc(Layout::from_size_align(32, 4096).unwrap());
            assert_eq!(aligned as usize, base + 4096);
            assert_eq!(list.blocks(), 2);
            assert!(list
                .alloc(Layout::from_size_align(1 << 16, 16).unwrap())
                .is_null());
            list.dealloc(small, Layout::from_size_align(16, 16).unwrap());
            list.dealloc(aligned, Layout::from_size_align(32, 4096).unwrap());
            assert_eq!(list.blocks(), 1);
            assert_eq!(list.free_bytes(), 1 << 16);
        }
    }

    #[test]
    fn random_workload_keeps_blocks_disjoint() {
        let (a, mut list) = arena();
        let base = a.0.as_ptr() as usize;
        let mut live: Vec<(usize, Layout)> = Vec::new();
        let mut seed = 0x1234_5678u64;
        let mut rnd = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..5000 {
            if live.len() > 40 || (rnd() % 3 == 0 && !live.is_empty()) {
                let i = (rnd() as usize) % live.len();
                let (p, layout) = live.swap_remove(i);
                // SAFETY: `p` is live and from this list.
                unsafe { list.dealloc(p as *mut u8, layout) };
            } else {
                let size = 1 + (rnd() as usize) % 700;
                let align = 1 << (rnd() % 8);
                let layout = Layout::from_size_align(size, align).unwrap();
                // SAFETY: as above.
                let p = unsafe { list.alloc(layout) } as usize;
                if p == 0 {
                    continue;
                }
                assert_eq!(p % align, 0);
                assert!(p >= base && p + size <= base + (1 << 16));
                for (q, l) in &live {
                    assert!(p + size <= *q || q + l.size() <= p, "overlap");
                }
                live.push((p, layout));
            }
        }
        for (p, layout) in live {
            // SAFETY: as above.
            unsafe { list.dealloc(p as *mut u8, layout) };
        }
        assert_eq!(list.free_bytes(), 1 << 16);
        assert_eq!(list.blocks(), 1);
    }
}
