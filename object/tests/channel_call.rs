//! `zx_channel_call`'s object part with real threads: txids, replies straight to the
//! caller, timeouts, peer closed, cancel by close, several callers at once.

use std::sync::Arc;
use std::thread;
use std::time::Duration;

use abi::{Rights, Signals, Status, ZX_TIME_INFINITE};
use object::channel::{CallSlot, Channel};
use object::handle::{Handle, HandleTable};
use object::object::KernelObject;

mod common;
use common::*;

/// A pair whose endpoints each have a handle in `table` (so they count as open).
fn pair(table: &HandleTable) -> (Arc<Channel>, Arc<Channel>, u32, u32) {
    let (a, b) = Channel::create().unwrap();
    let ha = table
        .add(Handle::new(a.clone(), Rights::DEFAULT_CHANNEL))
        .unwrap();
    let hb = table
        .add(Handle::new(b.clone(), Rights::DEFAULT_CHANNEL))
        .unwrap();
    (a, b, ha, hb)
}

fn txid(bytes: &[u8]) -> u32 {
    u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
}

#[test]
fn reply_goes_straight_to_the_caller() {
    let table = HandleTable::new(0x1000, 64);
    let (a, b, _, _) = pair(&table);
    let blocker = StdBlocker::default();
    let slot = CallSlot::new(&blocker);
    a.call_begin(vec![1, 2, 3, 4, 9], Vec::new(), &slot)
        .unwrap();
    let request = b.read(100, 0).unwrap();
    let id = txid(&request.bytes);
    assert!(id >= 0x8000_0000);
    assert_eq!(request.bytes[4], 9);
    // An unrelated message is queued as usual.
    b.write(&[0, 0, 0, 0], Vec::new()).unwrap();
    let mut reply = id.to_le_bytes().to_vec();
    reply.push(42);
    b.write(&reply, Vec::new()).unwrap();
    let got = a.call_wait(&slot, ZX_TIME_INFINITE, &blocker).unwrap();
    assert_eq!(got.bytes, reply);
    assert_eq!(a.pending_messages(), 1);
    assert_eq!(a.pending_calls(), 0);
}

#[test]
fn short_request_is_invalid() {
    let table = HandleTable::new(0x1000, 64);
    let (a, b, _, _) = pair(&table);
    let slot = CallSlot::new(&StdBlocker::default());
    assert_eq!(
        a.call_begin(vec![1, 2, 3], Vec::new(), &slot),
        Err(Status::INVALID_ARGS)
    );
    assert_eq!(b.pending_messages(), 0);
    assert_eq!(a.pending_calls(), 0);
}

#[test]
fn timeout_then_late_reply_is_queued() {
    let table = HandleTable::new(0x1000, 64);
    let (a, b, _, _) = pair(&table);
    let blocker = StdBlocker::default();
    let slot = CallSlot::new(&blocker);
    a.call_begin(vec![0; 8], Vec::new(), &slot).unwrap();
    assert_eq!(
        a.call_wait(&slot, ms(5), &blocker).err(),
        Some(Status::TIMED_OUT)
    );
    assert_eq!(a.pending_calls(), 0);
    let request = b.read(100, 0).unwrap();
    b.write(&request.bytes, Vec::new()).unwrap();
    assert_eq!(a.pending_messages(), 1);
    assert!(a.base().signals().get().contains(Signals::CHANNEL_READABLE));
}

#[test]
fn peer_closed_during_the_call() {
    let table = HandleTable::new(0x1000, 64);
    let (a, _b, _, hb) = pair(&table);
    let blocker = StdBlocker::default();
    let slot = CallSlot::new(&blocker);
    a.call_begin(vec![0; 4], Vec::new(), &slot).unwrap();
    let closer = thread::spawn(move || {
        thread::sleep(Duration::from_millis(10));
        drop(table.remove(hb));
        table
    });
    assert_eq!(
        a.call_wait(&slot, ms(5_000), &blocker).err(),
        Some(Status::PEER_CLOSED)
    );
    let _table = closer.join().unwrap();
}

#[test]
fn closing_the_callers_handle_cancels() {
    let table = Arc::new(HandleTable::new(0x1000, 64));
    let (a, _b, ha, _) = pair(&table);
    let blocker = StdBlocker::default();
    let slot = CallSlot::new(&blocker);
    a.call_begin(vec![0; 4], Vec::new(), &slot).unwrap();
    let t = table.clone();
    let closer = thread::spawn(move || {
        thread::sleep(Duration::from_millis(10));
        drop(t.remove(ha));
    });
    assert_eq!(
        a.call_wait(&slot, ms(5_000), &blocker).err(),
        Some(Status::CANCELED)
    );
    closer.join().unwrap();
    // No handle left: a new call is refused.
    let slot = CallSlot::new(&blocker);
    assert!(a.call_begin(vec![0; 4], Vec::new(), &slot).is_err());
}

#[test]
fn several_callers_each_get_their_reply() {
    let table = HandleTable::new(0x1000, 64);
    let (a, b, _, _) = pair(&table);
    let callers: Vec<_> = (0..8u8)
        .map(|i| {
            let a = a.clone();
            thread::spawn(move || {
                for round in 0..50u8 {
                    let blocker = StdBlocker::default();
                    let slot = CallSlot::new(&blocker);
                    a.call_begin(vec![0, 0, 0, 0, i, round], Vec::new(), &slot)
                        .unwrap();
                    let reply = a.call_wait(&slot, ZX_TIME_INFINITE, &blocker).unwrap();
                    assert_eq!(reply.bytes[4..], [i, round, 0xAA]);
                }
            })
        })
        .collect();
    let mut served = 0;
    while served < 8 * 50 {
        match b.read(100, 0) {
            Ok(mut m) => {
                m.bytes.push(0xAA);
                b.write(&m.bytes, Vec::new()).unwrap();
                served += 1;
            }
            Err(_) => thread::yield_now(),
        }
    }
    for c in callers {
        c.join().unwrap();
    }
    assert_eq!(a.pending_messages(), 0);
}

#[test]
fn txids_are_unique_among_pending_calls() {
    let table = HandleTable::new(0x1000, 64);
    let (a, b, _, _) = pair(&table);
    let blocker = StdBlocker::default();
    let slots: Vec<_> = (0..5).map(|_| CallSlot::new(&blocker)).collect();
    for s in &slots {
        a.call_begin(vec![0; 4], Vec::new(), s).unwrap();
    }
    let mut ids: Vec<u32> = slots.iter().map(|s| s.txid()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 5);
    drop(b);
}

/// Two endpoints calling each other at once: each request reaches the other side as a
/// message (not as the "reply" of the call pending there), since their txids differ.
#[test]
fn crossed_calls_do_not_collide() {
    let table = HandleTable::new(0x1000, 64);
    let (a, b, _, _) = pair(&table);
    let blocker = StdBlocker::default();
    let (slot_a, slot_b) = (CallSlot::new(&blocker), CallSlot::new(&blocker));
    a.call_begin(vec![0, 0, 0, 0, 1], Vec::new(), &slot_a)
        .unwrap();
    b.call_begin(vec![0, 0, 0, 0, 2], Vec::new(), &slot_b)
        .unwrap();
    assert_ne!(slot_a.txid(), slot_b.txid());
    assert_eq!((a.pending_calls(), b.pending_calls()), (1, 1));
    assert_eq!(b.read(100, 0).unwrap().bytes[4], 1);
    assert_eq!(a.read(100, 0).unwrap().bytes[4], 2);
}

/// A call abandoned right after its request went out (the syscall's queue-limit path): the
/// slot is off the list and a reply with its txid is queued as an ordinary message.
#[test]
fn abandoned_call_reply_is_queued() {
    let table = HandleTable::new(0x1000, 64);
    let (a, b, _, _) = pair(&table);
    let blocker = StdBlocker::default();
    let slot = CallSlot::new(&blocker);
    a.call_begin(vec![0, 0, 0, 0], Vec::new(), &slot).unwrap();
    assert!(a.call_abandon(&slot));
    assert!(!a.call_abandon(&slot));
    assert_eq!(a.pending_calls(), 0);
    let request = b.read(100, 0).unwrap();
    b.write(&request.bytes, Vec::new()).unwrap();
    assert_eq!(a.pending_messages(), 1);
    assert!(a.base().signals().get().contains(Signals::CHANNEL_READABLE));
}
