//! Deciding what a parsed object is: a CloudTrail record, an envelope around one, a digest,
//! or a plain document; and describing files that are not JSON.

use serde_json::{Map, Value};

use crate::ErrorKind;

/// Two of the three keys every CloudTrail record has (event history, Lake and anonymised
/// exports keep them even when they drop or reorder others).
pub(crate) fn is_cloudtrail_shaped(m: &Map<String, Value>) -> bool {
    let n = ["eventVersion", "eventSource", "eventName"]
        .iter()
        .filter(|k| m.contains_key(**k))
        .count();
    n >= 2
}

/// A CloudTrail-Digest file's body.
pub(crate) fn is_digest(m: &Map<String, Value>) -> bool {
    m.contains_key("digestStartTime")
        && (m.contains_key("logFiles") || m.contains_key("digestSignatureAlgorithm"))
}

pub(crate) enum Unwrapped {
    /// `detail` of an EventBridge event.
    EventBridge(Map<String, Value>),
    /// The record held in a `CloudTrailEvent` field (`lookup-events`, console export).
    Embedded(Map<String, Value>),
    /// A `CloudTrailEvent` field that does not hold a JSON object (message says why).
    BadEmbedded(String),
    /// Not an envelope.
    Plain(Map<String, Value>),
}

pub(crate) fn unwrap_envelope(mut m: Map<String, Value>) -> Unwrapped {
    // EventBridge: {"detail-type": "AWS API Call via CloudTrail", "source": "aws.iam",
    // "detail": {record}}. Other "... via CloudTrail" detail types carry records as well.
    if let Some(Value::String(dt)) = m.get("detail-type") {
        let via_ct = dt.ends_with("via CloudTrail");
        let shaped = matches!(m.get("detail"), Some(Value::Object(d)) if is_cloudtrail_shaped(d));
        if via_ct || shaped {
            if let Some(Value::Object(d)) = m.remove("detail") {
                return Unwrapped::EventBridge(d);
            }
        }
    }
    match m.get("CloudTrailEvent") {
        Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
            Ok(Value::Object(rec)) => Unwrapped::Embedded(rec),
            Ok(other) => {
                Unwrapped::BadEmbedded(format!("holds a JSON {}, not an object", type_name(&other)))
            }
            Err(e) => Unwrapped::BadEmbedded(format!("is not valid JSON ({e})")),
        },
        Some(Value::Object(_)) => match m.remove("CloudTrailEvent") {
            Some(Value::Object(rec)) => Unwrapped::Embedded(rec),
            _ => Unwrapped::BadEmbedded("vanished".into()),
        },
        _ => Unwrapped::Plain(m),
    }
}

pub(crate) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Names what a file that does not start with `{` or `[` seems to be, from its first bytes.
pub(crate) fn describe_non_json(head: &[u8]) -> (ErrorKind, String) {
    const MAGIC: &[(&[u8], ErrorKind, &str)] = &[
        (
            b"PK\x03\x04",
            ErrorKind::Unsupported,
            "unsupported: zip archive (not a CloudTrail delivery format; extract it first)",
        ),
        (
            b"PK\x05\x06",
            ErrorKind::Unsupported,
            "unsupported: zip archive (empty)",
        ),
        (
            b"\x89PNG",
            ErrorKind::NotJson,
            "a PNG image, not CloudTrail",
        ),
        (b"GIF8", ErrorKind::NotJson, "a GIF image, not CloudTrail"),
        (
            b"\xFF\xD8\xFF",
            ErrorKind::NotJson,
            "a JPEG image, not CloudTrail",
        ),
        (
            b"%PDF",
            ErrorKind::NotJson,
            "a PDF document, not CloudTrail",
        ),
        (
            b"BZh",
            ErrorKind::Unsupported,
            "unsupported: bzip2 compression (decompress it first)",
        ),
        (
            b"\xFD7zXZ\x00",
            ErrorKind::Unsupported,
            "unsupported: xz compression (decompress it first)",
        ),
        (
            b"\x28\xB5\x2F\xFD",
            ErrorKind::Unsupported,
            "unsupported: zstd compression (decompress it first)",
        ),
        (b"PAR1", ErrorKind::Unsupported, "unsupported: Parquet file"),
        (
            b"\x7FELF",
            ErrorKind::NotJson,
            "an executable, not CloudTrail",
        ),
    ];
    for (magic, kind, msg) in MAGIC {
        if head.starts_with(magic) {
            return (*kind, (*msg).to_string());
        }
    }
    let text = head
        .iter()
        .all(|&b| b == b'\n' || b == b'\r' || b == b'\t' || (0x20..0x7f).contains(&b) || b >= 0x80);
    if text && !head.is_empty() {
        let first_line: Vec<u8> = head
            .iter()
            .copied()
            .take_while(|&b| b != b'\n')
            .take(48)
            .collect();
        let shown = String::from_utf8_lossy(&first_line)
            .escape_debug()
            .to_string();
        let csv = if first_line.contains(&b',') {
            " (CSV?)"
        } else {
            ""
        };
        (
            ErrorKind::NotJson,
            format!("text that is not JSON{csv}, starting with \"{shown}\""),
        )
    } else {
        let hex: Vec<String> = head.iter().take(8).map(|b| format!("{b:02x}")).collect();
        (
            ErrorKind::NotJson,
            format!(
                "binary data that is not JSON (starts with {})",
                hex.join(" ")
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    #[test]
    fn shapes() {
        assert!(is_cloudtrail_shaped(&obj(
            json!({"eventSource": "iam.amazonaws.com", "eventName": "X"})
        )));
        assert!(!is_cloudtrail_shaped(&obj(
            json!({"event": {"action": "X"}, "eventName": "X"})
        )));
        assert!(is_digest(&obj(
            json!({"digestStartTime": "t", "logFiles": []})
        )));
        assert!(!is_digest(&obj(json!({"logFiles": []}))));
    }

    #[test]
    fn envelopes() {
        let eb = obj(
            json!({"detail-type": "AWS API Call via CloudTrail", "detail": {"eventName": "A", "eventSource": "s"}}),
        );
        assert!(matches!(unwrap_envelope(eb), Unwrapped::EventBridge(d) if d["eventName"] == "A"));
        // Other EventBridge events are documents.
        let other = obj(
            json!({"detail-type": "EC2 Instance State-change Notification", "detail": {"state": "running"}}),
        );
        assert!(matches!(unwrap_envelope(other), Unwrapped::Plain(_)));
        let le = obj(json!({"EventId": "1", "CloudTrailEvent": "{\"eventName\":\"B\"}"}));
        assert!(matches!(unwrap_envelope(le), Unwrapped::Embedded(d) if d["eventName"] == "B"));
        let bad = obj(json!({"CloudTrailEvent": "{nope"}));
        assert!(
            matches!(unwrap_envelope(bad), Unwrapped::BadEmbedded(m) if m.starts_with("is not valid JSON"))
        );
        let arr = obj(json!({"CloudTrailEvent": "[1]"}));
        assert!(matches!(unwrap_envelope(arr), Unwrapped::BadEmbedded(m) if m.contains("array")));
    }

    #[test]
    fn non_json_descriptions() {
        assert_eq!(
            describe_non_json(b"PK\x03\x04abc").0,
            ErrorKind::Unsupported
        );
        assert!(describe_non_json(b"PK\x03\x04abc")
            .1
            .contains("zip archive"));
        assert!(describe_non_json(b"\x89PNG\r\n\x1a\n").1.contains("PNG"));
        let (k, m) = describe_non_json(b"eventTime,eventName,userName\n2024,X,y\n");
        assert_eq!(k, ErrorKind::NotJson);
        assert!(
            m.contains("CSV") && m.contains("eventTime,eventName"),
            "{m}"
        );
        assert!(describe_non_json(&[0u8, 1, 2, 3]).1.contains("00 01 02 03"));
    }
}
