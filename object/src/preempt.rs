//! Preemption points for long kernel operations.
//!
//! The kernel runs system calls with IRQs masked and is not preempted inside them, so an
//! operation whose work grows with its arguments (committing a gigabyte, decommitting or
//! zeroing a huge range, cache maintenance over every committed page, shrinking a large VMO)
//! does it in bounded chunks and calls [`point`] between them, with no lock held: the kernel's
//! hook takes pending interrupts there and switches threads when the time slice is over.
//!
//! Host tests leave the hook unset (a point costs nothing) or install one that counts.
//!
//! # Locking
//! A [`point`] or [`wait_point`] may switch threads or sleep: the caller holds no lock (a
//! spin lock held across a switch would stall every other thread that takes it, or deadlock
//! on this CPU). The hooks are set once ([`spin::Once`], not a lock); the flags are atomics.
//! The one lock here is each [`WorkList`]'s: taken alone or inside its owner's lock (a VMO
//! family queues itself under its family lock), with only the heap inside (the list grows);
//! an item is taken off the list before its work runs. No IRQ handler takes it; the kernel
//! holds it with IRQs masked.

use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Pages a chunk of per-page work touches between two points. Measured under `-icount`
/// (one instruction per nanosecond): committing a page costs about 1,200 instructions, and
/// walking the pages of a very sparse map (one page per leaf of the page map) up to about
/// 13,000 per page, so 64 pages keep a chunk below a millisecond while the lock and the
/// point cost a few percent of a dense chunk.
pub const CHUNK_PAGES: usize = 64;

/// What a point does: returns false when the caller should abandon its work (the thread was
/// killed and will not return to user mode).
pub type Hook = fn() -> bool;

static HOOK: spin::Once<Hook> = spin::Once::new();

/// Set when an object leaves work for later (the pages of a large dead VMO, the queues of
/// dead channel endpoints): the kernel clears it on the way out of the system call that did
/// it (the CPU runs nothing else in between but at preemption points), and that call does
/// the work ([`crate::free_deferred`]).
static FRESH: AtomicBool = AtomicBool::new(false);

/// What [`take_deferred`] leaves in [`FRESH`] when it takes it: true while the kernel's
/// invariant checks (`kcheck`) are on, so every system call takes the seldom way out, where
/// the checks run, without a second test on the common way out.
static KEEP: AtomicBool = AtomicBool::new(false);

/// From now on [`take_deferred`] always says true (the kernel's invariant checks run on the
/// way out of every system call, behind the same test). Once at boot.
pub fn keep_deferred() {
    KEEP.store(true, Ordering::Relaxed);
    FRESH.store(true, Ordering::Relaxed);
}

/// Whether [`keep_deferred`] was called: the kernel's own record of who left work (see
/// [`set_mark_hook`]) starts and stays set for every thread.
pub fn keeps_deferred() -> bool {
    KEEP.load(Ordering::Relaxed)
}

/// How the kernel records that the running thread left work: in that thread, so that with
/// several CPUs it is that thread's system call that does the work, not whichever leaves the
/// kernel first (the kernel then asks its own record, not [`take_deferred`]).
static MARK_HOOK: spin::Once<fn()> = spin::Once::new();

/// Installs the kernel's hook for [`mark_deferred`], once at boot.
pub fn set_mark_hook(hook: fn()) {
    MARK_HOOK.call_once(|| hook);
}

/// Work was left for [`crate::free_deferred`].
pub fn mark_deferred() {
    match MARK_HOOK.get() {
        Some(hook) => hook(),
        None => FRESH.store(true, Ordering::Relaxed),
    }
}

/// Whether work was left for later since the last call (and clears the mark): the kernel
/// asks on the way out of every system call, so that the call that closed a large object
/// frees it, not some other thread that leaves the kernel later.
#[inline]
pub fn take_deferred() -> bool {
    let fresh = FRESH.load(Ordering::Relaxed);
    if fresh {
        FRESH.store(KEEP.load(Ordering::Relaxed), Ordering::Relaxed);
    }
    fresh
}

/// What a [`wait_point`] does: gives the CPU to another runnable thread at once.
static WAIT_HOOK: spin::Once<Hook> = spin::Once::new();

/// What a [`finish_point`] does: lets another thread run if this one's slice is over, even if
/// this one was killed.
static FINISH_HOOK: spin::Once<fn()> = spin::Once::new();

/// Installs the kernel's hook for [`finish_point`], once at boot.
pub fn set_finish_hook(hook: fn()) {
    FINISH_HOOK.call_once(|| hook);
}

/// A preemption point in work the caller must finish even when its thread was killed
/// (closing a dying process's handles, which must all be closed before the process is seen
/// to have ended): the CPU may go to another thread, and this one, killed or not, comes back
/// to finish. The caller holds no lock.
#[inline]
pub fn finish_point() {
    if let Some(hook) = FINISH_HOOK.get() {
        hook();
    }
}

/// Installs the kernel's preemption hook, once at boot (later calls change nothing).
pub fn set_hook(hook: Hook) {
    HOOK.call_once(|| hook);
}

/// Installs the kernel's hook for [`wait_point`], once at boot.
pub fn set_wait_hook(hook: Hook) {
    WAIT_HOOK.call_once(|| hook);
}

/// A preemption point where the caller waits for another thread's work to end (a long
/// operation that marked an address space busy): the CPU goes to another runnable thread now
/// rather than at the end of the time slice, so a waiter does not spin away its slice while
/// the thread it waits for is preempted. The caller holds no lock. Returns false when it
/// should stop. Without a wait hook, a plain [`point`].
#[inline]
pub fn wait_point() -> bool {
    match WAIT_HOOK.get() {
        Some(hook) => hook(),
        None => point(),
    }
}

/// A preemption point. The caller holds no lock. Returns false when it should stop.
#[inline]
pub fn point() -> bool {
    match HOOK.get() {
        Some(hook) => hook(),
        None => true,
    }
}

/// Whether a kernel hook is installed: only then is there somewhere to defer work to.
pub fn enabled() -> bool {
    HOOK.get().is_some()
}

/// How many CPUs may keep state of their own here ([`cpu_slot`]).
pub const CPU_SLOTS: usize = 8;

/// How the kernel names the CPU the caller runs on (its index).
static CPU_HOOK: spin::Once<fn() -> usize> = spin::Once::new();

/// Installs the kernel's hook for [`cpu_slot`], once at boot.
pub fn set_cpu_hook(hook: fn() -> usize) {
    CPU_HOOK.call_once(|| hook);
}

/// The caller's CPU as an index below [`CPU_SLOTS`], for state that belongs to one call
/// stack and must not be shared by two CPUs (the chain `handle::drop_handles` works off):
/// nothing switches threads in such a stretch, so the CPU stands for the call. 0 without a
/// hook (host tests).
pub fn cpu_slot() -> usize {
    CPU_HOOK.get().map_or(0, |hook| hook()) % CPU_SLOTS
}

/// Items taken off a [`WorkList`] by [`WorkList::work_one`] whose chunk runs now, on some
/// CPU: between two chunks an item is on its list or counted here.
static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);
/// Chunks finished (counted out of [`IN_FLIGHT`]) so far: a chunk may leave work on a list a
/// waiter already found empty, so the waiter also checks that none finished meanwhile.
static IN_FLIGHT_DONE: AtomicUsize = AtomicUsize::new(0);

/// How many chunks of deferred work have finished so far ([`IN_FLIGHT_DONE`]).
pub fn work_finished() -> usize {
    IN_FLIGHT_DONE.load(Ordering::SeqCst)
}

/// Counts a chunk out of [`IN_FLIGHT`] and into [`IN_FLIGHT_DONE`] (in that order).
fn leave_flight() {
    IN_FLIGHT_DONE.fetch_add(1, Ordering::SeqCst);
    IN_FLIGHT.fetch_sub(1, Ordering::SeqCst);
}

/// Counts a chunk of deferred work taken off a list other than a [`WorkList`] (under that
/// list's lock, with the item); [`end_in_flight`] once it is back or done.
pub(crate) fn begin_in_flight() {
    IN_FLIGHT.fetch_add(1, Ordering::SeqCst);
}

/// Ends what [`begin_in_flight`] counted.
pub fn end_in_flight() {
    leave_flight();
}

/// Whether some CPU is doing a chunk of deferred work right now (its item off its list).
pub fn work_in_flight() -> bool {
    IN_FLIGHT.load(Ordering::SeqCst) != 0
}

/// Objects with work left for later (a dying address space, a family with closes to finish,
/// the pages of a dead VMO), which [`crate::free_deferred`] takes one at a time, does a chunk
/// of, and puts back while work is left. A flag beside the list lets the kernel ask whether
/// anything is there without taking the lock, on every system call's way out.
///
/// Lock order: the list's lock is taken alone or inside its owner's lock (a family's, when a
/// family queues itself), and never around another lock: an item is taken off the list
/// before its work runs. IRQs are masked while it is held, as everywhere in the kernel.
pub struct WorkList<T> {
    /// Protects the items. Inside an owner's lock at most, only the heap inside it; IRQs
    /// masked, as the kernel runs.
    items: spin::Mutex<Vec<T>>,
    /// Set while `items` may hold anything. Cleared only under the lock, when the list is
    /// found empty, so a concurrent push is never missed.
    pending: AtomicBool,
}

impl<T> WorkList<T> {
    pub const fn new() -> Self {
        Self {
            items: spin::Mutex::new(Vec::new()),
            pending: AtomicBool::new(false),
        }
    }

    /// Whether the list may hold work (one load, no lock).
    #[inline]
    pub fn pending(&self) -> bool {
        self.pending.load(Ordering::SeqCst)
    }

    /// Leaves `item` for later and marks the running system call as having left work
    /// ([`mark_deferred`]), so that it does the work before it returns. Gives `item` back
    /// when the list cannot grow: the caller then does the work at once.
    pub fn push(&self, item: T) -> Result<(), T> {
        self.put_back(item)?;
        mark_deferred();
        Ok(())
    }

    /// Puts back an item taken with [`Self::pop_in_flight`] that still has work, without marking the
    /// call (whoever took it is already doing deferred work). Gives `item` back when the list
    /// cannot grow.
    pub fn put_back(&self, item: T) -> Result<(), T> {
        let mut items = self.items.lock();
        if items.try_reserve(1).is_err() {
            return Err(item);
        }
        items.push(item);
        self.pending.store(true, Ordering::SeqCst);
        Ok(())
    }

    /// Does one chunk of an item's work: takes the item pushed last, runs `chunk` on it
    /// (true while work is left) and puts it back while work is left. With no room to put it
    /// back (the list shrank by one a moment ago, so only another thread's push can have
    /// taken the room) the item is finished here. Returns whether the list may hold more.
    /// While the chunk runs the item is off the list but counted in flight
    /// ([`work_in_flight`]), so that a caller that must see all work done can wait for it.
    pub fn work_one(&self, mut chunk: impl FnMut(&mut T) -> bool) -> bool {
        let Some(mut item) = self.pop_in_flight() else {
            return false;
        };
        let put_back = if chunk(&mut item) {
            match self.put_back(item) {
                Ok(()) => true,
                Err(mut item) => {
                    while chunk(&mut item) {}
                    false
                }
            }
        } else {
            // Dropped while still counted: its drop may free what it held last.
            drop(item);
            false
        };
        leave_flight();
        put_back || self.pending()
    }

    /// Takes the item pushed last, if any, counting it in flight under the list's lock (so it
    /// is never both off the list and uncounted): the caller calls [`end_in_flight`] once the
    /// item is back or done.
    pub fn pop_in_flight(&self) -> Option<T> {
        if !self.pending() {
            return None;
        }
        let mut items = self.items.lock();
        // Counted before `pending` may be cleared (all SeqCst): whoever then finds the list
        // not pending sees the count (`crate::free_deferred` waits for it).
        IN_FLIGHT.fetch_add(1, Ordering::SeqCst);
        let item = items.pop();
        if items.is_empty() {
            self.pending.store(false, Ordering::SeqCst);
        }
        if item.is_none() {
            IN_FLIGHT.fetch_sub(1, Ordering::SeqCst);
        }
        item
    }
}

impl<T> Default for WorkList<T> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::WorkList;

    #[test]
    fn work_one_does_a_chunk_and_keeps_the_rest_queued() {
        let list = WorkList::new();
        list.put_back(3u32).unwrap();
        list.put_back(1u32).unwrap();
        let mut chunks = 0;
        // The last pushed first: 1 chunk finishes it; the other item keeps the list pending.
        assert!(list.work_one(|left| {
            chunks += 1;
            *left -= 1;
            *left > 0
        }));
        assert_eq!(chunks, 1);
        // Then the 3-chunk item, one chunk per call.
        let step = |left: &mut u32| {
            *left -= 1;
            *left > 0
        };
        assert!(list.work_one(step));
        assert!(list.work_one(step));
        assert!(!list.work_one(step), "finished: nothing left");
        assert!(!list.pending());
        assert!(!list.work_one(|_| unreachable!("an empty list runs no chunk")));
    }
}
