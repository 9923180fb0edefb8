//! The operations [`Rights`](crate::Rights) and [`Signals`](crate::Signals) share.

/// Implements the bit-set API on a `struct $ty(u32)` whose named single bits are listed in
/// `$names` (`&[(u32, &str)]`; several names may share a bit, `Debug` then shows them
/// joined with `/`).
macro_rules! impl_bitset {
    ($ty:ident, $names:expr) => {
        impl $ty {
            /// Wraps raw bits; every bit is kept, named or not.
            pub const fn from_bits(bits: u32) -> $ty {
                $ty(bits)
            }

            /// The raw bits.
            pub const fn bits(self) -> u32 {
                self.0
            }

            /// `true` if every bit of `other` is set in `self` (always for an empty `other`).
            pub const fn contains(self, other: $ty) -> bool {
                self.0 & other.0 == other.0
            }

            /// `true` if `self` and `other` have a bit in common.
            pub const fn intersects(self, other: $ty) -> bool {
                self.0 & other.0 != 0
            }

            /// The bits set in either.
            pub const fn union(self, other: $ty) -> $ty {
                $ty(self.0 | other.0)
            }

            /// The bits set in both.
            pub const fn intersection(self, other: $ty) -> $ty {
                $ty(self.0 & other.0)
            }

            /// The bits of `self` that are not in `other`.
            pub const fn difference(self, other: $ty) -> $ty {
                $ty(self.0 & !other.0)
            }

            /// `true` if no bit is set.
            pub const fn is_empty(self) -> bool {
                self.0 == 0
            }
        }

        impl core::ops::BitOr for $ty {
            type Output = $ty;
            fn bitor(self, rhs: $ty) -> $ty {
                self.union(rhs)
            }
        }

        impl core::ops::BitAnd for $ty {
            type Output = $ty;
            fn bitand(self, rhs: $ty) -> $ty {
                self.intersection(rhs)
            }
        }

        impl core::ops::Not for $ty {
            type Output = $ty;
            /// Complements all 32 bits, named or not.
            fn not(self) -> $ty {
                $ty(!self.0)
            }
        }

        impl core::ops::BitOrAssign for $ty {
            fn bitor_assign(&mut self, rhs: $ty) {
                self.0 |= rhs.0;
            }
        }

        impl core::ops::BitAndAssign for $ty {
            fn bitand_assign(&mut self, rhs: $ty) {
                self.0 &= rhs.0;
            }
        }

        impl core::fmt::Debug for $ty {
            /// `Rights(READ | WRITE)`; unnamed bits are shown in hex, no bits as `NONE`.
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                crate::bitset::fmt_bits(f, stringify!($ty), self.0, $names)
            }
        }
    };
}

pub(crate) use impl_bitset;

/// Writes `Type(NAME | NAME/ALIAS | 0x...)`.
pub(crate) fn fmt_bits(
    f: &mut core::fmt::Formatter<'_>,
    type_name: &str,
    bits: u32,
    names: &[(u32, &str)],
) -> core::fmt::Result {
    write!(f, "{type_name}(")?;
    if bits == 0 {
        f.write_str("NONE")?;
        return f.write_str(")");
    }
    let mut first = true;
    let mut unnamed = 0u32;
    for bit in 0..32 {
        let mask = 1u32 << bit;
        if bits & mask == 0 {
            continue;
        }
        let mut named = false;
        for (_, name) in names.iter().filter(|(m, _)| *m == mask) {
            if !named {
                if !first {
                    f.write_str(" | ")?;
                }
                first = false;
            } else {
                f.write_str("/")?;
            }
            f.write_str(name)?;
            named = true;
        }
        if !named {
            unnamed |= mask;
        }
    }
    if unnamed != 0 {
        if !first {
            f.write_str(" | ")?;
        }
        write!(f, "{unnamed:#x}")?;
    }
    f.write_str(")")
}
