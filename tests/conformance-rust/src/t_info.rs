//! zx_object_get_info and zx_object_get_property / set_property.

use crate::harness::Case;
use crate::util::*;
use alloc::format;
use alloc::vec::Vec;

pub const CASES: &[Case] = &[
    (
        "info_handle_valid_ok_then_bad_handle_after_close",
        handle_valid,
    ),
    ("info_handle_basic_vmo", basic_vmo),
    (
        "info_handle_basic_channel_peers_related_koid",
        basic_channel,
    ),
    (
        "info_handle_basic_process_and_root_vmar",
        basic_process_vmar,
    ),
    ("info_koids_unique_and_nonzero", koids_unique),
    ("info_handle_count_tracks_handles", handle_count_tracks),
    ("info_vmo_fields", vmo_fields),
    ("info_vmo_num_mappings_and_share_count", vmo_mappings),
    ("info_vmo_wrong_type", vmo_wrong_type),
    ("info_kmem_stats_sane_and_track_commits", kmem_sane),
    ("info_kmem_stats_is_topic_17_not_9", kmem_topic_17),
    ("info_vmar_root_covers_user_half", vmar_root),
    ("info_buffer_too_small_actual_0_avail_1", buffer_too_small),
    ("info_unknown_topic_refused", unknown_topic),
    ("info_process_of_self_started_not_exited", process_self_info),
    ("property_name_roundtrip", name_roundtrip),
    ("property_name_of_new_vmo_is_empty", name_empty),
    (
        "property_name_truncated_to_31_bytes_and_nul",
        name_truncated,
    ),
    (
        "property_get_name_small_buffer_buffer_too_small",
        name_small_buffer,
    ),
    ("property_unknown_invalid_args", unknown_property),
    ("property_needs_get_set_property_rights", property_rights),
    ("abi_numbers_match_the_contract", abi_numbers),
];

fn handle_valid() -> R {
    let v = vmo(PAGE)?;
    zx_ok!(valid(v.raw()));
    zx_ok!(valid(proc_self()));
    zx_ok!(valid(root_vmar()));
    let raw = v.into_raw();
    zx_ok!(unsafe { sys::zx_handle_close(raw) });
    check!(ZX_ERR_BAD_HANDLE, valid(raw));
    check!(ZX_ERR_BAD_HANDLE, valid(ZX_HANDLE_INVALID));
    Ok(())
}

fn basic_vmo() -> R {
    let v = vmo(PAGE)?;
    let b = basic(v.raw())?;
    eq!(b.type_, ZX_OBJ_TYPE_VMO);
    eqx!(b.rights, ZX_DEFAULT_VMO_RIGHTS);
    eq!(b.related_koid, 0u64);
    ensure!(b.koid != 0, "koid 0");
    let r = dup(v.raw(), ZX_RIGHT_READ | ZX_RIGHT_DUPLICATE)?;
    let rb = basic(r.raw())?;
    eq!(rb.koid, b.koid);
    eqx!(rb.rights, ZX_RIGHT_READ | ZX_RIGHT_DUPLICATE);
    // HANDLE_BASIC needs no right.
    let none = dup(v.raw(), ZX_RIGHT_NONE)?;
    eq!(basic(none.raw())?.koid, b.koid);
    Ok(())
}

fn basic_channel() -> R {
    let (a, b) = channel()?;
    let ia = basic(a.raw())?;
    let ib = basic(b.raw())?;
    eq!(ia.type_, ZX_OBJ_TYPE_CHANNEL);
    eq!(ib.type_, ZX_OBJ_TYPE_CHANNEL);
    eqx!(ia.rights, ZX_DEFAULT_CHANNEL_RIGHTS);
    eqx!(ib.rights, ZX_DEFAULT_CHANNEL_RIGHTS);
    eq!(ia.related_koid, ib.koid);
    eq!(ib.related_koid, ia.koid);
    ensure!(ia.koid != ib.koid, "both endpoints have koid {}", ia.koid);
    Ok(())
}

fn basic_process_vmar() -> R {
    let p = basic(proc_self())?;
    eq!(p.type_, ZX_OBJ_TYPE_PROCESS);
    ensure!(p.koid != 0, "process koid 0");
    let m = basic(root_vmar())?;
    eq!(m.type_, ZX_OBJ_TYPE_VMAR);
    ensure!(m.koid != 0 && m.koid != p.koid, "root VMAR koid {}", m.koid);
    let base = ZX_DEFAULT_VMAR_RIGHTS;
    ensure!(
        m.rights & base == base,
        "root VMAR rights {:#x} lack the VMAR base rights {base:#x}",
        m.rights
    );
    let io = ZX_RIGHT_READ | ZX_RIGHT_WRITE | ZX_RIGHT_EXECUTE;
    ensure!(
        m.rights & io == io,
        "root VMAR rights {:#x} lack READ|WRITE|EXECUTE",
        m.rights
    );
    Ok(())
}

fn koids_unique() -> R {
    let mut koids: Vec<u64> = Vec::new();
    let mut keep: Vec<Owned> = Vec::new();
    for _ in 0..16 {
        let v = vmo(0)?;
        koids.push(koid_of(v.raw())?);
        keep.push(v);
    }
    let (a, b) = channel()?;
    koids.push(koid_of(a.raw())?);
    koids.push(koid_of(b.raw())?);
    koids.push(koid_of(proc_self())?);
    koids.push(koid_of(root_vmar())?);
    ensure!(!koids.contains(&0), "a koid is 0: {koids:?}");
    let n = koids.len();
    koids.sort_unstable();
    koids.dedup();
    eq!(koids.len(), n);
    // Never reused: a new object after closing gets a new koid.
    let old = koid_of(keep[0].raw())?;
    keep.clear();
    let v = vmo(0)?;
    let new = koid_of(v.raw())?;
    ensure!(
        new != old && !koids.contains(&new),
        "koid {new} of a new VMO was used before"
    );
    Ok(())
}

fn handle_count_tracks() -> R {
    let v = vmo(PAGE)?;
    eq!(handle_count(v.raw())?, 1u32);
    let d1 = dup(v.raw(), ZX_RIGHT_SAME_RIGHTS)?;
    let d2 = dup(v.raw(), ZX_RIGHT_READ)?;
    eq!(handle_count(v.raw())?, 3u32);
    drop(d1);
    eq!(handle_count(d2.raw())?, 2u32);
    // A handle in flight in a channel still counts (Zircon), a mapping does not.
    let (a, _b) = channel()?;
    let d3 = dup(v.raw(), ZX_RIGHT_SAME_RIGHTS)?;
    zx_ok!(ch_write(a.raw(), b"", &[d3.into_raw()]));
    eq!(handle_count(v.raw())?, 3u32);
    let m = map(v.raw(), 0, PAGEZ, ZX_VM_PERM_READ)?;
    eq!(handle_count(v.raw())?, 3u32);
    drop(m);
    Ok(())
}

fn vmo_fields() -> R {
    let v = vmo(5000)?;
    zx_ok!(set_name(v.raw(), b"info-vmo"));
    write_all(v.raw(), 0, &[1])?;
    let i = vmo_info(v.raw())?;
    eq!(i.koid, koid_of(v.raw())?);
    eq!(name_str(&i.name), &b"info-vmo"[..]);
    eq!(i.size_bytes, 2 * PAGE);
    eq!(i.parent_koid, 0u64);
    eq!(i.num_children, 0usize);
    eq!(i.num_mappings, 0usize);
    eq!(i.share_count, 0usize);
    eq!(i.committed_bytes, PAGE);
    let want = ZX_INFO_VMO_TYPE_PAGED | ZX_INFO_VMO_RESIZABLE | ZX_INFO_VMO_VIA_HANDLE;
    eqx!(i.flags, want);
    eqx!(i.handle_rights, ZX_DEFAULT_VMO_RIGHTS);
    eq!(i.cache_policy, ZX_CACHE_POLICY_CACHED);
    let r = dup(v.raw(), ZX_RIGHT_READ | ZX_RIGHT_GET_PROPERTY)?;
    eqx!(
        vmo_info(r.raw())?.handle_rights,
        ZX_RIGHT_READ | ZX_RIGHT_GET_PROPERTY
    );
    Ok(())
}

fn vmo_mappings() -> R {
    let v = vmo(2 * PAGE)?;
    let m1 = map(v.raw(), 0, PAGEZ, ZX_VM_PERM_READ)?;
    let m2 = map(v.raw(), PAGE, PAGEZ, RW)?;
    let i = vmo_info(v.raw())?;
    eq!(i.num_mappings, 2usize);
    eq!(i.share_count, 1usize);
    drop(m1);
    eq!(vmo_info(v.raw())?.num_mappings, 1usize);
    drop(m2);
    let i = vmo_info(v.raw())?;
    eq!(i.num_mappings, 0usize);
    eq!(i.share_count, 0usize);
    Ok(())
}

fn vmo_wrong_type() -> R {
    let (a, _b) = channel()?;
    let mut buf = [0u8; 104];
    let (mut actual, mut avail) = (0usize, 0usize);
    check!(ZX_ERR_WRONG_TYPE, unsafe {
        sys::zx_object_get_info(
            a.raw(),
            ZX_INFO_VMO,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut actual,
            &mut avail,
        )
    });
    check!(ZX_ERR_WRONG_TYPE, unsafe {
        sys::zx_object_get_info(
            a.raw(),
            ZX_INFO_VMAR,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut actual,
            &mut avail,
        )
    });
    let v = vmo(PAGE)?;
    check!(ZX_ERR_WRONG_TYPE, unsafe {
        sys::zx_object_get_info(
            v.raw(),
            ZX_INFO_PROCESS,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut actual,
            &mut avail,
        )
    });
    Ok(())
}

/// Issue 11, item 11: KMEM_STATS is Zircon's topic 17; 9 is Zircon's JOB_PROCESSES, which
/// must not answer with memory figures. Literal numbers, so a header that drifts with the
/// kernel cannot hide it.
fn kmem_topic_17() -> R {
    let mut buf = [0u8; 72];
    let (mut actual, mut avail) = (0usize, 0usize);
    zx_ok!(unsafe {
        sys::zx_object_get_info(
            kmem_handle(),
            17,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut actual,
            &mut avail,
        )
    });
    eq!((actual, avail), (1usize, 1usize));
    let k = zx_info_kmem_stats_t::from_bytes(&buf).ok_or("short record")?;
    ensure!(
        k.total_bytes >= 16 << 20 && k.free_bytes <= k.total_bytes,
        "topic 17 gave total {:#x}, free {:#x}",
        k.total_bytes,
        k.free_bytes
    );
    // JOB_PROCESSES on a process handle: a known topic on the wrong object.
    check!(ZX_ERR_WRONG_TYPE, unsafe {
        sys::zx_object_get_info(
            kmem_handle(),
            9,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut actual,
            &mut avail,
        )
    });
    Ok(())
}

fn kmem_sane() -> R {
    let k = kmem()?;
    ensure!(
        k.total_bytes >= 16 << 20,
        "total_bytes {:#x}",
        k.total_bytes
    );
    ensure!(
        k.free_bytes <= k.total_bytes,
        "free {:#x} > total {:#x}",
        k.free_bytes,
        k.total_bytes
    );
    ensure!(
        k.vmo_bytes <= k.total_bytes,
        "vmo {:#x} > total {:#x}",
        k.vmo_bytes,
        k.total_bytes
    );
    ensure!(
        k.free_heap_bytes <= k.total_heap_bytes,
        "free heap {:#x} > heap {:#x}",
        k.free_heap_bytes,
        k.total_heap_bytes
    );
    ensure!(
        k.vmo_bytes > 0,
        "vmo_bytes 0 while this program runs from VMOs"
    );
    let parts = k.free_bytes
        + k.wired_bytes
        + k.total_heap_bytes
        + k.vmo_bytes
        + k.mmu_overhead_bytes
        + k.ipc_bytes
        + k.other_bytes;
    ensure!(
        parts <= k.total_bytes + PAGE,
        "the parts add up to {:#x} > total {:#x}",
        parts,
        k.total_bytes
    );
    let v = vmo(128 * PAGE)?;
    zx_ok!(op(v.raw(), ZX_VMO_OP_COMMIT, 0, 128 * PAGE));
    let k2 = kmem()?;
    ensure!(
        k2.vmo_bytes >= k.vmo_bytes + 120 * PAGE && k2.free_bytes + 120 * PAGE <= k.free_bytes,
        "committing 128 pages: vmo {:#x} -> {:#x}, free {:#x} -> {:#x}",
        k.vmo_bytes,
        k2.vmo_bytes,
        k.free_bytes,
        k2.free_bytes
    );
    drop(v);
    let k3 = kmem()?;
    ensure!(
        k3.vmo_bytes + 120 * PAGE <= k2.vmo_bytes,
        "closing the VMO: vmo {:#x} -> {:#x}",
        k2.vmo_bytes,
        k3.vmo_bytes
    );
    Ok(())
}

fn vmar_root() -> R {
    let i: zx_info_vmar_t = get_info(root_vmar(), ZX_INFO_VMAR)?;
    eqx!(i.base, 0x0100_0000usize);
    eqx!(i.len, 0x0000_8000_0000_0000usize - 0x0100_0000);
    Ok(())
}

fn buffer_too_small() -> R {
    let v = vmo(PAGE)?;
    let mut fails: Vec<alloc::string::String> = Vec::new();
    let cases: [(u32, u32, usize); 6] = [
        (v.raw(), ZX_INFO_VMO, 103),
        (v.raw(), ZX_INFO_VMO, 8),
        (v.raw(), ZX_INFO_HANDLE_BASIC, 31),
        (v.raw(), ZX_INFO_HANDLE_COUNT, 3),
        (root_vmar(), ZX_INFO_VMAR, 15),
        (kmem_handle(), ZX_INFO_KMEM_STATS, 71),
    ];
    for (h, topic, size) in cases {
        let mut buf = [0xEEu8; 128];
        let (mut actual, mut avail) = (77usize, 77usize);
        let s = unsafe {
            sys::zx_object_get_info(
                h,
                topic,
                buf.as_mut_ptr().cast(),
                size,
                &mut actual,
                &mut avail,
            )
        };
        if s != ZX_ERR_BUFFER_TOO_SMALL || actual != 0 || avail != 1 {
            fails.push(format!(
                "topic {topic} size {size}: {} actual {actual} avail {avail}",
                sname(s)
            ));
        }
        if buf[size..].iter().any(|b| *b != 0xEE) {
            fails.push(format!(
                "topic {topic} size {size}: wrote past the buffer size"
            ));
        }
    }
    // A zero-size buffer too.
    let (mut actual, mut avail) = (77usize, 77usize);
    let mut one = [0u8; 1];
    let s = unsafe {
        sys::zx_object_get_info(
            v.raw(),
            ZX_INFO_VMO,
            one.as_mut_ptr().cast(),
            0,
            &mut actual,
            &mut avail,
        )
    };
    if s != ZX_ERR_BUFFER_TOO_SMALL || actual != 0 || avail != 1 {
        fails.push(format!(
            "VMO size 0: {} actual {actual} avail {avail}",
            sname(s)
        ));
    }
    ensure!(
        fails.is_empty(),
        "expected BUFFER_TOO_SMALL, actual 0, avail 1: {}",
        fails.join("; ")
    );
    // And a big enough buffer reports actual 1, avail 1.
    let mut buf = [0u8; 200];
    let (mut actual, mut avail) = (0usize, 0usize);
    zx_ok!(unsafe {
        sys::zx_object_get_info(
            v.raw(),
            ZX_INFO_VMO,
            buf.as_mut_ptr().cast(),
            200,
            &mut actual,
            &mut avail,
        )
    });
    eq!((actual, avail), (1usize, 1usize));
    Ok(())
}

fn unknown_topic() -> R {
    let v = vmo(PAGE)?;
    let mut buf = [0u8; 256];
    let (mut actual, mut avail) = (0usize, 0usize);
    // zx-abi-objects.md section 12: an unknown topic is NOT_SUPPORTED ...
    for topic in [0u32, 5, 6, 20, 1000, u32::MAX] {
        check!(ZX_ERR_NOT_SUPPORTED, unsafe {
            sys::zx_object_get_info(
                v.raw(),
                topic,
                buf.as_mut_ptr().cast(),
                buf.len(),
                &mut actual,
                &mut avail,
            )
        });
    }
    // ... and a known one on the wrong object WRONG_TYPE (the task topics on a VMO).
    for topic in [4u32, 8, 9, 10, 22, 24, 25] {
        check!(ZX_ERR_WRONG_TYPE, unsafe {
            sys::zx_object_get_info(
                v.raw(),
                topic,
                buf.as_mut_ptr().cast(),
                buf.len(),
                &mut actual,
                &mut avail,
            )
        });
    }
    Ok(())
}

fn process_self_info() -> R {
    let i: zx_info_process_t = get_info(proc_self(), ZX_INFO_PROCESS)?;
    ensure!(
        i.flags & ZX_INFO_PROCESS_FLAG_STARTED != 0,
        "flags {:#x} lack STARTED",
        i.flags
    );
    ensure!(
        i.flags & ZX_INFO_PROCESS_FLAG_EXITED == 0,
        "flags {:#x} have EXITED",
        i.flags
    );
    ensure!(
        i.start_time > 0 && i.start_time <= now(),
        "start_time {}",
        i.start_time
    );
    Ok(())
}

fn name_roundtrip() -> R {
    let v = vmo(PAGE)?;
    zx_ok!(set_name(v.raw(), b"hello-vmo"));
    eq!(name_str(&get_name(v.raw())?), &b"hello-vmo"[..]);
    zx_ok!(set_name(v.raw(), b"x"));
    let n = get_name(v.raw())?;
    eq!(name_str(&n), &b"x"[..]);
    ensure!(
        n[1..].iter().all(|b| *b == 0),
        "old name bytes left after NUL: {:?}",
        &n[..]
    );
    // Empty name.
    zx_ok!(set_name(v.raw(), b""));
    eq!(name_str(&get_name(v.raw())?), &b""[..]);
    // Larger buffers are fine.
    let mut big = [0xAAu8; 64];
    zx_ok!(unsafe {
        sys::zx_object_get_property(v.raw(), ZX_PROP_NAME, big.as_mut_ptr().cast(), 64)
    });
    eq!(big[0], 0u8);
    Ok(())
}

fn name_empty() -> R {
    let v = vmo(PAGE)?;
    let n = get_name(v.raw())?;
    ensure!(n.iter().all(|b| *b == 0), "new VMO name {:?}", &n[..]);
    Ok(())
}

fn name_truncated() -> R {
    let v = vmo(PAGE)?;
    let long = b"0123456789abcdefghijklmnopqrstuvwxyz-too-long";
    zx_ok!(set_name(v.raw(), long));
    let n = get_name(v.raw())?;
    eq!(&n[..31], &long[..31]);
    eq!(n[31], 0u8);
    let exact = b"0123456789012345678901234567890X";
    zx_ok!(set_name(v.raw(), exact));
    let n = get_name(v.raw())?;
    eq!(&n[..31], &exact[..31]);
    eq!(n[31], 0u8);
    Ok(())
}

fn name_small_buffer() -> R {
    let v = vmo(PAGE)?;
    zx_ok!(set_name(v.raw(), b"abc"));
    let mut buf = [0xAAu8; 32];
    for size in [0usize, 1, 4, 31] {
        check!(ZX_ERR_BUFFER_TOO_SMALL, unsafe {
            sys::zx_object_get_property(v.raw(), ZX_PROP_NAME, buf.as_mut_ptr().cast(), size)
        });
    }
    ensure!(
        buf.iter().all(|b| *b == 0xAA),
        "buffer written on BUFFER_TOO_SMALL"
    );
    Ok(())
}

fn unknown_property() -> R {
    let v = vmo(PAGE)?;
    let mut buf = [0u8; 64];
    for prop in [0u32, 1, 2, 4, 100, u32::MAX] {
        check!(ZX_ERR_INVALID_ARGS, unsafe {
            sys::zx_object_get_property(v.raw(), prop, buf.as_mut_ptr().cast(), buf.len())
        });
        check!(ZX_ERR_INVALID_ARGS, unsafe {
            sys::zx_object_set_property(v.raw(), prop, buf.as_ptr().cast(), 8)
        });
    }
    Ok(())
}

fn property_rights() -> R {
    let v = vmo(PAGE)?;
    zx_ok!(set_name(v.raw(), b"kept"));
    let no_get = dup(v.raw(), ZX_DEFAULT_VMO_RIGHTS & !ZX_RIGHT_GET_PROPERTY)?;
    let no_set = dup(v.raw(), ZX_DEFAULT_VMO_RIGHTS & !ZX_RIGHT_SET_PROPERTY)?;
    let mut buf = [0u8; 32];
    check!(ZX_ERR_ACCESS_DENIED, unsafe {
        sys::zx_object_get_property(no_get.raw(), ZX_PROP_NAME, buf.as_mut_ptr().cast(), 32)
    });
    check!(ZX_ERR_ACCESS_DENIED, set_name(no_set.raw(), b"changed"));
    zx_ok!(set_name(no_get.raw(), b"by-no-get"));
    eq!(name_str(&get_name(no_set.raw())?), &b"by-no-get"[..]);
    Ok(())
}

/// The numbers of shared/spec/zx-abi.md, written out here, against what the suite is built
/// with (the `abi` crate through `zx::sys`).
fn abi_numbers() -> R {
    let table: &[(&str, i128, i128)] = &[
        ("ZX_OK", sys::ZX_OK as i128, 0),
        ("ZX_ERR_INTERNAL", sys::ZX_ERR_INTERNAL as i128, -1),
        (
            "ZX_ERR_NOT_SUPPORTED",
            sys::ZX_ERR_NOT_SUPPORTED as i128,
            -2,
        ),
        ("ZX_ERR_NO_RESOURCES", sys::ZX_ERR_NO_RESOURCES as i128, -3),
        ("ZX_ERR_NO_MEMORY", sys::ZX_ERR_NO_MEMORY as i128, -4),
        ("ZX_ERR_INVALID_ARGS", sys::ZX_ERR_INVALID_ARGS as i128, -10),
        ("ZX_ERR_BAD_HANDLE", sys::ZX_ERR_BAD_HANDLE as i128, -11),
        ("ZX_ERR_WRONG_TYPE", sys::ZX_ERR_WRONG_TYPE as i128, -12),
        ("ZX_ERR_BAD_SYSCALL", sys::ZX_ERR_BAD_SYSCALL as i128, -13),
        ("ZX_ERR_OUT_OF_RANGE", sys::ZX_ERR_OUT_OF_RANGE as i128, -14),
        (
            "ZX_ERR_BUFFER_TOO_SMALL",
            sys::ZX_ERR_BUFFER_TOO_SMALL as i128,
            -15,
        ),
        ("ZX_ERR_BAD_STATE", sys::ZX_ERR_BAD_STATE as i128, -20),
        ("ZX_ERR_TIMED_OUT", sys::ZX_ERR_TIMED_OUT as i128, -21),
        ("ZX_ERR_SHOULD_WAIT", sys::ZX_ERR_SHOULD_WAIT as i128, -22),
        ("ZX_ERR_CANCELED", sys::ZX_ERR_CANCELED as i128, -23),
        ("ZX_ERR_PEER_CLOSED", sys::ZX_ERR_PEER_CLOSED as i128, -24),
        ("ZX_ERR_NOT_FOUND", sys::ZX_ERR_NOT_FOUND as i128, -25),
        (
            "ZX_ERR_ALREADY_EXISTS",
            sys::ZX_ERR_ALREADY_EXISTS as i128,
            -26,
        ),
        ("ZX_ERR_UNAVAILABLE", sys::ZX_ERR_UNAVAILABLE as i128, -28),
        (
            "ZX_ERR_ACCESS_DENIED",
            sys::ZX_ERR_ACCESS_DENIED as i128,
            -30,
        ),
        (
            "ZX_RIGHT_SAME_RIGHTS",
            sys::ZX_RIGHT_SAME_RIGHTS as i128,
            1 << 31,
        ),
        (
            "ZX_DEFAULT_VMO_RIGHTS",
            sys::ZX_DEFAULT_VMO_RIGHTS as i128,
            0xFF,
        ),
        (
            "ZX_DEFAULT_CHANNEL_RIGHTS",
            sys::ZX_DEFAULT_CHANNEL_RIGHTS as i128,
            0xF00E,
        ),
        ("ZX_VMO_NON_RESIZABLE", sys::ZX_VMO_NON_RESIZABLE as i128, 1),
        (
            "ZX_VMO_CLONE_COPY_ON_WRITE",
            sys::ZX_VMO_CLONE_COPY_ON_WRITE as i128,
            1,
        ),
        (
            "ZX_VMO_CLONE_NON_RESIZEABLE",
            sys::ZX_VMO_CLONE_NON_RESIZEABLE as i128,
            2,
        ),
        (
            "ZX_VMO_CHILD_SNAPSHOT",
            sys::ZX_VMO_CHILD_SNAPSHOT as i128,
            1,
        ),
        (
            "ZX_VMO_CHILD_RESIZABLE",
            sys::ZX_VMO_CHILD_RESIZABLE as i128,
            4,
        ),
        ("ZX_VMO_CHILD_SLICE", sys::ZX_VMO_CHILD_SLICE as i128, 8),
        (
            "ZX_VMO_CHILD_NO_WRITE",
            sys::ZX_VMO_CHILD_NO_WRITE as i128,
            32,
        ),
        ("ZX_VMO_OP_COMMIT", sys::ZX_VMO_OP_COMMIT as i128, 1),
        ("ZX_VMO_OP_DECOMMIT", sys::ZX_VMO_OP_DECOMMIT as i128, 2),
        ("ZX_VMO_OP_LOCK", sys::ZX_VMO_OP_LOCK as i128, 3),
        ("ZX_VMO_OP_UNLOCK", sys::ZX_VMO_OP_UNLOCK as i128, 4),
        ("ZX_VMO_OP_CACHE_SYNC", sys::ZX_VMO_OP_CACHE_SYNC as i128, 6),
        (
            "ZX_VMO_OP_CACHE_INVALIDATE",
            sys::ZX_VMO_OP_CACHE_INVALIDATE as i128,
            7,
        ),
        (
            "ZX_VMO_OP_CACHE_CLEAN",
            sys::ZX_VMO_OP_CACHE_CLEAN as i128,
            8,
        ),
        (
            "ZX_VMO_OP_CACHE_CLEAN_INVALIDATE",
            sys::ZX_VMO_OP_CACHE_CLEAN_INVALIDATE as i128,
            9,
        ),
        ("ZX_VMO_OP_ZERO", sys::ZX_VMO_OP_ZERO as i128, 10),
        ("ZX_VM_PERM_READ", sys::ZX_VM_PERM_READ as i128, 1),
        ("ZX_VM_PERM_WRITE", sys::ZX_VM_PERM_WRITE as i128, 2),
        ("ZX_VM_PERM_EXECUTE", sys::ZX_VM_PERM_EXECUTE as i128, 4),
        ("ZX_VM_COMPACT", sys::ZX_VM_COMPACT as i128, 8),
        ("ZX_VM_SPECIFIC", sys::ZX_VM_SPECIFIC as i128, 16),
        (
            "ZX_VM_SPECIFIC_OVERWRITE",
            sys::ZX_VM_SPECIFIC_OVERWRITE as i128,
            32,
        ),
        (
            "ZX_VM_CAN_MAP_SPECIFIC",
            sys::ZX_VM_CAN_MAP_SPECIFIC as i128,
            64,
        ),
        ("ZX_VM_CAN_MAP_READ", sys::ZX_VM_CAN_MAP_READ as i128, 128),
        ("ZX_VM_CAN_MAP_WRITE", sys::ZX_VM_CAN_MAP_WRITE as i128, 256),
        (
            "ZX_VM_CAN_MAP_EXECUTE",
            sys::ZX_VM_CAN_MAP_EXECUTE as i128,
            512,
        ),
        ("ZX_VM_MAP_RANGE", sys::ZX_VM_MAP_RANGE as i128, 1024),
        (
            "ZX_VM_REQUIRE_NON_RESIZABLE",
            sys::ZX_VM_REQUIRE_NON_RESIZABLE as i128,
            2048,
        ),
        ("ZX_VM_ALIGN_BASE", sys::ZX_VM_ALIGN_BASE as i128, 24),
        ("ZX_VMO_ZERO_CHILDREN", sys::ZX_VMO_ZERO_CHILDREN as i128, 8),
        ("ZX_CHANNEL_READABLE", sys::ZX_CHANNEL_READABLE as i128, 1),
        ("ZX_CHANNEL_WRITABLE", sys::ZX_CHANNEL_WRITABLE as i128, 2),
        (
            "ZX_CHANNEL_PEER_CLOSED",
            sys::ZX_CHANNEL_PEER_CLOSED as i128,
            4,
        ),
        (
            "ZX_SIGNAL_HANDLE_CLOSED",
            sys::ZX_SIGNAL_HANDLE_CLOSED as i128,
            1 << 23,
        ),
        ("ZX_USER_SIGNAL_0", sys::ZX_USER_SIGNAL_0 as i128, 1 << 24),
        ("ZX_USER_SIGNAL_7", sys::ZX_USER_SIGNAL_7 as i128, 1 << 31),
        ("ZX_PROP_NAME", sys::ZX_PROP_NAME as i128, 3),
        ("ZX_MAX_NAME_LEN", sys::ZX_MAX_NAME_LEN as i128, 32),
        ("ZX_INFO_HANDLE_VALID", sys::ZX_INFO_HANDLE_VALID as i128, 1),
        ("ZX_INFO_HANDLE_BASIC", sys::ZX_INFO_HANDLE_BASIC as i128, 2),
        ("ZX_INFO_VMAR", sys::ZX_INFO_VMAR as i128, 7),
        ("ZX_INFO_KMEM_STATS", sys::ZX_INFO_KMEM_STATS as i128, 17),
        (
            "ZX_INFO_HANDLE_COUNT",
            sys::ZX_INFO_HANDLE_COUNT as i128,
            19,
        ),
        ("ZX_INFO_VMO", sys::ZX_INFO_VMO as i128, 23),
        ("ZX_OBJ_TYPE_PROCESS", sys::ZX_OBJ_TYPE_PROCESS as i128, 1),
        ("ZX_OBJ_TYPE_THREAD", sys::ZX_OBJ_TYPE_THREAD as i128, 2),
        ("ZX_OBJ_TYPE_VMO", sys::ZX_OBJ_TYPE_VMO as i128, 3),
        ("ZX_OBJ_TYPE_CHANNEL", sys::ZX_OBJ_TYPE_CHANNEL as i128, 4),
        ("ZX_OBJ_TYPE_VMAR", sys::ZX_OBJ_TYPE_VMAR as i128, 18),
        (
            "ZX_MAX_VMO_SIZE",
            sys::ZX_MAX_VMO_SIZE as i128,
            0xFFFF_FFFF_FFFE_0000,
        ),
        ("ZX_PAGE_SIZE", sys::ZX_PAGE_SIZE as i128, 4096),
        ("ZX_HANDLE_INVALID", sys::ZX_HANDLE_INVALID as i128, 0),
        (
            "ZX_TIME_INFINITE",
            sys::ZX_TIME_INFINITE as i128,
            i64::MAX as i128,
        ),
    ];
    let mut bad: Vec<alloc::string::String> = Vec::new();
    for (name, got, want) in table {
        if got != want {
            bad.push(format!("{name} = {got:#x}, contract {want:#x}"));
        }
    }
    let rights = [
        sys::ZX_RIGHT_DUPLICATE,
        sys::ZX_RIGHT_TRANSFER,
        sys::ZX_RIGHT_READ,
        sys::ZX_RIGHT_WRITE,
        sys::ZX_RIGHT_EXECUTE,
        sys::ZX_RIGHT_MAP,
        sys::ZX_RIGHT_GET_PROPERTY,
        sys::ZX_RIGHT_SET_PROPERTY,
        sys::ZX_RIGHT_ENUMERATE,
        sys::ZX_RIGHT_DESTROY,
        sys::ZX_RIGHT_SET_POLICY,
        sys::ZX_RIGHT_GET_POLICY,
        sys::ZX_RIGHT_SIGNAL,
        sys::ZX_RIGHT_SIGNAL_PEER,
        sys::ZX_RIGHT_WAIT,
        sys::ZX_RIGHT_INSPECT,
        sys::ZX_RIGHT_MANAGE_JOB,
        sys::ZX_RIGHT_MANAGE_PROCESS,
        sys::ZX_RIGHT_MANAGE_THREAD,
    ];
    for (bit, r) in rights.iter().enumerate() {
        if *r != 1 << bit {
            bad.push(format!("right bit {bit} = {r:#x}"));
        }
    }
    ensure!(bad.is_empty(), "{}", bad.join("; "));
    Ok(())
}
