//! A small streaming scanner that cuts one JSON value at a time out of a buffered reader.
//!
//! It tracks only what is needed to find where a value ends (strings, escapes, bracket
//! nesting) and copies the value's bytes into a caller buffer, so each record can then be
//! parsed on its own by serde_json. This keeps memory bounded by the largest record, not the
//! file (a 5 GB `{"Records":[...]}` file streams), and it lets a bad record be skipped while
//! the next one is still found. A value larger than the limit is scanned to its end without
//! being kept.

use std::io::{self, BufRead};

/// Deepest bracket nesting accepted; deeper input is treated as malformed (it is never real
/// CloudTrail and would otherwise let a hostile file grow the stack without bound).
const MAX_DEPTH: usize = 4096;

#[derive(Debug)]
pub(crate) enum ScanError {
    /// The reader failed (for gzip: truncated or corrupt stream).
    Io(io::Error),
    /// End of input inside a value.
    Eof,
    /// The bytes cannot be JSON; `pos`/`line` locate the offending byte, which is left unread.
    Syntax {
        msg: &'static str,
        pos: u64,
        line: u64,
    },
    /// The value was longer than the limit; it was scanned to its end and dropped.
    TooLarge { size: u64 },
}

pub(crate) struct Scanner<'r> {
    r: &'r mut dyn BufRead,
    /// Byte offset of the next unread byte.
    pub pos: u64,
    /// 1-based line of the next unread byte.
    pub line: u64,
}

impl<'r> Scanner<'r> {
    pub fn new(r: &'r mut dyn BufRead) -> Self {
        Scanner { r, pos: 0, line: 1 }
    }

    fn fill(&mut self) -> Result<&[u8], ScanError> {
        // Retry interruptions first; the second call then returns the buffered bytes (the
        // two-step shape is for the borrow checker).
        loop {
            match self.r.fill_buf() {
                Ok(_) => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(ScanError::Io(e)),
            }
        }
        self.r.fill_buf().map_err(ScanError::Io)
    }

    fn consume(&mut self, n: usize) {
        self.r.consume(n);
        self.pos += n as u64;
    }

    /// The next byte, not consumed; `None` at end of input.
    pub fn peek(&mut self) -> Result<Option<u8>, ScanError> {
        Ok(self.fill()?.first().copied())
    }

    /// Consumes one byte that the caller has just peeked (never a newline); only valid right
    /// after [`Scanner::peek`] / [`Scanner::skip_ws`] returned it.
    pub fn bump(&mut self) {
        self.consume(1);
    }

    /// Up to `n` upcoming bytes without consuming them (fewer if the reader's buffer holds
    /// fewer); used only to describe what a non-JSON file starts with.
    pub fn peek_some(&mut self, n: usize) -> Result<Vec<u8>, ScanError> {
        let b = self.fill()?;
        Ok(b[..b.len().min(n)].to_vec())
    }

    /// Skips JSON whitespace (copying it to `out` when given); returns the next byte.
    pub fn skip_ws(&mut self, mut out: Option<&mut Vec<u8>>) -> Result<Option<u8>, ScanError> {
        loop {
            let chunk = self.fill()?;
            if chunk.is_empty() {
                return Ok(None);
            }
            let mut i = 0;
            let mut nl = 0;
            while i < chunk.len() {
                match chunk[i] {
                    b' ' | b'\t' | b'\r' => {}
                    b'\n' => nl += 1,
                    _ => break,
                }
                i += 1;
            }
            let next = chunk.get(i).copied();
            if let Some(o) = out.as_deref_mut() {
                o.extend_from_slice(&chunk[..i]);
            }
            self.line += nl;
            self.consume(i);
            if next.is_some() {
                return Ok(next);
            }
        }
    }

    /// Like [`Scanner::skip_ws`], but in line mode stops at a newline (returned, not consumed)
    /// so NDJSON can resync on the next line without losing it.
    pub fn skip_ws_in_line(&mut self, line_mode: bool) -> Result<Option<u8>, ScanError> {
        if !line_mode {
            return self.skip_ws(None);
        }
        loop {
            let chunk = self.fill()?;
            if chunk.is_empty() {
                return Ok(None);
            }
            let i = chunk
                .iter()
                .position(|&b| !matches!(b, b' ' | b'\t' | b'\r'));
            match i {
                Some(i) => {
                    let next = chunk[i];
                    self.consume(i);
                    return Ok(Some(next));
                }
                None => {
                    let n = chunk.len();
                    self.consume(n);
                }
            }
        }
    }

    /// Skips through the next newline (inclusive). Returns false at end of input.
    pub fn skip_line(&mut self) -> Result<bool, ScanError> {
        loop {
            let chunk = self.fill()?;
            if chunk.is_empty() {
                return Ok(false);
            }
            match memchr::memchr(b'\n', chunk) {
                Some(i) => {
                    self.consume(i + 1);
                    self.line += 1;
                    return Ok(true);
                }
                None => {
                    let n = chunk.len();
                    self.consume(n);
                }
            }
        }
    }

    /// Reads one complete JSON value starting at the next byte (which must not be
    /// whitespace), appending its bytes to `out`. `line_mode`: the value must end on the line
    /// it starts on (NDJSON), so a newline inside it is an error and the caller can resync on
    /// the next line.
    pub fn read_value(
        &mut self,
        out: &mut Vec<u8>,
        limit: usize,
        line_mode: bool,
    ) -> Result<u64, ScanError> {
        let first = match self.peek()? {
            Some(b) => b,
            None => return Err(ScanError::Eof),
        };
        let mut st = State::default();
        match first {
            b'{' => st.stack.push(b'}'),
            b'[' => st.stack.push(b']'),
            b'"' => st.in_str = true,
            b'-' | b'0'..=b'9' | b't' | b'f' | b'n' => st.scalar = true,
            _ => {
                return Err(ScanError::Syntax {
                    msg: "expected a JSON value",
                    pos: self.pos,
                    line: self.line,
                });
            }
        }
        out.push(first);
        self.consume(1);
        self.continue_value(out, limit, line_mode, st, 1)
    }

    /// Continues a value whose opening `{` (and maybe more) the caller has already consumed
    /// and copied to `out` (`already` bytes of it belong to this value).
    pub fn read_object_rest(
        &mut self,
        out: &mut Vec<u8>,
        limit: usize,
        line_mode: bool,
        already: usize,
    ) -> Result<u64, ScanError> {
        let mut st = State::default();
        st.stack.push(b'}');
        self.continue_value(out, limit, line_mode, st, already as u64)
    }

    fn continue_value(
        &mut self,
        out: &mut Vec<u8>,
        limit: usize,
        line_mode: bool,
        mut st: State,
        already: u64,
    ) -> Result<u64, ScanError> {
        let base = out.len() as u64 - already.min(out.len() as u64);
        let mut size = already;
        let mut too_large = already > limit as u64;
        if too_large {
            out.truncate(base as usize);
        }
        loop {
            let chunk = match self.r.fill_buf() {
                Ok(c) => c,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(ScanError::Io(e)),
            };
            if chunk.is_empty() {
                if st.scalar {
                    return finish(size, too_large);
                }
                return Err(ScanError::Eof);
            }
            let mut i = 0;
            let mut nl = 0u64;
            let mut done = false;
            let mut err: Option<&'static str> = None;
            while i < chunk.len() {
                if st.scalar {
                    match chunk[i] {
                        b' ' | b'\t' | b'\r' | b'\n' | b',' | b']' | b'}' => {
                            done = true;
                            break;
                        }
                        _ => {
                            i += 1;
                            continue;
                        }
                    }
                }
                if st.in_str {
                    if st.esc {
                        st.esc = false;
                        if chunk[i] == b'\n' {
                            // `\` then a raw newline: invalid, but keep the line count right.
                            err = Some("raw newline inside a string");
                            break;
                        }
                        i += 1;
                        continue;
                    }
                    match memchr::memchr3(b'"', b'\\', b'\n', &chunk[i..]) {
                        None => i = chunk.len(),
                        Some(j) => {
                            let k = i + j;
                            match chunk[k] {
                                b'"' => {
                                    st.in_str = false;
                                    i = k + 1;
                                    if st.stack.is_empty() {
                                        done = true;
                                        break;
                                    }
                                }
                                b'\\' => {
                                    st.esc = true;
                                    i = k + 1;
                                }
                                _ => {
                                    // A JSON string cannot hold a raw newline: the record was
                                    // cut short (or is not JSON). Stop before the newline so the
                                    // caller can resync on the next line.
                                    i = k;
                                    err =
                                        Some("unterminated string (a raw newline inside a string)");
                                    break;
                                }
                            }
                        }
                    }
                    continue;
                }
                let b = chunk[i];
                match b {
                    b'"' => st.in_str = true,
                    b'{' | b'[' => {
                        if st.stack.len() >= MAX_DEPTH {
                            err = Some("nesting too deep");
                            break;
                        }
                        st.stack.push(if b == b'{' { b'}' } else { b']' });
                    }
                    b'}' | b']' => {
                        if st.stack.pop() != Some(b) {
                            err = Some("mismatched bracket");
                            break;
                        }
                        if st.stack.is_empty() {
                            i += 1;
                            done = true;
                            break;
                        }
                    }
                    b'\n' => {
                        if line_mode {
                            err = Some("record continues past the end of its line");
                            break;
                        }
                        nl += 1;
                    }
                    _ => {}
                }
                i += 1;
            }
            size += i as u64;
            if !too_large {
                if size > limit as u64 {
                    too_large = true;
                    out.truncate(base as usize);
                } else {
                    out.extend_from_slice(&chunk[..i]);
                }
            }
            self.r.consume(i);
            self.pos += i as u64;
            self.line += nl;
            if let Some(msg) = err {
                return Err(ScanError::Syntax {
                    msg,
                    pos: self.pos,
                    line: self.line,
                });
            }
            if done {
                return finish(size, too_large);
            }
        }
    }
}

fn finish(size: u64, too_large: bool) -> Result<u64, ScanError> {
    if too_large {
        Err(ScanError::TooLarge { size })
    } else {
        Ok(size)
    }
}

#[derive(Default)]
struct State {
    stack: Vec<u8>,
    in_str: bool,
    esc: bool,
    scalar: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that hands out its bytes `step` at a time, so values straddle buffer refills.
    struct Trickle<'a> {
        data: &'a [u8],
        step: usize,
    }
    impl io::Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.step.min(buf.len()).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    fn values(data: &[u8], step: usize) -> Vec<String> {
        let mut r = io::BufReader::with_capacity(step.max(1), Trickle { data, step });
        let mut sc = Scanner::new(&mut r);
        let mut out = Vec::new();
        let mut got = Vec::new();
        while let Some(b) = sc.skip_ws(None).unwrap() {
            if b == b',' {
                sc.bump();
                continue;
            }
            out.clear();
            sc.read_value(&mut out, 1 << 20, false).unwrap();
            got.push(String::from_utf8(out.clone()).unwrap());
        }
        got
    }

    #[test]
    fn cuts_values_whatever_the_buffer_size() {
        let data = br#"{"a":"x}\"]","b":[1,{"c":null}]} , [true] ,"s\\" , -1.5e3 ,{}"#;
        for step in [1, 2, 3, 7, 64] {
            assert_eq!(
                values(data, step),
                vec![
                    r#"{"a":"x}\"]","b":[1,{"c":null}]}"#,
                    "[true]",
                    r#""s\\""#,
                    "-1.5e3",
                    "{}"
                ],
                "step {step}"
            );
        }
    }

    #[test]
    fn counts_lines_and_positions() {
        let data = b"\n\n  {\"a\":\n1}\n[2]";
        let mut r = io::BufReader::with_capacity(4, Trickle { data, step: 3 });
        let mut sc = Scanner::new(&mut r);
        assert_eq!(sc.skip_ws(None).unwrap(), Some(b'{'));
        assert_eq!((sc.pos, sc.line), (4, 3));
        let mut out = Vec::new();
        sc.read_value(&mut out, 100, false).unwrap();
        assert_eq!(sc.line, 4);
        assert_eq!(sc.skip_ws(None).unwrap(), Some(b'['));
        assert_eq!((sc.pos, sc.line), (13, 5));
    }

    #[test]
    fn too_large_values_are_skipped_but_resynced() {
        let big = format!("[{{\"k\":\"{}\"}},{{\"n\":1}}]", "x".repeat(10_000));
        let mut r = io::BufReader::with_capacity(64, big.as_bytes());
        let mut sc = Scanner::new(&mut r);
        assert_eq!(sc.peek().unwrap(), Some(b'['));
        sc.bump();
        let mut out = Vec::new();
        match sc.read_value(&mut out, 100, false) {
            Err(ScanError::TooLarge { size }) => assert_eq!(size, 10_008),
            other => panic!("{other:?}"),
        }
        assert!(out.is_empty(), "nothing of the dropped value is kept");
        assert_eq!(sc.peek().unwrap(), Some(b','));
        sc.bump();
        sc.read_value(&mut out, 100, false).unwrap();
        assert_eq!(out, br#"{"n":1}"#);
    }

    #[test]
    fn syntax_errors_leave_the_offending_byte() {
        let mut r: &[u8] = b"{\"a\":\"xx\n{\"b\":1}";
        let mut sc = Scanner::new(&mut r);
        let mut out = Vec::new();
        match sc.read_value(&mut out, 100, false) {
            Err(ScanError::Syntax { pos, line, .. }) => assert_eq!((pos, line), (8, 1)),
            other => panic!("{other:?}"),
        }
        assert!(sc.skip_line().unwrap());
        out.clear();
        sc.read_value(&mut out, 100, false).unwrap();
        assert_eq!(out, br#"{"b":1}"#);

        let mut r: &[u8] = b"{\"a\":[1}";
        let mut sc = Scanner::new(&mut r);
        assert!(matches!(
            sc.read_value(&mut out, 100, false),
            Err(ScanError::Syntax {
                msg: "mismatched bracket",
                ..
            })
        ));
        let mut r: &[u8] = b"{\"a\":\n1}";
        let mut sc = Scanner::new(&mut r);
        assert!(matches!(
            sc.read_value(&mut out, 100, true),
            Err(ScanError::Syntax { line: 1, .. })
        ));
        let mut r: &[u8] = b"{\"a\":[1,2";
        let mut sc = Scanner::new(&mut r);
        assert!(matches!(
            sc.read_value(&mut out, 100, false),
            Err(ScanError::Eof)
        ));
        let deep = "[".repeat(MAX_DEPTH + 10);
        let mut r: &[u8] = deep.as_bytes();
        let mut sc = Scanner::new(&mut r);
        assert!(matches!(
            sc.read_value(&mut out, usize::MAX, false),
            Err(ScanError::Syntax {
                msg: "nesting too deep",
                ..
            })
        ));
    }
}
