//! The kernel's page pool and heap: one buddy pool over all free RAM, and the global
//! allocator growing from it.

use arch::mmu;
use mm::heap::KernelHeap;
use mm::memmap::PhysRange;
use mm::pool::{PagePool, PageUse, PoolError, PoolStats};

static POOL: spin::Mutex<Option<PagePool>> = spin::Mutex::new(None);

/// The heap grows from the pool in chunks of at least this many bytes.
const HEAP_CHUNK: usize = 256 * 1024;

#[global_allocator]
// SAFETY: `grow_heap` hands the heap whole blocks of pool pages, accounted to the heap and
// reached through the linear map, which nothing else uses until the heap frees them.
static HEAP: KernelHeap<32> = unsafe { KernelHeap::new(grow_heap) };

fn grow_heap(min_bytes: usize) -> Option<(usize, usize)> {
    let bytes = min_bytes.max(HEAP_CHUNK).next_power_of_two();
    let pages = bytes / mm::PAGE_SIZE;
    let pa = with_pool(|pool| pool.alloc_pages(pages, PageUse::Heap)).ok()?;
    Some((mmu::phys_to_virt(pa), bytes))
}

/// Runs `f` on the page pool with IRQs masked (the pool is never used from IRQ context, but
/// an IRQ must not find the lock held by the code it interrupted).
pub fn with_pool<R>(f: impl FnOnce(&mut PagePool) -> Result<R, PoolError>) -> Result<R, PoolError> {
    let irqs_were_on = arch::cpu::disable_irqs();
    let result = match POOL.lock().as_mut() {
        Some(pool) => f(pool),
        None => Err(PoolError::OutOfMemory),
    };
    if irqs_were_on {
        arch::cpu::enable_irqs();
    }
    result
}

/// Creates the pool over `free` (page aligned, unused RAM reachable through the linear map).
///
/// # Safety
/// The `free` ranges must really be unused: not the image, DTB, initrd, boot tables or any
/// reserved memory.
pub unsafe fn init_pool(ram: &[PhysRange], free: &[PhysRange]) -> Result<(), PoolError> {
    // SAFETY: forwarded from the caller; the linear map covers all RAM at LINEAR_BASE.
    let pool = unsafe { PagePool::new(mmu::LINEAR_BASE, ram, free)? };
    *POOL.lock() = Some(pool);
    Ok(())
}

pub fn pool_stats() -> PoolStats {
    with_pool(|pool| Ok(pool.stats())).unwrap_or(PoolStats {
        total_pages: 0,
        free_pages: 0,
        used_by: [0; PageUse::COUNT],
    })
}

pub fn heap_stats() -> mm::heap::HeapStats {
    HEAP.stats()
}
