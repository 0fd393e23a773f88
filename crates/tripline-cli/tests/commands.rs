//! End-to-end: `query`, `rules test`, `lineage`, `coverage`, the HTML report, and Elastic's seed
//! rule file (read from the shared corpus when it is present) on data we write.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use serde_json::json;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// IAM calls with temporary and long-term keys: the seed rule's positives and near misses.
fn mfa_trail(dir: &Path) -> PathBuf {
    let asia = "ASIAEXAMPLETEMP00001";
    let mut recs = vec![
        // positives: non-console ASIA session registers / enables a virtual MFA device
        record(
            "pos-1",
            "2026-05-01T10:00:00Z",
            "iam.amazonaws.com",
            "CreateVirtualMFADevice",
            asia,
            json!({}),
        ),
        record(
            "pos-2",
            "2026-05-01T10:01:00Z",
            "iam.amazonaws.com",
            "EnableMFADevice",
            asia,
            json!({}),
        ),
        // near misses
        record(
            "miss-akia",
            "2026-05-01T10:02:00Z",
            "iam.amazonaws.com",
            "CreateVirtualMFADevice",
            "AKIAEXAMPLELONG00001",
            json!({}),
        ),
        record(
            "miss-fail",
            "2026-05-01T10:03:00Z",
            "iam.amazonaws.com",
            "EnableMFADevice",
            asia,
            json!({"errorCode": "AccessDenied", "errorMessage": "x"}),
        ),
        record(
            "miss-other",
            "2026-05-01T10:04:00Z",
            "iam.amazonaws.com",
            "ListMFADevices",
            asia,
            json!({}),
        ),
        record(
            "miss-console",
            "2026-05-01T10:05:00Z",
            "iam.amazonaws.com",
            "CreateVirtualMFADevice",
            asia,
            json!({"sessionCredentialFromConsole": "true"}),
        ),
    ];
    for r in recs.iter_mut() {
        if r["userIdentity"]["accessKeyId"]
            .as_str()
            .unwrap()
            .starts_with("ASIA")
        {
            r["userIdentity"]["type"] = json!("AssumedRole");
            r["userIdentity"]["arn"] = json!("arn:aws:sts::123456789012:assumed-role/Ops/alice");
            r["userIdentity"]["sessionContext"] = json!({"attributes": {"creationDate": "2026-05-01T09:55:00Z", "mfaAuthenticated": "false"},
                "sessionIssuer": {"type": "Role", "principalId": "AROAEXAMPLE", "arn": "arn:aws:iam::123456789012:role/Ops", "accountId": "123456789012", "userName": "Ops"}});
        }
    }
    write(dir, "trail/a.json.gz", &gzip(&s3_file(&recs)))
}

#[test]
fn elastic_seed_rule_raises_one_alert_per_matching_event() {
    let rule = workspace().join("../shared/corpus/detection-rules/rules/integrations/aws/persistence_aws_attempt_to_register_virtual_mfa_device.toml");
    if !rule.exists() {
        eprintln!("skipped: shared corpus not present");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let trail = mfa_trail(dir.path());
    let o = run(&[
        "hunt",
        trail.to_str().unwrap(),
        "--rules",
        rule.to_str().unwrap(),
        "--format",
        "ndjson",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let mut ids: Vec<String> = ndjson(&o)
        .iter()
        .map(|a| {
            a["kibana.alert.ancestors"][0]["id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    ids.sort();
    assert_eq!(ids, vec!["pos-1", "pos-2"]);
}

#[test]
fn query_speaks_eql_kql_and_esql() {
    let dir = tempfile::tempdir().unwrap();
    let trail = mfa_trail(dir.path());
    let t = trail.to_str().unwrap();
    // EQL event query, with the missing-field semantics of `not field == "true"`
    let o = run(&["query", "iam where startsWith(aws.cloudtrail.user_identity.access_key_id, \"ASIA\") and not aws.cloudtrail.session_credential_from_console == \"true\"", t, "-q"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // pos-1, pos-2, miss-fail; ListMFADevices has no `iam` category in Elastic's pipeline.
    let ids: Vec<String> = ndjson(&o)
        .iter()
        .map(|d| d["event"]["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, vec!["pos-1", "pos-2", "miss-fail"]);
    // EQL sequence: one object per match with its events in order
    let o = run(&["query", "sequence by aws.cloudtrail.user_identity.access_key_id with maxspan=5m [iam where event.action == \"CreateVirtualMFADevice\"] [iam where event.action == \"EnableMFADevice\"]", t, "-q"]);
    let seqs = ndjson(&o);
    assert_eq!(seqs.len(), 1, "{seqs:?}");
    let evs = seqs[0]["sequence"].as_array().unwrap();
    assert_eq!(
        evs.iter()
            .map(|e| e["event"]["id"].as_str().unwrap())
            .collect::<Vec<_>>(),
        vec!["pos-1", "pos-2"]
    );
    // KQL
    let o = run(&[
        "query",
        "--lang",
        "kql",
        "event.action:(EnableMFADevice or ListMFADevices) and event.outcome:success",
        t,
        "-q",
    ]);
    assert_eq!(ndjson(&o).len(), 2);
    // ES|QL
    let o = run(&[
        "query",
        "--lang",
        "esql",
        "FROM logs-aws.cloudtrail-* | STATS n = COUNT(*) BY event.outcome | SORT n DESC",
        t,
        "-q",
    ]);
    let rows = ndjson(&o);
    assert_eq!(rows[0]["n"], 5);
    assert_eq!(rows[0]["event.outcome"], "success");
    // syntax errors say where
    let o = run(&["query", "iam where event.action ==", t, "-q"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("EQL syntax error at line 1"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn builtin_pack_tests_pass_and_user_rule_tests_run() {
    let o = run(&["rules", "test"]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    // A user's own rule with a failing test case fails the command.
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "r/create_user.toml",
        kql_rule(
            "u-1",
            "User created",
            "event.action:CreateUser and event.outcome:success",
        )
        .as_bytes(),
    );
    let good = record(
        "t-1",
        "2026-05-01T10:00:00Z",
        "iam.amazonaws.com",
        "CreateUser",
        "AKIAX",
        json!({}),
    );
    let tests = json!({"cases": [{"name": "created", "records": [good], "expect": 2}]});
    write(
        dir.path(),
        "r/tests/create_user.json",
        serde_json::to_string(&tests).unwrap().as_bytes(),
    );
    let o = run(&["rules", "test", dir.path().join("r").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}{}", stdout(&o), stderr(&o));
}

#[test]
fn lineage_coverage_and_html_report_on_the_sample_trail() {
    let trail = workspace().join("samples/trail");
    let t = trail.to_str().unwrap();
    let o = run(&["lineage", t, "--key", "ASIAOPSFORGED0000001"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("ASIAOPSFORGED0000001") && out.contains("no issuance"),
        "{out}"
    );
    let o = run(&["lineage", t, "--format", "ndjson"]);
    assert!(!ndjson(&o).is_empty());
    let o = run(&["coverage", t]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("111122223333"), "{}", stdout(&o));
    let o = run(&["hunt", t, "--format", "html", "-q"]);
    let html = stdout(&o);
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("AWS Session Used Without Prior Valid Authentication"));
    assert!(html.contains("Trail coverage"));
}

/// The HTML report (alerts, evidence, trail coverage) is the same whether detectors get
/// projected documents or whole ones; only the elapsed time may differ.
#[test]
fn html_report_is_the_same_with_and_without_projection() {
    let trail = workspace().join("samples/trail");
    let t = trail.to_str().unwrap();
    // Drops "time: 0.23s (860 records/s)".
    let untimed = |html: String| -> String {
        match (html.find("time: "), html.find(" records/s)")) {
            (Some(a), Some(b)) if a < b => format!("{}{}", &html[..a], &html[b..]),
            _ => html,
        }
    };
    let report = |extra: &[&str]| {
        let mut args = vec!["hunt", t, "--format", "html", "-q"];
        args.extend_from_slice(extra);
        let o = run(&args);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        // Whole documents are only announced when the projection could not be used.
        assert!(!stderr(&o).contains("whole documents"), "{}", stderr(&o));
        untimed(stdout(&o))
    };
    let projected = report(&[]);
    assert!(projected.contains("Trail coverage") && projected.contains("ASIAOPSFORGED0000001"));
    assert_eq!(projected, report(&["--no-projection"]));
}

#[test]
fn html_report_escapes_log_strings() {
    let dir = tempfile::tempdir().unwrap();
    let evil = "<script>alert(1)</script>";
    let mut r = record(
        "x-1",
        "2026-05-01T10:00:00Z",
        "iam.amazonaws.com",
        "CreateUser",
        "AKIAX",
        json!({}),
    );
    r["userAgent"] = json!(evil);
    r["userIdentity"]["arn"] = json!(format!("arn:aws:iam::123456789012:user/{evil}"));
    let trail = write(dir.path(), "t.json", &s3_file(&[r]));
    let rule = write(
        dir.path(),
        "r.toml",
        kql_rule("h-1", "User created <b>", "event.action:CreateUser").as_bytes(),
    );
    let o = run(&[
        "hunt",
        trail.to_str().unwrap(),
        "--rules",
        rule.to_str().unwrap(),
        "--format",
        "html",
        "-q",
    ]);
    let html = stdout(&o);
    assert!(html.contains("User created &lt;b&gt;"));
    assert!(
        !html.contains("<script>"),
        "unescaped log string in the report"
    );
    assert!(html.contains("&lt;script&gt;"));
}
