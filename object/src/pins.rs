//! Frames that copies may still be touching: a VMO family hands its frames to copies that
//! run without the family lock ([`crate::vmo::Vmo::read_unlocked`], `write_unlocked`: the
//! system-call layer copies straight between those frames and user memory, and a fault on the
//! user buffer may need the family lock). A frame the family gives up meanwhile (a DECOMMIT,
//! a shrink, a copy on write on another CPU) must not be reused while such a copy may still
//! read or write it: reused as a page table or another process's page, it would be corrupted
//! or leak its contents.
//!
//! Each copy is counted in ([`CopyPins::pin`]) from before it is given its frames (under the
//! family lock) until it is done with them. The family frees frames through its
//! [`CopyPins`]: with no copy in flight a frame goes straight back to the allocator;
//! otherwise the allocator holds it ([`FrameAllocator::hold`], which writes nothing into the
//! page) until every copy that could have been given it has ended.
//!
//! Which copies could: those in flight when the frame was given up. Copies are counted in two
//! *epochs* (one atomic word: `CopyPins::state`). A frame given up in the current epoch
//! waits on its list; the epoch moves on once every copy counted in the other (older) epoch
//! has ended, and the lists of that older epoch are then freed: their frames were given up
//! before the epoch moved on, so only copies counted before then, in the older epoch, could
//! be touching them. A copy costs one atomic add and one atomic subtract; the lists and
//! their lock are touched only when a frame is given up while copies run. Copies end quickly
//! (one chunk, no sleeping), so held frames wait microseconds, and two epochs mean that
//! copies which keep overlapping one another never keep a frame held for long.
//!
//! Compared with a reference count on every frame a copy uses, this costs a copy the same
//! whatever its length, and nothing more per page.
//!
//! # Locking
//! No lock of its own, and a pin is not one: [`CopyPins::pin`] and [`CopyPins::unpin`] are
//! single atomic operations, and a pinned copy runs with no lock held, so it may fault on
//! user memory (the fault path takes the VMAR tree and family locks). Everything else here
//! ([`CopyPins::free`], [`CopyPins::release_held`], [`HeldLists`], the `HOLDING` bit and the
//! epoch) runs under the owning family's lock and calls the frame allocator there: in the
//! kernel the page pool's lock ([`FrameAllocator`] implementations take it, IRQs masked)
//! nests inside the family lock.

use crate::frames::{FrameAddr, FrameAllocator, HeldFrames};
use core::sync::atomic::{AtomicU64, Ordering};

/// `CopyPins::state`: copies counted in epoch 0 in bits 0..31, [`HOLDING`], copies
/// counted in epoch 1 in bits 32..63.
const HOLDING: u64 = 1 << 31;
const COUNT_MASK: u64 = HOLDING - 1;
const COUNTS: u64 = COUNT_MASK | (COUNT_MASK << 32);

/// What a copy counted in `epoch` (0 or 1) adds to the state.
const fn unit(epoch: u64) -> u64 {
    1 << (32 * epoch)
}

const fn count(state: u64, epoch: u64) -> u64 {
    (state >> (32 * epoch)) & COUNT_MASK
}

/// The copies in flight on a VMO family's frames.
pub struct CopyPins {
    /// Copies in flight by the epoch they count in, and [`HOLDING`]: some list of the
    /// family's [`HeldLists`] is not empty. Copies count themselves in and out with atomic
    /// adds; `HOLDING` changes only under the family lock.
    state: AtomicU64,
    /// What a copy that starts now adds to `state`: [`unit`] of the current epoch. Changes
    /// (the epoch moves on) only under the family lock.
    unit: AtomicU64,
}

/// Frames a family gave up while copies ran, by the epoch current when they were given up:
/// the allocator's list of each epoch as `(head, len)` at `2 * epoch`. Kept under the family
/// lock, beside the family's allocator; every function that takes them runs under it
/// (atomics only so that the allocator they sit beside may be shared).
#[derive(Default)]
pub struct HeldLists([AtomicU64; 4]);

impl HeldLists {
    fn get(&self, epoch: u64) -> HeldFrames {
        let at = 2 * epoch as usize;
        HeldFrames {
            head: self.0[at].load(Ordering::Relaxed),
            len: self.0[at + 1].load(Ordering::Relaxed),
        }
    }

    fn set(&self, epoch: u64, list: HeldFrames) {
        let at = 2 * epoch as usize;
        self.0[at].store(list.head, Ordering::Relaxed);
        self.0[at + 1].store(list.len, Ordering::Relaxed);
    }

    /// Frames held for copies still in flight (for tests and checks).
    pub fn len(&self) -> u64 {
        self.get(0).len + self.get(1).len
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Default for CopyPins {
    fn default() -> Self {
        Self::new()
    }
}

impl CopyPins {
    pub const fn new() -> CopyPins {
        CopyPins {
            state: AtomicU64::new(0),
            unit: AtomicU64::new(unit(0)),
        }
    }

    /// Counts a copy in and returns what to give [`CopyPins::unpin`] when it is done. Take
    /// it before the family lock that gives the copy its frames is released.
    ///
    /// The epoch read and the add need not be one atomic step: a copy counted in the epoch
    /// that has just become the older one still holds back every frame given up after it
    /// was counted (those wait for both epochs' copies in turn, see `release_held`), and it
    /// only delays the next move of the epoch a little.
    #[inline]
    pub fn pin(&self) -> u64 {
        let unit = self.unit.load(Ordering::Relaxed);
        self.state.fetch_add(unit, Ordering::AcqRel);
        unit
    }

    /// Counts a copy out (`unit`: what [`CopyPins::pin`] gave). True when frames are held:
    /// the caller then calls [`CopyPins::release_held`] (out of line: rare).
    #[inline]
    #[must_use]
    pub fn unpin(&self, unit: u64) -> bool {
        self.state.fetch_sub(unit, Ordering::AcqRel) & HOLDING != 0
    }

    /// The epoch new copies count in.
    fn epoch(&self) -> u64 {
        self.unit.load(Ordering::Relaxed) >> 32
    }

    /// Whether some copy may be in flight.
    #[inline]
    fn copying(&self) -> bool {
        self.state.load(Ordering::Acquire) & COUNTS != 0
    }

    /// Gives `frame` back to `frames` now if no copy is in flight, else holds it until the
    /// copies that may touch it have ended. The caller holds the family lock and has taken
    /// `frame` out of everything a copy could be given frames from, so a copy that starts
    /// later never has it.
    #[inline]
    pub fn free(&self, held: &HeldLists, frames: &dyn FrameAllocator, frame: FrameAddr) {
        if self.copying() {
            self.hold_for_copies(held, frames, frame);
        } else {
            frames.free(frame);
        }
    }

    /// Holds `frame` until the copies that may touch it have ended.
    #[inline(never)]
    fn hold_for_copies(&self, held: &HeldLists, frames: &dyn FrameAllocator, frame: FrameAddr) {
        self.state.fetch_or(HOLDING, Ordering::AcqRel);
        let epoch = self.epoch();
        let mut list = held.get(epoch);
        frames.hold(frame, &mut list);
        held.set(epoch, list);
        // Copies may have ended since the caller looked.
        self.release_held(held, frames);
    }

    /// Frees the held lists no copy can touch any more, moving the epoch on as far as the
    /// copies in flight allow; clears [`HOLDING`] when nothing is held. Under the family
    /// lock: after [`CopyPins::unpin`] said so, and after a frame was held.
    #[cold]
    #[inline(never)]
    pub fn release_held(&self, held: &HeldLists, frames: &dyn FrameAllocator) {
        loop {
            let state = self.state.load(Ordering::Acquire);
            let current = self.epoch();
            let older = current ^ 1;
            // No copy counts in the older epoch now, and none will until the epoch moves.
            if count(state, older) != 0 {
                break;
            }
            let mut list = held.get(older);
            if !list.is_empty() {
                frames.free_held(&mut list);
                held.set(older, list);
            }
            if held.get(current).is_empty() {
                break;
            }
            // New copies count in the other epoch from now on; the frames held in this one
            // wait for the copies counted in it so far.
            self.unit.store(unit(older), Ordering::Relaxed);
        }
        if held.is_empty() {
            self.state.fetch_and(!HOLDING, Ordering::AcqRel);
        }
    }

    /// When the family goes (no copy is left: each borrows a VMO of the family): frees what
    /// still waits.
    pub fn free_all_held(&mut self, held: &HeldLists, frames: &dyn FrameAllocator) {
        if *self.state.get_mut() & HOLDING == 0 {
            return;
        }
        for epoch in 0..2 {
            let mut list = held.get(epoch);
            if !list.is_empty() {
                frames.free_held(&mut list);
                held.set(epoch, list);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frames::testing::TestFrames;

    /// A pin the way a VMO takes one.
    struct Pin<'a>(&'a CopyPins, &'a HeldLists, &'a TestFrames, u64);

    impl Drop for Pin<'_> {
        fn drop(&mut self) {
            if self.0.unpin(self.3) {
                self.0.release_held(self.1, self.2);
            }
        }
    }

    fn pin<'a>(pins: &'a CopyPins, held: &'a HeldLists, frames: &'a TestFrames) -> Pin<'a> {
        Pin(pins, held, frames, pins.pin())
    }

    #[test]
    fn with_no_copy_in_flight_a_frame_is_freed_at_once() {
        let (frames, pins, held) = (TestFrames::new(), CopyPins::new(), HeldLists::default());
        let frame = frames.alloc().unwrap();
        drop(pin(&pins, &held, &frames));
        pins.free(&held, &frames, frame);
        assert_eq!((frames.in_use(), frames.held()), (0, 0));
    }

    #[test]
    fn a_frame_given_up_during_a_copy_waits_for_it() {
        let (frames, pins, held) = (TestFrames::new(), CopyPins::new(), HeldLists::default());
        let frame = frames.alloc().unwrap();
        let copy = pin(&pins, &held, &frames);
        pins.free(&held, &frames, frame);
        assert_eq!((frames.in_use(), frames.held()), (1, 1));
        assert_eq!(held.len(), 1);
        // The copy may still write it.
        frames.write(frame, 0, &[1, 2, 3]);
        drop(copy);
        assert_eq!((frames.in_use(), frames.held()), (0, 0));
        assert_eq!(
            pins.state.load(Ordering::SeqCst),
            0,
            "no copy, nothing held"
        );
    }

    #[test]
    fn a_copy_that_starts_after_a_frame_was_given_up_does_not_keep_it() {
        let (frames, pins, held) = (TestFrames::new(), CopyPins::new(), HeldLists::default());
        let a = pin(&pins, &held, &frames);
        let frame = frames.alloc().unwrap();
        pins.free(&held, &frames, frame);
        let b = pin(&pins, &held, &frames);
        assert_eq!(frames.held(), 1);
        drop(a);
        // `b` started after the frame was given up: it cannot have it.
        assert_eq!((frames.in_use(), frames.held()), (0, 0));
        drop(b);
    }

    #[test]
    fn copies_that_keep_overlapping_do_not_keep_frames_held() {
        let (frames, pins, held) = (TestFrames::new(), CopyPins::new(), HeldLists::default());
        let mut older = pin(&pins, &held, &frames);
        for round in 0..100 {
            let frame = frames.alloc().unwrap();
            pins.free(&held, &frames, frame);
            // A new copy starts before the older one ends: there is always one in flight.
            let newer = pin(&pins, &held, &frames);
            drop(older);
            older = newer;
            // Each frame waits for at most the copy in flight when it was given up and the
            // one started next.
            assert!(frames.held() <= 1, "round {round}: {} held", frames.held());
        }
        drop(older);
        assert_eq!((frames.in_use(), frames.held()), (0, 0));
    }

    #[test]
    fn frames_held_when_the_family_goes_are_freed() {
        let (frames, mut pins, held) = (TestFrames::new(), CopyPins::new(), HeldLists::default());
        let unit = pins.pin();
        let frame = frames.alloc().unwrap();
        pins.free(&held, &frames, frame);
        let _ = pins.unpin(unit);
        // As if the copy's release had not run yet when the family goes.
        pins.free_all_held(&held, &frames);
        assert_eq!((frames.in_use(), frames.held()), (0, 0));
    }
}
