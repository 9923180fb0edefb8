//! Hostile arguments: bad pointers for every pointer parameter, huge lengths, unknown
//! options, random handle values, unknown syscall numbers and register garbage.

use crate::harness::Case;
use crate::util::*;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

pub const CASES: &[Case] = &[
    (
        "hostile_unknown_syscall_number_bad_syscall",
        unknown_syscall,
    ),
    (
        "hostile_garbage_in_unused_registers_ignored",
        garbage_registers,
    ),
    ("hostile_upper_bits_of_32_bit_arguments_ignored", upper_bits),
    (
        "hostile_syscall_preserves_all_registers_but_x0_x16_x17",
        registers_preserved,
    ),
    ("hostile_null_pointers_invalid_args", null_pointers),
    (
        "hostile_timer_and_cprng_extreme_arguments",
        timer_cprng_extremes,
    ),
    ("hostile_kernel_half_pointers_invalid_args", kernel_pointers),
    ("hostile_unmapped_pointers_invalid_args", unmapped_pointers),
    ("hostile_wrapping_pointers_invalid_args", wrapping_pointers),
    (
        "hostile_past_user_half_pointers_invalid_args",
        past_user_half_pointers,
    ),
    (
        "hostile_read_only_out_pointers_invalid_args",
        readonly_pointers,
    ),
    (
        "hostile_buffer_straddling_unmapped_page_invalid_args",
        straddling,
    ),
    (
        "hostile_unfaulted_mapped_page_is_a_valid_pointer",
        unfaulted_valid,
    ),
    ("hostile_huge_lengths_refused", huge_lengths),
    ("hostile_unknown_options_invalid_args", unknown_options),
    (
        "hostile_ports_events_wait_many_bounds_and_deadlines",
        ports_bounds_and_deadlines,
    ),
    ("hostile_random_handle_values_bad_handle", random_handles),
    (
        "hostile_pointer_into_shrunk_mapping_invalid_args",
        shrunk_mapping_pointer,
    ),
    (
        "hostile_commit_beyond_physical_memory_no_memory",
        commit_beyond_memory,
    ),
    ("hostile_channel_flood_refused_cleanly", channel_flood),
    (
        "hostile_socket_and_call_arguments_refused",
        socket_and_call_arguments,
    ),
    ("hostile_vmo_write_from_own_mapping", write_from_own_mapping),
    ("hostile_vmo_read_into_own_mapping", read_into_own_mapping),
    (
        "hostile_debug_send_command_not_supported_without_kdebug",
        debug_command_off,
    ),
];

// ---- raw calls and registers ---------------------------------------------------------

fn unknown_syscall() -> R {
    let garbage = [0xDEAD_BEEF_u64, 1, 2, 3, 4, 5, 6, 7];
    for num in [
        4242u64,
        ZX_SYS_COUNT as u64,
        1000,
        0xFFFF,
        u64::MAX,
        1 << 32,
        (1 << 32) | ZX_SYS_clock_get_monotonic as u64,
    ] {
        let x0 = raw_svc(num, garbage);
        let s = svc_status(x0)?;
        ensure!(
            s == ZX_ERR_BAD_SYSCALL,
            "syscall number {num:#x}: expected ZX_ERR_BAD_SYSCALL, got {}",
            sname(s)
        );
    }
    // The process and the kernel carry on.
    let v = vmo(PAGE)?;
    eq!(get_size(v.raw())?, PAGE);
    Ok(())
}

/// The test boots have no `kdebug`: the kernel's debug commands (the failing-allocation
/// knob above all) are off whatever the arguments, and checked before anything is read.
fn debug_command_off() -> R {
    let command = b"failalloc 1";
    for (ptr, len) in [
        (command.as_ptr(), command.len()),
        (core::ptr::null(), 16),
        (0xffff_0000_0000_0000usize as *const u8, 1 << 40),
    ] {
        // SAFETY: the kernel refuses before it reads anything.
        let s = unsafe { sys::zx_debug_send_command(ZX_HANDLE_INVALID, ptr, len) };
        ensure!(
            s == ZX_ERR_NOT_SUPPORTED,
            "zx_debug_send_command: expected ZX_ERR_NOT_SUPPORTED, got {}",
            sname(s)
        );
    }
    // No refusal was armed: an allocation goes through.
    let v = vmo(16 * PAGE)?;
    let s = op(v.raw(), ZX_VMO_OP_COMMIT, 0, 16 * PAGE);
    ensure!(
        s == ZX_OK,
        "commit after the refused commands: {}",
        sname(s)
    );
    eq!(committed(v.raw())?, 16 * PAGE);
    Ok(())
}

fn garbage_registers() -> R {
    let g = 0xA5A5_5A5A_DEAD_BEEFu64;
    // zx_vmo_create(size, options, out) with x3..x7 garbage.
    let mut h = 0u32;
    let x0 = raw_svc(
        ZX_SYS_vmo_create as u64,
        [PAGE, 0, &mut h as *mut u32 as u64, g, g, g, g, g],
    );
    check!(ZX_OK, svc_status(x0)?);
    let v = Owned::from_raw(h);
    // zx_vmo_get_size(h, out) with x2..x7 garbage.
    let mut size = 0u64;
    let x0 = raw_svc(
        ZX_SYS_vmo_get_size as u64,
        [
            v.raw() as u64,
            &mut size as *mut u64 as u64,
            g,
            g,
            g,
            g,
            g,
            g,
        ],
    );
    check!(ZX_OK, svc_status(x0)?);
    eq!(size, PAGE);
    // zx_handle_close(h) with x1..x7 garbage.
    let d = dup(v.raw(), ZX_RIGHT_SAME_RIGHTS)?.into_raw();
    let x0 = raw_svc(ZX_SYS_handle_close as u64, [d as u64, g, g, g, g, g, g, g]);
    check!(ZX_OK, svc_status(x0)?);
    check!(ZX_ERR_BAD_HANDLE, valid(d));
    // Calls without arguments ignore all eight.
    let t = raw_svc(ZX_SYS_clock_get_monotonic as u64, [g; 8]) as i64;
    ensure!(
        t > 0 && t <= now(),
        "zx_clock_get_monotonic with garbage registers returned {t}"
    );
    let ps = raw_svc(ZX_SYS_system_get_page_size as u64, [g; 8]);
    eq!(ps, 4096u64);
    Ok(())
}

fn upper_bits() -> R {
    let hi = 0xFFFF_FFFF_0000_0000u64;
    let v = vmo(2 * PAGE)?;
    // Handle (u32) with garbage above.
    let mut size = 0u64;
    let x0 = raw_svc(
        ZX_SYS_vmo_get_size as u64,
        [
            hi | v.raw() as u64,
            &mut size as *mut u64 as u64,
            0,
            0,
            0,
            0,
            0,
            0,
        ],
    );
    check!(ZX_OK, svc_status(x0)?);
    eq!(size, 2 * PAGE);
    // Options (u32) with garbage above.
    let mut h = 0u32;
    let x0 = raw_svc(
        ZX_SYS_vmo_create as u64,
        [PAGE, hi, &mut h as *mut u32 as u64, 0, 0, 0, 0, 0],
    );
    check!(ZX_OK, svc_status(x0)?);
    let n = Owned::from_raw(h);
    let f = vmo_info(n.raw())?.flags;
    ensure!(
        f & ZX_INFO_VMO_RESIZABLE != 0,
        "options 0 (with garbage above bit 31) made flags {f:#x}"
    );
    // Signal masks (u32) with garbage above.
    let (a, _b) = channel()?;
    let x0 = raw_svc(
        ZX_SYS_object_signal as u64,
        [
            hi | a.raw() as u64,
            hi,
            hi | ZX_USER_SIGNAL_2 as u64,
            0,
            0,
            0,
            0,
            0,
        ],
    );
    check!(ZX_OK, svc_status(x0)?);
    eqx!(signals(a.raw())?, ZX_CHANNEL_WRITABLE | ZX_USER_SIGNAL_2);
    Ok(())
}

fn registers_preserved() -> R {
    let v = vmo(3 * PAGE)?;
    let mut size = 0u64;
    let ptr = &mut size as *mut u64 as u64;
    let k = |i: u64| 0x5EED_0000_0000_0000u64 | (i << 32) | (i * 0x0101_0101);
    let x0: u64;
    let (mut o1, mut o2, mut o3, mut o4, mut o5, mut o6, mut o7) =
        (0u64, 0u64, 0u64, 0u64, 0u64, 0u64, 0u64);
    let (mut o8, mut o9, mut o10, mut o11, mut o12, mut o13, mut o14, mut o15) =
        (0u64, 0u64, 0u64, 0u64, 0u64, 0u64, 0u64, 0u64);
    let (mut o20, mut o21, mut o22, mut o23, mut o24, mut o25, mut o26, mut o27, mut o28, mut o30) =
        (0u64, 0u64, 0u64, 0u64, 0u64, 0u64, 0u64, 0u64, 0u64, 0u64);
    let mut f = [0u64; 32];
    // SAFETY: zx_vmo_get_size(v, &size); every register operand is declared.
    unsafe {
        core::arch::asm!(
            "svc #0",
            inlateout("x0") v.raw() as u64 => x0,
            inlateout("x1") ptr => o1,
            inlateout("x2") k(2) => o2,
            inlateout("x3") k(3) => o3,
            inlateout("x4") k(4) => o4,
            inlateout("x5") k(5) => o5,
            inlateout("x6") k(6) => o6,
            inlateout("x7") k(7) => o7,
            inlateout("x8") k(8) => o8,
            inlateout("x9") k(9) => o9,
            inlateout("x10") k(10) => o10,
            inlateout("x11") k(11) => o11,
            inlateout("x12") k(12) => o12,
            inlateout("x13") k(13) => o13,
            inlateout("x14") k(14) => o14,
            inlateout("x15") k(15) => o15,
            inlateout("x16") ZX_SYS_vmo_get_size as u64 => _,
            lateout("x17") _,
            inlateout("x20") k(20) => o20,
            inlateout("x21") k(21) => o21,
            inlateout("x22") k(22) => o22,
            inlateout("x23") k(23) => o23,
            inlateout("x24") k(24) => o24,
            inlateout("x25") k(25) => o25,
            inlateout("x26") k(26) => o26,
            inlateout("x27") k(27) => o27,
            inlateout("x28") k(28) => o28,
            inlateout("x30") k(30) => o30,
            inlateout("v0") k(100) => f[0],
            inlateout("v1") k(101) => f[1],
            inlateout("v2") k(102) => f[2],
            inlateout("v3") k(103) => f[3],
            inlateout("v4") k(104) => f[4],
            inlateout("v5") k(105) => f[5],
            inlateout("v6") k(106) => f[6],
            inlateout("v7") k(107) => f[7],
            inlateout("v8") k(108) => f[8],
            inlateout("v9") k(109) => f[9],
            inlateout("v10") k(110) => f[10],
            inlateout("v11") k(111) => f[11],
            inlateout("v12") k(112) => f[12],
            inlateout("v13") k(113) => f[13],
            inlateout("v14") k(114) => f[14],
            inlateout("v15") k(115) => f[15],
            inlateout("v16") k(116) => f[16],
            inlateout("v17") k(117) => f[17],
            inlateout("v18") k(118) => f[18],
            inlateout("v19") k(119) => f[19],
            inlateout("v20") k(120) => f[20],
            inlateout("v21") k(121) => f[21],
            inlateout("v22") k(122) => f[22],
            inlateout("v23") k(123) => f[23],
            inlateout("v24") k(124) => f[24],
            inlateout("v25") k(125) => f[25],
            inlateout("v26") k(126) => f[26],
            inlateout("v27") k(127) => f[27],
            inlateout("v28") k(128) => f[28],
            inlateout("v29") k(129) => f[29],
            inlateout("v30") k(130) => f[30],
            inlateout("v31") k(131) => f[31],
            options(nostack),
        );
    }
    let mut xs = [0u64; 29];
    xs[1] = o1;
    xs[2] = o2;
    xs[3] = o3;
    xs[4] = o4;
    xs[5] = o5;
    xs[6] = o6;
    xs[7] = o7;
    xs[8] = o8;
    xs[9] = o9;
    xs[10] = o10;
    xs[11] = o11;
    xs[12] = o12;
    xs[13] = o13;
    xs[14] = o14;
    xs[15] = o15;
    xs[20] = o20;
    xs[21] = o21;
    xs[22] = o22;
    xs[23] = o23;
    xs[24] = o24;
    xs[25] = o25;
    xs[26] = o26;
    xs[27] = o27;
    xs[28] = o28;
    let x = xs;
    let q = f;
    check!(ZX_OK, svc_status(x0)?);
    eq!(size, 3 * PAGE);
    let mut bad: Vec<String> = Vec::new();
    if x[1] != ptr {
        bad.push(format!("x1 {:#x} (was {ptr:#x})", x[1]));
    }
    for i in (2..=15).chain(20..=28) {
        if x[i] != k(i as u64) {
            bad.push(format!("x{i} {:#x} (was {:#x})", x[i], k(i as u64)));
        }
    }
    if o30 != k(30) {
        bad.push(format!("x30 {o30:#x} (was {:#x})", k(30)));
    }
    for (i, got) in q.iter().enumerate() {
        if *got != k(100 + i as u64) {
            bad.push(format!("d{i} {got:#x} (was {:#x})", k(100 + i as u64)));
        }
    }
    ensure!(
        bad.is_empty(),
        "registers changed by a syscall: {}",
        bad.join(", ")
    );
    Ok(())
}

// ---- pointer tables ------------------------------------------------------------------

/// Whether the pointer is written by the kernel (out) or only read (in).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Dir {
    In,
    Out,
    /// An out pointer Zircon lets the caller pass as NULL (actual/avail/observed): NULL is
    /// not tried.
    OptionalOut,
}

type PtrFn = fn(usize) -> Result<i32, String>;

const PTR_CASES: &[(&str, Dir, PtrFn)] = &[
    ("zx_vmo_create.out", Dir::Out, |p| {
        Ok(unsafe { sys::zx_vmo_create(PAGE, 0, p as *mut _) })
    }),
    ("zx_vmo_read.buffer", Dir::Out, |p| {
        let v = vmo(PAGE)?;
        Ok(unsafe { sys::zx_vmo_read(v.raw(), p as *mut _, 0, 16) })
    }),
    ("zx_vmo_write.buffer", Dir::In, |p| {
        let v = vmo(PAGE)?;
        Ok(unsafe { sys::zx_vmo_write(v.raw(), p as *const _, 0, 16) })
    }),
    ("zx_vmo_get_size.size", Dir::Out, |p| {
        let v = vmo(PAGE)?;
        Ok(unsafe { sys::zx_vmo_get_size(v.raw(), p as *mut _) })
    }),
    ("zx_vmo_clone.out", Dir::Out, |p| {
        let v = vmo(PAGE)?;
        let s =
            unsafe { sys::zx_vmo_clone(v.raw(), ZX_VMO_CLONE_COPY_ON_WRITE, 0, PAGE, p as *mut _) };
        no_children(&v, s)
    }),
    ("zx_vmo_create_child.out", Dir::Out, |p| {
        let v = vmo(PAGE)?;
        let s = unsafe {
            sys::zx_vmo_create_child(v.raw(), ZX_VMO_CHILD_SNAPSHOT, 0, PAGE, p as *mut _)
        };
        no_children(&v, s)
    }),
    ("zx_handle_duplicate.out", Dir::Out, |p| {
        let v = vmo(PAGE)?;
        let s = unsafe { sys::zx_handle_duplicate(v.raw(), ZX_RIGHT_SAME_RIGHTS, p as *mut _) };
        if s != ZX_OK && handle_count(v.raw())? != 1 {
            return Err(String::from("a handle was leaked"));
        }
        Ok(s)
    }),
    ("zx_handle_replace.out", Dir::Out, |p| {
        let v = vmo(PAGE)?;
        let d = dup(v.raw(), ZX_RIGHT_SAME_RIGHTS)?.into_raw();
        let s = unsafe { sys::zx_handle_replace(d, ZX_RIGHT_SAME_RIGHTS, p as *mut _) };
        if s != ZX_OK && handle_count(v.raw())? != 1 {
            return Err(String::from("a handle was leaked"));
        }
        Ok(s)
    }),
    ("zx_handle_close_many.handles", Dir::In, |p| {
        Ok(unsafe { sys::zx_handle_close_many(p as *const _, 4) })
    }),
    ("zx_object_get_property.value", Dir::Out, |p| {
        let v = vmo(PAGE)?;
        Ok(unsafe { sys::zx_object_get_property(v.raw(), ZX_PROP_NAME, p as *mut _, 32) })
    }),
    ("zx_object_set_property.value", Dir::In, |p| {
        let v = vmo(PAGE)?;
        Ok(unsafe { sys::zx_object_set_property(v.raw(), ZX_PROP_NAME, p as *const _, 8) })
    }),
    ("zx_object_get_info.buffer", Dir::Out, |p| {
        let v = vmo(PAGE)?;
        let (mut a, mut b) = (0usize, 0usize);
        Ok(unsafe {
            sys::zx_object_get_info(
                v.raw(),
                ZX_INFO_HANDLE_BASIC,
                p as *mut _,
                32,
                &mut a,
                &mut b,
            )
        })
    }),
    ("zx_object_get_info.actual", Dir::OptionalOut, |p| {
        let v = vmo(PAGE)?;
        let mut buf = [0u8; 32];
        let mut b = 0usize;
        Ok(unsafe {
            sys::zx_object_get_info(
                v.raw(),
                ZX_INFO_HANDLE_BASIC,
                buf.as_mut_ptr().cast(),
                32,
                p as *mut _,
                &mut b,
            )
        })
    }),
    ("zx_object_get_info.avail", Dir::OptionalOut, |p| {
        let v = vmo(PAGE)?;
        let mut buf = [0u8; 32];
        let mut a = 0usize;
        Ok(unsafe {
            sys::zx_object_get_info(
                v.raw(),
                ZX_INFO_HANDLE_BASIC,
                buf.as_mut_ptr().cast(),
                32,
                &mut a,
                p as *mut _,
            )
        })
    }),
    ("zx_object_wait_one.observed", Dir::OptionalOut, |p| {
        let v = vmo(PAGE)?;
        Ok(unsafe { sys::zx_object_wait_one(v.raw(), ZX_VMO_ZERO_CHILDREN, 0, p as *mut _) })
    }),
    ("zx_vmar_map.mapped_addr", Dir::Out, |p| {
        let v = vmo(PAGE)?;
        let s = unsafe {
            sys::zx_vmar_map(
                root_vmar(),
                ZX_VM_PERM_READ,
                0,
                v.raw(),
                0,
                PAGEZ,
                p as *mut _,
            )
        };
        if s != ZX_OK && vmo_info(v.raw())?.num_mappings != 0 {
            return Err(format!("{} but a mapping was left behind", sname(s)));
        }
        Ok(s)
    }),
    ("zx_vmar_allocate.child_vmar", Dir::Out, |p| {
        let mut a = 0usize;
        Ok(unsafe {
            sys::zx_vmar_allocate(
                root_vmar(),
                ZX_VM_CAN_MAP_READ,
                0,
                PAGEZ,
                p as *mut _,
                &mut a,
            )
        })
    }),
    ("zx_vmar_allocate.child_addr", Dir::Out, |p| {
        let mut h = 0u32;
        Ok(unsafe {
            sys::zx_vmar_allocate(
                root_vmar(),
                ZX_VM_CAN_MAP_READ,
                0,
                PAGEZ,
                &mut h,
                p as *mut _,
            )
        })
    }),
    ("zx_process_create.name", Dir::In, |p| {
        let (mut a, mut b) = (0u32, 0u32);
        Ok(unsafe {
            sys::zx_process_create(
                zx::startup::job_default(),
                p as *const _,
                4,
                0,
                &mut a,
                &mut b,
            )
        })
    }),
    ("zx_process_create.proc_handle", Dir::Out, |p| {
        let mut b = 0u32;
        let n = b"hostile";
        Ok(unsafe {
            sys::zx_process_create(
                zx::startup::job_default(),
                n.as_ptr().cast(),
                n.len(),
                0,
                p as *mut _,
                &mut b,
            )
        })
    }),
    ("zx_process_create.vmar_handle", Dir::Out, |p| {
        let mut a = 0u32;
        let n = b"hostile";
        Ok(unsafe {
            sys::zx_process_create(
                zx::startup::job_default(),
                n.as_ptr().cast(),
                n.len(),
                0,
                &mut a,
                p as *mut _,
            )
        })
    }),
    ("zx_job_create.out", Dir::Out, |p| {
        Ok(unsafe { sys::zx_job_create(zx::startup::job_default(), 0, p as *mut _) })
    }),
    ("zx_object_get_child.out", Dir::Out, |p| {
        // This process's own koid as a child of its job: found, so only `out` can fail.
        let koid = koid_of(proc_self())?;
        Ok(unsafe {
            sys::zx_object_get_child(
                zx::startup::job_default(),
                koid,
                ZX_RIGHT_SAME_RIGHTS,
                p as *mut _,
            )
        })
    }),
    ("zx_object_get_info.job_processes", Dir::Out, |p| {
        let (mut a, mut v) = (0usize, 0usize);
        Ok(unsafe {
            sys::zx_object_get_info(
                zx::startup::job_default(),
                ZX_INFO_JOB_PROCESSES,
                p as *mut _,
                8,
                &mut a,
                &mut v,
            )
        })
    }),
    ("zx_thread_create.name", Dir::In, |p| {
        let mut t = 0u32;
        Ok(unsafe { sys::zx_thread_create(proc_self(), p as *const _, 4, 0, &mut t) })
    }),
    ("zx_thread_create.out", Dir::Out, |p| {
        let n = b"hostile";
        Ok(unsafe {
            sys::zx_thread_create(proc_self(), n.as_ptr().cast(), n.len(), 0, p as *mut _)
        })
    }),
    ("zx_channel_create.out0", Dir::Out, |p| {
        let mut b = 0u32;
        Ok(unsafe { sys::zx_channel_create(0, p as *mut _, &mut b) })
    }),
    ("zx_channel_create.out1", Dir::Out, |p| {
        let mut a = 0u32;
        Ok(unsafe { sys::zx_channel_create(0, &mut a, p as *mut _) })
    }),
    ("zx_event_create.out", Dir::Out, |p| {
        Ok(unsafe { sys::zx_event_create(0, p as *mut _) })
    }),
    ("zx_eventpair_create.out0", Dir::Out, |p| {
        let mut b = 0u32;
        Ok(unsafe { sys::zx_eventpair_create(0, p as *mut _, &mut b) })
    }),
    ("zx_eventpair_create.out1", Dir::Out, |p| {
        let mut a = 0u32;
        Ok(unsafe { sys::zx_eventpair_create(0, &mut a, p as *mut _) })
    }),
    ("zx_port_create.out", Dir::Out, |p| {
        Ok(unsafe { sys::zx_port_create(0, p as *mut _) })
    }),
    ("zx_port_queue.packet", Dir::In, |p| {
        let port = new_port()?;
        Ok(unsafe { sys::zx_port_queue(port.raw(), p as *const _) })
    }),
    ("zx_port_wait.packet", Dir::Out, |p| {
        let port = new_port()?;
        let packet = zx_port_packet_t::default();
        unsafe { sys::zx_port_queue(port.raw(), &packet) };
        Ok(unsafe { sys::zx_port_wait(port.raw(), ZX_TIME_INFINITE, p as *mut _) })
    }),
    ("zx_object_wait_many.items", Dir::In, |p| {
        Ok(unsafe { sys::zx_object_wait_many(p as *mut _, 2, ZX_TIME_INFINITE) })
    }),
    ("zx_channel_write.bytes", Dir::In, |p| {
        let (a, _b) = channel()?;
        let h = [0u32; 1];
        Ok(unsafe { sys::zx_channel_write(a.raw(), 0, p as *const _, 16, h.as_ptr(), 0) })
    }),
    ("zx_channel_write.handles", Dir::In, |p| {
        let (a, _b) = channel()?;
        let bytes = [0u8; 4];
        Ok(
            unsafe {
                sys::zx_channel_write(a.raw(), 0, bytes.as_ptr().cast(), 4, p as *const _, 2)
            },
        )
    }),
    ("zx_channel_read.bytes", Dir::Out, |p| {
        let (a, b) = channel()?;
        if ch_write(a.raw(), b"data", &[]) != ZX_OK {
            return Err(String::from("setup write"));
        }
        let mut h = [0u32; 1];
        let (mut ab, mut ah) = (0u32, 0u32);
        Ok(unsafe {
            sys::zx_channel_read(
                b.raw(),
                0,
                p as *mut _,
                h.as_mut_ptr(),
                16,
                1,
                &mut ab,
                &mut ah,
            )
        })
    }),
    ("zx_channel_read.handles", Dir::Out, |p| {
        let (a, b) = channel()?;
        let v = vmo(0)?;
        if ch_write(a.raw(), b"h", &[v.into_raw()]) != ZX_OK {
            return Err(String::from("setup write"));
        }
        let mut bytes = [0u8; 4];
        let (mut ab, mut ah) = (0u32, 0u32);
        Ok(unsafe {
            sys::zx_channel_read(
                b.raw(),
                0,
                bytes.as_mut_ptr().cast(),
                p as *mut _,
                4,
                2,
                &mut ab,
                &mut ah,
            )
        })
    }),
    ("zx_channel_read.actual_bytes", Dir::OptionalOut, |p| {
        let (a, b) = channel()?;
        if ch_write(a.raw(), b"data", &[]) != ZX_OK {
            return Err(String::from("setup write"));
        }
        let mut bytes = [0u8; 4];
        let mut h = [0u32; 1];
        let mut ah = 0u32;
        Ok(unsafe {
            sys::zx_channel_read(
                b.raw(),
                0,
                bytes.as_mut_ptr().cast(),
                h.as_mut_ptr(),
                4,
                1,
                p as *mut _,
                &mut ah,
            )
        })
    }),
    ("zx_channel_read.actual_handles", Dir::OptionalOut, |p| {
        let (a, b) = channel()?;
        if ch_write(a.raw(), b"data", &[]) != ZX_OK {
            return Err(String::from("setup write"));
        }
        let mut bytes = [0u8; 4];
        let mut h = [0u32; 1];
        let mut ab = 0u32;
        Ok(unsafe {
            sys::zx_channel_read(
                b.raw(),
                0,
                bytes.as_mut_ptr().cast(),
                h.as_mut_ptr(),
                4,
                1,
                &mut ab,
                p as *mut _,
            )
        })
    }),
    ("zx_debug_write.buffer", Dir::In, |p| {
        Ok(unsafe { sys::zx_debug_write(p as *const _, 16) })
    }),
    // The futex word is read (never written); the deadline would not be reached.
    ("zx_futex_wait.value_ptr", Dir::In, |p| {
        Ok(unsafe { sys::zx_futex_wait(p as *const _, 0, ZX_HANDLE_INVALID, ZX_TIME_INFINITE) })
    }),
    ("zx_futex_requeue.value_ptr", Dir::In, |p| {
        let other = core::sync::atomic::AtomicI32::new(0);
        Ok(unsafe {
            sys::zx_futex_requeue(p as *const _, 1, 0, other.as_ptr(), 1, ZX_HANDLE_INVALID)
        })
    }),
    ("zx_socket_create.out1", Dir::Out, |p| {
        let mut a = 0u32;
        Ok(unsafe { sys::zx_socket_create(0, &mut a, p as *mut _) })
    }),
    ("zx_socket_write.buffer", Dir::In, |p| {
        let (a, b) = crate::t_socket::socket(0)?;
        let s =
            unsafe { sys::zx_socket_write(a.raw(), 0, p as *const _, 16, core::ptr::null_mut()) };
        if signals(b.raw())? & ZX_SOCKET_READABLE != 0 {
            return Err(String::from("a refused write queued bytes"));
        }
        Ok(s)
    }),
    ("zx_socket_write.actual", Dir::OptionalOut, |p| {
        let (a, _b) = crate::t_socket::socket(0)?;
        Ok(unsafe { sys::zx_socket_write(a.raw(), 0, b"data".as_ptr(), 4, p as *mut _) })
    }),
    ("zx_socket_read.buffer", Dir::Out, |p| {
        let (a, b) = crate::t_socket::socket(ZX_SOCKET_DATAGRAM)?;
        crate::t_socket::sk_write(a.raw(), b"0123456789abcdef");
        let s = unsafe { sys::zx_socket_read(b.raw(), 0, p as *mut _, 16, core::ptr::null_mut()) };
        if crate::t_socket::sk_read(b.raw(), 64, 0).1.len() != 16 {
            return Err(String::from("a faulting read lost the datagram"));
        }
        Ok(s)
    }),
    ("zx_socket_read.actual", Dir::OptionalOut, |p| {
        let (a, b) = crate::t_socket::socket(0)?;
        crate::t_socket::sk_write(a.raw(), b"data");
        let mut buf = [0u8; 4];
        Ok(unsafe { sys::zx_socket_read(b.raw(), 0, buf.as_mut_ptr(), 4, p as *mut _) })
    }),
    ("zx_channel_call.args", Dir::In, |p| {
        let (a, b) = channel()?;
        let mut ab = 0u32;
        let mut ah = 0u32;
        let s = unsafe { sys::zx_channel_call(a.raw(), 0, 0, p as *const _, &mut ab, &mut ah) };
        if signals(b.raw())? & ZX_CHANNEL_READABLE != 0 {
            return Err(String::from("a refused call sent its request"));
        }
        Ok(s)
    }),
    ("zx_channel_call.actual_bytes", Dir::OptionalOut, |p| {
        let (a, b) = channel()?;
        let args = zx_channel_call_args_t {
            wr_bytes: b"abcd".as_ptr() as usize,
            wr_num_bytes: 4,
            ..Default::default()
        };
        let mut ah = 0u32;
        let s = unsafe { sys::zx_channel_call(a.raw(), 0, 0, &args, p as *mut _, &mut ah) };
        if signals(b.raw())? & ZX_CHANNEL_READABLE != 0 {
            return Err(String::from("a refused call sent its request"));
        }
        Ok(s)
    }),
    ("zx_channel_call.wr_bytes", Dir::In, |p| {
        let (a, b) = channel()?;
        let args = zx_channel_call_args_t {
            wr_bytes: p,
            wr_num_bytes: 16,
            ..Default::default()
        };
        let (mut ab, mut ah) = (0u32, 0u32);
        let s = unsafe { sys::zx_channel_call(a.raw(), 0, 0, &args, &mut ab, &mut ah) };
        if signals(b.raw())? & ZX_CHANNEL_READABLE != 0 {
            return Err(String::from("a refused call sent its request"));
        }
        Ok(s)
    }),
];

/// After a failed clone/child with a bad out pointer: no child may exist.
fn no_children(v: &Owned, s: i32) -> Result<i32, String> {
    if s != ZX_OK {
        let n = vmo_info(v.raw())?.num_children;
        if n != 0 || signals(v.raw())? & ZX_VMO_ZERO_CHILDREN == 0 {
            return Err(format!(
                "{} but a child was left behind ({n} children)",
                sname(s)
            ));
        }
    }
    Ok(s)
}

/// Runs every pointer case with pointer `p` (in-pointers only if `with_in`, optional
/// out-pointers only if `with_optional`); each must give INVALID_ARGS.
fn run_ptr_table(p: usize, with_in: bool, with_optional: bool) -> R {
    let mut fails: Vec<String> = Vec::new();
    for (name, dir, f) in PTR_CASES {
        if (*dir == Dir::In && !with_in) || (*dir == Dir::OptionalOut && !with_optional) {
            continue;
        }
        match f(p) {
            Ok(s) if s == ZX_ERR_INVALID_ARGS => {}
            Ok(s) => fails.push(format!("{name}: {}", sname(s))),
            Err(e) => fails.push(format!("{name}: {e}")),
        }
    }
    ensure!(
        fails.is_empty(),
        "pointer {p:#x}: expected ZX_ERR_INVALID_ARGS, got: {}",
        fails.join("; ")
    );
    Ok(())
}

fn null_pointers() -> R {
    run_ptr_table(0, true, false)
}

fn kernel_pointers() -> R {
    run_ptr_table(KERNEL_ADDR, true, true)?;
    run_ptr_table(0xFFFF_FFFF_FFFF_F000, true, true)
}

fn unmapped_pointers() -> R {
    run_ptr_table(UNMAPPED_ADDR, true, true)?;
    // Below the root VMAR.
    run_ptr_table(0x1000, true, true)
}

fn wrapping_pointers() -> R {
    run_ptr_table(usize::MAX - 7, true, true)
}

fn past_user_half_pointers() -> R {
    // The last 8 bytes of the user half: every access of 16 or more bytes runs past it.
    let p = 0x0000_8000_0000_0000usize - 8;
    run_ptr_table(p, true, true)?;
    run_ptr_table(0x0000_8000_0000_0000, true, true)
}

fn readonly_pointers() -> R {
    run_ptr_table(rodata_addr(), false, true)?;
    // A read-only mapping of a VMO (even one whose pages are not faulted in yet).
    let v = vmo(PAGE)?;
    let m = map(v.raw(), 0, PAGEZ, ZX_VM_PERM_READ)?;
    run_ptr_table(m.addr + 64, false, true)?;
    eq!(committed(v.raw())?, 0u64);
    // A read-only mapping is a fine source.
    let w = vmo(PAGE)?;
    zx_ok!(unsafe { sys::zx_vmo_write(w.raw(), rodata_addr() as *const _, 0, 16) });
    expect_all(&read_vec(w.raw(), 0, 16)?, 0x5A, "copied from .rodata")?;
    Ok(())
}

fn straddling() -> R {
    // Two pages of address space with only the first mapped.
    let sub = allocate(
        root_vmar(),
        ZX_VM_CAN_MAP_READ | ZX_VM_CAN_MAP_WRITE | ZX_VM_CAN_MAP_SPECIFIC,
        0,
        2 * PAGEZ,
    )?;
    let v = vmo(PAGE)?;
    let addr = match map_raw(sub.h.raw(), RW | ZX_VM_SPECIFIC, 0, v.raw(), 0, PAGEZ) {
        Ok(a) => a,
        Err(s) => fail!("SPECIFIC map: {}", sname(s)),
    };
    let p = addr + PAGEZ - 8;
    let src = vmo(PAGE)?;
    fill(src.raw(), 0, PAGEZ, 0x44)?;
    check!(ZX_ERR_INVALID_ARGS, unsafe {
        sys::zx_vmo_read(src.raw(), p as *mut _, 0, 16)
    });
    check!(ZX_ERR_INVALID_ARGS, unsafe {
        sys::zx_vmo_write(src.raw(), p as *const _, 0, 16)
    });
    check!(ZX_ERR_INVALID_ARGS, unsafe {
        sys::zx_debug_write(p as *const _, 16)
    });
    let (a, _b) = channel()?;
    check!(ZX_ERR_INVALID_ARGS, unsafe {
        sys::zx_channel_write(a.raw(), 0, p as *const _, 16, [0u32].as_ptr(), 0)
    });
    // The same calls within the mapped page work.
    zx_ok!(unsafe { sys::zx_vmo_read(src.raw(), p as *mut _, 0, 8) });
    eq!(peek_vec(p, 8), alloc::vec![0x44u8; 8]);
    // The failed write did not change the source VMO.
    expect_all(
        &read_vec(src.raw(), 0, PAGEZ)?,
        0x44,
        "source after refused write",
    )?;
    Ok(())
}

fn unfaulted_valid() -> R {
    let dst = vmo(4 * PAGE)?;
    let m = map(dst.raw(), 0, 4 * PAGEZ, RW)?;
    eq!(committed(dst.raw())?, 0u64);
    let src = vmo(2 * PAGE)?;
    fill(src.raw(), 0, 2 * PAGEZ, 0x6B)?;
    // A read spanning two untouched pages of the destination mapping.
    zx_ok!(unsafe { sys::zx_vmo_read(src.raw(), m.ptr(PAGEZ - 100).cast(), 0, 2 * PAGEZ) });
    eq!(m.peek(PAGEZ - 100), 0x6Bu8);
    eq!(m.peek(3 * PAGEZ - 101), 0x6Bu8);
    // Out pointers of other calls into another untouched page.
    zx_ok!(unsafe { sys::zx_vmo_get_size(src.raw(), m.ptr(3 * PAGEZ + 8).cast()) });
    eq!(peek_u64(m.addr + 3 * PAGEZ + 8), 2 * PAGE);
    // An untouched page as an in-buffer reads zeros.
    let w = vmo(PAGE)?;
    fill(w.raw(), 0, 64, 0xFF)?;
    let m2 = map(vmo(PAGE)?.raw(), 0, PAGEZ, ZX_VM_PERM_READ)?;
    zx_ok!(unsafe { sys::zx_vmo_write(w.raw(), m2.ptr(0).cast(), 0, 64) });
    expect_all(
        &read_vec(w.raw(), 0, 64)?,
        0,
        "written from an untouched page",
    )?;
    Ok(())
}

fn huge_lengths() -> R {
    let v = vmo(PAGE)?;
    let mut buf = [0u8; 64];
    let mut fails: Vec<String> = Vec::new();
    let mut expect = |name: &str, got: i32, allowed: &[i32]| {
        if !allowed.contains(&got) {
            let names: Vec<String> = allowed.iter().map(|s| sname(*s)).collect();
            fails.push(format!(
                "{name}: expected {}, got {}",
                names.join("/"),
                sname(got)
            ));
        }
    };
    let ia_oor = [ZX_ERR_INVALID_ARGS, ZX_ERR_OUT_OF_RANGE];
    for len in [usize::MAX, usize::MAX / 2, 1usize << 40] {
        expect(
            "zx_vmo_read(len huge)",
            unsafe { sys::zx_vmo_read(v.raw(), buf.as_mut_ptr().cast(), 0, len) },
            &ia_oor,
        );
        expect(
            "zx_vmo_write(len huge)",
            unsafe { sys::zx_vmo_write(v.raw(), buf.as_ptr().cast(), 0, len) },
            &ia_oor,
        );
        expect(
            "zx_debug_write(len huge)",
            unsafe { sys::zx_debug_write(buf.as_ptr().cast(), len) },
            &ia_oor,
        );
        expect(
            "zx_handle_close_many(n huge)",
            unsafe { sys::zx_handle_close_many([0u32; 4].as_ptr(), len) },
            &ia_oor,
        );
        expect(
            "zx_object_set_property(size huge)",
            unsafe { sys::zx_object_set_property(v.raw(), ZX_PROP_NAME, buf.as_ptr().cast(), len) },
            &[ZX_ERR_INVALID_ARGS, ZX_ERR_OUT_OF_RANGE, ZX_OK],
        );
    }
    let (a, b) = channel()?;
    expect(
        "zx_channel_write(num_handles u32::MAX)",
        unsafe {
            sys::zx_channel_write(
                a.raw(),
                0,
                buf.as_ptr().cast(),
                4,
                [0u32; 4].as_ptr(),
                u32::MAX,
            )
        },
        &[ZX_ERR_OUT_OF_RANGE],
    );
    expect(
        "zx_channel_write(num_bytes u32::MAX)",
        unsafe {
            sys::zx_channel_write(
                a.raw(),
                0,
                buf.as_ptr().cast(),
                u32::MAX,
                [0u32; 4].as_ptr(),
                0,
            )
        },
        &[ZX_ERR_OUT_OF_RANGE],
    );
    let mut addr = 0usize;
    expect(
        "zx_vmar_map(len usize::MAX)",
        unsafe {
            sys::zx_vmar_map(
                root_vmar(),
                ZX_VM_PERM_READ,
                0,
                v.raw(),
                0,
                usize::MAX,
                &mut addr,
            )
        },
        &[ZX_ERR_INVALID_ARGS, ZX_ERR_OUT_OF_RANGE, ZX_ERR_NO_MEMORY],
    );
    let mut child = 0u32;
    expect(
        "zx_vmar_allocate(size 1<<47)",
        unsafe {
            sys::zx_vmar_allocate(
                root_vmar(),
                ZX_VM_CAN_MAP_READ,
                0,
                1 << 47,
                &mut child,
                &mut addr,
            )
        },
        &[ZX_ERR_INVALID_ARGS, ZX_ERR_NO_MEMORY],
    );
    expect(
        "zx_vmar_unmap(len usize::MAX)",
        unsafe { sys::zx_vmar_unmap(root_vmar(), 0x0100_0000, usize::MAX) },
        &[ZX_ERR_INVALID_ARGS],
    );
    drop(b);
    ensure!(fails.is_empty(), "{}", fails.join("; "));
    // Still alive and well.
    write_all(v.raw(), 0, b"ok")?;
    Ok(())
}

fn unknown_options() -> R {
    let v = vmo(PAGE)?;
    let (a, b) = channel()?;
    let mut fails: Vec<String> = Vec::new();
    let mut expect = |name: &str, got: i32| {
        if got != ZX_ERR_INVALID_ARGS {
            fails.push(format!("{name}: {}", sname(got)));
        }
    };
    let mut h = 0u32;
    let mut h2 = 0u32;
    let mut addr = 0usize;
    let name = b"x";
    expect("zx_vmo_create(2)", unsafe {
        sys::zx_vmo_create(PAGE, 2, &mut h)
    });
    expect("zx_vmo_clone(COW|1<<3)", unsafe {
        sys::zx_vmo_clone(v.raw(), 1 | 1 << 3, 0, PAGE, &mut h)
    });
    expect("zx_vmo_create_child(SNAPSHOT|1<<1)", unsafe {
        sys::zx_vmo_create_child(v.raw(), 1 | 1 << 1, 0, PAGE, &mut h)
    });
    expect("zx_vmar_map(1<<20)", unsafe {
        sys::zx_vmar_map(
            root_vmar(),
            ZX_VM_PERM_READ | 1 << 20,
            0,
            v.raw(),
            0,
            PAGEZ,
            &mut addr,
        )
    });
    expect("zx_vmar_allocate(1<<20)", unsafe {
        sys::zx_vmar_allocate(
            root_vmar(),
            ZX_VM_CAN_MAP_READ | 1 << 20,
            0,
            PAGEZ,
            &mut h,
            &mut addr,
        )
    });
    expect("zx_channel_create(1)", unsafe {
        sys::zx_channel_create(1, &mut h, &mut h2)
    });
    expect("zx_channel_write(options 1)", unsafe {
        sys::zx_channel_write(a.raw(), 1, name.as_ptr().cast(), 1, [0u32].as_ptr(), 0)
    });
    zx_ok!(ch_write(a.raw(), b"m", &[]));
    let mut bytes = [0u8; 4];
    let mut hs = [0u32; 1];
    let (mut ab, mut ah) = (0u32, 0u32);
    expect("zx_channel_read(options 1<<8)", unsafe {
        sys::zx_channel_read(
            b.raw(),
            1 << 8,
            bytes.as_mut_ptr().cast(),
            hs.as_mut_ptr(),
            4,
            1,
            &mut ab,
            &mut ah,
        )
    });
    expect("zx_job_create(options 1)", unsafe {
        sys::zx_job_create(zx::startup::job_default(), 1, &mut h)
    });
    expect("zx_process_create(options 1)", unsafe {
        sys::zx_process_create(
            zx::startup::job_default(),
            name.as_ptr().cast(),
            1,
            1,
            &mut h,
            &mut h2,
        )
    });
    expect("zx_thread_create(options 1)", unsafe {
        sys::zx_thread_create(proc_self(), name.as_ptr().cast(), 1, 1, &mut h)
    });
    let m = map(v.raw(), 0, PAGEZ, RW)?;
    expect("zx_vmar_protect(1<<20)", unsafe {
        sys::zx_vmar_protect(root_vmar(), ZX_VM_PERM_READ | 1 << 20, m.addr, PAGEZ)
    });
    ensure!(
        fails.is_empty(),
        "expected ZX_ERR_INVALID_ARGS: {}",
        fails.join("; ")
    );
    // The message is still there.
    eq!(ch_read(b.raw(), 4, 1).bytes, b"m".to_vec());
    Ok(())
}

fn random_handles() -> R {
    let mut mine: Vec<u32> = alloc::vec![proc_self(), root_vmar()];
    let keep = vmo(PAGE)?;
    mine.push(keep.raw());
    let mut fails: Vec<String> = Vec::new();
    for i in 0..2000 {
        let r = rand_u64() as u32;
        let h = if i % 2 == 0 { r | 0b11 } else { r & !0b11 };
        if mine.contains(&h) || h == ZX_HANDLE_INVALID {
            continue;
        }
        let s = valid(h);
        let mut size = 0u64;
        let s2 = unsafe { sys::zx_vmo_get_size(h, &mut size) };
        if s != ZX_ERR_BAD_HANDLE || s2 != ZX_ERR_BAD_HANDLE {
            fails.push(format!("{h:#x}: {}/{}", sname(s), sname(s2)));
            if fails.len() > 5 {
                break;
            }
        }
    }
    ensure!(
        fails.is_empty(),
        "random values not refused with BAD_HANDLE: {}",
        fails.join(", ")
    );
    Ok(())
}

fn write_from_own_mapping() -> R {
    let v = vmo(2 * PAGE)?;
    let m = map(v.raw(), 0, 2 * PAGEZ, RW)?;
    for i in 0..PAGEZ {
        m.poke(i, (i % 251) as u8);
    }
    // Source: page 0 of the mapping; destination: page 1 of the same VMO.
    zx_ok!(unsafe { sys::zx_vmo_write(v.raw(), m.ptr(0).cast(), PAGE, PAGEZ) });
    for i in (0..PAGEZ).step_by(97) {
        eq!(m.peek(PAGEZ + i), (i % 251) as u8);
    }
    // Source untouched (never faulted) page of a VMO written into itself.
    let w = vmo(2 * PAGE)?;
    let mw = map(w.raw(), 0, 2 * PAGEZ, ZX_VM_PERM_READ)?;
    fill(w.raw(), 0, PAGEZ, 0x12)?;
    zx_ok!(unsafe { sys::zx_vmo_write(w.raw(), mw.ptr(PAGEZ).cast(), 0, PAGEZ) });
    expect_all(
        &read_vec(w.raw(), 0, PAGEZ)?,
        0,
        "page 0 overwritten from page 1",
    )?;
    Ok(())
}

fn read_into_own_mapping() -> R {
    let v = vmo(2 * PAGE)?;
    fill(v.raw(), 0, PAGEZ, 0x3D)?;
    let m = map(v.raw(), 0, 2 * PAGEZ, RW)?;
    // Destination: page 1 of the mapping, not faulted in yet; source: page 0 of the VMO.
    zx_ok!(unsafe { sys::zx_vmo_read(v.raw(), m.ptr(PAGEZ).cast(), 0, PAGEZ) });
    expect_all(
        &peek_vec(m.addr + PAGEZ, PAGEZ),
        0x3D,
        "page 1 read into from page 0",
    )?;
    // Overlapping source and destination in the same page.
    zx_ok!(unsafe { sys::zx_vmo_read(v.raw(), m.ptr(16).cast(), 0, 64) });
    eq!(m.peek(16), 0x3Du8);
    // A clone read into a mapping of its parent (copy-on-write in the other direction).
    let c = clone_vmo(v.raw(), ZX_VMO_CLONE_COPY_ON_WRITE, 0, 2 * PAGE)?;
    fill(c.raw(), 0, 32, 0x4E)?;
    zx_ok!(unsafe { sys::zx_vmo_read(c.raw(), m.ptr(0).cast(), 0, 32) });
    expect_all(
        &read_vec(v.raw(), 0, 32)?,
        0x4E,
        "parent written from its clone",
    )?;
    Ok(())
}

fn shrunk_mapping_pointer() -> R {
    let v = vmo(2 * PAGE)?;
    let m = map(v.raw(), 0, 2 * PAGEZ, RW)?;
    m.poke(0, 1);
    m.poke(PAGEZ, 1);
    zx_ok!(unsafe { sys::zx_vmo_set_size(v.raw(), PAGE) });
    let src = vmo(PAGE)?;
    check!(ZX_ERR_INVALID_ARGS, unsafe {
        sys::zx_vmo_read(src.raw(), m.ptr(PAGEZ), 0, 16)
    });
    check!(ZX_ERR_INVALID_ARGS, unsafe {
        sys::zx_vmo_write(src.raw(), m.ptr(PAGEZ), 0, 16)
    });
    check!(ZX_ERR_INVALID_ARGS, unsafe {
        sys::zx_vmo_get_size(src.raw(), m.ptr(PAGEZ + 8).cast())
    });
    // Straddling the new end.
    check!(ZX_ERR_INVALID_ARGS, unsafe {
        sys::zx_vmo_read(src.raw(), m.ptr(PAGEZ - 8), 0, 16)
    });
    zx_ok!(unsafe { sys::zx_vmo_read(src.raw(), m.ptr(PAGEZ - 8), 0, 8) });
    Ok(())
}

fn commit_beyond_memory() -> R {
    let before = kmem()?;
    let size = (before.total_bytes * 2 + PAGE) & !(PAGE - 1);
    let v = vmo(size)?;
    let start = now();
    check!(ZX_ERR_NO_MEMORY, op(v.raw(), ZX_VMO_OP_COMMIT, 0, size));
    let took = now() - start;
    // A failing call changes nothing: no page stays committed, all memory comes back.
    eq!(committed(v.raw())?, 0u64);
    let after = kmem()?;
    // Pages the kernel heap grew by (and keeps, free, for later) count as returned.
    let avail = |k: &zx_info_kmem_stats_t| k.free_bytes + k.free_heap_bytes;
    ensure!(
        avail(&after) + 64 * PAGE >= avail(&before) && after.vmo_bytes <= before.vmo_bytes + 64 * PAGE,
        "after a refused commit ({} ms): free {:#x} -> {:#x}, heap {:#x}/{:#x} free -> {:#x}/{:#x}, vmo {:#x} -> {:#x}",
        took / MS,
        before.free_bytes,
        after.free_bytes,
        before.free_heap_bytes,
        before.total_heap_bytes,
        after.free_heap_bytes,
        after.total_heap_bytes,
        before.vmo_bytes,
        after.vmo_bytes
    );
    drop(v);
    // The system still works.
    let w = vmo(16 * PAGE)?;
    zx_ok!(op(w.raw(), ZX_VMO_OP_COMMIT, 0, 16 * PAGE));
    fill(w.raw(), 0, 16 * PAGEZ, 1)?;
    Ok(())
}

fn channel_flood() -> R {
    let before = kmem()?;
    let (a, b) = channel()?;
    let msg = alloc::vec![0x5Au8; 65536];
    let mut n = 0u64;
    // Up to the queue limit (one more would end this process), or until memory runs out.
    let last = loop {
        if n == CHANNEL_MAX_UNREAD as u64 {
            break ZX_OK;
        }
        let s = ch_write(a.raw(), &msg, &[]);
        if s != ZX_OK {
            break s;
        }
        n += 1;
    };
    ensure!(
        last == ZX_OK || last == ZX_ERR_NO_MEMORY,
        "after {n} queued messages a write gave {}",
        sname(last)
    );
    // The queue is intact: the first message reads back.
    let m = ch_read(b.raw(), 65536, 0);
    eq!(sname(m.status), sname(ZX_OK));
    expect_all(&m.bytes, 0x5A, "first flooded message")?;
    drop(a);
    drop(b);
    // Memory is back (counting what the kernel heap keeps free for later).
    let after = kmem()?;
    let avail = |k: &zx_info_kmem_stats_t| k.free_bytes + k.free_heap_bytes;
    ensure!(
        avail(&after) + 256 * PAGE >= avail(&before),
        "free+free_heap {:#x} -> {:#x} after {n} messages were freed",
        avail(&before),
        avail(&after)
    );
    Ok(())
}

/// Timers and the generator at the ends of every argument's range: nothing crashes, every
/// call answers as section 4 and 9 say, and a timer armed at any deadline can be canceled.
fn timer_cprng_extremes() -> R {
    let mut t = 0u32;
    // SAFETY: valid out pointer.
    zx_ok!(unsafe { sys::zx_timer_create(0, ZX_CLOCK_MONOTONIC, &mut t) });
    let t = Owned::from_raw(t);
    for deadline in [i64::MIN, -1, 0, 1, i64::MAX - 1, i64::MAX] {
        for slack in [0i64, 1, i64::MAX] {
            zx_ok!(unsafe { sys::zx_timer_set(t.raw(), deadline, slack) });
        }
        check!(ZX_ERR_OUT_OF_RANGE, unsafe {
            sys::zx_timer_set(t.raw(), deadline, i64::MIN)
        });
    }
    zx_ok!(unsafe { sys::zx_timer_cancel(t.raw()) });
    // Raw words with garbage in the upper halves of the 32-bit options and clock.
    let mut out = 0u32;
    let r = raw_svc(
        ZX_SYS_timer_create as u64,
        [
            0xdead_beef_0000_0000,
            0xffff_ffff_0000_0000,
            &mut out as *mut u32 as u64,
            0,
            0,
            0,
            0,
            0,
        ],
    );
    eq!(sname(svc_status(r)?), sname(ZX_OK));
    zx_ok!(unsafe { sys::zx_handle_close(out) });
    for p in [
        0usize,
        1,
        0xffff_0000_0000_0000,
        0x0000_8000_0000_0000,
        usize::MAX,
    ] {
        check!(ZX_ERR_INVALID_ARGS, unsafe {
            sys::zx_timer_create(0, ZX_CLOCK_MONOTONIC, p as *mut u32)
        });
        check!(ZX_ERR_INVALID_ARGS, unsafe {
            sys::zx_cprng_add_entropy(p as *const u8, 8)
        });
        // Size 0: nothing is touched, whatever the pointer.
        unsafe { sys::zx_cprng_draw(p as *mut u8, 0) };
        zx_ok!(unsafe { sys::zx_cprng_add_entropy(p as *const u8, 0) });
    }
    for len in [257usize, 4096, usize::MAX / 2, usize::MAX] {
        let b = [0u8; 8];
        check!(ZX_ERR_INVALID_ARGS, unsafe {
            sys::zx_cprng_add_entropy(b.as_ptr(), len)
        });
    }
    Ok(())
}

fn new_port() -> Result<Owned, String> {
    let mut h = 0u32;
    let s = unsafe { sys::zx_port_create(0, &mut h) };
    if s != ZX_OK {
        return Err(format!("zx_port_create setup: {}", sname(s)));
    }
    Ok(Owned::from_raw(h))
}

/// Ports, events and wait_many with counts near 2^32 and 2^64, unknown options and
/// packet types, and deadlines at both ends.
fn ports_bounds_and_deadlines() -> R {
    let p = new_port()?;
    let mut h = 0u32;
    check!(ZX_ERR_INVALID_ARGS, unsafe {
        sys::zx_event_create(u32::MAX, &mut h)
    });
    check!(ZX_ERR_NOT_SUPPORTED, unsafe {
        sys::zx_eventpair_create(u32::MAX, &mut h, &mut h)
    });
    check!(ZX_ERR_INVALID_ARGS, unsafe {
        sys::zx_port_create(u32::MAX, &mut h)
    });
    let mut e = 0u32;
    zx_ok!(unsafe { sys::zx_event_create(0, &mut e) });
    let e = Owned::from_raw(e);
    for options in [2u32, 3, 1 << 31, u32::MAX] {
        check!(ZX_ERR_INVALID_ARGS, unsafe {
            sys::zx_object_wait_async(e.raw(), p.raw(), 0, 1, options)
        });
    }
    // Any packet type is accepted and becomes USER.
    for type_ in [0u32, 1, 7, 0xFFFF_FFFF] {
        let packet = zx_port_packet_t {
            key: u64::MAX,
            type_,
            status: i32::MIN,
            payload: [0xFF; 32],
        };
        zx_ok!(unsafe { sys::zx_port_queue(p.raw(), &packet) });
        let mut got = zx_port_packet_t::default();
        zx_ok!(unsafe { sys::zx_port_wait(p.raw(), i64::MIN, &mut got) });
        eq!(got.type_, ZX_PKT_TYPE_USER);
        eq!(got.key, u64::MAX);
        eq!(got.status, i32::MIN);
    }
    let mut got = zx_port_packet_t::default();
    check!(ZX_ERR_TIMED_OUT, unsafe {
        sys::zx_port_wait(p.raw(), i64::MIN, &mut got)
    });
    for count in [
        65usize,
        1 << 32,
        (1 << 32) + 1,
        usize::MAX,
        usize::MAX / 12 + 1,
    ] {
        check!(ZX_ERR_OUT_OF_RANGE, unsafe {
            sys::zx_object_wait_many(KERNEL_ADDR as *mut _, count, i64::MIN)
        });
    }
    let mut items = [zx_wait_item_t {
        handle: e.raw(),
        waitfor: 0,
        pending: 0,
    }];
    // Waiting for no signal with a past deadline times out at once.
    check!(ZX_ERR_TIMED_OUT, unsafe {
        sys::zx_object_wait_many(items.as_mut_ptr(), 1, i64::MIN)
    });
    for (clear, set) in [(u32::MAX, 0), (0, u32::MAX), (1 << 23, 0)] {
        check!(ZX_ERR_INVALID_ARGS, unsafe {
            sys::zx_object_signal(e.raw(), clear, set)
        });
    }
    check!(ZX_ERR_NOT_SUPPORTED, unsafe {
        sys::zx_object_signal_peer(e.raw(), 0, 0)
    });
    check!(ZX_ERR_NOT_FOUND, unsafe {
        sys::zx_port_cancel(p.raw(), e.raw(), u64::MAX)
    });
    Ok(())
}

/// Sockets and `zx_channel_call` with hostile scalars: huge sizes (past u32::MAX), every
/// option bit, counts near 2^32, deadlines at both ends; nothing hangs, leaks or changes.
fn socket_and_call_arguments() -> R {
    let before = kmem()?;
    let (a, b) = crate::t_socket::socket(0)?;
    let buf = [0u8; 64];
    let mut actual = 0usize;
    for size in [1usize << 32, usize::MAX, usize::MAX - 15, 1 << 40] {
        let s = unsafe { sys::zx_socket_write(a.raw(), 0, buf.as_ptr(), size, &mut actual) };
        ensure!(
            s == ZX_ERR_INVALID_ARGS,
            "write of {size:#x} bytes: {}",
            sname(s)
        );
        let s =
            unsafe { sys::zx_socket_read(b.raw(), 0, buf.as_ptr() as *mut u8, size, &mut actual) };
        ensure!(
            s == ZX_ERR_SHOULD_WAIT,
            "read of {size:#x} bytes: {}",
            sname(s)
        );
    }
    for bit in 0..32 {
        let options = 1u32 << bit;
        let s = unsafe { sys::zx_socket_write(a.raw(), options, buf.as_ptr(), 4, &mut actual) };
        eq!(sname(s), sname(ZX_ERR_INVALID_ARGS));
        if options != ZX_SOCKET_PEEK {
            let s = unsafe {
                sys::zx_socket_read(b.raw(), options, buf.as_ptr() as *mut u8, 4, &mut actual)
            };
            eq!(sname(s), sname(ZX_ERR_INVALID_ARGS));
        }
        if options > ZX_SOCKET_DATAGRAM {
            let (mut x, mut y) = (0u32, 0u32);
            let s = unsafe { sys::zx_socket_create(options, &mut x, &mut y) };
            eq!(sname(s), sname(ZX_ERR_INVALID_ARGS));
        }
        if options > 2 {
            let s = unsafe { sys::zx_socket_set_disposition(a.raw(), options, 0) };
            eq!(sname(s), sname(ZX_ERR_INVALID_ARGS));
        }
    }
    let (c, d) = channel()?;
    for (nb, nh) in [
        (u32::MAX, 0u32),
        (4, u32::MAX),
        (u32::MAX, u32::MAX),
        (65537, 0),
        (4, 65),
    ] {
        let args = zx_channel_call_args_t {
            wr_bytes: buf.as_ptr() as usize,
            wr_num_bytes: nb,
            wr_num_handles: nh,
            rd_num_bytes: u32::MAX,
            rd_num_handles: u32::MAX,
            ..Default::default()
        };
        let (mut ab, mut ah) = (0u32, 0u32);
        let s = unsafe { sys::zx_channel_call(c.raw(), 0, i64::MIN, &args, &mut ab, &mut ah) };
        ensure!(
            s < 0 && s != ZX_ERR_TIMED_OUT,
            "counts {nb:#x}/{nh:#x}: {}",
            sname(s)
        );
    }
    eq!(ch_read(d.raw(), 64, 0).status, ZX_ERR_SHOULD_WAIT);
    // Deadlines at both ends: the request goes out each time.
    for deadline in [i64::MIN, -1, 0, 1] {
        let args = zx_channel_call_args_t {
            wr_bytes: buf.as_ptr() as usize,
            wr_num_bytes: 8,
            ..Default::default()
        };
        let (mut ab, mut ah) = (0u32, 0u32);
        let s = unsafe { sys::zx_channel_call(c.raw(), 0, deadline, &args, &mut ab, &mut ah) };
        eq!(sname(s), sname(ZX_ERR_TIMED_OUT));
    }
    drop((a, b, c, d));
    sleep_ns(5 * MS);
    let after_ = kmem()?;
    ensure!(
        heap_used(&after_) <= heap_used(&before) + 8192,
        "kernel heap grew by {} bytes",
        heap_used(&after_).saturating_sub(heap_used(&before))
    );
    Ok(())
}
