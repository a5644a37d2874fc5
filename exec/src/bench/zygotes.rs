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

use crate::baseline::docker;
use crate::container::{Container, ContainerSpec, Executor, ExecutorConfig, Role};
use crate::install::{Installer, Source};
use crate::measure::{self, Marks, Measured};
use crate::primitives::stats::Summary;
use crate::sys::clock;
use crate::zygote::ForkReport;
use anyhow::{bail, Context, Result};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

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

#[derive(Clone, Debug)]
struct Row {
    workload: &'static str,
    system: &'static str,
    start: Summary,
    cycle: Summary,
    /// Median of each phase (ms), in `Phases::NAMES` order; empty for Docker.
    phases: Vec<f64>,
    /// Forks only: median of each step of the fork phase (ms).
    steps: Vec<(String, f64)>,
}

/// One measured start: (until the response, with the destroy, phases,
/// the fork's report for a Zygote hit).
type Sample = (Duration, Duration, Measured, Option<ForkReport>);

/// Samples of one system.
#[derive(Default)]
struct Samples {
    start: Vec<Duration>,
    cycle: Vec<Duration>,
    phases: Vec<Measured>,
    /// The fork phase step by step: step name -> ns per sample.
    steps: std::collections::BTreeMap<String, Vec<u64>>,
    step_order: Vec<String>,
}

impl Samples {
    fn push(&mut self, (start, cycle, m, report): Sample) {
        self.start.push(start);
        self.cycle.push(cycle);
        self.phases.push(m);
        if let Some(f) = report {
            let mut at = f.prepared_ns;
            for (name, t) in &f.steps {
                if !self.step_order.contains(name) {
                    self.step_order.push(name.clone());
                }
                self.steps
                    .entry(name.clone())
                    .or_default()
                    .push(t.saturating_sub(at));
                at = at.max(*t);
            }
        }
    }

    /// Median of each fork step, in ms, in the order the steps happen.
    fn step_medians(&self) -> Vec<(String, f64)> {
        self.step_order
            .iter()
            .map(|n| {
                let mut v = self.steps[n].clone();
                (n.clone(), Summary::from_ns(&mut v).median_us / 1e3)
            })
            .collect()
    }

    fn row(&self, workload: &'static str, system: &'static str) -> Row {
        let phases = (0..sock_core::cost::Phases::NAMES.len())
            .map(|i| {
                let mut ns: Vec<u64> = self
                    .phases
                    .iter()
                    .map(|m| m.phases.values()[i].saturating_mul(1_000))
                    .collect();
                Summary::from_ns(&mut ns).median_us / 1e3
            })
            .collect();
        Row {
            workload,
            system,
            start: Summary::from_durations(&self.start),
            cycle: Summary::from_durations(&self.cycle),
            phases,
            steps: self.step_medians(),
        }
    }
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

fn measure(
    exec: &mut Executor,
    w: &Workload,
    engine: Option<&docker::Docker>,
    opts: &ZygoteBench,
) -> Result<Vec<Row>> {
    let spec = ContainerSpec {
        handler_dir: w.handler.clone(),
        packages: w.mounts.clone(),
        imports: w.modules.clone(),
    };
    let zspec = ContainerSpec {
        handler_dir: PathBuf::new(),
        packages: w.mounts.clone(),
        imports: w.modules.clone(),
    };
    let forked = ContainerSpec {
        imports: Vec::new(),
        ..spec.clone()
    };
    eprintln!("bench zygotes: {}: starting the Zygote", w.name);
    let zygote = exec.create_zygote(&zspec)?;
    let info = exec.ping(&zygote, T)?;
    eprintln!(
        "bench zygotes: {}: Zygote ready (imported {:?} in {:.1} ms)",
        w.name,
        info.modules,
        info.import_us as f64 / 1e3
    );
    let (mut fresh, mut fork, mut spare) =
        (Samples::default(), Samples::default(), Samples::default());
    let mut dock = Vec::new();
    let docker_every = if opts.n_docker == 0 {
        usize::MAX
    } else {
        opts.n.div_ceil(opts.n_docker).max(1)
    };
    // One warm-up of each, not recorded (page cache, pool).
    for i in 0..=opts.n {
        let record = i > 0;
        let got = timed(exec, w.name, "fresh", |ex| Ok((ex.create(&spec)?, None)))?;
        if record {
            fresh.push(got);
        }
        let got = timed(exec, w.name, "forked", |ex| {
            let (c, report) = ex.fork_with(&zygote, &forked, Role::Handler, false, T)?;
            Ok((c, Some(report)))
        })?;
        if record {
            fork.push(got);
        }
        exec.refill(&zygote, T)?;
        let got = timed(exec, w.name, "spare", |ex| {
            let (c, report) = ex.fork_with(&zygote, &forked, Role::Handler, true, T)?;
            if !report.spare {
                bail!("the Zygote had no spare after a refill");
            }
            Ok((c, Some(report)))
        })?;
        if record {
            spare.push(got);
        }

        if let Some(d) = engine {
            if record && dock.len() < opts.n_docker && i % docker_every == 0 {
                dock.push(docker_once(d, w)?);
            }
        }
        if record && i % 10 == 0 {
            eprintln!("bench zygotes: {}: {i}/{}", w.name, opts.n);
        }
    }
    exec.destroy(zygote)?;
    let mut rows = vec![
        fresh.row(w.name, "fresh"),
        fork.row(w.name, "zygote"),
        spare.row(w.name, "spare"),
    ];
    if !dock.is_empty() {
        let s = Summary::from_durations(&dock);
        rows.push(Row {
            workload: w.name,
            system: "docker",
            start: s,
            cycle: s,
            phases: Vec::new(),
            steps: Vec::new(),
        });
    }
    Ok(rows)
}

/// Starts a container with `start` (a fork also returns its report),
/// sends it one request and destroys it: (time to the response, time
/// including the destroy, the start's measured phases).
fn timed(
    exec: &mut Executor,
    workload: &str,
    system: &str,
    start: impl FnOnce(&mut Executor) -> Result<(Container, Option<ForkReport>)>,
) -> Result<Sample> {
    let t = Instant::now();
    let start_ns = clock::monotonic_ns();
    let (mut c, report) = start(exec)?;
    let r = exec.invoke(&mut c, "{}", T)?;
    let marks = Marks {
        start_ns,
        installed_ns: start_ns,
        done_ns: clock::monotonic_ns(),
    };
    let started = t.elapsed();
    exec.destroy(c)?;
    let cycle = t.elapsed();
    if r.status != 200 {
        bail!(
            "{workload}: {system} container answered {}: {}",
            r.status,
            r.body
        );
    }
    let m = match &report {
        Some(f) => measure::zygote_hit(&marks, f, &r),
        None => measure::fresh(&marks, &r),
    };
    Ok((started, cycle, m, report))
}

/// `docker run --rm --network none -v <pkg>:/packages/<key>:ro ... image
/// python3 -S -c "<imports>; f()"`: the same workload in a Docker container.
fn docker_once(d: &docker::Docker, w: &Workload) -> Result<Duration> {
    let mut cmd = std::process::Command::new("docker");
    cmd.args(["run", "--rm", "--network", "none"]);
    let mut paths = Vec::new();
    for (key, dir) in &w.mounts {
        cmd.arg("-v")
            .arg(format!("{}:/packages/{key}:ro", dir.display()));
        paths.push(format!("/packages/{key}"));
    }
    // Module names are data (argv[1], a JSON list), as in the handler.
    let code = "import sys, json; sys.path[:0] = sys.argv[2:]; \
                [__import__(m) for m in json.loads(sys.argv[1])]; print(1)";
    let modules = serde_json::Value::from(w.modules.clone()).to_string();
    cmd.arg(&d.image)
        .args(["/usr/bin/python3", "-S", "-c", code, &modules])
        .args(&paths);
    cmd.stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let t = Instant::now();
    let out = cmd.output().context("running docker")?;
    let took = t.elapsed();
    if !out.status.success() {
        bail!(
            "docker run failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(took)
}

fn csv(rows: &[Row]) -> String {
    let mut s =
        String::from("workload,system,n,start_p50_ms,start_p95_ms,cycle_p50_ms,cycle_p95_ms\n");
    for r in rows {
        let _ = writeln!(
            s,
            "{},{},{},{:.3},{:.3},{:.3},{:.3}",
            r.workload,
            r.system,
            r.start.samples,
            r.start.median_us / 1e3,
            r.start.p95_us / 1e3,
            r.cycle.median_us / 1e3,
            r.cycle.p95_us / 1e3
        );
    }
    s
}

fn render(rows: &[Row], opts: &ZygoteBench, keys: &[String]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Zygote start vs fresh start (medians; start = until the response, cycle = with destroy)"
    );
    let _ = writeln!(
        s,
        "big workload: import {} ({} packages: {})\n",
        opts.modules.join(", "),
        keys.len(),
        keys.join(" ")
    );
    let _ = writeln!(
        s,
        "{:<8} {:<8} {:>4} {:>12} {:>12} {:>12} {:>12}",
        "workload", "system", "n", "start p50", "start p95", "cycle p50", "speed-up"
    );
    for r in rows {
        let zygote = rows
            .iter()
            .find(|z| z.workload == r.workload && z.system == "spare");
        let ratio = zygote.map_or(f64::NAN, |z| {
            if r.system == "docker" {
                r.cycle.median_us / z.cycle.median_us
            } else {
                r.start.median_us / z.start.median_us
            }
        });
        let _ = writeln!(
            s,
            "{:<8} {:<8} {:>4} {:>10.2}ms {:>10.2}ms {:>10.2}ms {:>11.1}x",
            r.workload,
            r.system,
            r.start.samples,
            r.start.median_us / 1e3,
            r.start.p95_us / 1e3,
            r.cycle.median_us / 1e3,
            ratio
        );
    }
    let _ = writeln!(
        s,
        "\nspeed-up: the system's median over the spare Zygote hit's (start for lean \
         containers, cycle vs cycle for Docker, whose `run --rm` includes removal)"
    );
    let names = sock_core::cost::Phases::NAMES;
    let _ = write!(
        s,
        "\nstep breakdown (medians, ms; crate::measure)\n{:<8} {:<8}",
        "workload", "system"
    );
    for n in &names[1..] {
        let _ = write!(s, " {n:>9}");
    }
    let _ = writeln!(s);
    for r in rows.iter().filter(|r| !r.phases.is_empty()) {
        let _ = write!(s, "{:<8} {:<8}", r.workload, r.system);
        for v in &r.phases[1..] {
            let _ = write!(s, " {v:>9.3}");
        }
        let _ = writeln!(s);
    }
    let _ = writeln!(
        s,
        "\nfork phase step by step (medians, ms; each step from the end of the one before, \
         the first from the request being sent)"
    );
    for r in rows.iter().filter(|r| !r.steps.is_empty()) {
        let steps: Vec<String> = r.steps.iter().map(|(n, v)| format!("{n} {v:.3}")).collect();
        let _ = writeln!(s, "{:<8} {:<8} {}", r.workload, r.system, steps.join("  "));
    }
    s
}

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
