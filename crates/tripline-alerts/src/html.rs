//! The self-contained HTML report: summary, alerts by severity, and each alert's evidence.
//! Every string from a log is escaped; the page loads nothing from elsewhere.

use crate::{severity_rank, table::principal, Alert};
use tripline_doc::time::format_millis;

/// HTML-escapes text for element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Extra sections (e.g. trail coverage) appended to the report, already rendered as HTML.
pub struct Section {
    pub title: String,
    pub html: String,
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;width:100%}\
th,td{border-bottom:1px solid #ddd;padding:4px 8px;text-align:left;font-size:13px;vertical-align:top}\
.critical{color:#fff;background:#7b1fa2}.high{color:#fff;background:#c62828}.medium{background:#ffb300}.low{background:#e0e0e0}\
.sev{padding:2px 6px;border-radius:3px;font-weight:600}pre{white-space:pre-wrap;word-break:break-all;background:#f6f8fa;padding:8px;font-size:12px}\
summary{cursor:pointer}";

/// Renders the report.
pub fn render_report(
    title: &str,
    summary_lines: &[String],
    alerts: &[Alert],
    sections: &[Section],
) -> String {
    let mut sorted: Vec<&Alert> = alerts.iter().collect();
    sorted.sort_by(|a, b| {
        severity_rank(&a.severity)
            .cmp(&severity_rank(&b.severity))
            .then(a.timestamp.cmp(&b.timestamp))
    });
    let mut h = String::new();
    h.push_str("<!DOCTYPE html><html><head><meta charset=\"utf-8\"><meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">");
    h.push_str(&format!(
        "<title>{}</title><style>{STYLE}</style></head><body>",
        escape(title)
    ));
    h.push_str(&format!("<h1>{}</h1><ul>", escape(title)));
    for l in summary_lines {
        h.push_str(&format!("<li>{}</li>", escape(l)));
    }
    h.push_str("</ul>");
    h.push_str(&format!("<h2>Alerts ({})</h2><table><tr><th>Time</th><th>Severity</th><th>Rule</th><th>Principal</th><th>Source IP</th><th>Action</th></tr>", alerts.len()));
    for (i, a) in sorted.iter().enumerate() {
        let d = &a.doc;
        let sev = escape(&a.severity);
        h.push_str(&format!(
            "<tr><td>{}</td><td><span class=\"sev {sev}\">{sev}</span></td><td><a href=\"#a{i}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&format_millis(a.timestamp)),
            escape(&a.rule_name),
            escape(&principal(d)),
            escape(d.str("source.ip").unwrap_or("-")),
            escape(d.str("event.action").unwrap_or("-")),
        ));
    }
    h.push_str("</table><h2>Details</h2>");
    for (i, a) in sorted.iter().enumerate() {
        let reason = a.doc.str("kibana.alert.reason").unwrap_or_default();
        let json = serde_json::to_string_pretty(&a.doc).unwrap_or_default();
        h.push_str(&format!(
            "<details id=\"a{i}\"><summary><b>{}</b> — {}</summary><pre>{}</pre></details>",
            escape(&a.rule_name),
            escape(reason),
            escape(&json)
        ));
    }
    for s in sections {
        h.push_str(&format!("<h2>{}</h2>{}", escape(&s.title), s.html));
    }
    h.push_str("</body></html>\n");
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_attacker_strings() {
        assert_eq!(
            escape("<script>alert('x')</script>&\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;"
        );
    }
}
