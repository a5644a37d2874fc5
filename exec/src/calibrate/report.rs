//! The printed report: each parameter's median, quartiles, sample count
//! and default, then the measured packages beside the trace's figures.

use super::samples::{median, stat, Measured, Stat};
use super::BIG_PACKAGE_MB;
use sock_core::cost::CostParams;
use sock_core::trace::Catalog;
use std::path::Path;

/// A figure for the report: NaN (not measured) stays visible as NaN.
fn shown(v: f64) -> f64 {
    if v.is_finite() {
        v.max(0.0)
    } else {
        f64::NAN
    }
}
impl Measured {
    /// The report: each parameter's median, quartiles, sample count and
    /// default; then the packages beside the trace's figures.
    pub(super) fn render(
        &self,
        params: &CostParams,
        catalog: Option<&Catalog>,
        out: &Path,
    ) -> String {
        let d = CostParams::default();
        let mut s = format!(
            "{:<22} {:>10} {:>21} {:>5} {:>10}\n",
            "parameter", "median", "p25 - p75", "n", "default"
        );
        let mut row = |name: &str, value: f64, st: Option<Stat>, default: f64| {
            let (range, n) = match st {
                Some(st) if st.n > 0 => {
                    (format!("{:.3} - {:.3}", st.p25, st.p75), st.n.to_string())
                }
                _ => ("-".into(), "-".into()),
            };
            s.push_str(&format!(
                "{name:<22} {value:>10.3} {range:>21} {n:>5} {default:>10.3}\n"
            ));
        };
        let per_mb = self.per_mb();
        row(
            "container_create_ms",
            params.container_create_ms,
            Some(stat(&self.prepare)),
            d.container_create_ms,
        );
        row(
            "create_per_package_ms",
            params.create_per_package_ms,
            Some(stat(&self.prepare_many)),
            d.create_per_package_ms,
        );
        row(
            "spare_hit_ms",
            params.spare_hit_ms,
            Some(stat(&self.spare)),
            d.spare_hit_ms,
        );
        row(
            "transport_ms",
            params.transport_ms,
            Some(stat(&self.transport_warm)),
            d.transport_ms,
        );
        row(
            "transport_cold_ms",
            params.transport_cold_ms,
            None,
            d.transport_cold_ms,
        );
        row(
            "transport_fresh_ms",
            params.transport_fresh_ms,
            None,
            d.transport_fresh_ms,
        );
        row(
            "python_start_ms",
            params.python_start_ms,
            Some(stat(&self.python_start())),
            d.python_start_ms,
        );
        row(
            "fork_base_ms",
            params.fork_base_ms,
            Some(stat(&self.fork_base)),
            d.fork_base_ms,
        );
        row(
            "fork_per_mb_ms",
            params.fork_per_mb_ms,
            Some(stat(&per_mb)),
            d.fork_per_mb_ms,
        );
        row(
            "unpause_ms",
            params.unpause_ms,
            Some(stat(&self.unpause)),
            d.unpause_ms,
        );
        row("import_scale", params.import_scale, None, d.import_scale);
        row("install_scale", params.install_scale, None, d.install_scale);
        row(
            "interpreter_mb",
            params.interpreter_mb,
            Some(stat(&self.root_mb)),
            d.interpreter_mb,
        );
        row(
            "zygote_fork_mb",
            params.zygote_fork_mb,
            Some(stat(&self.fork_mb)),
            d.zygote_fork_mb,
        );
        let fresh = stat(&self.fresh);
        let big = stat(&self.fork_big);
        s.push_str(&format!(
            "\nfresh start (create + interpreter) median {:.3} ms (p25-p75 {:.3} - {:.3}, n {})\n\
             fork from the root Zygote ({:.1} MB) median {:.3} ms; from a Zygote holding a \
             {BIG_PACKAGE_MB} MB package ({:.1} MB) median {:.3} ms (p25-p75 {:.3} - {:.3}, n {})\n",
            fresh.median,
            fresh.p25,
            fresh.p75,
            fresh.n,
            median(&self.root_mb),
            median(&self.fork_base),
            self.big_mb,
            big.median,
            big.p25,
            big.p75,
            big.n,
        ));
        if !per_mb.is_empty() && median(&per_mb) < 0.0 {
            s.push_str("fork_per_mb_ms measured below 0 (noise); written as 0\n");
        }
        if let Some(catalog) = catalog {
            s.push_str(&format!(
                "\n{:<32} {:>9} {:>9} {:>9} {:>9} {:>10} {:>10} {:>4}\n",
                "package",
                "import_ms",
                "(trace)",
                "import_mb",
                "(trace)",
                "install_ms",
                "(trace)",
                "n"
            ));
            for (key, p) in &self.packages {
                let (tms, tmb, tins) = catalog
                    .lookup(key)
                    .map(|id| {
                        let t = catalog.package(id);
                        (t.import_ms, t.import_mb, t.install_ms)
                    })
                    .unwrap_or((f64::NAN, f64::NAN, f64::NAN));
                s.push_str(&format!(
                    "{key:<32} {:>9.2} {tms:>9.2} {:>9.2} {tmb:>9.2} {:>10.1} {tins:>10.1} {:>4}\n",
                    shown(p.import_ms),
                    shown(p.import_mb),
                    shown(p.install_ms),
                    p.runs
                ));
            }
            for (key, why) in &self.skipped {
                s.push_str(&format!("{key:<32} skipped: {why}\n"));
            }
        }
        s.push_str(&format!("\nwrote {}\n", out.display()));
        s
    }
}
