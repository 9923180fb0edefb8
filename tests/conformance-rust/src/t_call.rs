//! zx_channel_call (zx-abi-objects.md section 8): rights, arguments, handles consumed, the
//! kernel's txid, replies straight to the caller, BUFFER_TOO_SMALL, deadlines, peer closed,
//! cancel by close, a server in another process, several threads calling at once, leaks.

use crate::harness::Case;
use crate::util::*;
use alloc::vec;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicI32, AtomicU32, Ordering};

pub const CASES: &[Case] = &[
    ("call_needs_read_and_write_rights", rights),
    ("call_bad_handle_and_wrong_type", bad_handle),
    (
        "call_options_nonzero_invalid_args_handles_consumed",
        options,
    ),
    (
        "call_short_request_invalid_args_handles_consumed",
        short_request,
    ),
    ("call_bad_args_pointer_invalid_args", bad_args),
    ("call_too_many_bytes_or_handles_out_of_range", limits),
    ("call_kernel_txid_in_sent_copy_only", txid),
    ("call_reply_not_queued_no_readable", reply_not_queued),
    ("call_reply_too_big_buffer_too_small_discarded", too_small),
    ("call_deadline_past_timed_out", past_deadline),
    ("call_timeout_then_late_reply_queued", late_reply),
    ("call_peer_closed_before_call", peer_closed_before),
    ("call_peer_closed_during_call", peer_closed_during),
    ("call_canceled_when_handle_closed", canceled),
    ("call_two_process_server", two_process),
    (
        "call_two_process_reply_carries_handles",
        two_process_handles,
    ),
    ("call_threads_each_get_their_reply", threads),
    ("call_no_kernel_leak", no_leak),
    ("call_safe_api", safe_api),
];

/// Result of one call: status, reply bytes, reply handles, actual counts.
pub struct Reply {
    pub status: i32,
    pub bytes: Vec<u8>,
    pub handles: Vec<u32>,
    pub actual: (u32, u32),
}

pub fn call(h: u32, deadline: i64, wr: &[u8], wr_h: &[u32], rd: usize, rd_h: usize) -> Reply {
    let mut bytes = vec![0u8; rd.max(1)];
    let mut handles = vec![0u32; rd_h.max(1)];
    let args = zx_channel_call_args_t {
        wr_bytes: wr.as_ptr() as usize,
        wr_handles: if wr_h.is_empty() {
            0
        } else {
            wr_h.as_ptr() as usize
        },
        rd_bytes: bytes.as_mut_ptr() as usize,
        rd_handles: handles.as_mut_ptr() as usize,
        wr_num_bytes: wr.len() as u32,
        wr_num_handles: wr_h.len() as u32,
        rd_num_bytes: rd as u32,
        rd_num_handles: rd_h as u32,
    };
    let (mut ab, mut ah) = (u32::MAX, u32::MAX);
    // SAFETY: the buffers `args` names are valid for their lengths.
    let status = unsafe { sys::zx_channel_call(h, 0, deadline, &args, &mut ab, &mut ah) };
    if status == ZX_OK {
        bytes.truncate(ab as usize);
        handles.truncate(ah as usize);
    } else {
        bytes.clear();
        handles.clear();
    }
    Reply {
        status,
        bytes,
        handles,
        actual: (ab, ah),
    }
}

fn txid_of(bytes: &[u8]) -> u32 {
    u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
}

/// The server of the two-process cases (`conformance-rust child call-server`): for each
/// request, replies with the same txid, the payload with every byte + 1 and the request's
/// handles. Payload commands: `Q` exit, `N` no reply, `X` exit without replying, `B` a reply
/// of 1000 bytes.
pub fn serve() -> i32 {
    let ch = Owned::from_raw(crate::child::take_extra(0));
    if ch.raw() == ZX_HANDLE_INVALID {
        return crate::child::SETUP;
    }
    loop {
        let (s, obs) = wait(
            ch.raw(),
            ZX_CHANNEL_READABLE | ZX_CHANNEL_PEER_CLOSED,
            60_000 * MS,
        );
        if s != ZX_OK {
            return crate::child::SETUP + 1;
        }
        if obs & ZX_CHANNEL_READABLE == 0 {
            return 0;
        }
        let m = ch_read(ch.raw(), 65536, 64);
        if m.status != ZX_OK || m.bytes.len() < 4 {
            return crate::child::SETUP + 2;
        }
        let mut reply = m.bytes.clone();
        match m.bytes.get(4) {
            Some(b'Q') => return 0,
            Some(b'X') => return 0,
            Some(b'N') => continue,
            Some(b'B') => reply.resize(1000, 0),
            _ => {}
        }
        for b in reply[4..].iter_mut() {
            *b = b.wrapping_add(1);
        }
        if ch_write(ch.raw(), &reply, &m.handles) != ZX_OK {
            return crate::child::SETUP + 3;
        }
    }
}

fn rights() -> R {
    let (a, _b) = channel()?;
    for rights in [ZX_RIGHT_READ, ZX_RIGHT_WRITE] {
        let mut r = 0u32;
        // SAFETY: valid out pointer.
        zx_ok!(unsafe { sys::zx_handle_replace(dup_channel(&a)?, rights, &mut r) });
        let h = Owned::from_raw(r);
        eq!(
            sname(call(h.raw(), after(10 * MS), b"abcd", &[], 8, 0).status),
            sname(ZX_ERR_ACCESS_DENIED)
        );
    }
    Ok(())
}

/// Channel handles cannot be duplicated: a fresh pair stands in, the caller's `a` unused.
fn dup_channel(_a: &Owned) -> Result<u32, alloc::string::String> {
    let (x, _y) = channel()?;
    core::mem::forget(_y);
    Ok(x.into_raw())
}

fn bad_handle() -> R {
    eq!(
        sname(call(0x1234_5673, after(MS), b"abcd", &[], 8, 0).status),
        sname(ZX_ERR_BAD_HANDLE)
    );
    eq!(
        sname(call(ZX_HANDLE_INVALID, after(MS), b"abcd", &[], 8, 0).status),
        sname(ZX_ERR_BAD_HANDLE)
    );
    let v = vmo(PAGE)?;
    eq!(
        sname(call(v.raw(), after(MS), b"abcd", &[], 8, 0).status),
        sname(ZX_ERR_WRONG_TYPE)
    );
    Ok(())
}

fn options() -> R {
    let (a, b) = channel()?;
    let v = vmo(PAGE)?;
    let vh = v.into_raw();
    let mut buf = [0u8; 8];
    let args = zx_channel_call_args_t {
        wr_bytes: b"abcd".as_ptr() as usize,
        wr_handles: &vh as *const u32 as usize,
        rd_bytes: buf.as_mut_ptr() as usize,
        rd_handles: 0,
        wr_num_bytes: 4,
        wr_num_handles: 1,
        rd_num_bytes: 8,
        rd_num_handles: 0,
    };
    let (mut ab, mut ah) = (0u32, 0u32);
    // SAFETY: valid args.
    check!(ZX_ERR_INVALID_ARGS, unsafe {
        sys::zx_channel_call(a.raw(), 1, after(MS), &args, &mut ab, &mut ah)
    });
    eq!(sname(valid(vh)), sname(ZX_ERR_BAD_HANDLE));
    eq!(ch_read(b.raw(), 8, 0).status, ZX_ERR_SHOULD_WAIT);
    Ok(())
}

fn short_request() -> R {
    let (a, b) = channel()?;
    let v = vmo(PAGE)?;
    let vh = v.into_raw();
    for n in [0usize, 3] {
        let r = call(a.raw(), after(MS), &b"abc"[..n], &[vh], 8, 0);
        eq!(sname(r.status), sname(ZX_ERR_INVALID_ARGS));
    }
    eq!(sname(valid(vh)), sname(ZX_ERR_BAD_HANDLE));
    eq!(ch_read(b.raw(), 8, 0).status, ZX_ERR_SHOULD_WAIT);
    Ok(())
}

fn bad_args() -> R {
    let (a, _b) = channel()?;
    let (mut ab, mut ah) = (0u32, 0u32);
    for bad in [0usize, KERNEL_ADDR, UNMAPPED_ADDR] {
        // SAFETY: the kernel must refuse the bad pointer.
        check!(ZX_ERR_INVALID_ARGS, unsafe {
            sys::zx_channel_call(
                a.raw(),
                0,
                after(MS),
                bad as *const zx_channel_call_args_t,
                &mut ab,
                &mut ah,
            )
        });
    }
    // A bad request buffer.
    let args = zx_channel_call_args_t {
        wr_bytes: KERNEL_ADDR,
        wr_num_bytes: 8,
        ..Default::default()
    };
    // SAFETY: as above.
    check!(ZX_ERR_INVALID_ARGS, unsafe {
        sys::zx_channel_call(a.raw(), 0, after(MS), &args, &mut ab, &mut ah)
    });
    // Bad actual pointers.
    let args = zx_channel_call_args_t {
        wr_bytes: b"abcd".as_ptr() as usize,
        wr_num_bytes: 4,
        ..Default::default()
    };
    // SAFETY: as above.
    check!(ZX_ERR_INVALID_ARGS, unsafe {
        sys::zx_channel_call(
            a.raw(),
            0,
            after(MS),
            &args,
            KERNEL_ADDR as *mut u32,
            &mut ah,
        )
    });
    eq!(ch_read(_b.raw(), 8, 0).status, ZX_ERR_SHOULD_WAIT);
    Ok(())
}

fn limits() -> R {
    let (a, _b) = channel()?;
    let big = vec![0u8; 65537];
    eq!(
        sname(call(a.raw(), after(MS), &big, &[], 8, 0).status),
        sname(ZX_ERR_OUT_OF_RANGE)
    );
    let hs = [0u32; 65];
    eq!(
        sname(call(a.raw(), after(MS), b"abcd", &hs, 8, 0).status),
        sname(ZX_ERR_OUT_OF_RANGE)
    );
    Ok(())
}

struct Server {
    h: u32,
    seen_txid: AtomicU32,
    status: AtomicI32,
    mode: u32,
}

/// In-process server thread: answers one request (mode 0), or two replies: one unrelated
/// first (mode 1), or a big one (mode 2), or closes its end (mode 3).
extern "C" fn server_entry(shared: usize, _: usize) -> ! {
    // SAFETY: the starter keeps the Server alive until this thread exits.
    let s = unsafe { &*(shared as *const Server) };
    let (st, _) = wait(s.h, ZX_CHANNEL_READABLE, 10_000 * MS);
    if st != ZX_OK {
        s.status.store(st, Ordering::SeqCst);
        thread_exit();
    }
    let m = ch_read(s.h, 100, 4);
    s.seen_txid.store(txid_of(&m.bytes), Ordering::SeqCst);
    let mut reply = m.bytes.clone();
    reply.extend_from_slice(b"-reply");
    let st = match s.mode {
        1 => {
            ch_write(s.h, b"\x01\x00\x00\x00other", &[]);
            ch_write(s.h, &reply, &[])
        }
        2 => {
            let v = vmo(PAGE).map(Owned::into_raw).unwrap_or(0);
            reply.resize(64, 0);
            ch_write(s.h, &reply, &[v])
        }
        3 => {
            sleep_ns(20 * MS);
            // SAFETY: closing our end.
            unsafe { sys::zx_handle_close(s.h) }
        }
        _ => ch_write(s.h, &reply, &[]),
    };
    s.status.store(st, Ordering::SeqCst);
    thread_exit()
}

fn server(h: u32, mode: u32) -> Server {
    Server {
        h,
        seen_txid: AtomicU32::new(0),
        status: AtomicI32::new(0),
        mode,
    }
}

fn txid() -> R {
    let (a, b) = channel()?;
    let srv = server(b.raw(), 0);
    let t = start_thread(server_entry, &srv as *const Server as usize, 0)?;
    let request = *b"\x07\x00\x00\x00ping";
    let r = call(a.raw(), after(10_000 * MS), &request, &[], 100, 0);
    t.join(5000 * MS)?;
    eq!(sname(r.status), sname(ZX_OK));
    let id = srv.seen_txid.load(Ordering::SeqCst);
    ensure!(id >= 0x8000_0000, "txid {id:#x} below 0x80000000");
    eq!(txid_of(&r.bytes), id);
    eq!(&r.bytes[4..], b"ping-reply");
    eq!(r.actual, (14, 0));
    // The caller's buffer keeps its own bytes.
    eq!(request, *b"\x07\x00\x00\x00ping");
    Ok(())
}

fn reply_not_queued() -> R {
    let (a, b) = channel()?;
    let srv = server(b.raw(), 1);
    let t = start_thread(server_entry, &srv as *const Server as usize, 0)?;
    let r = call(a.raw(), after(10_000 * MS), b"\0\0\0\0q", &[], 100, 0);
    t.join(5000 * MS)?;
    eq!(sname(r.status), sname(ZX_OK));
    eq!(&r.bytes[4..], b"q-reply");
    // Only the unrelated message waits; after reading it nothing is READABLE.
    let m = ch_read(a.raw(), 100, 0);
    eq!(m.bytes, b"\x01\x00\x00\x00other".to_vec());
    ensure!(
        signals(a.raw())? & ZX_CHANNEL_READABLE == 0,
        "the reply was queued too"
    );
    Ok(())
}

fn too_small() -> R {
    let (a, b) = channel()?;
    let before = kmem()?;
    let srv = server(b.raw(), 2);
    let t = start_thread(server_entry, &srv as *const Server as usize, 0)?;
    let r = call(a.raw(), after(10_000 * MS), b"\0\0\0\0s", &[], 8, 0);
    t.join(5000 * MS)?;
    eq!(sname(r.status), sname(ZX_ERR_BUFFER_TOO_SMALL));
    // `actual_*` not written.
    eq!(r.actual, (u32::MAX, u32::MAX));
    ensure!(
        signals(a.raw())? & ZX_CHANNEL_READABLE == 0,
        "discarded reply was queued"
    );
    // The VMO the reply carried is gone with it.
    sleep_ns(5 * MS);
    let after_ = kmem()?;
    ensure!(
        heap_used(&after_) <= heap_used(&before) + 8192,
        "heap grew by {}",
        heap_used(&after_).saturating_sub(heap_used(&before))
    );
    Ok(())
}

fn past_deadline() -> R {
    let (a, b) = channel()?;
    for deadline in [0i64, now() - 1, i64::MIN] {
        let r = call(a.raw(), deadline, b"\0\0\0\0p", &[], 8, 0);
        eq!(sname(r.status), sname(ZX_ERR_TIMED_OUT));
    }
    // The requests went out.
    for _ in 0..3 {
        eq!(sname(ch_read(b.raw(), 8, 0).status), sname(ZX_OK));
    }
    Ok(())
}

fn late_reply() -> R {
    let (a, b) = channel()?;
    let start = now();
    let r = call(a.raw(), after(30 * MS), b"\0\0\0\0late", &[], 100, 0);
    eq!(sname(r.status), sname(ZX_ERR_TIMED_OUT));
    ensure!(now() - start >= 30 * MS, "returned early");
    let m = ch_read(b.raw(), 100, 0);
    eq!(sname(m.status), sname(ZX_OK));
    zx_ok!(ch_write(b.raw(), &m.bytes, &[]));
    ensure!(
        signals(a.raw())? & ZX_CHANNEL_READABLE != 0,
        "late reply not queued"
    );
    eq!(ch_read(a.raw(), 100, 0).bytes, m.bytes);
    Ok(())
}

fn peer_closed_before() -> R {
    let (a, b) = channel()?;
    drop(b);
    let v = vmo(PAGE)?;
    let vh = v.into_raw();
    let r = call(a.raw(), after(1000 * MS), b"\0\0\0\0x", &[vh], 8, 0);
    eq!(sname(r.status), sname(ZX_ERR_PEER_CLOSED));
    eq!(sname(valid(vh)), sname(ZX_ERR_BAD_HANDLE));
    Ok(())
}

fn peer_closed_during() -> R {
    let (a, b) = channel()?;
    let srv = server(b.into_raw(), 3);
    let t = start_thread(server_entry, &srv as *const Server as usize, 0)?;
    let r = call(a.raw(), after(10_000 * MS), b"\0\0\0\0c", &[], 100, 0);
    t.join(5000 * MS)?;
    eq!(sname(r.status), sname(ZX_ERR_PEER_CLOSED));
    Ok(())
}

extern "C" fn close_after_entry(h: usize, delay_ns: usize) -> ! {
    sleep_ns(delay_ns as i64);
    // SAFETY: closes the handle the caller waits on, on purpose.
    unsafe {
        sys::zx_handle_close(h as u32);
    }
    thread_exit()
}

fn canceled() -> R {
    let (a, _b) = channel()?;
    let h = a.into_raw();
    let t = start_thread(close_after_entry, h as usize, (30 * MS) as usize)?;
    let r = call(h, after(10_000 * MS), b"\0\0\0\0c", &[], 100, 0);
    t.join(5000 * MS)?;
    eq!(sname(r.status), sname(ZX_ERR_CANCELED));
    Ok(())
}

fn spawn_server() -> Result<(Owned, Owned), alloc::string::String> {
    let (a, b) = channel()?;
    let p = spawn_child(&["call-server"], vec![b.into_raw()])?;
    Ok((a, p))
}

fn two_process() -> R {
    let (a, p) = spawn_server()?;
    for i in 0..50u8 {
        let r = call(
            a.raw(),
            after(10_000 * MS),
            &[0, 0, 0, 0, b'T', i],
            &[],
            100,
            0,
        );
        eq!(sname(r.status), sname(ZX_OK));
        eq!(r.bytes[4..], [b'U', i + 1]);
    }
    // A reply larger than the buffer.
    let r = call(a.raw(), after(10_000 * MS), b"\0\0\0\0B", &[], 100, 0);
    eq!(sname(r.status), sname(ZX_ERR_BUFFER_TOO_SMALL));
    // The server exits without replying: PEER_CLOSED.
    let r = call(a.raw(), after(10_000 * MS), b"\0\0\0\0X", &[], 100, 0);
    eq!(sname(r.status), sname(ZX_ERR_PEER_CLOSED));
    eq!(wait_child(&p, 10_000 * MS)?, 0);
    Ok(())
}

fn two_process_handles() -> R {
    let (a, p) = spawn_server()?;
    let v = vmo(PAGE)?;
    zx_ok!(vmo_write(v.raw(), 0, b"mine"));
    let koid = koid_of(v.raw())?;
    let r = call(
        a.raw(),
        after(10_000 * MS),
        b"\0\0\0\0h",
        &[v.into_raw()],
        100,
        4,
    );
    eq!(sname(r.status), sname(ZX_OK));
    eq!(r.handles.len(), 1);
    let back = Owned::from_raw(r.handles[0]);
    eq!(koid_of(back.raw())?, koid);
    // Reply handles need room: a zero-handle reply buffer gives BUFFER_TOO_SMALL.
    let v2 = vmo(PAGE)?;
    let r = call(
        a.raw(),
        after(10_000 * MS),
        b"\0\0\0\0h",
        &[v2.into_raw()],
        100,
        0,
    );
    eq!(sname(r.status), sname(ZX_ERR_BUFFER_TOO_SMALL));
    let r = call(a.raw(), after(10_000 * MS), b"\0\0\0\0Q", &[], 100, 0);
    eq!(sname(r.status), sname(ZX_ERR_PEER_CLOSED));
    eq!(wait_child(&p, 10_000 * MS)?, 0);
    Ok(())
}

struct Callers {
    h: u32,
    failures: AtomicI32,
    /// The first failure: a status, or 1000 + the reply's length.
    first: AtomicI32,
}

const CALLS_PER_THREAD: u32 = 100;

extern "C" fn caller_entry(shared: usize, index: usize) -> ! {
    // SAFETY: the starter keeps `Callers` alive until every caller has exited.
    let c = unsafe { &*(shared as *const Callers) };
    for i in 0..CALLS_PER_THREAD {
        let tag = (index as u32) << 16 | i;
        // `T` first: the payload must not start with one of the server's commands.
        let mut req = vec![0, 0, 0, 0, b'T'];
        req.extend_from_slice(&tag.to_le_bytes());
        let r = call(c.h, after(20_000 * MS), &req, &[], 100, 0);
        let want: Vec<u8> = tag
            .to_le_bytes()
            .iter()
            .map(|b| b.wrapping_add(1))
            .collect();
        if r.status != ZX_OK || r.bytes.len() != 9 || r.bytes[5..] != want[..] {
            c.failures.fetch_add(1, Ordering::SeqCst);
            let code = if r.status != ZX_OK {
                r.status
            } else {
                1000 + r.bytes.len() as i32
            };
            let _ = c
                .first
                .compare_exchange(0, code, Ordering::SeqCst, Ordering::SeqCst);
        }
    }
    thread_exit()
}

fn threads() -> R {
    let (a, p) = spawn_server()?;
    let callers = Callers {
        h: a.raw(),
        failures: AtomicI32::new(0),
        first: AtomicI32::new(0),
    };
    let threads: Vec<Thread> = (0..4)
        .map(|i| start_thread(caller_entry, &callers as *const Callers as usize, i))
        .collect::<Result<_, _>>()?;
    for t in threads {
        t.join(60_000 * MS)?;
    }
    let first = callers.first.load(Ordering::SeqCst);
    ensure!(
        callers.failures.load(Ordering::SeqCst) == 0,
        "{} calls failed, the first with {}",
        callers.failures.load(Ordering::SeqCst),
        if first >= 1000 {
            alloc::format!("a reply of {} bytes", first - 1000)
        } else {
            sname(first)
        }
    );
    ensure!(
        signals(a.raw())? & ZX_CHANNEL_READABLE == 0,
        "a reply was queued"
    );
    let r = call(a.raw(), after(10_000 * MS), b"\0\0\0\0Q", &[], 100, 0);
    eq!(sname(r.status), sname(ZX_ERR_PEER_CLOSED));
    eq!(wait_child(&p, 10_000 * MS)?, 0);
    Ok(())
}

fn no_leak() -> R {
    expect_no_kernel_leak(2, 10, || {
        let (a, b) = channel()?;
        let srv = server(b.raw(), 2);
        let t = start_thread(server_entry, &srv as *const Server as usize, 0)?;
        let r = call(a.raw(), after(10_000 * MS), b"\0\0\0\0s", &[], 100, 4);
        t.join(5000 * MS)?;
        eq!(sname(r.status), sname(ZX_OK));
        for h in r.handles {
            drop(Owned::from_raw(h));
        }
        // A timed-out call whose reply never comes, then closed.
        let r = call(
            a.raw(),
            after(MS),
            b"\0\0\0\0t",
            &[vmo(PAGE)?.into_raw()],
            100,
            0,
        );
        eq!(sname(r.status), sname(ZX_ERR_TIMED_OUT));
        Ok(())
    })
}

fn safe_api() -> R {
    let (a, p) = spawn_server()?;
    let mut reply = zx::MessageBuf::new();
    let deadline = zx::Time::from_nanos(after(10_000 * MS));
    ok!(a.raw_handle_call(deadline, &mut reply));
    eq!(&reply.bytes()[4..], b"tbg");
    drop(a);
    eq!(wait_child(&p, 10_000 * MS)?, 0);
    Ok(())
}

trait SafeCall {
    fn raw_handle_call(
        &self,
        deadline: zx::Time,
        reply: &mut zx::MessageBuf,
    ) -> Result<(), zx::Status>;
}

impl SafeCall for Owned {
    fn raw_handle_call(
        &self,
        deadline: zx::Time,
        reply: &mut zx::MessageBuf,
    ) -> Result<(), zx::Status> {
        // SAFETY: borrows the value for the call only; `forget` gives it back.
        let ch = zx::Channel::from(unsafe { zx::Handle::from_raw(self.raw()) });
        let r = ch.call(deadline, b"\0\0\0\0saf", &mut Vec::new(), reply, 100, 4);
        core::mem::forget(ch);
        r
    }
}
