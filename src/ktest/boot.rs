//! Boot: the exception level, the device tree against the page pool, the boot CPU's per-CPU
//! block, the secondary CPUs, and the IRQ-safe lock.

use super::*;

pub(super) const TESTS: &[Test] = &[
    ("boot_runs_at_el1", boot_runs_at_el1),
    ("dtb_memory_matches_pool", dtb_memory_matches_pool),
    ("dtb_corrupt_copy_rejected", dtb_corrupt_copy_rejected),
    ("per_cpu_is_the_boot_cpus", per_cpu_is_the_boot_cpus),
    (
        "every_cpu_the_device_tree_lists_is_online",
        every_cpu_the_device_tree_lists_is_online,
    ),
    ("every_online_cpu_ticks", every_online_cpu_ticks),
    (
        "an_ipi_reaches_every_online_cpu",
        an_ipi_reaches_every_online_cpu,
    ),
    (
        "irq_safe_lock_masks_and_restores",
        irq_safe_lock_masks_and_restores,
    ),
];

/// TPIDR_EL1 names the boot CPU's block (index 0), and no thread runs yet.
fn per_cpu_is_the_boot_cpus(_: &Board) -> TestResult {
    check!(crate::task::cpu_index() == 0);
    check!(crate::task::current_token() == 0);
    check!(crate::task::current_thread().is_none());
    Ok(())
}

/// Every CPU of `/cpus` (up to the kernel's limit) was started and came online, each in its
/// own per-CPU block.
fn every_cpu_the_device_tree_lists_is_online(board: &Board) -> TestResult {
    let listed = board.info.cpus.len().clamp(1, crate::percpu::MAX_CPUS);
    check!(
        crate::smp::expected() == listed,
        "{} CPUs expected online, {listed} listed",
        crate::smp::expected()
    );
    check!(
        crate::smp::online() == listed,
        "{} of {listed} CPUs online",
        crate::smp::online()
    );
    for index in 0..listed {
        check!(crate::percpu::is_online(index), "CPU {index} is not online");
    }
    if listed < 2 {
        return skip("one CPU: no secondary to start");
    }
    Ok(())
}

/// Every online CPU takes its own timer interrupts: within 100 ms (10 ticks at 100 Hz) each
/// one's count moves by at least 3. The boot CPU takes its ticks while this test waits with
/// interrupts unmasked; the others take theirs in their idle loop.
fn every_online_cpu_ticks(_: &Board) -> TestResult {
    if !crate::irq::installed() {
        return skip("no interrupt controller: no tick");
    }
    let online = crate::smp::online();
    let before: Vec<u64> = (0..online).map(crate::percpu::ticks_of).collect();
    let ticked = |index: usize, before: u64| crate::percpu::ticks_of(index) >= before + 3;
    wait_with_irqs(|| before.iter().enumerate().all(|(i, &b)| ticked(i, b)));
    for (index, before) in before.iter().enumerate() {
        check!(
            ticked(index, *before),
            "CPU {index} took {} ticks in 100 ms",
            crate::percpu::ticks_of(index) - before
        );
    }
    Ok(())
}

/// Waits up to 100 ms, interrupts unmasked (so this CPU takes its own), until `done`.
fn wait_with_irqs(done: impl Fn() -> bool) -> bool {
    let frequency = arch::cpu::counter_frequency().max(1);
    let deadline = arch::cpu::counter() + frequency / 10;
    let were_unmasked = arch::cpu::disable_irqs();
    arch::cpu::enable_irqs();
    let mut ok = done();
    while !ok && arch::cpu::counter() < deadline {
        core::hint::spin_loop();
        ok = done();
    }
    if !were_unmasked {
        arch::cpu::disable_irqs();
    }
    ok
}

/// The kernel's inter-processor interrupt (an SGI on a GIC, a core mailbox on the BCM2836)
/// sent from this CPU reaches every online CPU, this one included, within 100 ms.
fn an_ipi_reaches_every_online_cpu(_: &Board) -> TestResult {
    if !crate::irq::installed() {
        return skip("no interrupt controller");
    }
    for index in 0..crate::smp::online() {
        let before = crate::percpu::ipis_of(index);
        check!(
            crate::irq::send_ipi(index),
            "CPU {index} cannot be sent an IPI"
        );
        check!(
            wait_with_irqs(|| crate::percpu::ipis_of(index) > before),
            "CPU {index} did not take the IPI within 100 ms"
        );
    }
    Ok(())
}

/// Whether IRQs are unmasked, leaving them as they are.
fn irqs_unmasked() -> bool {
    let unmasked = arch::cpu::disable_irqs();
    if unmasked {
        arch::cpu::enable_irqs();
    }
    unmasked
}

/// Held, the lock masks IRQs; released, it puts back what was there before: masked stays
/// masked, unmasked comes back.
fn irq_safe_lock_masks_and_restores(_: &Board) -> TestResult {
    let lock = crate::sync::IrqSafeLock::new(0u32);
    let were_unmasked = arch::cpu::disable_irqs();
    let masked_after = {
        let mut value = lock.lock();
        *value += 1;
        irqs_unmasked()
    };
    let masked_stays = irqs_unmasked();
    arch::cpu::enable_irqs();
    let while_held = {
        let mut value = lock.lock();
        *value += 1;
        irqs_unmasked()
    };
    let unmasked_back = irqs_unmasked();
    if !were_unmasked {
        arch::cpu::disable_irqs();
    }
    check!(!masked_after && !masked_stays, "masked IRQs came unmasked");
    check!(!while_held, "IRQs unmasked while the lock was held");
    check!(
        unmasked_back,
        "IRQs still masked after the lock was released"
    );
    check!(*lock.lock() == 2);
    Ok(())
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
