//! Axis titles with units for the columns `sim sweep` writes, and the
//! trace name for plot titles.

/// A readable axis title for a sweep column (an axis flag or a summary
/// metric), with its unit; unknown columns get the unit their suffix
/// names, or their own name.
pub fn describe(column: &str) -> String {
    let known = match column {
        "worker-mb" => Some("worker memory (MB)"),
        "handler-mb" => Some("handler cache budget (MB)"),
        "zygote-mb" => Some("Zygote tree budget (MB)"),
        "install-mb" => Some("install cache disk (MB)"),
        "ttl-s" => Some("handler keep-alive TTL (s)"),
        "lifetime-s" => Some("handler lifetime (s)"),
        "cores" => Some("cores"),
        "worker.cold_pct" => Some("cold starts (% of calls)"),
        "worker.wasted_gb_s.handler_idle" => Some("idle handler memory-time (GB·s)"),
        "worker.wasted_gb_s.zygote" => Some("Zygote tree memory-time (GB·s)"),
        _ => None,
    };
    if let Some(k) = known {
        return k.to_string();
    }
    if let Some(p) = column.strip_prefix("worker.cold_pct_per_function.") {
        return format!("{p} of per-function cold starts (%)");
    }
    for (prefix, what, unit) in [
        ("startup_ms.", "start-up latency", "ms"),
        ("latency_ms.", "latency", "ms"),
        ("phases_mean_ms.", "mean phase", "ms"),
        ("memory_mb.", "memory", "MB"),
        ("worker.memory_mb.", "worker memory", "MB"),
    ] {
        if let Some(rest) = column.strip_prefix(prefix) {
            return format!("{rest} {what} ({unit})");
        }
    }
    let unit = [
        ("_ms", "ms"),
        ("-ms", "ms"),
        ("_mb", "MB"),
        ("-mb", "MB"),
        ("_pct", "%"),
        ("-pct", "%"),
        ("_gb_s", "GB·s"),
        ("-s", "s"),
        ("_s", "s"),
    ]
    .iter()
    .find(|(suffix, _)| column.ends_with(suffix));
    match unit {
        Some((_, u)) => format!("{column} ({u})"),
        None => column.to_string(),
    }
}

/// The file name of a trace path (`traces/pypi.json` -> `pypi.json`).
pub fn file_name(path: &str) -> String {
    std::path::Path::new(path)
        .file_name()
        .map_or_else(|| path.to_string(), |n| n.to_string_lossy().into_owned())
}

/// A trace's name in a title: a file's name, or for a trace built in
/// memory (`sim sweep --gen/--build`, whose trace column is the command)
/// the command without its arguments (`sim trace gen`).
pub fn trace_name(trace: &str) -> String {
    if let Some(rest) = trace.strip_prefix("sim trace ") {
        let verb = rest.split_whitespace().next().unwrap_or_default();
        return format!("sim trace {verb}");
    }
    file_name(trace)
}

/// The traces of a title: their file names, or how many there are.
pub fn traces(names: &[String]) -> String {
    match names.len() {
        0 => "no trace".into(),
        1..=3 => names.join(", "),
        n => format!("{n} traces"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_get_units() {
        assert_eq!(describe("worker-mb"), "worker memory (MB)");
        assert_eq!(describe("startup_ms.p99"), "p99 start-up latency (ms)");
        assert_eq!(
            describe("worker.cold_pct_per_function.p75"),
            "p75 of per-function cold starts (%)"
        );
        assert_eq!(describe("max-wait-s"), "max-wait-s (s)");
        assert_eq!(file_name("traces/pypi.json"), "pypi.json");
        assert_eq!(traces(&["a".into(), "b".into()]), "a, b");
        assert_eq!(
            trace_name("sim trace gen --functions 30 --seed 2"),
            "sim trace gen"
        );
    }
}
