//! [`Rights`], a typed `zx_rights_t`.

use crate::bitset::impl_bitset;
use crate::consts::*;
use crate::zx_rights_t;

/// A set of handle rights (`ZX_RIGHT_*`). Any bit pattern can be held; the operations work
/// on all 32 bits.
#[repr(transparent)]
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Rights(zx_rights_t);

/// Single-bit rights by name, for `Debug`.
const NAMES: &[(u32, &str)] = &[
    (ZX_RIGHT_DUPLICATE, "DUPLICATE"),
    (ZX_RIGHT_TRANSFER, "TRANSFER"),
    (ZX_RIGHT_READ, "READ"),
    (ZX_RIGHT_WRITE, "WRITE"),
    (ZX_RIGHT_EXECUTE, "EXECUTE"),
    (ZX_RIGHT_MAP, "MAP"),
    (ZX_RIGHT_GET_PROPERTY, "GET_PROPERTY"),
    (ZX_RIGHT_SET_PROPERTY, "SET_PROPERTY"),
    (ZX_RIGHT_ENUMERATE, "ENUMERATE"),
    (ZX_RIGHT_DESTROY, "DESTROY"),
    (ZX_RIGHT_SET_POLICY, "SET_POLICY"),
    (ZX_RIGHT_GET_POLICY, "GET_POLICY"),
    (ZX_RIGHT_SIGNAL, "SIGNAL"),
    (ZX_RIGHT_SIGNAL_PEER, "SIGNAL_PEER"),
    (ZX_RIGHT_WAIT, "WAIT"),
    (ZX_RIGHT_INSPECT, "INSPECT"),
    (ZX_RIGHT_MANAGE_JOB, "MANAGE_JOB"),
    (ZX_RIGHT_MANAGE_PROCESS, "MANAGE_PROCESS"),
    (ZX_RIGHT_MANAGE_THREAD, "MANAGE_THREAD"),
    (ZX_RIGHT_MANAGE_SOCKET, "MANAGE_SOCKET"),
    (ZX_RIGHT_SAME_RIGHTS, "SAME_RIGHTS"),
];

impl Rights {
    /// `ZX_RIGHT_NONE`.
    pub const NONE: Rights = Rights(ZX_RIGHT_NONE);
    /// `ZX_RIGHT_DUPLICATE`.
    pub const DUPLICATE: Rights = Rights(ZX_RIGHT_DUPLICATE);
    /// `ZX_RIGHT_TRANSFER`.
    pub const TRANSFER: Rights = Rights(ZX_RIGHT_TRANSFER);
    /// `ZX_RIGHT_READ`.
    pub const READ: Rights = Rights(ZX_RIGHT_READ);
    /// `ZX_RIGHT_WRITE`.
    pub const WRITE: Rights = Rights(ZX_RIGHT_WRITE);
    /// `ZX_RIGHT_EXECUTE`.
    pub const EXECUTE: Rights = Rights(ZX_RIGHT_EXECUTE);
    /// `ZX_RIGHT_MAP`.
    pub const MAP: Rights = Rights(ZX_RIGHT_MAP);
    /// `ZX_RIGHT_GET_PROPERTY`.
    pub const GET_PROPERTY: Rights = Rights(ZX_RIGHT_GET_PROPERTY);
    /// `ZX_RIGHT_SET_PROPERTY`.
    pub const SET_PROPERTY: Rights = Rights(ZX_RIGHT_SET_PROPERTY);
    /// `ZX_RIGHT_ENUMERATE`.
    pub const ENUMERATE: Rights = Rights(ZX_RIGHT_ENUMERATE);
    /// `ZX_RIGHT_DESTROY`.
    pub const DESTROY: Rights = Rights(ZX_RIGHT_DESTROY);
    /// `ZX_RIGHT_SET_POLICY`.
    pub const SET_POLICY: Rights = Rights(ZX_RIGHT_SET_POLICY);
    /// `ZX_RIGHT_GET_POLICY`.
    pub const GET_POLICY: Rights = Rights(ZX_RIGHT_GET_POLICY);
    /// `ZX_RIGHT_SIGNAL`.
    pub const SIGNAL: Rights = Rights(ZX_RIGHT_SIGNAL);
    /// `ZX_RIGHT_SIGNAL_PEER`.
    pub const SIGNAL_PEER: Rights = Rights(ZX_RIGHT_SIGNAL_PEER);
    /// `ZX_RIGHT_WAIT`.
    pub const WAIT: Rights = Rights(ZX_RIGHT_WAIT);
    /// `ZX_RIGHT_INSPECT`.
    pub const INSPECT: Rights = Rights(ZX_RIGHT_INSPECT);
    /// `ZX_RIGHT_MANAGE_JOB`.
    pub const MANAGE_JOB: Rights = Rights(ZX_RIGHT_MANAGE_JOB);
    /// `ZX_RIGHT_MANAGE_PROCESS`.
    pub const MANAGE_PROCESS: Rights = Rights(ZX_RIGHT_MANAGE_PROCESS);
    /// `ZX_RIGHT_MANAGE_THREAD`.
    pub const MANAGE_THREAD: Rights = Rights(ZX_RIGHT_MANAGE_THREAD);
    /// `ZX_RIGHT_MANAGE_SOCKET`.
    pub const MANAGE_SOCKET: Rights = Rights(ZX_RIGHT_MANAGE_SOCKET);
    /// `ZX_RIGHT_SAME_RIGHTS`: not a right, a request to keep the source handle's rights.
    pub const SAME_RIGHTS: Rights = Rights(ZX_RIGHT_SAME_RIGHTS);

    /// `ZX_RIGHTS_BASIC`: TRANSFER | DUPLICATE | WAIT | INSPECT.
    pub const BASIC: Rights = Rights(ZX_RIGHTS_BASIC);
    /// `ZX_RIGHTS_IO`: READ | WRITE.
    pub const IO: Rights = Rights(ZX_RIGHTS_IO);
    /// `ZX_RIGHTS_PROPERTY`: GET_PROPERTY | SET_PROPERTY.
    pub const PROPERTY: Rights = Rights(ZX_RIGHTS_PROPERTY);
    /// `ZX_RIGHTS_POLICY`: GET_POLICY | SET_POLICY.
    pub const POLICY: Rights = Rights(ZX_RIGHTS_POLICY);

    /// `ZX_DEFAULT_VMO_RIGHTS` (see the constant for the list).
    pub const DEFAULT_VMO: Rights = Rights(ZX_DEFAULT_VMO_RIGHTS);
    /// `ZX_DEFAULT_CHANNEL_RIGHTS` (see the constant for the list).
    pub const DEFAULT_CHANNEL: Rights = Rights(ZX_DEFAULT_CHANNEL_RIGHTS);
    /// `ZX_DEFAULT_VMAR_RIGHTS` (see the constant; READ/WRITE/EXECUTE are added per the
    /// VMAR's CAN_MAP_* flags).
    pub const DEFAULT_VMAR: Rights = Rights(ZX_DEFAULT_VMAR_RIGHTS);
    /// `ZX_DEFAULT_PROCESS_RIGHTS` (see the constant for the list).
    pub const DEFAULT_PROCESS: Rights = Rights(ZX_DEFAULT_PROCESS_RIGHTS);
    /// `ZX_DEFAULT_THREAD_RIGHTS` (see the constant for the list).
    pub const DEFAULT_THREAD: Rights = Rights(ZX_DEFAULT_THREAD_RIGHTS);
    /// `ZX_DEFAULT_EVENT_RIGHTS`.
    pub const DEFAULT_EVENT: Rights = Rights(ZX_DEFAULT_EVENT_RIGHTS);
    /// `ZX_DEFAULT_EVENTPAIR_RIGHTS`.
    pub const DEFAULT_EVENTPAIR: Rights = Rights(ZX_DEFAULT_EVENTPAIR_RIGHTS);
    /// `ZX_DEFAULT_PORT_RIGHTS`.
    pub const DEFAULT_PORT: Rights = Rights(ZX_DEFAULT_PORT_RIGHTS);
    /// `ZX_DEFAULT_TIMER_RIGHTS`.
    pub const DEFAULT_TIMER: Rights = Rights(ZX_DEFAULT_TIMER_RIGHTS);
    /// `ZX_DEFAULT_SOCKET_RIGHTS`.
    pub const DEFAULT_SOCKET: Rights = Rights(ZX_DEFAULT_SOCKET_RIGHTS);
    /// `ZX_DEFAULT_JOB_RIGHTS`.
    pub const DEFAULT_JOB: Rights = Rights(ZX_DEFAULT_JOB_RIGHTS);
}

impl_bitset!(Rights, NAMES);

#[cfg(test)]
mod tests {
    use super::*;
    use std::format;

    #[test]
    fn bit_positions() {
        let singles = [
            Rights::DUPLICATE,
            Rights::TRANSFER,
            Rights::READ,
            Rights::WRITE,
            Rights::EXECUTE,
            Rights::MAP,
            Rights::GET_PROPERTY,
            Rights::SET_PROPERTY,
            Rights::ENUMERATE,
            Rights::DESTROY,
            Rights::SET_POLICY,
            Rights::GET_POLICY,
            Rights::SIGNAL,
            Rights::SIGNAL_PEER,
            Rights::WAIT,
            Rights::INSPECT,
            Rights::MANAGE_JOB,
            Rights::MANAGE_PROCESS,
            Rights::MANAGE_THREAD,
        ];
        for (bit, r) in singles.iter().enumerate() {
            assert_eq!(r.bits(), 1 << bit, "{r:?}");
        }
        assert_eq!(Rights::SAME_RIGHTS.bits(), 1 << 31);
        assert_eq!(Rights::NONE.bits(), 0);
    }

    #[test]
    fn defaults() {
        assert_eq!(Rights::DEFAULT_VMO.bits(), 0xFF);
        assert_eq!(
            Rights::DEFAULT_VMO,
            Rights::DUPLICATE
                | Rights::TRANSFER
                | Rights::READ
                | Rights::WRITE
                | Rights::EXECUTE
                | Rights::MAP
                | Rights::GET_PROPERTY
                | Rights::SET_PROPERTY
        );
        assert_eq!(
            Rights::DEFAULT_CHANNEL,
            Rights::TRANSFER
                | Rights::READ
                | Rights::WRITE
                | Rights::SIGNAL
                | Rights::SIGNAL_PEER
                | Rights::WAIT
                | Rights::INSPECT
        );
        assert!(!Rights::DEFAULT_CHANNEL.contains(Rights::DUPLICATE));
        assert_eq!(
            Rights::DEFAULT_VMAR,
            Rights::TRANSFER | Rights::DUPLICATE | Rights::INSPECT
        );
        assert_eq!(
            Rights::DEFAULT_PROCESS,
            Rights::BASIC
                | Rights::IO
                | Rights::PROPERTY
                | Rights::ENUMERATE
                | Rights::DESTROY
                | Rights::SIGNAL
                | Rights::MANAGE_PROCESS
                | Rights::MANAGE_THREAD
        );
        assert_eq!(
            Rights::DEFAULT_THREAD,
            Rights::BASIC
                | Rights::IO
                | Rights::PROPERTY
                | Rights::DESTROY
                | Rights::SIGNAL
                | Rights::MANAGE_THREAD
        );
        for d in [
            Rights::DEFAULT_VMO,
            Rights::DEFAULT_CHANNEL,
            Rights::DEFAULT_VMAR,
            Rights::DEFAULT_PROCESS,
            Rights::DEFAULT_THREAD,
        ] {
            assert!(!d.contains(Rights::SAME_RIGHTS));
        }
    }

    #[test]
    fn set_operations() {
        let rw = Rights::READ | Rights::WRITE;
        assert!(rw.contains(Rights::READ));
        assert!(rw.contains(rw));
        assert!(rw.contains(Rights::NONE));
        assert!(!Rights::READ.contains(rw));
        assert!(rw.intersects(Rights::WRITE | Rights::MAP));
        assert!(!rw.intersects(Rights::MAP));
        assert_eq!(
            rw.union(Rights::MAP),
            Rights::READ | Rights::WRITE | Rights::MAP
        );
        assert_eq!(rw.intersection(Rights::WRITE | Rights::MAP), Rights::WRITE);
        assert_eq!(rw & Rights::WRITE, Rights::WRITE);
        assert_eq!(rw.difference(Rights::READ), Rights::WRITE);
        assert_eq!(rw & !Rights::READ, Rights::WRITE);
        assert!(Rights::NONE.is_empty());
        assert!(!rw.is_empty());
        assert!((rw & Rights::MAP).is_empty());
        let mut r = Rights::READ;
        r |= Rights::EXECUTE;
        assert_eq!(r, Rights::READ | Rights::EXECUTE);
        r &= Rights::EXECUTE;
        assert_eq!(r, Rights::EXECUTE);
        assert_eq!((!Rights::NONE).bits(), u32::MAX);
        assert_eq!(Rights::default(), Rights::NONE);
    }

    #[test]
    fn from_bits_keeps_everything() {
        for bits in [0, 1, 0xFF, 0x8000_0000, 0x0080_0000, u32::MAX] {
            assert_eq!(Rights::from_bits(bits).bits(), bits);
        }
    }

    #[test]
    fn debug_lists_names() {
        assert_eq!(format!("{:?}", Rights::NONE), "Rights(NONE)");
        assert_eq!(
            format!("{:?}", Rights::READ | Rights::WRITE),
            "Rights(READ | WRITE)"
        );
        assert_eq!(
            format!(
                "{:?}",
                Rights::from_bits(ZX_RIGHT_MAP | (1 << 21) | (1 << 22))
            ),
            "Rights(MAP | 0x600000)"
        );
        assert_eq!(format!("{:?}", Rights::SAME_RIGHTS), "Rights(SAME_RIGHTS)");
        assert_eq!(
            format!("{:?}", Rights::from_bits(1 << 19)),
            "Rights(0x80000)"
        );
    }
}
