//! `--instances per-app` (dslab-faas: an instance belongs to an app and
//! serves any of its functions): all functions of an app become **one**
//! trace function, so the handler cache can reuse an instance across them.
//! What that means for the merged function:
//! - `name`: the first 16 characters of `HashApp`; the app's functions are
//!   one trace function in order of first appearance in the invocations file;
//! - `packages`: the app's closure (every function of an app shares it
//!   anyway);
//! - `duration_ms`: the mean of its functions' durations weighted by their
//!   calls in the slice (so the app's total busy time is kept), or the plain
//!   mean if none is called; `cold_duration_ms` (with `--cold-duration
//!   maximum`): the largest `Maximum` of its functions;
//! - `memory_mb`: the app's whole memory (the memory file's value for the
//!   app, whatever `--memory-split` says; the floor applies as usual);
//! - calls: each Azure function's calls, with the times they would have
//!   per function, relabelled to the app's trace function; a per-call
//!   duration (`--call-durations`) is still drawn from the calling
//!   function's own percentiles.

use super::azure::{AzureFunction, AzureSlice};
use std::collections::BTreeMap;

/// The trace's functions and, per function of the slice, its index among
/// them.
#[derive(Clone, Debug, PartialEq)]
pub struct Grouping {
    pub functions: Vec<AzureFunction>,
    pub map: Vec<u32>,
}

/// One trace function per Azure function (the identity).
pub fn per_function(slice: &AzureSlice) -> Grouping {
    Grouping {
        functions: slice.functions.clone(),
        map: (0..slice.functions.len() as u32).collect(),
    }
}

/// One trace function per app, merged as the module documents.
pub fn per_app(slice: &AzureSlice) -> Grouping {
    let mut calls = vec![0u64; slice.functions.len()];
    for row in &slice.counts {
        for (c, &n) in calls.iter_mut().zip(row) {
            *c += u64::from(n);
        }
    }
    let mut index: BTreeMap<(&str, &str), u32> = BTreeMap::new();
    let mut members: Vec<Vec<usize>> = Vec::new();
    let map = slice
        .functions
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let next = members.len() as u32;
            let g = *index.entry((&f.owner, &f.app)).or_insert(next);
            if g == next {
                members.push(Vec::new());
            }
            members[g as usize].push(i);
            g
        })
        .collect();
    let functions = members
        .iter()
        .map(|m| merge(&slice.functions, m, &calls))
        .collect();
    Grouping { functions, map }
}

fn merge(all: &[AzureFunction], members: &[usize], calls: &[u64]) -> AzureFunction {
    let first = &all[members[0]];
    let total: u64 = members.iter().map(|&i| calls[i]).sum();
    let duration_ms = if total > 0 {
        members
            .iter()
            .map(|&i| all[i].duration_ms * calls[i] as f64)
            .sum::<f64>()
            / total as f64
    } else {
        members.iter().map(|&i| all[i].duration_ms).sum::<f64>() / members.len() as f64
    };
    let maximum_ms = members
        .iter()
        .filter_map(|&i| all[i].maximum_ms)
        .reduce(f64::max);
    AzureFunction {
        owner: first.owner.clone(),
        app: first.app.clone(),
        hash: first.app.clone(),
        trigger: first.trigger.clone(),
        line: first.line,
        duration_ms,
        maximum_ms,
        percentiles: None,
        memory_mb: first.app_memory_mb,
        app_memory_mb: first.app_memory_mb,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(app: &str, hash: &str, d: f64, max: f64) -> AzureFunction {
        AzureFunction {
            owner: "o".into(),
            app: app.into(),
            hash: hash.into(),
            trigger: String::new(),
            line: 2,
            duration_ms: d,
            maximum_ms: Some(max),
            percentiles: None,
            memory_mb: 50.0,
            app_memory_mb: 100.0,
        }
    }

    #[test]
    fn an_apps_functions_become_one() {
        let slice = AzureSlice {
            source: "i.csv".into(),
            functions: vec![
                f("a", "x", 100.0, 500.0),
                f("b", "y", 7.0, 9.0),
                f("a", "z", 10.0, 20.0),
            ],
            minutes: vec![1, 2],
            counts: vec![vec![1, 0, 2], vec![2, 1, 1]],
        };
        let g = per_app(&slice);
        assert_eq!(g.map, vec![0, 1, 0]);
        assert_eq!(g.functions.len(), 2);
        // (3 x 100 + 3 x 10) / 6 = 55; max(500, 20); the app's memory.
        let a = &g.functions[0];
        assert_eq!(
            (a.hash.as_str(), a.duration_ms, a.maximum_ms, a.memory_mb),
            ("a", 55.0, Some(500.0), 100.0)
        );
        assert_eq!(g.functions[1].duration_ms, 7.0);
        assert_eq!(per_function(&slice).map, vec![0, 1, 2]);
    }
}
