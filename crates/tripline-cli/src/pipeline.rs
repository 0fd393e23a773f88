//! Sources → normalization → events, in parallel by file, delivered in input order.
//!
//! Worker threads take files in order; each streams its records through the normalizer and
//! sends batches over a small bounded channel belonging to that file. The consumer drains the
//! channels in file order, so output order (and event sequence numbers) are deterministic and
//! memory is bounded by (threads × channel capacity × batch size), whatever the file sizes.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use anyhow::Result;
use crossbeam_channel::{bounded, Receiver, Sender};
use tripline_doc::{Document, Event, Origin, Projection};
use tripline_normalize::{FieldPlan, GeoIp, NormalizeOptions, Normalizer};
use tripline_sources::{Input, RawItem, RawRecord, RecordKind};

use crate::cli::{InputArgs, InputMode};

/// Events per message, and messages queued per file: each worker holds at most
/// (QUEUED + 1) × BATCH normalized documents (~18 KB each) ahead of the consumer, so the
/// pipeline's memory grows with threads, not with input (16 threads: ~220 MB at most).
const BATCH: usize = 256;
const QUEUED: usize = 2;

/// A normalized record ready to become an [`Event`]: its time is computed on the worker, so
/// the (serial) consumer only numbers and dispatches.
type Ready = (Document, i64, Origin);

/// What a worker sends for one file.
enum Msg {
    Events(Vec<Ready>),
    Skipped { reason: String, detail: String },
    Done(tripline_sources::FileStats),
}

#[derive(Default, Debug)]
pub struct ReadStats {
    pub files: u64,
    pub records: u64,
    pub skipped: u64,
    pub digest_files: u64,
    pub bytes: u64,
    /// reason → count
    pub skipped_by_reason: BTreeMap<String, u64>,
    /// First error messages (file and position), for the summary.
    pub first_errors: Vec<String>,
}

impl ReadStats {
    fn skip(&mut self, reason: String, detail: String) {
        self.skipped += 1;
        *self.skipped_by_reason.entry(reason).or_default() += 1;
        if self.first_errors.len() < 20 {
            self.first_errors.push(detail);
        }
    }
}

pub struct PipelineOptions {
    pub keep_original: bool,
    pub threads: usize,
    /// Hand out projected documents (see `crate::projection`) for records read as raw text.
    pub projection: Option<Arc<Projection>>,
}

fn source_mode(m: InputMode) -> tripline_sources::InputMode {
    match m {
        InputMode::Auto => tripline_sources::InputMode::Auto,
        InputMode::Cloudtrail => tripline_sources::InputMode::CloudTrail,
        InputMode::Json => tripline_sources::InputMode::Json,
    }
}

/// Opens the GeoIP databases given with `--geoip-db`.
pub fn geoip(args: &InputArgs) -> Result<Option<Arc<GeoIp>>> {
    if args.geoip_db.is_empty() {
        return Ok(None);
    }
    Ok(Some(Arc::new(
        GeoIp::open(&args.geoip_db).map_err(|e| anyhow::anyhow!("{e}"))?,
    )))
}

/// The normalizer options for `args` (GeoIP databases opened).
pub fn normalize_options(args: &InputArgs, keep_original: bool) -> Result<NormalizeOptions> {
    Ok(NormalizeOptions {
        keep_original,
        geoip: geoip(args)?,
        ..Default::default()
    })
}

/// Reads every input; calls `on_event` for each normalized event in input order.
/// `on_progress(files_done, records)` is called as files complete.
pub fn run(
    args: &InputArgs,
    opts: &PipelineOptions,
    mut on_event: impl FnMut(Event) -> Result<()>,
    mut on_progress: impl FnMut(u64, u64),
) -> Result<ReadStats> {
    let mut stats = ReadStats::default();
    let paths: Vec<PathBuf> = args.paths.clone();
    let discovery = tripline_sources::discover(&paths);
    for e in &discovery.errors {
        stats.skip("unreadable path".into(), e.to_string());
    }
    let inputs: Arc<Vec<Input>> = Arc::new(delivery_order(discovery.inputs));
    let nopts = normalize_options(args, opts.keep_original)?;
    // What to normalize for the projection: only the steps its fields need.
    let plan: Option<Arc<FieldPlan>> = opts
        .projection
        .as_deref()
        .map(|p| Arc::new(FieldPlan::new(p)));
    let read_opts = tripline_sources::ReadOptions {
        input: source_mode(args.input),
        ..Default::default()
    };
    let n = inputs.len();
    let channels: Vec<(Sender<Msg>, Receiver<Msg>)> = (0..n).map(|_| bounded(QUEUED)).collect();
    let senders: Arc<Vec<Sender<Msg>>> =
        Arc::new(channels.iter().map(|(s, _)| s.clone()).collect());
    let receivers: Vec<Receiver<Msg>> = channels.into_iter().map(|(_, r)| r).collect();
    let next = Arc::new(AtomicUsize::new(0));
    let threads = opts.threads.max(1).min(n.max(1));
    let mut seq = 0u64;
    std::thread::scope(|scope| -> Result<()> {
        for _ in 0..threads {
            let (inputs, senders, next, read_opts, plan) = (
                inputs.clone(),
                senders.clone(),
                next.clone(),
                read_opts.clone(),
                plan.clone(),
            );
            // One normalizer per worker: it keeps caches of its own.
            let normalizer = Normalizer::new(nopts.clone());
            scope.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= inputs.len() {
                    break;
                }
                let tx = &senders[i];
                let mut batch = Vec::with_capacity(BATCH);
                let mut closed = false;
                let fstats =
                    tripline_sources::read_input_raw(&inputs[i], &read_opts, &mut |item| {
                        if closed {
                            return;
                        }
                        let ready = match item {
                            RawItem::Bytes { bytes, origin } => {
                                normalize_raw(&normalizer, bytes, origin, plan.as_deref())
                            }
                            RawItem::Parsed(rec) => normalize_parsed(&normalizer, rec),
                            RawItem::Error(e) => Err(Msg::Skipped {
                                reason: e.kind().to_string(),
                                detail: e.to_string(),
                            }),
                        };
                        match ready {
                            Ok(r) => {
                                batch.push(r);
                                if batch.len() >= BATCH {
                                    closed |= tx
                                        .send(Msg::Events(std::mem::replace(
                                            &mut batch,
                                            Vec::with_capacity(BATCH),
                                        )))
                                        .is_err();
                                }
                            }
                            Err(msg) => closed |= tx.send(msg).is_err(),
                        }
                    });
                if !closed && !batch.is_empty() {
                    let _ = tx.send(Msg::Events(batch));
                }
                let _ = tx.send(Msg::Done(fstats));
            });
        }
        drop(senders);
        // Owned iteration: on an early error the remaining receivers drop, which unblocks
        // workers (their sends fail) so the scope can join them.
        for rx in receivers.into_iter() {
            for msg in rx.iter() {
                match msg {
                    Msg::Events(evs) => {
                        for (doc, timestamp, origin) in evs {
                            stats.records += 1;
                            on_event(Event {
                                doc,
                                timestamp,
                                origin,
                                seq,
                            })?;
                            seq += 1;
                        }
                    }
                    Msg::Skipped { reason, detail } => stats.skip(reason, detail),
                    Msg::Done(fs) => {
                        stats.files += 1;
                        stats.bytes += fs.bytes_read;
                        if fs.digest {
                            stats.digest_files += 1;
                        }
                        on_progress(stats.files, stats.records);
                        break;
                    }
                }
            }
        }
        Ok(())
    })?;
    Ok(stats)
}

/// The delivery time in a CloudTrail S3 object name
/// (`<account>_CloudTrail_<region>_<YYYYMMDDTHHMMZ>_<unique>.json.gz`; digests carry
/// `YYYYMMDDTHHMMSSZ`), as a sortable string.
fn delivery_time(input: &Input) -> Option<String> {
    let Input::File(p) = input else { return None };
    let name = p.file_name()?.to_str()?;
    name.split(['_', '.'])
        .find(|t| {
            let b = t.as_bytes();
            (b.len() == 14 || b.len() == 16)
                && b[8] == b'T'
                && b[b.len() - 1] == b'Z'
                && b[..8]
                    .iter()
                    .chain(&b[9..b.len() - 1])
                    .all(u8::is_ascii_digit)
        })
        .map(|t| t[..13].to_string())
}

/// Files in the order CloudTrail delivered them, when every input is a CloudTrail object
/// (ties: path order). Discovery walks `AWSLogs/<account>/CloudTrail/<region>/...`, i.e. one
/// account and region after the other: read that way, every stream after the first arrives
/// behind the event-time clock and most of its events are "late" (evaluated out of order by
/// stateful rules). In delivery order the streams interleave as they happened and the reorder
/// window sorts them. Any other input keeps the order given.
fn delivery_order(inputs: Vec<Input>) -> Vec<Input> {
    let times: Vec<Option<String>> = inputs.iter().map(delivery_time).collect();
    if inputs.len() < 2 || times.iter().any(Option::is_none) {
        return inputs;
    }
    let mut keyed: Vec<(Option<String>, Input)> = times.into_iter().zip(inputs).collect();
    // Stable: same-time files stay in path order.
    keyed.sort_by(|a, b| a.0.cmp(&b.0));
    keyed.into_iter().map(|(_, i)| i).collect()
}

fn skipped(reason: &str, origin: &Origin, e: impl std::fmt::Display) -> Msg {
    Msg::Skipped {
        reason: reason.into(),
        detail: format!("{origin}: {e}"),
    }
}

/// An element of an S3 `Records` list, as raw bytes: normalized straight from its text (the
/// normalizer's own parser keeps key order and skips the serde_json tree). On failure the
/// record is parsed again with serde_json only to report the same error the parsed path
/// would (malformed JSON, invalid UTF-8, not an object, not CloudTrail); that is rare.
fn normalize_raw(
    normalizer: &Normalizer,
    bytes: &[u8],
    origin: Origin,
    plan: Option<&FieldPlan>,
) -> Result<Ready, Msg> {
    if let Ok(text) = std::str::from_utf8(bytes) {
        let done = match plan {
            // A projected document carrying the record text (see `crate::projection`).
            Some(plan) => normalizer.normalize_projected(text, plan),
            None => normalizer.normalize_json(text),
        };
        if let Ok((doc, ts)) = done {
            return Ok((doc, ts, origin));
        }
    }
    match serde_json::from_slice::<serde_json::Value>(bytes) {
        Err(e) => {
            let reason = if std::str::from_utf8(bytes).is_err() {
                "invalid UTF-8"
            } else {
                "malformed JSON"
            };
            Err(skipped(reason, &origin, format!("{e}; record skipped")))
        }
        Ok(v) if !v.is_object() => Err(skipped(
            "record is not a JSON object",
            &origin,
            "record is not a JSON object",
        )),
        Ok(v) => match normalizer.normalize_with_time(&v) {
            Ok((doc, ts)) => Ok((doc, ts, origin)),
            Err(e) => Err(skipped("not a valid CloudTrail record", &origin, e)),
        },
    }
}

/// A record the reader parsed (arrays, NDJSON, envelopes, documents).
fn normalize_parsed(normalizer: &Normalizer, rec: RawRecord) -> Result<Ready, Msg> {
    match rec.kind {
        RecordKind::CloudTrail => match normalizer.normalize_with_time(&rec.value) {
            Ok((doc, ts)) => Ok((doc, ts, rec.origin)),
            Err(e) => Err(skipped("not a valid CloudTrail record", &rec.origin, e)),
        },
        RecordKind::Document => match rec.value {
            serde_json::Value::Object(m) => {
                let doc = Document(m);
                let ts = doc
                    .first("@timestamp")
                    .and_then(tripline_doc::time::value_to_millis)
                    .unwrap_or(0);
                Ok((doc, ts, rec.origin))
            }
            _ => Err(skipped(
                "record is not a JSON object",
                &rec.origin,
                "record is not a JSON object",
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(p: &str) -> Input {
        Input::File(PathBuf::from(p))
    }

    #[test]
    fn cloudtrail_objects_are_read_in_delivery_order() {
        let a = file("AWSLogs/111/CloudTrail/eu-west-1/2024/03/01/111_CloudTrail_eu-west-1_20240301T0010Z_b.json.gz");
        let b = file("AWSLogs/111/CloudTrail/us-east-1/2024/03/01/111_CloudTrail_us-east-1_20240301T0005Z_a.json.gz");
        let c = file("AWSLogs/222/CloudTrail/eu-west-1/2024/03/01/222_CloudTrail_eu-west-1_20240301T0005Z_c.json.gz");
        let d = file("AWSLogs/111/CloudTrail-Digest/us-east-1/2024/03/01/111_CloudTrail-Digest_us-east-1_trail_us-east-1_20240301T000000Z.json.gz");
        let got = delivery_order(vec![a.clone(), b.clone(), c.clone(), d.clone()]);
        assert_eq!(got, vec![d, b, c, a]);
    }

    #[test]
    fn other_inputs_keep_their_order() {
        let a = file("z/trail.json");
        let b = file("AWSLogs/111/CloudTrail/us-east-1/2024/03/01/111_CloudTrail_us-east-1_20240301T0005Z_a.json.gz");
        let c = file("a/111_CloudTrail_us-east-1_2024030100005Z_x.json");
        assert_eq!(
            delivery_order(vec![a.clone(), b.clone()]),
            vec![a, b.clone()]
        );
        assert_eq!(delivery_order(vec![b.clone(), c.clone()]), vec![b, c]);
        assert_eq!(
            delivery_order(vec![Input::Stdin, file("x")]),
            vec![Input::Stdin, file("x")]
        );
    }
}
