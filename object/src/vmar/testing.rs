//! A page table kept in a map, for host tests of the VMAR and of code built on it.
//!
//! Only names from the parent module are used (`super::...`), so a test crate can include
//! this file with `#[path]` and provide the same names at its root.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use super::{AddressSpace, FrameAddr, MappingPerms, Status, ZxResult, UNMAP_WORK};

/// One call the fake received.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AspaceCall {
    Map {
        va: usize,
        frame: FrameAddr,
        perms: MappingPerms,
    },
    Unmap {
        va: usize,
        len: usize,
    },
    Protect {
        va: usize,
        len: usize,
        perms: MappingPerms,
    },
}

#[derive(Default)]
struct Inner {
    ptes: BTreeMap<usize, (FrameAddr, MappingPerms)>,
    calls: Vec<AspaceCall>,
    /// `map_page` calls left before one fails with NO_MEMORY; 0 = never fail.
    fail_map_in: usize,
    /// Entries the work of one chunk (`UNMAP_WORK`) clears (or changes) at most in
    /// `unmap_bounded` (or `protect_bounded`), over all its calls (None: no limit).
    step_entries: Option<usize>,
}

/// Page-table entries in a `BTreeMap` (va -> frame, perms); records every call.
#[derive(Default)]
pub struct FakeAddressSpace {
    inner: spin::Mutex<Inner>,
}

impl FakeAddressSpace {
    pub fn new() -> Self {
        Self::default()
    }

    /// The entry for the page at `va`.
    pub fn pte(&self, va: usize) -> Option<(FrameAddr, MappingPerms)> {
        self.inner.lock().ptes.get(&(va & !4095)).copied()
    }

    pub fn ptes(&self) -> BTreeMap<usize, (FrameAddr, MappingPerms)> {
        self.inner.lock().ptes.clone()
    }

    pub fn pte_count(&self) -> usize {
        self.inner.lock().ptes.len()
    }

    pub fn calls(&self) -> Vec<AspaceCall> {
        self.inner.lock().calls.clone()
    }

    /// The calls recorded so far, forgetting them.
    pub fn take_calls(&self) -> Vec<AspaceCall> {
        core::mem::take(&mut self.inner.lock().calls)
    }

    /// Makes the work of a chunk clear (or change the permissions of) at most `entries`
    /// entries in all (None: no limit), so that tests reach the paths where entries take
    /// several chunks.
    pub fn limit_unmap_steps(&self, entries: Option<usize>) {
        self.inner.lock().step_entries = entries;
    }

    /// Makes the `n`th `map_page` from now fail with NO_MEMORY (1 = the next); 0 = never.
    pub fn fail_nth_map(&self, n: usize) {
        self.inner.lock().fail_map_in = n;
    }
}

/// How many entries a bounded call may touch with `work` left, and what each costs: all of
/// them for nothing, or with `step_entries` set, that many for a whole [`UNMAP_WORK`].
fn step_limit(step_entries: Option<usize>, work: usize) -> (usize, usize) {
    match step_entries {
        Some(n) => {
            let cost = (UNMAP_WORK / n.max(1)).max(1);
            (work / cost, cost)
        }
        None => (usize::MAX - 1, 0),
    }
}

impl AddressSpace for FakeAddressSpace {
    fn map_page(&self, va: usize, frame: FrameAddr, perms: MappingPerms) -> ZxResult {
        assert_eq!(va % 4096, 0, "map_page of an unaligned address {va:#x}");
        let mut inner = self.inner.lock();
        inner.calls.push(AspaceCall::Map { va, frame, perms });
        if inner.fail_map_in > 0 {
            inner.fail_map_in -= 1;
            if inner.fail_map_in == 0 {
                return Err(Status::NO_MEMORY);
            }
        }
        inner.ptes.insert(va, (frame, perms));
        Ok(())
    }

    fn unmap(&self, va: usize, len: usize) {
        assert_eq!(va % 4096, 0, "unmap of an unaligned address {va:#x}");
        let mut inner = self.inner.lock();
        inner.calls.push(AspaceCall::Unmap { va, len });
        let end = va.saturating_add(len);
        let doomed: Vec<usize> = inner.ptes.range(va..end).map(|(&k, _)| k).collect();
        for k in doomed {
            inner.ptes.remove(&k);
        }
    }

    fn unmap_bounded(&self, va: usize, len: usize, work: &mut usize, from_top: bool) -> usize {
        assert_eq!(
            va % 4096,
            0,
            "unmap_bounded of an unaligned address {va:#x}"
        );
        let mut inner = self.inner.lock();
        // Entries this call may clear, and the work each costs.
        let (limit, cost) = step_limit(inner.step_entries, *work);
        let end = va.saturating_add(len);
        let keys: Vec<usize> = if from_top {
            inner
                .ptes
                .range(va..end)
                .rev()
                .map(|(&k, _)| k)
                .take(limit + 1)
                .collect()
        } else {
            inner
                .ptes
                .range(va..end)
                .map(|(&k, _)| k)
                .take(limit + 1)
                .collect()
        };
        let partial = keys.len() > limit;
        let (lo, hi) = match (partial, from_top) {
            (false, _) => (va, end),
            (true, false) => (va, keys[limit]),
            (true, true) => (keys[limit] + 4096, end),
        };
        inner.calls.push(AspaceCall::Unmap {
            va: lo,
            len: hi - lo,
        });
        let cleared = keys.len().min(limit);
        for k in keys.iter().take(cleared) {
            inner.ptes.remove(k);
        }
        *work -= cleared * cost;
        match (partial, from_top) {
            (false, false) => end,
            (false, true) => va,
            (true, false) => hi,
            (true, true) => lo,
        }
    }

    fn protect_bounded(
        &self,
        va: usize,
        len: usize,
        perms: MappingPerms,
        work: &mut usize,
    ) -> usize {
        assert_eq!(
            va % 4096,
            0,
            "protect_bounded of an unaligned address {va:#x}"
        );
        let mut inner = self.inner.lock();
        // Entries this call may change, and the work each costs.
        let (limit, cost) = step_limit(inner.step_entries, *work);
        let end = va.saturating_add(len);
        let keys: Vec<usize> = inner
            .ptes
            .range(va..end)
            .map(|(&k, _)| k)
            .take(limit + 1)
            .collect();
        let reached = if keys.len() > limit { keys[limit] } else { end };
        inner.calls.push(AspaceCall::Protect {
            va,
            len: reached - va,
            perms,
        });
        let changed = keys.len().min(limit);
        for k in keys.iter().take(changed) {
            if let Some(pte) = inner.ptes.get_mut(k) {
                pte.1 = perms;
            }
        }
        *work -= changed * cost;
        reached
    }

    fn protect(&self, va: usize, len: usize, perms: MappingPerms) {
        assert_eq!(va % 4096, 0, "protect of an unaligned address {va:#x}");
        let mut inner = self.inner.lock();
        inner.calls.push(AspaceCall::Protect { va, len, perms });
        let end = va.saturating_add(len);
        for (_, pte) in inner.ptes.range_mut(va..end) {
            pte.1 = perms;
        }
    }
}
