//! CPU identification, Privileged Access Never, interrupt masking and halting.

use aarch64_cpu::asm;
use aarch64_cpu::registers::*;

/// The exception level the kernel runs at now (1 after the boot code dropped from EL2).
pub fn current_el() -> u8 {
    CurrentEL.read(CurrentEL::EL) as u8
}

/// MPIDR_EL1: this CPU's affinity fields (Aff0 is the core number within a cluster).
pub fn mpidr() -> u64 {
    MPIDR_EL1.get()
}

/// A readable name for the CPU from MIDR_EL1, e.g. "Arm Cortex-A72 r0p3".
pub struct CpuId {
    pub implementer: &'static str,
    pub part: &'static str,
    pub variant: u8,
    pub revision: u8,
    pub midr: u64,
}

pub fn cpu_id() -> CpuId {
    let midr = MIDR_EL1.get();
    let implementer = match (midr >> 24) & 0xff {
        0x41 => "Arm",
        0x42 => "Broadcom",
        0x43 => "Cavium",
        0x51 => "Qualcomm",
        0x61 => "Apple",
        _ => "unknown implementer",
    };
    let part = if (midr >> 24) & 0xff == 0x41 {
        match (midr >> 4) & 0xfff {
            0xd03 => "Cortex-A53",
            0xd04 => "Cortex-A35",
            0xd05 => "Cortex-A55",
            0xd07 => "Cortex-A57",
            0xd08 => "Cortex-A72",
            0xd09 => "Cortex-A73",
            0xd0b => "Cortex-A76",
            0xd0c => "Neoverse-N1",
            0xd40 => "Neoverse-V1",
            0xd49 => "Neoverse-N2",
            _ => "unknown part",
        }
    } else {
        "unknown part"
    };
    CpuId {
        implementer,
        part,
        variant: ((midr >> 20) & 0xf) as u8,
        revision: (midr & 0xf) as u8,
        midr,
    }
}

impl core::fmt::Display for CpuId {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "{} {} r{}p{} (MIDR {:#x})",
            self.implementer, self.part, self.variant, self.revision, self.midr
        )
    }
}

/// Whether PAN is on (set once at boot by [`enable_pan`]).
static PAN_ENABLED: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// Turns on Privileged Access Never where the CPU has it (FEAT_PAN, ARMv8.1): from then on a
/// kernel load or store to a page EL0 can reach faults, so only the unprivileged
/// (`ldtr`/`sttr`) copy routines, or code that clears PSTATE.PAN for a checked range, reach
/// user memory. SCTLR_EL1.SPAN is cleared so that every exception taken to EL1 sets PSTATE.PAN
/// again. Returns whether PAN is on. Call once, at boot, before any user page exists.
pub fn enable_pan() -> bool {
    if !has_pan() {
        return false;
    }
    // SAFETY: no page EL0 can reach exists yet and the kernel never touches user memory with
    // ordinary loads and stores outside the copy routines, so this only adds faults for code
    // that would be wrong anyway. `.inst` encodes `msr pan, #1` (the assembler is not told the
    // CPU has ARMv8.1).
    unsafe {
        core::arch::asm!(
            "mrs {s}, sctlr_el1",
            "bic {s}, {s}, #(1 << 23)",
            "msr sctlr_el1, {s}",
            ".inst 0xd500419f",
            "isb",
            s = out(reg) _,
            options(nostack)
        );
    }
    PAN_ENABLED.store(true, core::sync::atomic::Ordering::Relaxed);
    true
}

/// Whether PAN is on (the bulk user copies clear it for their duration).
#[inline]
pub fn pan_enabled() -> bool {
    PAN_ENABLED.load(core::sync::atomic::Ordering::Relaxed)
}

/// Whether the CPU implements FEAT_PAN (ID_AA64MMFR1_EL1.PAN).
pub fn has_pan() -> bool {
    ID_AA64MMFR1_EL1.read(ID_AA64MMFR1_EL1::PAN) != 0
}

/// PSTATE.PAN now (false on a CPU without PAN).
pub fn pan_set() -> bool {
    if !has_pan() {
        return false;
    }
    let pan: u64;
    // SAFETY: reads the PAN special register (`mrs x, pan`, encoded as S3_0_C4_C2_3 for an
    // assembler without ARMv8.1), which exists because FEAT_PAN does.
    unsafe { core::arch::asm!("mrs {}, S3_0_C4_C2_3", out(reg) pan, options(nomem, nostack)) };
    pan & (1 << 22) != 0
}

/// Points TPIDR_EL1 at this CPU's per-CPU block (`ptr`, the kernel's to define), once per CPU
/// at boot, before anything reads it back with [`per_cpu_ptr`]. Nothing else in the kernel
/// uses TPIDR_EL1 (the vectors use SP_EL0 and the stack, user threads TPIDR_EL0).
#[inline]
pub fn set_per_cpu(ptr: usize) {
    // SAFETY: TPIDR_EL1 is a scratch register of EL1 with no effect on the hardware.
    unsafe {
        core::arch::asm!("msr tpidr_el1, {}", in(reg) ptr, options(nomem, nostack, preserves_flags))
    };
}

/// What [`set_per_cpu`] stored on this CPU. Not `pure`: a thread that moves to another CPU
/// between two reads must see the other CPU's value, so the compiler may not merge reads.
#[inline(always)]
pub fn per_cpu_ptr() -> usize {
    let ptr;
    // SAFETY: reading a scratch register.
    unsafe {
        core::arch::asm!("mrs {}, tpidr_el1", out(reg) ptr, options(nomem, nostack, preserves_flags))
    };
    ptr
}

/// Unmask IRQs at EL1.
#[inline]
pub fn enable_irqs() {
    DAIF.modify(DAIF::I::Unmasked);
}

/// Mask IRQs; returns whether they were unmasked before.
#[inline]
pub fn disable_irqs() -> bool {
    let was_unmasked = !DAIF.is_set(DAIF::I);
    DAIF.modify(DAIF::I::Masked);
    was_unmasked
}

/// Unmasks IRQs for a moment (masked on entry and on return), so that a pending one, the
/// tick above all, is taken here.
pub fn take_pending_irqs() {
    enable_irqs();
    // The unmasking takes effect at this context synchronization event: a pending IRQ is
    // taken here, before the mask goes back.
    asm::barrier::isb(asm::barrier::SY);
    disable_irqs();
}

/// Wait for an interrupt (or any other wake-up event).
pub fn wait_for_interrupt() {
    asm::wfi();
}

/// Stop this CPU for good: interrupts masked, waiting for events that change nothing.
pub fn halt() -> ! {
    DAIF.write(DAIF::D::Masked + DAIF::A::Masked + DAIF::I::Masked + DAIF::F::Masked);
    loop {
        asm::wfe();
    }
}

/// The generic counter's frequency as the firmware programmed it (0 if it did not).
pub fn counter_frequency() -> u64 {
    CNTFRQ_EL0.get()
}

/// The virtual counter (equal to the physical one: the boot code zeroes CNTVOFF_EL2).
pub fn counter() -> u64 {
    asm::barrier::isb(asm::barrier::SY);
    CNTVCT_EL0.get()
}

/// Whether the CPU implements FEAT_RNG (ID_AA64ISAR0_EL1.RNDR, bits 63:60, non-zero): the
/// RNDR random-number register exists.
pub fn has_rndr() -> bool {
    (ID_AA64ISAR0_EL1.get() >> 60) & 0xf != 0
}

/// A 64-bit random number from RNDR, or `None` if the hardware could not give one in
/// reasonable time (it then sets NZCV to 0b0100) or the CPU has no FEAT_RNG.
pub fn rndr() -> Option<u64> {
    if !has_rndr() {
        return None;
    }
    let value: u64;
    let nzcv: u64;
    // SAFETY: RNDR (S3_3_C2_C4_0, named so for an assembler without ARMv8.5) exists because
    // FEAT_RNG does; reading it only sets the flags, which are read right after.
    unsafe {
        core::arch::asm!(
            "mrs {v}, S3_3_C2_C4_0",
            "mrs {f}, nzcv",
            v = out(reg) value,
            f = out(reg) nzcv,
            options(nomem, nostack)
        )
    };
    // Z set: no random number.
    (nzcv & (1 << 30) == 0).then_some(value)
}
