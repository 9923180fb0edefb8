//! Operations over a range of a VMO's pages: `zx_vmo_set_size` ([`Vmo::set_size`]) and
//! `zx_vmo_op_range` ([`Vmo::op_range`]: COMMIT, DECOMMIT, ZERO and the cache operations),
//! each in chunks with the family lock released between them.

use super::cow::{
    partial_pages, Family, FrameBatch, HeldWalk, NodeId, PageWalk, Reserve, StepBudget,
};
use super::{size_in_pages, Vmo, PAGE_SHIFT};
use crate::frames::{CacheOps, FrameAllocator, PAGE_SIZE};

use crate::preempt;

use crate::{Status, ZxResult};
use abi::{
    ZX_VMO_OP_CACHE_CLEAN, ZX_VMO_OP_CACHE_CLEAN_INVALIDATE, ZX_VMO_OP_CACHE_INVALIDATE,
    ZX_VMO_OP_CACHE_SYNC, ZX_VMO_OP_COMMIT, ZX_VMO_OP_DECOMMIT, ZX_VMO_OP_LOCK, ZX_VMO_OP_UNLOCK,
    ZX_VMO_OP_ZERO,
};
use alloc::vec::Vec;
use core::sync::atomic::Ordering;

impl Vmo {
    /// `zx_vmo_set_size`: shrinking frees the dropped pages and unmaps them everywhere;
    /// growing exposes zeroes.
    ///
    /// The dropped pages are freed in chunks, with the family lock released and a preemption
    /// point between them. Until they are all gone the node holds pages at or beyond its size,
    /// which nothing reads (every access checks the size, children's windows were clamped);
    /// a call that grows the node frees them first.
    pub fn set_size(&self, size: u64) -> ZxResult {
        loop {
            let mut family = self.lock()?;
            if !self.resizable {
                return Err(Status::UNAVAILABLE);
            }
            let new = size_in_pages(size)?;
            // Every offset of the VMO, projected onto the family's first VMO, fits in 64 bits.
            self.root_offset
                .checked_add(new << PAGE_SHIFT)
                .ok_or(Status::INVALID_ARGS)?;
            let id = self.node;
            let old = family.node(id).size;
            if family.shrink_chunk(id) {
                // An earlier shrink is still being finished.
                drop(family);
                if !preempt::point() {
                    return Err(Status::CANCELED);
                }
                continue;
            }
            if new == old {
                return Ok(());
            }
            family.node_mut(id).size = new;
            self.size.store(new << PAGE_SHIFT, Ordering::Relaxed);
            if new > old {
                // Whatever the parent held beyond the old end must never show through.
                if let Some(link) = &mut family.node_mut(id).link {
                    link.limit = link.limit.min(old);
                }
                return Ok(());
            }
            // Every PTE that shows the dropped range goes before any dropped frame is free (a
            // PTE left to a freed frame would show whatever the frame holds next): in steps,
            // the first thing `shrink_chunk` does. Nothing maps the range again meanwhile:
            // faults stop at the size, and the children's windows are clamped here.
            family.node_mut(id).mapped_below = old;
            let children = family.node(id).children.clone();
            for child in children {
                if let Some(link) = &mut family.node_mut(child).link {
                    link.limit = link.limit.min(new.saturating_sub(link.offset));
                }
            }
            // The pages it held there, and its window onto the ancestors' pages, go in
            // chunks.
            while family.shrink_chunk(id) {
                drop(family);
                if !preempt::point() {
                    return Err(Status::CANCELED);
                }
                family = self.lock()?;
            }
            return Ok(());
        }
    }

    /// `zx_vmo_op_range` (rights are checked by the caller).
    ///
    /// Every operation costs per page that exists in the range, never per index of it, and
    /// works in chunks of at most [`preempt::CHUNK_PAGES`] pages, with the family lock
    /// released and a preemption point between them. Another thread may change the VMO
    /// between two chunks; the operation then behaves as if it ran in steps: each chunk checks
    /// the range again (OUT_OF_RANGE once the VMO shrank below it, BAD_STATE once it died).
    pub fn op_range(&self, op: u32, offset: u64, size: u64, cache: &dyn CacheOps) -> ZxResult {
        let valid = [
            ZX_VMO_OP_COMMIT,
            ZX_VMO_OP_DECOMMIT,
            ZX_VMO_OP_LOCK,
            ZX_VMO_OP_UNLOCK,
            ZX_VMO_OP_CACHE_SYNC,
            ZX_VMO_OP_CACHE_INVALIDATE,
            ZX_VMO_OP_CACHE_CLEAN,
            ZX_VMO_OP_CACHE_CLEAN_INVALIDATE,
            ZX_VMO_OP_ZERO,
        ];
        if !valid.contains(&op) {
            return Err(Status::INVALID_ARGS);
        }
        self.range(&*self.lock()?, offset, size)?;
        match op {
            ZX_VMO_OP_LOCK | ZX_VMO_OP_UNLOCK => Err(Status::NOT_SUPPORTED),
            ZX_VMO_OP_COMMIT => self.commit_range(offset, size),
            ZX_VMO_OP_DECOMMIT => {
                if (offset | size) & (PAGE_SIZE - 1) != 0 {
                    return Err(Status::INVALID_ARGS);
                }
                self.zero_whole_pages(offset, size, offset, offset + size)
            }
            ZX_VMO_OP_ZERO => self.zero_range(offset, size),
            _ => {
                if size == 0 {
                    return Err(Status::INVALID_ARGS);
                }
                self.cache_range(op, offset, size, cache)
            }
        }
    }

    /// COMMIT: gives every page of the range its own frame. Fails with NO_MEMORY, changing
    /// nothing, when the pool cannot supply the pages the range lacks (taken before the first
    /// chunk, as for [`Vmo::write_in_chunks`]).
    fn commit_range(&self, offset: u64, size: u64) -> ZxResult {
        if size == 0 {
            return Ok(());
        }
        let mut reserve = self.reserve_to_commit(offset, size)?;
        let pages = ((offset + size - 1) >> PAGE_SHIFT) - (offset >> PAGE_SHIFT) + 1;
        let mut held = HeldWalk::new(&self.family);
        let result = self.in_steps(offset, size, pages, |family, node, start, done| {
            let first = (start >> PAGE_SHIFT) + done;
            let count = (pages - done).min(family.write_chunk_pages() as u64);
            // Frames first, so that NO_MEMORY changes nothing; the chunk ends before a page
            // whose entries take steps of their own (a chunk of none is such a step).
            let mut batch = family.prepare_from(node, first, first + count - 1, &mut reserve)?;
            let count =
                family.clear_run_for_commit(node, first, count as usize, held.walk()) as u64;
            for index in first..first + count {
                family.commit_cleared(node, index, &mut batch);
            }
            batch.release_into(&mut reserve, family.frames());
            if count != 0 {
                family.release_faults(held.walk());
            }
            Ok(done + count)
        });
        drop(held);
        self.release_reserve(reserve);
        result
    }

    /// Frees what a [`Reserve`] still holds (pages someone else committed meanwhile); no lock
    /// taken for an empty one (every range of one chunk).
    pub(super) fn release_reserve(&self, reserve: Reserve) {
        if reserve.len() != 0 {
            reserve.release(self.family.lock().frames());
        }
    }

    /// NO_MEMORY unless the pool can supply the pages `offset..offset + len` (not empty)
    /// lacks: how an operation that commits a range fails at once, changing nothing. A range
    /// of more than one chunk also takes those pages now, for its chunks to use: the chunks
    /// release the lock between them, and one that failed would leave the earlier ones done.
    /// Within one chunk, its own all-or-nothing allocation does (an empty reserve).
    pub(super) fn reserve_to_commit(&self, offset: u64, len: u64) -> ZxResult<Reserve> {
        let (lacking, frames) = {
            let family = self.lock()?;
            let (node, start) = self.range(&family, offset, len)?;
            let (first, last) = (start >> PAGE_SHIFT, (start + len - 1) >> PAGE_SHIFT);
            let held = family
                .node(node)
                .pages
                .count_run(first, (last - first + 1) as usize);
            let lacking = last - first + 1 - held as u64;
            if !family.frames().can_spend(lacking) {
                return Err(Status::NO_MEMORY);
            }
            if last - first < family.write_chunk_pages() as u64 {
                return Ok(Reserve::empty());
            }
            (lacking, family.frames().kernel().clone())
        };
        Reserve::take(&*frames, lacking)
    }

    /// Runs `step(family, node, start, done)` under the family lock, with the range
    /// `offset, size` checked again before each (`node` and byte offset `start` as
    /// [`Vmo::range`] gives them), until it says it has covered `pages` pages: each step
    /// returns how many it has covered in all. A preemption point comes between two steps.
    fn in_steps(
        &self,
        offset: u64,
        size: u64,
        pages: u64,
        mut step: impl FnMut(&mut Family, NodeId, u64, u64) -> ZxResult<u64>,
    ) -> ZxResult {
        let mut done = 0;
        loop {
            {
                let mut family = self.lock()?;
                let (node, start) = self.range(&family, offset, size)?;
                done = step(&mut family, node, start, done)?;
            }
            if done >= pages {
                return Ok(());
            }
            if !preempt::point() {
                return Err(Status::CANCELED);
            }
        }
    }

    /// Makes the whole pages `from..to` (byte offsets in this VMO, page aligned) read zero,
    /// freeing what they held: a node with no parent just drops them; a node that reads
    /// through a parent records a zero marker (it hides the ancestors, whatever they do
    /// later) and lets the ancestors' pages nobody sees any more go, chunk by chunk: until
    /// its chunk is done a page may still show what an alive parent writes meanwhile, as if
    /// the write came first. `offset, size` is the operation's range, checked again before
    /// every chunk.
    fn zero_whole_pages(&self, offset: u64, size: u64, from: u64, to: u64) -> ZxResult {
        if from >= to {
            return Ok(());
        }
        let pages = (to - from) >> PAGE_SHIFT;
        let mut held = HeldWalk::new(&self.family);
        self.in_steps(offset, size, pages, |family, node, start, done| {
            let first = ((start - offset + from) >> PAGE_SHIFT) + done;
            let end = first - done + pages;
            let link = family.node(node).link;
            let chain = family.chain(node)?;
            let stop = family.chunk_stop(&chain, first, end);
            // PTEs showing the chunk (the node's pages, or ancestors' pages that the marker
            // hides) go before any frame behind them is freed. As many entries as pages may
            // show an empty range (a MAP_RANGE of the zero page): the chunk ends where a
            // step's page-table work does.
            let stop = family.unmap_some(node, first, stop, false, false, true, held.walk());
            if stop == first {
                // A step of a walk over a page's many mappings: nothing freed yet.
                return Ok(done);
            }
            // The ancestors' charges first, while the node's own pages still hide what they
            // hide: an ancestor's page under one of them is charged to someone else.
            if link.is_some() {
                family.stop_seeing(node, first, stop);
            }
            let freed = family.free_own_pages(node, first, stop);
            family.uncharge(node, freed);
            if link.is_some() {
                // One marker, whatever the chunk's length: the ancestors stay hidden even if
                // they change (the chunks' markers merge into one).
                family.node_mut(node).add_zeroed(first, stop);
                family.sweep_ancestors(link, first, stop);
            }
            family.release_faults(held.walk());
            Ok(stop - (first - done))
        })
    }

    /// The cache operations: each visible committed page of the range, in chunks. INVALIDATE
    /// may drop dirty lines, so it touches only the frames this VMO owns; a page it reads
    /// from an ancestor (shared with a parent or a sibling snapshot) is cleaned and
    /// invalidated instead, which loses nothing. Pages that read as zero have no frame and
    /// need nothing.
    fn cache_range(&self, op: u32, offset: u64, size: u64, cache: &dyn CacheOps) -> ZxResult {
        let pages = ((offset + size - 1) >> PAGE_SHIFT) - (offset >> PAGE_SHIFT) + 1;
        self.in_steps(offset, size, pages, |family, node, start, done| {
            let (range_start, range_end) = (start, start + size);
            let first = (start >> PAGE_SHIFT) + done;
            let end = first - done + pages;
            let chain = family.chain(node)?;
            let stop = family.chunk_stop(&chain, first, end);
            for (level, &(id, shift, limit)) in chain.iter().enumerate() {
                let hi = stop.min(limit);
                if first >= hi {
                    continue;
                }
                for (index, frame) in family.node(id).pages.range(first + shift..hi + shift) {
                    let k = index - shift;
                    let hidden = chain[..level].iter().any(|&(below, below_shift, _)| {
                        family.node(below).shadows(k + below_shift)
                    });
                    if hidden {
                        continue;
                    }
                    let page_start = k << PAGE_SHIFT;
                    let from = range_start.max(page_start);
                    let to = range_end.min(page_start + PAGE_SIZE);
                    let (in_page, len) = ((from - page_start) as usize, (to - from) as usize);
                    match op {
                        ZX_VMO_OP_CACHE_CLEAN => cache.clean(frame, in_page, len),
                        ZX_VMO_OP_CACHE_INVALIDATE if level == 0 => {
                            cache.invalidate(frame, in_page, len)
                        }
                        _ => cache.clean_invalidate(frame, in_page, len),
                    }
                }
            }
            Ok(stop - (first - done))
        })
    }

    /// One step of readying ZERO's partial pages that must be forked (see
    /// [`Family::partial_pages_to_fork`]): the entries that show what they show now go
    /// first ([`Family::clear_for_commit`]), in steps for a page more mappings show than a
    /// step visits. True when all are gone (`cleared` lists them); the commits must follow
    /// in the same lock hold, with the frames put in `reserve` before any entry went. Once
    /// one page is done and another takes more steps, faults are held off, so that the
    /// first stays so.
    fn clear_partial_pages(
        &self,
        family: &mut Family,
        offset: u64,
        size: u64,
        walk: &mut PageWalk,
        cleared: &mut Vec<u64>,
        reserve: &mut Reserve,
    ) -> ZxResult<bool> {
        let (node, start) = self.range(family, offset, size)?;
        let partial = partial_pages(start, start + size);
        let needing = family.partial_pages_to_fork(node, &partial);
        while reserve.len() < needing.len() as u64 {
            let frame = family.frames().alloc().ok_or(Status::NO_MEMORY)?;
            reserve.push(frame, family.frames());
        }
        let mut budget = StepBudget::new();
        for page in needing {
            if cleared.contains(&page) {
                continue;
            }
            if !family.clear_for_commit(node, page, walk, &mut budget) {
                if !cleared.is_empty() {
                    family.hold_faults(walk);
                }
                return Ok(false);
            }
            cleared.push(page);
        }
        Ok(true)
    }

    /// ZERO: zeroes exactly the byte range; whole pages inside it are freed.
    fn zero_range(&self, offset: u64, size: u64) -> ZxResult {
        if size == 0 {
            return Ok(());
        }
        // Frames for the partial pages, taken before anything changes: NO_MEMORY changes
        // nothing.
        let mut reserve = Reserve::empty();
        let whole = self.zero_partial_pages(offset, size, &mut reserve);
        self.release_reserve(reserve);
        let (from, to) = whole?;
        self.zero_whole_pages(offset, size, from, to)
    }

    /// ZERO's partial pages at either end of the range: the bytes are zeroed in place,
    /// committing the page first where it is not the node's own. Returns the whole pages
    /// between them, as byte offsets in this VMO.
    fn zero_partial_pages(
        &self,
        offset: u64,
        size: u64,
        reserve: &mut Reserve,
    ) -> ZxResult<(u64, u64)> {
        let mut held = HeldWalk::new(&self.family);
        // Partial pages whose entries are gone, kept so by faults held off.
        let mut cleared: Vec<u64> = Vec::new();
        let mut guard = loop {
            let mut guard = self.lock()?;
            if self.clear_partial_pages(
                &mut guard,
                offset,
                size,
                held.walk(),
                &mut cleared,
                reserve,
            )? {
                break guard;
            }
            drop(guard);
            if !preempt::point() {
                return Err(Status::CANCELED);
            }
        };
        let family = &mut *guard;
        let (node, start) = self.range(family, offset, size)?;
        let end = start + size;
        let first_whole = (start + PAGE_SIZE - 1) >> PAGE_SHIFT;
        let end_whole = end >> PAGE_SHIFT;
        let partial = partial_pages(start, end);
        let needing = family.partial_pages_to_fork(node, &partial);
        let mut batch = FrameBatch::allocate_from(family.frames(), needing.len(), reserve)?;
        for (page, from, to) in partial.into_iter().flatten() {
            if needing.contains(&page) {
                family.commit_cleared(node, page, &mut batch);
            } else if family.node(node).link.is_some() && !family.node(node).shadows(page) {
                family.node_mut(node).add_zeroed(page, page + 1);
            }
            if let Some(frame) = family.node(node).pages.get(page) {
                let zeros = [0u8; PAGE_SIZE as usize];
                family.frames().write(frame, from, &zeros[..to - from]);
            }
        }
        batch.release(family.frames());
        family.release_faults(held.walk());
        let shift = start - offset;
        let from = (first_whole << PAGE_SHIFT) - shift;
        let to = (end_whole.max(first_whole) << PAGE_SHIFT) - shift;
        Ok((from, to))
    }
}
