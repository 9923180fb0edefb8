//! Timers (`zx_timer_*`, `ZX_INFO_TIMER`), deadlines finer than the scheduler tick, and the
//! random generator (`zx_cprng_draw`, `zx_cprng_add_entropy`): sections 4 and 9 of
//! zx-abi-objects.md.

use crate::harness::Case;
use crate::util::*;
use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicI32, AtomicI64, AtomicU32, Ordering};

pub const CASES: &[Case] = &[
    ("timer_create_options_and_clock", create_args),
    ("timer_create_default_rights_and_type", create_rights),
    (
        "timer_calls_lookup_order_and_write_right",
        lookup_and_rights,
    ),
    ("timer_set_negative_slack_out_of_range", negative_slack),
    ("timer_fires_not_before_deadline_minus_slack", not_before),
    ("timer_100us_fires_well_within_the_tick", latency_timer),
    (
        "timer_nanosleep_100us_well_within_the_tick",
        latency_nanosleep,
    ),
    (
        "timer_wait_one_deadline_100us_within_the_tick",
        latency_wait,
    ),
    ("timer_past_deadline_fires_at_once", past_deadline),
    ("timer_infinite_deadline_never_fires", infinite_deadline),
    ("timer_cancel_disarms_and_clears", cancel),
    ("timer_set_again_replaces_deadline_and_clears", reset),
    ("timer_info_reports_armed_state", info),
    ("timer_many_threads_woken_once_each", many_threads),
    ("timer_many_timers_each_fire", many_timers),
    ("timer_close_while_armed_frees_it", close_armed),
    (
        "timer_close_cancels_waiter_on_other_thread",
        close_cancels_waiter,
    ),
    ("cprng_two_draws_differ", draws_differ),
    ("cprng_large_and_odd_sized_draws", large_draws),
    ("cprng_zero_size_is_a_no_op", zero_draw),
    ("cprng_bad_buffer_kills_the_process", bad_buffer_kills),
    ("cprng_add_entropy_bounds_and_buffer", add_entropy),
];

const US: i64 = 1000;

fn timer(options: u32) -> Result<Owned, String> {
    let mut h = 0u32;
    // SAFETY: valid out pointer.
    let s = unsafe { sys::zx_timer_create(options, ZX_CLOCK_MONOTONIC, &mut h) };
    if s != ZX_OK {
        return Err(format!("zx_timer_create setup: {}", sname(s)));
    }
    Ok(Owned::from_raw(h))
}

fn set(h: u32, deadline: i64, slack: i64) -> i32 {
    // SAFETY: plain values.
    unsafe { sys::zx_timer_set(h, deadline, slack) }
}

fn cancel_raw(h: u32) -> i32 {
    // SAFETY: plain values.
    unsafe { sys::zx_timer_cancel(h) }
}

/// Waits for SIGNALED until the absolute `deadline`; returns the status and when it returned.
fn wait_signaled(h: u32, deadline: i64) -> (i32, i64) {
    let mut obs = 0u32;
    // SAFETY: valid out pointer.
    let s = unsafe { sys::zx_object_wait_one(h, ZX_TIMER_SIGNALED, deadline, &mut obs) };
    (s, now())
}

fn is_signaled(h: u32) -> Result<bool, String> {
    Ok(signals(h)? & ZX_TIMER_SIGNALED != 0)
}

fn create_args() -> R {
    for options in [
        ZX_TIMER_SLACK_CENTER,
        ZX_TIMER_SLACK_EARLY,
        ZX_TIMER_SLACK_LATE,
    ] {
        timer(options)?;
    }
    let mut h = 0u32;
    for options in [3u32, 4, 0x8000_0000, u32::MAX] {
        check!(ZX_ERR_INVALID_ARGS, unsafe {
            sys::zx_timer_create(options, ZX_CLOCK_MONOTONIC, &mut h)
        });
    }
    for clock in [1u32, 2, u32::MAX] {
        check!(ZX_ERR_INVALID_ARGS, unsafe {
            sys::zx_timer_create(0, clock, &mut h)
        });
    }
    // A bad out pointer: INVALID_ARGS.
    check!(ZX_ERR_INVALID_ARGS, unsafe {
        sys::zx_timer_create(0, ZX_CLOCK_MONOTONIC, core::ptr::null_mut())
    });
    check!(ZX_ERR_INVALID_ARGS, unsafe {
        sys::zx_timer_create(
            0,
            ZX_CLOCK_MONOTONIC,
            0xffff_0000_0000_0000usize as *mut u32,
        )
    });
    Ok(())
}

fn create_rights() -> R {
    let t = timer(0)?;
    let b = basic(t.raw())?;
    eq!(b.type_, ZX_OBJ_TYPE_TIMER);
    eqx!(b.rights, ZX_DEFAULT_TIMER_RIGHTS);
    eqx!(b.rights, 0xD00Bu32);
    eq!(b.related_koid, 0u64);
    eqx!(signals(t.raw())?, 0u32);
    Ok(())
}

fn lookup_and_rights() -> R {
    let t = timer(0)?;
    // Without WRITE: set and cancel are denied, and change nothing.
    let ro = dup(t.raw(), ZX_RIGHTS_BASIC)?;
    check!(ZX_ERR_ACCESS_DENIED, set(ro.raw(), now() - 1, 0));
    check!(ZX_ERR_ACCESS_DENIED, cancel_raw(ro.raw()));
    ensure!(!is_signaled(t.raw())?, "a denied set fired the timer");
    // Not a timer.
    let v = vmo(PAGE)?;
    check!(ZX_ERR_WRONG_TYPE, set(v.raw(), 0, 0));
    check!(ZX_ERR_WRONG_TYPE, cancel_raw(v.raw()));
    // Bad handles, before the slack check.
    check!(ZX_ERR_BAD_HANDLE, set(ZX_HANDLE_INVALID, 0, -1));
    check!(ZX_ERR_BAD_HANDLE, set(0x7fff_fff0, 0, 0));
    check!(ZX_ERR_BAD_HANDLE, cancel_raw(ZX_HANDLE_INVALID));
    // The right comes before the slack: ACCESS_DENIED, not OUT_OF_RANGE.
    check!(ZX_ERR_ACCESS_DENIED, set(ro.raw(), 0, -1));
    // WRITE alone is enough.
    let w = dup(t.raw(), ZX_RIGHT_WRITE)?;
    zx_ok!(set(w.raw(), now() - 1, 0));
    ensure!(
        is_signaled(t.raw())?,
        "set through a WRITE-only handle did not fire"
    );
    zx_ok!(cancel_raw(w.raw()));
    ensure!(!is_signaled(t.raw())?, "cancel through a WRITE-only handle");
    Ok(())
}

fn negative_slack() -> R {
    let t = timer(0)?;
    zx_ok!(set(t.raw(), now() - 1, 0));
    for slack in [-1i64, i64::MIN] {
        check!(ZX_ERR_OUT_OF_RANGE, set(t.raw(), now() + 1000 * MS, slack));
    }
    // A failing set changes nothing: still signaled, not armed.
    ensure!(is_signaled(t.raw())?, "a failed set cleared SIGNALED");
    let i: zx_info_timer_t = get_info(t.raw(), ZX_INFO_TIMER)?;
    eq!(i.deadline, 0i64);
    Ok(())
}

fn not_before() -> R {
    for (options, slack) in [
        (ZX_TIMER_SLACK_CENTER, 0i64),
        (ZX_TIMER_SLACK_CENTER, 500 * US),
        (ZX_TIMER_SLACK_EARLY, 500 * US),
        (ZX_TIMER_SLACK_LATE, 0),
        (ZX_TIMER_SLACK_LATE, 500 * US),
    ] {
        let t = timer(options)?;
        for delay in [300 * US, 2 * MS, 15 * MS] {
            let deadline = now() + delay;
            zx_ok!(set(t.raw(), deadline, slack));
            let (s, at) = wait_signaled(t.raw(), after(5000 * MS));
            eq!(sname(s), sname(ZX_OK));
            let earliest = if options == ZX_TIMER_SLACK_LATE || slack == 0 {
                deadline
            } else {
                deadline - slack
            };
            ensure!(
                at >= earliest,
                "options {options} slack {slack}: fired {} ns before it may",
                earliest - at
            );
        }
    }
    Ok(())
}

/// Median of `runs` measurements of `f`, which returns how late it woke (ns).
fn median(runs: usize, mut f: impl FnMut() -> Result<i64, String>) -> Result<(i64, i64), String> {
    let mut late = Vec::new();
    for _ in 0..runs {
        late.push(f()?);
    }
    late.sort_unstable();
    Ok((late[runs / 2], late[runs - 1]))
}

/// The 10 ms tick would make a 100 us deadline take up to 10 ms; precise deadlines take
/// 100 us plus the wake-up path. 2 ms leaves room for a loaded host.
const LATENCY_LIMIT: i64 = 2 * MS;

fn report_latency(what: &str, (median, worst): (i64, i64)) -> R {
    zx::println!(
        "  {what}: 100 us deadline, woken after 100 us + {} us (median of 9; worst + {} us)",
        median / US,
        worst / US
    );
    ensure!(
        median < LATENCY_LIMIT,
        "{what}: woken {median} ns after a 100 us deadline (median): rounded to the tick?"
    );
    Ok(())
}

fn latency_timer() -> R {
    let t = timer(0)?;
    let m = median(9, || {
        let deadline = now() + 100 * US;
        zx_ok!(set(t.raw(), deadline, 0));
        let (s, at) = wait_signaled(t.raw(), ZX_TIME_INFINITE);
        eq!(sname(s), sname(ZX_OK));
        ensure!(at >= deadline, "fired {} ns early", deadline - at);
        Ok(at - deadline)
    })?;
    report_latency("zx_timer_set + wait_one", m)
}

fn latency_nanosleep() -> R {
    let m = median(9, || {
        let deadline = now() + 100 * US;
        // SAFETY: no memory.
        zx_ok!(unsafe { sys::zx_nanosleep(deadline) });
        let at = now();
        ensure!(at >= deadline, "woke {} ns early", deadline - at);
        Ok(at - deadline)
    })?;
    report_latency("zx_nanosleep", m)
}

fn latency_wait() -> R {
    let (a, _b) = channel()?;
    let m = median(9, || {
        let deadline = now() + 100 * US;
        let mut obs = 0u32;
        check!(ZX_ERR_TIMED_OUT, unsafe {
            sys::zx_object_wait_one(a.raw(), ZX_CHANNEL_READABLE, deadline, &mut obs)
        });
        let at = now();
        ensure!(at >= deadline, "timed out {} ns early", deadline - at);
        Ok(at - deadline)
    })?;
    report_latency("wait_one TIMED_OUT", m)
}

fn past_deadline() -> R {
    let t = timer(0)?;
    for deadline in [0i64, 1, ZX_TIME_INFINITE_PAST, now() - 1, now()] {
        zx_ok!(set(t.raw(), deadline, 0));
        // Any later wait sees it, even one that only polls.
        let (s, _) = wait_signaled(t.raw(), 0);
        ensure!(
            s == ZX_OK,
            "deadline {deadline}: not signaled at once ({})",
            sname(s)
        );
        let i: zx_info_timer_t = get_info(t.raw(), ZX_INFO_TIMER)?;
        eq!(i.deadline, 0i64);
        // Stays signaled.
        ensure!(
            is_signaled(t.raw())?,
            "deadline {deadline}: SIGNALED went away"
        );
    }
    Ok(())
}

fn infinite_deadline() -> R {
    let t = timer(0)?;
    zx_ok!(set(t.raw(), ZX_TIME_INFINITE, 0));
    let (s, _) = wait_signaled(t.raw(), after(20 * MS));
    eq!(sname(s), sname(ZX_ERR_TIMED_OUT));
    let i: zx_info_timer_t = get_info(t.raw(), ZX_INFO_TIMER)?;
    eq!(i.deadline, ZX_TIME_INFINITE);
    // Huge slack is fine too.
    zx_ok!(set(t.raw(), ZX_TIME_INFINITE - 1, i64::MAX));
    zx_ok!(cancel_raw(t.raw()));
    Ok(())
}

fn cancel() -> R {
    let t = timer(0)?;
    // Never set: OK.
    zx_ok!(cancel_raw(t.raw()));
    zx_ok!(cancel_raw(t.raw()));
    // Armed: disarmed.
    zx_ok!(set(t.raw(), now() + 5 * MS, 0));
    zx_ok!(cancel_raw(t.raw()));
    let (s, _) = wait_signaled(t.raw(), after(30 * MS));
    eq!(sname(s), sname(ZX_ERR_TIMED_OUT));
    // Fired: cleared.
    zx_ok!(set(t.raw(), now() - 1, 0));
    ensure!(is_signaled(t.raw())?, "past deadline did not fire");
    zx_ok!(cancel_raw(t.raw()));
    ensure!(!is_signaled(t.raw())?, "cancel left SIGNALED");
    let i: zx_info_timer_t = get_info(t.raw(), ZX_INFO_TIMER)?;
    eq!((i.deadline, i.slack), (0i64, 0i64));
    Ok(())
}

fn reset() -> R {
    let t = timer(0)?;
    // A later deadline replaces an earlier one: nothing at the first.
    zx_ok!(set(t.raw(), now() + 2 * MS, 0));
    let second = now() + 40 * MS;
    zx_ok!(set(t.raw(), second, 0));
    let (s, at) = wait_signaled(t.raw(), after(5000 * MS));
    eq!(sname(s), sname(ZX_OK));
    ensure!(
        at >= second,
        "fired at the replaced deadline ({} ns early)",
        second - at
    );
    // Setting a fired timer clears SIGNALED.
    zx_ok!(set(t.raw(), now() + 1000 * MS, 0));
    ensure!(!is_signaled(t.raw())?, "set left SIGNALED");
    // An earlier deadline replaces a later one.
    let start = now();
    zx_ok!(set(t.raw(), now() + MS, 0));
    let (s, at) = wait_signaled(t.raw(), after(5000 * MS));
    eq!(sname(s), sname(ZX_OK));
    ensure!(
        at - start < 500 * MS,
        "the earlier deadline took {} ns",
        at - start
    );
    Ok(())
}

fn info() -> R {
    let t = timer(ZX_TIMER_SLACK_LATE)?;
    let i: zx_info_timer_t = get_info(t.raw(), ZX_INFO_TIMER)?;
    eq!(
        (i.options, i.deadline, i.slack),
        (ZX_TIMER_SLACK_LATE, 0i64, 0i64)
    );
    let deadline = now() + 1000 * MS;
    zx_ok!(set(t.raw(), deadline, 7 * US));
    let i: zx_info_timer_t = get_info(t.raw(), ZX_INFO_TIMER)?;
    eq!(
        (i.options, i.deadline, i.slack),
        (ZX_TIMER_SLACK_LATE, deadline, 7 * US)
    );
    // INSPECT needed; another type's handle is WRONG_TYPE.
    let w = dup(t.raw(), ZX_RIGHT_WRITE | ZX_RIGHT_WAIT)?;
    match get_info::<zx_info_timer_t>(w.raw(), ZX_INFO_TIMER) {
        Err(e) if e.contains("ACCESS_DENIED") => {}
        other => fail!("ZX_INFO_TIMER without INSPECT: {:?}", other.map(|_| ())),
    }
    let v = vmo(PAGE)?;
    match get_info::<zx_info_timer_t>(v.raw(), ZX_INFO_TIMER) {
        Err(e) if e.contains("WRONG_TYPE") => {}
        other => fail!("ZX_INFO_TIMER on a VMO: {:?}", other.map(|_| ())),
    }
    // Short buffer.
    let mut buf = [0u8; 16];
    let (mut actual, mut avail) = (9usize, 9usize);
    check!(ZX_ERR_BUFFER_TOO_SMALL, unsafe {
        sys::zx_object_get_info(
            t.raw(),
            ZX_INFO_TIMER,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut actual,
            &mut avail,
        )
    });
    Ok(())
}

const WAITERS: usize = 6;

struct Shared {
    handle: AtomicU32,
    status: [AtomicI32; WAITERS],
    woken_at: [AtomicI64; WAITERS],
}

extern "C" fn waiter(shared: usize, index: usize) -> ! {
    // SAFETY: the starter keeps `Shared` alive until every waiter has exited.
    let w = unsafe { &*(shared as *const Shared) };
    let (s, at) = wait_signaled(w.handle.load(Ordering::SeqCst), after(10_000 * MS));
    w.woken_at[index].store(at, Ordering::SeqCst);
    w.status[index].store(s, Ordering::SeqCst);
    thread_exit()
}

fn shared(h: u32) -> Shared {
    Shared {
        handle: AtomicU32::new(h),
        status: core::array::from_fn(|_| AtomicI32::new(1)),
        woken_at: core::array::from_fn(|_| AtomicI64::new(0)),
    }
}

fn many_threads() -> R {
    let t = timer(0)?;
    let w = shared(t.raw());
    let deadline = now() + 150 * MS;
    zx_ok!(set(t.raw(), deadline, 0));
    let mut threads = Vec::new();
    for i in 0..WAITERS {
        threads.push(start_thread(waiter, &w as *const Shared as usize, i)?);
    }
    for th in threads {
        th.join(5000 * MS)?;
    }
    for i in 0..WAITERS {
        let s = w.status[i].load(Ordering::SeqCst);
        ensure!(s == ZX_OK, "waiter {i}: {}", sname(s));
        let at = w.woken_at[i].load(Ordering::SeqCst);
        ensure!(at >= deadline, "waiter {i} woke {} ns early", deadline - at);
    }
    Ok(())
}

fn many_timers() -> R {
    const N: usize = 40;
    let mut timers = Vec::new();
    let base = now() + 5 * MS;
    for i in 0..N {
        let t = timer(0)?;
        // Out of order, some sharing a deadline.
        let deadline = base + ((i * 7) % 13) as i64 * 300 * US;
        zx_ok!(set(t.raw(), deadline, 0));
        timers.push((t, deadline));
    }
    for (i, (t, deadline)) in timers.iter().enumerate() {
        let (s, at) = wait_signaled(t.raw(), after(5000 * MS));
        ensure!(s == ZX_OK, "timer {i}: {}", sname(s));
        ensure!(
            at >= *deadline,
            "timer {i}: seen {} ns early",
            deadline - at
        );
    }
    Ok(())
}

fn close_armed() -> R {
    // Armed far away and closed: the kernel keeps nothing (the queue's reference goes with
    // the last handle). Armed soon and closed: nothing fires into freed memory.
    expect_no_kernel_leak(4, 200, || {
        let t = timer(0)?;
        zx_ok!(set(t.raw(), now() + 10_000 * MS, 0));
        let d = dup(t.raw(), ZX_RIGHT_SAME_RIGHTS)?;
        drop(t);
        drop(d);
        let u = timer(0)?;
        zx_ok!(set(u.raw(), now() + 50 * US, 0));
        drop(u);
        Ok(())
    })?;
    // Several armed ones closed together while others fire.
    let mut keep = Vec::new();
    for i in 0..20 {
        let t = timer(0)?;
        zx_ok!(set(t.raw(), now() + (i % 5) * 100 * US, 0));
        keep.push(t);
    }
    sleep_ns(MS);
    drop(keep);
    sleep_ns(MS);
    Ok(())
}

fn close_cancels_waiter() -> R {
    let t = timer(0)?.into_raw();
    zx_ok!(set(t, now() + 10_000 * MS, 0));
    let w = shared(t);
    let th = start_thread(waiter, &w as *const Shared as usize, 0)?;
    sleep_ns(50 * MS);
    zx_ok!(unsafe { sys::zx_handle_close(t) });
    th.join(5000 * MS)?;
    let s = w.status[0].load(Ordering::SeqCst);
    eq!(sname(s), sname(ZX_ERR_CANCELED));
    Ok(())
}

fn draw(len: usize) -> Vec<u8> {
    let mut buf = vec![0u8; len];
    zx::cprng_draw(&mut buf);
    buf
}

fn draws_differ() -> R {
    let a = draw(32);
    let b = draw(32);
    ensure!(a != b, "two 32-byte draws are equal: {a:02x?}");
    ensure!(a.iter().any(|&x| x != 0), "a draw of zeros");
    zx::println!(
        "  cprng draw: {}",
        a.iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join("")
    );
    Ok(())
}

fn large_draws() -> R {
    for len in [1usize, 255, 256, 257, 1000, 4096 * 3 + 5, 1 << 20] {
        // Bytes past the asked length stay untouched.
        let mut buf = vec![0xA5u8; len + 8];
        zx::cprng_draw(&mut buf[..len]);
        ensure!(
            buf[len..].iter().all(|&b| b == 0xA5),
            "len {len}: wrote past the end"
        );
        if len >= 256 {
            // Roughly uniform: about 1/256 zero bytes; a 256-byte chunk left unfilled
            // (all 0xA5) or repeated would show.
            let same = buf[..len].iter().filter(|&&b| b == 0xA5).count();
            ensure!(same < len / 64 + 8, "len {len}: {same} bytes still 0xA5");
            let chunks: Vec<&[u8]> = buf[..len].chunks_exact(256).collect();
            for pair in chunks.windows(2) {
                ensure!(pair[0] != pair[1], "len {len}: two equal 256-byte chunks");
            }
        }
    }
    Ok(())
}

fn zero_draw() -> R {
    // SAFETY: size 0: the kernel touches nothing.
    unsafe {
        sys::zx_cprng_draw(core::ptr::null_mut(), 0);
        sys::zx_cprng_draw(0xffff_0000_0000_0000usize as *mut u8, 0);
    }
    Ok(())
}

fn bad_buffer_kills() -> R {
    for (addr, len) in [
        ("0x0", "32"),
        ("0xffff000000001000", "16"),
        ("0x7ff000000000", "300"),
    ] {
        let code = run_child(&["cprng-draw-addr", addr, len], vec![], 30_000 * MS)?;
        ensure!(
            code == ZX_TASK_RETCODE_EXCEPTION_KILL,
            "zx_cprng_draw({addr}, {len}): child ended with {code}, expected -1028"
        );
    }
    Ok(())
}

fn add_entropy() -> R {
    let bytes = [0x5Au8; 300];
    for len in [0usize, 1, 32, 256] {
        zx_ok!(unsafe { sys::zx_cprng_add_entropy(bytes.as_ptr(), len) });
    }
    check!(ZX_ERR_INVALID_ARGS, unsafe {
        sys::zx_cprng_add_entropy(bytes.as_ptr(), 257)
    });
    check!(ZX_ERR_INVALID_ARGS, unsafe {
        sys::zx_cprng_add_entropy(bytes.as_ptr(), usize::MAX)
    });
    check!(ZX_ERR_INVALID_ARGS, unsafe {
        sys::zx_cprng_add_entropy(core::ptr::null(), 16)
    });
    check!(ZX_ERR_INVALID_ARGS, unsafe {
        sys::zx_cprng_add_entropy(0xffff_0000_0000_0000usize as *const u8, 16)
    });
    zx_ok!(unsafe { sys::zx_cprng_add_entropy(core::ptr::null(), 0) });
    // Draws still differ after mixing in known bytes.
    let a = draw(32);
    zx_ok!(unsafe { sys::zx_cprng_add_entropy(bytes.as_ptr(), 32) });
    let b = draw(32);
    ensure!(a != b, "equal draws around add_entropy");
    Ok(())
}
