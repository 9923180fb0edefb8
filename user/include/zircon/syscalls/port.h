/* Port packets and the constants of zx_port_*() and zx_object_wait_async().
 *
 * Part of the system-call ABI: values, sizes and field offsets are checked against the Rust
 * `abi` crate by abi/tests/c_headers.rs.
 */
#ifndef ZIRCON_SYSCALLS_PORT_H_
#define ZIRCON_SYSCALLS_PORT_H_

#include <zircon/types.h>

/* zx_port_create() options. */
#define ZX_PORT_BIND_TO_INTERRUPT ((uint32_t)1u << 0)

/* zx_object_wait_async() options. */
#define ZX_WAIT_ASYNC_ONCE ((uint32_t)0u)
#define ZX_WAIT_ASYNC_TIMESTAMP ((uint32_t)1u)

/* zx_port_packet_t.type */
#define ZX_PKT_TYPE_USER ((uint32_t)0x00u)
#define ZX_PKT_TYPE_SIGNAL_ONE ((uint32_t)0x01u)
#define ZX_PKT_TYPE_GUEST_BELL ((uint32_t)0x03u)
#define ZX_PKT_TYPE_GUEST_MEM ((uint32_t)0x04u)
#define ZX_PKT_TYPE_GUEST_IO ((uint32_t)0x05u)
#define ZX_PKT_TYPE_GUEST_VCPU ((uint32_t)0x06u)
#define ZX_PKT_TYPE_INTERRUPT ((uint32_t)0x07u)
#define ZX_PKT_TYPE_PAGE_REQUEST ((uint32_t)0x09u)

/* The payload of a packet queued with zx_port_queue(), kept exactly. */
typedef union zx_packet_user {
    uint64_t u64[4];
    uint32_t u32[8];
    uint16_t u16[16];
    uint8_t c8[32];
} zx_packet_user_t;

/* The payload of a ZX_PKT_TYPE_SIGNAL_ONE packet. */
typedef struct zx_packet_signal {
    zx_signals_t trigger;  /* the signals the wait asked for */
    zx_signals_t observed; /* the whole signal state when the packet was queued */
    uint64_t count;        /* 1 */
    zx_time_t timestamp;   /* with ZX_WAIT_ASYNC_TIMESTAMP, else 0 */
    uint64_t reserved1;
} zx_packet_signal_t;

/* The payload of a ZX_PKT_TYPE_INTERRUPT packet. */
typedef struct zx_packet_interrupt {
    zx_time_t timestamp;
    uint64_t reserved0;
    uint64_t reserved1;
    uint64_t reserved2;
} zx_packet_interrupt_t;

typedef struct zx_port_packet {
    uint64_t key;
    uint32_t type;     /* ZX_PKT_TYPE_* */
    zx_status_t status;
    union {
        zx_packet_user_t user;
        zx_packet_signal_t signal;
        zx_packet_interrupt_t interrupt;
    };
} zx_port_packet_t;

#endif /* ZIRCON_SYSCALLS_PORT_H_ */
