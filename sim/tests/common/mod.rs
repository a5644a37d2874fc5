//! What `sim`'s integration tests share: running the `sim` binary and
//! checking its exit (`sim`, `sim_in`, `ok`, `fails`), and fixture files in
//! the real schemas (Azure Functions 2019 CSVs, forklift closures, ReqBench
//! costs), written by the tests into a temp folder laid out like
//! `../shared/data/`. Each test file that uses it says `mod common;`.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// `sim trace gen` with 20 packages and the given shape into `dir/name`;
/// returns the path.
pub fn gen_trace(
    dir: &Path,
    name: &str,
    functions: &str,
    invocations: &str,
    duration_s: &str,
    seed: &str,
) -> String {
    let t = dir.join(name).display().to_string();
    ok(&sim(&[
        "trace",
        "gen",
        "--packages",
        "20",
        "--functions",
        functions,
        "--invocations",
        invocations,
        "--duration-s",
        duration_s,
        "--seed",
        seed,
        "--out",
        &t,
    ]));
    t
}

/// The workspace root, where `traces/pypi.json` is.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Runs the `sim` binary in the workspace root.
pub fn sim(args: &[&str]) -> Output {
    sim_in(args, &root())
}

/// Runs the `sim` binary in `cwd`.
pub fn sim_in(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sim"))
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("run sim")
}

/// Stdout of a run that must succeed.
pub fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "sim failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).expect("utf8")
}

/// Stderr of a run that must fail.
pub fn fails(out: &Output) -> String {
    assert!(!out.status.success(), "sim succeeded unexpectedly");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A path as a command-line argument.
pub fn s(p: &Path) -> &str {
    p.to_str().expect("utf8 path")
}

pub const INVOCATIONS: &str = "HashOwner,HashApp,HashFunction,Trigger,480,481,482
o1,a1,f1,http,2,0,1
o1,a1,f2,timer,1,1,1
o2,a2,f3,queue,0,3,0
";
pub const PCT: &str = "percentile_Average_0,percentile_Average_1,percentile_Average_25,percentile_Average_50,percentile_Average_75,percentile_Average_99,percentile_Average_100";

pub fn durations() -> String {
    format!(
        "HashOwner,HashApp,HashFunction,Average,Count,Minimum,Maximum,{PCT}
o1,a1,f1,100,3,10,500,10,12,50,90,120,400,500
o1,a1,f2,7,3,1,9,1,1,5,7,8,9,9
o2,a2,f3,2000,3,1000,3000,1000,1000,1500,2000,2500,2900,3000
"
    )
}

pub const MEMORY: &str =
    "HashFunction,HashOwner,HashApp,SampleCount,AverageAllocatedMb,AverageAllocatedMb_pct1
f1,o1,a1,10,300,280
f2,o1,a1,10,300,280
f3,o2,a2,10,120,100
";

pub const REQUIREMENTS: &str = r#"{"r1": ["six-1.16.0", "numpy-1.26.0", "scipy-1.11.2 ; python_version >= \"3.9\""],
 "r2": ["requests-2.31.0", "idna-3.4", "Charset_Normalizer-3.2.0"],
 "r3": [],
 "r4": ["pylint-=2.4.4", "flask-2.3.0"]}"#;

pub const INSTALL_IMPORT: &str = r#"{
  "six": {"1.16.0": {"install_time": 500, "compressed_size": 0, "disk_size": 40000, "top": ["six"], "suffix": ".tar", "i-ms": 1, "i-mb": 0.1, "ms": 0.9, "mb": 0.1}},
  "numpy": {"1.25.2": {"install_time": 3000, "compressed_size": 0, "disk_size": 60000000, "top": ["numpy"], "suffix": ".tar", "i-ms": 60, "i-mb": 5, "ms": 50, "mb": 4.5}},
  "scipy": {"1.11.2": {"install_time": 4000, "compressed_size": 0, "disk_size": 80000000, "top": ["scipy"], "suffix": ".tar", "i-ms": 70, "i-mb": 6, "ms": 6, "mb": -0.5}},
  "idna": {"3.4": {"install_time": 540, "compressed_size": 0, "disk_size": 489929, "top": ["idna"], "suffix": ".tar", "i-ms": 3.7, "i-mb": 0.2, "ms": 3.5, "mb": 0.2}}
}"#;

pub const DEPS: &str = r#"{"scipy": {"1.11.2": {"numpy==1.26.0,scipy==1.11.2": 9, "numpy==1.24.4,scipy==1.11.2": 2}},
 "requests": {"2.31.0": {"certifi==2023.7.22,idna==3.4,requests==2.31.0": 5}}}"#;

/// A folder in the `../shared/data` layout, slice "t".
pub fn fixture(dir: &Path) -> PathBuf {
    let data = dir.join("data");
    for (rel, text) in [
        (
            "azure-functions-2019/invocations_t.csv",
            INVOCATIONS.to_string(),
        ),
        ("azure-functions-2019/durations_t.csv", durations()),
        ("azure-functions-2019/memory_t.csv", MEMORY.to_string()),
        (
            "github-requirements/requirements_compiled.json",
            REQUIREMENTS.to_string(),
        ),
        (
            "package-costs/install_import.json",
            INSTALL_IMPORT.to_string(),
        ),
        ("package-costs/deps.json", DEPS.to_string()),
    ] {
        let p = data.join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, text).expect("write fixture");
    }
    data
}

/// The project's copy of the real data, beside the checkout (read-only).
pub fn real_data() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data");
    p.join("azure-functions-2019/invocations_500.csv")
        .exists()
        .then_some(p)
}
