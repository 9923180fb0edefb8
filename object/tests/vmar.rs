//! One test per rule of the VMAR contract (shared/spec/zx-abi.md "Address spaces" and the
//! Zircon semantics of zx_vmar_map / unmap / protect / allocate / destroy), named after the
//! rule, plus a model-based property test of random sequences.

extern crate alloc;

use abi::*;
use object::koid::{new_koid, Koid};
use object::vmar::{
    AddressSpace, MapTarget, MappingInfo, MappingObserver, MappingPerms, PageForFault, Vmar,
    VmarChild,
};
use object::{Rights, Status, ZxResult};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, Weak};

pub use object::frames::FrameAddr;
pub use object::vmar::UNMAP_WORK;

/// The crate's fake page table (`object::vmar::testing` with the `testing` feature),
/// included here so this test runs without features.
#[allow(dead_code)]
#[path = "../src/vmar/testing.rs"]
mod fake_aspace;
use fake_aspace::{AspaceCall, FakeAddressSpace};

const PAGE: usize = 4096;
const P64: u64 = 4096;
const BASE: usize = 0x1000_0000;
const SIZE: usize = 0x100_0000;

const R: u32 = ZX_VM_PERM_READ;
const W: u32 = ZX_VM_PERM_WRITE;
const X: u32 = ZX_VM_PERM_EXECUTE;
const RW: u32 = R | W;
const RX: u32 = R | X;
const ALL_CAPS: u32 =
    ZX_VM_CAN_MAP_READ | ZX_VM_CAN_MAP_WRITE | ZX_VM_CAN_MAP_EXECUTE | ZX_VM_CAN_MAP_SPECIFIC;

const PERMS_R: MappingPerms = MappingPerms::R;
const PERMS_RW: MappingPerms = MappingPerms::RW;

const ZERO_PAGE: FrameAddr = 0x1000;

fn all_rights() -> Rights {
    Rights::READ | Rights::WRITE | Rights::EXECUTE | Rights::MAP
}

// ---------------------------------------------------------------------------------------
// A fake map target: pages are zero, shared copy-on-write, or private; it calls its
// observers while holding its own lock, as the real VMO does (lock order target -> tree).

#[derive(Default)]
struct TargetState {
    size_pages: u64,
    resizable: bool,
    observers: BTreeMap<u64, Weak<dyn MappingObserver>>,
    /// The range each registration was narrowed to (`narrow_mapping`); absent = all.
    ranges: BTreeMap<u64, (u64, u64)>,
    next_id: u64,
    adds: usize,
    removes: usize,
    private: BTreeMap<u64, FrameAddr>,
    shared: BTreeSet<u64>,
    next_frame: u64,
    fail_at: Option<u64>,
    faults: Vec<(u64, bool)>,
}

struct FakeTarget {
    koid: Koid,
    state: Mutex<TargetState>,
    /// Yield after answering a fault.
    slow: std::sync::atomic::AtomicBool,
    /// After answering the next fault of this page, replace it by a new private one and tell
    /// the mappings (as a write through another mapping racing with the fault would).
    race_once: Mutex<Option<u64>>,
}

impl FakeTarget {
    fn new(pages: u64, resizable: bool) -> Arc<FakeTarget> {
        Arc::new(FakeTarget {
            koid: new_koid(),
            state: Mutex::new(TargetState {
                size_pages: pages,
                resizable,
                ..Default::default()
            }),
            slow: Default::default(),
            race_once: Mutex::new(None),
        })
    }

    fn target(self: &Arc<Self>) -> Arc<dyn MapTarget> {
        self.clone()
    }

    /// Live registrations.
    fn registrations(&self) -> usize {
        self.state.lock().unwrap().observers.len()
    }

    fn adds_and_removes(&self) -> (usize, usize) {
        let s = self.state.lock().unwrap();
        (s.adds, s.removes)
    }

    fn shared_frame(&self, page: u64) -> FrameAddr {
        0x8000_0000_0000 + (self.koid << 24) + (page << 12)
    }

    /// What a read of `page` sees now and whether it may be mapped writable.
    fn visible(&self, page: u64) -> (FrameAddr, bool) {
        self.visible_in(&self.state.lock().unwrap(), page)
    }

    fn visible_in(&self, s: &TargetState, page: u64) -> (FrameAddr, bool) {
        if let Some(&frame) = s.private.get(&page) {
            (frame, true)
        } else if s.shared.contains(&page) {
            (self.shared_frame(page), false)
        } else {
            (ZERO_PAGE, false)
        }
    }

    fn size_pages(&self) -> u64 {
        self.state.lock().unwrap().size_pages
    }

    fn notify_locked(s: &TargetState, offset: u64, len: u64) {
        for (id, observer) in &s.observers {
            // Like a VMO, skips the mappings narrowed away from the range: a range narrowed
            // too far leaves a stale entry, which the model tests catch.
            if let Some(&(start, end)) = s.ranges.get(id) {
                if end <= offset || start >= offset.saturating_add(len) {
                    continue;
                }
            }
            if let Some(observer) = observer.upgrade() {
                observer.unmap_target_range(offset, len);
            }
        }
    }

    /// Tells every mapping to drop `offset .. offset + len`.
    fn notify(&self, offset: u64, len: u64) {
        let s = self.state.lock().unwrap();
        Self::notify_locked(&s, offset, len);
    }

    /// Makes `pages` shared copy-on-write pages (dropping private copies), telling mappings.
    fn share(&self, pages: std::ops::Range<u64>) {
        let mut s = self.state.lock().unwrap();
        for page in pages.clone() {
            s.private.remove(&page);
            s.shared.insert(page);
        }
        Self::notify_locked(&s, pages.start * P64, (pages.end - pages.start) * P64);
    }

    /// Commits `page` privately (no mapping can have it yet: tests call this before faults).
    fn commit(&self, page: u64) -> FrameAddr {
        let mut s = self.state.lock().unwrap();
        let frame = Self::new_frame(&mut s, self.koid);
        s.private.insert(page, frame);
        frame
    }

    fn new_frame(s: &mut TargetState, koid: Koid) -> FrameAddr {
        s.next_frame += 1;
        0x1_0000_0000 + (koid << 24) + (s.next_frame << 12)
    }

    fn resize(&self, pages: u64) {
        let mut s = self.state.lock().unwrap();
        let old = s.size_pages;
        s.size_pages = pages;
        if pages < old {
            s.private.retain(|&p, _| p < pages);
            Self::notify_locked(&s, pages * P64, (old - pages) * P64);
        }
    }

    fn fail_fault_at(&self, page: Option<u64>) {
        self.state.lock().unwrap().fail_at = page;
    }

    fn faults(&self) -> Vec<(u64, bool)> {
        self.state.lock().unwrap().faults.clone()
    }
}

impl MapTarget for FakeTarget {
    fn koid(&self) -> Koid {
        self.koid
    }

    fn size(&self) -> u64 {
        self.size_pages() * P64
    }

    fn is_resizable(&self) -> bool {
        self.state.lock().unwrap().resizable
    }

    fn add_mapping(&self, observer: Weak<dyn MappingObserver>) -> Option<u64> {
        let mut s = self.state.lock().unwrap();
        s.next_id += 1;
        let id = s.next_id;
        s.observers.insert(id, observer);
        s.adds += 1;
        Some(id)
    }

    fn remove_mapping(&self, id: u64) {
        let mut s = self.state.lock().unwrap();
        assert!(
            s.observers.remove(&id).is_some(),
            "remove_mapping of an unknown id {id}"
        );
        s.ranges.remove(&id);
        s.removes += 1;
    }

    fn narrow_mapping(&self, id: u64, offset: u64, len: u64) {
        let mut s = self.state.lock().unwrap();
        if s.observers.contains_key(&id) {
            let (start, end) = s.ranges.get(&id).copied().unwrap_or((0, u64::MAX));
            let range = (start.max(offset), end.min(offset + len));
            s.ranges.insert(id, range);
        }
    }

    fn fault_page(&self, offset: u64, write: bool, _may_wait: bool) -> ZxResult<PageForFault> {
        let result = self.fault_page_locked(offset, write);
        let page = offset / P64;
        let race = self.race_once.lock().unwrap().take_if(|p| *p == page);
        if race.is_some() {
            // Another thread changes the page after this answer was computed.
            let mut s = self.state.lock().unwrap();
            let frame = Self::new_frame(&mut s, self.koid);
            s.private.insert(page, frame);
            s.shared.remove(&page);
            Self::notify_locked(&s, page * P64, P64);
        }
        if self.slow.load(std::sync::atomic::Ordering::Relaxed) {
            // Widen the window between the answer and its use, for the race tests.
            std::thread::yield_now();
        }
        result
    }
}

impl FakeTarget {
    fn fault_page_locked(&self, offset: u64, write: bool) -> ZxResult<PageForFault> {
        assert_eq!(offset % P64, 0, "fault_page at an unaligned offset");
        let mut s = self.state.lock().unwrap();
        s.faults.push((offset, write));
        let page = offset / P64;
        if page >= s.size_pages {
            return Err(Status::OUT_OF_RANGE);
        }
        if s.fail_at == Some(page) {
            return Err(Status::NO_MEMORY);
        }
        if let Some(&frame) = s.private.get(&page) {
            return Ok(PageForFault {
                frame,
                writable: true,
            });
        }
        if write {
            // Copy on write (or commit): the page every mapping may show changes.
            let frame = Self::new_frame(&mut s, self.koid);
            s.private.insert(page, frame);
            s.shared.remove(&page);
            Self::notify_locked(&s, offset, P64);
            return Ok(PageForFault {
                frame,
                writable: true,
            });
        }
        let frame = if s.shared.contains(&page) {
            self.shared_frame(page)
        } else {
            ZERO_PAGE
        };
        Ok(PageForFault {
            frame,
            writable: false,
        })
    }
}

// ---------------------------------------------------------------------------------------

struct Env {
    aspace: Arc<FakeAddressSpace>,
    root: Arc<Vmar>,
}

fn env() -> Env {
    env_with(BASE, SIZE)
}

fn env_with(base: usize, size: usize) -> Env {
    let aspace = Arc::new(FakeAddressSpace::new());
    let root = Vmar::new_root(aspace.clone(), base, size);
    Env { aspace, root }
}

/// Maps with every right.
fn map(
    vmar: &Arc<Vmar>,
    options: u32,
    offset: usize,
    t: &Arc<FakeTarget>,
    target_offset: u64,
    len: usize,
) -> ZxResult<usize> {
    vmar.map(
        options,
        offset,
        t.target(),
        target_offset,
        len,
        all_rights(),
    )
}

fn fault_all(vmar: &Vmar, addr: usize, pages: usize, write: bool) {
    for i in 0..pages {
        vmar.handle_fault(addr + i * PAGE, write, false)
            .expect("fault");
    }
}

fn mapped_pages(aspace: &FakeAddressSpace, addr: usize, pages: usize) -> Vec<bool> {
    (0..pages)
        .map(|i| aspace.pte(addr + i * PAGE).is_some())
        .collect()
}

fn spans(maps: &[MappingInfo]) -> Vec<(usize, usize, u64)> {
    maps.iter()
        .map(|m| (m.base, m.size, m.target_offset))
        .collect()
}

// ---------------------------------------------------------------------------------------
// zx_vmar_map: argument and permission rules, in the spec's order.

#[test]
fn map_without_map_right_is_access_denied_before_anything_else() {
    let e = env();
    let t = FakeTarget::new(4, false);
    // Even with an invalid option and len 0, the missing MAP right wins.
    let rights = Rights::READ | Rights::WRITE;
    assert_eq!(
        e.root.map(W | (1 << 20), 0, t.target(), 0, 0, rights),
        Err(Status::ACCESS_DENIED)
    );
    assert_eq!(t.registrations(), 0);
}

#[test]
fn map_unknown_options_or_bad_alignment_are_invalid_args() {
    let e = env();
    let t = FakeTarget::new(4, false);
    for options in [
        R | ZX_VM_CAN_MAP_READ,
        R | ZX_VM_COMPACT,
        R | (1 << 12),
        R | (9 << 24),
        R | (33 << 24),
    ] {
        assert_eq!(
            map(&e.root, options, 0, &t, 0, PAGE),
            Err(Status::INVALID_ARGS),
            "{options:#x}"
        );
    }
    assert_eq!(t.adds_and_removes(), (0, 0));
}

#[test]
fn map_write_without_read_is_invalid_args() {
    let e = env();
    let t = FakeTarget::new(4, false);
    assert_eq!(map(&e.root, W, 0, &t, 0, PAGE), Err(Status::INVALID_ARGS));
    // Before the rights check: a handle without WRITE still gets INVALID_ARGS.
    assert_eq!(
        e.root
            .map(W, 0, t.target(), 0, PAGE, Rights::MAP | Rights::READ),
        Err(Status::INVALID_ARGS)
    );
}

#[test]
fn map_each_perm_needs_the_matching_handle_right() {
    let e = env();
    let t = FakeTarget::new(4, false);
    let cases = [
        (R, Rights::MAP | Rights::WRITE | Rights::EXECUTE),
        (RW, Rights::MAP | Rights::READ | Rights::EXECUTE),
        (RX, Rights::MAP | Rights::READ | Rights::WRITE),
        (X, Rights::MAP | Rights::READ | Rights::WRITE),
    ];
    for (options, rights) in cases {
        assert_eq!(
            e.root.map(options, 0, t.target(), 0, PAGE, rights),
            Err(Status::ACCESS_DENIED)
        );
    }
    assert_eq!(
        e.root
            .map(R, 0, t.target(), 0, PAGE, Rights::MAP | Rights::READ)
            .map(|_| ()),
        Ok(())
    );
    assert_eq!(
        e.root
            .map(X, 0, t.target(), 0, PAGE, Rights::MAP | Rights::EXECUTE)
            .map(|_| ()),
        Ok(())
    );
}

#[test]
fn map_each_perm_needs_the_vmar_capability() {
    let e = env();
    let t = FakeTarget::new(4, false);
    let ro = e.root.allocate(ZX_VM_CAN_MAP_READ, 0, 16 * PAGE).unwrap();
    assert_eq!(map(&ro, RW, 0, &t, 0, PAGE), Err(Status::ACCESS_DENIED));
    assert_eq!(map(&ro, RX, 0, &t, 0, PAGE), Err(Status::ACCESS_DENIED));
    let addr = map(&ro, R, 0, &t, 0, PAGE).unwrap();
    assert!(addr >= ro.base() && addr < ro.base() + ro.size());
    let none = e.root.allocate(0, 0, 16 * PAGE).unwrap();
    assert_eq!(map(&none, R, 0, &t, 0, PAGE), Err(Status::ACCESS_DENIED));
    // A mapping with no permission at all needs no capability.
    assert!(map(&none, 0, 0, &t, 0, PAGE).is_ok());
}

#[test]
fn map_write_execute_is_refused_with_access_denied() {
    let e = env();
    let t = FakeTarget::new(4, false);
    assert_eq!(
        map(&e.root, R | W | X, 0, &t, 0, PAGE),
        Err(Status::ACCESS_DENIED)
    );
    assert_eq!(e.root.mapping_count(), 0);
    assert_eq!(t.adds_and_removes(), (0, 0));
}

#[test]
fn map_len_zero_is_invalid_args() {
    let e = env();
    let t = FakeTarget::new(4, false);
    assert_eq!(map(&e.root, R, 0, &t, 0, 0), Err(Status::INVALID_ARGS));
}

#[test]
fn map_unaligned_vmar_or_target_offset_is_invalid_args() {
    let e = env();
    let t = FakeTarget::new(4, false);
    assert_eq!(
        map(&e.root, R | ZX_VM_SPECIFIC, 100, &t, 0, PAGE),
        Err(Status::INVALID_ARGS)
    );
    assert_eq!(map(&e.root, R, 0, &t, 100, PAGE), Err(Status::INVALID_ARGS));
}

#[test]
fn map_vmar_offset_without_specific_is_invalid_args() {
    let e = env();
    let t = FakeTarget::new(4, false);
    assert_eq!(
        map(&e.root, R, PAGE, &t, 0, PAGE),
        Err(Status::INVALID_ARGS)
    );
}

#[test]
fn map_len_rounds_up_to_whole_pages() {
    let e = env();
    let t = FakeTarget::new(4, false);
    let addr = map(&e.root, R, 0, &t, 0, PAGE + 1).unwrap();
    assert_eq!(e.root.mapping_at(addr).unwrap().size, 2 * PAGE);
}

#[test]
fn map_offset_plus_len_overflowing_is_invalid_args() {
    let e = env();
    let t = FakeTarget::new(4, false);
    let top = !(P64 - 1);
    assert_eq!(map(&e.root, R, 0, &t, top, PAGE), Err(Status::INVALID_ARGS));
    assert_eq!(
        map(&e.root, R, 0, &t, 0, usize::MAX),
        Err(Status::INVALID_ARGS)
    );
}

#[test]
fn map_past_the_target_end_is_allowed_and_faults_there_are_out_of_range() {
    let e = env();
    let t = FakeTarget::new(2, true);
    let addr = map(&e.root, RW, 0, &t, 0, 4 * PAGE).unwrap();
    assert_eq!(e.root.handle_fault(addr + PAGE, false, false), Ok(()));
    assert_eq!(
        e.root.handle_fault(addr + 2 * PAGE, false, false),
        Err(Status::OUT_OF_RANGE)
    );
    assert_eq!(e.aspace.pte(addr + 2 * PAGE), None);
    t.resize(4);
    assert_eq!(e.root.handle_fault(addr + 2 * PAGE, true, false), Ok(()));
}

#[test]
fn map_specific_places_relative_to_the_vmar_base() {
    let e = env();
    let t = FakeTarget::new(4, false);
    let sub = e
        .root
        .allocate(ALL_CAPS | ZX_VM_SPECIFIC, 0x10_0000, 0x10_0000)
        .unwrap();
    assert_eq!(sub.base(), BASE + 0x10_0000);
    let addr = map(&sub, R | ZX_VM_SPECIFIC, 3 * PAGE, &t, 0, PAGE).unwrap();
    assert_eq!(addr, sub.base() + 3 * PAGE);
}

#[test]
fn map_specific_outside_the_vmar_is_invalid_args() {
    let e = env();
    let t = FakeTarget::new(4, false);
    assert_eq!(
        map(&e.root, R | ZX_VM_SPECIFIC, SIZE - PAGE, &t, 0, 2 * PAGE),
        Err(Status::INVALID_ARGS)
    );
    assert_eq!(
        map(
            &e.root,
            R | ZX_VM_SPECIFIC,
            usize::MAX & !(PAGE - 1),
            &t,
            0,
            PAGE
        ),
        Err(Status::INVALID_ARGS)
    );
    assert_eq!(
        map(&e.root, R | ZX_VM_SPECIFIC, SIZE - PAGE, &t, 0, PAGE).map(|_| ()),
        Ok(())
    );
}

#[test]
fn map_specific_overlapping_a_mapping_or_sub_vmar_is_no_memory() {
    let e = env();
    let t = FakeTarget::new(8, false);
    map(&e.root, R | ZX_VM_SPECIFIC, 4 * PAGE, &t, 0, 4 * PAGE).unwrap();
    e.root
        .allocate(ALL_CAPS | ZX_VM_SPECIFIC, 16 * PAGE, 4 * PAGE)
        .unwrap();
    assert_eq!(
        map(&e.root, R | ZX_VM_SPECIFIC, 7 * PAGE, &t, 0, 2 * PAGE),
        Err(Status::NO_MEMORY)
    );
    assert_eq!(
        map(&e.root, R | ZX_VM_SPECIFIC, 2 * PAGE, &t, 0, 3 * PAGE),
        Err(Status::NO_MEMORY)
    );
    assert_eq!(
        map(&e.root, R | ZX_VM_SPECIFIC, 15 * PAGE, &t, 0, 2 * PAGE),
        Err(Status::NO_MEMORY)
    );
    assert_eq!(
        map(&e.root, R | ZX_VM_SPECIFIC, 17 * PAGE, &t, 0, PAGE),
        Err(Status::NO_MEMORY)
    );
    assert_eq!(e.root.mapping_count(), 1);
    assert_eq!(t.registrations(), 1);
}

#[test]
fn map_specific_needs_can_map_specific() {
    let e = env();
    let t = FakeTarget::new(4, false);
    let sub = e.root.allocate(ZX_VM_CAN_MAP_READ, 0, 16 * PAGE).unwrap();
    assert_eq!(
        map(&sub, R | ZX_VM_SPECIFIC, 0, &t, 0, PAGE),
        Err(Status::ACCESS_DENIED)
    );
    assert_eq!(
        map(&sub, R | ZX_VM_SPECIFIC_OVERWRITE, 0, &t, 0, PAGE),
        Err(Status::ACCESS_DENIED)
    );
}

#[test]
fn map_without_room_is_no_memory() {
    let e = env_with(BASE, 8 * PAGE);
    let t = FakeTarget::new(16, false);
    assert_eq!(map(&e.root, R, 0, &t, 0, 9 * PAGE), Err(Status::NO_MEMORY));
    map(&e.root, R, 0, &t, 0, 6 * PAGE).unwrap();
    assert_eq!(map(&e.root, R, 0, &t, 0, 3 * PAGE), Err(Status::NO_MEMORY));
    assert_eq!(t.registrations(), 1);
    map(&e.root, R, 0, &t, 0, 2 * PAGE).unwrap();
}

#[test]
fn map_places_first_fit_and_reuses_holes() {
    let e = env();
    let t = FakeTarget::new(8, false);
    let a = map(&e.root, R, 0, &t, 0, 2 * PAGE).unwrap();
    let b = map(&e.root, R, 0, &t, 0, 2 * PAGE).unwrap();
    assert_eq!((a, b), (BASE, BASE + 2 * PAGE));
    e.root.unmap(a, 2 * PAGE).unwrap();
    assert_eq!(map(&e.root, R, 0, &t, 0, PAGE), Ok(BASE));
    assert_eq!(map(&e.root, R, 0, &t, 0, 2 * PAGE), Ok(BASE + 4 * PAGE));
}

#[test]
fn map_alignment_option_aligns_the_address() {
    let e = env();
    let t = FakeTarget::new(8, false);
    map(&e.root, R, 0, &t, 0, PAGE).unwrap();
    let addr = map(&e.root, R | ZX_VM_ALIGN_64KB, 0, &t, 0, PAGE).unwrap();
    assert_eq!(addr % 0x1_0000, 0);
    assert_eq!(addr, BASE + 0x1_0000);
    // Below a page, alignment is a page.
    assert!(map(&e.root, R | ZX_VM_ALIGN_1KB, 0, &t, 0, PAGE).is_ok());
    // SPECIFIC at a misaligned address.
    assert_eq!(
        map(
            &e.root,
            R | ZX_VM_SPECIFIC | ZX_VM_ALIGN_64KB,
            0x2_1000,
            &t,
            0,
            PAGE
        ),
        Err(Status::INVALID_ARGS)
    );
    assert_eq!(
        map(
            &e.root,
            R | ZX_VM_SPECIFIC | ZX_VM_ALIGN_64KB,
            0x2_0000,
            &t,
            0,
            PAGE
        ),
        Ok(BASE + 0x2_0000)
    );
}

#[test]
fn map_require_non_resizable_refuses_a_resizable_target() {
    let e = env();
    let resizable = FakeTarget::new(4, true);
    let fixed = FakeTarget::new(4, false);
    let opts = R | ZX_VM_REQUIRE_NON_RESIZABLE;
    assert_eq!(
        map(&e.root, opts, 0, &resizable, 0, PAGE),
        Err(Status::NOT_SUPPORTED)
    );
    assert_eq!(resizable.adds_and_removes(), (0, 0));
    assert!(map(&e.root, opts, 0, &fixed, 0, PAGE).is_ok());
    assert!(map(&e.root, R, 0, &resizable, 0, PAGE).is_ok());
}

#[test]
fn map_on_a_destroyed_vmar_is_bad_state_and_registers_nothing() {
    let e = env();
    let t = FakeTarget::new(4, false);
    let sub = e.root.allocate(ALL_CAPS, 0, 16 * PAGE).unwrap();
    sub.destroy().unwrap();
    assert_eq!(map(&sub, R, 0, &t, 0, PAGE), Err(Status::BAD_STATE));
    assert_eq!(t.registrations(), 0);
}

#[test]
fn map_registers_with_the_target_and_keeps_it_alive() {
    let e = env();
    let t = FakeTarget::new(4, false);
    let weak = Arc::downgrade(&t);
    let addr = map(&e.root, RW, 0, &t, 0, 4 * PAGE).unwrap();
    assert_eq!(t.registrations(), 1);
    drop(t); // the handle is closed: the mapping keeps the target alive
    let t = weak.upgrade().expect("target alive through its mapping");
    assert_eq!(e.root.handle_fault(addr, true, false), Ok(()));
    drop(t);
    e.root.unmap(addr, 4 * PAGE).unwrap();
    assert!(weak.upgrade().is_none(), "unmapping released the target");
}

#[test]
fn map_specific_overwrite_replaces_mappings_keeping_parts_outside() {
    let e = env();
    let a = FakeTarget::new(8, false);
    let b = FakeTarget::new(8, false);
    let old = map(&e.root, RW | ZX_VM_SPECIFIC, 0, &a, 0, 8 * PAGE).unwrap();
    fault_all(&e.root, old, 8, true);
    let new = map(
        &e.root,
        R | ZX_VM_SPECIFIC_OVERWRITE,
        2 * PAGE,
        &b,
        0,
        3 * PAGE,
    )
    .unwrap();
    assert_eq!(new, BASE + 2 * PAGE);
    let maps = e.root.mappings();
    assert_eq!(
        spans(&maps),
        vec![
            (BASE, 2 * PAGE, 0),
            (BASE + 2 * PAGE, 3 * PAGE, 0),
            (BASE + 5 * PAGE, 3 * PAGE, 5 * P64)
        ]
    );
    assert_eq!(maps[1].target_koid, b.koid);
    assert_eq!((a.registrations(), b.registrations()), (2, 1));
    assert_eq!(
        mapped_pages(&e.aspace, BASE, 8),
        [true, true, false, false, false, true, true, true]
    );
    // Overwriting exactly one whole mapping removes it.
    map(&e.root, R | ZX_VM_SPECIFIC_OVERWRITE, 0, &b, 0, 2 * PAGE).unwrap();
    assert_eq!((a.registrations(), b.registrations()), (1, 2));
}

#[test]
fn map_specific_overwrite_never_overlaps_a_sub_vmar() {
    let e = env();
    let t = FakeTarget::new(8, false);
    let sub = e
        .root
        .allocate(ALL_CAPS | ZX_VM_SPECIFIC, 4 * PAGE, 4 * PAGE)
        .unwrap();
    let inner = map(&sub, R, 0, &t, 0, PAGE).unwrap();
    assert_eq!(
        map(
            &e.root,
            R | ZX_VM_SPECIFIC_OVERWRITE,
            2 * PAGE,
            &t,
            0,
            4 * PAGE
        ),
        Err(Status::NO_MEMORY)
    );
    assert_eq!(
        map(&e.root, R | ZX_VM_SPECIFIC_OVERWRITE, 0, &t, 0, 16 * PAGE),
        Err(Status::NO_MEMORY)
    );
    assert!(!sub.is_destroyed());
    assert_eq!(e.root.mapping_at(inner).map(|m| m.base), Some(inner));
    assert_eq!(t.registrations(), 1);
}

#[test]
fn map_specific_overwrite_with_map_range_is_invalid_args() {
    let e = env();
    let t = FakeTarget::new(8, false);
    let opts = R | ZX_VM_SPECIFIC_OVERWRITE | ZX_VM_MAP_RANGE;
    assert_eq!(
        map(&e.root, opts, 0, &t, 0, PAGE),
        Err(Status::INVALID_ARGS)
    );
}

#[test]
fn map_range_maps_every_page_below_the_target_size_now_committing_nothing() {
    let e = env();
    let t = FakeTarget::new(4, false);
    let private = t.commit(1);
    t.share(2..3);
    let addr = map(&e.root, RW | ZX_VM_MAP_RANGE, 0, &t, 0, 6 * PAGE).unwrap();
    assert_eq!(e.aspace.pte(addr), Some((ZERO_PAGE, PERMS_R)));
    assert_eq!(e.aspace.pte(addr + PAGE), Some((private, PERMS_RW)));
    assert_eq!(
        e.aspace.pte(addr + 2 * PAGE),
        Some((t.shared_frame(2), PERMS_R))
    );
    assert_eq!(e.aspace.pte(addr + 3 * PAGE), Some((ZERO_PAGE, PERMS_R)));
    assert_eq!(mapped_pages(&e.aspace, addr + 4 * PAGE, 2), [false, false]);
    assert!(t.faults().iter().all(|&(_, write)| !write));
    assert_eq!(t.state.lock().unwrap().private.len(), 1);
}

#[test]
fn map_range_failing_in_the_target_undoes_everything() {
    let e = env();
    let t = FakeTarget::new(8, false);
    t.fail_fault_at(Some(3));
    assert_eq!(
        map(&e.root, R | ZX_VM_MAP_RANGE, 0, &t, 0, 8 * PAGE),
        Err(Status::NO_MEMORY)
    );
    assert_eq!(e.root.mapping_count(), 0);
    assert_eq!(e.aspace.pte_count(), 0);
    assert_eq!(t.registrations(), 0);
    t.fail_fault_at(None);
    assert_eq!(
        map(&e.root, R | ZX_VM_MAP_RANGE, 0, &t, 0, 8 * PAGE),
        Ok(BASE)
    );
    assert_eq!(e.aspace.pte_count(), 8);
}

#[test]
fn map_range_failing_in_the_page_tables_undoes_everything() {
    let e = env();
    let t = FakeTarget::new(8, false);
    e.aspace.fail_nth_map(4);
    assert_eq!(
        map(&e.root, R | ZX_VM_MAP_RANGE, 0, &t, 0, 8 * PAGE),
        Err(Status::NO_MEMORY)
    );
    assert_eq!(e.root.mapping_count(), 0);
    assert_eq!(e.aspace.pte_count(), 0);
    assert_eq!(t.registrations(), 0);
}

// ---------------------------------------------------------------------------------------
// zx_vmar_allocate

#[test]
fn allocate_capabilities_must_be_a_subset_of_the_parents() {
    let e = env();
    let ro = e.root.allocate(ZX_VM_CAN_MAP_READ, 0, 64 * PAGE).unwrap();
    assert_eq!(
        ro.allocate(ZX_VM_CAN_MAP_READ | ZX_VM_CAN_MAP_WRITE, 0, PAGE)
            .err(),
        Some(Status::ACCESS_DENIED)
    );
    assert_eq!(
        ro.allocate(ZX_VM_CAN_MAP_EXECUTE, 0, PAGE).err(),
        Some(Status::ACCESS_DENIED)
    );
    // CAN_MAP_SPECIFIC is granted freely (as in Zircon); placing SPECIFIC needs it here.
    let child = ro
        .allocate(ZX_VM_CAN_MAP_READ | ZX_VM_CAN_MAP_SPECIFIC, 0, PAGE)
        .unwrap();
    assert_eq!(
        child.capabilities(),
        ZX_VM_CAN_MAP_READ | ZX_VM_CAN_MAP_SPECIFIC
    );
    assert_eq!(
        ro.allocate(ZX_VM_SPECIFIC, 8 * PAGE, PAGE).err(),
        Some(Status::ACCESS_DENIED)
    );
}

#[test]
fn allocate_size_zero_or_unaligned_and_bad_offsets_are_invalid_args() {
    let e = env();
    assert_eq!(
        e.root.allocate(ALL_CAPS, 0, 0).err(),
        Some(Status::INVALID_ARGS)
    );
    assert_eq!(
        e.root.allocate(ALL_CAPS, 0, PAGE + 1).err(),
        Some(Status::INVALID_ARGS)
    );
    assert_eq!(
        e.root.allocate(ALL_CAPS | ZX_VM_SPECIFIC, 5, PAGE).err(),
        Some(Status::INVALID_ARGS)
    );
    assert_eq!(
        e.root.allocate(ALL_CAPS, PAGE, PAGE).err(),
        Some(Status::INVALID_ARGS)
    );
    assert_eq!(
        e.root.allocate(ALL_CAPS | ZX_VM_SPECIFIC, SIZE, PAGE).err(),
        Some(Status::INVALID_ARGS)
    );
    assert_eq!(
        e.root.allocate(ALL_CAPS | R, 0, PAGE).err(),
        Some(Status::INVALID_ARGS)
    );
    assert_eq!(
        e.root.allocate(ALL_CAPS | ZX_VM_MAP_RANGE, 0, PAGE).err(),
        Some(Status::INVALID_ARGS)
    );
    assert!(e.root.children().is_empty());
}

#[test]
fn allocate_specific_overlap_or_no_room_is_no_memory() {
    let e = env_with(BASE, 16 * PAGE);
    let t = FakeTarget::new(4, false);
    map(&e.root, R | ZX_VM_SPECIFIC, 4 * PAGE, &t, 0, 2 * PAGE).unwrap();
    e.root
        .allocate(ALL_CAPS | ZX_VM_SPECIFIC, 8 * PAGE, 4 * PAGE)
        .unwrap();
    assert_eq!(
        e.root
            .allocate(ALL_CAPS | ZX_VM_SPECIFIC, 5 * PAGE, PAGE)
            .err(),
        Some(Status::NO_MEMORY)
    );
    assert_eq!(
        e.root
            .allocate(ALL_CAPS | ZX_VM_SPECIFIC, 11 * PAGE, 2 * PAGE)
            .err(),
        Some(Status::NO_MEMORY)
    );
    assert_eq!(
        e.root.allocate(ALL_CAPS, 0, 5 * PAGE).err(),
        Some(Status::NO_MEMORY)
    );
    let fits = e.root.allocate(ALL_CAPS, 0, 4 * PAGE).unwrap();
    assert_eq!(fits.base(), BASE);
    assert_eq!(
        e.root.allocate(ALL_CAPS, 0, 4 * PAGE).unwrap().base(),
        BASE + 12 * PAGE
    );
    assert_eq!(
        e.root.allocate(ALL_CAPS, 0, 2 * PAGE).unwrap().base(),
        BASE + 6 * PAGE
    );
    assert_eq!(
        e.root.allocate(ALL_CAPS, 0, PAGE).err(),
        Some(Status::NO_MEMORY)
    );
}

#[test]
fn allocate_nested_vmars_hold_mappings_counted_from_the_root() {
    let e = env();
    let t = FakeTarget::new(4, false);
    let a = e
        .root
        .allocate(ALL_CAPS | ZX_VM_SPECIFIC, 0x10_0000, 0x10_0000)
        .unwrap();
    let b = a
        .allocate(ALL_CAPS | ZX_VM_SPECIFIC, 0x1000, 0x8000)
        .unwrap();
    assert_eq!(a.info(), (BASE + 0x10_0000, 0x10_0000));
    assert_eq!(b.info(), (BASE + 0x10_1000, 0x8000));
    assert_ne!(a.koid(), b.koid());
    let in_b = map(&b, RW, 0, &t, 0, PAGE).unwrap();
    assert!(in_b >= b.base() && in_b < b.base() + b.size());
    map(&a, R, 0, &t, 0, PAGE).unwrap();
    map(&e.root, R, 0, &t, 0, PAGE).unwrap();
    assert_eq!(
        (e.root.mapping_count(), a.mapping_count(), b.mapping_count()),
        (3, 2, 1)
    );
    match e.root.children().as_slice() {
        [VmarChild::Mapping(_), VmarChild::Region { koid, base, size }] => {
            assert_eq!((*koid, *base, *size), (a.koid(), a.base(), a.size()));
        }
        other => panic!("unexpected children {other:?}"),
    }
    // A fault from the root resolves in the innermost region.
    assert_eq!(e.root.handle_fault(in_b, true, false), Ok(()));
    assert!(e.aspace.pte(in_b).is_some());
}

#[test]
fn allocate_in_a_destroyed_vmar_is_bad_state() {
    let e = env();
    let a = e.root.allocate(ALL_CAPS, 0, 16 * PAGE).unwrap();
    a.destroy().unwrap();
    assert_eq!(a.allocate(ALL_CAPS, 0, PAGE).err(), Some(Status::BAD_STATE));
    // Its space is free again in the parent.
    assert_eq!(
        e.root.allocate(ALL_CAPS, 0, 16 * PAGE).unwrap().base(),
        a.base()
    );
}

// ---------------------------------------------------------------------------------------
// zx_vmar_unmap

#[test]
fn unmap_in_the_middle_splits_into_two_registered_mappings() {
    let e = env();
    let t = FakeTarget::new(8, false);
    let addr = map(&e.root, RW, 0, &t, 0, 8 * PAGE).unwrap();
    fault_all(&e.root, addr, 8, true);
    e.aspace.take_calls();
    e.root.unmap(addr + 3 * PAGE, 2 * PAGE).unwrap();
    assert_eq!(
        spans(&e.root.mappings()),
        vec![(addr, 3 * PAGE, 0), (addr + 5 * PAGE, 3 * PAGE, 5 * P64)]
    );
    assert_eq!(t.registrations(), 2);
    assert_eq!(
        e.aspace.take_calls(),
        vec![AspaceCall::Unmap {
            va: addr + 3 * PAGE,
            len: 2 * PAGE
        }]
    );
    assert_eq!(
        mapped_pages(&e.aspace, addr, 8),
        [true, true, true, false, false, true, true, true]
    );
    // Both pieces answer their target: each observer translates to its own addresses.
    t.notify(6 * P64, P64);
    t.notify(P64, P64);
    assert_eq!(
        mapped_pages(&e.aspace, addr, 8),
        [true, false, true, false, false, true, false, true]
    );
    // Faults in the hole find nothing; in the pieces they use the right offsets.
    assert_eq!(
        e.root.handle_fault(addr + 4 * PAGE, false, false),
        Err(Status::NOT_FOUND)
    );
    e.root.handle_fault(addr + 6 * PAGE, false, false).unwrap();
    assert_eq!(t.faults().last(), Some(&(6 * P64, false)));
    e.root.unmap(addr, 8 * PAGE).unwrap();
    assert_eq!(t.registrations(), 0);
    assert_eq!(e.aspace.pte_count(), 0);
}

#[test]
fn unmap_of_a_head_or_tail_keeps_the_rest_with_its_offsets() {
    let e = env();
    let t = FakeTarget::new(8, false);
    let addr = map(&e.root, R, 0, &t, 2 * P64, 6 * PAGE).unwrap();
    e.root.unmap(addr, 2 * PAGE).unwrap();
    assert_eq!(
        spans(&e.root.mappings()),
        vec![(addr + 2 * PAGE, 4 * PAGE, 4 * P64)]
    );
    e.root.unmap(addr + 5 * PAGE, PAGE).unwrap();
    assert_eq!(
        spans(&e.root.mappings()),
        vec![(addr + 2 * PAGE, 3 * PAGE, 4 * P64)]
    );
    assert_eq!(t.registrations(), 1);
    e.root.handle_fault(addr + 2 * PAGE, false, false).unwrap();
    assert_eq!(t.faults().last(), Some(&(4 * P64, false)));
}

#[test]
fn unmap_across_several_mappings_removes_and_cuts_them() {
    let e = env();
    let a = FakeTarget::new(4, false);
    let b = FakeTarget::new(4, false);
    let c = FakeTarget::new(4, false);
    let first = map(&e.root, R, 0, &a, 0, 4 * PAGE).unwrap();
    map(&e.root, R, 0, &b, 0, 4 * PAGE).unwrap();
    map(&e.root, R, 0, &c, 0, 4 * PAGE).unwrap();
    e.root.unmap(first + 2 * PAGE, 8 * PAGE).unwrap();
    assert_eq!(
        spans(&e.root.mappings()),
        vec![(first, 2 * PAGE, 0), (first + 10 * PAGE, 2 * PAGE, 2 * P64)]
    );
    assert_eq!(
        (a.registrations(), b.registrations(), c.registrations()),
        (1, 0, 1)
    );
}

#[test]
fn unmap_unaligned_address_or_zero_len_is_invalid_args_and_len_rounds_up() {
    let e = env();
    let t = FakeTarget::new(4, false);
    let addr = map(&e.root, R, 0, &t, 0, 4 * PAGE).unwrap();
    assert_eq!(e.root.unmap(addr + 1, PAGE), Err(Status::INVALID_ARGS));
    assert_eq!(e.root.unmap(addr, 0), Err(Status::INVALID_ARGS));
    e.root.unmap(addr, PAGE + 1).unwrap();
    assert_eq!(
        spans(&e.root.mappings()),
        vec![(addr + 2 * PAGE, 2 * PAGE, 2 * P64)]
    );
}

#[test]
fn unmap_outside_the_vmar_is_invalid_args() {
    let e = env();
    let sub = e.root.allocate(ALL_CAPS, 0, 4 * PAGE).unwrap();
    assert_eq!(
        sub.unmap(sub.base() + 2 * PAGE, 4 * PAGE),
        Err(Status::INVALID_ARGS)
    );
    assert_eq!(
        sub.unmap(sub.base() - PAGE, PAGE),
        Err(Status::INVALID_ARGS)
    );
    assert_eq!(
        e.root.unmap(usize::MAX & !(PAGE - 1), 2 * PAGE),
        Err(Status::INVALID_ARGS)
    );
}

#[test]
fn unmap_covering_part_of_a_sub_vmar_is_invalid_args_and_changes_nothing() {
    let e = env();
    let t = FakeTarget::new(16, false);
    let before = map(&e.root, R | ZX_VM_SPECIFIC, 0, &t, 0, 4 * PAGE).unwrap();
    let sub = e
        .root
        .allocate(ALL_CAPS | ZX_VM_SPECIFIC, 4 * PAGE, 4 * PAGE)
        .unwrap();
    map(&sub, R, 0, &t, 0, PAGE).unwrap();
    assert_eq!(e.root.unmap(before, 6 * PAGE), Err(Status::INVALID_ARGS));
    assert_eq!(
        e.root.unmap(sub.base() + PAGE, PAGE),
        Err(Status::INVALID_ARGS)
    );
    assert_eq!(e.root.mapping_count(), 2);
    assert!(!sub.is_destroyed());
}

#[test]
fn unmap_covering_a_whole_sub_vmar_destroys_it() {
    let e = env();
    let t = FakeTarget::new(16, false);
    map(&e.root, R | ZX_VM_SPECIFIC, 0, &t, 0, 4 * PAGE).unwrap();
    let sub = e
        .root
        .allocate(ALL_CAPS | ZX_VM_SPECIFIC, 4 * PAGE, 4 * PAGE)
        .unwrap();
    let inner = sub.allocate(ALL_CAPS, 0, 2 * PAGE).unwrap();
    let m = map(&inner, R, 0, &t, 0, PAGE).unwrap();
    e.root.handle_fault(m, false, false).unwrap();
    e.root.unmap(BASE + 2 * PAGE, 8 * PAGE).unwrap();
    assert!(sub.is_destroyed() && inner.is_destroyed());
    assert_eq!(map(&inner, R, 0, &t, 0, PAGE), Err(Status::BAD_STATE));
    assert_eq!(e.aspace.pte(m), None);
    assert_eq!(e.root.mapping_count(), 1);
    assert_eq!(t.registrations(), 1);
}

#[test]
fn unmap_of_a_range_with_nothing_mapped_is_ok() {
    let e = env();
    assert_eq!(e.root.unmap(BASE + 16 * PAGE, 4 * PAGE), Ok(()));
}

#[test]
fn unmap_on_a_destroyed_vmar_is_bad_state() {
    let e = env();
    let sub = e.root.allocate(ALL_CAPS, 0, 4 * PAGE).unwrap();
    sub.destroy().unwrap();
    assert_eq!(sub.unmap(sub.base(), PAGE), Err(Status::BAD_STATE));
}

// ---------------------------------------------------------------------------------------
// zx_vmar_protect

#[test]
fn protect_in_the_middle_splits_into_three_registered_mappings() {
    let e = env();
    let t = FakeTarget::new(8, false);
    let addr = map(&e.root, RW, 0, &t, 0, 8 * PAGE).unwrap();
    fault_all(&e.root, addr, 8, true);
    e.aspace.take_calls();
    e.root.protect(R, addr + 2 * PAGE, 3 * PAGE).unwrap();
    let maps = e.root.mappings();
    assert_eq!(
        spans(&maps),
        vec![
            (addr, 2 * PAGE, 0),
            (addr + 2 * PAGE, 3 * PAGE, 2 * P64),
            (addr + 5 * PAGE, 3 * PAGE, 5 * P64)
        ]
    );
    assert_eq!(
        maps.iter().map(|m| m.perms).collect::<Vec<_>>(),
        [PERMS_RW, PERMS_R, PERMS_RW]
    );
    assert_eq!(t.registrations(), 3);
    assert_eq!(
        e.aspace.take_calls(),
        vec![AspaceCall::Protect {
            va: addr + 2 * PAGE,
            len: 3 * PAGE,
            perms: PERMS_R
        }]
    );
    assert_eq!(e.aspace.pte(addr + 2 * PAGE).unwrap().1, PERMS_R);
    assert_eq!(e.aspace.pte(addr + 5 * PAGE).unwrap().1, PERMS_RW);
    assert_eq!(
        e.root.handle_fault(addr + 3 * PAGE, true, false),
        Err(Status::ACCESS_DENIED)
    );
    assert_eq!(e.root.handle_fault(addr + 5 * PAGE, true, false), Ok(()));
}

#[test]
fn protect_with_unchanged_permissions_splits_nothing() {
    let e = env();
    let t = FakeTarget::new(8, false);
    let addr = map(&e.root, R, 0, &t, 0, 8 * PAGE).unwrap();
    e.root.protect(R, addr + 2 * PAGE, 3 * PAGE).unwrap();
    assert_eq!(e.root.mapping_count(), 1);
    assert_eq!(t.adds_and_removes(), (1, 0));
}

#[test]
fn protect_can_never_exceed_the_rights_the_handle_had_at_map_time() {
    let e = env();
    let t = FakeTarget::new(4, false);
    let addr = e
        .root
        .map(R, 0, t.target(), 0, 4 * PAGE, Rights::MAP | Rights::READ)
        .unwrap();
    assert_eq!(
        e.root.protect(RW, addr, 4 * PAGE),
        Err(Status::ACCESS_DENIED)
    );
    assert_eq!(e.root.protect(RX, addr, PAGE), Err(Status::ACCESS_DENIED));
    assert_eq!(e.root.mapping_at(addr).unwrap().max_perms, PERMS_R);
    // Lowering and raising back within the rights is fine.
    e.root.protect(0, addr, PAGE).unwrap();
    e.root.protect(R, addr, PAGE).unwrap();
    assert_eq!(
        e.root
            .mappings()
            .iter()
            .map(|m| m.perms)
            .collect::<Vec<_>>(),
        [PERMS_R, PERMS_R]
    );
}

#[test]
fn protect_can_never_exceed_the_vmar_capabilities() {
    let e = env();
    let t = FakeTarget::new(4, false);
    let ro = e.root.allocate(ZX_VM_CAN_MAP_READ, 0, 16 * PAGE).unwrap();
    let addr = map(&ro, R, 0, &t, 0, 4 * PAGE).unwrap();
    assert_eq!(ro.protect(RW, addr, PAGE), Err(Status::ACCESS_DENIED));
    assert_eq!(e.root.mapping_at(addr).unwrap().max_perms, PERMS_R);
}

#[test]
fn protect_refuses_write_execute_write_alone_and_other_options() {
    let e = env();
    let t = FakeTarget::new(4, false);
    let addr = map(&e.root, R, 0, &t, 0, 4 * PAGE).unwrap();
    assert_eq!(
        e.root.protect(R | W | X, addr, PAGE),
        Err(Status::ACCESS_DENIED)
    );
    assert_eq!(e.root.protect(W, addr, PAGE), Err(Status::INVALID_ARGS));
    assert_eq!(
        e.root.protect(R | ZX_VM_SPECIFIC, addr, PAGE),
        Err(Status::INVALID_ARGS)
    );
    assert_eq!(e.root.protect(R, addr + 1, PAGE), Err(Status::INVALID_ARGS));
    assert_eq!(e.root.protect(R, addr, 0), Err(Status::INVALID_ARGS));
    assert_eq!(
        e.root.protect(R, BASE + SIZE, PAGE),
        Err(Status::INVALID_ARGS)
    );
}

#[test]
fn protect_of_a_range_with_a_gap_is_not_found_and_changes_nothing() {
    let e = env();
    let t = FakeTarget::new(4, false);
    let a = map(&e.root, RW | ZX_VM_SPECIFIC, 0, &t, 0, 2 * PAGE).unwrap();
    map(&e.root, RW | ZX_VM_SPECIFIC, 3 * PAGE, &t, 0, 2 * PAGE).unwrap();
    assert_eq!(e.root.protect(R, a, 5 * PAGE), Err(Status::NOT_FOUND));
    assert_eq!(e.root.protect(R, a, 6 * PAGE), Err(Status::NOT_FOUND));
    assert_eq!(
        e.root.protect(R, a + 8 * PAGE, PAGE),
        Err(Status::NOT_FOUND)
    );
    assert!(e.root.mappings().iter().all(|m| m.perms == PERMS_RW));
    assert_eq!(t.registrations(), 2);
    // Adjacent mappings without a gap are one range.
    map(&e.root, RW | ZX_VM_SPECIFIC, 2 * PAGE, &t, 0, PAGE).unwrap();
    assert_eq!(e.root.protect(R, a + PAGE, 3 * PAGE), Ok(()));
}

#[test]
fn protect_of_a_range_with_a_sub_vmar_is_invalid_args() {
    let e = env();
    let t = FakeTarget::new(4, false);
    map(&e.root, RW | ZX_VM_SPECIFIC, 0, &t, 0, 2 * PAGE).unwrap();
    let sub = e
        .root
        .allocate(ALL_CAPS | ZX_VM_SPECIFIC, 2 * PAGE, 2 * PAGE)
        .unwrap();
    map(&sub, RW, 0, &t, 0, 2 * PAGE).unwrap();
    assert_eq!(e.root.protect(R, BASE, 4 * PAGE), Err(Status::INVALID_ARGS));
    // Through the sub-VMAR itself it works.
    assert_eq!(sub.protect(R, sub.base(), 2 * PAGE), Ok(()));
}

#[test]
fn protect_adding_write_keeps_copy_on_write_entries_read_only() {
    let e = env();
    let t = FakeTarget::new(2, false);
    t.share(0..2);
    let addr = map(&e.root, R, 0, &t, 0, 2 * PAGE).unwrap();
    fault_all(&e.root, addr, 2, false);
    e.root.protect(RW, addr, 2 * PAGE).unwrap();
    assert_eq!(e.aspace.pte(addr), Some((t.shared_frame(0), PERMS_R)));
    // The write faults, copies and maps the private page writable.
    e.root.handle_fault(addr, true, false).unwrap();
    let (frame, perms) = e.aspace.pte(addr).unwrap();
    assert_eq!((frame, perms), (t.visible(0).0, PERMS_RW));
    assert_ne!(frame, t.shared_frame(0));
}

#[test]
fn protect_to_no_access_removes_entries_and_faults_are_denied() {
    let e = env();
    let t = FakeTarget::new(2, false);
    let addr = map(&e.root, RW, 0, &t, 0, 2 * PAGE).unwrap();
    fault_all(&e.root, addr, 2, true);
    e.root.protect(0, addr, 2 * PAGE).unwrap();
    assert_eq!(e.aspace.pte_count(), 0);
    assert_eq!(
        e.root.handle_fault(addr, false, false),
        Err(Status::ACCESS_DENIED)
    );
}

#[test]
fn protect_on_a_destroyed_vmar_is_bad_state() {
    let e = env();
    let sub = e.root.allocate(ALL_CAPS, 0, 4 * PAGE).unwrap();
    sub.destroy().unwrap();
    assert_eq!(sub.protect(R, sub.base(), PAGE), Err(Status::BAD_STATE));
}

// ---------------------------------------------------------------------------------------
// zx_vmar_destroy

#[test]
fn destroy_unmaps_everything_nested_and_kills_every_descendant() {
    let e = env();
    let t = FakeTarget::new(4, false);
    let a = e.root.allocate(ALL_CAPS, 0, 64 * PAGE).unwrap();
    let b = a.allocate(ALL_CAPS, 0, 16 * PAGE).unwrap();
    let c = b.allocate(ALL_CAPS, 0, 4 * PAGE).unwrap();
    let keep = map(&e.root, R, 0, &t, 0, PAGE).unwrap();
    let mut addrs = Vec::new();
    for v in [&a, &b, &c] {
        let addr = map(v, RW, 0, &t, 0, PAGE).unwrap();
        e.root.handle_fault(addr, true, false).unwrap();
        addrs.push(addr);
    }
    assert_eq!(t.registrations(), 4);
    a.destroy().unwrap();
    assert!(a.is_destroyed() && b.is_destroyed() && c.is_destroyed());
    assert_eq!(t.registrations(), 1);
    assert!(addrs.iter().all(|&va| e.aspace.pte(va).is_none()));
    assert_eq!(e.root.mapping_count(), 1);
    assert_eq!(e.root.children().len(), 1);
    assert!(e.root.mapping_at(keep).is_some());
    for v in [&a, &b, &c] {
        assert_eq!(v.destroy(), Err(Status::BAD_STATE));
        assert_eq!(map(v, R, 0, &t, 0, PAGE), Err(Status::BAD_STATE));
        assert_eq!(v.allocate(ALL_CAPS, 0, PAGE).err(), Some(Status::BAD_STATE));
        assert_eq!(
            v.handle_fault(v.base(), false, false),
            Err(Status::BAD_STATE)
        );
        assert_eq!(v.mapping_count(), 0);
    }
    assert_eq!(
        e.root.handle_fault(addrs[2], false, false),
        Err(Status::NOT_FOUND)
    );
}

#[test]
fn destroy_of_the_root_removes_every_mapping() {
    let e = env();
    let t = FakeTarget::new(4, false);
    let addr = map(&e.root, RW, 0, &t, 0, 4 * PAGE).unwrap();
    fault_all(&e.root, addr, 4, true);
    e.root.destroy().unwrap();
    assert_eq!((t.registrations(), e.aspace.pte_count()), (0, 0));
    assert_eq!(map(&e.root, R, 0, &t, 0, PAGE), Err(Status::BAD_STATE));
}

#[test]
fn dropping_the_last_vmar_unmaps_and_unregisters_everything() {
    let e = env();
    let t = FakeTarget::new(4, false);
    let sub = e.root.allocate(ALL_CAPS, 0, 16 * PAGE).unwrap();
    let addr = map(&sub, RW, 0, &t, 0, 4 * PAGE).unwrap();
    fault_all(&e.root, addr, 4, true);
    drop(e.root);
    // The sub-VMAR still holds the address space.
    assert_eq!(t.registrations(), 1);
    drop(sub);
    assert_eq!((t.registrations(), e.aspace.pte_count()), (0, 0));
}

#[test]
fn destroy_and_lookups_of_10000_nested_vmars_run_on_a_small_stack() {
    let handle = std::thread::Builder::new()
        .stack_size(64 * 1024)
        .spawn(|| {
            let e = env();
            let t = FakeTarget::new(1, false);
            let mut chain = vec![e.root.clone()];
            for _ in 0..10_000 {
                let parent = chain.last().unwrap();
                let size = parent.size();
                chain.push(parent.allocate(ALL_CAPS, 0, size).unwrap());
            }
            let innermost = chain.last().unwrap();
            let addr = map(innermost, RW, 0, &t, 0, PAGE).unwrap();
            assert_eq!(e.root.handle_fault(addr, true, false), Ok(()));
            assert_eq!(e.root.mapping_count(), 1);
            assert_eq!(e.root.mapping_at(addr).map(|m| m.base), Some(addr));
            assert_eq!(e.root.mappings().len(), 1);
            chain[1].destroy().unwrap();
            assert!(chain[1..].iter().all(|v| v.is_destroyed()));
            assert_eq!((t.registrations(), e.aspace.pte_count()), (0, 0));
            // And a second deep chain torn down by dropping everything.
            let mut chain2 = vec![e.root.clone()];
            for _ in 0..10_000 {
                let parent = chain2.last().unwrap();
                let size = parent.size();
                chain2.push(parent.allocate(ALL_CAPS, 0, size).unwrap());
            }
            map(chain2.last().unwrap(), R, 0, &t, 0, PAGE).unwrap();
            drop(chain);
            drop(chain2);
            drop(e.root);
            assert_eq!(t.registrations(), 0);
        })
        .unwrap();
    handle.join().expect("deep nesting on a 64 KiB stack");
}

// ---------------------------------------------------------------------------------------
// Faults

#[test]
fn fault_read_on_a_copy_on_write_page_maps_it_read_only() {
    let e = env();
    let t = FakeTarget::new(2, false);
    t.share(0..2);
    let addr = map(&e.root, RW, 0, &t, 0, 2 * PAGE).unwrap();
    e.root.handle_fault(addr + 8, false, false).unwrap();
    assert_eq!(e.aspace.pte(addr), Some((t.shared_frame(0), PERMS_R)));
    assert_eq!(t.faults(), vec![(0, false)]);
}

#[test]
fn fault_write_on_a_copy_on_write_page_maps_a_private_copy_writable() {
    let e = env();
    let t = FakeTarget::new(2, false);
    t.share(0..2);
    let addr = map(&e.root, RW, 0, &t, 0, 2 * PAGE).unwrap();
    e.root.handle_fault(addr + PAGE, false, false).unwrap();
    e.root.handle_fault(addr + PAGE, true, false).unwrap();
    let (frame, perms) = e.aspace.pte(addr + PAGE).unwrap();
    assert_eq!(perms, PERMS_RW);
    assert_eq!(frame, t.visible(1).0);
    assert_ne!(frame, t.shared_frame(1));
}

#[test]
fn fault_write_maps_writable_and_a_read_of_a_private_page_too() {
    let e = env();
    let t = FakeTarget::new(2, false);
    let private = t.commit(1);
    let addr = map(&e.root, RW, 0, &t, 0, 2 * PAGE).unwrap();
    e.root.handle_fault(addr, true, false).unwrap();
    assert_eq!(e.aspace.pte(addr).unwrap().1, PERMS_RW);
    e.root.handle_fault(addr + PAGE, false, false).unwrap();
    assert_eq!(e.aspace.pte(addr + PAGE), Some((private, PERMS_RW)));
    // A read-only mapping never gets a writable entry.
    let ro = map(&e.root, R, 0, &t, 0, 2 * PAGE).unwrap();
    e.root.handle_fault(ro + PAGE, false, false).unwrap();
    assert_eq!(e.aspace.pte(ro + PAGE), Some((private, PERMS_R)));
}

#[test]
fn fault_outside_any_mapping_is_not_found() {
    let e = env();
    let t = FakeTarget::new(2, false);
    let sub = e.root.allocate(ALL_CAPS, 0, 16 * PAGE).unwrap();
    let addr = map(&e.root, R, 0, &t, 0, 2 * PAGE).unwrap();
    assert_eq!(
        e.root.handle_fault(addr + 2 * PAGE, false, false),
        Err(Status::NOT_FOUND)
    );
    assert_eq!(
        e.root.handle_fault(sub.base(), false, false),
        Err(Status::NOT_FOUND)
    );
    assert_eq!(e.root.handle_fault(0, false, false), Err(Status::NOT_FOUND));
    assert_eq!(
        e.root.handle_fault(usize::MAX, false, false),
        Err(Status::NOT_FOUND)
    );
    assert!(t.faults().is_empty());
}

#[test]
fn fault_violating_the_mapping_permissions_is_access_denied() {
    let e = env();
    let t = FakeTarget::new(2, false);
    let r = map(&e.root, R, 0, &t, 0, PAGE).unwrap();
    let rw = map(&e.root, RW, 0, &t, 0, PAGE).unwrap();
    let rx = map(&e.root, RX, 0, &t, 0, PAGE).unwrap();
    let none = map(&e.root, 0, 0, &t, 0, PAGE).unwrap();
    let x = map(&e.root, X, 0, &t, 0, PAGE).unwrap();
    assert_eq!(
        e.root.handle_fault(r, true, false),
        Err(Status::ACCESS_DENIED)
    );
    assert_eq!(
        e.root.handle_fault(r, false, true),
        Err(Status::ACCESS_DENIED)
    );
    assert_eq!(
        e.root.handle_fault(rw, false, true),
        Err(Status::ACCESS_DENIED)
    );
    assert_eq!(
        e.root.handle_fault(rx, true, false),
        Err(Status::ACCESS_DENIED)
    );
    assert_eq!(
        e.root.handle_fault(none, false, false),
        Err(Status::ACCESS_DENIED)
    );
    assert_eq!(
        e.root.handle_fault(x, false, false),
        Err(Status::ACCESS_DENIED)
    );
    assert!(t.faults().is_empty());
    assert_eq!(e.root.handle_fault(rx, false, true), Ok(()));
    assert_eq!(e.aspace.pte(rx).unwrap().1, MappingPerms::RX);
    assert_eq!(e.root.handle_fault(x, false, true), Ok(()));
}

#[test]
fn fault_failing_in_the_target_or_page_tables_installs_nothing() {
    let e = env();
    let t = FakeTarget::new(4, false);
    let addr = map(&e.root, RW, 0, &t, 0, 4 * PAGE).unwrap();
    t.fail_fault_at(Some(1));
    assert_eq!(
        e.root.handle_fault(addr + PAGE, true, false),
        Err(Status::NO_MEMORY)
    );
    e.aspace.fail_nth_map(1);
    assert_eq!(
        e.root.handle_fault(addr, true, false),
        Err(Status::NO_MEMORY)
    );
    assert_eq!(e.aspace.pte_count(), 0);
}

#[test]
fn fault_racing_with_an_invalidation_installs_the_new_page_not_the_old_one() {
    let e = env();
    let t = FakeTarget::new(2, false);
    t.share(0..2);
    let addr = map(&e.root, RW, 0, &t, 0, 2 * PAGE).unwrap();
    *t.race_once.lock().unwrap() = Some(0);
    e.root.handle_fault(addr, false, false).unwrap();
    let (frame, perms) = e.aspace.pte(addr).unwrap();
    assert_eq!((frame, perms), (t.visible(0).0, PERMS_RW));
    assert_eq!(
        t.faults(),
        vec![(0, false), (0, false)],
        "the fault was resolved again"
    );
    // The same for MAP_RANGE.
    let t2 = FakeTarget::new(2, false);
    t2.share(0..2);
    *t2.race_once.lock().unwrap() = Some(1);
    let addr2 = map(&e.root, R | ZX_VM_MAP_RANGE, 0, &t2, 0, 2 * PAGE).unwrap();
    assert_eq!(e.aspace.pte(addr2 + PAGE), Some((t2.visible(1).0, PERMS_R)));
    assert_eq!(e.aspace.pte(addr2), Some((t2.shared_frame(0), PERMS_R)));
}

/// A target that answers a write fault with a read-only page (a bug on its side) must not
/// make the faulting thread loop.
#[test]
fn fault_write_answered_read_only_is_access_denied() {
    struct Stubborn(Koid);
    impl MapTarget for Stubborn {
        fn koid(&self) -> Koid {
            self.0
        }
        fn size(&self) -> u64 {
            P64
        }
        fn is_resizable(&self) -> bool {
            false
        }
        fn add_mapping(&self, _: Weak<dyn MappingObserver>) -> Option<u64> {
            Some(1)
        }
        fn remove_mapping(&self, _: u64) {}
        fn fault_page(&self, _: u64, _: bool, _: bool) -> ZxResult<PageForFault> {
            Ok(PageForFault {
                frame: ZERO_PAGE,
                writable: false,
            })
        }
    }
    let e = env();
    let addr = e
        .root
        .map(RW, 0, Arc::new(Stubborn(new_koid())), 0, PAGE, all_rights())
        .unwrap();
    assert_eq!(
        e.root.handle_fault(addr, true, false),
        Err(Status::ACCESS_DENIED)
    );
    assert_eq!(e.aspace.pte_count(), 0);
}

// ---------------------------------------------------------------------------------------
// Observers and registrations

#[test]
fn observer_unmaps_translate_target_offsets_to_addresses() {
    let e = env();
    let t = FakeTarget::new(8, false);
    let addr = map(&e.root, R, 0, &t, 2 * P64, 4 * PAGE).unwrap();
    fault_all(&e.root, addr, 4, false);
    e.aspace.take_calls();
    t.notify(3 * P64, 2 * P64);
    assert_eq!(
        e.aspace.take_calls(),
        vec![AspaceCall::Unmap {
            va: addr + PAGE,
            len: 2 * PAGE
        }]
    );
    assert_eq!(mapped_pages(&e.aspace, addr, 4), [true, false, false, true]);
    // Outside the mapping's window: nothing.
    t.notify(0, 2 * P64);
    t.notify(6 * P64, 2 * P64);
    assert!(e.aspace.take_calls().is_empty());
    // Unaligned and overlapping the start: whole pages, clipped to the window.
    t.notify(P64 + 7, P64 + 10);
    assert_eq!(
        e.aspace.take_calls(),
        vec![AspaceCall::Unmap {
            va: addr,
            len: PAGE
        }]
    );
    t.notify(0, u64::MAX);
    assert_eq!(e.aspace.pte_count(), 0);
}

#[test]
fn observer_of_a_shrinking_target_removes_the_entries_past_the_new_end() {
    let e = env();
    let t = FakeTarget::new(4, true);
    let addr = map(&e.root, RW, 0, &t, 0, 4 * PAGE).unwrap();
    fault_all(&e.root, addr, 4, true);
    t.resize(1);
    assert_eq!(
        mapped_pages(&e.aspace, addr, 4),
        [true, false, false, false]
    );
    assert_eq!(
        e.root.handle_fault(addr + PAGE, false, false),
        Err(Status::OUT_OF_RANGE)
    );
}

#[test]
fn mapping_counts_on_the_target_go_up_and_down_exactly() {
    let e = env();
    let t = FakeTarget::new(16, false);
    let addr = map(&e.root, RW, 0, &t, 0, 16 * PAGE).unwrap();
    assert_eq!(t.registrations(), 1);
    e.root.unmap(addr + 2 * PAGE, PAGE).unwrap(); // split: 2
    assert_eq!(t.registrations(), 2);
    e.root.protect(R, addr + 5 * PAGE, 2 * PAGE).unwrap(); // split twice: 4
    assert_eq!(t.registrations(), 4);
    map(&e.root, R | ZX_VM_SPECIFIC_OVERWRITE, 9 * PAGE, &t, 0, PAGE).unwrap(); // split + new: 6
    assert_eq!(t.registrations(), 6);
    assert_eq!(e.root.mapping_count(), 6);
    e.root.unmap(addr, 3 * PAGE).unwrap(); // removes the first piece: 5
    assert_eq!(t.registrations(), 5);
    assert_eq!(e.root.mapping_count(), 5);
    e.root.destroy().unwrap();
    assert_eq!(t.registrations(), 0);
    let (adds, removes) = t.adds_and_removes();
    assert_eq!(adds, removes);
}

// ---------------------------------------------------------------------------------------
// Concurrency: faults race with invalidations (the target calls its observers while holding
// its own lock) and with unmap/protect/map; nothing deadlocks and no stale entry survives.

#[test]
fn concurrent_faults_invalidations_and_changes_leave_no_stale_entry() {
    let e = env();
    let t = FakeTarget::new(16, false);
    let other = FakeTarget::new(4, false);
    t.share(0..16);
    let addr = map(&e.root, RW | ZX_VM_SPECIFIC, 0, &t, 0, 16 * PAGE).unwrap();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut threads = Vec::new();
    for seed in 0..2usize {
        let root = e.root.clone();
        let stop = stop.clone();
        threads.push(std::thread::spawn(move || {
            let mut i = seed;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let page = (i * 3) % 4;
                let _ = root.handle_fault(addr + page * PAGE, i % 2 == 0, false);
                i += 1;
            }
        }));
    }
    {
        let t = t.clone();
        let stop = stop.clone();
        threads.push(std::thread::spawn(move || {
            let mut i = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                t.share(i % 4..i % 4 + 1);
                i += 1;
            }
        }));
    }
    // While the target's lock is held no invalidation is in flight, so every entry of its
    // mapping must show exactly what the target shows.
    let checker = {
        let t = t.clone();
        let aspace = e.aspace.clone();
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut stale = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let s = t.state.lock().unwrap();
                for (&va, &(frame, perms)) in aspace.ptes().range(addr..addr + 16 * PAGE) {
                    let (visible, writable) = t.visible_in(&s, ((va - addr) / PAGE) as u64);
                    if frame != visible || (perms.write && !writable) {
                        stale += 1;
                    }
                }
                drop(s);
                std::thread::yield_now();
            }
            stale
        })
    };
    t.slow.store(true, std::sync::atomic::Ordering::Relaxed);
    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(300);
    let mut round = 0;
    while round < 300 || std::time::Instant::now() < deadline {
        round += 1;
        let page = round % 14;
        e.root.protect(R, addr + page * PAGE, 2 * PAGE).unwrap();
        e.root.protect(RW, addr + page * PAGE, 2 * PAGE).unwrap();
        let o = map(&e.root, R | ZX_VM_MAP_RANGE, 0, &other, 0, 4 * PAGE).unwrap();
        e.root.unmap(o, 4 * PAGE).unwrap();
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for thread in threads {
        thread.join().unwrap();
    }
    assert_eq!(
        checker.join().unwrap(),
        0,
        "stale entries seen while the target was quiet"
    );
    for (va, (frame, perms)) in e.aspace.ptes() {
        let m = e.root.mapping_at(va).expect("entry inside a mapping");
        let page = m.target_offset / P64 + ((va - m.base) / PAGE) as u64;
        let (visible, writable) = t.visible(page);
        assert_eq!(frame, visible, "stale frame at {va:#x}");
        assert!(
            !perms.write || (writable && m.perms.write),
            "writable entry at {va:#x}"
        );
    }
    assert_eq!(other.registrations(), 0);
    assert_eq!(t.registrations(), e.root.mapping_count());
}

// ---------------------------------------------------------------------------------------
// Model-based property test: random allocate / map / unmap / protect / destroy / fault /
// target changes against a page-granular model.

mod model {
    use super::*;
    use proptest::prelude::*;

    const PAGES: usize = 64;
    const TARGET_PAGES: u64 = 12;
    const MAX_REGIONS: usize = 10;

    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    struct MPage {
        target: usize,
        offset: u64,
        perms: MappingPerms,
        max: MappingPerms,
    }

    struct MRegion {
        vmar: Arc<Vmar>,
        base: usize,
        size: usize,
        parent: Option<usize>,
        alive: bool,
        caps: u32,
    }

    #[derive(Clone, Debug)]
    enum Op {
        Allocate {
            vmar: usize,
            at: Option<usize>,
            size: usize,
            caps: u32,
        },
        Map {
            vmar: usize,
            at: Option<usize>,
            overwrite: bool,
            range: bool,
            target: usize,
            toff: u64,
            len: usize,
            perms: u32,
            rights: u32,
        },
        Unmap {
            vmar: usize,
            at: usize,
            len: usize,
        },
        Protect {
            vmar: usize,
            at: usize,
            len: usize,
            perms: u32,
        },
        Destroy {
            vmar: usize,
        },
        Fault {
            page: usize,
            write: bool,
            exec: bool,
        },
        Notify {
            target: usize,
            page: u64,
            len: u64,
        },
        Resize {
            target: usize,
            pages: u64,
        },
        /// Unmap, protect or fault pages of an existing mapping (random ranges rarely hit
        /// one exactly): `piece` picks the mapping, `skip` the first page in it.
        OnPiece {
            piece: usize,
            skip: usize,
            len: usize,
            action: PieceAction,
        },
        Share {
            target: usize,
            page: u64,
        },
    }

    #[derive(Clone, Copy, Debug)]
    enum PieceAction {
        Unmap,
        Protect(u32),
        Fault { write: bool, exec: bool },
    }

    fn perms_strategy() -> impl Strategy<Value = u32> {
        prop_oneof![
            Just(R),
            Just(RW),
            Just(RX),
            Just(R | W | X),
            Just(W),
            Just(X),
            Just(0)
        ]
    }

    fn caps_strategy() -> impl Strategy<Value = u32> {
        prop_oneof![3 => Just(ALL_CAPS), 1 => (0u32..16).prop_map(|b| b << 6)]
    }

    fn rights_strategy() -> impl Strategy<Value = u32> {
        prop_oneof![3 => Just(0b1111), 1 => 0u32..16]
    }

    fn map_strategy() -> impl Strategy<Value = Op> {
        let placement = (
            0usize..MAX_REGIONS,
            proptest::option::of(0usize..70),
            any::<bool>(),
        );
        let what = (any::<bool>(), 0usize..2, 0u64..16, 1usize..10);
        (placement, what, perms_strategy(), rights_strategy()).prop_map(
            |((vmar, at, overwrite), (range, target, toff, len), perms, rights)| Op::Map {
                vmar,
                at,
                overwrite,
                range,
                target,
                toff,
                len,
                perms,
                rights,
            },
        )
    }

    fn piece_strategy() -> impl Strategy<Value = Op> {
        let action = prop_oneof![
            Just(PieceAction::Unmap),
            perms_strategy().prop_map(PieceAction::Protect),
            (any::<bool>(), any::<bool>())
                .prop_map(|(write, exec)| PieceAction::Fault { write, exec }),
        ];
        (any::<usize>(), 0usize..8, 1usize..8, action).prop_map(|(piece, skip, len, action)| {
            Op::OnPiece {
                piece,
                skip,
                len,
                action,
            }
        })
    }

    fn op_strategy() -> impl Strategy<Value = Op> {
        let vmar = 0usize..MAX_REGIONS;
        let at = proptest::option::of(0usize..70);
        prop_oneof![
            2 => (vmar.clone(), at, 1usize..12, caps_strategy())
                .prop_map(|(vmar, at, size, caps)| Op::Allocate { vmar, at, size, caps }),
            6 => map_strategy(),
            4 => (vmar.clone(), 0usize..70, 1usize..16)
                .prop_map(|(vmar, at, len)| Op::Unmap { vmar, at, len }),
            4 => (vmar.clone(), 0usize..70, 1usize..16, perms_strategy())
                .prop_map(|(vmar, at, len, perms)| Op::Protect { vmar, at, len, perms }),
            1 => vmar.prop_map(|vmar| Op::Destroy { vmar }),
            6 => (0usize..PAGES, any::<bool>(), any::<bool>())
                .prop_map(|(page, write, exec)| Op::Fault { page, write, exec }),
            1 => (0usize..2, 0u64..16, 1u64..6)
                .prop_map(|(target, page, len)| Op::Notify { target, page, len }),
            1 => (0usize..2, 0u64..16).prop_map(|(target, pages)| Op::Resize { target, pages }),
            2 => (0usize..2, 0u64..16).prop_map(|(target, page)| Op::Share { target, page }),
            8 => piece_strategy(),
        ]
    }

    struct Model {
        e: Env,
        targets: Vec<Arc<FakeTarget>>,
        regions: Vec<MRegion>,
        owner: Vec<usize>,
        map: Vec<Option<MPage>>,
    }

    fn rights_of(bits: u32) -> Rights {
        let mut r = Rights::NONE;
        for (bit, right) in [
            (1, Rights::READ),
            (2, Rights::WRITE),
            (4, Rights::EXECUTE),
            (8, Rights::MAP),
        ] {
            if bits & bit != 0 {
                r |= right;
            }
        }
        r
    }

    impl Model {
        fn new() -> Model {
            let e = env_with(BASE, PAGES * PAGE);
            // Every unmap clears at most two entries a step: mappings shrink as their entries
            // go, over several steps (as a mapping with millions of entries does).
            e.aspace.limit_unmap_steps(Some(2));
            let targets = vec![
                FakeTarget::new(TARGET_PAGES, true),
                FakeTarget::new(TARGET_PAGES, true),
            ];
            let regions = vec![MRegion {
                vmar: e.root.clone(),
                base: 0,
                size: PAGES,
                parent: None,
                alive: true,
                caps: ALL_CAPS,
            }];
            Model {
                e,
                targets,
                regions,
                owner: vec![0; PAGES],
                map: vec![None; PAGES],
            }
        }

        fn free_in(&self, v: usize, p: usize) -> bool {
            self.owner[p] == v && self.map[p].is_none()
        }

        fn first_fit(&self, v: usize, len: usize) -> Option<usize> {
            let r = &self.regions[v];
            (r.base..=(r.base + r.size).checked_sub(len)?)
                .find(|&s| (s..s + len).all(|p| self.free_in(v, p)))
        }

        /// The direct child of `v` whose subtree owns page `p` (None if `v` owns it).
        fn direct_child(&self, v: usize, p: usize) -> Option<usize> {
            let mut r = self.owner[p];
            if r == v {
                return None;
            }
            loop {
                match self.regions[r].parent {
                    Some(parent) if parent == v => return Some(r),
                    Some(parent) => r = parent,
                    None => return None,
                }
            }
        }

        fn in_subtree(&self, r: usize, v: usize) -> bool {
            let mut r = Some(r);
            while let Some(x) = r {
                if x == v {
                    return true;
                }
                r = self.regions[x].parent;
            }
            false
        }

        /// Destroys `v`'s subtree in the model; its pages go to `heir`.
        fn kill(&mut self, v: usize, heir: usize) {
            for i in 0..self.regions.len() {
                if self.in_subtree(i, v) {
                    self.regions[i].alive = false;
                }
            }
            for p in 0..PAGES {
                if self.in_subtree(self.owner[p], v) {
                    self.owner[p] = heir;
                    self.map[p] = None;
                }
            }
        }

        fn expect_allocate(
            &self,
            v: usize,
            at: Option<usize>,
            size: usize,
            caps: u32,
        ) -> Result<usize, Status> {
            let r = &self.regions[v];
            if (caps & !ZX_VM_CAN_MAP_SPECIFIC) & !r.caps != 0 {
                return Err(Status::ACCESS_DENIED);
            }
            if at.is_some() && r.caps & ZX_VM_CAN_MAP_SPECIFIC == 0 {
                return Err(Status::ACCESS_DENIED);
            }
            if at.is_some_and(|at| at + size > r.size) {
                return Err(Status::INVALID_ARGS);
            }
            if !r.alive {
                return Err(Status::BAD_STATE);
            }
            match at {
                Some(at) => {
                    let start = r.base + at;
                    if (start..start + size).all(|p| self.free_in(v, p)) {
                        Ok(start)
                    } else {
                        Err(Status::NO_MEMORY)
                    }
                }
                None => self.first_fit(v, size).ok_or(Status::NO_MEMORY),
            }
        }

        #[allow(clippy::too_many_arguments)]
        fn expect_map(
            &self,
            v: usize,
            at: Option<usize>,
            overwrite: bool,
            range: bool,
            len: usize,
            perms: MappingPerms,
            rights: u32,
        ) -> Result<(usize, MappingPerms), Status> {
            let r = &self.regions[v];
            if rights & 8 == 0 {
                return Err(Status::ACCESS_DENIED);
            }
            if perms.write && !perms.read {
                return Err(Status::INVALID_ARGS);
            }
            let max = MappingPerms::from_rights(rights_of(rights))
                .intersection(MappingPerms::from_capabilities(r.caps));
            if !max.contains(perms) || (perms.write && perms.execute) {
                return Err(Status::ACCESS_DENIED);
            }
            if at.is_some() && r.caps & ZX_VM_CAN_MAP_SPECIFIC == 0 {
                return Err(Status::ACCESS_DENIED);
            }
            if at.is_some() && overwrite && range {
                return Err(Status::INVALID_ARGS);
            }
            if at.is_some_and(|at| at + len > r.size) {
                return Err(Status::INVALID_ARGS);
            }
            if !r.alive {
                return Err(Status::BAD_STATE);
            }
            let start = match at {
                Some(at) => {
                    let start = r.base + at;
                    let ok = if overwrite {
                        (start..start + len).all(|p| self.owner[p] == v)
                    } else {
                        (start..start + len).all(|p| self.free_in(v, p))
                    };
                    if !ok {
                        return Err(Status::NO_MEMORY);
                    }
                    start
                }
                None => self.first_fit(v, len).ok_or(Status::NO_MEMORY)?,
            };
            Ok((start, max))
        }

        /// Common checks of unmap/protect ranges: bounds, then liveness.
        fn check_range(&self, v: usize, at: usize, len: usize) -> Result<(), Status> {
            let r = &self.regions[v];
            if at + len > r.size {
                return Err(Status::INVALID_ARGS);
            }
            if !r.alive {
                return Err(Status::BAD_STATE);
            }
            Ok(())
        }

        /// Turns an `OnPiece` into the plain operation on the region holding the mapping.
        fn resolve(&self, op: &Op) -> Option<Op> {
            let Op::OnPiece {
                piece,
                skip,
                len,
                action,
            } = *op
            else {
                return Some(op.clone());
            };
            let maps = self.e.root.mappings();
            if maps.is_empty() {
                return None;
            }
            let m = maps[piece % maps.len()];
            let pages = m.size / PAGE;
            let first = (m.base - BASE) / PAGE + skip % pages;
            let len = len.min(pages - skip % pages);
            let v = self.owner[first];
            let at = first - self.regions[v].base;
            Some(match action {
                PieceAction::Unmap => Op::Unmap { vmar: v, at, len },
                PieceAction::Protect(perms) => Op::Protect {
                    vmar: v,
                    at,
                    len,
                    perms,
                },
                PieceAction::Fault { write, exec } => Op::Fault {
                    page: first,
                    write,
                    exec,
                },
            })
        }

        fn apply(&mut self, op: &Op) -> Result<(), TestCaseError> {
            let Some(op) = self.resolve(op) else {
                return Ok(());
            };
            let n = self.regions.len();
            match op {
                Op::Allocate {
                    vmar,
                    at,
                    size,
                    caps,
                } => {
                    if n >= MAX_REGIONS {
                        return Ok(());
                    }
                    let v = vmar % n;
                    let expected = self.expect_allocate(v, at, size, caps);
                    let options = caps | if at.is_some() { ZX_VM_SPECIFIC } else { 0 };
                    let got =
                        self.regions[v]
                            .vmar
                            .allocate(options, at.unwrap_or(0) * PAGE, size * PAGE);
                    match (expected, got) {
                        (Ok(start), Ok(child)) => {
                            prop_assert_eq!(child.base(), BASE + start * PAGE);
                            let id = self.regions.len();
                            for p in start..start + size {
                                self.owner[p] = id;
                            }
                            self.regions.push(MRegion {
                                vmar: child,
                                base: start,
                                size,
                                parent: Some(v),
                                alive: true,
                                caps,
                            });
                        }
                        (expected, got) => prop_assert_eq!(expected.map(|_| ()), got.map(|_| ())),
                    }
                }
                Op::Map {
                    vmar,
                    at,
                    overwrite,
                    range,
                    target,
                    toff,
                    len,
                    perms,
                    rights,
                } => {
                    let v = vmar % n;
                    let p = MappingPerms::from_options(perms);
                    let expected = self.expect_map(v, at, overwrite, range, len, p, rights);
                    let options = perms
                        | if range { ZX_VM_MAP_RANGE } else { 0 }
                        | match (at, overwrite) {
                            (None, _) => 0,
                            (Some(_), false) => ZX_VM_SPECIFIC,
                            (Some(_), true) => ZX_VM_SPECIFIC_OVERWRITE,
                        };
                    let got = self.regions[v].vmar.map(
                        options,
                        at.unwrap_or(0) * PAGE,
                        self.targets[target].target(),
                        toff * P64,
                        len * PAGE,
                        rights_of(rights),
                    );
                    match (expected, got) {
                        (Ok((start, max)), Ok(addr)) => {
                            prop_assert_eq!(addr, BASE + start * PAGE);
                            for i in 0..len {
                                self.map[start + i] = Some(MPage {
                                    target,
                                    offset: toff + i as u64,
                                    perms: p,
                                    max,
                                });
                                let t = &self.targets[target];
                                if range && !p.is_none() && toff + (i as u64) < t.size_pages() {
                                    let va = addr + i * PAGE;
                                    prop_assert!(
                                        self.e.aspace.pte(va).is_some(),
                                        "MAP_RANGE left {:#x} out",
                                        va
                                    );
                                }
                            }
                        }
                        (expected, got) => prop_assert_eq!(expected.map(|_| ()), got.map(|_| ())),
                    }
                }
                Op::Unmap { vmar, at, len } => {
                    let v = vmar % n;
                    let base = self.regions[v].base;
                    let expected = self.check_range(v, at, len).and_then(|()| {
                        for p in base + at..base + at + len {
                            if let Some(c) = self.direct_child(v, p) {
                                let c = &self.regions[c];
                                if c.base < base + at || c.base + c.size > base + at + len {
                                    return Err(Status::INVALID_ARGS);
                                }
                            }
                        }
                        Ok(())
                    });
                    let got = self.regions[v]
                        .vmar
                        .unmap(BASE + (base + at) * PAGE, len * PAGE);
                    prop_assert_eq!(expected, got);
                    if got.is_ok() {
                        let children: BTreeSet<usize> = (base + at..base + at + len)
                            .filter_map(|p| self.direct_child(v, p))
                            .collect();
                        for c in children {
                            self.kill(c, v);
                        }
                        for p in base + at..base + at + len {
                            self.map[p] = None;
                        }
                    }
                }
                Op::Protect {
                    vmar,
                    at,
                    len,
                    perms,
                } => {
                    let v = vmar % n;
                    let base = self.regions[v].base;
                    let p = MappingPerms::from_options(perms);
                    let caps = MappingPerms::from_capabilities(self.regions[v].caps);
                    let range = base + at..base + at + len;
                    let expected = if p.write && !p.read {
                        Err(Status::INVALID_ARGS)
                    } else if !caps.contains(p) || (p.write && p.execute) {
                        Err(Status::ACCESS_DENIED)
                    } else {
                        self.check_range(v, at, len).and_then(|()| {
                            if range.clone().any(|q| self.owner[q] != v) {
                                Err(Status::INVALID_ARGS)
                            } else if range.clone().any(|q| self.map[q].is_none()) {
                                Err(Status::NOT_FOUND)
                            } else if range
                                .clone()
                                .any(|q| !self.map[q].is_some_and(|m| m.max.contains(p)))
                            {
                                Err(Status::ACCESS_DENIED)
                            } else {
                                Ok(())
                            }
                        })
                    };
                    let got =
                        self.regions[v]
                            .vmar
                            .protect(perms, BASE + (base + at) * PAGE, len * PAGE);
                    prop_assert_eq!(expected, got);
                    if got.is_ok() {
                        for q in range {
                            if let Some(m) = self.map[q].as_mut() {
                                m.perms = p;
                            }
                        }
                    }
                }
                Op::Destroy { vmar } => {
                    let v = vmar % n;
                    let expected = if self.regions[v].alive {
                        Ok(())
                    } else {
                        Err(Status::BAD_STATE)
                    };
                    let got = self.regions[v].vmar.destroy();
                    prop_assert_eq!(expected, got);
                    if got.is_ok() {
                        let heir = self.regions[v].parent.unwrap_or(0);
                        self.kill(v, heir);
                    }
                }
                Op::Fault { page, write, exec } => {
                    let expected = if !self.regions[0].alive {
                        Err(Status::BAD_STATE)
                    } else {
                        match self.map[page] {
                            None => Err(Status::NOT_FOUND),
                            Some(m) => {
                                let allowed = if write {
                                    m.perms.write
                                } else if exec {
                                    m.perms.execute
                                } else {
                                    m.perms.read
                                };
                                if !allowed {
                                    Err(Status::ACCESS_DENIED)
                                } else if m.offset >= self.targets[m.target].size_pages() {
                                    Err(Status::OUT_OF_RANGE)
                                } else {
                                    Ok(())
                                }
                            }
                        }
                    };
                    let va = BASE + page * PAGE;
                    let got = self.e.root.handle_fault(va, write, exec);
                    prop_assert_eq!(expected, got);
                    if got.is_ok() {
                        prop_assert!(self.e.aspace.pte(va).is_some());
                    }
                }
                Op::Notify { target, page, len } => {
                    self.targets[target].notify(page * P64, len * P64)
                }
                Op::Resize { target, pages } => self.targets[target].resize(pages),
                Op::Share { target, page } => self.targets[target].share(page..page + 1),
                Op::OnPiece { .. } => unreachable!("resolved above"),
            }
            self.check()
        }

        fn check(&self) -> Result<(), TestCaseError> {
            // Mappings, page by page.
            let mut seen = vec![None; PAGES];
            let maps = self.e.root.mappings();
            for m in &maps {
                let target = self
                    .targets
                    .iter()
                    .position(|t| t.koid == m.target_koid)
                    .expect("known target");
                for i in 0..m.size / PAGE {
                    let p = (m.base - BASE) / PAGE + i;
                    seen[p] = Some(MPage {
                        target,
                        offset: m.target_offset / P64 + i as u64,
                        perms: m.perms,
                        max: m.max_perms,
                    });
                }
            }
            prop_assert_eq!(&seen, &self.map);
            if let Err(why) = self.e.root.check_gaps() {
                return Err(TestCaseError::fail(why));
            }
            // Registrations: one per mapping piece.
            for t in &self.targets {
                let pieces = maps.iter().filter(|m| m.target_koid == t.koid).count();
                prop_assert_eq!(t.registrations(), pieces);
            }
            // Regions alive or destroyed as the model says.
            for r in &self.regions {
                prop_assert_eq!(r.vmar.is_destroyed(), !r.alive);
            }
            // Every page-table entry shows what its target shows, no more permission.
            for (va, (frame, perms)) in self.e.aspace.ptes() {
                let p = (va - BASE) / PAGE;
                prop_assert!(p < PAGES);
                let Some(m) = self.map[p] else {
                    return Err(TestCaseError::fail(format!("stale entry at {va:#x}")));
                };
                let t = &self.targets[m.target];
                prop_assert!(
                    m.offset < t.size_pages(),
                    "entry past the target end at {:#x}",
                    va
                );
                let (visible, writable) = t.visible(m.offset);
                prop_assert_eq!(frame, visible, "stale frame at {:#x}", va);
                prop_assert_eq!((perms.read, perms.execute), (m.perms.read, m.perms.execute));
                prop_assert!(!perms.write || (m.perms.write && writable));
            }
            Ok(())
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        #[test]
        fn random_sequences_match_a_page_model(
            ops in proptest::collection::vec(op_strategy(), 1..60)
        ) {
            let mut model = Model::new();
            for op in &ops {
                model.apply(op)?;
            }
            // Tearing everything down returns every registration.
            let targets = model.targets.clone();
            drop(model);
            for t in targets {
                prop_assert_eq!(t.registrations(), 0);
            }
        }
    }
}
