//! VMARs: map, unmap, protect, allocate, destroy; mappings and paging seen from user space.

use crate::harness::Case;
use crate::util::*;
use zx::{Vmar, VmarFlags, Vmo};

pub const CASES: &[Case] = &[
    ("vmar_map_writes_visible_via_vmo_read_and_back", map_visible),
    (
        "vmar_map_needs_map_right_before_anything_else",
        needs_map_right,
    ),
    (
        "vmar_map_write_without_read_invalid_args",
        write_without_read,
    ),
    ("vmar_map_perms_need_handle_rights", perms_need_rights),
    ("vmar_map_write_execute_refused", wx_refused),
    ("vmar_map_len_zero_invalid_args", len_zero),
    ("vmar_map_unaligned_offsets_invalid_args", unaligned),
    ("vmar_map_unknown_option_invalid_args", map_unknown_option),
    ("vmar_map_len_rounds_up_to_page", len_rounds_up),
    ("vmar_map_specific_places_exactly", specific_places),
    ("vmar_map_specific_overlap_no_memory", specific_overlap),
    ("vmar_map_no_room_no_memory", no_room),
    (
        "vmar_map_specific_without_can_map_specific_access_denied",
        specific_needs_cap,
    ),
    ("vmar_map_require_non_resizable", require_non_resizable),
    ("vmar_map_wrong_types", map_wrong_types),
    (
        "vmar_mapping_keeps_vmo_alive_after_handle_closed",
        keeps_vmo_alive,
    ),
    ("vmar_unmap_removes_mapping", unmap_removes),
    ("vmar_unmap_unaligned_or_empty_invalid_args", unmap_invalid),
    ("vmar_unmap_middle_keeps_both_sides", unmap_middle),
    ("vmar_protect_reduce_then_restore", protect_reduce_restore),
    (
        "vmar_protect_cannot_exceed_map_time_rights",
        protect_cannot_raise,
    ),
    ("vmar_protect_invalid_combinations", protect_invalid),
    ("vmar_allocate_region_info_and_map_inside", allocate_info),
    ("vmar_allocate_capabilities_enforced", allocate_caps),
    ("vmar_allocate_bad_arguments", allocate_bad_args),
    ("vmar_allocate_specific_overlap_no_memory", allocate_overlap),
    ("vmar_destroy_unmaps_and_later_ops_bad_state", destroy),
    ("vmar_cow_through_mapped_clone", cow_mapped_clone),
    (
        "vmar_demand_paging_reads_zero_commits_nothing",
        demand_paging,
    ),
    (
        "vmar_read_fault_then_vmo_write_visible",
        zero_page_then_write,
    ),
    ("vmar_write_fault_commits_one_page", write_fault_commits),
    ("vmar_mapped_slice_and_parent_share_pages", mapped_slice),
    ("vmar_decommit_of_mapped_pages_reads_zero", mapped_decommit),
    ("vmar_map_range_option_maps_now", map_range),
    ("vmar_safe_api_map", safe_api_map),
    (
        "vmar_shrink_then_grow_mapping_shows_fresh_zero_page",
        shrink_grow_mapping,
    ),
    ("vmar_op_zero_of_mapped_page_reads_zero", zero_mapped),
    (
        "vmar_snapshot_isolated_from_parent_mapping_writes",
        snapshot_mapping,
    ),
    (
        "vmar_clone_mapping_sees_parent_decommit_and_shrink",
        clone_mapping_parent_changes,
    ),
    ("vmar_destroy_destroys_nested_regions", destroy_nested),
    (
        "vmar_specific_overwrite_replaces_mapping",
        specific_overwrite,
    ),
    ("vmar_protect_part_of_mapping", protect_part),
    ("vmar_map_range_pages_follow_decommit", map_range_decommit),
    ("vmar_deep_nesting_destroyed_at_once", deep_nesting),
    (
        "vmar_failed_map_or_allocate_leaves_no_region",
        failed_leaves_nothing,
    ),
];

const CAN_RW: u32 = ZX_VM_CAN_MAP_READ | ZX_VM_CAN_MAP_WRITE;

fn map_visible() -> R {
    let v = vmo(2 * PAGE)?;
    let m = map(v.raw(), 0, 2 * PAGEZ, RW)?;
    ensure!(
        m.addr % PAGEZ == 0 && m.addr >= 0x0100_0000,
        "mapped at {:#x}",
        m.addr
    );
    poke_slice(m.addr + 4090, b"through-map");
    eq!(read_vec(v.raw(), 4090, 11)?, b"through-map".to_vec());
    write_all(v.raw(), 100, b"via-write")?;
    eq!(peek_vec(m.addr + 100, 9), b"via-write".to_vec());
    Ok(())
}

fn needs_map_right() -> R {
    let v = vmo(PAGE)?;
    let nomap = dup(v.raw(), ZX_DEFAULT_VMO_RIGHTS & !ZX_RIGHT_MAP)?;
    let mut addr = 0usize;
    check!(ZX_ERR_ACCESS_DENIED, unsafe {
        sys::zx_vmar_map(
            root_vmar(),
            ZX_VM_PERM_READ,
            0,
            nomap.raw(),
            0,
            PAGEZ,
            &mut addr,
        )
    });
    // Before every other check: bad length, bad options, unaligned offsets.
    check!(ZX_ERR_ACCESS_DENIED, unsafe {
        sys::zx_vmar_map(
            root_vmar(),
            ZX_VM_PERM_READ,
            0,
            nomap.raw(),
            0,
            0,
            &mut addr,
        )
    });
    check!(ZX_ERR_ACCESS_DENIED, unsafe {
        sys::zx_vmar_map(
            root_vmar(),
            ZX_VM_PERM_WRITE | 1 << 20,
            0,
            nomap.raw(),
            3,
            PAGEZ,
            &mut addr,
        )
    });
    eq!(vmo_info(v.raw())?.num_mappings, 0usize);
    Ok(())
}

fn write_without_read() -> R {
    let v = vmo(PAGE)?;
    let mut addr = 0usize;
    check!(ZX_ERR_INVALID_ARGS, unsafe {
        sys::zx_vmar_map(
            root_vmar(),
            ZX_VM_PERM_WRITE,
            0,
            v.raw(),
            0,
            PAGEZ,
            &mut addr,
        )
    });
    Ok(())
}

fn perms_need_rights() -> R {
    let v = vmo(PAGE)?;
    let mut addr = 0usize;
    let no_write = dup(v.raw(), ZX_DEFAULT_VMO_RIGHTS & !ZX_RIGHT_WRITE)?;
    check!(ZX_ERR_ACCESS_DENIED, unsafe {
        sys::zx_vmar_map(root_vmar(), RW, 0, no_write.raw(), 0, PAGEZ, &mut addr)
    });
    let no_read = dup(v.raw(), ZX_DEFAULT_VMO_RIGHTS & !ZX_RIGHT_READ)?;
    check!(ZX_ERR_ACCESS_DENIED, unsafe {
        sys::zx_vmar_map(
            root_vmar(),
            ZX_VM_PERM_READ,
            0,
            no_read.raw(),
            0,
            PAGEZ,
            &mut addr,
        )
    });
    let no_exec = dup(v.raw(), ZX_DEFAULT_VMO_RIGHTS & !ZX_RIGHT_EXECUTE)?;
    check!(ZX_ERR_ACCESS_DENIED, unsafe {
        sys::zx_vmar_map(
            root_vmar(),
            ZX_VM_PERM_READ | ZX_VM_PERM_EXECUTE,
            0,
            no_exec.raw(),
            0,
            PAGEZ,
            &mut addr,
        )
    });
    // The allowed subsets work.
    let m = map(no_write.raw(), 0, PAGEZ, ZX_VM_PERM_READ)?;
    drop(m);
    let m = map(v.raw(), 0, PAGEZ, ZX_VM_PERM_READ | ZX_VM_PERM_EXECUTE)?;
    drop(m);
    eq!(vmo_info(v.raw())?.num_mappings, 0usize);
    Ok(())
}

fn wx_refused() -> R {
    let v = vmo(PAGE)?;
    let mut addr = 0usize;
    let s = unsafe {
        sys::zx_vmar_map(
            root_vmar(),
            RW | ZX_VM_PERM_EXECUTE,
            0,
            v.raw(),
            0,
            PAGEZ,
            &mut addr,
        )
    };
    ensure!(s != ZX_OK, "a W+X mapping was made at {addr:#x}");
    check!(ZX_ERR_ACCESS_DENIED, s);
    eq!(vmo_info(v.raw())?.num_mappings, 0usize);
    Ok(())
}

fn len_zero() -> R {
    let v = vmo(PAGE)?;
    let mut addr = 0usize;
    check!(ZX_ERR_INVALID_ARGS, unsafe {
        sys::zx_vmar_map(root_vmar(), ZX_VM_PERM_READ, 0, v.raw(), 0, 0, &mut addr)
    });
    Ok(())
}

fn unaligned() -> R {
    let v = vmo(4 * PAGE)?;
    let sub = allocate(root_vmar(), CAN_RW | ZX_VM_CAN_MAP_SPECIFIC, 0, 16 * PAGEZ)?;
    let mut addr = 0usize;
    check!(ZX_ERR_INVALID_ARGS, unsafe {
        sys::zx_vmar_map(
            root_vmar(),
            ZX_VM_PERM_READ,
            0,
            v.raw(),
            1,
            PAGEZ,
            &mut addr,
        )
    });
    check!(ZX_ERR_INVALID_ARGS, unsafe {
        sys::zx_vmar_map(
            root_vmar(),
            ZX_VM_PERM_READ,
            0,
            v.raw(),
            PAGE + 8,
            PAGEZ,
            &mut addr,
        )
    });
    check!(ZX_ERR_INVALID_ARGS, unsafe {
        sys::zx_vmar_map(
            sub.h.raw(),
            ZX_VM_PERM_READ | ZX_VM_SPECIFIC,
            100,
            v.raw(),
            0,
            PAGEZ,
            &mut addr,
        )
    });
    // An offset without SPECIFIC is refused too.
    check!(ZX_ERR_INVALID_ARGS, unsafe {
        sys::zx_vmar_map(
            sub.h.raw(),
            ZX_VM_PERM_READ,
            PAGEZ,
            v.raw(),
            0,
            PAGEZ,
            &mut addr,
        )
    });
    eq!(vmo_info(v.raw())?.num_mappings, 0usize);
    Ok(())
}

fn map_unknown_option() -> R {
    let v = vmo(PAGE)?;
    let mut addr = 0usize;
    for bit in [1u32 << 12, 1 << 15, 1 << 20, 1 << 23] {
        check!(ZX_ERR_INVALID_ARGS, unsafe {
            sys::zx_vmar_map(
                root_vmar(),
                ZX_VM_PERM_READ | bit,
                0,
                v.raw(),
                0,
                PAGEZ,
                &mut addr,
            )
        });
    }
    Ok(())
}

fn len_rounds_up() -> R {
    let v = vmo(2 * PAGE)?;
    let addr = match map_raw(root_vmar(), RW, 0, v.raw(), 0, 1) {
        Ok(a) => a,
        Err(s) => fail!("zx_vmar_map(len 1): {}", sname(s)),
    };
    let m = Mapping {
        vmar: root_vmar(),
        addr,
        len: PAGEZ,
    };
    m.poke(PAGEZ - 1, 0x77);
    eq!(read_byte(v.raw(), PAGE - 1)?, 0x77u8);
    // Exactly one page: unmapping [addr, +1 page) removes it.
    zx_ok!(unsafe { sys::zx_vmar_unmap(root_vmar(), addr, PAGEZ) });
    m.leak();
    eq!(vmo_info(v.raw())?.num_mappings, 0usize);
    Ok(())
}

fn specific_places() -> R {
    let sub = allocate(root_vmar(), CAN_RW | ZX_VM_CAN_MAP_SPECIFIC, 0, 16 * PAGEZ)?;
    let v = vmo(PAGE)?;
    let addr = match map_raw(
        sub.h.raw(),
        RW | ZX_VM_SPECIFIC,
        5 * PAGEZ,
        v.raw(),
        0,
        PAGEZ,
    ) {
        Ok(a) => a,
        Err(s) => fail!("SPECIFIC map: {}", sname(s)),
    };
    eqx!(addr, sub.addr + 5 * PAGEZ);
    poke(addr, 9);
    eq!(read_byte(v.raw(), 0)?, 9u8);
    Ok(())
}

fn specific_overlap() -> R {
    let sub = allocate(root_vmar(), CAN_RW | ZX_VM_CAN_MAP_SPECIFIC, 0, 16 * PAGEZ)?;
    let v = vmo(4 * PAGE)?;
    if let Err(s) = map_raw(
        sub.h.raw(),
        RW | ZX_VM_SPECIFIC,
        4 * PAGEZ,
        v.raw(),
        0,
        2 * PAGEZ,
    ) {
        fail!("first SPECIFIC map: {}", sname(s));
    }
    let mut addr = 0usize;
    for off in [4 * PAGEZ, 5 * PAGEZ, 3 * PAGEZ] {
        check!(ZX_ERR_NO_MEMORY, unsafe {
            sys::zx_vmar_map(
                sub.h.raw(),
                RW | ZX_VM_SPECIFIC,
                off,
                v.raw(),
                0,
                2 * PAGEZ,
                &mut addr,
            )
        });
    }
    eq!(vmo_info(v.raw())?.num_mappings, 1usize);
    Ok(())
}

fn no_room() -> R {
    let sub = allocate(root_vmar(), CAN_RW, 0, 2 * PAGEZ)?;
    let v = vmo(4 * PAGE)?;
    let mut addr = 0usize;
    check!(ZX_ERR_NO_MEMORY, unsafe {
        sys::zx_vmar_map(sub.h.raw(), RW, 0, v.raw(), 0, 3 * PAGEZ, &mut addr)
    });
    let a = map_in(sub.h.raw(), v.raw(), 0, 2 * PAGEZ, RW)?;
    check!(ZX_ERR_NO_MEMORY, unsafe {
        sys::zx_vmar_map(sub.h.raw(), RW, 0, v.raw(), 0, PAGEZ, &mut addr)
    });
    drop(a);
    Ok(())
}

fn specific_needs_cap() -> R {
    let sub = allocate(root_vmar(), CAN_RW, 0, 8 * PAGEZ)?;
    let v = vmo(PAGE)?;
    let mut addr = 0usize;
    check!(ZX_ERR_ACCESS_DENIED, unsafe {
        sys::zx_vmar_map(
            sub.h.raw(),
            RW | ZX_VM_SPECIFIC,
            PAGEZ,
            v.raw(),
            0,
            PAGEZ,
            &mut addr,
        )
    });
    Ok(())
}

fn require_non_resizable() -> R {
    let r = vmo(PAGE)?;
    let mut addr = 0usize;
    check!(ZX_ERR_NOT_SUPPORTED, unsafe {
        sys::zx_vmar_map(
            root_vmar(),
            RW | ZX_VM_REQUIRE_NON_RESIZABLE,
            0,
            r.raw(),
            0,
            PAGEZ,
            &mut addr,
        )
    });
    let n = vmo_opts(PAGE, ZX_VMO_NON_RESIZABLE)?;
    let addr = match map_raw(
        root_vmar(),
        RW | ZX_VM_REQUIRE_NON_RESIZABLE,
        0,
        n.raw(),
        0,
        PAGEZ,
    ) {
        Ok(a) => a,
        Err(s) => fail!(
            "REQUIRE_NON_RESIZABLE with a non-resizable VMO: {}",
            sname(s)
        ),
    };
    drop(Mapping {
        vmar: root_vmar(),
        addr,
        len: PAGEZ,
    });
    Ok(())
}

fn map_wrong_types() -> R {
    let v = vmo(PAGE)?;
    let (a, _b) = channel()?;
    let mut addr = 0usize;
    check!(ZX_ERR_WRONG_TYPE, unsafe {
        sys::zx_vmar_map(v.raw(), ZX_VM_PERM_READ, 0, v.raw(), 0, PAGEZ, &mut addr)
    });
    check!(ZX_ERR_WRONG_TYPE, unsafe {
        sys::zx_vmar_map(
            root_vmar(),
            ZX_VM_PERM_READ,
            0,
            a.raw(),
            0,
            PAGEZ,
            &mut addr,
        )
    });
    check!(ZX_ERR_BAD_HANDLE, unsafe {
        sys::zx_vmar_map(
            root_vmar(),
            ZX_VM_PERM_READ,
            0,
            0x6666_6667,
            0,
            PAGEZ,
            &mut addr,
        )
    });
    check!(ZX_ERR_WRONG_TYPE, unsafe {
        sys::zx_vmar_unmap(v.raw(), 0x1000_0000, PAGEZ)
    });
    check!(ZX_ERR_WRONG_TYPE, unsafe { sys::zx_vmar_destroy(v.raw()) });
    Ok(())
}

fn keeps_vmo_alive() -> R {
    let v = vmo(2 * PAGE)?;
    write_all(v.raw(), 0, b"alive")?;
    let koid = koid_of(v.raw())?;
    let m = map(v.raw(), 0, 2 * PAGEZ, RW)?;
    drop(v);
    eq!(peek_vec(m.addr, 5), b"alive".to_vec());
    m.poke(PAGEZ + 3, 0x21);
    eq!(m.peek(PAGEZ + 3), 0x21u8);
    ensure!(koid != 0, "koid");
    Ok(())
}

fn unmap_removes() -> R {
    let v = vmo(PAGE)?;
    let m = map(v.raw(), 0, PAGEZ, RW)?;
    eq!(vmo_info(v.raw())?.num_mappings, 1usize);
    let addr = m.leak();
    zx_ok!(unsafe { sys::zx_vmar_unmap(root_vmar(), addr, PAGEZ) });
    eq!(vmo_info(v.raw())?.num_mappings, 0usize);
    // The address range is free again: a SPECIFIC map there succeeds.
    let info: zx_info_vmar_t = get_info(root_vmar(), ZX_INFO_VMAR)?;
    let again = map_raw(
        root_vmar(),
        RW | ZX_VM_SPECIFIC,
        addr - info.base,
        v.raw(),
        0,
        PAGEZ,
    );
    match again {
        Ok(a) => {
            eqx!(a, addr);
            drop(Mapping {
                vmar: root_vmar(),
                addr: a,
                len: PAGEZ,
            });
        }
        Err(s) => fail!("SPECIFIC map at the unmapped address: {}", sname(s)),
    }
    Ok(())
}

fn unmap_invalid() -> R {
    let v = vmo(PAGE)?;
    let m = map(v.raw(), 0, PAGEZ, RW)?;
    check!(ZX_ERR_INVALID_ARGS, unsafe {
        sys::zx_vmar_unmap(root_vmar(), m.addr + 1, PAGEZ)
    });
    check!(ZX_ERR_INVALID_ARGS, unsafe {
        sys::zx_vmar_unmap(root_vmar(), m.addr, 0)
    });
    check!(ZX_ERR_INVALID_ARGS, unsafe {
        sys::zx_vmar_unmap(root_vmar(), usize::MAX & !(PAGEZ - 1), 2 * PAGEZ)
    });
    check!(ZX_ERR_INVALID_ARGS, unsafe {
        sys::zx_vmar_unmap(root_vmar(), 0x1000, PAGEZ)
    });
    eq!(vmo_info(v.raw())?.num_mappings, 1usize);
    m.poke(0, 1);
    Ok(())
}

fn unmap_middle() -> R {
    let v = vmo(3 * PAGE)?;
    let m = map(v.raw(), 0, 3 * PAGEZ, RW)?;
    zx_ok!(unsafe { sys::zx_vmar_unmap(root_vmar(), m.addr + PAGEZ, PAGEZ) });
    m.poke(0, 1);
    m.poke(2 * PAGEZ, 3);
    eq!(read_byte(v.raw(), 0)?, 1u8);
    eq!(read_byte(v.raw(), 2 * PAGE)?, 3u8);
    ensure!(vmo_info(v.raw())?.num_mappings >= 1, "no mapping left");
    // Unmapping the rest (including the hole) works.
    zx_ok!(unsafe { sys::zx_vmar_unmap(root_vmar(), m.addr, 3 * PAGEZ) });
    m.leak();
    eq!(vmo_info(v.raw())?.num_mappings, 0usize);
    Ok(())
}

fn protect_reduce_restore() -> R {
    let v = vmo(2 * PAGE)?;
    let m = map(v.raw(), 0, 2 * PAGEZ, RW)?;
    m.poke(0, 1);
    zx_ok!(unsafe { sys::zx_vmar_protect(root_vmar(), ZX_VM_PERM_READ, m.addr, 2 * PAGEZ) });
    eq!(m.peek(0), 1u8);
    zx_ok!(unsafe { sys::zx_vmar_protect(root_vmar(), RW, m.addr, PAGEZ) });
    m.poke(1, 2);
    eq!(read_byte(v.raw(), 1)?, 2u8);
    Ok(())
}

fn protect_cannot_raise() -> R {
    let v = vmo(PAGE)?;
    let ro = dup(v.raw(), ZX_DEFAULT_VMO_RIGHTS & !ZX_RIGHT_WRITE)?;
    let m = map(ro.raw(), 0, PAGEZ, ZX_VM_PERM_READ)?;
    drop(ro);
    check!(ZX_ERR_ACCESS_DENIED, unsafe {
        sys::zx_vmar_protect(root_vmar(), RW, m.addr, PAGEZ)
    });
    let noexec = dup(v.raw(), ZX_DEFAULT_VMO_RIGHTS & !ZX_RIGHT_EXECUTE)?;
    let m2 = map(noexec.raw(), 0, PAGEZ, ZX_VM_PERM_READ)?;
    check!(ZX_ERR_ACCESS_DENIED, unsafe {
        sys::zx_vmar_protect(
            root_vmar(),
            ZX_VM_PERM_READ | ZX_VM_PERM_EXECUTE,
            m2.addr,
            PAGEZ,
        )
    });
    eq!(m.peek(0), 0u8);
    Ok(())
}

fn protect_invalid() -> R {
    let v = vmo(2 * PAGE)?;
    let m = map(v.raw(), 0, 2 * PAGEZ, RW)?;
    check!(ZX_ERR_INVALID_ARGS, unsafe {
        sys::zx_vmar_protect(root_vmar(), ZX_VM_PERM_WRITE, m.addr, PAGEZ)
    });
    let s = unsafe { sys::zx_vmar_protect(root_vmar(), RW | ZX_VM_PERM_EXECUTE, m.addr, PAGEZ) };
    ensure!(s != ZX_OK, "protect to W+X succeeded");
    check!(ZX_ERR_ACCESS_DENIED, s);
    check!(ZX_ERR_INVALID_ARGS, unsafe {
        sys::zx_vmar_protect(root_vmar(), ZX_VM_PERM_READ, m.addr + 1, PAGEZ)
    });
    check!(ZX_ERR_INVALID_ARGS, unsafe {
        sys::zx_vmar_protect(root_vmar(), ZX_VM_PERM_READ, m.addr, 0)
    });
    check!(ZX_ERR_INVALID_ARGS, unsafe {
        sys::zx_vmar_protect(root_vmar(), ZX_VM_PERM_READ | 1 << 20, m.addr, PAGEZ)
    });
    // Still writable after the refused calls.
    m.poke(0, 5);
    eq!(read_byte(v.raw(), 0)?, 5u8);
    Ok(())
}

fn allocate_info() -> R {
    let sub = allocate(root_vmar(), CAN_RW | ZX_VM_CAN_MAP_SPECIFIC, 0, 8 * PAGEZ)?;
    let i: zx_info_vmar_t = get_info(sub.h.raw(), ZX_INFO_VMAR)?;
    eqx!(i.base, sub.addr);
    eqx!(i.len, 8 * PAGEZ);
    let b = basic(sub.h.raw())?;
    eq!(b.type_, ZX_OBJ_TYPE_VMAR);
    ensure!(
        b.rights & (ZX_RIGHT_READ | ZX_RIGHT_WRITE) == ZX_RIGHT_READ | ZX_RIGHT_WRITE,
        "sub-VMAR rights {:#x}",
        b.rights
    );
    ensure!(
        b.rights & ZX_RIGHT_EXECUTE == 0,
        "sub-VMAR without CAN_MAP_EXECUTE has EXECUTE: {:#x}",
        b.rights
    );
    let v = vmo(PAGE)?;
    let m = map_in(sub.h.raw(), v.raw(), 0, PAGEZ, RW)?;
    ensure!(
        m.addr >= sub.addr && m.addr + PAGEZ <= sub.addr + 8 * PAGEZ,
        "map at {:#x} outside [{:#x}, +8 pages)",
        m.addr,
        sub.addr
    );
    m.poke(0, 1);
    Ok(())
}

fn allocate_caps() -> R {
    let ro = allocate(root_vmar(), ZX_VM_CAN_MAP_READ, 0, 4 * PAGEZ)?;
    let v = vmo(PAGE)?;
    let mut addr = 0usize;
    check!(ZX_ERR_ACCESS_DENIED, unsafe {
        sys::zx_vmar_map(ro.h.raw(), RW, 0, v.raw(), 0, PAGEZ, &mut addr)
    });
    let m = map_in(ro.h.raw(), v.raw(), 0, PAGEZ, ZX_VM_PERM_READ)?;
    drop(m);
    // A child cannot have capabilities its parent lacks.
    let mut child = 0u32;
    check!(ZX_ERR_ACCESS_DENIED, unsafe {
        sys::zx_vmar_allocate(ro.h.raw(), CAN_RW, 0, PAGEZ, &mut child, &mut addr)
    });
    Ok(())
}

fn allocate_bad_args() -> R {
    let mut child = 0u32;
    let mut addr = 0usize;
    check!(ZX_ERR_INVALID_ARGS, unsafe {
        sys::zx_vmar_allocate(root_vmar(), CAN_RW, 0, 0, &mut child, &mut addr)
    });
    check!(ZX_ERR_INVALID_ARGS, unsafe {
        sys::zx_vmar_allocate(root_vmar(), CAN_RW, 0, 100, &mut child, &mut addr)
    });
    check!(ZX_ERR_INVALID_ARGS, unsafe {
        sys::zx_vmar_allocate(
            root_vmar(),
            CAN_RW | 1 << 20,
            0,
            PAGEZ,
            &mut child,
            &mut addr,
        )
    });
    check!(ZX_ERR_INVALID_ARGS, unsafe {
        sys::zx_vmar_allocate(
            root_vmar(),
            CAN_RW | ZX_VM_SPECIFIC,
            123,
            PAGEZ,
            &mut child,
            &mut addr,
        )
    });
    let v = vmo(PAGE)?;
    check!(ZX_ERR_WRONG_TYPE, unsafe {
        sys::zx_vmar_allocate(v.raw(), CAN_RW, 0, PAGEZ, &mut child, &mut addr)
    });
    Ok(())
}

fn allocate_overlap() -> R {
    let outer = allocate(root_vmar(), CAN_RW | ZX_VM_CAN_MAP_SPECIFIC, 0, 16 * PAGEZ)?;
    let inner = match allocate(outer.h.raw(), CAN_RW | ZX_VM_SPECIFIC, 4 * PAGEZ, 4 * PAGEZ) {
        Ok(s) => s,
        Err(e) => fail!("SPECIFIC allocate: {e}"),
    };
    eqx!(inner.addr, outer.addr + 4 * PAGEZ);
    let mut child = 0u32;
    let mut addr = 0usize;
    check!(ZX_ERR_NO_MEMORY, unsafe {
        sys::zx_vmar_allocate(
            outer.h.raw(),
            CAN_RW | ZX_VM_SPECIFIC,
            6 * PAGEZ,
            4 * PAGEZ,
            &mut child,
            &mut addr,
        )
    });
    let v = vmo(PAGE)?;
    check!(ZX_ERR_NO_MEMORY, unsafe {
        sys::zx_vmar_map(
            outer.h.raw(),
            RW | ZX_VM_SPECIFIC,
            5 * PAGEZ,
            v.raw(),
            0,
            PAGEZ,
            &mut addr,
        )
    });
    Ok(())
}

fn destroy() -> R {
    let sub = allocate(root_vmar(), CAN_RW | ZX_VM_CAN_MAP_SPECIFIC, 0, 8 * PAGEZ)?;
    let v = vmo(2 * PAGE)?;
    let m1 = map_in(sub.h.raw(), v.raw(), 0, PAGEZ, RW)?.leak();
    let _m2 = map_in(sub.h.raw(), v.raw(), PAGE, PAGEZ, ZX_VM_PERM_READ)?.leak();
    poke(m1, 4);
    eq!(vmo_info(v.raw())?.num_mappings, 2usize);
    zx_ok!(unsafe { sys::zx_vmar_destroy(sub.h.raw()) });
    eq!(vmo_info(v.raw())?.num_mappings, 0usize);
    let mut addr = 0usize;
    check!(ZX_ERR_BAD_STATE, unsafe {
        sys::zx_vmar_map(sub.h.raw(), RW, 0, v.raw(), 0, PAGEZ, &mut addr)
    });
    let mut child = 0u32;
    check!(ZX_ERR_BAD_STATE, unsafe {
        sys::zx_vmar_allocate(sub.h.raw(), CAN_RW, 0, PAGEZ, &mut child, &mut addr)
    });
    check!(ZX_ERR_BAD_STATE, unsafe {
        sys::zx_vmar_destroy(sub.h.raw())
    });
    // The range is free in the parent again.
    let info: zx_info_vmar_t = get_info(root_vmar(), ZX_INFO_VMAR)?;
    match map_raw(
        root_vmar(),
        RW | ZX_VM_SPECIFIC,
        sub.addr - info.base,
        v.raw(),
        0,
        PAGEZ,
    ) {
        Ok(a) => drop(Mapping {
            vmar: root_vmar(),
            addr: a,
            len: PAGEZ,
        }),
        Err(s) => fail!("SPECIFIC map where the destroyed VMAR was: {}", sname(s)),
    }
    eq!(read_byte(v.raw(), 0)?, 4u8);
    Ok(())
}

fn cow_mapped_clone() -> R {
    let v = vmo(2 * PAGE)?;
    fill(v.raw(), 0, 2 * PAGEZ, 0x10)?;
    let c = clone_vmo(v.raw(), ZX_VMO_CLONE_COPY_ON_WRITE, 0, 2 * PAGE)?;
    let m = map(c.raw(), 0, 2 * PAGEZ, RW)?;
    eq!(m.peek(5), 0x10u8);
    // The parent's later write is seen through the (read-faulted) mapping of the clone.
    fill(v.raw(), 0, PAGEZ, 0x11)?;
    eq!(m.peek(5), 0x11u8);
    // A write through the mapping copies: the parent keeps its content.
    m.poke(5, 0x99);
    eq!(m.peek(5), 0x99u8);
    eq!(m.peek(6), 0x11u8);
    eq!(read_byte(v.raw(), 5)?, 0x11u8);
    eq!(read_byte(c.raw(), 5)?, 0x99u8);
    // And the parent's writes no longer show on that page.
    fill(v.raw(), 0, PAGEZ, 0x12)?;
    eq!(m.peek(6), 0x11u8);
    eq!(m.peek(PAGEZ), 0x10u8);
    eq!(committed(c.raw())?, PAGE);
    Ok(())
}

fn demand_paging() -> R {
    let pages = 16usize;
    let v = vmo((pages * PAGEZ) as u64)?;
    let m = map(v.raw(), 0, pages * PAGEZ, RW)?;
    for p in 0..pages {
        eq!(m.peek(p * PAGEZ + p), 0u8);
    }
    eq!(committed(v.raw())?, 0u64);
    Ok(())
}

fn zero_page_then_write() -> R {
    let v = vmo(PAGE)?;
    let m = map(v.raw(), 0, PAGEZ, ZX_VM_PERM_READ)?;
    eq!(m.peek(0), 0u8);
    write_all(v.raw(), 0, &[0x5E])?;
    eq!(m.peek(0), 0x5Eu8);
    let m2 = map(v.raw(), 0, PAGEZ, RW)?;
    eq!(m2.peek(0), 0x5Eu8);
    m2.poke(1, 0x5F);
    eq!(m.peek(1), 0x5Fu8);
    Ok(())
}

fn write_fault_commits() -> R {
    let v = vmo(8 * PAGE)?;
    let m = map(v.raw(), 0, 8 * PAGEZ, RW)?;
    m.poke(3 * PAGEZ + 17, 1);
    eq!(committed(v.raw())?, PAGE);
    eq!(read_byte(v.raw(), 3 * PAGE + 17)?, 1u8);
    Ok(())
}

fn mapped_slice() -> R {
    let v = vmo_opts(2 * PAGE, ZX_VMO_NON_RESIZABLE)?;
    let s = child_vmo(v.raw(), ZX_VMO_CHILD_SLICE, PAGE, PAGE)?;
    let mv = map(v.raw(), 0, 2 * PAGEZ, RW)?;
    let ms = map(s.raw(), 0, PAGEZ, RW)?;
    ms.poke(0, 0x41);
    eq!(mv.peek(PAGEZ), 0x41u8);
    mv.poke(PAGEZ + 1, 0x42);
    eq!(ms.peek(1), 0x42u8);
    Ok(())
}

fn mapped_decommit() -> R {
    let v = vmo(2 * PAGE)?;
    let m = map(v.raw(), 0, 2 * PAGEZ, RW)?;
    m.poke(0, 7);
    m.poke(PAGEZ, 8);
    zx_ok!(op(v.raw(), ZX_VMO_OP_DECOMMIT, 0, PAGE));
    eq!(m.peek(0), 0u8);
    eq!(m.peek(PAGEZ), 8u8);
    m.poke(0, 9);
    eq!(read_byte(v.raw(), 0)?, 9u8);
    Ok(())
}

fn map_range() -> R {
    let v = vmo(4 * PAGE)?;
    write_all(v.raw(), PAGE, b"pre")?;
    let addr = match map_raw(root_vmar(), RW | ZX_VM_MAP_RANGE, 0, v.raw(), 0, 4 * PAGEZ) {
        Ok(a) => a,
        Err(s) => fail!("MAP_RANGE map: {}", sname(s)),
    };
    let m = Mapping {
        vmar: root_vmar(),
        addr,
        len: 4 * PAGEZ,
    };
    eq!(peek_vec(m.addr + PAGEZ, 3), b"pre".to_vec());
    m.poke(3 * PAGEZ, 1);
    eq!(read_byte(v.raw(), 3 * PAGE)?, 1u8);
    Ok(())
}

fn safe_api_map() -> R {
    let v = ok!(Vmo::create(PAGE));
    let root = Vmar::root_self();
    let addr = ok!(root.map(
        0,
        &v,
        0,
        PAGEZ,
        VmarFlags::PERM_READ | VmarFlags::PERM_WRITE
    ));
    let m = Mapping {
        vmar: root_vmar(),
        addr,
        len: PAGEZ,
    };
    m.poke(0, 0x33);
    let mut b = [0u8; 1];
    ok!(v.read(&mut b, 0));
    eq!(b[0], 0x33u8);
    Ok(())
}

fn shrink_grow_mapping() -> R {
    let v = vmo(2 * PAGE)?;
    let m = map(v.raw(), 0, 2 * PAGEZ, RW)?;
    m.poke(0, 1);
    m.poke(PAGEZ, 0xAB);
    zx_ok!(unsafe { sys::zx_vmo_set_size(v.raw(), PAGE) });
    zx_ok!(unsafe { sys::zx_vmo_set_size(v.raw(), 2 * PAGE) });
    // The old page was freed: the mapping must not still reach it.
    eq!(m.peek(PAGEZ), 0u8);
    eq!(m.peek(0), 1u8);
    m.poke(PAGEZ + 1, 5);
    eq!(read_byte(v.raw(), PAGE + 1)?, 5u8);
    eq!(read_byte(v.raw(), PAGE)?, 0u8);
    Ok(())
}

fn zero_mapped() -> R {
    let v = vmo(2 * PAGE)?;
    let m = map(v.raw(), 0, 2 * PAGEZ, RW)?;
    for i in (0..2 * PAGEZ).step_by(512) {
        m.poke(i, 0xCD);
    }
    zx_ok!(op(v.raw(), ZX_VMO_OP_ZERO, 0, PAGE));
    zx_ok!(op(v.raw(), ZX_VMO_OP_ZERO, PAGE + 512, 1));
    eq!(m.peek(0), 0u8);
    eq!(m.peek(3584), 0u8);
    eq!(m.peek(PAGEZ), 0xCDu8);
    eq!(m.peek(PAGEZ + 512), 0u8);
    eq!(m.peek(PAGEZ + 1024), 0xCDu8);
    m.poke(0, 1);
    eq!(read_byte(v.raw(), 0)?, 1u8);
    Ok(())
}

fn snapshot_mapping() -> R {
    let v = vmo(2 * PAGE)?;
    let m = map(v.raw(), 0, 2 * PAGEZ, RW)?;
    m.poke(0, 1);
    m.poke(PAGEZ, 1);
    // The parent's pages are mapped writable now; a snapshot must still be isolated.
    let s = child_vmo(v.raw(), ZX_VMO_CHILD_SNAPSHOT, 0, 2 * PAGE)?;
    m.poke(0, 2);
    eq!(m.peek(0), 2u8);
    eq!(read_byte(v.raw(), 0)?, 2u8);
    eq!(read_byte(s.raw(), 0)?, 1u8);
    // And the snapshot's writes do not reach the parent's mapping.
    let ms = map(s.raw(), 0, 2 * PAGEZ, RW)?;
    eq!(ms.peek(PAGEZ), 1u8);
    ms.poke(PAGEZ, 3);
    eq!(m.peek(PAGEZ), 1u8);
    eq!(read_byte(v.raw(), PAGE)?, 1u8);
    m.poke(PAGEZ, 4);
    eq!(ms.peek(PAGEZ), 3u8);
    eq!(ms.peek(0), 1u8);
    Ok(())
}

fn clone_mapping_parent_changes() -> R {
    let v = vmo(2 * PAGE)?;
    fill(v.raw(), 0, 2 * PAGEZ, 0x11)?;
    let c = clone_vmo(v.raw(), ZX_VMO_CLONE_COPY_ON_WRITE, 0, 2 * PAGE)?;
    let mc = map(c.raw(), 0, 2 * PAGEZ, ZX_VM_PERM_READ)?;
    eq!(mc.peek(0), 0x11u8);
    eq!(mc.peek(PAGEZ), 0x11u8);
    // The parent's page goes away: the clone reads the parent's current content, zero.
    zx_ok!(op(v.raw(), ZX_VMO_OP_DECOMMIT, 0, PAGE));
    eq!(mc.peek(0), 0u8);
    zx_ok!(unsafe { sys::zx_vmo_set_size(v.raw(), PAGE) });
    eq!(mc.peek(PAGEZ), 0u8);
    fill(v.raw(), 0, PAGEZ, 0x12)?;
    eq!(mc.peek(0), 0x12u8);
    Ok(())
}

fn destroy_nested() -> R {
    let outer = allocate(root_vmar(), CAN_RW | ZX_VM_CAN_MAP_SPECIFIC, 0, 16 * PAGEZ)?;
    let inner = allocate(outer.h.raw(), CAN_RW, 0, 4 * PAGEZ)?;
    let v = vmo(PAGE)?;
    let _m = map_in(inner.h.raw(), v.raw(), 0, PAGEZ, RW)?.leak();
    eq!(vmo_info(v.raw())?.num_mappings, 1usize);
    zx_ok!(unsafe { sys::zx_vmar_destroy(outer.h.raw()) });
    eq!(vmo_info(v.raw())?.num_mappings, 0usize);
    let mut addr = 0usize;
    check!(ZX_ERR_BAD_STATE, unsafe {
        sys::zx_vmar_map(inner.h.raw(), RW, 0, v.raw(), 0, PAGEZ, &mut addr)
    });
    check!(ZX_ERR_BAD_STATE, unsafe {
        sys::zx_vmar_destroy(inner.h.raw())
    });
    Ok(())
}

fn specific_overwrite() -> R {
    let sub = allocate(root_vmar(), CAN_RW | ZX_VM_CAN_MAP_SPECIFIC, 0, 8 * PAGEZ)?;
    let a = vmo(2 * PAGE)?;
    let b = vmo(PAGE)?;
    fill(a.raw(), 0, 2 * PAGEZ, 0xAA)?;
    fill(b.raw(), 0, PAGEZ, 0xBB)?;
    let addr = match map_raw(
        sub.h.raw(),
        RW | ZX_VM_SPECIFIC,
        2 * PAGEZ,
        a.raw(),
        0,
        2 * PAGEZ,
    ) {
        Ok(x) => x,
        Err(s) => fail!("SPECIFIC map: {}", sname(s)),
    };
    eq!(peek(addr), 0xAAu8);
    eq!(peek(addr + PAGEZ), 0xAAu8);
    // Replace the first page only.
    let addr2 = match map_raw(
        sub.h.raw(),
        RW | ZX_VM_SPECIFIC_OVERWRITE,
        2 * PAGEZ,
        b.raw(),
        0,
        PAGEZ,
    ) {
        Ok(x) => x,
        Err(s) => fail!("SPECIFIC_OVERWRITE map: {}", sname(s)),
    };
    eqx!(addr2, addr);
    eq!(peek(addr), 0xBBu8);
    eq!(peek(addr + PAGEZ), 0xAAu8);
    poke(addr, 0x01);
    eq!(read_byte(b.raw(), 0)?, 0x01u8);
    eq!(read_byte(a.raw(), 0)?, 0xAAu8);
    eq!(vmo_info(a.raw())?.num_mappings, 1usize);
    Ok(())
}

fn protect_part() -> R {
    let v = vmo(3 * PAGE)?;
    let m = map(v.raw(), 0, 3 * PAGEZ, RW)?;
    for p in 0..3 {
        m.poke(p * PAGEZ, 1);
    }
    zx_ok!(unsafe { sys::zx_vmar_protect(root_vmar(), ZX_VM_PERM_READ, m.addr + PAGEZ, PAGEZ) });
    m.poke(0, 2);
    m.poke(2 * PAGEZ, 2);
    eq!(m.peek(PAGEZ), 1u8);
    eq!(read_byte(v.raw(), 0)?, 2u8);
    eq!(read_byte(v.raw(), 2 * PAGE)?, 2u8);
    // Unmapping the whole range still works across the split pieces.
    zx_ok!(unsafe { sys::zx_vmar_unmap(root_vmar(), m.addr, 3 * PAGEZ) });
    m.leak();
    eq!(vmo_info(v.raw())?.num_mappings, 0usize);
    Ok(())
}

fn map_range_decommit() -> R {
    let v = vmo(2 * PAGE)?;
    fill(v.raw(), 0, 2 * PAGEZ, 0x3A)?;
    let addr = match map_raw(
        root_vmar(),
        ZX_VM_PERM_READ | ZX_VM_MAP_RANGE,
        0,
        v.raw(),
        0,
        2 * PAGEZ,
    ) {
        Ok(x) => x,
        Err(s) => fail!("MAP_RANGE map: {}", sname(s)),
    };
    let m = Mapping {
        vmar: root_vmar(),
        addr,
        len: 2 * PAGEZ,
    };
    zx_ok!(op(v.raw(), ZX_VMO_OP_DECOMMIT, 0, PAGE));
    eq!(m.peek(0), 0u8);
    eq!(m.peek(PAGEZ), 0x3Au8);
    write_all(v.raw(), 0, &[0x3B])?;
    eq!(m.peek(0), 0x3Bu8);
    Ok(())
}

fn deep_nesting() -> R {
    let depth = 64;
    let top = allocate(
        root_vmar(),
        CAN_RW | ZX_VM_CAN_MAP_SPECIFIC,
        0,
        (depth + 2) * PAGEZ,
    )?;
    let mut chain: alloc::vec::Vec<SubVmar> = alloc::vec::Vec::new();
    let v = vmo(PAGE)?;
    let mut parent = top.h.raw();
    for i in 0..depth {
        let size = (depth + 1 - i) * PAGEZ;
        let sub = match allocate(parent, CAN_RW | ZX_VM_CAN_MAP_SPECIFIC, 0, size) {
            Ok(s) => s,
            Err(e) => fail!("level {i}: {e}"),
        };
        parent = sub.h.raw();
        chain.push(sub);
    }
    let m = map_in(parent, v.raw(), 0, PAGEZ, RW)?;
    m.poke(0, 9);
    let _ = m.leak();
    zx_ok!(unsafe { sys::zx_vmar_destroy(top.h.raw()) });
    eq!(vmo_info(v.raw())?.num_mappings, 0usize);
    let mut addr = 0usize;
    check!(ZX_ERR_BAD_STATE, unsafe {
        sys::zx_vmar_map(parent, RW, 0, v.raw(), 0, PAGEZ, &mut addr)
    });
    eq!(read_byte(v.raw(), 0)?, 9u8);
    Ok(())
}

fn failed_leaves_nothing() -> R {
    let sub = allocate(root_vmar(), CAN_RW | ZX_VM_CAN_MAP_SPECIFIC, 0, 2 * PAGEZ)?;
    let v = vmo(2 * PAGE)?;
    for _ in 0..3 {
        check!(ZX_ERR_INVALID_ARGS, unsafe {
            sys::zx_vmar_map(
                sub.h.raw(),
                RW,
                0,
                v.raw(),
                0,
                2 * PAGEZ,
                UNMAPPED_ADDR as *mut usize,
            )
        });
        let mut h = 0u32;
        check!(ZX_ERR_INVALID_ARGS, unsafe {
            sys::zx_vmar_allocate(
                sub.h.raw(),
                CAN_RW,
                0,
                2 * PAGEZ,
                &mut h,
                UNMAPPED_ADDR as *mut usize,
            )
        });
        check!(ZX_ERR_INVALID_ARGS, unsafe {
            sys::zx_vmar_allocate(
                sub.h.raw(),
                CAN_RW,
                0,
                2 * PAGEZ,
                UNMAPPED_ADDR as *mut u32,
                &mut 0usize,
            )
        });
    }
    eq!(vmo_info(v.raw())?.num_mappings, 0usize);
    // The whole region is still free for a mapping and then (after it) a sub-region.
    let m = map_in(sub.h.raw(), v.raw(), 0, 2 * PAGEZ, RW)?;
    drop(m);
    let inner = allocate(sub.h.raw(), CAN_RW, 0, 2 * PAGEZ)?;
    drop(inner);
    Ok(())
}
