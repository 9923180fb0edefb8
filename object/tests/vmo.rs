//! One test per rule of the VMO contract (shared/spec/zx-abi.md and the seed page
//! zx_vmo_create.md), named after the rule.

use abi::*;
use object::frames::testing::{CountingCache, TestFrames};
use object::frames::{FrameAddr, FrameAllocator};
use object::handle::Handle;
use object::object::KernelObject;
use object::vmar::{MapTarget, MappingObserver};
use object::vmo::{child_rights, clone_rights, size_in_pages, Vmo, VmoKind};
use object::{Rights, Signals, Status};
use std::sync::{Arc, Mutex};

const PAGE: u64 = 4096;

fn frames() -> Arc<TestFrames> {
    Arc::new(TestFrames::new())
}

fn create(f: &Arc<TestFrames>, size: u64) -> Arc<Vmo> {
    Vmo::create(f.clone(), size, 0).expect("create")
}

fn create_fixed(f: &Arc<TestFrames>, size: u64) -> Arc<Vmo> {
    Vmo::create(f.clone(), size, ZX_VMO_NON_RESIZABLE).expect("create")
}

/// A handle keeps the VMO alive the way a process's handle does; dropping it closes it.
fn handle(vmo: &Arc<Vmo>) -> Handle {
    Handle::new(vmo.clone(), Rights::DEFAULT_VMO)
}

fn signals(vmo: &Arc<Vmo>) -> Signals {
    vmo.base().signals().get()
}

fn read_all(vmo: &Vmo, offset: u64, len: usize) -> Vec<u8> {
    let mut buf = vec![0xeeu8; len];
    vmo.read(offset, &mut buf).expect("read");
    buf
}

fn page_of(byte: u8) -> Vec<u8> {
    vec![byte; PAGE as usize]
}

/// Records unmap requests a mapping receives.
#[derive(Default)]
struct RecordingMapping {
    unmapped: Mutex<Vec<(u64, u64)>>,
}

impl MappingObserver for RecordingMapping {
    fn unmap_target_range(&self, offset: u64, len: u64) {
        self.unmapped.lock().unwrap().push((offset, len));
    }
}

fn map(vmo: &Arc<Vmo>) -> (Arc<RecordingMapping>, u64) {
    let observer = Arc::new(RecordingMapping::default());
    let weak: std::sync::Weak<dyn MappingObserver> =
        Arc::downgrade(&(observer.clone() as Arc<dyn MappingObserver>));
    let id = vmo.add_mapping(weak).expect("the VMO is alive");
    (observer, id)
}

// ---- zx_vmo_create -------------------------------------------------------------------

#[test]
fn create_rounds_size_up_to_the_page() {
    let f = frames();
    assert_eq!(create(&f, 1).size(), PAGE);
    assert_eq!(create(&f, PAGE).size(), PAGE);
    assert_eq!(create(&f, PAGE + 1).size(), 2 * PAGE);
}

#[test]
fn create_size_zero_is_valid() {
    let f = frames();
    let vmo = create(&f, 0);
    assert_eq!(vmo.size(), 0);
    assert_eq!(vmo.read(0, &mut []), Ok(()));
}

#[test]
fn create_options_other_than_non_resizable_are_invalid_args() {
    let f = frames();
    for options in [2, 4, 0x8000_0000, ZX_VMO_NON_RESIZABLE | 2] {
        assert_eq!(
            Vmo::create(f.clone(), PAGE, options).err(),
            Some(Status::INVALID_ARGS)
        );
    }
}

#[test]
fn create_rounding_overflow_is_out_of_range() {
    let f = frames();
    assert_eq!(
        Vmo::create(f.clone(), u64::MAX, 0).err(),
        Some(Status::OUT_OF_RANGE)
    );
    assert_eq!(
        Vmo::create(f, u64::MAX - PAGE + 2, 0).err(),
        Some(Status::OUT_OF_RANGE)
    );
}

#[test]
fn create_larger_than_max_is_out_of_range() {
    let f = frames();
    assert_eq!(
        Vmo::create(f.clone(), ZX_MAX_VMO_SIZE + 1, 0).err(),
        Some(Status::OUT_OF_RANGE)
    );
    assert!(Vmo::create(f, ZX_MAX_VMO_SIZE, 0).is_ok());
}

#[test]
fn create_one_gib_commits_nothing() {
    let f = frames();
    let vmo = create(&f, 1 << 30);
    assert_eq!(f.in_use(), 0);
    assert_eq!(f.allocation_count(), 0);
    assert_eq!(vmo.committed_bytes(), 0);
}

#[test]
fn create_zero_children_is_active() {
    let f = frames();
    assert!(signals(&create(&f, PAGE)).contains(Signals::VMO_ZERO_CHILDREN));
}

#[test]
fn create_default_rights_are_the_eight_of_the_seed() {
    assert_eq!(Rights::DEFAULT_VMO.bits(), 0xff);
    assert_eq!(
        Rights::DEFAULT_VMO,
        Rights::DUPLICATE
            | Rights::TRANSFER
            | Rights::READ
            | Rights::WRITE
            | Rights::EXECUTE
            | Rights::MAP
            | Rights::GET_PROPERTY
            | Rights::SET_PROPERTY
    );
}

#[test]
fn create_non_resizable_cannot_change_size() {
    let f = frames();
    let vmo = create_fixed(&f, PAGE);
    assert!(!vmo.is_resizable());
    assert_eq!(vmo.set_size(2 * PAGE), Err(Status::UNAVAILABLE));
    assert_eq!(vmo.size(), PAGE);
}

// ---- zx_vmo_read / zx_vmo_write ------------------------------------------------------

#[test]
fn read_of_untouched_pages_is_zero_and_commits_nothing() {
    let f = frames();
    let vmo = create(&f, 4 * PAGE);
    assert_eq!(
        read_all(&vmo, 100, 3 * PAGE as usize),
        vec![0; 3 * PAGE as usize]
    );
    assert_eq!(f.in_use(), 0);
}

#[test]
fn write_then_read_returns_the_data() {
    let f = frames();
    let vmo = create(&f, 3 * PAGE);
    let data: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
    vmo.write(PAGE - 7, &data).unwrap();
    assert_eq!(read_all(&vmo, PAGE - 7, data.len()), data);
    // Bytes 4089..9089 touch pages 0, 1 and 2.
    assert_eq!(f.in_use(), 3);
    assert_eq!(vmo.committed_bytes(), 3 * PAGE);
}

#[test]
fn write_beyond_the_size_is_out_of_range_and_writes_nothing() {
    let f = frames();
    let vmo = create(&f, 2 * PAGE);
    assert_eq!(vmo.write(PAGE, &page_of(1)[..]).err(), None);
    assert_eq!(vmo.write(PAGE + 1, &page_of(2)), Err(Status::OUT_OF_RANGE));
    assert_eq!(read_all(&vmo, PAGE, PAGE as usize), page_of(1));
    assert_eq!(f.in_use(), 1, "no partial transfer");
}

#[test]
fn read_beyond_the_size_is_out_of_range() {
    let f = frames();
    let vmo = create(&f, PAGE);
    let mut buf = [0u8; 2];
    assert_eq!(vmo.read(PAGE - 1, &mut buf), Err(Status::OUT_OF_RANGE));
}

#[test]
fn read_write_offset_plus_length_overflow_is_out_of_range() {
    let f = frames();
    let vmo = create(&f, PAGE);
    let mut buf = [0u8; 16];
    assert_eq!(vmo.read(u64::MAX - 4, &mut buf), Err(Status::OUT_OF_RANGE));
    assert_eq!(vmo.write(u64::MAX - 4, &buf), Err(Status::OUT_OF_RANGE));
    let mut called = false;
    let result = vmo.read_with(8, u64::MAX, &mut |_, _, _, _| {
        called = true;
        Ok(())
    });
    assert_eq!(result, Err(Status::OUT_OF_RANGE));
    assert!(!called);
}

#[test]
fn zero_length_at_the_size_is_ok() {
    let f = frames();
    let vmo = create(&f, PAGE);
    assert_eq!(vmo.read(PAGE, &mut []), Ok(()));
    assert_eq!(vmo.write(PAGE, &[]), Ok(()));
    assert_eq!(vmo.read(PAGE + 1, &mut []), Err(Status::OUT_OF_RANGE));
}

// ---- zx_vmo_get_size / zx_vmo_set_size ------------------------------------------------

#[test]
fn set_size_rounds_up_to_the_page() {
    let f = frames();
    let vmo = create(&f, PAGE);
    vmo.set_size(3 * PAGE + 1).unwrap();
    assert_eq!(vmo.size(), 4 * PAGE);
}

#[test]
fn set_size_overflow_or_above_max_is_out_of_range() {
    let f = frames();
    let vmo = create(&f, PAGE);
    assert_eq!(vmo.set_size(u64::MAX), Err(Status::OUT_OF_RANGE));
    assert_eq!(vmo.set_size(ZX_MAX_VMO_SIZE + 1), Err(Status::OUT_OF_RANGE));
    assert_eq!(vmo.size(), PAGE);
}

#[test]
fn set_size_shrinking_frees_the_dropped_pages() {
    let f = frames();
    let vmo = create(&f, 4 * PAGE);
    vmo.write(0, &vec![7; 4 * PAGE as usize]).unwrap();
    assert_eq!(f.in_use(), 4);
    vmo.set_size(PAGE).unwrap();
    assert_eq!(f.in_use(), 1);
    assert_eq!(vmo.committed_bytes(), PAGE);
}

#[test]
fn set_size_growing_exposes_zeros_never_old_data() {
    let f = frames();
    let vmo = create(&f, 2 * PAGE);
    vmo.write(0, &vec![9; 2 * PAGE as usize]).unwrap();
    vmo.set_size(PAGE).unwrap();
    vmo.set_size(2 * PAGE).unwrap();
    assert_eq!(read_all(&vmo, PAGE, PAGE as usize), page_of(0));
}

#[test]
fn set_size_shrinking_unmaps_the_pages_from_every_mapping() {
    let f = frames();
    let vmo = create(&f, 4 * PAGE);
    let (mapping, _) = map(&vmo);
    vmo.set_size(PAGE).unwrap();
    assert!(mapping.unmapped.lock().unwrap().contains(&(PAGE, 3 * PAGE)));
}

#[test]
fn set_size_of_clone_growing_does_not_show_the_parent() {
    let f = frames();
    let parent = create(&f, 4 * PAGE);
    parent.write(0, &vec![5; 4 * PAGE as usize]).unwrap();
    let child = parent
        .create_clone(ZX_VMO_CLONE_COPY_ON_WRITE, 0, PAGE)
        .unwrap();
    child.set_size(4 * PAGE).unwrap();
    assert_eq!(read_all(&child, 0, PAGE as usize), page_of(5));
    assert_eq!(
        read_all(&child, PAGE, 3 * PAGE as usize),
        vec![0; 3 * PAGE as usize]
    );
}

#[test]
fn size_in_pages_rounds_and_limits() {
    assert_eq!(size_in_pages(0), Ok(0));
    assert_eq!(size_in_pages(1), Ok(1));
    assert_eq!(size_in_pages(ZX_MAX_VMO_SIZE), Ok(ZX_MAX_VMO_SIZE / PAGE));
    assert_eq!(
        size_in_pages(ZX_MAX_VMO_SIZE + 1),
        Err(Status::OUT_OF_RANGE)
    );
}

// ---- zx_vmo_clone ----------------------------------------------------------------------

#[test]
fn clone_without_copy_on_write_is_invalid_args() {
    let f = frames();
    let vmo = create(&f, PAGE);
    assert_eq!(
        vmo.create_clone(0, 0, PAGE).err(),
        Some(Status::INVALID_ARGS)
    );
    assert_eq!(
        vmo.create_clone(ZX_VMO_CLONE_NON_RESIZEABLE, 0, PAGE).err(),
        Some(Status::INVALID_ARGS)
    );
}

#[test]
fn clone_unknown_options_are_invalid_args() {
    let f = frames();
    let vmo = create(&f, PAGE);
    assert_eq!(
        vmo.create_clone(ZX_VMO_CLONE_COPY_ON_WRITE | 0x100, 0, PAGE)
            .err(),
        Some(Status::INVALID_ARGS)
    );
}

#[test]
fn clone_unaligned_offset_is_invalid_args() {
    let f = frames();
    let vmo = create(&f, 2 * PAGE);
    assert_eq!(
        vmo.create_clone(ZX_VMO_CLONE_COPY_ON_WRITE, 1, PAGE).err(),
        Some(Status::INVALID_ARGS)
    );
}

#[test]
fn clone_offset_plus_size_overflow_is_out_of_range() {
    let f = frames();
    let vmo = create(&f, PAGE);
    assert_eq!(
        vmo.create_clone(ZX_VMO_CLONE_COPY_ON_WRITE, PAGE, u64::MAX - 10)
            .err(),
        Some(Status::OUT_OF_RANGE)
    );
}

#[test]
fn clone_reads_the_parents_current_content_until_it_writes() {
    let f = frames();
    let parent = create(&f, 2 * PAGE);
    parent.write(0, &page_of(1)).unwrap();
    let child = parent
        .create_clone(ZX_VMO_CLONE_COPY_ON_WRITE, 0, 2 * PAGE)
        .unwrap();
    assert_eq!(read_all(&child, 0, PAGE as usize), page_of(1));
    // The parent's later write shows in the child for a page the child has not written.
    parent.write(0, &page_of(2)).unwrap();
    parent.write(PAGE, &page_of(3)).unwrap();
    assert_eq!(
        read_all(&child, 0, 2 * PAGE as usize),
        [page_of(2), page_of(3)].concat()
    );
}

#[test]
fn clone_first_write_copies_the_page_and_the_two_diverge() {
    let f = frames();
    let parent = create(&f, PAGE);
    parent.write(0, &page_of(1)).unwrap();
    let child = parent
        .create_clone(ZX_VMO_CLONE_COPY_ON_WRITE, 0, PAGE)
        .unwrap();
    child.write(10, &[9]).unwrap();
    let mut expected = page_of(1);
    expected[10] = 9;
    assert_eq!(read_all(&child, 0, PAGE as usize), expected);
    assert_eq!(read_all(&parent, 0, PAGE as usize), page_of(1));
    parent.write(0, &page_of(4)).unwrap();
    assert_eq!(read_all(&child, 0, PAGE as usize), expected, "diverged");
    assert_eq!(f.in_use(), 2);
}

#[test]
fn clone_range_past_the_parent_reads_zero() {
    let f = frames();
    let parent = create(&f, PAGE);
    parent.write(0, &page_of(1)).unwrap();
    let child = parent
        .create_clone(ZX_VMO_CLONE_COPY_ON_WRITE, 0, 3 * PAGE)
        .unwrap();
    assert_eq!(child.size(), 3 * PAGE);
    assert_eq!(
        read_all(&child, PAGE, 2 * PAGE as usize),
        vec![0; 2 * PAGE as usize]
    );
    // Even when the parent grows later.
    parent.set_size(3 * PAGE).unwrap();
    parent.write(PAGE, &page_of(8)).unwrap();
    assert_eq!(read_all(&child, PAGE, PAGE as usize), page_of(0));
}

#[test]
fn clone_at_an_offset_sees_the_right_pages() {
    let f = frames();
    let parent = create(&f, 4 * PAGE);
    for i in 0..4u8 {
        parent.write(u64::from(i) * PAGE, &page_of(i + 1)).unwrap();
    }
    let child = parent
        .create_clone(ZX_VMO_CLONE_COPY_ON_WRITE, 2 * PAGE, 2 * PAGE)
        .unwrap();
    assert_eq!(
        read_all(&child, 0, 2 * PAGE as usize),
        [page_of(3), page_of(4)].concat()
    );
}

#[test]
fn clone_creation_is_o1_no_page_copied_or_allocated() {
    let f = frames();
    let parent = create(&f, 256 * PAGE);
    parent.write(0, &vec![1; 256 * PAGE as usize]).unwrap();
    let allocations = f.allocation_count();
    let _child = parent
        .create_clone(ZX_VMO_CLONE_COPY_ON_WRITE, 0, 256 * PAGE)
        .unwrap();
    let _snapshot = parent
        .create_child(ZX_VMO_CHILD_SNAPSHOT, 0, 256 * PAGE)
        .unwrap();
    assert_eq!(f.allocation_count(), allocations);
    assert_eq!(f.in_use(), 256);
}

#[test]
fn clone_is_resizable_even_when_the_parent_is_not() {
    let f = frames();
    let parent = create_fixed(&f, PAGE);
    let child = parent
        .create_clone(ZX_VMO_CLONE_COPY_ON_WRITE, 0, PAGE)
        .unwrap();
    assert!(child.is_resizable());
    assert_eq!(child.set_size(2 * PAGE), Ok(()));
}

#[test]
fn clone_non_resizeable_option_makes_a_fixed_child() {
    let f = frames();
    let parent = create(&f, PAGE);
    let child = parent
        .create_clone(
            ZX_VMO_CLONE_COPY_ON_WRITE | ZX_VMO_CLONE_NON_RESIZEABLE,
            0,
            PAGE,
        )
        .unwrap();
    assert_eq!(child.set_size(2 * PAGE), Err(Status::UNAVAILABLE));
}

#[test]
fn clone_rights_are_the_parents_plus_property_rights_and_write() {
    let parent = Rights::DUPLICATE | Rights::READ | Rights::MAP;
    assert_eq!(
        clone_rights(parent),
        parent | Rights::GET_PROPERTY | Rights::SET_PROPERTY | Rights::WRITE
    );
}

#[test]
fn clone_of_a_clone_reads_through_both() {
    let f = frames();
    let a = create(&f, 2 * PAGE);
    a.write(0, &page_of(1)).unwrap();
    let b = a
        .create_clone(ZX_VMO_CLONE_COPY_ON_WRITE, 0, 2 * PAGE)
        .unwrap();
    b.write(PAGE, &page_of(2)).unwrap();
    let c = b
        .create_clone(ZX_VMO_CLONE_COPY_ON_WRITE, 0, 2 * PAGE)
        .unwrap();
    assert_eq!(
        read_all(&c, 0, 2 * PAGE as usize),
        [page_of(1), page_of(2)].concat()
    );
    a.write(0, &page_of(3)).unwrap();
    assert_eq!(read_all(&c, 0, PAGE as usize), page_of(3));
}

#[test]
fn clone_sees_zero_where_the_parent_shrank() {
    let f = frames();
    let parent = create(&f, 2 * PAGE);
    parent.write(0, &vec![6; 2 * PAGE as usize]).unwrap();
    let child = parent
        .create_clone(ZX_VMO_CLONE_COPY_ON_WRITE, 0, 2 * PAGE)
        .unwrap();
    parent.set_size(PAGE).unwrap();
    assert_eq!(read_all(&child, PAGE, PAGE as usize), page_of(0));
    parent.set_size(2 * PAGE).unwrap();
    parent.write(PAGE, &page_of(7)).unwrap();
    assert_eq!(
        read_all(&child, PAGE, PAGE as usize),
        page_of(0),
        "stays zero"
    );
}

#[test]
fn closing_a_parent_whose_pages_every_child_copied_frees_them() {
    let f = frames();
    let parent = create(&f, 4 * PAGE);
    let parent_handle = handle(&parent);
    parent.write(0, &vec![1; 4 * PAGE as usize]).unwrap();
    let a = parent
        .create_clone(ZX_VMO_CLONE_COPY_ON_WRITE, 0, 4 * PAGE)
        .unwrap();
    let b = parent
        .create_clone(ZX_VMO_CLONE_COPY_ON_WRITE, 0, 4 * PAGE)
        .unwrap();
    let (ha, hb) = (handle(&a), handle(&b));
    a.write(0, &vec![2; 4 * PAGE as usize]).unwrap();
    b.write(0, &vec![3; 4 * PAGE as usize]).unwrap();
    assert_eq!(f.in_use(), 12);
    drop(parent_handle);
    drop(parent);
    assert_eq!(f.in_use(), 8, "the parent's pages are seen by nobody");
    assert_eq!(read_all(&a, 0, PAGE as usize), page_of(2));
    drop((ha, hb, a, b));
    assert_eq!(f.in_use(), 0);
}

#[test]
fn closing_a_parent_keeps_the_pages_a_child_still_sees() {
    let f = frames();
    let parent = create(&f, 2 * PAGE);
    let parent_handle = handle(&parent);
    parent.write(0, &[page_of(1), page_of(2)].concat()).unwrap();
    let child = parent
        .create_clone(ZX_VMO_CLONE_COPY_ON_WRITE, PAGE, PAGE)
        .unwrap();
    let child_handle = handle(&child);
    drop(parent_handle);
    drop(parent);
    assert_eq!(f.in_use(), 1, "page 0 is outside the child's window: freed");
    assert_eq!(read_all(&child, 0, PAGE as usize), page_of(2));
    assert_eq!(
        child.family_node_count(),
        1,
        "the dead parent merged into its only child"
    );
    drop(child_handle);
    drop(child);
    assert_eq!(f.in_use(), 0);
}

/// Levels of the deepest clone chain a family may hold (one node a level).
const CLONE_LEVELS: usize = object::vmo::MAX_FAMILY_NODES;
/// Levels of the deepest snapshot chain (a hidden node and the snapshot a level).
const SNAPSHOT_LEVELS: usize = object::vmo::MAX_FAMILY_NODES / 2;

fn chain(order: &str) {
    let f = frames();
    let root = create(&f, 2 * PAGE);
    root.write(0, &page_of(1)).unwrap();
    let mut handles = vec![handle(&root)];
    let mut vmos = vec![root];
    for i in 1..CLONE_LEVELS {
        let next = vmos[i - 1]
            .create_clone(ZX_VMO_CLONE_COPY_ON_WRITE, 0, 2 * PAGE)
            .unwrap();
        if i % 1000 == 0 {
            next.write(PAGE, &[i as u8]).unwrap();
        }
        handles.push(handle(&next));
        vmos.push(next);
    }
    let mut last = [0u8; 1];
    vmos[CLONE_LEVELS - 1].read(0, &mut last).unwrap();
    assert_eq!(last[0], 1);
    let mut indices: Vec<usize> = (0..CLONE_LEVELS).collect();
    match order {
        "forward" => {}
        "backward" => indices.reverse(),
        _ => {
            // Deterministic shuffle.
            let mut state = 0x2545_f491_4f6c_dd1du64;
            for i in (1..indices.len()).rev() {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                indices.swap(i, (state % (i as u64 + 1)) as usize);
            }
        }
    }
    let mut handles: Vec<Option<Handle>> = handles.into_iter().map(Some).collect();
    let mut vmos: Vec<Option<Arc<Vmo>>> = vmos.into_iter().map(Some).collect();
    for (step, &i) in indices.iter().enumerate() {
        handles[i] = None;
        vmos[i] = None;
        if step == CLONE_LEVELS / 2 {
            // Whatever is left still reads what it should.
            if let Some(Some(vmo)) = vmos.iter().rev().find(|v| v.is_some()) {
                let mut byte = [0u8; 1];
                vmo.read(0, &mut byte).unwrap();
                assert_eq!(byte[0], 1);
            }
        }
    }
    assert_eq!(f.in_use(), 0, "every page freed");
}

fn on_small_stack(f: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap();
}

#[test]
fn clone_chain_as_deep_as_a_family_may_be_closed_front_to_back_on_a_small_stack() {
    on_small_stack(|| chain("forward"));
}

#[test]
fn clone_chain_as_deep_as_a_family_may_be_closed_back_to_front_on_a_small_stack() {
    on_small_stack(|| chain("backward"));
}

#[test]
fn clone_chain_as_deep_as_a_family_may_be_closed_in_random_order_on_a_small_stack() {
    on_small_stack(|| chain("random"));
}

#[test]
fn snapshot_chain_as_deep_as_a_family_may_be_closed_in_any_order_on_a_small_stack() {
    on_small_stack(|| {
        let f = frames();
        let root = create(&f, PAGE);
        root.write(0, &page_of(1)).unwrap();
        let mut all = vec![(handle(&root), root)];
        for i in 1..SNAPSHOT_LEVELS {
            let next = all[i - 1]
                .1
                .create_child(ZX_VMO_CHILD_SNAPSHOT, 0, PAGE)
                .unwrap();
            all.push((handle(&next), next));
        }
        all[0].1.write(0, &page_of(2)).unwrap();
        assert_eq!(read_all(&all[SNAPSHOT_LEVELS - 1].1, 0, 1), vec![1]);
        // Close every other one, then the rest backwards.
        let mut slots: Vec<Option<(Handle, Arc<Vmo>)>> = all.into_iter().map(Some).collect();
        for i in (0..SNAPSHOT_LEVELS).step_by(2) {
            slots[i] = None;
        }
        for i in (0..SNAPSHOT_LEVELS).rev() {
            slots[i] = None;
        }
        assert_eq!(f.in_use(), 0);
    });
}

// ---- zx_vmo_create_child: SNAPSHOT ------------------------------------------------------

#[test]
fn snapshot_is_isolated_in_both_directions() {
    let f = frames();
    let parent = create(&f, 2 * PAGE);
    parent.write(0, &[page_of(1), page_of(2)].concat()).unwrap();
    let snap = parent
        .create_child(ZX_VMO_CHILD_SNAPSHOT, 0, 2 * PAGE)
        .unwrap();
    parent.write(0, &page_of(3)).unwrap();
    snap.write(PAGE, &page_of(4)).unwrap();
    assert_eq!(
        read_all(&parent, 0, 2 * PAGE as usize),
        [page_of(3), page_of(2)].concat()
    );
    assert_eq!(
        read_all(&snap, 0, 2 * PAGE as usize),
        [page_of(1), page_of(4)].concat()
    );
}

#[test]
fn snapshot_page_copied_by_both_sides_is_freed() {
    let f = frames();
    let parent = create(&f, PAGE);
    parent.write(0, &page_of(1)).unwrap();
    let snap = parent.create_child(ZX_VMO_CHILD_SNAPSHOT, 0, PAGE).unwrap();
    parent.write(0, &[2]).unwrap();
    assert_eq!(f.in_use(), 2);
    snap.write(0, &[3]).unwrap();
    assert_eq!(f.in_use(), 2, "the shared original is seen by nobody");
}

#[test]
fn snapshot_of_a_snapshot_keeps_each_view() {
    let f = frames();
    let a = create(&f, PAGE);
    a.write(0, &[1]).unwrap();
    let b = a.create_child(ZX_VMO_CHILD_SNAPSHOT, 0, PAGE).unwrap();
    b.write(0, &[2]).unwrap();
    let c = b.create_child(ZX_VMO_CHILD_SNAPSHOT, 0, PAGE).unwrap();
    b.write(0, &[3]).unwrap();
    a.write(0, &[4]).unwrap();
    assert_eq!(read_all(&a, 0, 1), vec![4]);
    assert_eq!(read_all(&b, 0, 1), vec![3]);
    assert_eq!(read_all(&c, 0, 1), vec![2]);
}

#[test]
fn snapshot_closed_leaves_the_parent_as_it_was() {
    let f = frames();
    let parent = create(&f, 2 * PAGE);
    let _h = handle(&parent);
    parent.write(0, &vec![1; 2 * PAGE as usize]).unwrap();
    let snap = parent
        .create_child(ZX_VMO_CHILD_SNAPSHOT, 0, 2 * PAGE)
        .unwrap();
    let snap_handle = handle(&snap);
    snap.write(0, &[9]).unwrap();
    drop(snap_handle);
    drop(snap);
    assert_eq!(f.in_use(), 2);
    assert_eq!(parent.family_node_count(), 1, "the hidden node merged back");
    assert_eq!(parent.committed_bytes(), 2 * PAGE);
}

#[test]
fn snapshot_keeps_its_content_when_the_parent_closes() {
    let f = frames();
    let parent = create(&f, 2 * PAGE);
    let parent_handle = handle(&parent);
    parent.write(0, &vec![1; 2 * PAGE as usize]).unwrap();
    let snap = parent
        .create_child(ZX_VMO_CHILD_SNAPSHOT, PAGE, PAGE)
        .unwrap();
    drop(parent_handle);
    drop(parent);
    assert_eq!(read_all(&snap, 0, PAGE as usize), page_of(1));
    assert_eq!(f.in_use(), 1, "the page outside the snapshot is freed");
}

#[test]
fn snapshot_of_a_slice_is_not_supported() {
    let f = frames();
    let parent = create_fixed(&f, 2 * PAGE);
    let slice = parent.create_child(ZX_VMO_CHILD_SLICE, 0, PAGE).unwrap();
    assert_eq!(
        slice.create_child(ZX_VMO_CHILD_SNAPSHOT, 0, PAGE).err(),
        Some(Status::NOT_SUPPORTED)
    );
}

#[test]
fn snapshot_of_a_clone_whose_parent_is_alive_is_not_supported() {
    let f = frames();
    let parent = create(&f, PAGE);
    let _h = handle(&parent);
    let clone = parent
        .create_clone(ZX_VMO_CLONE_COPY_ON_WRITE, 0, PAGE)
        .unwrap();
    assert_eq!(
        clone.create_child(ZX_VMO_CHILD_SNAPSHOT, 0, PAGE).err(),
        Some(Status::NOT_SUPPORTED)
    );
}

#[test]
fn snapshot_of_a_clone_whose_parent_is_gone_is_allowed() {
    let f = frames();
    let parent = create(&f, PAGE);
    let h = handle(&parent);
    parent.write(0, &[5]).unwrap();
    let clone = parent
        .create_clone(ZX_VMO_CLONE_COPY_ON_WRITE, 0, PAGE)
        .unwrap();
    drop(h);
    let snap = clone.create_child(ZX_VMO_CHILD_SNAPSHOT, 0, PAGE).unwrap();
    clone.write(0, &[6]).unwrap();
    assert_eq!(read_all(&snap, 0, 1), vec![5]);
}

#[test]
fn create_child_needs_exactly_one_of_snapshot_or_slice() {
    let f = frames();
    let vmo = create_fixed(&f, PAGE);
    assert_eq!(
        vmo.create_child(0, 0, PAGE).err(),
        Some(Status::INVALID_ARGS)
    );
    assert_eq!(
        vmo.create_child(ZX_VMO_CHILD_SNAPSHOT | ZX_VMO_CHILD_SLICE, 0, PAGE)
            .err(),
        Some(Status::INVALID_ARGS)
    );
    assert_eq!(
        vmo.create_child(ZX_VMO_CHILD_NO_WRITE, 0, PAGE).err(),
        Some(Status::INVALID_ARGS)
    );
}

#[test]
fn create_child_unknown_options_are_invalid_args() {
    let f = frames();
    let vmo = create(&f, PAGE);
    assert_eq!(
        vmo.create_child(ZX_VMO_CHILD_SNAPSHOT | (1 << 1), 0, PAGE)
            .err(),
        Some(Status::INVALID_ARGS)
    );
}

#[test]
fn create_child_unaligned_offset_is_invalid_args_and_overflow_out_of_range() {
    let f = frames();
    let vmo = create(&f, 2 * PAGE);
    assert_eq!(
        vmo.create_child(ZX_VMO_CHILD_SNAPSHOT, 3, PAGE).err(),
        Some(Status::INVALID_ARGS)
    );
    assert_eq!(
        vmo.create_child(ZX_VMO_CHILD_SNAPSHOT, PAGE, u64::MAX)
            .err(),
        Some(Status::OUT_OF_RANGE)
    );
}

#[test]
fn create_child_no_write_removes_write_from_the_rights() {
    let parent = Rights::DEFAULT_VMO;
    assert!(
        !child_rights(parent, ZX_VMO_CHILD_SNAPSHOT | ZX_VMO_CHILD_NO_WRITE)
            .contains(Rights::WRITE)
    );
    assert!(
        !child_rights(parent, ZX_VMO_CHILD_SLICE | ZX_VMO_CHILD_NO_WRITE).contains(Rights::WRITE)
    );
    assert!(child_rights(parent, ZX_VMO_CHILD_SNAPSHOT).contains(Rights::WRITE));
    // A slice never gains WRITE its parent handle lacked.
    assert!(!child_rights(Rights::READ, ZX_VMO_CHILD_SLICE).contains(Rights::WRITE));
}

#[test]
fn snapshot_is_resizable_only_when_asked() {
    let f = frames();
    let vmo = create(&f, PAGE);
    let fixed = vmo.create_child(ZX_VMO_CHILD_SNAPSHOT, 0, PAGE).unwrap();
    assert_eq!(fixed.set_size(2 * PAGE), Err(Status::UNAVAILABLE));
    let resizable = vmo
        .create_child(ZX_VMO_CHILD_SNAPSHOT | ZX_VMO_CHILD_RESIZABLE, 0, PAGE)
        .unwrap();
    assert_eq!(resizable.set_size(2 * PAGE), Ok(()));
}

#[test]
fn child_of_a_child_whose_accumulated_offset_passes_2_64_is_invalid_args() {
    let f = frames();
    let a = create(&f, PAGE);
    let _a_handle = handle(&a);
    let half = 1u64 << 63;
    let snapshot = |v: &Arc<Vmo>, offset| v.create_child(ZX_VMO_CHILD_SNAPSHOT, offset, PAGE);
    let clone = |v: &Arc<Vmo>, offset| v.create_clone(ZX_VMO_CLONE_COPY_ON_WRITE, offset, PAGE);
    type Make = dyn Fn(&Arc<Vmo>, u64) -> Result<Arc<Vmo>, Status>;
    // (a child at `half`, a grandchild of the same kind: a snapshot of a clone whose parent
    // is alive is NOT_SUPPORTED before any range check).
    for make in [&snapshot as &Make, &clone as &Make] {
        // A child may start past its parent's end...
        let b = make(&a, half).unwrap();
        // ...but not so far that its range, projected onto the first VMO, passes 2^64.
        assert_eq!(make(&b, half).err(), Some(Status::INVALID_ARGS));
        assert_eq!(
            make(&b, half - PAGE).err(),
            Some(Status::INVALID_ARGS),
            "ending exactly at 2^64 passes it"
        );
        let c = make(&b, half - 2 * PAGE).unwrap();
        // And so on down the line.
        assert_eq!(make(&c, PAGE).err(), Some(Status::INVALID_ARGS));
        make(&c, 0).unwrap();
        assert_eq!(b.num_children(), 1, "failed calls made no child");
    }
}

#[test]
fn set_size_that_makes_the_accumulated_end_pass_2_64_is_invalid_args() {
    let f = frames();
    let a = create(&f, PAGE);
    let half = 1u64 << 63;
    let b = a
        .create_child(ZX_VMO_CHILD_SNAPSHOT | ZX_VMO_CHILD_RESIZABLE, half, PAGE)
        .unwrap();
    assert_eq!(b.set_size(half), Err(Status::INVALID_ARGS));
    assert_eq!(b.size(), PAGE, "a failing call changes nothing");
    assert_eq!(b.set_size(half - PAGE), Ok(()));
    // The last page works like any other.
    b.write(half - 2 * PAGE, &[5]).unwrap();
    assert_eq!(read_all(&b, half - 2 * PAGE, 1), vec![5]);
    assert_eq!(b.set_size(PAGE), Ok(()));
    assert_eq!(f.in_use(), 0);
    // A first VMO may grow to the largest size.
    a.set_size(ZX_MAX_VMO_SIZE).unwrap();
}

#[test]
fn child_both_resizable_and_no_write_is_invalid_args() {
    let f = frames();
    let parent = create(&f, PAGE);
    assert_eq!(
        parent
            .create_child(
                ZX_VMO_CHILD_SNAPSHOT | ZX_VMO_CHILD_RESIZABLE | ZX_VMO_CHILD_NO_WRITE,
                0,
                PAGE
            )
            .err(),
        Some(Status::INVALID_ARGS)
    );
    assert!(signals(&parent).contains(Signals::VMO_ZERO_CHILDREN));
}

// ---- zx_vmo_create_child: SLICE ----------------------------------------------------------

#[test]
fn slice_shares_pages_both_ways() {
    let f = frames();
    let parent = create_fixed(&f, 4 * PAGE);
    let slice = parent
        .create_child(ZX_VMO_CHILD_SLICE, PAGE, 2 * PAGE)
        .unwrap();
    parent.write(PAGE, &[1]).unwrap();
    assert_eq!(read_all(&slice, 0, 1), vec![1]);
    slice.write(PAGE, &[2]).unwrap();
    assert_eq!(read_all(&parent, 2 * PAGE, 1), vec![2]);
    assert_eq!(f.in_use(), 2);
    assert_eq!(
        slice.committed_bytes(),
        0,
        "a slice holds no pages of its own"
    );
}

#[test]
fn slice_of_a_resizable_parent_is_not_supported() {
    let f = frames();
    let parent = create(&f, PAGE);
    assert_eq!(
        parent.create_child(ZX_VMO_CHILD_SLICE, 0, PAGE).err(),
        Some(Status::NOT_SUPPORTED)
    );
}

#[test]
fn slice_range_is_checked_before_the_parent_kind() {
    let f = frames();
    let resizable = create(&f, 2 * PAGE);
    let fixed = create_fixed(&f, 2 * PAGE);
    for parent in [&resizable, &fixed] {
        for (offset, size) in [
            (PAGE, 2 * PAGE),
            (4 * PAGE, PAGE),
            (0, 3 * PAGE),
            // offset + size overflows.
            (u64::MAX - PAGE + 1, 2 * PAGE),
            (1 << 63, 1 << 63),
        ] {
            assert_eq!(
                parent.create_child(ZX_VMO_CHILD_SLICE, offset, size).err(),
                Some(Status::INVALID_ARGS),
                "slice at {offset:#x} of {size:#x}"
            );
        }
        // A size that does not round to a page in range is OUT_OF_RANGE, as everywhere.
        assert_eq!(
            parent.create_child(ZX_VMO_CHILD_SLICE, 0, u64::MAX).err(),
            Some(Status::OUT_OF_RANGE)
        );
        assert!(signals(parent).contains(Signals::VMO_ZERO_CHILDREN));
    }
    // In range: a resizable parent is refused for what it is.
    assert_eq!(
        resizable.create_child(ZX_VMO_CHILD_SLICE, PAGE, PAGE).err(),
        Some(Status::NOT_SUPPORTED)
    );
}

#[test]
fn slice_outside_the_parent_is_invalid_args() {
    let f = frames();
    let parent = create_fixed(&f, 2 * PAGE);
    assert_eq!(
        parent
            .create_child(ZX_VMO_CHILD_SLICE, PAGE, 2 * PAGE)
            .err(),
        Some(Status::INVALID_ARGS)
    );
}

#[test]
fn slice_cannot_be_resizable() {
    let f = frames();
    let parent = create_fixed(&f, PAGE);
    assert_eq!(
        parent
            .create_child(ZX_VMO_CHILD_SLICE | ZX_VMO_CHILD_RESIZABLE, 0, PAGE)
            .err(),
        Some(Status::INVALID_ARGS)
    );
    let slice = parent.create_child(ZX_VMO_CHILD_SLICE, 0, PAGE).unwrap();
    assert_eq!(slice.set_size(2 * PAGE), Err(Status::UNAVAILABLE));
}

#[test]
fn slice_of_a_slice_composes_offsets() {
    let f = frames();
    let parent = create_fixed(&f, 4 * PAGE);
    let outer = parent
        .create_child(ZX_VMO_CHILD_SLICE, PAGE, 3 * PAGE)
        .unwrap();
    let inner = outer.create_child(ZX_VMO_CHILD_SLICE, PAGE, PAGE).unwrap();
    inner.write(0, &[7]).unwrap();
    assert_eq!(read_all(&parent, 2 * PAGE, 1), vec![7]);
}

#[test]
fn slice_keeps_the_parents_pages_after_the_parent_closes() {
    let f = frames();
    let parent = create_fixed(&f, 2 * PAGE);
    let h = handle(&parent);
    parent.write(0, &vec![3; 2 * PAGE as usize]).unwrap();
    let slice = parent.create_child(ZX_VMO_CHILD_SLICE, PAGE, PAGE).unwrap();
    let hs = handle(&slice);
    drop(h);
    assert_eq!(read_all(&slice, 0, 1), vec![3]);
    drop(hs);
    drop((parent, slice));
    assert_eq!(f.in_use(), 0);
}

// ---- zx_vmo_op_range ------------------------------------------------------------------------

#[test]
fn op_range_unknown_op_is_invalid_args() {
    let f = frames();
    let vmo = create(&f, PAGE);
    for op in [0, 5, 11, 99] {
        assert_eq!(
            vmo.op_range(op, 0, PAGE, &CountingCache::default()),
            Err(Status::INVALID_ARGS)
        );
    }
}

#[test]
fn op_commit_commits_the_whole_pages_covering_the_range() {
    let f = frames();
    let vmo = create(&f, 4 * PAGE);
    vmo.op_range(ZX_VMO_OP_COMMIT, PAGE - 1, 2, &CountingCache::default())
        .unwrap();
    assert_eq!(vmo.committed_bytes(), 2 * PAGE);
    assert_eq!(
        read_all(&vmo, 0, 2 * PAGE as usize),
        vec![0; 2 * PAGE as usize]
    );
}

#[test]
fn op_range_past_the_size_or_overflowing_is_out_of_range() {
    let f = frames();
    let vmo = create(&f, PAGE);
    let cache = CountingCache::default();
    assert_eq!(
        vmo.op_range(ZX_VMO_OP_COMMIT, 0, 2 * PAGE, &cache),
        Err(Status::OUT_OF_RANGE)
    );
    assert_eq!(
        vmo.op_range(ZX_VMO_OP_ZERO, PAGE, u64::MAX, &cache),
        Err(Status::OUT_OF_RANGE)
    );
    assert_eq!(
        vmo.op_range(ZX_VMO_OP_CACHE_CLEAN, 8, PAGE, &cache),
        Err(Status::OUT_OF_RANGE)
    );
    assert_eq!(f.in_use(), 0);
}

#[test]
fn op_decommit_needs_page_aligned_ranges() {
    let f = frames();
    let vmo = create(&f, 2 * PAGE);
    let cache = CountingCache::default();
    assert_eq!(
        vmo.op_range(ZX_VMO_OP_DECOMMIT, 1, PAGE, &cache),
        Err(Status::INVALID_ARGS)
    );
    assert_eq!(
        vmo.op_range(ZX_VMO_OP_DECOMMIT, 0, 100, &cache),
        Err(Status::INVALID_ARGS)
    );
}

#[test]
fn op_decommit_frees_pages_which_read_zero_after() {
    let f = frames();
    let vmo = create(&f, 3 * PAGE);
    vmo.write(0, &vec![4; 3 * PAGE as usize]).unwrap();
    vmo.op_range(ZX_VMO_OP_DECOMMIT, PAGE, PAGE, &CountingCache::default())
        .unwrap();
    assert_eq!(f.in_use(), 2);
    assert_eq!(read_all(&vmo, PAGE, PAGE as usize), page_of(0));
    assert_eq!(read_all(&vmo, 0, 1), vec![4]);
}

#[test]
fn op_decommit_in_a_clone_reads_zero_not_the_parent() {
    let f = frames();
    let parent = create(&f, 2 * PAGE);
    parent.write(0, &vec![1; 2 * PAGE as usize]).unwrap();
    let child = parent
        .create_clone(ZX_VMO_CLONE_COPY_ON_WRITE, 0, 2 * PAGE)
        .unwrap();
    child.write(0, &[2]).unwrap();
    child
        .op_range(ZX_VMO_OP_DECOMMIT, 0, 2 * PAGE, &CountingCache::default())
        .unwrap();
    assert_eq!(
        read_all(&child, 0, 2 * PAGE as usize),
        vec![0; 2 * PAGE as usize]
    );
    assert_eq!(read_all(&parent, 0, 1), vec![1]);
    assert_eq!(f.in_use(), 2);
}

#[test]
fn op_zero_zeroes_exactly_the_bytes_and_frees_whole_pages() {
    let f = frames();
    let vmo = create(&f, 4 * PAGE);
    vmo.write(0, &vec![8; 4 * PAGE as usize]).unwrap();
    vmo.op_range(ZX_VMO_OP_ZERO, 10, 2 * PAGE + 20, &CountingCache::default())
        .unwrap();
    let content = read_all(&vmo, 0, 4 * PAGE as usize);
    for (i, byte) in content.iter().enumerate() {
        let zeroed = (10..2 * PAGE as usize + 30).contains(&i);
        assert_eq!(*byte, if zeroed { 0 } else { 8 }, "byte {i}");
    }
    assert_eq!(f.in_use(), 3, "page 1 was wholly zeroed and freed");
}

#[test]
fn op_zero_on_a_clone_copies_partial_pages_and_hides_whole_ones() {
    let f = frames();
    let parent = create(&f, 2 * PAGE);
    parent.write(0, &vec![1; 2 * PAGE as usize]).unwrap();
    let child = parent
        .create_clone(ZX_VMO_CLONE_COPY_ON_WRITE, 0, 2 * PAGE)
        .unwrap();
    child
        .op_range(
            ZX_VMO_OP_ZERO,
            PAGE / 2,
            PAGE + PAGE / 2,
            &CountingCache::default(),
        )
        .unwrap();
    let content = read_all(&child, 0, 2 * PAGE as usize);
    assert!(content[..PAGE as usize / 2].iter().all(|&b| b == 1));
    assert!(content[PAGE as usize / 2..].iter().all(|&b| b == 0));
    assert_eq!(read_all(&parent, PAGE, 1), vec![1]);
}

#[test]
fn op_lock_and_unlock_are_not_supported() {
    let f = frames();
    let vmo = create(&f, PAGE);
    let cache = CountingCache::default();
    assert_eq!(
        vmo.op_range(ZX_VMO_OP_LOCK, 0, PAGE, &cache),
        Err(Status::NOT_SUPPORTED)
    );
    assert_eq!(
        vmo.op_range(ZX_VMO_OP_UNLOCK, 0, PAGE, &cache),
        Err(Status::NOT_SUPPORTED)
    );
}

#[test]
fn op_cache_ops_with_size_zero_are_invalid_args() {
    let f = frames();
    let vmo = create(&f, PAGE);
    let cache = CountingCache::default();
    for op in [
        ZX_VMO_OP_CACHE_SYNC,
        ZX_VMO_OP_CACHE_INVALIDATE,
        ZX_VMO_OP_CACHE_CLEAN,
        ZX_VMO_OP_CACHE_CLEAN_INVALIDATE,
    ] {
        assert_eq!(vmo.op_range(op, 0, 0, &cache), Err(Status::INVALID_ARGS));
    }
}

#[test]
fn op_cache_ops_reach_the_committed_pages_only() {
    let f = frames();
    let vmo = create(&f, 3 * PAGE);
    vmo.write(PAGE, &[1]).unwrap();
    let cache = CountingCache::default();
    vmo.op_range(ZX_VMO_OP_CACHE_CLEAN, 0, 3 * PAGE, &cache)
        .unwrap();
    vmo.op_range(ZX_VMO_OP_CACHE_INVALIDATE, PAGE + 8, 16, &cache)
        .unwrap();
    vmo.op_range(ZX_VMO_OP_CACHE_CLEAN_INVALIDATE, 0, 3 * PAGE, &cache)
        .unwrap();
    vmo.op_range(ZX_VMO_OP_CACHE_SYNC, 0, 3 * PAGE, &cache)
        .unwrap();
    use std::sync::atomic::Ordering;
    assert_eq!(cache.cleaned.load(Ordering::SeqCst), PAGE as usize);
    assert_eq!(cache.invalidated.load(Ordering::SeqCst), 16);
    assert_eq!(
        cache.clean_invalidated.load(Ordering::SeqCst),
        2 * PAGE as usize
    );
    assert_eq!(f.in_use(), 1, "cache ops commit nothing");
}

// ---- committed_bytes: every page charged to exactly one VMO -----------------------------------

/// Committed pages `vmo` reports.
fn committed(vmo: &Vmo) -> u64 {
    vmo.committed_bytes() / PAGE
}

/// The figures of `vmos`, after checking that the family's kept charges match the rule.
fn charges(vmos: &[&Arc<Vmo>]) -> Vec<u64> {
    vmos[0]
        .check_family_charges()
        .expect("charges follow the rule");
    vmos.iter().map(|v| committed(v)).collect()
}

#[test]
fn committed_bytes_snapshot_worked_example_of_the_spec() {
    let f = frames();
    let a = create(&f, 4 * PAGE);
    let a_handle = handle(&a);
    a.write(0, &vec![1; 4 * PAGE as usize]).unwrap();
    assert_eq!(charges(&[&a]), [4]);
    let b = a.create_child(ZX_VMO_CHILD_SNAPSHOT, 0, 4 * PAGE).unwrap();
    let _b_handle = handle(&b);
    assert_eq!(
        charges(&[&a, &b]),
        [4, 0],
        "the original keeps the shared pages"
    );
    b.write(0, &[2]).unwrap();
    assert_eq!(charges(&[&a, &b]), [4, 1], "the snapshot's own copy");
    a.write(PAGE, &[3]).unwrap();
    assert_eq!(
        charges(&[&a, &b]),
        [4, 2],
        "the old page 1 is seen by the snapshot only"
    );
    assert_eq!(f.in_use(), 6);
    drop(a_handle);
    assert_eq!(
        charges(&[&b]),
        [4],
        "the closed original's pages pass to the snapshot"
    );
    assert_eq!(f.in_use(), 4);
}

#[test]
fn committed_bytes_after_a_snapshot_is_no_longer_zero_for_both() {
    let f = frames();
    let a = create(&f, 2 * PAGE);
    let _a_handle = handle(&a);
    a.write(0, &vec![1; 2 * PAGE as usize]).unwrap();
    let b = a.create_child(ZX_VMO_CHILD_SNAPSHOT, 0, 2 * PAGE).unwrap();
    let _b_handle = handle(&b);
    assert_eq!(a.committed_bytes() + b.committed_bytes(), 2 * PAGE);
    assert_eq!(committed(&a), 2);
}

#[test]
fn committed_bytes_snapshot_closed_gives_nothing_back_to_count_twice() {
    let f = frames();
    let a = create(&f, 3 * PAGE);
    let _a_handle = handle(&a);
    a.write(0, &vec![1; 3 * PAGE as usize]).unwrap();
    let b = a.create_child(ZX_VMO_CHILD_SNAPSHOT, 0, 3 * PAGE).unwrap();
    let b_handle = handle(&b);
    b.write(0, &[2]).unwrap();
    a.write(PAGE, &[3]).unwrap();
    assert_eq!(charges(&[&a, &b]), [3, 2]);
    drop(b_handle);
    assert_eq!(charges(&[&a]), [3]);
    assert_eq!(f.in_use(), 3);
}

#[test]
fn committed_bytes_decommit_or_zero_in_the_original_passes_shared_pages_on() {
    let f = frames();
    let a = create(&f, 4 * PAGE);
    let _a_handle = handle(&a);
    a.write(0, &vec![1; 4 * PAGE as usize]).unwrap();
    let b = a.create_child(ZX_VMO_CHILD_SNAPSHOT, 0, 4 * PAGE).unwrap();
    let _b_handle = handle(&b);
    let cache = CountingCache::default();
    a.op_range(ZX_VMO_OP_DECOMMIT, 0, PAGE, &cache).unwrap();
    assert_eq!(charges(&[&a, &b]), [3, 1]);
    a.op_range(ZX_VMO_OP_ZERO, PAGE, PAGE, &cache).unwrap();
    assert_eq!(charges(&[&a, &b]), [2, 2]);
    // A partial zero is a write: the original gets its own copy, the old page passes on.
    a.op_range(ZX_VMO_OP_ZERO, 2 * PAGE, 10, &cache).unwrap();
    assert_eq!(charges(&[&a, &b]), [2, 3]);
    assert_eq!(f.in_use(), 5);
}

#[test]
fn committed_bytes_zero_of_a_page_the_original_copied_hands_on_only_what_it_saw() {
    let f = frames();
    let a = create(&f, 2 * PAGE);
    let _a_handle = handle(&a);
    a.write(0, &vec![1; 2 * PAGE as usize]).unwrap();
    let b = a.create_child(ZX_VMO_CHILD_SNAPSHOT, 0, 2 * PAGE).unwrap();
    let _b_handle = handle(&b);
    // The original's own copy of page 1 hides the shared one, which is the snapshot's.
    a.write(PAGE, &[3]).unwrap();
    assert_eq!(charges(&[&a, &b]), [2, 1]);
    // Zeroing page 1 frees that copy; the shared page 1 was never the original's to hand
    // on, and the shared page 0 stays the original's.
    let cache = CountingCache::default();
    a.op_range(ZX_VMO_OP_ZERO, PAGE, PAGE, &cache).unwrap();
    assert_eq!(charges(&[&a, &b]), [1, 1]);
    a.op_range(ZX_VMO_OP_DECOMMIT, 0, PAGE, &cache).unwrap();
    assert_eq!(charges(&[&a, &b]), [0, 2]);
    assert_eq!(f.in_use(), 2);
}

#[test]
fn committed_bytes_pages_beyond_a_shrunk_original_pass_to_the_snapshot() {
    let f = frames();
    let a = create(&f, 4 * PAGE);
    let _a_handle = handle(&a);
    a.write(0, &vec![1; 4 * PAGE as usize]).unwrap();
    let b = a
        .create_child(ZX_VMO_CHILD_SNAPSHOT, 2 * PAGE, 2 * PAGE)
        .unwrap();
    let _b_handle = handle(&b);
    assert_eq!(charges(&[&a, &b]), [4, 0]);
    a.set_size(PAGE).unwrap();
    // Page 1 is seen by nobody and freed; pages 2 and 3 only by the snapshot.
    assert_eq!(charges(&[&a, &b]), [1, 2]);
    assert_eq!(f.in_use(), 3);
    a.set_size(4 * PAGE).unwrap();
    assert_eq!(
        charges(&[&a, &b]),
        [1, 2],
        "growing back shows zeroes, not the old pages"
    );
}

#[test]
fn committed_bytes_nested_snapshots_charge_the_vmo_that_was_cloned() {
    let f = frames();
    let a = create(&f, 2 * PAGE);
    let a_handle = handle(&a);
    a.write(0, &vec![1; 2 * PAGE as usize]).unwrap();
    let b = a.create_child(ZX_VMO_CHILD_SNAPSHOT, 0, 2 * PAGE).unwrap();
    let b_handle = handle(&b);
    let c = b.create_child(ZX_VMO_CHILD_SNAPSHOT, 0, 2 * PAGE).unwrap();
    let _c_handle = handle(&c);
    assert_eq!(charges(&[&a, &b, &c]), [2, 0, 0]);
    a.write(0, &[2]).unwrap();
    assert_eq!(charges(&[&a, &b, &c]), [2, 1, 0], "b was cloned to make c");
    // b's own copy; the old page 0 is now seen by c alone.
    b.write(0, &[3]).unwrap();
    assert_eq!(charges(&[&a, &b, &c]), [2, 1, 1]);
    drop(b_handle);
    assert_eq!(charges(&[&a, &c]), [2, 1]);
    drop(a_handle);
    assert_eq!(charges(&[&c]), [2]);
    assert_eq!(f.in_use(), 2);
}

#[test]
fn committed_bytes_clone_of_a_live_parent_charges_the_parent_until_it_closes() {
    let f = frames();
    let parent = create(&f, 3 * PAGE);
    let parent_handle = handle(&parent);
    parent.write(0, &vec![1; 3 * PAGE as usize]).unwrap();
    let clone = parent
        .create_clone(ZX_VMO_CLONE_COPY_ON_WRITE, 0, 3 * PAGE)
        .unwrap();
    let _clone_handle = handle(&clone);
    assert_eq!(charges(&[&parent, &clone]), [3, 0]);
    clone.write(0, &[2]).unwrap();
    assert_eq!(charges(&[&parent, &clone]), [3, 1]);
    drop(parent_handle);
    // The clone now sees the parent's pages 1 and 2 alone.
    assert_eq!(charges(&[&clone]), [3]);
    assert_eq!(f.in_use(), 3);
}

#[test]
fn committed_bytes_closed_parent_with_two_clones_charges_the_first() {
    let f = frames();
    let parent = create(&f, 2 * PAGE);
    let parent_handle = handle(&parent);
    parent.write(0, &vec![1; 2 * PAGE as usize]).unwrap();
    let first = parent
        .create_clone(ZX_VMO_CLONE_COPY_ON_WRITE, 0, 2 * PAGE)
        .unwrap();
    let first_handle = handle(&first);
    let second = parent
        .create_clone(ZX_VMO_CLONE_COPY_ON_WRITE, PAGE, PAGE)
        .unwrap();
    let _second_handle = handle(&second);
    drop(parent_handle);
    assert_eq!(charges(&[&first, &second]), [2, 0]);
    first.write(PAGE, &[2]).unwrap();
    assert_eq!(charges(&[&first, &second]), [2, 1]);
    drop(first_handle);
    assert_eq!(charges(&[&second]), [1]);
    assert_eq!(f.in_use(), 1);
}

#[test]
fn committed_bytes_snapshot_of_a_clone_after_its_parent_closed() {
    let f = frames();
    let parent = create(&f, 2 * PAGE);
    let parent_handle = handle(&parent);
    parent.write(0, &vec![1; 2 * PAGE as usize]).unwrap();
    let clone = parent
        .create_clone(ZX_VMO_CLONE_COPY_ON_WRITE, 0, 2 * PAGE)
        .unwrap();
    let clone_handle = handle(&clone);
    drop(parent_handle);
    let snap = clone
        .create_child(ZX_VMO_CHILD_SNAPSHOT, 0, 2 * PAGE)
        .unwrap();
    let _snap_handle = handle(&snap);
    assert_eq!(charges(&[&clone, &snap]), [2, 0]);
    clone.write(0, &[2]).unwrap();
    assert_eq!(charges(&[&clone, &snap]), [2, 1]);
    drop(clone_handle);
    assert_eq!(charges(&[&snap]), [2]);
}

#[test]
fn committed_bytes_of_a_vmo_kept_by_its_slice_are_reported_by_the_slice() {
    let f = frames();
    let parent = create_fixed(&f, 2 * PAGE);
    let parent_handle = handle(&parent);
    parent.write(0, &vec![1; 2 * PAGE as usize]).unwrap();
    let slice = parent.create_child(ZX_VMO_CHILD_SLICE, PAGE, PAGE).unwrap();
    let _slice_handle = handle(&slice);
    assert_eq!(charges(&[&parent, &slice]), [2, 0]);
    drop(parent_handle);
    assert_eq!(committed(&slice), 2, "nobody can ask the parent any more");
}

#[test]
fn committed_bytes_a_fault_after_a_snapshot_charges_the_same_way() {
    let f = frames();
    let a = create(&f, 2 * PAGE);
    let _a_handle = handle(&a);
    a.write(0, &vec![1; 2 * PAGE as usize]).unwrap();
    let b = a.create_child(ZX_VMO_CHILD_SNAPSHOT, 0, 2 * PAGE).unwrap();
    let _b_handle = handle(&b);
    assert!(a.fault_page(0, true, true).unwrap().writable);
    assert!(b.fault_page(PAGE, true, true).unwrap().writable);
    assert_eq!(charges(&[&a, &b]), [2, 2]);
    assert_eq!(f.in_use(), 4);
}

#[test]
fn partial_zero_of_a_page_that_reads_zero_commits_nothing() {
    let f = frames();
    let parent = create(&f, 2 * PAGE);
    let _parent_handle = handle(&parent);
    let clone = parent
        .create_clone(ZX_VMO_CLONE_COPY_ON_WRITE, 0, 2 * PAGE)
        .unwrap();
    let _clone_handle = handle(&clone);
    let cache = CountingCache::default();
    clone.op_range(ZX_VMO_OP_ZERO, 10, 100, &cache).unwrap();
    assert_eq!(f.in_use(), 0);
    assert_eq!(committed(&clone), 0);
    // The zeroed page stays zero when the parent writes it later.
    parent.write(0, &[7; 200]).unwrap();
    assert_eq!(read_all(&clone, 0, 200), vec![0; 200]);
    // The rest of the page still reads the parent.
    parent.write(PAGE - 1, &[8]).unwrap();
    assert_eq!(read_all(&clone, PAGE - 1, 1), vec![0]);
}

// ---- ZX_VMO_ZERO_CHILDREN ------------------------------------------------------------------

#[test]
fn zero_children_goes_inactive_when_a_clone_is_created() {
    let f = frames();
    let parent = create(&f, PAGE);
    let child = parent
        .create_clone(ZX_VMO_CLONE_COPY_ON_WRITE, 0, PAGE)
        .unwrap();
    assert!(!signals(&parent).contains(Signals::VMO_ZERO_CHILDREN));
    assert!(signals(&child).contains(Signals::VMO_ZERO_CHILDREN));
}

#[test]
fn zero_children_comes_back_when_every_child_is_closed() {
    let f = frames();
    let parent = create(&f, PAGE);
    let a = parent
        .create_clone(ZX_VMO_CLONE_COPY_ON_WRITE, 0, PAGE)
        .unwrap();
    let b = parent.create_child(ZX_VMO_CHILD_SNAPSHOT, 0, PAGE).unwrap();
    let (ha, hb) = (handle(&a), handle(&b));
    assert_eq!(parent.num_children(), 2);
    drop(ha);
    assert!(!signals(&parent).contains(Signals::VMO_ZERO_CHILDREN));
    drop(hb);
    assert!(signals(&parent).contains(Signals::VMO_ZERO_CHILDREN));
    assert_eq!(parent.num_children(), 0);
}

#[test]
fn zero_children_stays_inactive_while_a_child_is_still_mapped() {
    let f = frames();
    let parent = create(&f, PAGE);
    let child = parent
        .create_clone(ZX_VMO_CLONE_COPY_ON_WRITE, 0, PAGE)
        .unwrap();
    let h = handle(&child);
    let (_mapping, id) = map(&child);
    drop(h);
    assert!(
        !signals(&parent).contains(Signals::VMO_ZERO_CHILDREN),
        "mapping left"
    );
    child.remove_mapping(id);
    assert!(signals(&parent).contains(Signals::VMO_ZERO_CHILDREN));
}

#[test]
fn zero_children_grandchildren_keep_the_parent_inactive() {
    let f = frames();
    let parent = create(&f, PAGE);
    let child = parent
        .create_clone(ZX_VMO_CLONE_COPY_ON_WRITE, 0, PAGE)
        .unwrap();
    let hc = handle(&child);
    let grandchild = child
        .create_clone(ZX_VMO_CLONE_COPY_ON_WRITE, 0, PAGE)
        .unwrap();
    let hg = handle(&grandchild);
    drop(hc);
    assert!(!signals(&parent).contains(Signals::VMO_ZERO_CHILDREN));
    drop(hg);
    assert!(signals(&parent).contains(Signals::VMO_ZERO_CHILDREN));
    assert!(signals(&child).contains(Signals::VMO_ZERO_CHILDREN));
}

#[test]
fn zero_children_counts_slices_too() {
    let f = frames();
    let parent = create_fixed(&f, PAGE);
    let slice = parent.create_child(ZX_VMO_CHILD_SLICE, 0, PAGE).unwrap();
    let h = handle(&slice);
    assert!(!signals(&parent).contains(Signals::VMO_ZERO_CHILDREN));
    drop(h);
    assert!(signals(&parent).contains(Signals::VMO_ZERO_CHILDREN));
}

#[test]
fn zero_children_child_never_given_a_handle_still_counts_as_gone() {
    let f = frames();
    let parent = create(&f, PAGE);
    let child = parent
        .create_clone(ZX_VMO_CLONE_COPY_ON_WRITE, 0, PAGE)
        .unwrap();
    drop(child);
    assert!(signals(&parent).contains(Signals::VMO_ZERO_CHILDREN));
}

// ---- info, mappings and faults ---------------------------------------------------------------

#[test]
fn info_reports_koid_size_parent_children_mappings_and_committed_bytes() {
    let f = frames();
    let parent = create(&f, 2 * PAGE);
    parent.write(0, &[1]).unwrap();
    parent.base().set_name(b"parent-vmo");
    let child = parent
        .create_clone(ZX_VMO_CLONE_COPY_ON_WRITE, 0, PAGE)
        .unwrap();
    let (_m, _id) = map(&parent);
    let info = parent.info();
    assert_eq!(info.koid, parent.base().koid());
    assert_eq!(&info.name[..11], b"parent-vmo\0");
    assert_eq!(info.size_bytes, 2 * PAGE);
    assert_eq!(info.parent_koid, 0);
    assert_eq!(info.num_children, 1);
    assert_eq!(info.num_mappings, 1);
    assert_eq!(info.committed_bytes, PAGE);
    assert_eq!(info.flags & ZX_INFO_VMO_RESIZABLE, ZX_INFO_VMO_RESIZABLE);
    assert_eq!(info.flags & ZX_INFO_VMO_IS_COW_CLONE, 0);
    let child_info = child.info();
    assert_eq!(child_info.parent_koid, parent.base().koid());
    assert_eq!(
        child_info.flags & ZX_INFO_VMO_IS_COW_CLONE,
        ZX_INFO_VMO_IS_COW_CLONE
    );
    assert_eq!(child.kind(), VmoKind::Clone);
    assert_eq!(child_info.committed_bytes, 0);
}

#[test]
fn mapping_keeps_the_vmo_alive_after_its_handle_is_closed() {
    let f = frames();
    let vmo = create(&f, PAGE);
    let h = handle(&vmo);
    vmo.write(0, &[1]).unwrap();
    let (_m, id) = map(&vmo);
    drop(h);
    assert_eq!(read_all(&vmo, 0, 1), vec![1]);
    vmo.remove_mapping(id);
    // Dead: a call that had looked it up before fails as if its handle had been closed.
    assert_eq!(vmo.read(0, &mut [0]), Err(Status::BAD_HANDLE));
    assert_eq!(f.in_use(), 0);
}

#[test]
fn fault_read_of_untouched_page_maps_the_zero_page_without_committing() {
    let f = frames();
    let vmo = create(&f, PAGE);
    let page = vmo.fault_page(0, false, true).unwrap();
    assert_eq!(page.frame, f.zero_page());
    assert!(!page.writable);
    assert_eq!(f.in_use(), 0);
}

#[test]
fn fault_write_on_copy_on_write_page_copies_and_unmaps_the_old_view() {
    let f = frames();
    let parent = create(&f, PAGE);
    parent.write(0, &[1]).unwrap();
    let child = parent
        .create_clone(ZX_VMO_CLONE_COPY_ON_WRITE, 0, PAGE)
        .unwrap();
    let (mapping, _) = map(&child);
    let read = child.fault_page(0, false, true).unwrap();
    assert!(!read.writable, "a shared page maps read-only");
    let write = child.fault_page(0, true, true).unwrap();
    assert!(write.writable);
    assert_ne!(read.frame, write.frame);
    assert!(mapping.unmapped.lock().unwrap().contains(&(0, PAGE)));
}

#[test]
fn fault_beyond_the_size_is_out_of_range() {
    let f = frames();
    let vmo = create(&f, PAGE);
    assert_eq!(
        vmo.fault_page(PAGE, false, true).err(),
        Some(Status::OUT_OF_RANGE)
    );
}

#[test]
fn parent_write_unmaps_the_childs_view_of_that_page() {
    let f = frames();
    let grandparent = create(&f, PAGE);
    grandparent.write(0, &[1]).unwrap();
    let parent = grandparent
        .create_clone(ZX_VMO_CLONE_COPY_ON_WRITE, 0, PAGE)
        .unwrap();
    let child = parent
        .create_clone(ZX_VMO_CLONE_COPY_ON_WRITE, 0, PAGE)
        .unwrap();
    let (mapping, _) = map(&child);
    // The child's mapping shows the grandparent's page (a read fault put it there, read-only);
    // the parent now copies that page, so the child's PTE must go.
    assert!(!child.fault_page(0, false, true).unwrap().writable);
    parent.write(0, &[2]).unwrap();
    assert!(mapping.unmapped.lock().unwrap().contains(&(0, PAGE)));
    assert_eq!(read_all(&child, 0, 1), vec![2]);
}

#[test]
fn commit_skips_the_invalidation_search_while_no_pte_shows_a_shared_page() {
    let f = frames();
    let vmo = create(&f, 2 * PAGE);
    let (mapping, _) = map(&vmo);
    // Write faults only: every PTE shows a page its node owns, so committing cannot leave a
    // stale one behind and no mapping hears of it.
    assert!(vmo.fault_page(0, true, true).unwrap().writable);
    vmo.write(PAGE, &[1]).unwrap();
    assert!(mapping.unmapped.lock().unwrap().is_empty());
    // A clone's read fault shows its parent's page: from then on commits notify.
    let clone = vmo
        .create_clone(ZX_VMO_CLONE_COPY_ON_WRITE, 0, 2 * PAGE)
        .unwrap();
    let (clone_mapping, _) = map(&clone);
    assert!(!clone.fault_page(0, false, true).unwrap().writable);
    clone.write(0, &[2]).unwrap();
    assert!(clone_mapping.unmapped.lock().unwrap().contains(&(0, PAGE)));
}

// ---- running out of memory -------------------------------------------------------------------

/// Everything observable about a set of VMOs.
fn observe(vmos: &[Arc<Vmo>], f: &TestFrames) -> (Vec<(u64, u64, Vec<u8>)>, usize) {
    let state = vmos
        .iter()
        .map(|v| {
            let size = v.size();
            (size, v.committed_bytes(), read_all(v, 0, size as usize))
        })
        .collect();
    (state, f.in_use())
}

#[test]
fn out_of_memory_on_every_allocation_of_every_operation_changes_nothing() {
    type Op = fn(&[Arc<Vmo>]) -> Result<(), Status>;
    let ops: Vec<(&str, Op)> = vec![
        ("write", |v| v[0].write(100, &vec![9; 3 * PAGE as usize])),
        ("write clone", |v| {
            v[1].write(0, &vec![9; 4 * PAGE as usize])
        }),
        ("write snapshot", |v| {
            v[2].write(PAGE, &vec![9; 2 * PAGE as usize])
        }),
        ("commit", |v| {
            v[0].op_range(ZX_VMO_OP_COMMIT, 0, 4 * PAGE, &CountingCache::default())
        }),
        ("commit clone", |v| {
            v[1].op_range(ZX_VMO_OP_COMMIT, 0, 4 * PAGE, &CountingCache::default())
        }),
        ("zero partial", |v| {
            v[1].op_range(ZX_VMO_OP_ZERO, 10, 2 * PAGE, &CountingCache::default())
        }),
        ("fault write", |v| {
            v[1].fault_page(PAGE, true, true).map(|_| ())
        }),
        ("write slice", |v| {
            v[3].write(0, &vec![9; 2 * PAGE as usize])
        }),
    ];
    for (name, op) in ops {
        for n in 1..=6 {
            let f = frames();
            let root = create_fixed(&f, 4 * PAGE);
            root.write(0, &[1, 2, 3]).unwrap();
            root.write(2 * PAGE, &[4]).unwrap();
            let clone = root
                .create_clone(ZX_VMO_CLONE_COPY_ON_WRITE, 0, 4 * PAGE)
                .unwrap();
            let other = create(&f, 4 * PAGE);
            other.write(PAGE, &[5]).unwrap();
            let snapshot = other
                .create_child(ZX_VMO_CHILD_SNAPSHOT, 0, 4 * PAGE)
                .unwrap();
            let slice = root
                .create_child(ZX_VMO_CHILD_SLICE, PAGE, 2 * PAGE)
                .unwrap();
            let vmos = vec![root, clone, snapshot, slice, other];
            let before = observe(&vmos, &f);
            f.fail_nth_allocation(n);
            let result = op(&vmos);
            f.fail_nth_allocation(0);
            match result {
                Err(Status::NO_MEMORY) => {
                    assert_eq!(
                        observe(&vmos, &f),
                        before,
                        "{name}: failure at allocation {n} changed state"
                    )
                }
                Ok(()) => {}
                Err(other) => panic!("{name}: unexpected {other:?}"),
            }
            drop(vmos);
            assert_eq!(
                f.in_use(),
                0,
                "{name}: leak after failure at allocation {n}"
            );
        }
    }
}

#[test]
fn every_page_is_returned_when_every_vmo_is_gone() {
    let f = frames();
    {
        let a = create(&f, 8 * PAGE);
        a.write(0, &vec![1; 8 * PAGE as usize]).unwrap();
        let b = a.create_child(ZX_VMO_CHILD_SNAPSHOT, 0, 8 * PAGE).unwrap();
        let c = b
            .create_clone(ZX_VMO_CLONE_COPY_ON_WRITE, PAGE, 4 * PAGE)
            .unwrap();
        c.write(0, &[2]).unwrap();
        let d = a
            .create_clone(ZX_VMO_CLONE_COPY_ON_WRITE, 0, 8 * PAGE)
            .unwrap();
        d.write(7 * PAGE, &[3]).unwrap();
        a.write(0, &[4]).unwrap();
        let _handles = [handle(&a), handle(&b), handle(&c), handle(&d)];
    }
    assert_eq!(f.in_use(), 0);
}

#[allow(dead_code)]
fn assert_frame_type(_: FrameAddr) {}

#[test]
fn parent_shrink_unmaps_the_childs_view_of_the_dropped_pages() {
    let f = frames();
    let parent = Vmo::create(f.clone(), 2 * PAGE, 0).expect("create resizable");
    parent.write(PAGE, &[0x11]).unwrap();
    let child = parent
        .create_clone(ZX_VMO_CLONE_COPY_ON_WRITE, 0, 2 * PAGE)
        .unwrap();
    let (mapping, _) = map(&child);
    // The child's mapping shows the parent's page 1 (read-only, not the child's own).
    let shown = child.fault_page(PAGE, false, true).unwrap();
    assert!(!shown.writable);
    parent.set_size(PAGE).unwrap();
    // The parent's page 1 is gone (freed): the child's PTE for it must have gone first.
    assert!(
        mapping.unmapped.lock().unwrap().contains(&(PAGE, PAGE)),
        "a PTE to the freed page was left behind: {:?}",
        mapping.unmapped.lock().unwrap()
    );
    assert_eq!(read_all(&child, PAGE, 1), vec![0]);
}

/// Found by the model: a closed clone stays as the branch point of its two clones; when its
/// parent closes too, the parent's pages merge into it, and a page neither clone can see
/// (one looks at none of it, the other at nothing) must be freed, not kept.
#[test]
fn merging_into_a_closed_clone_frees_the_pages_its_clones_cannot_see() {
    let f = frames();
    let cow = ZX_VMO_CLONE_COPY_ON_WRITE;
    let a = create(&f, 3 * PAGE);
    a.write(0, &[1; 2 * PAGE as usize]).expect("write");
    let a_handle = handle(&a);
    let b = a.create_clone(cow, PAGE, PAGE).expect("clone");
    let b_handle = handle(&b);
    let c = b.create_clone(cow, PAGE, 0).expect("clone");
    let d = b.create_clone(cow, 0, 0).expect("clone");
    let (c_handle, d_handle) = (handle(&c), handle(&d));
    drop(b_handle);
    assert_eq!(f.in_use(), 2);
    drop(a_handle);
    assert_eq!(f.in_use(), 0, "a page nobody can see was kept");
    assert_eq!(c.committed_bytes() + d.committed_bytes(), 0);
    c.check_family_charges().expect("charges");
    drop((c_handle, d_handle));
}

#[test]
fn a_family_past_its_node_limit_refuses_more_children_with_no_memory() {
    use object::vmo::MAX_FAMILY_NODES;
    let f = frames();
    let top = create_fixed(&f, PAGE);
    // Clones of the top: one node each, after the top's own.
    let mut clones = Vec::new();
    for _ in 1..MAX_FAMILY_NODES {
        clones.push(
            top.create_clone(ZX_VMO_CLONE_COPY_ON_WRITE, 0, PAGE)
                .expect("clone"),
        );
    }
    assert_eq!(
        top.create_clone(ZX_VMO_CLONE_COPY_ON_WRITE, 0, PAGE).err(),
        Some(Status::NO_MEMORY)
    );
    assert_eq!(
        top.create_child(ZX_VMO_CHILD_SLICE, 0, PAGE).err(),
        Some(Status::NO_MEMORY)
    );
    assert_eq!(
        top.create_child(ZX_VMO_CHILD_SNAPSHOT, 0, PAGE).err(),
        Some(Status::NO_MEMORY)
    );
    // Nothing changed: the family reads and writes as before, and a closed clone makes
    // room again (a snapshot needs two: it adds a hidden node).
    let mut byte = [0u8];
    clones[0].read(0, &mut byte).expect("read");
    top.write(0, &[7]).expect("write");
    drop(clones.pop());
    top.create_clone(ZX_VMO_CLONE_COPY_ON_WRITE, 0, PAGE)
        .expect("a clone after a close");
    drop(clones.pop());
    drop(clones.pop());
    top.create_child(ZX_VMO_CHILD_SNAPSHOT, 0, PAGE)
        .expect("a snapshot after closes");
}

/// What another CPU could do to a VMO while a copy runs on its frames without the lock: the
/// frames the copy was given stay the family's (held, not reused) until the copy is done,
/// then go back; the copy may still read and write them meanwhile.
#[test]
fn frames_given_up_during_an_unlocked_copy_are_not_reused_until_it_ends() {
    let f = frames();
    for pages in [1u64, 3, 70] {
        let vmo = create(&f, pages * PAGE);
        vmo.write(0, &vec![7u8; (pages * PAGE) as usize])
            .expect("write");
        let before = f.in_use();
        // A write: its copy decommits the range (as a thread on another CPU would) and then
        // writes the frames it was given.
        let mut seen = 0;
        vmo.write_unlocked(0, pages * PAGE, &mut |given, in_page, len, _| {
            vmo.op_range(
                ZX_VMO_OP_DECOMMIT,
                0,
                pages * PAGE,
                &CountingCache::default(),
            )
            .expect("decommit during the copy");
            assert!(f.held() >= given.len(), "{pages} pages: held for the copy");
            for &frame in given {
                f.write(frame, in_page, &[1; 8][..8.min(len)]);
            }
            seen += given.len();
            // Committed again for the next chunk: the copy goes on with fresh frames.
            Ok(())
        })
        .expect("write");
        assert!(seen as u64 >= pages);
        assert_eq!(f.held(), 0, "{pages} pages: freed once the copy ended");
        // A read, the same way.
        vmo.write(0, &vec![7u8; (pages * PAGE) as usize])
            .expect("write");
        vmo.read_unlocked(0, pages * PAGE, &mut |given, in_page, len, _| {
            vmo.op_range(
                ZX_VMO_OP_DECOMMIT,
                0,
                pages * PAGE,
                &CountingCache::default(),
            )
            .expect("decommit during the copy");
            let mut buf = [0u8; 8];
            for &frame in given {
                f.read(frame, in_page, &mut buf[..8.min(len)]);
            }
            Ok(())
        })
        .expect("read");
        assert_eq!(f.held(), 0);
        drop(vmo);
        assert!(f.in_use() < before, "{pages} pages: everything went back");
        assert_eq!(f.in_use(), 0);
    }
}
