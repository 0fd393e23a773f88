//! Alerts as an index: Elastic's higher-order AWS rule "IAM long-term access key correlated with
//! elevated detection alerts" (an ES|QL rule over `.alerts-security.*`) runs on the alerts that
//! the other rules raise in the same hunt, shaped by `tripline_alerts::build_alert`, fed back by
//! the runner. The rules are read from the corpus at run time; the test skips without it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{json, Value};
use tripline_doc::{time, Document, Event, Origin};
use tripline_engine::{compile_rule, AlertDraft, CompileContext, Runner, RunnerConfig};
use tripline_rules::Rule;

const CORRELATION: &str =
    "credential_access_iam_long_term_access_key_correlated_with_elevated_detection_alerts.toml";
/// new_terms on (access key, source.ip), rule_id 9f8e3c5e-…, the correlation's sibling.
const FIRST_SEEN: &str =
    "credential_access_iam_long_term_access_key_first_seen_from_source_ip.toml";
/// A medium-severity query rule (risk 47): `DeleteTrail`.
const TRAIL_DELETED: &str = "defense_evasion_cloudtrail_logging_deleted.toml";

fn aws_dir() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/corpus/detection-rules/rules/integrations/aws");
    p.is_dir().then_some(p)
}

fn load(dir: &Path, f: &str) -> Arc<Rule> {
    Arc::new(Rule::load(&dir.join(f)).unwrap_or_else(|e| panic!("{f}: {e}")))
}

const BASE: &str = "2024-06-03T10:00:00Z";

fn at(secs: i64) -> String {
    time::format_millis(time::parse_millis(BASE).unwrap_or(0) + secs * 1000)
}

/// A successful call by IAM user alice with her long-term key, as the CloudTrail pipeline
/// normalizes it.
fn call(secs: i64, provider: &str, action: &str, ip: &str) -> Value {
    json!({
        "@timestamp": at(secs),
        "data_stream": {"dataset": "aws.cloudtrail", "namespace": "default", "type": "logs"},
        "event": {"action": action, "provider": provider, "outcome": "success", "kind": "event",
                  "ingested": at(secs + 60), "dataset": "aws.cloudtrail", "module": "aws"},
        "cloud": {"provider": "aws", "region": "us-east-1", "account": {"id": "111111111111"}},
        "aws": {"cloudtrail": {"event_type": "AwsApiCall", "user_identity": {
            "type": "IAMUser", "arn": "arn:aws:iam::111111111111:user/alice",
            "access_key_id": "AKIAALICEKEY00000001"}}},
        "user": {"name": "alice", "entity": {"id": "arn:aws:iam::111111111111:user/alice"}},
        "source": {"address": ip, "ip": ip},
    })
}

/// Runs the three rules over the documents; returns every alert emitted.
fn hunt(dir: &Path, docs: Vec<Value>, feed_alerts: bool) -> Vec<AlertDraft> {
    let ctx = CompileContext {
        no_warmup: true,
        ..CompileContext::default()
    };
    let dets = [CORRELATION, FIRST_SEEN, TRAIL_DELETED]
        .iter()
        .map(|f| compile_rule(&load(dir, f), &ctx).unwrap_or_else(|e| panic!("{f}: {e}")))
        .collect();
    let mut runner = Runner::new(dets, RunnerConfig::default());
    assert!(runner.reads_alerts());
    if feed_alerts {
        // What the CLI does.
        runner.set_alert_doc_builder(Box::new(|d| tripline_alerts::build_alert(d).doc));
    }
    let mut out = Vec::new();
    for (i, d) in docs.into_iter().enumerate() {
        let mut doc = Document(d.as_object().cloned().unwrap_or_default());
        doc.set("event.id", json!(format!("evt-{i:05}")));
        let timestamp = doc
            .first("@timestamp")
            .and_then(time::value_to_millis)
            .unwrap_or(0);
        let ev = Event {
            doc,
            timestamp,
            origin: Origin {
                file: "trail.ndjson".into(),
                record: i as u64 + 1,
                line: None,
            },
            seq: i as u64,
        };
        runner.push(Arc::new(ev), &mut out);
    }
    runner.finish(&mut out);
    out
}

fn names(out: &[AlertDraft]) -> Vec<&str> {
    out.iter().map(|a| a.rule.name.as_str()).collect()
}

fn correlation_alerts(out: &[AlertDraft]) -> Vec<&AlertDraft> {
    out.iter()
        .filter(|a| a.rule.rule_id != "9f8e3c5e-f72e-4e91-93f6-e98a4fae3e4f")
        .filter(|a| {
            a.rule
                .query
                .as_deref()
                .is_some_and(|q| q.contains(".alerts-security"))
        })
        .collect()
}

#[test]
fn higher_order_rule_correlates_alerts_of_other_rules() {
    let Some(dir) = aws_dir() else {
        eprintln!("corpus absent: skipped");
        return;
    };
    let ip = "203.0.113.9";
    // The key is first seen from `ip` (new_terms alert, medium 47), then deletes a trail from
    // the same address (query alert, medium 47).
    let positive = vec![
        call(30, "sts.amazonaws.com", "GetCallerIdentity", ip),
        call(90, "cloudtrail.amazonaws.com", "DeleteTrail", ip),
        call(600, "sts.amazonaws.com", "GetCallerIdentity", ip),
    ];
    let out = hunt(&dir, positive.clone(), true);
    let hits = correlation_alerts(&out);
    assert_eq!(hits.len(), 1, "alerts: {:?}", names(&out));
    let f = hits[0].fields.as_ref().expect("ES|QL row fields");
    assert_eq!(f["source.ip"], json!(ip));
    assert_eq!(f["Esql.alert_count_long_term_key_new_ip_rule"], json!(1));
    assert_eq!(f["Esql.alert_count_other_elevated_rule"], json!(1));
    // VALUES is sorted.
    let mut ids = vec![
        "9f8e3c5e-f72e-4e91-93f6-e98a4fae3e4f".to_string(),
        load(&dir, TRAIL_DELETED).rule_id.clone(),
    ];
    ids.sort();
    assert_eq!(f["Esql.kibana_alert_rule_id_values"], json!(ids));
    assert_eq!(
        f["Esql.user_entity_id_values"],
        json!("arn:aws:iam::111111111111:user/alice")
    );
    // Its alert document builds like any other.
    let doc = tripline_alerts::build_alert(hits[0]).doc;
    assert_eq!(doc.0["kibana.alert.rule.type"], json!("esql"));

    // Without alerts fed back the rule has nothing to read.
    assert!(correlation_alerts(&hunt(&dir, positive, false)).is_empty());

    // Near miss: the trail is deleted from another address with temporary credentials (so
    // that address is no first sighting of the long-term key): both alerts exist, but no
    // single source.ip has both.
    let mut other = call(
        90,
        "cloudtrail.amazonaws.com",
        "DeleteTrail",
        "198.51.100.200",
    );
    other["aws"]["cloudtrail"]["user_identity"]["access_key_id"] = json!("ASIATEMPORARY0000001");
    let near = vec![
        call(30, "sts.amazonaws.com", "GetCallerIdentity", ip),
        other,
        call(600, "sts.amazonaws.com", "GetCallerIdentity", ip),
    ];
    let out = hunt(&dir, near, true);
    assert_eq!(out.len(), 2, "{:?}", names(&out));
    assert!(correlation_alerts(&out).is_empty(), "{:?}", names(&out));

    // Near miss: the two alerts more than the rule's 6-minute look-back apart.
    let far = vec![
        call(30, "sts.amazonaws.com", "GetCallerIdentity", ip),
        call(1800, "cloudtrail.amazonaws.com", "DeleteTrail", ip),
        call(2400, "sts.amazonaws.com", "GetCallerIdentity", ip),
    ];
    let out = hunt(&dir, far, true);
    assert_eq!(out.len(), 2, "{:?}", names(&out));
    assert!(correlation_alerts(&out).is_empty(), "{:?}", names(&out));
}

/// A stand-in for Elastic's Okta credential-stuffing rule (its rule_id, a simple query): the
/// Okta correlation rule below only asks for alerts of that rule id.
fn stuffing_stand_in() -> Arc<Rule> {
    let text = r#"
[metadata]
creation_date = "2024/01/01"
[rule]
name = "Okta credential stuffing (test stand-in)"
rule_id = "94e734c0-2cda-11ef-84e1-f661ea17fbce"
description = "failed Okta sign-ins"
risk_score = 47
severity = "medium"
type = "query"
language = "kuery"
index = ["logs-okta*"]
from = "now-6m"
query = 'data_stream.dataset: "okta.system" and okta.outcome.result: "FAILURE"'
"#;
    Arc::new(Rule::parse("stand-in.toml", text).unwrap_or_else(|e| panic!("{e}")))
}

fn okta_login(secs: i64, user: &str, ip: &str, result: &str) -> Value {
    json!({
        "@timestamp": at(secs),
        "data_stream": {"dataset": "okta.system", "namespace": "default", "type": "logs"},
        "event": {"action": "user.authentication.sso", "ingested": at(secs + 30)},
        "okta": {
            "actor": {"alternate_id": user},
            "client": {"ip": ip},
            "outcome": {"result": result},
        },
        "source": {"ip": ip},
    })
}

/// Elastic's Okta "successful login after credential attack" reads alerts and Okta logs in one
/// query (`FROM .alerts-security.*, logs-okta.system-*`).
#[test]
fn okta_rule_reads_alerts_and_logs_together() {
    let Some(aws) = aws_dir() else { return };
    let okta = aws.join("../okta");
    let correlation = load(
        &okta,
        "credential_access_okta_successful_login_after_credential_attack.toml",
    );
    let run = |docs: Vec<Value>| {
        let ctx = CompileContext::default();
        let dets = vec![
            compile_rule(&correlation, &ctx).unwrap_or_else(|e| panic!("{e}")),
            compile_rule(&stuffing_stand_in(), &ctx).unwrap_or_else(|e| panic!("{e}")),
        ];
        let mut runner = Runner::new(dets, RunnerConfig::default());
        runner.set_alert_doc_builder(Box::new(|d| tripline_alerts::build_alert(d).doc));
        let mut out = Vec::new();
        for (i, d) in docs.into_iter().enumerate() {
            let mut doc = Document(d.as_object().cloned().unwrap_or_default());
            doc.set("event.id", json!(format!("okta-{i}")));
            let timestamp = doc
                .first("@timestamp")
                .and_then(time::value_to_millis)
                .unwrap_or(0);
            let origin = Origin {
                file: "okta.ndjson".into(),
                record: i as u64 + 1,
                line: None,
            };
            let ev = Event {
                doc,
                timestamp,
                origin,
                seq: i as u64,
            };
            runner.push(Arc::new(ev), &mut out);
        }
        runner.finish(&mut out);
        out.into_iter()
            .filter(|a| a.rule.rule_id == correlation.rule_id)
            .collect::<Vec<_>>()
    };
    // Failed sign-ins from one address (alerts), then a success from another.
    let pos = run(vec![
        okta_login(60, "carol@example.com", "192.0.2.50", "FAILURE"),
        okta_login(90, "carol@example.com", "192.0.2.50", "FAILURE"),
        okta_login(1200, "carol@example.com", "198.51.100.77", "SUCCESS"),
    ]);
    assert_eq!(pos.len(), 1);
    let f = pos[0].fields.as_ref().expect("fields");
    assert_eq!(f["Esql.user"], json!("carol@example.com"));
    assert_eq!(f["Esql.attack_count"], json!(2));
    assert_eq!(f["Esql.login_count"], json!(1));
    assert_eq!(f["Esql.attack_source_ips"], json!("192.0.2.50"));
    assert_eq!(f["Esql.login_source_ips"], json!("198.51.100.77"));
    // Near miss: the success comes first.
    let neg = run(vec![
        okta_login(60, "carol@example.com", "198.51.100.77", "SUCCESS"),
        okta_login(1200, "carol@example.com", "192.0.2.50", "FAILURE"),
    ]);
    assert!(neg.is_empty(), "{:?}", neg[0].fields);
}
