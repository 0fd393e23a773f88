//! `hunt --state`: a run killed at any moment (kill -9) and restarted on the same input with the
//! same state file prints, over all its runs, exactly the alerts of one uninterrupted run; and a
//! second day's hunt continues the first day's state.

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use common::*;
use serde_json::{json, Value};

fn new_terms_rule() -> String {
    "[rule]\nrule_id='nt-1'\nname='New action for user'\ntype='new_terms'\nlanguage='kuery'\nseverity='low'\nrisk_score=21\n\
description='d'\nquery='event.dataset:aws.cloudtrail and event.outcome:success'\nindex=['logs-aws.cloudtrail-*']\n\
[rule.new_terms]\nfield='new_terms_fields'\nvalue=['user.name','event.action']\n\
[[rule.new_terms.history_window_start]]\nfield='history_window_start'\nvalue='now-1d'\n"
        .to_string()
}

fn threshold_rule() -> String {
    "[rule]\nrule_id='th-1'\nname='Many denied calls'\ntype='threshold'\nlanguage='kuery'\nseverity='medium'\nrisk_score=47\n\
description='d'\nquery='event.dataset:aws.cloudtrail and event.outcome:failure'\nfrom='now-10m'\ninterval='5m'\nindex=['logs-aws.cloudtrail-*']\n\
[rule.threshold]\nfield=['user.name']\nvalue=5\n"
        .to_string()
}

/// Several days of activity by a few users over a few actions, with bursts of failures.
fn write_days(dir: &Path, days: std::ops::Range<u32>) {
    let users = ["alice", "bob", "carol", "dave"];
    let actions = [
        "ListUsers",
        "GetUser",
        "CreateUser",
        "ListRoles",
        "GetRole",
        "PutUserPolicy",
        "ListPolicies",
    ];
    let mut n = 0u64;
    for day in days {
        for file in 0..6u32 {
            let mut recs = Vec::new();
            for i in 0..120u32 {
                n += 1;
                let secs = file * 4 * 3600 + i * 60;
                let time = format!(
                    "2026-04-{:02}T{:02}:{:02}:{:02}Z",
                    day,
                    secs / 3600,
                    (secs / 60) % 60,
                    secs % 60
                );
                let fail = (i / 10) % 5 == (day % 5) && file % 2 == 0;
                // Failures come in bursts from one user (threshold); a new user shows up each
                // day (new terms after the first day's warm-up).
                let newcomer = format!("temp-{day}");
                let user = if fail {
                    "mallory"
                } else if i % 40 == 7 {
                    newcomer.as_str()
                } else {
                    users[((n * 7 + day as u64) % 4) as usize]
                };
                let action = actions[((n * 13 + day as u64 * 3) % 7) as usize];
                let extra = if fail {
                    json!({"errorCode": "AccessDenied", "errorMessage": "no"})
                } else {
                    json!({})
                };
                let mut r = record(
                    &format!("ev-{day}-{file}-{i}"),
                    &time,
                    "iam.amazonaws.com",
                    action,
                    "AKIAEXAMPLE",
                    extra,
                );
                r["userIdentity"]["userName"] = json!(user);
                r["userIdentity"]["arn"] = json!(format!("arn:aws:iam::123456789012:user/{user}"));
                recs.push(r);
            }
            write(
                dir,
                &format!("logs/2026/04/{day:02}/f{file}.json"),
                &s3_file(&recs),
            );
        }
    }
}

fn uuids(out: &str) -> Vec<String> {
    out.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["kibana.alert.uuid"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

fn hunt_args<'a>(logs: &'a str, rules: &'a str) -> Vec<&'a str> {
    vec![
        "hunt", logs, "--rules", rules, "--format", "ndjson", "--quiet",
    ]
}

#[test]
fn killed_runs_resume_with_exactly_the_same_alerts() {
    let dir = tempfile::tempdir().unwrap();
    write_days(dir.path(), 1..4);
    write(dir.path(), "rules/nt.toml", new_terms_rule().as_bytes());
    write(dir.path(), "rules/th.toml", threshold_rule().as_bytes());
    let logs = dir.path().join("logs");
    let rules = dir.path().join("rules");
    let (logs, rules) = (logs.to_str().unwrap(), rules.to_str().unwrap());

    let baseline = run(&hunt_args(logs, rules));
    assert_eq!(baseline.status.code(), Some(0), "{}", stderr(&baseline));
    let mut expected = uuids(&stdout(&baseline));
    assert!(
        expected.len() > 5,
        "the data must raise alerts: {}",
        expected.len()
    );
    expected.sort();

    // Kill at several moments; each attempt restarts until a run completes.
    for (attempt, delay_ms) in [5u64, 40, 120, 300].into_iter().enumerate() {
        let state = dir.path().join(format!("state-{attempt}.db"));
        let mut printed: Vec<String> = Vec::new();
        let mut kills = 0;
        loop {
            let mut args = hunt_args(logs, rules);
            let st = state.to_str().unwrap().to_string();
            args.extend(["--state", &st, "--checkpoint-every", "50"]);
            let child = bin()
                .args(&args)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            let pid = child.id();
            let killer = if kills < 3 {
                let d = delay_ms * (kills + 1);
                Some(std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_millis(d));
                    // SIGKILL: no chance to clean up.
                    let _ = std::process::Command::new("kill")
                        .args(["-9", &pid.to_string()])
                        .status();
                }))
            } else {
                None
            };
            let out = child.wait_with_output().unwrap();
            if let Some(k) = killer {
                k.join().unwrap();
            }
            // A killed run may have printed a partial last line; only whole lines count.
            let text = stdout(&out);
            let whole = match text.rfind('\n') {
                Some(i) => &text[..=i],
                None => "",
            };
            printed.extend(uuids(whole));
            if out.status.code() == Some(0) {
                break;
            }
            kills += 1;
        }
        let mut got = printed.clone();
        got.sort();
        let dups = got.windows(2).filter(|w| w[0] == w[1]).count();
        assert_eq!(dups, 0, "attempt {attempt}: an alert was printed twice");
        assert_eq!(got, expected, "attempt {attempt} (killed {kills} times)");
    }
}

#[test]
fn next_days_hunt_continues_the_state() {
    let dir = tempfile::tempdir().unwrap();
    write_days(dir.path(), 1..3);
    write(dir.path(), "rules/nt.toml", new_terms_rule().as_bytes());
    write(dir.path(), "rules/th.toml", threshold_rule().as_bytes());
    let rules = dir.path().join("rules");
    let rules = rules.to_str().unwrap();
    let all = run(&hunt_args(dir.path().join("logs").to_str().unwrap(), rules));
    let mut expected = uuids(&stdout(&all));
    expected.sort();
    let state = dir.path().join("state.db");
    let st = state.to_str().unwrap();
    let mut got = Vec::new();
    for day in ["01", "02"] {
        let p = dir.path().join(format!("logs/2026/04/{day}"));
        let mut args = hunt_args(p.to_str().unwrap(), rules);
        args.extend(["--state", st]);
        let o = run(&args);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        got.extend(uuids(&stdout(&o)));
    }
    got.sort();
    assert!(
        expected.len() > 3,
        "the data must raise alerts: {}",
        expected.len()
    );
    assert_eq!(
        got, expected,
        "two daily hunts with --state equal one hunt over both days"
    );
}

#[test]
fn alerts_committed_but_never_written_are_written_by_the_next_run() {
    let dir = tempfile::tempdir().unwrap();
    write_days(dir.path(), 1..3);
    write(dir.path(), "rules/nt.toml", new_terms_rule().as_bytes());
    write(dir.path(), "rules/th.toml", threshold_rule().as_bytes());
    let logs = dir.path().join("logs");
    let rules = dir.path().join("rules");
    let state = dir.path().join("state.db");
    let (logs, rules, st) = (
        logs.to_str().unwrap(),
        rules.to_str().unwrap(),
        state.to_str().unwrap(),
    );
    let mut args = hunt_args(logs, rules);
    args.extend(["--state", st]);
    let first = run(&args);
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    assert!(!uuids(&stdout(&first)).is_empty());

    // What a run killed right after a checkpoint leaves: an alert committed, not written.
    {
        use tripline_engine::store::{StateStore, StoredAlert};
        let mut store = StateStore::open(&state).unwrap();
        let mut runner = tripline_engine::Runner::new(Vec::new(), Default::default());
        let mut resume = store.restore(&mut runner).unwrap();
        let doc = json!({"kibana.alert.uuid": "committed-not-written", "kibana.alert.rule.rule_id": "nt-1",
            "kibana.alert.severity": "low", "kibana.alert.risk_score": 21, "@timestamp": "2026-04-02T00:00:00.000Z"});
        let alert = StoredAlert::new("committed-not-written", "nt-1", 1_775_088_000_000, doc);
        store.complete(&runner, &mut resume, &[alert]).unwrap();
    }
    // The next run on the same input: everything consumed, the unwritten alert written once.
    let second = run(&args);
    assert_eq!(second.status.code(), Some(0), "{}", stderr(&second));
    assert_eq!(uuids(&stdout(&second)), ["committed-not-written"]);
    let third = run(&args);
    assert_eq!(third.status.code(), Some(0), "{}", stderr(&third));
    assert!(uuids(&stdout(&third)).is_empty(), "{}", stdout(&third));
}
