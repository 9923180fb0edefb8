//! [`Process`], [`Thread`] and [`Job`].

use alloc::vec::Vec;

use crate::handle::{buf_ptr, handle_type};
use crate::sys::{self, ZX_HANDLE_INVALID};
use crate::{ok, startup, AsHandleRef, Handle, Result, Signals, Time, Unowned, Vmar};

handle_type!(
    /// A process.
    Process
);

handle_type!(
    /// A thread.
    Thread
);

handle_type!(
    /// A job: a node of the job tree that holds processes and child jobs.
    Job
);

/// Reads a list topic (`ZX_INFO_JOB_CHILDREN`, `_PROCESSES`, `ZX_INFO_PROCESS_THREADS`) of
/// `handle` whole: asks for the count, then reads again while the list grew meanwhile.
fn koid_list(handle: sys::zx_handle_t, topic: u32) -> Result<Vec<u64>> {
    let mut koids: Vec<u64> = Vec::new();
    loop {
        let (mut actual, mut avail) = (0usize, 0usize);
        // SAFETY: the buffer is writable for `len() * 8` bytes; the counts are valid places.
        ok(unsafe {
            sys::zx_object_get_info(
                handle,
                topic,
                koids.as_mut_ptr().cast(),
                koids.len() * 8,
                &mut actual,
                &mut avail,
            )
        })?;
        if avail <= koids.len() {
            koids.truncate(actual);
            return Ok(koids);
        }
        koids.resize(avail + 4, 0);
    }
}

impl Job {
    /// The default job (startup handle 3), borrowed.
    pub fn default_job() -> Unowned<'static, Job> {
        startup::job_default_ref()
    }

    /// A new child job of `parent` (`zx_job_create`).
    pub fn create(parent: &Job) -> Result<Job> {
        let mut out = ZX_HANDLE_INVALID;
        // SAFETY: `out` is a valid place.
        ok(unsafe { sys::zx_job_create(parent.raw_handle(), 0, &mut out) })?;
        // SAFETY: the kernel just created `out` for this process.
        Ok(Job(unsafe { Handle::from_raw(out) }))
    }

    /// Kills every process and job below this one (`zx_task_kill`).
    pub fn kill(&self) -> Result<()> {
        // SAFETY: no memory is passed.
        ok(unsafe { sys::zx_task_kill(self.raw_handle()) })
    }

    /// `ZX_INFO_JOB`: return code and whether it has terminated.
    pub fn info(&self) -> Result<sys::zx_info_job_t> {
        self.get_info(sys::ZX_INFO_JOB)
    }

    /// The koids of the live child jobs, in creation order (`ZX_INFO_JOB_CHILDREN`).
    pub fn children(&self) -> Result<Vec<u64>> {
        koid_list(self.raw_handle(), sys::ZX_INFO_JOB_CHILDREN)
    }

    /// The koids of the live processes, in creation order (`ZX_INFO_JOB_PROCESSES`).
    pub fn processes(&self) -> Result<Vec<u64>> {
        koid_list(self.raw_handle(), sys::ZX_INFO_JOB_PROCESSES)
    }

    /// A handle to the live child job or process `koid` (`zx_object_get_child`).
    pub fn get_child(&self, koid: u64, rights: crate::Rights) -> Result<Handle> {
        get_child(self.raw_handle(), koid, rights)
    }
}

/// `zx_object_get_child`.
fn get_child(handle: sys::zx_handle_t, koid: u64, rights: crate::Rights) -> Result<Handle> {
    let mut out = ZX_HANDLE_INVALID;
    // SAFETY: `out` is a valid place.
    ok(unsafe { sys::zx_object_get_child(handle, koid, rights.bits(), &mut out) })?;
    // SAFETY: the kernel just created `out` for this process.
    Ok(unsafe { Handle::from_raw(out) })
}

impl Process {
    /// This process (startup handle 0), borrowed.
    pub fn self_handle() -> Unowned<'static, Process> {
        // SAFETY: the runtime never closes startup handle 0.
        unsafe { Unowned::from_raw_static(startup::process_self()) }
    }

    /// A new, empty process and its root VMAR (`zx_process_create`, in the default job).
    pub fn create(name: &str, options: u32) -> Result<(Process, Vmar)> {
        Self::create_in(&Job::default_job(), name, options)
    }

    /// A new, empty process of `job` and its root VMAR (`zx_process_create`).
    pub fn create_in(job: &Job, name: &str, options: u32) -> Result<(Process, Vmar)> {
        let (mut process, mut vmar) = (ZX_HANDLE_INVALID, ZX_HANDLE_INVALID);
        // SAFETY: `name` is readable for its length; the outputs are valid places.
        ok(unsafe {
            sys::zx_process_create(
                job.raw_handle(),
                buf_ptr(name.as_bytes()),
                name.len(),
                options,
                &mut process,
                &mut vmar,
            )
        })?;
        // SAFETY: the kernel just created both handles for this process.
        unsafe {
            Ok((
                Process(Handle::from_raw(process)),
                Vmar::from(Handle::from_raw(vmar)),
            ))
        }
    }

    /// Starts the process with its first thread at `entry`, stack pointer `stack`, `x0` =
    /// the handle `arg1` transfers into the new process, `x1` = `arg2`
    /// (`zx_process_start`). `arg1` is consumed in all cases.
    pub fn start(
        &self,
        thread: &Thread,
        entry: usize,
        stack: usize,
        arg1: Handle,
        arg2: usize,
    ) -> Result<()> {
        // SAFETY: no memory of this process is passed; `arg1` is consumed by the call.
        ok(unsafe {
            sys::zx_process_start(
                self.raw_handle(),
                thread.raw_handle(),
                entry,
                stack,
                arg1.into_raw(),
                arg2,
            )
        })
    }

    /// Kills the process (`zx_task_kill`).
    pub fn kill(&self) -> Result<()> {
        // SAFETY: no memory is passed.
        ok(unsafe { sys::zx_task_kill(self.raw_handle()) })
    }

    /// `ZX_INFO_PROCESS`: return code, start time, flags.
    pub fn info(&self) -> Result<sys::zx_info_process_t> {
        self.get_info(sys::ZX_INFO_PROCESS)
    }

    /// The koids of its started, live threads (`ZX_INFO_PROCESS_THREADS`).
    pub fn threads(&self) -> Result<Vec<u64>> {
        koid_list(self.raw_handle(), sys::ZX_INFO_PROCESS_THREADS)
    }

    /// A handle to its live thread `koid` (`zx_object_get_child`).
    pub fn get_child(&self, koid: u64, rights: crate::Rights) -> Result<Handle> {
        get_child(self.raw_handle(), koid, rights)
    }

    /// Waits until the process has terminated and returns its exit code (negative
    /// `ZX_TASK_RETCODE_*` values when it was killed).
    pub fn wait_exit(&self) -> Result<i64> {
        self.wait_handle(Signals::PROCESS_TERMINATED, Time::INFINITE)?;
        Ok(self.info()?.return_code)
    }

    /// Ends this process with `code` (`zx_process_exit`).
    pub fn exit(code: i64) -> ! {
        // SAFETY: does not return; nothing of this process runs afterwards.
        unsafe { sys::zx_process_exit(code) }
    }
}

impl Thread {
    /// A new thread of `process`, not started (`zx_thread_create`).
    pub fn create(process: &Process, name: &str) -> Result<Thread> {
        let mut out = ZX_HANDLE_INVALID;
        // SAFETY: `name` is readable for its length; `out` is a valid place.
        ok(unsafe {
            sys::zx_thread_create(
                process.raw_handle(),
                buf_ptr(name.as_bytes()),
                name.len(),
                0,
                &mut out,
            )
        })?;
        // SAFETY: the kernel just created `out` for this process.
        Ok(Thread(unsafe { Handle::from_raw(out) }))
    }

    /// Starts the thread at `entry` with stack pointer `stack` and `x0`/`x1` = `arg1`/`arg2`
    /// (`zx_thread_start`).
    ///
    /// # Safety
    /// In this process, `entry` must be code that can run on `stack` with those arguments
    /// without breaking Rust's rules (see [`crate::thread::spawn`] for a safe way).
    pub unsafe fn start(&self, entry: usize, stack: usize, arg1: usize, arg2: usize) -> Result<()> {
        // SAFETY: forwarded to the caller.
        ok(unsafe { sys::zx_thread_start(self.raw_handle(), entry, stack, arg1, arg2) })
    }

    /// Kills the thread (`zx_task_kill`).
    pub fn kill(&self) -> Result<()> {
        // SAFETY: no memory is passed.
        ok(unsafe { sys::zx_task_kill(self.raw_handle()) })
    }

    /// `ZX_INFO_THREAD`: its state (`ZX_THREAD_STATE_*`).
    pub fn info(&self) -> Result<sys::zx_info_thread_t> {
        self.get_info(sys::ZX_INFO_THREAD)
    }

    /// Waits until the thread has terminated.
    pub fn wait_exit(&self) -> Result<()> {
        self.wait_handle(Signals::THREAD_TERMINATED, Time::INFINITE)
            .map(|_| ())
    }

    /// Ends the calling thread (`zx_thread_exit`).
    pub fn exit() -> ! {
        // SAFETY: does not return; the caller's stack is abandoned, not unwound.
        unsafe { sys::zx_thread_exit() }
    }
}
