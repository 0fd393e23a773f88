use super::*;

#[test]
fn every_builtin_rule_parses_compiles_and_has_passing_tests() {
    let rules = builtin_rules();
    assert!(rules.len() >= 15, "{}", rules.len());
    let opts = TestOptions {
        require_tests: true,
    };
    let report = run_builtin_tests(&opts);
    let text = report.render_text();
    assert!(report.passed(&opts), "{text}");
    for r in &report.rules {
        // every rule has a positive and a near-miss case
        assert!(
            r.cases.iter().any(|c| c.expected > 0),
            "{}: no positive case",
            r.rule_path
        );
        assert!(
            r.cases.iter().any(|c| c.expected == 0),
            "{}: no near-miss case",
            r.rule_path
        );
    }
}

#[test]
fn rule_ids_are_unique() {
    let mut ids = std::collections::BTreeSet::new();
    for (name, text) in builtin_rules() {
        let r = Rule::parse(name, text).unwrap();
        assert!(ids.insert(r.rule_id.clone()), "duplicate rule_id in {name}");
        assert!(
            r.note.is_some() && !r.threat.is_empty(),
            "{name}: needs a note and an ATT&CK mapping"
        );
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
    assert!(
        report.passed(&TestOptions::default()),
        "{}",
        report.render_text()
    );
    assert!(!report.passed(&TestOptions {
        require_tests: true
    }));
    assert_eq!(report.counts(), (2, 2, 0, 1, 0));
}

/// Reads `samples/trail` (gzipped `{"Records": [...]}` files in S3 layout), normalized.
fn sample_events() -> Vec<Arc<Event>> {
    use std::io::Read;
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../samples/trail");
    let mut files = Vec::new();
    let mut stack = vec![root];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.to_string_lossy().ends_with(".json.gz") {
                files.push(p);
            }
        }
    }
    files.sort();
    assert!(files.len() > 50, "sample trail missing");
    let norm = Normalizer::new(NormalizeOptions::default());
    let mut evs = Vec::new();
    for f in files {
        let mut s = String::new();
        flate2::read::GzDecoder::new(std::fs::File::open(&f).unwrap())
            .read_to_string(&mut s)
            .unwrap();
        let v: Value = serde_json::from_str(&s).unwrap();
        for (i, r) in v["Records"].as_array().unwrap().iter().enumerate() {
            let (doc, t) = norm.normalize_with_time(r).unwrap();
            let seq = evs.len() as u64;
            evs.push(Event {
                doc,
                timestamp: t,
                origin: Origin {
                    file: f.display().to_string().into(),
                    record: i as u64 + 1,
                    line: None,
                },
                seq,
            });
        }
    }
    evs.into_iter().map(Arc::new).collect()
}

#[test]
fn sample_trail_raises_exactly_the_documented_alerts() {
    let ctx = compile_context();
    let dets = builtin_rules()
        .into_iter()
        .map(|(n, t)| compile_rule(&Arc::new(Rule::parse(n, t).unwrap()), &ctx).unwrap())
        .collect();
    let mut runner = Runner::new(dets, RunnerConfig::default());
    let mut drafts = Vec::new();
    // Pushed in file order (regions interleave), as a hunt reads them; the runner reorders.
    for ev in sample_events() {
        runner.push(ev, &mut drafts);
    }
    runner.finish(&mut drafts);
    let alerts: Vec<_> = drafts.iter().filter(|d| !d.building_block).collect();
    let mut by_rule = std::collections::BTreeMap::<String, Vec<String>>::new();
    for a in &alerts {
        by_rule
            .entry(a.rule.name.clone())
            .or_default()
            .push(a.reason.clone().unwrap_or_default());
    }
    // What samples/README.md documents.
    let expected = [
        ("AWS Session Used Without Prior Valid Authentication", 1),
        ("AWS Session Used Away From Where It Was Issued", 2),
        ("AWS Session Issued Without Expected MFA", 2),
        (
            "AWS IAM MFA Device Registered with Temporary API Credentials",
            2,
        ),
        ("AWS CloudTrail Trail Stopped or Deleted", 1),
        ("AWS GuardDuty Detector Disabled or Findings Suppressed", 1),
        ("AWS Root User Console Sign-in", 1),
        ("AWS Console Sign-in Without MFA", 2),
        ("AWS IAM Credentials Created for Another User", 1),
        ("AWS IAM Administrator Policy Attached", 1),
        ("AWS S3 Bucket Made Public", 1),
        ("AWS IAM MFA Device Deactivated or Deleted", 1),
        ("AWS IAM Identity Provider Created or Changed", 1),
    ];
    let got: Vec<(String, usize)> = by_rule.iter().map(|(k, v)| (k.clone(), v.len())).collect();
    let want: Vec<(String, usize)> = {
        let mut w: Vec<(String, usize)> =
            expected.iter().map(|(k, v)| (k.to_string(), *v)).collect();
        w.sort();
        w
    };
    assert_eq!(got, want, "{by_rule:#?}");
    // The lineage alerts name the right credentials.
    let keys: Vec<String> = alerts
        .iter()
        .filter_map(|a| {
            a.fields
                .as_ref()?
                .get("tripline.lineage.credential")?
                .get("access_key_id")?
                .as_str()
                .map(String::from)
        })
        .collect();
    for k in [
        "ASIAOPSFORGED0000001",
        "ASIAWEBSERVER0000003",
        "ASIABOBCONSOLE000001",
    ] {
        assert!(keys.iter().any(|x| x == k), "{k} not alerted: {keys:?}");
    }
}

#[test]
fn sample_trail_lineage_view_and_coverage() {
    let evs = {
        let mut e = sample_events();
        e.sort_by_key(|x| (x.timestamp, x.seq));
        e
    };
    let view = tripline_lineage::build_view(evs.clone());
    let table = view.render_table();
    let forged = view
        .identities
        .iter()
        .flat_map(|i| &i.credentials)
        .find(|c| c.access_key_id == "ASIAOPSFORGED0000001")
        .unwrap();
    assert_eq!(forged.lineage, "missing");
    let early = view
        .identities
        .iter()
        .flat_map(|i| &i.credentials)
        .find(|c| c.access_key_id == "ASIAOPSEARLY00000001")
        .unwrap();
    assert_eq!(early.lineage, "unknown");
    let refreshed = view
        .identities
        .iter()
        .flat_map(|i| &i.credentials)
        .find(|c| c.access_key_id == "ASIAALICECONSOLE0002")
        .unwrap();
    assert_eq!(refreshed.lineage, "known", "{table}");
    let cov = tripline_lineage::coverage(evs);
    assert_eq!(cov.verdict, "supported", "{}", cov.render_table());
    let a = &cov
        .accounts
        .iter()
        .find(|a| a.account == "111122223333")
        .unwrap();
    assert_eq!(a.regions.len(), 2);
    assert!(a.sessions["role"].missing >= 1);
    // us-west-2 delivers only every 15 minutes: intervals without a file are reported
    assert!(!a
        .regions
        .iter()
        .find(|r| r.region == "us-west-2")
        .unwrap()
        .missing_delivery_intervals
        .is_empty());
}
