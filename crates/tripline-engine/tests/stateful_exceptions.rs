//! Exceptions: local files (TOML and YAML samples in tests/data) and rule-embedded items.

mod stateful_common;

use std::path::PathBuf;

use serde_json::json;
use stateful_common::*;
use tripline_engine::exceptions::{load_exceptions_file, ExceptionSet};

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

const QUERY_RULE: &str = r#"
[rule]
rule_id = "q-console-login"
name = "Console login"
description = "test"
type = "query"
language = "kuery"
severity = "low"
risk_score = 21
query = 'event.action: "ConsoleLogin"'
"#;

fn console(
    n: u64,
    user: &str,
    ip: &str,
    ua: &str,
    identity_type: &str,
    outcome: &str,
) -> tripline_doc::SharedEvent {
    event(
        T0 + n as i64 * MIN,
        n,
        json!({
            "event": {"action": "ConsoleLogin", "outcome": outcome},
            "user": {"name": user},
            "source": {"ip": ip},
            "user_agent": {"original": ua},
            "aws": {"cloudtrail": {"user_identity": {"type": identity_type}}}
        }),
    )
}

fn alerted_ids(set: &ExceptionSet) -> Vec<String> {
    let evs = vec![
        console(1, "alice", "192.0.2.50", "curl/8", "AssumedRole", "success"), // scanner, not IAMUser: silenced
        console(2, "alice", "192.0.2.50", "curl/8", "IAMUser", "success"), // scanner but IAMUser: alert
        console(
            3,
            "bob",
            "203.0.113.10",
            "Mozilla/5.0",
            "IAMUser",
            "success",
        ), // office + browser: silenced
        console(4, "bob", "203.0.113.10", "curl/8", "IAMUser", "success"), // office, not a browser: alert
        console(
            5,
            "terraform-ci",
            "198.51.100.1",
            "tf",
            "AssumedRole",
            "success",
        ), // global CI item: silenced
        console(
            6,
            "terraform-ci",
            "198.51.100.1",
            "tf",
            "AssumedRole",
            "failure",
        ), // CI failing: alert
        console(
            7,
            "carol",
            "198.51.100.2",
            "Mozilla/5.0",
            "IAMUser",
            "success",
        ), // alert
    ];
    let dets = set.apply(vec![compile(&rule(QUERY_RULE))]);
    let (drafts, summary) = run(dets, &evs);
    let excluded = stat(&summary, "events excluded by exceptions").unwrap_or(0);
    assert_eq!(excluded, (evs.len() - drafts.len()) as u64);
    drafts
        .iter()
        .map(|d| d.events[0].event_id().unwrap().to_string())
        .collect()
}

#[test]
fn toml_and_yaml_samples_load_and_silence_the_same_events() {
    let toml = load_exceptions_file(&data("exceptions.toml")).unwrap();
    let yaml = load_exceptions_file(&data("exceptions.yaml")).unwrap();
    assert_eq!(toml.len(), yaml.len());
    let mut ids: Vec<&str> = toml.rule_ids().collect();
    ids.sort();
    assert_eq!(
        ids,
        vec![
            "*",
            "nt-console-user",
            "q-console-login",
            "th-failed-logins"
        ]
    );
    let want = vec!["ev-2", "ev-4", "ev-6", "ev-7"];
    assert_eq!(alerted_ids(&toml), want);
    assert_eq!(alerted_ids(&yaml), want);
    // Without exceptions every login alerts: the exceptions are what silenced them.
    assert_eq!(alerted_ids(&ExceptionSet::default()).len(), 7);
}

#[test]
fn excepted_events_are_not_new_terms_history() {
    let set = load_exceptions_file(&data("exceptions.toml")).unwrap();
    let ctx = tripline_engine::CompileContext {
        no_warmup: true,
        ..Default::default()
    };
    let dets = set.apply(vec![compile_with(&rule(NEW_TERMS_RULE), &ctx)]);
    let evs = vec![
        event(T0, 1, login("breakglass", "success")),
        event(T0 + HOUR, 2, login("alice", "success")),
    ];
    let (drafts, _) = run(dets, &evs);
    let users: Vec<_> = drafts
        .iter()
        .map(|d| d.extra["new_terms"][0].clone())
        .collect();
    assert_eq!(users, vec![json!("alice")]);
}

const EMBEDDED: &str = r#"
[rule]
rule_id = "th-embedded"
name = "Failed logins, with an exception"
description = "test"
type = "threshold"
language = "kuery"
severity = "high"
risk_score = 73
query = 'event.action: "ConsoleLogin" and event.outcome: "failure"'
[rule.threshold]
field = ["cloud.account.id"]
value = 10

[[rule.exceptions_list]]
name = "Load balancer health checks"
[[rule.exceptions_list.entries]]
field = "source.ip"
operator = "included"
type = "match"
value = "10.1.1.1"

[[rule.exceptions_list]]
id = "abc"
list_id = "shared-exceptions"
namespace_type = "single"
type = "detection"
"#;

#[test]
fn rule_embedded_exceptions_apply_before_counting() {
    let r = rule(EMBEDDED);
    let det = compile(&r);
    assert!(
        det.warnings()
            .iter()
            .any(|w| w.contains("shared-exceptions")),
        "{:?}",
        det.warnings()
    );
    let b = T0 + 10 * HOUR + 10 * SEC;
    let mut evs = Vec::new();
    for i in 0..10u64 {
        let mut doc = login("mallory", "failure");
        if i < 2 {
            doc["source"]["ip"] = json!("10.1.1.1");
        }
        evs.push(event(b + i as i64 * SEC, i + 1, doc));
    }
    let (drafts, s) = run(vec![det], &evs);
    assert!(drafts.is_empty(), "2 of the 10 are excepted: 8 < 10");
    assert_eq!(stat(&s, "events excluded by exceptions"), Some(2));
    // The same events without the exception reach the threshold.
    let plain = EMBEDDED
        .split("[[rule.exceptions_list]]")
        .next()
        .unwrap()
        .to_string();
    let (drafts, _) = run(vec![compile(&rule(&plain))], &evs);
    assert_eq!(drafts.len(), 1);
}

#[test]
fn bad_embedded_exception_is_a_compile_error() {
    let bad = EMBEDDED.replace("type = \"match\"", "type = \"regex\"");
    let r = rule(&bad);
    let err = tripline_engine::compile_rule(&r, &tripline_engine::CompileContext::default())
        .err()
        .expect("error");
    assert!(
        err.to_string().contains("regex") && err.to_string().contains("Load balancer"),
        "{err}"
    );
}
