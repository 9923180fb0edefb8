//! The VMO layer against a plain reference model: random sequences of create, write, read,
//! clone, snapshot, slice, set_size, op_range, duplicate, replace and close, through a real
//! handle table with rights. After every step each open VMO's size, full contents, ZERO_CHILDREN
//! signal, handle rights and committed bytes must match the model; each family holds exactly
//! the pages its live VMOs can see, and their committed bytes add up to them; at the end every
//! page is returned.
//!
//! The model keeps each VMO as pages of bytes: a root owns its pages, a clone has an overlay
//! over its parent's *current* content (pages it wrote), a snapshot is an eager copy, a slice
//! is a window onto its parent. Each page also names the frame behind it: a write or COMMIT
//! gives the page a new frame, a snapshot copies the names (it shares the frames), and a page
//! that reads zero without a frame has none. The frames a family holds are the names its live
//! VMOs see, and each is charged to the first VMO that sees it in the family's *charge
//! order*: a clone, and a snapshot, go right after the subtree of the VMO they come from,
//! where a VMO's subtree is itself and its clones' subtrees (a snapshot of X joins the
//! subtree X belongs to, not X's own).

use abi::*;
use object::frames::testing::{CountingCache, TestFrames};
use object::handle::{Handle, HandleTable};
use object::object::KernelObject;
use object::vmo::{child_rights, clone_rights, Vmo};
use object::{Rights, Signals, Status};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::sync::Arc;

const PAGE: usize = 4096;

/// A page as a VMO sees it: its bytes and the frame they are in (`None`: reads zero, no frame).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Page {
    frame: Option<u64>,
    data: Vec<u8>,
}

impl Page {
    fn zero() -> Page {
        Page {
            frame: None,
            data: vec![0; PAGE],
        }
    }
}

#[derive(Clone, Debug)]
enum Kind {
    /// Owns its pages (created, or a snapshot: an eager copy).
    Root { pages: Vec<Page> },
    /// Sees `parent`'s current page `k + offset` while `k < limit`, unless it wrote `k`.
    Clone {
        parent: usize,
        offset: u64,
        limit: u64,
        overlay: BTreeMap<u64, Page>,
    },
    /// A window onto a root-or-clone `target` at `offset` pages.
    Slice { target: usize, offset: u64 },
}

#[derive(Clone, Debug)]
struct ModelVmo {
    kind: Kind,
    size: u64,
    resizable: bool,
    open_handles: usize,
    user_parent: Option<usize>,
    /// The VMO whose subtree this one joined in the charge order (none for a slice).
    order_parent: Option<usize>,
}

#[derive(Default)]
struct Model {
    vmos: Vec<ModelVmo>,
    /// Frame names given out so far.
    frames_named: u64,
    /// The charge order of every VMO but slices (see the file docs).
    order: Vec<usize>,
}

impl Model {
    fn page(&self, mut id: usize, mut k: u64) -> Page {
        loop {
            let vmo = &self.vmos[id];
            match &vmo.kind {
                Kind::Root { pages } => {
                    return pages.get(k as usize).cloned().unwrap_or_else(Page::zero)
                }
                Kind::Clone {
                    parent,
                    offset,
                    limit,
                    overlay,
                } => {
                    if let Some(page) = overlay.get(&k) {
                        return page.clone();
                    }
                    if k >= *limit {
                        return Page::zero();
                    }
                    id = *parent;
                    k += offset;
                }
                Kind::Slice { target, offset } => {
                    id = *target;
                    k += offset;
                }
            }
        }
    }

    fn content(&self, id: usize) -> Vec<u8> {
        (0..self.vmos[id].size)
            .flat_map(|k| self.page(id, k).data)
            .collect()
    }

    fn new_frame(&mut self) -> Option<u64> {
        self.frames_named += 1;
        Some(self.frames_named)
    }

    fn set_page(&mut self, mut id: usize, mut k: u64, page: Page) {
        loop {
            match &mut self.vmos[id].kind {
                Kind::Root { pages } => {
                    pages[k as usize] = page;
                    return;
                }
                Kind::Clone { overlay, .. } => {
                    overlay.insert(k, page);
                    return;
                }
                Kind::Slice { target, offset } => {
                    k += *offset;
                    id = *target;
                }
            }
        }
    }

    fn write(&mut self, id: usize, offset: usize, data: &[u8]) {
        let mut done = 0;
        while done < data.len() {
            let position = offset + done;
            let k = (position / PAGE) as u64;
            let in_page = position % PAGE;
            let chunk = (PAGE - in_page).min(data.len() - done);
            let mut page = self.page(id, k);
            page.data[in_page..in_page + chunk].copy_from_slice(&data[done..done + chunk]);
            page.frame = self.new_frame();
            self.set_page(id, k, page);
            done += chunk;
        }
    }

    /// COMMIT: every page of the range gets a frame of its own, same bytes.
    fn commit(&mut self, id: usize, offset: usize, len: usize) {
        if len == 0 {
            return;
        }
        for k in offset / PAGE..=(offset + len - 1) / PAGE {
            let mut page = self.page(id, k as u64);
            page.frame = self.new_frame();
            self.set_page(id, k as u64, page);
        }
    }

    /// ZERO or DECOMMIT of `offset..offset + len`: whole pages lose their frame; a partly
    /// zeroed page that shows a frame gets one of its own, one without stays without.
    fn zero(&mut self, id: usize, offset: usize, len: usize) {
        let end = offset + len;
        let mut position = offset;
        while position < end {
            let k = position / PAGE;
            let in_page = position % PAGE;
            let chunk = (PAGE - in_page).min(end - position);
            let mut page = self.page(id, k as u64);
            if chunk == PAGE {
                page = Page::zero();
            } else if page.frame.is_some() {
                page.data[in_page..in_page + chunk].fill(0);
                page.frame = self.new_frame();
            }
            self.set_page(id, k as u64, page);
            position += chunk;
        }
    }

    /// Whether `y` lies in `x`'s subtree of the charge order.
    fn in_subtree(&self, y: usize, x: usize) -> bool {
        let mut current = Some(y);
        while let Some(c) = current {
            if c == x {
                return true;
            }
            current = self.vmos[c].order_parent;
        }
        false
    }

    /// Puts `new` in the charge order right after the subtree of `x`.
    fn order_after_subtree_of(&mut self, new: usize, x: usize) {
        let last = self
            .order
            .iter()
            .rposition(|&y| self.in_subtree(y, x))
            .expect("x is in the order");
        self.order.insert(last + 1, new);
    }

    /// Pages charged to each VMO whose node is alive: every frame a live VMO sees goes to
    /// the first VMO in the charge order that sees it.
    fn charges(&self) -> BTreeMap<usize, u64> {
        let mut owner_of: BTreeMap<u64, usize> = BTreeMap::new();
        for &v in &self.order {
            if !self.node_alive(v) {
                continue;
            }
            for k in 0..self.vmos[v].size {
                if let Some(frame) = self.page(v, k).frame {
                    owner_of.entry(frame).or_insert(v);
                }
            }
        }
        let mut charges = BTreeMap::new();
        for owner in owner_of.into_values() {
            *charges.entry(owner).or_insert(0) += 1;
        }
        charges
    }

    /// The committed bytes `id` reports: its charges; for a slice none, unless its target
    /// has no handle left and this is the target's first live slice (it reports the target's).
    fn committed(&self, id: usize, charges: &BTreeMap<usize, u64>) -> u64 {
        let pages = match self.vmos[id].kind {
            Kind::Slice { target, .. } => {
                let first_live_slice = self.vmos.iter().enumerate().position(|(s, v)| {
                    matches!(v.kind, Kind::Slice { target: t, .. } if t == target) && self.alive(s)
                });
                if !self.alive(target) && first_live_slice == Some(id) {
                    charges.get(&target).copied().unwrap_or(0)
                } else {
                    0
                }
            }
            _ => charges.get(&id).copied().unwrap_or(0),
        };
        pages * PAGE as u64
    }

    /// The VMO a family started from.
    fn family_of(&self, mut id: usize) -> usize {
        while let Some(parent) = self.vmos[id].user_parent {
            id = parent;
        }
        id
    }

    fn alive(&self, id: usize) -> bool {
        self.vmos[id].open_handles > 0
    }

    /// What the kernel's node for `id` keeps alive: the VMO itself or a slice onto it.
    fn node_alive(&self, id: usize) -> bool {
        self.alive(id)
            || self.vmos.iter().enumerate().any(|(s, v)| {
                matches!(v.kind, Kind::Slice { target, .. } if target == id) && self.alive(s)
            })
    }

    /// Whether a snapshot of `id` is refused: it is a slice, or reads through a clone
    /// parent that can still change.
    fn snapshot_refused(&self, id: usize) -> bool {
        let mut current = id;
        loop {
            match &self.vmos[current].kind {
                Kind::Slice { .. } => return current == id,
                Kind::Root { .. } => return false,
                Kind::Clone { parent, .. } => {
                    let mut parent = *parent;
                    if let Kind::Slice { target, .. } = self.vmos[parent].kind {
                        parent = target;
                    }
                    if self.node_alive(parent) {
                        return true;
                    }
                    current = parent;
                }
            }
        }
    }

    fn present(&self, id: usize) -> bool {
        self.alive(id)
            || self
                .vmos
                .iter()
                .enumerate()
                .any(|(c, v)| v.user_parent == Some(id) && self.present(c))
    }

    fn zero_children(&self, id: usize) -> bool {
        !self
            .vmos
            .iter()
            .enumerate()
            .any(|(c, v)| v.user_parent == Some(id) && self.present(c))
    }

    fn set_size(&mut self, id: usize, new: u64) {
        let old = self.vmos[id].size;
        match &mut self.vmos[id].kind {
            Kind::Root { pages } => pages.resize(new as usize, Page::zero()),
            Kind::Clone { limit, overlay, .. } => {
                *limit = (*limit).min(old.min(new));
                overlay.retain(|&k, _| k < new);
            }
            Kind::Slice { .. } => unreachable!("slices are not resizable"),
        }
        self.vmos[id].size = new;
        if new < old {
            for vmo in &mut self.vmos {
                if let Kind::Clone {
                    parent,
                    offset,
                    limit,
                    ..
                } = &mut vmo.kind
                {
                    if *parent == id {
                        *limit = (*limit).min(new.saturating_sub(*offset));
                    }
                }
            }
        }
    }
}

#[derive(Clone, Debug)]
enum Op {
    Create {
        pages: u64,
        resizable: bool,
    },
    /// Some chunks of the work closes and merges left for later (deferring harness only).
    Settle {
        chunks: u8,
    },
    Write {
        handle: usize,
        offset: usize,
        len: usize,
    },
    Read {
        handle: usize,
        offset: usize,
        len: usize,
    },
    Clone {
        handle: usize,
        offset: u64,
        pages: u64,
        resizable: bool,
    },
    Snapshot {
        handle: usize,
        offset: u64,
        pages: u64,
        resizable: bool,
    },
    Slice {
        handle: usize,
        offset: u64,
        pages: u64,
    },
    SetSize {
        handle: usize,
        pages: u64,
    },
    OperateRange {
        handle: usize,
        op: u32,
        offset: usize,
        len: usize,
    },
    Duplicate {
        handle: usize,
        rights: u32,
    },
    Replace {
        handle: usize,
        rights: u32,
    },
    Close {
        handle: usize,
    },
}

fn op_strategy() -> impl Strategy<Value = Op> {
    let h = 0..64usize;
    prop_oneof![
        (0..6u64, any::<bool>()).prop_map(|(pages, resizable)| Op::Create { pages, resizable }),
        (h.clone(), 0..6 * PAGE, 0..2 * PAGE + 100).prop_map(|(handle, offset, len)| Op::Write {
            handle,
            offset,
            len
        }),
        (h.clone(), 0..6 * PAGE, 0..3 * PAGE).prop_map(|(handle, offset, len)| Op::Read {
            handle,
            offset,
            len
        }),
        (h.clone(), 0..5u64, 0..6u64, any::<bool>()).prop_map(
            |(handle, offset, pages, resizable)| Op::Clone {
                handle,
                offset,
                pages,
                resizable
            }
        ),
        (h.clone(), 0..5u64, 0..6u64, any::<bool>()).prop_map(
            |(handle, offset, pages, resizable)| Op::Snapshot {
                handle,
                offset,
                pages,
                resizable
            }
        ),
        (h.clone(), 0..4u64, 0..4u64).prop_map(|(handle, offset, pages)| Op::Slice {
            handle,
            offset,
            pages
        }),
        (h.clone(), 0..7u64).prop_map(|(handle, pages)| Op::SetSize { handle, pages }),
        (
            h.clone(),
            prop_oneof![
                Just(ZX_VMO_OP_COMMIT),
                Just(ZX_VMO_OP_DECOMMIT),
                Just(ZX_VMO_OP_ZERO)
            ],
            0..6 * PAGE,
            0..3 * PAGE
        )
            .prop_map(|(handle, op, offset, len)| Op::OperateRange {
                handle,
                op,
                offset,
                len
            }),
        (h.clone(), any::<u32>()).prop_map(|(handle, rights)| Op::Duplicate { handle, rights }),
        (h.clone(), any::<u32>()).prop_map(|(handle, rights)| Op::Replace { handle, rights }),
        h.clone().prop_map(|handle| Op::Close { handle }),
        h.prop_map(|handle| Op::Close { handle }),
        (1..4u8).prop_map(|chunks| Op::Settle { chunks }),
    ]
}

/// [`op_strategy`] with more clones, writes, closes and settling: clones with clones of
/// their own get closed, and what they let go of is left for later and done in steps.
fn letting_go_op_strategy() -> impl Strategy<Value = Op> {
    let h = 0..64usize;
    prop_oneof![
        6 => op_strategy(),
        2 => (h.clone(), 0..2u64, 2..6u64).prop_map(|(handle, offset, pages)| Op::Clone {
            handle,
            offset,
            pages,
            resizable: true
        }),
        2 => (h.clone(), 0..6 * PAGE, 1..2 * PAGE).prop_map(|(handle, offset, len)| Op::Write {
            handle,
            offset,
            len
        }),
        1 => h.prop_map(|handle| Op::Close { handle }),
        1 => (1..3u8).prop_map(|chunks| Op::Settle { chunks }),
    ]
}

/// A handle the test holds: its value in the table and what the model says about it.
#[derive(Clone, Debug)]
struct Held {
    value: zx_handle_t,
    vmo: usize,
    rights: Rights,
}

struct Harness {
    frames: Arc<TestFrames>,
    table: HandleTable,
    model: Model,
    held: Vec<Held>,
    step: u32,
    /// Whether its families leave every close and merge that has any work for later
    /// (`Vmo::defer_long_work_above(0)`), done by `Op::Settle` a few chunks at a time.
    deferring: bool,
    /// Held by a deferring harness: the work left for later is global (any thread's
    /// `Op::Settle` may take another's family, and the checks ask whether any is left), so
    /// the deferring tests run one at a time.
    _serial: Option<std::sync::MutexGuard<'static, ()>>,
}

/// Rights a duplicate/replace asks for: a random subset of the VMO rights, or SAME_RIGHTS.
fn requested_rights(raw: u32) -> Rights {
    if raw & 0x8000_0000 != 0 && raw & 1 == 0 {
        Rights::SAME_RIGHTS
    } else {
        Rights::from_bits(raw & 0xff)
    }
}

impl Harness {
    fn new() -> Harness {
        Harness {
            frames: Arc::new(TestFrames::new()),
            table: HandleTable::new(0x5eed_1234, 1024),
            model: Model::default(),
            held: Vec::new(),
            step: 0,
            deferring: false,
            _serial: None,
        }
    }

    /// A harness whose families leave all their long work for later. Needs a preemption
    /// hook (installed here, once: it does nothing) for anything to be left.
    fn deferring() -> Harness {
        static HOOK: std::sync::Once = std::sync::Once::new();
        HOOK.call_once(|| object::preempt::set_hook(|| true));
        static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let serial = SERIAL
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // Whatever a failed case left for later goes first.
        while object::vmo::settle_deferred_chunk() {}
        Harness {
            deferring: true,
            _serial: Some(serial),
            ..Harness::new()
        }
    }

    fn pick(&self, index: usize) -> Option<Held> {
        if self.held.is_empty() {
            None
        } else {
            Some(self.held[index % self.held.len()].clone())
        }
    }

    fn lookup(&self, held: &Held, required: Rights) -> Result<Arc<Vmo>, Status> {
        self.table
            .get_object::<Vmo>(held.value, required)
            .map(|(vmo, _)| vmo)
    }

    fn add(&mut self, vmo: Arc<Vmo>, model: ModelVmo, rights: Rights) {
        self.model.vmos.push(model);
        let id = self.model.vmos.len() - 1;
        let value = self
            .table
            .add(Handle::new(vmo, rights))
            .expect("table has room");
        self.held.push(Held {
            value,
            vmo: id,
            rights,
        });
    }

    /// A unique stamp for this write: VMO id and step, so misrouted pages are caught.
    fn stamp(&self, vmo: usize, len: usize) -> Vec<u8> {
        let pattern = [vmo as u8, self.step as u8, (self.step >> 8) as u8, 0xa5];
        (0..len).map(|i| pattern[i % 4] ^ (i / 4) as u8).collect()
    }

    fn run(&mut self, op: Op) {
        self.step += 1;
        if std::env::var_os("VMO_MODEL_TRACE").is_some() {
            eprintln!(
                "step {}: {op:?} held={:?}",
                self.step,
                self.held
                    .iter()
                    .map(|h| (h.vmo, h.rights.bits()))
                    .collect::<Vec<_>>()
            );
        }
        match op {
            Op::Create { pages, resizable } => {
                let options = if resizable { 0 } else { ZX_VMO_NON_RESIZABLE };
                let vmo = Vmo::create(self.frames.clone(), pages * PAGE as u64, options).unwrap();
                if self.deferring {
                    vmo.defer_long_work_above(0);
                }
                let model = ModelVmo {
                    kind: Kind::Root {
                        pages: vec![Page::zero(); pages as usize],
                    },
                    size: pages,
                    resizable,
                    open_handles: 1,
                    user_parent: None,
                    order_parent: None,
                };
                self.model.order.push(self.model.vmos.len());
                self.add(vmo, model, Rights::DEFAULT_VMO);
            }
            Op::Write {
                handle,
                offset,
                len,
            } => {
                let Some(held) = self.pick(handle) else {
                    return;
                };
                let data = self.stamp(held.vmo, len);
                let size = self.model.vmos[held.vmo].size as usize * PAGE;
                let expected = if !held.rights.contains(Rights::WRITE) {
                    Err(Status::ACCESS_DENIED)
                } else if offset + len > size {
                    Err(Status::OUT_OF_RANGE)
                } else {
                    Ok(())
                };
                let result = self
                    .lookup(&held, Rights::WRITE)
                    .and_then(|v| v.write(offset as u64, &data));
                assert_eq!(result, expected, "write");
                if result.is_ok() {
                    self.model.write(held.vmo, offset, &data);
                }
            }
            Op::Read {
                handle,
                offset,
                len,
            } => {
                let Some(held) = self.pick(handle) else {
                    return;
                };
                let size = self.model.vmos[held.vmo].size as usize * PAGE;
                let mut buf = vec![0x77; len];
                let result = self
                    .lookup(&held, Rights::READ)
                    .and_then(|v| v.read(offset as u64, &mut buf));
                if !held.rights.contains(Rights::READ) {
                    assert_eq!(result, Err(Status::ACCESS_DENIED));
                } else if offset + len > size {
                    assert_eq!(result, Err(Status::OUT_OF_RANGE));
                } else {
                    assert_eq!(result, Ok(()));
                    assert_eq!(buf, self.model.content(held.vmo)[offset..offset + len]);
                }
            }
            Op::Clone {
                handle,
                offset,
                pages,
                resizable,
            } => {
                let Some(held) = self.pick(handle) else {
                    return;
                };
                let options = ZX_VMO_CLONE_COPY_ON_WRITE
                    | if resizable {
                        0
                    } else {
                        ZX_VMO_CLONE_NON_RESIZEABLE
                    };
                let needed = Rights::DUPLICATE | Rights::READ;
                let result = self.lookup(&held, needed).and_then(|v| {
                    v.create_clone(options, offset * PAGE as u64, pages * PAGE as u64)
                });
                if !held.rights.contains(needed) {
                    assert_eq!(result.err(), Some(Status::ACCESS_DENIED));
                    return;
                }
                let vmo = result.expect("clone");
                let (parent, base) = match self.model.vmos[held.vmo].kind {
                    Kind::Slice { target, offset: o } => (target, o),
                    _ => (held.vmo, 0),
                };
                let visible = self.model.vmos[held.vmo].size.saturating_sub(offset);
                let model = ModelVmo {
                    kind: Kind::Clone {
                        parent,
                        offset: offset + base,
                        limit: visible.min(pages),
                        overlay: BTreeMap::new(),
                    },
                    size: pages,
                    resizable,
                    open_handles: 1,
                    user_parent: Some(held.vmo),
                    order_parent: Some(parent),
                };
                let id = self.model.vmos.len();
                self.model.order_after_subtree_of(id, parent);
                self.add(vmo, model, clone_rights(held.rights));
            }
            Op::Snapshot {
                handle,
                offset,
                pages,
                resizable,
            } => {
                let Some(held) = self.pick(handle) else {
                    return;
                };
                let options =
                    ZX_VMO_CHILD_SNAPSHOT | if resizable { ZX_VMO_CHILD_RESIZABLE } else { 0 };
                let needed = Rights::DUPLICATE | Rights::READ;
                let result = self.lookup(&held, needed).and_then(|v| {
                    v.create_child(options, offset * PAGE as u64, pages * PAGE as u64)
                });
                if !held.rights.contains(needed) {
                    assert_eq!(result.err(), Some(Status::ACCESS_DENIED));
                    return;
                }
                if self.model.snapshot_refused(held.vmo) {
                    assert_eq!(result.err(), Some(Status::NOT_SUPPORTED));
                    return;
                }
                let vmo = result.expect("snapshot");
                let content: Vec<Page> = (0..pages)
                    .map(|k| {
                        if offset + k < self.model.vmos[held.vmo].size {
                            self.model.page(held.vmo, offset + k)
                        } else {
                            Page::zero()
                        }
                    })
                    .collect();
                let model = ModelVmo {
                    kind: Kind::Root { pages: content },
                    size: pages,
                    resizable,
                    open_handles: 1,
                    user_parent: Some(held.vmo),
                    order_parent: self.model.vmos[held.vmo].order_parent,
                };
                let id = self.model.vmos.len();
                self.model.order_after_subtree_of(id, held.vmo);
                self.add(vmo, model, child_rights(held.rights, options));
            }
            Op::Slice {
                handle,
                offset,
                pages,
            } => {
                let Some(held) = self.pick(handle) else {
                    return;
                };
                let needed = Rights::DUPLICATE | Rights::READ;
                let result = self.lookup(&held, needed).and_then(|v| {
                    v.create_child(
                        ZX_VMO_CHILD_SLICE,
                        offset * PAGE as u64,
                        pages * PAGE as u64,
                    )
                });
                let parent = &self.model.vmos[held.vmo];
                if !held.rights.contains(needed) {
                    assert_eq!(result.err(), Some(Status::ACCESS_DENIED));
                    return;
                }
                // The range first, then the parent's kind.
                if offset + pages > parent.size {
                    assert_eq!(result.err(), Some(Status::INVALID_ARGS));
                    return;
                }
                if parent.resizable {
                    assert_eq!(result.err(), Some(Status::NOT_SUPPORTED));
                    return;
                }
                let vmo = result.expect("slice");
                let (target, base) = match parent.kind {
                    Kind::Slice { target, offset: o } => (target, o),
                    _ => (held.vmo, 0),
                };
                let model = ModelVmo {
                    kind: Kind::Slice {
                        target,
                        offset: offset + base,
                    },
                    size: pages,
                    resizable: false,
                    open_handles: 1,
                    user_parent: Some(held.vmo),
                    order_parent: None,
                };
                self.add(vmo, model, child_rights(held.rights, ZX_VMO_CHILD_SLICE));
            }
            Op::SetSize { handle, pages } => {
                let Some(held) = self.pick(handle) else {
                    return;
                };
                let result = self
                    .lookup(&held, Rights::WRITE)
                    .and_then(|v| v.set_size(pages * PAGE as u64));
                if !held.rights.contains(Rights::WRITE) {
                    assert_eq!(result, Err(Status::ACCESS_DENIED));
                } else if !self.model.vmos[held.vmo].resizable {
                    assert_eq!(result, Err(Status::UNAVAILABLE));
                } else {
                    assert_eq!(result, Ok(()));
                    self.model.set_size(held.vmo, pages);
                }
            }
            Op::OperateRange {
                handle,
                op,
                offset,
                len,
            } => {
                let Some(held) = self.pick(handle) else {
                    return;
                };
                let size = self.model.vmos[held.vmo].size as usize * PAGE;
                let result = self.lookup(&held, Rights::WRITE).and_then(|v| {
                    v.op_range(op, offset as u64, len as u64, &CountingCache::default())
                });
                let expected = if !held.rights.contains(Rights::WRITE) {
                    Err(Status::ACCESS_DENIED)
                } else if offset + len > size {
                    Err(Status::OUT_OF_RANGE)
                } else if op == ZX_VMO_OP_DECOMMIT && (offset | len) % PAGE != 0 {
                    Err(Status::INVALID_ARGS)
                } else {
                    Ok(())
                };
                assert_eq!(result, expected, "op_range {op}");
                if result.is_ok() {
                    if op == ZX_VMO_OP_COMMIT {
                        // Committing gives a clone its own copy of each page: later parent
                        // writes no longer show through.
                        self.model.commit(held.vmo, offset, len);
                    } else {
                        self.model.zero(held.vmo, offset, len);
                    }
                }
            }
            Op::Duplicate { handle, rights } => {
                let Some(held) = self.pick(handle) else {
                    return;
                };
                let wanted = requested_rights(rights);
                let result = self.table.duplicate(held.value, wanted);
                if !held.rights.contains(Rights::DUPLICATE) {
                    assert_eq!(result.err(), Some(Status::ACCESS_DENIED));
                } else if wanted != Rights::SAME_RIGHTS && !held.rights.contains(wanted) {
                    assert_eq!(result.err(), Some(Status::INVALID_ARGS));
                } else {
                    let value = result.expect("duplicate");
                    let rights = if wanted == Rights::SAME_RIGHTS {
                        held.rights
                    } else {
                        wanted
                    };
                    self.model.vmos[held.vmo].open_handles += 1;
                    self.held.push(Held {
                        value,
                        vmo: held.vmo,
                        rights,
                    });
                }
            }
            Op::Replace { handle, rights } => {
                let Some(held) = self.pick(handle) else {
                    return;
                };
                let wanted = requested_rights(rights);
                let result = self.table.replace(held.value, wanted);
                let index = self
                    .held
                    .iter()
                    .position(|h| h.value == held.value)
                    .unwrap();
                self.held.remove(index);
                if wanted != Rights::SAME_RIGHTS && !held.rights.contains(wanted) {
                    assert_eq!(result.err(), Some(Status::INVALID_ARGS));
                    self.model.vmos[held.vmo].open_handles -= 1;
                } else {
                    let value = result.expect("replace");
                    let rights = if wanted == Rights::SAME_RIGHTS {
                        held.rights
                    } else {
                        wanted
                    };
                    self.held.push(Held {
                        value,
                        vmo: held.vmo,
                        rights,
                    });
                }
                // The source value is gone either way.
                assert_eq!(self.table.close(held.value), Err(Status::BAD_HANDLE));
            }
            Op::Settle { chunks } => {
                if self.deferring {
                    for _ in 0..chunks {
                        if !object::vmo::settle_deferred_chunk() {
                            break;
                        }
                    }
                }
            }
            Op::Close { handle } => {
                let Some(held) = self.pick(handle) else {
                    return;
                };
                assert_eq!(self.table.close(held.value), Ok(()));
                let index = self
                    .held
                    .iter()
                    .position(|h| h.value == held.value)
                    .unwrap();
                self.held.remove(index);
                self.model.vmos[held.vmo].open_handles -= 1;
            }
        }
        self.check();
    }

    fn check(&self) {
        let charges = self.model.charges();
        // Per family: the pages its kernel nodes hold, the sum of what its VMOs report, the
        // pages the model says its live VMOs see.
        let mut families: BTreeMap<usize, (usize, u64)> = BTreeMap::new();
        let mut checked = std::collections::BTreeSet::new();
        let mut unsettled = std::collections::BTreeSet::new();
        for held in &self.held {
            let (vmo, rights) = self
                .table
                .get_object::<Vmo>(held.value, Rights::NONE)
                .expect("open handle");
            assert_eq!(rights, held.rights, "rights");
            if !checked.insert(held.vmo) {
                continue;
            }
            let model = &self.model.vmos[held.vmo];
            assert_eq!(
                vmo.size(),
                model.size * PAGE as u64,
                "size of vmo {}",
                held.vmo
            );
            let mut content = vec![0x55; model.size as usize * PAGE];
            vmo.read(0, &mut content).unwrap();
            assert!(
                content == self.model.content(held.vmo),
                "content of vmo {}",
                held.vmo
            );
            // The kept charges follow the rule at every step, also between the chunks of
            // work left for later.
            if let Err(e) = vmo.check_family_charges() {
                panic!("charges of the family of vmo {}: {e}", held.vmo);
            }
            // What a family holds and who is charged for it match the model once the work
            // left for later is done; content always does.
            if vmo.has_deferred_work() {
                unsettled.insert(self.model.family_of(held.vmo));
                continue;
            }
            assert_eq!(
                vmo.committed_bytes(),
                self.model.committed(held.vmo, &charges),
                "committed bytes of vmo {}",
                held.vmo
            );
            let family = families
                .entry(self.model.family_of(held.vmo))
                .or_insert((vmo.family_committed_pages(), 0));
            family.1 += vmo.committed_bytes();
            let zero_children = vmo
                .base()
                .signals()
                .get()
                .contains(Signals::VMO_ZERO_CHILDREN);
            assert_eq!(
                zero_children,
                self.model.zero_children(held.vmo),
                "ZERO_CHILDREN of vmo {}",
                held.vmo
            );
        }
        let mut held_in_all = 0;
        for (root, (pages, reported)) in families {
            if unsettled.contains(&root) {
                continue;
            }
            let seen: u64 = charges
                .iter()
                .filter(|&(&v, _)| self.model.family_of(v) == root)
                .map(|(_, &n)| n)
                .sum();
            assert_eq!(pages as u64, seen, "pages held by the family of vmo {root}");
            assert_eq!(
                reported,
                pages as u64 * PAGE as u64,
                "committed bytes of the family of vmo {root} add up to its pages"
            );
            held_in_all += pages;
        }
        // A family nobody holds a handle to holds no page.
        if !unsettled.is_empty() || object::vmo::deferred_work_pending() {
            return;
        }
        assert_eq!(
            self.frames.in_use(),
            held_in_all,
            "pages outside open families"
        );
    }

    fn finish(mut self) {
        if self.deferring {
            while object::vmo::settle_deferred_chunk() {}
            self.check();
        }
        for held in std::mem::take(&mut self.held) {
            assert_eq!(self.table.close(held.value), Ok(()));
        }
        while self.deferring && object::vmo::settle_deferred_chunk() {}
        assert_eq!(self.table.count(), 0);
        assert_eq!(self.frames.in_use(), 0, "pages leaked");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, max_shrink_iters: 2000, ..ProptestConfig::default() })]

    #[test]
    fn vmo_layer_matches_the_model(ops in prop::collection::vec(op_strategy(), 1..80)) {
        let mut harness = Harness::new();
        // Start with two VMOs so early operations have something to act on.
        harness.run(Op::Create { pages: 4, resizable: true });
        harness.run(Op::Create { pages: 4, resizable: false });
        for op in ops {
            harness.run(op);
        }
        harness.finish();
    }

    #[test]
    fn vmo_layer_letting_go_of_clones_with_children_in_steps_matches_the_model(ops in prop::collection::vec(letting_go_op_strategy(), 1..80)) {
        let mut harness = Harness::deferring();
        harness.run(Op::Create { pages: 4, resizable: true });
        harness.run(Op::Create { pages: 4, resizable: false });
        for op in ops {
            harness.run(op);
        }
        harness.finish();
    }

    #[test]
    fn vmo_layer_with_work_left_for_later_matches_the_model(ops in prop::collection::vec(op_strategy(), 1..80)) {
        let mut harness = Harness::deferring();
        harness.run(Op::Create { pages: 4, resizable: true });
        harness.run(Op::Create { pages: 4, resizable: false });
        for op in ops {
            harness.run(op);
        }
        harness.finish();
    }
}

#[test]
fn partial_zero_in_a_clone_forks_the_page_found_by_the_model() {
    let ops = vec![
        Op::Close { handle: 0 },
        Op::Snapshot {
            handle: 0,
            offset: 0,
            pages: 0,
            resizable: false,
        },
        Op::Clone {
            handle: 0,
            offset: 0,
            pages: 0,
            resizable: false,
        },
        Op::Clone {
            handle: 3,
            offset: 0,
            pages: 4,
            resizable: false,
        },
        Op::Duplicate {
            handle: 4,
            rights: 203912280,
        },
        Op::Clone {
            handle: 0,
            offset: 0,
            pages: 0,
            resizable: false,
        },
        Op::Close { handle: 48 },
        Op::Create {
            pages: 0,
            resizable: false,
        },
        Op::Create {
            pages: 3,
            resizable: false,
        },
        Op::Close { handle: 32 },
        Op::OperateRange {
            handle: 44,
            op: 10,
            offset: 3365,
            len: 4828,
        },
        Op::Create {
            pages: 0,
            resizable: false,
        },
        Op::Close { handle: 0 },
        Op::Close { handle: 0 },
        Op::Snapshot {
            handle: 7,
            offset: 0,
            pages: 0,
            resizable: false,
        },
        Op::Write {
            handle: 55,
            offset: 0,
            len: 1,
        },
    ];
    let mut harness = Harness::new();
    harness.run(Op::Create {
        pages: 4,
        resizable: true,
    });
    harness.run(Op::Create {
        pages: 4,
        resizable: false,
    });
    for op in ops {
        harness.run(op);
    }
    harness.finish();
}
