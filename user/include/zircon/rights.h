/* Handle rights (zx_rights_t) and the rights new handles get.
 *
 * Part of the system-call ABI: checked against the Rust `abi` crate by
 * abi/tests/c_headers.rs.
 */
#ifndef ZIRCON_RIGHTS_H_
#define ZIRCON_RIGHTS_H_

#include <zircon/types.h>

#define ZX_RIGHT_NONE ((zx_rights_t)0u)
#define ZX_RIGHT_DUPLICATE ((zx_rights_t)1u << 0)
#define ZX_RIGHT_TRANSFER ((zx_rights_t)1u << 1)
#define ZX_RIGHT_READ ((zx_rights_t)1u << 2)
#define ZX_RIGHT_WRITE ((zx_rights_t)1u << 3)
#define ZX_RIGHT_EXECUTE ((zx_rights_t)1u << 4)
#define ZX_RIGHT_MAP ((zx_rights_t)1u << 5)
#define ZX_RIGHT_GET_PROPERTY ((zx_rights_t)1u << 6)
#define ZX_RIGHT_SET_PROPERTY ((zx_rights_t)1u << 7)
#define ZX_RIGHT_ENUMERATE ((zx_rights_t)1u << 8)
#define ZX_RIGHT_DESTROY ((zx_rights_t)1u << 9)
#define ZX_RIGHT_SET_POLICY ((zx_rights_t)1u << 10)
#define ZX_RIGHT_GET_POLICY ((zx_rights_t)1u << 11)
#define ZX_RIGHT_SIGNAL ((zx_rights_t)1u << 12)
#define ZX_RIGHT_SIGNAL_PEER ((zx_rights_t)1u << 13)
#define ZX_RIGHT_WAIT ((zx_rights_t)1u << 14)
#define ZX_RIGHT_INSPECT ((zx_rights_t)1u << 15)
#define ZX_RIGHT_MANAGE_JOB ((zx_rights_t)1u << 16)
#define ZX_RIGHT_MANAGE_PROCESS ((zx_rights_t)1u << 17)
#define ZX_RIGHT_MANAGE_THREAD ((zx_rights_t)1u << 18)
#define ZX_RIGHT_MANAGE_SOCKET ((zx_rights_t)1u << 20)
/* Not a right: zx_handle_duplicate()/zx_handle_replace() keep the source rights. */
#define ZX_RIGHT_SAME_RIGHTS ((zx_rights_t)1u << 31)

/* Groups. */
#define ZX_RIGHTS_BASIC (ZX_RIGHT_TRANSFER | ZX_RIGHT_DUPLICATE | ZX_RIGHT_WAIT | ZX_RIGHT_INSPECT)
#define ZX_RIGHTS_IO (ZX_RIGHT_READ | ZX_RIGHT_WRITE)
#define ZX_RIGHTS_PROPERTY (ZX_RIGHT_GET_PROPERTY | ZX_RIGHT_SET_PROPERTY)
#define ZX_RIGHTS_POLICY (ZX_RIGHT_GET_POLICY | ZX_RIGHT_SET_POLICY)

/* A new VMO: exactly the eight rights the zx_vmo_create() man page lists (0xFF). */
#define ZX_DEFAULT_VMO_RIGHTS                                                              \
    (ZX_RIGHT_DUPLICATE | ZX_RIGHT_TRANSFER | ZX_RIGHT_READ | ZX_RIGHT_WRITE |             \
     ZX_RIGHT_EXECUTE | ZX_RIGHT_MAP | ZX_RIGHT_GET_PROPERTY | ZX_RIGHT_SET_PROPERTY)

/* Each channel endpoint: everything basic except DUPLICATE, plus IO and both signal rights. */
#define ZX_DEFAULT_CHANNEL_RIGHTS                                                          \
    ((ZX_RIGHTS_BASIC & ~ZX_RIGHT_DUPLICATE) | ZX_RIGHTS_IO | ZX_RIGHT_SIGNAL |            \
     ZX_RIGHT_SIGNAL_PEER)

/* A VMAR: basic without WAIT; READ, WRITE and EXECUTE are added for each
 * ZX_VM_CAN_MAP_READ/_WRITE/_EXECUTE the region was created with. */
#define ZX_DEFAULT_VMAR_RIGHTS (ZX_RIGHTS_BASIC & ~ZX_RIGHT_WAIT)

/* A new process. */
#define ZX_DEFAULT_PROCESS_RIGHTS                                                          \
    (ZX_RIGHTS_BASIC | ZX_RIGHTS_IO | ZX_RIGHTS_PROPERTY | ZX_RIGHT_ENUMERATE |            \
     ZX_RIGHT_DESTROY | ZX_RIGHT_SIGNAL | ZX_RIGHT_MANAGE_PROCESS | ZX_RIGHT_MANAGE_THREAD)

/* A new thread. */
#define ZX_DEFAULT_THREAD_RIGHTS                                                           \
    (ZX_RIGHTS_BASIC | ZX_RIGHTS_IO | ZX_RIGHTS_PROPERTY | ZX_RIGHT_DESTROY |              \
     ZX_RIGHT_SIGNAL | ZX_RIGHT_MANAGE_THREAD)

/* A new event (0xD003). */
#define ZX_DEFAULT_EVENT_RIGHTS (ZX_RIGHTS_BASIC | ZX_RIGHT_SIGNAL)

/* Each event-pair endpoint (0xF003). */
#define ZX_DEFAULT_EVENTPAIR_RIGHTS (ZX_RIGHTS_BASIC | ZX_RIGHT_SIGNAL | ZX_RIGHT_SIGNAL_PEER)

/* A new port (0x800F): not waitable, so no WAIT. */
#define ZX_DEFAULT_PORT_RIGHTS ((ZX_RIGHTS_BASIC & ~ZX_RIGHT_WAIT) | ZX_RIGHTS_IO)

/* A new timer (0xD00B). */
#define ZX_DEFAULT_TIMER_RIGHTS (ZX_RIGHTS_BASIC | ZX_RIGHT_WRITE | ZX_RIGHT_SIGNAL)

/* Each socket endpoint (0x10F0CF). */
#define ZX_DEFAULT_SOCKET_RIGHTS                                                           \
    (ZX_RIGHTS_BASIC | ZX_RIGHTS_IO | ZX_RIGHTS_PROPERTY | ZX_RIGHT_SIGNAL |               \
     ZX_RIGHT_SIGNAL_PEER | ZX_RIGHT_MANAGE_SOCKET)

/* A new job (0x7DFCF). */
#define ZX_DEFAULT_JOB_RIGHTS                                                              \
    (ZX_RIGHTS_BASIC | ZX_RIGHTS_IO | ZX_RIGHTS_PROPERTY | ZX_RIGHTS_POLICY |              \
     ZX_RIGHT_ENUMERATE | ZX_RIGHT_DESTROY | ZX_RIGHT_SIGNAL | ZX_RIGHT_MANAGE_JOB |       \
     ZX_RIGHT_MANAGE_PROCESS | ZX_RIGHT_MANAGE_THREAD)

#endif /* ZIRCON_RIGHTS_H_ */
