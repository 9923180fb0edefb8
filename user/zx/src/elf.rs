//! The few ELF fields the loader needs: the file header and the program headers of a static
//! aarch64 executable (ELF64, little endian, `ET_EXEC`).
//!
//! Parsed by hand rather than with an ELF crate: the loader reads just the headers out of the
//! boot archive VMO and copies segment bytes VMO to VMO, never holding the whole file.

use crate::Status;

/// Size of the ELF64 file header.
pub(crate) const EHDR_LEN: usize = 64;
/// Size of an ELF64 program header.
pub(crate) const PHDR_LEN: usize = 56;
/// Most program headers accepted.
pub(crate) const MAX_PHDRS: usize = 32;

/// `PT_LOAD`.
pub(crate) const PT_LOAD: u32 = 1;
/// `PF_X`.
pub(crate) const PF_X: u32 = 1;
/// `PF_W`.
pub(crate) const PF_W: u32 = 2;
/// `PF_R`.
pub(crate) const PF_R: u32 = 4;

const ET_EXEC: u16 = 2;
const EM_AARCH64: u16 = 183;

/// What the file header says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Header {
    pub entry: u64,
    pub phoff: u64,
    pub phnum: usize,
}

/// One program header.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Segment {
    pub kind: u32,
    pub flags: u32,
    pub offset: u64,
    pub vaddr: u64,
    pub filesz: u64,
    pub memsz: u64,
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut raw = [0u8; 8];
    raw.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(raw)
}

/// Checks and reads the file header. Not ELF: `INVALID_ARGS`; ELF of another kind
/// (32-bit, big endian, not an aarch64 static executable): `NOT_SUPPORTED`.
pub(crate) fn parse_header(b: &[u8; EHDR_LEN]) -> Result<Header, Status> {
    if b[..4] != *b"\x7fELF" {
        return Err(Status::INVALID_ARGS);
    }
    // EI_CLASS = ELFCLASS64, EI_DATA = ELFDATA2LSB, EI_VERSION = 1.
    if b[4] != 2 || b[5] != 1 || b[6] != 1 {
        return Err(Status::NOT_SUPPORTED);
    }
    if u16_at(b, 16) != ET_EXEC || u16_at(b, 18) != EM_AARCH64 {
        return Err(Status::NOT_SUPPORTED);
    }
    let phentsize = u16_at(b, 54) as usize;
    let phnum = u16_at(b, 56) as usize;
    if phentsize != PHDR_LEN || phnum == 0 || phnum > MAX_PHDRS {
        return Err(Status::NOT_SUPPORTED);
    }
    Ok(Header {
        entry: u64_at(b, 24),
        phoff: u64_at(b, 32),
        phnum,
    })
}

/// Reads one program header.
pub(crate) fn parse_segment(b: &[u8; PHDR_LEN]) -> Segment {
    Segment {
        kind: u32_at(b, 0),
        flags: u32_at(b, 4),
        offset: u64_at(b, 8),
        vaddr: u64_at(b, 16),
        filesz: u64_at(b, 32),
        memsz: u64_at(b, 40),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> [u8; EHDR_LEN] {
        let mut h = [0u8; EHDR_LEN];
        h[..4].copy_from_slice(b"\x7fELF");
        h[4] = 2;
        h[5] = 1;
        h[6] = 1;
        h[16..18].copy_from_slice(&2u16.to_le_bytes());
        h[18..20].copy_from_slice(&183u16.to_le_bytes());
        h[24..32].copy_from_slice(&0x1000_0040u64.to_le_bytes());
        h[32..40].copy_from_slice(&64u64.to_le_bytes());
        h[54..56].copy_from_slice(&56u16.to_le_bytes());
        h[56..58].copy_from_slice(&4u16.to_le_bytes());
        h
    }

    #[test]
    fn parses_header() {
        assert_eq!(
            parse_header(&header()),
            Ok(Header {
                entry: 0x1000_0040,
                phoff: 64,
                phnum: 4
            })
        );
        let mut h = header();
        h[0] = 0;
        assert_eq!(parse_header(&h), Err(Status::INVALID_ARGS));
        let mut h = header();
        h[4] = 1;
        assert_eq!(parse_header(&h), Err(Status::NOT_SUPPORTED));
        let mut h = header();
        h[16] = 3; // ET_DYN
        assert_eq!(parse_header(&h), Err(Status::NOT_SUPPORTED));
        let mut h = header();
        h[18] = 62; // x86-64
        assert_eq!(parse_header(&h), Err(Status::NOT_SUPPORTED));
        let mut h = header();
        h[56] = 0;
        assert_eq!(parse_header(&h), Err(Status::NOT_SUPPORTED));
    }

    #[test]
    fn parses_segment() {
        let mut p = [0u8; PHDR_LEN];
        p[0..4].copy_from_slice(&1u32.to_le_bytes());
        p[4..8].copy_from_slice(&5u32.to_le_bytes());
        p[8..16].copy_from_slice(&0x1000u64.to_le_bytes());
        p[16..24].copy_from_slice(&0x1000_0000u64.to_le_bytes());
        p[24..32].copy_from_slice(&0xdeadu64.to_le_bytes()); // p_paddr, ignored
        p[32..40].copy_from_slice(&0x234u64.to_le_bytes());
        p[40..48].copy_from_slice(&0x2000u64.to_le_bytes());
        assert_eq!(
            parse_segment(&p),
            Segment {
                kind: PT_LOAD,
                flags: PF_R | PF_X,
                offset: 0x1000,
                vaddr: 0x1000_0000,
                filesz: 0x234,
                memsz: 0x2000,
            }
        );
    }
}
