//! The helper process of the two-process cases: `conformance-rust child MODE ARGS...`.
//!
//! Exit codes: what the mode computes, or `SURVIVED` when an access that had to kill the
//! process did not, `SETUP + n` when setup step n failed, `UNKNOWN_MODE`.

use crate::util::*;
use alloc::vec::Vec;

pub const SURVIVED: i32 = 99;
pub const UNKNOWN_MODE: i32 = 98;
pub const SETUP: i32 = 60;

/// The `i`th extra startup handle (the first one the starter passed is 0; it is startup
/// handle 4 of the bootstrap message).
pub fn take_extra(i: u32) -> u32 {
    zx::startup::take_startup_handle(4 + i).map_or(ZX_HANDLE_INVALID, |h| h.into_raw())
}

fn parse_hex(s: &str) -> Option<u64> {
    let s = s.strip_prefix("0x").unwrap_or(s);
    u64::from_str_radix(s, 16).ok()
}

pub fn main(args: &[&str]) -> i32 {
    let mode = args.first().copied().unwrap_or("");
    let rest = if args.is_empty() { args } else { &args[1..] };
    match mode {
        "exit" => rest
            .first()
            .and_then(|s| s.parse::<i32>().ok())
            .unwrap_or(SETUP),
        "read-addr" => match rest.first().and_then(|s| parse_hex(s)) {
            Some(a) => {
                let v = peek(a as usize);
                core::hint::black_box(v);
                SURVIVED
            }
            None => SETUP,
        },
        "write-addr" => match rest.first().and_then(|s| parse_hex(s)) {
            Some(a) => {
                poke(a as usize, 0x66);
                SURVIVED
            }
            None => SETUP,
        },
        "write-rodata" => {
            poke(rodata_addr(), 0x66);
            SURVIVED
        }
        "exec-rw" => exec_rw(),
        // zx_cprng_draw(ADDR, LEN) into a bad buffer: the process is killed (-1028).
        "cprng-draw-addr" => match (
            rest.first().and_then(|s| parse_hex(s)),
            rest.get(1).and_then(|s| s.parse::<usize>().ok()),
        ) {
            (Some(a), Some(len)) => {
                // SAFETY: deliberately bad: the kernel must kill this process, not write.
                unsafe { sys::zx_cprng_draw(a as usize as *mut u8, len) };
                SURVIVED
            }
            _ => SETUP,
        },
        "futex-waiters" => crate::t_futex::child_futex_waiters(),
        "use-handle" => use_handle(rest),
        "self-handle" => proc_self() as i32,
        "map-shared" => map_shared(),
        "shrink-fault" => shrink_fault(),
        "shrink-vmo" => shrink_vmo(),
        "flood" => flood(),
        "overfill" => overfill(),
        "small-flood" => small_flood(),
        "cycles" => cycles(rest),
        "main-thread-exit" => main_thread_exit(),
        "all-threads-exit" => thread_exit(),
        "sleep" => {
            // SAFETY: no pointers.
            unsafe {
                sys::zx_nanosleep(ZX_TIME_INFINITE);
            }
            SURVIVED
        }
        "kill-own-job" => {
            // Kills its own default job, so itself: the call must not return.
            // SAFETY: no pointers.
            unsafe {
                sys::zx_task_kill(zx::startup::job_default());
            }
            SURVIVED
        }
        "hold-exit" => hold_exit(),
        "call-server" => crate::t_call::serve(),
        "commit" => commit(rest),
        "hold-handles" => hold_handles(rest),
        "write-ro-mapping" => write_ro_mapping(),
        "protect-then-write" => protect_then_write(),
        "unmap-then-read" => unmap_then_read(),
        "destroy-then-read" => destroy_then_read(),
        "exec-rx" => exec_rx(),
        "exit-with-thread" => exit_with_thread(),
        "exit-from-thread" => exit_from_thread(),
        "thread-fault" => thread_fault(),
        "thread-start-outside-user-half" => start_outside_user_half(),
        "wait-async-exit" => wait_async_exit(),
        "kill-self" => {
            // SAFETY: no pointers; must not return.
            unsafe {
                sys::zx_task_kill(proc_self());
            }
            SURVIVED
        }
        _ => UNKNOWN_MODE,
    }
}

/// Writes `ret` into a page mapped read-write (not executable) and jumps to it.
fn exec_rw() -> i32 {
    let Ok(v) = vmo(PAGE) else { return SETUP + 1 };
    let Ok(m) = map(v.raw(), 0, PAGEZ, RW) else {
        return SETUP + 2;
    };
    // `ret`
    let insn: u32 = 0xD65F_03C0;
    for (i, b) in insn.to_le_bytes().iter().enumerate() {
        m.poke(i, *b);
    }
    // SAFETY: deliberately jumps to a non-executable page: the process must be killed.
    unsafe {
        let f: extern "C" fn() = core::mem::transmute(m.addr);
        f();
    }
    let _ = m.leak();
    SURVIVED
}

/// Checks every value given: the first status other than BAD_HANDLE is the exit code
/// (0 means the value named a handle here); BAD_HANDLE for all gives BAD_HANDLE.
fn use_handle(values: &[&str]) -> i32 {
    if values.is_empty() {
        return SETUP;
    }
    for s in values {
        let Some(v) = parse_hex(s) else {
            return SETUP + 1;
        };
        let h = v as u32;
        let st = valid(h);
        if st != ZX_ERR_BAD_HANDLE {
            return st;
        }
        let mut size = 0u64;
        // SAFETY: valid out pointer.
        let st = unsafe { sys::zx_vmo_get_size(h, &mut size) };
        if st != ZX_ERR_BAD_HANDLE {
            return st;
        }
        // SAFETY: closing a value that must not be ours.
        let st = unsafe { sys::zx_handle_close(h) };
        if st != ZX_ERR_BAD_HANDLE {
            return st;
        }
    }
    ZX_ERR_BAD_HANDLE
}

/// Map-shared protocol (the parent is `process_share_vmo_through_channel`):
/// receive "vmo" + a VMO on the channel, map it, check the parent's bytes, write ours at
/// page 1, send "child-wrote", wait for "check", check the parent's second write.
fn map_shared() -> i32 {
    let ch = Owned::from_raw(take_extra(0));
    if ch.raw() == ZX_HANDLE_INVALID {
        return SETUP;
    }
    let (s, _) = wait(ch.raw(), ZX_CHANNEL_READABLE, 10_000 * MS);
    if s != ZX_OK {
        return SETUP + 1;
    }
    let msg = ch_read(ch.raw(), 16, 1);
    if msg.status != ZX_OK || msg.bytes != b"vmo" || msg.handles.len() != 1 {
        return SETUP + 2;
    }
    let v = Owned::from_raw(msg.handles[0]);
    let Ok(m) = map(v.raw(), 0, 2 * PAGEZ, RW) else {
        return SETUP + 3;
    };
    if peek_vec(m.addr, 12) != b"parent-hello" {
        return 2;
    }
    poke_slice(m.addr + PAGEZ, b"child-data");
    if ch_write(ch.raw(), b"child-wrote", &[]) != ZX_OK {
        return SETUP + 4;
    }
    let (s, _) = wait(ch.raw(), ZX_CHANNEL_READABLE, 10_000 * MS);
    if s != ZX_OK {
        return SETUP + 5;
    }
    let msg = ch_read(ch.raw(), 16, 0);
    if msg.status != ZX_OK || msg.bytes != b"check" {
        return SETUP + 6;
    }
    if peek_vec(m.addr + 64, 12) != b"parent-again" {
        return 3;
    }
    0
}

/// Shrinks a mapped VMO and touches the dropped page: the access must kill us.
fn shrink_fault() -> i32 {
    let Ok(v) = vmo(2 * PAGE) else { return SETUP };
    let Ok(m) = map(v.raw(), 0, 2 * PAGEZ, RW) else {
        return SETUP + 1;
    };
    m.poke(0, 1);
    m.poke(PAGEZ, 2);
    // SAFETY: no pointers.
    if unsafe { sys::zx_vmo_set_size(v.raw(), PAGE) } != ZX_OK {
        return SETUP + 2;
    }
    if m.peek(0) != 1 {
        return 3;
    }
    let x = m.peek(PAGEZ);
    core::hint::black_box(x);
    SURVIVED
}

/// Takes extra handles 0 (a channel endpoint) and 1 (a VMO), maps the VMO, and exits with 5
/// without closing anything.
fn hold_exit() -> i32 {
    let ch = take_extra(0);
    let v = take_extra(1);
    if ch == ZX_HANDLE_INVALID || v == ZX_HANDLE_INVALID {
        return SETUP;
    }
    match map(v, 0, PAGEZ, RW) {
        Ok(m) => {
            m.poke(0, 0x77);
            m.leak();
        }
        Err(_) => return SETUP + 1,
    }
    // SAFETY: ends the process.
    unsafe {
        sys::zx_process_exit(5);
    }
    #[allow(unreachable_code)]
    SURVIVED
}

/// `commit PAGES`: commits PAGES pages in a VMO and a mapping of another, says "ready" on
/// extra handle 0, waits for "go" (or the peer closing) and exits without cleaning up.
fn commit(args: &[&str]) -> i32 {
    let Some(pages) = args.first().and_then(|s| s.parse::<u64>().ok()) else {
        return SETUP;
    };
    let ch = Owned::from_raw(take_extra(0));
    if ch.raw() == ZX_HANDLE_INVALID {
        return SETUP + 1;
    }
    let Ok(a) = vmo(pages * PAGE) else {
        return SETUP + 2;
    };
    // SAFETY: no buffer.
    if unsafe {
        sys::zx_vmo_op_range(
            a.raw(),
            ZX_VMO_OP_COMMIT,
            0,
            pages * PAGE,
            core::ptr::null_mut(),
            0,
        )
    } != ZX_OK
    {
        return SETUP + 3;
    }
    let Ok(b) = vmo(pages * PAGE) else {
        return SETUP + 4;
    };
    let Ok(m) = map(b.raw(), 0, (pages * PAGE) as usize, RW) else {
        return SETUP + 5;
    };
    for p in 0..pages as usize {
        m.poke(p * PAGEZ, 1);
    }
    m.leak();
    core::mem::forget(a);
    core::mem::forget(b);
    ready_then_exit(ch, 30_000 * MS, SETUP + 6)
}

/// Says `ready` on `ch` (`failed` if it cannot), waits up to `timeout` for a message or the
/// peer's close, then exits 0 with everything the process holds still open.
fn ready_then_exit(ch: Owned, timeout: i64, failed: i32) -> i32 {
    if ch_write(ch.raw(), b"ready", &[]) != ZX_OK {
        return failed;
    }
    wait(
        ch.raw(),
        ZX_CHANNEL_READABLE | ZX_CHANNEL_PEER_CLOSED,
        timeout,
    );
    core::mem::forget(ch);
    // SAFETY: ends the process.
    unsafe {
        sys::zx_process_exit(0);
    }
    #[allow(unreachable_code)]
    0
}

/// Fills the handle table with `N` handles, each the only one of a VMO with a committed
/// page, says `ready` on the channel (extra handle 0) and waits: to be killed, or for a
/// message, on which it exits with every handle still open.
fn hold_handles(args: &[&str]) -> i32 {
    let Some(count) = args.first().and_then(|s| s.parse::<usize>().ok()) else {
        return SETUP;
    };
    let ch = Owned::from_raw(take_extra(0));
    if ch.raw() == ZX_HANDLE_INVALID {
        return SETUP + 1;
    }
    let mut held = Vec::new();
    for _ in 0..count {
        let Ok(v) = vmo(PAGE) else { return SETUP + 2 };
        if vmo_write(v.raw(), 0, &[1]) != ZX_OK {
            return SETUP + 3;
        }
        held.push(v);
    }
    core::mem::forget(held);
    ready_then_exit(ch, 60_000 * MS, SETUP + 4)
}

/// Writes to a read-only mapping of a VMO (after reading it, so the page is mapped).
fn write_ro_mapping() -> i32 {
    let Ok(v) = vmo(PAGE) else { return SETUP };
    let Ok(m) = map(v.raw(), 0, PAGEZ, ZX_VM_PERM_READ) else {
        return SETUP + 1;
    };
    if m.peek(0) != 0 {
        return 3;
    }
    m.poke(0, 1);
    SURVIVED
}

/// Maps read-write, writes (the page is now mapped writable), protects to read-only and
/// writes again: the second write must kill us.
fn protect_then_write() -> i32 {
    let Ok(v) = vmo(PAGE) else { return SETUP };
    let Ok(m) = map(v.raw(), 0, PAGEZ, RW) else {
        return SETUP + 1;
    };
    m.poke(0, 1);
    // SAFETY: no pointers.
    if unsafe { sys::zx_vmar_protect(root_vmar(), ZX_VM_PERM_READ, m.addr, PAGEZ) } != ZX_OK {
        return SETUP + 2;
    }
    if m.peek(0) != 1 {
        return 3;
    }
    m.poke(0, 2);
    SURVIVED
}

/// Maps, touches, unmaps and reads the address again.
fn unmap_then_read() -> i32 {
    let Ok(v) = vmo(PAGE) else { return SETUP };
    let Ok(m) = map(v.raw(), 0, PAGEZ, RW) else {
        return SETUP + 1;
    };
    m.poke(0, 1);
    let addr = m.addr;
    drop(m);
    let x = peek(addr);
    core::hint::black_box(x);
    SURVIVED
}

/// Maps into a sub-VMAR, touches, destroys the sub-VMAR and reads the address again.
fn destroy_then_read() -> i32 {
    let Ok(sub) = allocate(
        root_vmar(),
        ZX_VM_CAN_MAP_READ | ZX_VM_CAN_MAP_WRITE,
        0,
        4 * PAGEZ,
    ) else {
        return SETUP;
    };
    let Ok(v) = vmo(PAGE) else { return SETUP + 1 };
    let Ok(m) = map_in(sub.h.raw(), v.raw(), 0, PAGEZ, RW) else {
        return SETUP + 2;
    };
    m.poke(0, 1);
    let addr = m.leak();
    drop(sub);
    let x = peek(addr);
    core::hint::black_box(x);
    SURVIVED
}

/// Writes `mov x0, #42; ret` into a VMO, syncs the caches, maps it read+execute and calls
/// it: 0 if it returned 42.
fn exec_rx() -> i32 {
    let Ok(v) = vmo(PAGE) else { return SETUP };
    let code: [u32; 2] = [0xD280_0540, 0xD65F_03C0];
    let mut bytes = [0u8; 8];
    for (i, insn) in code.iter().enumerate() {
        bytes[4 * i..4 * i + 4].copy_from_slice(&insn.to_le_bytes());
    }
    if vmo_write(v.raw(), 0, &bytes) != ZX_OK {
        return SETUP + 1;
    }
    if op(v.raw(), ZX_VMO_OP_CACHE_SYNC, 0, 8) != ZX_OK {
        return SETUP + 2;
    }
    let Ok(m) = map(v.raw(), 0, PAGEZ, ZX_VM_PERM_READ | ZX_VM_PERM_EXECUTE) else {
        return SETUP + 3;
    };
    // SAFETY: the mapping holds the two instructions above, a valid `extern "C" fn() -> u64`.
    let r = unsafe {
        let f: extern "C" fn() -> u64 = core::mem::transmute(m.addr);
        f()
    };
    if r == 42 {
        0
    } else {
        4
    }
}

extern "C" fn spin_forever(_: usize, _: usize) -> ! {
    loop {
        core::hint::spin_loop();
    }
}

/// Starts a thread that spins forever and returns 3 from main: the process must end.
fn exit_with_thread() -> i32 {
    match start_thread(spin_forever, 0, 0) {
        Ok(t) => {
            core::mem::forget(t);
            sleep_ns(10 * MS);
            3
        }
        Err(_) => SETUP,
    }
}

extern "C" fn exit_process_entry(code: usize, delay_ns: usize) -> ! {
    sleep_ns(delay_ns as i64);
    // SAFETY: ends the whole process.
    unsafe { sys::zx_process_exit(code as i64) }
}

/// A second thread calls zx_process_exit(7) while main sleeps.
fn exit_from_thread() -> i32 {
    match start_thread(exit_process_entry, 7, (20 * MS) as usize) {
        Ok(t) => {
            core::mem::forget(t);
            sleep_ns(10_000 * MS);
            SURVIVED
        }
        Err(_) => SETUP,
    }
}

/// A second thread starts at an unmapped address: the fault kills the whole process.
fn thread_fault() -> i32 {
    match start_thread_at(0x10, 0, 0) {
        Ok(t) => {
            core::mem::forget(t);
            sleep_ns(10_000 * MS);
            SURVIVED
        }
        Err(_) => SETUP,
    }
}

/// Takes a VMO (extra handle 0) and shrinks it to one page.
fn shrink_vmo() -> i32 {
    let v = Owned::from_raw(take_extra(0));
    if v.raw() == ZX_HANDLE_INVALID {
        return SETUP;
    }
    // SAFETY: no pointers.
    unsafe { sys::zx_vmo_set_size(v.raw(), PAGE) }
}

/// Writes 3501 messages into the endpoint passed as extra handle 0, whose peer nobody reads:
/// the last write must end this process (ZX_TASK_RETCODE_EXCEPTION_KILL). 70: a write failed.
fn overfill() -> i32 {
    let h = take_extra(0);
    if h == ZX_HANDLE_INVALID {
        return SETUP;
    }
    for i in 0..=CHANNEL_MAX_UNREAD as u32 {
        if ch_write(h, &i.to_le_bytes(), &[]) != ZX_OK {
            return 70;
        }
    }
    SURVIVED
}

/// Fills channel queues with messages of 8191 bytes (the largest the kernel's small-object
/// heap takes) until a write gives NO_MEMORY, then writes 1 at offset 0 of the VMO passed as
/// extra handle 0 and sleeps, holding everything. 71: another error came first; 72: no
/// channel could be made.
///
/// The queues are grown to their full size first (3500 empty messages written and read
/// back), so that no queue growth, which takes whole pages and checks the reserve, stops
/// the flood: only the check on the messages can. On a large machine 64 KiB messages (whole
/// pages, quick to queue) then take all but 32 MiB.
fn small_flood() -> i32 {
    const QUEUES: usize = 8;
    let flag = take_extra(0);
    if flag == ZX_HANDLE_INVALID {
        return SETUP;
    }
    let mut queues = Vec::new();
    for _ in 0..QUEUES {
        let Ok((a, b)) = channel() else { return 72 };
        for _ in 0..CHANNEL_MAX_UNREAD {
            if ch_write(a.raw(), &[], &[]) != ZX_OK {
                return 71;
            }
        }
        while ch_read(b.raw(), 0, 0).status == ZX_OK {}
        queues.push((a, b));
    }
    let big = alloc::vec![0x44u8; 65536];
    'ballast: loop {
        let Ok((a, b)) = channel() else { return 72 };
        for i in 0..CHANNEL_MAX_UNREAD {
            if i % 16 == 0 && kmem().map_or(true, |k| k.free_bytes < 32 << 20) {
                core::mem::forget((a, b));
                break 'ballast;
            }
            match ch_write(a.raw(), &big, &[]) {
                ZX_OK => {}
                ZX_ERR_NO_MEMORY => {
                    core::mem::forget((a, b));
                    break 'ballast;
                }
                _ => return 71,
            }
        }
        core::mem::forget((a, b));
    }
    let msg = alloc::vec![0x33u8; 8191];
    for (a, _) in &queues {
        for _ in 0..CHANNEL_MAX_UNREAD {
            let s = ch_write(a.raw(), &msg, &[]);
            if s == ZX_ERR_NO_MEMORY {
                if vmo_write(flag, 0, &[1]) != ZX_OK {
                    return SETUP + 1;
                }
                // SAFETY: no pointers.
                unsafe {
                    sys::zx_nanosleep(ZX_TIME_INFINITE);
                }
                return SURVIVED;
            }
            if s != ZX_OK {
                return 71;
            }
        }
    }
    // 8 * 3500 messages of 8 KiB (224 MiB) did not fill the 32 MiB left.
    74
}

/// `cycles N K`: makes N pairs of channels whose receiving endpoints sit in each other's
/// queues (a<->b, c<->d, d written into a, b into c) and closes a and c except for the last K
/// cycles, which this process still holds when it exits. 0: done; 73: a call failed.
fn cycles(args: &[&str]) -> i32 {
    let number = |i: usize| args.get(i).and_then(|s| s.parse::<usize>().ok());
    let (Some(n), Some(keep)) = (number(0), number(1)) else {
        return SETUP;
    };
    for i in 0..n {
        let Ok((a, b)) = channel() else { return 73 };
        let Ok((c, d)) = channel() else { return 73 };
        if ch_write(a.raw(), b"d", &[d.into_raw()]) != ZX_OK
            || ch_write(c.raw(), b"b", &[b.into_raw()]) != ZX_OK
        {
            return 73;
        }
        if i + keep >= n {
            core::mem::forget((a, c));
        }
    }
    0
}

/// The main thread exits while a second thread lives on and ends the process with 9.
fn main_thread_exit() -> i32 {
    match start_thread(exit_process_entry, 9, (50 * MS) as usize) {
        Ok(t) => {
            core::mem::forget(t);
            thread_exit()
        }
        Err(_) => SETUP,
    }
}

/// Writes 64 KiB messages into a channel until the kernel refuses one (NO_MEMORY on a small
/// machine) or the queue holds its 3500 unread messages, keeps both ends and exits without
/// closing anything: the exit code is the number of messages queued (or a negative status if
/// the refusal was not a clean one).
fn flood() -> i32 {
    let Ok((a, b)) = channel() else { return SETUP };
    let msg = alloc::vec![0x5Au8; 65536];
    let mut n = 0i32;
    let last = loop {
        if n == CHANNEL_MAX_UNREAD as i32 {
            break ZX_OK;
        }
        let s = ch_write(a.raw(), &msg, &[]);
        if s != ZX_OK {
            break s;
        }
        n += 1;
    };
    core::mem::forget((a, b));
    if last == ZX_OK || last == ZX_ERR_NO_MEMORY {
        // SAFETY: ends the process.
        unsafe { sys::zx_process_exit(i64::from(n)) }
    }
    last
}

extern "C" fn exit_at_once(_: usize, _: usize) -> ! {
    thread_exit()
}

/// Starts a thread of this process with each entry and each stack of
/// `t_thread::OUTSIDE_USER_HALF`: 0 if every one gave INVALID_ARGS and the thread could then
/// be started properly; 1 + n when case n was not refused (a bad start that succeeded kills
/// us with the thread's fault instead).
fn start_outside_user_half() -> i32 {
    let name = b"outside";
    let mut th = 0u32;
    // SAFETY: valid name and out pointer.
    if unsafe { sys::zx_thread_create(proc_self(), name.as_ptr(), name.len(), 0, &mut th) } != ZX_OK
    {
        return SETUP;
    }
    let t = Owned::from_raw(th);
    let Ok(stack_vmo) = vmo(THREAD_STACK as u64) else {
        return SETUP + 1;
    };
    let Ok(stack) = map(stack_vmo.raw(), 0, THREAD_STACK, RW) else {
        return SETUP + 2;
    };
    let top = stack.addr + THREAD_STACK;
    let good_entry = exit_at_once as *const () as usize;
    let mut case = 0;
    for bad in crate::t_thread::OUTSIDE_USER_HALF {
        // SAFETY: the kernel must refuse these; if it does not, we die of the fault.
        if unsafe { sys::zx_thread_start(t.raw(), bad, top, 0, 0) } != ZX_ERR_INVALID_ARGS {
            return 1 + case;
        }
        case += 1;
        // SAFETY: as above.
        if unsafe { sys::zx_thread_start(t.raw(), good_entry, bad, 0, 0) } != ZX_ERR_INVALID_ARGS {
            return 1 + case;
        }
        case += 1;
    }
    if signals(t.raw()).map_or(true, |s| s & ZX_THREAD_TERMINATED != 0) {
        return 40;
    }
    // SAFETY: a function of this program and a fresh stack.
    if unsafe { sys::zx_thread_start(t.raw(), good_entry, top, 0, 0) } != ZX_OK {
        return 41;
    }
    let (s, _) = wait(t.raw(), ZX_THREAD_TERMINATED, 5000 * MS);
    stack.leak();
    if s != ZX_OK {
        return 42;
    }
    0
}

/// `wait-async-exit`: extra handles 0 (an event) and 1 (a port). Arms a wait on the event
/// through the port, a port of its own with armed waits and queued packets, queues a user
/// packet (key 2) on the given port, and exits without closing anything.
fn wait_async_exit() -> i32 {
    let (event, port) = (take_extra(0), take_extra(1));
    // SAFETY: no pointers but valid out/in ones.
    unsafe {
        if sys::zx_object_wait_async(event, port, 1, ZX_USER_SIGNAL_0, 0) != ZX_OK {
            return SETUP;
        }
        let mut own = 0u32;
        if sys::zx_port_create(0, &mut own) != ZX_OK {
            return SETUP + 1;
        }
        for key in 0..100u64 {
            if sys::zx_object_wait_async(event, own, key, ZX_USER_SIGNAL_1, 0) != ZX_OK {
                return SETUP + 2;
            }
            let packet = zx_port_packet_t {
                key,
                ..Default::default()
            };
            if sys::zx_port_queue(own, &packet) != ZX_OK {
                return SETUP + 3;
            }
        }
        let packet = zx_port_packet_t {
            key: 2,
            ..Default::default()
        };
        if sys::zx_port_queue(port, &packet) != ZX_OK {
            return SETUP + 4;
        }
    }
    0
}
