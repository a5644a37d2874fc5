//! Newtypes for ids and units, so that a time is never confused with a size
//! and a package id never with a function id.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::ops::{Add, AddAssign, Sub};

/// A point in time or a duration, in microseconds of (virtual or wall) time.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Micros(pub u64);

impl Micros {
    pub const ZERO: Micros = Micros(0);

    /// Milliseconds given as a float (trace and calibration files use ms);
    /// negative or non-finite inputs clamp to zero.
    pub fn from_ms_f64(ms: f64) -> Micros {
        if ms.is_finite() && ms > 0.0 {
            Micros((ms * 1000.0).round() as u64)
        } else {
            Micros(0)
        }
    }

    pub fn from_secs(s: u64) -> Micros {
        Micros(s.saturating_mul(1_000_000))
    }

    pub fn as_ms_f64(self) -> f64 {
        self.0 as f64 / 1000.0
    }

    pub fn saturating_sub(self, other: Micros) -> Micros {
        Micros(self.0.saturating_sub(other.0))
    }
}

impl Add for Micros {
    type Output = Micros;
    fn add(self, o: Micros) -> Micros {
        Micros(self.0.saturating_add(o.0))
    }
}

impl AddAssign for Micros {
    fn add_assign(&mut self, o: Micros) {
        self.0 = self.0.saturating_add(o.0);
    }
}

impl Sub for Micros {
    type Output = Micros;
    fn sub(self, o: Micros) -> Micros {
        self.saturating_sub(o)
    }
}

impl std::iter::Sum for Micros {
    fn sum<I: Iterator<Item = Micros>>(iter: I) -> Micros {
        iter.fold(Micros::ZERO, |a, b| a + b)
    }
}

impl fmt::Display for Micros {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.3}ms", self.as_ms_f64())
    }
}

/// An amount of memory or disk, in bytes.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Bytes(pub u64);

impl Bytes {
    pub const ZERO: Bytes = Bytes(0);
    const MIB: u64 = 1024 * 1024;

    /// Mebibytes given as a float (trace files use MB); negative or
    /// non-finite inputs clamp to zero.
    pub fn from_mb_f64(mb: f64) -> Bytes {
        if mb.is_finite() && mb > 0.0 {
            Bytes((mb * Self::MIB as f64).round() as u64)
        } else {
            Bytes(0)
        }
    }

    pub fn from_mb(mb: u64) -> Bytes {
        Bytes(mb.saturating_mul(Self::MIB))
    }

    pub fn as_mb_f64(self) -> f64 {
        self.0 as f64 / Self::MIB as f64
    }

    pub fn saturating_sub(self, other: Bytes) -> Bytes {
        Bytes(self.0.saturating_sub(other.0))
    }
}

impl Add for Bytes {
    type Output = Bytes;
    fn add(self, o: Bytes) -> Bytes {
        Bytes(self.0.saturating_add(o.0))
    }
}

impl AddAssign for Bytes {
    fn add_assign(&mut self, o: Bytes) {
        self.0 = self.0.saturating_add(o.0);
    }
}

impl Sub for Bytes {
    type Output = Bytes;
    fn sub(self, o: Bytes) -> Bytes {
        self.saturating_sub(o)
    }
}

impl std::iter::Sum for Bytes {
    fn sum<I: Iterator<Item = Bytes>>(iter: I) -> Bytes {
        iter.fold(Bytes::ZERO, |a, b| a + b)
    }
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $inner:ty) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub $inner);

        impl $name {
            pub fn index(self) -> usize {
                self.0 as usize
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0)
            }
        }
    };
}

id_type!(
    /// Index of a package in the trace's package table.
    PackageId,
    u32
);
id_type!(
    /// Index of a function in the trace's function table.
    FunctionId,
    u32
);
id_type!(
    /// A node of the Zygote tree; the root is always `ZygoteId(0)`.
    ZygoteId,
    u32
);
id_type!(
    /// A handler instance (one container running one function); ids are
    /// handed out in increasing order and never reused within a replay.
    InstanceId,
    u64
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_round_and_clamp() {
        assert_eq!(Micros::from_ms_f64(1.5), Micros(1500));
        assert_eq!(Micros::from_ms_f64(-3.0), Micros(0));
        assert_eq!(Micros::from_ms_f64(f64::NAN), Micros(0));
        assert_eq!(Bytes::from_mb_f64(1.0), Bytes(1 << 20));
        assert_eq!(Micros(5) - Micros(7), Micros(0));
    }
}
