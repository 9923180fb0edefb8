//! Sockets (zx-abi-objects.md section 6): create, stream and datagram writes and reads, peek,
//! capacity, peer closure, dispositions, signals, ZX_INFO_SOCKET, bad buffers, leaks.

use crate::harness::Case;
use crate::util::*;
use alloc::vec;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicI32, AtomicUsize, Ordering};

pub const CASES: &[Case] = &[
    ("socket_create_bad_options_invalid_args", create_options),
    ("socket_create_bad_out_pointer_no_handle", create_bad_out),
    ("socket_rights_type_related_koid", rights_type),
    ("socket_endpoints_start_writable", start_writable),
    ("socket_stream_bytes_in_order", stream_in_order),
    ("socket_stream_short_write_at_capacity", stream_short),
    (
        "socket_stream_full_should_wait_then_writable_after_read",
        full_then_writable,
    ),
    ("socket_datagram_boundaries_and_cut", datagram_cut),
    (
        "socket_datagram_above_257024_out_of_range",
        datagram_too_big,
    ),
    (
        "socket_datagram_never_short_should_wait",
        datagram_never_short,
    ),
    ("socket_peek_removes_nothing", peek),
    ("socket_write_size_zero_and_null_buffer", size_zero),
    ("socket_bad_options_invalid_args", bad_options),
    ("socket_calls_need_rights_and_type", need_rights),
    ("socket_empty_read_should_wait", empty_read),
    ("socket_peer_closed_data_stays_readable", peer_closed),
    ("socket_disposition_write_disabled", disposition_disabled),
    ("socket_disposition_enable_rules", disposition_enable),
    (
        "socket_disposition_bad_values_invalid_args",
        disposition_invalid,
    ),
    ("socket_read_bad_buffer_keeps_data", read_bad_buffer),
    ("socket_write_bad_buffer_changes_nothing", write_bad_buffer),
    ("socket_info_socket", info),
    ("socket_wait_writable_woken_by_read", writable_wakes),
    ("socket_threads_stream_every_byte_once", threads_stream),
    ("socket_closed_with_queued_data_frees_everything", no_leak),
    ("socket_safe_api", safe_api),
];

pub const RX_MAX: usize = 257_024;

pub fn socket(options: u32) -> Result<(Owned, Owned), alloc::string::String> {
    let (mut a, mut b) = (0u32, 0u32);
    // SAFETY: valid out pointers.
    let s = unsafe { sys::zx_socket_create(options, &mut a, &mut b) };
    if s != ZX_OK {
        return Err(alloc::format!("zx_socket_create setup: {}", sname(s)));
    }
    Ok((Owned::from_raw(a), Owned::from_raw(b)))
}

/// (status, actual)
pub fn sk_write(h: u32, data: &[u8]) -> (i32, usize) {
    let mut actual = usize::MAX;
    // SAFETY: valid buffer and out pointer.
    let s = unsafe { sys::zx_socket_write(h, 0, data.as_ptr(), data.len(), &mut actual) };
    (s, actual)
}

/// (status, bytes read)
pub fn sk_read(h: u32, size: usize, options: u32) -> (i32, Vec<u8>) {
    let mut buf = vec![0u8; size.max(1)];
    let mut actual = 0usize;
    // SAFETY: valid buffer and out pointer.
    let s = unsafe { sys::zx_socket_read(h, options, buf.as_mut_ptr(), size, &mut actual) };
    buf.truncate(if s == ZX_OK { actual } else { 0 });
    (s, buf)
}

fn create_options() -> R {
    let (mut a, mut b) = (0u32, 0u32);
    for options in [2u32, ZX_SOCKET_PEEK, 1 << 31, 3] {
        // SAFETY: valid out pointers.
        check!(ZX_ERR_INVALID_ARGS, unsafe {
            sys::zx_socket_create(options, &mut a, &mut b)
        });
    }
    Ok(())
}

fn create_bad_out() -> R {
    let before = kmem()?;
    let mut a = 0u32;
    for bad in [0usize, KERNEL_ADDR, UNMAPPED_ADDR] {
        // SAFETY: the kernel must refuse the bad pointer.
        check!(ZX_ERR_INVALID_ARGS, unsafe {
            sys::zx_socket_create(0, &mut a, bad as *mut u32)
        });
        // SAFETY: as above.
        check!(ZX_ERR_INVALID_ARGS, unsafe {
            sys::zx_socket_create(0, bad as *mut u32, &mut a)
        });
    }
    let after = kmem()?;
    ensure!(
        heap_used(&after) <= heap_used(&before) + 4096,
        "heap grew {} bytes",
        heap_used(&after).saturating_sub(heap_used(&before))
    );
    Ok(())
}

fn rights_type() -> R {
    let (a, b) = socket(0)?;
    let ia = basic(a.raw())?;
    let ib = basic(b.raw())?;
    eqx!(ia.rights, ZX_DEFAULT_SOCKET_RIGHTS);
    eqx!(ia.rights, 0x10F0CF);
    eq!(ia.type_, ZX_OBJ_TYPE_SOCKET);
    eq!(ia.related_koid, ib.koid);
    eq!(ib.related_koid, ia.koid);
    Ok(())
}

fn start_writable() -> R {
    for options in [ZX_SOCKET_STREAM, ZX_SOCKET_DATAGRAM] {
        let (a, b) = socket(options)?;
        eqx!(signals(a.raw())?, ZX_SOCKET_WRITABLE);
        eqx!(signals(b.raw())?, ZX_SOCKET_WRITABLE);
    }
    Ok(())
}

fn stream_in_order() -> R {
    let (a, b) = socket(0)?;
    eq!(sk_write(a.raw(), b"hello "), (ZX_OK, 6));
    eq!(sk_write(a.raw(), b"world"), (ZX_OK, 5));
    ensure!(signals(b.raw())? & ZX_SOCKET_READABLE != 0, "not READABLE");
    eq!(sk_read(b.raw(), 3, 0), (ZX_OK, b"hel".to_vec()));
    eq!(sk_read(b.raw(), 100, 0), (ZX_OK, b"lo world".to_vec()));
    ensure!(
        signals(b.raw())? & ZX_SOCKET_READABLE == 0,
        "READABLE once empty"
    );
    // The other direction is independent.
    eq!(sk_write(b.raw(), b"back"), (ZX_OK, 4));
    eq!(sk_read(a.raw(), 100, 0), (ZX_OK, b"back".to_vec()));
    Ok(())
}

fn stream_short() -> R {
    let (a, b) = socket(0)?;
    let big = vec![0x5Au8; RX_MAX + 1000];
    eq!(sk_write(a.raw(), &big), (ZX_OK, RX_MAX));
    let (s, got) = sk_read(b.raw(), RX_MAX + 10, 0);
    eq!(sname(s), sname(ZX_OK));
    eq!(got.len(), RX_MAX);
    expect_all(&got, 0x5A, "read back")?;
    Ok(())
}

fn full_then_writable() -> R {
    let (a, b) = socket(0)?;
    let big = vec![1u8; RX_MAX];
    eq!(sk_write(a.raw(), &big), (ZX_OK, RX_MAX));
    let sa = signals(a.raw())?;
    ensure!(
        sa & ZX_SOCKET_WRITABLE == 0,
        "writer still WRITABLE when full ({sa:#x})"
    );
    eq!(sk_write(a.raw(), b"x").0, ZX_ERR_SHOULD_WAIT);
    eq!(sk_read(b.raw(), 100, 0).1.len(), 100);
    ensure!(
        signals(a.raw())? & ZX_SOCKET_WRITABLE != 0,
        "WRITABLE not back after a read"
    );
    eq!(sk_write(a.raw(), &big), (ZX_OK, 100));
    Ok(())
}

fn datagram_cut() -> R {
    let (a, b) = socket(ZX_SOCKET_DATAGRAM)?;
    eq!(sk_write(a.raw(), b"first"), (ZX_OK, 5));
    eq!(sk_write(a.raw(), b"second"), (ZX_OK, 6));
    eq!(sk_write(a.raw(), b"3"), (ZX_OK, 1));
    eq!(sk_read(b.raw(), 100, 0), (ZX_OK, b"first".to_vec()));
    // Cut: the rest of the datagram is discarded.
    eq!(sk_read(b.raw(), 3, 0), (ZX_OK, b"sec".to_vec()));
    eq!(sk_read(b.raw(), 100, 0), (ZX_OK, b"3".to_vec()));
    eq!(sk_read(b.raw(), 100, 0).0, ZX_ERR_SHOULD_WAIT);
    Ok(())
}

fn datagram_too_big() -> R {
    let (a, b) = socket(ZX_SOCKET_DATAGRAM)?;
    let big = vec![2u8; RX_MAX + 1];
    eq!(sk_write(a.raw(), &big).0, ZX_ERR_OUT_OF_RANGE);
    eq!(sk_write(a.raw(), &big[..RX_MAX]), (ZX_OK, RX_MAX));
    let (s, got) = sk_read(b.raw(), RX_MAX, 0);
    eq!(sname(s), sname(ZX_OK));
    eq!(got.len(), RX_MAX);
    Ok(())
}

fn datagram_never_short() -> R {
    let (a, b) = socket(ZX_SOCKET_DATAGRAM)?;
    let big = vec![3u8; RX_MAX - 10];
    eq!(sk_write(a.raw(), &big), (ZX_OK, RX_MAX - 10));
    eq!(sk_write(a.raw(), &[4u8; 11]).0, ZX_ERR_SHOULD_WAIT);
    eq!(sk_write(a.raw(), &[4u8; 10]), (ZX_OK, 10));
    eq!(sk_read(b.raw(), 1, 0), (ZX_OK, vec![3u8]));
    // The first datagram went whole: room for it again.
    eq!(sk_write(a.raw(), &big), (ZX_OK, RX_MAX - 10));
    Ok(())
}

fn peek() -> R {
    for options in [ZX_SOCKET_STREAM, ZX_SOCKET_DATAGRAM] {
        let (a, b) = socket(options)?;
        eq!(sk_write(a.raw(), b"abcdef"), (ZX_OK, 6));
        eq!(
            sk_read(b.raw(), 3, ZX_SOCKET_PEEK),
            (ZX_OK, b"abc".to_vec())
        );
        eq!(
            sk_read(b.raw(), 10, ZX_SOCKET_PEEK),
            (ZX_OK, b"abcdef".to_vec())
        );
        ensure!(
            signals(b.raw())? & ZX_SOCKET_READABLE != 0,
            "peek cleared READABLE"
        );
        eq!(sk_read(b.raw(), 10, 0), (ZX_OK, b"abcdef".to_vec()));
    }
    Ok(())
}

fn size_zero() -> R {
    let (a, b) = socket(0)?;
    let mut actual = 7usize;
    // SAFETY: NULL with size 0 is allowed.
    zx_ok!(unsafe { sys::zx_socket_write(a.raw(), 0, core::ptr::null(), 0, &mut actual) });
    eq!(actual, 0);
    ensure!(
        signals(b.raw())? & ZX_SOCKET_READABLE == 0,
        "size 0 queued something"
    );
    // SAFETY: NULL with size > 0 must be refused.
    check!(ZX_ERR_INVALID_ARGS, unsafe {
        sys::zx_socket_write(a.raw(), 0, core::ptr::null(), 4, &mut actual)
    });
    // `actual` may be NULL.
    // SAFETY: valid buffer, NULL actual.
    zx_ok!(unsafe { sys::zx_socket_write(a.raw(), 0, b"x".as_ptr(), 1, core::ptr::null_mut()) });
    // SAFETY: NULL buffer with size > 0 on read.
    check!(ZX_ERR_INVALID_ARGS, unsafe {
        sys::zx_socket_read(b.raw(), 0, core::ptr::null_mut(), 4, &mut actual)
    });
    let mut buf = [0u8; 4];
    // SAFETY: valid buffer, NULL actual.
    zx_ok!(unsafe { sys::zx_socket_read(b.raw(), 0, buf.as_mut_ptr(), 4, core::ptr::null_mut()) });
    eq!(buf[0], b'x');
    Ok(())
}

fn bad_options() -> R {
    let (a, b) = socket(0)?;
    let mut actual = 0usize;
    // SAFETY: valid buffers.
    check!(ZX_ERR_INVALID_ARGS, unsafe {
        sys::zx_socket_write(a.raw(), 1, b"x".as_ptr(), 1, &mut actual)
    });
    eq!(sk_write(a.raw(), b"x"), (ZX_OK, 1));
    let mut buf = [0u8; 4];
    for options in [1u32, 2, ZX_SOCKET_PEEK | 1, 1 << 31] {
        // SAFETY: valid buffers.
        check!(ZX_ERR_INVALID_ARGS, unsafe {
            sys::zx_socket_read(b.raw(), options, buf.as_mut_ptr(), 4, &mut actual)
        });
    }
    Ok(())
}

fn need_rights() -> R {
    let (a, b) = socket(0)?;
    let ro = dup(a.raw(), ZX_RIGHT_READ | ZX_RIGHT_DUPLICATE)?;
    let wo = dup(b.raw(), ZX_RIGHT_WRITE | ZX_RIGHT_DUPLICATE)?;
    eq!(sk_write(ro.raw(), b"x").0, ZX_ERR_ACCESS_DENIED);
    eq!(sk_read(wo.raw(), 4, 0).0, ZX_ERR_ACCESS_DENIED);
    // SAFETY: no pointers.
    check!(ZX_ERR_ACCESS_DENIED, unsafe {
        sys::zx_socket_set_disposition(ro.raw(), 0, 0)
    });
    let v = vmo(PAGE)?;
    eq!(sk_write(v.raw(), b"x").0, ZX_ERR_WRONG_TYPE);
    eq!(sk_read(v.raw(), 4, 0).0, ZX_ERR_WRONG_TYPE);
    // SAFETY: no pointers.
    check!(ZX_ERR_WRONG_TYPE, unsafe {
        sys::zx_socket_set_disposition(v.raw(), 0, 0)
    });
    eq!(sk_write(0x1234_5673, b"x").0, ZX_ERR_BAD_HANDLE);
    eq!(sk_read(ZX_HANDLE_INVALID, 4, 0).0, ZX_ERR_BAD_HANDLE);
    // Lookup before options: a bad handle wins over bad options.
    let mut actual = 0usize;
    // SAFETY: valid buffer.
    check!(ZX_ERR_BAD_HANDLE, unsafe {
        sys::zx_socket_write(0x1234_5673, 9, b"x".as_ptr(), 1, &mut actual)
    });
    Ok(())
}

fn empty_read() -> R {
    for options in [ZX_SOCKET_STREAM, ZX_SOCKET_DATAGRAM] {
        let (_a, b) = socket(options)?;
        eq!(sk_read(b.raw(), 10, 0).0, ZX_ERR_SHOULD_WAIT);
        eq!(sk_read(b.raw(), 10, ZX_SOCKET_PEEK).0, ZX_ERR_SHOULD_WAIT);
    }
    Ok(())
}

fn peer_closed() -> R {
    for options in [ZX_SOCKET_STREAM, ZX_SOCKET_DATAGRAM] {
        let (a, b) = socket(options)?;
        eq!(sk_write(a.raw(), b"left"), (ZX_OK, 4));
        drop(a);
        let sb = signals(b.raw())?;
        ensure!(sb & ZX_SOCKET_PEER_CLOSED != 0, "no PEER_CLOSED ({sb:#x})");
        ensure!(sb & ZX_SOCKET_WRITABLE == 0, "still WRITABLE ({sb:#x})");
        ensure!(sb & ZX_SOCKET_READABLE != 0, "data lost ({sb:#x})");
        eq!(sk_write(b.raw(), b"x").0, ZX_ERR_PEER_CLOSED);
        eq!(sk_read(b.raw(), 10, 0), (ZX_OK, b"left".to_vec()));
        eq!(sk_read(b.raw(), 10, 0).0, ZX_ERR_PEER_CLOSED);
        let info: zx_info_socket_t = get_info(b.raw(), ZX_INFO_SOCKET)?;
        eq!(info.tx_buf_size, 0);
    }
    Ok(())
}

fn disposition_disabled() -> R {
    let (a, b) = socket(0)?;
    eq!(sk_write(a.raw(), b"data"), (ZX_OK, 4));
    // SAFETY: no pointers.
    zx_ok!(unsafe {
        sys::zx_socket_set_disposition(a.raw(), ZX_SOCKET_DISPOSITION_WRITE_DISABLED, 0)
    });
    eq!(sk_write(a.raw(), b"x").0, ZX_ERR_BAD_STATE);
    let sa = signals(a.raw())?;
    ensure!(
        sa & ZX_SOCKET_WRITE_DISABLED != 0,
        "no WRITE_DISABLED ({sa:#x})"
    );
    ensure!(sa & ZX_SOCKET_WRITABLE == 0, "still WRITABLE ({sa:#x})");
    let sb = signals(b.raw())?;
    ensure!(
        sb & ZX_SOCKET_PEER_WRITE_DISABLED != 0,
        "no PEER_WRITE_DISABLED ({sb:#x})"
    );
    // The peer still reads what was written, then BAD_STATE.
    eq!(sk_read(b.raw(), 10, 0), (ZX_OK, b"data".to_vec()));
    eq!(sk_read(b.raw(), 10, 0).0, ZX_ERR_BAD_STATE);
    // The other direction still works.
    eq!(sk_write(b.raw(), b"y"), (ZX_OK, 1));
    // Disabling the peer from this side.
    // SAFETY: no pointers.
    zx_ok!(unsafe {
        sys::zx_socket_set_disposition(a.raw(), 0, ZX_SOCKET_DISPOSITION_WRITE_DISABLED)
    });
    eq!(sk_write(b.raw(), b"z").0, ZX_ERR_BAD_STATE);
    Ok(())
}

fn disposition_enable() -> R {
    let (a, b) = socket(0)?;
    eq!(sk_write(a.raw(), b"data"), (ZX_OK, 4));
    // SAFETY: no pointers (all calls below).
    zx_ok!(unsafe {
        sys::zx_socket_set_disposition(a.raw(), ZX_SOCKET_DISPOSITION_WRITE_DISABLED, 0)
    });
    // Unread data: enabling is refused, from either side, and nothing changes.
    check!(ZX_ERR_BAD_STATE, unsafe {
        sys::zx_socket_set_disposition(a.raw(), ZX_SOCKET_DISPOSITION_WRITE_ENABLED, 0)
    });
    check!(ZX_ERR_BAD_STATE, unsafe {
        sys::zx_socket_set_disposition(b.raw(), 0, ZX_SOCKET_DISPOSITION_WRITE_ENABLED)
    });
    ensure!(
        signals(a.raw())? & ZX_SOCKET_WRITE_DISABLED != 0,
        "changed by a refused call"
    );
    eq!(sk_read(b.raw(), 10, 0).1.len(), 4);
    zx_ok!(unsafe {
        sys::zx_socket_set_disposition(a.raw(), ZX_SOCKET_DISPOSITION_WRITE_ENABLED, 0)
    });
    let sa = signals(a.raw())?;
    ensure!(
        sa & ZX_SOCKET_WRITABLE != 0 && sa & ZX_SOCKET_WRITE_DISABLED == 0,
        "{sa:#x}"
    );
    ensure!(
        signals(b.raw())? & ZX_SOCKET_PEER_WRITE_DISABLED == 0,
        "PEER_WRITE_DISABLED kept"
    );
    eq!(sk_write(a.raw(), b"again"), (ZX_OK, 5));
    eq!(sk_read(b.raw(), 10, 0), (ZX_OK, b"again".to_vec()));
    // Peer closed: the local part still applies.
    drop(b);
    zx_ok!(unsafe {
        sys::zx_socket_set_disposition(
            a.raw(),
            ZX_SOCKET_DISPOSITION_WRITE_DISABLED,
            ZX_SOCKET_DISPOSITION_WRITE_DISABLED,
        )
    });
    ensure!(
        signals(a.raw())? & ZX_SOCKET_WRITE_DISABLED != 0,
        "local part not applied"
    );
    Ok(())
}

fn disposition_invalid() -> R {
    let (a, _b) = socket(0)?;
    for (d, p) in [(3u32, 0u32), (0, 3), (4, 0), (0, 1 << 31)] {
        // SAFETY: no pointers.
        check!(ZX_ERR_INVALID_ARGS, unsafe {
            sys::zx_socket_set_disposition(a.raw(), d, p)
        });
    }
    ensure!(
        signals(a.raw())? & ZX_SOCKET_WRITE_DISABLED == 0,
        "changed by a refused call"
    );
    Ok(())
}

fn read_bad_buffer() -> R {
    for options in [ZX_SOCKET_STREAM, ZX_SOCKET_DATAGRAM] {
        let (a, b) = socket(options)?;
        eq!(sk_write(a.raw(), b"precious"), (ZX_OK, 8));
        let mut actual = 0usize;
        for bad in [KERNEL_ADDR, UNMAPPED_ADDR, rodata_addr()] {
            for opt in [0, ZX_SOCKET_PEEK] {
                // SAFETY: the kernel must refuse the bad buffer.
                check!(ZX_ERR_INVALID_ARGS, unsafe {
                    sys::zx_socket_read(b.raw(), opt, bad as *mut u8, 8, &mut actual)
                });
            }
        }
        // SAFETY: bad `actual` pointer.
        let mut buf = [0u8; 8];
        check!(ZX_ERR_INVALID_ARGS, unsafe {
            sys::zx_socket_read(b.raw(), 0, buf.as_mut_ptr(), 8, KERNEL_ADDR as *mut usize)
        });
        eq!(sk_read(b.raw(), 100, 0), (ZX_OK, b"precious".to_vec()));
    }
    Ok(())
}

fn write_bad_buffer() -> R {
    let (a, b) = socket(0)?;
    let mut actual = 0usize;
    for bad in [KERNEL_ADDR, UNMAPPED_ADDR] {
        // SAFETY: the kernel must refuse the bad buffer.
        check!(ZX_ERR_INVALID_ARGS, unsafe {
            sys::zx_socket_write(a.raw(), 0, bad as *const u8, 16, &mut actual)
        });
    }
    ensure!(
        signals(b.raw())? & ZX_SOCKET_READABLE == 0,
        "a failed write queued bytes"
    );
    eq!(sk_read(b.raw(), 10, 0).0, ZX_ERR_SHOULD_WAIT);
    Ok(())
}

fn info() -> R {
    let (a, b) = socket(ZX_SOCKET_DATAGRAM)?;
    eq!(sk_write(a.raw(), b"12345"), (ZX_OK, 5));
    eq!(sk_write(a.raw(), b"123"), (ZX_OK, 3));
    let ib: zx_info_socket_t = get_info(b.raw(), ZX_INFO_SOCKET)?;
    eq!(ib.options, ZX_SOCKET_DATAGRAM);
    eq!(ib.rx_buf_max, RX_MAX);
    eq!(ib.rx_buf_size, 8);
    eq!(ib.rx_buf_available, 5);
    eq!(ib.tx_buf_max, RX_MAX);
    eq!(ib.tx_buf_size, 0);
    let ia: zx_info_socket_t = get_info(a.raw(), ZX_INFO_SOCKET)?;
    eq!(ia.tx_buf_size, 8);
    eq!(ia.rx_buf_size, 0);
    let (c, _d) = socket(0)?;
    eq!(sk_write(c.raw(), b"12345"), (ZX_OK, 5));
    let id: zx_info_socket_t = get_info(_d.raw(), ZX_INFO_SOCKET)?;
    eq!(id.options, ZX_SOCKET_STREAM);
    eq!(id.rx_buf_available, 5);
    // Wrong type, short buffer, no INSPECT.
    let v = vmo(PAGE)?;
    let mut buf = [0u8; 48];
    let (mut actual, mut avail) = (0usize, 0usize);
    // SAFETY: valid buffers.
    check!(ZX_ERR_WRONG_TYPE, unsafe {
        sys::zx_object_get_info(
            v.raw(),
            ZX_INFO_SOCKET,
            buf.as_mut_ptr().cast(),
            48,
            &mut actual,
            &mut avail,
        )
    });
    // SAFETY: valid buffers.
    check!(ZX_ERR_BUFFER_TOO_SMALL, unsafe {
        sys::zx_object_get_info(
            a.raw(),
            ZX_INFO_SOCKET,
            buf.as_mut_ptr().cast(),
            47,
            &mut actual,
            &mut avail,
        )
    });
    eq!((actual, avail), (0, 1));
    let ni = dup(a.raw(), ZX_RIGHT_READ)?;
    // SAFETY: valid buffers.
    check!(ZX_ERR_ACCESS_DENIED, unsafe {
        sys::zx_object_get_info(
            ni.raw(),
            ZX_INFO_SOCKET,
            buf.as_mut_ptr().cast(),
            48,
            &mut actual,
            &mut avail,
        )
    });
    Ok(())
}

extern "C" fn read_after_entry(h: usize, delay_ns: usize) -> ! {
    sleep_ns(delay_ns as i64);
    sk_read(h as u32, 1000, 0);
    thread_exit()
}

fn writable_wakes() -> R {
    let (a, b) = socket(0)?;
    eq!(sk_write(a.raw(), &vec![0u8; RX_MAX]), (ZX_OK, RX_MAX));
    let t = start_thread(read_after_entry, b.raw() as usize, (30 * MS) as usize)?;
    let (s, obs) = wait(a.raw(), ZX_SOCKET_WRITABLE, 10_000 * MS);
    t.join(5000 * MS)?;
    eq!(sname(s), sname(ZX_OK));
    ensure!(obs & ZX_SOCKET_WRITABLE != 0, "observed {obs:#x}");
    Ok(())
}

struct Pipe {
    h: u32,
    sent: AtomicUsize,
    status: AtomicI32,
}

const PER_WRITER: usize = 200_000;

extern "C" fn writer_entry(shared: usize, _: usize) -> ! {
    // SAFETY: the starter keeps the Pipe alive until the writers exit.
    let p = unsafe { &*(shared as *const Pipe) };
    let chunk = [0x11u8; 3000];
    let mut left = PER_WRITER;
    let deadline = after(20_000 * MS);
    while left > 0 && now() < deadline {
        let n = left.min(chunk.len());
        let (s, actual) = sk_write(p.h, &chunk[..n]);
        match s {
            ZX_OK => {
                left -= actual;
                p.sent.fetch_add(actual, Ordering::SeqCst);
            }
            ZX_ERR_SHOULD_WAIT => {
                wait(p.h, ZX_SOCKET_WRITABLE, 100 * MS);
            }
            other => {
                p.status.store(other, Ordering::SeqCst);
                break;
            }
        }
    }
    thread_exit()
}

fn threads_stream() -> R {
    let (a, b) = socket(0)?;
    let pipe = Pipe {
        h: a.raw(),
        sent: AtomicUsize::new(0),
        status: AtomicI32::new(0),
    };
    let writers: Vec<Thread> = (0..3)
        .map(|_| start_thread(writer_entry, &pipe as *const Pipe as usize, 0))
        .collect::<Result<_, _>>()?;
    let mut got = 0usize;
    let mut buf = vec![0u8; 65536];
    let deadline = after(30_000 * MS);
    while got < 3 * PER_WRITER && now() < deadline {
        let mut actual = 0usize;
        // SAFETY: valid buffer.
        let s =
            unsafe { sys::zx_socket_read(b.raw(), 0, buf.as_mut_ptr(), buf.len(), &mut actual) };
        match s {
            ZX_OK => {
                expect_all(&buf[..actual], 0x11, "stream bytes")?;
                got += actual;
            }
            ZX_ERR_SHOULD_WAIT => {
                wait(b.raw(), ZX_SOCKET_READABLE, 100 * MS);
            }
            other => fail!("read: {}", sname(other)),
        }
    }
    for w in writers {
        w.join(10_000 * MS)?;
    }
    eq!(sname(pipe.status.load(Ordering::SeqCst)), sname(ZX_OK));
    eq!(got, 3 * PER_WRITER);
    eq!(pipe.sent.load(Ordering::SeqCst), 3 * PER_WRITER);
    Ok(())
}

fn no_leak() -> R {
    expect_no_kernel_leak(2, 10, || {
        for options in [ZX_SOCKET_STREAM, ZX_SOCKET_DATAGRAM] {
            let (a, b) = socket(options)?;
            let data = vec![7u8; 1000];
            // Many small pieces and some large ones, both ways.
            for _ in 0..50 {
                sk_write(a.raw(), &data[..7]);
                sk_write(b.raw(), &data);
            }
            sk_write(a.raw(), &vec![1u8; 100_000]);
            sk_read(b.raw(), 10, 0);
            drop(a);
            drop(b);
        }
        Ok(())
    })
}

fn safe_api() -> R {
    let (a, b) = ok!(zx::Socket::create_stream());
    eq!(ok!(a.write(b"safe")), 4);
    let mut buf = [0u8; 8];
    eq!(ok!(b.peek(&mut buf)), 4);
    eq!(ok!(b.read(&mut buf)), 4);
    eq!(&buf[..4], b"safe");
    ok!(a.set_disposition(ZX_SOCKET_DISPOSITION_WRITE_DISABLED, 0));
    eq!(a.write(b"x"), Err(zx::Status::BAD_STATE));
    let (c, d) = ok!(zx::Socket::create_datagram());
    eq!(ok!(c.write(b"dgram")), 5);
    eq!(ok!(d.read(&mut buf[..2])), 2);
    eq!(d.read(&mut buf), Err(zx::Status::SHOULD_WAIT));
    Ok(())
}
