//! `sim --memory-series FILE.csv`: each tier's memory over virtual time,
//! as the replay saw it ([`crate::replay`] passes every `Effects::observe`
//! here), for `sim plot memory`.
//!
//! One sample per distinct time step: the usage after the last change at
//! that time (the engine may observe several states at one instant; only
//! the settled one is real). A long replay is downsampled in bounded
//! memory: past [`MAX_ROWS`] rows, neighbouring rows merge pairwise and
//! each later row stands for twice as many steps. A merged row is at its
//! first step's time and holds each column's peak over its steps, so no
//! peak is lost.

use sock_core::planner::TierUsage;
use sock_core::{Bytes, Micros};
use std::io::Write;

/// Most rows written.
pub const MAX_ROWS: usize = 10_000;

/// The CSV header, every memory in MB; `handler_mb` is idle plus busy,
/// `worker_mb` is that plus the Zygote tree (the worker's memory), and
/// `install_mb` is the install cache's disk.
pub const HEADER: &str =
    "t_s,handler_mb,handler_idle_mb,handler_busy_mb,zygote_mb,install_mb,worker_mb";

/// Bytes per tier at one time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Sample {
    t: Micros,
    idle: u64,
    busy: u64,
    zygote: u64,
    install: u64,
    /// Idle plus busy, and that plus the Zygote tree: kept as columns of
    /// their own, so a merged row holds the peak of the sum, not the sum
    /// of the peaks.
    handler: u64,
    worker: u64,
}

impl Sample {
    /// Each column's peak, at `self`'s time.
    fn peak(self, o: Sample) -> Sample {
        Sample {
            t: self.t,
            idle: self.idle.max(o.idle),
            busy: self.busy.max(o.busy),
            zygote: self.zygote.max(o.zygote),
            install: self.install.max(o.install),
            handler: self.handler.max(o.handler),
            worker: self.worker.max(o.worker),
        }
    }
}

/// The series being recorded.
#[derive(Clone, Debug, Default)]
pub struct MemorySeries {
    /// (merged sample, steps it stands for).
    rows: Vec<(Sample, usize)>,
    /// Steps per row now (a power of two).
    stride: usize,
    /// The latest step, not yet in `rows` (its time may see more changes).
    current: Option<Sample>,
    max_rows: usize,
}

impl MemorySeries {
    pub fn new() -> Self {
        Self::with_max_rows(MAX_ROWS)
    }

    /// A series of at most `max_rows` rows (at least 2).
    pub fn with_max_rows(max_rows: usize) -> Self {
        MemorySeries {
            rows: Vec::new(),
            stride: 1,
            current: None,
            max_rows: max_rows.max(2),
        }
    }

    pub fn observe(&mut self, t: Micros, u: TierUsage) {
        let s = Sample {
            t,
            idle: u.handler_idle.0,
            busy: u.handler_busy.0,
            zygote: u.zygote.0,
            install: u.install.0,
            handler: (u.handler_idle + u.handler_busy).0,
            worker: (u.handler_idle + u.handler_busy + u.zygote).0,
        };
        match self.current {
            Some(c) if c.t == t => {}
            Some(c) => self.push(c),
            None => {}
        }
        self.current = Some(s);
    }

    fn push(&mut self, s: Sample) {
        match self.rows.last_mut() {
            Some((last, n)) if *n < self.stride => {
                *last = last.peak(s);
                *n += 1;
            }
            _ => self.rows.push((s, 1)),
        }
        if self.rows.len() > self.max_rows {
            self.rows = self
                .rows
                .chunks(2)
                .map(|p| {
                    p.iter()
                        .skip(1)
                        .fold(p[0], |(a, n), &(b, m)| (a.peak(b), n + m))
                })
                .collect();
            self.stride *= 2;
        }
    }

    /// The rows, the last step included.
    fn finished(&self) -> Vec<Sample> {
        let mut all = self.clone();
        if let Some(c) = all.current.take() {
            all.push(c);
        }
        all.rows.into_iter().map(|(s, _)| s).collect()
    }

    /// Rows that [`MemorySeries::write_csv`] writes.
    pub fn len(&self) -> usize {
        self.finished().len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty() && self.current.is_none()
    }

    /// Writes the series as CSV ([`HEADER`]).
    pub fn write_csv(&self, w: &mut dyn Write) -> std::io::Result<()> {
        let mb = |b: u64| Bytes(b).as_mb_f64();
        writeln!(w, "{HEADER}")?;
        for s in self.finished() {
            writeln!(
                w,
                "{},{},{},{},{},{},{}",
                s.t.0 as f64 / 1e6,
                mb(s.handler),
                mb(s.idle),
                mb(s.busy),
                mb(s.zygote),
                mb(s.install),
                mb(s.worker)
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(idle: u64) -> TierUsage {
        TierUsage {
            handler_idle: Bytes(idle),
            handler_busy: Bytes(0),
            zygote: Bytes(0),
            install: Bytes(0),
        }
    }

    #[test]
    fn one_row_per_time_step_with_the_settled_value() {
        let mut s = MemorySeries::new();
        s.observe(Micros(0), usage(1 << 20));
        s.observe(Micros(0), usage(2 << 20));
        s.observe(Micros(1_500_000), usage(0));
        let mut out = Vec::new();
        s.write_csv(&mut out).expect("write");
        let text = String::from_utf8(out).expect("utf8");
        let rows: Vec<&str> = text.lines().skip(1).collect();
        assert_eq!(rows, ["0,2,2,0,0,0,2", "1.5,0,0,0,0,0,0"]);
    }

    #[test]
    fn downsampling_bounds_rows_and_keeps_the_peak() {
        let mut s = MemorySeries::with_max_rows(8);
        for t in 0..1000u64 {
            let v = if t == 617 { 100 << 20 } else { 1 << 20 };
            s.observe(Micros(t), usage(v));
        }
        let rows = s.finished();
        assert!(rows.len() <= 8 && rows.len() >= 4, "{} rows", rows.len());
        assert_eq!(rows.iter().map(|r| r.idle).max(), Some(100 << 20));
        assert!(rows.windows(2).all(|w| w[0].t < w[1].t));
    }

    #[test]
    fn a_merged_row_holds_the_peak_of_the_sum() {
        // Idle handlers and the Zygote tree take turns at 10 MB: the
        // worker never holds more than 10 MB, though each tier's peak is 10.
        let mut s = MemorySeries::with_max_rows(2);
        for t in 0..8u64 {
            let (idle, zygote) = if t % 2 == 0 {
                (10 << 20, 0)
            } else {
                (0, 10 << 20)
            };
            let u = TierUsage {
                zygote: Bytes(zygote),
                ..usage(idle)
            };
            s.observe(Micros(t), u);
        }
        let rows = s.finished();
        assert!(rows
            .iter()
            .all(|r| r.worker == 10 << 20 && r.idle == 10 << 20 && r.zygote == 10 << 20));
    }
}
