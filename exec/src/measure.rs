//! Phases of one start, measured between step boundaries (issue 9). This
//! is the one measuring rule: `sock-exec run` attributes every invocation
//! with it, and `calibrate` and `bench zygotes` read their samples through
//! it, so a calibrated `sim` predicts exactly what `run` measures.
//!
//! Every boundary is a CLOCK_MONOTONIC timestamp ([`crate::sys::clock`])
//! taken where the step happens: by the executor (start, packages
//! installed, target prepared, unpaused, response read), by the Zygote's
//! child (joined, imports done) and by the runtime (its imports, the
//! handler's start and end). Consecutive boundaries bound consecutive
//! phases, so the phases add up to the latency with nothing inferred as a
//! remainder:
//!
//! | path | phases, in order |
//! |---|---|
//! | handler hit | unpause [start, thawed], transport, handler, transport |
//! | Zygote hit | install [start, installed], create [installed, prepared], fork [prepared, joined], import [joined, imports done], transport, handler, transport |
//! | fresh | install, create [installed, runtime's imports start] (container set-up and interpreter start), import, transport, handler, transport |
//!
//! `transport` is the request's way in (the child's "ready" and the fork's
//! end, the connection, the HTTP request, for a fresh or forked handler
//! its module load) plus the response's way out; `handler` is `f(event)`
//! and the encoding of its result, as the runtime measured them.

use crate::container::Response;
use crate::zygote::ForkReport;
use sock_core::record::PhasesUs;

/// Boundaries the executor itself took around one start.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Marks {
    /// The invocation's work began (before any install).
    pub start_ns: u64,
    /// Packages installed (equal to `start_ns` when nothing was).
    pub installed_ns: u64,
    /// The response was read in full.
    pub done_ns: u64,
}

/// Phases and the end-to-end latency of one start, in µs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Measured {
    pub phases: PhasesUs,
    pub latency_us: u64,
}

impl Measured {
    /// True when the phases add up to the latency (timestamps in order).
    pub fn consistent(&self) -> bool {
        self.phases.total() == self.latency_us
    }
}

fn us(from_ns: u64, to_ns: u64) -> u64 {
    to_ns.saturating_sub(from_ns) / 1_000
}

/// The request/response legs around the handler: from `ready_ns` (the
/// process could serve) to the handler's start, and from its end to the
/// response. Sets `handler` and `transport`.
fn around_handler(p: &mut PhasesUs, t: &Rounder, ready_ns: u64, r: &Response, done_ns: u64) {
    let legs = t.span(ready_ns, done_ns);
    match r.handler_ns {
        Some((h0, h1)) if h0 >= ready_ns && h1 >= h0 && done_ns >= h1 => {
            p.handler = us(h0, h1).min(legs);
            p.transport = legs - p.handler;
        }
        // The handler did not run (load error, bad request, no response).
        _ => p.transport = legs,
    }
}

fn finish(p: PhasesUs, m: &Marks) -> Measured {
    let got = Measured {
        phases: p,
        latency_us: us(m.start_ns, m.done_ns),
    };
    if !got.consistent() {
        // Only when boundaries are out of order (which would make phases
        // overlap); the spans clamp, the latency stays the measured one.
        tracing::debug!(?got, "phase boundaries out of order");
    }
    got
}

/// A handler hit: the paused container was thawed at `thawed_ns`.
pub fn handler_hit(m: &Marks, thawed_ns: u64, r: &Response) -> Measured {
    let t = Rounder::new(m.start_ns);
    let mut p = PhasesUs {
        unpause: t.span(m.start_ns, thawed_ns),
        ..PhasesUs::default()
    };
    around_handler(&mut p, &t, thawed_ns, r, m.done_ns);
    finish(p, m)
}

/// A Zygote hit, from the fork's report and the first response.
pub fn zygote_hit(m: &Marks, f: &ForkReport, r: &Response) -> Measured {
    let t = Rounder::new(m.start_ns);
    let mut p = PhasesUs {
        install: t.span(m.start_ns, m.installed_ns),
        create: t.span(m.installed_ns, f.prepared_ns),
        fork: t.span(f.prepared_ns, f.joined_ns),
        import: t.span(f.joined_ns, f.import_end_ns),
        ..PhasesUs::default()
    };
    around_handler(&mut p, &t, f.import_end_ns, r, m.done_ns);
    finish(p, m)
}

/// A fresh start: the runtime's start-up imports bound `create` and
/// `import`.
pub fn fresh(m: &Marks, r: &Response) -> Measured {
    let t = Rounder::new(m.start_ns);
    let (i0, i1) = match r.import_ns {
        Some((a, b)) if a >= m.installed_ns && b >= a => (a, b),
        // No response: the whole wait is the container's start.
        _ => (m.done_ns, m.done_ns),
    };
    let mut p = PhasesUs {
        install: t.span(m.start_ns, m.installed_ns),
        create: t.span(m.installed_ns, i0),
        import: t.span(i0, i1),
        ..PhasesUs::default()
    };
    around_handler(&mut p, &t, i1, r, m.done_ns);
    finish(p, m)
}

/// Rounds boundaries (not differences) to µs from a common origin, so a
/// chain of phases telescopes to the rounded total.
struct Rounder {
    origin: u64,
}

impl Rounder {
    fn new(origin: u64) -> Rounder {
        Rounder { origin }
    }

    /// A boundary, floored to a whole µs after the origin (in ns).
    fn snap(&self, ns: u64) -> u64 {
        let d = ns.saturating_sub(self.origin);
        self.origin + d - d % 1_000
    }

    fn span(&self, from: u64, to: u64) -> u64 {
        us(self.snap(from), self.snap(to))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp(import_ns: Option<(u64, u64)>, handler_ns: Option<(u64, u64)>) -> Response {
        Response {
            status: 200,
            import_ns,
            handler_ns,
            ..Response::default()
        }
    }

    #[test]
    fn zygote_hit_phases_add_up_to_the_latency() {
        let m = Marks {
            start_ns: 1_000_000_000,
            installed_ns: 1_000_500_400,
            done_ns: 1_030_000_999,
        };
        let f = ForkReport {
            prepared_ns: 1_001_300_001,
            joined_ns: 1_002_100_500,
            import_start_ns: 1_002_150_000,
            import_end_ns: 1_012_100_700,
            ..ForkReport::default()
        };
        let r = resp(None, Some((1_012_600_000, 1_029_000_000)));
        let got = zygote_hit(&m, &f, &r);
        assert!(got.consistent(), "{got:?}");
        assert_eq!(got.latency_us, 30_000);
        assert_eq!(got.phases.install, 500);
        assert_eq!(got.phases.create, 800);
        assert_eq!(got.phases.fork, 800);
        assert_eq!(got.phases.import, 10_000);
        assert_eq!(got.phases.handler, 16_400);
        assert_eq!(got.phases.transport, 1_500);
    }

    #[test]
    fn fresh_create_ends_where_the_runtime_starts_importing() {
        let m = Marks {
            start_ns: 0,
            installed_ns: 0,
            done_ns: 40_000_000,
        };
        let r = resp(
            Some((15_000_000, 25_000_000)),
            Some((25_500_000, 39_000_000)),
        );
        let got = fresh(&m, &r);
        assert!(got.consistent());
        assert_eq!(
            (
                got.phases.create,
                got.phases.import,
                got.phases.handler,
                got.phases.transport
            ),
            (15_000, 10_000, 13_500, 1_500)
        );
    }

    #[test]
    fn a_handler_that_did_not_run_leaves_it_all_to_transport() {
        let m = Marks {
            start_ns: 10,
            installed_ns: 10,
            done_ns: 2_000_010,
        };
        let got = handler_hit(&m, 500_010, &resp(None, Some((0, 0))));
        assert!(got.consistent());
        assert_eq!((got.phases.unpause, got.phases.transport), (500, 1_500));
    }
}
