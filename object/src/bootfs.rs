//! The boot archive: a `cpio newc` image (what QEMU's `-initrd` and the Pi firmware's
//! `initramfs` pass). Read-only lookups over its bytes; any malformed input gives `None`,
//! never a panic.

/// One regular file in the archive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry<'a> {
    pub name: &'a str,
    pub data: &'a [u8],
    pub mode: u32,
}

use abi::bootfs::{align4, normalize, parse_header, HEADER_LEN, TRAILER};

/// Iterates over the entries of a `cpio newc` archive until the trailer or the first error.
pub struct Entries<'a> {
    archive: &'a [u8],
    offset: usize,
}

impl<'a> Iterator for Entries<'a> {
    type Item = Entry<'a>;

    fn next(&mut self) -> Option<Entry<'a>> {
        let header = parse_header(self.archive.get(self.offset..)?)?;
        let name_start = self.offset.checked_add(HEADER_LEN)?;
        let name_end = name_start.checked_add(header.namesize as usize)?;
        let name_bytes = self.archive.get(name_start..name_end)?;
        // The name includes its NUL terminator.
        let name = core::str::from_utf8(name_bytes.strip_suffix(&[0])?).ok()?;
        let data_start = align4(name_end as u64)? as usize;
        let data_end = data_start.checked_add(header.filesize as usize)?;
        let data = self.archive.get(data_start..data_end)?;
        self.offset = align4(data_end as u64)? as usize;
        if name == TRAILER {
            return None;
        }
        Some(Entry {
            name,
            data,
            mode: header.mode,
        })
    }
}

pub fn entries(archive: &[u8]) -> Entries<'_> {
    Entries { archive, offset: 0 }
}

/// The regular file at `path` (a leading "./" or "/" in either name is ignored).
pub fn find<'a>(archive: &'a [u8], path: &str) -> Option<&'a [u8]> {
    let wanted = normalize(path);
    entries(archive)
        .find(|entry| {
            entry.mode & abi::bootfs::S_IFMT == abi::bootfs::S_IFREG
                && normalize(entry.name) == wanted
        })
        .map(|entry| entry.data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::String;
    use alloc::vec::Vec;

    fn push_entry(archive: &mut Vec<u8>, name: &str, mode: u32, data: &[u8]) {
        let header =
            alloc::format!(
            "070701{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}",
            1, mode, 0, 0, 1, 0, data.len(), 0, 0, 0, 0, name.len() + 1, 0
        );
        archive.extend_from_slice(header.as_bytes());
        archive.extend_from_slice(name.as_bytes());
        archive.push(0);
        while !archive.len().is_multiple_of(4) {
            archive.push(0);
        }
        archive.extend_from_slice(data);
        while !archive.len().is_multiple_of(4) {
            archive.push(0);
        }
    }

    fn sample() -> Vec<u8> {
        let mut archive = Vec::new();
        push_entry(&mut archive, "bin", 0o040755, b"");
        push_entry(&mut archive, "init", 0o100755, b"\x7fELF init");
        push_entry(&mut archive, "bin/hello", 0o100644, b"hello world");
        push_entry(&mut archive, TRAILER, 0, b"");
        archive
    }

    #[test]
    fn finds_files_by_path() {
        let archive = sample();
        assert_eq!(find(&archive, "init"), Some(&b"\x7fELF init"[..]));
        assert_eq!(find(&archive, "/bin/hello"), Some(&b"hello world"[..]));
        assert_eq!(find(&archive, "./bin/hello"), Some(&b"hello world"[..]));
        assert_eq!(find(&archive, "bin"), None, "directories are not files");
        assert_eq!(find(&archive, "missing"), None);
    }

    #[test]
    fn lists_entries_until_the_trailer() {
        let archive = sample();
        let names: Vec<String> = entries(&archive).map(|e| e.name.into()).collect();
        assert_eq!(names, ["bin", "init", "bin/hello"]);
    }

    #[test]
    fn malformed_archives_give_nothing_never_a_panic() {
        let archive = sample();
        for len in 0..archive.len() {
            let _ = entries(&archive[..len]).count();
            let _ = find(&archive[..len], "bin/hello");
        }
        let mut corrupt = archive.clone();
        for i in (0..corrupt.len()).step_by(7) {
            corrupt[i] ^= 0x5a;
            let _ = entries(&corrupt).count();
        }
        assert_eq!(entries(b"not a cpio archive").count(), 0);
        // Sizes near usize::MAX must not overflow.
        let mut huge = Vec::new();
        huge.extend_from_slice(b"070701");
        huge.extend_from_slice(&[b'f'; 104]);
        assert_eq!(entries(&huge).count(), 0);
    }
}
