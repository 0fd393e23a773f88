//! Evaluation of leaf queries against a document, with Elasticsearch's per-type semantics.
//! A multi-valued field matches when any of its values matches; a missing field matches no
//! positive leaf (so `Not(leaf)` matches it, like a `must_not` clause).

use std::net::IpAddr;
use std::sync::Arc;

use serde_json::Value;
use tripline_doc::{time, Document, FieldType};

use crate::{Bound, Literal, Predicate};

pub fn matches(p: &Predicate, doc: &Document) -> bool {
    match p {
        Predicate::Const(b) => *b,
        Predicate::And(ps) => ps.iter().all(|p| matches(p, doc)),
        Predicate::Or(ps) => ps.iter().any(|p| matches(p, doc)),
        Predicate::Not(p) => !matches(p, doc),
        Predicate::Exists(f) => doc.exists(&f.source),
        Predicate::Term { field, value, case_insensitive } => {
            doc.values(&field.source).iter().any(|v| term_eq(field.ty, v, value, *case_insensitive))
        }
        Predicate::Terms { field, values, case_insensitive } => doc
            .values(&field.source)
            .iter()
            .any(|v| values.iter().any(|lit| term_eq(field.ty, v, lit, *case_insensitive))),
        Predicate::Match { field, value, phrase } => {
            doc.values(&field.source).iter().any(|v| match_eq(field.ty, v, value, *phrase))
        }
        Predicate::Wildcard { field, pattern } => {
            doc.values(&field.source).iter().any(|v| value_as_string(v).is_some_and(|s| pattern.matches(&s)))
        }
        Predicate::Regex { field, regex } => {
            doc.values(&field.source).iter().any(|v| value_as_string(v).is_some_and(|s| regex.is_match(&s)))
        }
        Predicate::Range { field, lower, upper } => {
            doc.values(&field.source).iter().any(|v| in_range(field.ty, v, lower.as_ref(), upper.as_ref()))
        }
        Predicate::Cidr { field, nets } => doc.values(&field.source).iter().any(|v| {
            v.as_str().and_then(|s| s.parse::<IpAddr>().ok()).is_some_and(|ip| nets.iter().any(|n| n.contains(&ip)))
        }),
        Predicate::Script(e) => crate::scalar::eval_bool(e, doc),
    }
}

/// How a stored value renders as a keyword (numbers and booleans as Elasticsearch would
/// coerce them into a keyword field).
pub fn value_as_string(v: &Value) -> Option<std::borrow::Cow<'_, str>> {
    match v {
        Value::String(s) => Some(std::borrow::Cow::Borrowed(s)),
        Value::Number(n) => Some(std::borrow::Cow::Owned(n.to_string())),
        Value::Bool(b) => Some(std::borrow::Cow::Borrowed(if *b { "true" } else { "false" })),
        _ => None,
    }
}

fn lit_as_string(l: &Literal) -> Option<std::borrow::Cow<'_, str>> {
    match l {
        Literal::Str(s) => Some(std::borrow::Cow::Borrowed(s)),
        Literal::Int(i) => Some(std::borrow::Cow::Owned(i.to_string())),
        Literal::Float(f) => Some(std::borrow::Cow::Owned(f.to_string())),
        Literal::Bool(b) => Some(std::borrow::Cow::Borrowed(if *b { "true" } else { "false" })),
        Literal::Null => None,
    }
}

fn lit_as_f64(l: &Literal) -> Option<f64> {
    match l {
        Literal::Int(i) => Some(*i as f64),
        Literal::Float(f) => Some(*f),
        Literal::Str(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn value_as_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn term_eq(ty: Option<FieldType>, v: &Value, lit: &Literal, ci: bool) -> bool {
    match ty {
        Some(t) if t.is_numeric() => match (value_as_f64(v), lit_as_f64(lit)) {
            (Some(a), Some(b)) => a == b,
            _ => false,
        },
        Some(FieldType::Ip) => {
            let Some(s) = lit_as_string(lit) else { return false };
            let Some(ip) = v.as_str().and_then(|s| s.parse::<IpAddr>().ok()) else { return false };
            if let Ok(net) = s.parse::<ipnet::IpNet>() {
                net.contains(&ip)
            } else {
                s.parse::<IpAddr>().is_ok_and(|l| l == ip)
            }
        }
        Some(t) if t.is_date() => match (time::value_to_millis(v), lit_as_string(lit).and_then(|s| time::parse_millis(&s))) {
            (Some(a), Some(b)) => a == b,
            _ => false,
        },
        Some(FieldType::Boolean) => {
            let want = match lit {
                Literal::Bool(b) => *b,
                Literal::Str(s) if s == "true" => true,
                Literal::Str(s) if s == "false" => false,
                _ => return false,
            };
            match v {
                Value::Bool(b) => *b == want,
                Value::String(s) => (s == "true" && want) || (s == "false" && !want),
                _ => false,
            }
        }
        Some(t) if t.is_text() => match_eq(ty, v, lit, false),
        _ => match (value_as_string(v), lit_as_string(lit)) {
            (Some(a), Some(b)) => {
                if ci {
                    a.to_lowercase() == b.to_lowercase()
                } else {
                    a == b
                }
            }
            _ => false,
        },
    }
}

/// Standard-analyzer-like tokenization: lowercase runs of letters/digits (and `_`).
pub fn tokenize(s: &str) -> Vec<String> {
    s.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '\''))
        .filter(|t| !t.is_empty())
        .map(|t| t.to_lowercase())
        .collect()
}

fn match_eq(ty: Option<FieldType>, v: &Value, lit: &Literal, phrase: bool) -> bool {
    if !ty.is_some_and(|t| t.is_text()) {
        return term_eq(ty, v, lit, false);
    }
    let (Some(text), Some(q)) = (value_as_string(v), lit_as_string(lit)) else { return false };
    let doc_toks = tokenize(&text);
    let q_toks = tokenize(&q);
    if q_toks.is_empty() {
        return false;
    }
    if phrase {
        doc_toks.windows(q_toks.len()).any(|w| w == q_toks.as_slice())
    } else {
        q_toks.iter().all(|t| doc_toks.contains(t))
    }
}

fn in_range(ty: Option<FieldType>, v: &Value, lo: Option<&Bound>, hi: Option<&Bound>) -> bool {
    fn check<T: PartialOrd>(x: T, lo: Option<(T, bool)>, hi: Option<(T, bool)>) -> bool {
        let lo_ok = lo.is_none_or(|(b, inc)| if inc { x >= b } else { x > b });
        let hi_ok = hi.is_none_or(|(b, inc)| if inc { x <= b } else { x < b });
        lo_ok && hi_ok
    }
    match ty {
        Some(t) if t.is_date() => {
            let conv = |b: &Bound| lit_as_string(&b.value).and_then(|s| time::parse_millis(&s)).map(|m| (m, b.inclusive));
            let (Some(x), lo, hi) = (time::value_to_millis(v), lo.map(conv), hi.map(conv)) else { return false };
            if lo.as_ref().is_some_and(|l| l.is_none()) || hi.as_ref().is_some_and(|h| h.is_none()) {
                return false;
            }
            check(x, lo.flatten(), hi.flatten())
        }
        Some(FieldType::Ip) => {
            let conv = |b: &Bound| lit_as_string(&b.value).and_then(|s| s.parse::<IpAddr>().ok()).map(|m| (m, b.inclusive));
            let Some(x) = v.as_str().and_then(|s| s.parse::<IpAddr>().ok()) else { return false };
            check(x, lo.and_then(conv), hi.and_then(conv))
        }
        Some(t) if t.is_numeric() => {
            let conv = |b: &Bound| lit_as_f64(&b.value).map(|m| (m, b.inclusive));
            let Some(x) = value_as_f64(v) else { return false };
            check(x, lo.and_then(conv), hi.and_then(conv))
        }
        _ => {
            // Keyword ranges compare strings lexicographically (byte order).
            let conv = |b: &Bound| lit_as_string(&b.value).map(|m| (m.into_owned(), b.inclusive));
            let Some(x) = value_as_string(v) else { return false };
            check(x.into_owned(), lo.and_then(conv), hi.and_then(conv))
        }
    }
}

pub fn required_values(p: &Predicate, field: &str) -> Option<Vec<String>> {
    match p {
        Predicate::Term { field: f, value: Literal::Str(s), case_insensitive: false }
            if &*f.source == field && f.ty.is_none_or(|t| t.is_keyword_like()) =>
        {
            Some(vec![s.clone()])
        }
        Predicate::Match { field: f, value: Literal::Str(s), .. }
            if &*f.source == field && f.ty.is_some_and(|t| t.is_keyword_like()) =>
        {
            Some(vec![s.clone()])
        }
        Predicate::Terms { field: f, values, case_insensitive: false }
            if &*f.source == field && f.ty.is_none_or(|t| t.is_keyword_like()) =>
        {
            values.iter().map(|v| if let Literal::Str(s) = v { Some(s.clone()) } else { None }).collect()
        }
        Predicate::And(ps) => {
            // The intersection of constrained children (any one constraint suffices; take the smallest).
            ps.iter().filter_map(|c| required_values(c, field)).min_by_key(|v| v.len())
        }
        Predicate::Or(ps) => {
            let mut all = Vec::new();
            for c in ps {
                all.extend(required_values(c, field)?);
            }
            all.sort();
            all.dedup();
            Some(all)
        }
        Predicate::Const(false) => Some(Vec::new()),
        _ => None,
    }
}

pub fn collect_fields(p: &Predicate, out: &mut Vec<Arc<str>>) {
    match p {
        Predicate::Const(_) => {}
        Predicate::And(ps) | Predicate::Or(ps) => ps.iter().for_each(|c| collect_fields(c, out)),
        Predicate::Not(c) => collect_fields(c, out),
        Predicate::Exists(f)
        | Predicate::Term { field: f, .. }
        | Predicate::Match { field: f, .. }
        | Predicate::Terms { field: f, .. }
        | Predicate::Wildcard { field: f, .. }
        | Predicate::Regex { field: f, .. }
        | Predicate::Range { field: f, .. }
        | Predicate::Cidr { field: f, .. } => out.push(f.name.clone()),
        Predicate::Script(e) => collect_script_fields(e, out),
    }
}

fn collect_script_fields(e: &crate::scalar::Expr, out: &mut Vec<Arc<str>>) {
    use crate::scalar::Expr;
    match e {
        Expr::Literal(_) => {}
        Expr::Field { field, .. } => out.push(field.name.clone()),
        Expr::Call { args, .. } => args.iter().for_each(|a| collect_script_fields(a, out)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FieldRef, FieldTypes};
    use serde_json::json;

    fn doc(v: Value) -> Document {
        Document(v.as_object().unwrap().clone())
    }

    #[test]
    fn keyword_term_is_case_sensitive_and_multivalued() {
        let t = FieldTypes::builtin();
        let d = doc(json!({"event": {"category": ["iam", "configuration"], "action": "CreateUser"}}));
        let term = |f: &str, v: &str, ci| Predicate::Term { field: FieldRef::resolve(f, t), value: Literal::Str(v.into()), case_insensitive: ci };
        assert!(term("event.category", "iam", false).matches(&d));
        assert!(term("event.category", "configuration", false).matches(&d));
        assert!(!term("event.action", "createuser", false).matches(&d));
        assert!(term("event.action", "createuser", true).matches(&d));
        assert!(Predicate::Not(Box::new(term("event.outcome", "success", false))).matches(&d));
    }

    #[test]
    fn ip_cidr_and_required_values() {
        let t = FieldTypes::builtin();
        let d = doc(json!({"source": {"ip": "10.1.2.3"}, "event": {"provider": "iam.amazonaws.com"}}));
        let p = Predicate::Term { field: FieldRef::resolve("source.ip", t), value: Literal::Str("10.0.0.0/8".into()), case_insensitive: false };
        assert!(p.matches(&d));
        let q = Predicate::And(vec![
            Predicate::Terms { field: FieldRef::resolve("event.provider", t), values: vec![Literal::Str("iam.amazonaws.com".into()), Literal::Str("sts.amazonaws.com".into())], case_insensitive: false },
            p,
        ]);
        assert_eq!(q.required_values("event.provider").unwrap().len(), 2);
        assert_eq!(q.required_values("event.action"), None);
    }
}
