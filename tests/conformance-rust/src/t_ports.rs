//! Sections 2, 3 and 5 of `zx-abi-objects.md`: ports and asynchronous waits, events and
//! event pairs, `zx_object_signal_peer`, `zx_object_wait_many`; the "not waitable" rule and
//! `ZX_INFO_HANDLE_BASIC.props`.

use crate::harness::Case;
use crate::util::*;
use alloc::format;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

pub const CASES: &[Case] = &[
    // ---- events ----
    ("event_create_options_and_out_pointer", event_create_args),
    ("event_starts_clear_rights_type_props", event_basics),
    ("event_signal_user_and_signaled_only", event_signal_bits),
    ("event_signal_peer_not_supported", event_no_peer),
    // ---- event pairs ----
    ("eventpair_create_options_not_supported", eventpair_options),
    ("eventpair_endpoints_related_rights", eventpair_basics),
    ("eventpair_spec_example_signal_peer", eventpair_example),
    (
        "eventpair_peer_closed_on_last_handle",
        eventpair_peer_closed,
    ),
    (
        "eventpair_signal_peer_bits_clear_before_set",
        eventpair_peer_bits,
    ),
    ("signal_peer_lookup_order_and_right", signal_peer_order),
    ("channel_signal_peer_user_signals", channel_signal_peer),
    ("eventpair_signal_peer_wakes_waiter", eventpair_wakes),
    // ---- ports ----
    ("port_create_options_rights_props", port_create),
    ("port_queue_wait_fifo_contents_kept", port_fifo),
    ("port_queue_wait_lookup_order_rights", port_rights),
    ("port_capacity_2048_user_packets", port_capacity),
    ("port_wait_deadlines_past_future", port_deadlines),
    ("port_wait_bad_packet_before_blocking", port_bad_packet),
    ("port_vmar_not_waitable_everywhere", not_waitable),
    ("port_wait_async_packet_contents", wait_async_contents),
    ("port_wait_async_triggers_at_once", wait_async_at_once),
    ("port_wait_async_timestamp", wait_async_timestamp),
    ("port_wait_async_one_shot", wait_async_one_shot),
    ("port_wait_async_lookup_order", wait_async_order),
    (
        "port_wait_async_close_watched_no_packet",
        wait_async_close_watched,
    ),
    ("port_cancel_registrations_and_packets", port_cancel),
    ("port_cancel_lookup_order", port_cancel_order),
    ("port_wait_canceled_when_handle_closed", port_wait_canceled),
    ("port_wait_woken_by_other_thread", port_woken),
    ("port_n_waiters_n_packets_exactly_once", port_exactly_once),
    (
        "port_signal_packets_exactly_once_threads",
        port_signal_exactly_once,
    ),
    ("port_close_with_armed_waits_no_leak", port_close_no_leak),
    ("port_full_queue_close_no_leak", port_full_no_leak),
    ("port_safe_api", port_safe_api),
    (
        "port_process_exit_ends_its_registrations",
        port_process_exit,
    ),
    // ---- wait_many ----
    ("wait_many_more_than_64_out_of_range", wait_many_bound),
    ("wait_many_bad_items_invalid_args", wait_many_bad_items),
    ("wait_many_zero_items_sleeps_until_deadline", wait_many_zero),
    ("wait_many_lookup_order", wait_many_order),
    ("wait_many_ok_writes_every_pending", wait_many_ok),
    ("wait_many_timed_out_writes_pending", wait_many_timeout),
    ("wait_many_woken_by_other_thread", wait_many_woken),
    ("wait_many_canceled_on_close", wait_many_canceled),
    ("wait_many_same_handle_twice_and_64_items", wait_many_twice),
    ("wait_many_no_leak", wait_many_no_leak),
    ("wait_many_safe_api", wait_many_safe_api),
];

// ---- helpers ----------------------------------------------------------------------------

fn event() -> Result<Owned, alloc::string::String> {
    let mut h = 0u32;
    let s = unsafe { sys::zx_event_create(0, &mut h) };
    if s != ZX_OK {
        return Err(format!("zx_event_create setup: {}", sname(s)));
    }
    Ok(Owned::from_raw(h))
}

fn eventpair() -> Result<(Owned, Owned), alloc::string::String> {
    let (mut a, mut b) = (0u32, 0u32);
    let s = unsafe { sys::zx_eventpair_create(0, &mut a, &mut b) };
    if s != ZX_OK {
        return Err(format!("zx_eventpair_create setup: {}", sname(s)));
    }
    Ok((Owned::from_raw(a), Owned::from_raw(b)))
}

fn port() -> Result<Owned, alloc::string::String> {
    let mut h = 0u32;
    let s = unsafe { sys::zx_port_create(0, &mut h) };
    if s != ZX_OK {
        return Err(format!("zx_port_create setup: {}", sname(s)));
    }
    Ok(Owned::from_raw(h))
}

fn user_packet(key: u64, status: i32, fill: u8) -> zx_port_packet_t {
    zx_port_packet_t {
        key,
        type_: 0x55,
        status,
        payload: [fill; 32],
    }
}

fn queue(p: u32, packet: &zx_port_packet_t) -> i32 {
    unsafe { sys::zx_port_queue(p, packet) }
}

fn port_wait(p: u32, deadline: i64) -> (i32, zx_port_packet_t) {
    let mut packet = zx_port_packet_t::default();
    let s = unsafe { sys::zx_port_wait(p, deadline, &mut packet) };
    (s, packet)
}

fn wait_async(h: u32, p: u32, key: u64, signals: u32, options: u32) -> i32 {
    unsafe { sys::zx_object_wait_async(h, p, key, signals, options) }
}

fn signal(h: u32, clear: u32, set: u32) -> i32 {
    unsafe { sys::zx_object_signal(h, clear, set) }
}

fn signal_peer(h: u32, clear: u32, set: u32) -> i32 {
    unsafe { sys::zx_object_signal_peer(h, clear, set) }
}

fn signal_of(p: &zx_port_packet_t) -> zx_packet_signal_t {
    zx_packet_signal_t::from_bytes(&p.payload).unwrap_or_default()
}

fn wait_many(items: &mut [zx_wait_item_t], deadline: i64) -> i32 {
    unsafe { sys::zx_object_wait_many(items.as_mut_ptr(), items.len(), deadline) }
}

fn item(h: u32, waitfor: u32) -> zx_wait_item_t {
    zx_wait_item_t {
        handle: h,
        waitfor,
        pending: 0xDEAD_BEEF,
    }
}

const EVENT_ALLOWED: u32 = ZX_USER_SIGNAL_ALL | ZX_EVENT_SIGNALED;

// ---- events -----------------------------------------------------------------------------

fn event_create_args() -> R {
    let mut h = 0u32;
    check!(ZX_ERR_INVALID_ARGS, unsafe {
        sys::zx_event_create(1, &mut h)
    });
    check!(ZX_ERR_INVALID_ARGS, unsafe {
        sys::zx_event_create(0x8000_0000, &mut h)
    });
    check!(ZX_ERR_INVALID_ARGS, unsafe {
        sys::zx_event_create(0, core::ptr::null_mut())
    });
    check!(ZX_ERR_INVALID_ARGS, unsafe {
        sys::zx_event_create(0, KERNEL_ADDR as *mut u32)
    });
    Ok(())
}

fn event_basics() -> R {
    let e = event()?;
    let (s, obs) = wait(e.raw(), !0, 0);
    eq!(sname(s), sname(ZX_ERR_TIMED_OUT));
    eqx!(obs, 0);
    let b = basic(e.raw())?;
    eqx!(b.rights, 0xD003);
    eq!(b.type_, ZX_OBJ_TYPE_EVENT);
    eq!(b.related_koid, 0);
    eq!(b.props, ZX_OBJ_PROP_WAITABLE);
    Ok(())
}

fn event_signal_bits() -> R {
    let e = event()?;
    zx_ok!(signal(e.raw(), 0, EVENT_ALLOWED));
    let (_, obs) = wait(e.raw(), !0, 0);
    eqx!(obs, EVENT_ALLOWED);
    zx_ok!(signal(e.raw(), ZX_USER_SIGNAL_ALL, 0));
    let (_, obs) = wait(e.raw(), !0, 0);
    eqx!(obs, ZX_EVENT_SIGNALED);
    // Clear applies before set: a bit in both ends up set.
    zx_ok!(signal(
        e.raw(),
        ZX_EVENT_SIGNALED,
        ZX_EVENT_SIGNALED | ZX_USER_SIGNAL_3
    ));
    let (_, obs) = wait(e.raw(), !0, 0);
    eqx!(obs, ZX_EVENT_SIGNALED | ZX_USER_SIGNAL_3);
    for bad in [1u32 << 2, 1 << 0, ZX_SIGNAL_HANDLE_CLOSED, 1 << 4] {
        check!(ZX_ERR_INVALID_ARGS, signal(e.raw(), 0, bad));
        check!(ZX_ERR_INVALID_ARGS, signal(e.raw(), bad, 0));
    }
    let (_, obs) = wait(e.raw(), !0, 0);
    eqx!(obs, ZX_EVENT_SIGNALED | ZX_USER_SIGNAL_3);
    // Other objects: user signals only.
    let (a, _b) = channel()?;
    check!(ZX_ERR_INVALID_ARGS, signal(a.raw(), 0, ZX_EVENT_SIGNALED));
    // SIGNAL right needed.
    let weak = dup(e.raw(), ZX_RIGHTS_BASIC)?;
    check!(
        ZX_ERR_ACCESS_DENIED,
        signal(weak.raw(), 0, ZX_USER_SIGNAL_0)
    );
    Ok(())
}

fn event_no_peer() -> R {
    let e = event()?;
    check!(
        ZX_ERR_NOT_SUPPORTED,
        signal_peer(e.raw(), 0, ZX_USER_SIGNAL_0)
    );
    let v = vmo(PAGE)?;
    check!(
        ZX_ERR_NOT_SUPPORTED,
        signal_peer(v.raw(), 0, ZX_USER_SIGNAL_0)
    );
    Ok(())
}

// ---- event pairs ------------------------------------------------------------------------

fn eventpair_options() -> R {
    let (mut a, mut b) = (0u32, 0u32);
    check!(ZX_ERR_NOT_SUPPORTED, unsafe {
        sys::zx_eventpair_create(1, &mut a, &mut b)
    });
    check!(ZX_ERR_INVALID_ARGS, unsafe {
        sys::zx_eventpair_create(0, core::ptr::null_mut(), &mut b)
    });
    check!(ZX_ERR_INVALID_ARGS, unsafe {
        sys::zx_eventpair_create(0, &mut a, UNMAPPED_ADDR as *mut u32)
    });
    Ok(())
}

fn eventpair_basics() -> R {
    let (a, b) = eventpair()?;
    let (ia, ib) = (basic(a.raw())?, basic(b.raw())?);
    eqx!(ia.rights, 0xF003);
    eqx!(ib.rights, 0xF003);
    eq!(ia.type_, ZX_OBJ_TYPE_EVENTPAIR);
    eq!(ia.related_koid, ib.koid);
    eq!(ib.related_koid, ia.koid);
    eq!(ia.props, ZX_OBJ_PROP_WAITABLE);
    let (_, obs) = wait(a.raw(), !0, 0);
    eqx!(obs, 0);
    Ok(())
}

fn eventpair_example() -> R {
    let (a, b) = eventpair()?;
    zx_ok!(signal_peer(a.raw(), 0, ZX_USER_SIGNAL_0));
    let mut obs = 0u32;
    zx_ok!(unsafe { sys::zx_object_wait_one(b.raw(), ZX_USER_SIGNAL_0, 0, &mut obs) });
    eqx!(obs, ZX_USER_SIGNAL_0);
    check!(
        ZX_ERR_INVALID_ARGS,
        signal(a.raw(), 0, ZX_EVENTPAIR_PEER_CLOSED)
    );
    let (_, obs) = wait(a.raw(), !0, 0);
    eqx!(obs, 0);
    Ok(())
}

fn eventpair_peer_closed() -> R {
    let (a, b) = eventpair()?;
    let a2 = dup(a.raw(), ZX_RIGHT_SAME_RIGHTS)?;
    drop(a);
    let (_, obs) = wait(b.raw(), !0, 0);
    eqx!(obs, 0);
    drop(a2);
    let (_, obs) = wait(b.raw(), !0, 0);
    eqx!(obs, ZX_EVENTPAIR_PEER_CLOSED);
    check!(
        ZX_ERR_PEER_CLOSED,
        signal_peer(b.raw(), 0, ZX_USER_SIGNAL_0)
    );
    zx_ok!(signal(b.raw(), 0, ZX_USER_SIGNAL_1));
    // Never user-settable or clearable.
    check!(
        ZX_ERR_INVALID_ARGS,
        signal(b.raw(), ZX_EVENTPAIR_PEER_CLOSED, 0)
    );
    let (_, obs) = wait(b.raw(), !0, 0);
    eqx!(obs, ZX_EVENTPAIR_PEER_CLOSED | ZX_USER_SIGNAL_1);
    Ok(())
}

fn eventpair_peer_bits() -> R {
    let (a, b) = eventpair()?;
    zx_ok!(signal_peer(
        a.raw(),
        0,
        ZX_EVENTPAIR_SIGNALED | ZX_USER_SIGNAL_7
    ));
    let (_, obs) = wait(b.raw(), !0, 0);
    eqx!(obs, ZX_EVENTPAIR_SIGNALED | ZX_USER_SIGNAL_7);
    zx_ok!(signal_peer(
        a.raw(),
        ZX_USER_SIGNAL_7 | ZX_USER_SIGNAL_2,
        ZX_USER_SIGNAL_2
    ));
    let (_, obs) = wait(b.raw(), !0, 0);
    eqx!(obs, ZX_EVENTPAIR_SIGNALED | ZX_USER_SIGNAL_2);
    for bad in [ZX_EVENTPAIR_PEER_CLOSED, 1, ZX_SIGNAL_HANDLE_CLOSED] {
        check!(ZX_ERR_INVALID_ARGS, signal_peer(a.raw(), 0, bad));
        check!(ZX_ERR_INVALID_ARGS, signal_peer(a.raw(), bad, 0));
    }
    let (_, obs) = wait(a.raw(), !0, 0);
    eqx!(obs, 0);
    Ok(())
}

fn signal_peer_order() -> R {
    check!(ZX_ERR_BAD_HANDLE, signal_peer(ZX_HANDLE_INVALID, 0, 0));
    check!(ZX_ERR_BAD_HANDLE, signal_peer(0x7FFF_FFF3, 0, 0));
    let (a, _b) = eventpair()?;
    let weak = dup(a.raw(), ZX_RIGHTS_BASIC | ZX_RIGHT_SIGNAL)?;
    check!(
        ZX_ERR_ACCESS_DENIED,
        signal_peer(weak.raw(), 0, ZX_USER_SIGNAL_0)
    );
    let p = port()?;
    check!(ZX_ERR_NOT_SUPPORTED, signal_peer(p.raw(), 0, 0));
    Ok(())
}

fn channel_signal_peer() -> R {
    let (a, b) = channel()?;
    zx_ok!(signal_peer(a.raw(), 0, ZX_USER_SIGNAL_4));
    let (_, obs) = wait(b.raw(), !0, 0);
    eqx!(obs, ZX_CHANNEL_WRITABLE | ZX_USER_SIGNAL_4);
    check!(
        ZX_ERR_INVALID_ARGS,
        signal_peer(a.raw(), 0, ZX_CHANNEL_READABLE)
    );
    check!(ZX_ERR_INVALID_ARGS, signal_peer(a.raw(), 0, 1 << 3));
    drop(b);
    check!(
        ZX_ERR_PEER_CLOSED,
        signal_peer(a.raw(), 0, ZX_USER_SIGNAL_0)
    );
    Ok(())
}

extern "C" fn signal_peer_after_entry(h: usize, delay: usize) -> ! {
    sleep_ns(delay as i64);
    unsafe {
        sys::zx_object_signal_peer(h as u32, 0, ZX_EVENTPAIR_SIGNALED);
    }
    thread_exit()
}

fn eventpair_wakes() -> R {
    let (a, b) = eventpair()?;
    let t = start_thread(
        signal_peer_after_entry,
        a.raw() as usize,
        (20 * MS) as usize,
    )?;
    let (s, obs) = wait(b.raw(), ZX_EVENTPAIR_SIGNALED, 5000 * MS);
    t.join(5000 * MS)?;
    eq!(sname(s), sname(ZX_OK));
    eqx!(obs, ZX_EVENTPAIR_SIGNALED);
    Ok(())
}

// ---- ports ------------------------------------------------------------------------------

fn port_create() -> R {
    let mut h = 0u32;
    check!(ZX_ERR_INVALID_ARGS, unsafe {
        sys::zx_port_create(2, &mut h)
    });
    check!(ZX_ERR_INVALID_ARGS, unsafe {
        sys::zx_port_create(0, core::ptr::null_mut())
    });
    zx_ok!(unsafe { sys::zx_port_create(ZX_PORT_BIND_TO_INTERRUPT, &mut h) });
    let bound = Owned::from_raw(h);
    let p = port()?;
    for h in [p.raw(), bound.raw()] {
        let b = basic(h)?;
        eqx!(b.rights, 0x800F);
        eq!(b.type_, ZX_OBJ_TYPE_PORT);
        eq!(b.props, 0);
    }
    Ok(())
}

fn port_fifo() -> R {
    let p = port()?;
    for i in 0..5u64 {
        zx_ok!(queue(p.raw(), &user_packet(100 + i, -(i as i32), i as u8)));
    }
    for i in 0..5u64 {
        let (s, got) = port_wait(p.raw(), 0);
        eq!(sname(s), sname(ZX_OK));
        eq!(got.key, 100 + i);
        eq!(got.type_, ZX_PKT_TYPE_USER);
        eq!(got.status, -(i as i32));
        eq!(got.payload, [i as u8; 32]);
    }
    let (s, _) = port_wait(p.raw(), 0);
    eq!(sname(s), sname(ZX_ERR_TIMED_OUT));
    Ok(())
}

fn port_rights() -> R {
    let packet = user_packet(1, 0, 0);
    check!(ZX_ERR_BAD_HANDLE, queue(ZX_HANDLE_INVALID, &packet));
    check!(ZX_ERR_BAD_HANDLE, port_wait(ZX_HANDLE_INVALID, 0).0);
    let e = event()?;
    check!(ZX_ERR_WRONG_TYPE, queue(e.raw(), &packet));
    check!(ZX_ERR_WRONG_TYPE, port_wait(e.raw(), 0).0);
    let p = port()?;
    let no_write = dup(p.raw(), ZX_RIGHT_READ)?;
    let no_read = dup(p.raw(), ZX_RIGHT_WRITE)?;
    check!(ZX_ERR_ACCESS_DENIED, queue(no_write.raw(), &packet));
    check!(ZX_ERR_ACCESS_DENIED, port_wait(no_read.raw(), 0).0);
    // The handle before the pointer.
    check!(ZX_ERR_BAD_HANDLE, unsafe {
        sys::zx_port_queue(ZX_HANDLE_INVALID, core::ptr::null())
    });
    check!(ZX_ERR_INVALID_ARGS, unsafe {
        sys::zx_port_queue(p.raw(), core::ptr::null())
    });
    zx_ok!(queue(no_read.raw(), &packet));
    let (s, _) = port_wait(no_write.raw(), 0);
    eq!(sname(s), sname(ZX_OK));
    Ok(())
}

fn port_capacity() -> R {
    let p = port()?;
    for i in 0..2048u64 {
        let s = queue(p.raw(), &user_packet(i, 0, 0));
        ensure!(s == ZX_OK, "packet {i}: {}", sname(s));
    }
    check!(ZX_ERR_SHOULD_WAIT, queue(p.raw(), &user_packet(9999, 0, 0)));
    // Signal packets never count.
    let e = event()?;
    zx_ok!(signal(e.raw(), 0, ZX_EVENT_SIGNALED));
    zx_ok!(wait_async(e.raw(), p.raw(), 7, ZX_EVENT_SIGNALED, 0));
    let (s, got) = port_wait(p.raw(), 0);
    eq!(sname(s), sname(ZX_OK));
    eq!(got.key, 0);
    zx_ok!(queue(p.raw(), &user_packet(2048, 0, 0)));
    check!(ZX_ERR_SHOULD_WAIT, queue(p.raw(), &user_packet(9999, 0, 0)));
    // Drain: FIFO across kinds; the signal packet sits after packet 2047.
    let mut signal_seen = 0;
    let mut next = 1u64;
    for _ in 0..2049 {
        let (s, got) = port_wait(p.raw(), 0);
        eq!(sname(s), sname(ZX_OK));
        if got.type_ == ZX_PKT_TYPE_SIGNAL_ONE {
            eq!(got.key, 7);
            eq!(next, 2048);
            signal_seen += 1;
        } else {
            eq!(got.key, next);
            next += 1;
        }
    }
    eq!(signal_seen, 1);
    Ok(())
}

fn port_deadlines() -> R {
    let p = port()?;
    for deadline in [0i64, ZX_TIME_INFINITE_PAST, now() - 1000 * MS] {
        let start = now();
        check!(ZX_ERR_TIMED_OUT, port_wait(p.raw(), deadline).0);
        ensure!(now() - start < 500 * MS, "a past deadline blocked");
    }
    let start = now();
    check!(ZX_ERR_TIMED_OUT, port_wait(p.raw(), after(30 * MS)).0);
    let took = now() - start;
    ensure!(
        took >= 30 * MS,
        "returned after {took} ns, before the deadline"
    );
    ensure!(took < 3000 * MS, "returned after {took} ns");
    // A queued packet is returned even with a past deadline.
    zx_ok!(queue(p.raw(), &user_packet(5, 0, 0)));
    eq!(port_wait(p.raw(), 0).1.key, 5);
    Ok(())
}

fn port_bad_packet() -> R {
    let p = port()?;
    for bad in [0usize, KERNEL_ADDR, UNMAPPED_ADDR, rodata_addr()] {
        let start = now();
        check!(ZX_ERR_INVALID_ARGS, unsafe {
            sys::zx_port_wait(p.raw(), ZX_TIME_INFINITE, bad as *mut _)
        });
        ensure!(
            now() - start < 1000 * MS,
            "blocked before checking {bad:#x}"
        );
    }
    for bad in [0usize, KERNEL_ADDR, UNMAPPED_ADDR] {
        check!(ZX_ERR_INVALID_ARGS, unsafe {
            sys::zx_port_queue(p.raw(), bad as *const _)
        });
    }
    // Nothing was queued by the failures.
    check!(ZX_ERR_TIMED_OUT, port_wait(p.raw(), 0).0);
    Ok(())
}

fn not_waitable() -> R {
    let p = port()?;
    let p2 = port()?;
    let vmar = root_vmar();
    let e = event()?;
    for h in [p.raw(), vmar] {
        let mut obs = 0;
        check!(ZX_ERR_NOT_SUPPORTED, unsafe {
            sys::zx_object_wait_one(h, ZX_USER_SIGNAL_0, 0, &mut obs)
        });
        let mut items = [item(e.raw(), ZX_USER_SIGNAL_0), item(h, ZX_USER_SIGNAL_0)];
        check!(ZX_ERR_NOT_SUPPORTED, wait_many(&mut items, 0));
        check!(
            ZX_ERR_NOT_SUPPORTED,
            wait_async(h, p2.raw(), 1, ZX_USER_SIGNAL_0, 0)
        );
        check!(ZX_ERR_NOT_SUPPORTED, unsafe {
            sys::zx_port_cancel(p2.raw(), h, 1)
        });
    }
    let b = basic(vmar)?;
    eq!(b.props, 0);
    let v = vmo(PAGE)?;
    eq!(basic(v.raw())?.props, ZX_OBJ_PROP_WAITABLE);
    Ok(())
}

fn wait_async_contents() -> R {
    let p = port()?;
    let e = event()?;
    zx_ok!(wait_async(
        e.raw(),
        p.raw(),
        0xABCD,
        ZX_USER_SIGNAL_1 | ZX_EVENT_SIGNALED,
        0
    ));
    check!(ZX_ERR_TIMED_OUT, port_wait(p.raw(), 0).0);
    zx_ok!(signal(e.raw(), 0, ZX_USER_SIGNAL_5));
    check!(ZX_ERR_TIMED_OUT, port_wait(p.raw(), 0).0);
    zx_ok!(signal(e.raw(), 0, ZX_USER_SIGNAL_1));
    let (s, got) = port_wait(p.raw(), 0);
    eq!(sname(s), sname(ZX_OK));
    eq!(got.key, 0xABCD);
    eq!(got.type_, ZX_PKT_TYPE_SIGNAL_ONE);
    eq!(got.status, ZX_OK);
    let sig = signal_of(&got);
    eqx!(sig.trigger, ZX_USER_SIGNAL_1 | ZX_EVENT_SIGNALED);
    eqx!(sig.observed, ZX_USER_SIGNAL_1 | ZX_USER_SIGNAL_5);
    eq!(sig.count, 1);
    eq!(sig.timestamp, 0);
    eq!(sig.reserved1, 0);
    Ok(())
}

fn wait_async_at_once() -> R {
    let p = port()?;
    let (a, _b) = channel()?;
    zx_ok!(wait_async(a.raw(), p.raw(), 3, ZX_CHANNEL_WRITABLE, 0));
    let (s, got) = port_wait(p.raw(), 0);
    eq!(sname(s), sname(ZX_OK));
    eq!(got.key, 3);
    eqx!(signal_of(&got).observed, ZX_CHANNEL_WRITABLE);
    check!(ZX_ERR_TIMED_OUT, port_wait(p.raw(), 0).0);
    Ok(())
}

fn wait_async_timestamp() -> R {
    let p = port()?;
    let e = event()?;
    let before = now();
    zx_ok!(wait_async(
        e.raw(),
        p.raw(),
        1,
        ZX_EVENT_SIGNALED,
        ZX_WAIT_ASYNC_TIMESTAMP
    ));
    zx_ok!(signal(e.raw(), 0, ZX_EVENT_SIGNALED));
    let after_signal = now();
    let (s, got) = port_wait(p.raw(), 0);
    eq!(sname(s), sname(ZX_OK));
    let ts = signal_of(&got).timestamp;
    ensure!(
        ts >= before && ts <= after_signal,
        "timestamp {ts} outside [{before}, {after_signal}]"
    );
    Ok(())
}

fn wait_async_one_shot() -> R {
    let p = port()?;
    let e = event()?;
    zx_ok!(wait_async(e.raw(), p.raw(), 1, ZX_USER_SIGNAL_0, 0));
    for _ in 0..3 {
        zx_ok!(signal(e.raw(), 0, ZX_USER_SIGNAL_0));
        zx_ok!(signal(e.raw(), ZX_USER_SIGNAL_0, 0));
    }
    check!(ZX_OK, port_wait(p.raw(), 0).0);
    check!(ZX_ERR_TIMED_OUT, port_wait(p.raw(), 0).0);
    // The registration ended: cancel finds nothing.
    check!(ZX_ERR_NOT_FOUND, unsafe {
        sys::zx_port_cancel(p.raw(), e.raw(), 1)
    });
    Ok(())
}

fn wait_async_order() -> R {
    let p = port()?;
    let e = event()?;
    check!(
        ZX_ERR_BAD_HANDLE,
        wait_async(ZX_HANDLE_INVALID, p.raw(), 0, 1, 99)
    );
    check!(
        ZX_ERR_NOT_SUPPORTED,
        wait_async(p.raw(), ZX_HANDLE_INVALID, 0, 1, 99)
    );
    check!(
        ZX_ERR_BAD_HANDLE,
        wait_async(e.raw(), ZX_HANDLE_INVALID, 0, 1, 99)
    );
    check!(ZX_ERR_WRONG_TYPE, wait_async(e.raw(), e.raw(), 0, 1, 99));
    let no_write = dup(p.raw(), ZX_RIGHT_READ)?;
    check!(
        ZX_ERR_ACCESS_DENIED,
        wait_async(e.raw(), no_write.raw(), 0, 1, 99)
    );
    check!(ZX_ERR_INVALID_ARGS, wait_async(e.raw(), p.raw(), 0, 1, 2));
    check!(
        ZX_ERR_INVALID_ARGS,
        wait_async(e.raw(), p.raw(), 0, 1, 0x8000_0000)
    );
    // No right needed on the watched handle.
    let bare = dup(e.raw(), ZX_RIGHT_NONE)?;
    zx_ok!(wait_async(bare.raw(), p.raw(), 0, ZX_USER_SIGNAL_0, 0));
    // The failures registered nothing.
    zx_ok!(signal(e.raw(), 0, 1 << 24 | ZX_EVENT_SIGNALED));
    check!(ZX_OK, port_wait(p.raw(), 0).0);
    check!(ZX_ERR_TIMED_OUT, port_wait(p.raw(), 0).0);
    Ok(())
}

fn wait_async_close_watched() -> R {
    let p = port()?;
    let e = event()?;
    let e2 = dup(e.raw(), ZX_RIGHT_SAME_RIGHTS)?;
    zx_ok!(wait_async(e2.raw(), p.raw(), 1, ZX_USER_SIGNAL_0, 0));
    drop(e2);
    zx_ok!(signal(e.raw(), 0, ZX_USER_SIGNAL_0));
    check!(ZX_ERR_TIMED_OUT, port_wait(p.raw(), 0).0);
    // A packet queued before the close stays.
    let e3 = dup(e.raw(), ZX_RIGHT_SAME_RIGHTS)?;
    zx_ok!(wait_async(e3.raw(), p.raw(), 2, ZX_USER_SIGNAL_0, 0));
    drop(e3);
    let (s, got) = port_wait(p.raw(), 0);
    eq!(sname(s), sname(ZX_OK));
    eq!(got.key, 2);
    Ok(())
}

fn port_cancel() -> R {
    let p = port()?;
    let e = event()?;
    zx_ok!(wait_async(e.raw(), p.raw(), 1, ZX_USER_SIGNAL_0, 0));
    zx_ok!(wait_async(e.raw(), p.raw(), 1, ZX_USER_SIGNAL_1, 0));
    zx_ok!(wait_async(e.raw(), p.raw(), 2, ZX_USER_SIGNAL_0, 0));
    check!(ZX_ERR_NOT_FOUND, unsafe {
        sys::zx_port_cancel(p.raw(), e.raw(), 3)
    });
    zx_ok!(unsafe { sys::zx_port_cancel(p.raw(), e.raw(), 1) });
    check!(ZX_ERR_NOT_FOUND, unsafe {
        sys::zx_port_cancel(p.raw(), e.raw(), 1)
    });
    zx_ok!(signal(e.raw(), 0, ZX_USER_SIGNAL_0 | ZX_USER_SIGNAL_1));
    let (s, got) = port_wait(p.raw(), 0);
    eq!(sname(s), sname(ZX_OK));
    eq!(got.key, 2);
    check!(ZX_ERR_TIMED_OUT, port_wait(p.raw(), 0).0);
    // Queued packets of the key go too; other handles' are kept.
    let e2 = dup(e.raw(), ZX_RIGHT_SAME_RIGHTS)?;
    zx_ok!(wait_async(e.raw(), p.raw(), 5, ZX_USER_SIGNAL_0, 0));
    zx_ok!(wait_async(e2.raw(), p.raw(), 5, ZX_USER_SIGNAL_0, 0));
    zx_ok!(queue(p.raw(), &user_packet(5, 0, 0)));
    zx_ok!(unsafe { sys::zx_port_cancel(p.raw(), e.raw(), 5) });
    let (s, got) = port_wait(p.raw(), 0);
    eq!(sname(s), sname(ZX_OK));
    eq!(got.type_, ZX_PKT_TYPE_SIGNAL_ONE);
    let (s, got) = port_wait(p.raw(), 0);
    eq!(sname(s), sname(ZX_OK));
    eq!(got.type_, ZX_PKT_TYPE_USER);
    check!(ZX_ERR_TIMED_OUT, port_wait(p.raw(), 0).0);
    Ok(())
}

fn port_cancel_order() -> R {
    let p = port()?;
    let e = event()?;
    check!(ZX_ERR_BAD_HANDLE, unsafe {
        sys::zx_port_cancel(ZX_HANDLE_INVALID, ZX_HANDLE_INVALID, 0)
    });
    check!(ZX_ERR_WRONG_TYPE, unsafe {
        sys::zx_port_cancel(e.raw(), ZX_HANDLE_INVALID, 0)
    });
    let no_write = dup(p.raw(), ZX_RIGHT_READ)?;
    check!(ZX_ERR_ACCESS_DENIED, unsafe {
        sys::zx_port_cancel(no_write.raw(), ZX_HANDLE_INVALID, 0)
    });
    check!(ZX_ERR_BAD_HANDLE, unsafe {
        sys::zx_port_cancel(p.raw(), ZX_HANDLE_INVALID, 0)
    });
    check!(ZX_ERR_NOT_SUPPORTED, unsafe {
        sys::zx_port_cancel(p.raw(), p.raw(), 0)
    });
    let bare = dup(e.raw(), ZX_RIGHT_NONE)?;
    check!(ZX_ERR_NOT_FOUND, unsafe {
        sys::zx_port_cancel(p.raw(), bare.raw(), 0)
    });
    Ok(())
}

extern "C" fn close_after_entry(h: usize, delay: usize) -> ! {
    sleep_ns(delay as i64);
    unsafe {
        sys::zx_handle_close(h as u32);
    }
    thread_exit()
}

fn port_wait_canceled() -> R {
    let p = port()?.into_raw();
    let keep = dup(p, ZX_RIGHT_SAME_RIGHTS)?;
    let t = start_thread(close_after_entry, p as usize, (50 * MS) as usize)?;
    let start = now();
    let (s, _) = port_wait(p, after(10_000 * MS));
    t.join(5000 * MS)?;
    eq!(sname(s), sname(ZX_ERR_CANCELED));
    ensure!(now() - start < 5000 * MS, "not woken by the close");
    // The port lives on through the other handle, with no waiter left behind.
    zx_ok!(queue(keep.raw(), &user_packet(1, 0, 0)));
    check!(ZX_OK, port_wait(keep.raw(), 0).0);
    Ok(())
}

extern "C" fn queue_after_entry(h: usize, delay: usize) -> ! {
    sleep_ns(delay as i64);
    unsafe {
        sys::zx_port_queue(h as u32, &user_packet(77, 0, 7));
    }
    thread_exit()
}

fn port_woken() -> R {
    let p = port()?;
    let t = start_thread(queue_after_entry, p.raw() as usize, (30 * MS) as usize)?;
    let (s, got) = port_wait(p.raw(), after(10_000 * MS));
    t.join(5000 * MS)?;
    eq!(sname(s), sname(ZX_OK));
    eq!(got.key, 77);
    Ok(())
}

static GOT: [AtomicU32; 8] = [const { AtomicU32::new(0) }; 8];
static FAILS: AtomicUsize = AtomicUsize::new(0);
static DONE: AtomicUsize = AtomicUsize::new(0);

/// Waits for one packet (10 s) and counts its key (0..8) in `GOT`.
extern "C" fn one_packet_entry(p: usize, _: usize) -> ! {
    let (s, got) = port_wait(p as u32, after(10_000 * MS));
    if s == ZX_OK && (got.key as usize) < GOT.len() {
        GOT[got.key as usize].fetch_add(1, Ordering::SeqCst);
    } else {
        FAILS.fetch_add(1, Ordering::SeqCst);
    }
    DONE.fetch_add(1, Ordering::SeqCst);
    thread_exit()
}

fn reset_counts() {
    for g in &GOT {
        g.store(0, Ordering::SeqCst);
    }
    FAILS.store(0, Ordering::SeqCst);
    DONE.store(0, Ordering::SeqCst);
}

fn check_each_once(n: usize) -> R {
    ensure!(
        FAILS.load(Ordering::SeqCst) == 0,
        "{} waiters failed",
        FAILS.load(Ordering::SeqCst)
    );
    for (i, g) in GOT.iter().enumerate().take(n) {
        let c = g.load(Ordering::SeqCst);
        ensure!(c == 1, "packet {i} received {c} times");
    }
    Ok(())
}

fn port_exactly_once() -> R {
    for round in 0..3 {
        reset_counts();
        let p = port()?;
        let n = 6;
        let mut threads = Vec::new();
        for _ in 0..n {
            threads.push(start_thread(one_packet_entry, p.raw() as usize, 0)?);
        }
        sleep_ns(if round == 0 { 20 * MS } else { 0 });
        for k in 0..n as u64 {
            zx_ok!(queue(p.raw(), &user_packet(k, 0, 0)));
        }
        for t in threads {
            t.join(10_000 * MS)?;
        }
        check_each_once(n)?;
        check!(ZX_ERR_TIMED_OUT, port_wait(p.raw(), 0).0);
    }
    Ok(())
}

fn port_signal_exactly_once() -> R {
    reset_counts();
    let p = port()?;
    let n = 6;
    let mut events = Vec::new();
    for k in 0..n as u64 {
        let e = event()?;
        zx_ok!(wait_async(e.raw(), p.raw(), k, ZX_EVENT_SIGNALED, 0));
        events.push(e);
    }
    let mut threads = Vec::new();
    for _ in 0..n {
        threads.push(start_thread(one_packet_entry, p.raw() as usize, 0)?);
    }
    sleep_ns(5 * MS);
    for e in &events {
        zx_ok!(signal(e.raw(), 0, ZX_EVENT_SIGNALED));
    }
    for t in threads {
        t.join(10_000 * MS)?;
    }
    check_each_once(n)?;
    check!(ZX_ERR_TIMED_OUT, port_wait(p.raw(), 0).0);
    Ok(())
}

fn port_close_no_leak() -> R {
    let events: Vec<Owned> = (0..8).map(|_| event()).collect::<Result<_, _>>()?;
    expect_no_kernel_leak(2, 10, || {
        let p = port()?;
        for i in 0..400u64 {
            let e = &events[(i % 8) as usize];
            zx_ok!(wait_async(
                e.raw(),
                p.raw(),
                i,
                ZX_USER_SIGNAL_0,
                i as u32 & 1
            ));
        }
        // Some fired and queued, the rest armed.
        zx_ok!(signal(events[0].raw(), 0, ZX_USER_SIGNAL_0));
        zx_ok!(signal(events[0].raw(), ZX_USER_SIGNAL_0, 0));
        drop(p);
        Ok(())
    })?;
    // The events carry no leftover registration: a new wait works as usual.
    let p = port()?;
    zx_ok!(wait_async(events[1].raw(), p.raw(), 1, ZX_USER_SIGNAL_0, 0));
    zx_ok!(signal(events[1].raw(), 0, ZX_USER_SIGNAL_0));
    check!(ZX_OK, port_wait(p.raw(), 0).0);
    Ok(())
}

fn port_full_no_leak() -> R {
    expect_no_kernel_leak(1, 4, || {
        let p = port()?;
        for i in 0..2048u64 {
            zx_ok!(queue(p.raw(), &user_packet(i, 0, 0)));
        }
        let e = event()?;
        for i in 0..100u64 {
            zx_ok!(wait_async(e.raw(), p.raw(), i, ZX_USER_SIGNAL_0, 0));
        }
        drop(p);
        drop(e);
        Ok(())
    })
}

fn port_safe_api() -> R {
    let port = ok!(zx::Port::create());
    let event = ok!(zx::Event::create());
    ok!(port.wait_async(&event, 9, zx::Signals::USER_0, zx::WaitAsyncOpts::Once));
    ok!(event.signal_handle(zx::Signals::NONE, zx::Signals::USER_0));
    let packet = ok!(port.wait(zx::Time::INFINITE));
    eq!(packet.key(), 9);
    ensure!(
        packet.observed() == Some(zx::Signals::USER_0),
        "observed {:?}",
        packet.observed()
    );
    ok!(port.queue(&zx::Packet::from_user(4, zx::Status::OK, [1; 32])));
    let packet = ok!(port.wait(zx::Time::INFINITE_PAST));
    ensure!(
        packet.contents() == zx::PacketContents::User([1; 32]),
        "contents {:?}",
        packet.contents()
    );
    let (a, b) = ok!(zx::EventPair::create());
    ok!(a.signal_peer(zx::Signals::NONE, zx::Signals::USER_1));
    ok!(b.wait_handle(zx::Signals::USER_1, zx::Time::INFINITE_PAST));
    ok!(b.wait_async_handle(&port, 1, zx::Signals::USER_1, zx::WaitAsyncOpts::Timestamp));
    ok!(port.wait(zx::Time::INFINITE_PAST));
    ok!(b.wait_async_handle(&port, 2, zx::Signals::USER_2, zx::WaitAsyncOpts::Once));
    ok!(port.cancel(&b, 2));
    check_err!(ZX_ERR_NOT_FOUND, port.cancel(&b, 2));
    Ok(())
}

// ---- wait_many --------------------------------------------------------------------------

fn wait_many_bound() -> R {
    check!(ZX_ERR_OUT_OF_RANGE, unsafe {
        sys::zx_object_wait_many(core::ptr::null_mut(), 65, 0)
    });
    check!(ZX_ERR_OUT_OF_RANGE, unsafe {
        sys::zx_object_wait_many(core::ptr::null_mut(), usize::MAX, 0)
    });
    check!(ZX_ERR_OUT_OF_RANGE, unsafe {
        sys::zx_object_wait_many(core::ptr::null_mut(), 1 << 32 | 1, 0)
    });
    Ok(())
}

fn wait_many_bad_items() -> R {
    for bad in [0usize, KERNEL_ADDR, UNMAPPED_ADDR] {
        check!(ZX_ERR_INVALID_ARGS, unsafe {
            sys::zx_object_wait_many(bad as *mut _, 1, ZX_TIME_INFINITE)
        });
    }
    // Items are written back: read-only memory is refused before the wait.
    check!(ZX_ERR_INVALID_ARGS, unsafe {
        sys::zx_object_wait_many(rodata_addr() as *mut _, 1, ZX_TIME_INFINITE)
    });
    Ok(())
}

fn wait_many_zero() -> R {
    let start = now();
    check!(ZX_ERR_TIMED_OUT, unsafe {
        sys::zx_object_wait_many(core::ptr::null_mut(), 0, after(20 * MS))
    });
    let took = now() - start;
    ensure!(took >= 20 * MS, "returned after {took} ns");
    check!(ZX_ERR_TIMED_OUT, unsafe {
        sys::zx_object_wait_many(core::ptr::null_mut(), 0, 0)
    });
    Ok(())
}

fn wait_many_order() -> R {
    let e = event()?;
    let p = port()?;
    zx_ok!(signal(e.raw(), 0, ZX_USER_SIGNAL_0));
    // The first failure in order wins, even when an earlier item is satisfied.
    let mut items = [
        item(e.raw(), ZX_USER_SIGNAL_0),
        item(0x7FFF_FFF3, 1),
        item(p.raw(), 1),
    ];
    check!(ZX_ERR_BAD_HANDLE, wait_many(&mut items, ZX_TIME_INFINITE));
    let mut items = [
        item(e.raw(), ZX_USER_SIGNAL_0),
        item(p.raw(), 1),
        item(0x7FFF_FFF3, 1),
    ];
    check!(
        ZX_ERR_NOT_SUPPORTED,
        wait_many(&mut items, ZX_TIME_INFINITE)
    );
    let mut items = [item(ZX_HANDLE_INVALID, 1)];
    check!(ZX_ERR_BAD_HANDLE, wait_many(&mut items, 0));
    Ok(())
}

fn wait_many_ok() -> R {
    let e = event()?;
    let (a, _b) = channel()?;
    let v = vmo(PAGE)?;
    zx_ok!(signal(e.raw(), 0, ZX_USER_SIGNAL_2));
    let mut items = [
        item(a.raw(), ZX_CHANNEL_READABLE),
        item(v.raw(), ZX_USER_SIGNAL_0),
        item(e.raw(), ZX_USER_SIGNAL_2),
    ];
    zx_ok!(wait_many(&mut items, ZX_TIME_INFINITE));
    eqx!(items[0].pending, ZX_CHANNEL_WRITABLE);
    eqx!(items[1].pending, ZX_VMO_ZERO_CHILDREN);
    eqx!(items[2].pending, ZX_USER_SIGNAL_2);
    eqx!(items[2].waitfor, ZX_USER_SIGNAL_2);
    eq!(items[2].handle, e.raw());
    Ok(())
}

fn wait_many_timeout() -> R {
    let e = event()?;
    let (a, _b) = channel()?;
    let mut items = [
        item(a.raw(), ZX_CHANNEL_READABLE),
        item(e.raw(), ZX_USER_SIGNAL_0),
    ];
    let start = now();
    check!(ZX_ERR_TIMED_OUT, wait_many(&mut items, after(25 * MS)));
    ensure!(now() - start >= 25 * MS, "returned before the deadline");
    eqx!(items[0].pending, ZX_CHANNEL_WRITABLE);
    eqx!(items[1].pending, 0);
    let mut items = [item(e.raw(), ZX_USER_SIGNAL_0)];
    check!(ZX_ERR_TIMED_OUT, wait_many(&mut items, 0));
    eqx!(items[0].pending, 0);
    Ok(())
}

extern "C" fn signal_after_entry(h: usize, delay: usize) -> ! {
    sleep_ns(delay as i64);
    unsafe {
        sys::zx_object_signal(h as u32, 0, ZX_USER_SIGNAL_3);
    }
    thread_exit()
}

fn wait_many_woken() -> R {
    let e1 = event()?;
    let e2 = event()?;
    let t = start_thread(signal_after_entry, e2.raw() as usize, (30 * MS) as usize)?;
    let mut items = [
        item(e1.raw(), ZX_USER_SIGNAL_3),
        item(e2.raw(), ZX_USER_SIGNAL_3),
    ];
    let s = wait_many(&mut items, after(10_000 * MS));
    t.join(5000 * MS)?;
    eq!(sname(s), sname(ZX_OK));
    eqx!(items[0].pending, 0);
    eqx!(items[1].pending, ZX_USER_SIGNAL_3);
    Ok(())
}

fn wait_many_canceled() -> R {
    let e1 = event()?;
    zx_ok!(signal(e1.raw(), 0, ZX_USER_SIGNAL_6));
    let e2 = event()?.into_raw();
    let t = start_thread(close_after_entry, e2 as usize, (30 * MS) as usize)?;
    let mut items = [item(e1.raw(), ZX_USER_SIGNAL_0), item(e2, ZX_USER_SIGNAL_0)];
    let s = wait_many(&mut items, after(10_000 * MS));
    t.join(5000 * MS)?;
    eq!(sname(s), sname(ZX_ERR_CANCELED));
    eqx!(items[0].pending, ZX_USER_SIGNAL_6);
    ensure!(
        items[1].pending & ZX_SIGNAL_HANDLE_CLOSED != 0,
        "pending {:#x} lacks HANDLE_CLOSED",
        items[1].pending
    );
    check!(ZX_ERR_BAD_HANDLE, valid(e2));
    Ok(())
}

fn wait_many_twice() -> R {
    let e = event()?;
    let mut items = [
        item(e.raw(), ZX_USER_SIGNAL_0),
        item(e.raw(), ZX_USER_SIGNAL_1),
    ];
    check!(ZX_ERR_TIMED_OUT, wait_many(&mut items, after(2 * MS)));
    let t = start_thread(signal_after_entry, e.raw() as usize, (10 * MS) as usize)?;
    let mut items: Vec<zx_wait_item_t> = (0..64)
        .map(|i| {
            item(
                e.raw(),
                if i == 63 {
                    ZX_USER_SIGNAL_3
                } else {
                    ZX_USER_SIGNAL_0
                },
            )
        })
        .collect();
    let s = wait_many(&mut items, after(10_000 * MS));
    t.join(5000 * MS)?;
    eq!(sname(s), sname(ZX_OK));
    for it in &items {
        eqx!(it.pending, ZX_USER_SIGNAL_3);
    }
    Ok(())
}

fn wait_many_no_leak() -> R {
    let e = event()?;
    let (a, _b) = channel()?;
    expect_no_kernel_leak(2, 20, || {
        let mut items = [
            item(e.raw(), ZX_USER_SIGNAL_0),
            item(a.raw(), ZX_CHANNEL_READABLE),
        ];
        check!(ZX_ERR_TIMED_OUT, wait_many(&mut items, after(MS / 2)));
        Ok(())
    })
}

fn wait_many_safe_api() -> R {
    let e = ok!(zx::Event::create());
    let (a, b) = ok!(zx::EventPair::create());
    ok!(b.signal_peer(zx::Signals::NONE, zx::Signals::EVENTPAIR_SIGNALED));
    let mut items = [
        zx::WaitItem::new(&e, zx::Signals::EVENT_SIGNALED),
        zx::WaitItem::new(&a, zx::Signals::EVENTPAIR_SIGNALED),
    ];
    ok!(zx::object_wait_many(&mut items, zx::Time::INFINITE));
    ensure!(
        items[1].pending() == zx::Signals::EVENTPAIR_SIGNALED,
        "{:?}",
        items[1].pending()
    );
    ensure!(
        items[0].pending() == zx::Signals::NONE,
        "{:?}",
        items[0].pending()
    );
    Ok(())
}

fn port_process_exit() -> R {
    let e = event()?;
    let p = port()?;
    expect_no_kernel_leak(1, 4, || {
        let child_event = dup(e.raw(), ZX_RIGHT_SAME_RIGHTS)?;
        let child_port = dup(p.raw(), ZX_RIGHT_SAME_RIGHTS)?;
        let code = run_child(
            &["wait-async-exit"],
            alloc::vec![child_event.into_raw(), child_port.into_raw()],
            10_000 * MS,
        )?;
        eq!(code, 0);
        // The child's registrations went with its handles: no signal packet comes.
        zx_ok!(signal(e.raw(), 0, ZX_USER_SIGNAL_0 | ZX_USER_SIGNAL_1));
        zx_ok!(signal(e.raw(), ZX_USER_SIGNAL_0 | ZX_USER_SIGNAL_1, 0));
        // Its queued packet on the shared port stays, alone.
        let (s, got) = port_wait(p.raw(), 0);
        eq!(sname(s), sname(ZX_OK));
        eq!(got.key, 2);
        eq!(got.type_, ZX_PKT_TYPE_USER);
        check!(ZX_ERR_TIMED_OUT, port_wait(p.raw(), 0).0);
        Ok(())
    })
}
