/* System-call numbers, passed in x16 to `svc #0`.
 *
 * Plain integer literals so that assembly stubs can use them. Checked against the Rust
 * `abi` crate (abi::syscall::Syscall) by abi/tests/c_headers.rs.
 */
#ifndef ZIRCON_SYSCALL_NUMBERS_H_
#define ZIRCON_SYSCALL_NUMBERS_H_

#define ZX_SYS_handle_close 0
#define ZX_SYS_handle_close_many 1
#define ZX_SYS_handle_duplicate 2
#define ZX_SYS_handle_replace 3
#define ZX_SYS_object_get_property 4
#define ZX_SYS_object_set_property 5
#define ZX_SYS_object_get_info 6
#define ZX_SYS_object_wait_one 7
#define ZX_SYS_object_signal 8
#define ZX_SYS_vmo_create 9
#define ZX_SYS_vmo_read 10
#define ZX_SYS_vmo_write 11
#define ZX_SYS_vmo_get_size 12
#define ZX_SYS_vmo_set_size 13
#define ZX_SYS_vmo_clone 14
#define ZX_SYS_vmo_create_child 15
#define ZX_SYS_vmo_op_range 16
#define ZX_SYS_vmar_map 17
#define ZX_SYS_vmar_unmap 18
#define ZX_SYS_vmar_protect 19
#define ZX_SYS_vmar_allocate 20
#define ZX_SYS_vmar_destroy 21
#define ZX_SYS_process_create 22
#define ZX_SYS_process_start 23
#define ZX_SYS_process_exit 24
#define ZX_SYS_thread_create 25
#define ZX_SYS_thread_start 26
#define ZX_SYS_thread_exit 27
#define ZX_SYS_task_kill 28
#define ZX_SYS_channel_create 29
#define ZX_SYS_channel_write 30
#define ZX_SYS_channel_read 31
#define ZX_SYS_debug_write 32
#define ZX_SYS_clock_get_monotonic 33
#define ZX_SYS_system_get_page_size 34
#define ZX_SYS_nanosleep 35
#define ZX_SYS_debug_send_command 36
#define ZX_SYS_futex_wait 37
#define ZX_SYS_futex_wake 38
#define ZX_SYS_futex_requeue 39
#define ZX_SYS_port_create 40
#define ZX_SYS_port_queue 41
#define ZX_SYS_port_wait 42
#define ZX_SYS_port_cancel 43
#define ZX_SYS_object_wait_async 44
#define ZX_SYS_event_create 45
#define ZX_SYS_eventpair_create 46
#define ZX_SYS_object_signal_peer 47
#define ZX_SYS_timer_create 48
#define ZX_SYS_timer_set 49
#define ZX_SYS_timer_cancel 50
#define ZX_SYS_object_wait_many 51
#define ZX_SYS_socket_create 52
#define ZX_SYS_socket_write 53
#define ZX_SYS_socket_read 54
#define ZX_SYS_socket_set_disposition 55
#define ZX_SYS_job_create 56
#define ZX_SYS_object_get_child 57
#define ZX_SYS_channel_call 58
#define ZX_SYS_cprng_draw 59
#define ZX_SYS_cprng_add_entropy 60

#define ZX_SYS_COUNT 61

#endif /* ZIRCON_SYSCALL_NUMBERS_H_ */
