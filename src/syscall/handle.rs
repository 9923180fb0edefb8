//! `zx_handle_close`, `zx_handle_close_many`, `zx_handle_duplicate`, `zx_handle_replace`.

use super::HandleOut;
use crate::usercopy::{In, UserSlice};
use abi::zx_handle_t;
use object::handle::HandleTable;
use object::{Rights, Status, ZxResult};

/// Handle values read from user memory per step of `zx_handle_close_many`.
const CLOSE_BATCH: usize = 64;

/// `zx_handle_close`: ZX_HANDLE_INVALID is OK, an unknown value BAD_HANDLE.
pub(super) fn close(table: &HandleTable, value: zx_handle_t) -> ZxResult {
    table.close(value)
}

/// `zx_handle_close_many`: closes every listed handle it can and reports the first error.
/// The array is read in batches (no allocation) after it was probed whole, so an
/// unreadable array (INVALID_ARGS) closes nothing.
pub(super) fn close_many(table: &HandleTable, values: usize, count: usize) -> ZxResult {
    if count == 0 {
        return Ok(());
    }
    let bytes = count.checked_mul(4).ok_or(Status::INVALID_ARGS)?;
    let values = UserSlice::<In>::new(values, bytes);
    // The whole array first, so a bad pointer closes nothing.
    values.probe()?;
    let mut result = Ok(());
    let mut done = 0;
    while done < count {
        let batch = (count - done).min(CLOSE_BATCH);
        let mut raw = [0u8; CLOSE_BATCH * 4];
        values
            .part(done * 4, batch * 4)
            .ok_or(Status::INVALID_ARGS)?
            .read(&mut raw[..batch * 4])?;
        let mut batch_values = [0 as zx_handle_t; CLOSE_BATCH];
        for (value, bytes) in batch_values.iter_mut().zip(raw.chunks_exact(4)).take(batch) {
            *value = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        }
        result = result.and(table.close_many(&batch_values[..batch]));
        done += batch;
        // A count may reach a billion (each an invalid value): other threads run meanwhile.
        if done < count && !crate::task::preempt_point() {
            break;
        }
    }
    result
}

/// `zx_handle_duplicate`: needs DUPLICATE; `rights` must be SAME_RIGHTS or a subset.
pub(super) fn duplicate(
    table: &HandleTable,
    value: zx_handle_t,
    rights: Rights,
    out: HandleOut,
) -> ZxResult {
    // The table's checks come first, so they win over a bad out pointer; if the pointer then
    // turns out bad, the new handle goes again and the caller sees no change.
    let new = table.duplicate(value, rights)?;
    if let Err(status) = out.write(new) {
        drop(table.remove(new));
        return Err(status);
    }
    Ok(())
}

/// `zx_handle_replace`: needs no right. The source handle is invalidated on every path
/// except BAD_HANDLE, also when the out pointer is bad.
pub(super) fn replace(
    table: &HandleTable,
    value: zx_handle_t,
    rights: Rights,
    out: HandleOut,
) -> ZxResult {
    if out.check().is_err() {
        let old = table.remove(value)?;
        drop(old);
        return Err(Status::INVALID_ARGS);
    }
    let new = table.replace(value, rights)?;
    if let Err(status) = out.write(new) {
        drop(table.remove(new));
        return Err(status);
    }
    Ok(())
}
