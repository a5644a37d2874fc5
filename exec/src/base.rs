//! The read-only base image every lean container (and the Docker and runc
//! baselines) starts from: Debian's minimal system with python3, made by
//! `debootstrap --variant=minbase --include=python3`, plus the mount
//! points sock-exec needs and its runtime at `/sock/runtime.py` (which
//! imports `/sock/sock_runtime.py`, compiled to bytecode at install).
//!
//! Built once and cached under `<dir>/root` (a stamp file records what was
//! built); the runtime file is refreshed on every call, so a new sock-exec
//! never runs an old runtime. From scratch it takes about a minute on the
//! reference VM (debootstrap downloads ~40 MB from the Debian mirror).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The in-container runtime, embedded so the binary is self-contained;
/// installed as the module `/sock/sock_runtime.py`.
pub const RUNTIME_PY: &str = include_str!("../runtime/sock_runtime.py");
/// `/sock/runtime.py`, the script the interpreter runs: only an import of
/// the runtime module. A script is compiled from source at every start
/// (~2-6 ms for the runtime on the reference host); an imported module
/// is loaded from the bytecode compiled at install time (~0.03 ms).
pub const RUNTIME_MAIN: &str = "import sock_runtime\nsock_runtime.main()\n";
/// The Zygote server, installed beside it as `/sock/zygote.py`.
pub const ZYGOTE_PY: &str = include_str!("../runtime/zygote.py");

/// Mount points the base must hold (it is read-only once mounted).
pub const MOUNT_POINTS: [&str; 4] = ["handler", "host", "packages", "sock"];

#[derive(Debug, thiserror::Error)]
pub enum BaseError {
    #[error("debootstrap is not installed (Debian: apt-get install debootstrap)")]
    NoDebootstrap,
    #[error("debootstrap failed with {status}; its log is {log}")]
    Debootstrap {
        status: std::process::ExitStatus,
        log: PathBuf,
    },
    #[error("{op} {path}: {err}")]
    Io {
        op: &'static str,
        path: PathBuf,
        err: std::io::Error,
    },
    #[error("the base image at {0} has no /usr/bin/python3")]
    NoPython(PathBuf),
}

/// How to build the base.
#[derive(Clone, Debug)]
pub struct BaseOptions {
    /// Folder holding `root/` (the image) and the build log.
    pub dir: PathBuf,
    pub suite: String,
    pub mirror: String,
    /// Rebuild even if a complete image exists.
    pub rebuild: bool,
}

impl BaseOptions {
    pub fn new(dir: PathBuf) -> BaseOptions {
        BaseOptions {
            dir,
            suite: "bookworm".into(),
            mirror: "http://deb.debian.org/debian".into(),
            rebuild: false,
        }
    }
}

/// A ready base image.
#[derive(Clone, Debug)]
pub struct BaseImage {
    pub root: PathBuf,
    /// True when this call ran debootstrap.
    pub built: bool,
}

fn io<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> BaseError + 'a {
    move |err| BaseError::Io {
        op,
        path: path.to_path_buf(),
        err,
    }
}

impl BaseImage {
    /// The image at `root` if it is complete (for tests and benchmarks).
    pub fn existing(root: &Path) -> Option<BaseImage> {
        root.join(STAMP).exists().then(|| BaseImage {
            root: root.to_path_buf(),
            built: false,
        })
    }
}

const STAMP: &str = ".sock-base";

/// Builds (or reuses) the base image, then installs the runtime.
pub fn prepare(opts: &BaseOptions) -> Result<BaseImage, BaseError> {
    let root = opts.dir.join("root");
    let stamp_text = format!(
        "debootstrap --variant=minbase --include=python3 {} {}\n",
        opts.suite, opts.mirror
    );
    let complete = std::fs::read_to_string(root.join(STAMP)).is_ok_and(|s| s == stamp_text);
    let built = opts.rebuild || !complete;
    if built {
        debootstrap(opts, &root)?;
        std::fs::write(root.join(STAMP), &stamp_text).map_err(io("write", &root))?;
    }
    install_runtime(&root)?;
    if !root.join("usr/bin/python3").exists() {
        return Err(BaseError::NoPython(root));
    }
    Ok(BaseImage { root, built })
}

/// Step 1: debootstrap into `<dir>/root.tmp`, then rename, so an
/// interrupted build never looks complete.
fn debootstrap(opts: &BaseOptions, root: &Path) -> Result<(), BaseError> {
    let tmp = opts.dir.join("root.tmp");
    std::fs::create_dir_all(&opts.dir).map_err(io("mkdir", &opts.dir))?;
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(io("remove", &tmp))?;
    }
    let log = opts.dir.join("debootstrap.log");
    let log_file = std::fs::File::create(&log).map_err(io("create", &log))?;
    let log_err = log_file.try_clone().map_err(io("dup", &log))?;
    tracing::info!(suite = %opts.suite, mirror = %opts.mirror, "running debootstrap (about a minute)");
    let status = Command::new("debootstrap")
        .args(["--variant=minbase", "--include=python3", &opts.suite])
        .arg(&tmp)
        .arg(&opts.mirror)
        .stdin(Stdio::null())
        .stdout(log_file)
        .stderr(log_err)
        .status()
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                BaseError::NoDebootstrap
            } else {
                io("run debootstrap", &tmp)(e)
            }
        })?;
    if !status.success() {
        return Err(BaseError::Debootstrap { status, log });
    }
    if root.exists() {
        std::fs::remove_dir_all(root).map_err(io("remove", root))?;
    }
    std::fs::rename(&tmp, root).map_err(io("rename", &tmp))
}

/// Step 2: mount points and the runtime (rewritten only when it changed).
/// Also called by every executor start, so a rebuilt sock-exec never runs
/// the runtime of an older one.
pub fn install_runtime(root: &Path) -> Result<(), BaseError> {
    for d in MOUNT_POINTS {
        let p = root.join(d);
        std::fs::create_dir_all(&p).map_err(io("mkdir", &p))?;
    }
    let mut changed = false;
    for (name, text) in [
        ("sock/runtime.py", RUNTIME_MAIN),
        ("sock/sock_runtime.py", RUNTIME_PY),
        ("sock/zygote.py", ZYGOTE_PY),
    ] {
        let path = root.join(name);
        if std::fs::read_to_string(&path).ok().as_deref() != Some(text) {
            std::fs::write(&path, text).map_err(io("write", &path))?;
            changed = true;
        }
    }
    if changed || !root.join("sock/__pycache__").is_dir() {
        compile_runtime(root);
    }
    Ok(())
}

/// Compiles the runtime modules to bytecode with the image's own
/// interpreter (`/sock/__pycache__`, checked against a hash of the source,
/// so a stale file is never run: the interpreter then compiles the source
/// itself). Only a cache: a failure is logged and containers still start.
fn compile_runtime(root: &Path) {
    let prog = "import py_compile as c\n\
        for f in ('/sock/sock_runtime.py', '/sock/zygote.py'):\n    \
        c.compile(f, doraise=True, invalidation_mode=c.PycInvalidationMode.CHECKED_HASH)\n";
    let out = Command::new("chroot")
        .arg(root)
        .args(["/usr/bin/python3", "-S", "-E", "-c", prog])
        .stdin(Stdio::null())
        .output();
    match out {
        Ok(o) if o.status.success() => {}
        Ok(o) => tracing::warn!(
            root = %root.display(),
            stderr = %String::from_utf8_lossy(&o.stderr),
            "compiling the runtime to bytecode failed; it is compiled at each start"
        ),
        Err(e) => {
            tracing::warn!(root = %root.display(), error = %e, "cannot run chroot to compile the runtime")
        }
    }
}

/// The base image's Python as `major.minor` (the highest
/// `usr/lib/python3.N` holding `os.py`): installs pick wheels for it.
pub fn python_version(root: &Path) -> Option<String> {
    let dir = std::fs::read_dir(root.join("usr/lib")).ok()?;
    dir.flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let minor: u32 = name.strip_prefix("python3.")?.parse().ok()?;
            e.path().join("os.py").exists().then_some(minor)
        })
        .max()
        .map(|m| format!("3.{m}"))
}
