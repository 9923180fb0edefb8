//! The object model every kernel object is built on.
//!
//! A kernel object is an `Arc<dyn KernelObject>`. Each one embeds an [`ObjectBase`] with its
//! koid, its signal state, the number of [`Handle`](crate::handle::Handle)s that refer to it
//! and its name. Handles are counted separately from `Arc` references: the kernel may keep
//! an object alive internally (a mapping keeps its VMO, a message keeps a channel), but
//! "no handle left" is what user-visible state (peer closed, zero children) depends on.
//!
//! # Locking
//! `ObjectBase::name` (one per object): a leaf, taken alone (the name is copied in and out
//! of kernel buffers; user memory is never touched under it). The signal state has its own
//! lock ([`crate::signal`]); the handle count is an atomic. No IRQ handler takes either; the
//! kernel holds them with IRQs masked. [`KernelObject::on_zero_handles`] and
//! [`KernelObject::last_handle_gone`] run with no lock of the handle layer held.

use alloc::sync::Arc;
use core::any::Any;
use core::fmt;
use core::sync::atomic::{AtomicUsize, Ordering};

use abi::{Signals, Status, ZX_MAX_NAME_LEN};

use crate::koid::{new_koid, Koid};
use crate::signal::SignalState;
use crate::ZxResult;

/// What every kernel object implements.
pub trait KernelObject: Any + Send + Sync {
    /// The common part embedded in the object.
    fn base(&self) -> &ObjectBase;

    /// The `ZX_OBJ_TYPE_*` value of this kind of object.
    fn object_type(&self) -> u32;

    /// The koid of a related object (a channel's peer, a thread's process), or 0.
    fn related_koid(&self) -> Koid {
        0
    }

    /// Called by the handle layer each time the last handle to the object is dropped, with
    /// no lock of the handle layer held. An object only reachable through handles sees this
    /// exactly once. It must not block; it may drop handles. (Not called for channel
    /// endpoints, which the handle layer hands to the channel code.)
    fn on_zero_handles(&self) {}

    /// The last counted handle to the object is gone; `this` is the object itself. By
    /// default [`KernelObject::on_zero_handles`]; a channel endpoint, which may still be
    /// reached through handles queued in channels, decides for itself whether it is dead.
    fn last_handle_gone(&self, this: &Arc<dyn KernelObject>) {
        let _ = this;
        self.on_zero_handles();
    }

    /// A handle to the object that waited in a channel queue was dropped there (it counted
    /// in the queue, not in the object's handle count); `this` is the object itself.
    fn queued_handle_dropped(&self, this: &Arc<dyn KernelObject>) {
        let _ = this;
    }

    /// The signals `zx_object_signal` may set or clear on this object.
    fn allowed_user_signals(&self) -> Signals {
        Signals::USER_ALL
    }

    /// `false` for objects no wait call accepts (ports, VMARs): every wait on them gives
    /// `NOT_SUPPORTED`, and `ZX_INFO_HANDLE_BASIC.props` lacks `ZX_OBJ_PROP_WAITABLE`.
    fn waitable(&self) -> bool {
        true
    }

    /// `zx_object_signal_peer`: clears then sets signals of the object's peer. Objects
    /// without a peer say `NOT_SUPPORTED` (the default); peered ones check the bits
    /// (`INVALID_ARGS`), then `PEER_CLOSED` once the peer is gone.
    fn signal_peer(&self, clear: Signals, set: Signals) -> ZxResult {
        let _ = (clear, set);
        Err(Status::NOT_SUPPORTED)
    }

    /// `true` if the object supports `ZX_PROP_NAME`.
    fn has_name(&self) -> bool {
        false
    }

    /// What was torn down, if the kernel has judged the object unreachable from every
    /// handle and released (or is releasing) what only handles use: a VMO gone with no
    /// handle and no mapping, whose pages are being freed; a channel endpoint found dead
    /// or unreachable, whose queue is being freed. A handle in a table must never refer to
    /// such an object (checked by [`crate::handle::HandleTable::audit`]). Objects that stay
    /// usable through a handle whatever happened to them (an exited process, a dead thread,
    /// a destroyed VMAR: their handles only report that state) say `None`.
    fn torn_down(&self) -> Option<&'static str> {
        None
    }
}

/// Size of an object name including its terminating NUL.
pub const NAME_LEN: usize = ZX_MAX_NAME_LEN;

/// State every kernel object has: identity, signals, handle count, name.
pub struct ObjectBase {
    koid: Koid,
    signals: SignalState,
    handles: AtomicUsize,
    /// Protects the name. Leaf, taken alone; IRQs masked, as the kernel runs.
    name: spin::Mutex<[u8; NAME_LEN]>,
}

impl ObjectBase {
    /// A base with a fresh koid, the given signals active, no handle and an empty name.
    pub fn new(initial: Signals) -> Self {
        ObjectBase {
            koid: new_koid(),
            signals: SignalState::new(initial),
            handles: AtomicUsize::new(0),
            name: spin::Mutex::new([0; NAME_LEN]),
        }
    }

    pub fn koid(&self) -> Koid {
        self.koid
    }

    pub fn signals(&self) -> &SignalState {
        &self.signals
    }

    /// Handles that currently refer to the object.
    ///
    /// A channel endpoint does not count handles to itself that wait in channel queues (see
    /// `channel.rs`: those are reachable only through the queue's own endpoint).
    pub fn handle_count(&self) -> usize {
        self.handles.load(Ordering::Acquire)
    }

    /// The name: up to 31 bytes followed by NUL bytes.
    pub fn name(&self) -> [u8; NAME_LEN] {
        *self.name.lock()
    }

    /// Sets the name from `bytes`, which end at their first NUL or after 31 bytes, whichever
    /// comes first; the rest of the name is zeroed.
    pub fn set_name(&self, bytes: &[u8]) {
        let len = bytes
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(bytes.len())
            .min(NAME_LEN - 1);
        let mut name = [0u8; NAME_LEN];
        name[..len].copy_from_slice(&bytes[..len]);
        *self.name.lock() = name;
    }

    /// One more handle refers to the object.
    pub(crate) fn add_handle_ref(&self) {
        self.handles.fetch_add(1, Ordering::AcqRel);
    }

    /// One handle fewer; `true` when that was the last one (the caller then runs the
    /// zero-handles path). Never goes below zero.
    pub(crate) fn remove_handle_ref(&self) -> bool {
        let previous = self
            .handles
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
        matches!(previous, Ok(1))
    }
}

impl fmt::Debug for ObjectBase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObjectBase")
            .field("koid", &self.koid)
            .field("signals", &self.signals.get())
            .field("handles", &self.handle_count())
            .finish()
    }
}

impl dyn KernelObject {
    /// The object's koid.
    pub fn koid(&self) -> Koid {
        self.base().koid()
    }

    /// The object's signal state.
    pub fn signals(&self) -> &SignalState {
        self.base().signals()
    }

    /// `zx_object_signal`: clears then sets user signals. Bits outside
    /// [`KernelObject::allowed_user_signals`] give `INVALID_ARGS` and change nothing.
    pub fn user_signal(&self, clear: Signals, set: Signals) -> ZxResult {
        let allowed = self.allowed_user_signals();
        if !allowed.contains(clear | set) {
            return Err(Status::INVALID_ARGS);
        }
        self.signals().update(clear, set);
        Ok(())
    }
}

impl fmt::Debug for dyn KernelObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KernelObject")
            .field("type", &self.object_type())
            .field("koid", &self.koid())
            .finish()
    }
}

/// The object as a `&T`, or `None` if it is of another type (no reference count touched).
pub fn downcast_ref<T: KernelObject>(object: &dyn KernelObject) -> Option<&T> {
    let any: &dyn Any = object;
    any.downcast_ref::<T>()
}

/// The object as a `T`, or `None` if it is of another type.
pub fn downcast<T: KernelObject>(object: &Arc<dyn KernelObject>) -> Option<Arc<T>> {
    let any: Arc<dyn Any + Send + Sync> = object.clone();
    any.downcast::<T>().ok()
}
