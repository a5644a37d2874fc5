//! `packages.csv` and `functions.csv`: the per-package and per-function
//! numbers behind the study, written with polars for notebooks.

use super::compute::package_use;
use polars::prelude::*;
use sock_core::trace::Catalog;
use sock_core::units::FunctionId;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum TableError {
    #[error("cannot write {path}: {err}")]
    Io { path: String, err: std::io::Error },
    #[error("building {path}: {err}")]
    Polars { path: String, err: PolarsError },
    #[error(transparent)]
    Output(#[from] crate::output::OutputError),
}

/// Writes both tables into `dir`; returns their paths.
pub fn write(dir: &Path, catalog: &Catalog, calls: &[u64]) -> Result<Vec<PathBuf>, TableError> {
    let uses = package_use(catalog, calls);
    let ps = &catalog.header.packages;
    let packages = vec![
        Column::new(
            "package".into(),
            ps.iter().map(|p| p.name.clone()).collect::<Vec<_>>(),
        ),
        Column::new(
            "version".into(),
            ps.iter().map(|p| p.version.clone()).collect::<Vec<_>>(),
        ),
        Column::new("functions".into(), uses.functions.clone()),
        Column::new("invocations".into(), uses.invocations.clone()),
        Column::new(
            "import_ms".into(),
            ps.iter().map(|p| p.import_ms).collect::<Vec<_>>(),
        ),
        Column::new(
            "import_mb".into(),
            ps.iter().map(|p| p.import_mb).collect::<Vec<_>>(),
        ),
        Column::new(
            "install_ms".into(),
            ps.iter().map(|p| p.install_ms).collect::<Vec<_>>(),
        ),
        Column::new(
            "disk_bytes".into(),
            ps.iter().map(|p| p.disk_bytes).collect::<Vec<_>>(),
        ),
        Column::new(
            "imputed".into(),
            ps.iter().map(|p| p.imputed).collect::<Vec<_>>(),
        ),
    ];
    let n = catalog.function_count();
    let closure = |f: usize| catalog.closure(FunctionId(f as u32));
    let fs = &catalog.header.functions;
    let functions = vec![
        Column::new(
            "function".into(),
            fs.iter().map(|f| f.name.clone()).collect::<Vec<_>>(),
        ),
        Column::new("invocations".into(), calls.to_vec()),
        Column::new(
            "closure_size".into(),
            (0..n).map(|f| closure(f).len() as u64).collect::<Vec<_>>(),
        ),
        Column::new(
            "closure_import_ms".into(),
            (0..n)
                .map(|f| catalog.import_time_of(closure(f)).as_ms_f64())
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "closure_install_ms".into(),
            (0..n)
                .map(|f| {
                    closure(f)
                        .iter()
                        .map(|p| catalog.install_time(p).as_ms_f64())
                        .sum::<f64>()
                })
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "duration_ms".into(),
            fs.iter().map(|f| f.duration_ms).collect::<Vec<_>>(),
        ),
        Column::new(
            "memory_mb".into(),
            fs.iter().map(|f| f.memory_mb).collect::<Vec<_>>(),
        ),
    ];
    Ok(vec![
        write_csv(&dir.join("packages.csv"), packages)?,
        write_csv(&dir.join("functions.csv"), functions)?,
    ])
}

fn write_csv(path: &Path, columns: Vec<Column>) -> Result<PathBuf, TableError> {
    let name = path.display().to_string();
    let polars_err = |err| TableError::Polars {
        path: name.clone(),
        err,
    };
    let mut df = DataFrame::new_infer_height(columns).map_err(polars_err)?;
    // Whole or not at all (crate::output).
    let out = crate::output::Output::new(path, &[])?;
    let mut file = out.create()?;
    CsvWriter::new(&mut file)
        .finish(&mut df)
        .map_err(polars_err)?;
    drop(file);
    out.commit()?;
    Ok(path.to_path_buf())
}
