//! Newtypes for ids and units, so that a time is never confused with a size
//! and a package id never with a function id.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::ops::{Add, AddAssign, Sub};

/// Largest time an input file or flag may give, in ms (1e12 ms is about
/// 31.7 years). Far below `u64::MAX` µs (5.8e5 years), so sums of many
/// such values stay exact instead of saturating (issue 12: `import_ms`
/// 1e300 reported 18,446,744,073,709 s simulated).
pub const MAX_MS: f64 = 1e12;
/// Largest memory or disk size an input may give, in MB (1e12 MiB is about
/// 1 EiB, below `u64::MAX` bytes).
pub const MAX_MB: f64 = 1e12;
/// Largest multiplier (`import_scale`, `install_scale`).
pub const MAX_SCALE: f64 = 1e3;

/// `v` for an error message: huge and tiny magnitudes in exponent form
/// (`1e308`, not 309 digits).
pub fn show(v: f64) -> String {
    if v.is_finite() && v != 0.0 && (v.abs() >= 1e9 || v.abs() < 1e-6) {
        format!("{v:e}")
    } else {
        format!("{v}")
    }
}

/// Checks that `value` is a finite number in `[0, max]`; the error text
/// completes "`<field>` is <value>; ...".
pub fn check_range(value: f64, max: f64) -> Result<f64, String> {
    if value.is_finite() && (0.0..=max).contains(&value) {
        Ok(value)
    } else {
        Err(format!("it must be a finite number in [0, {max:e}]"))
    }
}

/// A point in time or a duration, in microseconds of (virtual or wall) time.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Micros(pub u64);

impl Micros {
    pub const ZERO: Micros = Micros(0);

    /// Milliseconds given as a float (trace and calibration files use ms);
    /// negative and NaN inputs clamp to zero, and values past `u64::MAX` µs
    /// (+infinity included) saturate there. Inputs are range-checked with
    /// [`check_range`] before they get here, so neither happens in a run.
    pub fn from_ms_f64(ms: f64) -> Micros {
        if ms > 0.0 {
            // `as` saturates: +inf and anything past u64::MAX become u64::MAX.
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

    /// Mebibytes given as a float (trace files use MB); negative and NaN
    /// inputs clamp to zero, values past `u64::MAX` bytes saturate (see
    /// [`Micros::from_ms_f64`]).
    pub fn from_mb_f64(mb: f64) -> Bytes {
        if mb > 0.0 {
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

    #[test]
    fn huge_finite_numbers_are_out_of_range_not_wrapped() {
        // `--ttl-s 1e308` became an infinite ms value and then a TTL of 0.
        assert_eq!(Micros::from_ms_f64(1e308 * 1000.0), Micros(u64::MAX));
        assert_eq!(Bytes::from_mb_f64(f64::INFINITY), Bytes(u64::MAX));
        assert!(check_range(1e300, MAX_MS).is_err());
        assert!(check_range(f64::NAN, MAX_MS).is_err());
        assert!(check_range(-1.0, MAX_MS).is_err());
        assert_eq!(check_range(MAX_MS, MAX_MS), Ok(MAX_MS));
        assert!(Micros::from_ms_f64(MAX_MS).0 < u64::MAX / 1000);
        assert!(Bytes::from_mb_f64(MAX_MB).0 < u64::MAX / 10);
    }
}
