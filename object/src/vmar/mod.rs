//! Virtual memory address regions (VMARs): the bookkeeping of a process's address space.
//!
//! A process has one root [`Vmar`] covering its user half. Inside a VMAR live, without
//! overlapping, sub-VMARs ([`Vmar::allocate`]) and mappings of a [`MapTarget`] (a VMO,
//! [`Vmar::map`]). Page-table entries are installed lazily by [`Vmar::handle_fault`] (or
//! eagerly with `ZX_VM_MAP_RANGE`) through the [`AddressSpace`] trait, which the kernel
//! implements with aarch64 tables and the tests with a fake (`testing::FakeAddressSpace`,
//! built with the `testing` feature).
//!
//! # Structure
//! All regions and mappings of one address space live in a single arena (module `space`)
//! behind one `spin::Mutex`, shared by the root and every sub-VMAR: there is no per-VMAR lock
//! and so no ordering problem between nested VMARs. A [`Vmar`] is a handle-like view (arena
//! id, base, size, capabilities); the arena owns the tree, which is flat (maps keyed by id),
//! so walks and drops never recurse however deep the user nests VMARs.
//!
//! # Where things are
//! - this module: [`Vmar`] (map, allocate, unmap, protect, destroy, teardown) and the
//!   queries;
//! - `contract`: the traits the bookkeeping is written against ([`MapTarget`],
//!   [`MappingObserver`], [`AddressSpace`]) and [`MappingPerms`];
//! - `fault`: the fault path ([`Vmar::handle_fault`]);
//! - `object`: the VMAR kernel object ([`VmarObject`]) and the rights of its handles;
//! - `space`: the arena and its tree lock.
//!
//! # Locking
//! One lock per address space: the tree lock (`Space::state`, a spin lock), over every
//! region and mapping of the arena, the fault hint and the generation. It masks no IRQs: no
//! IRQ handler takes it (the kernel runs with IRQs masked anyway, except at preemption
//! points, which are never passed with it held). Lock order, outermost first:
//! 1. locks inside a [`MapTarget`] (a VMO calls [`MappingObserver::unmap_target_range`] while
//!    holding its own lock);
//! 2. the address-space tree lock (this module);
//! 3. locks inside the [`AddressSpace`] (called with the tree lock held): its page-table
//!    lock, and the page pool's lock (IRQs masked) under that for the tables it takes or
//!    frees.
//!
//! Consequently this module never calls a `MapTarget` method (not even `add_mapping`,
//! `remove_mapping`, `size` or `koid`) and never lets go of a mapping's `Arc<dyn MapTarget>`
//! while it holds the tree lock (removed mappings are unregistered and dropped after it).
//! Operations that need new target registrations (a mapping split in two needs a second
//! registration) plan under the lock, register outside it, then re-check and apply under
//! the lock, retrying if the tree changed meanwhile. Faults call `fault_page` unlocked and
//! install the page only if no invalidation happened in between (a generation counter).
//!
//! Nothing under the tree lock may fault or sleep: it never touches user memory, never waits
//! and takes no preemption point (long operations release it between chunks, below).
//!
//! # Long operations
//! Unmap, protect and destroy over many children, a SPECIFIC_OVERWRITE map over many, and
//! the teardown of a whole address space work in chunks of [`space::CHUNK_CHILDREN`]
//! children with the lock released and a preemption point between chunks. Why this keeps
//! their meaning exact, with other CPUs running meanwhile:
//! - All but teardown mark the tree busy (`State::busy`) from their first look to their last
//!   chunk. Every other operation that changes the tree (map, allocate, unmap, protect,
//!   destroy) waits until then, so to them the whole call is one step: its checks still hold
//!   when it applies them (a failing call changes nothing), and nothing can be mapped or
//!   allocated in its range while old mappings or their page-table entries remain.
//! - Faults, target invalidations and queries do not wait. Each chunk takes a mapping's place
//!   in the tree and its page-table entries away in one step under the lock, and bumps the
//!   generation, so a fault finds each mapping whole or not at all and never installs a page
//!   for one that is gone.
//! - Protect changes a mapping's permissions in the tree first (so every fault from then on
//!   resolves with the new ones) and rewrites its entries after, in steps of at most
//!   [`space::UNMAP_TABLES`] tables (`State::rewrite_some`), each with its TLB flush. Until
//!   the call returns, an entry not rewritten yet may still allow what the mapping no
//!   longer does (as if the access came before the call); when it returns, none does.
//! - A killed thread stops at its next point and clears `busy`: what it did stays done, the
//!   rest is not done, and the tree is consistent either way (the process's teardown, or a
//!   later call, takes the rest). The one exception, the entries a protect had not rewritten
//!   yet, is left on a list and removed a chunk at a time later ([`stale_entries_chunk`]):
//!   faults bring them back with the mapping's permissions.
//! - Teardown takes every region away in one step (so every operation gives BAD_STATE from
//!   then on, and a long operation in progress stops at its next chunk) and leaves the
//!   mappings in the arena's map until a chunk removes their entries, so that a target
//!   freeing pages meanwhile still reaches them through their observers. The chunks after
//!   the first run later ([`crate::free_deferred`]).
//!
//! # Rules chosen where Zircon's documentation leaves room (see also the method docs)
//! - W+X mappings are refused with `ACCESS_DENIED` (a policy refusal, like Zircon's
//!   "prohibited mapping flags"), after the WRITE-without-READ (`INVALID_ARGS`) and the
//!   rights/capability (`ACCESS_DENIED`) checks.
//! - Both "SPECIFIC range overlaps something" and "no room" give `NO_MEMORY` (the spec),
//!   while a SPECIFIC range that does not fit inside the VMAR gives `INVALID_ARGS` (Zircon).
//! - `target_offset + len` overflowing gives `INVALID_ARGS` (Zircon's `zx_vmar_map`).
//! - A mapping may extend past the current end of its target (Zircon before
//!   `ZX_VM_ALLOW_FAULTS`): a fault beyond the end fails with the target's `OUT_OF_RANGE`.
//! - Unmapping a range in which nothing is mapped succeeds (Zircon's implementation).
//! - Placement of non-specific maps and allocations is first fit from the lowest address
//!   (deterministic; `ZX_VM_COMPACT` is accepted and changes nothing), found in an index of
//!   free gaps in O(log n); with an alignment above a page, after a few gaps too small at
//!   that alignment the first gap large enough at any alignment is taken instead.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::fmt;

use abi::{
    ZX_VM_ALIGN_BASE, ZX_VM_CAN_MAP_EXECUTE, ZX_VM_CAN_MAP_READ, ZX_VM_CAN_MAP_SPECIFIC,
    ZX_VM_CAN_MAP_WRITE, ZX_VM_COMPACT, ZX_VM_MAP_RANGE, ZX_VM_PERM_EXECUTE, ZX_VM_PERM_READ,
    ZX_VM_PERM_WRITE, ZX_VM_REQUIRE_NON_RESIZABLE, ZX_VM_SPECIFIC, ZX_VM_SPECIFIC_OVERWRITE,
};

use crate::frames::PAGE_SIZE;
use crate::koid::{new_koid, Koid};
use crate::preempt::{self, WorkList};
use crate::{Rights, Status, ZxResult};

mod contract;
mod fault;
mod object;
mod space;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
// For `testing`, which names what it uses through its parent (tests include it by path).
#[cfg(any(test, feature = "testing"))]
use crate::frames::FrameAddr;

pub use contract::{
    AddressSpace, MapTarget, MappingObserver, MappingPerms, PageForFault, TABLE_WORK, UNMAP_WORK,
};
pub use object::{
    mapping_rights, rights_for_capabilities, vmar_handle, vmar_handle_with_rights, vmar_rights,
    VmarObject,
};

use space::{
    ChildKind, Mapping, Narrowed, Prepared, Region, Space, State, CHUNK_CHILDREN, ONE_STEP_BYTES,
};

/// One mapping, as [`Vmar::children`], [`Vmar::mappings`] and [`Vmar::mapping_at`] show it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MappingInfo {
    /// Absolute address of the first byte.
    pub base: usize,
    pub size: usize,
    pub target_koid: Koid,
    /// Offset in the target of the byte at `base`.
    pub target_offset: u64,
    /// Current permissions.
    pub perms: MappingPerms,
    /// What `protect` may ever grant: the target handle's rights at map time intersected
    /// with the VMAR's capabilities.
    pub max_perms: MappingPerms,
}

/// A direct child of a VMAR.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VmarChild {
    Region {
        koid: Koid,
        base: usize,
        size: usize,
    },
    Mapping(MappingInfo),
}

const PAGE: usize = PAGE_SIZE as usize;

/// `ZX_VM_CAN_MAP_*` bits: the capabilities of a VMAR.
const CAPABILITY_MASK: u32 =
    ZX_VM_CAN_MAP_READ | ZX_VM_CAN_MAP_WRITE | ZX_VM_CAN_MAP_EXECUTE | ZX_VM_CAN_MAP_SPECIFIC;
const PERM_MASK: u32 = ZX_VM_PERM_READ | ZX_VM_PERM_WRITE | ZX_VM_PERM_EXECUTE;
/// The alignment field, bits 24..32.
const ALIGN_MASK: u32 = !((1u32 << ZX_VM_ALIGN_BASE) - 1);
const MAP_OPTIONS: u32 = PERM_MASK
    | ZX_VM_SPECIFIC
    | ZX_VM_SPECIFIC_OVERWRITE
    | ZX_VM_MAP_RANGE
    | ZX_VM_REQUIRE_NON_RESIZABLE
    | ALIGN_MASK;
const ALLOCATE_OPTIONS: u32 = CAPABILITY_MASK | ZX_VM_SPECIFIC | ZX_VM_COMPACT | ALIGN_MASK;

fn page_aligned(value: usize) -> bool {
    value.is_multiple_of(PAGE)
}

fn round_up_to_page(len: usize) -> Option<usize> {
    len.checked_add(PAGE - 1).map(|v| v & !(PAGE - 1))
}

/// The alignment the `ZX_VM_ALIGN_*` field of `options` asks for (at least a page).
fn alignment(options: u32) -> ZxResult<usize> {
    let log2 = options >> ZX_VM_ALIGN_BASE;
    if log2 == 0 {
        return Ok(PAGE);
    }
    if !(10..=32).contains(&log2) {
        return Err(Status::INVALID_ARGS);
    }
    let align = usize::try_from(1u64 << log2).map_err(|_| Status::INVALID_ARGS)?;
    Ok(align.max(PAGE))
}

/// `needs` are the targets of the registrations an operation needs, `spares` what was
/// prepared; they match when they are the same targets in the same order.
fn spares_match(spares: &[Prepared], needs: &[Arc<dyn MapTarget>]) -> bool {
    spares.len() == needs.len()
        && spares
            .iter()
            .zip(needs)
            .all(|(spare, need)| same_target(&spare.target, need))
}

fn same_target(a: &Arc<dyn MapTarget>, b: &Arc<dyn MapTarget>) -> bool {
    // Data pointers only: the vtable half of a `dyn` pointer is not unique.
    core::ptr::eq(Arc::as_ptr(a) as *const u8, Arc::as_ptr(b) as *const u8)
}

/// Tells targets the ranges their mappings were cut to (taken from `State::narrowed` under
/// the lock). Runs without the tree lock.
fn narrow(narrowed: Vec<Narrowed>) {
    for n in narrowed {
        n.target.narrow_mapping(n.registration, n.offset, n.len);
    }
}

/// Unregisters what a finished operation removed or did not use. Runs without the tree lock.
fn unregister(removed: Vec<Mapping>, spares: Vec<Prepared>) {
    for mapping in removed {
        mapping.target.remove_mapping(mapping.registration);
    }
    for spare in spares {
        spare.target.remove_mapping(spare.registration);
    }
}

/// What an operation run by [`Vmar::transact`] decided under the lock.
enum Step<T> {
    Done(ZxResult<T>),
    /// The registrations (one per target, in this order) the operation needs before it can
    /// apply; nothing was changed.
    Need(Vec<Arc<dyn MapTarget>>),
}

/// Drops the owner's hold on the arena: when the last [`Vmar`] of an address space goes,
/// the address space is torn down ([`tear_down`]).
struct Owner {
    space: Arc<Space>,
}

impl Drop for Owner {
    fn drop(&mut self) {
        tear_down(&self.space);
    }
}

/// An address space being torn down: its regions, taken out of the arena at once (so that
/// every operation on it gives BAD_STATE from then on), and its mappings, still in the
/// arena's map, removed a chunk at a time.
///
/// The mappings stay in `State::mappings` until their page-table entries are gone: a target
/// that invalidates pages meanwhile (and frees them after) finds them there through their
/// observers, so no entry ever outlives the page it maps.
struct Dying {
    space: Arc<Space>,
    regions: BTreeMap<u64, Region>,
}

impl Dying {
    /// One chunk: at most [`CHUNK_CHILDREN`] mappings leave the arena (entries unmapped, then
    /// unregistered from their targets after the lock) and as many children entries of the
    /// taken regions are dropped. True while work remains.
    fn chunk(&mut self) -> bool {
        let (removed, more_mappings) = {
            let mut state = self.space.state.lock();
            let mut removed = Vec::new();
            let mut more = false;
            let mut work = UNMAP_WORK;
            while removed.len() < CHUNK_CHILDREN {
                let Some(&id) = state.mappings.keys().next() else {
                    break;
                };
                // Mappings with many entries may take the chunk, shrinking as they go.
                match state.unmap_whole_bounded(&*self.space.aspace, id, &mut work) {
                    Some(m) => removed.push(m),
                    None => {
                        more = true;
                        break;
                    }
                }
            }
            state.bump();
            let more = more || removed.len() == CHUNK_CHILDREN;
            (removed, more)
        };
        unregister(removed, Vec::new());
        // A region's children map and gap index may be as large as its mappings were:
        // dropped in pieces.
        let mut budget = CHUNK_CHILDREN;
        while budget > 0 {
            let Some(mut entry) = self.regions.first_entry() else {
                break;
            };
            let region = entry.get_mut();
            let work = region.children.len() + region.gaps.len();
            if work < budget {
                budget -= work + 1;
                entry.remove();
            } else {
                budget -= 1;
                if region.children.pop_first().is_none() {
                    region.gaps.pop_first();
                }
            }
        }
        more_mappings || !self.regions.is_empty()
    }
}

/// Address spaces torn down while a chunk of the work was not enough, finished a chunk at a
/// time by [`teardown_chunk`], through [`crate::free_deferred`] (the kernel calls it on the
/// way out of the system call that tore them down) and the idle loop. Pushed with no lock
/// held.
static DYING: WorkList<Dying> = WorkList::new();

/// Ends the address space of `space` (process teardown, or the last `Vmar` gone): every
/// region is destroyed at once, in one step under the lock whatever it holds; the mappings
/// go a chunk at a time, the first chunk here and the rest (if any) later, from
/// [`crate::free_deferred`], with preemption points between chunks. Ignores `State::busy`: an
/// operation in progress finds its region gone at its next chunk and stops.
fn tear_down(space: &Arc<Space>) {
    let regions = {
        let mut state = space.state.lock();
        state.bump();
        core::mem::take(&mut state.regions)
    };
    let mut dying = Dying {
        space: space.clone(),
        regions,
    };
    if !dying.chunk() {
        return;
    }
    if preempt::enabled() {
        match DYING.push(dying) {
            Ok(()) => return,
            Err(back) => dying = back,
        }
    }
    // Nowhere to defer to (host tests) or no room to: finish here.
    while dying.chunk() {}
}

/// Finishes the address spaces left to be torn down (and nothing else left for later), a
/// chunk at a time with a preemption point between chunks (no lock held). A killed thread
/// stops at its first point: what is left stays on the list for the idle loop.
pub fn finish_teardowns() {
    while teardown_chunk() && preempt::point() {}
}

/// One chunk of the teardowns left to do; true while more remain.
pub fn teardown_chunk() -> bool {
    DYING.work_one(|dying| dying.chunk())
}

/// Page-table entries that may have more rights than their mapping: those a protect had not
/// rewritten yet when its thread was killed between two steps (the tree already had the new
/// permissions). They are removed a chunk at a time; faults install them again with the
/// permissions of whatever mapping is there by then.
struct StaleEntries {
    space: Weak<Space>,
    ranges: VecDeque<(usize, usize)>,
}

impl StaleEntries {
    /// Removes the entries of one chunk's work; true while some are left.
    fn chunk(&mut self) -> bool {
        let Some(space) = self.space.upgrade() else {
            return false;
        };
        let mut state = space.state.lock();
        let mut work = UNMAP_WORK;
        let none = MappingPerms::default();
        let done = state.rewrite_some(&*space.aspace, &mut self.ranges, none, &mut work);
        state.bump();
        drop(state);
        !done
    }
}

/// Protects abandoned by killed threads, with entries left to remove ([`stale_entries_chunk`],
/// through [`crate::free_deferred`] and the idle loop). Pushed with no lock held.
static STALE: WorkList<StaleEntries> = WorkList::new();

/// Leaves the entries of `stale` (of `space`, its permissions already changed in the tree)
/// for [`stale_entries_chunk`]; with no room on the list, removes them here.
fn leave_stale(space: &Arc<Space>, stale: VecDeque<(usize, usize)>) {
    if stale.is_empty() {
        return;
    }
    let item = StaleEntries {
        space: Arc::downgrade(space),
        ranges: stale,
    };
    if let Err(mut item) = STALE.push(item) {
        while item.chunk() {}
    }
}

/// One chunk of the entries protects left behind ([`StaleEntries`]); true while more remain.
pub fn stale_entries_chunk() -> bool {
    STALE.work_one(|stale| stale.chunk())
}

/// Clears `State::busy` when dropped, also when a killed thread abandons its work. Never
/// dropped with the tree lock held.
struct Busy<'a>(&'a Space);

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.state.lock().busy = false;
    }
}

/// A virtual memory address region: the root of an address space or a sub-region of one.
///
/// Plain type shared through `Arc`; the kernel wraps it in a kernel object. Dropping a
/// sub-VMAR's last `Arc` does not destroy the region (as closing a handle in Zircon); when
/// every `Vmar` of an address space is gone, all its mappings are removed.
pub struct Vmar {
    owner: Arc<Owner>,
    id: u64,
    base: usize,
    size: usize,
    capabilities: u32,
    koid: Koid,
}

impl fmt::Debug for Vmar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Vmar")
            .field("koid", &self.koid)
            .field("base", &format_args!("{:#x}", self.base))
            .field("size", &format_args!("{:#x}", self.size))
            .field("capabilities", &format_args!("{:#x}", self.capabilities))
            .finish()
    }
}

impl Vmar {
    /// The root VMAR of a new address space covering `base .. base + size` (page-aligned;
    /// anything past the end of the address space or a partial last page is left out).
    /// Capabilities: CAN_MAP_READ, WRITE, EXECUTE and SPECIFIC.
    pub fn new_root(aspace: Arc<dyn AddressSpace>, base: usize, size: usize) -> Arc<Vmar> {
        let base = round_up_to_page(base).unwrap_or(usize::MAX & !(PAGE - 1));
        let size = size.min(usize::MAX - base) & !(PAGE - 1);
        let capabilities = CAPABILITY_MASK;
        let koid = new_koid();
        let space = Arc::new(Space::new(aspace));
        let id = space.new_id();
        space
            .state
            .lock()
            .regions
            .insert(id, Region::new(base, size, koid, None));
        Arc::new(Vmar {
            owner: Arc::new(Owner { space }),
            id,
            base,
            size,
            capabilities,
            koid,
        })
    }

    fn space(&self) -> &Arc<Space> {
        &self.owner.space
    }

    pub fn koid(&self) -> Koid {
        self.koid
    }

    /// Absolute address of the first byte.
    pub fn base(&self) -> usize {
        self.base
    }

    pub fn size(&self) -> usize {
        self.size
    }

    /// `(base, size)`, for `ZX_INFO_VMAR`.
    pub fn info(&self) -> (usize, usize) {
        (self.base, self.size)
    }

    /// The `ZX_VM_CAN_MAP_*` bits this region was created with.
    pub fn capabilities(&self) -> u32 {
        self.capabilities
    }

    fn end(&self) -> usize {
        // `base + size` never overflows: checked when the region was made.
        self.base + self.size
    }

    pub fn is_destroyed(&self) -> bool {
        !self.space().state.lock().regions.contains_key(&self.id)
    }

    /// For host tests: (observer calls, gaps or children looked at by a placement search or
    /// a failed MAP_RANGE's cleanup) in this address space so far.
    #[cfg(any(test, feature = "testing"))]
    pub fn test_counts(&self) -> (u64, u64) {
        use core::sync::atomic::Ordering;
        let state = self.space().state.lock();
        (
            state.counts.observer_calls.load(Ordering::Relaxed),
            state.counts.visits.load(Ordering::Relaxed),
        )
    }

    /// For host tests: whether the gap index of every region of this address space is the
    /// complement of its children.
    #[cfg(any(test, feature = "testing"))]
    pub fn check_gaps(&self) -> Result<(), alloc::string::String> {
        let state = self.space().state.lock();
        for (id, region) in &state.regions {
            let mut want = Vec::new();
            let mut cursor = region.base;
            for (&base, &kind) in &region.children {
                let size = match kind {
                    ChildKind::Region(r) => state.regions.get(&r).map_or(0, |r| r.size),
                    ChildKind::Mapping(m) => state.mappings.get(&m).map_or(0, |m| m.size),
                };
                if base > cursor {
                    want.push((cursor, base - cursor));
                }
                cursor = base + size;
            }
            if region.base + region.size > cursor {
                want.push((cursor, region.base + region.size - cursor));
            }
            if region.gaps.entries() != want {
                return Err(alloc::format!(
                    "region {id}: gaps {:x?}, children leave {want:x?}",
                    region.gaps.entries()
                ));
            }
        }
        Ok(())
    }

    /// Mappings in this region and all regions nested in it (0 once destroyed).
    pub fn mapping_count(&self) -> usize {
        self.space().state.lock().mapping_count(self.id)
    }

    /// Direct children in address order (empty once destroyed).
    pub fn children(&self) -> Vec<VmarChild> {
        let state = self.space().state.lock();
        let Some(region) = state.regions.get(&self.id) else {
            return Vec::new();
        };
        region
            .children
            .iter()
            .filter_map(|(&base, &kind)| match kind {
                ChildKind::Region(id) => state.regions.get(&id).map(|r| VmarChild::Region {
                    koid: r.koid,
                    base,
                    size: r.size,
                }),
                ChildKind::Mapping(id) => state
                    .mappings
                    .get(&id)
                    .map(|m| VmarChild::Mapping(m.info())),
            })
            .collect()
    }

    /// Every mapping in this region and the regions nested in it, in address order.
    pub fn mappings(&self) -> Vec<MappingInfo> {
        let state = self.space().state.lock();
        let mut all: Vec<MappingInfo> = state
            .subtree_mappings(self.id)
            .into_iter()
            .filter_map(|id| state.mappings.get(&id).map(Mapping::info))
            .collect();
        all.sort_unstable_by_key(|m| m.base);
        all
    }

    /// The innermost mapping containing `va`, searched from this region down.
    pub fn mapping_at(&self, va: usize) -> Option<MappingInfo> {
        let state = self.space().state.lock();
        state
            .lookup(self.id, va)
            .and_then(|id| state.mappings.get(&id))
            .map(Mapping::info)
    }

    /// The tree lock, once no long operation is in progress (`State::busy`): until then, it
    /// yields at wait points (the operation runs meanwhile, here or on another CPU).
    /// BAD_STATE when the thread was killed while waiting.
    fn lock_idle(&self) -> ZxResult<spin::MutexGuard<'_, State>> {
        let space = self.space();
        loop {
            let state = space.state.lock();
            if !state.busy {
                return Ok(state);
            }
            drop(state);
            if !preempt::wait_point() {
                return Err(Status::BAD_STATE);
            }
        }
    }

    /// The rest of a long operation whose first chunk set `State::busy`: runs `chunk` under
    /// the tree lock until it reports that it is done, with a preemption point (no lock held)
    /// before each call, unregistering what each chunk removed after the lock. `busy` is
    /// cleared at the end, also when the thread is killed and stops early: then the work
    /// done so far stays done (every chunk leaves the tree consistent) and the rest is not
    /// done (the process dies, and its teardown takes everything).
    fn in_chunks(
        &self,
        mut chunk: impl FnMut(&mut State, &dyn AddressSpace, &mut Vec<Mapping>) -> bool,
    ) {
        let space = self.space();
        let _busy = Busy(space);
        while preempt::point() {
            let mut removed = Vec::new();
            let (done, narrowed) = {
                let mut state = space.state.lock();
                space.aspace.begin_batch();
                let done = chunk(&mut state, &*space.aspace, &mut removed);
                space.aspace.end_batch();
                (done, core::mem::take(&mut state.narrowed))
            };
            narrow(narrowed);
            unregister(removed, Vec::new());
            if done {
                return;
            }
        }
    }

    /// Runs `op` under the tree lock until it completes. When it reports that it needs
    /// target registrations, they are made (outside the lock) and `op` is run again: it
    /// re-validates everything and applies only if the prepared registrations still match.
    /// Whatever the operation removed and every unused registration are unregistered after
    /// the lock is released.
    fn transact<T>(
        &self,
        mut spares: Vec<Prepared>,
        mut op: impl FnMut(
            &mut State,
            &dyn AddressSpace,
            &mut Vec<Prepared>,
            &mut Vec<Mapping>,
        ) -> Step<T>,
    ) -> ZxResult<T> {
        let space = self.space();
        let mut removed = Vec::new();
        loop {
            let (step, narrowed) = {
                let mut state = match self.lock_idle() {
                    Ok(state) => state,
                    Err(status) => {
                        unregister(removed, spares);
                        return Err(status);
                    }
                };
                space.aspace.begin_batch();
                let step = op(&mut state, &*space.aspace, &mut spares, &mut removed);
                space.aspace.end_batch();
                (step, core::mem::take(&mut state.narrowed))
            };
            narrow(narrowed);
            match step {
                Step::Done(result) => {
                    unregister(removed, spares);
                    return result;
                }
                Step::Need(needs) => {
                    let mut old = core::mem::take(&mut spares);
                    for need in needs {
                        match old.iter().position(|p| same_target(&p.target, &need)) {
                            Some(i) => spares.push(old.swap_remove(i)),
                            None => spares.push(Prepared::new(space, need)),
                        }
                    }
                    unregister(Vec::new(), old);
                }
            }
        }
    }

    /// `zx_vmar_allocate`: a child region. `options`: `ZX_VM_CAN_MAP_*` (READ/WRITE/EXECUTE
    /// must be capabilities of this region; CAN_MAP_SPECIFIC is granted freely, as in Zircon),
    /// `ZX_VM_SPECIFIC` (`offset` is relative to this region's base; needs CAN_MAP_SPECIFIC
    /// here), `ZX_VM_COMPACT`, `ZX_VM_ALIGN_*`.
    ///
    /// Errors, in order: unknown option or bad alignment -> INVALID_ARGS; capabilities ->
    /// ACCESS_DENIED; `size` 0 or unaligned, `offset` unaligned or non-zero without SPECIFIC,
    /// SPECIFIC range outside this region or misaligned -> INVALID_ARGS; destroyed ->
    /// BAD_STATE; SPECIFIC range overlapping anything, or no room -> NO_MEMORY.
    pub fn allocate(
        self: &Arc<Self>,
        options: u32,
        offset: usize,
        size: usize,
    ) -> ZxResult<Arc<Vmar>> {
        if options & !ALLOCATE_OPTIONS != 0 {
            return Err(Status::INVALID_ARGS);
        }
        let align = alignment(options)?;
        let capabilities = options & CAPABILITY_MASK;
        let rwx = capabilities & !ZX_VM_CAN_MAP_SPECIFIC;
        if rwx & !self.capabilities != 0 {
            return Err(Status::ACCESS_DENIED);
        }
        let specific = options & ZX_VM_SPECIFIC != 0;
        if specific && self.capabilities & ZX_VM_CAN_MAP_SPECIFIC == 0 {
            return Err(Status::ACCESS_DENIED);
        }
        if size == 0 || !page_aligned(size) || !page_aligned(offset) || (!specific && offset != 0) {
            return Err(Status::INVALID_ARGS);
        }
        let fixed = if specific {
            Some(self.specific_range(offset, size, align)?)
        } else {
            None
        };

        let space = self.space();
        let mut state = self.lock_idle()?;
        if !state.regions.contains_key(&self.id) {
            return Err(Status::BAD_STATE);
        }
        let base = match fixed {
            Some(base) => {
                if state
                    .first_overlapping(self.id, base, base + size)
                    .is_some()
                {
                    return Err(Status::NO_MEMORY);
                }
                base
            }
            None => state
                .find_gap(self.id, size, align)
                .ok_or(Status::NO_MEMORY)?,
        };
        let id = space.new_id();
        let koid = new_koid();
        state.insert_region(id, Region::new(base, size, koid, Some(self.id)));
        drop(state);
        Ok(Arc::new(Vmar {
            owner: self.owner.clone(),
            id,
            base,
            size,
            capabilities,
            koid,
        }))
    }

    /// Absolute start of the SPECIFIC range `offset .. offset + len` of this region:
    /// INVALID_ARGS when it does not fit in the region or misses the alignment.
    fn specific_range(&self, offset: usize, len: usize, align: usize) -> ZxResult<usize> {
        let start = self.base.checked_add(offset).ok_or(Status::INVALID_ARGS)?;
        let end = start.checked_add(len).ok_or(Status::INVALID_ARGS)?;
        if end > self.end() || start % align != 0 {
            return Err(Status::INVALID_ARGS);
        }
        Ok(start)
    }

    /// `zx_vmar_map`: maps `len` bytes (rounded up to pages) of `target` from `target_offset`,
    /// with the permissions of the `ZX_VM_PERM_*` bits of `options`; `target_rights` are the
    /// rights of the handle the target came through. Returns the absolute address.
    ///
    /// Errors, in order: no MAP right -> ACCESS_DENIED; unknown option or bad alignment ->
    /// INVALID_ARGS; PERM_WRITE without PERM_READ -> INVALID_ARGS; a PERM_x without the
    /// matching right or CAN_MAP_x -> ACCESS_DENIED; W+X -> ACCESS_DENIED; SPECIFIC(_OVERWRITE)
    /// without CAN_MAP_SPECIFIC -> ACCESS_DENIED; `len` 0, `vmar_offset`/`target_offset`
    /// unaligned, `vmar_offset` non-zero without SPECIFIC, SPECIFIC_OVERWRITE with MAP_RANGE,
    /// rounding or `target_offset + len` overflowing, SPECIFIC range outside this region or
    /// misaligned -> INVALID_ARGS; REQUIRE_NON_RESIZABLE with a resizable target ->
    /// NOT_SUPPORTED; destroyed -> BAD_STATE; SPECIFIC range overlapping a mapping (without
    /// OVERWRITE) or any sub-VMAR (even with OVERWRITE) -> NO_MEMORY; no room -> NO_MEMORY;
    /// MAP_RANGE failing -> the target's or the address space's error, with the mapping
    /// removed again.
    ///
    /// SPECIFIC_OVERWRITE replaces the mappings of this region in the range (parts outside
    /// the range stay mapped), atomically. MAP_RANGE installs, for each page of the range
    /// below the target's size, what a read fault would (committing nothing); pages are
    /// otherwise mapped on fault. The mapping holds an `Arc` of the target.
    pub fn map(
        self: &Arc<Self>,
        options: u32,
        vmar_offset: usize,
        target: Arc<dyn MapTarget>,
        target_offset: u64,
        len: usize,
        target_rights: Rights,
    ) -> ZxResult<usize> {
        if !target_rights.contains(Rights::MAP) {
            return Err(Status::ACCESS_DENIED);
        }
        if options & !MAP_OPTIONS != 0 {
            return Err(Status::INVALID_ARGS);
        }
        let align = alignment(options)?;
        let perms = MappingPerms::from_options(options);
        if perms.write && !perms.read {
            return Err(Status::INVALID_ARGS);
        }
        let capabilities = MappingPerms::from_capabilities(self.capabilities);
        let max_perms = MappingPerms::from_rights(target_rights).intersection(capabilities);
        if !max_perms.contains(perms) {
            return Err(Status::ACCESS_DENIED);
        }
        if perms.write && perms.execute {
            return Err(Status::ACCESS_DENIED);
        }
        let overwrite = options & ZX_VM_SPECIFIC_OVERWRITE != 0;
        let specific = overwrite || options & ZX_VM_SPECIFIC != 0;
        if specific && self.capabilities & ZX_VM_CAN_MAP_SPECIFIC == 0 {
            return Err(Status::ACCESS_DENIED);
        }
        let map_range = options & ZX_VM_MAP_RANGE != 0;
        if len == 0
            || !page_aligned(vmar_offset)
            || !target_offset.is_multiple_of(PAGE_SIZE)
            || (!specific && vmar_offset != 0)
            || (overwrite && map_range)
        {
            return Err(Status::INVALID_ARGS);
        }
        let len = round_up_to_page(len).ok_or(Status::INVALID_ARGS)?;
        let len_u64 = u64::try_from(len).map_err(|_| Status::INVALID_ARGS)?;
        target_offset
            .checked_add(len_u64)
            .ok_or(Status::INVALID_ARGS)?;
        let fixed = if specific {
            Some(self.specific_range(vmar_offset, len, align)?)
        } else {
            None
        };
        if options & ZX_VM_REQUIRE_NON_RESIZABLE != 0 && target.is_resizable() {
            return Err(Status::NOT_SUPPORTED);
        }
        let target_koid = target.koid();

        // The mapping this call makes at `base`, from registration `new`.
        let build = |base: usize, new: Prepared, origin: u64| Mapping {
            region: self.id,
            base,
            size: len,
            target: new.target,
            target_koid,
            target_offset,
            perms,
            max_perms,
            observer: new.observer,
            registration: new.registration,
            origin,
        };
        let first = Prepared::new(self.space(), target.clone());
        if !first.registered {
            // The VMO's last handle was closed (by another thread) while this call was on its
            // way: as if the handle had been closed before it.
            return Err(Status::BAD_HANDLE);
        }
        let origin = first.id;
        let registration = first.registration;
        let addr = self.transact(alloc::vec![first], |state, aspace, spares, removed| {
            if !state.regions.contains_key(&self.id) {
                return Step::Done(Err(Status::BAD_STATE));
            }
            let mut needs: Vec<Arc<dyn MapTarget>> = alloc::vec![target.clone()];
            let addr = match fixed {
                Some(addr) => {
                    let end = addr + len;
                    if !overwrite {
                        // Anything in the way refuses the map: one lookup finds it.
                        if state.first_overlapping(self.id, addr, end).is_some() {
                            return Step::Done(Err(Status::NO_MEMORY));
                        }
                    } else {
                        let children = state.children_from(self.id, addr, end, CHUNK_CHILDREN + 1);
                        // What they have in the range may have many entries: the chunked way
                        // takes them a bounded amount at a time.
                        let spanned: usize = children
                            .iter()
                            .map(|c| c.end().min(end) - c.base.max(addr))
                            .sum();
                        if children.len() > CHUNK_CHILDREN || spanned > ONE_STEP_BYTES {
                            // Many to replace: in chunks (`overwrite_in_chunks`).
                            state.busy = true;
                            return Step::Done(Ok(None));
                        }
                        for child in children {
                            match child.kind {
                                ChildKind::Region(_) => return Step::Done(Err(Status::NO_MEMORY)),
                                ChildKind::Mapping(id) => {
                                    if child.base < addr && child.end() > end {
                                        if let Some(m) = state.mappings.get(&id) {
                                            needs.push(m.target.clone());
                                        }
                                    }
                                }
                            }
                        }
                    }
                    addr
                }
                None => match state.find_gap(self.id, len, align) {
                    Some(addr) => addr,
                    None => return Step::Done(Err(Status::NO_MEMORY)),
                },
            };
            if !spares_match(spares, &needs) {
                return Step::Need(needs);
            }
            drop(needs);
            let new = spares.remove(0);
            if overwrite {
                state.unmap_range(aspace, self.id, addr, addr + len, spares, removed);
            }
            state.insert_mapping(build(addr, new, origin));
            Step::Done(Ok(Some(addr)))
        })?;
        let addr = match (addr, fixed) {
            (Some(addr), _) => addr,
            (None, Some(addr)) => {
                let make = |new: Prepared| {
                    let origin = new.id;
                    build(addr, new, origin)
                };
                return self.overwrite_in_chunks(addr, len, target, target_offset, make);
            }
            // Not reached: only a SPECIFIC_OVERWRITE map takes the long way.
            (None, None) => return Err(Status::BAD_STATE),
        };
        // Until now the registration covered the whole target (a superset is always safe).
        target.narrow_mapping(registration, target_offset, len_u64);

        if map_range && !perms.is_none() {
            if let Err(status) = self.populate(origin, addr, len, &*target, target_offset) {
                self.remove_origin(origin, addr, len);
                return Err(status);
            }
        }
        Ok(addr)
    }

    /// The rest of a SPECIFIC_OVERWRITE map whose range holds many children (`State::busy`
    /// was set with the first look, so nothing else changes the tree until the end): checks
    /// in chunks that no sub-region is in the way (NO_MEMORY, nothing changed), then unmaps
    /// the range in chunks as [`Vmar::unmap`] does and inserts the mapping `make` builds
    /// from a new registration with `target` with the last chunk.
    /// The old mappings leave the tree with their page-table entries, so the new mapping
    /// never meets one of their entries. A killed thread stops with the range partly
    /// unmapped and nothing mapped (BAD_STATE).
    fn overwrite_in_chunks(
        &self,
        addr: usize,
        len: usize,
        target: Arc<dyn MapTarget>,
        target_offset: u64,
        make: impl FnOnce(Prepared) -> Mapping,
    ) -> ZxResult<usize> {
        let space = self.space();
        let _busy = Busy(space);
        let end = addr + len;
        let mut cursor = addr;
        loop {
            let done = {
                let state = space.state.lock();
                if !state.regions.contains_key(&self.id) {
                    return Err(Status::BAD_STATE);
                }
                let children = state.children_from(self.id, cursor, end, CHUNK_CHILDREN);
                for child in &children {
                    if matches!(child.kind, ChildKind::Region(_)) {
                        return Err(Status::NO_MEMORY);
                    }
                    cursor = child.end();
                }
                children.len() < CHUNK_CHILDREN
            };
            if done {
                break;
            }
            if !preempt::point() {
                return Err(Status::BAD_STATE);
            }
        }
        // A mapping sticking out of both ends (then the only child) is split: a registration
        // for its right part. Nothing changes meanwhile: made without the lock.
        let spare_target = {
            let state = space.state.lock();
            state
                .first_overlapping(self.id, addr, end)
                .filter(|c| c.base < addr && c.end() > end)
                .and_then(|c| match c.kind {
                    ChildKind::Mapping(id) => state.mappings.get(&id).map(|m| m.target.clone()),
                    ChildKind::Region(_) => None,
                })
        };
        let mut spares: Vec<Prepared> = spare_target
            .into_iter()
            .map(|t| Prepared::new(space, t))
            .collect();
        let mut new = Some(make(Prepared::new(space, target)));
        let mut narrowed_new = None;
        let mut cursor = addr;
        while preempt::point() {
            let mut removed = Vec::new();
            let narrowed = {
                let mut state = space.state.lock();
                if !state.regions.contains_key(&self.id) {
                    break;
                }
                let done = state.unmap_some(
                    &*space.aspace,
                    self.id,
                    addr,
                    &mut cursor,
                    end,
                    &mut Vec::new(),
                    &mut spares,
                    &mut removed,
                );
                if done {
                    if let Some(new) = new.take() {
                        narrowed_new = Some((new.target.clone(), new.registration));
                        state.insert_mapping(new);
                    }
                }
                core::mem::take(&mut state.narrowed)
            };
            narrow(narrowed);
            unregister(removed, Vec::new());
            if let Some((target, registration)) = narrowed_new.take() {
                target.narrow_mapping(registration, target_offset, len as u64);
                unregister(Vec::new(), spares);
                return Ok(addr);
            }
        }
        // Killed, or the address space was torn down: nothing was mapped.
        unregister(new.into_iter().collect(), spares);
        Err(Status::BAD_STATE)
    }

    /// MAP_RANGE: installs, page by page, what a read fault would, with a preemption point
    /// every [`preempt::CHUNK_PAGES`] pages.
    fn populate(
        &self,
        origin: u64,
        addr: usize,
        len: usize,
        target: &dyn MapTarget,
        target_offset: u64,
    ) -> ZxResult {
        let space = self.space();
        let target_size = target.size();
        let mut done = 0;
        let mut since_point = 0;
        while done < len {
            // A large range: a preemption point every chunk of pages (no lock held here). A
            // killed thread stops: the rest of the mapping is filled by faults, if ever.
            if since_point == preempt::CHUNK_PAGES {
                since_point = 0;
                if !preempt::point() {
                    return Ok(());
                }
            }
            since_point += 1;
            let va = addr + done;
            let offset = target_offset + done as u64;
            if offset >= target_size {
                break;
            }
            let (generation, perms) = {
                let state = space.state.lock();
                let found = state
                    .lookup(self.id, va)
                    .and_then(|id| state.mappings.get(&id));
                match found {
                    Some(m) if m.origin == origin && m.target_offset_of(va) == offset => {
                        (state.generation, m.perms)
                    }
                    // Unmapped or replaced by another thread meanwhile: nothing left to fill.
                    _ => return Ok(()),
                }
            };
            let page = match target.fault_page(offset, false, true) {
                Ok(page) => page,
                Err(Status::OUT_OF_RANGE) => break,
                Err(Status::SHOULD_WAIT) => {
                    // The target is taking entries away in steps: this page again after it.
                    if !preempt::wait_point() {
                        return Ok(());
                    }
                    continue;
                }
                Err(status) => return Err(status),
            };
            let state = space.state.lock();
            if state.generation != generation {
                continue; // something was invalidated meanwhile: look again
            }
            let pte = MappingPerms {
                write: perms.write && page.writable,
                ..perms
            };
            space.aspace.map_page(va, page.frame, pte)?;
            drop(state);
            done += PAGE;
        }
        Ok(())
    }

    /// Removes every piece of the mapping created as `origin` at `addr .. addr + len`
    /// (undoing a failed MAP_RANGE). The pieces are children of this region inside that
    /// range, so only the children there are looked at, [`CHUNK_CHILDREN`] at a time with a
    /// preemption point between chunks (the range may have been cut into many pieces
    /// meanwhile).
    fn remove_origin(&self, origin: u64, addr: usize, len: usize) {
        let space = self.space();
        let end = addr + len;
        let mut cursor = addr;
        loop {
            let (removed, done, narrowed) = {
                // A killed thread leaves the mapping: the process's teardown takes it.
                let Ok(mut state) = self.lock_idle() else {
                    return;
                };
                let children = state.children_from(self.id, cursor, end, CHUNK_CHILDREN);
                let done = children.len() < CHUNK_CHILDREN;
                let mut removed = Vec::new();
                let mut partial = false;
                let mut work = UNMAP_WORK;
                for child in children {
                    cursor = child.end();
                    let ChildKind::Mapping(id) = child.kind else {
                        continue;
                    };
                    state.count_visit();
                    if state.mappings.get(&id).is_some_and(|m| m.origin == origin) {
                        match state.unmap_whole_bounded(&*space.aspace, id, &mut work) {
                            Some(m) => removed.push(m),
                            None => {
                                // Shrunk: what is left of it next time.
                                cursor = child.base;
                                partial = true;
                                break;
                            }
                        }
                    }
                }
                state.bump();
                // A piece cut short by its entries: its target learns the range it keeps.
                let narrowed = core::mem::take(&mut state.narrowed);
                (removed, done && !partial, narrowed)
            };
            narrow(narrowed);
            unregister(removed, Vec::new());
            if done || !preempt::point() {
                return;
            }
        }
    }

    /// Validates an `addr, len` range of this region: INVALID_ARGS when `addr` is unaligned,
    /// `len` is 0, rounding overflows or the range leaves the region. Returns the end.
    fn checked_range(&self, addr: usize, len: usize) -> ZxResult<usize> {
        if !page_aligned(addr) || len == 0 {
            return Err(Status::INVALID_ARGS);
        }
        let len = round_up_to_page(len).ok_or(Status::INVALID_ARGS)?;
        let end = addr.checked_add(len).ok_or(Status::INVALID_ARGS)?;
        if addr < self.base || end > self.end() {
            return Err(Status::INVALID_ARGS);
        }
        Ok(end)
    }

    /// `zx_vmar_unmap`: removes the mappings of this region in `addr .. addr + len` (`len`
    /// rounded up) and destroys the sub-VMARs entirely inside it. A mapping partly in the range
    /// is cut; one that spans it on both sides becomes two, each keeping its target offsets
    /// and its own registration with the target. Page-table entries go only in the range.
    ///
    /// Errors: `addr` unaligned, `len` 0, range outside this region, range covering part of a
    /// sub-VMAR -> INVALID_ARGS; destroyed -> BAD_STATE. Nothing mapped in the range -> OK.
    ///
    /// Many children are removed in chunks (see [`Vmar::in_chunks`]): the checks and the
    /// first chunk run in one step; when more is left, `State::busy` keeps every other
    /// change of the tree waiting until the last chunk, so to them the call is atomic. A
    /// mapping leaves the tree in the same step as its page-table entries, so nothing can be
    /// mapped where old entries remain, and a fault finds each mapping whole or not at all.
    pub fn unmap(&self, addr: usize, len: usize) -> ZxResult {
        let end = self.checked_range(addr, len)?;
        let mut cursor = addr;
        let mut erasing = Vec::new();
        let more = self.transact(Vec::new(), |state, aspace, spares, removed| {
            if !state.regions.contains_key(&self.id) {
                return Step::Done(Err(Status::BAD_STATE));
            }
            // Only the children at the two ends of the range can stick out of it.
            let first = state.first_overlapping(self.id, addr, end);
            let last = state.child_containing(self.id, end - 1);
            let mut needs: Vec<Arc<dyn MapTarget>> = Vec::new();
            for child in first.iter().chain(
                last.iter()
                    .filter(|l| Some(l.base) != first.map(|f| f.base)),
            ) {
                match child.kind {
                    ChildKind::Region(_) if child.base < addr || child.end() > end => {
                        return Step::Done(Err(Status::INVALID_ARGS))
                    }
                    ChildKind::Region(_) => {}
                    ChildKind::Mapping(id) => {
                        if child.base < addr && child.end() > end {
                            if let Some(m) = state.mappings.get(&id) {
                                needs.push(m.target.clone());
                            }
                        }
                    }
                }
            }
            if !spares_match(spares, &needs) {
                return Step::Need(needs);
            }
            drop(needs);
            let done = state.unmap_some(
                aspace,
                self.id,
                addr,
                &mut cursor,
                end,
                &mut erasing,
                spares,
                removed,
            );
            state.busy = !done;
            Step::Done(Ok(!done))
        })?;
        if more {
            self.in_chunks(|state, aspace, removed| {
                state.unmap_some(
                    aspace,
                    self.id,
                    addr,
                    &mut cursor,
                    end,
                    &mut erasing,
                    &mut Vec::new(),
                    removed,
                )
            });
        }
        Ok(())
    }

    /// `zx_vmar_protect`: gives the mappings of this region in `addr .. addr + len` (`len`
    /// rounded up) the permissions of the `ZX_VM_PERM_*` bits of `options`, cutting mappings
    /// that are partly in the range (only those whose permissions change).
    ///
    /// Errors, in order: other option bits -> INVALID_ARGS; WRITE without READ ->
    /// INVALID_ARGS; a permission this region cannot map -> ACCESS_DENIED; W+X ->
    /// ACCESS_DENIED; `addr` unaligned, `len` 0, range outside the region -> INVALID_ARGS;
    /// destroyed -> BAD_STATE; a sub-VMAR in the range -> INVALID_ARGS; a page of the range
    /// not mapped -> NOT_FOUND; a permission beyond what the target handle allowed at map
    /// time -> ACCESS_DENIED. A failing call changes nothing.
    ///
    /// A range with many children is checked and then changed, each in chunks with
    /// preemption points between them, with `State::busy` set for the whole call (other
    /// changes of the tree wait, so it stays one step to them). A mapping's permissions
    /// change in the tree first, its page-table entries after, in steps of at most
    /// [`space::UNMAP_TABLES`] tables (a mapping may have millions of entries), all of them
    /// before the call returns.
    pub fn protect(&self, options: u32, addr: usize, len: usize) -> ZxResult {
        if options & !PERM_MASK != 0 {
            return Err(Status::INVALID_ARGS);
        }
        let perms = MappingPerms::from_options(options);
        if perms.write && !perms.read {
            return Err(Status::INVALID_ARGS);
        }
        if !MappingPerms::from_capabilities(self.capabilities).contains(perms) {
            return Err(Status::ACCESS_DENIED);
        }
        if perms.write && perms.execute {
            return Err(Status::ACCESS_DENIED);
        }
        let end = self.checked_range(addr, len)?;
        let space = self.space();
        let mut stale = VecDeque::new();
        // Few children (the usual case): checked and changed in one step under the lock, but
        // for the entries of large mappings (then `busy` is set and they follow in steps).
        let many = self.transact(Vec::new(), |state, aspace, spares, _removed| {
            if !state.regions.contains_key(&self.id) {
                return Step::Done(Err(Status::BAD_STATE));
            }
            let children = state.children_from(self.id, addr, end, CHUNK_CHILDREN + 1);
            if children.len() > CHUNK_CHILDREN {
                // Many: checked, then changed, in chunks below.
                state.busy = true;
                return Step::Done(Ok(true));
            }
            if children
                .iter()
                .any(|c| matches!(c.kind, ChildKind::Region(_)))
            {
                return Step::Done(Err(Status::INVALID_ARGS));
            }
            let mut cursor = addr;
            for child in &children {
                if child.base > cursor {
                    return Step::Done(Err(Status::NOT_FOUND));
                }
                cursor = child.end();
            }
            if cursor < end {
                return Step::Done(Err(Status::NOT_FOUND));
            }
            let mut needs: Vec<Arc<dyn MapTarget>> = Vec::new();
            for child in &children {
                let ChildKind::Mapping(id) = child.kind else {
                    continue;
                };
                let Some(m) = state.mappings.get(&id) else {
                    continue;
                };
                if !m.max_perms.contains(perms) {
                    return Step::Done(Err(Status::ACCESS_DENIED));
                }
                if m.perms != perms {
                    if child.base < addr {
                        needs.push(m.target.clone());
                    }
                    if child.end() > end {
                        needs.push(m.target.clone());
                    }
                }
            }
            if !spares_match(spares, &needs) {
                return Step::Need(needs);
            }
            drop(needs);
            for child in &children {
                state.protect_child(child, addr, end, perms, spares, &mut stale);
            }
            state.bump();
            let mut work = UNMAP_WORK;
            state.busy = !state.rewrite_some(aspace, &mut stale, perms, &mut work);
            Step::Done(Ok(false))
        })?;
        if !many {
            if !stale.is_empty() {
                self.rewrite_in_steps(stale, perms);
            }
            return Ok(());
        }
        let _busy = Busy(space);

        // The checks: nothing changes meanwhile, so what they find holds when applying.
        let mut cursor = addr;
        let mut gap = false;
        let mut denied = false;
        let mut needs: Vec<Arc<dyn MapTarget>> = Vec::new();
        loop {
            let done = {
                let state = space.state.lock();
                if !state.regions.contains_key(&self.id) {
                    return Err(Status::BAD_STATE);
                }
                let children = state.children_from(self.id, cursor, end, CHUNK_CHILDREN);
                let done = children.len() < CHUNK_CHILDREN;
                for child in children {
                    gap |= child.base > cursor;
                    cursor = child.end();
                    let ChildKind::Mapping(id) = child.kind else {
                        return Err(Status::INVALID_ARGS);
                    };
                    let Some(m) = state.mappings.get(&id) else {
                        continue;
                    };
                    denied |= !m.max_perms.contains(perms);
                    if m.perms != perms {
                        if child.base < addr {
                            needs.push(m.target.clone());
                        }
                        if child.end() > end {
                            needs.push(m.target.clone());
                        }
                    }
                }
                gap |= done && cursor < end;
                done
            };
            if done {
                break;
            }
            if !preempt::point() {
                return Err(Status::BAD_STATE);
            }
        }
        if gap {
            return Err(Status::NOT_FOUND);
        }
        if denied {
            return Err(Status::ACCESS_DENIED);
        }

        // The registrations the cuts at the ends need, made without the lock.
        let mut spares: Vec<Prepared> = needs
            .into_iter()
            .map(|target| Prepared::new(space, target))
            .collect();
        cursor = addr;
        loop {
            let (done, narrowed) = {
                let mut state = space.state.lock();
                if !state.regions.contains_key(&self.id) {
                    // Torn down: the entries go with the address space.
                    break;
                }
                let aspace = &*space.aspace;
                let mut work = UNMAP_WORK;
                // The entries of the mappings changed so far first, then the next children.
                let mut done = state.rewrite_some(aspace, &mut stale, perms, &mut work);
                if done {
                    let children = state.children_from(self.id, cursor, end, CHUNK_CHILDREN);
                    let last = children.len() < CHUNK_CHILDREN;
                    for child in &children {
                        cursor = child.end();
                        state.protect_child(child, addr, end, perms, &mut spares, &mut stale);
                    }
                    state.bump();
                    done = state.rewrite_some(aspace, &mut stale, perms, &mut work) && last;
                }
                (done, core::mem::take(&mut state.narrowed))
            };
            narrow(narrowed);
            if done {
                break;
            }
            if !preempt::point() {
                leave_stale(space, stale);
                break;
            }
        }
        unregister(Vec::new(), spares);
        Ok(())
    }

    /// The rest of a protect whose first step set `State::busy` with entries left to
    /// rewrite (those of `stale`): a step at a time under the lock, with a preemption point
    /// before each. A killed thread leaves the rest to [`stale_entries_chunk`].
    fn rewrite_in_steps(&self, mut stale: VecDeque<(usize, usize)>, perms: MappingPerms) {
        let space = self.space();
        let _busy = Busy(space);
        loop {
            if !preempt::point() {
                leave_stale(space, stale);
                return;
            }
            let mut state = space.state.lock();
            if !state.regions.contains_key(&self.id) {
                // Torn down: the entries go with the address space.
                return;
            }
            let mut work = UNMAP_WORK;
            if state.rewrite_some(&*space.aspace, &mut stale, perms, &mut work) {
                return;
            }
        }
    }

    /// `zx_vmar_destroy`: unmaps everything inside (through every nested region), marks this
    /// region and all regions nested in it destroyed (their later operations give BAD_STATE)
    /// and removes it from its parent. Error: already destroyed -> BAD_STATE.
    ///
    /// Many children are taken apart in chunks as [`Vmar::unmap`] does; other changes of the
    /// tree wait until the region is gone.
    pub fn destroy(&self) -> ZxResult {
        let mut erasing = alloc::vec![self.id];
        let more = self.transact(Vec::new(), |state, aspace, _spares, removed| {
            if !state.regions.contains_key(&self.id) {
                return Step::Done(Err(Status::BAD_STATE));
            }
            let (mut budget, mut work) = (CHUNK_CHILDREN, UNMAP_WORK);
            state.erase_some(aspace, &mut erasing, &mut budget, &mut work, removed);
            state.bump();
            state.busy = !erasing.is_empty();
            Step::Done(Ok(state.busy))
        })?;
        if more {
            self.in_chunks(|state, aspace, removed| {
                let (mut budget, mut work) = (CHUNK_CHILDREN, UNMAP_WORK);
                state.erase_some(aspace, &mut erasing, &mut budget, &mut work, removed);
                state.bump();
                erasing.is_empty()
            });
        }
        Ok(())
    }

    /// Process teardown: destroys every region of this address space at once and removes
    /// its mappings in chunks, the rest of them later if a chunk is not enough (see
    /// [`teardown_chunk`]). Operations through any of its VMARs give BAD_STATE from then
    /// on.
    pub fn tear_down(&self) {
        tear_down(self.space());
    }
}
