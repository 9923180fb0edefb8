//! zx_vmo_op_range.

use crate::harness::Case;
use crate::util::*;
use alloc::format;

pub const CASES: &[Case] = &[
    ("vmo_op_commit_commits_whole_covering_pages", commit),
    ("vmo_op_commit_decommit_zero_need_write_right", need_write),
    ("vmo_op_decommit_frees_pages_and_reads_zero", decommit),
    ("vmo_op_decommit_unaligned_invalid_args", decommit_unaligned),
    ("vmo_op_decommit_in_clone_hides_parent", decommit_clone),
    ("vmo_op_zero_zeroes_exact_byte_range", zero_exact),
    ("vmo_op_zero_frees_whole_pages", zero_frees),
    ("vmo_op_cache_ops_need_read_right", cache_need_read),
    (
        "vmo_op_cache_invalidate_needs_write_right",
        cache_invalidate_needs_write,
    ),
    ("vmo_op_cache_ops_size_zero_invalid_args", cache_size_zero),
    ("vmo_op_cache_ops_keep_data", cache_keep_data),
    ("vmo_op_range_past_size_out_of_range", past_size),
    ("vmo_op_range_overflow_out_of_range", range_overflow),
    ("vmo_op_unknown_op_invalid_args", unknown_op),
    ("vmo_op_lock_unlock_not_supported", lock_unlock),
    ("vmo_op_wrong_type_and_bad_handle", wrong_type),
    (
        "vmo_op_zero_in_clone_hides_parent_leaves_parent",
        zero_clone,
    ),
];

/// The ops that take a range (LOCK/UNLOCK are NOT_SUPPORTED whatever the range).
const RANGE_OPS: [u32; 7] = [
    ZX_VMO_OP_COMMIT,
    ZX_VMO_OP_DECOMMIT,
    ZX_VMO_OP_CACHE_SYNC,
    ZX_VMO_OP_CACHE_INVALIDATE,
    ZX_VMO_OP_CACHE_CLEAN,
    ZX_VMO_OP_CACHE_CLEAN_INVALIDATE,
    ZX_VMO_OP_ZERO,
];
const CACHE_OPS: [u32; 4] = [
    ZX_VMO_OP_CACHE_SYNC,
    ZX_VMO_OP_CACHE_INVALIDATE,
    ZX_VMO_OP_CACHE_CLEAN,
    ZX_VMO_OP_CACHE_CLEAN_INVALIDATE,
];

fn commit() -> R {
    let v = vmo(8 * PAGE)?;
    zx_ok!(op(v.raw(), ZX_VMO_OP_COMMIT, 100, 5000));
    eq!(committed(v.raw())?, 2 * PAGE);
    zx_ok!(op(v.raw(), ZX_VMO_OP_COMMIT, 3 * PAGE, 2 * PAGE));
    eq!(committed(v.raw())?, 4 * PAGE);
    // Committing again changes nothing; content stays zero.
    zx_ok!(op(v.raw(), ZX_VMO_OP_COMMIT, 0, 8 * PAGE));
    eq!(committed(v.raw())?, 8 * PAGE);
    expect_all(&read_vec(v.raw(), 0, 8 * PAGEZ)?, 0, "committed pages")?;
    let before = kmem()?;
    let w = vmo(64 * PAGE)?;
    zx_ok!(op(w.raw(), ZX_VMO_OP_COMMIT, 0, 64 * PAGE));
    let after = kmem()?;
    ensure!(
        after.vmo_bytes >= before.vmo_bytes + 60 * PAGE,
        "KMEM vmo_bytes {:#x} -> {:#x} after committing 64 pages",
        before.vmo_bytes,
        after.vmo_bytes
    );
    Ok(())
}

fn need_write() -> R {
    let v = vmo(2 * PAGE)?;
    fill(v.raw(), 0, 2 * PAGEZ, 7)?;
    let ro = dup(v.raw(), ZX_DEFAULT_VMO_RIGHTS & !ZX_RIGHT_WRITE)?;
    for o in [ZX_VMO_OP_COMMIT, ZX_VMO_OP_DECOMMIT, ZX_VMO_OP_ZERO] {
        check!(ZX_ERR_ACCESS_DENIED, op(ro.raw(), o, 0, PAGE));
    }
    expect_all(
        &read_vec(v.raw(), 0, 2 * PAGEZ)?,
        7,
        "content after denied ops",
    )?;
    Ok(())
}

fn decommit() -> R {
    let pages = 32u64;
    let v = vmo(pages * PAGE)?;
    fill(v.raw(), 0, (pages * PAGE) as usize, 0xEE)?;
    let before = kmem()?;
    zx_ok!(op(v.raw(), ZX_VMO_OP_DECOMMIT, PAGE, (pages - 2) * PAGE));
    let after = kmem()?;
    eq!(committed(v.raw())?, 2 * PAGE);
    expect_all(
        &read_vec(v.raw(), PAGE, ((pages - 2) * PAGE) as usize)?,
        0,
        "decommitted range",
    )?;
    expect_all(&read_vec(v.raw(), 0, PAGEZ)?, 0xEE, "page before")?;
    expect_all(
        &read_vec(v.raw(), (pages - 1) * PAGE, PAGEZ)?,
        0xEE,
        "page after",
    )?;
    let freed = (pages - 2) * PAGE;
    ensure!(
        after.vmo_bytes + freed <= before.vmo_bytes + 8 * PAGE,
        "KMEM vmo_bytes {:#x} -> {:#x}, expected a drop of about {:#x}",
        before.vmo_bytes,
        after.vmo_bytes,
        freed
    );
    Ok(())
}

fn decommit_unaligned() -> R {
    let v = vmo(4 * PAGE)?;
    fill(v.raw(), 0, 4 * PAGEZ, 1)?;
    for (off, size) in [(1u64, PAGE), (0, PAGE + 1), (PAGE, 100), (2048, 2048)] {
        check!(
            ZX_ERR_INVALID_ARGS,
            op(v.raw(), ZX_VMO_OP_DECOMMIT, off, size)
        );
    }
    eq!(committed(v.raw())?, 4 * PAGE);
    expect_all(
        &read_vec(v.raw(), 0, 4 * PAGEZ)?,
        1,
        "content after refused decommits",
    )?;
    Ok(())
}

fn decommit_clone() -> R {
    let v = vmo(2 * PAGE)?;
    fill(v.raw(), 0, 2 * PAGEZ, 0x31)?;
    let c = clone_vmo(v.raw(), ZX_VMO_CLONE_COPY_ON_WRITE, 0, 2 * PAGE)?;
    zx_ok!(op(c.raw(), ZX_VMO_OP_DECOMMIT, 0, PAGE));
    expect_all(&read_vec(c.raw(), 0, PAGEZ)?, 0, "decommitted clone page")?;
    expect_all(&read_vec(c.raw(), PAGE, PAGEZ)?, 0x31, "other clone page")?;
    expect_all(&read_vec(v.raw(), 0, PAGEZ)?, 0x31, "parent")?;
    // The parent's later writes stay hidden there too.
    fill(v.raw(), 0, PAGEZ, 0x32)?;
    expect_all(
        &read_vec(c.raw(), 0, PAGEZ)?,
        0,
        "decommitted clone page after parent write",
    )?;
    Ok(())
}

fn zero_exact() -> R {
    let v = vmo(3 * PAGE)?;
    fill(v.raw(), 0, 3 * PAGEZ, 0xFF)?;
    let (start, len) = (PAGE - 10, PAGE + 30);
    zx_ok!(op(v.raw(), ZX_VMO_OP_ZERO, start, len));
    let all = read_vec(v.raw(), 0, 3 * PAGEZ)?;
    for (i, b) in all.iter().enumerate() {
        let inside = (i as u64) >= start && (i as u64) < start + len;
        let want = if inside { 0 } else { 0xFF };
        ensure!(
            *b == want,
            "byte {i} is {b:#x} after ZERO of [{start:#x}, +{len:#x}), expected {want:#x}"
        );
    }
    // Size 0 zeroes nothing.
    zx_ok!(op(v.raw(), ZX_VMO_OP_ZERO, 0, 0));
    eq!(read_byte(v.raw(), 0)?, 0xFFu8);
    Ok(())
}

fn zero_frees() -> R {
    let v = vmo(4 * PAGE)?;
    fill(v.raw(), 0, 4 * PAGEZ, 0xFF)?;
    zx_ok!(op(v.raw(), ZX_VMO_OP_ZERO, 100, 3 * PAGE));
    // Pages 1 and 2 are wholly inside: freed. Pages 0 and 3 keep their other bytes.
    eq!(committed(v.raw())?, 2 * PAGE);
    zx_ok!(op(v.raw(), ZX_VMO_OP_ZERO, 0, 4 * PAGE));
    eq!(committed(v.raw())?, 0u64);
    expect_all(
        &read_vec(v.raw(), 0, 4 * PAGEZ)?,
        0,
        "after ZERO of everything",
    )?;
    Ok(())
}

fn cache_need_read() -> R {
    let v = vmo(PAGE)?;
    fill(v.raw(), 0, 16, 1)?;
    let wo = dup(v.raw(), ZX_DEFAULT_VMO_RIGHTS & !ZX_RIGHT_READ)?;
    // CACHE_INVALIDATE is left out: the contract only says it needs WRITE.
    for o in [
        ZX_VMO_OP_CACHE_SYNC,
        ZX_VMO_OP_CACHE_CLEAN,
        ZX_VMO_OP_CACHE_CLEAN_INVALIDATE,
    ] {
        check!(ZX_ERR_ACCESS_DENIED, op(wo.raw(), o, 0, PAGE));
    }
    Ok(())
}

fn cache_invalidate_needs_write() -> R {
    let v = vmo(PAGE)?;
    fill(v.raw(), 0, 16, 1)?;
    let ro = dup(v.raw(), ZX_DEFAULT_VMO_RIGHTS & !ZX_RIGHT_WRITE)?;
    check!(
        ZX_ERR_ACCESS_DENIED,
        op(ro.raw(), ZX_VMO_OP_CACHE_INVALIDATE, 0, PAGE)
    );
    for o in [
        ZX_VMO_OP_CACHE_SYNC,
        ZX_VMO_OP_CACHE_CLEAN,
        ZX_VMO_OP_CACHE_CLEAN_INVALIDATE,
    ] {
        let s = op(ro.raw(), o, 0, PAGE);
        ensure!(
            s == ZX_OK,
            "op {o} with READ only: expected ZX_OK, got {}",
            sname(s)
        );
    }
    Ok(())
}

fn cache_size_zero() -> R {
    let v = vmo(PAGE)?;
    for o in CACHE_OPS {
        let s = op(v.raw(), o, 0, 0);
        ensure!(
            s == ZX_ERR_INVALID_ARGS,
            "op {o} size 0: expected ZX_ERR_INVALID_ARGS, got {}",
            sname(s)
        );
    }
    Ok(())
}

fn cache_keep_data() -> R {
    let v = vmo(3 * PAGE)?;
    let data: alloc::vec::Vec<u8> = (0..2 * PAGEZ).map(|i| (i * 7) as u8).collect();
    write_all(v.raw(), 0, &data)?;
    for o in [
        ZX_VMO_OP_CACHE_SYNC,
        ZX_VMO_OP_CACHE_CLEAN,
        ZX_VMO_OP_CACHE_CLEAN_INVALIDATE,
    ] {
        // Unaligned ranges and ranges over uncommitted pages are fine.
        let s = op(v.raw(), o, 5, 3 * PAGE - 10);
        ensure!(s == ZX_OK, "op {o}: expected ZX_OK, got {}", sname(s));
        eq!(read_vec(v.raw(), 0, 2 * PAGEZ)?, data.clone());
    }
    // Cache ops commit nothing.
    eq!(committed(v.raw())?, 2 * PAGE);
    Ok(())
}

fn past_size() -> R {
    let v = vmo(2 * PAGE)?;
    for o in RANGE_OPS {
        for (off, size) in [
            (PAGE, 2 * PAGE),
            (2 * PAGE, PAGE),
            (3 * PAGE, PAGE),
            (0, 3 * PAGE),
        ] {
            let s = op(v.raw(), o, off, size);
            ensure!(
                s == ZX_ERR_OUT_OF_RANGE,
                "op {o} [{off:#x}, +{size:#x}) on 2 pages: expected ZX_ERR_OUT_OF_RANGE, got {}",
                sname(s)
            );
        }
    }
    eq!(committed(v.raw())?, 0u64);
    Ok(())
}

fn range_overflow() -> R {
    let v = vmo(2 * PAGE)?;
    for o in RANGE_OPS {
        for (off, size) in [(PAGE, u64::MAX - 100), (u64::MAX - (PAGE - 1), 2 * PAGE)] {
            let s = op(v.raw(), o, off, size);
            ensure!(
                s == ZX_ERR_OUT_OF_RANGE,
                "op {o} [{off:#x}, +{size:#x}): expected ZX_ERR_OUT_OF_RANGE, got {}",
                sname(s)
            );
        }
    }
    Ok(())
}

fn unknown_op() -> R {
    let v = vmo(PAGE)?;
    let mut fails = alloc::vec::Vec::new();
    for o in [0u32, 5, 11, 12, 100, 0x8000_0001, u32::MAX] {
        let s = op(v.raw(), o, 0, PAGE);
        if s != ZX_ERR_INVALID_ARGS {
            fails.push(format!("op {o}: {}", sname(s)));
        }
    }
    ensure!(
        fails.is_empty(),
        "expected ZX_ERR_INVALID_ARGS: {}",
        fails.join(", ")
    );
    Ok(())
}

fn lock_unlock() -> R {
    let v = vmo(PAGE)?;
    check!(ZX_ERR_NOT_SUPPORTED, op(v.raw(), ZX_VMO_OP_LOCK, 0, PAGE));
    check!(ZX_ERR_NOT_SUPPORTED, op(v.raw(), ZX_VMO_OP_UNLOCK, 0, PAGE));
    Ok(())
}

fn wrong_type() -> R {
    let (a, _b) = channel()?;
    check!(ZX_ERR_WRONG_TYPE, op(a.raw(), ZX_VMO_OP_COMMIT, 0, PAGE));
    check!(
        ZX_ERR_BAD_HANDLE,
        op(0x0BAD_0003, ZX_VMO_OP_COMMIT, 0, PAGE)
    );
    Ok(())
}

fn zero_clone() -> R {
    let v = vmo(2 * PAGE)?;
    fill(v.raw(), 0, 2 * PAGEZ, 0x77)?;
    let c = clone_vmo(v.raw(), ZX_VMO_CLONE_COPY_ON_WRITE, 0, 2 * PAGE)?;
    zx_ok!(op(c.raw(), ZX_VMO_OP_ZERO, 100, PAGE));
    let data = read_vec(c.raw(), 0, 2 * PAGEZ)?;
    for (i, b) in data.iter().enumerate() {
        let want = if (100..100 + PAGEZ).contains(&i) {
            0
        } else {
            0x77
        };
        ensure!(*b == want, "clone byte {i} is {b:#x}, expected {want:#x}");
    }
    expect_all(
        &read_vec(v.raw(), 0, 2 * PAGEZ)?,
        0x77,
        "parent after ZERO in the clone",
    )?;
    // The zeroed bytes stay zero when the parent writes again.
    fill(v.raw(), 0, 2 * PAGEZ, 0x78)?;
    eq!(read_byte(c.raw(), 200)?, 0u8);
    Ok(())
}
