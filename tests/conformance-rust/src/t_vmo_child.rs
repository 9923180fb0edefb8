//! zx_vmo_create_child: SNAPSHOT, SLICE, NO_WRITE, RESIZABLE.

use crate::harness::Case;
use crate::util::*;
use zx::{Vmo, VmoChildOptions};

pub const CASES: &[Case] = &[
    ("vmo_child_snapshot_isolated_both_ways", snapshot_isolation),
    (
        "vmo_child_snapshot_sees_content_at_creation",
        snapshot_content,
    ),
    (
        "vmo_child_snapshot_of_snapshot_isolated",
        snapshot_of_snapshot,
    ),
    ("vmo_child_slice_shares_pages_both_ways", slice_sharing),
    ("vmo_child_slice_offset_is_a_window", slice_window),
    (
        "vmo_child_slice_of_resizable_parent_not_supported",
        slice_resizable_parent,
    ),
    ("vmo_child_slice_outside_parent_invalid_args", slice_outside),
    (
        "vmo_child_slice_range_checked_before_the_resizable_parent",
        slice_range_first,
    ),
    (
        "vmo_child_resizable_with_no_write_invalid_args",
        resizable_no_write,
    ),
    (
        "vmo_child_accumulated_offset_past_2_64_invalid_args",
        accumulated_offset,
    ),
    (
        "vmo_child_set_size_accumulated_end_past_2_64_invalid_args",
        accumulated_set_size,
    ),
    (
        "vmo_child_committed_bytes_snapshot_example_of_the_spec",
        committed_snapshot_example,
    ),
    (
        "vmo_child_committed_bytes_through_mappings_and_clones",
        committed_mappings_and_clones,
    ),
    ("vmo_child_exactly_one_of_snapshot_or_slice", exactly_one),
    ("vmo_child_unknown_option_invalid_args", unknown_option),
    ("vmo_child_unaligned_offset_invalid_args", unaligned_offset),
    ("vmo_child_offset_size_overflow_out_of_range", overflow),
    ("vmo_child_no_write_removes_write_right", no_write),
    ("vmo_child_resizable_option", resizable),
    ("vmo_child_info_parent_koid", info_parent),
    ("vmo_child_wrong_type_and_bad_handle", wrong_type),
    ("vmo_child_safe_api_snapshot_and_slice", safe_api),
];

const SNAP: u32 = ZX_VMO_CHILD_SNAPSHOT;
const SLICE: u32 = ZX_VMO_CHILD_SLICE;

fn snapshot_isolation() -> R {
    let v = vmo(2 * PAGE)?;
    fill(v.raw(), 0, 2 * PAGEZ, 0x10)?;
    let s = child_vmo(v.raw(), SNAP, 0, 2 * PAGE)?;
    // Parent writes do not reach the snapshot, on a page neither side wrote before.
    fill(v.raw(), 0, PAGEZ, 0x11)?;
    expect_all(
        &read_vec(s.raw(), 0, PAGEZ)?,
        0x10,
        "snapshot after the parent wrote",
    )?;
    // Snapshot writes do not reach the parent.
    fill(s.raw(), PAGE, PAGEZ, 0x22)?;
    expect_all(
        &read_vec(v.raw(), PAGE, PAGEZ)?,
        0x10,
        "parent after the snapshot wrote",
    )?;
    expect_all(
        &read_vec(s.raw(), PAGE, PAGEZ)?,
        0x22,
        "snapshot's own write",
    )?;
    expect_all(&read_vec(v.raw(), 0, PAGEZ)?, 0x11, "parent's own write")?;
    Ok(())
}

fn snapshot_content() -> R {
    let v = vmo(3 * PAGE)?;
    fill(v.raw(), PAGE, PAGEZ, 0x5A)?;
    let s = child_vmo(v.raw(), SNAP, PAGE, 2 * PAGE)?;
    eq!(get_size(s.raw())?, 2 * PAGE);
    expect_all(&read_vec(s.raw(), 0, PAGEZ)?, 0x5A, "snapshot page 0")?;
    expect_all(&read_vec(s.raw(), PAGE, PAGEZ)?, 0, "snapshot page 1")?;
    // A page the parent commits later stays zero in the snapshot.
    fill(v.raw(), 2 * PAGE, PAGEZ, 0x66)?;
    expect_all(
        &read_vec(s.raw(), PAGE, PAGEZ)?,
        0,
        "snapshot page 1 after parent write",
    )?;
    Ok(())
}

fn snapshot_of_snapshot() -> R {
    let v = vmo(PAGE)?;
    fill(v.raw(), 0, PAGEZ, 1)?;
    let s1 = child_vmo(v.raw(), SNAP, 0, PAGE)?;
    fill(s1.raw(), 0, 8, 2)?;
    let s2 = child_vmo(s1.raw(), SNAP, 0, PAGE)?;
    fill(s1.raw(), 0, 8, 3)?;
    fill(v.raw(), 0, 8, 4)?;
    eq!(read_byte(s2.raw(), 0)?, 2u8);
    eq!(read_byte(s2.raw(), 100)?, 1u8);
    fill(s2.raw(), 0, 8, 5)?;
    eq!(read_byte(s1.raw(), 0)?, 3u8);
    eq!(read_byte(v.raw(), 0)?, 4u8);
    Ok(())
}

fn slice_sharing() -> R {
    let v = vmo_opts(4 * PAGE, ZX_VMO_NON_RESIZABLE)?;
    fill(v.raw(), 0, 4 * PAGEZ, 0x10)?;
    let s = child_vmo(v.raw(), SLICE, 0, 4 * PAGE)?;
    expect_all(&read_vec(s.raw(), 0, 4 * PAGEZ)?, 0x10, "slice at creation")?;
    fill(v.raw(), PAGE, 100, 0x21)?;
    expect_all(
        &read_vec(s.raw(), PAGE, 100)?,
        0x21,
        "slice after parent write",
    )?;
    fill(s.raw(), 3 * PAGE, 100, 0x32)?;
    expect_all(
        &read_vec(v.raw(), 3 * PAGE, 100)?,
        0x32,
        "parent after slice write",
    )?;
    // A page first committed through the slice is the parent's.
    let w = vmo_opts(2 * PAGE, ZX_VMO_NON_RESIZABLE)?;
    let ws = child_vmo(w.raw(), SLICE, 0, 2 * PAGE)?;
    fill(ws.raw(), PAGE, 4, 0x77)?;
    expect_all(
        &read_vec(w.raw(), PAGE, 4)?,
        0x77,
        "parent page committed through the slice",
    )?;
    eq!(committed(w.raw())?, PAGE);
    Ok(())
}

fn slice_window() -> R {
    let v = vmo_opts(4 * PAGE, ZX_VMO_NON_RESIZABLE)?;
    for p in 0..4u64 {
        fill(v.raw(), p * PAGE, PAGEZ, p as u8 + 1)?;
    }
    let s = child_vmo(v.raw(), SLICE, PAGE, 2 * PAGE)?;
    eq!(get_size(s.raw())?, 2 * PAGE);
    eq!(read_byte(s.raw(), 0)?, 2u8);
    eq!(read_byte(s.raw(), PAGE)?, 3u8);
    let mut b = [0u8; 1];
    check!(ZX_ERR_OUT_OF_RANGE, vmo_read(s.raw(), 2 * PAGE, &mut b));
    fill(s.raw(), PAGE, 1, 0x99)?;
    eq!(read_byte(v.raw(), 2 * PAGE)?, 0x99u8);
    Ok(())
}

fn slice_resizable_parent() -> R {
    let v = vmo(4 * PAGE)?;
    let mut out = 0u32;
    check!(ZX_ERR_NOT_SUPPORTED, unsafe {
        sys::zx_vmo_create_child(v.raw(), SLICE, 0, PAGE, &mut out)
    });
    eq!(vmo_info(v.raw())?.num_children, 0usize);
    Ok(())
}

fn slice_outside() -> R {
    let v = vmo_opts(2 * PAGE, ZX_VMO_NON_RESIZABLE)?;
    let mut out = 0u32;
    for (off, size) in [
        (0u64, 3 * PAGE),
        (PAGE, 2 * PAGE),
        (2 * PAGE, PAGE),
        (4 * PAGE, PAGE),
    ] {
        check!(ZX_ERR_INVALID_ARGS, unsafe {
            sys::zx_vmo_create_child(v.raw(), SLICE, off, size, &mut out)
        });
    }
    let ok_slice = child_vmo(v.raw(), SLICE, PAGE, PAGE)?;
    drop(ok_slice);
    Ok(())
}

fn slice_range_first() -> R {
    // Resizable: a slice is refused, but a range outside it is refused for the range first.
    let v = vmo(2 * PAGE)?;
    let mut out = 0u32;
    for (off, size) in [
        (PAGE, 2 * PAGE),
        (4 * PAGE, PAGE),
        (0, 3 * PAGE),
        (u64::MAX - PAGE + 1, 2 * PAGE),
        (1 << 63, 1 << 63),
    ] {
        check!(ZX_ERR_INVALID_ARGS, unsafe {
            sys::zx_vmo_create_child(v.raw(), SLICE, off, size, &mut out)
        });
    }
    // A size that rounds past the largest VMO is OUT_OF_RANGE, as for every child.
    check!(ZX_ERR_OUT_OF_RANGE, unsafe {
        sys::zx_vmo_create_child(v.raw(), SLICE, 0, u64::MAX, &mut out)
    });
    check!(ZX_ERR_NOT_SUPPORTED, unsafe {
        sys::zx_vmo_create_child(v.raw(), SLICE, 0, 2 * PAGE, &mut out)
    });
    eq!(vmo_info(v.raw())?.num_children, 0usize);
    Ok(())
}

fn resizable_no_write() -> R {
    let v = vmo(PAGE)?;
    let mut out = 0u32;
    check!(ZX_ERR_INVALID_ARGS, unsafe {
        sys::zx_vmo_create_child(
            v.raw(),
            SNAP | ZX_VMO_CHILD_RESIZABLE | ZX_VMO_CHILD_NO_WRITE,
            0,
            PAGE,
            &mut out,
        )
    });
    eq!(vmo_info(v.raw())?.num_children, 0usize);
    Ok(())
}

fn accumulated_offset() -> R {
    let half = 1u64 << 63;
    let v = vmo(PAGE)?;
    // A child may start far past its parent's end...
    let b = child_vmo(v.raw(), SNAP, half, PAGE)?;
    let mut out = 0u32;
    // ...but a grandchild whose range, with both offsets, passes 2^64 is refused.
    check!(ZX_ERR_INVALID_ARGS, unsafe {
        sys::zx_vmo_create_child(b.raw(), SNAP, half, PAGE, &mut out)
    });
    check!(ZX_ERR_INVALID_ARGS, unsafe {
        sys::zx_vmo_create_child(b.raw(), SNAP, half - PAGE, PAGE, &mut out)
    });
    check!(ZX_ERR_INVALID_ARGS, unsafe {
        sys::zx_vmo_clone(b.raw(), ZX_VMO_CLONE_COPY_ON_WRITE, half, PAGE, &mut out)
    });
    eq!(vmo_info(b.raw())?.num_children, 0usize);
    // Up to the last page below 2^64 is fine, and works.
    let c = child_vmo(b.raw(), SNAP, half - 2 * PAGE, PAGE)?;
    fill(c.raw(), 0, 16, 0x5A)?;
    eq!(read_byte(c.raw(), 15)?, 0x5Au8);
    check!(ZX_ERR_INVALID_ARGS, unsafe {
        sys::zx_vmo_create_child(c.raw(), SNAP, PAGE, PAGE, &mut out)
    });
    let d = clone_vmo(c.raw(), ZX_VMO_CLONE_COPY_ON_WRITE, 0, PAGE)?;
    eq!(read_byte(d.raw(), 15)?, 0x5Au8);
    Ok(())
}

fn accumulated_set_size() -> R {
    let half = 1u64 << 63;
    let v = vmo(PAGE)?;
    let b = child_vmo(v.raw(), SNAP | ZX_VMO_CHILD_RESIZABLE, half, PAGE)?;
    check!(ZX_ERR_INVALID_ARGS, unsafe {
        sys::zx_vmo_set_size(b.raw(), half)
    });
    eq!(get_size(b.raw())?, PAGE);
    zx_ok!(unsafe { sys::zx_vmo_set_size(b.raw(), half - PAGE) });
    write_all(b.raw(), half - 2 * PAGE, &[0x77])?;
    eq!(read_byte(b.raw(), half - 2 * PAGE)?, 0x77u8);
    zx_ok!(unsafe { sys::zx_vmo_set_size(b.raw(), PAGE) });
    eq!(committed(b.raw())?, 0u64);
    Ok(())
}

fn committed_snapshot_example() -> R {
    // The spec's worked example: a page shared by a VMO and its snapshot is the VMO's while
    // it still sees it; a closed VMO's pages pass to the snapshot.
    let a = vmo(4 * PAGE)?;
    fill(a.raw(), 0, 4 * PAGEZ, 0x41)?;
    eq!(committed(a.raw())?, 4 * PAGE);
    let b = child_vmo(a.raw(), SNAP, 0, 4 * PAGE)?;
    eq!((committed(a.raw())?, committed(b.raw())?), (4 * PAGE, 0));
    fill(b.raw(), 0, 1, 0x42)?;
    eq!((committed(a.raw())?, committed(b.raw())?), (4 * PAGE, PAGE));
    fill(a.raw(), PAGE, 1, 0x43)?;
    eq!(
        (committed(a.raw())?, committed(b.raw())?),
        (4 * PAGE, 2 * PAGE)
    );
    drop(a);
    eq!(committed(b.raw())?, 4 * PAGE);
    eq!(read_byte(b.raw(), 0)?, 0x42u8);
    eq!(read_byte(b.raw(), PAGE)?, 0x41u8);
    Ok(())
}

fn committed_mappings_and_clones() -> R {
    // Write faults charge like writes; a zx_vmo_clone's parent keeps its pages until closed.
    let a = vmo(3 * PAGE)?;
    fill(a.raw(), 0, 3 * PAGEZ, 0x31)?;
    let b = child_vmo(a.raw(), SNAP, 0, 3 * PAGE)?;
    let ma = map(a.raw(), 0, 3 * PAGEZ, RW)?;
    let mb = map(b.raw(), 0, 3 * PAGEZ, RW)?;
    ma.poke(0, 0x32);
    mb.poke(PAGEZ, 0x33);
    eq!(
        (committed(a.raw())?, committed(b.raw())?),
        (3 * PAGE, 2 * PAGE)
    );
    let c = clone_vmo(b.raw(), ZX_VMO_CLONE_COPY_ON_WRITE, 0, 3 * PAGE)?;
    eq!(committed(c.raw())?, 0u64);
    fill(c.raw(), 2 * PAGE, 1, 0x34)?;
    eq!((committed(b.raw())?, committed(c.raw())?), (2 * PAGE, PAGE));
    // b's handle goes, its mapping keeps it; then the mapping goes too.
    drop(b);
    eq!(committed(c.raw())?, PAGE);
    drop(mb);
    // c now sees b's own page 1 and the shared page 0 (a wrote its own copy) alone.
    eq!(
        (committed(a.raw())?, committed(c.raw())?),
        (3 * PAGE, 3 * PAGE)
    );
    drop(ma);
    drop(a);
    eq!(committed(c.raw())?, 3 * PAGE);
    eq!(read_byte(c.raw(), 0)?, 0x31u8);
    eq!(read_byte(c.raw(), PAGE)?, 0x33u8);
    eq!(read_byte(c.raw(), 2 * PAGE)?, 0x34u8);
    Ok(())
}

fn exactly_one() -> R {
    let v = vmo_opts(PAGE, ZX_VMO_NON_RESIZABLE)?;
    let mut out = 0u32;
    for opts in [
        0,
        SNAP | SLICE,
        ZX_VMO_CHILD_RESIZABLE,
        ZX_VMO_CHILD_NO_WRITE,
        SNAP | SLICE | ZX_VMO_CHILD_NO_WRITE,
    ] {
        check!(ZX_ERR_INVALID_ARGS, unsafe {
            sys::zx_vmo_create_child(v.raw(), opts, 0, PAGE, &mut out)
        });
    }
    eq!(vmo_info(v.raw())?.num_children, 0usize);
    Ok(())
}

fn unknown_option() -> R {
    let v = vmo_opts(PAGE, ZX_VMO_NON_RESIZABLE)?;
    let mut out = 0u32;
    for opts in [
        SNAP | 1 << 1,
        SNAP | 1 << 4,
        SLICE | 1 << 20,
        SNAP | 1 << 31,
    ] {
        check!(ZX_ERR_INVALID_ARGS, unsafe {
            sys::zx_vmo_create_child(v.raw(), opts, 0, PAGE, &mut out)
        });
    }
    Ok(())
}

fn unaligned_offset() -> R {
    let v = vmo_opts(4 * PAGE, ZX_VMO_NON_RESIZABLE)?;
    let mut out = 0u32;
    for opts in [SNAP, SLICE] {
        check!(ZX_ERR_INVALID_ARGS, unsafe {
            sys::zx_vmo_create_child(v.raw(), opts, 7, PAGE, &mut out)
        });
    }
    Ok(())
}

fn overflow() -> R {
    let v = vmo(PAGE)?;
    let mut out = 0u32;
    check!(ZX_ERR_OUT_OF_RANGE, unsafe {
        sys::zx_vmo_create_child(v.raw(), SNAP, PAGE, u64::MAX - 10, &mut out)
    });
    check!(ZX_ERR_OUT_OF_RANGE, unsafe {
        sys::zx_vmo_create_child(v.raw(), SNAP, 0, u64::MAX, &mut out)
    });
    Ok(())
}

fn no_write() -> R {
    let v = vmo_opts(PAGE, ZX_VMO_NON_RESIZABLE)?;
    fill(v.raw(), 0, 8, 0x42)?;
    for opts in [SNAP, SLICE] {
        let c = child_vmo(v.raw(), opts | ZX_VMO_CHILD_NO_WRITE, 0, PAGE)?;
        let r = rights_of(c.raw())?;
        ensure!(
            r & ZX_RIGHT_WRITE == 0,
            "options {opts:#x}|NO_WRITE: child rights {r:#x} have WRITE"
        );
        ensure!(
            r & ZX_RIGHT_READ != 0,
            "options {opts:#x}|NO_WRITE: child rights {r:#x} lack READ"
        );
        check!(ZX_ERR_ACCESS_DENIED, vmo_write(c.raw(), 0, &[1]));
        eq!(read_byte(c.raw(), 0)?, 0x42u8);
        let w = child_vmo(v.raw(), opts, 0, PAGE)?;
        let r = rights_of(w.raw())?;
        ensure!(
            r & ZX_RIGHT_WRITE != 0,
            "options {opts:#x}: child rights {r:#x} lack WRITE"
        );
    }
    Ok(())
}

fn resizable() -> R {
    let v = vmo(PAGE)?;
    let fixed = child_vmo(v.raw(), SNAP, 0, PAGE)?;
    check!(ZX_ERR_UNAVAILABLE, unsafe {
        sys::zx_vmo_set_size(fixed.raw(), 2 * PAGE)
    });
    let grow = child_vmo(v.raw(), SNAP | ZX_VMO_CHILD_RESIZABLE, 0, PAGE)?;
    zx_ok!(unsafe { sys::zx_vmo_set_size(grow.raw(), 2 * PAGE) });
    eq!(get_size(grow.raw())?, 2 * PAGE);
    let f = vmo_info(grow.raw())?.flags;
    ensure!(
        f & ZX_INFO_VMO_RESIZABLE != 0,
        "RESIZABLE child flags {f:#x}"
    );
    Ok(())
}

fn info_parent() -> R {
    let v = vmo_opts(2 * PAGE, ZX_VMO_NON_RESIZABLE)?;
    let pk = koid_of(v.raw())?;
    let s = child_vmo(v.raw(), SNAP, 0, PAGE)?;
    let l = child_vmo(v.raw(), SLICE, 0, PAGE)?;
    eq!(vmo_info(s.raw())?.parent_koid, pk);
    eq!(vmo_info(l.raw())?.parent_koid, pk);
    eq!(vmo_info(v.raw())?.num_children, 2usize);
    drop(s);
    eq!(vmo_info(v.raw())?.num_children, 1usize);
    Ok(())
}

fn wrong_type() -> R {
    let (a, _b) = channel()?;
    let mut out = 0u32;
    check!(ZX_ERR_WRONG_TYPE, unsafe {
        sys::zx_vmo_create_child(a.raw(), SNAP, 0, PAGE, &mut out)
    });
    check!(ZX_ERR_BAD_HANDLE, unsafe {
        sys::zx_vmo_create_child(0x1234_5673, SNAP, 0, PAGE, &mut out)
    });
    Ok(())
}

fn safe_api() -> R {
    let v = ok!(Vmo::create(2 * PAGE));
    ok!(v.write(b"abc", 0));
    let snap = ok!(v.create_child(VmoChildOptions::SNAPSHOT, 0, 2 * PAGE));
    ok!(v.write(b"xyz", 0));
    let mut b = [0u8; 3];
    ok!(snap.read(&mut b, 0));
    eq!(&b, b"abc");
    check_err!(
        ZX_ERR_NOT_SUPPORTED,
        v.create_child(VmoChildOptions::SLICE, 0, PAGE)
    );
    Ok(())
}
