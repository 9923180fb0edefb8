//! [`Vmar`]: virtual memory address regions.

use crate::flags::flags_type;
use crate::handle::handle_type;
use crate::sys::{self, ZX_HANDLE_INVALID};
use crate::{ok, startup, AsHandleRef, Handle, Result, Unowned, Vmo};

handle_type!(
    /// A virtual memory address region.
    Vmar
);

flags_type! {
    /// Options of [`Vmar::map`], [`Vmar::protect`] and [`Vmar::allocate`] (`ZX_VM_*`).
    pub struct VmarFlags: u32 {
        /// `ZX_VM_PERM_READ`.
        const PERM_READ = sys::ZX_VM_PERM_READ;
        /// `ZX_VM_PERM_WRITE`.
        const PERM_WRITE = sys::ZX_VM_PERM_WRITE;
        /// `ZX_VM_PERM_EXECUTE`.
        const PERM_EXECUTE = sys::ZX_VM_PERM_EXECUTE;
        /// `ZX_VM_COMPACT`.
        const COMPACT = sys::ZX_VM_COMPACT;
        /// `ZX_VM_SPECIFIC`.
        const SPECIFIC = sys::ZX_VM_SPECIFIC;
        /// `ZX_VM_SPECIFIC_OVERWRITE`.
        const SPECIFIC_OVERWRITE = sys::ZX_VM_SPECIFIC_OVERWRITE;
        /// `ZX_VM_CAN_MAP_SPECIFIC`.
        const CAN_MAP_SPECIFIC = sys::ZX_VM_CAN_MAP_SPECIFIC;
        /// `ZX_VM_CAN_MAP_READ`.
        const CAN_MAP_READ = sys::ZX_VM_CAN_MAP_READ;
        /// `ZX_VM_CAN_MAP_WRITE`.
        const CAN_MAP_WRITE = sys::ZX_VM_CAN_MAP_WRITE;
        /// `ZX_VM_CAN_MAP_EXECUTE`.
        const CAN_MAP_EXECUTE = sys::ZX_VM_CAN_MAP_EXECUTE;
        /// `ZX_VM_MAP_RANGE`.
        const MAP_RANGE = sys::ZX_VM_MAP_RANGE;
        /// `ZX_VM_REQUIRE_NON_RESIZABLE`.
        const REQUIRE_NON_RESIZABLE = sys::ZX_VM_REQUIRE_NON_RESIZABLE;
        /// `ZX_VM_ALIGN_4KB`.
        const ALIGN_4KB = sys::ZX_VM_ALIGN_4KB;
        /// `ZX_VM_ALIGN_64KB`.
        const ALIGN_64KB = sys::ZX_VM_ALIGN_64KB;
        /// `ZX_VM_ALIGN_1MB`.
        const ALIGN_1MB = sys::ZX_VM_ALIGN_1MB;
        /// `ZX_VM_ALIGN_2MB`.
        const ALIGN_2MB = sys::ZX_VM_ALIGN_2MB;
        /// `ZX_VM_ALIGN_1GB`.
        const ALIGN_1GB = sys::ZX_VM_ALIGN_1GB;
    }
}

impl VmarFlags {
    /// `PERM_READ | PERM_WRITE`.
    pub const PERM_READ_WRITE: VmarFlags = VmarFlags(sys::ZX_VM_PERM_READ | sys::ZX_VM_PERM_WRITE);
}

impl Vmar {
    /// This process's root VMAR (startup handle 1), borrowed.
    pub fn root_self() -> Unowned<'static, Vmar> {
        // SAFETY: the runtime never closes startup handle 1.
        unsafe { Unowned::from_raw_static(startup::vmar_root_self()) }
    }

    /// Maps `len` bytes of `vmo` from `vmo_offset` (`zx_vmar_map`); returns the address.
    /// `vmar_offset` is relative to the region's base and only used with `SPECIFIC`.
    pub fn map(
        &self,
        vmar_offset: usize,
        vmo: &Vmo,
        vmo_offset: u64,
        len: usize,
        flags: VmarFlags,
    ) -> Result<usize> {
        let mut addr = 0;
        // SAFETY: `addr` is a valid place for the result. A new mapping does not touch
        // existing memory unless SPECIFIC_OVERWRITE is given, which the caller asked for.
        ok(unsafe {
            sys::zx_vmar_map(
                self.raw_handle(),
                flags.bits(),
                vmar_offset,
                vmo.raw_handle(),
                vmo_offset,
                len,
                &mut addr,
            )
        })?;
        Ok(addr)
    }

    /// Unmaps `[addr, addr + len)` (`zx_vmar_unmap`).
    ///
    /// # Safety
    /// Nothing may use the memory of the range afterwards (Rust references into it would
    /// dangle).
    pub unsafe fn unmap(&self, addr: usize, len: usize) -> Result<()> {
        // SAFETY: forwarded to the caller.
        ok(unsafe { sys::zx_vmar_unmap(self.raw_handle(), addr, len) })
    }

    /// Changes the permissions of `[addr, addr + len)` (`zx_vmar_protect`).
    ///
    /// # Safety
    /// Nothing may access the range in a way the new permissions forbid.
    pub unsafe fn protect(&self, addr: usize, len: usize, flags: VmarFlags) -> Result<()> {
        // SAFETY: forwarded to the caller.
        ok(unsafe { sys::zx_vmar_protect(self.raw_handle(), flags.bits(), addr, len) })
    }

    /// A child region of `size` bytes (`zx_vmar_allocate`); returns it and its address.
    pub fn allocate(&self, offset: usize, size: usize, flags: VmarFlags) -> Result<(Vmar, usize)> {
        let (mut child, mut addr) = (ZX_HANDLE_INVALID, 0usize);
        // SAFETY: `child` and `addr` are valid places for the results.
        ok(unsafe {
            sys::zx_vmar_allocate(
                self.raw_handle(),
                flags.bits(),
                offset,
                size,
                &mut child,
                &mut addr,
            )
        })?;
        // SAFETY: the kernel just created `child` for this process.
        Ok((Vmar(unsafe { Handle::from_raw(child) }), addr))
    }

    /// Destroys the region: unmaps everything in it (`zx_vmar_destroy`).
    ///
    /// # Safety
    /// Nothing may use the memory of the region afterwards.
    pub unsafe fn destroy(&self) -> Result<()> {
        // SAFETY: forwarded to the caller.
        ok(unsafe { sys::zx_vmar_destroy(self.raw_handle()) })
    }

    /// `ZX_INFO_VMAR`: base and length.
    pub fn info(&self) -> Result<sys::zx_info_vmar_t> {
        self.get_info(sys::ZX_INFO_VMAR)
    }
}
