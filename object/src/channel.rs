//! Channels: a pair of endpoints carrying messages of bytes and handles.
//!
//! Each [`Channel`] is one endpoint; both share one lock and two receive queues (messages
//! written to an endpoint wait in its peer's queue). Signals of an endpoint:
//! - `CHANNEL_READABLE` while its queue holds a message;
//! - `CHANNEL_WRITABLE` while its peer is open;
//! - `CHANNEL_PEER_CLOSED` once the peer is gone (its last handle closed, or it was found
//!   unreachable, see below). Messages already queued for it can still be read; then reads
//!   give `PEER_CLOSED`.
//!
//! # Locking
//! Order, outermost first (a lock is never taken while one further down is held):
//! 1. `COLLECTOR` (global): every change of a `queued` count, the decision that an
//!    endpoint is dead, each collection step;
//! 2. `Shared::sides` (one per channel, both endpoints): the two queues and their `closed`
//!    flags. Inside it: an endpoint's signal state (`READABLE`, `WRITABLE`, `PEER_CLOSED`;
//!    its wake-ups take a waiter's lock, then in the kernel the scheduler's), the heap (a
//!    queue grows) and, during a collector scan, the `gc` node of an endpoint a queued
//!    handle names;
//! 3. `Channel::gc` (per endpoint): always under `COLLECTOR`; a leaf, never two at once.
//!
//! `DEFERRED` is taken alone; `Channel::reap_next` is a leaf taken alone, under
//! `DEFERRED` or under `COLLECTOR` (a sweep or a release links claimed endpoints). No
//! lock here is taken by an IRQ handler; the kernel holds them with IRQs masked, as it runs
//! every system call.
//!
//! With any of them held: no handle is dropped, nor any reference that may be an endpoint's
//! last (an endpoint's drop takes `sides` and `COLLECTOR`); no user memory is touched (the
//! system call copies bytes in before [`Channel::write`] and out after [`Channel::read`]);
//! no preemption point and no sleep (`reap` only defers; the kernel's preemption points
//! come between [`free_dead_chunk`] calls, with nothing held).
//!
//! # Freeing messages
//! When an endpoint dies nobody can read its queue any more, so the messages in it are
//! dropped, closing the handles inside them. Those may be the last handles to other endpoints
//! whose queues hold more handles, and so on: a chain as long as user space likes, and a
//! queue may hold 3,500 messages of 64 handles. The endpoint is closed at once (its peer sees
//! `PEER_CLOSED`) and linked into a work list; the queues on the list are freed by a loop
//! ([`reap`]), never by recursion: an endpoint that dies while a queue is being freed is
//! closed and linked into the same list instead of being emptied inside the drop that killed
//! it. The loop frees [`CHUNK_HANDLES`] handles at a time. Where an endpoint dies locks may be
//! held, so only the first chunk is freed there; the rest waits on [`DEFERRED`] and the
//! kernel frees it, with preemption points between chunks, before the system call that left
//! it returns to user mode ([`free_dead_chunk`]; the idle loop frees what a killed thread
//! left). A program that closes an endpoint thus finds its memory back when the call returns.
//!
//! # Queued handles and unreachable endpoints
//! A handle to an endpoint that waits in a queue (a *queued* handle) is not part of the
//! endpoint's handle count (`ObjectBase::handle_count`: handles in tables, or held by the
//! kernel on the way in or out of one; here *rooted*) but of its `queued` count. Only who
//! holds an endpoint can read its queue, so the queued handles in an endpoint's queue are
//! reachable exactly when the endpoint is. An endpoint with no rooted handle can therefore be
//! unreachable while handles to it still exist: `b`'s queue holds `d`, `d`'s queue holds
//! `b`, and no table holds either. Such endpoints are found by a collector and freed like
//! dead ones (their peers see `PEER_CLOSED`).
//!
//! The collector works from *seeds*: endpoints that may just have become unreachable, that is
//! endpoints that lost their last rooted handle while queued handles to them remain (closed,
//! or written into a queue whose own endpoint has no rooted handle either), or lost a queued
//! handle to a dying queue while others remain. Everything that becomes unreachable is
//! reachable, through queued handles, from the endpoint whose loss made it so, and was
//! reachable before, so a collection only looks at the *candidates* (endpoints with no rooted
//! handle, but queued ones) reachable from the seeds (the visited set). A visited endpoint
//! with more queued handles than the visited queues hold is referred to from some other queue;
//! that queue's endpoint is rooted, or a candidate outside the set, which the previous
//! collections left reachable: so the endpoint is reachable, and so is everything its queue
//! leads to. The rest of the visited set is unreachable: it is claimed, closed and freed.
//!
//! A collection works in steps of bounded work ([`STEP_UNITS`]) with the collector lock
//! released and a preemption point between two, like the freeing of queues (the steps run
//! from the same places: [`reap`], [`free_dead_chunk`]). Other threads write, read and close
//! meanwhile; each change they make to what a collection counts *touches* the endpoint
//! concerned, which then counts as reachable for that collection, and whatever such a change
//! may leave unreachable is seeded for the next one. Why what a collection decides is
//! unreachable really is, and why a collection ends however busy the others are: see
//! [`collect_step`]. The decision is one instant: the endpoints found unreachable are
//! *doomed* then (reads of them fail as of claimed ones) and claimed and closed by the steps
//! that follow (their peers see `PEER_CLOSED`); the kernel runs the steps before the call
//! that started the collection returns.
//!
//! Cost: a write or read of a message without endpoint handles, and the close of anything
//! but a channel, do no work for this. A message carrying endpoint handles takes the
//! collector lock (and touches its endpoints while a collection runs). A collection runs only
//! when there are seeds; as channel handles cannot be duplicated, in the kernel that is a
//! write of an endpoint's handle into the queue of an endpoint that has no rooted handle. It
//! visits each candidate reachable from the seeds once and reads the queued handles in their
//! queues twice: linear in that set. In ordinary use (an endpoint passed on, a cycle dropped)
//! the set is a handful. A program that keeps N endpoints in queues behind one endpoint
//! (about 0.7 KiB of kernel heap each) and moves that endpoint into an unrooted queue pays
//! for N each time, in steps. Measured under `-icount`: in one go, as before the steps, a
//! collection held the CPU 11.5 ms for a cycle of 25,000 endpoints (46 ms for 100,000) and
//! 2.8 ms for two endpoints whose queue holds 224,000 handles; in steps, the longest stretch
//! without a point is 0.18 ms for the first (most steps take 0.09 ms) and 0.02 ms for the
//! second.
//!
//! # Limits
//! A message has at most `ZX_CHANNEL_MAX_MSG_BYTES` bytes and `ZX_CHANNEL_MAX_MSG_HANDLES`
//! handles (`OUT_OF_RANGE`). A write returns how many messages wait unread at the peer; more
//! than [`MAX_PENDING_MESSAGES`] is a policy violation the caller acts on (the kernel ends the
//! writer's process). The message is queued all the same.

use alloc::collections::VecDeque;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::any::Any;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use abi::{
    Signals, Status, ZX_CHANNEL_MAX_MSG_BYTES, ZX_CHANNEL_MAX_MSG_HANDLES, ZX_OBJ_TYPE_CHANNEL,
};

use crate::handle::Handle;
use crate::koid::Koid;
use crate::object::{downcast, KernelObject, ObjectBase};
use crate::preempt;
use crate::ZxResult;

mod call;
pub use call::CallSlot;

/// Most bytes in one message.
pub const MAX_MSG_BYTES: usize = ZX_CHANNEL_MAX_MSG_BYTES as usize;
/// Most handles in one message.
pub const MAX_MSG_HANDLES: usize = ZX_CHANNEL_MAX_MSG_HANDLES as usize;
/// Most messages that may wait unread at one endpoint: the write that leaves more is a
/// policy violation (Zircon's limit).
pub const MAX_PENDING_MESSAGES: usize = 3500;

/// One message: bytes and handles.
#[derive(Debug, Default)]
pub struct Message {
    pub bytes: Vec<u8>,
    pub handles: Vec<Handle>,
}

/// Why [`Channel::read`] returned no message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadError {
    /// `SHOULD_WAIT`, `PEER_CLOSED`, `BUFFER_TOO_SMALL`, or `BAD_HANDLE` when the endpoint's
    /// last handle is already gone (a read racing with the close of that handle).
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
    /// Handles in `queue` that are not counted as rooted (queued endpoint handles, or ones the
    /// collector detached). While there are none, reads and collections need not look at the
    /// handles of the messages.
    uncounted: usize,
    /// Set once the endpoint is dead or unreachable (or dropped without ever having had a
    /// handle): writes to it fail.
    closed: bool,
    /// While the collector scans this queue in steps: the messages `scan_from..scan_to`
    /// are still to be scanned (indices into `queue`, moved down by every message taken from
    /// the front while `uncounted` is not zero; meaningless, and reset when `uncounted` leaves
    /// zero, while it is zero: the queue then holds nothing the collector counts).
    scan_from: usize,
    scan_to: usize,
    /// `zx_channel_call`s waiting on this endpoint for their replies (one per calling
    /// thread). A message for this endpoint whose txid matches one goes to it, not the queue.
    calls: Vec<Arc<CallSlot>>,
    /// The next kernel txid to try for a call from this endpoint (0x80000000..=u32::MAX).
    next_txid: u32,
}

impl Side {
    /// The front message was taken: the scan range moves down with the messages.
    fn taken_front(&mut self) {
        self.scan_from = self.scan_from.saturating_sub(1);
        self.scan_to = self.scan_to.saturating_sub(1);
    }
}

/// What the two endpoints share, under one lock. Lock order: [`COLLECTOR`], then this lock,
/// then an endpoint's collector node or signal state. No handle is ever dropped with it held.
#[derive(Default)]
struct Shared {
    /// Protects both queues and `closed` flags; nests inside [`COLLECTOR`], signal states and
    /// `gc` nodes (and the heap) nest inside it; never taken in an IRQ handler (IRQs masked,
    /// as the kernel runs).
    sides: spin::Mutex<[Side; 2]>,
}

/// Collection marks (meaningful in the collection whose epoch the node carries).
const UNVISITED: u8 = 0;
/// Reached from the seeds; unreachable unless found otherwise by the end of the collection.
const VISITED: u8 = 1;
/// Found reachable; so are the visited endpoints its queue holds handles to.
const LIVE: u8 = 2;
/// Changed by a mutation while the collection runs: counts as reachable for this collection,
/// and is never visited.
const TOUCHED: u8 = 3;

/// The collector's state of one endpoint. Only used with [`COLLECTOR`] held; its own lock
/// comes last in the lock order and is never held together with another node's.
#[derive(Default)]
struct GcNode {
    /// The collection `mark` and `internal` belong to; older values count as `UNVISITED`
    /// and zero (so nothing is reset between collections).
    epoch: u64,
    /// Mark in the collection of `epoch`.
    mark: u8,
    /// Queued handles to this endpoint found in the queues of visited endpoints.
    internal: usize,
    /// On the collector's seed list.
    seeded: bool,
    next_seed: Option<Arc<Channel>>,
    next_visited: Option<Arc<Channel>>,
    next_work: Option<Arc<Channel>>,
}

impl GcNode {
    /// This node as the collection of `epoch` sees it.
    fn current(&mut self, epoch: u64) -> &mut GcNode {
        if self.epoch != epoch {
            self.epoch = epoch;
            self.mark = UNVISITED;
            self.internal = 0;
        }
        self
    }
}

/// One endpoint of a channel.
pub struct Channel {
    base: ObjectBase,
    /// Index of this endpoint in `shared.sides`; the peer is `1 - side`.
    side: usize,
    peer: Weak<Channel>,
    peer_koid: Koid,
    shared: Arc<Shared>,
    /// Queued handles to this endpoint (in any channel's queue). Changed only with
    /// [`COLLECTOR`] held; read without it only for information.
    queued: AtomicUsize,
    /// Set once the endpoint is dead or unreachable and its queue is to be freed (by exactly
    /// one reaper). Set with [`COLLECTOR`] held, or by the drop of an endpoint that never had
    /// a handle.
    reap_claimed: AtomicBool,
    /// Link of the reaper's work list. Leaf: taken alone, under [`DEFERRED`] or under
    /// [`COLLECTOR`]; only ever overwrites `None`, so it drops nothing; IRQs masked, as the
    /// kernel runs.
    reap_next: spin::Mutex<Option<Arc<Channel>>>,
    /// The collector's state of this endpoint. Leaf: taken under [`COLLECTOR`] (and maybe a
    /// channel's `sides`), never with another endpoint's; IRQs masked, as the kernel runs.
    gc: spin::Mutex<GcNode>,
}

/// Where the running collection is (see the module doc).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// No collection runs.
    Idle,
    /// Visiting the seeds and what their queues lead to, counting queued handles.
    Scan,
    /// Marking live the visited endpoints referred to from elsewhere (or touched).
    Check,
    /// Marking live what live visited endpoints' queues lead to.
    Propagate,
    /// Decided: the visited endpoints still `VISITED` are unreachable (*doomed*), and are
    /// claimed a step at a time.
    Sweep,
}

/// The collector's lock, seed list and the state of the running collection.
///
/// Held by every change of a `queued` count (writes and reads of messages that carry endpoint
/// handles, the freeing of queues), by the decision that an endpoint is dead, and by each step
/// of a collection (released between steps). Nothing nests outside it; inside it come a
/// channel's shared lock, then collector nodes. No handle, and no reference that may be an
/// endpoint's last, is dropped with it held (an endpoint's drop takes it to free a queue; see
/// `collect_step` for why the references it drops are never the last). Never taken in an IRQ
/// handler; the kernel holds it, like every lock, with IRQs masked.
struct Collector {
    /// Endpoints that may have become unreachable, for the next collection.
    seeds: Option<Arc<Channel>>,
    phase: Phase,
    /// Number of the running (or last) collection: nodes of another epoch are unvisited.
    epoch: u64,
    /// The running collection's seeds not yet visited (linked through `next_seed`).
    start: Option<Arc<Channel>>,
    /// Every endpoint the running collection visited (linked through `next_visited`).
    visited: Option<Arc<Channel>>,
    /// Endpoints whose queues are to be scanned (linked through `next_work`).
    work: Option<Arc<Channel>>,
    /// The endpoint whose queue is being scanned, in steps (range in its `Side`).
    scanning: Option<Arc<Channel>>,
    /// The check's position in `visited`.
    cursor: Option<Arc<Channel>>,
}

/// Outermost lock of this module: `sides`, then `gc` nodes nest inside it (see
/// [`Collector`]); no IRQ handler takes it, IRQs masked as the kernel runs.
static COLLECTOR: spin::Mutex<Collector> = spin::Mutex::new(Collector {
    seeds: None,
    phase: Phase::Idle,
    epoch: 0,
    start: None,
    visited: None,
    work: None,
    scanning: None,
    cursor: None,
});
/// Set while there are seeds or a collection runs: lets every endpoint death and every write
/// of endpoint handles check without the lock.
static SEEDS_PENDING: AtomicBool = AtomicBool::new(false);

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
            queued: AtomicUsize::new(0),
            reap_claimed: AtomicBool::new(false),
            reap_next: spin::Mutex::new(None),
            gc: spin::Mutex::new(GcNode::default()),
        }
    }

    /// The peer endpoint's koid.
    pub fn peer_koid(&self) -> Koid {
        self.peer_koid
    }

    /// `true` once the peer is gone.
    pub fn is_peer_closed(&self) -> bool {
        self.shared.sides.lock()[1 - self.side].closed
    }

    /// Messages waiting to be read from this endpoint.
    pub fn pending_messages(&self) -> usize {
        self.shared.sides.lock()[self.side].queue.len()
    }

    /// Handles to this endpoint that wait in channel queues (not in its handle count).
    pub fn queued_handles(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }

    /// Sends a message to the peer and returns how many messages now wait unread there (more
    /// than [`MAX_PENDING_MESSAGES`] is for the caller to act on). Errors, in this order:
    /// `OUT_OF_RANGE` (too many bytes or handles), `NOT_SUPPORTED` (a handle to this
    /// endpoint), `NO_MEMORY`, `PEER_CLOSED`. The handles are consumed on every path: on
    /// failure they are closed.
    pub fn write(&self, bytes: &[u8], handles: Vec<Handle>) -> ZxResult<usize> {
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
    pub fn write_vec(&self, data: Vec<u8>, handles: Vec<Handle>) -> ZxResult<usize> {
        self.write_inner(data, handles, None)
    }

    /// [`Channel::write_vec`], or with `call` the request of a `zx_channel_call`: the slot is
    /// registered on this endpoint and its txid put in the message's first 4 bytes, in the
    /// same hold of the lock that queues the message, so no reply can miss it.
    fn write_inner(
        &self,
        data: Vec<u8>,
        handles: Vec<Handle>,
        call: Option<&Arc<CallSlot>>,
    ) -> ZxResult<usize> {
        if data.len() > MAX_MSG_BYTES || handles.len() > MAX_MSG_HANDLES {
            return Err(Status::OUT_OF_RANGE);
        }
        let own_koid = self.base.koid();
        if handles.iter().any(|handle| handle.koid() == own_koid) {
            return Err(Status::NOT_SUPPORTED);
        }
        let carries_endpoints = handles.iter().any(|handle| is_endpoint(handle.object()));
        let message = Message {
            bytes: data,
            handles,
        };
        // Taken before the locks and dropped after them: dropping the last reference to an
        // endpoint takes the shared lock.
        let peer = self.peer.upgrade();
        let (result, rejected) = {
            // Only a message carrying endpoint handles changes queued counts.
            let mut collector = carries_endpoints.then(|| COLLECTOR.lock());
            self.enqueue(peer.as_ref(), message, collector.as_deref_mut(), call)
        };
        drop(rejected);
        drop(peer);
        // With several CPUs another one may be running the collection this message's handles
        // seeded (an idle CPU doing deferred work): this call then waits for it on its way
        // out, so that what the collection finds is freed before it returns.
        if carries_endpoints && (SEEDS_PENDING.load(Ordering::SeqCst) || preempt::work_in_flight())
        {
            collect_pending();
        }
        result
    }

    /// Queues `message` for the peer. Returns the unread count, or the error and the message
    /// to drop outside the locks. With `collector` (held when the message carries endpoint
    /// handles) those handles become queued ones.
    fn enqueue(
        &self,
        peer: Option<&Arc<Channel>>,
        mut message: Message,
        collector: Option<&mut Collector>,
        call: Option<&Arc<CallSlot>>,
    ) -> (ZxResult<usize>, Option<Message>) {
        let mut sides = self.shared.sides.lock();
        if sides[self.side].closed {
            // This endpoint's last handle was closed (by another thread) while the call that
            // looked it up was on its way: as if it had been closed before the call.
            return (Err(Status::BAD_HANDLE), Some(message));
        }
        let peer = match peer {
            Some(peer) if !sides[1 - self.side].closed => peer,
            _ => return (Err(Status::PEER_CLOSED), Some(message)),
        };
        if let Some(slot) = call {
            if let Err(status) = call::register(&mut sides[self.side], self, slot, &mut message) {
                return (Err(status), Some(message));
            }
        }
        let destination = &mut sides[1 - self.side];
        if !destination.calls.is_empty() {
            if let Some(message) = call::deliver(destination, message) {
                if destination.queue.len() == destination.queue.capacity()
                    && destination.queue.try_reserve(1).is_err()
                {
                    if let Some(slot) = call {
                        call::unregister(&mut sides[self.side], slot);
                    }
                    return (Err(Status::NO_MEMORY), Some(message));
                }
                return self.queue_message(destination, peer, message, collector);
            }
            // Went straight to the waiting caller: not queued, no READABLE.
            return (Ok(destination.queue.len()), None);
        }
        if destination.queue.len() == destination.queue.capacity()
            && destination.queue.try_reserve(1).is_err()
        {
            if let Some(slot) = call {
                call::unregister(&mut sides[self.side], slot);
            }
            return (Err(Status::NO_MEMORY), Some(message));
        }
        self.queue_message(destination, peer, message, collector)
    }

    /// Queues `message` at `destination` (room reserved), the peer's side.
    #[inline(always)]
    fn queue_message(
        &self,
        destination: &mut Side,
        peer: &Arc<Channel>,
        message: Message,
        collector: Option<&mut Collector>,
    ) -> (ZxResult<usize>, Option<Message>) {
        destination.queue.push_back(message);
        if let Some(collector) = collector {
            queue_handles(collector, destination, peer);
        }
        peer.base.signals().set(Signals::CHANNEL_READABLE);
        (Ok(destination.queue.len()), None)
    }

    /// Takes the next message if it fits in `max_bytes` and `max_handles`. Otherwise:
    /// `BUFFER_TOO_SMALL` with the message's sizes (it stays queued), `SHOULD_WAIT` when the
    /// queue is empty, or `PEER_CLOSED` when it is empty and the peer is gone.
    pub fn read(&self, max_bytes: usize, max_handles: usize) -> Result<Message, ReadError> {
        {
            let mut sides = self.shared.sides.lock();
            if sides[self.side].uncounted == 0 {
                return self.take_next(&mut sides, max_bytes, max_handles);
            }
        }
        self.read_uncounted(max_bytes, max_handles)
    }

    /// [`Channel::read`] from a queue that holds queued endpoint handles: they become rooted
    /// again, under the collector lock.
    #[inline(never)]
    fn read_uncounted(&self, max_bytes: usize, max_handles: usize) -> Result<Message, ReadError> {
        let mut collector = COLLECTOR.lock();
        let mut sides = self.shared.sides.lock();
        if self.reap_claimed.load(Ordering::Acquire) || doomed(&collector, self) {
            // Found unreachable (this read goes through a reference whose handle was closed
            // meanwhile): its queue belongs to the reaper.
            return Err(ReadError::status(Status::BAD_HANDLE));
        }
        let mut message = self.take_next(&mut sides, max_bytes, max_handles)?;
        sides[self.side].taken_front();
        for handle in message.handles.iter_mut() {
            if handle.is_queued() {
                handle.leave_queue();
                if let Some(target) = downcast::<Channel>(handle.object()) {
                    target.queued.fetch_sub(1, Ordering::Relaxed);
                    // The handle still holds the endpoint: not its last reference.
                    touch(&mut collector, &target);
                }
                sides[self.side].uncounted -= 1;
            }
        }
        Ok(message)
    }

    #[inline(always)]
    fn take_next(
        &self,
        sides: &mut [Side; 2],
        max_bytes: usize,
        max_handles: usize,
    ) -> Result<Message, ReadError> {
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
        let message = mine
            .queue
            .pop_front()
            .ok_or(ReadError::status(Status::SHOULD_WAIT))?;
        if mine.queue.is_empty() {
            self.base.signals().clear(Signals::CHANNEL_READABLE);
        }
        Ok(message)
    }

    /// Marks this endpoint closed and tells the peer.
    fn close_side(&self) {
        let peer = self.peer.upgrade();
        let ended = {
            let mut sides = self.shared.sides.lock();
            // Calls from this endpoint are canceled, calls from the peer see it closed.
            let ended = (
                call::end_all(&mut sides[self.side], Status::CANCELED),
                call::end_all(&mut sides[1 - self.side], Status::PEER_CLOSED),
            );
            let was_closed = sides[self.side].closed;
            sides[self.side].closed = true;
            if !was_closed {
                if let Some(peer) = &peer {
                    peer.base
                        .signals()
                        .update(Signals::CHANNEL_WRITABLE, Signals::CHANNEL_PEER_CLOSED);
                }
            }
            ended
        };
        drop(ended);
        drop(peer);
    }

    /// Takes the whole queue of this endpoint (to free it).
    fn take_queue(&self) -> VecDeque<Message> {
        let mut sides = self.shared.sides.lock();
        let mine = &mut sides[self.side];
        mine.uncounted = 0;
        (mine.scan_from, mine.scan_to) = (0, 0);
        core::mem::take(&mut mine.queue)
    }

    /// For the reaper: the next message in the queue of a claimed endpoint if its cost (see
    /// [`reaper_cost`]) fits in `room` or `first` (the first of a chunk always fits), and
    /// whether more messages follow. The emptied queue gives its buffer back at once: the
    /// endpoint may wait in a list a while.
    fn take_for_reaper(&self, room: usize, first: bool) -> (Option<Message>, bool) {
        let (message, buffer) = {
            let mut sides = self.shared.sides.lock();
            let mine = &mut sides[self.side];
            let fits = match mine.queue.front() {
                Some(next) => first || reaper_cost(next) <= room,
                None => false,
            };
            if !fits {
                return (None, !mine.queue.is_empty());
            }
            let message = mine.queue.pop_front();
            mine.taken_front();
            if !mine.queue.is_empty() {
                return (message, true);
            }
            mine.uncounted = 0;
            (message, core::mem::take(&mut mine.queue))
        };
        drop(buffer);
        (message, false)
    }

    /// No rooted handle, queued ones, not yet claimed: may be unreachable. (An endpoint with
    /// no handle at all that is not claimed is one the kernel has just made and is about to
    /// give handles: it counts as reachable.) Meaningful with [`COLLECTOR`] held.
    fn is_candidate(&self) -> bool {
        self.base.handle_count() == 0
            && self.queued.load(Ordering::Relaxed) > 0
            && !self.reap_claimed.load(Ordering::Acquire)
    }

    /// Starts a scan of this endpoint's queue: the messages there now are to be scanned
    /// (those written later carry endpoints the write touches: they need no scan).
    fn begin_scan(&self) {
        let mut sides = self.shared.sides.lock();
        let mine = &mut sides[self.side];
        mine.scan_from = 0;
        mine.scan_to = if mine.uncounted == 0 {
            0
        } else {
            mine.queue.len()
        };
    }

    /// Scans on (see [`Channel::begin_scan`]): calls `f` on the endpoint of every queued
    /// handle in the next messages, until `budget` units (a message and a handle count one
    /// each) are spent, but at least one message, so that every call advances the scan
    /// however small the budget left. Returns the units spent and whether the scan is over.
    fn scan_queued(
        &self,
        budget: usize,
        mut f: impl FnMut(&Arc<dyn KernelObject>),
    ) -> (usize, bool) {
        let mut sides = self.shared.sides.lock();
        let mine = &mut sides[self.side];
        let mut spent = 1;
        if mine.uncounted != 0 {
            let end = mine.scan_to.min(mine.queue.len());
            while mine.scan_from < end && (spent == 1 || spent < budget) {
                if let Some(message) = mine.queue.get(mine.scan_from) {
                    for handle in &message.handles {
                        if handle.is_queued() {
                            f(handle.object());
                        }
                    }
                    spent += message.handles.len() + 1;
                }
                mine.scan_from += 1;
            }
            if mine.scan_from < end {
                return (spent, false);
            }
        }
        (mine.scan_from, mine.scan_to) = (0, 0);
        (spent, true)
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

    // Not `on_zero_handles`: an endpoint whose last rooted handle is gone may still have
    // queued handles.
    fn last_handle_gone(&self, this: &Arc<dyn KernelObject>) {
        // Calls waiting on the endpoint end now (CANCELED), even if queued handles keep it
        // alive: none of its handles is left where the caller could use it.
        let ended = call::end_all(&mut self.shared.sides.lock()[self.side], Status::CANCELED);
        drop(ended);
        if let Some(endpoint) = downcast::<Channel>(this) {
            last_root_gone(endpoint);
        }
    }

    fn queued_handle_dropped(&self, this: &Arc<dyn KernelObject>) {
        queued_handle_dropped(this);
    }

    /// `zx_object_signal_peer` (the syscall's path): clears then sets user signals on the
    /// peer. INVALID_ARGS for a bit outside the user signals, BAD_HANDLE if this endpoint was
    /// closed by another thread since the call looked it up, PEER_CLOSED once the peer is
    /// closed. Under `sides`, so a peer closing at the same time is either seen closed or
    /// signaled while open.
    fn signal_peer(&self, clear: Signals, set: Signals) -> ZxResult {
        if !Signals::USER_ALL.contains(clear | set) {
            return Err(Status::INVALID_ARGS);
        }
        let peer = self.peer.upgrade();
        let result = {
            let sides = self.shared.sides.lock();
            match &peer {
                _ if sides[self.side].closed => Err(Status::BAD_HANDLE),
                Some(peer) if !sides[1 - self.side].closed => {
                    peer.base.signals().update(clear, set);
                    Ok(())
                }
                _ => Err(Status::PEER_CLOSED),
            }
        };
        // The last reference to the peer may be this one: dropped with no lock held.
        drop(peer);
        result
    }

    fn torn_down(&self) -> Option<&'static str> {
        self.reap_claimed
            .load(Ordering::Acquire)
            .then_some("a channel endpoint judged dead or unreachable, its queue freed")
    }
}

impl Channel {
    /// Marks the endpoint as the reaper would have, for the `kcheck` tests.
    #[cfg(test)]
    pub(crate) fn mark_reaped_for_test(&self) {
        self.reap_claimed.store(true, Ordering::Release);
    }
}

impl Drop for Channel {
    fn drop(&mut self) {
        // Normally the endpoint was closed and emptied when it died. An endpoint that never
        // had a handle is closed and emptied here (the only case with a queue left, so the
        // only one that takes the collector lock).
        self.reap_claimed.store(true, Ordering::Release);
        self.close_side();
        let queue = self.take_queue();
        if !queue.is_empty() {
            // Freed here, as the endpoint goes: only the kernel's own messages can wait in
            // the queue of an endpoint it never gave a handle for.
            let mut list = ReapList::new();
            for message in queue {
                release_message(message, &mut list);
            }
            reap(list);
        }
    }
}

/// Makes the endpoint handles of the message just queued at `destination` queued handles
/// (collector lock held). If one of them was its endpoint's last rooted handle and the
/// destination (`endpoint`) has no rooted handle either, those endpoints are seeds; with the
/// destination rooted, everything in its queue stays reachable.
#[inline(never)]
fn queue_handles(collector: &mut Collector, destination: &mut Side, endpoint: &Arc<Channel>) {
    let Some(message) = destination.queue.back_mut() else {
        return;
    };
    if destination.uncounted == 0 {
        // Whatever a scan of this queue had left holds no queued handle (see `Side`).
        (destination.scan_from, destination.scan_to) = (0, 0);
    }
    let mut lost_root = false;
    for handle in message.handles.iter_mut() {
        if let Some(target) = as_endpoint(handle.object()) {
            // Queued first, then unrooted: the handle is always counted somewhere.
            target.queued.fetch_add(1, Ordering::Relaxed);
            lost_root |= handle.enter_queue();
            destination.uncounted += 1;
        }
    }
    let seeding = lost_root && endpoint.is_candidate();
    if !seeding && collector.phase == Phase::Idle {
        return;
    }
    for handle in &message.handles {
        if let Some(target) = downcast::<Channel>(handle.object()) {
            // The handle holds the endpoint: this reference is not its last.
            if seeding && target.base.handle_count() == 0 {
                seed(collector, &target);
            } else {
                touch(collector, &target);
            }
        }
    }
}

/// Whether `object` is a channel endpoint.
fn is_endpoint(object: &Arc<dyn KernelObject>) -> bool {
    let any: &dyn Any = &**object;
    any.is::<Channel>()
}

fn as_endpoint(object: &Arc<dyn KernelObject>) -> Option<&Channel> {
    let any: &dyn Any = &**object;
    any.downcast_ref::<Channel>()
}

/// Puts `endpoint` on the seed list (once) of the next collection; it is touched for the
/// running one.
fn seed(collector: &mut Collector, endpoint: &Arc<Channel>) {
    touch(collector, endpoint);
    let mut node = endpoint.gc.lock();
    if node.seeded {
        return;
    }
    node.seeded = true;
    node.next_seed = collector.seeds.take();
    drop(node);
    collector.seeds = Some(endpoint.clone());
    SEEDS_PENDING.store(true, Ordering::Release);
}

/// Claims `endpoint` for the reaper and links it into `list`.
fn claim(endpoint: Arc<Channel>, list: &mut ReapList) {
    endpoint.reap_claimed.store(true, Ordering::Release);
    list.push(endpoint);
}

/// A queued handle to `target` left the queues without being read (its queue is being
/// freed). Returns whether that killed `target` (the caller claims it); seeds it if it now
/// may be unreachable.
fn queued_gone(collector: &mut Collector, target: &Arc<Channel>) -> bool {
    let left = target.queued.fetch_sub(1, Ordering::Relaxed) - 1;
    touch(collector, target);
    if target.reap_claimed.load(Ordering::Acquire)
        || target.base.handle_count() > 0
        || doomed(collector, target)
    {
        // Handed to the reaper already (or soon: doomed); or rooted, so reachable.
        return false;
    }
    if left == 0 {
        return true;
    }
    seed(collector, target);
    false
}

/// The last rooted handle of `endpoint` is gone (through
/// `KernelObject::last_handle_gone`). With no queued handle left it is dead: its peer sees
/// `PEER_CLOSED` now, its queue is freed by the reaper (a chunk here, the rest later, see
/// [`reap`]). Otherwise it may be unreachable and is collected from.
pub(crate) fn last_root_gone(endpoint: Arc<Channel>) {
    let mut list = ReapList::new();
    root_gone(endpoint, &mut list);
    reap(list);
}

fn root_gone(endpoint: Arc<Channel>, list: &mut ReapList) {
    let dead = {
        let mut collector = COLLECTOR.lock();
        if endpoint.base.handle_count() > 0 || endpoint.reap_claimed.load(Ordering::Acquire) {
            // Read back from a queue meanwhile, or already dead.
            false
        } else if endpoint.queued.load(Ordering::Relaxed) == 0 {
            touch(&mut collector, &endpoint);
            endpoint.reap_claimed.store(true, Ordering::Release);
            true
        } else {
            seed(&mut collector, &endpoint);
            false
        }
    };
    // Closed and linked (or dropped, possibly as the last reference) outside the collector
    // lock.
    if dead {
        endpoint.close_side();
        claim(endpoint, list);
    }
}

/// A queued handle was dropped outside the reaper (nothing in this crate does that; kept
/// correct all the same).
pub(crate) fn queued_handle_dropped(object: &Arc<dyn KernelObject>) {
    let Some(target) = downcast::<Channel>(object) else {
        return;
    };
    let dead = queued_gone(&mut COLLECTOR.lock(), &target);
    let mut list = ReapList::new();
    if dead {
        target.close_side();
        claim(target, &mut list);
    }
    reap(list);
}

/// Runs the collection the seeds ask for, and frees what it finds.
#[inline(never)]
fn collect_pending() {
    reap(ReapList::new());
}

/// Dead or unreachable endpoints whose queues are still to be freed (each already closed),
/// linked through `reap_next`. The tail is kept so that two lists join in constant time.
struct ReapList {
    head: Option<Arc<Channel>>,
    tail: Option<Arc<Channel>>,
}

impl ReapList {
    const fn new() -> ReapList {
        ReapList {
            head: None,
            tail: None,
        }
    }

    fn is_empty(&self) -> bool {
        self.head.is_none()
    }

    /// Links `endpoint` first.
    fn push(&mut self, endpoint: Arc<Channel>) {
        *endpoint.reap_next.lock() = self.head.take();
        if self.tail.is_none() {
            self.tail = Some(endpoint.clone());
        }
        self.head = Some(endpoint);
    }

    fn pop(&mut self) -> Option<Arc<Channel>> {
        let first = self.head.take()?;
        self.head = first.reap_next.lock().take();
        if self.head.is_none() {
            // `first` itself: not its last reference.
            self.tail = None;
        }
        Some(first)
    }

    /// Links all of `front` before this list's endpoints.
    fn prepend(&mut self, mut front: ReapList) {
        let Some(front_tail) = front.tail.take() else {
            return;
        };
        *front_tail.reap_next.lock() = self.head.take();
        if self.tail.is_none() {
            self.tail = Some(front_tail);
        }
        self.head = front.head.take();
    }
}

/// Freeing left for later: dead endpoints whose queues are not empty yet. The kernel frees
/// them a chunk at a time with preemption points in between ([`free_dead_chunk`]) before the
/// system call that left them returns to user mode, and the idle loop frees what a thread
/// that never returns left.
///
/// Not a [`preempt::WorkList`]: the endpoints are linked through their own `reap_next`, so
/// deferring never allocates and cannot fail.
///
/// Lock order: taken alone, with only the list's `reap_next` links inside; never held while
/// a reference is dropped. IRQs are masked while it is held, as everywhere in the kernel.
static DEFERRED: spin::Mutex<ReapList> = spin::Mutex::new(ReapList::new());
/// Set while [`DEFERRED`] may hold endpoints or a collection was left for later.
static DEFERRED_PENDING: AtomicBool = AtomicBool::new(false);

/// Handles released between two preemption points (a message without handles counts as
/// one): the largest message, like a batch of `zx_handle_close_many`. Measured under
/// `-icount`: releasing a queued handle to a small object costs about 1,400 instructions,
/// freeing one level of a nested chain about 2,000, so a chunk takes some 0.1 ms.
const CHUNK_HANDLES: usize = MAX_MSG_HANDLES;

/// What releasing `message` counts for in a chunk.
fn reaper_cost(message: &Message) -> usize {
    message.handles.len().max(1)
}

/// Frees `list` and what its queues lead to (and runs the collections the seeds ask for). With
/// the kernel's preemption hook only a chunk (or a collection step) is done here, where locks
/// may be held, and the rest goes to [`DEFERRED`]; without it (host tests, boot) all of it.
fn reap(mut list: ReapList) {
    // In flight while this call holds endpoints or a collection's garbage off the list.
    let counted = !list.is_empty() || SEEDS_PENDING.load(Ordering::SeqCst);
    if counted {
        preempt::begin_in_flight();
    }
    let deferred = loop {
        if !reap_chunk(&mut list) {
            break false;
        }
        if preempt::enabled() {
            DEFERRED.lock().prepend(list);
            DEFERRED_PENDING.store(true, Ordering::SeqCst);
            preempt::mark_deferred();
            break true;
        }
    };
    if counted {
        preempt::end_in_flight();
    }
    // Nothing left here, but another CPU may hold a chunk of it (the garbage of a collection
    // it just finished): the caller's system call waits for that on its way out.
    if !deferred && preempt::enabled() && preempt::work_in_flight() {
        preempt::mark_deferred();
    }
}

/// One chunk of the reaper: frees messages of the endpoints in `list` until
/// [`CHUNK_HANDLES`] handles are released; an endpoint that dies of it is closed and linked
/// into `list`, never emptied inside the drop that killed it. With `list` empty, runs a step
/// of the collection (one starts when there are seeds) and takes what its sweep claimed.
/// Returns whether work is left.
fn reap_chunk(list: &mut ReapList) -> bool {
    let mut budget = CHUNK_HANDLES;
    loop {
        let Some(endpoint) = list.pop() else {
            if !SEEDS_PENDING.load(Ordering::Acquire) {
                return false;
            }
            let mut garbage = ReapList::new();
            collect_step(&mut COLLECTOR.lock(), &mut garbage);
            // Their peers see `PEER_CLOSED` now; their queues are freed in chunks.
            while let Some(endpoint) = garbage.pop() {
                endpoint.close_side();
                list.push(endpoint);
            }
            // A step of a collection is a chunk of its own.
            return !list.is_empty() || SEEDS_PENDING.load(Ordering::Acquire);
        };
        let left = loop {
            let (message, more) = endpoint.take_for_reaper(budget, budget == CHUNK_HANDLES);
            let Some(message) = message else {
                if more {
                    // The next message does not fit in this chunk.
                    budget = 0;
                }
                break more;
            };
            budget = budget.saturating_sub(reaper_cost(&message));
            release_message(message, list);
            if budget == 0 {
                break more;
            }
        };
        if left {
            list.push(endpoint);
        } else {
            // If this is its last reference, the drop finds the queue empty.
            drop(endpoint);
        }
        if budget == 0 {
            return !list.is_empty() || SEEDS_PENDING.load(Ordering::Acquire);
        }
    }
}

/// Releases the handles of a message nobody will read. A handle is released by hand: an
/// endpoint that dies of it is closed and linked into `list` instead of being emptied on the
/// spot.
fn release_message(mut message: Message, list: &mut ReapList) {
    if message.handles.iter().any(Handle::is_queued) {
        let mut killed = ReapList::new();
        {
            let mut collector = COLLECTOR.lock();
            for handle in message.handles.iter_mut() {
                if !handle.is_queued() {
                    continue;
                }
                handle.detach();
                if let Some(target) = downcast::<Channel>(handle.object()) {
                    // The handle still holds the endpoint: this reference is not its last,
                    // and may be dropped under the lock.
                    if queued_gone(&mut collector, &target) {
                        claim(target, &mut killed);
                    }
                }
            }
        }
        while let Some(endpoint) = killed.pop() {
            endpoint.close_side();
            list.push(endpoint);
        }
    }
    for handle in message.handles {
        let (object, reached_zero) = handle.release();
        if reached_zero {
            match downcast::<Channel>(&object) {
                Some(endpoint) => root_gone(endpoint, list),
                None => object.on_zero_handles(),
            }
        }
        // If this was the last reference to an endpoint, its drop finds its queue empty or
        // already handed to the reaper.
        drop(object);
    }
}

/// One chunk of the freeing left for later ([`DEFERRED`]); true while more is left. The
/// kernel calls it with no lock held, with a preemption point between two calls.
pub fn free_dead_chunk() -> bool {
    if !DEFERRED_PENDING.load(Ordering::SeqCst) {
        return false;
    }
    // Counted from before the endpoint leaves the list until it is back or done: a caller
    // that must see all the work done waits for this chunk (`crate::free_deferred`).
    preempt::begin_in_flight();
    let mut list = ReapList::new();
    {
        let mut deferred = DEFERRED.lock();
        if let Some(endpoint) = deferred.pop() {
            list.push(endpoint);
        }
        if deferred.is_empty() {
            // Under the lock, so that a concurrent deferral is not missed; set again below
            // if this chunk leaves work.
            DEFERRED_PENDING.store(false, Ordering::SeqCst);
        }
    }
    if reap_chunk(&mut list) {
        DEFERRED.lock().prepend(list);
        DEFERRED_PENDING.store(true, Ordering::SeqCst);
    }
    preempt::end_in_flight();
    DEFERRED_PENDING.load(Ordering::SeqCst)
}

/// Removes the first node of a list linked through `link`.
fn pop(
    list: &mut Option<Arc<Channel>>,
    link: fn(&mut GcNode) -> &mut Option<Arc<Channel>>,
) -> Option<Arc<Channel>> {
    let first = list.take()?;
    *list = link(&mut first.gc.lock()).take();
    Some(first)
}

fn push(
    list: &mut Option<Arc<Channel>>,
    node: &mut GcNode,
    link: fn(&mut GcNode) -> &mut Option<Arc<Channel>>,
    endpoint: Arc<Channel>,
) {
    *link(node) = list.take();
    *list = Some(endpoint);
}

fn seed_link(node: &mut GcNode) -> &mut Option<Arc<Channel>> {
    &mut node.next_seed
}

fn visited_link(node: &mut GcNode) -> &mut Option<Arc<Channel>> {
    &mut node.next_visited
}

fn work_link(node: &mut GcNode) -> &mut Option<Arc<Channel>> {
    &mut node.next_work
}

/// Units of collector work per step (see [`Channel::scan_queued`]; an endpoint taken from a
/// list counts [`NODE_UNITS`]). Measured under `-icount`: a step over a cycle of endpoints
/// takes at most about 90,000 instructions (0.09 ms), one over a queue of messages full of
/// handles to other objects about 20,000; a freeing chunk of the reaper takes 80,000.
pub const STEP_UNITS: usize = 3072;
/// What handling one endpoint of a collector list counts for in a step.
pub const NODE_UNITS: usize = 8;
/// [`STEP_UNITS`], or what a test set ([`testing::set_step_units`]).
static STEP_BUDGET: AtomicUsize = AtomicUsize::new(STEP_UNITS);

/// Whether `endpoint` was found unreachable by the running collection and is not claimed
/// yet (it will be, within the collection's sweep): it must be treated as claimed.
fn doomed(collector: &Collector, endpoint: &Channel) -> bool {
    if collector.phase != Phase::Sweep {
        return false;
    }
    let node = endpoint.gc.lock();
    node.epoch == collector.epoch && node.mark == VISITED
}

/// A mutation while a collection runs: a change of `endpoint`'s queued count, or of its
/// handle count from or to zero (so also every move of a handle to it into or out of a
/// queue). What the collection counted about it may be stale, so it counts as reachable for
/// this collection: never visited if not yet, live if visited (the check then makes it live,
/// or it goes straight to the propagation). A doomed endpoint stays doomed: nothing reaches
/// it any more. Collector lock held; costs a compare while no collection runs.
#[inline]
fn touch(collector: &mut Collector, endpoint: &Arc<Channel>) {
    let phase = collector.phase;
    if phase == Phase::Idle || phase == Phase::Sweep {
        return;
    }
    let mut guard = endpoint.gc.lock();
    let node = guard.current(collector.epoch);
    match node.mark {
        UNVISITED => node.mark = TOUCHED,
        VISITED if phase == Phase::Scan => node.mark = TOUCHED,
        VISITED => {
            node.mark = LIVE;
            push(&mut collector.work, node, work_link, endpoint.clone());
        }
        _ => {}
    }
}

/// Visits `object` (if it is an endpoint that is an unvisited candidate), counting one queued
/// handle to it from a visited queue when `from_queue`.
fn visit(
    object: &Arc<dyn KernelObject>,
    from_queue: bool,
    epoch: u64,
    visited: &mut Option<Arc<Channel>>,
    work: &mut Option<Arc<Channel>>,
) {
    let Some(endpoint) = as_endpoint(object) else {
        return;
    };
    if !endpoint.is_candidate() {
        return;
    }
    let mut guard = endpoint.gc.lock();
    let node = guard.current(epoch);
    if from_queue {
        node.internal += 1;
    }
    if node.mark != UNVISITED {
        return;
    }
    let Some(endpoint) = downcast::<Channel>(object) else {
        return;
    };
    node.mark = VISITED;
    push(visited, node, visited_link, endpoint.clone());
    push(work, node, work_link, endpoint);
}

/// One step of the collection (collector lock held): at most a budget of work (see
/// [`STEP_UNITS`]), then the lock is released and the caller passes a preemption point
/// before the next step. Starts a collection when there are seeds and none runs; links the
/// endpoints the sweep claims into `garbage` (the caller closes them and frees their
/// queues). Updates [`SEEDS_PENDING`].
///
/// A collection finds the endpoints reachable from its seeds that no handle table can reach:
/// 1. *Scan*: visit the seeds that are candidates, then, through the queues of visited
///    endpoints, every candidate they hold handles to; count the queued handles to each
///    visited endpoint found in those queues (`internal`). Each visited queue is scanned
///    once, the messages it holds when its scan starts, in steps.
/// 2. *Check*: a visited endpoint with more queued handles than counted is referred to
///    from elsewhere (a rooted queue, or one the previous collections left reachable): live.
/// 3. *Propagate*: the visited endpoints a live endpoint's queue holds handles to are live.
/// 4. When nothing is left to propagate, the visited endpoints not live are unreachable:
///    that instant is the decision (they are *doomed*); the *sweep* then claims them, a step
///    at a time (until then reads and the reaper treat them as claimed).
///
/// Other threads write, read and close between steps. Every change of a queued count, and
/// every change of a handle count from or to zero, happens with the collector lock held and
/// *touches* the endpoint (see [`touch`]): a touched endpoint counts as reachable. Why what
/// is doomed is unreachable at the decision: a doomed endpoint `e` was a candidate (no rooted
/// handle) when visited and was never touched since the collection started (a visit only
/// takes untouched endpoints), so its handle count stayed zero (only a read of a queued
/// handle raises it from zero, which touches) and every queued handle to it stayed where it
/// was (moving one touches). Each of them therefore was in the scanned part of a queue of a
/// visited endpoint, or outside the visited queues for the whole collection; the check found
/// them all inside (`queued == internal`). A visited endpoint whose queue holds one of them
/// is doomed as well: were it live (by the check, propagation or a touch), the propagation
/// over its queue would have found the handle there and made `e` live. So no handle table,
/// and no endpoint outside the doomed set, reaches `e`. Afterwards nothing can: only a read
/// from a doomed queue could, and a read of a doomed endpoint fails like one of a claimed
/// one; writes into doomed queues touch what they carry, which the next collection looks at
/// (they are seeded if they lost their last root).
///
/// Progress: a collection never restarts. Mutations only turn endpoints live (each at most
/// once); visits take only endpoints that were candidates, untouched, when it started, and
/// each queue is scanned at most twice, over the messages it held when its scan started
/// (later ones carry touched endpoints). So a collection ends after work bounded by what
/// existed when it started, however busy the other threads are; what they change meanwhile
/// and may leave unreachable is seeded for the next collection (seeding touches, and a
/// touched seed of the running collection is handed on to the next one).
///
/// The references this drops are never an endpoint's last, so no endpoint's drop runs under
/// the lock: every endpoint on the collector's lists had handles, and an endpoint that had
/// handles holds an empty queue by the time its last reference goes (it died and was
/// reaped), and the endpoint whose last reference the drop of its peer releases had handles
/// as well.
fn collect_step(collector: &mut Collector, garbage: &mut ReapList) {
    let mut budget = STEP_BUDGET.load(Ordering::Relaxed).max(1);
    let epoch = collector.epoch;
    while budget > 0 {
        match collector.phase {
            Phase::Idle => {
                if collector.seeds.is_none() {
                    break;
                }
                collector.epoch += 1;
                collector.start = collector.seeds.take();
                collector.phase = Phase::Scan;
                // The epoch changed: start the loop over with it.
                return collect_step(collector, garbage);
            }
            Phase::Scan | Phase::Propagate => {
                let scanning = collector.phase == Phase::Scan;
                if let Some(endpoint) = collector.scanning.take() {
                    let (spent, done) = if scanning {
                        let (visited, work) = (&mut collector.visited, &mut collector.work);
                        endpoint
                            .scan_queued(budget, |target| visit(target, true, epoch, visited, work))
                    } else {
                        let work = &mut collector.work;
                        endpoint.scan_queued(budget, |target| propagate(target, epoch, work))
                    };
                    budget = budget.saturating_sub(spent);
                    if !done {
                        collector.scanning = Some(endpoint);
                    }
                    continue;
                }
                budget = budget.saturating_sub(NODE_UNITS);
                if let Some(endpoint) = pop(&mut collector.work, work_link) {
                    // Scanned unless touched since it was listed (then it is live anyway and
                    // what its queue holds counts as referred to from elsewhere).
                    let mark = endpoint.gc.lock().mark;
                    if !scanning || mark == VISITED {
                        endpoint.begin_scan();
                        collector.scanning = Some(endpoint);
                    }
                    continue;
                }
                if !scanning {
                    // The decision.
                    collector.phase = Phase::Sweep;
                    continue;
                }
                if let Some(seed) = pop(&mut collector.start, seed_link) {
                    let touched = {
                        let mut node = seed.gc.lock();
                        node.seeded = false;
                        node.current(epoch).mark == TOUCHED
                    };
                    if touched {
                        // Changed since it was seeded: the next collection looks at it.
                        seed_next(collector, &seed);
                    } else {
                        let object: Arc<dyn KernelObject> = seed;
                        visit(
                            &object,
                            false,
                            epoch,
                            &mut collector.visited,
                            &mut collector.work,
                        );
                    }
                    continue;
                }
                collector.phase = Phase::Check;
                collector.cursor = collector.visited.clone();
            }
            Phase::Check => {
                budget = budget.saturating_sub(NODE_UNITS);
                let Some(endpoint) = collector.cursor.take() else {
                    collector.phase = Phase::Propagate;
                    continue;
                };
                let mut node = endpoint.gc.lock();
                let outside = node.mark == VISITED
                    && (endpoint.queued.load(Ordering::Relaxed) > node.internal
                        || !endpoint.is_candidate());
                if node.mark == TOUCHED || outside {
                    node.mark = LIVE;
                    push(&mut collector.work, &mut node, work_link, endpoint.clone());
                }
                collector.cursor = node.next_visited.clone();
            }
            Phase::Sweep => {
                budget = budget.saturating_sub(NODE_UNITS);
                let Some(endpoint) = pop(&mut collector.visited, visited_link) else {
                    collector.phase = Phase::Idle;
                    break;
                };
                let unreachable = endpoint.gc.lock().mark == VISITED
                    && !endpoint.reap_claimed.load(Ordering::Acquire);
                if unreachable {
                    // Its queue goes to the reaper as it is: the queued handles in it are
                    // released there (those to doomed or claimed endpoints change nothing
                    // but counts).
                    claim(endpoint, garbage);
                }
            }
        }
    }
    SEEDS_PENDING.store(
        collector.phase != Phase::Idle || collector.seeds.is_some(),
        Ordering::SeqCst,
    );
}

/// In the propagation: a visited endpoint a live queue holds a handle to is live.
fn propagate(object: &Arc<dyn KernelObject>, epoch: u64, work: &mut Option<Arc<Channel>>) {
    let Some(target) = as_endpoint(object) else {
        return;
    };
    let mut guard = target.gc.lock();
    let node = guard.current(epoch);
    if node.mark == VISITED {
        if let Some(target) = downcast::<Channel>(object) {
            node.mark = LIVE;
            push(work, node, work_link, target);
        }
    }
}

/// Links `endpoint`, just taken off the running collection's seeds, into the next one's.
fn seed_next(collector: &mut Collector, endpoint: &Arc<Channel>) {
    let mut node = endpoint.gc.lock();
    node.seeded = true;
    node.next_seed = collector.seeds.take();
    drop(node);
    collector.seeds = Some(endpoint.clone());
}

/// For tests.
pub mod testing {
    use super::*;

    pub use super::{NODE_UNITS, STEP_UNITS};

    /// Sets the collector's budget per step ([`STEP_UNITS`] by default), so that tests can
    /// change things between the steps of a small collection.
    pub fn set_step_units(units: usize) {
        STEP_BUDGET.store(units, Ordering::Relaxed);
    }
}
