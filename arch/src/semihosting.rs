//! Arm semihosting: console output and exit when a debugger or emulator (QEMU
//! `-semihosting`) provides it. Without one the `hlt` traps as an undefined instruction and
//! the fixup table turns that into "not available", so calling these on a real board is safe.

const SYS_WRITE0: u64 = 0x04;
const SYS_EXIT: u64 = 0x18;
const ADP_STOPPED_APPLICATION_EXIT: u64 = 0x20026;

extern "C" {
    fn arch_semihosting_call(op: u64, param: u64) -> i64;
}

/// Writes `text` to the host's console; returns false if no semihosting host answered.
pub fn write_str(text: &str) -> bool {
    // SYS_WRITE0 takes a NUL-terminated string; send it in pieces through a small buffer.
    let mut buffer = [0u8; 128];
    for chunk in text.as_bytes().chunks(buffer.len() - 1) {
        buffer[..chunk.len()].copy_from_slice(chunk);
        buffer[chunk.len()] = 0;
        // SAFETY: SYS_WRITE0 only reads the NUL-terminated buffer; a missing host is caught.
        if unsafe { arch_semihosting_call(SYS_WRITE0, buffer.as_ptr() as u64) } == -1 {
            return false;
        }
    }
    true
}

/// Ends the emulator with `code` as its exit status. Returns only if no host answered.
pub fn exit(code: u32) {
    let block = [ADP_STOPPED_APPLICATION_EXIT, u64::from(code)];
    // SAFETY: SYS_EXIT reads the two-word parameter block; a missing host is caught.
    unsafe {
        arch_semihosting_call(SYS_EXIT, block.as_ptr() as u64);
    }
}
