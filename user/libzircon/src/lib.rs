//! `libzircon.a`: what C programs link against.
//!
//! - the system calls: the `svc` stubs of `zx::sys`, exported as `zx_*`;
//! - crt0: `_start` reads the bootstrap message and calls `int main(int argc, char** argv)`,
//!   then `zx_process_exit` with its result;
//! - `<zircon/process.h>`: the startup handles, the launcher (`zxr_spawn`, `zxr_wait_exit`)
//!   and console helpers; `<zircon/status.h>`: `zx_status_get_string`;
//! - `<zxr/mutex.h>` (`zxr_mutex_t` on a futex) and `<zxr/thread.h>`
//!   (`zxr_thread_create`/`zxr_thread_join`, joined through a futex);
//! - the few C library functions a `-nostdlib` program needs: `memcpy`, `memmove`,
//!   `memset`, `memcmp`, `bcmp` and `strlen` come from Rust's `compiler_builtins` (weak
//!   symbols, included in this archive); `strcmp` and `strncmp` are defined here.
//!
//! Panics (a bug in the runtime) print a message and exit the process with -1.
#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]

extern crate alloc;

use alloc::vec::Vec;
use core::ffi::{c_char, c_int, c_void, CStr};
use core::fmt::Write;
use core::sync::atomic::{AtomicI32, AtomicUsize, Ordering};

use zx::sys::{self, zx_handle_t, zx_status_t, ZX_HANDLE_INVALID};
use zx::{Handle, Process, Status};

// ---- crt0 -------------------------------------------------------------------------------

extern "C" {
    /// The C program's `main`.
    fn main(argc: c_int, argv: *mut *mut c_char) -> c_int;
}

/// The entry point of C programs: the kernel jumps here with the bootstrap channel in `x0`.
///
/// # Safety
/// Only the kernel calls it, once, on a fresh stack.
#[no_mangle]
pub unsafe extern "C" fn _start(bootstrap: zx_handle_t) -> ! {
    // SAFETY: this is the entry point, run once with the kernel's x0.
    unsafe { zx::runtime::init(bootstrap) };
    let (argc, argv) = zx::runtime::c_argv();
    // SAFETY: `argv` holds `argc` NUL-terminated strings and a NULL, all kept forever.
    let code = unsafe { main(argc, argv) };
    zx::runtime::exit(i64::from(code))
}

// ---- <zircon/process.h> -----------------------------------------------------------------

/// Startup handle 0, this process.
#[no_mangle]
pub extern "C" fn zx_process_self() -> zx_handle_t {
    zx::startup::process_self()
}

/// Startup handle 1, the root VMAR.
#[no_mangle]
pub extern "C" fn zx_vmar_root_self() -> zx_handle_t {
    zx::startup::vmar_root_self()
}

/// Startup handle 3, the default job (`PA_JOB_DEFAULT`).
#[no_mangle]
pub extern "C" fn zx_job_default() -> zx_handle_t {
    zx::startup::job_default()
}

/// Startup handle 2, the boot archive.
#[no_mangle]
pub extern "C" fn zxr_bootfs() -> zx_handle_t {
    zx::startup::bootfs()
}

/// Takes startup handle `index` (4 = first extra).
#[no_mangle]
pub extern "C" fn zxr_take_startup_handle(index: u32) -> zx_handle_t {
    zx::startup::take_startup_handle(index).map_or(ZX_HANDLE_INVALID, Handle::into_raw)
}

/// A C string as `&str`, `None` if NULL or not UTF-8.
///
/// # Safety
/// A non-NULL `s` must point at a NUL-terminated string that outlives `'a`.
unsafe fn c_str<'a>(s: *const c_char) -> Option<&'a str> {
    if s.is_null() {
        return None;
    }
    // SAFETY: forwarded to the caller.
    unsafe { CStr::from_ptr(s) }.to_str().ok()
}

/// Starts `path` of the boot archive in the default job; see `<zircon/process.h>`.
///
/// # Safety
/// The pointers must be valid as the header describes.
#[no_mangle]
pub unsafe extern "C" fn zxr_spawn(
    path: *const c_char,
    argc: c_int,
    argv: *const *const c_char,
    handles: *const zx_handle_t,
    num_handles: u32,
    proc_out: *mut zx_handle_t,
) -> zx_status_t {
    // SAFETY: forwarded from the caller.
    unsafe {
        zxr_spawn_in(
            zx::startup::job_default(),
            path,
            argc,
            argv,
            handles,
            num_handles,
            proc_out,
        )
    }
}

/// Starts `path` of the boot archive in `job`; see `<zircon/process.h>`.
///
/// # Safety
/// The pointers must be valid as the header describes.
#[no_mangle]
pub unsafe extern "C" fn zxr_spawn_in(
    job: zx_handle_t,
    path: *const c_char,
    argc: c_int,
    argv: *const *const c_char,
    handles: *const zx_handle_t,
    num_handles: u32,
    proc_out: *mut zx_handle_t,
) -> zx_status_t {
    if handles.is_null() && num_handles != 0 {
        return sys::ZX_ERR_INVALID_ARGS;
    }
    // Take the handles first: they are consumed on every path from here.
    let extra: Vec<Handle> = if num_handles == 0 {
        Vec::new()
    } else {
        // SAFETY: the caller passes `num_handles` readable handle values, which it gives up.
        unsafe { core::slice::from_raw_parts(handles, num_handles as usize) }
            .iter()
            // SAFETY: as above; each value is owned by exactly one `Handle` from now on.
            .map(|raw| unsafe { Handle::from_raw(*raw) })
            .collect()
    };
    if proc_out.is_null() || argc < 0 || (argc > 0 && argv.is_null()) {
        return sys::ZX_ERR_INVALID_ARGS;
    }
    // SAFETY: the caller passes a NUL-terminated path.
    let Some(path) = (unsafe { c_str(path) }) else {
        return sys::ZX_ERR_INVALID_ARGS;
    };
    let mut args: Vec<&str> = Vec::with_capacity(argc as usize);
    for i in 0..argc as usize {
        // SAFETY: the caller passes `argc` string pointers.
        let Some(arg) = (unsafe { c_str(*argv.add(i)) }) else {
            return sys::ZX_ERR_INVALID_ARGS;
        };
        args.push(arg);
    }
    // SAFETY: `job` is only borrowed for the call; the caller keeps it.
    let job = unsafe { zx::Unowned::<zx::Job>::from_raw_static(job) };
    let archive = zx::startup::bootfs_vmo();
    match zx::process::spawn_in(&job, &archive, path, &args, extra) {
        Ok(process) => {
            // SAFETY: `proc_out` is a valid place for the result.
            unsafe { proc_out.write(process.into_raw()) };
            sys::ZX_OK
        }
        Err(status) => status.into_raw(),
    }
}

/// Waits for `proc` to end and returns its return code.
///
/// # Safety
/// `code_out` must be NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn zxr_wait_exit(proc: zx_handle_t, code_out: *mut i64) -> zx_status_t {
    // SAFETY: the view does not outlive the caller's handle, which stays open.
    let process = unsafe { zx::Unowned::<Process>::from_raw_handle(proc) };
    match process.wait_exit() {
        Ok(code) => {
            if !code_out.is_null() {
                // SAFETY: checked non-NULL; the caller passes a valid place.
                unsafe { code_out.write(code) };
            }
            sys::ZX_OK
        }
        Err(status) => status.into_raw(),
    }
}

/// Writes a C string to the console.
///
/// # Safety
/// `s` must be NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn zxr_puts(s: *const c_char) {
    if s.is_null() {
        return;
    }
    // SAFETY: the caller passes a NUL-terminated string.
    zx::debug_write(unsafe { CStr::from_ptr(s) }.to_bytes());
}

fn print_fmt(args: core::fmt::Arguments<'_>) {
    let mut w = zx::print::DebugWriter::new();
    let _ = w.write_fmt(args);
}

/// Prints `value` in decimal.
#[no_mangle]
pub extern "C" fn zxr_print_u64(value: u64) {
    print_fmt(format_args!("{value}"));
}

/// Prints `value` in decimal.
#[no_mangle]
pub extern "C" fn zxr_print_i64(value: i64) {
    print_fmt(format_args!("{value}"));
}

/// Prints `value` as `0x` and lowercase hex digits.
#[no_mangle]
pub extern "C" fn zxr_print_hex(value: u64) {
    print_fmt(format_args!("{value:#x}"));
}

// ---- <zircon/status.h> ------------------------------------------------------------------

/// The name of a status code.
#[no_mangle]
pub extern "C" fn zx_status_get_string(status: zx_status_t) -> *const c_char {
    const NAMES: &[(zx_status_t, &CStr)] = &[
        (sys::ZX_OK, c"ZX_OK"),
        (sys::ZX_ERR_INTERNAL, c"ZX_ERR_INTERNAL"),
        (sys::ZX_ERR_NOT_SUPPORTED, c"ZX_ERR_NOT_SUPPORTED"),
        (sys::ZX_ERR_NO_RESOURCES, c"ZX_ERR_NO_RESOURCES"),
        (sys::ZX_ERR_NO_MEMORY, c"ZX_ERR_NO_MEMORY"),
        (sys::ZX_ERR_INVALID_ARGS, c"ZX_ERR_INVALID_ARGS"),
        (sys::ZX_ERR_BAD_HANDLE, c"ZX_ERR_BAD_HANDLE"),
        (sys::ZX_ERR_WRONG_TYPE, c"ZX_ERR_WRONG_TYPE"),
        (sys::ZX_ERR_BAD_SYSCALL, c"ZX_ERR_BAD_SYSCALL"),
        (sys::ZX_ERR_OUT_OF_RANGE, c"ZX_ERR_OUT_OF_RANGE"),
        (sys::ZX_ERR_BUFFER_TOO_SMALL, c"ZX_ERR_BUFFER_TOO_SMALL"),
        (sys::ZX_ERR_BAD_STATE, c"ZX_ERR_BAD_STATE"),
        (sys::ZX_ERR_TIMED_OUT, c"ZX_ERR_TIMED_OUT"),
        (sys::ZX_ERR_SHOULD_WAIT, c"ZX_ERR_SHOULD_WAIT"),
        (sys::ZX_ERR_CANCELED, c"ZX_ERR_CANCELED"),
        (sys::ZX_ERR_PEER_CLOSED, c"ZX_ERR_PEER_CLOSED"),
        (sys::ZX_ERR_NOT_FOUND, c"ZX_ERR_NOT_FOUND"),
        (sys::ZX_ERR_ALREADY_EXISTS, c"ZX_ERR_ALREADY_EXISTS"),
        (sys::ZX_ERR_UNAVAILABLE, c"ZX_ERR_UNAVAILABLE"),
        (sys::ZX_ERR_ACCESS_DENIED, c"ZX_ERR_ACCESS_DENIED"),
    ];
    let name = NAMES
        .iter()
        .find(|(code, _)| *code == status)
        .map_or(c"ZX_ERR_<unknown>", |(_, name)| *name);
    // Same spelling as the Rust side.
    debug_assert_eq!(name.to_str().ok(), Some(Status::from_raw(status).name()));
    name.as_ptr()
}

// ---- C library ----------------------------------------------------------------------------

/// Compares two C strings.
///
/// # Safety
/// Both must be NUL-terminated strings.
#[no_mangle]
pub unsafe extern "C" fn strcmp(a: *const c_char, b: *const c_char) -> c_int {
    // SAFETY: forwarded to the caller; `usize::MAX` never limits a NUL-terminated string.
    unsafe { strncmp(a, b, usize::MAX) }
}

/// Compares at most `n` characters of two C strings.
///
/// # Safety
/// Both must be NUL-terminated or at least `n` bytes long.
#[no_mangle]
pub unsafe extern "C" fn strncmp(a: *const c_char, b: *const c_char, n: usize) -> c_int {
    let (a, b) = (a.cast::<u8>(), b.cast::<u8>());
    for i in 0..n {
        // SAFETY: each string is read up to its NUL or `n` bytes, both valid per the caller.
        let (x, y) = unsafe { (*a.add(i), *b.add(i)) };
        if x != y || x == 0 {
            return c_int::from(x) - c_int::from(y);
        }
    }
    0
}

// ---- <zxr/mutex.h> ---------------------------------------------------------------

/// `zxr_mutex_t`: one futex word, 0 free, 1 held, 2 held with possible sleepers.
#[repr(C)]
pub struct zxr_mutex_t {
    futex: sys::zx_futex_t,
}

const MUTEX_FREE: i32 = 0;
const MUTEX_HELD: i32 = 1;
const MUTEX_CONTENDED: i32 = 2;

/// The mutex's word as an atomic.
///
/// # Safety
/// `mutex` points to a live, aligned `zxr_mutex_t` only used atomically.
unsafe fn mutex_word<'a>(mutex: *mut zxr_mutex_t) -> &'a AtomicI32 {
    // SAFETY: forwarded to the caller; `zxr_mutex_t` is one aligned `int32_t`.
    unsafe { AtomicI32::from_ptr(mutex.cast()) }
}

/// `zxr_mutex_lock`: one compare-and-swap when free, else sleeps on the word.
///
/// # Safety
/// `mutex` points to a live `zxr_mutex_t`.
#[no_mangle]
pub unsafe extern "C" fn zxr_mutex_lock(mutex: *mut zxr_mutex_t) {
    // SAFETY: forwarded to the caller.
    let word = unsafe { mutex_word(mutex) };
    if word
        .compare_exchange(MUTEX_FREE, MUTEX_HELD, Ordering::Acquire, Ordering::Relaxed)
        .is_ok()
    {
        return;
    }
    // Taken with CONTENDED: others may sleep behind this thread.
    while word.swap(MUTEX_CONTENDED, Ordering::Acquire) != MUTEX_FREE {
        // SAFETY: the word is live and aligned. Any result means: try again.
        unsafe {
            sys::zx_futex_wait(word.as_ptr(), MUTEX_CONTENDED, ZX_HANDLE_INVALID, i64::MAX);
        }
    }
}

/// `zxr_mutex_trylock`: ZX_OK if taken, ZX_ERR_BAD_STATE if held.
///
/// # Safety
/// `mutex` points to a live `zxr_mutex_t`.
#[no_mangle]
pub unsafe extern "C" fn zxr_mutex_trylock(mutex: *mut zxr_mutex_t) -> zx_status_t {
    // SAFETY: forwarded to the caller.
    let word = unsafe { mutex_word(mutex) };
    match word.compare_exchange(MUTEX_FREE, MUTEX_HELD, Ordering::Acquire, Ordering::Relaxed) {
        Ok(_) => sys::ZX_OK,
        Err(_) => sys::ZX_ERR_BAD_STATE,
    }
}

/// `zxr_mutex_unlock`: wakes one sleeper only if there may be one.
///
/// # Safety
/// `mutex` points to a live `zxr_mutex_t` the caller holds.
#[no_mangle]
pub unsafe extern "C" fn zxr_mutex_unlock(mutex: *mut zxr_mutex_t) {
    // SAFETY: forwarded to the caller.
    let word = unsafe { mutex_word(mutex) };
    if word.swap(MUTEX_FREE, Ordering::Release) == MUTEX_CONTENDED {
        // SAFETY: the kernel does not touch the word.
        unsafe {
            sys::zx_futex_wake(word.as_ptr(), 1);
        }
    }
}

// ---- <zxr/thread.h> --------------------------------------------------------------

/// `zxr_thread_t`, laid out as the header declares it.
#[repr(C)]
pub struct zxr_thread_t {
    done: sys::zx_futex_t,
    result: c_int,
    handle: zx_handle_t,
    reserved: u32,
    entry: Option<unsafe extern "C" fn(*mut c_void) -> c_int>,
    arg: *mut c_void,
    stack_base: usize,
    stack_size: usize,
}

const THREAD_DEFAULT_STACK: usize = 64 * 1024;

/// Default-size stacks of joined threads, kept mapped for the next `zxr_thread_create`
/// (0: empty slot). A joined thread touches its stack no more (see `thread_trampoline`),
/// so its stack can serve a new thread at once; this spares the VMO, the mapping and the
/// first page faults of most threads.
static STACK_CACHE: [AtomicUsize; 4] = [const { AtomicUsize::new(0) }; 4];

/// A cached default-size stack, if any.
fn take_cached_stack() -> Option<usize> {
    STACK_CACHE
        .iter()
        .find_map(|slot| match slot.swap(0, Ordering::Acquire) {
            0 => None,
            base => Some(base),
        })
}

/// Keeps a default-size stack for reuse; false if the cache is full.
fn cache_stack(base: usize) -> bool {
    STACK_CACHE.iter().any(|slot| {
        slot.compare_exchange(0, base, Ordering::Release, Ordering::Relaxed)
            .is_ok()
    })
}

/// `zxr_thread_create`.
///
/// # Safety
/// `thread` points to a `zxr_thread_t` that stays alive until `zxr_thread_join` returns;
/// `name` is NULL or a C string; `entry` may run on another thread with `arg`.
#[no_mangle]
pub unsafe extern "C" fn zxr_thread_create(
    thread: *mut zxr_thread_t,
    entry: Option<unsafe extern "C" fn(*mut c_void) -> c_int>,
    arg: *mut c_void,
    name: *const c_char,
    stack_size: usize,
) -> zx_status_t {
    if thread.is_null() || entry.is_none() {
        return sys::ZX_ERR_INVALID_ARGS;
    }
    let size = match if stack_size == 0 {
        THREAD_DEFAULT_STACK
    } else {
        stack_size
    }
    .checked_next_multiple_of(zx::PAGE_SIZE)
    {
        Some(size) => size,
        None => return sys::ZX_ERR_INVALID_ARGS,
    };
    // SAFETY: NULL or a C string, by the contract.
    let name = unsafe { c_str(name) }.unwrap_or("thread");
    let root = zx::Vmar::root_self();
    let cached = if size == THREAD_DEFAULT_STACK {
        take_cached_stack()
    } else {
        None
    };
    let base = match cached.map(Ok).unwrap_or_else(|| {
        zx::Vmo::create(size as u64).and_then(|vmo| {
            root.map(
                0,
                &vmo,
                0,
                size,
                zx::VmarFlags::PERM_READ | zx::VmarFlags::PERM_WRITE,
            )
        })
    }) {
        Ok(base) => base,
        Err(status) => return status.into_raw(),
    };
    let started = zx::Thread::create(&zx::Process::self_handle(), name).and_then(|t| {
        // SAFETY: `thread` is valid by the contract; the new thread reads it only after
        // the start below.
        unsafe {
            thread.write(zxr_thread_t {
                done: 0,
                result: 0,
                handle: t.raw_handle(),
                reserved: 0,
                entry,
                arg,
                stack_base: base,
                stack_size: size,
            });
        }
        // SAFETY: `thread_trampoline` runs on the new stack, mapped until the join.
        unsafe {
            t.start(
                thread_trampoline as *const () as usize,
                base + size,
                thread as usize,
                0,
            )
        }?;
        Ok(t.into_raw())
    });
    match started {
        Ok(_) => sys::ZX_OK,
        Err(status) => {
            if size != THREAD_DEFAULT_STACK || !cache_stack(base) {
                // SAFETY: no thread runs on the stack: it was never started.
                let _ = unsafe { root.unmap(base, size) };
            }
            status.into_raw()
        }
    }
}

/// First code of a `zxr_thread_create` thread: runs the function, then publishes the result
/// and ends without touching the stack after the store (the joiner may unmap it at once).
unsafe extern "C" fn thread_trampoline(thread: *mut zxr_thread_t) -> ! {
    // SAFETY: `zxr_thread_create` filled the record before starting this thread.
    let (entry, arg) = unsafe { ((*thread).entry, (*thread).arg) };
    // SAFETY: the caller of `zxr_thread_create` vouched for `entry(arg)`.
    let result = match entry {
        Some(entry) => unsafe { entry(arg) },
        None => -1,
    };
    // SAFETY: stores the result and `done` = 1 (release), then `zx_futex_wake(&done,
    // UINT32_MAX)` and `zx_thread_exit()`, in registers only.
    unsafe {
        core::arch::asm!(
            "str w10, [x9, #4]",
            "mov w11, #1",
            "stlr w11, [x9]",
            "mov x0, x9",
            "mov w1, #-1",
            "mov x16, #{wake}",
            "svc #0",
            "mov x16, #{exit}",
            "svc #0",
            "brk #0",
            wake = const sys::Syscall::FutexWake as u32,
            exit = const sys::Syscall::ThreadExit as u32,
            in("x9") thread,
            in("w10") result,
            options(noreturn),
        )
    }
}

/// `zxr_thread_join`.
///
/// # Safety
/// `thread` was filled by a successful `zxr_thread_create` and is not joined yet; `result`
/// is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn zxr_thread_join(
    thread: *mut zxr_thread_t,
    result: *mut c_int,
) -> zx_status_t {
    if thread.is_null() {
        return sys::ZX_ERR_INVALID_ARGS;
    }
    // SAFETY: a live record by the contract; `done` is only used atomically.
    let done = unsafe { AtomicI32::from_ptr(core::ptr::addr_of_mut!((*thread).done)) };
    while done.load(Ordering::Acquire) == 0 {
        // SAFETY: the word is live and aligned. BAD_STATE (it changed) ends the loop above.
        unsafe {
            sys::zx_futex_wait(done.as_ptr(), 0, ZX_HANDLE_INVALID, i64::MAX);
        }
    }
    // SAFETY: as above; the thread wrote these before `done`.
    let record = unsafe { &mut *thread };
    if !result.is_null() {
        // SAFETY: writable by the contract.
        unsafe { result.write(record.result) };
    }
    // The thread's function returned and its last steps use no stack.
    if record.stack_size != THREAD_DEFAULT_STACK || !cache_stack(record.stack_base) {
        // SAFETY: as said.
        let _ = unsafe { zx::Vmar::root_self().unmap(record.stack_base, record.stack_size) };
    }
    // SAFETY: the handle came from `zxr_thread_create` and is closed once.
    unsafe {
        sys::zx_handle_close(record.handle);
    }
    record.handle = ZX_HANDLE_INVALID;
    sys::ZX_OK
}
