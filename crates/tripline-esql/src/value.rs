//! ES|QL values and types.
//!
//! A cell holds one [`Value`]; multi-valued fields hold [`Value::Multi`] (never nested, never
//! empty, never containing nulls: an empty multi-value is `Null`, a one-element one is the
//! element). Single-valued functions and operators return null when given a multi-value, as
//! ES|QL does (with a warning there).

use std::cmp::Ordering;
use std::net::IpAddr;

use serde_json::Value as Json;
use tripline_doc::time;

/// An ES|QL data type (the subset Tripline's data can produce).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DataType {
    Null,
    Boolean,
    Integer,
    Long,
    Double,
    Keyword,
    Text,
    Date,
    Ip,
    GeoPoint,
    TimeDuration,
    DatePeriod,
    Unsupported,
}

impl DataType {
    pub fn as_str(self) -> &'static str {
        match self {
            DataType::Null => "null",
            DataType::Boolean => "boolean",
            DataType::Integer => "integer",
            DataType::Long => "long",
            DataType::Double => "double",
            DataType::Keyword => "keyword",
            DataType::Text => "text",
            DataType::Date => "date",
            DataType::Ip => "ip",
            DataType::GeoPoint => "geo_point",
            DataType::TimeDuration => "time_duration",
            DataType::DatePeriod => "date_period",
            DataType::Unsupported => "unsupported",
        }
    }

    /// The type an index field of this Elasticsearch mapping type reads as.
    pub fn from_field_type(t: tripline_doc::FieldType) -> DataType {
        use tripline_doc::FieldType as F;
        match t {
            F::Keyword | F::ConstantKeyword | F::Wildcard => DataType::Keyword,
            F::Text | F::MatchOnlyText => DataType::Text,
            F::Ip => DataType::Ip,
            F::Long | F::UnsignedLong => DataType::Long,
            F::Integer | F::Short | F::Byte => DataType::Integer,
            F::Float | F::HalfFloat | F::ScaledFloat | F::Double => DataType::Double,
            F::Date | F::DateNanos => DataType::Date,
            F::Boolean => DataType::Boolean,
            F::GeoPoint => DataType::GeoPoint,
            F::Flattened | F::Object | F::Nested | F::Binary => DataType::Unsupported,
        }
    }

    pub fn is_string(self) -> bool {
        matches!(self, DataType::Keyword | DataType::Text)
    }

    pub fn is_numeric(self) -> bool {
        matches!(self, DataType::Integer | DataType::Long | DataType::Double)
    }
}

/// A cell value (serializable so streamed rows can be saved with a rule's state).
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub enum Value {
    #[default]
    Null,
    Bool(bool),
    /// `integer` (32-bit in ES; kept in an i64, typed separately for output).
    Int(i64),
    Long(i64),
    Double(f64),
    /// `keyword` or `text`.
    Str(String),
    /// Epoch milliseconds.
    Date(i64),
    Ip(IpAddr),
    /// (lon, lat)
    GeoPoint(f64, f64),
    /// A fixed duration in milliseconds (`30 minutes`).
    Duration(i64),
    /// A calendar period (`1 month`, `1 year`): months and days.
    Period {
        months: i32,
        days: i32,
    },
    Multi(Vec<Value>),
}

impl Value {
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    pub fn is_multi(&self) -> bool {
        matches!(self, Value::Multi(_))
    }

    pub fn data_type(&self) -> DataType {
        match self {
            Value::Null => DataType::Null,
            Value::Bool(_) => DataType::Boolean,
            Value::Int(_) => DataType::Integer,
            Value::Long(_) => DataType::Long,
            Value::Double(_) => DataType::Double,
            Value::Str(_) => DataType::Keyword,
            Value::Date(_) => DataType::Date,
            Value::Ip(_) => DataType::Ip,
            Value::GeoPoint(..) => DataType::GeoPoint,
            Value::Duration(_) => DataType::TimeDuration,
            Value::Period { .. } => DataType::DatePeriod,
            Value::Multi(v) => v.first().map(|x| x.data_type()).unwrap_or(DataType::Null),
        }
    }

    /// Builds a cell from a list of values: empty → null, one → itself, else multi.
    pub fn from_vec(mut v: Vec<Value>) -> Value {
        v.retain(|x| !x.is_null());
        let mut flat = Vec::with_capacity(v.len());
        for x in v {
            match x {
                Value::Multi(inner) => flat.extend(inner),
                other => flat.push(other),
            }
        }
        match flat.len() {
            0 => Value::Null,
            1 => flat.pop().unwrap_or(Value::Null),
            _ => Value::Multi(flat),
        }
    }

    /// The individual values of a cell (none for null).
    pub fn items(&self) -> &[Value] {
        match self {
            Value::Null => &[],
            Value::Multi(v) => v,
            other => std::slice::from_ref(other),
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) | Value::Long(i) => Some(*i as f64),
            Value::Double(d) => Some(*d),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) | Value::Long(i) => Some(*i),
            Value::Double(d) if d.is_finite() => Some(d.trunc() as i64),
            _ => None,
        }
    }

    /// The value rendered the way `TO_STRING` renders it.
    pub fn render(&self) -> String {
        match self {
            Value::Null => "null".into(),
            Value::Bool(b) => b.to_string(),
            Value::Int(i) | Value::Long(i) => i.to_string(),
            Value::Double(d) => format_double(*d),
            Value::Str(s) => s.clone(),
            Value::Date(ms) => time::format_millis(*ms),
            Value::Ip(ip) => ip.to_string(),
            Value::GeoPoint(lon, lat) => {
                format!("POINT ({} {})", format_double(*lon), format_double(*lat))
            }
            Value::Duration(ms) => format!("{ms}ms"),
            Value::Period { months, days } => format!("P{months}M{days}D"),
            Value::Multi(v) => v.iter().map(|x| x.render()).collect::<Vec<_>>().join(","),
        }
    }

    /// JSON rendering for result rows (dates as ES renders them, ips as strings).
    pub fn to_json(&self) -> Json {
        match self {
            Value::Null => Json::Null,
            Value::Bool(b) => Json::Bool(*b),
            Value::Int(i) | Value::Long(i) => Json::from(*i),
            Value::Double(d) => serde_json::Number::from_f64(*d)
                .map(Json::Number)
                .unwrap_or(Json::Null),
            Value::Str(s) => Json::String(s.clone()),
            Value::Multi(v) => Json::Array(v.iter().map(|x| x.to_json()).collect()),
            other => Json::String(other.render()),
        }
    }

    /// Converts a `_source` JSON value to a cell value of type `ty` (`None` = infer).
    /// Values that do not convert (a non-date string in a date field) become null, which is
    /// what Elasticsearch would have done when indexing with `ignore_malformed`.
    pub fn from_json(v: &Json, ty: Option<DataType>) -> Value {
        match ty {
            Some(DataType::Date) => time::value_to_millis(v)
                .map(Value::Date)
                .unwrap_or(Value::Null),
            Some(DataType::Ip) => v
                .as_str()
                .and_then(parse_ip)
                .map(Value::Ip)
                .unwrap_or(Value::Null),
            Some(DataType::Integer) | Some(DataType::Long) => {
                let i = match v {
                    Json::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
                    Json::String(s) => s.trim().parse::<i64>().ok(),
                    _ => None,
                };
                match (i, ty) {
                    (Some(i), Some(DataType::Integer)) => Value::Int(i),
                    (Some(i), _) => Value::Long(i),
                    (None, _) => Value::Null,
                }
            }
            Some(DataType::Double) => match v {
                Json::Number(n) => n.as_f64().map(Value::Double).unwrap_or(Value::Null),
                Json::String(s) => s.trim().parse().map(Value::Double).unwrap_or(Value::Null),
                _ => Value::Null,
            },
            Some(DataType::Boolean) => match v {
                Json::Bool(b) => Value::Bool(*b),
                Json::String(s) if s == "true" => Value::Bool(true),
                Json::String(s) if s == "false" => Value::Bool(false),
                _ => Value::Null,
            },
            Some(DataType::Keyword) | Some(DataType::Text) => match v {
                Json::String(s) => Value::Str(s.clone()),
                Json::Number(n) => Value::Str(n.to_string()),
                Json::Bool(b) => Value::Str(b.to_string()),
                Json::Object(_) | Json::Array(_) => Value::Str(v.to_string()),
                Json::Null => Value::Null,
            },
            Some(DataType::GeoPoint) => match v {
                Json::Object(m) => match (
                    m.get("lon").and_then(|x| x.as_f64()),
                    m.get("lat").and_then(|x| x.as_f64()),
                ) {
                    (Some(lon), Some(lat)) => Value::GeoPoint(lon, lat),
                    _ => Value::Null,
                },
                Json::String(s) => parse_wkt_point(s).unwrap_or(Value::Null),
                _ => Value::Null,
            },
            _ => match v {
                Json::Null => Value::Null,
                Json::Bool(b) => Value::Bool(*b),
                Json::Number(n) => match n.as_i64() {
                    Some(i) => Value::Long(i),
                    None => n.as_f64().map(Value::Double).unwrap_or(Value::Null),
                },
                Json::String(s) => Value::Str(s.clone()),
                Json::Object(_) | Json::Array(_) => Value::Str(v.to_string()),
            },
        }
    }
}

pub fn parse_ip(s: &str) -> Option<IpAddr> {
    s.trim().parse::<IpAddr>().ok()
}

/// Parses `POINT (lon lat)`.
pub fn parse_wkt_point(s: &str) -> Option<Value> {
    let s = s.trim();
    let rest = s.get(..5).filter(|p| p.eq_ignore_ascii_case("point"))?;
    let _ = rest;
    let inner = s[5..].trim().strip_prefix('(')?.strip_suffix(')')?;
    let mut it = inner.split_whitespace();
    let lon: f64 = it.next()?.parse().ok()?;
    let lat: f64 = it.next()?.parse().ok()?;
    if it.next().is_some() {
        return None;
    }
    Some(Value::GeoPoint(lon, lat))
}

/// Doubles render like Java's `Double.toString` for the common cases (`1.0`, `0.5`, `1.0E10`).
pub fn format_double(d: f64) -> String {
    if d.is_nan() {
        return "NaN".into();
    }
    if d.is_infinite() {
        return if d > 0.0 {
            "Infinity".into()
        } else {
            "-Infinity".into()
        };
    }
    let abs = d.abs();
    if abs != 0.0 && !(1e-3..1e7).contains(&abs) {
        let s = format!("{d:E}");
        // Rust prints `1E10`; Java prints `1.0E10`.
        if let Some((m, e)) = s.split_once('E') {
            let m = if m.contains('.') {
                m.to_string()
            } else {
                format!("{m}.0")
            };
            return format!("{m}E{e}");
        }
        return s;
    }
    if d.fract() == 0.0 {
        format!("{d:.1}")
    } else {
        format!("{d}")
    }
}

/// Total order used by SORT, MIN/MAX and equality across compatible types. `None` when the
/// types are not comparable.
pub fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    use Value::*;
    match (a, b) {
        (Int(x) | Long(x), Int(y) | Long(y)) => Some(x.cmp(y)),
        (Int(_) | Long(_) | Double(_), Int(_) | Long(_) | Double(_)) => {
            a.as_f64()?.partial_cmp(&b.as_f64()?)
        }
        (Str(x), Str(y)) => Some(x.as_bytes().cmp(y.as_bytes())),
        (Bool(x), Bool(y)) => Some(x.cmp(y)),
        (Bool(x), Str(s)) => Some(x.to_string().as_str().cmp(s.as_str())),
        (Str(s), Bool(y)) => Some(s.as_str().cmp(y.to_string().as_str())),
        (Date(x), Date(y)) => Some(x.cmp(y)),
        (Date(x), Str(s)) => time::parse_millis(s).map(|y| x.cmp(&y)),
        (Str(s), Date(y)) => time::parse_millis(s).map(|x| x.cmp(y)),
        (Ip(x), Ip(y)) => Some(ip_cmp(x, y)),
        (Ip(x), Str(s)) => parse_ip(s).map(|y| ip_cmp(x, &y)),
        (Str(s), Ip(y)) => parse_ip(s).map(|x| ip_cmp(&x, y)),
        (Duration(x), Duration(y)) => Some(x.cmp(y)),
        (GeoPoint(a1, b1), GeoPoint(a2, b2)) => Some(a1.partial_cmp(a2)?.then(b1.partial_cmp(b2)?)),
        _ => None,
    }
}

/// Elasticsearch orders ips by their IPv6 (mapped) byte representation.
fn ip_cmp(a: &IpAddr, b: &IpAddr) -> Ordering {
    let v6 = |ip: &IpAddr| match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    };
    v6(a).cmp(&v6(b))
}

/// A hashable key for grouping and COUNT_DISTINCT (type-tagged, doubles by bits).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Key {
    Null,
    Bool(bool),
    Int(i64),
    Double(u64),
    Str(String),
    Date(i64),
    Ip([u8; 16]),
    Other(String),
}

impl Key {
    pub fn of(v: &Value) -> Key {
        match v {
            Value::Null => Key::Null,
            Value::Bool(b) => Key::Bool(*b),
            Value::Int(i) | Value::Long(i) => Key::Int(*i),
            Value::Double(d) => {
                if d.fract() == 0.0 && d.abs() < 9e15 {
                    Key::Int(*d as i64)
                } else {
                    Key::Double(d.to_bits())
                }
            }
            Value::Str(s) => Key::Str(s.clone()),
            Value::Date(d) => Key::Date(*d),
            Value::Ip(ip) => Key::Ip(match ip {
                IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
                IpAddr::V6(v6) => v6.octets(),
            }),
            other => Key::Other(other.render()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_conversion_by_type() {
        assert_eq!(
            Value::from_json(&json!("2024-01-01T00:00:00Z"), Some(DataType::Date)),
            Value::Date(1_704_067_200_000)
        );
        assert_eq!(
            Value::from_json(&json!("nope"), Some(DataType::Date)),
            Value::Null
        );
        assert_eq!(
            Value::from_json(&json!("10.0.0.1"), Some(DataType::Ip)),
            Value::Ip("10.0.0.1".parse().unwrap())
        );
        assert_eq!(
            Value::from_json(&json!(12), Some(DataType::Keyword)),
            Value::Str("12".into())
        );
        assert_eq!(Value::from_json(&json!(1.5), None), Value::Double(1.5));
    }

    #[test]
    fn multi_values_normalize() {
        assert_eq!(Value::from_vec(vec![]), Value::Null);
        assert_eq!(
            Value::from_vec(vec![Value::Null, Value::Long(1)]),
            Value::Long(1)
        );
        assert!(
            Value::from_vec(vec![
                Value::Long(1),
                Value::Multi(vec![Value::Long(2), Value::Long(3)])
            ])
            .items()
            .len()
                == 3
        );
    }

    #[test]
    fn doubles_render_like_java() {
        assert_eq!(format_double(1.0), "1.0");
        assert_eq!(format_double(0.25), "0.25");
        assert_eq!(format_double(1e10), "1.0E10");
    }

    #[test]
    fn cross_type_comparison() {
        assert_eq!(
            compare(&Value::Int(2), &Value::Double(1.5)),
            Some(Ordering::Greater)
        );
        assert_eq!(
            compare(&Value::Date(0), &Value::Str("1970-01-01T00:00:00Z".into())),
            Some(Ordering::Equal)
        );
        assert_eq!(compare(&Value::Str("a".into()), &Value::Long(1)), None);
    }
}
