//! The process object: its handle table, user address space and root VMAR, its lifecycle
//! (new, running, exited) and `terminate`, and the list of live processes `kcheck` walks.
//!
//! Locking: `Process::inner` (a spin lock, taken with IRQs already masked, as all kernel code
//! runs; no IRQ handler takes it) is the outermost task lock: `SCHEDULER` and `Thread::state`
//! nest inside it (when a thread is launched or dies), nothing else. Nothing that may fault,
//! sleep or run an object's teardown (dropping a handle) runs under it: handles are added
//! before it is taken and removed after. `PROCESSES` is taken alone.

use super::now_ns;
use super::scheduler::current_process;
use super::thread::{Thread, ThreadState};
use crate::aspace::{self, UserAddressSpace};
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, Ordering};
use object::handle::{Handle, HandleTable};
use object::object::{KernelObject, ObjectBase};
use object::vmar::{AddressSpace, Vmar};
use object::{Signals, Status, ZxResult};

pub const ROOT_BASE: usize = 0x0100_0000;
pub const ROOT_END: usize = 1 << 47;
/// Handles one process may hold.
pub const MAX_HANDLES: usize = 4096;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ProcessState {
    New,
    Running,
    Exited,
}

pub(super) struct ProcessInner {
    pub(super) state: ProcessState,
    /// The started threads that have not died: the ones that keep the process running. Dead
    /// threads leave at once, so the list never holds more than the live threads.
    pub(super) threads: Vec<Arc<Thread>>,
    return_code: i64,
    start_time: i64,
}

pub struct Process {
    pub(super) base: ObjectBase,
    handles: HandleTable,
    pub(super) aspace: Arc<UserAddressSpace>,
    root_vmar: Arc<Vmar>,
    /// Lifecycle and threads. A plain spin lock: no IRQ handler takes it (it is taken with
    /// IRQs masked today, as all kernel code runs). `SCHEDULER` and `Thread::state` nest
    /// inside it, nothing else.
    pub(super) inner: spin::Mutex<ProcessInner>,
    /// `inner.state == Exited`, readable without the lock (the scheduler reads it under its
    /// own lock, which nests inside `inner`). Set under `inner`.
    exited: AtomicBool,
    /// Told the return code when the process ends (`init`'s ends the test boots), set once
    /// by whoever started it.
    exit_hook: spin::Once<fn(i64)>,
}

/// A new thread's entry point must lie in the user half (0 included: it faults at once, as
/// any unmapped user address does; Zircon accepts it too) and its stack pointer at most at
/// the top of it. Anything else would only fault after the start succeeded.
pub(super) fn check_entry(entry: usize, stack: usize) -> ZxResult {
    if entry >= object::task::USER_END || stack > object::task::USER_END {
        return Err(Status::INVALID_ARGS);
    }
    Ok(())
}

fn handle_secret(seed: u64) -> u32 {
    // Mixes the counter with the process id so handle values differ between processes
    // and boots.
    let mut x = seed ^ arch::cpu::counter().rotate_left(29) ^ 0x9e37_79b9_7f4a_7c15;
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x as u32
}

impl Process {
    /// A new process with an empty address space and handle table.
    pub fn create(name: &[u8]) -> ZxResult<Arc<Process>> {
        let aspace = UserAddressSpace::new()?;
        let root_vmar = Vmar::new_root(
            aspace.clone() as Arc<dyn AddressSpace>,
            ROOT_BASE,
            ROOT_END - ROOT_BASE,
        );
        let base = ObjectBase::new(Signals::NONE);
        base.set_name(name);
        let secret = handle_secret(base.koid());
        let process = Arc::new(Process {
            base,
            handles: HandleTable::new(secret, MAX_HANDLES),
            aspace,
            root_vmar,
            inner: spin::Mutex::new(ProcessInner {
                state: ProcessState::New,
                threads: Vec::new(),
                return_code: 0,
                start_time: 0,
            }),
            exited: AtomicBool::new(false),
            exit_hook: spin::Once::new(),
        });
        if KEEP_LIST.load(Ordering::Relaxed) {
            let mut processes = PROCESSES.lock();
            // The check needs every handle table: no room to list one fails the creation.
            if processes.try_reserve(1).is_err() {
                drop(processes);
                return Err(Status::NO_MEMORY);
            }
            processes.push(Arc::downgrade(&process));
        }
        Ok(process)
    }

    pub fn handles(&self) -> &HandleTable {
        &self.handles
    }

    pub fn root_vmar(&self) -> &Arc<Vmar> {
        &self.root_vmar
    }

    pub fn name(&self) -> [u8; 32] {
        self.base.name()
    }

    pub fn has_exited(&self) -> bool {
        self.exited.load(Ordering::Acquire)
    }

    /// `ZX_INFO_PROCESS`.
    pub fn info(&self) -> abi::zx_info_process_t {
        let inner = self.inner.lock();
        let mut flags = 0;
        if inner.state != ProcessState::New {
            flags |= abi::ZX_INFO_PROCESS_FLAG_STARTED;
        }
        if inner.state == ProcessState::Exited {
            flags |= abi::ZX_INFO_PROCESS_FLAG_EXITED;
        }
        abi::zx_info_process_t {
            return_code: inner.return_code,
            start_time: inner.start_time,
            flags,
            ..Default::default()
        }
    }

    /// `zx_process_start`: the first thread runs at `entry` with `x0` = the handle value of
    /// `arg1` (moved into this process) and `x1` = `arg2`. ACCESS_DENIED if the thread is not
    /// this process's, INVALID_ARGS for an entry or stack outside the user half, BAD_STATE if
    /// the process or the thread was already started (or has ended). On failure nothing is
    /// started and `arg1` is closed.
    pub fn start(
        self: &Arc<Self>,
        thread: &Arc<Thread>,
        entry: usize,
        stack: usize,
        arg1: Option<Handle>,
        arg2: u64,
    ) -> ZxResult {
        if !Arc::ptr_eq(&thread.process, self) {
            return Err(Status::ACCESS_DENIED);
        }
        check_entry(entry, stack)?;
        if self.inner.lock().state != ProcessState::New || thread.state() != ThreadState::New {
            return Err(Status::BAD_STATE);
        }
        // Added before the lock is taken (a failed add drops the handle, which may run any
        // object's teardown) and taken out again if the start fails after all.
        let value = match arg1 {
            Some(handle) => self.handles.add(handle)?,
            None => 0,
        };
        let started = {
            let mut inner = self.inner.lock();
            let started = if inner.state == ProcessState::New {
                thread.launch(&mut inner, entry, stack, u64::from(value), arg2)
            } else {
                Err(Status::BAD_STATE)
            };
            if started.is_ok() {
                inner.state = ProcessState::Running;
                inner.start_time = now_ns();
            }
            started
        };
        if started.is_err() && value != 0 {
            drop(self.handles.remove(value));
        }
        started
    }

    /// Ends the process with `code`: kills its threads, closes its handles, removes its
    /// mappings and frees its page tables. Idempotent.
    pub fn terminate(self: &Arc<Self>, code: i64) {
        let threads = {
            let mut inner = self.inner.lock();
            if inner.state == ProcessState::Exited {
                return;
            }
            inner.state = ProcessState::Exited;
            self.exited.store(true, Ordering::Release);
            inner.return_code = code;
            core::mem::take(&mut inner.threads)
        };
        for thread in &threads {
            thread.mark_dead();
        }
        drop(threads);
        // Every region goes at once; the mappings a chunk at a time, the rest on the way out
        // of this system call (or by the idle loop when this thread is the one that exits).
        self.root_vmar.tear_down();
        if current_process().is_some_and(|p| Arc::ptr_eq(&p, self)) {
            // Off this address space before its tables go.
            aspace::switch_to(None);
        }
        self.aspace.release();
        object::handle::drop_handles(self.handles.take_all());
        self.base
            .signals()
            .update(Signals::NONE, Signals::PROCESS_TERMINATED);
        if let Some(hook) = self.exit_hook.get() {
            hook(code);
        }
    }

    /// Has `hook` told the return code when the process ends (once; later calls change
    /// nothing).
    pub fn on_exit(&self, hook: fn(i64)) {
        self.exit_hook.call_once(|| hook);
    }

    /// `zx_task_kill`.
    pub fn kill(self: &Arc<Self>) {
        self.terminate(abi::ZX_TASK_RETCODE_SYSCALL_KILL);
    }
}

impl KernelObject for Process {
    fn base(&self) -> &ObjectBase {
        &self.base
    }

    fn object_type(&self) -> u32 {
        abi::ZX_OBJ_TYPE_PROCESS
    }

    fn has_name(&self) -> bool {
        true
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        object::handle::drop_handles(self.handles.take_all());
        if KEEP_LIST.load(Ordering::Relaxed) {
            let mut processes = PROCESSES.lock();
            let me: *const Process = self;
            if let Some(i) = processes.iter().position(|w| w.as_ptr() == me) {
                processes.swap_remove(i);
            }
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

/// Every process not yet dropped (while `kcheck` is on; else none).
pub fn all_processes() -> Vec<Arc<Process>> {
    let processes = PROCESSES.lock();
    let mut live = Vec::new();
    if live.try_reserve(processes.len()).is_ok() {
        live.extend(processes.iter().filter_map(Weak::upgrade));
    }
    live
}
