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
    let process = Process::create(b"p").unwrap();
    let thread = Thread::create(&process, b"t").unwrap();
    process.start(&thread, ENTRY, STACK, None, 5).unwrap();
    calls();
    (process, thread)
}

#[test]
fn start_launches_the_thread_with_the_argument_handle() {
    let process = Process::create(b"p").unwrap();
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
    let process = Process::create(b"p").unwrap();
    let other = Process::create(b"q").unwrap();
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

    let fresh = Process::create(b"p").unwrap();
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
    let process = Process::create(b"p").unwrap();
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
    let process = Process::create(b"p").unwrap();
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
    let process = Process::create(b"p").unwrap();
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
    let process = Process::create(b"p").unwrap();
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
    let process = Process::create(b"p").unwrap();
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
    let process = Process::create(b"proc").unwrap();
    let thread = Thread::create(&process, b"thr").unwrap();
    assert_eq!(&process.name()[..5], b"proc\0");
    assert_eq!(&thread.base().name()[..4], b"thr\0");
    assert!(process.has_name() && thread.has_name());
    assert_eq!(process.object_type(), ZX_OBJ_TYPE_PROCESS);
    assert_eq!(thread.object_type(), ZX_OBJ_TYPE_THREAD);
    assert_eq!(thread.related_koid(), process.koid());
    assert_eq!(process.related_koid(), 0);
    assert!(Arc::ptr_eq(thread.process(), &process));
}

#[test]
fn a_dropped_process_closes_its_handles() {
    let process = Process::create(b"p").unwrap();
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
        let process = Process::create(b"p").unwrap();
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
