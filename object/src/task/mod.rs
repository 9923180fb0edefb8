//! Tasks: processes and threads.

/// First address above the user half the kernel gives EL0 (TTBR0 covers 48 bits): user
/// pointers, entry points and stacks lie below it.
pub const USER_END: usize = 1 << 48;
