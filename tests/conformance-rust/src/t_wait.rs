//! zx_object_wait_one, zx_object_signal, zx_nanosleep, the clock.

use crate::harness::Case;
use crate::util::*;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicI32, AtomicU32, Ordering};
use zx::{Signals, Vmo};

pub const CASES: &[Case] = &[
    ("wait_one_returns_at_once_when_signal_active", immediate),
    ("wait_one_timed_out_reports_current_state", timed_out),
    ("wait_one_deadline_in_past_polls", past_deadline),
    (
        "wait_one_canceled_when_other_thread_closes_handle",
        canceled,
    ),
    (
        "wait_one_woken_by_signal_from_other_thread",
        woken_by_signal,
    ),
    ("wait_one_needs_no_right", wait_no_right),
    ("wait_one_bad_handle", wait_bad_handle),
    ("object_signal_sets_and_clears_user_signals", signal_user),
    ("object_signal_non_user_bits_invalid_args", signal_bad_bits),
    ("object_signal_needs_signal_right", signal_needs_right),
    ("nanosleep_sleeps_until_deadline", nanosleep),
    ("nanosleep_past_deadline_returns_at_once", nanosleep_past),
    ("clock_monotonic_never_goes_back", clock),
    ("system_get_page_size_is_4096", page_size),
    ("wait_safe_api_wait_handle", safe_api_wait),
    ("wait_one_many_waiters_all_woken", many_woken),
    ("wait_one_many_waiters_all_canceled_on_close", many_canceled),
    (
        "wait_one_channel_readable_and_peer_closed_wake_waiter",
        channel_wakes,
    ),
];

fn immediate() -> R {
    let (a, _b) = channel()?;
    let start = now();
    let (s, obs) = wait(
        a.raw(),
        ZX_CHANNEL_WRITABLE | ZX_USER_SIGNAL_0,
        ZX_TIME_INFINITE / 2,
    );
    eq!(sname(s), sname(ZX_OK));
    eqx!(obs, ZX_CHANNEL_WRITABLE);
    ensure!(now() - start < 1000 * MS, "took {} ns", now() - start);
    Ok(())
}

fn timed_out() -> R {
    let (a, _b) = channel()?;
    let start = now();
    let (s, obs) = wait(a.raw(), ZX_CHANNEL_READABLE, 30 * MS);
    let took = now() - start;
    eq!(sname(s), sname(ZX_ERR_TIMED_OUT));
    eqx!(obs, ZX_CHANNEL_WRITABLE);
    ensure!(
        took >= 30 * MS,
        "returned after {took} ns, before the 30 ms deadline"
    );
    ensure!(
        took < 3000 * MS,
        "returned after {took} ns for a 30 ms deadline"
    );
    let v = vmo(PAGE)?;
    let (s, obs) = wait(v.raw(), ZX_USER_SIGNAL_0, 5 * MS);
    eq!(sname(s), sname(ZX_ERR_TIMED_OUT));
    eqx!(obs, ZX_VMO_ZERO_CHILDREN);
    Ok(())
}

fn past_deadline() -> R {
    let (a, _b) = channel()?;
    for deadline in [0i64, 1, ZX_TIME_INFINITE_PAST, now() - 1000 * MS] {
        let mut obs = 0u32;
        let start = now();
        check!(ZX_ERR_TIMED_OUT, unsafe {
            sys::zx_object_wait_one(a.raw(), ZX_CHANNEL_READABLE, deadline, &mut obs)
        });
        eqx!(obs, ZX_CHANNEL_WRITABLE);
        ensure!(
            now() - start < 500 * MS,
            "polling with deadline {deadline} took {} ns",
            now() - start
        );
        // A satisfied wait with a past deadline is OK.
        zx_ok!(unsafe {
            sys::zx_object_wait_one(a.raw(), ZX_CHANNEL_WRITABLE, deadline, &mut obs)
        });
    }
    Ok(())
}

fn canceled() -> R {
    let v = vmo(PAGE)?.into_raw();
    let t = start_thread(close_after_entry, v as usize, (100 * MS) as usize)?;
    let mut obs = 0u32;
    let s = unsafe { sys::zx_object_wait_one(v, ZX_USER_SIGNAL_0, after(10_000 * MS), &mut obs) };
    t.join(5000 * MS)?;
    eq!(sname(s), sname(ZX_ERR_CANCELED));
    ensure!(
        obs & ZX_SIGNAL_HANDLE_CLOSED != 0,
        "observed {obs:#x} lacks HANDLE_CLOSED"
    );
    check!(ZX_ERR_BAD_HANDLE, valid(v));
    Ok(())
}

/// Thread entry: sleeps `delay_ns`, sets USER_SIGNAL_1 on `h`, exits.
extern "C" fn signal_after_entry(h: usize, delay_ns: usize) -> ! {
    sleep_ns(delay_ns as i64);
    // SAFETY: no pointers.
    unsafe {
        sys::zx_object_signal(h as u32, 0, ZX_USER_SIGNAL_1);
    }
    thread_exit()
}

fn woken_by_signal() -> R {
    let (a, _b) = channel()?;
    let start = now();
    let t = start_thread(signal_after_entry, a.raw() as usize, (50 * MS) as usize)?;
    let (s, obs) = wait(a.raw(), ZX_USER_SIGNAL_1, 10_000 * MS);
    let took = now() - start;
    t.join(5000 * MS)?;
    eq!(sname(s), sname(ZX_OK));
    ensure!(obs & ZX_USER_SIGNAL_1 != 0, "observed {obs:#x}");
    ensure!(took >= 40 * MS, "woke after {took} ns, before the signal");
    ensure!(took < 5000 * MS, "woke after {took} ns");
    Ok(())
}

fn wait_no_right() -> R {
    let v = vmo(PAGE)?;
    let none = dup(v.raw(), ZX_RIGHT_NONE)?;
    let (s, obs) = wait(none.raw(), ZX_VMO_ZERO_CHILDREN, 0);
    eq!(sname(s), sname(ZX_OK));
    eqx!(obs, ZX_VMO_ZERO_CHILDREN);
    Ok(())
}

fn wait_bad_handle() -> R {
    let mut obs = 0u32;
    check!(ZX_ERR_BAD_HANDLE, unsafe {
        sys::zx_object_wait_one(0x4444_4447, ZX_USER_SIGNAL_0, 0, &mut obs)
    });
    check!(ZX_ERR_BAD_HANDLE, unsafe {
        sys::zx_object_wait_one(ZX_HANDLE_INVALID, ZX_USER_SIGNAL_0, 0, &mut obs)
    });
    Ok(())
}

fn signal_user() -> R {
    let (a, b) = channel()?;
    zx_ok!(unsafe { sys::zx_object_signal(a.raw(), 0, ZX_USER_SIGNAL_0 | ZX_USER_SIGNAL_7) });
    eqx!(
        signals(a.raw())?,
        ZX_CHANNEL_WRITABLE | ZX_USER_SIGNAL_0 | ZX_USER_SIGNAL_7
    );
    // Only on this endpoint.
    eqx!(signals(b.raw())? & ZX_USER_SIGNAL_ALL, 0u32);
    zx_ok!(unsafe { sys::zx_object_signal(a.raw(), ZX_USER_SIGNAL_0, ZX_USER_SIGNAL_3) });
    eqx!(
        signals(a.raw())? & ZX_USER_SIGNAL_ALL,
        ZX_USER_SIGNAL_3 | ZX_USER_SIGNAL_7
    );
    // Clear then set: a bit in both ends up set.
    zx_ok!(unsafe { sys::zx_object_signal(a.raw(), ZX_USER_SIGNAL_ALL, ZX_USER_SIGNAL_5) });
    eqx!(signals(a.raw())? & ZX_USER_SIGNAL_ALL, ZX_USER_SIGNAL_5);
    zx_ok!(unsafe { sys::zx_object_signal(a.raw(), ZX_USER_SIGNAL_5, ZX_USER_SIGNAL_5) });
    eqx!(signals(a.raw())? & ZX_USER_SIGNAL_ALL, ZX_USER_SIGNAL_5);
    zx_ok!(unsafe { sys::zx_object_signal(a.raw(), ZX_USER_SIGNAL_ALL, 0) });
    eqx!(signals(a.raw())?, ZX_CHANNEL_WRITABLE);
    Ok(())
}

fn signal_bad_bits() -> R {
    let (a, _b) = channel()?;
    for (clear, set) in [
        (0, ZX_CHANNEL_READABLE),
        (0, ZX_CHANNEL_PEER_CLOSED),
        (ZX_CHANNEL_WRITABLE, 0),
        (0, ZX_SIGNAL_HANDLE_CLOSED),
        (0, 1 << 20),
        (0, ZX_USER_SIGNAL_0 | 1),
    ] {
        check!(ZX_ERR_INVALID_ARGS, unsafe {
            sys::zx_object_signal(a.raw(), clear, set)
        });
    }
    // Nothing changed.
    eqx!(signals(a.raw())?, ZX_CHANNEL_WRITABLE);
    Ok(())
}

fn signal_needs_right() -> R {
    // A VMO handle has the seed's eight rights: no SIGNAL.
    let v = vmo(PAGE)?;
    check!(ZX_ERR_ACCESS_DENIED, unsafe {
        sys::zx_object_signal(v.raw(), 0, ZX_USER_SIGNAL_0)
    });
    let (a, _b) = channel()?;
    let mut out = 0u32;
    zx_ok!(unsafe {
        sys::zx_handle_replace(
            a.into_raw(),
            ZX_RIGHT_READ | ZX_RIGHT_WRITE | ZX_RIGHT_WAIT,
            &mut out,
        )
    });
    let a = Owned::from_raw(out);
    check!(ZX_ERR_ACCESS_DENIED, unsafe {
        sys::zx_object_signal(a.raw(), 0, ZX_USER_SIGNAL_0)
    });
    check!(ZX_ERR_BAD_HANDLE, unsafe {
        sys::zx_object_signal(0x5555_5557, 0, ZX_USER_SIGNAL_0)
    });
    Ok(())
}

fn nanosleep() -> R {
    let start = now();
    let deadline = start + 20 * MS;
    zx_ok!(unsafe { sys::zx_nanosleep(deadline) });
    let end = now();
    ensure!(
        end >= deadline,
        "woke at {end}, before the deadline {deadline}"
    );
    ensure!(
        end - start < 3000 * MS,
        "slept {} ns for 20 ms",
        end - start
    );
    Ok(())
}

fn nanosleep_past() -> R {
    let start = now();
    zx_ok!(unsafe { sys::zx_nanosleep(0) });
    zx_ok!(unsafe { sys::zx_nanosleep(ZX_TIME_INFINITE_PAST) });
    zx_ok!(unsafe { sys::zx_nanosleep(start - 1) });
    ensure!(now() - start < 500 * MS, "took {} ns", now() - start);
    Ok(())
}

fn clock() -> R {
    let mut last = now();
    ensure!(last > 0, "clock {last}");
    for _ in 0..1000 {
        let t = now();
        ensure!(t >= last, "clock went back from {last} to {t}");
        last = t;
    }
    let a = now();
    sleep_ns(5 * MS);
    ensure!(
        now() - a >= 5 * MS,
        "clock advanced {} ns over a 5 ms sleep",
        now() - a
    );
    Ok(())
}

fn page_size() -> R {
    eq!(unsafe { sys::zx_system_get_page_size() }, 4096u32);
    Ok(())
}

fn safe_api_wait() -> R {
    let v = ok!(Vmo::create(PAGE));
    let obs = ok!(v.wait_handle(Signals::VMO_ZERO_CHILDREN, zx::Time::INFINITE_PAST));
    ensure!(obs.contains(Signals::VMO_ZERO_CHILDREN), "observed {obs:?}");
    check_err!(
        ZX_ERR_TIMED_OUT,
        v.wait_handle(Signals::USER_0, zx::Time::INFINITE_PAST)
    );
    Ok(())
}

const WAITERS: usize = 6;

struct Waiters {
    handle: AtomicU32,
    status: [AtomicI32; WAITERS],
    observed: [AtomicU32; WAITERS],
}

extern "C" fn waiter_entry(shared: usize, index: usize) -> ! {
    // SAFETY: the starter keeps `Waiters` alive until every waiter has exited.
    let w = unsafe { &*(shared as *const Waiters) };
    let mut obs = 0u32;
    // SAFETY: valid out pointer.
    let s = unsafe {
        sys::zx_object_wait_one(
            w.handle.load(Ordering::SeqCst),
            ZX_USER_SIGNAL_0,
            after(10_000 * MS),
            &mut obs,
        )
    };
    w.observed[index].store(obs, Ordering::SeqCst);
    w.status[index].store(s, Ordering::SeqCst);
    thread_exit()
}

fn new_waiters(h: u32) -> Waiters {
    Waiters {
        handle: AtomicU32::new(h),
        status: core::array::from_fn(|_| AtomicI32::new(1)),
        observed: core::array::from_fn(|_| AtomicU32::new(0)),
    }
}

fn run_waiters(w: &Waiters, act: impl FnOnce() -> R) -> R {
    let mut threads: Vec<Thread> = Vec::new();
    for i in 0..WAITERS {
        threads.push(start_thread(waiter_entry, w as *const Waiters as usize, i)?);
    }
    sleep_ns(100 * MS);
    act()?;
    for t in threads {
        t.join(5000 * MS)?;
    }
    Ok(())
}

fn many_woken() -> R {
    let (a, _b) = channel()?;
    let w = new_waiters(a.raw());
    run_waiters(&w, || {
        zx_ok!(unsafe { sys::zx_object_signal(a.raw(), 0, ZX_USER_SIGNAL_0) });
        Ok(())
    })?;
    for i in 0..WAITERS {
        let s = w.status[i].load(Ordering::SeqCst);
        ensure!(s == ZX_OK, "waiter {i}: expected ZX_OK, got {}", sname(s));
        let o = w.observed[i].load(Ordering::SeqCst);
        ensure!(o & ZX_USER_SIGNAL_0 != 0, "waiter {i}: observed {o:#x}");
    }
    Ok(())
}

fn many_canceled() -> R {
    let v = vmo(PAGE)?.into_raw();
    let w = new_waiters(v);
    run_waiters(&w, || {
        zx_ok!(unsafe { sys::zx_handle_close(v) });
        Ok(())
    })?;
    for i in 0..WAITERS {
        let s = w.status[i].load(Ordering::SeqCst);
        ensure!(
            s == ZX_ERR_CANCELED,
            "waiter {i}: expected ZX_ERR_CANCELED, got {}",
            sname(s)
        );
        let o = w.observed[i].load(Ordering::SeqCst);
        ensure!(
            o & ZX_SIGNAL_HANDLE_CLOSED != 0,
            "waiter {i}: observed {o:#x} lacks HANDLE_CLOSED"
        );
    }
    Ok(())
}

extern "C" fn write_after_entry(h: usize, delay_ns: usize) -> ! {
    sleep_ns(delay_ns as i64);
    ch_write(h as u32, b"wake", &[]);
    thread_exit()
}

fn channel_wakes() -> R {
    let (a, b) = channel()?;
    let t = start_thread(write_after_entry, a.raw() as usize, (50 * MS) as usize)?;
    let (s, obs) = wait(b.raw(), ZX_CHANNEL_READABLE, 10_000 * MS);
    t.join(5000 * MS)?;
    eq!(sname(s), sname(ZX_OK));
    ensure!(obs & ZX_CHANNEL_READABLE != 0, "observed {obs:#x}");
    eq!(ch_read(b.raw(), 8, 0).bytes, b"wake".to_vec());
    // PEER_CLOSED wakes a waiter too.
    let t = start_thread(close_after_entry, a.into_raw() as usize, (50 * MS) as usize)?;
    let (s, obs) = wait(
        b.raw(),
        ZX_CHANNEL_READABLE | ZX_CHANNEL_PEER_CLOSED,
        10_000 * MS,
    );
    t.join(5000 * MS)?;
    eq!(sname(s), sname(ZX_OK));
    eqx!(obs, ZX_CHANNEL_PEER_CLOSED);
    Ok(())
}
