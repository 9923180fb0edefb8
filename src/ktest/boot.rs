//! Boot: the exception level, and the device tree against the page pool.

use super::*;

pub(super) const TESTS: &[Test] = &[
    ("boot_runs_at_el1", boot_runs_at_el1),
    ("dtb_memory_matches_pool", dtb_memory_matches_pool),
    ("dtb_corrupt_copy_rejected", dtb_corrupt_copy_rejected),
];

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
