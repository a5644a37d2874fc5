//! Per-package costs of a trace's packages: install time, own import time
//! given the dependencies, and the memory that import adds.

use super::calibrator::{progress, Calibrator};
use super::samples::{median, ms, us_ms, Measured, PackageSample};
use super::PACKAGE_RUNS;
use crate::cli::CalibrateArgs;
use crate::container::ContainerSpec;
use crate::install::wheel::module_name;
use crate::install::{Installer, Source};
use sock_core::trace::Catalog;
use sock_core::PackageId;
use std::collections::HashMap;
use std::time::Instant;

impl Calibrator {
    /// Per-package costs of the trace's first packages.
    pub(super) fn packages(
        &mut self,
        m: &mut Measured,
        catalog: &Catalog,
        args: &CalibrateArgs,
        python: &str,
    ) -> anyhow::Result<()> {
        let source = match &args.find_links {
            Some(d) => Source::FindLinks(d.clone()),
            None => Source::Index,
        };
        let installer = Installer::new(self.work.join("packages"), source, python)?;
        let count = args
            .max_packages
            .unwrap_or(usize::MAX)
            .min(catalog.package_count());
        // Install time of each key, from the run that installed it.
        let mut installs: HashMap<String, f64> = HashMap::new();
        for i in 0..count {
            let p = PackageId(i as u32);
            let key = catalog.package(p).key();
            let t = Instant::now();
            match self.package(catalog, p, &installer, &mut installs) {
                Ok(s) => {
                    progress(format!(
                        "package {}/{count} {key}: install {:.0} ms, import {:.2} ms, {:.2} MB ({:.1} s)",
                        i + 1,
                        s.install_ms,
                        s.import_ms,
                        s.import_mb,
                        t.elapsed().as_secs_f64()
                    ));
                    m.packages.insert(key, s);
                }
                Err(e) => {
                    progress(format!("package {}/{count} {key}: skipped: {e:#}", i + 1));
                    let why: Vec<String> = format!("{e:#}")
                        .lines()
                        .map(|l| l.trim().to_string())
                        .filter(|l| !l.is_empty())
                        .collect();
                    m.skipped.push((key, why.join(" | ")));
                }
            }
        }
        Ok(())
    }

    fn package(
        &mut self,
        catalog: &Catalog,
        p: PackageId,
        installer: &Installer,
        installs: &mut HashMap<String, f64>,
    ) -> anyhow::Result<PackageSample> {
        let order = install_order(catalog, p);
        let mut packages = Vec::new();
        for &q in &order {
            let key = catalog.package(q).key();
            if !installs.contains_key(&key) {
                let done = installer.install(&key)?;
                installs.insert(key.clone(), ms(done.elapsed));
            }
            packages.push((key.clone(), installer.key_path(&key)?));
        }
        let modules = |q: PackageId| {
            let pkg = catalog.package(q);
            if pkg.modules.is_empty() {
                vec![module_name(&pkg.name)]
            } else {
                pkg.modules.clone()
            }
        };
        let deps: Vec<String> = order[..order.len() - 1]
            .iter()
            .flat_map(|&q| modules(q))
            .collect();
        let base = ContainerSpec {
            packages,
            imports: deps.clone(),
            ..self.noop.clone()
        };
        let full = ContainerSpec {
            imports: deps.into_iter().chain(modules(p)).collect(),
            ..base.clone()
        };
        let runs = self.n.min(PACKAGE_RUNS);
        let (mut base_ms, mut base_mb, mut full_ms, mut full_mb) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        // A warm-up first: reads the files into the page cache.
        self.fresh_once(&full)?;
        for _ in 0..runs {
            let (_, r, mem) = self.fresh_once(&base)?;
            base_ms.push(us_ms(r.import_us));
            base_mb.push(mem);
            let (_, r, mem) = self.fresh_once(&full)?;
            full_ms.push(us_ms(r.import_us));
            full_mb.push(mem);
        }
        let key = catalog.package(p).key();
        Ok(PackageSample {
            import_ms: median(&full_ms) - median(&base_ms),
            import_mb: median(&full_mb) - median(&base_mb),
            install_ms: installs.get(&key).copied().unwrap_or(0.0),
            runs,
        })
    }
}

/// `p`'s dependency closure, dependencies before their dependents, `p`
/// last.
fn install_order(catalog: &Catalog, p: PackageId) -> Vec<PackageId> {
    fn visit(catalog: &Catalog, q: PackageId, seen: &mut Vec<bool>, out: &mut Vec<PackageId>) {
        if std::mem::replace(&mut seen[q.index()], true) {
            return;
        }
        for &d in &catalog.package(q).deps {
            visit(catalog, PackageId(d), seen, out);
        }
        out.push(q);
    }
    let mut seen = vec![false; catalog.package_count()];
    let mut out = Vec::new();
    visit(catalog, p, &mut seen, &mut out);
    out
}
