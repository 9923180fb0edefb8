//! Virtual memory objects: pages committed lazily, copy-on-write clones (`zx_vmo_clone`),
//! snapshots and slices (`zx_vmo_create_child`).
//!
//! # How pages are shared
//!
//! Every VMO created from another one joins its *family*: one arena of nodes under one lock.
//! A node holds some pages and zeroed page ranges and may
//! have a *link* to a parent node: a page the node does not hold is looked up in the parent
//! (page `k` maps to parent page `k + offset` while `k < limit`; beyond the limit it is zero).
//! Lookups walk links in a loop, never by recursion.
//!
//! - A clone (`zx_vmo_clone`, the seed's copy-on-write) links to its parent: it reads the
//!   parent's *current* content until it writes a page, which copies it.
//! - A snapshot moves the parent's pages into a new hidden node (an O(1) map move) that
//!   becomes the parent of both the original and the snapshot; each then copies on write, so
//!   neither sees the other's later writes.
//! - A slice owns no pages: it forwards to its parent's pages at an offset.
//!
//! Pages no VMO can see any more are freed: when a node copies a page from an ancestor that
//! nobody else can see, when a node dies (a dead node with one child merges into it, with
//! none it is removed), and when a node shrinks or zeroes pages.
//!
//! A node is *alive* while its VMO has handles or mappings (or live slices). A dead node
//! never changes again, so only alive nodes' pages need no visibility check.
//!
//! # Where things are
//!
//! - this module: the [`Vmo`] object (creation, children, info, properties, mappings as a
//!   [`MapTarget`], the handle and liveness bookkeeping);
//! - `cow`: the copy-on-write tree of a family (nodes, links, charges, settling after a close,
//!   merges, deferred work and dead pages, taking page-table entries away in steps);
//! - `transfer`: reads and writes of a VMO's bytes, with and without the family lock;
//! - `ops`: `zx_vmo_set_size` and `zx_vmo_op_range` (COMMIT, DECOMMIT, ZERO, cache ops).
//!
//! # Locking
//!
//! One lock per family (`FamilyCell::family`, a spin lock): every node, page map, charge
//! and mapping list of the family is under it. It masks no IRQs: no IRQ handler takes it
//! (the kernel runs with IRQs masked anyway, except at preemption points, which are never
//! passed with it held). What nests inside it, outermost first:
//!
//! 1. the family lock;
//! 2. an address space's tree lock, taken by a [`MappingObserver`] the family calls to take
//!    page-table entries away ([`MappingObserver::unmap_target_range`] and its bounded form);
//! 3. that address space's page-table lock (inside the observer, under the tree lock);
//! 4. the page pool's lock (IRQs masked), taken by the frame allocator for every frame a
//!    family commits, frees or holds; and the lists of frames held for copies
//!    ([`crate::pins`]), which are kept under the family lock itself.
//!
//! The other way round never happens: an address space calls into a VMO
//! ([`MapTarget::fault_page`], `add_mapping`, `remove_mapping`, `narrow_mapping`) only with
//! none of its own locks held, so the family lock is never taken under 2, 3 or 4. Two
//! families' locks are never held together (a child is created under its parent's family
//! lock because it joins that family).
//!
//! Nothing under the family lock may fault or sleep: no user memory is touched under it and
//! nothing waits for another thread. Copies between user memory and a family's frames run
//! without it ([`Vmo::read_unlocked`], [`Vmo::write_unlocked`]): each is counted in
//! ([`crate::pins`], `FamilyCell::pin`) before the lock that hands it its frames is released,
//! so a frame the family gives up meanwhile is not reused until the copy ends; a fault on
//! the user buffer then takes the family lock afresh. Callbacks run under the lock
//! ([`Vmo::read_with`], [`Vmo::write_with`]) copy to or from kernel memory only.
//!
//! Work that grows with the pages a family holds is cut into chunks with the lock released
//! and a preemption point between them (see `cow`). A function that expects the lock held
//! takes the locked [`Family`](cow::Family) or a part of it (a node, its mappings, its
//! allocator) as an argument; nothing reaches a family's contents any other way.

mod cow;
mod ops;
mod transfer;

pub use cow::{
    deferred_work_pending, free_dead_pages, free_dead_pages_chunk, settle_deferred_chunk,
    MAX_FAMILY_NODES,
};
pub use transfer::{ChunkFn, WriteFrames, CHUNK_PAGES};

use crate::frames::{FrameAllocator, PAGE_SIZE};
use crate::koid::Koid;
use crate::object::{KernelObject, ObjectBase};
use crate::preempt;
use crate::vmar::{MapTarget, MappingObserver, PageForFault};
use crate::{Rights, Signals, Status, ZxResult};
use abi::{
    zx_info_vmo_t, ZX_INFO_VMO_IS_COW_CLONE, ZX_INFO_VMO_RESIZABLE, ZX_INFO_VMO_TYPE_PAGED,
    ZX_MAX_VMO_SIZE, ZX_OBJ_TYPE_VMO, ZX_VMO_CHILD_NO_WRITE, ZX_VMO_CHILD_RESIZABLE,
    ZX_VMO_CHILD_SLICE, ZX_VMO_CHILD_SNAPSHOT, ZX_VMO_CLONE_COPY_ON_WRITE,
    ZX_VMO_CLONE_NON_RESIZEABLE, ZX_VMO_NON_RESIZABLE,
};
use alloc::collections::BTreeMap;
use alloc::sync::{Arc, Weak};
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use cow::{Assume, Family, FamilyCell, Found, Link, Node, NodeId, PageWalk};

const PAGE_SHIFT: u32 = 12;

/// How a VMO came to be, for `zx_object_get_info`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VmoKind {
    Created,
    /// `zx_vmo_clone` (copy-on-write, sees the parent's current pages until it writes).
    Clone,
    Snapshot,
    Slice,
}

/// A virtual memory object.
pub struct Vmo {
    base: ObjectBase,
    family: Arc<FamilyCell>,
    /// The size in bytes, as of the last `set_size`: read without the lock
    /// ([`Vmo::size_unlocked`]); the node's own size, under the lock, is what counts.
    size: AtomicU64,
    node: NodeId,
    kind: VmoKind,
    resizable: bool,
    /// The VMO this one was created from: keeps its ZERO_CHILDREN bookkeeping reachable.
    user_parent: Option<Arc<Vmo>>,
    /// Byte offset of this VMO's start in the family's first VMO: the sum of the offsets of
    /// every child step from there. Offset plus size stays below 2^64 (INVALID_ARGS
    /// otherwise), so page indices projected up the family never overflow.
    root_offset: u64,
    /// Set under the family lock when the node is gone (no handles and no mappings).
    dead: AtomicBool,
    /// Under the family lock: mapping count and children not yet gone (ZERO_CHILDREN).
    mapping_count: AtomicUsize,
    present_children: AtomicUsize,
}

/// Rounds a byte size up to pages; overflow or more than `ZX_MAX_VMO_SIZE` is OUT_OF_RANGE.
pub fn size_in_pages(size: u64) -> ZxResult<u64> {
    let rounded = size
        .checked_add(PAGE_SIZE - 1)
        .ok_or(Status::OUT_OF_RANGE)?
        & !(PAGE_SIZE - 1);
    if rounded > ZX_MAX_VMO_SIZE {
        return Err(Status::OUT_OF_RANGE);
    }
    Ok(rounded >> PAGE_SHIFT)
}

/// Rights of the handle to a `zx_vmo_clone` child, from the parent handle's rights (seed).
pub fn clone_rights(parent: Rights) -> Rights {
    parent | Rights::GET_PROPERTY | Rights::SET_PROPERTY | Rights::WRITE
}

/// Rights of the handle to a `zx_vmo_create_child` child.
pub fn child_rights(parent: Rights, options: u32) -> Rights {
    let rights = parent | Rights::GET_PROPERTY | Rights::SET_PROPERTY;
    if options & ZX_VMO_CHILD_NO_WRITE != 0 {
        rights.difference(Rights::WRITE)
    } else if options & ZX_VMO_CHILD_SLICE != 0 {
        rights
    } else {
        rights | Rights::WRITE
    }
}

impl Vmo {
    /// `zx_vmo_create`: a VMO of `size` bytes (rounded up to pages), nothing committed.
    pub fn create(frames: Arc<dyn FrameAllocator>, size: u64, options: u32) -> ZxResult<Arc<Vmo>> {
        if options & !ZX_VMO_NON_RESIZABLE != 0 {
            return Err(Status::INVALID_ARGS);
        }
        let pages = size_in_pages(size)?;
        let cell = FamilyCell::new(frames, pages);
        let node = 0;
        Ok(Arc::new(Vmo::new(
            cell,
            pages << PAGE_SHIFT,
            node,
            VmoKind::Created,
            options & ZX_VMO_NON_RESIZABLE == 0,
            None,
            0,
        )))
    }

    fn new(
        family: Arc<FamilyCell>,
        size: u64,
        node: NodeId,
        kind: VmoKind,
        resizable: bool,
        user_parent: Option<Arc<Vmo>>,
        root_offset: u64,
    ) -> Vmo {
        Vmo {
            base: ObjectBase::new(Signals::VMO_ZERO_CHILDREN),
            family,
            size: AtomicU64::new(size),
            node,
            kind,
            resizable,
            user_parent,
            root_offset,
            dead: AtomicBool::new(false),
            mapping_count: AtomicUsize::new(0),
            present_children: AtomicUsize::new(0),
        }
    }

    /// The family, locked; BAD_HANDLE once the VMO is dead: its last handle and mapping
    /// went while a call that had looked it up (another thread closed the handle meanwhile)
    /// was on its way, which then fails as if the handle had been closed before it.
    fn lock(&self) -> ZxResult<spin::MutexGuard<'_, Family>> {
        let family = self.family.lock();
        if self.dead.load(Ordering::Relaxed) {
            return Err(Status::BAD_HANDLE);
        }
        Ok(family)
    }

    pub fn kind(&self) -> VmoKind {
        self.kind
    }

    pub fn is_resizable(&self) -> bool {
        self.resizable
    }

    /// Size in bytes (a page multiple).
    pub fn size(&self) -> u64 {
        match self.lock() {
            Ok(family) => family.node(self.node).size << PAGE_SHIFT,
            Err(_) => 0,
        }
    }

    /// The size in bytes without taking the lock: what [`Vmo::size`] says, or what it said
    /// a moment ago while another thread resizes the VMO. For a system call's early check
    /// of a range (the order of its errors); every access checks again under the lock.
    #[inline]
    pub fn size_unlocked(&self) -> u64 {
        self.size.load(Ordering::Relaxed)
    }

    /// Checks `offset..offset+len` against the size; returns the node holding the pages and
    /// the byte offset there.
    #[inline(always)]
    fn range(&self, family: &Family, offset: u64, len: u64) -> ZxResult<(NodeId, u64)> {
        self.range_node(family, offset, len)
            .map(|(node, _, start)| (node, start))
    }

    /// [`Self::range`], with the node that holds the range: the VMO's own when it is not a
    /// slice, looked up once (the one-page transfers take this path on every call).
    #[inline(always)]
    fn range_node<'f>(
        &self,
        family: &'f Family,
        offset: u64,
        len: u64,
    ) -> ZxResult<(NodeId, &'f Node, u64)> {
        let own = family.node(self.node);
        let end = offset.checked_add(len).ok_or(Status::OUT_OF_RANGE)?;
        if end > own.size << PAGE_SHIFT {
            return Err(Status::OUT_OF_RANGE);
        }
        Ok(match own.slice_of {
            None => (self.node, own, offset),
            Some((target, page_offset)) => (
                target,
                family.node(target),
                offset + (page_offset << PAGE_SHIFT),
            ),
        })
    }
}

impl Vmo {
    /// `zx_vmo_clone` with ZX_VMO_CLONE_COPY_ON_WRITE: a child that reads this VMO's current
    /// pages until it writes them. O(1): no page is copied or walked.
    pub fn create_clone(
        self: &Arc<Self>,
        options: u32,
        offset: u64,
        size: u64,
    ) -> ZxResult<Arc<Vmo>> {
        if options & ZX_VMO_CLONE_COPY_ON_WRITE == 0
            || options & !(ZX_VMO_CLONE_COPY_ON_WRITE | ZX_VMO_CLONE_NON_RESIZEABLE) != 0
        {
            return Err(Status::INVALID_ARGS);
        }
        if offset & (PAGE_SIZE - 1) != 0 {
            return Err(Status::INVALID_ARGS);
        }
        offset.checked_add(size).ok_or(Status::OUT_OF_RANGE)?;
        let pages = size_in_pages(size)?;
        let root_offset = self.child_root_offset(offset, pages)?;
        let resizable = options & ZX_VMO_CLONE_NON_RESIZEABLE == 0;
        let mut family = self.lock()?;
        family.room_for(1)?;
        let (parent, parent_offset) = family.target(self.node);
        let offset_pages = (offset >> PAGE_SHIFT) + parent_offset;
        let visible = family
            .node(self.node)
            .size
            .saturating_sub(offset >> PAGE_SHIFT);
        let mut node = Node::new(pages);
        node.link = Some(Link {
            parent,
            offset: offset_pages,
            limit: visible.min(pages),
        });
        let id = family.insert(node);
        family.node_mut(parent).children.push(id);
        Ok(self.adopt(&family, id, VmoKind::Clone, resizable, root_offset))
    }

    /// The root offset of a child at `offset` of `pages` pages: INVALID_ARGS when its end,
    /// projected onto the family's first VMO, passes 2^64.
    fn child_root_offset(&self, offset: u64, pages: u64) -> ZxResult<u64> {
        let root_offset = self
            .root_offset
            .checked_add(offset)
            .ok_or(Status::INVALID_ARGS)?;
        root_offset
            .checked_add(pages << PAGE_SHIFT)
            .ok_or(Status::INVALID_ARGS)?;
        Ok(root_offset)
    }

    /// `zx_vmo_create_child`: SNAPSHOT or SLICE (exactly one), with RESIZABLE / NO_WRITE.
    pub fn create_child(
        self: &Arc<Self>,
        options: u32,
        offset: u64,
        size: u64,
    ) -> ZxResult<Arc<Vmo>> {
        let known = ZX_VMO_CHILD_SNAPSHOT
            | ZX_VMO_CHILD_RESIZABLE
            | ZX_VMO_CHILD_SLICE
            | ZX_VMO_CHILD_NO_WRITE;
        let snapshot = options & ZX_VMO_CHILD_SNAPSHOT != 0;
        let slice = options & ZX_VMO_CHILD_SLICE != 0;
        let resizable = options & ZX_VMO_CHILD_RESIZABLE != 0;
        // A resizable child needs WRITE, which NO_WRITE takes away; slices never resize.
        if options & !known != 0
            || snapshot == slice
            || (resizable && (slice || options & ZX_VMO_CHILD_NO_WRITE != 0))
        {
            return Err(Status::INVALID_ARGS);
        }
        if offset & (PAGE_SIZE - 1) != 0 {
            return Err(Status::INVALID_ARGS);
        }
        let pages = size_in_pages(size)?;
        let offset_pages = offset >> PAGE_SHIFT;
        if slice {
            let mut family = self.lock()?;
            // The range first, then the parent's kind (Zircon's order): a range that leaves
            // the parent or overflows is INVALID_ARGS, also on a resizable parent.
            let parent_pages = family.node(self.node).size;
            if offset_pages > parent_pages || pages > parent_pages - offset_pages {
                return Err(Status::INVALID_ARGS);
            }
            if self.resizable {
                return Err(Status::NOT_SUPPORTED);
            }
            let root_offset = self.child_root_offset(offset, pages)?;
            family.room_for(1)?;
            let (target, target_offset) = family.target(self.node);
            let mut node = Node::new(pages);
            node.slice_of = Some((target, target_offset + offset_pages));
            let id = family.insert(node);
            family.node_mut(target).slices.push(id);
            return Ok(self.adopt(&family, id, VmoKind::Slice, false, root_offset));
        }
        offset.checked_add(size).ok_or(Status::OUT_OF_RANGE)?;
        // The hidden node takes the parent's pages and window as they are: an earlier shrink
        // must be finished first.
        let mut family = loop {
            let mut family = self.lock()?;
            if !family.shrink_chunk(self.node) {
                break family;
            }
            drop(family);
            if !preempt::point() {
                return Err(Status::CANCELED);
            }
        };
        // Snapshot: the parent's pages move into a hidden node both sides copy from.
        if family.node(self.node).slice_of.is_some() || family.depends_on_live_ancestor(self.node) {
            return Err(Status::NOT_SUPPORTED);
        }
        let root_offset = self.child_root_offset(offset, pages)?;
        family.room_for(2)?;
        let parent_id = self.node;
        let parent_size = family.node(parent_id).size;
        let mut hidden = Node::new(parent_size);
        hidden.hidden = true;
        hidden.handles_open = false;
        hidden.pages = core::mem::take(&mut family.node_mut(parent_id).pages);
        hidden.zeroed = core::mem::take(&mut family.node_mut(parent_id).zeroed);
        hidden.link = family.node(parent_id).link;
        let hidden_id = family.insert(hidden);
        if let Some(link) = family.node(hidden_id).link {
            for c in &mut family.node_mut(link.parent).children {
                if *c == parent_id {
                    *c = hidden_id;
                }
            }
        }
        family.node_mut(parent_id).link = Some(Link {
            parent: hidden_id,
            offset: 0,
            limit: parent_size,
        });
        let mut node = Node::new(pages);
        node.link = Some(Link {
            parent: hidden_id,
            offset: offset_pages,
            limit: parent_size.saturating_sub(offset_pages).min(pages),
        });
        let child_id = family.insert(node);
        family.node_mut(hidden_id).children = alloc::vec![parent_id, child_id];
        // The parent's pages are now shared with the snapshot: writable entries onto them
        // must go, so that the next write faults and copies. In steps, as many entries as
        // pages may exist (a MAP_RANGE of a gigabyte): until a page's entries are gone, a
        // write through one still reaches the page the snapshot sees, as if the snapshot of
        // that page were taken a little later. Each page of the snapshot is the parent's page
        // at some instant of the call, and none changes once it returns: while the steps run
        // (`snapshots_stepping`), a copy on write takes every entry of its page away first,
        // so a page the parent copied is seen nowhere through an old entry, and the
        // snapshot's handle is not out before the last step. A snapshot done in the first
        // step (no mapping, or few entries) leaves no such window.
        let child = self.adopt(&family, child_id, VmoKind::Snapshot, resizable, root_offset);
        let mut walk = PageWalk::default();
        let mut done = family.unmap_some(parent_id, 0, parent_size, false, false, false, &mut walk);
        if done >= parent_size {
            return Ok(child);
        }
        family.snapshots_stepping += 1;
        loop {
            drop(family);
            if !preempt::point() {
                // The snapshot goes (unseen) and the hidden node merges back into the parent:
                // the entries left show its own pages again. That merge may be left for later,
                // and until then entries not yet taken away still write the hidden node's
                // pages: copies on write keep taking every entry of their page away, for good
                // (a rare path).
                let mut family = self.family.lock();
                family.shared_ptes = true;
                family.snapshots_stepping -= 1;
                drop(family);
                return Err(Status::CANCELED);
            }
            family = self.family.lock();
            if self.dead.load(Ordering::Relaxed) {
                // The parent died: no mapping of it is left.
                family.snapshots_stepping -= 1;
                return Ok(child);
            }
            done = family.unmap_some(parent_id, done, parent_size, false, false, false, &mut walk);
            if done >= parent_size {
                family.snapshots_stepping -= 1;
                return Ok(child);
            }
        }
    }

    /// Wraps new node `id` in a VMO whose user parent is `self`; ZERO_CHILDREN drops.
    fn adopt(
        self: &Arc<Self>,
        family: &Family,
        id: NodeId,
        kind: VmoKind,
        resizable: bool,
        root_offset: u64,
    ) -> Arc<Vmo> {
        let child = Arc::new(Vmo::new(
            self.family.clone(),
            family.node(id).size << PAGE_SHIFT,
            id,
            kind,
            resizable,
            Some(self.clone()),
            root_offset,
        ));
        // The child is present (it is about to get a handle): its parent line learns so.
        child.presence_changed(family, false);
        child
    }

    /// Present = alive (handles or mappings) or with children not yet gone.
    fn present(&self) -> bool {
        !self.dead.load(Ordering::Relaxed) || self.present_children.load(Ordering::Relaxed) > 0
    }

    /// After this VMO's presence may have changed (from `was`): updates the parents'
    /// counts and ZERO_CHILDREN, walking up as far as presence keeps changing.
    fn presence_changed(&self, _family: &Family, was: bool) {
        let mut was = was;
        let mut now = self.present();
        let mut current = self;
        while was != now {
            let Some(parent) = current.user_parent.as_deref() else {
                return;
            };
            let before = parent.present();
            if now {
                if parent.present_children.fetch_add(1, Ordering::Relaxed) == 0 {
                    parent
                        .base
                        .signals()
                        .update(Signals::VMO_ZERO_CHILDREN, Signals::NONE);
                }
            } else if parent.present_children.fetch_sub(1, Ordering::Relaxed) == 1 {
                parent
                    .base
                    .signals()
                    .update(Signals::NONE, Signals::VMO_ZERO_CHILDREN);
            }
            was = before;
            now = parent.present();
            current = parent;
        }
    }

    /// Called with the family locked when handles or mappings may have run out.
    fn liveness_changed(&self, family: &mut Family) {
        if self.dead.load(Ordering::Relaxed) {
            return;
        }
        let node = family.node(self.node);
        if node.handles_open || !node.mappings.is_empty() {
            return;
        }
        let was = self.present();
        self.dead.store(true, Ordering::Relaxed);
        family.die(self.node);
        self.queue_deferred(family);
        self.presence_changed(family, was);
    }

    /// Puts the family on the list of families with work left for later, if it has some
    /// ([`Family::queue_deferred`]).
    fn queue_deferred(&self, family: &mut Family) {
        family.queue_deferred(&self.family);
    }

    /// For tests: closes and merges in this VMO's family that take more than `pages` pages of
    /// work are left for later (with a preemption hook installed), so that small families
    /// reach those paths.
    pub fn defer_long_work_above(&self, pages: usize) {
        self.family.lock().set_defer_above(pages);
    }

    /// Whether this VMO's family has work left for later (closing nodes, pending merges).
    pub fn has_deferred_work(&self) -> bool {
        self.family.lock().has_deferred()
    }

    /// Committed bytes charged to this VMO (see the module docs), in O(1). A slice holds no
    /// pages, and reports none, except that the first live slice of a VMO that has neither
    /// handles nor mappings left (kept only by its slices, so nobody can ask it) reports that
    /// VMO's: every page stays counted in some VMO one can ask.
    pub fn committed_bytes(&self) -> u64 {
        let Ok(family) = self.lock() else {
            return 0;
        };
        let node = family.node(self.node);
        let charged = match node.slice_of {
            None => node.charged(),
            Some((target, _)) => {
                let target = family.node(target);
                let unreachable = !target.handles_open && target.mappings.is_empty();
                if unreachable && target.slices.first() == Some(&self.node) {
                    target.charged()
                } else {
                    0
                }
            }
        };
        charged * PAGE_SIZE
    }

    pub fn parent_koid(&self) -> Koid {
        self.user_parent
            .as_ref()
            .map_or(0, |parent| parent.base.koid())
    }

    pub fn num_children(&self) -> usize {
        let _family = self.family.lock();
        self.present_children.load(Ordering::Relaxed)
    }

    pub fn num_mappings(&self) -> usize {
        let _family = self.family.lock();
        self.mapping_count.load(Ordering::Relaxed)
    }

    /// `ZX_INFO_VMO` as the object knows it; the caller adds handle rights and the
    /// VIA_HANDLE / VIA_MAPPING flag.
    pub fn info(&self) -> zx_info_vmo_t {
        let mut flags = ZX_INFO_VMO_TYPE_PAGED;
        if self.resizable {
            flags |= ZX_INFO_VMO_RESIZABLE;
        }
        if matches!(self.kind, VmoKind::Clone | VmoKind::Snapshot) {
            flags |= ZX_INFO_VMO_IS_COW_CLONE;
        }
        let mappings = self.num_mappings();
        zx_info_vmo_t {
            koid: self.base.koid(),
            name: self.base.name(),
            size_bytes: self.size(),
            parent_koid: self.parent_koid(),
            num_children: self.num_children(),
            num_mappings: mappings,
            share_count: self.address_spaces_mapping(),
            flags,
            committed_bytes: self.committed_bytes(),
            ..Default::default()
        }
    }

    /// How many distinct address spaces map this VMO (Zircon's `share_count`).
    fn address_spaces_mapping(&self) -> usize {
        let family = self.family.lock();
        if self.dead.load(Ordering::Relaxed) {
            return 0;
        }
        family.node(self.node).mappings.address_spaces()
    }

    /// Pages the family's nodes hold in all (for tests and accounting).
    pub fn family_committed_pages(&self) -> usize {
        let family = self.family.lock();
        family
            .node_slots()
            .iter()
            .flatten()
            .map(|node| node.pages.len())
            .sum()
    }

    /// Nodes in the family (for tests: hidden and dead nodes are merged or removed).
    pub fn family_node_count(&self) -> usize {
        self.family.lock().node_slots().iter().flatten().count()
    }

    /// For tests: recomputes every charge of the family from scratch (page by page, by the
    /// rule of the module docs) and compares it with the kept counts. Err names the first
    /// difference.
    pub fn check_family_charges(&self) -> Result<(), alloc::string::String> {
        let family = self.family.lock();
        let mut expected: BTreeMap<NodeId, u64> = BTreeMap::new();
        for (id, node) in family.node_slots().iter().enumerate() {
            let Some(node) = node else { continue };
            for (index, _) in node.pages.iter() {
                match family.charged_to(id, index, Assume::Nothing) {
                    Some(owner) => *expected.entry(owner).or_default() += 1,
                    // A pending merge frees what nobody sees as its chunks reach it.
                    None if node.merge_pending() => {}
                    None => {
                        return Err(alloc::format!("page {index} of node {id}: nobody sees it"))
                    }
                }
            }
        }
        for (id, node) in family.node_slots().iter().enumerate() {
            let Some(node) = node else { continue };
            let want = expected.get(&id).copied().unwrap_or(0);
            if node.charged() != want {
                return Err(alloc::format!(
                    "node {id} (alive {}): charged {}, rule says {want}",
                    node.alive(),
                    node.charged()
                ));
            }
        }
        Ok(())
    }
}

impl KernelObject for Vmo {
    fn base(&self) -> &ObjectBase {
        &self.base
    }

    fn object_type(&self) -> u32 {
        ZX_OBJ_TYPE_VMO
    }

    fn on_zero_handles(&self) {
        let mut family = self.family.lock();
        if self.dead.load(Ordering::Relaxed) {
            return;
        }
        family.node_mut(self.node).handles_open = false;
        self.liveness_changed(&mut family);
    }

    fn has_name(&self) -> bool {
        true
    }

    fn torn_down(&self) -> Option<&'static str> {
        self.dead
            .load(Ordering::Acquire)
            .then_some("a VMO gone for good (no handle, no mapping), its pages freed")
    }
}

impl MapTarget for Vmo {
    fn koid(&self) -> Koid {
        self.base.koid()
    }

    fn size(&self) -> u64 {
        Vmo::size(self)
    }

    fn is_resizable(&self) -> bool {
        self.resizable
    }

    fn add_mapping(&self, observer: Weak<dyn MappingObserver>) -> Option<u64> {
        let mut family = self.family.lock();
        if self.dead.load(Ordering::Relaxed) {
            return None;
        }
        let id = family.new_mapping_id();
        family.node_mut(self.node).mappings.insert(id, observer);
        self.mapping_count.fetch_add(1, Ordering::Relaxed);
        Some(id)
    }

    fn narrow_mapping(&self, id: u64, offset: u64, len: u64) {
        let mut family = self.family.lock();
        if self.dead.load(Ordering::Relaxed) {
            return;
        }
        let first = offset >> PAGE_SHIFT;
        let end = offset.saturating_add(len).div_ceil(PAGE_SIZE);
        family.node_mut(self.node).mappings.narrow(id, first, end);
    }

    fn remove_mapping(&self, id: u64) {
        let mut family = self.family.lock();
        if self.dead.load(Ordering::Relaxed) {
            return;
        }
        if family.node_mut(self.node).mappings.remove(id) {
            self.mapping_count.fetch_sub(1, Ordering::Relaxed);
            self.liveness_changed(&mut family);
        }
    }

    fn fault_page(&self, offset: u64, write: bool, may_wait: bool) -> ZxResult<PageForFault> {
        if write {
            let (frame, _) = self.own_page_in_steps(offset, 1, true, may_wait)?;
            return Ok(PageForFault {
                frame,
                writable: true,
            });
        }
        let mut family = self.lock()?;
        if family.faults_held() {
            return Err(Status::SHOULD_WAIT);
        }
        let (node, start) = self.range(&family, offset, 1)?;
        let index = start >> PAGE_SHIFT;
        let page = match family.resolve(node, index) {
            Some(Found::Page { owner, frame, .. }) => PageForFault {
                frame,
                writable: owner == node,
            },
            _ => PageForFault {
                frame: family.frames().zero_page(),
                writable: false,
            },
        };
        if !page.writable {
            family.shared_ptes = true;
        }
        Ok(page)
    }
}

impl Drop for Vmo {
    fn drop(&mut self) {
        {
            // A VMO dropped without ever losing its last handle (no handle was made).
            let mut family = self.family.lock();
            if !self.dead.load(Ordering::Relaxed) {
                family.node_mut(self.node).handles_open = false;
                family.node_mut(self.node).mappings.clear();
                self.mapping_count.store(0, Ordering::Relaxed);
                self.liveness_changed(&mut family);
            }
        }
        // Drop the chain of user parents iteratively: a long clone chain must not recurse.
        let mut next = self.user_parent.take();
        while let Some(parent) = next {
            next = match Arc::into_inner(parent) {
                Some(mut vmo) => vmo.user_parent.take(),
                None => None,
            };
        }
    }
}
