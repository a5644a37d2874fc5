//! SHARDS-style spatial sampling (Waldspurger et al., FAST '15): a
//! function is in the sample when a hash of its id falls below
//! `rate * 2^24`, so every call of a sampled function is kept and the
//! others are skipped; the idle bytes of the other sampled functions
//! count `1 / rate` times ([`super::lru::cold_count_scaled`]).

use sock_core::FunctionId;

/// Hash-threshold sampling of function ids.
#[derive(Clone, Copy, Debug)]
pub struct Sampler {
    rate: f64,
    threshold: u64,
}

const MODULUS: u64 = 1 << 24;

impl Sampler {
    /// `rate` in (0, 1]; 1 keeps every function.
    pub fn new(rate: f64) -> Sampler {
        Sampler {
            rate,
            threshold: (rate * MODULUS as f64).round() as u64,
        }
    }

    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// Whether `f`'s calls are in the sample.
    pub fn keeps(&self, f: FunctionId) -> bool {
        self.rate >= 1.0 || splitmix64(u64::from(f.0)) % MODULUS < self.threshold
    }
}

/// SplitMix64's finalizer: a fixed, well-mixed hash (deterministic runs).
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_about_the_rate() {
        let s = Sampler::new(0.25);
        let kept = (0..20_000).filter(|&i| s.keeps(FunctionId(i))).count();
        assert!((4_500..5_500).contains(&kept), "{kept}");
        assert!((0..100).all(|i| Sampler::new(1.0).keeps(FunctionId(i))));
    }
}
