//! `sim compare` matches records by `seq`; this checks that each matched
//! pair is the same invocation of the same trace (same function, same
//! arrival), so that records of another trace, or of a reordered one, are
//! an error naming both lines instead of a meaningless agreement score
//! (issue 12: same `seq`, other function, reported 100% agreement).

use anyhow::{bail, Result};
use sock_core::record::InvocationRecord;
use std::collections::HashMap;
use std::path::Path;

/// Records of one file, each with its 1-based line.
pub type Lined = [(usize, InvocationRecord)];

/// Errors on the first `seq` whose two records disagree on the function or
/// the arrival time (in the measured file's line order).
pub fn same_invocations(
    predicted: &Lined,
    predicted_path: &Path,
    measured: &Lined,
    measured_path: &Path,
) -> Result<()> {
    let by_seq: HashMap<u64, &(usize, InvocationRecord)> =
        predicted.iter().map(|e| (e.1.seq, e)).collect();
    for (m_line, m) in measured {
        let Some((p_line, p)) = by_seq.get(&m.seq) else {
            continue;
        };
        if p.function != m.function || p.function_name != m.function_name {
            bail!(
                "{} line {m_line}: seq {} is function {} ({}), but {} line {p_line} has it as function {} ({}); the two files are not records of the same trace",
                measured_path.display(),
                m.seq,
                m.function,
                m.function_name,
                predicted_path.display(),
                p.function,
                p.function_name
            );
        }
        if p.arrival_us != m.arrival_us {
            bail!(
                "{} line {m_line}: seq {} arrives at {} us, but {} line {p_line} has it arriving at {} us; the two files are not records of the same trace",
                measured_path.display(),
                m.seq,
                m.arrival_us,
                predicted_path.display(),
                p.arrival_us
            );
        }
    }
    Ok(())
}
