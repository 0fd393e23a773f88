//! Helpers shared by the `stateful_*` integration tests.
#![allow(dead_code)]

use std::sync::Arc;

use serde_json::Value;
use tripline_doc::{Document, Event, Origin, SharedEvent};
use tripline_engine::{compile_rule, AlertDraft, CompileContext, Detector, Runner, RunnerConfig};
use tripline_rules::Rule;

/// 2026-01-01T00:00:00Z
pub const T0: i64 = 1_767_225_600_000;
pub const SEC: i64 = 1_000;
pub const MIN: i64 = 60 * SEC;
pub const HOUR: i64 = 60 * MIN;
pub const DAY: i64 = 24 * HOUR;

pub fn rule(text: &str) -> Arc<Rule> {
    Arc::new(Rule::parse("test.toml", text).expect("test rule parses"))
}

pub fn compile(rule: &Arc<Rule>) -> Box<dyn Detector> {
    compile_with(rule, &CompileContext::default())
}

pub fn compile_with(rule: &Arc<Rule>, ctx: &CompileContext) -> Box<dyn Detector> {
    match compile_rule(rule, ctx) {
        Ok(d) => d,
        Err(e) => panic!("rule {} does not compile: {e}", rule.rule_id),
    }
}

/// An event at `t` with the given document; `n` makes origin and event.id unique.
pub fn event(t: i64, n: u64, doc: Value) -> SharedEvent {
    let mut doc = Document(doc.as_object().cloned().expect("object"));
    if !doc.exists("event.id") {
        doc.set("event.id", Value::String(format!("ev-{n}")));
    }
    doc.set(
        "@timestamp",
        Value::String(tripline_doc::time::format_millis(t)),
    );
    Arc::new(Event {
        doc,
        timestamp: t,
        origin: Origin {
            file: "mem".into(),
            record: n,
            line: None,
        },
        seq: n,
    })
}

/// Runs detectors over events (already in time order) and returns all drafts.
pub fn run(
    dets: Vec<Box<dyn Detector>>,
    events: &[SharedEvent],
) -> (Vec<AlertDraft>, tripline_engine::RunSummary) {
    let mut runner = Runner::new(
        dets,
        RunnerConfig {
            reorder_window_ms: 0,
            ..Default::default()
        },
    );
    let mut out = Vec::new();
    for e in events {
        runner.push(e.clone(), &mut out);
    }
    let s = runner.finish(&mut out);
    (out, s)
}

/// A stable identity for a draft (the alerts crate hashes the same parts).
pub fn identity(d: &AlertDraft) -> String {
    match &d.key {
        Some(k) => format!("{}|key:{k}", d.rule.rule_id),
        None => format!(
            "{}|{}",
            d.rule.rule_id,
            d.events
                .iter()
                .map(|e| e.event_id().unwrap_or("?").to_string())
                .collect::<Vec<_>>()
                .join(",")
        ),
    }
}

pub fn stat(summary: &tripline_engine::RunSummary, name: &str) -> Option<u64> {
    summary
        .detector_stats
        .iter()
        .find(|(_, k, _)| k == name)
        .map(|(_, _, v)| *v)
}

pub const NEW_TERMS_RULE: &str = r#"
[rule]
rule_id = "nt-console-user"
name = "Console login by a new user"
description = "test"
type = "new_terms"
language = "kuery"
severity = "medium"
risk_score = 47
query = 'event.action: "ConsoleLogin" and event.outcome: "success"'
[rule.new_terms]
field = "new_terms_fields"
value = ["user.name"]
[[rule.new_terms.history_window_start]]
field = "history_window_start"
value = "now-7d"
"#;

pub const THRESHOLD_RULE: &str = r#"
[rule]
rule_id = "th-failed-logins"
name = "Many failed console logins"
description = "test"
type = "threshold"
language = "kuery"
severity = "high"
risk_score = 73
from = "now-6m"
interval = "5m"
query = 'event.action: "ConsoleLogin" and event.outcome: "failure"'
[rule.threshold]
field = ["cloud.account.id"]
value = 10
"#;

pub fn login(user: &str, outcome: &str) -> Value {
    serde_json::json!({
        "event": {"action": "ConsoleLogin", "outcome": outcome, "provider": "signin.amazonaws.com"},
        "user": {"name": user},
        "cloud": {"account": {"id": "111122223333"}},
        "source": {"ip": "198.51.100.7"}
    })
}
