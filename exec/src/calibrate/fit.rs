//! Fitting the cost model's parameters ([`CostParams`]) to the samples:
//! medians, differences of medians and slopes, each checked finite.

use super::samples::{median, Measured};
use super::MOUNTS;
use anyhow::bail;
use sock_core::cost::{CostParams, PackageCost};

/// A finite value >= 0 (what the cost model accepts): a negative median
/// (noise around zero) becomes 0; NaN (no finite sample) is an error
/// naming the parameter, never written as 0 (issue 12).
pub(super) fn measured(name: &str, v: f64) -> anyhow::Result<f64> {
    if v.is_nan() || v.is_infinite() {
        bail!("{name} could not be measured (no finite sample); nothing was written");
    }
    Ok(v.max(0.0))
}

/// A package's figure: `None` (the trace's own figure is used) when it
/// could not be measured, with a warning.
pub(super) fn measured_package(key: &str, name: &str, v: f64) -> Option<f64> {
    if v.is_finite() {
        Some(v.max(0.0))
    } else {
        tracing::warn!(
            package = key,
            parameter = name,
            value = v,
            "not measured; the calibration leaves the trace's figure"
        );
        None
    }
}

impl Measured {
    /// The fresh start's samples minus the median create steps: the
    /// interpreter start.
    pub(super) fn python_start(&self) -> Vec<f64> {
        let create = median(&self.prepare);
        self.fresh.iter().map(|f| f - create).collect()
    }

    fn dmb(&self) -> f64 {
        self.big_mb - median(&self.root_mb)
    }

    /// Each big-Zygote fork's extra time over the median base fork, per MB.
    pub(super) fn per_mb(&self) -> Vec<f64> {
        let (base, dmb) = (median(&self.fork_base), self.dmb());
        if dmb.is_nan() || dmb <= 0.0 {
            return Vec::new();
        }
        self.fork_big.iter().map(|f| (f - base) / dmb).collect()
    }

    pub(super) fn params(&self) -> anyhow::Result<CostParams> {
        let per_package = (median(&self.prepare_many) - median(&self.prepare)) / MOUNTS as f64;
        Ok(CostParams {
            container_create_ms: measured("container_create_ms", median(&self.prepare))?,
            // A difference of two medians: noise can make it negative.
            create_per_package_ms: measured("create_per_package_ms", per_package.max(0.0))?,
            spare_hit_ms: measured("spare_hit_ms", median(&self.spare))?,
            transport_ms: measured("transport_ms", median(&self.transport_warm))?,
            // A difference of two medians: noise can make it negative.
            transport_cold_ms: measured(
                "transport_cold_ms",
                (median(&self.transport) - median(&self.transport_warm)).max(0.0),
            )?,
            transport_fresh_ms: measured(
                "transport_fresh_ms",
                (median(&self.transport_fresh) - median(&self.transport)).max(0.0),
            )?,
            python_start_ms: measured("python_start_ms", median(&self.python_start()))?,
            fork_base_ms: measured("fork_base_ms", median(&self.fork_base))?,
            fork_per_mb_ms: measured("fork_per_mb_ms", median(&self.per_mb()))?,
            unpause_ms: measured("unpause_ms", median(&self.unpause))?,
            import_scale: 1.0,
            install_scale: 1.0,
            interpreter_mb: measured("interpreter_mb", median(&self.root_mb))?,
            zygote_fork_mb: measured("zygote_fork_mb", median(&self.fork_mb))?,
            packages: self
                .packages
                .iter()
                .map(|(k, s)| {
                    let cost = PackageCost {
                        import_ms: measured_package(k, "import_ms", s.import_ms),
                        import_mb: measured_package(k, "import_mb", s.import_mb),
                        install_ms: measured_package(k, "install_ms", s.install_ms),
                    };
                    (k.clone(), cost)
                })
                .collect(),
            // A micro-benchmark's spread is not a run's: noise comes from
            // a run's records (`sim calibrate --from`).
            noise: Default::default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// Issue 12: a parameter with no finite sample (NaN median) was written
    /// into the calibration file as 0.
    #[test]
    fn nan_calibration_parameter_is_an_error_not_zero() {
        let err = Measured::default().params().err().map(|e| e.to_string());
        assert!(
            err.as_deref()
                .is_some_and(|e| e.contains("container_create_ms")),
            "{err:?}"
        );
        assert_eq!(measured("x", -0.5).ok(), Some(0.0));
        assert_eq!(measured_package("a==1", "import_ms", f64::NAN), None);
    }

    #[test]
    fn derived_parameters_are_clamped_and_consistent() {
        let m = Measured {
            fresh: vec![20.0, 22.0, 24.0],
            prepare: vec![1.0, 2.0, 3.0],
            fork_base: vec![0.5, 0.6, 0.7],
            fork_big: vec![2.6, 2.6, 2.6],
            root_mb: vec![10.0, 10.0, 10.0],
            big_mb: 210.0,
            fork_mb: vec![1.0, 2.0, 3.0],
            unpause: vec![0.1, 0.2, 0.3],
            prepare_many: vec![5.0, 6.0, 7.0],
            spare: vec![0.4, 0.5, 0.6],
            transport: vec![0.2, 0.3, 0.4],
            transport_fresh: vec![1.0, 1.3, 1.4],
            transport_warm: vec![0.1, 0.1, 0.2],
            ..Measured::default()
        };
        let p = m.params().expect("every parameter measured");
        assert_eq!(p.container_create_ms, 2.0);
        assert_eq!(p.create_per_package_ms, 0.5);
        assert_eq!((p.spare_hit_ms, p.transport_ms), (0.5, 0.1));
        assert!((p.transport_cold_ms - 0.2).abs() < 1e-12);
        assert!((p.transport_fresh_ms - 1.0).abs() < 1e-12);
        assert_eq!(p.python_start_ms, 20.0);
        assert!((p.fork_per_mb_ms - 0.01).abs() < 1e-12);
        assert_eq!(p.interpreter_mb, 10.0);
        assert_eq!(p.import_scale, 1.0);
        let shrink = Measured {
            fork_big: vec![0.1],
            ..m
        };
        let shrunk = shrink.params().expect("measured");
        assert_eq!(shrunk.fork_per_mb_ms, 0.0);
        let text = shrink.render(&shrunk, None, Path::new("x.json"));
        assert!(
            text.contains("fork_per_mb_ms") && text.contains("x.json"),
            "{text}"
        );
    }
}
