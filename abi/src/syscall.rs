//! System-call numbers.
//!
//! User space puts the number in `x16` and executes `svc #0` (see the contract for the rest of
//! the calling convention). The numbers are this kernel's own (Zircon's are generated per
//! build and not stable); C gets them as `ZX_SYS_<name>` from `<zircon/syscall-numbers.h>`.

/// A system call, by number. The discriminant is the number passed in `x16`.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Syscall {
    /// `zx_handle_close(handle)`
    HandleClose = 0,
    /// `zx_handle_close_many(handles, num_handles)`
    HandleCloseMany = 1,
    /// `zx_handle_duplicate(handle, rights, out)`
    HandleDuplicate = 2,
    /// `zx_handle_replace(handle, rights, out)`
    HandleReplace = 3,
    /// `zx_object_get_property(handle, property, value, value_size)`
    ObjectGetProperty = 4,
    /// `zx_object_set_property(handle, property, value, value_size)`
    ObjectSetProperty = 5,
    /// `zx_object_get_info(handle, topic, buffer, buffer_size, actual, avail)`
    ObjectGetInfo = 6,
    /// `zx_object_wait_one(handle, signals, deadline, observed)`
    ObjectWaitOne = 7,
    /// `zx_object_signal(handle, clear_mask, set_mask)`
    ObjectSignal = 8,
    /// `zx_vmo_create(size, options, out)`
    VmoCreate = 9,
    /// `zx_vmo_read(handle, buffer, offset, buffer_size)`
    VmoRead = 10,
    /// `zx_vmo_write(handle, buffer, offset, buffer_size)`
    VmoWrite = 11,
    /// `zx_vmo_get_size(handle, size)`
    VmoGetSize = 12,
    /// `zx_vmo_set_size(handle, size)`
    VmoSetSize = 13,
    /// `zx_vmo_clone(handle, options, offset, size, out)`
    VmoClone = 14,
    /// `zx_vmo_create_child(handle, options, offset, size, out)`
    VmoCreateChild = 15,
    /// `zx_vmo_op_range(handle, op, offset, size, buffer, buffer_size)`
    VmoOpRange = 16,
    /// `zx_vmar_map(handle, options, vmar_offset, vmo, vmo_offset, len, mapped_addr)`
    VmarMap = 17,
    /// `zx_vmar_unmap(handle, addr, len)`
    VmarUnmap = 18,
    /// `zx_vmar_protect(handle, options, addr, len)`
    VmarProtect = 19,
    /// `zx_vmar_allocate(parent_vmar, options, offset, size, child_vmar, child_addr)`
    VmarAllocate = 20,
    /// `zx_vmar_destroy(handle)`
    VmarDestroy = 21,
    /// `zx_process_create(job, name, name_size, options, proc_handle, vmar_handle)`
    ProcessCreate = 22,
    /// `zx_process_start(handle, thread, entry, stack, arg1, arg2)`
    ProcessStart = 23,
    /// `zx_process_exit(retcode)`; does not return.
    ProcessExit = 24,
    /// `zx_thread_create(process, name, name_size, options, out)`
    ThreadCreate = 25,
    /// `zx_thread_start(handle, thread_entry, stack, arg1, arg2)`
    ThreadStart = 26,
    /// `zx_thread_exit()`; does not return.
    ThreadExit = 27,
    /// `zx_task_kill(handle)`
    TaskKill = 28,
    /// `zx_channel_create(options, out0, out1)`
    ChannelCreate = 29,
    /// `zx_channel_write(handle, options, bytes, num_bytes, handles, num_handles)`
    ChannelWrite = 30,
    /// `zx_channel_read(handle, options, bytes, handles, num_bytes, num_handles,
    /// actual_bytes, actual_handles)`
    ChannelRead = 31,
    /// `zx_debug_write(buffer, buffer_size)`
    DebugWrite = 32,
    /// `zx_clock_get_monotonic()`; returns the time itself in `x0`, not a status.
    ClockGetMonotonic = 33,
    /// `zx_system_get_page_size()`; returns the page size itself in `x0`, not a status.
    SystemGetPageSize = 34,
    /// `zx_nanosleep(deadline)`
    Nanosleep = 35,
    /// `zx_debug_send_command(resource, buffer, buffer_size)`: a command to the kernel's
    /// debug facilities; only on a kernel booted with `kdebug`.
    DebugSendCommand = 36,
    /// `zx_futex_wait(value_ptr, current_value, new_futex_owner, deadline)`
    FutexWait = 37,
    /// `zx_futex_wake(value_ptr, wake_count)`
    FutexWake = 38,
    /// `zx_futex_requeue(value_ptr, wake_count, current_value, requeue_ptr,
    /// requeue_count, new_requeue_owner)`
    FutexRequeue = 39,
    /// `zx_port_create(options, out)`
    PortCreate = 40,
    /// `zx_port_queue(handle, packet)`
    PortQueue = 41,
    /// `zx_port_wait(handle, deadline, packet)`
    PortWait = 42,
    /// `zx_port_cancel(handle, source, key)`
    PortCancel = 43,
    /// `zx_object_wait_async(handle, port, key, signals, options)`
    ObjectWaitAsync = 44,
    /// `zx_event_create(options, out)`
    EventCreate = 45,
    /// `zx_eventpair_create(options, out0, out1)`
    EventpairCreate = 46,
    /// `zx_object_signal_peer(handle, clear_mask, set_mask)`
    ObjectSignalPeer = 47,
    /// `zx_timer_create(options, clock_id, out)`
    TimerCreate = 48,
    /// `zx_timer_set(handle, deadline, slack)`
    TimerSet = 49,
    /// `zx_timer_cancel(handle)`
    TimerCancel = 50,
    /// `zx_object_wait_many(items, num_items, deadline)`
    ObjectWaitMany = 51,
    /// `zx_socket_create(options, out0, out1)`
    SocketCreate = 52,
    /// `zx_socket_write(handle, options, buffer, buffer_size, actual)`
    SocketWrite = 53,
    /// `zx_socket_read(handle, options, buffer, buffer_size, actual)`
    SocketRead = 54,
    /// `zx_socket_set_disposition(handle, disposition, disposition_peer)`
    SocketSetDisposition = 55,
    /// `zx_job_create(parent_job, options, out)`
    JobCreate = 56,
    /// `zx_object_get_child(handle, koid, rights, out)`
    ObjectGetChild = 57,
    /// `zx_channel_call(handle, options, deadline, args, actual_bytes, actual_handles)`
    ChannelCall = 58,
    /// `zx_cprng_draw(buffer, buffer_size)`; returns nothing (x0 unspecified).
    CprngDraw = 59,
    /// `zx_cprng_add_entropy(buffer, buffer_size)`
    CprngAddEntropy = 60,
}

impl Syscall {
    /// Number of system calls; the numbers are exactly `0..COUNT`.
    pub const COUNT: usize = 61;

    /// Every system call, indexed by its number.
    pub const ALL: [Syscall; Syscall::COUNT] = [
        Syscall::HandleClose,
        Syscall::HandleCloseMany,
        Syscall::HandleDuplicate,
        Syscall::HandleReplace,
        Syscall::ObjectGetProperty,
        Syscall::ObjectSetProperty,
        Syscall::ObjectGetInfo,
        Syscall::ObjectWaitOne,
        Syscall::ObjectSignal,
        Syscall::VmoCreate,
        Syscall::VmoRead,
        Syscall::VmoWrite,
        Syscall::VmoGetSize,
        Syscall::VmoSetSize,
        Syscall::VmoClone,
        Syscall::VmoCreateChild,
        Syscall::VmoOpRange,
        Syscall::VmarMap,
        Syscall::VmarUnmap,
        Syscall::VmarProtect,
        Syscall::VmarAllocate,
        Syscall::VmarDestroy,
        Syscall::ProcessCreate,
        Syscall::ProcessStart,
        Syscall::ProcessExit,
        Syscall::ThreadCreate,
        Syscall::ThreadStart,
        Syscall::ThreadExit,
        Syscall::TaskKill,
        Syscall::ChannelCreate,
        Syscall::ChannelWrite,
        Syscall::ChannelRead,
        Syscall::DebugWrite,
        Syscall::ClockGetMonotonic,
        Syscall::SystemGetPageSize,
        Syscall::Nanosleep,
        Syscall::DebugSendCommand,
        Syscall::FutexWait,
        Syscall::FutexWake,
        Syscall::FutexRequeue,
        Syscall::PortCreate,
        Syscall::PortQueue,
        Syscall::PortWait,
        Syscall::PortCancel,
        Syscall::ObjectWaitAsync,
        Syscall::EventCreate,
        Syscall::EventpairCreate,
        Syscall::ObjectSignalPeer,
        Syscall::TimerCreate,
        Syscall::TimerSet,
        Syscall::TimerCancel,
        Syscall::ObjectWaitMany,
        Syscall::SocketCreate,
        Syscall::SocketWrite,
        Syscall::SocketRead,
        Syscall::SocketSetDisposition,
        Syscall::JobCreate,
        Syscall::ObjectGetChild,
        Syscall::ChannelCall,
        Syscall::CprngDraw,
        Syscall::CprngAddEntropy,
    ];

    /// The system call with number `number` (the full `x16` value), or `None` if there is
    /// none; the kernel then returns `ZX_ERR_BAD_SYSCALL`.
    pub const fn from_number(number: u64) -> Option<Syscall> {
        if number < Syscall::COUNT as u64 {
            Some(Syscall::ALL[number as usize])
        } else {
            None
        }
    }

    /// The number passed in `x16`.
    pub const fn number(self) -> u32 {
        self as u32
    }

    /// The C function name, e.g. `"zx_vmo_create"`. The C number macro is `ZX_SYS_` followed
    /// by the name without its `zx_` prefix (`ZX_SYS_vmo_create`).
    pub const fn name(self) -> &'static str {
        match self {
            Syscall::HandleClose => "zx_handle_close",
            Syscall::HandleCloseMany => "zx_handle_close_many",
            Syscall::HandleDuplicate => "zx_handle_duplicate",
            Syscall::HandleReplace => "zx_handle_replace",
            Syscall::ObjectGetProperty => "zx_object_get_property",
            Syscall::ObjectSetProperty => "zx_object_set_property",
            Syscall::ObjectGetInfo => "zx_object_get_info",
            Syscall::ObjectWaitOne => "zx_object_wait_one",
            Syscall::ObjectSignal => "zx_object_signal",
            Syscall::VmoCreate => "zx_vmo_create",
            Syscall::VmoRead => "zx_vmo_read",
            Syscall::VmoWrite => "zx_vmo_write",
            Syscall::VmoGetSize => "zx_vmo_get_size",
            Syscall::VmoSetSize => "zx_vmo_set_size",
            Syscall::VmoClone => "zx_vmo_clone",
            Syscall::VmoCreateChild => "zx_vmo_create_child",
            Syscall::VmoOpRange => "zx_vmo_op_range",
            Syscall::VmarMap => "zx_vmar_map",
            Syscall::VmarUnmap => "zx_vmar_unmap",
            Syscall::VmarProtect => "zx_vmar_protect",
            Syscall::VmarAllocate => "zx_vmar_allocate",
            Syscall::VmarDestroy => "zx_vmar_destroy",
            Syscall::ProcessCreate => "zx_process_create",
            Syscall::ProcessStart => "zx_process_start",
            Syscall::ProcessExit => "zx_process_exit",
            Syscall::ThreadCreate => "zx_thread_create",
            Syscall::ThreadStart => "zx_thread_start",
            Syscall::ThreadExit => "zx_thread_exit",
            Syscall::TaskKill => "zx_task_kill",
            Syscall::ChannelCreate => "zx_channel_create",
            Syscall::ChannelWrite => "zx_channel_write",
            Syscall::ChannelRead => "zx_channel_read",
            Syscall::DebugWrite => "zx_debug_write",
            Syscall::ClockGetMonotonic => "zx_clock_get_monotonic",
            Syscall::SystemGetPageSize => "zx_system_get_page_size",
            Syscall::Nanosleep => "zx_nanosleep",
            Syscall::DebugSendCommand => "zx_debug_send_command",
            Syscall::FutexWait => "zx_futex_wait",
            Syscall::FutexWake => "zx_futex_wake",
            Syscall::FutexRequeue => "zx_futex_requeue",
            Syscall::PortCreate => "zx_port_create",
            Syscall::PortQueue => "zx_port_queue",
            Syscall::PortWait => "zx_port_wait",
            Syscall::PortCancel => "zx_port_cancel",
            Syscall::ObjectWaitAsync => "zx_object_wait_async",
            Syscall::EventCreate => "zx_event_create",
            Syscall::EventpairCreate => "zx_eventpair_create",
            Syscall::ObjectSignalPeer => "zx_object_signal_peer",
            Syscall::TimerCreate => "zx_timer_create",
            Syscall::TimerSet => "zx_timer_set",
            Syscall::TimerCancel => "zx_timer_cancel",
            Syscall::ObjectWaitMany => "zx_object_wait_many",
            Syscall::SocketCreate => "zx_socket_create",
            Syscall::SocketWrite => "zx_socket_write",
            Syscall::SocketRead => "zx_socket_read",
            Syscall::SocketSetDisposition => "zx_socket_set_disposition",
            Syscall::JobCreate => "zx_job_create",
            Syscall::ObjectGetChild => "zx_object_get_child",
            Syscall::ChannelCall => "zx_channel_call",
            Syscall::CprngDraw => "zx_cprng_draw",
            Syscall::CprngAddEntropy => "zx_cprng_add_entropy",
        }
    }

    /// How many argument registers (`x0`..) the call reads, per its C prototype.
    pub const fn arg_count(self) -> usize {
        match self {
            Syscall::ThreadExit | Syscall::ClockGetMonotonic | Syscall::SystemGetPageSize => 0,
            Syscall::HandleClose
            | Syscall::VmarDestroy
            | Syscall::ProcessExit
            | Syscall::TaskKill
            | Syscall::Nanosleep
            | Syscall::TimerCancel => 1,
            Syscall::HandleCloseMany
            | Syscall::VmoGetSize
            | Syscall::VmoSetSize
            | Syscall::DebugWrite
            | Syscall::FutexWake
            | Syscall::PortCreate
            | Syscall::PortQueue
            | Syscall::EventCreate
            | Syscall::CprngDraw
            | Syscall::CprngAddEntropy => 2,
            Syscall::HandleDuplicate
            | Syscall::HandleReplace
            | Syscall::ObjectSignal
            | Syscall::VmoCreate
            | Syscall::VmarUnmap
            | Syscall::ChannelCreate
            | Syscall::DebugSendCommand
            | Syscall::PortWait
            | Syscall::PortCancel
            | Syscall::EventpairCreate
            | Syscall::ObjectSignalPeer
            | Syscall::TimerCreate
            | Syscall::TimerSet
            | Syscall::ObjectWaitMany
            | Syscall::SocketCreate
            | Syscall::SocketSetDisposition
            | Syscall::JobCreate => 3,
            Syscall::ObjectGetProperty
            | Syscall::ObjectSetProperty
            | Syscall::ObjectWaitOne
            | Syscall::VmoRead
            | Syscall::VmoWrite
            | Syscall::VmarProtect
            | Syscall::FutexWait
            | Syscall::ObjectGetChild => 4,
            Syscall::VmoClone
            | Syscall::VmoCreateChild
            | Syscall::ThreadCreate
            | Syscall::ThreadStart
            | Syscall::ObjectWaitAsync
            | Syscall::SocketWrite
            | Syscall::SocketRead => 5,
            Syscall::ObjectGetInfo
            | Syscall::VmoOpRange
            | Syscall::VmarAllocate
            | Syscall::ProcessCreate
            | Syscall::ProcessStart
            | Syscall::ChannelWrite
            | Syscall::FutexRequeue
            | Syscall::ChannelCall => 6,
            Syscall::VmarMap => 7,
            Syscall::ChannelRead => 8,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_round_trip() {
        for (i, s) in Syscall::ALL.iter().enumerate() {
            assert_eq!(s.number() as usize, i, "{s:?}");
            assert_eq!(*s as u32 as usize, i);
            assert_eq!(Syscall::from_number(i as u64), Some(*s));
        }
        assert_eq!(Syscall::from_number(Syscall::COUNT as u64), None);
        assert_eq!(Syscall::from_number(u64::MAX), None);
        assert_eq!(Syscall::from_number(1 << 32), None);
        assert_eq!(Syscall::from_number(u32::MAX as u64 + 10), None);
    }

    #[test]
    fn order_and_names() {
        assert_eq!(Syscall::HandleClose as u32, 0);
        assert_eq!(Syscall::VmoCreate as u32, 9);
        assert_eq!(Syscall::VmarMap as u32, 17);
        assert_eq!(Syscall::ChannelRead as u32, 31);
        assert_eq!(Syscall::Nanosleep as u32, 35);
        let mut names: std::vec::Vec<&str> = Syscall::ALL.iter().map(|s| s.name()).collect();
        assert!(names.iter().all(|n| n.starts_with("zx_")));
        names.sort();
        names.dedup();
        assert_eq!(names.len(), Syscall::COUNT);
        assert_eq!(Syscall::VmoCreateChild.name(), "zx_vmo_create_child");
    }

    #[test]
    fn arg_counts_fit_registers() {
        for s in Syscall::ALL {
            assert!(s.arg_count() <= 8, "{s:?}");
        }
        assert_eq!(Syscall::ChannelRead.arg_count(), 8);
        assert_eq!(Syscall::VmarMap.arg_count(), 7);
        assert_eq!(Syscall::ThreadExit.arg_count(), 0);
    }
}
