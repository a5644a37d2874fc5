//! The study as text tables (stdout of `sim trace stats`).

use super::compute::{Dist, Study};
use std::fmt::Write as _;

fn pct(x: f64) -> String {
    format!("{:.1}%", 100.0 * x)
}

fn dist_row(s: &mut String, label: &str, d: &Dist) {
    let _ = writeln!(
        s,
        "  {label:<24}{:>9.1}{:>9.1}{:>9.1}{:>9.1}{:>9.1}{:>9.1}{:>10.1}",
        d.min, d.p25, d.p50, d.mean, d.p90, d.p99, d.max
    );
}

impl Study {
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let t = &self.trace;
        let _ = writeln!(
            s,
            "trace      {}: {} packages ({} imputed, {} used by a function), {} functions, {} invocations\n",
            t.path, t.packages, t.imputed_packages, t.packages_in_use, t.functions, t.invocations
        );
        self.popularity_text(&mut s);
        self.fit_text(&mut s);
        self.cost_text(&mut s);
        self.skew_text(&mut s);
        s
    }

    fn popularity_text(&self, s: &mut String) {
        let _ = writeln!(
            s,
            "package popularity: share of all imports going to the top packages"
        );
        let _ = writeln!(
            s,
            "(SOCK, 876K GitHub files: 36% of imports go to 0.02% of packages)"
        );
        let _ = writeln!(
            s,
            "  {:<14}{:>10}{:>14}{:>15}",
            "top", "packages", "by function", "by invocation"
        );
        for r in &self.popularity {
            let label = r.label.trim_start_matches("top ");
            let _ = writeln!(
                s,
                "  {label:<14}{:>10}{:>14}{:>15}",
                r.packages,
                pct(r.by_function),
                pct(r.by_invocation)
            );
        }
        let _ = writeln!(
            s,
            "\nmost common packages (share of functions whose closure holds it)"
        );
        for (i, p) in self.top_packages.iter().enumerate() {
            let mark = if p.imputed { "  (costs imputed)" } else { "" };
            let _ = writeln!(
                s,
                "  {:>3}  {:<36}{:>6}{:>8}{mark}",
                i + 1,
                p.package,
                p.functions,
                pct(p.function_share)
            );
        }
        let _ = writeln!(s);
    }

    fn fit_text(&self, s: &mut String) {
        let _ = writeln!(s, "closures that fit entirely in the top N packages");
        let _ = writeln!(
            s,
            "  {:<8}{:>12}{:>14}",
            "top N", "functions", "invocations"
        );
        for r in &self.closure_fit {
            let _ = writeln!(
                s,
                "  {:<8}{:>12}{:>14}",
                r.top,
                pct(r.functions),
                pct(r.invocations)
            );
        }
        let d = &self.closure_size;
        let _ = writeln!(
            s,
            "\nclosure size (packages per function, closed under deps): min {} p25 {} median {} mean {:.1} p75 {} p90 {} p99 {} max {}; {} empty (hello-world)\n",
            d.min, d.p25, d.p50, d.mean, d.p75, d.p90, d.p99, d.max, self.empty_closures
        );
    }

    fn cost_text(&self, s: &mut String) {
        let _ = writeln!(
            s,
            "costs{:<21}{:>9}{:>9}{:>9}{:>9}{:>9}{:>9}{:>10}",
            "", "min", "p25", "median", "mean", "p90", "p99", "max"
        );
        let c = &self.costs;
        dist_row(s, "package import ms", &c.package_import_ms);
        dist_row(s, "package import MB", &c.package_import_mb);
        dist_row(s, "package install ms", &c.package_install_ms);
        dist_row(s, "package disk MB", &c.package_disk_mb);
        dist_row(s, "closure import ms", &c.closure_import_ms);
        dist_row(s, "closure install ms", &c.closure_install_ms);
        let _ = writeln!(s, "  (package: exclusive cost of each table entry; closure: sum over a function's closure)\n");
    }

    fn skew_text(&self, s: &mut String) {
        let k = &self.skew;
        let _ = write!(s, "invocation skew: ");
        let parts: Vec<String> = k
            .rows
            .iter()
            .map(|(x, share)| format!("top {x}% of functions take {}", pct(*share)))
            .collect();
        let _ = writeln!(s, "{}", parts.join(", "));
        let _ = writeln!(
            s,
            "  Gini {:.3}; {} functions never invoked",
            k.gini, k.never_invoked
        );
    }
}
