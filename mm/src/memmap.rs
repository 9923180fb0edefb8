//! Physical address ranges and fixed-capacity range sets.
//!
//! Everything here lives on the stack or in statics: the boot code computes free RAM with it
//! before any heap exists.
//!
//! Ranges are half-open `[start, end)` over `u64`. The very last byte of the address space
//! (`u64::MAX`) cannot be inside any range; arithmetic that would reach past it saturates at
//! `u64::MAX` instead of wrapping, so "up to the top" is spelled `end == u64::MAX`.

use core::fmt;
use core::iter::Copied;
use core::slice;

use crate::PAGE_SIZE;

const PAGE_MASK: u64 = PAGE_SIZE as u64 - 1;

/// A half-open range `[start, end)` of physical addresses. Empty when `end <= start`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PhysRange {
    /// First address in the range.
    pub start: u64,
    /// First address past the range.
    pub end: u64,
}

impl PhysRange {
    /// The canonical empty range.
    pub const EMPTY: PhysRange = PhysRange { start: 0, end: 0 };

    /// `[start, end)`.
    pub const fn new(start: u64, end: u64) -> Self {
        PhysRange { start, end }
    }

    /// `[base, base + size)`, with the end saturating at `u64::MAX` (device trees may describe
    /// a region that reaches the top of the address space).
    pub const fn from_base_size(base: u64, size: u64) -> Self {
        PhysRange {
            start: base,
            end: base.saturating_add(size),
        }
    }

    /// Length in bytes (0 for an empty range).
    pub const fn len(&self) -> u64 {
        self.end.saturating_sub(self.start)
    }

    /// Whether the range holds no address.
    pub const fn is_empty(&self) -> bool {
        self.end <= self.start
    }

    /// Whether `addr` is inside the range.
    pub const fn contains(&self, addr: u64) -> bool {
        self.start <= addr && addr < self.end
    }

    /// Whether the two ranges share at least one address (empty ranges overlap nothing).
    pub const fn overlaps(&self, other: &PhysRange) -> bool {
        !self.is_empty() && !other.is_empty() && self.start < other.end && other.start < self.end
    }

    /// The largest page-aligned range inside `self`: start rounded up, end rounded down.
    /// The result may be empty.
    pub const fn page_align_inward(&self) -> Self {
        let end = self.end & !PAGE_MASK;
        match self.start.checked_add(PAGE_MASK) {
            Some(s) if s & !PAGE_MASK < end => PhysRange::new(s & !PAGE_MASK, end),
            _ => PhysRange::new(end, end),
        }
    }

    /// The smallest page-aligned range covering `self`: start rounded down, end rounded up.
    /// An end in the top page saturates at `u64::MAX`. Empty ranges stay empty, so an empty
    /// reservation never swallows a page.
    pub const fn page_align_outward(&self) -> Self {
        if self.is_empty() {
            return *self;
        }
        let end = match self.end.checked_add(PAGE_MASK) {
            Some(e) => e & !PAGE_MASK,
            None => u64::MAX,
        };
        PhysRange::new(self.start & !PAGE_MASK, end)
    }
}

impl fmt::Display for PhysRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{:#x}, {:#x})", self.start, self.end)
    }
}

/// A [`RangeSet`] operation needed more than its fixed number of ranges.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CapacityError;

impl fmt::Display for CapacityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("range set capacity exceeded")
    }
}

/// A set of physical addresses stored as at most `N` sorted, disjoint, non-adjacent ranges.
///
/// Adjacent or overlapping insertions merge, so the representation of a given set of
/// addresses is unique. Failed operations leave the set unchanged.
#[derive(Clone)]
pub struct RangeSet<const N: usize> {
    ranges: [PhysRange; N],
    len: usize,
}

impl<const N: usize> RangeSet<N> {
    /// An empty set.
    pub const fn new() -> Self {
        RangeSet {
            ranges: [PhysRange::EMPTY; N],
            len: 0,
        }
    }

    /// Number of ranges (not bytes).
    pub const fn len(&self) -> usize {
        self.len
    }

    /// Whether the set holds no address.
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The ranges, sorted by address.
    pub fn as_slice(&self) -> &[PhysRange] {
        &self.ranges[..self.len]
    }

    /// Iterates over the ranges in address order.
    pub fn iter(&self) -> Copied<slice::Iter<'_, PhysRange>> {
        self.as_slice().iter().copied()
    }

    /// Total number of bytes in the set.
    pub fn total_bytes(&self) -> u64 {
        self.iter().fold(0u64, |acc, r| acc.saturating_add(r.len()))
    }

    /// Whether `addr` is in the set.
    pub fn contains(&self, addr: u64) -> bool {
        let s = self.as_slice();
        let i = s.partition_point(|r| r.end <= addr);
        s.get(i).is_some_and(|r| r.contains(addr))
    }

    /// Adds every address of `range`, merging with overlapping and adjacent ranges.
    pub fn insert(&mut self, range: PhysRange) -> Result<(), CapacityError> {
        if range.is_empty() {
            return Ok(());
        }
        let s = self.as_slice();
        // Ends are sorted too (ranges are disjoint), so both predicates are monotone.
        let lo = s.partition_point(|r| r.end < range.start);
        let hi = s.partition_point(|r| r.start <= range.end);
        let merged = if lo < hi {
            PhysRange::new(range.start.min(s[lo].start), range.end.max(s[hi - 1].end))
        } else {
            range
        };
        self.splice(lo, hi, &[merged])
    }

    /// Removes every address of `range`. Fails only when that splits a range and the set is
    /// full.
    pub fn remove(&mut self, range: PhysRange) -> Result<(), CapacityError> {
        if range.is_empty() {
            return Ok(());
        }
        let s = self.as_slice();
        let lo = s.partition_point(|r| r.end <= range.start);
        let hi = s.partition_point(|r| r.start < range.end);
        if lo >= hi {
            return Ok(());
        }
        // Only the first and last overlapped ranges can stick out of `range`.
        let mut pieces = [PhysRange::EMPTY; 2];
        let mut n = 0;
        if s[lo].start < range.start {
            pieces[n] = PhysRange::new(s[lo].start, range.start);
            n += 1;
        }
        if s[hi - 1].end > range.end {
            pieces[n] = PhysRange::new(range.end, s[hi - 1].end);
            n += 1;
        }
        self.splice(lo, hi, &pieces[..n])
    }

    /// Replaces `ranges[lo..hi]` by `with`, checking capacity before touching anything.
    fn splice(&mut self, lo: usize, hi: usize, with: &[PhysRange]) -> Result<(), CapacityError> {
        let new_len = self.len - (hi - lo) + with.len();
        if new_len > N {
            return Err(CapacityError);
        }
        self.ranges.copy_within(hi..self.len, lo + with.len());
        self.ranges[lo..lo + with.len()].copy_from_slice(with);
        // Keep unused slots canonical so stale ranges never leak into debugging output.
        for slot in &mut self.ranges[new_len..self.len.max(new_len)] {
            *slot = PhysRange::EMPTY;
        }
        self.len = new_len;
        Ok(())
    }
}

impl<const N: usize> Default for RangeSet<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> fmt::Debug for RangeSet<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}

impl<const N: usize> PartialEq for RangeSet<N> {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl<const N: usize> Eq for RangeSet<N> {}

impl<'a, const N: usize> IntoIterator for &'a RangeSet<N> {
    type Item = PhysRange;
    type IntoIter = Copied<slice::Iter<'a, PhysRange>>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// Free RAM usable by the page pool: the union of `ram`, minus every range in `reserved`
/// (kernel image, DTB, initrd, `/reserved-memory`, ...), keeping only whole pages.
///
/// Reserved ranges are widened to page boundaries first, so a page holding even one reserved
/// byte is never free. Fails if any intermediate set needs more than `N` ranges.
pub fn free_ranges<const N: usize>(
    ram: &[PhysRange],
    reserved: &[PhysRange],
) -> Result<RangeSet<N>, CapacityError> {
    // Merge RAM before aligning: a page straddling two adjacent RAM entries is still RAM.
    let mut merged = RangeSet::<N>::new();
    for r in ram {
        merged.insert(*r)?;
    }
    // Aligning before subtracting gives the same pages (the holes are page-granular) and
    // keeps sub-page slivers from occupying slots.
    let mut free = RangeSet::<N>::new();
    for r in &merged {
        free.insert(r.page_align_inward())?;
    }
    for r in reserved {
        free.remove(r.page_align_outward())?;
    }
    Ok(free)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const P: u64 = PAGE_SIZE as u64;

    fn r(start: u64, end: u64) -> PhysRange {
        PhysRange::new(start, end)
    }

    fn set<const N: usize>(ranges: &[PhysRange]) -> RangeSet<N> {
        let mut s = RangeSet::new();
        for x in ranges {
            s.insert(*x).unwrap();
        }
        s
    }

    #[test]
    fn range_helpers() {
        let a = r(0x1000, 0x3000);
        assert_eq!(a.len(), 0x2000);
        assert!(!a.is_empty());
        assert!(a.contains(0x1000) && a.contains(0x2fff) && !a.contains(0x3000));
        assert!(a.overlaps(&r(0x2fff, 0x4000)));
        assert!(!a.overlaps(&r(0x3000, 0x4000)));
        assert!(
            !a.overlaps(&r(0x2000, 0x2000)),
            "empty ranges overlap nothing"
        );
        assert!(!r(5, 3).overlaps(&r(0, 10)));
        assert_eq!(r(5, 3).len(), 0);
        assert!(r(5, 3).is_empty());
    }

    #[test]
    fn alignment() {
        assert_eq!(r(0x1001, 0x3fff).page_align_inward(), r(0x2000, 0x3000));
        assert_eq!(r(0x1000, 0x3000).page_align_inward(), r(0x1000, 0x3000));
        assert!(r(0x1001, 0x1fff).page_align_inward().is_empty());
        assert!(r(0x1fff, 0x2001).page_align_inward().is_empty());
        assert_eq!(r(0x1001, 0x3fff).page_align_outward(), r(0x1000, 0x4000));
        assert_eq!(r(0x1800, 0x1800).page_align_outward(), r(0x1800, 0x1800));
    }

    #[test]
    fn top_of_address_space() {
        let top = PhysRange::from_base_size(u64::MAX - 3 * P + 1, 3 * P);
        assert_eq!(top.end, u64::MAX);
        assert_eq!(PhysRange::from_base_size(u64::MAX - 10, 100).end, u64::MAX);
        // The top page is partial (u64::MAX itself is unrepresentable), so it is dropped.
        assert_eq!(
            top.page_align_inward(),
            r(u64::MAX - 3 * P + 1, u64::MAX - (P - 1))
        );
        assert!(r(u64::MAX - 5, u64::MAX).page_align_inward().is_empty());
        assert_eq!(
            r(u64::MAX - 5, u64::MAX).page_align_outward(),
            r(u64::MAX - (P - 1), u64::MAX)
        );
        assert_eq!(r(u64::MAX - P, u64::MAX).len(), P);

        let mut s = RangeSet::<4>::new();
        s.insert(r(u64::MAX - 4 * P, u64::MAX)).unwrap();
        s.insert(r(0, P)).unwrap();
        s.remove(r(u64::MAX - 2 * P, u64::MAX)).unwrap();
        assert_eq!(
            s.as_slice(),
            &[r(0, P), r(u64::MAX - 4 * P, u64::MAX - 2 * P)]
        );
        assert!(s.contains(u64::MAX - 4 * P));
        assert!(!s.contains(u64::MAX - 1));

        let free = free_ranges::<4>(
            &[PhysRange::from_base_size(u64::MAX - 8 * P + 1, u64::MAX)],
            &[r(u64::MAX - P - 3, u64::MAX)],
        )
        .unwrap();
        // The partial top page goes by inward alignment, the one below by the reservation.
        assert_eq!(
            free.as_slice(),
            &[r(u64::MAX - 8 * P + 1, u64::MAX - 2 * P + 1)]
        );
    }

    #[test]
    fn insert_merges() {
        let mut s = RangeSet::<4>::new();
        assert!(s.is_empty());
        s.insert(r(10, 20)).unwrap();
        s.insert(r(30, 40)).unwrap();
        s.insert(r(0, 5)).unwrap();
        assert_eq!(s.as_slice(), &[r(0, 5), r(10, 20), r(30, 40)]);
        // Adjacent on both sides: three become one.
        s.insert(r(5, 10)).unwrap();
        assert_eq!(s.as_slice(), &[r(0, 20), r(30, 40)]);
        // Overlapping several.
        s.insert(r(15, 35)).unwrap();
        assert_eq!(s.as_slice(), &[r(0, 40)]);
        // Contained and empty insertions change nothing.
        s.insert(r(3, 7)).unwrap();
        s.insert(r(100, 100)).unwrap();
        assert_eq!(s.as_slice(), &[r(0, 40)]);
        s.insert(r(40, 41)).unwrap();
        assert_eq!(s.as_slice(), &[r(0, 41)]);
        assert_eq!(s.total_bytes(), 41);
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn remove_splits() {
        let mut s: RangeSet<4> = set(&[r(0, 100), r(200, 300)]);
        s.remove(r(10, 20)).unwrap();
        assert_eq!(s.as_slice(), &[r(0, 10), r(20, 100), r(200, 300)]);
        // Across several ranges, trimming both ends.
        s.remove(r(50, 250)).unwrap();
        assert_eq!(s.as_slice(), &[r(0, 10), r(20, 50), r(250, 300)]);
        // Exact removal, no-op removals.
        s.remove(r(20, 50)).unwrap();
        s.remove(r(10, 20)).unwrap();
        s.remove(r(400, 500)).unwrap();
        s.remove(r(5, 5)).unwrap();
        assert_eq!(s.as_slice(), &[r(0, 10), r(250, 300)]);
        s.remove(r(0, u64::MAX)).unwrap();
        assert!(s.is_empty());
        assert_eq!(s.total_bytes(), 0);
    }

    #[test]
    fn capacity_errors_leave_set_unchanged() {
        let mut s: RangeSet<2> = set(&[r(0, 10), r(20, 30)]);
        let before = s.clone();
        assert_eq!(s.insert(r(40, 50)), Err(CapacityError));
        assert_eq!(s, before);
        assert_eq!(s.remove(r(2, 4)), Err(CapacityError));
        assert_eq!(s, before);
        // Operations that do not grow the set still work when full.
        s.insert(r(10, 20)).unwrap();
        assert_eq!(s.as_slice(), &[r(0, 30)]);
        s.remove(r(2, 4)).unwrap();
        assert_eq!(s.as_slice(), &[r(0, 2), r(4, 30)]);

        let mut zero = RangeSet::<0>::new();
        assert_eq!(zero.insert(r(0, 1)), Err(CapacityError));
        zero.remove(r(0, 1)).unwrap();
    }

    #[test]
    fn free_ranges_with_holes() {
        let base = 0x4000_0000u64;
        let ram = [r(base, base + 0x1000_0000)];
        let kernel = r(base + 0x8_0000, base + 0x21_0123);
        let dtb = r(base + 0x800_0000, base + 0x800_0000 + 0x1_0000);
        let initrd = r(base + 0x900_0100, base + 0x920_0000);
        let reserved_mem = r(base + 0xf00_0000, base + 0x1000_0000);
        let free = free_ranges::<8>(&ram, &[kernel, dtb, initrd, reserved_mem]).unwrap();
        assert_eq!(
            free.as_slice(),
            &[
                r(base, base + 0x8_0000),
                r(base + 0x21_1000, base + 0x800_0000),
                r(base + 0x801_0000, base + 0x900_0000),
                r(base + 0x920_0000, base + 0xf00_0000),
            ]
        );
    }

    #[test]
    fn free_ranges_unaligned_and_multiple_banks() {
        let ram = [
            r(0x8000_0000, 0x8000_1800),
            // Adjacent to the first: the page at 0x8000_1000 is whole RAM.
            r(0x8000_1800, 0x8000_4000),
            r(0x1_0000_0800, 0x1_0000_3001),
            r(0x2000, 0x2fff), // no whole page
        ];
        let reserved = [r(0x8000_3fff, 0x8000_4000), r(0x9000_0000, 0x9000_0000)];
        let free = free_ranges::<4>(&ram, &reserved).unwrap();
        assert_eq!(
            free.as_slice(),
            &[r(0x8000_0000, 0x8000_3000), r(0x1_0000_1000, 0x1_0000_3000)]
        );
        assert!(free.iter().all(|x| x.start % P == 0 && x.end % P == 0));
        assert_eq!(free.total_bytes(), 5 * P);

        // Too many banks for the capacity.
        let many: Vec<_> = (0..5).map(|i| r(i * 4 * P, i * 4 * P + P)).collect();
        assert_eq!(free_ranges::<4>(&many, &[]).unwrap_err(), CapacityError);
    }

    #[derive(Clone, Debug)]
    enum Op {
        Insert(u64, u64),
        Remove(u64, u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        (any::<bool>(), 0u64..256, 0u64..40).prop_map(|(ins, s, l)| {
            let e = (s + l).min(256);
            if ins {
                Op::Insert(s, e)
            } else {
                Op::Remove(s, e)
            }
        })
    }

    /// Maximal runs of set bits, the canonical form a `RangeSet` must match.
    fn runs(bits: &[bool]) -> Vec<PhysRange> {
        let mut out = Vec::new();
        let mut start = None;
        for (i, &b) in bits.iter().chain([false].iter()).enumerate() {
            match (b, start) {
                (true, None) => start = Some(i as u64),
                (false, Some(s)) => {
                    out.push(r(s, i as u64));
                    start = None;
                }
                _ => {}
            }
        }
        out
    }

    proptest! {
        #[test]
        fn rangeset_matches_bitmap(ops in proptest::collection::vec(op(), 1..60)) {
            let mut s = RangeSet::<5>::new();
            let mut model = [false; 256];
            for op in ops {
                let (range, value) = match op {
                    Op::Insert(a, b) => (r(a, b), true),
                    Op::Remove(a, b) => (r(a, b), false),
                };
                let mut next = model;
                for b in &mut next[range.start as usize..range.end.max(range.start) as usize] {
                    *b = value;
                }
                let before = s.clone();
                let res = if value { s.insert(range) } else { s.remove(range) };
                match res {
                    Ok(()) => model = next,
                    Err(CapacityError) => {
                        prop_assert!(runs(&next).len() > 5);
                        prop_assert_eq!(&s, &before);
                    }
                }
                let expected = runs(&model);
                prop_assert_eq!(s.as_slice(), expected.as_slice());
                let total = model.iter().filter(|&&b| b).count() as u64;
                prop_assert_eq!(s.total_bytes(), total);
                for (a, &bit) in model.iter().enumerate() {
                    prop_assert_eq!(s.contains(a as u64), bit);
                }
            }
        }

        #[test]
        fn free_ranges_matches_page_model(
            ram in proptest::collection::vec((0u64..512, 0u64..160), 0..5),
            reserved in proptest::collection::vec((0u64..512, 0u64..40), 0..5),
        ) {
            // Units of 256 bytes: 16 per page, 32 pages in all.
            const U: u64 = 256;
            let to_range = |&(s, l): &(u64, u64)| r(s * U, (s + l).min(512) * U);
            let ram: Vec<_> = ram.iter().map(to_range).collect();
            let reserved: Vec<_> = reserved.iter().map(to_range).collect();
            let mut is_ram = [false; 512];
            let mut is_res = [false; 512];
            for x in &ram {
                for u in x.start / U..x.end / U { is_ram[u as usize] = true; }
            }
            for x in &reserved {
                for u in x.start / U..x.end / U { is_res[u as usize] = true; }
            }
            let pages: Vec<bool> = (0..32)
                .map(|p| (p * 16..p * 16 + 16).all(|u| is_ram[u] && !is_res[u]))
                .collect();
            let expected: Vec<_> = runs(&pages).iter().map(|x| r(x.start * P, x.end * P)).collect();
            let free = free_ranges::<16>(&ram, &reserved).unwrap();
            prop_assert_eq!(free.as_slice(), expected.as_slice());
        }
    }
}
