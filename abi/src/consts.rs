//! Every numeric ABI constant, declared once.
//!
//! The `abi_constants!` invocation below both defines each `pub const` and lists it in
//! [`ALL_CONSTANTS`], so a constant cannot exist in Rust without being checked against the C
//! headers (`tests/c_headers.rs` also checks the other direction: every `#define ZX_*` in the
//! headers must be in the table).

// `ZX_SYS_handle_close` and friends keep the lower-case spelling of the C macros.
#![allow(non_upper_case_globals)]

use crate::syscall::Syscall;
use crate::{
    zx_handle_t, zx_obj_type_t, zx_object_info_topic_t, zx_rights_t, zx_signals_t, zx_status_t,
    zx_time_t, zx_vm_option_t, AbiConstant,
};

macro_rules! abi_constants {
    ($( $(#[$attr:meta])* $name:ident : $ty:ident = $value:expr; )*) => {
        $( $(#[$attr])* pub const $name: $ty = $value; )*

        /// Every constant of this crate that C also defines, with its value and type. The C
        /// headers must define exactly these names with exactly these values (checked by
        /// `tests/c_headers.rs`).
        pub const ALL_CONSTANTS: &[AbiConstant] = &[
            $( AbiConstant {
                name: stringify!($name),
                value: $name as i128,
                rust_type: stringify!($ty),
            }, )*
        ];
    };
}

abi_constants! {
    // ---- Status codes (errors.h) ----
    /// Success.
    ZX_OK: zx_status_t = 0;
    /// The system encountered an unexpected error.
    ZX_ERR_INTERNAL: zx_status_t = -1;
    /// The operation is not implemented or not supported.
    ZX_ERR_NOT_SUPPORTED: zx_status_t = -2;
    /// A resource (other than memory) is exhausted.
    ZX_ERR_NO_RESOURCES: zx_status_t = -3;
    /// Memory could not be allocated.
    ZX_ERR_NO_MEMORY: zx_status_t = -4;
    /// An argument is invalid (including a bad user pointer).
    ZX_ERR_INVALID_ARGS: zx_status_t = -10;
    /// A handle argument is not a valid handle of the caller.
    ZX_ERR_BAD_HANDLE: zx_status_t = -11;
    /// A handle refers to an object of the wrong type for the call.
    ZX_ERR_WRONG_TYPE: zx_status_t = -12;
    /// The system-call number is unknown.
    ZX_ERR_BAD_SYSCALL: zx_status_t = -13;
    /// An argument is outside the valid range.
    ZX_ERR_OUT_OF_RANGE: zx_status_t = -14;
    /// A caller-provided buffer is too small.
    ZX_ERR_BUFFER_TOO_SMALL: zx_status_t = -15;
    /// The object is not in a state that allows the operation.
    ZX_ERR_BAD_STATE: zx_status_t = -20;
    /// The deadline passed before the operation completed.
    ZX_ERR_TIMED_OUT: zx_status_t = -21;
    /// The operation would have to block; try again later.
    ZX_ERR_SHOULD_WAIT: zx_status_t = -22;
    /// The operation was canceled (for example the waited-on handle was closed).
    ZX_ERR_CANCELED: zx_status_t = -23;
    /// The other side of the object is closed.
    ZX_ERR_PEER_CLOSED: zx_status_t = -24;
    /// The requested item does not exist.
    ZX_ERR_NOT_FOUND: zx_status_t = -25;
    /// The item already exists.
    ZX_ERR_ALREADY_EXISTS: zx_status_t = -26;
    /// The object is already bound (an interrupt vector, a port binding).
    ZX_ERR_ALREADY_BOUND: zx_status_t = -27;
    /// The operation is not available on this object (for example resizing a
    /// non-resizable VMO).
    ZX_ERR_UNAVAILABLE: zx_status_t = -28;
    /// The handle lacks a right the operation needs.
    ZX_ERR_ACCESS_DENIED: zx_status_t = -30;

    // ---- Rights (rights.h) ----
    /// No rights.
    ZX_RIGHT_NONE: zx_rights_t = 0;
    /// The handle may be duplicated.
    ZX_RIGHT_DUPLICATE: zx_rights_t = 1 << 0;
    /// The handle may be transferred through a channel.
    ZX_RIGHT_TRANSFER: zx_rights_t = 1 << 1;
    /// Data may be read (and memory mapped readable).
    ZX_RIGHT_READ: zx_rights_t = 1 << 2;
    /// Data may be written (and memory mapped writable).
    ZX_RIGHT_WRITE: zx_rights_t = 1 << 3;
    /// Memory may be mapped executable.
    ZX_RIGHT_EXECUTE: zx_rights_t = 1 << 4;
    /// The object may be mapped.
    ZX_RIGHT_MAP: zx_rights_t = 1 << 5;
    /// Properties may be read.
    ZX_RIGHT_GET_PROPERTY: zx_rights_t = 1 << 6;
    /// Properties may be set.
    ZX_RIGHT_SET_PROPERTY: zx_rights_t = 1 << 7;
    /// Children may be enumerated.
    ZX_RIGHT_ENUMERATE: zx_rights_t = 1 << 8;
    /// The object may be destroyed (VMARs, tasks).
    ZX_RIGHT_DESTROY: zx_rights_t = 1 << 9;
    /// Policy may be set.
    ZX_RIGHT_SET_POLICY: zx_rights_t = 1 << 10;
    /// Policy may be read.
    ZX_RIGHT_GET_POLICY: zx_rights_t = 1 << 11;
    /// User signals may be raised on the object.
    ZX_RIGHT_SIGNAL: zx_rights_t = 1 << 12;
    /// User signals may be raised on the object's peer.
    ZX_RIGHT_SIGNAL_PEER: zx_rights_t = 1 << 13;
    /// The object may be waited on.
    ZX_RIGHT_WAIT: zx_rights_t = 1 << 14;
    /// Information about the object may be read (`zx_object_get_info`).
    ZX_RIGHT_INSPECT: zx_rights_t = 1 << 15;
    /// The job may be managed.
    ZX_RIGHT_MANAGE_JOB: zx_rights_t = 1 << 16;
    /// The process may be managed.
    ZX_RIGHT_MANAGE_PROCESS: zx_rights_t = 1 << 17;
    /// The thread may be managed.
    ZX_RIGHT_MANAGE_THREAD: zx_rights_t = 1 << 18;
    /// The socket's dispositions may be changed (`zx_socket_set_disposition`).
    ZX_RIGHT_MANAGE_SOCKET: zx_rights_t = 1 << 20;
    /// Not a right: asks `zx_handle_duplicate`/`zx_handle_replace` to keep the source rights.
    ZX_RIGHT_SAME_RIGHTS: zx_rights_t = 1 << 31;

    /// Zircon's group name: TRANSFER | DUPLICATE | WAIT | INSPECT.
    ZX_RIGHTS_BASIC: zx_rights_t =
        ZX_RIGHT_TRANSFER | ZX_RIGHT_DUPLICATE | ZX_RIGHT_WAIT | ZX_RIGHT_INSPECT;
    /// Zircon's group name: READ | WRITE.
    ZX_RIGHTS_IO: zx_rights_t = ZX_RIGHT_READ | ZX_RIGHT_WRITE;
    /// Zircon's group name: GET_PROPERTY | SET_PROPERTY.
    ZX_RIGHTS_PROPERTY: zx_rights_t = ZX_RIGHT_GET_PROPERTY | ZX_RIGHT_SET_PROPERTY;
    /// Zircon's group name: GET_POLICY | SET_POLICY.
    ZX_RIGHTS_POLICY: zx_rights_t = ZX_RIGHT_GET_POLICY | ZX_RIGHT_SET_POLICY;

    /// Rights of a new VMO handle: exactly the eight the `zx_vmo_create` man page lists,
    /// DUPLICATE | TRANSFER | READ | WRITE | EXECUTE | MAP | GET_PROPERTY | SET_PROPERTY
    /// (0xFF). Note: later Zircon also grants WAIT, INSPECT and SIGNAL; the seed does not.
    ZX_DEFAULT_VMO_RIGHTS: zx_rights_t = ZX_RIGHT_DUPLICATE
        | ZX_RIGHT_TRANSFER
        | ZX_RIGHT_READ
        | ZX_RIGHT_WRITE
        | ZX_RIGHT_EXECUTE
        | ZX_RIGHT_MAP
        | ZX_RIGHT_GET_PROPERTY
        | ZX_RIGHT_SET_PROPERTY;
    /// Rights of each channel endpoint (Zircon's): BASIC without DUPLICATE, plus IO,
    /// SIGNAL and SIGNAL_PEER = TRANSFER | READ | WRITE | SIGNAL | SIGNAL_PEER | WAIT | INSPECT.
    ZX_DEFAULT_CHANNEL_RIGHTS: zx_rights_t =
        (ZX_RIGHTS_BASIC & !ZX_RIGHT_DUPLICATE) | ZX_RIGHTS_IO | ZX_RIGHT_SIGNAL | ZX_RIGHT_SIGNAL_PEER;
    /// Base rights of a VMAR handle (Zircon's): BASIC without WAIT = TRANSFER | DUPLICATE |
    /// INSPECT. As in Zircon, a VMAR handle additionally gets READ, WRITE and EXECUTE for each
    /// of ZX_VM_CAN_MAP_READ / _WRITE / _EXECUTE the region was created with (the root VMAR of
    /// a process has all three).
    ZX_DEFAULT_VMAR_RIGHTS: zx_rights_t = ZX_RIGHTS_BASIC & !ZX_RIGHT_WAIT;
    /// Rights of a new process handle (Zircon's): BASIC | IO | PROPERTY | ENUMERATE |
    /// DESTROY | SIGNAL | MANAGE_PROCESS | MANAGE_THREAD.
    ZX_DEFAULT_PROCESS_RIGHTS: zx_rights_t = ZX_RIGHTS_BASIC
        | ZX_RIGHTS_IO
        | ZX_RIGHTS_PROPERTY
        | ZX_RIGHT_ENUMERATE
        | ZX_RIGHT_DESTROY
        | ZX_RIGHT_SIGNAL
        | ZX_RIGHT_MANAGE_PROCESS
        | ZX_RIGHT_MANAGE_THREAD;
    /// Rights of a new thread handle (Zircon's): BASIC | IO | PROPERTY | DESTROY | SIGNAL |
    /// MANAGE_THREAD.
    ZX_DEFAULT_THREAD_RIGHTS: zx_rights_t = ZX_RIGHTS_BASIC
        | ZX_RIGHTS_IO
        | ZX_RIGHTS_PROPERTY
        | ZX_RIGHT_DESTROY
        | ZX_RIGHT_SIGNAL
        | ZX_RIGHT_MANAGE_THREAD;
    /// Rights of a new event: BASIC | SIGNAL (0xD003).
    ZX_DEFAULT_EVENT_RIGHTS: zx_rights_t = ZX_RIGHTS_BASIC | ZX_RIGHT_SIGNAL;
    /// Rights of each event-pair endpoint: BASIC | SIGNAL | SIGNAL_PEER (0xF003).
    ZX_DEFAULT_EVENTPAIR_RIGHTS: zx_rights_t =
        ZX_RIGHTS_BASIC | ZX_RIGHT_SIGNAL | ZX_RIGHT_SIGNAL_PEER;
    /// Rights of a new port: DUPLICATE | TRANSFER | READ | WRITE | INSPECT (0x800F; not
    /// waitable, so no WAIT).
    ZX_DEFAULT_PORT_RIGHTS: zx_rights_t = (ZX_RIGHTS_BASIC & !ZX_RIGHT_WAIT) | ZX_RIGHTS_IO;
    /// Rights of a new timer: BASIC | WRITE | SIGNAL (0xD00B).
    ZX_DEFAULT_TIMER_RIGHTS: zx_rights_t = ZX_RIGHTS_BASIC | ZX_RIGHT_WRITE | ZX_RIGHT_SIGNAL;
    /// Rights of each socket endpoint: BASIC | IO | PROPERTY | SIGNAL | SIGNAL_PEER |
    /// MANAGE_SOCKET (0x10F0CF).
    ZX_DEFAULT_SOCKET_RIGHTS: zx_rights_t = ZX_RIGHTS_BASIC
        | ZX_RIGHTS_IO
        | ZX_RIGHTS_PROPERTY
        | ZX_RIGHT_SIGNAL
        | ZX_RIGHT_SIGNAL_PEER
        | ZX_RIGHT_MANAGE_SOCKET;
    /// Rights of a new job: BASIC | IO | PROPERTY | POLICY | ENUMERATE | DESTROY | SIGNAL |
    /// MANAGE_JOB | MANAGE_PROCESS | MANAGE_THREAD (0x7DFCF).
    ZX_DEFAULT_JOB_RIGHTS: zx_rights_t = ZX_RIGHTS_BASIC
        | ZX_RIGHTS_IO
        | ZX_RIGHTS_PROPERTY
        | ZX_RIGHTS_POLICY
        | ZX_RIGHT_ENUMERATE
        | ZX_RIGHT_DESTROY
        | ZX_RIGHT_SIGNAL
        | ZX_RIGHT_MANAGE_JOB
        | ZX_RIGHT_MANAGE_PROCESS
        | ZX_RIGHT_MANAGE_THREAD;

    // ---- Handles, time, sizes, limits (types.h) ----
    /// The value that never names a handle.
    ZX_HANDLE_INVALID: zx_handle_t = 0;
    /// The low bits every valid handle value has set.
    ZX_HANDLE_FIXED_BITS_MASK: zx_handle_t = 0x3;
    /// A deadline that never comes.
    ZX_TIME_INFINITE: zx_time_t = i64::MAX;
    /// A deadline that has always passed.
    ZX_TIME_INFINITE_PAST: zx_time_t = i64::MIN;
    /// log2 of the page size.
    ZX_PAGE_SHIFT: u32 = 12;
    /// The page size, 4 KiB (what `zx_system_get_page_size()` returns).
    ZX_PAGE_SIZE: usize = 1 << ZX_PAGE_SHIFT;
    /// Mask of the offset within a page.
    ZX_PAGE_MASK: usize = ZX_PAGE_SIZE - 1;
    /// Size of an object name buffer, including the terminating NUL.
    ZX_MAX_NAME_LEN: usize = 32;
    /// The largest VMO size; larger (or overflowing when rounded to a page) is OUT_OF_RANGE.
    ZX_MAX_VMO_SIZE: u64 = 0xFFFF_FFFF_FFFE_0000;
    /// Most bytes in one channel message.
    ZX_CHANNEL_MAX_MSG_BYTES: u32 = 65536;
    /// Most handles in one channel message.
    ZX_CHANNEL_MAX_MSG_HANDLES: u32 = 64;
    /// Normal cached memory (`zx_info_vmo_t::cache_policy`).
    ZX_CACHE_POLICY_CACHED: u32 = 0;

    // ---- Object types (types.h) ----
    /// No object / unknown.
    ZX_OBJ_TYPE_NONE: zx_obj_type_t = 0;
    /// A process.
    ZX_OBJ_TYPE_PROCESS: zx_obj_type_t = 1;
    /// A thread.
    ZX_OBJ_TYPE_THREAD: zx_obj_type_t = 2;
    /// A virtual memory object.
    ZX_OBJ_TYPE_VMO: zx_obj_type_t = 3;
    /// A channel endpoint.
    ZX_OBJ_TYPE_CHANNEL: zx_obj_type_t = 4;
    /// A virtual memory address region.
    ZX_OBJ_TYPE_VMAR: zx_obj_type_t = 18;
    /// An event.
    ZX_OBJ_TYPE_EVENT: zx_obj_type_t = 5;
    /// A port.
    ZX_OBJ_TYPE_PORT: zx_obj_type_t = 6;
    /// A socket endpoint.
    ZX_OBJ_TYPE_SOCKET: zx_obj_type_t = 14;
    /// An event-pair endpoint.
    ZX_OBJ_TYPE_EVENTPAIR: zx_obj_type_t = 16;
    /// A job.
    ZX_OBJ_TYPE_JOB: zx_obj_type_t = 17;
    /// A timer.
    ZX_OBJ_TYPE_TIMER: zx_obj_type_t = 22;
    /// `zx_info_handle_basic_t::props`: the object is not waitable (ports, VMARs).
    ZX_OBJ_PROP_NONE: u32 = 0;
    /// `zx_info_handle_basic_t::props`: the object can be waited on.
    ZX_OBJ_PROP_WAITABLE: u32 = 1;

    // ---- Signals (types.h) ----
    /// No signal.
    ZX_SIGNAL_NONE: zx_signals_t = 0;
    /// VMO: no clone or child of this VMO exists (active on a new VMO).
    ZX_VMO_ZERO_CHILDREN: zx_signals_t = 1 << 3;
    /// Channel: a message is waiting.
    ZX_CHANNEL_READABLE: zx_signals_t = 1 << 0;
    /// Channel: a message may be written.
    ZX_CHANNEL_WRITABLE: zx_signals_t = 1 << 1;
    /// Channel: the other endpoint is closed.
    ZX_CHANNEL_PEER_CLOSED: zx_signals_t = 1 << 2;
    /// Reported by `zx_object_wait_one` (with CANCELED) when the handle was closed while
    /// waiting. Never active on an object.
    ZX_SIGNAL_HANDLE_CLOSED: zx_signals_t = 1 << 23;
    /// User signal 0, set and cleared with `zx_object_signal`.
    ZX_USER_SIGNAL_0: zx_signals_t = 1 << 24;
    /// User signal 1.
    ZX_USER_SIGNAL_1: zx_signals_t = 1 << 25;
    /// User signal 2.
    ZX_USER_SIGNAL_2: zx_signals_t = 1 << 26;
    /// User signal 3.
    ZX_USER_SIGNAL_3: zx_signals_t = 1 << 27;
    /// User signal 4.
    ZX_USER_SIGNAL_4: zx_signals_t = 1 << 28;
    /// User signal 5.
    ZX_USER_SIGNAL_5: zx_signals_t = 1 << 29;
    /// User signal 6.
    ZX_USER_SIGNAL_6: zx_signals_t = 1 << 30;
    /// User signal 7.
    ZX_USER_SIGNAL_7: zx_signals_t = 1 << 31;
    /// All eight user signals.
    ZX_USER_SIGNAL_ALL: zx_signals_t = 0xFF00_0000;
    /// Process or thread: it has terminated.
    ZX_TASK_TERMINATED: zx_signals_t = 1 << 3;
    /// Process: it has terminated (same bit as ZX_TASK_TERMINATED).
    ZX_PROCESS_TERMINATED: zx_signals_t = ZX_TASK_TERMINATED;
    /// Thread: it has terminated (same bit as ZX_TASK_TERMINATED).
    ZX_THREAD_TERMINATED: zx_signals_t = ZX_TASK_TERMINATED;
    /// Thread: it is running (started and not suspended).
    ZX_THREAD_RUNNING: zx_signals_t = 1 << 4;
    /// Thread: it is suspended.
    ZX_THREAD_SUSPENDED: zx_signals_t = 1 << 5;
    /// Event: signaled (`zx_object_signal`).
    ZX_EVENT_SIGNALED: zx_signals_t = 1 << 3;
    /// Event pair: signaled.
    ZX_EVENTPAIR_SIGNALED: zx_signals_t = 1 << 3;
    /// Event pair: the other endpoint is closed.
    ZX_EVENTPAIR_PEER_CLOSED: zx_signals_t = 1 << 2;
    /// Timer: its deadline passed.
    ZX_TIMER_SIGNALED: zx_signals_t = 1 << 3;
    /// Socket: data is waiting.
    ZX_SOCKET_READABLE: zx_signals_t = 1 << 0;
    /// Socket: there is room to write.
    ZX_SOCKET_WRITABLE: zx_signals_t = 1 << 1;
    /// Socket: the other endpoint is closed.
    ZX_SOCKET_PEER_CLOSED: zx_signals_t = 1 << 2;
    /// Socket: the other endpoint's writes are disabled.
    ZX_SOCKET_PEER_WRITE_DISABLED: zx_signals_t = 1 << 4;
    /// Socket: this endpoint's writes are disabled.
    ZX_SOCKET_WRITE_DISABLED: zx_signals_t = 1 << 5;
    /// Socket: never asserted (thresholds are not implemented).
    ZX_SOCKET_READ_THRESHOLD: zx_signals_t = 1 << 10;
    /// Socket: never asserted (thresholds are not implemented).
    ZX_SOCKET_WRITE_THRESHOLD: zx_signals_t = 1 << 11;
    /// Job: killed, and every task below it is gone.
    ZX_JOB_TERMINATED: zx_signals_t = 1 << 3;
    /// Job: it has no live child job.
    ZX_JOB_NO_JOBS: zx_signals_t = 1 << 4;
    /// Job: it has no live child process.
    ZX_JOB_NO_PROCESSES: zx_signals_t = 1 << 5;

    // ---- Task return codes (types.h) ----
    /// `zx_info_process_t::return_code` of a process ended by `zx_task_kill`.
    ZX_TASK_RETCODE_SYSCALL_KILL: i64 = -1024;
    /// `zx_info_process_t::return_code` of a process ended by an unhandled exception (a fault
    /// the kernel could not resolve, or a policy violation such as a channel write past the
    /// queue limit).
    ZX_TASK_RETCODE_EXCEPTION_KILL: i64 = -1028;
    /// Return code of a task killed for lack of memory.
    ZX_TASK_RETCODE_OOM_KILL: i64 = -1025;
    /// Return code of a task killed for a policy violation.
    ZX_TASK_RETCODE_POLICY_KILL: i64 = -1026;
    /// Return code of a task killed for a vDSO misuse.
    ZX_TASK_RETCODE_VDSO_KILL: i64 = -1027;
    /// Return code of a task killed because a critical process died.
    ZX_TASK_RETCODE_CRITICAL_PROCESS_KILL: i64 = -1029;

    // ---- Ports (syscalls/port.h) ----
    /// `zx_port_create` option: the port also takes interrupt packets.
    ZX_PORT_BIND_TO_INTERRUPT: u32 = 1 << 0;
    /// A packet queued by `zx_port_queue`.
    ZX_PKT_TYPE_USER: u32 = 0x00;
    /// A packet of a one-shot `zx_object_wait_async`.
    ZX_PKT_TYPE_SIGNAL_ONE: u32 = 0x01;
    /// Reserved (hypervisor).
    ZX_PKT_TYPE_GUEST_BELL: u32 = 0x03;
    /// Reserved (hypervisor).
    ZX_PKT_TYPE_GUEST_MEM: u32 = 0x04;
    /// Reserved (hypervisor).
    ZX_PKT_TYPE_GUEST_IO: u32 = 0x05;
    /// Reserved (hypervisor).
    ZX_PKT_TYPE_GUEST_VCPU: u32 = 0x06;
    /// A packet of an interrupt bound to the port.
    ZX_PKT_TYPE_INTERRUPT: u32 = 0x07;
    /// Reserved (pager).
    ZX_PKT_TYPE_PAGE_REQUEST: u32 = 0x09;
    /// `zx_object_wait_async` option: one packet, then the registration ends.
    ZX_WAIT_ASYNC_ONCE: u32 = 0;
    /// `zx_object_wait_async` option: the packet carries the time of the trigger.
    ZX_WAIT_ASYNC_TIMESTAMP: u32 = 1;

    // ---- Timers and clocks (syscalls.h, types.h) ----
    /// `zx_timer_create` option: slack on both sides of the deadline.
    ZX_TIMER_SLACK_CENTER: u32 = 0;
    /// `zx_timer_create` option: slack before the deadline only.
    ZX_TIMER_SLACK_EARLY: u32 = 1;
    /// `zx_timer_create` option: slack after the deadline only.
    ZX_TIMER_SLACK_LATE: u32 = 2;
    /// The monotonic clock.
    ZX_CLOCK_MONOTONIC: u32 = 0;

    // ---- zx_object_wait_many (syscalls.h) ----
    /// Most items of one `zx_object_wait_many`.
    ZX_WAIT_MANY_MAX_ITEMS: usize = 64;

    // ---- Sockets (syscalls.h) ----
    /// `zx_socket_create` option: a byte stream.
    ZX_SOCKET_STREAM: u32 = 0;
    /// `zx_socket_create` option: datagrams, kept whole.
    ZX_SOCKET_DATAGRAM: u32 = 1 << 0;
    /// `zx_socket_read` option: copy without removing.
    ZX_SOCKET_PEEK: u32 = 1 << 3;
    /// `zx_socket_set_disposition`: writes disabled.
    ZX_SOCKET_DISPOSITION_WRITE_DISABLED: u32 = 1 << 0;
    /// `zx_socket_set_disposition`: writes enabled again.
    ZX_SOCKET_DISPOSITION_WRITE_ENABLED: u32 = 1 << 1;

    // ---- Randomness (syscalls.h) ----
    /// Chunk size of `zx_cprng_draw` (kept for source compatibility; any length works).
    ZX_CPRNG_DRAW_MAX_LEN: usize = 256;
    /// Most bytes one `zx_cprng_add_entropy` takes.
    ZX_CPRNG_ADD_ENTROPY_MAX_LEN: usize = 256;

    // ---- zx_info_vmo_t::flags (types.h) ----
    /// The VMO is backed by allocated pages.
    ZX_INFO_VMO_TYPE_PAGED: u32 = 1 << 0;
    /// The VMO is resizable.
    ZX_INFO_VMO_RESIZABLE: u32 = 1 << 1;
    /// The VMO is a copy-on-write clone or snapshot of another.
    ZX_INFO_VMO_IS_COW_CLONE: u32 = 1 << 2;
    /// The information came from a handle (`handle_rights` is valid).
    ZX_INFO_VMO_VIA_HANDLE: u32 = 1 << 3;
    /// The information came from a mapping.
    ZX_INFO_VMO_VIA_MAPPING: u32 = 1 << 4;

    // ---- zx_object_get_info topics and properties (syscalls/object.h) ----
    /// Succeeds if the handle is valid; no data.
    ZX_INFO_HANDLE_VALID: zx_object_info_topic_t = 1;
    /// One `zx_info_handle_basic_t`.
    ZX_INFO_HANDLE_BASIC: zx_object_info_topic_t = 2;
    /// One `zx_info_process_t`.
    ZX_INFO_PROCESS: zx_object_info_topic_t = 3;
    /// `zx_koid_t[]` of a process's live threads.
    ZX_INFO_PROCESS_THREADS: zx_object_info_topic_t = 4;
    /// `zx_koid_t[]` of a job's live child jobs.
    ZX_INFO_JOB_CHILDREN: zx_object_info_topic_t = 8;
    /// `zx_koid_t[]` of a job's live child processes.
    ZX_INFO_JOB_PROCESSES: zx_object_info_topic_t = 9;
    /// One `zx_info_thread_t`.
    ZX_INFO_THREAD: zx_object_info_topic_t = 10;
    /// One `zx_info_socket_t`.
    ZX_INFO_SOCKET: zx_object_info_topic_t = 22;
    /// One `zx_info_job_t`.
    ZX_INFO_JOB: zx_object_info_topic_t = 24;
    /// One `zx_info_timer_t`.
    ZX_INFO_TIMER: zx_object_info_topic_t = 25;
    /// `zx_info_thread_t::state`: created, not started.
    ZX_THREAD_STATE_NEW: u32 = 0;
    /// `zx_info_thread_t::state`: running or runnable.
    ZX_THREAD_STATE_RUNNING: u32 = 1;
    /// `zx_info_thread_t::state`: suspended.
    ZX_THREAD_STATE_SUSPENDED: u32 = 2;
    /// `zx_info_thread_t::state`: blocked (never alone: one of the `BLOCKED_*` values).
    ZX_THREAD_STATE_BLOCKED: u32 = 3;
    /// `zx_info_thread_t::state`: being torn down.
    ZX_THREAD_STATE_DYING: u32 = 4;
    /// `zx_info_thread_t::state`: gone.
    ZX_THREAD_STATE_DEAD: u32 = 5;
    /// Blocked in an exception.
    ZX_THREAD_STATE_BLOCKED_EXCEPTION: u32 = 0x103;
    /// Blocked in `zx_nanosleep`.
    ZX_THREAD_STATE_BLOCKED_SLEEPING: u32 = 0x203;
    /// Blocked in `zx_futex_wait`.
    ZX_THREAD_STATE_BLOCKED_FUTEX: u32 = 0x303;
    /// Blocked in `zx_port_wait`.
    ZX_THREAD_STATE_BLOCKED_PORT: u32 = 0x403;
    /// Blocked in `zx_channel_call`.
    ZX_THREAD_STATE_BLOCKED_CHANNEL: u32 = 0x503;
    /// Blocked in `zx_object_wait_one`.
    ZX_THREAD_STATE_BLOCKED_WAIT_ONE: u32 = 0x603;
    /// Blocked in `zx_object_wait_many`.
    ZX_THREAD_STATE_BLOCKED_WAIT_MANY: u32 = 0x703;
    /// Blocked in `zx_interrupt_wait`.
    ZX_THREAD_STATE_BLOCKED_INTERRUPT: u32 = 0x803;
    /// Blocked on a pager.
    ZX_THREAD_STATE_BLOCKED_PAGER: u32 = 0x903;
    /// One `zx_info_vmar_t`.
    ZX_INFO_VMAR: zx_object_info_topic_t = 7;
    /// One `zx_info_kmem_stats_t` (Zircon's number; 9 is its `ZX_INFO_JOB_PROCESSES`).
    ZX_INFO_KMEM_STATS: zx_object_info_topic_t = 17;
    /// One `zx_info_handle_count_t`.
    ZX_INFO_HANDLE_COUNT: zx_object_info_topic_t = 19;
    /// One `zx_info_vmo_t`.
    ZX_INFO_VMO: zx_object_info_topic_t = 23;
    /// The object's name, a `char[ZX_MAX_NAME_LEN]`.
    ZX_PROP_NAME: u32 = 3;
    /// `zx_info_process_t::flags`: the process has been started.
    ZX_INFO_PROCESS_FLAG_STARTED: u32 = 1 << 0;
    /// `zx_info_process_t::flags`: the process has exited (`return_code` is valid).
    ZX_INFO_PROCESS_FLAG_EXITED: u32 = 1 << 1;

    // ---- VMO options (syscalls.h) ----
    /// `zx_vmo_create`: the VMO cannot change size.
    ZX_VMO_NON_RESIZABLE: u32 = 1;
    /// `zx_vmo_clone`: make a copy-on-write clone (required).
    ZX_VMO_CLONE_COPY_ON_WRITE: u32 = 1 << 0;
    /// `zx_vmo_clone`: the clone cannot change size (Zircon's spelling).
    ZX_VMO_CLONE_NON_RESIZEABLE: u32 = 1 << 1;
    /// `zx_vmo_create_child`: a snapshot; neither side sees the other's later writes.
    ZX_VMO_CHILD_SNAPSHOT: u32 = 1 << 0;
    /// `zx_vmo_create_child`: the child is resizable.
    ZX_VMO_CHILD_RESIZABLE: u32 = 1 << 2;
    /// `zx_vmo_create_child`: a window sharing pages with the parent both ways.
    ZX_VMO_CHILD_SLICE: u32 = 1 << 3;
    /// `zx_vmo_create_child`: the child handle has no WRITE right.
    ZX_VMO_CHILD_NO_WRITE: u32 = 1 << 5;

    // ---- zx_vmo_op_range operations (syscalls.h) ----
    /// Commit the pages covering the range.
    ZX_VMO_OP_COMMIT: u32 = 1;
    /// Free the (page-aligned) range; it reads zero afterwards.
    ZX_VMO_OP_DECOMMIT: u32 = 2;
    /// Not supported.
    ZX_VMO_OP_LOCK: u32 = 3;
    /// Not supported.
    ZX_VMO_OP_UNLOCK: u32 = 4;
    /// Make instruction fetches see data writes (clean D-cache, invalidate I-cache).
    ZX_VMO_OP_CACHE_SYNC: u32 = 6;
    /// Invalidate data cache lines.
    ZX_VMO_OP_CACHE_INVALIDATE: u32 = 7;
    /// Clean data cache lines.
    ZX_VMO_OP_CACHE_CLEAN: u32 = 8;
    /// Clean and invalidate data cache lines.
    ZX_VMO_OP_CACHE_CLEAN_INVALIDATE: u32 = 9;
    /// Zero exactly the byte range, freeing whole pages.
    ZX_VMO_OP_ZERO: u32 = 10;

    // ---- VMAR options (syscalls.h) ----
    /// Map readable.
    ZX_VM_PERM_READ: zx_vm_option_t = 1 << 0;
    /// Map writable.
    ZX_VM_PERM_WRITE: zx_vm_option_t = 1 << 1;
    /// Map executable.
    ZX_VM_PERM_EXECUTE: zx_vm_option_t = 1 << 2;
    /// Place the allocation compactly instead of randomly.
    ZX_VM_COMPACT: zx_vm_option_t = 1 << 3;
    /// Use the given offset exactly.
    ZX_VM_SPECIFIC: zx_vm_option_t = 1 << 4;
    /// Like SPECIFIC, replacing mappings in the way.
    ZX_VM_SPECIFIC_OVERWRITE: zx_vm_option_t = 1 << 5;
    /// The new VMAR allows SPECIFIC placements inside it.
    ZX_VM_CAN_MAP_SPECIFIC: zx_vm_option_t = 1 << 6;
    /// The new VMAR allows readable mappings.
    ZX_VM_CAN_MAP_READ: zx_vm_option_t = 1 << 7;
    /// The new VMAR allows writable mappings.
    ZX_VM_CAN_MAP_WRITE: zx_vm_option_t = 1 << 8;
    /// The new VMAR allows executable mappings.
    ZX_VM_CAN_MAP_EXECUTE: zx_vm_option_t = 1 << 9;
    /// Commit and map the whole range now.
    ZX_VM_MAP_RANGE: zx_vm_option_t = 1 << 10;
    /// Refuse to map a resizable VMO.
    ZX_VM_REQUIRE_NON_RESIZABLE: zx_vm_option_t = 1 << 11;
    /// Bit position of the alignment field: `n << ZX_VM_ALIGN_BASE` asks for 2^n alignment.
    ZX_VM_ALIGN_BASE: zx_vm_option_t = 24;
    /// Align to 1 KiB.
    ZX_VM_ALIGN_1KB: zx_vm_option_t = 10 << ZX_VM_ALIGN_BASE;
    /// Align to 2 KiB.
    ZX_VM_ALIGN_2KB: zx_vm_option_t = 11 << ZX_VM_ALIGN_BASE;
    /// Align to 4 KiB.
    ZX_VM_ALIGN_4KB: zx_vm_option_t = 12 << ZX_VM_ALIGN_BASE;
    /// Align to 8 KiB.
    ZX_VM_ALIGN_8KB: zx_vm_option_t = 13 << ZX_VM_ALIGN_BASE;
    /// Align to 16 KiB.
    ZX_VM_ALIGN_16KB: zx_vm_option_t = 14 << ZX_VM_ALIGN_BASE;
    /// Align to 32 KiB.
    ZX_VM_ALIGN_32KB: zx_vm_option_t = 15 << ZX_VM_ALIGN_BASE;
    /// Align to 64 KiB.
    ZX_VM_ALIGN_64KB: zx_vm_option_t = 16 << ZX_VM_ALIGN_BASE;
    /// Align to 128 KiB.
    ZX_VM_ALIGN_128KB: zx_vm_option_t = 17 << ZX_VM_ALIGN_BASE;
    /// Align to 256 KiB.
    ZX_VM_ALIGN_256KB: zx_vm_option_t = 18 << ZX_VM_ALIGN_BASE;
    /// Align to 512 KiB.
    ZX_VM_ALIGN_512KB: zx_vm_option_t = 19 << ZX_VM_ALIGN_BASE;
    /// Align to 1 MiB.
    ZX_VM_ALIGN_1MB: zx_vm_option_t = 20 << ZX_VM_ALIGN_BASE;
    /// Align to 2 MiB.
    ZX_VM_ALIGN_2MB: zx_vm_option_t = 21 << ZX_VM_ALIGN_BASE;
    /// Align to 4 MiB.
    ZX_VM_ALIGN_4MB: zx_vm_option_t = 22 << ZX_VM_ALIGN_BASE;
    /// Align to 8 MiB.
    ZX_VM_ALIGN_8MB: zx_vm_option_t = 23 << ZX_VM_ALIGN_BASE;
    /// Align to 16 MiB.
    ZX_VM_ALIGN_16MB: zx_vm_option_t = 24 << ZX_VM_ALIGN_BASE;
    /// Align to 32 MiB.
    ZX_VM_ALIGN_32MB: zx_vm_option_t = 25 << ZX_VM_ALIGN_BASE;
    /// Align to 64 MiB.
    ZX_VM_ALIGN_64MB: zx_vm_option_t = 26 << ZX_VM_ALIGN_BASE;
    /// Align to 128 MiB.
    ZX_VM_ALIGN_128MB: zx_vm_option_t = 27 << ZX_VM_ALIGN_BASE;
    /// Align to 256 MiB.
    ZX_VM_ALIGN_256MB: zx_vm_option_t = 28 << ZX_VM_ALIGN_BASE;
    /// Align to 512 MiB.
    ZX_VM_ALIGN_512MB: zx_vm_option_t = 29 << ZX_VM_ALIGN_BASE;
    /// Align to 1 GiB.
    ZX_VM_ALIGN_1GB: zx_vm_option_t = 30 << ZX_VM_ALIGN_BASE;
    /// Align to 2 GiB.
    ZX_VM_ALIGN_2GB: zx_vm_option_t = 31 << ZX_VM_ALIGN_BASE;
    /// Align to 4 GiB.
    ZX_VM_ALIGN_4GB: zx_vm_option_t = 32 << ZX_VM_ALIGN_BASE;

    // ---- System-call numbers (syscall-numbers.h); see `syscall::Syscall` ----
    /// `zx_handle_close`.
    ZX_SYS_handle_close: u32 = Syscall::HandleClose as u32;
    /// `zx_handle_close_many`.
    ZX_SYS_handle_close_many: u32 = Syscall::HandleCloseMany as u32;
    /// `zx_handle_duplicate`.
    ZX_SYS_handle_duplicate: u32 = Syscall::HandleDuplicate as u32;
    /// `zx_handle_replace`.
    ZX_SYS_handle_replace: u32 = Syscall::HandleReplace as u32;
    /// `zx_object_get_property`.
    ZX_SYS_object_get_property: u32 = Syscall::ObjectGetProperty as u32;
    /// `zx_object_set_property`.
    ZX_SYS_object_set_property: u32 = Syscall::ObjectSetProperty as u32;
    /// `zx_object_get_info`.
    ZX_SYS_object_get_info: u32 = Syscall::ObjectGetInfo as u32;
    /// `zx_object_wait_one`.
    ZX_SYS_object_wait_one: u32 = Syscall::ObjectWaitOne as u32;
    /// `zx_object_signal`.
    ZX_SYS_object_signal: u32 = Syscall::ObjectSignal as u32;
    /// `zx_vmo_create`.
    ZX_SYS_vmo_create: u32 = Syscall::VmoCreate as u32;
    /// `zx_vmo_read`.
    ZX_SYS_vmo_read: u32 = Syscall::VmoRead as u32;
    /// `zx_vmo_write`.
    ZX_SYS_vmo_write: u32 = Syscall::VmoWrite as u32;
    /// `zx_vmo_get_size`.
    ZX_SYS_vmo_get_size: u32 = Syscall::VmoGetSize as u32;
    /// `zx_vmo_set_size`.
    ZX_SYS_vmo_set_size: u32 = Syscall::VmoSetSize as u32;
    /// `zx_vmo_clone`.
    ZX_SYS_vmo_clone: u32 = Syscall::VmoClone as u32;
    /// `zx_vmo_create_child`.
    ZX_SYS_vmo_create_child: u32 = Syscall::VmoCreateChild as u32;
    /// `zx_vmo_op_range`.
    ZX_SYS_vmo_op_range: u32 = Syscall::VmoOpRange as u32;
    /// `zx_vmar_map`.
    ZX_SYS_vmar_map: u32 = Syscall::VmarMap as u32;
    /// `zx_vmar_unmap`.
    ZX_SYS_vmar_unmap: u32 = Syscall::VmarUnmap as u32;
    /// `zx_vmar_protect`.
    ZX_SYS_vmar_protect: u32 = Syscall::VmarProtect as u32;
    /// `zx_vmar_allocate`.
    ZX_SYS_vmar_allocate: u32 = Syscall::VmarAllocate as u32;
    /// `zx_vmar_destroy`.
    ZX_SYS_vmar_destroy: u32 = Syscall::VmarDestroy as u32;
    /// `zx_process_create`.
    ZX_SYS_process_create: u32 = Syscall::ProcessCreate as u32;
    /// `zx_process_start`.
    ZX_SYS_process_start: u32 = Syscall::ProcessStart as u32;
    /// `zx_process_exit`.
    ZX_SYS_process_exit: u32 = Syscall::ProcessExit as u32;
    /// `zx_thread_create`.
    ZX_SYS_thread_create: u32 = Syscall::ThreadCreate as u32;
    /// `zx_thread_start`.
    ZX_SYS_thread_start: u32 = Syscall::ThreadStart as u32;
    /// `zx_thread_exit`.
    ZX_SYS_thread_exit: u32 = Syscall::ThreadExit as u32;
    /// `zx_task_kill`.
    ZX_SYS_task_kill: u32 = Syscall::TaskKill as u32;
    /// `zx_channel_create`.
    ZX_SYS_channel_create: u32 = Syscall::ChannelCreate as u32;
    /// `zx_channel_write`.
    ZX_SYS_channel_write: u32 = Syscall::ChannelWrite as u32;
    /// `zx_channel_read`.
    ZX_SYS_channel_read: u32 = Syscall::ChannelRead as u32;
    /// `zx_debug_write`.
    ZX_SYS_debug_write: u32 = Syscall::DebugWrite as u32;
    /// `zx_clock_get_monotonic`.
    ZX_SYS_clock_get_monotonic: u32 = Syscall::ClockGetMonotonic as u32;
    /// `zx_system_get_page_size`.
    ZX_SYS_system_get_page_size: u32 = Syscall::SystemGetPageSize as u32;
    /// `zx_nanosleep`.
    ZX_SYS_nanosleep: u32 = Syscall::Nanosleep as u32;
    /// `zx_debug_send_command`.
    ZX_SYS_debug_send_command: u32 = Syscall::DebugSendCommand as u32;
    /// `zx_futex_wait`.
    ZX_SYS_futex_wait: u32 = Syscall::FutexWait as u32;
    /// `zx_futex_wake`.
    ZX_SYS_futex_wake: u32 = Syscall::FutexWake as u32;
    /// `zx_futex_requeue`.
    ZX_SYS_futex_requeue: u32 = Syscall::FutexRequeue as u32;
    /// `zx_port_create`.
    ZX_SYS_port_create: u32 = Syscall::PortCreate as u32;
    /// `zx_port_queue`.
    ZX_SYS_port_queue: u32 = Syscall::PortQueue as u32;
    /// `zx_port_wait`.
    ZX_SYS_port_wait: u32 = Syscall::PortWait as u32;
    /// `zx_port_cancel`.
    ZX_SYS_port_cancel: u32 = Syscall::PortCancel as u32;
    /// `zx_object_wait_async`.
    ZX_SYS_object_wait_async: u32 = Syscall::ObjectWaitAsync as u32;
    /// `zx_event_create`.
    ZX_SYS_event_create: u32 = Syscall::EventCreate as u32;
    /// `zx_eventpair_create`.
    ZX_SYS_eventpair_create: u32 = Syscall::EventpairCreate as u32;
    /// `zx_object_signal_peer`.
    ZX_SYS_object_signal_peer: u32 = Syscall::ObjectSignalPeer as u32;
    /// `zx_timer_create`.
    ZX_SYS_timer_create: u32 = Syscall::TimerCreate as u32;
    /// `zx_timer_set`.
    ZX_SYS_timer_set: u32 = Syscall::TimerSet as u32;
    /// `zx_timer_cancel`.
    ZX_SYS_timer_cancel: u32 = Syscall::TimerCancel as u32;
    /// `zx_object_wait_many`.
    ZX_SYS_object_wait_many: u32 = Syscall::ObjectWaitMany as u32;
    /// `zx_socket_create`.
    ZX_SYS_socket_create: u32 = Syscall::SocketCreate as u32;
    /// `zx_socket_write`.
    ZX_SYS_socket_write: u32 = Syscall::SocketWrite as u32;
    /// `zx_socket_read`.
    ZX_SYS_socket_read: u32 = Syscall::SocketRead as u32;
    /// `zx_socket_set_disposition`.
    ZX_SYS_socket_set_disposition: u32 = Syscall::SocketSetDisposition as u32;
    /// `zx_job_create`.
    ZX_SYS_job_create: u32 = Syscall::JobCreate as u32;
    /// `zx_object_get_child`.
    ZX_SYS_object_get_child: u32 = Syscall::ObjectGetChild as u32;
    /// `zx_channel_call`.
    ZX_SYS_channel_call: u32 = Syscall::ChannelCall as u32;
    /// `zx_cprng_draw`.
    ZX_SYS_cprng_draw: u32 = Syscall::CprngDraw as u32;
    /// `zx_cprng_add_entropy`.
    ZX_SYS_cprng_add_entropy: u32 = Syscall::CprngAddEntropy as u32;
    /// Number of system calls; every number below it is assigned.
    ZX_SYS_COUNT: u32 = Syscall::COUNT as u32;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The numbers of `shared/spec/zx-abi.md`, written out independently of the table (the C
    /// comparison only proves that C and Rust agree with each other).
    #[test]
    fn contract_values() {
        let expect: &[(&str, i128)] = &[
            ("ZX_RIGHT_SAME_RIGHTS", 1 << 31),
            ("ZX_DEFAULT_VMO_RIGHTS", 0xFF),
            ("ZX_DEFAULT_CHANNEL_RIGHTS", 0xF00E),
            ("ZX_DEFAULT_VMAR_RIGHTS", 0x8003),
            ("ZX_DEFAULT_PROCESS_RIGHTS", 0x6D3CF),
            ("ZX_DEFAULT_THREAD_RIGHTS", 0x4D2CF),
            ("ZX_VMO_NON_RESIZABLE", 1),
            ("ZX_VMO_CLONE_COPY_ON_WRITE", 1),
            ("ZX_VMO_CLONE_NON_RESIZEABLE", 2),
            ("ZX_VMO_CHILD_SNAPSHOT", 1),
            ("ZX_VMO_CHILD_RESIZABLE", 4),
            ("ZX_VMO_CHILD_SLICE", 8),
            ("ZX_VMO_CHILD_NO_WRITE", 32),
            ("ZX_VMO_OP_COMMIT", 1),
            ("ZX_VMO_OP_DECOMMIT", 2),
            ("ZX_VMO_OP_LOCK", 3),
            ("ZX_VMO_OP_UNLOCK", 4),
            ("ZX_VMO_OP_CACHE_SYNC", 6),
            ("ZX_VMO_OP_CACHE_INVALIDATE", 7),
            ("ZX_VMO_OP_CACHE_CLEAN", 8),
            ("ZX_VMO_OP_CACHE_CLEAN_INVALIDATE", 9),
            ("ZX_VMO_OP_ZERO", 10),
            ("ZX_VM_PERM_READ", 1),
            ("ZX_VM_PERM_WRITE", 2),
            ("ZX_VM_PERM_EXECUTE", 4),
            ("ZX_VM_COMPACT", 8),
            ("ZX_VM_SPECIFIC", 16),
            ("ZX_VM_SPECIFIC_OVERWRITE", 32),
            ("ZX_VM_CAN_MAP_SPECIFIC", 64),
            ("ZX_VM_CAN_MAP_READ", 128),
            ("ZX_VM_CAN_MAP_WRITE", 256),
            ("ZX_VM_CAN_MAP_EXECUTE", 512),
            ("ZX_VM_MAP_RANGE", 1024),
            ("ZX_VM_REQUIRE_NON_RESIZABLE", 2048),
            ("ZX_VM_ALIGN_BASE", 24),
            ("ZX_VM_ALIGN_1KB", 10 << 24),
            ("ZX_VM_ALIGN_4KB", 12 << 24),
            ("ZX_VM_ALIGN_1MB", 20 << 24),
            ("ZX_VM_ALIGN_4GB", 32 << 24),
            ("ZX_VMO_ZERO_CHILDREN", 8),
            ("ZX_CHANNEL_READABLE", 1),
            ("ZX_CHANNEL_WRITABLE", 2),
            ("ZX_CHANNEL_PEER_CLOSED", 4),
            ("ZX_SIGNAL_HANDLE_CLOSED", 1 << 23),
            ("ZX_USER_SIGNAL_0", 1 << 24),
            ("ZX_USER_SIGNAL_7", 1 << 31),
            ("ZX_USER_SIGNAL_ALL", 0xFF00_0000),
            ("ZX_TASK_TERMINATED", 8),
            ("ZX_PROCESS_TERMINATED", 8),
            ("ZX_THREAD_TERMINATED", 8),
            ("ZX_THREAD_RUNNING", 16),
            ("ZX_THREAD_SUSPENDED", 32),
            ("ZX_PROP_NAME", 3),
            ("ZX_MAX_NAME_LEN", 32),
            ("ZX_INFO_HANDLE_VALID", 1),
            ("ZX_INFO_HANDLE_BASIC", 2),
            ("ZX_INFO_PROCESS", 3),
            ("ZX_INFO_PROCESS_FLAG_STARTED", 1),
            ("ZX_INFO_PROCESS_FLAG_EXITED", 2),
            ("ZX_TASK_RETCODE_SYSCALL_KILL", -1024),
            ("ZX_TASK_RETCODE_EXCEPTION_KILL", -1028),
            ("ZX_INFO_VMAR", 7),
            ("ZX_INFO_KMEM_STATS", 17),
            ("ZX_INFO_HANDLE_COUNT", 19),
            ("ZX_INFO_VMO", 23),
            ("ZX_OBJ_TYPE_NONE", 0),
            ("ZX_OBJ_TYPE_PROCESS", 1),
            ("ZX_OBJ_TYPE_THREAD", 2),
            ("ZX_OBJ_TYPE_VMO", 3),
            ("ZX_OBJ_TYPE_CHANNEL", 4),
            ("ZX_OBJ_TYPE_VMAR", 18),
            ("ZX_INFO_VMO_TYPE_PAGED", 1),
            ("ZX_INFO_VMO_RESIZABLE", 2),
            ("ZX_INFO_VMO_IS_COW_CLONE", 4),
            ("ZX_INFO_VMO_VIA_HANDLE", 8),
            ("ZX_INFO_VMO_VIA_MAPPING", 16),
            ("ZX_MAX_VMO_SIZE", 0xFFFF_FFFF_FFFE_0000),
            ("ZX_PAGE_SIZE", 4096),
            ("ZX_HANDLE_INVALID", 0),
            ("ZX_TIME_INFINITE", i64::MAX as i128),
            ("ZX_TIME_INFINITE_PAST", i64::MIN as i128),
            ("ZX_CHANNEL_MAX_MSG_BYTES", 65536),
            ("ZX_CHANNEL_MAX_MSG_HANDLES", 64),
            ("ZX_CACHE_POLICY_CACHED", 0),
            ("ZX_SYS_handle_close", 0),
            ("ZX_SYS_vmo_create", 9),
            ("ZX_SYS_nanosleep", 35),
            ("ZX_SYS_debug_send_command", 36),
            ("ZX_SYS_COUNT", 61),
        ];
        for (name, value) in expect {
            let c = ALL_CONSTANTS.iter().find(|c| c.name == *name);
            assert_eq!(c.map(|c| c.value), Some(*value), "{name}");
        }
        // Rights bits 0..18 in the contract's order.
        let rights = [
            ZX_RIGHT_DUPLICATE,
            ZX_RIGHT_TRANSFER,
            ZX_RIGHT_READ,
            ZX_RIGHT_WRITE,
            ZX_RIGHT_EXECUTE,
            ZX_RIGHT_MAP,
            ZX_RIGHT_GET_PROPERTY,
            ZX_RIGHT_SET_PROPERTY,
            ZX_RIGHT_ENUMERATE,
            ZX_RIGHT_DESTROY,
            ZX_RIGHT_SET_POLICY,
            ZX_RIGHT_GET_POLICY,
            ZX_RIGHT_SIGNAL,
            ZX_RIGHT_SIGNAL_PEER,
            ZX_RIGHT_WAIT,
            ZX_RIGHT_INSPECT,
            ZX_RIGHT_MANAGE_JOB,
            ZX_RIGHT_MANAGE_PROCESS,
            ZX_RIGHT_MANAGE_THREAD,
        ];
        for (bit, r) in rights.iter().enumerate() {
            assert_eq!(*r, 1 << bit);
        }
        // ZX_VM_ALIGN_<2^n> == n << 24 for n in 10..=32.
        let aligns = [
            ZX_VM_ALIGN_1KB,
            ZX_VM_ALIGN_2KB,
            ZX_VM_ALIGN_4KB,
            ZX_VM_ALIGN_8KB,
            ZX_VM_ALIGN_16KB,
            ZX_VM_ALIGN_32KB,
            ZX_VM_ALIGN_64KB,
            ZX_VM_ALIGN_128KB,
            ZX_VM_ALIGN_256KB,
            ZX_VM_ALIGN_512KB,
            ZX_VM_ALIGN_1MB,
            ZX_VM_ALIGN_2MB,
            ZX_VM_ALIGN_4MB,
            ZX_VM_ALIGN_8MB,
            ZX_VM_ALIGN_16MB,
            ZX_VM_ALIGN_32MB,
            ZX_VM_ALIGN_64MB,
            ZX_VM_ALIGN_128MB,
            ZX_VM_ALIGN_256MB,
            ZX_VM_ALIGN_512MB,
            ZX_VM_ALIGN_1GB,
            ZX_VM_ALIGN_2GB,
            ZX_VM_ALIGN_4GB,
        ];
        for (i, a) in aligns.iter().enumerate() {
            assert_eq!(*a, (10 + i as u32) << ZX_VM_ALIGN_BASE);
        }
    }

    #[test]
    fn table_names_are_unique_and_prefixed() {
        for (i, c) in ALL_CONSTANTS.iter().enumerate() {
            assert!(c.name.starts_with("ZX_"), "{}", c.name);
            assert!(
                ALL_CONSTANTS[i + 1..].iter().all(|d| d.name != c.name),
                "{} twice",
                c.name
            );
        }
    }
}
