//! What `sim trace build` did: counts for the terminal and the provenance
//! the trace header's `source` records.

use super::azure::AzureSlice;
use super::conventions::Conventions;
use super::costs::Measured;
use super::filter::LeftOut;
use super::impute::{CostModel, Imputer};
use super::requirements::{Closures, EntryCounts};
use super::tables::TableCounts;
use super::warnings::Warnings;
use super::{file_name, BuildParams, Inputs};
use serde::Serialize;
use serde_json::json;
use std::fmt::Write as _;

#[derive(Debug, Serialize)]
pub struct BuildReport {
    /// Azure functions kept (after `--min-calls`).
    pub functions: usize,
    /// Functions in the trace (fewer with `--instances per-app`).
    pub trace_functions: usize,
    /// What `--min-calls` and `--functions` left out.
    pub left_out: LeftOut,
    /// Functions whose durations `--max-duration-ms` lowered.
    pub durations_capped: usize,
    pub apps: usize,
    pub invocations: u64,
    pub minutes: usize,
    /// From time 0 to the end of the last minute column (µs).
    pub span_us: u64,
    pub closure_entries: EntryCounts,
    /// Distinct closure files assigned to apps.
    pub closures_used: usize,
    pub tables: TableCounts,
    /// Measured `mb` values below 0 that became 0.
    pub negative_mb_clamped: usize,
    pub measured_packages: usize,
    pub cost_model: CostModel,
    #[serde(skip)]
    pub warnings: Warnings,
}

impl BuildReport {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        slice: &AzureSlice,
        apps: usize,
        closures: &Closures,
        closures_used: usize,
        tables: TableCounts,
        measured: &Measured,
        imputer: &Imputer<'_>,
        warnings: Warnings,
    ) -> BuildReport {
        BuildReport {
            functions: slice.functions.len(),
            trace_functions: slice.functions.len(),
            left_out: LeftOut::default(),
            durations_capped: 0,
            apps,
            invocations: slice.invocations(),
            minutes: slice.minutes.len(),
            span_us: 0,
            closure_entries: closures.counts.clone(),
            closures_used,
            tables,
            negative_mb_clamped: measured.negative_mb,
            measured_packages: measured.costs.len(),
            cost_model: imputer.model().clone(),
            warnings,
        }
    }

    /// The header's `source`: generator, conventions, input file names and
    /// the counts (no paths or times, so the bytes do not depend on where
    /// or when the trace was built).
    pub(super) fn source(
        &self,
        params: &BuildParams,
        c: &Conventions,
        inputs: &Inputs,
    ) -> Result<serde_json::Value, serde_json::Error> {
        let seed = params.seed;
        let mut v = json!({
            "generator": "sim trace build",
            "params": {
                "conventions": c.conventions,
                "arrivals": c.arrivals,
                "duration": c.duration,
                "cold_duration": c.cold_duration,
                "call_durations": c.call_durations,
                "memory_column": c.memory_column,
                "memory_split": c.memory_split,
                "memory_floor": c.memory_floor,
                "instances": c.instances,
                "min_calls": c.min_calls,
                "seed": seed,
            },
            "inputs": {
                "invocations": file_name(&inputs.invocations),
                "durations": file_name(&inputs.durations),
                "memory": file_name(&inputs.memory),
                "requirements": file_name(&inputs.requirements),
                "install_import": file_name(&inputs.install_import),
                "deps": inputs.deps.as_deref().map(file_name),
            },
            "counts": {
                "functions": self.functions,
                "trace_functions": self.trace_functions,
                "left_out_functions": self.left_out.functions,
                "left_out_invocations": self.left_out.invocations,
                "apps": self.apps,
                "invocations": self.invocations,
                "closures_used": self.closures_used,
                "packages": self.tables.packages,
                "measured": self.tables.measured,
                "imputed_other_version": self.tables.imputed_other_version,
                "imputed_model": self.tables.imputed_model,
                "warnings": self.warnings.len(),
            },
        });
        // The subset flags, only when given: traces built without them
        // keep their bytes.
        let p = &mut v["params"];
        if let Some(n) = params.functions {
            p["functions"] = json!(n);
        }
        if let Some(k) = params.max_closure_packages {
            p["max_closure_packages"] = json!(k);
        }
        if params.measured_closures {
            p["measured_closures"] = json!(true);
        }
        if let Some(ms) = params.max_duration_ms {
            p["max_duration_ms"] = json!(ms);
            v["counts"]["durations_capped"] = json!(self.durations_capped);
        }
        Ok(v)
    }

    /// A readable summary (warnings listed separately, see [`Warnings::to_text`]).
    pub fn to_text(&self) -> String {
        let t = &self.tables;
        let c = &self.closure_entries;
        let imputed = t.imputed_other_version + t.imputed_model;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "functions   {} in {} apps, {} invocations over {} minutes ({:.1} h)",
            self.functions,
            self.apps,
            self.invocations,
            self.minutes,
            self.span_us as f64 / 3.6e9
        );
        if self.left_out.functions > 0 {
            let _ = writeln!(
                s,
                "left out    {} functions (--min-calls, --functions) ({} invocations)",
                self.left_out.functions, self.left_out.invocations
            );
        }
        if self.durations_capped > 0 {
            let _ = writeln!(
                s,
                "durations   {} functions capped at --max-duration-ms",
                self.durations_capped
            );
        }
        if self.trace_functions != self.functions {
            let _ = writeln!(
                s,
                "instances   per app: {} trace functions, one per app",
                self.trace_functions
            );
        }
        let _ = writeln!(
            s,
            "closures    {} files read ({} empty), {} assigned; entries {} ({} with markers, {} with extras, {} merged, {} malformed)",
            c.files, c.empty_files, self.closures_used, c.entries, c.with_marker, c.with_extras, c.merged_duplicates, c.malformed
        );
        let _ = writeln!(
            s,
            "packages    {} in the trace: {} measured, {} imputed ({} from another version, {} from the model)",
            t.packages, t.measured, imputed, t.imputed_other_version, t.imputed_model
        );
        let m = &self.cost_model;
        let _ = writeln!(
            s,
            "cost model  fitted to {} measured versions (median / p90 of positive values, share of zeros): import {:.2} / {:.1} ms ({:.0}%), {:.2} / {:.1} MB ({:.0}%); install {:.0} / {:.0} ms; disk {:.0} KB / {:.1} MB",
            self.measured_packages,
            m.import_ms.median,
            m.import_ms.p90,
            100.0 * m.import_ms.zero_share,
            m.import_mb.median,
            m.import_mb.p90,
            100.0 * m.import_mb.zero_share,
            m.install_ms.median,
            m.install_ms.p90,
            m.disk_bytes.median / 1e3,
            m.disk_bytes.p90 / 1e6
        );
        let _ = writeln!(
            s,
            "deps        {} edges kept, {} deps.json candidates dropped (not in every closure holding the package)",
            t.dependency_edges, t.dependency_edges_dropped
        );
        let _ = writeln!(
            s,
            "memory      {} functions raised to the interpreter + imports floor; {} negative measured mb set to 0",
            t.memory_raised_to_floor, self.negative_mb_clamped
        );
        let _ = writeln!(s, "warnings    {}", self.warnings.len());
        s
    }
}
