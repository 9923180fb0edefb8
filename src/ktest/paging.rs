//! The kernel's address space: the linear map, W^X of the image and its aliases, `no-map`
//! ranges, PAN, the stack guard page, and faults on unmapped addresses and on data run as
//! code.

use super::*;

pub(super) const TESTS: &[Test] = &[
    (
        "mmu_linear_map_reaches_all_ram",
        mmu_linear_map_reaches_all_ram,
    ),
    ("mmu_text_write_faults", mmu_text_write_faults),
    ("mmu_rodata_write_faults", mmu_rodata_write_faults),
    (
        "mmu_linear_alias_of_text_write_faults",
        mmu_linear_alias_of_text_write_faults,
    ),
    (
        "mmu_linear_alias_of_rodata_write_faults",
        mmu_linear_alias_of_rodata_write_faults,
    ),
    (
        "mmu_no_map_reserved_memory_is_unmapped",
        mmu_no_map_reserved_memory_is_unmapped,
    ),
    (
        "pan_kernel_access_to_user_memory_faults",
        pan_kernel_access_to_user_memory_faults,
    ),
    ("mmu_stack_guard_page_faults", mmu_stack_guard_page_faults),
    ("mmu_data_not_executable", mmu_data_not_executable),
    ("mmu_unmapped_address_faults", mmu_unmapped_address_faults),
];

/// Whether the page at `pa` is RAM the linear map should cover: in a RAM range, outside the
/// kernel image and every `no-map` range.
fn in_linear_map(board: &Board, pa: u64) -> bool {
    let page = mm::memmap::PhysRange::new(pa, pa + mm::PAGE_SIZE as u64);
    board
        .ram
        .iter()
        .any(|r| r.start <= page.start && page.end <= r.end)
        && !page.overlaps(&board.image.page_align_outward())
        && !board.info.no_map.iter().any(|r| {
            mm::memmap::PhysRange::new(r.base, r.base.saturating_add(r.size))
                .page_align_outward()
                .overlaps(&page)
        })
}

fn mmu_linear_map_reaches_all_ram(board: &Board) -> TestResult {
    // The first and last page of every RAM range, and the pages around the image, are
    // readable through the linear map at their own physical address unless the linear map
    // leaves them out on purpose (the image, no-map ranges).
    let mut checked = 0;
    let image = board.image.page_align_outward();
    let page = mm::PAGE_SIZE as u64;
    for ram in &board.ram {
        let ram = ram.page_align_inward();
        for pa in [
            ram.start,
            ram.end - page,
            image.start.wrapping_sub(page),
            image.end,
        ] {
            if !in_linear_map(board, pa) {
                continue;
            }
            let va = mmu::phys_to_virt(pa);
            check!(
                mmu::translate_read(va) == Some(pa),
                "RAM at {pa:#x} not mapped (translates to {:?})",
                mmu::translate_read(va)
            );
            check!(
                exception::probe_read(va + page as usize - 8).is_ok(),
                "RAM at {pa:#x} not readable"
            );
            checked += 1;
        }
    }
    check!(checked > 0, "no RAM page checked");
    Ok(())
}

fn expect_fault(
    result: Result<(), arch::esr::Esr>,
    want: fn(FaultKind) -> bool,
    what: &str,
) -> TestResult {
    match result {
        Ok(()) => Err(format!("{what}: no fault")),
        Err(esr) => match esr.fault() {
            Some(kind) if want(kind) => Ok(()),
            _ => Err(format!("{what}: unexpected exception {esr}")),
        },
    }
}

fn mmu_text_write_faults(_: &Board) -> TestResult {
    let target = kernel_text_word as fn() as usize;
    let before = exception::probe_read(target).map_err(|e| format!("cannot read text: {e}"))?;
    // SAFETY: a write to kernel text must fault; if it did not, it stores the same value.
    let result = unsafe { exception::probe_write(target, before) };
    expect_fault(
        result.map(|_| ()),
        |k| matches!(k, FaultKind::Permission(_)),
        "write to kernel text",
    )
}

fn kernel_text_word() {}

static RODATA_WORD: u64 = 0x1234_5678;

fn mmu_rodata_write_faults(_: &Board) -> TestResult {
    let target = &RODATA_WORD as *const u64 as usize;
    // SAFETY: the write must fault; if not, it stores the value that is already there.
    let result = unsafe { exception::probe_write(target, 0x1234_5678) };
    expect_fault(
        result,
        |k| matches!(k, FaultKind::Permission(_)),
        "write to rodata",
    )
}

/// A write through the linear map's view of the physical page behind `target` (an image
/// address) must fault: the image has no writable alias there.
fn linear_alias_write_faults(target: usize, what: &str) -> TestResult {
    let alias = mmu::phys_to_virt(mmu::image_virt_to_phys(target));
    let value = exception::probe_read(target).map_err(|e| format!("cannot read {what}: {e}"))?;
    // SAFETY: the write must fault; if it does not, it stores the value already there (read
    // through the image mapping of the same physical bytes).
    let result = unsafe { exception::probe_write(alias, value) };
    expect_fault(
        result,
        |k| matches!(k, FaultKind::Translation(_) | FaultKind::Permission(_)),
        &format!("write to the linear alias {alias:#x} of {what}"),
    )
}

fn mmu_linear_alias_of_text_write_faults(_: &Board) -> TestResult {
    linear_alias_write_faults(kernel_text_word as fn() as usize, "kernel text")
}

fn mmu_linear_alias_of_rodata_write_faults(_: &Board) -> TestResult {
    linear_alias_write_faults(&RODATA_WORD as *const u64 as usize, "rodata")
}

/// Every page of every `no-map` reserved range has no linear-map translation (`at s1e1r`
/// faults, and so does a read), while ordinary RAM right next to it is still mapped. Needs a
/// device tree with such a range: `make test` boots some virt configurations with one.
fn mmu_no_map_reserved_memory_is_unmapped(board: &Board) -> TestResult {
    if board.info.no_map.is_empty() {
        return skip("the device tree has no no-map reserved range");
    }
    let page = mm::PAGE_SIZE as u64;
    for region in &board.info.no_map {
        let range =
            mm::memmap::PhysRange::new(region.base, region.base + region.size).page_align_outward();
        let mut pa = range.start;
        while pa < range.end {
            let va = mmu::phys_to_virt(pa);
            check!(
                mmu::translate_read(va).is_none(),
                "no-map page {pa:#x} is in the linear map"
            );
            pa += page;
        }
        expect_fault(
            exception::probe_read(mmu::phys_to_virt(range.start)).map(|_| ()),
            |k| matches!(k, FaultKind::Translation(_)),
            "read of a no-map page through the linear map",
        )?;
        for neighbour in [range.start.wrapping_sub(page), range.end] {
            if in_linear_map(board, neighbour) {
                check!(
                    mmu::translate_read(mmu::phys_to_virt(neighbour)) == Some(neighbour),
                    "RAM page {neighbour:#x} next to a no-map range is not mapped"
                );
            }
        }
    }
    Ok(())
}

/// The user page the PAN test maps (any address in the user half would do).
const PAN_TEST_VA: usize = 0x10_0000_0000;

/// With PAN on, an ordinary kernel load or store to a user page faults (permission), while
/// the copy routines (unprivileged `ldtr`/`sttr`, and the bulk copy that clears PSTATE.PAN
/// for a probed range) still reach it and leave PAN set. Skipped on a CPU without FEAT_PAN.
fn pan_kernel_access_to_user_memory_faults(_: &Board) -> TestResult {
    use object::vmar::{AddressSpace, MappingPerms};
    if !arch::cpu::has_pan() {
        return skip("the CPU lacks FEAT_PAN");
    }
    check!(arch::cpu::pan_enabled(), "the CPU has PAN but it is off");
    check!(arch::cpu::pan_set(), "PSTATE.PAN is clear in the kernel");
    let frames = crate::vm::frames();
    let frame = frames.alloc().ok_or("no page")?;
    let pattern: Vec<u8> = (0..4096).map(|i| (i * 11 + 5) as u8).collect();
    frames.write(frame, 0, &pattern);
    let space = crate::aspace::UserAddressSpace::new().map_err(|e| format!("{e:?}"))?;
    let perms = MappingPerms {
        read: true,
        write: true,
        execute: false,
    };
    let result = space
        .map_page(PAN_TEST_VA, frame, perms)
        .map_err(|e| format!("{e:?}"))
        .and_then(|()| {
            crate::aspace::switch_to(Some(space.ttbr0()));
            let result = pan_accesses(&pattern);
            crate::aspace::switch_to(None);
            result
        });
    space.unmap(PAN_TEST_VA, mm::PAGE_SIZE);
    space.release();
    frames.free(frame);
    result
}

/// Calls of the user-access fault hook during the PAN test's probes.
static USER_ACCESS_FAULTS: AtomicU64 = AtomicU64::new(0);

/// Stands in for the VMAR fault handler, which would find the page mapped and say "retry":
/// a few times, so a PAN fault wrongly sent here shows up as a count instead of a hang.
fn count_user_access_fault(_far: u64, _write: bool) -> bool {
    USER_ACCESS_FAULTS.fetch_add(1, Ordering::Relaxed) < 3
}

/// The kernel's handlers, with `count_user_access_fault` for copy-routine faults.
static COUNT_USER_ACCESS_FAULTS: exception::Handlers = exception::Handlers {
    user_access_fault: count_user_access_fault,
    ..crate::boot::HANDLERS
};

fn pan_accesses(pattern: &[u8]) -> TestResult {
    let permission = |k| matches!(k, FaultKind::Permission(_));
    // The probes below are covered by the fixup table like the copy routines; their PAN
    // faults must go straight to the fixup, never to the hook that serves user page faults.
    let before = USER_ACCESS_FAULTS.load(Ordering::Relaxed);
    let (read, write) = exception::with_handlers(&COUNT_USER_ACCESS_FAULTS, || {
        let read = exception::probe_read(PAN_TEST_VA).map(|_| ());
        // SAFETY: the store must fault; if PAN let it through it writes the test's own page.
        let write = unsafe { exception::probe_write(PAN_TEST_VA + 8, 0) };
        (read, write)
    });
    let served = USER_ACCESS_FAULTS.load(Ordering::Relaxed) - before;
    expect_fault(read, permission, "kernel read of a user page")?;
    expect_fault(write, permission, "kernel write to a user page")?;
    check!(served == 0, "{served} PAN faults were offered to the VMAR");
    check!(arch::cpu::pan_set(), "PSTATE.PAN clear after the faults");
    // The copy routines still work.
    let mut buf = alloc::vec![0u8; 4096];
    use crate::usercopy::{In, Out, UserIn, UserSlice};
    let user_in = UserSlice::<In>::new(PAN_TEST_VA, 4096);
    user_in.read(&mut buf).map_err(|e| format!("{e:?}"))?;
    check!(
        buf == pattern,
        "copy_from_user read wrong bytes (the write went through?)"
    );
    let first = UserIn::<u64>::new(PAN_TEST_VA + 8)
        .read()
        .map_err(|e| format!("{e:?}"))?;
    check!(
        first.to_le_bytes()[..] == pattern[8..16],
        "one value read wrong"
    );
    UserSlice::<Out>::new(PAN_TEST_VA + 100, 16)
        .write(&[0x5a; 16])
        .map_err(|e| format!("{e:?}"))?;
    user_in.probe().map_err(|e| format!("{e:?}"))?;
    buf.fill(0);
    // SAFETY: the user range was probed just above, `buf` holds 4096 writable bytes.
    unsafe { user_in.copy_probed(0, buf.as_mut_ptr(), 4096) }.map_err(|e| format!("{e:?}"))?;
    check!(buf[100..116] == [0x5a; 16] && buf[..100] == pattern[..100]);
    check!(arch::cpu::pan_set(), "PSTATE.PAN clear after the bulk copy");
    Ok(())
}

fn mmu_stack_guard_page_faults(_: &Board) -> TestResult {
    let guard = mmu::image_layout().stack_guard;
    let marker = 0u64;
    let sp_near = &marker as *const u64 as usize;
    check!(
        sp_near > guard + mmu::PAGE_SIZE,
        "test not running on the boot stack"
    );
    let read = exception::probe_read(guard + 64).map(|_| ());
    expect_fault(
        read,
        |k| matches!(k, FaultKind::Translation(3)),
        "read of the stack guard page",
    )?;
    // SAFETY: the guard page is unmapped; the write must fault.
    let write = unsafe { exception::probe_write(guard + mmu::PAGE_SIZE - 8, 0) };
    expect_fault(
        write,
        |k| matches!(k, FaultKind::Translation(3)),
        "write to the stack guard page",
    )
}

fn mmu_unmapped_address_faults(_: &Board) -> TestResult {
    // The lower half has only an empty table (no process runs) and the DTB boot window is gone.
    let low = exception::probe_read(0x1000).map(|_| ());
    expect_fault(
        low,
        |k| matches!(k, FaultKind::Translation(_)),
        "read of a lower-half address",
    )?;
    let window = exception::probe_read(mmu::BOOT_DTB_WINDOW).map(|_| ());
    expect_fault(
        window,
        |k| matches!(k, FaultKind::Translation(_)),
        "read of the old DTB window",
    )
}

static EXEC_ABORTS: AtomicU64 = AtomicU64::new(0);

fn catch_instruction_abort(frame: &mut TrapFrame) -> bool {
    let esr = arch::esr::Esr(frame.esr);
    if esr.is_instruction_abort() && matches!(esr.fault(), Some(FaultKind::Permission(_))) {
        EXEC_ABORTS.fetch_add(1, Ordering::Relaxed);
        // Return to the caller of the data "function": its return address is still in x30.
        frame.elr = frame.x[30];
        frame.x[0] = 0xdead;
        return true;
    }
    false
}

/// The kernel's handlers, with `catch_instruction_abort` for kernel synchronous exceptions.
static CATCH_INSTRUCTION_ABORT: exception::Handlers = exception::Handlers {
    kernel_sync: Some(catch_instruction_abort),
    ..crate::boot::HANDLERS
};

fn mmu_data_not_executable(_: &Board) -> TestResult {
    // A `ret` instruction in writable memory (heap, reached through the linear map).
    let code: Box<[u32; 4]> = Box::new([0xd65f_03c0; 4]); // ret
    let target = code.as_ptr() as usize;
    check!((mmu::LINEAR_BASE..mmu::KERNEL_VBASE).contains(&target));
    let before = EXEC_ABORTS.load(Ordering::Relaxed);
    let result: u64 = exception::with_handlers(&CATCH_INSTRUCTION_ABORT, || {
        let result;
        // SAFETY: branching to data must raise an instruction abort (PXN); the handler above
        // resumes at the return address with x0 = 0xdead. Were the page executable, `ret`
        // would return normally with x0 = 1.
        unsafe {
            core::arch::asm!(
                "mov x0, #1",
                "blr {target}",
                target = in(reg) target,
                out("x0") result,
                out("x30") _,
            );
        }
        result
    });
    check!(result == 0xdead, "data executed (x0 = {result:#x})");
    check!(EXEC_ABORTS.load(Ordering::Relaxed) == before + 1);
    Ok(())
}
