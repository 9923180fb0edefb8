//! Exception entry from the vectors in `asm/vectors.S`: the trap frame, dispatch to the
//! kernel's handlers, recovery through the fixup table, and fatal reports.

use crate::esr::Esr;
use core::fmt;
use core::ptr;
use core::sync::atomic::{AtomicPtr, Ordering};

core::arch::global_asm!(concat!(
    include_str!("asm/vectors.S"),
    include_str!("asm/user.S"),
    include_str!("asm/mem.S")
));

/// Integer state saved on exception entry, in the order `vectors.S` stores it.
#[repr(C)]
#[derive(Clone, Debug, Default)]
pub struct TrapFrame {
    pub x: [u64; 31],
    pub sp_el0: u64,
    pub elr: u64,
    pub spsr: u64,
    pub esr: u64,
    pub far: u64,
}

const _: () = assert!(core::mem::size_of::<TrapFrame>() == 288);

/// Where the exception came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// EL1 while using SP_EL0 (the kernel never runs like this).
    KernelSp0,
    Kernel,
    User,
    UserAarch32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Type {
    Synchronous,
    Irq,
    Fiq,
    SError,
}

/// The kernel's handlers, in one table the kernel installs at boot ([`install_handlers`]).
/// Plain function pointers, read through one atomic pointer, so the vectors never take a
/// lock.
#[derive(Clone, Copy)]
pub struct Handlers {
    /// An IRQ arrived (from the kernel or from user mode).
    pub irq: fn(&mut TrapFrame),
    /// After an IRQ's handler, before returning to the interrupted context (`from_user`).
    pub irq_exit: fn(from_user: bool),
    /// A synchronous exception from EL0 (system call, fault, undefined instruction...).
    pub user_sync: fn(&mut TrapFrame),
    /// The kernel faulted on user address `far` inside a copy routine: serve it like a user
    /// fault (commit the page) and say whether the access can be retried.
    pub user_access_fault: fn(far: u64, write: bool) -> bool,
    /// A synchronous exception from EL1 that no fixup covers; returns whether it was handled.
    /// None: every such exception is fatal.
    pub kernel_sync: Option<fn(&mut TrapFrame) -> bool>,
    /// Called after a fatal exception has been reported; never returns.
    pub fatal: fn() -> !,
}

/// The installed table: null until [`install_handlers`], then always a `&'static Handlers`.
static HANDLERS: AtomicPtr<Handlers> = AtomicPtr::new(ptr::null_mut());

/// First address above the user half.
const USER_END: u64 = 1 << 48;

/// Makes `handlers` the table every exception is dispatched through, on every CPU.
pub fn install_handlers(handlers: &'static Handlers) {
    HANDLERS.store(ptr::from_ref(handlers).cast_mut(), Ordering::Release);
}

/// Runs `f` with `handlers` in place of the installed table, then puts that one back: tests
/// catch their own exceptions this way. Every CPU dispatches through `handlers` meanwhile,
/// so it should differ from the installed table only in what the test looks for.
pub fn with_handlers<R>(handlers: &'static Handlers, f: impl FnOnce() -> R) -> R {
    let previous = HANDLERS.swap(ptr::from_ref(handlers).cast_mut(), Ordering::AcqRel);
    let result = f();
    HANDLERS.store(previous, Ordering::Release);
    result
}

/// The installed table, if the kernel has installed one yet.
#[inline]
fn handlers() -> Option<&'static Handlers> {
    // SAFETY: HANDLERS only ever holds null or a pointer made from a `&'static Handlers`
    // (`install_handlers`, `with_handlers`), which nothing writes through; the Acquire load
    // pairs with the Release store that published it, so its fields are seen initialised.
    unsafe { HANDLERS.load(Ordering::Acquire).as_ref() }
}

fn fatal_stop() -> ! {
    if let Some(handlers) = handlers() {
        (handlers.fatal)();
    }
    crate::cpu::halt()
}

#[repr(C)]
struct FixupEntry {
    instruction: usize,
    resume_at: usize,
}

extern "C" {
    static __fixup_start: FixupEntry;
    static __fixup_end: FixupEntry;
}

fn fixup_for(pc: u64) -> Option<usize> {
    // SAFETY: the linker script places the `__fixup` entries, which vectors.S emits as pairs
    // of 8-byte words, between these two symbols.
    let table = unsafe {
        let start = &raw const __fixup_start;
        let end = &raw const __fixup_end;
        let count = (end as usize - start as usize) / core::mem::size_of::<FixupEntry>();
        core::slice::from_raw_parts(start, count)
    };
    table
        .iter()
        .find(|entry| entry.instruction as u64 == pc)
        .map(|entry| entry.resume_at)
}

/// Whether a data abort from EL1 is a privileged access to user memory refused by PAN: a
/// permission fault taken with PSTATE.PAN set, from an instruction other than the
/// unprivileged loads and stores (`ldtr`/`sttr` and their sizes), which PAN does not check.
fn is_pan_violation(frame: &TrapFrame, esr: Esr) -> bool {
    const SPSR_PAN: u64 = 1 << 22;
    // Load/store register (unprivileged): size 111 0 00 opc 0 imm9 10 Rn Rt.
    const UNPRIVILEGED_MASK: u32 = 0x3f20_0c00;
    const UNPRIVILEGED: u32 = 0x3800_0800;
    if frame.spsr & SPSR_PAN == 0
        || !matches!(esr.fault(), Some(crate::esr::FaultKind::Permission(_)))
    {
        return false;
    }
    // SAFETY: `elr` is the kernel instruction that faulted, found in the fixup table, so it
    // lies in kernel text, which is mapped and readable.
    let instruction = unsafe { (frame.elr as *const u32).read() };
    instruction & UNPRIVILEGED_MASK != UNPRIVILEGED
}

#[no_mangle]
extern "C" fn arch_exception(frame: &mut TrapFrame, kind: u64) {
    let source = match kind >> 2 {
        0 => Source::KernelSp0,
        1 => Source::Kernel,
        2 => Source::User,
        _ => Source::UserAarch32,
    };
    let ty = match kind & 3 {
        0 => Type::Synchronous,
        1 => Type::Irq,
        2 => Type::Fiq,
        _ => Type::SError,
    };
    let handlers = handlers();
    match (source, ty) {
        (_, Type::Irq) => match handlers {
            Some(handlers) => {
                (handlers.irq)(frame);
                (handlers.irq_exit)(matches!(source, Source::User | Source::UserAarch32));
            }
            None => fatal(
                frame,
                source,
                ty,
                "IRQ before the interrupt controller was set up",
            ),
        },
        (Source::User | Source::UserAarch32, Type::Synchronous) => match handlers {
            Some(handlers) => (handlers.user_sync)(frame),
            None => fatal(frame, source, ty, "exception from EL0 with no handler"),
        },
        (Source::Kernel, Type::Synchronous) => {
            if let Some(resume_at) = fixup_for(frame.elr) {
                let esr = Esr(frame.esr);
                // A copy routine touched a user page not mapped yet: serve it and retry. A
                // PAN violation is never served: the page may well be mapped, and retrying
                // would fault again for ever.
                if esr.is_data_abort() && frame.far < USER_END && !is_pan_violation(frame, esr) {
                    if let Some(handlers) = handlers {
                        if (handlers.user_access_fault)(frame.far, esr.is_write()) {
                            return;
                        }
                    }
                }
                frame.elr = resume_at as u64;
                frame.x[0] = frame.esr;
                return;
            }
            if let Some(handler) = handlers.and_then(|handlers| handlers.kernel_sync) {
                if handler(frame) {
                    return;
                }
            }
            fatal(
                frame,
                source,
                ty,
                "unexpected synchronous exception in the kernel",
            )
        }
        (_, Type::SError) => fatal(frame, source, ty, "SError (asynchronous external abort)"),
        _ => fatal(frame, source, ty, "unexpected exception"),
    }
}

/// Reports an exception the kernel cannot continue from, then stops.
fn fatal(frame: &TrapFrame, source: Source, ty: Type, what: &str) -> ! {
    log::error!(
        "FATAL: {what}: {ty:?} from {source:?}\n  ESR {}\n  FAR {:#018x}  ELR {:#018x}  SPSR {:#010x}\n{}",
        Esr(frame.esr),
        frame.far,
        frame.elr,
        frame.spsr,
        Registers(frame)
    );
    fatal_stop()
}

struct Registers<'a>(&'a TrapFrame);

impl fmt::Display for Registers<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, value) in self.0.x.iter().enumerate() {
            write!(f, "  x{i:<2} {value:#018x}")?;
            if i % 4 == 3 {
                f.write_str("\n")?;
            }
        }
        write!(f, "  sp_el0 {:#018x}", self.0.sp_el0)
    }
}

#[no_mangle]
extern "C" fn arch_kernel_stack_overflow(esr: u64, far: u64, elr: u64) -> ! {
    log::error!(
        "FATAL: kernel stack overflow into the guard page\n  ESR {}\n  FAR {far:#018x}  ELR {elr:#018x}",
        Esr(esr)
    );
    fatal_stop()
}

extern "C" {
    fn arch_probe_read_u64(addr: usize, out: *mut u64) -> u64;
    fn arch_probe_write_u64(addr: usize, value: u64) -> u64;
}

/// ESR_EL1 of the exception being handled (valid inside a handler, before anything else can
/// fault).
pub fn current_esr() -> u64 {
    let esr: u64;
    // SAFETY: reading a system register has no side effects.
    unsafe { core::arch::asm!("mrs {}, esr_el1", out(reg) esr, options(nomem, nostack)) };
    esr
}

/// Reads a word at `addr`, recovering if the access faults; the error is the fault's ESR.
pub fn probe_read(addr: usize) -> Result<u64, Esr> {
    let mut value = 0;
    // SAFETY: the load in `arch_probe_read_u64` is covered by the fixup table, so a fault
    // returns an error instead of stopping the kernel; a successful load only reads.
    match unsafe { arch_probe_read_u64(addr, &mut value) } {
        0 => Ok(value),
        esr => Err(Esr(esr)),
    }
}

/// Writes a word at `addr`, recovering if the access faults.
///
/// # Safety
/// If the write succeeds it changes memory: `addr` must not hold anything that matters.
pub unsafe fn probe_write(addr: usize, value: u64) -> Result<(), Esr> {
    // SAFETY: a fault is recovered through the fixup table; the caller vouches for the store.
    match unsafe { arch_probe_write_u64(addr, value) } {
        0 => Ok(()),
        esr => Err(Esr(esr)),
    }
}
