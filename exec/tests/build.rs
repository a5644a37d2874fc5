//! Privileged test of building from source inside a lean container
//! (offline): a package published only as a source distribution, with an
//! in-tree PEP 517 backend (no build requirements to download), is built
//! by the containers' own Python and pip in a build container, installed,
//! and imported in another container. See `common/mod.rs` for the
//! skipping rules.

mod common;

use common::*;
use sock_exec::container::ContainerSpec;
use sock_exec::install::build::{build_from_source, BuildError};
use sock_exec::install::{InstallError, Installer, Source};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

fn main() {
    run_cases(
        "build",
        &[
            ("sdist_builds_in_a_container", sdist_builds_in_a_container),
            ("failed_build_reports_the_log", failed_build_reports_the_log),
        ],
    );
}

/// An in-tree build backend: writes a pure-Python wheel with zipfile, or
/// fails on purpose when the package says so.
const BACKEND: &str = r#"
import base64, hashlib, os, zipfile

NAME, VERSION = open("NAME").read().split()
DIST = "%s-%s.dist-info" % (NAME, VERSION)
METADATA = "Metadata-Version: 2.1\nName: %s\nVersion: %s\n" % (NAME, VERSION)


def get_requires_for_build_wheel(config_settings=None):
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    os.makedirs(os.path.join(metadata_directory, DIST))
    with open(os.path.join(metadata_directory, DIST, "METADATA"), "w") as f:
        f.write(METADATA)
    return DIST


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    if os.path.exists("FAIL"):
        raise RuntimeError("this build fails on purpose")
    files = {
        NAME + "/__init__.py": open(os.path.join(NAME, "__init__.py"), "rb").read(),
        DIST + "/METADATA": METADATA.encode(),
        DIST + "/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append("%s,sha256=%s,%d" % (path, digest, len(data)))
    record.append(DIST + "/RECORD,,")
    name = "%s-%s-py3-none-any.whl" % (NAME, VERSION)
    with zipfile.ZipFile(os.path.join(wheel_directory, name), "w") as z:
        for path, data in files.items():
            z.writestr(path, data)
        z.writestr(DIST + "/RECORD", "\n".join(record) + "\n")
    return name
"#;

/// Writes `<name>-<version>.tar.gz` (a source distribution only) into `dir`.
fn make_sdist(dir: &Path, name: &str, version: &str, fail: bool) -> Result<(), String> {
    let script = r#"
import io, tarfile, sys
name, version, fail, out, backend = sys.argv[1], sys.argv[2], sys.argv[3] == "1", sys.argv[4], sys.argv[5]
root = "%s-%s" % (name, version)
files = {
    "pyproject.toml": '[build-system]\nrequires = []\nbuild-backend = "testbackend"\nbackend-path = ["."]\n',
    "testbackend.py": open(backend).read(),
    "NAME": "%s %s\n" % (name, version),
    "PKG-INFO": "Metadata-Version: 2.1\nName: %s\nVersion: %s\n" % (name, version),
    name + "/__init__.py": "VALUE = 'built from source'\n",
}
if fail:
    files["FAIL"] = ""
with tarfile.open("%s/%s.tar.gz" % (out, root), "w:gz") as t:
    for path, text in files.items():
        data = text.encode()
        info = tarfile.TarInfo(root + "/" + path)
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
"#;
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let backend = dir.join("backend.py.txt");
    std::fs::write(&backend, BACKEND).map_err(|e| e.to_string())?;
    let out = Command::new("python3")
        .args(["-c", script, name, version, if fail { "1" } else { "0" }])
        .arg(dir)
        .arg(&backend)
        .output()
        .map_err(|e| format!("python3: {e}"))?;
    std::fs::remove_file(&backend).map_err(|e| e.to_string())?;
    check(
        out.status.success(),
        format!("make sdist: {}", String::from_utf8_lossy(&out.stderr)),
    )
}

fn installer(dir: &Path) -> Result<Installer, String> {
    let python = base_python()?;
    Installer::new(
        dir.join("cache"),
        Source::FindLinks(dir.join("dists")),
        &python,
    )
    .map_err(|e| e.to_string())
}

fn sdist_builds_in_a_container(dir: &Path) -> TestResult {
    make_sdist(&dir.join("dists"), "srconly", "1.0", false)?;
    let inst = installer(dir)?;
    // No wheel: pip refuses, as it should.
    match inst.install("srconly==1.0") {
        Err(InstallError::NoWheel { .. }) => {}
        other => return Err(format!("expected NoWheel, got {other:?}")),
    }
    let mut ex = executor(dir, "bsdist");
    let mounts = mount_count();
    let got = build_from_source(&mut ex, &inst, "srconly==1.0", Duration::from_secs(300))
        .map_err(|e| e.to_string())?;
    check(
        got.modules == vec!["srconly".to_string()],
        format!("{got:?}"),
    )?;
    check(inst.is_installed("srconly==1.0"), "installed")?;
    check(mount_count() == mounts, "the build container is gone")?;
    // It imports in a container like any installed package.
    let mut spec = handler(
        dir,
        "h",
        "import srconly\ndef f(event):\n    return srconly.VALUE\n",
    );
    spec.packages = vec![(got.key.clone(), got.path.clone())];
    let spec = ContainerSpec {
        imports: vec!["srconly".into()],
        ..spec
    };
    let mut c = ex.create(&spec).map_err(|e| e.to_string())?;
    let r = ex.invoke(&mut c, "0", T).map_err(|e| e.to_string())?;
    check(
        r.status == 200 && r.body == "\"built from source\"",
        format!("{} {}", r.status, r.body),
    )?;
    ex.destroy(c).map_err(|e| e.to_string())?;
    ex.shutdown().map_err(|e| e.to_string())
}

fn failed_build_reports_the_log(dir: &Path) -> TestResult {
    make_sdist(&dir.join("dists"), "badbuild", "1.0", true)?;
    let inst = installer(dir)?;
    let mut ex = executor(dir, "bfail");
    match build_from_source(&mut ex, &inst, "badbuild==1.0", Duration::from_secs(300)) {
        Err(BuildError::Failed { log, .. }) => check(
            log.contains("this build fails on purpose"),
            format!("the log names the error: {log}"),
        )?,
        other => return Err(format!("expected a failed build, got {other:?}")),
    }
    check(!inst.is_installed("badbuild==1.0"), "nothing installed")?;
    ex.shutdown().map_err(|e| e.to_string())
}
