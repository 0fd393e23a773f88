use super::*;
use std::collections::HashSet;

fn small(records: u64) -> GenConfig {
    GenConfig {
        records,
        attack_every: 2_000,
        min_per_file: 100,
        max_per_file: 400,
        ..GenConfig::default()
    }
}

#[test]
fn deterministic_by_seed() {
    let a: Vec<Value> = Generator::new(&small(500)).collect();
    let b: Vec<Value> = Generator::new(&small(500)).collect();
    assert_eq!(a.len(), 500);
    assert_eq!(a, b);
    let c: Vec<Value> = Generator::new(&GenConfig {
        seed: 2,
        ..small(500)
    })
    .collect();
    assert_ne!(a, c);
}

#[test]
fn records_are_realistic() {
    let recs: Vec<Value> = Generator::new(&small(20_000)).collect();
    let bytes: usize = recs
        .iter()
        .map(|r| serde_json::to_vec(r).unwrap().len())
        .sum();
    let avg = bytes as f64 / recs.len() as f64;
    assert!(
        (1000.0..1400.0).contains(&avg),
        "average record {avg} bytes"
    );
    let max = recs
        .iter()
        .map(|r| serde_json::to_vec(r).unwrap().len())
        .max()
        .unwrap();
    assert!(max > 3_000, "some large requestParameters: max {max}");
    let names: HashSet<&str> = recs
        .iter()
        .filter_map(|r| r["eventName"].as_str())
        .collect();
    let sources: HashSet<&str> = recs
        .iter()
        .filter_map(|r| r["eventSource"].as_str())
        .collect();
    assert!(
        names.len() >= 30 && sources.len() >= 12,
        "{} names, {} sources",
        names.len(),
        sources.len()
    );
    for n in [
        "AssumeRole",
        "GetSessionToken",
        "ConsoleLogin",
        "StopLogging",
        "CreateAccessKey",
        "ModifySnapshotAttribute",
    ] {
        assert!(names.contains(n), "{n} missing");
    }
    // Time never goes backwards more than an attack scenario's spread.
    let times: Vec<i64> = recs
        .iter()
        .map(|r| tripline_time(r["eventTime"].as_str().unwrap()))
        .collect();
    assert!(times.windows(2).all(|w| w[1] >= w[0] - 60), "time order");
    // Every record has the keys the sources reader uses to recognise CloudTrail.
    assert!(recs.iter().all(|r| r["eventVersion"].is_string()
        && r["eventSource"].is_string()
        && r["userIdentity"]["type"].is_string()));
}

fn tripline_time(s: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(s).unwrap().timestamp()
}

#[test]
fn temporary_keys_are_issued_before_use() {
    let recs: Vec<Value> = Generator::new(&small(20_000)).collect();
    let mut issued = HashSet::new();
    let mut used = 0;
    for r in &recs {
        if let Some(k) = r["responseElements"]["credentials"]["accessKeyId"].as_str() {
            issued.insert(k.to_string());
        }
        let id = &r["userIdentity"];
        if id["type"] == "AssumedRole"
            || (id["type"] == "IAMUser" && r["sessionCredentialFromConsole"].is_null())
        {
            if let Some(k) = id["accessKeyId"].as_str().filter(|k| k.starts_with("ASIA")) {
                assert!(issued.contains(k), "{k} used before it was issued: {r}");
                used += 1;
            }
        }
    }
    assert!(used > 5_000, "{used}");
}

#[test]
fn s3_layout_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = small(3_000);
    let s = write_s3_corpus(dir.path(), &cfg).unwrap();
    assert_eq!(s.records, 3_000);
    assert!(s.files >= 8, "{}", s.files);
    assert!(s.attacks >= 1);
    let found = tripline_sources::discover(&[dir.path().join("AWSLogs")]);
    assert_eq!(found.inputs.len() as u64, s.files);
    let mut n = 0;
    for input in &found.inputs {
        let name = input.name();
        // AWSLogs/<acct>/CloudTrail/<region>/YYYY/MM/DD/<acct>_CloudTrail_<region>_...json.gz
        let rel = name.strip_prefix(&*dir.path().to_string_lossy()).unwrap();
        let parts: Vec<&str> = rel.trim_start_matches('/').split('/').collect();
        assert_eq!(
            (parts.len(), parts[0], parts[2]),
            (8, "AWSLogs", "CloudTrail"),
            "{rel}"
        );
        assert!(
            parts[7].starts_with(&format!("{}_CloudTrail_{}_", parts[1], parts[3]))
                && parts[7].ends_with(".json.gz")
        );
        let st = tripline_sources::read_input(input, &Default::default(), &mut |it| match it {
            tripline_sources::Item::Record(r) => {
                assert_eq!(r.kind, tripline_sources::RecordKind::CloudTrail);
                assert_eq!(r.value["recipientAccountId"], parts[1]);
                n += 1;
            }
            tripline_sources::Item::Error(e) => panic!("{e}"),
        });
        assert!(
            (100..=400).contains(&st.records) || st.records < 100,
            "{}",
            st.records
        );
    }
    assert_eq!(n, 3_000);
    // Same config, same bytes.
    let dir2 = tempfile::tempdir().unwrap();
    let s2 = write_s3_corpus(dir2.path(), &cfg).unwrap();
    assert_eq!(
        (s2.files, s2.bytes_compressed),
        (s.files, s.bytes_compressed)
    );
}

#[test]
fn delivery_files_span_at_most_five_minutes() {
    let dir = tempfile::tempdir().unwrap();
    // Slow traffic: without the span limit, quiet regions would fill files over hours.
    let cfg = GenConfig {
        mean_gap_ms: 2_000.0,
        ..small(3_000)
    };
    let s = write_s3_corpus(dir.path(), &cfg).unwrap();
    assert_eq!(s.records, 3_000);
    let mut spans = Vec::new();
    for p in &s.paths {
        let mut times = Vec::new();
        tripline_sources::read_input(
            &tripline_sources::Input::File(p.clone()),
            &Default::default(),
            &mut |it| {
                if let tripline_sources::Item::Record(r) = it {
                    times.push(epoch_secs(r.value["eventTime"].as_str().unwrap()).unwrap());
                }
            },
        );
        let span = times.iter().max().unwrap() - times.iter().min().unwrap();
        assert!(span < 300, "{}: {span}s", p.display());
        spans.push(span);
    }
    // The limit is what ends files here (at 2 s per record, 100 records take minutes).
    assert!(spans.iter().any(|&s| s >= 200), "{spans:?}");
    let unlimited = write_s3_corpus(
        &dir.path().join("u"),
        &GenConfig {
            max_file_span_secs: 0,
            ..cfg
        },
    )
    .unwrap();
    assert!(
        unlimited.files < s.files,
        "{} vs {}",
        unlimited.files,
        s.files
    );
}
