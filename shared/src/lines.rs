//! Reading text lines with a length cap, so that an input without line
//! breaks (`sim --trace /dev/zero`) is an error after a bounded read rather
//! than a read that lasts until memory runs out (issue 12).

use std::io::{self, BufRead};

/// What [`read_line_capped`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineRead {
    /// End of input before any byte.
    Eof,
    /// A line is in the buffer (without its `\n`).
    Line,
    /// The line runs past the cap; the buffer holds its first bytes.
    TooLong,
}

/// Reads one line into `buf` (cleared first), without the `\n`; at most
/// `max` bytes of it. The last line may lack its `\n`. After `TooLong` the
/// input is left mid-line: callers stop there.
pub fn read_line_capped<R: BufRead + ?Sized>(
    input: &mut R,
    buf: &mut Vec<u8>,
    max: usize,
) -> io::Result<LineRead> {
    buf.clear();
    loop {
        let available = match input.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            return Ok(if buf.is_empty() {
                LineRead::Eof
            } else {
                LineRead::Line
            });
        }
        let newline = available.iter().position(|&b| b == b'\n');
        let take = newline.unwrap_or(available.len());
        if buf.len() + take > max {
            let room = max - buf.len();
            buf.extend_from_slice(&available[..room]);
            input.consume(room);
            return Ok(LineRead::TooLong);
        }
        buf.extend_from_slice(&available[..take]);
        match newline {
            Some(_) => {
                input.consume(take + 1);
                return Ok(LineRead::Line);
            }
            None => input.consume(take),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn lines_are_capped() {
        let mut input = io::BufReader::with_capacity(4, &b"ab\ncdefgh\n\nxyz"[..]);
        let mut buf = Vec::new();
        let mut next = |max| {
            let r = read_line_capped(&mut input, &mut buf, max).expect("read");
            (r, String::from_utf8(buf.clone()).expect("utf8"))
        };
        assert_eq!(next(2), (LineRead::Line, "ab".into()));
        assert_eq!(next(6), (LineRead::Line, "cdefgh".into()));
        assert_eq!(next(6), (LineRead::Line, "".into()));
        assert_eq!(next(2), (LineRead::TooLong, "xy".into()));
        let mut zeros = io::repeat(0).take(1 << 30);
        let mut zeros = io::BufReader::new(&mut zeros);
        let r = read_line_capped(&mut zeros, &mut buf, 1 << 16).expect("read");
        assert_eq!((r, buf.len()), (LineRead::TooLong, 1 << 16));
    }
}
