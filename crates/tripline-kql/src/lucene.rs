//! The Lucene `query_string` subset rules written with `language = "lucene"` use:
//! `field:term`, `field:"phrase"`, `field:(a OR b)`, `field:[a TO b]` / `{a TO b}` (`*` for an
//! open end), `field:>=v`, `_exists_:field`, `field:/regex/`, `*` and `?` wildcards, `\`
//! escapes, `AND`/`OR`/`NOT` (upper case, and `&&`/`||`/`!`), `+`/`-` prefixes, parentheses,
//! and bare terms (every field). Clauses without an operator are OR-ed (`default_operator`).
//! Precedence: NOT > AND > OR.

use std::sync::Arc;

use tripline_ir::pattern::Wildcard;
use tripline_ir::{Bound, FieldRef, FieldType, FieldTypes, Literal, Predicate};

use crate::KqlError;

/// Compiles a Lucene query-string query.
pub fn compile_lucene(query: &str, types: &FieldTypes) -> Result<Predicate, KqlError> {
    let mut p = LParser {
        s: query,
        pos: 0,
        types,
    };
    p.ws();
    if p.pos >= query.len() {
        return Ok(Predicate::Const(true));
    }
    let q = p.or_expr()?;
    p.ws();
    if p.pos < query.len() {
        return Err(p.err("unexpected input"));
    }
    Ok(q)
}

struct LParser<'a> {
    s: &'a str,
    pos: usize,
    types: &'a FieldTypes,
}

fn special(c: char) -> bool {
    matches!(
        c,
        '+' | '-'
            | '='
            | '&'
            | '|'
            | '>'
            | '<'
            | '!'
            | '('
            | ')'
            | '{'
            | '}'
            | '['
            | ']'
            | '^'
            | '"'
            | '~'
            | ':'
            | '\\'
            | '/'
    ) || c.is_whitespace()
}

/// A term as written: text with its escapes resolved, plus whether it had unescaped `*`/`?`,
/// and its wildcard-syntax form.
struct Term {
    text: String,
    pattern: String,
    wildcard: bool,
}

impl<'a> LParser<'a> {
    fn err(&self, m: &str) -> KqlError {
        KqlError {
            offset: self.pos,
            message: m.to_string(),
        }
    }

    fn rest(&self) -> &'a str {
        &self.s[self.pos..]
    }

    fn ws(&mut self) {
        let r = self.rest();
        self.pos += r.len() - r.trim_start().len();
    }

    fn kw(&mut self, words: &[&str]) -> bool {
        let save = self.pos;
        self.ws();
        for w in words {
            if let Some(after) = self.rest().strip_prefix(w) {
                let sym = !w.chars().all(|c| c.is_ascii_alphabetic());
                if sym
                    || after.is_empty()
                    || after.starts_with(|c: char| c.is_whitespace() || c == '(')
                {
                    self.pos += w.len();
                    return true;
                }
            }
        }
        self.pos = save;
        false
    }

    fn or_expr(&mut self) -> Result<Predicate, KqlError> {
        let mut items = vec![self.and_expr()?];
        loop {
            if self.kw(&["OR", "||"]) {
                items.push(self.and_expr()?);
                continue;
            }
            // Implicit operator: another clause follows.
            let save = self.pos;
            self.ws();
            match self.rest().chars().next() {
                Some(c) if c != ')' && self.pos > save => items.push(self.and_expr()?),
                _ => {
                    self.pos = save;
                    break;
                }
            }
        }
        Ok(if items.len() == 1 {
            items.pop().expect("one")
        } else {
            Predicate::Or(items)
        })
    }

    fn and_expr(&mut self) -> Result<Predicate, KqlError> {
        let mut items = vec![self.unary()?];
        while self.kw(&["AND", "&&"]) {
            items.push(self.unary()?);
        }
        Ok(if items.len() == 1 {
            items.pop().expect("one")
        } else {
            Predicate::And(items)
        })
    }

    fn unary(&mut self) -> Result<Predicate, KqlError> {
        self.ws();
        if self.kw(&["NOT", "!"])
            || self.rest().starts_with('-') && {
                self.pos += 1;
                true
            }
        {
            return Ok(Predicate::Not(Box::new(self.unary()?)));
        }
        if self.rest().starts_with('+') {
            self.pos += 1;
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Predicate, KqlError> {
        self.ws();
        if self.rest().starts_with('(') {
            self.pos += 1;
            let q = self.or_expr()?;
            self.ws();
            if !self.rest().starts_with(')') {
                return Err(self.err("expected ')'"));
            }
            self.pos += 1;
            return Ok(q);
        }
        let start = self.pos;
        let first = self.term()?;
        if self.rest().starts_with(':') && !first.wildcard {
            self.pos += 1;
            let field = first.text;
            if field == "_exists_" {
                let f = self.term()?;
                return Ok(Predicate::Exists(FieldRef::resolve(&f.text, self.types)));
            }
            let fr = FieldRef::resolve(&field, self.types);
            return self.field_value(&fr);
        }
        if first.text.is_empty() && !first.wildcard {
            self.pos = start;
            return Err(self.err("expected a term"));
        }
        // Bare term: every field, as keyword leaves.
        let any = FieldRef {
            name: Arc::from("*"),
            source: Arc::from("*"),
            ty: None,
        };
        Ok(self.leaf(&any, first, false))
    }

    fn field_value(&mut self, f: &FieldRef) -> Result<Predicate, KqlError> {
        let r = self.rest();
        if r.starts_with('(') {
            self.pos += 1;
            let mut items = Vec::new();
            let mut all_and = false;
            loop {
                self.ws();
                if self.rest().starts_with(')') {
                    self.pos += 1;
                    break;
                }
                if self.kw(&["OR", "||"]) {
                    continue;
                }
                if self.kw(&["AND", "&&"]) {
                    all_and = true;
                    continue;
                }
                let neg = self.kw(&["NOT", "!"]);
                let p = self.field_value(f)?;
                items.push(if neg { Predicate::Not(Box::new(p)) } else { p });
                if self.pos >= self.s.len() {
                    return Err(self.err("expected ')'"));
                }
            }
            return Ok(if all_and {
                Predicate::And(items)
            } else {
                Predicate::Or(items)
            });
        }
        if r.starts_with('[') || r.starts_with('{') {
            let lo_inc = r.starts_with('[');
            self.pos += 1;
            self.ws();
            let lo = self.term()?;
            if !self.kw(&["TO"]) {
                return Err(self.err("expected TO"));
            }
            self.ws();
            let hi = self.term()?;
            self.ws();
            let hi_inc = match self.rest().chars().next() {
                Some(']') => true,
                Some('}') => false,
                _ => return Err(self.err("expected ']' or '}'")),
            };
            self.pos += 1;
            // `*` is an open end.
            let b = |t: Term, inc| {
                if t.wildcard && t.text == "*" {
                    None
                } else {
                    Some(Bound {
                        value: Literal::Str(t.text),
                        inclusive: inc,
                    })
                }
            };
            return Ok(Predicate::Range {
                field: f.clone(),
                lower: b(lo, lo_inc),
                upper: b(hi, hi_inc),
            });
        }
        for (op, lower, inc) in [
            (">=", true, true),
            ("<=", false, true),
            (">", true, false),
            ("<", false, false),
        ] {
            if r.starts_with(op) {
                self.pos += op.len();
                let t = self.term()?;
                let b = Some(Bound {
                    value: Literal::Str(t.text),
                    inclusive: inc,
                });
                let (lo, hi) = if lower { (b, None) } else { (None, b) };
                return Ok(Predicate::Range {
                    field: f.clone(),
                    lower: lo,
                    upper: hi,
                });
            }
        }
        if let Some(after) = r.strip_prefix('/') {
            let end = after
                .find('/')
                .ok_or_else(|| self.err("unterminated regular expression"))?;
            let body = &after[..end];
            self.pos += end + 2;
            let re = regex::Regex::new(&format!("^(?:{body})$"))
                .map_err(|e| self.err(&format!("bad regex: {e}")))?;
            return Ok(Predicate::Regex {
                field: f.clone(),
                regex: Arc::new(re),
            });
        }
        if r.starts_with('"') {
            let t = self.phrase()?;
            return Ok(self.leaf(
                f,
                Term {
                    pattern: String::new(),
                    wildcard: false,
                    text: t,
                },
                true,
            ));
        }
        let t = self.term()?;
        Ok(self.leaf(f, t, false))
    }

    fn leaf(&self, f: &FieldRef, t: Term, phrase: bool) -> Predicate {
        let text = f.ty.is_some_and(|x| x.is_text());
        if t.wildcard {
            if t.pattern == "*" {
                return Predicate::Exists(f.clone());
            }
            return Predicate::Wildcard {
                field: f.clone(),
                pattern: Wildcard::new(&t.pattern, text),
            };
        }
        match f.ty {
            Some(ty) if ty.is_date() => {
                let b = Bound {
                    value: Literal::Str(t.text),
                    inclusive: true,
                };
                Predicate::Range {
                    field: f.clone(),
                    lower: Some(b.clone()),
                    upper: Some(b),
                }
            }
            None | Some(FieldType::Keyword) => Predicate::Term {
                field: f.clone(),
                value: Literal::Str(t.text),
                case_insensitive: false,
            },
            _ => Predicate::Match {
                field: f.clone(),
                value: Literal::Str(t.text),
                phrase,
            },
        }
    }

    fn phrase(&mut self) -> Result<String, KqlError> {
        let start = self.pos;
        self.pos += 1;
        let mut out = String::new();
        let mut it = self.rest().char_indices();
        while let Some((i, c)) = it.next() {
            match c {
                '"' => {
                    self.pos += i + 1;
                    return Ok(out);
                }
                '\\' => {
                    if let Some((_, n)) = it.next() {
                        out.push(n);
                    }
                }
                _ => out.push(c),
            }
        }
        self.pos = start;
        Err(self.err("unterminated phrase"))
    }

    fn term(&mut self) -> Result<Term, KqlError> {
        let mut t = Term {
            text: String::new(),
            pattern: String::new(),
            wildcard: false,
        };
        let mut it = self.rest().char_indices().peekable();
        let mut consumed = 0;
        while let Some((i, c)) = it.next() {
            if c == '\\' {
                match it.next() {
                    Some((j, n)) => {
                        t.text.push(n);
                        if matches!(n, '*' | '?' | '\\') {
                            t.pattern.push('\\');
                        }
                        t.pattern.push(n);
                        consumed = j + n.len_utf8();
                        continue;
                    }
                    None => {
                        return Err(KqlError {
                            offset: self.pos + i,
                            message: "dangling escape".into(),
                        })
                    }
                }
            }
            if c == '*' || c == '?' {
                t.wildcard = true;
                t.text.push(c);
                t.pattern.push(c);
                consumed = i + 1;
                continue;
            }
            // `-` and `+` only matter at the start of a term; inside they are text.
            if special(c) && !(matches!(c, '-' | '+' | '/') && i > 0) {
                break;
            }
            t.text.push(c);
            t.pattern.push(c);
            consumed = i + c.len_utf8();
        }
        self.pos += consumed;
        if consumed == 0 {
            return Err(self.err("expected a term"));
        }
        Ok(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use tripline_doc::Document;

    fn m(q: &str, d: serde_json::Value) -> bool {
        let p = compile_lucene(q, FieldTypes::builtin()).unwrap_or_else(|e| panic!("{q}: {e}"));
        p.matches(&Document(d.as_object().unwrap().clone()))
    }

    #[test]
    fn lucene_subset() {
        let d = json!({"event": {"action": "CreateUser", "outcome": "success"}, "source": {"ip": "10.1.2.3"}, "host": {"name": "web-01"}});
        assert!(m(
            "event.action:CreateUser AND event.outcome:success",
            d.clone()
        ));
        assert!(m("event.action:(DeleteUser OR CreateUser)", d.clone()));
        assert!(m("event.action:Create*", d.clone()));
        assert!(m("event.action:Creat?User", d.clone()));
        assert!(!m("event.action:createuser", d.clone()));
        assert!(m("NOT event.action:DeleteUser", d.clone()));
        assert!(m("-event.action:DeleteUser", d.clone()));
        assert!(m(
            "_exists_:source.ip AND source.ip:[10.0.0.0 TO 10.255.255.255]",
            d.clone()
        ));
        assert!(m("source.ip:10.0.0.0\\/8", d.clone()));
        assert!(m("event.action:/Create.*/", d.clone()));
        assert!(m("host.name:web-01", d.clone()));
        assert!(m(
            "event.outcome:failure OR event.action:CreateUser",
            d.clone()
        ));
        assert!(m(
            "event.outcome:failure event.action:CreateUser",
            d.clone()
        ));
        assert!(!m(
            "event.outcome:failure AND event.action:CreateUser",
            d.clone()
        ));
        assert!(compile_lucene("event.action:(a OR b", FieldTypes::builtin()).is_err());
        assert!(compile_lucene("a:\"open", FieldTypes::builtin()).is_err());
    }
}
