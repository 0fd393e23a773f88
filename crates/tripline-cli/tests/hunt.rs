//! End-to-end: `tripline hunt`, `normalize` and `rules check` on the binary.

mod common;

use common::*;
use serde_json::json;

fn create_user_rule(dir: &std::path::Path) -> std::path::PathBuf {
    write(
        dir,
        "rules/create_user.toml",
        kql_rule(
            "11111111-1111-4111-8111-111111111111",
            "IAM user created",
            "event.dataset:aws.cloudtrail and event.provider:iam.amazonaws.com and event.action:CreateUser and event.outcome:success",
        )
        .as_bytes(),
    )
}

fn trail(dir: &std::path::Path) {
    let recs = vec![
        record(
            "e-1",
            "2026-03-01T10:00:00Z",
            "iam.amazonaws.com",
            "CreateUser",
            "AKIAEXAMPLE000000001",
            json!({}),
        ),
        record(
            "e-2",
            "2026-03-01T10:01:00Z",
            "iam.amazonaws.com",
            "ListUsers",
            "AKIAEXAMPLE000000001",
            json!({}),
        ),
        record(
            "e-3",
            "2026-03-01T10:02:00Z",
            "iam.amazonaws.com",
            "CreateUser",
            "AKIAEXAMPLE000000001",
            json!({"errorCode": "AccessDenied", "errorMessage": "denied"}),
        ),
    ];
    write(
        dir,
        "AWSLogs/123456789012/CloudTrail/us-east-1/2026/03/01/a.json.gz",
        &gzip(&s3_file(&recs[..2])),
    );
    write(
        dir,
        "AWSLogs/123456789012/CloudTrail/us-east-1/2026/03/01/b.json",
        &s3_file(&recs[2..]),
    );
}

#[test]
fn hunt_raises_one_alert_per_matching_event_as_ndjson() {
    let dir = tempfile::tempdir().unwrap();
    trail(dir.path());
    let rule = create_user_rule(dir.path());
    let logs = dir.path().join("AWSLogs");
    let o = run(&[
        "hunt",
        logs.to_str().unwrap(),
        "--rules",
        rule.to_str().unwrap(),
        "--format",
        "ndjson",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let alerts = ndjson(&o);
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let a = &alerts[0];
    assert_eq!(a["kibana.alert.rule.name"], "IAM user created");
    assert_eq!(a["kibana.alert.ancestors"][0]["id"], "e-1");
    assert_eq!(a["kibana.alert.original_time"], "2026-03-01T10:00:00.000Z");
    assert_eq!(a["event"]["action"], "CreateUser");
    // The same hunt twice gives the same alert ids.
    let o2 = run(&[
        "hunt",
        logs.to_str().unwrap(),
        "--rules",
        rule.to_str().unwrap(),
        "--format",
        "ndjson",
    ]);
    assert_eq!(ndjson(&o2)[0]["kibana.alert.uuid"], a["kibana.alert.uuid"]);
    let err = stderr(&o);
    assert!(err.contains("records: 3"), "{err}");
}

#[test]
fn hunt_table_shows_principal_and_investigation_fields() {
    let dir = tempfile::tempdir().unwrap();
    trail(dir.path());
    let rule = create_user_rule(dir.path());
    let o = run(&[
        "hunt",
        dir.path().join("AWSLogs").to_str().unwrap(),
        "--rules",
        rule.to_str().unwrap(),
        "--quiet",
    ]);
    let out = stdout(&o);
    assert!(out.contains("IAM user created"), "{out}");
    assert!(
        out.contains("arn:aws:iam::123456789012:user/alice"),
        "{out}"
    );
    assert!(out.contains("203.0.113.10"), "{out}");
    assert!(out.contains("CreateUser"), "{out}");
    assert!(
        out.contains("aws.cloudtrail.request_parameters={userName=bob}"),
        "{out}"
    );
    assert!(
        stderr(&o).is_empty(),
        "--quiet prints nothing on stderr: {}",
        stderr(&o)
    );
}

#[test]
fn bad_input_is_reported_and_the_rest_processed() {
    let dir = tempfile::tempdir().unwrap();
    trail(dir.path());
    let rule = create_user_rule(dir.path());
    write(
        dir.path(),
        "AWSLogs/junk/broken.json",
        b"{\"Records\": [ {\"eventVersion\": ",
    );
    write(
        dir.path(),
        "AWSLogs/junk/not-cloudtrail.txt",
        b"hello,world\n1,2\n",
    );
    let gz = gzip(&s3_file(&[record(
        "e-9",
        "2026-03-01T11:00:00Z",
        "iam.amazonaws.com",
        "CreateUser",
        "AKIAX",
        json!({}),
    )]));
    write(
        dir.path(),
        "AWSLogs/junk/truncated.json.gz",
        &gz[..gz.len() / 2],
    );
    let o = run(&[
        "hunt",
        dir.path().join("AWSLogs").to_str().unwrap(),
        "--rules",
        rule.to_str().unwrap(),
        "--format",
        "ndjson",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(ndjson(&o).len(), 1);
    let err = stderr(&o);
    assert!(err.contains("broken.json"), "{err}");
    assert!(err.contains("not-cloudtrail.txt"), "{err}");
    assert!(err.contains("truncated.json.gz"), "{err}");
    assert!(!err.contains("records skipped: 0"), "{err}");
}

#[test]
fn nothing_readable_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "x.json", b"not json at all");
    let o = run(&["hunt", p.to_str().unwrap(), "--quiet"]);
    assert_eq!(o.status.code(), Some(2));
    let o = run(&[
        "hunt",
        dir.path().join("missing").to_str().unwrap(),
        "--quiet",
    ]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn normalize_reads_stdin_ndjson_in_order() {
    let a = record(
        "n-1",
        "2026-03-01T10:00:00Z",
        "iam.amazonaws.com",
        "CreateUser",
        "AKIAX",
        json!({}),
    );
    let b = record(
        "n-2",
        "2026-03-01T09:00:00Z",
        "s3.amazonaws.com",
        "GetObject",
        "AKIAX",
        json!({}),
    );
    let input = format!("{}\n{}\n", a, b);
    let o = run_stdin(&["normalize", "-"], input.as_bytes());
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let docs = ndjson(&o);
    assert_eq!(docs.len(), 2);
    assert_eq!(docs[0]["event"]["id"], "n-1");
    assert_eq!(docs[1]["event"]["provider"], "s3.amazonaws.com");
    assert!(docs[0]["event"].get("original").is_none());
    let o = run_stdin(&["normalize", "-", "--keep-original"], input.as_bytes());
    assert!(ndjson(&o)[0]["event"]["original"].is_string());
}

#[test]
fn rules_check_reports_each_rule_and_fails_on_errors() {
    let dir = tempfile::tempdir().unwrap();
    create_user_rule(dir.path());
    write(
        dir.path(),
        "rules/bad.toml",
        kql_rule("2", "Broken", "event.action:(CreateUser or").as_bytes(),
    );
    write(
        dir.path(),
        "rules/ml.toml",
        b"[rule]\nrule_id='3'\nname='ML'\ntype='machine_learning'\n",
    );
    let o = run(&["rules", "check", dir.path().join("rules").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(out.contains("ok      query      IAM user created"), "{out}");
    assert!(out.contains("FAILED  query      Broken"), "{out}");
    assert!(out.contains("syntax error"), "{out}");
    assert!(out.contains("machine_learning"), "{out}");
    assert!(out.contains("3 rules: 1 ok, 2 failed"), "{out}");
}
