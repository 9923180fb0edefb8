//! Checked reader for the flattened device-tree (FDT) format.
//!
//! Written here rather than taken from the `fdt` crate because that crate panics on malformed
//! input (`unwrap`, `expect`, unchecked slicing), and the DTB is firmware input the kernel must
//! survive. [`Blob::new`] validates the header and the whole structure block once, so later walks
//! can treat an unexpected token as "end of data" without losing anything real; every access is
//! still bounds-checked, so nothing here can panic whatever the bytes are.

use core::ops::ControlFlow;

use arrayvec::ArrayVec;

use super::DtbError;

/// Size of a version-17 header, the smallest header that carries every field we read.
pub const HEADER_LEN: usize = 40;
const MAGIC: u32 = 0xd00d_feed;
/// The format this reader implements; a newer blob is accepted if it declares itself readable
/// by a version-17 reader (`last_comp_version`).
const VERSION: u32 = 17;

const FDT_BEGIN_NODE: u32 = 1;
const FDT_END_NODE: u32 = 2;
const FDT_PROP: u32 = 3;
const FDT_NOP: u32 = 4;
const FDT_END: u32 = 9;

/// Deepest node nesting accepted. Real trees are under 8 levels; the bound keeps the ancestor
/// stacks fixed-size without `alloc`.
pub const MAX_DEPTH: usize = 16;

/// A node's ancestors, root first, parent last. Kept as offsets rather than [`Node`]s so the
/// several of these alive during a lookup stay small on an early-boot stack.
#[derive(Clone)]
pub struct Ancestors<'a> {
    tree: Tree<'a>,
    starts: ArrayVec<usize, MAX_DEPTH>,
}

impl<'a> Ancestors<'a> {
    fn new(tree: Tree<'a>) -> Self {
        Ancestors {
            tree,
            starts: ArrayVec::new(),
        }
    }

    /// The (empty) ancestors of the root node.
    pub fn of_root(root: &Node<'a>) -> Self {
        Ancestors::new(root.tree)
    }

    /// Ancestors given outright, root first; None if there are none or more than [`MAX_DEPTH`].
    pub fn of(nodes: &[Node<'a>]) -> Option<Self> {
        let tree = nodes.first()?.tree;
        let mut a = Ancestors::new(tree);
        for n in nodes {
            a.push(n)?;
        }
        Some(a)
    }

    fn push(&mut self, node: &Node<'a>) -> Option<()> {
        self.starts.try_push(node.start).ok()
    }

    pub fn len(&self) -> usize {
        self.starts.len()
    }

    pub fn get(&self, i: usize) -> Option<Node<'a>> {
        self.tree.node_at(*self.starts.get(i)?)
    }

    /// The parent of the node these are the ancestors of.
    pub fn last(&self) -> Option<Node<'a>> {
        self.get(self.len().checked_sub(1)?)
    }

    /// Parent first, root last.
    pub fn nearest_first(&self) -> impl Iterator<Item = Node<'a>> + '_ {
        self.starts
            .iter()
            .rev()
            .filter_map(|&s| self.tree.node_at(s))
    }
}

fn be32(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes(b.try_into().ok()?))
}

fn be64(bytes: &[u8], at: usize) -> Option<u64> {
    let b = bytes.get(at..at.checked_add(8)?)?;
    Some(u64::from_be_bytes(b.try_into().ok()?))
}

fn align4(n: usize) -> Option<usize> {
    Some(n.checked_add(3)? & !3)
}

/// The NUL-terminated string starting at `at`, without its terminator.
fn cstr(bytes: &[u8], at: usize) -> Option<&[u8]> {
    let rest = bytes.get(at..)?;
    let len = rest.iter().position(|&b| b == 0)?;
    rest.get(..len)
}

/// The fields of the header this reader uses.
#[derive(Clone, Copy, Debug)]
pub struct Header {
    pub totalsize: usize,
    off_struct: usize,
    off_strings: usize,
    off_rsvmap: usize,
    size_strings: usize,
    size_struct: usize,
}

/// Checks a block `[off, off + size)` lies after the header and inside `totalsize`.
fn block_inside(off: usize, size: usize, totalsize: usize) -> bool {
    off >= HEADER_LEN && off.checked_add(size).is_some_and(|end| end <= totalsize)
}

pub fn parse_header(bytes: &[u8]) -> Result<Header, DtbError> {
    if bytes.is_empty() {
        return Err(DtbError::NoDtb);
    }
    let field = |i: usize| be32(bytes, i * 4);
    let magic = field(0).ok_or(DtbError::Truncated {
        needed: HEADER_LEN,
        available: bytes.len(),
    })?;
    if magic != MAGIC {
        return Err(DtbError::BadMagic);
    }
    if bytes.len() < HEADER_LEN {
        return Err(DtbError::Truncated {
            needed: HEADER_LEN,
            available: bytes.len(),
        });
    }
    // Every field exists now that the length is checked; `unwrap_or(0)` never takes effect.
    let f = |i: usize| field(i).unwrap_or(0) as usize;
    let (version, last_compatible) = (f(5) as u32, f(6) as u32);
    if version < VERSION || last_compatible > VERSION {
        return Err(DtbError::UnsupportedVersion {
            version,
            last_compatible,
        });
    }
    let header = Header {
        totalsize: f(1),
        off_struct: f(2),
        off_strings: f(3),
        off_rsvmap: f(4),
        size_strings: f(8),
        size_struct: f(9),
    };
    if header.totalsize < HEADER_LEN {
        return Err(DtbError::BadHeader(
            "totalsize is smaller than the header itself",
        ));
    }
    if header.totalsize > bytes.len() {
        return Err(DtbError::Truncated {
            needed: header.totalsize,
            available: bytes.len(),
        });
    }
    // The spec requires these alignments (tokens are 4-byte aligned relative to the blob start,
    // reservation entries 8-byte); a blob violating them was not made by a real tool.
    if !header.off_struct.is_multiple_of(4) || !header.off_rsvmap.is_multiple_of(8) {
        return Err(DtbError::BadHeader("a block offset is misaligned"));
    }
    if !block_inside(header.off_struct, header.size_struct, header.totalsize) {
        return Err(DtbError::BadHeader(
            "the structure block lies outside totalsize",
        ));
    }
    if !block_inside(header.off_strings, header.size_strings, header.totalsize) {
        return Err(DtbError::BadHeader(
            "the strings block lies outside totalsize",
        ));
    }
    if !block_inside(header.off_rsvmap, 0, header.totalsize) {
        return Err(DtbError::BadHeader(
            "the memory reservation block lies outside totalsize",
        ));
    }
    Ok(header)
}

/// A validated device tree: the three blocks of the blob.
#[derive(Clone, Copy)]
pub struct Blob<'a> {
    tree: Tree<'a>,
    /// From the reservation block to the end of the blob; its length is not in the header, the
    /// (0, 0) terminator ends it.
    rsvmap: &'a [u8],
}

/// The structure and strings blocks: all a [`Node`] needs to read itself.
#[derive(Clone, Copy)]
struct Tree<'a> {
    structs: &'a [u8],
    strings: &'a [u8],
}

impl<'a> Tree<'a> {
    /// Decodes the property whose `FDT_PROP` token ended just before `pos`: its name (None if
    /// the name offset is bad), its value, and the offset of the next token.
    fn prop_at(&self, pos: usize) -> Option<(Option<&'a str>, &'a [u8], usize)> {
        let len = be32(self.structs, pos)? as usize;
        let nameoff = be32(self.structs, pos + 4)? as usize;
        let start = pos + 8;
        let end = start.checked_add(len)?;
        let value = self.structs.get(start..end)?;
        let name = cstr(self.strings, nameoff).and_then(|n| core::str::from_utf8(n).ok());
        Some((name, value, align4(end)?))
    }

    /// Decodes the node whose `FDT_BEGIN_NODE` token is at `start`.
    fn node_at(&self, start: usize) -> Option<Node<'a>> {
        if be32(self.structs, start)? != FDT_BEGIN_NODE {
            return None;
        }
        let raw = cstr(self.structs, start + 4)?;
        let name = core::str::from_utf8(raw).ok()?;
        Some(Node {
            tree: *self,
            name,
            start,
            body: align4(start + 4 + raw.len() + 1)?,
        })
    }
}

impl<'a> Blob<'a> {
    pub fn new(bytes: &'a [u8]) -> Result<Self, DtbError> {
        let h = parse_header(bytes)?;
        let block = |off: usize, size: usize| {
            bytes
                .get(off..off.saturating_add(size))
                .ok_or(DtbError::BadHeader("a block lies outside the blob"))
        };
        let blob = Blob {
            tree: Tree {
                structs: block(h.off_struct, h.size_struct)?,
                strings: block(h.off_strings, h.size_strings)?,
            },
            rsvmap: block(h.off_rsvmap, h.totalsize - h.off_rsvmap)?,
        };
        blob.validate_structure()?;
        Ok(blob)
    }

    /// Walks the whole token stream once, so later walks may assume it is well formed.
    fn validate_structure(&self) -> Result<(), DtbError> {
        let tree = &self.tree;
        let mut pos = 0;
        let mut depth = 0usize;
        let mut seen_root = false;
        loop {
            let token = be32(tree.structs, pos).ok_or(DtbError::Parse(
                "the structure block ends without an FDT_END token",
            ))?;
            pos += 4;
            match token {
                FDT_BEGIN_NODE => {
                    if depth == 0 && seen_root {
                        return Err(DtbError::Parse("there is more than one root node"));
                    }
                    let name = cstr(tree.structs, pos)
                        .ok_or(DtbError::Parse("a node name runs past the structure block"))?;
                    if core::str::from_utf8(name).is_err() {
                        return Err(DtbError::Parse("a node name is not valid UTF-8"));
                    }
                    pos = align4(pos + name.len() + 1)
                        .ok_or(DtbError::Parse("a node name runs past the structure block"))?;
                    depth += 1;
                    if depth > MAX_DEPTH {
                        return Err(DtbError::Parse("nodes are nested more than 16 levels deep"));
                    }
                    seen_root = true;
                }
                FDT_END_NODE => {
                    depth = depth.checked_sub(1).ok_or(DtbError::Parse(
                        "an FDT_END_NODE token has no matching node",
                    ))?;
                }
                FDT_PROP => {
                    if depth == 0 {
                        return Err(DtbError::Parse("a property lies outside any node"));
                    }
                    let (name, _, next) = tree
                        .prop_at(pos)
                        .ok_or(DtbError::Parse("a property runs past the structure block"))?;
                    if name.is_none() {
                        return Err(DtbError::Parse(
                            "a property name is missing from the strings block or not UTF-8",
                        ));
                    }
                    pos = next;
                }
                FDT_NOP => {}
                FDT_END => {
                    return if depth != 0 {
                        Err(DtbError::Parse("the structure block ends inside a node"))
                    } else if !seen_root {
                        Err(DtbError::Parse("the structure block has no root node"))
                    } else {
                        Ok(())
                    };
                }
                _ => {
                    return Err(DtbError::Parse(
                        "the structure block holds an unknown token",
                    ))
                }
            }
        }
    }

    pub fn root(&self) -> Option<Node<'a>> {
        let mut pos = 0;
        while be32(self.tree.structs, pos)? == FDT_NOP {
            pos += 4;
        }
        self.tree.node_at(pos)
    }

    /// `/memreserve/` entries, in order, without the terminator. An entry that does not fit
    /// is an error rather than a silent end, since dropping a reservation could let the kernel
    /// overwrite firmware.
    pub fn reservations(&self) -> impl Iterator<Item = Result<(u64, u64), DtbError>> + 'a {
        let rsvmap = self.rsvmap;
        let mut pos = 0usize;
        let mut done = false;
        core::iter::from_fn(move || {
            if done {
                return None;
            }
            let entry = be64(rsvmap, pos).zip(pos.checked_add(8).and_then(|p| be64(rsvmap, p)));
            pos = pos.saturating_add(16);
            match entry {
                None => {
                    done = true;
                    Some(Err(DtbError::Parse(
                        "the memory reservation block has no terminator",
                    )))
                }
                Some((0, 0)) => {
                    done = true;
                    None
                }
                Some(entry) => Some(Ok(entry)),
            }
        })
    }

    /// Depth-first, document-order visit of every node, with its ancestors; stops early when
    /// `f` breaks.
    pub fn walk<B>(
        &self,
        mut f: impl FnMut(Node<'a>, &Ancestors<'a>) -> ControlFlow<B>,
    ) -> Option<B> {
        let tree = self.tree;
        let mut stack = Ancestors::new(tree);
        let mut pos = 0;
        loop {
            match be32(tree.structs, pos)? {
                FDT_BEGIN_NODE => {
                    let node = tree.node_at(pos)?;
                    if let ControlFlow::Break(b) = f(node, &stack) {
                        return Some(b);
                    }
                    stack.push(&node)?;
                    pos = node.body;
                }
                FDT_END_NODE => {
                    stack.starts.pop()?;
                    pos += 4;
                }
                FDT_PROP => pos = tree.prop_at(pos + 4)?.2,
                FDT_NOP => pos += 4,
                _ => return None,
            }
        }
    }

    /// The first node (in document order) matching `pred`, with its ancestors.
    pub fn find(
        &self,
        mut pred: impl FnMut(&Node<'a>, &Ancestors<'a>) -> bool,
    ) -> Option<(Node<'a>, Ancestors<'a>)> {
        self.walk(|node, ancestors| {
            if pred(&node, ancestors) {
                ControlFlow::Break((node, ancestors.clone()))
            } else {
                ControlFlow::Continue(())
            }
        })
    }

    pub fn find_phandle(&self, phandle: u32) -> Option<(Node<'a>, Ancestors<'a>)> {
        self.find(|n, _| n.phandle() == Some(phandle))
    }

    /// Resolves an absolute path (`/soc/serial@7e201000`), or an alias optionally followed by
    /// more path (`serial0`, `serial0/bluetooth`), to a node and its ancestors.
    ///
    /// A component without `@` matches the first child whose name before `@` equals it, as in
    /// Linux; a component with `@` must match exactly.
    pub fn find_path(&self, path: &str) -> Option<(Node<'a>, Ancestors<'a>)> {
        let root = self.root()?;
        let (mut node, mut ancestors, rest) = if let Some(rest) = path.strip_prefix('/') {
            (root, Ancestors::new(self.tree), rest)
        } else {
            let (alias, rest) = path.split_once('/').unwrap_or((path, ""));
            let aliases = root.children().find(|c| c.name == "aliases")?;
            let target = aliases.prop_str(alias).ok()??;
            // An alias must be an absolute path; refusing anything else also bounds recursion.
            if !target.starts_with('/') {
                return None;
            }
            let (node, ancestors) = self.find_path(target)?;
            (node, ancestors, rest)
        };
        for component in rest.split('/').filter(|c| !c.is_empty()) {
            let child = node.children().find(|c| {
                c.name == component
                    || (!component.contains('@') && c.name.split('@').next() == Some(component))
            })?;
            ancestors.push(&node)?;
            node = child;
        }
        Some((node, ancestors))
    }
}

/// One node: its name and where its properties start.
#[derive(Clone, Copy)]
pub struct Node<'a> {
    tree: Tree<'a>,
    pub name: &'a str,
    /// Offset of the node's `FDT_BEGIN_NODE` token; identifies the node.
    start: usize,
    /// Offset of the first token after the name.
    body: usize,
}

impl core::fmt::Debug for Node<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Node({:?} @ {:#x})", self.name, self.start)
    }
}

impl<'a> Node<'a> {
    /// Whether two handles name the same node of the same tree.
    pub fn same(&self, other: &Node<'_>) -> bool {
        self.start == other.start
    }

    /// The node's properties as (name, value). Properties precede child nodes in the format,
    /// so this stops at the first child.
    pub fn props(&self) -> impl Iterator<Item = (&'a str, &'a [u8])> + 'a {
        let tree = self.tree;
        let mut pos = self.body;
        core::iter::from_fn(move || loop {
            match be32(tree.structs, pos)? {
                FDT_NOP => pos += 4,
                FDT_PROP => {
                    let (name, value, next) = tree.prop_at(pos + 4)?;
                    pos = next;
                    return Some((name?, value));
                }
                _ => return None,
            }
        })
    }

    pub fn prop(&self, name: &str) -> Option<&'a [u8]> {
        self.props().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    pub fn has_prop(&self, name: &str) -> bool {
        self.prop(name).is_some()
    }

    /// The direct children, in order.
    pub fn children(&self) -> impl Iterator<Item = Node<'a>> + 'a {
        let tree = self.tree;
        let mut pos = self.body;
        let mut depth = 0usize;
        core::iter::from_fn(move || loop {
            match be32(tree.structs, pos)? {
                FDT_BEGIN_NODE => {
                    let node = tree.node_at(pos)?;
                    pos = node.body;
                    depth += 1;
                    if depth == 1 {
                        return Some(node);
                    }
                }
                FDT_END_NODE => {
                    // depth 0 means this is our own end.
                    depth = depth.checked_sub(1)?;
                    pos += 4;
                }
                FDT_PROP => pos = tree.prop_at(pos + 4)?.2,
                FDT_NOP => pos += 4,
                _ => return None,
            }
        })
    }

    /// A string property: its first string. `Ok(None)` if absent, an error if it is not a
    /// NUL-terminated UTF-8 string.
    pub fn prop_str(&self, name: &str) -> Result<Option<&'a str>, DtbError> {
        match self.prop(name) {
            None => Ok(None),
            Some(v) => first_str(v).map(Some),
        }
    }

    /// The strings of a string-list property (`compatible`); empty if absent. Stops at the
    /// first entry that is not UTF-8.
    pub fn strings(&self, name: &str) -> impl Iterator<Item = &'a str> + 'a {
        let mut rest = self.prop(name).unwrap_or(&[]);
        core::iter::from_fn(move || {
            let len = rest.iter().position(|&b| b == 0)?;
            let s = core::str::from_utf8(rest.get(..len)?).ok()?;
            rest = rest.get(len + 1..)?;
            Some(s)
        })
    }

    pub fn is_compatible(&self, any_of: &[&str]) -> bool {
        self.strings("compatible").any(|c| any_of.contains(&c))
    }

    /// A one-cell property. `Ok(None)` if absent, an error if not exactly 4 bytes.
    pub fn prop_u32(&self, name: &str) -> Result<Option<u32>, DtbError> {
        match self.prop(name) {
            None => Ok(None),
            Some(v) if v.len() == 4 => Ok(be32(v, 0)),
            Some(_) => Err(DtbError::Parse("a one-cell property is not 4 bytes long")),
        }
    }

    /// A property holding one or two cells (`linux,initrd-start`, `cpu-release-addr`).
    pub fn prop_u32_or_u64(&self, name: &str) -> Result<Option<u64>, DtbError> {
        match self.prop(name) {
            None => Ok(None),
            Some(v) if v.len() == 4 => Ok(be32(v, 0).map(u64::from)),
            Some(v) if v.len() == 8 => Ok(be64(v, 0)),
            Some(_) => Err(DtbError::Parse(
                "a one- or two-cell property has another length",
            )),
        }
    }

    pub fn phandle(&self) -> Option<u32> {
        let v = self
            .prop("phandle")
            .or_else(|| self.prop("linux,phandle"))?;
        if v.len() == 4 {
            be32(v, 0)
        } else {
            None
        }
    }

    /// `#address-cells`, defaulting to 2 as the spec says. More than 4 cells would not fit the
    /// 128-bit arithmetic used for bus addresses.
    pub fn address_cells(&self) -> Result<u32, DtbError> {
        match self.prop_u32("#address-cells")? {
            None => Ok(2),
            Some(n) if n <= 4 => Ok(n),
            Some(_) => Err(DtbError::Parse("#address-cells is larger than 4")),
        }
    }

    /// `#size-cells`, defaulting to 1 as the spec says.
    pub fn size_cells(&self) -> Result<u32, DtbError> {
        match self.prop_u32("#size-cells")? {
            None => Ok(1),
            Some(n) if n <= 4 => Ok(n),
            Some(_) => Err(DtbError::Parse("#size-cells is larger than 4")),
        }
    }

    /// `status` absent, "okay" or "ok".
    pub fn is_enabled(&self) -> bool {
        matches!(self.prop_str("status"), Ok(None | Some("okay" | "ok")))
    }

    /// The device_type property equals `ty`.
    pub fn is_device_type(&self, ty: &str) -> bool {
        matches!(self.prop_str("device_type"), Ok(Some(t)) if t == ty)
    }
}

/// The first NUL-terminated string of a property value.
pub fn first_str(value: &[u8]) -> Result<&str, DtbError> {
    let s = cstr(value, 0).ok_or(DtbError::Parse("a string property is not NUL-terminated"))?;
    core::str::from_utf8(s).map_err(|_| DtbError::Parse("a string property is not valid UTF-8"))
}

/// Reads `cells` big-endian 32-bit cells (at most 4) as one number.
pub fn read_cells(bytes: &[u8], at: usize, cells: u32) -> Option<u128> {
    let mut value = 0u128;
    for i in 0..cells as usize {
        value = (value << 32) | u128::from(be32(bytes, at.checked_add(i * 4)?)?);
    }
    Some(value)
}
