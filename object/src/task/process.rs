//! The process object: its handle table, user address space and root VMAR, its lifecycle
//! (New -> Running -> Exited), `start`, `terminate`, `kill` and `ZX_INFO_PROCESS`.
//!
//! Locking: `Process::inner` (a spin lock; no IRQ handler takes it, so it masks none) is the
//! outermost task lock: the kernel's scheduler lock and `Thread::state` nest inside it (when
//! a thread is launched or dies), nothing else. Nothing that may fault, sleep or run an
//! object's teardown (dropping a handle) runs under it: handles are added before it is taken
//! and removed after, threads taken off its list are dropped after it.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, Ordering};

use super::job::Job;
use super::thread::{Thread, ThreadState};
use super::{check_entry, TaskKernel, UserStart};
use crate::futex::FutexTable;
use crate::handle::{close_dying_table, drop_handles, Handle, HandleTable};
use crate::koid::Koid;
use crate::object::{KernelObject, ObjectBase};
use crate::vmar::{AddressSpace, Vmar};
use crate::{Signals, Status, ZxResult};

/// Where a process's root VMAR starts: the pages below stay unmapped, so small bad pointers
/// fault.
pub const ROOT_BASE: usize = 0x0100_0000;
/// Where a process's root VMAR ends.
pub const ROOT_END: usize = 1 << 47;
/// Handles one process may hold.
pub const MAX_HANDLES: usize = 4096;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ProcessState {
    New,
    Running,
    Exited,
}

pub(super) struct ProcessInner<K: TaskKernel> {
    pub(super) state: ProcessState,
    /// The started threads that have not died: the ones that keep the process running. Dead
    /// threads leave at once, so the list never holds more than the live threads.
    pub(super) threads: Vec<Arc<Thread<K>>>,
    return_code: i64,
    start_time: i64,
}

pub struct Process<K: TaskKernel> {
    base: ObjectBase,
    /// The job the process belongs to (it lists the process until the process ends).
    job: Arc<Job<K>>,
    handles: HandleTable,
    aspace: Arc<K::Space>,
    root_vmar: Arc<Vmar>,
    /// The futexes its threads wait on (own lock: see `crate::futex`).
    futexes: FutexTable,
    /// Lifecycle and threads. A plain spin lock: no IRQ handler takes it (the kernel takes it
    /// with IRQs masked, as all its code runs). The scheduler lock and `Thread::state` nest
    /// inside it, nothing else.
    pub(super) inner: spin::Mutex<ProcessInner<K>>,
    /// `inner.state == Exited`, readable without the lock (the scheduler reads it under its
    /// own lock, which nests inside `inner`). Set under `inner`.
    exited: AtomicBool,
    /// Told the return code when the process ends (`init`'s ends the test boots), set once
    /// by whoever started it.
    exit_hook: spin::Once<fn(i64)>,
}

/// A handle table's secret from the process id and the kernel's seed, so that handle values
/// differ between processes and boots.
fn handle_secret(koid: Koid, seed: u64) -> u32 {
    let mut x = koid ^ seed.rotate_left(29) ^ 0x9e37_79b9_7f4a_7c15;
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x as u32
}

impl<K: TaskKernel> Process<K> {
    /// A new process of `job` with an empty address space and handle table. BAD_STATE if the
    /// job was killed (also when the kill races this call: the job either lists the process
    /// before it is marked killed, and the kill then finds it, or refuses it).
    pub fn create(job: &Arc<Job<K>>, name: &[u8]) -> ZxResult<Arc<Self>> {
        if job.is_killed() {
            return Err(Status::BAD_STATE);
        }
        let aspace = K::new_address_space()?;
        let root_vmar = Vmar::new_root(
            aspace.clone() as Arc<dyn AddressSpace>,
            ROOT_BASE,
            ROOT_END - ROOT_BASE,
        );
        let base = ObjectBase::new(Signals::NONE);
        base.set_name(name);
        let secret = handle_secret(base.koid(), K::handle_seed());
        let process = Arc::new(Process {
            base,
            job: job.clone(),
            handles: HandleTable::new(secret, MAX_HANDLES),
            aspace,
            root_vmar,
            futexes: FutexTable::new(),
            inner: spin::Mutex::new(ProcessInner {
                state: ProcessState::New,
                threads: Vec::new(),
                return_code: 0,
                start_time: 0,
            }),
            exited: AtomicBool::new(false),
            exit_hook: spin::Once::new(),
        });
        K::process_created(&process)?;
        // On failure the process is dropped, unlisted.
        job.add_process(&process)?;
        Ok(process)
    }

    /// The job the process belongs to.
    pub fn job(&self) -> &Arc<Job<K>> {
        &self.job
    }

    /// `ZX_INFO_PROCESS_THREADS`: the koids of the started threads that have not died, in
    /// creation order (koid order). NO_MEMORY if no list can be had.
    pub fn thread_koids(&self) -> ZxResult<Vec<Koid>> {
        let mut koids = Vec::new();
        {
            let inner = self.inner.lock();
            koids
                .try_reserve_exact(inner.threads.len())
                .map_err(|_| Status::NO_MEMORY)?;
            koids.extend(inner.threads.iter().map(|t| t.koid()));
        }
        koids.sort_unstable();
        Ok(koids)
    }

    /// The started, live thread `koid` (`zx_object_get_child`).
    pub fn thread_by_koid(&self, koid: Koid) -> Option<Arc<Thread<K>>> {
        let inner = self.inner.lock();
        inner.threads.iter().find(|t| t.koid() == koid).cloned()
    }

    pub fn koid(&self) -> Koid {
        self.base.koid()
    }

    pub fn handles(&self) -> &HandleTable {
        &self.handles
    }

    /// Its futex wait queues.
    pub fn futexes(&self) -> &FutexTable {
        &self.futexes
    }

    pub fn root_vmar(&self) -> &Arc<Vmar> {
        &self.root_vmar
    }

    /// The user address space (its page tables).
    pub fn aspace(&self) -> &Arc<K::Space> {
        &self.aspace
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
        thread: &Arc<Thread<K>>,
        entry: usize,
        stack: usize,
        arg1: Option<Handle>,
        arg2: u64,
    ) -> ZxResult {
        if !Arc::ptr_eq(thread.process(), self) {
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
        let start = UserStart {
            entry,
            stack,
            arg1: u64::from(value),
            arg2,
        };
        let started = {
            let mut inner = self.inner.lock();
            let started = if inner.state == ProcessState::New {
                thread.launch(&mut inner, start)
            } else {
                Err(Status::BAD_STATE)
            };
            if started.is_ok() {
                inner.state = ProcessState::Running;
                inner.start_time = K::now_ns();
            }
            started
        };
        if started.is_err() && value != 0 {
            drop(self.handles.remove(value));
        }
        started
    }

    /// Ends the process with `code`: kills its threads, removes its mappings, frees its page
    /// tables, closes its handles, then asserts PROCESS_TERMINATED and tells the exit hook.
    /// Idempotent.
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
        K::release_address_space(self);
        // All closed before the process is seen to have ended, with finish points between
        // chunks (this may be the process's own last thread, killed).
        close_dying_table(self.handles.take_all());
        // What those handles left for later (the pages of large VMOs) is freed too.
        crate::free_deferred_finishing();
        self.base
            .signals()
            .update(Signals::NONE, Signals::PROCESS_TERMINATED);
        // Gone from its job once everything of it is (which may end a killed job).
        self.job.remove_process(self.koid());
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

    /// The number of started threads that have not died.
    pub fn live_threads(&self) -> usize {
        self.inner.lock().threads.len()
    }
}

impl<K: TaskKernel> KernelObject for Process<K> {
    fn base(&self) -> &ObjectBase {
        &self.base
    }

    fn object_type(&self) -> u32 {
        abi::ZX_OBJ_TYPE_PROCESS
    }

    fn related_koid(&self) -> Koid {
        self.job.koid()
    }

    fn has_name(&self) -> bool {
        true
    }
}

impl<K: TaskKernel> Drop for Process<K> {
    fn drop(&mut self) {
        drop_handles(self.handles.take_all());
        // A process freed without having ended (never started) leaves its job here.
        self.job.remove_process(self.koid());
        K::process_dropped(self);
    }
}
