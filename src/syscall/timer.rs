//! `zx_timer_create`, `zx_timer_set`, `zx_timer_cancel`, `zx_cprng_draw`,
//! `zx_cprng_add_entropy`. The timer logic is `object::timer`; the deadline queue it arms
//! itself in is the scheduler's (`task::KERNEL_TIMERS`), the generator `crate::cprng`.

use super::{publish, HandleOut};
use crate::usercopy::{In, Out, UserSlice};
use abi::{zx_handle_t, ZX_CPRNG_ADD_ENTROPY_MAX_LEN, ZX_CPRNG_DRAW_MAX_LEN};
use alloc::sync::Arc;
use object::handle::{Handle, HandleTable};
use object::object::downcast;
use object::timer::Timer;
use object::{Rights, Status, ZxResult};

/// `zx_timer_create`: options and clock checked (INVALID_ARGS), then the out pointer.
pub(super) fn create(table: &HandleTable, options: u32, clock: u32, out: HandleOut) -> ZxResult {
    let timer = Timer::create(options, clock, &crate::task::KERNEL_TIMERS)?;
    out.check()?;
    publish(table, Handle::new(timer, Rights::DEFAULT_TIMER), out)
}

/// The timer behind `value`, with WRITE.
fn writable(table: &HandleTable, value: zx_handle_t) -> ZxResult<Arc<Timer>> {
    let (object, rights, _) = table.get(value)?;
    let timer = downcast::<Timer>(&object).ok_or(Status::WRONG_TYPE)?;
    if !rights.contains(Rights::WRITE) {
        return Err(Status::ACCESS_DENIED);
    }
    Ok(timer)
}

/// `zx_timer_set`.
pub(super) fn set(table: &HandleTable, value: zx_handle_t, deadline: i64, slack: i64) -> ZxResult {
    writable(table, value)?.set(deadline, slack)
}

/// `zx_timer_cancel`.
pub(super) fn cancel(table: &HandleTable, value: zx_handle_t) -> ZxResult {
    writable(table, value)?.cancel();
    Ok(())
}

/// `zx_cprng_draw`: fills the buffer in chunks of at most 256 bytes, each drawn into a
/// kernel buffer under the generator's lock and copied out after it is released, with a
/// preemption point between chunks (any length is allowed). A buffer the caller cannot
/// write kills its process with `ZX_TASK_RETCODE_EXCEPTION_KILL` (Zircon's vDSO traps):
/// the call then does not return to user mode.
pub(super) fn cprng_draw(buffer: UserSlice<Out>) {
    let mut chunk = [0u8; ZX_CPRNG_DRAW_MAX_LEN];
    let mut offset = 0;
    while offset < buffer.len() {
        let len = (buffer.len() - offset).min(ZX_CPRNG_DRAW_MAX_LEN);
        crate::cprng::draw(&mut chunk[..len]);
        let written = buffer
            .part(offset, len)
            .ok_or(Status::INVALID_ARGS)
            .and_then(|part| part.write(&chunk[..len]));
        if written.is_err() {
            log::warn!("zx_cprng_draw into a bad buffer: the caller's process is killed");
            crate::task::end_current_process(abi::ZX_TASK_RETCODE_EXCEPTION_KILL);
            break;
        }
        offset += len;
        if !object::preempt::point() {
            break;
        }
    }
    // Nothing drawn stays in the kernel.
    chunk.fill(0);
}

/// `zx_cprng_add_entropy`: at most 256 bytes, readable (else INVALID_ARGS), mixed in.
pub(super) fn cprng_add_entropy(buffer: UserSlice<In>) -> ZxResult {
    if buffer.len() > ZX_CPRNG_ADD_ENTROPY_MAX_LEN {
        return Err(Status::INVALID_ARGS);
    }
    let mut bytes = [0u8; ZX_CPRNG_ADD_ENTROPY_MAX_LEN];
    let bytes = &mut bytes[..buffer.len()];
    buffer.read(bytes)?;
    crate::cprng::add_entropy(bytes);
    Ok(())
}
