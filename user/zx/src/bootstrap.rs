//! The bootstrap message (`user/README.md`, "Program start"), whose format `abi` defines:
//! here, the launcher's encoder into a `Vec`.

pub(crate) use abi::bootstrap::{parse, FIRST_EXTRA, JOB_DEFAULT};
use alloc::vec::Vec;

/// The message bytes for `argv` and `handle_count` handles.
pub(crate) fn encode(argv: &[&str], handle_count: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(abi::bootstrap::encoded_len(argv));
    abi::bootstrap::encode(argv, handle_count, &mut out);
    out
}
