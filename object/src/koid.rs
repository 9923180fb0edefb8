//! Kernel object ids: unique for the life of the kernel, never reused.

use core::sync::atomic::{AtomicU64, Ordering};

pub type Koid = u64;

/// Ids below this are left for well-known objects.
const FIRST_KOID: u64 = 1024;

static NEXT_KOID: AtomicU64 = AtomicU64::new(FIRST_KOID);

pub fn new_koid() -> Koid {
    NEXT_KOID.fetch_add(1, Ordering::Relaxed)
}
