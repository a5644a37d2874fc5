//! Synthetic test packages: real, installable pure-Python wheels whose
//! import has a chosen CPU cost and memory footprint, for tests and for
//! validation runs on synthetic traces (`sim trace gen` packages).
//!
//! [`build_wheel`] writes `<name>-<version>-py3-none-any.whl` (a ZIP with
//! stored entries, written here together with its CRC-32 and the RECORD
//! SHA-256 digests, so no extra crates) holding `<module>/__init__.py` and
//! `<name>-<version>.dist-info/{METADATA,WHEEL,top_level.txt,RECORD}`. The
//! module is the package name with `-` and `.` replaced by `_`.
//!
//! Importing the module, in order:
//! 1. imports each dependency's module;
//! 2. allocates `import_mb` MiB of touched memory (`b"\x01" * n`, so the
//!    pages are resident), kept alive in the module global `_MEMORY`;
//! 3. busy-spins on `time.perf_counter` until `import_ms` have passed since
//!    step 2 began, so the module's own cost is `import_ms` (unless the
//!    allocation alone takes longer);
//! 4. appends the module name to `builtins.sock_test_imports` (created if
//!    missing) and the line `<module> <pid>\n` to
//!    [`IMPORT_LOG`] (errors ignored);
//! 5. exposes `IMPORT_MS`, `IMPORT_MB` and `PID_AT_IMPORT`.
//!
//! The source uses only built-in modules (`builtins`, `posix`, `time`), so
//! importing it reads no other file.

mod archive;

use archive::{base64_urlsafe_nopad, zip_stored};
pub use archive::{crc32, sha256};
use std::path::{Path, PathBuf};

/// Where test modules log their imports, one `<module> <pid>` line each.
pub const IMPORT_LOG: &str = "/tmp/sock-test-imports.log";

/// A synthetic package to build.
#[derive(Clone, Debug, PartialEq)]
pub struct TestPackage {
    pub name: String,
    pub version: String,
    /// CPU time its import spins for (ms).
    pub import_ms: f64,
    /// Memory its import keeps alive (MiB).
    pub import_mb: f64,
    /// Names of the packages it depends on (imported first).
    pub requires: Vec<String>,
}

impl TestPackage {
    /// A package with no cost and no dependencies.
    pub fn new(name: &str, version: &str) -> TestPackage {
        TestPackage {
            name: name.into(),
            version: version.into(),
            import_ms: 0.0,
            import_mb: 0.0,
            requires: Vec::new(),
        }
    }

    /// Its install-cache key, `name==version`.
    pub fn key(&self) -> String {
        format!("{}=={}", self.name, self.version)
    }

    /// The module it provides.
    pub fn module(&self) -> String {
        module_name(&self.name)
    }
}

/// The module a test package named `package` provides: `-` and `.` become
/// `_`.
pub fn module_name(package: &str) -> String {
    package.replace(['-', '.'], "_")
}

#[derive(Debug, thiserror::Error)]
pub enum WheelError {
    #[error("test package {name:?}: {reason}")]
    Invalid { name: String, reason: String },
    #[error("{op} {}: {err}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        err: std::io::Error,
    },
}

/// Writes `pkg` as a wheel into `out_dir` (created if missing) and returns
/// the wheel's path. Deterministic: the same package gives the same bytes.
pub fn build_wheel(out_dir: &Path, pkg: &TestPackage) -> Result<PathBuf, WheelError> {
    validate(pkg)?;
    let escaped = escape_name(&pkg.name);
    let dist_info = format!("{escaped}-{}.dist-info", pkg.version);
    let module = pkg.module();
    let mut files: Vec<(String, Vec<u8>)> = vec![
        (format!("{module}/__init__.py"), init_py(pkg).into_bytes()),
        (format!("{dist_info}/METADATA"), metadata(pkg).into_bytes()),
        (
            format!("{dist_info}/WHEEL"),
            "Wheel-Version: 1.0\nGenerator: sock-exec\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
                .as_bytes()
                .to_vec(),
        ),
        (
            format!("{dist_info}/top_level.txt"),
            format!("{module}\n").into_bytes(),
        ),
    ];
    let mut record = String::new();
    for (path, data) in &files {
        let digest = base64_urlsafe_nopad(&sha256(data));
        record.push_str(&format!("{path},sha256={digest},{}\n", data.len()));
    }
    record.push_str(&format!("{dist_info}/RECORD,,\n"));
    files.push((format!("{dist_info}/RECORD"), record.into_bytes()));

    let zip = zip_stored(&files).map_err(|reason| WheelError::Invalid {
        name: pkg.name.clone(),
        reason,
    })?;
    let io = |op, path: &Path| {
        let path = path.to_path_buf();
        move |err| WheelError::Io { op, path, err }
    };
    std::fs::create_dir_all(out_dir).map_err(io("create", out_dir))?;
    let file = out_dir.join(format!("{escaped}-{}-py3-none-any.whl", pkg.version));
    let tmp = out_dir.join(format!(
        ".{escaped}-{}.whl.tmp-{}",
        pkg.version,
        std::process::id()
    ));
    std::fs::write(&tmp, zip).map_err(io("write", &tmp))?;
    std::fs::rename(&tmp, &file).map_err(io("rename to", &file))?;
    Ok(file)
}

/// [`build_wheel`] for each package, in order.
pub fn build_wheels(out_dir: &Path, pkgs: &[TestPackage]) -> Result<Vec<PathBuf>, WheelError> {
    pkgs.iter().map(|p| build_wheel(out_dir, p)).collect()
}

fn validate(pkg: &TestPackage) -> Result<(), WheelError> {
    let invalid = |reason: String| {
        Err(WheelError::Invalid {
            name: pkg.name.clone(),
            reason,
        })
    };
    let key = pkg.key();
    if let Some(why) = super::dist::key_problem(&key) {
        return invalid(format!("{key}: {why}"));
    }
    if pkg.version.contains(['-', '_']) {
        return invalid(format!(
            "version {:?}: no `-` or `_` in a wheel's version",
            pkg.version
        ));
    }
    for name in std::iter::once(&pkg.name).chain(&pkg.requires) {
        let module = module_name(name);
        if name.is_empty()
            || module.starts_with(|c: char| c.is_ascii_digit())
            || !module
                .chars()
                .all(|c| c == '_' || c.is_ascii_alphanumeric())
        {
            return invalid(format!(
                "{name:?} does not give a Python module name ({module:?})"
            ));
        }
    }
    for (what, v) in [("import_ms", pkg.import_ms), ("import_mb", pkg.import_mb)] {
        if !v.is_finite() || v < 0.0 {
            return invalid(format!("{what} must be finite and >= 0, got {v}"));
        }
    }
    Ok(())
}

/// The wheel file-name form of a project name: runs of `-_.` become `_`.
fn escape_name(name: &str) -> String {
    super::dist::canonical_name(name).replace('-', "_")
}

fn metadata(pkg: &TestPackage) -> String {
    let mut m = format!(
        "Metadata-Version: 2.1\nName: {}\nVersion: {}\nSummary: sock-exec synthetic test package\n",
        pkg.name, pkg.version
    );
    for dep in &pkg.requires {
        m.push_str(&format!("Requires-Dist: {dep}\n"));
    }
    m
}

/// The module source (see the module docs for what importing it does).
/// The package's strings are data: JSON literals (valid Python literals of
/// the same value), dependencies imported by `__import__` from a list,
/// never spliced into code (a Zygote runs this as root).
pub fn init_py(pkg: &TestPackage) -> String {
    let module = pkg.module();
    let bytes = (pkg.import_mb * 1024.0 * 1024.0).round() as u64;
    let deps: Vec<String> = pkg.requires.iter().map(|d| module_name(d)).collect();
    let json = |v: serde_json::Value| v.to_string();
    format!(
        r#""""A sock-exec synthetic test package (generated by
sock_exec::install::wheel). Importing it imports its dependencies, keeps
IMPORT_MB MiB of resident memory, spins the CPU for IMPORT_MS, and records
the import in builtins.sock_test_imports and the import log."""
import builtins as _builtins
import posix as _posix
import time as _time

NAME = {name}
VERSION = {version}
MODULE = {module}
IMPORT_MS = {ms:?}
IMPORT_MB = {mb:?}
_DEPS = {deps}
_LOG = {log}

for _dep in _DEPS:
    __import__(_dep)

_t0 = _time.perf_counter()
_MEMORY = b"\x01" * {bytes}
_deadline = _t0 + IMPORT_MS / 1000.0
while _time.perf_counter() < _deadline:
    pass

PID_AT_IMPORT = _posix.getpid()
try:
    _builtins.sock_test_imports.append(MODULE)
except AttributeError:
    _builtins.sock_test_imports = [MODULE]
try:
    try:
        _fd = _posix.open(_LOG, _posix.O_WRONLY | _posix.O_APPEND)
    except FileNotFoundError:
        _fd = _posix.open(_LOG, _posix.O_WRONLY | _posix.O_APPEND | _posix.O_CREAT, 0o666)
        try:
            _posix.fchmod(_fd, 0o666)
        except OSError:
            pass
    try:
        _posix.write(_fd, ("%s %d\n" % (MODULE, PID_AT_IMPORT)).encode())
    finally:
        _posix.close(_fd)
except OSError:
    pass
"#,
        name = json(pkg.name.clone().into()),
        version = json(pkg.version.clone().into()),
        module = json(module.into()),
        deps = json(deps.into()),
        log = json(IMPORT_LOG.into()),
        ms = pkg.import_ms,
        mb = pkg.import_mb,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wheel_layout() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut pkg = TestPackage::new("my-pkg.x", "1.0");
        pkg.requires = vec!["dep-one".into()];
        pkg.import_ms = 2.5;
        let path = build_wheel(dir.path(), &pkg).expect("build");
        assert_eq!(
            path.file_name().and_then(|f| f.to_str()),
            Some("my_pkg_x-1.0-py3-none-any.whl")
        );
        let zip = std::fs::read(&path).expect("read");
        // Same package, same bytes.
        assert_eq!(
            std::fs::read(build_wheel(dir.path(), &pkg).expect("build")).expect("read"),
            zip
        );
        // End of central directory: 5 entries, central directory in range.
        let eocd = &zip[zip.len() - 22..];
        assert_eq!(eocd[..4], 0x0605_4b50u32.to_le_bytes());
        assert_eq!(u16::from_le_bytes([eocd[10], eocd[11]]), 5);
        let text = String::from_utf8_lossy(&zip);
        for needle in [
            "my_pkg_x/__init__.py",
            "my_pkg_x-1.0.dist-info/RECORD",
            "Requires-Dist: dep-one",
            "_DEPS = [\"dep_one\"]\n",
            "IMPORT_MS = 2.5\n",
            "IMPORT_MB = 0.0\n",
        ] {
            assert!(text.contains(needle), "missing {needle:?}");
        }
        // The first entry's stored CRC matches its data.
        let name_len = u16::from_le_bytes([zip[26], zip[27]]) as usize;
        let size = u32::from_le_bytes([zip[18], zip[19], zip[20], zip[21]]) as usize;
        let data = &zip[30 + name_len..30 + name_len + size];
        assert_eq!(
            u32::from_le_bytes([zip[14], zip[15], zip[16], zip[17]]),
            crc32(data)
        );
    }

    #[test]
    fn invalid_packages_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut bad = vec![
            TestPackage::new("a/b", "1.0"),
            TestPackage::new("1abc", "1.0"),
            TestPackage::new("a", "1-0"),
            TestPackage::new("a", ""),
        ];
        let mut p = TestPackage::new("a", "1.0");
        p.import_ms = f64::NAN;
        bad.push(p);
        let mut p = TestPackage::new("a", "1.0");
        p.requires = vec!["bad name".into()];
        bad.push(p);
        for pkg in bad {
            assert!(
                matches!(
                    build_wheel(dir.path(), &pkg),
                    Err(WheelError::Invalid { .. })
                ),
                "{pkg:?}"
            );
        }
    }

    /// Issue 12: the package's name and version were pasted into the
    /// module's source (a docstring, `import` statements): a name holding
    /// `"""` ended the string and became code that a Zygote, running as
    /// root, would execute.
    #[test]
    fn trace_strings_are_data_in_generated_modules() {
        let mut pkg = TestPackage::new("x\"\"\"\nINJECTED = 1\n\"\"\"", "1.0\u{1b}");
        pkg.requires = vec!["dep_one".into()];
        let facts = crate::testutil::python_parse(&init_py(&pkg)).expect("the module parses");
        assert!(
            !facts[1].to_string().contains("INJECTED"),
            "a name became code: {facts}"
        );
        assert!(
            facts[0]
                .as_array()
                .is_some_and(|i| !i.contains(&"dep_one".into())),
            "a dependency name became an import statement: {facts}"
        );
        assert!(
            facts[2].to_string().contains("dep_one"),
            "the dependency is data: {facts}"
        );
    }
}
