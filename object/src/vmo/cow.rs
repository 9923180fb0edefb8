//! The copy-on-write tree of a VMO family: nodes and their links, lookups, charging, the
//! settling of what a close or a shrink leaves behind (merges, sweeps, letting go), work
//! deferred to later chunks, dead pages, and taking page-table entries away in steps.
//!
//! # Long work, in chunks
//!
//! No call holds the family lock for work that grows with the pages a family holds. A shrink
//! narrows the node's window onto its ancestors from the top, a chunk at a time, with the
//! lock released and a preemption point between chunks ([`preempt`]). A close that would
//! walk many ancestor pages (a snapshot, or an original with snapshots) marks the node
//! *closing*: it counts as alive, shrunk to nothing, and the same narrowing runs later, in
//! chunks, before the closing system call returns ([`settle_deferred_chunk`], driven by
//! [`crate::free_deferred`]); so does a long merge of a dead node into its only child. A
//! closed VMO that others still read through (one with clones of its own) is *letting go*: it
//! counts as alive at its pages from some index on and as dead below it, and that index moves
//! up a chunk at a time, passing on the charges and freeing what nobody sees, until it is
//! dead at every page. Between two chunks the family is whole: every page is seen and charged
//! as the rules below say, with a closing node counted as alive (where it counts so).
//!
//! Page-table entries that show a range go before any page behind them is freed, about
//! [`UNMAP_WORK`] of page-table work a step over all the mappings (a mapping of the zero page
//! has an entry a page and no page at all): a DECOMMIT's chunk ends where that work does; a
//! shrink records up to where entries may still show dropped pages ([`Node::mapped_below`])
//! and takes them away from the top, in steps, before it frees anything there. Pages that
//! more mappings show than a step visits (one page mapped 100,000 times) are walked in steps
//! of their own ([`PageWalk`]), and so is the page a copy on write replaces; while such a
//! walk is partway and its pages are about to be freed or replaced, faults in the family
//! wait ([`Family::faults_held`]), so that no mapping the walk passed shows them again.
//!
//! # Who is charged for a page (`committed_bytes`)
//!
//! Every page a family holds is charged to exactly one alive node: an alive node is charged
//! for the pages it holds; a page of a dead node (a hidden node, or a closed VMO kept as a
//! branch point) is charged to the first node, in child order, that still sees it, going down
//! one level at a time. A snapshot's hidden node lists the original first, so a page shared
//! by a VMO and its snapshots is the original's while it still sees the page, and passes to
//! the snapshot once the original wrote its own copy, zeroed it, shrank past it or closed
//! (Zircon's rule, adopted by the spec). Each node keeps its count (`Node::charged`), updated
//! where pages are committed or freed and where a node's view of its ancestors changes; a
//! query is O(1).

use super::{CHUNK_PAGES, PAGE_SHIFT};
use crate::frames::{FrameAddr, FrameAllocator, PAGE_SIZE};
use crate::maxtree::MaxTree;

use crate::pagemap::PageMap;
use crate::pins::{CopyPins, HeldLists};
use crate::preempt::{self, WorkList};
use crate::vmar::{MappingObserver, TABLE_WORK, UNMAP_WORK};
use crate::{Status, ZxResult};
use alloc::collections::BTreeMap;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::cell::Cell;

pub(super) type NodeId = usize;

/// What a lookup found for a page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Found {
    /// A committed frame held by `owner` at `index`.
    Page {
        owner: NodeId,
        index: u64,
        frame: FrameAddr,
    },
    /// Zero: `owner` zeroed (decommitted) this page, hiding its ancestors.
    Zeroed,
}

/// A node's view of its parent. A plain value, its fields shared with the `Vmo` side: a new
/// clone, snapshot or slice is linked there (mod.rs) and a shrink clamps its children's
/// windows (ops.rs).
#[derive(Clone, Copy, Debug)]
pub(super) struct Link {
    pub(super) parent: NodeId,
    /// Page `k` of the child is page `k + offset` of the parent...
    pub(super) offset: u64,
    /// ...while `k < limit`; beyond it the child reads zero.
    pub(super) limit: u64,
}

/// How a charge lookup treats one node whose view is changing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Assume {
    /// Every node as it is.
    Nothing,
    /// This node as alive, although it just died: its charges are being handed on.
    Alive(NodeId),
    /// This node (and whatever reads through it) as seeing nothing: it is about to stop
    /// seeing the pages asked about.
    Blind(NodeId),
}

/// One VMO of a family, or a hidden node (a snapshot's branch point). The `pub(super)`
/// fields are shared with the `Vmo` side, which wires nodes together when it creates a
/// clone, snapshot or slice (moving the parent's pages and zeroed ranges into the hidden
/// node, mod.rs), edits `size`, `link` and `mapped_below` when it shrinks (ops.rs), reads
/// `pages` and `link` on the transfer and fault fast paths, and changes `handles_open` and
/// `mappings` as its handles and mappings come and go (mod.rs). The rest belongs to the tree
/// alone: liveness, closing and letting go, charges.
pub(super) struct Node {
    pub(super) pages: PageMap,
    /// Page ranges `start -> end` this node zeroed: they read zero and hide the ancestors
    /// (a frame in `pages` still takes precedence). Disjoint, not adjacent.
    pub(super) zeroed: BTreeMap<u64, u64>,
    pub(super) link: Option<Link>,
    /// Nodes whose link points here.
    pub(super) children: Vec<NodeId>,
    /// Slice nodes forwarding to this node.
    pub(super) slices: Vec<NodeId>,
    /// For a slice: the node it forwards to and the page offset into it.
    pub(super) slice_of: Option<(NodeId, u64)>,
    /// Size in pages (for a hidden node: the size it was frozen at).
    pub(super) size: u64,
    pub(super) hidden: bool,
    pub(super) handles_open: bool,
    pub(super) mappings: Mappings,
    /// Pages charged to this node (see the module docs); zero unless it is alive. A cell, so
    /// that charges move while the family's page maps are being walked (under the family
    /// lock, like everything in a node).
    charged: Cell<u64>,
    /// Its VMO is gone, but letting go of what it saw is long work done in chunks later
    /// ([`Family::deferred_chunk`]): until then it counts as alive, shrunk to size 0, its
    /// window narrowing like any shrink's; or, with `letting_go`, alive from `dead_below` on.
    closing: bool,
    /// A dead node with one child whose merge into that child is long work done in chunks
    /// later ([`Family::merge_chunk`]).
    merge_pending: bool,
    /// Its VMO is gone while children still read through it: letting go of what it held and
    /// saw (its charges pass on, what nobody sees goes) is long work done in chunks later,
    /// from page 0 up ([`Family::let_go_chunk`]). `closing` is set too: until the work is
    /// done it counts as alive at its pages from `dead_below` on, as dead below.
    letting_go: bool,
    /// Pages below this index count as dead (see `letting_go`); 0 for every other node.
    dead_below: u64,
    /// After a shrink: pages `size..` below this index may still show in mappings (of this
    /// node and of what read through it), their entries taken away from the top a step at a
    /// time ([`Family::unmap_stale_chunk`]). Nothing maps them again (faults stop at the
    /// size, the children's windows were clamped), and nothing there is freed before they
    /// are gone. Never above the size it was before the shrink.
    pub(super) mapped_below: u64,
    /// Where taking those entries away stopped inside one page that more mappings show than
    /// a step visits ([`PageWalk`]; holds no fault off: nothing maps pages past the size).
    stale_walk: PageWalk,
}

impl Node {
    /// Pages charged to it (see `charged`).
    #[inline]
    pub(super) fn charged(&self) -> u64 {
        self.charged.get()
    }

    /// See `merge_pending`.
    pub(super) fn merge_pending(&self) -> bool {
        self.merge_pending
    }

    pub(super) fn new(size: u64) -> Node {
        Node {
            pages: PageMap::new(),
            zeroed: BTreeMap::new(),
            link: None,
            children: Vec::new(),
            slices: Vec::new(),
            slice_of: None,
            size,
            hidden: false,
            handles_open: true,
            mappings: Mappings::default(),
            charged: Cell::new(0),
            closing: false,
            merge_pending: false,
            letting_go: false,
            dead_below: 0,
            mapped_below: 0,
            stale_walk: PageWalk::default(),
        }
    }

    fn is_zeroed(&self, index: u64) -> bool {
        !self.zeroed.is_empty()
            && self
                .zeroed
                .range(..=index)
                .next_back()
                .is_some_and(|(_, &end)| index < end)
    }

    /// Whether this node hides its ancestors' page `index` (holds it or zeroed it).
    pub(super) fn shadows(&self, index: u64) -> bool {
        self.pages.contains_key(index) || self.is_zeroed(index)
    }

    /// Marks pages `first..end` as zeroed, merging with neighbouring ranges.
    pub(super) fn add_zeroed(&mut self, first: u64, end: u64) {
        let (mut first, mut end) = (first, end);
        let touching: Vec<(u64, u64)> = self
            .zeroed
            .range(..=end)
            .filter(|(_, &e)| e >= first)
            .map(|(&s, &e)| (s, e))
            .collect();
        for (s, e) in touching {
            self.zeroed.remove(&s);
            first = first.min(s);
            end = end.max(e);
        }
        self.zeroed.insert(first, end);
    }

    /// Drops zeroed ranges at and beyond page `limit`.
    fn trim_zeroed(&mut self, limit: u64) {
        let beyond = self.zeroed.split_off(&limit);
        drop(beyond);
        if let Some((_, end)) = self.zeroed.iter_mut().next_back() {
            *end = (*end).min(limit);
        }
    }

    /// Whether anything can still read or write this node's pages directly.
    pub(super) fn alive(&self) -> bool {
        !self.hidden
            && (self.handles_open
                || !self.mappings.is_empty()
                || !self.slices.is_empty()
                || self.closing)
    }

    /// Whether it counts as alive at its page `index` (a node letting go is dead below
    /// `dead_below`).
    #[inline(always)]
    fn alive_at(&self, index: u64) -> bool {
        self.alive() && index >= self.dead_below
    }

    /// Whether it counts as alive at every page.
    fn alive_everywhere(&self) -> bool {
        self.alive() && self.dead_below == 0
    }

    /// Whether its pages can still change (something can write them): alive, and not a node
    /// whose VMO is gone but that is still letting go of what it held.
    fn can_change(&self) -> bool {
        self.alive() && !self.letting_go
    }

    /// Where the part of `first..end` (this node's page indices) in which it counts as dead
    /// ends: walks up through dead ancestors stop there (an alive node is charged for what
    /// it holds and sees everything above that its descendants see through it).
    #[inline(always)]
    fn dead_part_end(&self, end: u64) -> u64 {
        if !self.alive() {
            end
        } else {
            end.min(self.dead_below)
        }
    }
}

/// A small batch of frames allocated before a change, so that running out of memory leaves
/// everything as it was. Up to `BATCH_INLINE` frames need no heap allocation.
pub(super) struct FrameBatch {
    inline: [FrameAddr; BATCH_INLINE],
    inline_len: usize,
    spill: Vec<FrameAddr>,
}

/// Frames a batch holds without a heap allocation: a page fault needs one; small enough that
/// passing a batch around stays cheap.
const BATCH_INLINE: usize = 4;

/// Pages times levels of ancestors one chunk of a transfer or a COMMIT may cover. Each page
/// of a node `d` links deep may look through all `d` levels and, to pass on the charge of the
/// page it copies, walk as many nodes below the owner (a few hundred instructions a level in
/// all): a deep node takes fewer pages per lock hold, one at the least, so that a chunk stays
/// well under a millisecond. A node up to 32 levels deep takes whole chunks.
const CHUNK_PAGE_LEVELS: usize = CHUNK_PAGES * 32;
/// Children of a node letting go ([`Family::let_go_chunk`]) that cost about as much as the
/// rest of the work for one of its pages: each looks at every child (some 20 instructions
/// each) to find who sees the page next. A node with more children takes fewer pages per
/// chunk, one at the least.
const CHILDREN_PER_LOOKUP: usize = 16;

/// Most nodes (VMOs, hidden or not) a family may hold. A page's walks (up through ancestors,
/// down through the nodes that see it, over a node's children) cost a few hundred
/// instructions per node, and a write or a close must move at least one page per lock hold:
/// 4,096 nodes keep that under about 1 ms of guest time (measured: 222 instructions a level
/// down a snapshot chain). A clone, snapshot or slice past it fails with NO_MEMORY (kernel
/// bookkeeping is memory); Zircon documents no such limit.
pub const MAX_FAMILY_NODES: usize = 4096;

/// Frames taken before a write or COMMIT of more than one chunk changes anything, so that
/// running out of memory fails it at once with nothing changed (each chunk then takes its
/// frames from here). Linked through their own first word: no heap, whatever the count.
pub(super) struct Reserve {
    /// The first frame, valid while `len` is not zero; each frame's first word holds the next.
    head: FrameAddr,
    len: u64,
}

impl Reserve {
    /// Frames it holds.
    #[inline]
    pub(super) fn len(&self) -> u64 {
        self.len
    }

    pub(super) fn empty() -> Reserve {
        Reserve { head: 0, len: 0 }
    }

    /// `count` frames, taken a chunk at a time with a preemption point between chunks (the
    /// caller holds no lock); NO_MEMORY (CANCELED for a killed thread) with none kept.
    #[inline]
    pub(super) fn take(frames: &dyn FrameAllocator, count: u64) -> ZxResult<Reserve> {
        let mut reserve = Reserve::empty();
        while reserve.len < count {
            if reserve.len != 0
                && reserve.len.is_multiple_of(preempt::CHUNK_PAGES as u64)
                && !preempt::point()
            {
                reserve.release(frames);
                return Err(Status::CANCELED);
            }
            let Some(frame) = frames.alloc() else {
                reserve.release(frames);
                return Err(Status::NO_MEMORY);
            };
            if reserve.len != 0 {
                frames.write(frame, 0, &reserve.head.to_ne_bytes());
            }
            reserve.head = frame;
            reserve.len += 1;
        }
        Ok(reserve)
    }

    fn pop(&mut self, frames: &dyn FrameAllocator) -> Option<FrameAddr> {
        if self.len == 0 {
            return None;
        }
        let frame = self.head;
        self.len -= 1;
        if self.len != 0 {
            let mut next = [0u8; 8];
            frames.read(frame, 0, &mut next);
            self.head = FrameAddr::from_ne_bytes(next);
        }
        Some(frame)
    }

    /// Puts back a frame a chunk took and did not use, for a later chunk.
    pub(super) fn push(&mut self, frame: FrameAddr, frames: &dyn FrameAllocator) {
        if self.len != 0 {
            frames.write(frame, 0, &self.head.to_ne_bytes());
        }
        self.head = frame;
        self.len += 1;
    }

    /// Frees the frames nothing took (someone else committed pages meanwhile).
    #[inline]
    pub(super) fn release(mut self, frames: &dyn FrameAllocator) {
        while let Some(frame) = self.pop(frames) {
            frames.free(frame);
        }
    }
}

impl FrameBatch {
    /// `count` frames, from `reserve` while it has some, or NO_MEMORY with none taken.
    pub(super) fn allocate_from(
        frames: &dyn FrameAllocator,
        count: usize,
        reserve: &mut Reserve,
    ) -> ZxResult<FrameBatch> {
        let mut batch = FrameBatch {
            inline: [0; BATCH_INLINE],
            inline_len: 0,
            spill: Vec::new(),
        };
        let spill = count > batch.inline.len();
        if spill && batch.spill.try_reserve_exact(count).is_err() {
            return Err(Status::NO_MEMORY);
        }
        for _ in 0..count {
            let Some(frame) = reserve.pop(frames).or_else(|| frames.alloc()) else {
                batch.release(frames);
                return Err(Status::NO_MEMORY);
            };
            if spill {
                batch.spill.push(frame);
            } else {
                batch.inline[batch.inline_len] = frame;
                batch.inline_len += 1;
            }
        }
        // `take` hands frames out from the end: reversed, consecutive pages get frames in
        // the order the allocator gave them, which is often physically contiguous (bulk
        // copies then cover several pages at once).
        batch.spill.reverse();
        batch.inline[..batch.inline_len].reverse();
        Ok(batch)
    }

    /// Puts the frames left in the batch into `reserve`, for a later chunk.
    pub(super) fn release_into(mut self, reserve: &mut Reserve, frames: &dyn FrameAllocator) {
        while let Some(frame) = self.take() {
            reserve.push(frame, frames);
        }
    }

    /// A batch of the one frame `frame`.
    pub(super) fn single(frame: FrameAddr) -> FrameBatch {
        let mut inline = [0; BATCH_INLINE];
        inline[0] = frame;
        FrameBatch {
            inline,
            inline_len: 1,
            spill: Vec::new(),
        }
    }

    fn take(&mut self) -> Option<FrameAddr> {
        if let Some(frame) = self.spill.pop() {
            return Some(frame);
        }
        if self.inline_len == 0 {
            return None;
        }
        self.inline_len -= 1;
        Some(self.inline[self.inline_len])
    }

    pub(super) fn release(mut self, frames: &dyn FrameAllocator) {
        while let Some(frame) = self.take() {
            frames.free(frame);
        }
    }
}

/// A family's lock and the frames copies without the lock are using, in one allocation.
pub(super) struct FamilyCell {
    /// The family. Lock order: taken before a mapping's address-space lock and the page
    /// pool's lock; the pins' held lists are under it. It masks no IRQs itself (no IRQ
    /// handler takes it; see the module's locking rules in `vmo/mod.rs`).
    family: spin::Mutex<Family>,
    /// Copies in flight on the family's frames, and the frames held for them.
    pins: CopyPins,
}

impl FamilyCell {
    /// A new family of one node, `pages` long: the node of a VMO just created (id 0).
    #[inline]
    pub(super) fn new(frames: Arc<dyn FrameAllocator>, pages: u64) -> Arc<FamilyCell> {
        // The node vector is made with room for its first node (not grown into).
        let nodes = alloc::vec![Some(Node::new(pages))];
        Arc::new_cyclic(|cell| FamilyCell {
            family: spin::Mutex::new(Family {
                frames: FamilyAllocator {
                    frames,
                    held: HeldLists::default(),
                    cell: cell.clone(),
                },
                nodes,
                free_ids: Vec::new(),
                next_mapping_id: 1,
                shared_ptes: false,
                snapshots_stepping: 0,
                faults_held: 0,
                deferred: Vec::new(),
                queued: false,
                defer_above: FREE_AT_ONCE_PAGES,
            }),
            pins: CopyPins::new(),
        })
    }

    pub(super) fn lock(&self) -> spin::MutexGuard<'_, Family> {
        self.family.lock()
    }

    /// Counts a copy in: the frames it is given are not reused until the pin is dropped.
    /// Take it before the lock that hands the frames out is released.
    #[inline]
    pub(super) fn pin(&self) -> CopyPin<'_> {
        CopyPin {
            cell: self,
            unit: self.pins.pin(),
        }
    }

    /// The last copy of an epoch ended while frames wait: free those that may go.
    #[cold]
    #[inline(never)]
    fn release_held(&self) {
        let family = self.lock();
        self.pins
            .release_held(&family.frames.held, &*family.frames.frames);
    }
}

impl Drop for FamilyCell {
    fn drop(&mut self) {
        let Self { family, pins } = self;
        let frames = &family.get_mut().frames;
        pins.free_all_held(&frames.held, &*frames.frames);
    }
}

/// A copy counted in ([`FamilyCell::pin`]): while it lives, no frame its family gives up is
/// reused.
#[must_use = "a pin protects the frames only while it lives"]
pub(super) struct CopyPin<'a> {
    cell: &'a FamilyCell,
    unit: u64,
}

impl Drop for CopyPin<'_> {
    #[inline]
    fn drop(&mut self) {
        if self.cell.pins.unpin(self.unit) {
            self.cell.release_held();
        }
    }
}

/// The frame allocator as a family sees it: frames come straight from the kernel's
/// allocator; frames given up go through the family's [`CopyPins`], which hold them while
/// copies without the lock may still touch them.
pub(super) struct FamilyAllocator {
    frames: Arc<dyn FrameAllocator>,
    /// Frames given up while copies ran, until they end.
    held: HeldLists,
    /// The cell the family lives in: reachable as long as the family is.
    cell: Weak<FamilyCell>,
}

impl FamilyAllocator {
    /// The kernel's allocator behind it: frames freed straight there skip the copy pins.
    #[inline]
    pub(super) fn kernel(&self) -> &Arc<dyn FrameAllocator> {
        &self.frames
    }
}

impl FrameAllocator for FamilyAllocator {
    #[inline]
    fn alloc(&self) -> Option<FrameAddr> {
        self.frames.alloc()
    }

    #[inline]
    fn free(&self, frame: FrameAddr) {
        match self.cell.upgrade() {
            Some(cell) => cell.pins.free(&self.held, &*self.frames, frame),
            // The family is being dropped: no VMO, so no copy, is left.
            None => self.frames.free(frame),
        }
    }

    #[inline]
    fn hold(&self, frame: FrameAddr, list: &mut crate::frames::HeldFrames) {
        self.frames.hold(frame, list);
    }

    #[inline]
    fn free_held(&self, list: &mut crate::frames::HeldFrames) {
        self.frames.free_held(list);
    }

    #[inline]
    fn zero_page(&self) -> FrameAddr {
        self.frames.zero_page()
    }

    #[inline]
    fn zero(&self, frame: FrameAddr) {
        self.frames.zero(frame);
    }

    #[inline]
    fn copy_page(&self, dst: FrameAddr, src: FrameAddr) {
        self.frames.copy_page(dst, src);
    }

    #[inline]
    fn read(&self, frame: FrameAddr, offset: usize, buf: &mut [u8]) {
        self.frames.read(frame, offset, buf);
    }

    #[inline]
    fn write(&self, frame: FrameAddr, offset: usize, data: &[u8]) {
        self.frames.write(frame, offset, data);
    }

    #[inline]
    fn can_spend(&self, pages: u64) -> bool {
        self.frames.can_spend(pages)
    }
}

pub(super) struct Family {
    /// Frames are taken and given up through it: a frame given up while a copy that runs
    /// without this lock may still touch it waits until the copy ends.
    frames: FamilyAllocator,
    nodes: Vec<Option<Node>>,
    free_ids: Vec<NodeId>,
    next_mapping_id: u64,
    /// Whether some PTE may show a page its mapping's node does not own (the zero page or an
    /// ancestor's page, mapped read-only). Until then, committing a page cannot leave a stale
    /// PTE behind, and the search for mappings to invalidate is skipped. Never cleared.
    /// Shared: set by a fault mapping a page its node does not own and by a snapshot
    /// (mod.rs), read by the copy on write (transfer.rs).
    pub(super) shared_ptes: bool,
    /// Snapshots of a family node whose steps taking writable entries away are running (the
    /// lock released between two): until they end, an entry may still write a page that is
    /// now shared, so a copy on write takes every entry of its page away first, as with
    /// `shared_ptes`. Only while it is not 0: a snapshot done in one step costs faults nothing.
    /// Shared: counted in and out by the snapshot's steps (mod.rs), read by the copy on write
    /// (transfer.rs).
    pub(super) snapshots_stepping: usize,
    /// Operations walking the mappings of a page over several steps ([`PageWalk`]) that must
    /// not see an entry come back behind them: while not 0, [`Vmo::fault_page`] answers
    /// SHOULD_WAIT and the fault waits (no entry onto this family's frames is made). An
    /// operation counts itself in when a step of its walk ends with the walk partway, and
    /// out again once it freed or replaced what the walk cleared ([`Family::release_faults`])
    /// or when it ends, however it ends ([`HeldWalk`]).
    faults_held: usize,
    /// Nodes with work left for later, oldest first: closing nodes and pending merges.
    deferred: Vec<NodeId>,
    /// Whether the family is on [`DEFERRED_FAMILIES`].
    queued: bool,
    /// Pages of work a close or a merge may do at once before the rest is left for later:
    /// [`FREE_AT_ONCE_PAGES`], lowered by tests to reach the deferred paths with small VMOs.
    defer_above: usize,
}

impl Family {
    /// The family's frame allocator (frames given up go through its copy pins).
    #[inline]
    pub(super) fn frames(&self) -> &FamilyAllocator {
        &self.frames
    }

    /// Every node slot, `None` where a node was removed (for tests and accounting).
    pub(super) fn node_slots(&self) -> &[Option<Node>] {
        &self.nodes
    }

    /// Frees the pages node `id` itself holds in `first..stop`; returns how many there were.
    /// Their charges and the page-table entries showing them are the caller's.
    #[inline]
    pub(super) fn free_own_pages(&mut self, id: NodeId, first: u64, stop: u64) -> u64 {
        let Family { nodes, frames, .. } = self;
        let own = nodes[id].as_mut().expect("live node id");
        let mut freed = 0;
        own.pages.remove_range(first, stop - 1, |_, frame| {
            frames.free(frame);
            freed += 1;
        });
        freed
    }

    /// A new id for a mapping of one of the family's VMOs.
    pub(super) fn new_mapping_id(&mut self) -> u64 {
        let id = self.next_mapping_id;
        self.next_mapping_id += 1;
        id
    }

    /// See `defer_above`.
    pub(super) fn set_defer_above(&mut self, pages: usize) {
        self.defer_above = pages;
    }

    /// Whether some node has work left for later (closing nodes, pending merges).
    pub(super) fn has_deferred(&self) -> bool {
        !self.deferred.is_empty()
    }

    /// Whether faults in the family must wait (see `faults_held`).
    #[inline]
    pub(super) fn faults_held(&self) -> bool {
        self.faults_held != 0
    }

    /// Puts the family (in `cell`) on [`DEFERRED_FAMILIES`] if it has work left for later
    /// and is not there yet. Where the list cannot grow, the work is done now.
    #[inline]
    pub(super) fn queue_deferred(&mut self, cell: &Arc<FamilyCell>) {
        if self.deferred.is_empty() {
            return;
        }
        if self.queued {
            // On the list already, or being worked on by another CPU: this call's work joined
            // it, and the call waits for it on its way out all the same.
            preempt::mark_deferred();
            return;
        }
        if DEFERRED_FAMILIES.push(cell.clone()).is_err() {
            while self.deferred_chunk() {}
            return;
        }
        self.queued = true;
    }

    #[inline]
    pub(super) fn node(&self, id: NodeId) -> &Node {
        self.nodes[id].as_ref().expect("live node id")
    }

    #[inline]
    pub(super) fn node_mut(&mut self, id: NodeId) -> &mut Node {
        self.nodes[id].as_mut().expect("live node id")
    }

    /// NO_MEMORY unless `count` more nodes fit under [`MAX_FAMILY_NODES`].
    pub(super) fn room_for(&self, count: usize) -> ZxResult {
        if self.nodes.len() - self.free_ids.len() + count > MAX_FAMILY_NODES {
            return Err(Status::NO_MEMORY);
        }
        Ok(())
    }

    pub(super) fn insert(&mut self, node: Node) -> NodeId {
        match self.free_ids.pop() {
            Some(id) => {
                self.nodes[id] = Some(node);
                id
            }
            None => {
                self.nodes.push(Some(node));
                self.nodes.len() - 1
            }
        }
    }

    fn remove(&mut self, id: NodeId) -> Node {
        let node = self.nodes[id].take().expect("live node id");
        self.release_slot(id);
        node
    }

    /// Removes node `id`, freeing its pages (more than `FREE_AT_ONCE_PAGES` of them later,
    /// see [`free_dead_pages`]), without moving it out of its slot.
    fn discard(&mut self, id: NodeId) {
        let Family { nodes, frames, .. } = self;
        let node = nodes[id].as_mut().expect("live node id");
        if node.pages.len() <= FREE_AT_ONCE_PAGES || !defer_free(frames, &mut node.pages) {
            node.pages.drain_each(|_, frame| frames.free(frame));
        }
        self.release_slot(id);
    }

    /// Empties slot `id`, dropping whatever it still holds where it is: the last slot goes
    /// (no free-list entry to allocate, so a family of one VMO frees nothing but the node),
    /// any other becomes free for reuse.
    #[inline]
    fn release_slot(&mut self, id: NodeId) {
        if !self.deferred.is_empty() {
            self.deferred.retain(|&d| d != id);
        }
        if id + 1 == self.nodes.len() {
            self.nodes.truncate(id);
        } else {
            self.nodes[id] = None;
            self.free_ids.push(id);
        }
    }

    /// The node that holds a node's pages and the page offset into it (slices forward).
    pub(super) fn target(&self, id: NodeId) -> (NodeId, u64) {
        self.node(id).slice_of.unwrap_or((id, 0))
    }

    /// Where page `index` of `id` comes from; `None` when nothing holds it (it reads zero).
    pub(super) fn resolve(&self, mut id: NodeId, mut index: u64) -> Option<Found> {
        loop {
            let node = self.node(id);
            if let Some(frame) = node.pages.get(index) {
                return Some(Found::Page {
                    owner: id,
                    index,
                    frame,
                });
            }
            if node.is_zeroed(index) {
                return Some(Found::Zeroed);
            }
            match node.link {
                Some(link) if index < link.limit => {
                    id = link.parent;
                    index += link.offset;
                }
                _ => return None,
            }
        }
    }

    /// The frame page `index` of `id` shows, if any.
    pub(super) fn frame_at(&self, id: NodeId, index: u64) -> Option<FrameAddr> {
        match self.resolve(id, index) {
            Some(Found::Page { frame, .. }) => Some(frame),
            _ => None,
        }
    }

    /// The frames pages `first..first + out.len()` of `id` read from (the zero page where
    /// they read as zeroes). A node that looks through to no other (whose missing pages
    /// read as zeroes) walks its own pages in one ordered pass; others resolve page by page.
    #[inline]
    pub(super) fn frames_for_read(&self, id: NodeId, first: u64, out: &mut [FrameAddr]) {
        let zero = self.frames.zero_page();
        let node = self.node(id);
        if node.link.is_none() {
            node.pages.get_run(first, out, zero);
            return;
        }
        for (i, slot) in out.iter_mut().enumerate() {
            *slot = self.frame_at(id, first + i as u64).unwrap_or(zero);
        }
    }

    fn owns_frame(&self, id: NodeId, index: u64) -> bool {
        self.node(id).pages.contains_key(index)
    }

    /// Allocates one frame for every page in `first..=last` of `id` that it does not own.
    pub(super) fn prepare(&self, id: NodeId, first: u64, last: u64) -> ZxResult<FrameBatch> {
        self.prepare_from(id, first, last, &mut Reserve::empty())
    }

    /// [`Family::prepare`], taking the frames from `reserve` while it has some.
    pub(super) fn prepare_from(
        &self,
        id: NodeId,
        first: u64,
        last: u64,
        reserve: &mut Reserve,
    ) -> ZxResult<FrameBatch> {
        let node = self.node(id);
        let owned = node.pages.count_run(first, (last - first + 1) as usize) as u64;
        let needed = (last - first + 1 - owned) as usize;
        FrameBatch::allocate_from(&self.frames, needed, reserve)
    }

    /// Gives page `index` of `id` its own frame (from `batch`) holding what it showed until
    /// now; frees the source page if nobody else can see it. Returns the frame.
    #[inline]
    pub(super) fn commit(&mut self, id: NodeId, index: u64, batch: &mut FrameBatch) -> FrameAddr {
        if let Some(frame) = self.node(id).pages.get(index) {
            return frame;
        }
        self.commit_absent(id, index, batch, false)
    }

    /// [`Family::commit`] right after [`Family::clear_for_commit`] said the page's entries are
    /// gone, in the same lock hold: no walk over its mappings again.
    #[inline]
    pub(super) fn commit_cleared(
        &mut self,
        id: NodeId,
        index: u64,
        batch: &mut FrameBatch,
    ) -> FrameAddr {
        if let Some(frame) = self.node(id).pages.get(index) {
            return frame;
        }
        self.commit_absent(id, index, batch, true)
    }

    /// Before page `index` of `id` gets a frame of its own: one step of taking away the
    /// entries that show what it showed until now (the zero page or an ancestor's page, in
    /// the mappings of `id`, its slices and the nodes reading through it), in steps when
    /// more mappings show it than a step visits ([`Family::clear_range_step`]; faults wait
    /// meanwhile). True when none is left: [`Family::commit_cleared`] follows in the same
    /// lock hold. At once when the page is `id`'s own or no such entry was ever made.
    #[inline]
    pub(super) fn clear_for_commit(
        &mut self,
        id: NodeId,
        index: u64,
        walk: &mut PageWalk,
        budget: &mut StepBudget,
    ) -> bool {
        if self.node(id).pages.contains_key(index)
            || !(self.shared_ptes || self.snapshots_stepping != 0)
        {
            self.end_walk(walk);
            return true;
        }
        self.clear_range_step(id, (index, index + 1), false, true, walk, budget)
    }

    /// How many pages from `first` (at most `count`) [`Family::clear_for_commit`] readies
    /// in this lock hold, within one step's budget: a page whose entries the rest of it
    /// cannot take away ends the run, and is walked in the steps that follow (the first
    /// page of a run, whose walk may then hold faults off; until it is done the run is
    /// empty).
    pub(super) fn clear_run_for_commit(
        &mut self,
        id: NodeId,
        first: u64,
        count: usize,
        walk: &mut PageWalk,
    ) -> usize {
        let mut budget = StepBudget::new();
        let mut ready = 0;
        while ready < count && self.clear_for_commit(id, first + ready as u64, walk, &mut budget) {
            ready += 1;
        }
        ready
    }

    /// [`Family::commit`] of a page `id` is known not to hold; `cleared`: no entry shows what
    /// the page showed until now ([`Family::clear_for_commit`]), else they are all taken
    /// away here at once.
    pub(super) fn commit_absent(
        &mut self,
        id: NodeId,
        index: u64,
        batch: &mut FrameBatch,
        cleared: bool,
    ) -> FrameAddr {
        let frame = batch.take().expect("prepare counted every page to commit");
        // A node that looks through to no other shows zeroes where it holds no page.
        let source = match self.node(id).link {
            None => None,
            Some(_) => self.resolve(id, index),
        };
        // The page copied from a dead ancestor is charged to the first node that sees it. If
        // that is another node, it keeps seeing it (this node's copy hides the page only from
        // what reads through this node): nothing to free or hand on. If it is this node, the
        // charge passes to the next node that sees the page, or the page goes.
        let source_charge = match source {
            Some(Found::Page { owner, index, .. })
                if owner != id && !self.node(owner).alive_at(index) =>
            {
                Some((owner, index, self.charged_below_now(owner, index)))
            }
            _ => None,
        };
        match source {
            Some(Found::Page { frame: src, .. }) => self.frames.copy_page(frame, src),
            _ => self.frames.zero(frame),
        }
        // Pages are committed only through an alive VMO (or a slice, which keeps its
        // target alive): the new page is charged to this node.
        let node = self.node_mut(id);
        debug_assert!(node.alive(), "commit into dead node {id}");
        node.pages.insert(index, frame);
        node.charged.set(node.charged.get() + 1);
        // Mappings of this node and of everything that looks through it showed the old page,
        // unless no mapping ever showed a page its node does not own. They go before the old
        // page may be freed.
        if !cleared && (self.shared_ptes || self.snapshots_stepping != 0) {
            self.unmap_everywhere(id, index, index + 1);
        }
        if let Some((owner, owner_index, charged)) = source_charge {
            if charged == Some(id) {
                self.uncharge(id, 1);
                match self.charged_below_now(owner, owner_index) {
                    Some(next) => self.charge(next, 1),
                    None => {
                        if let Some(frame) = self.node_mut(owner).pages.remove(owner_index) {
                            self.frames.free(frame);
                        }
                    }
                }
            } else if charged.is_none() {
                self.release_if_unseen(owner, owner_index);
            }
        }
        frame
    }

    /// Fills `out` with the node's own frames for pages `first..`, in one ordered pass, if
    /// it holds every one of them (then nothing needs committing); false otherwise, with
    /// `out` partly written.
    pub(super) fn owned_frames(&self, id: NodeId, first: u64, out: &mut [FrameAddr]) -> bool {
        self.node(id).pages.get_run(first, out, 0) == out.len()
    }

    /// Frees page `index` of `id` if no node can see it any more.
    fn release_if_unseen(&mut self, id: NodeId, index: u64) {
        if self.node(id).alive_at(index) || self.seen_below(id, index, Assume::Nothing) {
            return;
        }
        if let Some(frame) = self.node_mut(id).pages.remove(index) {
            self.frames.free(frame);
        }
    }

    /// Whether node `id` counts as alive at its page `index` under `assume`.
    fn alive_as(&self, id: NodeId, index: u64, assume: Assume) -> bool {
        assume == Assume::Alive(id) || self.node(id).alive_at(index)
    }

    /// Page `k` of child `child` when it reads page `index` of its parent through its link
    /// (and does not hide it with a page or a zero of its own); `None` when it does not, or
    /// `assume` makes it blind.
    fn child_view(&self, child: NodeId, index: u64, assume: Assume) -> Option<u64> {
        if assume == Assume::Blind(child) {
            return None;
        }
        let node = self.node(child);
        let link = node.link?;
        let k = index.checked_sub(link.offset)?;
        (k < link.limit && !node.shadows(k)).then_some(k)
    }

    /// Whether any node below `id` (through links), alive under `assume`, reads page `index`
    /// of `id`.
    fn seen_below(&self, id: NodeId, index: u64, assume: Assume) -> bool {
        // Usually a child or two alive right below: answer that without the stack. The walk
        // (a function of its own, so that this check stays light) covers deeper and dead
        // children.
        for &child in &self.node(id).children {
            if let Some(k) = self.child_view(child, index, assume) {
                if self.alive_as(child, k, assume) {
                    return true;
                }
            }
        }
        self.seen_deeper(id, index, assume)
    }

    /// [`Family::seen_below`] through every level.
    #[inline(never)]
    fn seen_deeper(&self, id: NodeId, index: u64, assume: Assume) -> bool {
        let mut stack: Vec<(NodeId, u64)> = Vec::new();
        stack.push((id, index));
        while let Some((parent, parent_index)) = stack.pop() {
            for &child in &self.node(parent).children {
                let Some(k) = self.child_view(child, parent_index, assume) else {
                    continue;
                };
                if self.alive_as(child, k, assume) {
                    return true;
                }
                stack.push((child, k));
            }
        }
        false
    }

    /// The node page `index` held by `id` is charged to, under `assume`: `id` if alive, else
    /// the first child (in child order) through which an alive node still sees the page, one
    /// level at a time. `None` when no alive node sees it.
    pub(super) fn charged_to(&self, id: NodeId, index: u64, assume: Assume) -> Option<NodeId> {
        if self.alive_as(id, index, assume) {
            return Some(id);
        }
        self.charged_below(id, index, assume)
    }

    /// [`Family::charged_below`] with nothing assumed, answered inline in the common case of
    /// a write after a snapshot: the hidden node's first child is alive and sees the page.
    #[inline(always)]
    fn charged_below_now(&self, id: NodeId, index: u64) -> Option<NodeId> {
        if let Some(&first) = self.node(id).children.first() {
            let node = self.node(first);
            if let Some(link) = node.link {
                if let Some(k) = index.checked_sub(link.offset) {
                    if k < link.limit && !node.shadows(k) && node.alive_at(k) {
                        return Some(first);
                    }
                }
            }
        }
        self.charged_below(id, index, Assume::Nothing)
    }

    /// [`Family::charged_to`] for a node that is not alive under `assume`.
    ///
    /// The rule (the first child in order that sees the page, going down one level at a time
    /// into a dead child only while something alive below it sees the page) picks the first
    /// alive node met by a depth-first walk, in child order, of the nodes that see the page:
    /// one walk, O(nodes seeing the page), where asking "seen below?" at each level would
    /// cost O(depth) per level of a deep chain of snapshots.
    fn charged_below(&self, id: NodeId, index: u64, assume: Assume) -> Option<NodeId> {
        let mut stack: Vec<(NodeId, u64)> = Vec::new();
        let (mut id, mut index) = (id, index);
        loop {
            // Children go on the stack last first, so that the first child is walked first.
            for &child in self.node(id).children.iter().rev() {
                if let Some(k) = self.child_view(child, index, assume) {
                    stack.push((child, k));
                }
            }
            let (next, k) = stack.pop()?;
            if self.alive_as(next, k, assume) {
                return Some(next);
            }
            (id, index) = (next, k);
        }
    }

    fn charge(&self, id: NodeId, pages: u64) {
        let charged = &self.node(id).charged;
        charged.set(charged.get() + pages);
    }

    pub(super) fn uncharge(&self, id: NodeId, pages: u64) {
        let charged = &self.node(id).charged;
        debug_assert!(charged.get() >= pages, "node {id} charged for fewer pages");
        charged.set(charged.get().saturating_sub(pages));
    }

    /// Whether pages of `id`'s ancestors may be charged to `id`: it is charged for more than
    /// the pages it holds. Alive nodes only (a dead node's charges are handed on at once).
    fn charged_for_ancestors(&self, id: NodeId) -> bool {
        let node = self.node(id);
        node.charged.get() > node.pages.len() as u64
    }

    /// Moves the charges for the ancestors' pages that `id` sees through its window
    /// `first..end` (`link` is `id`'s link) and that are charged to `id` under `before`, to
    /// the node each is charged to under `after` (none: nobody will see it, and the sweep
    /// that follows frees it). Only dead ancestors are walked: an alive one is charged for
    /// what it holds and hides what lies above. Costs O(pages those ancestors hold in the
    /// window), like the sweep.
    fn hand_on_ancestor_charges(
        &self,
        id: NodeId,
        link: Option<Link>,
        window: (u64, u64),
        before: Assume,
        after: Assume,
    ) {
        let (mut link, (mut first, mut end)) = (link, window);
        while let Some(l) = link {
            let end_in_window = end.min(l.limit);
            if first >= end_in_window {
                return;
            }
            let parent = self.node(l.parent);
            let parent_first = first + l.offset;
            let parent_end = parent.dead_part_end(end_in_window + l.offset);
            if parent_first >= parent_end {
                return;
            }
            for (index, _) in parent.pages.range(parent_first..parent_end) {
                if self.charged_to(l.parent, index, before) == Some(id) {
                    self.uncharge(id, 1);
                    if let Some(next) = self.charged_to(l.parent, index, after) {
                        self.charge(next, 1);
                    }
                }
            }
            link = parent.link;
            first = parent_first;
            end = parent_end;
        }
    }

    /// Before alive node `id` stops seeing pages `first..end` through its link (it zeroes
    /// them or shrinks past them): the ancestors' pages there that are charged to it pass to
    /// the next node that sees each.
    pub(super) fn stop_seeing(&self, id: NodeId, first: u64, end: u64) {
        if self.charged_for_ancestors(id) {
            let link = self.node(id).link;
            self.hand_on_ancestor_charges(
                id,
                link,
                (first, end),
                Assume::Nothing,
                Assume::Blind(id),
            );
        }
    }

    /// After `id` died: everything charged to it passes to the nodes that still see it. Its
    /// own pages go to its children (all at once in the common case of one alive child that
    /// sees them all); the ancestors' pages it was charged for, to the next node that sees
    /// each.
    #[inline(never)]
    fn hand_on_charges(&self, id: NodeId) {
        let node = self.node(id);
        let own = node.pages.len() as u64;
        if node.charged.get() > own {
            let sibling = if node.children.is_empty() {
                self.sibling_sees_all(id)
            } else {
                None
            };
            if let Some(sibling) = sibling {
                // Every ancestor page charged to `id` is seen by its only sibling, the next
                // in line: the charges move over whole.
                let ancestors = node.charged.get() - own;
                self.uncharge(id, ancestors);
                self.charge(sibling, ancestors);
            } else {
                let window = node.link.map_or(0, |l| l.limit);
                self.hand_on_ancestor_charges(
                    id,
                    node.link,
                    (0, window),
                    Assume::Alive(id),
                    Assume::Nothing,
                );
            }
        }
        self.uncharge(id, own);
        debug_assert_eq!(node.charged.get(), 0, "node {id}: charges left behind");
        if own == 0 || node.children.is_empty() {
            return;
        }
        if let Some(child) = self.only_child_sees_all(id) {
            self.charge(child, own);
            return;
        }
        for (index, _) in node.pages.iter() {
            if let Some(next) = self.charged_to(id, index, Assume::Nothing) {
                self.charge(next, 1);
            }
        }
    }

    /// Frees ancestors' pages that `id`'s window `first..end` made visible and that nobody
    /// can see any more, walking up through dead ancestors. `link` is `id`'s link as it was.
    pub(super) fn sweep_ancestors(&mut self, link: Option<Link>, first: u64, end: u64) {
        let (mut link, mut first, mut end) = (link, first, end);
        while let Some(l) = link {
            let end_in_window = end.min(l.limit);
            if first >= end_in_window {
                return;
            }
            let parent_first = first + l.offset;
            let parent_end = self.node(l.parent).dead_part_end(end_in_window + l.offset);
            if parent_first >= parent_end {
                return;
            }
            let indices: Vec<u64> = self
                .node(l.parent)
                .pages
                .range(parent_first..parent_end)
                .map(|(index, _)| index)
                .collect();
            for index in indices {
                if !self.seen_below(l.parent, index, Assume::Nothing) {
                    if let Some(frame) = self.node_mut(l.parent).pages.remove(index) {
                        self.frames.free(frame);
                    }
                }
            }
            link = self.node(l.parent).link;
            first = parent_first;
            end = parent_end;
        }
    }

    /// Tells the mappings of `id`, of its slices and of every node reading through it that
    /// pages `first..end` of `id` changed.
    fn unmap_everywhere(&self, id: NodeId, first: u64, end: u64) {
        let mut stack: Vec<(NodeId, u64, u64)> = Vec::new();
        stack.push((id, first, end));
        while let Some((node_id, first, end)) = stack.pop() {
            let node = self.node(node_id);
            notify(&node.mappings, first, end);
            for &slice in &node.slices {
                let slice_node = self.node(slice);
                let (_, offset) = slice_node.slice_of.expect("slice");
                let start = first.max(offset);
                let stop = end.min(offset + slice_node.size);
                if start < stop {
                    notify(&slice_node.mappings, start - offset, stop - offset);
                }
            }
            for &child in &node.children {
                let Some(link) = self.node(child).link else {
                    continue;
                };
                let start = first.max(link.offset);
                let stop = end.min(link.offset.saturating_add(link.limit));
                if start < stop {
                    stack.push((child, start - link.offset, stop - link.offset));
                }
            }
        }
    }

    /// [`Family::unmap_everywhere`] of pages `first..end` of `id` in part: the entries of
    /// about [`UNMAP_WORK`] of page-table work over all the mappings of the range (as
    /// [`crate::vmar::AddressSpace::unmap_bounded`] counts it: a table that exists is a
    /// table's work, a span without one next to nothing). From the bottom, returns the page
    /// below which no mapping shows any of the range any more, at or above `first`; from the
    /// top (`from_top`), above which, at or below `end`. `past_limits`: the children's windows
    /// are taken as reaching as far up as the range (a shrink clamped them before their
    /// entries went; entries of a child's own pages taken too are only faulted in again).
    ///
    /// Where more mappings show the range than a step visits (a page mapped 100,000 times),
    /// its first (last) [`WALK_PAGES`] are walked in steps of their own, which `walk` carries
    /// from one to the next; until they are done the call returns `first` (`end`).
    /// `hold_faults`: the caller is about to free or replace what those pages show, so faults
    /// in the family wait while the walk is partway ([`Family::faults_held`]); without it a
    /// mapping the walk passed may show them again, which only a caller to whom that is
    /// harmless may allow (a shrink: nothing maps pages past the size; a snapshot: a write
    /// through a passed mapping copies first).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn unmap_some(
        &mut self,
        id: NodeId,
        first: u64,
        end: u64,
        from_top: bool,
        past_limits: bool,
        hold_faults: bool,
        walk: &mut PageWalk,
    ) -> u64 {
        let (all, none, walked) = if from_top {
            (first, end, (end.saturating_sub(WALK_PAGES).max(first), end))
        } else {
            (end, first, (first, end.min(first + WALK_PAGES)))
        };
        // Nothing can show the range (a snapshot or DECOMMIT of an unmapped VMO): no walk.
        let node = self.node(id);
        if node.mappings.is_empty() && node.slices.is_empty() && node.children.is_empty() {
            self.end_walk(walk);
            return all;
        }
        if walk.range == Some((id, walked.0, walked.1)) {
            let mut budget = StepBudget::new();
            if !self.clear_range_step(id, walked, past_limits, hold_faults, walk, &mut budget) {
                return none;
            }
            return if from_top { walked.0 } else { walked.1 };
        }
        // A walk left from a range that moved (a shrink undone by a grow) starts afresh.
        self.end_walk(walk);
        let mut budget = StepBudget::new();
        let reached =
            self.unmap_everywhere_bounded(id, first, end, &mut budget, from_top, past_limits);
        if reached != none {
            return reached;
        }
        // Not even the first pages: more mappings show them than a step visits. Walk them in
        // steps of their own, from the next step on.
        walk.range = Some((id, walked.0, walked.1));
        none
    }

    /// One step of taking away every entry that shows pages `range` of `id` (at most
    /// [`WALK_PAGES`]; through `id`, its slices and every node that reads through it;
    /// `past_limits` as for [`Family::unmap_some`]): true when none is left. The first step
    /// visits them as [`Family::unmap_everywhere`] would, within `budget` (nearly always
    /// enough); the next ones resume where the one before stopped ([`PageWalk`]), each with
    /// a step's work of its own. `hold_faults` as for `unmap_some`: faults in the family wait
    /// from the end of the first step that leaves the walk partway.
    fn clear_range_step(
        &mut self,
        id: NodeId,
        range: (u64, u64),
        past_limits: bool,
        hold_faults: bool,
        walk: &mut PageWalk,
        budget: &mut StepBudget,
    ) -> bool {
        let (first, end) = range;
        if walk.range != Some((id, first, end)) {
            self.end_walk(walk);
            if self.unmap_everywhere_bounded(id, first, end, budget, false, past_limits) == end {
                return true;
            }
            // Mappings this step passed may show the pages again before the next step: the
            // walk starts there from its beginning.
            walk.range = Some((id, first, end));
            return false;
        }
        let mut work = UNMAP_WORK;
        if self.range_walk_step(id, range, past_limits, walk, &mut work) {
            self.end_walk(walk);
            return true;
        }
        if hold_faults {
            self.hold_faults(walk);
        }
        false
    }

    /// Holds the family's faults off for the operation that owns `walk` (see
    /// [`Family::faults_held`]) until [`Family::release_faults`].
    pub(super) fn hold_faults(&mut self, walk: &mut PageWalk) {
        if !walk.holding {
            self.faults_held += 1;
            walk.holding = true;
        }
    }

    /// Of ZERO's partial pages of `id` ([`partial_pages`]), those that must be forked
    /// before their bytes are zeroed: zeroing part of a page is a write to it, so a page
    /// that shows an ancestor's frame gets its own. One that reads zero without a frame
    /// commits nothing: a zero marker keeps it zero (a clone's parent may write it later).
    pub(super) fn partial_pages_to_fork(&self, id: NodeId, partial: &PartialPages) -> Vec<u64> {
        partial
            .iter()
            .flatten()
            .map(|&(page, _, _)| page)
            .filter(|&page| !self.owns_frame(id, page) && self.frame_at(id, page).is_some())
            .collect()
    }

    /// Ends `walk` (done or given up). Faults it held off stay held: the pages it cleared
    /// are not replaced or freed yet ([`Family::release_faults`]).
    pub(super) fn end_walk(&mut self, walk: &mut PageWalk) {
        walk.range = None;
        walk.next = (0, 0);
    }

    /// Lets faults go on if `walk` held them off, unless it is partway (its next step
    /// resumes after mappings a fault could show its pages through again). The operation
    /// calls it once it has replaced or freed what its walks cleared.
    pub(super) fn release_faults(&mut self, walk: &mut PageWalk) {
        if walk.holding && (walk.range.is_none() || walk.next == (0, 0)) {
            self.faults_held -= 1;
            walk.holding = false;
        }
    }

    /// Visits, within `work`, the mappings that show pages `range` of `id` from where
    /// `walk` stopped, in the walk's order: nodes by id, each node's mappings by
    /// registration id. True when all are visited. The order survives the lock being let go
    /// between two steps: a registration made meanwhile has a larger id than every one
    /// before it, so in a node the walk has not finished it is still ahead; one in a node
    /// already walked (or a node made meanwhile, which may take a smaller id) shows nothing
    /// the walk took away, since faults were held off or cannot bring it back, and a piece
    /// split off a mapping keeps only the entries the mapping still had. Nodes and mappings
    /// that went need no visit.
    fn range_walk_step(
        &self,
        id: NodeId,
        range: (u64, u64),
        past_limits: bool,
        walk: &mut PageWalk,
        work: &mut usize,
    ) -> bool {
        let visit_work = PAGE_VISIT_WORK;
        let mut batches = TlbBatches::default();
        let mut showing = self.nodes_showing(id, range, past_limits);
        showing.sort_unstable();
        for (node_id, first, end) in showing {
            if node_id < walk.next.0 {
                continue;
            }
            let from = if node_id == walk.next.0 {
                walk.next.1
            } else {
                0
            };
            let mappings = &self.node(node_id).mappings;
            for (&registration, entry) in mappings.by_id.range(from..) {
                if *work == 0 {
                    walk.next = (node_id, registration);
                    return false;
                }
                if entry.first >= end || entry.end <= first {
                    *work -= 1;
                    continue;
                }
                *work = work.saturating_sub(visit_work);
                let observer = mappings.by_range.payload(&(entry.first, registration));
                if let Some(observer) = observer.and_then(Weak::upgrade) {
                    batches.join(&observer);
                    observer.unmap_target_range(first << PAGE_SHIFT, (end - first) << PAGE_SHIFT);
                }
            }
            walk.next = (node_id + 1, 0);
        }
        true
    }

    /// The nodes whose mappings may show pages `range` of `id`, each with those pages in
    /// its own: `id`, its slices, and every node reading through it (`past_limits` as for
    /// [`Family::unmap_some`]). At most the family's nodes ([`MAX_FAMILY_NODES`]).
    fn nodes_showing(
        &self,
        id: NodeId,
        range: (u64, u64),
        past_limits: bool,
    ) -> Vec<(NodeId, u64, u64)> {
        let mut found = Vec::new();
        let mut stack = alloc::vec![(id, range.0, range.1)];
        while let Some((node_id, first, end)) = stack.pop() {
            found.push((node_id, first, end));
            let node = self.node(node_id);
            for &s in &node.slices {
                let slice_node = self.node(s);
                let (_, offset) = slice_node.slice_of.expect("slice");
                let start = first.max(offset);
                let stop = end.min(offset.saturating_add(slice_node.size));
                if start < stop {
                    found.push((s, start - offset, stop - offset));
                }
            }
            for &child in &node.children {
                let Some(link) = self.node(child).link else {
                    continue;
                };
                let limit = if past_limits { u64::MAX } else { link.limit };
                let start = first.max(link.offset);
                let stop = end.min(link.offset.saturating_add(limit));
                if start < stop {
                    stack.push((child, start - link.offset, stop - link.offset));
                }
            }
        }
        found
    }

    /// The walk of [`Family::unmap_some`], within `budget`.
    fn unmap_everywhere_bounded(
        &self,
        id: NodeId,
        first: u64,
        end: u64,
        budget: &mut StepBudget,
        from_top: bool,
        past_limits: bool,
    ) -> u64 {
        // What is done, in `id`'s pages: the walk narrows the range to it as it goes, so
        // that a mapping visited later unmaps only what all those before it did.
        let mut reach = if from_top { first } else { end };
        let mut batches = TlbBatches::default();
        // (node, the part `lo..hi` of `id`'s pages it may show, its page at `lo`, whether
        // it is a slice: mappings only).
        let mut stack: Vec<(NodeId, u64, u64, u64, bool)> = Vec::new();
        stack.push((id, first, end, first, false));
        while let Some((node_id, lo, hi, node_lo, slice)) = stack.pop() {
            let (a, b) = if from_top {
                (lo.max(reach), hi)
            } else {
                (lo, hi.min(reach))
            };
            if a >= b {
                continue;
            }
            let node = self.node(node_id);
            let done = notify_bounded(
                &node.mappings,
                node_lo + (a - lo),
                node_lo + (b - lo),
                budget,
                &mut batches,
                from_top,
            );
            // All of `a..b` done says nothing about pages beyond, which this node's
            // mappings do not show.
            let done = lo + (done - node_lo);
            if from_top && done > a {
                reach = reach.max(done);
            } else if !from_top && done < b {
                reach = reach.min(done);
            }
            if slice {
                continue;
            }
            let node_hi = node_lo + (hi - lo);
            for &s in &node.slices {
                let slice_node = self.node(s);
                let (_, offset) = slice_node.slice_of.expect("slice");
                let start = node_lo.max(offset);
                let stop = node_hi.min(offset.saturating_add(slice_node.size));
                if start < stop {
                    stack.push((
                        s,
                        lo + (start - node_lo),
                        lo + (stop - node_lo),
                        start - offset,
                        true,
                    ));
                }
            }
            for &child in &node.children {
                let Some(link) = self.node(child).link else {
                    continue;
                };
                let limit = if past_limits { u64::MAX } else { link.limit };
                let start = node_lo.max(link.offset);
                let stop = node_hi.min(link.offset.saturating_add(limit));
                if start < stop {
                    stack.push((
                        child,
                        lo + (start - node_lo),
                        lo + (stop - node_lo),
                        start - link.offset,
                        false,
                    ));
                }
            }
        }
        reach
    }

    /// One step of taking away the entries of pages a shrink dropped ([`Node::mapped_below`]),
    /// from the top; true while some remain.
    /// The check is inlined: settling and snapshotting a node no shrink left entries to
    /// (nearly all) pays no call.
    #[inline(always)]
    fn unmap_stale_chunk(&mut self, id: NodeId) -> bool {
        let node = self.node(id);
        node.mapped_below > node.size && self.unmap_stale_step(id)
    }

    /// [`Family::unmap_stale_chunk`] once some entries remain.
    #[inline(never)]
    fn unmap_stale_step(&mut self, id: NodeId) -> bool {
        let node = self.node(id);
        let (size, below) = (node.size, node.mapped_below);
        let mut walk = core::mem::take(&mut self.node_mut(id).stale_walk);
        let reached = self.unmap_some(id, size, below, true, true, false, &mut walk);
        let node = self.node_mut(id);
        node.mapped_below = reached;
        node.stale_walk = walk;
        reached > size
    }

    fn free_frame(&self, frame: FrameAddr) {
        self.frames.free(frame);
    }

    /// After `id` may have stopped being alive: remove it (no children), merge it into its
    /// only child, or keep it as a branch point; in every case free the pages that nobody can
    /// see any more, here and in dead ancestors. Parents left dead and childless go too (a
    /// loop, not recursion).
    #[inline(always)]
    fn settle(&mut self, id: NodeId) {
        self.settle_from(id, false);
    }

    /// [`Family::settle`]; `let_go` when `id` already let go of everything it held and saw,
    /// in chunks ([`Family::let_go_chunk`]): nothing it held or saw needs a walk.
    #[inline(always)]
    fn settle_from(&mut self, id: NodeId, let_go: bool) {
        // Entries a shrink left go before anything frees what they show (in one go only
        // where the work could not be left for later: no preemption, no memory).
        let node = self.node(id);
        if node.mapped_below > node.size && !node.alive() {
            while self.unmap_stale_chunk(id) {}
        }
        let mut current = id;
        // Whether `current` is a dead parent whose child just went: that child's sweep
        // already freed whatever its going left unseen here and above, so nothing needs a
        // walk of this node's pages again.
        let mut child_swept = let_go;
        // Whether `current` let go of its window already (the first node only).
        let mut window_swept = let_go;
        loop {
            let node = self.node(current);
            if node.alive() {
                return;
            }
            // First, while the family is as it was: whatever it was charged for passes on
            // (merges and removals below keep every other charge where it is).
            if node.charged.get() != 0 {
                self.hand_on_charges(current);
            }
            if let Some((target, _)) = node.slice_of {
                self.discard(current);
                self.node_mut(target).slices.retain(|&s| s != current);
                // The VMO it forwarded to may have been kept only by its slices.
                self.die(target);
                return;
            }
            let link = node.link;
            // The part of the parent this node could see.
            let window = link.map_or(0, |l| l.limit);
            match node.children.len() {
                0 => {
                    // Nothing it saw goes unseen when its only sibling sees all of it (a
                    // snapshot closed before either side wrote there): no walk.
                    let seen_by_sibling = window_swept
                        || (link.is_some() && self.sibling_sees_all(current).is_some());
                    self.discard(current);
                    let Some(link) = link else { return };
                    self.node_mut(link.parent)
                        .children
                        .retain(|&c| c != current);
                    if !seen_by_sibling {
                        self.sweep_ancestors(Some(link), 0, window);
                    }
                    current = link.parent;
                    child_swept = true;
                    window_swept = false;
                }
                1 => {
                    if !child_swept {
                        self.sweep_ancestors(link, 0, window);
                    }
                    if preempt::enabled()
                        && self.merge_cost(current) > self.defer_above
                        && self.deferred.try_reserve(1).is_ok()
                    {
                        if !self.node(current).merge_pending {
                            self.node_mut(current).merge_pending = true;
                            self.deferred.push(current);
                        }
                        return;
                    }
                    self.merge_into_child(current);
                    return;
                }
                _ => {
                    if !child_swept {
                        let indices: Vec<u64> = node.pages.keys().collect();
                        for index in indices {
                            self.release_if_unseen(current, index);
                        }
                        self.sweep_ancestors(link, 0, window);
                    }
                    return;
                }
            }
        }
    }

    /// Node `id`'s VMO is gone (no handles or mappings left; live slices still keep the node
    /// alive). Settles it now, or,
    /// when letting go of what it saw would be long work (a node under a hidden node with
    /// many pages: a closed snapshot, or an original closed while it has snapshots), marks
    /// it closing and leaves the work for later, to be done in chunks. A node with children
    /// goes to [`Family::die_with_children`].
    #[inline(always)]
    pub(super) fn die(&mut self, id: NodeId) {
        let node = self.node(id);
        if !node.children.is_empty() {
            self.die_with_children(id);
            return;
        }
        let mut node = node;
        if node.mapped_below != 0 && !node.alive() {
            // Entries left by a shrink could only be in its own mappings: gone.
            self.node_mut(id).mapped_below = 0;
            node = self.node(id);
        }
        // A first VMO (no link) is settled at once: its pages go to `DEAD_PAGES` whole.
        let long = node.link.is_some_and(|link| {
            preempt::enabled()
                && !node.alive()
                && node.slice_of.is_none()
                && self.sibling_sees_all(id).is_none()
                && self.window_holds_more_than(link, self.defer_above)
        });
        if !long || self.deferred.try_reserve(1).is_err() {
            self.settle(id);
            return;
        }
        let node = self.node_mut(id);
        node.closing = true;
        node.size = 0;
        self.deferred.push(id);
    }

    /// [`Family::die`] of a node that children read through (a clone, snapshot or first VMO
    /// with clones of its own). Settles it now, or, when letting go of what it held and saw
    /// would be long work (its charges pass on page by page and what nobody sees goes: a walk
    /// of its pages and of the dead ancestors' pages in its window), marks it letting go and
    /// leaves the work for later, in chunks ([`Family::let_go_chunk`]).
    #[inline(never)]
    fn die_with_children(&mut self, id: NodeId) {
        let node = self.node(id);
        // Entries a shrink left in the children's mappings go first, in steps.
        let long = preempt::enabled()
            && !node.alive()
            && node.slice_of.is_none()
            && (node.mapped_below > node.size || self.letting_go_is_long(id));
        if !long || self.deferred.try_reserve(1).is_err() {
            self.settle(id);
            return;
        }
        let node = self.node_mut(id);
        node.closing = true;
        node.letting_go = true;
        node.dead_below = 0;
        self.deferred.push(id);
    }

    /// Whether settling dead node `id`, which has children, walks more than `defer_above`
    /// pages: its own (unless its only child sees them all as they are, when their charges
    /// move whole) and the dead ancestors' in its window.
    fn letting_go_is_long(&self, id: NodeId) -> bool {
        let node = self.node(id);
        let most = self.defer_above;
        let own = if self.only_child_sees_all(id).is_some() {
            0
        } else {
            node.pages.len()
        };
        if own > most {
            return true;
        }
        node.link
            .is_some_and(|link| self.window_holds_more_than(link, most - own))
    }

    /// The only child of `id`, if it is alive at every page, holds and zeroes nothing and
    /// sees every page `id` holds at the same index: then `id`'s pages pass to it whole.
    fn only_child_sees_all(&self, id: NodeId) -> Option<NodeId> {
        let node = self.node(id);
        let [child] = node.children[..] else {
            return None;
        };
        let child_node = self.node(child);
        let sees_all = child_node.alive_everywhere()
            && child_node.pages.is_empty()
            && child_node.zeroed.is_empty()
            && child_node.link.is_some_and(|l| {
                l.offset == 0
                    && node
                        .pages
                        .last_key_value()
                        .is_none_or(|(last, _)| last < l.limit)
            });
        sees_all.then_some(child)
    }

    /// One chunk of letting go of what node `id` (dead to its VMO, read through by children)
    /// held and saw, from page `dead_below` up: the pages of at most about
    /// [`preempt::CHUNK_PAGES`] pages of it and of the dead ancestors it sees through there
    /// become dead. Their charges pass to the next node that sees each, and those nobody sees
    /// go. Once every page is dead, the node settles as any dead node (its walks done: it
    /// is merged into an only child, or kept as a branch point, or removed). True while work
    /// remains.
    ///
    /// Between two chunks the family is whole: the node counts as alive at its pages from
    /// `dead_below` on (charged for them, and for the ancestors' pages it sees first there)
    /// and as dead below (the walks up through dead ancestors stop at `dead_below`). Nothing
    /// it holds or sees changes, so every VMO reads what it read.
    fn let_go_chunk(&mut self, id: NodeId) -> bool {
        // A shrink it had not finished goes first, while it counts as alive everywhere.
        if self.node(id).dead_below == 0 && self.shrink_chunk(id) {
            return true;
        }
        let node = self.node(id);
        let first = node.dead_below;
        let link = node.link;
        let end = node
            .pages
            .last_key_value()
            .map_or(0, |(last, _)| last + 1)
            .max(link.map_or(0, |l| l.limit));
        if first >= end {
            let node = self.node_mut(id);
            node.closing = false;
            node.letting_go = false;
            node.dead_below = 0;
            debug_assert_eq!(node.charged.get(), 0, "node {id}: charges left behind");
            self.deferred.retain(|&d| d != id);
            self.settle_from(id, true);
            return false;
        }
        // The chunk: `first..stop`, over which its own pages and the dead ancestors' pages
        // in its window number at most a chunk (at least its first page index: through each
        // level at most one page). Tests that lower `defer_above` get smaller chunks.
        let budget = self.defer_above.min(preempt::CHUNK_PAGES);
        let mut levels = 1usize;
        if let Some(link) = link {
            self.for_dead_ancestors_in_window(link, first, end, |_, _, _| levels += 1);
        }
        // Each level gets its share: at most that many of its pages in the chunk. Finding
        // who sees one of its pages next looks at each of its children: with many, fewer
        // pages make a chunk (a clone read by a thousand one-page clones took 1.2 ms of
        // guest time a chunk of 64 pages).
        let lookups = node.children.len().div_ceil(CHILDREN_PER_LOOKUP).max(1);
        let share = (budget / levels / lookups).max(1);
        let mut stop = node.pages.chunk_end(first, end, share);
        if let Some(link) = link {
            self.for_dead_ancestors_in_window(link, first, end, |pages, shift, hi| {
                let hi = hi.min(stop);
                if first < hi {
                    let (lo, hi) = (first.saturating_add(shift), hi.saturating_add(shift));
                    let cut = pages.chunk_end(lo, hi, share);
                    if cut < hi {
                        stop = stop.min(cut - shift);
                    }
                }
            });
        }
        let stop = stop.max(first + 1);
        self.node_mut(id).dead_below = stop;
        // The ancestors' pages first, while its own pages still hide what they hide: those
        // charged to it pass on, those nobody sees any more go.
        self.hand_on_ancestor_charges(id, link, (first, stop), Assume::Alive(id), Assume::Nothing);
        self.sweep_ancestors(link, first, stop);
        // Its own pages there: each passes to the first node below that sees it, or goes.
        // Freeing one shows nobody what lies under it (nothing alive reads through it there).
        // At most `share` of them (no more than a chunk): `stop` is at or below the end of
        // their first `share`.
        let mut unseen = [0u64; preempt::CHUNK_PAGES];
        let mut count = 0;
        for (index, _) in self.node(id).pages.range(first..stop) {
            self.uncharge(id, 1);
            match self.charged_below(id, index, Assume::Nothing) {
                Some(next) => self.charge(next, 1),
                None => {
                    if let Some(slot) = unseen.get_mut(count) {
                        *slot = index;
                        count += 1;
                    }
                }
            }
        }
        for &index in &unseen[..count] {
            if let Some(frame) = self.node_mut(id).pages.remove(index) {
                self.frames.free(frame);
            }
        }
        true
    }

    /// The alive sibling of childless node `id` that sees everything `id` sees, if there is
    /// one: `id`'s parent is dead with just the two of them as children, and the sibling's
    /// window covers `id`'s with nothing of its own (pages, zero markers) in it. Then `id`
    /// going leaves nothing unseen, and its charges for ancestor pages are the sibling's
    /// next. O(log) in the sibling's page map.
    fn sibling_sees_all(&self, id: NodeId) -> Option<NodeId> {
        let link = self.node(id).link?;
        let parent = self.node(link.parent);
        let [first, second] = parent.children[..] else {
            return None;
        };
        if parent.alive() {
            return None;
        }
        let sibling_id = if first == id { second } else { first };
        let sibling = self.node(sibling_id);
        let theirs = sibling.link?;
        // `id`'s window in the parent, and the sibling's page indices for it.
        let end = link.offset.checked_add(link.limit)?;
        let first_there = link.offset.checked_sub(theirs.offset)?;
        let end_there = end - theirs.offset;
        if !sibling.alive_everywhere() || end_there > theirs.limit {
            return None;
        }
        let hides = sibling.pages.range(first_there..end_there).next().is_some()
            || sibling
                .zeroed
                .range(..end_there)
                .next_back()
                .is_some_and(|(_, &zero_end)| zero_end > first_there);
        (!hides).then_some(sibling_id)
    }

    /// Whether the dead ancestors seen through `link`'s window hold more than `most` pages
    /// there (counting at most `most + 1` of them).
    fn window_holds_more_than(&self, link: Link, most: usize) -> bool {
        let mut seen = 0usize;
        self.for_dead_ancestors_in_window(link, 0, link.limit, |pages, shift, end| {
            if seen <= most {
                seen += pages
                    .range(shift..end.saturating_add(shift))
                    .take(most + 1 - seen)
                    .count();
            }
        });
        seen > most
    }

    /// Pages [`Family::merge_into_child`] would walk to merge dead node `id` into its only
    /// child: none when the child sees all of it as it is, else the fewer of the two maps
    /// it may move.
    fn merge_cost(&self, id: NodeId) -> usize {
        let node = self.node(id);
        let Some(&child_id) = node.children.first() else {
            return 0;
        };
        let child = self.node(child_id);
        let Some(child_link) = child.link else {
            return 0;
        };
        let in_window = child.alive_everywhere()
            && child_link.offset == 0
            && node
                .pages
                .last_key_value()
                .is_none_or(|(last, _)| last < child_link.limit);
        if in_window && child.pages.is_empty() && child.zeroed.is_empty() {
            0
        } else if in_window {
            child.pages.len().min(node.pages.len())
        } else {
            node.pages.len()
        }
    }

    /// One chunk of the family's deferred work; true while some is left.
    pub(super) fn deferred_chunk(&mut self) -> bool {
        while let Some(&id) = self.deferred.first() {
            let node = self.node(id);
            if node.letting_go {
                return self.let_go_chunk(id) || !self.deferred.is_empty();
            }
            if node.closing {
                if self.shrink_chunk(id) {
                    return true;
                }
                // It sees nothing and holds nothing any more: it dies as any node does.
                self.node_mut(id).closing = false;
                self.deferred.remove(0);
                self.settle(id);
                return !self.deferred.is_empty();
            }
            if node.merge_pending {
                return self.merge_chunk(id) || !self.deferred.is_empty();
            }
            self.deferred.remove(0);
        }
        false
    }

    /// One chunk of merging dead node `id` into its only child: up to
    /// [`preempt::CHUNK_PAGES`] of its pages move into the child, or are freed where the
    /// child does not see them. Each move changes what nobody sees: whatever read the page
    /// through `id` reads it through the child, its only one, and is charged as before. Once
    /// what is left is small, the merge finishes at once. True while work remains.
    fn merge_chunk(&mut self, id: NodeId) -> bool {
        let node = self.node(id);
        if node.alive() || node.children.len() != 1 {
            // Nothing to merge any more.
            self.node_mut(id).merge_pending = false;
            self.deferred.retain(|&d| d != id);
            return false;
        }
        if self.merge_cost(id) <= preempt::CHUNK_PAGES {
            self.node_mut(id).merge_pending = false;
            self.deferred.retain(|&d| d != id);
            self.merge_into_child(id);
            return false;
        }
        let child_id = node.children[0];
        let child_link = self.node(child_id).link.expect("child links to its parent");
        let mut pages = core::mem::take(&mut self.node_mut(id).pages);
        let stop = pages.chunk_end(0, u64::MAX, preempt::CHUNK_PAGES);
        pages.remove_range(0, stop.saturating_sub(1), |index, frame| {
            let visible = index.checked_sub(child_link.offset).filter(|&k| {
                let child = self.node(child_id);
                k < child_link.limit
                    && !child.shadows(k)
                    && (child.alive_at(k) || self.seen_below(child_id, k, Assume::Nothing))
            });
            match visible {
                Some(k) => {
                    self.node_mut(child_id).pages.insert(k, frame);
                }
                None => self.frames.free(frame),
            }
        });
        self.node_mut(id).pages = pages;
        true
    }

    /// Moves the pages of dead node `id` that its only child can see into the child, frees
    /// the rest, and links the child to `id`'s parent.
    fn merge_into_child(&mut self, id: NodeId) {
        let mut removed = self.remove(id);
        let child_id = removed.children[0];
        let child_link = self.node(child_id).link.expect("child links to its parent");
        let child = self.node(child_id);
        // A dead child (a closed clone kept as the branch point of its own children, or one
        // still letting go of what it held) keeps only what it and its children still see:
        // the map moves over page by page.
        let child_alive = child.alive_everywhere();
        // The common case after a snapshot is closed: the child sees all of `id` at the same
        // offsets and holds nothing itself, so the page map moves over whole, in O(1).
        let whole = child_alive
            && child_link.offset == 0
            && child.pages.is_empty()
            && child.zeroed.is_empty()
            && removed
                .pages
                .last_key_value()
                .is_none_or(|(last, _)| last < child_link.limit);
        let in_window = child_alive
            && child_link.offset == 0
            && removed
                .pages
                .last_key_value()
                .is_none_or(|(last, _)| last < child_link.limit);
        if whole {
            self.node_mut(child_id).pages = core::mem::take(&mut removed.pages);
        } else if in_window && child.pages.len() < removed.pages.len() {
            // The child holds fewer pages than the parent (a snapshot closed after the
            // original wrote a few): its pages go into the parent's map, which becomes the
            // child's, rather than the parent's many into the child's. The parent's pages
            // the child hides (under its own pages or zero markers) are freed.
            let Family { nodes, frames, .. } = self;
            let child = nodes[child_id].as_mut().expect("live node id");
            let mut merged = core::mem::take(&mut removed.pages);
            for (&start, &end) in &child.zeroed {
                merged.remove_range(start, end - 1, |_, frame| frames.free(frame));
            }
            let mut own = core::mem::take(&mut child.pages);
            own.drain_each(|index, frame| {
                if let Some(hidden) = merged.insert(index, frame) {
                    frames.free(hidden);
                }
            });
            child.pages = merged;
        } else {
            // Each index comes once, so moving a page in does not change whether the child
            // shadows the next one.
            removed.pages.drain_each(|index, frame| {
                let visible = index.checked_sub(child_link.offset).filter(|&k| {
                    let child = self.node(child_id);
                    k < child_link.limit
                        && !child.shadows(k)
                        && (child.alive_at(k) || self.seen_below(child_id, k, Assume::Nothing))
                });
                match visible {
                    Some(k) => {
                        self.node_mut(child_id).pages.insert(k, frame);
                    }
                    None => self.free_frame(frame),
                }
            });
        }
        let child = self.node_mut(child_id);
        // The parent's zeroed ranges keep hiding what lies above them, within the window.
        let window_end = child_link.offset.saturating_add(child_link.limit);
        for (&start, &end) in &removed.zeroed {
            let (start, end) = (start.max(child_link.offset), end.min(window_end));
            if start < end {
                child.add_zeroed(start - child_link.offset, end - child_link.offset);
            }
        }
        child.link = removed.link.map(|parent_link| Link {
            parent: parent_link.parent,
            offset: child_link.offset + parent_link.offset,
            limit: child_link
                .limit
                .min(parent_link.limit.saturating_sub(child_link.offset)),
        });
        if let Some(parent_link) = removed.link {
            for c in &mut self.node_mut(parent_link.parent).children {
                if *c == id {
                    *c = child_id;
                }
            }
        }
    }

    /// One chunk of finishing a shrink of `id`: its window first, then its own pages and zero
    /// markers beyond the size. True while work remains. In this order because a page or a
    /// zero marker `id` holds beyond its size hides the ancestors' page there while the
    /// window still reaches it: gone first, it would show that page to `id`'s accounting,
    /// charged elsewhere or to nobody.
    pub(super) fn shrink_chunk(&mut self, id: NodeId) -> bool {
        self.unmap_stale_chunk(id) || self.narrow_window_chunk(id) || self.trim_chunk(id)
    }

    /// Drops the zero markers `id` holds beyond its size and frees up to
    /// [`preempt::CHUNK_PAGES`] of the pages it holds there (left by a shrink); true while
    /// some remain. The pages stay charged to `id` until they are freed, so a family's
    /// charges always add up to the pages it holds.
    fn trim_chunk(&mut self, id: NodeId) -> bool {
        let Family { nodes, frames, .. } = self;
        let node = nodes[id].as_mut().expect("live node id");
        let size = node.size;
        node.trim_zeroed(size);
        let stop = node.pages.chunk_end(size, u64::MAX, preempt::CHUNK_PAGES);
        let mut freed = 0;
        node.pages
            .remove_range(size, stop.saturating_sub(1).max(size), |_, frame| {
                frames.free(frame);
                freed += 1;
            });
        let more = node.pages.range(size..).next().is_some();
        self.uncharge(id, freed);
        more
    }

    /// After a shrink, lowers `id`'s window (its link's limit, left at the old size) toward
    /// its size by one chunk, from the top: the ancestors' pages leaving the window pass
    /// their charges on and those nobody sees any more are freed, at most about
    /// [`preempt::CHUNK_PAGES`] pages over the dead ancestors walked. True while the window
    /// still reaches past the size.
    ///
    /// Between two chunks the family is whole: `id` is charged for what its window shows, as
    /// if it were still that large, and nothing reads it there (reads stop at the size, the
    /// children's limits were clamped at the shrink). Anything that relies on the window
    /// ending at the size (growing, a snapshot) finishes the narrowing first.
    fn narrow_window_chunk(&mut self, id: NodeId) -> bool {
        let node = self.node(id);
        let size = node.size;
        let Some(link) = node.link else {
            return false;
        };
        if link.limit <= size {
            return false;
        }
        let top = link.limit;
        // The dead ancestors seen through the window share the chunk (an alive ancestor
        // hides what lies above it and holds its own charges: the walks stop there).
        let mut low = size;
        let mut levels = 0usize;
        self.for_dead_ancestors_in_window(link, size, top, |_, _, _| levels += 1);
        let share = (preempt::CHUNK_PAGES / levels.max(1)).max(1);
        self.for_dead_ancestors_in_window(link, size, top, |pages, shift, hi| {
            if low < hi {
                let start =
                    pages.chunk_start(low.saturating_add(shift), hi.saturating_add(shift), share);
                low = low.max(start.saturating_sub(shift));
            }
        });
        self.stop_seeing(id, low, top);
        if let Some(l) = &mut self.node_mut(id).link {
            l.limit = low;
        }
        self.sweep_ancestors(Some(link), low, top);
        low > size
    }

    /// Calls `f(pages, shift, end)` for each dead ancestor that `id` (linked by `link`) sees
    /// through its pages `first..end`, nearest first, up to the first alive one: the
    /// ancestor's page map, the shift from `id`'s page index to the ancestor's, and where
    /// `id`'s view of it ends.
    fn for_dead_ancestors_in_window(
        &self,
        link: Link,
        first: u64,
        end: u64,
        mut f: impl FnMut(&PageMap, u64, u64),
    ) {
        let (mut link, mut shift, mut end) = (Some(link), 0u64, end);
        while let Some(l) = link {
            // `id`'s page `k` reads this parent's page `k + shift + l.offset` while
            // `k + shift < l.limit`.
            end = end.min(l.limit.saturating_sub(shift));
            let parent = self.node(l.parent);
            let Some(next) = shift.checked_add(l.offset) else {
                return;
            };
            // The part where the parent counts as alive stops the walk.
            end = end.min(parent.dead_part_end(u64::MAX).saturating_sub(next));
            if first >= end {
                return;
            }
            shift = next;
            f(&parent.pages, shift, end);
            link = parent.link;
        }
    }

    /// The nodes page `k` of `id` may read from, nearest first: each with the shift that
    /// turns `k` into its page index there and the bound `k` must stay below to reach it.
    pub(super) fn chain(&self, id: NodeId) -> ZxResult<Vec<(NodeId, u64, u64)>> {
        let mut chain = Vec::new();
        let (mut node, mut shift, mut limit) = (id, 0u64, u64::MAX);
        loop {
            chain.try_reserve(1).map_err(|_| Status::NO_MEMORY)?;
            chain.push((node, shift, limit));
            let Some(link) = self.node(node).link else {
                return Ok(chain);
            };
            // Child page `k + shift` reads parent page `k + shift + link.offset` while
            // `k + shift < link.limit`.
            limit = limit.min(link.limit.saturating_sub(shift));
            match shift.checked_add(link.offset) {
                Some(next) if limit > 0 => shift = next,
                _ => return Ok(chain),
            }
            node = link.parent;
        }
    }

    /// Pages a chunk of a read at node `id` may cover (see [`CHUNK_PAGE_LEVELS`]): a page's
    /// lookup walks up through the node's ancestors; the walk up stops where the answer is
    /// one page.
    #[inline]
    pub(super) fn read_chunk_pages(&self, id: NodeId) -> usize {
        let mut levels = 1;
        let mut link = self.node(id).link;
        while let Some(l) = link {
            if levels >= CHUNK_PAGE_LEVELS {
                break;
            }
            levels += 1;
            link = self.node(l.parent).link;
        }
        (CHUNK_PAGE_LEVELS / levels).clamp(1, CHUNK_PAGES)
    }

    /// Pages a chunk of a write or COMMIT in this family may cover (see
    /// [`CHUNK_PAGE_LEVELS`]). A page's walks go up through the node's ancestors and, to hand
    /// a copied page on, down through the nodes that see it: both bounded by the family's
    /// live nodes, which are counted, not walked. (Counting only the ancestors let a write at
    /// the top of a chain 300 deep hand 64 pages down in one lock hold of 2.6 ms.)
    pub(super) fn write_chunk_pages(&self) -> usize {
        let nodes = self.nodes.len() - self.free_ids.len();
        (CHUNK_PAGE_LEVELS / nodes.max(1)).clamp(1, CHUNK_PAGES)
    }

    /// The end of the next chunk of `first..end` (pages of the chain's first node): a stretch
    /// in which the nodes of the chain hold at most [`preempt::CHUNK_PAGES`] pages in all,
    /// so that one chunk's work is bounded. Nodes that hold nothing there take nothing from
    /// the budget: a deep chain over a few pages is one chunk, not one page a chunk.
    pub(super) fn chunk_stop(&self, chain: &[(NodeId, u64, u64)], first: u64, end: u64) -> u64 {
        let mut budget = preempt::CHUNK_PAGES;
        let mut stop = end;
        for &(id, shift, limit) in chain {
            let hi = stop.min(limit);
            if first >= hi {
                continue;
            }
            // The first `budget` pages this node holds from `first` fit; the next one ends
            // the chunk. A chunk always takes at least its first page index (through every
            // node: at most a page each), so that it advances.
            let mut held = 0;
            for (index, _) in self.node(id).pages.range(first + shift..hi + shift) {
                if held == budget {
                    stop = stop.min(index - shift);
                    break;
                }
                held += 1;
            }
            budget = budget.saturating_sub(held);
        }
        stop.max(first + 1).min(end)
    }

    /// Whether `id` reads pages through an ancestor that can still change (an alive node):
    /// a snapshot of it could not be isolated from those changes.
    pub(super) fn depends_on_live_ancestor(&self, id: NodeId) -> bool {
        let mut link = self.node(id).link;
        while let Some(l) = link {
            let parent = self.node(l.parent);
            if parent.can_change() {
                return true;
            }
            link = parent.link;
        }
        false
    }
}

impl Drop for Family {
    fn drop(&mut self) {
        // Every node is removed when its VMO dies; this only guards against leaks.
        for node in self.nodes.iter_mut().filter_map(Option::take) {
            let mut node = node;
            node.pages.drain_each(|_, frame| self.frames.free(frame));
        }
    }
}

/// What one step of [`Family::unmap_everywhere_bounded`] may do: [`UNMAP_WORK`] of
/// page-table work (each mapping visited counts at least [`PAGE_VISIT_WORK`]), and each
/// mapping it visits at least a table's work, so that a few mappings over a large range all
/// move on together; but no more than [`MAX_STEP_VISITS`] mappings once the work is spent,
/// however many show the range.
pub(super) struct StepBudget {
    work: usize,
    visits: usize,
}

/// See [`StepBudget`].
const MAX_STEP_VISITS: usize = UNMAP_WORK / TABLE_WORK;

impl StepBudget {
    pub(super) fn new() -> Self {
        StepBudget {
            work: UNMAP_WORK,
            visits: MAX_STEP_VISITS,
        }
    }

    /// The work the next mapping may do, or None when the step is over.
    fn take(&mut self) -> Option<usize> {
        if self.work >= TABLE_WORK {
            return Some(self.work);
        }
        if self.visits == 0 {
            return None;
        }
        self.visits -= 1;
        Some(TABLE_WORK)
    }

    fn spend(&mut self, work: usize) {
        self.work = self.work.saturating_sub(work);
    }
}

/// The address spaces a step took entries away in, each with a TLB batch open
/// ([`MappingObserver::begin_batch`]): one invalidation per address space a step instead of
/// one per mapping. Dropped at the end of the step, which ends the batches, before anything
/// relies on those entries being gone (the pages are freed or replaced after it).
#[derive(Default)]
struct TlbBatches(Vec<(u64, Arc<dyn MappingObserver>)>);

impl TlbBatches {
    fn join(&mut self, observer: &Arc<dyn MappingObserver>) {
        let space = observer.address_space_id();
        if !self.0.iter().any(|&(open, _)| open == space) {
            observer.begin_batch();
            self.0.push((space, observer.clone()));
        }
    }
}

impl Drop for TlbBatches {
    fn drop(&mut self) {
        for (_, observer) in self.0.drain(..) {
            observer.end_batch();
        }
    }
}

/// Work [`Family::range_walk_step`] counts for visiting one mapping (and
/// [`Family::unmap_everywhere_bounded`] at least): a table's, so that a step visits at most
/// 64. One entry taken away costs about 600 instructions under `-icount`, but each is a
/// broadcast TLB invalidation of its own, which on QEMU's four-vCPU raspi machines costs
/// about 0.4 ms of host time: 512 visits a step kept another thread waiting 274 ms there.
const PAGE_VISIT_WORK: usize = TABLE_WORK;

/// Pages a walk in steps covers ([`PageWalk`]): a leaf table's span, so that each visit is
/// about a table's work and the walks of a large range visit each mapping about as often
/// as the bounded walk over the whole range would.
const WALK_PAGES: u64 = 512;

/// How far a walk over the mappings that show a few pages got, kept from one step to the
/// next when more mappings show them than a step visits ([`Family::unmap_some`],
/// [`Family::clear_range_step`]). Owned by the operation doing the walk (or by a shrinking
/// node); the default is no walk.
#[derive(Default)]
pub(super) struct PageWalk {
    /// The pages walked (node, first, end) while a walk is under way.
    range: Option<(NodeId, u64, u64)>,
    /// The first (node, registration id) not visited yet: registration ids start at 1, so
    /// `(0, 0)` is a walk that has visited nothing.
    next: (NodeId, u64),
    /// Whether the operation counts in its family's [`Family::faults_held`]: from the end of
    /// the first step that left a walk partway until it replaced or freed what it cleared.
    holding: bool,
}

impl PageWalk {
    /// Whether the walk holds the family's faults (see `holding`).
    #[inline]
    pub(super) fn holding(&self) -> bool {
        self.holding
    }
}

/// A [`PageWalk`] an operation keeps across its steps, which lets the family's faults go on
/// however the operation ends (done, failed, cancelled by a kill) if the walk still held
/// them off. Declared before any guard of the family's lock in the same scope, so that it
/// is dropped after it.
pub(super) struct HeldWalk<'a> {
    family: &'a FamilyCell,
    walk: PageWalk,
}

impl<'a> HeldWalk<'a> {
    /// The walk it ends however the operation ends.
    #[inline]
    pub(super) fn walk(&mut self) -> &mut PageWalk {
        &mut self.walk
    }

    pub(super) fn new(family: &'a FamilyCell) -> Self {
        HeldWalk {
            family,
            walk: PageWalk::default(),
        }
    }
}

impl Drop for HeldWalk<'_> {
    #[inline]
    fn drop(&mut self) {
        if self.walk.holding {
            self.family.lock().faults_held -= 1;
        }
    }
}

/// The mappings registered with one node, indexed so that neither an invalidation nor
/// `ZX_INFO_VMO` walks all of them (a process can map a VMO 100,000 times).
#[derive(Default)]
pub(super) struct Mappings {
    /// By registration id: its address space and the pages `first..end` it may show (the
    /// whole VMO until the mapping says otherwise, [`MapTarget::narrow_mapping`]).
    by_id: BTreeMap<u64, MappingEntry>,
    /// `(first, id) -> end`, with the observer: an invalidation visits only the mappings
    /// that overlap it.
    by_range: MaxTree<(u64, u64), u64, Weak<dyn MappingObserver>>,
    /// Registrations per address space (`share_count` is its length).
    spaces: BTreeMap<u64, usize>,
}

struct MappingEntry {
    space: u64,
    first: u64,
    end: u64,
}

impl Mappings {
    /// Address spaces some mapping is in.
    pub(super) fn address_spaces(&self) -> usize {
        self.spaces.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    #[inline]
    pub(super) fn insert(&mut self, id: u64, observer: Weak<dyn MappingObserver>) {
        let space = observer.upgrade().map_or(0, |o| o.address_space_id());
        let entry = MappingEntry {
            space,
            first: 0,
            end: u64::MAX,
        };
        self.by_range.insert_with((0, id), u64::MAX, observer);
        *self.spaces.entry(space).or_default() += 1;
        self.by_id.insert(id, entry);
    }

    #[inline]
    pub(super) fn remove(&mut self, id: u64) -> bool {
        let Some(entry) = self.by_id.remove(&id) else {
            return false;
        };
        self.by_range.remove_with(&(entry.first, id));
        if let Some(count) = self.spaces.get_mut(&entry.space) {
            *count -= 1;
            if *count == 0 {
                self.spaces.remove(&entry.space);
            }
        }
        true
    }

    /// Registration `id` shows at most pages `first..end` from now on. Only ever narrows,
    /// so that narrowings arriving out of order still cover what the mapping shows.
    #[inline]
    pub(super) fn narrow(&mut self, id: u64, first: u64, end: u64) {
        let Some(entry) = self.by_id.get_mut(&id) else {
            return;
        };
        let (new_first, new_end) = (entry.first.max(first), entry.end.min(end).max(first));
        if (new_first, new_end) == (entry.first, entry.end) {
            return;
        }
        if new_first == entry.first {
            // Same key: the end changes in place.
            self.by_range.set_value(&(new_first, id), new_end);
        } else if let Some((_, observer)) = self.by_range.remove_with(&(entry.first, id)) {
            self.by_range
                .insert_with((new_first, id), new_end, observer);
        }
        entry.first = new_first;
        entry.end = new_end;
    }

    pub(super) fn clear(&mut self) {
        *self = Mappings::default();
    }
}

/// [`notify`] within `budget`: from the bottom, returns the page below which none of the
/// mappings shows any of `first..end` any more; from the top (`from_top`), above which. The
/// mappings are visited in key order until the work is spent; those left show nothing below
/// the first page of the next one's key (from the top, anything).
fn notify_bounded(
    mappings: &Mappings,
    first: u64,
    end: u64,
    budget: &mut StepBudget,
    batches: &mut TlbBatches,
    from_top: bool,
) -> u64 {
    let mut reach = if from_top { first } else { end };
    mappings.by_range.for_each_overlapping_from(
        &(0, 0),
        &(end, 0),
        first,
        |(key_first, _), _, observer| {
            let (a, b) = if from_top {
                (reach, end)
            } else {
                (first, reach)
            };
            if a >= b {
                return false;
            }
            let Some(mut allowed) = budget.take() else {
                reach = if from_top {
                    end
                } else {
                    reach.min(key_first.max(first))
                };
                return false;
            };
            let Some(observer) = observer.upgrade() else {
                return true;
            };
            let given = allowed;
            batches.join(&observer);
            let done = observer.unmap_target_range_bounded(
                a << PAGE_SHIFT,
                (b - a) << PAGE_SHIFT,
                &mut allowed,
                from_top,
            );
            // A visit costs something even where no table exists: the observer's lookup.
            budget.spend((given - allowed).max(PAGE_VISIT_WORK));
            // Whole pages: an observer stops at page boundaries.
            let done = done >> PAGE_SHIFT;
            reach = if from_top {
                reach.max(done)
            } else {
                reach.min(done)
            };
            true
        },
    );
    reach
}

/// Tells the mappings that overlap pages `first..end` of their node about them.
fn notify(mappings: &Mappings, first: u64, end: u64) {
    // Registration ids start at 1: `(end, 0)` is above every key starting below `end`.
    mappings
        .by_range
        .for_each_overlapping(&(end, 0), first, |_, _, observer| {
            if let Some(observer) = observer.upgrade() {
                observer.unmap_target_range(first << PAGE_SHIFT, (end - first) << PAGE_SHIFT);
            }
        });
}

/// ZERO's partial pages of the byte range `start..end` of a node: (page, first byte, end
/// byte) at the head and at the tail, where the range does not cover them whole.
type PartialPages = [Option<(u64, usize, usize)>; 2];

pub(super) fn partial_pages(start: u64, end: u64) -> PartialPages {
    let mut partial: PartialPages = [None, None];
    let head_page = start >> PAGE_SHIFT;
    if start & (PAGE_SIZE - 1) != 0 || end < (head_page + 1) << PAGE_SHIFT {
        let from = (start & (PAGE_SIZE - 1)) as usize;
        let to = (end.min((head_page + 1) << PAGE_SHIFT) - (head_page << PAGE_SHIFT)) as usize;
        partial[0] = Some((head_page, from, to));
    }
    let tail_page = end >> PAGE_SHIFT;
    if end & (PAGE_SIZE - 1) != 0 && tail_page != head_page {
        partial[1] = Some((tail_page, 0, (end & (PAGE_SIZE - 1)) as usize));
    }
    partial
}

/// Page maps of dead nodes, too large to free under their family's lock in one go (a dying
/// VMO may hold every page of the machine), with the allocator their frames go back to.
/// Nothing reads them; [`free_dead_pages`] frees them in chunks. Pushed inside a family lock
/// (by `discard`).
static DEAD_PAGES: WorkList<(Arc<FamilyCell>, Arc<dyn FrameAllocator>, PageMap)> = WorkList::new();

/// Families with work left for later ([`Family::deferred`]: closing nodes, pending merges),
/// each once ([`Family::queued`]). [`settle_deferred_chunk`] does it a chunk at a time.
/// Pushed inside the family's lock; a family is taken off the list before it is locked.
static DEFERRED_FAMILIES: WorkList<Arc<FamilyCell>> = WorkList::new();

/// Whether some family may have work left for later.
pub fn deferred_work_pending() -> bool {
    DEFERRED_FAMILIES.pending()
}

/// One chunk of the work families left for later: true while some is left.
pub fn settle_deferred_chunk() -> bool {
    // Counted in flight while off the list (`preempt::work_in_flight`).
    let Some(family_lock) = DEFERRED_FAMILIES.pop_in_flight() else {
        return false;
    };
    settle_one_chunk(&family_lock);
    // Dropped while still counted: it may be the family's last reference.
    drop(family_lock);
    preempt::end_in_flight();
    true
}

/// A chunk of the work of a family taken off [`DEFERRED_FAMILIES`]; puts it back while work
/// is left.
fn settle_one_chunk(family_lock: &Arc<FamilyCell>) {
    let mut family = family_lock.lock();
    if family.deferred_chunk() {
        // Put back while still locked: another close in the family must not queue it twice.
        match DEFERRED_FAMILIES.put_back(family_lock.clone()) {
            Ok(()) => return,
            // No room (only another thread's push can have taken it): finish it here.
            Err(_) => while family.deferred_chunk() {},
        }
    }
    family.queued = false;
}

/// Pages a dying node may hold and still free them at once, under its family's lock (and
/// the default bound of the work a close or merge does at once): a chunk. Not more, because
/// one chunk of a closed channel's queue drops up to 64 handles, each maybe the last of a
/// VMO: at 256 pages each, such a chunk took 1.9 ms.
pub(super) const FREE_AT_ONCE_PAGES: usize = preempt::CHUNK_PAGES;

/// Moves `pages` to [`DEAD_PAGES`]; false (nothing moved) without a preemption hook to free
/// them from (host tests free at once) or when the list cannot grow.
fn defer_free(frames: &FamilyAllocator, pages: &mut PageMap) -> bool {
    if !preempt::enabled() {
        return false;
    }
    // Gone only while the family itself is dropped: then no copy is left either.
    let Some(cell) = frames.cell.upgrade() else {
        return false;
    };
    match DEAD_PAGES.push((cell, frames.frames.clone(), core::mem::take(pages))) {
        Ok(()) => true,
        Err((_, _, back)) => {
            *pages = back;
            false
        }
    }
}

/// Frees the pages of dead VMOs left in [`DEAD_PAGES`], a chunk at a time with a preemption
/// point between chunks: the VMO part of [`crate::free_deferred`], which the kernel runs,
/// holding no lock, before a system call that left pages there returns, so a program that
/// closed a large VMO finds its memory free when the call returns; what a thread that never
/// returns (one that exits) left behind, the idle loop frees ([`free_dead_pages_chunk`]).
pub fn free_dead_pages() {
    // A killed thread stops at its first point: what is left waits for the idle loop or the
    // next call that leaves pages (each chunk is back on the list before the point).
    while free_dead_pages_chunk() && preempt::point() {}
}

/// Frees one chunk of [`DEAD_PAGES`]; true while more remain.
pub fn free_dead_pages_chunk() -> bool {
    DEAD_PAGES.work_one(|(cell, frames, pages)| {
        let stop = pages.chunk_end(0, u64::MAX, preempt::CHUNK_PAGES);
        let family = cell.lock();
        let held = &family.frames.held;
        pages.remove_range(0, stop.saturating_sub(1), |_, frame| {
            cell.pins.free(held, &**frames, frame)
        });
        !pages.is_empty()
    })
}
