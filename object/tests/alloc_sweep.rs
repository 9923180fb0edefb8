//! The failing-allocation sweep on the host (issue 12 item 5; the kernel's is `fuzz sweep`):
//! a fixed script of VMO operations (writes on every path, commits, children of every kind,
//! clones of clones, resizes, decommit and zero, faults through a VMAR, closes that leave work
//! for later) runs once per N = 1, 2, ... with the test frame allocator told to refuse its
//! N-th decision whether pages may be spent (an `alloc` or a `can_spend`, as the kernel's
//! `failalloc N` counts them). For every N the operation that meets the refusal must return
//! NO_MEMORY and change nothing (every VMO's size, bytes and committed count, the families'
//! charges, the address space's PTEs, the pages in use), and once everything is gone every
//! page and every heap byte the run took must be back.

use abi::*;
use object::frames::testing::{CountingCache, TestFrames};
use object::frames::{FrameAddr, FrameAllocator};
use object::handle::Handle;
use object::vmar::testing::FakeAddressSpace;
use object::vmar::{AddressSpace, MappingPerms, Vmar};
use object::vmo::Vmo;
use object::{preempt, Rights, Status, ZxResult};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

const PAGE: u64 = 4096;
const BASE: usize = 0x1000_0000;

/// Counts the heap bytes this thread holds, so that a test sees its own leaks.
struct CountingHeap;

thread_local! {
    static HEAP_BYTES: Cell<isize> = const { Cell::new(0) };
}

// SAFETY: forwards to the system allocator; the count is a thread-local cell with a const
// initializer (no allocation), skipped while the thread's locals are being torn down.
unsafe impl GlobalAlloc for CountingHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = HEAP_BYTES.try_with(|h| h.set(h.get() + layout.size() as isize));
        // SAFETY: the caller's layout, passed on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let _ = HEAP_BYTES.try_with(|h| h.set(h.get() - layout.size() as isize));
        // SAFETY: a block this allocator gave out, with its layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static HEAP: CountingHeap = CountingHeap;

fn heap_bytes() -> isize {
    HEAP_BYTES.with(Cell::get)
}

/// The tests of this file one at a time: the deferred-work lists are global, and work one
/// thread left may be done (and its memory freed) on another.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    // Preemption points on, as in the kernel: closes and merges take their deferred paths.
    preempt::set_hook(|| true);
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// The objects one run of the script made.
struct World {
    f: Arc<TestFrames>,
    aspace: Arc<FakeAddressSpace>,
    root: Arc<Vmar>,
    /// VMOs by name, each with the handle that keeps it open.
    vmos: Vec<(&'static str, Arc<Vmo>, Handle)>,
    /// Mappings by name: address and length.
    maps: Vec<(&'static str, usize, usize)>,
}

impl World {
    fn new() -> World {
        let f = Arc::new(TestFrames::new());
        let aspace = Arc::new(FakeAddressSpace::new());
        let root = Vmar::new_root(aspace.clone() as Arc<dyn AddressSpace>, BASE, 1 << 30);
        World {
            f,
            aspace,
            root,
            vmos: Vec::new(),
            maps: Vec::new(),
        }
    }

    fn vmo(&self, name: &str) -> Arc<Vmo> {
        let (_, vmo, _) = self.vmos.iter().find(|(n, ..)| *n == name).expect(name);
        vmo.clone()
    }

    fn add(&mut self, name: &'static str, vmo: ZxResult<Arc<Vmo>>) -> ZxResult {
        let vmo = vmo?;
        // Small families still reach the paths that leave long work for later.
        vmo.defer_long_work_above(2);
        let handle = Handle::new(vmo.clone(), Rights::DEFAULT_VMO);
        self.vmos.push((name, vmo, handle));
        Ok(())
    }

    /// Closes a VMO's handle, then does the work left for later, as the kernel does before
    /// the closing call returns.
    fn close(&mut self, name: &str) -> ZxResult {
        let at = self.vmos.iter().position(|(n, ..)| *n == name).expect(name);
        drop(self.vmos.remove(at));
        object::free_deferred();
        Ok(())
    }

    fn map(&mut self, name: &'static str, vmo: &str, options: u32, pages: u64) -> ZxResult {
        let len = (pages * PAGE) as usize;
        let addr = self.root.map(
            options | ZX_VM_PERM_READ | ZX_VM_PERM_WRITE,
            0,
            self.vmo(vmo),
            0,
            len,
            Rights::DEFAULT_VMO,
        )?;
        self.maps.push((name, addr, len));
        Ok(())
    }

    fn at(&self, map: &str, page: u64) -> usize {
        let (_, addr, _) = self.maps.iter().find(|(n, ..)| *n == map).expect(map);
        addr + (page * PAGE) as usize
    }

    /// `zx_vmo_write`'s path: the pages are committed under the lock, the bytes copied
    /// without it.
    fn write(&self, vmo: &str, offset: u64, byte: u8, len: usize) -> ZxResult {
        let f = self.f.clone();
        self.vmo(vmo)
            .write_unlocked(offset, len as u64, &mut |frames, in_page, n, _| {
                let mut left = n;
                let mut at = in_page;
                for &frame in frames {
                    let piece = left.min(PAGE as usize - at);
                    f.write(frame, at, &vec![byte; piece]);
                    left -= piece;
                    at = 0;
                }
                Ok(())
            })
    }

    fn op(&self, vmo: &str, op: u32, offset: u64, len: u64) -> ZxResult {
        self.vmo(vmo)
            .op_range(op, offset, len, &CountingCache::default())
    }

    /// What a failing operation must leave as it was.
    fn seen(&self) -> Seen {
        let mut vmos = Vec::new();
        for (name, vmo, _) in &self.vmos {
            let mut bytes = vec![0u8; vmo.size() as usize];
            vmo.read(0, &mut bytes).expect("read");
            vmos.push((*name, vmo.size(), vmo.committed_bytes(), bytes));
        }
        Seen {
            vmos,
            ptes: self.aspace.ptes(),
            pages_in_use: self.f.in_use(),
        }
    }

    fn check_charges(&self, after: &str) {
        for (name, vmo, _) in &self.vmos {
            if let Err(e) = vmo.check_family_charges() {
                panic!("after {after}: charges of {name}'s family: {e}");
            }
        }
    }

    /// Everything gone: mappings, VMOs, the work they left.
    fn tear_down(self) -> Arc<TestFrames> {
        let World { f, root, vmos, .. } = self;
        root.destroy().expect("destroy");
        drop(root);
        drop(vmos);
        object::free_deferred();
        f
    }
}

#[derive(Debug, PartialEq)]
struct Seen {
    vmos: Vec<(&'static str, u64, u64, Vec<u8>)>,
    ptes: BTreeMap<usize, (FrameAddr, MappingPerms)>,
    pages_in_use: usize,
}

type Op = (&'static str, fn(&mut World) -> ZxResult);

const SNAPSHOT: u32 = ZX_VMO_CHILD_SNAPSHOT;
const COW: u32 = ZX_VMO_CLONE_COPY_ON_WRITE;

/// The script. Starts like the kernel's sweep (a VMO written and committed, then a
/// snapshot, a slice and a resizable snapshot of it, each written), then goes on to clones of
/// clones, resizes, decommit/commit/zero, faults, and writes after closes.
fn script() -> Vec<Op> {
    vec![
        ("create a", |w| {
            let a = Vmo::create(w.f.clone(), 16 * PAGE, ZX_VMO_NON_RESIZABLE);
            w.add("a", a)
        }),
        ("write a", |w| w.write("a", PAGE, 0x5a, 3 * PAGE as usize)),
        ("commit a", |w| w.op("a", ZX_VMO_OP_COMMIT, 0, 16 * PAGE)),
        ("snapshot", |w| {
            let s = w.vmo("a").create_child(SNAPSHOT, 0, 8 * PAGE);
            w.add("snapshot", s)
        }),
        ("write snapshot", |w| w.write("snapshot", 2 * PAGE, 0xa5, 8)),
        ("slice", |w| {
            let s = w.vmo("a").create_child(ZX_VMO_CHILD_SLICE, 0, 8 * PAGE);
            w.add("slice", s)
        }),
        ("write slice", |w| w.write("slice", 2 * PAGE, 0xa6, 8)),
        ("resizable snapshot", |w| {
            let s = w
                .vmo("a")
                .create_child(SNAPSHOT | ZX_VMO_CHILD_RESIZABLE, 0, 8 * PAGE);
            w.add("resizable", s)
        }),
        ("write resizable snapshot", |w| {
            w.write("resizable", 2 * PAGE, 0xa7, 8)
        }),
        ("write resizable snapshot, 3 pages", |w| {
            w.write("resizable", PAGE + 100, 0x17, 3 * PAGE as usize)
        }),
        ("clone", |w| {
            let c = w.vmo("a").create_clone(COW, 0, 12 * PAGE);
            w.add("clone", c)
        }),
        ("clone of the clone", |w| {
            let c = w.vmo("clone").create_clone(COW, PAGE, 6 * PAGE);
            w.add("clone2", c)
        }),
        ("write clone of the clone (kernel buffer)", |w| {
            w.vmo("clone2").write(0, &[0x33; 2 * PAGE as usize])
        }),
        ("write a under clones", |w| {
            w.write("a", 0, 0x44, 5 * PAGE as usize)
        }),
        ("snapshot of the snapshot", |w| {
            let s = w.vmo("snapshot").create_child(SNAPSHOT, 0, 8 * PAGE);
            w.add("snapshot2", s)
        }),
        ("write snapshot of the snapshot", |w| {
            w.write("snapshot2", 0, 0x55, 8 * PAGE as usize)
        }),
        ("shrink resizable snapshot", |w| {
            w.vmo("resizable").set_size(2 * PAGE)
        }),
        ("grow resizable snapshot", |w| {
            w.vmo("resizable").set_size(12 * PAGE)
        }),
        ("write grown snapshot", |w| {
            w.write("resizable", 10 * PAGE, 1, 8)
        }),
        ("map clone", |w| w.map("clone map", "clone", 0, 12)),
        ("read fault", |w| {
            w.root.handle_fault(w.at("clone map", 0), false, false)
        }),
        ("write fault", |w| {
            w.root.handle_fault(w.at("clone map", 1), true, false)
        }),
        ("write fault on a page mapped shared", |w| {
            w.root.handle_fault(w.at("clone map", 0), true, false)
        }),
        ("map snapshot (MAP_RANGE)", |w| {
            w.map("snapshot map", "snapshot", ZX_VM_MAP_RANGE, 8)
        }),
        ("write fault in the snapshot", |w| {
            w.root.handle_fault(w.at("snapshot map", 5), true, false)
        }),
        ("decommit clone", |w| {
            w.op("clone", ZX_VMO_OP_DECOMMIT, 2 * PAGE, 3 * PAGE)
        }),
        ("commit clone", |w| {
            w.op("clone", ZX_VMO_OP_COMMIT, 0, 12 * PAGE)
        }),
        ("zero part of snapshot", |w| {
            w.op("snapshot", ZX_VMO_OP_ZERO, 10, 2 * PAGE)
        }),
        ("create r", |w| {
            let r = Vmo::create(w.f.clone(), PAGE, 0);
            w.add("r", r)
        }),
        ("grow r", |w| w.vmo("r").set_size(64 * PAGE)),
        ("write r past its old end", |w| {
            w.write("r", 60 * PAGE, 0x66, 3 * PAGE as usize)
        }),
        ("create big", |w| {
            let big = Vmo::create(w.f.clone(), 100 * PAGE, 0);
            w.add("big", big)
        }),
        ("write big, 80 pages", |w| {
            w.write("big", 100, 0x21, 80 * PAGE as usize)
        }),
        ("clone big", |w| {
            let c = w.vmo("big").create_clone(COW, 0, 100 * PAGE);
            w.add("big clone", c)
        }),
        ("write the clone of big, 70 pages", |w| {
            w.write("big clone", PAGE, 0x22, 70 * PAGE as usize)
        }),
        ("commit the clone of big", |w| {
            w.op("big clone", ZX_VMO_OP_COMMIT, 0, 100 * PAGE)
        }),
        ("commit big", |w| {
            w.op("big", ZX_VMO_OP_COMMIT, 0, 100 * PAGE)
        }),
        ("close slice", |w| w.close("slice")),
        ("close clone of the clone", |w| w.close("clone2")),
        ("write a after closes", |w| {
            w.write("a", 6 * PAGE, 0x77, 4 * PAGE as usize)
        }),
        ("close snapshot", |w| w.close("snapshot")),
        (
            "write snapshot of the snapshot after its parent closed",
            |w| w.write("snapshot2", 3 * PAGE, 0x88, 2 * PAGE as usize),
        ),
        ("unmap clone", |w| {
            let (addr, len) = (w.at("clone map", 0), 12 * PAGE as usize);
            w.root.unmap(addr, len)
        }),
        ("close clone", |w| w.close("clone")),
        ("clone of a after closes", |w| {
            let c = w.vmo("a").create_clone(COW, 2 * PAGE, 4 * PAGE);
            w.add("clone3", c)
        }),
        ("write a page the new clone sees", |w| {
            w.write("a", 3 * PAGE, 0x99, 8)
        }),
        ("commit resizable snapshot", |w| {
            w.op("resizable", ZX_VMO_OP_COMMIT, 0, 12 * PAGE)
        }),
        ("close a", |w| w.close("a")),
        ("write the new clone after a closed", |w| {
            w.write("clone3", 0, 0xaa, 2 * PAGE as usize)
        }),
    ]
}

/// Runs the script with the `n`th decision refused (0: none). Returns the operation that met
/// the refusal, if one did.
fn run(n: usize) -> Option<&'static str> {
    let mut w = World::new();
    w.f.refuse_nth_decision(n);
    let mut met = None;
    for (name, op) in script() {
        let decisions = w.f.decision_count();
        // Only the operation that may meet the refusal needs the picture (reading every
        // VMO): the refusal is armed and has not happened yet.
        let before = (n != 0 && !w.f.refused()).then(|| w.seen());
        let result = op(&mut w);
        let refused = w.f.refused() && before.is_some();
        match result {
            Err(Status::NO_MEMORY) if refused => {
                let after = w.seen();
                let before = before.expect("taken");
                for (b, a) in before.vmos.iter().zip(&after.vmos) {
                    assert_eq!(
                        (b.0, b.1, b.2),
                        (a.0, a.1, a.2),
                        "N={n}: {name} failed but changed a size or a committed count"
                    );
                    assert!(
                        b.3 == a.3,
                        "N={n}: {name} failed but changed {}'s bytes",
                        b.0
                    );
                }
                assert_eq!(before, after, "N={n}: {name} failed but changed something");
                w.check_charges(name);
                met = Some(name);
                break;
            }
            Err(status) => panic!(
                "N={n}: {name} returned {status:?} (refusal met: {refused}, decisions {}..{})",
                decisions,
                w.f.decision_count()
            ),
            Ok(()) => assert!(
                !refused,
                "N={n}: {name} met the refusal but said OK (it hid NO_MEMORY)"
            ),
        }
        w.check_charges(name);
    }
    let f = w.tear_down();
    assert_eq!(f.in_use(), 0, "N={n}: pages left after everything is gone");
    met
}

#[test]
fn failing_allocation_sweep_every_refusal_is_no_memory_changes_nothing_and_leaks_nothing() {
    let _serial = serial();
    // A first run with no refusal must complete; it also grows the global lists once.
    assert_eq!(run(0), None);
    let mut met: Vec<&str> = Vec::new();
    for n in 1..2000 {
        // Twice, as the kernel's sweep: the second run must give back every heap byte.
        run(n);
        let before = heap_bytes();
        let step = run(n);
        assert_eq!(
            heap_bytes(),
            before,
            "N={n}: heap bytes left after everything is gone (failing step: {step:?})"
        );
        match step {
            Some(step) => {
                if met.last() != Some(&step) {
                    met.push(step);
                }
            }
            None => {
                println!("{} refusals swept; met by: {}", n - 1, met.join(", "));
                assert!(n > 30, "the script took too few decisions: {n}");
                return;
            }
        }
    }
    panic!("the script still meets a refusal at N = 2000");
}

/// A VMO of 100 pages and a clone of it, for the tests of writes and commits of more than one
/// chunk, with the `n`th page allocation from now failing.
fn long_world(n: usize) -> World {
    let mut w = World::new();
    w.add("big", Vmo::create(w.f.clone(), 100 * PAGE, 0))
        .unwrap();
    w.write("big", 0, 0x21, 3 * PAGE as usize).unwrap();
    let clone = w.vmo("big").create_clone(COW, 0, 100 * PAGE);
    w.add("clone", clone).unwrap();
    w.f.fail_nth_allocation(n);
    w
}

/// Runs `op` on a fresh [`long_world`] with the 70th page allocation failing (in the second
/// chunk, after the pool said the pages were there): NO_MEMORY, nothing changed.
fn fails_in_a_later_chunk_and_changes_nothing(what: &str, op: fn(&World) -> ZxResult) {
    let _serial = serial();
    let w = long_world(70);
    let before = w.seen();
    assert_eq!(op(&w), Err(Status::NO_MEMORY), "{what}");
    let after = w.seen();
    for (b, a) in before.vmos.iter().zip(&after.vmos) {
        assert_eq!(
            (b.0, b.1, b.2),
            (a.0, a.1, a.2),
            "{what} changed a committed count"
        );
        assert!(b.3 == a.3, "{what} changed {}'s bytes", b.0);
    }
    assert_eq!(before, after, "{what}");
    let f = w.tear_down();
    assert_eq!(f.in_use(), 0);
}

#[test]
fn a_write_of_more_than_one_chunk_that_runs_out_of_memory_in_a_later_chunk_writes_nothing() {
    fails_in_a_later_chunk_and_changes_nothing("write", |w| {
        w.write("big", 100, 0x22, 80 * PAGE as usize)
    });
    fails_in_a_later_chunk_and_changes_nothing("write to a clone", |w| {
        w.write("clone", PAGE, 0x23, 90 * PAGE as usize)
    });
}

#[test]
fn a_commit_of_more_than_one_chunk_that_runs_out_of_memory_in_a_later_chunk_commits_nothing() {
    fails_in_a_later_chunk_and_changes_nothing("commit", |w| {
        w.op("big", ZX_VMO_OP_COMMIT, 0, 100 * PAGE)
    });
    fails_in_a_later_chunk_and_changes_nothing("commit of a clone", |w| {
        w.op("clone", ZX_VMO_OP_COMMIT, 0, 100 * PAGE)
    });
}
