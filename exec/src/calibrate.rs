//! `sock-exec calibrate`: measures the cost model's parameters
//! ([`CostParams`]) on this host, with real lean containers and Zygotes,
//! and writes them as the calibration file `sim --calibration` and
//! `sock-exec run --calibration` read.
//!
//! Every sample is read through `crate::measure`, the rule `sock-exec
//! run` attributes each invocation's phases with (each phase between two
//! step boundaries), so a calibrated `sim` predicts what `run` measures:
//!
//! - fresh start of a no-op handler: its `create` phase (container set-up
//!   and interpreter start), which the model charges as
//!   `container_create_ms + python_start_ms`;
//! - `container_create_ms`: the `create` phase of a fork from the root
//!   Zygote (create steps 1-7); `python_start_ms` is the fresh start minus
//!   it; `create_per_package_ms`: the extra `create` with 8 package
//!   folders mounted, per folder;
//! - `fork_base_ms`: the `fork` phase of forks from the root Zygote;
//! - `fork_per_mb_ms`: the same from a Zygote holding a 200 MB test
//!   package: the extra fork time over the extra Zygote memory;
//! - `spare_hit_ms`: the `fork` phase when a pre-forked child of the root
//!   Zygote takes the container (refilled between samples);
//! - `unpause_ms`: the `unpause` phase of a paused no-op handler;
//! - `transport_ms`: the `transport` phase of all of the above;
//! - `interpreter_mb`: memory of a root Zygote's cgroup once it serves;
//!   `zygote_fork_mb`: memory of a handler's cgroup right after a fork
//!   from the root Zygote (its private memory);
//! - with a trace: per package, its install time (pip, `--no-deps`), its
//!   own import time given its dependencies (runtime-measured import time
//!   of deps + package minus that of deps alone, in fresh containers) and
//!   the memory that import adds.
//!
//! Memory is the cgroup's charge (`memory.current`, v1
//! `memory.usage_in_bytes`) *minus what the pooled cgroup held before the
//! container entered it*: pooled cgroups keep the page cache earlier
//! containers charged to them. MB are MiB, as [`Bytes::from_mb_f64`] reads
//! them. Times are medians over `--n` repetitions, after one discarded
//! warm-up run.

use crate::cgroup::Cgroup;
use crate::cli::CalibrateArgs;
use crate::container::{Container, ContainerSpec, Executor, ExecutorConfig, Response, Role};
use crate::install::wheel::{build_wheel, module_name, TestPackage};
use crate::install::{Installer, Source};
use crate::measure::{self, Marks};
use crate::sys::clock;
use anyhow::{anyhow, bail, Context};
use sock_core::cost::{CostParams, PackageCost};
use sock_core::record::PhasesUs;
use sock_core::trace::Catalog;
use sock_core::{Bytes, PackageId};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// cgroup prefix of the calibration executor's pool.
pub const CGROUP_PREFIX: &str = "sock-exec-calibrate";
/// Memory limit of each pooled cgroup: the big Zygote holds 200 MB, and a
/// trace's packages may hold more.
pub const MEMORY_LIMIT: u64 = 2 << 30;
/// Memory the big test package keeps alive (MB) for `fork_per_mb_ms`.
pub const BIG_PACKAGE_MB: f64 = 200.0;
/// Per-request and per-fork timeout.
const TIMEOUT: Duration = Duration::from_secs(120);
/// Package folders mounted to measure `create_per_package_ms`.
const MOUNTS: usize = 8;
/// How long a handler stays paused before `unpause_ms` is measured.
const PAUSE: Duration = Duration::from_millis(200);
/// Repetitions per package (at most).
const PACKAGE_RUNS: usize = 5;
const NOOP: &str = "def f(event):\n    return 1\n";

/// Measures and writes the calibration file; returns a printable report.
pub fn run(state: &Path, base_root: &Path, args: &CalibrateArgs) -> anyhow::Result<String> {
    if args.n == 0 {
        bail!("-n must be at least 1");
    }
    let catalog = match &args.trace {
        Some(path) => Some(read_catalog(path)?),
        None => None,
    };
    let python = crate::base::python_version(base_root)
        .ok_or_else(|| anyhow!("no python3.N under {}/usr/lib", base_root.display()))?;
    let work = state.join(format!("calibrate-{}", std::process::id()));
    make_work_dir(&work)?;
    let result = measure(state, base_root, args, catalog.as_ref(), &python, &work);
    let _ = std::fs::remove_dir_all(&work);
    let m = result?;
    let params = m.params()?;
    let text = serde_json::to_string_pretty(&params)?;
    std::fs::write(&args.out, format!("{text}\n"))
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    Ok(m.render(&params, catalog.as_ref(), &args.out))
}

fn read_catalog(path: &Path) -> anyhow::Result<Catalog> {
    let file = std::fs::File::open(path)
        .with_context(|| format!("cannot open trace {}", path.display()))?;
    let reader = sock_core::trace::TraceReader::new(
        std::io::BufReader::new(file),
        path.display().to_string(),
    )?;
    Ok(reader.into_parts().0)
}

/// `<work>` (recreated) with a world-readable no-op handler in `handler/`.
fn make_work_dir(work: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if work.exists() {
        std::fs::remove_dir_all(work).with_context(|| format!("clear {}", work.display()))?;
    }
    let h = work.join("handler");
    std::fs::create_dir_all(&h).with_context(|| format!("create {}", h.display()))?;
    std::fs::write(h.join("f.py"), NOOP).context("write the no-op handler")?;
    for (p, mode) in [
        (h.join("f.py"), 0o644),
        (h.clone(), 0o755),
        (work.into(), 0o755),
    ] {
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode))
            .with_context(|| format!("chmod {}", p.display()))?;
    }
    Ok(())
}

/// Starts the executor, measures, and always tears everything down.
fn measure(
    state: &Path,
    base_root: &Path,
    args: &CalibrateArgs,
    catalog: Option<&Catalog>,
    python: &str,
    work: &Path,
) -> anyhow::Result<Measured> {
    let mut config = ExecutorConfig::new(state.to_path_buf(), base_root.to_path_buf());
    config.cgroup_prefix = CGROUP_PREFIX.into();
    config.limits.memory_bytes = Some(MEMORY_LIMIT);
    let exec = Executor::new(config).context("starting the executor")?;
    let mut cal = Calibrator {
        exec,
        live: Vec::new(),
        n: args.n,
        work: work.to_path_buf(),
        noop: ContainerSpec {
            handler_dir: work.join("handler"),
            ..ContainerSpec::default()
        },
    };
    let mut m = Measured::default();
    let result = cal.host(&mut m, python).and_then(|()| match catalog {
        Some(catalog) => cal.packages(&mut m, catalog, args, python),
        None => Ok(()),
    });
    let teardown = cal.teardown();
    result?;
    teardown.context("tearing down the calibration containers")?;
    Ok(m)
}

/// Everything measured, as raw samples (ms or MB).
#[derive(Debug, Default)]
struct Measured {
    /// Fresh no-op start: create + invoke - handler - imports.
    fresh: Vec<f64>,
    /// Create steps 1-7 of forks from the root Zygote.
    prepare: Vec<f64>,
    /// Fork phase from the root Zygote.
    fork_base: Vec<f64>,
    /// Fork phase from the big Zygote.
    fork_big: Vec<f64>,
    /// Create steps 1-7 with [`MOUNTS`] package folders mounted.
    prepare_many: Vec<f64>,
    /// Fork phase when a pre-forked child takes the container.
    spare: Vec<f64>,
    /// Transport phase of every start above.
    transport: Vec<f64>,
    /// Root Zygotes' memory.
    root_mb: Vec<f64>,
    /// The big Zygote's memory.
    big_mb: f64,
    /// Handlers' memory right after a fork from the root Zygote.
    fork_mb: Vec<f64>,
    unpause: Vec<f64>,
    /// Measured packages, by `name==version`.
    packages: BTreeMap<String, PackageSample>,
    /// Packages that could not be measured, with why.
    skipped: Vec<(String, String)>,
}

#[derive(Clone, Debug)]
struct PackageSample {
    import_ms: f64,
    import_mb: f64,
    install_ms: f64,
    runs: usize,
}

/// Median and quartiles (nearest rank, `sock_core::quantile`).
#[derive(Clone, Copy, Debug, PartialEq)]
struct Stat {
    median: f64,
    p25: f64,
    p75: f64,
    n: usize,
}

/// Nearest rank (`sock_core::quantile`), as every report of the project.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    sock_core::quantile::nearest_rank(sorted, q).unwrap_or(f64::NAN)
}

fn stat(samples: &[f64]) -> Stat {
    let mut s: Vec<f64> = samples.iter().copied().filter(|v| v.is_finite()).collect();
    s.sort_by(f64::total_cmp);
    Stat {
        median: quantile(&s, 0.5),
        p25: quantile(&s, 0.25),
        p75: quantile(&s, 0.75),
        n: s.len(),
    }
}

fn median(samples: &[f64]) -> f64 {
    stat(samples).median
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn us_ms(us: Option<u64>) -> f64 {
    us.unwrap_or(0) as f64 / 1e3
}

/// Bytes as the cost model's MB (MiB; see [`Bytes::from_mb_f64`]).
fn mb(bytes: u64) -> f64 {
    Bytes(bytes).as_mb_f64()
}

/// A finite value >= 0 (what the cost model accepts): a negative median
/// (noise around zero) becomes 0; NaN (no finite sample) is an error
/// naming the parameter, never written as 0 (issue 12).
fn measured(name: &str, v: f64) -> anyhow::Result<f64> {
    if v.is_nan() || v.is_infinite() {
        bail!("{name} could not be measured (no finite sample); nothing was written");
    }
    Ok(v.max(0.0))
}

/// A figure for the report: NaN (not measured) stays visible as NaN.
fn shown(v: f64) -> f64 {
    if v.is_finite() {
        v.max(0.0)
    } else {
        f64::NAN
    }
}

/// A package's figure: `None` (the trace's own figure is used) when it
/// could not be measured, with a warning.
fn measured_package(key: &str, name: &str, v: f64) -> Option<f64> {
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
    fn python_start(&self) -> Vec<f64> {
        let create = median(&self.prepare);
        self.fresh.iter().map(|f| f - create).collect()
    }

    fn dmb(&self) -> f64 {
        self.big_mb - median(&self.root_mb)
    }

    /// Each big-Zygote fork's extra time over the median base fork, per MB.
    fn per_mb(&self) -> Vec<f64> {
        let (base, dmb) = (median(&self.fork_base), self.dmb());
        if dmb.is_nan() || dmb <= 0.0 {
            return Vec::new();
        }
        self.fork_big.iter().map(|f| (f - base) / dmb).collect()
    }

    fn params(&self) -> anyhow::Result<CostParams> {
        let per_package = (median(&self.prepare_many) - median(&self.prepare)) / MOUNTS as f64;
        Ok(CostParams {
            container_create_ms: measured("container_create_ms", median(&self.prepare))?,
            // A difference of two medians: noise can make it negative.
            create_per_package_ms: measured("create_per_package_ms", per_package.max(0.0))?,
            spare_hit_ms: measured("spare_hit_ms", median(&self.spare))?,
            transport_ms: measured("transport_ms", median(&self.transport))?,
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
        })
    }

    /// The report: each parameter's median, quartiles, sample count and
    /// default; then the packages beside the trace's figures.
    fn render(&self, params: &CostParams, catalog: Option<&Catalog>, out: &Path) -> String {
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
            Some(stat(&self.transport)),
            d.transport_ms,
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

/// A pooled cgroup's memory charge before a container enters it.
type Snapshot = HashMap<PathBuf, u64>;

/// One fork from a Zygote: its create, fork and transport phases (ms)
/// and the handler's memory (MB).
struct ForkSample {
    prepare: f64,
    fork: f64,
    transport: f64,
    mem: f64,
}

/// The executor and the long-lived containers (Zygotes, the paused
/// handler), destroyed by [`Calibrator::teardown`] whatever happens.
struct Calibrator {
    exec: Executor,
    live: Vec<Container>,
    n: usize,
    work: PathBuf,
    noop: ContainerSpec,
}

impl Calibrator {
    fn snapshot(&self) -> Snapshot {
        let b = self.exec.backend();
        b.list_below(&self.exec.config.cgroup_prefix)
            .into_iter()
            .filter_map(|cg| b.memory_current(&cg).ok().map(|m| (cg.rel, m)))
            .collect()
    }

    /// What `cg` holds beyond its charge in `before` (MB).
    fn mem_since(&self, cg: &Cgroup, before: &Snapshot) -> anyhow::Result<f64> {
        let now = self
            .exec
            .backend()
            .memory_current(cg)
            .context("reading a cgroup's memory")?;
        Ok(mb(
            now.saturating_sub(before.get(&cg.rel).copied().unwrap_or(0))
        ))
    }

    /// Destroys `c`, then returns `r` (or the destroy error).
    fn done<T>(&mut self, c: Container, r: anyhow::Result<T>) -> anyhow::Result<T> {
        let d = self.exec.destroy(c);
        let t = r?;
        d.context("destroying a container")?;
        Ok(t)
    }

    /// Destroys a long-lived container.
    fn drop_live(&mut self, i: usize) -> anyhow::Result<()> {
        let c = self.live.remove(i);
        self.exec.destroy(c).context("destroying a container")?;
        Ok(())
    }

    fn teardown(mut self) -> anyhow::Result<()> {
        let mut first = None;
        for c in std::mem::take(&mut self.live) {
            if let Err(e) = self.exec.destroy(c) {
                first.get_or_insert(anyhow::Error::from(e));
            }
        }
        if let Err(e) = self.exec.shutdown() {
            first.get_or_insert(anyhow::Error::from(e));
        }
        match first {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// A fresh container for `spec`, invoked once: (its phases, the
    /// response, the cgroup's memory after the response in MB).
    fn fresh_once(&mut self, spec: &ContainerSpec) -> anyhow::Result<(PhasesUs, Response, f64)> {
        let before = self.snapshot();
        let start_ns = clock::monotonic_ns();
        let mut c = self.exec.create(spec).context("creating a container")?;
        let r = self.exec.invoke(&mut c, "{}", TIMEOUT);
        let marks = Marks {
            start_ns,
            installed_ns: start_ns,
            done_ns: clock::monotonic_ns(),
        };
        let wall = r.as_ref().ok().map(|r| measure::fresh(&marks, r).phases);
        let r = r
            .context("invoking a fresh container")
            .and_then(|r| ok(r, &c))
            .and_then(|r| Ok((r, self.mem_since(&c.cgroup, &before)?)));
        let (r, mem) = self.done(c, r)?;
        Ok((wall.unwrap_or_default(), r, mem))
    }

    /// Forks live Zygote `z` into a no-op handler mounting `packages`,
    /// invokes it once, destroys it.
    /// Forks live Zygote `z` (from a pre-forked child with `spare`) into a
    /// no-op handler mounting `packages`, invokes it once, destroys it.
    fn fork_once(
        &mut self,
        z: usize,
        packages: &[(String, PathBuf)],
        spare: bool,
    ) -> anyhow::Result<ForkSample> {
        let spec = ContainerSpec {
            packages: packages.to_vec(),
            ..self.noop.clone()
        };
        if spare {
            self.exec
                .refill(&self.live[z], TIMEOUT)
                .context("forking a spare")?;
        }
        let before = self.snapshot();
        let start_ns = clock::monotonic_ns();
        let (mut c, report) = self
            .exec
            .fork_with(&self.live[z], &spec, Role::Handler, spare, TIMEOUT)
            .context("forking from a Zygote")?;
        let mem = self.mem_since(&c.cgroup, &before);
        let r = self.exec.invoke(&mut c, "{}", TIMEOUT);
        let done_ns = clock::monotonic_ns();
        let r = r
            .context("invoking a forked handler")
            .and_then(|r| ok(r, &c));
        let r = self.done(c, r)?;
        if let Some(e) = report.load_error {
            bail!("the forked handler failed to load: {e}");
        }
        if report.spare != spare {
            bail!(
                "asked for spare = {spare}, the Zygote served spare = {}",
                report.spare
            );
        }
        let marks = Marks {
            start_ns,
            installed_ns: start_ns,
            done_ns,
        };
        let p = measure::zygote_hit(&marks, &report, &r).phases;
        Ok(ForkSample {
            prepare: p.create as f64 / 1e3,
            fork: p.fork as f64 / 1e3,
            transport: p.transport as f64 / 1e3,
            mem: mem?,
        })
    }

    /// Starts a Zygote for `spec` and waits until it serves; returns its
    /// index in `live` and its memory (MB).
    fn zygote(&mut self, spec: &ContainerSpec) -> anyhow::Result<(usize, f64)> {
        let before = self.snapshot();
        let z = self.exec.create_zygote(spec).context("starting a Zygote")?;
        self.live.push(z);
        let i = self.live.len() - 1;
        let info = self
            .exec
            .ping(&self.live[i], TIMEOUT)
            .context("waiting for a Zygote")?;
        if info.modules != spec.imports {
            bail!(
                "the Zygote imported {:?}, not {:?}",
                info.modules,
                spec.imports
            );
        }
        let mem = self.mem_since(&self.live[i].cgroup, &before)?;
        Ok((i, mem))
    }

    /// The host parameters.
    fn host(&mut self, m: &mut Measured, python: &str) -> anyhow::Result<()> {
        let n = self.n;
        let noop = self.noop.clone();

        progress(format!("fresh starts of a no-op handler (n={n})"));
        for i in 0..=n {
            let (p, _, _) = self.fresh_once(&noop)?;
            if i > 0 {
                m.fresh.push(p.create as f64 / 1e3);
                m.transport.push(p.transport as f64 / 1e3);
            }
        }

        progress(format!("root Zygotes (n={n})"));
        let mut root = None;
        for _ in 0..n {
            if let Some(old) = root.take() {
                self.drop_live(old)?;
            }
            let (z, mem) = self.zygote(&ContainerSpec::default())?;
            m.root_mb.push(mem);
            root = Some(z);
        }
        let root = root.expect("n >= 1");

        progress(format!("forks from the root Zygote (n={n})"));
        for i in 0..=n {
            let s = self.fork_once(root, &[], false)?;
            if i > 0 {
                m.prepare.push(s.prepare);
                m.fork_base.push(s.fork);
                m.fork_mb.push(s.mem);
                m.transport.push(s.transport);
            }
        }

        progress(format!("pre-forked children of the root Zygote (n={n})"));
        for i in 0..=n {
            let s = self.fork_once(root, &[], true)?;
            if i > 0 {
                m.spare.push(s.fork);
                m.transport.push(s.transport);
            }
        }

        progress(format!(
            "forks from a Zygote holding a {BIG_PACKAGE_MB} MB package (n={n})"
        ));
        let mut big = TestPackage::new("sock-calibrate-big", "1.0");
        big.import_mb = BIG_PACKAGE_MB;
        let wheels = self.work.join("wheels");
        build_wheel(&wheels, &big).context("building the big test package")?;
        let installer = Installer::new(self.work.join("cache"), Source::FindLinks(wheels), python)?;
        installer.install(&big.key())?;
        let packages = vec![(big.key(), installer.key_path(&big.key())?)];
        let spec = ContainerSpec {
            packages: packages.clone(),
            imports: vec![big.module()],
            ..ContainerSpec::default()
        };
        progress(format!("forks mounting {MOUNTS} package folders (n={n})"));
        let many: Vec<(String, PathBuf)> = (0..MOUNTS)
            .map(|i| {
                (
                    format!("sock-calibrate-mount-{i}==1.0"),
                    packages[0].1.clone(),
                )
            })
            .collect();
        let root = self.live.len() - 1;
        for i in 0..=n {
            let s = self.fork_once(root, &many, false)?;
            if i > 0 {
                m.prepare_many.push(s.prepare);
            }
        }
        self.drop_live(root)?;

        let (z, mem) = self.zygote(&spec)?;
        m.big_mb = mem;
        for i in 0..=n {
            let s = self.fork_once(z, &packages, false)?;
            if i > 0 {
                m.fork_big.push(s.fork);
            }
        }
        self.drop_live(z)?;

        progress(format!("resuming a paused handler (n={n})"));
        let c = self.exec.create(&noop).context("creating a container")?;
        self.live.push(c);
        let h = self.live.len() - 1;
        for i in 0..=n {
            let c = &mut self.live[h];
            self.exec.pause(c).context("pausing")?;
            // A realistic pause: idle handlers wait seconds to minutes.
            std::thread::sleep(PAUSE);
            let start_ns = clock::monotonic_ns();
            self.exec.resume(c).context("resuming")?;
            let thawed_ns = clock::monotonic_ns();
            let r = self
                .exec
                .invoke(c, "{}", TIMEOUT)
                .context("invoking a resumed handler")?;
            let marks = Marks {
                start_ns,
                installed_ns: start_ns,
                done_ns: clock::monotonic_ns(),
            };
            let r = ok(r, c)?;
            if i > 0 {
                let p = measure::handler_hit(&marks, thawed_ns, &r).phases;
                m.unpause.push(p.unpause as f64 / 1e3);
                m.transport.push(p.transport as f64 / 1e3);
            }
        }
        self.drop_live(h)?;
        Ok(())
    }

    /// Per-package costs of the trace's first packages.
    fn packages(
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

/// `r` if the handler answered 200.
fn ok(r: Response, c: &Container) -> anyhow::Result<Response> {
    if r.status == 200 {
        return Ok(r);
    }
    let log = std::fs::read_to_string(c.scratch.join("output.log")).unwrap_or_default();
    let tail: Vec<&str> = log.lines().rev().take(5).collect();
    bail!(
        "the handler answered {}: {} (log: {})",
        r.status,
        r.body.trim(),
        tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
    )
}

fn progress(msg: String) {
    eprintln!("calibrate: {msg}");
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn quartiles_are_nearest_rank() {
        let s = stat(&[4.0, 1.0, 3.0, 2.0, f64::NAN]);
        assert_eq!(s.n, 4);
        assert_eq!(s.median, 2.0);
        assert_eq!(s.p25, 1.0);
        assert_eq!(s.p75, 3.0);
        assert!(stat(&[]).median.is_nan());
        assert_eq!(stat(&[7.0]).p75, 7.0);
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
            ..Measured::default()
        };
        let p = m.params().expect("every parameter measured");
        assert_eq!(p.container_create_ms, 2.0);
        assert_eq!(p.create_per_package_ms, 0.5);
        assert_eq!((p.spare_hit_ms, p.transport_ms), (0.5, 0.3));
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
