//! `zx_socket_create`, `zx_socket_write`, `zx_socket_read`, `zx_socket_set_disposition`.
//!
//! The object (`object::socket`) runs the user copies through closures, without its lock:
//! a write's bytes are copied into a kernel chunk first, a read's bytes out of a kernel
//! buffer afterwards (put back if that copy faults).

use super::{publish_pair, HandleOut};
use crate::memory;
use crate::usercopy::{In, Out, UserOut, UserSlice};
use abi::{zx_handle_t, ZX_SOCKET_PEEK};
use object::handle::{Handle, HandleTable};
use object::socket::Socket;
use object::{Rights, Status, ZxResult};

/// `zx_socket_create`: options STREAM or DATAGRAM; both endpoints get the default rights.
pub(super) fn create(
    table: &HandleTable,
    options: u32,
    out0: HandleOut,
    out1: HandleOut,
) -> ZxResult {
    if options & !abi::ZX_SOCKET_DATAGRAM != 0 {
        return Err(Status::INVALID_ARGS);
    }
    out0.check()?;
    out1.check()?;
    let (endpoint0, endpoint1) = Socket::create(options)?;
    publish_pair(
        table,
        (Handle::new(endpoint0, Rights::DEFAULT_SOCKET), out0),
        (Handle::new(endpoint1, Rights::DEFAULT_SOCKET), out1),
    )
}

/// `zx_socket_write`: needs WRITE; options 0; `buffer` NULL only with size 0; `actual`
/// optional. NO_MEMORY when the kernel would dip into its reserve to hold the bytes.
pub(super) fn write(
    table: &HandleTable,
    value: zx_handle_t,
    options: u32,
    buffer: UserSlice<In>,
    buffer_addr: usize,
    actual: UserOut<usize>,
) -> ZxResult {
    let (socket, _) = table.get_object::<Socket>(value, Rights::WRITE)?;
    if options != 0 || (buffer_addr == 0 && !buffer.is_empty()) {
        return Err(Status::INVALID_ARGS);
    }
    if !actual.is_null() {
        actual.check()?;
    }
    if !memory::may_queue(buffer.len().min(object::socket::RX_BUF_MAX)) {
        return Err(Status::NO_MEMORY);
    }
    let written = socket.write(buffer.len(), |data, n| {
        buffer
            .part(0, n)
            .ok_or(Status::INVALID_ARGS)?
            .append_to(data)
    })?;
    drop(socket);
    if !actual.is_null() {
        actual.write(written)?;
    }
    Ok(())
}

/// `zx_socket_read`: needs READ; options 0 or PEEK; `buffer` NULL only with size 0;
/// `actual` optional. A fault on the buffer returns INVALID_ARGS and the bytes stay queued.
pub(super) fn read(
    table: &HandleTable,
    value: zx_handle_t,
    options: u32,
    buffer: UserSlice<Out>,
    buffer_addr: usize,
    actual: UserOut<usize>,
) -> ZxResult {
    let (socket, _) = table.get_object::<Socket>(value, Rights::READ)?;
    if (options != 0 && options != ZX_SOCKET_PEEK) || (buffer_addr == 0 && !buffer.is_empty()) {
        return Err(Status::INVALID_ARGS);
    }
    if !actual.is_null() {
        actual.check()?;
    }
    let count = socket.read(buffer.len(), options == ZX_SOCKET_PEEK, |bytes| {
        buffer.write(bytes)
    })?;
    drop(socket);
    if !actual.is_null() {
        actual.write(count)?;
    }
    Ok(())
}

/// `zx_socket_set_disposition`: needs MANAGE_SOCKET.
pub(super) fn set_disposition(
    table: &HandleTable,
    value: zx_handle_t,
    disposition: u32,
    disposition_peer: u32,
) -> ZxResult {
    let (socket, _) = table.get_object::<Socket>(value, Rights::MANAGE_SOCKET)?;
    socket.set_disposition(disposition, disposition_peer)
}
