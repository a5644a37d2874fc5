//! `sock-exec bench zygotes`: SOCK's Zygote experiment (§4.2, Figure 10's
//! question): how much faster is a handler that starts from a Zygote than
//! one that starts a fresh interpreter, with nothing to import (hello
//! world) and with big imports (numpy + pandas)? Docker runs the same
//! workloads as the baseline.
//!
//! Systems, measured side by side (round-robin within each iteration, so
//! machine noise hits them alike):
//! - `fresh`: a lean container whose fresh interpreter imports the
//!   packages, then serves the request;
//! - `zygote`: the same container forked from a Zygote that has imported
//!   them (a Zygote hit);
//! - `docker`: `docker run --rm --network none` of the base image with the
//!   same package folders bind-mounted, `python3 -c "import ...; handler"`.
//!
//! - `spare`: the same Zygote hit served by one of the Zygote's
//!   pre-forked children (issue 9); the Zygote forks its replacement
//!   between iterations, off the measured time, as `sock-exec run` does
//!   after a request;
//!
//! Two figures per system: `start` is the time until the response
//! (creation + import + one request; what a caller waits for), `cycle`
//! adds destroying the container (what `docker run --rm` includes). The
//! step breakdown (medians of each phase) comes from `crate::measure`,
//! the rule `sock-exec run` and `calibrate` use.
//!
//! Here: the options, the workloads and their handlers; `measure.rs`
//! measures a workload, `report.rs` writes the CSV and the report.

mod measure;
mod report;

use crate::baseline::docker;
use crate::container::{Executor, ExecutorConfig};
use crate::install::{Installer, Source};
use anyhow::{bail, Context, Result};
use measure::measure;
use report::{csv, render};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Options of the benchmark.
#[derive(Clone, Debug)]
pub struct ZygoteBench {
    pub n: usize,
    pub n_docker: usize,
    /// Requirements of the big workload (resolved to a closure by pip).
    pub packages: Vec<String>,
    /// Modules the big workload imports.
    pub modules: Vec<String>,
    pub find_links: Option<PathBuf>,
    pub docker: bool,
    pub out: PathBuf,
}

struct Workload {
    name: &'static str,
    handler: PathBuf,
    mounts: Vec<(String, PathBuf)>,
    modules: Vec<String>,
}

const T: Duration = Duration::from_secs(120);

/// Runs the benchmark; returns the printed report (also writes a CSV).
pub fn run(state: &Path, base: &Path, opts: &ZygoteBench) -> Result<String> {
    std::fs::create_dir_all(&opts.out)
        .with_context(|| format!("creating {}", opts.out.display()))?;
    let work = state.join("bench-zygotes");
    let python = crate::base::python_version(base).context("no python3.N in the base image")?;
    let source = match &opts.find_links {
        Some(d) => Source::FindLinks(d.clone()),
        None => Source::Index,
    };
    let installer = Installer::new(work.join("packages"), source, &python)?;
    eprintln!("bench zygotes: resolving {:?}", opts.packages);
    let keys = installer.resolve(&opts.packages)?;
    let mut mounts = Vec::new();
    for key in &keys {
        let got = installer.install(key)?;
        eprintln!(
            "bench zygotes: {} {}",
            got.key,
            if got.reused { "cached" } else { "installed" }
        );
        mounts.push((got.key, got.path));
    }
    for m in &opts.modules {
        if !is_module_name(m) {
            bail!("--modules: {m:?} is not a dotted Python identifier");
        }
    }
    let hello = write_handler(&work.join("hello"), &[])?;
    let big = write_handler(&work.join("big"), &opts.modules)?;
    let workloads = [
        Workload {
            name: "hello",
            handler: hello,
            mounts: Vec::new(),
            modules: Vec::new(),
        },
        Workload {
            name: "big",
            handler: big,
            mounts,
            modules: opts.modules.clone(),
        },
    ];
    let mut notes = Vec::new();
    let engine = if opts.docker {
        match docker::detect() {
            crate::baseline::Probe::Ready(e) => Some(e.image_from_rootfs(base, None)?),
            crate::baseline::Probe::Skipped { reason } => {
                notes.push(format!("docker skipped: {reason}"));
                None
            }
        }
    } else {
        None
    };
    let mut config = ExecutorConfig::new(state.to_path_buf(), base.to_path_buf());
    config.cgroup_prefix = "sock-exec-bench-zygotes".into();
    config.limits.memory_bytes = Some(1 << 30);
    let mut exec = Executor::new(config)?;
    let mut rows = Vec::new();
    for w in &workloads {
        rows.extend(measure(&mut exec, w, engine.as_ref(), opts)?);
    }
    exec.shutdown()?;
    let csv = csv(&rows);
    let path = opts.out.join("zygotes.csv");
    std::fs::write(&path, csv).with_context(|| format!("writing {}", path.display()))?;
    let mut report = render(&rows, opts, &keys);
    for n in notes {
        let _ = writeln!(report, "note: {n}");
    }
    let _ = writeln!(report, "wrote {}", path.display());
    Ok(report)
}

fn write_handler(dir: &Path, modules: &[String]) -> Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("f.py"), handler_source(modules))?;
    std::fs::set_permissions(dir.join("f.py"), std::fs::Permissions::from_mode(0o644))?;
    for d in [dir, dir.parent().unwrap_or(dir)] {
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755))?;
    }
    Ok(dir.to_path_buf())
}

/// The handler: imports `modules` and returns their types (hello world,
/// without modules: `1`). Module names are data, a JSON list (also a
/// Python literal) imported with `__import__`, never spliced into an
/// `import` statement (as `SOCK_IMPORTS` and `run`'s handlers do).
fn handler_source(modules: &[String]) -> String {
    let list = serde_json::Value::from(modules.to_vec()).to_string();
    format!(
        "import sys\n\n\
         MODULES = {list}\n\
         for _m in MODULES:\n    __import__(_m)\n\
         _MODS = [sys.modules[_m] for _m in MODULES]\n\n\n\
         def f(event):\n    \
         return [str(type(m)) for m in _MODS] or 1\n"
    )
}

// `--modules` takes dotted identifiers only: the runner's own rule.
use crate::run::handlers::is_module_name;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::python_eval;

    /// Module names used to be spliced into `import` statements: now the
    /// only statement is the fixed `import sys`, and the names are a list.
    #[test]
    fn module_names_are_data_in_the_handler() {
        let src = handler_source(&["json".into(), "os.path".into()]);
        let got = python_eval(&src, "[ns['MODULES'], ns['f']({}), names]").expect("runs");
        let got: serde_json::Value = serde_json::from_str(&got).expect("json");
        assert_eq!(got[0], serde_json::json!(["json", "os.path"]));
        assert_eq!(
            got[1],
            serde_json::json!(["<class 'module'>", "<class 'module'>"])
        );
        assert_eq!(got[2], serde_json::json!(["sys"]), "{src}");
        let hello = python_eval(&handler_source(&[]), "ns['f']({})").expect("runs");
        assert_eq!(hello.trim(), "1");
    }

    #[test]
    fn odd_module_names_stay_strings() {
        let odd = "x\"); import os; (\"\n\u{1b}";
        let src = handler_source(&[odd.to_string()]);
        let got = crate::testutil::python_parse(&src).expect("parses");
        assert_eq!(got[0], serde_json::json!(["sys"]), "{src}");
        assert!(
            got[2].as_array().is_some_and(|a| a.contains(&odd.into())),
            "the name is one string constant: {got}"
        );
        for bad in ["os; import x", "a..b", "1a", "", "a b"] {
            assert!(!is_module_name(bad), "{bad:?}");
        }
        assert!(is_module_name("numpy") && is_module_name("a.b_c"));
    }
}
