//! Evaluation of leaf queries against a document, with Elasticsearch's per-type semantics.
//! A multi-valued field matches when any of its values matches; a missing field matches no
//! positive leaf (so `Not(leaf)` matches it, like a `must_not` clause).
//!
//! Field references come in three shapes:
//! - a plain path (`event.action`): its `_source` values;
//! - a flattened field's root (`aws.cloudtrail.flattened.request_parameters`): every leaf
//!   value under it, as Elasticsearch indexes them as keywords of the root field;
//! - a field-name pattern (`azure.*.new_value`, `*`): every leaf of the document whose dotted
//!   path matches, each with keyword semantics (what a dynamically mapped string gets).
//!
//! The common path allocates nothing per event: values are borrowed, text is tokenized by an
//! iterator over slices and compared with one-to-one case folding.

use std::cmp::Ordering;
use std::net::IpAddr;
use std::sync::Arc;

use serde_json::{Map, Value};
use tripline_doc::{time, Document, FieldType};

use crate::{Bound, FieldRef, Literal, Predicate};

pub fn matches(p: &Predicate, doc: &Document) -> bool {
    match p {
        Predicate::Const(b) => *b,
        Predicate::And(ps) => ps.iter().all(|p| matches(p, doc)),
        Predicate::Or(ps) => ps.iter().any(|p| matches(p, doc)),
        Predicate::Not(p) => !matches(p, doc),
        Predicate::Exists(f) => any_value(f, doc, indexed),
        Predicate::Term {
            field,
            value,
            case_insensitive,
        } => any_value(field, doc, |v| {
            term_eq(field.ty, v, value, *case_insensitive)
        }),
        Predicate::Terms {
            field,
            values,
            case_insensitive,
        } => any_value(field, doc, |v| {
            values
                .iter()
                .any(|lit| term_eq(field.ty, v, lit, *case_insensitive))
        }),
        Predicate::Match {
            field,
            value,
            phrase,
        } => any_value(field, doc, |v| match_eq(field.ty, v, value, *phrase)),
        Predicate::Wildcard { field, pattern } => {
            if field.ty.is_some_and(|t| t.is_text()) {
                // query_string wildcard on an analyzed field: tested against each token.
                any_value(field, doc, |v| {
                    value_as_string(v).is_some_and(|s| Tokens::new(&s).any(|t| pattern.matches(t)))
                })
            } else {
                any_value(field, doc, |v| {
                    value_as_string(v).is_some_and(|s| pattern.matches(&s))
                })
            }
        }
        Predicate::Regex { field, regex } => any_value(field, doc, |v| {
            value_as_string(v).is_some_and(|s| regex.is_match(&s))
        }),
        Predicate::Range {
            field,
            lower,
            upper,
        } => any_value(field, doc, |v| {
            in_range(field.ty, v, lower.as_ref(), upper.as_ref())
        }),
        Predicate::Cidr { field, nets } => any_value(field, doc, |v| {
            value_ip(v).is_some_and(|ip| nets.iter().any(|n| n.contains(&ip)))
        }),
        Predicate::Script(e) => crate::scalar::eval_bool(e, doc),
    }
}

/// True when the field reference is a field-name pattern (has an unescaped `*`).
pub fn is_field_pattern(name: &str) -> bool {
    let mut esc = false;
    for c in name.chars() {
        match (esc, c) {
            (false, '\\') => esc = true,
            (false, '*') => return true,
            _ => esc = false,
        }
    }
    false
}

/// Calls `f` on every indexed value of the field until it returns true.
fn any_value(field: &FieldRef, doc: &Document, mut f: impl FnMut(&Value) -> bool) -> bool {
    if is_field_pattern(&field.source) {
        let mut path = String::new();
        return walk_paths(&doc.0, &mut path, &field.source, &mut f);
    }
    let vals = doc.values(&field.source);
    if field.ty == Some(FieldType::Flattened) {
        return vals.iter().any(|v| any_leaf(v, &mut f));
    }
    vals.iter().any(|v| f(v))
}

/// Every scalar under `v` (objects and arrays descended).
fn any_leaf(v: &Value, f: &mut impl FnMut(&Value) -> bool) -> bool {
    match v {
        Value::Null => false,
        Value::Object(m) => m.values().any(|c| any_leaf(c, f)),
        Value::Array(a) => a.iter().any(|c| any_leaf(c, f)),
        other => f(other),
    }
}

/// Depth-first walk over leaf paths, testing values whose path matches `pattern`.
/// `path` is a reused buffer.
fn walk_paths(
    map: &Map<String, Value>,
    path: &mut String,
    pattern: &str,
    f: &mut impl FnMut(&Value) -> bool,
) -> bool {
    for (k, v) in map {
        let len = path.len();
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(k);
        let hit = walk_value(v, path, pattern, f);
        path.truncate(len);
        if hit {
            return true;
        }
    }
    false
}

fn walk_value(
    v: &Value,
    path: &mut String,
    pattern: &str,
    f: &mut impl FnMut(&Value) -> bool,
) -> bool {
    match v {
        Value::Null => false,
        Value::Object(m) => walk_paths(m, path, pattern, f),
        Value::Array(a) => a.iter().any(|c| walk_value(c, path, pattern, f)),
        other => glob_match(pattern, path) && f(other),
    }
}

/// Field-name glob: `*` matches any run of characters (dots included, as Kibana's field
/// wildcard does); `\x` is a literal `x`. Two-pointer matching, no allocation.
pub fn glob_match(pattern: &str, s: &str) -> bool {
    let p = pattern.as_bytes();
    let t = s.as_bytes();
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == b'*' {
            pi += 1;
            star = Some((pi, ti));
            continue;
        }
        if pi < p.len() {
            let (pc, plen) = if p[pi] == b'\\' && pi + 1 < p.len() {
                (p[pi + 1], 2)
            } else {
                (p[pi], 1)
            };
            if pc == t[ti] {
                pi += plen;
                ti += 1;
                continue;
            }
        }
        match star {
            Some((sp, st)) => {
                pi = sp;
                ti = st + 1;
                star = Some((sp, st + 1));
            }
            None => return false,
        }
    }
    while pi < p.len() && p[pi] == b'*' {
        pi += 1;
    }
    pi == p.len()
}

/// Whether a `_source` value produces an indexed value (`exists`): scalars do; objects and
/// arrays do when something inside them does.
fn indexed(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Object(m) => m.values().any(indexed),
        Value::Array(a) => a.iter().any(indexed),
        _ => true,
    }
}

/// How a stored value renders as a keyword (numbers and booleans as Elasticsearch would
/// coerce them into a keyword field).
pub fn value_as_string(v: &Value) -> Option<std::borrow::Cow<'_, str>> {
    match v {
        Value::String(s) => Some(std::borrow::Cow::Borrowed(s)),
        Value::Number(n) => Some(std::borrow::Cow::Owned(n.to_string())),
        Value::Bool(b) => Some(std::borrow::Cow::Borrowed(if *b {
            "true"
        } else {
            "false"
        })),
        _ => None,
    }
}

fn lit_as_string(l: &Literal) -> Option<std::borrow::Cow<'_, str>> {
    match l {
        Literal::Str(s) => Some(std::borrow::Cow::Borrowed(s)),
        Literal::Int(i) => Some(std::borrow::Cow::Owned(i.to_string())),
        Literal::Float(f) => Some(std::borrow::Cow::Owned(f.to_string())),
        Literal::Bool(b) => Some(std::borrow::Cow::Borrowed(if *b {
            "true"
        } else {
            "false"
        })),
        Literal::Null => None,
    }
}

/// A number as a numeric field holds it: integers exactly, others as f64.
#[derive(Debug, Clone, Copy)]
enum Num {
    I(i64),
    F(f64),
}

impl Num {
    fn parse(s: &str) -> Option<Num> {
        let s = s.trim();
        if let Ok(i) = s.parse::<i64>() {
            return Some(Num::I(i));
        }
        s.parse::<f64>().ok().filter(|f| f.is_finite()).map(Num::F)
    }

    fn cmp(self, other: Num) -> Option<Ordering> {
        match (self, other) {
            (Num::I(a), Num::I(b)) => Some(a.cmp(&b)),
            (Num::I(a), Num::F(b)) => (a as f64).partial_cmp(&b),
            (Num::F(a), Num::I(b)) => a.partial_cmp(&(b as f64)),
            (Num::F(a), Num::F(b)) => a.partial_cmp(&b),
        }
    }
}

fn lit_num(l: &Literal) -> Option<Num> {
    match l {
        Literal::Int(i) => Some(Num::I(*i)),
        Literal::Float(f) => Some(Num::F(*f)),
        Literal::Str(s) => Num::parse(s),
        _ => None,
    }
}

fn value_num(v: &Value) -> Option<Num> {
    match v {
        Value::Number(n) => n.as_i64().map(Num::I).or_else(|| n.as_f64().map(Num::F)),
        Value::String(s) => Num::parse(s),
        _ => None,
    }
}

fn value_ip(v: &Value) -> Option<IpAddr> {
    v.as_str()
        .and_then(|s| s.trim().parse::<IpAddr>().ok())
        .map(canonical_ip)
}

/// IPv4-mapped IPv6 addresses are the IPv4 address (Elasticsearch stores both as 16 bytes).
fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

/// Case-insensitive equality with one-to-one folding (no allocation).
pub fn eq_ignore_case(a: &str, b: &str) -> bool {
    if a.len() == b.len() && a.eq_ignore_ascii_case(b) {
        return true;
    }
    if a.is_ascii() && b.is_ascii() {
        return false;
    }
    let mut x = a.chars();
    let mut y = b.chars();
    loop {
        match (x.next(), y.next()) {
            (None, None) => return true,
            (Some(c), Some(d)) => {
                if c != d && fold(c) != fold(d) {
                    return false;
                }
            }
            _ => return false,
        }
    }
}

#[inline]
fn fold(c: char) -> char {
    if c.is_ascii() {
        return c.to_ascii_lowercase();
    }
    let mut it = c.to_lowercase();
    match (it.next(), it.next()) {
        (Some(l), None) => l,
        _ => c,
    }
}

fn term_eq(ty: Option<FieldType>, v: &Value, lit: &Literal, ci: bool) -> bool {
    match ty {
        Some(t) if t.is_numeric() => match (value_num(v), lit_num(lit)) {
            (Some(a), Some(b)) => a.cmp(b) == Some(Ordering::Equal),
            _ => false,
        },
        Some(FieldType::Ip) => {
            let Some(s) = lit_as_string(lit) else {
                return false;
            };
            let Some(ip) = value_ip(v) else { return false };
            if s.contains('/') {
                s.trim()
                    .parse::<ipnet::IpNet>()
                    .is_ok_and(|net| net.contains(&ip) || net.contains(&unmap(ip)))
            } else {
                s.trim()
                    .parse::<IpAddr>()
                    .is_ok_and(|l| canonical_ip(l) == ip)
            }
        }
        Some(t) if t.is_date() => {
            // A date term covers the literal's whole precision (`2024-01-02` is that day), as
            // Elasticsearch's date term query does via a rounded range.
            let Some(s) = lit_as_string(lit) else {
                return false;
            };
            let (Some(x), Some(lo), Some(hi)) = (
                time::value_to_millis(v),
                date_bound(&s, false),
                date_bound(&s, true),
            ) else {
                return false;
            };
            lo <= x && x <= hi
        }
        Some(FieldType::Boolean) => {
            let want = match lit {
                Literal::Bool(b) => *b,
                Literal::Str(s) if s == "true" => true,
                Literal::Str(s) if s == "false" || s.is_empty() => false,
                _ => return false,
            };
            match v {
                Value::Bool(b) => *b == want,
                Value::String(s) => {
                    (s == "true" && want) || ((s == "false" || s.is_empty()) && !want)
                }
                _ => false,
            }
        }
        Some(t) if t.is_text() => match_eq(ty, v, lit, false),
        _ => keyword_eq(v, lit, ci),
    }
}

fn unmap(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V6(v4.to_ipv6_mapped()),
        v6 => v6,
    }
}

fn keyword_eq(v: &Value, lit: &Literal, ci: bool) -> bool {
    // Fast path without any conversion: string against string.
    if let (Value::String(a), Literal::Str(b)) = (v, lit) {
        return if ci { eq_ignore_case(a, b) } else { a == b };
    }
    match (value_as_string(v), lit_as_string(lit)) {
        (Some(a), Some(b)) => {
            if ci {
                eq_ignore_case(&a, &b)
            } else {
                a == b
            }
        }
        _ => false,
    }
}

/// Standard-analyzer tokens of a text, as slices of it (compare them with [`eq_ignore_case`]:
/// the analyzer lowercases). Word boundaries follow Unicode UAX #29 as far as Latin-script
/// logs need: letters and digits form words, `_` joins, `.`/`'`/`:` join letters on both
/// sides, `.`/`,`/`;`/`'` join digits on both sides.
pub struct Tokens<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Tokens<'a> {
    pub fn new(s: &'a str) -> Tokens<'a> {
        Tokens { s, pos: 0 }
    }
}

#[inline]
fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

impl<'a> Iterator for Tokens<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let s = self.s;
        // Skip to the next word character.
        let start = self.pos + s[self.pos..].find(is_word)?;
        let mut it = s[start..].char_indices().peekable();
        let mut end = start;
        let mut prev = ' ';
        while let Some((i, c)) = it.next() {
            if is_word(c) {
                end = start + i + c.len_utf8();
                prev = c;
                continue;
            }
            // A joiner between two word characters of the right classes continues the word.
            let next = it.peek().map(|&(_, n)| n);
            let joins = match next {
                Some(n) if is_word(n) => {
                    let letters = prev.is_alphabetic() && n.is_alphabetic();
                    let digits = prev.is_numeric() && n.is_numeric();
                    (letters && matches!(c, '.' | '\'' | ':' | '\u{2019}' | '\u{00B7}'))
                        || (digits && matches!(c, '.' | ',' | ';' | '\'' | '\u{2019}'))
                }
                _ => false,
            };
            if !joins {
                break;
            }
        }
        self.pos = end;
        Some(&s[start..end])
    }
}

/// Standard-analyzer-like tokenization, lowercased (allocates; for callers that keep tokens).
pub fn tokenize(s: &str) -> Vec<String> {
    Tokens::new(s).map(|t| t.to_lowercase()).collect()
}

fn match_eq(ty: Option<FieldType>, v: &Value, lit: &Literal, phrase: bool) -> bool {
    if !ty.is_some_and(|t| t.is_text()) {
        return term_eq(ty, v, lit, false);
    }
    let (Some(text), Some(q)) = (value_as_string(v), lit_as_string(lit)) else {
        return false;
    };
    if phrase {
        // Tokens of the query must appear consecutively and in order.
        if Tokens::new(&q).next().is_none() {
            return false;
        }
        let mut d = Tokens::new(&text);
        loop {
            if starts_phrase(&text, d.pos, &q) {
                return true;
            }
            if d.next().is_none() {
                return false;
            }
        }
    } else {
        // `match` defaults to operator OR: any query token present in the text.
        Tokens::new(&q).any(|qt| Tokens::new(&text).any(|dt| eq_ignore_case(dt, qt)))
    }
}

/// Whether the query's tokens occur consecutively starting at the first token at or after `pos`.
fn starts_phrase(text: &str, pos: usize, q: &str) -> bool {
    let mut d = Tokens { s: text, pos };
    for qt in Tokens::new(q) {
        match d.next() {
            Some(dt) if eq_ignore_case(dt, qt) => {}
            _ => return false,
        }
    }
    true
}

/// Parses a date literal as a range bound, with Elasticsearch's rounding for missing
/// components: rounding up (`lte`, `gt`, and a term's upper end) fills a missing time of day
/// with 23:59:59.999, a missing minute/second/fraction with their maxima; missing month and
/// day become 01 either way. Digits-only literals are epoch milliseconds.
pub fn date_bound(s: &str, round_up: bool) -> Option<i64> {
    let s = s.trim();
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && s.len() != 4 {
        return s.parse().ok();
    }
    if let Some(ms) = partial_date(s, round_up) {
        return Some(ms);
    }
    time::parse_millis(s)
}

/// `YYYY`, `YYYY-MM`, `YYYY-MM-DD`, `YYYY-MM-DDTHH`, `YYYY-MM-DDTHH:mm`, `YYYY-MM-DDTHH:mm:ss`
/// (optionally with a zone `Z`/`±hh:mm`): the precisions whose rounding differs.
fn partial_date(s: &str, round_up: bool) -> Option<i64> {
    let (body, offset_min) = split_zone(s)?;
    let b = body.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = body.get(r)?;
        if part.bytes().all(|c| c.is_ascii_digit()) {
            part.parse().ok()
        } else {
            None
        }
    };
    let year = num(0..4)?;
    let (mut month, mut day) = (1, 1);
    let (mut h, mut mi, mut sec, mut ms) = if round_up {
        (23, 59, 59, 999)
    } else {
        (0, 0, 0, 0)
    };
    match b.len() {
        4 => {}
        7 if b[4] == b'-' => month = num(5..7)?,
        10 | 13 | 16 | 19 if b[4] == b'-' && b[7] == b'-' => {
            month = num(5..7)?;
            day = num(8..10)?;
            if b.len() >= 13 {
                if b[10] != b'T' && b[10] != b' ' {
                    return None;
                }
                h = num(11..13)?;
                if round_up {
                    (mi, sec, ms) = (59, 59, 999);
                }
            }
            if b.len() >= 16 {
                if b[13] != b':' {
                    return None;
                }
                mi = num(14..16)?;
            }
            if b.len() == 19 {
                if b[16] != b':' {
                    return None;
                }
                sec = num(17..19)?;
            }
        }
        _ => return None,
    }
    if !(1..=12).contains(&month)
        || !(1..=days_in_month(year, month)).contains(&day)
        || h > 23
        || mi > 59
        || sec > 59
    {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some((((days * 24 + h) * 60 + mi) * 60 + sec) * 1000 + ms - offset_min * 60_000)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Splits a trailing zone (`Z`, `+hh:mm`, `-hhmm`) off a date; returns the offset in minutes.
fn split_zone(s: &str) -> Option<(&str, i64)> {
    if let Some(b) = s.strip_suffix('Z').or_else(|| s.strip_suffix('z')) {
        return Some((b, 0));
    }
    // A sign after the time part (position > 10 so the date's own dashes are not taken).
    if let Some(i) = s.rfind(['+', '-']).filter(|&i| i > 10) {
        let z = &s[i + 1..].replace(':', "");
        if z.len() == 4 && z.bytes().all(|c| c.is_ascii_digit()) {
            let hh: i64 = z[..2].parse().ok()?;
            let mm: i64 = z[2..].parse().ok()?;
            let off = hh * 60 + mm;
            return Some((&s[..i], if s.as_bytes()[i] == b'-' { -off } else { off }));
        }
        return None;
    }
    Some((s, 0))
}

fn in_range(ty: Option<FieldType>, v: &Value, lo: Option<&Bound>, hi: Option<&Bound>) -> bool {
    fn check<T: PartialOrd>(x: T, lo: Option<(T, bool)>, hi: Option<(T, bool)>) -> bool {
        let lo_ok = lo.is_none_or(|(b, inc)| if inc { x >= b } else { x > b });
        let hi_ok = hi.is_none_or(|(b, inc)| if inc { x <= b } else { x < b });
        lo_ok && hi_ok
    }
    match ty {
        Some(t) if t.is_date() => {
            let Some(x) = time::value_to_millis(v) else {
                return false;
            };
            // gte/lt round down, gt/lte round up.
            let lo = match lo {
                Some(b) => match lit_as_string(&b.value).and_then(|s| date_bound(&s, !b.inclusive))
                {
                    Some(m) => Some((m, b.inclusive)),
                    None => return false,
                },
                None => None,
            };
            let hi = match hi {
                Some(b) => {
                    match lit_as_string(&b.value).and_then(|s| date_bound(&s, b.inclusive)) {
                        Some(m) => Some((m, b.inclusive)),
                        None => return false,
                    }
                }
                None => None,
            };
            check(x, lo, hi)
        }
        Some(FieldType::Ip) => {
            let Some(x) = value_ip(v) else { return false };
            let conv = |b: &Bound| {
                lit_as_string(&b.value)
                    .and_then(|s| s.trim().parse::<IpAddr>().ok())
                    .map(|m| (canonical_ip(m), b.inclusive))
            };
            let (lo, hi) = (lo.map(conv), hi.map(conv));
            if matches!(lo, Some(None)) || matches!(hi, Some(None)) {
                return false;
            }
            // Mixed families never compare (v4 addresses are below v6 in ES's byte order).
            let fam = |ip: &IpAddr| ip.is_ipv4();
            let ok_lo = lo
                .flatten()
                .is_none_or(|(b, _)| fam(&b) == fam(&x) || fam(&b));
            let ok_hi = hi
                .flatten()
                .is_none_or(|(b, _)| fam(&b) == fam(&x) || !fam(&b));
            if !(ok_lo && ok_hi) {
                return false;
            }
            let key = |ip: IpAddr| match ip {
                IpAddr::V4(a) => a.to_ipv6_mapped().octets(),
                IpAddr::V6(a) => a.octets(),
            };
            check(
                key(x),
                lo.flatten().map(|(b, i)| (key(b), i)),
                hi.flatten().map(|(b, i)| (key(b), i)),
            )
        }
        Some(t) if t.is_numeric() => {
            let Some(x) = value_num(v) else { return false };
            let test = |b: &Bound, want_greater: bool| -> bool {
                let Some(n) = lit_num(&b.value) else {
                    return false;
                };
                match x.cmp(n) {
                    Some(Ordering::Equal) => b.inclusive,
                    Some(Ordering::Greater) => want_greater,
                    Some(Ordering::Less) => !want_greater,
                    None => false,
                }
            };
            lo.is_none_or(|b| test(b, true)) && hi.is_none_or(|b| test(b, false))
        }
        _ => {
            // Keyword ranges compare strings by their UTF-8 bytes, like Lucene's term order.
            let Some(x) = value_as_string(v) else {
                return false;
            };
            let test = |b: &Bound, want_greater: bool| -> bool {
                let Some(s) = lit_as_string(&b.value) else {
                    return false;
                };
                match x.as_bytes().cmp(s.as_bytes()) {
                    Ordering::Equal => b.inclusive,
                    Ordering::Greater => want_greater,
                    Ordering::Less => !want_greater,
                }
            };
            lo.is_none_or(|b| test(b, true)) && hi.is_none_or(|b| test(b, false))
        }
    }
}

/// For rule indexing: the values `field` must have (exact, case-sensitive) for `p` to match,
/// or `None` when `p` does not constrain it that way.
pub fn required_values(p: &Predicate, field: &str) -> Option<Vec<String>> {
    let keyword = |f: &FieldRef| {
        &*f.source == field
            && &*f.name == field
            && f.ty
                .is_none_or(|t| t.is_keyword_like() && t != FieldType::Flattened)
    };
    match p {
        Predicate::Term {
            field: f,
            value: Literal::Str(s),
            case_insensitive: false,
        } if keyword(f) => Some(vec![s.clone()]),
        Predicate::Match {
            field: f,
            value: Literal::Str(s),
            ..
        } if keyword(f) => Some(vec![s.clone()]),
        Predicate::Terms {
            field: f,
            values,
            case_insensitive: false,
        } if keyword(f) => {
            let mut out: Vec<String> = values
                .iter()
                .map(|v| {
                    if let Literal::Str(s) = v {
                        Some(s.clone())
                    } else {
                        None
                    }
                })
                .collect::<Option<_>>()?;
            out.sort();
            out.dedup();
            Some(out)
        }
        Predicate::Wildcard { field: f, pattern } if keyword(f) && !pattern.case_insensitive => {
            pattern.literal_value().map(|v| vec![v])
        }
        Predicate::And(ps) => {
            // Any constrained child constrains the conjunction; take the smallest set.
            ps.iter()
                .filter_map(|c| required_values(c, field))
                .min_by_key(|v| v.len())
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

    fn f(name: &str) -> FieldRef {
        FieldRef::resolve(name, FieldTypes::builtin())
    }

    fn typed(name: &str, ty: Option<FieldType>) -> FieldRef {
        FieldRef {
            name: name.into(),
            source: name.into(),
            ty,
        }
    }

    fn s(v: &str) -> Literal {
        Literal::Str(v.into())
    }

    #[test]
    fn keyword_term_is_case_sensitive_and_multivalued() {
        let d =
            doc(json!({"event": {"category": ["iam", "configuration"], "action": "CreateUser"}}));
        let term = |fld: &str, v: &str, ci| Predicate::Term {
            field: f(fld),
            value: s(v),
            case_insensitive: ci,
        };
        assert!(term("event.category", "iam", false).matches(&d));
        assert!(term("event.category", "configuration", false).matches(&d));
        assert!(!term("event.action", "createuser", false).matches(&d));
        assert!(term("event.action", "createuser", true).matches(&d));
        assert!(Predicate::Not(Box::new(term("event.outcome", "success", false))).matches(&d));
    }

    #[test]
    fn ip_cidr_and_required_values() {
        let d =
            doc(json!({"source": {"ip": "10.1.2.3"}, "event": {"provider": "iam.amazonaws.com"}}));
        let p = Predicate::Term {
            field: f("source.ip"),
            value: s("10.0.0.0/8"),
            case_insensitive: false,
        };
        assert!(p.matches(&d));
        let q = Predicate::And(vec![
            Predicate::Terms {
                field: f("event.provider"),
                values: vec![s("iam.amazonaws.com"), s("sts.amazonaws.com")],
                case_insensitive: false,
            },
            p,
        ]);
        assert!(q.matches(&d));
        assert_eq!(q.required_values("event.provider").unwrap().len(), 2);
        assert_eq!(q.required_values("event.action"), None);
        let or = Predicate::Or(vec![q.clone(), Predicate::Exists(f("event.action"))]);
        assert_eq!(or.required_values("event.provider"), None);
        assert_eq!(
            Predicate::Not(Box::new(q)).required_values("event.provider"),
            None
        );
    }

    #[test]
    fn ip_terms_ranges_and_mapped_addresses() {
        let d = doc(json!({"source": {"ip": ["::ffff:192.168.1.5", "2001:db8::1"]}}));
        let t = |v: &str| Predicate::Term {
            field: f("source.ip"),
            value: s(v),
            case_insensitive: false,
        };
        assert!(t("192.168.1.5").matches(&d));
        assert!(t("192.168.0.0/16").matches(&d));
        assert!(t("2001:db8::/32").matches(&d));
        assert!(!t("10.0.0.0/8").matches(&d));
        assert!(!t("not-an-ip").matches(&d));
        let r = |lo: &str, hi: &str| Predicate::Range {
            field: f("source.ip"),
            lower: Some(Bound {
                value: s(lo),
                inclusive: true,
            }),
            upper: Some(Bound {
                value: s(hi),
                inclusive: false,
            }),
        };
        assert!(r("192.168.1.0", "192.168.1.6").matches(&d));
        assert!(!r("192.168.1.6", "192.168.1.9").matches(&d));
    }

    #[test]
    fn text_match_is_or_of_tokens_and_phrase_is_ordered() {
        let fld = typed("message", Some(FieldType::MatchOnlyText));
        let d = doc(json!({"message": "Mozilla/5.0 (Windows NT 10.0) aws-cli/2.13.5 Python/3.11"}));
        let m = |v: &str, phrase| Predicate::Match {
            field: fld.clone(),
            value: s(v),
            phrase,
        };
        assert!(m("windows", false).matches(&d));
        assert!(m("nothing python", false).matches(&d), "match is OR");
        assert!(!m("nothing else", false).matches(&d));
        assert!(m("AWS CLI", true).matches(&d));
        assert!(m("aws-cli/2.13.5", true).matches(&d));
        assert!(!m("cli aws", true).matches(&d));
        assert!(m("windows nt", true).matches(&d));
        assert!(!m("windows 10.0", true).matches(&d));
        assert!(!m("...", false).matches(&d));
    }

    #[test]
    fn standard_tokenizer_approximation() {
        fn toks(x: &str) -> Vec<&str> {
            Tokens::new(x).collect()
        }
        assert_eq!(toks("Hello, World!"), vec!["Hello", "World"]);
        assert_eq!(
            toks("aws-cli/2.13.5 Python/3.11.4"),
            vec!["aws", "cli", "2.13.5", "Python", "3.11.4"]
        );
        assert_eq!(
            toks("user.name foo_bar don't 1,000"),
            vec!["user.name", "foo_bar", "don't", "1,000"]
        );
        assert_eq!(toks("a. b"), vec!["a", "b"]);
        assert_eq!(toks(""), Vec::<&str>::new());
        assert_eq!(tokenize("ÉCOLE x"), vec!["école", "x"]);
    }

    #[test]
    fn numeric_boolean_and_keyword_ranges() {
        let d = doc(json!({"n": 100, "s": "100", "b": false, "k": "beta"}));
        let r = |fld: FieldRef, lo: Option<(Literal, bool)>, hi: Option<(Literal, bool)>| {
            Predicate::Range {
                field: fld,
                lower: lo.map(|(value, inclusive)| Bound { value, inclusive }),
                upper: hi.map(|(value, inclusive)| Bound { value, inclusive }),
            }
        };
        let long = |n: &str| typed(n, Some(FieldType::Long));
        assert!(r(long("n"), Some((Literal::Int(100), true)), None).matches(&d));
        assert!(!r(long("n"), Some((Literal::Int(100), false)), None).matches(&d));
        assert!(r(long("s"), Some((s("99.5"), false)), None).matches(&d));
        // Unmapped = keyword: byte order, so "100" < "99".
        assert!(r(typed("s", None), None, Some((s("99"), false))).matches(&d));
        assert!(r(
            typed("k", None),
            Some((s("alpha"), true)),
            Some((s("gamma"), true))
        )
        .matches(&d));
        let b = typed("b", Some(FieldType::Boolean));
        assert!(Predicate::Term {
            field: b.clone(),
            value: Literal::Bool(false),
            case_insensitive: false
        }
        .matches(&d));
        assert!(!Predicate::Term {
            field: b,
            value: s("true"),
            case_insensitive: false
        }
        .matches(&d));
        assert!(Predicate::Term {
            field: long("n"),
            value: s("100.0"),
            case_insensitive: false
        }
        .matches(&d));
        // A keyword field compares the rendered number.
        assert!(Predicate::Term {
            field: typed("n", None),
            value: s("100"),
            case_insensitive: false
        }
        .matches(&d));
    }

    #[test]
    fn dates_round_by_precision() {
        let d = doc(json!({"@timestamp": "2024-03-05T10:20:30.400Z"}));
        let ts = f("@timestamp");
        let term = |v: &str| Predicate::Term {
            field: ts.clone(),
            value: s(v),
            case_insensitive: false,
        };
        assert!(term("2024-03-05").matches(&d));
        assert!(term("2024-03-05T10").matches(&d));
        assert!(term("2024-03-05T10:20").matches(&d));
        assert!(term("2024-03-05T10:20:30.400Z").matches(&d));
        assert!(!term("2024-03-06").matches(&d));
        assert!(!term("2024-03-05T10:20:31").matches(&d));
        let range = |lo: Option<(&str, bool)>, hi: Option<(&str, bool)>| Predicate::Range {
            field: ts.clone(),
            lower: lo.map(|(v, inclusive)| Bound {
                value: s(v),
                inclusive,
            }),
            upper: hi.map(|(v, inclusive)| Bound {
                value: s(v),
                inclusive,
            }),
        };
        assert!(
            range(None, Some(("2024-03-05", true))).matches(&d),
            "lte rounds up to the end of the day"
        );
        assert!(
            !range(None, Some(("2024-03-05", false))).matches(&d),
            "lt rounds down"
        );
        assert!(
            !range(Some(("2024-03-05", false)), None).matches(&d),
            "gt rounds up"
        );
        assert!(range(Some(("2024-03-05", true)), None).matches(&d));
        assert!(range(Some(("2024-03-05T11:00:00+02:00", true)), None).matches(&d));
        assert!(
            range(Some(("1709633000000", true)), None).matches(&d),
            "epoch millis"
        );
        assert_eq!(
            date_bound("2024-03", true),
            date_bound("2024-03-01T23:59:59.999Z", false)
        );
    }

    #[test]
    fn flattened_roots_patterns_and_exists() {
        let d = doc(json!({
            "aws": {"cloudtrail": {"flattened": {"request_parameters": {"bucketName": "b1", "acl": {"grant": ["x", "y"]}}}}},
            "azure": {"auditlogs": {"properties": {"target_resources": {"0": {"modified_properties": {"1": {"new_value": "\"Global Administrator\""}}}}}}},
            "empty": {},
            "nul": null,
        }));
        let root = f("aws.cloudtrail.flattened.request_parameters");
        assert_eq!(root.ty, Some(FieldType::Flattened));
        assert!(Predicate::Term {
            field: root.clone(),
            value: s("y"),
            case_insensitive: false
        }
        .matches(&d));
        assert!(Predicate::Term {
            field: f("aws.cloudtrail.flattened.request_parameters.acl.grant"),
            value: s("x"),
            case_insensitive: false
        }
        .matches(&d));
        assert!(Predicate::Exists(root).matches(&d));
        assert!(!Predicate::Exists(typed("empty", None)).matches(&d));
        assert!(!Predicate::Exists(typed("nul", None)).matches(&d));
        let pat = typed(
            "azure.auditlogs.properties.target_resources.*.modified_properties.*.new_value",
            None,
        );
        assert!(Predicate::Term {
            field: pat.clone(),
            value: s("\"Global Administrator\""),
            case_insensitive: false
        }
        .matches(&d));
        assert!(!Predicate::Term {
            field: pat,
            value: s("Global Administrator"),
            case_insensitive: false
        }
        .matches(&d));
        assert!(glob_match("a.*.c", "a.b.x.c"));
        assert!(!glob_match("a.*.c", "a.c"));
        assert!(glob_match("*", "anything.at.all"));
        assert!(glob_match("a\\*b", "a*b"));
    }

    #[test]
    fn wildcard_on_text_tests_tokens() {
        let fld = typed("message", Some(FieldType::Text));
        let d = doc(json!({"message": "Started Netcat listener"}));
        let w = |p: &str| Predicate::Wildcard {
            field: fld.clone(),
            pattern: crate::pattern::Wildcard::new(p, true),
        };
        assert!(w("net*").matches(&d));
        assert!(
            !w("*netcat listener*").matches(&d),
            "a token never contains a space"
        );
        let kw = Predicate::Wildcard {
            field: typed("message", None),
            pattern: crate::pattern::Wildcard::new("*Netcat listener*", false),
        };
        assert!(kw.matches(&d));
    }
}
