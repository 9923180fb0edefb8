//! The boot archive: a `cpio newc` archive in a VMO (startup handle 2).
//!
//! Entry names are normalized without a leading `./` or `/` (`init`, `bin/conformance-c`);
//! lookups accept either spelling.

use alloc::string::String;
use alloc::vec::Vec;

use crate::{Result, Status, Vmo};

use abi::bootfs::{align4, normalize, parse_header, HEADER_LEN, S_IFMT, S_IFREG, TRAILER};

/// Longest entry name accepted.
const MAX_NAME: usize = 4096;

/// One archive member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Its path, without a leading `./` or `/`.
    pub name: String,
    /// Offset of its data in the archive.
    pub offset: u64,
    /// Size of its data.
    pub size: u64,
    /// `st_mode` (type and permission bits).
    pub mode: u32,
}

impl Entry {
    /// `true` for a regular file.
    pub fn is_file(&self) -> bool {
        self.mode & S_IFMT == S_IFREG
    }
}

/// Walks an archive of `size` bytes, reading it through `read(buf, offset)`.
fn walk(size: u64, mut read: impl FnMut(&mut [u8], u64) -> Result<()>) -> Result<Vec<Entry>> {
    let mut entries = Vec::new();
    let mut pos = 0u64;
    let mut buf = [0u8; HEADER_LEN + 128];
    while pos + HEADER_LEN as u64 <= size {
        let n = (buf.len() as u64).min(size - pos) as usize;
        read(&mut buf[..n], pos)?;
        let header = parse_header(&buf[..n]).ok_or(Status::INVALID_ARGS)?;
        let namesize = header.namesize as usize;
        if namesize == 0 || namesize > MAX_NAME {
            return Err(Status::INVALID_ARGS);
        }
        let name_end = pos + (HEADER_LEN + namesize) as u64;
        if name_end > size {
            return Err(Status::INVALID_ARGS);
        }
        let mut name_bytes = alloc::vec![0u8; namesize];
        if HEADER_LEN + namesize <= n {
            name_bytes.copy_from_slice(&buf[HEADER_LEN..HEADER_LEN + namesize]);
        } else {
            read(&mut name_bytes, pos + HEADER_LEN as u64)?;
        }
        let len = name_bytes.iter().position(|b| *b == 0).unwrap_or(namesize);
        name_bytes.truncate(len);
        let name = String::from_utf8(name_bytes).map_err(|_| Status::INVALID_ARGS)?;
        if name == TRAILER {
            break;
        }
        let offset = align4(name_end).ok_or(Status::INVALID_ARGS)?;
        let end = offset + u64::from(header.filesize);
        if end > size {
            return Err(Status::INVALID_ARGS);
        }
        entries.push(Entry {
            name: String::from(normalize(&name)),
            offset,
            size: u64::from(header.filesize),
            mode: header.mode,
        });
        pos = align4(end).ok_or(Status::INVALID_ARGS)?;
    }
    Ok(entries)
}

/// Every member of the archive (files, directories, ...) in archive order.
pub fn entries(archive: &Vmo) -> Result<Vec<Entry>> {
    let size = archive.get_size()?;
    walk(size, |buf, offset| archive.read(buf, offset))
}

/// The regular file `path` (`./` and `/` prefixes ignored); `NOT_FOUND` if absent.
pub fn find(archive: &Vmo, path: &str) -> Result<Entry> {
    let path = normalize(path);
    entries(archive)?
        .into_iter()
        .find(|e| e.is_file() && e.name == path)
        .ok_or(Status::NOT_FOUND)
}

/// The contents of `entry`.
pub fn read(archive: &Vmo, entry: &Entry) -> Result<Vec<u8>> {
    let len = usize::try_from(entry.size).map_err(|_| Status::OUT_OF_RANGE)?;
    archive.read_to_vec(entry.offset, len)
}

/// The contents of the regular file `path`.
pub fn read_file(archive: &Vmo, path: &str) -> Result<Vec<u8>> {
    read(archive, &find(archive, path)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::format;

    fn member(out: &mut Vec<u8>, name: &str, mode: u32, data: &[u8]) {
        let header = format!(
            "070701{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}",
            1,
            mode,
            0,
            0,
            1,
            0,
            data.len(),
            0,
            0,
            0,
            0,
            name.len() + 1,
            0
        );
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(name.as_bytes());
        out.push(0);
        while !out.len().is_multiple_of(4) {
            out.push(0);
        }
        out.extend_from_slice(data);
        while !out.len().is_multiple_of(4) {
            out.push(0);
        }
    }

    fn archive() -> Vec<u8> {
        let mut a = Vec::new();
        member(&mut a, "init", 0o100755, b"ELF-init");
        member(&mut a, "bin", 0o040755, b"");
        member(&mut a, "./bin/conformance-c", 0o100755, b"abc");
        let long = "x".repeat(300);
        member(&mut a, &long, 0o100644, b"long name");
        member(&mut a, TRAILER, 0, b"");
        a.resize(a.len() + 700, 0); // block padding
        a
    }

    fn read_from(a: &[u8]) -> impl FnMut(&mut [u8], u64) -> Result<()> + '_ {
        move |buf, offset| {
            let start = offset as usize;
            let src = a
                .get(start..start + buf.len())
                .ok_or(Status::OUT_OF_RANGE)?;
            buf.copy_from_slice(src);
            Ok(())
        }
    }

    #[test]
    fn lists_members() {
        let a = archive();
        let e = walk(a.len() as u64, read_from(&a)).unwrap();
        let names: Vec<&str> = e.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names[..3], ["init", "bin", "bin/conformance-c"]);
        assert_eq!(names[3].len(), 300);
        assert!(e[0].is_file() && !e[1].is_file());
        let at = |i: usize| &a[e[i].offset as usize..(e[i].offset + e[i].size) as usize];
        assert_eq!(at(0), b"ELF-init");
        assert_eq!(at(2), b"abc");
        assert_eq!(at(3), b"long name");
        assert_eq!(e[0].offset % 4, 0);
    }

    #[test]
    fn rejects_garbage_and_truncation() {
        let a = archive();
        let mut bad = a.clone();
        bad[0] = b'1';
        assert_eq!(
            walk(bad.len() as u64, read_from(&bad)),
            Err(Status::INVALID_ARGS)
        );
        // Cut inside the first member's data.
        assert_eq!(walk(120, read_from(&a)), Err(Status::INVALID_ARGS));
        // An archive without a trailer ends at its size.
        let mut one = Vec::new();
        member(&mut one, "init", 0o100755, b"x");
        assert_eq!(walk(one.len() as u64, read_from(&one)).unwrap().len(), 1);
        assert_eq!(walk(0, read_from(&one)).unwrap().len(), 0);
    }

    #[test]
    fn normalizes() {
        assert_eq!(normalize("./bin/x"), "bin/x");
        assert_eq!(normalize("/bin/x"), "bin/x");
        assert_eq!(normalize(".//init"), "init");
        assert_eq!(normalize("bin/./x"), "bin/./x");
    }
}
