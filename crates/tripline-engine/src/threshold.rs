//! `threshold` rules, replayed on Elastic's schedule in event time (see [`crate::window`]).
//!
//! Each run `k` looks at `[k*interval - lookback, k*interval)`; per group (the values of
//! `threshold.field`, every combination for multi-valued fields, one group for all events when
//! there are no fields; events missing a group field belong to no group, as in a terms
//! aggregation) it counts the matching events and the distinct values of each
//! `threshold.cardinality` field. A group alerts when `count >= value` and every cardinality
//! reaches its value. Like Elastic's threshold signal history, the events an alert counted are
//! not counted again: a group alerts again only with events after its last alert's last event.
//!
//! Incremental evaluation: a run is evaluated when the first event at or after its time
//! arrives (the runner delivers events in time order), and only for groups that received
//! events since their last evaluation. That is exact: without new events a group's window
//! only loses events, so a run that did not fire cannot fire later. Late events (older than
//! the current run) count as if they arrived at the current run's start.
//!
//! `finish` evaluates the pending run with what it has, without closing it: if a later hunt
//! (with the state store) brings events of the same run, the run is evaluated again with all
//! of them, so a threshold reached across two inputs is not missed.
//!
//! The alert (no single source event) carries the group's field values in
//! [`AlertDraft::fields`], and `kibana.alert.threshold_result` as Elastic writes it:
//! `{terms: [{field, value}], count, from, cardinality: [{field, value}]}` with `from` the
//! first counted event's time; the alert's time is the last counted event's.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::Arc;

use serde_json::{json, Map, Value};
use tripline_doc::{time::format_millis, SharedEvent};
use tripline_ir::Predicate;
use tripline_rules::Rule;

use crate::compile::{CompileContext, CompileError};
use crate::detector::{AlertDraft, Detector, DetectorStats};
use crate::window::Schedule;

#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
struct Entry {
    t: i64,
    /// Values of each cardinality field (every value of a multi-valued field).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    card: Vec<Vec<String>>,
}

pub struct ThresholdDetector {
    rule: Arc<Rule>,
    predicate: Predicate,
    warnings: Vec<String>,
    group_fields: Vec<String>,
    group_sources: Vec<String>,
    value: u64,
    /// (field, `_source` path, minimum distinct values)
    cardinality: Vec<(String, String, u64)>,
    sched: Schedule,
    /// The next run to evaluate; `None` before the first event.
    next_run: Option<i64>,
    groups: HashMap<Vec<String>, VecDeque<Entry>>,
    dirty: BTreeSet<Vec<String>>,
    truncated: u64,
}

pub fn compile(rule: &Arc<Rule>, ctx: &CompileContext) -> Result<Box<dyn Detector>, CompileError> {
    Ok(Box::new(ThresholdDetector::new(rule, ctx)?))
}

impl ThresholdDetector {
    pub fn new(rule: &Arc<Rule>, ctx: &CompileContext) -> Result<ThresholdDetector, CompileError> {
        let th = rule.threshold.as_ref().ok_or_else(|| {
            CompileError::Invalid("threshold rule without [rule.threshold]".into())
        })?;
        if th.value == 0 {
            return Err(CompileError::Invalid(
                "threshold.value must be at least 1".into(),
            ));
        }
        let mut cardinality = Vec::new();
        for c in &th.cardinality {
            if c.field.trim().is_empty() {
                return Err(CompileError::Invalid(
                    "threshold.cardinality entry without a field".into(),
                ));
            }
            cardinality.push((
                c.field.clone(),
                ctx.types.source_path(&c.field).to_string(),
                c.value,
            ));
        }
        let group_fields: Vec<String> = th
            .field
            .iter()
            .filter(|f| !f.trim().is_empty())
            .cloned()
            .collect();
        let (predicate, warnings) = crate::query_rule::compile_kql(rule, ctx)?;
        Ok(ThresholdDetector {
            rule: rule.clone(),
            predicate,
            warnings,
            group_sources: group_fields
                .iter()
                .map(|f| ctx.types.source_path(f).to_string())
                .collect(),
            group_fields,
            value: th.value,
            cardinality,
            sched: Schedule::from_rule(rule),
            next_run: None,
            groups: HashMap::new(),
            dirty: BTreeSet::new(),
            truncated: 0,
        })
    }

    fn group_keys(&mut self, ev: &SharedEvent) -> Vec<Vec<String>> {
        crate::tuples::combinations(ev, &self.group_sources, &mut self.truncated)
    }

    /// Evaluates run `k` for the dirty groups.
    fn evaluate(&mut self, k: i64, out: &mut Vec<AlertDraft>) {
        let (start, end) = self.sched.window(k);
        let dirty = std::mem::take(&mut self.dirty);
        for key in dirty {
            let Some(entries) = self.groups.get_mut(&key) else {
                continue;
            };
            entries.retain(|e| e.t >= start);
            let counted: Vec<usize> = (0..entries.len())
                .filter(|&i| entries[i].t >= start && entries[i].t < end)
                .collect();
            let count = counted.len() as u64;
            if count < self.value {
                continue;
            }
            let mut card_counts = Vec::with_capacity(self.cardinality.len());
            let mut ok = true;
            for (ci, (_, _, min)) in self.cardinality.iter().enumerate() {
                let mut distinct: HashSet<&str> = HashSet::new();
                for &i in &counted {
                    if let Some(vals) = entries[i].card.get(ci) {
                        distinct.extend(vals.iter().map(|s| s.as_str()));
                    }
                }
                let n = distinct.len() as u64;
                ok &= n >= *min;
                card_counts.push(n);
            }
            if !ok {
                continue;
            }
            let first = counted.iter().map(|&i| entries[i].t).min().unwrap_or(start);
            let last = counted.iter().map(|&i| entries[i].t).max().unwrap_or(start);
            // Elastic's signal history: counted events never count again for this group.
            let keep: VecDeque<Entry> = entries
                .drain(..)
                .enumerate()
                .filter(|(i, _)| counted.binary_search(i).is_err())
                .map(|(_, e)| e)
                .collect();
            *entries = keep;
            out.push(self.draft(&key, count, &card_counts, first, last, k));
        }
        // Later runs start later: what is before this window is never needed again.
        self.groups.retain(|_, e| {
            e.retain(|x| x.t >= start);
            !e.is_empty()
        });
    }

    fn draft(
        &self,
        key: &[String],
        count: u64,
        card: &[u64],
        first: i64,
        last: i64,
        run: i64,
    ) -> AlertDraft {
        let mut fields = Map::new();
        let mut terms = Vec::new();
        for (f, v) in self.group_fields.iter().zip(key) {
            fields.insert(f.clone(), json!(v));
            terms.push(json!({"field": f, "value": v}));
        }
        let mut result = Map::new();
        result.insert("terms".into(), Value::Array(terms));
        result.insert("count".into(), json!(count));
        result.insert("from".into(), json!(format_millis(first)));
        if !self.cardinality.is_empty() {
            let c: Vec<Value> = self
                .cardinality
                .iter()
                .zip(card)
                .map(|((f, _, _), n)| json!({"field": f, "value": n}))
                .collect();
            result.insert("cardinality".into(), Value::Array(c));
        }
        let mut extra = Map::new();
        extra.insert("threshold_result".into(), Value::Object(result));
        let group = if key.is_empty() {
            String::new()
        } else {
            format!(
                " for {}",
                self.group_fields
                    .iter()
                    .zip(key)
                    .map(|(f, v)| format!("{f}={v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        let mut card_txt = String::new();
        for ((f, _, _), n) in self.cardinality.iter().zip(card) {
            card_txt.push_str(&format!(", {n} distinct {f}"));
        }
        AlertDraft {
            rule: self.rule.clone(),
            events: Vec::new(),
            fields: Some(fields),
            timestamp: last,
            reason: Some(format!(
                "{count} events{group}{card_txt} between {} and {} reached the threshold of {}: {} alert {}.",
                format_millis(first),
                format_millis(last),
                self.value,
                self.rule.severity,
                self.rule.name
            )),
            extra,
            key: Some(format!("{}\u{1f}{first}\u{1f}{run}", key.join("\u{1f}"))),
            building_block: false,
        }
    }

    /// Evaluates every run due by time `t` (all runs at or before `t`).
    fn advance(&mut self, t: i64, out: &mut Vec<AlertDraft>) {
        let next = match self.next_run {
            Some(n) => n,
            None => {
                self.next_run = Some(self.sched.first_run_seeing(t));
                return;
            }
        };
        if self.sched.run_time(next) > t {
            return;
        }
        if !self.dirty.is_empty() {
            self.evaluate(next, out);
        }
        // Nothing is dirty after an evaluation: runs up to `t` have nothing new to see.
        self.next_run = Some(self.sched.first_run_seeing(t).max(next + 1));
    }
}

impl Detector for ThresholdDetector {
    fn rule(&self) -> &Arc<Rule> {
        &self.rule
    }

    fn fields(&self) -> Option<Vec<String>> {
        let mut f: Vec<String> = self
            .predicate
            .fields()
            .iter()
            .map(|f| f.to_string())
            .collect();
        f.extend(self.group_fields.iter().cloned());
        f.extend(self.cardinality.iter().map(|c| c.0.clone()));
        f.sort();
        f.dedup();
        Some(f)
    }

    fn required(&self, field: &str) -> Option<Vec<String>> {
        self.predicate.required_values(field)
    }

    fn on_event(&mut self, ev: &SharedEvent, out: &mut Vec<AlertDraft>) {
        self.advance(ev.timestamp, out);
        if !self.predicate.matches(&ev.doc) {
            return;
        }
        // Late events count from the current run on (see the module doc).
        let epoch_start = self
            .next_run
            .map(|n| self.sched.run_time(n - 1))
            .unwrap_or(ev.timestamp);
        let t = ev.timestamp.max(epoch_start);
        let card: Vec<Vec<String>> = self
            .cardinality
            .iter()
            .map(|(_, src, _)| crate::tuples::distinct_values(ev, src, &mut self.truncated))
            .collect();
        for key in self.group_keys(ev) {
            self.groups
                .entry(key.clone())
                .or_default()
                .push_back(Entry {
                    t,
                    card: card.clone(),
                });
            self.dirty.insert(key);
        }
    }

    fn finish(&mut self, out: &mut Vec<AlertDraft>) {
        if let Some(next) = self.next_run {
            if !self.dirty.is_empty() {
                // Not closing the run: see the module doc.
                self.evaluate(next, out);
            }
        }
    }

    fn stats(&self) -> DetectorStats {
        let mut s = vec![(
            "threshold groups in window".to_string(),
            self.groups.len() as u64,
        )];
        if self.truncated > 0 {
            s.push((
                "events with too many group values (truncated)".into(),
                self.truncated,
            ));
        }
        s
    }

    fn is_stateful(&self) -> bool {
        true
    }

    fn save_state(&self) -> Option<Value> {
        let mut groups: Vec<(&Vec<String>, &VecDeque<Entry>)> = self.groups.iter().collect();
        groups.sort_by(|a, b| a.0.cmp(b.0));
        Some(json!({
            "v": 1,
            "interval_ms": self.sched.interval_ms,
            "lookback_ms": self.sched.lookback_ms,
            "next_run": self.next_run,
            "groups": groups.into_iter().map(|(k, e)| json!([k, e])).collect::<Vec<_>>(),
            "dirty": self.dirty,
        }))
    }

    fn load_state(&mut self, state: Value) -> Result<(), String> {
        #[derive(serde::Deserialize)]
        struct S {
            v: u32,
            interval_ms: i64,
            lookback_ms: i64,
            next_run: Option<i64>,
            groups: Vec<(Vec<String>, VecDeque<Entry>)>,
            dirty: BTreeSet<Vec<String>>,
        }
        let s: S = serde_json::from_value(state).map_err(|e| format!("threshold state: {e}"))?;
        if s.v != 1 {
            return Err(format!("threshold state version {} is not supported", s.v));
        }
        if s.interval_ms != self.sched.interval_ms || s.lookback_ms != self.sched.lookback_ms {
            return Err(
                "threshold state was saved with another schedule (interval or from changed)".into(),
            );
        }
        let width = self.group_fields.len();
        let cw = self.cardinality.len();
        if s.groups
            .iter()
            .any(|(k, es)| k.len() != width || es.iter().any(|e| e.card.len() != cw))
        {
            return Err(
                "threshold state has another group or cardinality shape (the rule changed)".into(),
            );
        }
        self.next_run = s.next_run;
        self.groups = s.groups.into_iter().collect();
        self.dirty = s.dirty;
        Ok(())
    }

    fn warnings(&self) -> Vec<String> {
        self.warnings.clone()
    }
}
