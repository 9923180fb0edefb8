//! `zx_futex_wait`, `zx_futex_wake`, `zx_futex_requeue` (contract: zx-abi-objects.md,
//! section 1): argument checks in the contract's order, the user-memory reads and the owner
//! handle; the queues themselves are `object::futex` (one table per process, keyed by the
//! user address), which also holds the argument why a wait can neither lose a wake nor eat
//! one meant for another thread although the value is read with no lock held.
//!
//! User memory is read only here, never under the table's lock (a fault needs the VMAR and
//! VMO locks and may sleep). The optional calls (`_single_owner`, `get_owner`) have no
//! number and so are BAD_SYSCALL.

use crate::task::{KernelBlocker, Thread};
use crate::usercopy::UserIn;
use abi::{zx_handle_t, zx_time_t, ZX_HANDLE_INVALID, ZX_TIME_INFINITE};
use alloc::sync::Arc;
use object::futex::FutexWaiter;
use object::handle::HandleTable;
use object::koid::Koid;
use object::task::ThreadState;
use object::wait::Blocker;
use object::{Rights, Status, ZxResult};

/// The futex at user address `ptr`: INVALID_ARGS if NULL or not 4-aligned.
fn futex_key(ptr: usize) -> ZxResult<usize> {
    if ptr == 0 || !ptr.is_multiple_of(4) {
        return Err(Status::INVALID_ARGS);
    }
    Ok(ptr)
}

/// Reads the futex word: INVALID_ARGS if it is not readable (a kernel address or unmapped).
fn read_value(ptr: usize) -> ZxResult<i32> {
    UserIn::<u32>::new(ptr).read().map(|word| word as i32)
}

/// The owner handle's lookup (BAD_HANDLE, WRONG_TYPE; no right needed). Its errors are
/// reported only after the value check, as the contract orders.
fn lookup_owner(table: &HandleTable, handle: zx_handle_t) -> ZxResult<Option<Arc<Thread>>> {
    if handle == ZX_HANDLE_INVALID {
        return Ok(None);
    }
    let (thread, _) = table.get_object::<Thread>(handle, Rights::NONE)?;
    Ok(Some(thread))
}

/// The owner, or none: a dying or dead thread counts as no owner; one of another process,
/// not yet started, or the caller itself is INVALID_ARGS. (Whether it waits on the futex,
/// and whether it died since, is checked again under the table's lock.)
fn check_owner(owner: Option<Arc<Thread>>, me: &Arc<Thread>) -> ZxResult<Option<Arc<Thread>>> {
    let Some(owner) = owner else {
        return Ok(None);
    };
    if owner.is_dead() {
        return Ok(None);
    }
    if !Arc::ptr_eq(owner.process(), me.process())
        || owner.state() == ThreadState::New
        || Arc::ptr_eq(&owner, me)
    {
        return Err(Status::INVALID_ARGS);
    }
    Ok(Some(owner))
}

/// The owner's koid, and whether it is dead by now (read under the table's lock).
fn owner_koid(owner: &Option<Arc<Thread>>) -> (Option<Koid>, impl FnOnce() -> bool + '_) {
    (owner.as_ref().map(|t| t.koid()), move || {
        owner.as_ref().is_some_and(|t| t.is_dead())
    })
}

/// `zx_futex_wait`.
pub(super) fn wait(
    table: &HandleTable,
    ptr: usize,
    current_value: i32,
    owner: zx_handle_t,
    deadline: zx_time_t,
) -> ZxResult {
    let key = futex_key(ptr)?;
    let blocker = KernelBlocker;
    let me = crate::task::current_thread().ok_or(Status::BAD_STATE)?;
    let owner = if owner == ZX_HANDLE_INVALID
        && (deadline == ZX_TIME_INFINITE || blocker.now() < deadline)
    {
        // The common case, without an owner: the read after queueing (below) is the only
        // one, as no owner error or time-out can come before its BAD_STATE.
        None
    } else {
        let owner = lookup_owner(table, owner);
        if read_value(ptr)? != current_value {
            return Err(Status::BAD_STATE);
        }
        let owner = check_owner(owner?, &me)?;
        if blocker.now() >= deadline {
            return Err(Status::TIMED_OUT);
        }
        owner
    };
    // `me` (the caller's own thread) is kept until the call ends: a killed thread unwinds
    // through here and drops it before it leaves.
    let futexes = me.process().futexes();
    let waiter = me.futex_waiter(|| FutexWaiter::new(blocker.wake_hook()));
    // Queue first, then read the value with no lock held (see `object::futex`): a wake
    // after the queueing finds this thread, one before it changed the value first.
    let confirm = match futexes.enqueue(key, me.koid(), owner_koid(&owner).0, waiter) {
        Ok(confirm) => confirm,
        // The value's errors still come first.
        Err(status) => {
            return match read_value(ptr) {
                Ok(value) if value == current_value => Err(status),
                Ok(_) => Err(Status::BAD_STATE),
                Err(read) => Err(read),
            }
        }
    };
    match read_value(ptr) {
        Ok(value) if value == current_value => {}
        other => {
            futexes.withdraw(waiter);
            return match other {
                Ok(_) => Err(Status::BAD_STATE),
                Err(status) => Err(status),
            };
        }
    }
    if confirm {
        let (koid, dead) = owner_koid(&owner);
        if let Err(status) = futexes.confirm(waiter, key, koid, dead) {
            futexes.withdraw(waiter);
            return Err(status);
        }
    }
    crate::task::blocked_in(object::task::Blocked::Futex, || {
        futexes.block(waiter, deadline, &blocker)
    })
}

/// `zx_futex_wake`: the word is not read (an unmapped address is fine).
pub(super) fn wake(ptr: usize, count: u32) -> ZxResult {
    let key = futex_key(ptr)?;
    crate::task::with_current_process(|process| process.futexes().wake(key, count))
        .ok_or(Status::BAD_STATE)?;
    Ok(())
}

/// `zx_futex_requeue`. The value is checked before the table's lock is taken, so a change
/// racing with the call may let it wake and move anyway; that is harmless (a requeue only
/// wakes or moves waiters, whose own value checks are exact, see `object::futex`), and the
/// check still catches the change the callers use it for (a condition variable's sequence
/// moved on before the broadcast).
pub(super) fn requeue(
    table: &HandleTable,
    ptr: usize,
    wake_count: u32,
    current_value: i32,
    requeue_ptr: usize,
    requeue_count: u32,
    owner: zx_handle_t,
) -> ZxResult {
    let key = futex_key(ptr)?;
    let to = futex_key(requeue_ptr)?;
    if key == to {
        return Err(Status::INVALID_ARGS);
    }
    let owner = lookup_owner(table, owner);
    if read_value(ptr)? != current_value {
        return Err(Status::BAD_STATE);
    }
    let me = crate::task::current_thread().ok_or(Status::BAD_STATE)?;
    let owner = check_owner(owner?, &me)?;
    let (koid, dead) = owner_koid(&owner);
    me.process()
        .futexes()
        .requeue(key, wake_count, to, requeue_count, koid, dead)?;
    Ok(())
}
