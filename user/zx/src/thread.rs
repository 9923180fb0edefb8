//! Threads running Rust closures in this process, and the stack mappings threads and new
//! processes run on.

use alloc::boxed::Box;

use crate::{Process, Result, Signals, Status, Thread, Time, Vmar, VmarFlags, Vmo, PAGE_SIZE};

/// Default stack size of [`spawn`]: 256 KiB.
pub const DEFAULT_STACK_SIZE: usize = 256 * 1024;

/// A stack mapped with a guard page below it.
pub(crate) struct Stack {
    /// Lowest address of the usable stack.
    pub base: usize,
    /// Its size in bytes.
    pub size: usize,
    /// The sub-region holding guard page and stack, if one could be made.
    pub region: Option<Vmar>,
}

impl Stack {
    /// The initial stack pointer (16-byte aligned).
    pub fn top(&self) -> usize {
        self.base + self.size
    }

    /// Removes the stack (and its region) from `vmar`, where it was mapped.
    ///
    /// # Safety
    /// No thread may use the stack any more.
    pub unsafe fn unmap(&self, vmar: &Vmar) -> Result<()> {
        // SAFETY: forwarded to the caller.
        unsafe {
            match &self.region {
                Some(region) => region.destroy(),
                None => vmar.unmap(self.base, self.size),
            }
        }
    }
}

/// Maps a read-write stack of `size` bytes (rounded up to pages) in `vmar`: a sub-region of
/// one guard page plus the stack, so nothing can be placed right below it; if regions cannot
/// be made, a plain mapping.
pub(crate) fn map_stack(vmar: &Vmar, size: usize, name: &str) -> Result<Stack> {
    let size = size
        .max(PAGE_SIZE)
        .checked_next_multiple_of(PAGE_SIZE)
        .ok_or(Status::OUT_OF_RANGE)?;
    let vmo = Vmo::create(size as u64)?;
    let _ = vmo.set_name(name);
    let rw = VmarFlags::PERM_READ | VmarFlags::PERM_WRITE;
    let region_flags =
        VmarFlags::CAN_MAP_READ | VmarFlags::CAN_MAP_WRITE | VmarFlags::CAN_MAP_SPECIFIC;
    if let Ok((region, _)) = vmar.allocate(0, size + PAGE_SIZE, region_flags) {
        match region.map(PAGE_SIZE, &vmo, 0, size, rw | VmarFlags::SPECIFIC) {
            Ok(base) => {
                return Ok(Stack {
                    base,
                    size,
                    region: Some(region),
                })
            }
            Err(status) => {
                // SAFETY: the region is new and holds nothing.
                let _ = unsafe { region.destroy() };
                return Err(status);
            }
        }
    }
    let base = vmar.map(0, &vmo, 0, size, rw)?;
    Ok(Stack {
        base,
        size,
        region: None,
    })
}

/// A thread started by [`spawn`].
pub struct JoinHandle {
    thread: Thread,
    stack: Stack,
}

impl JoinHandle {
    /// The thread.
    pub fn thread(&self) -> &Thread {
        &self.thread
    }

    /// Waits for the thread to end, then unmaps its stack.
    pub fn join(self) -> Result<()> {
        self.thread
            .wait_handle(Signals::THREAD_TERMINATED, Time::INFINITE)?;
        // SAFETY: the thread has ended; nothing else uses its stack.
        unsafe { self.stack.unmap(&Vmar::root_self()) }
    }
}

type Closure = Box<dyn FnOnce() + Send + 'static>;

/// First code of a thread made by [`spawn`]: runs the closure, then ends the thread.
extern "C" fn trampoline(arg: usize, _unused: usize) -> ! {
    // SAFETY: `spawn` passed a `Box<Closure>` turned into a raw pointer, and only this thread
    // takes it back.
    let f = unsafe { Box::from_raw(arg as *mut Closure) };
    f();
    Thread::exit()
}

/// Starts a thread of this process running `f` on a fresh 256 KiB stack.
pub fn spawn<F: FnOnce() + Send + 'static>(f: F) -> Result<JoinHandle> {
    spawn_with("thread", DEFAULT_STACK_SIZE, f)
}

/// Like [`spawn`], with a thread name and a stack size.
pub fn spawn_with<F: FnOnce() + Send + 'static>(
    name: &str,
    stack_size: usize,
    f: F,
) -> Result<JoinHandle> {
    let process = Process::self_handle();
    let thread = Thread::create(&process, name)?;
    let stack = map_stack(&Vmar::root_self(), stack_size, name)?;
    let closure: Box<Closure> = Box::new(Box::new(f));
    let arg = Box::into_raw(closure) as usize;
    // SAFETY: `trampoline` runs the closure on the new stack, which stays mapped until
    // `join` sees the thread end; the closure is `Send + 'static`.
    let started = unsafe { thread.start(trampoline as *const () as usize, stack.top(), arg, 0) };
    if let Err(status) = started {
        // SAFETY: the thread did not start, so the closure and the stack are still ours.
        unsafe {
            drop(Box::from_raw(arg as *mut Closure));
            let _ = stack.unmap(&Vmar::root_self());
        }
        return Err(status);
    }
    Ok(JoinHandle { thread, stack })
}
