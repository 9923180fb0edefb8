//! `zx_vmo_create`, `zx_vmo_read`, `zx_vmo_write`, `zx_vmo_get_size`, `zx_vmo_set_size`,
//! `zx_vmo_clone`, `zx_vmo_create_child`, `zx_vmo_op_range`.
//!
//! Reads and writes copy straight between the VMO's frames and the user buffer, with the
//! VMO's lock released during the copy (`Vmo::read_unlocked`/`write_unlocked`): a fault on
//! the user buffer (which may be a mapping of this very VMO) can then take that lock. Such
//! a fault must not wait while the copy holds the frames: one that would is served between
//! two parts of the copy ([`copy_in_parts`]).

use super::{publish, HandleOut};
use crate::task;
use crate::usercopy::{Direction, In, Out, UserOut, UserSlice};
use abi::{
    zx_handle_t, ZX_VMO_OP_CACHE_CLEAN, ZX_VMO_OP_CACHE_CLEAN_INVALIDATE,
    ZX_VMO_OP_CACHE_INVALIDATE, ZX_VMO_OP_CACHE_SYNC, ZX_VMO_OP_COMMIT, ZX_VMO_OP_DECOMMIT,
    ZX_VMO_OP_ZERO,
};
use alloc::sync::Arc;
use arch::mmu;
use object::frames::{FrameAddr, PAGE_SIZE};
use object::handle::{Handle, HandleTable};
use object::vmo::{child_rights, clone_rights, ChunkFn, Vmo, WriteFrames};
use object::{Rights, Status, ZxResult};

/// OUT_OF_RANGE unless `offset .. offset + len` lies inside the VMO: checked before the
/// buffer is probed, so that error comes first, against the size read without the VMO's lock
/// (the VMO checks the range again under it, so a request made too long by a concurrent
/// shrink still transfers nothing).
fn check_range(vmo: &Vmo, offset: u64, len: usize) -> ZxResult {
    let len = u64::try_from(len).map_err(|_| Status::OUT_OF_RANGE)?;
    let end = offset.checked_add(len).ok_or(Status::OUT_OF_RANGE)?;
    if end > vmo.size_unlocked() {
        return Err(Status::OUT_OF_RANGE);
    }
    Ok(())
}

/// `zx_vmo_create`: default VMO rights (the seed's eight).
pub(super) fn create(table: &HandleTable, size: u64, options: u32, out: HandleOut) -> ZxResult {
    out.check()?;
    let vmo = Vmo::create(crate::vm::frames(), size, options)?;
    publish(table, Handle::new(vmo, Rights::DEFAULT_VMO), out)
}

/// Copies between the VMO's frames (through the linear map) and the probed user buffer
/// `part`, one physically contiguous run of frames at a time. Inlined: a call here costs a
/// tenth of a 4 KiB transfer (`make bench`).
#[inline(always)]
fn transfer<D: Direction>(frames: &[FrameAddr], in_page: usize, part: &UserSlice<D>) -> ZxResult {
    let page = PAGE_SIZE as usize;
    let len = part.len();
    if let [frame] = frames {
        let kernel = mmu::phys_to_virt(frame + in_page as u64) as *mut u8;
        // SAFETY: one frame means the range lies in that page; otherwise as below.
        return unsafe { part.copy_all_probed(kernel) };
    }
    let mut done = 0;
    let mut i = 0;
    let mut skip = in_page;
    while done < len {
        let start = frames[i] + skip as u64;
        let mut run = (page - skip).min(len - done);
        // Extend the run over following frames that continue it in physical memory.
        while done + run < len && i + 1 < frames.len() && frames[i + 1] == frames[i] + PAGE_SIZE {
            i += 1;
            run += page.min(len - done - run);
        }
        let kernel = mmu::phys_to_virt(start) as *mut u8;
        // SAFETY: `start..start + run` lies in frames the VMO holds (or the shared zero page,
        // only ever read), reached through the linear map; the user range was probed by the
        // caller.
        unsafe { part.copy_probed(done, kernel, run)? };
        done += run;
        i += 1;
        skip = 0;
    }
    Ok(())
}

/// `zx_vmo_read`: needs READ. Range first (OUT_OF_RANGE, nothing copied), then the whole
/// buffer is probed (INVALID_ARGS, nothing copied), then the bytes move.
pub(super) fn read(
    table: &HandleTable,
    value: zx_handle_t,
    buffer: UserSlice<Out>,
    offset: u64,
) -> ZxResult {
    let (vmo, _) = table.get_object::<Vmo>(value, Rights::READ)?;
    let page = PAGE_SIZE as usize;
    let len = buffer.len();
    if len != 0 && (offset % PAGE_SIZE) as usize + len <= page {
        // Within one page: the VMO checks the range (OUT_OF_RANGE first) before it hands
        // over the page, and the buffer is probed just before the copy.
        return copy_in_parts(&buffer, true, true, |from, n, f| {
            vmo.read_unlocked(offset + from, n, f)
        });
    }
    check_range(&vmo, offset, len)?;
    if buffer.is_empty() {
        return Ok(());
    }
    buffer.probe()?;
    copy_in_parts(&buffer, false, false, |from, n, f| {
        vmo.read_unlocked(offset + from, n, f)
    })
}

/// The copy of `zx_vmo_read` (`to_user`) or `zx_vmo_write`: `unlocked(from, len, f)` runs
/// the VMO's unlocked transfer of `len` bytes from byte `from` of the request, and `f`
/// copies each chunk between its frames and `buffer` ([`transfer`]; `probe` first for a
/// buffer not probed yet). The frames are kept by no lock, so a fault the copy takes must
/// not wait ([`task::copying_frames`]): one that would fails the transfer, and
/// [`copy_the_rest`] serves it and goes on. `whole`: the request lies within one page, so
/// the VMO's one-page transfer hands all of it to `f` at once, with no part to cut out.
#[inline(always)]
fn copy_in_parts<D: Direction>(
    buffer: &UserSlice<D>,
    probe: bool,
    whole: bool,
    mut unlocked: impl FnMut(u64, u64, &mut ChunkFn<'_>) -> ZxResult,
) -> ZxResult {
    let len = buffer.len();
    let mut moved = 0;
    task::copying_frames(true);
    let result = unlocked(0, len as u64, &mut |frames, in_page, n, done| {
        let cut;
        let part = if whole && done == 0 && n == len {
            buffer
        } else {
            cut = buffer.part(done, n).ok_or(Status::INVALID_ARGS)?;
            &cut
        };
        if probe {
            part.probe()?;
        }
        transfer(frames, in_page, part)?;
        moved = done + n;
        Ok(())
    });
    task::copying_frames(false);
    if result.is_ok() {
        return result;
    }
    match task::take_fault_left() {
        Some(fault) => copy_the_rest(buffer, probe, moved, fault, unlocked),
        None => result,
    }
}

/// [`copy_in_parts`] after a chunk failed on `fault`, a user page whose fault had to wait:
/// serves it (the transfer's frames are let go), then copies from byte `moved` on, as often
/// as that happens.
#[cold]
#[inline(never)]
fn copy_the_rest<D: Direction>(
    buffer: &UserSlice<D>,
    probe: bool,
    mut moved: usize,
    mut fault: (usize, bool),
    mut unlocked: impl FnMut(u64, u64, &mut ChunkFn<'_>) -> ZxResult,
) -> ZxResult {
    let len = buffer.len();
    loop {
        let (va, write) = fault;
        let served = task::with_current_process(|process| {
            process.root_vmar().handle_fault(va, write, false)
        });
        if served != Some(Ok(())) {
            return Err(Status::INVALID_ARGS);
        }
        let base = moved;
        task::copying_frames(true);
        let result = unlocked(
            base as u64,
            (len - base) as u64,
            &mut |frames, in_page, n, done| {
                let at = base + done;
                let part = buffer.part(at, n).ok_or(Status::INVALID_ARGS)?;
                if probe {
                    part.probe()?;
                }
                transfer(frames, in_page, &part)?;
                moved = at + n;
                Ok(())
            },
        );
        task::copying_frames(false);
        if result.is_ok() {
            return result;
        }
        match task::take_fault_left() {
            Some(left) => fault = left,
            None => return result,
        }
    }
}

/// `zx_vmo_write`: needs WRITE. Range first (OUT_OF_RANGE, nothing written), then the whole
/// buffer is probed (INVALID_ARGS, nothing written), then every page is committed (NO_MEMORY,
/// nothing written), then the bytes move.
pub(super) fn write(
    table: &HandleTable,
    value: zx_handle_t,
    buffer: UserSlice<In>,
    offset: u64,
) -> ZxResult {
    let (vmo, _) = table.get_object::<Vmo>(value, Rights::WRITE)?;
    let len = buffer.len();
    check_range(&vmo, offset, len)?;
    if len == 0 {
        return Ok(());
    }
    buffer.probe()?;
    if (offset % PAGE_SIZE) as usize + len <= PAGE_SIZE as usize {
        // One page: committed before the copy, it needs no frames set aside.
        return copy_in_parts(&buffer, false, true, |from, n, f| {
            vmo.write_unlocked(offset + from, n, f)
        });
    }
    write_pages(&vmo, &buffer, offset)
}

/// [`write`] of more than one page, out of line so that the one-page path inlines whole.
#[inline(never)]
fn write_pages(vmo: &Vmo, buffer: &UserSlice<In>, offset: u64) -> ZxResult {
    // The frames set aside for the range stay across the parts of the copy.
    let mut kept = WriteFrames::default();
    copy_in_parts(buffer, false, false, |from, n, f| {
        vmo.write_unlocked_in_parts(offset + from, n, f, &mut kept)
    })
}

/// `zx_vmo_get_size`: no right needed.
pub(super) fn get_size(table: &HandleTable, value: zx_handle_t, out: UserOut<u64>) -> ZxResult {
    let (vmo, _) = table.get_object::<Vmo>(value, Rights::NONE)?;
    let size = vmo.size();
    drop(vmo);
    out.write(size)
}

/// `zx_vmo_set_size`: needs WRITE.
pub(super) fn set_size(table: &HandleTable, value: zx_handle_t, size: u64) -> ZxResult {
    let (vmo, _) = table.get_object::<Vmo>(value, Rights::WRITE)?;
    vmo.set_size(size)
}

/// The new child's handle: `rights`, and the parent's name when the parent handle may read
/// it (GET_PROPERTY).
fn child_handle(parent: &Vmo, parent_rights: Rights, child: Arc<Vmo>, rights: Rights) -> Handle {
    if parent_rights.contains(Rights::GET_PROPERTY) {
        let name = object::object::KernelObject::base(parent).name();
        object::object::KernelObject::base(&*child).set_name(&name);
    }
    Handle::new(child, rights)
}

/// `zx_vmo_clone` (the seed's copy-on-write clone): needs DUPLICATE and READ; the child's
/// rights are the parent handle's plus GET/SET_PROPERTY and WRITE.
pub(super) fn clone(
    table: &HandleTable,
    value: zx_handle_t,
    options: u32,
    offset: u64,
    size: u64,
    out: HandleOut,
) -> ZxResult {
    let (vmo, rights) = table.get_object::<Vmo>(value, Rights::DUPLICATE | Rights::READ)?;
    out.check()?;
    let child = vmo.create_clone(options, offset, size)?;
    let handle = child_handle(&vmo, rights, child, clone_rights(rights));
    drop(vmo);
    publish(table, handle, out)
}

/// `zx_vmo_create_child` (SNAPSHOT or SLICE): needs DUPLICATE and READ; the child's rights
/// come from `child_rights` (NO_WRITE takes WRITE away).
pub(super) fn create_child(
    table: &HandleTable,
    value: zx_handle_t,
    options: u32,
    offset: u64,
    size: u64,
    out: HandleOut,
) -> ZxResult {
    let (vmo, rights) = table.get_object::<Vmo>(value, Rights::DUPLICATE | Rights::READ)?;
    out.check()?;
    let child = vmo.create_child(options, offset, size)?;
    let handle = child_handle(&vmo, rights, child, child_rights(rights, options));
    drop(vmo);
    publish(table, handle, out)
}

/// `zx_vmo_op_range`. Rights by operation: COMMIT, DECOMMIT and ZERO need WRITE; the cache
/// operations READ, and CACHE_INVALIDATE (which can drop dirty lines, so it changes the
/// content) WRITE as well; LOCK/UNLOCK (NOT_SUPPORTED) and unknown operations
/// (INVALID_ARGS) none, the VMO reports them. The buffer arguments are unused by every
/// operation here.
pub(super) fn op_range(
    table: &HandleTable,
    value: zx_handle_t,
    op: u32,
    offset: u64,
    size: u64,
) -> ZxResult {
    let (vmo, rights) = table.get_object::<Vmo>(value, Rights::NONE)?;
    let needed = match op {
        ZX_VMO_OP_COMMIT | ZX_VMO_OP_DECOMMIT | ZX_VMO_OP_ZERO => Rights::WRITE,
        ZX_VMO_OP_CACHE_SYNC | ZX_VMO_OP_CACHE_CLEAN | ZX_VMO_OP_CACHE_CLEAN_INVALIDATE => {
            Rights::READ
        }
        ZX_VMO_OP_CACHE_INVALIDATE => Rights::READ | Rights::WRITE,
        _ => Rights::NONE,
    };
    if !rights.contains(needed) {
        return Err(Status::ACCESS_DENIED);
    }
    vmo.op_range(op, offset, size, &crate::vm::DataCache)
}
