//! The kernel's side of processes (the object itself is `object::task::Process`): their
//! address spaces, the list of live processes `kcheck` walks, and the root job.
//!
//! Locking: `PROCESSES` is taken alone, never around another lock (IRQs masked, as all
//! kernel code runs). `release_address_space` runs with no task lock held.

use super::scheduler::with_current_process;
use super::{Job, Process};
use crate::aspace::{self, UserAddressSpace};
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, Ordering};
use object::{Status, ZxResult};

/// A new process's page tables.
pub(super) fn new_address_space() -> ZxResult<Arc<UserAddressSpace>> {
    UserAddressSpace::new()
}

/// Frees `process`'s page tables, first moving this CPU off them if it runs on them: all of
/// them before the process is seen to have ended, with finish points between chunks when
/// they are many.
pub(super) fn release_address_space(process: &Process) {
    if with_current_process(|current| core::ptr::eq(&**current, process)).unwrap_or(false) {
        // Off this address space before its tables go.
        aspace::switch_to(None);
    }
    process.aspace().release();
    aspace::free_dead_tables_finishing();
}

/// Lists a new process while the list is kept.
pub(super) fn process_created(process: &Arc<Process>) -> ZxResult {
    if KEEP_LIST.load(Ordering::Relaxed) {
        let mut processes = PROCESSES.lock();
        // The check needs every handle table: no room to list one fails the creation.
        if processes.try_reserve(1).is_err() {
            return Err(Status::NO_MEMORY);
        }
        processes.push(Arc::downgrade(process));
    }
    Ok(())
}

/// Takes a process being freed off the list.
pub(super) fn process_dropped(process: &Process) {
    if KEEP_LIST.load(Ordering::Relaxed) {
        let mut processes = PROCESSES.lock();
        let me: *const Process = process;
        if let Some(i) = processes.iter().position(|w| w.as_ptr() == me) {
            processes.swap_remove(i);
        }
    }
}

/// Every process not yet dropped, for the kernel's invariant checks (`kcheck`); kept only
/// once [`keep_process_list`] was called. Taken alone, never around another lock (IRQs
/// masked, as all kernel code runs).
static PROCESSES: spin::Mutex<Vec<Weak<Process>>> = spin::Mutex::new(Vec::new());

/// Whether [`PROCESSES`] is kept; set once, before any process exists.
static KEEP_LIST: AtomicBool = AtomicBool::new(false);

/// Keeps the list of live processes from now on (for the invariant checks); before any
/// process exists.
pub fn keep_process_list() {
    KEEP_LIST.store(true, Ordering::Relaxed);
}

/// Every process not yet dropped (while the list is kept; else none).
pub fn all_processes() -> Vec<Arc<Process>> {
    let processes = PROCESSES.lock();
    let mut live = Vec::new();
    if live.try_reserve(processes.len()).is_ok() {
        live.extend(processes.iter().filter_map(Weak::upgrade));
    }
    live
}

/// The root job: made on first use (before `init`), lives as long as the system.
static ROOT_JOB: spin::Once<Arc<Job>> = spin::Once::new();

/// The root job ("root"), parent of `init`'s process.
pub fn root_job() -> &'static Arc<Job> {
    ROOT_JOB.call_once(Job::new_root)
}

/// The root job was killed and everything below it is gone: the system powers off (Zircon
/// halts too). Under an emulator with semihosting this ends it (status 1 in a test boot,
/// whose suites could not finish, else 0); on a board the CPUs halt.
pub(super) fn root_job_terminated() -> ! {
    arch::cpu::disable_irqs();
    log::info!("root job killed: every process is gone, powering off");
    crate::percpu::stop_others_for_good();
    arch::semihosting::exit(u32::from(crate::test_mode()));
    arch::cpu::halt()
}
