use super::*;

#[test]
fn every_builtin_rule_parses_compiles_and_has_passing_tests() {
    let rules = builtin_rules();
    assert!(rules.len() >= 15, "{}", rules.len());
    let opts = TestOptions { require_tests: true };
    let report = run_builtin_tests(&opts);
    let text = report.render_text();
    assert!(report.passed(&opts), "{text}");
    for r in &report.rules {
        // every rule has a positive and a near-miss case
        assert!(r.cases.iter().any(|c| c.expected > 0), "{}: no positive case", r.rule_path);
        assert!(r.cases.iter().any(|c| c.expected == 0), "{}: no near-miss case", r.rule_path);
    }
}

#[test]
fn rule_ids_are_unique() {
    let mut ids = std::collections::BTreeSet::new();
    for (name, text) in builtin_rules() {
        let r = Rule::parse(name, text).unwrap();
        assert!(ids.insert(r.rule_id.clone()), "duplicate rule_id in {name}");
        assert!(r.note.is_some() && !r.threat.is_empty(), "{name}: needs a note and an ATT&CK mapping");
    }
}

const RULE: &str = r#"
[rule]
rule_id = "x1"
name = "Stop logging"
type = "query"
language = "kuery"
severity = "high"
risk_score = 73
description = "d"
query = 'event.action: "StopLogging"'
"#;

fn rec(name: &str) -> Value {
    serde_json::json!({"eventVersion": "1.09", "eventTime": "2024-05-01T08:00:00Z", "eventSource": "cloudtrail.amazonaws.com", "eventName": name,
        "awsRegion": "us-east-1", "sourceIPAddress": "198.51.100.1", "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/a", "accountId": "111122223333"},
        "eventID": format!("id-{name}"), "recipientAccountId": "111122223333"})
}

#[test]
fn harness_detects_wrong_expectations_and_bad_files() {
    let good = serde_json::json!({"cases": [
        {"name": "hit", "expect": 1, "records": [rec("StopLogging")], "expect_fields": {"event.action": "StopLogging", "kibana.alert.rule.name": "Stop logging"}},
        {"name": "miss", "expect": 0, "records": {"Records": [rec("StartLogging")]}}
    ]});
    let r = run_rule_test_text("r.toml", RULE, "t.json", &good.to_string());
    assert!(r.passed(), "{:?}", r);
    let wrong = serde_json::json!({"cases": [
        {"name": "hit", "expect": 2, "records": [rec("StopLogging")]},
        {"name": "fields", "expect": 1, "records": [rec("StopLogging")], "expect_fields": {"event.action": "DeleteTrail"}},
        {"name": "bad record", "expect": 0, "records": [{"no": "time"}]}
    ]});
    let r = run_rule_test_text("r.toml", RULE, "t.json", &wrong.to_string());
    assert!(!r.passed());
    assert!(r.cases.iter().all(|c| !c.passed), "{:?}", r.cases);
    let r = run_rule_test_text("r.toml", RULE, "t.json", "{not json");
    assert!(r.error.is_some());
    let r = run_rule_test_text("r.toml", RULE, "t.json", r#"{"cases": [], "extra": 1}"#);
    assert!(r.error.is_some());
    let r = run_rule_test_text("r.toml", "[rule]\nname='x'", "t.json", &good.to_string());
    assert!(r.error.is_some());
}

#[test]
fn run_rule_tests_finds_test_files_beside_rules() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("stop.toml"), RULE).unwrap();
    std::fs::create_dir(dir.path().join("tests")).unwrap();
    let t = serde_json::json!({"cases": [{"name": "hit", "expect": 1, "records": [rec("StopLogging")]}, {"name": "miss", "expect": 0, "records": [rec("GetTrail")]}]});
    std::fs::write(dir.path().join("tests/stop.json"), t.to_string()).unwrap();
    std::fs::write(dir.path().join("untested.toml"), RULE.replace("x1", "x2")).unwrap();
    let report = run_rule_tests(&[dir.path().to_path_buf()], &TestOptions::default());
    assert_eq!(report.rules.len(), 2);
    assert!(report.passed(&TestOptions::default()), "{}", report.render_text());
    assert!(!report.passed(&TestOptions { require_tests: true }));
    assert_eq!(report.counts(), (2, 2, 0, 1, 0));
}

