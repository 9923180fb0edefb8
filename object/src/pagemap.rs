//! The pages a VMO node holds: page index -> frame, as a radix tree.
//!
//! Every page fault, read and write looks pages up here, so the map is a tree of fixed
//! 64-way levels indexed by the bits of the page index, like a page table: a lookup is a few
//! loads per level, where an ordered map compares keys node after node. The tree is only as
//! tall as the highest index needs (a 1 MiB VMO has two levels), and grows a level at the
//! top when a higher index arrives. Empty leaves and branches are freed as soon as their last
//! entry goes, so a map costs memory only around the pages it holds: a 512-byte leaf per 64
//! pages and a 1 KiB branch per 64 children.
//!
//! Ordered walks (`range`, `last_key_value`) skip empty subtrees, so they cost per page held,
//! not per index of the range.

use alloc::boxed::Box;
use alloc::vec;
use alloc::vec::Vec;
use core::ops::{Bound, RangeBounds};

use crate::frames::FrameAddr;

/// Index bits per level.
const BITS: u32 = 6;
const FANOUT: usize = 1 << BITS;
const MASK: u64 = FANOUT as u64 - 1;
/// Levels that cover every 64-bit index.
const MAX_HEIGHT: u32 = u64::BITS.div_ceil(BITS);

/// A leaf slot: 0 when empty, else the frame with bit 0 set (frames are page aligned).
type LeafSlot = u64;
const PRESENT: u64 = 1;

type Leaf = [LeafSlot; FANOUT];
type Branch = [Child; FANOUT];

/// An empty leaf, built on the heap (an array literal would be built on the stack and then
/// copied).
fn new_leaf() -> Box<Leaf> {
    match vec![0; FANOUT].into_boxed_slice().try_into() {
        Ok(leaf) => leaf,
        Err(_) => unreachable!("the vector has FANOUT slots"),
    }
}

/// An empty branch, built on the heap.
fn new_branch() -> Box<Branch> {
    let children: Vec<Child> = core::iter::repeat_with(|| Child::Empty)
        .take(FANOUT)
        .collect();
    match children.into_boxed_slice().try_into() {
        Ok(branch) => branch,
        Err(_) => unreachable!("the vector has FANOUT children"),
    }
}

/// A subtree: which kind follows from the level (leaves at the bottom), the tag keeps the
/// code free of unchecked casts.
#[derive(Default)]
enum Child {
    #[default]
    Empty,
    Leaf(Box<Leaf>),
    Branch(Box<Branch>),
}

impl Child {
    fn is_empty(&self) -> bool {
        matches!(self, Child::Empty)
    }
}

/// Page index -> frame, with the ordered-map operations the VMO code uses.
#[derive(Default)]
pub struct PageMap {
    root: Child,
    /// Levels under and including the root: indices below `64^height` fit. 0 when empty.
    height: u32,
    len: usize,
}

/// Indices covered by one child of a node `height` levels tall: 64^(height-1), at most 2^60.
fn span(height: u32) -> u64 {
    1 << (BITS * (height - 1))
}

/// The slot of `index` in a node `height` levels tall.
fn slot(index: u64, height: u32) -> usize {
    ((index >> (BITS * (height - 1))) & MASK) as usize
}

/// Levels needed for `index`.
fn height_for(index: u64) -> u32 {
    let bits = u64::BITS - index.leading_zeros();
    bits.div_ceil(BITS).max(1)
}

impl PageMap {
    pub fn new() -> Self {
        PageMap::default()
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn covers(&self, index: u64) -> bool {
        self.height >= MAX_HEIGHT || (self.height > 0 && index >> (BITS * self.height) == 0)
    }

    #[inline]
    pub fn get(&self, index: u64) -> Option<FrameAddr> {
        let entry = *self.leaf_from(index)?.first()?;
        (entry != 0).then_some(entry & !PRESENT)
    }

    /// The slots of the leaf holding `index`, from `index` to the leaf's end (at most 64);
    /// `None` if there is no such leaf (no page there).
    #[inline]
    fn leaf_from(&self, index: u64) -> Option<&[LeafSlot]> {
        if !self.covers(index) {
            return None;
        }
        let mut node = &self.root;
        let mut height = self.height;
        loop {
            match node {
                Child::Empty => return None,
                Child::Leaf(leaf) => return Some(&leaf[slot(index, height)..]),
                Child::Branch(branch) => {
                    node = &branch[slot(index, height)];
                    height -= 1;
                }
            }
        }
    }

    /// Visits the slots of pages `first..first + count` in order, a leaf at a time:
    /// `f(offset from first, slots)`, where missing leaves are skipped.
    fn for_each_run(&self, first: u64, count: usize, mut f: impl FnMut(usize, &[LeafSlot])) {
        let mut done = 0;
        while done < count {
            let index = first + done as u64;
            let in_leaf = (FANOUT - (index & MASK) as usize).min(count - done);
            if let Some(slots) = self.leaf_from(index) {
                f(done, &slots[..in_leaf]);
            }
            done += in_leaf;
        }
    }

    /// Fills `out` with the frames of pages `first..first + out.len()`, `missing` where there
    /// is none; returns how many pages have a frame. Costs a walk per 64 pages.
    pub fn get_run(&self, first: u64, out: &mut [FrameAddr], missing: FrameAddr) -> usize {
        if let [only] = out {
            // The common single page: one lookup.
            let frame = self.get(first);
            *only = frame.unwrap_or(missing);
            return usize::from(frame.is_some());
        }
        out.fill(missing);
        let mut present = 0;
        self.for_each_run(first, out.len(), |offset, slots| {
            for (out, &entry) in out[offset..].iter_mut().zip(slots) {
                if entry != 0 {
                    *out = entry & !PRESENT;
                    present += 1;
                }
            }
        });
        present
    }

    /// How many of pages `first..first + count` have a frame.
    pub fn count_run(&self, first: u64, count: usize) -> usize {
        if count == 1 {
            return usize::from(self.contains_key(first));
        }
        if count > self.len.saturating_mul(FANOUT) {
            // A range much larger than the map: visit what is there rather than every leaf
            // the range could hold.
            let last = first.saturating_add(count as u64 - 1);
            return self.range(first..=last).count();
        }
        let mut present = 0;
        self.for_each_run(first, count, |_, slots| {
            present += slots.iter().filter(|&&entry| entry != 0).count();
        });
        present
    }

    pub fn contains_key(&self, index: u64) -> bool {
        self.get(index).is_some()
    }

    /// Maps `index` to `frame` (page aligned); returns the frame it replaced.
    pub fn insert(&mut self, index: u64, frame: FrameAddr) -> Option<FrameAddr> {
        debug_assert_eq!(frame & PRESENT, 0, "frames are page aligned");
        if self.height == 0 {
            self.height = height_for(index);
        }
        while !self.covers(index) {
            // A new level on top: the old tree becomes the first child.
            let old = core::mem::take(&mut self.root);
            if !old.is_empty() {
                let mut branch = new_branch();
                branch[0] = old;
                self.root = Child::Branch(branch);
            }
            self.height += 1;
        }
        let mut node = &mut self.root;
        let mut height = self.height;
        loop {
            if node.is_empty() {
                *node = if height == 1 {
                    Child::Leaf(new_leaf())
                } else {
                    Child::Branch(new_branch())
                };
            }
            match node {
                Child::Empty => unreachable!("filled above"),
                Child::Leaf(leaf) => {
                    let entry = &mut leaf[slot(index, height)];
                    let old = *entry;
                    *entry = frame | PRESENT;
                    if old == 0 {
                        self.len += 1;
                        return None;
                    }
                    return Some(old & !PRESENT);
                }
                Child::Branch(branch) => {
                    node = &mut branch[slot(index, height)];
                    height -= 1;
                }
            }
        }
    }

    pub fn remove(&mut self, index: u64) -> Option<FrameAddr> {
        if !self.covers(index) {
            return None;
        }
        let removed = remove_in(&mut self.root, self.height, index);
        if removed.is_some() {
            self.len -= 1;
            if self.len == 0 {
                self.root = Child::Empty;
                self.height = 0;
            }
        }
        removed
    }

    /// The entries with indices in `range`, in increasing order.
    pub fn range(&self, range: impl RangeBounds<u64>) -> Range<'_> {
        let start = match range.start_bound() {
            Bound::Included(&s) => Some(s),
            Bound::Excluded(&s) => s.checked_add(1),
            Bound::Unbounded => Some(0),
        };
        // `end` is inclusive here, so that the whole index space can be named.
        let end = match range.end_bound() {
            Bound::Included(&e) => Some(e),
            Bound::Excluded(&e) => e.checked_sub(1),
            Bound::Unbounded => Some(u64::MAX),
        };
        let next = match (start, end) {
            (Some(start), Some(end)) if start <= end => Some(start),
            _ => None,
        };
        Range {
            map: self,
            start: next,
            last: end.unwrap_or(0),
            slots: &[],
            slots_base: 0,
            stack: [None; MAX_HEIGHT as usize],
            depth: 0,
        }
    }

    /// All entries, in increasing index order.
    pub fn iter(&self) -> Range<'_> {
        self.range(..)
    }

    pub fn keys(&self) -> impl Iterator<Item = u64> + '_ {
        self.iter().map(|(index, _)| index)
    }

    /// The entry with the highest index.
    pub fn last_key_value(&self) -> Option<(u64, FrameAddr)> {
        let mut node = &self.root;
        let mut height = self.height;
        let mut base = 0u64;
        loop {
            match node {
                Child::Empty => return None,
                Child::Leaf(leaf) => {
                    let i = leaf.iter().rposition(|&e| e != 0)?;
                    return Some((base + i as u64, leaf[i] & !PRESENT));
                }
                Child::Branch(branch) => {
                    let i = branch.iter().rposition(|c| !c.is_empty())?;
                    base += i as u64 * span(height);
                    node = &branch[i];
                    height -= 1;
                }
            }
        }
    }

    /// Empties the map, handing every entry to `f` in index order. Allocates nothing: this
    /// is how the pages of a dying VMO are freed, maybe just when memory ran out.
    #[inline]
    pub fn drain_each(&mut self, mut f: impl FnMut(u64, FrameAddr)) {
        if self.root.is_empty() {
            // Most VMOs die with nothing committed: no call.
            return;
        }
        let root = core::mem::take(&mut self.root);
        let height = self.height;
        *self = PageMap::new();
        drain_child(root, height, 0, &mut f);
    }

    /// Removes every entry at index `at` or above, handing each to `f` in index order.
    /// Allocates nothing.
    pub fn remove_from(&mut self, at: u64, f: impl FnMut(u64, FrameAddr)) {
        self.remove_range(at, u64::MAX, f);
    }

    /// Removes every entry with an index in `first..=last`, handing each to `f` in index
    /// order. Allocates nothing; costs per entry removed (empty subtrees are skipped).
    pub fn remove_range(&mut self, first: u64, last: u64, mut f: impl FnMut(u64, FrameAddr)) {
        if self.height == 0 || first > last {
            return;
        }
        let mut removed = 0;
        let bounds = (first, last);
        remove_range_child(
            &mut self.root,
            self.height,
            0,
            bounds,
            &mut |index, frame| {
                removed += 1;
                f(index, frame);
            },
        );
        self.len -= removed;
        if self.len == 0 {
            *self = PageMap::new();
        }
    }

    /// The end (exclusive) of the first stretch of `first..end` that holds at most `count`
    /// entries: just past the `count`th entry at or after `first`, or `end`. How long
    /// operations cut a range into chunks of bounded work.
    #[inline]
    pub fn chunk_end(&self, first: u64, end: u64, count: usize) -> u64 {
        match self.range(first..end).nth(count.saturating_sub(1)) {
            // Below `end`, so adding one cannot overflow.
            Some((index, _)) => index + 1,
            None => end,
        }
    }

    /// The highest index below `end` that holds an entry.
    pub fn last_below(&self, end: u64) -> Option<u64> {
        let bound = end.checked_sub(1)?;
        if self.height == 0 {
            return None;
        }
        last_at_or_below(&self.root, self.height, 0, bound)
    }

    /// The start of the last stretch of `first..end` that holds at most `count` entries: the
    /// `count`th entry below `end` counting down, or `first`. How work that must proceed from
    /// the top of a range (narrowing a window) cuts it into chunks of bounded work.
    pub fn chunk_start(&self, first: u64, end: u64, count: usize) -> u64 {
        let mut start = end;
        for _ in 0..count.max(1) {
            match self.last_below(start) {
                Some(index) if index >= first => start = index,
                _ => return first,
            }
        }
        start
    }
}

/// The highest index at or below `bound` under `node` (`height` levels tall, from index
/// `base`, with `base <= bound`). Each level looks at most at the 64 slots of one node
/// before it finds a non-empty child below the bound, so a call costs O(height * 64) loads.
fn last_at_or_below(node: &Child, height: u32, base: u64, bound: u64) -> Option<u64> {
    match node {
        Child::Empty => None,
        Child::Leaf(leaf) => {
            let top = (bound - base).min(MASK) as usize;
            leaf[..=top]
                .iter()
                .rposition(|&entry| entry != 0)
                .map(|i| base + i as u64)
        }
        Child::Branch(branch) => {
            let span = span(height);
            let top = ((bound - base) / span).min(MASK) as usize;
            // Children up to `top` start at or below `bound`, so their bases do not overflow;
            // only child `top` can hold entries above the bound.
            (0..=top).rev().find_map(|i| {
                let child_base = base + i as u64 * span;
                let child_bound = if i == top {
                    bound
                } else {
                    child_base + (span - 1)
                };
                last_at_or_below(&branch[i], height - 1, child_base, child_bound)
            })
        }
    }
}

/// Hands every entry under `node` (`height` levels tall, from index `base`) to `f`, freeing
/// the nodes.
fn drain_child(node: Child, height: u32, base: u64, f: &mut impl FnMut(u64, FrameAddr)) {
    match node {
        Child::Empty => {}
        Child::Leaf(leaf) => {
            for (i, &entry) in leaf.iter().enumerate() {
                if entry != 0 {
                    f(base + i as u64, entry & !PRESENT);
                }
            }
        }
        Child::Branch(mut branch) => {
            let span = span(height);
            for (i, child) in branch.iter_mut().enumerate() {
                if !child.is_empty() {
                    // A child that holds entries starts at a valid index.
                    let child_base = base.wrapping_add((i as u64).wrapping_mul(span));
                    drain_child(core::mem::take(child), height - 1, child_base, f);
                }
            }
        }
    }
}

/// Removes the entries in `first..=last` (`bounds`) under `node` (`height` levels tall, from
/// index `base`), handing each to `f`; frees nodes left empty.
fn remove_range_child(
    node: &mut Child,
    height: u32,
    base: u64,
    bounds: (u64, u64),
    f: &mut impl FnMut(u64, FrameAddr),
) {
    let (first, last) = bounds;
    let now_empty = match node {
        Child::Empty => return,
        Child::Leaf(leaf) => {
            if last < base {
                return;
            }
            let from = first.saturating_sub(base).min(FANOUT as u64) as usize;
            let to = (last - base).saturating_add(1).min(FANOUT as u64) as usize;
            for (i, entry) in leaf.iter_mut().enumerate().take(to).skip(from) {
                let entry = core::mem::take(entry);
                if entry != 0 {
                    f(base + i as u64, entry & !PRESENT);
                }
            }
            leaf.iter().all(|&entry| entry == 0)
        }
        Child::Branch(branch) => {
            let span = span(height);
            for (i, child) in branch.iter_mut().enumerate() {
                if child.is_empty() {
                    continue;
                }
                // A child that holds entries starts at a valid index and ends at or before
                // the last one.
                let child_base = base.wrapping_add((i as u64).wrapping_mul(span));
                let child_last = child_base.saturating_add(span - 1);
                if child_last < first || child_base > last {
                    continue;
                }
                if first <= child_base && child_last <= last {
                    drain_child(core::mem::take(child), height - 1, child_base, f);
                } else {
                    remove_range_child(child, height - 1, child_base, bounds, f);
                }
            }
            branch.iter().all(Child::is_empty)
        }
    };
    if now_empty {
        *node = Child::Empty;
    }
}

/// Clears `index` under `node` (`height` levels tall), freeing nodes left empty.
fn remove_in(node: &mut Child, height: u32, index: u64) -> Option<FrameAddr> {
    let (removed, now_empty) = match node {
        Child::Empty => return None,
        Child::Leaf(leaf) => {
            let entry = core::mem::take(&mut leaf[slot(index, height)]);
            if entry == 0 {
                return None;
            }
            (entry & !PRESENT, leaf.iter().all(|&e| e == 0))
        }
        Child::Branch(branch) => {
            let removed = remove_in(&mut branch[slot(index, height)], height - 1, index)?;
            (removed, branch.iter().all(Child::is_empty))
        }
    };
    if now_empty {
        *node = Child::Empty;
    }
    Some(removed)
}

/// A branch on the way from the root to the current leaf of a [`Range`]: the next slot to
/// look at, the branch's first index and its height.
type Frame<'a> = (&'a Branch, usize, u64, u32);

/// Iterator over a range of a [`PageMap`], in index order. It keeps the path from the root
/// to its current leaf, so each node is visited once and an empty slot costs a load: on a
/// very sparse map (one page per leaf) a descent from the root per entry, with a call per
/// empty slot on the way, cost several thousand instructions per entry.
pub struct Range<'a> {
    map: &'a PageMap,
    /// The first index, until the walk starts; `None` once started (or for an empty range).
    start: Option<u64>,
    /// The highest index of the range.
    last: u64,
    /// The part of the current leaf still to look at (within the range), and the index of
    /// its first slot.
    slots: &'a [LeafSlot],
    slots_base: u64,
    /// The branches above the current leaf, the root's first.
    stack: [Option<Frame<'a>>; MAX_HEIGHT as usize],
    depth: usize,
}

impl<'a> Range<'a> {
    /// Walks down from `node` (`height` levels tall, from index `base`) towards index `from`,
    /// pushing the branches passed; stops at a leaf (whose slots from `from` on become
    /// current) or at an empty child (the next `advance` goes on from the stack).
    fn descend(&mut self, node: &'a Child, height: u32, base: u64, from: u64) {
        let (mut node, mut height, mut base) = (node, height, base);
        loop {
            match node {
                Child::Empty => return,
                Child::Leaf(leaf) => {
                    if base > self.last {
                        return;
                    }
                    let first = from.saturating_sub(base).min(FANOUT as u64) as usize;
                    let end = (self.last - base).min(MASK) as usize;
                    if first <= end {
                        self.slots = &leaf[first..=end];
                        self.slots_base = base + first as u64;
                    }
                    return;
                }
                Child::Branch(branch) => {
                    let span = span(height);
                    let i = (from.saturating_sub(base) / span) as usize;
                    if i >= FANOUT || self.depth == self.stack.len() {
                        return;
                    }
                    let Some(child_base) = (i as u64)
                        .checked_mul(span)
                        .and_then(|offset| base.checked_add(offset))
                    else {
                        return;
                    };
                    self.stack[self.depth] = Some((&**branch, i + 1, base, height));
                    self.depth += 1;
                    if child_base > self.last {
                        return;
                    }
                    node = &branch[i];
                    base = child_base;
                    height -= 1;
                }
            }
        }
    }

    /// Moves to the next leaf with slots in the range; false when there is none.
    fn advance(&mut self) -> bool {
        while self.depth > 0 {
            let Some((branch, next, base, height)) = self.stack[self.depth - 1] else {
                return false;
            };
            let span = span(height);
            let Some(j) = (next..FANOUT).find(|&j| !branch[j].is_empty()) else {
                self.depth -= 1;
                continue;
            };
            // Past the index space (only at the top of a full-height tree): nothing more.
            let Some(child_base) = (j as u64)
                .checked_mul(span)
                .and_then(|offset| base.checked_add(offset))
            else {
                self.depth -= 1;
                continue;
            };
            if child_base > self.last {
                self.depth = 0;
                return false;
            }
            self.stack[self.depth - 1] = Some((branch, j + 1, base, height));
            self.descend(&branch[j], height - 1, child_base, child_base);
            if !self.slots.is_empty() {
                return true;
            }
        }
        false
    }
}

impl Iterator for Range<'_> {
    type Item = (u64, FrameAddr);

    fn next(&mut self) -> Option<(u64, FrameAddr)> {
        loop {
            while let Some((&entry, rest)) = self.slots.split_first() {
                let index = self.slots_base;
                self.slots = rest;
                // Wraps only past the last index, when no slot is left to number.
                self.slots_base = self.slots_base.wrapping_add(1);
                if entry != 0 {
                    return Some((index, entry & !PRESENT));
                }
            }
            if let Some(from) = self.start.take() {
                let map = self.map;
                self.descend(&map.root, map.height, 0, from);
                continue;
            }
            if !self.advance() {
                return None;
            }
        }
    }
}

impl Extend<(u64, FrameAddr)> for PageMap {
    fn extend<I: IntoIterator<Item = (u64, FrameAddr)>>(&mut self, entries: I) {
        for (index, frame) in entries {
            self.insert(index, frame);
        }
    }
}

impl core::fmt::Debug for PageMap {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn check(map: &PageMap, model: &BTreeMap<u64, FrameAddr>) {
        assert_eq!(map.len(), model.len());
        assert_eq!(map.is_empty(), model.is_empty());
        let all: Vec<_> = map.iter().collect();
        let expected: Vec<_> = model.iter().map(|(&k, &v)| (k, v)).collect();
        assert_eq!(all, expected);
        assert_eq!(
            map.last_key_value(),
            model.last_key_value().map(|(&k, &v)| (k, v))
        );
        if map.is_empty() {
            assert_eq!(map.height, 0);
            assert!(map.root.is_empty());
        }
    }

    #[test]
    fn small_and_huge_indices() {
        let mut map = PageMap::new();
        let mut model = BTreeMap::new();
        for (i, index) in [0, 1, 63, 64, 4095, 4096, 1 << 40, u64::MAX, u64::MAX - 1, 7]
            .into_iter()
            .enumerate()
        {
            let frame = (i as u64 + 1) << 12;
            assert_eq!(map.insert(index, frame), model.insert(index, frame));
            check(&map, &model);
        }
        assert_eq!(map.height, MAX_HEIGHT);
        assert_eq!(map.get(u64::MAX), Some(8 << 12));
        assert_eq!(map.get(1 << 39), None);
        let r: Vec<_> = map.range(64..=4096).map(|(k, _)| k).collect();
        assert_eq!(r, [64, 4095, 4096]);
        let r: Vec<_> = map.range(u64::MAX - 1..).map(|(k, _)| k).collect();
        assert_eq!(r, [u64::MAX - 1, u64::MAX]);
        assert_eq!(map.range(5..5).count(), 0);
        assert_eq!(map.insert(63, 0x1000), Some(3 << 12));
        model.insert(63, 0x1000);
        for index in [
            u64::MAX,
            0,
            1 << 40,
            12345,
            63,
            64,
            4095,
            4096,
            u64::MAX - 1,
            1,
            7,
        ] {
            assert_eq!(map.remove(index), model.remove(&index));
            check(&map, &model);
        }
        assert!(map.is_empty());
    }

    #[test]
    fn runs_across_leaves() {
        let mut map = PageMap::new();
        for index in [3u64, 63, 64, 130, 1000] {
            map.insert(index, index << 12);
        }
        let mut out = [0; 130];
        assert_eq!(map.get_run(2, &mut out, 1), 4);
        assert_eq!(out[1], 3 << 12);
        assert_eq!(out[61], 63 << 12);
        assert_eq!(out[62], 64 << 12);
        assert_eq!(out[128], 130 << 12);
        assert_eq!(out.iter().filter(|&&f| f == 1).count(), 126);
        assert_eq!(map.count_run(0, 1001), 5);
        assert_eq!(map.count_run(131, 800), 0);
        assert_eq!(map.count_run(u64::MAX - 3, 4), 0);
        let mut out = [0; 4];
        assert_eq!(map.get_run(1 << 50, &mut out, 7), 0);
        assert_eq!(out, [7; 4]);
    }

    #[test]
    fn remove_from_and_drain_each() {
        let mut map = PageMap::new();
        for i in 0..300u64 {
            map.insert(i * 3, i << 12);
        }
        map.insert(u64::MAX, 0x5000);
        let mut high = Vec::new();
        map.remove_from(450, |index, frame| high.push((index, frame)));
        assert_eq!(map.len(), 150);
        assert_eq!(high.len(), 151);
        assert_eq!(high[0], (450, 150 << 12));
        assert_eq!(high[150], (u64::MAX, 0x5000));
        assert_eq!(map.last_key_value(), Some((447, 149 << 12)));
        let mut all = Vec::new();
        map.drain_each(|index, frame| all.push((index, frame)));
        assert_eq!(all.len(), 150);
        assert!(all.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(map.is_empty());
        map.remove_from(0, |_, _| panic!("empty"));
        map.insert(5, 0x1000);
        map.remove_from(0, |_, _| {});
        assert!(map.is_empty());
    }

    #[derive(Clone, Debug)]
    enum Op {
        Insert(u64, u64),
        Remove(u64),
        Range(u64, u64),
        RemoveFrom(u64),
        RemoveRange(u64, u64),
        ChunkEnd(u64, u64, usize),
        ChunkStart(u64, u64, usize),
        Drain,
    }

    fn index() -> impl Strategy<Value = u64> {
        prop_oneof![
            4 => 0u64..200,
            2 => 0u64..5000,
            1 => any::<u64>(),
            1 => (u64::MAX - 100)..=u64::MAX,
        ]
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            5 => (index(), 1u64..1 << 20).prop_map(|(i, f)| Op::Insert(i, f << 12)),
            3 => index().prop_map(Op::Remove),
            2 => (index(), index()).prop_map(|(a, b)| Op::Range(a, b)),
            1 => index().prop_map(Op::RemoveFrom),
            2 => (index(), index()).prop_map(|(a, b)| Op::RemoveRange(a, b)),
            1 => (index(), index(), 0usize..80).prop_map(|(a, b, n)| Op::ChunkEnd(a, b, n)),
            1 => (index(), index(), 0usize..80).prop_map(|(a, b, n)| Op::ChunkStart(a, b, n)),
            1 => Just(Op::Drain),
        ]
    }

    proptest! {
        #[test]
        fn behaves_like_an_ordered_map(ops in prop::collection::vec(op(), 1..120)) {
            let mut map = PageMap::new();
            let mut model = BTreeMap::new();
            for op in ops {
                match op {
                    Op::Insert(i, f) => prop_assert_eq!(map.insert(i, f), model.insert(i, f)),
                    Op::Remove(i) => prop_assert_eq!(map.remove(i), model.remove(&i)),
                    Op::Range(a, b) => {
                        let got: Vec<_> = map.range(a..b).collect();
                        let want: Vec<_> = if a <= b {
                            model.range(a..b).map(|(&k, &v)| (k, v)).collect()
                        } else {
                            Vec::new()
                        };
                        prop_assert_eq!(got, want);
                        let got: Vec<_> = map.range(a..=b).collect();
                        let want: Vec<_> = if a <= b {
                            model.range(a..=b).map(|(&k, &v)| (k, v)).collect()
                        } else {
                            Vec::new()
                        };
                        prop_assert_eq!(got, want);
                    }
                    Op::RemoveFrom(at) => {
                        let mut removed = Vec::new();
                        map.remove_from(at, |index, frame| removed.push((index, frame)));
                        let want: Vec<_> = model.split_off(&at).into_iter().collect();
                        prop_assert_eq!(removed, want);
                    }
                    Op::RemoveRange(a, b) => {
                        let mut removed = Vec::new();
                        map.remove_range(a, b, |index, frame| removed.push((index, frame)));
                        let want: Vec<_> = if a <= b {
                            model.range(a..=b).map(|(&k, &v)| (k, v)).collect()
                        } else {
                            Vec::new()
                        };
                        for (k, _) in &want {
                            model.remove(k);
                        }
                        prop_assert_eq!(removed, want);
                    }
                    Op::ChunkEnd(a, b, n) => {
                        let want = if a < b {
                            model.range(a..b).nth(n.saturating_sub(1)).map_or(b, |(&k, _)| k + 1)
                        } else {
                            b
                        };
                        prop_assert_eq!(map.chunk_end(a, b, n), want);
                    }
                    Op::ChunkStart(a, b, n) => {
                        let want = if a < b {
                            model.range(a..b).nth_back(n.max(1) - 1).map_or(a, |(&k, _)| k)
                        } else {
                            a
                        };
                        prop_assert_eq!(map.chunk_start(a, b, n), want);
                        prop_assert_eq!(
                            map.last_below(b),
                            model.range(..b).next_back().map(|(&k, _)| k)
                        );
                    }
                    Op::Drain => {
                        let mut drained = Vec::new();
                        map.drain_each(|index, frame| drained.push((index, frame)));
                        let want: Vec<_> = core::mem::take(&mut model).into_iter().collect();
                        prop_assert_eq!(drained, want);
                    }
                }
                for probe in [0u64, 1, 63, 64, 199, u64::MAX] {
                    prop_assert_eq!(map.get(probe), model.get(&probe).copied());
                }
                let mut one = [0];
                prop_assert_eq!(map.get_run(64, &mut one, 1), usize::from(model.contains_key(&64)));
                prop_assert_eq!(one[0], model.get(&64).copied().unwrap_or(1));
                prop_assert_eq!(map.count_run(64, 1), usize::from(model.contains_key(&64)));
                let mut run = [0; 150];
                let present = map.get_run(40, &mut run, 1);
                let want: Vec<_> = (40..190u64).map(|i| model.get(&i).copied().unwrap_or(1)).collect();
                prop_assert_eq!(&run[..], &want[..]);
                prop_assert_eq!(present, model.range(40..190).count());
                prop_assert_eq!(map.count_run(40, 150), present);
                check(&map, &model);
            }
        }
    }
}
