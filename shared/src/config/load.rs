//! Reading a run's settings, the one way `sim` and `sock-exec run` both
//! do: the settings file (`--config`; defaults where absent), then the
//! calibration file (`--calibration`) in place of its `cost`, each capped
//! at [`MAX_JSON_BYTES`]; [`Settings::check`] once every source (sim's
//! flags too) is applied; the static tree file the settings name.
//!
//! The crate does no I/O: the caller passes how a path is opened
//! (`std::fs::File::open`), as the trace reader takes a reader.

use super::{Settings, ZygoteMode};
use crate::cost::CostParams;
use crate::zygote::StaticTreeNode;
use serde::de::DeserializeOwned;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Largest settings, calibration or tree file read (bytes), so that
/// `--config /dev/zero` is an error rather than a read without end.
pub const MAX_JSON_BYTES: u64 = 64 << 20;

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("cannot read {what} {}", path.display())]
    Read {
        what: &'static str,
        path: PathBuf,
        #[source]
        err: std::io::Error,
    },
    #[error("{what} {} is larger than {MAX_JSON_BYTES} bytes; is it the right file?", path.display())]
    TooLarge { what: &'static str, path: PathBuf },
    #[error("{what} {} is not valid", path.display())]
    Invalid {
        what: &'static str,
        path: PathBuf,
        #[source]
        err: serde_json::Error,
    },
    #[error("max_concurrency must be at least 1")]
    ZeroConcurrency,
    #[error("{0}")]
    Worker(String),
    #[error("a Zygote tree file ({}) is given, but the Zygote mode is {mode}: a tree is only used with `--zygotes static` (tiers.zygote.mode \"static\"); drop the tree or the mode", tree.display())]
    TreeWithoutStatic { tree: PathBuf, mode: String },
}

/// One JSON document (`what`: "config file", ...) from `path`, at most
/// [`MAX_JSON_BYTES`] of it.
pub fn read_json<T: DeserializeOwned, R: Read>(
    path: &Path,
    what: &'static str,
    open: impl FnOnce(&Path) -> std::io::Result<R>,
) -> Result<T, SettingsError> {
    let read = |err| SettingsError::Read {
        what,
        path: path.to_path_buf(),
        err,
    };
    let mut text = String::new();
    open(path)
        .map_err(read)?
        .take(MAX_JSON_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(read)?;
    if text.len() as u64 > MAX_JSON_BYTES {
        return Err(SettingsError::TooLarge {
            what,
            path: path.to_path_buf(),
        });
    }
    serde_json::from_str(&text).map_err(|err| SettingsError::Invalid {
        what,
        path: path.to_path_buf(),
        err,
    })
}

/// The settings file (defaults without one), then the calibration file's
/// cost parameters over its `cost`. Not yet checked: sim applies its
/// flags on top, then [`Settings::check`].
pub fn load_settings<R: Read>(
    config: Option<&Path>,
    calibration: Option<&Path>,
    mut open: impl FnMut(&Path) -> std::io::Result<R>,
) -> Result<Settings, SettingsError> {
    let mut s: Settings = match config {
        Some(p) => read_json(p, "config file", &mut open)?,
        None => Settings::default(),
    };
    if let Some(p) = calibration {
        let cost: CostParams = read_json(p, "calibration file", &mut open)?;
        s.cost = cost;
    }
    Ok(s)
}

/// The static tree file the settings name, if any.
pub fn load_tree<R: Read>(
    s: &Settings,
    open: impl FnOnce(&Path) -> std::io::Result<R>,
) -> Result<Option<StaticTreeNode>, SettingsError> {
    match &s.zygote_tree {
        Some(p) => Ok(Some(read_json(p, "Zygote tree file", open)?)),
        None => Ok(None),
    }
}

impl Settings {
    /// Folds the deprecated `replay.max_concurrency` (the old name of
    /// `worker.cores`) into `worker.cores`. [`Settings::check`] does it
    /// too; sim calls it before applying its flags, so `--cores` wins.
    pub fn fold_deprecated(&mut self) -> Result<(), SettingsError> {
        if let Some(n) = self.replay.max_concurrency.take() {
            if n == 0 {
                return Err(SettingsError::ZeroConcurrency);
            }
            self.worker.cores = Some(n);
        }
        Ok(())
    }

    /// What no run accepts, whichever source set it: a concurrency of 0;
    /// a worker field out of range (the error names it); a tree file with
    /// a Zygote mode other than static (it would be ignored).
    pub fn check(&mut self) -> Result<(), SettingsError> {
        self.fold_deprecated()?;
        self.worker.check().map_err(SettingsError::Worker)?;
        if let Some(tree) = &self.zygote_tree {
            if self.tiers.zygote.mode != ZygoteMode::Static {
                let mode = serde_json::to_string(&self.tiers.zygote.mode)
                    .unwrap_or_else(|_| format!("{:?}", self.tiers.zygote.mode));
                return Err(SettingsError::TreeWithoutStatic {
                    tree: tree.clone(),
                    mode,
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn files(
        entries: &'static [(&'static str, &'static str)],
    ) -> impl FnMut(&Path) -> std::io::Result<Cursor<&'static [u8]>> {
        move |p| {
            entries
                .iter()
                .find(|(name, _)| Path::new(name) == p)
                .map(|(_, text)| Cursor::new(text.as_bytes()))
                .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotFound))
        }
    }

    #[test]
    fn calibration_replaces_the_config_files_cost() {
        let open = files(&[
            (
                "c.json",
                r#"{"cost": {"unpause_ms": 9}, "replay": {"max_concurrency": 2}}"#,
            ),
            ("cal.json", r#"{"unpause_ms": 3}"#),
        ]);
        let s = load_settings(Some(Path::new("c.json")), Some(Path::new("cal.json")), open)
            .expect("loads");
        assert_eq!(s.cost.unpause_ms, 3.0);
        assert_eq!(s.replay.max_concurrency, Some(2));
        let none = load_settings(None, None, files(&[])).expect("defaults");
        assert_eq!(none, Settings::default());
    }

    #[test]
    fn errors_name_the_file() {
        let e = load_settings(Some(Path::new("x.json")), None, files(&[])).map(|_| ());
        assert!(
            matches!(
                &e,
                Err(SettingsError::Read {
                    what: "config file",
                    ..
                })
            ),
            "{e:?}"
        );
        let open = files(&[("bad.json", "[1]")]);
        let e = load_settings(Some(Path::new("bad.json")), None, open).map(|_| ());
        assert!(
            e.as_ref()
                .is_err_and(|e| e.to_string() == "config file bad.json is not valid"),
            "{e:?}"
        );
        let zeros = |_: &Path| Ok(std::io::repeat(0));
        let e = read_json::<Settings, _>(Path::new("/dev/zero"), "config file", zeros);
        assert!(matches!(e, Err(SettingsError::TooLarge { .. })), "{e:?}");
    }

    #[test]
    fn check_refuses_zero_concurrency_and_an_unused_tree() {
        let mut s = Settings::default();
        assert!(s.check().is_ok());
        s.replay.max_concurrency = Some(0);
        assert!(matches!(s.check(), Err(SettingsError::ZeroConcurrency)));
        s.replay.max_concurrency = None;
        s.zygote_tree = Some("tree.json".into());
        let e = s.check().map_err(|e| e.to_string());
        assert!(
            e.as_ref().is_err_and(|e| e.contains("mode is \"dynamic\"")),
            "{e:?}"
        );
        s.tiers.zygote.mode = ZygoteMode::Static;
        assert!(s.check().is_ok());
    }
}
