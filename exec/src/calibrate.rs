//! `sock-exec calibrate`: measures the cost model's parameters on this host.

use crate::cli::CalibrateArgs;
use std::path::Path;

/// Measures and writes the calibration file; returns a printable report.
pub fn run(state: &Path, base_root: &Path, args: &CalibrateArgs) -> anyhow::Result<String> {
    let _ = (state, base_root, args);
    anyhow::bail!("calibrate: not implemented yet")
}
