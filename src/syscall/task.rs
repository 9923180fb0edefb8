//! `zx_process_create`, `zx_process_start`, `zx_thread_create`, `zx_thread_start`,
//! `zx_task_kill`, `zx_job_create`, `zx_object_get_child` (`zx_process_exit` and
//! `zx_thread_exit` go straight to `crate::task` from `dispatch`, as they never return).
//!
//! Rights (Zircon's): process_create needs MANAGE_PROCESS on the job, job_create
//! MANAGE_JOB on the parent, process_start WRITE on the process and the thread handle,
//! thread_create MANAGE_THREAD on the process, thread_start WRITE, task_kill DESTROY,
//! get_child ENUMERATE.

use super::{copy_name, publish, publish_pair, HandleOut};
use crate::task::{Job, Process, Thread};
use crate::usercopy::{In, UserSlice};
use abi::{zx_handle_t, ZX_HANDLE_INVALID};
use alloc::sync::Arc;
use object::handle::{Handle, HandleTable};
use object::object::{downcast, KernelObject};
use object::vmar::vmar_handle;
use object::{Rights, Status, ZxResult};

/// `zx_process_create`: a process of `job` (MANAGE_PROCESS; a killed job -> BAD_STATE),
/// options 0; the name is cut to 31 bytes. Returns a process handle (default process rights)
/// and a handle to its root VMAR.
pub(super) fn process_create(
    table: &HandleTable,
    job: zx_handle_t,
    name: UserSlice<In>,
    options: u32,
    process_out: HandleOut,
    vmar_out: HandleOut,
) -> ZxResult {
    let (job, _) = table.get_object::<Job>(job, Rights::MANAGE_PROCESS)?;
    if options != 0 {
        return Err(Status::INVALID_ARGS);
    }
    let (name, len) = copy_name(name)?;
    process_out.check()?;
    vmar_out.check()?;
    let process = Process::create(&job, &name[..len])?;
    drop(job);
    let vmar = vmar_handle(process.root_vmar().clone());
    publish_pair(
        table,
        (Handle::new(process, Rights::DEFAULT_PROCESS), process_out),
        (vmar, vmar_out),
    )
}

/// `zx_process_start`: the first thread runs at `entry` with `x0` = `arg_handle` moved into
/// the new process (needs TRANSFER) and `x1` = `arg2`. `arg_handle` leaves the caller's
/// table on every path, also when an earlier check fails (as in Zircon). Entry and stack must
/// lie in the user half (INVALID_ARGS, see `Process::start`).
pub(super) fn process_start(
    table: &HandleTable,
    process: zx_handle_t,
    thread: zx_handle_t,
    entry: usize,
    stack: usize,
    arg_handle: zx_handle_t,
    arg2: u64,
) -> ZxResult {
    let consume = || {
        if arg_handle != ZX_HANDLE_INVALID {
            drop(table.remove(arg_handle));
        }
    };
    let process = match table.get_object::<Process>(process, Rights::WRITE) {
        Ok((process, _)) => process,
        Err(status) => {
            consume();
            return Err(status);
        }
    };
    let thread = match table.get_object::<Thread>(thread, Rights::WRITE) {
        Ok((thread, _)) => thread,
        Err(status) => {
            consume();
            return Err(status);
        }
    };
    let arg = if arg_handle == ZX_HANDLE_INVALID {
        None
    } else {
        let handle = table.remove(arg_handle)?;
        if !handle.rights().contains(Rights::TRANSFER) {
            drop(handle);
            return Err(Status::ACCESS_DENIED);
        }
        Some(handle)
    };
    process.start(&thread, entry, stack, arg, arg2)
}

/// `zx_thread_create`: a new, not yet started thread of the process; options must be 0.
pub(super) fn thread_create(
    table: &HandleTable,
    process: zx_handle_t,
    name: UserSlice<In>,
    options: u32,
    out: HandleOut,
) -> ZxResult {
    let (process, _) = table.get_object::<Process>(process, Rights::MANAGE_THREAD)?;
    if options != 0 {
        return Err(Status::INVALID_ARGS);
    }
    let (name, len) = copy_name(name)?;
    out.check()?;
    let thread = Thread::create(&process, &name[..len])?;
    drop(process);
    publish(table, Handle::new(thread, Rights::DEFAULT_THREAD), out)
}

/// `zx_thread_start`: entry and stack in the user half (INVALID_ARGS), a thread never
/// started of a running process (BAD_STATE); see `Thread::start`.
pub(super) fn thread_start(
    table: &HandleTable,
    thread: zx_handle_t,
    entry: usize,
    stack: usize,
    arg1: u64,
    arg2: u64,
) -> ZxResult {
    let (thread, _) = table.get_object::<Thread>(thread, Rights::WRITE)?;
    thread.start(entry, stack, arg1, arg2)
}

/// What `zx_task_kill` did to the caller.
pub(super) enum Killed {
    /// The caller's own thread or process: it must not return to user mode.
    Caller,
    Other,
}

/// `zx_task_kill` on a process, a thread or a job (DESTROY). Every reference this function
/// takes is dropped when it returns, so `dispatch` can end the calling thread right after.
/// A job's kill walks its tree (`Job::kill`, bounded steps with finish points between them,
/// so it goes on to the end even when it kills its own caller's process on the way).
pub(super) fn task_kill(value: zx_handle_t) -> ZxResult<Killed> {
    let caller = crate::task::current_thread().ok_or(Status::BAD_STATE)?;
    let (object, rights, _) = caller.process().handles().get(value)?;
    let killed_caller = if let Some(job) = downcast::<Job>(&object) {
        if !rights.contains(Rights::DESTROY) {
            return Err(Status::ACCESS_DENIED);
        }
        let own = caller.process().job().is_within(&job);
        job.kill();
        own
    } else if let Some(process) = downcast::<Process>(&object) {
        if !rights.contains(Rights::DESTROY) {
            return Err(Status::ACCESS_DENIED);
        }
        process.kill();
        Arc::ptr_eq(&process, caller.process())
    } else if let Some(thread) = downcast::<Thread>(&object) {
        if !rights.contains(Rights::DESTROY) {
            return Err(Status::ACCESS_DENIED);
        }
        thread.kill();
        Arc::ptr_eq(&thread, &caller)
    } else {
        return Err(Status::WRONG_TYPE);
    };
    Ok(if killed_caller {
        Killed::Caller
    } else {
        Killed::Other
    })
}

/// `zx_job_create`: a child job of `parent` (MANAGE_JOB), options 0, with the default job
/// rights. OUT_OF_RANGE past the height limit, BAD_STATE if the parent was killed.
pub(super) fn job_create(
    table: &HandleTable,
    parent: zx_handle_t,
    options: u32,
    out: HandleOut,
) -> ZxResult {
    let (parent, _) = table.get_object::<Job>(parent, Rights::MANAGE_JOB)?;
    if options != 0 {
        return Err(Status::INVALID_ARGS);
    }
    out.check()?;
    let job = parent.create_child()?;
    drop(parent);
    // A failed publish drops the job, which leaves its parent's list.
    publish(table, Handle::new(job, Rights::DEFAULT_JOB), out)
}

/// `zx_object_get_child`: a live direct child of a job (job or process) or of a process (a
/// started, live thread) by koid. WRONG_TYPE for other objects, ACCESS_DENIED without
/// ENUMERATE or for `rights` beyond the handle's (`ZX_RIGHT_SAME_RIGHTS`: the handle's),
/// NOT_FOUND for no such child. The new handle has `rights`.
pub(super) fn get_child(
    table: &HandleTable,
    value: zx_handle_t,
    koid: u64,
    rights: Rights,
    out: HandleOut,
) -> ZxResult {
    let (object, held, _) = table.get(value)?;
    let job = downcast::<Job>(&object);
    let process = downcast::<Process>(&object);
    if job.is_none() && process.is_none() {
        return Err(Status::WRONG_TYPE);
    }
    if !held.contains(Rights::ENUMERATE) {
        return Err(Status::ACCESS_DENIED);
    }
    let rights = if rights == Rights::SAME_RIGHTS {
        held
    } else if held.contains(rights) {
        rights
    } else {
        return Err(Status::ACCESS_DENIED);
    };
    out.check()?;
    let child: Option<Arc<dyn KernelObject>> = match (job, process) {
        (Some(job), _) => job.child(koid),
        (None, Some(process)) => process
            .thread_by_koid(koid)
            .map(|thread| thread as Arc<dyn KernelObject>),
        (None, None) => None,
    };
    drop(object);
    let child = child.ok_or(Status::NOT_FOUND)?;
    publish(table, Handle::new(child, rights), out)
}
