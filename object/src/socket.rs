//! Sockets: a pair of endpoints carrying a byte stream or datagrams each way.
//!
//! Each [`Socket`] is one endpoint. Bytes written to an endpoint wait in its peer's receive
//! buffer, which holds at most [`RX_BUF_MAX`] bytes (a datagram is charged its payload). The
//! buffer takes heap memory as data arrives, in chunks of at least [`SMALL_CHUNK`] bytes
//! that later small writes fill, and gives each chunk back once it is read; nothing is
//! allocated up front. A datagram socket keeps the same bytes plus one length per datagram.
//!
//! User memory is never touched with the lock held: a write copies the user's bytes into a
//! chunk of its own first (a closure the caller passes, outside the lock) and then links it
//! in. A read runs in three steps: it claims the endpoint's read side (`Side::reading`),
//! copies the bytes it will return into a buffer of its own under the lock, hands them to the
//! caller's copy without the lock, and only then removes them (commit). Until the commit the
//! bytes stay in the receive buffer, so they still count against its room (a writer cannot
//! overfill it), keep READABLE set and keep the endpoint non-empty for `set_disposition` and
//! for "data written before the peer closed stays readable"; a copy that faults just drops
//! the claim, nothing to put back, nothing to allocate, nothing lost.
//!
//! One read (or peek) of an endpoint is in flight at a time: while one is, another read of
//! the same endpoint returns SHOULD_WAIT even though READABLE is set (it may retry at once;
//! the claim lasts one copy). This keeps the stream in order between concurrent readers and
//! makes every read a fixed number of lock holds, with no retry loop.
//!
//! Signals of an endpoint E (recomputed after every change):
//! - `SOCKET_READABLE` while E's receive buffer holds data;
//! - `SOCKET_WRITABLE` while the peer is open, E's writes are enabled and the peer's buffer
//!   has room;
//! - `SOCKET_PEER_CLOSED` once the peer is gone;
//! - `SOCKET_WRITE_DISABLED` / `SOCKET_PEER_WRITE_DISABLED` while E's / the peer's writes are
//!   disabled (`zx_socket_set_disposition`).
//!
//! # Locking
//! `Shared::sides` (one per socket, both endpoints): both receive buffers, the closed and
//! write-disabled flags. Inside it: the endpoints' signal states (whose wake-ups take a
//! waiter's lock, then in the kernel the scheduler's) and the heap (a buffer's chunk list
//! grows, a small write is copied into the last chunk). No user memory, no sleep, no handle
//! dropped with it held. Never taken by an IRQ handler; the kernel holds it with IRQs masked,
//! at most for a copy of [`RX_BUF_MAX`] bytes between kernel buffers.

use alloc::collections::VecDeque;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;

use abi::{
    zx_info_socket_t, Signals, Status, ZX_OBJ_TYPE_SOCKET, ZX_SOCKET_DATAGRAM,
    ZX_SOCKET_DISPOSITION_WRITE_DISABLED, ZX_SOCKET_DISPOSITION_WRITE_ENABLED, ZX_SOCKET_STREAM,
};

use crate::koid::Koid;
use crate::object::{KernelObject, ObjectBase};
use crate::ZxResult;

/// Capacity of each endpoint's receive buffer (Zircon's 128 mbufs of 2,008 bytes).
pub const RX_BUF_MAX: usize = 257_024;
/// Smallest chunk a write allocates: later small writes fill what it leaves.
pub const SMALL_CHUNK: usize = 512;

/// The socket signals this module computes (the user signals are left alone).
const SOCKET_SIGNALS: Signals = Signals::from_bits(
    Signals::SOCKET_READABLE.bits()
        | Signals::SOCKET_WRITABLE.bits()
        | Signals::SOCKET_PEER_CLOSED.bits()
        | Signals::SOCKET_PEER_WRITE_DISABLED.bits()
        | Signals::SOCKET_WRITE_DISABLED.bits(),
);

/// The bytes waiting in one receive buffer: chunks in order, the first read from `head` on.
#[derive(Default)]
struct ByteQueue {
    chunks: VecDeque<Vec<u8>>,
    /// Bytes of the first chunk already read.
    head: usize,
    /// Bytes waiting (sum of the chunks' lengths minus `head`).
    len: usize,
}

impl ByteQueue {
    /// Links `data` in at the end: copied into the last chunk's spare room if it is small and
    /// fits, else linked as a chunk of its own. NO_MEMORY (nothing changed) if the chunk list
    /// cannot grow. Returns the buffer to free (outside the lock) when it was copied.
    fn push(&mut self, data: Vec<u8>) -> ZxResult<Option<Vec<u8>>> {
        if data.is_empty() {
            return Ok(Some(data));
        }
        if data.len() <= SMALL_CHUNK {
            if let Some(last) = self.chunks.back_mut() {
                if last.capacity() - last.len() >= data.len() {
                    last.extend_from_slice(&data);
                    self.len += data.len();
                    return Ok(Some(data));
                }
            }
        }
        self.chunks.try_reserve(1).map_err(|_| Status::NO_MEMORY)?;
        self.len += data.len();
        self.chunks.push_back(data);
        Ok(None)
    }

    /// Copies the first `out.len()` bytes (at most `len`) into `out` without removing them.
    fn peek(&self, out: &mut [u8]) {
        let mut done = 0;
        let mut skip = self.head;
        for chunk in &self.chunks {
            if done == out.len() {
                break;
            }
            let part = &chunk[skip.min(chunk.len())..];
            skip = 0;
            let n = part.len().min(out.len() - done);
            out[done..done + n].copy_from_slice(&part[..n]);
            done += n;
        }
    }

    /// Removes the first `count` bytes (at most `len`), freeing the chunks read whole.
    fn discard(&mut self, count: usize) {
        let mut left = count.min(self.len);
        self.len -= left;
        while left > 0 {
            let Some(first) = self.chunks.front() else {
                break;
            };
            let in_first = first.len() - self.head;
            if left < in_first {
                self.head += left;
                break;
            }
            left -= in_first;
            self.head = 0;
            self.chunks.pop_front();
        }
        if self.chunks.is_empty() {
            // Give the list's own memory back too.
            self.chunks = VecDeque::new();
            self.head = 0;
        }
    }
}

/// One endpoint's receive side.
#[derive(Default)]
struct Side {
    bytes: ByteQueue,
    /// Datagram sockets: the length of each datagram in `bytes`, in order.
    datagrams: VecDeque<u32>,
    /// The endpoint is gone (its last handle closed): writes to it fail, its buffer is freed.
    closed: bool,
    /// The endpoint's own writes are disabled.
    write_disabled: bool,
    /// A read (or peek) of this endpoint is in flight: the bytes it returns are still in
    /// `bytes` (removed at its commit) and other reads get SHOULD_WAIT meanwhile.
    reading: bool,
}

/// What the two endpoints share.
struct Shared {
    datagram: bool,
    /// Protects both sides (see the module doc for what nests inside); IRQs masked, as the
    /// kernel runs.
    sides: spin::Mutex<[Side; 2]>,
}

/// One endpoint of a socket.
pub struct Socket {
    base: ObjectBase,
    /// Index of this endpoint in `shared.sides`; the peer is `1 - side`.
    side: usize,
    peer: Weak<Socket>,
    peer_koid: Koid,
    shared: Arc<Shared>,
}

/// Freed after the lock is released.
type Garbage = Option<Vec<u8>>;

impl Socket {
    /// A new pair: `options` is `ZX_SOCKET_STREAM` or `ZX_SOCKET_DATAGRAM` (else
    /// INVALID_ARGS). Both endpoints start `WRITABLE`.
    pub fn create(options: u32) -> ZxResult<(Arc<Socket>, Arc<Socket>)> {
        if options != ZX_SOCKET_STREAM && options != ZX_SOCKET_DATAGRAM {
            return Err(Status::INVALID_ARGS);
        }
        let shared = Arc::new(Shared {
            datagram: options == ZX_SOCKET_DATAGRAM,
            sides: spin::Mutex::new([Side::default(), Side::default()]),
        });
        let base0 = ObjectBase::new(Signals::SOCKET_WRITABLE);
        let base1 = ObjectBase::new(Signals::SOCKET_WRITABLE);
        let (koid0, koid1) = (base0.koid(), base1.koid());
        let mut second = None;
        let first = Arc::new_cyclic(|weak_first| {
            let endpoint1 = Arc::new(Socket {
                base: base1,
                side: 1,
                peer: weak_first.clone(),
                peer_koid: koid0,
                shared: shared.clone(),
            });
            let weak_second = Arc::downgrade(&endpoint1);
            second = Some(endpoint1);
            Socket {
                base: base0,
                side: 0,
                peer: weak_second,
                peer_koid: koid1,
                shared,
            }
        });
        let second = second.ok_or(Status::INTERNAL)?;
        Ok((first, second))
    }

    /// The `zx_socket_create` options.
    pub fn options(&self) -> u32 {
        if self.shared.datagram {
            ZX_SOCKET_DATAGRAM
        } else {
            ZX_SOCKET_STREAM
        }
    }

    /// Sets both endpoints' socket signals from the state (lock held).
    fn update_signals(&self, sides: &[Side; 2], peer: Option<&Arc<Socket>>) {
        let me = self.side;
        let compute = |e: usize| {
            let mut signals = Signals::NONE;
            let (own, other) = (&sides[e], &sides[1 - e]);
            if own.bytes.len > 0 {
                signals |= Signals::SOCKET_READABLE;
            }
            if other.closed {
                signals |= Signals::SOCKET_PEER_CLOSED;
            } else if !own.write_disabled && other.bytes.len < RX_BUF_MAX {
                signals |= Signals::SOCKET_WRITABLE;
            }
            if own.write_disabled {
                signals |= Signals::SOCKET_WRITE_DISABLED;
            }
            if other.write_disabled {
                signals |= Signals::SOCKET_PEER_WRITE_DISABLED;
            }
            signals
        };
        if !sides[me].closed {
            self.base.signals().update(SOCKET_SIGNALS, compute(me));
        }
        if let Some(peer) = peer {
            if !sides[1 - me].closed {
                peer.base.signals().update(SOCKET_SIGNALS, compute(1 - me));
            }
        }
    }

    /// Checks a write of `len` bytes could go through now and returns how many bytes it would
    /// take: PEER_CLOSED, BAD_STATE (own writes disabled), then (for `len` > 0) SHOULD_WAIT
    /// when there is no room (a datagram needs room for all of it), OUT_OF_RANGE for a
    /// datagram larger than the buffer.
    fn room_for(&self, sides: &[Side; 2], len: usize) -> ZxResult<usize> {
        let (own, peer) = (&sides[self.side], &sides[1 - self.side]);
        if own.closed {
            // Closed by another thread since the call looked it up.
            return Err(Status::BAD_HANDLE);
        }
        if peer.closed {
            return Err(Status::PEER_CLOSED);
        }
        if own.write_disabled {
            return Err(Status::BAD_STATE);
        }
        if len == 0 {
            return Ok(0);
        }
        if u32::try_from(len).is_err() {
            return Err(Status::INVALID_ARGS);
        }
        let room = RX_BUF_MAX - peer.bytes.len.min(RX_BUF_MAX);
        if self.shared.datagram {
            if len > RX_BUF_MAX {
                return Err(Status::OUT_OF_RANGE);
            }
            if len > room {
                return Err(Status::SHOULD_WAIT);
            }
            Ok(len)
        } else if room == 0 {
            Err(Status::SHOULD_WAIT)
        } else {
            Ok(len.min(room))
        }
    }

    /// `zx_socket_write` of `len` bytes that `fill` supplies: it is called without the lock
    /// with an empty buffer that has room for the bytes to copy and must append exactly the
    /// first `n` bytes of the user's data (`n` given), or fail (its error is returned and
    /// nothing is queued). Returns the bytes written: a stream write may be short, a datagram
    /// never is. Errors as [`Socket::room_for`], NO_MEMORY (nothing changed).
    pub fn write(
        &self,
        len: usize,
        fill: impl FnOnce(&mut Vec<u8>, usize) -> ZxResult,
    ) -> ZxResult<usize> {
        let want = {
            let sides = self.shared.sides.lock();
            self.room_for(&sides, len)?
        };
        if want == 0 {
            return Ok(0);
        }
        let mut data = Vec::new();
        // A small write gets a chunk later small writes can fill.
        data.try_reserve_exact(want.max(SMALL_CHUNK))
            .map_err(|_| Status::NO_MEMORY)?;
        fill(&mut data, want)?;
        if data.len() != want {
            return Err(Status::INTERNAL);
        }
        let peer = self.peer.upgrade();
        let (result, garbage) = self.commit(data, peer.as_ref());
        drop(garbage);
        drop(peer);
        result
    }

    /// Links `data` (copied from the user) into the peer's buffer, re-checking the state
    /// that may have changed while it was copied. A stream write is cut to the room left.
    fn commit(&self, mut data: Vec<u8>, peer: Option<&Arc<Socket>>) -> (ZxResult<usize>, Garbage) {
        let mut sides = self.shared.sides.lock();
        let n = match self.room_for(&sides, data.len()) {
            Ok(n) => n,
            Err(status) => return (Err(status), Some(data)),
        };
        data.truncate(n);
        let datagram = self.shared.datagram;
        let destination = &mut sides[1 - self.side];
        if datagram && destination.datagrams.try_reserve(1).is_err() {
            return (Err(Status::NO_MEMORY), Some(data));
        }
        let garbage = match destination.bytes.push(data) {
            Ok(garbage) => garbage,
            Err(status) => return (Err(status), None),
        };
        if datagram {
            // At most RX_BUF_MAX: fits.
            destination.datagrams.push_back(n as u32);
        }
        self.update_signals(&sides, peer);
        (Ok(n), garbage)
    }

    /// `zx_socket_read` of at most `size` bytes (`peek`: without removing them). `copy_out`
    /// gets the bytes without the lock held; if it fails, its error is returned and nothing
    /// changed (the bytes never left the buffer). Empty buffer: PEER_CLOSED if the peer is
    /// gone, BAD_STATE if its writes are disabled, else SHOULD_WAIT; SHOULD_WAIT also while
    /// another read of this endpoint is in flight. Datagrams: the first one, cut to `size`
    /// (the rest of it is discarded). NO_MEMORY: nothing changed.
    pub fn read(
        &self,
        size: usize,
        peek: bool,
        copy_out: impl FnOnce(&[u8]) -> ZxResult,
    ) -> ZxResult<usize> {
        let count = self.read_claim(size)?;
        let staging = match self.read_take(count) {
            Ok(staging) => staging,
            Err(status) => {
                self.read_release();
                return Err(status);
            }
        };
        let result = copy_out(&staging);
        let peer = self.peer.upgrade();
        self.read_commit(result.is_ok() && !peek, count, peer.as_ref());
        // Freed without the lock.
        drop(staging);
        drop(peer);
        result.map(|()| count)
    }

    /// Read step 1: claims the read side and returns how many bytes the read copies. The
    /// claim keeps the front of the buffer as it is now until [`Socket::read_commit`] or
    /// [`Socket::read_release`]: only a read removes bytes (or a close, which ends it all).
    fn read_claim(&self, size: usize) -> ZxResult<usize> {
        let mut sides = self.shared.sides.lock();
        let count = self.next_read(&sides, size)?;
        sides[self.side].reading = true;
        Ok(count)
    }

    /// Read step 2: the first `count` bytes, copied into a buffer allocated without the lock
    /// (still in the receive buffer). BAD_HANDLE if the endpoint closed since the claim.
    fn read_take(&self, count: usize) -> ZxResult<Vec<u8>> {
        let mut staging = Vec::new();
        staging
            .try_reserve_exact(count)
            .map_err(|_| Status::NO_MEMORY)?;
        let sides = self.shared.sides.lock();
        let own = &sides[self.side];
        if own.closed {
            return Err(Status::BAD_HANDLE);
        }
        // Within the capacity reserved above: no allocation under the lock. The claim keeps
        // at least `count` bytes buffered (see `read_claim`).
        staging.resize(count, 0);
        own.bytes.peek(&mut staging);
        Ok(staging)
    }

    /// Read step 3: drops the claim; `remove` (the copy out succeeded and it was no peek):
    /// the `count` bytes read leave the buffer now (a datagram whole, also when cut).
    fn read_commit(&self, remove: bool, count: usize, peer: Option<&Arc<Socket>>) {
        let mut sides = self.shared.sides.lock();
        let own = &mut sides[self.side];
        own.reading = false;
        if !remove || own.closed {
            return;
        }
        // The claim kept the front as it was when the bytes were copied: the stream's first
        // `count` bytes, the datagram at the front.
        let whole = if self.shared.datagram {
            let whole = own.datagrams.pop_front().map_or(0, |n| n as usize);
            if own.datagrams.is_empty() {
                own.datagrams = VecDeque::new();
            }
            whole
        } else {
            count
        };
        own.bytes.discard(whole);
        self.update_signals(&sides, peer);
    }

    /// Drops the claim of a read that took nothing.
    fn read_release(&self) {
        self.shared.sides.lock()[self.side].reading = false;
    }

    /// How many bytes the next read of `size` copies (lock held): errors as
    /// [`Socket::read`].
    fn next_read(&self, sides: &[Side; 2], size: usize) -> ZxResult<usize> {
        let (own, other) = (&sides[self.side], &sides[1 - self.side]);
        if own.closed {
            return Err(Status::BAD_HANDLE);
        }
        if own.bytes.len == 0 {
            return Err(if other.closed {
                Status::PEER_CLOSED
            } else if other.write_disabled {
                Status::BAD_STATE
            } else {
                Status::SHOULD_WAIT
            });
        }
        if own.reading {
            // Another read's bytes are still in front (see the module doc).
            return Err(Status::SHOULD_WAIT);
        }
        if self.shared.datagram {
            let whole = own.datagrams.front().map_or(0, |&n| n as usize);
            Ok(whole.min(size))
        } else {
            Ok(own.bytes.len.min(size))
        }
    }

    /// `zx_socket_set_disposition`: each argument 0, WRITE_DISABLED or WRITE_ENABLED
    /// (INVALID_ARGS). Enabling an endpoint's writes while they are disabled and its data is
    /// unread: BAD_STATE, nothing changes. With the peer gone only the local part applies.
    pub fn set_disposition(&self, disposition: u32, disposition_peer: u32) -> ZxResult {
        let valid = |d: u32| {
            d == 0
                || d == ZX_SOCKET_DISPOSITION_WRITE_DISABLED
                || d == ZX_SOCKET_DISPOSITION_WRITE_ENABLED
        };
        if !valid(disposition) || !valid(disposition_peer) {
            return Err(Status::INVALID_ARGS);
        }
        let peer = self.peer.upgrade();
        let mut sides = self.shared.sides.lock();
        let me = self.side;
        if sides[me].closed {
            return Err(Status::BAD_HANDLE);
        }
        let peer_open = !sides[1 - me].closed;
        // Endpoint `e` may enable again only once the data it wrote is read.
        let may_enable =
            |sides: &[Side; 2], e: usize| !sides[e].write_disabled || sides[1 - e].bytes.len == 0;
        if disposition == ZX_SOCKET_DISPOSITION_WRITE_ENABLED && !may_enable(&sides, me) {
            return Err(Status::BAD_STATE);
        }
        if peer_open
            && disposition_peer == ZX_SOCKET_DISPOSITION_WRITE_ENABLED
            && !may_enable(&sides, 1 - me)
        {
            return Err(Status::BAD_STATE);
        }
        let apply = |side: &mut Side, d: u32| match d {
            ZX_SOCKET_DISPOSITION_WRITE_DISABLED => side.write_disabled = true,
            ZX_SOCKET_DISPOSITION_WRITE_ENABLED => side.write_disabled = false,
            _ => {}
        };
        apply(&mut sides[me], disposition);
        if peer_open {
            apply(&mut sides[1 - me], disposition_peer);
        }
        self.update_signals(&sides, peer.as_ref());
        drop(sides);
        drop(peer);
        Ok(())
    }

    /// `zx_object_signal_peer` on a socket: clears then sets the peer's user signals.
    /// INVALID_ARGS for other bits, PEER_CLOSED once the peer is gone.
    pub fn signal_peer(&self, clear: Signals, set: Signals) -> ZxResult {
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
        drop(peer);
        result
    }

    /// `ZX_INFO_SOCKET`.
    pub fn info(&self) -> zx_info_socket_t {
        let sides = self.shared.sides.lock();
        let (own, other) = (&sides[self.side], &sides[1 - self.side]);
        let available = if self.shared.datagram {
            own.datagrams.front().map_or(0, |&n| n as usize)
        } else {
            own.bytes.len
        };
        zx_info_socket_t {
            options: self.options(),
            rx_buf_max: RX_BUF_MAX,
            rx_buf_size: own.bytes.len,
            rx_buf_available: available,
            tx_buf_max: RX_BUF_MAX,
            tx_buf_size: if other.closed { 0 } else { other.bytes.len },
            ..Default::default()
        }
    }

    /// Bytes waiting in this endpoint's receive buffer.
    pub fn buffered(&self) -> usize {
        self.shared.sides.lock()[self.side].bytes.len
    }

    /// Marks this endpoint closed, frees its buffer (outside the lock) and tells the peer.
    fn close(&self) {
        let peer = self.peer.upgrade();
        let freed = {
            let mut sides = self.shared.sides.lock();
            if sides[self.side].closed {
                None
            } else {
                sides[self.side].closed = true;
                let side = &mut sides[self.side];
                let bytes = core::mem::take(&mut side.bytes);
                let datagrams = core::mem::take(&mut side.datagrams);
                self.update_signals(&sides, peer.as_ref());
                Some((bytes, datagrams))
            }
        };
        // At most RX_BUF_MAX / SMALL_CHUNK + 1 chunks (a chunk holds at least one write of
        // SMALL_CHUNK or more, or several small ones): a bounded loop of frees.
        drop(freed);
        drop(peer);
    }
}

impl KernelObject for Socket {
    fn base(&self) -> &ObjectBase {
        &self.base
    }

    fn object_type(&self) -> u32 {
        ZX_OBJ_TYPE_SOCKET
    }

    fn related_koid(&self) -> Koid {
        self.peer_koid
    }

    fn on_zero_handles(&self) {
        self.close();
    }

    fn signal_peer(&self, clear: Signals, set: Signals) -> ZxResult {
        Socket::signal_peer(self, clear, set)
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        self.close();
    }
}

#[cfg(test)]
mod tests;
