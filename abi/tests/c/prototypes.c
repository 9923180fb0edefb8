/* Checks the system-call prototypes of <zircon/syscalls.h>.
 *
 * Compiled by abi/tests/c_headers.rs as C11 and as C++17, with the host compilers and the
 * aarch64 cross compiler, with -Werror. Each pointer below has the exact signature of
 * Zircon's documentation; initializing it from a declaration with any other parameter or
 * return type is an error (C: incompatible pointer types; C++: no conversion). In C the
 * documented declarations are also repeated, which conflicts with a different prototype.
 */
#include <zircon/syscalls.h>

#ifndef __cplusplus
zx_status_t zx_handle_close(zx_handle_t handle);
zx_status_t zx_handle_close_many(const zx_handle_t* handles, size_t num_handles);
zx_status_t zx_handle_duplicate(zx_handle_t handle, zx_rights_t rights, zx_handle_t* out);
zx_status_t zx_handle_replace(zx_handle_t handle, zx_rights_t rights, zx_handle_t* out);
zx_status_t zx_object_get_property(zx_handle_t handle, uint32_t property, void* value,
                                   size_t value_size);
zx_status_t zx_object_set_property(zx_handle_t handle, uint32_t property, const void* value,
                                   size_t value_size);
zx_status_t zx_object_get_info(zx_handle_t handle, uint32_t topic, void* buffer,
                               size_t buffer_size, size_t* actual, size_t* avail);
zx_status_t zx_object_wait_one(zx_handle_t handle, zx_signals_t signals, zx_time_t deadline,
                               zx_signals_t* observed);
zx_status_t zx_object_signal(zx_handle_t handle, uint32_t clear_mask, uint32_t set_mask);
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
zx_status_t zx_vmar_map(zx_handle_t handle, zx_vm_option_t options, size_t vmar_offset,
                        zx_handle_t vmo, uint64_t vmo_offset, size_t len,
                        zx_vaddr_t* mapped_addr);
zx_status_t zx_vmar_unmap(zx_handle_t handle, zx_vaddr_t addr, size_t len);
zx_status_t zx_vmar_protect(zx_handle_t handle, zx_vm_option_t options, zx_vaddr_t addr,
                            size_t len);
zx_status_t zx_vmar_allocate(zx_handle_t parent_vmar, zx_vm_option_t options, size_t offset,
                             size_t size, zx_handle_t* child_vmar, zx_vaddr_t* child_addr);
zx_status_t zx_vmar_destroy(zx_handle_t handle);
zx_status_t zx_process_create(zx_handle_t job, const char* name, size_t name_size,
                              uint32_t options, zx_handle_t* proc_handle,
                              zx_handle_t* vmar_handle);
zx_status_t zx_process_start(zx_handle_t handle, zx_handle_t thread, zx_vaddr_t entry,
                             zx_vaddr_t stack, zx_handle_t arg1, uintptr_t arg2);
_Noreturn void zx_process_exit(int64_t retcode);
zx_status_t zx_thread_create(zx_handle_t process, const char* name, size_t name_size,
                             uint32_t options, zx_handle_t* out);
zx_status_t zx_thread_start(zx_handle_t handle, zx_vaddr_t thread_entry, zx_vaddr_t stack,
                            uintptr_t arg1, uintptr_t arg2);
_Noreturn void zx_thread_exit(void);
zx_status_t zx_task_kill(zx_handle_t handle);
zx_status_t zx_channel_create(uint32_t options, zx_handle_t* out0, zx_handle_t* out1);
zx_status_t zx_channel_write(zx_handle_t handle, uint32_t options, const void* bytes,
                             uint32_t num_bytes, const zx_handle_t* handles,
                             uint32_t num_handles);
zx_status_t zx_channel_read(zx_handle_t handle, uint32_t options, void* bytes,
                            zx_handle_t* handles, uint32_t num_bytes, uint32_t num_handles,
                            uint32_t* actual_bytes, uint32_t* actual_handles);
zx_status_t zx_debug_write(const char* buffer, size_t buffer_size);
zx_time_t zx_clock_get_monotonic(void);
uint32_t zx_system_get_page_size(void);
zx_status_t zx_nanosleep(zx_time_t deadline);
zx_status_t zx_debug_send_command(zx_handle_t resource, const char* buffer, size_t buffer_size);
zx_status_t zx_futex_wait(const zx_futex_t* value_ptr, zx_futex_t current_value,
                          zx_handle_t new_futex_owner, zx_time_t deadline);
zx_status_t zx_futex_wake(const zx_futex_t* value_ptr, uint32_t wake_count);
zx_status_t zx_futex_requeue(const zx_futex_t* value_ptr, uint32_t wake_count,
                             zx_futex_t current_value, const zx_futex_t* requeue_ptr,
                             uint32_t requeue_count, zx_handle_t new_requeue_owner);
zx_status_t zx_port_create(uint32_t options, zx_handle_t* out);
zx_status_t zx_port_queue(zx_handle_t handle, const zx_port_packet_t* packet);
zx_status_t zx_port_wait(zx_handle_t handle, zx_time_t deadline, zx_port_packet_t* packet);
zx_status_t zx_port_cancel(zx_handle_t handle, zx_handle_t source, uint64_t key);
zx_status_t zx_object_wait_async(zx_handle_t handle, zx_handle_t port, uint64_t key,
                                 zx_signals_t signals, uint32_t options);
zx_status_t zx_event_create(uint32_t options, zx_handle_t* out);
zx_status_t zx_eventpair_create(uint32_t options, zx_handle_t* out0, zx_handle_t* out1);
zx_status_t zx_object_signal_peer(zx_handle_t handle, uint32_t clear_mask, uint32_t set_mask);
zx_status_t zx_timer_create(uint32_t options, zx_clock_t clock_id, zx_handle_t* out);
zx_status_t zx_timer_set(zx_handle_t handle, zx_time_t deadline, zx_duration_t slack);
zx_status_t zx_timer_cancel(zx_handle_t handle);
zx_status_t zx_object_wait_many(zx_wait_item_t* items, size_t num_items, zx_time_t deadline);
zx_status_t zx_socket_create(uint32_t options, zx_handle_t* out0, zx_handle_t* out1);
zx_status_t zx_socket_write(zx_handle_t handle, uint32_t options, const void* buffer,
                            size_t buffer_size, size_t* actual);
zx_status_t zx_socket_read(zx_handle_t handle, uint32_t options, void* buffer,
                           size_t buffer_size, size_t* actual);
zx_status_t zx_socket_set_disposition(zx_handle_t handle, uint32_t disposition,
                                      uint32_t disposition_peer);
zx_status_t zx_job_create(zx_handle_t parent_job, uint32_t options, zx_handle_t* out);
zx_status_t zx_object_get_child(zx_handle_t handle, uint64_t koid, zx_rights_t rights,
                                zx_handle_t* out);
zx_status_t zx_channel_call(zx_handle_t handle, uint32_t options, zx_time_t deadline,
                            const zx_channel_call_args_t* args, uint32_t* actual_bytes,
                            uint32_t* actual_handles);
void zx_cprng_draw(void* buffer, size_t buffer_size);
zx_status_t zx_cprng_add_entropy(const void* buffer, size_t buffer_size);
#endif

/* Function pointers with the documented signatures. */
zx_status_t (*p_handle_close)(zx_handle_t) = zx_handle_close;
zx_status_t (*p_handle_close_many)(const zx_handle_t*, size_t) = zx_handle_close_many;
zx_status_t (*p_handle_duplicate)(zx_handle_t, zx_rights_t, zx_handle_t*) = zx_handle_duplicate;
zx_status_t (*p_handle_replace)(zx_handle_t, zx_rights_t, zx_handle_t*) = zx_handle_replace;
zx_status_t (*p_object_get_property)(zx_handle_t, uint32_t, void*, size_t) =
    zx_object_get_property;
zx_status_t (*p_object_set_property)(zx_handle_t, uint32_t, const void*, size_t) =
    zx_object_set_property;
zx_status_t (*p_object_get_info)(zx_handle_t, uint32_t, void*, size_t, size_t*, size_t*) =
    zx_object_get_info;
zx_status_t (*p_object_wait_one)(zx_handle_t, zx_signals_t, zx_time_t, zx_signals_t*) =
    zx_object_wait_one;
zx_status_t (*p_object_signal)(zx_handle_t, uint32_t, uint32_t) = zx_object_signal;
zx_status_t (*p_vmo_create)(uint64_t, uint32_t, zx_handle_t*) = zx_vmo_create;
zx_status_t (*p_vmo_read)(zx_handle_t, void*, uint64_t, size_t) = zx_vmo_read;
zx_status_t (*p_vmo_write)(zx_handle_t, const void*, uint64_t, size_t) = zx_vmo_write;
zx_status_t (*p_vmo_get_size)(zx_handle_t, uint64_t*) = zx_vmo_get_size;
zx_status_t (*p_vmo_set_size)(zx_handle_t, uint64_t) = zx_vmo_set_size;
zx_status_t (*p_vmo_clone)(zx_handle_t, uint32_t, uint64_t, uint64_t, zx_handle_t*) =
    zx_vmo_clone;
zx_status_t (*p_vmo_create_child)(zx_handle_t, uint32_t, uint64_t, uint64_t, zx_handle_t*) =
    zx_vmo_create_child;
zx_status_t (*p_vmo_op_range)(zx_handle_t, uint32_t, uint64_t, uint64_t, void*, size_t) =
    zx_vmo_op_range;
zx_status_t (*p_vmar_map)(zx_handle_t, zx_vm_option_t, size_t, zx_handle_t, uint64_t, size_t,
                          zx_vaddr_t*) = zx_vmar_map;
zx_status_t (*p_vmar_unmap)(zx_handle_t, zx_vaddr_t, size_t) = zx_vmar_unmap;
zx_status_t (*p_vmar_protect)(zx_handle_t, zx_vm_option_t, zx_vaddr_t, size_t) =
    zx_vmar_protect;
zx_status_t (*p_vmar_allocate)(zx_handle_t, zx_vm_option_t, size_t, size_t, zx_handle_t*,
                               zx_vaddr_t*) = zx_vmar_allocate;
zx_status_t (*p_vmar_destroy)(zx_handle_t) = zx_vmar_destroy;
zx_status_t (*p_process_create)(zx_handle_t, const char*, size_t, uint32_t, zx_handle_t*,
                                zx_handle_t*) = zx_process_create;
zx_status_t (*p_process_start)(zx_handle_t, zx_handle_t, zx_vaddr_t, zx_vaddr_t, zx_handle_t,
                               uintptr_t) = zx_process_start;
void (*p_process_exit)(int64_t) = zx_process_exit;
zx_status_t (*p_thread_create)(zx_handle_t, const char*, size_t, uint32_t, zx_handle_t*) =
    zx_thread_create;
zx_status_t (*p_thread_start)(zx_handle_t, zx_vaddr_t, zx_vaddr_t, uintptr_t, uintptr_t) =
    zx_thread_start;
void (*p_thread_exit)(void) = zx_thread_exit;
zx_status_t (*p_task_kill)(zx_handle_t) = zx_task_kill;
zx_status_t (*p_channel_create)(uint32_t, zx_handle_t*, zx_handle_t*) = zx_channel_create;
zx_status_t (*p_channel_write)(zx_handle_t, uint32_t, const void*, uint32_t,
                               const zx_handle_t*, uint32_t) = zx_channel_write;
zx_status_t (*p_channel_read)(zx_handle_t, uint32_t, void*, zx_handle_t*, uint32_t, uint32_t,
                              uint32_t*, uint32_t*) = zx_channel_read;
zx_status_t (*p_debug_write)(const char*, size_t) = zx_debug_write;
zx_time_t (*p_clock_get_monotonic)(void) = zx_clock_get_monotonic;
uint32_t (*p_system_get_page_size)(void) = zx_system_get_page_size;
zx_status_t (*p_nanosleep)(zx_time_t) = zx_nanosleep;
zx_status_t (*p_debug_send_command)(zx_handle_t, const char*, size_t) = zx_debug_send_command;
zx_status_t (*p_futex_wait)(const zx_futex_t*, zx_futex_t, zx_handle_t, zx_time_t) = zx_futex_wait;
zx_status_t (*p_futex_wake)(const zx_futex_t*, uint32_t) = zx_futex_wake;
zx_status_t (*p_futex_requeue)(const zx_futex_t*, uint32_t, zx_futex_t, const zx_futex_t*, uint32_t,
                               zx_handle_t) = zx_futex_requeue;
zx_status_t (*p_port_create)(uint32_t, zx_handle_t*) = zx_port_create;
zx_status_t (*p_port_queue)(zx_handle_t, const zx_port_packet_t*) = zx_port_queue;
zx_status_t (*p_port_wait)(zx_handle_t, zx_time_t, zx_port_packet_t*) = zx_port_wait;
zx_status_t (*p_port_cancel)(zx_handle_t, zx_handle_t, uint64_t) = zx_port_cancel;
zx_status_t (*p_object_wait_async)(zx_handle_t, zx_handle_t, uint64_t, zx_signals_t,
                                   uint32_t) = zx_object_wait_async;
zx_status_t (*p_event_create)(uint32_t, zx_handle_t*) = zx_event_create;
zx_status_t (*p_eventpair_create)(uint32_t, zx_handle_t*, zx_handle_t*) = zx_eventpair_create;
zx_status_t (*p_object_signal_peer)(zx_handle_t, uint32_t, uint32_t) = zx_object_signal_peer;
zx_status_t (*p_timer_create)(uint32_t, zx_clock_t, zx_handle_t*) = zx_timer_create;
zx_status_t (*p_timer_set)(zx_handle_t, zx_time_t, zx_duration_t) = zx_timer_set;
zx_status_t (*p_timer_cancel)(zx_handle_t) = zx_timer_cancel;
zx_status_t (*p_object_wait_many)(zx_wait_item_t*, size_t, zx_time_t) = zx_object_wait_many;
zx_status_t (*p_socket_create)(uint32_t, zx_handle_t*, zx_handle_t*) = zx_socket_create;
zx_status_t (*p_socket_write)(zx_handle_t, uint32_t, const void*, size_t, size_t*) = zx_socket_write;
zx_status_t (*p_socket_read)(zx_handle_t, uint32_t, void*, size_t, size_t*) = zx_socket_read;
zx_status_t (*p_socket_set_disposition)(zx_handle_t, uint32_t, uint32_t) = zx_socket_set_disposition;
zx_status_t (*p_job_create)(zx_handle_t, uint32_t, zx_handle_t*) = zx_job_create;
zx_status_t (*p_object_get_child)(zx_handle_t, uint64_t, zx_rights_t, zx_handle_t*) = zx_object_get_child;
zx_status_t (*p_channel_call)(zx_handle_t, uint32_t, zx_time_t, const zx_channel_call_args_t*,
                              uint32_t*, uint32_t*) = zx_channel_call;
void (*p_cprng_draw)(void*, size_t) = zx_cprng_draw;
zx_status_t (*p_cprng_add_entropy)(const void*, size_t) = zx_cprng_add_entropy;
zx_time_t (*p_deadline_after)(zx_duration_t) = zx_deadline_after;

/* The exit calls must be declared noreturn: a noreturn function ending in a call to them
 * would otherwise warn ("'noreturn' function does return"), which -Werror turns into an
 * error. */
#ifdef __cplusplus
#define CHECK_NORETURN [[noreturn]]
extern "C" {
#else
#define CHECK_NORETURN _Noreturn
#endif
CHECK_NORETURN void check_process_exit_is_noreturn(void);
CHECK_NORETURN void check_thread_exit_is_noreturn(void);
void check_process_exit_is_noreturn(void) { zx_process_exit(0); }
void check_thread_exit_is_noreturn(void) { zx_thread_exit(); }
#ifdef __cplusplus
}
#endif

/* The time macros produce zx_duration_t values. */
zx_duration_t check_durations(void);
zx_duration_t check_durations(void) {
    return ZX_SEC(1) + ZX_MSEC(2) + ZX_USEC(3) + ZX_NSEC(4);
}
