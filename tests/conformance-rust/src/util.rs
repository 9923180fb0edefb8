//! Helpers shared by the cases: failure macros, an owned raw handle, info queries, mappings,
//! threads, child processes and raw `svc` calls.
//!
//! Every helper returns `Result<_, String>` (never panics): a panic would end the whole suite.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

pub use abi::AbiStruct;
pub use abi::*;
pub use zx::sys;

/// What a case returns: `Err(why)` fails it.
pub type R = Result<(), String>;

/// `ZX_ERR_BAD_HANDLE`-style name of a raw status.
pub fn sname(raw: i32) -> String {
    format!("{}", abi::Status::from_raw(raw))
}

/// An expression's source text, shortened for a one-line failure message.
pub fn short(src: &str) -> String {
    let mut out = String::new();
    let mut last_space = true;
    for c in src.chars() {
        if c.is_whitespace() {
            if !last_space {
                out.push(' ');
            }
            last_space = true;
        } else {
            out.push(c);
            last_space = false;
        }
    }
    let trimmed = out
        .trim()
        .trim_start_matches("unsafe")
        .trim()
        .trim_start_matches('{')
        .trim_end_matches('}')
        .trim();
    let mut s: String = trimmed.chars().take(90).collect();
    if trimmed.chars().count() > 90 {
        s.push_str("...");
    }
    s
}

/// Fails the case: `fail!("fmt", args)` returns `Err("line N: ...")`.
#[macro_export]
macro_rules! fail {
    ($($arg:tt)*) => {
        return Err(alloc::format!("line {}: {}", line!(), alloc::format!($($arg)*)))
    };
}

/// Fails the case unless `cond` holds.
#[macro_export]
macro_rules! ensure {
    ($cond:expr, $($arg:tt)*) => {
        if !$cond {
            $crate::fail!($($arg)*);
        }
    };
}

/// `check!(EXPECTED, raw_status_expr)`: the raw status must be EXPECTED.
#[macro_export]
macro_rules! check {
    ($exp:expr, $call:expr) => {{
        let exp: i32 = $exp;
        let got: i32 = $call;
        if got != exp {
            $crate::fail!(
                "{}: expected {}, got {}",
                $crate::util::short(stringify!($call)),
                $crate::util::sname(exp),
                $crate::util::sname(got)
            );
        }
    }};
}

/// `check_in!([A, B], raw_status_expr)`: the raw status must be one of the list (only where
/// the contract leaves the choice open).
#[macro_export]
macro_rules! check_in {
    ([$($exp:expr),+], $call:expr) => {{
        let got: i32 = $call;
        let allowed: &[i32] = &[$($exp),+];
        if !allowed.contains(&got) {
            let names: alloc::vec::Vec<alloc::string::String> =
                allowed.iter().map(|s| $crate::util::sname(*s)).collect();
            $crate::fail!(
                "{}: expected one of {}, got {}",
                $crate::util::short(stringify!($call)),
                names.join("/"),
                $crate::util::sname(got)
            );
        }
    }};
}

/// `zx_ok!(raw_status_expr)`: the call must return ZX_OK.
#[macro_export]
macro_rules! zx_ok {
    ($call:expr) => {
        $crate::check!(abi::ZX_OK, $call)
    };
}

/// `ok!(result_expr)`: unwraps a `Result<T, Status>` (safe API) or `Result<T, String>`
/// (helpers), failing the case with the error.
#[macro_export]
macro_rules! ok {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => $crate::fail!(
                "{}: expected ZX_OK, got {}",
                $crate::util::short(stringify!($e)),
                e
            ),
        }
    };
}

/// `check_err!(EXPECTED, result_expr)`: a safe-API call must fail with EXPECTED.
#[macro_export]
macro_rules! check_err {
    ($exp:expr, $e:expr) => {{
        let exp: i32 = $exp;
        match $e {
            Ok(_) => $crate::fail!(
                "{}: expected {}, got ZX_OK",
                $crate::util::short(stringify!($e)),
                $crate::util::sname(exp)
            ),
            Err(s) => {
                let got: i32 = $crate::util::raw_status(s);
                if got != exp {
                    $crate::fail!(
                        "{}: expected {}, got {}",
                        $crate::util::short(stringify!($e)),
                        $crate::util::sname(exp),
                        $crate::util::sname(got)
                    );
                }
            }
        }
    }};
}

/// `eq!(got, expected)`: values must be equal (Debug-printed on failure).
#[macro_export]
macro_rules! eq {
    ($got:expr, $exp:expr) => {{
        match (&$got, &$exp) {
            (got, exp) => {
                if *got != *exp {
                    $crate::fail!(
                        "{}: expected {:?}, got {:?}",
                        $crate::util::short(stringify!($got)),
                        exp,
                        got
                    );
                }
            }
        }
    }};
}

/// `eqx!(got, expected)`: like `eq!`, printed in hex (rights, signals, addresses).
#[macro_export]
macro_rules! eqx {
    ($got:expr, $exp:expr) => {{
        let got = $got;
        let exp = $exp;
        if got != exp {
            $crate::fail!(
                "{}: expected {:#x}, got {:#x}",
                $crate::util::short(stringify!($got)),
                exp,
                got
            );
        }
    }};
}

/// The raw code of a safe-API error.
pub fn raw_status(s: abi::Status) -> i32 {
    s.into_raw()
}

// ---- owned raw handles ------------------------------------------------------------------

/// A raw handle value closed on drop (for calls made through `zx::sys`).
pub struct Owned(u32);

impl Owned {
    pub fn from_raw(raw: u32) -> Owned {
        Owned(raw)
    }
    pub fn raw(&self) -> u32 {
        self.0
    }
    /// Gives the value up without closing it (it was consumed or closed elsewhere).
    pub fn into_raw(self) -> u32 {
        let raw = self.0;
        core::mem::forget(self);
        raw
    }
}

impl Drop for Owned {
    fn drop(&mut self) {
        if self.0 != ZX_HANDLE_INVALID {
            // SAFETY: closing a handle value has no memory-safety requirements.
            unsafe {
                sys::zx_handle_close(self.0);
            }
        }
    }
}

// ---- the process's own handles ----------------------------------------------------------

pub fn proc_self() -> u32 {
    zx::startup::process_self()
}

pub fn root_vmar() -> u32 {
    zx::startup::vmar_root_self()
}

/// The handle `ZX_INFO_KMEM_STATS` is asked through.
pub fn kmem_handle() -> u32 {
    proc_self()
}

// ---- time -------------------------------------------------------------------------------

pub fn now() -> i64 {
    // SAFETY: no arguments.
    unsafe { sys::zx_clock_get_monotonic() }
}

pub fn after(ns: i64) -> i64 {
    now().saturating_add(ns)
}

pub const MS: i64 = 1_000_000;

pub fn sleep_ns(ns: i64) {
    // SAFETY: no pointers.
    unsafe {
        sys::zx_nanosleep(after(ns));
    }
}

/// A small xorshift generator seeded from the clock.
pub fn rand_u64() -> u64 {
    static STATE: AtomicU64 = AtomicU64::new(0);
    let mut x = STATE.load(Ordering::Relaxed);
    if x == 0 {
        x = (now() as u64) ^ 0x9E37_79B9_7F4A_7C15;
    }
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    STATE.store(x, Ordering::Relaxed);
    x
}

// ---- VMOs -------------------------------------------------------------------------------

pub const PAGE: u64 = 4096;
pub const PAGEZ: usize = 4096;

pub fn vmo_opts(size: u64, options: u32) -> Result<Owned, String> {
    let mut h = 0u32;
    // SAFETY: `h` is a valid out pointer.
    let s = unsafe { sys::zx_vmo_create(size, options, &mut h) };
    if s != ZX_OK {
        return Err(format!(
            "zx_vmo_create({size:#x}, {options}) setup: {}",
            sname(s)
        ));
    }
    Ok(Owned(h))
}

pub fn vmo(size: u64) -> Result<Owned, String> {
    vmo_opts(size, 0)
}

pub fn dup(h: u32, rights: u32) -> Result<Owned, String> {
    let mut out = 0u32;
    // SAFETY: valid out pointer.
    let s = unsafe { sys::zx_handle_duplicate(h, rights, &mut out) };
    if s != ZX_OK {
        return Err(format!(
            "zx_handle_duplicate({rights:#x}) setup: {}",
            sname(s)
        ));
    }
    Ok(Owned(out))
}

pub fn clone_vmo(h: u32, options: u32, offset: u64, size: u64) -> Result<Owned, String> {
    let mut out = 0u32;
    // SAFETY: valid out pointer.
    let s = unsafe { sys::zx_vmo_clone(h, options, offset, size, &mut out) };
    if s != ZX_OK {
        return Err(format!("zx_vmo_clone setup: {}", sname(s)));
    }
    Ok(Owned(out))
}

pub fn child_vmo(h: u32, options: u32, offset: u64, size: u64) -> Result<Owned, String> {
    let mut out = 0u32;
    // SAFETY: valid out pointer.
    let s = unsafe { sys::zx_vmo_create_child(h, options, offset, size, &mut out) };
    if s != ZX_OK {
        return Err(format!(
            "zx_vmo_create_child({options:#x}) setup: {}",
            sname(s)
        ));
    }
    Ok(Owned(out))
}

pub fn vmo_write(h: u32, offset: u64, data: &[u8]) -> i32 {
    // SAFETY: `data` is a valid buffer of its length.
    unsafe { sys::zx_vmo_write(h, data.as_ptr().cast(), offset, data.len()) }
}

pub fn vmo_read(h: u32, offset: u64, buf: &mut [u8]) -> i32 {
    // SAFETY: `buf` is a valid buffer of its length.
    unsafe { sys::zx_vmo_read(h, buf.as_mut_ptr().cast(), offset, buf.len()) }
}

pub fn write_all(h: u32, offset: u64, data: &[u8]) -> R {
    let s = vmo_write(h, offset, data);
    if s != ZX_OK {
        return Err(format!(
            "zx_vmo_write({offset:#x}, {}) setup: {}",
            data.len(),
            sname(s)
        ));
    }
    Ok(())
}

pub fn fill(h: u32, offset: u64, len: usize, byte: u8) -> R {
    let data = alloc::vec![byte; len];
    write_all(h, offset, &data)
}

pub fn read_vec(h: u32, offset: u64, len: usize) -> Result<Vec<u8>, String> {
    let mut buf = alloc::vec![0u8; len];
    let s = vmo_read(h, offset, &mut buf);
    if s != ZX_OK {
        return Err(format!("zx_vmo_read({offset:#x}, {len}): {}", sname(s)));
    }
    Ok(buf)
}

pub fn read_byte(h: u32, offset: u64) -> Result<u8, String> {
    Ok(read_vec(h, offset, 1)?[0])
}

pub fn get_size(h: u32) -> Result<u64, String> {
    let mut size = 0u64;
    // SAFETY: valid out pointer.
    let s = unsafe { sys::zx_vmo_get_size(h, &mut size) };
    if s != ZX_OK {
        return Err(format!("zx_vmo_get_size: {}", sname(s)));
    }
    Ok(size)
}

pub fn op(h: u32, op: u32, offset: u64, size: u64) -> i32 {
    // SAFETY: no buffer is passed.
    unsafe { sys::zx_vmo_op_range(h, op, offset, size, core::ptr::null_mut(), 0) }
}

/// Position of the first byte that differs from `byte`, if any.
pub fn first_not(data: &[u8], byte: u8) -> Option<usize> {
    data.iter().position(|b| *b != byte)
}

/// Fails unless every byte of `data` is `byte`.
pub fn expect_all(data: &[u8], byte: u8, what: &str) -> R {
    if let Some(i) = first_not(data, byte) {
        return Err(format!(
            "{what}: byte {i} is {:#04x}, expected {:#04x}",
            data[i], byte
        ));
    }
    Ok(())
}

// ---- info -------------------------------------------------------------------------------

pub fn get_info<T: AbiStruct>(h: u32, topic: u32) -> Result<T, String> {
    let mut buf = alloc::vec![0u8; T::SIZE];
    let mut actual = 0usize;
    let mut avail = 0usize;
    // SAFETY: valid buffer and out pointers.
    let s = unsafe {
        sys::zx_object_get_info(
            h,
            topic,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut actual,
            &mut avail,
        )
    };
    if s != ZX_OK {
        return Err(format!("zx_object_get_info(topic {topic}): {}", sname(s)));
    }
    T::from_bytes(&buf).ok_or_else(|| String::from("short info record"))
}

pub fn vmo_info(h: u32) -> Result<zx_info_vmo_t, String> {
    get_info(h, ZX_INFO_VMO)
}

pub fn basic(h: u32) -> Result<zx_info_handle_basic_t, String> {
    get_info(h, ZX_INFO_HANDLE_BASIC)
}

pub fn rights_of(h: u32) -> Result<u32, String> {
    Ok(basic(h)?.rights)
}

pub fn koid_of(h: u32) -> Result<u64, String> {
    Ok(basic(h)?.koid)
}

pub fn handle_count(h: u32) -> Result<u32, String> {
    Ok(get_info::<zx_info_handle_count_t>(h, ZX_INFO_HANDLE_COUNT)?.handle_count)
}

pub fn kmem() -> Result<zx_info_kmem_stats_t, String> {
    get_info(kmem_handle(), ZX_INFO_KMEM_STATS)
}

/// Kernel heap bytes in use (`ZX_INFO_KMEM_STATS`).
pub fn heap_used(k: &zx_info_kmem_stats_t) -> u64 {
    k.total_heap_bytes.saturating_sub(k.free_heap_bytes)
}

/// Runs `round` `warmup` times (caches and tables that stay allocated fill up), takes the
/// kernel's figures, runs it `reps` times more and checks that the kernel heap in use and the
/// free pages come back to them within a small slack (waiting up to 2 s for deferred
/// teardown). A leak of even a few dozen bytes per round shows above the slack.
pub fn expect_no_kernel_leak(warmup: u32, reps: u32, mut round: impl FnMut() -> R) -> R {
    const HEAP_SLACK: u64 = 8 * 1024;
    const PAGE_SLACK: u64 = 16;
    for _ in 0..warmup {
        round()?;
    }
    sleep_ns(5 * MS);
    let base = kmem()?;
    for i in 0..reps {
        round().map_err(|e| format!("round {i}: {e}"))?;
    }
    // Killed threads unwind and dead ones are reaped when the CPU is given up.
    sleep_ns(5 * MS);
    let deadline = now() + 2000 * MS;
    loop {
        let k = kmem()?;
        let grew = heap_used(&k).saturating_sub(heap_used(&base));
        let pages_lost = base.free_bytes.saturating_sub(k.free_bytes) / PAGE;
        if grew <= HEAP_SLACK && pages_lost <= PAGE_SLACK {
            return Ok(());
        }
        if now() > deadline {
            return Err(format!(
                "after {reps} rounds the kernel heap in use grew by {grew} bytes ({} per round) and {pages_lost} free pages are gone (heap {:#x} -> {:#x}, free {:#x} -> {:#x})",
                grew / u64::from(reps.max(1)),
                heap_used(&base),
                heap_used(&k),
                base.free_bytes,
                k.free_bytes
            ));
        }
        sleep_ns(10 * MS);
    }
}

pub fn committed(h: u32) -> Result<u64, String> {
    Ok(vmo_info(h)?.committed_bytes)
}

pub fn valid(h: u32) -> i32 {
    // SAFETY: HANDLE_VALID writes nothing; the out pointers are valid.
    unsafe {
        let mut a = 0usize;
        let mut b = 0usize;
        sys::zx_object_get_info(
            h,
            ZX_INFO_HANDLE_VALID,
            core::ptr::null_mut(),
            0,
            &mut a,
            &mut b,
        )
    }
}

/// The object's current signals (a wait with a past deadline).
pub fn signals(h: u32) -> Result<u32, String> {
    let mut observed = 0u32;
    // SAFETY: valid out pointer.
    let s = unsafe { sys::zx_object_wait_one(h, 0xFFFF_FFFF, 0, &mut observed) };
    if s != ZX_OK && s != ZX_ERR_TIMED_OUT {
        return Err(format!("zx_object_wait_one(poll): {}", sname(s)));
    }
    Ok(observed)
}

pub fn get_name(h: u32) -> Result<[u8; 32], String> {
    let mut name = [0u8; 32];
    // SAFETY: 32-byte buffer.
    let s = unsafe { sys::zx_object_get_property(h, ZX_PROP_NAME, name.as_mut_ptr().cast(), 32) };
    if s != ZX_OK {
        return Err(format!("zx_object_get_property(NAME): {}", sname(s)));
    }
    Ok(name)
}

pub fn set_name(h: u32, name: &[u8]) -> i32 {
    // SAFETY: valid buffer.
    unsafe { sys::zx_object_set_property(h, ZX_PROP_NAME, name.as_ptr().cast(), name.len()) }
}

/// The bytes of a NUL-terminated name.
pub fn name_str(name: &[u8]) -> &[u8] {
    let end = name.iter().position(|b| *b == 0).unwrap_or(name.len());
    &name[..end]
}

// ---- channels ---------------------------------------------------------------------------

/// Most messages that may wait unread at a channel endpoint: the write that leaves more ends
/// the writer's process (Zircon's limit; not an ABI constant).
pub const CHANNEL_MAX_UNREAD: usize = 3500;

pub fn channel() -> Result<(Owned, Owned), String> {
    let (mut a, mut b) = (0u32, 0u32);
    // SAFETY: valid out pointers.
    let s = unsafe { sys::zx_channel_create(0, &mut a, &mut b) };
    if s != ZX_OK {
        return Err(format!("zx_channel_create setup: {}", sname(s)));
    }
    Ok((Owned(a), Owned(b)))
}

/// Real memory to point at for empty buffers (a slice's dangling pointer is not a valid
/// user pointer).
static EMPTY: [u32; 1] = [0];

pub fn ch_write(h: u32, bytes: &[u8], handles: &[u32]) -> i32 {
    let bp: *const u8 = if bytes.is_empty() {
        EMPTY.as_ptr().cast()
    } else {
        bytes.as_ptr()
    };
    let hp: *const u32 = if handles.is_empty() {
        EMPTY.as_ptr()
    } else {
        handles.as_ptr()
    };
    // SAFETY: valid buffers of their lengths.
    unsafe {
        sys::zx_channel_write(
            h,
            0,
            bp.cast(),
            bytes.len() as u32,
            hp,
            handles.len() as u32,
        )
    }
}

/// One message read into buffers of the given capacity: (status, bytes, handles,
/// actual_bytes, actual_handles).
pub struct Msg {
    pub status: i32,
    pub bytes: Vec<u8>,
    pub handles: Vec<u32>,
    pub actual_bytes: u32,
    pub actual_handles: u32,
}

pub fn ch_read(h: u32, nbytes: usize, nhandles: usize) -> Msg {
    let mut bytes = alloc::vec![0u8; nbytes.max(1)];
    let mut handles = alloc::vec![0u32; nhandles.max(1)];
    let (mut ab, mut ah) = (0u32, 0u32);
    // SAFETY: valid buffers of at least the given capacities.
    let status = unsafe {
        sys::zx_channel_read(
            h,
            0,
            bytes.as_mut_ptr().cast(),
            handles.as_mut_ptr(),
            nbytes as u32,
            nhandles as u32,
            &mut ab,
            &mut ah,
        )
    };
    if status == ZX_OK {
        bytes.truncate(ab as usize);
        handles.truncate(ah as usize);
    } else {
        bytes.clear();
        handles.clear();
    }
    Msg {
        status,
        bytes,
        handles,
        actual_bytes: ab,
        actual_handles: ah,
    }
}

pub fn wait(h: u32, signals: u32, timeout_ns: i64) -> (i32, u32) {
    let mut observed = 0u32;
    // SAFETY: valid out pointer.
    let s = unsafe { sys::zx_object_wait_one(h, signals, after(timeout_ns), &mut observed) };
    (s, observed)
}

// ---- mappings ---------------------------------------------------------------------------

pub const RW: u32 = ZX_VM_PERM_READ | ZX_VM_PERM_WRITE;

pub fn map_raw(
    vmar: u32,
    options: u32,
    vmar_offset: usize,
    vmo: u32,
    vmo_offset: u64,
    len: usize,
) -> Result<usize, i32> {
    let mut addr = 0usize;
    // SAFETY: valid out pointer.
    let s =
        unsafe { sys::zx_vmar_map(vmar, options, vmar_offset, vmo, vmo_offset, len, &mut addr) };
    if s == ZX_OK {
        Ok(addr)
    } else {
        Err(s)
    }
}

/// A mapping in some VMAR, unmapped on drop.
pub struct Mapping {
    pub vmar: u32,
    pub addr: usize,
    pub len: usize,
}

impl Mapping {
    pub fn ptr(&self, offset: usize) -> *mut u8 {
        (self.addr + offset) as *mut u8
    }
    pub fn peek(&self, offset: usize) -> u8 {
        peek(self.addr + offset)
    }
    pub fn poke(&self, offset: usize, v: u8) {
        poke(self.addr + offset, v)
    }
    /// Forgets the mapping (it was removed otherwise, or must stay).
    pub fn leak(self) -> usize {
        let a = self.addr;
        core::mem::forget(self);
        a
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: the range is this mapping; nothing refers to it any more.
        unsafe {
            sys::zx_vmar_unmap(self.vmar, self.addr, self.len);
        }
    }
}

pub fn map_in(
    vmar: u32,
    vmo: u32,
    vmo_offset: u64,
    len: usize,
    perms: u32,
) -> Result<Mapping, String> {
    match map_raw(vmar, perms, 0, vmo, vmo_offset, len) {
        Ok(addr) => Ok(Mapping {
            vmar,
            addr,
            len: (len + PAGEZ - 1) & !(PAGEZ - 1),
        }),
        Err(s) => Err(format!("zx_vmar_map setup: {}", sname(s))),
    }
}

pub fn map(vmo: u32, vmo_offset: u64, len: usize, perms: u32) -> Result<Mapping, String> {
    map_in(root_vmar(), vmo, vmo_offset, len, perms)
}

/// A sub-VMAR, destroyed on drop.
pub struct SubVmar {
    pub h: Owned,
    pub addr: usize,
}

impl Drop for SubVmar {
    fn drop(&mut self) {
        // SAFETY: destroying a region we created.
        unsafe {
            sys::zx_vmar_destroy(self.h.raw());
        }
    }
}

pub fn allocate(parent: u32, options: u32, offset: usize, size: usize) -> Result<SubVmar, String> {
    let mut h = 0u32;
    let mut addr = 0usize;
    // SAFETY: valid out pointers.
    let s = unsafe { sys::zx_vmar_allocate(parent, options, offset, size, &mut h, &mut addr) };
    if s != ZX_OK {
        return Err(format!("zx_vmar_allocate setup: {}", sname(s)));
    }
    Ok(SubVmar { h: Owned(h), addr })
}

pub fn peek(addr: usize) -> u8 {
    // SAFETY: callers pass addresses of live mappings (or want the fault).
    unsafe { core::ptr::read_volatile(addr as *const u8) }
}

pub fn poke(addr: usize, v: u8) {
    // SAFETY: callers pass addresses of live writable mappings (or want the fault).
    unsafe { core::ptr::write_volatile(addr as *mut u8, v) }
}

pub fn peek_u64(addr: usize) -> u64 {
    // SAFETY: as `peek`.
    unsafe { core::ptr::read_volatile(addr as *const u64) }
}

/// Copies `len` bytes out of a mapping.
pub fn peek_vec(addr: usize, len: usize) -> Vec<u8> {
    (0..len).map(|i| peek(addr + i)).collect()
}

pub fn poke_slice(addr: usize, data: &[u8]) {
    for (i, b) in data.iter().enumerate() {
        poke(addr + i, *b);
    }
}

// ---- addresses for hostile arguments ----------------------------------------------------

/// Read-only data (in `.rodata`, mapped without write permission).
pub static RODATA: [u8; 64] = [0x5A; 64];

pub fn rodata_addr() -> usize {
    RODATA.as_ptr() as usize
}

/// In the kernel half (TTBR1).
pub const KERNEL_ADDR: usize = 0xFFFF_0000_0010_0000;
/// In the user half but far above anything the suite maps (placement is first fit from the
/// bottom of the root VMAR).
pub const UNMAPPED_ADDR: usize = 0x0000_7E00_0000_0000;

// ---- threads ----------------------------------------------------------------------------

pub type ThreadEntry = extern "C" fn(usize, usize) -> !;

/// A thread of this process on its own mapped stack. Joined (or killed) before the stack
/// goes away.
pub struct Thread {
    h: Owned,
    stack: Option<Mapping>,
    joined: bool,
}

pub const THREAD_STACK: usize = 64 * 1024;

pub fn start_thread(entry: ThreadEntry, arg1: usize, arg2: usize) -> Result<Thread, String> {
    start_thread_at(entry as *const () as usize, arg1, arg2)
}

/// Like [`start_thread`] with any entry address (hostile cases).
pub fn start_thread_at(entry: usize, arg1: usize, arg2: usize) -> Result<Thread, String> {
    let name = b"conformance-thread";
    let mut th = 0u32;
    // SAFETY: valid name and out pointer.
    let s =
        unsafe { sys::zx_thread_create(proc_self(), name.as_ptr().cast(), name.len(), 0, &mut th) };
    if s != ZX_OK {
        return Err(format!("zx_thread_create setup: {}", sname(s)));
    }
    let h = Owned(th);
    let stack_vmo = vmo(THREAD_STACK as u64)?;
    let stack = map(stack_vmo.raw(), 0, THREAD_STACK, RW)?;
    let top = stack.addr + THREAD_STACK;
    // SAFETY: the entry is a function of this program, the stack a fresh mapping.
    let s = unsafe { sys::zx_thread_start(h.raw(), entry, top, arg1, arg2) };
    if s != ZX_OK {
        return Err(format!("zx_thread_start setup: {}", sname(s)));
    }
    Ok(Thread {
        h,
        stack: Some(stack),
        joined: false,
    })
}

impl Thread {
    pub fn raw(&self) -> u32 {
        self.h.raw()
    }

    /// Waits until the thread has terminated; kills it after `timeout_ns`.
    pub fn join(mut self, timeout_ns: i64) -> R {
        let (s, _) = wait(self.h.raw(), ZX_THREAD_TERMINATED, timeout_ns);
        if s == ZX_OK {
            self.joined = true;
            return Ok(());
        }
        Err(format!("thread did not terminate in time: {}", sname(s)))
    }
}

impl Drop for Thread {
    fn drop(&mut self) {
        if self.joined {
            return;
        }
        // SAFETY: killing our own thread.
        unsafe {
            sys::zx_task_kill(self.h.raw());
        }
        let (s, _) = wait(self.h.raw(), ZX_THREAD_TERMINATED, 2000 * MS);
        if s != ZX_OK {
            // It may still run on the stack: never unmap it.
            if let Some(m) = self.stack.take() {
                m.leak();
            }
        }
    }
}

/// Ends the calling thread (never returns).
pub fn thread_exit() -> ! {
    // SAFETY: ends only this thread.
    unsafe {
        sys::zx_thread_exit();
    }
    #[allow(unreachable_code)]
    loop {
        core::hint::spin_loop();
    }
}

// ---- child processes --------------------------------------------------------------------

/// This program's path in the boot archive.
pub const SELF_PATH: &str = "bin/conformance-rust";

/// Starts this program as `conformance-rust child MODE ARGS...` with `handles` as its extra
/// startup handles.
pub fn spawn_child(mode_args: &[&str], handles: Vec<u32>) -> Result<Owned, String> {
    let mut args: Vec<&str> = Vec::new();
    args.push("child");
    args.extend_from_slice(mode_args);
    let hs: Vec<zx::Handle> = handles
        .into_iter()
        // SAFETY: the caller hands these values over.
        .map(|h| unsafe { zx::Handle::from_raw(h) })
        .collect();
    match zx::process::spawn(SELF_PATH, &args, hs) {
        Ok(p) => Ok(Owned(p.into_raw())),
        Err(s) => Err(format!("spawn {SELF_PATH} child {mode_args:?}: {s}")),
    }
}

/// Waits until the child ended (killing it after `timeout_ns`) and returns its return code
/// from `ZX_INFO_PROCESS`.
pub fn wait_child(p: &Owned, timeout_ns: i64) -> Result<i64, String> {
    let (s, _) = wait(p.raw(), ZX_PROCESS_TERMINATED, timeout_ns);
    if s != ZX_OK {
        // SAFETY: killing our own child.
        unsafe {
            sys::zx_task_kill(p.raw());
        }
        wait(p.raw(), ZX_PROCESS_TERMINATED, 2000 * MS);
        return Err(format!("child did not end in time ({}); killed", sname(s)));
    }
    let info: zx_info_process_t = get_info(p.raw(), ZX_INFO_PROCESS)?;
    if info.flags & ZX_INFO_PROCESS_FLAG_EXITED == 0 {
        return Err(format!(
            "ZX_INFO_PROCESS of a terminated child lacks FLAG_EXITED (flags {:#x})",
            info.flags
        ));
    }
    Ok(info.return_code)
}

/// Spawns a child and waits for its return code.
pub fn run_child(mode_args: &[&str], handles: Vec<u32>, timeout_ns: i64) -> Result<i64, String> {
    let p = spawn_child(mode_args, handles)?;
    wait_child(&p, timeout_ns)
}

// ---- raw system calls -------------------------------------------------------------------

/// `svc #0` with number `num` and arguments `a` in x0..x7; returns the whole x0.
#[inline(never)]
pub fn raw_svc(num: u64, a: [u64; 8]) -> u64 {
    let r: u64;
    // SAFETY: a system call; the caller picks arguments that make the kernel touch only
    // memory it may (or none).
    unsafe {
        core::arch::asm!(
            "svc #0",
            inlateout("x0") a[0] => r,
            in("x1") a[1],
            in("x2") a[2],
            in("x3") a[3],
            in("x4") a[4],
            in("x5") a[5],
            in("x6") a[6],
            in("x7") a[7],
            inlateout("x16") num => _,
            lateout("x17") _,
            options(nostack),
        );
    }
    r
}

/// The status in a raw x0, checking the sign extension of the 32-bit value.
pub fn svc_status(x0: u64) -> Result<i32, String> {
    let s = x0 as u32 as i32;
    if (s as i64) as u64 != x0 {
        return Err(format!("x0 {x0:#x} is not a sign-extended zx_status_t"));
    }
    Ok(s)
}

/// Thread entry: sleeps `delay_ns`, closes handle `h`, exits.
pub extern "C" fn close_after_entry(h: usize, delay_ns: usize) -> ! {
    sleep_ns(delay_ns as i64);
    // SAFETY: closes a handle value the starter handed over.
    unsafe {
        sys::zx_handle_close(h as u32);
    }
    thread_exit()
}
