//! Reads CloudTrail in every delivery format into raw JSON records.
//!
//! # Formats (detected per file from content, never from the name)
//! - S3 delivery files `{"Records":[...]}`, plain or gzip (also multi-member gzip, and several
//!   such objects concatenated). The record list is streamed: memory is bounded by the largest
//!   record, not by the file.
//! - CloudTrail-Digest files (`digestStartTime`, `logFiles`, ...): recognised and skipped,
//!   counted in [`FileStats::digests`], not errors.
//! - JSON arrays of records (event-history / Lake exports, anonymised datasets).
//! - `aws cloudtrail lookup-events` output `{"Events":[...]}` and any element carrying the
//!   record as a JSON string (or object) in a `CloudTrailEvent` field: the embedded record is
//!   what is yielded.
//! - NDJSON (one record per line; a malformed line is skipped and reading resumes on the next).
//! - EventBridge events (`"detail-type": "AWS API Call via CloudTrail"` and the other
//!   "... via CloudTrail" types): the `detail` object is the record.
//! - A single record per file; stdin (`-`).
//! - Plain JSON documents that are not CloudTrail-shaped: yielded as [`RecordKind::Document`]
//!   (used by `--input json` for already-normalized documents).
//!
//! # Use
//! ```no_run
//! use tripline_sources::{discover, read_input, Item, ReadOptions};
//! let found = discover(&["AWSLogs/".into()]);
//! for input in &found.inputs {
//!     let stats = read_input(input, &ReadOptions::default(), &mut |item| match item {
//!         Item::Record(rec) => { /* rec.value, rec.origin, rec.kind */ }
//!         Item::Error(e) => eprintln!("{e}"),
//!     });
//!     eprintln!("{}: {} records ({:?})", input, stats.records, stats.format);
//! }
//! ```
//! Each call reads one file on the calling thread; all types are `Send`, so callers
//! parallelise by file (rayon or threads). Bad input never panics: each problem becomes an
//! [`Item::Error`] naming the file and the record / line / byte offset, and reading goes on
//! wherever the next record can still be found.

mod classify;
mod error;
mod gunzip;
mod scan;

use std::cell::Cell;
use std::fmt;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;

pub use error::{ErrorKind, Position, SourceError};
use scan::{ScanError, Scanner};
use serde_json::Value;
pub use tripline_doc::Origin;

/// One input: a file, or stdin.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Input {
    Stdin,
    File(PathBuf),
}

impl Input {
    /// The name used in origins and errors: the path as given, or `-` for stdin.
    pub fn name(&self) -> Arc<str> {
        match self {
            Input::Stdin => Arc::from("-"),
            Input::File(p) => Arc::from(p.to_string_lossy().as_ref()),
        }
    }

    /// Size on disk (compressed), when known; useful to schedule large files first.
    pub fn stored_size(&self) -> Option<u64> {
        match self {
            Input::Stdin => None,
            Input::File(p) => std::fs::metadata(p).ok().map(|m| m.len()),
        }
    }
}

impl fmt::Display for Input {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// What [`discover`] found: the inputs to read, in order, and the paths it could not use.
#[derive(Debug, Default)]
pub struct Discovery {
    pub inputs: Vec<Input>,
    pub errors: Vec<SourceError>,
}

/// Expands paths into inputs: `-` is stdin; a directory is walked recursively (symlinks
/// followed, cycles cut; names starting with `.` skipped inside walked directories) and its
/// files sorted by path, which for `AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/` trees
/// is chronological per region. Files named explicitly are taken as they are. A file reached
/// twice is read once. Which files hold CloudTrail is decided later, from content.
pub fn discover(paths: &[PathBuf]) -> Discovery {
    let mut d = Discovery::default();
    let mut seen = std::collections::HashSet::new();
    let mut stdin = false;
    for p in paths {
        if p.as_os_str() == "-" {
            if !stdin {
                d.inputs.push(Input::Stdin);
                stdin = true;
            }
            continue;
        }
        let meta = match std::fs::metadata(p) {
            Ok(m) => m,
            Err(e) => {
                d.errors.push(io_error(p, "cannot open", &e));
                continue;
            }
        };
        let mut files = Vec::new();
        if meta.is_dir() {
            let mut visited = std::collections::HashSet::new();
            walk(p, &mut files, &mut d.errors, &mut visited);
            files.sort();
        } else {
            files.push(p.clone());
        }
        for f in files {
            let key = std::fs::canonicalize(&f).unwrap_or_else(|_| f.clone());
            if seen.insert(key) {
                d.inputs.push(Input::File(f));
            }
        }
    }
    d
}

fn io_error(p: &Path, what: &str, e: &io::Error) -> SourceError {
    SourceError::new(
        Arc::from(p.to_string_lossy().as_ref()),
        Position::default(),
        ErrorKind::Io,
        format!("{what}: {e}"),
    )
}

fn walk(
    dir: &Path,
    files: &mut Vec<PathBuf>,
    errors: &mut Vec<SourceError>,
    visited: &mut std::collections::HashSet<PathBuf>,
) {
    // Symlinked directories can form cycles: remember where we have been.
    if let Ok(c) = std::fs::canonicalize(dir) {
        if !visited.insert(c) {
            return;
        }
    }
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) => {
            errors.push(io_error(dir, "cannot list directory", &e));
            return;
        }
    };
    let mut entries: Vec<PathBuf> = Vec::new();
    for ent in rd {
        match ent {
            Ok(ent) => {
                if ent.file_name().to_string_lossy().starts_with('.') {
                    continue;
                }
                entries.push(ent.path());
            }
            Err(e) => errors.push(io_error(dir, "cannot list directory", &e)),
        }
    }
    entries.sort();
    for p in entries {
        match std::fs::metadata(&p) {
            Ok(m) if m.is_dir() => walk(&p, files, errors, visited),
            Ok(_) => files.push(p),
            Err(e) => errors.push(io_error(&p, "cannot open", &e)),
        }
    }
}

/// How records are tagged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InputMode {
    /// Per record: CloudTrail when it is CloudTrail-shaped (two of `eventVersion`,
    /// `eventSource`, `eventName`), arrives inside an S3 `Records` list, or comes out of an
    /// EventBridge / `CloudTrailEvent` envelope; otherwise a plain document.
    #[default]
    Auto,
    /// Every object is a CloudTrail record (envelopes are still unwrapped, digests skipped).
    CloudTrail,
    /// Every object is an already-normalized document, taken as it is (no envelope
    /// unwrapping; a `{"Records":[...]}` wrapper is still opened).
    Json,
}

/// Options for reading.
#[derive(Debug, Clone)]
pub struct ReadOptions {
    pub input: InputMode,
    /// Largest record kept, in bytes. Larger records are scanned past without being held in
    /// memory and reported as [`ErrorKind::TooLarge`]; this bounds memory per reading thread.
    /// CloudTrail caps events at 256 KB, so the default (16 MiB) only stops garbage.
    pub max_record_bytes: usize,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            input: InputMode::Auto,
            max_record_bytes: 16 << 20,
        }
    }
}

/// Whether a record is a CloudTrail record (to normalize) or a document taken as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordKind {
    CloudTrail,
    Document,
}

/// One record read from an input. `value` is always a JSON object.
#[derive(Debug, Clone)]
pub struct RawRecord {
    pub value: Value,
    pub origin: Origin,
    pub kind: RecordKind,
}

/// What the reader hands to its sink, in file order.
#[derive(Debug)]
pub enum Item {
    Record(RawRecord),
    Error(SourceError),
}

/// The layout detected for a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// Nothing but whitespace.
    #[default]
    Empty,
    /// `{"Records":[...]}` (S3 delivery).
    S3Records,
    /// `{"Events":[...]}` (`lookup-events` output).
    LookupEvents,
    /// A top-level JSON array of records.
    JsonArray,
    /// Several top-level objects, one per line.
    Ndjson,
    /// One object (a record, an EventBridge event, ...).
    SingleObject,
    /// A CloudTrail-Digest file.
    Digest,
    /// Not something we read (see the error reported).
    Unreadable,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    #[default]
    None,
    Gzip,
}

/// Counts for one input.
#[derive(Debug, Clone, Default)]
pub struct FileStats {
    pub format: Format,
    pub compression: Compression,
    /// Records yielded (both kinds).
    pub records: u64,
    /// Of which tagged [`RecordKind::Document`].
    pub documents: u64,
    /// Records lost to errors (malformed, too large, not an object, ...).
    pub skipped: u64,
    /// Errors reported for this input.
    pub errors: u64,
    /// Digest objects recognised and skipped.
    pub digests: u64,
    /// True when the input was a CloudTrail-Digest file.
    pub digest: bool,
    /// Records taken out of an EventBridge envelope.
    pub eventbridge: u64,
    /// Records taken out of a `CloudTrailEvent` field.
    pub embedded: u64,
    /// Bytes read from the input as stored (compressed size for gzip).
    pub bytes_read: u64,
    /// Bytes of JSON text scanned (after decompression).
    pub bytes_uncompressed: u64,
}

/// Reads one input, calling `sink` for every record and error in file order. Never panics on
/// bad input; an unreadable file gives one [`ErrorKind::Io`] error.
pub fn read_input(input: &Input, opts: &ReadOptions, sink: &mut dyn FnMut(Item)) -> FileStats {
    read_input_to(input, opts, &mut ItemSink(sink))
}

/// Like [`read_input`], but each element of an S3 `{"Records":[...]}` list (the bulk of any
/// real trail) is handed over as its raw JSON bytes, unparsed, so a caller can use a faster
/// parser or extract only the fields it needs. Those bytes are one complete JSON value as
/// delimited by the scanner, but not validated: the caller's parser must reject malformed
/// JSON or invalid UTF-8 (and should report it with the origin given). They are CloudTrail
/// records unless `opts.input` is [`InputMode::Json`] (then everything comes parsed). Every
/// other record (arrays, NDJSON, envelopes, single objects) comes parsed, as
/// [`RawItem::Parsed`].
pub fn read_input_raw(
    input: &Input,
    opts: &ReadOptions,
    sink: &mut dyn FnMut(RawItem<'_>),
) -> FileStats {
    read_input_to(input, opts, &mut RawSink(sink))
}

/// [`read_bytes`] with raw records (see [`read_input_raw`]).
pub fn read_bytes_raw(
    name: &str,
    data: &[u8],
    opts: &ReadOptions,
    sink: &mut dyn FnMut(RawItem<'_>),
) -> FileStats {
    read_memory(Arc::from(name), data, opts, &mut RawSink(sink))
}

/// What [`read_input_raw`] hands to its sink.
#[derive(Debug)]
pub enum RawItem<'a> {
    /// An element of an S3 `Records` list, unparsed (valid only during the call).
    Bytes {
        bytes: &'a [u8],
        origin: Origin,
    },
    /// Any other record, parsed.
    Parsed(RawRecord),
    Error(SourceError),
}

/// An input that could not be read at all: one I/O error for the file.
fn unreadable(name: Arc<str>, sink: &mut dyn Sink, message: String, bytes_read: u64) -> FileStats {
    sink.item(Item::Error(SourceError::new(
        name,
        Position::default(),
        ErrorKind::Io,
        message,
    )));
    FileStats {
        format: Format::Unreadable,
        errors: 1,
        bytes_read,
        ..Default::default()
    }
}

/// Where the driver sends records and errors.
trait Sink {
    fn item(&mut self, it: Item);
    /// Offered each element of an S3 `Records` list before it is parsed; true = taken.
    fn raw(&mut self, _bytes: &[u8], _origin: &Origin) -> bool {
        false
    }
}

struct ItemSink<'a>(&'a mut dyn FnMut(Item));

impl Sink for ItemSink<'_> {
    fn item(&mut self, it: Item) {
        (self.0)(it)
    }
}

struct RawSink<'a>(&'a mut dyn for<'x> FnMut(RawItem<'x>));

impl Sink for RawSink<'_> {
    fn item(&mut self, it: Item) {
        match it {
            Item::Record(r) => (self.0)(RawItem::Parsed(r)),
            Item::Error(e) => (self.0)(RawItem::Error(e)),
        }
    }
    fn raw(&mut self, bytes: &[u8], origin: &Origin) -> bool {
        (self.0)(RawItem::Bytes {
            bytes,
            origin: origin.clone(),
        });
        true
    }
}

fn read_input_to(input: &Input, opts: &ReadOptions, sink: &mut dyn Sink) -> FileStats {
    let name = input.name();
    match input {
        Input::Stdin => {
            let stdin = io::stdin();
            let mut lock = stdin.lock();
            read_named(name, &mut lock, opts, sink)
        }
        Input::File(p) => match std::fs::File::open(p) {
            Ok(mut f) => {
                // A gzip file small enough to hold is read whole and decompressed in one call
                // (see `gunzip`); everything else streams.
                let size = f.metadata().map(|m| m.len()).unwrap_or(u64::MAX);
                if size <= gunzip::MAX_COMPRESSED as u64 && is_gzip_file(&mut f) {
                    let mut data = Vec::with_capacity(size as usize);
                    match f.read_to_end(&mut data) {
                        Ok(_) => return read_memory(name, &data, opts, sink),
                        Err(e) => return unreadable(name, sink, format!("read failed: {e}"), 0),
                    }
                }
                read_named(name, &mut f, opts, sink)
            }
            Err(e) => unreadable(name, sink, format!("cannot open: {e}"), 0),
        },
    }
}

/// Reads content already in memory (tests, chunks handed out by a caller). `name` is used in
/// origins and errors. Gzip is detected as for files.
pub fn read_bytes(
    name: &str,
    data: &[u8],
    opts: &ReadOptions,
    sink: &mut dyn FnMut(Item),
) -> FileStats {
    read_memory(Arc::from(name), data, opts, &mut ItemSink(sink))
}

/// Decompresses a whole gzip file (every member) into `out`: libdeflate in one call when it
/// is a single member within the size limits, else the streaming decoder.
pub fn gunzip(data: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
    if gunzip::gunzip_whole(data, out) {
        return Ok(());
    }
    out.clear();
    flate2::read::MultiGzDecoder::new(data)
        .read_to_end(out)
        .map(|_| ())
}

/// Whether the file starts with the gzip magic; leaves the file position at the start.
fn is_gzip_file(f: &mut std::fs::File) -> bool {
    use std::io::{Seek, SeekFrom};
    let mut head = [0u8; 2];
    let ok = f.read_exact(&mut head).is_ok() && head == GZIP_MAGIC;
    f.seek(SeekFrom::Start(0)).is_ok() && ok
}

thread_local! {
    /// Decompressed-file buffer, reused across the files a thread reads.
    static GUNZIP_BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Reads content held in memory: a complete single-member gzip file is decompressed whole
/// with libdeflate; anything else (plain, multi-member, truncated, corrupt) takes the
/// streaming path, exactly as before.
fn read_memory(name: Arc<str>, data: &[u8], opts: &ReadOptions, sink: &mut dyn Sink) -> FileStats {
    if data.len() >= 2 && data[..2] == GZIP_MAGIC {
        // Take the thread's buffer out (a sink that reads another input meanwhile gets a
        // fresh one), and put it back unless it grew past what is worth keeping.
        let mut buf = GUNZIP_BUF.with(|b| {
            b.try_borrow_mut()
                .map(|mut b| std::mem::take(&mut *b))
                .unwrap_or_default()
        });
        let mut stats = None;
        if gunzip::gunzip_whole(data, &mut buf) {
            let mut r: &[u8] = &buf;
            let mut st = read_json(name.clone(), &mut r, opts, sink, Compression::Gzip);
            st.bytes_read = data.len() as u64;
            stats = Some(st);
        }
        if buf.capacity() <= 64 << 20 {
            buf.clear();
            GUNZIP_BUF.with(|b| {
                if let Ok(mut b) = b.try_borrow_mut() {
                    *b = buf;
                }
            });
        }
        if let Some(st) = stats {
            return st;
        }
    }
    let mut r = data;
    read_named(name, &mut r, opts, sink)
}

/// Reads any byte stream (e.g. an object body being downloaded).
pub fn read_reader(
    name: &str,
    reader: &mut dyn Read,
    opts: &ReadOptions,
    sink: &mut dyn FnMut(Item),
) -> FileStats {
    read_named(Arc::from(name), reader, opts, &mut ItemSink(sink))
}

/// Counts the bytes that pass through, for [`FileStats::bytes_read`].
struct Counting<'a> {
    inner: &'a mut dyn Read,
    count: Rc<Cell<u64>>,
}

impl Read for Counting<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.set(self.count.get() + n as u64);
        Ok(n)
    }
}

/// Fills each read up to a minimum (unless the stream ends), so the first buffer the scanner
/// sees is long enough to recognise a byte-order mark or describe a non-JSON file, whatever
/// the chunking below (the re-inserted sniffed bytes, deflate blocks). An error met after some
/// bytes were read is held back until those bytes are delivered: records decoded before a
/// truncation are kept.
struct Greedy<R> {
    inner: R,
    pending: Option<io::Error>,
}

const GREEDY_MIN: usize = 4096;

impl<R: Read> Read for Greedy<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(e) = self.pending.take() {
            return Err(e);
        }
        let want = buf.len().min(GREEDY_MIN);
        let mut filled = 0;
        while filled < want {
            match self.inner.read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if filled == 0 => return Err(e),
                Err(e) => {
                    self.pending = Some(e);
                    break;
                }
            }
        }
        Ok(filled)
    }
}

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

fn read_named(
    name: Arc<str>,
    raw: &mut dyn Read,
    opts: &ReadOptions,
    sink: &mut dyn Sink,
) -> FileStats {
    let count = Rc::new(Cell::new(0u64));
    let mut counting = Counting {
        inner: raw,
        count: count.clone(),
    };
    // Sniff the first bytes for gzip, then put them back in front of the stream.
    let mut head = [0u8; 2];
    let mut got = 0;
    while got < head.len() {
        match counting.read(&mut head[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return unreadable(name, sink, format!("read failed: {e}"), count.get()),
        }
    }
    let stream = io::Cursor::new(head[..got].to_vec()).chain(counting);
    let gzip = got == 2 && head == GZIP_MAGIC;
    let mut stats = if gzip {
        // MultiGzDecoder: concatenated gzip members are one stream (as `zcat` reads them).
        let dec = flate2::read::MultiGzDecoder::new(stream);
        let mut r = BufReader::with_capacity(
            256 << 10,
            Greedy {
                inner: dec,
                pending: None,
            },
        );
        read_json(name, &mut r, opts, sink, Compression::Gzip)
    } else {
        let mut r = BufReader::with_capacity(
            128 << 10,
            Greedy {
                inner: stream,
                pending: None,
            },
        );
        read_json(name, &mut r, opts, sink, Compression::None)
    };
    stats.bytes_read = count.get();
    stats
}

fn read_json(
    name: Arc<str>,
    r: &mut dyn BufRead,
    opts: &ReadOptions,
    sink: &mut dyn Sink,
    compression: Compression,
) -> FileStats {
    let mut sc = Scanner::new(r);
    let mut d = Driver {
        file: name,
        opts,
        sink,
        stats: FileStats {
            compression,
            ..Default::default()
        },
        record_no: 0,
        line_mode: false,
        top_objects: 0,
        whole: false,
        buf: Vec::with_capacity(16 << 10),
    };
    d.run(&mut sc);
    d.stats.bytes_uncompressed = sc.pos;
    if d.stats.digests > 0 {
        d.stats.digest = true;
        if d.stats.records == 0 && d.stats.format == Format::SingleObject {
            d.stats.format = Format::Digest;
        }
    }
    d.stats
}

/// What happened to a value.
enum Outcome {
    Ok,
    /// The structure is broken at `pos`/`line`; the caller decides whether it can resync.
    Broken {
        msg: &'static str,
        pos: u64,
        line: u64,
    },
    /// Reading this input is over (already reported).
    Stop,
}

/// Where a record was found; decides its kind in [`InputMode::Auto`].
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ctx {
    /// Inside an S3 delivery `Records` list: CloudTrail whatever its shape.
    Records,
    /// Inside `lookup-events` output.
    Events,
    Other,
}

struct Driver<'a> {
    file: Arc<str>,
    opts: &'a ReadOptions,
    sink: &'a mut dyn Sink,
    stats: FileStats,
    record_no: u64,
    /// NDJSON: every value must end on its line, and a broken one is skipped line by line.
    line_mode: bool,
    top_objects: u64,
    /// The top-level value being read is one object read whole (not a record list).
    whole: bool,
    buf: Vec<u8>,
}

impl Driver<'_> {
    fn error(&mut self, kind: ErrorKind, position: Position, message: String) {
        self.stats.errors += 1;
        self.sink.item(Item::Error(SourceError::new(
            self.file.clone(),
            position,
            kind,
            message,
        )));
    }

    fn at(&self, record: Option<u64>, line: u64, byte: u64) -> Position {
        Position {
            record,
            line: Some(line),
            byte: Some(byte),
        }
    }

    /// Reports a scanner failure outside a record (between records, inside a wrapper).
    fn scan_failed(&mut self, e: ScanError, sc: &Scanner) -> Outcome {
        match e {
            ScanError::Syntax { msg, pos, line } => Outcome::Broken { msg, pos, line },
            ScanError::Eof => {
                let pos = self.at(None, sc.line, sc.pos);
                self.error(
                    ErrorKind::Truncated,
                    pos,
                    format!(
                        "input ends inside the JSON structure (after record {})",
                        self.record_no
                    ),
                );
                Outcome::Stop
            }
            ScanError::Io(e) => {
                self.io_failed(e, sc);
                Outcome::Stop
            }
            ScanError::TooLarge { size } => {
                let pos = self.at(None, sc.line, sc.pos);
                self.error(
                    ErrorKind::TooLarge,
                    pos,
                    format!(
                        "a {size}-byte value is larger than the {}-byte limit",
                        self.opts.max_record_bytes
                    ),
                );
                Outcome::Ok
            }
        }
    }

    fn io_failed(&mut self, e: io::Error, sc: &Scanner) {
        let pos = self.at(None, sc.line, sc.pos);
        match self.stats.compression {
            Compression::Gzip => {
                let kind = if e.kind() == io::ErrorKind::UnexpectedEof {
                    ErrorKind::Truncated
                } else {
                    ErrorKind::Decompress
                };
                let what = if kind == ErrorKind::Truncated {
                    "gzip stream is truncated"
                } else {
                    "gzip stream is corrupt"
                };
                let n = self.record_no;
                self.error(kind, pos, format!("{what} ({e}); the {n} record(s) before this point were read, the rest is lost"));
            }
            Compression::None => self.error(ErrorKind::Io, pos, format!("read failed: {e}")),
        }
    }

    fn run(&mut self, sc: &mut Scanner) {
        // A UTF-8 byte-order mark is harmless; UTF-16 is not JSON we can read as bytes.
        match sc.peek_some(3) {
            Ok(h) if h.starts_with(&[0xEF, 0xBB, 0xBF]) => {
                for _ in 0..3 {
                    sc.bump();
                }
            }
            Ok(h) if h.starts_with(&[0xFF, 0xFE]) || h.starts_with(&[0xFE, 0xFF]) => {
                self.stats.format = Format::Unreadable;
                self.error(
                    ErrorKind::Unsupported,
                    Position::default(),
                    "UTF-16 text (convert it to UTF-8)".into(),
                );
                return;
            }
            Ok(_) => {}
            Err(e) => {
                self.scan_failed(e, sc);
                return;
            }
        }
        let mut values = 0u64;
        loop {
            let b = match sc.skip_ws(None) {
                Ok(Some(b)) => b,
                Ok(None) => break,
                Err(e) => {
                    self.scan_failed(e, sc);
                    break;
                }
            };
            let start_line = sc.line;
            let errors_before = self.stats.errors;
            self.whole = b != b'[';
            let outcome = match b {
                b'[' => {
                    if values == 0 {
                        self.stats.format = Format::JsonArray;
                    }
                    sc.bump();
                    self.elements(sc, Ctx::Other)
                }
                b'{' => self.top_object(sc),
                _ if values == 0 => {
                    self.not_json(sc);
                    return;
                }
                _ => {
                    // A scalar or garbage between top-level values: read it as a record so the
                    // error says what it is, and so NDJSON can resume after it.
                    self.element(sc, Ctx::Other)
                }
            };
            values += 1;
            match outcome {
                Outcome::Ok => {
                    // One complete object on one line: this is NDJSON (or S3 files one per
                    // line); from now on a broken line can be skipped.
                    if b == b'{' && sc.line == start_line {
                        self.line_mode = true;
                    }
                    // A line that held a bad value: whatever else it holds is not trusted.
                    if self.line_mode && self.stats.errors > errors_before {
                        match sc.skip_line() {
                            Ok(true) => {}
                            Ok(false) => return,
                            Err(e) => {
                                self.scan_failed(e, sc);
                                return;
                            }
                        }
                    }
                }
                Outcome::Stop => return,
                Outcome::Broken { msg, pos, line } => {
                    // A value broken on the line it started on is almost surely one NDJSON
                    // line cut short: resync on the next line. Elsewhere we cannot know where
                    // the next record starts.
                    let resync = self.line_mode || (self.whole && b == b'{' && line == start_line);
                    let position = self.at(Some(self.record_no.max(1)), line, pos);
                    if resync {
                        self.line_mode = true;
                        self.error(
                            ErrorKind::MalformedJson,
                            position,
                            format!("{msg}; skipped to the next line"),
                        );
                        match sc.skip_line() {
                            Ok(true) => continue,
                            Ok(false) => return,
                            Err(e) => {
                                self.scan_failed(e, sc);
                                return;
                            }
                        }
                    } else {
                        self.error(
                            ErrorKind::MalformedJson,
                            position,
                            format!("{msg}; the rest of the file cannot be read reliably and was skipped"),
                        );
                        return;
                    }
                }
            }
        }
    }

    /// The file does not start with `{` or `[`: say what it looks like, once.
    fn not_json(&mut self, sc: &mut Scanner) {
        self.stats.format = Format::Unreadable;
        let head = sc.peek_some(64).unwrap_or_default();
        let (kind, msg) = classify::describe_non_json(&head);
        let pos = self.at(None, sc.line, sc.pos);
        self.error(kind, pos, msg);
    }

    /// A top-level object: a `Records`/`Events` wrapper (streamed), or one record or
    /// document (read whole, bounded by the record limit).
    fn top_object(&mut self, sc: &mut Scanner) -> Outcome {
        let (start_pos, start_line) = (sc.pos, sc.line);
        let limit = self.opts.max_record_bytes;
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        let outcome = self.top_object_inner(sc, &mut buf, limit, start_pos, start_line);
        self.buf = buf;
        outcome
    }

    fn top_object_inner(
        &mut self,
        sc: &mut Scanner,
        buf: &mut Vec<u8>,
        limit: usize,
        start_pos: u64,
        start_line: u64,
    ) -> Outcome {
        macro_rules! scan {
            ($e:expr) => {
                match $e {
                    Ok(v) => v,
                    Err(e) => return self.scan_failed(e, sc),
                }
            };
        }
        sc.bump();
        buf.push(b'{');
        // Look at the first key: a wrapper is streamed, anything else is read whole.
        if scan!(sc.skip_ws(Some(buf))) == Some(b'"') {
            let key_at = buf.len();
            match sc.read_value(buf, 1 << 16, self.line_mode) {
                Ok(_) => {}
                Err(e) => {
                    self.record_no += 1; // this object is the record that failed
                    return self.record_scan_failed(e, sc, start_pos, start_line);
                }
            }
            let key = serde_json::from_slice::<String>(&buf[key_at..]).unwrap_or_default();
            if (key == "Records" || key == "Events") && scan!(sc.skip_ws(Some(buf))) == Some(b':') {
                sc.bump();
                buf.push(b':');
                if scan!(sc.skip_ws(Some(buf))) == Some(b'[') {
                    return self.wrapper(sc, &key);
                }
            }
        }
        // One object: read the rest of it and treat it as a record.
        self.top_objects += 1;
        if self.top_objects == 1 && self.stats.format == Format::Empty {
            self.stats.format = Format::SingleObject;
        } else if self.stats.format == Format::SingleObject {
            self.stats.format = Format::Ndjson;
        }
        self.record_no += 1;
        let already = buf.len();
        match sc.read_object_rest(buf, limit, self.line_mode, already) {
            Ok(_) => {
                let origin = self.origin(start_line);
                self.parse_and_emit(buf, start_pos, start_line, origin, Ctx::Other);
                Outcome::Ok
            }
            Err(e) => self.record_scan_failed(e, sc, start_pos, start_line),
        }
    }

    /// Inside `{"Records": [` (or `Events`): stream the list, then read the rest of the
    /// wrapper (other keys are skipped; another record list is streamed too).
    fn wrapper(&mut self, sc: &mut Scanner, key: &str) -> Outcome {
        self.whole = false;
        macro_rules! scan {
            ($e:expr) => {
                match $e {
                    Ok(v) => v,
                    Err(e) => return self.scan_failed(e, sc),
                }
            };
        }
        if matches!(
            self.stats.format,
            Format::Empty | Format::SingleObject | Format::Ndjson
        ) {
            self.stats.format = if key == "Records" {
                Format::S3Records
            } else {
                Format::LookupEvents
            };
        }
        let mut key = key.to_string();
        loop {
            // At the `[` of a record list.
            sc.bump();
            let ctx = if key == "Records" {
                Ctx::Records
            } else {
                Ctx::Events
            };
            match self.elements(sc, ctx) {
                Outcome::Ok => {}
                other => return other,
            }
            // The rest of the wrapper object.
            loop {
                match scan!(sc.skip_ws_in_line(self.line_mode)) {
                    Some(b'}') => {
                        sc.bump();
                        return Outcome::Ok;
                    }
                    Some(b',') => sc.bump(),
                    Some(_) => {
                        return Outcome::Broken {
                            msg: "expected ',' or '}' in the object around the records",
                            pos: sc.pos,
                            line: sc.line,
                        }
                    }
                    None => return self.scan_failed(ScanError::Eof, sc),
                }
                let mut kb = Vec::new();
                if scan!(sc.skip_ws_in_line(self.line_mode)) != Some(b'"') {
                    return Outcome::Broken {
                        msg: "expected a key",
                        pos: sc.pos,
                        line: sc.line,
                    };
                }
                scan!(sc.read_value(&mut kb, 1 << 16, self.line_mode));
                key = serde_json::from_slice::<String>(&kb).unwrap_or_default();
                if scan!(sc.skip_ws_in_line(self.line_mode)) != Some(b':') {
                    return Outcome::Broken {
                        msg: "expected ':' after a key",
                        pos: sc.pos,
                        line: sc.line,
                    };
                }
                sc.bump();
                let next = scan!(sc.skip_ws_in_line(self.line_mode));
                if (key == "Records" || key == "Events") && next == Some(b'[') {
                    break; // stream this list too
                }
                // Other keys (NextToken, ...) are not records: skip the value.
                kb.clear();
                match sc.read_value(&mut kb, 1 << 16, self.line_mode) {
                    Ok(_) | Err(ScanError::TooLarge { .. }) => {}
                    Err(e) => return self.scan_failed(e, sc),
                }
            }
        }
    }

    /// The elements of a list, after its `[`, through its `]`.
    fn elements(&mut self, sc: &mut Scanner, ctx: Ctx) -> Outcome {
        macro_rules! scan {
            ($e:expr) => {
                match $e {
                    Ok(v) => v,
                    Err(e) => return self.scan_failed(e, sc),
                }
            };
        }
        match scan!(sc.skip_ws_in_line(self.line_mode)) {
            Some(b']') => {
                sc.bump();
                return Outcome::Ok;
            }
            None => return self.truncated_list(sc),
            _ => {}
        }
        loop {
            match self.element(sc, ctx) {
                Outcome::Ok => {}
                other => return other,
            }
            match scan!(sc.skip_ws_in_line(self.line_mode)) {
                Some(b',') => {
                    sc.bump();
                    match scan!(sc.skip_ws_in_line(self.line_mode)) {
                        // A trailing comma: not JSON, but nothing is lost by accepting it.
                        Some(b']') => {
                            sc.bump();
                            return Outcome::Ok;
                        }
                        None => return self.truncated_list(sc),
                        _ => {}
                    }
                }
                Some(b']') => {
                    sc.bump();
                    return Outcome::Ok;
                }
                Some(b'{') => {
                    // Two records with no comma between them (seen in hand-edited exports):
                    // report it, and read on since the next record's start is certain.
                    let pos = self.at(Some(self.record_no + 1), sc.line, sc.pos);
                    self.error(
                        ErrorKind::MalformedJson,
                        pos,
                        format!(
                            "missing ',' between records {} and {}; reading on",
                            self.record_no,
                            self.record_no + 1
                        ),
                    );
                }
                Some(b'\n') => {
                    return Outcome::Broken {
                        msg: "the record list continues past the end of its line",
                        pos: sc.pos,
                        line: sc.line,
                    }
                }
                Some(_) => {
                    return Outcome::Broken {
                        msg: "expected ',' or ']' after a record",
                        pos: sc.pos,
                        line: sc.line,
                    }
                }
                None => return self.truncated_list(sc),
            }
        }
    }

    fn truncated_list(&mut self, sc: &Scanner) -> Outcome {
        let pos = self.at(None, sc.line, sc.pos);
        let n = self.record_no;
        self.error(
            ErrorKind::Truncated,
            pos,
            format!("input ends inside the record list (after record {n}): the file is cut short"),
        );
        Outcome::Stop
    }

    fn origin(&self, line: u64) -> Origin {
        Origin {
            file: self.file.clone(),
            record: self.record_no,
            line: Some(line),
        }
    }

    /// One list element (or stray top-level value).
    fn element(&mut self, sc: &mut Scanner, ctx: Ctx) -> Outcome {
        self.record_no += 1;
        let (start_pos, start_line) = (sc.pos, sc.line);
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        let outcome = match sc.read_value(&mut buf, self.opts.max_record_bytes, self.line_mode) {
            Ok(_) => {
                let origin = self.origin(start_line);
                if ctx == Ctx::Records
                    && self.opts.input != InputMode::Json
                    && self.sink.raw(&buf, &origin)
                {
                    self.stats.records += 1;
                } else {
                    self.parse_and_emit(&buf, start_pos, start_line, origin, ctx);
                }
                Outcome::Ok
            }
            Err(e) => self.record_scan_failed(e, sc, start_pos, start_line),
        };
        self.buf = buf;
        outcome
    }

    /// A failure while cutting out record `self.record_no`.
    fn record_scan_failed(
        &mut self,
        e: ScanError,
        sc: &Scanner,
        start_pos: u64,
        start_line: u64,
    ) -> Outcome {
        self.stats.skipped += 1;
        let rec = Some(self.record_no);
        match e {
            ScanError::TooLarge { size } => {
                let pos = self.at(rec, start_line, start_pos);
                let lim = self.opts.max_record_bytes;
                self.error(
                    ErrorKind::TooLarge,
                    pos,
                    format!("the record is {size} bytes, over the {lim}-byte limit; skipped"),
                );
                Outcome::Ok
            }
            ScanError::Syntax { msg, pos, line } => Outcome::Broken { msg, pos, line },
            ScanError::Eof => {
                let pos = self.at(rec, start_line, start_pos);
                self.error(
                    ErrorKind::Truncated,
                    pos,
                    "input ends inside this record: the file is cut short".into(),
                );
                Outcome::Stop
            }
            ScanError::Io(e) => {
                self.io_failed(e, sc);
                Outcome::Stop
            }
        }
    }

    /// Parses one cut-out value and hands on what it holds.
    fn parse_and_emit(
        &mut self,
        bytes: &[u8],
        start_pos: u64,
        start_line: u64,
        origin: Origin,
        ctx: Ctx,
    ) {
        match serde_json::from_slice::<Value>(bytes) {
            Ok(v) => self.emit(v, origin, ctx, 0),
            Err(e) => {
                self.stats.skipped += 1;
                let rec = Some(origin.record);
                if let Err(u) = std::str::from_utf8(bytes) {
                    let off = u.valid_up_to();
                    let line =
                        start_line + memchr::memchr_iter(b'\n', &bytes[..off]).count() as u64;
                    let pos = self.at(rec, line, start_pos + off as u64);
                    self.error(
                        ErrorKind::InvalidUtf8,
                        pos,
                        format!(
                            "byte 0x{:02x} is not valid UTF-8; record skipped",
                            bytes[off]
                        ),
                    );
                } else {
                    let (line, off) = locate(bytes, e.line(), e.column());
                    let pos = self.at(rec, start_line + line - 1, start_pos + off as u64);
                    self.error(
                        ErrorKind::MalformedJson,
                        pos,
                        format!("{}; record skipped", strip_serde_position(&e)),
                    );
                }
            }
        }
    }

    fn emit(&mut self, v: Value, origin: Origin, ctx: Ctx, depth: u8) {
        let map = match v {
            Value::Object(m) => m,
            other => {
                self.stats.skipped += 1;
                let pos = Position {
                    record: Some(origin.record),
                    line: origin.line,
                    byte: None,
                };
                self.error(
                    ErrorKind::NotAnObject,
                    pos,
                    format!(
                        "the record is a JSON {}, not an object; skipped",
                        classify::type_name(&other)
                    ),
                );
                return;
            }
        };
        if classify::is_digest(&map) {
            self.stats.digests += 1;
            return;
        }
        let mode = self.opts.input;
        // A record list nested in a value read whole (`{"x":1,"Records":[...]}`, or an array
        // of delivery files): open it.
        if depth == 0 && !classify::is_cloudtrail_shaped(&map) {
            for key in ["Records", "Events"] {
                if let Some(Value::Array(_)) = map.get(key) {
                    let mut map = map;
                    let Some(Value::Array(items)) = map.remove(key) else {
                        return;
                    };
                    let inner_ctx = if key == "Records" {
                        Ctx::Records
                    } else {
                        Ctx::Events
                    };
                    for (i, item) in items.into_iter().enumerate() {
                        if i > 0 {
                            self.record_no += 1;
                        }
                        let o = Origin {
                            record: self.record_no,
                            ..origin.clone()
                        };
                        self.emit(item, o, inner_ctx, depth + 1);
                    }
                    return;
                }
            }
        }
        if mode == InputMode::Json {
            self.push(Value::Object(map), origin, RecordKind::Document);
            return;
        }
        match classify::unwrap_envelope(map) {
            classify::Unwrapped::EventBridge(rec) => {
                self.stats.eventbridge += 1;
                self.push(Value::Object(rec), origin, RecordKind::CloudTrail);
            }
            classify::Unwrapped::Embedded(rec) => {
                self.stats.embedded += 1;
                self.push(Value::Object(rec), origin, RecordKind::CloudTrail);
            }
            classify::Unwrapped::BadEmbedded(msg) => {
                self.stats.skipped += 1;
                let pos = Position {
                    record: Some(origin.record),
                    line: origin.line,
                    byte: None,
                };
                self.error(
                    ErrorKind::MalformedJson,
                    pos,
                    format!("the CloudTrailEvent field {msg}; record skipped"),
                );
            }
            classify::Unwrapped::Plain(map) => {
                let ct = mode == InputMode::CloudTrail
                    || matches!(ctx, Ctx::Records | Ctx::Events)
                    || classify::is_cloudtrail_shaped(&map);
                let kind = if ct {
                    RecordKind::CloudTrail
                } else {
                    RecordKind::Document
                };
                self.push(Value::Object(map), origin, kind);
            }
        }
    }

    fn push(&mut self, value: Value, origin: Origin, kind: RecordKind) {
        self.stats.records += 1;
        if kind == RecordKind::Document {
            self.stats.documents += 1;
        }
        self.sink.item(Item::Record(RawRecord {
            value,
            origin,
            kind,
        }));
    }
}

/// serde_json reports (line, column) inside the value; turn that into (line, byte offset).
fn locate(bytes: &[u8], line: usize, column: usize) -> (u64, usize) {
    let line = line.max(1);
    let mut off = 0usize;
    for _ in 1..line {
        match memchr::memchr(b'\n', &bytes[off..]) {
            Some(i) => off += i + 1,
            None => break,
        }
    }
    (
        (line as u64).max(1),
        (off + column.saturating_sub(1)).min(bytes.len()),
    )
}

/// serde_json's message without its " at line L column C" (relative to the record, so
/// misleading next to our absolute position).
fn strip_serde_position(e: &serde_json::Error) -> String {
    let s = e.to_string();
    match s.rfind(" at line ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

#[cfg(test)]
mod tests;
