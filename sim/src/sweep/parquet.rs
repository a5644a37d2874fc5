//! A sweep's table as Parquet (polars), for notebooks: the same columns
//! and rows as the CSV ([`super::table`]), each column typed by its cells:
//! whole numbers as Int64, other numbers as Float64, `true` / `false` as
//! Boolean, anything else as text; an empty cell is null.

use super::journal::Row;
use super::table::columns;
use anyhow::Result;
use polars::prelude::*;
use std::collections::HashMap;
use std::path::Path;

fn typed(name: &str, cells: &[Option<&str>]) -> Column {
    let present = || cells.iter().flatten();
    let name: PlSmallStr = name.into();
    if present().all(|c| c.parse::<i64>().is_ok()) {
        let v: Vec<Option<i64>> = cells
            .iter()
            .map(|c| c.and_then(|c| c.parse().ok()))
            .collect();
        return Column::new(name, v);
    }
    if present().all(|c| c.parse::<f64>().is_ok()) {
        let v: Vec<Option<f64>> = cells
            .iter()
            .map(|c| c.and_then(|c| c.parse().ok()))
            .collect();
        return Column::new(name, v);
    }
    if present().all(|c| *c == "true" || *c == "false") {
        let v: Vec<Option<bool>> = cells.iter().map(|c| c.map(|c| c == "true")).collect();
        return Column::new(name, v);
    }
    let v: Vec<Option<&str>> = cells.to_vec();
    Column::new(name, v)
}

/// The rows as a polars frame.
pub fn frame(rows: &[Row]) -> Result<DataFrame> {
    let cols = columns(rows);
    let maps: Vec<HashMap<&str, &str>> = rows
        .iter()
        .map(|r| {
            r.columns
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect()
        })
        .collect();
    let out: Vec<Column> = cols
        .iter()
        .map(|c| {
            let cells: Vec<Option<&str>> = maps
                .iter()
                .map(|m| m.get(c.as_str()).copied().filter(|v| !v.is_empty()))
                .collect();
            typed(c, &cells)
        })
        .collect();
    DataFrame::new(rows.len(), out).map_err(|e| anyhow::anyhow!("building the sweep's frame: {e}"))
}

/// Writes `rows` to `path` as Parquet, whole or not at all.
pub fn write(rows: &[Row], path: &Path) -> Result<()> {
    let mut df = frame(rows)?;
    crate::output::write_atomically::<_, anyhow::Error>(path, &[], |w| {
        ParquetWriter::new(w)
            .finish(&mut df)
            .map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_typed_by_their_cells() {
        let row = |point: usize, cells: &[(&str, &str)]| Row {
            point,
            of: 2,
            args: vec![],
            columns: cells
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        let rows = [
            row(
                0,
                &[
                    ("point", "0"),
                    ("policy", "ttl"),
                    ("p99", "1.5"),
                    ("ok", "true"),
                ],
            ),
            row(
                1,
                &[("point", "1"), ("policy", "gdsf"), ("p99", "2"), ("ok", "")],
            ),
        ];
        let df = frame(&rows).expect("frame");
        let dtype = |c: &str| df.column(c).expect(c).dtype().clone();
        assert_eq!(dtype("point"), DataType::Int64);
        assert_eq!(dtype("policy"), DataType::String);
        assert_eq!(dtype("p99"), DataType::Float64);
        assert_eq!(dtype("ok"), DataType::Boolean);
        assert_eq!(df.column("ok").expect("ok").null_count(), 1);
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("t.parquet");
        write(&rows, &p).expect("write");
        let back = ParquetReader::new(std::fs::File::open(&p).expect("open"))
            .finish()
            .expect("read back");
        assert!(back.equals_missing(&df));
    }
}
