/* The system calls of the kernel, with the option constants they take.
 *
 * Prototypes are written exactly as Zircon's documentation writes them. Calling convention
 * (aarch64): `svc #0`, number in x16 (see <zircon/syscall-numbers.h>), arguments in x0..x7,
 * result in x0. Constants are checked against the Rust `abi` crate and the prototypes by
 * abi/tests/c_headers.rs and abi/tests/c/prototypes.c.
 *
 * Needs only <stdint.h> and <stddef.h>; valid C11 and C++, also with -ffreestanding.
 */
#ifndef ZIRCON_SYSCALLS_H_
#define ZIRCON_SYSCALLS_H_

#include <zircon/types.h>
#include <zircon/errors.h>
#include <zircon/rights.h>
#include <zircon/syscall-numbers.h>
#include <zircon/syscalls/object.h>
#include <zircon/syscalls/port.h>

/* zx_timer_create() options and clocks. */
#define ZX_TIMER_SLACK_CENTER ((uint32_t)0u)
#define ZX_TIMER_SLACK_EARLY ((uint32_t)1u)
#define ZX_TIMER_SLACK_LATE ((uint32_t)2u)
#define ZX_CLOCK_MONOTONIC ((zx_clock_t)0u)

/* zx_object_wait_many() */
#define ZX_WAIT_MANY_MAX_ITEMS ((size_t)64u)
/* zx_wait_item_t and zx_channel_call_args_t are in <zircon/types.h>. */

/* zx_socket_*() options. */
#define ZX_SOCKET_STREAM ((uint32_t)0u)
#define ZX_SOCKET_DATAGRAM ((uint32_t)1u << 0)
#define ZX_SOCKET_PEEK ((uint32_t)1u << 3)
#define ZX_SOCKET_DISPOSITION_WRITE_DISABLED ((uint32_t)1u << 0)
#define ZX_SOCKET_DISPOSITION_WRITE_ENABLED ((uint32_t)1u << 1)


/* zx_cprng_*() */
#define ZX_CPRNG_DRAW_MAX_LEN ((size_t)256u)
#define ZX_CPRNG_ADD_ENTROPY_MAX_LEN ((size_t)256u)

/* zx_vmo_create() options. 0 makes a resizable VMO. */
#define ZX_VMO_NON_RESIZABLE ((uint32_t)1u)

/* zx_vmo_clone() options. COPY_ON_WRITE is required. */
#define ZX_VMO_CLONE_COPY_ON_WRITE ((uint32_t)1u << 0)
#define ZX_VMO_CLONE_NON_RESIZEABLE ((uint32_t)1u << 1)

/* zx_vmo_create_child() options: exactly one of SNAPSHOT and SLICE. */
#define ZX_VMO_CHILD_SNAPSHOT ((uint32_t)1u << 0)
#define ZX_VMO_CHILD_RESIZABLE ((uint32_t)1u << 2)
#define ZX_VMO_CHILD_SLICE ((uint32_t)1u << 3)
#define ZX_VMO_CHILD_NO_WRITE ((uint32_t)1u << 5)

/* zx_vmo_op_range() operations. */
#define ZX_VMO_OP_COMMIT ((uint32_t)1u)
#define ZX_VMO_OP_DECOMMIT ((uint32_t)2u)
#define ZX_VMO_OP_LOCK ((uint32_t)3u)
#define ZX_VMO_OP_UNLOCK ((uint32_t)4u)
#define ZX_VMO_OP_CACHE_SYNC ((uint32_t)6u)
#define ZX_VMO_OP_CACHE_INVALIDATE ((uint32_t)7u)
#define ZX_VMO_OP_CACHE_CLEAN ((uint32_t)8u)
#define ZX_VMO_OP_CACHE_CLEAN_INVALIDATE ((uint32_t)9u)
#define ZX_VMO_OP_ZERO ((uint32_t)10u)

/* zx_vmar_map(), zx_vmar_protect() and zx_vmar_allocate() options. */
#define ZX_VM_PERM_READ ((zx_vm_option_t)1u << 0)
#define ZX_VM_PERM_WRITE ((zx_vm_option_t)1u << 1)
#define ZX_VM_PERM_EXECUTE ((zx_vm_option_t)1u << 2)
#define ZX_VM_COMPACT ((zx_vm_option_t)1u << 3)
#define ZX_VM_SPECIFIC ((zx_vm_option_t)1u << 4)
#define ZX_VM_SPECIFIC_OVERWRITE ((zx_vm_option_t)1u << 5)
#define ZX_VM_CAN_MAP_SPECIFIC ((zx_vm_option_t)1u << 6)
#define ZX_VM_CAN_MAP_READ ((zx_vm_option_t)1u << 7)
#define ZX_VM_CAN_MAP_WRITE ((zx_vm_option_t)1u << 8)
#define ZX_VM_CAN_MAP_EXECUTE ((zx_vm_option_t)1u << 9)
#define ZX_VM_MAP_RANGE ((zx_vm_option_t)1u << 10)
#define ZX_VM_REQUIRE_NON_RESIZABLE ((zx_vm_option_t)1u << 11)

/* Alignment requests: (n << ZX_VM_ALIGN_BASE) asks for 2^n-byte alignment. */
#define ZX_VM_ALIGN_BASE ((zx_vm_option_t)24u)
#define ZX_VM_ALIGN_1KB ((zx_vm_option_t)10u << ZX_VM_ALIGN_BASE)
#define ZX_VM_ALIGN_2KB ((zx_vm_option_t)11u << ZX_VM_ALIGN_BASE)
#define ZX_VM_ALIGN_4KB ((zx_vm_option_t)12u << ZX_VM_ALIGN_BASE)
#define ZX_VM_ALIGN_8KB ((zx_vm_option_t)13u << ZX_VM_ALIGN_BASE)
#define ZX_VM_ALIGN_16KB ((zx_vm_option_t)14u << ZX_VM_ALIGN_BASE)
#define ZX_VM_ALIGN_32KB ((zx_vm_option_t)15u << ZX_VM_ALIGN_BASE)
#define ZX_VM_ALIGN_64KB ((zx_vm_option_t)16u << ZX_VM_ALIGN_BASE)
#define ZX_VM_ALIGN_128KB ((zx_vm_option_t)17u << ZX_VM_ALIGN_BASE)
#define ZX_VM_ALIGN_256KB ((zx_vm_option_t)18u << ZX_VM_ALIGN_BASE)
#define ZX_VM_ALIGN_512KB ((zx_vm_option_t)19u << ZX_VM_ALIGN_BASE)
#define ZX_VM_ALIGN_1MB ((zx_vm_option_t)20u << ZX_VM_ALIGN_BASE)
#define ZX_VM_ALIGN_2MB ((zx_vm_option_t)21u << ZX_VM_ALIGN_BASE)
#define ZX_VM_ALIGN_4MB ((zx_vm_option_t)22u << ZX_VM_ALIGN_BASE)
#define ZX_VM_ALIGN_8MB ((zx_vm_option_t)23u << ZX_VM_ALIGN_BASE)
#define ZX_VM_ALIGN_16MB ((zx_vm_option_t)24u << ZX_VM_ALIGN_BASE)
#define ZX_VM_ALIGN_32MB ((zx_vm_option_t)25u << ZX_VM_ALIGN_BASE)
#define ZX_VM_ALIGN_64MB ((zx_vm_option_t)26u << ZX_VM_ALIGN_BASE)
#define ZX_VM_ALIGN_128MB ((zx_vm_option_t)27u << ZX_VM_ALIGN_BASE)
#define ZX_VM_ALIGN_256MB ((zx_vm_option_t)28u << ZX_VM_ALIGN_BASE)
#define ZX_VM_ALIGN_512MB ((zx_vm_option_t)29u << ZX_VM_ALIGN_BASE)
#define ZX_VM_ALIGN_1GB ((zx_vm_option_t)30u << ZX_VM_ALIGN_BASE)
#define ZX_VM_ALIGN_2GB ((zx_vm_option_t)31u << ZX_VM_ALIGN_BASE)
#define ZX_VM_ALIGN_4GB ((zx_vm_option_t)32u << ZX_VM_ALIGN_BASE)

/* Durations in nanoseconds. */
#define ZX_NSEC(n) ((zx_duration_t)(n))
#define ZX_USEC(n) ((zx_duration_t)(n) * INT64_C(1000))
#define ZX_MSEC(n) ((zx_duration_t)(n) * INT64_C(1000000))
#define ZX_SEC(n) ((zx_duration_t)(n) * INT64_C(1000000000))

/* Marks the calls that never return. */
#if defined(__cplusplus)
#define __ZX_NORETURN [[noreturn]]
#elif defined(__STDC_VERSION__) && __STDC_VERSION__ >= 202311L
#define __ZX_NORETURN [[noreturn]]
#elif defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
#define __ZX_NORETURN _Noreturn
#else
#define __ZX_NORETURN __attribute__((__noreturn__))
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Handles */
zx_status_t zx_handle_close(zx_handle_t handle);
zx_status_t zx_handle_close_many(const zx_handle_t* handles, size_t num_handles);
zx_status_t zx_handle_duplicate(zx_handle_t handle, zx_rights_t rights, zx_handle_t* out);
zx_status_t zx_handle_replace(zx_handle_t handle, zx_rights_t rights, zx_handle_t* out);

/* Objects */
zx_status_t zx_object_get_property(zx_handle_t handle, uint32_t property, void* value,
                                   size_t value_size);
zx_status_t zx_object_set_property(zx_handle_t handle, uint32_t property, const void* value,
                                   size_t value_size);
zx_status_t zx_object_get_info(zx_handle_t handle, uint32_t topic, void* buffer,
                               size_t buffer_size, size_t* actual, size_t* avail);
zx_status_t zx_object_wait_one(zx_handle_t handle, zx_signals_t signals, zx_time_t deadline,
                               zx_signals_t* observed);
zx_status_t zx_object_signal(zx_handle_t handle, uint32_t clear_mask, uint32_t set_mask);

/* Virtual memory objects */
zx_status_t zx_vmo_create(uint64_t size, uint32_t options, zx_handle_t* out);
zx_status_t zx_vmo_read(zx_handle_t handle, void* buffer, uint64_t offset, size_t buffer_size);
zx_status_t zx_vmo_write(zx_handle_t handle, const void* buffer, uint64_t offset,
                         size_t buffer_size);
zx_status_t zx_vmo_get_size(zx_handle_t handle, uint64_t* size);
zx_status_t zx_vmo_set_size(zx_handle_t handle, uint64_t size);
zx_status_t zx_vmo_clone(zx_handle_t handle, uint32_t options, uint64_t offset, uint64_t size,
                         zx_handle_t* out);
zx_status_t zx_vmo_create_child(zx_handle_t handle, uint32_t options, uint64_t offset,
                                uint64_t size, zx_handle_t* out);
zx_status_t zx_vmo_op_range(zx_handle_t handle, uint32_t op, uint64_t offset, uint64_t size,
                            void* buffer, size_t buffer_size);

/* Virtual memory address regions */
zx_status_t zx_vmar_map(zx_handle_t handle, zx_vm_option_t options, size_t vmar_offset,
                        zx_handle_t vmo, uint64_t vmo_offset, size_t len,
                        zx_vaddr_t* mapped_addr);
zx_status_t zx_vmar_unmap(zx_handle_t handle, zx_vaddr_t addr, size_t len);
zx_status_t zx_vmar_protect(zx_handle_t handle, zx_vm_option_t options, zx_vaddr_t addr,
                            size_t len);
zx_status_t zx_vmar_allocate(zx_handle_t parent_vmar, zx_vm_option_t options, size_t offset,
                             size_t size, zx_handle_t* child_vmar, zx_vaddr_t* child_addr);
zx_status_t zx_vmar_destroy(zx_handle_t handle);

/* Processes and threads */
zx_status_t zx_process_create(zx_handle_t job, const char* name, size_t name_size,
                              uint32_t options, zx_handle_t* proc_handle,
                              zx_handle_t* vmar_handle);
zx_status_t zx_process_start(zx_handle_t handle, zx_handle_t thread, zx_vaddr_t entry,
                             zx_vaddr_t stack, zx_handle_t arg1, uintptr_t arg2);
__ZX_NORETURN void zx_process_exit(int64_t retcode);
zx_status_t zx_thread_create(zx_handle_t process, const char* name, size_t name_size,
                             uint32_t options, zx_handle_t* out);
zx_status_t zx_thread_start(zx_handle_t handle, zx_vaddr_t thread_entry, zx_vaddr_t stack,
                            uintptr_t arg1, uintptr_t arg2);
__ZX_NORETURN void zx_thread_exit(void);
zx_status_t zx_task_kill(zx_handle_t handle);

/* Channels */
zx_status_t zx_channel_create(uint32_t options, zx_handle_t* out0, zx_handle_t* out1);
zx_status_t zx_channel_write(zx_handle_t handle, uint32_t options, const void* bytes,
                             uint32_t num_bytes, const zx_handle_t* handles,
                             uint32_t num_handles);
zx_status_t zx_channel_read(zx_handle_t handle, uint32_t options, void* bytes,
                            zx_handle_t* handles, uint32_t num_bytes, uint32_t num_handles,
                            uint32_t* actual_bytes, uint32_t* actual_handles);

/* Console, time, system */
zx_status_t zx_debug_write(const char* buffer, size_t buffer_size);
zx_time_t zx_clock_get_monotonic(void);
uint32_t zx_system_get_page_size(void);
zx_status_t zx_nanosleep(zx_time_t deadline);
/* Kernel debug commands; only on a kernel booted with `kdebug` (else ZX_ERR_NOT_SUPPORTED).
 * `resource` is not checked yet (there are no resource objects). */
zx_status_t zx_debug_send_command(zx_handle_t resource, const char* buffer, size_t buffer_size);

/* Futexes */
zx_status_t zx_futex_wait(const zx_futex_t* value_ptr, zx_futex_t current_value,
                          zx_handle_t new_futex_owner, zx_time_t deadline);
zx_status_t zx_futex_wake(const zx_futex_t* value_ptr, uint32_t wake_count);
zx_status_t zx_futex_requeue(const zx_futex_t* value_ptr, uint32_t wake_count,
                             zx_futex_t current_value, const zx_futex_t* requeue_ptr,
                             uint32_t requeue_count, zx_handle_t new_requeue_owner);

/* Ports and asynchronous waits */
zx_status_t zx_port_create(uint32_t options, zx_handle_t* out);
zx_status_t zx_port_queue(zx_handle_t handle, const zx_port_packet_t* packet);
zx_status_t zx_port_wait(zx_handle_t handle, zx_time_t deadline, zx_port_packet_t* packet);
zx_status_t zx_port_cancel(zx_handle_t handle, zx_handle_t source, uint64_t key);
zx_status_t zx_object_wait_async(zx_handle_t handle, zx_handle_t port, uint64_t key,
                                 zx_signals_t signals, uint32_t options);

/* Events, event pairs, peers' signals */
zx_status_t zx_event_create(uint32_t options, zx_handle_t* out);
zx_status_t zx_eventpair_create(uint32_t options, zx_handle_t* out0, zx_handle_t* out1);
zx_status_t zx_object_signal_peer(zx_handle_t handle, uint32_t clear_mask, uint32_t set_mask);

/* Timers */
zx_status_t zx_timer_create(uint32_t options, zx_clock_t clock_id, zx_handle_t* out);
zx_status_t zx_timer_set(zx_handle_t handle, zx_time_t deadline, zx_duration_t slack);
zx_status_t zx_timer_cancel(zx_handle_t handle);

/* Waiting on several objects */
zx_status_t zx_object_wait_many(zx_wait_item_t* items, size_t num_items, zx_time_t deadline);

/* Sockets */
zx_status_t zx_socket_create(uint32_t options, zx_handle_t* out0, zx_handle_t* out1);
zx_status_t zx_socket_write(zx_handle_t handle, uint32_t options, const void* buffer,
                            size_t buffer_size, size_t* actual);
zx_status_t zx_socket_read(zx_handle_t handle, uint32_t options, void* buffer,
                           size_t buffer_size, size_t* actual);
zx_status_t zx_socket_set_disposition(zx_handle_t handle, uint32_t disposition,
                                      uint32_t disposition_peer);

/* Jobs and children */
zx_status_t zx_job_create(zx_handle_t parent_job, uint32_t options, zx_handle_t* out);
zx_status_t zx_object_get_child(zx_handle_t handle, uint64_t koid, zx_rights_t rights,
                                zx_handle_t* out);

/* Synchronous channel calls */
zx_status_t zx_channel_call(zx_handle_t handle, uint32_t options, zx_time_t deadline,
                            const zx_channel_call_args_t* args, uint32_t* actual_bytes,
                            uint32_t* actual_handles);

/* Randomness */
void zx_cprng_draw(void* buffer, size_t buffer_size);
zx_status_t zx_cprng_add_entropy(const void* buffer, size_t buffer_size);

/* The monotonic time `nanoseconds` from now, saturating at ZX_TIME_INFINITE and
 * ZX_TIME_INFINITE_PAST instead of overflowing. */
static inline zx_time_t zx_deadline_after(zx_duration_t nanoseconds) {
    zx_time_t now = zx_clock_get_monotonic();
    if (nanoseconds > 0 && now > ZX_TIME_INFINITE - nanoseconds) {
        return ZX_TIME_INFINITE;
    }
    if (nanoseconds < 0 && now < ZX_TIME_INFINITE_PAST - nanoseconds) {
        return ZX_TIME_INFINITE_PAST;
    }
    return now + nanoseconds;
}

#ifdef __cplusplus
}
#endif

#endif /* ZIRCON_SYSCALLS_H_ */
