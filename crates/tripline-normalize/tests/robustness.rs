//! Bad input: clear errors for non-records, and no panic whatever the value types.

use serde_json::{json, Value};
use tripline_normalize::{NormalizeError, NormalizeOptions, Normalizer};

fn n() -> Normalizer {
    Normalizer::new(NormalizeOptions {
        keep_original: true,
        ..Default::default()
    })
}

#[test]
fn non_records_are_errors() {
    let n = n();
    assert_eq!(
        n.normalize(&json!([1, 2])).unwrap_err(),
        NormalizeError::NotAnObject("an array")
    );
    assert_eq!(
        n.normalize(&json!("x")).unwrap_err(),
        NormalizeError::NotAnObject("a string")
    );
    assert_eq!(
        n.normalize(&json!({"eventName": "X"})).unwrap_err(),
        NormalizeError::MissingEventTime
    );
    assert_eq!(
        n.normalize(&json!({"eventTime": "2023-01-01T00:00:00Z"}))
            .unwrap_err(),
        NormalizeError::MissingEventName
    );
    assert_eq!(
        n.normalize(&json!({"eventTime": "yesterday", "eventName": "X"}))
            .unwrap_err(),
        NormalizeError::BadEventTime("yesterday".into())
    );
    // "-" is pruned before anything reads it, like the pipeline's first clean-up.
    assert_eq!(
        n.normalize(&json!({"eventTime": "-", "eventName": "X"}))
            .unwrap_err(),
        NormalizeError::MissingEventTime
    );
    assert!(matches!(
        n.normalize_json("{not json").unwrap_err(),
        NormalizeError::InvalidJson(_)
    ));
    assert_eq!(
        n.normalize_json("null").unwrap_err(),
        NormalizeError::NotAnObject("null")
    );
    let e = n
        .normalize(&json!({"eventTime": 5, "eventName": "X"}))
        .unwrap_err();
    assert!(e.to_string().contains("eventTime"), "{e}");
}

#[test]
fn minimal_record() {
    let (doc, ts) = n()
        .normalize_json(r#"{"eventTime":"2023-01-01T00:00:00Z","eventName":"Foo"}"#)
        .unwrap();
    assert_eq!(ts, 1_672_531_200_000);
    assert_eq!(doc.str("event.action"), Some("Foo"));
    assert_eq!(doc.str("event.outcome"), Some("success"));
    assert_eq!(doc.str("event.kind"), Some("event"));
    assert_eq!(doc.str("@timestamp"), Some("2023-01-01T00:00:00.000Z"));
    assert_eq!(
        doc.str("event.original"),
        Some(r#"{"eventTime":"2023-01-01T00:00:00Z","eventName":"Foo"}"#)
    );
    assert_eq!(doc.str("data_stream.dataset"), Some("aws.cloudtrail"));
    assert_eq!(doc.str("event.dataset"), Some("aws.cloudtrail"));
}

#[test]
fn bad_creation_date_is_a_pipeline_error_not_a_failure() {
    let (doc, _) = n()
        .normalize_json(r#"{"eventTime":"2023-01-01T00:00:00Z","eventName":"Foo","userIdentity":{"type":"IAMUser","sessionContext":{"attributes":{"creationDate":"soon"}}}}"#)
        .unwrap();
    assert_eq!(doc.str("event.kind"), Some("pipeline_error"));
    assert!(doc
        .str("error.message")
        .unwrap()
        .contains("unable to parse date [soon]"));
    assert!(doc
        .values("tags")
        .iter()
        .any(|t| t.as_str() == Some("preserve_original_event")));
}

fn mutations() -> Vec<Value> {
    vec![
        Value::Null,
        json!(""),
        json!("-"),
        json!(7),
        json!(-1.5e300),
        json!(true),
        json!([]),
        json!([1, "x", null, {"a": [{}]}]),
        json!({}),
        json!({"ARN": 3, "items": "x", "values": 4}),
        json!("arn:aws:iam::1:user/x@y"),
        json!("i-0123456789"),
        json!("\u{1F600}@\u{FF61}"),
    ]
}

/// Every (nested) path of a record.
fn paths(v: &Value, prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
    if let Value::Object(m) = v {
        for (k, v) in m {
            let mut p = prefix.clone();
            p.push(k.clone());
            out.push(p.clone());
            paths(v, p, out);
        }
    }
}

fn set(v: &mut Value, path: &[String], new: Value) {
    let mut cur = v;
    for k in &path[..path.len() - 1] {
        cur = cur.get_mut(k).expect("path");
    }
    cur[path.last().unwrap().as_str()] = new;
}

#[test]
fn any_value_type_anywhere_never_panics() {
    let n = n();
    let base = include_str!("data/records.ndjson");
    let mut runs = 0;
    for line in base.lines().filter(|l| !l.trim().is_empty()) {
        let rec: Value = serde_json::from_str(line).unwrap();
        let mut ps = Vec::new();
        paths(&rec, Vec::new(), &mut ps);
        for p in &ps {
            for m in mutations() {
                let mut r = rec.clone();
                set(&mut r, p, m);
                let _ = n.normalize(&r);
                let _ = n.normalize_json(&r.to_string());
                runs += 1;
            }
        }
        // Unknown event sources/names with every enrichment path present but mistyped.
        for src in [
            "ec2",
            "iam",
            "s3",
            "ssm",
            "sts",
            "lambda",
            "rds",
            "kms",
            "monitoring",
            "secretsmanager",
            "cloudtrail",
        ] {
            let mut r = rec.clone();
            r["eventSource"] = json!(format!("{src}.amazonaws.com"));
            for name in [
                "SendCommand",
                "BatchGetSecretValue",
                "DeleteAlarms",
                "CreateAccessKey",
                "AddPermission20150331",
                "DeleteNetworkAclEntry",
                "AuthorizeSecurityGroupIngress",
            ] {
                r["eventName"] = json!(name);
                r["requestParameters"] = json!({"instanceIds": [1], "targets": [{"values": "x"}], "alarmNames": [{}], "secretIdList": 5, "ruleNumber": 100});
                let _ = n.normalize(&r);
                runs += 1;
            }
        }
    }
    assert!(runs > 500);
}
