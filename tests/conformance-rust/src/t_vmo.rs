//! zx_vmo_create, zx_vmo_read / zx_vmo_write, zx_vmo_get_size / zx_vmo_set_size.

use crate::harness::Case;
use crate::util::*;
use alloc::vec;
use zx::{Rights, Vmo};

pub const CASES: &[Case] = &[
    (
        "vmo_create_default_rights_are_the_seed_eight",
        create_default_rights,
    ),
    (
        "vmo_create_unknown_options_invalid_args",
        create_unknown_options,
    ),
    (
        "vmo_create_options_0_resizable_non_resizable_not",
        create_resizable_flags,
    ),
    ("vmo_create_rounds_size_up_to_page", create_rounds_up),
    ("vmo_create_size_zero_is_valid", create_size_zero),
    (
        "vmo_create_rounding_overflow_out_of_range",
        create_rounding_overflow,
    ),
    ("vmo_create_above_max_out_of_range", create_above_max),
    ("vmo_create_max_size_is_valid_and_lazy", create_max_size),
    ("vmo_create_bad_out_pointer_invalid_args", create_bad_out),
    ("vmo_create_pages_read_zero", create_reads_zero),
    (
        "vmo_create_1gib_commits_nothing",
        create_1gib_commits_nothing,
    ),
    (
        "vmo_write_read_roundtrip_across_pages",
        write_read_roundtrip,
    ),
    ("vmo_read_write_offset_overflow_out_of_range", rw_overflow),
    (
        "vmo_read_past_size_out_of_range_no_partial_read",
        read_past_size,
    ),
    (
        "vmo_write_past_size_out_of_range_no_partial_write",
        write_past_size,
    ),
    ("vmo_read_write_zero_length_at_size_ok", zero_len_at_size),
    ("vmo_read_needs_read_right", read_needs_read),
    ("vmo_write_needs_write_right", write_needs_write),
    (
        "vmo_read_of_uncommitted_pages_commits_nothing",
        read_commits_nothing,
    ),
    (
        "vmo_write_commits_only_touched_pages",
        write_commits_touched,
    ),
    ("vmo_read_write_wrong_type", rw_wrong_type),
    ("vmo_get_size_needs_no_right", get_size_no_right),
    ("vmo_set_size_needs_write_right", set_size_needs_write),
    (
        "vmo_set_size_non_resizable_unavailable",
        set_size_non_resizable,
    ),
    (
        "vmo_set_size_overflow_or_above_max_out_of_range",
        set_size_out_of_range,
    ),
    ("vmo_set_size_rounds_up_to_page", set_size_rounds_up),
    ("vmo_set_size_shrink_frees_pages", set_size_shrink_frees),
    (
        "vmo_set_size_grow_reads_zero_never_old_data",
        set_size_grow_zero,
    ),
    (
        "vmo_set_size_shrink_then_access_past_end_out_of_range",
        set_size_shrink_range,
    ),
    ("vmo_safe_api_create_read_write_size", safe_api_roundtrip),
];

fn create_default_rights() -> R {
    let v = vmo(PAGE)?;
    let b = basic(v.raw())?;
    eqx!(b.rights, ZX_DEFAULT_VMO_RIGHTS);
    eqx!(b.rights, 0xFFu32);
    eq!(b.type_, ZX_OBJ_TYPE_VMO);
    ensure!(b.koid != 0, "koid is 0");
    eq!(b.related_koid, 0u64);
    let nr = vmo_opts(PAGE, ZX_VMO_NON_RESIZABLE)?;
    eqx!(rights_of(nr.raw())?, 0xFFu32);
    Ok(())
}

fn create_unknown_options() -> R {
    for opts in [2u32, 3, 4, 0x80, 0x8000_0000, u32::MAX] {
        let mut h = 0u32;
        check!(ZX_ERR_INVALID_ARGS, unsafe {
            sys::zx_vmo_create(PAGE, opts, &mut h)
        });
        eq!(h, 0u32);
    }
    Ok(())
}

fn create_resizable_flags() -> R {
    let r = vmo_opts(PAGE, 0)?;
    let n = vmo_opts(PAGE, ZX_VMO_NON_RESIZABLE)?;
    let ri = vmo_info(r.raw())?;
    let ni = vmo_info(n.raw())?;
    ensure!(
        ri.flags & ZX_INFO_VMO_RESIZABLE != 0,
        "options 0: flags {:#x} lack RESIZABLE",
        ri.flags
    );
    ensure!(
        ni.flags & ZX_INFO_VMO_RESIZABLE == 0,
        "NON_RESIZABLE: flags {:#x} have RESIZABLE",
        ni.flags
    );
    ensure!(
        ri.flags & ZX_INFO_VMO_TYPE_PAGED != 0,
        "flags {:#x} lack TYPE_PAGED",
        ri.flags
    );
    zx_ok!(unsafe { sys::zx_vmo_set_size(r.raw(), 2 * PAGE) });
    check!(ZX_ERR_UNAVAILABLE, unsafe {
        sys::zx_vmo_set_size(n.raw(), 2 * PAGE)
    });
    Ok(())
}

fn create_rounds_up() -> R {
    for (asked, expect) in [
        (1u64, PAGE),
        (4095, PAGE),
        (4096, PAGE),
        (4097, 2 * PAGE),
        (3 * PAGE - 1, 3 * PAGE),
    ] {
        let v = vmo(asked)?;
        eq!(get_size(v.raw())?, expect);
        eq!(vmo_info(v.raw())?.size_bytes, expect);
        // The whole rounded page is usable.
        zx_ok!(vmo_write(v.raw(), expect - 1, &[7]));
    }
    Ok(())
}

fn create_size_zero() -> R {
    let v = vmo(0)?;
    eq!(get_size(v.raw())?, 0u64);
    let mut buf = [0u8; 1];
    zx_ok!(unsafe { sys::zx_vmo_read(v.raw(), buf.as_mut_ptr().cast(), 0, 0) });
    check!(ZX_ERR_OUT_OF_RANGE, vmo_read(v.raw(), 0, &mut buf));
    check!(ZX_ERR_OUT_OF_RANGE, vmo_write(v.raw(), 0, &[1]));
    eq!(committed(v.raw())?, 0u64);
    Ok(())
}

fn create_rounding_overflow() -> R {
    for size in [u64::MAX, u64::MAX - 1, u64::MAX - PAGE + 2] {
        let mut h = 0u32;
        check!(ZX_ERR_OUT_OF_RANGE, unsafe {
            sys::zx_vmo_create(size, 0, &mut h)
        });
        eq!(h, 0u32);
    }
    Ok(())
}

fn create_above_max() -> R {
    for size in [
        ZX_MAX_VMO_SIZE + 1,
        ZX_MAX_VMO_SIZE + PAGE,
        u64::MAX - PAGE * 2,
    ] {
        let mut h = 0u32;
        check!(ZX_ERR_OUT_OF_RANGE, unsafe {
            sys::zx_vmo_create(size, 0, &mut h)
        });
        check!(ZX_ERR_OUT_OF_RANGE, unsafe {
            sys::zx_vmo_create(size, ZX_VMO_NON_RESIZABLE, &mut h)
        });
    }
    Ok(())
}

fn create_max_size() -> R {
    let v = vmo(ZX_MAX_VMO_SIZE)?;
    eq!(get_size(v.raw())?, ZX_MAX_VMO_SIZE);
    eq!(read_byte(v.raw(), ZX_MAX_VMO_SIZE - 1)?, 0u8);
    zx_ok!(vmo_write(
        v.raw(),
        ZX_MAX_VMO_SIZE - 8,
        &[1, 2, 3, 4, 5, 6, 7, 8]
    ));
    eq!(committed(v.raw())?, PAGE);
    Ok(())
}

fn create_bad_out() -> R {
    for p in [
        0usize,
        KERNEL_ADDR,
        UNMAPPED_ADDR,
        rodata_addr(),
        usize::MAX - 2,
    ] {
        check!(ZX_ERR_INVALID_ARGS, unsafe {
            sys::zx_vmo_create(PAGE, 0, p as *mut u32)
        });
    }
    Ok(())
}

fn create_reads_zero() -> R {
    let v = vmo(3 * PAGE)?;
    let data = read_vec(v.raw(), 0, 3 * PAGEZ)?;
    expect_all(&data, 0, "new VMO")?;
    Ok(())
}

fn create_1gib_commits_nothing() -> R {
    let before = kmem()?;
    let v = vmo(1 << 30)?;
    let after_create = kmem()?;
    eq!(committed(v.raw())?, 0u64);
    // Reading an uncommitted page commits nothing either.
    eq!(read_byte(v.raw(), 512 << 20)?, 0u8);
    eq!(committed(v.raw())?, 0u64);
    let after_read = kmem()?;
    // Slack for this process's own stack and heap faults meanwhile.
    let slack = 64 * 1024;
    ensure!(
        after_create.vmo_bytes <= before.vmo_bytes + slack
            && after_read.vmo_bytes <= before.vmo_bytes + slack,
        "KMEM vmo_bytes {:#x} -> {:#x} -> {:#x} for a 1 GiB VMO",
        before.vmo_bytes,
        after_create.vmo_bytes,
        after_read.vmo_bytes
    );
    ensure!(
        after_read.free_bytes + 4 * 1024 * 1024 >= before.free_bytes,
        "KMEM free_bytes {:#x} -> {:#x}",
        before.free_bytes,
        after_read.free_bytes
    );
    Ok(())
}

fn pattern(len: usize, seed: u8) -> alloc::vec::Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

fn write_read_roundtrip() -> R {
    let v = vmo(4 * PAGE)?;
    let data = pattern(10_000, 3);
    zx_ok!(vmo_write(v.raw(), 1000, &data));
    eq!(read_vec(v.raw(), 1000, 10_000)?, data);
    expect_all(&read_vec(v.raw(), 0, 1000)?, 0, "before the write")?;
    expect_all(
        &read_vec(v.raw(), 11_000, 4 * PAGEZ - 11_000)?,
        0,
        "after the write",
    )?;
    // Unaligned small reads inside.
    eq!(read_vec(v.raw(), 4095, 3)?, data[3095..3098].to_vec());
    Ok(())
}

fn rw_overflow() -> R {
    let v = vmo(PAGE)?;
    let mut buf = [0xAAu8; 16];
    for off in [u64::MAX, u64::MAX - 1, u64::MAX - 15] {
        check!(ZX_ERR_OUT_OF_RANGE, vmo_read(v.raw(), off, &mut buf));
        check!(ZX_ERR_OUT_OF_RANGE, vmo_write(v.raw(), off, &buf));
    }
    expect_all(&buf, 0xAA, "buffer after failed reads")?;
    Ok(())
}

fn read_past_size() -> R {
    let v = vmo(PAGE)?;
    fill(v.raw(), 0, PAGEZ, 0x11)?;
    let mut buf = [0xAAu8; 20];
    check!(ZX_ERR_OUT_OF_RANGE, vmo_read(v.raw(), PAGE - 10, &mut buf));
    expect_all(&buf, 0xAA, "buffer after OUT_OF_RANGE read")?;
    check!(ZX_ERR_OUT_OF_RANGE, vmo_read(v.raw(), PAGE, &mut buf));
    check!(ZX_ERR_OUT_OF_RANGE, vmo_read(v.raw(), 10 * PAGE, &mut buf));
    let mut big = vec![0xAAu8; 2 * PAGEZ];
    check!(ZX_ERR_OUT_OF_RANGE, vmo_read(v.raw(), 0, &mut big));
    expect_all(&big, 0xAA, "large buffer after OUT_OF_RANGE read")?;
    Ok(())
}

fn write_past_size() -> R {
    let v = vmo(PAGE)?;
    check!(
        ZX_ERR_OUT_OF_RANGE,
        vmo_write(v.raw(), PAGE - 10, &[0x77; 20])
    );
    expect_all(
        &read_vec(v.raw(), 0, PAGEZ)?,
        0,
        "VMO after OUT_OF_RANGE write",
    )?;
    eq!(committed(v.raw())?, 0u64);
    check!(
        ZX_ERR_OUT_OF_RANGE,
        vmo_write(v.raw(), 0, &vec![0x77u8; PAGEZ + 1])
    );
    expect_all(
        &read_vec(v.raw(), 0, PAGEZ)?,
        0,
        "VMO after OUT_OF_RANGE write",
    )?;
    Ok(())
}

fn zero_len_at_size() -> R {
    let v = vmo(2 * PAGE)?;
    let mut b = [0u8; 4];
    zx_ok!(unsafe { sys::zx_vmo_read(v.raw(), b.as_mut_ptr().cast(), 2 * PAGE, 0) });
    zx_ok!(unsafe { sys::zx_vmo_write(v.raw(), b.as_ptr().cast(), 2 * PAGE, 0) });
    zx_ok!(unsafe { sys::zx_vmo_read(v.raw(), b.as_mut_ptr().cast(), 0, 0) });
    check!(ZX_ERR_OUT_OF_RANGE, unsafe {
        sys::zx_vmo_read(v.raw(), b.as_mut_ptr().cast(), 2 * PAGE + 1, 0)
    });
    check!(ZX_ERR_OUT_OF_RANGE, unsafe {
        sys::zx_vmo_write(v.raw(), b.as_ptr().cast(), 2 * PAGE + 1, 0)
    });
    Ok(())
}

fn read_needs_read() -> R {
    let v = vmo(PAGE)?;
    let no_read = dup(v.raw(), ZX_DEFAULT_VMO_RIGHTS & !ZX_RIGHT_READ)?;
    let mut buf = [0u8; 8];
    check!(ZX_ERR_ACCESS_DENIED, vmo_read(no_read.raw(), 0, &mut buf));
    zx_ok!(vmo_write(no_read.raw(), 0, &buf));
    Ok(())
}

fn write_needs_write() -> R {
    let v = vmo(PAGE)?;
    let no_write = dup(v.raw(), ZX_DEFAULT_VMO_RIGHTS & !ZX_RIGHT_WRITE)?;
    check!(
        ZX_ERR_ACCESS_DENIED,
        vmo_write(no_write.raw(), 0, &[1, 2, 3])
    );
    expect_all(
        &read_vec(no_write.raw(), 0, 16)?,
        0,
        "VMO after denied write",
    )?;
    Ok(())
}

fn read_commits_nothing() -> R {
    let v = vmo(16 * PAGE)?;
    let data = read_vec(v.raw(), 0, 16 * PAGEZ)?;
    expect_all(&data, 0, "fresh VMO")?;
    eq!(committed(v.raw())?, 0u64);
    Ok(())
}

fn write_commits_touched() -> R {
    let v = vmo(8 * PAGE)?;
    zx_ok!(vmo_write(v.raw(), 2 * PAGE - 1, &[1, 2]));
    eq!(committed(v.raw())?, 2 * PAGE);
    zx_ok!(vmo_write(v.raw(), 2 * PAGE + 5, &[3]));
    eq!(committed(v.raw())?, 2 * PAGE);
    Ok(())
}

fn rw_wrong_type() -> R {
    let (a, _b) = channel()?;
    let mut buf = [0u8; 4];
    check!(ZX_ERR_WRONG_TYPE, vmo_read(a.raw(), 0, &mut buf));
    check!(ZX_ERR_WRONG_TYPE, vmo_write(a.raw(), 0, &buf));
    let mut size = 0u64;
    check!(ZX_ERR_WRONG_TYPE, unsafe {
        sys::zx_vmo_get_size(a.raw(), &mut size)
    });
    check!(ZX_ERR_WRONG_TYPE, unsafe {
        sys::zx_vmo_set_size(a.raw(), PAGE)
    });
    check!(ZX_ERR_WRONG_TYPE, unsafe {
        sys::zx_vmo_get_size(root_vmar(), &mut size)
    });
    Ok(())
}

fn get_size_no_right() -> R {
    let v = vmo(3 * PAGE)?;
    let none = dup(v.raw(), ZX_RIGHT_NONE)?;
    eqx!(rights_of(none.raw())?, 0u32);
    eq!(get_size(none.raw())?, 3 * PAGE);
    Ok(())
}

fn set_size_needs_write() -> R {
    let v = vmo(PAGE)?;
    let no_write = dup(v.raw(), ZX_DEFAULT_VMO_RIGHTS & !ZX_RIGHT_WRITE)?;
    check!(ZX_ERR_ACCESS_DENIED, unsafe {
        sys::zx_vmo_set_size(no_write.raw(), 2 * PAGE)
    });
    eq!(get_size(v.raw())?, PAGE);
    Ok(())
}

fn set_size_non_resizable() -> R {
    let v = vmo_opts(2 * PAGE, ZX_VMO_NON_RESIZABLE)?;
    for size in [0, PAGE, 2 * PAGE, 3 * PAGE] {
        check!(ZX_ERR_UNAVAILABLE, unsafe {
            sys::zx_vmo_set_size(v.raw(), size)
        });
    }
    eq!(get_size(v.raw())?, 2 * PAGE);
    Ok(())
}

fn set_size_out_of_range() -> R {
    let v = vmo(PAGE)?;
    for size in [
        u64::MAX,
        u64::MAX - 1,
        ZX_MAX_VMO_SIZE + 1,
        ZX_MAX_VMO_SIZE + PAGE,
    ] {
        check!(ZX_ERR_OUT_OF_RANGE, unsafe {
            sys::zx_vmo_set_size(v.raw(), size)
        });
    }
    eq!(get_size(v.raw())?, PAGE);
    Ok(())
}

fn set_size_rounds_up() -> R {
    let v = vmo(PAGE)?;
    zx_ok!(unsafe { sys::zx_vmo_set_size(v.raw(), 5000) });
    eq!(get_size(v.raw())?, 2 * PAGE);
    zx_ok!(unsafe { sys::zx_vmo_set_size(v.raw(), 1) });
    eq!(get_size(v.raw())?, PAGE);
    zx_ok!(unsafe { sys::zx_vmo_set_size(v.raw(), 0) });
    eq!(get_size(v.raw())?, 0u64);
    Ok(())
}

fn set_size_shrink_frees() -> R {
    let pages = 64u64;
    let v = vmo(pages * PAGE)?;
    fill(v.raw(), 0, (pages * PAGE) as usize, 0x3C)?;
    eq!(committed(v.raw())?, pages * PAGE);
    let before = kmem()?;
    zx_ok!(unsafe { sys::zx_vmo_set_size(v.raw(), PAGE) });
    let after = kmem()?;
    eq!(committed(v.raw())?, PAGE);
    let freed = (pages - 1) * PAGE;
    let slack = 16 * PAGE;
    ensure!(
        after.vmo_bytes + freed <= before.vmo_bytes + slack,
        "KMEM vmo_bytes {:#x} -> {:#x}, expected a drop of about {:#x}",
        before.vmo_bytes,
        after.vmo_bytes,
        freed
    );
    ensure!(
        after.free_bytes + slack >= before.free_bytes + freed,
        "KMEM free_bytes {:#x} -> {:#x}, expected a rise of about {:#x}",
        before.free_bytes,
        after.free_bytes,
        freed
    );
    expect_all(&read_vec(v.raw(), 0, PAGEZ)?, 0x3C, "kept page")?;
    Ok(())
}

fn set_size_grow_zero() -> R {
    let v = vmo(4 * PAGE)?;
    fill(v.raw(), 0, 4 * PAGEZ, 0x55)?;
    zx_ok!(unsafe { sys::zx_vmo_set_size(v.raw(), PAGE) });
    zx_ok!(unsafe { sys::zx_vmo_set_size(v.raw(), 4 * PAGE) });
    expect_all(&read_vec(v.raw(), 0, PAGEZ)?, 0x55, "page 0")?;
    expect_all(&read_vec(v.raw(), PAGE, 3 * PAGEZ)?, 0, "regrown pages")?;
    eq!(committed(v.raw())?, PAGE);
    // Through zero size too.
    zx_ok!(unsafe { sys::zx_vmo_set_size(v.raw(), 0) });
    zx_ok!(unsafe { sys::zx_vmo_set_size(v.raw(), 2 * PAGE) });
    expect_all(&read_vec(v.raw(), 0, 2 * PAGEZ)?, 0, "regrown from 0")?;
    Ok(())
}

fn set_size_shrink_range() -> R {
    let v = vmo(4 * PAGE)?;
    fill(v.raw(), 0, 4 * PAGEZ, 1)?;
    zx_ok!(unsafe { sys::zx_vmo_set_size(v.raw(), 2 * PAGE) });
    let mut b = [0u8; 1];
    check!(ZX_ERR_OUT_OF_RANGE, vmo_read(v.raw(), 2 * PAGE, &mut b));
    check!(ZX_ERR_OUT_OF_RANGE, vmo_write(v.raw(), 3 * PAGE, &b));
    zx_ok!(vmo_read(v.raw(), 2 * PAGE - 1, &mut b));
    eq!(b[0], 1u8);
    Ok(())
}

fn safe_api_roundtrip() -> R {
    let v = ok!(Vmo::create(5000));
    eq!(ok!(v.get_size()), 2 * PAGE);
    ok!(v.write(b"hello", 4094));
    let mut buf = [0u8; 5];
    ok!(v.read(&mut buf, 4094));
    eq!(&buf, b"hello");
    check_err!(ZX_ERR_OUT_OF_RANGE, v.read(&mut buf, 2 * PAGE - 2));
    ok!(v.set_size(PAGE));
    eq!(ok!(v.get_size()), PAGE);
    let ro = ok!(v.duplicate_handle(Rights::READ | Rights::DUPLICATE));
    check_err!(ZX_ERR_ACCESS_DENIED, ro.write(b"x", 0));
    Ok(())
}
