//! [`Status`], a typed `zx_status_t`.

use core::fmt;

use crate::consts::*;
use crate::zx_status_t;

/// A Zircon status code: [`Status::OK`] or one of the negative error codes.
///
/// Any `i32` can be held (`from_raw` keeps unknown values); [`Status::name`] and the
/// formatting traits name the known ones.
#[repr(transparent)]
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Status(i32);

/// The known codes, for [`Status::name`].
const NAMES: &[(zx_status_t, &str)] = &[
    (ZX_OK, "ZX_OK"),
    (ZX_ERR_INTERNAL, "ZX_ERR_INTERNAL"),
    (ZX_ERR_NOT_SUPPORTED, "ZX_ERR_NOT_SUPPORTED"),
    (ZX_ERR_NO_RESOURCES, "ZX_ERR_NO_RESOURCES"),
    (ZX_ERR_NO_MEMORY, "ZX_ERR_NO_MEMORY"),
    (ZX_ERR_INVALID_ARGS, "ZX_ERR_INVALID_ARGS"),
    (ZX_ERR_BAD_HANDLE, "ZX_ERR_BAD_HANDLE"),
    (ZX_ERR_WRONG_TYPE, "ZX_ERR_WRONG_TYPE"),
    (ZX_ERR_BAD_SYSCALL, "ZX_ERR_BAD_SYSCALL"),
    (ZX_ERR_OUT_OF_RANGE, "ZX_ERR_OUT_OF_RANGE"),
    (ZX_ERR_BUFFER_TOO_SMALL, "ZX_ERR_BUFFER_TOO_SMALL"),
    (ZX_ERR_BAD_STATE, "ZX_ERR_BAD_STATE"),
    (ZX_ERR_TIMED_OUT, "ZX_ERR_TIMED_OUT"),
    (ZX_ERR_SHOULD_WAIT, "ZX_ERR_SHOULD_WAIT"),
    (ZX_ERR_CANCELED, "ZX_ERR_CANCELED"),
    (ZX_ERR_PEER_CLOSED, "ZX_ERR_PEER_CLOSED"),
    (ZX_ERR_NOT_FOUND, "ZX_ERR_NOT_FOUND"),
    (ZX_ERR_ALREADY_EXISTS, "ZX_ERR_ALREADY_EXISTS"),
    (ZX_ERR_ALREADY_BOUND, "ZX_ERR_ALREADY_BOUND"),
    (ZX_ERR_UNAVAILABLE, "ZX_ERR_UNAVAILABLE"),
    (ZX_ERR_ACCESS_DENIED, "ZX_ERR_ACCESS_DENIED"),
];

/// What [`Status::name`] returns for a code this crate does not define.
const UNKNOWN_NAME: &str = "ZX_ERR_<unknown>";

impl Status {
    /// `ZX_OK`.
    pub const OK: Status = Status(ZX_OK);
    /// `ZX_ERR_INTERNAL`.
    pub const INTERNAL: Status = Status(ZX_ERR_INTERNAL);
    /// `ZX_ERR_NOT_SUPPORTED`.
    pub const NOT_SUPPORTED: Status = Status(ZX_ERR_NOT_SUPPORTED);
    /// `ZX_ERR_NO_RESOURCES`.
    pub const NO_RESOURCES: Status = Status(ZX_ERR_NO_RESOURCES);
    /// `ZX_ERR_NO_MEMORY`.
    pub const NO_MEMORY: Status = Status(ZX_ERR_NO_MEMORY);
    /// `ZX_ERR_INVALID_ARGS`.
    pub const INVALID_ARGS: Status = Status(ZX_ERR_INVALID_ARGS);
    /// `ZX_ERR_BAD_HANDLE`.
    pub const BAD_HANDLE: Status = Status(ZX_ERR_BAD_HANDLE);
    /// `ZX_ERR_WRONG_TYPE`.
    pub const WRONG_TYPE: Status = Status(ZX_ERR_WRONG_TYPE);
    /// `ZX_ERR_BAD_SYSCALL`.
    pub const BAD_SYSCALL: Status = Status(ZX_ERR_BAD_SYSCALL);
    /// `ZX_ERR_OUT_OF_RANGE`.
    pub const OUT_OF_RANGE: Status = Status(ZX_ERR_OUT_OF_RANGE);
    /// `ZX_ERR_BUFFER_TOO_SMALL`.
    pub const BUFFER_TOO_SMALL: Status = Status(ZX_ERR_BUFFER_TOO_SMALL);
    /// `ZX_ERR_BAD_STATE`.
    pub const BAD_STATE: Status = Status(ZX_ERR_BAD_STATE);
    /// `ZX_ERR_TIMED_OUT`.
    pub const TIMED_OUT: Status = Status(ZX_ERR_TIMED_OUT);
    /// `ZX_ERR_SHOULD_WAIT`.
    pub const SHOULD_WAIT: Status = Status(ZX_ERR_SHOULD_WAIT);
    /// `ZX_ERR_CANCELED`.
    pub const CANCELED: Status = Status(ZX_ERR_CANCELED);
    /// `ZX_ERR_PEER_CLOSED`.
    pub const PEER_CLOSED: Status = Status(ZX_ERR_PEER_CLOSED);
    /// `ZX_ERR_NOT_FOUND`.
    pub const NOT_FOUND: Status = Status(ZX_ERR_NOT_FOUND);
    /// `ZX_ERR_ALREADY_EXISTS`.
    pub const ALREADY_EXISTS: Status = Status(ZX_ERR_ALREADY_EXISTS);
    /// `ZX_ERR_ALREADY_BOUND`.
    pub const ALREADY_BOUND: Status = Status(ZX_ERR_ALREADY_BOUND);
    /// `ZX_ERR_UNAVAILABLE`.
    pub const UNAVAILABLE: Status = Status(ZX_ERR_UNAVAILABLE);
    /// `ZX_ERR_ACCESS_DENIED`.
    pub const ACCESS_DENIED: Status = Status(ZX_ERR_ACCESS_DENIED);

    /// Wraps a raw code; every value is kept as is.
    pub const fn from_raw(raw: zx_status_t) -> Status {
        Status(raw)
    }

    /// The raw code.
    pub const fn into_raw(self) -> zx_status_t {
        self.0
    }

    /// `true` for [`Status::OK`].
    pub const fn is_ok(self) -> bool {
        self.0 == ZX_OK
    }

    /// `Ok(())` for [`Status::OK`], `Err(self)` otherwise.
    pub const fn into_result(self) -> Result<(), Status> {
        if self.is_ok() {
            Ok(())
        } else {
            Err(self)
        }
    }

    /// Converts a raw code: `ZX_OK` gives `Ok(())`, anything else `Err`. Same as the free
    /// function [`ok`](crate::ok).
    pub const fn ok(raw: zx_status_t) -> Result<(), Status> {
        Status(raw).into_result()
    }

    /// The status a call reports for `result`: `OK` for `Ok(())`, else the error.
    pub const fn from_result(result: Result<(), Status>) -> Status {
        match result {
            Ok(()) => Status::OK,
            Err(status) => status,
        }
    }

    /// The C name, `"ZX_OK"` or `"ZX_ERR_NO_MEMORY"` style; `"ZX_ERR_<unknown>"` for a code
    /// this crate does not define.
    pub fn name(self) -> &'static str {
        NAMES
            .iter()
            .find(|(raw, _)| *raw == self.0)
            .map_or(UNKNOWN_NAME, |(_, name)| name)
    }

    fn is_known(self) -> bool {
        NAMES.iter().any(|(raw, _)| *raw == self.0)
    }
}

/// Converts a raw status: `ZX_OK` gives `Ok(())`, anything else `Err(Status)`.
pub const fn ok(raw: zx_status_t) -> Result<(), Status> {
    Status::ok(raw)
}

impl fmt::Debug for Status {
    /// The name (`ZX_ERR_NO_MEMORY`); an unknown code prints as `ZX_ERR_<unknown>(-99)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_known() {
            f.write_str(self.name())
        } else {
            write!(f, "{}({})", UNKNOWN_NAME, self.0)
        }
    }
}

impl fmt::Display for Status {
    /// Same as `Debug`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

impl core::error::Error for Status {}

impl From<Status> for zx_status_t {
    fn from(status: Status) -> zx_status_t {
        status.into_raw()
    }
}

impl From<Result<(), Status>> for Status {
    fn from(result: Result<(), Status>) -> Status {
        Status::from_result(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::format;

    const ALL: [Status; 21] = [
        Status::OK,
        Status::INTERNAL,
        Status::NOT_SUPPORTED,
        Status::NO_RESOURCES,
        Status::NO_MEMORY,
        Status::INVALID_ARGS,
        Status::BAD_HANDLE,
        Status::WRONG_TYPE,
        Status::BAD_SYSCALL,
        Status::OUT_OF_RANGE,
        Status::BUFFER_TOO_SMALL,
        Status::BAD_STATE,
        Status::TIMED_OUT,
        Status::SHOULD_WAIT,
        Status::CANCELED,
        Status::PEER_CLOSED,
        Status::NOT_FOUND,
        Status::ALREADY_EXISTS,
        Status::ALREADY_BOUND,
        Status::UNAVAILABLE,
        Status::ACCESS_DENIED,
    ];

    #[test]
    fn values_match_contract() {
        let expected = [
            0, -1, -2, -3, -4, -10, -11, -12, -13, -14, -15, -20, -21, -22, -23, -24, -25, -26,
            -27, -28, -30,
        ];
        for (s, e) in ALL.iter().zip(expected) {
            assert_eq!(s.into_raw(), e);
        }
    }

    #[test]
    fn names_and_round_trip() {
        assert_eq!(NAMES.len(), ALL.len());
        for s in ALL {
            assert_eq!(Status::from_raw(s.into_raw()), s);
            let name = s.name();
            assert!(name == "ZX_OK" || name.starts_with("ZX_ERR_"), "{name}");
            // The name is the one of the raw constant with that value.
            let c = crate::ALL_CONSTANTS
                .iter()
                .find(|c| c.name == name)
                .expect("name is an ABI constant");
            assert_eq!(c.value, s.into_raw() as i128);
            assert_eq!(format!("{s:?}"), name);
            assert_eq!(format!("{s}"), name);
        }
        assert_eq!(Status::NO_MEMORY.name(), "ZX_ERR_NO_MEMORY");
        assert_eq!(Status::OK.name(), "ZX_OK");
        assert_eq!(Status::default(), Status::OK);
    }

    #[test]
    fn unknown_codes_are_kept() {
        let s = Status::from_raw(-99);
        assert_eq!(s.into_raw(), -99);
        assert_eq!(s.name(), "ZX_ERR_<unknown>");
        assert_eq!(format!("{s:?}"), "ZX_ERR_<unknown>(-99)");
        assert_eq!(format!("{s}"), "ZX_ERR_<unknown>(-99)");
        assert_eq!(Status::from_raw(7).into_result(), Err(Status::from_raw(7)));
    }

    #[test]
    fn result_conversions() {
        assert_eq!(ok(0), Ok(()));
        assert_eq!(ok(ZX_ERR_BAD_HANDLE), Err(Status::BAD_HANDLE));
        assert_eq!(Status::ok(ZX_ERR_NO_MEMORY), Err(Status::NO_MEMORY));
        assert_eq!(Status::OK.into_result(), Ok(()));
        assert!(Status::OK.is_ok());
        assert!(!Status::CANCELED.is_ok());
        assert_eq!(Status::from_result(Ok(())), Status::OK);
        assert_eq!(
            Status::from_result(Err(Status::TIMED_OUT)),
            Status::TIMED_OUT
        );
        assert_eq!(Status::from(Err(Status::PEER_CLOSED)), Status::PEER_CLOSED);
        assert_eq!(i32::from(Status::ACCESS_DENIED), -30);
    }
}
