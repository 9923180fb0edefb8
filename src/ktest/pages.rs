//! The page pool, the kernel heap, and the memory routines (memcpy, memset, page zero and
//! copy).

use super::*;

pub(super) const TESTS: &[Test] = &[
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
        "memcpy_memset_match_reference",
        memcpy_memset_match_reference,
    ),
    ("page_zero_and_copy", page_zero_and_copy),
];

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
