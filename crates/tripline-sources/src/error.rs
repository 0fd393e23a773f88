//! Errors met while finding and reading inputs. Every error names the file and, when it is
//! about a part of the file, the record number, line and (uncompressed) byte offset.

use std::fmt;
use std::sync::Arc;

/// What went wrong, in a few words. `Display` gives a short stable reason, suitable for
/// grouping errors in a summary ("malformed JSON": 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The path cannot be opened or listed, or reading it failed.
    Io,
    /// A container or encoding we do not read (zip, zstd, UTF-16, ...).
    Unsupported,
    /// The file is not JSON at all (an image, CSV, text).
    NotJson,
    /// A record (or the file structure around it) is not valid JSON.
    MalformedJson,
    /// A record holds bytes that are not UTF-8.
    InvalidUtf8,
    /// An element of the record list is a string, number, array, ...
    NotAnObject,
    /// A record is larger than [`crate::ReadOptions::max_record_bytes`]; it was skipped
    /// without being held in memory.
    TooLarge,
    /// The file ends inside a record (cut short, or a truncated gzip stream).
    Truncated,
    /// The gzip stream is corrupt.
    Decompress,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Io => "unreadable input",
            ErrorKind::Unsupported => "unsupported input",
            ErrorKind::NotJson => "not JSON",
            ErrorKind::MalformedJson => "malformed JSON",
            ErrorKind::InvalidUtf8 => "invalid UTF-8",
            ErrorKind::NotAnObject => "record is not a JSON object",
            ErrorKind::TooLarge => "record too large",
            ErrorKind::Truncated => "truncated input",
            ErrorKind::Decompress => "corrupt gzip",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where in a file an error was found. All optional: a file-level error has none.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Position {
    /// 1-based number of the record (element) concerned.
    pub record: Option<u64>,
    /// 1-based line.
    pub line: Option<u64>,
    /// 0-based byte offset in the (decompressed) content.
    pub byte: Option<u64>,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::with_capacity(3);
        if let Some(r) = self.record {
            parts.push(format!("record {r}"));
        }
        if let Some(l) = self.line {
            parts.push(format!("line {l}"));
        }
        if let Some(b) = self.byte {
            parts.push(format!("byte {b}"));
        }
        if !parts.is_empty() {
            write!(f, " ({})", parts.join(", "))?;
        }
        Ok(())
    }
}

/// One error: the file (`-` for stdin), where in it, what kind, and a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}{position}: {kind}: {message}")]
pub struct SourceError {
    pub file: Arc<str>,
    pub position: Position,
    pub kind: ErrorKind,
    pub message: String,
}

impl SourceError {
    pub fn new(
        file: Arc<str>,
        position: Position,
        kind: ErrorKind,
        message: impl Into<String>,
    ) -> Self {
        SourceError {
            file,
            position,
            kind,
            message: message.into(),
        }
    }

    /// The short reason, for grouping (see [`ErrorKind`]).
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_file_and_position() {
        let e = SourceError::new(
            "a/b.json".into(),
            Position {
                record: Some(3),
                line: Some(7),
                byte: Some(120),
            },
            ErrorKind::MalformedJson,
            "expected `:`",
        );
        assert_eq!(
            e.to_string(),
            "a/b.json (record 3, line 7, byte 120): malformed JSON: expected `:`"
        );
        let e = SourceError::new(
            "x.png".into(),
            Position::default(),
            ErrorKind::NotJson,
            "PNG image",
        );
        assert_eq!(e.to_string(), "x.png: not JSON: PNG image");
        assert_eq!(e.kind().to_string(), "not JSON");
    }
}
