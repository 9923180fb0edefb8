//! Channels: create, write, read, limits, handle transfer, peer closure.

use crate::harness::Case;
use crate::util::*;
use alloc::format;
use alloc::vec;
use alloc::vec::Vec;

pub const CASES: &[Case] = &[
    ("channel_create_options_must_be_zero", create_options),
    (
        "channel_create_bad_out_pointer_invalid_args",
        create_bad_out,
    ),
    ("channel_endpoint_rights_and_signals", endpoint_rights),
    ("channel_write_read_roundtrip", roundtrip),
    ("channel_messages_fifo", fifo),
    ("channel_empty_message_roundtrip", empty_message),
    ("channel_read_empty_should_wait", read_empty),
    ("channel_max_bytes_65536_ok_65537_out_of_range", max_bytes),
    ("channel_max_handles_64_ok_65_out_of_range", max_handles),
    ("channel_handle_transfer_moves_handle", transfer),
    (
        "channel_handles_consumed_when_write_fails",
        consumed_on_failure,
    ),
    (
        "channel_write_own_handle_not_supported_and_closes_it",
        own_handle,
    ),
    (
        "channel_write_handle_without_transfer_access_denied",
        no_transfer_right,
    ),
    (
        "channel_write_bad_handle_in_list_consumes_rest",
        bad_handle_in_list,
    ),
    (
        "channel_write_to_closed_peer_peer_closed",
        write_peer_closed,
    ),
    (
        "channel_read_drains_then_peer_closed",
        read_after_peer_closed,
    ),
    (
        "channel_read_buffer_too_small_reports_sizes",
        read_too_small,
    ),
    ("channel_read_write_need_rights", need_rights),
    ("channel_no_duplicate_right", no_duplicate),
    ("channel_wrong_type", wrong_type),
    (
        "channel_closing_reader_frees_queued_handles",
        queued_handles_freed,
    ),
    ("channel_safe_api_create_write_read", safe_api),
    (
        "channel_endpoint_sent_through_its_peer_is_freed",
        sent_through_peer,
    ),
    ("channel_deeply_nested_endpoints_freed", deep_nesting),
    ("channel_write_same_handle_twice_refused", same_handle_twice),
    ("channel_queue_accepts_3500_unread_messages", accepts_3500),
    (
        "channel_write_leaving_3501_unread_kills_writer_exception_kill",
        overfill_kills_writer,
    ),
    (
        "channel_small_messages_cannot_exhaust_kernel_memory",
        small_messages_keep_reserve,
    ),
    (
        "channel_unreachable_cycles_give_back_kernel_heap",
        cycles_give_back_heap,
    ),
    (
        "channel_unreachable_cycles_of_exited_child_give_back_kernel_heap",
        child_cycles_give_back_heap,
    ),
];

fn create_options() -> R {
    let (mut a, mut b) = (0u32, 0u32);
    for opts in [1u32, 2, 0x8000_0000] {
        check!(ZX_ERR_INVALID_ARGS, unsafe {
            sys::zx_channel_create(opts, &mut a, &mut b)
        });
    }
    Ok(())
}

fn create_bad_out() -> R {
    let mut a = 0u32;
    for p in [0usize, KERNEL_ADDR, UNMAPPED_ADDR, rodata_addr()] {
        check!(ZX_ERR_INVALID_ARGS, unsafe {
            sys::zx_channel_create(0, &mut a, p as *mut u32)
        });
        check!(ZX_ERR_INVALID_ARGS, unsafe {
            sys::zx_channel_create(0, p as *mut u32, &mut a)
        });
    }
    Ok(())
}

fn endpoint_rights() -> R {
    let (a, b) = channel()?;
    eqx!(rights_of(a.raw())?, ZX_DEFAULT_CHANNEL_RIGHTS);
    eqx!(rights_of(b.raw())?, 0xF00Eu32);
    eqx!(signals(a.raw())?, ZX_CHANNEL_WRITABLE);
    zx_ok!(ch_write(a.raw(), b"x", &[]));
    eqx!(signals(b.raw())?, ZX_CHANNEL_WRITABLE | ZX_CHANNEL_READABLE);
    eqx!(signals(a.raw())?, ZX_CHANNEL_WRITABLE);
    let m = ch_read(b.raw(), 8, 0);
    eq!(sname(m.status), sname(ZX_OK));
    eqx!(signals(b.raw())?, ZX_CHANNEL_WRITABLE);
    Ok(())
}

fn roundtrip() -> R {
    let (a, b) = channel()?;
    let data: Vec<u8> = (0..1000u32).map(|i| (i * 13) as u8).collect();
    zx_ok!(ch_write(a.raw(), &data, &[]));
    let m = ch_read(b.raw(), 2000, 4);
    eq!(sname(m.status), sname(ZX_OK));
    eq!(m.actual_bytes, 1000u32);
    eq!(m.actual_handles, 0u32);
    eq!(m.bytes, data);
    // Both directions.
    zx_ok!(ch_write(b.raw(), b"back", &[]));
    let m = ch_read(a.raw(), 16, 0);
    eq!(m.bytes, b"back".to_vec());
    Ok(())
}

fn fifo() -> R {
    let (a, b) = channel()?;
    for i in 0..20u8 {
        zx_ok!(ch_write(a.raw(), &[i; 3], &[]));
    }
    for i in 0..20u8 {
        let m = ch_read(b.raw(), 8, 0);
        eq!(sname(m.status), sname(ZX_OK));
        eq!(m.bytes, vec![i; 3]);
    }
    check!(ZX_ERR_SHOULD_WAIT, ch_read(b.raw(), 8, 0).status);
    Ok(())
}

fn empty_message() -> R {
    let (a, b) = channel()?;
    zx_ok!(ch_write(a.raw(), &[], &[]));
    eqx!(signals(b.raw())? & ZX_CHANNEL_READABLE, ZX_CHANNEL_READABLE);
    let m = ch_read(b.raw(), 0, 0);
    eq!(sname(m.status), sname(ZX_OK));
    eq!((m.actual_bytes, m.actual_handles), (0u32, 0u32));
    Ok(())
}

fn read_empty() -> R {
    let (a, _b) = channel()?;
    check!(ZX_ERR_SHOULD_WAIT, ch_read(a.raw(), 64, 4).status);
    Ok(())
}

fn max_bytes() -> R {
    let (a, b) = channel()?;
    let big = vec![0x5Au8; 65536];
    zx_ok!(ch_write(a.raw(), &big, &[]));
    let m = ch_read(b.raw(), 65536, 0);
    eq!(sname(m.status), sname(ZX_OK));
    eq!(m.actual_bytes, 65536u32);
    expect_all(&m.bytes, 0x5A, "64 KiB message")?;
    let too_big = vec![0u8; 65537];
    check!(ZX_ERR_OUT_OF_RANGE, ch_write(a.raw(), &too_big, &[]));
    check!(ZX_ERR_SHOULD_WAIT, ch_read(b.raw(), 8, 0).status);
    // A huge count with a small real buffer: the count is refused before any copy.
    check!(ZX_ERR_OUT_OF_RANGE, unsafe {
        sys::zx_channel_write(
            a.raw(),
            0,
            big.as_ptr().cast(),
            u32::MAX,
            [0u32].as_ptr(),
            0,
        )
    });
    Ok(())
}

fn max_handles() -> R {
    let (a, b) = channel()?;
    let v = vmo(0)?;
    let mut hs: Vec<u32> = Vec::new();
    for _ in 0..64 {
        hs.push(dup(v.raw(), ZX_RIGHT_SAME_RIGHTS)?.into_raw());
    }
    zx_ok!(ch_write(a.raw(), b"64", &hs));
    eq!(handle_count(v.raw())?, 65u32);
    let m = ch_read(b.raw(), 8, 64);
    eq!(sname(m.status), sname(ZX_OK));
    eq!(m.actual_handles, 64u32);
    for h in &m.handles {
        eq!(koid_of(*h)?, koid_of(v.raw())?);
    }
    unsafe { sys::zx_handle_close_many(m.handles.as_ptr(), m.handles.len()) };
    eq!(handle_count(v.raw())?, 1u32);
    let mut hs: Vec<u32> = Vec::new();
    for _ in 0..65 {
        hs.push(dup(v.raw(), ZX_RIGHT_SAME_RIGHTS)?.into_raw());
    }
    check!(ZX_ERR_OUT_OF_RANGE, ch_write(a.raw(), b"65", &hs));
    // All 65 were consumed.
    eq!(handle_count(v.raw())?, 1u32);
    check!(ZX_ERR_BAD_HANDLE, valid(hs[0]));
    check!(ZX_ERR_BAD_HANDLE, valid(hs[64]));
    check!(ZX_ERR_SHOULD_WAIT, ch_read(b.raw(), 8, 64).status);
    Ok(())
}

fn transfer() -> R {
    let (a, b) = channel()?;
    let v = vmo(PAGE)?;
    write_all(v.raw(), 0, b"moved")?;
    let rights = ZX_RIGHT_TRANSFER | ZX_RIGHT_READ | ZX_RIGHT_DUPLICATE;
    let d = dup(v.raw(), rights)?.into_raw();
    zx_ok!(ch_write(a.raw(), b"vmo", &[d]));
    check!(ZX_ERR_BAD_HANDLE, valid(d));
    let m = ch_read(b.raw(), 8, 1);
    eq!(sname(m.status), sname(ZX_OK));
    eq!(m.handles.len(), 1usize);
    let got = Owned::from_raw(m.handles[0]);
    ensure!(got.raw() & 0b11 == 0b11, "received value {:#x}", got.raw());
    let info = basic(got.raw())?;
    eq!(info.koid, koid_of(v.raw())?);
    eqx!(info.rights, rights);
    eq!(read_vec(got.raw(), 0, 5)?, b"moved".to_vec());
    // A channel endpoint can travel too.
    let (c, d2) = channel()?;
    zx_ok!(ch_write(a.raw(), b"ch", &[d2.into_raw()]));
    let m = ch_read(b.raw(), 8, 1);
    let d2 = Owned::from_raw(m.handles[0]);
    zx_ok!(ch_write(c.raw(), b"via moved endpoint", &[]));
    eq!(
        ch_read(d2.raw(), 64, 0).bytes,
        b"via moved endpoint".to_vec()
    );
    Ok(())
}

fn consumed_on_failure() -> R {
    let (a, b) = channel()?;
    let v = vmo(0)?;
    let h1 = dup(v.raw(), ZX_RIGHT_SAME_RIGHTS)?.into_raw();
    let h2 = dup(v.raw(), ZX_RIGHT_SAME_RIGHTS)?.into_raw();
    let big = vec![0u8; 65537];
    check!(ZX_ERR_OUT_OF_RANGE, ch_write(a.raw(), &big, &[h1, h2]));
    check!(ZX_ERR_BAD_HANDLE, valid(h1));
    check!(ZX_ERR_BAD_HANDLE, valid(h2));
    eq!(handle_count(v.raw())?, 1u32);
    // Peer closed: consumed as well.
    let h3 = dup(v.raw(), ZX_RIGHT_SAME_RIGHTS)?.into_raw();
    drop(b);
    check!(ZX_ERR_PEER_CLOSED, ch_write(a.raw(), b"x", &[h3]));
    check!(ZX_ERR_BAD_HANDLE, valid(h3));
    eq!(handle_count(v.raw())?, 1u32);
    // Bad bytes pointer: consumed as well.
    let (c, _d) = channel()?;
    let h4 = dup(v.raw(), ZX_RIGHT_SAME_RIGHTS)?.into_raw();
    check!(ZX_ERR_INVALID_ARGS, unsafe {
        sys::zx_channel_write(c.raw(), 0, UNMAPPED_ADDR as *const _, 16, &h4, 1)
    });
    check!(ZX_ERR_BAD_HANDLE, valid(h4));
    eq!(handle_count(v.raw())?, 1u32);
    Ok(())
}

fn own_handle() -> R {
    let (a, b) = channel()?;
    let v = vmo(0)?;
    let h = dup(v.raw(), ZX_RIGHT_SAME_RIGHTS)?.into_raw();
    let a_raw = a.into_raw();
    check!(ZX_ERR_NOT_SUPPORTED, ch_write(a_raw, b"self", &[h, a_raw]));
    check!(ZX_ERR_BAD_HANDLE, valid(h));
    eq!(handle_count(v.raw())?, 1u32);
    // Consumed like every other listed handle: the endpoint is closed, its peer sees it.
    check!(ZX_ERR_BAD_HANDLE, valid(a_raw));
    eqx!(
        signals(b.raw())? & ZX_CHANNEL_PEER_CLOSED,
        ZX_CHANNEL_PEER_CLOSED
    );
    check!(ZX_ERR_PEER_CLOSED, ch_read(b.raw(), 8, 4).status);
    // Alone in the list, too.
    let (c, d) = channel()?;
    let c_raw = c.into_raw();
    check!(ZX_ERR_NOT_SUPPORTED, ch_write(c_raw, b"self", &[c_raw]));
    check!(ZX_ERR_BAD_HANDLE, valid(c_raw));
    eqx!(
        signals(d.raw())? & ZX_CHANNEL_PEER_CLOSED,
        ZX_CHANNEL_PEER_CLOSED
    );
    Ok(())
}

fn no_transfer_right() -> R {
    let (a, b) = channel()?;
    let v = vmo(0)?;
    let keep = dup(v.raw(), ZX_DEFAULT_VMO_RIGHTS & !ZX_RIGHT_TRANSFER)?.into_raw();
    let other = dup(v.raw(), ZX_RIGHT_SAME_RIGHTS)?.into_raw();
    check!(
        ZX_ERR_ACCESS_DENIED,
        ch_write(a.raw(), b"x", &[other, keep])
    );
    check!(ZX_ERR_BAD_HANDLE, valid(other));
    check!(ZX_ERR_BAD_HANDLE, valid(keep));
    eq!(handle_count(v.raw())?, 1u32);
    check!(ZX_ERR_SHOULD_WAIT, ch_read(b.raw(), 8, 4).status);
    Ok(())
}

fn bad_handle_in_list() -> R {
    let (a, b) = channel()?;
    let v = vmo(0)?;
    let h = dup(v.raw(), ZX_RIGHT_SAME_RIGHTS)?.into_raw();
    check!(
        ZX_ERR_BAD_HANDLE,
        ch_write(a.raw(), b"x", &[h, 0x3333_3333])
    );
    check!(ZX_ERR_BAD_HANDLE, valid(h));
    eq!(handle_count(v.raw())?, 1u32);
    check!(ZX_ERR_SHOULD_WAIT, ch_read(b.raw(), 8, 4).status);
    Ok(())
}

fn write_peer_closed() -> R {
    let (a, b) = channel()?;
    drop(b);
    check!(ZX_ERR_PEER_CLOSED, ch_write(a.raw(), b"x", &[]));
    let s = signals(a.raw())?;
    ensure!(
        s & ZX_CHANNEL_PEER_CLOSED != 0,
        "signals {s:#x} lack PEER_CLOSED"
    );
    ensure!(
        s & ZX_CHANNEL_WRITABLE == 0,
        "signals {s:#x} still have WRITABLE"
    );
    Ok(())
}

fn read_after_peer_closed() -> R {
    let (a, b) = channel()?;
    zx_ok!(ch_write(a.raw(), b"one", &[]));
    zx_ok!(ch_write(a.raw(), b"two", &[]));
    drop(a);
    eqx!(
        signals(b.raw())?,
        ZX_CHANNEL_READABLE | ZX_CHANNEL_PEER_CLOSED
    );
    eq!(ch_read(b.raw(), 8, 0).bytes, b"one".to_vec());
    eq!(ch_read(b.raw(), 8, 0).bytes, b"two".to_vec());
    check!(ZX_ERR_PEER_CLOSED, ch_read(b.raw(), 8, 0).status);
    eqx!(signals(b.raw())?, ZX_CHANNEL_PEER_CLOSED);
    Ok(())
}

fn read_too_small() -> R {
    let (a, b) = channel()?;
    let v = vmo(0)?;
    let h = dup(v.raw(), ZX_RIGHT_SAME_RIGHTS)?.into_raw();
    zx_ok!(ch_write(a.raw(), b"0123456789", &[h]));
    let m = ch_read(b.raw(), 4, 1);
    eq!(sname(m.status), sname(ZX_ERR_BUFFER_TOO_SMALL));
    eq!((m.actual_bytes, m.actual_handles), (10u32, 1u32));
    let m = ch_read(b.raw(), 10, 0);
    eq!(sname(m.status), sname(ZX_ERR_BUFFER_TOO_SMALL));
    eq!((m.actual_bytes, m.actual_handles), (10u32, 1u32));
    // The message stayed queued and comes out whole.
    let m = ch_read(b.raw(), 10, 1);
    eq!(sname(m.status), sname(ZX_OK));
    eq!(m.bytes, b"0123456789".to_vec());
    let got = Owned::from_raw(m.handles[0]);
    eq!(koid_of(got.raw())?, koid_of(v.raw())?);
    Ok(())
}

fn need_rights() -> R {
    let (a, b) = channel()?;
    let mut out = 0u32;
    zx_ok!(unsafe {
        sys::zx_handle_replace(a.into_raw(), ZX_RIGHT_READ | ZX_RIGHT_WAIT, &mut out)
    });
    let a_ro = Owned::from_raw(out);
    check!(ZX_ERR_ACCESS_DENIED, ch_write(a_ro.raw(), b"x", &[]));
    zx_ok!(unsafe { sys::zx_handle_replace(b.into_raw(), ZX_RIGHT_WRITE, &mut out) });
    let b_wo = Owned::from_raw(out);
    zx_ok!(ch_write(b_wo.raw(), b"y", &[]));
    check!(ZX_ERR_ACCESS_DENIED, ch_read(b_wo.raw(), 8, 0).status);
    eq!(ch_read(a_ro.raw(), 8, 0).bytes, b"y".to_vec());
    Ok(())
}

fn no_duplicate() -> R {
    let (a, _b) = channel()?;
    let mut out = 0u32;
    check!(ZX_ERR_ACCESS_DENIED, unsafe {
        sys::zx_handle_duplicate(a.raw(), ZX_RIGHT_SAME_RIGHTS, &mut out)
    });
    Ok(())
}

fn wrong_type() -> R {
    let v = vmo(PAGE)?;
    check!(ZX_ERR_WRONG_TYPE, ch_write(v.raw(), b"x", &[]));
    check!(ZX_ERR_WRONG_TYPE, ch_read(v.raw(), 8, 0).status);
    check!(ZX_ERR_BAD_HANDLE, ch_write(0x2222_2223, b"x", &[]));
    Ok(())
}

fn queued_handles_freed() -> R {
    let pages = 32u64;
    let (a, b) = channel()?;
    let v = vmo(pages * PAGE)?;
    zx_ok!(op(v.raw(), ZX_VMO_OP_COMMIT, 0, pages * PAGE));
    let before = kmem()?;
    zx_ok!(ch_write(a.raw(), b"", &[v.into_raw()]));
    drop(b);
    drop(a);
    let after = kmem()?;
    ensure!(
        after.vmo_bytes + (pages - 8) * PAGE <= before.vmo_bytes,
        "KMEM vmo_bytes {:#x} -> {:#x}: the VMO queued in a dead channel was not freed",
        before.vmo_bytes,
        after.vmo_bytes
    );
    Ok(())
}

fn safe_api() -> R {
    let (a, b) = ok!(zx::Channel::create());
    let v = ok!(zx::Vmo::create(PAGE));
    ok!(v.write(b"safe", 0));
    let mut handles = vec![zx::Handle::from(v)];
    ok!(a.write(b"hello", &mut handles));
    let mut buf = zx::MessageBuf::new();
    ok!(b.read(&mut buf));
    eq!(buf.bytes(), &b"hello"[..]);
    let h = match buf.take_handle(0) {
        Some(h) => h,
        None => fail!("no handle in the message"),
    };
    let v2 = zx::Vmo::from(h);
    let mut r = [0u8; 4];
    ok!(v2.read(&mut r, 0));
    eq!(&r, b"safe");
    Ok(())
}

fn sent_through_peer() -> R {
    let v = vmo(PAGE)?;
    let c = clone_vmo(v.raw(), ZX_VMO_CLONE_COPY_ON_WRITE, 0, PAGE)?;
    let (a, b) = channel()?;
    zx_ok!(ch_write(a.raw(), b"clone", &[c.into_raw()]));
    // b travels into its own receive queue.
    zx_ok!(ch_write(a.raw(), b"peer", &[b.into_raw()]));
    drop(a);
    // Nothing can reach b any more: it and the clone queued at it must be gone.
    let (s, _) = wait(v.raw(), ZX_VMO_ZERO_CHILDREN, 2000 * MS);
    ensure!(
        s == ZX_OK,
        "the clone queued at an unreachable endpoint was not freed: {}",
        sname(s)
    );
    Ok(())
}

fn deep_nesting() -> R {
    let levels = 3000;
    let v = vmo(PAGE)?;
    let mut cur = clone_vmo(v.raw(), ZX_VMO_CLONE_COPY_ON_WRITE, 0, PAGE)?.into_raw();
    for i in 0..levels {
        let (a, b) = match channel() {
            Ok(p) => p,
            Err(e) => {
                unsafe { sys::zx_handle_close(cur) };
                fail!("level {i}: {e}");
            }
        };
        let s = ch_write(a.raw(), b"", &[cur]);
        if s != ZX_OK {
            fail!("level {i}: zx_channel_write: {}", sname(s));
        }
        drop(a);
        cur = b.into_raw();
    }
    eqx!(signals(v.raw())? & ZX_VMO_ZERO_CHILDREN, 0u32);
    // Closing the outermost endpoint frees all levels down to the clone.
    zx_ok!(unsafe { sys::zx_handle_close(cur) });
    let (s, _) = wait(v.raw(), ZX_VMO_ZERO_CHILDREN, 5000 * MS);
    ensure!(
        s == ZX_OK,
        "{levels} nested endpoints were not all freed: {}",
        sname(s)
    );
    Ok(())
}

fn same_handle_twice() -> R {
    let (a, b) = channel()?;
    let v = vmo(0)?;
    let h = dup(v.raw(), ZX_RIGHT_SAME_RIGHTS)?.into_raw();
    let s = ch_write(a.raw(), b"twice", &[h, h]);
    ensure!(
        s != ZX_OK,
        "a message carrying the same handle twice was accepted"
    );
    check!(ZX_ERR_BAD_HANDLE, valid(h));
    eq!(handle_count(v.raw())?, 1u32);
    check!(ZX_ERR_SHOULD_WAIT, ch_read(b.raw(), 8, 4).status);
    Ok(())
}

fn accepts_3500() -> R {
    let (a, b) = channel()?;
    for i in 0..CHANNEL_MAX_UNREAD as u32 {
        let s = ch_write(a.raw(), &i.to_le_bytes(), &[]);
        if s != ZX_OK {
            fail!("write {} of {CHANNEL_MAX_UNREAD}: {}", i + 1, sname(s));
        }
    }
    for i in 0..CHANNEL_MAX_UNREAD as u32 {
        let m = ch_read(b.raw(), 4, 0);
        if m.status != ZX_OK || m.bytes != i.to_le_bytes() {
            fail!("message {i}: {} {:?}", sname(m.status), m.bytes);
        }
    }
    check!(ZX_ERR_SHOULD_WAIT, ch_read(b.raw(), 4, 0).status);
    Ok(())
}

fn overfill_kills_writer() -> R {
    let (a, b) = channel()?;
    let code = run_child(&["overfill"], vec![a.into_raw()], 30_000 * MS)?;
    ensure!(
        code == ZX_TASK_RETCODE_EXCEPTION_KILL,
        "the child that left 3501 unread messages ended with {code} (want {}; 70: a write failed)",
        ZX_TASK_RETCODE_EXCEPTION_KILL
    );
    // The violating message was queued all the same; then the writer's end is gone.
    for i in 0..=CHANNEL_MAX_UNREAD as u32 {
        let m = ch_read(b.raw(), 4, 0);
        if m.status != ZX_OK || m.bytes != i.to_le_bytes() {
            fail!("message {i}: {} {:?}", sname(m.status), m.bytes);
        }
    }
    check!(ZX_ERR_PEER_CLOSED, ch_read(b.raw(), 4, 0).status);
    Ok(())
}

/// Free pages plus what the kernel heap keeps free for later.
fn available(k: &zx_info_kmem_stats_t) -> u64 {
    k.free_bytes + k.free_heap_bytes
}

fn heap_used(k: &zx_info_kmem_stats_t) -> u64 {
    k.total_heap_bytes - k.free_heap_bytes
}

fn small_messages_keep_reserve() -> R {
    let flag = vmo(PAGE)?;
    zx_ok!(op(flag.raw(), ZX_VMO_OP_COMMIT, 0, PAGE));
    let base = kmem()?;
    let child_flag = dup(flag.raw(), ZX_RIGHT_SAME_RIGHTS)?.into_raw();
    let p = spawn_child(&["small-flood"], vec![child_flag])?;
    let deadline = now() + 120_000 * MS;
    loop {
        let mut byte = [0u8];
        zx_ok!(vmo_read(flag.raw(), 0, &mut byte));
        if byte[0] == 1 {
            break;
        }
        if signals(p.raw())? & ZX_PROCESS_TERMINATED != 0 {
            let code = wait_child(&p, 0)?;
            fail!("the flooding child ended with {code} before a write gave NO_MEMORY");
        }
        if now() > deadline {
            let _ = wait_child(&p, 0);
            fail!("no NO_MEMORY after 120 s of 8191-byte messages");
        }
        sleep_ns(20 * MS);
    }
    // The writes stopped while the kernel still had its reserve (256 pages; the message
    // check lets at most one 64-page heap chunk into it). Without it the heap took the pool
    // down to what fragmentation left (about 155 pages).
    let full = kmem()?;
    let result = if full.free_bytes < 192 * PAGE {
        Err(format!(
            "queued messages took the kernel down to {:#x} free bytes (heap {:#x}, {:#x} free)",
            full.free_bytes, full.total_heap_bytes, full.free_heap_bytes
        ))
    } else {
        Ok(())
    };
    // SAFETY: killing our own child.
    unsafe { sys::zx_task_kill(p.raw()) };
    wait_child(&p, 10_000 * MS)?;
    result?;
    let deadline = now() + 5000 * MS;
    loop {
        let k = kmem()?;
        if available(&k) + 256 * PAGE >= available(&base) {
            return Ok(());
        }
        if now() > deadline {
            fail!(
                "free+free_heap {:#x} -> {:#x} after the flooding child was killed",
                available(&base),
                available(&k)
            );
        }
        sleep_ns(20 * MS);
    }
}

/// Makes one cycle: a<->b, c<->d, d written into a (so into b's queue), b into c (so into
/// d's queue), a and c closed. Every `vmo_every`th cycle also carries a VMO with a committed
/// page.
fn make_cycle(index: usize, vmo_every: usize) -> R {
    let (a, b) = channel()?;
    let (c, d) = channel()?;
    let mut first = alloc::vec![d.into_raw()];
    if vmo_every != 0 && index.is_multiple_of(vmo_every) {
        let v = vmo(PAGE)?;
        zx_ok!(op(v.raw(), ZX_VMO_OP_COMMIT, 0, PAGE));
        first.push(v.into_raw());
    }
    zx_ok!(ch_write(a.raw(), b"d", &first));
    zx_ok!(ch_write(c.raw(), b"b", &[b.into_raw()]));
    Ok(())
}

/// Waits until the kernel heap in use is back within `slack` of `base_used` and the free
/// memory within 64 pages of `base` (the heap may keep one spare 256 KiB chunk).
fn heap_comes_back(base: &zx_info_kmem_stats_t, slack: u64, what: &str) -> R {
    let deadline = now() + 3000 * MS;
    loop {
        let k = kmem()?;
        let heap_ok = heap_used(&k) <= heap_used(base) + slack;
        let free_ok = available(&k) + 64 * PAGE >= available(base);
        let vmo_ok = k.vmo_bytes <= base.vmo_bytes;
        if heap_ok && free_ok && vmo_ok {
            return Ok(());
        }
        if now() > deadline {
            fail!(
                "{what}: kernel heap in use {:#x} -> {:#x} (slack {slack:#x}), free+free_heap {:#x} -> {:#x}, vmo_bytes {:#x} -> {:#x}",
                heap_used(base),
                heap_used(&k),
                available(base),
                available(&k),
                base.vmo_bytes,
                k.vmo_bytes
            );
        }
        sleep_ns(10 * MS);
    }
}

fn cycles_give_back_heap() -> R {
    // Warm-up: the handle table's slots and the like reach their steady size.
    for i in 0..32 {
        make_cycle(i, 0)?;
    }
    let base = kmem()?;
    for i in 0..2000 {
        make_cycle(i, 100)?;
    }
    // Before the collector, each cycle kept about 1.4 KiB (2.8 MiB in all).
    heap_comes_back(&base, 16 * 1024, "after 2000 unreachable cycles")
}

fn child_cycles_give_back_heap() -> R {
    // What a child that makes no cycle leaves behind (if anything) is the baseline.
    let before_empty = kmem()?;
    let code = run_child(&["cycles", "0", "0"], vec![], 30_000 * MS)?;
    eq!(code, 0i64);
    heap_comes_back(&before_empty, 64 * 1024, "after a child that made no cycle")?;
    let settled = kmem()?;
    let baseline_leak = heap_used(&settled).saturating_sub(heap_used(&before_empty));
    let base = kmem()?;
    let code = run_child(&["cycles", "2000", "100"], vec![], 60_000 * MS)?;
    ensure!(code == 0, "the cycle-making child ended with {code}");
    heap_comes_back(
        &base,
        baseline_leak + 16 * 1024,
        "after a child made 2000 unreachable cycles and exited",
    )
}
