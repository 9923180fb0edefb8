//! Access to user memory. Only these routines touch it: they check the range lies in the
//! user half (overflow-safe), copy with unprivileged loads/stores (`ldtr`/`sttr`, so PAN
//! stays on and user permissions apply), serve a fault on a not-yet-mapped VMO page and
//! continue, and turn an unresolvable fault into INVALID_ARGS. Bulk copies of a range that
//! [`probe`] has just checked page by page with EL0's permissions (by address translation,
//! touching nothing) use ordinary 128-bit loads and stores instead ([`copy_probed`]).
//!
//! Never call them while holding a lock a page fault could need (VMO, VMAR, handle table).

use arch::user_mmu::UserAccess;
use object::{Status, ZxResult};

/// First address above the user half (TTBR0 covers 48 bits).
pub const USER_END: usize = 1 << 48;

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
pub fn probe(addr: usize, len: usize, write: bool) -> ZxResult {
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
            || !crate::trap::serve_user_fault(va, write)
        {
            return Err(Status::INVALID_ARGS);
        }
        if arch::user_mmu::user_access(va, write) == UserAccess::Allowed {
            return Ok(());
        }
    }
    Err(Status::INVALID_ARGS)
}

/// How often [`fault_in`] serves a page before it gives up.
const FAULT_TRIES: usize = 4;

const PAGE: usize = 4096;

/// Bytes [`probe`] checks between two preemption points.
const PROBE_PIECE: usize = object::preempt::CHUNK_PAGES * 4096;

/// INVALID_ARGS unless `addr..addr+len` is a non-null range inside the user half.
pub fn check_user_range(addr: usize, len: usize) -> ZxResult {
    if addr == 0 {
        return Err(Status::INVALID_ARGS);
    }
    match addr.checked_add(len) {
        Some(end) if end <= USER_END => Ok(()),
        _ => Err(Status::INVALID_ARGS),
    }
}

/// Copies `dst.len()` bytes from user address `src`.
pub fn copy_from_user(dst: &mut [u8], src: usize) -> ZxResult {
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
pub fn append_from_user(dst: &mut alloc::vec::Vec<u8>, src: usize, len: usize) -> ZxResult {
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
pub fn copy_to_user(dst: usize, src: &[u8]) -> ZxResult {
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

macro_rules! user_write {
    ($write:ident, $ty:ty) => {
        /// Writes one little-endian value to user memory.
        pub fn $write(addr: usize, value: $ty) -> ZxResult {
            copy_to_user(addr, &value.to_le_bytes())
        }
    };
}

user_write!(write_u32, u32);
user_write!(write_u64, u64);
user_write!(write_usize, usize);

/// Writes an ABI struct (`zx_info_*_t`) to user memory.
pub fn write_struct<T: abi::AbiStruct>(addr: usize, value: &T) -> ZxResult {
    copy_to_user(addr, value.to_bytes().as_ref())
}

/// Bulk copy between kernel memory and a user range that the caller has already probed
/// (`probe_readable`/`probe_writable` in the system-call layer) in this same call: ordinary
/// 128-bit loads and stores, about one instruction per 16 bytes. The probe checked every
/// page with EL0's permissions, and nothing can change the mappings between the probe and
/// the copy (one CPU, no preemption), so the copy reaches nothing the caller could not. A
/// fault still ends in INVALID_ARGS.
///
/// # Safety
/// `kernel` must be valid for `len` bytes (for writing when `to_user` is false), and the user
/// range `user..user + len` must have been probed as described (which checked that it lies
/// in the user half: it is not checked again here).
pub unsafe fn copy_probed(user: usize, kernel: *mut u8, len: usize, to_user: bool) -> ZxResult {
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
