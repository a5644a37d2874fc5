//! The functions' requirements for the Docker worker: each function's
//! pins resolved to their closure by pip (wheels only) and installed into
//! the project's install cache (`crate::install`), one folder per
//! package, which the function's containers bind-mount read-only and put
//! on PYTHONPATH. A package with no wheel for the containers' Python is
//! an error: build it first with `sock-exec install` (the source build
//! needs a lean container, which this baseline does not start). When the
//! pins and every dependency their metadata names are already in the
//! cache (one version each), the closure is read from the cache and pip
//! is not run: a second start works offline.

use crate::install::{build::BuildError, InstallError, Installer, Source};
use crate::worker::registry::Registry;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum PackagesError {
    #[error("function {function}: {err}")]
    Install { function: String, err: InstallError },
    #[error("function {function}: {err}")]
    Build { function: String, err: BuildError },
}

/// Installs every function's closure; the package folders of each
/// function (functions without requirements have none).
pub fn install_all(
    registry: &Registry,
    cache: &Path,
    python_version: &str,
) -> Result<BTreeMap<String, Vec<PathBuf>>, PackagesError> {
    let mut out = BTreeMap::new();
    let needed = registry
        .functions
        .values()
        .any(|f| !f.requirements.is_empty());
    if !needed {
        return Ok(out);
    }
    let first = registry
        .functions
        .keys()
        .next()
        .cloned()
        .unwrap_or_default();
    let installer = Installer::new(cache, Source::Index, python_version).map_err(|err| {
        PackagesError::Install {
            function: first,
            err,
        }
    })?;
    for (name, f) in &registry.functions {
        if f.requirements.is_empty() {
            continue;
        }
        let ierr = |err| PackagesError::Install {
            function: name.clone(),
            err,
        };
        let pins: Vec<String> = f.requirements.iter().map(|p| p.key()).collect();
        let keys = installer.resolve_pins(&pins).map_err(ierr)?;
        let mut paths = Vec::new();
        for key in &keys {
            let (got, _) = installer
                .install_or_build(key, Duration::from_secs(900), || {
                    Err(BuildError::Container {
                        key: key.clone(),
                        err: format!(
                            "no wheel fits; build it first with `sock-exec install {key} --no-deps`"
                        ),
                    })
                })
                .map_err(|err| PackagesError::Build {
                    function: name.clone(),
                    err,
                })?;
            tracing::info!(
                function = name,
                key = got.key,
                reused = got.reused,
                "docker-worker: package ready"
            );
            paths.push(got.path);
        }
        out.insert(name.clone(), paths);
    }
    Ok(out)
}
