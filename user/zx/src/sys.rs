//! The raw system calls and the ABI constants and types.
//!
//! Every call of `<zircon/syscalls.h>` is declared here with the C prototype's types
//! (`void*` is `*mut u8`, `const char*` is `*const u8`). Each is implemented by a stub of
//! three instructions, `mov x16, #N; svc #0; ret`, exported as the C symbol of the same
//! name, so Rust programs and C programs (through `libzircon.a`) share them. Arguments stay
//! in `x0`..`x7` where the caller put them and the result comes back in `x0`; the kernel
//! preserves every register but `x16` and `x17`, which the AAPCS64 already treats as
//! scratch across calls.
#![allow(non_camel_case_types)]

pub use abi::*;

extern "C" {
    // ---- Handles ----
    /// `zx_handle_close(handle)`.
    pub fn zx_handle_close(handle: zx_handle_t) -> zx_status_t;
    /// `zx_handle_close_many(handles, num_handles)`.
    pub fn zx_handle_close_many(handles: *const zx_handle_t, num_handles: usize) -> zx_status_t;
    /// `zx_handle_duplicate(handle, rights, out)`.
    pub fn zx_handle_duplicate(
        handle: zx_handle_t,
        rights: zx_rights_t,
        out: *mut zx_handle_t,
    ) -> zx_status_t;
    /// `zx_handle_replace(handle, rights, out)`.
    pub fn zx_handle_replace(
        handle: zx_handle_t,
        rights: zx_rights_t,
        out: *mut zx_handle_t,
    ) -> zx_status_t;

    // ---- Objects ----
    /// `zx_object_get_property(handle, property, value, value_size)`.
    pub fn zx_object_get_property(
        handle: zx_handle_t,
        property: u32,
        value: *mut u8,
        value_size: usize,
    ) -> zx_status_t;
    /// `zx_object_set_property(handle, property, value, value_size)`.
    pub fn zx_object_set_property(
        handle: zx_handle_t,
        property: u32,
        value: *const u8,
        value_size: usize,
    ) -> zx_status_t;
    /// `zx_object_get_info(handle, topic, buffer, buffer_size, actual, avail)`.
    pub fn zx_object_get_info(
        handle: zx_handle_t,
        topic: zx_object_info_topic_t,
        buffer: *mut u8,
        buffer_size: usize,
        actual: *mut usize,
        avail: *mut usize,
    ) -> zx_status_t;
    /// `zx_object_wait_one(handle, signals, deadline, observed)`.
    pub fn zx_object_wait_one(
        handle: zx_handle_t,
        signals: zx_signals_t,
        deadline: zx_time_t,
        observed: *mut zx_signals_t,
    ) -> zx_status_t;
    /// `zx_object_signal(handle, clear_mask, set_mask)`.
    pub fn zx_object_signal(handle: zx_handle_t, clear_mask: u32, set_mask: u32) -> zx_status_t;

    // ---- Virtual memory objects ----
    /// `zx_vmo_create(size, options, out)`.
    pub fn zx_vmo_create(size: u64, options: u32, out: *mut zx_handle_t) -> zx_status_t;
    /// `zx_vmo_read(handle, buffer, offset, buffer_size)`.
    pub fn zx_vmo_read(
        handle: zx_handle_t,
        buffer: *mut u8,
        offset: u64,
        buffer_size: usize,
    ) -> zx_status_t;
    /// `zx_vmo_write(handle, buffer, offset, buffer_size)`.
    pub fn zx_vmo_write(
        handle: zx_handle_t,
        buffer: *const u8,
        offset: u64,
        buffer_size: usize,
    ) -> zx_status_t;
    /// `zx_vmo_get_size(handle, size)`.
    pub fn zx_vmo_get_size(handle: zx_handle_t, size: *mut u64) -> zx_status_t;
    /// `zx_vmo_set_size(handle, size)`.
    pub fn zx_vmo_set_size(handle: zx_handle_t, size: u64) -> zx_status_t;
    /// `zx_vmo_clone(handle, options, offset, size, out)`.
    pub fn zx_vmo_clone(
        handle: zx_handle_t,
        options: u32,
        offset: u64,
        size: u64,
        out: *mut zx_handle_t,
    ) -> zx_status_t;
    /// `zx_vmo_create_child(handle, options, offset, size, out)`.
    pub fn zx_vmo_create_child(
        handle: zx_handle_t,
        options: u32,
        offset: u64,
        size: u64,
        out: *mut zx_handle_t,
    ) -> zx_status_t;
    /// `zx_vmo_op_range(handle, op, offset, size, buffer, buffer_size)`.
    pub fn zx_vmo_op_range(
        handle: zx_handle_t,
        op: u32,
        offset: u64,
        size: u64,
        buffer: *mut u8,
        buffer_size: usize,
    ) -> zx_status_t;

    // ---- Virtual memory address regions ----
    /// `zx_vmar_map(handle, options, vmar_offset, vmo, vmo_offset, len, mapped_addr)`.
    pub fn zx_vmar_map(
        handle: zx_handle_t,
        options: zx_vm_option_t,
        vmar_offset: usize,
        vmo: zx_handle_t,
        vmo_offset: u64,
        len: usize,
        mapped_addr: *mut zx_vaddr_t,
    ) -> zx_status_t;
    /// `zx_vmar_unmap(handle, addr, len)`.
    pub fn zx_vmar_unmap(handle: zx_handle_t, addr: zx_vaddr_t, len: usize) -> zx_status_t;
    /// `zx_vmar_protect(handle, options, addr, len)`.
    pub fn zx_vmar_protect(
        handle: zx_handle_t,
        options: zx_vm_option_t,
        addr: zx_vaddr_t,
        len: usize,
    ) -> zx_status_t;
    /// `zx_vmar_allocate(parent_vmar, options, offset, size, child_vmar, child_addr)`.
    pub fn zx_vmar_allocate(
        parent_vmar: zx_handle_t,
        options: zx_vm_option_t,
        offset: usize,
        size: usize,
        child_vmar: *mut zx_handle_t,
        child_addr: *mut zx_vaddr_t,
    ) -> zx_status_t;
    /// `zx_vmar_destroy(handle)`.
    pub fn zx_vmar_destroy(handle: zx_handle_t) -> zx_status_t;

    // ---- Processes and threads ----
    /// `zx_process_create(job, name, name_size, options, proc_handle, vmar_handle)`.
    pub fn zx_process_create(
        job: zx_handle_t,
        name: *const u8,
        name_size: usize,
        options: u32,
        proc_handle: *mut zx_handle_t,
        vmar_handle: *mut zx_handle_t,
    ) -> zx_status_t;
    /// `zx_process_start(handle, thread, entry, stack, arg1, arg2)`.
    pub fn zx_process_start(
        handle: zx_handle_t,
        thread: zx_handle_t,
        entry: zx_vaddr_t,
        stack: zx_vaddr_t,
        arg1: zx_handle_t,
        arg2: usize,
    ) -> zx_status_t;
    /// `zx_process_exit(retcode)`; does not return.
    pub fn zx_process_exit(retcode: i64) -> !;
    /// `zx_thread_create(process, name, name_size, options, out)`.
    pub fn zx_thread_create(
        process: zx_handle_t,
        name: *const u8,
        name_size: usize,
        options: u32,
        out: *mut zx_handle_t,
    ) -> zx_status_t;
    /// `zx_thread_start(handle, thread_entry, stack, arg1, arg2)`.
    pub fn zx_thread_start(
        handle: zx_handle_t,
        thread_entry: zx_vaddr_t,
        stack: zx_vaddr_t,
        arg1: usize,
        arg2: usize,
    ) -> zx_status_t;
    /// `zx_thread_exit()`; does not return.
    pub fn zx_thread_exit() -> !;
    /// `zx_task_kill(handle)`.
    pub fn zx_task_kill(handle: zx_handle_t) -> zx_status_t;

    // ---- Channels ----
    /// `zx_channel_create(options, out0, out1)`.
    pub fn zx_channel_create(
        options: u32,
        out0: *mut zx_handle_t,
        out1: *mut zx_handle_t,
    ) -> zx_status_t;
    /// `zx_channel_write(handle, options, bytes, num_bytes, handles, num_handles)`.
    pub fn zx_channel_write(
        handle: zx_handle_t,
        options: u32,
        bytes: *const u8,
        num_bytes: u32,
        handles: *const zx_handle_t,
        num_handles: u32,
    ) -> zx_status_t;
    /// `zx_channel_read(handle, options, bytes, handles, num_bytes, num_handles,
    /// actual_bytes, actual_handles)`.
    pub fn zx_channel_read(
        handle: zx_handle_t,
        options: u32,
        bytes: *mut u8,
        handles: *mut zx_handle_t,
        num_bytes: u32,
        num_handles: u32,
        actual_bytes: *mut u32,
        actual_handles: *mut u32,
    ) -> zx_status_t;

    // ---- Console, time, system ----
    /// `zx_debug_write(buffer, buffer_size)`.
    pub fn zx_debug_write(buffer: *const u8, buffer_size: usize) -> zx_status_t;
    /// `zx_clock_get_monotonic()`: the time itself, not a status.
    pub fn zx_clock_get_monotonic() -> zx_time_t;
    /// `zx_system_get_page_size()`: the page size itself, not a status.
    pub fn zx_system_get_page_size() -> u32;
    /// `zx_nanosleep(deadline)`.
    pub fn zx_nanosleep(deadline: zx_time_t) -> zx_status_t;
    /// `zx_debug_send_command(resource, buffer, buffer_size)`: a command for the kernel's
    /// debug facilities (`kdebug` boots only; see the kernel's `debug_send_command`).
    pub fn zx_debug_send_command(
        resource: zx_handle_t,
        buffer: *const u8,
        buffer_size: usize,
    ) -> zx_status_t;

    // ---- Futexes ----
    /// `zx_futex_wait(value_ptr, current_value, new_futex_owner, deadline)`.
    pub fn zx_futex_wait(
        value_ptr: *const zx_futex_t,
        current_value: zx_futex_t,
        new_futex_owner: zx_handle_t,
        deadline: zx_time_t,
    ) -> zx_status_t;
    /// `zx_futex_wake(value_ptr, wake_count)`.
    pub fn zx_futex_wake(value_ptr: *const zx_futex_t, wake_count: u32) -> zx_status_t;
    /// `zx_futex_requeue(value_ptr, wake_count, current_value, requeue_ptr, requeue_count,
    /// new_requeue_owner)`.
    pub fn zx_futex_requeue(
        value_ptr: *const zx_futex_t,
        wake_count: u32,
        current_value: zx_futex_t,
        requeue_ptr: *const zx_futex_t,
        requeue_count: u32,
        new_requeue_owner: zx_handle_t,
    ) -> zx_status_t;

    // ---- Ports ----
    /// `zx_port_create(options, out)`.
    pub fn zx_port_create(options: u32, out: *mut zx_handle_t) -> zx_status_t;
    /// `zx_port_queue(handle, packet)`.
    pub fn zx_port_queue(handle: zx_handle_t, packet: *const zx_port_packet_t) -> zx_status_t;
    /// `zx_port_wait(handle, deadline, packet)`.
    pub fn zx_port_wait(
        handle: zx_handle_t,
        deadline: zx_time_t,
        packet: *mut zx_port_packet_t,
    ) -> zx_status_t;
    /// `zx_port_cancel(handle, source, key)`.
    pub fn zx_port_cancel(handle: zx_handle_t, source: zx_handle_t, key: u64) -> zx_status_t;
    /// `zx_object_wait_async(handle, port, key, signals, options)`.
    pub fn zx_object_wait_async(
        handle: zx_handle_t,
        port: zx_handle_t,
        key: u64,
        signals: zx_signals_t,
        options: u32,
    ) -> zx_status_t;

    // ---- Events and event pairs ----
    /// `zx_event_create(options, out)`.
    pub fn zx_event_create(options: u32, out: *mut zx_handle_t) -> zx_status_t;
    /// `zx_eventpair_create(options, out0, out1)`.
    pub fn zx_eventpair_create(
        options: u32,
        out0: *mut zx_handle_t,
        out1: *mut zx_handle_t,
    ) -> zx_status_t;
    /// `zx_object_signal_peer(handle, clear_mask, set_mask)`.
    pub fn zx_object_signal_peer(
        handle: zx_handle_t,
        clear_mask: u32,
        set_mask: u32,
    ) -> zx_status_t;

    // ---- Timers ----
    /// `zx_timer_create(options, clock_id, out)`.
    pub fn zx_timer_create(
        options: u32,
        clock_id: zx_clock_t,
        out: *mut zx_handle_t,
    ) -> zx_status_t;
    /// `zx_timer_set(handle, deadline, slack)`.
    pub fn zx_timer_set(
        handle: zx_handle_t,
        deadline: zx_time_t,
        slack: zx_duration_t,
    ) -> zx_status_t;
    /// `zx_timer_cancel(handle)`.
    pub fn zx_timer_cancel(handle: zx_handle_t) -> zx_status_t;

    // ---- Waiting on several objects ----
    /// `zx_object_wait_many(items, num_items, deadline)`.
    pub fn zx_object_wait_many(
        items: *mut zx_wait_item_t,
        num_items: usize,
        deadline: zx_time_t,
    ) -> zx_status_t;

    // ---- Sockets ----
    /// `zx_socket_create(options, out0, out1)`.
    pub fn zx_socket_create(
        options: u32,
        out0: *mut zx_handle_t,
        out1: *mut zx_handle_t,
    ) -> zx_status_t;
    /// `zx_socket_write(handle, options, buffer, buffer_size, actual)`.
    pub fn zx_socket_write(
        handle: zx_handle_t,
        options: u32,
        buffer: *const u8,
        buffer_size: usize,
        actual: *mut usize,
    ) -> zx_status_t;
    /// `zx_socket_read(handle, options, buffer, buffer_size, actual)`.
    pub fn zx_socket_read(
        handle: zx_handle_t,
        options: u32,
        buffer: *mut u8,
        buffer_size: usize,
        actual: *mut usize,
    ) -> zx_status_t;
    /// `zx_socket_set_disposition(handle, disposition, disposition_peer)`.
    pub fn zx_socket_set_disposition(
        handle: zx_handle_t,
        disposition: u32,
        disposition_peer: u32,
    ) -> zx_status_t;

    // ---- Jobs ----
    /// `zx_job_create(parent_job, options, out)`.
    pub fn zx_job_create(
        parent_job: zx_handle_t,
        options: u32,
        out: *mut zx_handle_t,
    ) -> zx_status_t;
    /// `zx_object_get_child(handle, koid, rights, out)`.
    pub fn zx_object_get_child(
        handle: zx_handle_t,
        koid: u64,
        rights: zx_rights_t,
        out: *mut zx_handle_t,
    ) -> zx_status_t;

    // ---- Synchronous channel calls ----
    /// `zx_channel_call(handle, options, deadline, args, actual_bytes, actual_handles)`.
    pub fn zx_channel_call(
        handle: zx_handle_t,
        options: u32,
        deadline: zx_time_t,
        args: *const zx_channel_call_args_t,
        actual_bytes: *mut u32,
        actual_handles: *mut u32,
    ) -> zx_status_t;

    // ---- Randomness ----
    /// `zx_cprng_draw(buffer, buffer_size)`: fills the buffer; cannot fail (a bad buffer
    /// kills the process).
    pub fn zx_cprng_draw(buffer: *mut u8, buffer_size: usize);
    /// `zx_cprng_add_entropy(buffer, buffer_size)`.
    pub fn zx_cprng_add_entropy(buffer: *const u8, buffer_size: usize) -> zx_status_t;
}

/// The monotonic time `nanoseconds` from now, saturating at `ZX_TIME_INFINITE` and
/// `ZX_TIME_INFINITE_PAST` (the `static inline` helper of `<zircon/syscalls.h>`).
pub fn zx_deadline_after(nanoseconds: zx_duration_t) -> zx_time_t {
    // SAFETY: `zx_clock_get_monotonic` takes no arguments and touches no memory.
    let now = unsafe { zx_clock_get_monotonic() };
    now.saturating_add(nanoseconds)
}

/// Emits one stub per call: its own section (so unused ones are garbage collected), a global
/// function symbol of the C name, `mov x16, #N; svc #0`, then `ret`, or for the calls that
/// never return a trap in case the kernel does return.
#[cfg(all(target_arch = "aarch64", target_os = "none"))]
macro_rules! syscall_stubs {
    ($( $name:ident = $call:ident $(, $noreturn:ident)?; )*) => {
        /// (C name, number) of every stub, in the order of the list.
        const STUBS: &[(&str, u32)] = &[$( (stringify!($name), abi::Syscall::$call as u32) ),*];
        $( syscall_stubs!(@stub $name, $call $(, $noreturn)?); )*
    };
    (@stub $name:ident, $call:ident $(, $noreturn:ident)?) => {
        core::arch::global_asm!(
            concat!(".section .text.", stringify!($name), ",\"ax\",%progbits"),
            concat!(".globl ", stringify!($name)),
            concat!(".type ", stringify!($name), ",%function"),
            ".p2align 2",
            concat!(stringify!($name), ":"),
            "mov x16, #{number}",
            "svc #0",
            syscall_stubs!(@tail $($noreturn)?),
            concat!(".size ", stringify!($name), ", . - ", stringify!($name)),
            ".text",
            number = const abi::Syscall::$call as u32,
        );
    };
    (@tail) => { "ret" };
    (@tail noreturn) => { "brk #0x1" };
}

#[cfg(all(target_arch = "aarch64", target_os = "none"))]
syscall_stubs! {
    zx_handle_close = HandleClose;
    zx_handle_close_many = HandleCloseMany;
    zx_handle_duplicate = HandleDuplicate;
    zx_handle_replace = HandleReplace;
    zx_object_get_property = ObjectGetProperty;
    zx_object_set_property = ObjectSetProperty;
    zx_object_get_info = ObjectGetInfo;
    zx_object_wait_one = ObjectWaitOne;
    zx_object_signal = ObjectSignal;
    zx_vmo_create = VmoCreate;
    zx_vmo_read = VmoRead;
    zx_vmo_write = VmoWrite;
    zx_vmo_get_size = VmoGetSize;
    zx_vmo_set_size = VmoSetSize;
    zx_vmo_clone = VmoClone;
    zx_vmo_create_child = VmoCreateChild;
    zx_vmo_op_range = VmoOpRange;
    zx_vmar_map = VmarMap;
    zx_vmar_unmap = VmarUnmap;
    zx_vmar_protect = VmarProtect;
    zx_vmar_allocate = VmarAllocate;
    zx_vmar_destroy = VmarDestroy;
    zx_process_create = ProcessCreate;
    zx_process_start = ProcessStart;
    zx_process_exit = ProcessExit, noreturn;
    zx_thread_create = ThreadCreate;
    zx_thread_start = ThreadStart;
    zx_thread_exit = ThreadExit, noreturn;
    zx_task_kill = TaskKill;
    zx_channel_create = ChannelCreate;
    zx_channel_write = ChannelWrite;
    zx_channel_read = ChannelRead;
    zx_debug_write = DebugWrite;
    zx_clock_get_monotonic = ClockGetMonotonic;
    zx_system_get_page_size = SystemGetPageSize;
    zx_nanosleep = Nanosleep;
    zx_debug_send_command = DebugSendCommand;
    zx_futex_wait = FutexWait;
    zx_futex_wake = FutexWake;
    zx_futex_requeue = FutexRequeue;
    zx_port_create = PortCreate;
    zx_port_queue = PortQueue;
    zx_port_wait = PortWait;
    zx_port_cancel = PortCancel;
    zx_object_wait_async = ObjectWaitAsync;
    zx_event_create = EventCreate;
    zx_eventpair_create = EventpairCreate;
    zx_object_signal_peer = ObjectSignalPeer;
    zx_timer_create = TimerCreate;
    zx_timer_set = TimerSet;
    zx_timer_cancel = TimerCancel;
    zx_object_wait_many = ObjectWaitMany;
    zx_socket_create = SocketCreate;
    zx_socket_write = SocketWrite;
    zx_socket_read = SocketRead;
    zx_socket_set_disposition = SocketSetDisposition;
    zx_job_create = JobCreate;
    zx_object_get_child = ObjectGetChild;
    zx_channel_call = ChannelCall;
    zx_cprng_draw = CprngDraw;
    zx_cprng_add_entropy = CprngAddEntropy;
}

/// The stub list covers every call exactly once, each under its own C name: entry `i` is
/// `abi::Syscall::ALL[i]` (checked at compile time).
#[cfg(all(target_arch = "aarch64", target_os = "none"))]
const _: () = {
    assert!(STUBS.len() == abi::Syscall::COUNT);
    let mut i = 0;
    while i < STUBS.len() {
        let call = abi::Syscall::ALL[i];
        assert!(STUBS[i].1 == call.number());
        let (a, b) = (STUBS[i].0.as_bytes(), call.name().as_bytes());
        assert!(a.len() == b.len());
        let mut j = 0;
        while j < a.len() {
            assert!(a[j] == b[j]);
            j += 1;
        }
        i += 1;
    }
};
