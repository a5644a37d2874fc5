//! The durations file (`durations_*.csv`: `HashOwner,HashApp,HashFunction,
//! Average,Count,Minimum,Maximum,percentile_Average_{0,1,25,50,75,99,100}`,
//! ms, cold starts excluded), read per function of the slice:
//! - its one `duration_ms` (`--duration average|median|sample`);
//! - its `Maximum`, when cold starts run for it (`--cold-duration maximum`,
//!   FaasCache);
//! - its seven percentiles, when each call draws its own duration
//!   (`--call-durations linear|step`, dslab-faas), see [`super::calls`].
//!
//! A function without a row gets the median of the known values (with a
//! warning); without percentiles, its calls run for its `duration_ms`.

use super::azure::{
    fill_missing, function_index, AzureError, AzureSlice, ID_COLUMNS, TEXT_COLUMNS,
};
use super::table::CsvTable;
use super::warnings::{WarningKind, Warnings};
use rand::rngs::StdRng;
use rand::Rng;
use std::path::Path;

/// How a function's one `duration_ms` is taken from its durations row.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DurationChoice {
    /// `Average`: keeps each function's total busy time (count x mean).
    Average,
    /// `percentile_Average_50`.
    Median,
    /// One draw from the percentiles, read as a piecewise-linear CDF.
    Sample,
}

/// The percentile columns and the probabilities they stand for.
pub const PERCENTILES: [(&str, f64); 7] = [
    ("percentile_Average_0", 0.0),
    ("percentile_Average_1", 0.01),
    ("percentile_Average_25", 0.25),
    ("percentile_Average_50", 0.5),
    ("percentile_Average_75", 0.75),
    ("percentile_Average_99", 0.99),
    ("percentile_Average_100", 1.0),
];

/// A function's seven duration percentiles (ms), sorted.
pub type Percentiles = [f64; 7];

/// What to read besides the one duration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DurationNeeds {
    pub choice: DurationChoice,
    /// The `Maximum` column (cold starts).
    pub maximum: bool,
    /// The percentile columns (per-call draws).
    pub percentiles: bool,
}

/// Per function of the slice, in its order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Durations {
    pub duration_ms: Vec<f64>,
    pub maximum_ms: Option<Vec<f64>>,
    pub percentiles: Option<Vec<Option<Percentiles>>>,
}

/// Reads the rows of `slice`'s functions (`rng` draws `--duration sample`).
pub fn load(
    path: &Path,
    needs: DurationNeeds,
    slice: &AzureSlice,
    rng: &mut StdRng,
    warnings: &mut Warnings,
) -> Result<Durations, AzureError> {
    let t = CsvTable::read(path, &TEXT_COLUMNS)?;
    t.require(
        &ID_COLUMNS,
        "a durations file needs HashOwner, HashApp, HashFunction",
    )?;
    let main = match needs.choice {
        DurationChoice::Average => "Average",
        DurationChoice::Median => "percentile_Average_50",
        DurationChoice::Sample => "percentile_Average_0",
    };
    t.require(&[main], "needed by the --duration choice")?;
    if needs.maximum {
        t.require(&["Maximum"], "needed by --cold-duration maximum")?;
    }
    let pct: Vec<&str> = PERCENTILES.iter().map(|p| p.0).collect();
    if needs.choice == DurationChoice::Sample {
        t.require(&pct, "needed by the --duration choice")?;
    } else if needs.percentiles {
        t.require(&pct, "needed by --call-durations")?;
    }
    let rows = rows(&t, slice, warnings)?;
    let pct_values = if needs.percentiles || needs.choice == DurationChoice::Sample {
        let values = pct
            .iter()
            .map(|c| t.numbers(c))
            .collect::<Result<Vec<_>, _>>()?;
        let sorted = |i: usize, warnings: &mut Warnings| sorted_row(&t, &values, i, warnings);
        Some(
            rows.iter()
                .map(|r| r.map(|i| sorted(i, warnings)))
                .collect::<Vec<_>>(),
        )
    } else {
        None
    };
    let none_known = || AzureError::NoDurations {
        path: t.path().to_string(),
    };
    let main_values: Vec<Option<f64>> = match (needs.choice, &pct_values) {
        (DurationChoice::Sample, Some(p)) => p
            .iter()
            .map(|q| q.map(|q| sample_percentiles(&q, rng.gen())))
            .collect(),
        _ => {
            let v = t.numbers(main)?;
            rows.iter().map(|r| r.map(|i| v[i])).collect()
        }
    };
    let kind = WarningKind::NoDurationRow;
    let duration_ms = fill_missing(main_values, slice, kind, warnings, none_known)?;
    let maximum_ms = if needs.maximum {
        let v = t.numbers("Maximum")?;
        let known = rows.iter().map(|r| r.map(|i| v[i])).collect();
        // Missing rows were warned about above: fill silently.
        Some(fill_missing(
            known,
            slice,
            kind,
            &mut Warnings::default(),
            none_known,
        )?)
    } else {
        None
    };
    Ok(Durations {
        duration_ms,
        maximum_ms,
        percentiles: pct_values.filter(|_| needs.percentiles),
    })
}

/// The durations-file row of each function of `slice` (duplicates and
/// rows of no function are warned about).
fn rows(
    t: &CsvTable,
    slice: &AzureSlice,
    warnings: &mut Warnings,
) -> Result<Vec<Option<usize>>, AzureError> {
    let (owner, app, hash) = (
        t.strings("HashOwner")?,
        t.strings("HashApp")?,
        t.strings("HashFunction")?,
    );
    let index = function_index(slice);
    let mut rows: Vec<Option<usize>> = vec![None; slice.functions.len()];
    for i in 0..t.len() {
        match index.get(&(owner[i].as_str(), app[i].as_str(), hash[i].as_str())) {
            None => warnings.push(
                WarningKind::UnusedRow,
                t.path(),
                Some(t.line(i)),
                format!("no function {}", hash[i]),
            ),
            Some(&f) if rows[f].is_some() => {
                let detail = format!("function {} already has a row", hash[i]);
                warnings.push(WarningKind::DuplicateRow, t.path(), Some(t.line(i)), detail);
            }
            Some(&f) => rows[f] = Some(i),
        }
    }
    Ok(rows)
}

/// Row `i`'s percentiles, sorted (with a warning when they were not).
fn sorted_row(t: &CsvTable, values: &[Vec<f64>], i: usize, warnings: &mut Warnings) -> Percentiles {
    let mut q: Percentiles = [0.0; 7];
    for (k, v) in values.iter().enumerate() {
        q[k] = v[i];
    }
    if q.windows(2).any(|w| w[1] < w[0]) {
        let detail = format!("{q:?}");
        warnings.push(
            WarningKind::UnsortedPercentiles,
            t.path(),
            Some(t.line(i)),
            detail,
        );
        q.sort_by(f64::total_cmp);
    }
    q
}

/// The quantile at `u` of the piecewise-linear CDF through the percentiles
/// (the inverse CDF interpolates linearly between the given points).
pub fn sample_percentiles(q: &[f64], u: f64) -> f64 {
    for (k, w) in PERCENTILES.windows(2).enumerate() {
        let (p0, p1) = (w[0].1, w[1].1);
        if u <= p1 || k + 2 == PERCENTILES.len() {
            let frac = ((u - p0) / (p1 - p0)).clamp(0.0, 1.0);
            return q[k] + frac * (q[k + 1] - q[k]);
        }
    }
    q[q.len() - 1]
}

/// dslab-faas's `Piecewise` draw (`gen_sample` in its
/// `extra/azure_trace_2019.rs`): the percentile at the *upper* end of the
/// bucket `u` falls in (`u` in [0.01, 0.25) gives p25; `p0` is never
/// drawn), floored at 1 ms as dslab floors every duration.
pub fn step_percentiles(q: &[f64], u: f64) -> f64 {
    let k = PERCENTILES
        .iter()
        .skip(1)
        .position(|&(_, p)| u < p)
        .map_or(PERCENTILES.len() - 1, |k| k + 1);
    q[k].max(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const Q: [f64; 7] = [0.0, 10.0, 20.0, 50.0, 80.0, 100.0, 1000.0];

    #[test]
    fn percentile_sampling_interpolates() {
        assert_eq!(sample_percentiles(&Q, 0.0), 0.0);
        assert_eq!(sample_percentiles(&Q, 0.5), 50.0);
        assert!((sample_percentiles(&Q, 0.375) - 35.0).abs() < 1e-9);
        assert_eq!(sample_percentiles(&Q, 1.0), 1000.0);
        assert!((sample_percentiles(&Q, 0.995) - 550.0).abs() < 1e-6);
    }

    #[test]
    fn step_sampling_takes_the_upper_percentile_of_the_bucket() {
        // Hand-computed from dslab's gen_sample: p in [perc[i-1], perc[i]) -> vals[i].
        let cases = [
            (0.0, 10.0),
            (0.0099, 10.0),
            (0.01, 20.0),
            (0.3, 50.0),
            (0.5, 80.0),
            (0.98, 100.0),
            (0.99, 1000.0),
            (0.9999, 1000.0),
        ];
        for (u, want) in cases {
            assert_eq!(step_percentiles(&Q, u), want, "u = {u}");
        }
        assert_eq!(step_percentiles(&[0.0; 7], 0.5), 1.0, "1 ms floor");
    }
}
