//! VMARs over real VMOs: faults commit and copy pages, mappings keep VMOs alive and feed
//! ZERO_CHILDREN, shrinking unmaps, and tearing everything down returns every page.

use abi::*;
use object::frames::testing::TestFrames;
use object::frames::FrameAllocator;
use object::handle::Handle;
use object::object::KernelObject;
use object::vmar::testing::FakeAddressSpace;
use object::vmar::{AddressSpace, Vmar};
use object::vmo::Vmo;
use object::{Rights, Signals, Status};
use std::sync::Arc;

const PAGE: usize = 4096;
const BASE: usize = 0x1000_0000;

fn setup() -> (Arc<TestFrames>, Arc<FakeAddressSpace>, Arc<Vmar>) {
    let frames = Arc::new(TestFrames::new());
    let aspace = Arc::new(FakeAddressSpace::new());
    let root = Vmar::new_root(aspace.clone() as Arc<dyn AddressSpace>, BASE, 1 << 30);
    (frames, aspace, root)
}

const RW: u32 = ZX_VM_PERM_READ | ZX_VM_PERM_WRITE;

#[test]
fn read_fault_maps_the_zero_page_and_write_fault_commits() {
    let (frames, aspace, root) = setup();
    let vmo = Vmo::create(frames.clone(), 4 * PAGE as u64, 0).unwrap();
    let addr = root
        .map(RW, 0, vmo.clone(), 0, 4 * PAGE, Rights::DEFAULT_VMO)
        .unwrap();
    root.handle_fault(addr, false, false).unwrap();
    let (frame, perms) = aspace.pte(addr).unwrap();
    assert_eq!(frame, frames.zero_page());
    assert!(!perms.write, "zero page mapped read-only");
    assert_eq!(frames.in_use(), 0);
    root.handle_fault(addr, true, false).unwrap();
    let (frame, perms) = aspace.pte(addr).unwrap();
    assert_ne!(frame, frames.zero_page());
    assert!(perms.write);
    assert_eq!(vmo.committed_bytes(), PAGE as u64);
}

#[test]
fn write_fault_in_a_mapped_clone_copies_and_leaves_the_parent_alone() {
    let (frames, aspace, root) = setup();
    let parent = Vmo::create(frames.clone(), 2 * PAGE as u64, 0).unwrap();
    parent.write(0, &[7; 8]).unwrap();
    let clone = parent
        .create_clone(ZX_VMO_CLONE_COPY_ON_WRITE, 0, 2 * PAGE as u64)
        .unwrap();
    let addr = root
        .map(RW, 0, clone.clone(), 0, 2 * PAGE, Rights::DEFAULT_VMO)
        .unwrap();
    root.handle_fault(addr, false, false).unwrap();
    let (shared, perms) = aspace.pte(addr).unwrap();
    assert!(!perms.write, "a page shared with the parent maps read-only");
    root.handle_fault(addr, true, false).unwrap();
    let (own, perms) = aspace.pte(addr).unwrap();
    assert!(perms.write);
    assert_ne!(own, shared);
    frames.write(own, 0, &[9]);
    let mut byte = [0u8; 2];
    parent.read(0, &mut byte).unwrap();
    assert_eq!(byte, [7, 7]);
    clone.read(0, &mut byte).unwrap();
    assert_eq!(byte, [9, 7]);
}

#[test]
fn mapping_a_child_keeps_zero_children_inactive_until_unmapped() {
    let (frames, _aspace, root) = setup();
    let parent = Vmo::create(frames.clone(), PAGE as u64, 0).unwrap();
    let child = parent
        .create_clone(ZX_VMO_CLONE_COPY_ON_WRITE, 0, PAGE as u64)
        .unwrap();
    let handle = Handle::new(child.clone(), Rights::DEFAULT_VMO);
    let addr = root
        .map(
            ZX_VM_PERM_READ,
            0,
            child.clone(),
            0,
            PAGE,
            Rights::DEFAULT_VMO,
        )
        .unwrap();
    drop(handle);
    drop(child);
    assert!(!parent
        .base()
        .signals()
        .get()
        .contains(Signals::VMO_ZERO_CHILDREN));
    root.unmap(addr, PAGE).unwrap();
    assert!(parent
        .base()
        .signals()
        .get()
        .contains(Signals::VMO_ZERO_CHILDREN));
}

#[test]
fn shrinking_a_mapped_vmo_removes_its_ptes_and_later_faults_fail() {
    let (frames, aspace, root) = setup();
    let vmo = Vmo::create(frames.clone(), 4 * PAGE as u64, 0).unwrap();
    let addr = root
        .map(RW, 0, vmo.clone(), 0, 4 * PAGE, Rights::DEFAULT_VMO)
        .unwrap();
    for page in 0..4 {
        root.handle_fault(addr + page * PAGE, true, false).unwrap();
    }
    assert_eq!(aspace.pte_count(), 4);
    vmo.set_size(PAGE as u64).unwrap();
    assert_eq!(aspace.pte_count(), 1);
    assert_eq!(frames.in_use(), 1);
    assert_eq!(
        root.handle_fault(addr + 2 * PAGE, false, false),
        Err(Status::OUT_OF_RANGE)
    );
}

#[test]
fn a_parent_write_unmaps_the_stale_view_in_a_mapped_clone() {
    let (frames, aspace, root) = setup();
    let grandparent = Vmo::create(frames.clone(), PAGE as u64, 0).unwrap();
    grandparent.write(0, &[1]).unwrap();
    let parent = grandparent
        .create_clone(ZX_VMO_CLONE_COPY_ON_WRITE, 0, PAGE as u64)
        .unwrap();
    let child = parent
        .create_clone(ZX_VMO_CLONE_COPY_ON_WRITE, 0, PAGE as u64)
        .unwrap();
    let addr = root
        .map(
            ZX_VM_PERM_READ,
            0,
            child.clone(),
            0,
            PAGE,
            Rights::DEFAULT_VMO,
        )
        .unwrap();
    root.handle_fault(addr, false, false).unwrap();
    assert!(aspace.pte(addr).is_some());
    parent.write(0, &[2]).unwrap();
    assert!(
        aspace.pte(addr).is_none(),
        "the PTE pointed at the grandparent's page"
    );
    root.handle_fault(addr, false, false).unwrap();
    let (frame, _) = aspace.pte(addr).unwrap();
    let mut byte = [0u8; 1];
    frames.read(frame, 0, &mut byte);
    assert_eq!(byte, [2]);
}

#[test]
fn destroying_the_address_space_returns_every_page() {
    let (frames, aspace, root) = setup();
    {
        let a = Vmo::create(frames.clone(), 8 * PAGE as u64, 0).unwrap();
        let b = a
            .create_child(ZX_VMO_CHILD_SNAPSHOT, 0, 8 * PAGE as u64)
            .unwrap();
        let sub = root
            .allocate(ZX_VM_CAN_MAP_READ | ZX_VM_CAN_MAP_WRITE, 0, 64 * PAGE)
            .unwrap();
        let x = sub
            .map(RW, 0, a.clone(), 0, 8 * PAGE, Rights::DEFAULT_VMO)
            .unwrap();
        let y = root
            .map(RW, 0, b.clone(), 0, 8 * PAGE, Rights::DEFAULT_VMO)
            .unwrap();
        for page in 0..8 {
            root.handle_fault(x + page * PAGE, true, false).unwrap();
            root.handle_fault(y + page * PAGE, page % 2 == 0, false)
                .unwrap();
        }
        assert!(frames.in_use() > 0);
    }
    root.destroy().unwrap();
    assert_eq!(aspace.pte_count(), 0);
    drop(root);
    assert_eq!(frames.in_use(), 0);
}
