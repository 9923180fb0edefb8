/* zx_object_get_info() topics and records, and object properties.
 *
 * Part of the system-call ABI: values, sizes and field offsets are checked against the Rust
 * `abi` crate by abi/tests/c_headers.rs.
 */
#ifndef ZIRCON_SYSCALLS_OBJECT_H_
#define ZIRCON_SYSCALLS_OBJECT_H_

#include <zircon/types.h>

typedef uint32_t zx_object_info_topic_t;

/* Topics of zx_object_get_info(). */
#define ZX_INFO_HANDLE_VALID ((zx_object_info_topic_t)1u) /* no data */
#define ZX_INFO_HANDLE_BASIC ((zx_object_info_topic_t)2u) /* zx_info_handle_basic_t */
#define ZX_INFO_PROCESS ((zx_object_info_topic_t)3u)      /* zx_info_process_t */
#define ZX_INFO_PROCESS_THREADS ((zx_object_info_topic_t)4u) /* zx_koid_t[] */
#define ZX_INFO_JOB_CHILDREN ((zx_object_info_topic_t)8u)  /* zx_koid_t[] */
#define ZX_INFO_JOB_PROCESSES ((zx_object_info_topic_t)9u) /* zx_koid_t[] */
#define ZX_INFO_THREAD ((zx_object_info_topic_t)10u)       /* zx_info_thread_t */
#define ZX_INFO_VMAR ((zx_object_info_topic_t)7u)         /* zx_info_vmar_t */
#define ZX_INFO_KMEM_STATS ((zx_object_info_topic_t)17u)  /* zx_info_kmem_stats_t */
#define ZX_INFO_HANDLE_COUNT ((zx_object_info_topic_t)19u) /* zx_info_handle_count_t */
#define ZX_INFO_SOCKET ((zx_object_info_topic_t)22u)      /* zx_info_socket_t */
#define ZX_INFO_VMO ((zx_object_info_topic_t)23u)         /* zx_info_vmo_t */
#define ZX_INFO_JOB ((zx_object_info_topic_t)24u)         /* zx_info_job_t */
#define ZX_INFO_TIMER ((zx_object_info_topic_t)25u)       /* zx_info_timer_t */

/* Properties of zx_object_get_property()/zx_object_set_property(). */
#define ZX_PROP_NAME ((uint32_t)3u) /* char[ZX_MAX_NAME_LEN] */

typedef struct zx_info_handle_basic {
    zx_koid_t koid;         /* the object */
    zx_rights_t rights;     /* the handle's rights */
    zx_obj_type_t type;     /* ZX_OBJ_TYPE_* */
    zx_koid_t related_koid; /* e.g. a channel's peer; 0 if none */
    uint32_t props;         /* ZX_OBJ_PROP_* */
    uint8_t padding1[4];
} zx_info_handle_basic_t;

/* zx_info_process_t.flags */
#define ZX_INFO_PROCESS_FLAG_STARTED ((uint32_t)1u << 0)
#define ZX_INFO_PROCESS_FLAG_EXITED ((uint32_t)1u << 1)

typedef struct zx_info_process {
    int64_t return_code;   /* valid once ZX_INFO_PROCESS_FLAG_EXITED is set */
    zx_time_t start_time;  /* 0 until started */
    uint32_t flags;        /* ZX_INFO_PROCESS_FLAG_* */
    uint8_t padding1[4];
} zx_info_process_t;

typedef struct zx_info_handle_count {
    uint32_t handle_count; /* handles to the object, in all processes */
} zx_info_handle_count_t;

typedef struct zx_info_vmar {
    uintptr_t base;
    size_t len;
} zx_info_vmar_t;

typedef struct zx_info_vmo {
    zx_koid_t koid;
    char name[ZX_MAX_NAME_LEN];
    uint64_t size_bytes;
    zx_koid_t parent_koid;  /* the VMO this one was cloned from, or 0 */
    size_t num_children;
    size_t num_mappings;
    size_t share_count;     /* address spaces mapping it */
    uint32_t flags;         /* ZX_INFO_VMO_* */
    uint8_t padding1[4];
    uint64_t committed_bytes;
    zx_rights_t handle_rights; /* with ZX_INFO_VMO_VIA_HANDLE */
    uint32_t cache_policy;     /* ZX_CACHE_POLICY_* */
} zx_info_vmo_t;

typedef struct zx_info_kmem_stats {
    uint64_t total_bytes;
    uint64_t free_bytes;
    uint64_t wired_bytes;
    uint64_t total_heap_bytes;
    uint64_t free_heap_bytes;
    uint64_t vmo_bytes;
    uint64_t mmu_overhead_bytes;
    uint64_t ipc_bytes;
    uint64_t other_bytes;
} zx_info_kmem_stats_t;

/* zx_info_thread_t.state */
#define ZX_THREAD_STATE_NEW ((uint32_t)0x0000u)
#define ZX_THREAD_STATE_RUNNING ((uint32_t)0x0001u)
#define ZX_THREAD_STATE_SUSPENDED ((uint32_t)0x0002u)
#define ZX_THREAD_STATE_BLOCKED ((uint32_t)0x0003u) /* never alone: one of the BLOCKED_* */
#define ZX_THREAD_STATE_DYING ((uint32_t)0x0004u)
#define ZX_THREAD_STATE_DEAD ((uint32_t)0x0005u)
#define ZX_THREAD_STATE_BLOCKED_EXCEPTION ((uint32_t)0x0103u)
#define ZX_THREAD_STATE_BLOCKED_SLEEPING ((uint32_t)0x0203u)
#define ZX_THREAD_STATE_BLOCKED_FUTEX ((uint32_t)0x0303u)
#define ZX_THREAD_STATE_BLOCKED_PORT ((uint32_t)0x0403u)
#define ZX_THREAD_STATE_BLOCKED_CHANNEL ((uint32_t)0x0503u)
#define ZX_THREAD_STATE_BLOCKED_WAIT_ONE ((uint32_t)0x0603u)
#define ZX_THREAD_STATE_BLOCKED_WAIT_MANY ((uint32_t)0x0703u)
#define ZX_THREAD_STATE_BLOCKED_INTERRUPT ((uint32_t)0x0803u)
#define ZX_THREAD_STATE_BLOCKED_PAGER ((uint32_t)0x0903u)

typedef struct zx_info_thread {
    uint32_t state;                       /* ZX_THREAD_STATE_* */
    uint32_t wait_exception_channel_type; /* 0 */
} zx_info_thread_t;

typedef struct zx_info_job {
    int64_t return_code; /* ZX_TASK_RETCODE_SYSCALL_KILL once killed */
    uint8_t exited;
    uint8_t kill_on_oom;
    uint8_t debugger_attached;
    uint8_t padding1[5];
} zx_info_job_t;

typedef struct zx_info_socket {
    uint32_t options;
    uint8_t padding1[4];
    size_t rx_buf_max;
    size_t rx_buf_size;
    size_t rx_buf_available; /* stream: rx_buf_size; datagram: the next datagram's size */
    size_t tx_buf_max;
    size_t tx_buf_size;
} zx_info_socket_t;

typedef struct zx_info_timer {
    uint32_t options;
    uint8_t padding1[4];
    zx_time_t deadline; /* 0 when not armed */
    zx_duration_t slack;
} zx_info_timer_t;

#endif /* ZIRCON_SYSCALLS_OBJECT_H_ */
