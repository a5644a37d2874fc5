//! The generated handler of each trace function (`<work>/handlers/f<i>/f.py`).

use super::RunError;
use sock_core::trace::Catalog;
use std::path::{Path, PathBuf};

/// The modules each package provides: the trace's `modules`, else the
/// module its name gives (the stand-in wheels' rule, `install::wheel`).
pub(crate) fn package_modules(catalog: &Catalog) -> Vec<Vec<String>> {
    (0..catalog.package_count())
        .map(|p| {
            let pkg = catalog.package(sock_core::PackageId(p as u32));
            if pkg.modules.is_empty() {
                vec![crate::install::wheel::module_name(&pkg.name)]
            } else {
                pkg.modules.clone()
            }
        })
        .collect()
}

/// Writes each function's handler: it imports its closure's modules (all
/// already imported by then, so free) and runs for the duration the
/// request names (the planner's handler phase: a call's own duration, a
/// cold duration, or the function's), the trace's function duration if none.
pub(super) fn write_handlers(
    catalog: &Catalog,
    modules: &[Vec<String>],
    dir: &Path,
) -> Result<Vec<PathBuf>, RunError> {
    use std::os::unix::fs::PermissionsExt;
    let io = |op: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |err| RunError::Io { op, path, err }
    };
    let all_modules: std::collections::BTreeSet<&String> = modules.iter().flatten().collect();
    let all_modules: Vec<String> = all_modules.into_iter().cloned().collect();
    (0..catalog.function_count())
        .map(|i| {
            let f = sock_core::FunctionId(i as u32);
            let func = catalog.function(f);
            let d = dir.join(format!("f{i}"));
            std::fs::create_dir_all(&d).map_err(io("create", &d))?;
            let imports: Vec<String> = catalog
                .closure(f)
                .iter()
                .flat_map(|p| modules[p.index()].iter().cloned())
                .collect();
            let src = handler_source(
                &func.name,
                func.duration_ms / 1000.0,
                &imports,
                &all_modules,
            )?;
            let file = d.join("f.py");
            std::fs::write(&file, src).map_err(io("write", &file))?;
            for (p, mode) in [(&file, 0o644), (&d, 0o755), (&dir.to_path_buf(), 0o755)] {
                std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode))
                    .map_err(io("chmod", p))?;
            }
            Ok(d)
        })
        .collect()
}

/// The source of one handler. Trace strings never become code: every one
/// is a JSON literal (a valid Python literal of the same value), module
/// names are checked to be dotted identifiers and imported by
/// `__import__`, never written into an `import` statement.
pub(crate) fn handler_source(
    name: &str,
    duration_s: f64,
    imports: &[String],
    trace_modules: &[String],
) -> Result<String, RunError> {
    for m in imports.iter().chain(trace_modules) {
        if !is_module_name(m) {
            return Err(RunError::BadTrace(format!(
                "module name {m:?} (function {name:?}) is not a dotted Python identifier"
            )));
        }
    }
    if !(duration_s.is_finite() && duration_s >= 0.0) {
        return Err(RunError::BadTrace(format!(
            "function {name:?}: duration {duration_s} s is not a finite number >= 0"
        )));
    }
    let json = |v: serde_json::Value| v.to_string();
    Ok(format!(
        "import sys\nimport time\n\n\
         NAME = {name}\nDURATION_S = {duration}\nIMPORTS = {imports}\nTRACE_MODULES = {trace}\n\n\
         for _m in IMPORTS:\n    __import__(_m)\n\n\n\
         def f(event):\n    \
         # The planner's handler time for this call (a per-call or cold\n    \
         # duration of the trace), else the function's own.\n    \
         d = event.get(\"duration_s\") if isinstance(event, dict) else None\n    \
         time.sleep(d if isinstance(d, (int, float)) and d >= 0 else DURATION_S)\n    \
         # Which of the trace's packages this process holds (the runner\n    \
         # checks it never holds one its function did not ask for).\n    \
         held = sorted(m for m in TRACE_MODULES if m in sys.modules)\n    \
         return {{\"function\": NAME, \"modules\": held}}\n",
        name = json(name.into()),
        duration = json(duration_s.into()),
        imports = json(imports.to_vec().into()),
        trace = json(trace_modules.to_vec().into()),
    ))
}

/// A dotted name of ASCII identifiers (`a`, `a.b_c`): what the runtime
/// imports (it checks again before importing).
pub(crate) fn is_module_name(m: &str) -> bool {
    !m.is_empty()
        && m.split('.').all(|part| {
            part.chars()
                .next()
                .is_some_and(|c| c == '_' || c.is_ascii_alphabetic())
                && part.chars().all(|c| c == '_' || c.is_ascii_alphanumeric())
        })
}

/// The request body for `plan`: the handler's run time the planner chose
/// (`phases.handler`), so sim and sock-exec run each call equally long.
pub(super) fn request_body(plan: &sock_core::planner::Plan) -> String {
    serde_json::json!({ "duration_s": plan.phases.handler.0 as f64 / 1e6 }).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::python_eval;

    /// Issue 12: trace strings were pasted into the generated Python with
    /// Rust's escaping (`{:?}`), which is not Python's: a control character
    /// made a handler that does not compile, and module names became
    /// `import` statements.
    #[test]
    fn trace_strings_are_data_in_generated_handlers() {
        let name = "fn\u{1b}\"\n\\x\u{2028}é";
        let src = handler_source(name, 0.0, &["json".into()], &["json".into(), "a.b".into()])
            .expect("source");
        let got = python_eval(&src, "[ns['NAME'], ns['f']({})['function'], names]")
            .expect("the handler compiles and runs");
        let want = serde_json::json!([name, name]);
        let got: serde_json::Value = serde_json::from_str(&got).expect("json");
        assert_eq!(got[0], want[0]);
        assert_eq!(got[1], want[1]);
        // Only the handler's own fixed imports are statements; the trace's
        // modules are data.
        assert!(
            got[2]
                .as_array()
                .is_some_and(|a| !a.contains(&"json".into())),
            "a module name became code: {got}"
        );
    }

    #[test]
    fn module_names_that_are_not_identifiers_are_refused() {
        for bad in [
            "os; import x",
            "a..b",
            "1a",
            "",
            "a.",
            "a b",
            "__import__('os')",
        ] {
            assert!(
                handler_source("f", 0.0, &[bad.to_string()], &[]).is_err(),
                "{bad:?} accepted"
            );
            assert!(
                handler_source("f", 0.0, &[], &[bad.to_string()]).is_err(),
                "{bad:?} accepted as a trace module"
            );
        }
        for bad in [f64::NAN, f64::INFINITY, -1.0] {
            assert!(handler_source("f", bad, &[], &[]).is_err(), "{bad}");
        }
    }
}
