//! `zx::executor`: a single-threaded async executor on one port, in the shape of
//! fuchsia-async's `LocalExecutor`.
//!
//! ```ignore
//! let mut executor = zx::executor::LocalExecutor::new()?;
//! executor.spawn(async { /* ... */ });
//! let signals = executor.block_on(async {
//!     zx::executor::Timer::after(Duration::from_millis(5)).await;
//!     OnSignals::new(&channel, Signals::CHANNEL_READABLE).await
//! })?;
//! ```
//!
//! How it works:
//! - Each executor owns one port. A future waiting for signals ([`OnSignals`]) registers
//!   `zx_object_wait_async(handle, port, key, signals, ZX_WAIT_ASYNC_ONCE)` on its first poll
//!   with a key of its own; the signal packet with that key records the observed signals and
//!   wakes its task. Dropping the future before the packet came cancels the registration
//!   (`zx_port_cancel`), which also removes a packet already queued.
//! - Sleeps ([`Timer`]) are kept ordered by deadline; one kernel timer object is armed for the
//!   earliest, and its `ZX_TIMER_SIGNALED` is watched through the same port (key
//!   [`TIMER_KEY`]). So the executor blocks in exactly one place, `zx_port_wait`.
//! - Tasks are polled on the thread that runs [`LocalExecutor::block_on`]; their futures
//!   need not be `Send`. A waker may be called from any thread: it puts the task in the
//!   ready queue and, when the executor is blocked in `zx_port_wait`, queues a user packet
//!   (key [`WAKE_KEY`]) so that the wait returns. A queue that fails for lack of kernel
//!   memory (not a full port: that already holds packets ending the wait) would lose that
//!   wake, so the waker then signals the reactor's wake event instead: a standing
//!   `zx_object_wait_async` on it, whose packet room the kernel reserved when it was armed,
//!   delivers a [`WAKE_KEY`] signal packet. Signaling allocates nothing, so that way cannot
//!   fail. The executor re-arms the watch after it fired, before it blocks again; while
//!   re-arming fails (no memory) it blocks for at most [`UNWATCHED_PARK`] at a time.
//!
//! The runtime has no thread-local storage, so the futures find the port of the executor
//! that polls them through one process-wide slot, set while `block_on` runs: one executor
//! runs at a time in a process (a second `block_on` while one runs panics).

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use alloc::sync::Arc;
use alloc::task::Wake;
use core::cell::RefCell;
use core::future::Future;
use core::pin::Pin;
use core::sync::atomic::{AtomicBool, Ordering};
use core::task::{Context, Poll, Waker};

use abi::AbiStruct;

use crate::sync::Mutex;
use crate::sys::{self, zx_handle_t, zx_port_packet_t, ZX_HANDLE_INVALID};
use crate::{ok, AsHandleRef, Duration, Handle, Result, Signals, Status, Time};

/// The key of the packets that only wake the executor (a waker called while it waits).
pub const WAKE_KEY: u64 = 0;
/// The key of the packets of the executor's kernel timer.
pub const TIMER_KEY: u64 = 1;
/// The first key of signal waits.
const FIRST_WAIT_KEY: u64 = 2;

/// The longest the executor blocks while its wake event is not watched (re-arming it
/// failed): a wake signaled meanwhile is then seen this late at worst.
const UNWATCHED_PARK: Duration = Duration::from_millis(1);

/// The task id of the future given to `block_on`.
const MAIN_TASK: u64 = 0;

/// The executor that runs `block_on` now, for the futures it polls.
static CURRENT: Mutex<Option<Arc<Reactor>>> = Mutex::new(None);

/// The part of an executor that wakers and futures reach, from any thread.
struct Reactor {
    /// The port every wait of this executor is aimed at.
    port: Handle,
    /// One timer object, armed for the earliest sleep.
    timer: Handle,
    /// The fallback wake: an event whose `USER_0` a waker sets when queueing the wake packet
    /// failed; watched through the port with key [`WAKE_KEY`] (module doc).
    wake_event: Handle,
    state: Mutex<ReactorState>,
    /// True while the executor thread is (about to be) blocked in `zx_port_wait`: a wake then
    /// queues a [`WAKE_KEY`] packet.
    parked: AtomicBool,
}

/// What the wakers, the futures and the executor loop share.
struct ReactorState {
    /// Tasks to poll, in wake order; `queued` holds the same ids, so a task is queued once.
    ready: VecDeque<u64>,
    queued: BTreeSet<u64>,
    /// Signal waits by key.
    waits: BTreeMap<u64, SignalWait>,
    next_key: u64,
    /// Sleeps by (deadline, sequence number).
    sleeps: BTreeMap<(Time, u64), Waker>,
    next_sleep: u64,
    /// The deadline the kernel timer is set for, or `Time::INFINITE`.
    armed: Time,
    /// Whether a wait_async on the timer's SIGNALED is registered (one packet each).
    timer_watched: bool,
    /// Whether a wait_async on the wake event's USER_0 is registered.
    wake_watched: bool,
}

/// One registered signal wait.
enum SignalWait {
    /// No packet yet; the waker of the task to wake.
    Pending(Waker),
    /// The packet came with these signals.
    Done(Signals),
}

impl Reactor {
    fn new() -> Result<Reactor> {
        let mut port = ZX_HANDLE_INVALID;
        // SAFETY: `port` is a valid place for the result.
        ok(unsafe { sys::zx_port_create(0, &mut port) })?;
        // SAFETY: the kernel just created the handle for this process.
        let port = unsafe { Handle::from_raw(port) };
        let mut timer = ZX_HANDLE_INVALID;
        // SAFETY: `timer` is a valid place for the result.
        ok(unsafe {
            sys::zx_timer_create(
                sys::ZX_TIMER_SLACK_LATE,
                sys::ZX_CLOCK_MONOTONIC,
                &mut timer,
            )
        })?;
        // SAFETY: the kernel just created the handle for this process.
        let timer = unsafe { Handle::from_raw(timer) };
        let mut wake_event = ZX_HANDLE_INVALID;
        // SAFETY: `wake_event` is a valid place for the result.
        ok(unsafe { sys::zx_event_create(0, &mut wake_event) })?;
        // SAFETY: the kernel just created the handle for this process.
        let wake_event = unsafe { Handle::from_raw(wake_event) };
        let reactor = Reactor {
            port,
            timer,
            wake_event,
            state: Mutex::new(ReactorState {
                ready: VecDeque::new(),
                queued: BTreeSet::new(),
                waits: BTreeMap::new(),
                next_key: FIRST_WAIT_KEY,
                sleeps: BTreeMap::new(),
                next_sleep: 0,
                armed: Time::INFINITE,
                timer_watched: false,
                wake_watched: false,
            }),
            parked: AtomicBool::new(false),
        };
        reactor.watch_wake_event()?;
        Ok(reactor)
    }

    /// Arms the watch of the wake event if it is not (a set `USER_0` fires it at once).
    fn watch_wake_event(&self) -> Result<()> {
        if self.state.lock().wake_watched {
            return Ok(());
        }
        // SAFETY: no memory is passed.
        ok(unsafe {
            sys::zx_object_wait_async(
                self.wake_event.raw_handle(),
                self.port.raw_handle(),
                WAKE_KEY,
                sys::ZX_USER_SIGNAL_0,
                sys::ZX_WAIT_ASYNC_ONCE,
            )
        })?;
        self.state.lock().wake_watched = true;
        Ok(())
    }

    /// The reactor of the executor running now.
    fn current() -> Option<Arc<Reactor>> {
        CURRENT.lock().clone()
    }

    /// Puts task `id` in the ready queue (once) and wakes the executor thread if it waits.
    fn make_ready(&self, id: u64) {
        {
            let mut state = self.state.lock();
            if state.queued.insert(id) {
                state.ready.push_back(id);
            }
        }
        if self.parked.swap(false, Ordering::AcqRel) {
            let packet = zx_port_packet_t {
                key: WAKE_KEY,
                ..Default::default()
            };
            // SAFETY: `packet` is a readable packet.
            let status = unsafe { sys::zx_port_queue(self.port.raw_handle(), &packet) };
            // A full port (SHOULD_WAIT) already holds packets that end the wait. Any other
            // failure (NO_MEMORY; BAD_HANDLE cannot happen while the reactor lives) would
            // lose the wake: the event's watch cannot (module doc).
            if status != sys::ZX_OK && status != Status::SHOULD_WAIT.into_raw() {
                // SAFETY: no memory is passed. Setting a signal allocates nothing.
                unsafe {
                    sys::zx_object_signal(self.wake_event.raw_handle(), 0, sys::ZX_USER_SIGNAL_0)
                };
            }
        }
    }

    fn pop_ready(&self) -> Option<u64> {
        let mut state = self.state.lock();
        let id = state.ready.pop_front()?;
        state.queued.remove(&id);
        Some(id)
    }

    fn has_ready(&self) -> bool {
        !self.state.lock().ready.is_empty()
    }

    fn ready_len(&self) -> usize {
        self.state.lock().ready.len()
    }

    /// Registers a wait for `signals` on `handle`; its key.
    fn register_wait(&self, handle: zx_handle_t, signals: Signals, waker: &Waker) -> Result<u64> {
        let key = {
            let mut state = self.state.lock();
            let key = state.next_key;
            state.next_key += 1;
            state.waits.insert(key, SignalWait::Pending(waker.clone()));
            key
        };
        // SAFETY: no memory is passed.
        let status = unsafe {
            sys::zx_object_wait_async(
                handle,
                self.port.raw_handle(),
                key,
                signals.bits(),
                sys::ZX_WAIT_ASYNC_ONCE,
            )
        };
        if let Err(status) = ok(status) {
            self.state.lock().waits.remove(&key);
            return Err(status);
        }
        Ok(key)
    }

    /// The signals of wait `key` if its packet came (the wait is then forgotten); else keeps
    /// `waker` for it.
    fn poll_wait(&self, key: u64, waker: &Waker) -> Option<Signals> {
        let mut state = self.state.lock();
        match state.waits.get_mut(&key) {
            Some(SignalWait::Done(signals)) => {
                let signals = *signals;
                state.waits.remove(&key);
                Some(signals)
            }
            Some(SignalWait::Pending(old)) => {
                if !old.will_wake(waker) {
                    *old = waker.clone();
                }
                None
            }
            // Not registered (cannot happen for a live future): report nothing.
            None => Some(Signals::NONE),
        }
    }

    /// A wait's future is dropped: cancels the registration unless its packet came.
    fn cancel_wait(&self, key: u64, handle: zx_handle_t) {
        let pending = matches!(
            self.state.lock().waits.remove(&key),
            Some(SignalWait::Pending(_))
        );
        if pending {
            // SAFETY: no memory is passed. NOT_FOUND (the packet is on its way and will be
            // ignored) and BAD_HANDLE (the handle is already closed, which ended the
            // registration) need nothing more.
            unsafe { sys::zx_port_cancel(self.port.raw_handle(), handle, key) };
        }
    }

    fn add_sleep(&self, deadline: Time, waker: &Waker) -> u64 {
        let mut state = self.state.lock();
        let sequence = state.next_sleep;
        state.next_sleep += 1;
        state.sleeps.insert((deadline, sequence), waker.clone());
        sequence
    }

    fn update_sleep(&self, deadline: Time, sequence: u64, waker: &Waker) {
        if let Some(old) = self.state.lock().sleeps.get_mut(&(deadline, sequence)) {
            if !old.will_wake(waker) {
                *old = waker.clone();
            }
        }
    }

    fn remove_sleep(&self, deadline: Time, sequence: u64) {
        self.state.lock().sleeps.remove(&(deadline, sequence));
    }

    /// Wakes the sleeps whose deadline passed, then sets the kernel timer for the earliest
    /// one left and makes sure its SIGNALED is watched.
    fn service_timers(&self) -> Result<()> {
        let now = Time::get_monotonic();
        let mut due = alloc::vec::Vec::new();
        let (earliest, armed, watched) = {
            let mut state = self.state.lock();
            while let Some(entry) = state.sleeps.first_entry() {
                if entry.key().0 > now {
                    break;
                }
                due.push(entry.remove());
            }
            let earliest = state
                .sleeps
                .first_key_value()
                .map_or(Time::INFINITE, |(key, _)| key.0);
            (earliest, state.armed, state.timer_watched)
        };
        for waker in due {
            waker.wake();
        }
        if earliest != armed {
            let status = if earliest == Time::INFINITE {
                // SAFETY: no memory is passed.
                unsafe { sys::zx_timer_cancel(self.timer.raw_handle()) }
            } else {
                // SAFETY: no memory is passed.
                unsafe { sys::zx_timer_set(self.timer.raw_handle(), earliest.into_nanos(), 0) }
            };
            ok(status)?;
            self.state.lock().armed = earliest;
        }
        if earliest != Time::INFINITE && !watched {
            // SAFETY: no memory is passed.
            ok(unsafe {
                sys::zx_object_wait_async(
                    self.timer.raw_handle(),
                    self.port.raw_handle(),
                    TIMER_KEY,
                    sys::ZX_TIMER_SIGNALED,
                    sys::ZX_WAIT_ASYNC_ONCE,
                )
            })?;
            self.state.lock().timer_watched = true;
        }
        Ok(())
    }

    /// Handles one packet of the port.
    fn dispatch(&self, packet: &zx_port_packet_t) {
        match packet.key {
            // The wake event's watch fired: it is re-armed before the executor blocks again.
            // Cleared first, so a later fallback wake sets it anew (and a wake cleared here
            // put its task in the ready queue first, which the executor checks before it
            // blocks).
            WAKE_KEY if packet.type_ == sys::ZX_PKT_TYPE_SIGNAL_ONE => {
                // SAFETY: no memory is passed.
                unsafe {
                    sys::zx_object_signal(self.wake_event.raw_handle(), sys::ZX_USER_SIGNAL_0, 0)
                };
                self.state.lock().wake_watched = false;
            }
            WAKE_KEY => {}
            TIMER_KEY => {
                let mut state = self.state.lock();
                state.timer_watched = false;
                // The timer fired for `armed`: it stays SIGNALED until set again.
                state.armed = Time::INFINITE;
            }
            key => {
                if packet.type_ != sys::ZX_PKT_TYPE_SIGNAL_ONE {
                    return;
                }
                let observed = sys::zx_packet_signal_t::from_bytes(&packet.payload)
                    .map_or(Signals::NONE, |signal| Signals::from_bits(signal.observed));
                let waker = {
                    let mut state = self.state.lock();
                    match state.waits.get_mut(&key) {
                        Some(wait @ SignalWait::Pending(_)) => {
                            match core::mem::replace(wait, SignalWait::Done(observed)) {
                                SignalWait::Pending(waker) => Some(waker),
                                SignalWait::Done(_) => None,
                            }
                        }
                        _ => None,
                    }
                };
                if let Some(waker) = waker {
                    waker.wake();
                }
            }
        }
    }

    /// Waits for a packet until `deadline` (`INFINITE_PAST`: only looks), then handles it and
    /// every other packet already queued.
    fn wait_for_packets(&self, mut deadline: Time) -> Result<()> {
        loop {
            let mut packet = zx_port_packet_t::default();
            // SAFETY: `packet` is a writable packet.
            let status = unsafe {
                sys::zx_port_wait(self.port.raw_handle(), deadline.into_nanos(), &mut packet)
            };
            match ok(status) {
                Ok(()) => self.dispatch(&packet),
                Err(Status::TIMED_OUT) => return Ok(()),
                Err(status) => return Err(status),
            }
            // Drain what else is there without blocking.
            deadline = Time::INFINITE_PAST;
        }
    }
}

/// The waker of one task.
struct TaskWaker {
    id: u64,
    reactor: Arc<Reactor>,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.reactor.make_ready(self.id);
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.reactor.make_ready(self.id);
    }
}

type LocalTask = Pin<Box<dyn Future<Output = ()>>>;

/// A single-threaded executor: runs one future to completion with [`block_on`], and the
/// tasks [`spawn`]ed on it meanwhile.
///
/// [`block_on`]: LocalExecutor::block_on
/// [`spawn`]: LocalExecutor::spawn
pub struct LocalExecutor {
    reactor: Arc<Reactor>,
    /// Spawned tasks that are not being polled, by id.
    tasks: BTreeMap<u64, LocalTask>,
    /// Tasks spawned (through a [`LocalSpawner`]) since the loop last looked.
    spawned: alloc::rc::Rc<RefCell<VecDeque<LocalTask>>>,
    next_task: u64,
}

/// Spawns tasks on a [`LocalExecutor`] from inside its futures. Not `Send`: the tasks run on
/// the executor's thread.
#[derive(Clone)]
pub struct LocalSpawner {
    spawned: alloc::rc::Rc<RefCell<VecDeque<LocalTask>>>,
}

impl LocalSpawner {
    /// Runs `future` as a task of the executor, to completion or until the executor ends.
    pub fn spawn(&self, future: impl Future<Output = ()> + 'static) {
        self.spawned.borrow_mut().push_back(Box::pin(future));
    }
}

impl LocalExecutor {
    /// An executor with its own port and timer.
    pub fn new() -> Result<LocalExecutor> {
        Ok(LocalExecutor {
            reactor: Arc::new(Reactor::new()?),
            tasks: BTreeMap::new(),
            spawned: alloc::rc::Rc::new(RefCell::new(VecDeque::new())),
            next_task: MAIN_TASK + 1,
        })
    }

    /// Runs `future` as a task of this executor (polled once `block_on` runs).
    pub fn spawn(&mut self, future: impl Future<Output = ()> + 'static) {
        self.spawned.borrow_mut().push_back(Box::pin(future));
    }

    /// A handle that spawns tasks on this executor from inside its futures.
    pub fn spawner(&self) -> LocalSpawner {
        LocalSpawner {
            spawned: self.spawned.clone(),
        }
    }

    /// Tasks spawned and not finished.
    pub fn task_count(&self) -> usize {
        self.tasks.len() + self.spawned.borrow().len()
    }

    /// Runs `future` to completion, and the spawned tasks while it runs; returns its output.
    /// Tasks still pending when it completes stay with the executor for the next `block_on`.
    ///
    /// # Panics
    /// If another executor's `block_on` is running in this process, or the executor's port
    /// or timer fails (a kernel out of memory).
    pub fn block_on<F: Future>(&mut self, future: F) -> F::Output {
        {
            let mut current = CURRENT.lock();
            assert!(current.is_none(), "zx::executor: one block_on at a time");
            *current = Some(self.reactor.clone());
        }
        let output = self.run(future);
        *CURRENT.lock() = None;
        output
    }

    fn run<F: Future>(&mut self, future: F) -> F::Output {
        let mut main = core::pin::pin!(future);
        let main_waker = self.waker(MAIN_TASK);
        self.reactor.make_ready(MAIN_TASK);
        loop {
            self.take_spawned();
            // One round polls the tasks ready when it starts: a task that keeps waking itself
            // cannot keep the port (and so every other task) waiting.
            for _ in 0..self.reactor.ready_len() {
                let Some(id) = self.reactor.pop_ready() else {
                    break;
                };
                if id == MAIN_TASK {
                    let mut context = Context::from_waker(&main_waker);
                    if let Poll::Ready(output) = main.as_mut().poll(&mut context) {
                        return output;
                    }
                } else if let Some(mut task) = self.tasks.remove(&id) {
                    let waker = self.waker(id);
                    let mut context = Context::from_waker(&waker);
                    if task.as_mut().poll(&mut context).is_pending() {
                        self.tasks.insert(id, task);
                    }
                }
                self.take_spawned();
            }
            if let Err(status) = self.reactor.service_timers() {
                panic!("zx::executor: the timer failed: {status}");
            }
            // Still work to do: only take the packets already there. Else block until one
            // comes; `parked` tells a waker on another thread to send one.
            // Unwatched wake event (no memory to re-arm it): block only briefly.
            let watched = self.reactor.watch_wake_event().is_ok();
            let deadline = if self.reactor.has_ready() {
                Time::INFINITE_PAST
            } else {
                self.reactor.parked.store(true, Ordering::Release);
                // A wake between the check above and `parked` queued no packet: look again.
                if self.reactor.has_ready() {
                    Time::INFINITE_PAST
                } else if watched {
                    Time::INFINITE
                } else {
                    Time::after(UNWATCHED_PARK)
                }
            };
            let waited = self.reactor.wait_for_packets(deadline);
            self.reactor.parked.store(false, Ordering::Release);
            if let Err(status) = waited {
                panic!("zx::executor: zx_port_wait failed: {status}");
            }
        }
    }

    /// Moves newly spawned tasks to the task map and queues them.
    fn take_spawned(&mut self) {
        loop {
            let Some(task) = self.spawned.borrow_mut().pop_front() else {
                return;
            };
            let id = self.next_task;
            self.next_task += 1;
            self.tasks.insert(id, task);
            self.reactor.make_ready(id);
        }
    }

    fn waker(&self, id: u64) -> Waker {
        Waker::from(Arc::new(TaskWaker {
            id,
            reactor: self.reactor.clone(),
        }))
    }
}

/// A future that completes when one of `signals` is active on a handle, with the signals
/// observed then (`zx_object_wait_async` on the executor's port).
pub struct OnSignals<'a> {
    handle: zx_handle_t,
    signals: Signals,
    /// The registration once made, with the reactor it was made on.
    registered: Option<(Arc<Reactor>, u64)>,
    _handle: core::marker::PhantomData<&'a Handle>,
}

impl<'a> OnSignals<'a> {
    /// Waits on `handle` (borrowed for as long as the future lives).
    pub fn new(handle: &'a impl AsHandleRef, signals: Signals) -> OnSignals<'a> {
        OnSignals {
            handle: handle.raw_handle(),
            signals,
            registered: None,
            _handle: core::marker::PhantomData,
        }
    }
}

impl Future for OnSignals<'_> {
    /// The signals observed, or the status of a failed registration (`BAD_STATE` when polled
    /// outside `block_on`).
    type Output = Result<Signals>;

    fn poll(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Self::Output> {
        if let Some((reactor, key)) = &self.registered {
            return match reactor.poll_wait(*key, context.waker()) {
                Some(signals) => {
                    self.registered = None;
                    Poll::Ready(Ok(signals))
                }
                None => Poll::Pending,
            };
        }
        let Some(reactor) = Reactor::current() else {
            return Poll::Ready(Err(Status::BAD_STATE));
        };
        match reactor.register_wait(self.handle, self.signals, context.waker()) {
            Ok(key) => {
                self.registered = Some((reactor, key));
                Poll::Pending
            }
            Err(status) => Poll::Ready(Err(status)),
        }
    }
}

impl Drop for OnSignals<'_> {
    fn drop(&mut self) {
        if let Some((reactor, key)) = self.registered.take() {
            reactor.cancel_wait(key, self.handle);
        }
    }
}

/// A future that completes at a deadline.
pub struct Timer {
    deadline: Time,
    /// The sleep once registered: its reactor and sequence number.
    registered: Option<(Arc<Reactor>, u64)>,
}

impl Timer {
    /// Completes at `deadline`.
    pub fn new(deadline: Time) -> Timer {
        Timer {
            deadline,
            registered: None,
        }
    }

    /// Completes `duration` from now.
    pub fn after(duration: Duration) -> Timer {
        Timer::new(Time::after(duration))
    }
}

impl Future for Timer {
    type Output = ();

    /// # Panics
    /// When polled outside `block_on` with a deadline still to come.
    fn poll(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<()> {
        let deadline = self.deadline;
        if Time::get_monotonic() >= deadline {
            if let Some((reactor, sequence)) = self.registered.take() {
                reactor.remove_sleep(deadline, sequence);
            }
            return Poll::Ready(());
        }
        match &self.registered {
            Some((reactor, sequence)) => reactor.update_sleep(deadline, *sequence, context.waker()),
            None => {
                let reactor =
                    Reactor::current().expect("zx::executor::Timer polled outside block_on");
                let sequence = reactor.add_sleep(deadline, context.waker());
                self.registered = Some((reactor, sequence));
            }
        }
        Poll::Pending
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        if let Some((reactor, sequence)) = self.registered.take() {
            reactor.remove_sleep(self.deadline, sequence);
        }
    }
}
