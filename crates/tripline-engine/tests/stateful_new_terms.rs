//! new_terms semantics end to end (runner + compiled rule).

mod stateful_common;

use serde_json::json;
use stateful_common::*;
use tripline_engine::CompileContext;

fn users(drafts: &[tripline_engine::AlertDraft]) -> Vec<String> {
    drafts
        .iter()
        .map(|d| d.extra["new_terms"][0].as_str().unwrap_or("?").to_string())
        .collect()
}

#[test]
fn seen_eight_days_ago_is_new_six_days_ago_is_not() {
    let r = rule(NEW_TERMS_RULE);
    let evs = vec![
        event(T0, 1, login("alice", "success")), // warm-up: withheld
        event(T0 + DAY, 2, login("bob", "success")), // warm-up: withheld
        event(T0 + 7 * DAY, 3, login("bob", "success")), // last seen 6 days ago: not new
        event(T0 + 7 * DAY + HOUR, 4, login("carol", "success")), // first sighting after warm-up
        event(T0 + 8 * DAY, 5, login("alice", "success")), // last seen 8 days ago: new again
        event(T0 + 8 * DAY + HOUR, 6, login("alice", "success")), // seen an hour ago
        event(T0 + 8 * DAY + 2 * HOUR, 7, login("dave", "failure")), // query does not match
    ];
    let (drafts, summary) = run(vec![compile(&r)], &evs);
    assert_eq!(users(&drafts), vec!["carol", "alice"]);
    assert_eq!(
        stat(&summary, "alerts withheld during first history window"),
        Some(2)
    );
    let d = &drafts[1];
    assert_eq!(d.timestamp, T0 + 8 * DAY);
    assert_eq!(d.events[0].event_id(), Some("ev-5"));
    assert_eq!(d.extra["new_terms"], json!(["alice"]));
}

#[test]
fn exact_history_boundary() {
    // Seen exactly 7 days before: inside [t - 7d, t), not new; one ms more: new.
    let r = rule(NEW_TERMS_RULE);
    let ctx = CompileContext {
        no_warmup: true,
        ..Default::default()
    };
    let evs = vec![
        event(T0, 1, login("alice", "success")),
        event(T0 + 7 * DAY, 2, login("alice", "success")),
        event(T0 + 14 * DAY + 1, 3, login("alice", "success")),
    ];
    let (drafts, _) = run(vec![compile_with(&r, &ctx)], &evs);
    let ids: Vec<_> = drafts
        .iter()
        .map(|d| d.events[0].event_id().unwrap().to_string())
        .collect();
    assert_eq!(ids, vec!["ev-1", "ev-3"]);
}

#[test]
fn no_warmup_alerts_in_first_window() {
    let r = rule(NEW_TERMS_RULE);
    let evs = vec![
        event(T0, 1, login("alice", "success")),
        event(T0 + HOUR, 2, login("alice", "success")),
    ];
    let (drafts, s) = run(
        vec![compile_with(
            &r,
            &CompileContext {
                no_warmup: true,
                ..Default::default()
            },
        )],
        &evs,
    );
    assert_eq!(users(&drafts), vec!["alice"]);
    assert_eq!(
        stat(&s, "alerts withheld during first history window"),
        None
    );
    let (drafts, _) = run(vec![compile(&r)], &evs);
    assert!(drafts.is_empty());
}

#[test]
fn warmup_counts_from_input_start_not_first_match() {
    // The input starts at T0 with an unrelated event; a first match 8 days later is past
    // the warm-up even though the rule never matched before.
    let r = rule(NEW_TERMS_RULE);
    let evs = vec![
        event(
            T0,
            1,
            json!({"event": {"action": "GetObject", "provider": "s3.amazonaws.com"}}),
        ),
        event(T0 + 8 * DAY, 2, login("alice", "success")),
    ];
    let (drafts, _) = run(vec![compile(&r)], &evs);
    assert_eq!(users(&drafts), vec!["alice"]);
}

const TWO_FIELDS: &str = r#"
[rule]
rule_id = "nt-two"
name = "New user and address"
description = "test"
type = "new_terms"
language = "kuery"
severity = "low"
risk_score = 21
query = 'event.action: "ConsoleLogin"'
[rule.new_terms]
field = "new_terms_fields"
value = ["user.name", "source.ip"]
[[rule.new_terms.history_window_start]]
field = "history_window_start"
value = "now-5d"
"#;

#[test]
fn multi_valued_fields_count_every_combination() {
    let r = rule(TWO_FIELDS);
    let ctx = CompileContext {
        no_warmup: true,
        ..Default::default()
    };
    let ev = |t, n, users: serde_json::Value, ips: serde_json::Value| {
        event(
            t,
            n,
            json!({"event": {"action": "ConsoleLogin"}, "user": {"name": users}, "source": {"ip": ips}}),
        )
    };
    let evs = vec![
        ev(T0, 1, json!(["a", "b"]), json!("10.0.0.1")), // (a,1) (b,1)
        ev(
            T0 + MIN,
            2,
            json!(["a", "c"]),
            json!(["10.0.0.1", "10.0.0.2"]),
        ), // (a,2) (c,1) (c,2) new; (a,1) not
        ev(T0 + 2 * MIN, 3, json!("a"), json!(null)),    // missing field: no tuple
        ev(T0 + 3 * MIN, 4, json!(["b"]), json!(["10.0.0.1"])), // seen
    ];
    let (drafts, s) = run(vec![compile_with(&r, &ctx)], &evs);
    let mut got: Vec<(String, serde_json::Value)> = drafts
        .iter()
        .map(|d| {
            (
                d.events[0].event_id().unwrap().to_string(),
                d.extra["new_terms"].clone(),
            )
        })
        .collect();
    got.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.to_string().cmp(&b.1.to_string())));
    assert_eq!(
        got,
        vec![
            ("ev-1".into(), json!(["a", "10.0.0.1"])),
            ("ev-1".into(), json!(["b", "10.0.0.1"])),
            ("ev-2".into(), json!(["a", "10.0.0.2"])),
            ("ev-2".into(), json!(["c", "10.0.0.1"])),
            ("ev-2".into(), json!(["c", "10.0.0.2"])),
        ]
    );
    // One alert per new tuple, each with its own identity.
    let mut ids: Vec<String> = drafts.iter().map(identity).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 5);
    assert_eq!(stat(&s, "new_terms live tuples"), Some(5));
}

#[test]
fn tuples_expire_with_the_window() {
    let r = rule(NEW_TERMS_RULE);
    let ctx = CompileContext {
        no_warmup: true,
        ..Default::default()
    };
    let mut evs = Vec::new();
    for i in 0..50u64 {
        evs.push(event(
            T0 + i as i64 * MIN,
            i + 1,
            login(&format!("user{i}"), "success"),
        ));
    }
    // Twenty days later, one more login: the 50 old tuples are out of the window.
    evs.push(event(T0 + 20 * DAY, 100, login("late", "success")));
    let (drafts, s) = run(vec![compile_with(&r, &ctx)], &evs);
    assert_eq!(drafts.len(), 51);
    assert_eq!(stat(&s, "new_terms live tuples"), Some(1));
}
