//! Tests for each format and each kind of bad input, on data written here.

use super::*;
use crate::{read_bytes_raw, RawItem};
use flate2::write::GzEncoder;
use serde_json::json;
use std::io::Write;

fn rec(name: &str, n: u64) -> Value {
    json!({
        "eventVersion": "1.08",
        "userIdentity": {"type": "IAMUser", "arn": format!("arn:aws:iam::111122223333:user/u{n}"), "sessionContext": {"attributes": {"mfaAuthenticated": "false"}}},
        "eventTime": "2024-01-01T00:00:00Z",
        "eventSource": "iam.amazonaws.com",
        "eventName": name,
        "eventID": format!("id-{n}"),
    })
}

fn gz(data: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

struct Out {
    records: Vec<RawRecord>,
    errors: Vec<SourceError>,
    stats: FileStats,
}

impl Out {
    fn names(&self) -> Vec<String> {
        self.records
            .iter()
            .map(|r| r.value["eventName"].as_str().unwrap_or("?").to_string())
            .collect()
    }
    fn kinds(&self) -> Vec<ErrorKind> {
        self.errors.iter().map(|e| e.kind).collect()
    }
}

fn read_with(name: &str, data: &[u8], opts: &ReadOptions) -> Out {
    let mut records = Vec::new();
    let mut errors = Vec::new();
    let stats = read_bytes(name, data, opts, &mut |it| match it {
        Item::Record(r) => records.push(r),
        Item::Error(e) => errors.push(e),
    });
    // Every error names the file.
    for e in &errors {
        assert_eq!(&*e.file, name);
        assert!(e.to_string().starts_with(name));
    }
    assert_eq!(stats.errors, errors.len() as u64);
    assert_eq!(stats.records, records.len() as u64);
    Out {
        records,
        errors,
        stats,
    }
}

fn read(data: &[u8]) -> Out {
    read_with("t.json", data, &ReadOptions::default())
}

fn s3_file(names: &[&str]) -> Vec<u8> {
    let recs: Vec<Value> = names
        .iter()
        .enumerate()
        .map(|(i, n)| rec(n, i as u64))
        .collect();
    serde_json::to_vec(&json!({ "Records": recs })).unwrap()
}

#[test]
fn s3_delivery_plain_and_gzip() {
    let data = s3_file(&["A", "B", "C"]);
    for (bytes, comp) in [
        (data.clone(), Compression::None),
        (gz(&data), Compression::Gzip),
    ] {
        let o = read(&bytes);
        assert_eq!(o.names(), ["A", "B", "C"]);
        assert!(o.errors.is_empty(), "{:?}", o.errors);
        assert_eq!(o.stats.format, Format::S3Records);
        assert_eq!(o.stats.compression, comp);
        assert_eq!(o.stats.bytes_read, bytes.len() as u64);
        assert_eq!(o.stats.bytes_uncompressed, data.len() as u64);
        assert!(o.records.iter().all(|r| r.kind == RecordKind::CloudTrail));
        let idx: Vec<u64> = o.records.iter().map(|r| r.origin.record).collect();
        assert_eq!(idx, [1, 2, 3]);
        assert_eq!(o.records[2].value, rec("C", 2));
    }
}

#[test]
fn multi_member_gzip_and_concatenated_files() {
    let mut data = gz(&s3_file(&["A", "B"]));
    data.extend(gz(b"\n"));
    data.extend(gz(&s3_file(&["C"])));
    let o = read(&data);
    assert_eq!(o.names(), ["A", "B", "C"]);
    assert!(o.errors.is_empty(), "{:?}", o.errors);
}

#[test]
fn records_key_not_first_and_records_with_odd_shapes() {
    // Keys around the list are skipped; inside `Records` everything is CloudTrail.
    let data = br#"{"Version": {"a": [1, "]"]}, "Records": [{"eventName": "A"}], "Trailer": "x"}"#;
    let o = read(data);
    assert_eq!(o.names(), ["A"]);
    assert!(o.errors.is_empty(), "{:?}", o.errors);
    assert_eq!(o.records[0].kind, RecordKind::CloudTrail);
    // `Records` first, pretty-printed, with whitespace everywhere.
    let data = b"{\n  \"Records\" :\n [\n  {\"eventName\": \"A\"} ,\n  {\"eventName\": \"B\"}\n ] ,\n \"x\": null\n}\n";
    let o = read(data);
    assert_eq!(o.names(), ["A", "B"]);
    assert_eq!(o.records[1].origin.line, Some(5));
    assert!(o.errors.is_empty(), "{:?}", o.errors);
    let o = read(br#"{"Records": []}"#);
    assert_eq!(
        (o.records.len(), o.errors.len(), o.stats.format),
        (0, 0, Format::S3Records)
    );
}

#[test]
fn digest_files_are_counted_not_errors() {
    let digest = json!({
        "awsAccountId": "111122223333", "digestStartTime": "2024-01-01T00:00:00Z", "digestEndTime": "2024-01-01T01:00:00Z",
        "digestSignatureAlgorithm": "SHA256withRSA", "logFiles": [{"s3Object": "a.json.gz", "hashValue": "00"}]
    });
    let o = read(&gz(&serde_json::to_vec(&digest).unwrap()));
    assert!(o.records.is_empty() && o.errors.is_empty());
    assert_eq!(
        (o.stats.digests, o.stats.digest, o.stats.format),
        (1, true, Format::Digest)
    );
}

#[test]
fn json_array_export_mixed_kinds() {
    let data = serde_json::to_vec(
        &json!([rec("A", 1), {"event": {"action": "x"}, "message": "hi"}, rec("B", 2)]),
    )
    .unwrap();
    let o = read(&data);
    assert_eq!(o.stats.format, Format::JsonArray);
    let kinds: Vec<RecordKind> = o.records.iter().map(|r| r.kind).collect();
    assert_eq!(
        kinds,
        [
            RecordKind::CloudTrail,
            RecordKind::Document,
            RecordKind::CloudTrail
        ]
    );
    assert_eq!(o.stats.documents, 1);
    // Forced modes.
    let o = read_with(
        "t.json",
        &data,
        &ReadOptions {
            input: InputMode::CloudTrail,
            ..Default::default()
        },
    );
    assert!(o.records.iter().all(|r| r.kind == RecordKind::CloudTrail));
    let o = read_with(
        "t.json",
        &data,
        &ReadOptions {
            input: InputMode::Json,
            ..Default::default()
        },
    );
    assert!(o.records.iter().all(|r| r.kind == RecordKind::Document));
}

#[test]
fn lookup_events_and_console_exports() {
    let inner = serde_json::to_string(&rec("ConsoleLogin", 1)).unwrap();
    let data = serde_json::to_vec(&json!({
        "Events": [{"EventId": "id-1", "EventName": "ConsoleLogin", "CloudTrailEvent": inner}],
        "NextToken": "abc"
    }))
    .unwrap();
    let o = read(&data);
    assert_eq!(o.stats.format, Format::LookupEvents);
    assert_eq!(o.names(), ["ConsoleLogin"]);
    assert_eq!(o.records[0].value, rec("ConsoleLogin", 1));
    assert_eq!(o.stats.embedded, 1);
    // The same elements as a bare array, one of them with a broken embedded record.
    let data = serde_json::to_vec(&json!([
        {"EventId": "1", "CloudTrailEvent": inner},
        {"EventId": "2", "CloudTrailEvent": "{\"eventName\": "},
    ]))
    .unwrap();
    let o = read(&data);
    assert_eq!(o.names(), ["ConsoleLogin"]);
    assert_eq!(o.kinds(), [ErrorKind::MalformedJson]);
    assert_eq!(o.errors[0].position.record, Some(2));
    assert!(o.errors[0].message.contains("CloudTrailEvent"));
}

#[test]
fn ndjson_lines_and_origins() {
    let mut data = Vec::new();
    for (i, n) in ["A", "B", "C"].iter().enumerate() {
        data.extend(serde_json::to_vec(&rec(n, i as u64)).unwrap());
        data.extend(b"\r\n");
        if i == 0 {
            data.extend(b"\n"); // blank lines are fine
        }
    }
    let o = read(&data);
    assert_eq!(o.stats.format, Format::Ndjson);
    assert_eq!(o.names(), ["A", "B", "C"]);
    let lines: Vec<Option<u64>> = o.records.iter().map(|r| r.origin.line).collect();
    assert_eq!(lines, [Some(1), Some(3), Some(4)]);
    assert_eq!(o.records[2].origin.record, 3);
}

#[test]
fn eventbridge_events() {
    let ev = json!({"version": "0", "id": "e1", "detail-type": "AWS API Call via CloudTrail", "source": "aws.iam", "detail": rec("CreateUser", 1)});
    let o = read(&serde_json::to_vec_pretty(&ev).unwrap());
    assert_eq!(o.stats.format, Format::SingleObject);
    assert_eq!(o.records.len(), 1);
    assert_eq!(o.records[0].value, rec("CreateUser", 1));
    assert_eq!(o.records[0].kind, RecordKind::CloudTrail);
    assert_eq!(o.stats.eventbridge, 1);
    // NDJSON of EventBridge events, as a Firehose or archive would write them.
    let line = serde_json::to_string(&ev).unwrap();
    let o = read(format!("{line}\n{line}\n").as_bytes());
    assert_eq!(
        (o.records.len(), o.stats.eventbridge, o.stats.format),
        (2, 2, Format::Ndjson)
    );
}

#[test]
fn single_record_and_empty_file() {
    let o = read(&serde_json::to_vec_pretty(&rec("A", 1)).unwrap());
    assert_eq!(
        (o.names(), o.stats.format),
        (vec!["A".to_string()], Format::SingleObject)
    );
    assert_eq!(o.records[0].origin.line, Some(1));
    let o = read(b"\xEF\xBB\xBF{\"eventName\":\"A\",\"eventSource\":\"s\"}");
    assert_eq!(o.names(), ["A"]);
    let o = read(b"  \n ");
    assert_eq!(
        (o.records.len(), o.errors.len(), o.stats.format),
        (0, 0, Format::Empty)
    );
    let o = read(b"{}");
    assert_eq!(
        (o.records.len(), o.records[0].kind),
        (1, RecordKind::Document)
    );
}

#[test]
fn malformed_record_in_array_is_skipped() {
    let data =
        b"[{\"eventName\":\"A\",\"eventSource\":\"s\"},\n {\"eventName\":\"B\" \"x\":1},\n {\"eventName\":\"C\",\"eventSource\":\"s\"}]";
    let o = read(data);
    assert_eq!(o.names(), ["A", "C"]);
    assert_eq!(o.kinds(), [ErrorKind::MalformedJson]);
    let p = o.errors[0].position;
    assert_eq!((p.record, p.line), (Some(2), Some(2)));
    // The byte offset points into the bad record, at or after its start.
    let start = data.iter().position(|&b| b == b'\n').unwrap() as u64 + 2;
    assert!(
        p.byte.unwrap() >= start && p.byte.unwrap() < start + 30,
        "{p:?}"
    );
    assert_eq!(o.stats.skipped, 1);
}

#[test]
fn records_list_broken_structure_keeps_earlier_records() {
    // A mismatched bracket: where the next record starts is unknowable.
    let data = br#"{"Records":[{"eventName":"A"},{"eventName":"B","x":[1}},{"eventName":"C"}]}"#;
    let o = read(data);
    assert_eq!(o.names(), ["A"]);
    assert_eq!(o.kinds(), [ErrorKind::MalformedJson]);
    assert!(
        o.errors[0].message.contains("rest of the file"),
        "{}",
        o.errors[0]
    );
    assert_eq!(o.errors[0].position.record, Some(2));
    // Garbage between records.
    let o = read(br#"[{"eventName":"A","eventSource":"s"} x {"eventName":"B"}]"#);
    assert_eq!(o.names(), ["A"]);
    assert_eq!(o.kinds(), [ErrorKind::MalformedJson]);
}

#[test]
fn missing_comma_between_records_reads_on() {
    let data =
        b"{\"Records\": [\n{\"eventName\":\"A\"}\n{\"eventName\":\"B\"},\n{\"eventName\":\"C\"}]}";
    let o = read(data);
    assert_eq!(o.names(), ["A", "B", "C"]);
    assert_eq!(o.kinds(), [ErrorKind::MalformedJson]);
    assert_eq!(o.errors[0].position.line, Some(3));
    assert!(o.errors[0].message.contains("missing ','"));
}

#[test]
fn ndjson_bad_lines_resync_on_next_line() {
    let good = |n: &str| serde_json::to_string(&rec(n, 0)).unwrap();
    let cut = &good("B")[..40]; // ends inside a string
    let unbalanced = r#"{"eventName":"C","eventSource":"s","x":{"y":1}"#;
    let data = format!(
        "{}\n{}\n{}\n{}\n{{\"eventName\":\"E\" \"eventSource\":\"s\"}}\n[{{\"eventName\":\"X\",\"eventSource\":\"s\"}},\nnot json\n{}\n",
        good("A"),
        cut,
        unbalanced,
        good("D"),
        good("F")
    );
    let o = read(data.as_bytes());
    // Records before a break on the same line are kept.
    assert_eq!(o.names(), ["A", "D", "X", "F"]);
    let lines: Vec<Option<u64>> = o.errors.iter().map(|e| e.position.line).collect();
    assert_eq!(
        lines,
        [Some(2), Some(3), Some(5), Some(6), Some(7)],
        "{:#?}",
        o.errors
    );
    assert_eq!(o.records[2].origin.line, Some(6));
    assert_eq!(o.records[3].origin.line, Some(8));
    // The first line itself cut short.
    let data = format!("{}\n{}\n", cut, good("A"));
    let o = read(data.as_bytes());
    assert_eq!(o.names(), ["A"]);
    assert_eq!(o.errors.len(), 1);
}

#[test]
fn truncated_gzip_keeps_records_before_the_cut() {
    let names: Vec<String> = (0..2000).map(|i| format!("E{i}")).collect();
    let refs: Vec<&str> = names.iter().map(|s| s.as_str()).collect();
    let full = gz(&s3_file(&refs));
    let cut = &full[..full.len() / 2];
    let o = read(cut);
    assert!(
        !o.records.is_empty() && o.records.len() < 2000,
        "{}",
        o.records.len()
    );
    // What was read is exactly the first records, in order.
    for (i, r) in o.records.iter().enumerate() {
        assert_eq!(r.value["eventName"], format!("E{i}"));
    }
    assert_eq!(o.kinds(), [ErrorKind::Truncated]);
    assert!(o.errors[0].message.contains("truncated"), "{}", o.errors[0]);
    assert!(o.errors[0].position.byte.is_some());
}

#[test]
fn corrupt_gzip_is_reported() {
    let mut data = gz(&s3_file(&["A"; 50]));
    let n = data.len();
    for b in &mut data[20..n - 10] {
        *b ^= 0x5a;
    }
    let o = read(&data);
    assert_eq!(o.errors.len(), 1, "{:?}", o.errors);
    assert!(
        matches!(
            o.errors[0].kind,
            ErrorKind::Decompress | ErrorKind::Truncated
        ),
        "{:?}",
        o.errors[0]
    );
    // A gzip header and nothing else.
    let o = read(&[0x1f, 0x8b]);
    assert_eq!(o.errors.len(), 1, "{:?}", o.errors);
}

#[test]
fn file_ends_inside_a_record() {
    let data = s3_file(&["A", "B"]);
    let o = read(&data[..data.len() - 10]);
    assert_eq!(o.names(), ["A"]);
    assert_eq!(o.kinds(), [ErrorKind::Truncated]);
    assert_eq!(o.errors[0].position.record, Some(2));
    let o = read(&data[..data.len() - 2]); // cut after the last record: `}` `]` missing
    assert_eq!(o.names(), ["A", "B"]);
    assert_eq!(o.kinds(), [ErrorKind::Truncated]);
}

#[test]
fn non_object_records() {
    let o = read(br#"[1, "x", {"eventName":"A","eventSource":"s"}, [2], null]"#);
    assert_eq!(o.names(), ["A"]);
    assert_eq!(o.kinds(), [ErrorKind::NotAnObject; 4]);
    let recs: Vec<Option<u64>> = o.errors.iter().map(|e| e.position.record).collect();
    assert_eq!(recs, [Some(1), Some(2), Some(4), Some(5)]);
    assert!(o.errors[1].message.contains("string"));
    // In NDJSON too.
    let o = read(b"{\"eventName\":\"A\",\"eventSource\":\"s\"}\n42\n{\"eventName\":\"B\",\"eventSource\":\"s\"}\n");
    assert_eq!(o.names(), ["A", "B"]);
    assert_eq!(o.kinds(), [ErrorKind::NotAnObject]);
}

#[test]
fn invalid_utf8_names_the_byte() {
    let mut data = b"[{\"eventName\":\"A\",\"eventSource\":\"s\"},\n{\"eventName\":\"B".to_vec();
    let bad_at = data.len() as u64;
    data.extend(b"\xff\xfe\",\"eventSource\":\"s\"},{\"eventName\":\"C\",\"eventSource\":\"s\"}]");
    let o = read(&data);
    assert_eq!(o.names(), ["A", "C"]);
    assert_eq!(o.kinds(), [ErrorKind::InvalidUtf8]);
    let p = o.errors[0].position;
    assert_eq!((p.record, p.line, p.byte), (Some(2), Some(2), Some(bad_at)));
    assert!(o.errors[0].message.contains("0xff"));
}

/// A reader that produces a huge NDJSON line on the fly (never held in memory), then a
/// normal line.
struct HugeLine {
    head: &'static [u8],
    fill: u64,
    tail: &'static [u8],
}

impl Read for HugeLine {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if !self.head.is_empty() {
            let n = self.head.len().min(buf.len());
            buf[..n].copy_from_slice(&self.head[..n]);
            self.head = &self.head[n..];
            return Ok(n);
        }
        if self.fill > 0 {
            let n = (self.fill as usize).min(buf.len());
            buf[..n].fill(b'x');
            self.fill -= n as u64;
            return Ok(n);
        }
        let n = self.tail.len().min(buf.len());
        buf[..n].copy_from_slice(&self.tail[..n]);
        self.tail = &self.tail[n..];
        Ok(n)
    }
}

#[test]
fn a_100_mb_line_is_skipped_in_bounded_memory() {
    let mut r = HugeLine {
        head: b"{\"eventName\":\"A\",\"eventSource\":\"s\"}\n{\"eventName\":\"big\",\"eventSource\":\"s\",\"p\":\"",
        fill: 100 << 20,
        tail: b"\"}\n{\"eventName\":\"B\",\"eventSource\":\"s\"}\n",
    };
    let mut names = Vec::new();
    let mut errors = Vec::new();
    let stats = read_reader(
        "huge.json",
        &mut r,
        &ReadOptions::default(),
        &mut |it| match it {
            Item::Record(r) => names.push(r.value["eventName"].as_str().unwrap().to_string()),
            Item::Error(e) => errors.push(e),
        },
    );
    assert_eq!(names, ["A", "B"]);
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].kind, ErrorKind::TooLarge);
    assert_eq!(errors[0].position.line, Some(2));
    assert!(errors[0].message.contains("over the"), "{}", errors[0]);
    assert!(stats.bytes_uncompressed > 100 << 20);

    // The same line with no end at all: one truncation error, no OOM.
    let mut r = HugeLine {
        head: b"{\"p\":\"",
        fill: 40 << 20,
        tail: b"",
    };
    let mut errs = Vec::new();
    read_reader("huge.json", &mut r, &ReadOptions::default(), &mut |it| {
        if let Item::Error(e) = it {
            errs.push(e.kind)
        }
    });
    assert_eq!(errs, [ErrorKind::Truncated]);
}

#[test]
fn files_that_are_not_cloudtrail() {
    let o = read(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR");
    assert_eq!(
        (o.kinds(), o.stats.format),
        (vec![ErrorKind::NotJson], Format::Unreadable)
    );
    assert!(o.errors[0].message.contains("PNG"));
    let o = read(b"eventTime,eventName,userIdentity\n2024-01-01,ConsoleLogin,x\n");
    assert_eq!(o.kinds(), [ErrorKind::NotJson]);
    assert!(o.errors[0].message.contains("CSV"));
    let o = read(b"PK\x03\x04\x14\0\0\0");
    assert_eq!(o.kinds(), [ErrorKind::Unsupported]);
    assert!(o.errors[0].message.contains("zip archive"));
    let o = read(&gz(b"# README\nhello"));
    assert_eq!(o.kinds(), [ErrorKind::NotJson]);
    let o = read(b"\xff\xfe{\0");
    assert_eq!(o.kinds(), [ErrorKind::Unsupported]);
}

/// Produces `{"Records":[r,r,...]}` with `n` records on the fly.
struct ManyRecords {
    n: u64,
    i: u64,
    pending: Vec<u8>,
    done: bool,
}

impl Read for ManyRecords {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pending.is_empty() && !self.done {
            if self.i == 0 {
                self.pending.extend(b"{\"Records\":[");
            }
            if self.i < self.n {
                if self.i > 0 {
                    self.pending.push(b',');
                }
                let mut r = rec("GetObject", self.i);
                r["requestParameters"] = json!({"bucketName": "b", "key": "k".repeat(200)});
                self.pending.extend(serde_json::to_vec(&r).unwrap());
                self.i += 1;
            } else {
                self.pending.extend(b"]}");
                self.done = true;
            }
        }
        let n = self.pending.len().min(buf.len());
        buf[..n].copy_from_slice(&self.pending[..n]);
        self.pending.drain(..n);
        Ok(n)
    }
}

#[test]
fn a_large_file_streams() {
    // ~500 bytes a record, 120k records: ~60 MB, never in memory at once.
    let n = 120_000;
    let mut r = ManyRecords {
        n,
        i: 0,
        pending: Vec::new(),
        done: false,
    };
    let mut count = 0u64;
    let mut last = String::new();
    let stats = read_reader(
        "big.json",
        &mut r,
        &ReadOptions::default(),
        &mut |it| match it {
            Item::Record(r) => {
                count += 1;
                last = r.value["eventID"].as_str().unwrap().to_string();
            }
            Item::Error(e) => panic!("{e}"),
        },
    );
    assert_eq!(count, n);
    assert_eq!(last, format!("id-{}", n - 1));
    assert!(
        stats.bytes_uncompressed > 50 << 20,
        "{}",
        stats.bytes_uncompressed
    );
}

#[test]
fn discover_walks_sorts_and_reports() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir
        .path()
        .join("AWSLogs/111122223333/CloudTrail/us-east-1/2024/01");
    for d in ["02", "01"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
        for f in ["b.json.gz", "a.json.gz", ".hidden"] {
            std::fs::write(root.join(d).join(f), gz(&s3_file(&["A"]))).unwrap();
        }
    }
    let single = dir.path().join("one.json");
    std::fs::write(&single, b"{}").unwrap();
    let missing = dir.path().join("nope");
    let d = discover(&[
        dir.path().join("AWSLogs"),
        single.clone(),
        missing.clone(),
        "-".into(),
        single.clone(),
    ]);
    let got: Vec<String> = d
        .inputs
        .iter()
        .map(|i| match i {
            Input::File(p) => p
                .strip_prefix(dir.path())
                .unwrap()
                .to_string_lossy()
                .into_owned(),
            Input::Stdin => "-".into(),
        })
        .collect();
    let base = "AWSLogs/111122223333/CloudTrail/us-east-1/2024/01";
    assert_eq!(
        got,
        [
            format!("{base}/01/a.json.gz"),
            format!("{base}/01/b.json.gz"),
            format!("{base}/02/a.json.gz"),
            format!("{base}/02/b.json.gz"),
            "one.json".into(),
            "-".into()
        ]
    );
    assert_eq!(d.errors.len(), 1);
    assert_eq!(d.errors[0].kind, ErrorKind::Io);
    assert!(d.errors[0].to_string().contains("nope"));
    // And reading a discovered file.
    let mut n = 0;
    let st = read_input(&d.inputs[0], &ReadOptions::default(), &mut |it| {
        assert!(matches!(&it, Item::Record(r) if r.origin.file.ends_with("a.json.gz")));
        n += 1;
    });
    assert_eq!((n, st.records, st.compression), (1, 1, Compression::Gzip));
    assert_eq!(
        st.bytes_read,
        std::fs::metadata(root.join("01/a.json.gz")).unwrap().len()
    );
    // A file that vanished between discovery and reading.
    let gone = Input::File(missing);
    let mut errs = Vec::new();
    let st = read_input(&gone, &ReadOptions::default(), &mut |it| {
        if let Item::Error(e) = it {
            errs.push(e)
        }
    });
    assert_eq!(
        (errs.len(), st.errors, st.format),
        (1, 1, Format::Unreadable)
    );
}

#[test]
fn types_are_send() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<Input>();
    send_sync::<ReadOptions>();
    send_sync::<FileStats>();
    send_sync::<SourceError>();
    send::<Item>();
    send::<RawRecord>();
}

#[test]
fn random_garbage_never_panics() {
    // Cheap deterministic fuzz: mutate valid inputs of each format and read them.
    let seeds: Vec<Vec<u8>> = vec![
        s3_file(&["A", "B", "C"]),
        serde_json::to_vec(&json!([rec("A", 1), rec("B", 2)])).unwrap(),
        format!(
            "{}\n{}\n",
            serde_json::to_string(&rec("A", 1)).unwrap(),
            serde_json::to_string(&rec("B", 1)).unwrap()
        )
        .into_bytes(),
        gz(&s3_file(&["A", "B"])),
    ];
    let mut x: u64 = 0x9e3779b97f4a7c15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for seed in &seeds {
        for _ in 0..300 {
            let mut d = seed.clone();
            for _ in 0..(next() % 4 + 1) {
                let i = (next() as usize) % d.len();
                match next() % 3 {
                    0 => d[i] = (next() & 0xff) as u8,
                    1 => {
                        d.remove(i);
                    }
                    _ => d.truncate(i.max(1)),
                }
            }
            let o = read(&d);
            assert!(o.records.iter().all(|r| r.value.is_object()));
        }
    }
}

#[test]
fn raw_records_hand_over_list_elements_unparsed() {
    let mut data = gz(&s3_file(&["A", "B"]));
    data.extend(gz(b"\n[{\"eventName\":\"C\",\"eventSource\":\"s\"}]"));
    let mut raw = Vec::new();
    let mut parsed = Vec::new();
    let st = read_bytes_raw(
        "r.json.gz",
        &data,
        &ReadOptions::default(),
        &mut |it| match it {
            RawItem::Bytes { bytes, origin } => raw.push((
                serde_json::from_slice::<Value>(bytes).unwrap(),
                origin.record,
            )),
            RawItem::Parsed(r) => parsed.push(r.value["eventName"].clone()),
            RawItem::Error(e) => panic!("{e}"),
        },
    );
    assert_eq!(raw, [(rec("A", 0), 1), (rec("B", 1), 2)]);
    assert_eq!(parsed, [json!("C")]);
    assert_eq!(st.records, 3);
    // Json mode: nothing raw.
    let mut n_raw = 0;
    read_bytes_raw(
        "r.json",
        &s3_file(&["A"]),
        &ReadOptions {
            input: InputMode::Json,
            ..Default::default()
        },
        &mut |it| {
            if let RawItem::Bytes { .. } = it {
                n_raw += 1
            }
        },
    );
    assert_eq!(n_raw, 0);
}
