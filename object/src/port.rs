//! Ports: queues of packets, and the asynchronous waits that fill them
//! (`zx_port_create`, `zx_port_queue`, `zx_port_wait`, `zx_port_cancel`,
//! `zx_object_wait_async`).
//!
//! A [`Port`] object owns a [`PortQueue`]: the queued packets, the threads waiting for one
//! and the armed asynchronous waits ([`AsyncWait`]) aimed at it. A packet goes to the oldest
//! waiting thread if there is one (handed over directly, so one packet releases exactly one
//! waiter), else to the tail of the queue.
//!
//! An asynchronous wait is an observer of the watched object's signal state. It fires inside
//! that state's lock, where nothing may be allocated: so the room for its packet is reserved
//! in the queue when the wait is armed ([`PortState::reserved`]; the queue's capacity is
//! always at least its length plus that count) and firing only moves 48 bytes in. Whoever
//! takes a registration out of [`PortState::registrations`] (its firing, its cancellation by
//! a handle close or `zx_port_cancel`, the port's close) owns its end: exactly one of them
//! does, under the port's lock.
//!
//! # Bounds
//! - [`MAX_USER_PACKETS`] (2048) user packets queued per port; one more is `SHOULD_WAIT`;
//! - [`MAX_SIGNAL_PACKETS`] (4096) asynchronous waits per port, armed or with their packet
//!   still queued; one more is `NO_MEMORY` at `zx_object_wait_async`, nothing registered;
//! - waiters: one per thread blocked in `zx_port_wait` on the port (threads are bounded by
//!   the kernel's thread limits).
//!
//! Every allocation is fallible (`try_reserve`), so a kernel short of heap says `NO_MEMORY`
//! at queue / wait / wait_async time and never when a signal fires.
//!
//! # Locking
//! `PortQueue::state` (one per port): the queue, the counts, the registrations and the
//! waiters. Taken inside a watched object's signal-state lock (a firing or a cancellation by
//! handle close, including the port's own signal state, through which waiting threads learn
//! that their port handle was closed) and alone. Inside it only: a waiter's result lock and
//! the scheduler's wake-up ([`crate::wait::Waiter`]), and the heap (`try_reserve` by the
//! calls that queue, never by a firing). Never a signal-state lock inside it: observers of
//! watched objects are removed after it is released. Nothing is dropped under it that could
//! be a last reference with a destructor of consequence (packets are plain data; taken
//! registrations and waiters leave through return values). No IRQ handler takes it; the
//! kernel holds it with IRQs masked, as it runs every system call.

use alloc::collections::VecDeque;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use abi::{
    zx_packet_signal_t, zx_port_packet_t, zx_time_t, AbiStruct, Signals, Status, ZX_OBJ_TYPE_PORT,
    ZX_PKT_TYPE_SIGNAL_ONE, ZX_PKT_TYPE_USER, ZX_PORT_BIND_TO_INTERRUPT, ZX_WAIT_ASYNC_ONCE,
    ZX_WAIT_ASYNC_TIMESTAMP,
};

use crate::object::{KernelObject, ObjectBase};
use crate::signal::{Observe, SignalWaker, Wakeup};
use crate::wait::{Blocker, WaitState, Waiter};
use crate::ZxResult;

/// User packets one port may hold (Zircon: an eighth of its 16,384-packet arena).
pub const MAX_USER_PACKETS: usize = 2048;
/// Asynchronous waits one port may have armed or waiting as packets in its queue.
pub const MAX_SIGNAL_PACKETS: usize = 4096;

/// The monotonic clock, for `ZX_WAIT_ASYNC_TIMESTAMP` (read where a signal fires).
pub type Clock = fn() -> zx_time_t;

/// A packet as user memory holds it (`zx_port_packet_t`, 48 bytes): kept in this form so
/// that queueing and taking one copy bytes and convert nothing.
pub type PacketBytes = [u8; PACKET_SIZE];

/// Size of a `zx_port_packet_t`.
pub const PACKET_SIZE: usize = 48;

/// Byte offsets of `key` and `type` in a packet.
const KEY_AT: usize = 0;
const TYPE_AT: usize = 8;

/// One queued packet; `source` is the id of the handle a signal packet's wait was
/// registered through (for `zx_port_cancel`), 0 for a user packet.
#[derive(Clone, Copy)]
struct Queued {
    packet: PacketBytes,
    source: u64,
}

impl Queued {
    fn key(&self) -> u64 {
        let mut key = [0u8; 8];
        key.copy_from_slice(&self.packet[KEY_AT..KEY_AT + 8]);
        u64::from_ne_bytes(key)
    }

    fn is_user(&self) -> bool {
        self.source == 0
    }
}

/// The bytes of `packet`.
pub fn packet_bytes(packet: &zx_port_packet_t) -> PacketBytes {
    let mut bytes = [0u8; PACKET_SIZE];
    bytes.copy_from_slice(packet.to_bytes().as_ref());
    bytes
}

/// The packet of `bytes`.
pub fn packet_of(bytes: &PacketBytes) -> zx_port_packet_t {
    zx_port_packet_t::from_bytes(bytes).unwrap_or_default()
}

struct PortState {
    queue: VecDeque<Queued>,
    /// User packets in `queue`.
    user_count: usize,
    /// Signal packets in `queue`.
    signal_count: usize,
    /// Armed registrations: `queue.capacity() >= queue.len() + reserved` always.
    reserved: usize,
    /// The armed registrations; each knows its index ([`AsyncWait::slot`]).
    registrations: Vec<Arc<AsyncWait>>,
    /// Threads blocked in `zx_port_wait`, oldest first.
    waiters: VecDeque<Arc<PortWaiter>>,
    /// The port's last handle is gone: nothing is queued or registered any more.
    closed: bool,
}

/// The shared part of a port, which its registrations and waiters point to.
pub struct PortQueue {
    /// See the module documentation.
    state: spin::Mutex<PortState>,
    clock: Clock,
}

/// A port object.
pub struct Port {
    base: ObjectBase,
    options: u32,
    queue: Arc<PortQueue>,
}

impl Port {
    /// `zx_port_create`: options 0 or `ZX_PORT_BIND_TO_INTERRUPT`, else `INVALID_ARGS`.
    pub fn new(options: u32, clock: Clock) -> ZxResult<Arc<Port>> {
        if options & !ZX_PORT_BIND_TO_INTERRUPT != 0 {
            return Err(Status::INVALID_ARGS);
        }
        Ok(Arc::new(Port {
            base: ObjectBase::new(Signals::NONE),
            options,
            queue: Arc::new(PortQueue {
                state: spin::Mutex::new(PortState {
                    queue: VecDeque::new(),
                    user_count: 0,
                    signal_count: 0,
                    reserved: 0,
                    registrations: Vec::new(),
                    waiters: VecDeque::new(),
                    closed: false,
                }),
                clock,
            }),
        }))
    }

    pub fn options(&self) -> u32 {
        self.options
    }

    /// `zx_port_queue`: `type` forced to USER, the rest kept. `SHOULD_WAIT` at
    /// [`MAX_USER_PACKETS`]; `BAD_HANDLE` if the port was closed meanwhile.
    pub fn queue_user(&self, packet: &PacketBytes) -> ZxResult {
        let mut state = self.queue.state.lock();
        if state.closed {
            return Err(Status::BAD_HANDLE);
        }
        if state.user_count >= MAX_USER_PACKETS {
            return Err(Status::SHOULD_WAIT);
        }
        if state.waiters.is_empty() {
            let room = state.reserved + 1;
            state
                .queue
                .try_reserve(room)
                .map_err(|_| Status::NO_MEMORY)?;
        }
        let mut queued = Queued {
            packet: *packet,
            source: 0,
        };
        queued.packet[TYPE_AT..TYPE_AT + 4].copy_from_slice(&ZX_PKT_TYPE_USER.to_ne_bytes());
        if state.deliver(queued) {
            state.user_count += 1;
        }
        Ok(())
    }

    /// Takes the oldest packet into `out` if there is one: `zx_port_wait`'s path that does
    /// not block.
    #[inline]
    pub fn try_pop(&self, out: &mut PacketBytes) -> bool {
        let mut state = self.queue.state.lock();
        match state.queue.pop_front() {
            Some(queued) => {
                state.count_out(&queued);
                *out = queued.packet;
                true
            }
            None => false,
        }
    }

    /// `zx_port_wait`: the oldest packet, blocking until one comes, the deadline passes
    /// (`TIMED_OUT`) or the port handle the caller waits through is closed (`CANCELED`).
    /// `register` adds the given observer of no signal to this port's signal state through
    /// that handle (`BAD_HANDLE` if it is gone: reported as `CANCELED`); the observer is
    /// removed before this returns.
    pub fn wait(
        &self,
        deadline: zx_time_t,
        blocker: &dyn Blocker,
        register: impl FnOnce(Arc<dyn SignalWaker>) -> ZxResult<Observe>,
    ) -> ZxResult<PacketBytes> {
        if let Some(packet) = self.queue.state.lock().pop() {
            return Ok(packet);
        }
        if blocker.now() >= deadline {
            return Err(Status::TIMED_OUT);
        }
        let waiter = Arc::new(PortWaiter {
            waiter: Waiter::new(blocker.wake_hook()),
            packet: spin::Mutex::new(None),
            port: self.queue.clone(),
        });
        let observer = match register(waiter.clone()) {
            Ok(Observe::Registered(id)) => id,
            Ok(Observe::Active(_)) => return Err(Status::CANCELED),
            Err(Status::BAD_HANDLE) => return Err(Status::CANCELED),
            Err(status) => return Err(status),
        };
        let result = self.block(&waiter, deadline, blocker);
        self.base.signals().remove_observer(observer);
        result
    }

    fn block(
        &self,
        waiter: &Arc<PortWaiter>,
        deadline: zx_time_t,
        blocker: &dyn Blocker,
    ) -> ZxResult<PacketBytes> {
        {
            let mut state = self.queue.state.lock();
            if let Some(packet) = state.pop() {
                return Ok(packet);
            }
            if !waiter.waiter.is_pending() {
                // Canceled between the registration and here.
                return Err(Status::CANCELED);
            }
            state
                .waiters
                .try_reserve(1)
                .map_err(|_| Status::NO_MEMORY)?;
            state.waiters.push_back(waiter.clone());
        }
        loop {
            match waiter.waiter.state() {
                WaitState::Satisfied(_) => {
                    let queued = waiter.take()?;
                    if blocker.interrupted() {
                        // Killed while the packet was on its way: the thread never returns
                        // to user mode, so the packet goes to the next waiter or back to
                        // the head of the queue instead of being lost with it.
                        self.queue.state.lock().give_back(queued);
                        return Err(Status::CANCELED);
                    }
                    return Ok(queued.packet);
                }
                WaitState::Canceled(_) => return Err(Status::CANCELED),
                WaitState::Pending => {}
            }
            let interrupted = blocker.interrupted();
            if interrupted || blocker.now() >= deadline {
                let mut state = self.queue.state.lock();
                if state.remove_waiter(waiter) {
                    return Err(if interrupted {
                        Status::CANCELED
                    } else {
                        Status::TIMED_OUT
                    });
                }
                drop(state);
                // A packet was handed over (or the handle closed) meanwhile.
                continue;
            }
            blocker.block_until(&waiter.waiter, deadline);
        }
    }

    /// `zx_object_wait_async` once the handles and options are checked: arms a one-shot wait
    /// for `signals` on `watched`, registered through the handle `handle_id`, that queues a
    /// packet with `key`. `register` adds the given observer to `watched`'s signal state
    /// through that handle (as `HandleTable::observe`); if a signal is already active the
    /// packet is queued at once. `NO_MEMORY` (nothing armed) when the port is at
    /// [`MAX_SIGNAL_PACKETS`] or the heap is short.
    #[allow(clippy::too_many_arguments)]
    pub fn wait_async(
        &self,
        watched: &Arc<dyn KernelObject>,
        handle_id: u64,
        key: u64,
        signals: Signals,
        options: u32,
        register: impl FnOnce(Arc<dyn SignalWaker>) -> ZxResult<Observe>,
    ) -> ZxResult {
        let timestamp = match options {
            ZX_WAIT_ASYNC_ONCE => false,
            ZX_WAIT_ASYNC_TIMESTAMP => true,
            _ => return Err(Status::INVALID_ARGS),
        };
        let wait = Arc::new(AsyncWait {
            port: self.queue.clone(),
            watched: Arc::downgrade(watched),
            handle_id,
            key,
            trigger: signals,
            timestamp,
            done: AtomicBool::new(false),
            observer: AtomicU64::new(0),
            slot: AtomicUsize::new(0),
        });
        self.queue.arm(&wait)?;
        match register(wait.clone()) {
            Ok(Observe::Registered(id)) => {
                wait.observer.store(id, Ordering::SeqCst);
                // Taken out by a cancel or the port's close before the id was known: the
                // taker could not remove the observer, so it is removed here.
                if wait.done.load(Ordering::SeqCst) {
                    watched.signals().remove_observer(id);
                }
                Ok(())
            }
            Ok(Observe::Active(observed)) => {
                wait.fire(observed);
                Ok(())
            }
            Err(status) => {
                self.queue.state.lock().take_registration(&wait);
                Err(status)
            }
        }
    }

    /// `zx_port_cancel` once the handles are checked: ends the armed waits registered
    /// through the handle `handle_id` with `key` and drops their queued packets. OK if
    /// anything was removed, else `NOT_FOUND`.
    pub fn cancel(&self, handle_id: u64, key: u64) -> ZxResult {
        let mut removed_packets = false;
        let mut removed_any = false;
        // Taken registrations leave the lock in a list sized beforehand (no allocation
        // under the lock); a list too short for what arrived meanwhile means another round.
        loop {
            let len = self.queue.state.lock().registrations.len();
            let mut taken: Vec<Arc<AsyncWait>> = Vec::new();
            taken.try_reserve(len).map_err(|_| Status::NO_MEMORY)?;
            let more = {
                let mut state = self.queue.state.lock();
                if !removed_packets {
                    removed_packets = true;
                    let before = state.queue.len();
                    state
                        .queue
                        .retain(|q| q.is_user() || !(q.source == handle_id && q.key() == key));
                    let gone = before - state.queue.len();
                    state.signal_count -= gone;
                    removed_any |= gone > 0;
                }
                let mut index = 0;
                while index < state.registrations.len() && taken.len() < taken.capacity() {
                    let wait = &state.registrations[index];
                    if wait.handle_id == handle_id && wait.key == key {
                        let wait = wait.clone();
                        state.take_registration(&wait);
                        taken.push(wait);
                    } else {
                        index += 1;
                    }
                }
                index < state.registrations.len()
            };
            removed_any |= !taken.is_empty();
            purge_watched(&mut taken);
            if !more {
                break;
            }
        }
        if removed_any {
            Ok(())
        } else {
            Err(Status::NOT_FOUND)
        }
    }

    /// Packets queued (for tests and leak checks).
    pub fn queued(&self) -> usize {
        self.queue.state.lock().queue.len()
    }

    /// Armed asynchronous waits (for tests and leak checks).
    pub fn armed(&self) -> usize {
        self.queue.state.lock().registrations.len()
    }
}

impl KernelObject for Port {
    fn base(&self) -> &ObjectBase {
        &self.base
    }

    fn object_type(&self) -> u32 {
        ZX_OBJ_TYPE_PORT
    }

    fn waitable(&self) -> bool {
        false
    }

    /// The last handle is gone: the queue is dropped and every armed wait aimed at the port
    /// is taken off its watched object. Threads still in `zx_port_wait` were canceled by
    /// the closes of their handles.
    fn on_zero_handles(&self) {
        let (queue, registrations, waiters) = {
            let mut state = self.queue.state.lock();
            state.closed = true;
            state.user_count = 0;
            state.signal_count = 0;
            state.reserved = 0;
            let registrations = core::mem::take(&mut state.registrations);
            for wait in &registrations {
                wait.done.store(true, Ordering::SeqCst);
            }
            (
                core::mem::take(&mut state.queue),
                registrations,
                core::mem::take(&mut state.waiters),
            )
        };
        let mut registrations = registrations;
        purge_watched(&mut registrations);
        for waiter in &waiters {
            waiter
                .waiter
                .complete(Wakeup::Canceled(Signals::HANDLE_CLOSED));
        }
        drop((queue, registrations, waiters));
    }
}

impl PortState {
    /// Hands `queued` to the oldest waiter, or queues it (the caller made room). Returns
    /// whether it was queued.
    fn deliver(&mut self, queued: Queued) -> bool {
        if let Some(waiter) = self.waiters.pop_front() {
            *waiter.packet.lock() = Some(queued);
            waiter.waiter.complete(Wakeup::Satisfied(Signals::NONE));
            false
        } else {
            // Room made by the caller: no allocation here.
            self.queue.push_back(queued);
            true
        }
    }

    /// A packet handed to a waiter that will not take it (killed): to the next waiter, or
    /// back at the head of the queue. Room for the armed waits' packets stays reserved; if
    /// the heap cannot give one more slot, or the port was closed, the packet is dropped.
    fn give_back(&mut self, queued: Queued) {
        if let Some(waiter) = self.waiters.pop_front() {
            *waiter.packet.lock() = Some(queued);
            waiter.waiter.complete(Wakeup::Satisfied(Signals::NONE));
            return;
        }
        if self.closed || self.queue.try_reserve(self.reserved + 1).is_err() {
            return;
        }
        if queued.is_user() {
            self.user_count += 1;
        } else {
            self.signal_count += 1;
        }
        self.queue.push_front(queued);
    }

    /// The oldest packet, if any.
    fn pop(&mut self) -> Option<PacketBytes> {
        let queued = self.queue.pop_front()?;
        self.count_out(&queued);
        Some(queued.packet)
    }

    /// `queued` left the queue.
    #[inline]
    fn count_out(&mut self, queued: &Queued) {
        if queued.is_user() {
            self.user_count -= 1;
        } else {
            self.signal_count -= 1;
        }
    }

    fn remove_waiter(&mut self, waiter: &Arc<PortWaiter>) -> bool {
        match self.waiters.iter().position(|w| Arc::ptr_eq(w, waiter)) {
            Some(index) => {
                self.waiters.remove(index);
                true
            }
            None => false,
        }
    }

    /// Takes `wait` out of the armed list if it is still there (it is then done and its
    /// reserved room given back). Returns whether it was.
    fn take_registration(&mut self, wait: &AsyncWait) -> bool {
        let index = wait.slot.load(Ordering::Relaxed);
        match self.registrations.get(index) {
            Some(entry) if core::ptr::eq(Arc::as_ptr(entry), wait) => {}
            _ => return false,
        }
        self.registrations.swap_remove(index);
        if let Some(moved) = self.registrations.get(index) {
            moved.slot.store(index, Ordering::Relaxed);
        }
        self.reserved -= 1;
        wait.done.store(true, Ordering::SeqCst);
        true
    }
}

impl PortQueue {
    /// Adds `wait` to the armed list with room for its packet.
    fn arm(&self, wait: &Arc<AsyncWait>) -> ZxResult {
        let mut state = self.state.lock();
        if state.closed {
            return Err(Status::BAD_HANDLE);
        }
        if state.registrations.len() + state.signal_count >= MAX_SIGNAL_PACKETS {
            return Err(Status::NO_MEMORY);
        }
        let room = state.reserved + 1;
        state
            .queue
            .try_reserve(room)
            .map_err(|_| Status::NO_MEMORY)?;
        state
            .registrations
            .try_reserve(1)
            .map_err(|_| Status::NO_MEMORY)?;
        wait.slot
            .store(state.registrations.len(), Ordering::Relaxed);
        state.registrations.push(wait.clone());
        state.reserved += 1;
        Ok(())
    }
}

/// One armed `zx_object_wait_async`: an observer of the watched object's signals.
pub struct AsyncWait {
    port: Arc<PortQueue>,
    /// Weak: the watched object's observer list holds this wait.
    watched: Weak<dyn KernelObject>,
    handle_id: u64,
    key: u64,
    trigger: Signals,
    timestamp: bool,
    /// Set (under the port lock) by whoever took the wait out of the armed list.
    done: AtomicBool,
    /// The observer id in the watched object's signal state, 0 until known.
    observer: AtomicU64,
    /// Index in [`PortState::registrations`], kept under the port lock.
    slot: AtomicUsize,
}

impl AsyncWait {
    /// The watched signals are active (`observed`): queues the packet if the wait is still
    /// armed. Allocates nothing (room reserved at arming).
    fn fire(&self, observed: Signals) {
        let timestamp = if self.timestamp {
            (self.port.clock)()
        } else {
            0
        };
        let mut state = self.port.state.lock();
        if !state.take_registration(self) {
            return;
        }
        let signal = zx_packet_signal_t {
            trigger: self.trigger.bits(),
            observed: observed.bits(),
            count: 1,
            timestamp,
            reserved1: 0,
        };
        let mut payload = [0u8; 32];
        payload.copy_from_slice(signal.to_bytes().as_ref());
        let queued = Queued {
            packet: packet_bytes(&zx_port_packet_t {
                key: self.key,
                type_: ZX_PKT_TYPE_SIGNAL_ONE,
                status: 0,
                payload,
            }),
            source: self.handle_id,
        };
        if state.deliver(queued) {
            state.signal_count += 1;
        }
    }

    /// The watched object's address, to group waits by object.
    fn watched_key(&self) -> usize {
        self.watched.as_ptr() as *const () as usize
    }
}

/// Removes the observers of `waits` (taken out of their port's armed list, so dead) from
/// their watched objects, with no port lock held: sorted by object, one pass over each
/// object's observer list ([`crate::signal::SignalState::purge`]), so the work is linear
/// in the observers however many of the waits share an object. An observer whose id was not
/// known yet is removed by its arming call itself.
fn purge_watched(waits: &mut [Arc<AsyncWait>]) {
    waits.sort_unstable_by_key(|wait| wait.watched_key());
    for run in waits.chunk_by(|a, b| a.watched_key() == b.watched_key()) {
        if let Some(watched) = run[0].watched.upgrade() {
            watched.signals().purge();
        }
    }
}

impl SignalWaker for AsyncWait {
    fn is_dead(&self) -> bool {
        self.done.load(Ordering::SeqCst)
    }

    fn complete(&self, wakeup: Wakeup) {
        // The watched object's signal lock is held: only the port's lock is taken.
        match wakeup {
            Wakeup::Satisfied(observed) => self.fire(observed),
            // The watched handle was closed: the wait ends without a packet.
            Wakeup::Canceled(_) => {
                self.port.state.lock().take_registration(self);
            }
        }
    }
}

/// A thread blocked in `zx_port_wait`. It observes its port's own signal state (no signal,
/// only the close of the handle it waits through) and receives a packet directly.
pub struct PortWaiter {
    waiter: Waiter,
    packet: spin::Mutex<Option<Queued>>,
    port: Arc<PortQueue>,
}

impl PortWaiter {
    fn take(&self) -> ZxResult<Queued> {
        self.packet.lock().take().ok_or(Status::CANCELED)
    }
}

impl SignalWaker for PortWaiter {
    /// The port handle was closed: the waiter leaves the port's list and returns CANCELED,
    /// unless a packet reached it first.
    fn complete(&self, wakeup: Wakeup) {
        let mut state = self.port.state.lock();
        let position = state
            .waiters
            .iter()
            .position(|w| core::ptr::eq(Arc::as_ptr(w), self));
        if let Some(index) = position {
            state.waiters.remove(index);
        }
        // A waiter that already got its packet ignores this (the first result stays); one
        // not yet in the list finds itself canceled before it enters it.
        self.waiter.complete(wakeup);
    }
}
