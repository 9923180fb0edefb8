//! Issue 11, items 1 and 2: operations whose arguments name huge ranges cost per page that
//! exists, work in bounded chunks with preemption points between them, and cache
//! invalidation never reaches a frame the VMO does not own. Dead channel endpoints are freed
//! in chunks too, whatever their queues hold.

use abi::*;
use object::channel::Channel;
use object::frames::testing::{CountingCache, TestFrames};
use object::handle::Handle;
use object::object::KernelObject;
use object::preempt;
use object::vmar::testing::FakeAddressSpace;
use object::vmar::{AddressSpace, MapTarget, Vmar};
use object::vmo::Vmo;
use object::{Rights, Status};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::{Arc, Once};

const PAGE: u64 = 4096;

thread_local! {
    /// Preemption points this test thread passed.
    static POINTS: Cell<usize> = const { Cell::new(0) };
    /// Run at the next point (once): another thread's change between two chunks.
    static AT_POINT: RefCell<Option<Box<dyn FnOnce()>>> = const { RefCell::new(None) };
    /// Points return false from the next one on: this thread was killed.
    static KILLED: Cell<bool> = const { Cell::new(false) };
}

fn counting_hook() -> bool {
    POINTS.with(|p| p.set(p.get() + 1));
    if let Some(action) = AT_POINT.with(|a| a.borrow_mut().take()) {
        action();
    }
    !KILLED.with(Cell::get)
}

/// Installs the counting hook (once per test binary) and returns the points passed so far.
fn points() -> usize {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| preempt::set_hook(counting_hook));
    POINTS.with(Cell::get)
}

fn frames() -> Arc<TestFrames> {
    Arc::new(TestFrames::new())
}

/// A resizable VMO of `pages` pages, every one written with `byte`.
fn written(f: &Arc<TestFrames>, pages: u64, byte: u8) -> Arc<Vmo> {
    let vmo = Vmo::create(f.clone(), pages * PAGE, 0).expect("create");
    write_pages(&vmo, 0..pages, byte);
    vmo
}

/// Runs `action` at the next preemption point of this thread: another thread's call between
/// two chunks.
fn at_next_point(action: impl FnOnce() + 'static) {
    points();
    AT_POINT.with(|a| *a.borrow_mut() = Some(Box::new(action)));
}

fn write_pages(vmo: &Vmo, pages: impl IntoIterator<Item = u64>, byte: u8) {
    for page in pages {
        vmo.write(page * PAGE, &[byte; PAGE as usize])
            .expect("write");
    }
}

#[test]
fn cache_ops_on_a_huge_fresh_vmo_cost_nothing() {
    let f = frames();
    let vmo = Vmo::create(f.clone(), 1 << 62, 0).expect("create");
    let cache = CountingCache::default();
    let before = points();
    for op in [
        ZX_VMO_OP_CACHE_SYNC,
        ZX_VMO_OP_CACHE_CLEAN,
        ZX_VMO_OP_CACHE_INVALIDATE,
        ZX_VMO_OP_CACHE_CLEAN_INVALIDATE,
    ] {
        vmo.op_range(op, 0, 1 << 62, &cache).expect("cache op");
    }
    // Nothing committed: one chunk each, no page touched.
    assert_eq!(points(), before);
    assert_eq!(cache.cleaned.load(std::sync::atomic::Ordering::SeqCst), 0);
    assert_eq!(f.in_use(), 0);
}

#[test]
fn cache_ops_touch_exactly_the_committed_pages_of_the_range() {
    let f = frames();
    let vmo = Vmo::create(f.clone(), 1 << 62, 0).expect("create");
    write_pages(&vmo, [0, 1 << 20, 1 << 40, (1 << 50) - 1], 1);
    let cache = CountingCache::default();
    vmo.op_range(ZX_VMO_OP_CACHE_CLEAN, 100, (1 << 62) - 200, &cache)
        .expect("clean");
    // Page 0 from byte 100, the last page but its last 100 bytes, the other two whole.
    let cleaned = cache.cleaned.load(std::sync::atomic::Ordering::SeqCst) as u64;
    assert_eq!(cleaned, 4 * PAGE - 200);
}

#[test]
fn cache_ops_over_many_committed_pages_work_in_chunks() {
    let f = frames();
    let pages = 4 * preempt::CHUNK_PAGES as u64 + 3;
    let vmo = Vmo::create(f.clone(), pages * PAGE, 0).expect("create");
    vmo.op_range(ZX_VMO_OP_COMMIT, 0, pages * PAGE, &CountingCache::default())
        .expect("commit");
    let cache = CountingCache::default();
    let before = points();
    vmo.op_range(ZX_VMO_OP_CACHE_CLEAN_INVALIDATE, 0, pages * PAGE, &cache)
        .expect("clean+invalidate");
    assert_eq!(points() - before, 4);
    let done = cache
        .clean_invalidated
        .load(std::sync::atomic::Ordering::SeqCst) as u64;
    assert_eq!(done, pages * PAGE);
}

#[test]
fn cache_invalidate_through_a_clone_does_not_discard_the_parents_data() {
    let f = frames();
    let parent = Vmo::create(f.clone(), 4 * PAGE, 0).expect("create");
    write_pages(&parent, 0..4, 7);
    for child in [
        parent
            .create_clone(ZX_VMO_CLONE_COPY_ON_WRITE, 0, 4 * PAGE)
            .expect("clone"),
        parent
            .create_child(ZX_VMO_CHILD_SNAPSHOT, 0, 4 * PAGE)
            .expect("snapshot"),
    ] {
        let cache = CountingCache::default();
        child
            .op_range(ZX_VMO_OP_CACHE_INVALIDATE, 0, 4 * PAGE, &cache)
            .expect("invalidate");
        // Every page is shared: cleaned and invalidated, never just invalidated.
        assert!(cache.invalidated_frames.lock().is_empty());
        let done = cache
            .clean_invalidated
            .load(std::sync::atomic::Ordering::SeqCst) as u64;
        assert_eq!(done, 4 * PAGE);

        // A page the child wrote is its own: that one may be invalidated.
        child.write(PAGE, &[9; 16]).expect("write");
        let cache = CountingCache::default();
        child
            .op_range(ZX_VMO_OP_CACHE_INVALIDATE, 0, 4 * PAGE, &cache)
            .expect("invalidate");
        assert_eq!(cache.invalidated_frames.lock().len(), 1);
        let done = cache
            .clean_invalidated
            .load(std::sync::atomic::Ordering::SeqCst) as u64;
        assert_eq!(done, 3 * PAGE);
    }
}

#[test]
fn cache_invalidate_through_a_slice_touches_only_the_parents_own_pages() {
    let f = frames();
    let parent = Vmo::create(f.clone(), 4 * PAGE, ZX_VMO_NON_RESIZABLE).expect("create");
    write_pages(&parent, 0..2, 7);
    let snapshot = parent
        .create_child(ZX_VMO_CHILD_SNAPSHOT, 0, 4 * PAGE)
        .expect("snapshot");
    // Page 1 is the parent's own again; page 0 is shared with the snapshot.
    write_pages(&parent, [1], 8);
    let slice = parent
        .create_child(ZX_VMO_CHILD_SLICE, 0, 4 * PAGE)
        .expect("slice");
    let cache = CountingCache::default();
    slice
        .op_range(ZX_VMO_OP_CACHE_INVALIDATE, 0, 4 * PAGE, &cache)
        .expect("invalidate");
    assert_eq!(cache.invalidated_frames.lock().len(), 1);
    let done = cache
        .clean_invalidated
        .load(std::sync::atomic::Ordering::SeqCst) as u64;
    assert_eq!(done, PAGE);
    drop(snapshot);
}

#[test]
fn commit_of_more_than_memory_fails_at_once_and_changes_nothing() {
    let f = frames();
    f.set_capacity(100);
    let vmo = Vmo::create(f.clone(), 1 << 62, 0).expect("create");
    let before = points();
    assert_eq!(
        vmo.op_range(ZX_VMO_OP_COMMIT, 0, 1 << 62, &CountingCache::default()),
        Err(Status::NO_MEMORY)
    );
    assert_eq!(
        vmo.op_range(ZX_VMO_OP_COMMIT, 0, 101 * PAGE, &CountingCache::default()),
        Err(Status::NO_MEMORY)
    );
    assert_eq!(points(), before);
    assert_eq!(f.in_use(), 0);
    vmo.op_range(ZX_VMO_OP_COMMIT, 0, 100 * PAGE, &CountingCache::default())
        .expect("what fits");
    assert_eq!(f.in_use(), 100);
}

#[test]
fn commit_decommit_zero_and_shrink_of_many_pages_work_in_chunks() {
    let f = frames();
    let chunks = 3;
    let pages = chunks * preempt::CHUNK_PAGES as u64;
    let vmo = Vmo::create(f.clone(), pages * PAGE, 0).expect("create");
    let cache = CountingCache::default();

    let before = points();
    vmo.op_range(ZX_VMO_OP_COMMIT, 0, pages * PAGE, &cache)
        .expect("commit");
    // The frames are taken first (so that running out changes nothing), then committed: a
    // point between two chunks of each.
    assert_eq!(points() - before, 2 * (chunks as usize - 1));
    assert_eq!(f.in_use() as u64, pages);

    let before = points();
    vmo.op_range(ZX_VMO_OP_DECOMMIT, 0, pages * PAGE, &cache)
        .expect("decommit");
    assert_eq!(points() - before, chunks as usize - 1);
    assert_eq!(f.in_use(), 0);

    write_pages(&vmo, 0..pages, 3);
    let before = points();
    vmo.op_range(ZX_VMO_OP_ZERO, 1, pages * PAGE - 2, &cache)
        .expect("zero");
    assert!(points() - before >= chunks as usize - 1);
    // The two partial pages stay, zeroed but for their first and last byte.
    assert_eq!(f.in_use(), 2);
    let mut edge = [0u8; 2];
    vmo.read(0, &mut edge).expect("read");
    assert_eq!(edge, [3, 0]);

    write_pages(&vmo, 0..pages, 4);
    let before = points();
    vmo.set_size(0).expect("shrink");
    assert_eq!(points() - before, chunks as usize - 1);
    assert_eq!(f.in_use(), 0);
}

#[test]
fn decommit_of_a_huge_sparse_range_costs_per_committed_page() {
    let f = frames();
    let vmo = Vmo::create(f.clone(), 1 << 62, 0).expect("create");
    write_pages(&vmo, [3, 1 << 30, 1 << 49], 1);
    let before = points();
    vmo.op_range(ZX_VMO_OP_DECOMMIT, 0, 1 << 62, &CountingCache::default())
        .expect("decommit");
    assert_eq!(points(), before);
    assert_eq!(f.in_use(), 0);

    // Through a clone: one marker hides the parent, the clone's own pages go.
    let parent = Vmo::create(f.clone(), 1 << 62, 0).expect("create");
    write_pages(&parent, [5, 1 << 45], 2);
    let clone = parent
        .create_clone(ZX_VMO_CLONE_COPY_ON_WRITE, 0, 1 << 62)
        .expect("clone");
    write_pages(&clone, [6, 1 << 44], 3);
    clone
        .op_range(ZX_VMO_OP_DECOMMIT, 0, 1 << 62, &CountingCache::default())
        .expect("decommit");
    assert_eq!(f.in_use(), 2);
    assert_eq!(parent.committed_bytes() + clone.committed_bytes(), 2 * PAGE);
    let mut byte = [0xffu8; 1];
    clone.read(5 * PAGE, &mut byte).expect("read");
    assert_eq!(byte, [0]);
    parent.read(5 * PAGE, &mut byte).expect("read");
    assert_eq!(byte, [2]);
}

#[test]
fn growing_a_vmo_while_a_shrink_frees_its_pages_shows_no_stale_page() {
    let f = frames();
    let pages = 3 * preempt::CHUNK_PAGES as u64;
    let vmo = written(&f, pages, 5);
    let grower = vmo.clone();
    // Between two chunks of the shrink below: grow it back.
    at_next_point(move || grower.set_size(pages * PAGE).expect("grow"));
    vmo.set_size(PAGE).expect("shrink");
    // The shrink came first, the grow second.
    assert_eq!(vmo.size(), pages * PAGE);
    let mut buf = vec![0xffu8; (pages * PAGE) as usize];
    vmo.read(0, &mut buf).expect("read");
    assert!(buf[..PAGE as usize].iter().all(|&b| b == 5));
    assert!(buf[PAGE as usize..].iter().all(|&b| b == 0));
    assert_eq!(f.in_use(), 1);
}

#[test]
fn a_smaller_grow_between_the_chunks_of_a_shrink_frees_every_page() {
    let f = frames();
    let pages = 3 * preempt::CHUNK_PAGES as u64;
    let vmo = written(&f, pages, 5);
    let other = vmo.clone();
    at_next_point(move || other.set_size(2 * PAGE).expect("grow to 2 pages"));
    vmo.set_size(PAGE).expect("shrink");
    // The inner call finished the trim of the first, then grew to 2 pages.
    assert_eq!(vmo.size(), 2 * PAGE);
    assert_eq!(f.in_use(), 1);
}

#[test]
fn a_dying_vmo_with_many_pages_is_freed_in_chunks_later() {
    let f = frames();
    let pages = 8 * preempt::CHUNK_PAGES as u64;
    let vmo = written(&f, pages, 5);
    points();
    drop(vmo);
    // With a preemption hook (the kernel's case) the pages wait for a safe point.
    assert_eq!(f.in_use() as u64, pages);
    let before = points();
    object::vmo::free_dead_pages();
    assert_eq!(f.in_use(), 0);
    assert!(points() - before >= 2);
}

#[test]
fn chunked_decommit_and_shrink_of_a_snapshot_keep_the_charges_adding_up() {
    let f = frames();
    let pages = 3 * preempt::CHUNK_PAGES as u64;
    let a = written(&f, pages, 1);
    let b = a
        .create_child(
            ZX_VMO_CHILD_SNAPSHOT | ZX_VMO_CHILD_RESIZABLE,
            0,
            pages * PAGE,
        )
        .expect("snapshot");
    write_pages(&b, 0..pages / 2, 2);
    let held = |a: &Vmo| a.family_committed_pages() as u64 * PAGE;
    assert_eq!(a.committed_bytes() + b.committed_bytes(), held(&a));
    a.op_range(
        ZX_VMO_OP_DECOMMIT,
        0,
        pages * PAGE,
        &CountingCache::default(),
    )
    .expect("decommit");
    assert_eq!(a.committed_bytes(), 0);
    assert_eq!(a.committed_bytes() + b.committed_bytes(), held(&a));
    assert_eq!(b.committed_bytes(), pages * PAGE);
    b.set_size(PAGE).expect("shrink");
    assert_eq!(a.committed_bytes() + b.committed_bytes(), held(&a));
    assert_eq!(f.in_use(), 1);
}

#[test]
fn closing_a_snapshot_after_the_original_wrote_a_few_pages_merges_the_few_into_the_many() {
    let _serial = deferred_serial();
    let f = frames();
    let pages = 4 * preempt::CHUNK_PAGES as u64;
    let a = written(&f, pages, 1);
    let b = a
        .create_child(ZX_VMO_CHILD_SNAPSHOT, 0, pages * PAGE)
        .expect("snapshot");
    // The original writes two pages of its own and zeroes a third (a zero marker over the
    // hidden node's page).
    write_pages(&a, [3, 100], 2);
    a.op_range(ZX_VMO_OP_ZERO, 7 * PAGE, PAGE, &CountingCache::default())
        .expect("zero");
    drop(b);
    do_deferred_work();
    // One node left: the hidden node's pages, minus the three the original hides, plus the
    // original's two.
    assert_eq!(a.family_node_count(), 1);
    assert_eq!(f.in_use() as u64, pages - 1);
    assert_eq!(a.committed_bytes(), (pages - 1) * PAGE);
    let mut buf = vec![0u8; (pages * PAGE) as usize];
    a.read(0, &mut buf).expect("read");
    for page in 0..pages {
        let want = match page {
            3 | 100 => 2,
            7 => 0,
            _ => 1,
        };
        let at = (page * PAGE) as usize;
        assert!(
            buf[at..at + PAGE as usize].iter().all(|&b| b == want),
            "page {page}"
        );
    }
}

/// A snapshot's original of `pages` pages written with 1, the snapshot written with 2 on its
/// first page: the hidden node holds `pages` pages both see.
fn original_and_snapshot(f: &Arc<TestFrames>, pages: u64) -> (Arc<Vmo>, Arc<Vmo>) {
    let a = written(f, pages, 1);
    let b = a
        .create_child(
            ZX_VMO_CHILD_SNAPSHOT | ZX_VMO_CHILD_RESIZABLE,
            0,
            pages * PAGE,
        )
        .expect("snapshot");
    write_pages(&b, [0], 2);
    (a, b)
}

fn assert_pages(vmo: &Vmo, want: impl Fn(u64) -> u8) {
    let pages = vmo.size() / PAGE;
    let mut buf = vec![0xeeu8; (pages * PAGE) as usize];
    vmo.read(0, &mut buf).expect("read");
    for page in 0..pages {
        let at = (page * PAGE) as usize;
        let byte = want(page);
        assert!(
            buf[at..at + PAGE as usize].iter().all(|&b| b == byte),
            "page {page} should read {byte}"
        );
    }
}

fn assert_charges_add_up(vmos: &[&Vmo]) {
    let held = vmos[0].family_committed_pages() as u64 * PAGE;
    let charged: u64 = vmos.iter().map(|v| v.committed_bytes()).sum();
    assert_eq!(charged, held, "charges against pages held");
    vmos[0].check_family_charges().expect("charges");
}

#[test]
fn shrinking_the_original_of_a_snapshot_lets_go_of_the_hidden_pages_in_chunks() {
    let f = frames();
    let pages = 8 * preempt::CHUNK_PAGES as u64;
    let (a, b) = original_and_snapshot(&f, pages);
    let before = points();
    // Every hidden page the original saw passes to the snapshot: a walk over all of them.
    a.set_size(0).expect("shrink");
    assert!(points() - before >= 7, "{} points", points() - before);
    assert_eq!(a.committed_bytes(), 0);
    assert_eq!(b.committed_bytes(), pages * PAGE);
    assert_charges_add_up(&[&a, &b]);
    assert_pages(&b, |page| if page == 0 { 2 } else { 1 });
    // The snapshot shrinks too: now nobody sees the hidden pages, and they go.
    let before = points();
    b.set_size(PAGE).expect("shrink");
    assert!(points() - before >= 7, "{} points", points() - before);
    assert_eq!(f.in_use(), 1);
    assert_charges_add_up(&[&a, &b]);
}

#[test]
fn growing_between_the_chunks_of_a_shrink_never_shows_the_hidden_pages_again() {
    let _serial = deferred_serial();
    let f = frames();
    let pages = 8 * preempt::CHUNK_PAGES as u64;
    let (a, b) = original_and_snapshot(&f, pages);
    let grower = a.clone();
    let snapshot = b.clone();
    at_next_point(move || {
        // Mid-shrink: the family is whole, and a grow finishes the shrink first.
        assert_charges_add_up(&[&grower, &snapshot]);
        grower.set_size(pages * PAGE).expect("grow");
    });
    a.set_size(PAGE).expect("shrink");
    assert_eq!(a.size(), pages * PAGE);
    assert_pages(&a, |page| u8::from(page == 0));
    assert_pages(&b, |page| if page == 0 { 2 } else { 1 });
    assert_charges_add_up(&[&a, &b]);
    drop(b);
    do_deferred_work();
    assert_eq!(f.in_use(), 1);
}

#[test]
fn a_snapshot_taken_between_the_chunks_of_a_shrink_sees_only_what_is_left() {
    let _serial = deferred_serial();
    let f = frames();
    let pages = 8 * preempt::CHUNK_PAGES as u64;
    let (a, b) = original_and_snapshot(&f, pages);
    let original = a.clone();
    let taken = Arc::new(std::sync::Mutex::new(None));
    let slot = taken.clone();
    at_next_point(move || {
        let c = original
            .create_child(ZX_VMO_CHILD_SNAPSHOT, 0, pages * PAGE)
            .expect("snapshot");
        *slot.lock().expect("slot") = Some(c);
    });
    a.set_size(2 * PAGE).expect("shrink");
    let c = taken.lock().expect("slot").take().expect("taken");
    // Beyond the original's new size the snapshot reads zero.
    assert_eq!(c.size(), pages * PAGE);
    assert_pages(&c, |page| u8::from(page < 2));
    assert_pages(&a, |_| 1);
    assert_pages(&b, |page| if page == 0 { 2 } else { 1 });
    assert_charges_add_up(&[&a, &b, &c]);
    drop(b);
    drop(c);
    do_deferred_work();
    assert_eq!(f.in_use(), 2);
    assert_charges_add_up(&[&a]);
}

#[test]
fn closing_the_snapshot_between_the_chunks_of_a_shrink_frees_what_nobody_sees() {
    let _serial = deferred_serial();
    let f = frames();
    let pages = 8 * preempt::CHUNK_PAGES as u64;
    let (a, b) = original_and_snapshot(&f, pages);
    let snapshot = std::sync::Mutex::new(Some(b));
    let snapshot = Arc::new(snapshot);
    let closer = snapshot.clone();
    at_next_point(move || drop(closer.lock().expect("slot").take()));
    a.set_size(3 * PAGE).expect("shrink");
    assert!(snapshot.lock().expect("slot").is_none());
    do_deferred_work();
    assert_pages(&a, |_| 1);
    assert_eq!(f.in_use(), 3);
    assert_charges_add_up(&[&a]);
}

/// A chain of snapshots of snapshots, `levels` deep, over one page written with 1: every
/// level but the top and the bottom writes its own copy after its snapshot, so the top's page
/// is seen by the top and, through every hidden node, by the bottom only. Returns the top
/// and the levels below it, the bottom last.
fn deep_snapshot_chain(f: &Arc<TestFrames>, levels: usize) -> (Arc<Vmo>, Vec<Arc<Vmo>>) {
    let top = written(f, 1, 1);
    let mut chain: Vec<Arc<Vmo>> = Vec::new();
    for level in 0..levels {
        let parent = chain.last().unwrap_or(&top).clone();
        let snapshot = parent
            .create_child(ZX_VMO_CHILD_SNAPSHOT, 0, PAGE)
            .expect("snapshot");
        if level > 0 {
            parent.write(0, &[2]).expect("write");
        }
        chain.push(snapshot);
    }
    (top, chain)
}

#[test]
fn a_write_that_hands_a_page_down_a_deep_snapshot_chain_walks_the_chain_once() {
    // Who is charged for the top's old page next is the bottom, found by one walk down the
    // chain; a walk that asked at every level whether anything below still sees the page
    // cost levels^2 / 2 steps (2 million here, a second or so in a debug build).
    const LEVELS: usize = 2000;
    let f = frames();
    let (top, chain) = deep_snapshot_chain(&f, LEVELS);
    let bottom = chain.last().expect("levels").clone();
    assert_eq!(bottom.committed_bytes(), 0);
    let start = std::time::Instant::now();
    top.write(0, &[3]).expect("write");
    let took = start.elapsed();
    assert!(
        took < std::time::Duration::from_millis(100),
        "the write took {took:?} at {LEVELS} levels"
    );
    let mut byte = [0u8];
    bottom.read(0, &mut byte).expect("read");
    assert_eq!(byte[0], 1);
    assert_eq!(bottom.committed_bytes(), PAGE);
    top.check_family_charges().expect("charges");
}

#[test]
fn a_transfer_deep_in_a_chain_takes_fewer_pages_per_chunk() {
    // Every page of a node 2,048 levels deep may walk all of them: one page per chunk, with
    // a preemption point between chunks.
    let f = frames();
    let top = written(&f, 8, 1);
    let mut chain: Vec<Arc<Vmo>> = Vec::new();
    for _ in 0..2048 {
        let parent = chain.last().unwrap_or(&top).clone();
        let clone = parent
            .create_clone(ZX_VMO_CLONE_COPY_ON_WRITE, 0, 8 * PAGE)
            .expect("clone");
        chain.push(clone);
    }
    let bottom = chain.last().expect("levels");
    let before = points();
    bottom.write(0, &[2; 8 * PAGE as usize]).expect("write");
    // `write` takes the lock once; the system call's path goes in chunks.
    let mut none = |_: &[u64], _: usize, _: usize, _: usize| Ok(());
    bottom
        .write_unlocked(0, 8 * PAGE, &mut none)
        .expect("write");
    bottom.read_unlocked(0, 8 * PAGE, &mut none).expect("read");
    bottom
        .op_range(ZX_VMO_OP_COMMIT, 0, 8 * PAGE, &CountingCache::default())
        .expect("commit");
    assert_eq!(points() - before, 7 + 7 + 7);
    // The top reads 64 pages at a time (no ancestors to look through), but its writes hand
    // the pages it copies down the chain: a family of 2,049 nodes writes a page per chunk.
    let before = points();
    top.read_unlocked(0, 8 * PAGE, &mut none).expect("read");
    assert_eq!(points(), before);
    top.write_unlocked(0, 8 * PAGE, &mut none).expect("write");
    assert_eq!(points() - before, 7);
    // A VMO of a family of its own writes 64 pages at a time.
    let alone = written(&f, 8, 1);
    let before = points();
    alone.write_unlocked(0, 8 * PAGE, &mut none).expect("write");
    assert_eq!(points(), before);
}

/// Work left for later (channel queues, VMO families) is global: the tests that leave or
/// check it run one at a time.
fn deferred_serial() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Does all the work left for later, as the kernel does before a system call returns;
/// returns the points passed.
fn do_deferred_work() -> usize {
    let before = points();
    object::free_deferred();
    points() - before
}

/// Frees what dead channel endpoints left for later, as the kernel does before a system call
/// returns (the VMO part stays with the VMO tests); returns the points passed.
fn free_dead_channels() -> usize {
    let before = points();
    while object::channel::free_dead_chunk() && preempt::point() {}
    points() - before
}

fn endpoint_handle(endpoint: &Arc<Channel>) -> Handle {
    Handle::new(endpoint.clone(), Rights::DEFAULT_CHANNEL)
}

fn peer_closed(endpoint: &Channel) -> bool {
    endpoint
        .base()
        .signals()
        .get()
        .contains(Signals::CHANNEL_PEER_CLOSED)
}

#[test]
fn closing_a_channel_with_3500_messages_of_64_handles_frees_them_in_chunks_later() {
    let _serial = deferred_serial();
    points();
    let f = frames();
    let vmo = written(&f, 1, 1);
    let (a, b) = Channel::create().expect("create");
    let (a_handle, b_handle) = (endpoint_handle(&a), endpoint_handle(&b));
    for _ in 0..object::channel::MAX_PENDING_MESSAGES {
        let handles = (0..object::channel::MAX_MSG_HANDLES)
            .map(|_| Handle::new(vmo.clone(), Rights::DEFAULT_VMO))
            .collect();
        a.write(&[], handles).expect("write");
    }
    let handles = 64 * object::channel::MAX_PENDING_MESSAGES;
    assert_eq!(vmo.base().handle_count(), handles);
    drop(vmo);
    let before = points();
    drop(b_handle);
    // The peer knows at once; one chunk was freed (no point: locks may be held there).
    assert!(peer_closed(&a));
    assert_eq!(points(), before);
    assert_eq!(f.in_use(), 1);
    let passed = free_dead_channels();
    // A chunk is a message of 64 handles.
    assert_eq!(
        passed,
        object::channel::MAX_PENDING_MESSAGES - 2,
        "{passed} points"
    );
    // The last handle went, and the VMO with it.
    assert_eq!(f.in_use(), 0);
    assert!(!object::channel::free_dead_chunk());
    drop((a_handle, a, b));
}

#[test]
fn closing_a_long_nested_channel_chain_frees_it_in_chunks_later() {
    let _serial = deferred_serial();
    points();
    let levels = 20_000;
    // The innermost endpoint's peer: it sees PEER_CLOSED when the chain reaches it.
    let (watch, inner) = Channel::create().expect("create");
    let watch_handle = endpoint_handle(&watch);
    let mut current = endpoint_handle(&inner);
    drop(inner);
    for _ in 0..levels {
        let (a, b) = Channel::create().expect("create");
        let (a_handle, b_handle) = (endpoint_handle(&a), endpoint_handle(&b));
        a.write(&[], vec![current]).expect("write");
        drop(a_handle);
        current = b_handle;
    }
    let before = points();
    // Far deeper than a recursive drop could go on a kernel stack; no point inside the drop.
    drop(current);
    assert_eq!(points(), before);
    assert!(!peer_closed(&watch));
    let passed = free_dead_channels();
    assert!(passed >= levels / 64 - 2, "{passed} points");
    assert!(peer_closed(&watch));
    assert!(!object::channel::free_dead_chunk());
    drop(watch_handle);
}

#[test]
fn an_unreachable_channel_cycle_is_closed_and_freed_in_chunks_later() {
    let _serial = deferred_serial();
    points();
    let levels = 5_000;
    let (keep, first) = Channel::create().expect("create");
    let keep_handle = endpoint_handle(&keep);
    let (watch, inner) = Channel::create().expect("create");
    let watch_handle = endpoint_handle(&watch);
    keep.write(&[], vec![endpoint_handle(&inner)])
        .expect("write");
    drop(inner);
    let mut current = endpoint_handle(&first);
    drop(first);
    for _ in 0..levels {
        let (a, b) = Channel::create().expect("create");
        let (a_handle, b_handle) = (endpoint_handle(&a), endpoint_handle(&b));
        a.write(&[], vec![current]).expect("write");
        drop(a_handle);
        current = b_handle;
    }
    let before = points();
    // The write that makes the whole cycle unreachable: it starts the collection (no point
    // there: locks may be held), the work it left finds the cycle and frees it, as the kernel
    // does before the write returns.
    keep.write(&[], vec![current]).expect("write");
    assert_eq!(points(), before);
    let passed = free_dead_channels();
    assert!(peer_closed(&keep));
    assert!(peer_closed(&watch));
    assert!(passed >= levels / 64 - 2, "{passed} points");
    assert!(!object::channel::free_dead_chunk());
    drop((keep_handle, watch_handle));
}

/// Sets the channel collector's budget per step for the life of the value (tests that
/// change things between the steps of a small collection).
struct StepUnits;

impl StepUnits {
    fn set(units: usize) -> StepUnits {
        object::channel::testing::set_step_units(units);
        StepUnits
    }
}

impl Drop for StepUnits {
    fn drop(&mut self) {
        object::channel::testing::set_step_units(object::channel::testing::STEP_UNITS);
    }
}

/// What [`make_ring`] returns: the peers, their handles, the ring, its first endpoint's handle.
type Ring = (Vec<Arc<Channel>>, Vec<Handle>, Vec<Arc<Channel>>, Handle);

/// A ring of `len` endpoints but for its last link: each holds the handle to the next in its
/// queue (written by its peer, returned so that a test can watch for `PEER_CLOSED` there).
/// Returns the peers, their handles, the ring and the handle to its first endpoint, which
/// the caller writes into the last one's queue (through `peers[len - 1]`) to close it.
fn make_ring(len: usize) -> Ring {
    let mut peers = Vec::new();
    let mut peer_handles = Vec::new();
    let mut ring = Vec::new();
    for _ in 0..len {
        let (peer, member) = Channel::create().expect("create");
        peer_handles.push(endpoint_handle(&peer));
        peers.push(peer);
        ring.push(member);
    }
    let first = endpoint_handle(&ring[0]);
    for i in 0..len - 1 {
        peers[i]
            .write(&[], vec![endpoint_handle(&ring[i + 1])])
            .expect("write");
    }
    // The writes seeded the collector (each moved the last handle of an endpoint into the
    // queue of one with none): its work is done, as before those writes returned.
    free_dead_channels();
    (peers, peer_handles, ring, first)
}

#[test]
fn collecting_a_channel_cycle_of_100000_endpoints_searches_in_chunks() {
    let _serial = deferred_serial();
    points();
    let len = 100_000;
    let (peers, peer_handles, ring, first) = make_ring(len);
    let gone = Arc::downgrade(&ring[len / 2]);
    drop(ring);
    let before = points();
    // The write that makes the ring unreachable starts the collection: one step, no point
    // (locks may be held there).
    peers[len - 1].write(&[], vec![first]).expect("write");
    assert_eq!(points(), before);
    // The rest is done in steps with a point between two, as the kernel does before the
    // write returns: the search alone visits every endpoint at least twice, at most
    // STEP_UNITS / NODE_UNITS of them a step.
    let mut steps = 0;
    while !peers.iter().all(|peer| peer_closed(peer)) {
        assert!(object::channel::free_dead_chunk(), "work left");
        assert!(preempt::point());
        steps += 1;
    }
    let min_steps =
        2 * len * object::channel::testing::NODE_UNITS / object::channel::testing::STEP_UNITS;
    assert!(steps >= min_steps, "{steps} steps");
    free_dead_channels();
    assert!(gone.upgrade().is_none());
    assert!(!object::channel::free_dead_chunk());
    drop((peers, peer_handles));
}

/// Runs `steps` steps of the deferred channel work (a collection under way), each of which
/// must leave work.
fn collector_steps(steps: usize) {
    for _ in 0..steps {
        assert!(object::channel::free_dead_chunk(), "the collection ended");
    }
}

#[test]
fn a_handle_read_out_of_a_channel_ring_between_collector_steps_keeps_its_endpoint_alive() {
    let _serial = deferred_serial();
    points();
    let _units = StepUnits::set(16);
    let len = 40;
    let (peers, peer_handles, ring, first) = make_ring(len);
    // A rooted endpoint's queue holds a second handle to the first of the ring: the ring is
    // reachable.
    let (outer_writer, outer) = Channel::create().expect("create");
    let outer_handles = (endpoint_handle(&outer_writer), endpoint_handle(&outer));
    outer_writer
        .write(&[], vec![endpoint_handle(&ring[0])])
        .expect("write");
    let (other_writer, other) = Channel::create().expect("create");
    let other_handles = (endpoint_handle(&other_writer), endpoint_handle(&other));
    // Closing the ring seeds its first endpoint: the collection starts (one step here).
    peers[len - 1].write(&[], vec![first]).expect("write");
    // The search scans the first two queues of the ring.
    collector_steps(6);
    // Between two steps: the handle to the first endpoint is read from the rooted queue,
    // the second one's from the first's queue; the second goes into another rooted queue
    // and the first's handle is closed. The counts the search took for both are stale: the
    // first is as often queued as counted (once, in the last one's queue), the second too
    // (once, now in `other`'s queue instead of the first's).
    let first = outer.read(0, 1).expect("read").handles;
    let second = ring[0].read(0, 1).expect("read").handles;
    assert_eq!(second[0].koid(), ring[1].base().koid());
    other_writer.write(&[], second).expect("write");
    drop(first);
    // Another ring, made unreachable while the collection runs: the next one finds it.
    let (late_peers, late_peer_handles, late_ring, late_first) = make_ring(3);
    let late_gone = Arc::downgrade(&late_ring[1]);
    drop(late_ring);
    late_peers[2].write(&[], vec![late_first]).expect("write");
    free_dead_channels();
    // The whole ring is reachable through `other`: nothing of it was closed.
    assert!(peers.iter().all(|peer| !peer_closed(peer)));
    assert!(late_peers.iter().all(|peer| peer_closed(peer)));
    assert!(late_gone.upgrade().is_none());
    // And it works: the second endpoint's handle comes back, its queue holds the third's.
    let second = other.read(0, 1).expect("read").handles;
    let third = ring[1].read(0, 1).expect("read").handles;
    assert_eq!(third[0].koid(), ring[2].base().koid());
    peers[1].write(b"back", third).expect("write");
    // Unreachable once `other` is closed with the second's handle in it: collected then.
    other_writer.write(&[], second).expect("write");
    let gone = Arc::downgrade(&ring[len - 1]);
    drop((ring, other_handles, other_writer, other));
    free_dead_channels();
    assert!(peers.iter().all(|peer| peer_closed(peer)));
    assert!(gone.upgrade().is_none());
    assert!(!object::channel::free_dead_chunk());
    drop((peers, peer_handles, late_peers, late_peer_handles));
    drop((outer_handles, outer_writer, outer));
}

#[test]
fn a_channel_ring_read_and_closed_again_between_collector_steps_is_collected_next_time() {
    let _serial = deferred_serial();
    points();
    let _units = StepUnits::set(16);
    let len = 30;
    let (peers, peer_handles, ring, first) = make_ring(len);
    let gone = Arc::downgrade(&ring[len - 1]);
    peers[len - 1].write(&[], vec![first]).expect("write");
    collector_steps(4);
    // Between two steps a reference that outlived its handle reads the ring (a read
    // racing with the close of the handle): allowed until the collection decides.
    let read = ring[len - 1].read(0, 1);
    let first = read.expect("read").handles;
    // Back in, then the whole search goes on; the read's handle was rooted meanwhile.
    peers[len - 1].write(&[], first).expect("write");
    drop(ring);
    free_dead_channels();
    assert!(peers.iter().all(|peer| peer_closed(peer)));
    assert!(gone.upgrade().is_none());
    assert!(!object::channel::free_dead_chunk());
    drop((peers, peer_handles));
}

#[test]
fn closing_a_snapshot_of_many_pages_lets_go_of_them_in_chunks_later() {
    let _serial = deferred_serial();
    let f = frames();
    let pages = 8 * preempt::CHUNK_PAGES as u64;
    let (a, b) = original_and_snapshot(&f, pages);
    // The original writes every other page: the hidden node's copies of those are seen by
    // the snapshot only, and go when it closes.
    write_pages(&a, (0..pages).step_by(2), 3);
    let before = points();
    drop(b);
    // Closing passes no point (it may happen under other locks): the work waits.
    assert_eq!(points(), before);
    assert!(f.in_use() as u64 > pages);
    assert!(do_deferred_work() >= 7);
    assert_eq!(f.in_use() as u64, pages);
    assert_eq!(a.family_node_count(), 1);
    assert_eq!(a.committed_bytes(), pages * PAGE);
    assert_charges_add_up(&[&a]);
    assert_pages(&a, |page| if page % 2 == 0 { 3 } else { 1 });
}

#[test]
fn closing_the_original_of_a_snapshot_hands_its_pages_on_in_chunks_later() {
    let _serial = deferred_serial();
    let f = frames();
    let pages = 8 * preempt::CHUNK_PAGES as u64;
    let (a, b) = original_and_snapshot(&f, pages);
    // The snapshot keeps a reference to its original: the last handle closes it.
    drop(Handle::new(a, Rights::DEFAULT_VMO));
    assert!(do_deferred_work() >= 7);
    assert_eq!(b.family_node_count(), 1);
    assert_eq!(f.in_use() as u64, pages);
    assert_eq!(b.committed_bytes(), pages * PAGE);
    assert_charges_add_up(&[&b]);
    assert_pages(&b, |page| if page == 0 { 2 } else { 1 });
}

#[test]
fn a_long_merge_after_a_snapshot_closes_moves_pages_in_chunks() {
    let _serial = deferred_serial();
    let f = frames();
    let pages = 16 * preempt::CHUNK_PAGES as u64;
    let (a, b) = original_and_snapshot(&f, pages);
    // Both keep many pages of their own: the hidden node keeps the other half after the
    // snapshot goes, and merging it into the original is long work too.
    write_pages(&a, 0..pages / 2, 3);
    write_pages(&b, 0..pages / 2, 4);
    drop(b);
    let passed = do_deferred_work();
    assert!(passed >= 8, "{passed} points");
    assert_eq!(a.family_node_count(), 1);
    assert_eq!(f.in_use() as u64, pages);
    assert_charges_add_up(&[&a]);
    assert_pages(&a, |page| if page < pages / 2 { 3 } else { 1 });
}

#[test]
fn the_family_stays_whole_between_the_chunks_of_a_deferred_close() {
    let _serial = deferred_serial();
    let f = frames();
    let pages = 8 * preempt::CHUNK_PAGES as u64;
    let (a, b) = original_and_snapshot(&f, pages);
    let c = a
        .create_child(ZX_VMO_CHILD_SNAPSHOT, 0, pages * PAGE)
        .expect("snapshot");
    drop(b);
    // Between two chunks: the original writes, takes a snapshot, and the other one closes.
    let original = a.clone();
    let kept = Arc::new(std::sync::Mutex::new(Some(c)));
    let closer = kept.clone();
    let taken = Arc::new(std::sync::Mutex::new(None));
    let slot = taken.clone();
    at_next_point(move || {
        original.write(PAGE, &[5; PAGE as usize]).expect("write");
        let d = original
            .create_child(ZX_VMO_CHILD_SNAPSHOT, 0, pages * PAGE)
            .expect("snapshot");
        *slot.lock().expect("slot") = Some(d);
        drop(closer.lock().expect("slot").take());
    });
    do_deferred_work();
    assert!(kept.lock().expect("slot").is_none());
    let d = taken.lock().expect("slot").take().expect("taken");
    assert_pages(&a, |page| if page == 1 { 5 } else { 1 });
    assert_pages(&d, |page| if page == 1 { 5 } else { 1 });
    assert_charges_add_up(&[&a, &d]);
    drop(d);
    do_deferred_work();
    assert_eq!(f.in_use() as u64, pages);
    assert_eq!(a.family_node_count(), 1);
    assert_charges_add_up(&[&a]);
}

// ---- VMARs holding many mappings ---------------------------------------------------------

const VMAR_BASE: usize = 0x1000_0000;
/// Enough one-page mappings for several chunks and a partial one.
const MANY: usize = 4 * 64 + 3;
const PAGEZ: usize = PAGE as usize;

/// A root VMAR over a fake address space, a sub-VMAR of `MANY` pages at its start and a
/// one-page VMO mapped (RW) at every page of it, each with its page-table entry.
fn many_mappings() -> (Arc<FakeAddressSpace>, Arc<Vmar>, Arc<Vmar>, Arc<Vmo>) {
    let aspace = Arc::new(FakeAddressSpace::new());
    let root = Vmar::new_root(aspace.clone() as Arc<dyn AddressSpace>, VMAR_BASE, 1 << 30);
    let sub = root
        .allocate(
            ZX_VM_CAN_MAP_READ | ZX_VM_CAN_MAP_WRITE | ZX_VM_CAN_MAP_SPECIFIC | ZX_VM_SPECIFIC,
            0,
            MANY * PAGEZ,
        )
        .expect("allocate");
    let vmo = Vmo::create(frames(), PAGE, 0).expect("create");
    for i in 0..MANY {
        sub.map(
            ZX_VM_PERM_READ | ZX_VM_PERM_WRITE | ZX_VM_SPECIFIC,
            i * PAGEZ,
            vmo.clone(),
            0,
            PAGEZ,
            Rights::DEFAULT_VMO,
        )
        .expect("map");
        root.handle_fault(VMAR_BASE + i * PAGEZ, false, false)
            .expect("fault");
    }
    assert_eq!(aspace.pte_count(), MANY);
    assert_eq!(vmo.num_mappings(), MANY);
    (aspace, root, sub, vmo)
}

fn chunks_of_many() -> usize {
    MANY.div_ceil(64)
}

#[test]
fn vmar_protect_unmap_and_destroy_of_many_mappings_work_in_chunks() {
    let (aspace, root, sub, vmo) = many_mappings();
    let before = points();
    sub.protect(ZX_VM_PERM_READ, VMAR_BASE, MANY * PAGEZ)
        .expect("protect");
    // Checked in chunks, then changed in chunks.
    assert!(points() - before >= 2 * (chunks_of_many() - 1));
    assert!(sub.mappings().iter().all(|m| !m.perms.write));
    assert!(aspace.ptes().values().all(|(_, perms)| !perms.write));

    let before = points();
    sub.unmap(VMAR_BASE, MANY * PAGEZ).expect("unmap");
    assert_eq!(points() - before, chunks_of_many() - 1);
    assert_eq!(sub.mapping_count(), 0);
    assert_eq!(aspace.pte_count(), 0);
    assert_eq!(vmo.num_mappings(), 0);

    // Half the pages mapped directly, half through one-page sub-VMARs.
    for i in 0..MANY {
        let (vmar, offset) = if i % 2 == 0 {
            (sub.clone(), i * PAGEZ)
        } else {
            let inner = sub
                .allocate(
                    ZX_VM_CAN_MAP_READ | ZX_VM_CAN_MAP_SPECIFIC | ZX_VM_SPECIFIC,
                    i * PAGEZ,
                    PAGEZ,
                )
                .expect("allocate inner");
            (inner, 0)
        };
        vmar.map(
            ZX_VM_PERM_READ | ZX_VM_SPECIFIC,
            offset,
            vmo.clone(),
            0,
            PAGEZ,
            Rights::DEFAULT_VMO,
        )
        .expect("map");
        root.handle_fault(VMAR_BASE + i * PAGEZ, false, false)
            .expect("fault");
    }
    let before = points();
    sub.destroy().expect("destroy");
    // A step per mapping and per region, and one to remove each region.
    assert!(points() - before >= (MANY + MANY / 2) / 64);
    assert!(sub.is_destroyed());
    assert_eq!(root.mapping_count(), 0);
    assert!(root.children().is_empty());
    assert_eq!(aspace.pte_count(), 0);
    assert_eq!(vmo.num_mappings(), 0);
}

#[test]
fn a_map_into_a_range_being_unmapped_waits_until_its_old_entries_are_gone() {
    let (aspace, root, sub, vmo) = many_mappings();
    let last = VMAR_BASE + (MANY - 1) * PAGEZ;
    let (sub2, vmo2, aspace2) = (sub.clone(), vmo.clone(), aspace.clone());
    let mapper = Arc::new(std::sync::Mutex::new(None));
    let mapper2 = mapper.clone();
    // After the first chunk: the first pages are gone, the last still mapped. Another thread
    // maps over the last page; it must wait for the whole unmap (it would find the old
    // mapping, or map where its entry still is).
    at_next_point(move || {
        assert!(root.mapping_at(VMAR_BASE).is_none());
        assert!(root.mapping_at(last).is_some());
        assert!(aspace2.pte(last).is_some());
        // A fault in a mapping not yet reached still finds it whole.
        root.handle_fault(last, false, false).expect("fault");
        let thread = std::thread::spawn(move || {
            let addr = sub2.map(
                ZX_VM_PERM_READ | ZX_VM_SPECIFIC,
                (MANY - 1) * PAGEZ,
                vmo2,
                0,
                PAGEZ,
                Rights::DEFAULT_VMO,
            );
            (addr, aspace2.pte(last).is_none())
        });
        *mapper2.lock().unwrap() = Some(thread);
    });
    sub.unmap(VMAR_BASE, MANY * PAGEZ).expect("unmap");
    let thread = mapper.lock().unwrap().take().expect("mapper started");
    let (addr, no_old_entry) = thread.join().expect("mapper");
    assert_eq!(addr, Ok(last));
    assert!(no_old_entry, "the new mapping met the old one's entry");
    assert_eq!(sub.mapping_count(), 1);
    assert_eq!(vmo.num_mappings(), 1);
}

#[test]
fn a_killed_thread_leaves_a_partly_unmapped_range_consistent_and_usable() {
    let (aspace, root, sub, vmo) = many_mappings();
    at_next_point(|| KILLED.with(|k| k.set(true)));
    let _ = sub.unmap(VMAR_BASE, MANY * PAGEZ);
    KILLED.with(|k| k.set(false));
    // The first chunk is done, the rest is not; tree, entries and registrations agree.
    let left = sub.mapping_count();
    assert_eq!(left, MANY - 64);
    assert_eq!(aspace.pte_count(), left);
    assert_eq!(vmo.num_mappings(), left);
    assert!(root.mapping_at(VMAR_BASE + 64 * PAGEZ).is_some());
    // Nothing stays blocked: the same range can be unmapped and mapped again.
    sub.unmap(VMAR_BASE, MANY * PAGEZ).expect("unmap the rest");
    assert_eq!(vmo.num_mappings(), 0);
    sub.map(
        ZX_VM_PERM_READ | ZX_VM_SPECIFIC,
        0,
        vmo.clone(),
        0,
        PAGEZ,
        Rights::DEFAULT_VMO,
    )
    .expect("map again");
}

#[test]
fn teardown_of_an_address_space_with_many_mappings_works_in_chunks() {
    let _serial = deferred_serial();
    let (aspace, root, sub, vmo) = many_mappings();
    let before = points();
    root.tear_down();
    // Every region is gone at once; the mappings go in chunks afterwards.
    assert!(root.is_destroyed() && sub.is_destroyed());
    assert_eq!(
        root.map(
            ZX_VM_PERM_READ,
            0,
            vmo.clone(),
            0,
            PAGEZ,
            Rights::DEFAULT_VMO
        ),
        Err(Status::BAD_STATE)
    );
    assert_eq!(points(), before);
    assert_eq!(vmo.num_mappings(), MANY - 64);
    object::vmar::finish_teardowns();
    // The first chunk ran in `tear_down`; a point between each two of the others.
    assert!(points() - before >= chunks_of_many() - 2);
    assert_eq!(vmo.num_mappings(), 0);
    assert_eq!(aspace.pte_count(), 0);
    // The last handles of an address space tear it down the same way.
    let (aspace, root, sub, vmo) = many_mappings();
    drop((root, sub));
    object::vmar::finish_teardowns();
    assert_eq!(vmo.num_mappings(), 0);
    assert_eq!(aspace.pte_count(), 0);
}

#[test]
fn a_failing_protect_of_many_mappings_changes_nothing() {
    let (aspace, root, sub, vmo) = many_mappings();
    // A hole near the end, found only after the first chunks were checked.
    sub.unmap(VMAR_BASE + (MANY - 2) * PAGEZ, PAGEZ)
        .expect("unmap one");
    let (before, ptes) = (points(), aspace.ptes());
    assert_eq!(
        sub.protect(0, VMAR_BASE, MANY * PAGEZ),
        Err(Status::NOT_FOUND)
    );
    assert!(points() - before >= chunks_of_many() - 1);
    assert!(sub.mappings().iter().all(|m| m.perms.write));
    assert_eq!(aspace.ptes(), ptes);
    // A sub-VMAR in the hole: INVALID_ARGS comes first.
    let _inner = sub
        .allocate(
            ZX_VM_CAN_MAP_READ | ZX_VM_SPECIFIC,
            (MANY - 2) * PAGEZ,
            PAGEZ,
        )
        .expect("allocate");
    assert_eq!(
        sub.protect(ZX_VM_PERM_READ, VMAR_BASE, MANY * PAGEZ),
        Err(Status::INVALID_ARGS)
    );
    assert!(sub.mappings().iter().all(|m| m.perms.write));
    // And the tree is not left busy: the range can be changed.
    sub.protect(ZX_VM_PERM_READ, VMAR_BASE, (MANY - 2) * PAGEZ)
        .expect("protect");
    drop((root, vmo));
}

#[test]
fn a_specific_overwrite_map_over_many_mappings_works_in_chunks() {
    let (aspace, root, sub, vmo) = many_mappings();
    let big = Vmo::create(frames(), MANY as u64 * PAGE, 0).expect("create");
    let before = points();
    let addr = sub
        .map(
            ZX_VM_PERM_READ | ZX_VM_SPECIFIC_OVERWRITE,
            0,
            big.clone(),
            0,
            MANY * PAGEZ,
            Rights::DEFAULT_VMO,
        )
        .expect("overwrite");
    assert_eq!(addr, VMAR_BASE);
    assert!(points() - before >= 2 * (chunks_of_many() - 1));
    assert_eq!(sub.mapping_count(), 1);
    assert_eq!(aspace.pte_count(), 0);
    assert_eq!(vmo.num_mappings(), 0);
    assert_eq!(big.num_mappings(), 1);
    root.handle_fault(VMAR_BASE + 5 * PAGEZ, false, false)
        .expect("fault in the new mapping");

    // A sub-VMAR at the far end of many mappings: NO_MEMORY, and nothing changed.
    sub.unmap(VMAR_BASE, MANY * PAGEZ).expect("unmap");
    for i in 0..MANY - 1 {
        sub.map(
            ZX_VM_PERM_READ | ZX_VM_SPECIFIC,
            i * PAGEZ,
            vmo.clone(),
            0,
            PAGEZ,
            Rights::DEFAULT_VMO,
        )
        .expect("map");
    }
    let _inner = sub
        .allocate(
            ZX_VM_CAN_MAP_READ | ZX_VM_SPECIFIC,
            (MANY - 1) * PAGEZ,
            PAGEZ,
        )
        .expect("allocate");
    assert_eq!(
        sub.map(
            ZX_VM_PERM_READ | ZX_VM_SPECIFIC_OVERWRITE,
            0,
            big.clone(),
            0,
            MANY * PAGEZ,
            Rights::DEFAULT_VMO,
        ),
        Err(Status::NO_MEMORY)
    );
    assert_eq!(vmo.num_mappings(), MANY - 1);
    assert_eq!(big.num_mappings(), 0);
}

#[test]
fn a_map_range_of_many_pages_works_in_chunks() {
    let aspace = Arc::new(FakeAddressSpace::new());
    let root = Vmar::new_root(aspace.clone() as Arc<dyn AddressSpace>, VMAR_BASE, 1 << 30);
    let f = frames();
    let vmo = written(&f, MANY as u64, 3);
    let before = points();
    root.map(
        ZX_VM_PERM_READ | ZX_VM_MAP_RANGE,
        0,
        vmo.clone(),
        0,
        MANY * PAGEZ,
        Rights::DEFAULT_VMO,
    )
    .expect("map range");
    assert_eq!(points() - before, chunks_of_many() - 1);
    assert_eq!(aspace.pte_count(), MANY);
}

#[test]
fn closing_one_side_of_a_snapshot_the_other_sees_whole_needs_no_walk() {
    let _serial = deferred_serial();
    let f = frames();
    let pages = 8 * preempt::CHUNK_PAGES as u64;
    let a = written(&f, pages, 1);
    let b = a
        .create_child(ZX_VMO_CHILD_SNAPSHOT, 0, pages * PAGE)
        .expect("snapshot");
    // Nobody wrote since the snapshot: closing it leaves nothing unseen, at once.
    drop(b);
    assert!(!a.has_deferred_work());
    assert_eq!(a.family_node_count(), 1);
    assert_eq!(a.committed_bytes(), pages * PAGE);
    assert_charges_add_up(&[&a]);
    // The same from the other side: the snapshot takes the original's charges whole.
    let b = a
        .create_child(ZX_VMO_CHILD_SNAPSHOT, 0, pages * PAGE)
        .expect("snapshot");
    drop(Handle::new(a, Rights::DEFAULT_VMO));
    assert!(!b.has_deferred_work());
    assert_eq!(b.family_node_count(), 1);
    assert_eq!(b.committed_bytes(), pages * PAGE);
    assert_charges_add_up(&[&b]);
    assert_eq!(f.in_use() as u64, pages);
}

/// A mapping for the tests of `ZX_INFO_VMO`: counts how often it is asked its address space.
struct CountingObserver {
    space: u64,
    asked: Arc<std::sync::atomic::AtomicUsize>,
}

impl object::vmar::MappingObserver for CountingObserver {
    fn unmap_target_range(&self, _offset: u64, _len: u64) {}
    fn address_space_id(&self) -> u64 {
        self.asked.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.space
    }
}

#[test]
fn vmo_info_of_a_vmo_mapped_many_times_walks_no_mapping() {
    use object::vmar::{MapTarget, MappingObserver};
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    let vmo = Vmo::create(frames(), PAGE, 0).expect("create");
    let asked = Arc::new(AtomicUsize::new(0));
    let count = 3000;
    let observers: Vec<Arc<CountingObserver>> = (0..count)
        .map(|i| {
            Arc::new(CountingObserver {
                space: 1 + i as u64 % 3,
                asked: asked.clone(),
            })
        })
        .collect();
    let ids: Vec<u64> = observers
        .iter()
        .map(|o| {
            vmo.add_mapping(Arc::downgrade(o) as std::sync::Weak<dyn MappingObserver>)
                .expect("the VMO is alive")
        })
        .collect();
    asked.store(0, SeqCst);
    let info = vmo.info();
    assert_eq!(info.num_mappings, count);
    assert_eq!(info.share_count, 3);
    // Kept up to date at map and unmap time: the query asks no mapping.
    assert_eq!(asked.load(SeqCst), 0);
    // Every mapping of address space 3 goes: two spaces are left.
    for (i, id) in ids.iter().enumerate() {
        if i % 3 == 2 {
            vmo.remove_mapping(*id);
        }
    }
    let info = vmo.info();
    assert_eq!(info.num_mappings, count - count / 3);
    assert_eq!(info.share_count, 2);
    for (i, id) in ids.iter().enumerate() {
        if i % 3 != 2 {
            vmo.remove_mapping(*id);
        }
    }
    assert_eq!(vmo.info().share_count, 0);
    assert_eq!(asked.load(SeqCst), 0);
}

/// Mappings for the invalidation and placement tests.
const LOTS: usize = 3000;

#[test]
fn invalidating_a_page_of_a_vmo_mapped_many_times_calls_only_the_mappings_over_it() {
    let aspace = Arc::new(FakeAddressSpace::new());
    let root = Vmar::new_root(aspace.clone() as Arc<dyn AddressSpace>, VMAR_BASE, 1 << 36);
    let vmo = written(&frames(), LOTS as u64, 1);
    // Mapping i shows page i of the VMO, with its entry.
    for i in 0..LOTS {
        root.map(
            ZX_VM_PERM_READ | ZX_VM_SPECIFIC,
            i * PAGEZ,
            vmo.clone(),
            i as u64 * PAGE,
            PAGEZ,
            Rights::DEFAULT_VMO,
        )
        .expect("map");
        root.handle_fault(VMAR_BASE + i * PAGEZ, false, false)
            .expect("fault");
    }
    // One mapping of the whole VMO, cut down to its last page (its head unmapped), and one
    // of the first half cut in two by a protect: their ranges narrow with them.
    let whole = root
        .map(
            ZX_VM_PERM_READ,
            0,
            vmo.clone(),
            0,
            LOTS * PAGEZ,
            Rights::DEFAULT_VMO,
        )
        .expect("map whole");
    root.unmap(whole, (LOTS - 1) * PAGEZ).expect("unmap head");
    let half = root
        .map(
            ZX_VM_PERM_READ | ZX_VM_PERM_WRITE,
            0,
            vmo.clone(),
            0,
            LOTS / 2 * PAGEZ,
            Rights::DEFAULT_VMO,
        )
        .expect("map half");
    root.protect(ZX_VM_PERM_READ, half + 2 * PAGEZ, PAGEZ)
        .expect("protect");
    assert_eq!(vmo.num_mappings(), LOTS + 1 + 3);

    let (calls, _) = root.test_counts();
    vmo.op_range(
        ZX_VMO_OP_DECOMMIT,
        5 * PAGE,
        PAGE,
        &CountingCache::default(),
    )
    .expect("decommit");
    // Mapping 5 and the part of `half` over page 5; nobody else.
    assert_eq!(root.test_counts().0 - calls, 2);
    assert!(aspace.pte(VMAR_BASE + 5 * PAGEZ).is_none());
    assert!(aspace.pte(VMAR_BASE + 4 * PAGEZ).is_some());

    let (calls, _) = root.test_counts();
    vmo.op_range(
        ZX_VMO_OP_DECOMMIT,
        (LOTS as u64 - 1) * PAGE,
        PAGE,
        &CountingCache::default(),
    )
    .expect("decommit last");
    // The last one-page mapping and what is left of `whole`.
    assert_eq!(root.test_counts().0 - calls, 2);
    assert!(aspace.pte(VMAR_BASE + (LOTS - 1) * PAGEZ).is_none());
}

#[test]
fn a_map_without_specific_among_many_mappings_finds_its_gap_in_few_steps() {
    let aspace = Arc::new(FakeAddressSpace::new());
    let root = Vmar::new_root(aspace.clone() as Arc<dyn AddressSpace>, VMAR_BASE, 1 << 36);
    let vmo = Vmo::create(frames(), PAGE, 0).expect("create");
    let map = |options: u32| {
        root.map(
            ZX_VM_PERM_READ | options,
            0,
            vmo.clone(),
            0,
            PAGEZ,
            Rights::DEFAULT_VMO,
        )
    };
    // First fit from the bottom: one after the other.
    for i in 0..LOTS {
        assert_eq!(map(0), Ok(VMAR_BASE + i * PAGEZ));
    }
    let (_, visits) = root.test_counts();
    assert_eq!(map(0), Ok(VMAR_BASE + LOTS * PAGEZ));
    assert!(
        root.test_counts().1 - visits <= 2,
        "a walk over the children"
    );
    // A hole near the top is found first fit, and so is one further down.
    root.unmap(VMAR_BASE + (LOTS - 10) * PAGEZ, PAGEZ)
        .expect("unmap");
    root.unmap(VMAR_BASE + 7 * PAGEZ, PAGEZ).expect("unmap");
    assert_eq!(map(0), Ok(VMAR_BASE + 7 * PAGEZ));
    assert_eq!(map(0), Ok(VMAR_BASE + (LOTS - 10) * PAGEZ));
    // Many one-page holes at odd pages and a map aligned to two pages: a few holes are
    // tried, then the first gap large enough at any alignment; never a walk over all.
    for i in (1..LOTS).step_by(2) {
        root.unmap(VMAR_BASE + i * PAGEZ, PAGEZ).expect("unmap");
    }
    let (_, visits) = root.test_counts();
    let aligned = map(13 << ZX_VM_ALIGN_BASE).expect("aligned map");
    assert_eq!(aligned % (2 * PAGEZ), 0);
    assert!(aligned >= VMAR_BASE + LOTS * PAGEZ);
    assert!(root.test_counts().1 - visits <= 17);
    // An allocation uses the same search.
    let (_, visits) = root.test_counts();
    let sub = root
        .allocate(ZX_VM_CAN_MAP_READ, 0, 2 * PAGEZ)
        .expect("allocate");
    assert!(sub.base() >= VMAR_BASE + LOTS * PAGEZ);
    assert!(root.test_counts().1 - visits <= 17);
}

#[test]
fn a_failed_map_range_among_many_mappings_looks_only_at_its_own_range() {
    let aspace = Arc::new(FakeAddressSpace::new());
    let root = Vmar::new_root(aspace.clone() as Arc<dyn AddressSpace>, VMAR_BASE, 1 << 36);
    let vmo = written(&frames(), 4, 1);
    for i in 0..LOTS {
        root.map(
            ZX_VM_PERM_READ | ZX_VM_SPECIFIC,
            i * PAGEZ,
            vmo.clone(),
            0,
            PAGEZ,
            Rights::DEFAULT_VMO,
        )
        .expect("map");
    }
    aspace.fail_nth_map(3);
    let (_, visits) = root.test_counts();
    assert_eq!(
        root.map(
            ZX_VM_PERM_READ | ZX_VM_MAP_RANGE | ZX_VM_SPECIFIC,
            (LOTS + 1) * PAGEZ,
            vmo.clone(),
            0,
            4 * PAGEZ,
            Rights::DEFAULT_VMO,
        ),
        Err(Status::NO_MEMORY)
    );
    // The cleanup looked at the one mapping in the range, not at the many.
    assert!(root.test_counts().1 - visits <= 2);
    assert!(root.mapping_at(VMAR_BASE + (LOTS + 1) * PAGEZ).is_none());
    assert_eq!(aspace.pte_count(), 0);
    assert_eq!(vmo.num_mappings(), LOTS);
}

/// A root VMAR whose fake page table clears at most `STEP_ENTRIES` entries a step (as a real
/// one clears at most `UNMAP_TABLES` tables), and a VMO of `pages` pages.
const STEP_ENTRIES: usize = 64;

fn stepping_space(pages: u64) -> (Arc<FakeAddressSpace>, Arc<Vmar>, Arc<Vmo>) {
    stepping_space_in(&frames(), pages)
}

fn stepping_space_in(
    f: &Arc<TestFrames>,
    pages: u64,
) -> (Arc<FakeAddressSpace>, Arc<Vmar>, Arc<Vmo>) {
    let aspace = Arc::new(FakeAddressSpace::new());
    aspace.limit_unmap_steps(Some(STEP_ENTRIES));
    let root = Vmar::new_root(aspace.clone() as Arc<dyn AddressSpace>, VMAR_BASE, 1 << 36);
    let vmo = Vmo::create(f.clone(), pages * PAGE, 0).expect("create");
    (aspace, root, vmo)
}

/// Maps `pages` pages of `vmo` at `offset` of `vmar` with every entry installed.
fn populated(vmar: &Arc<Vmar>, vmo: &Arc<Vmo>, offset: usize, pages: usize) -> usize {
    vmar.map(
        ZX_VM_PERM_READ | ZX_VM_SPECIFIC | ZX_VM_MAP_RANGE,
        offset,
        vmo.clone(),
        0,
        pages * PAGEZ,
        Rights::DEFAULT_VMO,
    )
    .expect("map range")
}

#[test]
fn unmapping_one_mapping_with_many_entries_works_in_steps() {
    let pages = 16 * STEP_ENTRIES;
    let steps = pages / STEP_ENTRIES;
    let (aspace, root, vmo) = stepping_space(pages as u64);

    // The whole mapping.
    let base = populated(&root, &vmo, 0, pages);
    assert_eq!(aspace.pte_count(), pages);
    let before = points();
    root.unmap(base, pages * PAGEZ).expect("unmap");
    assert!(points() - before >= steps - 1);
    assert_eq!(aspace.pte_count(), 0);
    assert_eq!(root.mapping_count(), 0);
    assert_eq!(vmo.num_mappings(), 0);

    // Its top part: cleared from the top down, the bottom stays mapped with its entries.
    let base = populated(&root, &vmo, 0, pages);
    let before = points();
    root.unmap(base + 100 * PAGEZ, (pages - 100) * PAGEZ)
        .expect("unmap top");
    assert!(points() - before >= (pages - 100) / STEP_ENTRIES - 1);
    assert_eq!(aspace.pte_count(), 100);
    assert_eq!(
        root.mapping_at(base + 99 * PAGEZ).map(|m| m.size),
        Some(100 * PAGEZ)
    );
    assert!(root.mapping_at(base + 100 * PAGEZ).is_none());
    root.unmap(base, 100 * PAGEZ).expect("unmap rest");

    // Its middle: split, then the middle cleared in steps; both ends keep their entries.
    let base = populated(&root, &vmo, 0, pages);
    let before = points();
    root.unmap(base + 100 * PAGEZ, (pages - 200) * PAGEZ)
        .expect("unmap middle");
    assert!(points() - before >= (pages - 200) / STEP_ENTRIES - 1);
    assert_eq!(aspace.pte_count(), 200);
    let left = root.mapping_at(base).expect("left part");
    let right = root
        .mapping_at(base + (pages - 1) * PAGEZ)
        .expect("right part");
    assert_eq!((left.size, right.size), (100 * PAGEZ, 100 * PAGEZ));
    assert_eq!(right.target_offset, (pages as u64 - 100) * PAGE);
    assert_eq!(vmo.num_mappings(), 2);
    root.unmap(base, pages * PAGEZ).expect("unmap all");
    assert_eq!(vmo.num_mappings(), 0);
    assert!(root.check_gaps().is_ok());

    // A sub-VMAR holding one such mapping, destroyed.
    let sub = root
        .allocate(
            ZX_VM_CAN_MAP_READ | ZX_VM_CAN_MAP_SPECIFIC,
            0,
            pages * PAGEZ,
        )
        .expect("allocate");
    populated(&sub, &vmo, 0, pages);
    let before = points();
    sub.destroy().expect("destroy");
    assert!(points() - before >= steps - 1);
    assert_eq!(aspace.pte_count(), 0);
    assert_eq!(vmo.num_mappings(), 0);
}

#[test]
fn an_overwrite_of_one_mapping_with_many_entries_works_in_steps() {
    // Larger than one step can take at 64 tables: the chunked path, with a split.
    let pages = 40_000;
    let (aspace, root, vmo) = stepping_space(pages as u64);
    let base = populated(&root, &vmo, 0, pages);
    let other = Vmo::create(frames(), PAGE, 0).expect("create");
    let before = points();
    root.map(
        ZX_VM_PERM_READ | ZX_VM_SPECIFIC_OVERWRITE,
        PAGEZ,
        other.clone(),
        0,
        (pages - 2) * PAGEZ,
        Rights::DEFAULT_VMO,
    )
    .expect("overwrite");
    assert!(points() - before >= (pages - 2) / STEP_ENTRIES - 1);
    // The two ends stay, with their entries; the middle is the new mapping, without any.
    assert_eq!(aspace.pte_count(), 2);
    assert!(aspace.pte(base).is_some());
    assert!(aspace.pte(base + (pages - 1) * PAGEZ).is_some());
    assert_eq!(
        root.mapping_at(base + PAGEZ).map(|m| m.target_koid),
        Some(other.base().koid())
    );
    assert_eq!(vmo.num_mappings(), 2);
    assert_eq!(other.num_mappings(), 1);
    assert!(root.check_gaps().is_ok());
}

#[test]
fn teardown_of_an_address_space_with_one_mapping_of_many_entries_works_in_steps() {
    let _serial = deferred_serial();
    let pages = 16 * STEP_ENTRIES;
    let (aspace, root, vmo) = stepping_space(pages as u64);
    populated(&root, &vmo, 0, pages);
    let before = points();
    root.tear_down();
    // The first step here, the rest later.
    assert_eq!(points(), before);
    assert_eq!(aspace.pte_count(), pages - STEP_ENTRIES);
    assert_eq!(vmo.num_mappings(), 1);
    object::vmar::finish_teardowns();
    assert!(points() - before >= pages / STEP_ENTRIES - 2);
    assert_eq!(aspace.pte_count(), 0);
    assert_eq!(vmo.num_mappings(), 0);
}

#[test]
fn a_failed_map_range_with_many_entries_is_undone_in_steps() {
    let pages = 16 * STEP_ENTRIES;
    let (aspace, root, vmo) = stepping_space(pages as u64);
    // The points of filling it in.
    let before = points();
    let base = populated(&root, &vmo, 0, pages);
    let filling = points() - before;
    root.unmap(base, pages * PAGEZ).expect("unmap");
    // The last entry fails: every other one was installed and must go again.
    aspace.fail_nth_map(pages);
    let before = points();
    assert_eq!(
        root.map(
            ZX_VM_PERM_READ | ZX_VM_SPECIFIC | ZX_VM_MAP_RANGE,
            0,
            vmo.clone(),
            0,
            pages * PAGEZ,
            Rights::DEFAULT_VMO,
        ),
        Err(Status::NO_MEMORY)
    );
    // The undoing took a step per `STEP_ENTRIES` entries after the filling.
    assert!(points() - before >= filling + (pages - 1) / STEP_ENTRIES - 2);
    assert_eq!(aspace.pte_count(), 0);
    assert_eq!(root.mapping_count(), 0);
    assert_eq!(vmo.num_mappings(), 0);
    assert!(root.check_gaps().is_ok());
}

#[test]
fn a_chunk_clears_a_bounded_number_of_entries_over_all_its_mappings() {
    // Fewer mappings than a chunk handles, with more entries in all than a chunk clears.
    const MAPPINGS: usize = 16;
    let (aspace, root, vmo) = stepping_space(STEP_ENTRIES as u64);
    let map_all = |vmar: &Arc<Vmar>| {
        for i in 0..MAPPINGS {
            populated(vmar, &vmo, i * STEP_ENTRIES * PAGEZ, STEP_ENTRIES);
        }
        assert_eq!(aspace.pte_count(), MAPPINGS * STEP_ENTRIES);
    };
    let span = MAPPINGS * STEP_ENTRIES * PAGEZ;

    map_all(&root);
    let before = points();
    root.unmap(VMAR_BASE, span).expect("unmap");
    assert!(points() - before >= MAPPINGS - 1);
    assert_eq!(aspace.pte_count(), 0);
    assert_eq!(vmo.num_mappings(), 0);

    let sub = root
        .allocate(ZX_VM_CAN_MAP_READ | ZX_VM_CAN_MAP_SPECIFIC, 0, span)
        .expect("allocate");
    map_all(&sub);
    let before = points();
    sub.destroy().expect("destroy");
    assert!(points() - before >= MAPPINGS - 1);
    assert_eq!(aspace.pte_count(), 0);
    assert_eq!(vmo.num_mappings(), 0);
    assert!(root.check_gaps().is_ok());
}

#[test]
fn an_overwrite_of_a_few_mappings_with_many_entries_in_all_works_in_chunks() {
    // Each one small enough for one chunk, not all four together.
    const MAPPINGS: usize = 4;
    let pages = (40 << 20) / PAGEZ;
    let (aspace, root, vmo) = stepping_space(pages as u64);
    for i in 0..MAPPINGS {
        populated(&root, &vmo, i * pages * PAGEZ, pages);
    }
    let other = Vmo::create(frames(), PAGE, 0).expect("create");
    let before = points();
    root.map(
        ZX_VM_PERM_READ | ZX_VM_SPECIFIC_OVERWRITE,
        0,
        other.clone(),
        0,
        MAPPINGS * pages * PAGEZ,
        Rights::DEFAULT_VMO,
    )
    .expect("overwrite");
    assert!(points() - before >= MAPPINGS * pages / STEP_ENTRIES - 1);
    assert_eq!(aspace.pte_count(), 0);
    assert_eq!(vmo.num_mappings(), 0);
    assert_eq!(other.num_mappings(), 1);
    assert!(root.check_gaps().is_ok());
}

/// A clone of `top` of `pages` pages that wrote every page with 2, and `children` clones of
/// it; the first child writes its even pages with 3. Returns the clone and the children.
fn clone_with_children(top: &Arc<Vmo>, pages: u64, children: usize) -> (Arc<Vmo>, Vec<Arc<Vmo>>) {
    let x = top
        .create_clone(ZX_VMO_CLONE_COPY_ON_WRITE, 0, pages * PAGE)
        .expect("clone");
    write_pages(&x, 0..pages, 2);
    let kids: Vec<Arc<Vmo>> = (0..children)
        .map(|_| {
            x.create_clone(ZX_VMO_CLONE_COPY_ON_WRITE, 0, pages * PAGE)
                .expect("clone")
        })
        .collect();
    write_pages(&kids[0], (0..pages).step_by(2), 3);
    (x, kids)
}

/// What the first child of [`clone_with_children`] reads at `page`; the others read 2.
fn first_child_page(page: u64) -> u8 {
    if page.is_multiple_of(2) {
        3
    } else {
        2
    }
}

#[test]
fn closing_a_clone_that_has_clone_children_lets_go_in_chunks_later() {
    let _serial = deferred_serial();
    let pages = 8 * preempt::CHUNK_PAGES as u64;
    for children in [1, 2] {
        let f = frames();
        let a = written(&f, pages, 1);
        let (x, kids) = clone_with_children(&a, pages, children);
        let before = points();
        drop(Handle::new(x, Rights::DEFAULT_VMO));
        // Closing passes no point and walks nothing: the clone's pages wait, still read by
        // its children, and its charges with them.
        assert_eq!(points(), before);
        assert!(a.has_deferred_work());
        assert_pages(&kids[0], first_child_page);
        a.check_family_charges().expect("charges");
        let passed = do_deferred_work();
        // Its pages become dead a chunk at a time, one point between two chunks.
        assert!(passed >= 7, "{children} children: {passed} points");
        assert!(!a.has_deferred_work());
        assert_pages(&a, |_| 1);
        assert_pages(&kids[0], first_child_page);
        for kid in &kids[1..] {
            assert_pages(kid, |_| 2);
        }
        let mut all: Vec<&Vmo> = vec![&a];
        all.extend(kids.iter().map(|k| &**k));
        assert_charges_add_up(&all);
        // The first child's odd pages are the clone's and its charge; with another child,
        // the clone's even pages are that one's. Nobody sees the rest.
        assert_eq!(kids[0].committed_bytes(), pages * PAGE);
        let held = if children == 1 {
            2 * pages
        } else {
            5 * pages / 2
        };
        assert_eq!(f.in_use() as u64, held, "{children} children");
        drop(kids);
        drop(a);
        do_deferred_work();
        assert_eq!(f.in_use(), 0);
    }
}

#[test]
fn closing_a_clone_read_by_a_thousand_clones_lets_go_of_fewer_pages_a_chunk() {
    let _serial = deferred_serial();
    let pages = 2 * preempt::CHUNK_PAGES as u64;
    let f = frames();
    let a = written(&f, pages, 1);
    let x = a
        .create_clone(ZX_VMO_CLONE_COPY_ON_WRITE, 0, pages * PAGE)
        .expect("clone");
    write_pages(&x, 0..pages, 2);
    // One-page clones first in child order: finding who sees each page looks at all of
    // them, so a chunk of 64 pages would hold the lock far too long.
    let small: Vec<Arc<Vmo>> = (0..1024)
        .map(|_| {
            x.create_clone(ZX_VMO_CLONE_COPY_ON_WRITE, 0, PAGE)
                .expect("clone")
        })
        .collect();
    let whole = x
        .create_clone(ZX_VMO_CLONE_COPY_ON_WRITE, 0, pages * PAGE)
        .expect("clone");
    let before = points();
    drop(Handle::new(x, Rights::DEFAULT_VMO));
    assert_eq!(points(), before);
    let passed = do_deferred_work();
    // One page a chunk.
    assert!(
        passed >= pages as usize,
        "{passed} points for {pages} pages"
    );
    assert_pages(&whole, |_| 2);
    assert_eq!(whole.committed_bytes(), (pages - 1) * PAGE);
    assert_eq!(small[0].committed_bytes(), PAGE);
    assert_eq!(small[1].committed_bytes(), 0);
    drop((small, whole, a));
    do_deferred_work();
    assert_eq!(f.in_use(), 0);
}

#[test]
fn closing_a_snapshot_or_a_first_vmo_that_has_clone_children_lets_go_in_chunks_later() {
    let _serial = deferred_serial();
    let pages = 8 * preempt::CHUNK_PAGES as u64;
    // A snapshot (under a hidden node it shares with the original) with clones of its own.
    let f = frames();
    let (a, b) = original_and_snapshot(&f, pages);
    write_pages(&a, 0..pages, 5);
    let c = b
        .create_clone(ZX_VMO_CLONE_COPY_ON_WRITE, 0, pages * PAGE)
        .expect("clone");
    write_pages(&c, [1], 6);
    drop(Handle::new(b, Rights::DEFAULT_VMO));
    assert!(a.has_deferred_work());
    let passed = do_deferred_work();
    assert!(passed >= 7, "{passed} points");
    assert_pages(&a, |_| 5);
    assert_pages(&c, |page| [2, 6, 1][page.min(2) as usize]);
    assert_charges_add_up(&[&a, &c]);
    assert_eq!(c.committed_bytes(), pages * PAGE);
    assert_eq!(f.in_use() as u64, 2 * pages);
    // A first VMO with a clone that wrote a few pages: all the others pass to the clone.
    let f = frames();
    let a = written(&f, pages, 1);
    let c = a
        .create_clone(ZX_VMO_CLONE_COPY_ON_WRITE, 0, pages * PAGE)
        .expect("clone");
    write_pages(&c, [0, 3], 7);
    drop(Handle::new(a, Rights::DEFAULT_VMO));
    assert!(c.has_deferred_work());
    let passed = do_deferred_work();
    assert!(passed >= 7, "{passed} points");
    assert_pages(&c, |page| if page == 0 || page == 3 { 7 } else { 1 });
    assert_charges_add_up(&[&c]);
    assert_eq!(c.committed_bytes(), pages * PAGE);
    assert_eq!(c.family_node_count(), 1);
    assert_eq!(f.in_use() as u64, pages);
}

/// Runs `actions` one at each of the next preemption points of this thread, in order.
fn at_each_next_point(mut actions: Vec<Box<dyn FnOnce()>>) {
    if actions.is_empty() {
        return;
    }
    let action = actions.remove(0);
    at_next_point(move || {
        action();
        at_each_next_point(actions);
    });
}

#[test]
fn the_family_stays_whole_between_the_chunks_of_letting_go_of_a_clone() {
    let _serial = deferred_serial();
    let pages = 8 * preempt::CHUNK_PAGES as u64;
    let f = frames();
    let a = written(&f, pages, 1);
    let (x, kids) = clone_with_children(&a, pages, 3);
    let mut kids = kids.into_iter();
    let (c1, c2, c3) = (
        kids.next().expect("child"),
        kids.next().expect("child"),
        kids.next().expect("child"),
    );
    drop(Handle::new(x, Rights::DEFAULT_VMO));
    // Between the chunks: writes, a commit, a decommit, a shrink and a grow, a clone of a
    // child and a close of it, a child closed, and the first VMO's write (what the clone saw
    // of it is the clone's own: nothing changes below).
    let (w1, w2, w3) = (c1.clone(), c2.clone(), c3.clone());
    let grandchild = Arc::new(std::sync::Mutex::new(None));
    let (g1, g2) = (grandchild.clone(), grandchild.clone());
    let closing = Arc::new(std::sync::Mutex::new(Some(c3)));
    let top = a.clone();
    let check = {
        let (a, c1, c2) = (a.clone(), c1.clone(), c2.clone());
        move |decommitted: bool| {
            a.check_family_charges().expect("charges");
            assert_pages(&a, |page| if page == 5 { 9 } else { 1 });
            assert_pages(&c1, |page| match page {
                _ if page == pages - 1 => 4,
                _ => first_child_page(page),
            });
            assert_pages(&c2, |page| match page {
                300 if decommitted => 0,
                _ => 2,
            });
        }
    };
    let (k1, k2, k3, k4, k5) = (
        check.clone(),
        check.clone(),
        check.clone(),
        check.clone(),
        check.clone(),
    );
    at_each_next_point(vec![
        Box::new(move || {
            w1.write((pages - 1) * PAGE, &[4; PAGE as usize])
                .expect("write");
            top.write(5 * PAGE, &[9; PAGE as usize]).expect("write");
            k1(false);
        }),
        Box::new(move || {
            let cache = CountingCache::default();
            w2.op_range(ZX_VMO_OP_DECOMMIT, 300 * PAGE, PAGE, &cache)
                .expect("decommit");
            w2.op_range(ZX_VMO_OP_COMMIT, 100 * PAGE, 50 * PAGE, &cache)
                .expect("commit");
            k2(true);
        }),
        Box::new(move || {
            let g = w3
                .create_clone(ZX_VMO_CLONE_COPY_ON_WRITE, 0, pages * PAGE)
                .expect("clone");
            assert_pages(&g, |_| 2);
            *g1.lock().expect("slot") = Some(g);
            drop(closing.lock().expect("slot").take());
            k3(true);
        }),
        Box::new(move || {
            drop(g2.lock().expect("slot").take());
            k4(true);
        }),
        Box::new(move || {
            k5(true);
        }),
    ]);
    do_deferred_work();
    assert!(grandchild.lock().expect("slot").is_none());
    check(true);
    assert!(!a.has_deferred_work());
    assert_charges_add_up(&[&a, &c1, &c2]);
    // Shrinking and growing the second child, closing the first: what is left is seen.
    c2.set_size(10 * PAGE).expect("shrink");
    c2.set_size(pages * PAGE).expect("grow");
    assert_pages(&c2, |page| if page < 10 { 2 } else { 0 });
    drop(Handle::new(c1, Rights::DEFAULT_VMO));
    do_deferred_work();
    assert_charges_add_up(&[&a, &c2]);
    drop(Handle::new(c2, Rights::DEFAULT_VMO));
    do_deferred_work();
    assert_eq!(a.family_node_count(), 1);
    assert_eq!(f.in_use() as u64, pages);
    assert_charges_add_up(&[&a]);
}

/// A root VMAR like `stepping_space`'s with a read-write mapping of `pages` written pages at
/// its base, every entry installed and writable.
fn writable_mapping(pages: usize) -> (Arc<FakeAddressSpace>, Arc<Vmar>, Arc<Vmo>, usize) {
    let (aspace, root, vmo) = stepping_space(pages as u64);
    write_pages(&vmo, 0..pages as u64, 1);
    let base = root
        .map(
            ZX_VM_PERM_READ | ZX_VM_PERM_WRITE | ZX_VM_SPECIFIC | ZX_VM_MAP_RANGE,
            0,
            vmo.clone(),
            0,
            pages * PAGEZ,
            Rights::DEFAULT_VMO,
        )
        .expect("map range");
    assert_eq!(writable_entries(&aspace), pages);
    (aspace, root, vmo, base)
}

fn writable_entries(aspace: &FakeAddressSpace) -> usize {
    aspace.ptes().values().filter(|(_, p)| p.write).count()
}

#[test]
fn protecting_one_mapping_with_many_entries_works_in_steps() {
    let pages = 16 * STEP_ENTRIES;
    let steps = pages / STEP_ENTRIES;
    let span = pages * PAGEZ;
    let (aspace, root, vmo, base) = writable_mapping(pages);

    // Read-only. Between two steps a fault already finds the new permissions, while entries
    // not rewritten yet may keep the old ones until the call returns.
    let r = root.clone();
    at_next_point(move || {
        assert_eq!(r.mapping_at(base).map(|m| m.perms.write), Some(false));
        let top = base + span - PAGEZ;
        assert_eq!(r.handle_fault(top, true, false), Err(Status::ACCESS_DENIED));
    });
    let before = points();
    root.protect(ZX_VM_PERM_READ, base, span).expect("protect");
    assert!(points() - before >= steps - 1);
    assert_eq!(aspace.pte_count(), pages);
    assert_eq!(writable_entries(&aspace), 0);

    // Its middle back to read-write: split, the middle's entries changed in steps (write
    // comes back with write faults), both ends stay read-only.
    let before = points();
    root.protect(
        ZX_VM_PERM_READ | ZX_VM_PERM_WRITE,
        base + 100 * PAGEZ,
        span - 200 * PAGEZ,
    )
    .expect("protect middle");
    assert!(points() - before >= (pages - 200) / STEP_ENTRIES - 1);
    assert_eq!(vmo.num_mappings(), 3);
    assert_eq!(aspace.pte_count(), pages);
    assert_eq!(root.handle_fault(base + 100 * PAGEZ, true, false), Ok(()));
    assert_eq!(
        root.handle_fault(base + 99 * PAGEZ, true, false),
        Err(Status::ACCESS_DENIED)
    );

    // No permissions: the entries go, in steps.
    let before = points();
    root.protect(0, base, span).expect("protect to none");
    assert!(points() - before >= steps - 1);
    assert_eq!(aspace.pte_count(), 0);
    assert_eq!(
        root.handle_fault(base, false, false),
        Err(Status::ACCESS_DENIED)
    );
    assert!(root.check_gaps().is_ok());
}

#[test]
fn protecting_many_mappings_and_one_with_many_entries_works_in_steps() {
    // More children than a chunk, then one mapping whose entries take many steps.
    const SMALL: usize = 100;
    let pages = 16 * STEP_ENTRIES;
    let (aspace, root, vmo) = stepping_space((SMALL + pages) as u64);
    write_pages(&vmo, 0..(SMALL + pages) as u64, 1);
    let rw_range = ZX_VM_PERM_READ | ZX_VM_PERM_WRITE | ZX_VM_SPECIFIC | ZX_VM_MAP_RANGE;
    for i in 0..SMALL {
        root.map(
            rw_range,
            i * PAGEZ,
            vmo.clone(),
            0,
            PAGEZ,
            Rights::DEFAULT_VMO,
        )
        .expect("map");
    }
    root.map(
        rw_range,
        SMALL * PAGEZ,
        vmo.clone(),
        0,
        pages * PAGEZ,
        Rights::DEFAULT_VMO,
    )
    .expect("map range");
    assert_eq!(writable_entries(&aspace), SMALL + pages);
    let before = points();
    root.protect(ZX_VM_PERM_READ, VMAR_BASE, (SMALL + pages) * PAGEZ)
        .expect("protect");
    assert!(points() - before >= pages / STEP_ENTRIES);
    assert_eq!(aspace.pte_count(), SMALL + pages);
    assert_eq!(writable_entries(&aspace), 0);
    assert!(root.mappings().iter().all(|m| !m.perms.write));
    assert_eq!(root.mapping_count(), SMALL + 1);
}

#[test]
fn a_protect_killed_between_steps_leaves_no_entry_more_rights_than_its_mapping() {
    let _serial = deferred_serial();
    let pages = 16 * STEP_ENTRIES;
    let span = pages * PAGEZ;
    let (aspace, root, vmo, base) = writable_mapping(pages);
    at_next_point(|| KILLED.with(|k| k.set(true)));
    let _ = root.protect(ZX_VM_PERM_READ, base, span);
    KILLED.with(|k| k.set(false));
    // The tree has the new permissions and the first step's entries too; the entries the
    // call did not reach are left for later, and then go (faults bring them back).
    assert_eq!(root.mapping_at(base).map(|m| m.perms.write), Some(false));
    object::free_deferred();
    assert_eq!(writable_entries(&aspace), 0);
    assert_eq!(aspace.pte_count(), STEP_ENTRIES);
    assert_eq!(root.handle_fault(base + span - PAGEZ, false, false), Ok(()));
    assert_eq!(
        root.handle_fault(base + span - PAGEZ, true, false),
        Err(Status::ACCESS_DENIED)
    );
    // Nothing waits for the abandoned call: the tree changes again.
    root.unmap(base, span).expect("unmap");
    assert_eq!(aspace.pte_count(), 0);
    assert_eq!(vmo.num_mappings(), 0);
}

#[test]
fn a_protect_whose_address_space_is_torn_down_between_steps_stops() {
    let _serial = deferred_serial();
    let pages = 16 * STEP_ENTRIES;
    let (aspace, root, vmo, base) = writable_mapping(pages);
    let r = root.clone();
    at_next_point(move || r.tear_down());
    let before = points();
    assert_eq!(root.protect(ZX_VM_PERM_READ, base, pages * PAGEZ), Ok(()));
    // It stopped at its first point: the teardown takes the rest.
    assert_eq!(points() - before, 1);
    object::vmar::finish_teardowns();
    assert_eq!(aspace.pte_count(), 0);
    assert_eq!(vmo.num_mappings(), 0);
    assert_eq!(
        root.protect(ZX_VM_PERM_READ, base, PAGEZ),
        Err(Status::BAD_STATE)
    );
}

/// Runs `check` at every preemption point of this thread from now on, until
/// `stop_every_point`.
fn at_every_point(check: std::rc::Rc<dyn Fn()>) {
    let again = check.clone();
    at_next_point(move || {
        again();
        at_every_point(again.clone());
    });
}

fn stop_every_point() {
    AT_POINT.with(|a| *a.borrow_mut() = None);
}

/// Every entry of the mapping of `vmo` at `base` (of `pages` pages) shows the page the VMO
/// shows there now.
fn entries_show_the_vmo(aspace: &FakeAddressSpace, vmo: &Vmo, base: usize, pages: usize) {
    use object::vmar::MapTarget;
    for (va, (frame, _)) in aspace.ptes().range(base..base + pages * PAGEZ) {
        let shown = vmo
            .fault_page((va - base) as u64, false, true)
            .expect("an entry within the VMO");
        assert_eq!(
            *frame, shown.frame,
            "the entry at {va:#x} shows another page"
        );
    }
}

#[test]
fn decommit_under_a_mapping_of_many_entries_unmaps_them_in_steps() {
    let pages = 16 * STEP_ENTRIES;
    let (aspace, root, vmo) = stepping_space(pages as u64);
    write_pages(&vmo, [0, 5, pages as u64 / 2, pages as u64 - 1], 7);
    let base = populated(&root, &vmo, 0, pages);
    assert_eq!(aspace.pte_count(), pages);
    // At every point: the entries left show what the VMO holds, a fault at each end (one in
    // the part done, one in the part to do) maps what it holds then, and one step cleared at
    // most a step's entries (a table a mapping more: here an entry).
    let left = std::rc::Rc::new(Cell::new(pages));
    let steps = std::rc::Rc::new(Cell::new(0usize));
    let (a, v, r, l, s) = (
        aspace.clone(),
        vmo.clone(),
        root.clone(),
        left.clone(),
        steps.clone(),
    );
    at_every_point(std::rc::Rc::new(move || {
        let cleared = l.get() - a.pte_count().min(l.get());
        assert!(
            cleared <= STEP_ENTRIES + 1,
            "a step cleared {cleared} entries"
        );
        s.set(s.get() + 1);
        entries_show_the_vmo(&a, &v, base, pages);
        r.handle_fault(base, false, false).expect("fault");
        r.handle_fault(base + (pages - 1) * PAGEZ, false, false)
            .expect("fault");
        entries_show_the_vmo(&a, &v, base, pages);
        l.set(a.pte_count());
    }));
    vmo.op_range(
        ZX_VMO_OP_DECOMMIT,
        0,
        pages as u64 * PAGE,
        &CountingCache::default(),
    )
    .expect("decommit");
    stop_every_point();
    assert!(
        steps.get() >= pages / STEP_ENTRIES - 1,
        "{} steps",
        steps.get()
    );
    assert_eq!(vmo.committed_bytes(), 0);
    entries_show_the_vmo(&aspace, &vmo, base, pages);
    assert_pages(&vmo, |_| 0);
}

#[test]
fn decommit_of_a_huge_range_under_a_mapping_of_few_entries_costs_nothing_more() {
    let (aspace, root, vmo) = stepping_space(1 << 30);
    write_pages(&vmo, [0, 3], 1);
    let base = populated(&root, &vmo, 0, 8);
    assert_eq!(aspace.pte_count(), 8);
    let before = points();
    vmo.op_range(ZX_VMO_OP_DECOMMIT, 0, 1 << 42, &CountingCache::default())
        .expect("decommit");
    assert_eq!(points(), before, "a range without entries took steps");
    assert_eq!(aspace.pte_count(), 0);
    let _ = base;
}

#[test]
fn shrinking_under_mappings_of_many_entries_unmaps_them_in_steps_before_freeing() {
    let pages = 16 * STEP_ENTRIES;
    let f = frames();
    let (aspace, root, vmo) = stepping_space_in(&f, pages as u64);
    write_pages(&vmo, 0..pages as u64, 3);
    let clone = vmo
        .create_clone(ZX_VMO_CLONE_COPY_ON_WRITE, 0, pages as u64 * PAGE)
        .expect("clone");
    let base = populated(&root, &vmo, 0, pages);
    let cbase = populated(&root, &clone, pages * PAGEZ, pages);
    assert_eq!(aspace.pte_count(), 2 * pages);
    let held = f.in_use();
    // At every point: while an entry shows a dropped page (any entry of the VMO's mapping,
    // any of the clone's but the zero page), no page was freed; one step cleared at most a
    // step's entries; faults see the new size.
    let left = std::rc::Rc::new(Cell::new(2 * pages));
    let steps = std::rc::Rc::new(Cell::new(0usize));
    let (a, r, l, s, fr) = (
        aspace.clone(),
        root.clone(),
        left.clone(),
        steps.clone(),
        f.clone(),
    );
    let zero = object::frames::FrameAllocator::zero_page(&*f);
    at_every_point(std::rc::Rc::new(move || {
        let cleared = l.get() - a.pte_count().min(l.get());
        assert!(
            cleared <= STEP_ENTRIES + 2,
            "a step cleared {cleared} entries"
        );
        s.set(s.get() + 1);
        let ptes = a.ptes();
        let stale = ptes.range(base..base + pages * PAGEZ).count()
            + ptes
                .range(cbase..cbase + pages * PAGEZ)
                .filter(|(_, (frame, _))| *frame != zero)
                .count();
        if stale > 0 {
            assert_eq!(
                fr.in_use(),
                held,
                "a page went while {stale} entries showed dropped pages"
            );
        }
        assert_eq!(
            r.handle_fault(base, false, false),
            Err(Status::OUT_OF_RANGE)
        );
        r.handle_fault(cbase + (pages - 1) * PAGEZ, false, false)
            .expect("fault");
        assert_eq!(a.pte(cbase + (pages - 1) * PAGEZ).map(|e| e.0), Some(zero));
        l.set(a.pte_count());
    }));
    vmo.set_size(0).expect("shrink");
    stop_every_point();
    assert!(
        steps.get() >= 2 * pages / STEP_ENTRIES - 1,
        "{} steps",
        steps.get()
    );
    let ptes = aspace.ptes();
    assert_eq!(ptes.range(base..base + pages * PAGEZ).count(), 0);
    assert!(ptes.values().all(|(frame, _)| *frame == zero));
    assert_eq!(f.in_use(), 0);
    assert_pages(&clone, |_| 0);
}

#[test]
fn closing_a_vmo_between_the_steps_of_its_shrink_takes_the_entries_away_before_its_pages() {
    let _serial = deferred_serial();
    let pages = 8 * STEP_ENTRIES;
    let f = frames();
    let (aspace, root, vmo) = stepping_space_in(&f, pages as u64);
    write_pages(&vmo, 0..pages as u64, 3);
    let clone = vmo
        .create_clone(ZX_VMO_CLONE_COPY_ON_WRITE, 0, pages as u64 * PAGE)
        .expect("clone");
    // Only the clone is mapped: its entries show the VMO's pages.
    let cbase = populated(&root, &clone, 0, pages);
    let held = f.in_use();
    let zero = object::frames::FrameAllocator::zero_page(&*f);
    let (a, fr) = (aspace.clone(), f.clone());
    let check = std::rc::Rc::new(move || {
        let ptes = a.ptes();
        let stale = ptes
            .range(cbase..cbase + pages * PAGEZ)
            .filter(|(_, (frame, _))| *frame != zero)
            .count();
        if stale > 0 {
            assert_eq!(
                fr.in_use(),
                held,
                "a page went while {stale} entries showed it"
            );
        }
    });
    // Its last handle goes at the first point of the shrink.
    let (v, c) = (vmo.clone(), check.clone());
    at_next_point(move || {
        drop(Handle::new(v, Rights::DEFAULT_VMO));
        at_every_point(c);
    });
    // As if the handle had been closed before the call.
    assert_eq!(vmo.set_size(0), Err(Status::BAD_HANDLE));
    // The clone's entries go in steps, before the pages.
    let steps = do_deferred_work();
    stop_every_point();
    assert!(steps >= pages / STEP_ENTRIES - 2, "{steps} steps");
    let ptes = aspace.ptes();
    assert!(ptes.values().all(|(frame, _)| *frame == zero));
    assert_eq!(f.in_use(), 0);
    assert_pages(&clone, |_| 0);
}

#[test]
fn a_snapshot_of_a_vmo_under_a_mapping_of_many_entries_takes_them_away_in_steps() {
    use object::vmar::MapTarget;
    let pages = 16 * STEP_ENTRIES;
    let f = frames();
    let (aspace, root, vmo) = stepping_space_in(&f, pages as u64);
    write_pages(&vmo, 0..pages as u64, 5);
    let base = root
        .map(
            ZX_VM_PERM_READ | ZX_VM_PERM_WRITE | ZX_VM_SPECIFIC | ZX_VM_MAP_RANGE,
            0,
            vmo.clone(),
            0,
            pages * PAGEZ,
            Rights::DEFAULT_VMO,
        )
        .expect("map range");
    assert_eq!(aspace.pte_count(), pages);
    assert!(aspace.ptes().values().all(|(_, perms)| perms.write));
    // At every point: one step cleared at most a step's entries, and a write fault at the
    // top (not swept yet) copies the page and takes its old entry away.
    let left = std::rc::Rc::new(Cell::new(pages));
    let steps = std::rc::Rc::new(Cell::new(0usize));
    let (a, r, l, s) = (aspace.clone(), root.clone(), left.clone(), steps.clone());
    let top = base + (pages - 1) * PAGEZ;
    at_every_point(std::rc::Rc::new(move || {
        let cleared = l.get() - a.pte_count().min(l.get());
        assert!(
            cleared <= STEP_ENTRIES + 1,
            "a step cleared {cleared} entries"
        );
        s.set(s.get() + 1);
        r.handle_fault(top, true, false).expect("write fault");
        l.set(a.pte_count());
    }));
    let snapshot = vmo
        .create_child(ZX_VMO_CHILD_SNAPSHOT, 0, pages as u64 * PAGE)
        .expect("snapshot");
    stop_every_point();
    assert!(
        steps.get() >= pages / STEP_ENTRIES - 1,
        "{} steps",
        steps.get()
    );
    // No writable entry shows a page the snapshot sees.
    for (va, (frame, perms)) in aspace.ptes() {
        let offset = (va - base) as u64;
        if perms.write {
            let seen = snapshot
                .fault_page(offset, false, true)
                .expect("page")
                .frame;
            assert_ne!(
                frame, seen,
                "a writable entry at {va:#x} shows the snapshot's page"
            );
            assert_eq!(
                frame,
                vmo.fault_page(offset, false, true).expect("page").frame
            );
        }
    }
    vmo.write(0, &[9]).expect("write");
    assert_pages(&snapshot, |_| 5);
    assert_charges_add_up(&[&vmo, &snapshot]);
}

#[test]
fn a_snapshot_killed_between_its_steps_leaves_the_vmo_as_it_was() {
    use object::vmar::MapTarget;
    let _serial = deferred_serial();
    let pages = 8 * STEP_ENTRIES;
    let f = frames();
    let (aspace, root, vmo) = stepping_space_in(&f, pages as u64);
    write_pages(&vmo, 0..pages as u64, 5);
    let base = root
        .map(
            ZX_VM_PERM_READ | ZX_VM_PERM_WRITE | ZX_VM_SPECIFIC | ZX_VM_MAP_RANGE,
            0,
            vmo.clone(),
            0,
            pages * PAGEZ,
            Rights::DEFAULT_VMO,
        )
        .expect("map range");
    at_next_point(|| KILLED.with(|k| k.set(true)));
    let result = vmo.create_child(ZX_VMO_CHILD_SNAPSHOT, 0, pages as u64 * PAGE);
    KILLED.with(|k| k.set(false));
    assert!(matches!(result, Err(Status::CANCELED)));
    do_deferred_work();
    // The entries left show the VMO's own pages again; nothing leaked.
    for (va, (frame, _)) in aspace.ptes() {
        let shown = vmo
            .fault_page((va - base) as u64, false, true)
            .expect("page");
        assert_eq!(frame, shown.frame);
    }
    assert_eq!(vmo.family_node_count(), 1);
    assert_eq!(f.in_use(), pages);
    assert_eq!(vmo.committed_bytes(), pages as u64 * PAGE);
    assert_pages(&vmo, |_| 5);
}

#[test]
fn a_copy_on_write_after_a_snapshot_done_in_one_step_takes_no_entries_away() {
    // Only while a snapshot's steps run may an old entry still write a shared page; a
    // snapshot of a VMO with few entries ends in its first step, and a copy on write after
    // it (the fault_cow benchmark) then only maps the new page.
    use object::vmar::testing::AspaceCall;
    let pages = 4;
    let f = frames();
    let (aspace, root, vmo) = stepping_space_in(&f, pages as u64);
    write_pages(&vmo, 0..pages as u64, 5);
    root.map(
        ZX_VM_PERM_READ | ZX_VM_PERM_WRITE | ZX_VM_SPECIFIC | ZX_VM_MAP_RANGE,
        0,
        vmo.clone(),
        0,
        pages * PAGEZ,
        Rights::DEFAULT_VMO,
    )
    .expect("map range");
    let snapshot = vmo
        .create_child(ZX_VMO_CHILD_SNAPSHOT, 0, pages as u64 * PAGE)
        .expect("snapshot");
    let base = root
        .map(
            ZX_VM_PERM_READ | ZX_VM_PERM_WRITE,
            0,
            snapshot.clone(),
            0,
            pages * PAGEZ,
            Rights::DEFAULT_VMO,
        )
        .expect("map snapshot");
    aspace.take_calls();
    root.handle_fault(base + PAGEZ, true, false)
        .expect("write fault");
    let calls = aspace.take_calls();
    assert!(
        !calls.iter().any(|c| matches!(c, AspaceCall::Unmap { .. })),
        "the copy on write unmapped: {calls:?}"
    );
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_pages(&vmo, |_| 5);
    assert_pages(&snapshot, |_| 5);
    assert_charges_add_up(&[&vmo, &snapshot]);
}

/// More mappings of one page than a step visits (64), so that taking the page's entries
/// away takes many steps.
const ONE_PAGE_MAPPINGS: usize = 3000;

/// Page 0 of `vmo` mapped (RW) at `ONE_PAGE_MAPPINGS` consecutive pages of `root` from its
/// base, each with the entry a read fault installs.
fn one_page_mapped_many_times(root: &Arc<Vmar>, vmo: &Arc<Vmo>) {
    for i in 0..ONE_PAGE_MAPPINGS {
        root.map(
            ZX_VM_PERM_READ | ZX_VM_PERM_WRITE | ZX_VM_SPECIFIC,
            i * PAGEZ,
            vmo.clone(),
            0,
            PAGEZ,
            Rights::DEFAULT_VMO,
        )
        .expect("map");
        root.handle_fault(VMAR_BASE + i * PAGEZ, false, false)
            .expect("fault");
    }
}

/// At each of the next `count` points, what a fault on the VMO (`fault_page`) and a fault
/// taken by a copy that holds frames (`handle_fault_without_waiting`) answer, and the
/// observer calls so far.
type Seen = Rc<RefCell<Vec<(Result<(), Status>, Result<(), Status>, u64)>>>;

fn watch_points(count: usize, root: &Arc<Vmar>, vmo: &Arc<Vmo>) -> Seen {
    let seen: Seen = Rc::default();
    let actions = (0..count)
        .map(|_| {
            let (seen, root, vmo) = (seen.clone(), root.clone(), vmo.clone());
            Box::new(move || {
                let fault = vmo.fault_page(0, false, true).map(|_| ());
                let copy = root.handle_fault_without_waiting(VMAR_BASE + 7 * PAGEZ, false);
                seen.borrow_mut().push((fault, copy, root.test_counts().0));
            }) as Box<dyn FnOnce()>
        })
        .collect();
    at_each_next_point(actions);
    seen
}

/// Observer calls between two points never exceed a step's visits, however many mappings
/// show the page; faults waited from the first step that left the walk partway to its end.
fn assert_walked_in_steps(seen: &Seen, calls_before: u64) {
    let seen = seen.borrow();
    assert!(
        seen.len() >= ONE_PAGE_MAPPINGS / (2 * UNMAP_STEP_VISITS),
        "{} points for {ONE_PAGE_MAPPINGS} mappings",
        seen.len()
    );
    let mut last = calls_before;
    for (i, &(fault, copy, calls)) in seen.iter().enumerate() {
        // A step of the walk visits at most 64; the first, over the whole range, 128.
        assert!(
            calls - last <= 2 * UNMAP_STEP_VISITS as u64 + 1,
            "step {i}: {} calls",
            calls - last
        );
        last = calls;
        // Point 0 follows the first visits in key order, before the walk in steps begins.
        if i > 0 && i + 1 < seen.len() {
            assert_eq!(fault, Err(Status::SHOULD_WAIT), "fault at point {i}");
            assert_eq!(copy, Err(Status::SHOULD_WAIT), "copy's fault at point {i}");
        }
    }
}

#[test]
fn a_decommit_of_a_page_mapped_thousands_of_times_walks_its_mappings_in_steps() {
    let (aspace, root, vmo) = stepping_space(1);
    vmo.write(0, &[1]).expect("write");
    one_page_mapped_many_times(&root, &vmo);
    let calls = root.test_counts().0;
    let seen = watch_points(ONE_PAGE_MAPPINGS / UNMAP_STEP_VISITS + 2, &root, &vmo);
    vmo.op_range(ZX_VMO_OP_DECOMMIT, 0, PAGE, &CountingCache::default())
        .expect("decommit");
    assert_walked_in_steps(&seen, calls);
    assert_eq!(aspace.pte_count(), 0);
    assert_eq!(vmo.committed_bytes(), 0);
    // Faults go on once it returned.
    root.handle_fault(VMAR_BASE, false, false).expect("fault");
    assert_eq!(
        vmo.fault_page(0, false, true).map(|p| p.writable),
        Ok(false)
    );
}

#[test]
fn a_killed_decommit_partway_through_a_pages_mappings_lets_faults_go_on() {
    let (aspace, root, vmo) = stepping_space(1);
    vmo.write(0, &[1]).expect("write");
    one_page_mapped_many_times(&root, &vmo);
    // Killed at the second point: its walk is partway and holds faults off.
    at_each_next_point(vec![
        Box::new(|| {}),
        Box::new(|| KILLED.with(|k| k.set(true))),
    ]);
    let result = vmo.op_range(ZX_VMO_OP_DECOMMIT, 0, PAGE, &CountingCache::default());
    KILLED.with(|k| k.set(false));
    assert_eq!(result, Err(Status::CANCELED));
    // The page is still there and faults are served again, through every mapping.
    assert_eq!(vmo.committed_bytes(), PAGE);
    for i in 0..ONE_PAGE_MAPPINGS {
        root.handle_fault(VMAR_BASE + i * PAGEZ, true, false)
            .expect("fault");
    }
    assert_eq!(aspace.pte_count(), ONE_PAGE_MAPPINGS);
}

#[test]
fn every_copy_on_write_of_a_page_mapped_thousands_of_times_walks_its_mappings_in_steps() {
    type Copy = fn(&Arc<Vmar>, &Arc<Vmo>) -> Result<(), Status>;
    let copies: [(&str, Copy); 4] = [
        ("write fault", |root, _| {
            root.handle_fault(VMAR_BASE + PAGEZ, true, false)
        }),
        ("write", |_, clone| {
            clone.write_unlocked(1, 1, &mut |frames, in_page, _, _| {
                assert_eq!((frames.len(), in_page), (1, 1));
                Ok(())
            })
        }),
        ("COMMIT", |_, clone| {
            clone.op_range(ZX_VMO_OP_COMMIT, 0, PAGE, &CountingCache::default())
        }),
        ("partial ZERO", |_, clone| {
            clone.op_range(ZX_VMO_OP_ZERO, 0, 1, &CountingCache::default())
        }),
    ];
    for (what, copy) in copies {
        let f = frames();
        let (aspace, root, parent) = stepping_space_in(&f, 1);
        parent.write(0, &[1]).expect("write");
        let clone = parent
            .create_clone(ZX_VMO_CLONE_COPY_ON_WRITE, 0, PAGE)
            .expect("clone");
        // Every entry shows the parent's page, read-only.
        one_page_mapped_many_times(&root, &clone);
        let (parent_frame, _) = aspace.pte(VMAR_BASE).expect("entry");
        // A copy's fault cannot take steps: it asks to be served again, nothing committed.
        assert_eq!(
            root.handle_fault_without_waiting(VMAR_BASE + PAGEZ, true),
            Err(Status::SHOULD_WAIT),
            "{what}"
        );
        assert_eq!(clone.committed_bytes(), 0, "{what}");
        let before = points();
        copy(&root, &clone).unwrap_or_else(|e| panic!("{what}: {e:?}"));
        assert!(
            points() - before >= ONE_PAGE_MAPPINGS / (2 * UNMAP_STEP_VISITS),
            "{what}: {} points",
            points() - before
        );
        assert_eq!(clone.committed_bytes(), PAGE, "{what}");
        // No entry shows the parent's page any more.
        assert!(
            aspace
                .ptes()
                .values()
                .all(|&(frame, _)| frame != parent_frame),
            "{what}"
        );
        let copy_frame = clone.fault_page(0, false, true).expect("page").frame;
        assert_ne!(copy_frame, parent_frame, "{what}");
        assert_eq!(read_byte(&parent, 0), 1, "{what}");
    }
}

#[test]
fn a_shrink_and_a_snapshot_of_a_page_mapped_thousands_of_times_walk_its_mappings_in_steps() {
    let (aspace, root, vmo) = stepping_space(1);
    vmo.write(0, &[1]).expect("write");
    one_page_mapped_many_times(&root, &vmo);
    let before = points();
    let snapshot = vmo
        .create_child(ZX_VMO_CHILD_SNAPSHOT, 0, PAGE)
        .expect("snapshot");
    assert!(points() - before >= ONE_PAGE_MAPPINGS / (2 * UNMAP_STEP_VISITS));
    // No entry may write the page the snapshot now shares.
    assert!(aspace.ptes().values().all(|&(_, perms)| !perms.write));
    root.handle_fault(VMAR_BASE + 5 * PAGEZ, true, false)
        .expect("write fault");
    assert_eq!(read_byte(&snapshot, 0), 1);
    drop(snapshot);

    let before = points();
    vmo.set_size(0).expect("shrink");
    assert!(points() - before >= ONE_PAGE_MAPPINGS / (2 * UNMAP_STEP_VISITS));
    assert_eq!(aspace.pte_count(), 0);
    assert_eq!(vmo.committed_bytes(), 0);
}

fn read_byte(vmo: &Vmo, offset: u64) -> u8 {
    let mut byte = [0];
    vmo.read(offset, &mut byte).expect("read");
    byte[0]
}

/// Records what it is told to take away.
struct RecordingObserver {
    told: std::sync::Mutex<Vec<(u64, u64)>>,
}

impl object::vmar::MappingObserver for RecordingObserver {
    fn unmap_target_range(&self, offset: u64, len: u64) {
        self.told.lock().unwrap().push((offset, len));
    }
}

#[test]
fn a_registration_made_while_a_walk_is_partway_is_visited_before_the_page_goes() {
    use object::vmar::MappingObserver;
    // A piece split off a mapping is registered (covering the whole VMO until narrowed) and
    // takes over the mapping's entries: made between two steps of a walk over page 0, it
    // must be visited before the page is freed, wherever its key falls.
    // Page 5: the mappings' keys start at 5, above a new registration's (0, id).
    let (aspace, root, vmo) = stepping_space(8);
    vmo.write(5 * PAGE, &[1]).expect("write");
    for i in 0..ONE_PAGE_MAPPINGS {
        root.map(
            ZX_VM_PERM_READ | ZX_VM_SPECIFIC,
            i * PAGEZ,
            vmo.clone(),
            5 * PAGE,
            PAGEZ,
            Rights::DEFAULT_VMO,
        )
        .expect("map");
        root.handle_fault(VMAR_BASE + i * PAGEZ, false, false)
            .expect("fault");
    }
    let piece = Arc::new(RecordingObserver {
        told: std::sync::Mutex::new(Vec::new()),
    });
    let registered = Rc::new(Cell::new(0));
    let (v, p, r) = (vmo.clone(), piece.clone(), registered.clone());
    at_each_next_point(vec![
        Box::new(|| {}),
        Box::new(move || {
            r.set(
                v.add_mapping(Arc::downgrade(&p) as std::sync::Weak<dyn MappingObserver>)
                    .expect("the VMO is alive"),
            );
        }),
    ]);
    vmo.op_range(
        ZX_VMO_OP_DECOMMIT,
        5 * PAGE,
        PAGE,
        &CountingCache::default(),
    )
    .expect("decommit");
    assert_ne!(registered.get(), 0, "the walk took fewer than two steps");
    assert_eq!(*piece.told.lock().unwrap(), vec![(5 * PAGE, PAGE)]);
    assert_eq!(aspace.pte_count(), 0);
    vmo.remove_mapping(registered.get());
}

#[test]
fn a_decommit_of_a_range_under_many_whole_mappings_moves_a_table_span_a_walk() {
    // More mappings of the whole range than a step visits: each walk in steps takes a leaf
    // table's span of pages, not one page.
    const MAPPINGS: usize = 300;
    const SPANS: usize = 2;
    const PAGES: usize = SPANS * 512;
    let (aspace, root, vmo) = stepping_space(PAGES as u64);
    for i in 0..MAPPINGS {
        populated(&root, &vmo, i * PAGES * PAGEZ, PAGES);
    }
    let before = points();
    vmo.op_range(
        ZX_VMO_OP_DECOMMIT,
        0,
        PAGES as u64 * PAGE,
        &CountingCache::default(),
    )
    .expect("decommit");
    let steps = points() - before;
    // Each span of 512 pages: its walk's steps (a visit of a table's work per mapping).
    let per_span = MAPPINGS.div_ceil(UNMAP_STEP_VISITS) + 2;
    assert!(steps <= SPANS * per_span, "{steps} steps");
    assert_eq!(aspace.pte_count(), 0);
}

/// Visits of a table's work a step makes ([`object::vmar::UNMAP_WORK`] / `TABLE_WORK`).
const UNMAP_STEP_VISITS: usize = object::vmar::UNMAP_WORK / object::vmar::TABLE_WORK;

thread_local! {
    /// Finish points this test thread passed, and the handle count of the object watched.
    static FINISH_POINTS: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
    static WATCHED: RefCell<Option<Arc<Vmo>>> = const { RefCell::new(None) };
}

fn counting_finish_hook() {
    let count = WATCHED.with(|w| w.borrow().as_ref().map_or(0, |v| v.base().handle_count()));
    FINISH_POINTS.with(|p| p.borrow_mut().push(count));
}

#[test]
fn a_dying_table_is_closed_whole_with_finish_points_between_chunks() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| preempt::set_finish_hook(counting_finish_hook));
    let f = frames();
    let vmo = written(&f, 1, 7);
    let handles: Vec<Handle> = (0..100)
        .map(|_| Handle::new(vmo.clone(), Rights::DEFAULT_VMO))
        .collect();
    WATCHED.with(|w| *w.borrow_mut() = Some(vmo.clone()));
    assert_eq!(vmo.base().handle_count(), 100);
    object::handle::close_dying_table(handles);
    WATCHED.with(|w| *w.borrow_mut() = None);
    // Every handle closed when it returns; between chunks, a point at which the count went
    // down by at most a chunk (8) since the last.
    assert_eq!(vmo.base().handle_count(), 0);
    let seen = FINISH_POINTS.with(|p| p.borrow().clone());
    assert_eq!(
        seen.len(),
        12,
        "100 handles in chunks of 8: 12 points between 13 chunks"
    );
    let mut before = 100;
    for count in seen {
        assert!(count < before && before - count <= 8, "{before} -> {count}");
        before = count;
    }
}
