//! Processes and threads on a fake kernel: start rules, the lifecycle, termination, kills,
//! `ZX_INFO_PROCESS`, and a model-based property test of the lifecycle.

use std::cell::RefCell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use abi::{
    Rights, Signals, Status, ZX_INFO_PROCESS_FLAG_EXITED, ZX_INFO_PROCESS_FLAG_STARTED,
    ZX_OBJ_TYPE_PROCESS, ZX_OBJ_TYPE_THREAD, ZX_TASK_RETCODE_SYSCALL_KILL,
};
use object::handle::Handle;
use object::object::{KernelObject, ObjectBase};
use object::task::{Killed, StateLock, TaskKernel, ThreadState, UserStart, USER_END};
use object::vmar::testing::FakeAddressSpace;
use proptest::prelude::*;

/// What the fake kernel was asked, in order (per test thread).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Call {
    Launch(u64, UserStart),
    /// A thread killed (its koid) and the state it was in.
    Kill(u64, ThreadState),
    /// A process's address space released (its koid).
    Release(u64),
    Dropped(u64),
}

thread_local! {
    static CALLS: RefCell<Vec<Call>> = const { RefCell::new(Vec::new()) };
    /// The next `new_thread_part` fails with this.
    static FAIL_THREAD: RefCell<Option<Status>> = const { RefCell::new(None) };
}

fn record(call: Call) {
    CALLS.with(|calls| calls.borrow_mut().push(call));
}

/// Takes the calls recorded so far.
fn calls() -> Vec<Call> {
    CALLS.with(|calls| std::mem::take(&mut *calls.borrow_mut()))
}

const NOW: i64 = 1_234_567;

struct Fake;

struct FakeLock(Mutex<ThreadState>);

impl StateLock for FakeLock {
    fn new(state: ThreadState) -> Self {
        FakeLock(Mutex::new(state))
    }
    fn with<R>(&self, f: impl FnOnce(&mut ThreadState) -> R) -> R {
        f(&mut self.0.lock().unwrap())
    }
}

impl TaskKernel for Fake {
    type ThreadPart = ();
    type Space = FakeAddressSpace;
    type StateLock = FakeLock;

    fn new_thread_part() -> Result<(), Status> {
        match FAIL_THREAD.with(|f| f.borrow_mut().take()) {
            Some(status) => Err(status),
            None => Ok(()),
        }
    }
    fn new_address_space() -> Result<Arc<FakeAddressSpace>, Status> {
        Ok(Arc::new(FakeAddressSpace::new()))
    }
    fn release_address_space(process: &Process) {
        record(Call::Release(process.koid()));
    }
    fn launch(thread: &Arc<Thread>, start: UserStart) -> Result<(), Status> {
        thread.set_runnable_locked()?;
        record(Call::Launch(thread.koid(), start));
        Ok(())
    }
    fn mark_dead(thread: &Arc<Thread>) -> Killed {
        match thread.set_dead_locked() {
            Some(was) => {
                record(Call::Kill(thread.koid(), was));
                Killed::Stopped
            }
            None => Killed::Already,
        }
    }
    fn now_ns() -> i64 {
        NOW
    }
    fn handle_seed() -> u64 {
        7
    }
    fn process_dropped(process: &Process) {
        record(Call::Dropped(process.koid()));
    }
}

type Process = object::task::Process<Fake>;
type Thread = object::task::Thread<Fake>;
type Job = object::task::Job<Fake>;

/// A plain object to hand around, counting its handles.
struct Probe {
    base: ObjectBase,
}

impl KernelObject for Probe {
    fn base(&self) -> &ObjectBase {
        &self.base
    }
    fn object_type(&self) -> u32 {
        abi::ZX_OBJ_TYPE_VMO
    }
}

fn probe() -> (Arc<Probe>, Handle) {
    let probe = Arc::new(Probe {
        base: ObjectBase::new(Signals::NONE),
    });
    let handle = Handle::new(probe.clone(), Rights::TRANSFER);
    (probe, handle)
}

fn signals(object: &dyn KernelObject) -> Signals {
    object.base().signals().get()
}

const ENTRY: usize = 0x10_0000;
const STACK: usize = 0x20_0000;

fn started() -> (Arc<Process>, Arc<Thread>) {
    let process = Process::create(&Job::new_root(), b"p").unwrap();
    let thread = Thread::create(&process, b"t").unwrap();
    process.start(&thread, ENTRY, STACK, None, 5).unwrap();
    calls();
    (process, thread)
}

#[test]
fn start_launches_the_thread_with_the_argument_handle() {
    let process = Process::create(&Job::new_root(), b"p").unwrap();
    let thread = Thread::create(&process, b"t").unwrap();
    assert_eq!(process.info().flags, 0);
    let (probe, handle) = probe();
    process
        .start(&thread, ENTRY, STACK, Some(handle), 9)
        .unwrap();
    assert_eq!(process.handles().count(), 1);
    assert_eq!(probe.base.handle_count(), 1);
    let calls = calls();
    let [Call::Launch(koid, start)] = calls[..] else {
        panic!("{calls:?}")
    };
    assert_eq!(koid, thread.koid());
    assert_eq!((start.entry, start.stack, start.arg2), (ENTRY, STACK, 9));
    let (object, _, _) = process.handles().get(start.arg1 as u32).unwrap();
    assert_eq!(object.koid(), probe.base.koid());
    assert_eq!(thread.state(), ThreadState::Runnable);
    assert_eq!(process.live_threads(), 1);
    let info = process.info();
    assert_eq!(info.flags, ZX_INFO_PROCESS_FLAG_STARTED);
    assert_eq!(info.start_time, NOW);
}

#[test]
fn start_refuses_another_process_thread_and_bad_addresses() {
    let process = Process::create(&Job::new_root(), b"p").unwrap();
    let other = Process::create(&Job::new_root(), b"q").unwrap();
    let theirs = Thread::create(&other, b"t").unwrap();
    let (probe, handle) = probe();
    assert_eq!(
        process.start(&theirs, ENTRY, STACK, Some(handle), 0),
        Err(Status::ACCESS_DENIED)
    );
    // The argument handle is closed on every failure.
    assert_eq!(probe.base.handle_count(), 0);
    let thread = Thread::create(&process, b"t").unwrap();
    for (entry, stack) in [
        (USER_END, STACK),
        (usize::MAX, STACK),
        (ENTRY, USER_END + 1),
    ] {
        let (probe, handle) = self::probe();
        assert_eq!(
            process.start(&thread, entry, stack, Some(handle), 0),
            Err(Status::INVALID_ARGS)
        );
        assert_eq!(probe.base.handle_count(), 0);
    }
    assert_eq!(process.handles().count(), 0);
    assert!(calls().is_empty());
    assert_eq!(process.info().flags, 0);
    // Entry 0 and a stack at the very top are allowed: they fault once running.
    process.start(&thread, 0, USER_END, None, 0).unwrap();
}

#[test]
fn start_twice_or_after_exit_is_bad_state() {
    let (process, thread) = started();
    let (probe, handle) = probe();
    assert_eq!(
        process.start(&thread, ENTRY, STACK, Some(handle), 0),
        Err(Status::BAD_STATE)
    );
    assert_eq!(probe.base.handle_count(), 0);
    let second = Thread::create(&process, b"t2").unwrap();
    assert_eq!(
        process.start(&second, ENTRY, STACK, None, 0),
        Err(Status::BAD_STATE)
    );
    assert_eq!(second.state(), ThreadState::New);

    let fresh = Process::create(&Job::new_root(), b"p").unwrap();
    let thread = Thread::create(&fresh, b"t").unwrap();
    fresh.kill();
    let (probe, handle) = self::probe();
    assert_eq!(
        fresh.start(&thread, ENTRY, STACK, Some(handle), 0),
        Err(Status::BAD_STATE)
    );
    assert_eq!(probe.base.handle_count(), 0);
    assert_eq!(fresh.handles().count(), 0);
}

#[test]
fn a_killed_thread_cannot_start_the_process() {
    let process = Process::create(&Job::new_root(), b"p").unwrap();
    let thread = Thread::create(&process, b"t").unwrap();
    thread.kill();
    let (probe, handle) = probe();
    assert_eq!(
        process.start(&thread, ENTRY, STACK, Some(handle), 0),
        Err(Status::BAD_STATE)
    );
    assert_eq!(probe.base.handle_count(), 0);
    assert_eq!(process.info().flags, 0);
}

#[test]
fn thread_start_needs_a_running_process_and_a_new_thread() {
    let process = Process::create(&Job::new_root(), b"p").unwrap();
    let thread = Thread::create(&process, b"t").unwrap();
    assert_eq!(thread.start(ENTRY, STACK, 1, 2), Err(Status::BAD_STATE));
    let first = Thread::create(&process, b"first").unwrap();
    process.start(&first, ENTRY, STACK, None, 0).unwrap();
    assert_eq!(
        thread.start(USER_END, STACK, 1, 2),
        Err(Status::INVALID_ARGS)
    );
    calls();
    thread.start(ENTRY, STACK, 1, 2).unwrap();
    let start = UserStart {
        entry: ENTRY,
        stack: STACK,
        arg1: 1,
        arg2: 2,
    };
    assert_eq!(calls(), [Call::Launch(thread.koid(), start)]);
    assert_eq!(thread.start(ENTRY, STACK, 1, 2), Err(Status::BAD_STATE));
    assert_eq!(process.live_threads(), 2);
    process.kill();
    let late = Thread::create(&process, b"late");
    assert_eq!(late.err(), Some(Status::BAD_STATE));
}

#[test]
fn thread_create_fails_as_the_kernel_part_does() {
    let process = Process::create(&Job::new_root(), b"p").unwrap();
    FAIL_THREAD.with(|f| *f.borrow_mut() = Some(Status::NO_RESOURCES));
    assert_eq!(
        Thread::create(&process, b"t").err(),
        Some(Status::NO_RESOURCES)
    );
    assert!(Thread::create(&process, b"t").is_ok());
}

#[test]
fn the_last_thread_to_die_ends_the_process_with_code_0() {
    let (process, first) = started();
    let second = Thread::create(&process, b"t2").unwrap();
    second.start(ENTRY, STACK, 0, 0).unwrap();
    calls();
    first.die();
    assert!(!process.has_exited());
    assert_eq!(calls(), [Call::Kill(first.koid(), ThreadState::Runnable)]);
    assert!(signals(&*first).contains(Signals::THREAD_TERMINATED));
    assert!(!signals(&*process).contains(Signals::PROCESS_TERMINATED));
    second.die();
    assert!(process.has_exited());
    assert_eq!(
        calls(),
        [
            Call::Kill(second.koid(), ThreadState::Runnable),
            Call::Release(process.koid())
        ]
    );
    let info = process.info();
    assert_eq!(info.return_code, 0);
    assert_eq!(
        info.flags,
        ZX_INFO_PROCESS_FLAG_STARTED | ZX_INFO_PROCESS_FLAG_EXITED
    );
    assert!(signals(&*process).contains(Signals::PROCESS_TERMINATED));
    // Dying again changes nothing.
    second.die();
    assert!(calls().is_empty());
}

#[test]
fn terminate_kills_threads_drops_handles_and_is_idempotent() {
    static HOOK_CODES: AtomicUsize = AtomicUsize::new(0);
    fn hook(code: i64) {
        assert_eq!(code, 5);
        HOOK_CODES.fetch_add(1, Ordering::SeqCst);
    }
    let (process, thread) = started();
    let (probe, handle) = probe();
    process.handles().add(handle).unwrap();
    let never_started = Thread::create(&process, b"idle").unwrap();
    process.on_exit(hook);
    process.terminate(5);
    assert_eq!(
        calls(),
        [
            Call::Kill(thread.koid(), ThreadState::Runnable),
            Call::Release(process.koid())
        ]
    );
    assert_eq!(probe.base.handle_count(), 0);
    assert_eq!(process.handles().count(), 0);
    assert_eq!(process.live_threads(), 0);
    assert!(thread.is_dead());
    assert!(signals(&*thread).contains(Signals::THREAD_TERMINATED));
    // A thread never started is not the process's to kill.
    assert_eq!(never_started.state(), ThreadState::New);
    assert!(signals(&*process).contains(Signals::PROCESS_TERMINATED));
    assert_eq!(HOOK_CODES.load(Ordering::SeqCst), 1);
    process.terminate(7);
    process.kill();
    assert!(calls().is_empty());
    assert_eq!(process.info().return_code, 5);
    assert_eq!(HOOK_CODES.load(Ordering::SeqCst), 1);
}

#[test]
fn kill_gives_the_kill_code() {
    let (process, thread) = started();
    process.kill();
    assert_eq!(process.info().return_code, ZX_TASK_RETCODE_SYSCALL_KILL);
    assert_eq!(thread.state(), ThreadState::Dead);
    // The dead thread's own way out finds the process gone and changes nothing.
    calls();
    thread.die();
    assert!(calls().is_empty());
}

#[test]
fn a_process_killed_before_it_started_reports_exited() {
    let process = Process::create(&Job::new_root(), b"p").unwrap();
    process.kill();
    assert!(process.has_exited());
    assert_eq!(
        process.info().flags,
        ZX_INFO_PROCESS_FLAG_STARTED | ZX_INFO_PROCESS_FLAG_EXITED
    );
    assert_eq!(calls(), [Call::Release(process.koid())]);
}

#[test]
fn killing_a_thread_never_started_leaves_its_process_alone() {
    let process = Process::create(&Job::new_root(), b"p").unwrap();
    let thread = Thread::create(&process, b"t").unwrap();
    thread.kill();
    assert_eq!(calls(), [Call::Kill(thread.koid(), ThreadState::New)]);
    assert_eq!(thread.state(), ThreadState::Dead);
    assert!(thread.is_dead());
    assert!(signals(&*thread).contains(Signals::THREAD_TERMINATED));
    assert!(!process.has_exited());
    thread.kill();
    assert!(calls().is_empty());
    // The process still starts with another thread.
    let other = Thread::create(&process, b"t2").unwrap();
    process.start(&other, ENTRY, STACK, None, 0).unwrap();
}

#[test]
fn names_types_and_related_koids() {
    let job = Job::new_root();
    let process = Process::create(&job, b"proc").unwrap();
    let thread = Thread::create(&process, b"thr").unwrap();
    assert_eq!(&process.name()[..5], b"proc\0");
    assert_eq!(&thread.base().name()[..4], b"thr\0");
    assert!(process.has_name() && thread.has_name());
    assert_eq!(process.object_type(), ZX_OBJ_TYPE_PROCESS);
    assert_eq!(thread.object_type(), ZX_OBJ_TYPE_THREAD);
    assert_eq!(thread.related_koid(), process.koid());
    assert_eq!(process.related_koid(), job.koid());
    assert_eq!(job.related_koid(), 0);
    assert!(Arc::ptr_eq(thread.process(), &process));
}

#[test]
fn a_dropped_process_closes_its_handles() {
    let process = Process::create(&Job::new_root(), b"p").unwrap();
    let koid = process.koid();
    let (probe, handle) = probe();
    process.handles().add(handle).unwrap();
    drop(process);
    assert_eq!(probe.base.handle_count(), 0);
    assert_eq!(calls(), [Call::Dropped(koid)]);
}

#[test]
fn started_threads_keep_their_process_until_they_die() {
    let (process, thread) = started();
    let weak = Arc::downgrade(&process);
    drop(process);
    assert!(weak.upgrade().is_some());
    thread.die();
    drop(thread);
    assert!(weak.upgrade().is_none());
}

/// One step of the lifecycle model.
#[derive(Clone, Debug)]
enum Op {
    CreateThread,
    StartProcess(usize),
    StartThread(usize),
    KillThread(usize),
    KillProcess,
    Terminate(i64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        Just(Op::CreateThread),
        (0..6usize).prop_map(Op::StartProcess),
        (0..6usize).prop_map(Op::StartThread),
        (0..6usize).prop_map(Op::KillThread),
        Just(Op::KillProcess),
        (-3..3i64).prop_map(Op::Terminate),
    ]
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ModelProcess {
    New,
    Running,
    Exited(i64),
}

proptest! {
    #[test]
    fn lifecycle_follows_the_model(ops in proptest::collection::vec(op(), 1..40)) {
        let process = Process::create(&Job::new_root(), b"p").unwrap();
        let mut threads: Vec<Arc<Thread>> = Vec::new();
        let mut model_threads: Vec<ThreadState> = Vec::new();
        let mut model = ModelProcess::New;
        for op in ops {
            match op {
                Op::CreateThread => {
                    let result = Thread::create(&process, b"t");
                    if matches!(model, ModelProcess::Exited(_)) {
                        prop_assert_eq!(result.err(), Some(Status::BAD_STATE));
                    } else {
                        threads.push(result.unwrap());
                        model_threads.push(ThreadState::New);
                    }
                }
                Op::StartProcess(i) | Op::StartThread(i) if i >= threads.len() => {}
                Op::StartProcess(i) => {
                    let result = process.start(&threads[i], ENTRY, STACK, None, 0);
                    if model == ModelProcess::New && model_threads[i] == ThreadState::New {
                        prop_assert_eq!(result, Ok(()));
                        model = ModelProcess::Running;
                        model_threads[i] = ThreadState::Runnable;
                    } else {
                        prop_assert_eq!(result, Err(Status::BAD_STATE));
                    }
                }
                Op::StartThread(i) => {
                    let result = threads[i].start(ENTRY, STACK, 0, 0);
                    if model == ModelProcess::Running && model_threads[i] == ThreadState::New {
                        prop_assert_eq!(result, Ok(()));
                        model_threads[i] = ThreadState::Runnable;
                    } else {
                        prop_assert_eq!(result, Err(Status::BAD_STATE));
                    }
                }
                Op::KillThread(i) if i >= threads.len() => {}
                Op::KillThread(i) => {
                    threads[i].kill();
                    let was_live = model_threads[i] == ThreadState::Runnable;
                    model_threads[i] = ThreadState::Dead;
                    let live = model_threads.contains(&ThreadState::Runnable);
                    if was_live && !live && model == ModelProcess::Running {
                        model = ModelProcess::Exited(0);
                    }
                }
                Op::KillProcess | Op::Terminate(_) => {
                    let code = match op {
                        Op::Terminate(code) => code,
                        _ => ZX_TASK_RETCODE_SYSCALL_KILL,
                    };
                    match op {
                        Op::Terminate(code) => process.terminate(code),
                        _ => process.kill(),
                    }
                    if !matches!(model, ModelProcess::Exited(_)) {
                        model = ModelProcess::Exited(code);
                        for state in &mut model_threads {
                            if *state == ThreadState::Runnable {
                                *state = ThreadState::Dead;
                            }
                        }
                    }
                }
            }
            for (thread, state) in threads.iter().zip(&model_threads) {
                prop_assert_eq!(thread.state(), *state);
                prop_assert_eq!(
                    signals(&**thread).contains(Signals::THREAD_TERMINATED),
                    *state == ThreadState::Dead
                );
            }
            let live = model_threads.iter().filter(|s| **s == ThreadState::Runnable).count();
            prop_assert_eq!(process.live_threads(), live);
            let info = process.info();
            let (flags, code) = match model {
                ModelProcess::New => (0, 0),
                ModelProcess::Running => (ZX_INFO_PROCESS_FLAG_STARTED, 0),
                ModelProcess::Exited(code) => {
                    (ZX_INFO_PROCESS_FLAG_STARTED | ZX_INFO_PROCESS_FLAG_EXITED, code)
                }
            };
            prop_assert_eq!(info.flags, flags);
            prop_assert_eq!(info.return_code, code);
            prop_assert_eq!(process.has_exited(), matches!(model, ModelProcess::Exited(_)));
            prop_assert_eq!(
                signals(&*process).contains(Signals::PROCESS_TERMINATED),
                matches!(model, ModelProcess::Exited(_))
            );
        }
        calls();
    }
}

// ---- jobs ------------------------------------------------------------------------------

const NO_CHILDREN: Signals = Signals::JOB_NO_JOBS.union(Signals::JOB_NO_PROCESSES);

fn started_in(job: &Arc<Job>) -> (Arc<Process>, Arc<Thread>) {
    let process = Process::create(job, b"p").unwrap();
    let thread = Thread::create(&process, b"t").unwrap();
    process.start(&thread, ENTRY, STACK, None, 0).unwrap();
    (process, thread)
}

#[test]
fn a_new_job_has_no_children_and_its_parent_sees_it() {
    let root = Job::new_root();
    assert_eq!(&root.base().name()[..5], b"root\0");
    assert_eq!(signals(&*root), NO_CHILDREN);
    let child = root.create_child().unwrap();
    assert_eq!(signals(&*child), NO_CHILDREN);
    assert_eq!(signals(&*root), Signals::JOB_NO_PROCESSES);
    assert_eq!(child.related_koid(), root.koid());
    assert_eq!(child.object_type(), abi::ZX_OBJ_TYPE_JOB);
    assert_eq!(root.child_koids().unwrap(), vec![child.koid()]);
    let koid = child.koid();
    assert!(root.child(koid).is_some());
    drop(child);
    // Freed with its last reference: it leaves the list, NO_JOBS comes back.
    assert_eq!(signals(&*root), NO_CHILDREN);
    assert!(root.child(koid).is_none());
    assert!(root.child_koids().unwrap().is_empty());
}

#[test]
fn height_is_limited_to_32_levels_under_the_root() {
    let root = Job::new_root();
    let mut chain = vec![root.clone()];
    for _ in 0..object::task::ROOT_JOB_MAX_HEIGHT {
        let next = chain.last().unwrap().create_child().unwrap();
        chain.push(next);
    }
    assert_eq!(
        chain.last().unwrap().create_child().err(),
        Some(Status::OUT_OF_RANGE)
    );
    // A process may still live at the bottom.
    assert!(Process::create(chain.last().unwrap(), b"p").is_ok());
}

#[test]
fn processes_set_and_clear_no_processes_and_an_emptied_job_lives_on() {
    let root = Job::new_root();
    let job = root.create_child().unwrap();
    let (a, _ta) = started_in(&job);
    let b = Process::create(&job, b"unstarted").unwrap();
    assert_eq!(signals(&*job), Signals::JOB_NO_JOBS);
    assert_eq!(job.process_koids().unwrap(), vec![a.koid(), b.koid()]);
    assert_eq!(a.related_koid(), job.koid());
    a.kill();
    assert_eq!(job.process_koids().unwrap(), vec![b.koid()]);
    drop(b);
    assert_eq!(signals(&*job), NO_CHILDREN, "emptied, not terminated");
    assert_eq!(job.info().exited, 0);
    assert!(Process::create(&job, b"again").is_ok());
}

#[test]
fn killing_a_job_kills_the_tree_and_terminates_it() {
    let root = Job::new_root();
    let top = root.create_child().unwrap();
    let mid = top.create_child().unwrap();
    let leaf = mid.create_child().unwrap();
    let (p1, _t1) = started_in(&top);
    let (p2, _t2) = started_in(&mid);
    let (p3, _t3) = started_in(&leaf);
    let unstarted = Process::create(&leaf, b"new").unwrap();
    let empty = mid.create_child().unwrap();
    top.kill();
    for p in [&p1, &p2, &p3, &unstarted] {
        assert!(p.has_exited());
        assert_eq!(p.info().return_code, ZX_TASK_RETCODE_SYSCALL_KILL);
        assert!(signals(&**p).contains(Signals::PROCESS_TERMINATED));
    }
    for j in [&top, &mid, &leaf, &empty] {
        assert!(signals(&**j).contains(Signals::JOB_TERMINATED | NO_CHILDREN));
        assert_eq!(j.info().exited, 1);
        assert_eq!(j.info().return_code, ZX_TASK_RETCODE_SYSCALL_KILL);
        assert_eq!(j.create_child().err(), Some(Status::BAD_STATE));
        assert_eq!(Process::create(j, b"late").err(), Some(Status::BAD_STATE));
    }
    // The parent is untouched: only its child left.
    assert_eq!(signals(&*root), NO_CHILDREN);
    assert!(!root.is_killed());
    // Again: nothing changes.
    top.kill();
    assert_eq!(top.info().exited, 1);
}

#[test]
fn a_killed_job_terminates_only_when_its_last_process_is_gone() {
    let root = Job::new_root();
    let job = root.create_child().unwrap();
    // A process whose teardown "runs elsewhere": it ended before the kill reached it but
    // has not left the list yet is modelled by a process killed after the job.
    let (p, _t) = started_in(&job);
    let child = job.create_child().unwrap();
    let keep = child.clone();
    job.kill();
    assert!(p.has_exited());
    assert_eq!(job.info().exited, 1);
    assert_eq!(keep.info().exited, 1);
    drop(child);
}

#[test]
fn get_child_finds_live_direct_children_only() {
    let root = Job::new_root();
    let job = root.create_child().unwrap();
    let grandchild = job.create_child().unwrap();
    let (p, t) = started_in(&job);
    assert!(root.child(job.koid()).is_some());
    assert!(root.child(grandchild.koid()).is_none());
    assert!(root.child(p.koid()).is_none());
    assert_eq!(job.child(p.koid()).unwrap().koid(), p.koid());
    assert!(Arc::ptr_eq(&p.thread_by_koid(t.koid()).unwrap(), &t));
    assert_eq!(p.thread_koids().unwrap(), vec![t.koid()]);
    p.kill();
    assert!(job.child(p.koid()).is_none());
    assert!(p.thread_by_koid(t.koid()).is_none());
    assert!(p.thread_koids().unwrap().is_empty());
}

#[test]
fn thread_info_states() {
    let job = Job::new_root();
    let process = Process::create(&job, b"p").unwrap();
    let thread = Thread::create(&process, b"t").unwrap();
    assert_eq!(thread.info().state, abi::ZX_THREAD_STATE_NEW);
    process.start(&thread, ENTRY, STACK, None, 0).unwrap();
    assert_eq!(thread.info().state, abi::ZX_THREAD_STATE_RUNNING);
    {
        let _blocked = thread.blocked_in(object::task::Blocked::WaitOne);
        assert_eq!(thread.info().state, abi::ZX_THREAD_STATE_BLOCKED_WAIT_ONE);
    }
    assert_eq!(thread.info().state, abi::ZX_THREAD_STATE_RUNNING);
    let _sleeping = thread.blocked_in(object::task::Blocked::Sleeping);
    assert_eq!(thread.info().state, abi::ZX_THREAD_STATE_BLOCKED_SLEEPING);
    thread.kill();
    // The fake stops threads at once: it has left its CPU.
    assert_eq!(thread.info().state, abi::ZX_THREAD_STATE_DEAD);
}

#[test]
fn job_kill_races_process_creation() {
    // Threads create processes in a job while another kills it: every process that was
    // created ends up killed and the job terminates.
    for _ in 0..20 {
        let root = Job::new_root();
        let job = root.create_child().unwrap();
        let made = Arc::new(Mutex::new(Vec::new()));
        let creators: Vec<_> = (0..3)
            .map(|_| {
                let job = job.clone();
                let made = made.clone();
                std::thread::spawn(move || {
                    for _ in 0..50 {
                        match Process::create(&job, b"p") {
                            Ok(p) => made.lock().unwrap().push(p),
                            Err(status) => {
                                assert_eq!(status, Status::BAD_STATE);
                                return;
                            }
                        }
                    }
                })
            })
            .collect();
        std::thread::yield_now();
        job.kill();
        for c in creators {
            c.join().unwrap();
        }
        for p in made.lock().unwrap().iter() {
            assert!(
                p.has_exited(),
                "a process created before the kill escaped it"
            );
        }
        assert_eq!(job.info().exited, 1);
        assert!(signals(&*job).contains(Signals::JOB_TERMINATED));
    }
}

// ---- the job tree against a model ---------------------------------------------------------

#[derive(Clone, Debug)]
enum JobOp {
    /// A child job of the `n`th live job (mod count).
    CreateJob(usize),
    /// A started process in the `n`th job.
    StartProcess(usize),
    /// An unstarted process in the `n`th job.
    NewProcess(usize),
    /// Kills the `n`th process.
    KillProcess(usize),
    /// Kills the `n`th job.
    KillJob(usize),
}

fn job_op() -> impl Strategy<Value = JobOp> {
    prop_oneof![
        3 => (0..64usize).prop_map(JobOp::CreateJob),
        3 => (0..64usize).prop_map(JobOp::StartProcess),
        1 => (0..64usize).prop_map(JobOp::NewProcess),
        2 => (0..64usize).prop_map(JobOp::KillProcess),
        1 => (0..64usize).prop_map(JobOp::KillJob),
    ]
}

/// The model: which jobs were killed (by koid) and each process's job and whether it lives.
struct Model {
    /// (job, parent index or None for the root, killed).
    jobs: Vec<(Arc<Job>, Option<usize>, bool)>,
    /// (process, job index, alive).
    processes: Vec<(Arc<Process>, usize, bool)>,
}

impl Model {
    fn killed(&self, mut job: usize) -> bool {
        loop {
            let (_, parent, killed) = &self.jobs[job];
            if *killed {
                return true;
            }
            match parent {
                Some(p) => job = *p,
                None => return false,
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn job_tree_follows_the_model(ops in proptest::collection::vec(job_op(), 1..60)) {
        let root = Job::new_root();
        let mut m = Model { jobs: vec![(root, None, false)], processes: Vec::new() };
        for op in ops {
            match op {
                JobOp::CreateJob(n) => {
                    let at = n % m.jobs.len();
                    let depth = {
                        let mut d = 0;
                        let mut j = at;
                        while let Some(p) = m.jobs[j].1 { d += 1; j = p; }
                        d
                    };
                    let got = m.jobs[at].0.create_child();
                    if m.killed(at) {
                        prop_assert_eq!(got.err(), Some(Status::BAD_STATE));
                    } else if depth >= 32 {
                        prop_assert_eq!(got.err(), Some(Status::OUT_OF_RANGE));
                    } else {
                        m.jobs.push((got.unwrap(), Some(at), false));
                    }
                }
                JobOp::StartProcess(n) | JobOp::NewProcess(n) => {
                    let at = n % m.jobs.len();
                    let got = Process::create(&m.jobs[at].0, b"p");
                    if m.killed(at) {
                        prop_assert_eq!(got.err(), Some(Status::BAD_STATE));
                    } else {
                        let p = got.unwrap();
                        if matches!(op, JobOp::StartProcess(_)) {
                            let t = Thread::create(&p, b"t").unwrap();
                            p.start(&t, ENTRY, STACK, None, 0).unwrap();
                        }
                        m.processes.push((p, at, true));
                    }
                }
                JobOp::KillProcess(n) => {
                    if !m.processes.is_empty() {
                        let at = n % m.processes.len();
                        m.processes[at].0.kill();
                        m.processes[at].2 = false;
                    }
                }
                JobOp::KillJob(n) => {
                    let at = n % m.jobs.len();
                    m.jobs[at].0.kill();
                    m.jobs[at].2 = true;
                    for p in m.processes.iter_mut() {
                        let mut j = p.1;
                        loop {
                            if j == at { p.2 = false; break; }
                            match m.jobs[j].1 { Some(parent) => j = parent, None => break }
                        }
                    }
                }
            }
            // Every job's lists, signals and state against the model.
            for (index, (job, _, _)) in m.jobs.iter().enumerate() {
                let live_procs: Vec<u64> = m.processes.iter()
                    .filter(|p| p.1 == index && p.2)
                    .map(|p| p.0.koid())
                    .collect();
                prop_assert_eq!(job.process_koids().unwrap(), live_procs.clone());
                // A child job is live until it terminated (killed and empty); the model keeps
                // every job object alive, so none is freed here.
                let live_jobs: Vec<u64> = m.jobs.iter()
                    .filter(|c| c.1 == Some(index) && c.0.info().exited == 0)
                    .map(|c| c.0.koid())
                    .collect();
                prop_assert_eq!(job.child_koids().unwrap(), live_jobs.clone());
                let s = signals(&**job);
                prop_assert_eq!(s.contains(Signals::JOB_NO_PROCESSES), live_procs.is_empty());
                prop_assert_eq!(s.contains(Signals::JOB_NO_JOBS), live_jobs.is_empty());
                let dead = m.killed(index) && live_procs.is_empty() && live_jobs.is_empty();
                prop_assert_eq!(job.info().exited == 1, dead);
                prop_assert_eq!(s.contains(Signals::JOB_TERMINATED), dead);
            }
            for (p, _, alive) in &m.processes {
                prop_assert_eq!(!p.has_exited(), *alive);
            }
        }
    }
}
