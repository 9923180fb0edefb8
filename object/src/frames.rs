//! Physical pages as the object layer sees them: the kernel implements these traits with its
//! page pool and linear map (and `dc` instructions for cache maintenance); the host tests
//! use [`testing::TestFrames`], which counts every page and can fail on demand.

/// Physical address of one 4 KiB page frame.
pub type FrameAddr = u64;

pub const PAGE_SIZE: u64 = 4096;

/// Frames given up while something could still touch their contents, kept from reuse by
/// their allocator until [`FrameAllocator::free_held`]. The fields are the allocator's own
/// encoding of the list (the kernel's pool links the frames through its frame table and
/// writes nothing into them); empty is all zeroes.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct HeldFrames {
    pub head: u64,
    pub len: u64,
}

impl HeldFrames {
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// Source of page frames and access to their contents.
pub trait FrameAllocator: Send + Sync {
    /// A page with unspecified contents, or `None` when memory is exhausted.
    fn alloc(&self) -> Option<FrameAddr>;
    /// Returns a page obtained from `alloc`.
    fn free(&self, frame: FrameAddr);
    /// Gives up a page obtained from `alloc` while a copy may still read or write it: it is
    /// not handed out again before [`FrameAllocator::free_held`] frees `list`. Nothing is
    /// written into the page.
    fn hold(&self, frame: FrameAddr, list: &mut HeldFrames);
    /// Frees every page of `list` (built by [`FrameAllocator::hold`]) and empties it.
    fn free_held(&self, list: &mut HeldFrames);
    /// A page of zeroes that is never written, for read-only mappings of untouched pages.
    fn zero_page(&self) -> FrameAddr;
    fn zero(&self, frame: FrameAddr);
    fn copy_page(&self, dst: FrameAddr, src: FrameAddr);
    /// Copies `buf.len()` bytes from `offset` within the page.
    fn read(&self, frame: FrameAddr, offset: usize, buf: &mut [u8]);
    /// Copies `data` to `offset` within the page.
    fn write(&self, frame: FrameAddr, offset: usize, data: &[u8]);
    /// Whether `pages` more allocations may be expected to succeed now: how a long commit
    /// that cannot succeed fails at once, before it takes anything.
    fn can_spend(&self, pages: u64) -> bool {
        let _ = pages;
        true
    }
}

/// Data-cache maintenance on page contents (`zx_vmo_op_range` cache ops).
pub trait CacheOps {
    fn clean(&self, frame: FrameAddr, offset: usize, len: usize);
    fn invalidate(&self, frame: FrameAddr, offset: usize, len: usize);
    fn clean_invalidate(&self, frame: FrameAddr, offset: usize, len: usize);
}

#[cfg(any(test, feature = "testing"))]
pub mod testing {
    //! A frame allocator over host memory that counts pages and fails on request.

    use super::{FrameAddr, FrameAllocator, HeldFrames, PAGE_SIZE};
    use alloc::boxed::Box;
    use alloc::collections::BTreeMap;
    use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

    /// Frames live in a map from fake physical address to a boxed page.
    pub struct TestFrames {
        pages: spin::Mutex<BTreeMap<FrameAddr, Box<[u8; PAGE_SIZE as usize]>>>,
        next: AtomicU64,
        allocations: AtomicUsize,
        /// Fail the allocation whose number (counting from 1) equals this; 0 = never.
        fail_at: AtomicUsize,
        /// Pages that may be allocated at once (`usize::MAX`: no limit).
        capacity: AtomicUsize,
        /// Decisions whether pages may be spent (`alloc` and `can_spend` calls) so far.
        decisions: AtomicUsize,
        /// Refuse the decision whose number (counting from 1) equals this; 0 = never.
        refuse_decision_at: AtomicUsize,
        /// Whether the decision `refuse_decision_at` named was refused.
        refused: AtomicBool,
        zero_page: FrameAddr,
        /// Held frames: each one's successor on its list (0: none).
        held: spin::Mutex<BTreeMap<FrameAddr, FrameAddr>>,
    }

    impl Default for TestFrames {
        fn default() -> Self {
            Self::new()
        }
    }

    impl TestFrames {
        pub fn new() -> Self {
            let zero_page = 0x1000;
            let mut pages = BTreeMap::new();
            pages.insert(zero_page, Box::new([0u8; PAGE_SIZE as usize]));
            TestFrames {
                pages: spin::Mutex::new(pages),
                next: AtomicU64::new(0x10_0000),
                allocations: AtomicUsize::new(0),
                fail_at: AtomicUsize::new(0),
                capacity: AtomicUsize::new(usize::MAX),
                decisions: AtomicUsize::new(0),
                refuse_decision_at: AtomicUsize::new(0),
                refused: AtomicBool::new(false),
                zero_page,
                held: spin::Mutex::new(BTreeMap::new()),
            }
        }

        /// Frames held ([`FrameAllocator::hold`]) and not yet freed: counted in `in_use`.
        pub fn held(&self) -> usize {
            self.held.lock().len()
        }

        /// Pages currently allocated (not counting the zero page).
        pub fn in_use(&self) -> usize {
            self.pages.lock().len() - 1
        }

        /// Makes the `n`th allocation from now fail (1 = the next one); 0 turns it off.
        pub fn fail_nth_allocation(&self, n: usize) {
            let base = self.allocations.load(Ordering::SeqCst);
            self.fail_at
                .store(if n == 0 { 0 } else { base + n }, Ordering::SeqCst);
        }

        /// Lets at most `pages` pages be allocated at once, like a machine of that size.
        pub fn set_capacity(&self, pages: usize) {
            self.capacity.store(pages, Ordering::SeqCst);
        }

        /// Makes the `n`th decision from now whether pages may be spent (an `alloc` or a
        /// `can_spend`, as the kernel's `failalloc N` counts them; 1 = the next one) say no,
        /// once; 0 turns it off. [`Self::refused`] tells whether it happened.
        pub fn refuse_nth_decision(&self, n: usize) {
            self.refused.store(false, Ordering::SeqCst);
            let base = self.decisions.load(Ordering::SeqCst);
            self.refuse_decision_at
                .store(if n == 0 { 0 } else { base + n }, Ordering::SeqCst);
        }

        /// Whether the decision armed by [`Self::refuse_nth_decision`] was refused.
        pub fn refused(&self) -> bool {
            self.refused.load(Ordering::SeqCst)
        }

        /// Decisions whether pages may be spent made so far (refused ones included).
        pub fn decision_count(&self) -> usize {
            self.decisions.load(Ordering::SeqCst)
        }

        /// Counts one decision: true for the one to refuse.
        fn refuse_this_decision(&self) -> bool {
            let number = self.decisions.fetch_add(1, Ordering::SeqCst) + 1;
            if self.refuse_decision_at.load(Ordering::SeqCst) != number {
                return false;
            }
            self.refused.store(true, Ordering::SeqCst);
            true
        }

        /// Allocations attempted so far (failed ones included).
        pub fn allocation_count(&self) -> usize {
            self.allocations.load(Ordering::SeqCst)
        }

        fn check(&self, frame: FrameAddr) {
            assert!(
                self.pages.lock().contains_key(&frame),
                "use of frame {frame:#x} that is not allocated"
            );
        }
    }

    impl FrameAllocator for TestFrames {
        fn alloc(&self) -> Option<FrameAddr> {
            let number = self.allocations.fetch_add(1, Ordering::SeqCst) + 1;
            if self.refuse_this_decision()
                || self.fail_at.load(Ordering::SeqCst) == number
                || self.in_use() >= self.capacity.load(Ordering::SeqCst)
            {
                return None;
            }
            let frame = self.next.fetch_add(PAGE_SIZE, Ordering::SeqCst);
            // Garbage, so code that forgets to zero a new page is caught.
            self.pages
                .lock()
                .insert(frame, Box::new([0xcc; PAGE_SIZE as usize]));
            Some(frame)
        }

        fn free(&self, frame: FrameAddr) {
            assert_ne!(frame, self.zero_page, "freeing the zero page");
            assert!(
                !self.held.lock().contains_key(&frame),
                "free of held frame {frame:#x}"
            );
            assert!(
                self.pages.lock().remove(&frame).is_some(),
                "double free of frame {frame:#x}"
            );
        }

        fn hold(&self, frame: FrameAddr, list: &mut HeldFrames) {
            assert_ne!(frame, self.zero_page, "holding the zero page");
            self.check(frame);
            let previous = self.held.lock().insert(frame, list.head);
            assert!(previous.is_none(), "frame {frame:#x} held twice");
            list.head = frame;
            list.len += 1;
        }

        fn free_held(&self, list: &mut HeldFrames) {
            while list.head != 0 {
                let frame = list.head;
                list.head = self
                    .held
                    .lock()
                    .remove(&frame)
                    .expect("frame on a held list is held");
                list.len -= 1;
                self.free(frame);
            }
            assert_eq!(list.len, 0, "held list length");
        }

        fn zero_page(&self) -> FrameAddr {
            self.zero_page
        }

        fn can_spend(&self, pages: u64) -> bool {
            if self.refuse_this_decision() {
                return false;
            }
            let capacity = self.capacity.load(Ordering::SeqCst) as u64;
            (self.in_use() as u64).saturating_add(pages) <= capacity
        }

        fn zero(&self, frame: FrameAddr) {
            assert_ne!(frame, self.zero_page);
            self.check(frame);
            self.pages.lock().get_mut(&frame).unwrap().fill(0);
        }

        fn copy_page(&self, dst: FrameAddr, src: FrameAddr) {
            assert_ne!(dst, self.zero_page);
            let mut pages = self.pages.lock();
            let data = **pages.get(&src).expect("copy from an unallocated frame");
            **pages.get_mut(&dst).expect("copy to an unallocated frame") = data;
        }

        fn read(&self, frame: FrameAddr, offset: usize, buf: &mut [u8]) {
            let pages = self.pages.lock();
            let page = pages.get(&frame).expect("read of an unallocated frame");
            buf.copy_from_slice(&page[offset..offset + buf.len()]);
        }

        fn write(&self, frame: FrameAddr, offset: usize, data: &[u8]) {
            assert_ne!(frame, self.zero_page, "write to the zero page");
            let mut pages = self.pages.lock();
            let page = pages
                .get_mut(&frame)
                .expect("write to an unallocated frame");
            page[offset..offset + data.len()].copy_from_slice(data);
        }
    }

    /// Cache operations that only count what they were asked to do.
    #[derive(Default)]
    pub struct CountingCache {
        pub cleaned: AtomicUsize,
        pub invalidated: AtomicUsize,
        pub clean_invalidated: AtomicUsize,
        /// The frames `invalidate` (which may drop dirty lines) was asked to touch.
        pub invalidated_frames: spin::Mutex<alloc::vec::Vec<FrameAddr>>,
    }

    impl super::CacheOps for CountingCache {
        fn clean(&self, _: FrameAddr, _: usize, len: usize) {
            self.cleaned.fetch_add(len, Ordering::SeqCst);
        }
        fn invalidate(&self, frame: FrameAddr, _: usize, len: usize) {
            self.invalidated.fetch_add(len, Ordering::SeqCst);
            self.invalidated_frames.lock().push(frame);
        }
        fn clean_invalidate(&self, _: FrameAddr, _: usize, len: usize) {
            self.clean_invalidated.fetch_add(len, Ordering::SeqCst);
        }
    }
}
