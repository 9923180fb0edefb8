//! Futex wait queues (`object::futex`): FIFO wake order, exactly-once wake-ups, requeue
//! counts and owners against a simple model (proptest), the passing-on of a wake that hit
//! a withdrawing waiter, and real threads blocking through a std `Blocker`.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use abi::ZX_TIME_INFINITE;
use object::futex::{FutexTable, FutexWaiter};
use object::wait::{Blocker, Wake};
use object::Status;
use proptest::prelude::*;

mod common;
use common::*;

struct NoWake;
impl Wake for NoWake {
    fn wake(&self) {}
}

fn enqueue(table: &FutexTable, key: usize, thread: u64) -> Arc<FutexWaiter> {
    let w = FutexWaiter::new(Arc::new(NoWake));
    table.enqueue(key, thread, None, &w).unwrap();
    w
}

#[test]
fn wake_is_fifo_and_counted() {
    let t = FutexTable::new();
    let w: Vec<_> = (1..=4).map(|i| enqueue(&t, 0x1000, i)).collect();
    assert_eq!(t.wake(0x1000, 0), 0);
    assert_eq!(t.wake(0x1000, 1), 1);
    assert!(w[0].is_woken() && !w[1].is_woken());
    assert_eq!(t.queue(0x1000), vec![2, 3, 4]);
    assert_eq!(t.wake(0x2000, u32::MAX), 0);
    assert_eq!(t.wake(0x1000, u32::MAX), 3);
    assert!(w.iter().all(|w| w.is_woken()));
    assert_eq!(t.total_waiters(), 0);
}

#[test]
fn owner_rules() {
    let t = FutexTable::new();
    let a = enqueue(&t, 0x10, 1);
    assert_eq!(t.confirm(&a, 0x10, Some(7), || false), Ok(()));
    assert_eq!(t.owner(0x10), Some(7));
    // The owner may not be a waiter of the futex.
    assert_eq!(
        t.enqueue(0x10, 2, Some(1), &FutexWaiter::new(Arc::new(NoWake)))
            .err(),
        Some(Status::INVALID_ARGS)
    );
    assert_eq!(
        t.requeue(0x20, 0, 0x10, 0, Some(1), || false),
        Err(Status::INVALID_ARGS)
    );
    assert_eq!(t.owner(0x10), Some(7));
    t.owner_exited(7);
    assert_eq!(t.owner(0x10), None);
    assert_eq!(t.confirm(&a, 0x10, Some(8), || false), Ok(()));
    t.wake(0x10, 0);
    assert_eq!(t.owner(0x10), None);
    assert_eq!(t.confirm(&a, 0x10, Some(8), || false), Ok(()));
    // The last waiter leaving takes the owner with it.
    t.withdraw(&a);
    assert_eq!(t.owner(0x10), None);
}

/// The owner checked alive by the syscall may die (and run `owner_exited`) before the
/// wait confirms, or start waiting on the futex itself: neither may end up recorded.
#[test]
fn confirm_and_requeue_recheck_the_owner() {
    let t = FutexTable::new();
    let a = enqueue(&t, 0x10, 1);
    // Died after the check: `owner_exited(7)` already ran, the flag reads dead.
    t.owner_exited(7);
    assert_eq!(t.confirm(&a, 0x10, Some(7), || true), Ok(()));
    assert_eq!(t.owner(0x10), None);
    assert_eq!(t.requeue(0x20, 0, 0x10, 0, Some(7), || true), Ok((0, 0)));
    assert_eq!(t.owner(0x10), None);
    // Queued on the futex since the enqueue check: INVALID_ARGS, nothing recorded.
    let b = enqueue(&t, 0x10, 2);
    assert_eq!(
        t.confirm(&a, 0x10, Some(2), || false),
        Err(Status::INVALID_ARGS)
    );
    assert_eq!(t.owner(0x10), None);
    t.withdraw(&a);
    t.withdraw(&b);
    assert_eq!(t.total_waiters(), 0);
}

#[test]
fn withdraw_passes_a_wake_on_to_an_older_waiter_only() {
    let t = FutexTable::new();
    let a = enqueue(&t, 0x10, 1);
    let b = enqueue(&t, 0x10, 2);
    t.wake(0x10, 1); // meant for a, which then finds the value changed
    let c = enqueue(&t, 0x10, 3); // queued after the wake: never woken by it
    t.withdraw(&a);
    assert!(b.is_woken());
    assert!(!c.is_woken());
    // b withdrawing too: c arrived after the wake, so nobody gets it.
    t.withdraw(&b);
    assert!(!c.is_woken());
    assert_eq!(t.queue(0x10), vec![3]);
}

#[test]
fn withdraw_passes_a_requeue_on() {
    let t = FutexTable::new();
    let a = enqueue(&t, 0x10, 1);
    let _b = enqueue(&t, 0x10, 2);
    assert_eq!(t.requeue(0x10, 0, 0x20, 1, None, || false), Ok((0, 1)));
    assert_eq!(t.queue(0x20), vec![1]);
    t.withdraw(&a);
    assert_eq!(t.queue(0x20), vec![2]);
    assert_eq!(t.queue(0x10), Vec::<u64>::new());
}

#[test]
fn deadline_and_block() {
    let t = Arc::new(FutexTable::new());
    let blocker = StdBlocker::default();
    let w = FutexWaiter::new(blocker.wake_hook());
    assert_eq!(t.enqueue(0x10, 1, None, &w), Ok(false));
    let start = clock_now();
    assert_eq!(
        t.block(&w, start + 20_000_000, &blocker),
        Err(Status::TIMED_OUT)
    );
    assert!(clock_now() - start >= 20_000_000);
    assert_eq!(t.total_waiters(), 0);
}

#[test]
fn threads_are_woken_exactly_once() {
    const THREADS: usize = 8;
    let t = Arc::new(FutexTable::new());
    let done = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..THREADS)
        .map(|i| {
            let t = t.clone();
            let done = done.clone();
            std::thread::spawn(move || {
                let blocker = StdBlocker::default();
                let w = FutexWaiter::new(blocker.wake_hook());
                t.enqueue(0x40, i as u64 + 1, None, &w).unwrap();
                t.confirm(&w, 0x40, None, || false).unwrap();
                assert_eq!(t.block(&w, ZX_TIME_INFINITE, &blocker), Ok(()));
                // Reused for a second wait, as the kernel does.
                t.enqueue(0x44, i as u64 + 1, None, &w).unwrap();
                assert_eq!(t.block(&w, 0, &blocker), Err(Status::TIMED_OUT));
                done.fetch_add(1, Ordering::SeqCst);
            })
        })
        .collect();
    while t.waiters(0x40) < THREADS {
        std::thread::yield_now();
    }
    for n in 1..=THREADS {
        assert_eq!(t.wake(0x40, 1), 1);
        while done.load(Ordering::SeqCst) < n {
            std::thread::yield_now();
        }
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(done.load(Ordering::SeqCst), n);
    }
    for h in handles {
        h.join().unwrap();
    }
}

// ---- model ----------------------------------------------------------------------------

#[derive(Clone, Debug)]
enum Op {
    Wait(u8),
    Wake(u8, u32),
    Requeue(u8, u32, u8, u32),
    Withdraw(usize),
    Timeout(usize),
}

fn op() -> impl Strategy<Value = Op> {
    let count = prop_oneof![0u32..4, Just(u32::MAX)];
    prop_oneof![
        (0u8..3).prop_map(Op::Wait),
        (0u8..3, count.clone()).prop_map(|(k, n)| Op::Wake(k, n)),
        (0u8..3, count.clone(), 0u8..3, count).prop_map(|(k, n, k2, m)| Op::Requeue(k, n, k2, m)),
        any::<usize>().prop_map(Op::Withdraw),
        any::<usize>().prop_map(Op::Timeout),
    ]
}

proptest! {
    #[test]
    fn matches_the_model(ops in proptest::collection::vec(op(), 1..60)) {
        let table = FutexTable::new();
        let blocker = StdBlocker::default();
        // Model: the queue of (thread, key) in arrival order.
        let mut model: Vec<(u64, usize)> = Vec::new();
        let mut waiters: Vec<(u64, Arc<FutexWaiter>)> = Vec::new();
        let mut woken: HashSet<u64> = HashSet::new();
        let mut next = 1u64;
        for op in ops {
            match op {
                Op::Wait(k) => {
                    let key = 0x100 + k as usize * 4;
                    let w = enqueue(&table, key, next);
                    model.push((next, key));
                    waiters.push((next, w));
                    next += 1;
                }
                Op::Wake(k, n) => {
                    let key = 0x100 + k as usize * 4;
                    let mut left = n;
                    model.retain(|&(t, kk)| {
                        if left > 0 && kk == key { left -= 1; woken.insert(t); false } else { true }
                    });
                    prop_assert_eq!(table.wake(key, n), n - left);
                }
                Op::Requeue(k, n, k2, m) => {
                    let key = 0x100 + k as usize * 4;
                    let to = 0x100 + k2 as usize * 4;
                    if key == to { continue; }
                    let mut left = n;
                    model.retain(|&(t, kk)| {
                        if left > 0 && kk == key { left -= 1; woken.insert(t); false } else { true }
                    });
                    let mut moved = Vec::new();
                    let mut mleft = m;
                    model.retain(|&(t, kk)| {
                        if mleft > 0 && kk == key { mleft -= 1; moved.push((t, to)); false } else { true }
                    });
                    model.extend(moved);
                    prop_assert_eq!(table.requeue(key, n, to, m, None, || false), Ok((n - left, m - mleft)));
                }
                Op::Withdraw(i) | Op::Timeout(i) => {
                    // Only waiters not woken (a woken one's wake would be passed on, which
                    // the targeted tests above cover).
                    let pending: Vec<_> = waiters.iter().filter(|(t, _)| !woken.contains(t)).cloned().collect();
                    if pending.is_empty() { continue; }
                    let (t, w) = &pending[i % pending.len()];
                    if matches!(op, Op::Timeout(_)) {
                        prop_assert_eq!(table.block(w, 0, &blocker), Err(Status::TIMED_OUT));
                        model.retain(|&(tt, _)| tt != *t);
                    } else {
                        // A withdrawing waiter that was moved passes the move on (one
                        // older waiter of the source futex takes its place): same set of
                        // queued threads; adopt the table's placement.
                        table.withdraw(w);
                        model.retain(|&(tt, _)| tt != *t);
                        let mut got: Vec<(u64, usize)> = Vec::new();
                        for key in [0x100usize, 0x104, 0x108] {
                            for tt in table.queue(key) { got.push((tt, key)); }
                        }
                        let wt: HashSet<u64> = model.iter().map(|x| x.0).collect();
                        let gt: HashSet<u64> = got.iter().map(|x| x.0).collect();
                        prop_assert_eq!(wt, gt);
                        model = got;
                    }
                    waiters.retain(|(tt, _)| tt != t);
                }
            }
            for (t, w) in &waiters {
                prop_assert_eq!(w.is_woken(), woken.contains(t));
            }
            for key in [0x100usize, 0x104, 0x108] {
                let want: Vec<u64> = model.iter().filter(|e| e.1 == key).map(|e| e.0).collect();
                prop_assert_eq!(table.queue(key), want);
            }
            prop_assert_eq!(table.total_waiters(), model.len());
        }
    }
}
