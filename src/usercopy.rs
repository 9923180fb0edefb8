//! Access to user memory. Only these routines touch it: they check the range lies in the
//! user half (overflow-safe), copy with unprivileged loads/stores (`ldtr`/`sttr`, so PAN
//! stays on and user permissions apply), serve a fault on a not-yet-mapped VMO page and
//! continue, and turn an unresolvable fault into INVALID_ARGS. Bulk copies of a range that
//! [`probe`] has just checked page by page with EL0's permissions (by address translation,
//! touching nothing) use ordinary 128-bit loads and stores instead ([`copy_probed`]).
//!
//! The system-call layer reaches them only through [`UserSlice`], [`UserIn`] and [`UserOut`],
//! made from the call's argument registers; each checks its range here, once per access.
//!
//! Never call them while holding a lock a page fault could need (VMO, VMAR, handle table).

use arch::user_mmu::UserAccess;
use core::marker::PhantomData;
use object::{Status, ZxResult};

pub use object::task::USER_END;

extern "C" {
    fn arch_copy_from_user(dst: *mut u8, src: usize, len: usize) -> u64;
    fn arch_copy_to_user(dst: usize, src: *const u8, len: usize) -> u64;
    fn arch_copy_user_fast(dst: *mut u8, src: *const u8, len: usize, clear_pan: u64) -> u64;
}

/// Checks that every page of `addr..addr + len` can be read (and, with `write`, written) by
/// the user, serving the pages that cannot yet through the VMAR's fault path (a page not
/// faulted in, a copy-on-write page to be written). INVALID_ARGS at the first page that
/// cannot be made so. The check asks the MMU (an address translation), so no byte is read
/// or written: a store another thread makes to the buffer meanwhile is never lost.
fn probe(addr: usize, len: usize, write: bool) -> ZxResult {
    if len == 0 {
        return Ok(());
    }
    check_user_range(addr, len)?;
    if len > PROBE_PIECE {
        return probe_in_pieces(addr, len, write);
    }
    probe_piece(addr, len, write)
}

/// [`probe`] of a buffer larger than a piece: a preemption point between pieces, as each
/// page checked may have to be faulted in (and committed).
#[inline(never)]
fn probe_in_pieces(addr: usize, len: usize, write: bool) -> ZxResult {
    let (mut at, end) = (addr, addr + len);
    loop {
        let piece = (end - at).min(PROBE_PIECE);
        probe_piece(at, piece, write)?;
        at += piece;
        if at == end {
            return Ok(());
        }
        if !crate::task::preempt_point() {
            return Err(Status::CANCELED);
        }
    }
}

/// Probes `addr..addr + len`, a non-empty range already checked to lie in the user half.
#[inline(always)]
fn probe_piece(addr: usize, len: usize, write: bool) -> ZxResult {
    let end = addr + len;
    let mut va = addr;
    loop {
        if arch::user_mmu::user_access(va, write) != UserAccess::Allowed {
            fault_in(va, write)?;
        }
        va = (va & !(PAGE - 1)) + PAGE;
        if va >= end {
            return Ok(());
        }
    }
}

/// A page [`probe`] found EL0 cannot access as asked: served through the VMAR's fault path
/// and checked again (a few times: another thread may unmap it again in between).
#[inline(never)]
fn fault_in(va: usize, write: bool) -> ZxResult {
    for _ in 0..FAULT_TRIES {
        if arch::user_mmu::user_access(va, write) == UserAccess::Other
            || !serve_user_fault(va, write)
        {
            return Err(Status::INVALID_ARGS);
        }
        if arch::user_mmu::user_access(va, write) == UserAccess::Allowed {
            return Ok(());
        }
    }
    Err(Status::INVALID_ARGS)
}

/// Serves a fault on user address `va` that a copy took, or would take (a check before the
/// copy found the page missing or lacking the permission), through the current process's
/// VMARs. While a copy holds frames it must not wait: a fault that would is left for
/// [`crate::task::take_fault_left`] and this says no.
pub fn serve_user_fault(va: usize, write: bool) -> bool {
    let Some(process) = crate::task::current_process() else {
        return false;
    };
    if !crate::task::copy_holds_frames() {
        return process.root_vmar().handle_fault(va, write, false).is_ok();
    }
    match process.root_vmar().handle_fault_without_waiting(va, write) {
        Ok(()) => true,
        Err(Status::SHOULD_WAIT) => {
            crate::task::leave_fault_for_later(va, write);
            false
        }
        Err(_) => false,
    }
}

/// How often [`fault_in`] serves a page before it gives up.
const FAULT_TRIES: usize = 4;

const PAGE: usize = 4096;

/// Bytes [`probe`] checks between two preemption points.
const PROBE_PIECE: usize = object::preempt::CHUNK_PAGES * 4096;

/// INVALID_ARGS unless `addr..addr+len` is a non-null range inside the user half: the one
/// check of a user range, made by every access below.
fn check_user_range(addr: usize, len: usize) -> ZxResult {
    if addr == 0 {
        return Err(Status::INVALID_ARGS);
    }
    match addr.checked_add(len) {
        Some(end) if end <= USER_END => Ok(()),
        _ => Err(Status::INVALID_ARGS),
    }
}

/// Which way a [`UserSlice`] is used: the call reads it ([`In`]) or writes it ([`Out`]).
pub trait Direction {
    /// Whether the call writes the user memory.
    const WRITE: bool;
}

/// User memory a system call reads.
pub enum In {}

/// User memory a system call writes.
pub enum Out {}

impl Direction for In {
    const WRITE: bool = false;
}

impl Direction for Out {
    const WRITE: bool = true;
}

/// `len` bytes of user memory at a user address, as a system call's arguments name them.
/// Nothing is checked when one is made (a call reports a bad handle before a bad pointer);
/// every access checks the range and uses EL0's permissions, and is the only way the kernel
/// touches user memory.
#[derive(Clone, Copy, Debug)]
pub struct UserSlice<D: Direction> {
    addr: usize,
    len: usize,
    direction: PhantomData<D>,
}

impl<D: Direction> UserSlice<D> {
    pub fn new(addr: usize, len: usize) -> Self {
        UserSlice {
            addr,
            len,
            direction: PhantomData,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// `len` bytes from byte `offset` on; `None` unless they lie inside this slice.
    pub fn part(&self, offset: usize, len: usize) -> Option<Self> {
        let end = offset.checked_add(len)?;
        (end <= self.len).then(|| Self::new(self.addr.wrapping_add(offset), len))
    }

    /// Makes sure every page can be read (and, for [`Out`], written) by the user, faulting
    /// pages in through the VMAR where needed ([`probe`]), so that the copies that follow
    /// cannot fail half way: a failing call changes nothing. INVALID_ARGS for a NULL, kernel,
    /// wrapping or inaccessible range; nothing for an empty one.
    pub fn probe(&self) -> ZxResult {
        probe(self.addr, self.len, D::WRITE)
    }

    /// Copies between `len` bytes of kernel memory at `kernel` and the slice from byte
    /// `offset` on, with ordinary 128-bit loads and stores, about one instruction per 16
    /// bytes: for a slice [`UserSlice::probe`] checked in this same call. INVALID_ARGS if
    /// the bytes lie outside the slice or the copy faults.
    ///
    /// # Safety
    /// `kernel` must be valid for `len` bytes (for writing, for an [`In`] slice), and the
    /// slice must have been probed in this call.
    pub unsafe fn copy_probed(&self, offset: usize, kernel: *mut u8, len: usize) -> ZxResult {
        let part = self.part(offset, len).ok_or(Status::INVALID_ARGS)?;
        // SAFETY: forwarded from the caller; the part lies inside the probed slice.
        unsafe { part.copy_all_probed(kernel) }
    }

    /// [`UserSlice::copy_probed`] of the whole slice.
    ///
    /// # Safety
    /// As for [`UserSlice::copy_probed`], with `kernel` valid for the slice's length.
    #[inline(always)]
    pub unsafe fn copy_all_probed(&self, kernel: *mut u8) -> ZxResult {
        // SAFETY: forwarded from the caller.
        unsafe { copy_probed(self.addr, kernel, self.len, D::WRITE) }
    }
}

impl UserSlice<In> {
    /// Copies the first `dst.len()` bytes of the slice (at most its length) into `dst`.
    pub fn read(&self, dst: &mut [u8]) -> ZxResult {
        if dst.len() > self.len {
            return Err(Status::INVALID_ARGS);
        }
        copy_from_user(dst, self.addr)
    }

    /// Copies the slice into the spare capacity of `dst` and extends it by it; `dst` needs
    /// room for it (NO_MEMORY otherwise). On failure `dst` is unchanged.
    #[inline(always)]
    pub fn append_to(&self, dst: &mut alloc::vec::Vec<u8>) -> ZxResult {
        append_from_user(dst, self.addr, self.len)
    }
}

impl UserSlice<Out> {
    /// Copies `src` (at most the slice's length) to the start of the slice.
    pub fn write(&self, src: &[u8]) -> ZxResult {
        if src.len() > self.len {
            return Err(Status::INVALID_ARGS);
        }
        copy_to_user(self.addr, src)
    }

    /// Writes an ABI struct (`zx_info_*_t`) at the start of the slice.
    pub fn write_record<T: abi::AbiStruct>(&self, value: &T) -> ZxResult {
        self.write(value.to_bytes().as_ref())
    }
}

/// A value a system call reads from or writes to user memory: little-endian bytes.
pub trait UserValue: Copy {
    const SIZE: usize;
    fn to_user_bytes(self) -> [u8; 8];
    fn from_user_bytes(bytes: [u8; 8]) -> Self;
}

macro_rules! user_value {
    ($($ty:ty),*) => {$(
        impl UserValue for $ty {
            const SIZE: usize = core::mem::size_of::<$ty>();
            fn to_user_bytes(self) -> [u8; 8] {
                let mut bytes = [0; 8];
                bytes[..Self::SIZE].copy_from_slice(&self.to_le_bytes());
                bytes
            }
            fn from_user_bytes(bytes: [u8; 8]) -> Self {
                let mut own = [0; core::mem::size_of::<$ty>()];
                own.copy_from_slice(&bytes[..Self::SIZE]);
                <$ty>::from_le_bytes(own)
            }
        }
    )*};
}

user_value!(u32, u64, usize, i64);

/// Where a system call writes one `T` (a handle value, a size, ...): unchecked until used.
#[derive(Clone, Copy, Debug)]
pub struct UserOut<T: UserValue> {
    addr: usize,
    value: PhantomData<T>,
}

impl<T: UserValue> UserOut<T> {
    pub fn new(addr: usize) -> Self {
        UserOut {
            addr,
            value: PhantomData,
        }
    }

    /// Whether the pointer is NULL: for the outputs a call may be given none of.
    pub fn is_null(&self) -> bool {
        self.addr == 0
    }

    /// INVALID_ARGS unless a `T` can be written there now: checked (and faulted in) before
    /// the work, so the final write cannot fail and a bad pointer costs nothing.
    pub fn check(&self) -> ZxResult {
        probe(self.addr, T::SIZE, true)
    }

    pub fn write(&self, value: T) -> ZxResult {
        copy_to_user(self.addr, &value.to_user_bytes()[..T::SIZE])
    }
}

/// Where a system call reads one `T` from: unchecked until used.
#[derive(Clone, Copy, Debug)]
pub struct UserIn<T: UserValue> {
    addr: usize,
    value: PhantomData<T>,
}

impl<T: UserValue> UserIn<T> {
    pub fn new(addr: usize) -> Self {
        UserIn {
            addr,
            value: PhantomData,
        }
    }

    pub fn read(&self) -> ZxResult<T> {
        let mut bytes = [0; 8];
        copy_from_user(&mut bytes[..T::SIZE], self.addr)?;
        Ok(T::from_user_bytes(bytes))
    }
}

/// Copies `dst.len()` bytes from user address `src`.
fn copy_from_user(dst: &mut [u8], src: usize) -> ZxResult {
    if dst.is_empty() {
        return Ok(());
    }
    check_user_range(src, dst.len())?;
    // SAFETY: `dst` is a valid kernel buffer; the routine reads user memory only with
    // unprivileged loads covered by the fixup table, so a bad address returns an error.
    match unsafe { arch_copy_from_user(dst.as_mut_ptr(), src, dst.len()) } {
        0 => Ok(()),
        _ => Err(Status::INVALID_ARGS),
    }
}

/// Copies `len` bytes from user address `src` into the spare capacity of `dst` and
/// extends it by them; `dst` needs room for them. On failure `dst` is unchanged.
#[inline(always)]
fn append_from_user(dst: &mut alloc::vec::Vec<u8>, src: usize, len: usize) -> ZxResult {
    let spare = dst.spare_capacity_mut();
    if spare.len() < len {
        return Err(Status::NO_MEMORY);
    }
    if len == 0 {
        return Ok(());
    }
    check_user_range(src, len)?;
    // SAFETY: the spare capacity holds at least `len` writable bytes; the routine reads user
    // memory only with unprivileged loads covered by the fixup table.
    match unsafe { arch_copy_from_user(spare.as_mut_ptr().cast(), src, len) } {
        0 => {
            // SAFETY: the copy initialised the `len` bytes after the old length, which fit
            // in the capacity (checked above).
            unsafe { dst.set_len(dst.len() + len) };
            Ok(())
        }
        _ => Err(Status::INVALID_ARGS),
    }
}

/// Copies `src` to user address `dst`.
fn copy_to_user(dst: usize, src: &[u8]) -> ZxResult {
    if src.is_empty() {
        return Ok(());
    }
    check_user_range(dst, src.len())?;
    // SAFETY: as above, with unprivileged stores.
    match unsafe { arch_copy_to_user(dst, src.as_ptr(), src.len()) } {
        0 => Ok(()),
        _ => Err(Status::INVALID_ARGS),
    }
}

/// Bulk copy between kernel memory and a user range that [`probe`] checked in this same
/// call: ordinary 128-bit loads and stores. They are privileged, but reach only what EL0
/// could: every entry of a user address space grants EL1 no more than EL0 (read-only pages
/// are read-only at both levels), so even a page another thread remapped since the probe is
/// written only if the user could write it; a page unmapped since faults, and the fault
/// ends in INVALID_ARGS.
///
/// # Safety
/// `kernel` must be valid for `len` bytes (for writing when `to_user` is false), and the user
/// range `user..user + len` must have been probed as described (which checked that it lies
/// in the user half: it is not checked again here).
unsafe fn copy_probed(user: usize, kernel: *mut u8, len: usize, to_user: bool) -> ZxResult {
    if len == 0 {
        return Ok(());
    }
    let clear_pan = u64::from(arch::cpu::pan_enabled());
    let (dst, src) = if to_user {
        (user as *mut u8, kernel as *const u8)
    } else {
        (kernel, user as *const u8)
    };
    // SAFETY: the kernel side is valid per the caller; the user side was probed, so it lies
    // in the user half; faults there are covered by the fixup table.
    match unsafe { arch_copy_user_fast(dst, src, len, clear_pan) } {
        0 => Ok(()),
        _ => Err(Status::INVALID_ARGS),
    }
}
