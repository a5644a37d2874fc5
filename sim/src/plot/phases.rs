//! `sim plot phases`: where a call's time goes in each configuration of a
//! sweep, as stacked bars of the mean phase times (`phases_mean_ms.*`).
//! The handler's own run is left out: no configuration changes it, and it
//! would dwarf the start-up phases the tiers decide.

use super::bars::StackedBars;
use super::sweep_input::Sweep;
use super::Options;
use anyhow::{bail, Result};

const PREFIX: &str = "phases_mean_ms.";

pub fn chart(sweep: &Sweep, o: &Options) -> Result<StackedBars> {
    let columns: Vec<&String> = sweep
        .table
        .header
        .iter()
        .filter(|c| c.starts_with(PREFIX) && c.as_str() != "phases_mean_ms.handler")
        .collect();
    if columns.is_empty() {
        bail!(
            "{}: no column {PREFIX}*; columns are {}",
            sweep.what,
            sweep.table.header.join(", ")
        );
    }
    let mut parts = Vec::new();
    for c in columns {
        let values: Vec<f64> = sweep.means(c)?.into_iter().map(|(_, v)| v).collect();
        if values.iter().any(|&v| v > 0.0) {
            parts.push((c[PREFIX.len()..].to_string(), values));
        }
    }
    let categories = sweep
        .groups
        .iter()
        .map(|g| {
            let v: Vec<&str> = g.config.iter().map(|(_, v)| v.as_str()).collect();
            if v.is_empty() {
                "all".to_string()
            } else {
                v.join(", ")
            }
        })
        .collect();
    let trace = sweep.trace_label(o.trace_name.as_deref());
    Ok(StackedBars {
        title: o.title_or(|| format!("Mean start-up phases per call: {trace}")),
        x_label: if sweep.axes.is_empty() {
            "configuration".into()
        } else {
            sweep.axes.join(", ")
        },
        y_label: "mean time per call (ms; handler run not shown)".into(),
        categories,
        parts,
    })
}
