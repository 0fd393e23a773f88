//! Snapshot tests: normalized documents for hand-written records (tests/data/records.ndjson),
//! without GeoIP so they do not depend on the shared corpus.

use tripline_normalize::{NormalizeOptions, Normalizer, Retain};

fn records() -> Vec<String> {
    let text = include_str!("data/records.ndjson");
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect()
}

fn normalizer(retain: Retain) -> Normalizer {
    Normalizer::new(NormalizeOptions {
        keep_original: false,
        ingest_time: Some("2023-03-05T00:00:00.000Z".into()),
        retain,
        ..Default::default()
    })
}

#[test]
fn snapshots() {
    let n = normalizer(Retain::All);
    let names = [
        "console_login_failure",
        "sso_session_create_access_key",
        "service_assume_role",
        "service_linked_run_instances",
        "identity_center_denied",
    ];
    let recs = records();
    assert_eq!(recs.len(), names.len());
    for (name, rec) in names.iter().zip(&recs) {
        let (doc, _) = n
            .normalize_json(rec)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        // Key order follows the record (serde_json preserve_order); snapshots sort it.
        insta::with_settings!({sort_maps => true}, { insta::assert_json_snapshot!(*name, doc) });
    }
}

#[test]
fn retain_settings() {
    let rec = &records()[3];
    let flat = |r: Retain| {
        let (doc, _) = normalizer(r).normalize_json(rec).unwrap();
        let ct = doc.0["aws"]["cloudtrail"].clone();
        (
            ct.get("flattened").cloned(),
            ct.get("request_parameters").cloned(),
        )
    };
    let (f, k) = flat(Retain::All);
    assert!(f.is_some() && k.is_some());
    let (f, k) = flat(Retain::Keyword);
    assert!(f.is_none() && k.is_some());
    let (f, k) = flat(Retain::Flattened);
    assert!(f.is_some() && k.is_none());
    let (f, k) = flat(Retain::None);
    assert!(f.is_none() && k.is_none());
    // Minimal keeps none of this record's flattened paths.
    let (f, k) = flat(Retain::Minimal);
    assert!(f.is_none() && k.is_some());
}

#[test]
fn value_and_text_paths_agree_on_content() {
    let n = normalizer(Retain::All);
    for rec in records() {
        let v: serde_json::Value = serde_json::from_str(&rec).unwrap();
        let (a, ta) = n.normalize_json(&rec).unwrap();
        let b = n.normalize_with_time(&v).unwrap();
        assert_eq!(ta, b.1);
        // The flattened objects and every non-rendered field agree; the `{k=v}` renderings
        // may order colliding keys differently.
        assert_eq!(
            a.0["aws"]["cloudtrail"]["flattened"],
            b.0 .0["aws"]["cloudtrail"]["flattened"]
        );
        assert_eq!(a.0["related"], b.0 .0["related"]);
        assert_eq!(a.0["event"], b.0 .0["event"]);
    }
}

/// Every field the normalizer writes is listed in `known_fields()` (flattened and free-form
/// objects by their root).
#[test]
fn known_fields_cover_output() {
    let known = tripline_normalize::known_fields();
    let n = Normalizer::new(NormalizeOptions {
        keep_original: true,
        ingest_time: Some("2023-03-05T00:00:00Z".into()),
        ..Default::default()
    });
    let mut texts = records();
    // The golden inputs too, when the corpus is present.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/corpus/elastic-cloudtrail-pipeline");
    if let Ok(rd) = std::fs::read_dir(&dir) {
        for e in rd.flatten() {
            if e.path().extension().is_some_and(|x| x == "log") {
                let t = std::fs::read_to_string(e.path()).unwrap();
                texts.extend(
                    t.lines()
                        .filter(|l| !l.trim().is_empty())
                        .map(str::to_string),
                );
            }
        }
    }
    for t in &texts {
        let (doc, _) = n.normalize_json(t).unwrap();
        for (path, _) in tripline_doc::path::flatten(&doc.0) {
            let covered = known.contains(&path)
                || known.iter().any(|k| {
                    path.strip_prefix(k.as_str())
                        .is_some_and(|r| r.starts_with('.'))
                        && (k.starts_with("aws.cloudtrail.flattened.")
                            || k.ends_with(".attributes")
                            || k == "aws.cloudtrail.resources")
                });
            assert!(covered, "{path} is produced but not in known_fields()");
        }
    }
}
