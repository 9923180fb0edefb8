/* Basic types and constants of the system-call ABI.
 *
 * Every value here is part of the ABI and is checked against the Rust `abi` crate by
 * abi/tests/c_headers.rs. Needs only <stdint.h> and <stddef.h> (works freestanding).
 */
#ifndef ZIRCON_TYPES_H_
#define ZIRCON_TYPES_H_

#include <stddef.h>
#include <stdint.h>

typedef int32_t zx_status_t;
typedef uint32_t zx_handle_t;
typedef uint32_t zx_rights_t;
typedef uint32_t zx_signals_t;
typedef uint64_t zx_koid_t;
typedef uintptr_t zx_vaddr_t;
typedef uintptr_t zx_paddr_t;
typedef uint64_t zx_off_t;
/* Nanoseconds on the monotonic clock. */
typedef int64_t zx_time_t;
/* A span of nanoseconds. */
typedef int64_t zx_duration_t;
typedef uint32_t zx_obj_type_t;
typedef uint32_t zx_vm_option_t;
/* A futex: a 32-bit word in user memory, 4-byte aligned. */
typedef int32_t zx_futex_t;
typedef uint32_t zx_clock_t;
/* A zx_channel_call() transaction id: the first four bytes of a message. */
typedef uint32_t zx_txid_t;

#include <zircon/errors.h>
#include <zircon/rights.h>

/* Handles. Every valid handle value has the two low bits set. */
#define ZX_HANDLE_INVALID ((zx_handle_t)0)
#define ZX_HANDLE_FIXED_BITS_MASK ((zx_handle_t)0x3)

/* Deadlines. */
#define ZX_TIME_INFINITE ((zx_time_t)INT64_MAX)
#define ZX_TIME_INFINITE_PAST (-ZX_TIME_INFINITE - 1)

/* Pages. */
#define ZX_PAGE_SHIFT ((uint32_t)12u)
#define ZX_PAGE_SIZE ((uintptr_t)1u << ZX_PAGE_SHIFT)
#define ZX_PAGE_MASK (ZX_PAGE_SIZE - 1u)

/* Object names (ZX_PROP_NAME) hold up to 31 bytes and a NUL. */
#define ZX_MAX_NAME_LEN ((size_t)32u)

/* Largest VMO size. */
#define ZX_MAX_VMO_SIZE ((uint64_t)0xFFFFFFFFFFFE0000ull)

/* Channel message limits. */
#define ZX_CHANNEL_MAX_MSG_BYTES ((uint32_t)65536u)
#define ZX_CHANNEL_MAX_MSG_HANDLES ((uint32_t)64u)

/* Cache policies (zx_info_vmo_t.cache_policy). */
#define ZX_CACHE_POLICY_CACHED ((uint32_t)0u)

/* Object types (zx_info_handle_basic_t.type). */
#define ZX_OBJ_TYPE_NONE ((zx_obj_type_t)0u)
#define ZX_OBJ_TYPE_PROCESS ((zx_obj_type_t)1u)
#define ZX_OBJ_TYPE_THREAD ((zx_obj_type_t)2u)
#define ZX_OBJ_TYPE_VMO ((zx_obj_type_t)3u)
#define ZX_OBJ_TYPE_CHANNEL ((zx_obj_type_t)4u)
#define ZX_OBJ_TYPE_EVENT ((zx_obj_type_t)5u)
#define ZX_OBJ_TYPE_PORT ((zx_obj_type_t)6u)
#define ZX_OBJ_TYPE_SOCKET ((zx_obj_type_t)14u)
#define ZX_OBJ_TYPE_EVENTPAIR ((zx_obj_type_t)16u)
#define ZX_OBJ_TYPE_JOB ((zx_obj_type_t)17u)
#define ZX_OBJ_TYPE_VMAR ((zx_obj_type_t)18u)
#define ZX_OBJ_TYPE_TIMER ((zx_obj_type_t)22u)

/* zx_info_handle_basic_t.props */
#define ZX_OBJ_PROP_NONE ((uint32_t)0u)
#define ZX_OBJ_PROP_WAITABLE ((uint32_t)1u)

/* Signals. The low bits are per object type; bits 24..31 are user signals. */
#define ZX_SIGNAL_NONE ((zx_signals_t)0u)

#define ZX_CHANNEL_READABLE ((zx_signals_t)1u << 0)
#define ZX_CHANNEL_WRITABLE ((zx_signals_t)1u << 1)
#define ZX_CHANNEL_PEER_CLOSED ((zx_signals_t)1u << 2)

#define ZX_VMO_ZERO_CHILDREN ((zx_signals_t)1u << 3)

#define ZX_TASK_TERMINATED ((zx_signals_t)1u << 3)
#define ZX_PROCESS_TERMINATED ZX_TASK_TERMINATED
#define ZX_THREAD_TERMINATED ZX_TASK_TERMINATED
#define ZX_THREAD_RUNNING ((zx_signals_t)1u << 4)
#define ZX_THREAD_SUSPENDED ((zx_signals_t)1u << 5)

#define ZX_EVENT_SIGNALED ((zx_signals_t)1u << 3)
#define ZX_EVENTPAIR_SIGNALED ((zx_signals_t)1u << 3)
#define ZX_EVENTPAIR_PEER_CLOSED ((zx_signals_t)1u << 2)
#define ZX_TIMER_SIGNALED ((zx_signals_t)1u << 3)

#define ZX_SOCKET_READABLE ((zx_signals_t)1u << 0)
#define ZX_SOCKET_WRITABLE ((zx_signals_t)1u << 1)
#define ZX_SOCKET_PEER_CLOSED ((zx_signals_t)1u << 2)
#define ZX_SOCKET_PEER_WRITE_DISABLED ((zx_signals_t)1u << 4)
#define ZX_SOCKET_WRITE_DISABLED ((zx_signals_t)1u << 5)
/* Never asserted: socket thresholds are not implemented. */
#define ZX_SOCKET_READ_THRESHOLD ((zx_signals_t)1u << 10)
#define ZX_SOCKET_WRITE_THRESHOLD ((zx_signals_t)1u << 11)

#define ZX_JOB_TERMINATED ((zx_signals_t)1u << 3)
#define ZX_JOB_NO_JOBS ((zx_signals_t)1u << 4)
#define ZX_JOB_NO_PROCESSES ((zx_signals_t)1u << 5)

/* zx_info_process_t.return_code of a process killed by zx_task_kill(), or by the kernel
 * for a fault or a policy violation (a channel write past the queue limit). */
#define ZX_TASK_RETCODE_SYSCALL_KILL ((int64_t)-1024)
#define ZX_TASK_RETCODE_OOM_KILL ((int64_t)-1025)
#define ZX_TASK_RETCODE_POLICY_KILL ((int64_t)-1026)
#define ZX_TASK_RETCODE_VDSO_KILL ((int64_t)-1027)
#define ZX_TASK_RETCODE_EXCEPTION_KILL ((int64_t)-1028)
#define ZX_TASK_RETCODE_CRITICAL_PROCESS_KILL ((int64_t)-1029)

/* Reported by zx_object_wait_one() when the handle is closed during the wait. */
#define ZX_SIGNAL_HANDLE_CLOSED ((zx_signals_t)1u << 23)

#define ZX_USER_SIGNAL_0 ((zx_signals_t)1u << 24)
#define ZX_USER_SIGNAL_1 ((zx_signals_t)1u << 25)
#define ZX_USER_SIGNAL_2 ((zx_signals_t)1u << 26)
#define ZX_USER_SIGNAL_3 ((zx_signals_t)1u << 27)
#define ZX_USER_SIGNAL_4 ((zx_signals_t)1u << 28)
#define ZX_USER_SIGNAL_5 ((zx_signals_t)1u << 29)
#define ZX_USER_SIGNAL_6 ((zx_signals_t)1u << 30)
#define ZX_USER_SIGNAL_7 ((zx_signals_t)1u << 31)
#define ZX_USER_SIGNAL_ALL ((zx_signals_t)0xFF000000u)

/* zx_info_vmo_t.flags */
#define ZX_INFO_VMO_TYPE_PAGED ((uint32_t)1u << 0)
#define ZX_INFO_VMO_RESIZABLE ((uint32_t)1u << 1)
#define ZX_INFO_VMO_IS_COW_CLONE ((uint32_t)1u << 2)
#define ZX_INFO_VMO_VIA_HANDLE ((uint32_t)1u << 3)
#define ZX_INFO_VMO_VIA_MAPPING ((uint32_t)1u << 4)

/* One item of zx_object_wait_many(). */
typedef struct zx_wait_item {
    zx_handle_t handle;
    zx_signals_t waitfor;
    zx_signals_t pending; /* written back */
} zx_wait_item_t;

/* zx_channel_call() */
typedef struct zx_channel_call_args {
    const void* wr_bytes; /* the first four bytes are the transaction id */
    const zx_handle_t* wr_handles;
    void* rd_bytes;
    zx_handle_t* rd_handles;
    uint32_t wr_num_bytes;
    uint32_t wr_num_handles;
    uint32_t rd_num_bytes;
    uint32_t rd_num_handles;
} zx_channel_call_args_t;

#endif /* ZIRCON_TYPES_H_ */
