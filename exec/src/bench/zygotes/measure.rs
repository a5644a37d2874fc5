//! Measuring one workload: a Zygote for it, then fresh starts, Zygote
//! forks, spare hits and Docker runs round-robin, each timed and broken
//! into phases by `crate::measure`.

use super::report::Row;
use super::{Workload, ZygoteBench, T};
use crate::baseline::docker;
use crate::container::{Container, ContainerSpec, Executor, Response, Role};
use crate::measure::{self, Marks, Measured};
use crate::primitives::stats::Summary;
use crate::sys::clock;
use crate::zygote::ForkReport;
use anyhow::{bail, Context, Result};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// One measured start: (until the response, with the destroy, phases,
/// the fork's report for a Zygote hit, the transport phase's legs).
type Sample = (Duration, Duration, Measured, Option<ForkReport>, Legs);

/// The `transport` phase leg by leg (ns), between boundaries both sides
/// took: `load` the child loads the handler (imports done to "ready"),
/// `handoff` "ready" until the executor sees the fork stream's end,
/// `finish` the executor records the container, `request` connect, send
/// and the child's accept and read until the handler starts, `response`
/// the handler's end until the response is read. A fresh start has no
/// fork stream: its `load` runs from the imports' end to the handler's
/// start, `request` overlapping it.
type Legs = Vec<(&'static str, u64)>;

/// Samples of one system.
#[derive(Default)]
struct Samples {
    start: Vec<Duration>,
    cycle: Vec<Duration>,
    phases: Vec<Measured>,
    /// The fork phase step by step: step name -> ns per sample.
    steps: std::collections::BTreeMap<String, Vec<u64>>,
    step_order: Vec<String>,
    /// The transport phase leg by leg: leg name -> ns per sample.
    legs: Vec<(&'static str, Vec<u64>)>,
}

impl Samples {
    fn push(&mut self, (start, cycle, m, report, legs): Sample) {
        for (name, ns) in legs {
            match self.legs.iter_mut().find(|(n, _)| *n == name) {
                Some((_, v)) => v.push(ns),
                None => self.legs.push((name, vec![ns])),
            }
        }
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
            legs: self
                .legs
                .iter()
                .map(|(n, v)| {
                    let mut v = v.clone();
                    (n.to_string(), Summary::from_ns(&mut v).median_us / 1e3)
                })
                .collect(),
        }
    }
}

pub(super) fn measure(
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
            legs: Vec::new(),
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
    let invoke_ns = clock::monotonic_ns();
    let r = exec.invoke(&mut c, "{}", T)?;
    let marks = Marks {
        start_ns,
        installed_ns: start_ns,
        done_ns: clock::monotonic_ns(),
    };
    let started = t.elapsed();
    exec.destroy(c)?;
    let cycle = t.elapsed();
    // The idle point between calls, as in `sock-exec run`: prepared roots
    // are topped up off the measured time.
    exec.collect_teardowns()?;
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
    let legs = transport_legs(report.as_ref(), &r, invoke_ns, marks.done_ns);
    Ok((started, cycle, m, report, legs))
}

fn transport_legs(f: Option<&ForkReport>, r: &Response, invoke_ns: u64, done_ns: u64) -> Legs {
    let Some((h0, h1)) = r.handler_ns else {
        return Vec::new();
    };
    let d = |a: u64, b: u64| b.saturating_sub(a);
    match f {
        Some(f) => vec![
            ("load", d(f.import_end_ns, f.ready_ns)),
            ("handoff", d(f.ready_ns, f.done_ns)),
            ("finish", d(f.done_ns, invoke_ns)),
            ("request", d(invoke_ns, h0)),
            ("response", d(h1, done_ns)),
        ],
        None => {
            let i1 = r.import_ns.map_or(h0, |(_, b)| b);
            vec![
                ("load", d(i1, h0)),
                ("request", d(invoke_ns, h0)),
                ("response", d(h1, done_ns)),
            ]
        }
    }
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
