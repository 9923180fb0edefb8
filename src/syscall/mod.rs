//! The system-call layer: `svc #0` from EL0 lands in [`kernel_syscall`] and [`dispatch`],
//! which decodes the call in `x16` and its arguments in `x0`..`x7`, runs it against the
//! current process and writes the result back to `x0`; then the work the call left for
//! later is done before it returns to user mode.
//!
//! Rules every call follows (the contract is `shared/spec/zx-abi.md`):
//! - handles are looked up first, in the order BAD_HANDLE, WRONG_TYPE, ACCESS_DENIED
//!   (`HandleTable::get_object`), then the arguments are checked, then the work is done;
//! - user memory is touched only through the types of `crate::usercopy` (`UserSlice`,
//!   `UserIn`, `UserOut`), made from the argument registers in [`dispatch`]'s table and
//!   checked when used, never while a VMO, VMAR or
//!   handle-table lock is held or one of their calls is in progress (a fault during the copy
//!   needs those locks): data goes through small kernel buffers on the stack, or, for VMO
//!   reads and writes, straight between the VMO's frames and the probed user buffer with the
//!   VMO's lock released (`Vmo::read_unlocked`/`write_unlocked`);
//! - a call that fails changes nothing: a new handle is published to user space by
//!   [`publish`], which takes it out of the table again if the final write faults;
//! - 32-bit arguments (handles, options, rights, signals) are the low half of their
//!   register, as the AAPCS64 leaves the upper half unspecified.
//!
//! One file per area: `handle` (close, duplicate, replace), `objects` (properties, info,
//! waiting, signals), `vmo`, `vmar` (with the VMAR kernel object), `channel`, `task`
//! (processes and threads), `futex` and `misc` (console, clock, sleep).

mod channel;
mod futex;
mod handle;
mod misc;
mod objects;
mod ports;
mod socket;
mod task;
mod timer;
mod vmar;
// The VMO transfers copy between frames (through the linear map) and probed user memory.
#[allow(unsafe_code)]
mod vmo;

#[cfg(feature = "crash-hooks")]
pub use misc::panic_in_debug_write;

use crate::usercopy::{In, Out, UserOut, UserSlice, UserValue};
use abi::{zx_handle_t, Syscall};
use arch::exception::TrapFrame;
use object::handle::{Handle, HandleTable};
use object::{Rights, Signals, Status, ZxResult};

/// The argument registers of one call (the frame's x0-x7), with typed accessors.
struct Args<'a>(&'a [u64; 31]);

impl Args<'_> {
    fn handle(&self, index: usize) -> zx_handle_t {
        self.0[index] as u32
    }

    fn u32(&self, index: usize) -> u32 {
        self.0[index] as u32
    }

    fn u64(&self, index: usize) -> u64 {
        self.0[index]
    }

    fn i64(&self, index: usize) -> i64 {
        self.0[index] as i64
    }

    /// A size or a user address.
    fn usize(&self, index: usize) -> usize {
        self.0[index] as usize
    }

    fn rights(&self, index: usize) -> Rights {
        Rights::from_bits(self.u32(index))
    }

    fn signals(&self, index: usize) -> Signals {
        Signals::from_bits(self.u32(index))
    }

    /// Where the call writes a `T`: the pointer in register `index`.
    fn out<T: UserValue>(&self, index: usize) -> UserOut<T> {
        UserOut::new(self.usize(index))
    }

    /// `len` bytes the call reads, at the pointer in register `index`.
    fn bytes_in(&self, index: usize, len: usize) -> UserSlice<In> {
        UserSlice::new(self.usize(index), len)
    }

    /// `len` bytes the call writes, at the pointer in register `index`.
    fn bytes_out(&self, index: usize, len: usize) -> UserSlice<Out> {
        UserSlice::new(self.usize(index), len)
    }
}

/// A status as `x0` carries it: the `i32` sign-extended to 64 bits.
fn status_word(status: Status) -> u64 {
    i64::from(status.into_raw()) as u64
}

/// The system-call entry: the vectors' path for `svc #0` from EL0 calls it with a frame that
/// holds x0-x18, x30, SP_EL0, ELR and SPSR (see `syscall_entry` in arch's vectors.S).
// Named by the vector assembly: the symbol must be unmangled and unique (it is).
#[allow(unsafe_code)]
#[no_mangle]
extern "C" fn kernel_syscall(frame: &mut TrapFrame) {
    // A thread killed while it ran on another CPU makes no more calls: it leaves here.
    crate::task::leave_if_dead();
    dispatch(frame);
    // What this call's dying objects left for later (address spaces, pages of large VMOs,
    // queues of dead channel endpoints, VMO families' work, page tables), done here where no
    // lock is held and the thread may be preempted between chunks. Not by a killed thread:
    // it could not be preempted (it leaves at the next switch); the idle loop does it instead.
    if crate::task::take_left_work() && !crate::task::current_is_dead() {
        finish_deferred_work();
    }
    crate::task::leave_if_dead();
}

/// Out of line: the way out of every system call tests one flag, and only this seldom path
/// makes calls. The kernel's invariant checks (`kcheck`) run here too.
#[inline(never)]
fn finish_deferred_work() {
    object::free_deferred();
    // Last: the teardowns above release page tables.
    crate::aspace::free_dead_tables();
    // `kcheck` keeps this path taken after every call.
    if crate::kcheck::enabled() {
        crate::kcheck::after_syscall();
    }
}

/// One call: reads its arguments and returns the word for `x0`.
type Handler = fn(&Args<'_>) -> u64;

/// The system-call entry: `x16` = number, `x0..x7` = arguments; the result goes to `x0`.
/// One bounds-checked load and an indirect call reach the handler. Never panics on any
/// argument value.
pub fn dispatch(frame: &mut TrapFrame) {
    let handler = usize::try_from(frame.x[16])
        .ok()
        .and_then(|number| HANDLERS.get(number))
        .copied()
        .unwrap_or(bad_syscall);
    frame.x[0] = handler(&Args(&frame.x));
}

fn bad_syscall(_: &Args<'_>) -> u64 {
    status_word(Status::BAD_SYSCALL)
}

/// Runs a call that returns a plain status against the current process's handle table.
#[inline(always)]
fn on_table(call: impl FnOnce(&HandleTable) -> ZxResult) -> u64 {
    let result = crate::task::with_current_process(|process| call(process.handles()))
        .unwrap_or(Err(Status::BAD_STATE));
    status_word(Status::from_result(result))
}

/// The handlers, indexed by system-call number.
static HANDLERS: [Handler; Syscall::COUNT] = {
    let mut table = [bad_syscall as Handler; Syscall::COUNT];
    let mut number = 0;
    while number < Syscall::COUNT {
        table[number] = handler(Syscall::ALL[number]);
        number += 1;
    }
    table
};

/// The handler of each call: an exhaustive match, so a new call cannot be forgotten.
const fn handler(call: Syscall) -> Handler {
    match call {
        // The two calls that return a value instead of a status.
        Syscall::ClockGetMonotonic => |_| misc::clock_get_monotonic() as u64,
        Syscall::SystemGetPageSize => |_| u64::from(misc::system_get_page_size()),
        // The calls that do not return. Nothing may be alive on their stack frames that needs
        // dropping: the frame is abandoned.
        Syscall::ProcessExit => |a| crate::task::exit_process(a.i64(0)),
        Syscall::ThreadExit => |_| crate::task::exit_thread(),
        Syscall::TaskKill => |a| match task::task_kill(a.handle(0)) {
            // The caller killed itself (its thread or its process): every reference the call
            // took is dropped by now, so the thread can leave for good.
            Ok(task::Killed::Caller) => crate::task::exit_thread(),
            Ok(task::Killed::Other) => status_word(Status::OK),
            Err(status) => status_word(status),
        },
        Syscall::HandleClose => |a| on_table(|table| handle::close(table, a.handle(0))),
        Syscall::HandleCloseMany => {
            |a| on_table(|table| handle::close_many(table, a.usize(0), a.usize(1)))
        }
        Syscall::HandleDuplicate => {
            |a| on_table(|table| handle::duplicate(table, a.handle(0), a.rights(1), a.out(2)))
        }
        Syscall::HandleReplace => {
            |a| on_table(|table| handle::replace(table, a.handle(0), a.rights(1), a.out(2)))
        }
        Syscall::ObjectGetProperty => |a| {
            on_table(|table| {
                objects::get_property(table, a.handle(0), a.u32(1), a.bytes_out(2, a.usize(3)))
            })
        },
        Syscall::ObjectSetProperty => |a| {
            on_table(|table| {
                objects::set_property(table, a.handle(0), a.u32(1), a.bytes_in(2, a.usize(3)))
            })
        },
        Syscall::ObjectGetInfo => |a| {
            on_table(|table| {
                objects::get_info(
                    table,
                    a.handle(0),
                    a.u32(1),
                    objects::InfoOut {
                        buffer: a.bytes_out(2, a.usize(3)),
                        actual: a.out(4),
                        avail: a.out(5),
                    },
                )
            })
        },
        Syscall::ObjectWaitOne => |a| {
            on_table(|table| {
                objects::wait_one(table, a.handle(0), a.signals(1), a.i64(2), a.out(3))
            })
        },
        Syscall::ObjectSignal => {
            |a| on_table(|table| objects::signal(table, a.handle(0), a.signals(1), a.signals(2)))
        }
        Syscall::VmoCreate => {
            |a| on_table(|table| vmo::create(table, a.u64(0), a.u32(1), a.out(2)))
        }
        Syscall::VmoRead => |a| {
            on_table(|table| vmo::read(table, a.handle(0), a.bytes_out(1, a.usize(3)), a.u64(2)))
        },
        Syscall::VmoWrite => |a| {
            on_table(|table| vmo::write(table, a.handle(0), a.bytes_in(1, a.usize(3)), a.u64(2)))
        },
        Syscall::VmoGetSize => |a| on_table(|table| vmo::get_size(table, a.handle(0), a.out(1))),
        Syscall::VmoSetSize => |a| on_table(|table| vmo::set_size(table, a.handle(0), a.u64(1))),
        Syscall::VmoClone => |a| {
            on_table(|table| vmo::clone(table, a.handle(0), a.u32(1), a.u64(2), a.u64(3), a.out(4)))
        },
        Syscall::VmoCreateChild => |a| {
            on_table(|table| {
                vmo::create_child(table, a.handle(0), a.u32(1), a.u64(2), a.u64(3), a.out(4))
            })
        },
        Syscall::VmoOpRange => {
            |a| on_table(|table| vmo::op_range(table, a.handle(0), a.u32(1), a.u64(2), a.u64(3)))
        }
        Syscall::VmarMap => |a| {
            on_table(|table| {
                vmar::map(
                    table,
                    a.handle(0),
                    a.u32(1),
                    a.usize(2),
                    a.handle(3),
                    a.u64(4),
                    a.usize(5),
                    a.out(6),
                )
            })
        },
        Syscall::VmarUnmap => {
            |a| on_table(|table| vmar::unmap(table, a.handle(0), a.usize(1), a.usize(2)))
        }
        Syscall::VmarProtect => |a| {
            on_table(|table| vmar::protect(table, a.handle(0), a.u32(1), a.usize(2), a.usize(3)))
        },
        Syscall::VmarAllocate => |a| {
            on_table(|table| {
                vmar::allocate(
                    table,
                    a.handle(0),
                    a.u32(1),
                    a.usize(2),
                    a.usize(3),
                    a.out(4),
                    a.out(5),
                )
            })
        },
        Syscall::VmarDestroy => |a| on_table(|table| vmar::destroy(table, a.handle(0))),
        Syscall::ProcessCreate => |a| {
            on_table(|table| {
                task::process_create(
                    table,
                    a.handle(0),
                    a.bytes_in(1, a.usize(2)),
                    a.u32(3),
                    a.out(4),
                    a.out(5),
                )
            })
        },
        Syscall::ProcessStart => |a| {
            on_table(|table| {
                task::process_start(
                    table,
                    a.handle(0),
                    a.handle(1),
                    a.usize(2),
                    a.usize(3),
                    a.handle(4),
                    a.u64(5),
                )
            })
        },
        Syscall::ThreadCreate => |a| {
            on_table(|table| {
                task::thread_create(
                    table,
                    a.handle(0),
                    a.bytes_in(1, a.usize(2)),
                    a.u32(3),
                    a.out(4),
                )
            })
        },
        Syscall::ThreadStart => |a| {
            on_table(|table| {
                task::thread_start(
                    table,
                    a.handle(0),
                    a.usize(1),
                    a.usize(2),
                    a.u64(3),
                    a.u64(4),
                )
            })
        },
        Syscall::ChannelCreate => {
            |a| on_table(|table| channel::create(table, a.u32(0), a.out(1), a.out(2)))
        }
        // The byte and handle counts of the channel calls are `uint32_t` in C.
        Syscall::ChannelWrite => |a| {
            on_table(|table| {
                channel::write(
                    table,
                    a.handle(0),
                    a.u32(1),
                    a.bytes_in(2, a.u32(3) as usize),
                    a.usize(4),
                    a.u32(5) as usize,
                )
            })
        },
        Syscall::ChannelRead => |a| {
            on_table(|table| {
                channel::read(
                    table,
                    a.handle(0),
                    a.u32(1),
                    channel::ReadBuffers {
                        bytes: a.bytes_out(2, a.u32(4) as usize),
                        handles: a.bytes_out(3, (a.u32(5) as usize).saturating_mul(4)),
                        num_handles: a.u32(5) as usize,
                        actual_bytes: a.out(6),
                        actual_handles: a.out(7),
                    },
                )
            })
        },
        Syscall::DebugWrite => |a| {
            status_word(Status::from_result(misc::debug_write(
                a.bytes_in(0, a.usize(1)),
            )))
        },
        // No reference to the caller's thread or process is held while it sleeps.
        Syscall::Nanosleep => |a| {
            let sleep = || misc::nanosleep(a.i64(0));
            let result = crate::task::blocked_in(object::task::Blocked::Sleeping, sleep);
            status_word(Status::from_result(result))
        },
        Syscall::DebugSendCommand => |a| {
            status_word(Status::from_result(misc::debug_send_command(
                a.u32(0),
                a.bytes_in(1, a.usize(2)),
            )))
        },

        // ---- Futexes ----
        // The futex value is an `int32_t`, the counts `uint32_t`: low halves of their registers.
        Syscall::FutexWait => |a| {
            on_table(|table| futex::wait(table, a.usize(0), a.u32(1) as i32, a.handle(2), a.i64(3)))
        },
        Syscall::FutexWake => {
            |a| status_word(Status::from_result(futex::wake(a.usize(0), a.u32(1))))
        }
        Syscall::FutexRequeue => |a| {
            on_table(|table| {
                futex::requeue(
                    table,
                    a.usize(0),
                    a.u32(1),
                    a.u32(2) as i32,
                    a.usize(3),
                    a.u32(4),
                    a.handle(5),
                )
            })
        },

        // ---- Ports and asynchronous waits ----
        Syscall::PortCreate => |a| on_table(|table| ports::port_create(table, a.u32(0), a.out(1))),
        Syscall::PortQueue => {
            |a| on_table(|table| ports::port_queue(table, a.handle(0), a.bytes_in(1, PACKET_SIZE)))
        }
        Syscall::PortWait => |a| {
            on_table(|table| {
                ports::port_wait(table, a.handle(0), a.i64(1), a.bytes_out(2, PACKET_SIZE))
            })
        },
        Syscall::PortCancel => {
            |a| on_table(|table| ports::port_cancel(table, a.handle(0), a.handle(1), a.u64(2)))
        }
        Syscall::ObjectWaitAsync => |a| {
            on_table(|table| {
                ports::wait_async(
                    table,
                    a.handle(0),
                    a.handle(1),
                    a.u64(2),
                    a.signals(3),
                    a.u32(4),
                )
            })
        },

        // ---- Events, event pairs, peers' signals ----
        Syscall::EventCreate => {
            |a| on_table(|table| ports::event_create(table, a.u32(0), a.out(1)))
        }
        Syscall::EventpairCreate => {
            |a| on_table(|table| ports::eventpair_create(table, a.u32(0), a.out(1), a.out(2)))
        }
        Syscall::ObjectSignalPeer => {
            |a| on_table(|table| ports::signal_peer(table, a.handle(0), a.signals(1), a.signals(2)))
        }

        // ---- Timers ----
        Syscall::TimerCreate => {
            |a| on_table(|table| timer::create(table, a.u32(0), a.u32(1), a.out(2)))
        }
        Syscall::TimerSet => {
            |a| on_table(|table| timer::set(table, a.handle(0), a.i64(1), a.i64(2)))
        }
        Syscall::TimerCancel => |a| on_table(|table| timer::cancel(table, a.handle(0))),

        // ---- Waiting on several objects ----
        Syscall::ObjectWaitMany => {
            |a| on_table(|table| ports::wait_many(table, a.usize(0), a.usize(1), a.i64(2)))
        }

        // ---- Sockets ----
        Syscall::SocketCreate => {
            |a| on_table(|table| socket::create(table, a.u32(0), a.out(1), a.out(2)))
        }
        Syscall::SocketWrite => |a| {
            on_table(|table| {
                socket::write(
                    table,
                    a.handle(0),
                    a.u32(1),
                    a.bytes_in(2, a.usize(3)),
                    a.usize(2),
                    a.out(4),
                )
            })
        },
        Syscall::SocketRead => |a| {
            on_table(|table| {
                socket::read(
                    table,
                    a.handle(0),
                    a.u32(1),
                    a.bytes_out(2, a.usize(3)),
                    a.usize(2),
                    a.out(4),
                )
            })
        },
        Syscall::SocketSetDisposition => {
            |a| on_table(|table| socket::set_disposition(table, a.handle(0), a.u32(1), a.u32(2)))
        }

        // ---- Jobs ----
        Syscall::JobCreate => {
            |a| on_table(|table| task::job_create(table, a.handle(0), a.u32(1), a.out(2)))
        }
        Syscall::ObjectGetChild => |a| {
            on_table(|table| task::get_child(table, a.handle(0), a.u64(1), a.rights(2), a.out(3)))
        },

        // ---- Synchronous channel calls ----
        Syscall::ChannelCall => |a| {
            on_table(|table| {
                channel::call(
                    table,
                    a.handle(0),
                    a.u32(1),
                    a.i64(2),
                    a.usize(3),
                    a.out(4),
                    a.out(5),
                )
            })
        },

        // ---- Randomness ----
        // Returns nothing: x0 is left 0.
        Syscall::CprngDraw => |a| {
            timer::cprng_draw(a.bytes_out(0, a.usize(1)));
            0
        },
        Syscall::CprngAddEntropy => |a| {
            status_word(Status::from_result(timer::cprng_add_entropy(
                a.bytes_in(0, a.usize(1)),
            )))
        },
    }
}

// ---- helpers shared by the calls --------------------------------------------------------

/// Puts `handle` in the caller's table and writes its value to `out`. If the write faults
/// the handle is taken out again and closed, so no handle leaks.
///
/// Every caller checks `out` ([`UserOut::check`]) before it makes the object, so that a bad
/// pointer costs nothing; the write can then only fail if the memory changed meanwhile.
fn publish(table: &HandleTable, handle: Handle, out: UserOut<zx_handle_t>) -> ZxResult {
    let value = table.add(handle)?;
    if let Err(status) = out.write(value) {
        drop(table.remove(value));
        return Err(status);
    }
    Ok(())
}

/// Size of a `zx_port_packet_t`.
const PACKET_SIZE: usize = <abi::zx_port_packet_t as abi::AbiStruct>::SIZE;

/// Where a new handle's value goes.
type HandleOut = UserOut<zx_handle_t>;

/// [`publish`] for two handles created together: both appear or neither does.
fn publish_pair(
    table: &HandleTable,
    first: (Handle, HandleOut),
    second: (Handle, HandleOut),
) -> ZxResult {
    let (handle0, out0) = first;
    let (handle1, out1) = second;
    // Both pointers before either handle: a bad second pointer must leave the first unwritten.
    out0.check()?;
    out1.check()?;
    let value0 = table.add(handle0)?;
    let value1 = match table.add(handle1) {
        Ok(value) => value,
        Err(status) => {
            drop(table.remove(value0));
            return Err(status);
        }
    };
    let written = out0.write(value0).and_then(|()| out1.write(value1));
    if let Err(status) = written {
        drop(table.remove(value0));
        drop(table.remove(value1));
        return Err(status);
    }
    Ok(())
}

/// Copies a name argument in: longer names are silently cut to the buffer, as Zircon does;
/// the object keeps at most 31 bytes up to the first NUL.
fn copy_name(name: UserSlice<In>) -> ZxResult<([u8; abi::ZX_MAX_NAME_LEN], usize)> {
    let mut buffer = [0u8; abi::ZX_MAX_NAME_LEN];
    let len = name.len().min(buffer.len());
    name.read(&mut buffer[..len])?;
    Ok((buffer, len))
}
