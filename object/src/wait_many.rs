//! `zx_object_wait_many`: one [`Waiter`] observing several objects' signal states through
//! the handles of a table. Apart from [`crate::wait`] because it looks handles up (the handle
//! table itself waits through `crate::wait`).

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, Ordering};

use abi::{zx_handle_t, zx_time_t, Signals, Status};

use crate::handle::HandleTable;
use crate::object::KernelObject;
use crate::signal::{Observe, ObserverId, SignalWaker, Wakeup};
use crate::wait::{Blocker, WaitState, Waiter};
use crate::ZxResult;

/// One item of [`wait_many`]: the handle value, the signals it waits for, and (written back)
/// the object's signals when the wait ended.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WaitItem {
    pub handle: zx_handle_t,
    pub waitfor: Signals,
    pub pending: Signals,
}

/// `ZX_WAIT_MANY_MAX_ITEMS`.
pub const MAX_WAIT_ITEMS: usize = abi::ZX_WAIT_MANY_MAX_ITEMS;

/// The observer one item of a [`wait_many`] registers: completes the shared waiter and
/// remembers whether its own handle was closed.
struct ItemWaker {
    waiter: Arc<Waiter>,
    canceled: AtomicBool,
}

impl SignalWaker for ItemWaker {
    fn complete(&self, wakeup: Wakeup) {
        if let Wakeup::Canceled(_) = wakeup {
            self.canceled.store(true, Ordering::Release);
        }
        self.waiter.complete(wakeup);
    }
}

/// `zx_object_wait_many` on `table`, once the items are copied in (at most
/// [`MAX_WAIT_ITEMS`]: `OUT_OF_RANGE` otherwise). Items are looked up in order (`BAD_HANDLE`,
/// then `NOT_SUPPORTED` for an object no wait accepts); the first failure returns with no
/// wait. Then one waiter observes every item's object, each through its own handle:
/// - OK as soon as some item has a requested signal active;
/// - `TIMED_OUT` at the deadline;
/// - `CANCELED` if an item's handle is closed meanwhile: its `pending` gets `HANDLE_CLOSED`;
/// - `NO_MEMORY` if an observer could not be registered.
///
/// On OK, TIMED_OUT and CANCELED every item's `pending` holds its object's current signals.
/// Every observer is removed before this returns.
pub fn wait_many(
    table: &HandleTable,
    items: &mut [WaitItem],
    deadline: zx_time_t,
    blocker: &dyn Blocker,
) -> ZxResult {
    if items.len() > MAX_WAIT_ITEMS {
        return Err(Status::OUT_OF_RANGE);
    }
    let mut objects: Vec<(Arc<dyn KernelObject>, u64)> = Vec::new();
    objects
        .try_reserve(items.len())
        .map_err(|_| Status::NO_MEMORY)?;
    for item in items.iter() {
        let (object, _, handle_id) = table.get(item.handle)?;
        if !object.waitable() {
            return Err(Status::NOT_SUPPORTED);
        }
        objects.push((object, handle_id));
    }
    let fill = |items: &mut [WaitItem], objects: &[(Arc<dyn KernelObject>, u64)]| {
        let mut any = false;
        for (item, (object, _)) in items.iter_mut().zip(objects) {
            item.pending = object.signals().get();
            any |= item.pending.intersects(item.waitfor);
        }
        any
    };
    if fill(items, &objects) {
        return Ok(());
    }
    if blocker.now() >= deadline {
        return Err(Status::TIMED_OUT);
    }

    let waiter = Arc::new(Waiter::new(blocker.wake_hook()));
    let mut wakers: Vec<(Arc<ItemWaker>, ObserverId)> = Vec::new();
    wakers
        .try_reserve(items.len())
        .map_err(|_| Status::NO_MEMORY)?;
    let mut early: Option<Status> = None;
    for (item, (_, handle_id)) in items.iter().zip(&objects) {
        let waker = Arc::new(ItemWaker {
            waiter: waiter.clone(),
            canceled: AtomicBool::new(false),
        });
        match table.observe(item.handle, *handle_id, item.waitfor, waker.clone()) {
            Ok(Observe::Registered(id)) => wakers.push((waker, id)),
            Ok(Observe::Active(_)) => {
                wakers.push((waker, 0));
                early = Some(Status::OK);
                break;
            }
            Err(Status::BAD_HANDLE) => {
                // Closed since the lookup: as if closed during the wait.
                waker.canceled.store(true, Ordering::Release);
                wakers.push((waker, 0));
                early = Some(Status::CANCELED);
                break;
            }
            Err(status) => {
                early = Some(status);
                break;
            }
        }
    }

    let mut status = early.unwrap_or(Status::OK);
    if early.is_none() {
        status = loop {
            match waiter.state() {
                WaitState::Satisfied(_) => break Status::OK,
                WaitState::Canceled(_) => break Status::CANCELED,
                WaitState::Pending => {}
            }
            if blocker.interrupted() {
                break Status::CANCELED;
            }
            if blocker.now() >= deadline {
                break Status::TIMED_OUT;
            }
            blocker.block_until(&waiter, deadline);
        };
    }
    // The observers never outlive the call.
    for ((_, id), (object, _)) in wakers.iter().zip(&objects) {
        if *id != 0 {
            object.signals().remove_observer(*id);
        }
    }
    // A completion that raced with the timeout decides.
    if status == Status::TIMED_OUT {
        match waiter.state() {
            WaitState::Satisfied(_) => status = Status::OK,
            WaitState::Canceled(_) => status = Status::CANCELED,
            WaitState::Pending => {}
        }
    }
    if status == Status::NO_MEMORY {
        return Err(status);
    }
    fill(items, &objects);
    // Only a CANCELED wait reports closed handles: an item closed after another item had
    // already satisfied the wait (before its observer was removed) is not why it returned.
    if status == Status::CANCELED {
        for (item, (waker, _)) in items.iter_mut().zip(&wakers) {
            if waker.canceled.load(Ordering::Acquire) {
                item.pending |= Signals::HANDLE_CLOSED;
            }
        }
    }
    status.into_result()
}
