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
//! Cost: a write or read of a message without endpoint handles, and the close of anything
//! but a channel, do no work for this. A message carrying endpoint handles takes the
//! collector lock. A collection runs only when there are seeds; as channel handles cannot be
//! duplicated, in the kernel that is a write of an endpoint's handle into the queue of an
//! endpoint that has no rooted handle. It visits each candidate reachable from the seeds once
//! and reads the queued handles in their queues twice: linear in that set, about 450
//! instructions per endpoint (measured under `qemu -icount`), so 1 ms holds some 2,000
//! endpoints. In ordinary use (an endpoint passed on, a cycle dropped) the set is a handful.
//! A program that keeps N endpoints in queues behind one endpoint (about 0.7 KiB of kernel
//! heap each) and moves that endpoint into an unrooted queue pays for N each time: the bound
//! is that, not a constant. The collection runs in one go with the collector lock held (no
//! count may change under it), and closes what it finds at once (their peers see
//! `PEER_CLOSED`); only the freeing is chunked. Measured under `-icount`, the call that makes
//! a cycle unreachable holds the CPU about 46 ms for a cycle of 100,000 endpoints and 2.8 ms
//! for two endpoints whose queue holds 224,000 handles (the queues are read three times).
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
}

/// What the two endpoints share, under one lock. Lock order: [`COLLECTOR`], then this lock,
/// then an endpoint's collector node or signal state. No handle is ever dropped with it held.
#[derive(Default)]
struct Shared {
    sides: spin::Mutex<[Side; 2]>,
}

/// Collection marks.
const UNVISITED: u8 = 0;
const VISITED: u8 = 1;
const LIVE: u8 = 2;

/// The collector's state of one endpoint. Only used with [`COLLECTOR`] held; its own lock
/// comes last in the lock order and is never held together with another node's.
#[derive(Default)]
struct GcNode {
    /// Mark in the running collection (`UNVISITED` between collections).
    mark: u8,
    /// Queued handles to this endpoint found in the queues of visited endpoints.
    internal: usize,
    /// On the collector's seed list.
    seeded: bool,
    next_seed: Option<Arc<Channel>>,
    next_visited: Option<Arc<Channel>>,
    next_work: Option<Arc<Channel>>,
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
    /// Link of the reaper's work list.
    reap_next: spin::Mutex<Option<Arc<Channel>>>,
    gc: spin::Mutex<GcNode>,
}

/// The collector's lock and seed list.
///
/// Held by every change of a `queued` count (writes and reads of messages that carry endpoint
/// handles, the freeing of queues), by the decision that an endpoint is dead, and by a whole
/// collection, so that no count changes under a collection. Nothing nests outside it; inside
/// it come a channel's shared lock, then collector nodes. No handle, and no reference that
/// may be an endpoint's last, is dropped with it held (an endpoint's drop takes it to free a
/// queue; see `collect` for why the references it drops are never the last). Never taken in
/// an IRQ handler; the kernel holds it, like every lock, with IRQs masked.
struct Collector {
    /// Endpoints that may have become unreachable since the last collection.
    seeds: Option<Arc<Channel>>,
}

static COLLECTOR: spin::Mutex<Collector> = spin::Mutex::new(Collector { seeds: None });
/// Set while the seed list is not empty: lets every endpoint death check without the lock.
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
            self.enqueue(peer.as_ref(), message, collector.as_deref_mut())
        };
        drop(rejected);
        drop(peer);
        if carries_endpoints && SEEDS_PENDING.load(Ordering::Acquire) {
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
        message: Message,
        collector: Option<&mut Collector>,
    ) -> (ZxResult<usize>, Option<Message>) {
        let mut sides = self.shared.sides.lock();
        let destination = &mut sides[1 - self.side];
        let peer = match peer {
            Some(peer) if !destination.closed => peer,
            _ => return (Err(Status::PEER_CLOSED), Some(message)),
        };
        if destination.queue.len() == destination.queue.capacity()
            && destination.queue.try_reserve(1).is_err()
        {
            return (Err(Status::NO_MEMORY), Some(message));
        }
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
        let _collector = COLLECTOR.lock();
        let mut sides = self.shared.sides.lock();
        if self.reap_claimed.load(Ordering::Acquire) {
            // Found unreachable (this read goes through a reference whose handle was closed
            // meanwhile): its queue belongs to the reaper.
            return Err(ReadError::status(Status::BAD_HANDLE));
        }
        let mut message = self.take_next(&mut sides, max_bytes, max_handles)?;
        for handle in message.handles.iter_mut() {
            if handle.is_queued() {
                handle.leave_queue();
                if let Some(target) = as_endpoint(handle.object()) {
                    target.queued.fetch_sub(1, Ordering::Relaxed);
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

    /// Marks this endpoint closed and tells the peer.
    fn close_side(&self) {
        let peer = self.peer.upgrade();
        {
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
        }
        drop(peer);
    }

    /// Takes the whole queue of this endpoint (to free it).
    fn take_queue(&self) -> VecDeque<Message> {
        let mut sides = self.shared.sides.lock();
        sides[self.side].uncounted = 0;
        core::mem::take(&mut sides[self.side].queue)
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

    /// Calls `f` on every queued endpoint handle's endpoint in this endpoint's queue.
    fn for_each_queued(&self, mut f: impl FnMut(&Arc<dyn KernelObject>)) {
        let sides = self.shared.sides.lock();
        let mine = &sides[self.side];
        if mine.uncounted == 0 {
            return;
        }
        for message in &mine.queue {
            for handle in &message.handles {
                if handle.is_queued() {
                    f(handle.object());
                }
            }
        }
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

    // No `on_zero_handles`: the handle layer sends an endpoint whose last rooted handle is
    // gone to `last_root_gone` instead, as it may still have queued handles.
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
    let mut lost_root = false;
    for handle in message.handles.iter_mut() {
        if let Some(target) = as_endpoint(handle.object()) {
            // Queued first, then unrooted: the handle is always counted somewhere.
            target.queued.fetch_add(1, Ordering::Relaxed);
            lost_root |= handle.enter_queue();
            destination.uncounted += 1;
        }
    }
    if !lost_root || !endpoint.is_candidate() {
        return;
    }
    for handle in &message.handles {
        if let Some(target) = downcast::<Channel>(handle.object()) {
            if target.base.handle_count() == 0 {
                seed(collector, &target);
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

/// Puts `endpoint` on the seed list (once).
fn seed(collector: &mut Collector, endpoint: &Arc<Channel>) {
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
    if target.reap_claimed.load(Ordering::Acquire) || target.base.handle_count() > 0 {
        return false;
    }
    if left == 0 {
        return true;
    }
    seed(collector, target);
    false
}

/// The last rooted handle of `endpoint` is gone (called by the handle layer). With no queued
/// handle left it is dead: its peer sees `PEER_CLOSED` now, its queue is freed by the reaper
/// (a chunk here, the rest later, see [`reap`]). Otherwise it may be unreachable and is
/// collected from.
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
/// the kernel's preemption hook only a chunk is freed here, where locks may be held, and the
/// rest goes to [`DEFERRED`]; without it (host tests, boot) all of it.
fn reap(mut list: ReapList) {
    while reap_chunk(&mut list) {
        if preempt::enabled() {
            DEFERRED.lock().prepend(list);
            DEFERRED_PENDING.store(true, Ordering::Release);
            preempt::mark_deferred();
            return;
        }
    }
}

/// One chunk of the reaper: frees messages of the endpoints in `list` until
/// [`CHUNK_HANDLES`] handles are released; an endpoint that dies of it is closed and linked
/// into `list`, never emptied inside the drop that killed it. With `list` empty, runs the
/// collection the seeds ask for and takes what it found unreachable. Returns whether work is
/// left.
fn reap_chunk(list: &mut ReapList) -> bool {
    let mut budget = CHUNK_HANDLES;
    loop {
        let Some(endpoint) = list.pop() else {
            if !SEEDS_PENDING.load(Ordering::Acquire) {
                return false;
            }
            let mut garbage = collect(&mut COLLECTOR.lock());
            // Their peers see `PEER_CLOSED` now; their queues are freed in chunks.
            while let Some(endpoint) = garbage.pop() {
                endpoint.close_side();
                list.push(endpoint);
            }
            // A collection is a chunk of its own.
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
    if !DEFERRED_PENDING.load(Ordering::Acquire) {
        return false;
    }
    let mut list = ReapList::new();
    {
        let mut deferred = DEFERRED.lock();
        if let Some(endpoint) = deferred.pop() {
            list.push(endpoint);
        }
        if deferred.is_empty() {
            // Under the lock, so that a concurrent deferral is not missed; set again below
            // if this chunk leaves work.
            DEFERRED_PENDING.store(false, Ordering::Release);
        }
    }
    if reap_chunk(&mut list) {
        DEFERRED.lock().prepend(list);
        DEFERRED_PENDING.store(true, Ordering::Release);
    }
    DEFERRED_PENDING.load(Ordering::Acquire)
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

/// Visits `endpoint` (if it is an unvisited candidate), counting one queued handle to it from
/// a visited queue when `from_queue`.
fn visit(
    object: &Arc<dyn KernelObject>,
    from_queue: bool,
    visited: &mut Option<Arc<Channel>>,
    work: &mut Option<Arc<Channel>>,
) {
    let Some(endpoint) = as_endpoint(object) else {
        return;
    };
    if !endpoint.is_candidate() {
        return;
    }
    let mut node = endpoint.gc.lock();
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
    push(visited, &mut node, visited_link, endpoint.clone());
    push(work, &mut node, work_link, endpoint);
}

/// One collection (with the collector lock held): finds the endpoints reachable from the
/// seeds that no handle table can reach, claims them, detaches the queued handles in their
/// queues (the counts they held go now), and returns them linked for the reaper, which
/// closes them at once and frees their queues in chunks.
///
/// The references this drops are never an endpoint's last, so no endpoint's drop runs under
/// the lock: a seed or a visited endpoint had handles, and an endpoint that had handles
/// holds an empty queue by the time its last reference goes (it died and was reaped), and
/// the endpoint whose last reference the drop of its peer releases had handles as well.
fn collect(collector: &mut Collector) -> ReapList {
    SEEDS_PENDING.store(false, Ordering::Release);
    let mut visited = None;
    let mut work = None;
    while let Some(seed) = pop(&mut collector.seeds, seed_link) {
        seed.gc.lock().seeded = false;
        let object: Arc<dyn KernelObject> = seed;
        visit(&object, false, &mut visited, &mut work);
    }
    // Everything the seeds reach through queues of candidates; count the handles from there.
    while let Some(endpoint) = pop(&mut work, work_link) {
        endpoint.for_each_queued(|target| visit(target, true, &mut visited, &mut work));
    }
    // Referred to from outside the visited queues: reachable, and so is what they hold.
    let mut cursor = visited.clone();
    while let Some(endpoint) = cursor {
        let mut node = endpoint.gc.lock();
        if endpoint.queued.load(Ordering::Relaxed) > node.internal {
            node.mark = LIVE;
            push(&mut work, &mut node, work_link, endpoint.clone());
        }
        cursor = node.next_visited.clone();
    }
    while let Some(endpoint) = pop(&mut work, work_link) {
        endpoint.for_each_queued(|target| {
            let Some(target_endpoint) = as_endpoint(target) else {
                return;
            };
            let mut node = target_endpoint.gc.lock();
            if node.mark == VISITED {
                if let Some(target) = downcast::<Channel>(target) {
                    node.mark = LIVE;
                    push(&mut work, &mut node, work_link, target);
                }
            }
        });
    }
    // The rest is unreachable.
    let mut garbage = ReapList::new();
    while let Some(endpoint) = pop(&mut visited, visited_link) {
        let unreachable = {
            let mut node = endpoint.gc.lock();
            let unreachable = node.mark == VISITED;
            node.mark = UNVISITED;
            node.internal = 0;
            unreachable
        };
        if unreachable {
            endpoint.reap_claimed.store(true, Ordering::Release);
            detach_queue(&endpoint);
            claim(endpoint, &mut garbage);
        }
    }
    garbage
}

/// Detaches the queued handles in the queue of an endpoint found unreachable: their counts
/// go now, with the collector lock held, so that the endpoints they refer to (reachable, or
/// unreachable too) are not taken for seeds when the reaper frees them.
fn detach_queue(endpoint: &Channel) {
    let mut sides = endpoint.shared.sides.lock();
    let mine = &mut sides[endpoint.side];
    if mine.uncounted == 0 {
        return;
    }
    for message in mine.queue.iter_mut() {
        for handle in message.handles.iter_mut() {
            if handle.is_queued() {
                handle.detach();
                if let Some(target) = as_endpoint(handle.object()) {
                    target.queued.fetch_sub(1, Ordering::Relaxed);
                }
            }
        }
    }
    // `uncounted` stays: a read must still take the slow path and see the claim.
}
