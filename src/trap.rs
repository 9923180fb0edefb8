//! What the kernel does with exceptions from user mode other than system calls (which enter
//! at `syscall::kernel_syscall`): page faults (served by the process's VMARs), and
//! everything else, which ends the faulting process with one console line.

use crate::task;
use arch::esr::{Esr, FaultKind};
use arch::exception::TrapFrame;

/// The page-fault entry: the vectors' path for a data or instruction abort from EL0 calls it
/// with the frame `syscall::kernel_syscall` gets, plus ESR and FAR.
// Named by the vector assembly: the symbol must be unmangled and unique (it is).
#[allow(unsafe_code)]
#[no_mangle]
extern "C" fn kernel_user_fault(frame: &mut TrapFrame) {
    user_sync(frame);
}

pub fn user_sync(frame: &mut TrapFrame) {
    // The kill is decided (and reported) in a function of its own, so that nothing it held -
    // the process above all - is alive here when `kill_current_process`, which never returns,
    // abandons this frame.
    // A thread killed while it ran on another CPU faults once its process's tables are gone
    // (or was about to enter anyway): it leaves, with no report.
    if !task::current_is_dead() && must_kill(frame) {
        task::kill_current_process(abi::ZX_TASK_RETCODE_EXCEPTION_KILL);
    }
    task::leave_if_dead();
}

/// Serves what can be served (a system call, a fault a VMAR resolves); for anything else
/// prints the one console line and returns true: the process must end.
fn must_kill(frame: &mut TrapFrame) -> bool {
    let esr = Esr(frame.esr);
    match esr.class() {
        // Not reached: the vectors send system calls to `kernel_syscall`.
        0x15 => {
            crate::syscall::dispatch(frame);
            false
        }
        0x20 | 0x24 if servable(esr) => {
            let execute = esr.class() == 0x20;
            let write = esr.is_write();
            // Borrowed, not counted: the common case (the fault is served) takes no lock or
            // reference count besides the VMAR's and the VMO's.
            let served = task::with_current_process(|process| {
                process
                    .root_vmar()
                    .handle_fault(frame.far as usize, write, execute)
            });
            let Some(Err(status)) = served else {
                return false;
            };
            let access = if execute {
                "execute"
            } else if write {
                "write"
            } else {
                "read"
            };
            report(format_args!(
                "fault at {:#x} ({access}, {}: {status:?}) pc {:#x}",
                frame.far,
                esr.class_name(),
                frame.elr
            ))
        }
        _ => report(format_args!(
            "{} at pc {:#x} (ESR {esr})",
            esr.class_name(),
            frame.elr
        )),
    }
}

/// Whether an abort is one a VMAR can resolve (a missing or read-only page). Alignment
/// faults, external aborts and the like are not: retrying them would loop for ever.
fn servable(esr: Esr) -> bool {
    matches!(
        esr.fault(),
        Some(FaultKind::Translation(_) | FaultKind::Permission(_) | FaultKind::AccessFlag(_))
    )
}

/// Prints why the current process is being killed; false if there is none.
fn report(what: core::fmt::Arguments<'_>) -> bool {
    let Some(process) = task::current_process() else {
        return false;
    };
    // Killed meanwhile (by another thread, maybe on another CPU, which tore the address
    // space down under this fault): it ends anyway, and nothing is wrong with it.
    if process.has_exited() {
        return true;
    }
    let name = process.name();
    let len = name.iter().position(|&b| b == 0).unwrap_or(name.len());
    let name = core::str::from_utf8(&name[..len]).unwrap_or("?");
    log::warn!("process {name}: {what}; killed");
    true
}

/// A copy routine faulted on a user page: serve it through the current process's VMARs.
pub fn user_access_fault(far: u64, write: bool) -> bool {
    if !servable(Esr(arch::exception::current_esr())) {
        return false;
    }
    crate::usercopy::serve_user_fault(far as usize, write)
}

/// After an IRQ: the tick may switch threads, but only when the CPU was in user mode. An IRQ
/// taken in the kernel (idle loop, preemption point) returns where it came from, which
/// switches by itself if it should.
///
/// Every interrupt's way out is also where expired timers are signaled
/// ([`task::fire_timers`]): the handler has ended and released its locks, and the CPU took
/// the interrupt where it held none.
pub fn irq_exit(from_user: bool) {
    task::fire_timers();
    if from_user {
        if task::should_preempt() {
            task::schedule();
        }
        task::leave_if_dead();
    }
}
