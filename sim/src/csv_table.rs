//! A small CSV reader for the tables sim writes itself (`sim sweep`,
//! `sim --memory-series`): a header line and rows of text cells, quoted as
//! RFC 4180 quotes them (a cell with a comma, quote or line break is in
//! double quotes, a quote inside doubled), so a quoted cell may span
//! lines. Used by `sim sweep summarize` and `sim plot`; errors name the
//! file and the column or line.

use anyhow::{bail, Result};

/// A CSV file's header and rows, every row as long as the header.
#[derive(Clone, Debug)]
pub struct CsvTable {
    /// What the table is, for errors (usually its path).
    pub what: String,
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

/// Splits CSV text into records, each with the (1-based) line it starts
/// on. Blank lines outside quotes are skipped; a final `\r` of a line is
/// dropped.
pub fn records(text: &str) -> Vec<(usize, Vec<String>)> {
    let mut out = Vec::new();
    let mut cells = vec![String::new()];
    let (mut line, mut start) = (1, 1);
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    let mut finish = |cells: &mut Vec<String>, start: usize| {
        let blank = cells.len() == 1 && cells[0].is_empty();
        let taken = std::mem::replace(cells, vec![String::new()]);
        if !blank {
            out.push((start, taken));
        }
    };
    while let Some(c) = chars.next() {
        let cell = cells.last_mut();
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                cell.into_iter().for_each(|s| s.push('"'));
            }
            ('"', _) => quoted = !quoted,
            (',', false) => cells.push(String::new()),
            ('\r', false) if chars.peek() == Some(&'\n') => {}
            ('\n', false) => {
                finish(&mut cells, start);
                line += 1;
                start = line;
            }
            (c, _) => {
                if c == '\n' {
                    line += 1;
                }
                cell.into_iter().for_each(|s| s.push(c));
            }
        }
    }
    finish(&mut cells, start);
    out
}

impl CsvTable {
    /// Parses `text`; a row with more or fewer cells than the header is an
    /// error naming its line.
    pub fn parse(text: &str, what: &str) -> Result<CsvTable> {
        let mut recs = records(text).into_iter();
        let Some((_, header)) = recs.next() else {
            bail!("{what}: empty file, no CSV header");
        };
        let mut rows = Vec::new();
        for (line, r) in recs {
            if r.len() != header.len() {
                bail!(
                    "{what} line {line}: {} cells, the header has {}",
                    r.len(),
                    header.len()
                );
            }
            rows.push(r);
        }
        Ok(CsvTable {
            what: what.to_string(),
            header,
            rows,
        })
    }

    /// Reads and parses the file at `path` (named by its path in errors).
    pub fn read(path: &std::path::Path) -> Result<CsvTable> {
        let what = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read {what}: {e}"))?;
        CsvTable::parse(&text, &what)
    }

    /// The index of column `name`, if there is one.
    pub fn find(&self, name: &str) -> Option<usize> {
        self.header.iter().position(|c| c == name)
    }

    /// The index of column `name`; an error lists the columns there are.
    pub fn column(&self, name: &str) -> Result<usize> {
        self.find(name).ok_or_else(|| {
            anyhow::anyhow!(
                "{}: no column {name}; columns are {}",
                self.what,
                self.header.join(", ")
            )
        })
    }

    /// Column `name`'s cells as numbers (empty cells as None); a cell that
    /// is not a number is an error naming its row.
    pub fn numbers(&self, name: &str) -> Result<Vec<Option<f64>>> {
        let i = self.column(name)?;
        self.rows
            .iter()
            .enumerate()
            .map(|(n, r)| match r[i].as_str() {
                "" => Ok(None),
                c => c.parse::<f64>().map(Some).map_err(|_| {
                    anyhow::anyhow!(
                        "{} row {}: column {name} is {c:?}, not a number",
                        self.what,
                        n + 1
                    )
                }),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_cells_keep_commas_quotes_and_line_breaks() {
        let t = CsvTable::parse(
            "a,b\r\n1,\"x,\"\"y\"\"\"\n\n2,\"two\nlines\"\n3,\n",
            "t.csv",
        )
        .expect("parse");
        assert_eq!(t.header, ["a", "b"]);
        assert_eq!(
            t.rows,
            [
                vec!["1".to_string(), "x,\"y\"".to_string()],
                vec!["2".to_string(), "two\nlines".to_string()],
                vec!["3".to_string(), String::new()],
            ]
        );
    }

    #[test]
    fn errors_name_the_file_line_and_column() {
        let e = CsvTable::parse("a,b\n1,2\n\"q\nq\",2,3\n", "t.csv").expect_err("ragged");
        assert_eq!(e.to_string(), "t.csv line 3: 3 cells, the header has 2");
        let t = CsvTable::parse("a,b\n1,x\n", "t.csv").expect("parse");
        let e = t.column("c").expect_err("missing");
        assert_eq!(e.to_string(), "t.csv: no column c; columns are a, b");
        assert!(t.numbers("b").is_err());
        assert_eq!(t.numbers("a").expect("numbers"), [Some(1.0)]);
    }
}
