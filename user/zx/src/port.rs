//! [`Port`], [`Packet`], [`Event`], [`EventPair`] and [`object_wait_many`].
//!
//! A port is the heart of an event loop: [`Port::queue`] user packets, arm one-shot signal
//! waits with [`Port::wait_async`] (or [`AsHandleRef::wait_async_handle`]), and take packets
//! in order with [`Port::wait`].

use crate::handle::{buf_ptr_mut, handle_type};
use crate::sys::{self, zx_packet_signal_t, zx_port_packet_t, zx_wait_item_t};
use crate::{ok, AsHandleRef, Result, Signals, Status, Time};
use abi::AbiStruct;

handle_type!(
    /// A port: a queue of packets.
    Port
);

handle_type!(
    /// An event: signals user code sets and clears.
    Event
);

handle_type!(
    /// One endpoint of an event pair.
    EventPair
);

/// What a packet carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PacketContents {
    /// A packet queued by [`Port::queue`]: its 32 payload bytes.
    User([u8; 32]),
    /// A packet of a one-shot signal wait.
    SignalOne(zx_packet_signal_t),
    /// Another kind (`type` and raw payload).
    Other(u32, [u8; 32]),
}

/// A port packet (`zx_port_packet_t`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(transparent)]
pub struct Packet(pub zx_port_packet_t);

impl Packet {
    /// A user packet with `key`, `status` and a 32-byte payload.
    pub fn from_user(key: u64, status: Status, payload: [u8; 32]) -> Packet {
        Packet(zx_port_packet_t {
            key,
            type_: sys::ZX_PKT_TYPE_USER,
            status: status.into_raw(),
            payload,
        })
    }

    /// The key.
    pub fn key(&self) -> u64 {
        self.0.key
    }

    /// The status.
    pub fn status(&self) -> Status {
        Status::from_raw(self.0.status)
    }

    /// The `ZX_PKT_TYPE_*` value.
    pub fn packet_type(&self) -> u32 {
        self.0.type_
    }

    /// The contents, decoded by type.
    pub fn contents(&self) -> PacketContents {
        match self.0.type_ {
            sys::ZX_PKT_TYPE_USER => PacketContents::User(self.0.payload),
            sys::ZX_PKT_TYPE_SIGNAL_ONE => match zx_packet_signal_t::from_bytes(&self.0.payload) {
                Some(signal) => PacketContents::SignalOne(signal),
                None => PacketContents::Other(self.0.type_, self.0.payload),
            },
            other => PacketContents::Other(other, self.0.payload),
        }
    }

    /// For a signal packet: the signals observed when it was queued.
    pub fn observed(&self) -> Option<Signals> {
        match self.contents() {
            PacketContents::SignalOne(s) => Some(Signals::from_bits(s.observed)),
            _ => None,
        }
    }
}

/// Options of [`Port::wait_async`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum WaitAsyncOpts {
    /// `ZX_WAIT_ASYNC_ONCE`.
    #[default]
    Once,
    /// `ZX_WAIT_ASYNC_TIMESTAMP`: the packet carries the trigger time.
    Timestamp,
}

impl WaitAsyncOpts {
    fn bits(self) -> u32 {
        match self {
            WaitAsyncOpts::Once => sys::ZX_WAIT_ASYNC_ONCE,
            WaitAsyncOpts::Timestamp => sys::ZX_WAIT_ASYNC_TIMESTAMP,
        }
    }
}

impl Port {
    /// `zx_port_create(0, ..)`.
    pub fn create() -> Result<Port> {
        Self::create_with_options(0)
    }

    /// `zx_port_create(options, ..)`.
    pub fn create_with_options(options: u32) -> Result<Port> {
        let mut raw = 0;
        // SAFETY: `raw` is a valid place for the handle.
        ok(unsafe { sys::zx_port_create(options, &mut raw) })?;
        // SAFETY: the kernel just gave us this handle.
        Ok(unsafe { Port::from_raw(raw) })
    }

    /// `zx_port_queue`: queues a user packet (`SHOULD_WAIT` when the port holds 2048).
    pub fn queue(&self, packet: &Packet) -> Result<()> {
        // SAFETY: `packet` is a valid packet to read.
        ok(unsafe { sys::zx_port_queue(self.raw_handle(), &packet.0) })
    }

    /// `zx_port_wait`: the oldest packet, or `TIMED_OUT` at `deadline`.
    pub fn wait(&self, deadline: Time) -> Result<Packet> {
        let mut packet = Packet::default();
        // SAFETY: `packet` is a valid place for a packet.
        ok(unsafe { sys::zx_port_wait(self.raw_handle(), deadline.into_nanos(), &mut packet.0) })?;
        Ok(packet)
    }

    /// `zx_object_wait_async(source, self, key, signals, options)`: one packet with `key`
    /// when one of `signals` becomes active on `source` (at once if already).
    pub fn wait_async<H: AsHandleRef + ?Sized>(
        &self,
        source: &H,
        key: u64,
        signals: Signals,
        options: WaitAsyncOpts,
    ) -> Result<()> {
        // SAFETY: no memory is passed.
        ok(unsafe {
            sys::zx_object_wait_async(
                source.raw_handle(),
                self.raw_handle(),
                key,
                signals.bits(),
                options.bits(),
            )
        })
    }

    /// `zx_port_cancel(self, source, key)`: ends the armed waits of `source` with `key` and
    /// drops their queued packets (`NOT_FOUND` if there were none).
    pub fn cancel<H: AsHandleRef + ?Sized>(&self, source: &H, key: u64) -> Result<()> {
        // SAFETY: no memory is passed.
        ok(unsafe { sys::zx_port_cancel(self.raw_handle(), source.raw_handle(), key) })
    }
}

impl Event {
    /// `zx_event_create(0, ..)`: no signal active.
    pub fn create() -> Result<Event> {
        let mut raw = 0;
        // SAFETY: `raw` is a valid place for the handle.
        ok(unsafe { sys::zx_event_create(0, &mut raw) })?;
        // SAFETY: the kernel just gave us this handle.
        Ok(unsafe { Event::from_raw(raw) })
    }
}

impl EventPair {
    /// `zx_eventpair_create(0, ..)`: two endpoints, each the other's peer.
    pub fn create() -> Result<(EventPair, EventPair)> {
        let (mut raw0, mut raw1) = (0, 0);
        // SAFETY: both are valid places for a handle.
        ok(unsafe { sys::zx_eventpair_create(0, &mut raw0, &mut raw1) })?;
        // SAFETY: the kernel just gave us these handles.
        Ok(unsafe { (EventPair::from_raw(raw0), EventPair::from_raw(raw1)) })
    }

    /// `zx_object_signal_peer`: clears then sets signals of the peer.
    pub fn signal_peer(&self, clear_mask: Signals, set_mask: Signals) -> Result<()> {
        AsHandleRef::signal_peer(self, clear_mask, set_mask)
    }
}

/// One item of [`object_wait_many`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(transparent)]
pub struct WaitItem(pub zx_wait_item_t);

impl WaitItem {
    /// Waits for `signals` on `handle`.
    pub fn new<H: AsHandleRef + ?Sized>(handle: &H, signals: Signals) -> WaitItem {
        WaitItem(zx_wait_item_t {
            handle: handle.raw_handle(),
            waitfor: signals.bits(),
            pending: 0,
        })
    }

    /// The signals the item's object had when the wait ended.
    pub fn pending(&self) -> Signals {
        Signals::from_bits(self.0.pending)
    }
}

/// `zx_object_wait_many`: OK when an item has a requested signal (every `pending` written),
/// `TIMED_OUT`, or `CANCELED` when a handle was closed by another thread (its item's
/// `pending` then holds `Signals::HANDLE_CLOSED`). At most 64 items.
pub fn object_wait_many(items: &mut [WaitItem], deadline: Time) -> Result<()> {
    // SAFETY: `WaitItem` is a transparent `zx_wait_item_t`; the array is writable.
    ok(unsafe {
        sys::zx_object_wait_many(
            buf_ptr_mut(items).cast::<zx_wait_item_t>(),
            items.len(),
            deadline.into_nanos(),
        )
    })
}
