//! Data-cache maintenance by virtual address to the point of coherency (`dc cvac`, `ivac`,
//! `civac`), a line at a time, with the line size from CTR_EL0.DminLine and a `dsb sy` so
//! the maintenance is complete when a call returns; and the instruction-cache maintenance
//! that makes new code visible to every CPU ([`sync_instructions`]).
//!
//! Cleaning (writing dirty lines back) changes no data anyone sees, so it is safe; a range
//! that is not mapped takes a kernel data abort, as any access would. Invalidating without
//! cleaning discards writes still in the cache, so it is unsafe. The line arithmetic is
//! tested on the host; the instructions build only for aarch64.

/// The smallest data-cache line size, in bytes, a CTR_EL0 value gives (DminLine: log2 of
/// the number of 4-byte words).
#[inline]
pub const fn dcache_line_from_ctr(ctr: u64) -> usize {
    4 << ((ctr >> 16) & 0xf)
}

/// The addresses of the `line`-byte cache lines (`line` a power of two) that `start .. start
/// + len` touches; none when `len` is 0.
#[inline]
pub fn lines(start: usize, len: usize, line: usize) -> impl Iterator<Item = usize> {
    let first = if len == 0 { start } else { start & !(line - 1) };
    (first..start.saturating_add(len)).step_by(line)
}

/// The smallest data-cache line size of this CPU.
#[cfg(all(target_arch = "aarch64", target_os = "none"))]
#[inline]
pub fn dcache_line() -> usize {
    let ctr: u64;
    // SAFETY: reading CTR_EL0 has no side effects.
    unsafe { core::arch::asm!("mrs {}, ctr_el0", out(reg) ctr, options(nomem, nostack)) };
    dcache_line_from_ctr(ctr)
}

#[cfg(all(target_arch = "aarch64", target_os = "none"))]
macro_rules! dc_range {
    ($start:expr, $len:expr, $op:literal) => {{
        for address in lines($start, $len, dcache_line()) {
            // SAFETY: cache maintenance by VA: for a clean, data is unchanged; for an
            // invalidate, the caller's promise that the lines may be discarded.
            unsafe {
                core::arch::asm!(concat!("dc ", $op, ", {}"), in(reg) address, options(nostack))
            };
        }
        // SAFETY: a barrier so the maintenance completes before the call returns.
        unsafe { core::arch::asm!("dsb sy", options(nostack)) };
    }};
}

/// Writes the dirty lines of `start .. start + len` back to memory (`dc cvac`).
#[cfg(all(target_arch = "aarch64", target_os = "none"))]
pub fn clean_range(start: usize, len: usize) {
    dc_range!(start, len, "cvac");
}

/// Writes back and then discards the lines of `start .. start + len` (`dc civac`).
#[cfg(all(target_arch = "aarch64", target_os = "none"))]
pub fn clean_invalidate_range(start: usize, len: usize) {
    dc_range!(start, len, "civac");
}

/// Discards the lines of `start .. start + len` without writing them back (`dc ivac`).
///
/// # Safety
/// The whole lines the range touches (it is widened to lines) hold nothing the kernel relies
/// on: data written to them and not yet cleaned may be lost.
#[cfg(all(target_arch = "aarch64", target_os = "none"))]
pub unsafe fn invalidate_range(start: usize, len: usize) {
    dc_range!(start, len, "ivac");
}

/// What [`sync_instructions`] must do on a CPU whose CTR_EL0 reads `ctr`: clean the data
/// side to the point of unification (unless IDC, bit 28, says it need not), and invalidate
/// the instruction side (unless DIC, bit 29) by address where the instruction cache is
/// PIPT (L1Ip, bits 15:14, is 0b11), else the whole of it (a VIPT instruction cache may hold
/// a line under another alias than the address the kernel writes through).
#[inline]
pub const fn instruction_sync_from_ctr(ctr: u64) -> (bool, InstructionInvalidate) {
    let clean = ctr & (1 << 28) == 0;
    let invalidate = if ctr & (1 << 29) != 0 {
        InstructionInvalidate::None
    } else if (ctr >> 14) & 0b11 == 0b11 {
        InstructionInvalidate::ByAddress
    } else {
        InstructionInvalidate::All
    };
    (clean, invalidate)
}

/// How [`sync_instructions`] invalidates the instruction caches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InstructionInvalidate {
    None,
    ByAddress,
    All,
}

/// Makes the instructions at `start .. start + len` (written through the data side, e.g.
/// the linear map) what every CPU fetches from there and from any other mapping of the same
/// memory: `dc cvau` per line and `dsb ish`, then `ic ivau` per line or one `ic ialluis`,
/// `dsb ish` and `isb`. Both are broadcast to the inner-shareable domain, so a thread of the
/// same process on another CPU sees them too.
#[cfg(all(target_arch = "aarch64", target_os = "none"))]
pub fn sync_instructions(start: usize, len: usize) {
    let ctr: u64;
    // SAFETY: reading CTR_EL0 has no side effects.
    unsafe { core::arch::asm!("mrs {}, ctr_el0", out(reg) ctr, options(nomem, nostack)) };
    let (clean, invalidate) = instruction_sync_from_ctr(ctr);
    if clean {
        for address in lines(start, len, dcache_line_from_ctr(ctr)) {
            // SAFETY: cleaning to the point of unification changes no data.
            unsafe { core::arch::asm!("dc cvau, {}", in(reg) address, options(nostack)) };
        }
    }
    // SAFETY: a barrier: the cleaning completes before the invalidation.
    unsafe { core::arch::asm!("dsb ish", options(nostack)) };
    match invalidate {
        InstructionInvalidate::None => {}
        InstructionInvalidate::ByAddress => {
            // IminLine: log2 of the words of the smallest instruction-cache line.
            let line = 4 << (ctr & 0xf);
            for address in lines(start, len, line) {
                // SAFETY: invalidating instruction-cache lines loses nothing (they are
                // refetched from memory, now clean).
                unsafe { core::arch::asm!("ic ivau, {}", in(reg) address, options(nostack)) };
            }
        }
        // SAFETY: as above, for every line.
        InstructionInvalidate::All => unsafe { core::arch::asm!("ic ialluis", options(nostack)) },
    }
    // SAFETY: barriers: the invalidation completes everywhere, and this CPU refetches.
    unsafe { core::arch::asm!("dsb ish", "isb", options(nostack)) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_size_from_ctr() {
        // Cortex-A72's CTR_EL0 (0x8444c004): DminLine 4, 64-byte lines.
        assert_eq!(dcache_line_from_ctr(0x8444_c004), 64);
        assert_eq!(dcache_line_from_ctr(0x0003_0000), 32);
        assert_eq!(dcache_line_from_ctr(0x000f_0000), 4 << 15);
    }

    #[test]
    fn lines_cover_the_range() {
        let all: Vec<usize> = lines(0x1000, 0x100, 64).collect();
        assert_eq!(all, (0..4).map(|i| 0x1000 + i * 64).collect::<Vec<_>>());
        // Unaligned at both ends: the partial lines are included.
        let some: Vec<usize> = lines(0x1030, 0x20, 64).collect();
        assert_eq!(some, [0x1000, 0x1040]);
        assert_eq!(lines(0x1030, 0, 64).count(), 0);
        assert_eq!(lines(0x103f, 1, 64).collect::<Vec<_>>(), [0x1000]);
    }

    #[test]
    fn instruction_sync_follows_ctr() {
        use super::{instruction_sync_from_ctr, InstructionInvalidate};
        // Cortex-A72 (PIPT instruction cache, neither IDC nor DIC).
        assert_eq!(
            instruction_sync_from_ctr(0x8444_c004),
            (true, InstructionInvalidate::ByAddress)
        );
        // Cortex-A53 (VIPT instruction cache): the whole cache.
        assert_eq!(
            instruction_sync_from_ctr(0x8444_8004),
            (true, InstructionInvalidate::All)
        );
        // IDC and DIC: nothing to do but the barriers.
        assert_eq!(
            instruction_sync_from_ctr(0xb444_c004),
            (false, InstructionInvalidate::None)
        );
    }
}
