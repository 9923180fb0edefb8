//! The object layer's hardware traits, implemented by the kernel: VMO pages come from the
//! page pool and are reached through the linear map; cache maintenance is `arch::cache`'s.

use crate::memory;
use arch::{cache, mmu};
use mm::pool::{self, PageUse};
use object::frames::{CacheOps, FrameAddr, FrameAllocator, HeldFrames, PAGE_SIZE};

extern "C" {
    /// Zeroes a whole page (arch's mem.S).
    fn arch_zero_page(page: *mut u8);
    /// Copies a whole page (arch's mem.S).
    fn arch_copy_page(dst: *mut u8, src: *const u8);
}

/// VMO pages from the page pool, accounted as `PageUse::Vmo`.
pub struct PoolFrames {
    zero_page: FrameAddr,
}

impl PoolFrames {
    /// Takes the shared zero page from the pool (it is never freed).
    pub fn new() -> Option<PoolFrames> {
        let zero_page = memory::with_pool(|pool| pool.alloc_zeroed(1, PageUse::Kernel)).ok()?;
        Some(PoolFrames { zero_page })
    }
}

impl Drop for PoolFrames {
    fn drop(&mut self) {
        let _ = memory::with_pool(|pool| pool.free_pages(self.zero_page, 1, PageUse::Kernel));
    }
}

/// The kernel's VMO page source, made on first use (it owns the shared zero page).
pub fn frames() -> alloc::sync::Arc<dyn FrameAllocator> {
    static FRAMES: spin::Once<alloc::sync::Arc<PoolFrames>> = spin::Once::new();
    FRAMES
        .call_once(|| {
            alloc::sync::Arc::new(PoolFrames::new().expect("a page for the zero page at boot"))
        })
        .clone()
}

/// The linear-map bytes of `frame[offset..offset + len]`. Panics on a range outside the page:
/// the object layer never asks for one, and a kernel bug must not turn into a stray write.
fn page_bytes(frame: FrameAddr, offset: usize, len: usize) -> *mut u8 {
    assert!(
        offset <= PAGE_SIZE as usize && len <= PAGE_SIZE as usize - offset,
        "page access out of bounds"
    );
    (mmu::phys_to_virt(frame) + offset) as *mut u8
}

impl FrameAllocator for PoolFrames {
    fn alloc(&self) -> Option<FrameAddr> {
        memory::alloc_spendable_page(PageUse::Vmo)
    }

    fn free(&self, frame: FrameAddr) {
        if let Err(error) = memory::with_pool(|pool| pool.free_pages(frame, 1, PageUse::Vmo)) {
            log::error!("VMO page {frame:#x} could not be freed: {error:?}");
        }
    }

    fn hold(&self, frame: FrameAddr, list: &mut HeldFrames) {
        let result = memory::with_pool(|pool| {
            let mut pool_list = pool::HeldFrames::from_raw(list.head, list.len);
            let held = pool.hold(frame, PageUse::Vmo, &mut pool_list);
            (list.head, list.len) = pool_list.into_raw();
            held
        });
        if let Err(error) = result {
            log::error!("VMO page {frame:#x} could not be held: {error:?}");
        }
    }

    fn free_held(&self, list: &mut HeldFrames) {
        let result = memory::with_pool(|pool| {
            let mut pool_list = pool::HeldFrames::from_raw(list.head, list.len);
            let freed = pool.free_held(&mut pool_list, PageUse::Vmo);
            (list.head, list.len) = pool_list.into_raw();
            freed
        });
        if let Err(error) = result {
            log::error!("held VMO pages could not be freed: {error:?}");
        }
    }

    fn zero_page(&self) -> FrameAddr {
        self.zero_page
    }

    fn can_spend(&self, pages: u64) -> bool {
        usize::try_from(pages).is_ok_and(memory::can_spend)
    }

    fn zero(&self, frame: FrameAddr) {
        let len = PAGE_SIZE as usize;
        // SAFETY: `frame` is a pool page owned by the calling VMO, mapped in the linear map.
        unsafe { arch_zero_page(page_bytes(frame, 0, len)) };
    }

    fn copy_page(&self, dst: FrameAddr, src: FrameAddr) {
        let len = PAGE_SIZE as usize;
        // SAFETY: two distinct pool pages (a new one and the one it copies), both mapped.
        unsafe { arch_copy_page(page_bytes(dst, 0, len), page_bytes(src, 0, len)) };
    }

    fn read(&self, frame: FrameAddr, offset: usize, buf: &mut [u8]) {
        let source = page_bytes(frame, offset, buf.len());
        // SAFETY: in-bounds bytes of a mapped pool page; `buf` is a distinct kernel buffer.
        unsafe { core::ptr::copy_nonoverlapping(source, buf.as_mut_ptr(), buf.len()) };
    }

    fn write(&self, frame: FrameAddr, offset: usize, data: &[u8]) {
        let target = page_bytes(frame, offset, data.len());
        // SAFETY: as for `read`, in the other direction.
        unsafe { core::ptr::copy_nonoverlapping(data.as_ptr(), target, data.len()) };
    }
}

/// Data-cache maintenance by virtual address over the linear map (`arch::cache`).
pub struct DataCache;

impl CacheOps for DataCache {
    fn clean(&self, frame: FrameAddr, offset: usize, len: usize) {
        cache::clean_range(page_bytes(frame, offset, len) as usize, len);
    }

    fn invalidate(&self, frame: FrameAddr, offset: usize, len: usize) {
        let start = page_bytes(frame, offset, len) as usize;
        // SAFETY: the object layer invalidates only pages the VMO owns (never a shared zero
        // page or a parent's), and the lines the range is widened to stay in that page (lines
        // are page-aligned and smaller than a page); the kernel keeps nothing of its own in
        // VMO pages.
        unsafe { cache::invalidate_range(start, len) };
    }

    fn clean_invalidate(&self, frame: FrameAddr, offset: usize, len: usize) {
        cache::clean_invalidate_range(page_bytes(frame, offset, len) as usize, len);
    }
}
