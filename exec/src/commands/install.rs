//! `sock-exec install` and `sock-exec packages`.

use crate::cli::Cli;
use crate::container::{Executor, ExecutorConfig};
use anyhow::{Context, Result};
use std::time::Duration;

pub(super) fn install(cli: &Cli, args: &crate::cli::InstallArgs) -> Result<()> {
    use crate::install::{build::BuildError, Installer, Source};
    let root = super::existing_base(cli)?;
    let python = crate::base::python_version(&root)
        .with_context(|| format!("no python3.N under {}/usr/lib", root.display()))?;
    let source = match &args.find_links {
        Some(d) => Source::FindLinks(d.clone()),
        None => Source::Index,
    };
    let cache = args
        .cache
        .clone()
        .unwrap_or_else(|| cli.state.join("packages"));
    let installer = Installer::new(&cache, source, &python)?;
    let keys = if args.no_deps {
        args.keys.clone()
    } else {
        installer.resolve(&args.keys).with_context(|| {
            "resolving the dependency closure (wheels only); install exact pins with --no-deps \
             to build source-only packages"
        })?
    };
    let mut exec: Option<Executor> = None;
    let mut names = std::collections::BTreeSet::new();
    let mut needs = Vec::new();
    for key in &keys {
        super::check_stop()?;
        let slot = &mut exec;
        let (got, _built) = installer.install_or_build(key, Duration::from_secs(900), || {
            eprintln!(
                "{key}: no wheel fits CPython {python}; building from source in a lean container"
            );
            if slot.is_none() {
                let mut config = ExecutorConfig::new(cli.state.clone(), root.clone());
                config.cgroup_prefix = "sock-exec-install".into();
                let ex = Executor::new(config).map_err(|e| BuildError::Container {
                    key: key.clone(),
                    err: e.to_string(),
                })?;
                *slot = Some(ex);
            }
            slot.as_mut().ok_or_else(|| BuildError::Container {
                key: key.clone(),
                err: "no executor".into(),
            })
        })?;
        names.insert(crate::install::canonical_name(
            got.key
                .split_once("==")
                .map_or(got.key.as_str(), |(n, _)| n),
        ));
        needs.extend(
            installer
                .requires(&got.key)?
                .into_iter()
                .map(|r| (got.key.clone(), r)),
        );
        println!(
            "{} {} in {:.2} s: modules {} at {}",
            got.key,
            if got.reused { "cached" } else { "installed" },
            got.elapsed.as_secs_f64(),
            got.modules.join(","),
            got.path.display()
        );
    }
    if let Some(ex) = exec {
        ex.shutdown()?;
    }
    // The closure, checked against the installed metadata (Requires-Dist;
    // environment markers other than extras are not evaluated).
    let missing: Vec<String> = needs
        .iter()
        .filter(|(_, dep)| !names.contains(&crate::install::canonical_name(dep)))
        .map(|(by, dep)| format!("{dep} (required by {by})"))
        .collect();
    if missing.is_empty() {
        println!(
            "closure complete: every Requires-Dist of the {} packages is installed",
            keys.len()
        );
    } else {
        println!(
            "not installed, though required (markers other than extras are not evaluated): {}",
            missing.join(", ")
        );
    }
    Ok(())
}

pub(super) fn packages(args: &crate::cli::PackagesArgs) -> Result<()> {
    use crate::install::wheel::{build_wheels, TestPackage};
    let (catalog, _) = super::run::read_trace(&args.trace)?;
    let pkgs: Vec<TestPackage> = (0..catalog.package_count())
        .map(|i| {
            let p = catalog.package(sock_core::PackageId(i as u32));
            let mut t = TestPackage::new(&p.name, &p.version);
            t.import_ms = p.import_ms * args.import_scale;
            t.import_mb = p.import_mb;
            t.requires = p
                .deps
                .iter()
                .map(|&d| catalog.package(sock_core::PackageId(d)).name.clone())
                .collect();
            t
        })
        .collect();
    let files = build_wheels(&args.out, &pkgs)?;
    println!(
        "wrote {} wheels to {} (import times x{})",
        files.len(),
        args.out.display(),
        args.import_scale
    );
    Ok(())
}
