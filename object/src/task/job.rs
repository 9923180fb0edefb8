//! The job object: a node of the job tree, holding child jobs and processes.
//!
//! The kernel makes one root job at boot ([`Job::new_root`]); every other job hangs below it
//! ([`Job::create_child`], at most [`ROOT_JOB_MAX_HEIGHT`] levels under the root) and every
//! process belongs to one job (`Process::create`). States: Alive -> Killing (`zx_task_kill`:
//! nothing more may be created in it) -> Dead (killed, and its last child job and process are
//! gone: `ZX_JOB_TERMINATED`, return code -1024). A job that is emptied without being killed
//! stays Alive.
//!
//! Lifetimes: a child (job or process) holds its parent job (`Arc`); a job lists its live
//! direct children by koid with a `Weak` reference, so a job keeps nothing alive. A process
//! leaves its job's list when it ends (`Process::terminate`) or is freed unstarted; a job
//! leaves its parent's list when it dies (killed and empty) or is freed. The lists are kept
//! sorted by koid, which is creation order (koids only grow), so `ZX_INFO_JOB_*` list in
//! creation order and a kill can walk them with a cursor.
//!
//! Signals: `ZX_JOB_NO_JOBS` / `ZX_JOB_NO_PROCESSES` are active exactly while the list of
//! child jobs / processes is empty, updated under `inner` whenever a list changes, so the
//! signal state never disagrees with the lists for longer than the lock is held.
//!
//! Killing ([`Job::kill`]) is bounded work per step: the job is marked Killing under its
//! lock (from then on nothing is added to its lists, so they only shrink), then its
//! processes and child jobs are walked by koid cursor, one at a time, with no lock held while
//! each is killed and a finish point after each (a process's own teardown passes points too).
//! A child job is killed the same way, recursively (at most [`ROOT_JOB_MAX_HEIGHT`] deep). The
//! job turns Dead in whichever call empties its lists last: the walk, or the end of a child on
//! another CPU.
//!
//! # Locking
//! `Job::inner` (a spin lock; no IRQ handler takes it, the kernel holds it with IRQs masked as
//! all its code runs) protects the state and the child lists. Inside it only the job's own
//! signal state (and what a signal update takes: waiters, the scheduler) and the heap. It is
//! never held while another job's or a process's lock is taken, nor while anything is killed
//! or dropped: children are upgraded under it and killed or dropped after it is released.

use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;

use super::{Process, TaskKernel};
use crate::koid::Koid;
use crate::object::{KernelObject, ObjectBase};
use crate::{Signals, Status, ZxResult};

/// Levels of jobs that may hang under the root job (Zircon's `kRootJobMaxHeight`).
pub const ROOT_JOB_MAX_HEIGHT: u32 = 32;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum JobState {
    Alive,
    /// Killed; some child job or process is not gone yet.
    Killing,
    /// Killed and empty: terminated.
    Dead,
}

/// A live direct child: its koid (the sort key) and a reference that keeps nothing alive.
struct Child<T> {
    koid: Koid,
    object: Weak<T>,
}

struct JobInner<K: TaskKernel> {
    state: JobState,
    /// Live child jobs, sorted by koid.
    jobs: Vec<Child<Job<K>>>,
    /// Live processes, sorted by koid.
    processes: Vec<Child<Process<K>>>,
}

pub struct Job<K: TaskKernel> {
    base: ObjectBase,
    /// None for the root job.
    parent: Option<Arc<Job<K>>>,
    /// Levels of jobs that may still hang below this one: 0 means no child job.
    max_height: u32,
    /// State and children; see the module documentation for the lock order.
    inner: spin::Mutex<JobInner<K>>,
}

/// Inserts `child` keeping the list sorted by koid. NO_MEMORY (list unchanged) if the list
/// cannot grow.
fn insert_sorted<T>(list: &mut Vec<Child<T>>, child: Child<T>) -> ZxResult {
    list.try_reserve(1).map_err(|_| Status::NO_MEMORY)?;
    let at = list.partition_point(|c| c.koid < child.koid);
    list.insert(at, child);
    Ok(())
}

/// Removes the child `koid`; whether it was there.
fn remove_koid<T>(list: &mut Vec<Child<T>>, koid: Koid) -> bool {
    match list.binary_search_by_key(&koid, |c| c.koid) {
        Ok(at) => {
            list.remove(at);
            true
        }
        Err(_) => false,
    }
}

/// The first child with a koid above `cursor` that is still alive, and its koid.
fn next_after<T>(list: &[Child<T>], cursor: Koid) -> Option<(Koid, Arc<T>)> {
    let from = list.partition_point(|c| c.koid <= cursor);
    list[from..]
        .iter()
        .find_map(|c| c.object.upgrade().map(|object| (c.koid, object)))
}

/// Copies the koids of `list` into a new vector; NO_MEMORY if none can be had.
fn koids<T>(list: &[Child<T>]) -> ZxResult<Vec<Koid>> {
    let mut out = Vec::new();
    out.try_reserve_exact(list.len())
        .map_err(|_| Status::NO_MEMORY)?;
    out.extend(list.iter().map(|c| c.koid));
    Ok(out)
}

impl<K: TaskKernel> Job<K> {
    fn new(parent: Option<Arc<Job<K>>>, max_height: u32) -> Job<K> {
        Job {
            base: ObjectBase::new(Signals::JOB_NO_JOBS | Signals::JOB_NO_PROCESSES),
            parent,
            max_height,
            inner: spin::Mutex::new(JobInner {
                state: JobState::Alive,
                jobs: Vec::new(),
                processes: Vec::new(),
            }),
        }
    }

    /// The root job ("root"), made once by the kernel at boot.
    pub fn new_root() -> Arc<Self> {
        let job = Job::new(None, ROOT_JOB_MAX_HEIGHT);
        job.base.set_name(b"root");
        Arc::new(job)
    }

    /// `zx_job_create`: a new child job. OUT_OF_RANGE when this job has no height left,
    /// BAD_STATE once it was killed, NO_MEMORY when its list cannot grow.
    pub fn create_child(self: &Arc<Self>) -> ZxResult<Arc<Self>> {
        if self.max_height == 0 {
            return Err(Status::OUT_OF_RANGE);
        }
        let child = Arc::new(Job::new(Some(self.clone()), self.max_height - 1));
        let mut inner = self.inner.lock();
        if inner.state != JobState::Alive {
            return Err(Status::BAD_STATE);
        }
        insert_sorted(
            &mut inner.jobs,
            Child {
                koid: child.koid(),
                object: Arc::downgrade(&child),
            },
        )?;
        self.base
            .signals()
            .update(Signals::JOB_NO_JOBS, Signals::NONE);
        drop(inner);
        Ok(child)
    }

    pub fn koid(&self) -> Koid {
        self.base.koid()
    }

    pub fn parent(&self) -> Option<&Arc<Job<K>>> {
        self.parent.as_ref()
    }

    /// Whether `self` is `job` or one of its descendants.
    pub fn is_within(&self, job: &Job<K>) -> bool {
        let mut at = Some(self);
        while let Some(current) = at {
            if core::ptr::eq(current, job) {
                return true;
            }
            at = current.parent.as_deref();
        }
        false
    }

    /// Lists `process` as a child (`Process::create`): BAD_STATE once the job was killed,
    /// NO_MEMORY when the list cannot grow.
    pub(super) fn add_process(&self, process: &Arc<Process<K>>) -> ZxResult {
        let mut inner = self.inner.lock();
        if inner.state != JobState::Alive {
            return Err(Status::BAD_STATE);
        }
        insert_sorted(
            &mut inner.processes,
            Child {
                koid: process.koid(),
                object: Arc::downgrade(process),
            },
        )?;
        self.base
            .signals()
            .update(Signals::JOB_NO_PROCESSES, Signals::NONE);
        Ok(())
    }

    /// A process of this job ended or is being freed: it leaves the list (once; later calls
    /// change nothing), and the job terminates if it was killed and that was its last child.
    pub(super) fn remove_process(&self, koid: Koid) {
        let dead = {
            let mut inner = self.inner.lock();
            if !remove_koid(&mut inner.processes, koid) {
                return;
            }
            if inner.processes.is_empty() {
                self.base
                    .signals()
                    .update(Signals::NONE, Signals::JOB_NO_PROCESSES);
            }
            self.settle_locked(&mut inner)
        };
        if dead {
            self.terminated();
        }
    }

    /// A child job died or is being freed: as [`Self::remove_process`].
    fn remove_job(&self, koid: Koid) {
        let dead = {
            let mut inner = self.inner.lock();
            if !remove_koid(&mut inner.jobs, koid) {
                return;
            }
            if inner.jobs.is_empty() {
                self.base
                    .signals()
                    .update(Signals::NONE, Signals::JOB_NO_JOBS);
            }
            self.settle_locked(&mut inner)
        };
        if dead {
            self.terminated();
        }
    }

    /// Killing and empty -> Dead, under `inner`, asserting JOB_TERMINATED; true if this call
    /// made the move (the caller then calls [`Self::terminated`] with the lock released).
    fn settle_locked(&self, inner: &mut JobInner<K>) -> bool {
        if inner.state == JobState::Killing && inner.jobs.is_empty() && inner.processes.is_empty() {
            inner.state = JobState::Dead;
            self.base
                .signals()
                .update(Signals::NONE, Signals::JOB_TERMINATED);
            return true;
        }
        false
    }

    /// The job just died: it leaves its parent's list (which may end the parent too), or, for
    /// the root job, the kernel is told.
    fn terminated(&self) {
        match &self.parent {
            Some(parent) => parent.remove_job(self.koid()),
            None => K::root_job_terminated(),
        }
    }

    /// `zx_task_kill` on a job: every process and job below it is killed (processes with
    /// `ZX_TASK_RETCODE_SYSCALL_KILL`), nothing can be created in it any more, and it
    /// terminates once its last descendant is gone. Returns when every descendant has been
    /// told to die (processes on other CPUs may still be finishing their teardown). Killing
    /// a job again walks what is left of it again. See the module documentation for the
    /// bounds.
    pub fn kill(self: &Arc<Self>) {
        {
            let mut inner = self.inner.lock();
            if inner.state == JobState::Alive {
                inner.state = JobState::Killing;
            }
        }
        // The lists only shrink from here on: a cursor over koids visits each child once.
        let mut cursor = 0;
        loop {
            let next = next_after(&self.inner.lock().processes, cursor);
            let Some((koid, process)) = next else { break };
            cursor = koid;
            process.kill();
            drop(process);
            crate::preempt::finish_point();
        }
        cursor = 0;
        loop {
            let next = next_after(&self.inner.lock().jobs, cursor);
            let Some((koid, job)) = next else { break };
            cursor = koid;
            job.kill();
            drop(job);
            crate::preempt::finish_point();
        }
        let dead = self.settle_locked(&mut self.inner.lock());
        if dead {
            self.terminated();
        }
    }

    /// Whether the job was killed.
    pub fn is_killed(&self) -> bool {
        self.inner.lock().state != JobState::Alive
    }

    /// `ZX_INFO_JOB`.
    pub fn info(&self) -> abi::zx_info_job_t {
        let state = self.inner.lock().state;
        let dead = state == JobState::Dead;
        abi::zx_info_job_t {
            return_code: if dead {
                abi::ZX_TASK_RETCODE_SYSCALL_KILL
            } else {
                0
            },
            exited: u8::from(dead),
            ..Default::default()
        }
    }

    /// `ZX_INFO_JOB_CHILDREN`: the koids of the live child jobs, in creation order.
    pub fn child_koids(&self) -> ZxResult<Vec<Koid>> {
        koids(&self.inner.lock().jobs)
    }

    /// `ZX_INFO_JOB_PROCESSES`: the koids of the live processes, in creation order.
    pub fn process_koids(&self) -> ZxResult<Vec<Koid>> {
        koids(&self.inner.lock().processes)
    }

    /// The live direct child job or process `koid` (`zx_object_get_child`).
    pub fn child(&self, koid: Koid) -> Option<Arc<dyn KernelObject>> {
        let inner = self.inner.lock();
        if let Ok(at) = inner.processes.binary_search_by_key(&koid, |c| c.koid) {
            let process = inner.processes[at].object.upgrade()?;
            return Some(process as Arc<dyn KernelObject>);
        }
        if let Ok(at) = inner.jobs.binary_search_by_key(&koid, |c| c.koid) {
            let job = inner.jobs[at].object.upgrade()?;
            return Some(job as Arc<dyn KernelObject>);
        }
        None
    }
}

impl<K: TaskKernel> KernelObject for Job<K> {
    fn base(&self) -> &ObjectBase {
        &self.base
    }

    fn object_type(&self) -> u32 {
        abi::ZX_OBJ_TYPE_JOB
    }

    fn related_koid(&self) -> Koid {
        self.parent.as_ref().map_or(0, |parent| parent.koid())
    }

    fn has_name(&self) -> bool {
        true
    }
}

impl<K: TaskKernel> Drop for Job<K> {
    fn drop(&mut self) {
        // Nothing references a job with children (they hold it), so its lists are empty;
        // it leaves its parent's list if it had not died before.
        if let Some(parent) = &self.parent {
            parent.remove_job(self.koid());
        }
    }
}
