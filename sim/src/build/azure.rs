//! The Azure Functions 2019 trace (Shahrad et al., ATC'20): per-minute
//! invocation counts, duration percentiles and app memory, joined per
//! function.
//!
//! Files and the columns read (others are ignored):
//! - `invocations_*.csv`: `HashOwner,HashApp,HashFunction,Trigger,<minute>...`,
//!   one row per function; each column whose name is a whole number is the
//!   count of calls in that minute of the day (`1..1440` in Azure's files,
//!   `480..959` in the invitro slices). Minutes must increase left to right.
//! - `durations_*.csv`: `HashOwner,HashApp,HashFunction,Average` and, for
//!   `--duration median|sample`, `percentile_Average_{0,1,25,50,75,99,100}`
//!   (ms, cold starts excluded).
//! - `memory_*.csv`: `HashOwner,HashApp,AverageAllocatedMb` (or the column
//!   `--memory-column` names) per app; a `HashFunction` column (the invitro
//!   slices repeat the app's row per function) is allowed.
//!
//! A function is the key (HashOwner, HashApp, HashFunction); an app is
//! (HashOwner, HashApp).

use super::table::{CsvTable, TableError};
use super::warnings::{WarningKind, Warnings};
use rand::rngs::StdRng;
use std::collections::BTreeMap;
use std::path::Path;

pub use super::durations::{
    sample_percentiles, DurationChoice, DurationNeeds, Percentiles, PERCENTILES,
};

pub(super) const ID_COLUMNS: [&str; 3] = ["HashOwner", "HashApp", "HashFunction"];
pub(super) const TEXT_COLUMNS: [&str; 4] = ["HashOwner", "HashApp", "HashFunction", "Trigger"];

#[derive(Debug, thiserror::Error)]
pub enum AzureError {
    #[error(transparent)]
    Table(#[from] TableError),
    #[error(
        "{path}: line 1: no minute columns (columns named by a whole number, e.g. `1` .. `1440`)"
    )]
    NoMinuteColumns { path: String },
    #[error("{path}: line 1: column {index} is named {name:?}, which looks like a minute but is not a whole number of at most 10 digits (minute columns are named `1` .. `1440`)")]
    BadMinuteColumn {
        path: String,
        index: usize,
        name: String,
    },
    #[error("{path}: line 1: minute column `{column}` follows `{previous}`; minutes must increase left to right")]
    MinutesNotIncreasing {
        path: String,
        previous: u32,
        column: u32,
    },
    #[error("{path}: line {line}: function {function} already appears on line {first}")]
    DuplicateFunction {
        path: String,
        line: u64,
        first: u64,
        function: String,
    },
    #[error("{path}: no row matches a function of the invocations file, so no duration is known")]
    NoDurations { path: String },
    #[error("{path}: no row matches an app of the invocations file, so no memory is known")]
    NoMemory { path: String },
}

/// One function of the slice.
#[derive(Clone, Debug, PartialEq)]
pub struct AzureFunction {
    pub owner: String,
    pub app: String,
    pub hash: String,
    pub trigger: String,
    /// Its line in the invocations file.
    pub line: u64,
    pub duration_ms: f64,
    /// The durations file's `Maximum`, when asked for (cold starts).
    pub maximum_ms: Option<f64>,
    /// Its duration percentiles, when asked for (per-call draws).
    pub percentiles: Option<Percentiles>,
    /// The app's memory split evenly over the app's functions (FaasCache).
    pub memory_mb: f64,
    /// The app's whole memory (dslab).
    pub app_memory_mb: f64,
}

impl AzureFunction {
    fn app_key(&self) -> (String, String) {
        (self.owner.clone(), self.app.clone())
    }
}

/// The joined slice: functions in invocations-file order, and the counts
/// minute by minute (`counts[m][f]`), so arrivals can stream per minute.
#[derive(Clone, Debug, Default)]
pub struct AzureSlice {
    /// The invocations file, as given (warnings about functions name it).
    pub source: String,
    pub functions: Vec<AzureFunction>,
    /// Minute labels of the count columns, increasing.
    pub minutes: Vec<u32>,
    pub counts: Vec<Vec<u32>>,
}

impl AzureSlice {
    pub fn invocations(&self) -> u64 {
        self.counts.iter().flatten().map(|&c| u64::from(c)).sum()
    }

    /// Distinct apps, in order of first appearance.
    pub fn apps(&self) -> Vec<(String, String)> {
        let mut seen = std::collections::BTreeSet::new();
        self.functions
            .iter()
            .map(AzureFunction::app_key)
            .filter(|k| seen.insert(k.clone()))
            .collect()
    }
}

/// Where the three files are and how to read them.
#[derive(Clone, Debug)]
pub struct AzureInputs<'a> {
    pub invocations: &'a Path,
    pub durations: &'a Path,
    pub memory: &'a Path,
    pub duration_needs: DurationNeeds,
    pub memory_column: &'a str,
}

/// Reads and joins the three files (`rng` draws `--duration sample`).
pub fn load(
    inputs: &AzureInputs<'_>,
    rng: &mut StdRng,
    warnings: &mut Warnings,
) -> Result<AzureSlice, AzureError> {
    let mut slice = load_invocations(inputs.invocations)?;
    let d = super::durations::load(
        inputs.durations,
        inputs.duration_needs,
        &slice,
        rng,
        warnings,
    )?;
    let memory = load_memory(inputs.memory, inputs.memory_column, &slice, warnings)?;
    for (i, (f, (mb, app_mb))) in slice.functions.iter_mut().zip(memory).enumerate() {
        f.duration_ms = d.duration_ms[i];
        f.maximum_ms = d.maximum_ms.as_ref().map(|m| m[i]);
        f.percentiles = d.percentiles.as_ref().and_then(|p| p[i]);
        f.memory_mb = mb;
        f.app_memory_mb = app_mb;
    }
    Ok(slice)
}

fn load_invocations(path: &Path) -> Result<AzureSlice, AzureError> {
    let t = CsvTable::read(path, &TEXT_COLUMNS)?;
    t.require(
        &ID_COLUMNS,
        "an invocations file needs HashOwner, HashApp, HashFunction",
    )?;
    let minutes = minute_columns(&t)?;
    let (owner, app, hash) = (
        t.strings("HashOwner")?,
        t.strings("HashApp")?,
        t.strings("HashFunction")?,
    );
    let trigger = if t.has_column("Trigger") {
        t.strings("Trigger")?
    } else {
        vec![String::new(); t.len()]
    };
    let mut seen: BTreeMap<(&str, &str, &str), u64> = BTreeMap::new();
    let mut functions = Vec::with_capacity(t.len());
    for i in 0..t.len() {
        if let Some(&first) = seen.get(&(owner[i].as_str(), app[i].as_str(), hash[i].as_str())) {
            let (path, line, function) = (t.path().to_string(), t.line(i), hash[i].clone());
            return Err(AzureError::DuplicateFunction {
                path,
                line,
                first,
                function,
            });
        }
        seen.insert((&owner[i], &app[i], &hash[i]), t.line(i));
        functions.push(AzureFunction {
            owner: owner[i].clone(),
            app: app[i].clone(),
            hash: hash[i].clone(),
            trigger: trigger[i].clone(),
            line: t.line(i),
            duration_ms: 0.0,
            maximum_ms: None,
            percentiles: None,
            memory_mb: 0.0,
            app_memory_mb: 0.0,
        });
    }
    let counts = minutes
        .iter()
        .map(|m| t.counts(&m.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(AzureSlice {
        source: t.path().to_string(),
        functions,
        minutes,
        counts,
    })
}

/// Columns named by a whole number, checked to increase. A column whose
/// name looks numeric but does not parse (`481.0`, `-5`, ` 481`) is an
/// error, not silently dropped (issue 12); other named columns are ignored.
fn minute_columns(t: &CsvTable) -> Result<Vec<u32>, AzureError> {
    let mut minutes = Vec::new();
    for (i, h) in t.header().iter().enumerate() {
        match h.parse::<u32>() {
            Ok(m) if h.bytes().all(|b| b.is_ascii_digit()) => minutes.push(m),
            _ if looks_numeric(h) => {
                return Err(AzureError::BadMinuteColumn {
                    path: t.path().to_string(),
                    index: i + 1,
                    name: h.clone(),
                })
            }
            _ => {}
        }
    }
    if minutes.is_empty() {
        return Err(AzureError::NoMinuteColumns {
            path: t.path().to_string(),
        });
    }
    if let Some(w) = minutes.windows(2).find(|w| w[1] <= w[0]) {
        return Err(AzureError::MinutesNotIncreasing {
            path: t.path().to_string(),
            previous: w[0],
            column: w[1],
        });
    }
    Ok(minutes)
}

fn looks_numeric(h: &str) -> bool {
    h.trim()
        .starts_with(|c: char| c.is_ascii_digit() || matches!(c, '-' | '+' | '.'))
}

/// Row index of each function key of `slice`.
pub(super) fn function_index(slice: &AzureSlice) -> BTreeMap<(&str, &str, &str), usize> {
    slice
        .functions
        .iter()
        .enumerate()
        .map(|(i, f)| ((f.owner.as_str(), f.app.as_str(), f.hash.as_str()), i))
        .collect()
}

/// Replaces missing values by the median of the known ones, warning once
/// per function (naming its invocations-file line).
pub(super) fn fill_missing(
    values: Vec<Option<f64>>,
    slice: &AzureSlice,
    kind: WarningKind,
    warnings: &mut Warnings,
    none_known: impl FnOnce() -> AzureError,
) -> Result<Vec<f64>, AzureError> {
    let known: Vec<f64> = values.iter().flatten().copied().collect();
    if known.is_empty() && !values.is_empty() {
        return Err(none_known());
    }
    let median = median(&known);
    Ok(values
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            v.unwrap_or_else(|| {
                let f = &slice.functions[i];
                let detail = format!(
                    "function {} (app {}): using the median {median:.3}",
                    f.hash, f.app
                );
                warnings.push(kind, &slice.source, Some(f.line), detail);
                median
            })
        })
        .collect())
}

pub fn median(v: &[f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

fn load_memory(
    path: &Path,
    column: &str,
    slice: &AzureSlice,
    warnings: &mut Warnings,
) -> Result<Vec<(f64, f64)>, AzureError> {
    let t = CsvTable::read(path, &TEXT_COLUMNS)?;
    t.require(
        &["HashOwner", "HashApp"],
        "a memory file needs HashOwner, HashApp",
    )?;
    t.require(&[column], "the --memory-column")?;
    let values = t.numbers(column)?;
    let (owner, app) = (t.strings("HashOwner")?, t.strings("HashApp")?);
    let hash = if t.has_column("HashFunction") {
        Some(t.strings("HashFunction")?)
    } else {
        None
    };
    let mut fns_per_app: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for f in &slice.functions {
        *fns_per_app.entry((&f.owner, &f.app)).or_insert(0) += 1;
    }
    // app -> (value, line); rows already seen, to spot duplicates.
    let mut app_mb: BTreeMap<(&str, &str), (f64, u64)> = BTreeMap::new();
    let mut seen_rows = std::collections::BTreeSet::new();
    for i in 0..t.len() {
        let key = (owner[i].as_str(), app[i].as_str());
        let line = Some(t.line(i));
        if !fns_per_app.contains_key(&key) {
            warnings.push(
                WarningKind::UnusedRow,
                t.path(),
                line,
                format!("no function of app {}", app[i]),
            );
            continue;
        }
        let row_key = hash.as_ref().map_or("", |h| h[i].as_str());
        if !seen_rows.insert((key, row_key)) {
            warnings.push(
                WarningKind::DuplicateRow,
                t.path(),
                line,
                format!("app {} already has this row", app[i]),
            );
            continue;
        }
        match app_mb.get(&key) {
            None => {
                app_mb.insert(key, (values[i], t.line(i)));
            }
            Some(&(v, first)) if v != values[i] => {
                let detail = format!("app {}: {} here, {v} on line {first}", app[i], values[i]);
                warnings.push(WarningKind::ConflictingMemory, t.path(), line, detail);
            }
            Some(_) => {}
        }
    }
    let per_function: Vec<Option<f64>> = slice
        .functions
        .iter()
        .map(|f| {
            let key = (f.owner.as_str(), f.app.as_str());
            app_mb
                .get(&key)
                .map(|&(mb, _)| mb / fns_per_app[&key] as f64)
        })
        .collect();
    let split = fill_missing(
        per_function,
        slice,
        WarningKind::NoMemoryRow,
        warnings,
        || AzureError::NoMemory {
            path: t.path().to_string(),
        },
    )?;
    // The whole app's memory: the row's value, or (no row) the median
    // per-function share times the app's functions.
    Ok(slice
        .functions
        .iter()
        .zip(split)
        .map(|(f, mb)| {
            let key = (f.owner.as_str(), f.app.as_str());
            let whole = app_mb
                .get(&key)
                .map_or(mb * fns_per_app[&key] as f64, |v| v.0);
            (mb, whole)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_even_and_odd() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(&[]), 0.0);
    }
}
