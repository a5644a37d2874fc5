//! Package closures from pip-compiled GitHub `requirements.txt` files
//! (open-lambda/forklift `requirements_compiled.json`: `{file_id:
//! ["name-version", ...]}`).
//!
//! An entry is read in these steps (documented in `traces/README.md`):
//! 1. cut an environment marker (`; ...`) or comment (`# ...`): the marker is
//!    not evaluated, the package is kept;
//! 2. split at the **last** `-` followed by a digit: name before, version
//!    after (`python-owasp-zap-v2-4-0.1.0` is `python-owasp-zap-v2-4` 0.1.0);
//! 3. drop extras (`name[extra]`);
//! 4. normalise the name as pip does (PEP 503: lowercase, runs of `-_.`
//!    become `-`).
//!
//! An entry that fails (e.g. `pylint-=2.4.4`) is skipped with a warning
//! naming the file id and position; exact duplicates after normalisation
//! (`pelican` and `pelican[markdown]`) are merged and counted.

use super::json::{read_json, JsonError, OrderedMap};
use super::warnings::{WarningKind, Warnings};
use serde::Serialize;
use sock_core::trace::normalize_name;
use std::collections::BTreeSet;
use std::path::Path;

/// A pinned package: normalised name and version.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Requirement {
    pub name: String,
    pub version: String,
}

impl Requirement {
    pub fn new(name: &str, version: &str) -> Requirement {
        Requirement {
            name: normalize_name(name),
            version: version.to_string(),
        }
    }

    /// `name==version`, the trace's package key.
    pub fn key(&self) -> String {
        format!("{}=={}", self.name, self.version)
    }
}

/// One requirements file's closure, sorted and without duplicates.
#[derive(Clone, Debug, PartialEq)]
pub struct ClosureFile {
    pub id: String,
    pub packages: Vec<Requirement>,
}

/// What reading the entries took.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct EntryCounts {
    pub files: usize,
    pub empty_files: usize,
    pub entries: usize,
    /// Entries with an environment marker or comment cut off (kept).
    pub with_marker: usize,
    /// Entries with extras dropped (kept).
    pub with_extras: usize,
    /// Entries equal to an earlier one of the same file once normalised.
    pub merged_duplicates: usize,
    /// Entries skipped (each also a warning).
    pub malformed: usize,
}

/// All closure files, sorted by file id.
#[derive(Clone, Debug, Default)]
pub struct Closures {
    pub files: Vec<ClosureFile>,
    pub counts: EntryCounts,
}

/// Why the closures file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum RequirementsError {
    #[error(transparent)]
    Json(#[from] JsonError),
}

/// An entry, parsed, with what was cut off it.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub req: Requirement,
    pub had_marker: bool,
    pub had_extras: bool,
}

/// Parses one `name-version` entry (steps in the module doc).
pub fn parse_entry(raw: &str) -> Result<Entry, &'static str> {
    let cut = raw.find([';', '#']);
    let text = cut.map_or(raw, |i| &raw[..i]).trim();
    let split = text
        .char_indices()
        .filter(|&(i, c)| c == '-' && text[i + 1..].starts_with(|d: char| d.is_ascii_digit()))
        .map(|(i, _)| i)
        .next_back()
        .ok_or("no `-<version>` suffix (the version must start with a digit)")?;
    let (mut name, version) = (&text[..split], &text[split + 1..]);
    let had_extras = name.contains('[');
    if had_extras {
        let open = name.find('[').unwrap_or(name.len());
        if !name.ends_with(']') {
            return Err("unbalanced extras bracket");
        }
        name = &name[..open];
    }
    let name_ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if name.is_empty()
        || !name.chars().all(name_ok)
        || !name.starts_with(|c: char| c.is_ascii_alphanumeric())
    {
        return Err("the name is not a valid package name");
    }
    let version_ok =
        |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '+' | '!' | '_' | '-');
    if !version.chars().all(version_ok) {
        return Err("the version has characters a version cannot have");
    }
    Ok(Entry {
        req: Requirement::new(name, version),
        had_marker: cut.is_some(),
        had_extras,
    })
}

/// Reads `requirements_compiled.json`.
pub fn load(path: &Path, warnings: &mut Warnings) -> Result<Closures, RequirementsError> {
    let map: OrderedMap<Vec<String>> = read_json(path)?;
    let file = path.display().to_string();
    let mut out = Closures::default();
    for (id, entries) in map.0 {
        let packages = parse_file(&file, &id, &entries, &mut out.counts, warnings);
        out.counts.files += 1;
        out.counts.empty_files += usize::from(packages.is_empty());
        out.files.push(ClosureFile { id, packages });
    }
    out.files.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(out)
}

fn parse_file(
    file: &str,
    id: &str,
    entries: &[String],
    counts: &mut EntryCounts,
    warnings: &mut Warnings,
) -> Vec<Requirement> {
    let mut set = BTreeSet::new();
    for (i, raw) in entries.iter().enumerate() {
        counts.entries += 1;
        match parse_entry(raw) {
            Ok(e) => {
                counts.with_marker += usize::from(e.had_marker);
                counts.with_extras += usize::from(e.had_extras);
                if !set.insert(e.req) {
                    counts.merged_duplicates += 1;
                }
            }
            Err(why) => {
                counts.malformed += 1;
                let detail = format!("file {id:?}, entry {i} {raw:?}: {why}");
                warnings.push(WarningKind::MalformedEntry, file, None, detail);
            }
        }
    }
    let packages: Vec<Requirement> = set.into_iter().collect();
    for w in packages.windows(2) {
        if w[0].name == w[1].name {
            let detail = format!(
                "file {id:?}: {} and {} are both pinned",
                w[0].key(),
                w[1].key()
            );
            warnings.push(WarningKind::ConflictingVersions, file, None, detail);
        }
    }
    packages
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(raw: &str) -> String {
        parse_entry(raw)
            .map(|e| e.req.key())
            .unwrap_or_else(|e| format!("ERR {e}"))
    }

    #[test]
    fn splits_at_the_last_dash_before_a_digit() {
        assert_eq!(key("certifi-2023.7.22"), "certifi==2023.7.22");
        assert_eq!(
            key("python-owasp-zap-v2-4-0.1.0"),
            "python-owasp-zap-v2-4==0.1.0"
        );
        assert_eq!(key("isi-sdk-7-2-0.2.11"), "isi-sdk-7-2==0.2.11");
        assert_eq!(key("flake8-2020-1.8.1"), "flake8-2020==1.8.1");
        assert_eq!(key("types-PyYAML-6.0.3"), "types-pyyaml==6.0.3");
        assert_eq!(key("Zope.Interface_x-6.0"), "zope-interface-x==6.0");
    }

    #[test]
    fn cuts_markers_comments_and_extras() {
        let e = parse_entry(
            r#"google-api-core[grpc]-2.11.1 ; platform_python_implementation != "PyPy""#,
        )
        .expect("ok");
        assert_eq!(e.req.key(), "google-api-core==2.11.1");
        assert!(e.had_marker && e.had_extras);
        assert_eq!(
            key("beautifulsoup4-4.11.1 # Util for webcrawling"),
            "beautifulsoup4==4.11.1"
        );
        assert_eq!(key("xarray[Xarray,xarray]-2023.8.0"), "xarray==2023.8.0");
    }

    #[test]
    fn malformed_entries_are_errors() {
        for raw in [
            "pylint-=2.4.4",
            "flask-=2.1.0 ; python_version > \"3.0\"",
            "nodash",
            "-1.0",
            "a[b-1.0",
            "a b-1.0",
            "",
        ] {
            assert!(parse_entry(raw).is_err(), "{raw:?} should not parse");
        }
    }

    #[test]
    fn a_file_merges_duplicates_and_warns_on_conflicts() {
        let mut counts = EntryCounts::default();
        let mut w = Warnings::default();
        let entries: Vec<String> = [
            "pelican[markdown]-4.8.0",
            "pelican-4.8.0",
            "six-1.16.0",
            "six-1.15.0",
            "bad-=1",
        ]
        .map(String::from)
        .to_vec();
        let got = parse_file("r.json", "f1", &entries, &mut counts, &mut w);
        let keys: Vec<String> = got.iter().map(Requirement::key).collect();
        assert_eq!(keys, ["pelican==4.8.0", "six==1.15.0", "six==1.16.0"]);
        assert_eq!(
            (counts.entries, counts.merged_duplicates, counts.malformed),
            (5, 1, 1)
        );
        assert_eq!(w.count(WarningKind::MalformedEntry), 1);
        assert_eq!(w.count(WarningKind::ConflictingVersions), 1);
        assert!(
            w.0[0]
                .to_string()
                .contains("r.json: file \"f1\", entry 4 \"bad-=1\""),
            "{}",
            w.0[0]
        );
    }
}
