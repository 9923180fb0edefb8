//! Futex wait queues: one [`FutexTable`] per process, keyed by the futex's user virtual
//! address (`zx_futex_wait`, `zx_futex_wake`, `zx_futex_requeue`; contract in
//! `shared/spec/zx-abi-objects.md`, section 1).
//!
//! A futex has no object: it exists while it has waiters. The table keeps every waiter of
//! the process in one list, in arrival order; a futex's queue is the sub-list with its key,
//! so FIFO order per futex is the list order. The list is bounded by the number of threads
//! of the process (each thread waits on at most one futex at a time), so every operation
//! here is O(threads of the process) under the lock and allocates only in
//! [`FutexTable::enqueue`], which reserves room first (NO_MEMORY, not a failure later).
//!
//! # Atomicity of the value check without reading user memory under the lock
//!
//! The kernel may not touch user memory under a spin lock (a fault there could need locks
//! or sleep), so the value check cannot run inside the table's lock as Zircon's does. The
//! wait therefore goes: (1) [`FutexTable::enqueue`] under the lock; (2) read the value with
//! no lock held; (3a) equal: [`FutexTable::confirm`] (owner bookkeeping) and
//! [`FutexTable::block`]; (3b) different or unreadable: [`FutexTable::withdraw`], the call
//! returns BAD_STATE / INVALID_ARGS.
//!
//! - No lost wake-up: a waker stores the new value and then calls wake. If the wake's lock
//!   hold comes after (1), it finds the waiter queued and wakes it. If it came before (1),
//!   the waker's store came before (1) too, so the read in (2) sees the new value (or a later
//!   one) and the waiter does not sleep: it returns BAD_STATE and the user retries.
//! - No wake consumed for nothing: a wake that reaches the waiter between (1) and (3b) has
//!   counted it among its `wake_count`, but the waiter then returns BAD_STATE, as if it had
//!   never queued. `withdraw` sees it was woken (it is no longer in the list, under the same
//!   lock) and passes the wake on to the first waiter of that futex that was already queued
//!   when the wake happened (arrival stamp older than the wake's stamp): exactly the waiter
//!   the wake would have chosen had the withdrawing one not been there. A waiter queued
//!   after the wake is never woken by it, so a forwarded wake is never spurious. A requeue
//!   that moved the waiter meanwhile is passed on the same way (the first older waiter of
//!   the source futex is moved instead). The same passing-on covers a thread killed after
//!   its wake and before it returned: its wake goes to the next waiter, so a killed waiter
//!   of a mutex cannot strand the others.
//! - Never a spurious wake: a waiter's result is set only by a wake or requeue that removed
//!   it from the list under the lock; the blocking loop returns OK only for that result.
//!
//! # Locking
//! `FutexTable::inner`: a spin lock over the list, the owners and the stamp clock. Taken
//! alone by the system calls (no handle-table, VMO or task lock held, no user memory touched
//! under it). Nested inside it: `Waiter::state` (a leaf) and, through a waiter's wake hook,
//! the kernel's scheduler lock and a thread's state lock. It is never taken inside those.
//! The kernel masks IRQs while it runs, so it is held with IRQs masked; no IRQ handler
//! takes it. Hold time: O(waiters of the process), bounded by its threads.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use abi::{zx_time_t, ZX_TIME_INFINITE};

use crate::koid::Koid;
use crate::signal::{SignalWaker, Wakeup};
use crate::wait::{Blocker, Waiter, Wake};
use crate::{Signals, Status, ZxResult};

/// One thread's wait on a futex. The fields other than `waiter` are written and read only
/// under the table lock (atomics only so the struct can be shared).
pub struct FutexWaiter {
    /// The result (Satisfied once woken) and the wake-up hook of the thread.
    waiter: Waiter,
    /// The wake that removed it: its futex and stamp (for passing it on).
    woken_key: AtomicUsize,
    woken_stamp: AtomicU64,
    /// The last requeue that moved it: source futex and stamp (0: never moved).
    moved_from: AtomicUsize,
    moved_stamp: AtomicU64,
}

impl FutexWaiter {
    /// A thread's waiter, made once (at its first futex wait) and reused by each of its
    /// waits: a thread waits on at most one futex at a time, and [`FutexTable::enqueue`]
    /// resets it under the table lock, after every wake or requeue that could still touch
    /// it has let go of that lock.
    pub fn new(hook: Arc<dyn Wake>) -> Arc<Self> {
        Arc::new(FutexWaiter {
            waiter: Waiter::new(hook),
            woken_key: AtomicUsize::new(0),
            woken_stamp: AtomicU64::new(0),
            moved_from: AtomicUsize::new(0),
            moved_stamp: AtomicU64::new(0),
        })
    }

    /// Whether a wake or requeue-wake has woken it.
    pub fn is_woken(&self) -> bool {
        !self.waiter.is_pending()
    }
}

struct Entry {
    key: usize,
    /// When it arrived in this futex's queue (a stamp of the table's clock).
    arrival: u64,
    thread: Koid,
    waiter: Arc<FutexWaiter>,
}

struct Queues {
    /// Every waiter of the process, in arrival order. At most one entry per thread: bounded
    /// by the process's threads.
    entries: Vec<Entry>,
    /// Requeue's scratch room; its capacity is kept at least `entries.len()`, so moving
    /// entries never allocates.
    spare: Vec<Entry>,
    /// The futexes that have an owner (each has waiters): (key, owner thread's koid). At
    /// most one per futex with waiters, so bounded like `entries`; room reserved by
    /// `enqueue`.
    owners: Vec<(usize, Koid)>,
    /// Stamp clock: every arrival, wake and requeue takes the next value.
    clock: u64,
}

/// The futexes of one process.
pub struct FutexTable {
    /// See the module doc ("Locking").
    inner: spin::Mutex<Queues>,
}

impl Default for FutexTable {
    fn default() -> Self {
        Self::new()
    }
}

impl Queues {
    fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }

    fn has_waiters(&self, key: usize) -> bool {
        self.entries.iter().any(|e| e.key == key)
    }

    fn waits_on(&self, thread: Koid, key: usize) -> bool {
        self.entries
            .iter()
            .any(|e| e.key == key && e.thread == thread)
    }

    fn set_owner(&mut self, key: usize, owner: Option<Koid>) {
        self.owners.retain(|&(k, _)| k != key);
        if let Some(owner) = owner {
            if self.has_waiters(key) {
                // Room reserved by `enqueue` (one slot per waiter).
                if self.owners.len() < self.owners.capacity() {
                    self.owners.push((key, owner));
                }
            }
        }
    }

    /// A futex without waiters has no owner.
    fn drop_owner_if_idle(&mut self, key: usize) {
        if !self.has_waiters(key) {
            self.owners.retain(|&(k, _)| k != key);
        }
    }

    /// Wakes up to `count` waiters of `key` that arrived before `stamp`, first come first;
    /// returns how many.
    fn wake_before(&mut self, key: usize, count: u32, stamp: u64) -> u32 {
        if count == 1 {
            // The common case (a mutex's unlock), without `retain`'s pass over the rest.
            let Some(index) = self
                .entries
                .iter()
                .position(|e| e.key == key && e.arrival < stamp)
            else {
                return 0;
            };
            let e = if index + 1 == self.entries.len() {
                self.entries.pop()
            } else {
                Some(self.entries.remove(index))
            };
            let Some(e) = e else {
                return 0;
            };
            e.waiter.woken_key.store(key, Ordering::Relaxed);
            e.waiter.woken_stamp.store(stamp, Ordering::Relaxed);
            e.waiter.waiter.complete(Wakeup::Satisfied(Signals::NONE));
            return 1;
        }
        let mut left = count;
        self.entries.retain(|e| {
            if left == 0 || e.key != key || e.arrival >= stamp {
                return true;
            }
            left -= 1;
            e.waiter.woken_key.store(key, Ordering::Relaxed);
            e.waiter.woken_stamp.store(stamp, Ordering::Relaxed);
            e.waiter.waiter.complete(Wakeup::Satisfied(Signals::NONE));
            false
        });
        count - left
    }

    /// Moves up to `count` waiters of `from` that arrived before `stamp`, in order, to the
    /// tail of `to`'s queue; returns how many.
    fn move_before(&mut self, from: usize, to: usize, count: u32, stamp: u64) -> u32 {
        let mut left = count;
        let mut spare = core::mem::take(&mut self.spare);
        self.entries.retain_mut(|e| {
            if left == 0 || e.key != from || e.arrival >= stamp {
                return true;
            }
            // `spare` has room for every entry (see its declaration): never full here.
            if spare.len() == spare.capacity() {
                return true;
            }
            left -= 1;
            e.waiter.moved_from.store(from, Ordering::Relaxed);
            e.waiter.moved_stamp.store(stamp, Ordering::Relaxed);
            spare.push(Entry {
                key: to,
                arrival: 0,
                thread: e.thread,
                waiter: e.waiter.clone(),
            });
            false
        });
        let moved = spare.len() as u32;
        for mut entry in spare.drain(..) {
            entry.arrival = self.tick();
            self.entries.push(entry);
        }
        self.spare = spare;
        moved
    }
}

impl FutexTable {
    pub const fn new() -> Self {
        FutexTable {
            inner: spin::Mutex::new(Queues {
                entries: Vec::new(),
                spare: Vec::new(),
                owners: Vec::new(),
                clock: 0,
            }),
        }
    }

    /// Step 1 of `zx_futex_wait`: queues `waiter` (thread `thread`'s, not queued now) at
    /// the tail of futex `key`. INVALID_ARGS if `owner` waits on `key`; NO_MEMORY if there
    /// is no room; nothing changed then. Returns whether [`FutexTable::confirm`] has owner
    /// bookkeeping to do (an owner is given, or the futex has one to clear).
    pub fn enqueue(
        &self,
        key: usize,
        thread: Koid,
        owner: Option<Koid>,
        waiter: &Arc<FutexWaiter>,
    ) -> ZxResult<bool> {
        let mut q = self.inner.lock();
        if let Some(owner) = owner {
            if q.waits_on(owner, key) {
                return Err(Status::INVALID_ARGS);
            }
        }
        // Room for one more entry in the list, its scratch and its owners (reserved ahead,
        // so nothing allocates later); grown only when full.
        let need = q.entries.len() + 1;
        if q.entries.capacity() < need || q.spare.capacity() < need || q.owners.capacity() < need {
            let Queues {
                entries,
                spare,
                owners,
                ..
            } = &mut *q;
            let grow = |len: usize| need.saturating_sub(len);
            if entries.try_reserve(grow(entries.len())).is_err()
                || spare.try_reserve(grow(spare.len())).is_err()
                || owners.try_reserve(grow(owners.len())).is_err()
            {
                return Err(Status::NO_MEMORY);
            }
        }
        // Nothing else refers to it now: its last wait left the list under this lock.
        waiter.waiter.reset();
        // `woken_*` are read only once a wake has set them, `moved_from` only with a
        // `moved_stamp`.
        waiter.moved_stamp.store(0, Ordering::Relaxed);
        let arrival = q.tick();
        q.entries.push(Entry {
            key,
            arrival,
            thread,
            waiter: waiter.clone(),
        });
        Ok(owner.is_some() || q.owners.iter().any(|&(k, _)| k == key))
    }

    /// Step 3a: the value matched, so the wait succeeds in blocking: the futex's owner
    /// becomes `owner` (or none), if the waiter is still queued on the futex it came for (a
    /// wake or requeue meanwhile already settled the owner).
    ///
    /// `owner_dead` tells whether the owner has died since the caller checked it: an owner
    /// that died is dropped (its `owner_exited` ran, or will run, after its dead flag was
    /// set, and takes this lock, so reading the flag here cannot miss both). INVALID_ARGS,
    /// nothing changed, if the owner now waits on `key` itself (it may have queued since
    /// [`FutexTable::enqueue`] checked); the caller then withdraws.
    pub fn confirm(
        &self,
        waiter: &FutexWaiter,
        key: usize,
        owner: Option<Koid>,
        owner_dead: impl FnOnce() -> bool,
    ) -> ZxResult {
        let mut q = self.inner.lock();
        let queued = q
            .entries
            .iter()
            .any(|e| e.key == key && core::ptr::eq(&*e.waiter, waiter));
        if queued {
            let owner = owner.filter(|_| !owner_dead());
            if let Some(owner) = owner {
                if q.waits_on(owner, key) {
                    return Err(Status::INVALID_ARGS);
                }
            }
            q.set_owner(key, owner);
        }
        Ok(())
    }

    /// Step 3b (and the way out of a killed waiter): leaves the queue as if the wait had
    /// never queued. A wake or requeue that reached the waiter meanwhile is passed on to
    /// the waiter it would have chosen instead (module doc).
    pub fn withdraw(&self, waiter: &FutexWaiter) {
        let mut q = self.inner.lock();
        match q
            .entries
            .iter()
            .position(|e| core::ptr::eq(&*e.waiter, waiter))
        {
            Some(index) => {
                let entry = q.entries.remove(index);
                q.drop_owner_if_idle(entry.key);
                let stamp = waiter.moved_stamp.load(Ordering::Relaxed);
                if stamp != 0 {
                    let from = waiter.moved_from.load(Ordering::Relaxed);
                    q.move_before(from, entry.key, 1, stamp);
                }
                drop(q);
                drop(entry);
            }
            None if waiter.is_woken() => {
                let key = waiter.woken_key.load(Ordering::Relaxed);
                let stamp = waiter.woken_stamp.load(Ordering::Relaxed);
                q.wake_before(key, 1, stamp);
            }
            // Not queued and not woken: the table was cleared.
            None => {}
        }
    }

    /// Step 3a, after [`FutexTable::confirm`]: sleeps until woken (OK), the deadline
    /// (TIMED_OUT; a wake that came first wins) or the thread is killed (CANCELED, after
    /// passing on a wake it got). Never returns OK without a wake.
    pub fn block(
        &self,
        waiter: &FutexWaiter,
        deadline: zx_time_t,
        blocker: &dyn Blocker,
    ) -> ZxResult {
        // First sleep at once: the blocker itself re-checks that the waiter is still pending
        // (and the thread alive) before it sleeps, so a wake or kill that came first only
        // makes it return; the checks below then sort out why.
        blocker.block_until(&waiter.waiter, deadline);
        loop {
            if blocker.interrupted() {
                self.withdraw(waiter);
                return Err(Status::CANCELED);
            }
            if waiter.is_woken() {
                return Ok(());
            }
            // An infinite deadline never passes: no clock read.
            if deadline != ZX_TIME_INFINITE && blocker.now() >= deadline {
                let mut q = self.inner.lock();
                return match q
                    .entries
                    .iter()
                    .position(|e| core::ptr::eq(&*e.waiter, waiter))
                {
                    Some(index) => {
                        let entry = q.entries.remove(index);
                        q.drop_owner_if_idle(entry.key);
                        drop(q);
                        drop(entry);
                        Err(Status::TIMED_OUT)
                    }
                    // Woken just before the deadline: the wake counts.
                    None if waiter.is_woken() => Ok(()),
                    None => Err(Status::TIMED_OUT),
                };
            }
            blocker.block_until(&waiter.waiter, deadline);
        }
    }

    /// `zx_futex_wake`: wakes up to `count` waiters of `key` (`u32::MAX`: all), first come
    /// first; the futex has no owner afterwards. Returns how many were woken.
    pub fn wake(&self, key: usize, count: u32) -> u32 {
        let mut q = self.inner.lock();
        let stamp = q.tick();
        let woken = q.wake_before(key, count, stamp);
        q.set_owner(key, None);
        woken
    }

    /// `zx_futex_requeue` once the value matched: INVALID_ARGS if `owner` waits on either
    /// futex (nothing changed); else wakes `wake_count` waiters of `key`, moves up to
    /// `requeue_count` of the rest in order to the tail of `to`'s queue; `key` has no owner
    /// afterwards, `to` has `owner` (none if it has no waiters). Returns (woken, moved).
    pub fn requeue(
        &self,
        key: usize,
        wake_count: u32,
        to: usize,
        requeue_count: u32,
        owner: Option<Koid>,
        owner_dead: impl FnOnce() -> bool,
    ) -> ZxResult<(u32, u32)> {
        let mut q = self.inner.lock();
        // As in `confirm`: an owner that died since the caller's check is no owner.
        let owner = owner.filter(|_| !owner_dead());
        if let Some(owner) = owner {
            if q.waits_on(owner, key) || q.waits_on(owner, to) {
                return Err(Status::INVALID_ARGS);
            }
        }
        let stamp = q.tick();
        let woken = q.wake_before(key, wake_count, stamp);
        let moved = q.move_before(key, to, requeue_count, stamp);
        q.set_owner(key, None);
        q.set_owner(to, owner);
        Ok((woken, moved))
    }

    /// An owner thread is exiting: the futexes it owns become unowned.
    pub fn owner_exited(&self, thread: Koid) {
        self.inner
            .lock()
            .owners
            .retain(|&(_, owner)| owner != thread);
    }

    /// The owner of `key` (for tests and `zx_futex_get_owner` should it come).
    pub fn owner(&self, key: usize) -> Option<Koid> {
        let q = self.inner.lock();
        q.owners.iter().find(|&&(k, _)| k == key).map(|&(_, o)| o)
    }

    /// How many threads wait on `key`.
    pub fn waiters(&self, key: usize) -> usize {
        self.inner
            .lock()
            .entries
            .iter()
            .filter(|e| e.key == key)
            .count()
    }

    /// How many threads wait on any futex of the process.
    pub fn total_waiters(&self) -> usize {
        self.inner.lock().entries.len()
    }

    /// The threads queued on `key`, in wake order (tests).
    pub fn queue(&self, key: usize) -> Vec<Koid> {
        let q = self.inner.lock();
        q.entries
            .iter()
            .filter(|e| e.key == key)
            .map(|e| e.thread)
            .collect()
    }
}
