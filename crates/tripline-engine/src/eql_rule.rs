//! `eql` rules: event queries, sequences and samples (via [`tripline_eql`]).
//!
//! Alert shape, mirroring Elastic's EQL rule executor:
//! - an event query raises one alert per matching event;
//! - a completed sequence (or sample) raises Elastic's *shell* alert plus one *building-block*
//!   alert per member event. The building blocks come first, each with its own event
//!   (`events = [ev]`), `building_block: true`, and `kibana.alert.group.id` /
//!   `kibana.alert.group.index` (the event's position in the sequence). The shell alert lists
//!   every member event in `events` (so `kibana.alert.ancestors` names them all), carries the
//!   same `kibana.alert.group.id`, and its `fields` hold what Elastic puts in a shell alert's
//!   source: the fields whose values are identical in every member event (Elastic's
//!   `objectPairIntersection`). Building blocks do not count against `max_signals`.
//! - Timestamps come from the rule's `timestamp_override` (`event.ingested` for most rules)
//!   when the event has it, else from `@timestamp`; fallbacks are counted in the stats and
//!   reported once as a warning.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use tripline_doc::{path, Document, SharedEvent};
use tripline_eql::{Match, Matcher, Options, Query};
use tripline_rules::Rule;

use crate::compile::{CompileContext, CompileError};
use crate::detector::{AlertDraft, Detector, DetectorStats};

/// Default cap on partial sequences held per rule.
/// Default cap on live partial sequences per rule (`CompileContext::max_sequence_states`).
pub const MAX_PARTIAL_SEQUENCES: usize = 100_000;

pub struct EqlDetector {
    rule: Arc<Rule>,
    query: Query,
    matcher: Matcher,
    warnings: Vec<String>,
}

/// Compiles an EQL query the way an `eql` rule does (for `rules check` and ad-hoc queries).
pub fn compile_eql(
    rule: &Rule,
    ctx: &CompileContext,
) -> Result<(Query, Vec<String>), CompileError> {
    let text = rule.query.as_deref().unwrap_or("").trim();
    if text.is_empty() {
        return Err(CompileError::Invalid("eql rule without a query".into()));
    }
    let opts = Options {
        timestamp_field: rule.timestamp_override.clone(),
        max_partial_sequences: ctx.max_sequence_states.max(1),
        ..Options::default()
    };
    let query = Query::compile(text, &ctx.types, &opts).map_err(|e| {
        let (line, col) = e.line_col(text);
        CompileError::Syntax {
            language: "eql".into(),
            message: format!("{} (line {line}, column {col})", e.message),
        }
    })?;
    let fields = query.fields();
    let warnings =
        crate::query_rule::unknown_field_warnings(rule, ctx, fields.iter().map(|f| f.as_str()));
    Ok((query, warnings))
}

pub fn compile(rule: &Arc<Rule>, ctx: &CompileContext) -> Result<Box<dyn Detector>, CompileError> {
    let (query, warnings) = compile_eql(rule, ctx)?;
    let matcher = query.matcher();
    Ok(Box::new(EqlDetector {
        rule: rule.clone(),
        query,
        matcher,
        warnings,
    }))
}

impl EqlDetector {
    fn group_id(&self, events: &[SharedEvent]) -> String {
        let mut h = Sha256::new();
        h.update(self.rule.rule_id.as_bytes());
        for e in events {
            h.update([0]);
            match e.event_id() {
                Some(id) => h.update(id.as_bytes()),
                None => h.update(format!("{}#{}", e.origin, e.seq).as_bytes()),
            }
        }
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }

    fn emit_group(&self, events: Vec<SharedEvent>, out: &mut Vec<AlertDraft>) {
        let Some(first) = events.first().cloned() else {
            return;
        };
        let gid = self.group_id(&events);
        for (i, ev) in events.iter().enumerate() {
            let mut d = AlertDraft::for_event(&self.rule, ev);
            d.building_block = true;
            d.extra
                .insert("group.id".into(), Value::String(gid.clone()));
            d.extra.insert("group.index".into(), Value::from(i as u64));
            d.extra.insert(
                "building_block_type".into(),
                Value::String("default".into()),
            );
            out.push(d);
        }
        let mut shell = AlertDraft::for_event(&self.rule, &first);
        shell.fields = Some(common_fields(&events));
        shell.events = events;
        shell.key = Some(gid.clone());
        shell.extra.insert("group.id".into(), Value::String(gid));
        out.push(shell);
    }
}

/// The fields with the same value in every document, as a nested object.
pub fn common_fields(events: &[SharedEvent]) -> Map<String, Value> {
    let mut common: BTreeMap<String, Value> = BTreeMap::new();
    if let Some(first) = events.first() {
        for (k, v) in path::flatten(&first.doc.0) {
            common.insert(k, v.clone());
        }
    }
    for e in events.iter().skip(1) {
        let flat: BTreeMap<String, &Value> = path::flatten(&e.doc.0).into_iter().collect();
        common.retain(|k, v| flat.get(k).is_some_and(|w| *w == v));
    }
    let mut doc = Document::new();
    for (k, v) in common {
        doc.set(&k, v);
    }
    doc.0
}

impl Detector for EqlDetector {
    fn rule(&self) -> &Arc<Rule> {
        &self.rule
    }

    fn fields(&self) -> Option<Vec<String>> {
        Some(self.query.fields())
    }

    fn required(&self, field: &str) -> Option<Vec<String>> {
        self.query.required_values(field)
    }

    fn on_event(&mut self, ev: &SharedEvent, out: &mut Vec<AlertDraft>) {
        for m in self.matcher.push(ev) {
            self.emit(m, out);
        }
    }

    fn finish(&mut self, out: &mut Vec<AlertDraft>) {
        for m in self.matcher.finish() {
            self.emit(m, out);
        }
    }

    fn stats(&self) -> DetectorStats {
        let s = self.matcher.stats();
        let mut v = Vec::new();
        if !matches!(self.query.body, tripline_eql::Body::Event(_)) {
            v.push(("live partial sequences".to_string(), s.live_states));
            v.push(("dropped sequence states".to_string(), s.dropped_states));
            v.push(("expired sequence states".to_string(), s.expired_states));
        }
        if s.timestamp_fallbacks > 0 {
            v.push((
                "timestamp override fallbacks".to_string(),
                s.timestamp_fallbacks,
            ));
        }
        v
    }

    fn is_stateful(&self) -> bool {
        !matches!(self.query.body, tripline_eql::Body::Event(_))
    }

    fn warnings(&self) -> Vec<String> {
        let mut w = self.warnings.clone();
        let fb = self.matcher.stats().timestamp_fallbacks;
        if fb > 0 {
            if let Some(f) = &self.rule.timestamp_override {
                w.push(format!(
                    "{fb} event(s) had no {f} (timestamp_override); @timestamp was used instead"
                ));
            }
        }
        w
    }
}

impl EqlDetector {
    fn emit(&self, m: Match, out: &mut Vec<AlertDraft>) {
        match m {
            Match::Event(ev) => out.push(AlertDraft::for_event(&self.rule, &ev)),
            Match::Sequence(evs) | Match::Sample(evs) => self.emit_group(evs, out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::{Runner, RunnerConfig};
    use serde_json::json;
    use tripline_doc::{Event, Origin};

    const SEED: &str =
        "rules/integrations/aws/persistence_aws_attempt_to_register_virtual_mfa_device.toml";

    fn corpus() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus")
    }

    fn event(i: u64, doc: Value) -> SharedEvent {
        let doc = Document(doc.as_object().cloned().unwrap_or_default());
        let ts = doc
            .first("@timestamp")
            .and_then(tripline_doc::time::value_to_millis)
            .unwrap_or(0);
        Arc::new(Event {
            doc,
            timestamp: ts,
            origin: Origin {
                file: "test".into(),
                record: i + 1,
                line: None,
            },
            seq: i,
        })
    }

    /// A CloudTrail IAM call as the AWS integration normalizes it.
    fn iam(i: u64, action: &str, key: &str, outcome: &str, console: Option<&str>) -> SharedEvent {
        let mut d = json!({
            "@timestamp": format!("2024-05-01T10:00:{:02}Z", i % 60),
            "event": {"id": format!("ev-{i}"), "action": action, "provider": "iam.amazonaws.com",
                      "outcome": outcome, "category": ["iam"], "kind": "event",
                      "ingested": format!("2024-05-01T10:05:{:02}Z", i % 60)},
            "data_stream": {"dataset": "aws.cloudtrail"},
            "aws": {"cloudtrail": {"user_identity": {"access_key_id": key, "type": "AssumedRole"}}},
        });
        if let Some(c) = console {
            d["aws"]["cloudtrail"]["session_credential_from_console"] = json!(c);
        }
        event(i, d)
    }

    fn run_rule(rule: Rule, events: &[SharedEvent]) -> Vec<AlertDraft> {
        let rule = Arc::new(rule);
        let det = crate::compile_rule(&rule, &CompileContext::default()).expect("compiles");
        let mut r = Runner::new(vec![det], RunnerConfig::default());
        let mut out = Vec::new();
        for e in events {
            r.push(e.clone(), &mut out);
        }
        r.finish(&mut out);
        out
    }

    #[test]
    fn seed_rule_alerts_once_per_matching_event() {
        let p = corpus().join("detection-rules").join(SEED);
        let Ok(text) = std::fs::read_to_string(&p) else {
            return;
        };
        let rule = Rule::parse(SEED, &text).expect("seed rule parses");
        let events = vec![
            iam(1, "CreateVirtualMFADevice", "ASIAEXAMPLE1", "success", None),
            iam(2, "EnableMFADevice", "ASIAEXAMPLE2", "success", None),
            iam(
                3,
                "CreateVirtualMFADevice",
                "ASIAEXAMPLE3",
                "success",
                Some("false"),
            ),
            // Near misses.
            iam(
                4,
                "CreateVirtualMFADevice",
                "ASIAEXAMPLE4",
                "success",
                Some("true"),
            ),
            iam(5, "EnableMFADevice", "AKIAEXAMPLE5", "success", None),
            iam(6, "CreateVirtualMFADevice", "ASIAEXAMPLE6", "failure", None),
            iam(7, "CreateUser", "ASIAEXAMPLE7", "success", None),
            iam(8, "DeactivateMFADevice", "ASIAEXAMPLE8", "success", None),
            iam(9, "createvirtualmfadevice", "ASIAEXAMPLE9", "success", None),
            iam(10, "EnableMFADevice", "asiaEXAMPLE10", "success", None),
        ];
        let alerts = run_rule(rule, &events);
        let ids: Vec<&str> = alerts
            .iter()
            .map(|a| a.events[0].event_id().unwrap_or(""))
            .collect();
        assert_eq!(ids, vec!["ev-1", "ev-2", "ev-3"]);
        assert!(alerts
            .iter()
            .all(|a| !a.building_block && a.events.len() == 1));
    }

    fn rule_with(query: &str, extra: &str) -> Rule {
        let text = format!(
            "[metadata]\ncreation_date = \"2024/01/01\"\n[rule]\nrule_id = \"r1\"\nname = \"t\"\ndescription = \"d\"\n\
             type = \"eql\"\nlanguage = \"eql\"\nrisk_score = 21\nseverity = \"low\"\n{extra}query = '''\n{query}\n'''\n"
        );
        Rule::parse("test.toml", &text).expect("rule parses")
    }

    #[test]
    fn sequence_emits_building_blocks_and_a_shell() {
        let rule = rule_with(
            r#"sequence by aws.cloudtrail.user_identity.access_key_id with maxspan=1m
  [iam where event.action == "CreateUser"] [iam where event.action == "CreateAccessKey"]"#,
            "timestamp_override = \"event.ingested\"\n",
        );
        let events = vec![
            iam(1, "CreateUser", "ASIA1", "success", None),
            iam(2, "CreateUser", "ASIA2", "success", None),
            iam(3, "CreateAccessKey", "ASIA1", "success", None),
            iam(4, "CreateAccessKey", "ASIA3", "success", None),
        ];
        let alerts = run_rule(rule, &events);
        assert_eq!(alerts.len(), 3);
        assert!(alerts[0].building_block && alerts[1].building_block && !alerts[2].building_block);
        let shell = &alerts[2];
        let ids: Vec<&str> = shell
            .events
            .iter()
            .map(|e| e.event_id().unwrap_or(""))
            .collect();
        assert_eq!(ids, vec!["ev-1", "ev-3"]);
        assert_eq!(shell.extra["group.id"], alerts[0].extra["group.id"]);
        assert_eq!(alerts[1].extra["group.index"], json!(1));
        let common = shell.fields.as_ref().expect("shell fields");
        assert_eq!(
            common["aws"]["cloudtrail"]["user_identity"]["access_key_id"],
            json!("ASIA1")
        );
        assert!(common.get("event").and_then(|e| e.get("action")).is_none());
    }

    #[test]
    fn timestamp_override_falls_back_and_says_so() {
        let rule = Arc::new(rule_with(
            "any where event.action == \"X\"",
            "timestamp_override = \"event.ingested\"\n",
        ));
        let mut det = compile(&rule, &CompileContext::default()).unwrap();
        let ev = event(
            0,
            json!({"@timestamp": "2024-01-01T00:00:00Z", "event": {"action": "X"}}),
        );
        let mut out = Vec::new();
        det.on_event(&ev, &mut out);
        assert_eq!(out.len(), 1);
        assert!(det.warnings().iter().any(|w| w.contains("event.ingested")));
        assert!(det
            .stats()
            .iter()
            .any(|(k, v)| k.contains("fallback") && *v == 1));
    }

    #[test]
    fn every_integration_eql_rule_compiles() {
        let dir = corpus().join("detection-rules/rules/integrations");
        if !dir.is_dir() {
            return;
        }
        let files = tripline_rules::collect_rule_files(&dir).expect("rule files");
        let ctx = CompileContext::default();
        let mut n = 0;
        let mut failures = Vec::new();
        for f in files {
            let Ok(rule) = Rule::load(&f) else { continue };
            if rule.rule_type != tripline_rules::RuleType::Eql {
                continue;
            }
            n += 1;
            if let Err(e) = compile(&Arc::new(rule), &ctx) {
                failures.push(format!("{}: {e}", f.display()));
            }
        }
        assert!(n > 0, "no eql rules found under {}", dir.display());
        assert!(
            failures.is_empty(),
            "{} of {n} eql rules failed:\n{}",
            failures.len(),
            failures.join("\n")
        );
    }
}
