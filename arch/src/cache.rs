//! Data-cache maintenance by virtual address to the point of coherency (`dc cvac`, `ivac`,
//! `civac`), a line at a time, with the line size from CTR_EL0.DminLine and a `dsb sy` so
//! the maintenance is complete when a call returns.
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
}
