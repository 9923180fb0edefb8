//! In-kernel tests, part of every kernel image and run when the boot arguments hold `test`
//! (`make test` passes `-append test` to QEMU with `-semihosting`; on a board, add `test` to
//! the card's cmdline.txt): one line per test, then "N passed, N failed", and the emulator
//! exits with status 0 only if every test passed.

use crate::boot::Board;
use crate::memory::{self, with_pool};
use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use arch::esr::FaultKind;
use arch::exception::{self, TrapFrame};
use arch::mmu;
use core::sync::atomic::{AtomicU64, Ordering};
use mm::pool::PageUse;

type TestResult = Result<(), String>;
type Test = (&'static str, fn(&Board) -> TestResult);

macro_rules! check {
    ($cond:expr) => {
        if !$cond {
            return Err(format!("{}:{}: check failed: {}", file!(), line!(), stringify!($cond)));
        }
    };
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!("{}:{}: {}", file!(), line!(), format!($($msg)+)));
        }
    };
}

/// Why the test running now was skipped, set by [`skip`] and taken by `run`. The lock
/// protects only this slot; nothing nests inside it, IRQs stay as they are (no IRQ handler
/// takes it).
static SKIPPED: spin::Mutex<Option<String>> = spin::Mutex::new(None);

/// Ends a test that cannot run on this machine: reported as skipped, counted as neither
/// passed nor failed. `make test` checks that the boots meant to run it did.
fn skip(why: &str) -> TestResult {
    *SKIPPED.lock() = Some(why.into());
    Ok(())
}

/// `ktest.crash=KIND` in the boot arguments makes this boot crash on purpose, so the runner
/// can check that fatal errors are reported once and stop the kernel (exit status 1), never
/// loop.
pub fn crash_if_asked(bootargs: &str) {
    if let Some(kind) = bootargs
        .split_whitespace()
        .find_map(|arg| arg.strip_prefix("ktest.crash="))
    {
        if kind == "in-syscall" {
            // Later: the first `zx_debug_write` panics, so the report names a call.
            CRASH_IN_SYSCALL.store(true, core::sync::atomic::Ordering::Relaxed);
            return;
        }
        crash(kind);
    }
}

/// `ktest.crash=in-syscall`: the first `zx_debug_write` panics (checks that a fatal error's
/// report names the system call and its arguments).
static CRASH_IN_SYSCALL: core::sync::atomic::AtomicBool =
    core::sync::atomic::AtomicBool::new(false);

/// Called by `zx_debug_write` (not a hot path).
pub fn crash_in_syscall_if_asked() {
    if CRASH_IN_SYSCALL.load(core::sync::atomic::Ordering::Relaxed) {
        panic!("deliberate panic in a system call");
    }
}

/// Runs the in-kernel tests; returns (to go on to user mode) when there is a boot archive.
pub fn run(board: &Board) {
    let tests: &[Test] = &[
        ("boot_runs_at_el1", boot_runs_at_el1),
        ("dtb_memory_matches_pool", dtb_memory_matches_pool),
        ("dtb_corrupt_copy_rejected", dtb_corrupt_copy_rejected),
        ("pool_alloc_write_free", pool_alloc_write_free),
        ("pool_split_and_merge", pool_split_and_merge),
        (
            "pool_exhaustion_returns_error",
            pool_exhaustion_returns_error,
        ),
        ("pool_refcounts", pool_refcounts),
        ("heap_alloc_and_grow", heap_alloc_and_grow),
        (
            "heap_large_allocations_return_to_the_pool",
            heap_large_allocations_return_to_the_pool,
        ),
        (
            "heap_small_allocations_return_to_the_pool",
            heap_small_allocations_return_to_the_pool,
        ),
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
        ("exception_brk_round_trip", exception_brk_round_trip),
        ("timer_ticks_advance", timer_ticks_advance),
        (
            "vmo_clone_snapshot_on_pool_pages",
            vmo_clone_snapshot_on_pool_pages,
        ),
        ("vmo_cache_ops_run", vmo_cache_ops_run),
        (
            "memcpy_memset_match_reference",
            memcpy_memset_match_reference,
        ),
        ("page_zero_and_copy", page_zero_and_copy),
        (
            "kcheck_passes_on_a_process_with_mappings_and_handles",
            kcheck_passes_on_a_process_with_mappings_and_handles,
        ),
        (
            "kcheck_trips_on_a_page_table_page_no_address_space_owns",
            kcheck_trips_on_a_page_table_page_no_address_space_owns,
        ),
        (
            "kcheck_trips_on_a_tree_reaching_a_foreign_table",
            kcheck_trips_on_a_tree_reaching_a_foreign_table,
        ),
    ];
    let mut passed = 0;
    let mut failed = 0;
    let mut skipped = 0;
    for (name, test) in tests {
        let result = test(board);
        match (result, SKIPPED.lock().take()) {
            (Ok(()), Some(why)) => {
                skipped += 1;
                println!("test {name} ... skipped: {why}");
            }
            (Ok(()), None) => {
                passed += 1;
                println!("test {name} ... ok");
            }
            (Err(why), _) => {
                failed += 1;
                println!("test {name} ... FAILED: {why}");
            }
        }
    }
    if skipped != 0 {
        println!("ktest: {skipped} skipped (this machine lacks what they test)");
    }
    println!("ktest: {passed} passed, {failed} failed");
    crate::KTEST_FAILED.store(failed, core::sync::atomic::Ordering::Relaxed);
    if board.info.initrd.is_none() {
        arch::semihosting::exit(if failed == 0 { 0 } else { 1 });
        // Only reached without a semihosting host.
        arch::cpu::halt()
    }
}

fn crash(kind: &str) -> ! {
    println!("ktest: crashing on purpose: {kind}");
    match kind {
        "stack-overflow" => {
            let depth = recurse(core::hint::black_box(1 << 20));
            println!("recursion returned {depth}");
        }
        // SAFETY: deliberately executes an undefined instruction; the fatal handler stops.
        "undefined-instruction" => unsafe { core::arch::asm!("udf #0x17") },
        "panic" => panic!("deliberate panic"),
        _ => println!("unknown crash kind"),
    }
    arch::semihosting::exit(3);
    arch::cpu::halt()
}

/// Uses about 1 KiB of stack per level and cannot be turned into a loop.
#[inline(never)]
fn recurse(depth: u64) -> u64 {
    let mut frame = [0u8; 1024];
    frame[depth as usize % 1024] = depth as u8;
    if depth == 0 {
        return 0;
    }
    core::hint::black_box(&mut frame);
    recurse(depth - 1) + u64::from(frame[0])
}

fn boot_runs_at_el1(board: &Board) -> TestResult {
    check!(
        arch::cpu::current_el() == 1,
        "running at EL{}",
        arch::cpu::current_el()
    );
    check!(
        board.boot_el == 1 || board.boot_el == 2,
        "entered at EL{}",
        board.boot_el
    );
    Ok(())
}

fn dtb_memory_matches_pool(board: &Board) -> TestResult {
    check!(!board.ram.is_empty(), "no RAM in the device tree");
    let stats = memory::pool_stats();
    let ram_pages: u64 = board
        .ram
        .iter()
        .map(|r| r.len() / mm::PAGE_SIZE as u64)
        .sum();
    let free_pages: u64 = board
        .free
        .iter()
        .map(|r| r.len() / mm::PAGE_SIZE as u64)
        .sum();
    check!(
        stats.total_pages as u64 == free_pages,
        "pool {} pages, free ranges {free_pages}",
        stats.total_pages
    );
    check!(free_pages < ram_pages);
    for free in &board.free {
        check!(
            board
                .ram
                .iter()
                .any(|r| r.start <= free.start && free.end <= r.end),
            "{free:?} outside RAM"
        );
        check!(
            !free.overlaps(&board.image),
            "{free:?} overlaps the kernel image"
        );
        check!(!free.overlaps(&board.dtb), "{free:?} overlaps the DTB");
        if let Some(initrd) = board.info.initrd {
            let initrd = mm::memmap::PhysRange::new(initrd.base, initrd.base + initrd.size);
            check!(!free.overlaps(&initrd), "{free:?} overlaps the initrd");
        }
    }
    Ok(())
}

fn dtb_corrupt_copy_rejected(board: &Board) -> TestResult {
    let mut copy = board.dtb_bytes.to_vec();
    check!(arch::devicetree::BoardInfo::parse(&copy).is_ok());
    copy[0] ^= 0xff;
    check!(
        arch::devicetree::BoardInfo::parse(&copy).is_err(),
        "bad magic accepted"
    );
    check!(arch::devicetree::validate_header(&copy).is_err());
    copy[0] ^= 0xff;
    let truncated = &copy[..copy.len() / 2];
    check!(
        arch::devicetree::validate_header(truncated).is_err(),
        "truncated DTB accepted"
    );
    check!(arch::devicetree::BoardInfo::parse(&[]).is_err());
    Ok(())
}

fn pool_alloc_write_free(_: &Board) -> TestResult {
    let before = memory::pool_stats();
    let one = with_pool(|p| p.alloc_pages(1, PageUse::Kernel)).map_err(|e| format!("{e:?}"))?;
    let eight = with_pool(|p| p.alloc_pages(8, PageUse::Kernel)).map_err(|e| format!("{e:?}"))?;
    check!(one % mm::PAGE_SIZE as u64 == 0 && eight % (8 * mm::PAGE_SIZE as u64) == 0);
    check!(
        one + mm::PAGE_SIZE as u64 <= eight || eight + 8 * mm::PAGE_SIZE as u64 <= one,
        "blocks overlap"
    );
    let during = memory::pool_stats();
    check!(
        during.free_pages + 9 == before.free_pages,
        "free {} -> {}",
        before.free_pages,
        during.free_pages
    );
    // SAFETY: both blocks were just allocated to this test and are reached through the
    // linear map; nothing else uses them.
    unsafe {
        let words = mmu::phys_to_virt(eight) as *mut u64;
        for i in 0..(8 * mm::PAGE_SIZE / 8) {
            words.add(i).write_volatile(i as u64 ^ 0x5a5a);
        }
        for i in 0..(8 * mm::PAGE_SIZE / 8) {
            check!(words.add(i).read_volatile() == i as u64 ^ 0x5a5a);
        }
    }
    with_pool(|p| p.free_pages(one, 1, PageUse::Kernel)).map_err(|e| format!("{e:?}"))?;
    with_pool(|p| p.free_pages(eight, 8, PageUse::Kernel)).map_err(|e| format!("{e:?}"))?;
    check!(
        memory::pool_stats() == before,
        "accounting did not return to the start"
    );
    Ok(())
}

fn pool_split_and_merge(_: &Board) -> TestResult {
    let before = memory::pool_stats();
    let big = with_pool(|p| p.alloc_pages(512, PageUse::Kernel)).map_err(|e| format!("{e:?}"))?;
    with_pool(|p| p.free_pages(big, 512, PageUse::Kernel)).map_err(|e| format!("{e:?}"))?;
    // Split: 512 single pages, kept in a list stored in the pages themselves (no heap use
    // while measuring the pool).
    let mut singles = [0u64; 512];
    for slot in singles.iter_mut() {
        *slot = with_pool(|p| p.alloc_pages(1, PageUse::Kernel)).map_err(|e| format!("{e:?}"))?;
    }
    for &page in singles.iter() {
        with_pool(|p| p.free_pages(page, 1, PageUse::Kernel)).map_err(|e| format!("{e:?}"))?;
    }
    // Merge: the big block is available again.
    let again = with_pool(|p| p.alloc_pages(512, PageUse::Kernel)).map_err(|e| format!("{e:?}"))?;
    with_pool(|p| p.free_pages(again, 512, PageUse::Kernel)).map_err(|e| format!("{e:?}"))?;
    check!(memory::pool_stats() == before);
    Ok(())
}

fn pool_exhaustion_returns_error(board: &Board) -> TestResult {
    let before = memory::pool_stats();
    // Take every block of 16 pages, chaining them through their first word, until the pool
    // says no; then give everything back.
    const BLOCK: usize = 16;
    let mut head: u64 = 0;
    let mut taken = 0usize;
    loop {
        match with_pool(|p| p.alloc_pages(BLOCK, PageUse::Kernel)) {
            Ok(pa) => {
                // SAFETY: freshly allocated block, reached through the linear map.
                unsafe { (mmu::phys_to_virt(pa) as *mut u64).write(head) };
                head = pa;
                taken += 1;
            }
            Err(mm::pool::PoolError::OutOfMemory) => break,
            Err(other) => return Err(format!("unexpected error {other:?}")),
        }
    }
    let exhausted = memory::pool_stats();
    // Single pages may remain (blocks smaller than 16 pages); take them too.
    let mut singles = 0usize;
    let mut single_head: u64 = 0;
    while let Ok(pa) = with_pool(|p| p.alloc_pages(1, PageUse::Kernel)) {
        // SAFETY: as above.
        unsafe { (mmu::phys_to_virt(pa) as *mut u64).write(single_head) };
        single_head = pa;
        singles += 1;
    }
    let empty = memory::pool_stats();
    let single_error = with_pool(|p| p.alloc_pages(1, PageUse::Kernel));
    while head != 0 {
        // SAFETY: each block's first word holds the next block's address (0 ends the list).
        let next = unsafe { (mmu::phys_to_virt(head) as *const u64).read() };
        with_pool(|p| p.free_pages(head, BLOCK, PageUse::Kernel)).map_err(|e| format!("{e:?}"))?;
        head = next;
    }
    while single_head != 0 {
        // SAFETY: as above.
        let next = unsafe { (mmu::phys_to_virt(single_head) as *const u64).read() };
        with_pool(|p| p.free_pages(single_head, 1, PageUse::Kernel))
            .map_err(|e| format!("{e:?}"))?;
        single_head = next;
    }
    check!(taken > 0);
    // Only pieces too small or misaligned for a block remain: at most BLOCK - 1 pages at
    // each end of each free range.
    let leftover_bound = 2 * (BLOCK - 1) * board.free.len().max(1);
    check!(
        exhausted.free_pages <= leftover_bound,
        "{} pages left after exhaustion (bound {leftover_bound})",
        exhausted.free_pages
    );
    check!(empty.free_pages == 0, "{} pages left", empty.free_pages);
    check!(singles == exhausted.free_pages);
    check!(matches!(
        single_error,
        Err(mm::pool::PoolError::OutOfMemory)
    ));
    check!(
        memory::pool_stats() == before,
        "accounting did not return to the start"
    );
    Ok(())
}

fn pool_refcounts(_: &Board) -> TestResult {
    let before = memory::pool_stats();
    let pa = with_pool(|p| p.alloc_pages(1, PageUse::Vmo)).map_err(|e| format!("{e:?}"))?;
    let count = with_pool(|p| Ok(p.page_ref(pa))).map_err(|e| format!("{e:?}"))?;
    check!(count == Some(1), "new page has refcount {count:?}");
    let up = with_pool(|p| p.page_ref_inc(pa)).map_err(|e| format!("{e:?}"))?;
    let down = with_pool(|p| p.page_ref_dec(pa)).map_err(|e| format!("{e:?}"))?;
    check!(up == 2 && down == 1);
    with_pool(|p| p.free_pages(pa, 1, PageUse::Vmo)).map_err(|e| format!("{e:?}"))?;
    check!(
        with_pool(|p| p.free_pages(pa, 1, PageUse::Vmo)).is_err(),
        "double free accepted"
    );
    check!(memory::pool_stats() == before);
    Ok(())
}

fn heap_alloc_and_grow(_: &Board) -> TestResult {
    let before = memory::heap_stats();
    {
        let mut map = BTreeMap::new();
        for i in 0..1000u32 {
            map.insert(i, Box::new([i; 16]));
        }
        check!(map.values().enumerate().all(|(i, b)| b[15] == i as u32));
        // Larger than any chunk the heap had: it must grow from the pool.
        let big: Vec<u8> = alloc::vec![0xa5; 4 << 20];
        check!(big.iter().all(|&b| b == 0xa5));
        check!(
            memory::heap_stats().bytes_from_pool > before.bytes_from_pool
                || before.bytes_from_pool >= 8 << 20
        );
    }
    let after = memory::heap_stats();
    check!(
        after.bytes_allocated == before.bytes_allocated,
        "{} bytes still allocated",
        after.bytes_allocated - before.bytes_allocated
    );
    Ok(())
}

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

fn pan_accesses(pattern: &[u8]) -> TestResult {
    let permission = |k| matches!(k, FaultKind::Permission(_));
    // The probes below are covered by the fixup table like the copy routines; their PAN
    // faults must go straight to the fixup, never to the hook that serves user page faults.
    let previous = exception::set_user_access_fault_handler(count_user_access_fault);
    let before = USER_ACCESS_FAULTS.load(Ordering::Relaxed);
    let read = exception::probe_read(PAN_TEST_VA).map(|_| ());
    // SAFETY: the store must fault; if PAN let it through it writes the test's own page.
    let write = unsafe { exception::probe_write(PAN_TEST_VA + 8, 0) };
    let served = USER_ACCESS_FAULTS.load(Ordering::Relaxed) - before;
    exception::set_user_access_fault_handler(previous);
    expect_fault(read, permission, "kernel read of a user page")?;
    expect_fault(write, permission, "kernel write to a user page")?;
    check!(served == 0, "{served} PAN faults were offered to the VMAR");
    check!(arch::cpu::pan_set(), "PSTATE.PAN clear after the faults");
    // The copy routines still work.
    let mut buf = alloc::vec![0u8; 4096];
    crate::usercopy::copy_from_user(&mut buf, PAN_TEST_VA).map_err(|e| format!("{e:?}"))?;
    check!(
        buf == pattern,
        "copy_from_user read wrong bytes (the write went through?)"
    );
    crate::usercopy::copy_to_user(PAN_TEST_VA + 100, &[0x5a; 16]).map_err(|e| format!("{e:?}"))?;
    crate::usercopy::probe(PAN_TEST_VA, 4096, true).map_err(|e| format!("{e:?}"))?;
    buf.fill(0);
    // SAFETY: the user range was probed just above, `buf` holds 4096 writable bytes.
    unsafe { crate::usercopy::copy_probed(PAN_TEST_VA, buf.as_mut_ptr(), 4096, false) }
        .map_err(|e| format!("{e:?}"))?;
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

fn mmu_data_not_executable(_: &Board) -> TestResult {
    // A `ret` instruction in writable memory (heap, reached through the linear map).
    let code: Box<[u32; 4]> = Box::new([0xd65f_03c0; 4]); // ret
    let target = code.as_ptr() as usize;
    check!((mmu::LINEAR_BASE..mmu::KERNEL_VBASE).contains(&target));
    let previous = exception::set_kernel_sync_handler(catch_instruction_abort);
    let before = EXEC_ABORTS.load(Ordering::Relaxed);
    let result: u64;
    // SAFETY: branching to data must raise an instruction abort (PXN); the handler above
    // resumes at the return address with x0 = 0xdead. Were the page executable, `ret` would
    // return normally with x0 = 1.
    unsafe {
        core::arch::asm!(
            "mov x0, #1",
            "blr {target}",
            target = in(reg) target,
            out("x0") result,
            out("x30") _,
        );
    }
    exception::set_kernel_sync_handler(previous);
    check!(result == 0xdead, "data executed (x0 = {result:#x})");
    check!(EXEC_ABORTS.load(Ordering::Relaxed) == before + 1);
    Ok(())
}

static BRK_SEEN: AtomicU64 = AtomicU64::new(0);

fn catch_brk(frame: &mut TrapFrame) -> bool {
    if arch::esr::Esr(frame.esr).brk_immediate() == Some(0x42) {
        BRK_SEEN.fetch_add(1, Ordering::Relaxed);
        frame.x[0] += 1;
        frame.elr += 4;
        return true;
    }
    false
}

fn exception_brk_round_trip(_: &Board) -> TestResult {
    let previous = exception::set_kernel_sync_handler(catch_brk);
    let before = BRK_SEEN.load(Ordering::Relaxed);
    let mut value: u64 = 41;
    let callee_saved: u64;
    // SAFETY: `brk #0x42` traps to `catch_brk`, which increments x0 and resumes after it;
    // x19 checks that the frame restores registers the handler did not touch.
    unsafe {
        core::arch::asm!(
            "mov {saved}, x19",
            "mov x19, #0x77",
            "brk #0x42",
            "mov {callee}, x19",
            "mov x19, {saved}",
            saved = out(reg) _,
            callee = out(reg) callee_saved,
            inout("x0") value,
        );
    }
    exception::set_kernel_sync_handler(previous);
    check!(value == 42, "x0 = {value}");
    check!(callee_saved == 0x77, "x19 = {callee_saved:#x}");
    check!(BRK_SEEN.load(Ordering::Relaxed) == before + 1);
    Ok(())
}

fn timer_ticks_advance(_: &Board) -> TestResult {
    let frequency = arch::cpu::counter_frequency();
    check!(frequency != 0, "counter frequency is 0");
    // Without an interrupt controller `wfi` would never wake: fail instead of hanging.
    check!(
        crate::irq::installed(),
        "no interrupt controller: the timer cannot tick"
    );
    let start_ticks = arch::timer::ticks();
    let start = arch::cpu::counter();
    // Wait for 10 ticks (100 ms at 100 Hz) but give up after 2 s of counter time.
    while arch::timer::ticks() < start_ticks + 10 && arch::cpu::counter() - start < 2 * frequency {
        arch::cpu::wait_for_interrupt();
    }
    let elapsed_ms = (arch::cpu::counter() - start) * 1000 / frequency;
    let ticks = arch::timer::ticks() - start_ticks;
    check!(ticks >= 10, "only {ticks} ticks in {elapsed_ms} ms");
    // 10 ticks at 100 Hz take about 100 ms; the bound leaves room for a busy host.
    check!(
        (80..=400).contains(&elapsed_ms),
        "10 ticks took {elapsed_ms} ms"
    );
    check!(crate::irq::spurious_count() < 10);
    Ok(())
}

fn vmo_clone_snapshot_on_pool_pages(_: &Board) -> TestResult {
    use object::vmo::Vmo;
    const PAGE: usize = 4096;
    let frames = alloc::sync::Arc::new(crate::vm::PoolFrames::new().ok_or("no zero page")?);
    let before = memory::pool_stats();
    {
        let parent =
            Vmo::create(frames.clone(), 16 * PAGE as u64, 0).map_err(|e| format!("{e:?}"))?;
        let stamp: Vec<u8> = (0..16 * PAGE).map(|i| (i / 7) as u8).collect();
        parent.write(0, &stamp).map_err(|e| format!("{e:?}"))?;
        let used = memory::pool_stats().used_by[PageUse::Vmo as usize]
            - before.used_by[PageUse::Vmo as usize];
        check!(used == 16, "{used} pages for 16 written");
        let clone = parent
            .create_clone(abi::ZX_VMO_CLONE_COPY_ON_WRITE, 0, 16 * PAGE as u64)
            .map_err(|e| format!("{e:?}"))?;
        let snapshot = parent
            .create_child(abi::ZX_VMO_CHILD_SNAPSHOT, 4 * PAGE as u64, 4 * PAGE as u64)
            .map_err(|e| format!("{e:?}"))?;
        let after_children = memory::pool_stats();
        check!(after_children.used_by == memory::pool_stats().used_by);
        clone
            .write(PAGE as u64, &[0xee; 3])
            .map_err(|e| format!("{e:?}"))?;
        parent
            .write(4 * PAGE as u64, &[0xdd; 2])
            .map_err(|e| format!("{e:?}"))?;
        let mut buf = [0u8; 4];
        clone
            .read(PAGE as u64, &mut buf)
            .map_err(|e| format!("{e:?}"))?;
        check!(buf == [0xee, 0xee, 0xee, stamp[PAGE + 3]]);
        snapshot.read(0, &mut buf).map_err(|e| format!("{e:?}"))?;
        check!(
            buf == [
                stamp[4 * PAGE],
                stamp[4 * PAGE + 1],
                stamp[4 * PAGE + 2],
                stamp[4 * PAGE + 3]
            ],
            "snapshot saw a later parent write"
        );
        clone
            .read(4 * PAGE as u64, &mut buf)
            .map_err(|e| format!("{e:?}"))?;
        check!(
            buf[..2] == [0xdd, 0xdd],
            "clone does not see the parent's current page"
        );
    }
    let after = memory::pool_stats();
    check!(
        after.used_by[PageUse::Vmo as usize] == before.used_by[PageUse::Vmo as usize],
        "VMO pages leaked"
    );
    Ok(())
}

fn vmo_cache_ops_run(_: &Board) -> TestResult {
    use object::vmo::Vmo;
    let frames = alloc::sync::Arc::new(crate::vm::PoolFrames::new().ok_or("no zero page")?);
    let vmo = Vmo::create(frames, 3 * 4096, 0).map_err(|e| format!("{e:?}"))?;
    vmo.write(100, &[1; 5000]).map_err(|e| format!("{e:?}"))?;
    for op in [
        abi::ZX_VMO_OP_CACHE_CLEAN,
        abi::ZX_VMO_OP_CACHE_CLEAN_INVALIDATE,
        abi::ZX_VMO_OP_CACHE_SYNC,
        abi::ZX_VMO_OP_CACHE_INVALIDATE,
    ] {
        vmo.op_range(op, 0, 3 * 4096, &crate::vm::DataCache)
            .map_err(|e| format!("op {op}: {e:?}"))?;
    }
    let mut buf = [0u8; 2];
    vmo.read(100, &mut buf).map_err(|e| format!("{e:?}"))?;
    check!(buf == [1, 1], "data lost by cache maintenance");
    Ok(())
}

fn heap_large_allocations_return_to_the_pool(_: &Board) -> TestResult {
    let before = memory::pool_stats();
    {
        let blocks: Vec<Vec<u8>> = (0..16).map(|i| alloc::vec![i as u8; 64 * 1024]).collect();
        check!(blocks.iter().enumerate().all(|(i, b)| b[65535] == i as u8));
        let during = memory::pool_stats();
        check!(
            during.free_pages + 16 * 16 <= before.free_pages,
            "large blocks did not come from the pool"
        );
    }
    let after = memory::pool_stats();
    check!(
        after.free_pages == before.free_pages,
        "{} pages not returned",
        before.free_pages - after.free_pages
    );
    Ok(())
}

fn heap_small_allocations_return_to_the_pool(_: &Board) -> TestResult {
    let before = memory::pool_stats();
    {
        // About 2.5 MiB of small objects: the heap must take several chunks from the pool.
        let objects: Vec<Box<[u64; 16]>> = (0..20_000u64).map(|i| Box::new([i; 16])).collect();
        check!(objects.iter().enumerate().all(|(i, b)| b[15] == i as u64));
        let during = memory::pool_stats();
        check!(
            during.free_pages + 512 < before.free_pages,
            "the heap did not grow"
        );
    }
    let after = memory::pool_stats();
    // One empty chunk (64 pages) may stay as the heap's spare.
    check!(
        after.free_pages + 64 >= before.free_pages,
        "{} pages kept by the heap after everything was freed",
        before.free_pages.saturating_sub(after.free_pages)
    );
    Ok(())
}

/// The kernel's own memcpy and memset (arch's mem.S) against byte-by-byte expectations, for
/// every size up to 300 and every source and destination alignment within 8 bytes, with
/// guard bytes around the destination that must stay untouched.
fn memcpy_memset_match_reference(_: &Board) -> TestResult {
    let mut source = [0u8; 320];
    for (i, byte) in source.iter_mut().enumerate() {
        *byte = (i * 7 + 3) as u8;
    }
    let mut target = [0u8; 336];
    for size in 0..=300usize {
        for src_off in 0..8 {
            for dst_off in 0..8 {
                target.fill(0xaa);
                let dst = 8 + dst_off;
                // `black_box` keeps the size unknown, so this is a call to memcpy.
                let n = core::hint::black_box(size);
                target[dst..dst + n].copy_from_slice(&source[src_off..src_off + n]);
                check!(
                    target[dst..dst + size] == source[src_off..src_off + size],
                    "memcpy of {size} bytes ({src_off}/{dst_off}) copied wrong bytes"
                );
                check!(
                    target[..dst]
                        .iter()
                        .chain(&target[dst + size..])
                        .all(|&b| b == 0xaa),
                    "memcpy of {size} bytes ({src_off}/{dst_off}) wrote outside its range"
                );
            }
        }
        for dst_off in 0..8 {
            target.fill(0xaa);
            let dst = 8 + dst_off;
            let n = core::hint::black_box(size);
            target[dst..dst + n].fill(core::hint::black_box(0x5c));
            check!(
                target[dst..dst + size].iter().all(|&b| b == 0x5c),
                "memset of {size} bytes at {dst_off}"
            );
            check!(
                target[..dst]
                    .iter()
                    .chain(&target[dst + size..])
                    .all(|&b| b == 0xaa),
                "memset of {size} bytes at {dst_off} wrote outside its range"
            );
        }
    }
    Ok(())
}

/// The page routines behind VMO zero-fill and copy-on-write.
fn page_zero_and_copy(_: &Board) -> TestResult {
    let frames = crate::vm::frames();
    let (Some(a), Some(b)) = (frames.alloc(), frames.alloc()) else {
        return Err("no pages".into());
    };
    let pattern: Vec<u8> = (0..4096).map(|i| (i * 13 + 1) as u8).collect();
    frames.write(a, 0, &pattern);
    frames.write(b, 0, &[0xee; 4096]);
    frames.copy_page(b, a);
    let mut back = alloc::vec![0u8; 4096];
    frames.read(b, 0, &mut back);
    let copied = back == pattern;
    frames.zero(a);
    frames.read(a, 0, &mut back);
    let zeroed = back.iter().all(|&x| x == 0);
    frames.free(a);
    frames.free(b);
    check!(copied, "copy_page did not copy the page");
    check!(zeroed, "zero did not zero the page");
    Ok(())
}

// ---- kernel invariant checks (`kcheck`) ------------------------------------------------------
// The checks of the page pool's counters and of handle tables trip in host tests on crafted
// states (mm `kcheck_pool_*`, object `kcheck_handles_*`); the page-table checks need real
// address spaces, so they trip here.

/// A user VA for the kcheck tests' mappings.
const KCHECK_TEST_VA: usize = 0x40_0000_0000;

/// A process with a mapped page (so lower tables) and handles, a released address space's
/// tables: every check and the census pass, and pass again once it is gone.
fn kcheck_passes_on_a_process_with_mappings_and_handles(_: &Board) -> TestResult {
    use object::handle::Handle;
    use object::vmar::{AddressSpace, MappingPerms};
    crate::kcheck::check_all(true)?;
    let before = crate::kcheck::check_page_tables(true)?.total();
    let process = crate::task::Process::create(b"kcheck").map_err(|e| format!("{e:?}"))?;
    let vmo: alloc::sync::Arc<dyn object::object::KernelObject> =
        object::vmo::Vmo::create(crate::vm::frames(), 4096, 0).map_err(|e| format!("{e:?}"))?;
    for _ in 0..2 {
        process
            .handles()
            .add(Handle::new(vmo.clone(), object::Rights::READ))
            .map_err(|e| format!("{e:?}"))?;
    }
    let frames = crate::vm::frames();
    let frame = frames.alloc().ok_or("no page")?;
    let space = crate::aspace::UserAddressSpace::new().map_err(|e| format!("{e:?}"))?;
    let perms = MappingPerms {
        read: true,
        write: false,
        execute: false,
    };
    let mapped = space.map_page(KCHECK_TEST_VA, frame, perms);
    let checked = crate::kcheck::check_all(true).and_then(|seen| {
        crate::kcheck::check_all(false)?;
        Ok(seen)
    });
    space.unmap(KCHECK_TEST_VA, mm::PAGE_SIZE);
    drop(space);
    frames.free(frame);
    drop(process);
    mapped.map_err(|e| format!("{e:?}"))?;
    let seen = checked?;
    // Two spaces (the process's and the test's), the test's with three lower tables.
    check!(
        seen.tables.spaces == 2,
        "{} address spaces",
        seen.tables.spaces
    );
    check!(
        seen.tables.total() == before + 5,
        "{} table pages, {before} before",
        seen.tables.total()
    );
    check!(seen.handles == 2, "{} handles", seen.handles);
    crate::kcheck::check_all(true).map(drop)
}

/// A page-table page allocated outside any address space trips the count after every call
/// and the census.
fn kcheck_trips_on_a_page_table_page_no_address_space_owns(_: &Board) -> TestResult {
    crate::kcheck::check_page_tables(true)?;
    let stray = crate::memory::with_pool(|pool| pool.alloc_zeroed(1, mm::pool::PageUse::PageTable))
        .map_err(|e| format!("{e:?}"))?;
    let count = crate::kcheck::check_page_tables(false);
    let census = crate::kcheck::check_page_tables(true);
    let _ =
        crate::memory::with_pool(|pool| pool.free_pages(stray, 1, mm::pool::PageUse::PageTable));
    log::info!("  kcheck said: {count:?}");
    log::info!("  kcheck said: {census:?}");
    check!(
        count
            .as_ref()
            .is_err_and(|e| e.contains("pages in the pool")),
        "the count did not trip: {count:?}"
    );
    check!(
        census
            .as_ref()
            .is_err_and(|e| e.contains("pages in the pool")),
        "the census did not trip: {census:?}"
    );
    crate::kcheck::check_page_tables(true).map(drop)
}

/// An address space whose tree reaches a table page it does not list (as if a table were
/// installed without being recorded, or recorded by another tree) trips the census.
fn kcheck_trips_on_a_tree_reaching_a_foreign_table(_: &Board) -> TestResult {
    let space = crate::aspace::UserAddressSpace::new().map_err(|e| format!("{e:?}"))?;
    let foreign =
        crate::memory::with_pool(|pool| pool.alloc_zeroed(1, mm::pool::PageUse::PageTable))
            .map_err(|e| format!("{e:?}"))?;
    let root = space.ttbr0() & 0x0000_ffff_ffff_f000;
    let entry = (arch::mmu::phys_to_virt(root) as *mut u64).wrapping_add(3);
    // SAFETY: entry 3 of the new space's root table, mapped in the linear map: the space has
    // nothing mapped and no CPU runs on it; the entry is cleared again below.
    unsafe { entry.write(foreign | 0b11) };
    let census = crate::kcheck::check_page_tables(true);
    // SAFETY: as above.
    unsafe { entry.write(0) };
    drop(space);
    let _ =
        crate::memory::with_pool(|pool| pool.free_pages(foreign, 1, mm::pool::PageUse::PageTable));
    log::info!("  kcheck said: {census:?}");
    check!(
        census.as_ref().is_err_and(|e| e.contains("not one of its")),
        "the census did not trip: {census:?}"
    );
    crate::kcheck::check_page_tables(true).map(drop)
}
