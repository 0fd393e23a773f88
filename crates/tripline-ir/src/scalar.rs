//! Script expressions: conditions with no query-DSL equivalent (EQL functions, arithmetic,
//! comparisons between computed values). Values follow EQL's model (Elasticsearch's
//! `InternalQlScriptUtils` / `InternalEqlScriptUtils`): null propagates through functions,
//! arithmetic and comparisons; `and`/`or` are three-valued (`null and false` is `false`,
//! `null or true` is `true`); the enclosing [`crate::Predicate::Script`] is true only when the
//! result is boolean `true`.
//!
//! Operators are encoded as [`Expr::Call`]s with these names, so the expression tree stays three
//! variants wide: `==` `!=` `<` `<=` `>` `>=` (`case_insensitive` for string equality), `and`,
//! `or`, `not`, `is_null`, `is_not_null`, `neg`, `in` (first argument the value, the rest the
//! list), `seq` (`:`: case-insensitive equality where string literals may hold `*`/`?`
//! wildcards), `like` / `regex` (first argument the value, the rest literal patterns), and the
//! EQL functions by lowercase name: `add`, `between`, `cidrmatch`, `concat`, `divide`,
//! `endswith`, `indexof`, `length`, `modulo`, `multiply`, `number`, `startswith`, `string`,
//! `stringcontains`, `substring`, `subtract`.
//!
//! Owned by the EQL work; KQL never produces these.

use std::cmp::Ordering;
use std::net::IpAddr;
use std::sync::Arc;

use serde_json::{Number, Value};

use crate::FieldRef;
use tripline_doc::{Document, FieldType};

/// A scalar expression.
#[derive(Debug, Clone)]
pub enum Expr {
    Literal(Value),
    /// A field's value; multi-valued fields yield their first value (as painless does with
    /// `doc[f].value`). `optional` marks EQL's `?field`.
    Field {
        field: FieldRef,
        optional: bool,
    },
    /// A function or operator call by its (lowercase) name; evaluation is in [`eval`].
    Call {
        name: Arc<str>,
        args: Vec<Expr>,
        case_insensitive: bool,
    },
}

impl Expr {
    /// Shorthand for an operator/function node.
    pub fn call(name: &str, args: Vec<Expr>, case_insensitive: bool) -> Expr {
        Expr::Call {
            name: name.into(),
            args,
            case_insensitive,
        }
    }

    /// True when the expression reads no field (it can be folded to a constant).
    pub fn is_constant(&self) -> bool {
        match self {
            Expr::Literal(_) => true,
            Expr::Field { .. } => false,
            Expr::Call { args, .. } => args.iter().all(Expr::is_constant),
        }
    }
}

/// Per-field value overrides while a condition is tried against each value of a multi-valued
/// field.
type Overrides<'a> = [(&'a str, &'a Value)];

/// Evaluates an expression to a JSON value (`Null` for missing or null results). A
/// multi-valued field yields its first value.
pub fn eval(expr: &Expr, doc: &Document) -> Value {
    ev(expr, doc, &[])
}

fn ev(expr: &Expr, doc: &Document, ov: &Overrides) -> Value {
    match expr {
        Expr::Literal(v) => v.clone(),
        Expr::Field { field, .. } => match ov.iter().find(|(f, _)| *f == &*field.source) {
            Some((_, v)) => convert(field, v),
            None => field_value(field, doc),
        },
        Expr::Call {
            name,
            args,
            case_insensitive,
        } => call(name, args, *case_insensitive, doc, ov),
    }
}

/// Most combinations of multi-valued field values a condition is tried with.
const MAX_COMBINATIONS: usize = 256;

/// Evaluates a script condition: true only for boolean `true`.
///
/// Like Elasticsearch's multi-value-aware script queries, a condition over multi-valued fields
/// is true when it holds for some combination of their values (bounded to
/// [`MAX_COMBINATIONS`]; beyond that the first values are used).
pub fn eval_bool(expr: &Expr, doc: &Document) -> bool {
    let mut fields: Vec<&str> = Vec::new();
    collect_sources(expr, &mut fields);
    fields.sort_unstable();
    fields.dedup();
    let multi: Vec<(&str, smallvec::SmallVec<[&Value; 2]>)> = fields
        .into_iter()
        .map(|f| (f, doc.values(f)))
        .filter(|(_, v)| v.len() > 1)
        .collect();
    let combos = multi
        .iter()
        .try_fold(1usize, |acc, (_, v)| acc.checked_mul(v.len()));
    match combos {
        Some(n) if n > 1 && n <= MAX_COMBINATIONS => {
            let mut ov: Vec<(&str, &Value)> = multi.iter().map(|(f, v)| (*f, v[0])).collect();
            for mut i in 0..n {
                for (slot, (_, vals)) in ov.iter_mut().zip(&multi) {
                    slot.1 = vals[i % vals.len()];
                    i /= vals.len();
                }
                if matches!(ev(expr, doc, &ov), Value::Bool(true)) {
                    return true;
                }
            }
            false
        }
        _ => matches!(eval(expr, doc), Value::Bool(true)),
    }
}

fn collect_sources<'a>(e: &'a Expr, out: &mut Vec<&'a str>) {
    match e {
        Expr::Literal(_) => {}
        Expr::Field { field, .. } => out.push(&field.source),
        Expr::Call { args, .. } => args.iter().for_each(|a| collect_sources(a, out)),
    }
}

/// A field's script value: its first value, converted the way the field's doc values hold it
/// (numbers in numeric fields even when `_source` has a string, strings in keyword fields).
pub fn field_value(field: &FieldRef, doc: &Document) -> Value {
    match doc.first(&field.source) {
        Some(v) => convert(field, v),
        None => Value::Null,
    }
}

fn convert(field: &FieldRef, v: &Value) -> Value {
    match field.ty {
        Some(t) if t.is_numeric() => match v {
            Value::String(s) => parse_number(s.trim()).unwrap_or(Value::Null),
            Value::Number(_) => v.clone(),
            _ => Value::Null,
        },
        Some(t) if t.is_keyword_like() || t.is_text() => match v {
            Value::String(_) => v.clone(),
            Value::Number(n) => Value::String(n.to_string()),
            Value::Bool(b) => Value::String(b.to_string()),
            _ => Value::Null,
        },
        Some(FieldType::Boolean) => match v {
            Value::Bool(_) => v.clone(),
            Value::String(s) if s == "true" => Value::Bool(true),
            Value::String(s) if s == "false" || s.is_empty() => Value::Bool(false),
            _ => Value::Null,
        },
        _ => match v {
            Value::Object(_) | Value::Array(_) => Value::Null,
            _ => v.clone(),
        },
    }
}

fn parse_number(s: &str) -> Option<Value> {
    if let Ok(i) = s.parse::<i64>() {
        return Some(Value::from(i));
    }
    s.parse::<f64>()
        .ok()
        .and_then(Number::from_f64)
        .map(Value::Number)
}

fn num(v: &Value) -> Option<Num> {
    match v {
        Value::Number(n) => n.as_i64().map(Num::I).or_else(|| n.as_f64().map(Num::F)),
        _ => None,
    }
}

#[derive(Debug, Clone, Copy)]
enum Num {
    I(i64),
    F(f64),
}

impl Num {
    fn f(self) -> f64 {
        match self {
            Num::I(i) => i as f64,
            Num::F(f) => f,
        }
    }
    fn value(self) -> Value {
        match self {
            Num::I(i) => Value::from(i),
            Num::F(f) => Number::from_f64(f)
                .map(Value::Number)
                .unwrap_or(Value::Null),
        }
    }
}

fn lower(s: &str) -> String {
    s.to_lowercase()
}

/// Compares two non-null values of the same kind; `None` when they are not comparable.
pub fn compare(a: &Value, b: &Value, ci: bool) -> Option<Ordering> {
    match (a, b) {
        (Value::String(x), Value::String(y)) => {
            if ci {
                Some(lower(x).cmp(&lower(y)))
            } else {
                Some(x.as_str().cmp(y.as_str()))
            }
        }
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        _ => {
            let (x, y) = (num(a)?, num(b)?);
            match (x, y) {
                (Num::I(p), Num::I(q)) => Some(p.cmp(&q)),
                _ => x.f().partial_cmp(&y.f()),
            }
        }
    }
}

fn as_str(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn as_int(v: &Value) -> Option<i64> {
    match num(v)? {
        Num::I(i) => Some(i),
        Num::F(f) if f.fract() == 0.0 && f.abs() < 9.0e18 => Some(f as i64),
        Num::F(_) => None,
    }
}

/// `*`/`?` wildcard match (no escapes: EQL patterns treat `\` literally).
pub fn wildcard_match(pattern: &str, s: &str, ci: bool) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = if ci {
        (lower(pattern).chars().collect(), lower(s).chars().collect())
    } else {
        (pattern.chars().collect(), s.chars().collect())
    };
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == '*' {
            star = Some((pi + 1, ti));
            pi += 1;
        } else if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

fn eq_values(a: &Value, b: &Value, ci: bool) -> Value {
    if a.is_null() || b.is_null() {
        return Value::Null;
    }
    match compare(a, b, ci) {
        Some(o) => Value::Bool(o == Ordering::Equal),
        // Values of different kinds are never equal (the query would not type-check in ES).
        None => Value::Bool(false),
    }
}

fn bool_of(v: &Value) -> Option<bool> {
    v.as_bool()
}

fn call(name: &str, args: &[Expr], ci: bool, doc: &Document, ov: &Overrides) -> Value {
    let eval = |e: &Expr, doc: &Document| ev(e, doc, ov);
    let arg = |i: usize| args.get(i).map(|e| eval(e, doc)).unwrap_or(Value::Null);
    match name {
        "and" => {
            let a = arg(0);
            if a == Value::Bool(false) {
                return a;
            }
            let b = arg(1);
            match (bool_of(&a), bool_of(&b)) {
                (_, Some(false)) => Value::Bool(false),
                (Some(true), Some(true)) => Value::Bool(true),
                _ => Value::Null,
            }
        }
        "or" => {
            let a = arg(0);
            if a == Value::Bool(true) {
                return a;
            }
            let b = arg(1);
            match (bool_of(&a), bool_of(&b)) {
                (_, Some(true)) => Value::Bool(true),
                (Some(false), Some(false)) => Value::Bool(false),
                _ => Value::Null,
            }
        }
        "not" => match bool_of(&arg(0)) {
            Some(b) => Value::Bool(!b),
            None => Value::Null,
        },
        "is_null" => Value::Bool(arg(0).is_null()),
        "is_not_null" => Value::Bool(!arg(0).is_null()),
        "==" => eq_values(&arg(0), &arg(1), ci),
        "!=" => match eq_values(&arg(0), &arg(1), ci) {
            Value::Bool(b) => Value::Bool(!b),
            v => v,
        },
        "<" | "<=" | ">" | ">=" => {
            let (a, b) = (arg(0), arg(1));
            if a.is_null() || b.is_null() {
                return Value::Null;
            }
            match compare(&a, &b, ci) {
                Some(o) => Value::Bool(match name {
                    "<" => o == Ordering::Less,
                    "<=" => o != Ordering::Greater,
                    ">" => o == Ordering::Greater,
                    _ => o != Ordering::Less,
                }),
                None => Value::Null,
            }
        }
        "seq" => {
            // `:`: case-insensitive; string literals on the right may be wildcard patterns.
            let a = arg(0);
            if a.is_null() {
                return Value::Null;
            }
            let mut saw_null = false;
            for e in &args[1..] {
                let b = eval(e, doc);
                if b.is_null() {
                    saw_null = true;
                    continue;
                }
                let hit = match (&a, &b, e) {
                    (Value::String(x), Value::String(p), Expr::Literal(_)) => {
                        wildcard_match(p, x, true)
                    }
                    _ => eq_values(&a, &b, true) == Value::Bool(true),
                };
                if hit {
                    return Value::Bool(true);
                }
            }
            if saw_null {
                Value::Null
            } else {
                Value::Bool(false)
            }
        }
        "in" => {
            let a = arg(0);
            if a.is_null() {
                return Value::Null;
            }
            let mut saw_null = false;
            for e in &args[1..] {
                let b = eval(e, doc);
                match eq_values(&a, &b, ci) {
                    Value::Bool(true) => return Value::Bool(true),
                    Value::Null => saw_null = true,
                    _ => {}
                }
            }
            if saw_null {
                Value::Null
            } else {
                Value::Bool(false)
            }
        }
        "like" | "regex" => {
            let Some(s) = as_str(&arg(0)) else {
                return Value::Null;
            };
            for e in &args[1..] {
                let Value::String(p) = eval(e, doc) else {
                    continue;
                };
                let hit = if name == "like" {
                    wildcard_match(&p, &s, ci)
                } else {
                    let flags = if ci { "(?is)" } else { "(?s)" };
                    regex::Regex::new(&format!("{flags}^(?:{p})$")).is_ok_and(|r| r.is_match(&s))
                };
                if hit {
                    return Value::Bool(true);
                }
            }
            Value::Bool(false)
        }
        "neg" => match num(&arg(0)) {
            Some(Num::I(i)) => i.checked_neg().map(Value::from).unwrap_or(Value::Null),
            Some(Num::F(f)) => Num::F(-f).value(),
            None => Value::Null,
        },
        "add" | "subtract" | "multiply" | "divide" | "modulo" => arith(name, &arg(0), &arg(1)),
        "between" => {
            let (s, l, r) = (arg(0), arg(1), arg(2));
            let (Some(s), Some(l), Some(r)) = (as_str(&s), as_str(&l), as_str(&r)) else {
                return Value::Null;
            };
            let greedy = match args.get(3).map(|e| eval(e, doc)) {
                None => false,
                Some(Value::Bool(b)) => b,
                Some(_) => return Value::Null,
            };
            Value::String(between(&s, &l, &r, greedy, ci))
        }
        "cidrmatch" => {
            let a = arg(0);
            let Some(ip) = a.as_str().and_then(|s| s.trim().parse::<IpAddr>().ok()) else {
                return Value::Null;
            };
            for e in &args[1..] {
                if let Some(net) = as_str(&eval(e, doc)).and_then(|s| parse_net(&s)) {
                    if net.contains(&ip) {
                        return Value::Bool(true);
                    }
                }
            }
            Value::Bool(false)
        }
        "concat" => {
            let mut out = String::new();
            for e in args {
                match as_str(&eval(e, doc)) {
                    Some(s) => out.push_str(&s),
                    None => return Value::Null,
                }
            }
            Value::String(out)
        }
        "endswith" | "startswith" | "stringcontains" => {
            let (Some(s), Some(p)) = (as_str(&arg(0)), as_str(&arg(1))) else {
                return Value::Null;
            };
            let (s, p) = if ci { (lower(&s), lower(&p)) } else { (s, p) };
            Value::Bool(match name {
                "endswith" => s.ends_with(&p),
                "startswith" => s.starts_with(&p),
                _ => s.contains(&p),
            })
        }
        "indexof" => {
            let (Some(s), Some(p)) = (as_str(&arg(0)), as_str(&arg(1))) else {
                return Value::Null;
            };
            let start = match args.get(2).map(|e| eval(e, doc)) {
                None | Some(Value::Null) => 0,
                Some(v) => match as_int(&v) {
                    Some(i) => i.max(0) as usize,
                    None => return Value::Null,
                },
            };
            let (s, p) = if ci { (lower(&s), lower(&p)) } else { (s, p) };
            let chars: Vec<char> = s.chars().collect();
            if start > chars.len() {
                return Value::Null;
            }
            let tail: String = chars[start..].iter().collect();
            match tail.find(&p) {
                Some(byte) => Value::from((start + tail[..byte].chars().count()) as i64),
                None => Value::Null,
            }
        }
        "length" => match as_str(&arg(0)) {
            Some(s) => Value::from(s.chars().count() as i64),
            None => Value::Null,
        },
        "number" => {
            let a = arg(0);
            if let Value::Number(_) = a {
                return a;
            }
            let Some(s) = a.as_str() else {
                return Value::Null;
            };
            let base = match args.get(1).map(|e| eval(e, doc)) {
                None | Some(Value::Null) => 10,
                Some(v) => match as_int(&v) {
                    Some(b) if (2..=36).contains(&b) => b as u32,
                    _ => return Value::Null,
                },
            };
            parse_eql_number(s.trim(), base).unwrap_or(Value::Null)
        }
        "string" => match arg(0) {
            Value::Null => Value::Null,
            v => as_str(&v).map(Value::String).unwrap_or(Value::Null),
        },
        "substring" => {
            let Some(s) = as_str(&arg(0)) else {
                return Value::Null;
            };
            let Some(start) = as_int(&arg(1)) else {
                return Value::Null;
            };
            let end = match args.get(2).map(|e| eval(e, doc)) {
                None | Some(Value::Null) => None,
                Some(v) => match as_int(&v) {
                    Some(i) => Some(i),
                    None => return Value::Null,
                },
            };
            Value::String(substring(&s, start, end))
        }
        _ => Value::Null,
    }
}

fn parse_net(s: &str) -> Option<ipnet::IpNet> {
    let s = s.trim();
    s.parse::<ipnet::IpNet>()
        .ok()
        .or_else(|| s.parse::<IpAddr>().ok().map(ipnet::IpNet::from))
}

/// `number(s, base)`: base 16 accepts a `0x` prefix; decimals only in base 10.
fn parse_eql_number(s: &str, base: u32) -> Option<Value> {
    if base == 10 {
        return parse_number(s);
    }
    let (neg, body) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let body = if base == 16 {
        body.strip_prefix("0x")
            .or_else(|| body.strip_prefix("0X"))
            .unwrap_or(body)
    } else {
        body
    };
    let n = i64::from_str_radix(body, base).ok()?;
    Some(Value::from(if neg { -n } else { n }))
}

fn arith(op: &str, a: &Value, b: &Value) -> Value {
    let (Some(x), Some(y)) = (num(a), num(b)) else {
        return Value::Null;
    };
    match (x, y) {
        (Num::I(p), Num::I(q)) => {
            let r = match op {
                "add" => p.checked_add(q),
                "subtract" => p.checked_sub(q),
                "multiply" => p.checked_mul(q),
                "divide" => p.checked_div(q),
                _ => p.checked_rem(q),
            };
            r.map(Value::from).unwrap_or(Value::Null)
        }
        _ => {
            let (p, q) = (x.f(), y.f());
            let r = match op {
                "add" => p + q,
                "subtract" => p - q,
                "multiply" => p * q,
                "divide" => p / q,
                _ => p % q,
            };
            if r.is_finite() {
                Num::F(r).value()
            } else {
                Value::Null
            }
        }
    }
}

/// EQL `between`: the text after the first `left` up to the next `right` (the last one when
/// greedy); empty when either is not found.
pub fn between(s: &str, left: &str, right: &str, greedy: bool, ci: bool) -> String {
    // Case folding keeps byte offsets only for ASCII; fall back to matching on the original
    // otherwise (lowercasing can change lengths).
    let fold = ci && s.is_ascii() && left.is_ascii() && right.is_ascii();
    let (hs, l, r) = if fold {
        (
            s.to_ascii_lowercase(),
            left.to_ascii_lowercase(),
            right.to_ascii_lowercase(),
        )
    } else {
        (s.to_string(), left.to_string(), right.to_string())
    };
    let Some(li) = hs.find(&l) else {
        return String::new();
    };
    let start = li + l.len();
    let ri = if greedy {
        hs.rfind(&r).filter(|&i| i >= start)
    } else {
        hs[start..].find(&r).map(|i| i + start)
    };
    match ri {
        Some(ri) => s[start..ri].to_string(),
        None => String::new(),
    }
}

/// Python-style slice by characters, negative positions counting from the end.
pub fn substring(s: &str, start: i64, end: Option<i64>) -> String {
    let chars: Vec<char> = s.chars().collect();
    let len = chars.len() as i64;
    let norm = |i: i64| if i < 0 { (len + i).max(0) } else { i.min(len) };
    let a = norm(start);
    let b = end.map(norm).unwrap_or(len);
    if a >= b {
        return String::new();
    }
    chars[a as usize..b as usize].iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn lit(v: Value) -> Expr {
        Expr::Literal(v)
    }
    fn ev(name: &str, args: Vec<Value>, ci: bool) -> Value {
        eval(
            &Expr::call(name, args.into_iter().map(lit).collect(), ci),
            &Document::new(),
        )
    }

    #[test]
    fn string_functions() {
        assert_eq!(
            ev(
                "between",
                vec![json!("System Idle Process"), json!("s"), json!("e")],
                true
            ),
            json!("yst")
        );
        assert_eq!(
            ev(
                "between",
                vec![
                    json!("System Idle Process"),
                    json!("S"),
                    json!("e"),
                    json!(true)
                ],
                false
            ),
            json!("ystem Idle Proc")
        );
        assert_eq!(
            ev("between", vec![json!("abc"), json!("x"), json!("c")], false),
            json!("")
        );
        assert_eq!(
            ev("substring", vec![json!("explorer.exe"), json!(-4)], false),
            json!(".exe")
        );
        assert_eq!(
            ev(
                "substring",
                vec![json!("explorer.exe"), json!(1), json!(3)],
                false
            ),
            json!("xp")
        );
        assert_eq!(
            ev(
                "indexof",
                vec![json!("explorer.exe"), json!("plore")],
                false
            ),
            json!(2)
        );
        assert_eq!(
            ev(
                "indexof",
                vec![json!("explorer.exe"), json!("plore"), json!(100)],
                false
            ),
            Value::Null
        );
        assert_eq!(
            ev("indexof", vec![json!("EXPLORER"), json!("plore")], true),
            json!(2)
        );
        assert_eq!(
            ev(
                "startswith",
                vec![json!("EXPLORER.exe"), json!("explorer")],
                false
            ),
            json!(false)
        );
        assert_eq!(
            ev(
                "startswith",
                vec![json!("EXPLORER.exe"), json!("explorer")],
                true
            ),
            json!(true)
        );
        assert_eq!(
            ev("concat", vec![json!("a"), json!(1), json!(true)], false),
            json!("a1true")
        );
        assert_eq!(
            ev("concat", vec![json!("a"), Value::Null], false),
            Value::Null
        );
        assert_eq!(ev("length", vec![json!("héllo")], false), json!(5));
        assert_eq!(
            ev("number", vec![json!("0x1F"), json!(16)], false),
            json!(31)
        );
        assert_eq!(ev("number", vec![json!("2.5")], false), json!(2.5));
        assert_eq!(ev("string", vec![json!(12)], false), json!("12"));
        assert_eq!(
            ev(
                "cidrmatch",
                vec![json!("10.1.2.3"), json!("10.0.0.0/8")],
                false
            ),
            json!(true)
        );
        assert_eq!(
            ev(
                "cidrmatch",
                vec![json!("11.1.2.3"), json!("10.0.0.0/8")],
                false
            ),
            json!(false)
        );
    }

    #[test]
    fn arithmetic_and_nulls() {
        assert_eq!(ev("divide", vec![json!(7), json!(2)], false), json!(3));
        assert_eq!(ev("divide", vec![json!(7.0), json!(2)], false), json!(3.5));
        assert_eq!(ev("divide", vec![json!(7), json!(0)], false), Value::Null);
        assert_eq!(ev("modulo", vec![json!(7), json!(3)], false), json!(1));
        assert_eq!(ev("add", vec![Value::Null, json!(3)], false), Value::Null);
        assert_eq!(ev("<", vec![Value::Null, json!(3)], false), Value::Null);
        assert_eq!(ev("==", vec![json!("A"), json!("a")], false), json!(false));
        assert_eq!(ev("==", vec![json!("A"), json!("a")], true), json!(true));
        assert_eq!(
            ev("in", vec![json!(2), json!(1), Value::Null], false),
            Value::Null
        );
        assert_eq!(
            ev("in", vec![json!(1), json!(1), Value::Null], false),
            json!(true)
        );
        assert_eq!(
            ev("seq", vec![json!("Explorer.EXE"), json!("*.exe")], false),
            json!(true)
        );
        assert_eq!(
            ev("like", vec![json!("Explorer.EXE"), json!("*.exe")], false),
            json!(false)
        );
        assert_eq!(
            ev("regex", vec![json!("abc"), json!("a.c")], false),
            json!(true)
        );
    }

    #[test]
    fn three_valued_logic() {
        let null_cmp = Expr::call("<", vec![lit(Value::Null), lit(json!(1))], false);
        let t = lit(json!(true));
        let f = lit(json!(false));
        let d = Document::new();
        assert_eq!(
            eval(
                &Expr::call("and", vec![null_cmp.clone(), f.clone()], false),
                &d
            ),
            json!(false)
        );
        assert_eq!(
            eval(
                &Expr::call("and", vec![null_cmp.clone(), t.clone()], false),
                &d
            ),
            Value::Null
        );
        assert_eq!(
            eval(&Expr::call("or", vec![null_cmp.clone(), t], false), &d),
            json!(true)
        );
        assert_eq!(
            eval(&Expr::call("or", vec![null_cmp.clone(), f], false), &d),
            Value::Null
        );
        assert_eq!(
            eval(&Expr::call("not", vec![null_cmp.clone()], false), &d),
            Value::Null
        );
        assert_eq!(
            eval(&Expr::call("is_null", vec![null_cmp], false), &d),
            json!(true)
        );
    }

    #[test]
    fn field_values_follow_the_mapping() {
        let types = tripline_doc::FieldTypes::parse_tsv("n\tlong\nk\tkeyword\n").unwrap();
        let d = Document(
            json!({"n": "42", "k": 7, "m": [3, 4]})
                .as_object()
                .unwrap()
                .clone(),
        );
        assert_eq!(field_value(&FieldRef::resolve("n", &types), &d), json!(42));
        assert_eq!(field_value(&FieldRef::resolve("k", &types), &d), json!("7"));
        assert_eq!(field_value(&FieldRef::resolve("m", &types), &d), json!(3));
        assert_eq!(
            field_value(&FieldRef::resolve("x", &types), &d),
            Value::Null
        );
    }

    #[test]
    fn conditions_over_multi_valued_fields_try_every_value() {
        let types = tripline_doc::FieldTypes::parse_tsv("m\tlong\nk\tkeyword\n").unwrap();
        let d = Document(
            json!({"m": [3, 4], "k": ["a", "b", "c"]})
                .as_object()
                .unwrap()
                .clone(),
        );
        let m = Expr::Field {
            field: FieldRef::resolve("m", &types),
            optional: false,
        };
        let k = Expr::Field {
            field: FieldRef::resolve("k", &types),
            optional: false,
        };
        let four = Expr::call(
            "==",
            vec![
                Expr::call("add", vec![m.clone(), lit(json!(1))], false),
                lit(json!(5)),
            ],
            false,
        );
        assert!(eval_bool(&four, &d));
        let both = Expr::call(
            "and",
            vec![
                four,
                Expr::call("endswith", vec![k.clone(), lit(json!("c"))], false),
            ],
            false,
        );
        assert!(eval_bool(&both, &d));
        let none = Expr::call("==", vec![m, lit(json!(5))], false);
        assert!(!eval_bool(&none, &d));
    }
}
