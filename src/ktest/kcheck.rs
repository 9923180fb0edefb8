//! The kernel's invariant checks (`kcheck`) on real address spaces.

use super::*;

pub(super) const TESTS: &[Test] = &[
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
    let process = crate::task::Process::create(crate::task::root_job(), b"kcheck")
        .map_err(|e| format!("{e:?}"))?;
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
