//! Alert suppression end to end.

mod stateful_common;

use serde_json::json;
use stateful_common::*;
use tripline_doc::time::format_millis;

fn suppressed_rule(extra: &str) -> String {
    format!(
        r#"
[rule]
rule_id = "q-supp"
name = "Console login, suppressed"
description = "test"
type = "query"
language = "kuery"
severity = "low"
risk_score = 21
interval = "5m"
from = "now-6m"
query = 'event.action: "ConsoleLogin"'
{extra}
"#
    )
}

fn from_ip(t: i64, n: u64, ip: Option<&str>) -> tripline_doc::SharedEvent {
    let mut doc = login("alice", "success");
    match ip {
        Some(ip) => doc["source"]["ip"] = json!(ip),
        None => {
            doc.as_object_mut().unwrap().remove("source");
        }
    }
    event(t, n, doc)
}

#[test]
fn one_alert_per_group_per_duration_with_docs_count() {
    let r = rule(&suppressed_rule(
        "[rule.alert_suppression]\ngroup_by = [\"source.ip\"]\nduration = {value = 10, unit = \"m\"}\nmissing_fields_strategy = \"suppress\"",
    ));
    let b = T0 + HOUR;
    let evs = vec![
        from_ip(b, 1, Some("1.1.1.1")),
        from_ip(b + MIN, 2, Some("1.1.1.1")),
        from_ip(b + 2 * MIN, 3, Some("2.2.2.2")),
        from_ip(b + 9 * MIN, 4, Some("1.1.1.1")),
        from_ip(b + 11 * MIN, 5, Some("1.1.1.1")), // window [b, b+10m) closed: a new alert
        from_ip(b + 12 * MIN, 6, None),
        from_ip(b + 13 * MIN, 7, None), // missing values group together under "suppress"
    ];
    let (drafts, s) = run(vec![compile(&r)], &evs);
    let got: Vec<(String, u64, serde_json::Value)> = drafts
        .iter()
        .map(|d| {
            (
                d.events[0].event_id().unwrap().to_string(),
                d.extra["suppression.docs_count"].as_u64().unwrap(),
                d.extra["suppression.terms"].clone(),
            )
        })
        .collect();
    let mut got_sorted = got.clone();
    got_sorted.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        got_sorted,
        vec![
            (
                "ev-1".into(),
                2,
                json!([{"field": "source.ip", "value": "1.1.1.1"}])
            ),
            (
                "ev-3".into(),
                0,
                json!([{"field": "source.ip", "value": "2.2.2.2"}])
            ),
            (
                "ev-5".into(),
                0,
                json!([{"field": "source.ip", "value": "1.1.1.1"}])
            ),
            (
                "ev-6".into(),
                1,
                json!([{"field": "source.ip", "value": null}])
            ),
        ]
    );
    let first = drafts
        .iter()
        .find(|d| d.events[0].event_id() == Some("ev-1"))
        .unwrap();
    assert_eq!(first.extra["suppression.start"], json!(format_millis(b)));
    assert_eq!(
        first.extra["suppression.end"],
        json!(format_millis(b + 9 * MIN))
    );
    assert_eq!(stat(&s, "alerts suppressed"), Some(3));
}

#[test]
fn do_not_suppress_missing_and_per_execution_windows() {
    // No duration: per rule execution, i.e. aligned 5-minute windows.
    let r = rule(&suppressed_rule("[rule.alert_suppression]\ngroup_by = [\"source.ip\"]\nmissing_fields_strategy = \"doNotSuppress\""));
    let b = T0 + HOUR; // aligned on 5 minutes
    let evs = vec![
        from_ip(b + MIN, 1, Some("1.1.1.1")),
        from_ip(b + 4 * MIN, 2, Some("1.1.1.1")),
        from_ip(b + 5 * MIN, 3, Some("1.1.1.1")), // next execution
        from_ip(b + 6 * MIN, 4, None),
        from_ip(b + 6 * MIN + SEC, 5, None),
    ];
    let (drafts, _) = run(vec![compile(&r)], &evs);
    let mut got: Vec<(String, Option<u64>)> = drafts
        .iter()
        .map(|d| {
            (
                d.events[0].event_id().unwrap().to_string(),
                d.extra
                    .get("suppression.docs_count")
                    .and_then(|v| v.as_u64()),
            )
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            ("ev-1".into(), Some(1)),
            ("ev-3".into(), Some(0)),
            ("ev-4".into(), None),
            ("ev-5".into(), None)
        ]
    );
}

#[test]
fn threshold_suppression_groups_by_threshold_fields() {
    let text = format!(
        "{THRESHOLD_RULE}\n[rule.alert_suppression]\nduration = {{value = 1, unit = \"h\"}}\n"
    );
    let r = rule(&text);
    let mut evs = Vec::new();
    // Three bursts of 10 failures, 10 minutes apart: three threshold hits, one alert an hour.
    for burst in 0..3u64 {
        for i in 0..10u64 {
            evs.push(event(
                T0 + HOUR + burst as i64 * 10 * MIN + i as i64 * SEC,
                burst * 100 + i,
                login("m", "failure"),
            ));
        }
    }
    let (drafts, _) = run(vec![compile(&r)], &evs);
    assert_eq!(drafts.len(), 1);
    assert_eq!(drafts[0].extra["suppression.docs_count"], json!(2));
    assert_eq!(
        drafts[0].extra["suppression.terms"],
        json!([{"field": "cloud.account.id", "value": "111122223333"}])
    );
    assert_eq!(drafts[0].extra["threshold_result"]["count"], json!(10));
}

#[test]
fn invalid_suppression_is_a_compile_error() {
    let r = rule(&suppressed_rule("[rule.alert_suppression]\ngroup_by = [\"source.ip\"]\nmissing_fields_strategy = \"ignore\""));
    let e = tripline_engine::compile_rule(&r, &tripline_engine::CompileContext::default())
        .err()
        .expect("error");
    assert!(e.to_string().contains("missing_fields_strategy"), "{e}");
}
