//! The few ELF fields the loader needs: the file header and the program headers of a static
//! aarch64 executable (ELF64, little endian, `ET_EXEC`).
//!
//! The loader reads just the headers out of the boot archive VMO and copies segment bytes
//! VMO to VMO, never holding the whole file: the `elf` crate (the kernel's reader too)
//! parses each header from its bytes; what this module adds is which files it accepts.

use crate::Status;
use elf::abi::{EI_NIDENT, EM_AARCH64, ET_EXEC};
use elf::endian::LittleEndian;
use elf::file::{Class, FileHeader};
use elf::parse::ParseAt;
use elf::segment::ProgramHeader;
use elf::ParseError;

pub(crate) use elf::abi::{PF_R, PF_W, PF_X, PT_LOAD};

/// Size of the ELF64 file header.
pub(crate) const EHDR_LEN: usize = 64;
/// Size of an ELF64 program header.
pub(crate) const PHDR_LEN: usize = 56;
/// Most program headers accepted.
pub(crate) const MAX_PHDRS: usize = 32;

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

/// Checks and reads the file header. Not ELF: `INVALID_ARGS`; ELF of another kind
/// (32-bit, big endian, not an aarch64 static executable): `NOT_SUPPORTED`.
pub(crate) fn parse_header(b: &[u8; EHDR_LEN]) -> Result<Header, Status> {
    let unsupported = |error: ParseError| match error {
        ParseError::BadMagic(_) => Status::INVALID_ARGS,
        _ => Status::NOT_SUPPORTED,
    };
    let ident = elf::file::parse_ident::<LittleEndian>(b).map_err(unsupported)?;
    let header = FileHeader::parse_tail(ident, &b[EI_NIDENT..]).map_err(unsupported)?;
    if header.class != Class::ELF64 || header.e_type != ET_EXEC || header.e_machine != EM_AARCH64 {
        return Err(Status::NOT_SUPPORTED);
    }
    let phnum = usize::from(header.e_phnum);
    if usize::from(header.e_phentsize) != PHDR_LEN || phnum == 0 || phnum > MAX_PHDRS {
        return Err(Status::NOT_SUPPORTED);
    }
    Ok(Header {
        entry: header.e_entry,
        phoff: header.e_phoff,
        phnum,
    })
}

/// Reads one program header.
pub(crate) fn parse_segment(b: &[u8; PHDR_LEN]) -> Segment {
    // 56 bytes are exactly an ELF64 program header: the parse cannot fail.
    ProgramHeader::parse_at(LittleEndian, Class::ELF64, &mut 0, b).map_or_else(
        |_| Segment::default(),
        |p| Segment {
            kind: p.p_type,
            flags: p.p_flags,
            offset: p.p_offset,
            vaddr: p.p_vaddr,
            filesz: p.p_filesz,
            memsz: p.p_memsz,
        },
    )
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
