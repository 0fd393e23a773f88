//! GROK and DISSECT patterns, and regex dialect translation (Lucene for RLIKE, Oniguruma
//! for GROK) to Rust's `regex`.

use std::collections::HashMap;
use std::sync::Arc;

use crate::value::{DataType, Value};

/// Translates a Lucene `RegExp` (what RLIKE uses) to an anchored Rust regex.
///
/// Lucene matches the whole string; `.` matches any character (newlines too); `\c` is the
/// literal `c` for every `c` (so `\d` is the letter `d`, not a digit class); `@` (outside a
/// class) is "any string" under the `ALL` syntax flags ES|QL enables. The operators Rust's
/// engine cannot express (`&` intersection, `~` complement) are kept as literals.
pub fn lucene_to_regex(pattern: &str) -> Result<regex::Regex, String> {
    let mut out = String::from("(?s)^(?:");
    let mut chars = pattern.chars().peekable();
    let mut in_class = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(n) => push_literal(&mut out, n, in_class),
                None => return Err("pattern ends with a backslash".into()),
            },
            '[' if !in_class => {
                in_class = true;
                out.push('[');
                if chars.peek() == Some(&'^') {
                    chars.next();
                    out.push('^');
                }
                // A `]` right after `[` or `[^` is literal.
                if chars.peek() == Some(&']') {
                    chars.next();
                    out.push_str("\\]");
                }
            }
            ']' if in_class => {
                in_class = false;
                out.push(']');
            }
            '-' if in_class => out.push('-'),
            _ if in_class => push_literal(&mut out, c, true),
            '@' => out.push_str(".*"),
            '.' | '?' | '+' | '*' | '|' | '(' | ')' | '{' | '}' => out.push(c),
            other => push_literal(&mut out, other, false),
        }
    }
    if in_class {
        return Err("unterminated character class".into());
    }
    out.push_str(")$");
    regex::Regex::new(&out).map_err(|e| e.to_string())
}

fn push_literal(out: &mut String, c: char, in_class: bool) {
    if in_class {
        if matches!(c, '[' | ']' | '\\' | '^' | '-' | '&' | '~') {
            out.push('\\');
        }
        out.push(c);
    } else {
        out.push_str(&regex::escape(&c.to_string()));
    }
}

/// Translates an Oniguruma-flavoured regex (GROK's dialect) to Rust syntax, renaming named
/// groups to `g0`, `g1`… (Rust group names cannot contain every character ES allows, such as
/// `.`). Returns the translated pattern and the original names in group order.
fn onig_to_rust(pattern: &str, names: &mut Vec<String>) -> Result<String, String> {
    let mut out = String::with_capacity(pattern.len());
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(n) if n.is_ascii_alphanumeric() => {
                    out.push('\\');
                    out.push(n);
                }
                Some(n) => out.push_str(&regex::escape(&n.to_string())),
                None => return Err("pattern ends with a backslash".into()),
            },
            '(' if chars.peek() == Some(&'?') => {
                let rest: String = chars.clone().take(3).collect();
                if rest.starts_with("?<") && !rest.starts_with("?<=") && !rest.starts_with("?<!") {
                    chars.next();
                    chars.next();
                    let mut name = String::new();
                    for ch in chars.by_ref() {
                        if ch == '>' {
                            break;
                        }
                        name.push(ch);
                    }
                    out.push_str(&format!("(?P<g{}>", names.len()));
                    names.push(name);
                } else if rest.starts_with("?>") {
                    // Atomic group: no Rust equivalent; a plain group matches the same strings
                    // in the patterns grok libraries use.
                    chars.next();
                    chars.next();
                    out.push_str("(?:");
                } else if rest.starts_with("?<=")
                    || rest.starts_with("?<!")
                    || rest.starts_with("?=")
                    || rest.starts_with("?!")
                {
                    return Err("look-around assertions are not supported".into());
                } else {
                    out.push('(');
                }
            }
            other => out.push(other),
        }
    }
    Ok(out)
}

/// Grok's standard pattern names (the commonly used subset), written for Rust's regex engine.
fn builtin_patterns() -> &'static HashMap<&'static str, &'static str> {
    static P: std::sync::OnceLock<HashMap<&'static str, &'static str>> = std::sync::OnceLock::new();
    P.get_or_init(|| {
        HashMap::from([
            ("USERNAME", r"[a-zA-Z0-9._-]+"),
            ("USER", r"%{USERNAME}"),
            ("EMAILLOCALPART", r"[a-zA-Z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-zA-Z0-9!#$%&'*+/=?^_`{|}~-]+)*"),
            ("EMAILADDRESS", r"%{EMAILLOCALPART}@%{HOSTNAME}"),
            ("INT", r"(?:[+-]?(?:[0-9]+))"),
            ("BASE10NUM", r"(?:[+-]?(?:(?:[0-9]+(?:\.[0-9]+)?)|(?:\.[0-9]+)))"),
            ("NUMBER", r"(?:%{BASE10NUM})"),
            ("BASE16NUM", r"(?:0[xX])?[0-9a-fA-F]+"),
            ("BASE16FLOAT", r"\b[+-]?(?:0[xX])?(?:[0-9A-Fa-f]+(?:\.[0-9A-Fa-f]*)?|\.[0-9A-Fa-f]+)\b"),
            ("POSINT", r"\b(?:[1-9][0-9]*)\b"),
            ("NONNEGINT", r"\b(?:[0-9]+)\b"),
            ("WORD", r"\b\w+\b"),
            ("NOTSPACE", r"\S+"),
            ("SPACE", r"\s*"),
            ("DATA", r".*?"),
            ("GREEDYDATA", r".*"),
            ("QUOTEDSTRING", r#"(?:"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`(?:[^`\\]|\\.)*`)"#),
            ("QS", r"%{QUOTEDSTRING}"),
            ("UUID", r"[A-Fa-f0-9]{8}-(?:[A-Fa-f0-9]{4}-){3}[A-Fa-f0-9]{12}"),
            ("URN", r"urn:[0-9A-Za-z][0-9A-Za-z-]{0,31}:(?:%[0-9a-fA-F]{2}|[0-9A-Za-z()+,.:=@;$_!*'/?#-])+"),
            ("MAC", r"(?:[A-Fa-f0-9]{2}[:-]){5}[A-Fa-f0-9]{2}|(?:[A-Fa-f0-9]{4}\.){2}[A-Fa-f0-9]{4}"),
            ("IPV4", r"(?:(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)\.){3}(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)"),
            ("IPV6", r"(?:(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}|(?:[0-9A-Fa-f]{1,4}:){1,7}:|(?:[0-9A-Fa-f]{1,4}:){1,6}:[0-9A-Fa-f]{1,4}|::(?:[0-9A-Fa-f]{1,4}:){0,5}[0-9A-Fa-f]{1,4}|::)(?:%[0-9A-Za-z]+)?"),
            ("IP", r"(?:%{IPV6}|%{IPV4})"),
            ("HOSTNAME", r"\b(?:[0-9A-Za-z][0-9A-Za-z-]{0,62})(?:\.(?:[0-9A-Za-z][0-9A-Za-z-]{0,62}))*\.?"),
            ("IPORHOST", r"(?:%{IP}|%{HOSTNAME})"),
            ("HOSTPORT", r"%{IPORHOST}:%{POSINT}"),
            ("UNIXPATH", r"(?:/[^/\s?#]*)+"),
            ("WINPATH", r"(?:[A-Za-z]+:|\\)(?:\\[^\\?*]*)+"),
            ("PATH", r"(?:%{UNIXPATH}|%{WINPATH})"),
            ("URIPROTO", r"[A-Za-z][A-Za-z0-9+.-]+"),
            ("URIHOST", r"%{IPORHOST}(?::%{POSINT})?"),
            ("URIPATH", r"(?:/[A-Za-z0-9$.+!*'(){},~:;=@#%&_\-]*)+"),
            ("URIQUERY", r"[A-Za-z0-9$.+!*'|(){},~@#%&/=:;_?\-\[\]<>]*"),
            ("URIPARAM", r"\?%{URIQUERY}"),
            ("URIPATHPARAM", r"%{URIPATH}(?:%{URIPARAM})?"),
            ("URI", r"%{URIPROTO}://(?:%{USER}(?::[^@]*)?@)?(?:%{URIHOST})?(?:%{URIPATHPARAM})?"),
            ("MONTH", r"\b(?:[Jj]an(?:uary|uar)?|[Ff]eb(?:ruary|ruar)?|[Mm](?:a|ä)?r(?:ch|z)?|[Aa]pr(?:il)?|[Mm]a(?:y|i)?|[Jj]un(?:e|i)?|[Jj]ul(?:y|i)?|[Aa]ug(?:ust)?|[Ss]ep(?:tember)?|[Oo](?:c|k)?t(?:ober)?|[Nn]ov(?:ember)?|[Dd]e(?:c|z)(?:ember)?)\b"),
            ("MONTHNUM", r"(?:0?[1-9]|1[0-2])"),
            ("MONTHDAY", r"(?:(?:0[1-9])|(?:[12][0-9])|(?:3[01])|[1-9])"),
            ("DAY", r"(?:Mon(?:day)?|Tue(?:sday)?|Wed(?:nesday)?|Thu(?:rsday)?|Fri(?:day)?|Sat(?:urday)?|Sun(?:day)?)"),
            ("YEAR", r"(?:\d\d){1,2}"),
            ("HOUR", r"(?:2[0123]|[01]?[0-9])"),
            ("MINUTE", r"(?:[0-5][0-9])"),
            ("SECOND", r"(?:(?:[0-5]?[0-9]|60)(?:[:.,][0-9]+)?)"),
            ("TIME", r"%{HOUR}:%{MINUTE}(?::%{SECOND})?"),
            ("ISO8601_TIMEZONE", r"(?:Z|[+-]%{HOUR}(?::?%{MINUTE}))"),
            ("TIMESTAMP_ISO8601", r"%{YEAR}-%{MONTHNUM}-%{MONTHDAY}[T ]%{HOUR}:?%{MINUTE}(?::?%{SECOND})?%{ISO8601_TIMEZONE}?"),
            ("DATE_US", r"%{MONTHNUM}[/-]%{MONTHDAY}[/-]%{YEAR}"),
            ("DATE_EU", r"%{MONTHDAY}[./-]%{MONTHNUM}[./-]%{YEAR}"),
            ("DATE", r"(?:%{DATE_US}|%{DATE_EU})"),
            ("HTTPDATE", r"%{MONTHDAY}/%{MONTH}/%{YEAR}:%{TIME} %{INT}"),
            ("LOGLEVEL", r"(?:[Aa]lert|ALERT|[Tt]race|TRACE|[Dd]ebug|DEBUG|[Nn]otice|NOTICE|[Ii]nfo?(?:rmation)?|INFO?(?:RMATION)?|[Ww]arn?(?:ing)?|WARN?(?:ING)?|[Ee]rr?(?:or)?|ERR?(?:OR)?|[Cc]rit?(?:ical)?|CRIT?(?:ICAL)?|[Ff]atal|FATAL|[Ss]evere|SEVERE|EMERG(?:ENCY)?|[Ee]merg(?:ency)?)"),
        ])
    })
}

/// One GROK capture: its output column and type.
#[derive(Debug, Clone)]
pub struct Capture {
    pub name: String,
    pub ty: DataType,
}

/// A compiled GROK pattern.
#[derive(Debug, Clone)]
pub struct Grok {
    pub source: String,
    regex: regex::Regex,
    /// Per regex group `gN`: index into `columns`.
    groups: Vec<usize>,
    /// Output columns in pattern order (a name captured twice yields one column).
    pub columns: Vec<Capture>,
}

impl Grok {
    pub fn new(pattern: &str) -> Result<Grok, String> {
        let mut names: Vec<(String, DataType)> = Vec::new();
        let expanded = expand(pattern, &mut names, 0)?;
        // Named groups written as raw regex are renamed after expansion.
        let mut raw_names = Vec::new();
        let translated = onig_to_rust(&expanded, &mut raw_names)?;
        // `expand` emitted `(?<__gN>` markers for %{P:name}; map both kinds in group order.
        let mut columns: Vec<Capture> = Vec::new();
        let mut groups = Vec::new();
        for raw in raw_names {
            let (name, ty) = match raw
                .strip_prefix("__g")
                .and_then(|n| n.parse::<usize>().ok())
            {
                Some(i) => names.get(i).cloned().ok_or("internal grok naming error")?,
                None => (raw, DataType::Keyword),
            };
            let idx = match columns.iter().position(|c| c.name == name) {
                Some(i) => i,
                None => {
                    columns.push(Capture { name, ty });
                    columns.len() - 1
                }
            };
            groups.push(idx);
        }
        let regex =
            regex::Regex::new(&translated).map_err(|e| format!("invalid grok pattern: {e}"))?;
        Ok(Grok {
            source: pattern.to_string(),
            regex,
            groups,
            columns,
        })
    }

    /// Matches `input` (unanchored); `None` when the pattern does not match.
    pub fn captures(&self, input: &str) -> Option<Vec<Value>> {
        let caps = self.regex.captures(input)?;
        let mut out = vec![Value::Null; self.columns.len()];
        for (g, &col) in self.groups.iter().enumerate() {
            if let Some(m) = caps.name(&format!("g{g}")) {
                let v = convert(m.as_str(), self.columns[col].ty);
                out[col] = match std::mem::take(&mut out[col]) {
                    Value::Null => v,
                    prev => Value::from_vec(vec![prev, v]),
                };
            }
        }
        Some(out)
    }
}

fn convert(s: &str, ty: DataType) -> Value {
    match ty {
        DataType::Integer => s.parse::<i64>().map(Value::Int).unwrap_or(Value::Null),
        DataType::Long => s.parse::<i64>().map(Value::Long).unwrap_or(Value::Null),
        DataType::Double => s.parse::<f64>().map(Value::Double).unwrap_or(Value::Null),
        DataType::Boolean => match s.to_ascii_lowercase().as_str() {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => Value::Null,
        },
        _ => Value::Str(s.to_string()),
    }
}

/// Expands `%{NAME}`, `%{NAME:field}`, `%{NAME:field:type}`; captures become `(?<__gN>`.
fn expand(
    pattern: &str,
    names: &mut Vec<(String, DataType)>,
    depth: usize,
) -> Result<String, String> {
    if depth > 20 {
        return Err("grok pattern definitions nest too deeply".into());
    }
    let mut out = String::new();
    let mut rest = pattern;
    while let Some(pos) = rest.find("%{") {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 2..];
        let end = after.find('}').ok_or("unterminated %{ in grok pattern")?;
        let spec = &after[..end];
        let mut parts = spec.splitn(3, ':');
        let pname = parts.next().unwrap_or_default();
        let field = parts.next();
        let ty = match parts.next() {
            None => DataType::Keyword,
            Some("int") => DataType::Integer,
            Some("long") => DataType::Long,
            Some("float") | Some("double") => DataType::Double,
            Some("boolean") => DataType::Boolean,
            Some(other) => return Err(format!("unsupported grok type {other:?}")),
        };
        let def = builtin_patterns()
            .get(pname)
            .ok_or_else(|| format!("unknown grok pattern %{{{pname}}}"))?;
        // Captures inside library definitions are not outputs; only the outer name is.
        let inner = expand(def, &mut Vec::new(), depth + 1)?;
        match field {
            Some(f) if !f.is_empty() => {
                out.push_str(&format!("(?<__g{}>{inner})", names.len()));
                names.push((f.to_string(), ty));
            }
            _ => {
                out.push_str("(?:");
                out.push_str(&inner);
                out.push(')');
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// One `%{...}` key of a dissect pattern.
#[derive(Debug, Clone)]
struct DissectKey {
    name: String,
    skip: bool,
    append: bool,
    right_pad: bool,
}

/// A compiled DISSECT pattern.
#[derive(Debug, Clone)]
pub struct DissectPattern {
    pub source: String,
    leading: String,
    /// Each key with the delimiter that follows it (the last one's may be empty).
    keys: Vec<(DissectKey, String)>,
    /// Output columns (non-skipped key names, first-appearance order).
    pub columns: Vec<String>,
}

impl DissectPattern {
    pub fn new(pattern: &str) -> Result<DissectPattern, String> {
        let mut leading = String::new();
        let mut keys: Vec<(DissectKey, String)> = Vec::new();
        let mut rest = pattern;
        let mut first = true;
        loop {
            match rest.find("%{") {
                None => {
                    if first {
                        return Err("dissect pattern has no keys".into());
                    }
                    if let Some(last) = keys.last_mut() {
                        last.1.push_str(rest);
                    }
                    break;
                }
                Some(pos) => {
                    let delim = &rest[..pos];
                    if first {
                        leading = delim.to_string();
                    } else if let Some(last) = keys.last_mut() {
                        if delim.is_empty() {
                            return Err("dissect keys must be separated by a delimiter".into());
                        }
                        last.1 = delim.to_string();
                    }
                    let after = &rest[pos + 2..];
                    let end = after
                        .find('}')
                        .ok_or("unterminated %{ in dissect pattern")?;
                    keys.push((parse_key(&after[..end])?, String::new()));
                    rest = &after[end + 1..];
                    first = false;
                }
            }
        }
        let mut columns = Vec::new();
        for (k, _) in &keys {
            if !k.skip && !columns.contains(&k.name) {
                columns.push(k.name.clone());
            }
        }
        Ok(DissectPattern {
            source: pattern.to_string(),
            leading,
            keys,
            columns,
        })
    }

    /// Splits `input`; `None` when it does not match the pattern.
    pub fn parse(&self, input: &str, append_separator: &str) -> Option<Vec<Value>> {
        let mut pos = 0;
        if !input.starts_with(&self.leading) {
            return None;
        }
        pos += self.leading.len();
        let mut values: HashMap<&str, String> = HashMap::new();
        let n = self.keys.len();
        for (i, (key, delim)) in self.keys.iter().enumerate() {
            let (value, next) = if delim.is_empty() {
                if i + 1 != n {
                    return None;
                }
                (&input[pos..], input.len())
            } else {
                let found = input[pos..].find(delim.as_str())? + pos;
                let mut next = found + delim.len();
                if key.right_pad {
                    while input[next..].starts_with(delim.as_str()) {
                        next += delim.len();
                    }
                }
                (&input[pos..found], next)
            };
            if !key.skip {
                match values.get_mut(key.name.as_str()) {
                    Some(prev) if key.append => {
                        prev.push_str(append_separator);
                        prev.push_str(value);
                    }
                    _ => {
                        values.insert(&key.name, value.to_string());
                    }
                }
            }
            pos = next;
        }
        Some(
            self.columns
                .iter()
                .map(|c| {
                    values
                        .remove(c.as_str())
                        .map(Value::Str)
                        .unwrap_or(Value::Null)
                })
                .collect(),
        )
    }
}

fn parse_key(spec: &str) -> Result<DissectKey, String> {
    let mut s = spec;
    let mut right_pad = false;
    if let Some(stripped) = s.strip_suffix("->") {
        right_pad = true;
        s = stripped;
    }
    let (skip, append, name) = if s.is_empty() {
        (true, false, "")
    } else if let Some(n) = s.strip_prefix('?') {
        (true, false, n)
    } else if let Some(n) = s.strip_prefix('+') {
        (false, true, n)
    } else if s.starts_with('*') || s.starts_with('&') {
        return Err(format!(
            "dissect reference keys ({spec}) are not supported by ES|QL"
        ));
    } else {
        (false, false, s)
    };
    // `/N` ordinal suffix on append keys orders appends; Tripline appends in pattern order.
    let name = name.split_once('/').map(|(a, _)| a).unwrap_or(name);
    Ok(DissectKey {
        name: name.to_string(),
        skip,
        append,
        right_pad,
    })
}

pub type SharedGrok = Arc<Grok>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lucene_regex_semantics() {
        let r = lucene_to_regex(r#".*\"Effect\": *\"Allow\".*"#).unwrap();
        assert!(r.is_match(r#"{"Effect": "Allow"}"#));
        assert!(!r.is_match(r#"{"Effect": "Deny"}"#));
        // Anchored: the whole string must match.
        assert!(!lucene_to_regex("abc").unwrap().is_match("xabc"));
        // `\d` is a literal d in Lucene.
        assert!(lucene_to_regex(r"a\d").unwrap().is_match("ad"));
        assert!(lucene_to_regex("a.c").unwrap().is_match("a\nc"));
        assert!(lucene_to_regex("x@").unwrap().is_match("xyz"));
        assert!(lucene_to_regex(r#"[!@#$%^&*()_+={[\]|\\:;"'<,>.?/~` \-]+"#)
            .unwrap()
            .is_match("~@"));
    }

    #[test]
    fn grok_named_groups_and_library_patterns() {
        let g = Grok::new(r#":(?<Esql.caller_account>[0-9]{12}):"#).unwrap();
        assert_eq!(g.columns[0].name, "Esql.caller_account");
        assert_eq!(
            g.captures("arn:aws:iam::123456789012:user/x").unwrap(),
            vec![Value::Str("123456789012".into())]
        );
        assert!(g.captures("nothing").is_none());
        let g = Grok::new("accessKeyId=%{NOTSPACE:key}, %{INT:n:int}").unwrap();
        assert_eq!(
            g.captures("{accessKeyId=ASIA1, 42}").unwrap(),
            vec![Value::Str("ASIA1".into()), Value::Int(42)]
        );
        let g = Grok::new(r#"instanceId=(?<id>[^,}\]]+)"#).unwrap();
        assert_eq!(
            g.captures("{instanceId=i-123}").unwrap(),
            vec![Value::Str("i-123".into())]
        );
        assert!(Grok::new("%{NOPE:x}").is_err());
    }

    #[test]
    fn dissect_keys_skips_and_padding() {
        let d = DissectPattern::new("{%{?k}=%{svc}, %{?q}=%{quota}}").unwrap();
        assert_eq!(d.columns, vec!["svc", "quota"]);
        assert_eq!(
            d.parse("{serviceCode=ec2, quotaCode=L-1216C47A}", "")
                .unwrap(),
            vec![Value::Str("ec2".into()), Value::Str("L-1216C47A".into())]
        );
        assert!(d.parse("serviceCode=ec2", "").is_none());
        let d = DissectPattern::new("%{}static/js/%{name}").unwrap();
        assert_eq!(
            d.parse("site/static/js/app.js", "").unwrap(),
            vec![Value::Str("app.js".into())]
        );
        let d = DissectPattern::new("%{a->} %{b}").unwrap();
        assert_eq!(
            d.parse("x    y", "").unwrap(),
            vec![Value::Str("x".into()), Value::Str("y".into())]
        );
        let d = DissectPattern::new("%{+a} %{+a}").unwrap();
        assert_eq!(d.parse("x y", "-").unwrap(), vec![Value::Str("x-y".into())]);
    }
}
