//! `esql` rules: the rule's ES|QL query runs over consecutive event-time windows.
//!
//! Elastic runs an ES|QL rule every `interval` over the look-back `[now - from, now)`; Tripline
//! replays that schedule in event time with [`crate::window::Schedule`]: run `k` happens at
//! `k * interval` (NOW() = that time) over the events with `k*interval - lookback <= t <
//! k*interval`. Events arrive in event-time order; a run executes as soon as an event at or
//! after its time arrives (or at the end of input). Only events that pass the query's leading
//! row-local commands (WHERE/EVAL/GROK/…, NOW() conditions excepted) are buffered, and only
//! while a future run can still see them, so memory is bounded by the matching events of one
//! look-back. Runs whose window holds no buffered event are skipped (an empty window cannot
//! produce a row, except `STATS` without `BY` over nothing, which no detection rule wants);
//! so is a run whose window holds exactly the events of the previous run when the query does
//! not use NOW() (it would produce the same rows).
//!
//! Streaming (issue 9): when the query streams (`tripline_esql::stream`), an event's rows
//! after the query's leading row-local commands are computed once, when it arrives, and
//! buffered instead of the event (which is kept, projected, only when alerts can name it);
//! each run selects its window as an index range of the time-sorted buffer and runs only the
//! rest of the query (plus any `NOW()` conditions taken out of the leading WHEREs) over those
//! rows. Queries that do not stream buffer events and run whole, as before.
//!
//! Each output row becomes one alert whose `fields` are the row's columns (nulls omitted).
//! Deduplication across overlapping windows:
//! - non-aggregating queries: by the row's `_id` (the event's `event.id`, else `file#record`;
//!   repeated `_id`s within one run, e.g. after MV_EXPAND, are numbered), once per event,
//!   as Elastic does for ES|QL rules with `METADATA _id`; the alert's source event is the row's
//!   event and its uuid key is the `_id`;
//! - aggregating queries (STATS): by the row's group-by values — a group that alerted in a run
//!   whose window overlaps the current one does not alert again; the key is the group values
//!   plus the run time. The alert's source events are the events named by an `_id` column
//!   (`_id`, or a STATS output that is `VALUES(_id)`), if any.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use serde_json::{Map, Value};
use tripline_doc::SharedEvent;
use tripline_esql::{ErrorKind, ExecContext, ParseOptions, Query};
use tripline_rules::Rule;

use crate::compile::{CompileContext, CompileError};
use crate::detector::{AlertDraft, Detector, DetectorStats};
use crate::window::Schedule;

pub struct EsqlDetector {
    rule: Arc<Rule>,
    query: Query,
    schedule: Schedule,
    aggregating: bool,
    group_columns: Vec<String>,
    id_columns: Vec<String>,
    uses_now: bool,
    timestamp_field: Option<String>,
    /// Buffered entries (events that can contribute), sorted by window time.
    buf: VecDeque<Entry>,
    /// Whether the query streams: entries hold its prefix's rows, computed once per event
    /// (see `tripline_esql::stream`); else entries hold events and each run executes the
    /// whole query over them.
    streamed: bool,
    /// Streamed: whether entries also keep their (projected) event, for alerts that name
    /// their source events (non-aggregating rows; aggregates with `_id` columns).
    keep_events: bool,
    /// The next run not yet executed.
    next_run: i64,
    /// (count, first seq, last seq) of the last executed run's window.
    last_content: Option<(usize, u64, u64)>,
    /// Non-aggregating: emitted row ids → event time (pruned once no run can see the event).
    emitted_ids: HashMap<String, i64>,
    /// Aggregating: group identity → run index of its last alert.
    emitted_groups: HashMap<String, i64>,
    warnings: Vec<String>,
    runs: u64,
    rows: u64,
    duplicates: u64,
    errors: u64,
    peak_buffered: u64,
    last_error: Option<String>,
    /// Fields to keep of each buffered event when the query's columns are known (KEEP/STATS):
    /// buffered events then cost a few hundred bytes instead of a whole ECS document.
    projection: Option<Vec<String>>,
    /// Data for the query's ENRICH commands.
    enrich: Option<Arc<dyn tripline_esql::EnrichSource>>,
}

/// One buffered event.
struct Entry {
    /// Window time (the event's time, or its timestamp override's).
    t: i64,
    seq: u64,
    /// Streamed queries: the event's rows after the query's prefix.
    rows: Vec<tripline_esql::StreamRow>,
    /// The (projected) event, when kept.
    event: Option<SharedEvent>,
}

/// Whether an aggregating query can name source events: some command from its first STATS
/// on mentions `_id` (e.g. `VALUES(_id)`, or `_id` as a group).
fn names_ids_after_stats(q: &Query) -> bool {
    let cmds = q.commands();
    let Some(first) = cmds
        .iter()
        .position(|c| matches!(c, tripline_esql::Command::Stats { .. }))
    else {
        return true;
    };
    let mut found = false;
    let mut probe = |e: &tripline_esql::Expr| {
        e.walk(&mut |x| {
            if let tripline_esql::Expr::Col { name, .. } = x {
                found |= name == "_id";
            }
        })
    };
    let mut named = false;
    for c in &cmds[first..] {
        use tripline_esql::Command as C;
        match c {
            C::Where(e) | C::Dissect { input: e, .. } | C::Grok { input: e, .. } => probe(e),
            C::Eval(a) => a.iter().for_each(|(n, e)| {
                named |= n == "_id";
                probe(e)
            }),
            C::Stats { aggs, outputs, by } => {
                for a in aggs {
                    a.args.iter().for_each(&mut probe);
                    a.filter.iter().for_each(&mut probe);
                }
                for (n, e) in outputs.iter().chain(by) {
                    named |= n == "_id";
                    probe(e);
                }
            }
            C::Sort(keys) => keys.iter().for_each(|k| probe(&k.expr)),
            C::Rename(pairs) => named |= pairs.iter().any(|(_, n)| n == "_id"),
            C::Keep(ps) => named |= ps.iter().any(|p| p.matches("_id")),
            _ => {}
        }
    }
    found || named
}

/// Fields every buffered event keeps besides the query's: ids and index selection (`_id`,
/// `_index`, alert ancestry) read them.
const PROJECTION_BASE: &[&str] = &[
    "@timestamp",
    "event.id",
    "event.kind",
    "event.dataset",
    "data_stream.dataset",
    "data_stream.namespace",
    "data_stream.type",
    "kibana.alert.uuid",
];

/// The buffered copy of an event: only `fields` (multi-valued fields keep every value).
fn project(ev: &SharedEvent, fields: &[String]) -> SharedEvent {
    let mut doc = tripline_doc::Document::new();
    for f in fields {
        let vals = ev.doc.values(f);
        match vals.len() {
            0 => {}
            1 => doc.set(f, vals[0].clone()),
            _ => doc.set(f, Value::Array(vals.into_iter().cloned().collect())),
        }
    }
    Arc::new(tripline_doc::Event {
        doc,
        timestamp: ev.timestamp,
        origin: ev.origin.clone(),
        seq: ev.seq,
    })
}

fn map_error(e: tripline_esql::EsqlError) -> CompileError {
    match e.kind {
        ErrorKind::Syntax => CompileError::Syntax {
            language: "esql".into(),
            message: e.to_string(),
        },
        ErrorKind::Verification => CompileError::Invalid(format!("ES|QL: {e}")),
        ErrorKind::Unsupported | ErrorKind::UnknownIndex | ErrorKind::Kql => {
            CompileError::Unsupported(format!("ES|QL: {e}"))
        }
    }
}

pub fn compile(rule: &Arc<Rule>, ctx: &CompileContext) -> Result<Box<dyn Detector>, CompileError> {
    Ok(Box::new(EsqlDetector::new(rule, ctx)?))
}

impl EsqlDetector {
    pub fn new(rule: &Arc<Rule>, ctx: &CompileContext) -> Result<EsqlDetector, CompileError> {
        if let Some(lang) = rule.language.as_deref() {
            if lang != "esql" {
                return Err(CompileError::Unsupported(format!(
                    "query language {lang:?} for rule type esql"
                )));
            }
        }
        let text = rule.query.as_deref().unwrap_or("").trim();
        if text.is_empty() {
            return Err(CompileError::Invalid("esql rule without a query".into()));
        }
        let query = Query::parse_with(
            text,
            &ParseOptions {
                types: &ctx.types,
                allow_any_index: false,
            },
        )
        .map_err(map_error)?;
        for p in query.enrich_policies() {
            if !ctx.enrich.as_ref().is_some_and(|s| s.has(p.name())) {
                return Err(CompileError::Unsupported(format!(
                    "ENRICH {} needs {}",
                    p.name(),
                    p.database_hint()
                )));
            }
        }
        let mut warnings = Vec::new();
        // The normalizer's field list only speaks for queries over CloudTrail alone.
        let cloudtrail_only = query.selects_index(tripline_esql::CLOUDTRAIL_INDEX)
            && !query.reads_alerts()
            && !query.selects_index("logs-*-*");
        if !ctx.known_fields.is_empty() && cloudtrail_only {
            if let Some(fields) = query.fields() {
                let fields: Vec<&String> = fields.iter().filter(|f| !f.starts_with('_')).collect();
                warnings = crate::query_rule::unknown_field_warnings(
                    rule,
                    ctx,
                    fields.into_iter().map(|f| f.as_str()),
                );
            }
        }
        let projection = query.fields().and_then(|fields| {
            if fields.iter().any(|f| f.contains('*')) {
                return None;
            }
            let mut all: Vec<String> = fields.into_iter().filter(|f| !f.starts_with('_')).collect();
            all.extend(PROJECTION_BASE.iter().map(|s| s.to_string()));
            if let Some(t) = &rule.timestamp_override {
                all.push(t.clone());
            }
            all.sort();
            all.dedup();
            Some(all)
        });
        let streamed = query.is_streamable();
        let keep_events = !query.is_aggregating() || names_ids_after_stats(&query);
        Ok(EsqlDetector {
            streamed,
            keep_events,
            rule: rule.clone(),
            schedule: Schedule::from_rule(rule),
            aggregating: query.is_aggregating(),
            group_columns: query.group_columns(),
            id_columns: query.id_columns(),
            uses_now: query.uses_now(),
            timestamp_field: rule.timestamp_override.clone(),
            query,
            buf: VecDeque::new(),
            next_run: i64::MIN,
            last_content: None,
            emitted_ids: HashMap::new(),
            emitted_groups: HashMap::new(),
            warnings,
            runs: 0,
            rows: 0,
            duplicates: 0,
            errors: 0,
            peak_buffered: 0,
            last_error: None,
            projection,
            enrich: ctx.enrich.clone(),
        })
    }

    /// Buffers an entry (late events, behind an executed run, still join later runs).
    fn insert(&mut self, e: Entry) {
        if self.next_run == i64::MIN {
            self.next_run = self.schedule.first_run_seeing(e.t);
        }
        let pos = self.buf.partition_point(|b| b.t <= e.t);
        self.buf.insert(pos, e);
        self.peak_buffered = self.peak_buffered.max(self.buf.len() as u64);
    }

    /// Executes every run up to and including `last` that can see a buffered event.
    fn run_until(&mut self, last: i64, out: &mut Vec<AlertDraft>) {
        loop {
            let Some(front_t) = self.buf.front().map(|e| e.t) else {
                self.next_run = self.next_run.max(last.saturating_add(1));
                return;
            };
            let k = self.next_run.max(self.schedule.first_run_seeing(front_t));
            if k > last {
                return;
            }
            self.execute_run(k, out);
            self.next_run = k + 1;
            while let Some(t) = self.buf.front().map(|e| e.t) {
                if self.schedule.last_run_seeing(t) <= k {
                    self.buf.pop_front();
                } else {
                    break;
                }
            }
        }
    }

    fn execute_run(&mut self, k: i64, out: &mut Vec<AlertDraft>) {
        // The buffer is sorted by time: the window is an index range of it.
        let mut buf = std::mem::take(&mut self.buf);
        let entries = buf.make_contiguous();
        self.execute_window(k, entries, out);
        self.buf = buf;
    }

    fn execute_window(&mut self, k: i64, entries: &[Entry], out: &mut Vec<AlertDraft>) {
        let (start, end) = self.schedule.window(k);
        let lo = entries.partition_point(|e| e.t < start);
        let hi = entries.partition_point(|e| e.t < end);
        if lo >= hi {
            return;
        }
        let win = &entries[lo..hi];
        let content = (win.len(), win[0].seq, win[win.len() - 1].seq);
        if !self.uses_now && self.last_content == Some(content) {
            return;
        }
        self.last_content = Some(content);
        self.runs += 1;
        let ctx = ExecContext {
            now_ms: end,
            default_limit: None,
            enrich: self.enrich.clone(),
        };
        let result = if self.streamed {
            self.query.execute_rows(
                win.iter()
                    .enumerate()
                    .flat_map(|(i, e)| e.rows.iter().map(move |r| (i, &r[..]))),
                &ctx,
            )
        } else {
            let events: Vec<SharedEvent> = win.iter().filter_map(|e| e.event.clone()).collect();
            self.query.execute(&events, &ctx)
        };
        // Row events index the window's entries (one event per entry).
        let window: Vec<Option<&SharedEvent>> = win.iter().map(|e| e.event.as_ref()).collect();
        let table = match result {
            Ok(t) => t,
            Err(e) => {
                self.errors += 1;
                self.last_error = Some(e.to_string());
                return;
            }
        };
        // Prune ids no later run can produce again.
        let lookback = self.schedule.lookback_ms;
        self.emitted_ids
            .retain(|_, t| t.saturating_add(lookback) >= start);
        let interval = self.schedule.interval_ms;
        self.emitted_groups
            .retain(|_, kk| kk.saturating_mul(interval) > start);

        let id_cols: Vec<usize> = self
            .id_columns
            .iter()
            .filter_map(|c| table.column(c))
            .collect();
        let mut by_id: Option<HashMap<String, SharedEvent>> = None;
        let mut seen_in_run: HashMap<String, usize> = HashMap::new();
        for i in 0..table.rows.len() {
            self.rows += 1;
            let fields = table.row_object(i);
            let row_event = table.row_events[i]
                .and_then(|j| window.get(j).copied().flatten())
                .cloned();
            let ids: Vec<String> = id_cols
                .iter()
                .flat_map(|&c| {
                    table.rows[i][c]
                        .items()
                        .iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                })
                .collect();
            let (key, timestamp, events) = if !self.aggregating {
                let base = match (ids.first(), &row_event) {
                    (Some(id), _) => id.clone(),
                    (None, Some(ev)) => tripline_esql::event_doc_id(ev),
                    (None, None) => Value::Object(fields.clone()).to_string(),
                };
                let n = seen_in_run.entry(base.clone()).or_insert(0);
                let identity = if *n == 0 { base } else { format!("{base}#{n}") };
                *n += 1;
                if self.emitted_ids.contains_key(&identity) {
                    self.duplicates += 1;
                    continue;
                }
                let ts = row_event.as_ref().map(|e| e.timestamp).unwrap_or(end);
                self.emitted_ids.insert(identity.clone(), ts);
                let events = match row_event {
                    Some(e) => vec![e],
                    None => self.events_by_id(&window, &ids, &mut by_id),
                };
                (identity, ts, events)
            } else {
                let identity = self.group_identity(&table, i);
                if let Some(prev) = self.emitted_groups.get(&identity) {
                    // The previous alert's window [prev*I - L, prev*I) overlaps this one.
                    if prev.saturating_mul(interval) > start {
                        self.duplicates += 1;
                        continue;
                    }
                }
                self.emitted_groups.insert(identity.clone(), k);
                let events = self.events_by_id(&window, &ids, &mut by_id);
                (format!("{identity}@{end}"), end, events)
            };
            out.push(AlertDraft {
                rule: self.rule.clone(),
                events,
                fields: Some(fields),
                timestamp,
                reason: None,
                extra: Map::new(),
                key: Some(key),
                building_block: self.rule.building_block_type.is_some(),
            });
        }
    }

    fn events_by_id(
        &self,
        window: &[Option<&SharedEvent>],
        ids: &[String],
        cache: &mut Option<HashMap<String, SharedEvent>>,
    ) -> Vec<SharedEvent> {
        if ids.is_empty() {
            return Vec::new();
        }
        let map = cache.get_or_insert_with(|| {
            window
                .iter()
                .flatten()
                .map(|e| (tripline_esql::event_doc_id(e), (*e).clone()))
                .collect()
        });
        let mut evs: Vec<SharedEvent> = ids.iter().filter_map(|id| map.get(id).cloned()).collect();
        evs.sort_by_key(|e| (e.timestamp, e.seq));
        evs
    }

    /// The identity of an aggregated row: its group-by values (the whole row when no group
    /// column was kept).
    fn group_identity(&self, table: &tripline_esql::Table, row: usize) -> String {
        let cols: Vec<usize> = self
            .group_columns
            .iter()
            .filter_map(|c| table.column(c))
            .collect();
        let vals: Vec<Value> = if cols.is_empty() {
            table.rows[row].iter().map(|v| v.to_json()).collect()
        } else {
            cols.iter().map(|&c| table.rows[row][c].to_json()).collect()
        };
        Value::Array(vals).to_string()
    }
}

impl Detector for EsqlDetector {
    fn rule(&self) -> &Arc<Rule> {
        &self.rule
    }

    fn fields(&self) -> Option<Vec<String>> {
        self.query.fields()
    }

    fn required(&self, field: &str) -> Option<Vec<String>> {
        self.query.required_values(field)
    }

    fn may_select(&self, ev: &SharedEvent) -> bool {
        self.query.selects_event(ev)
    }

    fn reads_alerts(&self) -> bool {
        self.query.reads_alerts()
    }

    fn on_event(&mut self, ev: &SharedEvent, out: &mut Vec<AlertDraft>) {
        let (t, _) = ev.time_of(self.timestamp_field.as_deref());
        // Runs at or before this event's time are complete (input is in time order).
        if self.next_run != i64::MIN {
            self.run_until(t.div_euclid(self.schedule.interval_ms), out);
        }
        let rows = if self.streamed {
            match self.query.event_rows(ev) {
                Some(rows) if !rows.is_empty() => rows,
                _ => return,
            }
        } else {
            if !self.query.prefilter(ev) {
                return;
            }
            Vec::new()
        };
        let event = (!self.streamed || self.keep_events).then(|| match &self.projection {
            Some(fields) => project(ev, fields),
            None => ev.clone(),
        });
        self.insert(Entry {
            t,
            seq: ev.seq,
            rows,
            event,
        });
    }

    fn finish(&mut self, out: &mut Vec<AlertDraft>) {
        if let Some(t) = self.buf.back().map(|e| e.t) {
            let last = self.schedule.last_run_seeing(t);
            self.run_until(last, out);
        }
        self.buf.clear();
    }

    fn stats(&self) -> DetectorStats {
        vec![
            ("esql runs".into(), self.runs),
            ("esql rows".into(), self.rows),
            ("esql duplicate rows".into(), self.duplicates),
            ("esql errors".into(), self.errors),
            ("esql peak buffered events".into(), self.peak_buffered),
        ]
    }

    fn is_stateful(&self) -> bool {
        true
    }

    /// The buffered entries of the open look-back, the schedule position and the dedup memory,
    /// so a later run with `--state` continues the windows where this one stopped.
    ///
    /// Version 2 saves each entry's streamed rows (and its kept event, if any); version 1
    /// (whole events only) still loads: its events are streamed again on load.
    fn save_state(&self) -> Option<Value> {
        let buf: Vec<Value> = self
            .buf
            .iter()
            .map(|e| {
                let ev = e
                    .event
                    .as_ref()
                    .map(|ev| serde_json::json!([ev.doc, ev.timestamp, ev.origin]));
                serde_json::json!([e.t, e.seq, e.rows, ev])
            })
            .collect();
        let mut ids: Vec<(&String, &i64)> = self.emitted_ids.iter().collect();
        ids.sort();
        let mut groups: Vec<(&String, &i64)> = self.emitted_groups.iter().collect();
        groups.sort();
        Some(serde_json::json!({
            "v": 2,
            "query": self.query.text(),
            "interval_ms": self.schedule.interval_ms,
            "lookback_ms": self.schedule.lookback_ms,
            "next_run": (self.next_run != i64::MIN).then_some(self.next_run),
            "buf": buf,
            "emitted_ids": ids,
            "emitted_groups": groups,
        }))
    }

    fn load_state(&mut self, state: Value) -> Result<(), String> {
        type SavedEvent = (tripline_doc::Document, i64, tripline_doc::Origin);
        #[derive(serde::Deserialize)]
        struct S {
            v: u32,
            query: String,
            interval_ms: i64,
            lookback_ms: i64,
            next_run: Option<i64>,
            buf: Vec<Value>,
            emitted_ids: Vec<(String, i64)>,
            emitted_groups: Vec<(String, i64)>,
        }
        let s: S = serde_json::from_value(state).map_err(|e| format!("esql state: {e}"))?;
        if s.v != 1 && s.v != 2 {
            return Err(format!("esql state version {} is not supported", s.v));
        }
        if s.query != self.query.text() {
            return Err("esql state was saved for another query (the rule changed)".into());
        }
        if s.interval_ms != self.schedule.interval_ms || s.lookback_ms != self.schedule.lookback_ms
        {
            return Err(
                "esql state was saved with another schedule (interval or from changed)".into(),
            );
        }
        let mut buf = VecDeque::with_capacity(s.buf.len());
        for item in s.buf {
            let bad = |e: serde_json::Error| format!("esql state: {e}");
            let entry = if s.v == 1 {
                let (t, doc, timestamp, origin, seq): (
                    i64,
                    tripline_doc::Document,
                    i64,
                    tripline_doc::Origin,
                    u64,
                ) = serde_json::from_value(item).map_err(bad)?;
                let ev = Arc::new(tripline_doc::Event {
                    doc,
                    timestamp,
                    origin,
                    seq,
                });
                // Saved events passed the prefilter; stream them again.
                let rows = if self.streamed {
                    self.query.event_rows(&ev).unwrap_or_default()
                } else {
                    Vec::new()
                };
                if self.streamed && rows.is_empty() {
                    continue;
                }
                Entry {
                    t,
                    seq,
                    rows,
                    event: (!self.streamed || self.keep_events).then_some(ev),
                }
            } else {
                let (t, seq, rows, ev): (
                    i64,
                    u64,
                    Vec<tripline_esql::StreamRow>,
                    Option<SavedEvent>,
                ) = serde_json::from_value(item).map_err(bad)?;
                if self.streamed && rows.is_empty() {
                    return Err("esql state: a streamed entry without rows".into());
                }
                if !self.streamed && ev.is_none() {
                    return Err("esql state: an entry without its event".into());
                }
                Entry {
                    t,
                    seq,
                    rows,
                    event: ev.map(|(doc, timestamp, origin)| {
                        Arc::new(tripline_doc::Event {
                            doc,
                            timestamp,
                            origin,
                            seq,
                        })
                    }),
                }
            };
            buf.push_back(entry);
        }
        self.next_run = s.next_run.unwrap_or(i64::MIN);
        self.buf = buf;
        self.emitted_ids = s.emitted_ids.into_iter().collect();
        self.emitted_groups = s.emitted_groups.into_iter().collect();
        self.last_content = None;
        Ok(())
    }

    fn warnings(&self) -> Vec<String> {
        let mut w = self.warnings.clone();
        if let Some(e) = &self.last_error {
            w.push(format!("ES|QL execution error: {e}"));
        }
        w
    }
}

#[cfg(test)]
mod aws_tests;

#[cfg(test)]
mod other_tests;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use tripline_doc::{time, Document, Event, Origin};

    fn rule(query: &str, from: &str, interval: &str) -> Arc<Rule> {
        let text = format!(
            "[metadata]\ncreation_date = \"2024/01/01\"\n[rule]\nname = \"t\"\nrule_id = \"r1\"\ndescription = \"d\"\nrisk_score = 21\nseverity = \"low\"\ntype = \"esql\"\nlanguage = \"esql\"\nfrom = \"{from}\"\ninterval = \"{interval}\"\nquery = '''\n{query}\n'''\n"
        );
        Arc::new(Rule::parse("t.toml", &text).unwrap_or_else(|e| panic!("{e}")))
    }

    fn ev(seq: u64, at: &str, doc: serde_json::Value) -> SharedEvent {
        let mut d = Document(doc.as_object().cloned().unwrap_or_default());
        d.set("@timestamp", json!(at));
        Arc::new(Event {
            timestamp: time::parse_millis(at).unwrap(),
            doc: d,
            origin: Origin {
                file: "f".into(),
                record: seq + 1,
                line: None,
            },
            seq,
        })
    }

    fn run(rule: &Arc<Rule>, events: &[SharedEvent]) -> Vec<AlertDraft> {
        let mut det = compile(rule, &CompileContext::default()).unwrap_or_else(|e| panic!("{e}"));
        let mut out = Vec::new();
        for e in events {
            det.on_event(e, &mut out);
        }
        det.finish(&mut out);
        out
    }

    #[test]
    fn non_aggregating_rows_alert_once_per_event() {
        let r = rule("FROM logs-aws.cloudtrail-* METADATA _id | WHERE event.action == \"CreateUser\" | KEEP _id, user.name", "now-9m", "5m");
        let events = vec![
            ev(
                0,
                "2024-05-01T10:00:00Z",
                json!({"event": {"action": "CreateUser", "id": "a"}, "user": {"name": "x"}}),
            ),
            ev(
                1,
                "2024-05-01T10:03:00Z",
                json!({"event": {"action": "GetUser", "id": "b"}}),
            ),
            ev(
                2,
                "2024-05-01T10:07:00Z",
                json!({"event": {"action": "CreateUser", "id": "c"}, "user": {"name": "y"}}),
            ),
            ev(
                3,
                "2024-05-01T11:00:00Z",
                json!({"event": {"action": "GetUser", "id": "d"}}),
            ),
        ];
        let alerts = run(&r, &events);
        // Each CreateUser is seen by two overlapping runs but alerts once.
        assert_eq!(alerts.len(), 2);
        assert_eq!(alerts[0].key.as_deref(), Some("a"));
        assert_eq!(alerts[0].events[0].seq, 0);
        assert_eq!(alerts[0].fields.as_ref().unwrap()["user.name"], json!("x"));
        assert_eq!(alerts[1].key.as_deref(), Some("c"));
    }

    #[test]
    fn aggregating_rows_dedup_within_overlap_and_use_run_time() {
        let r = rule(
            "FROM logs-aws.cloudtrail-* METADATA _id | WHERE event.action == \"GetObject\" | STATS c = COUNT(*), ids = VALUES(_id) BY user.name | WHERE c >= 2",
            "now-10m",
            "5m",
        );
        let mut events = vec![
            ev(
                0,
                "2024-05-01T10:01:00Z",
                json!({"event": {"action": "GetObject", "id": "a"}, "user": {"name": "u"}}),
            ),
            ev(
                1,
                "2024-05-01T10:02:00Z",
                json!({"event": {"action": "GetObject", "id": "b"}, "user": {"name": "u"}}),
            ),
            ev(
                2,
                "2024-05-01T10:06:00Z",
                json!({"event": {"action": "GetObject", "id": "c"}, "user": {"name": "u"}}),
            ),
        ];
        let alerts = run(&r, &events);
        assert_eq!(
            alerts.len(),
            1,
            "the 10:10 run sees the same group within the overlap"
        );
        assert_eq!(alerts[0].fields.as_ref().unwrap()["c"], json!(2));
        assert_eq!(
            alerts[0].timestamp,
            time::parse_millis("2024-05-01T10:05:00Z").unwrap()
        );
        assert_eq!(alerts[0].events.len(), 2);
        // A group recurring after the look-back alerts again.
        events.push(ev(
            3,
            "2024-05-01T12:00:00Z",
            json!({"event": {"action": "GetObject", "id": "d"}, "user": {"name": "u"}}),
        ));
        events.push(ev(
            4,
            "2024-05-01T12:01:00Z",
            json!({"event": {"action": "GetObject", "id": "e"}, "user": {"name": "u"}}),
        ));
        assert_eq!(run(&r, &events).len(), 2);
    }

    #[test]
    fn buffer_is_bounded_by_lookback_and_prefilter() {
        let r = rule("FROM logs-aws.cloudtrail-* | WHERE event.action == \"X\" | STATS c = COUNT(*) BY user.name | WHERE c > 100", "now-6m", "5m");
        let mut det = EsqlDetector::new(&r, &CompileContext::default()).unwrap();
        let mut out = Vec::new();
        let base = time::parse_millis("2024-05-01T00:00:00Z").unwrap();
        for i in 0..2000u64 {
            let at = time::format_millis(base + i as i64 * 10_000);
            let action = if i % 2 == 0 { "X" } else { "Y" };
            det.on_event(
                &ev(
                    i,
                    &at,
                    json!({"event": {"action": action}, "user": {"name": "u"}}),
                ),
                &mut out,
            );
        }
        det.finish(&mut out);
        assert!(out.is_empty());
        // 6 minutes of look-back at one matching event per 20 s, plus one interval of slack.
        assert!(det.peak_buffered <= 40, "peak {}", det.peak_buffered);
        assert!(det.runs >= 60, "runs {}", det.runs);
    }

    #[test]
    fn state_round_trip_continues_windows_and_dedup() {
        let r = rule(
            "FROM logs-aws.cloudtrail-* METADATA _id | WHERE event.action == \"GetObject\" | STATS c = COUNT(*) BY user.name | WHERE c >= 2",
            "now-10m",
            "5m",
        );
        let events = [
            ev(
                0,
                "2024-05-01T10:01:00Z",
                json!({"event": {"action": "GetObject", "id": "a"}, "user": {"name": "u"}}),
            ),
            ev(
                1,
                "2024-05-01T10:02:00Z",
                json!({"event": {"action": "GetObject", "id": "b"}, "user": {"name": "u"}}),
            ),
            ev(
                2,
                "2024-05-01T10:08:00Z",
                json!({"event": {"action": "GetObject", "id": "c"}, "user": {"name": "v"}}),
            ),
            ev(
                3,
                "2024-05-01T10:09:00Z",
                json!({"event": {"action": "GetObject", "id": "d"}, "user": {"name": "v"}}),
            ),
        ];
        // One run over everything…
        let whole = run(&r, &events);
        // …equals a first run over three events (its 10:05 run alerts for u), saved, and a
        // second run restoring the state (whose 10:10 run sees u again and must not re-alert).
        let mut first = compile(&r, &CompileContext::default()).unwrap();
        let mut out = Vec::new();
        for e in &events[..3] {
            first.on_event(e, &mut out);
        }
        let state = first.save_state().unwrap();
        let mut second = compile(&r, &CompileContext::default()).unwrap();
        second.load_state(state).unwrap();
        assert_eq!(out.len(), 1);
        for e in &events[3..] {
            second.on_event(e, &mut out);
        }
        second.finish(&mut out);
        let keys = |v: &[AlertDraft]| v.iter().map(|a| a.key.clone()).collect::<Vec<_>>();
        assert_eq!(whole.len(), 2);
        assert_eq!(keys(&out), keys(&whole));
        // A version-1 state (whole events) still loads: its events are streamed again.
        let mut v1 = first.save_state().unwrap();
        let buf: Vec<Value> = events[..3]
            .iter()
            .map(|e| json!([e.timestamp, e.doc, e.timestamp, e.origin, e.seq]))
            .collect();
        v1["v"] = json!(1);
        v1["buf"] = json!(buf);
        let mut third = compile(&r, &CompileContext::default()).unwrap();
        third.load_state(v1).unwrap();
        let mut out1 = out[..1].to_vec();
        for e in &events[3..] {
            third.on_event(e, &mut out1);
        }
        third.finish(&mut out1);
        assert_eq!(keys(&out1), keys(&whole));
        let other = rule("FROM logs-aws.cloudtrail-* | LIMIT 1", "now-10m", "5m");
        let mut det = compile(&other, &CompileContext::default()).unwrap();
        assert!(det.load_state(first.save_state().unwrap()).is_err());
    }

    /// A stand-in for any rule: alerts on `event.action: Bad` (plus a building block), and
    /// once more when the input ends.
    struct Emitter {
        rule: Arc<Rule>,
        last: Option<SharedEvent>,
    }

    impl Detector for Emitter {
        fn rule(&self) -> &Arc<Rule> {
            &self.rule
        }

        fn on_event(&mut self, ev: &SharedEvent, out: &mut Vec<AlertDraft>) {
            self.last = Some(ev.clone());
            if ev.doc.str("event.action") == Some("Bad") {
                out.push(AlertDraft::for_event(&self.rule, ev));
                let mut bb = AlertDraft::for_event(&self.rule, ev);
                bb.building_block = true;
                out.push(bb);
            }
        }

        fn finish(&mut self, out: &mut Vec<AlertDraft>) {
            if let Some(ev) = &self.last {
                let mut a = AlertDraft::for_event(&self.rule, ev);
                a.key = Some("at-finish".into());
                out.push(a);
            }
        }
    }

    /// Mimics `tripline_alerts::build_alert`'s shape: the source document, `event.kind:
    /// signal`, dotted `kibana.alert.*` keys.
    fn alert_doc(d: &AlertDraft) -> Document {
        let mut doc = d.events.first().map(|e| e.doc.clone()).unwrap_or_default();
        doc.set("event.kind", json!("signal"));
        let id = d
            .key
            .clone()
            .or_else(|| {
                d.events
                    .first()
                    .and_then(|e| e.event_id().map(str::to_string))
            })
            .unwrap_or_default();
        doc.0.insert(
            "kibana.alert.uuid".into(),
            json!(format!("{}:{id}", d.rule.rule_id)),
        );
        doc.0
            .insert("kibana.alert.rule.name".into(), json!(d.rule.name));
        doc.0
            .insert("@timestamp".into(), json!(time::format_millis(d.timestamp)));
        doc
    }

    fn named(name: &str, query: &str) -> Arc<Rule> {
        let text = format!(
            "[metadata]\ncreation_date = \"2024/01/01\"\n[rule]\nname = \"{name}\"\nrule_id = \"{name}\"\ndescription = \"d\"\nrisk_score = 21\nseverity = \"low\"\ntype = \"esql\"\nlanguage = \"esql\"\nfrom = \"now-6m\"\ninterval = \"5m\"\nquery = '''\n{query}\n'''\n"
        );
        Arc::new(Rule::parse("t.toml", &text).unwrap_or_else(|e| panic!("{e}")))
    }

    fn run_with_alerts(builder: bool) -> Vec<AlertDraft> {
        let emitter = Box::new(Emitter {
            rule: named("emitter", "FROM logs-* | LIMIT 1"),
            last: None,
        });
        // r1 keeps the alerts of "emitter"; r2 keeps every alert it is given, so it would
        // see r1's alerts if alert readers' alerts were fed again.
        let r1 = named(
            "r1",
            "FROM .alerts-security.* METADATA _id | WHERE kibana.alert.rule.name == \"emitter\" | KEEP _id, kibana.alert.rule.name, event.id",
        );
        let r2 = named(
            "r2",
            "FROM .alerts-security.* METADATA _id | KEEP _id, kibana.alert.rule.name",
        );
        let ctx = CompileContext::default();
        let dets: Vec<Box<dyn Detector>> = vec![
            compile(&r1, &ctx).unwrap(),
            emitter,
            compile(&r2, &ctx).unwrap(),
        ];
        let mut runner = crate::runner::Runner::new(dets, crate::runner::RunnerConfig::default());
        assert!(runner.reads_alerts());
        if builder {
            runner.set_alert_doc_builder(Box::new(alert_doc));
        }
        let mut out = Vec::new();
        for (i, (at, action)) in [
            ("2024-05-01T10:00:00Z", "Bad"),
            ("2024-05-01T10:01:00Z", "Good"),
            ("2024-05-01T10:02:00Z", "Bad"),
            ("2024-05-01T10:30:00Z", "Good"),
        ]
        .into_iter()
        .enumerate()
        {
            let e = ev(
                i as u64,
                at,
                json!({"event": {"action": action, "id": format!("e{i}")}}),
            );
            runner.push(e, &mut out);
        }
        runner.finish(&mut out);
        out
    }

    #[test]
    fn alert_reading_rules_see_emitted_alerts_once_and_never_their_own() {
        let out = run_with_alerts(true);
        let by = |name: &str| -> Vec<&AlertDraft> {
            out.iter()
                .filter(|a| a.rule.name == name && !a.building_block)
                .collect()
        };
        // Two event alerts and the one emitted when the input ends (after which the readers
        // flush); building blocks are not alerts to read.
        assert_eq!(by("emitter").len(), 3);
        let r1 = by("r1");
        let ids: Vec<&Value> = r1
            .iter()
            .map(|a| &a.fields.as_ref().unwrap()["_id"])
            .collect();
        assert_eq!(
            ids,
            vec![
                &json!("emitter:e0"),
                &json!("emitter:e2"),
                &json!("emitter:at-finish")
            ]
        );
        // The alert event keeps the source's fields and its time.
        assert_eq!(r1[0].fields.as_ref().unwrap()["event.id"], json!("e0"));
        assert_eq!(
            r1[0].timestamp,
            time::parse_millis("2024-05-01T10:00:00Z").unwrap()
        );
        let r2 = by("r2");
        assert_eq!(r2.len(), 3);
        assert!(r2
            .iter()
            .all(|a| a.fields.as_ref().unwrap()["kibana.alert.rule.name"] == json!("emitter")));
        // Without a builder, nothing is fed.
        let out = run_with_alerts(false);
        assert!(out.iter().all(|a| a.rule.name == "emitter"));
    }

    #[test]
    fn compile_errors_name_the_capability() {
        let r = rule(
            "from metrics-aws.* | where aws.ec2.cpu.total.pct > 1",
            "now-6m",
            "5m",
        );
        let e = compile(&r, &CompileContext::default()).err().unwrap();
        assert!(matches!(e, CompileError::Unsupported(_)), "{e}");
        assert!(e.to_string().contains("metrics-aws.*"), "{e}");
        let r = rule(
            "from .alerts-security.* | where kibana.alert.risk_score > 1",
            "now-6m",
            "5m",
        );
        assert!(compile(&r, &CompileContext::default())
            .unwrap()
            .reads_alerts());
        let r = rule("from logs-aws.cloudtrail-* | wher x", "now-6m", "5m");
        assert!(matches!(
            compile(&r, &CompileContext::default()).err().unwrap(),
            CompileError::Syntax { .. }
        ));
    }
}
