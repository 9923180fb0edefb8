//! `zx_channel_call`: a request written with a kernel-chosen txid, and the wait for the reply
//! that carries it.
//!
//! A call registers a [`CallSlot`] on the caller's endpoint (in its [`Side`], under the
//! channel's `sides` lock) in the same hold of the lock that queues the request at the peer,
//! so the reply cannot arrive unseen. A message written to an endpoint whose first four bytes
//! equal a registered call's txid goes straight into that slot: it is never queued and raises
//! no `READABLE`. The slot ends exactly once: with the reply, or with CANCELED (the caller's
//! endpoint lost its last handle) or PEER_CLOSED (the peer went). A call that gives up at its
//! deadline (or whose thread is killed) takes its slot off the list itself; a reply arriving
//! later is queued as any message.
//!
//! Txids of calls are 0x80000000..=0xFFFFFFFF, unused by the calls pending on the endpoint:
//! each call takes the next value of a per-endpoint counter that no pending call holds, which
//! takes at most one try more than there are pending calls. Endpoint 0's counter starts at
//! 0x80000000, endpoint 1's at 0xC0000000, so that two endpoints calling each other do not
//! take a request from the other for a reply (until a counter has gone 2^30 calls ahead).
//!
//! # Locking
//! `CallSlot::result` is a leaf, taken under `sides` (completion) or alone (the caller); the
//! slot's [`Waiter`] is completed after the result is stored, under `sides` (its wake-up takes
//! the scheduler's lock, as a signal's does). IRQs masked, as the kernel runs.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, Ordering};

use abi::{zx_time_t, Signals, Status};

use super::{Channel, Message, Side};
use crate::handle::Handle;
use crate::signal::{SignalWaker, Wakeup};
use crate::wait::{Blocker, Waiter};
use crate::ZxResult;

/// First txid the kernel gives a call; smaller ones belong to user code.
pub const FIRST_CALL_TXID: u32 = 0x8000_0000;
/// Where endpoint 1's call txids start (endpoint 0's start at [`FIRST_CALL_TXID`]).
pub const SECOND_SIDE_FIRST_TXID: u32 = 0xC000_0000;

/// One call waiting for its reply.
pub struct CallSlot {
    /// The txid of the request; set when it is registered.
    txid: AtomicU32,
    waiter: Waiter,
    /// How the call ended, once it has. Leaf lock (see the module doc).
    result: spin::Mutex<Option<Result<Message, Status>>>,
}

impl CallSlot {
    /// A slot for a call by the thread `blocker` stands for.
    pub fn new(blocker: &dyn Blocker) -> Arc<CallSlot> {
        Arc::new(CallSlot {
            txid: AtomicU32::new(0),
            waiter: Waiter::new(blocker.wake_hook()),
            result: spin::Mutex::new(None),
        })
    }

    /// The txid the request went out with.
    pub fn txid(&self) -> u32 {
        self.txid.load(Ordering::Relaxed)
    }

    /// Ends the call (under `sides`): stores the result, then wakes the caller.
    fn finish(&self, result: Result<Message, Status>) {
        *self.result.lock() = Some(result);
        self.waiter.complete(Wakeup::Satisfied(Signals::NONE));
    }

    fn take(&self) -> Option<Result<Message, Status>> {
        self.result.lock().take()
    }
}

/// Registers `slot` on `own` (the caller's side) with a fresh txid written into the
/// request's first 4 bytes. BAD_HANDLE if the endpoint has lost its last handle meanwhile
/// (the cancel that comes with that would not see the slot), NO_MEMORY if the list cannot
/// grow.
pub(super) fn register(
    own: &mut Side,
    endpoint: &Channel,
    slot: &Arc<CallSlot>,
    message: &mut Message,
) -> ZxResult {
    if endpoint.base.handle_count() == 0 {
        return Err(Status::BAD_HANDLE);
    }
    if message.bytes.len() < 4 {
        return Err(Status::INVALID_ARGS);
    }
    own.calls.try_reserve(1).map_err(|_| Status::NO_MEMORY)?;
    // At most calls.len() + 1 candidates: one of them is free.
    let txid = loop {
        // The two endpoints start apart (side 1 half way up the range): a request from
        // the other endpoint carries its own txid and must not look like the reply of one
        // of this endpoint's calls. Once the counters wrap they may meet again.
        let candidate = if own.next_txid == 0 {
            if endpoint.side == 0 {
                FIRST_CALL_TXID
            } else {
                SECOND_SIDE_FIRST_TXID
            }
        } else {
            own.next_txid.max(FIRST_CALL_TXID)
        };
        own.next_txid = candidate.checked_add(1).unwrap_or(FIRST_CALL_TXID);
        if !own.calls.iter().any(|call| call.txid() == candidate) {
            break candidate;
        }
    };
    slot.txid.store(txid, Ordering::Relaxed);
    message.bytes[..4].copy_from_slice(&txid.to_le_bytes());
    own.calls.push(slot.clone());
    Ok(())
}

/// Takes `slot` off `own` again (the request could not be queued). The list's reference is
/// not the slot's last (the caller holds one).
pub(super) fn unregister(own: &mut Side, slot: &Arc<CallSlot>) {
    own.calls.retain(|call| !Arc::ptr_eq(call, slot));
}

/// Hands `message` to the pending call its txid names, if any (under `sides`); otherwise
/// gives it back.
pub(super) fn deliver(destination: &mut Side, message: Message) -> Option<Message> {
    let Some(head) = message.bytes.get(..4) else {
        return Some(message);
    };
    let txid = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
    if txid < FIRST_CALL_TXID {
        return Some(message);
    }
    let Some(index) = destination
        .calls
        .iter()
        .position(|call| call.txid() == txid)
    else {
        return Some(message);
    };
    let slot = destination.calls.swap_remove(index);
    slot.finish(Ok(message));
    // The caller holds the slot until it has read the result: not the last reference.
    drop(slot);
    None
}

/// Ends every call pending on `side` with `status` (under `sides`); the returned list is
/// dropped after the lock is released.
pub(super) fn end_all(side: &mut Side, status: Status) -> Vec<Arc<CallSlot>> {
    let calls = core::mem::take(&mut side.calls);
    for call in &calls {
        call.finish(Err(status));
    }
    calls
}

impl Channel {
    /// Sends the request of a `zx_channel_call` (its first 4 bytes are replaced by the
    /// kernel's txid) and registers `slot` for the reply. Returns how many messages wait
    /// unread at the peer, as [`Channel::write_vec`]; errors as that, and INVALID_ARGS for
    /// fewer than 4 bytes. On error nothing is registered.
    pub fn call_begin(
        &self,
        data: Vec<u8>,
        handles: Vec<Handle>,
        slot: &Arc<CallSlot>,
    ) -> ZxResult<usize> {
        if data.len() < 4 {
            return Err(Status::INVALID_ARGS);
        }
        self.write_inner(data, handles, Some(slot))
    }

    /// Waits for the reply of the call `slot` was registered for: the reply, or PEER_CLOSED,
    /// CANCELED (this endpoint's last handle closed, or the thread killed), TIMED_OUT at
    /// `deadline` (the slot is taken off: a later reply is queued normally).
    pub fn call_wait(
        &self,
        slot: &Arc<CallSlot>,
        deadline: zx_time_t,
        blocker: &dyn Blocker,
    ) -> Result<Message, Status> {
        loop {
            if let Some(result) = slot.take() {
                return result;
            }
            let interrupted = blocker.interrupted();
            if interrupted || blocker.now() >= deadline {
                if self.call_abandon(slot) {
                    return Err(if interrupted {
                        Status::CANCELED
                    } else {
                        Status::TIMED_OUT
                    });
                }
                // Ended meanwhile: its result is stored by now.
                return slot.take().unwrap_or(Err(Status::TIMED_OUT));
            }
            blocker.block_until(&slot.waiter, deadline);
        }
    }

    /// Takes `slot` off this endpoint's pending calls (a call that gives up: deadline,
    /// kill, or a request the caller must not wait for); a reply arriving later is queued
    /// as any message. False if it had ended already (its result is stored).
    pub fn call_abandon(&self, slot: &Arc<CallSlot>) -> bool {
        let removed = {
            let mut sides = self.shared.sides.lock();
            let calls = &mut sides[self.side].calls;
            calls
                .iter()
                .position(|call| Arc::ptr_eq(call, slot))
                .map(|index| calls.swap_remove(index))
        };
        // Not the slot's last reference (the caller holds one): dropped after the lock anyway.
        let abandoned = removed.is_some();
        drop(removed);
        abandoned
    }

    /// Calls pending on this endpoint (for tests).
    pub fn pending_calls(&self) -> usize {
        self.shared.sides.lock()[self.side].calls.len()
    }
}
