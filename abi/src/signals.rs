//! [`Signals`], a typed `zx_signals_t`.

use crate::bitset::impl_bitset;
use crate::consts::*;
use crate::zx_signals_t;

/// A set of object signals. The low bits mean different things for different object types
/// (bit 3 is `VMO_ZERO_CHILDREN` on a VMO and `TASK_TERMINATED` on a task); bits 24..31 are
/// the user signals every object has. Any bit pattern can be held.
#[repr(transparent)]
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Signals(zx_signals_t);

/// Single-bit signals by name, for `Debug` (aliases share a bit).
const NAMES: &[(u32, &str)] = &[
    (ZX_CHANNEL_READABLE, "CHANNEL_READABLE"),
    (ZX_CHANNEL_WRITABLE, "CHANNEL_WRITABLE"),
    (ZX_CHANNEL_PEER_CLOSED, "CHANNEL_PEER_CLOSED"),
    (ZX_VMO_ZERO_CHILDREN, "VMO_ZERO_CHILDREN"),
    (ZX_TASK_TERMINATED, "TASK_TERMINATED"),
    (ZX_THREAD_RUNNING, "THREAD_RUNNING"),
    (ZX_THREAD_SUSPENDED, "THREAD_SUSPENDED"),
    (ZX_SIGNAL_HANDLE_CLOSED, "HANDLE_CLOSED"),
    (ZX_USER_SIGNAL_0, "USER_0"),
    (ZX_USER_SIGNAL_1, "USER_1"),
    (ZX_USER_SIGNAL_2, "USER_2"),
    (ZX_USER_SIGNAL_3, "USER_3"),
    (ZX_USER_SIGNAL_4, "USER_4"),
    (ZX_USER_SIGNAL_5, "USER_5"),
    (ZX_USER_SIGNAL_6, "USER_6"),
    (ZX_USER_SIGNAL_7, "USER_7"),
];

impl Signals {
    /// `ZX_SIGNAL_NONE`.
    pub const NONE: Signals = Signals(ZX_SIGNAL_NONE);
    /// `ZX_VMO_ZERO_CHILDREN`.
    pub const VMO_ZERO_CHILDREN: Signals = Signals(ZX_VMO_ZERO_CHILDREN);
    /// `ZX_CHANNEL_READABLE`.
    pub const CHANNEL_READABLE: Signals = Signals(ZX_CHANNEL_READABLE);
    /// `ZX_CHANNEL_WRITABLE`.
    pub const CHANNEL_WRITABLE: Signals = Signals(ZX_CHANNEL_WRITABLE);
    /// `ZX_CHANNEL_PEER_CLOSED`.
    pub const CHANNEL_PEER_CLOSED: Signals = Signals(ZX_CHANNEL_PEER_CLOSED);
    /// `ZX_SIGNAL_HANDLE_CLOSED`.
    pub const HANDLE_CLOSED: Signals = Signals(ZX_SIGNAL_HANDLE_CLOSED);
    /// `ZX_USER_SIGNAL_0`.
    pub const USER_0: Signals = Signals(ZX_USER_SIGNAL_0);
    /// `ZX_USER_SIGNAL_1`.
    pub const USER_1: Signals = Signals(ZX_USER_SIGNAL_1);
    /// `ZX_USER_SIGNAL_2`.
    pub const USER_2: Signals = Signals(ZX_USER_SIGNAL_2);
    /// `ZX_USER_SIGNAL_3`.
    pub const USER_3: Signals = Signals(ZX_USER_SIGNAL_3);
    /// `ZX_USER_SIGNAL_4`.
    pub const USER_4: Signals = Signals(ZX_USER_SIGNAL_4);
    /// `ZX_USER_SIGNAL_5`.
    pub const USER_5: Signals = Signals(ZX_USER_SIGNAL_5);
    /// `ZX_USER_SIGNAL_6`.
    pub const USER_6: Signals = Signals(ZX_USER_SIGNAL_6);
    /// `ZX_USER_SIGNAL_7`.
    pub const USER_7: Signals = Signals(ZX_USER_SIGNAL_7);
    /// `ZX_USER_SIGNAL_ALL`: the eight user signals.
    pub const USER_ALL: Signals = Signals(ZX_USER_SIGNAL_ALL);
    /// `ZX_TASK_TERMINATED`.
    pub const TASK_TERMINATED: Signals = Signals(ZX_TASK_TERMINATED);
    /// `ZX_PROCESS_TERMINATED` (= `TASK_TERMINATED`).
    pub const PROCESS_TERMINATED: Signals = Signals(ZX_PROCESS_TERMINATED);
    /// `ZX_THREAD_TERMINATED` (= `TASK_TERMINATED`).
    pub const THREAD_TERMINATED: Signals = Signals(ZX_THREAD_TERMINATED);
    /// `ZX_THREAD_RUNNING`.
    pub const THREAD_RUNNING: Signals = Signals(ZX_THREAD_RUNNING);
    /// `ZX_THREAD_SUSPENDED`.
    pub const THREAD_SUSPENDED: Signals = Signals(ZX_THREAD_SUSPENDED);
    /// `ZX_EVENT_SIGNALED`.
    pub const EVENT_SIGNALED: Signals = Signals(ZX_EVENT_SIGNALED);
    /// `ZX_EVENTPAIR_SIGNALED`.
    pub const EVENTPAIR_SIGNALED: Signals = Signals(ZX_EVENTPAIR_SIGNALED);
    /// `ZX_EVENTPAIR_PEER_CLOSED`.
    pub const EVENTPAIR_PEER_CLOSED: Signals = Signals(ZX_EVENTPAIR_PEER_CLOSED);
    /// `ZX_TIMER_SIGNALED`.
    pub const TIMER_SIGNALED: Signals = Signals(ZX_TIMER_SIGNALED);
    /// `ZX_SOCKET_READABLE`.
    pub const SOCKET_READABLE: Signals = Signals(ZX_SOCKET_READABLE);
    /// `ZX_SOCKET_WRITABLE`.
    pub const SOCKET_WRITABLE: Signals = Signals(ZX_SOCKET_WRITABLE);
    /// `ZX_SOCKET_PEER_CLOSED`.
    pub const SOCKET_PEER_CLOSED: Signals = Signals(ZX_SOCKET_PEER_CLOSED);
    /// `ZX_SOCKET_PEER_WRITE_DISABLED`.
    pub const SOCKET_PEER_WRITE_DISABLED: Signals = Signals(ZX_SOCKET_PEER_WRITE_DISABLED);
    /// `ZX_SOCKET_WRITE_DISABLED`.
    pub const SOCKET_WRITE_DISABLED: Signals = Signals(ZX_SOCKET_WRITE_DISABLED);
    /// `ZX_JOB_TERMINATED`.
    pub const JOB_TERMINATED: Signals = Signals(ZX_JOB_TERMINATED);
    /// `ZX_JOB_NO_JOBS`.
    pub const JOB_NO_JOBS: Signals = Signals(ZX_JOB_NO_JOBS);
    /// `ZX_JOB_NO_PROCESSES`.
    pub const JOB_NO_PROCESSES: Signals = Signals(ZX_JOB_NO_PROCESSES);
}

impl_bitset!(Signals, NAMES);

#[cfg(test)]
mod tests {
    use super::*;
    use std::format;

    #[test]
    fn values() {
        assert_eq!(Signals::NONE.bits(), 0);
        assert_eq!(Signals::CHANNEL_READABLE.bits(), 1 << 0);
        assert_eq!(Signals::CHANNEL_WRITABLE.bits(), 1 << 1);
        assert_eq!(Signals::CHANNEL_PEER_CLOSED.bits(), 1 << 2);
        assert_eq!(Signals::VMO_ZERO_CHILDREN.bits(), 1 << 3);
        assert_eq!(Signals::TASK_TERMINATED.bits(), 1 << 3);
        assert_eq!(Signals::PROCESS_TERMINATED, Signals::TASK_TERMINATED);
        assert_eq!(Signals::THREAD_TERMINATED, Signals::TASK_TERMINATED);
        assert_eq!(Signals::THREAD_RUNNING.bits(), 1 << 4);
        assert_eq!(Signals::THREAD_SUSPENDED.bits(), 1 << 5);
        assert_eq!(Signals::HANDLE_CLOSED.bits(), 1 << 23);
        let users = [
            Signals::USER_0,
            Signals::USER_1,
            Signals::USER_2,
            Signals::USER_3,
            Signals::USER_4,
            Signals::USER_5,
            Signals::USER_6,
            Signals::USER_7,
        ];
        let mut all = Signals::NONE;
        for (i, u) in users.iter().enumerate() {
            assert_eq!(u.bits(), 1 << (24 + i));
            all |= *u;
        }
        assert_eq!(all, Signals::USER_ALL);
        assert_eq!(Signals::USER_ALL.bits(), 0xFF00_0000);
    }

    #[test]
    fn set_operations() {
        let s = Signals::CHANNEL_READABLE | Signals::USER_3;
        assert!(s.contains(Signals::USER_3));
        assert!(s.contains(Signals::NONE));
        assert!(!s.contains(Signals::USER_ALL));
        assert!(s.intersects(Signals::USER_ALL));
        assert!(!s.intersects(Signals::CHANNEL_PEER_CLOSED | Signals::USER_0));
        assert!(!Signals::NONE.intersects(Signals::NONE));
        assert_eq!(s.intersection(Signals::USER_ALL), Signals::USER_3);
        assert_eq!(s & Signals::USER_ALL, Signals::USER_3);
        assert_eq!(s.difference(Signals::USER_ALL), Signals::CHANNEL_READABLE);
        assert_eq!(s & !Signals::USER_ALL, Signals::CHANNEL_READABLE);
        assert_eq!(
            s.union(Signals::CHANNEL_WRITABLE),
            Signals::from_bits(0b11 | (1 << 27))
        );
        let mut t = s;
        t &= Signals::USER_3;
        assert_eq!(t, Signals::USER_3);
        t |= Signals::USER_0;
        assert_eq!(t.bits(), (1 << 24) | (1 << 27));
        assert!(Signals::NONE.is_empty());
        assert!(!t.is_empty());
        assert_eq!(Signals::default(), Signals::NONE);
        assert_eq!(Signals::from_bits(u32::MAX).bits(), u32::MAX);
    }

    #[test]
    fn debug_lists_names() {
        assert_eq!(format!("{:?}", Signals::NONE), "Signals(NONE)");
        assert_eq!(
            format!("{:?}", Signals::CHANNEL_READABLE | Signals::USER_7),
            "Signals(CHANNEL_READABLE | USER_7)"
        );
        assert_eq!(
            format!("{:?}", Signals::VMO_ZERO_CHILDREN),
            "Signals(VMO_ZERO_CHILDREN/TASK_TERMINATED)"
        );
        assert_eq!(
            format!("{:?}", Signals::HANDLE_CLOSED | Signals::from_bits(1 << 10)),
            "Signals(HANDLE_CLOSED | 0x400)"
        );
    }
}
