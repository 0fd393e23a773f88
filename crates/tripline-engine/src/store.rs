//! State that survives restarts: an embedded SQLite file (WAL mode) holding, per rule, the
//! detector state, plus the runner's clocks, how far each input file was consumed, and the
//! alerts emitted.
//!
//! # Guarantees
//! - **Continuation** (`tripline hunt --state S` today after yesterday's run with the same
//!   `S`): detectors start from yesterday's state, so `new_terms` tuples seen yesterday are
//!   not new today, the first history window is not a warm-up again, and threshold groups
//!   whose events straddle the boundary still alert. Files already consumed (same path, same
//!   content prefix) are skipped, so passing the whole log tree again is safe.
//! - **Crash consistency**: a checkpoint is one transaction holding the detector states, the
//!   runner's state, the input progress and the alerts emitted since the previous checkpoint.
//!   A run killed at any moment (kill -9) and restarted on the same input with the same state
//!   file emits exactly the alerts an uninterrupted run would have emitted after that
//!   checkpoint, and the store holds exactly the uninterrupted run's alerts.
//! - **Output**: the store also records which committed alerts were written out. Write alerts
//!   only once their checkpoint committed, recording them as written right before the write;
//!   a restarted run first writes the committed alerts not recorded (killed in between). Every
//!   alert is then written exactly once, except after a kill in the instant between that
//!   record and the write itself (see [`StateStore::mark_written`]): that batch is missing
//!   from the output, though still in the store.
//!
//! # How the hunt loop uses it
//! ```ignore
//! let mut runner = Runner::new(detectors, cfg);
//! let mut store = StateStore::open(&state_path)?;          // creates the file if needed
//! let mut resume = store.restore(&mut runner)?;            // BEFORE the first push
//! // report resume.reset_rules (state dropped because a rule changed) if not quiet
//! let replay = store.unwritten_alerts()?;                   // committed, never written
//! serialize `replay`; store.mark_written()?; write it; flush;
//! let mut pending: Vec<StoredAlert> = Vec::new();           // built, not yet committed
//! pipeline::run(&inputs, ..., |ev| {
//!     if resume.skip(&ev.origin) { return Ok(()); }         // consumed by an earlier run
//!     runner.push(Arc::new(ev), &mut drafts);
//!     for d in drafts.drain(..) { pending.push(StoredAlert::new(uuid, rule_id, ts, doc)); }
//!     if resume.due() {
//!         store.checkpoint(&runner, &mut resume, &pending)?;   // one transaction
//!         serialize `pending`; store.mark_written()?;         // then nothing but the write
//!         write it; flush; pending.clear();
//!     }
//!     Ok(())
//! })?;
//! runner.finish(&mut drafts);  /* build the last alerts into `pending` */
//! store.complete(&runner, &mut resume, &pending)?;          // final checkpoint, run done
//! serialize `pending`; store.mark_written()?; write it; flush.
//! ```
//! Every event the pipeline delivers must go through [`Resume::skip`] (in input order),
//! including those then pushed. After [`StateStore::complete`] the next run is a new hunt
//! (fresh counters and `max_signals` budget) continuing the detector states; after a crash
//! (no `complete`) the next run continues the interrupted one: events that were still in the
//! runner's reorder buffer at the checkpoint are not skipped, so they are pushed again.
//!
//! Standard input cannot be re-read: its events are never skipped and never resumed.

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tripline_doc::Origin;
use tripline_rules::Rule;

use crate::runner::{Runner, RunnerState};

const SCHEMA_VERSION: i64 = 1;
/// WAL bytes written (estimated) after which `checkpoint` copies the WAL into the database
/// (SQLite's own auto-checkpoint, 1000 pages, is off: see `open`).
const WAL_CHECKPOINT_BYTES: u64 = 4 << 20;
/// Bytes hashed to recognize a file (a file that grew keeps its fingerprint prefix).
const FINGERPRINT_BYTES: u64 = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: state store: {source}")]
    Sqlite {
        path: String,
        source: rusqlite::Error,
    },
    #[error("{path}: state store: {message}")]
    Invalid { path: String, message: String },
}

/// An alert as the store keeps it (the caller builds the document).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredAlert {
    pub uuid: String,
    pub rule_id: String,
    /// Epoch ms (the alert's original time).
    pub timestamp: i64,
    pub doc: Value,
}

impl StoredAlert {
    pub fn new(
        uuid: impl Into<String>,
        rule_id: impl Into<String>,
        timestamp: i64,
        doc: Value,
    ) -> StoredAlert {
        StoredAlert {
            uuid: uuid.into(),
            rule_id: rule_id.into(),
            timestamp,
            doc,
        }
    }
}

/// The persistent state file.
pub struct StateStore {
    conn: Connection,
    path: String,
    /// Hash of each rule's last written state, to skip rewriting unchanged ones.
    written: HashMap<String, [u8; 32]>,
    /// Bytes committed since the last WAL checkpoint (estimate).
    wal_bytes: u64,
}

#[derive(Debug, Clone, Default)]
struct FileProgress {
    fingerprint: String,
    records: u64,
}

/// What [`StateStore::restore`] found, and the input-progress tracker for this run.
#[derive(Debug)]
pub struct Resume {
    /// Detectors whose saved state was loaded.
    pub restored_rules: usize,
    /// (rule id, reason) for saved states that were not loaded (rule changed, bad state):
    /// those detectors start empty.
    pub reset_rules: Vec<(String, String)>,
    /// True when this run continues an interrupted one (no `complete` after the last
    /// checkpoint).
    pub continued: bool,
    /// Events skipped so far because an earlier run consumed them.
    pub skipped: u64,
    /// Files whose content changed since the earlier run (read again from the start).
    pub changed_files: Vec<String>,
    /// Checkpoint cadence (events, wall time); defaults 50 000 events or 30 s.
    pub every_events: u64,
    pub every: Duration,
    progress: HashMap<String, FileProgress>,
    /// Files whose progress changed since the last checkpoint.
    touched: HashSet<String>,
    /// Events still in the reorder buffer at the checkpoint: pushed again.
    pending: HashSet<(String, u64)>,
    /// origin.file → canonical key (`None` = not a re-readable file).
    canon: HashMap<Arc<str>, Option<String>>,
    /// Files checked against their saved fingerprint in this run.
    checked: HashSet<String>,
    since_checkpoint: u64,
    last_checkpoint: Instant,
}

impl Resume {
    fn new() -> Resume {
        Resume {
            restored_rules: 0,
            reset_rules: Vec::new(),
            continued: false,
            skipped: 0,
            changed_files: Vec::new(),
            every_events: 50_000,
            every: Duration::from_secs(30),
            progress: HashMap::new(),
            touched: HashSet::new(),
            pending: HashSet::new(),
            canon: HashMap::new(),
            checked: HashSet::new(),
            since_checkpoint: 0,
            last_checkpoint: Instant::now(),
        }
    }

    fn key_of(&mut self, file: &Arc<str>) -> Option<String> {
        if let Some(k) = self.canon.get(file) {
            return k.clone();
        }
        let k = if &**file == "-" {
            None
        } else {
            std::fs::canonicalize(&**file)
                .ok()
                .map(|p| p.to_string_lossy().into_owned())
        };
        self.canon.insert(file.clone(), k.clone());
        k
    }

    /// Call for every event the input delivers, in input order. Returns true when an earlier
    /// run already consumed it (do not push it); otherwise records it as consumed.
    pub fn skip(&mut self, origin: &Origin) -> bool {
        self.since_checkpoint += 1;
        let Some(key) = self.key_of(&origin.file) else {
            return false;
        };
        if !self.checked.contains(&key) {
            self.checked.insert(key.clone());
            if let Some(p) = self.progress.get(&key) {
                if !same_file(Path::new(&key), &p.fingerprint) {
                    self.changed_files.push(key.clone());
                    self.progress.remove(&key);
                    self.pending.retain(|(f, _)| f != &key);
                }
            }
        }
        // Cheap checks first: this runs once per input event.
        if !self.pending.is_empty() && self.pending.remove(&(key.clone(), origin.record)) {
            return false;
        }
        if let Some(p) = self.progress.get_mut(&key) {
            if origin.record <= p.records {
                self.skipped += 1;
                return true;
            }
            p.records = origin.record;
        } else {
            self.progress.insert(
                key.clone(),
                FileProgress {
                    fingerprint: String::new(),
                    records: origin.record,
                },
            );
        }
        if !self.touched.contains(&key) {
            self.touched.insert(key);
        }
        false
    }

    /// Whether a checkpoint is due (by events since the last one, or wall time).
    pub fn due(&self) -> bool {
        self.since_checkpoint >= self.every_events
            || (self.since_checkpoint > 0 && self.last_checkpoint.elapsed() >= self.every)
    }

    /// Buffered events of the interrupted run not yet seen again in this run (their files
    /// were not given): after the input ends these are lost.
    pub fn missing_pending(&self) -> usize {
        self.pending.len()
    }
}

/// `n:hexsha256` of the first `n` bytes of a file.
pub fn fingerprint(path: &Path) -> Option<String> {
    let f = std::fs::File::open(path).ok()?;
    let mut buf = Vec::new();
    f.take(FINGERPRINT_BYTES).read_to_end(&mut buf).ok()?;
    Some(format!("{}:{}", buf.len(), hex(&Sha256::digest(&buf))))
}

/// Whether the file still starts with the bytes its fingerprint was taken from.
fn same_file(path: &Path, fp: &str) -> bool {
    let Some((n, want)) = fp.split_once(':') else {
        return false;
    };
    let Ok(n) = n.parse::<u64>() else {
        return false;
    };
    let Ok(f) = std::fs::File::open(path) else {
        return false;
    };
    let mut buf = Vec::new();
    if f.take(n).read_to_end(&mut buf).is_err() || buf.len() as u64 != n {
        return false;
    }
    hex(&Sha256::digest(&buf)) == want
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// What identifies a rule's semantics: a state saved under another version is not loaded.
fn rule_hash(rule: &Rule) -> String {
    let r = rule.raw.get("rule");
    let pick = |k: &str| r.and_then(|r| r.get(k)).cloned().unwrap_or(Value::Null);
    let basis = serde_json::json!([
        rule.rule_type.as_str(),
        pick("query"),
        pick("language"),
        pick("new_terms"),
        pick("threshold"),
        pick("alert_suppression"),
        pick("from"),
        pick("interval"),
        pick("exceptions_list"),
        pick("eql"),
    ]);
    hex(&Sha256::digest(basis.to_string().as_bytes()))[..32].to_string()
}

/// Keys of the runner's detectors: rule id, `#n` for repeated ids.
fn rule_keys(runner: &Runner) -> Vec<String> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    runner
        .detectors()
        .map(|d| {
            let id = d.rule().rule_id.clone();
            let n = seen.entry(id.clone()).or_insert(0);
            *n += 1;
            if *n == 1 {
                id
            } else {
                format!("{id}#{n}")
            }
        })
        .collect()
}

#[derive(serde::Serialize, serde::Deserialize)]
struct SavedRunner {
    runner: RunnerState,
    /// Buffered events as (canonical file, record).
    pending: Vec<(String, u64)>,
}

impl StateStore {
    /// Opens (creating if needed) a state file.
    pub fn open(path: &Path) -> Result<StateStore, StoreError> {
        let shown = path.display().to_string();
        let sq = |e: rusqlite::Error| StoreError::Sqlite {
            path: shown.clone(),
            source: e,
        };
        let conn = Connection::open(path).map_err(sq)?;
        conn.busy_timeout(Duration::from_secs(10)).map_err(sq)?;
        // WAL: a reader never sees a half-written checkpoint and a kill -9 loses at most the
        // transaction in flight. synchronous=NORMAL is durable against process crashes.
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(sq)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(sq)?;
        // No automatic WAL checkpoint: it runs inside a commit, fsyncs, and would stretch the
        // instant between `mark_written` and the write of the alerts; `checkpoint` runs it
        // before its transaction instead.
        conn.pragma_update(None, "wal_autocheckpoint", 0)
            .map_err(sq)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS detector_state (
                 rule_key TEXT PRIMARY KEY, rule_id TEXT NOT NULL, rule_hash TEXT NOT NULL,
                 state TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS progress (
                 file TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, records INTEGER NOT NULL);
             CREATE TABLE IF NOT EXISTS alerts (
                 seq INTEGER PRIMARY KEY AUTOINCREMENT, uuid TEXT NOT NULL UNIQUE,
                 rule_id TEXT NOT NULL, timestamp INTEGER NOT NULL, doc TEXT NOT NULL);",
        )
        .map_err(sq)?;
        let version: Option<String> = conn
            .query_row(
                "SELECT value FROM meta WHERE key = 'schema_version'",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(sq)?;
        // Alerts up to this seq were written out by the hunt (see `mark_written`). A store made
        // before this key existed counts its alerts as written.
        conn.execute(
            "INSERT OR IGNORE INTO meta (key, value)
             SELECT 'written_seq', CAST(COALESCE(MAX(seq), 0) AS TEXT) FROM alerts",
            [],
        )
        .map_err(sq)?;
        match version {
            None => {
                conn.execute(
                    "INSERT INTO meta (key, value) VALUES ('schema_version', ?1)",
                    params![SCHEMA_VERSION.to_string()],
                )
                .map_err(sq)?;
            }
            Some(v) if v == SCHEMA_VERSION.to_string() => {}
            Some(v) => {
                return Err(StoreError::Invalid {
                    path: shown,
                    message: format!(
                        "schema version {v} is not supported (expected {SCHEMA_VERSION})"
                    ),
                })
            }
        }
        Ok(StateStore {
            conn,
            path: shown,
            written: HashMap::new(),
            wal_bytes: 0,
        })
    }

    fn sq(&self) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        move |e| StoreError::Sqlite {
            path: self.path.clone(),
            source: e,
        }
    }

    fn meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.conn
            .query_row("SELECT value FROM meta WHERE key = ?1", params![key], |r| {
                r.get(0)
            })
            .optional()
            .map_err(self.sq())
    }

    /// Loads saved detector states into the runner's detectors (by rule id), and, when the
    /// last run was interrupted, the runner's own state. Call on a fresh runner, before the
    /// first push. Returns the tracker the hunt loop feeds with every event's origin.
    pub fn restore(&mut self, runner: &mut Runner) -> Result<Resume, StoreError> {
        let mut resume = Resume::new();
        let keys = rule_keys(runner);
        let mut saved: HashMap<String, (String, String)> = HashMap::new();
        {
            let mut st = self
                .conn
                .prepare("SELECT rule_key, rule_hash, state FROM detector_state")
                .map_err(self.sq())?;
            let rows = st
                .query_map([], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                    ))
                })
                .map_err(self.sq())?;
            for row in rows {
                let (k, h, s) = row.map_err(self.sq())?;
                saved.insert(k, (h, s));
            }
        }
        for (det, key) in runner.detectors_mut().zip(&keys) {
            let Some((hash, state)) = saved.get(key) else {
                continue;
            };
            let rule_id = det.rule().rule_id.clone();
            if *hash != rule_hash(det.rule()) {
                resume
                    .reset_rules
                    .push((rule_id, "the rule changed since its state was saved".into()));
                continue;
            }
            let value: Value = match serde_json::from_str(state) {
                Ok(v) => v,
                Err(e) => {
                    resume
                        .reset_rules
                        .push((rule_id, format!("unreadable state: {e}")));
                    continue;
                }
            };
            match det.load_state(value) {
                Ok(()) => resume.restored_rules += 1,
                Err(e) => resume.reset_rules.push((rule_id, e)),
            }
        }
        let complete = self.meta("run_complete")?.is_none_or(|v| v == "1");
        if !complete {
            if let Some(text) = self.meta("runner_state")? {
                let saved: SavedRunner =
                    serde_json::from_str(&text).map_err(|e| StoreError::Invalid {
                        path: self.path.clone(),
                        message: format!("runner state: {e}"),
                    })?;
                runner.restore(&saved.runner);
                resume.pending = saved.pending.into_iter().collect();
                resume.continued = true;
            }
        }
        {
            let mut st = self
                .conn
                .prepare("SELECT file, fingerprint, records FROM progress")
                .map_err(self.sq())?;
            let rows = st
                .query_map([], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, i64>(2)?,
                    ))
                })
                .map_err(self.sq())?;
            for row in rows {
                let (f, fp, n) = row.map_err(self.sq())?;
                resume.progress.insert(
                    f,
                    FileProgress {
                        fingerprint: fp,
                        records: n.max(0) as u64,
                    },
                );
            }
        }
        Ok(resume)
    }

    /// Commits, in one transaction, the detector states, the runner's state, the input
    /// progress and `alerts` (those emitted since the previous checkpoint; an alert whose
    /// uuid is already stored is ignored).
    pub fn checkpoint(
        &mut self,
        runner: &Runner,
        resume: &mut Resume,
        alerts: &[StoredAlert],
    ) -> Result<(), StoreError> {
        self.write(runner, resume, alerts, false)
    }

    /// The final checkpoint of a run (after `Runner::finish`): the next run is a new hunt
    /// that continues the detector states.
    pub fn complete(
        &mut self,
        runner: &Runner,
        resume: &mut Resume,
        alerts: &[StoredAlert],
    ) -> Result<(), StoreError> {
        self.write(runner, resume, alerts, true)
    }

    fn write(
        &mut self,
        runner: &Runner,
        resume: &mut Resume,
        alerts: &[StoredAlert],
        complete: bool,
    ) -> Result<(), StoreError> {
        let keys = rule_keys(runner);
        // Serialize outside the transaction (the expensive part).
        let mut states: Vec<(String, String, String, String, [u8; 32])> = Vec::new();
        for (det, key) in runner.detectors().zip(&keys) {
            if !det.is_stateful() {
                continue;
            }
            let Some(state) = det.save_state() else {
                continue;
            };
            let text = state.to_string();
            let digest: [u8; 32] = Sha256::digest(text.as_bytes()).into();
            if self.written.get(key) == Some(&digest) {
                continue;
            }
            states.push((
                key.clone(),
                det.rule().rule_id.clone(),
                rule_hash(det.rule()),
                text,
                digest,
            ));
        }
        let snap = runner.snapshot();
        let mut pending = Vec::with_capacity(snap.pending.len() + resume.pending.len());
        for o in &snap.pending {
            if let Some(k) = resume.key_of(&o.file) {
                pending.push((k, o.record));
            }
        }
        // Events buffered when the interrupted run stopped and not yet pushed again in this
        // run are still owed to the runner: their records count as consumed, so if they were
        // left out here a crash before they come around would skip them for good.
        pending.extend(resume.pending.iter().cloned());
        pending.sort();
        let saved = SavedRunner {
            runner: RunnerState {
                pending: Vec::new(),
                ..snap
            },
            pending,
        };
        let runner_text = serde_json::to_string(&saved).unwrap_or_default();
        let mut progress = Vec::new();
        for f in resume.touched.iter() {
            let Some(p) = resume.progress.get_mut(f) else {
                continue;
            };
            if p.fingerprint.is_empty() {
                p.fingerprint = fingerprint(Path::new(f)).unwrap_or_default();
            }
            progress.push((f.clone(), p.fingerprint.clone(), p.records));
        }
        let path = self.path.clone();
        let sq = |e: rusqlite::Error| StoreError::Sqlite {
            path: path.clone(),
            source: e,
        };
        if self.wal_bytes >= WAL_CHECKPOINT_BYTES {
            // Committed data only: a kill here loses nothing.
            self.conn
                .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
                .map_err(sq)?;
            self.wal_bytes = 0;
        }
        self.wal_bytes +=
            runner_text.len() as u64 + states.iter().map(|s| s.3.len() as u64).sum::<u64>() + 4096;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sq)?;
        {
            let mut up = tx
                .prepare_cached(
                    "INSERT INTO detector_state (rule_key, rule_id, rule_hash, state) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT(rule_key) DO UPDATE SET rule_id = ?2, rule_hash = ?3, state = ?4",
                )
                .map_err(sq)?;
            for (k, id, h, s, _) in &states {
                up.execute(params![k, id, h, s]).map_err(sq)?;
            }
            let mut meta = tx
                .prepare_cached("INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)")
                .map_err(sq)?;
            meta.execute(params!["runner_state", runner_text])
                .map_err(sq)?;
            meta.execute(params!["run_complete", if complete { "1" } else { "0" }])
                .map_err(sq)?;
            let mut pr = tx.prepare_cached("INSERT OR REPLACE INTO progress (file, fingerprint, records) VALUES (?1, ?2, ?3)").map_err(sq)?;
            for (f, fp, n) in &progress {
                pr.execute(params![f, fp, *n as i64]).map_err(sq)?;
            }
            let mut al = tx
                .prepare_cached("INSERT OR IGNORE INTO alerts (uuid, rule_id, timestamp, doc) VALUES (?1, ?2, ?3, ?4)")
                .map_err(sq)?;
            for a in alerts {
                let doc = a.doc.to_string();
                self.wal_bytes += doc.len() as u64;
                al.execute(params![a.uuid, a.rule_id, a.timestamp, doc])
                    .map_err(sq)?;
            }
        }
        tx.commit().map_err(sq)?;
        for (k, _, _, _, d) in states {
            self.written.insert(k, d);
        }
        resume.touched.clear();
        resume.since_checkpoint = 0;
        resume.last_checkpoint = Instant::now();
        Ok(())
    }

    /// Alerts whose checkpoint committed but that were never recorded as written out (the run
    /// was killed between the two), oldest first. The hunt writes these before anything else,
    /// then records them with [`StateStore::mark_written`].
    pub fn unwritten_alerts(&self) -> Result<Vec<StoredAlert>, StoreError> {
        self.alerts_where(
            "WHERE seq > (SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'written_seq')",
        )
    }

    /// Records every committed alert as written out. Call it right before writing the alerts
    /// (serialized beforehand, so that only the write itself follows): a run killed after its
    /// checkpoint committed but before this record writes those alerts when restarted
    /// ([`StateStore::unwritten_alerts`]); only a kill in the instant between this commit
    /// and the write (no I/O wait in between: WAL checkpoints run in `checkpoint`) loses them
    /// from the output, never from the store. Recording after the write instead would turn
    /// that into duplicates, but over a much wider window: writing to a pipe wakes the reader,
    /// which often preempts the writer before it can record anything.
    pub fn mark_written(&mut self) -> Result<(), StoreError> {
        self.conn
            .execute(
                "UPDATE meta SET value = (SELECT CAST(COALESCE(MAX(seq), 0) AS TEXT) FROM alerts)
                 WHERE key = 'written_seq'",
                [],
            )
            .map(|_| ())
            .map_err(self.sq())
    }

    /// Every stored alert, in the order they were first stored.
    pub fn alerts(&self) -> Result<Vec<StoredAlert>, StoreError> {
        self.alerts_where("")
    }

    fn alerts_where(&self, filter: &str) -> Result<Vec<StoredAlert>, StoreError> {
        let mut st = self
            .conn
            .prepare(&format!(
                "SELECT uuid, rule_id, timestamp, doc FROM alerts {filter} ORDER BY seq"
            ))
            .map_err(self.sq())?;
        let rows = st
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, String>(3)?,
                ))
            })
            .map_err(self.sq())?;
        let mut out = Vec::new();
        for row in rows {
            let (uuid, rule_id, timestamp, doc) = row.map_err(self.sq())?;
            let doc = serde_json::from_str(&doc).unwrap_or(Value::Null);
            out.push(StoredAlert {
                uuid,
                rule_id,
                timestamp,
                doc,
            });
        }
        Ok(out)
    }

    /// Number of stored alerts.
    pub fn alert_count(&self) -> Result<u64, StoreError> {
        self.conn
            .query_row("SELECT COUNT(*) FROM alerts", [], |r| r.get::<_, i64>(0))
            .map(|n| n as u64)
            .map_err(self.sq())
    }

    /// The file's path.
    pub fn path(&self) -> PathBuf {
        PathBuf::from(&self.path)
    }
}
