//! Blocking synchronization on futexes: [`Futex`] (the three calls on one word), [`Mutex`]
//! with its [`MutexGuard`], and [`Condvar`].
//!
//! The mutex takes no system call when nobody contends it: its word is 0 (free), 1 (held)
//! or 2 (held, and some thread may sleep on it). Locking moves 0 -> 1 with one
//! compare-and-swap; a contender sets 2 and sleeps on the word while it reads 2; unlocking
//! stores 0 and wakes one sleeper only if the word was 2. A woken thread takes the lock
//! with 2 (it cannot know whether others still sleep), which costs at worst one wake that
//! finds nobody.
//!
//! The condition variable is a sequence number: a waiter reads it, unlocks the mutex and
//! sleeps while the number is unchanged; a notify bumps it and wakes one or all sleepers.
//! A notify between the read and the sleep changes the number, so the futex wait returns
//! BAD_STATE at once and no notification is lost.

use core::cell::UnsafeCell;
use core::marker::PhantomData;
use core::ops::{Deref, DerefMut};
use core::sync::atomic::{AtomicI32, Ordering};

use crate::{sys, Status, Time};

/// A futex: a 32-bit word the kernel can put threads to sleep on.
#[repr(transparent)]
#[derive(Default)]
pub struct Futex(AtomicI32);

impl Futex {
    /// A futex holding `value`.
    pub const fn new(value: i32) -> Self {
        Futex(AtomicI32::new(value))
    }

    /// The word, for atomic operations on it.
    pub fn word(&self) -> &AtomicI32 {
        &self.0
    }

    fn ptr(&self) -> *const sys::zx_futex_t {
        self.0.as_ptr().cast_const()
    }

    /// `zx_futex_wait`: sleeps while the word holds `current` until woken or `deadline`.
    /// BAD_STATE if the word already holds something else.
    pub fn wait(
        &self,
        current: i32,
        owner: Option<&crate::Thread>,
        deadline: Time,
    ) -> crate::Result<()> {
        let owner = owner.map_or(sys::ZX_HANDLE_INVALID, |t| t.raw_handle());
        // SAFETY: the pointer is to a live, aligned word of this process.
        Status::ok(unsafe { sys::zx_futex_wait(self.ptr(), current, owner, deadline.into_nanos()) })
    }

    /// `zx_futex_wake`: wakes up to `count` sleepers (`u32::MAX`: all), first come first.
    pub fn wake(&self, count: u32) -> crate::Result<()> {
        // SAFETY: the kernel does not read or write the word.
        Status::ok(unsafe { sys::zx_futex_wake(self.ptr(), count) })
    }

    /// `zx_futex_requeue`: if the word holds `current`, wakes `wake_count` sleepers and moves
    /// up to `requeue_count` of the others to `to`.
    pub fn requeue(
        &self,
        wake_count: u32,
        current: i32,
        to: &Futex,
        requeue_count: u32,
        owner: Option<&crate::Thread>,
    ) -> crate::Result<()> {
        let owner = owner.map_or(sys::ZX_HANDLE_INVALID, |t| t.raw_handle());
        // SAFETY: both pointers are to live, aligned words of this process.
        Status::ok(unsafe {
            sys::zx_futex_requeue(
                self.ptr(),
                wake_count,
                current,
                to.ptr(),
                requeue_count,
                owner,
            )
        })
    }
}

const FREE: i32 = 0;
const HELD: i32 = 1;
const CONTENDED: i32 = 2;

/// A mutual-exclusion lock protecting a `T`, on a futex.
pub struct Mutex<T: ?Sized> {
    futex: Futex,
    value: UnsafeCell<T>,
}

// SAFETY: the lock hands out the value to one thread at a time.
unsafe impl<T: ?Sized + Send> Send for Mutex<T> {}
// SAFETY: as above; `T: Send` since another thread may get the value through `&Mutex`.
unsafe impl<T: ?Sized + Send> Sync for Mutex<T> {}

/// The lock of a [`Mutex`] while held; unlocks when dropped.
///
/// A shared guard gives `&T` to every thread that has it, so the guard is `Sync` only when
/// `T` is (a `Cell` behind a shared guard would otherwise be raced on):
///
/// ```
/// fn is_sync<S: Sync>() {}
/// is_sync::<zx::sync::MutexGuard<'static, i32>>();
/// ```
/// ```compile_fail
/// fn is_sync<S: Sync>() {}
/// is_sync::<zx::sync::MutexGuard<'static, core::cell::Cell<i32>>>();
/// ```
pub struct MutexGuard<'a, T: ?Sized> {
    mutex: &'a Mutex<T>,
    /// Makes the guard `Sync` only when `T` is (with `&Mutex<T>` alone it would be whenever
    /// `T: Send`): the auto traits then need `T: Send + Sync`, no `unsafe impl`.
    _value: PhantomData<&'a mut T>,
}

impl<'a, T: ?Sized> MutexGuard<'a, T> {
    fn new(mutex: &'a Mutex<T>) -> Self {
        MutexGuard {
            mutex,
            _value: PhantomData,
        }
    }
}

impl<T> Mutex<T> {
    /// An unlocked mutex holding `value`.
    pub const fn new(value: T) -> Self {
        Mutex {
            futex: Futex::new(FREE),
            value: UnsafeCell::new(value),
        }
    }

    /// The value, the mutex consumed.
    pub fn into_inner(self) -> T {
        self.value.into_inner()
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Takes the lock, sleeping while another thread holds it.
    pub fn lock(&self) -> MutexGuard<'_, T> {
        let word = self.futex.word();
        if word
            .compare_exchange(FREE, HELD, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            self.lock_contended();
        }
        MutexGuard::new(self)
    }

    #[cold]
    fn lock_contended(&self) {
        let word = self.futex.word();
        // Taking it with CONTENDED: others may sleep behind us.
        while word.swap(CONTENDED, Ordering::Acquire) != FREE {
            // Any result (woken, the word changed) means: try again.
            let _ = self.futex.wait(CONTENDED, None, Time::INFINITE);
        }
    }

    /// Takes the lock if it is free.
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        self.futex
            .word()
            .compare_exchange(FREE, HELD, Ordering::Acquire, Ordering::Relaxed)
            .ok()
            .map(|_| MutexGuard::new(self))
    }

    /// The value, through a unique reference (no locking needed).
    pub fn get_mut(&mut self) -> &mut T {
        self.value.get_mut()
    }

    fn unlock(&self) {
        if self.futex.word().swap(FREE, Ordering::Release) == CONTENDED {
            let _ = self.futex.wake(1);
        }
    }
}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the lock, so no other reference to the value exists.
        unsafe { &*self.mutex.value.get() }
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as for `deref`, and the guard is borrowed mutably.
        unsafe { &mut *self.mutex.value.get() }
    }
}

impl<T: ?Sized> Drop for MutexGuard<'_, T> {
    fn drop(&mut self) {
        self.mutex.unlock();
    }
}

/// A condition variable for [`Mutex`], on a futex.
#[derive(Default)]
pub struct Condvar {
    sequence: Futex,
}

impl Condvar {
    /// A condition variable nobody waits on.
    pub const fn new() -> Self {
        Condvar {
            sequence: Futex::new(0),
        }
    }

    /// Unlocks `guard`'s mutex, sleeps until notified, and locks it again. May return
    /// without a notification (when one raced with the unlock): check the condition in a
    /// loop.
    pub fn wait<'a, T: ?Sized>(&self, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
        self.wait_until(guard, Time::INFINITE).0
    }

    /// Like [`Condvar::wait`], giving up at `deadline`; the flag says whether it timed out.
    pub fn wait_until<'a, T: ?Sized>(
        &self,
        guard: MutexGuard<'a, T>,
        deadline: Time,
    ) -> (MutexGuard<'a, T>, bool) {
        let mutex = guard.mutex;
        let seen = self.sequence.word().load(Ordering::Relaxed);
        drop(guard);
        let result = self.sequence.wait(seen, None, deadline);
        // Relocked as contended: other woken waiters may queue behind this one.
        mutex.lock_contended();
        (MutexGuard::new(mutex), result == Err(Status::TIMED_OUT))
    }

    /// Wakes one waiter, if any.
    pub fn notify_one(&self) {
        self.sequence.word().fetch_add(1, Ordering::Release);
        let _ = self.sequence.wake(1);
    }

    /// Wakes every waiter.
    pub fn notify_all(&self) {
        self.sequence.word().fetch_add(1, Ordering::Release);
        let _ = self.sequence.wake(u32::MAX);
    }
}
