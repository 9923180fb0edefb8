//! `fuzz sweep`: the failing-allocation sweep (needs a kernel booted with `kdebug`).
//!
//! A fixed script of system calls that allocate (every object's create, clones, snapshots and
//! slices, writes and commits (one of more than a chunk), a resize, a VMAR and a mapping with
//! its page tables, a protect and a partial unmap, channel writes small and large, with a
//! handle, process and thread creation, a thread start) runs once per N = 1, 2, 3, ... with the kernel told to refuse
//! the N-th decision to give a program pages (`zx_debug_send_command("failalloc N")`). For
//! every N the call that meets the refusal must fail with NO_MEMORY and change nothing (its
//! out handles unwritten, a write's bytes not there, a size or a mapping not changed, nothing
//! queued), and after the script's objects are gone the kernel's heap in use and pages in use
//! must be back where they were. The sweep ends at the first N the script completes without
//! meeting the refusal. Prints `sweep: N passed, M failed` (one test per N).

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use zx::println;
use zx::sys::{self, zx_handle_t, zx_status_t, ZX_HANDLE_INVALID};

use crate::{heap_used, kmem, now, pages_held, sleep, PAGE};

/// An out-handle slot's value before the call: a call that fails must leave it.
const UNTOUCHED: zx_handle_t = 0xdead_beef;
/// A script of more steps than this many refusals is not expected: the sweep stops there.
const MAX_N: u64 = 2000;

/// Sends `text` to the kernel's debug facilities (`zx_debug_send_command`).
pub fn command(text: &str) -> zx_status_t {
    // SAFETY: `text` is readable for its length.
    unsafe { sys::zx_debug_send_command(ZX_HANDLE_INVALID, text.as_ptr(), text.len()) }
}

/// Memory the script reads and writes, touched before a refusal is armed: a page fault that
/// met the refusal would end this process (nothing allocates on the sweep's own behalf while
/// it is armed).
static mut BIG: [u8; 65536] = [7; 65536];
static mut BUFFER: [u8; 65536] = [0; 65536];

/// The objects one run of the script made, closed by [`Script::close`].
#[derive(Default)]
struct Script {
    handles: Vec<zx_handle_t>,
    /// The VMAR the script maps into, destroyed before its handle is closed.
    vmar: Option<zx_handle_t>,
    /// Child processes, killed before their handles are closed.
    processes: Vec<zx_handle_t>,
}

/// What a step did: OK, or the failing call's status and whether it changed nothing.
type Outcome = Result<(), (zx_status_t, &'static str, Result<(), String>)>;

impl Script {
    fn keep(&mut self, handle: zx_handle_t) -> zx_handle_t {
        self.handles.push(handle);
        handle
    }

    fn close(&mut self) {
        for &process in &self.processes {
            // SAFETY: a process handle of this script.
            unsafe { sys::zx_task_kill(process) };
        }
        if let Some(vmar) = self.vmar.take() {
            // SAFETY: a VMAR this script allocated; nothing of the program lives in it.
            unsafe { sys::zx_vmar_destroy(vmar) };
        }
        for handle in self.handles.drain(..) {
            // SAFETY: a handle this script made and owns.
            unsafe { sys::zx_handle_close(handle) };
        }
        self.processes.clear();
    }

    /// Runs the script, stopping at the first call that fails.
    fn run(&mut self) -> Outcome {
        let unchanged = |ok: bool, what: &str| -> Result<(), String> {
            if ok {
                Ok(())
            } else {
                Err(String::from(what))
            }
        };
        let out_unwritten = |out: zx_handle_t| unchanged(out == UNTOUCHED, "wrote an out handle");

        // A VMO, written (commits) and committed whole.
        let mut a = UNTOUCHED;
        // SAFETY: out pointer to a local.
        let s = unsafe { sys::zx_vmo_create(16 * PAGE as u64, sys::ZX_VMO_NON_RESIZABLE, &mut a) };
        step(s, "vmo_create", || out_unwritten(a))?;
        let a = self.keep(a);
        let data = [0x5au8; 3 * PAGE];
        let data = core::hint::black_box(data);
        // SAFETY: `data` is readable.
        let s = unsafe { sys::zx_vmo_write(a, data.as_ptr(), PAGE as u64, data.len()) };
        step(s, "vmo_write", || {
            unchanged(vmo_is_zero(a, PAGE, data.len()), "wrote bytes")
        })?;
        let committed = vmo_committed(a);
        // SAFETY: no buffer.
        let s = unsafe {
            sys::zx_vmo_op_range(
                a,
                sys::ZX_VMO_OP_COMMIT,
                0,
                16 * PAGE as u64,
                core::ptr::null_mut(),
                0,
            )
        };
        step(s, "vmo_op_range(COMMIT)", || {
            unchanged(vmo_committed(a) == committed, "committed pages")
        })?;

        // Children: a snapshot written to (a copy on write), a slice, a resizable snapshot.
        for (options, name) in [
            (sys::ZX_VMO_CHILD_SNAPSHOT, "vmo_create_child(SNAPSHOT)"),
            (sys::ZX_VMO_CHILD_SLICE, "vmo_create_child(SLICE)"),
            (
                sys::ZX_VMO_CHILD_SNAPSHOT | sys::ZX_VMO_CHILD_RESIZABLE,
                "vmo_create_child(SNAPSHOT | RESIZABLE)",
            ),
        ] {
            let mut child = UNTOUCHED;
            // SAFETY: out pointer to a local.
            let s = unsafe { sys::zx_vmo_create_child(a, options, 0, 8 * PAGE as u64, &mut child) };
            step(s, name, || out_unwritten(child))?;
            let write_name = match options {
                sys::ZX_VMO_CHILD_SNAPSHOT => "vmo_write (snapshot)",
                sys::ZX_VMO_CHILD_SLICE => "vmo_write (slice)",
                _ => "vmo_write (resizable snapshot)",
            };
            let child = self.keep(child);
            // What the child shows there before the write: a failing write must leave it (the
            // slice's write went to `a`, so the later snapshot shows those bytes already).
            let read_back = || {
                let mut back = [0u8; 8];
                // SAFETY: `back` is writable.
                unsafe { sys::zx_vmo_read(child, back.as_mut_ptr(), 2 * PAGE as u64, back.len()) };
                back
            };
            let before = read_back();
            let byte = [0xa5u8; 8];
            // SAFETY: `byte` is readable.
            let s = unsafe { sys::zx_vmo_write(child, byte.as_ptr(), 2 * PAGE as u64, byte.len()) };
            step(s, write_name, || {
                unchanged(read_back() == before, "wrote bytes")
            })?;
        }

        // A resizable VMO grown and written past its old end.
        let mut r = UNTOUCHED;
        // SAFETY: out pointer to a local.
        let s = unsafe { sys::zx_vmo_create(PAGE as u64, 0, &mut r) };
        step(s, "vmo_create (resizable)", || out_unwritten(r))?;
        let r = self.keep(r);
        // SAFETY: no memory.
        let s = unsafe { sys::zx_vmo_set_size(r, 64 * PAGE as u64) };
        step(s, "vmo_set_size", || {
            unchanged(vmo_size(r) == PAGE as u64, "changed the size")
        })?;
        // SAFETY: `data` is readable.
        let s = unsafe { sys::zx_vmo_write(r, data.as_ptr(), 60 * PAGE as u64, data.len()) };
        step(s, "vmo_write (grown)", || {
            unchanged(vmo_is_zero(r, 60 * PAGE, data.len()), "wrote bytes")
        })?;

        // Channels: a small message with a handle, a large one, both read back.
        let (mut c0, mut c1) = (UNTOUCHED, UNTOUCHED);
        // SAFETY: out pointers to locals.
        let s = unsafe { sys::zx_channel_create(0, &mut c0, &mut c1) };
        step(s, "channel_create", || {
            unchanged(c0 == UNTOUCHED && c1 == UNTOUCHED, "wrote an out handle")
        })?;
        let (c0, c1) = (self.keep(c0), self.keep(c1));
        let mut dup = UNTOUCHED;
        // SAFETY: out pointer to a local.
        let s = unsafe { sys::zx_handle_duplicate(a, sys::ZX_RIGHT_SAME_RIGHTS, &mut dup) };
        step(s, "handle_duplicate", || out_unwritten(dup))?;
        // SAFETY: only this thread uses the static buffers.
        let (big, buffer) = unsafe {
            (
                &*core::ptr::addr_of!(BIG),
                &mut *core::ptr::addr_of_mut!(BUFFER),
            )
        };
        for (bytes, name) in [
            (&big[..64], "channel_write (64 B, a handle)"),
            (&big[..], "channel_write (64 KiB)"),
        ] {
            let handles = [dup];
            let count = u32::from(bytes.len() == 64);
            // SAFETY: readable bytes and handles. The handle is consumed either way.
            let s = unsafe {
                sys::zx_channel_write(
                    c0,
                    0,
                    bytes.as_ptr(),
                    bytes.len() as u32,
                    handles.as_ptr(),
                    count,
                )
            };
            step(s, name, || {
                unchanged(nothing_queued(c1), "queued a message")
            })?;
            let mut handles = [UNTOUCHED; 1];
            let (mut actual_bytes, mut actual_handles) = (0u32, 0u32);
            // SAFETY: writable buffers of the sizes passed.
            let s = unsafe {
                sys::zx_channel_read(
                    c1,
                    0,
                    buffer.as_mut_ptr(),
                    handles.as_mut_ptr(),
                    buffer.len() as u32,
                    1,
                    &mut actual_bytes,
                    &mut actual_handles,
                )
            };
            step(s, "channel_read", || Ok(()))?;
            if actual_handles == 1 {
                self.keep(handles[0]);
            }
        }

        // A process and a thread in it; a thread of this process, started (it exits at once).
        let (mut process, mut process_vmar) = (UNTOUCHED, UNTOUCHED);
        let name = b"sweep";
        // SAFETY: out pointers to locals; the name is readable.
        let s = unsafe {
            sys::zx_process_create(
                zx::startup::job_default(),
                name.as_ptr(),
                name.len(),
                0,
                &mut process,
                &mut process_vmar,
            )
        };
        step(s, "process_create", || {
            unchanged(
                process == UNTOUCHED && process_vmar == UNTOUCHED,
                "wrote an out handle",
            )
        })?;
        let process = self.keep(process);
        self.processes.push(process);
        let process_vmar = self.keep(process_vmar);
        // In the new process's address space (page tables made afresh each run): a VMAR, a
        // mapping with its page tables populated, a protect, a partial unmap.
        let (mut vmar, mut base) = (UNTOUCHED, 0usize);
        let rights =
            sys::ZX_VM_CAN_MAP_READ | sys::ZX_VM_CAN_MAP_WRITE | sys::ZX_VM_CAN_MAP_SPECIFIC;
        // SAFETY: out pointers to locals.
        let s = unsafe {
            sys::zx_vmar_allocate(process_vmar, rights, 0, 1 << 30, &mut vmar, &mut base)
        };
        step(s, "vmar_allocate", || out_unwritten(vmar))?;
        self.vmar = Some(self.keep(vmar));
        let offset = 511 * PAGE; // straddles a page-table boundary: two leaf tables
        let rw = sys::ZX_VM_PERM_READ
            | sys::ZX_VM_PERM_WRITE
            | sys::ZX_VM_SPECIFIC
            | sys::ZX_VM_MAP_RANGE;
        let mut at = 0usize;
        // SAFETY: maps into the script's own VMAR.
        let s = unsafe { sys::zx_vmar_map(vmar, rw, offset, a, 0, 16 * PAGE, &mut at) };
        step(s, "vmar_map(MAP_RANGE)", || {
            // Nothing was left in the range: the same map succeeds once allowed.
            command("failalloc 0");
            let mut again = 0usize;
            // SAFETY: as above.
            let s = unsafe { sys::zx_vmar_map(vmar, rw, offset, a, 0, 16 * PAGE, &mut again) };
            unchanged(
                s == sys::ZX_OK,
                "left a mapping or reservation in the range",
            )
        })?;
        // SAFETY: changes only the script's mapping.
        let s =
            unsafe { sys::zx_vmar_protect(vmar, sys::ZX_VM_PERM_READ, at + 4 * PAGE, 4 * PAGE) };
        step(s, "vmar_protect", || Ok(()))?;
        // SAFETY: as above.
        let s = unsafe { sys::zx_vmar_unmap(vmar, at + 2 * PAGE, PAGE) };
        step(s, "vmar_unmap (splits)", || Ok(()))?;

        let mut thread = UNTOUCHED;
        // SAFETY: out pointer to a local.
        let s =
            unsafe { sys::zx_thread_create(process, name.as_ptr(), name.len(), 0, &mut thread) };
        step(s, "thread_create (child process)", || out_unwritten(thread))?;
        self.keep(thread);
        let mut own = UNTOUCHED;
        // SAFETY: out pointer to a local.
        let s = unsafe {
            sys::zx_thread_create(
                zx::startup::process_self(),
                name.as_ptr(),
                name.len(),
                0,
                &mut own,
            )
        };
        step(s, "thread_create", || out_unwritten(own))?;
        let own = self.keep(own);
        extern "C" {
            fn fuzz_thread_exit();
        }
        // SAFETY: the entry ends the thread without touching its stack.
        let s =
            unsafe { sys::zx_thread_start(own, fuzz_thread_exit as *const () as usize, 0, 0, 0) };
        step(s, "thread_start", || Ok(()))?;
        // The legacy clone call.
        let mut clone = UNTOUCHED;
        // SAFETY: out pointer to a local.
        let s = unsafe {
            sys::zx_vmo_clone(
                a,
                sys::ZX_VMO_CLONE_COPY_ON_WRITE,
                0,
                4 * PAGE as u64,
                &mut clone,
            )
        };
        step(s, "vmo_clone", || out_unwritten(clone))?;
        self.keep(clone);

        // A COMMIT of more than one chunk (64 pages): the pages it lacks are all taken before
        // the first chunk, so a refusal met in the second one leaves nothing committed.
        let mut long = UNTOUCHED;
        // SAFETY: out pointer to a local.
        let s = unsafe { sys::zx_vmo_create(66 * PAGE as u64, 0, &mut long) };
        step(s, "vmo_create (66 pages)", || out_unwritten(long))?;
        let long = self.keep(long);
        // SAFETY: no buffer.
        let s = unsafe {
            sys::zx_vmo_op_range(
                long,
                sys::ZX_VMO_OP_COMMIT,
                0,
                66 * PAGE as u64,
                core::ptr::null_mut(),
                0,
            )
        };
        step(s, "vmo_op_range(COMMIT, 66 pages)", || {
            unchanged(vmo_committed(long) == 0, "committed pages")
        })?;
        Ok(())
    }
}

/// OK goes on; a failure becomes the step's outcome, with `check` run at once (before
/// anything else changes) to see that the call changed nothing.
fn step(
    status: zx_status_t,
    name: &'static str,
    check: impl FnOnce() -> Result<(), String>,
) -> Outcome {
    if status == sys::ZX_OK {
        return Ok(());
    }
    Err((status, name, check()))
}

fn vmo_is_zero(vmo: zx_handle_t, offset: usize, len: usize) -> bool {
    // SAFETY: only this thread uses the static buffer.
    let back = unsafe { &mut *core::ptr::addr_of_mut!(BUFFER) };
    let back = &mut back[..len.min(65536)];
    back.fill(0xff);
    // SAFETY: `back` is writable for its length.
    let s = unsafe { sys::zx_vmo_read(vmo, back.as_mut_ptr(), offset as u64, back.len()) };
    s == sys::ZX_OK && back.iter().all(|&b| b == 0)
}

fn vmo_size(vmo: zx_handle_t) -> u64 {
    let mut size = 0u64;
    // SAFETY: out pointer to a local.
    unsafe { sys::zx_vmo_get_size(vmo, &mut size) };
    size
}

fn vmo_committed(vmo: zx_handle_t) -> u64 {
    let mut info = sys::zx_info_vmo_t::default();
    let (mut actual, mut avail) = (0usize, 0usize);
    // SAFETY: a local record of the size passed.
    unsafe {
        sys::zx_object_get_info(
            vmo,
            sys::ZX_INFO_VMO,
            (&mut info as *mut sys::zx_info_vmo_t).cast(),
            core::mem::size_of::<sys::zx_info_vmo_t>(),
            &mut actual,
            &mut avail,
        )
    };
    info.committed_bytes
}

fn nothing_queued(channel: zx_handle_t) -> bool {
    let (mut actual_bytes, mut actual_handles) = (0u32, 0u32);
    // SAFETY: no buffers (a zero-sized read only asks for the sizes).
    let s = unsafe {
        sys::zx_channel_read(
            channel,
            0,
            core::ptr::null_mut(),
            core::ptr::null_mut(),
            0,
            0,
            &mut actual_bytes,
            &mut actual_handles,
        )
    };
    s == sys::ZX_ERR_SHOULD_WAIT
}

/// Grows this process's handle table once, before the figures are taken. The table keeps
/// some free slots in rotation before it reuses one (so that a closed value does not soon
/// come back), growing while fewer are free; its slot array doubles when it fills. Without
/// this, the array doubled in the middle of the sweep (1,280 then 2,560 bytes, a doubling of
/// 20-byte slots), which the leak check took for a leak of whichever N it happened in.
fn grow_handle_table() {
    let mut handles = Vec::with_capacity(256);
    for _ in 0..256 {
        let mut dup = ZX_HANDLE_INVALID;
        // SAFETY: out pointer to a local.
        let s = unsafe {
            sys::zx_handle_duplicate(
                zx::startup::process_self(),
                sys::ZX_RIGHT_SAME_RIGHTS,
                &mut dup,
            )
        };
        if s != sys::ZX_OK {
            break;
        }
        handles.push(dup);
    }
    for handle in handles {
        // SAFETY: a handle made just above.
        unsafe { sys::zx_handle_close(handle) };
    }
}

/// Heap in use and pages neither free nor the heap's, once deferred work has settled.
fn figures() -> (u64, u64) {
    let k = kmem();
    (heap_used(&k), pages_held(&k))
}

/// Waits (up to 2 s) for the figures to come back to `base`.
fn came_back(base: (u64, u64)) -> Result<(), String> {
    let deadline = now() + 2_000_000_000;
    loop {
        let now_figures = figures();
        if now_figures.0 <= base.0 + crate::SWEEP_HEAP_SLACK && now_figures.1 <= base.1 {
            return Ok(());
        }
        if now() > deadline {
            return Err(format!(
                "heap in use {} -> {} bytes, pages in use {} -> {}",
                base.0, now_figures.0, base.1, now_figures.1
            ));
        }
        sleep(10_000_000);
    }
}

pub fn sweep() -> i32 {
    if command("failalloc 0") != sys::ZX_OK {
        println!("sweep: the kernel was not booted with `kdebug` (zx_debug_send_command is off)");
        println!("sweep: 0 passed, 1 failed");
        return 1;
    }
    grow_handle_table();
    // A first run with no refusal warms the kernel's caches and must complete.
    let mut warm = Script::default();
    let warmed = warm.run();
    warm.close();
    if let Err((status, name, _)) = warmed {
        println!("sweep: FAILED: the script fails with no refusal: {name} returned {status}");
        println!("sweep: 0 passed, 1 failed");
        return 1;
    }
    sleep(20_000_000);
    let base = figures();
    let (mut passed, mut failed) = (0u64, 0u64);
    let mut steps_met: Vec<&'static str> = Vec::new();
    for n in 1..=MAX_N {
        // Twice: the first run may grow what the kernel keeps for later (a list's capacity);
        // the second must give back everything it took.
        let mut outcome = Ok(());
        let mut fired = false;
        let mut base = base;
        for run in 0..2 {
            let mut script = Script::default();
            script.handles.reserve(64);
            script.processes.reserve(4);
            let arm = format!("failalloc {n}");
            command(&arm);
            outcome = script.run();
            fired = command("failalloc?") == sys::ZX_OK;
            command("failalloc 0");
            script.close();
            if run == 0 {
                // Deferred work done (or 2 s passed: the second run then shows the leak).
                let _ = came_back(base);
                base = figures();
            }
        }
        let leak = came_back(base);
        let verdict: Result<Option<&'static str>, String> = match (&outcome, fired) {
            (Ok(()), false) => Ok(None),
            (Ok(()), true) => Err(String::from(
                "the refusal was met but every call said OK (a call hid NO_MEMORY)",
            )),
            (Err((status, name, changed)), _) => {
                if *status != sys::ZX_ERR_NO_MEMORY {
                    Err(format!("{name} returned {status}, not NO_MEMORY"))
                } else if !fired {
                    Err(format!("{name} returned NO_MEMORY with no refusal"))
                } else if let Err(what) = changed {
                    Err(format!("{name} failed but {what}"))
                } else {
                    Ok(Some(*name))
                }
            }
        };
        match (verdict, leak) {
            (Ok(met), Ok(())) => {
                passed += 1;
                match met {
                    Some(name) => {
                        if steps_met.last() != Some(&name) {
                            steps_met.push(name);
                        }
                    }
                    None => {
                        println!("sweep: the script completes from N = {n} on: {} refusals swept, each met by NO_MEMORY and undone", n - 1);
                        break;
                    }
                }
            }
            (verdict, leak) => {
                failed += 1;
                let at = match &outcome {
                    Err((status, name, _)) => format!("{name} returned {status}; "),
                    Ok(()) => String::new(),
                };
                println!(
                    "test sweep N={n} ... FAILED: {at}{}{}",
                    verdict.err().unwrap_or_default(),
                    leak.err()
                        .map(|l| format!(" LEAK: {l}"))
                        .unwrap_or_default()
                );
            }
        }
        if n == MAX_N {
            println!("sweep: FAILED: the script still meets a refusal at N = {MAX_N}");
            failed += 1;
        }
    }
    println!(
        "sweep: calls that met a refusal, in order: {}",
        steps_met.join(", ")
    );
    println!("sweep: {passed} passed, {failed} failed");
    i32::from(failed != 0)
}
