//! Signal state, observers and waiting with deadlines, with real threads.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use abi::{zx_time_t, Rights, Signals, Status, ZX_TIME_INFINITE};
use object::handle::{Handle, HandleTable};
use object::object::{downcast, KernelObject, ObjectBase};
use object::signal::{Observe, SignalState, SignalWaker, Wakeup};
use object::wait::{wait_one, Blocker, Waiter, Wake};

mod common;
use common::*;

// ---------------------------------------------------------------------------------------
// A Blocker on std: a monotonic nanosecond clock and a condition variable per thread.

// ---------------------------------------------------------------------------------------
// A test object.

struct Event {
    base: ObjectBase,
}

impl KernelObject for Event {
    fn base(&self) -> &ObjectBase {
        &self.base
    }
    fn object_type(&self) -> u32 {
        abi::ZX_OBJ_TYPE_VMO
    }
    fn allowed_user_signals(&self) -> Signals {
        Signals::USER_0 | Signals::USER_1
    }
    fn has_name(&self) -> bool {
        true
    }
}

fn event() -> Arc<dyn KernelObject> {
    Arc::new(Event {
        base: ObjectBase::new(Signals::NONE),
    })
}

/// Records completions.
#[derive(Default)]
struct Recorder {
    wakeups: Mutex<Vec<Wakeup>>,
}

impl SignalWaker for Recorder {
    fn complete(&self, wakeup: Wakeup) {
        self.wakeups.lock().unwrap().push(wakeup);
    }
}

// ---------------------------------------------------------------------------------------
// SignalState.

#[test]
fn signal_update_clears_then_sets() {
    let state = SignalState::new(Signals::USER_0 | Signals::USER_1);
    state.update(
        Signals::USER_0 | Signals::USER_2,
        Signals::USER_2 | Signals::USER_3,
    );
    assert_eq!(
        state.get(),
        Signals::USER_1 | Signals::USER_2 | Signals::USER_3
    );
    state.clear(Signals::USER_1);
    state.set(Signals::USER_7);
    assert_eq!(
        state.get(),
        Signals::USER_2 | Signals::USER_3 | Signals::USER_7
    );
}

#[test]
fn observer_is_not_registered_when_signal_already_active() {
    let state = SignalState::new(Signals::USER_0);
    let recorder = Arc::new(Recorder::default());
    assert_eq!(
        state.add_observer(1, Signals::USER_0 | Signals::USER_1, recorder.clone()),
        Ok(Observe::Active(Signals::USER_0))
    );
    assert_eq!(state.observer_count(), 0);
    assert!(recorder.wakeups.lock().unwrap().is_empty());
}

#[test]
fn observer_completes_once_with_new_state_when_watched_signal_set() {
    let state = SignalState::new(Signals::NONE);
    let recorder = Arc::new(Recorder::default());
    let id = match state.add_observer(1, Signals::USER_1, recorder.clone()) {
        Ok(Observe::Registered(id)) => id,
        other => panic!("{other:?}"),
    };
    state.set(Signals::USER_0); // not watched
    assert!(recorder.wakeups.lock().unwrap().is_empty());
    state.set(Signals::USER_1);
    state.clear(Signals::USER_1);
    state.set(Signals::USER_1);
    assert_eq!(
        *recorder.wakeups.lock().unwrap(),
        vec![Wakeup::Satisfied(Signals::USER_0 | Signals::USER_1)]
    );
    assert_eq!(state.observer_count(), 0);
    assert_eq!(state.remove_observer(id), None);
}

#[test]
fn removed_observer_is_never_completed() {
    let state = SignalState::new(Signals::USER_2);
    let recorder = Arc::new(Recorder::default());
    let Ok(Observe::Registered(id)) = state.add_observer(1, Signals::USER_1, recorder.clone())
    else {
        panic!()
    };
    assert_eq!(state.remove_observer(id), Some(Signals::USER_2));
    state.set(Signals::USER_1);
    state.cancel_handle(1);
    assert!(recorder.wakeups.lock().unwrap().is_empty());
}

#[test]
fn cancel_handle_completes_only_that_handles_observers() {
    let state = SignalState::new(Signals::USER_3);
    let first = Arc::new(Recorder::default());
    let second = Arc::new(Recorder::default());
    state
        .add_observer(10, Signals::USER_0, first.clone())
        .unwrap();
    state
        .add_observer(11, Signals::USER_0, second.clone())
        .unwrap();
    state.cancel_handle(10);
    assert_eq!(
        *first.wakeups.lock().unwrap(),
        vec![Wakeup::Canceled(Signals::USER_3 | Signals::HANDLE_CLOSED)]
    );
    assert!(second.wakeups.lock().unwrap().is_empty());
    assert_eq!(state.observer_count(), 1);
}

#[test]
fn user_signal_accepts_only_allowed_bits() {
    let object = event();
    assert_eq!(object.user_signal(Signals::NONE, Signals::USER_0), Ok(()));
    assert_eq!(
        object.user_signal(Signals::NONE, Signals::USER_2),
        Err(Status::INVALID_ARGS)
    );
    assert_eq!(
        object.user_signal(Signals::CHANNEL_READABLE, Signals::NONE),
        Err(Status::INVALID_ARGS)
    );
    // The failed calls changed nothing.
    assert_eq!(object.signals().get(), Signals::USER_0);
    assert_eq!(object.user_signal(Signals::USER_0, Signals::USER_1), Ok(()));
    assert_eq!(object.signals().get(), Signals::USER_1);
}

// ---------------------------------------------------------------------------------------
// Object base.

#[test]
fn object_name_truncates_to_31_bytes_and_stops_at_nul() {
    let object = event();
    assert!(object.has_name());
    assert_eq!(object.base().name(), [0; 32]);
    object.base().set_name(b"hello");
    assert_eq!(&object.base().name()[..6], b"hello\0");
    object.base().set_name(&[b'x'; 40]);
    let name = object.base().name();
    assert_eq!(&name[..31], &[b'x'; 31]);
    assert_eq!(name[31], 0);
    object.base().set_name(b"ab\0cd");
    let name = object.base().name();
    assert_eq!(&name[..3], b"ab\0");
    assert!(name[3..].iter().all(|&b| b == 0));
    object.base().set_name(b"");
    assert_eq!(object.base().name(), [0; 32]);
}

#[test]
fn object_koids_are_unique_and_downcast_checks_type() {
    let a = event();
    let b = event();
    assert_ne!(a.koid(), b.koid());
    assert_eq!(a.related_koid(), 0);
    assert!(downcast::<Event>(&a).is_some());
    assert!(downcast::<object::channel::Channel>(&a).is_none());
}

// ---------------------------------------------------------------------------------------
// Waiting.

#[test]
fn wait_returns_at_once_when_a_requested_signal_is_active() {
    let object = event();
    object.signals().set(Signals::USER_1 | Signals::USER_5);
    let blocker = StdBlocker::default();
    let start = Instant::now();
    let result = wait_one(
        &object,
        1,
        Signals::USER_1 | Signals::USER_0,
        ZX_TIME_INFINITE,
        &blocker,
    );
    assert_eq!(result, Ok(Signals::USER_1 | Signals::USER_5));
    assert!(start.elapsed() < Duration::from_secs(1));
    assert_eq!(object.signals().observer_count(), 0);
}

#[test]
fn wait_times_out_at_the_deadline_with_the_current_state() {
    let object = event();
    object.signals().set(Signals::USER_4);
    let blocker = StdBlocker::default();
    let start = Instant::now();
    let result = wait_one(&object, 1, Signals::USER_0, ms(30), &blocker);
    assert_eq!(result, Err((Status::TIMED_OUT, Signals::USER_4)));
    assert!(start.elapsed() >= Duration::from_millis(29));
    assert_eq!(object.signals().observer_count(), 0);
}

#[test]
fn wait_with_deadline_in_the_past_polls() {
    let object = event();
    let blocker = StdBlocker::default();
    for deadline in [0, -5, clock_now(), i64::MIN] {
        assert_eq!(
            wait_one(&object, 1, Signals::USER_0, deadline, &blocker),
            Err((Status::TIMED_OUT, Signals::NONE))
        );
    }
    object.signals().set(Signals::USER_0);
    assert_eq!(
        wait_one(&object, 1, Signals::USER_0, 0, &blocker),
        Ok(Signals::USER_0)
    );
    assert_eq!(object.signals().observer_count(), 0);
}

#[test]
fn wait_for_no_signal_only_times_out() {
    let object = event();
    object.signals().set(Signals::USER_ALL);
    let blocker = StdBlocker::default();
    assert_eq!(
        wait_one(&object, 1, Signals::NONE, ms(5), &blocker),
        Err((Status::TIMED_OUT, Signals::USER_ALL))
    );
}

#[test]
fn wait_is_satisfied_by_user_signal_from_another_thread() {
    let object = event();
    let other = object.clone();
    let signaller = thread::spawn(move || {
        thread::sleep(Duration::from_millis(20));
        other.user_signal(Signals::NONE, Signals::USER_1).unwrap();
    });
    let blocker = StdBlocker::default();
    let result = wait_one(&object, 1, Signals::USER_1, ms(10_000), &blocker);
    assert_eq!(result, Ok(Signals::USER_1));
    signaller.join().unwrap();
    assert_eq!(object.signals().observer_count(), 0);
}

#[test]
fn wait_is_canceled_when_the_handle_is_closed_by_another_thread() {
    let table = Arc::new(HandleTable::new(0x77, 64));
    let object = event();
    object.signals().set(Signals::USER_7);
    let value = table
        .add(Handle::new(object.clone(), Rights::SAME_RIGHTS))
        .unwrap();
    let waiter_table = table.clone();
    let waiter = thread::spawn(move || {
        let blocker = StdBlocker::default();
        waiter_table.wait_one(value, Signals::USER_0, ZX_TIME_INFINITE, &blocker)
    });
    // Let the waiter register, then close.
    let start = Instant::now();
    while object.signals().observer_count() == 0 && start.elapsed() < Duration::from_secs(10) {
        thread::sleep(Duration::from_millis(1));
    }
    table.close(value).unwrap();
    let result = waiter.join().unwrap();
    assert_eq!(
        result,
        Err((Status::CANCELED, Signals::USER_7 | Signals::HANDLE_CLOSED))
    );
    assert_eq!(object.signals().observer_count(), 0);
}

#[test]
fn wait_one_is_canceled_when_its_handle_is_dropped() {
    let object = event();
    let handle = Handle::new(object.clone(), Rights::SAME_RIGHTS);
    let id = handle.id();
    let waiting = object.clone();
    let waiter = thread::spawn(move || {
        let blocker = StdBlocker::default();
        wait_one(&waiting, id, Signals::USER_0, ZX_TIME_INFINITE, &blocker)
    });
    let start = Instant::now();
    while object.signals().observer_count() == 0 && start.elapsed() < Duration::from_secs(10) {
        thread::sleep(Duration::from_millis(1));
    }
    drop(handle);
    assert_eq!(
        waiter.join().unwrap(),
        Err((Status::CANCELED, Signals::HANDLE_CLOSED))
    );
}

#[test]
fn closing_another_handle_does_not_cancel_the_wait() {
    let table = Arc::new(HandleTable::new(0x1f, 64));
    let object = event();
    let value = table
        .add(Handle::new(object.clone(), Rights::SAME_RIGHTS))
        .unwrap();
    let other = table
        .add(Handle::new(object.clone(), Rights::SAME_RIGHTS))
        .unwrap();
    let waiter_table = table.clone();
    let waiter = thread::spawn(move || {
        let blocker = StdBlocker::default();
        waiter_table.wait_one(value, Signals::USER_1, ms(10_000), &blocker)
    });
    let start = Instant::now();
    while object.signals().observer_count() == 0 && start.elapsed() < Duration::from_secs(10) {
        thread::sleep(Duration::from_millis(1));
    }
    table.close(other).unwrap();
    thread::sleep(Duration::from_millis(10));
    object.signals().set(Signals::USER_1);
    assert_eq!(waiter.join().unwrap(), Ok(Signals::USER_1));
}

#[test]
fn wait_on_an_unknown_value_is_bad_handle() {
    let table = HandleTable::new(0x55, 8);
    let blocker = StdBlocker::default();
    assert_eq!(
        table.wait_one(0x1233, Signals::USER_0, ms(1), &blocker),
        Err((Status::BAD_HANDLE, Signals::NONE))
    );
}

#[test]
fn table_wait_returns_at_once_and_times_out() {
    let table = HandleTable::new(0x55, 8);
    let object = event();
    let value = table
        .add(Handle::new(object.clone(), Rights::NONE))
        .unwrap();
    let blocker = StdBlocker::default();
    // No right is needed to wait.
    assert_eq!(
        table.wait_one(value, Signals::USER_0, ms(5), &blocker),
        Err((Status::TIMED_OUT, Signals::NONE))
    );
    object.signals().set(Signals::USER_0);
    assert_eq!(
        table.wait_one(value, Signals::USER_0, ms(5), &blocker),
        Ok(Signals::USER_0)
    );
    assert_eq!(object.signals().observer_count(), 0);
}

#[test]
fn waits_leave_no_observer_behind() {
    let table = Arc::new(HandleTable::new(0x3, 64));
    let object = event();
    let value = table
        .add(Handle::new(object.clone(), Rights::SAME_RIGHTS))
        .unwrap();
    let blocker = StdBlocker::default();
    for _ in 0..50 {
        // Timeouts.
        let _ = table.wait_one(value, Signals::USER_2, ms(1), &blocker);
        let _ = wait_one(&object, 1, Signals::USER_2, ms(1), &blocker);
    }
    // Satisfied from another thread, many rounds.
    for _ in 0..20 {
        object.signals().clear(Signals::USER_2);
        let signaller = {
            let object = object.clone();
            thread::spawn(move || {
                thread::sleep(Duration::from_millis(1));
                object.signals().set(Signals::USER_2);
            })
        };
        assert!(table
            .wait_one(value, Signals::USER_2, ms(10_000), &blocker)
            .is_ok());
        signaller.join().unwrap();
    }
    assert_eq!(object.signals().observer_count(), 0);
}

#[test]
fn many_waiters_are_all_woken() {
    let object = event();
    let woken = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let object = object.clone();
            let woken = woken.clone();
            thread::spawn(move || {
                let blocker = StdBlocker::default();
                let result = wait_one(&object, i, Signals::USER_3, ms(10_000), &blocker);
                assert_eq!(result, Ok(Signals::USER_3));
                woken.fetch_add(1, Ordering::SeqCst);
            })
        })
        .collect();
    let start = Instant::now();
    while object.signals().observer_count() < 8 && start.elapsed() < Duration::from_secs(10) {
        thread::sleep(Duration::from_millis(1));
    }
    object.signals().set(Signals::USER_3);
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(woken.load(Ordering::SeqCst), 8);
    assert_eq!(object.signals().observer_count(), 0);
}

#[test]
fn racing_signal_and_deadline_never_loses_or_leaks() {
    // Signals arriving right at the deadline: the result is either, the observer never stays.
    let object = event();
    for round in 0..200 {
        object.signals().clear(Signals::USER_0);
        let signaller = {
            let object = object.clone();
            thread::spawn(move || {
                if round % 2 == 0 {
                    thread::yield_now();
                }
                object.signals().set(Signals::USER_0);
            })
        };
        let blocker = StdBlocker::default();
        match wait_one(&object, 1, Signals::USER_0, ms(1), &blocker) {
            Ok(observed) => assert!(observed.contains(Signals::USER_0)),
            Err((status, _)) => assert_eq!(status, Status::TIMED_OUT),
        }
        signaller.join().unwrap();
        assert_eq!(object.signals().observer_count(), 0);
    }
}

#[test]
fn waiter_records_only_the_first_completion() {
    let parker: Arc<dyn Wake> = Arc::new(Parker::default());
    let waiter = Waiter::new(parker);
    assert!(waiter.is_pending());
    waiter.complete(Wakeup::Satisfied(Signals::USER_0));
    waiter.complete(Wakeup::Canceled(Signals::HANDLE_CLOSED));
    assert_eq!(
        waiter.state(),
        object::wait::WaitState::Satisfied(Signals::USER_0)
    );
}

/// A blocker whose thread is killed during its first sleep: the wakeup it gets is the kill's,
/// the signal never comes.
struct KilledBlocker {
    inner: StdBlocker,
    sleeps: AtomicUsize,
}

impl Blocker for KilledBlocker {
    fn now(&self) -> zx_time_t {
        clock_now()
    }

    fn wake_hook(&self) -> Arc<dyn Wake> {
        self.inner.wake_hook()
    }

    fn block_until(&self, _waiter: &Waiter, _deadline: zx_time_t) {
        // Returns at once, as a killed thread's sleep does.
        self.sleeps.fetch_add(1, Ordering::Relaxed);
    }

    fn interrupted(&self) -> bool {
        self.sleeps.load(Ordering::Relaxed) > 0
    }
}

#[test]
fn a_killed_waiter_abandons_its_wait_and_leaves_no_observer() {
    let object = event();
    let blocker = KilledBlocker {
        inner: StdBlocker::default(),
        sleeps: AtomicUsize::new(0),
    };
    let result = wait_one(&object, 1, Signals::USER_0, ZX_TIME_INFINITE, &blocker);
    assert_eq!(result, Err((Status::CANCELED, Signals::NONE)));
    // It slept once and did not go back to sleep after the kill.
    assert_eq!(blocker.sleeps.load(Ordering::Relaxed), 1);
    assert_eq!(object.signals().observer_count(), 0);
}
