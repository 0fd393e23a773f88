//! Alerts people can act on: documents shaped like Elastic Security's alerts, and their
//! renderings (terminal table, NDJSON, self-contained HTML report) and an embedded store.
//!
//! An alert document is the source event's ECS document (for sequences, the first event's)
//! with `event.kind: signal`, the source `event.*` copied under `kibana.alert.original_event.*`,
//! and the `kibana.alert.*` fields Elastic writes, as top-level dotted keys like in
//! `.alerts-security.alerts-*` indices. `@timestamp` is the source event's time (Elastic uses
//! the detection time; an offline hunt is more useful, and reproducible, with event time).

pub mod html;
pub mod store;
pub mod table;

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use tripline_doc::{time::format_millis, Document};
use tripline_engine::AlertDraft;
use tripline_rules::{Rule, RuleType};

/// ECS context copied from the triggering event into analytic alerts.
const CONTEXT_FIELDS: &[&str] = &[
    "@timestamp",
    "event.action",
    "event.provider",
    "event.outcome",
    "event.id",
    "source.ip",
    "source.address",
    "source.geo",
    "source.as",
    "user.name",
    "user.id",
    "user_agent.original",
    "cloud.account.id",
    "cloud.region",
    "aws.cloudtrail.user_identity",
];

/// A finished alert.
#[derive(Debug, Clone)]
pub struct Alert {
    pub uuid: String,
    pub doc: Document,
    pub severity: String,
    pub risk_score: i64,
    pub rule_name: String,
    pub rule_id: String,
    pub timestamp: i64,
    /// The rule's investigation fields, for the table.
    pub investigation_fields: Vec<String>,
}

/// Elastic's name for a rule type in `kibana.alert.rule.rule_type_id` / `category`.
fn rule_type_ids(t: RuleType) -> (&'static str, &'static str) {
    match t {
        RuleType::Query => ("siem.queryRule", "Custom Query Rule"),
        RuleType::Eql => ("siem.eqlRule", "Event Correlation Rule"),
        RuleType::Esql => ("siem.esqlRule", "ES|QL Rule"),
        RuleType::NewTerms => ("siem.newTermsRule", "New Terms Rule"),
        RuleType::Threshold => ("siem.thresholdRule", "Threshold Rule"),
        RuleType::MachineLearning => ("siem.mlRule", "Machine Learning Rule"),
        RuleType::ThreatMatch => ("siem.indicatorRule", "Indicator Match Rule"),
        RuleType::Analytic => ("tripline.analytic", "Tripline Analytic"),
    }
}

/// Stable alert id: sha256 over rule id and the source event ids (or the draft's key), so the
/// same hunt twice gives the same ids (Elastic's detection alert uuids are 64 hex chars too).
pub fn alert_uuid(draft: &AlertDraft) -> String {
    let mut h = Sha256::new();
    h.update(draft.rule.rule_id.as_bytes());
    h.update(b"\0");
    if let Some(k) = &draft.key {
        h.update(b"key:");
        h.update(k.as_bytes());
    } else {
        for ev in &draft.events {
            match ev.event_id() {
                Some(id) => h.update(id.as_bytes()),
                None => h.update(format!("{}#{}", ev.origin.file, ev.origin.record).as_bytes()),
            }
            h.update(b"\0");
        }
    }
    if draft.building_block {
        h.update(b"bb");
    }
    let d = h.finalize();
    d.iter().map(|b| format!("{b:02x}")).collect()
}

fn event_ancestor_id(ev: &tripline_doc::Event) -> String {
    ev.event_id()
        .map(String::from)
        .unwrap_or_else(|| format!("{}#{}", ev.origin.file, ev.origin.record))
}

/// The default reason Elastic writes: "event with action X by USER from IP created SEVERITY
/// alert RULE." (only the parts that exist).
fn default_reason(rule: &Rule, doc: &Document) -> String {
    let mut s = String::new();
    let kind = doc.str("event.category").unwrap_or("event");
    s.push_str(kind);
    s.push_str(" event");
    if let Some(a) = doc.str("event.action") {
        s.push_str(&format!(" with action {a}"));
    }
    if let Some(u) = doc.str("user.name") {
        s.push_str(&format!(" by {u}"));
    }
    if let Some(ip) = doc.str("source.ip").or_else(|| doc.str("source.address")) {
        s.push_str(&format!(" from {ip}"));
    }
    s.push_str(&format!(" created {} alert {}.", rule.severity, rule.name));
    s
}

/// The `kibana.alert.rule.*` block for a rule.
pub fn rule_fields(rule: &Rule) -> Map<String, Value> {
    let (type_id, category) = rule_type_ids(rule.rule_type);
    let mut m = Map::new();
    let mut put = |k: &str, v: Value| {
        m.insert(format!("kibana.alert.rule.{k}"), v);
    };
    put("rule_id", json!(rule.rule_id));
    put("uuid", json!(rule.rule_id));
    put("name", json!(rule.name));
    put("description", json!(rule.description));
    put("severity", json!(rule.severity));
    put("risk_score", json!(rule.risk_score));
    put("type", json!(rule.rule_type.as_str()));
    put("rule_type_id", json!(type_id));
    put("category", json!(category));
    put("producer", json!("siem"));
    put("consumer", json!("siem"));
    put("enabled", json!(true));
    put("from", json!(rule.from));
    put("interval", json!(rule.interval));
    put("max_signals", json!(rule.max_signals));
    put("tags", json!(rule.tags));
    put("author", json!(rule.author));
    put("references", json!(rule.references));
    put("false_positives", json!(rule.false_positives));
    put(
        "threat",
        serde_json::to_value(&rule.threat).unwrap_or(Value::Null),
    );
    put(
        "investigation_fields",
        json!({"field_names": rule.investigation_fields}),
    );
    if let Some(n) = &rule.note {
        put("note", json!(n));
    }
    if let Some(t) = &rule.timestamp_override {
        put("timestamp_override", json!(t));
    }
    if let Some(b) = &rule.building_block_type {
        put("building_block_type", json!(b));
    }
    if let Some(l) = rule.raw.get("rule").and_then(|r| r.get("license")) {
        put("license", l.clone());
    }
    // Every rule parameter as written (query, language, index, new_terms, threshold, ...).
    let mut params = Map::new();
    if let Some(Value::Object(r)) = rule.raw.get("rule") {
        for (k, v) in r {
            if !matches!(k.as_str(), "note" | "description") {
                params.insert(k.clone(), v.clone());
            }
        }
    }
    put("parameters", Value::Object(params));
    m
}

/// Turns a draft into an alert document.
pub fn build_alert(draft: &AlertDraft) -> Alert {
    let rule = &draft.rule;
    // Event alerts start from the source document. Alerts that stand for several events
    // (sequence shells, threshold groups) or for an ES|QL row carry only their own fields,
    // as Elastic's do.
    let own_fields_only = draft.fields.is_some()
        && (draft.events.len() != 1
            || matches!(rule.rule_type, RuleType::Esql | RuleType::Threshold));
    let mut doc = match draft.events.first() {
        Some(ev) if !own_fields_only => ev.doc.clone(),
        _ => Document::new(),
    };
    if let Some(fields) = &draft.fields {
        for (k, v) in fields {
            doc.set(k, v.clone());
        }
    }
    // Analytic alerts (session lineage) stand for a credential's story; they take the ECS
    // context of their triggering event (who, from where, what) so tables and Elastic-style
    // triage views show it.
    if own_fields_only && rule.rule_type == RuleType::Analytic {
        if let Some(ev) = draft.events.first() {
            for f in CONTEXT_FIELDS {
                if !doc.exists(f) {
                    if let Some(v) = tripline_doc::path::get_nested(&ev.doc.0, f) {
                        doc.set(f, v.clone());
                    }
                }
            }
        }
    }
    // Elastic moves the source event.* under kibana.alert.original_event.* and marks the alert.
    if let Some(Value::Object(ev)) = doc.0.get("event").cloned() {
        for (k, v) in ev {
            doc.0.insert(format!("kibana.alert.original_event.{k}"), v);
        }
    }
    doc.set("event.kind", json!("signal"));
    let uuid = alert_uuid(draft);
    let reason = draft
        .reason
        .clone()
        .unwrap_or_else(|| default_reason(rule, &doc));
    doc.0
        .insert("@timestamp".into(), json!(format_millis(draft.timestamp)));
    for (k, v) in rule_fields(rule) {
        doc.0.insert(k, v);
    }
    let ancestors: Vec<Value> = draft
        .events
        .iter()
        .map(|ev| {
            json!({
                "id": event_ancestor_id(ev),
                "type": "event",
                "index": ev.doc.str("data_stream.dataset").map(|d| format!("logs-{d}-default")).unwrap_or_else(|| ev.origin.file.to_string()),
                "depth": 0,
            })
        })
        .collect();
    let put = |doc: &mut Document, k: &str, v: Value| {
        doc.0.insert(format!("kibana.alert.{k}"), v);
    };
    put(&mut doc, "uuid", json!(uuid));
    put(&mut doc, "severity", json!(rule.severity));
    put(&mut doc, "risk_score", json!(rule.risk_score));
    put(&mut doc, "reason", json!(reason));
    put(
        &mut doc,
        "original_time",
        json!(format_millis(draft.timestamp)),
    );
    put(&mut doc, "ancestors", Value::Array(ancestors));
    put(&mut doc, "depth", json!(1));
    put(&mut doc, "status", json!("active"));
    put(&mut doc, "workflow_status", json!("open"));
    if draft.building_block {
        put(&mut doc, "building_block_type", json!("default"));
    }
    for (k, v) in &draft.extra {
        put(&mut doc, k, v.clone());
    }
    doc.0.insert("kibana.space_ids".into(), json!(["default"]));
    // Analytics may raise an alert's severity above the rule's (e.g. unfamiliar source).
    let severity = draft
        .extra
        .get("severity")
        .and_then(|v| v.as_str())
        .map(String::from)
        .unwrap_or_else(|| rule.severity.clone());
    let risk_score = draft
        .extra
        .get("risk_score")
        .and_then(|v| v.as_i64())
        .unwrap_or(rule.risk_score);
    Alert {
        uuid,
        doc,
        severity,
        risk_score,
        rule_name: rule.name.clone(),
        rule_id: rule.rule_id.clone(),
        timestamp: draft.timestamp,
        investigation_fields: rule.investigation_fields.clone(),
    }
}

/// Severity ordering for summaries and sorting (critical first).
pub fn severity_rank(s: &str) -> u8 {
    match s {
        "critical" => 0,
        "high" => 1,
        "medium" => 2,
        "low" => 3,
        _ => 4,
    }
}

/// One NDJSON line per alert.
pub fn write_ndjson<W: std::io::Write>(w: &mut W, alert: &Alert) -> std::io::Result<()> {
    serde_json::to_writer(&mut *w, &alert.doc)?;
    w.write_all(b"\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use tripline_doc::{Event, Origin};

    fn rule() -> Arc<Rule> {
        Arc::new(
            Rule::parse(
                "t.toml",
                "[rule]\nrule_id='r1'\nname='Test rule'\ntype='query'\nseverity='high'\nrisk_score=73\ndescription='d'\nquery='x'\n[rule.investigation_fields]\nfield_names=['source.ip']\n",
            )
            .unwrap(),
        )
    }

    fn event(id: &str) -> Arc<Event> {
        let v = json!({"event": {"id": id, "action": "CreateUser", "category": ["iam"]}, "user": {"name": "alice"}, "source": {"ip": "1.2.3.4"}, "data_stream": {"dataset": "aws.cloudtrail"}});
        Arc::new(Event {
            doc: Document(v.as_object().unwrap().clone()),
            timestamp: 1_700_000_000_000,
            origin: Origin {
                file: "f".into(),
                record: 1,
                line: None,
            },
            seq: 0,
        })
    }

    #[test]
    fn alert_shape_and_stable_uuid() {
        let r = rule();
        let d = AlertDraft::for_event(&r, &event("e1"));
        let a = build_alert(&d);
        let b = build_alert(&AlertDraft::for_event(&r, &event("e1")));
        let c = build_alert(&AlertDraft::for_event(&r, &event("e2")));
        assert_eq!(a.uuid, b.uuid);
        assert_ne!(a.uuid, c.uuid);
        assert_eq!(a.uuid.len(), 64);
        let doc = &a.doc.0;
        assert_eq!(doc["kibana.alert.rule.rule_id"], "r1");
        assert_eq!(doc["kibana.alert.severity"], "high");
        assert_eq!(doc["kibana.alert.risk_score"], 73);
        assert_eq!(doc["kibana.alert.ancestors"][0]["id"], "e1");
        assert_eq!(doc["kibana.alert.original_event.action"], "CreateUser");
        assert_eq!(doc["event"]["kind"], "signal");
        assert_eq!(
            doc["kibana.alert.reason"],
            "iam event with action CreateUser by alice from 1.2.3.4 created high alert Test rule."
        );
        insta::with_settings!({sort_maps => true}, { insta::assert_json_snapshot!("query_alert", a.doc) });
    }
}
