//! The handles and arguments a program starts with (from the bootstrap message).
//!
//! Startup handles 0..3 (process, root VMAR, boot archive, default job) stay owned by the
//! runtime for the life of the program and are lent out as [`Unowned`] views; the extras
//! (index 4 and up) are handed out once each by [`take_startup_handle`].

use core::sync::atomic::{AtomicPtr, AtomicU32, AtomicUsize, Ordering};

use crate::bootstrap::{FIRST_EXTRA, JOB_DEFAULT};
use crate::sys::{self, zx_handle_t, ZX_HANDLE_INVALID};
use crate::{Handle, Unowned, Vmo};

/// Most handles a bootstrap message can carry (`ZX_CHANNEL_MAX_MSG_HANDLES`).
pub(crate) const MAX_HANDLES: usize = sys::ZX_CHANNEL_MAX_MSG_HANDLES as usize;

static PROCESS: AtomicU32 = AtomicU32::new(ZX_HANDLE_INVALID);
static VMAR_ROOT: AtomicU32 = AtomicU32::new(ZX_HANDLE_INVALID);
static BOOTFS: AtomicU32 = AtomicU32::new(ZX_HANDLE_INVALID);
static JOB: AtomicU32 = AtomicU32::new(ZX_HANDLE_INVALID);
#[allow(clippy::declare_interior_mutable_const)]
const NO_HANDLE: AtomicU32 = AtomicU32::new(ZX_HANDLE_INVALID);
/// Startup handles by index; 0..3 are never taken.
static HANDLES: [AtomicU32; MAX_HANDLES] = [NO_HANDLE; MAX_HANDLES];

static ARGS_PTR: AtomicPtr<&'static str> = AtomicPtr::new(core::ptr::null_mut());
static ARGS_LEN: AtomicUsize = AtomicUsize::new(0);

/// Records the startup handles (index = position in the bootstrap message).
pub(crate) fn set_handles(handles: &[zx_handle_t]) {
    let get = |i: usize| handles.get(i).copied().unwrap_or(ZX_HANDLE_INVALID);
    PROCESS.store(get(0), Ordering::Release);
    VMAR_ROOT.store(get(1), Ordering::Release);
    BOOTFS.store(get(2), Ordering::Release);
    JOB.store(get(JOB_DEFAULT), Ordering::Release);
    for (slot, raw) in HANDLES.iter().zip(handles).skip(FIRST_EXTRA) {
        slot.store(*raw, Ordering::Release);
    }
}

/// Records the arguments.
pub(crate) fn set_args(args: &'static [&'static str]) {
    ARGS_LEN.store(args.len(), Ordering::Release);
    ARGS_PTR.store(args.as_ptr().cast_mut(), Ordering::Release);
}

/// This process (startup handle 0), a raw handle the runtime keeps open for the life of the
/// program (do not close it); `ZX_HANDLE_INVALID` if the program got none. The borrowed typed
/// view is [`Process::self_handle`](crate::Process::self_handle).
pub fn process_self() -> zx_handle_t {
    PROCESS.load(Ordering::Acquire)
}

/// This process's root VMAR (startup handle 1), raw and kept open by the runtime; see also
/// [`Vmar::root_self`](crate::Vmar::root_self).
pub fn vmar_root_self() -> zx_handle_t {
    VMAR_ROOT.load(Ordering::Acquire)
}

/// The boot archive (startup handle 2): a read-only `cpio newc` VMO, raw and kept open by the
/// runtime; see [`bootfs_vmo`] and [`crate::bootfs`].
pub fn bootfs() -> zx_handle_t {
    BOOTFS.load(Ordering::Acquire)
}

/// The program's default job (startup handle 3, Zircon's `PA_JOB_DEFAULT`): where its
/// launcher put it, and where [`crate::Process::create`] and the launcher put new processes.
/// Raw and kept open by the runtime; `ZX_HANDLE_INVALID` if the program got none.
pub fn job_default() -> zx_handle_t {
    JOB.load(Ordering::Acquire)
}

/// The default job as a borrowed [`crate::Job`].
pub fn job_default_ref() -> Unowned<'static, crate::Job> {
    // SAFETY: the runtime never closes startup handle 3.
    unsafe { Unowned::from_raw_static(job_default()) }
}

/// The boot archive as a borrowed [`Vmo`].
pub fn bootfs_vmo() -> Unowned<'static, Vmo> {
    // SAFETY: the runtime never closes startup handle 2.
    unsafe { Unowned::from_raw_static(bootfs()) }
}

/// Takes startup handle `index`, counted in the bootstrap message: 4 is the first extra
/// handle the starter passed, 5 the second, ... Each is handed out once; `None` for indices
/// below 4 (the runtime keeps those), out of range, already taken or absent.
pub fn take_startup_handle(index: u32) -> Option<Handle> {
    let index = index as usize;
    if index < FIRST_EXTRA {
        return None;
    }
    let raw = HANDLES
        .get(index)?
        .swap(ZX_HANDLE_INVALID, Ordering::AcqRel);
    // SAFETY: the slot owned `raw` and has just been emptied, so this is its only owner.
    (raw != ZX_HANDLE_INVALID).then(|| unsafe { Handle::from_raw(raw) })
}

/// The program's arguments; `args()[0]` is its path in the boot archive.
pub fn args() -> &'static [&'static str] {
    let ptr = ARGS_PTR.load(Ordering::Acquire);
    if ptr.is_null() {
        return &[];
    }
    // SAFETY: `set_args` stored a `&'static [&'static str]` as this pointer and length.
    unsafe { core::slice::from_raw_parts(ptr, ARGS_LEN.load(Ordering::Acquire)) }
}

/// The last component of `argv[0]` (`"init"`, `"conformance-rust"`), or `"?"`.
pub fn program_name() -> &'static str {
    match args().first() {
        Some(path) => path.rsplit('/').next().unwrap_or(path),
        None => "?",
    }
}
