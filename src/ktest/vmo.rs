//! VMOs on the kernel's own page pool: clones, snapshots and cache maintenance.

use super::*;

pub(super) const TESTS: &[Test] = &[
    (
        "vmo_clone_snapshot_on_pool_pages",
        vmo_clone_snapshot_on_pool_pages,
    ),
    ("vmo_cache_ops_run", vmo_cache_ops_run),
    (
        "vmo_pages_given_up_during_a_copy_wait_in_the_pool",
        vmo_pages_given_up_during_a_copy_wait_in_the_pool,
    ),
];

/// A DECOMMIT while a copy runs on the VMO's frames without its lock (as another CPU's would):
/// the pool holds the pages, writes nothing into them and does not hand them out, until the
/// copy ends; then they are free and the pool's census is exact throughout.
fn vmo_pages_given_up_during_a_copy_wait_in_the_pool(_: &Board) -> TestResult {
    use object::frames::CacheOps;
    use object::vmo::Vmo;
    struct NoCache;
    impl CacheOps for NoCache {
        fn clean(&self, _: u64, _: usize, _: usize) {}
        fn invalidate(&self, _: u64, _: usize, _: usize) {}
        fn clean_invalidate(&self, _: u64, _: usize, _: usize) {}
    }
    const PAGE: u64 = 4096;
    let vmo = Vmo::create(crate::vm::frames(), 4 * PAGE, 0).map_err(|e| format!("{e:?}"))?;
    vmo.write(0, &[0x3c; 4 * PAGE as usize])
        .map_err(|e| format!("{e:?}"))?;
    let before = memory::pool_stats();
    let mut outcome: TestResult = Ok(());
    vmo.read_unlocked(0, 4 * PAGE, &mut |frames, _, _, _| {
        vmo.op_range(abi::ZX_VMO_OP_DECOMMIT, 0, 4 * PAGE, &NoCache)?;
        let during = memory::pool_stats();
        let census = memory::with_pool(|pool| Ok(pool.census()));
        // Pages taken now must not be the held ones.
        let fresh: Vec<u64> = (0..8)
            .filter_map(|_| memory::alloc_spendable_page(PageUse::Vmo))
            .collect();
        let reused = fresh.iter().any(|page| frames.contains(page));
        for &page in &fresh {
            let _ = memory::with_pool(|pool| pool.free_pages(page, 1, PageUse::Vmo));
        }
        // SAFETY: the frames are VMO pages (held, not freed), read through the linear map.
        let intact = frames.iter().all(|&frame| unsafe {
            *(arch::mmu::phys_to_virt(frame) as *const u64) == 0x3c3c_3c3c_3c3c_3c3c
        });
        outcome = if during.free_pages != before.free_pages {
            Err(format!(
                "{} pages freed while the copy ran",
                during.free_pages - before.free_pages
            ))
        } else if !matches!(census, Ok(Ok(()))) {
            Err(format!("census during the copy: {census:?}"))
        } else if reused || !intact {
            Err(format!("held pages reused {reused}, intact {intact}"))
        } else {
            Ok(())
        };
        Ok(())
    })
    .map_err(|e| format!("{e:?}"))?;
    outcome?;
    let after = memory::pool_stats();
    check!(
        after.free_pages == before.free_pages + 4,
        "{} pages came back after the copy, not 4",
        after.free_pages as i64 - before.free_pages as i64
    );
    memory::with_pool(|pool| Ok(pool.census()))
        .map_err(|e| format!("{e:?}"))?
        .map_err(|e| format!("census after the copy: {e}"))?;
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
