//! Handles and per-process handle tables.
//!
//! A [`Handle`] is a reference to a kernel object together with the rights it grants. It is
//! never copied: duplicating creates a new one. Each handle has a kernel-unique `id` so that
//! waits registered through it can be canceled when it goes away.
//!
//! A [`HandleTable`] maps the `zx_handle_t` values a process uses to its handles. Values are
//! encoded so that they cannot be guessed and a closed value does not soon name another
//! handle (see [`HandleTable`]).
//!
//! Handles are never dropped while the table lock is held: dropping the last handle runs the
//! object's `on_zero_handles`, which may drop more handles (even of the same process).
//!
//! # Locking
//! - `HandleTable::inner` (per table): the slots, the free list and the count. Inside it
//!   only the heap (slot growth, [`HandleTable::audit`]'s list) and, for
//!   [`HandleTable::wait_one`]'s and [`HandleTable::observe`]'s registrations (so a close
//!   cannot slip between the lookup and the registration) and [`HandleTable::with_handle`]'s
//!   signal updates, the object's signal state (with what nests in it: waiters, ports, the
//!   scheduler's wake-up); nothing in this module takes it inside
//!   another lock of its own. A handle dropped under it could run `on_zero_handles` and take
//!   it again: handles and rejected handles leave through the return value and are dropped
//!   after it; an `Arc` dropped under it is never the object's last (the table still holds a
//!   handle to it).
//! - `PENDING_DROPS` (global): taken alone (only the heap nests inside it, when a batch is
//!   pushed); its batches are dropped after it is released.
//!
//! No IRQ handler takes either; the kernel holds them with IRQs masked, as it runs every
//! system call. Nothing here touches user memory (values arrive copied into kernel memory),
//! sleeps or passes a preemption point; a wait blocks only after its registration, with no
//! lock held ([`crate::wait`]).

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::any::Any;
use core::fmt;
use core::sync::atomic::{AtomicU64, Ordering};

use abi::{zx_handle_t, zx_time_t, Rights, Signals, Status, ZX_HANDLE_INVALID};

use crate::koid::Koid;
use crate::object::KernelObject;
use crate::preempt;
use crate::wait::{self, Blocker};
use crate::ZxResult;

static NEXT_HANDLE_ID: AtomicU64 = AtomicU64::new(1);

/// A reference to a kernel object with rights.
pub struct Handle {
    object: Arc<dyn KernelObject>,
    rights: Rights,
    id: u64,
    /// [`COUNTED`] while the handle is part of the object's handle count; [`QUEUED`] while it
    /// is a channel endpoint's handle waiting in a channel queue (counted in the endpoint's
    /// queued handles instead, see `channel.rs`); [`DETACHED`] once it counts nowhere (on
    /// its way to being dropped). A word rather than a smaller type: `Option<Handle>` then
    /// takes its niche from the object pointer instead of a byte, which made moving handles
    /// in and out of slots cheaper (measured).
    counted: u32,
}

/// [`Handle::counted`]: in the object's handle count (zero: the one test on every drop is
/// against zero).
const COUNTED: u32 = 0;
/// [`Handle::counted`]: in a channel queue.
const QUEUED: u32 = 1;
/// [`Handle::counted`]: counted nowhere.
const DETACHED: u32 = 2;

impl Handle {
    /// A new handle to `object`; the object's handle count goes up by one.
    pub fn new(object: Arc<dyn KernelObject>, rights: Rights) -> Handle {
        object.base().add_handle_ref();
        Handle {
            object,
            rights,
            id: NEXT_HANDLE_ID.fetch_add(1, Ordering::Relaxed),
            counted: COUNTED,
        }
    }

    pub fn object(&self) -> &Arc<dyn KernelObject> {
        &self.object
    }

    pub fn rights(&self) -> Rights {
        self.rights
    }

    /// Kernel-unique id; waits registered through this handle carry it.
    pub fn id(&self) -> u64 {
        self.id
    }

    pub fn koid(&self) -> Koid {
        self.object.koid()
    }

    /// Whether this is a channel endpoint's handle waiting in a channel queue.
    pub(crate) fn is_queued(&self) -> bool {
        self.counted == QUEUED
    }

    /// A counted handle enters a channel queue: it leaves the object's handle count (the
    /// caller counts it as queued). Returns `true` if that count reached zero.
    pub(crate) fn enter_queue(&mut self) -> bool {
        if self.counted != COUNTED {
            return false;
        }
        self.counted = QUEUED;
        self.object.base().remove_handle_ref()
    }

    /// A queued handle is read from its queue: it is counted again (the caller takes it out
    /// of the queued count).
    pub(crate) fn leave_queue(&mut self) {
        if self.counted == QUEUED {
            self.object.base().add_handle_ref();
            self.counted = COUNTED;
        }
    }

    /// A queued handle is taken out of the queued count by the caller: it counts nowhere.
    pub(crate) fn detach(&mut self) {
        if self.counted == QUEUED {
            self.counted = DETACHED;
        }
    }

    /// Does what dropping does except the zero-handles path, for a handle that is not queued
    /// (queued ones are detached first): cancels waits registered through the handle and
    /// removes it from the count. Returns the object and whether the count reached zero; the
    /// caller then runs that path itself (this is how the channel reaper frees chains of
    /// messages without recursion).
    pub(crate) fn release(mut self) -> (Arc<dyn KernelObject>, bool) {
        self.object.signals().cancel_handle(self.id);
        let reached_zero = self.counted == COUNTED && self.object.base().remove_handle_ref();
        self.counted = DETACHED;
        (self.object.clone(), reached_zero)
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        // The base is looked up once.
        let base = self.object.base();
        base.signals().cancel_handle(self.id);
        if self.counted == COUNTED {
            if base.remove_handle_ref() {
                zero_handles(&self.object);
            }
        } else if self.counted == QUEUED {
            self.object.queued_handle_dropped(&self.object);
        }
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
            .field("koid", &self.koid())
            .field("type", &self.object.object_type())
            .field("rights", &self.rights)
            .field("id", &self.id)
            .finish()
    }
}

/// The last counted handle to `object` is gone: tells the object
/// ([`KernelObject::last_handle_gone`]; a channel endpoint frees itself, iteratively, or
/// looks for whether it is still reachable through queued handles, see `channel.rs`).
pub(crate) fn zero_handles(object: &Arc<dyn KernelObject>) {
    object.last_handle_gone(object);
}

/// Batches of handles [`drop_handles`] still has to drop, and whether a caller is working
/// them off, per CPU ([`preempt::cpu_slot`]): the nesting this breaks up happens within one
/// call on one CPU, and a call on another CPU must drop its own handles before it returns,
/// not leave them to a worker elsewhere. The flag lives under the same lock as the batches:
/// a nested caller that finds it set leaves its batch to the worker, and the worker clears
/// it only when it finds no batch. Taken alone, never around another lock but the heap's (a
/// push may grow the list); IRQs masked, as all kernel code runs.
static PENDING_DROPS: [spin::Mutex<(Vec<Vec<Handle>>, bool)>; preempt::CPU_SLOTS] =
    [const { spin::Mutex::new((Vec::new(), false)) }; preempt::CPU_SLOTS];

/// Drops `handles` without recursion: dropping a handle can end an object that drops
/// handles of its own through here (a process's table, when its last handle goes); the
/// first caller works off the chain in a loop, the nested ones only add to it.
pub fn drop_handles(handles: Vec<Handle>) {
    let pending_drops = &PENDING_DROPS[preempt::cpu_slot()];
    {
        let mut pending = pending_drops.lock();
        pending.0.push(handles);
        if pending.1 {
            return;
        }
        pending.1 = true;
    }
    loop {
        let batch = {
            let mut pending = pending_drops.lock();
            match pending.0.pop() {
                Some(batch) => batch,
                None => {
                    pending.1 = false;
                    return;
                }
            }
        };
        drop(batch);
    }
}

/// Handles a dying process's table closes between two finish points. Closing a last handle
/// does at most a chunk of the object's own teardown (the rest is left for later), about
/// 0.1 ms at worst (a channel endpoint's queue); most cost 1,000 to 2,000 instructions.
const CLOSE_CHUNK: usize = 8;

/// Closes the handles of a process that ended, all before it returns (so that whoever sees
/// the process terminated sees them closed) but with a [`preempt::finish_point`] every
/// [`CLOSE_CHUNK`] handles, which lets other threads run even when the caller is the dying
/// process's own last thread: a table of 4,096 handles costs some milliseconds. The caller
/// holds no lock. Allocates nothing; a table reached through these handles (a process
/// object's, when this was its last handle) is closed through [`drop_handles`], without
/// recursion.
pub fn close_dying_table(mut handles: Vec<Handle>) {
    while !handles.is_empty() {
        handles.truncate(handles.len().saturating_sub(CLOSE_CHUNK));
        if !handles.is_empty() {
            preempt::finish_point();
        }
    }
}

/// What the kernel's invariant checks (`kcheck`) found wrong with a handle in a table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HandleFault {
    /// A handle in a table is counted nowhere (it is marked as queued in a channel or as
    /// detached): its object may reach zero handles while the table still holds it.
    NotCounted { koid: Koid, object_type: u32 },
    /// A handle in a table refers to an object the kernel tore down as unreachable.
    TornDown {
        koid: Koid,
        object_type: u32,
        what: &'static str,
    },
    /// Tables hold more handles to an object than its handle count says: the count will
    /// reach zero (and the object be torn down) while handles to it remain.
    CountTooLow {
        koid: Koid,
        object_type: u32,
        count: usize,
        in_tables: usize,
    },
}

impl fmt::Display for HandleFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HandleFault::NotCounted { koid, object_type } => write!(
                f,
                "a handle to object {koid} (type {object_type}) sits in a table uncounted"
            ),
            HandleFault::TornDown {
                koid,
                object_type,
                what,
            } => write!(
                f,
                "a handle to object {koid} (type {object_type}) refers to {what}"
            ),
            HandleFault::CountTooLow {
                koid,
                object_type,
                count,
                in_tables,
            } => write!(
                f,
                "object {koid} (type {object_type}) counts {count} handles, tables hold {in_tables}"
            ),
        }
    }
}

impl HandleTable {
    /// Checks every handle in the table (under its lock, which is held throughout: a debug
    /// check, O(slots)): it is counted in its object's handle count, and its object was not
    /// torn down ([`KernelObject::torn_down`]). The objects are added to `objects` (as far as
    /// memory allows; false when some could not be) for [`audit_handle_counts`].
    pub fn audit(&self, objects: &mut Vec<Arc<dyn KernelObject>>) -> Result<bool, HandleFault> {
        let inner = self.inner.lock();
        let mut complete = true;
        for handle in inner.slots.iter().filter_map(|slot| slot.handle.as_ref()) {
            let (koid, object_type) = (handle.koid(), handle.object.object_type());
            if handle.counted != COUNTED {
                return Err(HandleFault::NotCounted { koid, object_type });
            }
            if let Some(what) = handle.object.torn_down() {
                return Err(HandleFault::TornDown {
                    koid,
                    object_type,
                    what,
                });
            }
            if objects.try_reserve(1).is_ok() {
                objects.push(handle.object.clone());
            } else {
                complete = false;
            }
        }
        Ok(complete)
    }
}

/// Given the objects of the handles found in every table ([`HandleTable::audit`]), checks
/// that no object counts fewer handles than the tables hold. (More is fine: handles in flight
/// in a system call preempted between chunks, or held by the kernel, are in no table.)
/// Sorts `objects`.
pub fn audit_handle_counts(objects: &mut [Arc<dyn KernelObject>]) -> Result<(), HandleFault> {
    let address = |object: &Arc<dyn KernelObject>| Arc::as_ptr(object) as *const () as usize;
    objects.sort_unstable_by_key(address);
    for run in objects.chunk_by(|a, b| address(a) == address(b)) {
        let object = &run[0];
        let count = object.base().handle_count();
        if count < run.len() {
            return Err(HandleFault::CountTooLow {
                koid: object.koid(),
                object_type: object.object_type(),
                count,
                in_tables: run.len(),
            });
        }
    }
    Ok(())
}

/// Handle values carry 30 bits above the two low bits that are always set.
const PAYLOAD_BITS: u32 = 30;
/// The largest per-table limit: leaves at least 10 bits of generation in every value.
pub const MAX_TABLE_HANDLES: usize = 1 << 20;
/// Free slots kept in rotation before slots are reused, so a closed value comes back only
/// after about this many closes times the generation period.
const MIN_FREE_SLOTS: usize = 64;
/// End of the free list.
const NIL: u32 = u32::MAX;
/// Handles dropped per lock hold by [`HandleTable::clear`].
const CLEAR_BATCH: usize = 16;

struct Slot {
    /// Incremented (modulo the generation width) each time the slot is freed.
    generation: u32,
    handle: Option<Handle>,
    /// Next slot in the free list while this one is free.
    next_free: u32,
}

struct TableInner {
    slots: Vec<Slot>,
    /// Free slots, oldest first (FIFO, so a freed slot is reused as late as possible).
    free_head: u32,
    free_tail: u32,
    free_count: usize,
    count: usize,
    /// Set by [`HandleTable::take_all`] (its process ended): nothing is added any more. A
    /// thread of the process still in a system call on another CPU could otherwise add a
    /// handle nobody would ever close (one to the process itself would keep it forever).
    closed: bool,
}

/// The handles of one process.
///
/// A value is `((generation << index_bits | index) << 2 | 0b11) ^ secret`, with the two low
/// bits of the secret ignored: every value has its low bits set (so it is never
/// `ZX_HANDLE_INVALID`), values differ between processes, and a slot's generation changes
/// whenever it is freed, so a stale value (or one from another table) is rejected with
/// `BAD_HANDLE` rather than naming some other handle.
///
/// At most `max_handles` handles (clamped to `1..=MAX_TABLE_HANDLES`) may be in the table:
/// one process cannot exhaust the kernel's memory with handles.
pub struct HandleTable {
    secret: u32,
    max_handles: usize,
    index_bits: u32,
    /// Protects the slots and counts. Only the heap and (wait registration) a signal state
    /// nest inside it; no handle is dropped under it; IRQs masked, as the kernel runs.
    inner: spin::Mutex<TableInner>,
}

impl HandleTable {
    /// An empty table. `secret` should be random per process.
    pub fn new(secret: u32, max_handles: usize) -> Self {
        let max_handles = max_handles.clamp(1, MAX_TABLE_HANDLES);
        // Bits to number slots 0..max_handles-1 (at least one).
        let index_bits = (usize::BITS - (max_handles - 1).leading_zeros()).max(1);
        HandleTable {
            secret: secret & !0b11,
            max_handles,
            index_bits,
            inner: spin::Mutex::new(TableInner {
                slots: Vec::new(),
                free_head: NIL,
                free_tail: NIL,
                free_count: 0,
                count: 0,
                closed: false,
            }),
        }
    }

    /// The per-table limit.
    pub fn max_handles(&self) -> usize {
        self.max_handles
    }

    /// Handles in the table.
    pub fn count(&self) -> usize {
        self.inner.lock().count
    }

    fn generation_mask(&self) -> u32 {
        (1u32 << (PAYLOAD_BITS - self.index_bits)) - 1
    }

    fn encode(&self, index: u32, generation: u32) -> zx_handle_t {
        let payload = ((generation & self.generation_mask()) << self.index_bits) | index;
        ((payload << 2) | 0b11) ^ self.secret
    }

    #[inline]
    fn decode(&self, value: zx_handle_t) -> Option<(usize, u32)> {
        if value & 0b11 != 0b11 {
            return None;
        }
        let payload = (value ^ self.secret) >> 2;
        let index = payload & ((1u32 << self.index_bits) - 1);
        let generation = payload >> self.index_bits;
        Some((index as usize, generation))
    }

    /// The slot index of a live value.
    #[inline]
    fn find(&self, inner: &TableInner, value: zx_handle_t) -> Option<usize> {
        let (index, generation) = self.decode(value)?;
        let slot = inner.slots.get(index)?;
        (slot.handle.is_some() && slot.generation == generation).then_some(index)
    }

    #[inline]
    fn lookup<'a>(&self, inner: &'a TableInner, value: zx_handle_t) -> Option<&'a Handle> {
        let index = self.find(inner, value)?;
        inner.slots[index].handle.as_ref()
    }

    /// A slot for one more handle (not yet marked used), or `NO_RESOURCES` at the limit /
    /// `NO_MEMORY`.
    fn alloc_slot(&self, inner: &mut TableInner) -> ZxResult<usize> {
        if inner.closed {
            return Err(Status::BAD_STATE);
        }
        if inner.count >= self.max_handles {
            return Err(Status::NO_RESOURCES);
        }
        let may_grow = inner.slots.len() < self.max_handles;
        let prefer_reuse = inner.free_count >= MIN_FREE_SLOTS || !may_grow;
        if inner.free_head == NIL || !prefer_reuse {
            if may_grow && inner.slots.try_reserve(1).is_ok() {
                inner.slots.push(Slot {
                    generation: 0,
                    handle: None,
                    next_free: NIL,
                });
                return Ok(inner.slots.len() - 1);
            }
            if inner.free_head == NIL {
                return Err(Status::NO_MEMORY);
            }
        }
        let index = inner.free_head as usize;
        inner.free_head = inner.slots[index].next_free;
        if inner.free_head == NIL {
            inner.free_tail = NIL;
        }
        inner.slots[index].next_free = NIL;
        inner.free_count -= 1;
        Ok(index)
    }

    /// Stores `handle` in a slot from [`alloc_slot`](Self::alloc_slot); returns its value.
    #[inline(always)]
    fn fill_slot(&self, inner: &mut TableInner, index: usize, handle: Handle) -> zx_handle_t {
        let slot = &mut inner.slots[index];
        slot.handle = Some(handle);
        inner.count += 1;
        self.encode(index as u32, slot.generation)
    }

    fn insert(
        &self,
        inner: &mut TableInner,
        handle: Handle,
    ) -> Result<zx_handle_t, (Status, Handle)> {
        match self.alloc_slot(inner) {
            Ok(index) => Ok(self.fill_slot(inner, index, handle)),
            Err(status) => Err((status, handle)),
        }
    }

    /// Empties a used slot and appends it to the free list.
    fn take_slot(&self, inner: &mut TableInner, index: usize) -> Option<Handle> {
        let mask = self.generation_mask();
        let slot = inner.slots.get_mut(index)?;
        slot.handle.as_ref()?;
        slot.generation = slot.generation.wrapping_add(1) & mask;
        inner.count -= 1;
        self.push_free(inner, index);
        // Taken last, straight into the return value.
        inner.slots[index].handle.take()
    }

    /// Appends an empty slot to the free list.
    fn push_free(&self, inner: &mut TableInner, index: usize) {
        inner.slots[index].next_free = NIL;
        if inner.free_tail == NIL {
            inner.free_head = index as u32;
        } else {
            inner.slots[inner.free_tail as usize].next_free = index as u32;
        }
        inner.free_tail = index as u32;
        inner.free_count += 1;
    }

    fn take_value(&self, inner: &mut TableInner, value: zx_handle_t) -> Option<Handle> {
        let index = self.find(inner, value)?;
        self.take_slot(inner, index)
    }

    /// Adds a handle and returns its value. At the limit `NO_RESOURCES` (or `NO_MEMORY`); the
    /// rejected handle is closed.
    pub fn add(&self, handle: Handle) -> ZxResult<zx_handle_t> {
        let mut inner = self.inner.lock();
        match self.alloc_slot(&mut inner) {
            Ok(index) => Ok(self.fill_slot(&mut inner, index, handle)),
            Err(status) => {
                // A rejected handle is dropped after the lock is released.
                drop(inner);
                drop(handle);
                Err(status)
            }
        }
    }

    /// The object, rights and handle id behind `value`, or `BAD_HANDLE`.
    pub fn get(&self, value: zx_handle_t) -> ZxResult<(Arc<dyn KernelObject>, Rights, u64)> {
        let inner = self.inner.lock();
        let handle = self.lookup(&inner, value).ok_or(Status::BAD_HANDLE)?;
        Ok((handle.object().clone(), handle.rights(), handle.id()))
    }

    /// Runs `f` on the handle behind `value` with the table lock held (`BAD_HANDLE` if
    /// there is none): a lookup that takes no reference to the object, for the short calls
    /// where that costs more than the work (`zx_object_signal`). `f` may only take the
    /// object's signal state (and what nests inside it: waiters, ports, the scheduler's
    /// wake-up); it must not drop a handle or touch user memory.
    #[inline]
    pub fn with_handle<R>(&self, value: zx_handle_t, f: impl FnOnce(&Handle) -> R) -> ZxResult<R> {
        let inner = self.inner.lock();
        let handle = self.lookup(&inner, value).ok_or(Status::BAD_HANDLE)?;
        Ok(f(handle))
    }

    /// [`HandleTable::get_object`] that also returns the handle's id (for waits registered
    /// through it), in one lookup.
    pub fn get_object_with_id<T: KernelObject>(
        &self,
        value: zx_handle_t,
        required: Rights,
    ) -> ZxResult<(Arc<T>, Rights, u64)> {
        let (any, rights, id) = {
            let inner = self.inner.lock();
            let handle = self.lookup(&inner, value).ok_or(Status::BAD_HANDLE)?;
            let any: Arc<dyn Any + Send + Sync> = handle.object().clone();
            (any, handle.rights(), handle.id())
        };
        let object = any.downcast::<T>().map_err(|_| Status::WRONG_TYPE)?;
        if !rights.contains(required) {
            return Err(Status::ACCESS_DENIED);
        }
        Ok((object, rights, id))
    }

    /// The object behind `value` as a `T`, checked in the contract's order: `BAD_HANDLE`, then
    /// `WRONG_TYPE`, then `ACCESS_DENIED` if the handle lacks any of `required`.
    pub fn get_object<T: KernelObject>(
        &self,
        value: zx_handle_t,
        required: Rights,
    ) -> ZxResult<(Arc<T>, Rights)> {
        let (any, rights) = {
            let inner = self.inner.lock();
            let handle = self.lookup(&inner, value).ok_or(Status::BAD_HANDLE)?;
            let any: Arc<dyn Any + Send + Sync> = handle.object().clone();
            (any, handle.rights())
        };
        // One type check, by the downcast itself. The handle still holds the object, so
        // dropping this reference on an error path runs no destructor.
        let object = any.downcast::<T>().map_err(|_| Status::WRONG_TYPE)?;
        if !rights.contains(required) {
            return Err(Status::ACCESS_DENIED);
        }
        Ok((object, rights))
    }

    /// Takes the handle out of the table (`BAD_HANDLE` if there is none). Waits registered
    /// through it are canceled: for this process the value is closed.
    pub fn remove(&self, value: zx_handle_t) -> ZxResult<Handle> {
        let handle = self.take_value(&mut self.inner.lock(), value);
        let handle = handle.ok_or(Status::BAD_HANDLE)?;
        handle.object().signals().cancel_handle(handle.id());
        Ok(handle)
    }

    /// `zx_handle_close`: `ZX_HANDLE_INVALID` is OK, an unknown value `BAD_HANDLE`.
    #[inline]
    pub fn close(&self, value: zx_handle_t) -> ZxResult {
        if value == ZX_HANDLE_INVALID {
            return Ok(());
        }
        self.close_valid(value)
    }

    /// `close` of a value other than `ZX_HANDLE_INVALID`.
    #[inline(never)]
    fn close_valid(&self, value: zx_handle_t) -> ZxResult {
        // Dropping the handle cancels the waits registered through it.
        let handle = self.take_value(&mut self.inner.lock(), value);
        drop(handle.ok_or(Status::BAD_HANDLE)?);
        Ok(())
    }

    /// `zx_handle_close_many`: closes every valid value and returns the first error
    /// (`BAD_HANDLE` for an unknown value or one listed twice). `ZX_HANDLE_INVALID` entries are
    /// skipped.
    pub fn close_many(&self, values: &[zx_handle_t]) -> ZxResult {
        let mut result = Ok(());
        for &value in values {
            if let Err(status) = self.close(value) {
                result = result.and(Err(status));
            }
        }
        result
    }

    /// `zx_handle_duplicate`: a new handle to the same object. `ACCESS_DENIED` without
    /// `DUPLICATE`; `INVALID_ARGS` unless `rights` is `SAME_RIGHTS` or a subset of the
    /// handle's rights; `NO_RESOURCES` at the limit. The source is unchanged in every case.
    pub fn duplicate(&self, value: zx_handle_t, rights: Rights) -> ZxResult<zx_handle_t> {
        let mut inner = self.inner.lock();
        let source = self.lookup(&inner, value).ok_or(Status::BAD_HANDLE)?;
        if !source.rights().contains(Rights::DUPLICATE) {
            return Err(Status::ACCESS_DENIED);
        }
        let rights = resolve_rights(source.rights(), rights)?;
        let object = source.object().clone();
        // The slot first, so that the new handle is made in place and never has to be
        // handed back. On failure only the extra reference goes (the source keeps the
        // object, so this runs no destructor under the lock).
        let index = self.alloc_slot(&mut inner)?;
        Ok(self.fill_slot(&mut inner, index, Handle::new(object, rights)))
    }

    /// `zx_handle_replace`: a new handle with `rights` (`SAME_RIGHTS` or a subset, else
    /// `INVALID_ARGS`) in place of the old one. No right is needed. Unless the value is
    /// unknown (`BAD_HANDLE`), the old handle is closed even when the call fails.
    pub fn replace(&self, value: zx_handle_t, rights: Rights) -> ZxResult<zx_handle_t> {
        let (old, result) = {
            let mut inner = self.inner.lock();
            let old = self
                .take_value(&mut inner, value)
                .ok_or(Status::BAD_HANDLE)?;
            let result = match resolve_rights(old.rights(), rights) {
                Err(status) => Err(status),
                Ok(rights) => {
                    let new = Handle::new(old.object().clone(), rights);
                    // The old handle's slot was just freed, so there is room.
                    self.insert(&mut inner, new)
                        .map_err(|(status, _new)| status)
                }
            };
            (old, result)
        };
        drop(old);
        result
    }

    /// Takes the handles a channel write sends. Every value must name a handle of this table
    /// (`BAD_HANDLE`, also for a value listed twice), have `TRANSFER` (`ACCESS_DENIED`) and not
    /// refer to the object `exclude` (the endpoint written to: `NOT_SUPPORTED`). The first
    /// error in list order is returned. Every listed handle that exists leaves the table on
    /// every path: on success they are returned in list order, on failure they are closed.
    pub fn take_for_transfer(
        &self,
        values: &[zx_handle_t],
        exclude: Option<Koid>,
    ) -> ZxResult<Vec<Handle>> {
        let mut taken = Vec::new();
        if taken.try_reserve_exact(values.len()).is_err() {
            // Still consume them, one at a time.
            for &value in values {
                let _ = self.remove(value);
            }
            return Err(Status::NO_MEMORY);
        }
        let mut first_error = None;
        {
            let mut inner = self.inner.lock();
            for &value in values {
                let error = match self.take_value(&mut inner, value) {
                    None => Some(Status::BAD_HANDLE),
                    Some(handle) => {
                        let error = if !handle.rights().contains(Rights::TRANSFER) {
                            Some(Status::ACCESS_DENIED)
                        } else if Some(handle.koid()) == exclude {
                            Some(Status::NOT_SUPPORTED)
                        } else {
                            None
                        };
                        taken.push(handle);
                        error
                    }
                };
                if first_error.is_none() {
                    first_error = error;
                }
            }
        }
        for handle in &taken {
            handle.object().signals().cancel_handle(handle.id());
        }
        match first_error {
            None => Ok(taken),
            Some(status) => {
                drop(taken);
                Err(status)
            }
        }
    }

    /// Adds all `handles` or none (for a channel read): `NO_RESOURCES` if they do not all fit
    /// under the limit, `NO_MEMORY`. On failure the handles are closed; a caller that must not
    /// lose them checks [`available`](Self::available) first.
    pub fn insert_many(&self, handles: Vec<Handle>) -> ZxResult<Vec<zx_handle_t>> {
        let mut values: Vec<zx_handle_t> = Vec::new();
        if values.try_reserve_exact(handles.len()).is_err() {
            return Err(Status::NO_MEMORY);
        }
        let mut inner = self.inner.lock();
        if inner.count + handles.len() > self.max_handles {
            drop(inner);
            return Err(Status::NO_RESOURCES);
        }
        let grow = handles.len().saturating_sub(inner.free_count);
        if inner.slots.try_reserve(grow).is_err() {
            drop(inner);
            return Err(Status::NO_MEMORY);
        }
        // First pick every slot (this cannot fail after the checks above, but if it did the
        // slots go back untouched), then fill them.
        for _ in 0..handles.len() {
            match self.alloc_slot(&mut inner) {
                Ok(index) => values.push(index as u32),
                Err(status) => {
                    for &index in &values {
                        self.push_free(&mut inner, index as usize);
                    }
                    drop(inner);
                    return Err(status);
                }
            }
        }
        for (value, handle) in values.iter_mut().zip(handles) {
            *value = self.fill_slot(&mut inner, *value as usize, handle);
        }
        Ok(values)
    }

    /// Room left under the limit.
    pub fn available(&self) -> usize {
        self.max_handles - self.inner.lock().count
    }

    /// Closes every handle (process death). Handles are dropped in small batches outside the
    /// lock; handles added concurrently to slots already passed survive.
    pub fn clear(&self) {
        let mut index = 0;
        loop {
            let mut batch: [Option<Handle>; CLEAR_BATCH] = Default::default();
            let mut taken = 0;
            let done = {
                let mut inner = self.inner.lock();
                while index < inner.slots.len() && taken < CLEAR_BATCH {
                    if let Some(handle) = self.take_slot(&mut inner, index) {
                        batch[taken] = Some(handle);
                        taken += 1;
                    }
                    index += 1;
                }
                index >= inner.slots.len()
            };
            drop(batch);
            if done {
                break;
            }
        }
    }

    /// Removes every handle and returns them, for a caller that must drop them without
    /// recursion (a process whose handles end other processes); from then on nothing can be
    /// added (BAD_STATE).
    pub fn take_all(&self) -> Vec<Handle> {
        let mut inner = self.inner.lock();
        inner.closed = true;
        let mut taken = Vec::new();
        for index in 0..inner.slots.len() {
            if let Some(handle) = self.take_slot(&mut inner, index) {
                taken.push(handle);
            }
        }
        taken
    }

    /// `zx_object_wait_one` on a value. Like [`wait::wait_one`], but the observer is
    /// registered under the table lock after checking the value is still there, so a close
    /// by another thread always cancels the wait (`CANCELED` with `HANDLE_CLOSED`). An
    /// unknown value gives `(BAD_HANDLE, NONE)`.
    pub fn wait_one(
        &self,
        value: zx_handle_t,
        signals: Signals,
        deadline: zx_time_t,
        blocker: &dyn Blocker,
    ) -> Result<Signals, (Status, Signals)> {
        let (object, _, _) = self.get(value).map_err(|s| (s, Signals::NONE))?;
        if !object.waitable() {
            return Err((Status::NOT_SUPPORTED, Signals::NONE));
        }
        let koid = object.koid();
        wait::wait_with(&object, signals, deadline, blocker, |waker| {
            let inner = self.inner.lock();
            match self.lookup(&inner, value) {
                Some(handle) if handle.koid() == koid => {
                    handle
                        .object()
                        .signals()
                        .add_observer(handle.id(), signals, waker)
                }
                _ => Err(Status::BAD_HANDLE),
            }
        })
    }
}

impl HandleTable {
    /// Adds `waker` as an observer of `signals` on the object behind `value`, under the
    /// table lock, provided `value` still names the handle `handle_id`; else `BAD_HANDLE`
    /// (it was closed since the caller looked it up). Holding the lock across the
    /// registration means a close either comes before (and is seen here) or after (and
    /// cancels the observer): never in between, unseen.
    pub fn observe(
        &self,
        value: zx_handle_t,
        handle_id: u64,
        signals: Signals,
        waker: Arc<dyn crate::signal::SignalWaker>,
    ) -> ZxResult<crate::signal::Observe> {
        let inner = self.inner.lock();
        match self.lookup(&inner, value) {
            Some(handle) if handle.id() == handle_id => handle
                .object()
                .signals()
                .add_observer(handle_id, signals, waker),
            _ => Err(Status::BAD_HANDLE),
        }
    }
}

impl fmt::Debug for HandleTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HandleTable")
            .field("count", &self.count())
            .field("max_handles", &self.max_handles)
            .finish()
    }
}

/// The rights of a duplicate or replacement: `SAME_RIGHTS` keeps them, anything else must be
/// a subset (`INVALID_ARGS`).
fn resolve_rights(current: Rights, requested: Rights) -> ZxResult<Rights> {
    if requested == Rights::SAME_RIGHTS {
        Ok(current)
    } else if current.contains(requested) {
        Ok(requested)
    } else {
        Err(Status::INVALID_ARGS)
    }
}

#[cfg(test)]
mod drop_tests {
    use super::*;
    use crate::object::ObjectBase;
    use core::sync::atomic::AtomicUsize;
    use std::cell::Cell;

    std::thread_local! {
        /// How deep this thread's `on_zero_handles` calls are nested, and the deepest.
        static DEPTH: Cell<(usize, usize)> = const { Cell::new((0, 0)) };
    }

    /// Holds the next link of a chain; dropping its last handle drops that link's handle
    /// through `drop_handles`.
    struct Link {
        base: ObjectBase,
        next: spin::Mutex<Option<Handle>>,
        gone: Arc<AtomicUsize>,
    }

    impl KernelObject for Link {
        fn base(&self) -> &ObjectBase {
            &self.base
        }
        fn object_type(&self) -> u32 {
            abi::ZX_OBJ_TYPE_NONE
        }
        fn on_zero_handles(&self) {
            self.gone.fetch_add(1, Ordering::SeqCst);
            DEPTH.with(|d| {
                let (depth, deepest) = d.get();
                d.set((depth + 1, deepest.max(depth + 1)));
            });
            if let Some(next) = self.next.lock().take() {
                drop_handles(alloc::vec![next]);
            }
            DEPTH.with(|d| d.set((d.get().0 - 1, d.get().1)));
        }
    }

    /// `drop_handles` works off every caller's batches in one loop: a test's drops may be
    /// done by another test's call, so these tests run one at a time.
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

    fn chain(links: usize, gone: &Arc<AtomicUsize>) -> Handle {
        let mut next = None;
        for _ in 0..links {
            let link = Arc::new(Link {
                base: ObjectBase::new(Signals::NONE),
                next: spin::Mutex::new(next.take()),
                gone: gone.clone(),
            });
            next = Some(Handle::new(link, Rights::DEFAULT_VMO));
        }
        next.expect("at least one link")
    }

    #[test]
    fn dropping_a_long_chain_of_handles_does_not_recurse() {
        let _serial = SERIAL.lock();
        let gone = Arc::new(AtomicUsize::new(0));
        drop_handles(alloc::vec![chain(10_000, &gone)]);
        assert_eq!(gone.load(Ordering::SeqCst), 10_000);
        assert_eq!(DEPTH.with(Cell::get), (0, 1));
    }

    #[test]
    fn chains_dropped_on_several_cpus_at_once_are_all_dropped() {
        // A batch pushed while another CPU's worker finds the list empty must not stay
        // behind: every chain is gone once every caller has returned.
        let _serial = SERIAL.lock();
        let gone = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let gone = gone.clone();
                std::thread::spawn(move || {
                    for _ in 0..500 {
                        drop_handles(alloc::vec![chain(3, &gone)]);
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().expect("thread");
        }
        assert_eq!(gone.load(Ordering::SeqCst), 4 * 500 * 3);
    }
}

#[cfg(test)]
mod kcheck_tests {
    //! The handle checks of `kcheck` trip on crafted states (the ways to break them are
    //! crate-private, so the tests live here).
    use super::*;
    use crate::channel;
    use crate::frames::testing::TestFrames;
    use crate::vmo::Vmo;

    fn vmo() -> Arc<dyn KernelObject> {
        Vmo::create(Arc::new(TestFrames::default()), 0, 0).unwrap()
    }

    fn audit_all(tables: &[&HandleTable]) -> Result<(), HandleFault> {
        let mut objects = Vec::new();
        for table in tables {
            assert!(table.audit(&mut objects)?);
        }
        audit_handle_counts(&mut objects)
    }

    #[test]
    fn kcheck_handles_pass_on_healthy_tables() {
        let (a, b) = (HandleTable::new(1, 64), HandleTable::new(2, 64));
        let object = vmo();
        let h = a.add(Handle::new(object.clone(), Rights::READ)).unwrap();
        b.add(Handle::new(object.clone(), Rights::READ)).unwrap();
        let (ends0, ends1) = channel::Channel::create().unwrap();
        a.add(Handle::new(ends0, Rights::READ)).unwrap();
        b.add(Handle::new(ends1, Rights::READ)).unwrap();
        assert_eq!(audit_all(&[&a, &b]), Ok(()));
        // A handle in flight (out of every table) keeps the count above what tables hold.
        let taken = a.remove(h).unwrap();
        assert_eq!(audit_all(&[&a, &b]), Ok(()));
        drop(taken);
        assert_eq!(audit_all(&[&a, &b]), Ok(()));
    }

    #[test]
    fn kcheck_handles_trip_on_a_count_below_the_tables() {
        let (a, b) = (HandleTable::new(1, 64), HandleTable::new(2, 64));
        let object = vmo();
        a.add(Handle::new(object.clone(), Rights::READ)).unwrap();
        b.add(Handle::new(object.clone(), Rights::READ)).unwrap();
        // A lost count: one close too many would now tear the VMO down under a handle.
        object.base().remove_handle_ref();
        let e = audit_all(&[&a, &b]).unwrap_err();
        assert_eq!(
            e,
            HandleFault::CountTooLow {
                koid: object.koid(),
                object_type: object.object_type(),
                count: 1,
                in_tables: 2
            }
        );
        object.base().add_handle_ref();
        assert_eq!(audit_all(&[&a, &b]), Ok(()));
    }

    #[test]
    fn kcheck_handles_trip_on_an_uncounted_handle() {
        let a = HandleTable::new(1, 64);
        let object = vmo();
        let mut handle = Handle::new(object.clone(), Rights::READ);
        // As if put in a channel queue while still in the table (another count keeps the
        // object from reaching zero meanwhile).
        object.base().add_handle_ref();
        assert!(!handle.enter_queue());
        a.add(handle).unwrap();
        let e = audit_all(&[&a]).unwrap_err();
        assert!(matches!(e, HandleFault::NotCounted { .. }), "{e}");
        // Counted again: clean (and the extra count goes with the table).
        for mut h in a.take_all() {
            h.leave_queue();
            object.base().remove_handle_ref();
        }
    }

    #[test]
    fn kcheck_handles_trip_on_a_torn_down_object() {
        let a = HandleTable::new(1, 64);
        let (end0, end1) = channel::Channel::create().unwrap();
        let end0_object: Arc<dyn KernelObject> = end0.clone();
        a.add(Handle::new(end0_object, Rights::READ)).unwrap();
        a.add(Handle::new(end1, Rights::READ)).unwrap();
        assert_eq!(audit_all(&[&a]), Ok(()));
        end0.mark_reaped_for_test();
        let e = audit_all(&[&a]).unwrap_err();
        assert!(
            matches!(e, HandleFault::TornDown { koid, .. } if koid == end0.base().koid()),
            "{e}"
        );
    }
}
