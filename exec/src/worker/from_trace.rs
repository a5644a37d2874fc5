//! `sock-exec registry --from-trace`: a function registry folder (the
//! layout [`super::registry`] reads) standing in for a trace's functions,
//! so `sock-exec worker` can serve the trace and `sock-exec load` replay it
//! over HTTP (issue 13, item 2's platform validation).
//!
//! One folder per trace function:
//! - `f.py`: the handler `sock-exec run` generates for it (the same
//!   [`handler_source`]): it imports the modules of the function's package
//!   closure, then sleeps for the event's `duration_s` (what `sock-exec
//!   load` sends), else for the function's `duration_ms`;
//! - `requirements.txt`: the function's packages as the trace lists them
//!   (its direct requirements, or a full closure: both mean the same, see
//!   traces/README.md), as exact `name==version` pins.
//!
//! Folder names are the trace's function names. A trace name the registry
//! refuses (over 128 bytes) or one repeating an earlier function's name is
//! renamed deterministically ([`registry_names`]); the caller reports the
//! renames, and `sock-exec load` maps calls through the same function.

use crate::run::handlers::handler_source;
use sock_core::trace::Catalog;
use sock_core::{FunctionId, PackageId};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum FromTraceError {
    #[error("{}: the registry folder must be new or empty (it holds {entry:?})", path.display())]
    NotEmpty { path: PathBuf, entry: String },
    #[error("{op} {}: {err}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        err: std::io::Error,
    },
    #[error("function {function} ({name:?}): {why}")]
    Function {
        function: u32,
        name: String,
        why: String,
    },
    #[error(
        "{} lacks wheels for {} of the registry's packages (first: {}); make them with `sock-exec packages --trace TRACE --out {}`",
        dir.display(), missing.len(), missing.first().map(String::as_str).unwrap_or(""), dir.display()
    )]
    MissingWheels { dir: PathBuf, missing: Vec<String> },
}

/// A trace function whose registry name is not its trace name.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Renamed {
    pub function: u32,
    pub trace_name: String,
    pub registry_name: String,
    pub why: &'static str,
}

/// The registry name of every trace function (by index), and the renames.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Names {
    pub names: Vec<String>,
    pub renamed: Vec<Renamed>,
}

/// Longest kept prefix of a renamed function's name (room for the suffix
/// within the registry's 128 bytes).
const RENAMED_PREFIX: usize = 96;

/// Registry names for the trace's functions. Rule (deterministic, in
/// function index order): a name the registry accepts keeps its name the
/// first time it appears; every other function gets
/// `<prefix>.f<index>`, `<prefix>` its name with characters the registry
/// refuses replaced by `_` and cut to 96 bytes, plus `.<k>` (k = 1, 2, ..)
/// while that is taken. Kept names are reserved first, so a rename never
/// takes one.
pub fn registry_names(catalog: &Catalog) -> Names {
    let trace: Vec<&str> = (0..catalog.function_count())
        .map(|i| catalog.function(FunctionId(i as u32)).name.as_str())
        .collect();
    let mut taken: BTreeSet<String> = BTreeSet::new();
    let kept: Vec<bool> = trace
        .iter()
        .map(|n| super::registry::valid_name(n) && taken.insert(n.to_string()))
        .collect();
    let mut names = Vec::with_capacity(trace.len());
    let mut renamed = Vec::new();
    for (i, (&name, &keep)) in trace.iter().zip(&kept).enumerate() {
        if keep {
            names.push(name.to_string());
            continue;
        }
        let why = if super::registry::valid_name(name) {
            "repeats an earlier function's name"
        } else {
            "not a registry folder name (letters, digits, '_', '-', '.', at most 128 bytes)"
        };
        let mut prefix: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "_-.".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        prefix.truncate(RENAMED_PREFIX);
        if prefix.is_empty() || prefix.starts_with('.') {
            prefix.insert(0, '_');
        }
        let mut candidate = format!("{prefix}.f{i}");
        let mut k = 0;
        while taken.contains(&candidate) {
            k += 1;
            candidate = format!("{prefix}.f{i}.{k}");
        }
        taken.insert(candidate.clone());
        renamed.push(Renamed {
            function: i as u32,
            trace_name: name.to_string(),
            registry_name: candidate.clone(),
            why,
        });
        names.push(candidate);
    }
    Names { names, renamed }
}

/// What [`write_registry`] wrote.
#[derive(Clone, Debug)]
pub struct Written {
    pub functions: usize,
    /// Pins over all `requirements.txt` files.
    pub pins: usize,
    pub names: Names,
}

/// Writes the registry of `catalog` into `out` (created; must be new or
/// empty). With `find_links`, first checks that it holds a wheel or
/// source distribution for every package a function needs (closures
/// included), so an offline worker will not fail on its first request.
///
/// The folder is written beside `out` and renamed into place (over an
/// empty `out`), so a worker already polling `out` never sees half a
/// registry, and a failure leaves nothing behind.
pub fn write_registry(
    catalog: &Catalog,
    trace_name: &str,
    out: &Path,
    find_links: Option<&Path>,
) -> Result<Written, FromTraceError> {
    if let Some(dir) = find_links {
        check_wheels(catalog, dir)?;
    }
    check_out(out)?;
    let tmp = staging(out)?;
    let written = write_functions(catalog, trace_name, &tmp).and_then(|w| {
        std::fs::rename(&tmp, out).map_err(|err| FromTraceError::Io {
            op: "rename into place",
            path: out.to_path_buf(),
            err,
        })?;
        Ok(w)
    });
    if written.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    written
}

/// The staging folder beside `out`, created empty.
fn staging(out: &Path) -> Result<PathBuf, FromTraceError> {
    let name = out.file_name().ok_or_else(|| FromTraceError::Io {
        op: "name",
        path: out.to_path_buf(),
        err: std::io::Error::new(std::io::ErrorKind::InvalidInput, "no folder name"),
    })?;
    let tmp = out.with_file_name(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    if tmp.exists() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    let io = |op| {
        let path = tmp.clone();
        move |err| FromTraceError::Io { op, path, err }
    };
    std::fs::create_dir_all(&tmp).map_err(io("create"))?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755)).map_err(io("chmod"))?;
    Ok(tmp)
}

/// Every function's folder under `root`.
fn write_functions(
    catalog: &Catalog,
    trace_name: &str,
    root: &Path,
) -> Result<Written, FromTraceError> {
    let names = registry_names(catalog);
    let modules = crate::run::handlers::package_modules(catalog);
    let all: BTreeSet<&String> = modules.iter().flatten().collect();
    let all: Vec<String> = all.into_iter().cloned().collect();
    let mut pins = 0;
    for (i, registry_name) in names.names.iter().enumerate() {
        let f = FunctionId(i as u32);
        let func = catalog.function(f);
        let fail = |why: String| FromTraceError::Function {
            function: i as u32,
            name: func.name.clone(),
            why,
        };
        let imports: Vec<String> = catalog
            .closure(f)
            .iter()
            .flat_map(|p| modules[p.index()].iter().cloned())
            .collect();
        let src = handler_source(&func.name, func.duration_ms / 1000.0, &imports, &all)
            .map_err(|e| fail(e.to_string()))?;
        let reqs = requirements(catalog, f, trace_name).map_err(fail)?;
        pins += reqs.1;
        let dir = root.join(registry_name);
        write_file(&dir, "f.py", &src)?;
        write_file(&dir, "requirements.txt", &reqs.0)?;
    }
    Ok(Written {
        functions: names.names.len(),
        pins,
        names,
    })
}

/// `requirements.txt` of function `f` and its number of pins. Two
/// versions of one distribution cannot both be pinned (pip installs one).
fn requirements(catalog: &Catalog, f: FunctionId, trace: &str) -> Result<(String, usize), String> {
    let func = catalog.function(f);
    let mut text = format!(
        "# function {} ({}) of trace {trace}, written by `sock-exec registry --from-trace`\n",
        f.0,
        serde_json::Value::from(func.name.as_str())
    );
    let mut seen: BTreeSet<u32> = BTreeSet::new();
    let mut canon: Vec<(String, String)> = Vec::new();
    for &p in &func.packages {
        if !seen.insert(p) {
            continue;
        }
        let pkg = catalog.package(PackageId(p));
        let c = sock_core::trace::normalize_name(&pkg.name);
        if let Some((_, other)) = canon.iter().find(|(n, _)| *n == c) {
            return Err(format!(
                "needs two versions of one package ({other} and {}); a requirements file pins one",
                pkg.key()
            ));
        }
        canon.push((c, pkg.key()));
        text.push_str(&pkg.key());
        text.push('\n');
    }
    Ok((text, canon.len()))
}

fn check_out(out: &Path) -> Result<(), FromTraceError> {
    let io = |err| FromTraceError::Io {
        op: "read",
        path: out.to_path_buf(),
        err,
    };
    if out.exists() {
        if let Some(entry) = std::fs::read_dir(out).map_err(io)?.next() {
            let entry = entry.map_err(io)?;
            return Err(FromTraceError::NotEmpty {
                path: out.to_path_buf(),
                entry: entry.file_name().to_string_lossy().into_owned(),
            });
        }
    }
    Ok(())
}

/// Writes `dir/name` world-readable (the worker's containers read it).
fn write_file(dir: &Path, name: &str, text: &str) -> Result<(), FromTraceError> {
    use std::os::unix::fs::PermissionsExt;
    let io = |op, path: &Path| {
        let path = path.to_path_buf();
        move |err| FromTraceError::Io { op, path, err }
    };
    std::fs::create_dir_all(dir).map_err(io("create", dir))?;
    let file = dir.join(name);
    std::fs::write(&file, text).map_err(io("write", &file))?;
    for (p, mode) in [(&file, 0o644), (&dir.to_path_buf(), 0o755)] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode))
            .map_err(io("chmod", p))?;
    }
    Ok(())
}

/// `(normalized name, version)` of a wheel (`name-version-...whl`) or
/// source distribution (`name-version.tar.gz` / `.zip`) file name.
fn dist_of_file(file: &str) -> Option<(String, String)> {
    let norm = sock_core::trace::normalize_name;
    if let Some(stem) = file.strip_suffix(".whl") {
        let mut parts = stem.split('-');
        let (name, version) = (parts.next()?, parts.next()?);
        return Some((norm(name), version.to_string()));
    }
    let stem = file
        .strip_suffix(".tar.gz")
        .or_else(|| file.strip_suffix(".zip"))?;
    let (name, version) = stem.rsplit_once('-')?;
    Some((norm(name), version.to_string()))
}

/// Errors unless `dir` holds a distribution of every package some
/// function's closure holds.
fn check_wheels(catalog: &Catalog, dir: &Path) -> Result<(), FromTraceError> {
    let io = |err| FromTraceError::Io {
        op: "read",
        path: dir.to_path_buf(),
        err,
    };
    let mut have: BTreeSet<(String, String)> = BTreeSet::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        if let Some(d) = dist_of_file(&entry.file_name().to_string_lossy()) {
            have.insert(d);
        }
    }
    let needed: BTreeSet<PackageId> = (0..catalog.function_count())
        .flat_map(|i| catalog.closure(FunctionId(i as u32)).iter())
        .collect();
    let missing: Vec<String> = needed
        .into_iter()
        .map(|p| catalog.package(p))
        .filter(|p| {
            let key = (sock_core::trace::normalize_name(&p.name), p.version.clone());
            !have.contains(&key)
        })
        .map(|p| p.key())
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(FromTraceError::MissingWheels {
            dir: dir.to_path_buf(),
            missing,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sock_core::trace::{Function, Package, TraceHeader};

    fn catalog(names: &[&str]) -> Catalog {
        let functions = names
            .iter()
            .map(|n| Function {
                name: n.to_string(),
                packages: vec![],
                duration_ms: 1.0,
                cold_duration_ms: None,
                memory_mb: 1.0,
            })
            .collect();
        let packages: Vec<Package> = vec![];
        Catalog::new(TraceHeader::new(
            packages,
            functions,
            serde_json::Value::Null,
        ))
        .expect("catalog")
    }

    #[test]
    fn valid_first_names_are_kept_and_the_rest_renamed_deterministically() {
        let long = "x".repeat(150);
        let c = catalog(&["a", "b", "a", &long, "a.f2", "_z"]);
        let n = registry_names(&c);
        assert_eq!(n.names[..3], ["a", "b", "a.f2.1"]);
        assert_eq!(n.names[3], format!("{}.f3", "x".repeat(96)));
        assert_eq!(
            n.names[4..],
            ["a.f2", "_z"],
            "a kept name is reserved first"
        );
        assert_eq!(
            n.renamed.iter().map(|r| r.function).collect::<Vec<_>>(),
            [2, 3]
        );
        assert!(n
            .names
            .iter()
            .all(|s| super::super::registry::valid_name(s)));
        assert_eq!(registry_names(&c), n, "deterministic");
    }

    #[test]
    fn an_empty_folder_is_filled_and_a_failure_leaves_nothing() {
        let dir = tempfile::tempdir().expect("tmp");
        let out = dir.path().join("reg");
        std::fs::create_dir(&out).expect("mkdir");
        write_registry(&catalog(&["a"]), "t", &out, None).expect("into an empty folder");
        assert!(out.join("a/f.py").is_file());

        let pkg = |v: &str| Package {
            name: "six".into(),
            version: v.into(),
            deps: vec![],
            modules: vec![],
            import_ms: 0.0,
            import_mb: 0.0,
            install_ms: 0.0,
            disk_bytes: 0,
            imputed: false,
        };
        let mut header = catalog(&["ok", "both"]).header;
        header.packages = vec![pkg("1.0"), pkg("1.1")];
        header.functions[1].packages = vec![0, 1];
        let two = Catalog::new(header).expect("catalog");
        let out = dir.path().join("two");
        let e = write_registry(&two, "t", &out, None).expect_err("two versions");
        assert!(e.to_string().contains("six==1.0 and six==1.1"), "{e}");
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .expect("ls")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(left, ["reg"], "no partial registry, no staging folder");
    }

    #[test]
    fn distribution_file_names() {
        assert_eq!(
            dist_of_file("my_pkg.x-1.0-py3-none-any.whl"),
            Some(("my-pkg-x".into(), "1.0".into()))
        );
        assert_eq!(
            dist_of_file("six-1.16.0.tar.gz"),
            Some(("six".into(), "1.16.0".into()))
        );
        assert_eq!(dist_of_file("README.md"), None);
    }
}
