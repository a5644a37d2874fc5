//! The reader's fast path: an invocation line that sits whole in the
//! input's buffer, has the usual shape and passes every check is parsed
//! in place, without copying it out or decoding it as UTF-8.
//!
//! It accepts a subset of what the checked path accepts, with the same
//! values: ASCII blanks, `[`, two or three runs of decimal digits that fit
//! in a `u64` separated by commas, `]`. Anything else (a line split across
//! buffer fills, longer than the cap, odd blanks, a bad number, a failed
//! check) is left unconsumed, so the checked path reads the same line
//! again and reports it, naming its line and field, exactly as before.

use super::{LineRules, MAX_DURATION_US, MAX_INVOCATION_BYTES};
use crate::trace::Invocation;
use crate::units::{FunctionId, Micros};
use std::io::BufRead;

/// A line the fast path consumed.
pub(super) enum Fast {
    /// Only blanks: nothing to deliver.
    Blank,
    /// A checked invocation.
    Valid(Invocation),
}

/// The next line, if the fast path can take it (`None`: nothing consumed).
pub(super) fn next_in_buffer<R: BufRead>(
    input: &mut R,
    rules: LineRules,
    last_time: &mut u64,
) -> Option<Fast> {
    let buf = input.fill_buf().ok()?;
    let window = &buf[..buf.len().min(MAX_INVOCATION_BYTES + 1)];
    let (parsed, end) = parse(window)?;
    let fast = match parsed {
        None => Fast::Blank,
        Some((time_us, function, duration)) => {
            let duration_ok = duration.is_none_or(|d| rules.durations && d <= MAX_DURATION_US);
            if !duration_ok || function >= rules.functions as u64 || time_us < *last_time {
                return None;
            }
            *last_time = time_us;
            Fast::Valid(Invocation {
                time: Micros(time_us),
                function: FunctionId(function as u32),
                duration: duration.map(Micros),
            })
        }
    };
    input.consume(end + 1);
    Some(fast)
}

/// An invocation line's numbers: time, function index, optional duration.
type Fields = (u64, u64, Option<u64>);

/// One line from the start of `window`, in one pass: `None` (a blank
/// line) or `[a, b]` / `[a, b, c]`, and where its `\n` is. `None`: not for
/// the fast path (also when no `\n` is in `window`).
fn parse(window: &[u8]) -> Option<(Option<Fields>, usize)> {
    let i = blanks(window, 0);
    match window.get(i) {
        Some(b'\n') => return Some((None, i)),
        Some(b'[') => {}
        _ => return None,
    }
    let (a, i) = number(window, i + 1)?;
    if window.get(i) != Some(&b',') {
        return None;
    }
    let (b, mut i) = number(window, i + 1)?;
    let mut c = None;
    if window.get(i) == Some(&b',') {
        let (v, j) = number(window, i + 1)?;
        c = Some(v);
        i = j;
    }
    if window.get(i) != Some(&b']') {
        return None;
    }
    let end = blanks(window, i + 1);
    (window.get(end) == Some(&b'\n')).then_some((Some((a, b, c)), end))
}

/// Blanks, at least one digit (no overflow), blanks; the value and where
/// the next byte is.
fn number(line: &[u8], from: usize) -> Option<(u64, usize)> {
    let start = blanks(line, from);
    let mut i = start;
    let mut value: u64 = 0;
    while let Some(&b) = line.get(i).filter(|b| b.is_ascii_digit()) {
        value = value.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
        i += 1;
    }
    if i == start {
        return None;
    }
    Some((value, blanks(line, i)))
}

/// Skips the blanks `str::trim` removes too, except the line's end.
fn blanks(line: &[u8], mut i: usize) -> usize {
    while matches!(line.get(i), Some(b' ' | b'\t' | b'\r' | b'\x0c')) {
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(text: &[u8]) -> Option<Option<Fields>> {
        let mut with_end = text.to_vec();
        with_end.push(b'\n');
        parse(&with_end).map(|(v, end)| {
            assert_eq!(end, text.len());
            v
        })
    }

    #[test]
    fn parses_the_usual_shapes() {
        assert_eq!(line(b"[5,0]"), Some(Some((5, 0, None))));
        assert_eq!(line(b" [ 5 , 0 , 7 ]\r"), Some(Some((5, 0, Some(7)))));
        assert_eq!(line(b"[007,1]"), Some(Some((7, 1, None))));
        assert_eq!(
            line(b"[18446744073709551615,0]"),
            Some(Some((u64::MAX, 0, None)))
        );
        assert_eq!(line(b" \t\r"), Some(None));
        assert_eq!(line(b""), Some(None));
        assert_eq!(parse(b"[5,0]"), None, "no line end in the window");
        assert_eq!(parse(b"[5,\n0]\n"), None, "a line end inside");
    }

    #[test]
    fn leaves_the_rest_to_the_checked_path() {
        for bad in [
            &b"[18446744073709551616,0]"[..],
            b"[5]",
            b"[5,]",
            b"[,5]",
            b"[5,0,1,2]",
            b"[5,0",
            b"5,0]",
            b"[5,-1]",
            b"[5,0]x",
            b"[5 5,0]",
            b"{\"t\":1}",
            b"\x0b[5,0]",
            "[5,0]\u{a0}".as_bytes(),
        ] {
            assert_eq!(line(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }
}
