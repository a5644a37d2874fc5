//! The function registry of `sock-exec worker`, in OpenLambda's layout:
//! one folder per function, `<registry>/<function>/f.py` defining
//! `def f(event)`, and optionally `<registry>/<function>/requirements.txt`
//! of exact pins (`name==version`, one per line; blank lines and `#`
//! comments allowed). An unpinned or malformed line is an error naming the
//! file and line, as is a function without `f.py` or without `def f(`.
//!
//! [`Registry::fingerprint`] is what the worker polls to pick up functions
//! added, changed or removed on disk without a restart: it changes when a
//! function folder appears or goes, or when its `f.py` or
//! `requirements.txt` changes (size or modification time).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// A registry that cannot be read, with the file (and line) to fix.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RegistryError {
    #[error("{path}: {why}")]
    Io { path: PathBuf, why: String },
    #[error("{path}: {why}")]
    Function { path: PathBuf, why: String },
    #[error("{path}:{line}: {text:?}: {why}")]
    Requirement {
        path: PathBuf,
        line: usize,
        text: String,
        why: String,
    },
}

/// One exact pin of a requirements file.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pin {
    /// The distribution's name as written (pip compares it normalized).
    pub name: String,
    pub version: String,
}

impl Pin {
    /// `name==version`, the install cache's key.
    pub fn key(&self) -> String {
        format!("{}=={}", self.name, self.version)
    }
}

/// One function of the registry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Function {
    pub name: String,
    /// The function's folder (holds `f.py`).
    pub dir: PathBuf,
    /// Its direct requirements, in file order.
    pub requirements: Vec<Pin>,
}

/// Every function of a registry folder, by name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registry {
    pub root: PathBuf,
    pub functions: BTreeMap<String, Function>,
}

/// What changes when any function is added, removed or edited.
pub type Fingerprint = Vec<(String, Option<(u64, SystemTime)>, Option<(u64, SystemTime)>)>;

fn io(path: &Path, e: std::io::Error) -> RegistryError {
    RegistryError::Io {
        path: path.to_path_buf(),
        why: e.to_string(),
    }
}

/// A function's name: a URL path segment and a folder name.
pub(crate) fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
        && !name.starts_with('.')
}

/// The function folders of `root`, sorted (hidden entries skipped).
fn function_dirs(root: &Path) -> Result<Vec<(String, PathBuf)>, RegistryError> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(root).map_err(|e| io(root, e))? {
        let entry = entry.map_err(|e| io(root, e))?;
        let name = entry.file_name().to_string_lossy().to_string();
        if name.starts_with('.') || !entry.path().is_dir() {
            continue;
        }
        out.push((name, entry.path()));
    }
    out.sort();
    Ok(out)
}

impl Registry {
    /// Reads every function of `root`; the first bad file is the error.
    pub fn load(root: &Path) -> Result<Registry, RegistryError> {
        let mut functions = BTreeMap::new();
        for (name, dir) in function_dirs(root)? {
            if !valid_name(&name) {
                return Err(RegistryError::Function {
                    path: dir,
                    why: "a function name is letters, digits, '_', '-' and '.' (it is the URL's /run/<function>)".into(),
                });
            }
            let f = load_function(&name, &dir)?;
            functions.insert(name, f);
        }
        Ok(Registry {
            root: root.to_path_buf(),
            functions,
        })
    }

    /// The registry's state on disk, cheap to poll (one `stat` per file).
    pub fn fingerprint(root: &Path) -> Result<Fingerprint, RegistryError> {
        let stat = |p: PathBuf| {
            std::fs::metadata(p)
                .ok()
                .map(|m| (m.len(), m.modified().unwrap_or(SystemTime::UNIX_EPOCH)))
        };
        Ok(function_dirs(root)?
            .into_iter()
            .map(|(name, dir)| {
                let f = stat(dir.join("f.py"));
                let r = stat(dir.join("requirements.txt"));
                (name, f, r)
            })
            .collect())
    }

    pub fn get(&self, name: &str) -> Option<&Function> {
        self.functions.get(name)
    }
}

fn load_function(name: &str, dir: &Path) -> Result<Function, RegistryError> {
    let code = dir.join("f.py");
    let text = std::fs::read_to_string(&code).map_err(|e| RegistryError::Function {
        path: code.clone(),
        why: format!("{e} (a function is a folder holding f.py with `def f(event)`)"),
    })?;
    let defines_f = text
        .lines()
        .any(|l| l.starts_with("def f(") || l.starts_with("async def f("));
    if !defines_f {
        return Err(RegistryError::Function {
            path: code,
            why: "no top-level `def f(event)`: the worker calls f with the request's JSON".into(),
        });
    }
    let req = dir.join("requirements.txt");
    let requirements = if req.exists() {
        let text = std::fs::read_to_string(&req).map_err(|e| io(&req, e))?;
        parse_requirements(&req, &text)?
    } else {
        Vec::new()
    };
    Ok(Function {
        name: name.to_string(),
        dir: dir.to_path_buf(),
        requirements,
    })
}

/// The exact pins of a requirements file (`path` names it in errors).
pub fn parse_requirements(path: &Path, text: &str) -> Result<Vec<Pin>, RegistryError> {
    let mut pins: Vec<Pin> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split(" #").next().unwrap_or("").trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let err = |why: &str| RegistryError::Requirement {
            path: path.to_path_buf(),
            line: i + 1,
            text: raw.trim().to_string(),
            why: why.to_string(),
        };
        if line.starts_with('-') {
            return Err(err(
                "pip options are not supported: one `name==version` per line",
            ));
        }
        let Some((name, version)) = line.split_once("==") else {
            return Err(err(
                "not pinned: write an exact `name==version` (e.g. numpy==1.26.4)",
            ));
        };
        let (name, version) = (name.trim(), version.trim());
        let name_ok = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
        if !name_ok {
            return Err(err(
                "the name is letters, digits, '-', '_' and '.' (no extras or markers)",
            ));
        }
        let version_ok = !version.is_empty()
            && version
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._+!-".contains(c));
        if !version_ok {
            return Err(err(
                "the version must be one exact version (no ranges, `*` or markers)",
            ));
        }
        let canon = |n: &str| n.to_ascii_lowercase().replace(['_', '.'], "-");
        if let Some(p) = pins.iter().find(|p| canon(&p.name) == canon(name)) {
            return Err(err(&format!("{} is pinned twice (also {})", name, p.key())));
        }
        pins.push(Pin {
            name: name.to_string(),
            version: version.to_string(),
        });
    }
    Ok(pins)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, rel: &str, text: &str) {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, text).expect("write");
    }

    #[test]
    fn pins_comments_and_blank_lines() {
        let p = Path::new("r.txt");
        let pins = parse_requirements(p, "# deps\n\nnumpy==1.26.4\nPillow == 10.2.0  # images\n")
            .expect("pins");
        assert_eq!(
            pins.iter().map(Pin::key).collect::<Vec<_>>(),
            ["numpy==1.26.4", "Pillow==10.2.0"]
        );
    }

    #[test]
    fn bad_lines_name_file_and_line() {
        let p = Path::new("fn/requirements.txt");
        for (text, line, want) in [
            ("numpy\n", 1, "not pinned"),
            ("a==1\nnumpy>=1.0\n", 2, "not pinned"),
            ("\n\nrequests[socks]==2.31.0\n", 3, "no extras"),
            ("six==1.*\n", 1, "one exact version"),
            ("-r other.txt\n", 1, "pip options"),
            ("a_b==1\nA-B==2\n", 2, "pinned twice"),
        ] {
            let e = parse_requirements(p, text).expect_err(text).to_string();
            assert!(
                e.starts_with(&format!("fn/requirements.txt:{line}: ")),
                "{e}"
            );
            assert!(e.contains(want), "{text:?}: {e}");
        }
    }

    #[test]
    fn a_registry_loads_and_its_fingerprint_follows_edits() {
        let dir = tempfile::tempdir().expect("tmp");
        let root = dir.path();
        write(
            root,
            "hello/f.py",
            "def f(event):\n    return {'hi': event}\n",
        );
        write(
            root,
            "img/f.py",
            "import PIL\n\ndef f(event):\n    return {}\n",
        );
        write(root, "img/requirements.txt", "Pillow==10.2.0\n");
        write(root, ".hidden/f.py", "x = 1\n");
        let r = Registry::load(root).expect("load");
        assert_eq!(r.functions.keys().collect::<Vec<_>>(), ["hello", "img"]);
        assert_eq!(
            r.get("img").expect("img").requirements[0].key(),
            "Pillow==10.2.0"
        );
        assert!(r.get("hello").expect("hello").requirements.is_empty());

        let before = Registry::fingerprint(root).expect("fp");
        write(root, "img/requirements.txt", "Pillow==10.3.0\n");
        let edited = Registry::fingerprint(root).expect("fp");
        assert_ne!(before, edited, "an edit (new size) changes the fingerprint");
        write(root, "new/f.py", "def f(event):\n    return 1\n");
        assert_ne!(edited, Registry::fingerprint(root).expect("fp"));
    }

    #[test]
    fn broken_functions_are_named() {
        let dir = tempfile::tempdir().expect("tmp");
        let root = dir.path();
        std::fs::create_dir_all(root.join("empty")).expect("mkdir");
        let e = Registry::load(root).expect_err("no f.py").to_string();
        assert!(
            e.contains("empty/f.py") && e.contains("def f(event)"),
            "{e}"
        );
        std::fs::remove_dir(root.join("empty")).expect("rm");
        write(root, "nof/f.py", "def g(event):\n    return 1\n");
        let e = Registry::load(root).expect_err("no def f").to_string();
        assert!(e.contains("nof/f.py") && e.contains("no top-level"), "{e}");
        std::fs::remove_dir_all(root.join("nof")).expect("rm");
        write(root, "bad name/f.py", "def f(event):\n    return 1\n");
        let e = Registry::load(root).expect_err("name").to_string();
        assert!(e.contains("bad name") && e.contains("URL"), "{e}");
    }
}
