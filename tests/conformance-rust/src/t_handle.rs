//! Handles: close, close_many, duplicate, replace, lookup order, values, the per-process
//! limit.

use crate::harness::Case;
use crate::util::*;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

pub const CASES: &[Case] = &[
    ("handle_close_invalid_is_ok", close_invalid),
    ("handle_close_twice_bad_handle", close_twice),
    (
        "handle_close_many_closes_all_and_reports_first_error",
        close_many,
    ),
    ("handle_close_many_empty_ok", close_many_empty),
    ("handle_duplicate_needs_duplicate_right", dup_needs_right),
    ("handle_duplicate_rights_must_be_subset", dup_subset),
    ("handle_duplicate_same_rights", dup_same_rights),
    ("handle_duplicate_new_value_same_object", dup_same_object),
    (
        "handle_duplicate_bad_out_pointer_leaks_nothing",
        dup_bad_out,
    ),
    (
        "handle_replace_reduces_rights_and_invalidates_source",
        replace_reduces,
    ),
    (
        "handle_replace_failure_still_consumes_source",
        replace_failure_consumes,
    ),
    ("handle_replace_same_rights", replace_same_rights),
    ("handle_replace_needs_no_right", replace_needs_no_right),
    ("handle_lookup_bad_handle_first", lookup_bad_handle),
    (
        "handle_lookup_wrong_type_before_access_denied",
        lookup_wrong_type,
    ),
    (
        "handle_lookup_rights_before_argument_checks",
        lookup_rights_before_args,
    ),
    ("handle_stale_value_rejected_after_close", stale_value),
    ("handle_values_have_low_bits_set", low_bits),
    (
        "handle_failing_call_changes_nothing",
        failing_call_changes_nothing,
    ),
    (
        "handle_limit_no_resources_then_recovers_without_leak",
        handle_limit,
    ),
    (
        "handle_limit_failed_creates_change_nothing",
        limit_failures_atomic,
    ),
    (
        "handle_bad_out_pointer_leaks_no_handle_or_object",
        bad_out_no_leak,
    ),
];

fn close_invalid() -> R {
    zx_ok!(unsafe { sys::zx_handle_close(ZX_HANDLE_INVALID) });
    Ok(())
}

fn close_twice() -> R {
    let v = vmo(PAGE)?.into_raw();
    zx_ok!(unsafe { sys::zx_handle_close(v) });
    check!(ZX_ERR_BAD_HANDLE, unsafe { sys::zx_handle_close(v) });
    check!(ZX_ERR_BAD_HANDLE, valid(v));
    Ok(())
}

fn close_many() -> R {
    let a = vmo(PAGE)?.into_raw();
    let b = vmo(PAGE)?.into_raw();
    let c = vmo(PAGE)?.into_raw();
    let gone = vmo(PAGE)?.into_raw();
    zx_ok!(unsafe { sys::zx_handle_close(gone) });
    // A valid handle after the failure is still closed; INVALID entries are skipped.
    let list = [a, ZX_HANDLE_INVALID, gone, b, 0x7777_7777, c];
    check!(ZX_ERR_BAD_HANDLE, unsafe {
        sys::zx_handle_close_many(list.as_ptr(), list.len())
    });
    for h in [a, b, c] {
        check!(ZX_ERR_BAD_HANDLE, valid(h));
    }
    // All valid: OK.
    let d = vmo(PAGE)?.into_raw();
    let e = vmo(PAGE)?.into_raw();
    let list = [d, e, ZX_HANDLE_INVALID];
    zx_ok!(unsafe { sys::zx_handle_close_many(list.as_ptr(), list.len()) });
    check!(ZX_ERR_BAD_HANDLE, valid(d));
    check!(ZX_ERR_BAD_HANDLE, valid(e));
    Ok(())
}

fn close_many_empty() -> R {
    let list = [ZX_HANDLE_INVALID; 2];
    zx_ok!(unsafe { sys::zx_handle_close_many(list.as_ptr(), 0) });
    zx_ok!(unsafe { sys::zx_handle_close_many(list.as_ptr(), 2) });
    Ok(())
}

fn dup_needs_right() -> R {
    let v = vmo(PAGE)?;
    let nodup = dup(v.raw(), ZX_DEFAULT_VMO_RIGHTS & !ZX_RIGHT_DUPLICATE)?;
    let mut out = 0u32;
    check!(ZX_ERR_ACCESS_DENIED, unsafe {
        sys::zx_handle_duplicate(nodup.raw(), ZX_RIGHT_SAME_RIGHTS, &mut out)
    });
    check!(ZX_ERR_ACCESS_DENIED, unsafe {
        sys::zx_handle_duplicate(nodup.raw(), ZX_RIGHT_READ, &mut out)
    });
    eq!(handle_count(v.raw())?, 2u32);
    Ok(())
}

fn dup_subset() -> R {
    let v = vmo(PAGE)?;
    let small = dup(v.raw(), ZX_RIGHT_DUPLICATE | ZX_RIGHT_READ)?;
    let mut out = 0u32;
    check!(ZX_ERR_INVALID_ARGS, unsafe {
        sys::zx_handle_duplicate(
            small.raw(),
            ZX_RIGHT_DUPLICATE | ZX_RIGHT_READ | ZX_RIGHT_WRITE,
            &mut out,
        )
    });
    check!(ZX_ERR_INVALID_ARGS, unsafe {
        sys::zx_handle_duplicate(small.raw(), ZX_RIGHT_SIGNAL, &mut out)
    });
    let smaller = dup(small.raw(), ZX_RIGHT_READ)?;
    eqx!(rights_of(smaller.raw())?, ZX_RIGHT_READ);
    let none = dup(small.raw(), ZX_RIGHT_NONE)?;
    eqx!(rights_of(none.raw())?, 0u32);
    Ok(())
}

fn dup_same_rights() -> R {
    let v = vmo(PAGE)?;
    let r = ZX_RIGHT_DUPLICATE | ZX_RIGHT_READ | ZX_RIGHT_MAP;
    let a = dup(v.raw(), r)?;
    let b = dup(a.raw(), ZX_RIGHT_SAME_RIGHTS)?;
    eqx!(rights_of(b.raw())?, r);
    let c = dup(v.raw(), ZX_RIGHT_SAME_RIGHTS)?;
    eqx!(rights_of(c.raw())?, ZX_DEFAULT_VMO_RIGHTS);
    Ok(())
}

fn dup_same_object() -> R {
    let v = vmo(PAGE)?;
    let d = dup(v.raw(), ZX_RIGHT_SAME_RIGHTS)?;
    ensure!(
        d.raw() != v.raw(),
        "duplicate has the same value {:#x}",
        d.raw()
    );
    eq!(koid_of(d.raw())?, koid_of(v.raw())?);
    eq!(handle_count(v.raw())?, 2u32);
    write_all(d.raw(), 0, b"via dup")?;
    eq!(read_vec(v.raw(), 0, 7)?, b"via dup".to_vec());
    drop(d);
    eq!(handle_count(v.raw())?, 1u32);
    Ok(())
}

fn dup_bad_out() -> R {
    let v = vmo(PAGE)?;
    for p in [0usize, KERNEL_ADDR, UNMAPPED_ADDR, rodata_addr()] {
        check!(ZX_ERR_INVALID_ARGS, unsafe {
            sys::zx_handle_duplicate(v.raw(), ZX_RIGHT_SAME_RIGHTS, p as *mut u32)
        });
    }
    eq!(handle_count(v.raw())?, 1u32);
    Ok(())
}

fn replace_reduces() -> R {
    let v = vmo(PAGE)?;
    let src = dup(v.raw(), ZX_RIGHT_SAME_RIGHTS)?.into_raw();
    let mut out = 0u32;
    zx_ok!(unsafe { sys::zx_handle_replace(src, ZX_RIGHT_READ | ZX_RIGHT_DUPLICATE, &mut out) });
    let out = Owned::from_raw(out);
    check!(ZX_ERR_BAD_HANDLE, valid(src));
    eqx!(rights_of(out.raw())?, ZX_RIGHT_READ | ZX_RIGHT_DUPLICATE);
    eq!(koid_of(out.raw())?, koid_of(v.raw())?);
    eq!(handle_count(v.raw())?, 2u32);
    Ok(())
}

fn replace_failure_consumes() -> R {
    let v = vmo(PAGE)?;
    let src = dup(v.raw(), ZX_RIGHT_READ)?.into_raw();
    let mut out = 0u32;
    check!(ZX_ERR_INVALID_ARGS, unsafe {
        sys::zx_handle_replace(src, ZX_RIGHT_READ | ZX_RIGHT_WRITE, &mut out)
    });
    check!(ZX_ERR_BAD_HANDLE, valid(src));
    eq!(handle_count(v.raw())?, 1u32);
    // Also when the out pointer is bad.
    let src = dup(v.raw(), ZX_RIGHT_SAME_RIGHTS)?.into_raw();
    check!(ZX_ERR_INVALID_ARGS, unsafe {
        sys::zx_handle_replace(src, ZX_RIGHT_SAME_RIGHTS, core::ptr::null_mut())
    });
    check!(ZX_ERR_BAD_HANDLE, valid(src));
    eq!(handle_count(v.raw())?, 1u32);
    Ok(())
}

fn replace_same_rights() -> R {
    let v = vmo(PAGE)?;
    let r = ZX_RIGHT_READ | ZX_RIGHT_MAP | ZX_RIGHT_TRANSFER;
    let src = dup(v.raw(), r)?.into_raw();
    let mut out = 0u32;
    zx_ok!(unsafe { sys::zx_handle_replace(src, ZX_RIGHT_SAME_RIGHTS, &mut out) });
    let out = Owned::from_raw(out);
    eqx!(rights_of(out.raw())?, r);
    check!(ZX_ERR_BAD_HANDLE, valid(src));
    Ok(())
}

fn replace_needs_no_right() -> R {
    let v = vmo(PAGE)?;
    let src = dup(v.raw(), ZX_RIGHT_NONE)?.into_raw();
    let mut out = 0u32;
    zx_ok!(unsafe { sys::zx_handle_replace(src, ZX_RIGHT_SAME_RIGHTS, &mut out) });
    let out = Owned::from_raw(out);
    eqx!(rights_of(out.raw())?, 0u32);
    // A channel endpoint (no DUPLICATE right) can be replaced too.
    let (a, _b) = channel()?;
    let mut out2 = 0u32;
    zx_ok!(unsafe {
        sys::zx_handle_replace(a.into_raw(), ZX_RIGHT_READ | ZX_RIGHT_WRITE, &mut out2)
    });
    let out2 = Owned::from_raw(out2);
    eqx!(rights_of(out2.raw())?, ZX_RIGHT_READ | ZX_RIGHT_WRITE);
    Ok(())
}

fn lookup_bad_handle() -> R {
    let mut b = [0u8; 4];
    let mut size = 0u64;
    let mut out = 0u32;
    for h in [0u32, 1, 3, 0xFFFF_FFFF, 0x1234_5673] {
        check!(ZX_ERR_BAD_HANDLE, vmo_read(h, 0, &mut b));
        check!(ZX_ERR_BAD_HANDLE, unsafe {
            sys::zx_vmo_get_size(h, &mut size)
        });
        check!(ZX_ERR_BAD_HANDLE, unsafe {
            sys::zx_handle_duplicate(h, ZX_RIGHT_SAME_RIGHTS, &mut out)
        });
        check!(ZX_ERR_BAD_HANDLE, valid(h));
    }
    // BAD_HANDLE even when the other arguments are bad too.
    check!(ZX_ERR_BAD_HANDLE, unsafe {
        sys::zx_vmo_read(0x1234_5673, core::ptr::null_mut(), u64::MAX, 10)
    });
    Ok(())
}

fn lookup_wrong_type() -> R {
    let (a, _b) = channel()?;
    let none = {
        let mut out = 0u32;
        zx_ok!(unsafe { sys::zx_handle_replace(a.into_raw(), ZX_RIGHT_NONE, &mut out) });
        Owned::from_raw(out)
    };
    let mut b = [0u8; 4];
    check!(ZX_ERR_WRONG_TYPE, vmo_read(none.raw(), 0, &mut b));
    check!(ZX_ERR_WRONG_TYPE, vmo_write(none.raw(), 0, &b));
    check!(ZX_ERR_WRONG_TYPE, unsafe {
        sys::zx_vmo_set_size(none.raw(), PAGE)
    });
    let v = vmo(PAGE)?;
    let vnone = dup(v.raw(), ZX_RIGHT_NONE)?;
    check!(ZX_ERR_WRONG_TYPE, ch_write(vnone.raw(), b"x", &[]));
    let mut addr = 0usize;
    check!(ZX_ERR_WRONG_TYPE, unsafe {
        sys::zx_vmar_map(
            vnone.raw(),
            ZX_VM_PERM_READ,
            0,
            v.raw(),
            0,
            PAGEZ,
            &mut addr,
        )
    });
    Ok(())
}

fn lookup_rights_before_args() -> R {
    let v = vmo(PAGE)?;
    let none = dup(v.raw(), ZX_RIGHT_NONE)?;
    check!(ZX_ERR_ACCESS_DENIED, unsafe {
        sys::zx_vmo_read(none.raw(), core::ptr::null_mut(), u64::MAX, 10)
    });
    check!(ZX_ERR_ACCESS_DENIED, unsafe {
        sys::zx_vmo_write(none.raw(), core::ptr::null(), u64::MAX, 10)
    });
    check!(ZX_ERR_ACCESS_DENIED, unsafe {
        sys::zx_vmo_set_size(none.raw(), u64::MAX)
    });
    check!(
        ZX_ERR_ACCESS_DENIED,
        op(none.raw(), ZX_VMO_OP_COMMIT, u64::MAX, 10)
    );
    Ok(())
}

fn stale_value() -> R {
    let first = vmo(PAGE)?.into_raw();
    zx_ok!(unsafe { sys::zx_handle_close(first) });
    check!(ZX_ERR_BAD_HANDLE, valid(first));
    // New handles (created and closed in turn) must not bring the value back soon.
    let mut stale: Vec<u32> = alloc::vec![first];
    for i in 0..1000 {
        let v = vmo(0)?.into_raw();
        if stale.contains(&v) {
            let _ = unsafe { sys::zx_handle_close(v) };
            fail!("a closed value {v:#x} came back after {i} create/close cycles");
        }
        zx_ok!(unsafe { sys::zx_handle_close(v) });
        if i % 10 == 0 {
            stale.push(v);
        }
    }
    for v in &stale {
        check!(ZX_ERR_BAD_HANDLE, valid(*v));
    }
    Ok(())
}

fn low_bits() -> R {
    let mut held: Vec<Owned> = Vec::new();
    for _ in 0..64 {
        held.push(vmo(0)?);
    }
    let (a, b) = channel()?;
    let mut all: Vec<u32> = held.iter().map(|h| h.raw()).collect();
    all.extend([a.raw(), b.raw(), proc_self(), root_vmar()]);
    for v in &all {
        ensure!(
            *v & ZX_HANDLE_FIXED_BITS_MASK == 0b11,
            "handle value {v:#x} lacks the low bits 0b11"
        );
    }
    let mut sorted = all.clone();
    sorted.sort_unstable();
    sorted.dedup();
    eq!(sorted.len(), all.len());
    Ok(())
}

fn failing_call_changes_nothing() -> R {
    let v = vmo(2 * PAGE)?;
    fill(v.raw(), 0, 2 * PAGEZ, 0x42)?;
    check!(
        ZX_ERR_OUT_OF_RANGE,
        vmo_write(v.raw(), PAGE, &alloc::vec![0u8; PAGEZ + 1])
    );
    check!(ZX_ERR_OUT_OF_RANGE, unsafe {
        sys::zx_vmo_set_size(v.raw(), u64::MAX)
    });
    check!(
        ZX_ERR_INVALID_ARGS,
        op(v.raw(), ZX_VMO_OP_DECOMMIT, 1, PAGE)
    );
    eq!(get_size(v.raw())?, 2 * PAGE);
    eq!(committed(v.raw())?, 2 * PAGE);
    expect_all(
        &read_vec(v.raw(), 0, 2 * PAGEZ)?,
        0x42,
        "content after failed calls",
    )?;
    eq!(handle_count(v.raw())?, 1u32);
    Ok(())
}

fn handle_limit() -> R {
    let v = vmo(0)?;
    let mut held: Vec<u32> = Vec::new();
    let cap = 1 << 17;
    let mut last = ZX_OK;
    while held.len() < cap {
        let mut out = 0u32;
        last = unsafe { sys::zx_handle_duplicate(v.raw(), ZX_RIGHT_SAME_RIGHTS, &mut out) };
        if last != ZX_OK {
            break;
        }
        held.push(out);
    }
    let reached = held.len();
    // Whatever happened, close them all (in batches).
    let mut close_errors = 0;
    for chunk in held.chunks(512) {
        if unsafe { sys::zx_handle_close_many(chunk.as_ptr(), chunk.len()) } != ZX_OK {
            close_errors += 1;
        }
    }
    ensure!(
        close_errors == 0,
        "zx_handle_close_many failed for {close_errors} batches"
    );
    ensure!(
        last == ZX_ERR_NO_RESOURCES,
        "duplicating until failure: expected ZX_ERR_NO_RESOURCES, got {} after {} handles",
        sname(last),
        reached
    );
    eq!(handle_count(v.raw())?, 1u32);
    // Everything is usable again, several times over.
    for round in 0..2 {
        let mut again: Vec<u32> = Vec::new();
        for _ in 0..reached {
            let mut out = 0u32;
            let s = unsafe { sys::zx_handle_duplicate(v.raw(), ZX_RIGHT_SAME_RIGHTS, &mut out) };
            if s != ZX_OK {
                let n = again.len();
                unsafe { sys::zx_handle_close_many(again.as_ptr(), again.len()) };
                fail!(
                    "round {round}: duplicate {n} of {reached} after closing all: {}",
                    sname(s)
                );
            }
            again.push(out);
        }
        for chunk in again.chunks(512) {
            unsafe { sys::zx_handle_close_many(chunk.as_ptr(), chunk.len()) };
        }
    }
    let fresh = vmo(PAGE).map_err(|e| format!("creating a VMO after the limit: {e}"))?;
    drop(fresh);
    Ok(())
}

fn heap_used() -> Result<u64, String> {
    let k = kmem()?;
    Ok(k.total_heap_bytes - k.free_heap_bytes)
}

fn limit_failures_atomic() -> R {
    let v = vmo(0)?;
    let mut held: Vec<u32> = Vec::new();
    loop {
        let mut out = 0u32;
        let s = unsafe { sys::zx_handle_duplicate(v.raw(), ZX_RIGHT_SAME_RIGHTS, &mut out) };
        if s != ZX_OK || held.len() > (1 << 17) {
            break;
        }
        held.push(out);
    }
    let result = (|| -> R {
        let heap_before = heap_used()?;
        let vmo_before = kmem()?.vmo_bytes;
        for _ in 0..200 {
            let (mut a, mut b) = (0u32, 0u32);
            check!(ZX_ERR_NO_RESOURCES, unsafe {
                sys::zx_vmo_create(PAGE, 0, &mut a)
            });
            check!(ZX_ERR_NO_RESOURCES, unsafe {
                sys::zx_channel_create(0, &mut a, &mut b)
            });
            check!(ZX_ERR_NO_RESOURCES, unsafe {
                sys::zx_vmo_clone(v.raw(), ZX_VMO_CLONE_COPY_ON_WRITE, 0, PAGE, &mut a)
            });
        }
        eq!(vmo_info(v.raw())?.num_children, 0usize);
        let heap_after = heap_used()?;
        ensure!(
            heap_after <= heap_before + 64 * 1024,
            "600 refused creations grew the kernel heap by {:#x} bytes",
            heap_after.saturating_sub(heap_before)
        );
        ensure!(
            kmem()?.vmo_bytes <= vmo_before + 16 * PAGE,
            "vmo_bytes grew"
        );
        // One free slot: a channel (two handles) is refused whole, and the slot stays free.
        let one = held.pop().ok_or_else(|| String::from("no handle held"))?;
        zx_ok!(unsafe { sys::zx_handle_close(one) });
        let (mut a, mut b) = (0u32, 0u32);
        check!(ZX_ERR_NO_RESOURCES, unsafe {
            sys::zx_channel_create(0, &mut a, &mut b)
        });
        let mut out = 0u32;
        zx_ok!(unsafe { sys::zx_handle_duplicate(v.raw(), ZX_RIGHT_SAME_RIGHTS, &mut out) });
        held.push(out);
        Ok(())
    })();
    for chunk in held.chunks(512) {
        unsafe { sys::zx_handle_close_many(chunk.as_ptr(), chunk.len()) };
    }
    result?;
    eq!(handle_count(v.raw())?, 1u32);
    let (a, b) = channel()?;
    drop((a, b));
    Ok(())
}

/// Fills the table but for `free` slots; runs `f`; frees everything again.
fn at_limit_with_free(v: u32, free: usize, f: impl FnOnce(u32) -> R) -> R {
    let mut held: Vec<u32> = Vec::new();
    loop {
        let mut out = 0u32;
        let s = unsafe { sys::zx_handle_duplicate(v, ZX_RIGHT_SAME_RIGHTS, &mut out) };
        if s != ZX_OK || held.len() > (1 << 17) {
            break;
        }
        held.push(out);
    }
    let mut result = Ok(());
    if held.len() < free {
        result = Err(format!("only {} handles fit", held.len()));
    } else {
        for _ in 0..free {
            if let Some(h) = held.pop() {
                unsafe { sys::zx_handle_close(h) };
            }
        }
        result = result.and_then(|_| f(v));
    }
    for chunk in held.chunks(512) {
        unsafe { sys::zx_handle_close_many(chunk.as_ptr(), chunk.len()) };
    }
    result
}

/// Both free slots are still free: two duplicates fit (and are closed again).
fn two_slots_free(v: u32, after: &str) -> R {
    let (mut a, mut b) = (0u32, 0u32);
    let s1 = unsafe { sys::zx_handle_duplicate(v, ZX_RIGHT_SAME_RIGHTS, &mut a) };
    let s2 = unsafe { sys::zx_handle_duplicate(v, ZX_RIGHT_SAME_RIGHTS, &mut b) };
    unsafe {
        if s1 == ZX_OK {
            sys::zx_handle_close(a);
        }
        if s2 == ZX_OK {
            sys::zx_handle_close(b);
        }
    }
    if s1 != ZX_OK || s2 != ZX_OK {
        return Err(format!(
            "after {after}: a handle was left in the table ({}/{})",
            sname(s1),
            sname(s2)
        ));
    }
    Ok(())
}

fn bad_out_no_leak() -> R {
    let v = vmo(PAGE)?;
    let bad = UNMAPPED_ADDR;
    let heap_before = heap_used()?;
    at_limit_with_free(v.raw(), 2, |v| {
        let name = b"leak";
        for round in 0..50 {
            let mut h = 0u32;
            let calls: [(&str, i32); 9] = unsafe {
                [
                    (
                        "zx_vmo_create",
                        sys::zx_vmo_create(PAGE, 0, bad as *mut u32),
                    ),
                    (
                        "zx_vmo_clone",
                        sys::zx_vmo_clone(v, ZX_VMO_CLONE_COPY_ON_WRITE, 0, PAGE, bad as *mut u32),
                    ),
                    (
                        "zx_vmo_create_child",
                        sys::zx_vmo_create_child(
                            v,
                            ZX_VMO_CHILD_SNAPSHOT,
                            0,
                            PAGE,
                            bad as *mut u32,
                        ),
                    ),
                    (
                        "zx_handle_duplicate",
                        sys::zx_handle_duplicate(v, ZX_RIGHT_SAME_RIGHTS, bad as *mut u32),
                    ),
                    (
                        "zx_channel_create.out1",
                        sys::zx_channel_create(0, &mut h, bad as *mut u32),
                    ),
                    (
                        "zx_vmar_allocate.child_addr",
                        sys::zx_vmar_allocate(
                            root_vmar(),
                            ZX_VM_CAN_MAP_READ,
                            0,
                            PAGEZ,
                            &mut h,
                            bad as *mut usize,
                        ),
                    ),
                    (
                        "zx_process_create.vmar",
                        sys::zx_process_create(
                            zx::startup::job_default(),
                            name.as_ptr(),
                            4,
                            0,
                            &mut h,
                            bad as *mut u32,
                        ),
                    ),
                    (
                        "zx_thread_create",
                        sys::zx_thread_create(proc_self(), name.as_ptr(), 4, 0, bad as *mut u32),
                    ),
                    (
                        "zx_vmar_map.addr(no handle)",
                        sys::zx_vmar_map(
                            root_vmar(),
                            ZX_VM_PERM_READ,
                            0,
                            v,
                            0,
                            PAGEZ,
                            bad as *mut usize,
                        ),
                    ),
                ]
            };
            for (name, s) in calls {
                ensure!(s == ZX_ERR_INVALID_ARGS, "round {round}: {name} with a bad out pointer: expected ZX_ERR_INVALID_ARGS, got {}", sname(s));
                two_slots_free(v, name)?;
            }
        }
        Ok(())
    })?;
    eq!(vmo_info(v.raw())?.num_children, 0usize);
    eq!(vmo_info(v.raw())?.num_mappings, 0usize);
    let heap_after = heap_used()?;
    ensure!(
        heap_after <= heap_before + 64 * 1024,
        "450 refused creations grew the kernel heap by {:#x} bytes",
        heap_after.saturating_sub(heap_before)
    );
    Ok(())
}
