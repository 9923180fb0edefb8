//! Ports, asynchronous waits, events, event pairs, `zx_object_signal_peer` and
//! `zx_object_wait_many` (sections 2, 3 and 5 of `zx-abi-objects.md`). The objects are
//! `object::port` and `object::event`; the waits `object::wait`.
//!
//! Waiting needs no right (the contract's convention for wait_one, wait_many, wait_async and
//! port_cancel's source). Objects no wait accepts (ports, VMARs) give NOT_SUPPORTED.

use super::{publish, publish_pair, HandleOut};
use crate::usercopy::{In, Out, UserSlice};
use abi::{zx_handle_t, AbiStruct, ZX_OBJ_TYPE_CHANNEL, ZX_OBJ_TYPE_EVENTPAIR};
use object::event::{Event, EventPair};
use object::handle::{Handle, HandleTable};
use object::object::downcast_ref;
use object::port::{Port, PACKET_SIZE};
use object::wait_many::{WaitItem, MAX_WAIT_ITEMS};
use object::{Rights, Signals, Status, ZxResult};

/// The peered object types `zx_object_signal_peer` serves (sockets once they exist).
fn has_peer(object_type: u32) -> bool {
    object_type == ZX_OBJ_TYPE_CHANNEL
        || object_type == ZX_OBJ_TYPE_EVENTPAIR
        || object_type == abi::ZX_OBJ_TYPE_SOCKET
}

/// `zx_event_create`.
pub(super) fn event_create(table: &HandleTable, options: u32, out: HandleOut) -> ZxResult {
    if options != 0 {
        return Err(Status::INVALID_ARGS);
    }
    out.check()?;
    publish(table, Handle::new(Event::new(), Rights::DEFAULT_EVENT), out)
}

/// `zx_eventpair_create`: options != 0 is NOT_SUPPORTED (Zircon's code).
pub(super) fn eventpair_create(
    table: &HandleTable,
    options: u32,
    out0: HandleOut,
    out1: HandleOut,
) -> ZxResult {
    if options != 0 {
        return Err(Status::NOT_SUPPORTED);
    }
    out0.check()?;
    out1.check()?;
    let (first, second) = EventPair::create();
    publish_pair(
        table,
        (Handle::new(first, Rights::DEFAULT_EVENTPAIR), out0),
        (Handle::new(second, Rights::DEFAULT_EVENTPAIR), out1),
    )
}

/// `zx_object_signal_peer`: BAD_HANDLE; an object without a peer NOT_SUPPORTED (checked as
/// the type, before the right); SIGNAL_PEER; then the object's own checks (INVALID_ARGS for
/// other bits, PEER_CLOSED).
pub(super) fn signal_peer(
    table: &HandleTable,
    value: zx_handle_t,
    clear: Signals,
    set: Signals,
) -> ZxResult {
    let (object, rights, _) = table.get(value)?;
    if !has_peer(object.object_type()) {
        return Err(Status::NOT_SUPPORTED);
    }
    if !rights.contains(Rights::SIGNAL_PEER) {
        return Err(Status::ACCESS_DENIED);
    }
    object.signal_peer(clear, set)
}

/// `zx_port_create`.
pub(super) fn port_create(table: &HandleTable, options: u32, out: HandleOut) -> ZxResult {
    let port = Port::new(options, crate::task::now_ns)?;
    out.check()?;
    publish(table, Handle::new(port, Rights::DEFAULT_PORT), out)
}

/// `zx_port_queue`: WRITE; the packet is read whole before anything is queued. The packet is
/// copied in first but its failure reported after the handle's (lookup order); the port is
/// used under the table lock, with no reference taken (its queue lock nests inside it).
pub(super) fn port_queue(
    table: &HandleTable,
    value: zx_handle_t,
    packet: UserSlice<In>,
) -> ZxResult {
    let mut bytes = [0u8; PACKET_SIZE];
    let copied = packet.read(&mut bytes);
    table.with_handle(value, |handle| {
        let port = downcast_ref::<Port>(&**handle.object()).ok_or(Status::WRONG_TYPE)?;
        if !handle.rights().contains(Rights::WRITE) {
            return Err(Status::ACCESS_DENIED);
        }
        copied?;
        port.queue_user(&bytes)
    })?
}

/// `zx_port_wait`: READ; the packet pointer is checked before blocking. A packet already
/// queued is taken under the table lock; otherwise the thread blocks, and a close of the
/// port handle by another thread during the wait gives CANCELED.
pub(super) fn port_wait(
    table: &HandleTable,
    value: zx_handle_t,
    deadline: i64,
    out: UserSlice<Out>,
) -> ZxResult {
    let probed = out.probe();
    let mut packet = [0u8; PACKET_SIZE];
    let taken = table.with_handle(value, |handle| {
        let port = downcast_ref::<Port>(&**handle.object()).ok_or(Status::WRONG_TYPE)?;
        if !handle.rights().contains(Rights::READ) {
            return Err(Status::ACCESS_DENIED);
        }
        probed?;
        Ok((port.try_pop(&mut packet), handle.id()))
    })??;
    if !taken.0 {
        // A second lookup, to hold the port while blocking: if another thread closed the
        // handle since the first (its value maybe reused by now), that close counts as one
        // during the wait, which the contract makes CANCELED, not BAD_HANDLE.
        let (port, _, handle_id) = match table.get_object_with_id::<Port>(value, Rights::READ) {
            Ok(found) if found.2 == taken.1 => found,
            _ => return Err(Status::CANCELED),
        };
        packet = crate::task::blocked_in(object::task::Blocked::Port, || {
            port.wait(deadline, &crate::task::KernelBlocker, |waker| {
                table.observe(value, handle_id, Signals::NONE, waker)
            })
        })?;
    }
    out.write(&packet)
}

/// `zx_port_cancel(port, source, key)`: the port (WRITE), then the source (not waitable ->
/// NOT_SUPPORTED, no right needed).
pub(super) fn port_cancel(
    table: &HandleTable,
    value: zx_handle_t,
    source: zx_handle_t,
    key: u64,
) -> ZxResult {
    let (port, _) = table.get_object::<Port>(value, Rights::WRITE)?;
    let (object, _, handle_id) = table.get(source)?;
    if !object.waitable() {
        return Err(Status::NOT_SUPPORTED);
    }
    drop(object);
    port.cancel(handle_id, key)
}

/// `zx_object_wait_async(handle, port, key, signals, options)`: the handle (not waitable ->
/// NOT_SUPPORTED), the port (WRONG_TYPE, WRITE), then the options.
pub(super) fn wait_async(
    table: &HandleTable,
    value: zx_handle_t,
    port_value: zx_handle_t,
    key: u64,
    signals: Signals,
    options: u32,
) -> ZxResult {
    let (object, _, handle_id) = table.get(value)?;
    if !object.waitable() {
        return Err(Status::NOT_SUPPORTED);
    }
    let (port, _) = table.get_object::<Port>(port_value, Rights::WRITE)?;
    let result = port.wait_async(&object, handle_id, key, signals, options, |waker| {
        table.observe(value, handle_id, signals, waker)
    });
    drop((port, object));
    result
}

/// `zx_object_wait_many`: OUT_OF_RANGE above 64 items (before `items` is read), the items
/// copied in and the array checked writable (INVALID_ARGS), then `object::wait_many::wait_many`;
/// every item's `pending` is written back on OK, TIMED_OUT and CANCELED.
pub(super) fn wait_many(
    table: &HandleTable,
    items_addr: usize,
    count: usize,
    deadline: i64,
) -> ZxResult {
    if count > MAX_WAIT_ITEMS {
        return Err(Status::OUT_OF_RANGE);
    }
    const ITEM: usize = abi::zx_wait_item_t::SIZE;
    let len = count * ITEM;
    let input = UserSlice::<In>::new(items_addr, len);
    let output = UserSlice::<Out>::new(items_addr, len);
    let mut raw = [0u8; MAX_WAIT_ITEMS * ITEM];
    let raw = &mut raw[..len];
    if count > 0 {
        input.read(raw)?;
        output.probe()?;
    }
    let mut items = [WaitItem::default(); MAX_WAIT_ITEMS];
    let items = &mut items[..count];
    for (item, bytes) in items.iter_mut().zip(raw.chunks_exact(ITEM)) {
        let record = abi::zx_wait_item_t::from_bytes(bytes).ok_or(Status::INVALID_ARGS)?;
        item.handle = record.handle;
        item.waitfor = Signals::from_bits(record.waitfor);
    }
    let result = crate::task::blocked_in(object::task::Blocked::WaitMany, || {
        object::wait_many::wait_many(table, items, deadline, &crate::task::KernelBlocker)
    });
    match result {
        Ok(()) | Err(Status::TIMED_OUT) | Err(Status::CANCELED) => {
            for (item, bytes) in items.iter().zip(raw.chunks_exact_mut(ITEM)) {
                let record = abi::zx_wait_item_t {
                    handle: item.handle,
                    waitfor: item.waitfor.bits(),
                    pending: item.pending.bits(),
                };
                bytes.copy_from_slice(record.to_bytes().as_ref());
            }
            if count > 0 {
                output.write(raw)?;
            }
            result
        }
        Err(status) => Err(status),
    }
}
