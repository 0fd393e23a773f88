//! Timestamps: parsing the date formats found in CloudTrail and ECS documents, formatting
//! them back the way Elasticsearch renders dates (`2014-07-16T15:49:27.000Z`).

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use serde_json::Value;

/// Parses an ISO-8601 / RFC 3339 date (with or without fraction or zone; no zone means UTC),
/// returning epoch milliseconds.
pub fn parse_millis(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        return Some(dt.timestamp_millis());
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M:%S",
    ] {
        if let Ok(n) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(Utc.from_utc_datetime(&n).timestamp_millis());
        }
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Some(
            Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0)?)
                .timestamp_millis(),
        );
    }
    None
}

/// A JSON date value: a string date, or a number of epoch milliseconds.
pub fn value_to_millis(v: &Value) -> Option<i64> {
    match v {
        Value::String(s) => parse_millis(s),
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        _ => None,
    }
}

/// Formats epoch milliseconds as Elasticsearch's default date rendering (`strict_date_optional_time`
/// with millisecond precision and a `Z` zone).
pub fn format_millis(ms: i64) -> String {
    match Utc.timestamp_millis_opt(ms).single() {
        Some(dt) => dt.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        None => ms.to_string(),
    }
}

/// Parses a duration as detection rules write it (`6m`, `7d`, `1h`, `30s`, `500ms`) into
/// milliseconds.
pub fn parse_duration_millis(s: &str) -> Option<i64> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit())?;
    let (num, unit) = s.split_at(split);
    let n: i64 = num.parse().ok()?;
    let mult = match unit.trim() {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        "w" => 7 * 86_400_000,
        _ => return None,
    };
    n.checked_mul(mult)
}

/// Parses a date-math look-back such as `now-6m` or `now-7d` into a positive duration in ms.
pub fn parse_now_minus(s: &str) -> Option<i64> {
    let rest = s.trim().strip_prefix("now")?;
    if rest.is_empty() {
        return Some(0);
    }
    let rest = rest.strip_prefix('-')?;
    parse_duration_millis(rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cloudtrail_and_es_dates() {
        let a = parse_millis("2014-07-16T15:49:27Z").unwrap();
        assert_eq!(format_millis(a), "2014-07-16T15:49:27.000Z");
        assert_eq!(
            parse_millis("2014-07-16T15:49:27.123456789Z").unwrap(),
            a + 123
        );
        assert_eq!(parse_millis("2014-07-16T15:49:27"), Some(a));
        assert_eq!(parse_millis("2014-07-16 15:49:27"), Some(a));
        assert_eq!(parse_millis("nonsense"), None);
    }

    #[test]
    fn durations_and_lookbacks() {
        assert_eq!(parse_duration_millis("6m"), Some(360_000));
        assert_eq!(parse_duration_millis("7d"), Some(604_800_000));
        assert_eq!(parse_now_minus("now-6m"), Some(360_000));
        assert_eq!(parse_now_minus("now"), Some(0));
        assert_eq!(parse_duration_millis("6x"), None);
    }
}
