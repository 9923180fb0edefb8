//! [`Channel`] and [`MessageBuf`].

use alloc::vec::Vec;

use crate::handle::{buf_ptr, handle_type};
use crate::sys::{self, zx_handle_t, ZX_HANDLE_INVALID};
use crate::{ok, Handle, Result, Status};

handle_type!(
    /// One endpoint of a channel.
    Channel
);

/// A message read from or to be written to a channel: bytes and handles.
#[derive(Debug, Default)]
pub struct MessageBuf {
    /// The message bytes.
    pub bytes: Vec<u8>,
    /// The handles; taken ones are left as `Handle::invalid()`.
    pub handles: Vec<Handle>,
}

impl MessageBuf {
    /// An empty buffer.
    pub fn new() -> MessageBuf {
        MessageBuf::default()
    }

    /// A buffer holding `bytes` and `handles`.
    pub fn new_with(bytes: Vec<u8>, handles: Vec<Handle>) -> MessageBuf {
        MessageBuf { bytes, handles }
    }

    /// The bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Number of handles (taken or not).
    pub fn n_handles(&self) -> usize {
        self.handles.len()
    }

    /// Takes handle `index`, leaving `Handle::invalid()`; `None` if out of range or taken.
    pub fn take_handle(&mut self, index: usize) -> Option<Handle> {
        let slot = self.handles.get_mut(index)?;
        let handle = core::mem::take(slot);
        (!handle.is_invalid()).then_some(handle)
    }

    /// Makes room for at least `n_bytes` bytes and `n_handles` handles.
    pub fn ensure_capacity(&mut self, n_bytes: usize, n_handles: usize) {
        self.bytes.reserve(n_bytes.saturating_sub(self.bytes.len()));
        self.handles
            .reserve(n_handles.saturating_sub(self.handles.len()));
    }

    /// Empties the buffer (closing the handles it holds), keeping the capacity.
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.handles.clear();
    }

    /// The bytes and the handles.
    pub fn split(self) -> (Vec<u8>, Vec<Handle>) {
        (self.bytes, self.handles)
    }
}

/// Result of [`Channel::read_raw`] when it fails: the status, and for `BUFFER_TOO_SMALL`
/// the sizes the message needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadError {
    /// The kernel's status.
    pub status: Status,
    /// Bytes of the pending message (valid with `BUFFER_TOO_SMALL`).
    pub actual_bytes: usize,
    /// Handles of the pending message (valid with `BUFFER_TOO_SMALL`).
    pub actual_handles: usize,
}

impl Channel {
    /// A new channel: two connected endpoints (`zx_channel_create`).
    pub fn create() -> Result<(Channel, Channel)> {
        let (mut a, mut b) = (ZX_HANDLE_INVALID, ZX_HANDLE_INVALID);
        // SAFETY: `a` and `b` are valid places for the results.
        ok(unsafe { sys::zx_channel_create(0, &mut a, &mut b) })?;
        // SAFETY: the kernel just created both handles for this process.
        unsafe { Ok((Channel(Handle::from_raw(a)), Channel(Handle::from_raw(b)))) }
    }

    /// Writes a message (`zx_channel_write`). The handles are moved out of `handles` and
    /// consumed whether the write succeeds or not, as the kernel does.
    pub fn write(&self, bytes: &[u8], handles: &mut Vec<Handle>) -> Result<()> {
        let raw: Vec<zx_handle_t> = handles.drain(..).map(Handle::into_raw).collect();
        self.write_raw(bytes, &raw)
    }

    /// Writes a message of raw handles, which are consumed in all cases.
    pub fn write_raw(&self, bytes: &[u8], handles: &[zx_handle_t]) -> Result<()> {
        let (Ok(num_bytes), Ok(num_handles)) =
            (u32::try_from(bytes.len()), u32::try_from(handles.len()))
        else {
            for h in handles {
                // SAFETY: the handles were given to this call to consume.
                drop(unsafe { Handle::from_raw(*h) });
            }
            return Err(Status::OUT_OF_RANGE);
        };
        // SAFETY: both buffers are readable for their lengths.
        ok(unsafe {
            sys::zx_channel_write(
                self.raw_handle(),
                0,
                buf_ptr(bytes),
                num_bytes,
                buf_ptr(handles),
                num_handles,
            )
        })
    }

    /// Reads one message into `buf`, replacing its contents and growing it as needed
    /// (`zx_channel_read`). `Err(SHOULD_WAIT)` if the channel is empty, `Err(PEER_CLOSED)` if
    /// it is empty and the peer is gone.
    pub fn read(&self, buf: &mut MessageBuf) -> Result<()> {
        buf.clear();
        let (mut want_bytes, mut want_handles) =
            (buf.bytes.capacity().max(256), buf.handles.capacity().max(4));
        loop {
            buf.ensure_capacity(want_bytes, want_handles);
            let bytes = buf.bytes.spare_capacity_mut();
            let handles = buf.handles.spare_capacity_mut();
            let (mut nb, mut nh) = (0u32, 0u32);
            let cap_bytes = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
            let cap_handles = u32::try_from(handles.len()).unwrap_or(u32::MAX);
            // SAFETY: both spare capacities are writable for the lengths passed (at least 256
            // bytes and 4 handles, so never empty); `Handle` is a transparent `zx_handle_t`.
            let status = unsafe {
                sys::zx_channel_read(
                    self.raw_handle(),
                    0,
                    bytes.as_mut_ptr().cast::<u8>(),
                    handles.as_mut_ptr().cast::<zx_handle_t>(),
                    cap_bytes,
                    cap_handles,
                    &mut nb,
                    &mut nh,
                )
            };
            match Status::from_raw(status) {
                Status::OK => {
                    let (nb, nh) = (nb as usize, nh as usize);
                    if nb > bytes.len() || nh > handles.len() {
                        return Err(Status::INTERNAL);
                    }
                    // SAFETY: the kernel wrote `nb` bytes and `nh` handles, which now belong
                    // to this process; both counts are within the capacity.
                    unsafe {
                        buf.bytes.set_len(nb);
                        buf.handles.set_len(nh);
                    }
                    return Ok(());
                }
                Status::BUFFER_TOO_SMALL => {
                    want_bytes = want_bytes.max(nb as usize);
                    want_handles = want_handles.max(nh as usize);
                }
                status => return Err(status),
            }
        }
    }

    /// One `zx_channel_read` into caller buffers: `Ok((bytes, handles))` read, or the status
    /// with the needed sizes. The handles written to `handles` belong to the caller.
    pub fn read_raw(
        &self,
        bytes: &mut [u8],
        handles: &mut [zx_handle_t],
    ) -> core::result::Result<(usize, usize), ReadError> {
        let (mut nb, mut nh) = (0u32, 0u32);
        // SAFETY: both buffers are writable for the lengths passed.
        let status = unsafe {
            sys::zx_channel_read(
                self.raw_handle(),
                0,
                crate::handle::buf_ptr_mut(bytes),
                crate::handle::buf_ptr_mut(handles),
                u32::try_from(bytes.len()).unwrap_or(u32::MAX),
                u32::try_from(handles.len()).unwrap_or(u32::MAX),
                &mut nb,
                &mut nh,
            )
        };
        match Status::from_raw(status) {
            Status::OK => Ok((nb as usize, nh as usize)),
            status => Err(ReadError {
                status,
                actual_bytes: nb as usize,
                actual_handles: nh as usize,
            }),
        }
    }
}

impl Channel {
    /// A synchronous request and its reply (`zx_channel_call`): writes `bytes` (its first 4
    /// bytes are replaced by the kernel's txid in the sent copy; at least 4) and `handles`
    /// (consumed in all cases), then waits until `deadline` for the reply, which replaces the
    /// contents of `reply`. The reply buffer grows to `max_bytes` / `max_handles` first;
    /// a larger reply gives `BUFFER_TOO_SMALL` (and is discarded).
    pub fn call(
        &self,
        deadline: crate::Time,
        bytes: &[u8],
        handles: &mut Vec<Handle>,
        reply: &mut MessageBuf,
        max_bytes: usize,
        max_handles: usize,
    ) -> Result<()> {
        let raw: Vec<zx_handle_t> = handles.drain(..).map(Handle::into_raw).collect();
        reply.clear();
        reply.ensure_capacity(max_bytes, max_handles);
        let rd_bytes = reply.bytes.spare_capacity_mut();
        let rd_handles = reply.handles.spare_capacity_mut();
        let args = sys::zx_channel_call_args_t {
            wr_bytes: buf_ptr(bytes) as usize,
            wr_handles: buf_ptr(&raw) as usize,
            rd_bytes: rd_bytes.as_mut_ptr() as usize,
            rd_handles: rd_handles.as_mut_ptr() as usize,
            wr_num_bytes: u32::try_from(bytes.len()).unwrap_or(u32::MAX),
            wr_num_handles: u32::try_from(raw.len()).unwrap_or(u32::MAX),
            rd_num_bytes: u32::try_from(rd_bytes.len()).unwrap_or(u32::MAX),
            rd_num_handles: u32::try_from(rd_handles.len()).unwrap_or(u32::MAX),
        };
        let (mut nb, mut nh) = (0u32, 0u32);
        // SAFETY: `args` names buffers readable (request) and writable (reply) for the
        // lengths it gives; `Handle` is a transparent `zx_handle_t`.
        ok(unsafe {
            sys::zx_channel_call(
                self.raw_handle(),
                0,
                deadline.into_nanos(),
                &args,
                &mut nb,
                &mut nh,
            )
        })?;
        let (nb, nh) = (nb as usize, nh as usize);
        if nb > reply.bytes.capacity() || nh > reply.handles.capacity() {
            return Err(Status::INTERNAL);
        }
        // SAFETY: the kernel wrote `nb` bytes and `nh` handles (now this process's), within
        // the capacities.
        unsafe {
            reply.bytes.set_len(nb);
            reply.handles.set_len(nh);
        }
        Ok(())
    }
}
