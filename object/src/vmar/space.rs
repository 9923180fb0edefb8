//! The arena of one address space: every region and mapping, flat, behind one lock.
//!
//! Regions and mappings are kept in maps keyed by id; a region lists its direct children by
//! base address. Nothing here recurses: walks through nested regions use explicit stacks or
//! loops, so their depth costs heap, not kernel stack. Nothing here calls a [`MapTarget`]
//! (the caller holds the tree lock, see the lock order in the parent module).

use alloc::collections::{BTreeMap, VecDeque};
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

use super::{
    AddressSpace, MapTarget, MappingInfo, MappingObserver, MappingPerms, PAGE, PAGE_SIZE,
    UNMAP_WORK,
};
use crate::koid::Koid;
use crate::maxtree::MaxTree;

/// Gaps that fit `len` but miss the alignment a search looks at before it takes the first
/// gap that fits `len` at any alignment (see [`State::find_gap`]).
const MISALIGNED_GAPS_TRIED: usize = 16;

/// Children (mappings or regions) one chunk of a long operation handles under the lock,
/// between two preemption points. Measured under `-icount` on 100,000 one-page mappings,
/// each with its page-table entry: unmapping one, and unregistering it from its VMO after
/// the lock, costs about 3,000 instructions, so a chunk stays near 0.2 ms.
pub const CHUNK_CHILDREN: usize = 64;

/// Leaf tables (2 MiB of address space each) whose entries one chunk may clear, over all
/// the mappings it handles ([`AddressSpace::unmap_bounded`]): a mapping may have millions
/// of entries (a MAP_RANGE of the zero page costs no memory but the tables), and clearing a
/// full table costs about 4,600 instructions under `-icount`, so a chunk stays near 0.3 ms.
/// A mapping whose entries need more chunks shrinks as they go, so that the tree never
/// holds a part without its entries, and nothing is walked twice. A protect rewrites the
/// entries of as many tables a step (measured: about 0.34 ms for 64 full tables).
pub const UNMAP_TABLES: usize = 64;

/// Mappings spanning more than this in a range (in all) may need more than one chunk to
/// unmap: an overwriting map over them takes the chunked path.
pub const ONE_STEP_BYTES: usize = (UNMAP_TABLES - 1) << 21;

/// Shared by every [`super::Vmar`] of an address space and (weakly) by the observers its
/// mappings registered with their targets.
pub(crate) struct Space {
    pub aspace: Arc<dyn AddressSpace>,
    next_id: AtomicU64,
    pub state: spin::Mutex<State>,
}

impl Space {
    pub fn new(aspace: Arc<dyn AddressSpace>) -> Space {
        Space {
            aspace,
            next_id: AtomicU64::new(1),
            state: spin::Mutex::new(State {
                regions: BTreeMap::new(),
                mappings: BTreeMap::new(),
                generation: 0,
                fault_hint: None,
                busy: false,
                narrowed: Vec::new(),
                #[cfg(any(test, feature = "testing"))]
                counts: TestCounts::default(),
            }),
        }
    }

    /// A fresh id for a region or a mapping (one counter for both).
    pub fn new_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }
}

pub(crate) struct State {
    /// Live regions; a destroyed region is absent.
    pub regions: BTreeMap<u64, Region>,
    /// Live mappings, by the id their observer carries.
    pub mappings: BTreeMap<u64, Mapping>,
    /// Bumped by every change of the tree and every invalidation a target reports: a fault
    /// resolved without the lock installs its page only if this did not move meanwhile.
    pub generation: u64,
    /// The mapping the last fault found: faults come in runs over one mapping, and this
    /// spares each the walk down the tree. Cleared by every bump of `generation`, so a hint
    /// present is current.
    pub fault_hint: Option<FaultHint>,
    /// An operation over many children or entries (unmap, protect, destroy, an overwriting
    /// map) is in progress: it works in chunks and lets go of the lock between them, and
    /// until it clears this no other operation may change the tree (they wait, see
    /// `Vmar::lock_idle`), so that to them it is one atomic step. Faults, observers and
    /// queries do not wait: each chunk leaves every mapping whole (its entry in the tree and
    /// its page-table entries agree, but for a protect's entries not rewritten yet, which
    /// may keep their old permissions until it returns). Process teardown does not wait
    /// either: it takes every region away, and the operation's next chunk finds its region
    /// gone and stops.
    pub busy: bool,
    /// Mappings cut since the lock was taken, whose targets must learn their new range
    /// ([`MapTarget::narrow_mapping`]): taken out by whoever releases the lock after a
    /// change and passed on after it (targets are never called under this lock).
    pub narrowed: Vec<Narrowed>,
    #[cfg(any(test, feature = "testing"))]
    pub counts: TestCounts,
}

/// What host tests count to check that a lookup stays bounded (test builds only).
#[cfg(any(test, feature = "testing"))]
#[derive(Default)]
pub struct TestCounts {
    /// Observer calls (a target invalidating pages), whether or not they unmapped anything.
    pub observer_calls: AtomicU64,
    /// Gaps a placement search and children a failed MAP_RANGE's cleanup looked at.
    pub visits: AtomicU64,
}

/// A mapping's registration and the target range it now covers.
pub(crate) struct Narrowed {
    pub target: Arc<dyn MapTarget>,
    pub registration: u64,
    pub offset: u64,
    pub len: u64,
}

pub(crate) struct FaultHint {
    /// The region the lookup started from.
    pub region: u64,
    /// The mapping's addresses.
    pub start: usize,
    pub end: usize,
    /// What a fault needs of the mapping: its target (weak, so that the hint keeps no VMO
    /// alive), the target offset at `start`, and its permissions.
    pub target: Weak<dyn MapTarget>,
    pub target_offset: u64,
    pub perms: MappingPerms,
}

pub(crate) struct Region {
    pub base: usize,
    pub size: usize,
    pub koid: Koid,
    pub parent: Option<u64>,
    /// Direct children by base address; they never overlap.
    pub children: BTreeMap<usize, ChildKind>,
    /// The free stretches between the children (start -> size, never empty), so that a map
    /// or an allocation without SPECIFIC finds room in O(log n) however many children there
    /// are. Changed only with `children`, through [`State::occupy`] and [`State::release`].
    pub gaps: MaxTree<usize, usize>,
}

impl Region {
    /// An empty region: one gap covering it.
    pub fn new(base: usize, size: usize, koid: Koid, parent: Option<u64>) -> Region {
        let mut gaps = MaxTree::new();
        if size > 0 {
            gaps.insert(base, size);
        }
        Region {
            base,
            size,
            koid,
            parent,
            children: BTreeMap::new(),
            gaps,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ChildKind {
    Region(u64),
    Mapping(u64),
}

/// A child of a region with its extent.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Child {
    pub base: usize,
    pub size: usize,
    pub kind: ChildKind,
}

impl Child {
    pub fn end(&self) -> usize {
        self.base + self.size
    }
}

pub(crate) struct Mapping {
    /// The region whose direct child this is.
    pub region: u64,
    pub base: usize,
    pub size: usize,
    pub target: Arc<dyn MapTarget>,
    pub target_koid: Koid,
    pub target_offset: u64,
    pub perms: MappingPerms,
    pub max_perms: MappingPerms,
    /// Registered with the target; its id is this mapping's id.
    pub observer: Arc<Observer>,
    /// The id the target gave the registration.
    pub registration: u64,
    /// Id of the mapping `zx_vmar_map` created, shared by the pieces it is later cut into.
    pub origin: u64,
}

impl Mapping {
    pub fn id(&self) -> u64 {
        self.observer.id
    }

    pub fn end(&self) -> usize {
        self.base + self.size
    }

    /// Offset in the target of the byte at `va` (which lies in the mapping).
    pub fn target_offset_of(&self, va: usize) -> u64 {
        self.target_offset + (va - self.base) as u64
    }

    pub fn info(&self) -> MappingInfo {
        MappingInfo {
            base: self.base,
            size: self.size,
            target_koid: self.target_koid,
            target_offset: self.target_offset,
            perms: self.perms,
            max_perms: self.max_perms,
        }
    }
}

/// A registration made with a target (outside the tree lock) ahead of the mapping that
/// will use it.
pub(crate) struct Prepared {
    pub id: u64,
    pub observer: Arc<Observer>,
    pub registration: u64,
    /// The target took the registration (false: it was gone, see
    /// [`MapTarget::add_mapping`]; the registration is then meaningless).
    pub registered: bool,
    pub target: Arc<dyn MapTarget>,
}

impl Prepared {
    /// Registers a new observer with `target`. Must not be called with the tree lock held.
    pub fn new(space: &Arc<Space>, target: Arc<dyn MapTarget>) -> Prepared {
        let id = space.new_id();
        let observer = Arc::new(Observer {
            space: Arc::downgrade(space),
            id,
        });
        let weak = Arc::downgrade(&observer) as Weak<dyn MappingObserver>;
        let registration = target.add_mapping(weak);
        Prepared {
            id,
            observer,
            registration: registration.unwrap_or(0),
            registered: registration.is_some(),
            target,
        }
    }
}

/// What a target holds (weakly) for a mapping: finds the mapping in the arena and removes
/// the page-table entries of the target range it is told about.
pub(crate) struct Observer {
    space: Weak<Space>,
    id: u64,
}

impl MappingObserver for Observer {
    fn address_space_id(&self) -> u64 {
        // The space lives as long as any of its mappings is registered: its address names it.
        self.space.as_ptr() as usize as u64
    }

    fn begin_batch(&self) {
        if let Some(space) = self.space.upgrade() {
            space.aspace.begin_batch();
        }
    }

    fn end_batch(&self) {
        if let Some(space) = self.space.upgrade() {
            space.aspace.end_batch();
        }
    }

    fn unmap_target_range(&self, offset: u64, len: u64) {
        let Some(space) = self.space.upgrade() else {
            return;
        };
        let mut state = space.state.lock();
        #[cfg(any(test, feature = "testing"))]
        {
            state.counts.observer_calls.fetch_add(1, Ordering::Relaxed);
        }
        // A fault being resolved concurrently must look again, even when this mapping is not
        // in the tree (yet, for a registration made ahead of a split, or any more).
        state.bump();
        let Some(m) = state.mappings.get(&self.id) else {
            return;
        };
        let page_mask = PAGE_SIZE - 1;
        let start = (offset & !page_mask).max(m.target_offset);
        let end = offset.saturating_add(len).saturating_add(page_mask) & !page_mask;
        let end = end.min(m.target_offset + m.size as u64);
        if start < end {
            let va = m.base + (start - m.target_offset) as usize;
            space.aspace.unmap(va, (end - start) as usize);
        }
    }

    fn unmap_target_range_bounded(
        &self,
        offset: u64,
        len: u64,
        work: &mut usize,
        from_top: bool,
    ) -> u64 {
        // What says "all of it": the mapping shows nothing outside `start..end` below.
        let all = if from_top { offset } else { offset + len };
        let Some(space) = self.space.upgrade() else {
            return all;
        };
        let mut state = space.state.lock();
        #[cfg(any(test, feature = "testing"))]
        {
            state.counts.observer_calls.fetch_add(1, Ordering::Relaxed);
        }
        // As in `unmap_target_range`: a fault in progress looks again.
        state.bump();
        let Some(m) = state.mappings.get(&self.id) else {
            return all;
        };
        // Page-aligned (the VMO's ranges are whole pages).
        let start = offset.max(m.target_offset);
        let end = (offset + len).min(m.target_offset + m.size as u64);
        if start >= end {
            return all;
        }
        let va = m.base + (start - m.target_offset) as usize;
        let reached = space
            .aspace
            .unmap_bounded(va, (end - start) as usize, work, from_top);
        let reached = start + (reached - va) as u64;
        let done = if from_top {
            reached <= start
        } else {
            reached >= end
        };
        if done {
            all
        } else {
            reached
        }
    }
}

impl State {
    pub fn bump(&mut self) {
        self.generation = self.generation.wrapping_add(1);
        // Dropping the hint's weak reference never runs a target's destructor.
        self.fault_hint = None;
    }

    fn child(&self, base: usize, kind: ChildKind) -> Option<Child> {
        let size = match kind {
            ChildKind::Region(id) => self.regions.get(&id)?.size,
            ChildKind::Mapping(id) => self.mappings.get(&id)?.size,
        };
        Some(Child { base, size, kind })
    }

    /// The direct children of region `rid` that intersect `a .. b`, in address order.
    pub fn overlapping(&self, rid: u64, a: usize, b: usize) -> Vec<Child> {
        let mut found = Vec::new();
        let Some(region) = self.regions.get(&rid) else {
            return found;
        };
        if a >= b {
            return found;
        }
        if let Some((&base, &kind)) = region.children.range(..a).next_back() {
            if let Some(child) = self.child(base, kind) {
                if child.end() > a {
                    found.push(child);
                }
            }
        }
        for (&base, &kind) in region.children.range(a..b) {
            if let Some(child) = self.child(base, kind) {
                found.push(child);
            }
        }
        found
    }

    /// The lowest child of region `rid` that intersects `a .. b` (a lookup, however many
    /// children the range holds).
    pub fn first_overlapping(&self, rid: u64, a: usize, b: usize) -> Option<Child> {
        let region = self.regions.get(&rid)?;
        if a >= b {
            return None;
        }
        if let Some((&base, &kind)) = region.children.range(..a).next_back() {
            if let Some(child) = self.child(base, kind) {
                if child.end() > a {
                    return Some(child);
                }
            }
        }
        let (&base, &kind) = region.children.range(a..b).next()?;
        self.child(base, kind)
    }

    /// The first `max` children of region `rid` that intersect `a .. b`, in address order
    /// (one lookup, then a walk).
    pub fn children_from(&self, rid: u64, a: usize, b: usize, max: usize) -> Vec<Child> {
        let mut found = Vec::new();
        let Some(first) = self.first_overlapping(rid, a, b) else {
            return found;
        };
        found.push(first);
        let from = first.end().max(a);
        if let Some(region) = self.regions.get(&rid).filter(|_| from < b) {
            for (&base, &kind) in region.children.range(from..b).take(max.saturating_sub(1)) {
                if let Some(child) = self.child(base, kind) {
                    found.push(child);
                }
            }
        }
        found.truncate(max);
        found
    }

    /// The child of region `rid` that contains `va`.
    pub fn child_containing(&self, rid: u64, va: usize) -> Option<Child> {
        self.first_overlapping(rid, va, va + 1)
    }

    /// The lowest `align`-aligned address of region `rid` where `len` free bytes start: a
    /// search of the gap index, O(log n). A gap that holds `len` bytes but not at the
    /// alignment is skipped; after [`MISALIGNED_GAPS_TRIED`] of them the search takes the
    /// first gap that holds `len` bytes at any alignment, so that a user's many small
    /// misaligned gaps cannot make it long (with a page alignment, the usual case, the first
    /// gap found always fits, and placement is first fit).
    pub fn find_gap(&self, rid: u64, len: usize, align: usize) -> Option<usize> {
        let region = self.regions.get(&rid)?;
        let align_up = |v: usize| v.checked_add(align - 1).map(|v| v & !(align - 1));
        let fits = |start: usize, size: usize| {
            let at = align_up(start)?;
            let end = at.checked_add(len)?;
            (end <= start + size).then_some(at)
        };
        let mut from = region.base;
        for _ in 0..MISALIGNED_GAPS_TRIED {
            self.count_visit();
            let (start, size) = region.gaps.first_from(&from, len)?;
            if let Some(at) = fits(start, size) {
                return Some(at);
            }
            from = start.checked_add(1)?;
        }
        let (start, size) = region
            .gaps
            .first_from(&from, len.checked_add(align - PAGE)?)?;
        fits(start, size)
    }

    #[inline]
    pub fn count_visit(&self) {
        #[cfg(any(test, feature = "testing"))]
        self.counts.visits.fetch_add(1, Ordering::Relaxed);
    }

    /// Marks `base .. end` of region `rid` taken (a new child): the gap holding it shrinks or
    /// splits.
    fn occupy(&mut self, rid: u64, base: usize, end: usize) {
        let Some(region) = self.regions.get_mut(&rid) else {
            return;
        };
        let Some((start, size)) = region.gaps.last_at_or_below(&base) else {
            return;
        };
        let gap_end = start + size;
        if gap_end < end {
            debug_assert!(false, "child {base:#x}..{end:#x} not in a gap");
            return;
        }
        if start < base {
            // The part below stays, in place.
            region.gaps.set_value(&start, base - start);
        } else {
            region.gaps.remove(&start);
        }
        if end < gap_end {
            region.gaps.insert(end, gap_end - end);
        }
    }

    /// Marks `base .. end` of region `rid` free (a child gone or cut): merged with the gaps
    /// on either side.
    fn release(&mut self, rid: u64, base: usize, end: usize) {
        let Some(region) = self.regions.get_mut(&rid) else {
            return;
        };
        if base >= end {
            return;
        }
        let mut stop = end;
        if let Some(size) = region.gaps.remove(&end) {
            stop = end + size;
        }
        let before = base
            .checked_sub(1)
            .and_then(|b| region.gaps.last_at_or_below(&b))
            .filter(|&(start, size)| start + size == base);
        match before {
            // The gap below grows in place (unmapping from the bottom up, the usual order,
            // allocates nothing).
            Some((start, _)) => {
                region.gaps.set_value(&start, stop - start);
            }
            None => {
                region.gaps.insert(base, stop - base);
            }
        }
    }

    /// Removes the child at `base` of region `rid` from its children and frees its room.
    fn remove_child(&mut self, rid: u64, base: usize) -> Option<ChildKind> {
        let kind = *self.regions.get(&rid)?.children.get(&base)?;
        let end = self.child(base, kind).map_or(base, |c| c.end());
        self.regions.get_mut(&rid)?.children.remove(&base);
        self.release(rid, base, end);
        Some(kind)
    }

    /// The innermost mapping containing `va`, descending from region `rid` (a loop: the
    /// nesting depth is the user's choice).
    pub fn lookup(&self, rid: u64, va: usize) -> Option<u64> {
        let mut rid = rid;
        loop {
            let region = self.regions.get(&rid)?;
            let (&base, &kind) = region.children.range(..=va).next_back()?;
            let child = self.child(base, kind)?;
            if va >= child.end() {
                return None;
            }
            match kind {
                ChildKind::Region(id) => rid = id,
                ChildKind::Mapping(id) => return Some(id),
            }
        }
    }

    /// Ids of the regions in the subtree of `rid` (itself first).
    fn subtree_regions(&self, rid: u64) -> Vec<u64> {
        let mut regions = Vec::new();
        if self.regions.contains_key(&rid) {
            regions.push(rid);
        }
        let mut i = 0;
        while let Some(&id) = regions.get(i) {
            i += 1;
            if let Some(region) = self.regions.get(&id) {
                regions.extend(region.children.values().filter_map(|kind| match kind {
                    ChildKind::Region(sub) => Some(*sub),
                    ChildKind::Mapping(_) => None,
                }));
            }
        }
        regions
    }

    /// Ids of the mappings in the subtree of `rid`.
    pub fn subtree_mappings(&self, rid: u64) -> Vec<u64> {
        let mut mappings = Vec::new();
        for id in self.subtree_regions(rid) {
            if let Some(region) = self.regions.get(&id) {
                mappings.extend(region.children.values().filter_map(|kind| match kind {
                    ChildKind::Mapping(m) => Some(*m),
                    ChildKind::Region(_) => None,
                }));
            }
        }
        mappings
    }

    pub fn mapping_count(&self, rid: u64) -> usize {
        self.subtree_mappings(rid).len()
    }

    pub fn insert_region(&mut self, id: u64, region: Region) {
        if let Some(pid) = region.parent {
            if let Some(parent) = self.regions.get_mut(&pid) {
                parent.children.insert(region.base, ChildKind::Region(id));
                self.occupy(pid, region.base, region.base + region.size);
            }
        }
        self.regions.insert(id, region);
        self.bump();
    }

    pub fn insert_mapping(&mut self, mapping: Mapping) {
        let id = mapping.id();
        if let Some(region) = self.regions.get_mut(&mapping.region) {
            region.children.insert(mapping.base, ChildKind::Mapping(id));
            let (rid, base, end) = (mapping.region, mapping.base, mapping.end());
            self.occupy(rid, base, end);
        }
        self.mappings.insert(id, mapping);
        self.bump();
    }

    /// Takes mapping `id` out of the tree (its page-table entries are the caller's business).
    pub fn detach_mapping(&mut self, id: u64) -> Option<Mapping> {
        let (rid, base, end) = {
            let m = self.mappings.get(&id)?;
            (m.region, m.base, m.end())
        };
        if let Some(region) = self.regions.get_mut(&rid) {
            if region.children.remove(&base).is_some() {
                self.release(rid, base, end);
            }
        }
        let mapping = self.mappings.remove(&id)?;
        self.bump();
        Some(mapping)
    }

    /// Cuts mapping `id` at `at` (strictly inside it): it keeps `base .. at`, and a new
    /// mapping with the first registration of `spares` takes `at .. end` with the matching
    /// target offset. Returns the new mapping's id; `None` (and no change) if `at` is not
    /// inside or no registration is left.
    pub fn split(&mut self, id: u64, at: usize, spares: &mut Vec<Prepared>) -> Option<u64> {
        let m = self.mappings.get(&id)?;
        if at <= m.base || at >= m.end() || !page_aligned(at) || spares.is_empty() {
            return None;
        }
        let spare = spares.remove(0);
        let m = self.mappings.get_mut(&id)?;
        let right = Mapping {
            region: m.region,
            base: at,
            size: m.end() - at,
            target: spare.target,
            target_koid: m.target_koid,
            target_offset: m.target_offset_of(at),
            perms: m.perms,
            max_perms: m.max_perms,
            observer: spare.observer,
            registration: spare.registration,
            origin: m.origin,
        };
        m.size = at - m.base;
        let (rid, end) = (m.region, right.end());
        let new_id = right.id();
        // The left part gave up `at .. end`, which the right part takes.
        self.release(rid, at, end);
        self.insert_mapping(right);
        self.note_narrowed(id);
        self.note_narrowed(new_id);
        Some(new_id)
    }

    /// Records that mapping `id` now covers only its current target range.
    fn note_narrowed(&mut self, id: u64) {
        if let Some(m) = self.mappings.get(&id) {
            let n = Narrowed {
                target: m.target.clone(),
                registration: m.registration,
                offset: m.target_offset,
                len: m.size as u64,
            };
            self.narrowed.push(n);
        }
    }

    /// Shortens mapping `id` to end at `end`.
    fn trim_tail(&mut self, id: u64, end: usize) {
        if let Some(m) = self.mappings.get_mut(&id) {
            if end > m.base && end < m.end() {
                let (rid, old_end) = (m.region, m.end());
                m.size = end - m.base;
                self.release(rid, end, old_end);
                self.note_narrowed(id);
            }
        }
    }

    /// Shortens mapping `id` to start at `start`, keeping the target offsets of what stays.
    fn trim_head(&mut self, id: u64, start: usize) {
        let Some(m) = self.mappings.get_mut(&id) else {
            return;
        };
        if start <= m.base || start >= m.end() {
            return;
        }
        let old_base = m.base;
        m.target_offset = m.target_offset_of(start);
        m.size = m.end() - start;
        m.base = start;
        let region = m.region;
        if let Some(r) = self.regions.get_mut(&region) {
            r.children.remove(&old_base);
            r.children.insert(start, ChildKind::Mapping(id));
            self.release(region, old_base, start);
        }
        self.note_narrowed(id);
    }

    /// Removes what region `rid` has in `a .. b`: mappings are cut or removed (their PTEs in
    /// the range unmapped), sub-regions (entirely inside, checked by the caller) destroyed.
    /// A mapping spanning the range on both sides is split with a registration of `spares`.
    pub fn unmap_range(
        &mut self,
        aspace: &dyn AddressSpace,
        rid: u64,
        a: usize,
        b: usize,
        spares: &mut Vec<Prepared>,
        removed: &mut Vec<Mapping>,
    ) {
        for child in self.overlapping(rid, a, b) {
            match child.kind {
                ChildKind::Region(sub) => self.destroy_region(aspace, sub, removed),
                ChildKind::Mapping(id) => {
                    // Few children spanning at most `ONE_STEP_BYTES` in the range (the caller
                    // checks): no limit (at most a table more than that for each child).
                    let mut child = child;
                    let mut work = usize::MAX;
                    while !self.unmap_mapping(aspace, child, id, a, b, &mut work, spares, removed) {
                        let Some(now) = self.mappings.get(&id) else {
                            break;
                        };
                        child = Child {
                            base: now.base,
                            size: now.size,
                            kind: child.kind,
                        };
                    }
                }
            }
        }
        self.bump();
    }

    /// One chunk of unmapping `a .. b` of region `rid` (see `Vmar::unmap`): handles at most
    /// [`CHUNK_CHILDREN`] children from `cursor` on, each whole under the lock (its
    /// page-table entries go in the same step as its place in the tree), and advances
    /// `cursor` past them. A sub-region entirely in the range goes onto `erasing` and is taken apart by
    /// [`State::erase_some`], child by child, before the walk goes on. A mapping spanning the
    /// whole range on both sides is split with a registration of `spares`. True when nothing
    /// is left to do (or the region is gone: process teardown took it).
    #[allow(clippy::too_many_arguments)]
    pub fn unmap_some(
        &mut self,
        aspace: &dyn AddressSpace,
        rid: u64,
        a: usize,
        cursor: &mut usize,
        b: usize,
        erasing: &mut Vec<u64>,
        spares: &mut Vec<Prepared>,
        removed: &mut Vec<Mapping>,
    ) -> bool {
        let mut budget = CHUNK_CHILDREN;
        let mut work = UNMAP_WORK;
        let done = loop {
            self.erase_some(aspace, erasing, &mut budget, &mut work, removed);
            if !erasing.is_empty() || budget == 0 {
                break false;
            }
            let batch = self.children_from(rid, *cursor, b, budget);
            if batch.is_empty() {
                break true;
            }
            for child in batch {
                budget -= 1;
                match child.kind {
                    // Entirely inside (checked before the first chunk; nothing else changes
                    // the tree meanwhile): taken apart before the walk goes on.
                    ChildKind::Region(sub) => {
                        *cursor = child.end();
                        erasing.push(sub);
                        break;
                    }
                    ChildKind::Mapping(id) => {
                        if self.unmap_mapping(aspace, child, id, a, b, &mut work, spares, removed) {
                            *cursor = child.end();
                        } else {
                            // The entries took the chunk: what is left of it comes next.
                            budget = 0;
                            break;
                        }
                    }
                }
            }
        };
        self.bump();
        done
    }

    /// Removes what mapping `id` (the child `child`) has in `a .. b` (which it intersects):
    /// its page-table entries there go; it is cut, split or removed (into `removed`). Entries
    /// go within the work left in `work` (taken from it): when that ends first, the mapping
    /// shrinks to what still has entries in the range, and false says that more is left
    /// (call again with the child as it is now).
    #[allow(clippy::too_many_arguments)]
    fn unmap_mapping(
        &mut self,
        aspace: &dyn AddressSpace,
        child: Child,
        id: u64,
        a: usize,
        b: usize,
        work: &mut usize,
        spares: &mut Vec<Prepared>,
        removed: &mut Vec<Mapping>,
    ) -> bool {
        let start = child.base.max(a);
        let end = child.end().min(b);
        if child.base < a && child.end() > b && self.split(id, b, spares).is_none() {
            // Not reached (the registration was planned); never leave PTEs of a part the
            // tree forgets.
            aspace.unmap(start, child.end() - start);
            self.trim_tail(id, a);
            return true;
        }
        if child.base < a {
            // The top of the mapping goes: from the top down.
            let top = aspace.unmap_bounded(start, end - start, work, true);
            self.trim_tail(id, top.max(a));
            return top <= a;
        }
        let reached = aspace.unmap_bounded(start, end - start, work, false);
        if reached >= end {
            if child.end() > b {
                self.trim_head(id, b);
            } else if let Some(m) = self.detach_mapping(id) {
                removed.push(m);
            }
            return true;
        }
        self.trim_head(id, reached);
        false
    }

    /// Unmaps mapping `id` (a child of region `rid` at `base`, or of no region any more),
    /// its entries within the work left in `work` (taken from it): when that was all, it
    /// leaves the tree (returned); else it shrinks to the part that still has entries.
    pub fn unmap_whole_bounded(
        &mut self,
        aspace: &dyn AddressSpace,
        id: u64,
        work: &mut usize,
    ) -> Option<Mapping> {
        let (base, end, rid) = {
            let m = self.mappings.get(&id)?;
            (m.base, m.end(), m.region)
        };
        let reached = aspace.unmap_bounded(base, end - base, work, false);
        if reached < end {
            if self.regions.contains_key(&rid) {
                self.trim_head(id, reached);
            } else if let Some(m) = self.mappings.get_mut(&id) {
                // Teardown: no region to update.
                if reached > m.base {
                    m.target_offset = m.target_offset_of(reached);
                    m.size = m.end() - reached;
                    m.base = reached;
                }
            }
            return None;
        }
        self.remove_child(rid, base);
        self.mappings.remove(&id)
    }

    /// Takes apart the regions on `erasing` (a stack, innermost last), at most `budget`
    /// steps: each step removes one child of the innermost region (a mapping with its
    /// page-table entries, or a sub-region, which goes onto the stack), or removes a region
    /// left empty from the arena and from its parent; the mappings' entries within the work
    /// left in `work` (a mapping shrinks when that ends first, and `budget` drops to 0).
    /// Everything stays consistent between calls: a region being taken apart still holds
    /// (and maps) what it has left.
    pub fn erase_some(
        &mut self,
        aspace: &dyn AddressSpace,
        erasing: &mut Vec<u64>,
        budget: &mut usize,
        work: &mut usize,
        removed: &mut Vec<Mapping>,
    ) {
        while *budget > 0 {
            let Some(&rid) = erasing.last() else {
                return;
            };
            *budget -= 1;
            let Some(region) = self.regions.get(&rid) else {
                erasing.pop();
                continue;
            };
            let first = region.children.first_key_value().map(|(&b, &k)| (b, k));
            match first {
                Some((base, ChildKind::Region(sub))) => {
                    self.remove_child(rid, base);
                    erasing.push(sub);
                }
                Some((base, ChildKind::Mapping(id))) => {
                    if !self.mappings.contains_key(&id) {
                        self.remove_child(rid, base);
                        continue;
                    }
                    match self.unmap_whole_bounded(aspace, id, work) {
                        Some(m) => removed.push(m),
                        // Shrunk: the rest next time.
                        None => *budget = 0,
                    }
                }
                None => {
                    erasing.pop();
                    let Some(region) = self.regions.get(&rid) else {
                        continue;
                    };
                    if let Some(pid) = region.parent {
                        let base = region.base;
                        let is_child = self.regions.get(&pid).is_some_and(|p| {
                            p.children.get(&base) == Some(&ChildKind::Region(rid))
                        });
                        if is_child {
                            self.remove_child(pid, base);
                        }
                    }
                    self.regions.remove(&rid);
                }
            }
        }
    }

    /// Gives mapping `child` (in the range `a .. b` of a protect) the permissions `perms`,
    /// splitting it at `a` and `b` with registrations of `spares` where it sticks out and its
    /// permissions change. Only the tree changes here, so that every fault from now on
    /// resolves with the new permissions: the range whose page-table entries still have the
    /// old ones goes onto `stale`, for [`State::rewrite_some`].
    #[allow(clippy::too_many_arguments)]
    pub fn protect_child(
        &mut self,
        child: &Child,
        a: usize,
        b: usize,
        perms: MappingPerms,
        spares: &mut Vec<Prepared>,
        stale: &mut VecDeque<(usize, usize)>,
    ) {
        let ChildKind::Mapping(mut id) = child.kind else {
            return;
        };
        if self.mappings.get(&id).is_none_or(|m| m.perms == perms) {
            return;
        }
        if child.base < a {
            match self.split(id, a, spares) {
                Some(right) => id = right,
                None => return,
            }
        }
        if child.end() > b && self.split(id, b, spares).is_none() {
            return;
        }
        let Some(m) = self.mappings.get_mut(&id) else {
            return;
        };
        m.perms = perms;
        stale.push_back((m.base, m.end()));
        self.bump();
    }

    /// Gives the page-table entries of the ranges on `stale` (taken off it as they are done)
    /// the permissions `perms` within the work left in `work` (taken from it, as
    /// [`AddressSpace::unmap_bounded`] counts it): they lose write (granted again by write
    /// faults, so copy-on-write pages stay read-only) and get the new read/execute, or go when
    /// `perms` grants nothing. True when `stale` is empty.
    pub fn rewrite_some(
        &mut self,
        aspace: &dyn AddressSpace,
        stale: &mut VecDeque<(usize, usize)>,
        perms: MappingPerms,
        work: &mut usize,
    ) -> bool {
        while let Some(&(start, end)) = stale.front() {
            let reached = if perms.read || perms.execute {
                let entry = MappingPerms {
                    write: false,
                    ..perms
                };
                aspace.protect_bounded(start, end - start, entry, work)
            } else {
                aspace.unmap_bounded(start, end - start, work, false)
            };
            if reached < end {
                stale[0] = (reached, end);
                return false;
            }
            stale.pop_front();
        }
        true
    }

    /// Destroys region `rid` and everything nested in it, iteratively: every mapping's PTEs
    /// are unmapped and the mapping moved to `removed`; the regions disappear from the arena
    /// (so operations through them give BAD_STATE) and `rid` from its parent.
    pub fn destroy_region(
        &mut self,
        aspace: &dyn AddressSpace,
        rid: u64,
        removed: &mut Vec<Mapping>,
    ) {
        let Some(region) = self.regions.get(&rid) else {
            return;
        };
        if let Some(parent) = region.parent {
            let base = region.base;
            self.remove_child(parent, base);
        }
        let mut stack = alloc::vec![rid];
        while let Some(id) = stack.pop() {
            let Some(region) = self.regions.remove(&id) else {
                continue;
            };
            for kind in region.children.into_values() {
                match kind {
                    ChildKind::Region(sub) => stack.push(sub),
                    ChildKind::Mapping(m) => {
                        if let Some(m) = self.mappings.remove(&m) {
                            aspace.unmap(m.base, m.size);
                            removed.push(m);
                        }
                    }
                }
            }
        }
        self.bump();
    }
}

fn page_aligned(value: usize) -> bool {
    value.is_multiple_of(PAGE)
}
