//! Processes, threads and the scheduler.
//!
//! One CPU; the kernel runs with IRQs masked (they are taken at EL0, in the idle loop and at
//! preemption points), so the scheduler's state only needs a lock against the IRQ handler.
//! Threads are switched preemptively on the timer tick when they run at EL0, round robin; a
//! thread in the kernel gives the CPU up by blocking, by exiting, or at a preemption point
//! ([`preempt_point`]): long operations work in bounded chunks and pass one between chunks,
//! holding no lock, so no call keeps the CPU for more than a chunk.
//!
//! Lifetimes: a process holds its started threads that have not died (`ProcessInner::threads`)
//! and each thread holds its process, a cycle that lasts only while the thread runs: a thread
//! leaves the list when it dies, and the process ends (its handle table emptied, which breaks
//! any cycle through handles) when its last started thread dies. A thread that was never
//! started is not in the list: it is freed with its last handle, and it neither keeps its
//! process running nor is killed with it (as in Zircon). So a task's memory comes back once
//! its last handle and its last running thread are gone.
//!
//! Lock order: `Process::inner` -> `SCHEDULER` -> `Thread::state` (or
//! `Thread::user_registers`, never both at once); the handle table and the
//! signal state of an object are never held while taking these. Nothing is dropped that could
//! run arbitrary teardown while one of them is held.
//!
//! Each thread has a 64 KiB kernel stack (in its own slot of the kernel stack region, with an
//! unmapped guard page below and aligned to 128 KiB, as the vectors' overflow check needs)
//! holding its trap frame while it is in the kernel; a switch (`arch::context`) saves the
//! callee-saved registers on it and moves SP to the next thread's stack. User FP/SIMD state
//! and TPIDR_EL0 are saved and restored on every switch (the kernel itself never uses FP).

use crate::aspace::{self, UserAddressSpace};
use crate::memory;
use alloc::collections::VecDeque;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use arch::context::{self, SavedContext, SavedSp, UserRegisters};
use arch::exception::TrapFrame;
use arch::mmu;
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering};
use mm::pool::PageUse;
use object::handle::{Handle, HandleTable};
use object::object::{KernelObject, ObjectBase};
use object::vmar::{AddressSpace, Vmar};
use object::wait::{Blocker, Waiter, Wake};
use object::{Signals, Status, ZxResult};

/// The root VMAR of every process: `[ROOT_BASE, ROOT_END)`.
pub const ROOT_BASE: usize = 0x0100_0000;
pub const ROOT_END: usize = 1 << 47;
/// Handles one process may hold.
pub const MAX_HANDLES: usize = 4096;

const KERNEL_STACK_PAGES: usize = mmu::KERNEL_STACK_SIZE / 4096;

// ---- time -------------------------------------------------------------------------------

/// Monotonic time in nanoseconds since boot.
pub fn now_ns() -> i64 {
    i64::try_from(crate::uptime_nanos()).unwrap_or(i64::MAX)
}

// ---- processes ----------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ProcessState {
    New,
    Running,
    Exited,
}

struct ProcessInner {
    state: ProcessState,
    /// The started threads that have not died: the ones that keep the process running. Dead
    /// threads leave at once, so the list never holds more than the live threads.
    threads: Vec<Arc<Thread>>,
    return_code: i64,
    start_time: i64,
}

pub struct Process {
    base: ObjectBase,
    handles: HandleTable,
    aspace: Arc<UserAddressSpace>,
    root_vmar: Arc<Vmar>,
    /// Lifecycle and threads. A spin lock, taken with IRQs masked (as all kernel code runs);
    /// `SCHEDULER` and `Thread::state` nest inside it, nothing else.
    inner: spin::Mutex<ProcessInner>,
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
fn check_entry(entry: usize, stack: usize) -> ZxResult {
    if entry >= crate::usercopy::USER_END || stack > crate::usercopy::USER_END {
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
        if crate::kcheck::listing() {
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
        if crate::kcheck::listing() {
            let mut processes = PROCESSES.lock();
            let me: *const Process = self;
            if let Some(i) = processes.iter().position(|w| w.as_ptr() == me) {
                processes.swap_remove(i);
            }
        }
    }
}

/// Every process not yet dropped, for the kernel's invariant checks (`kcheck`); kept only
/// while they are on. Taken alone, never around another lock (IRQs masked, as all kernel
/// code runs).
static PROCESSES: spin::Mutex<Vec<Weak<Process>>> = spin::Mutex::new(Vec::new());

/// Every process not yet dropped (while `kcheck` is on; else none).
pub fn all_processes() -> Vec<Arc<Process>> {
    let processes = PROCESSES.lock();
    let mut live = Vec::new();
    if live.try_reserve(processes.len()).is_ok() {
        live.extend(processes.iter().filter_map(Weak::upgrade));
    }
    live
}

// ---- threads --------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThreadState {
    New,
    Runnable,
    Running,
    Blocked,
    Dead,
}

pub struct Thread {
    base: ObjectBase,
    process: Arc<Process>,
    /// Nests inside `SCHEDULER` (and so inside `Process::inner`); IRQs masked.
    state: spin::Mutex<ThreadState>,
    /// `state` is Dead: read without the lock on every return to user mode.
    dead: AtomicBool,
    /// The thread has been switched to at least once (its kernel stack is in use). Written
    /// and read under `SCHEDULER`.
    ran: AtomicBool,
    /// The kernel context while switched out.
    context: SavedContext,
    stack: KernelStack,
    /// User FP/SIMD registers and TPIDR_EL0 while switched out. Taken only by `schedule`,
    /// inside `SCHEDULER`, with nothing nested; IRQs masked.
    user_registers: spin::Mutex<UserRegisters>,
    /// Set while the thread copies between user memory and frames no lock keeps
    /// ([`copying_frames`]); only the thread itself reads or writes it.
    copying_frames: AtomicBool,
    /// The user page (address, bit 0: a write) such a copy faulted on and could not have
    /// served without waiting, or `NO_FAULT`; only the thread itself reads or writes it.
    fault_left: AtomicUsize,
}

/// [`Thread::fault_left`]: none.
const NO_FAULT: usize = usize::MAX;

impl Thread {
    /// `zx_thread_create`: a thread of `process`, not yet started.
    pub fn create(process: &Arc<Process>, name: &[u8]) -> ZxResult<Arc<Thread>> {
        if process.has_exited() {
            return Err(Status::BAD_STATE);
        }
        let stack = KernelStack::new()?;
        let base = ObjectBase::new(Signals::NONE);
        base.set_name(name);
        let thread = Arc::new(Thread {
            base,
            process: process.clone(),
            state: spin::Mutex::new(ThreadState::New),
            dead: AtomicBool::new(false),
            ran: AtomicBool::new(false),
            context: SavedContext::new(),
            stack,
            user_registers: spin::Mutex::new(UserRegisters::new()),
            copying_frames: AtomicBool::new(false),
            fault_left: AtomicUsize::new(NO_FAULT),
        });
        Ok(thread)
    }

    pub fn process(&self) -> &Arc<Process> {
        &self.process
    }

    pub fn state(&self) -> ThreadState {
        *self.state.lock()
    }

    fn stack_top(&self) -> usize {
        self.stack.top
    }

    /// `zx_thread_start`: runs at EL0 from `entry` with `sp` = `stack`, `x0`/`x1` = args.
    /// INVALID_ARGS for an entry or stack outside the user half; BAD_STATE if the thread was
    /// started before or its process is not running (not yet started, as in Zircon: the first
    /// thread starts with `zx_process_start`, or already ended).
    pub fn start(self: &Arc<Self>, entry: usize, stack: usize, arg1: u64, arg2: u64) -> ZxResult {
        check_entry(entry, stack)?;
        let mut process = self.process.inner.lock();
        if process.state != ProcessState::Running {
            return Err(Status::BAD_STATE);
        }
        self.launch(&mut process, entry, stack, arg1, arg2)
    }

    /// Makes a new thread runnable and one of `process`'s live threads (its `inner`, held by
    /// the caller). The state changes and the thread is queued under `SCHEDULER`, so a
    /// concurrent kill finds it either New (nothing queued; this then fails) or queued.
    fn launch(
        self: &Arc<Self>,
        process: &mut ProcessInner,
        entry: usize,
        stack: usize,
        arg1: u64,
        arg2: u64,
    ) -> ZxResult {
        let mut scheduler = SCHEDULER.lock();
        let mut state = self.state.lock();
        if *state != ThreadState::New {
            return Err(Status::BAD_STATE);
        }
        let mut registers = [0u64; 31];
        registers[0] = arg1;
        registers[1] = arg2;
        let frame = TrapFrame {
            x: registers,
            sp_el0: stack as u64,
            elr: entry as u64,
            spsr: 0, // EL0t, interrupts unmasked
            ..TrapFrame::default()
        };
        // SAFETY: the thread is New (checked above, under its lock), so its kernel stack,
        // mapped with it, has never been switched to and nothing uses it.
        unsafe { self.context.prepare(self.stack_top(), frame) };
        *state = ThreadState::Runnable;
        drop(state);
        scheduler.run_queue.push_back(self.clone());
        drop(scheduler);
        process.threads.push(self.clone());
        Ok(())
    }

    /// `zx_task_kill` on a thread.
    pub fn kill(self: &Arc<Self>) {
        self.die();
    }

    /// Marks the thread dead and takes it off its process's live threads; the process ends
    /// (code 0) when that was its last one. Idempotent.
    fn die(self: &Arc<Self>) {
        if !self.mark_dead() {
            return;
        }
        let (this, last) = {
            let mut inner = self.process.inner.lock();
            match inner.threads.iter().position(|t| Arc::ptr_eq(t, self)) {
                Some(index) => {
                    let this = inner.threads.swap_remove(index);
                    let last = inner.threads.is_empty() && inner.state == ProcessState::Running;
                    (Some(this), last)
                }
                // Never started, or its process already ended.
                None => (None, false),
            }
        };
        drop(this);
        if last {
            self.process.terminate(0);
        }
    }

    /// Marks the thread dead; false if it already was. One that is blocked or preempted still
    /// runs once more, in the kernel, to unwind its stack (releasing what its frames hold)
    /// and leave through the scheduler; it never returns to user mode. One that was started
    /// but never ran is taken off the run queue: its stack holds nothing yet.
    fn mark_dead(self: &Arc<Self>) -> bool {
        let mut scheduler = SCHEDULER.lock();
        let mut state = self.state.lock();
        if *state == ThreadState::Dead {
            return false;
        }
        let was = *state;
        *state = ThreadState::Dead;
        self.dead.store(true, Ordering::Relaxed);
        drop(state);
        scheduler.sleepers.retain(|(_, t)| !Arc::ptr_eq(t, self));
        // Taken out of the queue under the lock, dropped after it.
        let mut unqueued = None;
        match was {
            // The current thread: it leaves at its next trip through the scheduler.
            ThreadState::Running => scheduler.current_dead = true,
            ThreadState::Blocked => scheduler.run_queue.push_back(self.clone()),
            ThreadState::Runnable if !self.ran.load(Ordering::Relaxed) => {
                if let Some(index) = scheduler
                    .run_queue
                    .iter()
                    .position(|t| Arc::ptr_eq(t, self))
                {
                    unqueued = scheduler.run_queue.remove(index);
                }
            }
            // Other runnable ones are queued and unwind when they run; new ones never ran.
            _ => {}
        }
        drop(scheduler);
        drop(unqueued);
        self.base
            .signals()
            .update(Signals::NONE, Signals::THREAD_TERMINATED);
        true
    }
}

impl KernelObject for Thread {
    fn base(&self) -> &ObjectBase {
        &self.base
    }

    fn object_type(&self) -> u32 {
        abi::ZX_OBJ_TYPE_THREAD
    }

    fn related_koid(&self) -> u64 {
        self.process.base.koid()
    }

    fn has_name(&self) -> bool {
        true
    }
}

/// A thread's kernel stack: pool pages mapped in a slot of the stack region, with the
/// unmapped page below as its guard.
struct KernelStack {
    slot: usize,
    pa: u64,
    top: usize,
}

static FREE_STACK_SLOTS: spin::Mutex<(Vec<usize>, usize)> = spin::Mutex::new((Vec::new(), 0));

impl KernelStack {
    fn new() -> ZxResult<KernelStack> {
        // Mapping may need a few page-table pages on top of the stack itself.
        if !memory::can_spend(KERNEL_STACK_PAGES + 4) {
            return Err(Status::NO_MEMORY);
        }
        let slot = {
            let mut slots = FREE_STACK_SLOTS.lock();
            match slots.0.pop() {
                Some(slot) => slot,
                None if slots.1 < mmu::KERNEL_STACK_SLOTS => {
                    slots.1 += 1;
                    slots.1 - 1
                }
                None => return Err(Status::NO_RESOURCES),
            }
        };
        let pa =
            match memory::with_pool(|pool| pool.alloc_pages(KERNEL_STACK_PAGES, PageUse::Kernel)) {
                Ok(pa) => pa,
                Err(_) => {
                    FREE_STACK_SLOTS.lock().0.push(slot);
                    return Err(Status::NO_MEMORY);
                }
            };
        match mmu::map_kernel_stack(slot, pa) {
            Ok(top) => Ok(KernelStack { slot, pa, top }),
            Err(_) => {
                let _ = memory::with_pool(|pool| {
                    pool.free_pages(pa, KERNEL_STACK_PAGES, PageUse::Kernel)
                });
                FREE_STACK_SLOTS.lock().0.push(slot);
                Err(Status::NO_MEMORY)
            }
        }
    }
}

impl Drop for KernelStack {
    fn drop(&mut self) {
        mmu::unmap_kernel_stack(self.slot);
        let _ =
            memory::with_pool(|pool| pool.free_pages(self.pa, KERNEL_STACK_PAGES, PageUse::Kernel));
        FREE_STACK_SLOTS.lock().0.push(self.slot);
    }
}

// ---- the scheduler ------------------------------------------------------------------------------

struct Scheduler {
    current: Option<Arc<Thread>>,
    /// Set when the current thread died: it must not be queued again.
    current_dead: bool,
    run_queue: VecDeque<Arc<Thread>>,
    /// Blocked threads with a deadline.
    sleepers: Vec<(i64, Arc<Thread>)>,
    /// Dead threads whose kernel stack may still be in use until the next switch completes.
    zombies: Vec<Arc<Thread>>,
    need_resched: bool,
}

static SCHEDULER: spin::Mutex<Scheduler> = spin::Mutex::new(Scheduler {
    current: None,
    current_dead: false,
    run_queue: VecDeque::new(),
    sleepers: Vec::new(),
    zombies: Vec::new(),
    need_resched: false,
});

/// The idle context (on the boot stack) while switched out.
static IDLE: SavedContext = SavedContext::new();

pub fn current_thread() -> Option<Arc<Thread>> {
    SCHEDULER.lock().current.clone()
}

pub fn current_process() -> Option<Arc<Process>> {
    current_thread().map(|t| t.process.clone())
}

/// The running thread as `Scheduler::current` holds it, for the system-call path, which must
/// not pay for the scheduler lock and reference counts on every call. Null in the idle loop.
static CURRENT: AtomicPtr<Thread> = AtomicPtr::new(core::ptr::null_mut());

/// Who is running now, as a number no other running thread has (its `Thread`'s address; 0
/// in the idle loop): for state that belongs to the thread that set it.
pub fn current_token() -> usize {
    CURRENT.load(Ordering::Relaxed) as usize
}

/// Runs `f` on the current thread's process, without taking a reference.
pub fn with_current_process<R>(f: impl FnOnce(&Arc<Process>) -> R) -> Option<R> {
    let thread = CURRENT.load(Ordering::Relaxed);
    if thread.is_null() {
        return None;
    }
    // SAFETY: CURRENT is the thread `Scheduler::current` holds an `Arc` of, and it only
    // changes in `schedule`. There is one CPU and the kernel switches only in `schedule`
    // (blocking, exiting, preemption points), so while code runs on behalf of this thread it
    // stays current: a `schedule` inside `f` returns only once this thread runs again, and a
    // thread that dies never returns from it.
    Some(f(unsafe { &(*thread).process }))
}

/// Prints what the current thread was doing in the kernel, for the report of a panic or a
/// fatal exception: the system call and its arguments, or the user fault, of its last entry
/// from EL0 (the frame the vectors saved at the top of its kernel stack), so that a fuzzer's
/// seed and the call named here reproduce it. Takes no lock: the kernel may have stopped
/// holding any of them.
pub fn report_current_call() {
    let thread = CURRENT.load(Ordering::Relaxed);
    if thread.is_null() {
        log::error!("  on no thread (the idle loop or boot)");
        return;
    }
    // SAFETY: CURRENT is the thread `Scheduler::current` holds an `Arc` of (see
    // `with_current_process`); the kernel has stopped, so it stays alive.
    let thread = unsafe { &*thread };
    let frame_addr = context::user_frame_address(thread.stack_top());
    // SAFETY: every entry from EL0 saves its frame there, at the top of this thread's own
    // kernel stack, which is mapped while the thread exists; plain integers, any bits valid.
    let frame = unsafe { &*(frame_addr as *const TrapFrame) };
    let (thread_koid, process_koid) = (thread.base.koid(), thread.process.base.koid());
    const EC_SVC64: u64 = 0x15;
    if frame.esr >> 26 == EC_SVC64 {
        let number = frame.x[16];
        let call = abi::Syscall::from_number(number).map_or("unknown", abi::Syscall::name);
        let a = &frame.x;
        log::error!(
            "  in system call {number} ({call}) of thread {thread_koid}, process {process_koid}\n  \
             args {:#x} {:#x} {:#x} {:#x} {:#x} {:#x} {:#x} {:#x}  (user pc {:#x})",
            a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], frame.elr
        );
    } else if frame.esr == 0 {
        // An interrupt from user mode, often taken right as a system call returns (its end
        // unmasked interrupts): x16 still holds that call's number.
        let number = frame.x[16];
        let call = abi::Syscall::from_number(number).map_or("unknown", abi::Syscall::name);
        log::error!(
            "  on thread {thread_koid}, process {process_koid}, interrupted in user mode at pc {:#x}; x16 = {number} ({call}), the system call just made if the pc follows an svc",
            frame.elr
        );
    } else {
        log::error!(
            "  on thread {thread_koid}, process {process_koid}, last in from user mode at pc {:#x} (ESR {:#x}, FAR {:#x})",
            frame.elr,
            frame.esr,
            frame.far
        );
    }
}

/// Marks the current thread as copying (`on`) between user memory and frames that no lock
/// keeps (a VMO's, in `zx_vmo_read` and `zx_vmo_write`; between two such copies it may take
/// preemption points, never during one), or done with it: a fault such a copy takes must not
/// let another thread run, which could free those frames meanwhile. It is served without
/// waiting ([`object::vmar::Vmar::handle_fault_without_waiting`]); one that would have to
/// wait fails the copy and leaves its page for [`take_fault_left`], for the caller to serve
/// once it let go of the frames and then copy the rest.
#[inline]
pub fn copying_frames(on: bool) {
    let thread = CURRENT.load(Ordering::Relaxed);
    if !thread.is_null() {
        // SAFETY: as in `with_current_process`.
        unsafe { (*thread).copying_frames.store(on, Ordering::Relaxed) };
    }
}

/// The user page (address, whether for a write) a copy marked by [`copying_frames`] faulted
/// on and left for later, if any; taking it clears it.
pub fn take_fault_left() -> Option<(usize, bool)> {
    let thread = CURRENT.load(Ordering::Relaxed);
    if thread.is_null() {
        return None;
    }
    // SAFETY: as in `with_current_process`.
    let left = unsafe { (*thread).fault_left.swap(NO_FAULT, Ordering::Relaxed) };
    (left != NO_FAULT).then_some((left & !1, left & 1 != 0))
}

/// Whether the current thread is in a copy marked by [`copying_frames`].
pub fn copy_holds_frames() -> bool {
    let thread = CURRENT.load(Ordering::Relaxed);
    // SAFETY: as in `with_current_process`.
    !thread.is_null() && unsafe { (*thread).copying_frames.load(Ordering::Relaxed) }
}

/// A fault of a copy marked by [`copying_frames`] that needs waiting: the copy fails, and
/// [`take_fault_left`] hands the page to its caller.
pub fn leave_fault_for_later(va: usize, write: bool) {
    let thread = CURRENT.load(Ordering::Relaxed);
    if !thread.is_null() {
        let page = va & !(arch::mmu::PAGE_SIZE - 1);
        // SAFETY: as in `with_current_process`.
        unsafe {
            (*thread)
                .fault_left
                .store(page | usize::from(write), Ordering::Relaxed)
        };
    }
}

/// Whether the current thread was killed (it must not return to user mode).
pub fn current_is_dead() -> bool {
    let thread = CURRENT.load(Ordering::Relaxed);
    // SAFETY: as in `with_current_process`.
    !thread.is_null() && unsafe { (*thread).dead.load(Ordering::Relaxed) }
}

/// Picks the next thread and switches to it. Must be called with IRQs masked. Returns when
/// the calling context runs again.
pub fn schedule() {
    let (save_slot, next_sp): (*const SavedContext, SavedSp);
    {
        let mut scheduler = SCHEDULER.lock();
        scheduler.need_resched = false;
        let previous = scheduler.current.take();
        let previous_dead = core::mem::take(&mut scheduler.current_dead);
        if let Some(previous) = &previous {
            let mut state = previous.state.lock();
            if *state == ThreadState::Running && !previous_dead {
                *state = ThreadState::Runnable;
                drop(state);
                scheduler.run_queue.push_back(previous.clone());
            }
        }
        let next = scheduler.run_queue.pop_front();
        if let (Some(previous), Some(next)) = (&previous, &next) {
            if Arc::ptr_eq(previous, next) {
                let mut state = next.state.lock();
                if *state != ThreadState::Dead {
                    *state = ThreadState::Running;
                }
                drop(state);
                scheduler.current = Some(next.clone());
                CURRENT.store(Arc::as_ptr(next).cast_mut(), Ordering::Relaxed);
                return;
            }
        }
        if previous.is_none() && next.is_none() {
            return;
        }
        if let Some(previous) = &previous {
            previous.user_registers.lock().save();
        }
        match &next {
            Some(next) => {
                let mut state = next.state.lock();
                if *state != ThreadState::Dead {
                    *state = ThreadState::Running;
                }
                drop(state);
                next.ran.store(true, Ordering::Relaxed);
                next.user_registers.lock().restore();
                aspace::switch_to(if next.process.has_exited() {
                    None
                } else {
                    Some(next.process.aspace.ttbr0())
                });
            }
            None => aspace::switch_to(None),
        }
        save_slot = match &previous {
            Some(previous) => &previous.context,
            None => &IDLE,
        };
        next_sp = match &next {
            Some(next) => next.context.saved_sp(),
            None => IDLE.saved_sp(),
        };
        // Keep the previous thread alive while its stack is still ours; a dead one is freed
        // after the next switch.
        if let Some(previous) = previous {
            if previous.state() == ThreadState::Dead {
                scheduler.zombies.push(previous);
            }
        }
        CURRENT.store(
            next.as_ref()
                .map_or(core::ptr::null_mut(), |t| Arc::as_ptr(t).cast_mut()),
            Ordering::Relaxed,
        );
        scheduler.current = next;
    }
    // SAFETY: IRQs are masked (our caller's duty). `save_slot` is the previous context's
    // slot, kept alive above (its thread is queued, current or a zombie until the next
    // switch completes; or the idle context, a static), and `next_sp` a context prepared by
    // `Thread::launch` or saved by an earlier switch, which only this switch resumes: it was
    // taken off the run queue (or is the idle context, which runs only when no thread does).
    unsafe { context::switch(save_slot, next_sp) };
    reap_zombies();
}

fn reap_zombies() {
    let zombies = {
        let mut scheduler = SCHEDULER.lock();
        let current = scheduler.current.clone();
        let (keep, free): (Vec<_>, Vec<_>) = core::mem::take(&mut scheduler.zombies)
            .into_iter()
            .partition(|z| current.as_ref().is_some_and(|c| Arc::ptr_eq(c, z)));
        scheduler.zombies = keep;
        free
    };
    drop(zombies);
}

/// Marks the current thread dead and switches away for good. Nothing may be alive on the
/// callers' frames that needs dropping: they are abandoned.
fn leave_current() -> ! {
    if let Some(thread) = current_thread() {
        thread.die();
    }
    schedule();
    unreachable!("a dead thread was scheduled again");
}

/// `zx_thread_exit`.
pub fn exit_thread() -> ! {
    leave_current()
}

/// `zx_process_exit`.
pub fn exit_process(code: i64) -> ! {
    if let Some(process) = current_process() {
        process.terminate(code);
    }
    leave_current()
}

/// Ends the current process with `code` from inside one of its system calls, which then
/// unwinds normally (dropping what it holds) and does not return to user mode.
pub fn end_current_process(code: i64) {
    if let Some(process) = current_process() {
        process.terminate(code);
    }
}

/// Ends the current process after a fault it cannot recover from.
pub fn kill_current_process(code: i64) -> ! {
    exit_process(code)
}

/// The kernel's preemption point for long operations (`object::preempt`), called with no
/// lock held and IRQs masked: lets a pending interrupt in (the tick, which asks for a switch
/// at the end of the time slice), then switches if another thread should run. Returns false
/// when the current thread was killed: it stops the work and leaves at the system-call
/// boundary. Nothing happens outside a thread (boot, the idle loop).
pub fn preempt_point() -> bool {
    if CURRENT.load(Ordering::Relaxed).is_null() {
        return true;
    }
    // A killed thread must not switch away here: the scheduler would never run it again, and
    // what its frames hold would never be dropped. It unwinds to the system-call boundary.
    if current_is_dead() {
        return false;
    }
    arch::cpu::take_pending_irqs();
    if should_preempt() {
        schedule();
    }
    !current_is_dead()
}

/// The kernel's wait point (`object::preempt::wait_point`), called with no lock held and IRQs
/// masked by a thread that waits for another thread's long operation: sleeps until the next
/// tick (at most a time slice), so that the long operation runs undisturbed meanwhile; a
/// thread that only yielded was switched to at every preemption point of the operation and
/// slowed it (twice as long on the raspi machines, where a switch costs more). Returns false
/// when the current thread was killed.
pub fn wait_point() -> bool {
    if CURRENT.load(Ordering::Relaxed).is_null() {
        return true;
    }
    if current_is_dead() {
        return false;
    }
    sleep_until(now_ns() + WAIT_POINT_SLEEP_NS);
    !current_is_dead()
}

/// How long [`wait_point`] sleeps; the tick rounds it up.
const WAIT_POINT_SLEEP_NS: i64 = 1_000_000;

/// Runs on the boot stack once the kernel has started `init`: sleeps until there is work.
pub fn idle_loop() -> ! {
    object::preempt::set_hook(preempt_point);
    object::preempt::set_wait_hook(wait_point);
    loop {
        schedule();
        // What a thread which never came back (it exited) left for later (address spaces,
        // pages of large VMOs, queues of dead channel endpoints, VMO families' work, page
        // tables): a chunk per round, so that a thread made runnable meanwhile runs after it.
        if object::free_deferred_chunk() || aspace::free_dead_tables_chunk() {
            arch::cpu::take_pending_irqs();
            continue;
        }
        IDLE_WAITING.store(true, Ordering::Relaxed);
        arch::cpu::enable_irqs();
        arch::cpu::wait_for_interrupt();
        arch::cpu::disable_irqs();
        IDLE_WAITING.store(false, Ordering::Relaxed);
    }
}

/// The idle loop waits for an interrupt with interrupts unmasked: a timer interrupt taken
/// then is late only by what the emulator's clock did while the CPU slept, not by a stretch
/// of kernel work (`irq::note_latency` skips it). One CPU: becomes per-CPU with SMP.
static IDLE_WAITING: AtomicBool = AtomicBool::new(false);

/// Whether the CPU is in the idle loop's wait for an interrupt.
pub fn idle_waiting() -> bool {
    IDLE_WAITING.load(Ordering::Relaxed)
}

/// The timer tick (IRQs masked): wakes sleepers whose deadline passed and asks for a
/// reschedule at the end of the time slice.
pub fn tick() {
    let now = now_ns();
    let mut scheduler = SCHEDULER.lock();
    let mut index = 0;
    while index < scheduler.sleepers.len() {
        if scheduler.sleepers[index].0 <= now {
            let (_, thread) = scheduler.sleepers.swap_remove(index);
            let mut state = thread.state.lock();
            if *state == ThreadState::Blocked {
                *state = ThreadState::Runnable;
                drop(state);
                scheduler.run_queue.push_back(thread);
            }
        } else {
            index += 1;
        }
    }
    scheduler.need_resched = true;
}

/// Whether an IRQ taken from EL0 should switch threads before returning.
pub fn should_preempt() -> bool {
    let scheduler = SCHEDULER.lock();
    scheduler.need_resched && !scheduler.run_queue.is_empty()
}

/// Makes a blocked thread runnable.
fn wake(thread: &Arc<Thread>) {
    let mut scheduler = SCHEDULER.lock();
    let mut state = thread.state.lock();
    if *state == ThreadState::Blocked {
        *state = ThreadState::Runnable;
        drop(state);
        scheduler.sleepers.retain(|(_, t)| !Arc::ptr_eq(t, thread));
        scheduler.run_queue.push_back(thread.clone());
    }
}

/// Blocks the current thread until `deadline` or until something wakes it.
fn block_current(deadline: i64, still_waiting: impl Fn() -> bool) {
    let Some(thread) = current_thread() else {
        return;
    };
    {
        let mut scheduler = SCHEDULER.lock();
        if !still_waiting() {
            return;
        }
        let mut state = thread.state.lock();
        // A killed thread never blocks again: it unwinds to the system-call boundary and
        // leaves there. Marking it Blocked would also hide that it is dead.
        if *state == ThreadState::Dead {
            return;
        }
        *state = ThreadState::Blocked;
        drop(state);
        if deadline != abi::ZX_TIME_INFINITE {
            scheduler.sleepers.push((deadline, thread.clone()));
        }
    }
    schedule();
}

/// `zx_nanosleep`.
pub fn sleep_until(deadline: i64) {
    if deadline <= now_ns() {
        return;
    }
    block_current(deadline, || true);
}

struct ThreadWaker(Weak<Thread>);

impl Wake for ThreadWaker {
    fn wake(&self) {
        if let Some(thread) = self.0.upgrade() {
            self::wake(&thread);
        }
    }
}

/// Blocking for `object::wait`: the current thread sleeps in the scheduler.
pub struct KernelBlocker;

impl Blocker for KernelBlocker {
    fn now(&self) -> i64 {
        now_ns()
    }

    fn wake_hook(&self) -> Arc<dyn Wake> {
        let thread = current_thread()
            .map(|t| Arc::downgrade(&t))
            .unwrap_or_default();
        Arc::new(ThreadWaker(thread))
    }

    fn block_until(&self, waiter: &Waiter, deadline: i64) {
        block_current(deadline, || waiter.is_pending());
    }

    fn interrupted(&self) -> bool {
        current_is_dead()
    }
}
