//! [`Socket`]: a byte stream or datagram pipe between two endpoints.

use crate::handle::{buf_ptr, buf_ptr_mut, handle_type};
use crate::sys::{self, ZX_HANDLE_INVALID};
use crate::{ok, Handle, Result};

handle_type!(
    /// One endpoint of a socket.
    Socket
);

impl Socket {
    /// A stream socket (`zx_socket_create(ZX_SOCKET_STREAM)`).
    pub fn create_stream() -> Result<(Socket, Socket)> {
        Socket::create(sys::ZX_SOCKET_STREAM)
    }

    /// A datagram socket (`zx_socket_create(ZX_SOCKET_DATAGRAM)`).
    pub fn create_datagram() -> Result<(Socket, Socket)> {
        Socket::create(sys::ZX_SOCKET_DATAGRAM)
    }

    /// `zx_socket_create` with raw options.
    pub fn create(options: u32) -> Result<(Socket, Socket)> {
        let (mut a, mut b) = (ZX_HANDLE_INVALID, ZX_HANDLE_INVALID);
        // SAFETY: `a` and `b` are valid places for the results.
        ok(unsafe { sys::zx_socket_create(options, &mut a, &mut b) })?;
        // SAFETY: the kernel just created both handles for this process.
        unsafe { Ok((Socket(Handle::from_raw(a)), Socket(Handle::from_raw(b)))) }
    }

    /// Writes `bytes` (`zx_socket_write`); returns how many went (a stream write may be
    /// short; a datagram is all or nothing).
    pub fn write(&self, bytes: &[u8]) -> Result<usize> {
        let mut actual = 0usize;
        // SAFETY: the buffer is readable for its length; `actual` is a valid place.
        ok(unsafe {
            sys::zx_socket_write(
                self.raw_handle(),
                0,
                buf_ptr(bytes),
                bytes.len(),
                &mut actual,
            )
        })?;
        Ok(actual)
    }

    /// Reads into `buf` (`zx_socket_read`); returns how many bytes were copied.
    pub fn read(&self, buf: &mut [u8]) -> Result<usize> {
        self.read_opts(buf, 0)
    }

    /// Copies into `buf` without removing anything (`ZX_SOCKET_PEEK`).
    pub fn peek(&self, buf: &mut [u8]) -> Result<usize> {
        self.read_opts(buf, sys::ZX_SOCKET_PEEK)
    }

    fn read_opts(&self, buf: &mut [u8], options: u32) -> Result<usize> {
        let mut actual = 0usize;
        // SAFETY: the buffer is writable for its length; `actual` is a valid place.
        ok(unsafe {
            sys::zx_socket_read(
                self.raw_handle(),
                options,
                buf_ptr_mut(buf),
                buf.len(),
                &mut actual,
            )
        })?;
        Ok(actual)
    }

    /// `zx_socket_set_disposition`: `ZX_SOCKET_DISPOSITION_*` (or 0) for this endpoint's
    /// writes and for the peer's.
    pub fn set_disposition(&self, disposition: u32, disposition_peer: u32) -> Result<()> {
        // SAFETY: no pointers.
        ok(unsafe {
            sys::zx_socket_set_disposition(self.raw_handle(), disposition, disposition_peer)
        })
    }
}
