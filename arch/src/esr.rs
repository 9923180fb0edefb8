//! Decoding of the Exception Syndrome Register, for fault reports and fault handling.

use core::fmt;

/// The value of ESR_EL1 for one exception.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Esr(pub u64);

/// What a data or instruction abort was, from its fault status code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultKind {
    AddressSize(u8),
    Translation(u8),
    AccessFlag(u8),
    Permission(u8),
    Alignment,
    SynchronousExternal,
    TlbConflict,
    Other(u8),
}

impl Esr {
    /// Exception class, ESR[31:26].
    pub fn class(self) -> u8 {
        ((self.0 >> 26) & 0x3f) as u8
    }

    /// Instruction-specific syndrome, ESR[24:0].
    pub fn iss(self) -> u32 {
        (self.0 & 0x1ff_ffff) as u32
    }

    pub fn class_name(self) -> &'static str {
        match self.class() {
            0x00 => "unknown reason (undefined instruction)",
            0x01 => "WFI/WFE trapped",
            0x07 => "FP/SIMD access trapped",
            0x0e => "illegal execution state",
            0x11 => "SVC from AArch32",
            0x15 => "SVC from AArch64",
            0x18 => "MSR/MRS/system instruction trapped",
            0x20 => "instruction abort from a lower EL",
            0x21 => "instruction abort from the same EL",
            0x22 => "PC alignment fault",
            0x24 => "data abort from a lower EL",
            0x25 => "data abort from the same EL",
            0x26 => "SP alignment fault",
            0x2c => "FP exception",
            0x2f => "SError",
            0x30 | 0x31 => "breakpoint",
            0x32 | 0x33 => "software step",
            0x34 | 0x35 => "watchpoint",
            0x38 => "BKPT (AArch32)",
            0x3c => "BRK instruction",
            _ => "reserved or unhandled class",
        }
    }

    pub fn is_data_abort(self) -> bool {
        matches!(self.class(), 0x24 | 0x25)
    }

    pub fn is_instruction_abort(self) -> bool {
        matches!(self.class(), 0x20 | 0x21)
    }

    /// For a data abort: whether the access was a write (WnR).
    pub fn is_write(self) -> bool {
        self.is_data_abort() && (self.iss() & (1 << 6)) != 0
    }

    /// For a BRK instruction: its immediate.
    pub fn brk_immediate(self) -> Option<u16> {
        (self.class() == 0x3c).then_some((self.iss() & 0xffff) as u16)
    }

    /// For an abort: the decoded fault status code (DFSC/IFSC).
    pub fn fault(self) -> Option<FaultKind> {
        if !(self.is_data_abort() || self.is_instruction_abort()) {
            return None;
        }
        let fsc = (self.iss() & 0x3f) as u8;
        let level = fsc & 0x3;
        Some(match fsc & 0x3c {
            0x00 => FaultKind::AddressSize(level),
            0x04 => FaultKind::Translation(level),
            0x08 => FaultKind::AccessFlag(level),
            0x0c => FaultKind::Permission(level),
            _ => match fsc {
                0x21 => FaultKind::Alignment,
                0x10 => FaultKind::SynchronousExternal,
                0x30 => FaultKind::TlbConflict,
                other => FaultKind::Other(other),
            },
        })
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FaultKind::AddressSize(l) => write!(f, "address size fault, level {l}"),
            FaultKind::Translation(l) => write!(f, "translation fault, level {l}"),
            FaultKind::AccessFlag(l) => write!(f, "access flag fault, level {l}"),
            FaultKind::Permission(l) => write!(f, "permission fault, level {l}"),
            FaultKind::Alignment => write!(f, "alignment fault"),
            FaultKind::SynchronousExternal => write!(f, "synchronous external abort"),
            FaultKind::TlbConflict => write!(f, "TLB conflict abort"),
            FaultKind::Other(c) => write!(f, "fault status {c:#x}"),
        }
    }
}

impl fmt::Display for Esr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:#010x} (EC {:#04x}: {}",
            self.0,
            self.class(),
            self.class_name()
        )?;
        if let Some(fault) = self.fault() {
            write!(f, "; {fault}")?;
            if self.is_data_abort() {
                f.write_str(if self.is_write() { ", write" } else { ", read" })?;
            }
        }
        if let Some(imm) = self.brk_immediate() {
            write!(f, " #{imm:#x}")?;
        }
        f.write_str(")")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_abort_translation_level3_write() {
        // EC 0x25, IL, WnR, DFSC 0b000111.
        let esr = Esr((0x25 << 26) | (1 << 25) | (1 << 6) | 0x07);
        assert!(esr.is_data_abort());
        assert!(esr.is_write());
        assert_eq!(esr.fault(), Some(FaultKind::Translation(3)));
        let text = format!("{esr}");
        assert!(text.contains("data abort from the same EL"), "{text}");
        assert!(text.contains("translation fault, level 3, write"), "{text}");
    }

    #[test]
    fn permission_fault_read() {
        let esr = Esr((0x24 << 26) | 0x0f);
        assert_eq!(esr.fault(), Some(FaultKind::Permission(3)));
        assert!(!esr.is_write());
    }

    #[test]
    fn brk_immediate() {
        let esr = Esr((0x3c << 26) | (1 << 25) | 0x42);
        assert_eq!(esr.brk_immediate(), Some(0x42));
        assert_eq!(esr.fault(), None);
        assert!(format!("{esr}").contains("BRK instruction #0x42"));
    }

    #[test]
    fn undefined_instruction() {
        let esr = Esr(1 << 25);
        assert_eq!(esr.class(), 0);
        assert!(esr.class_name().contains("undefined"));
    }
}
