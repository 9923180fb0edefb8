//! Locks for state an interrupt handler also takes.
//!
//! [`IrqSafeLock`] is a spin lock that masks IRQs on this CPU while it is held and puts the
//! mask back as it was when the guard drops: an IRQ handler that takes the same lock can
//! then never find it held by the code it interrupted on this CPU (which would spin
//! forever). The kernel runs with IRQs masked today except at EL0, in the idle loop's wait
//! and at preemption points, so the masking is usually a no-op; the type says which locks
//! rely on it, and keeps them right once kernel code runs with IRQs on.

use core::ops::{Deref, DerefMut};

/// A spin lock held with IRQs masked.
pub struct IrqSafeLock<T: ?Sized> {
    inner: spin::Mutex<T>,
}

impl<T> IrqSafeLock<T> {
    pub const fn new(value: T) -> IrqSafeLock<T> {
        IrqSafeLock {
            inner: spin::Mutex::new(value),
        }
    }
}

impl<T: ?Sized> IrqSafeLock<T> {
    /// Masks IRQs, then spins until the lock is free.
    #[inline]
    pub fn lock(&self) -> IrqSafeGuard<'_, T> {
        let irqs_were_on = arch::cpu::disable_irqs();
        IrqSafeGuard {
            guard: self.inner.lock(),
            _restore: RestoreIrqs(irqs_were_on),
        }
    }

    /// Releases the lock that a guard given up with [`IrqSafeGuard::keep_locked`] left held;
    /// IRQs stay as they are.
    ///
    /// # Safety
    /// The lock is held through such a guard, and whoever took it has handed it over to the
    /// caller (the scheduler holds its lock across a context switch, and the context switched
    /// to releases it).
    #[inline]
    pub unsafe fn force_unlock(&self) {
        // SAFETY: the caller's promise: the lock is held and nobody else will release it.
        unsafe { self.inner.force_unlock() };
    }
}

impl<'a, T: ?Sized> IrqSafeGuard<'a, T> {
    /// Gives the guard up without releasing the lock or unmasking IRQs: the lock stays held
    /// until [`IrqSafeLock::force_unlock`].
    #[inline]
    pub fn keep_locked(self) {
        core::mem::forget(self);
    }
}

/// The lock held; IRQs masked until it drops (then as they were before `lock`). The fields
/// drop in order: the lock is released before IRQs are unmasked, as an IRQ taken at the
/// unmasking may take it.
pub struct IrqSafeGuard<'a, T: ?Sized> {
    guard: spin::MutexGuard<'a, T>,
    _restore: RestoreIrqs,
}

/// Unmasks IRQs when dropped if they were on before.
struct RestoreIrqs(bool);

impl Drop for RestoreIrqs {
    #[inline]
    fn drop(&mut self) {
        if self.0 {
            arch::cpu::enable_irqs();
        }
    }
}

impl<T: ?Sized> Deref for IrqSafeGuard<'_, T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        &self.guard
    }
}

impl<T: ?Sized> DerefMut for IrqSafeGuard<'_, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        &mut self.guard
    }
}
