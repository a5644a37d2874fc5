//! A sweep's rows as one table: every summary metric of `sim --format
//! json` flattened to a column (`worker.memory_mb.peak`), after the point's
//! index, trace and axis values. The columns are the union over the rows,
//! in the order they first appear going through the rows by point, so the
//! same rows give the same bytes however they were computed (all at once,
//! resumed, or in shards merged afterwards).

use super::journal::Row;
use serde_json::Value;
use std::io::Write;

/// `value`'s leaves as (dotted path, [`text`]) pairs, in document order.
pub fn flatten(value: &Value) -> Vec<(String, String)> {
    fn walk(prefix: &str, v: &Value, out: &mut Vec<(String, String)>) {
        let key = |k: &str| {
            if prefix.is_empty() {
                k.to_string()
            } else {
                format!("{prefix}.{k}")
            }
        };
        match v {
            Value::Object(m) => m.iter().for_each(|(k, x)| walk(&key(k), x, out)),
            Value::Array(a) => a
                .iter()
                .enumerate()
                .for_each(|(i, x)| walk(&key(&i.to_string()), x, out)),
            leaf => out.push((prefix.to_string(), text(leaf))),
        }
    }
    let mut out = Vec::new();
    walk("", value, &mut out);
    out
}

/// The union of the rows' columns, in first-appearance order.
pub fn columns(rows: &[Row]) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for r in rows {
        for (k, _) in &r.columns {
            if seen.insert(k.as_str()) {
                out.push(k.clone());
            }
        }
    }
    out
}

/// A leaf's text in the table: a string as it is, a number or boolean as
/// JSON writes it, null as empty. Rows keep this text (not the number), so
/// a row read back from a journal prints the same bytes.
pub fn text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn quote(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Writes `rows` (sorted by point) as CSV; a metric a row lacks is empty.
pub fn write_csv(rows: &[Row], w: &mut dyn Write) -> std::io::Result<()> {
    let cols = columns(rows);
    let header: Vec<String> = cols.iter().map(|c| quote(c)).collect();
    writeln!(w, "{}", header.join(","))?;
    for r in rows {
        let map: std::collections::HashMap<&str, &str> = r
            .columns
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let line: Vec<String> = cols
            .iter()
            .map(|c| map.get(c.as_str()).map_or(String::new(), |v| quote(v)))
            .collect();
        writeln!(w, "{}", line.join(","))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn row(point: usize, columns: Vec<(&str, Value)>) -> Row {
        Row {
            point,
            of: 2,
            args: vec![],
            columns: columns
                .into_iter()
                .map(|(k, v)| (k.to_string(), text(&v)))
                .collect(),
        }
    }

    #[test]
    fn flattens_in_document_order() {
        let v = json!({"b": 1, "a": {"y": "s", "x": [true, null, 0.1]}});
        let got = flatten(&v);
        // serde_json keeps either insertion or sorted order; both are fixed.
        assert_eq!(got.len(), 5);
        let get = |k: &str| got.iter().find(|(c, _)| c == k).map(|(_, v)| v.as_str());
        assert_eq!(
            (
                get("a.x.0"),
                get("a.x.1"),
                get("a.x.2"),
                get("b"),
                get("a.y")
            ),
            (Some("true"), Some(""), Some("0.1"), Some("1"), Some("s"))
        );
    }

    #[test]
    fn union_of_columns_and_quoting() {
        let rows = [
            row(0, vec![("point", json!(0)), ("depth.0", json!(1.5))]),
            row(
                1,
                vec![
                    ("point", json!(1)),
                    ("depth.1", json!("a,\"b\"")),
                    ("depth.0", json!(2)),
                ],
            ),
        ];
        let mut out = Vec::new();
        write_csv(&rows, &mut out).expect("csv");
        assert_eq!(
            String::from_utf8(out).expect("utf8"),
            "point,depth.0,depth.1\n0,1.5,\n1,2,\"a,\"\"b\"\"\"\n"
        );
    }
}
