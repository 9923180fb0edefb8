//! The bootstrap message (`user/README.md`, "Program start"): what a program's first channel
//! message holds, and how a launcher writes it (the kernel for `init`, the `zx` crate for
//! every other program).
//!
//! Bytes: `{ char magic[8] = "zxstart1"; u32 handle_count; u32 argc; }` (little endian)
//! followed by `argc` NUL-terminated strings. Handles: process, root VMAR, boot archive,
//! the default job, then the extras.

/// The first eight bytes.
pub const MAGIC: [u8; 8] = *b"zxstart1";
/// Size of the fixed header.
pub const HEADER_LEN: usize = 16;
/// Index of the program's default job handle (what `zx_job_default()` returns), which is
/// also Zircon's tag for it, `PA_JOB_DEFAULT` (0x03).
pub const JOB_DEFAULT: usize = 3;
/// Index of the first extra handle (0: the process, 1: its root VMAR, 2: the boot archive,
/// 3: the default job).
pub const FIRST_EXTRA: usize = 4;

/// A parsed message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Message<'a> {
    /// The handle count the header announces.
    pub handle_count: u32,
    /// The argument count the header announces.
    pub argc: u32,
    /// Everything after the header.
    strings: &'a [u8],
}

/// Parses the header; `None` if the bytes are too short or the magic is wrong.
pub fn parse(bytes: &[u8]) -> Option<Message<'_>> {
    let header = bytes.get(..HEADER_LEN)?;
    if header[..8] != MAGIC {
        return None;
    }
    let word = |at: usize| {
        u32::from_le_bytes([header[at], header[at + 1], header[at + 2], header[at + 3]])
    };
    Some(Message {
        handle_count: word(8),
        argc: word(12),
        strings: &bytes[HEADER_LEN..],
    })
}

impl<'a> Message<'a> {
    /// The argument strings without their NULs: at most `argc`, fewer if the bytes end
    /// first (an unterminated last string counts).
    pub fn args(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        let mut rest = self.strings;
        let mut left = self.argc;
        core::iter::from_fn(move || {
            if left == 0 || rest.is_empty() {
                return None;
            }
            left -= 1;
            let end = rest.iter().position(|b| *b == 0).unwrap_or(rest.len());
            let arg = &rest[..end];
            rest = rest.get(end + 1..).unwrap_or(&[]);
            Some(arg)
        })
    }

    /// Offset (from the start of the message) of each argument string, for C `argv`.
    pub fn arg_offsets(&self) -> impl Iterator<Item = usize> + 'a {
        let base = self.strings.as_ptr() as usize - HEADER_LEN;
        self.args().map(move |a| a.as_ptr() as usize - base)
    }
}

/// The length of the message for `argv`.
pub fn encoded_len(argv: &[&str]) -> usize {
    HEADER_LEN + argv.iter().map(|a| a.len() + 1).sum::<usize>()
}

/// Appends the message bytes for `argv` and `handle_count` handles to `out`
/// ([`encoded_len`] of them).
pub fn encode(argv: &[&str], handle_count: u32, out: &mut impl Extend<u8>) {
    out.extend(MAGIC);
    out.extend(handle_count.to_le_bytes());
    out.extend((argv.len() as u32).to_le_bytes());
    for arg in argv {
        out.extend(arg.bytes().chain([0]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(argv: &[&str], handle_count: u32) -> Vec<u8> {
        let mut bytes = Vec::new();
        encode(argv, handle_count, &mut bytes);
        bytes
    }

    #[test]
    fn round_trip() {
        let argv = ["bin/prog", "a b", "", "last"];
        let mut bytes = Vec::new();
        encode(&argv, 5, &mut bytes);
        assert_eq!(bytes.len(), encoded_len(&argv));
        assert_eq!(&bytes[..8], b"zxstart1");
        assert_eq!(bytes.len(), 16 + 9 + 4 + 1 + 5);
        let m = parse(&bytes).unwrap();
        assert_eq!(m.handle_count, 5);
        assert_eq!(m.argc, 4);
        let args: Vec<&[u8]> = m.args().collect();
        assert_eq!(args, [&b"bin/prog"[..], b"a b", b"", b"last"]);
        let offsets: Vec<usize> = m.arg_offsets().collect();
        assert_eq!(offsets, [16, 25, 29, 30]);
        assert_eq!(&bytes[30..34], b"last");
    }

    #[test]
    fn malformed() {
        assert_eq!(parse(b"zxstart1\0\0\0"), None);
        assert_eq!(parse(b"zxstart2\0\0\0\0\0\0\0\0"), None);
        // Fewer strings than announced, and an unterminated last one.
        let mut bytes = encoded(&["one"], 3);
        bytes[12] = 9;
        bytes.extend_from_slice(b"two");
        let m = parse(&bytes).unwrap();
        let args: Vec<&[u8]> = m.args().collect();
        assert_eq!(args, [&b"one"[..], b"two"]);
        // More strings than announced: the extra ones are ignored.
        let mut bytes = encoded(&["one", "two"], 3);
        bytes[12] = 1;
        assert_eq!(parse(&bytes).unwrap().args().count(), 1);
        // No arguments at all.
        let bytes = encoded(&[], 3);
        assert_eq!(parse(&bytes).unwrap().args().count(), 0);
    }
}
