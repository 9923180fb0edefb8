//! Host tests of sockets: the rules of the contract one by one, and a proptest model (a
//! byte string per direction for streams, a list of datagrams for datagram sockets).

use super::*;
use alloc::collections::VecDeque as Deque;
use proptest::prelude::*;

fn write(s: &Socket, data: &[u8]) -> ZxResult<usize> {
    s.write(data.len(), |buf, n| {
        buf.extend_from_slice(&data[..n]);
        Ok(())
    })
}

fn read(s: &Socket, size: usize, peek: bool) -> ZxResult<Vec<u8>> {
    let mut out = Vec::new();
    s.read(size, peek, |bytes| {
        out.extend_from_slice(bytes);
        Ok(())
    })?;
    Ok(out)
}

fn sig(s: &Socket) -> Signals {
    s.base().signals().get()
}

#[test]
fn create_options() {
    assert_eq!(Socket::create(2).err(), Some(Status::INVALID_ARGS));
    let (a, b) = Socket::create(ZX_SOCKET_STREAM).unwrap();
    assert_eq!(sig(&a), Signals::SOCKET_WRITABLE);
    assert_eq!(sig(&b), Signals::SOCKET_WRITABLE);
    assert_eq!(a.related_koid(), b.base().koid());
}

#[test]
fn stream_short_write_and_should_wait() {
    let (a, b) = Socket::create(ZX_SOCKET_STREAM).unwrap();
    let big = vec![7u8; RX_BUF_MAX + 100];
    assert_eq!(write(&a, &big), Ok(RX_BUF_MAX));
    assert!(!sig(&a).contains(Signals::SOCKET_WRITABLE));
    assert!(sig(&b).contains(Signals::SOCKET_READABLE));
    assert_eq!(write(&a, &[1]), Err(Status::SHOULD_WAIT));
    assert_eq!(read(&b, 10, false).unwrap().len(), 10);
    assert!(sig(&a).contains(Signals::SOCKET_WRITABLE));
    assert_eq!(write(&a, &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]), Ok(10));
    assert_eq!(write(&a, &[]), Ok(0));
}

#[test]
fn datagram_rules() {
    let (a, b) = Socket::create(ZX_SOCKET_DATAGRAM).unwrap();
    let big = vec![1u8; RX_BUF_MAX + 1];
    assert_eq!(write(&a, &big), Err(Status::OUT_OF_RANGE));
    assert_eq!(write(&a, &big[..RX_BUF_MAX - 1]), Ok(RX_BUF_MAX - 1));
    assert_eq!(write(&a, &[1, 2]), Err(Status::SHOULD_WAIT));
    assert_eq!(write(&a, &[1]), Ok(1));
    assert_eq!(b.info().rx_buf_available, RX_BUF_MAX - 1);
    assert_eq!(read(&b, 3, false).unwrap(), vec![1, 1, 1]);
    assert_eq!(b.info().rx_buf_available, 1);
    assert_eq!(read(&b, 3, true).unwrap(), vec![1]);
    assert_eq!(read(&b, 3, false).unwrap(), vec![1]);
    assert_eq!(read(&b, 3, false), Err(Status::SHOULD_WAIT));
    assert!(!sig(&b).contains(Signals::SOCKET_READABLE));
}

#[test]
fn peer_closed_keeps_data() {
    let (a, b) = Socket::create(ZX_SOCKET_STREAM).unwrap();
    assert_eq!(write(&a, b"hello"), Ok(5));
    a.on_zero_handles();
    assert!(sig(&b).contains(Signals::SOCKET_PEER_CLOSED));
    assert!(!sig(&b).contains(Signals::SOCKET_WRITABLE));
    assert_eq!(write(&b, b"x"), Err(Status::PEER_CLOSED));
    assert_eq!(b.info().tx_buf_size, 0);
    assert_eq!(read(&b, 100, false).unwrap(), b"hello");
    assert_eq!(read(&b, 100, false), Err(Status::PEER_CLOSED));
    assert_eq!(
        b.signal_peer(Signals::NONE, Signals::USER_ALL),
        Err(Status::PEER_CLOSED)
    );
}

#[test]
fn dispositions() {
    let (a, b) = Socket::create(ZX_SOCKET_STREAM).unwrap();
    assert_eq!(a.set_disposition(3, 0), Err(Status::INVALID_ARGS));
    assert_eq!(a.set_disposition(0, 4), Err(Status::INVALID_ARGS));
    assert_eq!(write(&a, b"abc"), Ok(3));
    a.set_disposition(ZX_SOCKET_DISPOSITION_WRITE_DISABLED, 0)
        .unwrap();
    assert_eq!(write(&a, b"x"), Err(Status::BAD_STATE));
    assert!(sig(&a).contains(Signals::SOCKET_WRITE_DISABLED));
    assert!(!sig(&a).contains(Signals::SOCKET_WRITABLE));
    assert!(sig(&b).contains(Signals::SOCKET_PEER_WRITE_DISABLED));
    // Enabling while a's data is unread.
    assert_eq!(
        a.set_disposition(ZX_SOCKET_DISPOSITION_WRITE_ENABLED, 0),
        Err(Status::BAD_STATE)
    );
    assert_eq!(
        b.set_disposition(0, ZX_SOCKET_DISPOSITION_WRITE_ENABLED),
        Err(Status::BAD_STATE)
    );
    assert_eq!(read(&b, 10, false).unwrap(), b"abc");
    assert_eq!(read(&b, 10, false), Err(Status::BAD_STATE));
    b.set_disposition(0, ZX_SOCKET_DISPOSITION_WRITE_ENABLED)
        .unwrap();
    assert_eq!(read(&b, 10, false), Err(Status::SHOULD_WAIT));
    assert!(sig(&a).contains(Signals::SOCKET_WRITABLE));
    assert!(!sig(&b).contains(Signals::SOCKET_PEER_WRITE_DISABLED));
    // Peer closed: only the local part applies.
    b.on_zero_handles();
    a.set_disposition(
        ZX_SOCKET_DISPOSITION_WRITE_DISABLED,
        ZX_SOCKET_DISPOSITION_WRITE_DISABLED,
    )
    .unwrap();
    assert!(sig(&a).contains(Signals::SOCKET_WRITE_DISABLED));
    assert!(!sig(&a).contains(Signals::SOCKET_PEER_WRITE_DISABLED));
}

#[test]
fn failed_copy_out_loses_nothing() {
    for options in [ZX_SOCKET_STREAM, ZX_SOCKET_DATAGRAM] {
        let (a, b) = Socket::create(options).unwrap();
        write(&a, b"first").unwrap();
        write(&a, b"second").unwrap();
        assert_eq!(
            b.read(3, false, |_| Err(Status::INVALID_ARGS)),
            Err(Status::INVALID_ARGS)
        );
        assert!(sig(&b).contains(Signals::SOCKET_READABLE));
        assert_eq!(b.buffered(), 11);
        assert_eq!(
            read(&b, 100, false).unwrap().len(),
            if options == 0 { 11 } else { 5 }
        );
    }
}

/// The interleavings a reviewer found with the old take/copy/put-back read, run in order
/// from inside the first read's copy out (the lock is not held there): while a read is in
/// flight its bytes keep their room, other reads wait, and a faulting copy changes nothing.
#[test]
fn read_in_flight_keeps_room_and_order() {
    for options in [ZX_SOCKET_STREAM, ZX_SOCKET_DATAGRAM] {
        let (a, b) = Socket::create(options).unwrap();
        let big = alloc::vec![7u8; 1000];
        // Fill the buffer to the byte.
        let mut filled = 0;
        while filled < RX_BUF_MAX {
            let n = (RX_BUF_MAX - filled).min(big.len());
            filled += write(&a, &big[..n]).unwrap();
        }
        assert_eq!(write(&a, b"x"), Err(Status::SHOULD_WAIT));
        for fault in [true, false] {
            let before = b.buffered();
            let got = b.read(1000, false, |bytes| {
                assert_eq!(bytes.len(), 1000);
                // The bytes in flight still take their room: a writer cannot refill it.
                assert_eq!(write(&a, &big), Err(Status::SHOULD_WAIT));
                assert!(!sig(&a).contains(Signals::SOCKET_WRITABLE));
                // Another reader (or peek) waits instead of reading out of order.
                assert_eq!(read(&b, 10, false), Err(Status::SHOULD_WAIT));
                assert_eq!(read(&b, 10, true), Err(Status::SHOULD_WAIT));
                assert!(sig(&b).contains(Signals::SOCKET_READABLE));
                assert!(b.info().rx_buf_size <= RX_BUF_MAX);
                if fault {
                    Err(Status::INVALID_ARGS)
                } else {
                    Ok(())
                }
            });
            if fault {
                assert_eq!(got, Err(Status::INVALID_ARGS));
                assert_eq!(b.buffered(), before);
            } else {
                assert_eq!(got, Ok(1000));
                assert_eq!(b.buffered(), before - 1000);
                assert!(sig(&a).contains(Signals::SOCKET_WRITABLE));
            }
            assert!(b.info().rx_buf_size <= RX_BUF_MAX);
        }
        // Room freed by a committed read is usable again, never beyond the maximum.
        assert_eq!(write(&a, &big), Ok(1000));
        assert_eq!(b.buffered(), RX_BUF_MAX);
    }
}

/// The peer closes (after disabling its writes) while a read is in flight and its copy
/// faults: the data written before stays readable, other readers meanwhile see SHOULD_WAIT
/// (not PEER_CLOSED / BAD_STATE), and re-enabling the peer's writes sees the unread data.
#[test]
fn read_in_flight_then_peer_closes() {
    for options in [ZX_SOCKET_STREAM, ZX_SOCKET_DATAGRAM] {
        let (a, b) = Socket::create(options).unwrap();
        write(&a, b"hello").unwrap();
        a.set_disposition(ZX_SOCKET_DISPOSITION_WRITE_DISABLED, 0)
            .unwrap();
        let a = core::cell::RefCell::new(Some(a));
        let got = b.read(5, false, |bytes| {
            assert_eq!(bytes, b"hello");
            assert_eq!(read(&b, 5, false), Err(Status::SHOULD_WAIT));
            let writer = a.borrow();
            let writer = writer.as_ref().unwrap();
            assert_eq!(
                writer.set_disposition(ZX_SOCKET_DISPOSITION_WRITE_ENABLED, 0),
                Err(Status::BAD_STATE)
            );
            assert_eq!(
                b.set_disposition(0, ZX_SOCKET_DISPOSITION_WRITE_ENABLED),
                Err(Status::BAD_STATE)
            );
            Err(Status::INVALID_ARGS)
        });
        assert_eq!(got, Err(Status::INVALID_ARGS));
        drop(a.borrow_mut().take());
        assert!(sig(&b).contains(Signals::SOCKET_PEER_CLOSED));
        assert_eq!(read(&b, 5, false).unwrap(), b"hello");
        assert_eq!(read(&b, 5, false), Err(Status::PEER_CLOSED));
    }
}

/// A read whose endpoint closes under it (its last handle closed by another thread) ends
/// without touching the freed buffer; a peek leaves the claim free again.
#[test]
fn read_in_flight_own_close_and_peek() {
    let (a, b) = Socket::create(ZX_SOCKET_STREAM).unwrap();
    write(&a, b"abcdef").unwrap();
    assert_eq!(
        b.read(3, true, |bytes| {
            assert_eq!(bytes, b"abc");
            assert_eq!(read(&b, 3, true), Err(Status::SHOULD_WAIT));
            Ok(())
        }),
        Ok(3)
    );
    assert_eq!(
        b.read(3, false, |bytes| {
            assert_eq!(bytes, b"abc");
            b.close();
            Ok(())
        }),
        Ok(3)
    );
    assert_eq!(read(&b, 3, false), Err(Status::BAD_HANDLE));
    assert_eq!(write(&a, b"x"), Err(Status::PEER_CLOSED));
}

#[test]
fn failed_copy_in_changes_nothing() {
    let (a, b) = Socket::create(ZX_SOCKET_STREAM).unwrap();
    assert_eq!(
        a.write(10, |_, _| Err(Status::INVALID_ARGS)),
        Err(Status::INVALID_ARGS)
    );
    assert_eq!(b.buffered(), 0);
    assert!(!sig(&b).contains(Signals::SOCKET_READABLE));
}

#[test]
fn small_writes_share_chunks() {
    let (a, b) = Socket::create(ZX_SOCKET_STREAM).unwrap();
    for _ in 0..10_000 {
        write(&a, &[1]).unwrap();
    }
    let chunks = b.shared.sides.lock()[1].bytes.chunks.len();
    assert!(chunks <= 10_000 / SMALL_CHUNK + 1, "{chunks} chunks");
    assert_eq!(read(&b, 20_000, false).unwrap().len(), 10_000);
    assert_eq!(b.shared.sides.lock()[1].bytes.chunks.capacity(), 0);
}

#[test]
fn close_frees_buffer() {
    let (a, b) = Socket::create(ZX_SOCKET_DATAGRAM).unwrap();
    write(&a, b"abc").unwrap();
    b.on_zero_handles();
    assert_eq!(a.shared.sides.lock()[1].bytes.len, 0);
    assert_eq!(a.shared.sides.lock()[1].datagrams.capacity(), 0);
    assert_eq!(write(&a, b"x"), Err(Status::PEER_CLOSED));
    assert!(sig(&a).contains(Signals::SOCKET_PEER_CLOSED));
}

#[test]
fn signal_peer_user_bits() {
    let (a, b) = Socket::create(ZX_SOCKET_STREAM).unwrap();
    assert_eq!(
        a.signal_peer(Signals::NONE, Signals::SOCKET_READABLE),
        Err(Status::INVALID_ARGS)
    );
    a.signal_peer(Signals::NONE, Signals::USER_ALL).unwrap();
    assert!(sig(&b).contains(Signals::USER_ALL));
    assert!(!sig(&a).intersects(Signals::USER_ALL));
}

#[derive(Clone, Debug)]
enum Op {
    Write(bool, usize),
    Read(bool, usize, bool),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (
            any::<bool>(),
            prop_oneof![0usize..700, 60_000usize..140_000]
        )
            .prop_map(|(d, n)| Op::Write(d, n)),
        (
            any::<bool>(),
            prop_oneof![0usize..700, 0usize..300_000],
            any::<bool>()
        )
            .prop_map(|(d, n, p)| Op::Read(d, n, p)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn model(datagram in any::<bool>(), ops in proptest::collection::vec(op(), 1..60)) {
        let options = if datagram { ZX_SOCKET_DATAGRAM } else { ZX_SOCKET_STREAM };
        let (a, b) = Socket::create(options).unwrap();
        let ends = [&a, &b];
        // Per destination: stream bytes, or datagrams.
        let mut model: [Deque<Vec<u8>>; 2] = [Deque::new(), Deque::new()];
        let mut counter = 0u8;
        for op in ops {
            match op {
                Op::Write(dir, n) => {
                    let from = usize::from(dir);
                    let to = 1 - from;
                    let data: Vec<u8> = (0..n).map(|_| { counter = counter.wrapping_add(1); counter }).collect();
                    let used: usize = model[to].iter().map(Vec::len).sum();
                    let room = RX_BUF_MAX - used;
                    let got = write(ends[from], &data);
                    if n == 0 {
                        prop_assert_eq!(got, Ok(0));
                    } else if datagram {
                        if n > room {
                            prop_assert_eq!(got, Err(Status::SHOULD_WAIT));
                        } else {
                            prop_assert_eq!(got, Ok(n));
                            model[to].push_back(data);
                        }
                    } else if room == 0 {
                        prop_assert_eq!(got, Err(Status::SHOULD_WAIT));
                    } else {
                        let k = n.min(room);
                        prop_assert_eq!(got, Ok(k));
                        // Streams: one byte string, kept as single-byte pieces' concatenation.
                        model[to].push_back(data[..k].to_vec());
                    }
                }
                Op::Read(dir, size, peek) => {
                    let at = usize::from(dir);
                    let got = read(ends[at], size, peek);
                    let q = &mut model[at];
                    if q.is_empty() {
                        prop_assert_eq!(got, Err(Status::SHOULD_WAIT));
                        continue;
                    }
                    let expect: Vec<u8> = if datagram {
                        let first = if peek { q[0].clone() } else { q.pop_front().unwrap() };
                        first[..size.min(first.len())].to_vec()
                    } else {
                        let all: Vec<u8> = q.iter().flatten().copied().collect();
                        let k = size.min(all.len());
                        if !peek {
                            q.clear();
                            if all.len() > k {
                                q.push_back(all[k..].to_vec());
                            }
                        }
                        all[..k].to_vec()
                    };
                    prop_assert_eq!(got, Ok(expect));
                }
            }
            for e in 0..2 {
                let used: usize = model[e].iter().map(Vec::len).sum();
                let info = ends[e].info();
                prop_assert_eq!(info.rx_buf_size, used);
                prop_assert_eq!(sig(ends[e]).contains(Signals::SOCKET_READABLE), used > 0);
                let peer_used: usize = model[1 - e].iter().map(Vec::len).sum();
                prop_assert_eq!(sig(ends[e]).contains(Signals::SOCKET_WRITABLE), peer_used < RX_BUF_MAX);
            }
        }
    }
}
