//! Getting a plan's packages installed, the part both replays share: which
//! packages a plan needs ([`Real::to_install`]), which of them are missing
//! ([`Real::missing`]), where each goes (the install cache, or a private
//! copy for a package the planner keeps out of it, `private.rs`), and
//! what an outcome changes ([`Real::note_installed`]). The one-at-a-time
//! replay installs them blocking ([`Real::install`]); the concurrent one
//! runs the same pip in the background (`pips.rs`).
//!
//! A package pip cannot install (no wheel for the containers' Python, not
//! on the index) is reported once and left out: containers start without
//! it, so its functions answer 500 (an import error) and the run goes on
//! with the planner's decisions in step.

use super::real::Real;
use super::RunError;
use crate::install::build::BuildError;
use crate::install::{InstallError, Installed, Installer};
use sock_core::engine::Call;
use sock_core::planner::{Action, Plan, Planner};
use sock_core::{PackageId, PackageSet};
use std::path::PathBuf;
use std::time::Duration;

/// One package to install: which, and whether it goes to a private copy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Need {
    pub(super) package: PackageId,
    pub(super) uncached: bool,
}

impl Real<'_, '_> {
    /// The packages `plan` installs before its container starts: a fork's
    /// `install`; a fresh start's `install` and the rest of its closure (a
    /// fallback may need packages the first plan did not install); none
    /// for a handler hit.
    pub(super) fn to_install(&self, call: &Call, plan: &Plan) -> PackageSet {
        match &plan.action {
            Action::HandlerHit { .. } => PackageSet::default(),
            Action::Fork { install, .. } => install.clone(),
            Action::Fresh { install, .. } => install.union(self.catalog.closure(call.inv.function)),
        }
    }

    /// Those of `set` that need a pip run now, in package order.
    pub(super) fn missing(&self, planner: &Planner<'_>, set: &PackageSet) -> Vec<Need> {
        set.iter()
            .filter(|p| !self.unavailable.contains_key(p))
            .filter_map(|p| {
                // The planner keeps it out of the install cache: a private
                // copy, deleted with the last container using it.
                let uncached = !planner.installs().contains(p);
                let present = if uncached {
                    self.private.made_now(p)
                } else {
                    self.installer.is_installed(&self.catalog.package(p).key())
                };
                (!present).then_some(Need {
                    package: p,
                    uncached,
                })
            })
            .collect()
    }

    /// The installer for `need`: the cache's, or a new private folder's.
    pub(super) fn installer_for(&mut self, need: Need) -> Result<Installer, RunError> {
        if need.uncached {
            Ok(self.private.installer(&self.installer)?)
        } else {
            Ok(self.installer.clone())
        }
    }

    /// How long a source build may take (no wheel fits: it is built in a
    /// lean container).
    pub(super) fn build_timeout(&self) -> Duration {
        self.opts.timeout.max(Duration::from_secs(600))
    }

    /// Installs what of `set` is missing, blocking (see the module doc).
    pub(super) fn install(
        &mut self,
        planner: &Planner<'_>,
        set: &PackageSet,
    ) -> Result<(), RunError> {
        for need in self.missing(planner, set) {
            let key = self.catalog.package(need.package).key();
            let installer = self.installer_for(need)?;
            let build_timeout = self.build_timeout();
            let exec = &mut *self.exec;
            let got = installer.install_or_build(&key, build_timeout, || Ok(exec));
            self.note_installed(need, &key, got)?;
        }
        Ok(())
    }

    /// A pip run's outcome `got` for `need` when no wheel fitted: built
    /// from source (blocking: a lean container runs the build).
    pub(super) fn or_build(
        &mut self,
        installer: &Installer,
        key: &str,
        got: Result<Installed, InstallError>,
    ) -> Result<(Installed, bool), BuildError> {
        match got {
            Err(InstallError::NoWheel { .. }) => {
                tracing::info!(
                    key,
                    "no wheel fits; building from source in a lean container"
                );
                let timeout = self.build_timeout();
                crate::install::build::build_from_source(self.exec, installer, key, timeout)
                    .map(|b| (b, true))
            }
            other => Ok((other?, false)),
        }
    }

    /// Counts an install's outcome; a failure leaves the package out of the
    /// run (only an I/O error on our side stops it). Returns where it went.
    pub(super) fn note_installed(
        &mut self,
        need: Need,
        key: &str,
        got: Result<(Installed, bool), BuildError>,
    ) -> Result<Option<PathBuf>, RunError> {
        match got {
            Ok((got, built)) => {
                self.summary.packages_built += u64::from(built);
                self.summary.packages_installed += 1;
                if need.uncached {
                    self.private.record(need.package, got.path.clone());
                }
                Ok(Some(got.path))
            }
            Err(BuildError::Install(e @ InstallError::Io { .. })) => Err(e.into()),
            Err(e) => {
                eprintln!("sock-exec run: cannot install {key}: {e}; its functions will fail");
                self.summary.packages_failed.push(key.to_string());
                self.unavailable.insert(need.package, e.to_string());
                Ok(None)
            }
        }
    }
}
