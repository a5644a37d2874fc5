//! What a trace may call things. Package, module and function names end up
//! in pip command lines, file paths and generated Python (a Zygote running
//! as root imports the modules), so the reader accepts only names that
//! cannot break out of any of those: PEP 508 distribution names, dotted
//! Python identifiers and a conservative version alphabet (issue 12).

/// Longest name or version accepted (bytes).
pub const MAX_NAME_LEN: usize = 200;

/// Python keywords (3.12), which cannot be module names in `import m`.
const KEYWORDS: [&str; 35] = [
    "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue",
    "def", "del", "elif", "else", "except", "finally", "for", "from", "global", "if", "import",
    "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise", "return", "try", "while",
    "with", "yield",
];

/// Why a name was refused (shown after the field name).
pub type Refusal = &'static str;

fn check_len(s: &str) -> Result<(), Refusal> {
    if s.is_empty() {
        Err("it is empty")
    } else if s.len() > MAX_NAME_LEN {
        Err("it is longer than 200 bytes")
    } else {
        Ok(())
    }
}

/// A PEP 508 distribution name: ASCII letters, digits, `.`, `_`, `-`,
/// starting and ending with a letter or digit (`numpy`, `google-cloud-core`).
pub fn check_distribution(s: &str) -> Result<(), Refusal> {
    check_len(s)?;
    let inner = |c: u8| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-');
    let b = s.as_bytes();
    if !b.iter().all(|&c| inner(c)) {
        return Err(
            "a distribution name (PEP 508) holds only ASCII letters, digits, `.`, `_` and `-`",
        );
    }
    if !b[0].is_ascii_alphanumeric() || !b[b.len() - 1].is_ascii_alphanumeric() {
        return Err("a distribution name (PEP 508) starts and ends with a letter or digit");
    }
    Ok(())
}

/// A version, read permissively (PEP 440 and the legacy forms pip still
/// meets): ASCII letters, digits and `.`, `_`, `-`, `+`, `!`, starting with
/// a letter or digit. No whitespace, quotes, commas or other punctuation.
pub fn check_version(s: &str) -> Result<(), Refusal> {
    check_len(s)?;
    let ok = |c: u8| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-' | b'+' | b'!');
    if !s.bytes().all(ok) {
        return Err("a version holds only ASCII letters, digits, `.`, `_`, `-`, `+` and `!`");
    }
    if !s.as_bytes()[0].is_ascii_alphanumeric() {
        return Err("a version starts with a letter or digit");
    }
    Ok(())
}

/// A module path: Python identifiers (ASCII) joined by `.`, none of them a
/// keyword (`yaml`, `google.protobuf`).
pub fn check_module(s: &str) -> Result<(), Refusal> {
    check_len(s)?;
    for part in s.split('.') {
        let b = part.as_bytes();
        let head = b
            .first()
            .is_some_and(|&c| c.is_ascii_alphabetic() || c == b'_');
        if !head || !b.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'_') {
            return Err("a module is Python identifiers (ASCII letters, digits, `_`, not starting with a digit) joined by `.`");
        }
        if KEYWORDS.contains(&part) {
            return Err("a Python keyword cannot be a module name");
        }
    }
    Ok(())
}

/// A function name: ASCII letters, digits, `.`, `_`, `-`, starting with a
/// letter, digit or `_` (so it is also a safe file name: never `..`, never
/// a path). Hash prefixes such as Azure's `HashFunction` qualify.
pub fn check_function(s: &str) -> Result<(), Refusal> {
    check_len(s)?;
    let ok = |c: u8| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-');
    if !s.bytes().all(ok) {
        return Err("a function name holds only ASCII letters, digits, `.`, `_` and `-`");
    }
    let first = s.as_bytes()[0];
    if !(first.is_ascii_alphanumeric() || first == b'_') {
        return Err("a function name starts with a letter, digit or `_`");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_could_break_out_of_generated_code_are_refused() {
        for ok in ["numpy", "google-cloud-core", "zope.interface", "A1", "x"] {
            assert!(check_distribution(ok).is_ok(), "{ok}");
        }
        for bad in [
            "", "-a", "a-", "a b", "a\"", "a'", "a\nb", "a,b", "a;b", "a==1", "é",
        ] {
            assert!(check_distribution(bad).is_err(), "{bad:?}");
        }
        for ok in [
            "1.26.4",
            "2023.3.post1",
            "1!2.0",
            "1.0+local.7",
            "v1",
            "1.0.0rc1",
        ] {
            assert!(check_version(ok).is_ok(), "{ok}");
        }
        for bad in [
            "", "1 0", "1\"", "1'", "1\n", "1,2", ">=1", "1;", ".1", "1\\",
        ] {
            assert!(check_version(bad).is_err(), "{bad:?}");
        }
        for ok in ["yaml", "google.protobuf", "_cffi_backend", "PIL", "a1.b_2"] {
            assert!(check_module(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "os; import sys",
            "a b",
            "1abc",
            "a..b",
            ".a",
            "a.",
            "a-b",
            "a\nb",
            "class",
            "x.import",
            "é",
            "a'",
            "a,b",
        ] {
            assert!(check_module(bad).is_err(), "{bad:?}");
        }
        for ok in ["fn00001", "3f2a9c0d11aa22bb", "_f", "my-fn.v2"] {
            assert!(check_function(ok).is_ok(), "{ok}");
        }
        for bad in ["", "..", "a/b", "a b", "f\"", "f\n", "f,g", "-f", ".hidden"] {
            assert!(check_function(bad).is_err(), "{bad:?}");
        }
        assert!(check_module(&"a".repeat(201)).is_err());
    }
}
