//! Events, event pairs, ports with asynchronous waits, and `wait_many`, with real threads
//! on the host; the port's queue against a simple model (proptest).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use abi::{
    zx_handle_t, zx_packet_signal_t, zx_time_t, AbiStruct, Rights, Signals, Status,
    ZX_PKT_TYPE_SIGNAL_ONE, ZX_PKT_TYPE_USER, ZX_TIME_INFINITE,
};
use object::event::{Event, EventPair};
use object::handle::{Handle, HandleTable};
use object::object::KernelObject;
use object::port::{packet_of, PacketBytes, Port, MAX_SIGNAL_PACKETS, MAX_USER_PACKETS};
use object::wait::{Blocker, Waiter, Wake};
use object::wait_many::{wait_many, WaitItem};
use proptest::prelude::*;

mod common;
use common::*;

fn user(key: u64, fill: u8) -> PacketBytes {
    let mut p = [fill; 48];
    p[..8].copy_from_slice(&key.to_ne_bytes());
    p
}

fn key_of(p: &PacketBytes) -> u64 {
    packet_of(p).key
}

fn new_port() -> Arc<Port> {
    Port::new(0, clock_now).unwrap()
}

/// Adds `object` to `table` and returns its value and handle id.
fn install(table: &HandleTable, object: Arc<dyn KernelObject>) -> (zx_handle_t, u64) {
    let value = table
        .add(Handle::new(object, Rights::from_bits(0x7FFF_FFFF)))
        .unwrap();
    let (_, _, id) = table.get(value).unwrap();
    (value, id)
}

fn wait_async(
    table: &HandleTable,
    port: &Port,
    value: zx_handle_t,
    key: u64,
    signals: Signals,
    options: u32,
) -> Result<(), Status> {
    let (object, _, id) = table.get(value)?;
    port.wait_async(&object, id, key, signals, options, |waker| {
        table.observe(value, id, signals, waker)
    })
}

fn port_wait(
    table: &HandleTable,
    value: zx_handle_t,
    deadline: zx_time_t,
) -> Result<PacketBytes, Status> {
    let (object, _, id) = table.get(value)?;
    let port = object::object::downcast::<Port>(&object).ok_or(Status::WRONG_TYPE)?;
    port.wait(deadline, &StdBlocker::default(), |waker| {
        table.observe(value, id, Signals::NONE, waker)
    })
}

// ---- events and event pairs --------------------------------------------------------------

#[test]
fn event_allows_user_and_signaled_only() {
    let event: Arc<dyn KernelObject> = Event::new();
    assert_eq!(event.signals().get(), Signals::NONE);
    event
        .user_signal(Signals::NONE, Signals::USER_ALL | Signals::EVENT_SIGNALED)
        .unwrap();
    assert_eq!(
        event.user_signal(Signals::NONE, Signals::EVENTPAIR_PEER_CLOSED),
        Err(Status::INVALID_ARGS)
    );
    assert_eq!(
        event.signal_peer(Signals::NONE, Signals::USER_0),
        Err(Status::NOT_SUPPORTED)
    );
}

#[test]
fn eventpair_peer_closed_and_signal_peer() {
    let table = HandleTable::new(0x1234, 64);
    let (a, b) = EventPair::create();
    assert_eq!(a.related_koid(), b.base().koid());
    let (va, _) = install(&table, a.clone());
    let va2 = table.duplicate(va, Rights::SAME_RIGHTS).unwrap();
    a.signal_peer(Signals::NONE, Signals::USER_0 | Signals::EVENTPAIR_SIGNALED)
        .unwrap();
    assert_eq!(
        b.base().signals().get(),
        Signals::USER_0 | Signals::EVENTPAIR_SIGNALED
    );
    assert_eq!(
        a.signal_peer(Signals::NONE, Signals::EVENTPAIR_PEER_CLOSED),
        Err(Status::INVALID_ARGS)
    );
    table.close(va).unwrap();
    assert!(!b
        .base()
        .signals()
        .get()
        .contains(Signals::EVENTPAIR_PEER_CLOSED));
    table.close(va2).unwrap();
    assert!(b
        .base()
        .signals()
        .get()
        .contains(Signals::EVENTPAIR_PEER_CLOSED));
    assert_eq!(
        b.signal_peer(Signals::NONE, Signals::USER_1),
        Err(Status::PEER_CLOSED)
    );
    let b: Arc<dyn KernelObject> = b;
    b.user_signal(Signals::NONE, Signals::USER_1).unwrap();
}

// ---- ports -------------------------------------------------------------------------------

#[test]
fn port_fifo_and_capacity() {
    let port = new_port();
    for i in 0..MAX_USER_PACKETS as u64 {
        port.queue_user(&user(i, 1)).unwrap();
    }
    assert_eq!(port.queue_user(&user(0, 0)), Err(Status::SHOULD_WAIT));
    let mut out = [0u8; 48];
    for i in 0..MAX_USER_PACKETS as u64 {
        assert!(port.try_pop(&mut out));
        let p = packet_of(&out);
        assert_eq!(p.key, i);
        assert_eq!(p.type_, ZX_PKT_TYPE_USER);
        assert_eq!(p.payload, [1; 32]);
    }
    assert!(!port.try_pop(&mut out));
}

#[test]
fn wait_async_fires_once_with_contents() {
    let table = HandleTable::new(7, 64);
    let port = new_port();
    let event = Event::new();
    let (ve, _) = install(&table, event.clone());
    wait_async(&table, &port, ve, 9, Signals::USER_1, 0).unwrap();
    assert_eq!(event.base().signals().observer_count(), 1);
    assert_eq!(port.armed(), 1);
    event.base().signals().set(Signals::USER_0);
    assert_eq!(port.queued(), 0);
    event.base().signals().set(Signals::USER_1);
    event.base().signals().clear(Signals::USER_1);
    event.base().signals().set(Signals::USER_1);
    assert_eq!(port.queued(), 1);
    assert_eq!(port.armed(), 0);
    assert_eq!(event.base().signals().observer_count(), 0);
    let mut out = [0u8; 48];
    assert!(port.try_pop(&mut out));
    let p = packet_of(&out);
    assert_eq!((p.key, p.type_, p.status), (9, ZX_PKT_TYPE_SIGNAL_ONE, 0));
    let s = zx_packet_signal_t::from_bytes(&p.payload).unwrap();
    assert_eq!(s.trigger, Signals::USER_1.bits());
    assert_eq!(s.observed, (Signals::USER_0 | Signals::USER_1).bits());
    assert_eq!((s.count, s.timestamp), (1, 0));
    // Already active: queued at once, nothing registered.
    wait_async(&table, &port, ve, 10, Signals::USER_0, 1).unwrap();
    assert_eq!(port.queued(), 1);
    assert_eq!(event.base().signals().observer_count(), 0);
    assert!(port.try_pop(&mut out));
    let s = zx_packet_signal_t::from_bytes(&packet_of(&out).payload).unwrap();
    assert!(s.timestamp > 0);
    assert_eq!(
        wait_async(&table, &port, ve, 1, Signals::USER_0, 2),
        Err(Status::INVALID_ARGS)
    );
    assert_eq!(port.armed(), 0);
}

#[test]
fn closing_the_watched_handle_ends_the_wait_without_a_packet() {
    let table = HandleTable::new(7, 64);
    let port = new_port();
    let event = Event::new();
    let (ve, _) = install(&table, event.clone());
    let ve2 = table.duplicate(ve, Rights::SAME_RIGHTS).unwrap();
    wait_async(&table, &port, ve2, 1, Signals::USER_0, 0).unwrap();
    table.close(ve2).unwrap();
    assert_eq!(port.armed(), 0);
    assert_eq!(event.base().signals().observer_count(), 0);
    event.base().signals().set(Signals::USER_0);
    assert_eq!(port.queued(), 0);
}

#[test]
fn cancel_removes_registrations_and_queued_packets() {
    let table = HandleTable::new(7, 64);
    let port = new_port();
    let event = Event::new();
    let (ve, id) = install(&table, event.clone());
    wait_async(&table, &port, ve, 1, Signals::USER_0, 0).unwrap();
    wait_async(&table, &port, ve, 1, Signals::USER_2, 0).unwrap();
    wait_async(&table, &port, ve, 2, Signals::USER_0, 0).unwrap();
    event.base().signals().set(Signals::USER_2);
    assert_eq!(port.queued(), 1);
    port.queue_user(&user(1, 0)).unwrap();
    assert_eq!(port.cancel(id, 3), Err(Status::NOT_FOUND));
    port.cancel(id, 1).unwrap();
    assert_eq!(port.cancel(id, 1), Err(Status::NOT_FOUND));
    assert_eq!(port.armed(), 1);
    assert_eq!(port.queued(), 1); // the user packet stays
    assert_eq!(event.base().signals().observer_count(), 1);
}

#[test]
fn closing_the_port_drops_queue_and_every_registration() {
    let table = HandleTable::new(7, 64);
    let port = new_port();
    let (vp, _) = install(&table, port.clone());
    let events: Vec<_> = (0..4).map(|_| Event::new()).collect();
    let values: Vec<_> = events
        .iter()
        .map(|e| install(&table, e.clone()).0)
        .collect();
    for i in 0..200u64 {
        let v = values[(i % 4) as usize];
        wait_async(&table, &port, v, i, Signals::USER_0, 0).unwrap();
    }
    events[0].base().signals().set(Signals::USER_0);
    assert_eq!(port.queued(), 50);
    table.close(vp).unwrap();
    assert_eq!(port.queued(), 0);
    assert_eq!(port.armed(), 0);
    for e in &events {
        assert_eq!(e.base().signals().observer_count(), 0);
    }
    // Only the test's own reference is left: nothing points at the port any more.
    assert_eq!(Arc::strong_count(&port), 1);
}

#[test]
fn signal_packets_are_bounded() {
    let table = HandleTable::new(7, 64);
    let port = new_port();
    let event = Event::new();
    let (ve, _) = install(&table, event.clone());
    for i in 0..MAX_SIGNAL_PACKETS as u64 {
        wait_async(&table, &port, ve, i, Signals::USER_0, 0).unwrap();
    }
    assert_eq!(
        wait_async(&table, &port, ve, 0, Signals::USER_0, 0),
        Err(Status::NO_MEMORY)
    );
    // Firing them all never fails: the room was reserved.
    event.base().signals().set(Signals::USER_0);
    assert_eq!(port.queued(), MAX_SIGNAL_PACKETS);
    assert_eq!(
        wait_async(&table, &port, ve, 0, Signals::USER_1, 0),
        Err(Status::NO_MEMORY)
    );
    // User packets have their own bound.
    port.queue_user(&user(1, 1)).unwrap();
}

#[test]
fn port_wait_times_out_and_is_canceled_by_close() {
    let table = Arc::new(HandleTable::new(7, 64));
    let port = new_port();
    let (vp, _) = install(&table, port.clone());
    assert_eq!(port_wait(&table, vp, 0), Err(Status::TIMED_OUT));
    let start = clock_now();
    assert_eq!(port_wait(&table, vp, ms(20)), Err(Status::TIMED_OUT));
    assert!(clock_now() - start >= 20_000_000);
    let vp2 = table.duplicate(vp, Rights::SAME_RIGHTS).unwrap();
    let closer = {
        let table = table.clone();
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(20));
            table.close(vp2).unwrap();
        })
    };
    assert_eq!(
        port_wait(&table, vp2, ZX_TIME_INFINITE),
        Err(Status::CANCELED)
    );
    closer.join().unwrap();
    assert_eq!(port.base().signals().observer_count(), 0);
}

#[test]
fn n_waiters_n_packets_each_exactly_once() {
    for _ in 0..20 {
        let table = Arc::new(HandleTable::new(7, 64));
        let port = new_port();
        let (vp, _) = install(&table, port.clone());
        let got = Arc::new(Mutex::new(Vec::new()));
        let done = Arc::new(AtomicUsize::new(0));
        let waiters: Vec<_> = (0..6)
            .map(|_| {
                let (table, got, done) = (table.clone(), got.clone(), done.clone());
                thread::spawn(move || {
                    let p = port_wait(&table, vp, ms(5000)).unwrap();
                    got.lock().unwrap().push(key_of(&p));
                    done.fetch_add(1, Ordering::SeqCst);
                })
            })
            .collect();
        for k in 0..6 {
            port.queue_user(&user(k, 0)).unwrap();
        }
        for w in waiters {
            w.join().unwrap();
        }
        let mut got = got.lock().unwrap().clone();
        got.sort_unstable();
        assert_eq!(got, vec![0, 1, 2, 3, 4, 5]);
        assert_eq!(port.queued(), 0);
        assert_eq!(port.base().signals().observer_count(), 0);
    }
}

// ---- wait_many ---------------------------------------------------------------------------

#[test]
fn wait_many_ok_timeout_cancel() {
    let table = Arc::new(HandleTable::new(7, 128));
    let e1 = Event::new();
    let e2 = Event::new();
    let (v1, _) = install(&table, e1.clone());
    let (v2, _) = install(&table, e2.clone());
    let item = |h, w| WaitItem {
        handle: h,
        waitfor: w,
        pending: Signals::NONE,
    };
    let mut items = [item(v1, Signals::USER_0), item(v2, Signals::USER_1)];
    assert_eq!(
        wait_many(&table, &mut items, 0, &StdBlocker::default()),
        Err(Status::TIMED_OUT)
    );
    e2.base().signals().set(Signals::USER_1 | Signals::USER_3);
    wait_many(&table, &mut items, 0, &StdBlocker::default()).unwrap();
    assert_eq!(items[1].pending, Signals::USER_1 | Signals::USER_3);
    e2.base().signals().clear(Signals::USER_1);
    // Woken by another thread.
    let setter = {
        let e1 = e1.clone();
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(10));
            e1.base().signals().set(Signals::USER_0);
        })
    };
    wait_many(&table, &mut items, ms(5000), &StdBlocker::default()).unwrap();
    setter.join().unwrap();
    assert_eq!(items[0].pending, Signals::USER_0);
    assert_eq!(e1.base().signals().observer_count(), 0);
    assert_eq!(e2.base().signals().observer_count(), 0);
    // Canceled by a close.
    e1.base().signals().clear(Signals::USER_0);
    let closer = {
        let table = table.clone();
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(10));
            table.close(v2).unwrap();
        })
    };
    let r = wait_many(&table, &mut items, ms(5000), &StdBlocker::default());
    closer.join().unwrap();
    assert_eq!(r, Err(Status::CANCELED));
    assert!(items[1].pending.contains(Signals::HANDLE_CLOSED));
    assert_eq!(e1.base().signals().observer_count(), 0);
    // Bounds and lookup order.
    let mut many = vec![item(v1, Signals::USER_0); 65];
    assert_eq!(
        wait_many(&table, &mut many, 0, &StdBlocker::default()),
        Err(Status::OUT_OF_RANGE)
    );
    let port = new_port();
    let (vp, _) = install(&table, port);
    let mut items = [
        item(v1, Signals::USER_0),
        item(vp, Signals::USER_0),
        item(v2, Signals::USER_0),
    ];
    assert_eq!(
        wait_many(&table, &mut items, 0, &StdBlocker::default()),
        Err(Status::NOT_SUPPORTED)
    );
    let mut items = [
        item(v1, Signals::USER_0),
        item(v2, Signals::USER_0),
        item(vp, Signals::USER_0),
    ];
    assert_eq!(
        wait_many(&table, &mut items, 0, &StdBlocker::default()),
        Err(Status::BAD_HANDLE)
    );
}

/// Satisfies the wait through item 0, then closes item 1's handle while the observers are
/// still registered: the wait returns OK, and no item says HANDLE_CLOSED.
struct SatisfyThenClose {
    inner: StdBlocker,
    table: Arc<HandleTable>,
    event: Arc<Event>,
    close: zx_handle_t,
}

impl Blocker for SatisfyThenClose {
    fn now(&self) -> zx_time_t {
        self.inner.now()
    }
    fn wake_hook(&self) -> Arc<dyn Wake> {
        self.inner.wake_hook()
    }
    fn block_until(&self, waiter: &Waiter, deadline: zx_time_t) {
        if waiter.is_pending() {
            self.event.base().signals().set(Signals::USER_0);
            let _ = self.table.close(self.close);
        }
        self.inner.block_until(waiter, deadline);
    }
}

#[test]
fn wait_many_ok_never_reports_handle_closed() {
    let table = Arc::new(HandleTable::new(7, 128));
    let e1 = Event::new();
    let e2 = Event::new();
    let (v1, _) = install(&table, e1.clone());
    let (v2, _) = install(&table, e2.clone());
    let mut items = [
        WaitItem {
            handle: v1,
            waitfor: Signals::USER_0,
            pending: Signals::NONE,
        },
        WaitItem {
            handle: v2,
            waitfor: Signals::USER_1,
            pending: Signals::NONE,
        },
    ];
    let blocker = SatisfyThenClose {
        inner: StdBlocker::default(),
        table: table.clone(),
        event: e1.clone(),
        close: v2,
    };
    assert_eq!(wait_many(&table, &mut items, ms(5000), &blocker), Ok(()));
    assert_eq!(items[0].pending, Signals::USER_0);
    assert!(!items[1].pending.contains(Signals::HANDLE_CLOSED));
    assert_eq!(e1.base().signals().observer_count(), 0);
}

// ---- the queue against a model -------------------------------------------------------------

#[derive(Clone, Debug)]
enum Op {
    Queue(u64),
    Pop,
    Arm(u8, u8),
    Fire(u8, u8),
    Cancel(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => any::<u64>().prop_map(Op::Queue),
        3 => Just(Op::Pop),
        2 => (0u8..3, 0u8..4).prop_map(|(e, k)| Op::Arm(e, k)),
        2 => (0u8..3, 0u8..2).prop_map(|(e, b)| Op::Fire(e, b)),
        1 => (0u8..4).prop_map(Op::Cancel),
    ]
}

proptest! {
    /// FIFO across user and signal packets; a wait fires once; cancel drops what matches.
    #[test]
    fn port_matches_model(ops in proptest::collection::vec(op(), 1..120)) {
        let table = HandleTable::new(9, 64);
        let port = new_port();
        let events: Vec<_> = (0..3).map(|_| Event::new()).collect();
        let handles: Vec<_> = events.iter().map(|e| install(&table, e.clone())).collect();
        // Model: the queue of keys (user keys tagged), the armed waits (event, key, bit).
        let mut queue: VecDeque<(bool, u64, u8)> = VecDeque::new();
        let mut armed: Vec<(u8, u64, u8)> = Vec::new();
        for op in ops {
            match op {
                Op::Queue(key) => {
                    port.queue_user(&user(key, 0)).unwrap();
                    queue.push_back((true, key, 0));
                }
                Op::Pop => {
                    let mut out = [0u8; 48];
                    let got = port.try_pop(&mut out);
                    let want = queue.pop_front();
                    prop_assert_eq!(got, want.is_some());
                    if let Some((is_user, key, _)) = want {
                        let p = packet_of(&out);
                        prop_assert_eq!(p.key, key);
                        prop_assert_eq!(p.type_ == ZX_PKT_TYPE_USER, is_user);
                    }
                }
                Op::Arm(e, k) => {
                    // Bit 0 or 1 of the user signals, by key parity; events start clear
                    // and are cleared again after each fire, so nothing fires at once.
                    let bit = k % 2;
                    let signal = Signals::from_bits(Signals::USER_0.bits() << bit);
                    wait_async(&table, &port, handles[e as usize].0, u64::from(k), signal, 0).unwrap();
                    armed.push((e, u64::from(k), bit));
                }
                Op::Fire(e, bit) => {
                    let signal = Signals::from_bits(Signals::USER_0.bits() << bit);
                    events[e as usize].base().signals().set(signal);
                    events[e as usize].base().signals().clear(signal);
                    let mut kept = Vec::new();
                    for (ae, key, abit) in armed.drain(..) {
                        if ae == e && abit == bit {
                            queue.push_back((false, key, e));
                        } else {
                            kept.push((ae, key, abit));
                        }
                    }
                    armed = kept;
                }
                Op::Cancel(k) => {
                    let (_, id) = handles[0];
                    let key = u64::from(k);
                    let before = armed.len() + queue.len();
                    armed.retain(|&(e, ak, _)| !(e == 0 && ak == key));
                    queue.retain(|&(is_user, qk, e)| is_user || !(e == 0 && qk == key));
                    let removed = before != armed.len() + queue.len();
                    let r = port.cancel(id, key);
                    prop_assert_eq!(r.is_ok(), removed);
                }
            }
            prop_assert_eq!(port.armed(), armed.len());
            prop_assert_eq!(port.queued(), queue.len());
        }
    }
}

/// A blocker whose thread is killed once `killed` is set.
struct KilledBlocker {
    inner: StdBlocker,
    killed: Arc<std::sync::atomic::AtomicBool>,
}

impl Blocker for KilledBlocker {
    fn now(&self) -> zx_time_t {
        self.inner.now()
    }
    fn wake_hook(&self) -> Arc<dyn Wake> {
        self.inner.wake_hook()
    }
    fn block_until(&self, waiter: &Waiter, deadline: zx_time_t) {
        self.inner.block_until(waiter, deadline)
    }
    fn interrupted(&self) -> bool {
        self.killed.load(Ordering::SeqCst)
    }
}

/// A packet handed to a waiter killed before it took it is not lost: it goes back to the
/// port, where the next wait finds it.
#[test]
fn packet_handed_to_a_killed_waiter_goes_back() {
    let table = Arc::new(HandleTable::new(7, 64));
    let port = new_port();
    let (value, id) = install(&table, port.clone());
    let killed = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let waiter = {
        let (table, port, killed) = (table.clone(), port.clone(), killed.clone());
        thread::spawn(move || {
            let blocker = KilledBlocker {
                inner: StdBlocker::default(),
                killed,
            };
            port.wait(ZX_TIME_INFINITE, &blocker, |waker| {
                table.observe(value, id, Signals::NONE, waker)
            })
        })
    };
    // Let the waiter block, then kill it and hand it a packet.
    thread::sleep(Duration::from_millis(50));
    killed.store(true, Ordering::SeqCst);
    port.queue_user(&user(7, 0xAA)).unwrap();
    assert_eq!(waiter.join().unwrap(), Err(Status::CANCELED));
    let packet = port_wait(&table, value, ms(1000)).unwrap();
    assert_eq!(key_of(&packet), 7);
    assert_eq!(port_wait(&table, value, ms(1)), Err(Status::TIMED_OUT));
}
