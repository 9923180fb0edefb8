//! One fuzzing thread: picks a system call, draws its arguments, makes it through `svc #0`
//! and keeps its handle pool in step with what the call made or consumed.

use core::sync::atomic::{AtomicU64, Ordering};

use zx::sys::{self, zx_handle_t, Syscall};

use crate::gen::{kind_of, koid_of, Arena, Kind, Pool, Rng, PAGE};

/// Threads whose last call is recorded for the report of a stall.
pub const MAX_THREADS: usize = 8;

/// The futex words the fuzzing threads of a process share.
static FUTEXES: [core::sync::atomic::AtomicI32; 4] =
    [const { core::sync::atomic::AtomicI32::new(0) }; 4];

/// The last call of each thread (number, eight argument registers, index), so that a stall
/// or a failure names it.
pub static LAST_CALL: [[AtomicU64; 10]; MAX_THREADS] = {
    #[allow(clippy::declare_interior_mutable_const)]
    const ZERO: AtomicU64 = AtomicU64::new(0);
    #[allow(clippy::declare_interior_mutable_const)]
    const ROW: [AtomicU64; 10] = [ZERO; 10];
    [ROW; MAX_THREADS]
};

/// Calls made by every thread of this process: the watchdog's progress counter.
pub static CALLS: AtomicU64 = AtomicU64::new(0);
/// Calls that returned `ZX_OK`: a round that did mostly fail says little.
pub static OKS: AtomicU64 = AtomicU64::new(0);
/// Calls that returned `ZX_ERR_NO_MEMORY`: whether the round reached memory exhaustion.
pub static NO_MEMORY: AtomicU64 = AtomicU64::new(0);

/// Makes system call `number` with `args` in `x0`..`x7`, exactly as the `zx_*` stubs do.
///
/// # Safety
///
/// The call may read and write user memory through any of its arguments and may change the
/// address space: the caller draws them so that it only ever names the arena, the
/// playground and handles of its own pool.
unsafe fn raw(number: u64, args: [u64; 8]) -> i32 {
    let result: u64;
    // SAFETY: `svc #0` enters the kernel, which preserves every register but x0 (the result),
    // x16 and x17; memory effects are the caller's to vouch for.
    unsafe {
        core::arch::asm!(
            "svc #0",
            inlateout("x0") args[0] => result,
            in("x1") args[1],
            in("x2") args[2],
            in("x3") args[3],
            in("x4") args[4],
            in("x5") args[5],
            in("x6") args[6],
            in("x7") args[7],
            inlateout("x16") number => _,
            lateout("x17") _,
            options(nostack),
        );
    }
    result as i32
}

// A thread entry that ends the thread at once, without touching its stack: the only entry
// the fuzzer starts threads of its own process at (any other would fault and end the
// process).
core::arch::global_asm!(
    ".global fuzz_thread_exit",
    ".type fuzz_thread_exit, %function",
    "fuzz_thread_exit:",
    "mov x16, #{exit}",
    "svc #0",
    "brk #0",
    exit = const Syscall::ThreadExit as u32,
);

extern "C" {
    fn fuzz_thread_exit();
}

const ALL_RIGHTS: u32 = (1 << 19) - 1;
const VM_OPTIONS: u32 = ((1 << 12) - 1) | (0x1f << sys::ZX_VM_ALIGN_BASE);
const TEXT: &[u8] = b"~";

/// One thread's fuzzing state.
pub struct Fuzzer {
    pub rng: Rng,
    pub pool: Pool,
    pub arena: Arena,
    /// The region every VMAR the fuzzer makes lives in (destroyed at the end of a round),
    /// with its base and length: calls may map, unmap and protect in it, never destroy it.
    pub playground: (zx_handle_t, usize, usize),
    /// A child process: may touch mapped memory and start threads anywhere (a fault only
    /// ends this process, which the parent expects).
    pub reckless: bool,
    /// Row of [`LAST_CALL`].
    pub slot: usize,
    pub calls: u64,
}

impl Fuzzer {
    /// One call, drawn at random.
    pub fn step(&mut self) {
        let pick = self.rng.below(100);
        if self.reckless && pick < 1 {
            self.touch();
        } else if pick < 2 && self.rng.one_in(20) {
            self.hog();
        } else if pick < 8 {
            // Unknown numbers, just past the table and anywhere.
            let number = match self.rng.below(3) {
                0 => Syscall::COUNT as u64 + self.rng.below(16),
                1 => Syscall::COUNT as u64 + self.rng.below(1 << 20),
                _ => self.rng.next().max(Syscall::COUNT as u64),
            };
            let args = [0u64; 8].map(|_| self.rng.next());
            self.call(number, args);
        } else {
            let number = self.rng.below(Syscall::COUNT as u64);
            self.known(number);
        }
        self.calls += 1;
        CALLS.fetch_add(1, Ordering::Relaxed);
    }

    /// Records and makes one call.
    fn call(&mut self, number: u64, args: [u64; 8]) -> i32 {
        let row = &LAST_CALL[self.slot];
        row[0].store(number, Ordering::Relaxed);
        for (cell, &arg) in row[1..9].iter().zip(&args) {
            cell.store(arg, Ordering::Relaxed);
        }
        row[9].store(self.calls, Ordering::Relaxed);
        // SAFETY: the arguments name only the arena, the playground and the pool's handles
        // wherever they could change memory or close something (see `known`).
        let status = unsafe { raw(number, args) };
        if status == sys::ZX_OK {
            OKS.fetch_add(1, Ordering::Relaxed);
        } else if status == sys::ZX_ERR_NO_MEMORY {
            NO_MEMORY.fetch_add(1, Ordering::Relaxed);
        }
        status
    }

    fn h(&mut self, kind: Kind) -> u64 {
        u64::from(self.pool.handle(&mut self.rng, kind))
    }

    /// A handle for a call that only looks at it: sometimes a protected one.
    fn look(&mut self, kind: Kind) -> u64 {
        if self.rng.one_in(6) && !self.pool.protected.is_empty() {
            let protected = &self.pool.protected;
            return u64::from(protected[self.rng.below(protected.len() as u64) as usize]);
        }
        self.h(kind)
    }

    fn any_kind(&mut self) -> Kind {
        self.rng.pick(&[
            Kind::Vmo,
            Kind::Vmar,
            Kind::Channel,
            Kind::Thread,
            Kind::Process,
            Kind::Socket,
            Kind::Job,
        ])
    }

    /// A koid for `zx_object_get_child` on `handle`: mostly one of its live children (from
    /// the list topic of its kind), else 0, its own koid or random bits.
    fn child_koid(&mut self, handle: u64) -> u64 {
        let topic = self.rng.pick(&[
            sys::ZX_INFO_JOB_PROCESSES,
            sys::ZX_INFO_JOB_CHILDREN,
            sys::ZX_INFO_PROCESS_THREADS,
        ]);
        match self.rng.below(5) {
            0 => 0,
            1 => self.rng.next(),
            2 => kind_of(handle as zx_handle_t).map_or(0, |_| koid_of(handle as zx_handle_t)),
            _ => {
                let mut koids = [0u64; 4];
                let (mut actual, mut avail) = (0usize, 0usize);
                // SAFETY: a local buffer of the size passed; the handle is only looked at.
                let status = unsafe {
                    sys::zx_object_get_info(
                        handle as zx_handle_t,
                        topic,
                        koids.as_mut_ptr().cast(),
                        core::mem::size_of_val(&koids),
                        &mut actual,
                        &mut avail,
                    )
                };
                if status == sys::ZX_OK && actual > 0 {
                    koids[self.rng.below(actual.min(4) as u64) as usize]
                } else {
                    self.rng.next()
                }
            }
        }
    }

    /// A size for a VMO: mostly a few pages, sometimes any length.
    fn vmo_size(&mut self) -> u64 {
        if self.rng.one_in(5) {
            self.rng.len()
        } else {
            self.rng.below(16) * PAGE as u64 + if self.rng.one_in(4) { 1 } else { 0 }
        }
    }

    /// An offset into a VMO: a few pages, or any.
    fn vmo_offset(&mut self) -> u64 {
        if self.rng.one_in(4) {
            self.rng.len()
        } else {
            self.rng.below(20) * PAGE as u64 + if self.rng.one_in(6) { 17 } else { 0 }
        }
    }

    /// A VMAR for a call that may change it: the playground or one of the pool's.
    fn vmar(&mut self) -> (u64, usize, usize) {
        if self.rng.one_in(3) {
            let (h, base, len) = self.playground;
            return (u64::from(h), base, len);
        }
        let h = self.pool.handle(&mut self.rng, Kind::Vmar);
        let mut info = sys::zx_info_vmar_t::default();
        let (mut actual, mut avail) = (0usize, 0usize);
        // SAFETY: a local record of the size passed.
        let status = unsafe {
            sys::zx_object_get_info(
                h,
                sys::ZX_INFO_VMAR,
                (&mut info as *mut sys::zx_info_vmar_t).cast(),
                core::mem::size_of::<sys::zx_info_vmar_t>(),
                &mut actual,
                &mut avail,
            )
        };
        if status == sys::ZX_OK {
            (u64::from(h), info.base, info.len)
        } else {
            (u64::from(h), self.playground.1, PAGE * 16)
        }
    }

    /// An offset relative to a VMAR of `len` bytes: inside, at an edge, or past it.
    fn vmar_offset(&mut self, len: usize) -> u64 {
        match self.rng.below(6) {
            0 => 0,
            1 => len as u64,
            2 => self.rng.len(),
            3 => (self.rng.below((len / PAGE) as u64 + 1) * PAGE as u64) + 1,
            _ => self.rng.below((len / PAGE) as u64 + 1) * PAGE as u64,
        }
    }

    /// A length for a mapping or a VMAR range.
    fn vm_len(&mut self) -> u64 {
        if self.rng.one_in(4) {
            self.rng.len()
        } else {
            (self.rng.below(8) + 1) * PAGE as u64
        }
    }

    /// Adds the handle a call wrote at `ptr` (when `ok`, the record is in scratch memory).
    fn take_out(&mut self, status: i32, ptr: u64, ok: bool) {
        if status != sys::ZX_OK {
            return;
        }
        if !ok {
            report(self, "returned OK with an out pointer it cannot write");
            return;
        }
        let handle = self.arena.get_u32(ptr);
        match kind_of(handle) {
            Some(kind) => self.pool.add(handle, kind),
            None => report(self, "returned OK but wrote no handle"),
        }
    }

    /// After a call that may have consumed `handles`: those that are no longer valid leave
    /// the pool.
    fn recheck(&mut self, handles: &[u64]) {
        for &value in handles {
            let handle = value as zx_handle_t;
            if self.pool.kind(handle).is_some() && kind_of(handle).is_none() {
                self.pool.forget(handle);
            }
        }
    }

    /// A system call of the table, with arguments drawn for it.
    fn known(&mut self, number: u64) {
        self.arena.next_call();
        let n = number;
        let Some(call) = syscall(number) else {
            return;
        };
        match call {
            Syscall::HandleClose => {
                let kind = self.any_kind();
                let h = self.h(kind);
                self.call(n, [h, 0, 0, 0, 0, 0, 0, 0]);
                self.recheck(&[h]);
            }
            Syscall::HandleCloseMany => {
                let count = self.rng.below(6) as usize;
                let mut values = [0u32; 6];
                for value in values.iter_mut().take(count) {
                    let kind = self.any_kind();
                    *value = self.h(kind) as u32;
                }
                let ptr = if self.rng.one_in(5) {
                    self.arena.in_ptr(&mut self.rng, 4 * count as u64)
                } else {
                    self.arena.handles(&values[..count])
                };
                let num = if self.rng.one_in(6) {
                    self.rng.len()
                } else {
                    count as u64
                };
                self.call(n, [ptr, num, 0, 0, 0, 0, 0, 0]);
                let handles = values.map(u64::from);
                self.recheck(&handles[..count]);
            }
            Syscall::HandleDuplicate | Syscall::HandleReplace => {
                let kind = self.any_kind();
                let h = self.h(kind);
                let rights = if self.rng.one_in(3) {
                    sys::ZX_RIGHT_SAME_RIGHTS
                } else {
                    self.rng.bits(ALL_RIGHTS)
                };
                let (out, ok) = self.arena.record(&mut self.rng, 4);
                let status = self.call(n, [h, u64::from(rights), out, 0, 0, 0, 0, 0]);
                self.take_out(status, out, ok);
                self.recheck(&[h]);
            }
            Syscall::ObjectGetProperty | Syscall::ObjectSetProperty => {
                let kind = self.any_kind();
                let h = if call == Syscall::ObjectGetProperty {
                    self.look(kind)
                } else {
                    self.h(kind)
                };
                let property = if self.rng.one_in(3) {
                    self.rng.next() as u32
                } else {
                    sys::ZX_PROP_NAME
                };
                let size = if self.rng.one_in(3) {
                    self.rng.len()
                } else {
                    32
                };
                let ptr = if call == Syscall::ObjectGetProperty {
                    self.arena.out_ptr(&mut self.rng, size)
                } else {
                    self.arena.in_ptr(&mut self.rng, size)
                };
                self.call(n, [h, u64::from(property), ptr, size, 0, 0, 0, 0]);
            }
            Syscall::ObjectGetInfo => {
                let kind = self.any_kind();
                let h = self.look(kind);
                let any = self.rng.next() as u32;
                let topic = self.rng.pick(&[
                    sys::ZX_INFO_HANDLE_VALID,
                    sys::ZX_INFO_HANDLE_BASIC,
                    sys::ZX_INFO_PROCESS,
                    sys::ZX_INFO_VMAR,
                    sys::ZX_INFO_KMEM_STATS,
                    sys::ZX_INFO_HANDLE_COUNT,
                    sys::ZX_INFO_VMO,
                    any,
                ]);
                let size = if self.rng.one_in(3) {
                    self.rng.len()
                } else {
                    256
                };
                let buffer = self.arena.out_ptr(&mut self.rng, size);
                let actual = self.arena.out_ptr(&mut self.rng, 8);
                let avail = self.arena.out_ptr(&mut self.rng, 8);
                self.call(n, [h, u64::from(topic), buffer, size, actual, avail, 0, 0]);
            }
            Syscall::ObjectWaitOne => {
                let kind = self.any_kind();
                let h = self.look(kind);
                let signals = self.rng.bits(u32::MAX);
                let deadline = self.rng.deadline() as u64;
                let observed = self.arena.out_ptr(&mut self.rng, 4);
                self.call(n, [h, u64::from(signals), deadline, observed, 0, 0, 0, 0]);
            }
            Syscall::ObjectSignal => {
                let kind = self.any_kind();
                let h = self.h(kind);
                let clear = self.rng.bits(u32::MAX);
                let set = self.rng.bits(u32::MAX);
                self.call(n, [h, u64::from(clear), u64::from(set), 0, 0, 0, 0, 0]);
            }
            Syscall::VmoCreate => {
                let size = self.vmo_size();
                let options = self.rng.bits(0b11);
                let (out, ok) = self.arena.record(&mut self.rng, 4);
                let status = self.call(n, [size, u64::from(options), out, 0, 0, 0, 0, 0]);
                self.take_out(status, out, ok);
            }
            Syscall::VmoRead | Syscall::VmoWrite => {
                let h = self.h(Kind::Vmo);
                let len = if self.rng.one_in(4) {
                    self.rng.len()
                } else {
                    self.rng.below(3 * PAGE as u64)
                };
                let buffer = if call == Syscall::VmoRead {
                    self.arena.out_ptr(&mut self.rng, len)
                } else {
                    self.arena.in_ptr(&mut self.rng, len)
                };
                let offset = self.vmo_offset();
                self.call(n, [h, buffer, offset, len, 0, 0, 0, 0]);
            }
            Syscall::VmoGetSize => {
                let h = self.h(Kind::Vmo);
                let out = self.arena.out_ptr(&mut self.rng, 8);
                self.call(n, [h, out, 0, 0, 0, 0, 0, 0]);
            }
            Syscall::VmoSetSize => {
                let h = self.h(Kind::Vmo);
                let size = self.vmo_size();
                self.call(n, [h, size, 0, 0, 0, 0, 0, 0]);
            }
            Syscall::VmoClone | Syscall::VmoCreateChild => {
                let h = self.h(Kind::Vmo);
                let known = if call == Syscall::VmoClone {
                    sys::ZX_VMO_CLONE_COPY_ON_WRITE | sys::ZX_VMO_CLONE_NON_RESIZEABLE
                } else {
                    sys::ZX_VMO_CHILD_SNAPSHOT
                        | sys::ZX_VMO_CHILD_SLICE
                        | sys::ZX_VMO_CHILD_RESIZABLE
                        | sys::ZX_VMO_CHILD_NO_WRITE
                };
                let options = if self.rng.one_in(2) {
                    // The usual shapes: a snapshot or a slice, maybe resizable.
                    self.rng.pick(&[
                        sys::ZX_VMO_CHILD_SNAPSHOT,
                        sys::ZX_VMO_CHILD_SLICE,
                        sys::ZX_VMO_CHILD_SNAPSHOT | sys::ZX_VMO_CHILD_RESIZABLE,
                    ]) & if call == Syscall::VmoClone {
                        1
                    } else {
                        u32::MAX
                    }
                } else {
                    self.rng.bits(known)
                };
                let offset = self.vmo_offset();
                let size = self.vmo_size();
                let (out, ok) = self.arena.record(&mut self.rng, 4);
                let status = self.call(n, [h, u64::from(options), offset, size, out, 0, 0, 0]);
                self.take_out(status, out, ok);
            }
            Syscall::VmoOpRange => {
                let h = self.h(Kind::Vmo);
                let any = self.rng.next() as u32;
                let op = self.rng.pick(&[
                    sys::ZX_VMO_OP_COMMIT,
                    sys::ZX_VMO_OP_DECOMMIT,
                    sys::ZX_VMO_OP_ZERO,
                    sys::ZX_VMO_OP_LOCK,
                    sys::ZX_VMO_OP_UNLOCK,
                    sys::ZX_VMO_OP_CACHE_SYNC,
                    sys::ZX_VMO_OP_CACHE_INVALIDATE,
                    sys::ZX_VMO_OP_CACHE_CLEAN,
                    sys::ZX_VMO_OP_CACHE_CLEAN_INVALIDATE,
                    any,
                ]);
                let offset = self.vmo_offset();
                let size = self.vm_len();
                let any = self.rng.len();
                let buffer_size = self.rng.pick(&[0, 0, 8, any]);
                let buffer = self.arena.out_ptr(&mut self.rng, buffer_size);
                self.call(
                    n,
                    [h, u64::from(op), offset, size, buffer, buffer_size, 0, 0],
                );
            }
            Syscall::VmarMap => {
                let (vmar, _, len) = self.vmar();
                let options = if self.rng.one_in(2) {
                    let perms = self.rng.bits(
                        sys::ZX_VM_PERM_READ | sys::ZX_VM_PERM_WRITE | sys::ZX_VM_PERM_EXECUTE,
                    );
                    let place = self.rng.pick(&[
                        0,
                        sys::ZX_VM_SPECIFIC,
                        sys::ZX_VM_SPECIFIC_OVERWRITE,
                        sys::ZX_VM_MAP_RANGE,
                        sys::ZX_VM_SPECIFIC | sys::ZX_VM_MAP_RANGE,
                    ]);
                    perms | place
                } else {
                    self.rng.bits(VM_OPTIONS)
                };
                let offset = if options & (sys::ZX_VM_SPECIFIC | sys::ZX_VM_SPECIFIC_OVERWRITE) != 0
                {
                    self.vmar_offset(len)
                } else {
                    0
                };
                let vmo = self.h(Kind::Vmo);
                let vmo_offset = self.vmo_offset();
                let map_len = self.vm_len();
                let out = self.arena.out_ptr(&mut self.rng, 8);
                self.call(
                    n,
                    [
                        vmar,
                        u64::from(options),
                        offset,
                        vmo,
                        vmo_offset,
                        map_len,
                        out,
                        0,
                    ],
                );
            }
            Syscall::VmarUnmap | Syscall::VmarProtect => {
                let (vmar, base, len) = self.vmar();
                let addr = base as u64 + self.vmar_offset(len);
                let range = self.vm_len();
                if call == Syscall::VmarUnmap {
                    self.call(n, [vmar, addr, range, 0, 0, 0, 0, 0]);
                } else {
                    let options = self.rng.bits(
                        sys::ZX_VM_PERM_READ | sys::ZX_VM_PERM_WRITE | sys::ZX_VM_PERM_EXECUTE,
                    );
                    self.call(n, [vmar, u64::from(options), addr, range, 0, 0, 0, 0]);
                }
            }
            Syscall::VmarAllocate => {
                let (vmar, _, len) = self.vmar();
                let options = if self.rng.one_in(2) {
                    sys::ZX_VM_CAN_MAP_READ
                        | sys::ZX_VM_CAN_MAP_WRITE
                        | sys::ZX_VM_CAN_MAP_SPECIFIC
                        | self.rng.pick(&[0, sys::ZX_VM_SPECIFIC, sys::ZX_VM_COMPACT])
                } else {
                    self.rng.bits(VM_OPTIONS)
                };
                let offset = if options & sys::ZX_VM_SPECIFIC != 0 {
                    self.vmar_offset(len)
                } else {
                    0
                };
                let size = self.vm_len();
                let (out, ok) = self.arena.record(&mut self.rng, 4);
                let addr = self.arena.out_ptr(&mut self.rng, 8);
                let status =
                    self.call(n, [vmar, u64::from(options), offset, size, out, addr, 0, 0]);
                self.take_out(status, out, ok);
            }
            Syscall::VmarDestroy => {
                let h = self.h(Kind::Vmar);
                self.call(n, [h, 0, 0, 0, 0, 0, 0, 0]);
            }
            Syscall::ProcessCreate => {
                if !self.rng.one_in(4) {
                    return;
                }
                let any = self.rng.next();
                // Mostly a real job: this program's own (protected: creating in it is all a
                // call may do to it) or one of the pool's.
                let job = match self.rng.below(6) {
                    0 | 1 => u64::from(zx::startup::job_default()),
                    2 | 3 => self.h(Kind::Job),
                    4 => 0,
                    // (A random job value is not a handle of the pool: the kernel only reads it.)
                    _ => any & 0xffff_ffff,
                };
                let any = self.rng.len();
                let name_len = self.rng.pick(&[0, 4, 31, 32, 33, any]);
                let name = self.arena.in_ptr(&mut self.rng, name_len);
                let options = self.rng.bits(1);
                let (process, ok_p) = self.arena.record(&mut self.rng, 4);
                let (vmar, ok_v) = self.arena.record(&mut self.rng, 4);
                let status = self.call(
                    n,
                    [job, name, name_len, u64::from(options), process, vmar, 0, 0],
                );
                self.take_out(status, process, ok_p);
                self.take_out(status, vmar, ok_v);
            }
            Syscall::ProcessStart => {
                // A started process that faults prints a line: rarely.
                if !self.rng.one_in(8) {
                    return;
                }
                let process = self.h(Kind::Process);
                let thread = self.h(Kind::Thread);
                let entry = self.entry();
                let stack = self.entry();
                let arg = self.h(Kind::Vmo);
                let arg2 = self.rng.next();
                self.call(n, [process, thread, entry, stack, arg, arg2, 0, 0]);
                self.recheck(&[arg]);
            }
            Syscall::ThreadCreate => {
                let process = if self.rng.one_in(2) {
                    u64::from(zx::startup::process_self())
                } else {
                    self.h(Kind::Process)
                };
                let any = self.rng.len();
                let name_len = self.rng.pick(&[0, 6, 32, any]);
                let name = self.arena.in_ptr(&mut self.rng, name_len);
                let options = self.rng.bits(1);
                let (out, ok) = self.arena.record(&mut self.rng, 4);
                let status = self.call(
                    n,
                    [process, name, name_len, u64::from(options), out, 0, 0, 0],
                );
                self.take_out(status, out, ok);
            }
            Syscall::ThreadStart => {
                let thread = self.h(Kind::Thread);
                let entry = self.entry();
                let stack = self.entry();
                let (a, b) = (self.rng.next(), self.rng.next());
                self.call(n, [thread, entry, stack, a, b, 0, 0, 0]);
            }
            Syscall::TaskKill => {
                // Pool handles only: never this program's own process, thread or job (they are
                // protected), so a job killed here holds only what this fuzzer made in it.
                let kind = self
                    .rng
                    .pick(&[Kind::Thread, Kind::Process, Kind::Vmo, Kind::Job]);
                let h = self.h(kind);
                self.call(n, [h, 0, 0, 0, 0, 0, 0, 0]);
            }
            Syscall::ChannelCreate => {
                let options = self.rng.bits(1);
                let (a, ok_a) = self.arena.record(&mut self.rng, 4);
                let (b, ok_b) = self.arena.record(&mut self.rng, 4);
                let status = self.call(n, [u64::from(options), a, b, 0, 0, 0, 0, 0]);
                self.take_out(status, a, ok_a);
                self.take_out(status, b, ok_b);
            }
            Syscall::ChannelWrite => {
                let h = self.h(Kind::Channel);
                let count = match self.rng.below(4) {
                    0 => 0,
                    1 => 1,
                    2 => self.rng.below(4),
                    _ => self.rng.below(65),
                } as usize;
                let mut values = [0u32; 64];
                for value in values.iter_mut().take(count) {
                    // Channels most of all, this one and its peer included: cycles.
                    let kind = if self.rng.one_in(2) {
                        Kind::Channel
                    } else {
                        self.any_kind()
                    };
                    *value = self.h(kind) as u32;
                }
                let any = self.rng.len();
                let bytes_len = self.rng.pick(&[0, 1, 64, 65536, 65537, any]);
                let bytes = self.arena.in_ptr(&mut self.rng, bytes_len);
                // The bytes go after the handle array in scratch memory (or anywhere).
                let handles = if self.rng.one_in(6) {
                    self.arena.in_ptr(&mut self.rng, 4 * count as u64)
                } else {
                    self.arena.handles(&values[..count])
                };
                let num_handles = if self.rng.one_in(8) {
                    self.rng.len()
                } else {
                    count as u64
                };
                let options = self.rng.bits(0);
                self.call(
                    n,
                    [
                        h,
                        u64::from(options),
                        bytes,
                        bytes_len,
                        handles,
                        num_handles,
                        0,
                        0,
                    ],
                );
                let moved = values.map(u64::from);
                self.recheck(&moved[..count]);
                self.recheck(&[h]);
            }
            Syscall::SocketCreate => {
                let options = self.rng.bits(1);
                let (a, ok_a) = self.arena.record(&mut self.rng, 4);
                let (b, ok_b) = self.arena.record(&mut self.rng, 4);
                let status = self.call(n, [u64::from(options), a, b, 0, 0, 0, 0, 0]);
                self.take_out(status, a, ok_a);
                self.take_out(status, b, ok_b);
            }
            Syscall::SocketWrite | Syscall::SocketRead => {
                let h = self.h(Kind::Socket);
                let options = self.rng.bits(if call == Syscall::SocketRead {
                    sys::ZX_SOCKET_PEEK
                } else {
                    0
                });
                let any = self.rng.len();
                // Around the buffer bound (257,024) and past u32::MAX too.
                let len = self
                    .rng
                    .pick(&[0, 1, 64, 4096, 257_024, 257_025, 1 << 32, any]);
                let buffer = if call == Syscall::SocketRead {
                    self.arena.out_ptr(&mut self.rng, len)
                } else {
                    self.arena.in_ptr(&mut self.rng, len)
                };
                let (actual, _) = self.arena.record(&mut self.rng, 8);
                let actual = if self.rng.one_in(4) { 0 } else { actual };
                self.call(n, [h, u64::from(options), buffer, len, actual, 0, 0, 0]);
            }
            Syscall::SocketSetDisposition => {
                let h = self.h(Kind::Socket);
                let mut disposition = || match self.rng.below(4) {
                    0 => 0,
                    1 => u64::from(sys::ZX_SOCKET_DISPOSITION_WRITE_DISABLED),
                    2 => u64::from(sys::ZX_SOCKET_DISPOSITION_WRITE_ENABLED),
                    _ => u64::from(self.rng.bits(3)),
                };
                let (own, peer) = (disposition(), disposition());
                self.call(n, [h, own, peer, 0, 0, 0, 0, 0]);
            }
            Syscall::ChannelCall => {
                let h = self.h(Kind::Channel);
                let count = match self.rng.below(4) {
                    0 | 1 => 0,
                    2 => 1,
                    _ => self.rng.below(65),
                } as usize;
                let mut values = [0u32; 64];
                for value in values.iter_mut().take(count) {
                    let kind = if self.rng.one_in(2) {
                        Kind::Channel
                    } else {
                        self.any_kind()
                    };
                    *value = self.h(kind) as u32;
                }
                let handles = self.arena.handles(&values[..count]);
                let any = self.rng.len();
                let wr_num_bytes = self.rng.pick(&[0, 3, 4, 64, 65536, 65537, any]);
                let wr_bytes = self.arena.in_ptr(&mut self.rng, wr_num_bytes);
                let any = self.rng.len();
                let rd_num_bytes = self.rng.pick(&[0, 4, 64, 65536, any]);
                let rd_bytes = self.arena.out_ptr(&mut self.rng, rd_num_bytes);
                let (rd_handles, rd_ok) = self.arena.record(&mut self.rng, 4 * 64);
                let rd_num_handles = self.rng.pick(&[0u64, 1, 64, 1000]);
                // The 48-byte argument record, in the record pages (or a bad pointer).
                let (args, args_ok) = self.arena.record(&mut self.rng, 48);
                if args_ok {
                    let fields = [
                        wr_bytes,
                        if self.rng.one_in(6) {
                            self.arena.in_ptr(&mut self.rng, 4 * count as u64)
                        } else {
                            handles
                        },
                        rd_bytes,
                        rd_handles,
                        (wr_num_bytes & 0xffff_ffff) | ((count as u64) << 32),
                        (rd_num_bytes & 0xffff_ffff) | (rd_num_handles << 32),
                    ];
                    for (i, field) in fields.iter().enumerate() {
                        // SAFETY: the record is 48 writable bytes of this thread's record
                        // pages (maybe unaligned).
                        unsafe {
                            core::ptr::write_unaligned((args as *mut u64).add(i), *field);
                        }
                    }
                }
                let (actual_bytes, _) = self.arena.record(&mut self.rng, 4);
                let (actual_handles, _) = self.arena.record(&mut self.rng, 4);
                let options = self.rng.bits(0);
                let deadline = self.rng.deadline();
                let status = self.call(
                    n,
                    [
                        h,
                        u64::from(options),
                        deadline as u64,
                        args,
                        actual_bytes,
                        actual_handles,
                        0,
                        0,
                    ],
                );
                let moved = values.map(u64::from);
                self.recheck(&moved[..count]);
                self.recheck(&[h]);
                // A reply's handles (only a concurrent thread of the fuzzer answers, with
                // the request it read) may sit anywhere in the reply array.
                if status == sys::ZX_OK && rd_ok {
                    for i in 0..64u64 {
                        let handle = self.arena.get_u32(rd_handles + 4 * i);
                        if let Some(kind) = kind_of(handle) {
                            if self.pool.kind(handle).is_none()
                                && !self.pool.protected.contains(&handle)
                            {
                                self.pool.add(handle, kind);
                            }
                        }
                    }
                }
            }
            Syscall::ChannelRead => {
                let h = self.h(Kind::Channel);
                let options = self.rng.bits(1);
                let any = self.rng.len();
                let num_bytes = self.rng.pick(&[0, 64, 65536, any]);
                let any = self.rng.len();
                let num_handles = self.rng.pick(&[0, 1, 64, any]);
                let bytes = self.arena.out_ptr(&mut self.rng, num_bytes);
                let (handles, handles_ok) = self.arena.record(&mut self.rng, 4 * 64);
                let (actual_bytes, _) = self.arena.record(&mut self.rng, 4);
                let (actual_handles, count_ok) = self.arena.record(&mut self.rng, 4);
                let status = self.call(
                    n,
                    [
                        h,
                        u64::from(options),
                        bytes,
                        handles,
                        num_bytes,
                        num_handles,
                        actual_bytes,
                        actual_handles,
                    ],
                );
                if status == sys::ZX_OK && handles_ok && count_ok {
                    let count = self.arena.get_u32(actual_handles).min(64);
                    for i in 0..count {
                        let handle = self.arena.get_u32(handles + 4 * u64::from(i));
                        if let Some(kind) = kind_of(handle) {
                            if self.pool.kind(handle).is_none() {
                                self.pool.add(handle, kind);
                            }
                        }
                    }
                } else if status == sys::ZX_OK && num_handles > 0 {
                    // Handles may have arrived where the fuzzer cannot find them again:
                    // look at every value the array could hold.
                    if handles_ok {
                        for i in 0..64u64 {
                            let handle = self.arena.get_u32(handles + 4 * i);
                            if let Some(kind) = kind_of(handle) {
                                if self.pool.kind(handle).is_none()
                                    && !self.pool.protected.contains(&handle)
                                {
                                    self.pool.add(handle, kind);
                                }
                            }
                        }
                    }
                }
                self.recheck(&[h]);
            }
            Syscall::DebugWrite => {
                if !self.rng.one_in(4) {
                    return;
                }
                let (buffer, len) = if self.rng.one_in(3) {
                    (TEXT.as_ptr() as u64, TEXT.len() as u64)
                } else {
                    // Never valid memory: the console stays readable.
                    let len = self.rng.len();
                    let bad = self.rng.pick(&[
                        0u64,
                        0xffff_0000_0000_0000,
                        0x0001_0000_0000_0000,
                        self.arena.base as u64 + 9 * PAGE as u64 - 1,
                    ]);
                    (bad, len.max(1))
                };
                self.call(n, [buffer, len, 0, 0, 0, 0, 0, 0]);
            }
            Syscall::ClockGetMonotonic | Syscall::SystemGetPageSize => {
                let junk = [0u64; 8].map(|_| rng_next(&mut self.rng));
                self.call(n, junk);
            }
            Syscall::Nanosleep => {
                let deadline = self.rng.deadline() as u64;
                self.call(n, [deadline, 0, 0, 0, 0, 0, 0, 0]);
            }
            Syscall::DebugSendCommand => {
                // Never arms a refusal: on a `kdebug` boot one would meet the fuzzer's own
                // page faults too and end its process (the sweep is where refusals are
                // tested); elsewhere every command is NOT_SUPPORTED.
                const COMMANDS: [&[u8]; 6] = [
                    b"failalloc 0",
                    b"failalloc?",
                    b"failalloc -1",
                    b"failalloc 99999999999999999999999",
                    b"failalloc",
                    b"no such command",
                ];
                let resource = self.look(Kind::Process);
                let (buffer, len) = if self.rng.one_in(4) {
                    let len = self.rng.len();
                    (self.arena.in_ptr(&mut self.rng, len), len)
                } else {
                    let command = self.rng.pick(&COMMANDS);
                    (command.as_ptr() as u64, command.len() as u64)
                };
                self.call(n, [resource, buffer, len, 0, 0, 0, 0, 0]);
            }
            Syscall::TimerCreate => {
                let wild = self.rng.bits(u32::MAX);
                let options = self.rng.pick(&[0, 1, 2, 3, wild]);
                let clock = if self.rng.one_in(4) {
                    self.rng.bits(u32::MAX)
                } else {
                    sys::ZX_CLOCK_MONOTONIC
                };
                let (out, ok) = self.arena.record(&mut self.rng, 4);
                let status = self.call(
                    n,
                    [u64::from(options), u64::from(clock), out, 0, 0, 0, 0, 0],
                );
                self.take_out(status, out, ok);
            }
            Syscall::TimerSet => {
                let h = self.h(Kind::Other);
                let deadline = self.rng.deadline() as u64;
                let some = self.rng.below(2_000_000) as i64;
                let slack = self.rng.pick(&[0, -1, i64::MIN, i64::MAX, some]);
                self.call(n, [h, deadline, slack as u64, 0, 0, 0, 0, 0]);
            }
            Syscall::TimerCancel => {
                let h = self.h(Kind::Other);
                self.call(n, [h, 0, 0, 0, 0, 0, 0, 0]);
            }
            // Only buffers it can write: a bad one ends the caller's process (section 9),
            // which would end the fuzzer; a bad pointer goes only with size 0.
            Syscall::CprngDraw => {
                let want = self.rng.len();
                let (buffer, len) = self.arena.writable(&mut self.rng, want);
                let (buffer, len) = if self.rng.one_in(8) {
                    (self.arena.out_ptr(&mut self.rng, 0), 0)
                } else {
                    (buffer, len)
                };
                self.call(n, [buffer, len, 0, 0, 0, 0, 0, 0]);
            }
            Syscall::CprngAddEntropy => {
                let len = if self.rng.one_in(2) {
                    self.rng.below(300)
                } else {
                    self.rng.len()
                };
                let buffer = self.arena.in_ptr(&mut self.rng, len);
                self.call(n, [buffer, len, 0, 0, 0, 0, 0, 0]);
            }
            // Ports, events and event pairs are `Kind::Other` in the pool.
            Syscall::PortCreate | Syscall::EventCreate => {
                let options = if self.rng.one_in(4) {
                    self.rng.next() as u32
                } else {
                    self.rng.bits(1)
                };
                let (out, ok) = self.arena.record(&mut self.rng, 4);
                let status = self.call(n, [u64::from(options), out, 0, 0, 0, 0, 0, 0]);
                self.take_out(status, out, ok);
            }
            Syscall::EventpairCreate => {
                let options = self.rng.bits(1);
                let (a, ok_a) = self.arena.record(&mut self.rng, 4);
                let (b, ok_b) = self.arena.record(&mut self.rng, 4);
                let status = self.call(n, [u64::from(options), a, b, 0, 0, 0, 0, 0]);
                self.take_out(status, a, ok_a);
                self.take_out(status, b, ok_b);
            }
            Syscall::PortQueue => {
                let h = self.h(Kind::Other);
                let packet = self.arena.in_ptr(&mut self.rng, 48);
                self.call(n, [h, packet, 0, 0, 0, 0, 0, 0]);
            }
            Syscall::PortWait => {
                let h = self.h(Kind::Other);
                let deadline = self.rng.deadline() as u64;
                let packet = self.arena.out_ptr(&mut self.rng, 48);
                self.call(n, [h, deadline, packet, 0, 0, 0, 0, 0]);
            }
            Syscall::PortCancel => {
                let port = self.h(Kind::Other);
                let kind = self.any_kind();
                let source = if self.rng.one_in(2) {
                    self.h(Kind::Other)
                } else {
                    self.look(kind)
                };
                let key = self.rng.below(4);
                self.call(n, [port, source, key, 0, 0, 0, 0, 0]);
            }
            Syscall::ObjectWaitAsync => {
                let kind = self.any_kind();
                let h = if self.rng.one_in(2) {
                    self.h(Kind::Other)
                } else {
                    self.look(kind)
                };
                let port = self.h(Kind::Other);
                let key = self.rng.below(4);
                let signals = self.rng.bits(u32::MAX);
                let options = self.rng.bits(3);
                self.call(
                    n,
                    [
                        h,
                        port,
                        key,
                        u64::from(signals),
                        u64::from(options),
                        0,
                        0,
                        0,
                    ],
                );
            }
            Syscall::ObjectSignalPeer => {
                let kind = self.any_kind();
                let h = if self.rng.one_in(2) {
                    self.h(Kind::Other)
                } else {
                    self.h(kind)
                };
                let clear = self.rng.bits(u32::MAX);
                let set = self.rng.bits(u32::MAX);
                self.call(n, [h, u64::from(clear), u64::from(set), 0, 0, 0, 0, 0]);
            }
            Syscall::ObjectWaitMany => {
                // Items of three words (handle, waitfor, pending), at most 21 filled.
                let filled = self.rng.below(22) as usize;
                let mut words = [0u32; 63];
                for item in words.chunks_exact_mut(3).take(filled) {
                    let kind = if self.rng.one_in(2) {
                        Kind::Other
                    } else {
                        self.any_kind()
                    };
                    item[0] = self.look(kind) as u32;
                    item[1] = self.rng.bits(u32::MAX);
                }
                let written = !self.rng.one_in(5);
                let items = if written {
                    self.arena.handles(&words[..3 * filled])
                } else {
                    self.arena.in_ptr(&mut self.rng, 12 * filled as u64)
                };
                let count = match self.rng.below(8) {
                    0 => self.rng.len(),
                    1 => 64 + self.rng.below(3),
                    _ => filled as u64,
                };
                let deadline = self.rng.deadline() as u64;
                self.call(n, [items, count, deadline, 0, 0, 0, 0, 0]);
                if written {
                    // The items may name protected handles (`look`): wiped, so that a later
                    // handle-consuming call (channel_write, channel_call) whose handle array is
                    // a random pointer into these buffers cannot close this program's own
                    // process, job or boot archive handle.
                    self.arena.handles(&[0u32; 63][..3 * filled]);
                }
            }
            Syscall::JobCreate => {
                // Its own job (protected: only created in) or a pool job; any handle at times.
                let parent = if self.rng.one_in(3) {
                    u64::from(zx::startup::job_default())
                } else {
                    self.look(Kind::Job)
                };
                let any = self.rng.next();
                let options = self.rng.pick(&[0u64, 0, 0, 1, any & 0xffff_ffff]);
                let (out, ok) = self.arena.record(&mut self.rng, 4);
                let status = self.call(n, [parent, options, out, 0, 0, 0, 0, 0]);
                self.take_out(status, out, ok);
            }
            Syscall::ObjectGetChild => {
                // Pool handles only: a child of this program's own job could be this process.
                // Jobs and processes (their threads), a VMO for the wrong type. (A stall seen
                // once with processes here was the host's load on a kcheck boot: it passes
                // on a quiet host, seeds 11 and 23.)
                let kind = self.rng.pick(&[Kind::Job, Kind::Process, Kind::Vmo]);
                let h = self.h(kind);
                let koid = self.child_koid(h);
                let any = self.rng.next() as u32;
                let rights = self.rng.pick(&[
                    sys::ZX_RIGHT_SAME_RIGHTS,
                    sys::ZX_RIGHT_SAME_RIGHTS,
                    sys::ZX_RIGHT_WAIT | sys::ZX_RIGHT_INSPECT,
                    0,
                    ALL_RIGHTS,
                    any,
                ]);
                let (out, ok) = self.arena.record(&mut self.rng, 4);
                let status = self.call(n, [h, koid, u64::from(rights), out, 0, 0, 0, 0]);
                self.take_out(status, out, ok);
            }
            // Ending this thread or process is the caller's decision, not a draw.
            Syscall::ProcessExit | Syscall::ThreadExit => {}
            Syscall::FutexWait => {
                let (ptr, value) = self.futex();
                let owner = self.futex_owner();
                let deadline = self.rng.deadline() as u64;
                self.call(n, [ptr, value, owner, deadline, 0, 0, 0, 0]);
            }
            Syscall::FutexWake => {
                let (ptr, _) = self.futex();
                let count = self.futex_count();
                self.call(n, [ptr, count, 0, 0, 0, 0, 0, 0]);
            }
            Syscall::FutexRequeue => {
                let (ptr, value) = self.futex();
                let (to, _) = self.futex();
                let wake = self.futex_count();
                let count = self.futex_count();
                let owner = self.futex_owner();
                self.call(n, [ptr, wake, value, to, count, owner, 0, 0]);
            }
        }
    }

    /// A futex pointer and a value to compare: mostly one of the fuzzer's shared futex
    /// words (whose value it passes half the time, so waits do block until their short
    /// deadline or another fuzzing thread's wake), else a pointer from the arena that may be
    /// NULL, unaligned, unmapped or a kernel address, with any value.
    fn futex(&mut self) -> (u64, u64) {
        if self.rng.below(4) < 3 {
            let word = &FUTEXES[self.rng.below(FUTEXES.len() as u64) as usize];
            if self.rng.one_in(8) {
                word.fetch_add(1, Ordering::Relaxed);
            }
            let value = if self.rng.one_in(2) {
                word.load(Ordering::Relaxed) as u32
            } else {
                self.rng.next() as u32
            };
            return (word.as_ptr() as u64, u64::from(value));
        }
        let ptr = self.arena.in_ptr(&mut self.rng, 4);
        (ptr, self.rng.next() & 0xffff_ffff)
    }

    /// A futex owner: none, a thread, or any other handle.
    fn futex_owner(&mut self) -> u64 {
        match self.rng.below(3) {
            0 => 0,
            1 => self.look(Kind::Thread),
            _ => {
                let kind = self.any_kind();
                self.look(kind)
            }
        }
    }

    /// A wake or requeue count, near both ends of `u32` too.
    fn futex_count(&mut self) -> u64 {
        u64::from(
            self.rng
                .pick(&[0u32, 1, 2, 0x7fff_ffff, 0x8000_0000, u32::MAX - 1, u32::MAX]),
        )
    }

    /// An entry point or stack for a new thread: for this process only an entry that exits
    /// at once or one the kernel must refuse (outside the user half); a child process may
    /// start threads anywhere.
    fn entry(&mut self) -> u64 {
        match self.rng.below(5) {
            0 => fuzz_thread_exit as *const () as u64,
            1 => 0xffff_0000_0000_0000 | (self.rng.next() & 0xffff_ffff_f000),
            2 => 0x0001_0000_0000_0000 | self.rng.next(),
            3 => u64::MAX - self.rng.below(PAGE as u64),
            _ if self.reckless => self.rng.next() & 0x0000_ffff_ffff_fffc,
            _ => fuzz_thread_exit as *const () as u64,
        }
    }

    /// Reads or writes a random address of a VMAR this child made (only in a child: the
    /// fault that may follow ends it).
    /// Makes a VMO of 1 to 64 MiB and commits it whole: on a small machine the kernel runs
    /// out of pages, and every call after meets that until the VMO goes. (Rare: a commit of
    /// 64 MiB costs as much as thousands of other calls.)
    fn hog(&mut self) {
        let size = 1u64 << (20 + self.rng.below(7));
        let mut vmo = 0u32;
        // SAFETY: out pointer to a local.
        if unsafe { sys::zx_vmo_create(size, 0, &mut vmo) } != sys::ZX_OK {
            return;
        }
        self.pool.add(vmo, Kind::Vmo);
        let commit = sys::ZX_VMO_OP_COMMIT;
        self.call(
            Syscall::VmoOpRange as u64,
            [u64::from(vmo), u64::from(commit), 0, size, 0, 0, 0, 0],
        );
    }

    fn touch(&mut self) {
        let (_, base, len) = self.vmar();
        let addr = base + (self.rng.below(len.max(1) as u64) as usize & !7);
        if addr < self.playground.1 || addr >= self.playground.1 + self.playground.2 {
            return;
        }
        if self.rng.one_in(2) {
            // SAFETY: inside the playground, where only the fuzzer's own mappings live; a
            // fault ends this child process, which its parent expects.
            unsafe { core::ptr::read_volatile(addr as *const u64) };
        } else {
            // SAFETY: as above.
            unsafe { core::ptr::write_volatile(addr as *mut u64, self.rng.next()) };
        }
    }
}

fn rng_next(rng: &mut Rng) -> u64 {
    rng.next()
}

fn syscall(number: u64) -> Option<Syscall> {
    Syscall::from_number(number)
}

/// A call broke the contract in a way the fuzzer can see: counted as a failure and printed
/// with the call.
pub fn report(fuzzer: &Fuzzer, what: &str) {
    crate::FAILURES.fetch_add(1, Ordering::Relaxed);
    let row = &LAST_CALL[fuzzer.slot];
    zx::println!(
        "fuzz: FAILED: call {} (#{}): {what}; args {:#x} {:#x} {:#x} {:#x} {:#x} {:#x} {:#x} {:#x}",
        row[0].load(Ordering::Relaxed),
        fuzzer.calls,
        row[1].load(Ordering::Relaxed),
        row[2].load(Ordering::Relaxed),
        row[3].load(Ordering::Relaxed),
        row[4].load(Ordering::Relaxed),
        row[5].load(Ordering::Relaxed),
        row[6].load(Ordering::Relaxed),
        row[7].load(Ordering::Relaxed),
        row[8].load(Ordering::Relaxed),
    );
}
