//! Output files, written whole or not at all (the README's promise):
//! each is written to a temporary file in the target's own folder and
//! renamed into place only on success; on any error (or a panic) the
//! temporary file is deleted and an existing target is left untouched.
//!
//! Before anything is written, [`Output::new`] refuses a target that is
//! one of the run's inputs (the same file by device and inode, so
//! `--records traces/pypi.json`, a hard link or `./x` vs `x` are all
//! caught) or that exists but is not a regular file (a symlink, device
//! node, FIFO or folder: renaming over it would replace the link or the
//! node, not write through it). Issue 12.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("refusing to write {path}: it is the same file as the {role} {input}")]
    SameAsInput {
        path: String,
        role: String,
        input: String,
    },
    #[error("refusing to write {path}: it exists and is {kind}, not a regular file (remove it or choose another path)")]
    NotRegular { path: String, kind: &'static str },
    #[error("cannot create {path}: {err}")]
    Create { path: String, err: std::io::Error },
    #[error("cannot write {path}: {err}")]
    Write { path: String, err: std::io::Error },
    #[error("cannot rename {tmp} to {path}: {err}")]
    Rename {
        tmp: String,
        path: String,
        err: std::io::Error,
    },
}

/// An input of the run, named by its role in errors ("trace", "config file").
pub type Input<'a> = (&'a str, &'a Path);

/// One output file in the making; dropped without [`Output::commit`], it
/// deletes its temporary file.
#[derive(Debug)]
pub struct Output {
    target: PathBuf,
    tmp: PathBuf,
    committed: bool,
}

fn kind(meta: &std::fs::Metadata) -> Option<&'static str> {
    let t = meta.file_type();
    if t.is_file() {
        None
    } else if t.is_symlink() {
        Some("a symbolic link")
    } else if t.is_dir() {
        Some("a folder")
    } else {
        use std::os::unix::fs::FileTypeExt;
        Some(if t.is_char_device() || t.is_block_device() {
            "a device node"
        } else if t.is_fifo() {
            "a FIFO"
        } else {
            "a special file"
        })
    }
}

impl Output {
    /// Checks `target` against `inputs` and picks the temporary path
    /// (`.<name>.<pid>.tmp.<ext>` beside it, keeping the extension for
    /// writers that choose a format by it).
    pub fn new(target: &Path, inputs: &[Input]) -> Result<Output, OutputError> {
        let path = target.display().to_string();
        if let Ok(meta) = std::fs::symlink_metadata(target) {
            if let Some(kind) = kind(&meta) {
                return Err(OutputError::NotRegular { path, kind });
            }
            for &(role, input) in inputs {
                let same = std::fs::metadata(input)
                    .is_ok_and(|m| m.dev() == meta.dev() && m.ino() == meta.ino());
                if same {
                    return Err(OutputError::SameAsInput {
                        path,
                        role: role.to_string(),
                        input: input.display().to_string(),
                    });
                }
            }
        }
        let name = target
            .file_name()
            .map_or_else(|| "output".into(), |n| n.to_string_lossy().into_owned());
        let ext = target
            .extension()
            .map_or_else(String::new, |e| format!(".{}", e.to_string_lossy()));
        let tmp = target.with_file_name(format!(".{name}.{}.tmp{ext}", std::process::id()));
        Ok(Output {
            target: target.to_path_buf(),
            tmp,
            committed: false,
        })
    }

    /// Where to write (for writers that open the path themselves).
    pub fn tmp_path(&self) -> &Path {
        &self.tmp
    }

    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Creates the temporary file (replacing a stale one of this process).
    pub fn create(&self) -> Result<File, OutputError> {
        OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&self.tmp)
            .map_err(|err| OutputError::Create {
                path: self.tmp.display().to_string(),
                err,
            })
    }

    /// Renames the temporary file over the target.
    pub fn commit(mut self) -> Result<(), OutputError> {
        std::fs::rename(&self.tmp, &self.target).map_err(|err| OutputError::Rename {
            tmp: self.tmp.display().to_string(),
            path: self.target.display().to_string(),
            err,
        })?;
        self.committed = true;
        Ok(())
    }

    pub fn write_err(&self, err: std::io::Error) -> OutputError {
        OutputError::Write {
            path: self.target.display().to_string(),
            err,
        }
    }
}

impl Drop for Output {
    fn drop(&mut self) {
        if !self.committed {
            // Best effort: the file may never have been created, and a
            // failure here must not hide the error that got us here.
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// Writes `target` whole through `write` (buffered), or not at all.
/// `E` is the caller's error; output failures convert into it.
pub fn write_atomically<T, E>(
    target: &Path,
    inputs: &[Input],
    write: impl FnOnce(&mut BufWriter<File>) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<OutputError>,
{
    let out = Output::new(target, inputs)?;
    let mut w = BufWriter::with_capacity(1 << 16, out.create()?);
    let value = write(&mut w)?;
    w.flush().map_err(|e| out.write_err(e))?;
    drop(w);
    out.commit()?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_are_whole_or_absent_and_never_an_input() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("out.json");
        std::fs::write(&target, "old").expect("seed");
        // A failing writer leaves the old file and no temporary file.
        let r: Result<(), anyhow::Error> = write_atomically(&target, &[], |w| {
            w.write_all(b"half")?;
            anyhow::bail!("boom")
        });
        assert!(r.is_err());
        assert_eq!(std::fs::read_to_string(&target).expect("read"), "old");
        assert_eq!(std::fs::read_dir(dir.path()).expect("ls").count(), 1);
        // Success replaces it.
        write_atomically::<_, anyhow::Error>(&target, &[], |w| Ok(w.write_all(b"new")?))
            .expect("write");
        assert_eq!(std::fs::read_to_string(&target).expect("read"), "new");
        // The same file as an input, also through another spelling.
        let other = dir.path().join(".").join("out.json");
        let e = Output::new(&target, &[("trace", &other)]).expect_err("same");
        assert!(e.to_string().contains("same file as the trace"), "{e}");
        // Symlinks and device nodes are refused.
        let link = dir.path().join("link.json");
        std::os::unix::fs::symlink(&target, &link).expect("symlink");
        let e = Output::new(&link, &[]).expect_err("symlink");
        assert!(e.to_string().contains("a symbolic link"), "{e}");
        let e = Output::new(Path::new("/dev/null"), &[]).expect_err("device");
        assert!(e.to_string().contains("a device node"), "{e}");
    }
}
