//! Alert suppression (`[rule.alert_suppression]`), in event time.
//!
//! Elastic keeps one alert per group (the values of `group_by`) per suppression window and
//! counts the alerts it did not create in `kibana.alert.suppression.docs_count`, updating the
//! kept alert in place (`suppression.end` moves on). Offline there is no "in place", so the
//! kept alert is held back until its window closes in event time (an event at or after the
//! window end passes, or the input ends) and then emitted once, with its final counts. The
//! window starts at the first alert of the group and lasts `duration`; a rule without
//! `duration` suppresses per rule execution, mapped to the schedule: aligned windows of one
//! `interval` (`[k*interval, (k+1)*interval)`), the span one execution covers.
//!
//! `missing_fields_strategy`: `suppress` (default) groups alerts missing a field together
//! (the missing value is `null`); `doNotSuppress` emits them at once, unsuppressed.
//!
//! Fields written (as Elastic does): `kibana.alert.suppression.terms` (`[{field, value}]`,
//! value a scalar, a list for multi-valued fields, `null` when missing), `.start`, `.end`
//! (first and last suppressed alert times) and `.docs_count` (alerts suppressed, the kept one
//! not included).
//!
//! Values are read from the alert's own fields first (threshold groups, ES|QL rows), then
//! from its first source event. For `threshold` rules without `group_by`, the threshold's
//! grouping fields are used, as Elastic does.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use serde_json::{json, Map, Value};
use tripline_doc::{time::format_millis, Document, Event, Origin, SharedEvent};
use tripline_rules::{Rule, RuleType};

use crate::compile::CompileError;
use crate::detector::{AlertDraft, Detector, DetectorStats};

/// What to suppress and for how long.
#[derive(Debug, Clone, PartialEq)]
pub struct SuppressionConfig {
    pub group_by: Vec<String>,
    /// `None`: per rule execution (aligned windows of `interval_ms`).
    pub duration_ms: Option<i64>,
    pub interval_ms: i64,
    /// `missing_fields_strategy = "suppress"`.
    pub suppress_missing: bool,
}

impl SuppressionConfig {
    /// The rule's suppression, if it has one.
    pub fn from_rule(rule: &Rule) -> Result<Option<SuppressionConfig>, CompileError> {
        let Some(s) = &rule.alert_suppression else {
            return Ok(None);
        };
        let mut group_by: Vec<String> = s
            .group_by
            .iter()
            .filter(|f| !f.trim().is_empty())
            .cloned()
            .collect();
        if group_by.is_empty() && rule.rule_type == RuleType::Threshold {
            group_by = rule
                .threshold
                .as_ref()
                .map(|t| t.field.clone())
                .unwrap_or_default();
        }
        if group_by.is_empty() && rule.rule_type != RuleType::Threshold {
            return Err(CompileError::Invalid(
                "alert_suppression without group_by fields".into(),
            ));
        }
        if group_by.len() > 3 {
            return Err(CompileError::Invalid(format!(
                "alert_suppression.group_by lists {} fields (at most 3)",
                group_by.len()
            )));
        }
        let duration_ms = match &s.duration {
            Some(d) => Some(d.millis().filter(|m| *m > 0).ok_or_else(|| {
                CompileError::Invalid(format!(
                    "alert_suppression.duration {} {:?} is not a positive duration in s, m, h or d",
                    d.value, d.unit
                ))
            })?),
            None => None,
        };
        let suppress_missing = match s.missing_fields_strategy.as_deref() {
            None | Some("suppress") => true,
            Some("doNotSuppress") => false,
            Some(o) => {
                return Err(CompileError::Invalid(format!("alert_suppression.missing_fields_strategy {o:?} (expected suppress or doNotSuppress)")))
            }
        };
        Ok(Some(SuppressionConfig {
            group_by,
            duration_ms,
            interval_ms: rule.interval_millis().max(1),
            suppress_missing,
        }))
    }
}

/// Wraps a compiled rule with its own `alert_suppression` (used by [`crate::compile_rule`]).
pub fn wrap_rule_suppression(
    rule: &Arc<Rule>,
    det: Box<dyn Detector>,
) -> Result<Box<dyn Detector>, CompileError> {
    Ok(match SuppressionConfig::from_rule(rule)? {
        Some(cfg) => Box::new(Suppressed::new(det, cfg)),
        None => det,
    })
}

struct Open {
    draft: AlertDraft,
    terms: Vec<(String, Value)>,
    start: i64,
    end: i64,
    deadline: i64,
    docs: u64,
}

/// A detector whose alerts are suppressed per group (see the module doc).
pub struct Suppressed {
    inner: Box<dyn Detector>,
    cfg: SuppressionConfig,
    open: HashMap<String, Open>,
    /// (deadline, group key), to close windows in time order.
    deadlines: BTreeSet<(i64, String)>,
    suppressed: u64,
    buf: Vec<AlertDraft>,
}

impl Suppressed {
    pub fn new(inner: Box<dyn Detector>, cfg: SuppressionConfig) -> Suppressed {
        Suppressed {
            inner,
            cfg,
            open: HashMap::new(),
            deadlines: BTreeSet::new(),
            suppressed: 0,
            buf: Vec::new(),
        }
    }

    /// Emits the groups whose window closed at or before `t` (all of them for `None`).
    fn close_until(&mut self, t: Option<i64>, out: &mut Vec<AlertDraft>) {
        while let Some((deadline, _)) = self.deadlines.first() {
            if t.is_some_and(|t| *deadline > t) {
                break;
            }
            let Some((_, key)) = self.deadlines.pop_first() else {
                break;
            };
            if let Some(o) = self.open.remove(&key) {
                out.push(finish_open(o));
            }
        }
    }

    fn group_values(&self, d: &AlertDraft) -> Vec<(String, Value)> {
        let fields_doc = d.fields.as_ref().map(|f| Document(f.clone()));
        self.cfg
            .group_by
            .iter()
            .map(|f| {
                let mut vals: Vec<Value> = fields_doc
                    .as_ref()
                    .map(|doc| doc.values(f).into_iter().cloned().collect())
                    .unwrap_or_default();
                if vals.is_empty() {
                    if let Some(ev) = d.events.first() {
                        vals = ev.doc.values(f).into_iter().cloned().collect();
                    }
                }
                let v = match vals.len() {
                    0 => Value::Null,
                    1 => vals.pop().unwrap_or(Value::Null),
                    _ => Value::Array(vals),
                };
                (f.clone(), v)
            })
            .collect()
    }

    fn take(&mut self, out: &mut Vec<AlertDraft>) {
        let drafts = std::mem::take(&mut self.buf);
        for d in drafts {
            if d.building_block {
                out.push(d);
                continue;
            }
            let terms = self.group_values(&d);
            if !self.cfg.suppress_missing && terms.iter().any(|(_, v)| v.is_null()) {
                out.push(d);
                continue;
            }
            let t = d.timestamp;
            self.close_until(Some(t), out);
            let key = serde_json::to_string(&terms.iter().map(|(_, v)| v).collect::<Vec<_>>())
                .unwrap_or_default();
            if let Some(o) = self.open.get_mut(&key) {
                o.docs += 1;
                o.end = o.end.max(t);
                o.start = o.start.min(t);
                self.suppressed += 1;
                continue;
            }
            let deadline = match self.cfg.duration_ms {
                Some(d) => t.saturating_add(d),
                None => {
                    (t.div_euclid(self.cfg.interval_ms) + 1).saturating_mul(self.cfg.interval_ms)
                }
            };
            self.deadlines.insert((deadline, key.clone()));
            self.open.insert(
                key,
                Open {
                    draft: d,
                    terms,
                    start: t,
                    end: t,
                    deadline,
                    docs: 0,
                },
            );
        }
    }
}

fn finish_open(o: Open) -> AlertDraft {
    let mut d = o.draft;
    let terms: Vec<Value> = o
        .terms
        .into_iter()
        .map(|(f, v)| json!({"field": f, "value": v}))
        .collect();
    d.extra
        .insert("suppression.terms".into(), Value::Array(terms));
    d.extra
        .insert("suppression.start".into(), json!(format_millis(o.start)));
    d.extra
        .insert("suppression.end".into(), json!(format_millis(o.end)));
    d.extra
        .insert("suppression.docs_count".into(), json!(o.docs));
    d
}

impl Detector for Suppressed {
    fn rule(&self) -> &Arc<Rule> {
        self.inner.rule()
    }

    fn reads_alerts(&self) -> bool {
        self.inner.reads_alerts()
    }

    fn may_select(&self, ev: &SharedEvent) -> bool {
        self.inner.may_select(ev)
    }

    fn fields(&self) -> Option<Vec<String>> {
        let mut f = self.inner.fields()?;
        f.extend(self.cfg.group_by.iter().cloned());
        f.sort();
        f.dedup();
        Some(f)
    }

    fn required(&self, field: &str) -> Option<Vec<String>> {
        self.inner.required(field)
    }

    fn input_started(&mut self, t: i64) {
        self.inner.input_started(t);
    }

    fn on_event(&mut self, ev: &SharedEvent, out: &mut Vec<AlertDraft>) {
        self.close_until(Some(ev.timestamp), out);
        let mut buf = std::mem::take(&mut self.buf);
        self.inner.on_event(ev, &mut buf);
        self.buf = buf;
        self.take(out);
    }

    fn finish(&mut self, out: &mut Vec<AlertDraft>) {
        let mut buf = std::mem::take(&mut self.buf);
        self.inner.finish(&mut buf);
        self.buf = buf;
        self.take(out);
        self.close_until(None, out);
    }

    fn stats(&self) -> DetectorStats {
        let mut s = self.inner.stats();
        s.push(("alerts suppressed".into(), self.suppressed));
        s
    }

    fn is_stateful(&self) -> bool {
        true
    }

    fn events_filtered(&mut self) {
        self.inner.events_filtered();
    }

    fn save_state(&self) -> Option<Value> {
        let mut open: Vec<(&String, &Open)> = self.open.iter().collect();
        open.sort_by(|a, b| (a.1.deadline, a.0).cmp(&(b.1.deadline, b.0)));
        let open: Vec<Value> = open
            .into_iter()
            .map(|(k, o)| {
                json!({
                    "key": k,
                    "terms": o.terms.iter().map(|(f, v)| json!([f, v])).collect::<Vec<_>>(),
                    "start": o.start, "end": o.end, "deadline": o.deadline, "docs": o.docs,
                    "draft": draft_to_value(&o.draft),
                })
            })
            .collect();
        Some(
            json!({"v": 1, "inner": self.inner.save_state(), "open": open, "suppressed": self.suppressed}),
        )
    }

    fn load_state(&mut self, state: Value) -> Result<(), String> {
        #[derive(serde::Deserialize)]
        struct OpenRepr {
            key: String,
            terms: Vec<(String, Value)>,
            start: i64,
            end: i64,
            deadline: i64,
            docs: u64,
            draft: Value,
        }
        #[derive(serde::Deserialize)]
        struct S {
            v: u32,
            inner: Option<Value>,
            open: Vec<OpenRepr>,
            #[serde(default)]
            suppressed: u64,
        }
        let s: S = serde_json::from_value(state).map_err(|e| format!("suppression state: {e}"))?;
        if s.v != 1 {
            return Err(format!(
                "suppression state version {} is not supported",
                s.v
            ));
        }
        if let Some(inner) = s.inner {
            self.inner.load_state(inner)?;
        }
        self.open.clear();
        self.deadlines.clear();
        for o in s.open {
            let draft = draft_from_value(self.inner.rule(), o.draft)?;
            self.deadlines.insert((o.deadline, o.key.clone()));
            self.open.insert(
                o.key,
                Open {
                    draft,
                    terms: o.terms,
                    start: o.start,
                    end: o.end,
                    deadline: o.deadline,
                    docs: o.docs,
                },
            );
        }
        self.suppressed = s.suppressed;
        Ok(())
    }

    fn warnings(&self) -> Vec<String> {
        self.inner.warnings()
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct EventRepr {
    doc: Document,
    timestamp: i64,
    origin: Origin,
    seq: u64,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct DraftRepr {
    events: Vec<EventRepr>,
    fields: Option<Map<String, Value>>,
    timestamp: i64,
    reason: Option<String>,
    extra: Map<String, Value>,
    key: Option<String>,
    building_block: bool,
}

/// An alert draft as JSON (for detector state that holds pending alerts); the rule is not
/// included: [`draft_from_value`] takes it back from the detector.
pub fn draft_to_value(d: &AlertDraft) -> Value {
    let r = DraftRepr {
        events: d
            .events
            .iter()
            .map(|e| EventRepr {
                doc: e.doc.clone(),
                timestamp: e.timestamp,
                origin: e.origin.clone(),
                seq: e.seq,
            })
            .collect(),
        fields: d.fields.clone(),
        timestamp: d.timestamp,
        reason: d.reason.clone(),
        extra: d.extra.clone(),
        key: d.key.clone(),
        building_block: d.building_block,
    };
    serde_json::to_value(r).unwrap_or(Value::Null)
}

/// Inverse of [`draft_to_value`].
pub fn draft_from_value(rule: &Arc<Rule>, v: Value) -> Result<AlertDraft, String> {
    let r: DraftRepr = serde_json::from_value(v).map_err(|e| format!("saved alert: {e}"))?;
    Ok(AlertDraft {
        rule: rule.clone(),
        events: r
            .events
            .into_iter()
            .map(|e| {
                Arc::new(Event {
                    doc: e.doc,
                    timestamp: e.timestamp,
                    origin: e.origin,
                    seq: e.seq,
                })
            })
            .collect(),
        fields: r.fields,
        timestamp: r.timestamp,
        reason: r.reason,
        extra: r.extra,
        key: r.key,
        building_block: r.building_block,
    })
}
