//! The state store: restart continuity across hunts, and crash consistency (a run stopped at
//! any event without a final checkpoint, then restarted on the same input with the same
//! state file, gives exactly the alerts of one uninterrupted run).

mod stateful_common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{json, Value};
use stateful_common::*;
use tripline_doc::{Document, Event, Origin};
use tripline_engine::store::{StateStore, StoredAlert};
use tripline_engine::{CompileContext, Detector, Runner, RunnerConfig};

const SUPPRESSED_QUERY: &str = r#"
[rule]
rule_id = "q-root"
name = "Root console login"
description = "test"
type = "query"
language = "kuery"
severity = "high"
risk_score = 73
query = 'event.action: "ConsoleLogin" and user.name: "root"'
[rule.alert_suppression]
group_by = ["source.ip"]
duration = {value = 2, unit = "h"}
"#;

fn detectors() -> Vec<Box<dyn Detector>> {
    let nw = CompileContext {
        no_warmup: true,
        ..Default::default()
    };
    let nt_nw = NEW_TERMS_RULE.replace("nt-console-user", "nt-console-user-nowarmup");
    let two = NEW_TERMS_RULE
        .replace("nt-console-user", "nt-user-ip")
        .replace(
            "value = [\"user.name\"]",
            "value = [\"user.name\", \"source.ip\"]",
        );
    let set = tripline_engine::exceptions::load_exceptions_file(
        &PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/exceptions.toml"),
    )
    .unwrap();
    set.apply(vec![
        compile(&rule(NEW_TERMS_RULE)),
        compile_with(&rule(&nt_nw), &nw),
        compile_with(&rule(&two), &nw),
        compile(&rule(THRESHOLD_RULE)),
        compile(&rule(SUPPRESSED_QUERY)),
    ])
}

/// A deterministic pseudo-random sequence (no external crates).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

/// Writes NDJSON files of login events over `days` days, out of order within and across
/// files (like per-region CloudTrail files), with failure bursts and a few late records.
fn write_input(
    dir: &Path,
    files: usize,
    per_file: usize,
    start: i64,
    days: i64,
    seed: u64,
) -> Vec<PathBuf> {
    let mut rng = Lcg(seed);
    let n = files * per_file;
    let step = days * DAY / n as i64;
    let mut paths = Vec::new();
    for f in 0..files {
        let p = dir.join(format!("part-{f:02}.ndjson"));
        let mut w = std::io::BufWriter::new(std::fs::File::create(&p).unwrap());
        for i in 0..per_file {
            let k = (f * per_file + i) as i64;
            let mut t = start + k * step + rng.next(20) as i64 * MIN - 10 * MIN;
            if rng.next(50) == 0 {
                t -= 2 * HOUR; // later than the reorder window
            }
            let burst = rng.next(12) == 0;
            let user = match rng.next(10) {
                0 => "root".to_string(),
                1 => "breakglass".to_string(),
                2..=4 => format!("user{}", rng.next(40)),
                _ => format!("staff{}", rng.next(6)),
            };
            let ip = format!("198.51.100.{}", rng.next(8));
            let count = if burst { 12 } else { 1 };
            let account = format!("acct-{}", rng.next(2));
            for j in 0..count {
                let outcome = if burst || rng.next(5) == 0 {
                    "failure"
                } else {
                    "success"
                };
                let doc = json!({
                    "@timestamp": tripline_doc::time::format_millis(t + j * 5 * SEC),
                    "event": {"id": format!("e-{f}-{i}-{j}"), "action": "ConsoleLogin", "outcome": outcome},
                    "user": {"name": user},
                    "cloud": {"account": {"id": account}},
                    "source": {"ip": ip},
                });
                writeln!(w, "{doc}").unwrap();
            }
        }
        paths.push(p);
    }
    paths
}

struct Outcome {
    /// Alerts "printed": those whose checkpoint committed.
    printed: Vec<String>,
    crashed: bool,
}

/// A hunt like the CLI's: read files in order, skip what the state says was consumed, push,
/// checkpoint every `every` events, print alerts after their checkpoint. `crash_at`: stop
/// dead (no checkpoint, nothing more printed) when that many events were delivered.
fn hunt(files: &[PathBuf], state: &Path, every: u64, crash_at: Option<u64>) -> Outcome {
    let mut runner = Runner::new(detectors(), RunnerConfig::default());
    let mut store = StateStore::open(state).unwrap();
    let mut resume = store.restore(&mut runner).unwrap();
    assert!(resume.reset_rules.is_empty(), "{:?}", resume.reset_rules);
    resume.every_events = every;
    resume.every = std::time::Duration::from_secs(3600);
    let mut printed = Vec::new();
    let mut pending: Vec<StoredAlert> = Vec::new();
    let mut drafts = Vec::new();
    let mut seq = 0u64;
    let to_stored = |d: &tripline_engine::AlertDraft| {
        StoredAlert::new(
            identity(d),
            d.rule.rule_id.clone(),
            d.timestamp,
            json!({"extra": d.extra}),
        )
    };
    for f in files {
        let name: Arc<str> = Arc::from(f.to_string_lossy().as_ref());
        let text = std::fs::read_to_string(f).unwrap();
        for (i, line) in text.lines().enumerate() {
            seq += 1;
            if crash_at == Some(seq) {
                return Outcome {
                    printed,
                    crashed: true,
                };
            }
            let v: Value = serde_json::from_str(line).unwrap();
            let doc = Document(v.as_object().unwrap().clone());
            let ts = doc
                .first("@timestamp")
                .and_then(tripline_doc::time::value_to_millis)
                .unwrap();
            let origin = Origin {
                file: name.clone(),
                record: i as u64 + 1,
                line: Some(i as u64 + 1),
            };
            if resume.skip(&origin) {
                continue;
            }
            runner.push(
                Arc::new(Event {
                    doc,
                    timestamp: ts,
                    origin,
                    seq,
                }),
                &mut drafts,
            );
            pending.extend(drafts.drain(..).map(|d| to_stored(&d)));
            if resume.due() {
                store.checkpoint(&runner, &mut resume, &pending).unwrap();
                printed.extend(pending.drain(..).map(|a| a.uuid));
            }
        }
    }
    runner.finish(&mut drafts);
    pending.extend(drafts.drain(..).map(|d| to_stored(&d)));
    store.complete(&runner, &mut resume, &pending).unwrap();
    printed.extend(pending.drain(..).map(|a| a.uuid));
    Outcome {
        printed,
        crashed: false,
    }
}

fn stored(state: &Path) -> Vec<String> {
    StateStore::open(state)
        .unwrap()
        .alerts()
        .unwrap()
        .into_iter()
        .map(|a| a.uuid)
        .collect()
}

#[test]
fn crash_at_any_point_then_restart_gives_the_uninterrupted_alerts() {
    let dir = tempfile::tempdir().unwrap();
    let files = write_input(dir.path(), 4, 120, T0, 10, 7);
    let total: u64 = files
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap().lines().count() as u64)
        .sum();
    let reference = hunt(&files, &dir.path().join("ref.db"), 40, None);
    assert!(!reference.crashed);
    let mut by_rule = std::collections::BTreeMap::new();
    for a in &reference.printed {
        *by_rule
            .entry(a.split('|').next().unwrap().to_string())
            .or_insert(0) += 1;
    }
    // The input exercises every detector (otherwise the comparison proves little).
    for r in [
        "nt-console-user",
        "nt-console-user-nowarmup",
        "nt-user-ip",
        "th-failed-logins",
        "q-root",
    ] {
        assert!(
            by_rule.get(r).copied().unwrap_or(0) > 0,
            "no alert from {r}: {by_rule:?}"
        );
    }
    assert_eq!(stored(&dir.path().join("ref.db")), reference.printed);

    let mut points: Vec<u64> = (1..total).step_by(23).collect();
    points.extend([1, 39, 40, 41, total - 1, total]);
    for (n, crash) in points.into_iter().enumerate() {
        // A second crash: before the first run's position (while skipping), or just after it
        // (the restarted run has checkpointed while events buffered at the first crash were
        // still being pushed again), then a clean finish.
        for (m, again) in [crash / 2 + 10, crash + 3].into_iter().enumerate() {
            let state = dir.path().join(format!("crash-{n}-{m}.db"));
            let first = hunt(&files, &state, 40, Some(crash));
            assert!(first.crashed);
            let second = hunt(&files, &state, 40, Some(again));
            let third = hunt(&files, &state, 40, None);
            let mut all = first.printed.clone();
            all.extend(second.printed.iter().cloned());
            all.extend(third.printed.iter().cloned());
            assert_eq!(
                all, reference.printed,
                "crash at event {crash}, then at {again}: printed alerts differ"
            );
            assert_eq!(
                stored(&state),
                reference.printed,
                "crash at event {crash}, then at {again}: stored alerts differ"
            );
        }
    }
}

#[test]
fn next_days_hunt_continues_yesterdays_state() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.db");
    let day1 = dir.path().join("day1.ndjson");
    let day2 = dir.path().join("day2.ndjson");
    let line = |t: i64, id: &str, user: &str, outcome: &str| {
        let mut v = login(user, outcome);
        v["@timestamp"] = json!(tripline_doc::time::format_millis(t));
        v["event"]["id"] = json!(id);
        v.to_string()
    };
    // Day 1 (input starts at T0): alice logs in (warm-up: no alert), 6 failures at 23:59:10
    // (the 00:00 run sees 6; the 00:05 run, window [23:59, 00:05), will see them with day 2's).
    let mut d1 = vec![line(T0, "a1", "alice", "success")];
    for i in 0..6 {
        d1.push(line(
            T0 + 8 * DAY - 50 * SEC + i * SEC,
            &format!("f1-{i}"),
            "mallory",
            "failure",
        ));
    }
    // Make day 1 last 8 days so that day 2 is past the first history window.
    d1.insert(1, line(T0 + 6 * DAY, "a2", "alice", "success"));
    std::fs::write(&day1, d1.join("\n")).unwrap();
    // Day 2: 4 more failures at 00:01 (same 6-minute window), alice again, bob new.
    let mut d2 = Vec::new();
    for i in 0..4 {
        d2.push(line(
            T0 + 8 * DAY + MIN + i * SEC,
            &format!("f2-{i}"),
            "mallory",
            "failure",
        ));
    }
    d2.push(line(T0 + 8 * DAY + HOUR, "a3", "alice", "success"));
    d2.push(line(T0 + 8 * DAY + 2 * HOUR, "b1", "bob", "success"));
    std::fs::write(&day2, d2.join("\n")).unwrap();

    let main_rules = |v: &[String]| -> Vec<String> {
        v.iter()
            .filter(|a| a.starts_with("nt-console-user|") || a.starts_with("th-"))
            .cloned()
            .collect()
    };
    let first = hunt(std::slice::from_ref(&day1), &state, 1000, None);
    assert!(
        main_rules(&first.printed).is_empty(),
        "day 1: warm-up and 6 < 10 failures: {:?}",
        first.printed
    );
    // Day 2, given both files (day 1 must be skipped, not re-evaluated).
    let second = hunt(&[day1.clone(), day2.clone()], &state, 1000, None);
    let mut got = main_rules(&second.printed);
    got.sort();
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(got[0].starts_with("nt-console-user|key:b1"), "{got:?}");
    assert!(
        got[1].starts_with("th-failed-logins|"),
        "threshold across the two days: {got:?}"
    );
    // A third run on the same files: everything consumed, nothing new.
    let third = hunt(&[day1, day2], &state, 1000, None);
    assert!(third.printed.is_empty(), "{:?}", third.printed);
}

#[test]
fn changed_rule_resets_its_state_and_reports_it() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("s.db");
    let mut store = StateStore::open(&state).unwrap();
    let mut runner = Runner::new(
        vec![compile(&rule(NEW_TERMS_RULE))],
        RunnerConfig::default(),
    );
    let mut resume = store.restore(&mut runner).unwrap();
    let mut out = Vec::new();
    runner.push(event(T0, 1, login("alice", "success")), &mut out);
    runner.finish(&mut out);
    store.complete(&runner, &mut resume, &[]).unwrap();
    drop(store);

    let changed = NEW_TERMS_RULE.replace("now-7d", "now-3d");
    let mut store = StateStore::open(&state).unwrap();
    let mut runner = Runner::new(vec![compile(&rule(&changed))], RunnerConfig::default());
    let resume = store.restore(&mut runner).unwrap();
    assert_eq!(resume.restored_rules, 0);
    assert_eq!(resume.reset_rules.len(), 1);
    assert_eq!(resume.reset_rules[0].0, "nt-console-user");

    let mut store = StateStore::open(&state).unwrap();
    let mut runner = Runner::new(
        vec![compile(&rule(NEW_TERMS_RULE))],
        RunnerConfig::default(),
    );
    let resume = store.restore(&mut runner).unwrap();
    assert_eq!(resume.restored_rules, 1);
    assert!(!resume.continued);
}

#[test]
fn not_a_state_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("junk.db");
    std::fs::write(
        &p,
        b"this is not sqlite at all, just some bytes that are long enough to be a header....",
    )
    .unwrap();
    let e = StateStore::open(&p).err().expect("error");
    assert!(e.to_string().contains("junk.db"), "{e}");
}

#[test]
fn committed_alerts_not_recorded_as_written_are_left_for_the_next_run() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("s.db");
    let alert = |n: i64| StoredAlert::new(format!("u{n}"), "r", T0 + n, json!({"n": n}));
    let uuids = |v: Vec<StoredAlert>| v.into_iter().map(|a| a.uuid).collect::<Vec<_>>();
    {
        let mut store = StateStore::open(&state).unwrap();
        let mut runner = Runner::new(
            vec![compile(&rule(NEW_TERMS_RULE))],
            RunnerConfig::default(),
        );
        let mut resume = store.restore(&mut runner).unwrap();
        assert!(store.unwritten_alerts().unwrap().is_empty());
        store
            .checkpoint(&runner, &mut resume, &[alert(1), alert(2)])
            .unwrap();
        assert_eq!(uuids(store.unwritten_alerts().unwrap()), ["u1", "u2"]);
        store.mark_written().unwrap();
        store.checkpoint(&runner, &mut resume, &[alert(3)]).unwrap();
        // Killed here: alert 3 committed, never recorded as written.
    }
    let mut store = StateStore::open(&state).unwrap();
    assert_eq!(uuids(store.unwritten_alerts().unwrap()), ["u3"]);
    store.mark_written().unwrap();
    assert!(store.unwritten_alerts().unwrap().is_empty());
    assert_eq!(uuids(store.alerts().unwrap()), ["u1", "u2", "u3"]);
    drop(store);

    // A state file from before the record existed: its alerts count as written.
    let conn = rusqlite::Connection::open(&state).unwrap();
    conn.execute("DELETE FROM meta WHERE key = 'written_seq'", [])
        .unwrap();
    drop(conn);
    let store = StateStore::open(&state).unwrap();
    assert!(store.unwritten_alerts().unwrap().is_empty());
}
