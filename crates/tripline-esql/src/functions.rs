//! ES|QL functions: the scalar library and the aggregates.
//!
//! Scalar functions return null when an argument is null, and when a single-valued argument
//! is multi-valued (ES|QL does the same and emits a warning); the `MV_*` functions, the type
//! conversions (which convert every value), `COALESCE` and `CASE` accept multi-values.

use std::collections::BTreeSet;
use std::net::IpAddr;

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Timelike, Utc};

use crate::value::{compare, parse_ip, parse_wkt_point, DataType, Key, Value};
use crate::ErrorKind;

pub const AGGREGATES: &[&str] = &[
    "count",
    "count_distinct",
    "values",
    "min",
    "max",
    "sum",
    "avg",
    "median",
    "median_absolute_deviation",
    "percentile",
    "first",
    "last",
    "top",
    "std_dev",
    "weighted_avg",
];

pub fn is_aggregate(name: &str) -> bool {
    AGGREGATES.contains(&name)
}

/// (name, min args, max args) of every scalar function.
const SCALARS: &[(&str, usize, usize)] = &[
    ("case", 2, usize::MAX),
    ("coalesce", 1, usize::MAX),
    ("greatest", 1, usize::MAX),
    ("least", 1, usize::MAX),
    ("concat", 2, usize::MAX),
    ("length", 1, 1),
    ("bit_length", 1, 1),
    ("byte_length", 1, 1),
    ("to_lower", 1, 1),
    ("to_upper", 1, 1),
    ("starts_with", 2, 2),
    ("ends_with", 2, 2),
    ("substring", 2, 3),
    ("left", 2, 2),
    ("right", 2, 2),
    ("trim", 1, 1),
    ("ltrim", 1, 1),
    ("rtrim", 1, 1),
    ("replace", 3, 3),
    ("split", 2, 2),
    ("locate", 2, 3),
    ("reverse", 1, 1),
    ("repeat", 2, 2),
    ("space", 1, 1),
    ("contains", 2, 2),
    ("from_base64", 1, 1),
    ("to_base64", 1, 1),
    ("abs", 1, 1),
    ("round", 1, 2),
    ("floor", 1, 1),
    ("ceil", 1, 1),
    ("sqrt", 1, 1),
    ("cbrt", 1, 1),
    ("pow", 2, 2),
    ("exp", 1, 1),
    ("log10", 1, 1),
    ("log", 1, 2),
    ("signum", 1, 1),
    ("pi", 0, 0),
    ("e", 0, 0),
    ("tau", 0, 0),
    ("now", 0, 0),
    ("date_trunc", 2, 2),
    ("date_diff", 3, 3),
    ("date_format", 1, 2),
    ("date_parse", 1, 2),
    ("date_extract", 2, 2),
    ("to_string", 1, 1),
    ("to_str", 1, 1),
    ("to_integer", 1, 1),
    ("to_int", 1, 1),
    ("to_long", 1, 1),
    ("to_double", 1, 1),
    ("to_dbl", 1, 1),
    ("to_boolean", 1, 1),
    ("to_bool", 1, 1),
    ("to_ip", 1, 1),
    ("to_datetime", 1, 1),
    ("to_dt", 1, 1),
    ("to_geopoint", 1, 1),
    ("cidr_match", 2, usize::MAX),
    ("mv_count", 1, 1),
    ("mv_dedupe", 1, 1),
    ("mv_first", 1, 1),
    ("mv_last", 1, 1),
    ("mv_min", 1, 1),
    ("mv_max", 1, 1),
    ("mv_sum", 1, 1),
    ("mv_avg", 1, 1),
    ("mv_median", 1, 1),
    ("mv_concat", 2, 2),
    ("mv_slice", 2, 3),
    ("mv_sort", 1, 2),
    ("mv_contains", 2, 2),
    ("mv_append", 2, 2),
    ("st_distance", 2, 2),
    ("st_x", 1, 1),
    ("st_y", 1, 1),
    ("json_extract", 2, 2),
    ("match", 2, 3),
];

const AGG_ARITY: &[(&str, usize, usize)] = &[
    ("count", 0, 1),
    ("count_distinct", 1, 2),
    ("values", 1, 1),
    ("min", 1, 1),
    ("max", 1, 1),
    ("sum", 1, 1),
    ("avg", 1, 1),
    ("median", 1, 1),
    ("median_absolute_deviation", 1, 1),
    ("percentile", 2, 2),
    ("first", 2, 2),
    ("last", 2, 2),
    ("top", 3, 3),
    ("std_dev", 1, 1),
    ("weighted_avg", 2, 2),
];

/// Checks that a function exists and gets a valid number of arguments.
pub fn check_call(name: &str, n: usize) -> Result<(), (ErrorKind, String)> {
    let found = SCALARS.iter().chain(AGG_ARITY).find(|(f, _, _)| *f == name);
    match found {
        None => Err((
            ErrorKind::Unsupported,
            format!("unknown function [{}]", name.to_uppercase()),
        )),
        Some((_, min, max)) if n < *min || n > *max => Err((
            ErrorKind::Verification,
            format!(
                "wrong number of arguments ({n}) for {}",
                name.to_uppercase()
            ),
        )),
        Some(_) => Ok(()),
    }
}

/// Names of every supported function (for documentation and `rules check`).
pub fn function_names() -> Vec<&'static str> {
    let mut v: Vec<&str> = SCALARS
        .iter()
        .map(|s| s.0)
        .chain(AGGREGATES.iter().copied())
        .collect();
    v.push("kql");
    v.sort_unstable();
    v
}

fn single(v: &Value) -> Option<&Value> {
    match v {
        Value::Null | Value::Multi(_) => None,
        other => Some(other),
    }
}

fn s(v: &Value) -> Option<&str> {
    single(v)?.as_str()
}

fn i(v: &Value) -> Option<i64> {
    single(v)?.as_i64()
}

fn f(v: &Value) -> Option<f64> {
    single(v)?.as_f64()
}

fn date(v: &Value) -> Option<i64> {
    match single(v)? {
        Value::Date(d) => Some(*d),
        Value::Str(x) => tripline_doc::time::parse_millis(x),
        _ => None,
    }
}

fn num_result(x: f64) -> Value {
    if x.is_finite() {
        Value::Double(x)
    } else {
        Value::Null
    }
}

/// Maps a conversion over every value of a (possibly multi-valued) argument.
fn map_values(v: &Value, conv: impl Fn(&Value) -> Option<Value>) -> Value {
    Value::from_vec(v.items().iter().filter_map(conv).collect())
}

/// Evaluates a scalar function on already-evaluated arguments.
pub fn scalar(name: &str, a: &[Value], now_ms: i64) -> Value {
    scalar_opt(name, a, now_ms).unwrap_or(Value::Null)
}

fn scalar_opt(name: &str, a: &[Value], now_ms: i64) -> Option<Value> {
    let arg = |n: usize| a.get(n).unwrap_or(&Value::Null);
    Some(match name {
        "case" => {
            let mut k = 0;
            while k + 1 < a.len() {
                if matches!(a[k], Value::Bool(true)) {
                    return Some(a[k + 1].clone());
                }
                k += 2;
            }
            if a.len() % 2 == 1 {
                a[a.len() - 1].clone()
            } else {
                Value::Null
            }
        }
        "coalesce" => a
            .iter()
            .find(|v| !v.is_null())
            .cloned()
            .unwrap_or(Value::Null),
        "greatest" | "least" => {
            let mut best: Option<&Value> = None;
            for v in a {
                let v = single(v)?;
                best = Some(match best {
                    None => v,
                    Some(b) => {
                        let ord = compare(v, b)?;
                        if (name == "greatest") == ord.is_gt() {
                            v
                        } else {
                            b
                        }
                    }
                });
            }
            best?.clone()
        }
        "concat" => {
            let mut out = String::new();
            for v in a {
                out.push_str(&string_of(single(v)?));
            }
            Value::Str(out)
        }
        "length" => Value::Int(s(arg(0))?.chars().count() as i64),
        "byte_length" => Value::Int(s(arg(0))?.len() as i64),
        "bit_length" => Value::Int(s(arg(0))?.len() as i64 * 8),
        "to_lower" => Value::Str(s(arg(0))?.to_lowercase()),
        "to_upper" => Value::Str(s(arg(0))?.to_uppercase()),
        "starts_with" => Value::Bool(s(arg(0))?.starts_with(s(arg(1))?)),
        "ends_with" => Value::Bool(s(arg(0))?.ends_with(s(arg(1))?)),
        "contains" => Value::Bool(s(arg(0))?.contains(s(arg(1))?)),
        "substring" => {
            let text: Vec<char> = s(arg(0))?.chars().collect();
            let start = i(arg(1))?;
            let len = if a.len() > 2 {
                i(arg(2))?
            } else {
                text.len() as i64
            };
            // 1-based; a negative start counts from the end.
            let st = if start < 0 {
                (text.len() as i64 + start).max(0)
            } else {
                (start - 1).max(0)
            } as usize;
            let en = st.saturating_add(len.max(0) as usize).min(text.len());
            Value::Str(
                text.get(st..en)
                    .map(|c| c.iter().collect())
                    .unwrap_or_default(),
            )
        }
        "left" => {
            let n = i(arg(1))?.max(0) as usize;
            Value::Str(s(arg(0))?.chars().take(n).collect())
        }
        "right" => {
            let t: Vec<char> = s(arg(0))?.chars().collect();
            let n = (i(arg(1))?.max(0) as usize).min(t.len());
            Value::Str(t[t.len() - n..].iter().collect())
        }
        "trim" => Value::Str(s(arg(0))?.trim().to_string()),
        "ltrim" => Value::Str(s(arg(0))?.trim_start().to_string()),
        "rtrim" => Value::Str(s(arg(0))?.trim_end().to_string()),
        "replace" => {
            let text = s(arg(0))?;
            let pat = s(arg(1))?;
            let rep = s(arg(2))?;
            // ES|QL REPLACE takes a (Java) regex; `$1` refers to groups in both dialects.
            match regex::Regex::new(pat) {
                Ok(r) => Value::Str(r.replace_all(text, rep).into_owned()),
                Err(_) => Value::Str(text.replace(pat, rep)),
            }
        }
        "split" => {
            let text = s(arg(0))?;
            let d = s(arg(1))?;
            if d.is_empty() {
                Value::from_vec(text.chars().map(|c| Value::Str(c.to_string())).collect())
            } else {
                Value::from_vec(text.split(d).map(|p| Value::Str(p.to_string())).collect())
            }
        }
        "locate" => {
            let text = s(arg(0))?;
            let sub = s(arg(1))?;
            let from = if a.len() > 2 {
                (i(arg(2))? - 1).max(0) as usize
            } else {
                0
            };
            let chars: Vec<char> = text.chars().collect();
            let hay: String = chars.iter().skip(from).collect();
            match hay.find(sub) {
                Some(byte) => Value::Int((hay[..byte].chars().count() + from + 1) as i64),
                None => Value::Int(0),
            }
        }
        "reverse" => Value::Str(s(arg(0))?.chars().rev().collect()),
        "repeat" => {
            let n = i(arg(1))?;
            if !(0..=100_000).contains(&n) {
                return None;
            }
            Value::Str(s(arg(0))?.repeat(n as usize))
        }
        "space" => {
            let n = i(arg(0))?;
            if !(0..=100_000).contains(&n) {
                return None;
            }
            Value::Str(" ".repeat(n as usize))
        }
        "from_base64" => {
            let bytes = base64_decode(s(arg(0))?)?;
            Value::Str(String::from_utf8_lossy(&bytes).into_owned())
        }
        "to_base64" => Value::Str(base64_encode(s(arg(0))?.as_bytes())),
        "abs" => match single(arg(0))? {
            Value::Int(x) => Value::Int(x.checked_abs()?),
            Value::Long(x) => Value::Long(x.checked_abs()?),
            Value::Double(d) => Value::Double(d.abs()),
            _ => return None,
        },
        "round" => {
            let v = single(arg(0))?;
            let dec = if a.len() > 1 { i(arg(1))? } else { 0 };
            match v {
                Value::Int(_) | Value::Long(_) if dec >= 0 => v.clone(),
                Value::Int(x) | Value::Long(x) => {
                    let p = 10i64.checked_pow((-dec) as u32)?;
                    let r = ((*x as f64 / p as f64).round() as i64).checked_mul(p)?;
                    if matches!(v, Value::Int(_)) {
                        Value::Int(r)
                    } else {
                        Value::Long(r)
                    }
                }
                Value::Double(d) => {
                    let p = 10f64.powi(dec.clamp(-300, 300) as i32);
                    // Half away from zero, like Java's Math.round on the scaled value.
                    num_result((d * p).round() / p)
                }
                _ => return None,
            }
        }
        "floor" => match single(arg(0))? {
            Value::Double(d) => Value::Double(d.floor()),
            v @ (Value::Int(_) | Value::Long(_)) => v.clone(),
            _ => return None,
        },
        "ceil" => match single(arg(0))? {
            Value::Double(d) => Value::Double(d.ceil()),
            v @ (Value::Int(_) | Value::Long(_)) => v.clone(),
            _ => return None,
        },
        "sqrt" => num_result(f(arg(0))?.sqrt()),
        "cbrt" => num_result(f(arg(0))?.cbrt()),
        "pow" => num_result(f(arg(0))?.powf(f(arg(1))?)),
        "exp" => num_result(f(arg(0))?.exp()),
        "log10" => num_result(f(arg(0))?.log10()),
        "log" => {
            if a.len() == 1 {
                num_result(f(arg(0))?.ln())
            } else {
                num_result(f(arg(1))?.log(f(arg(0))?))
            }
        }
        "signum" => Value::Double(f(arg(0))?.signum()),
        "pi" => Value::Double(std::f64::consts::PI),
        "e" => Value::Double(std::f64::consts::E),
        "tau" => Value::Double(std::f64::consts::TAU),
        "now" => Value::Date(now_ms),
        "date_trunc" => Value::Date(date_trunc(single(arg(0))?, date(arg(1))?)?),
        "date_diff" => Value::Int(date_diff(s(arg(0))?, date(arg(1))?, date(arg(2))?)?),
        "date_format" => {
            let (fmt, d) = if a.len() == 1 {
                ("yyyy-MM-dd'T'HH:mm:ss.SSS'Z'", date(arg(0))?)
            } else {
                (s(arg(0))?, date(arg(1))?)
            };
            Value::Str(java_format(fmt, d)?)
        }
        "date_parse" => {
            let text = if a.len() == 1 { s(arg(0))? } else { s(arg(1))? };
            Value::Date(tripline_doc::time::parse_millis(text)?)
        }
        "date_extract" => Value::Long(date_extract(s(arg(0))?, date(arg(1))?)?),
        "to_string" | "to_str" => map_values(arg(0), |v| Some(Value::Str(string_of(v)))),
        "to_integer" | "to_int" => map_values(arg(0), |v| {
            to_long(v)
                .and_then(|x| i32::try_from(x).ok())
                .map(|x| Value::Int(x as i64))
        }),
        "to_long" => map_values(arg(0), |v| to_long(v).map(Value::Long)),
        "to_double" | "to_dbl" => map_values(arg(0), |v| to_double(v).map(Value::Double)),
        "to_boolean" | "to_bool" => map_values(arg(0), to_bool),
        "to_ip" => map_values(arg(0), |v| match v {
            Value::Ip(_) => Some(v.clone()),
            Value::Str(x) => parse_ip(x).map(Value::Ip),
            _ => None,
        }),
        "to_datetime" | "to_dt" => map_values(arg(0), |v| match v {
            Value::Date(_) => Some(v.clone()),
            Value::Str(x) => tripline_doc::time::parse_millis(x).map(Value::Date),
            Value::Int(x) | Value::Long(x) => Some(Value::Date(*x)),
            Value::Double(d) => Some(Value::Date(*d as i64)),
            _ => None,
        }),
        "to_geopoint" => map_values(arg(0), |v| match v {
            Value::GeoPoint(..) => Some(v.clone()),
            Value::Str(x) => parse_wkt_point(x),
            _ => None,
        }),
        "cidr_match" => {
            let ip = match single(arg(0))? {
                Value::Ip(ip) => *ip,
                Value::Str(x) => parse_ip(x)?,
                _ => return None,
            };
            let mut any = false;
            for blocks in &a[1..] {
                for b in blocks.items() {
                    let b = b.as_str()?;
                    let net = b
                        .parse::<ipnet::IpNet>()
                        .ok()
                        .or_else(|| b.parse::<IpAddr>().ok().map(ipnet::IpNet::from))?;
                    any |= net.contains(&ip);
                }
            }
            Value::Bool(any)
        }
        "mv_count" => {
            let n = arg(0).items().len();
            if n == 0 {
                return None;
            }
            Value::Int(n as i64)
        }
        "mv_dedupe" => {
            let mut seen = std::collections::HashSet::new();
            Value::from_vec(
                arg(0)
                    .items()
                    .iter()
                    .filter(|v| seen.insert(Key::of(v)))
                    .cloned()
                    .collect(),
            )
        }
        "mv_first" => arg(0).items().first()?.clone(),
        "mv_last" => arg(0).items().last()?.clone(),
        "mv_min" | "mv_max" => {
            let items = arg(0).items();
            let mut best = items.first()?;
            for v in &items[1..] {
                let ord = compare(v, best)?;
                if (name == "mv_max" && ord.is_gt()) || (name == "mv_min" && ord.is_lt()) {
                    best = v;
                }
            }
            best.clone()
        }
        "mv_sum" => sum(arg(0).items())?,
        "mv_avg" => {
            let items = arg(0).items();
            let xs: Vec<f64> = items.iter().filter_map(|v| v.as_f64()).collect();
            if xs.is_empty() {
                return None;
            }
            Value::Double(xs.iter().sum::<f64>() / xs.len() as f64)
        }
        "mv_median" => median(arg(0).items())?,
        "mv_concat" => {
            let d = s(arg(1))?;
            let items = arg(0).items();
            if items.is_empty() {
                return None;
            }
            Value::Str(items.iter().map(string_of).collect::<Vec<_>>().join(d))
        }
        "mv_slice" => {
            let items = arg(0).items();
            let n = items.len() as i64;
            let norm = |x: i64| if x < 0 { n + x } else { x };
            let st = norm(i(arg(1))?);
            let en = if a.len() > 2 { norm(i(arg(2))?) } else { st };
            if st < 0 || en < st || st >= n {
                return None;
            }
            Value::from_vec(items[st as usize..=(en.min(n - 1) as usize)].to_vec())
        }
        "mv_sort" => {
            let mut items = arg(0).items().to_vec();
            let desc = if a.len() > 1 {
                s(arg(1))?.eq_ignore_ascii_case("desc")
            } else {
                false
            };
            items.sort_by(|x, y| compare(x, y).unwrap_or(std::cmp::Ordering::Equal));
            if desc {
                items.reverse();
            }
            Value::from_vec(items)
        }
        "mv_contains" => {
            let hay: BTreeSet<Key> = arg(0).items().iter().map(Key::of).collect();
            if arg(1).is_null() {
                return Some(Value::Bool(true));
            }
            Value::Bool(arg(1).items().iter().all(|v| hay.contains(&Key::of(v))))
        }
        "mv_append" => Value::from_vec(vec![arg(0).clone(), arg(1).clone()]),
        "st_distance" => match (single(arg(0))?, single(arg(1))?) {
            (Value::GeoPoint(lon1, lat1), Value::GeoPoint(lon2, lat2)) => {
                Value::Double(haversine(*lat1, *lon1, *lat2, *lon2))
            }
            _ => return None,
        },
        "st_x" => match single(arg(0))? {
            Value::GeoPoint(lon, _) => Value::Double(*lon),
            _ => return None,
        },
        "st_y" => match single(arg(0))? {
            Value::GeoPoint(_, lat) => Value::Double(*lat),
            _ => return None,
        },
        "json_extract" => {
            let text = s(arg(0))?;
            let path = s(arg(1))?;
            let doc: serde_json::Value = serde_json::from_str(text).ok()?;
            let found = json_path(&doc, path)?;
            match found {
                serde_json::Value::String(x) => Value::Str(x.clone()),
                serde_json::Value::Null => return None,
                other => Value::Str(other.to_string()),
            }
        }
        "match" => {
            // Full-text `match` query, default OR operator: any analyzed query token present.
            let q = tripline_ir::eval::tokenize(s(arg(1))?);
            if q.is_empty() {
                return Some(Value::Bool(false));
            }
            let any = arg(0).items().iter().any(|v| {
                let t = tripline_ir::eval::tokenize(&string_of(v));
                q.iter().any(|x| t.contains(x))
            });
            Value::Bool(any)
        }
        _ => return None,
    })
}

/// How TO_STRING renders a single value.
pub fn string_of(v: &Value) -> String {
    v.render()
}

fn to_long(v: &Value) -> Option<i64> {
    match v {
        Value::Int(x) | Value::Long(x) | Value::Date(x) => Some(*x),
        Value::Double(d) if d.is_finite() && d.abs() < 9.2e18 => Some(d.trunc() as i64),
        Value::Bool(b) => Some(*b as i64),
        Value::Str(x) => x.trim().parse::<i64>().ok().or_else(|| {
            x.trim()
                .parse::<f64>()
                .ok()
                .filter(|d| d.is_finite())
                .map(|d| d.trunc() as i64)
        }),
        _ => None,
    }
}

fn to_double(v: &Value) -> Option<f64> {
    match v {
        Value::Int(x) | Value::Long(x) | Value::Date(x) => Some(*x as f64),
        Value::Double(d) => Some(*d),
        Value::Bool(b) => Some(*b as i64 as f64),
        Value::Str(x) => x.trim().parse().ok(),
        _ => None,
    }
}

fn to_bool(v: &Value) -> Option<Value> {
    Some(Value::Bool(match v {
        Value::Bool(b) => *b,
        Value::Str(x) => x.eq_ignore_ascii_case("true"),
        Value::Int(x) | Value::Long(x) => *x != 0,
        Value::Double(d) => *d != 0.0,
        _ => return None,
    }))
}

/// Casts (`::type`) go through the TO_* conversions.
pub fn cast(v: &Value, ty: DataType) -> Value {
    let f = match ty {
        DataType::Keyword | DataType::Text => "to_string",
        DataType::Integer => "to_integer",
        DataType::Long => "to_long",
        DataType::Double => "to_double",
        DataType::Boolean => "to_boolean",
        DataType::Date => "to_datetime",
        DataType::Ip => "to_ip",
        DataType::GeoPoint => "to_geopoint",
        _ => return Value::Null,
    };
    scalar(f, std::slice::from_ref(v), 0)
}

fn sum(items: &[Value]) -> Option<Value> {
    if items.is_empty() {
        return None;
    }
    if items
        .iter()
        .all(|v| matches!(v, Value::Int(_) | Value::Long(_)))
    {
        let mut t: i64 = 0;
        for v in items {
            t = t.checked_add(v.as_i64()?)?;
        }
        Some(Value::Long(t))
    } else {
        let xs: Option<Vec<f64>> = items.iter().map(|v| v.as_f64()).collect();
        Some(num_result(xs?.iter().sum()))
    }
}

fn sorted_f64(items: &[Value]) -> Option<Vec<f64>> {
    let mut xs: Vec<f64> = items.iter().filter_map(|v| v.as_f64()).collect();
    if xs.is_empty() {
        return None;
    }
    xs.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    Some(xs)
}

fn percentile_of(xs: &[f64], p: f64) -> f64 {
    // Linear interpolation between closest ranks (what ES's t-digest converges to on
    // small inputs).
    if xs.len() == 1 {
        return xs[0];
    }
    let rank = (p / 100.0).clamp(0.0, 1.0) * (xs.len() - 1) as f64;
    let lo = rank.floor() as usize;
    let hi = rank.ceil() as usize;
    xs[lo] + (xs[hi] - xs[lo]) * (rank - lo as f64)
}

fn median(items: &[Value]) -> Option<Value> {
    let xs = sorted_f64(items)?;
    Some(Value::Double(percentile_of(&xs, 50.0)))
}

/// Computes an aggregate over the argument values of the rows of one group.
///
/// `vals[k]` holds the evaluated first argument of each row (multi-values included); for
/// FIRST/LAST/WEIGHTED_AVG `sort_keys[k]` holds the second argument; `params` are the
/// constant arguments (PERCENTILE's percentile, TOP's limit and order).
pub fn aggregate(func: &str, vals: &[Value], sort_keys: &[Value], params: &[Value]) -> Value {
    let items: Vec<&Value> = vals.iter().flat_map(|v| v.items()).collect();
    let owned = || items.iter().map(|v| (*v).clone()).collect::<Vec<_>>();
    match func {
        // COUNT(*) is counted by the caller (it needs no values); COUNT(x) counts values.
        "count" => Value::Long(items.len() as i64),
        // Exact: Elasticsearch approximates COUNT_DISTINCT with HyperLogLog++ above its
        // precision threshold (default 3000); Tripline counts exactly.
        "count_distinct" => Value::Long(
            items
                .iter()
                .map(|v| Key::of(v))
                .collect::<BTreeSet<_>>()
                .len() as i64,
        ),
        "values" => {
            let mut seen = std::collections::HashSet::new();
            let mut out: Vec<Value> = items
                .iter()
                .filter(|v| seen.insert(Key::of(v)))
                .map(|v| (*v).clone())
                .collect();
            // ES returns VALUES in an unspecified order; sort for deterministic output.
            out.sort_by(|a, b| compare(a, b).unwrap_or(std::cmp::Ordering::Equal));
            Value::from_vec(out)
        }
        "min" | "max" => {
            let mut best: Option<&Value> = None;
            for v in &items {
                best = match best {
                    None => Some(v),
                    Some(b) => match compare(v, b) {
                        Some(o) if (func == "max" && o.is_gt()) || (func == "min" && o.is_lt()) => {
                            Some(v)
                        }
                        _ => Some(b),
                    },
                };
            }
            best.cloned().unwrap_or(Value::Null)
        }
        "sum" => sum(&owned()).unwrap_or(Value::Null),
        "avg" => {
            let xs: Vec<f64> = items.iter().filter_map(|v| v.as_f64()).collect();
            if xs.is_empty() {
                Value::Null
            } else {
                Value::Double(xs.iter().sum::<f64>() / xs.len() as f64)
            }
        }
        "median" => median(&owned()).unwrap_or(Value::Null),
        "percentile" => {
            let p = params.first().and_then(|p| p.as_f64());
            match (sorted_f64(&owned()), p) {
                (Some(xs), Some(p)) => Value::Double(percentile_of(&xs, p)),
                _ => Value::Null,
            }
        }
        "median_absolute_deviation" => match sorted_f64(&owned()) {
            Some(xs) => {
                let m = percentile_of(&xs, 50.0);
                let mut dev: Vec<f64> = xs.iter().map(|x| (x - m).abs()).collect();
                dev.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
                Value::Double(percentile_of(&dev, 50.0))
            }
            None => Value::Null,
        },
        "std_dev" => {
            let xs: Vec<f64> = items.iter().filter_map(|v| v.as_f64()).collect();
            if xs.is_empty() {
                return Value::Null;
            }
            let m = xs.iter().sum::<f64>() / xs.len() as f64;
            Value::Double(
                (xs.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / xs.len() as f64).sqrt(),
            )
        }
        "weighted_avg" => {
            let (mut num, mut den) = (0.0, 0.0);
            for (v, w) in vals.iter().zip(sort_keys) {
                if let (Some(v), Some(w)) = (f(v), f(w)) {
                    num += v * w;
                    den += w;
                }
            }
            if den == 0.0 {
                Value::Null
            } else {
                Value::Double(num / den)
            }
        }
        "first" | "last" => {
            // The value at the row whose sort key is smallest (FIRST) / largest (LAST).
            let mut best: Option<(&Value, &Value)> = None;
            for (v, k) in vals.iter().zip(sort_keys) {
                let Some(k1) = single(k) else { continue };
                best = match best {
                    None => Some((v, k1)),
                    Some((bv, bk)) => match compare(k1, bk) {
                        Some(o)
                            if (func == "first" && o.is_lt()) || (func == "last" && o.is_gt()) =>
                        {
                            Some((v, k1))
                        }
                        _ => Some((bv, bk)),
                    },
                };
            }
            best.map(|(v, _)| v.clone()).unwrap_or(Value::Null)
        }
        "top" => {
            let n = params.first().and_then(|p| p.as_i64()).unwrap_or(1).max(0) as usize;
            let desc = params
                .get(1)
                .and_then(|p| p.as_str())
                .is_some_and(|o| o.eq_ignore_ascii_case("desc"));
            let mut xs = owned();
            xs.sort_by(|a, b| compare(a, b).unwrap_or(std::cmp::Ordering::Equal));
            if desc {
                xs.reverse();
            }
            xs.truncate(n);
            Value::from_vec(xs)
        }
        _ => Value::Null,
    }
}

// ---- dates ----

fn dt(ms: i64) -> Option<DateTime<Utc>> {
    Utc.timestamp_millis_opt(ms).single()
}

fn month_index(d: &DateTime<Utc>) -> i64 {
    d.year() as i64 * 12 + d.month0() as i64
}

fn from_month_index(m: i64) -> Option<i64> {
    let y = i32::try_from(m.div_euclid(12)).ok()?;
    let mo = (m.rem_euclid(12) + 1) as u32;
    Some(
        Utc.from_utc_datetime(&NaiveDate::from_ymd_opt(y, mo, 1)?.and_hms_opt(0, 0, 0)?)
            .timestamp_millis(),
    )
}

/// DATE_TRUNC: fixed spans round down from the epoch (a week from Monday, as Elasticsearch's
/// calendar week rounding does); calendar periods round to month/quarter/year starts.
fn date_trunc(interval: &Value, ms: i64) -> Option<i64> {
    match interval {
        Value::Duration(d) if *d == 7 * 86_400_000 => {
            // 1970-01-01 was a Thursday; Monday-aligned weeks start 3 days before/after.
            let offset = 4 * 86_400_000;
            Some((ms - offset).div_euclid(*d) * d + offset)
        }
        Value::Duration(d) if *d > 0 => Some(ms.div_euclid(*d) * d),
        Value::Period { months, days: 0 } if *months > 0 => {
            let m = month_index(&dt(ms)?);
            let months = *months as i64;
            from_month_index(m.div_euclid(months) * months)
        }
        _ => None,
    }
}

fn date_diff(unit: &str, start: i64, end: i64) -> Option<i64> {
    let span = end.checked_sub(start)?;
    let by = |u: i64| Some(span / u);
    match unit.to_ascii_lowercase().as_str() {
        "millisecond" | "milliseconds" | "ms" => Some(span),
        "microsecond" | "microseconds" | "mcs" => span.checked_mul(1_000),
        "nanosecond" | "nanoseconds" | "ns" => span.checked_mul(1_000_000),
        "second" | "seconds" | "ss" | "s" => by(1_000),
        "minute" | "minutes" | "mi" | "n" => by(60_000),
        "hour" | "hours" | "hh" => by(3_600_000),
        "day" | "days" | "dd" | "d" | "dayofyear" | "dy" | "y" | "weekday" | "weekdays" | "dw" => {
            by(86_400_000)
        }
        "week" | "weeks" | "wk" | "ww" => by(7 * 86_400_000),
        "month" | "months" | "mm" | "m" | "quarter" | "quarters" | "qq" | "q" | "year"
        | "years" | "yyyy" | "yy" => {
            let (a, b) = (dt(start)?, dt(end)?);
            let mut months = month_index(&b) - month_index(&a);
            // Whole months only: back off one when the end's day/time is before the start's.
            let a_rest = (
                a.day(),
                a.num_seconds_from_midnight(),
                a.timestamp_subsec_millis(),
            );
            let b_rest = (
                b.day(),
                b.num_seconds_from_midnight(),
                b.timestamp_subsec_millis(),
            );
            if months > 0 && b_rest < a_rest {
                months -= 1;
            } else if months < 0 && b_rest > a_rest {
                months += 1;
            }
            let u = unit.to_ascii_lowercase();
            Some(match u.as_str() {
                "quarter" | "quarters" | "qq" | "q" => months / 3,
                "year" | "years" | "yyyy" | "yy" => months / 12,
                _ => months,
            })
        }
        _ => None,
    }
}

fn date_extract(part: &str, ms: i64) -> Option<i64> {
    let d = dt(ms)?;
    Some(match part.to_ascii_lowercase().as_str() {
        "year" => d.year() as i64,
        "month_of_year" => d.month() as i64,
        "day_of_month" => d.day() as i64,
        "day_of_week" => d.weekday().number_from_monday() as i64,
        "day_of_year" => d.ordinal() as i64,
        "hour_of_day" => d.hour() as i64,
        "minute_of_hour" => d.minute() as i64,
        "minute_of_day" => (d.hour() * 60 + d.minute()) as i64,
        "second_of_minute" => d.second() as i64,
        "second_of_day" => d.num_seconds_from_midnight() as i64,
        "milli_of_second" => d.timestamp_subsec_millis() as i64,
        "aligned_week_of_year" => ((d.ordinal() - 1) / 7 + 1) as i64,
        "epoch_day" => ms.div_euclid(86_400_000),
        _ => return None,
    })
}

/// Renders a date with a Java `DateTimeFormatter` pattern (the letters rules use).
fn java_format(fmt: &str, ms: i64) -> Option<String> {
    let d = dt(ms)?;
    let mut out = String::new();
    let chars: Vec<char> = fmt.chars().collect();
    let mut k = 0;
    while k < chars.len() {
        let c = chars[k];
        if c == '\'' {
            k += 1;
            if k < chars.len() && chars[k] == '\'' {
                out.push('\'');
                k += 1;
                continue;
            }
            while k < chars.len() && chars[k] != '\'' {
                out.push(chars[k]);
                k += 1;
            }
            k += 1;
            continue;
        }
        if !c.is_ascii_alphabetic() {
            out.push(c);
            k += 1;
            continue;
        }
        let mut n = 1;
        while k + n < chars.len() && chars[k + n] == c {
            n += 1;
        }
        k += n;
        let pad = |v: i64, w: usize| format!("{v:0w$}");
        match c {
            'y' | 'u' | 'Y' => {
                let y = if c == 'Y' {
                    d.iso_week().year() as i64
                } else {
                    d.year() as i64
                };
                out.push_str(&if n == 2 {
                    pad(y.rem_euclid(100), 2)
                } else {
                    pad(y, n)
                });
            }
            'M' | 'L' => match n {
                1 | 2 => out.push_str(&pad(d.month() as i64, n)),
                3 => out.push_str(&d.format("%b").to_string()),
                _ => out.push_str(&d.format("%B").to_string()),
            },
            'd' => out.push_str(&pad(d.day() as i64, n)),
            'D' => out.push_str(&pad(d.ordinal() as i64, n)),
            'H' => out.push_str(&pad(d.hour() as i64, n)),
            'h' => out.push_str(&pad(d.hour12().1 as i64, n)),
            'm' => out.push_str(&pad(d.minute() as i64, n)),
            's' => out.push_str(&pad(d.second() as i64, n)),
            'S' => {
                let frac = format!("{:09}", d.timestamp_subsec_nanos());
                out.push_str(&frac[..n.min(9)]);
            }
            'E' => out.push_str(&if n >= 4 {
                d.format("%A").to_string()
            } else {
                d.format("%a").to_string()
            }),
            'a' => out.push_str(if d.hour() < 12 { "AM" } else { "PM" }),
            'e' => out.push_str(&pad(d.weekday().number_from_monday() as i64, n)),
            'w' => out.push_str(&pad(d.iso_week().week() as i64, n)),
            'X' => out.push('Z'),
            'x' | 'Z' => out.push_str("+0000"),
            'z' | 'V' => out.push_str("UTC"),
            _ => return None,
        }
    }
    Some(out)
}

fn haversine(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    // Spatial distance on the sphere Elasticsearch uses for geo_point (mean radius).
    const R: f64 = 6_371_008.771_4;
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = (lat2 - lat1).to_radians();
    let dl = (lon2 - lon1).to_radians();
    let h = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * R * h.sqrt().min(1.0).asin()
}

/// `$.a.b[0].c` / `a.b` / `['a.b']` path lookup.
fn json_path<'a>(doc: &'a serde_json::Value, path: &str) -> Option<&'a serde_json::Value> {
    let mut p = path.trim();
    p = p.strip_prefix('$').unwrap_or(p);
    let mut cur = doc;
    let mut rest = p;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            rest = r;
            continue;
        }
        if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']')?;
            let inner = r[..end].trim();
            rest = &r[end + 1..];
            if let Ok(idx) = inner.parse::<usize>() {
                cur = cur.get(idx)?;
            } else {
                let key = inner.trim_matches(|c| c == '\'' || c == '"');
                cur = lookup_key(cur, key)?;
            }
            continue;
        }
        let end = rest.find(['.', '[']).unwrap_or(rest.len());
        let key = &rest[..end];
        rest = &rest[end..];
        cur = lookup_key(cur, key)?;
    }
    Some(cur)
}

fn lookup_key<'a>(v: &'a serde_json::Value, key: &str) -> Option<&'a serde_json::Value> {
    v.as_object()?.get(key)
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn base64_encode(data: &[u8]) -> String {
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for k in 0..4 {
            if k <= chunk.len() {
                out.push(B64[((n >> (18 - 6 * k)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Standard base64 (padding optional); `None` on invalid input, as ES|QL returns null then.
fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let mut buf = 0u32;
    let mut bits = 0;
    let mut out = Vec::new();
    let trimmed = s.trim().trim_end_matches('=');
    for c in trimmed.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        } as u32;
        buf = buf << 6 | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buf >> bits) as u8);
            buf &= (1 << bits) - 1;
        }
    }
    if trimmed.len() % 4 == 1 {
        return None;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(x: &str) -> Value {
        Value::Str(x.into())
    }

    #[test]
    fn string_functions_and_null_propagation() {
        assert_eq!(
            scalar("concat", &[st("a"), st("-"), Value::Int(1)], 0),
            st("a-1")
        );
        assert_eq!(scalar("concat", &[st("a"), Value::Null], 0), Value::Null);
        assert_eq!(
            scalar("to_lower", &[Value::Multi(vec![st("A"), st("B")])], 0),
            Value::Null
        );
        assert_eq!(
            scalar(
                "to_string",
                &[Value::Multi(vec![Value::Int(1), Value::Int(2)])],
                0
            ),
            Value::Multi(vec![st("1"), st("2")])
        );
        assert_eq!(
            scalar("substring", &[st("hello"), Value::Int(2), Value::Int(3)], 0),
            st("ell")
        );
        assert_eq!(
            scalar("replace", &[st(r"a\b\c"), st(r"\\"), st("")], 0),
            st("abc")
        );
        assert_eq!(scalar("split", &[st("a/b/c"), st("/")], 0).items().len(), 3);
        assert_eq!(
            scalar("from_base64", &[st("aGVsbG8gd29ybGQ=")], 0),
            st("hello world")
        );
        assert_eq!(
            scalar("to_base64", &[st("hello world")], 0),
            st("aGVsbG8gd29ybGQ=")
        );
        assert_eq!(scalar("from_base64", &[st("!!")], 0), Value::Null);
        assert_eq!(
            scalar("case", &[Value::Null, Value::Int(1), Value::Int(0)], 0),
            Value::Int(0)
        );
        assert_eq!(scalar("coalesce", &[Value::Null, st("x")], 0), st("x"));
    }

    #[test]
    fn date_functions() {
        let t = tripline_doc::time::parse_millis("2024-03-15T10:47:31.500Z").unwrap();
        let trunc = |iv: Value| tripline_doc::time::format_millis(date_trunc(&iv, t).unwrap());
        assert_eq!(trunc(Value::Duration(30_000)), "2024-03-15T10:47:30.000Z");
        assert_eq!(trunc(Value::Duration(600_000)), "2024-03-15T10:40:00.000Z");
        assert_eq!(
            trunc(Value::Duration(7 * 86_400_000)),
            "2024-03-11T00:00:00.000Z"
        );
        assert_eq!(
            trunc(Value::Period { months: 1, days: 0 }),
            "2024-03-01T00:00:00.000Z"
        );
        assert_eq!(
            trunc(Value::Period {
                months: 12,
                days: 0
            }),
            "2024-01-01T00:00:00.000Z"
        );
        let later = t + 3_700_000;
        assert_eq!(date_diff("seconds", t, later), Some(3700));
        assert_eq!(date_diff("hour", t, later), Some(1));
        let feb = tripline_doc::time::parse_millis("2024-04-15T10:47:31.000Z").unwrap();
        assert_eq!(date_diff("month", t, feb), Some(0));
        assert_eq!(
            java_format("yyyy-MM-dd HH:mm", t).unwrap(),
            "2024-03-15 10:47"
        );
    }

    #[test]
    fn aggregates() {
        let vals = vec![
            Value::Long(3),
            Value::Multi(vec![Value::Long(1), Value::Long(3)]),
            Value::Null,
        ];
        assert_eq!(aggregate("count", &vals, &[], &[]), Value::Long(3));
        assert_eq!(aggregate("count_distinct", &vals, &[], &[]), Value::Long(2));
        assert_eq!(
            aggregate("values", &vals, &[], &[]),
            Value::Multi(vec![Value::Long(1), Value::Long(3)])
        );
        assert_eq!(aggregate("sum", &vals, &[], &[]), Value::Long(7));
        assert_eq!(aggregate("max", &vals, &[], &[]), Value::Long(3));
        assert_eq!(aggregate("min", &[], &[], &[]), Value::Null);
        let keys = vec![Value::Date(5), Value::Date(1), Value::Date(9)];
        let v = vec![st("b"), st("a"), st("c")];
        assert_eq!(aggregate("first", &v, &keys, &[]), st("a"));
        assert_eq!(aggregate("last", &v, &keys, &[]), st("c"));
    }

    #[test]
    fn ip_and_geo() {
        let ip = Value::Ip("10.1.2.3".parse().unwrap());
        assert_eq!(
            scalar("cidr_match", &[ip.clone(), st("10.0.0.0/8")], 0),
            Value::Bool(true)
        );
        assert_eq!(
            scalar(
                "cidr_match",
                &[ip, st("192.168.0.0/16"), st("11.0.0.0/8")],
                0
            ),
            Value::Bool(false)
        );
        let p1 = scalar("to_geopoint", &[st("POINT(0 0)")], 0);
        let p2 = scalar("to_geopoint", &[st("POINT(0 1)")], 0);
        let d = scalar("st_distance", &[p1, p2], 0).as_f64().unwrap();
        assert!((d - 111_195.0).abs() < 100.0, "{d}");
    }

    #[test]
    fn json_extract_paths() {
        let doc = st(r#"{"a":{"b":[{"c":"x"}],"n":2}}"#);
        assert_eq!(
            scalar("json_extract", &[doc.clone(), st("$.a.b[0].c")], 0),
            st("x")
        );
        assert_eq!(
            scalar("json_extract", &[doc.clone(), st("a.n")], 0),
            st("2")
        );
        assert_eq!(scalar("json_extract", &[doc, st("$.zz")], 0), Value::Null);
    }

    #[test]
    fn arity_and_unknown_functions() {
        assert!(check_call("to_lower", 1).is_ok());
        assert_eq!(
            check_call("to_lower", 2).unwrap_err().0,
            ErrorKind::Verification
        );
        assert_eq!(
            check_call("frobnicate", 1).unwrap_err().0,
            ErrorKind::Unsupported
        );
    }
}
