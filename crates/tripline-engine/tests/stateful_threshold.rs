//! threshold semantics end to end.

mod stateful_common;

use serde_json::json;
use stateful_common::*;

fn failures(start: i64, step: i64, n: u64, first_id: u64) -> Vec<tripline_doc::SharedEvent> {
    (0..n)
        .map(|i| {
            event(
                start + i as i64 * step,
                first_id + i,
                login("mallory", "failure"),
            )
        })
        .collect()
}

#[test]
fn count_reached_alerts_once_with_elastic_threshold_result() {
    let r = rule(THRESHOLD_RULE);
    // 12 failures 10 s apart from 10:00:30; run at 10:05 sees all (window 09:59-10:05).
    let base = T0 + 10 * HOUR + 30 * SEC;
    let evs = failures(base, 10 * SEC, 12, 1);
    let (drafts, _) = run(vec![compile(&r)], &evs);
    assert_eq!(
        drafts.len(),
        1,
        "overlapping runs must not alert twice on the same events"
    );
    let d = &drafts[0];
    assert!(d.events.is_empty());
    assert_eq!(
        d.fields.as_ref().unwrap()["cloud.account.id"],
        json!("111122223333")
    );
    assert_eq!(
        d.extra["threshold_result"],
        json!({
            "terms": [{"field": "cloud.account.id", "value": "111122223333"}],
            "count": 12,
            "from": tripline_doc::time::format_millis(base),
        })
    );
    assert_eq!(d.timestamp, base + 11 * 10 * SEC);
}

#[test]
fn below_threshold_or_spread_beyond_lookback_does_not_alert() {
    let r = rule(THRESHOLD_RULE);
    // 9 in a burst: not enough.
    let (drafts, _) = run(vec![compile(&r)], &failures(T0 + HOUR, SEC, 9, 1));
    assert!(drafts.is_empty());
    // 20 failures one minute apart: no 6-minute window holds 10.
    let (drafts, _) = run(vec![compile(&r)], &failures(T0 + HOUR, MIN, 20, 1));
    assert!(drafts.is_empty());
}

#[test]
fn threshold_reached_across_two_batches_and_realerts_only_on_new_events() {
    let r = rule(THRESHOLD_RULE);
    let det = compile(&r);
    let mut runner = tripline_engine::Runner::new(
        vec![det],
        tripline_engine::RunnerConfig {
            reorder_window_ms: 0,
            ..Default::default()
        },
    );
    let mut out = Vec::new();
    // Batch 1 (file 1): 6 failures at 10:01:00..10:01:50. Batch 2 (file 2): 4 more at 10:02.
    for e in failures(T0 + 10 * HOUR + MIN, 10 * SEC, 6, 1) {
        runner.push(e, &mut out);
    }
    assert!(out.is_empty());
    for e in failures(T0 + 10 * HOUR + 2 * MIN, 10 * SEC, 4, 7) {
        runner.push(e, &mut out);
    }
    // Then 10 more in the next run's window: a second alert, counting only the new ones.
    for e in failures(T0 + 10 * HOUR + 6 * MIN, 5 * SEC, 10, 20) {
        runner.push(e, &mut out);
    }
    runner.finish(&mut out);
    let counts: Vec<u64> = out
        .iter()
        .map(|d| d.extra["threshold_result"]["count"].as_u64().unwrap())
        .collect();
    assert_eq!(counts, vec![10, 10]);
    assert_ne!(identity(&out[0]), identity(&out[1]));
}

const CARDINALITY_RULE: &str = r#"
[rule]
rule_id = "th-secrets"
name = "Many distinct secrets read"
description = "test"
type = "threshold"
language = "kuery"
severity = "medium"
risk_score = 47
from = "now-6m"
interval = "5m"
query = 'event.action: "GetSecretValue"'
[rule.threshold]
field = ["user.id"]
value = 1
[[rule.threshold.cardinality]]
field = "aws.cloudtrail.request_parameters"
value = 3
"#;

#[test]
fn cardinality_counts_distinct_values_per_group() {
    let r = rule(CARDINALITY_RULE);
    let get = |t, n, user: &str, secret: &str| {
        event(
            t,
            n,
            json!({"event": {"action": "GetSecretValue"}, "user": {"id": user}, "aws": {"cloudtrail": {"request_parameters": secret}}}),
        )
    };
    let b = T0 + 3 * HOUR + 10 * SEC;
    let evs = vec![
        get(b, 1, "u1", "{secretId=a}"),
        get(b + SEC, 2, "u1", "{secretId=a}"),
        get(b + 2 * SEC, 3, "u1", "{secretId=b}"),
        get(b + 3 * SEC, 4, "u2", "{secretId=a}"),
        get(b + 4 * SEC, 5, "u2", "{secretId=b}"),
        get(b + 5 * SEC, 6, "u1", "{secretId=c}"),
        get(b + 6 * SEC, 7, "u2", "{secretId=b}"),
        get(b + 7 * SEC, 8, "u2", "{secretId=b}"),
    ];
    let (drafts, _) = run(vec![compile(&r)], &evs);
    assert_eq!(drafts.len(), 1, "u2 read only 2 distinct secrets");
    let tr = &drafts[0].extra["threshold_result"];
    assert_eq!(tr["terms"], json!([{"field": "user.id", "value": "u1"}]));
    assert_eq!(tr["count"], json!(4));
    assert_eq!(
        tr["cardinality"],
        json!([{"field": "aws.cloudtrail.request_parameters", "value": 3}])
    );
}

#[test]
fn no_group_fields_and_multi_valued_groups() {
    let text = THRESHOLD_RULE.replace(
        "field = [\"cloud.account.id\"]\nvalue = 10",
        "field = [\"user.name\"]\nvalue = 3",
    );
    let r = rule(&text);
    let ev = |t, n, users: serde_json::Value| {
        event(
            t,
            n,
            json!({"event": {"action": "ConsoleLogin", "outcome": "failure"}, "user": {"name": users}}),
        )
    };
    let b = T0 + HOUR;
    let evs = vec![
        ev(b, 1, json!(["a", "b"])),
        ev(b + SEC, 2, json!(["a", "c"])),
        ev(b + 2 * SEC, 3, json!("a")),
        ev(b + 3 * SEC, 4, json!(null)),
    ];
    let (drafts, _) = run(vec![compile(&r)], &evs);
    assert_eq!(drafts.len(), 1);
    assert_eq!(
        drafts[0].extra["threshold_result"]["terms"],
        json!([{"field": "user.name", "value": "a"}])
    );

    let text = THRESHOLD_RULE.replace(
        "field = [\"cloud.account.id\"]\nvalue = 10",
        "field = []\nvalue = 4",
    );
    let (drafts, _) = run(vec![compile(&rule(&text))], &evs);
    assert_eq!(drafts.len(), 1);
    assert_eq!(drafts[0].extra["threshold_result"]["terms"], json!([]));
    assert_eq!(drafts[0].extra["threshold_result"]["count"], json!(4));
}

#[test]
fn corpus_new_terms_and_threshold_rules_compile() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/corpus/detection-rules/rules/integrations");
    if !root.exists() {
        eprintln!("corpus absent, skipping");
        return;
    }
    let mut total = 0;
    let mut kql_failures = Vec::new();
    let mut other_failures = Vec::new();
    for dir in ["aws", "azure", "gcp", "okta", "o365"] {
        let Ok(files) = tripline_rules::collect_rule_files(&root.join(dir)) else {
            continue;
        };
        for f in files {
            let r = match tripline_rules::Rule::load(&f) {
                Ok(r) => r,
                Err(e) => {
                    other_failures.push(format!("{}: {e}", f.display()));
                    continue;
                }
            };
            if !matches!(
                r.rule_type,
                tripline_rules::RuleType::NewTerms | tripline_rules::RuleType::Threshold
            ) {
                continue;
            }
            total += 1;
            let r = std::sync::Arc::new(r);
            match tripline_engine::compile_rule(&r, &tripline_engine::CompileContext::default()) {
                Ok(d) => {
                    assert!(d.is_stateful());
                    let st = d.save_state().expect("stateful detectors save state");
                    let mut again = tripline_engine::compile_rule(
                        &r,
                        &tripline_engine::CompileContext::default(),
                    )
                    .unwrap();
                    again.load_state(st).unwrap();
                }
                Err(tripline_engine::CompileError::Syntax { message, .. }) => {
                    kql_failures.push(format!("{}: {message}", f.display()))
                }
                Err(e) => other_failures.push(format!("{}: {e}", f.display())),
            }
        }
    }
    eprintln!(
        "{total} new_terms/threshold rules; KQL failures (KQL engine's): {}",
        kql_failures.len()
    );
    for k in &kql_failures {
        eprintln!("  {k}");
    }
    assert!(
        total > 100,
        "expected the corpus's new_terms and threshold rules, found {total}"
    );
    assert!(
        other_failures.is_empty(),
        "rules that do not compile for stateful reasons:\n{}",
        other_failures.join("\n")
    );
}
