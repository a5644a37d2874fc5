//! Reading what pip installed: package keys, `*.dist-info` lookup, top-level
//! module names and `Requires-Dist` dependencies. Pure text parsing plus a
//! few directory reads; no pip involved.

use std::path::{Path, PathBuf};

/// Why a key is not a valid `name==version`.
pub(crate) fn key_problem(key: &str) -> Option<&'static str> {
    if key.contains(['/', '\\', '\0']) {
        return Some("contains a path separator or NUL");
    }
    if key.contains("..") {
        return Some("contains `..`");
    }
    let Some((name, version)) = key.split_once("==") else {
        return Some("missing `==`");
    };
    if name.is_empty() {
        return Some("empty name");
    }
    if version.is_empty() {
        return Some("empty version");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
    {
        return Some("name may hold only ASCII letters, digits, `.`, `_` and `-`");
    }
    let alnum = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_alphanumeric());
    if !alnum(name.as_bytes().first()) || !alnum(name.as_bytes().last()) {
        return Some("name must start and end with a letter or digit");
    }
    if !version
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"._+!-".contains(&b))
    {
        return Some("version may hold only ASCII letters, digits, `.`, `_`, `+`, `!` and `-` (an exact pin)");
    }
    if !alnum(version.as_bytes().first()) {
        return Some("version must start with a letter or digit");
    }
    None
}

/// PEP 503 normalized project name: lower case, each run of `-`, `_`, `.`
/// replaced by one `-` (`Foo_Bar.baz` and `foo-bar-baz` are one project).
pub fn canonical_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut sep = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            sep = true;
        } else {
            if sep && !out.is_empty() {
                out.push('-');
            }
            sep = false;
            out.extend(c.to_lowercase());
        }
    }
    out
}

/// The `*.dist-info` folder of project `name` inside an install folder (the
/// only one if none matches by name, as `--no-deps` installs one project).
pub(crate) fn find_dist_info(dir: &Path, name: &str) -> std::io::Result<Option<PathBuf>> {
    let want = canonical_name(name);
    let mut all = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let file = entry.file_name();
        let Some(stem) = file.to_str().and_then(|f| f.strip_suffix(".dist-info")) else {
            continue;
        };
        if !entry.file_type()?.is_dir() {
            continue;
        }
        // `<name>-<version>.dist-info`; the name holds no `-` once escaped.
        let project = stem.split_once('-').map_or(stem, |(n, _)| n);
        if canonical_name(project) == want {
            return Ok(Some(entry.path()));
        }
        all.push(entry.path());
    }
    Ok(if all.len() == 1 { all.pop() } else { None })
}

/// The import name a top-level path component stands for, if any:
/// `six.py` -> `six`, `_foo.cpython-311-x86_64-linux-gnu.so` -> `_foo`,
/// `pkg` (a folder, `is_dir`) -> `pkg`. Metadata folders, `__pycache__`,
/// `bin`, `..` and non-module files give `None`.
pub(crate) fn module_of(component: &str, is_dir: bool) -> Option<String> {
    let name = if is_dir {
        if component.ends_with(".dist-info")
            || component.ends_with(".data")
            || component.ends_with(".egg-info")
            || matches!(component, "__pycache__" | "bin")
        {
            return None;
        }
        component
    } else if let Some(stem) = component.strip_suffix(".py") {
        stem
    } else if component.ends_with(".so") || component.ends_with(".pyd") {
        component.split('.').next().unwrap_or_default()
    } else {
        return None;
    };
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c == '_' || c.is_ascii_alphabetic());
    (first_ok && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())).then(|| name.to_string())
}

/// Top-level modules listed by a RECORD file: the first component of each
/// path (the first CSV field, which may be quoted), mapped by [`module_of`].
pub(crate) fn record_modules(record: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in record.lines() {
        let path = csv_first_field(line);
        let mut parts = path.split('/').filter(|p| !p.is_empty() && *p != ".");
        let Some(first) = parts.next() else { continue };
        let is_dir = parts.next().is_some();
        if let Some(m) = module_of(first, is_dir) {
            out.push(m);
        }
    }
    out.sort();
    out.dedup();
    out
}

/// The first field of a CSV line (RFC 4180 quoting, `""` escapes).
fn csv_first_field(line: &str) -> String {
    let Some(rest) = line.strip_prefix('"') else {
        return line.split(',').next().unwrap_or_default().to_string();
    };
    let mut out = String::new();
    let mut chars = rest.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '"' {
            if chars.peek() == Some(&'"') {
                chars.next();
                out.push('"');
            } else {
                break;
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Modules listed by `top_level.txt` (one per line; a `a/b` entry counts as
/// `a`).
pub(crate) fn top_level_modules(text: &str) -> Vec<String> {
    let mut out: Vec<String> = text
        .lines()
        .filter_map(|l| l.trim().split('/').next())
        .filter(|m| !m.is_empty())
        .map(str::to_string)
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Top-level import names of an installed project, from its dist-info:
/// `top_level.txt` when present and non-empty, else RECORD.
pub(crate) fn modules_in(dist_info: &Path) -> std::io::Result<Vec<String>> {
    match std::fs::read_to_string(dist_info.join("top_level.txt")) {
        Ok(text) if !top_level_modules(&text).is_empty() => return Ok(top_level_modules(&text)),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    Ok(record_modules(&std::fs::read_to_string(
        dist_info.join("RECORD"),
    )?))
}

/// Dependency names (PEP 503 normalized, sorted, unique) from the
/// `Requires-Dist` headers of a METADATA file, skipping those whose
/// environment marker mentions `extra` (optional features). Other markers
/// (`python_version < "3.8"`, ...) are not evaluated, so the list may
/// over-approximate; [`super::Installer::resolve`] gives pip's exact closure.
pub(crate) fn requires_dist(metadata: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in metadata.lines() {
        if line.trim().is_empty() {
            break; // end of the headers; the description follows
        }
        let Some(value) = line
            .split_once(':')
            .filter(|(h, _)| h.eq_ignore_ascii_case("Requires-Dist"))
            .map(|(_, v)| v.trim())
        else {
            continue;
        };
        let (spec, marker) = value.split_once(';').unwrap_or((value, ""));
        if marker.contains("extra") {
            continue;
        }
        let end = spec
            .find(|c: char| !(c.is_ascii_alphanumeric() || "._-".contains(c)))
            .unwrap_or(spec.len());
        let name = spec[..end].trim();
        if !name.is_empty() {
            out.push(canonical_name(name));
        }
    }
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_validated() {
        for ok in [
            "six==1.16.0",
            "a==1",
            "Foo.Bar_baz-2==1.0.post1+local",
            "x==1!2.0",
        ] {
            assert_eq!(key_problem(ok), None, "{ok}");
        }
        for (bad, why) in [
            ("", "=="),
            ("six", "=="),
            ("six==", "empty version"),
            ("==1.0", "empty name"),
            ("a/b==1.0", "separator"),
            ("a==1.0/../x", "separator"),
            ("a\\b==1", "separator"),
            ("a==..", ".."),
            ("..==1", ".."),
            ("a==1..0", ".."),
            ("a b==1", "name may hold"),
            ("-a==1", "start and end"),
            ("a.==1", "start and end"),
            ("a==1,<2", "version may hold"),
            ("a==1==2", "version may hold"),
            ("a==*", "version may hold"),
            ("a==.1", "start with"),
            ("a>=1", "=="),
        ] {
            let got = key_problem(bad).unwrap_or("accepted");
            assert!(got.contains(why), "{bad:?}: {got}");
        }
    }

    #[test]
    fn canonical_names() {
        assert_eq!(canonical_name("Foo_Bar.baz"), "foo-bar-baz");
        assert_eq!(canonical_name("foo--_bar"), "foo-bar");
        assert_eq!(canonical_name("PyYAML"), "pyyaml");
    }

    #[test]
    fn module_names_from_paths() {
        assert_eq!(module_of("six.py", false).as_deref(), Some("six"));
        assert_eq!(
            module_of("_foo.cpython-311-x86_64-linux-gnu.so", false).as_deref(),
            Some("_foo")
        );
        assert_eq!(module_of("_bar.abi3.so", false).as_deref(), Some("_bar"));
        assert_eq!(module_of("numpy", true).as_deref(), Some("numpy"));
        for (c, d) in [
            ("numpy-1.0.dist-info", true),
            ("numpy-1.0.data", true),
            ("__pycache__", true),
            ("bin", true),
            ("..", true),
            ("README.txt", false),
            ("x.pth", false),
            ("not-a-module", true),
        ] {
            assert_eq!(module_of(c, d), None, "{c}");
        }
    }

    #[test]
    fn record_gives_top_level_modules() {
        let record = "\
six.py,sha256=abc,34549
six-1.16.0.dist-info/RECORD,,
__pycache__/six.cpython-311.pyc,,
pkg/__init__.py,sha256=x,1
pkg/sub/mod.py,sha256=x,1
_speedups.cpython-311-x86_64-linux-gnu.so,sha256=x,9
\"quoted,name/__init__.py\",sha256=x,1
\"odd/__init__.py\",sha256=x,1
../../bin/tool,sha256=x,1
bin/tool,sha256=x,1
pkg-1.0.data/scripts/x,sha256=x,1
LICENSE,sha256=x,1
";
        assert_eq!(record_modules(record), ["_speedups", "odd", "pkg", "six"]);
    }

    #[test]
    fn modules_from_a_fake_dist_info() {
        let dir = tempfile::tempdir().expect("tempdir");
        let di = dir.path().join("Foo_Bar-1.0.dist-info");
        std::fs::create_dir(&di).expect("mkdir");
        std::fs::write(di.join("RECORD"), "foo/__init__.py,,\n_foo_c.abi3.so,,\n").expect("write");
        std::fs::create_dir(dir.path().join("other-2.0.dist-info")).expect("mkdir");
        let found = find_dist_info(dir.path(), "foo-bar")
            .expect("read")
            .expect("found");
        assert_eq!(found, di);
        assert_eq!(find_dist_info(dir.path(), "nope").expect("read"), None);
        // RECORD when there is no top_level.txt...
        assert_eq!(modules_in(&di).expect("modules"), ["_foo_c", "foo"]);
        // ...an empty one does not count...
        std::fs::write(di.join("top_level.txt"), "\n").expect("write");
        assert_eq!(modules_in(&di).expect("modules"), ["_foo_c", "foo"]);
        // ...and a real one wins.
        std::fs::write(di.join("top_level.txt"), "foo\nbar/baz\n").expect("write");
        assert_eq!(modules_in(&di).expect("modules"), ["bar", "foo"]);
    }

    #[test]
    fn requires_skip_extras() {
        let metadata = "\
Metadata-Version: 2.1
Name: x
Requires-Dist: Charset_Normalizer (<4,>=2)
Requires-Dist: idna<4,>=2.5
Requires-Dist: urllib3[socks]>=1.21.1; extra == \"socks\"
Requires-Dist: PySocks!=1.5.7,>=1.5.6 ; extra == 'socks'
Requires-Dist: certifi>=2017.4.17
Requires-Dist: importlib-metadata; python_version < \"3.8\"
Requires-Dist: idna

Requires-Dist: in-the-description
";
        assert_eq!(
            requires_dist(metadata),
            [
                "certifi",
                "charset-normalizer",
                "idna",
                "importlib-metadata"
            ]
        );
    }
}
