//! `new_terms` rules, in event time.
//!
//! Elastic's semantics: the rule's query selects events; the tuple of values of its
//! `new_terms_fields` (1 to 3 fields) is *new* when no matching event carried it during the
//! history window (`history_window_start`, e.g. `now-7d`) before. Multi-valued fields count
//! every combination (Elastic's composite aggregation does the same); an event missing one of
//! the fields carries no tuple. The first event carrying a new tuple alerts, once per tuple
//! (an event with several new tuples raises one alert per tuple, like Elastic, whose alerts
//! carry the tuple in `kibana.alert.new_terms`).
//!
//! Here every event is judged against the window `[t - history, t)` before its own time `t`:
//! the detector keeps, per tuple, the last time a matching event carried it; a tuple is new
//! iff that time is older than `t - history` (or absent). So a tuple seen 8 days ago is new
//! again under `now-7d`, one seen 6 days ago is not, and a tuple alerts again only after it has
//! been absent for a whole history window. Entries older than the window are dropped as time
//! advances: memory is one timestamp per tuple seen within the last window.
//!
//! Warm-up: during the input's first history window the detector has not seen the history
//! Elastic would have had, so every tuple would look new. By default no alert is raised before
//! `input start + history` (counted as `alerts withheld during first history window`);
//! `CompileContext::no_warmup` alerts anyway. With a state store the input start survives, so
//! a second day's hunt has no warm-up.
//!
//! Time is the event's `@timestamp` (the runner's order), not `timestamp_override`: offline,
//! `event.ingested` is absent or the time of some earlier ingestion, and the runner's reorder
//! window plays the role Elastic gives the override (catching late deliveries).

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{json, Value};
use tripline_doc::{time::format_millis, SharedEvent};
use tripline_ir::Predicate;
use tripline_rules::Rule;

use crate::compile::{CompileContext, CompileError};
use crate::detector::{AlertDraft, Detector, DetectorStats};

pub struct NewTermsDetector {
    rule: Arc<Rule>,
    predicate: Predicate,
    /// Fields as written, and the `_source` paths their values come from.
    fields: Vec<String>,
    sources: Vec<String>,
    history_ms: i64,
    no_warmup: bool,
    warnings: Vec<String>,
    /// Tuple → last time a matching event carried it.
    seen: HashMap<Vec<String>, i64>,
    /// Start of the input (first event the runner dispatched, or the first one seen).
    input_start: Option<i64>,
    last_sweep: i64,
    withheld: u64,
    truncated: u64,
}

pub fn compile(rule: &Arc<Rule>, ctx: &CompileContext) -> Result<Box<dyn Detector>, CompileError> {
    Ok(Box::new(NewTermsDetector::new(rule, ctx)?))
}

impl NewTermsDetector {
    pub fn new(rule: &Arc<Rule>, ctx: &CompileContext) -> Result<NewTermsDetector, CompileError> {
        let nt = rule.new_terms.as_ref().ok_or_else(|| {
            CompileError::Invalid("new_terms rule without [rule.new_terms]".into())
        })?;
        if nt.fields.is_empty() || nt.fields.len() > 3 {
            return Err(CompileError::Invalid(format!(
                "new_terms_fields must list 1 to 3 fields, got {}",
                nt.fields.len()
            )));
        }
        let history_ms = tripline_doc::time::parse_now_minus(&nt.history_window_start)
            .filter(|h| *h > 0)
            .ok_or_else(|| {
                CompileError::Invalid(format!(
                    "history_window_start {:?} is not now-<duration>",
                    nt.history_window_start
                ))
            })?;
        let (predicate, warnings) = crate::query_rule::compile_kql(rule, ctx)?;
        Ok(NewTermsDetector {
            rule: rule.clone(),
            predicate,
            sources: nt
                .fields
                .iter()
                .map(|f| ctx.types.source_path(f).to_string())
                .collect(),
            fields: nt.fields.clone(),
            history_ms,
            no_warmup: ctx.no_warmup,
            warnings,
            seen: HashMap::new(),
            input_start: None,
            last_sweep: i64::MIN,
            withheld: 0,
            truncated: 0,
        })
    }

    /// Every combination of the event's values for the fields (empty when one is missing).
    fn tuples(&mut self, ev: &SharedEvent) -> Vec<Vec<String>> {
        crate::tuples::combinations(ev, &self.sources, &mut self.truncated)
    }

    /// Drops tuples last seen before the window of `now`: they would be new again anyway.
    fn sweep(&mut self, now: i64) {
        // Amortized: a full pass at most every quarter window of event time.
        if now.saturating_sub(self.last_sweep) < self.history_ms / 4 {
            return;
        }
        self.last_sweep = now;
        let horizon = now.saturating_sub(self.history_ms);
        self.seen.retain(|_, last| *last >= horizon);
    }
}

impl Detector for NewTermsDetector {
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
        f.extend(self.fields.iter().cloned());
        f.sort();
        f.dedup();
        Some(f)
    }

    fn required(&self, field: &str) -> Option<Vec<String>> {
        self.predicate.required_values(field)
    }

    fn input_started(&mut self, t: i64) {
        if self.input_start.is_none() {
            self.input_start = Some(t);
        }
    }

    fn on_event(&mut self, ev: &SharedEvent, out: &mut Vec<AlertDraft>) {
        let t = ev.timestamp;
        let start = *self.input_start.get_or_insert(t);
        if t < start {
            // An event older than the input start (late delivery): the start moves back.
            self.input_start = Some(t);
        }
        self.sweep(t);
        if !self.predicate.matches(&ev.doc) {
            return;
        }
        let horizon = t.saturating_sub(self.history_ms);
        let warm = self.no_warmup
            || t >= self
                .input_start
                .unwrap_or(t)
                .saturating_add(self.history_ms);
        for tuple in self.tuples(ev) {
            let is_new = match self.seen.get_mut(&tuple) {
                Some(last) => {
                    let new = *last < horizon;
                    *last = (*last).max(t);
                    new
                }
                None => {
                    self.seen.insert(tuple.clone(), t);
                    true
                }
            };
            if !is_new {
                continue;
            }
            if !warm {
                self.withheld += 1;
                continue;
            }
            let mut d = AlertDraft::for_event(&self.rule, ev);
            d.extra.insert(
                "new_terms".into(),
                Value::Array(tuple.iter().map(|s| json!(s)).collect()),
            );
            let id = ev
                .event_id()
                .map(String::from)
                .unwrap_or_else(|| format!("{}#{}", ev.origin.file, ev.origin.record));
            // One event can raise one alert per new tuple: the tuple is part of the identity.
            d.key = Some(format!("{id}\u{1f}{}", tuple.join("\u{1f}")));
            let terms = self
                .fields
                .iter()
                .zip(&tuple)
                .map(|(f, v)| format!("{f}={v}"))
                .collect::<Vec<_>>()
                .join(", ");
            d.reason = Some(format!(
                "New terms {terms} not seen since {} in {} created {} alert {}.",
                format_millis(horizon),
                ev.doc.str("event.action").unwrap_or("event"),
                self.rule.severity,
                self.rule.name
            ));
            out.push(d);
        }
    }

    fn stats(&self) -> DetectorStats {
        let mut s = vec![("new_terms live tuples".to_string(), self.seen.len() as u64)];
        if self.withheld > 0 {
            s.push((
                "alerts withheld during first history window".into(),
                self.withheld,
            ));
        }
        if self.truncated > 0 {
            s.push((
                "events with too many term combinations (truncated)".into(),
                self.truncated,
            ));
        }
        s
    }

    fn is_stateful(&self) -> bool {
        true
    }

    fn save_state(&self) -> Option<Value> {
        // Sorted so identical state serializes identically.
        let mut tuples: Vec<(&Vec<String>, &i64)> = self.seen.iter().collect();
        tuples.sort();
        Some(json!({
            "v": 1,
            "history_ms": self.history_ms,
            "input_start": self.input_start,
            "last_sweep": self.last_sweep,
            "withheld": self.withheld,
            "seen": tuples.into_iter().map(|(k, t)| json!([k, t])).collect::<Vec<_>>(),
        }))
    }

    fn load_state(&mut self, state: Value) -> Result<(), String> {
        #[derive(serde::Deserialize)]
        struct S {
            v: u32,
            history_ms: i64,
            input_start: Option<i64>,
            last_sweep: i64,
            #[serde(default)]
            withheld: u64,
            seen: Vec<(Vec<String>, i64)>,
        }
        let s: S = serde_json::from_value(state).map_err(|e| format!("new_terms state: {e}"))?;
        if s.v != 1 {
            return Err(format!("new_terms state version {} is not supported", s.v));
        }
        if s.seen.iter().any(|(k, _)| k.len() != self.fields.len()) {
            return Err(
                "new_terms state has tuples of another width (the rule's fields changed)".into(),
            );
        }
        self.input_start = s.input_start;
        self.last_sweep = s.last_sweep;
        self.withheld = s.withheld;
        self.seen = s.seen.into_iter().collect();
        if s.history_ms != self.history_ms {
            // A shorter or longer window: entries stay valid as "last seen" times.
            self.last_sweep = i64::MIN;
        }
        Ok(())
    }

    fn warnings(&self) -> Vec<String> {
        self.warnings.clone()
    }
}
