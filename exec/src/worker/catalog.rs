//! The catalog of a function registry: what the planner knows of each
//! function and package (sock-core's [`Catalog`], as a trace's header
//! gives `sim`), built from the registry and measured on this host.
//!
//! - **Closures.** Each function's pins are resolved by pip (wheels only;
//!   from the metadata cache alone when it holds the whole closure, so a
//!   restart needs no index: [`Installer::resolve_pins`]); the resolved `name==version`s are its
//!   packages, and each package's dependencies come from its installed
//!   metadata (`Requires-Dist`), as `sock-exec install` checks them.
//! - **Measured costs.** Every package is installed once into a metadata
//!   cache (`<state>/worker/meta`, kept across restarts): its install time,
//!   size and top-level modules. Then a probe, a lean container of the
//!   function's packages, imports them in dependency order and reports
//!   each one's import time and the memory it added (`ru_maxrss`), the
//!   catalog's `import_ms` and `import_mb`; and the memory of the bare
//!   runtime, which with the closure's is a function's `memory_mb`.
//! - **Not known before a call:** the handler's own run time. The catalog
//!   says [`DEFAULT_DURATION_MS`] (the planner's prediction only; every
//!   call's phases are measured).
//!
//! A function whose pins cannot be resolved or installed is left out with
//! the reason (`Built::broken`): the worker answers its calls with 500
//! and the error, and serves the others.

use crate::container::{ContainerSpec, Executor};
use crate::install::Installer;
use crate::worker::registry::Registry;
use sock_core::trace::{Catalog, Function, Package, TraceHeader};
use sock_core::FunctionId;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The planner's handler time for a function that has not run yet (ms).
pub const DEFAULT_DURATION_MS: f64 = 10.0;

/// A probe's findings: the bare runtime's memory (MB), and each key's
/// (import ms, MB added).
type Probed = (f64, Vec<(String, (f64, f64))>);

/// What is measured once per package version.
#[derive(Clone, Debug)]
struct Facts {
    modules: Vec<String>,
    /// Canonical names of its direct dependencies.
    requires: Vec<String>,
    disk_bytes: u64,
    install_ms: f64,
    /// From the probe; `None` until one imported it.
    import: Option<(f64, f64)>,
}

/// A registry's catalog, with what the run needs beside it.
#[derive(Debug)]
pub struct Built {
    pub catalog: Catalog,
    /// Each function's folder, by function index.
    pub handler_dirs: Vec<PathBuf>,
    pub ids: HashMap<String, FunctionId>,
    /// Functions left out, with why.
    pub broken: BTreeMap<String, String>,
}

/// Builds catalogs, remembering what it measured (a reload measures only
/// new package versions).
#[derive(Debug)]
pub struct CatalogBuilder {
    meta: Installer,
    work: PathBuf,
    resolved: HashMap<Vec<String>, Vec<String>>,
    facts: HashMap<String, Facts>,
    /// Memory of the bare runtime (MB), from the first probe.
    base_mb: Option<f64>,
    timeout: Duration,
}

fn canonical(key: &str) -> String {
    crate::install::canonical_name(key.split_once("==").map_or(key, |(n, _)| n))
}

impl CatalogBuilder {
    /// `meta`: an installer into the metadata cache; `work`: a scratch
    /// folder for the probe's handler.
    pub fn new(meta: Installer, work: PathBuf, timeout: Duration) -> CatalogBuilder {
        CatalogBuilder {
            meta,
            work,
            resolved: HashMap::new(),
            facts: HashMap::new(),
            base_mb: None,
            timeout,
        }
    }

    /// The catalog of `reg`, measuring what is new.
    pub fn build(&mut self, reg: &Registry, exec: &mut Executor) -> anyhow::Result<Built> {
        let mut broken = BTreeMap::new();
        let mut closures: Vec<(String, PathBuf, Vec<String>)> = Vec::new();
        for (name, f) in &reg.functions {
            crate::commands::check_stop()?;
            match self.closure(f, exec) {
                Ok(keys) => closures.push((name.clone(), f.dir.clone(), keys)),
                Err(e) => {
                    tracing::warn!(function = %name, error = %format!("{e:#}"), "function left out");
                    broken.insert(name.clone(), format!("{e:#}"));
                }
            }
        }
        if self.base_mb.is_none() {
            let (base, _) = self.probe(exec, &[])?;
            self.base_mb = Some(base);
        }
        for (name, _, keys) in &closures {
            if keys.iter().any(|k| self.facts[k].import.is_none()) {
                let (_, per) = self
                    .probe(exec, keys)
                    .map_err(|e| e.context(format!("measuring the imports of function {name}")))?;
                for (k, cost) in per {
                    if let Some(f) = self.facts.get_mut(&k) {
                        f.import = Some(cost);
                    }
                }
            }
        }
        self.assemble(closures, broken)
    }

    /// Resolves and installs `f`'s pins into the metadata cache.
    fn closure(
        &mut self,
        f: &crate::worker::registry::Function,
        exec: &mut Executor,
    ) -> anyhow::Result<Vec<String>> {
        use anyhow::Context;
        let pins: Vec<String> = f.requirements.iter().map(|p| p.key()).collect();
        let req = f.dir.join("requirements.txt");
        let keys = match self.resolved.get(&pins) {
            Some(k) => k.clone(),
            None => {
                let k = self
                    .meta
                    .resolve_pins(&pins)
                    .with_context(|| format!("resolving {}", req.display()))?;
                self.resolved.insert(pins, k.clone());
                k
            }
        };
        for key in &keys {
            if self.facts.contains_key(key) {
                continue;
            }
            let (got, _) = self
                .meta
                .install_or_build(key, Duration::from_secs(900), || Ok(&mut *exec))
                .with_context(|| format!("installing {key} (from {})", req.display()))?;
            self.facts.insert(
                key.clone(),
                Facts {
                    modules: got.modules,
                    requires: got.requires.iter().map(|r| canonical(r)).collect(),
                    disk_bytes: got.bytes,
                    install_ms: got.elapsed.as_secs_f64() * 1e3,
                    import: None,
                },
            );
        }
        Ok(keys)
    }

    /// `keys` in dependency order (a dependency before its dependents).
    fn ordered(&self, keys: &[String]) -> Vec<String> {
        let by_name: HashMap<String, &String> = keys.iter().map(|k| (canonical(k), k)).collect();
        let mut out: Vec<String> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        fn visit<'a>(
            k: &'a String,
            facts: &HashMap<String, Facts>,
            by_name: &HashMap<String, &'a String>,
            seen: &mut std::collections::HashSet<&'a String>,
            out: &mut Vec<String>,
        ) {
            if !seen.insert(k) {
                return;
            }
            for dep in &facts[k].requires {
                if let Some(d) = by_name.get(dep) {
                    visit(d, facts, by_name, seen, out);
                }
            }
            out.push(k.clone());
        }
        for k in keys {
            visit(k, &self.facts, &by_name, &mut seen, &mut out);
        }
        out
    }

    /// Imports `keys` (in dependency order) in one lean container: the
    /// bare runtime's memory (MB), and each key's (import ms, MB added).
    fn probe(&self, exec: &mut Executor, keys: &[String]) -> anyhow::Result<Probed> {
        let dir = self.work.join("probe");
        write_probe(&dir)?;
        let ordered = self.ordered(keys);
        let packages = ordered
            .iter()
            .map(|k| Ok((k.clone(), self.meta.key_path(k)?)))
            .collect::<Result<Vec<_>, crate::install::InstallError>>()?;
        let spec = ContainerSpec {
            handler_dir: dir,
            packages,
            imports: Vec::new(),
        };
        let steps: Vec<serde_json::Value> = ordered
            .iter()
            .map(|k| serde_json::json!([k, self.facts[k].modules]))
            .collect();
        let event = serde_json::json!({ "steps": steps }).to_string();
        let mut c = exec.create(&spec)?;
        let r = exec.invoke(&mut c, &event, self.timeout);
        exec.destroy(c)?;
        let r = r?;
        if r.status != 200 {
            anyhow::bail!("the import probe answered {}: {}", r.status, r.body);
        }
        let v: serde_json::Value = serde_json::from_str(&r.body)?;
        let base = v["base_kb"].as_f64().unwrap_or(0.0) / 1024.0;
        let per = v["steps"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| {
                        let key = s[0].as_str()?.to_string();
                        if let Some(err) = s[3].as_str() {
                            tracing::warn!(
                                key,
                                error = err,
                                "a package failed to import in the probe"
                            );
                        }
                        Some((key, (s[1].as_f64()?, s[2].as_f64()? / 1024.0)))
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok((base, per))
    }

    fn assemble(
        &self,
        closures: Vec<(String, PathBuf, Vec<String>)>,
        broken: BTreeMap<String, String>,
    ) -> anyhow::Result<Built> {
        let mut index: BTreeMap<String, u32> = BTreeMap::new();
        for (_, _, keys) in &closures {
            for k in keys {
                let n = index.len() as u32;
                index.entry(k.clone()).or_insert(n);
            }
        }
        let by_name: HashMap<String, u32> = index.iter().map(|(k, &i)| (canonical(k), i)).collect();
        let mut packages: Vec<Option<Package>> = vec![None; index.len()];
        for (key, &i) in &index {
            let f = &self.facts[key];
            let (name, version) = key.split_once("==").unwrap_or((key, ""));
            let (import_ms, import_mb) = f.import.unwrap_or((0.0, 0.0));
            packages[i as usize] = Some(Package {
                name: name.to_string(),
                version: version.to_string(),
                deps: f
                    .requires
                    .iter()
                    .filter_map(|d| by_name.get(d).copied())
                    .collect(),
                modules: f.modules.clone(),
                import_ms,
                import_mb,
                install_ms: f.install_ms,
                disk_bytes: f.disk_bytes,
                imputed: f.import.is_none(),
            });
        }
        let base = self.base_mb.unwrap_or(0.0);
        let mut functions = Vec::new();
        let mut handler_dirs = Vec::new();
        let mut ids = HashMap::new();
        for (i, (name, dir, keys)) in closures.into_iter().enumerate() {
            let mem: f64 = keys
                .iter()
                .map(|k| self.facts[k].import.map_or(0.0, |c| c.1))
                .sum();
            functions.push(Function {
                name: name.clone(),
                packages: keys.iter().map(|k| index[k]).collect(),
                duration_ms: DEFAULT_DURATION_MS,
                cold_duration_ms: None,
                memory_mb: (base + mem).max(1.0),
            });
            handler_dirs.push(dir);
            ids.insert(name, FunctionId(i as u32));
        }
        let packages = packages.into_iter().flatten().collect();
        let source = serde_json::json!({ "generator": "sock-exec worker" });
        let catalog = Catalog::new(TraceHeader::new(packages, functions, source))?;
        Ok(Built {
            catalog,
            handler_dirs,
            ids,
            broken,
        })
    }
}

/// The probe's handler: imports each step's modules, timing each step and
/// the memory it adds.
fn write_probe(dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir)?;
    let file = dir.join("f.py");
    std::fs::write(&file, PROBE)?;
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))?;
    Ok(())
}

const PROBE: &str = r#"import resource
import time


def f(event):
    rss = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out = {"base_kb": rss(), "steps": []}
    for key, modules in event["steps"]:
        t0, m0, err = time.monotonic_ns(), rss(), None
        for m in modules:
            try:
                __import__(m)
            except Exception as e:
                err = "%s: %s: %s" % (m, type(e).__name__, e)
        out["steps"].append([key, (time.monotonic_ns() - t0) / 1e6, rss() - m0, err])
    return out
"#;
