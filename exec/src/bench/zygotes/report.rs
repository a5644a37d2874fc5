//! The benchmark's outputs: the CSV and the printed report.

use super::ZygoteBench;
use crate::primitives::stats::Summary;
use std::fmt::Write as _;

#[derive(Clone, Debug)]
pub(super) struct Row {
    pub(super) workload: &'static str,
    pub(super) system: &'static str,
    pub(super) start: Summary,
    pub(super) cycle: Summary,
    /// Median of each phase (ms), in `Phases::NAMES` order; empty for Docker.
    pub(super) phases: Vec<f64>,
    /// Forks only: median of each step of the fork phase (ms).
    pub(super) steps: Vec<(String, f64)>,
    /// Median of each leg of the transport phase (ms; `measure::Legs`).
    pub(super) legs: Vec<(String, f64)>,
}

pub(super) fn csv(rows: &[Row]) -> String {
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

pub(super) fn render(rows: &[Row], opts: &ZygoteBench, keys: &[String]) -> String {
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
    let _ = writeln!(
        s,
        "\ntransport phase leg by leg (medians, ms; load: imports done to ready, handoff: to \
         the fork stream's end, finish: to the request, request: to the handler's start, \
         response: the handler's end to the response read; a fresh start's load runs to the \
         handler's start)"
    );
    for r in rows.iter().filter(|r| !r.legs.is_empty()) {
        let legs: Vec<String> = r.legs.iter().map(|(n, v)| format!("{n} {v:.3}")).collect();
        let _ = writeln!(s, "{:<8} {:<8} {}", r.workload, r.system, legs.join("  "));
    }
    s
}
