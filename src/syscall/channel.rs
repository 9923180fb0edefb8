//! `zx_channel_create`, `zx_channel_write`, `zx_channel_read`, `zx_channel_call`.

use super::{publish_pair, HandleOut};
use crate::usercopy::{In, Out, UserOut, UserSlice};
use crate::{memory, task};
use abi::{zx_channel_call_args_t, zx_handle_t, AbiStruct};
use alloc::vec::Vec;
use object::channel::{
    CallSlot, Channel, Message, ReadError, MAX_MSG_BYTES, MAX_MSG_HANDLES, MAX_PENDING_MESSAGES,
};
use object::handle::{Handle, HandleTable};
use object::koid::Koid;
use object::object::KernelObject;
use object::{Rights, Status, ZxResult};

/// `zx_channel_create`: options must be 0; both endpoints get the default channel rights.
pub(super) fn create(
    table: &HandleTable,
    options: u32,
    out0: HandleOut,
    out1: HandleOut,
) -> ZxResult {
    if options != 0 {
        return Err(Status::INVALID_ARGS);
    }
    out0.check()?;
    out1.check()?;
    let (endpoint0, endpoint1) = Channel::create()?;
    publish_pair(
        table,
        (Handle::new(endpoint0, Rights::DEFAULT_CHANNEL), out0),
        (Handle::new(endpoint1, Rights::DEFAULT_CHANNEL), out1),
    )
}

/// Reads up to [`MAX_MSG_HANDLES`] handle values from the start of `list` into `values`.
fn read_values(values: &mut [zx_handle_t], list: &UserSlice<In>) -> ZxResult {
    if values.is_empty() {
        return Ok(());
    }
    let mut raw = [0u8; MAX_MSG_HANDLES * 4];
    let raw = &mut raw[..values.len() * 4];
    list.read(raw)?;
    for (value, bytes) in values.iter_mut().zip(raw.chunks_exact(4)) {
        *value = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    }
    Ok(())
}

/// Closes the handles a failed write listed, however many: the list is read in batches (so
/// also a list longer than a message may carry). A list that cannot be read whole consumes
/// nothing: its values are unknown, and a huge count with a short array must not close
/// whatever handle values happen to follow the array in memory.
fn consume_listed(table: &HandleTable, addr: usize, count: usize) {
    let Some(list) = count
        .checked_mul(4)
        .map(|len| UserSlice::<In>::new(addr, len))
    else {
        return;
    };
    if list.probe().is_err() {
        return;
    }
    let mut done = 0;
    while done < count {
        let batch = (count - done).min(MAX_MSG_HANDLES);
        let mut values = [0 as zx_handle_t; MAX_MSG_HANDLES];
        let Some(part) = list.part(done * 4, batch * 4) else {
            return;
        };
        if read_values(&mut values[..batch], &part).is_err() {
            return;
        }
        consume(table, &values[..batch]);
        done += batch;
    }
}

/// Closes every handle `values` names (unknown values are skipped).
fn consume(table: &HandleTable, values: &[zx_handle_t]) {
    drop(table.take_for_transfer(values, None));
}

/// The first error, in list order, that sending `values` through the endpoint `own` gives,
/// checked per handle as Zircon does: unknown or listed twice -> BAD_HANDLE, no TRANSFER ->
/// ACCESS_DENIED, the endpoint itself -> NOT_SUPPORTED.
fn transfer_error(table: &HandleTable, values: &[zx_handle_t], own: Koid) -> Option<Status> {
    values.iter().enumerate().find_map(|(index, &value)| {
        if values[..index].contains(&value) {
            return Some(Status::BAD_HANDLE);
        }
        match table.get(value) {
            Err(status) => Some(status),
            Ok((_, rights, _)) if !rights.contains(Rights::TRANSFER) => Some(Status::ACCESS_DENIED),
            Ok((object, _, _)) if object.koid() == own => Some(Status::NOT_SUPPORTED),
            Ok(_) => None,
        }
    })
}

/// `zx_channel_write`: needs WRITE. Every listed handle leaves the caller's table, on
/// success and on every failure (also when the channel handle is bad, the options are
/// wrong, there are too many handles or bytes, or the bytes cannot be read), a handle to the
/// endpoint written to included (NOT_SUPPORTED; the endpoint is closed with it, as in Zircon).
/// Only when the handle array itself cannot be read are the values unknown and nothing is
/// consumed. NO_MEMORY when the kernel would have to dip into its reserve to hold the
/// message.
///
/// A write that leaves more than `MAX_PENDING_MESSAGES` unread at the peer queues its message
/// and ends the writer's process (`ZX_TASK_RETCODE_EXCEPTION_KILL`): the call does not return.
pub(super) fn write(
    table: &HandleTable,
    value: zx_handle_t,
    options: u32,
    bytes: UserSlice<In>,
    handles: usize,
    num_handles: usize,
) -> ZxResult {
    let num_bytes = bytes.len();
    let channel = match table.get_object::<Channel>(value, Rights::WRITE) {
        Ok((channel, _)) => channel,
        Err(status) => {
            consume_listed(table, handles, num_handles);
            return Err(status);
        }
    };
    let refusal = if options != 0 {
        Some(Status::INVALID_ARGS)
    } else if num_handles > MAX_MSG_HANDLES || num_bytes > MAX_MSG_BYTES {
        Some(Status::OUT_OF_RANGE)
    } else {
        None
    };
    if let Some(status) = refusal {
        consume_listed(table, handles, num_handles);
        return Err(status);
    }
    let (data, taken) = gather(table, &channel, bytes, handles, num_handles)?;
    let unread = channel.write_vec(data, taken)?;
    if unread > MAX_PENDING_MESSAGES {
        drop(channel);
        queue_limit_broken(unread);
    }
    Ok(())
}

/// The message a write or call sends: its bytes copied in and its handles taken from the
/// table (at most [`MAX_MSG_HANDLES`] and [`MAX_MSG_BYTES`], checked by the caller). Every
/// listed handle is consumed on failure too, unless the list itself cannot be read.
/// Inlined: on the path of every channel write.
#[inline(always)]
fn gather(
    table: &HandleTable,
    channel: &Channel,
    bytes: UserSlice<In>,
    handles: usize,
    num_handles: usize,
) -> ZxResult<(Vec<u8>, Vec<Handle>)> {
    let num_bytes = bytes.len();
    // Cleared only when used: most messages carry no handles.
    let mut storage;
    let values: &mut [zx_handle_t] = if num_handles == 0 {
        &mut []
    } else {
        storage = [0 as zx_handle_t; MAX_MSG_HANDLES];
        &mut storage[..num_handles]
    };
    // At most MAX_MSG_HANDLES (checked by the caller): no overflow.
    read_values(values, &UserSlice::new(handles, num_handles * 4))?;

    let mut data: Vec<u8> = Vec::new();
    let held = num_bytes + num_handles * core::mem::size_of::<Handle>();
    if !memory::may_queue(held) || data.try_reserve_exact(num_bytes).is_err() {
        consume(table, values);
        return Err(Status::NO_MEMORY);
    }
    if let Err(status) = bytes.append_to(&mut data) {
        consume(table, values);
        return Err(status);
    }
    if values.is_empty() {
        return Ok((data, Vec::new()));
    }
    let own = channel.base().koid();
    if let Some(status) = transfer_error(table, values, own) {
        drop(data);
        consume(table, values);
        return Err(status);
    }
    let taken = table.take_for_transfer(values, Some(own))?;
    Ok((data, taken))
}

/// `zx_channel_call`: needs READ and WRITE. The arguments record is read after the lookup
/// (unreadable: INVALID_ARGS, nothing consumed since the handle values are unknown); from
/// then on the listed handles are consumed on every path. The request goes out with a
/// kernel txid; the reply comes straight back (see `object::channel::call`).
pub(super) fn call(
    table: &HandleTable,
    value: zx_handle_t,
    options: u32,
    deadline: i64,
    args: usize,
    actual_bytes: UserOut<u32>,
    actual_handles: UserOut<u32>,
) -> ZxResult {
    let (channel, _) = table.get_object::<Channel>(value, Rights::READ | Rights::WRITE)?;
    let mut raw = [0u8; zx_channel_call_args_t::SIZE];
    UserSlice::<In>::new(args, raw.len()).read(&mut raw)?;
    let args = zx_channel_call_args_t::from_bytes(&raw).ok_or(Status::INVALID_ARGS)?;
    let (num_bytes, num_handles) = (args.wr_num_bytes as usize, args.wr_num_handles as usize);
    let refusal = if options != 0 || num_bytes < 4 {
        Some(Status::INVALID_ARGS)
    } else if num_handles > MAX_MSG_HANDLES || num_bytes > MAX_MSG_BYTES {
        Some(Status::OUT_OF_RANGE)
    } else {
        let outputs = [actual_bytes, actual_handles];
        outputs
            .iter()
            .filter(|out| !out.is_null())
            .find_map(|out| out.check().err())
    };
    if let Some(status) = refusal {
        consume_listed(table, args.wr_handles, num_handles);
        return Err(status);
    }
    let bytes = UserSlice::<In>::new(args.wr_bytes, num_bytes);
    let (data, taken) = gather(table, &channel, bytes, args.wr_handles, num_handles)?;
    let blocker = task::KernelBlocker;
    let slot = CallSlot::new(&blocker);
    let unread = channel.call_begin(data, taken, &slot)?;
    if unread > MAX_PENDING_MESSAGES {
        // The process dies without waiting: the slot must not stay registered, or a reply
        // with its txid would vanish into it instead of being queued.
        channel.call_abandon(&slot);
        drop((channel, slot));
        queue_limit_broken(unread);
        return Err(Status::BAD_STATE);
    }
    let reply = task::blocked_in(object::task::Blocked::Channel, || {
        channel.call_wait(&slot, deadline, &blocker)
    });
    drop((channel, slot));
    let reply = reply?;
    let (rd_bytes, rd_handles) = (args.rd_num_bytes as usize, args.rd_num_handles as usize);
    if reply.bytes.len() > rd_bytes || reply.handles.len() > rd_handles {
        // Discarded, handles and all.
        drop(reply);
        return Err(Status::BUFFER_TOO_SMALL);
    }
    let buffers = ReadBuffers {
        bytes: UserSlice::new(args.rd_bytes, rd_bytes),
        handles: UserSlice::new(args.rd_handles, rd_handles.saturating_mul(4)),
        num_handles: rd_handles,
        actual_bytes,
        actual_handles,
    };
    deliver(table, &buffers, reply)
}

/// The policy violation of a write past the queue limit: ends the writer's process.
#[cold]
#[inline(never)]
fn queue_limit_broken(unread: usize) {
    log::warn!(
        "a channel write left {unread} messages unread (most {MAX_PENDING_MESSAGES}): the \
         writer's process is killed"
    );
    task::end_current_process(abi::ZX_TASK_RETCODE_EXCEPTION_KILL);
}

/// The user buffers of `zx_channel_read`.
pub(super) struct ReadBuffers {
    pub bytes: UserSlice<Out>,
    /// Room for `num_handles` values (4 bytes each; the length saturates).
    pub handles: UserSlice<Out>,
    pub num_handles: usize,
    /// Optional (NULL allowed).
    pub actual_bytes: UserOut<u32>,
    /// Optional (NULL allowed).
    pub actual_handles: UserOut<u32>,
}

fn write_actuals(buffers: &ReadBuffers, bytes: usize, handles: usize) -> ZxResult {
    if !buffers.actual_bytes.is_null() {
        buffers.actual_bytes.write(bytes as u32)?;
    }
    if !buffers.actual_handles.is_null() {
        buffers.actual_handles.write(handles as u32)?;
    }
    Ok(())
}

/// The take of [`read`] after the next message (`error` gave its sizes) did not fit in what
/// was probed: probes the part of the buffers it fills and takes it if it still fits, as
/// often as other readers take the message first and the next one is larger.
#[inline(always)]
fn probe_and_take(
    table: &HandleTable,
    channel: &Channel,
    buffers: &ReadBuffers,
    mut error: ReadError,
) -> ZxResult<Message> {
    loop {
        let (size, count) = (error.bytes, error.handles);
        if size > buffers.bytes.len() || count > buffers.num_handles {
            write_actuals(buffers, size, count)?;
            return Err(Status::BUFFER_TOO_SMALL);
        }
        if count > 0 && count > table.available() {
            return Err(Status::NO_RESOURCES);
        }
        // Both fit (checked just above).
        let part = |buffer: &UserSlice<Out>, len| buffer.part(0, len).ok_or(Status::INVALID_ARGS);
        part(&buffers.bytes, size)?.probe()?;
        part(&buffers.handles, count * 4)?.probe()?;
        error = match channel.read(size, count) {
            Ok(message) => return Ok(message),
            Err(error) if error.status == Status::BUFFER_TOO_SMALL => error,
            Err(error) => return Err(error.status),
        };
    }
}

/// `zx_channel_read`: needs READ; options must be 0.
///
/// The `actual` pointers are probed first. Then each take is one locked operation on the
/// queue, which takes the next message only if it fits in the part of the buffers probed so
/// far (none at first: an empty message fits) and otherwise reports its sizes; the call
/// then probes exactly the part that message fills and tries again. So a bad pointer loses
/// nothing, and when another reader takes the message meanwhile, the next one is never
/// copied past what was probed. BUFFER_TOO_SMALL leaves the message queued and reports its
/// sizes through the `actual` pointers; a message with more handles than the caller's table
/// has room for stays queued too (NO_RESOURCES).
pub(super) fn read(
    table: &HandleTable,
    value: zx_handle_t,
    options: u32,
    buffers: ReadBuffers,
) -> ZxResult {
    let (channel, _) = table.get_object::<Channel>(value, Rights::READ)?;
    if options != 0 {
        return Err(Status::INVALID_ARGS);
    }
    if !buffers.actual_bytes.is_null() {
        buffers.actual_bytes.check()?;
    }
    if !buffers.actual_handles.is_null() {
        buffers.actual_handles.check()?;
    }
    let message = match channel.read(0, 0) {
        // An empty message fits any buffers.
        Ok(message) => message,
        Err(error) if error.status == Status::BUFFER_TOO_SMALL => {
            probe_and_take(table, &channel, &buffers, error)?
        }
        Err(error) => return Err(error.status),
    };
    drop(channel);
    deliver(table, &buffers, message)
}

/// Copies a message out to a reader (bytes, then its handles installed in `table`), and
/// the `actual` counts. A fault loses the message; installed handles whose values could
/// not be written are closed again, never leaked. Inlined: on the path of every read.
#[inline(always)]
fn deliver(table: &HandleTable, buffers: &ReadBuffers, message: Message) -> ZxResult {
    write_actuals(buffers, message.bytes.len(), message.handles.len())?;
    buffers.bytes.write(&message.bytes)?;
    if message.handles.is_empty() {
        return Ok(());
    }
    if message.handles.len() > table.available() {
        return Err(Status::NO_RESOURCES);
    }
    let values = table.insert_many(message.handles)?;
    let mut raw = [0u8; MAX_MSG_HANDLES * 4];
    for (bytes, value) in raw.chunks_exact_mut(4).zip(&values) {
        bytes.copy_from_slice(&value.to_le_bytes());
    }
    if let Err(status) = buffers.handles.write(&raw[..values.len() * 4]) {
        // The values never reached the caller: close the handles rather than leak them.
        for &value in &values {
            drop(table.remove(value));
        }
        return Err(status);
    }
    Ok(())
}
