//! Channels: limits and errors, handle consumption, signals, moving handles between tables,
//! and freeing of self-referencing and chained channels.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Weak};

use abi::{Rights, Signals, Status, ZX_OBJ_TYPE_CHANNEL};
use object::channel::{Channel, Message, MAX_MSG_BYTES, MAX_MSG_HANDLES, MAX_PENDING_MESSAGES};
use object::handle::{Handle, HandleTable};
use object::object::{KernelObject, ObjectBase};

/// The collector and its seed list are global, so one test's write may run the collection
/// that frees what another test made, on that test's thread: tests that check what was freed
/// run one at a time.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Counts `on_zero_handles`, to see that a handle was closed.
struct Probe {
    base: ObjectBase,
    zero_calls: AtomicUsize,
}

impl Probe {
    fn new() -> Arc<Probe> {
        Arc::new(Probe {
            base: ObjectBase::new(Signals::NONE),
            zero_calls: AtomicUsize::new(0),
        })
    }
    fn closed(&self) -> bool {
        self.zero_calls.load(Ordering::SeqCst) == 1 && self.base.handle_count() == 0
    }
}

impl KernelObject for Probe {
    fn base(&self) -> &ObjectBase {
        &self.base
    }
    fn object_type(&self) -> u32 {
        abi::ZX_OBJ_TYPE_VMO
    }
    fn on_zero_handles(&self) {
        self.zero_calls.fetch_add(1, Ordering::SeqCst);
    }
}

fn probe_handle(probe: &Arc<Probe>) -> Handle {
    Handle::new(probe.clone(), Rights::TRANSFER | Rights::READ)
}

fn chan_handle(channel: &Arc<Channel>) -> Handle {
    Handle::new(channel.clone(), Rights::DEFAULT_CHANNEL)
}

fn signals(channel: &Arc<Channel>) -> Signals {
    channel.base().signals().get()
}

/// A pair with one handle each (the usual state after `zx_channel_create`).
fn pair() -> (Arc<Channel>, Handle, Arc<Channel>, Handle) {
    let (a, b) = Channel::create().unwrap();
    let ha = chan_handle(&a);
    let hb = chan_handle(&b);
    (a, ha, b, hb)
}

#[test]
fn channel_endpoints_start_writable_and_name_each_other() {
    let _serial = serial();
    let (a, b) = Channel::create().unwrap();
    assert_eq!(signals(&a), Signals::CHANNEL_WRITABLE);
    assert_eq!(signals(&b), Signals::CHANNEL_WRITABLE);
    assert_eq!(a.object_type(), ZX_OBJ_TYPE_CHANNEL);
    assert_eq!(a.related_koid(), b.base().koid());
    assert_eq!(b.related_koid(), a.base().koid());
    assert_eq!(a.peer_koid(), b.base().koid());
    assert_ne!(a.base().koid(), b.base().koid());
}

#[test]
fn channel_write_then_read_round_trip_in_order() {
    let _serial = serial();
    let (a, _ha, b, _hb) = pair();
    a.write(b"one", Vec::new()).unwrap();
    a.write(b"two", Vec::new()).unwrap();
    b.write(b"back", Vec::new()).unwrap();
    assert_eq!(b.pending_messages(), 2);
    assert_eq!(b.read(100, 0).unwrap().bytes, b"one");
    assert_eq!(b.read(100, 0).unwrap().bytes, b"two");
    assert_eq!(a.read(4, 0).unwrap().bytes, b"back");
}

#[test]
fn channel_readable_while_messages_are_queued() {
    let _serial = serial();
    let (a, _ha, b, _hb) = pair();
    assert!(!signals(&b).contains(Signals::CHANNEL_READABLE));
    a.write(b"x", Vec::new()).unwrap();
    a.write(b"y", Vec::new()).unwrap();
    assert!(signals(&b).contains(Signals::CHANNEL_READABLE));
    assert!(!signals(&a).contains(Signals::CHANNEL_READABLE));
    b.read(1, 0).unwrap();
    assert!(signals(&b).contains(Signals::CHANNEL_READABLE));
    b.read(1, 0).unwrap();
    assert!(!signals(&b).contains(Signals::CHANNEL_READABLE));
}

#[test]
fn channel_read_empty_is_should_wait() {
    let _serial = serial();
    let (_a, _ha, b, _hb) = pair();
    let error = b.read(100, 10).unwrap_err();
    assert_eq!(error.status, Status::SHOULD_WAIT);
}

#[test]
fn channel_empty_message_is_a_message() {
    let _serial = serial();
    let (a, _ha, b, _hb) = pair();
    a.write(&[], Vec::new()).unwrap();
    let message = b.read(0, 0).unwrap();
    assert!(message.bytes.is_empty() && message.handles.is_empty());
}

#[test]
fn channel_peer_close_clears_writable_and_sets_peer_closed() {
    let _serial = serial();
    let (a, ha, b, hb) = pair();
    drop(hb);
    assert_eq!(signals(&a), Signals::CHANNEL_PEER_CLOSED);
    assert!(a.is_peer_closed());
    drop(ha);
    let _ = (a, b);
}

#[test]
fn channel_queued_messages_stay_readable_after_peer_closes() {
    let _serial = serial();
    let (a, ha, b, _hb) = pair();
    a.write(b"last words", Vec::new()).unwrap();
    drop(ha);
    assert_eq!(
        signals(&b),
        Signals::CHANNEL_READABLE | Signals::CHANNEL_PEER_CLOSED
    );
    assert_eq!(b.read(100, 0).unwrap().bytes, b"last words");
    assert_eq!(signals(&b), Signals::CHANNEL_PEER_CLOSED);
    assert_eq!(b.read(100, 0).unwrap_err().status, Status::PEER_CLOSED);
    drop(a);
}

#[test]
fn channel_write_to_closed_peer_is_peer_closed_and_closes_handles() {
    let _serial = serial();
    let (a, _ha, _b, hb) = pair();
    drop(hb);
    let probe = Probe::new();
    assert_eq!(
        a.write(b"lost", vec![probe_handle(&probe)]),
        Err(Status::PEER_CLOSED)
    );
    assert!(probe.closed());
}

#[test]
fn channel_write_limit_is_max_bytes() {
    let _serial = serial();
    let (a, _ha, b, _hb) = pair();
    let big = vec![7u8; MAX_MSG_BYTES];
    a.write(&big, Vec::new()).unwrap();
    assert_eq!(b.read(MAX_MSG_BYTES, 0).unwrap().bytes.len(), MAX_MSG_BYTES);
    let too_big = vec![7u8; MAX_MSG_BYTES + 1];
    let probe = Probe::new();
    assert_eq!(
        a.write(&too_big, vec![probe_handle(&probe)]),
        Err(Status::OUT_OF_RANGE)
    );
    assert!(probe.closed());
    assert_eq!(b.pending_messages(), 0);
}

#[test]
fn channel_write_limit_is_max_handles() {
    let _serial = serial();
    let (a, _ha, b, _hb) = pair();
    let probe = Probe::new();
    let handles: Vec<_> = (0..MAX_MSG_HANDLES).map(|_| probe_handle(&probe)).collect();
    a.write(b"", handles).unwrap();
    assert_eq!(probe.base.handle_count(), MAX_MSG_HANDLES);
    let message = b.read(0, MAX_MSG_HANDLES).unwrap();
    assert_eq!(message.handles.len(), MAX_MSG_HANDLES);
    drop(message);
    assert!(probe.closed());

    let probe = Probe::new();
    let handles: Vec<_> = (0..=MAX_MSG_HANDLES)
        .map(|_| probe_handle(&probe))
        .collect();
    assert_eq!(a.write(b"", handles), Err(Status::OUT_OF_RANGE));
    assert!(probe.closed());
    assert_eq!(b.pending_messages(), 0);
}

#[test]
fn channel_queue_limit_3500_unread_then_writes_report_the_violation() {
    let _serial = serial();
    assert_eq!(MAX_PENDING_MESSAGES, 3500);
    let (a, _ha, b, _hb) = pair();
    for i in 0..MAX_PENDING_MESSAGES {
        assert_eq!(a.write(&i.to_le_bytes(), Vec::new()), Ok(i + 1));
    }
    // The 3501st is queued all the same; the count tells the caller it broke the limit.
    let probe = Probe::new();
    assert_eq!(
        a.write(b"one too many", vec![probe_handle(&probe)]),
        Ok(MAX_PENDING_MESSAGES + 1)
    );
    assert!(!probe.closed());
    assert_eq!(b.pending_messages(), MAX_PENDING_MESSAGES + 1);
    // Reading makes room again.
    b.read(8, 0).unwrap();
    b.read(8, 0).unwrap();
    assert_eq!(a.write(b"fits", Vec::new()), Ok(MAX_PENDING_MESSAGES));
}

#[test]
fn channel_read_too_small_reports_sizes_and_keeps_the_message() {
    let _serial = serial();
    let (a, _ha, b, _hb) = pair();
    let probe = Probe::new();
    a.write(b"12345", vec![probe_handle(&probe), probe_handle(&probe)])
        .unwrap();
    for (max_bytes, max_handles) in [(4, 2), (5, 1), (0, 0)] {
        let error = b.read(max_bytes, max_handles).unwrap_err();
        assert_eq!(error.status, Status::BUFFER_TOO_SMALL);
        assert_eq!((error.bytes, error.handles), (5, 2));
        assert_eq!(b.pending_messages(), 1);
        assert!(signals(&b).contains(Signals::CHANNEL_READABLE));
    }
    let message = b.read(5, 2).unwrap();
    assert_eq!(message.bytes, b"12345");
    assert_eq!(message.handles.len(), 2);
    assert_eq!(probe.base.handle_count(), 2);
}

#[test]
fn channel_refuses_a_handle_to_the_endpoint_written_to() {
    let _serial = serial();
    let (a, ha, _b, _hb) = pair();
    let extra = chan_handle(&a);
    let probe = Probe::new();
    assert_eq!(
        a.write(b"", vec![probe_handle(&probe), extra]),
        Err(Status::NOT_SUPPORTED)
    );
    assert!(probe.closed());
    assert_eq!(a.base().handle_count(), 1);
    drop(ha);
}

#[test]
fn channel_closing_an_endpoint_frees_its_unread_messages_and_their_handles() {
    let _serial = serial();
    let (a, _ha, b, hb) = pair();
    let probe = Probe::new();
    a.write(b"never read", vec![probe_handle(&probe)]).unwrap();
    assert_eq!(probe.base.handle_count(), 1);
    drop(hb);
    assert!(probe.closed());
    assert_eq!(b.pending_messages(), 0);
    assert_eq!(signals(&a), Signals::CHANNEL_PEER_CLOSED);
    assert_eq!(
        a.write(b"", Vec::new()),
        Err(Status::PEER_CLOSED),
        "writes to a dead peer fail"
    );
}

#[test]
fn channel_endpoints_are_freed_when_all_handles_and_references_are_gone() {
    let _serial = serial();
    let (a, ha, b, hb) = pair();
    let (weak_a, weak_b) = (Arc::downgrade(&a), Arc::downgrade(&b));
    a.write(b"x", Vec::new()).unwrap();
    b.write(b"y", Vec::new()).unwrap();
    drop((a, b, ha, hb));
    assert!(weak_a.upgrade().is_none());
    assert!(weak_b.upgrade().is_none());
}

#[test]
fn channel_dropped_without_handles_frees_its_messages() {
    let _serial = serial();
    let (a, b) = Channel::create().unwrap();
    let probe = Probe::new();
    a.write(b"x", vec![probe_handle(&probe)]).unwrap();
    drop(b);
    assert!(probe.closed());
    assert_eq!(signals(&a), Signals::CHANNEL_PEER_CLOSED);
}

#[test]
fn channel_signal_peer_sets_user_signals_on_the_peer() {
    let _serial = serial();
    let (a, ha, b, hb) = pair();
    // Through the trait, as the syscall calls it.
    a.signal_peer(Signals::NONE, Signals::USER_0 | Signals::USER_7)
        .unwrap();
    assert_eq!(
        signals(&b),
        Signals::CHANNEL_WRITABLE | Signals::USER_0 | Signals::USER_7
    );
    a.signal_peer(Signals::USER_0, Signals::NONE).unwrap();
    assert_eq!(signals(&b), Signals::CHANNEL_WRITABLE | Signals::USER_7);
    assert_eq!(
        a.signal_peer(Signals::NONE, Signals::CHANNEL_READABLE),
        Err(Status::INVALID_ARGS)
    );
    assert_eq!(signals(&b), Signals::CHANNEL_WRITABLE | Signals::USER_7);
    drop(hb);
    assert_eq!(
        a.signal_peer(Signals::NONE, Signals::USER_1),
        Err(Status::PEER_CLOSED)
    );
    // This endpoint closed by another thread after the lookup: BAD_HANDLE.
    drop(ha);
    assert_eq!(
        a.signal_peer(Signals::NONE, Signals::USER_1),
        Err(Status::BAD_HANDLE)
    );
}

// ---------------------------------------------------------------------------------------
// Handles moving through channels between tables (what the syscalls do).

#[test]
fn channel_moves_handles_between_tables() {
    let _serial = serial();
    let sender = HandleTable::new(0x1111_0000, 64);
    let receiver = HandleTable::new(0x2222_0000, 64);
    let (a, b) = Channel::create().unwrap();
    let va = sender.add(chan_handle(&a)).unwrap();
    let vb = receiver.add(chan_handle(&b)).unwrap();
    let probe = Probe::new();
    let p1 = sender.add(probe_handle(&probe)).unwrap();
    let p2 = sender
        .add(Handle::new(probe.clone(), Rights::TRANSFER))
        .unwrap();

    // zx_channel_write(va, bytes, [p1, p2])
    let (channel, _) = sender.get_object::<Channel>(va, Rights::WRITE).unwrap();
    let handles = sender
        .take_for_transfer(&[p1, p2], Some(channel.base().koid()))
        .unwrap();
    channel.write(b"hello", handles).unwrap();
    assert_eq!(sender.count(), 1);
    assert_eq!(sender.get(p1).unwrap_err(), Status::BAD_HANDLE);
    assert_eq!(probe.base.handle_count(), 2);

    // zx_channel_read(vb, ...)
    let (channel, _) = receiver.get_object::<Channel>(vb, Rights::READ).unwrap();
    let Message { bytes, handles } = channel.read(64, 4).unwrap();
    assert_eq!(bytes, b"hello");
    let values = receiver.insert_many(handles).unwrap();
    assert_eq!(values.len(), 2);
    let (object, rights, _) = receiver.get(values[0]).unwrap();
    assert_eq!(object.koid(), probe.base.koid());
    assert_eq!(rights, Rights::TRANSFER | Rights::READ);
    assert_eq!(receiver.get(values[1]).unwrap().1, Rights::TRANSFER);
    assert_eq!(probe.base.handle_count(), 2);
    assert_eq!(probe.zero_calls.load(Ordering::SeqCst), 0);

    receiver.clear();
    assert!(probe.closed());
}

#[test]
fn channel_writing_its_own_handle_is_not_supported_and_consumes_it() {
    let _serial = serial();
    let table = HandleTable::new(0xabc0, 64);
    let (a, b) = Channel::create().unwrap();
    let va = table.add(chan_handle(&a)).unwrap();
    let _vb = table.add(chan_handle(&b)).unwrap();
    let probe = Probe::new();
    let vp = table.add(probe_handle(&probe)).unwrap();
    let (channel, _) = table.get_object::<Channel>(va, Rights::WRITE).unwrap();
    assert_eq!(
        table
            .take_for_transfer(&[vp, va], Some(channel.base().koid()))
            .unwrap_err(),
        Status::NOT_SUPPORTED
    );
    drop(channel);
    // Both listed handles are gone; the endpoint's last handle closed, so its peer sees it.
    assert_eq!(table.count(), 1);
    assert!(probe.closed());
    assert_eq!(a.base().handle_count(), 0);
    assert!(signals(&b).contains(Signals::CHANNEL_PEER_CLOSED));
}

#[test]
fn channel_transfer_without_transfer_right_is_access_denied_and_consumed() {
    let _serial = serial();
    let table = HandleTable::new(0xabc0, 64);
    let (a, _b) = Channel::create().unwrap();
    let _va = table.add(chan_handle(&a)).unwrap();
    let probe = Probe::new();
    let vp = table.add(Handle::new(probe.clone(), Rights::READ)).unwrap();
    assert_eq!(
        table
            .take_for_transfer(&[vp], Some(a.base().koid()))
            .unwrap_err(),
        Status::ACCESS_DENIED
    );
    assert!(probe.closed());
    assert_eq!(table.count(), 1);
}

#[test]
fn channel_endpoint_handle_travels_to_another_table() {
    let _serial = serial();
    let t1 = HandleTable::new(1 << 20, 64);
    let t2 = HandleTable::new(2 << 20, 64);
    let (a, b) = Channel::create().unwrap();
    let (c, d) = Channel::create().unwrap();
    let va = t1.add(chan_handle(&a)).unwrap();
    let vd = t1.add(chan_handle(&d)).unwrap();
    let vb = t2.add(chan_handle(&b)).unwrap();
    // Send endpoint d from t1 to t2 through a -> b.
    let handles = t1.take_for_transfer(&[vd], Some(a.base().koid())).unwrap();
    a.write(b"", handles).unwrap();
    let message = b.read(0, 1).unwrap();
    let values = t2.insert_many(message.handles).unwrap();
    let (d_again, _) = t2.get_object::<Channel>(values[0], Rights::READ).unwrap();
    assert!(Arc::ptr_eq(&d_again, &d));
    c.write(b"via d", Vec::new()).unwrap();
    assert_eq!(d_again.read(10, 0).unwrap().bytes, b"via d");
    let _ = (va, vb);
}

// ---------------------------------------------------------------------------------------
// Cycles and chains.

#[test]
fn channel_whose_queue_holds_its_only_handle_is_freed() {
    let _serial = serial();
    let (a, ha, b, hb) = pair();
    let (weak_a, weak_b) = (Arc::downgrade(&a), Arc::downgrade(&b));
    let probe = Probe::new();
    // b's only handle goes into b's own queue (written through a).
    a.write(b"self", vec![hb, probe_handle(&probe)]).unwrap();
    // Nobody can ever read b: it is dead at once, and so is everything in its queue.
    assert_eq!(b.base().handle_count(), 0);
    assert!(probe.closed());
    assert_eq!(signals(&a), Signals::CHANNEL_PEER_CLOSED);
    drop(ha);
    drop((a, b));
    assert!(weak_a.upgrade().is_none(), "endpoint a leaked");
    assert!(weak_b.upgrade().is_none(), "endpoint b leaked");
}

#[test]
fn channel_self_handle_is_counted_again_when_read() {
    let _serial = serial();
    let (a, ha, b, hb) = pair();
    let second = chan_handle(&b);
    a.write(b"", vec![second]).unwrap();
    // The queued handle to b does not count; hb still does.
    assert_eq!(b.base().handle_count(), 1);
    let message = b.read(0, 1).unwrap();
    assert_eq!(b.base().handle_count(), 2);
    drop(hb);
    // The handle read back keeps b open.
    assert!(!signals(&a).contains(Signals::CHANNEL_PEER_CLOSED));
    drop(message);
    assert!(signals(&a).contains(Signals::CHANNEL_PEER_CLOSED));
    drop(ha);
}

#[test]
fn channel_self_handle_in_queue_freed_when_other_handles_close() {
    let _serial = serial();
    let (a, ha, b, hb) = pair();
    let (weak_a, weak_b) = (Arc::downgrade(&a), Arc::downgrade(&b));
    let probe = Probe::new();
    a.write(b"", vec![chan_handle(&b), probe_handle(&probe)])
        .unwrap();
    assert!(!probe.closed());
    drop(hb);
    assert!(probe.closed());
    drop((a, b, ha));
    assert!(weak_a.upgrade().is_none());
    assert!(weak_b.upgrade().is_none());
}

#[test]
fn channel_mutual_self_references_are_freed() {
    let _serial = serial();
    let (a, ha, b, hb) = pair();
    let (weak_a, weak_b) = (Arc::downgrade(&a), Arc::downgrade(&b));
    let pa = Probe::new();
    let pb = Probe::new();
    // Each endpoint's queue holds a handle to itself (written through its peer).
    a.write(b"", vec![chan_handle(&b), probe_handle(&pb)])
        .unwrap();
    b.write(b"", vec![chan_handle(&a), probe_handle(&pa)])
        .unwrap();
    assert_eq!(a.base().handle_count(), 1);
    assert_eq!(b.base().handle_count(), 1);
    drop(ha);
    assert!(pa.closed());
    assert!(!pb.closed());
    drop(hb);
    assert!(pb.closed());
    drop((a, b));
    assert!(weak_a.upgrade().is_none());
    assert!(weak_b.upgrade().is_none());
}

#[test]
fn channel_peer_handle_cannot_enter_the_peers_queue() {
    let _serial = serial();
    // The only way a queue could hold its peer's handle is writing an endpoint into itself,
    // which is refused; so peer-holding cycles cannot form.
    let (a, ha, b, _hb) = pair();
    assert_eq!(
        a.write(b"", vec![chan_handle(&a)]),
        Err(Status::NOT_SUPPORTED)
    );
    assert_eq!(b.pending_messages(), 0);
    assert_eq!(a.base().handle_count(), 1);
    drop(ha);
}

// ---------------------------------------------------------------------------------------
// Unreachable cycles through queues (the collector).

fn gone(weaks: &[Weak<Channel>]) -> bool {
    weaks.iter().all(|w| w.upgrade().is_none())
}

#[test]
fn channel_gc_two_cycle_of_endpoints_in_each_others_queues_is_collected() {
    let _serial = serial();
    // a<->b, c<->d; d goes into b's queue (through a), b into d's queue (through c).
    let (a, ha, b, hb) = pair();
    let (c, hc, d, hd) = pair();
    let weaks = [&a, &b, &c, &d].map(Arc::downgrade);
    let (pb, pd) = (Probe::new(), Probe::new());
    a.write(b"d", vec![hd, probe_handle(&pb)]).unwrap();
    assert_eq!(d.base().handle_count(), 0);
    assert_eq!(d.queued_handles(), 1);
    assert!(!signals(&c).contains(Signals::CHANNEL_PEER_CLOSED));
    c.write(b"b", vec![hb, probe_handle(&pd)]).unwrap();
    // b and d can never be read again: both are gone, with what their queues held, and
    // their peers see it at once.
    assert!(pb.closed() && pd.closed());
    assert_eq!(signals(&a), Signals::CHANNEL_PEER_CLOSED);
    assert_eq!(signals(&c), Signals::CHANNEL_PEER_CLOSED);
    assert_eq!(a.write(b"", Vec::new()), Err(Status::PEER_CLOSED));
    drop((ha, hc));
    drop((a, b, c, d));
    assert!(gone(&weaks), "an endpoint of the cycle leaked");
}

#[test]
fn channel_gc_cycle_is_collected_when_its_last_table_handle_closes() {
    let _serial = serial();
    let table = HandleTable::new(0x5150, 64);
    let (a, ha, b, hb) = pair();
    let (c, hc, d, hd) = pair();
    let weaks = [&a, &b, &c, &d].map(Arc::downgrade);
    let vb = table
        .add(Handle::new(b.clone(), Rights::DEFAULT_CHANNEL))
        .unwrap();
    let probe = Probe::new();
    a.write(b"", vec![hd, probe_handle(&probe)]).unwrap();
    c.write(b"", vec![hb]).unwrap();
    // The table still holds b: b can read d, so nothing is collected.
    assert!(!probe.closed());
    assert!(!signals(&a).contains(Signals::CHANNEL_PEER_CLOSED));
    assert!(!signals(&c).contains(Signals::CHANNEL_PEER_CLOSED));
    table.close(vb).unwrap();
    assert!(probe.closed());
    assert!(signals(&a).contains(Signals::CHANNEL_PEER_CLOSED));
    assert!(signals(&c).contains(Signals::CHANNEL_PEER_CLOSED));
    drop((ha, hc, a, b, c, d));
    assert!(gone(&weaks));
}

#[test]
fn channel_gc_self_cycle_through_both_endpoints_of_one_channel_is_collected() {
    let _serial = serial();
    // a's queue holds x, x's queue holds b (a's own peer), b's queue holds y, y's queue holds
    // a: a ring through both endpoints of one channel.
    let (a, ha, b, hb) = pair();
    let (x_writer, hxw, x, hx) = pair();
    let (y_writer, hyw, y, hy) = pair();
    let weaks = [&a, &b, &x, &y, &x_writer, &y_writer].map(Arc::downgrade);
    let probes = [Probe::new(), Probe::new(), Probe::new(), Probe::new()];
    x_writer
        .write(b"", vec![hb, probe_handle(&probes[0])])
        .unwrap();
    y_writer
        .write(b"", vec![ha, probe_handle(&probes[1])])
        .unwrap();
    b.write(b"", vec![hx, probe_handle(&probes[2])]).unwrap();
    // Not yet a ring: y is still in the table (hy), so a, b and x are reachable through it.
    assert!(!probes.iter().any(|p| p.closed()));
    a.write(b"", vec![hy, probe_handle(&probes[3])]).unwrap();
    assert!(
        probes.iter().all(|p| p.closed()),
        "the ring was not collected"
    );
    assert!(signals(&x_writer).contains(Signals::CHANNEL_PEER_CLOSED));
    assert!(signals(&y_writer).contains(Signals::CHANNEL_PEER_CLOSED));
    drop((hxw, hyw));
    drop((a, b, x, y, x_writer, y_writer));
    assert!(gone(&weaks));
}

/// A ring of `n` channels: the queue of each receiving endpoint holds the next one, the last
/// holds the first, and each holds a probe. Returns the probes and weak references.
fn ring(n: usize) -> (Vec<Arc<Probe>>, Vec<Weak<Channel>>) {
    let mut writers = Vec::new();
    let mut readers = Vec::new();
    let mut weaks = Vec::new();
    let mut probes = Vec::new();
    for _ in 0..n {
        let (w, hw, r, hr) = pair();
        weaks.push(Arc::downgrade(&w));
        weaks.push(Arc::downgrade(&r));
        writers.push((w, hw));
        readers.push(Some(hr));
        drop(r);
    }
    for i in 0..n {
        let next = readers[(i + 1) % n].take().unwrap();
        let probe = Probe::new();
        writers[i]
            .0
            .write(b"ring", vec![next, probe_handle(&probe)])
            .unwrap();
        probes.push(probe);
        if i + 1 < n {
            assert!(!probes[0].closed(), "collected before the ring closed");
        }
    }
    drop(writers);
    (probes, weaks)
}

#[test]
fn channel_gc_long_ring_is_collected_without_recursion() {
    let _serial = serial();
    let runner = std::thread::Builder::new()
        .stack_size(64 * 1024)
        .spawn(|| ring(20_000))
        .unwrap();
    let (probes, weaks) = runner.join().unwrap();
    assert!(probes.iter().all(|p| p.closed()));
    assert!(gone(&weaks));
}

#[test]
fn channel_gc_small_rings_are_collected() {
    let _serial = serial();
    for n in 1..6 {
        let (probes, weaks) = ring(n);
        assert!(probes.iter().all(|p| p.closed()), "ring of {n}");
        assert!(gone(&weaks), "ring of {n}");
    }
}

#[test]
fn channel_gc_cycle_holding_a_long_chain_frees_it_without_recursion() {
    let _serial = serial();
    const N: usize = 50_000;
    let runner = std::thread::Builder::new()
        .stack_size(64 * 1024)
        .spawn(|| {
            let probe = Probe::new();
            let (head, mut weaks) = chain(N, &probe);
            let (a, ha, b, hb) = pair();
            let (c, hc, d, hd) = pair();
            weaks.extend([&a, &b, &c, &d].map(Arc::downgrade));
            a.write(b"", vec![hd, head]).unwrap();
            assert!(!probe.closed());
            c.write(b"", vec![hb]).unwrap();
            drop((a, b, c, d, ha, hc));
            (probe, weaks)
        })
        .unwrap();
    let (probe, weaks) = runner.join().unwrap();
    assert!(probe.closed());
    assert!(gone(&weaks));
}

#[test]
fn channel_gc_reachable_endpoint_held_by_a_cycle_is_not_collected() {
    let _serial = serial();
    let table = HandleTable::new(0x4242, 64);
    // r: an endpoint whose only handles wait in queues: one in the garbage cycle, one in the
    // queue of q, which the table holds. Its queue holds a probe.
    let (r_writer, hrw, r, hr) = pair();
    let (q_writer, hqw, _q, hq) = pair();
    let vq = table.add(hq).unwrap();
    let kept = Probe::new();
    r_writer.write(b"keep", vec![probe_handle(&kept)]).unwrap();
    let hr2 = Handle::new(r.clone(), Rights::DEFAULT_CHANNEL);
    q_writer.write(b"r", vec![hr]).unwrap();
    // A table endpoint inside the cycle's queues too.
    let (l_writer, hlw, l, hl) = pair();
    let vl = table.add(hl).unwrap();
    let hl2 = Handle::new(l.clone(), Rights::DEFAULT_CHANNEL);

    let (a, ha, b, hb) = pair();
    let (c, hc, d, hd) = pair();
    let cycle = [&a, &b, &c, &d].map(Arc::downgrade);
    let lost = Probe::new();
    a.write(b"", vec![hd, hr2, hl2, probe_handle(&lost)])
        .unwrap();
    c.write(b"", vec![hb]).unwrap();
    assert!(lost.closed(), "the cycle was not collected");
    drop((ha, hc, a, b, c, d));
    assert!(gone(&cycle));

    // r is still reachable through q: alive, its queue intact, its peer not told otherwise.
    assert!(!kept.closed());
    assert!(!signals(&r_writer).contains(Signals::CHANNEL_PEER_CLOSED));
    assert_eq!(r.queued_handles(), 1);
    let (q_again, _) = table.get_object::<Channel>(vq, Rights::READ).unwrap();
    let message = q_again.read(8, 1).unwrap();
    let vr = table.insert_many(message.handles).unwrap()[0];
    let (r_again, _) = table.get_object::<Channel>(vr, Rights::READ).unwrap();
    assert!(Arc::ptr_eq(&r_again, &r));
    let message = r_again.read(8, 1).unwrap();
    assert_eq!(message.bytes, b"keep");
    drop(message);
    assert!(kept.closed());
    // l, in the table, is untouched.
    assert_eq!(l.base().handle_count(), 1);
    assert!(!signals(&l_writer).contains(Signals::CHANNEL_PEER_CLOSED));
    l_writer.write(b"still", Vec::new()).unwrap();
    drop((r_again, q_again, vl, hrw, hqw, hlw));
}

#[test]
fn channel_gc_endpoint_passed_on_then_closed_stays_alive() {
    let _serial = serial();
    // The usual pattern: a duplicate travels through a channel, the sender closes its own.
    let (a, _ha, b, hb) = pair();
    let (s, hs, t, _ht) = pair();
    let probe = Probe::new();
    t.write(b"for s", vec![probe_handle(&probe)]).unwrap();
    let dup = Handle::new(s.clone(), Rights::DEFAULT_CHANNEL);
    a.write(b"s", vec![dup]).unwrap();
    drop(hs);
    assert_eq!(s.base().handle_count(), 0);
    assert!(!probe.closed());
    assert!(!signals(&t).contains(Signals::CHANNEL_PEER_CLOSED));
    let message = b.read(8, 1).unwrap();
    assert_eq!(s.base().handle_count(), 1);
    assert_eq!(s.queued_handles(), 0);
    assert_eq!(s.read(8, 1).unwrap().bytes, b"for s");
    drop(message);
    assert!(signals(&t).contains(Signals::CHANNEL_PEER_CLOSED));
    drop(hb);
}

#[test]
fn channel_gc_endpoint_written_into_a_rootless_queue_that_is_still_reachable() {
    let _serial = serial();
    // q's only handle waits in p's queue (p is in the table); writing e into q (through q's
    // peer) must not collect e: q is reachable through p.
    let (p_writer, _hpw, p, hp) = pair();
    let (q_writer, _hqw, q, hq) = pair();
    let (e_writer, _hew, e, he) = pair();
    p_writer.write(b"q", vec![hq]).unwrap();
    let probe = Probe::new();
    e_writer.write(b"", vec![probe_handle(&probe)]).unwrap();
    q_writer.write(b"e", vec![he]).unwrap();
    assert!(!probe.closed());
    assert!(!signals(&e_writer).contains(Signals::CHANNEL_PEER_CLOSED));
    // Closing p frees the whole chain p -> q -> e.
    drop(hp);
    assert!(probe.closed());
    assert!(signals(&e_writer).contains(Signals::CHANNEL_PEER_CLOSED));
    let _ = (p, q, e);
}

#[test]
fn channel_gc_cycles_in_a_cleared_table_are_collected() {
    let _serial = serial();
    // Process exit: the table that made the cycles is cleared.
    let table = HandleTable::new(0x9090, 4096);
    let mut weaks = Vec::new();
    let mut probes = Vec::new();
    for _ in 0..200 {
        let (a, ha, b, hb) = pair();
        let (c, hc, d, hd) = pair();
        weaks.extend([&a, &b, &c, &d].map(Arc::downgrade));
        let probe = Probe::new();
        let va = table.add(ha).unwrap();
        let vc = table.add(hc).unwrap();
        let vb = table.add(hb).unwrap();
        let vd = table.add(hd).unwrap();
        let vp = table.add(probe_handle(&probe)).unwrap();
        probes.push(probe);
        let taken = table
            .take_for_transfer(&[vd, vp], Some(a.base().koid()))
            .unwrap();
        a.write(b"", taken).unwrap();
        let taken = table
            .take_for_transfer(&[vb], Some(c.base().koid()))
            .unwrap();
        c.write(b"", taken).unwrap();
        let _ = (va, vc);
    }
    assert!(probes.iter().all(|p| p.closed()));
    table.clear();
    assert!(gone(&weaks));
}

#[test]
fn channel_gc_queued_handles_count_in_handle_info() {
    let _serial = serial();
    let (a, _ha, b, hb) = pair();
    let (c, hc, _d, _hd) = pair();
    let dup = Handle::new(c.clone(), Rights::DEFAULT_CHANNEL);
    a.write(b"", vec![dup]).unwrap();
    assert_eq!(c.base().handle_count(), 1);
    assert_eq!(c.queued_handles(), 1);
    drop(hc);
    assert_eq!(c.queued_handles(), 1);
    let message = b.read(0, 1).unwrap();
    assert_eq!((c.base().handle_count(), c.queued_handles()), (1, 0));
    drop((message, hb));
}

/// Builds `n` channels where the queue of each `b[i+1]` holds the only handle to `b[i]`,
/// and the first one holds a probe. Returns the handle to the last `b` and weak references
/// to every endpoint.
fn chain(n: usize, probe: &Arc<Probe>) -> (Handle, Vec<Weak<Channel>>) {
    let mut weaks = Vec::with_capacity(2 * n);
    let mut carried = probe_handle(probe);
    for _ in 0..n {
        let (a, b) = Channel::create().unwrap();
        weaks.push(Arc::downgrade(&a));
        weaks.push(Arc::downgrade(&b));
        a.write(b"", vec![carried]).unwrap();
        carried = chan_handle(&b);
        // `a` never gets a handle; dropping it here only closes its side.
    }
    (carried, weaks)
}

#[test]
fn channel_long_chain_is_freed_without_recursion() {
    let _serial = serial();
    const N: usize = 100_000;
    let probe = Probe::new();
    let (head, weaks) = chain(N, &probe);
    assert!(!probe.closed());
    // Run the close on a small stack: a recursive free would overflow it.
    let runner = std::thread::Builder::new()
        .stack_size(64 * 1024)
        .spawn(move || drop(head))
        .unwrap();
    runner.join().unwrap();
    assert!(probe.closed());
    assert!(weaks.iter().all(|w| w.upgrade().is_none()));
}

#[test]
fn channel_long_chain_freed_when_table_is_cleared() {
    let _serial = serial();
    const N: usize = 20_000;
    let probe = Probe::new();
    let (head, weaks) = chain(N, &probe);
    let table = HandleTable::new(0x77, 16);
    table.add(head).unwrap();
    let runner = std::thread::Builder::new()
        .stack_size(64 * 1024)
        .spawn(move || table.clear())
        .unwrap();
    runner.join().unwrap();
    assert!(probe.closed());
    assert!(weaks.iter().all(|w| w.upgrade().is_none()));
}
