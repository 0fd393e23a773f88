//! KQL syntax, following Kibana's grammar (`kuery` PEG) rule for rule, including its quirks:
//! unquoted values may contain spaces and end before a ` or `/` and `/`not ` keyword;
//! `*` is the only wildcard (`?` is an ordinary character); `\` escapes only `\():<>"*{}`,
//! `\t`, `\r`, `\n`, `\uXXXX` and the keywords; `true`/`false`/`null` unquoted are typed
//! literals; keywords are case-insensitive; precedence is `not` > `and` > `or`.

use crate::KqlError;

/// A parsed KQL query.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Or(Vec<Node>),
    And(Vec<Node>),
    Not(Box<Node>),
    /// `field:value`, or a bare `value` (field `None`: every field).
    Is {
        field: Option<Value>,
        value: Value,
    },
    /// `field < value` and friends.
    Range {
        field: Value,
        op: RangeOp,
        value: Value,
    },
    /// `path:{ query }`.
    Nested {
        path: Value,
        query: Box<Node>,
    },
    /// The empty query: matches everything.
    MatchAll,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeOp {
    Lt,
    Lte,
    Gt,
    Gte,
}

/// A literal as written: unescaped text pieces and (unquoted only) wildcards.
#[derive(Debug, Clone, PartialEq)]
pub struct Value {
    pub parts: Vec<Part>,
    pub quoted: bool,
    /// Byte offset of the literal in the query.
    pub offset: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    Text(String),
    Star,
}

/// What an unquoted literal means once its wildcards and keywords are known.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Str(String),
    Bool(bool),
    Null,
}

impl Value {
    /// True when the value has an (unescaped) wildcard.
    pub fn is_wildcard(&self) -> bool {
        self.parts.iter().any(|p| matches!(p, Part::Star))
    }

    /// `*` alone: the exists query (or every field, as a field name).
    pub fn is_lone_wildcard(&self) -> bool {
        self.is_wildcard() && self.parts.iter().all(|p| matches!(p, Part::Star))
    }

    /// The text with wildcards rendered as `*` (how Kibana sends a non-wildcard context,
    /// e.g. a range bound).
    pub fn text(&self) -> String {
        let mut s = String::new();
        for p in &self.parts {
            match p {
                Part::Text(t) => s.push_str(t),
                Part::Star => s.push('*'),
            }
        }
        s
    }

    /// Kibana's literal typing: unquoted `true`, `false`, `null` are not strings.
    pub fn literal(&self) -> Literal {
        if !self.quoted && !self.is_wildcard() {
            match self.text().as_str() {
                "true" => return Literal::Bool(true),
                "false" => return Literal::Bool(false),
                "null" => return Literal::Null,
                _ => {}
            }
        }
        Literal::Str(self.text())
    }

    /// The value as a wildcard pattern in [`tripline_ir::pattern::Wildcard`] syntax: literal
    /// `*`, `?` and `\` escaped, KQL wildcards as `*`.
    pub fn wildcard_pattern(&self) -> String {
        let mut s = String::new();
        for p in &self.parts {
            match p {
                Part::Text(t) => {
                    for c in t.chars() {
                        if matches!(c, '*' | '?' | '\\') {
                            s.push('\\');
                        }
                        s.push(c);
                    }
                }
                Part::Star => s.push('*'),
            }
        }
        s
    }
}

/// Parses a KQL query.
pub fn parse(src: &str) -> Result<Node, KqlError> {
    let mut p = Parser {
        src,
        pos: 0,
        furthest: 0,
        expected: Vec::new(),
    };
    p.spaces();
    if p.at_end() {
        return Ok(Node::MatchAll);
    }
    let node = p.or_query()?;
    p.spaces();
    if !p.at_end() {
        return Err(p.error());
    }
    Ok(node)
}

struct Parser<'a> {
    src: &'a str,
    pos: usize,
    /// Furthest position where something failed, and what was expected there (PEG-style
    /// error reporting: the deepest failure explains the error best).
    furthest: usize,
    expected: Vec<&'static str>,
}

type PResult<T> = Result<T, KqlError>;

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n' | '\u{00A0}')
}

fn is_special(c: char) -> bool {
    matches!(
        c,
        '\\' | '(' | ')' | ':' | '<' | '>' | '"' | '*' | '{' | '}'
    )
}

impl<'a> Parser<'a> {
    fn rest(&self) -> &'a str {
        &self.src[self.pos..]
    }

    fn at_end(&self) -> bool {
        self.pos >= self.src.len()
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn fail(&mut self, at: usize, what: &'static str) {
        if at > self.furthest {
            self.furthest = at;
            self.expected.clear();
        }
        if at == self.furthest && !self.expected.contains(&what) {
            self.expected.push(what);
        }
    }

    fn error(&self) -> KqlError {
        let at = self.furthest.max(self.pos);
        let found = match self.src[at.min(self.src.len())..].chars().next() {
            Some(c) => format!("{c:?}"),
            None => "end of query".to_string(),
        };
        let expected = if at == self.furthest && !self.expected.is_empty() {
            self.expected.join(", ")
        } else {
            "end of query, \"and\" or \"or\"".to_string()
        };
        KqlError {
            offset: at,
            message: format!("expected {expected} but found {found}"),
        }
    }

    fn spaces(&mut self) -> usize {
        let start = self.pos;
        while let Some(c) = self.peek() {
            if !is_space(c) {
                break;
            }
            self.pos += c.len_utf8();
        }
        self.pos - start
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += c.len_utf8();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: char, what: &'static str) -> PResult<()> {
        if self.eat(c) {
            Ok(())
        } else {
            self.fail(self.pos, what);
            Err(self.error())
        }
    }

    /// Case-insensitive keyword at `at` (ASCII), returning its end.
    fn word_at(&self, at: usize, kw: &str) -> Option<usize> {
        let s = self.src.get(at..at + kw.len())?;
        s.eq_ignore_ascii_case(kw).then_some(at + kw.len())
    }

    fn space_at(&self, at: usize) -> Option<usize> {
        let c = self.src.get(at..)?.chars().next()?;
        is_space(c).then_some(at + c.len_utf8())
    }

    /// `Space+ 'kw'i Space+` (the `or`/`and` separators).
    fn binary_keyword(&mut self, kw: &str) -> bool {
        let save = self.pos;
        if self.spaces() > 0 {
            if let Some(end) = self.word_at(self.pos, kw) {
                self.pos = end;
                if self.spaces() > 0 {
                    return true;
                }
            }
        }
        self.pos = save;
        false
    }

    /// `'not'i Space+`.
    fn not_keyword(&mut self) -> bool {
        let save = self.pos;
        if let Some(end) = self.word_at(self.pos, "not") {
            self.pos = end;
            if self.spaces() > 0 {
                return true;
            }
        }
        self.pos = save;
        false
    }

    /// Kibana's `Keyword` lookahead inside unquoted literals: `Space or Space`,
    /// `Space and Space`, `not Space`.
    fn keyword_ahead(&self, at: usize) -> bool {
        if let Some(after_space) = self.space_at(at) {
            for kw in ["or", "and"] {
                if let Some(e) = self.word_at(after_space, kw) {
                    if self.space_at(e).is_some() {
                        return true;
                    }
                }
            }
        }
        self.word_at(at, "not")
            .is_some_and(|e| self.space_at(e).is_some())
    }

    /// `operand (keyword operand)*`: the operands of a left-to-right chain of one binary
    /// keyword (`expected` names it in syntax errors). A keyword not followed by an operand is left unconsumed (PEG backtracking).
    fn keyword_chain<T>(
        &mut self,
        keyword: &str,
        expected: &'static str,
        operand: fn(&mut Self) -> PResult<T>,
    ) -> PResult<Vec<T>> {
        let mut items = vec![operand(self)?];
        loop {
            let save = self.pos;
            if !self.binary_keyword(keyword) {
                self.fail(self.pos, expected);
                break;
            }
            match operand(self) {
                Ok(n) => items.push(n),
                Err(_) => {
                    self.pos = save;
                    break;
                }
            }
        }
        Ok(items)
    }

    fn or_query(&mut self) -> PResult<Node> {
        let mut items = self.keyword_chain("or", "\"or\"", Self::and_query)?;
        Ok(if items.len() == 1 {
            items.pop().expect("one")
        } else {
            Node::Or(items)
        })
    }

    fn and_query(&mut self) -> PResult<Node> {
        let mut items = self.keyword_chain("and", "\"and\"", Self::not_query)?;
        Ok(if items.len() == 1 {
            items.pop().expect("one")
        } else {
            Node::And(items)
        })
    }

    fn not_query(&mut self) -> PResult<Node> {
        let save = self.pos;
        if self.not_keyword() {
            match self.sub_query() {
                Ok(q) => return Ok(Node::Not(Box::new(q))),
                // PEG: `Not SubQuery / SubQuery` — retry without the keyword.
                Err(_) => self.pos = save,
            }
        }
        self.sub_query()
    }

    fn sub_query(&mut self) -> PResult<Node> {
        if self.eat('(') {
            self.spaces();
            let q = self.or_query()?;
            self.spaces();
            self.expect(')', "\")\"")?;
            return Ok(q);
        }
        self.fail(self.pos, "\"(\"");
        self.expression()
    }

    /// NestedQuery / FieldRangeExpression / FieldValueExpression / ValueExpression: they all
    /// begin with a literal, so it is read once and what follows decides.
    fn expression(&mut self) -> PResult<Node> {
        let lit = self.literal()?;
        let after_lit = self.pos;
        self.spaces();
        if self.eat(':') {
            self.spaces();
            if self.eat('{') {
                self.spaces();
                let q = self.or_query()?;
                self.spaces();
                self.expect('}', "\"}\"")?;
                return Ok(Node::Nested {
                    path: lit,
                    query: Box::new(q),
                });
            }
            let list = self.list_of_values()?;
            return Ok(apply_field(list, &lit));
        }
        self.fail(self.pos, "\":\"");
        if let Some(op) = self.range_op() {
            self.spaces();
            let value = self.literal()?;
            return Ok(Node::Range {
                field: lit,
                op,
                value,
            });
        }
        self.fail(self.pos, "a range operator");
        self.pos = after_lit;
        Ok(Node::Is {
            field: None,
            value: lit,
        })
    }

    fn range_op(&mut self) -> Option<RangeOp> {
        let r = self.rest();
        let (op, len) = if r.starts_with("<=") {
            (RangeOp::Lte, 2)
        } else if r.starts_with(">=") {
            (RangeOp::Gte, 2)
        } else if r.starts_with('<') {
            (RangeOp::Lt, 1)
        } else if r.starts_with('>') {
            (RangeOp::Gt, 1)
        } else {
            return None;
        };
        self.pos += len;
        Some(op)
    }

    fn list_of_values(&mut self) -> PResult<ValueTree> {
        if self.eat('(') {
            self.spaces();
            let t = self.or_list()?;
            self.spaces();
            self.expect(')', "\")\"")?;
            return Ok(t);
        }
        self.fail(self.pos, "\"(\"");
        Ok(ValueTree::Value(self.literal()?))
    }

    fn or_list(&mut self) -> PResult<ValueTree> {
        let mut items = self.keyword_chain("or", "\"or\"", Self::and_list)?;
        Ok(if items.len() == 1 {
            items.pop().expect("one")
        } else {
            ValueTree::Or(items)
        })
    }

    fn and_list(&mut self) -> PResult<ValueTree> {
        let mut items = self.keyword_chain("and", "\"and\"", Self::not_list)?;
        Ok(if items.len() == 1 {
            items.pop().expect("one")
        } else {
            ValueTree::And(items)
        })
    }

    fn not_list(&mut self) -> PResult<ValueTree> {
        let save = self.pos;
        if self.not_keyword() {
            match self.list_of_values() {
                Ok(v) => return Ok(ValueTree::Not(Box::new(v))),
                Err(_) => self.pos = save,
            }
        }
        self.list_of_values()
    }

    /// QuotedString / UnquotedLiteral.
    fn literal(&mut self) -> PResult<Value> {
        let start = self.pos;
        if self.eat('"') {
            let mut text = String::new();
            loop {
                let Some(c) = self.peek() else {
                    self.fail(self.pos, "closing '\"'");
                    return Err(self.error());
                };
                match c {
                    '"' => {
                        self.pos += 1;
                        break;
                    }
                    '\\' => {
                        let (ch, len) = self.escape_in_quoted();
                        text.push_str(&ch);
                        self.pos += len;
                    }
                    _ => {
                        text.push(c);
                        self.pos += c.len_utf8();
                    }
                }
            }
            return Ok(Value {
                parts: vec![Part::Text(text)],
                quoted: true,
                offset: start,
            });
        }
        let mut parts: Vec<Part> = Vec::new();
        let push_text = |parts: &mut Vec<Part>, s: &str| match parts.last_mut() {
            Some(Part::Text(t)) => t.push_str(s),
            _ => parts.push(Part::Text(s.to_string())),
        };
        while let Some(c) = self.peek() {
            if c == '\\' {
                match self.escape_unquoted() {
                    Some((s, len)) => {
                        push_text(&mut parts, &s);
                        self.pos += len;
                        continue;
                    }
                    None => break,
                }
            }
            if c == '*' {
                self.pos += 1;
                parts.push(Part::Star);
                continue;
            }
            if is_special(c) || self.keyword_ahead(self.pos) {
                break;
            }
            let mut buf = [0u8; 4];
            push_text(&mut parts, c.encode_utf8(&mut buf));
            self.pos += c.len_utf8();
        }
        if self.pos == start {
            self.fail(self.pos, "a value");
            return Err(self.error());
        }
        // Kibana trims the joined literal (escaped whitespace at the ends included).
        trim_parts(&mut parts);
        Ok(Value {
            parts,
            quoted: false,
            offset: start,
        })
    }

    /// An escape inside quotes: `\t \r \n \uXXXX \\ \"`; any other `\` is itself.
    fn escape_in_quoted(&self) -> (String, usize) {
        let r = self.rest();
        let mut it = r.chars().skip(1);
        match it.next() {
            Some('t') => ("\t".into(), 2),
            Some('r') => ("\r".into(), 2),
            Some('n') => ("\n".into(), 2),
            Some('\\') => ("\\".into(), 2),
            Some('"') => ("\"".into(), 2),
            Some('u') => match unicode_escape(r) {
                Some(c) => (c.to_string(), 6),
                None => ("\\".into(), 1),
            },
            _ => ("\\".into(), 1),
        }
    }

    /// An escape outside quotes, or `None` when `\` does not start a valid one (Kibana then
    /// ends the literal at the backslash, which is a syntax error).
    fn escape_unquoted(&self) -> Option<(String, usize)> {
        let r = self.rest();
        let next = r[1..].chars().next()?;
        match next {
            't' => return Some(("\t".into(), 2)),
            'r' => return Some(("\r".into(), 2)),
            'n' => return Some(("\n".into(), 2)),
            c if is_special(c) => return Some((c.to_string(), 1 + c.len_utf8())),
            'u' | 'U' => {
                if let Some(c) = unicode_escape(r).filter(|_| next == 'u') {
                    return Some((c.to_string(), 6));
                }
            }
            _ => {}
        }
        for kw in ["or", "and", "not"] {
            if let Some(s) = r.get(1..1 + kw.len()) {
                if s.eq_ignore_ascii_case(kw) {
                    return Some((s.to_string(), 1 + kw.len()));
                }
            }
        }
        None
    }
}

/// `\uXXXX` at the start of `r` (UTF-16 unit; lone surrogates become U+FFFD).
fn unicode_escape(r: &str) -> Option<char> {
    let hex = r.get(2..6)?;
    if !r[1..].starts_with('u') || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let n = u32::from_str_radix(hex, 16).ok()?;
    Some(char::from_u32(n).unwrap_or('\u{FFFD}'))
}

fn trim_parts(parts: &mut Vec<Part>) {
    if let Some(Part::Text(t)) = parts.first_mut() {
        let trimmed = t.trim_start().to_string();
        *t = trimmed;
    }
    if let Some(Part::Text(t)) = parts.last_mut() {
        let trimmed = t.trim_end().to_string();
        *t = trimmed;
    }
    parts.retain(|p| !matches!(p, Part::Text(t) if t.is_empty()));
}

/// A field's list of values before the field is applied: `field:(a or (b and not c))`.
#[derive(Debug, Clone)]
enum ValueTree {
    Value(Value),
    Or(Vec<ValueTree>),
    And(Vec<ValueTree>),
    Not(Box<ValueTree>),
}

fn apply_field(t: ValueTree, field: &Value) -> Node {
    match t {
        ValueTree::Value(v) => Node::Is {
            field: Some(field.clone()),
            value: v,
        },
        ValueTree::Or(items) => {
            Node::Or(items.into_iter().map(|i| apply_field(i, field)).collect())
        }
        ValueTree::And(items) => {
            Node::And(items.into_iter().map(|i| apply_field(i, field)).collect())
        }
        ValueTree::Not(i) => Node::Not(Box::new(apply_field(*i, field))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Value {
        Value {
            parts: vec![Part::Text(s.into())],
            quoted: false,
            offset: 0,
        }
    }

    /// Renders a tree compactly for assertions (offsets ignored).
    fn show(n: &Node) -> String {
        fn val(v: &Value) -> String {
            let mut s = String::new();
            for p in &v.parts {
                match p {
                    Part::Text(t) => s.push_str(t),
                    Part::Star => s.push('⁎'),
                }
            }
            if v.quoted {
                format!("\"{s}\"")
            } else {
                s
            }
        }
        match n {
            Node::Or(xs) => format!("or({})", xs.iter().map(show).collect::<Vec<_>>().join(", ")),
            Node::And(xs) => format!(
                "and({})",
                xs.iter().map(show).collect::<Vec<_>>().join(", ")
            ),
            Node::Not(x) => format!("not({})", show(x)),
            Node::Is {
                field: Some(f),
                value,
            } => format!("{}={}", val(f), val(value)),
            Node::Is { field: None, value } => format!("any={}", val(value)),
            Node::Range { field, op, value } => format!("{}{:?}{}", val(field), op, val(value)),
            Node::Nested { path, query } => format!("{}{{{}}}", val(path), show(query)),
            Node::MatchAll => "all".into(),
        }
    }

    fn p(q: &str) -> String {
        show(&parse(q).unwrap_or_else(|e| panic!("{q}: {e}")))
    }

    #[test]
    fn structure_and_precedence() {
        assert_eq!(p("a:1 or b:2 and not c:3"), "or(a=1, and(b=2, not(c=3)))");
        assert_eq!(p("(a:1 OR b:2) AND c:3"), "and(or(a=1, b=2), c=3)");
        assert_eq!(p("NOT a:1"), "not(a=1)");
        assert_eq!(p("a:(x or y and not z)"), "or(a=x, and(a=y, not(a=z)))");
        assert_eq!(p("a : ( \"x y\" or z* )"), "or(a=\"x y\", a=z⁎)");
        assert_eq!(p("a:foo bar"), "a=foo bar");
        assert_eq!(p("foo bar"), "any=foo bar");
        assert_eq!(p("  "), "all");
        assert_eq!(p("a:*"), "a=⁎");
        assert_eq!(p("x >= 5 and y<2"), "and(xGte5, yLt2)");
        assert_eq!(p("p:{ a:1 and b:(2 or 3) }"), "p{and(a=1, or(b=2, b=3))}");
        assert_eq!(p("a.*.b:c"), "a.⁎.b=c");
        assert_eq!(v("x"), v("x"));
    }

    #[test]
    fn escapes_and_keywords_inside_values() {
        assert_eq!(p(r"a:system\:node\:*"), "a=system:node:⁎");
        assert_eq!(p(r#"a:\(x\)\*\\\<\>\{\}\"y"#), "a=(x)*\\<>{}\"y");
        assert_eq!(p(r"a:x\tb"), "a=x\tb");
        assert_eq!(p(r"a:\u0041"), "a=A");
        assert_eq!(p(r#"a:"\u0000""#), "a=\"\u{0}\"");
        assert_eq!(p(r"a:\or \AND"), "a=or AND");
        assert_eq!(p(r#"a:"q\"uote\\d \S""#), "a=\"q\"uote\\d \\S\"");
        assert_eq!(p("a:orange and b:android"), "and(a=orange, b=android)");
        assert_eq!(p("a:x?y"), "a=x?y");
        assert_eq!(p("a:not_a_keyword"), "a=not_a_keyword");
        // Without a space after it, a keyword is just text (Kibana reads `1 and` as a value).
        assert_eq!(p("a:1 and"), "a=1 and");
        // `not ` anywhere in an unquoted value ends it (Kibana's Keyword lookahead).
        assert!(parse("a:cannot be").is_err());
    }

    #[test]
    fn literal_typing() {
        let Node::Is { value, .. } = parse("a:true").unwrap() else {
            panic!()
        };
        assert_eq!(value.literal(), Literal::Bool(true));
        let Node::Is { value, .. } = parse("a:\"true\"").unwrap() else {
            panic!()
        };
        assert_eq!(value.literal(), Literal::Str("true".into()));
        let Node::Is { value, .. } = parse("a:True").unwrap() else {
            panic!()
        };
        assert_eq!(value.literal(), Literal::Str("True".into()));
        let Node::Is { value, .. } = parse("a:null").unwrap() else {
            panic!()
        };
        assert_eq!(value.literal(), Literal::Null);
        let Node::Is { value, .. } = parse(r"a:x\*y*").unwrap() else {
            panic!()
        };
        assert_eq!(value.wildcard_pattern(), r"x\*y*");
    }

    #[test]
    fn errors_carry_offsets() {
        let cases: &[(&str, usize)] = &[
            ("a:", 2),
            ("a:(b or c", 9),
            ("(a:1", 4),
            ("a:\"open", 7),
            ("a:1 and ", 8),
            ("a:1 b:2", 5),
            (r"a:b\.c", 3),
            ("a:{b:1", 6),
            ("a < ", 4),
            (")", 0),
        ];
        for (q, at) in cases {
            let e = parse(q).expect_err(q);
            assert_eq!(e.offset, *at, "{q}: {e}");
        }
    }
}
