//! Reads and writes of a VMO's bytes: under the family lock with a callback on each page
//! ([`Vmo::read_with`], [`Vmo::write_with`]), or chunk by chunk with the lock released around
//! each copy and the chunk's frames pinned ([`Vmo::read_unlocked`], [`Vmo::write_unlocked`]).

use super::cow::{Family, FrameBatch, HeldWalk, NodeId, Reserve, StepBudget};
use super::{Vmo, PAGE_SHIFT};
use crate::frames::{FrameAddr, FrameAllocator, PAGE_SIZE};

use crate::preempt;

use crate::{Status, ZxResult};
use alloc::sync::Arc;

/// The callback of [`Vmo::read_unlocked`] and [`Vmo::write_unlocked`]: `(frames,
/// offset_in_first_page, chunk_len, done_so_far)`.
pub type ChunkFn<'a> = dyn FnMut(&[FrameAddr], usize, usize, usize) -> ZxResult + 'a;

/// Pages [`Vmo::read_unlocked`] and [`Vmo::write_unlocked`] hand over at a time.
pub const CHUNK_PAGES: usize = 64;

/// Transfers up to this many bytes span at most two pages: a two-entry frame list will do
/// (no 512-byte array to clear).
const SMALL_TRANSFER: u64 = PAGE_SIZE;

/// Whether `offset..offset + len` is not empty and lies within one page: such reads and
/// writes take a single lookup (`Vmo::read_unlocked`, `Vmo::write_unlocked`).
fn within_one_page(offset: u64, len: u64) -> bool {
    len != 0 && (offset & (PAGE_SIZE - 1)) + len <= PAGE_SIZE
}

/// For a transfer at family offset `start` with `remaining` bytes to go: the pages, the
/// offset in the first page and the bytes of the next chunk of at most `max_pages` pages
/// (at most CHUNK_PAGES).
fn chunk_at(start: u64, remaining: u64, max_pages: usize) -> (usize, usize, u64) {
    let in_page = start & (PAGE_SIZE - 1);
    let chunk = (max_pages as u64 * PAGE_SIZE - in_page).min(remaining);
    let count = (in_page + chunk).div_ceil(PAGE_SIZE) as usize;
    (count, in_page as usize, chunk)
}

/// The frames a write set aside for the pages it still has to commit ([`Reserve`]), kept
/// across its parts ([`Vmo::write_unlocked_in_parts`]); dropped, it frees what is left.
#[derive(Default)]
pub struct WriteFrames {
    /// Whether the write took its reserve already (empty for a range of one chunk).
    taken: bool,
    reserve: Option<(Reserve, Arc<dyn FrameAllocator>)>,
}

impl Drop for WriteFrames {
    fn drop(&mut self) {
        if let Some((reserve, frames)) = self.reserve.take() {
            reserve.release(&*frames);
        }
    }
}

impl Vmo {
    /// Reads `len` bytes at `offset` page piece by piece: `f(frame, offset_in_page,
    /// chunk_len, done_so_far)`, with `None` for pages that read as zero. Commits nothing.
    /// `f` runs under the family lock and must not touch this family.
    pub fn read_with(
        &self,
        offset: u64,
        len: u64,
        f: &mut dyn FnMut(Option<FrameAddr>, usize, usize, usize) -> ZxResult,
    ) -> ZxResult {
        let family = self.lock()?;
        let (node, start) = self.range(&family, offset, len)?;
        let mut done = 0u64;
        while done < len {
            let position = start + done;
            let in_page = (position & (PAGE_SIZE - 1)) as usize;
            let chunk = (PAGE_SIZE - in_page as u64).min(len - done);
            let frame = family.frame_at(node, position >> PAGE_SHIFT);
            f(frame, in_page, chunk as usize, done as usize)?;
            done += chunk;
        }
        Ok(())
    }

    /// Writes `len` bytes at `offset`: commits (copying on write) every page in the range
    /// first — all or nothing on NO_MEMORY — then `f(frame, offset_in_page, chunk_len,
    /// done_so_far)` fills each piece. `f` runs under the family lock.
    pub fn write_with(
        &self,
        offset: u64,
        len: u64,
        f: &mut dyn FnMut(FrameAddr, usize, usize, usize) -> ZxResult,
    ) -> ZxResult {
        let mut family = self.lock()?;
        let (node, start) = self.range(&family, offset, len)?;
        if len == 0 {
            return Ok(());
        }
        let (first, last) = (start >> PAGE_SHIFT, (start + len - 1) >> PAGE_SHIFT);
        let mut batch = family.prepare(node, first, last)?;
        let mut done = 0u64;
        let mut result = Ok(());
        while done < len {
            let position = start + done;
            let in_page = (position & (PAGE_SIZE - 1)) as usize;
            let chunk = (PAGE_SIZE - in_page as u64).min(len - done);
            let frame = family.commit(node, position >> PAGE_SHIFT, &mut batch);
            if let Err(status) = f(frame, in_page, chunk as usize, done as usize) {
                result = Err(status);
                break;
            }
            done += chunk;
        }
        batch.release(family.frames());
        result
    }

    /// Like [`Vmo::read_with`], but `f` runs without the family lock, on up to
    /// [`CHUNK_PAGES`] pages at a time: `f(frames, offset_in_first_page, chunk_len,
    /// done_so_far)`, where a page that reads as zeroes is the shared zero page. For the
    /// system-call layer, which copies straight between these frames and user memory: a fault
    /// on the user buffer may need this family's lock.
    ///
    /// The frames stay the family's while `f` runs: `f` runs holding a copy pin
    /// ([`crate::pins::CopyPins`]), so a frame the family gives up meanwhile (a DECOMMIT or shrink on another CPU, a copy on
    /// write by a fault `f`'s copy takes) is not reused until `f` returns. What `f` writes
    /// into a frame given up meanwhile is lost, as if it had been written just before.
    #[inline(always)]
    pub fn read_unlocked(&self, offset: u64, len: u64, f: &mut ChunkFn<'_>) -> ZxResult {
        if within_one_page(offset, len) {
            return self.copy_one_page(len, f, || self.page_for_read(offset, len));
        }
        self.read_in_chunks(offset, len, f)
    }

    /// The one-page case of the unlocked transfers: `f` on the frame `page` finds (and the
    /// offset in it), counted in before `page` takes the lock, so the frame (and any frame
    /// `page` itself gives up) is not reused before the copy is done with it.
    #[inline(always)]
    fn copy_one_page(
        &self,
        len: u64,
        f: &mut ChunkFn<'_>,
        page: impl FnOnce() -> ZxResult<(FrameAddr, usize)>,
    ) -> ZxResult {
        let _pin = self.family.pin();
        let (frame, in_page) = page()?;
        f(&[frame], in_page, len as usize, 0)
    }

    /// [`Vmo::read_unlocked`] of more than one page.
    #[inline(never)]
    fn read_in_chunks(&self, offset: u64, len: u64, f: &mut ChunkFn<'_>) -> ZxResult {
        self.in_chunks(
            offset,
            len,
            false,
            |family, node, first, out| {
                family.frames_for_read(node, first, out);
                Ok(out.len())
            },
            f,
        )
    }

    /// The frame to read `offset..offset + len` (within one page) from, and the offset in
    /// it: one lookup under the lock.
    #[inline(never)]
    fn page_for_read(&self, offset: u64, len: u64) -> ZxResult<(FrameAddr, usize)> {
        let family = self.lock()?;
        let (node, holder, start) = self.range_node(&family, offset, len)?;
        let index = start >> PAGE_SHIFT;
        let frame = match holder.link {
            None => holder.pages.get(index),
            Some(_) => family.frame_at(node, index),
        };
        let frame = frame.unwrap_or_else(|| family.frames().zero_page());
        Ok((frame, (start & (PAGE_SIZE - 1)) as usize))
    }

    /// Like [`Vmo::write_with`] (every page committed, all or nothing on NO_MEMORY, before
    /// any byte moves), but `f` runs without the family lock, on up to [`CHUNK_PAGES`]
    /// pages at a time, as for [`Vmo::read_unlocked`] (whose caveat applies).
    #[inline(always)]
    pub fn write_unlocked(&self, offset: u64, len: u64, f: &mut ChunkFn<'_>) -> ZxResult {
        if within_one_page(offset, len) {
            return self.copy_one_page(len, f, || self.page_for_write(offset, len));
        }
        self.write_in_fresh_chunks(offset, len, f)
    }

    /// [`Vmo::write_unlocked`] of nothing or of more than one page, out of line: the
    /// one-page path above inlines into the system call whole.
    #[inline(never)]
    fn write_in_fresh_chunks(&self, offset: u64, len: u64, f: &mut ChunkFn<'_>) -> ZxResult {
        self.write_in_chunks(offset, len, f, &mut WriteFrames::default())
    }

    /// [`Vmo::write_unlocked`] of one part of a write that may go on after `f` failed (its
    /// copy stopped for a fault that had to wait): the frames set aside for the pages still
    /// to commit stay in `kept` from one part to the next, so that a later part does not
    /// fail with NO_MEMORY after earlier ones wrote.
    #[inline(always)]
    pub fn write_unlocked_in_parts(
        &self,
        offset: u64,
        len: u64,
        f: &mut ChunkFn<'_>,
        kept: &mut WriteFrames,
    ) -> ZxResult {
        if within_one_page(offset, len) {
            return self.copy_one_page(len, f, || self.page_for_write(offset, len));
        }
        self.write_in_chunks(offset, len, f, kept)
    }

    /// The frame to write `offset..offset + len` (within one page) to, committed if it was
    /// not, and the offset in it: one lock hold (more where the page's entries take steps).
    #[inline(never)]
    fn page_for_write(&self, offset: u64, len: u64) -> ZxResult<(FrameAddr, usize)> {
        let (frame, start) = self.own_page_in_steps(offset, len, false, true)?;
        Ok((frame, (start & (PAGE_SIZE - 1)) as usize))
    }

    /// The frame of the page at `offset` (of a range of `len` bytes in one page, checked)
    /// for a write, committed if it was not, and the offset in the node's pages: after the
    /// entries that show what the page showed until now are gone, in steps with preemption
    /// points between them where more mappings show it than a step visits
    /// ([`Family::clear_for_commit`]). `fault`: for a page fault, which waits (SHOULD_WAIT)
    /// while another operation holds the family's faults off. Without `may_wait` (a fault
    /// taken by a copy that must not be preempted), SHOULD_WAIT instead of a second step.
    #[inline(always)]
    pub(super) fn own_page_in_steps(
        &self,
        offset: u64,
        len: u64,
        fault: bool,
        may_wait: bool,
    ) -> ZxResult<(FrameAddr, u64)> {
        {
            let mut family = self.lock()?;
            if fault && family.faults_held() {
                return Err(Status::SHOULD_WAIT);
            }
            let (node, start) = self.range(&family, offset, len)?;
            let index = start >> PAGE_SHIFT;
            if let Some(frame) = family.node(node).pages.get(index) {
                return Ok((frame, start));
            }
            if !(family.shared_ptes || family.snapshots_stepping != 0) {
                // No entry can show what the page shows now: none to take away.
                let new = family.frames().alloc().ok_or(Status::NO_MEMORY)?;
                let mut batch = FrameBatch::single(new);
                let frame = family.commit_absent(node, index, &mut batch, true);
                return Ok((frame, start));
            }
        }
        self.own_page_clearing(offset, len, fault, may_wait)
    }

    /// [`Vmo::own_page_in_steps`] of a page some entries may show.
    #[inline(never)]
    fn own_page_clearing(
        &self,
        offset: u64,
        len: u64,
        fault: bool,
        may_wait: bool,
    ) -> ZxResult<(FrameAddr, u64)> {
        let mut held = HeldWalk::new(&self.family);
        // The frame a commit will take, from before the first entry goes: NO_MEMORY changes
        // nothing.
        let mut spare = None;
        let result = loop {
            {
                let mut family = match self.lock() {
                    Ok(family) => family,
                    Err(status) => break Err(status),
                };
                if fault && family.faults_held() && !held.walk().holding() {
                    break Err(Status::SHOULD_WAIT);
                }
                let (node, start) = match self.range(&family, offset, len) {
                    Ok(found) => found,
                    Err(status) => break Err(status),
                };
                let index = start >> PAGE_SHIFT;
                if let Some(frame) = family.node(node).pages.get(index) {
                    family.release_faults(held.walk());
                    break Ok((frame, start));
                }
                if spare.is_none() {
                    match family.frames().alloc() {
                        Some(frame) => spare = Some(frame),
                        None => break Err(Status::NO_MEMORY),
                    }
                }
                if family.clear_for_commit(node, index, held.walk(), &mut StepBudget::new()) {
                    let mut batch = FrameBatch::single(spare.take().expect("taken above"));
                    let frame = family.commit_cleared(node, index, &mut batch);
                    family.release_faults(held.walk());
                    break Ok((frame, start));
                }
                if !may_wait {
                    break Err(Status::SHOULD_WAIT);
                }
            }
            if !preempt::point() {
                break Err(Status::CANCELED);
            }
        };
        if let Some(frame) = spare {
            // Never among the family's pages: no copy can have it.
            self.family.lock().frames().kernel().free(frame);
        }
        result
    }

    /// [`Vmo::write_unlocked`] of nothing or of more than one page. NO_MEMORY, with nothing
    /// changed, when the pool cannot supply the pages the range lacks: a range of more than
    /// one chunk takes them all ([`Reserve`]) before the first chunk is written, and each
    /// chunk takes its frames from there (only pages decommitted by someone else meanwhile
    /// can make a later chunk need more, and fail after the earlier chunks were written).
    #[inline(never)]
    fn write_in_chunks(
        &self,
        offset: u64,
        len: u64,
        f: &mut ChunkFn<'_>,
        kept: &mut WriteFrames,
    ) -> ZxResult {
        if len == 0 {
            return self.range(&*self.lock()?, offset, len).map(|_| ());
        }
        if !kept.taken {
            let reserve = self.reserve_to_commit(offset, len)?;
            kept.taken = true;
            if reserve.len() != 0 {
                kept.reserve = Some((reserve, self.family.lock().frames().kernel().clone()));
            }
        }
        // Frames a chunk took and did not use, where nothing was set aside.
        let mut spare = Reserve::empty();
        let mut held = HeldWalk::new(&self.family);
        let result = self.in_chunks(
            offset,
            len,
            true,
            |family, node, first, out| {
                let reserve = match &mut kept.reserve {
                    Some((reserve, _)) => reserve,
                    None => &mut spare,
                };
                if family.owned_frames(node, first, out) {
                    // Someone else committed them while a walk of the first was partway.
                    family.end_walk(held.walk());
                    family.release_faults(held.walk());
                    return Ok(out.len());
                }
                // Frames first, so that NO_MEMORY changes nothing. The chunk ends before a
                // page whose entries take steps of their own (its frames wait in the reserve);
                // a chunk of none is such a step. Faults are let go before the copy: it may
                // fault on this family.
                let last = first + out.len() as u64 - 1;
                let mut batch = family.prepare_from(node, first, last, reserve)?;
                let ready = family.clear_run_for_commit(node, first, out.len(), held.walk());
                for (i, slot) in out[..ready].iter_mut().enumerate() {
                    *slot = family.commit_cleared(node, first + i as u64, &mut batch);
                }
                batch.release_into(reserve, family.frames());
                if ready != 0 {
                    family.release_faults(held.walk());
                }
                Ok(ready)
            },
            f,
        );
        drop(held);
        self.release_reserve(spare);
        result
    }

    /// Walks `offset..offset + len` in chunks of at most [`CHUNK_PAGES`] pages (fewer in a
    /// deep or large family: [`Family::read_chunk_pages`], [`Family::write_chunk_pages`]
    /// when `writing`): for each, `fill(family, node, first_page, frames)` puts the chunk's
    /// frames in the list under the family lock and says how many it gave (a chunk may end
    /// early; none: a step of other work, then a preemption point), then `f` runs on them
    /// with the lock released.
    fn in_chunks(
        &self,
        offset: u64,
        len: u64,
        writing: bool,
        mut fill: impl FnMut(&mut Family, NodeId, u64, &mut [FrameAddr]) -> ZxResult<usize>,
        f: &mut ChunkFn<'_>,
    ) -> ZxResult {
        let (mut small, mut large);
        let frames: &mut [FrameAddr] = if len <= SMALL_TRANSFER {
            small = [0; 2];
            &mut small
        } else {
            large = [0; CHUNK_PAGES];
            &mut large
        };
        let mut done = 0u64;
        let mut since_point = 0;
        while done < len {
            if since_point >= preempt::CHUNK_PAGES {
                if !preempt::point() {
                    return Err(Status::CANCELED);
                }
                since_point = 0;
            }
            let (count, in_page, chunk, max_pages, pin) = {
                let mut family = self.lock()?;
                let (node, start) = self.range(&family, offset + done, len - done)?;
                let max_pages = if writing {
                    family.write_chunk_pages()
                } else {
                    family.read_chunk_pages(node)
                };
                let (count, in_page, chunk) = chunk_at(start, len - done, max_pages);
                let given = fill(&mut family, node, start >> PAGE_SHIFT, &mut frames[..count])?;
                let chunk = if given < count {
                    (given as u64 * PAGE_SIZE - in_page as u64).min(chunk)
                } else {
                    chunk
                };
                // Before the lock goes: from here on, the chunk's frames are not reused
                // until the copy is done with them.
                (given, in_page, chunk, max_pages, self.family.pin())
            };
            if count == 0 {
                since_point = preempt::CHUNK_PAGES;
                continue;
            }
            let copied = f(&frames[..count], in_page, chunk as usize, done as usize);
            drop(pin);
            copied?;
            done += chunk;
            // A page of a deep node weighs as much as the pages a shallow chunk holds.
            since_point += count * (CHUNK_PAGES / max_pages);
        }
        Ok(())
    }

    /// `zx_vmo_read` into a kernel buffer.
    pub fn read(&self, offset: u64, buf: &mut [u8]) -> ZxResult {
        let frames = self.family.lock().frames().kernel().clone();
        self.read_with(
            offset,
            buf.len() as u64,
            &mut |frame, in_page, len, done| {
                let out = &mut buf[done..done + len];
                match frame {
                    Some(frame) => frames.read(frame, in_page, out),
                    None => out.fill(0),
                }
                Ok(())
            },
        )
    }

    /// `zx_vmo_write` from a kernel buffer.
    pub fn write(&self, offset: u64, data: &[u8]) -> ZxResult {
        let frames = self.family.lock().frames().kernel().clone();
        self.write_with(
            offset,
            data.len() as u64,
            &mut |frame, in_page, len, done| {
                frames.write(frame, in_page, &data[done..done + len]);
                Ok(())
            },
        )
    }
}
