//! The terminal table: one row per alert with time, severity, rule, principal, source IP,
//! action, and the rule's investigation fields not already shown.

use crate::Alert;
use tripline_doc::{time::format_millis, Document, Value};

const SHOWN: &[&str] = &[
    "@timestamp",
    "event.action",
    "source.ip",
    "user.name",
    "aws.cloudtrail.user_identity.arn",
];

/// The principal shown for an alert: the acting ARN, else `user.name`.
pub fn principal(doc: &Document) -> String {
    doc.str("aws.cloudtrail.user_identity.arn")
        .or_else(|| doc.str("user.name"))
        .or_else(|| doc.str("user.id"))
        .unwrap_or("-")
        .to_string()
}

fn render(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Strips control characters so attacker-controlled strings cannot drive the terminal.
pub fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

fn clip(s: &str, width: usize) -> String {
    let s = sanitize(s);
    if s.chars().count() <= width {
        s
    } else {
        let mut out: String = s.chars().take(width.saturating_sub(1)).collect();
        out.push('…');
        out
    }
}

/// Renders alerts as a fixed-width table (columns clipped to keep rows on one line, details last).
pub fn render_table(alerts: &[Alert]) -> String {
    let headers = [
        "TIME",
        "SEVERITY",
        "RULE",
        "PRINCIPAL",
        "SOURCE IP",
        "ACTION",
        "DETAILS",
    ];
    let widths = [24usize, 8, 40, 44, 15, 28, 0];
    let mut out = String::new();
    let line = |cols: &[String]| {
        let mut l = String::new();
        for (i, c) in cols.iter().enumerate() {
            if widths[i] == 0 {
                l.push_str(c);
            } else {
                let c = clip(c, widths[i]);
                l.push_str(&format!("{:<w$}  ", c, w = widths[i]));
            }
        }
        l.trim_end().to_string()
    };
    out.push_str(&line(
        &headers.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
    ));
    out.push('\n');
    for a in alerts {
        let d = &a.doc;
        let details: Vec<String> = a
            .investigation_fields
            .iter()
            .filter(|f| !SHOWN.contains(&f.as_str()))
            .filter_map(|f| {
                let vals = d.values(f);
                if vals.is_empty() {
                    None
                } else {
                    let joined = vals.iter().map(|v| render(v)).collect::<Vec<_>>().join(",");
                    Some(format!("{f}={}", clip(&joined, 80)))
                }
            })
            .collect();
        let cols = vec![
            format_millis(a.timestamp),
            a.severity.clone(),
            a.rule_name.clone(),
            principal(d),
            d.str("source.ip")
                .or_else(|| d.str("source.address"))
                .unwrap_or("-")
                .to_string(),
            d.str("event.action").unwrap_or("-").to_string(),
            sanitize(&details.join(" ")),
        ];
        out.push_str(&line(&cols));
        out.push('\n');
    }
    out
}
