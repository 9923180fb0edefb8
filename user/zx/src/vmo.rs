//! [`Vmo`]: virtual memory objects.

use alloc::vec::Vec;

use crate::flags::flags_type;
use crate::handle::{buf_ptr, buf_ptr_mut, handle_type};
use crate::sys::{self, ZX_HANDLE_INVALID};
use crate::{ok, AsHandleRef, Handle, Result};

handle_type!(
    /// A virtual memory object.
    Vmo
);

flags_type! {
    /// Options of [`Vmo::create_with_opts`] (`zx_vmo_create`). No option makes a resizable VMO.
    pub struct VmoOptions: u32 {
        /// `ZX_VMO_NON_RESIZABLE`.
        const NON_RESIZABLE = sys::ZX_VMO_NON_RESIZABLE;
    }
}

flags_type! {
    /// Options of [`Vmo::create_child`] (`zx_vmo_create_child`).
    pub struct VmoChildOptions: u32 {
        /// `ZX_VMO_CHILD_SNAPSHOT`: neither side sees the other's later writes.
        const SNAPSHOT = sys::ZX_VMO_CHILD_SNAPSHOT;
        /// `ZX_VMO_CHILD_RESIZABLE`.
        const RESIZABLE = sys::ZX_VMO_CHILD_RESIZABLE;
        /// `ZX_VMO_CHILD_SLICE`: a window sharing pages both ways.
        const SLICE = sys::ZX_VMO_CHILD_SLICE;
        /// `ZX_VMO_CHILD_NO_WRITE`: the child handle lacks `WRITE`.
        const NO_WRITE = sys::ZX_VMO_CHILD_NO_WRITE;
    }
}

flags_type! {
    /// Options of [`Vmo::create_clone`] (`zx_vmo_clone`); `COPY_ON_WRITE` is required.
    pub struct VmoCloneOptions: u32 {
        /// `ZX_VMO_CLONE_COPY_ON_WRITE`.
        const COPY_ON_WRITE = sys::ZX_VMO_CLONE_COPY_ON_WRITE;
        /// `ZX_VMO_CLONE_NON_RESIZEABLE` (Zircon's spelling).
        const NON_RESIZEABLE = sys::ZX_VMO_CLONE_NON_RESIZEABLE;
    }
}

/// An operation of [`Vmo::op_range`] (`ZX_VMO_OP_*`).
#[repr(transparent)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct VmoOp(u32);

impl VmoOp {
    /// `ZX_VMO_OP_COMMIT`.
    pub const COMMIT: VmoOp = VmoOp(sys::ZX_VMO_OP_COMMIT);
    /// `ZX_VMO_OP_DECOMMIT`.
    pub const DECOMMIT: VmoOp = VmoOp(sys::ZX_VMO_OP_DECOMMIT);
    /// `ZX_VMO_OP_LOCK`.
    pub const LOCK: VmoOp = VmoOp(sys::ZX_VMO_OP_LOCK);
    /// `ZX_VMO_OP_UNLOCK`.
    pub const UNLOCK: VmoOp = VmoOp(sys::ZX_VMO_OP_UNLOCK);
    /// `ZX_VMO_OP_CACHE_SYNC`.
    pub const CACHE_SYNC: VmoOp = VmoOp(sys::ZX_VMO_OP_CACHE_SYNC);
    /// `ZX_VMO_OP_CACHE_INVALIDATE`.
    pub const CACHE_INVALIDATE: VmoOp = VmoOp(sys::ZX_VMO_OP_CACHE_INVALIDATE);
    /// `ZX_VMO_OP_CACHE_CLEAN`.
    pub const CACHE_CLEAN: VmoOp = VmoOp(sys::ZX_VMO_OP_CACHE_CLEAN);
    /// `ZX_VMO_OP_CACHE_CLEAN_INVALIDATE`.
    pub const CACHE_CLEAN_INVALIDATE: VmoOp = VmoOp(sys::ZX_VMO_OP_CACHE_CLEAN_INVALIDATE);
    /// `ZX_VMO_OP_ZERO`.
    pub const ZERO: VmoOp = VmoOp(sys::ZX_VMO_OP_ZERO);

    /// Wraps a raw operation number (unknown ones are passed to the kernel as they are).
    pub const fn from_raw(raw: u32) -> VmoOp {
        VmoOp(raw)
    }

    /// The raw operation number.
    pub const fn into_raw(self) -> u32 {
        self.0
    }
}

impl Vmo {
    /// A resizable VMO of `size` bytes (rounded up to a page), pages committed lazily.
    pub fn create(size: u64) -> Result<Vmo> {
        Vmo::create_with_opts(VmoOptions::empty(), size)
    }

    /// A VMO with options (`zx_vmo_create`).
    pub fn create_with_opts(opts: VmoOptions, size: u64) -> Result<Vmo> {
        let mut out = ZX_HANDLE_INVALID;
        // SAFETY: `out` is a valid place for the result.
        ok(unsafe { sys::zx_vmo_create(size, opts.bits(), &mut out) })?;
        // SAFETY: the kernel just created `out` for this process.
        Ok(Vmo(unsafe { Handle::from_raw(out) }))
    }

    /// Reads `data.len()` bytes at `offset` (`zx_vmo_read`): all of them or none.
    pub fn read(&self, data: &mut [u8], offset: u64) -> Result<()> {
        // SAFETY: `data` is writable for its length.
        ok(unsafe { sys::zx_vmo_read(self.raw_handle(), buf_ptr_mut(data), offset, data.len()) })
    }

    /// Reads `len` bytes at `offset` into a new vector, which is not cleared first: the
    /// kernel writes every byte or fails.
    pub fn read_to_vec(&self, offset: u64, len: usize) -> Result<Vec<u8>> {
        let mut data: Vec<u8> = Vec::with_capacity(len);
        // SAFETY: the buffer has room for `len` bytes; zx_vmo_read fills all of them or
        // fails, and only then is the length set.
        unsafe {
            ok(sys::zx_vmo_read(
                self.raw_handle(),
                data.as_mut_ptr(),
                offset,
                len,
            ))?;
            data.set_len(len);
        }
        Ok(data)
    }

    /// Writes `data` at `offset` (`zx_vmo_write`): all of it or nothing.
    pub fn write(&self, data: &[u8], offset: u64) -> Result<()> {
        // SAFETY: `data` is readable for its length.
        ok(unsafe { sys::zx_vmo_write(self.raw_handle(), buf_ptr(data), offset, data.len()) })
    }

    /// The size in bytes, a multiple of the page size (`zx_vmo_get_size`).
    pub fn get_size(&self) -> Result<u64> {
        let mut size = 0;
        // SAFETY: `size` is a valid place for the result.
        ok(unsafe { sys::zx_vmo_get_size(self.raw_handle(), &mut size) })?;
        Ok(size)
    }

    /// Resizes the VMO (`zx_vmo_set_size`).
    pub fn set_size(&self, size: u64) -> Result<()> {
        // SAFETY: no memory is passed.
        ok(unsafe { sys::zx_vmo_set_size(self.raw_handle(), size) })
    }

    /// A child VMO: snapshot or slice (`zx_vmo_create_child`).
    pub fn create_child(&self, opts: VmoChildOptions, offset: u64, size: u64) -> Result<Vmo> {
        let mut out = ZX_HANDLE_INVALID;
        // SAFETY: `out` is a valid place for the result.
        ok(unsafe {
            sys::zx_vmo_create_child(self.raw_handle(), opts.bits(), offset, size, &mut out)
        })?;
        // SAFETY: the kernel just created `out` for this process.
        Ok(Vmo(unsafe { Handle::from_raw(out) }))
    }

    /// A copy-on-write clone (`zx_vmo_clone`, the call of the original man page).
    pub fn create_clone(&self, opts: VmoCloneOptions, offset: u64, size: u64) -> Result<Vmo> {
        let mut out = ZX_HANDLE_INVALID;
        // SAFETY: `out` is a valid place for the result.
        ok(unsafe { sys::zx_vmo_clone(self.raw_handle(), opts.bits(), offset, size, &mut out) })?;
        // SAFETY: the kernel just created `out` for this process.
        Ok(Vmo(unsafe { Handle::from_raw(out) }))
    }

    /// An operation on a range (`zx_vmo_op_range`, no buffer).
    pub fn op_range(&self, op: VmoOp, offset: u64, size: u64) -> Result<()> {
        // SAFETY: a zero-length buffer is never accessed.
        ok(unsafe {
            sys::zx_vmo_op_range(
                self.raw_handle(),
                op.into_raw(),
                offset,
                size,
                buf_ptr_mut::<u8>(&mut []),
                0,
            )
        })
    }

    /// `ZX_INFO_VMO`.
    pub fn info(&self) -> Result<sys::zx_info_vmo_t> {
        self.get_info(sys::ZX_INFO_VMO)
    }
}
