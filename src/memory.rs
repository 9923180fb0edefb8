//! The kernel's page pool and heap: one buddy pool over all free RAM, and the global
//! allocator growing from it.

use crate::sync::IrqSafeLock;
use arch::mmu;
use core::alloc::{GlobalAlloc, Layout};
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use mm::heap::KernelHeap;
use mm::memmap::PhysRange;
use mm::pool::{PagePool, PageUse, PoolError, PoolStats};

/// The page pool. IRQ-safe although no IRQ handler uses it today: an IRQ must never find it
/// held by the code it interrupted (it is taken by the allocator, which anything may call).
/// Innermost: nothing nests inside.
static POOL: IrqSafeLock<Option<PagePool>> = IrqSafeLock::new(None);

/// The heap takes chunks of `2^HEAP_CHUNK_ORDER` bytes (256 KiB) from the pool and gives each
/// back as soon as nothing in it is live (keeping one empty chunk as a spare).
const HEAP_CHUNK_ORDER: usize = 18;

// SAFETY: `grow_heap` hands the heap whole blocks of pool pages, accounted to the heap and
// reached through the linear map, which nothing else uses until the heap gives them back
// through `release_heap`.
static HEAP: KernelHeap<HEAP_CHUNK_ORDER> = unsafe { KernelHeap::new(grow_heap, release_heap) };

/// One heap chunk: `bytes` (a power of two, many pages) of pool pages. The pool aligns a
/// power-of-two block of pages to its size, and the linear map keeps that alignment.
fn grow_heap(bytes: usize) -> Option<(usize, usize)> {
    let pages = bytes / mm::PAGE_SIZE;
    let pa = with_pool(|pool| {
        let pa = pool.alloc_pages(pages, PageUse::Heap);
        note_free_pages(pool.free_page_count());
        pa
    })
    .ok()
    .or_else(take_spare_chunk)?;
    Some((mmu::phys_to_virt(pa), bytes))
}

/// Heap chunks taken from the pool at boot (physical addresses; 0: used) for when the pool
/// has no free block of a chunk's size: the reserve the spend decisions keep
/// ([`KERNEL_RESERVE_PAGES`]) is counted in pages, and may be scattered by then (single
/// VMO pages freed and taken in any order, by several CPUs at once), while the heap grows
/// by whole aligned chunks and must not fail. Refilled by the next chunk the heap gives
/// back.
static SPARE_CHUNKS: [AtomicU64; 2] = [const { AtomicU64::new(0) }; 2];

/// Takes a spare chunk, if one is left.
fn take_spare_chunk() -> Option<u64> {
    SPARE_CHUNKS.iter().find_map(|slot| {
        let pa = slot.swap(0, Ordering::AcqRel);
        (pa != 0).then_some(pa)
    })
}

/// Keeps a chunk the heap gave back as a spare if a slot is empty; false if none is.
fn keep_spare_chunk(pa: u64) -> bool {
    SPARE_CHUNKS.iter().any(|slot| {
        slot.compare_exchange(0, pa, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
    })
}

/// Bytes of the spare chunks kept now.
fn spare_bytes() -> usize {
    SPARE_CHUNKS
        .iter()
        .filter(|slot| slot.load(Ordering::Relaxed) != 0)
        .count()
        << HEAP_CHUNK_ORDER
}

/// Sets the spare chunks aside, once the pool exists (at boot, while it is one block).
fn take_spares_from_pool() {
    for slot in &SPARE_CHUNKS {
        let pages = (1 << HEAP_CHUNK_ORDER) / mm::PAGE_SIZE;
        if let Ok(pa) = with_pool(|pool| pool.alloc_pages(pages, PageUse::Heap)) {
            slot.store(pa, Ordering::Release);
        }
    }
}

/// Takes back a chunk `grow_heap` gave the heap, now empty.
fn release_heap(start: usize, len: usize) {
    let pa = (start - mmu::LINEAR_BASE) as u64;
    if keep_spare_chunk(pa) {
        return;
    }
    let pages = len / mm::PAGE_SIZE;
    let freed = with_pool(|pool| {
        let freed = pool.free_pages(pa, pages, PageUse::Heap);
        note_free_pages(pool.free_page_count());
        freed
    });
    if let Err(error) = freed {
        log::error!("heap chunk {pa:#x} could not be freed: {error:?}");
    }
}

/// Allocations of this size or more take whole pages straight from the pool and give them
/// back when freed: the heap rounds blocks up to a power of two and serves none larger than
/// half a chunk, so whole pages waste less for large objects (queued channel messages, say).
const LARGE_ALLOCATION: usize = 2 * mm::PAGE_SIZE;

static LARGE_BYTES: AtomicUsize = AtomicUsize::new(0);

/// The global allocator: small objects from the chunked heap, large ones from the pool.
struct KernelAllocator;

#[global_allocator]
static ALLOCATOR: KernelAllocator = KernelAllocator;

fn is_large(layout: &Layout) -> bool {
    layout.size() >= LARGE_ALLOCATION && layout.align() <= mm::PAGE_SIZE
}

// SAFETY: small requests go to the heap unchanged; large ones get whole, page-aligned
// pool pages (alignment up to a page) reached through the linear map, and `dealloc` routes by
// the same layout test, so every block returns to where it came from.
unsafe impl GlobalAlloc for KernelAllocator {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if !is_large(&layout) {
            // SAFETY: forwarded with the caller's layout.
            return unsafe { HEAP.alloc(layout) };
        }
        let pages = layout.size().div_ceil(mm::PAGE_SIZE);
        if !can_spend(pages) {
            return core::ptr::null_mut();
        }
        match with_pool(|pool| pool.alloc_pages(pages, PageUse::Heap)) {
            Ok(pa) => {
                LARGE_BYTES.fetch_add(pages * mm::PAGE_SIZE, Ordering::Relaxed);
                mmu::phys_to_virt(pa) as *mut u8
            }
            Err(_) => core::ptr::null_mut(),
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if !is_large(&layout) {
            // SAFETY: `ptr` came from `HEAP.alloc` with this layout (same routing test).
            return unsafe { HEAP.dealloc(ptr, layout) };
        }
        let pages = layout.size().div_ceil(mm::PAGE_SIZE);
        let pa = (ptr as usize - mmu::LINEAR_BASE) as u64;
        if with_pool(|pool| pool.free_pages(pa, pages, PageUse::Heap)).is_ok() {
            LARGE_BYTES.fetch_sub(pages * mm::PAGE_SIZE, Ordering::Relaxed);
        }
    }
}

/// Runs `f` on the page pool with IRQs masked ([`POOL`] says why).
#[inline]
pub fn with_pool<R>(f: impl FnOnce(&mut PagePool) -> Result<R, PoolError>) -> Result<R, PoolError> {
    match POOL.lock().as_mut() {
        Some(pool) => f(pool),
        None => Err(PoolError::OutOfMemory),
    }
}

/// Creates the pool over `free` (page aligned, unused RAM reachable through the linear map).
///
/// # Safety
/// The `free` ranges must really be unused: not the image, DTB, initrd, boot tables or any
/// reserved memory.
pub unsafe fn init_pool(ram: &[PhysRange], free: &[PhysRange]) -> Result<(), PoolError> {
    // SAFETY: forwarded from the caller; the linear map covers every free page at
    // LINEAR_BASE (it leaves out only the image and no-map ranges, never free).
    let pool = unsafe { PagePool::new(mmu::LINEAR_BASE, ram, free)? };
    *POOL.lock() = Some(pool);
    take_spares_from_pool();
    Ok(())
}

pub fn pool_stats() -> PoolStats {
    with_pool(|pool| Ok(pool.stats())).unwrap_or(PoolStats {
        total_pages: 0,
        free_pages: 0,
        used_by: [0; PageUse::COUNT],
    })
}

/// Heap figures, large allocations included.
pub fn heap_stats() -> mm::heap::HeapStats {
    let mut stats = HEAP.stats();
    let large = LARGE_BYTES.load(Ordering::Relaxed);
    stats.bytes_from_pool += large + spare_bytes();
    stats.bytes_allocated += large;
    stats
}

/// Pages kept back from everything a program can make the kernel allocate (VMO pages, page
/// tables, thread stacks, large buffers) for the small-object heap alone: running out there
/// would be an allocation failure the kernel cannot report, so programs hit NO_MEMORY first.
pub const KERNEL_RESERVE_PAGES: usize = 256;

/// Whether `pages` more may go to something a program asked for, leaving the reserve.
pub fn can_spend(pages: usize) -> bool {
    if injected_failure() {
        return false;
    }
    let free = with_pool(|pool| Ok(pool.free_page_count())).unwrap_or(0);
    note_free_pages(free);
    spendable(free, pages)
}

/// Records the pool's free page count for [`may_queue`]'s fast path; 0 while a failure is
/// armed, so that every decision takes the slow path, which counts it.
fn note_free_pages(free: usize) {
    let armed = FAIL_SPEND_AFTER.load(Ordering::Relaxed) != 0;
    FREE_PAGES_SEEN.store(if armed { 0 } else { free }, Ordering::Relaxed);
}

/// The failing-allocation sweep's knob (`zx_debug_send_command("failalloc N")`, on `kdebug`
/// boots only): the N-th decision from now on whether a program's request may take pages
/// ([`can_spend`], [`alloc_spendable_page`], [`may_queue`]) says no, once; 0 is off. Those
/// decisions are every place a program's request can meet NO_MEMORY. The small-object heap
/// is not among them: it grows into the reserve those decisions keep, so its allocations
/// cannot fail while the decisions hold, and injecting a failure there would test a path the
/// kernel does not have.
static FAIL_SPEND_AFTER: AtomicUsize = AtomicUsize::new(0);
/// Whether the armed failure happened.
static FAIL_SPEND_FIRED: AtomicBool = AtomicBool::new(false);

/// Arms the injected failure at the `nth` decision from now (0 disarms, and leaves what
/// [`injected_failure_fired`] says of the last one armed).
pub fn fail_spend_after(nth: usize) {
    if nth != 0 {
        FAIL_SPEND_FIRED.store(false, Ordering::Relaxed);
        FREE_PAGES_SEEN.store(0, Ordering::Relaxed);
    }
    FAIL_SPEND_AFTER.store(nth, Ordering::Relaxed);
}

/// Whether the failure last armed by [`fail_spend_after`] has happened.
pub fn injected_failure_fired() -> bool {
    FAIL_SPEND_FIRED.load(Ordering::Relaxed)
}

/// Counts one decision against the armed failure: true for the one that must fail.
#[inline]
fn injected_failure() -> bool {
    if FAIL_SPEND_AFTER.load(Ordering::Relaxed) == 0 {
        return false;
    }
    count_injected()
}

#[cold]
fn count_injected() -> bool {
    let before =
        FAIL_SPEND_AFTER.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
    if before == Ok(1) {
        FAIL_SPEND_FIRED.store(true, Ordering::Relaxed);
        return true;
    }
    false
}

fn spendable(free_pages: usize, pages: usize) -> bool {
    free_pages >= KERNEL_RESERVE_PAGES.saturating_add(pages)
}

/// The pool's free page count as the heap and `can_spend` last saw it (VMO pages come and go
/// without updating it): read without the pool lock by [`may_queue`].
static FREE_PAGES_SEEN: AtomicUsize = AtomicUsize::new(0);

/// Whether a program may have the kernel hold `bytes` more in queued channel messages. They
/// come from the small-object heap (below `LARGE_ALLOCATION`), which grows from the pool
/// without looking at the reserve: the check leaves the reserve plus one heap chunk.
///
/// On the channel write path, so first a load and a compare against the figure last seen; if
/// that says no, the pool itself is asked (so a stale low figure never refuses a write). A
/// stale high figure lets at most one heap chunk into the reserve: the heap's growth
/// refreshes the figure, and VMO pages (what else takes pages) stop at the reserve.
#[inline]
pub fn may_queue(bytes: usize) -> bool {
    const CHUNK_PAGES: usize = (1 << HEAP_CHUNK_ORDER) / mm::PAGE_SIZE;
    let pages = bytes.div_ceil(mm::PAGE_SIZE) + CHUNK_PAGES;
    FREE_PAGES_SEEN.load(Ordering::Relaxed) >= KERNEL_RESERVE_PAGES + pages || can_spend(pages)
}

/// One page for something a program asked for (`PageUse::Vmo`), leaving the reserve: the
/// check and the allocation under one hold of the pool lock.
pub fn alloc_spendable_page(use_: PageUse) -> Option<u64> {
    if injected_failure() {
        return None;
    }
    with_pool(|pool| {
        if !spendable(pool.free_page_count(), 1) {
            return Err(PoolError::OutOfMemory);
        }
        pool.alloc_pages(1, use_)
    })
    .ok()
}
