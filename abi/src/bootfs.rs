//! The boot archive format (`cpio newc`), shared by the kernel, which finds `init` in it,
//! and the user launcher, which starts programs from it: header parsing, alignment and path
//! normalization. Any malformed input gives `None`, never a panic.

/// Size of a `newc` header.
pub const HEADER_LEN: usize = 110;
/// The name of the entry that ends an archive.
pub const TRAILER: &str = "TRAILER!!!";
/// `S_IFMT` and `S_IFREG`: the file-type bits of `mode` and the regular-file type.
pub const S_IFMT: u32 = 0o170000;
pub const S_IFREG: u32 = 0o100000;

/// The fields of a header readers use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub mode: u32,
    pub filesize: u32,
    /// Length of the name that follows the header, its NUL included.
    pub namesize: u32,
}

impl Header {
    pub fn is_file(&self) -> bool {
        self.mode & S_IFMT == S_IFREG
    }
}

/// Parses a header (magic `070701` or `070702`, then 13 fields of 8 hex digits: ino, mode,
/// uid, gid, nlink, mtime, filesize, devmajor, devminor, rdevmajor, rdevminor, namesize,
/// check).
pub fn parse_header(bytes: &[u8]) -> Option<Header> {
    let bytes = bytes.get(..HEADER_LEN)?;
    if &bytes[..6] != b"070701" && &bytes[..6] != b"070702" {
        return None;
    }
    let field = |index: usize| -> Option<u32> {
        let hex = core::str::from_utf8(&bytes[6 + 8 * index..6 + 8 * (index + 1)]).ok()?;
        u32::from_str_radix(hex, 16).ok()
    };
    Some(Header {
        mode: field(1)?,
        filesize: field(6)?,
        namesize: field(11)?,
    })
}

/// Rounds up to the 4-byte alignment of names and data; `None` on overflow.
pub const fn align4(value: u64) -> Option<u64> {
    match value.checked_add(3) {
        Some(v) => Some(v & !3),
        None => None,
    }
}

/// `path` without leading `./` and `/`, so `init`, `./init` and `/init` name the same entry.
pub fn normalize(mut path: &str) -> &str {
    loop {
        if let Some(rest) = path.strip_prefix("./") {
            path = rest;
        } else if let Some(rest) = path.strip_prefix('/') {
            path = rest;
        } else {
            return path;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_fields_and_errors() {
        let mut header = *b"070701000000010000816d00000000000000000000000100000000000000050000000000000000000000000000000000000005\
00000000";
        let parsed = parse_header(&header).unwrap();
        assert_eq!(
            parsed,
            Header {
                mode: 0o100555,
                filesize: 5,
                namesize: 5
            }
        );
        assert!(parsed.is_file());
        header[0] = b'x';
        assert_eq!(parse_header(&header), None);
        assert_eq!(parse_header(&header[..50]), None);
    }

    #[test]
    fn normalizes_and_aligns() {
        assert_eq!(normalize("./bin/x"), "bin/x");
        assert_eq!(normalize("//./init"), "init");
        assert_eq!(align4(5), Some(8));
        assert_eq!(align4(u64::MAX), None);
    }
}
