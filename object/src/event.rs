//! Events and event pairs (`zx_event_create`, `zx_eventpair_create`).
//!
//! An [`Event`] is nothing but a signal state: user code sets and clears `ZX_EVENT_SIGNALED`
//! and the user signals. An [`EventPair`] endpoint is the same plus a peer: each endpoint
//! may also change the peer's signals (`zx_object_signal_peer`), and when the last handle to
//! one endpoint closes the other gets `ZX_EVENTPAIR_PEER_CLOSED`, which user code can never
//! set or clear.
//!
//! # Locking
//! `EventPair::peer` (per endpoint): the weak reference to the other endpoint, `None` once
//! either endpoint is closed. A leaf: taken alone, only to copy or clear the reference
//! (signals are changed after it is released, so no signal-state lock nests inside it and
//! two `peer` locks are never held together). No IRQ handler takes it; the kernel holds it
//! with IRQs masked, as it runs every system call.

use alloc::sync::{Arc, Weak};

use abi::{Signals, Status, ZX_OBJ_TYPE_EVENT, ZX_OBJ_TYPE_EVENTPAIR};

use crate::koid::Koid;
use crate::object::{KernelObject, ObjectBase};
use crate::ZxResult;

/// The signals `zx_object_signal` may change on an event or an event-pair endpoint, and
/// `zx_object_signal_peer` on an event pair's peer: the user signals and `SIGNALED`.
pub const EVENT_USER_SIGNALS: Signals = Signals::USER_ALL.union(Signals::EVENT_SIGNALED);

/// An event: a signal state user code controls.
pub struct Event {
    base: ObjectBase,
}

impl Event {
    /// A new event with no signal active.
    pub fn new() -> Arc<Event> {
        Arc::new(Event {
            base: ObjectBase::new(Signals::NONE),
        })
    }
}

impl KernelObject for Event {
    fn base(&self) -> &ObjectBase {
        &self.base
    }

    fn object_type(&self) -> u32 {
        ZX_OBJ_TYPE_EVENT
    }

    fn allowed_user_signals(&self) -> Signals {
        EVENT_USER_SIGNALS
    }
}

/// One endpoint of an event pair.
pub struct EventPair {
    base: ObjectBase,
    peer_koid: Koid,
    /// The other endpoint while both are open. Leaf, see the module documentation.
    peer: spin::Mutex<Option<Weak<EventPair>>>,
}

impl EventPair {
    /// Two endpoints, each the other's peer, no signal active.
    pub fn create() -> (Arc<EventPair>, Arc<EventPair>) {
        let base0 = ObjectBase::new(Signals::NONE);
        let base1 = ObjectBase::new(Signals::NONE);
        let (koid0, koid1) = (base0.koid(), base1.koid());
        let first = Arc::new(EventPair {
            base: base0,
            peer_koid: koid1,
            peer: spin::Mutex::new(None),
        });
        let second = Arc::new(EventPair {
            base: base1,
            peer_koid: koid0,
            peer: spin::Mutex::new(Some(Arc::downgrade(&first))),
        });
        *first.peer.lock() = Some(Arc::downgrade(&second));
        (first, second)
    }

    /// The open peer, if any.
    fn peer(&self) -> Option<Arc<EventPair>> {
        self.peer.lock().as_ref().and_then(Weak::upgrade)
    }
}

impl KernelObject for EventPair {
    fn base(&self) -> &ObjectBase {
        &self.base
    }

    fn object_type(&self) -> u32 {
        ZX_OBJ_TYPE_EVENTPAIR
    }

    fn related_koid(&self) -> Koid {
        self.peer_koid
    }

    fn allowed_user_signals(&self) -> Signals {
        EVENT_USER_SIGNALS
    }

    fn signal_peer(&self, clear: Signals, set: Signals) -> ZxResult {
        if !EVENT_USER_SIGNALS.contains(clear | set) {
            return Err(Status::INVALID_ARGS);
        }
        let peer = self.peer().ok_or(Status::PEER_CLOSED)?;
        peer.base.signals().update(clear, set);
        Ok(())
    }

    /// This endpoint is closed: the peer learns it, and neither can reach the other again.
    fn on_zero_handles(&self) {
        let peer = self.peer.lock().take();
        if let Some(peer) = peer.and_then(|weak| weak.upgrade()) {
            *peer.peer.lock() = None;
            peer.base.signals().set(Signals::EVENTPAIR_PEER_CLOSED);
        }
    }
}
