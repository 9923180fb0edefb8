//! zx_vmo_clone (the seed's copy-on-write clone).

use crate::harness::Case;
use crate::util::*;

pub const CASES: &[Case] = &[
    ("vmo_clone_requires_copy_on_write_option", requires_cow),
    ("vmo_clone_unknown_option_invalid_args", unknown_option),
    ("vmo_clone_unaligned_offset_invalid_args", unaligned_offset),
    ("vmo_clone_offset_size_overflow_out_of_range", overflow),
    ("vmo_clone_needs_duplicate_and_read_rights", needs_rights),
    ("vmo_clone_wrong_type", wrong_type),
    ("vmo_clone_size_rounds_up_to_page", size_rounds),
    ("vmo_clone_range_past_parent_reads_zero", past_parent_zero),
    (
        "vmo_clone_parent_growth_stays_invisible_past_old_end",
        parent_growth_invisible,
    ),
    (
        "vmo_clone_reads_parent_current_content_until_written",
        sees_parent_current,
    ),
    (
        "vmo_clone_first_write_copies_and_diverges",
        first_write_diverges,
    ),
    ("vmo_clone_offset_selects_parent_pages", offset_window),
    (
        "vmo_clone_resizable_even_if_parent_not",
        resizable_even_if_parent_not,
    ),
    ("vmo_clone_non_resizeable_option", non_resizeable_option),
    (
        "vmo_clone_rights_parent_plus_get_set_property_write",
        clone_rights,
    ),
    ("vmo_clone_name_copied_with_get_property", name_copied),
    (
        "vmo_clone_name_not_copied_without_get_property",
        name_not_copied,
    ),
    (
        "vmo_clone_is_o1_256_committed_pages_not_copied",
        clone_is_o1,
    ),
    ("vmo_clone_info_parent_koid_and_cow_flag", info_parent),
    ("vmo_clone_of_clone_reads_through", clone_of_clone),
    (
        "vmo_clone_child_write_commits_in_child_only",
        child_write_commit,
    ),
    (
        "vmo_clone_bad_out_pointer_creates_no_child",
        bad_out_no_child,
    ),
    ("vmo_clone_parent_closed_child_keeps_content", parent_closed),
    (
        "vmo_clone_parent_decommit_not_visible_after_child_write",
        parent_decommit_after_child_write,
    ),
    ("vmo_clone_parent_shrink_hides_dropped_pages", parent_shrink),
    (
        "vmo_family_pages_all_freed_parent_closed_first",
        family_parent_first,
    ),
    (
        "vmo_family_pages_all_freed_children_closed_first",
        family_children_first,
    ),
    ("vmo_clone_deep_chain_reads_through_and_frees", deep_chain),
    ("vmo_snapshot_deep_chain_isolated_and_frees", deep_snapshots),
];

const COW: u32 = ZX_VMO_CLONE_COPY_ON_WRITE;

fn requires_cow() -> R {
    let v = vmo(PAGE)?;
    let mut out = 0u32;
    check!(ZX_ERR_INVALID_ARGS, unsafe {
        sys::zx_vmo_clone(v.raw(), 0, 0, PAGE, &mut out)
    });
    check!(ZX_ERR_INVALID_ARGS, unsafe {
        sys::zx_vmo_clone(v.raw(), ZX_VMO_CLONE_NON_RESIZEABLE, 0, PAGE, &mut out)
    });
    eq!(vmo_info(v.raw())?.num_children, 0usize);
    zx_ok!(unsafe { sys::zx_vmo_clone(v.raw(), COW, 0, PAGE, &mut out) });
    drop(Owned::from_raw(out));
    Ok(())
}

fn unknown_option() -> R {
    let v = vmo(PAGE)?;
    let mut out = 0u32;
    for opts in [COW | 1 << 2, COW | 1 << 5, COW | 1 << 31] {
        check!(ZX_ERR_INVALID_ARGS, unsafe {
            sys::zx_vmo_clone(v.raw(), opts, 0, PAGE, &mut out)
        });
    }
    Ok(())
}

fn unaligned_offset() -> R {
    let v = vmo(4 * PAGE)?;
    let mut out = 0u32;
    for off in [1u64, 100, PAGE - 1, PAGE + 8] {
        check!(ZX_ERR_INVALID_ARGS, unsafe {
            sys::zx_vmo_clone(v.raw(), COW, off, PAGE, &mut out)
        });
    }
    Ok(())
}

fn overflow() -> R {
    let v = vmo(PAGE)?;
    let mut out = 0u32;
    check!(ZX_ERR_OUT_OF_RANGE, unsafe {
        sys::zx_vmo_clone(v.raw(), COW, PAGE, u64::MAX - 100, &mut out)
    });
    check!(ZX_ERR_OUT_OF_RANGE, unsafe {
        sys::zx_vmo_clone(v.raw(), COW, u64::MAX - (PAGE - 1), 2 * PAGE, &mut out)
    });
    // The rounded size past the maximum.
    check!(ZX_ERR_OUT_OF_RANGE, unsafe {
        sys::zx_vmo_clone(v.raw(), COW, 0, u64::MAX, &mut out)
    });
    eq!(vmo_info(v.raw())?.num_children, 0usize);
    Ok(())
}

fn needs_rights() -> R {
    let v = vmo(PAGE)?;
    let mut out = 0u32;
    let no_dup = dup(v.raw(), ZX_DEFAULT_VMO_RIGHTS & !ZX_RIGHT_DUPLICATE)?;
    check!(ZX_ERR_ACCESS_DENIED, unsafe {
        sys::zx_vmo_clone(no_dup.raw(), COW, 0, PAGE, &mut out)
    });
    let no_read = dup(v.raw(), ZX_DEFAULT_VMO_RIGHTS & !ZX_RIGHT_READ)?;
    check!(ZX_ERR_ACCESS_DENIED, unsafe {
        sys::zx_vmo_clone(no_read.raw(), COW, 0, PAGE, &mut out)
    });
    // Rights before argument checks.
    check!(ZX_ERR_ACCESS_DENIED, unsafe {
        sys::zx_vmo_clone(no_read.raw(), 0, 1, PAGE, &mut out)
    });
    let just = dup(v.raw(), ZX_RIGHT_DUPLICATE | ZX_RIGHT_READ)?;
    let c = clone_vmo(just.raw(), COW, 0, PAGE)?;
    drop(c);
    Ok(())
}

fn wrong_type() -> R {
    let (a, _b) = channel()?;
    let mut out = 0u32;
    check!(ZX_ERR_WRONG_TYPE, unsafe {
        sys::zx_vmo_clone(a.raw(), COW, 0, PAGE, &mut out)
    });
    check!(ZX_ERR_BAD_HANDLE, unsafe {
        sys::zx_vmo_clone(0x7FFF_FFF3, COW, 0, PAGE, &mut out)
    });
    Ok(())
}

fn size_rounds() -> R {
    let v = vmo(PAGE)?;
    let c = clone_vmo(v.raw(), COW, 0, 100)?;
    eq!(get_size(c.raw())?, PAGE);
    let z = clone_vmo(v.raw(), COW, 0, 0)?;
    eq!(get_size(z.raw())?, 0u64);
    Ok(())
}

fn past_parent_zero() -> R {
    let v = vmo(PAGE)?;
    fill(v.raw(), 0, PAGEZ, 0x11)?;
    let c = clone_vmo(v.raw(), COW, 0, 3 * PAGE)?;
    eq!(get_size(c.raw())?, 3 * PAGE);
    expect_all(&read_vec(c.raw(), 0, PAGEZ)?, 0x11, "clone page 0")?;
    expect_all(
        &read_vec(c.raw(), PAGE, 2 * PAGEZ)?,
        0,
        "clone past the parent",
    )?;
    // Entirely past the parent.
    let far = clone_vmo(v.raw(), COW, 4 * PAGE, 2 * PAGE)?;
    expect_all(
        &read_vec(far.raw(), 0, 2 * PAGEZ)?,
        0,
        "clone beyond the parent",
    )?;
    Ok(())
}

fn parent_growth_invisible() -> R {
    let v = vmo(PAGE)?;
    fill(v.raw(), 0, PAGEZ, 0x11)?;
    let c = clone_vmo(v.raw(), COW, 0, 3 * PAGE)?;
    zx_ok!(unsafe { sys::zx_vmo_set_size(v.raw(), 3 * PAGE) });
    fill(v.raw(), PAGE, 2 * PAGEZ, 0x22)?;
    expect_all(
        &read_vec(c.raw(), PAGE, 2 * PAGEZ)?,
        0,
        "clone past the parent's old end",
    )?;
    Ok(())
}

fn sees_parent_current() -> R {
    let v = vmo(2 * PAGE)?;
    fill(v.raw(), 0, 2 * PAGEZ, 0x01)?;
    let c = clone_vmo(v.raw(), COW, 0, 2 * PAGE)?;
    expect_all(&read_vec(c.raw(), 0, 2 * PAGEZ)?, 0x01, "clone at creation")?;
    fill(v.raw(), 0, 2 * PAGEZ, 0x02)?;
    expect_all(
        &read_vec(c.raw(), 0, 2 * PAGEZ)?,
        0x02,
        "clone after the parent wrote",
    )?;
    // A parent page first committed after the clone is seen too.
    let w = vmo(2 * PAGE)?;
    let cw = clone_vmo(w.raw(), COW, 0, 2 * PAGE)?;
    fill(w.raw(), PAGE, 16, 0x33)?;
    expect_all(
        &read_vec(cw.raw(), PAGE, 16)?,
        0x33,
        "page committed after the clone",
    )?;
    Ok(())
}

fn first_write_diverges() -> R {
    let v = vmo(2 * PAGE)?;
    fill(v.raw(), 0, 2 * PAGEZ, 0xA0)?;
    let c = clone_vmo(v.raw(), COW, 0, 2 * PAGE)?;
    zx_ok!(vmo_write(c.raw(), 10, &[0xC1]));
    // The child's page is a copy of the parent's plus its write.
    let page = read_vec(c.raw(), 0, PAGEZ)?;
    eq!(page[10], 0xC1u8);
    page.iter()
        .enumerate()
        .filter(|(i, _)| *i != 10)
        .try_for_each(|(i, b)| {
            if *b != 0xA0 {
                Err(alloc::format!(
                    "child page 0 byte {i} is {b:#x}, expected 0xa0"
                ))
            } else {
                Ok(())
            }
        })?;
    expect_all(
        &read_vec(v.raw(), 0, PAGEZ)?,
        0xA0,
        "parent after the child wrote",
    )?;
    // From now on the parent's writes to that page do not show in the child...
    fill(v.raw(), 0, PAGEZ, 0xB0)?;
    eq!(read_byte(c.raw(), 0)?, 0xA0u8);
    eq!(read_byte(c.raw(), 10)?, 0xC1u8);
    // ...but still do on the page the child never wrote.
    fill(v.raw(), PAGE, PAGEZ, 0xB1)?;
    eq!(read_byte(c.raw(), PAGE + 7)?, 0xB1u8);
    Ok(())
}

fn offset_window() -> R {
    let v = vmo(4 * PAGE)?;
    for p in 0..4u64 {
        fill(v.raw(), p * PAGE, PAGEZ, p as u8 + 1)?;
    }
    let c = clone_vmo(v.raw(), COW, 2 * PAGE, 2 * PAGE)?;
    expect_all(
        &read_vec(c.raw(), 0, PAGEZ)?,
        3,
        "clone page 0 = parent page 2",
    )?;
    expect_all(
        &read_vec(c.raw(), PAGE, PAGEZ)?,
        4,
        "clone page 1 = parent page 3",
    )?;
    Ok(())
}

fn resizable_even_if_parent_not() -> R {
    let v = vmo_opts(PAGE, ZX_VMO_NON_RESIZABLE)?;
    fill(v.raw(), 0, PAGEZ, 9)?;
    let c = clone_vmo(v.raw(), COW, 0, PAGE)?;
    let f = vmo_info(c.raw())?.flags;
    ensure!(
        f & ZX_INFO_VMO_RESIZABLE != 0,
        "clone flags {f:#x} lack RESIZABLE"
    );
    zx_ok!(unsafe { sys::zx_vmo_set_size(c.raw(), 3 * PAGE) });
    eq!(get_size(c.raw())?, 3 * PAGE);
    expect_all(&read_vec(c.raw(), PAGE, 2 * PAGEZ)?, 0, "grown clone")?;
    eq!(read_byte(c.raw(), 0)?, 9u8);
    Ok(())
}

fn non_resizeable_option() -> R {
    let v = vmo(PAGE)?;
    let c = clone_vmo(v.raw(), COW | ZX_VMO_CLONE_NON_RESIZEABLE, 0, PAGE)?;
    check!(ZX_ERR_UNAVAILABLE, unsafe {
        sys::zx_vmo_set_size(c.raw(), 2 * PAGE)
    });
    let f = vmo_info(c.raw())?.flags;
    ensure!(
        f & ZX_INFO_VMO_RESIZABLE == 0,
        "clone flags {f:#x} have RESIZABLE"
    );
    Ok(())
}

fn clone_rights() -> R {
    let v = vmo(PAGE)?;
    let extra = ZX_RIGHT_GET_PROPERTY | ZX_RIGHT_SET_PROPERTY | ZX_RIGHT_WRITE;
    for parent_rights in [
        ZX_RIGHT_DUPLICATE | ZX_RIGHT_READ,
        ZX_RIGHT_DUPLICATE | ZX_RIGHT_READ | ZX_RIGHT_MAP,
        ZX_RIGHT_DUPLICATE | ZX_RIGHT_READ | ZX_RIGHT_TRANSFER | ZX_RIGHT_EXECUTE,
        ZX_DEFAULT_VMO_RIGHTS,
    ] {
        let p = dup(v.raw(), parent_rights)?;
        let c = clone_vmo(p.raw(), COW, 0, PAGE)?;
        eqx!(rights_of(c.raw())?, parent_rights | extra);
        eqx!(vmo_info(c.raw())?.handle_rights, parent_rights | extra);
    }
    // The added WRITE works.
    let ro = dup(v.raw(), ZX_RIGHT_DUPLICATE | ZX_RIGHT_READ)?;
    let c = clone_vmo(ro.raw(), COW, 0, PAGE)?;
    zx_ok!(vmo_write(c.raw(), 0, &[1]));
    eq!(read_byte(v.raw(), 0)?, 0u8);
    Ok(())
}

fn name_copied() -> R {
    let v = vmo(PAGE)?;
    zx_ok!(set_name(v.raw(), b"parent-name"));
    let c = clone_vmo(v.raw(), COW, 0, PAGE)?;
    let name = get_name(c.raw())?;
    eq!(name_str(&name), &b"parent-name"[..]);
    let info = vmo_info(c.raw())?;
    eq!(name_str(&info.name), &b"parent-name"[..]);
    Ok(())
}

fn name_not_copied() -> R {
    let v = vmo(PAGE)?;
    zx_ok!(set_name(v.raw(), b"secret-name"));
    let p = dup(v.raw(), ZX_RIGHT_DUPLICATE | ZX_RIGHT_READ)?;
    let c = clone_vmo(p.raw(), COW, 0, PAGE)?;
    let name = get_name(c.raw())?;
    eq!(name_str(&name), &b""[..]);
    Ok(())
}

fn clone_is_o1() -> R {
    let pages = 256u64;
    let v = vmo(pages * PAGE)?;
    zx_ok!(op(v.raw(), ZX_VMO_OP_COMMIT, 0, pages * PAGE));
    fill(v.raw(), 0, PAGEZ, 1)?;
    eq!(committed(v.raw())?, pages * PAGE);
    let before = kmem()?;
    let c = clone_vmo(v.raw(), COW, 0, pages * PAGE)?;
    let after = kmem()?;
    eq!(committed(c.raw())?, 0u64);
    let slack = 16 * PAGE;
    ensure!(
        after.vmo_bytes <= before.vmo_bytes + slack,
        "KMEM vmo_bytes {:#x} -> {:#x} for a clone of {} committed pages",
        before.vmo_bytes,
        after.vmo_bytes,
        pages
    );
    // Reading through the clone copies nothing either.
    eq!(read_byte(c.raw(), 0)?, 1u8);
    eq!(read_byte(c.raw(), (pages - 1) * PAGE)?, 0u8);
    eq!(committed(c.raw())?, 0u64);
    Ok(())
}

fn info_parent() -> R {
    let v = vmo(PAGE)?;
    let pk = koid_of(v.raw())?;
    let c = clone_vmo(v.raw(), COW, 0, PAGE)?;
    let ci = vmo_info(c.raw())?;
    eq!(ci.parent_koid, pk);
    ensure!(
        ci.koid != pk && ci.koid != 0,
        "clone koid {} (parent {})",
        ci.koid,
        pk
    );
    ensure!(
        ci.flags & ZX_INFO_VMO_IS_COW_CLONE != 0,
        "clone flags {:#x} lack IS_COW_CLONE",
        ci.flags
    );
    let pi = vmo_info(v.raw())?;
    eq!(pi.num_children, 1usize);
    eq!(pi.parent_koid, 0u64);
    ensure!(
        pi.flags & ZX_INFO_VMO_IS_COW_CLONE == 0,
        "parent flags {:#x} have IS_COW_CLONE",
        pi.flags
    );
    Ok(())
}

fn clone_of_clone() -> R {
    let v = vmo(2 * PAGE)?;
    fill(v.raw(), 0, 2 * PAGEZ, 0x10)?;
    let c = clone_vmo(v.raw(), COW, 0, 2 * PAGE)?;
    fill(c.raw(), PAGE, PAGEZ, 0x20)?;
    let g = clone_vmo(c.raw(), COW, 0, 2 * PAGE)?;
    eq!(read_byte(g.raw(), 0)?, 0x10u8);
    eq!(read_byte(g.raw(), PAGE)?, 0x20u8);
    fill(v.raw(), 0, PAGEZ, 0x11)?;
    eq!(read_byte(g.raw(), 0)?, 0x11u8);
    zx_ok!(vmo_write(g.raw(), 0, &[0x33]));
    eq!(read_byte(c.raw(), 0)?, 0x11u8);
    eq!(read_byte(v.raw(), 0)?, 0x11u8);
    Ok(())
}

fn child_write_commit() -> R {
    let v = vmo(4 * PAGE)?;
    fill(v.raw(), 0, 4 * PAGEZ, 5)?;
    let c = clone_vmo(v.raw(), COW, 0, 4 * PAGE)?;
    zx_ok!(vmo_write(c.raw(), PAGE + 1, &[6]));
    eq!(committed(c.raw())?, PAGE);
    eq!(committed(v.raw())?, 4 * PAGE);
    Ok(())
}

fn bad_out_no_child() -> R {
    let v = vmo(PAGE)?;
    for p in [0usize, KERNEL_ADDR, UNMAPPED_ADDR, rodata_addr()] {
        check!(ZX_ERR_INVALID_ARGS, unsafe {
            sys::zx_vmo_clone(v.raw(), COW, 0, PAGE, p as *mut u32)
        });
    }
    eq!(vmo_info(v.raw())?.num_children, 0usize);
    let s = signals(v.raw())?;
    ensure!(
        s & ZX_VMO_ZERO_CHILDREN != 0,
        "ZERO_CHILDREN inactive after failed clones: a child leaked (signals {s:#x})"
    );
    Ok(())
}

fn parent_closed() -> R {
    let v = vmo(2 * PAGE)?;
    fill(v.raw(), 0, 2 * PAGEZ, 0x44)?;
    let c = clone_vmo(v.raw(), COW, 0, 2 * PAGE)?;
    drop(v);
    expect_all(
        &read_vec(c.raw(), 0, 2 * PAGEZ)?,
        0x44,
        "clone after the parent closed",
    )?;
    Ok(())
}

fn parent_decommit_after_child_write() -> R {
    let v = vmo(PAGE)?;
    fill(v.raw(), 0, PAGEZ, 0x44)?;
    let c = clone_vmo(v.raw(), COW, 0, PAGE)?;
    zx_ok!(vmo_write(c.raw(), 0, &[0x45]));
    zx_ok!(op(v.raw(), ZX_VMO_OP_DECOMMIT, 0, PAGE));
    eq!(read_byte(v.raw(), 1)?, 0u8);
    eq!(read_byte(c.raw(), 0)?, 0x45u8);
    eq!(read_byte(c.raw(), 1)?, 0x44u8);
    Ok(())
}

fn parent_shrink() -> R {
    let v = vmo(3 * PAGE)?;
    fill(v.raw(), 0, 3 * PAGEZ, 0x21)?;
    let c = clone_vmo(v.raw(), COW, 0, 3 * PAGE)?;
    zx_ok!(vmo_write(c.raw(), 2 * PAGE, &[0x99]));
    zx_ok!(unsafe { sys::zx_vmo_set_size(v.raw(), PAGE) });
    // Page 1 was the parent's and is gone: the clone reads zero there. Page 2 is the
    // clone's own copy.
    expect_all(&read_vec(c.raw(), 0, PAGEZ)?, 0x21, "clone page 0")?;
    expect_all(
        &read_vec(c.raw(), PAGE, PAGEZ)?,
        0,
        "clone page 1 after the parent shrank",
    )?;
    eq!(read_byte(c.raw(), 2 * PAGE)?, 0x99u8);
    eq!(read_byte(c.raw(), 2 * PAGE + 1)?, 0x21u8);
    // Growing the parent again never brings anything back into the clone.
    zx_ok!(unsafe { sys::zx_vmo_set_size(v.raw(), 3 * PAGE) });
    fill(v.raw(), PAGE, PAGEZ, 0x22)?;
    expect_all(
        &read_vec(c.raw(), PAGE, PAGEZ)?,
        0,
        "clone page 1 after the parent regrew",
    )?;
    Ok(())
}

/// Builds a family (parent, clone, grandchild, snapshot, all with pages of their own),
/// closes it in `order` and checks KMEM vmo_bytes went up and back down.
fn family(parent_first: bool) -> R {
    let pages = 64u64;
    let slack = 24 * PAGE;
    let base = kmem()?;
    let v = vmo(pages * PAGE)?;
    zx_ok!(op(v.raw(), ZX_VMO_OP_COMMIT, 0, pages * PAGE));
    let c = clone_vmo(v.raw(), COW, 0, pages * PAGE)?;
    fill(c.raw(), 0, (pages * PAGE) as usize, 1)?;
    let g = clone_vmo(c.raw(), COW, 0, pages * PAGE)?;
    fill(g.raw(), 0, (pages / 2 * PAGE) as usize, 2)?;
    let s = child_vmo(v.raw(), ZX_VMO_CHILD_SNAPSHOT, 0, pages * PAGE)?;
    fill(s.raw(), 0, (pages / 4 * PAGE) as usize, 3)?;
    fill(v.raw(), 0, (pages / 4 * PAGE) as usize, 4)?;
    let m = map(g.raw(), 0, (pages * PAGE) as usize, RW)?;
    m.poke((pages as usize - 1) * PAGEZ, 5);
    let during = kmem()?;
    let held = (pages + pages + pages / 2 + pages / 4 + pages / 4 + 1) * PAGE;
    ensure!(
        during.vmo_bytes + slack >= base.vmo_bytes + held,
        "vmo_bytes {:#x} -> {:#x}, expected about {:#x} more",
        base.vmo_bytes,
        during.vmo_bytes,
        held
    );
    // Content is what each wrote.
    eq!(read_byte(v.raw(), 0)?, 4u8);
    eq!(read_byte(c.raw(), 0)?, 1u8);
    eq!(read_byte(g.raw(), 0)?, 2u8);
    eq!(read_byte(s.raw(), 0)?, 3u8);
    eq!(read_byte(s.raw(), (pages - 1) * PAGE)?, 0u8);
    if parent_first {
        drop(v);
        eq!(read_byte(g.raw(), (pages - 1) * PAGE)?, 5u8);
        drop(c);
        eq!(read_byte(g.raw(), PAGE * pages / 2)?, 1u8);
        drop(s);
        drop(g);
        drop(m);
    } else {
        drop(m);
        drop(g);
        drop(s);
        drop(c);
        eq!(read_byte(v.raw(), 0)?, 4u8);
        drop(v);
    }
    let after = kmem()?;
    ensure!(
        after.vmo_bytes <= base.vmo_bytes + slack,
        "after closing the whole family: vmo_bytes {:#x} (before {:#x}, during {:#x})",
        after.vmo_bytes,
        base.vmo_bytes,
        during.vmo_bytes
    );
    Ok(())
}

fn family_parent_first() -> R {
    family(true)
}

fn family_children_first() -> R {
    family(false)
}

const DEPTH: usize = 300;

fn deep_chain() -> R {
    let base = kmem()?;
    let root = vmo(2 * PAGE)?;
    fill(root.raw(), 0, 2 * PAGEZ, 0x5A)?;
    let mut chain: alloc::vec::Vec<Owned> = alloc::vec::Vec::new();
    for i in 0..DEPTH {
        let parent = chain.last().map_or(root.raw(), |h| h.raw());
        let c = match clone_vmo(parent, COW, 0, 2 * PAGE) {
            Ok(c) => c,
            Err(e) => fail!("level {i}: {e}"),
        };
        if i % 50 == 0 {
            zx_ok!(vmo_write(c.raw(), PAGE, &[i as u8]));
        }
        chain.push(c);
    }
    let bottom = match chain.last() {
        Some(b) => b.raw(),
        None => fail!("empty chain"),
    };
    eq!(read_byte(bottom, 0)?, 0x5Au8);
    eq!(read_byte(bottom, PAGE)?, 250u8);
    fill(root.raw(), 0, 1, 0x5B)?;
    eq!(read_byte(bottom, 0)?, 0x5Bu8);
    // Close from the top (each close makes the next level inherit).
    drop(root);
    let mut rest = chain.split_off(DEPTH / 2);
    chain.clear();
    let bottom = match rest.last() {
        Some(b) => b.raw(),
        None => fail!("empty chain"),
    };
    eq!(read_byte(bottom, 0)?, 0x5Bu8);
    eq!(read_byte(bottom, PAGE)?, 250u8);
    // And the rest from the bottom.
    while rest.pop().is_some() {}
    let after = kmem()?;
    ensure!(
        after.vmo_bytes <= base.vmo_bytes + 16 * PAGE,
        "vmo_bytes {:#x} -> {:#x} after a {DEPTH}-deep chain was closed",
        base.vmo_bytes,
        after.vmo_bytes
    );
    Ok(())
}

fn deep_snapshots() -> R {
    let base = kmem()?;
    let root = vmo(PAGE)?;
    fill(root.raw(), 0, PAGEZ, 1)?;
    let mut chain: alloc::vec::Vec<Owned> = alloc::vec::Vec::new();
    for i in 0..DEPTH {
        let parent = chain.last().map_or(root.raw(), |h| h.raw());
        let s = match child_vmo(parent, ZX_VMO_CHILD_SNAPSHOT, 0, PAGE) {
            Ok(s) => s,
            Err(e) => fail!("level {i}: {e}"),
        };
        // The parent writes after each snapshot: the snapshot must not see it.
        zx_ok!(vmo_write(parent, 0, &[(i % 200) as u8 + 2]));
        chain.push(s);
    }
    eq!(read_byte(root.raw(), 0)?, 2u8);
    for (i, s) in chain.iter().enumerate().take(DEPTH - 1) {
        let want = ((i + 1) % 200) as u8 + 2;
        let got = read_byte(s.raw(), 0)?;
        ensure!(
            got == want,
            "snapshot {i}: byte 0 is {got}, expected {want}"
        );
    }
    // The last snapshot was never written: it still has the root's first content.
    eq!(read_byte(chain[DEPTH - 1].raw(), 0)?, 1u8);
    eq!(read_byte(chain[DEPTH - 1].raw(), 1)?, 1u8);
    drop(root);
    // Close every other one, then the rest.
    let mut odd: alloc::vec::Vec<Owned> = alloc::vec::Vec::new();
    for (i, s) in chain.into_iter().enumerate() {
        if i % 2 == 1 {
            odd.push(s);
        }
    }
    eq!(read_byte(odd[odd.len() - 1].raw(), 1)?, 1u8);
    drop(odd);
    let after = kmem()?;
    ensure!(
        after.vmo_bytes <= base.vmo_bytes + 16 * PAGE,
        "vmo_bytes {:#x} -> {:#x} after a {DEPTH}-deep snapshot chain was closed",
        base.vmo_bytes,
        after.vmo_bytes
    );
    Ok(())
}
