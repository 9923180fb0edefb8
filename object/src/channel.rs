//! Channels: a pair of endpoints carrying messages of bytes and handles.
//!
//! Each [`Channel`] is one endpoint; both share one lock and two receive queues (messages
//! written to an endpoint wait in its peer's queue). Signals of an endpoint:
//! - `CHANNEL_READABLE` while its queue holds a message;
//! - `CHANNEL_WRITABLE` while its peer is open;
//! - `CHANNEL_PEER_CLOSED` once the peer's last handle is gone. Messages already queued for
//!   it can still be read; then reads give `PEER_CLOSED`.
//!
//! # Freeing messages
//! When an endpoint's last handle goes, nobody can read its queue any more, so the messages
//! in it are dropped, closing the handles inside them. Those may be the last handles to
//! other endpoints whose queues hold more handles, and so on: a chain as long as user space
//! likes. The chain is freed by a loop ([`reap_dead`]), never by recursion: a dead endpoint
//! whose queue must be emptied is linked into a work list instead of being emptied inside
//! the drop that killed it.
//!
//! # Cycles
//! Writing an endpoint into itself is refused (`NOT_SUPPORTED`), so a queue never holds a
//! handle to its peer. A queue can hold handles to its own endpoint (written through the
//! peer). Such a handle is only usable by someone who can already read the queue, so it
//! does not keep the endpoint reachable: while queued it is left out of the endpoint's
//! handle count, and counted again when read. When every other handle is gone the endpoint
//! dies like any other and its queue, with the self-handles, is freed. (Zircon leaks such an
//! endpoint.) Longer cycles through other channels (A's queue holds B, B's queue holds A)
//! are not collected, as in Zircon.
//!
//! # Limits
//! A message has at most `ZX_CHANNEL_MAX_MSG_BYTES` bytes and `ZX_CHANNEL_MAX_MSG_HANDLES`
//! handles (`OUT_OF_RANGE`); a queue holds at most [`MAX_PENDING_MESSAGES`] messages
//! (`NO_RESOURCES`), so one writer cannot exhaust kernel memory through a peer that never
//! reads.

use alloc::collections::VecDeque;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, Ordering};

use abi::{
    Signals, Status, ZX_CHANNEL_MAX_MSG_BYTES, ZX_CHANNEL_MAX_MSG_HANDLES, ZX_OBJ_TYPE_CHANNEL,
};

use crate::handle::{zero_handles, Handle};
use crate::koid::Koid;
use crate::object::{downcast, KernelObject, ObjectBase};
use crate::ZxResult;

/// Most bytes in one message.
pub const MAX_MSG_BYTES: usize = ZX_CHANNEL_MAX_MSG_BYTES as usize;
/// Most handles in one message.
pub const MAX_MSG_HANDLES: usize = ZX_CHANNEL_MAX_MSG_HANDLES as usize;
/// Most messages waiting in one endpoint's queue; a write beyond gives `NO_RESOURCES`.
pub const MAX_PENDING_MESSAGES: usize = 1024;

/// One message: bytes and handles.
#[derive(Debug, Default)]
pub struct Message {
    pub bytes: Vec<u8>,
    pub handles: Vec<Handle>,
}

/// Why [`Channel::read`] returned no message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadError {
    /// `SHOULD_WAIT`, `PEER_CLOSED` or `BUFFER_TOO_SMALL`.
    pub status: Status,
    /// For `BUFFER_TOO_SMALL`: the size of the next message (0 otherwise).
    pub bytes: usize,
    /// For `BUFFER_TOO_SMALL`: the handle count of the next message (0 otherwise).
    pub handles: usize,
}

impl ReadError {
    fn status(status: Status) -> Self {
        ReadError {
            status,
            bytes: 0,
            handles: 0,
        }
    }
}

#[derive(Default)]
struct Side {
    /// Messages for this endpoint to read.
    queue: VecDeque<Message>,
    /// Set until the endpoint's last handle is gone (or it is dropped without ever having
    /// had one).
    closed: bool,
}

/// What the two endpoints share, under one lock. Lock order: this lock, then signal
/// states. No handle is ever dropped with it held.
#[derive(Default)]
struct Shared {
    sides: spin::Mutex<[Side; 2]>,
}

/// One endpoint of a channel.
pub struct Channel {
    base: ObjectBase,
    /// Index of this endpoint in `shared.sides`; the peer is `1 - side`.
    side: usize,
    peer: Weak<Channel>,
    peer_koid: Koid,
    shared: Arc<Shared>,
    /// Set once the endpoint has been put on a reaper work list.
    reap_claimed: AtomicBool,
    /// Link of the reaper's work list.
    reap_next: spin::Mutex<Option<Arc<Channel>>>,
}

impl Channel {
    /// A new pair of endpoints, both `WRITABLE`.
    pub fn create() -> ZxResult<(Arc<Channel>, Arc<Channel>)> {
        let shared = Arc::new(Shared::default());
        let base0 = ObjectBase::new(Signals::CHANNEL_WRITABLE);
        let base1 = ObjectBase::new(Signals::CHANNEL_WRITABLE);
        let (koid0, koid1) = (base0.koid(), base1.koid());
        let mut second = None;
        let first = Arc::new_cyclic(|weak_first| {
            let endpoint1 = Arc::new(Channel::endpoint(
                base1,
                1,
                weak_first.clone(),
                koid0,
                shared.clone(),
            ));
            let weak_second = Arc::downgrade(&endpoint1);
            second = Some(endpoint1);
            Channel::endpoint(base0, 0, weak_second, koid1, shared)
        });
        let second = second.ok_or(Status::INTERNAL)?;
        Ok((first, second))
    }

    fn endpoint(
        base: ObjectBase,
        side: usize,
        peer: Weak<Channel>,
        peer_koid: Koid,
        shared: Arc<Shared>,
    ) -> Channel {
        Channel {
            base,
            side,
            peer,
            peer_koid,
            shared,
            reap_claimed: AtomicBool::new(false),
            reap_next: spin::Mutex::new(None),
        }
    }

    /// The peer endpoint's koid.
    pub fn peer_koid(&self) -> Koid {
        self.peer_koid
    }

    /// `true` once the peer's last handle is gone.
    pub fn is_peer_closed(&self) -> bool {
        self.shared.sides.lock()[1 - self.side].closed
    }

    /// Messages waiting to be read from this endpoint.
    pub fn pending_messages(&self) -> usize {
        self.shared.sides.lock()[self.side].queue.len()
    }

    /// Sends a message to the peer. Errors, in this order: `OUT_OF_RANGE` (too many bytes or
    /// handles), `NOT_SUPPORTED` (a handle to this endpoint), `NO_MEMORY`, `PEER_CLOSED`,
    /// `NO_RESOURCES` (peer's queue full). The handles are consumed on every path: on
    /// failure they are closed.
    pub fn write(&self, bytes: &[u8], handles: Vec<Handle>) -> ZxResult {
        if bytes.len() > MAX_MSG_BYTES || handles.len() > MAX_MSG_HANDLES {
            return Err(Status::OUT_OF_RANGE);
        }
        let mut data = Vec::new();
        if data.try_reserve_exact(bytes.len()).is_err() {
            return Err(Status::NO_MEMORY);
        }
        data.extend_from_slice(bytes);
        self.write_vec(data, handles)
    }

    /// [`Channel::write`] of bytes the caller already holds in a `Vec`, which becomes the
    /// message as it is (no second copy).
    pub fn write_vec(&self, data: Vec<u8>, handles: Vec<Handle>) -> ZxResult {
        if data.len() > MAX_MSG_BYTES || handles.len() > MAX_MSG_HANDLES {
            return Err(Status::OUT_OF_RANGE);
        }
        let own_koid = self.base.koid();
        if handles.iter().any(|handle| handle.koid() == own_koid) {
            return Err(Status::NOT_SUPPORTED);
        }
        let message = Message {
            bytes: data,
            handles,
        };
        // Taken before the lock and dropped after it: dropping the last reference to an
        // endpoint takes the shared lock.
        let peer = self.peer.upgrade();
        let (result, rejected) = self.enqueue(peer.as_deref(), message);
        drop(rejected);
        let peer_unreachable = result?;
        if peer_unreachable {
            if let Some(peer) = peer {
                let peer: Arc<dyn KernelObject> = peer;
                zero_handles(&peer);
            }
        }
        Ok(())
    }

    /// Queues `message` for the peer under the lock. Returns whether the peer lost its last
    /// counted handle (all its handles are now in its own queue), and the message if it was
    /// refused (to be dropped by the caller outside the lock).
    fn enqueue(
        &self,
        peer: Option<&Channel>,
        mut message: Message,
    ) -> (ZxResult<bool>, Option<Message>) {
        let mut sides = self.shared.sides.lock();
        let destination = &mut sides[1 - self.side];
        let peer = match peer {
            Some(peer) if !destination.closed => peer,
            _ => return (Err(Status::PEER_CLOSED), Some(message)),
        };
        if destination.queue.len() >= MAX_PENDING_MESSAGES {
            return (Err(Status::NO_RESOURCES), Some(message));
        }
        if destination.queue.try_reserve(1).is_err() {
            return (Err(Status::NO_MEMORY), Some(message));
        }
        let mut unreachable = false;
        for handle in message.handles.iter_mut() {
            if handle.koid() == self.peer_koid && handle.uncount() {
                unreachable = true;
            }
        }
        destination.queue.push_back(message);
        peer.base.signals().set(Signals::CHANNEL_READABLE);
        (Ok(unreachable), None)
    }

    /// Takes the next message if it fits in `max_bytes` and `max_handles`. Otherwise:
    /// `BUFFER_TOO_SMALL` with the message's sizes (it stays queued), `SHOULD_WAIT` when the
    /// queue is empty, or `PEER_CLOSED` when it is empty and the peer is gone.
    pub fn read(&self, max_bytes: usize, max_handles: usize) -> Result<Message, ReadError> {
        let mut sides = self.shared.sides.lock();
        let peer_closed = sides[1 - self.side].closed;
        let mine = &mut sides[self.side];
        let (bytes, handles) = match mine.queue.front() {
            Some(next) => (next.bytes.len(), next.handles.len()),
            None if peer_closed => return Err(ReadError::status(Status::PEER_CLOSED)),
            None => return Err(ReadError::status(Status::SHOULD_WAIT)),
        };
        if bytes > max_bytes || handles > max_handles {
            return Err(ReadError {
                status: Status::BUFFER_TOO_SMALL,
                bytes,
                handles,
            });
        }
        let mut message = mine
            .queue
            .pop_front()
            .ok_or(ReadError::status(Status::SHOULD_WAIT))?;
        if mine.queue.is_empty() {
            self.base.signals().clear(Signals::CHANNEL_READABLE);
        }
        for handle in message.handles.iter_mut() {
            handle.recount();
        }
        Ok(message)
    }

    /// `zx_object_signal_peer`: clears then sets user signals on the peer. `INVALID_ARGS`
    /// for a bit outside the user signals, `PEER_CLOSED` if the peer is gone.
    pub fn signal_peer(&self, clear: Signals, set: Signals) -> ZxResult {
        if !Signals::USER_ALL.contains(clear | set) {
            return Err(Status::INVALID_ARGS);
        }
        let peer = self.peer.upgrade();
        let result = {
            let sides = self.shared.sides.lock();
            match &peer {
                Some(peer) if !sides[1 - self.side].closed => {
                    peer.base.signals().update(clear, set);
                    Ok(())
                }
                _ => Err(Status::PEER_CLOSED),
            }
        };
        drop(peer);
        result
    }

    /// Marks this endpoint closed and tells the peer. Returns `false` if it already was.
    fn close_side(&self) -> bool {
        let peer = self.peer.upgrade();
        let newly_closed = {
            let mut sides = self.shared.sides.lock();
            let was_closed = sides[self.side].closed;
            sides[self.side].closed = true;
            if !was_closed {
                if let Some(peer) = &peer {
                    peer.base
                        .signals()
                        .update(Signals::CHANNEL_WRITABLE, Signals::CHANNEL_PEER_CLOSED);
                }
            }
            !was_closed
        };
        drop(peer);
        newly_closed
    }

    /// Takes the whole queue of this endpoint (to free it).
    fn take_queue(&self) -> VecDeque<Message> {
        core::mem::take(&mut self.shared.sides.lock()[self.side].queue)
    }
}

impl KernelObject for Channel {
    fn base(&self) -> &ObjectBase {
        &self.base
    }

    fn object_type(&self) -> u32 {
        ZX_OBJ_TYPE_CHANNEL
    }

    fn related_koid(&self) -> Koid {
        self.peer_koid
    }

    /// Closes this side: the peer sees `PEER_CLOSED` and loses `WRITABLE`. The queue is freed
    /// by the handle layer right after (through [`reap_dead`]).
    fn on_zero_handles(&self) {
        self.close_side();
    }
}

impl Drop for Channel {
    fn drop(&mut self) {
        // Normally the endpoint was closed and emptied when its last handle went. An endpoint
        // that never had a handle is closed and emptied here.
        self.close_side();
        let queue = self.take_queue();
        if !queue.is_empty() {
            reap(queue, None);
        }
    }
}

/// Frees the queue of `endpoint`, whose last handle is gone, and everything that becomes
/// unreachable because of it, without recursion. Each endpoint is reaped at most once.
pub(crate) fn reap_dead(endpoint: Arc<Channel>) {
    if endpoint.reap_claimed.swap(true, Ordering::AcqRel) {
        return;
    }
    reap(VecDeque::new(), Some(endpoint));
}

/// The reaper loop: frees the messages of `pending`, then the queues of the endpoints linked
/// from `head`. A handle in a freed message is released by hand: if it was the last handle
/// of an endpoint, that endpoint is closed and linked into the list instead of being emptied
/// on the spot.
fn reap(mut pending: VecDeque<Message>, mut head: Option<Arc<Channel>>) {
    loop {
        while let Some(message) = pending.pop_front() {
            for handle in message.handles {
                let (object, reached_zero) = handle.release();
                if reached_zero {
                    object.on_zero_handles();
                    if let Some(endpoint) = downcast::<Channel>(&object) {
                        if !endpoint.reap_claimed.swap(true, Ordering::AcqRel) {
                            *endpoint.reap_next.lock() = head.take();
                            head = Some(endpoint);
                        }
                    }
                }
                // If this was the last reference to an endpoint, its drop finds its queue
                // empty or already handed to this loop.
                drop(object);
            }
        }
        let Some(endpoint) = head.take() else {
            break;
        };
        head = endpoint.reap_next.lock().take();
        pending = endpoint.take_queue();
    }
}
