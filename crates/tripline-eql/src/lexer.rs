//! EQL tokens, following Elasticsearch's `EqlBase.g4` lexer rules: keywords are
//! case-sensitive lowercase, strings are double-quoted with escapes, `"""raw"""` or `?"raw"`,
//! identifiers may be dotted and back-quoted, `~` suffixes make operators and functions
//! case-insensitive.

use crate::EqlError;

#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    Ident(String),
    /// A back-quoted identifier segment (never a keyword).
    Quoted(String),
    Str(String),
    Int(i64),
    Float(f64),
    /// Keyword or operator text (`and`, `in~`, `==`, `(`, ...).
    Sym(&'static str),
    Eof,
}

#[derive(Debug, Clone)]
pub struct Token {
    pub tok: Tok,
    /// Byte offset of the token's start in the query text.
    pub pos: usize,
    /// Whether whitespace (or a comment) precedes the token.
    pub space_before: bool,
}

const KEYWORDS: &[&str] = &[
    "and", "any", "by", "false", "head", "in", "join", "like", "maxspan", "not", "null", "of",
    "or", "regex", "runs", "sample", "sequence", "tail", "true", "until", "where", "with",
];

/// Symbols, longest first so that `==` wins over `=`.
const SYMS: &[&str] = &[
    "!=", "!:", "==", "<=", ">=", "<", ">", ":", "=", "+", "-", "*", "/", "%", "(", ")", "[", "]",
    ",", "|", "!", "?", ".", "~",
];

pub fn lex(text: &str) -> Result<Vec<Token>, EqlError> {
    let b = text.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    let mut space = true;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
            space = true;
            continue;
        }
        if text[i..].starts_with("//") {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
            space = true;
            continue;
        }
        if text[i..].starts_with("/*") {
            match text[i + 2..].find("*/") {
                Some(e) => i = i + 2 + e + 2,
                None => return Err(EqlError::at(i, "unterminated comment")),
            }
            space = true;
            continue;
        }
        let start = i;
        let push = |out: &mut Vec<Token>, tok: Tok, space: &mut bool| {
            out.push(Token {
                tok,
                pos: start,
                space_before: *space,
            });
            *space = false;
        };
        // Raw strings: """...""" and ?"..." / ?'...'.
        if text[i..].starts_with("\"\"\"") {
            let body = &text[i + 3..];
            let end = body
                .find("\"\"\"")
                .ok_or_else(|| EqlError::at(i, "unterminated raw string"))?;
            // A raw string may end with more quotes: the last three close it.
            let mut e = end;
            while body[e + 3..].starts_with('"') {
                e += 1;
            }
            push(&mut out, Tok::Str(body[..e].to_string()), &mut space);
            i += 3 + e + 3;
            continue;
        }
        if c == b'?' && i + 1 < b.len() && (b[i + 1] == b'"' || b[i + 1] == b'\'') {
            let q = b[i + 1] as char;
            let body = &text[i + 2..];
            let end = body
                .find(q)
                .ok_or_else(|| EqlError::at(i, "unterminated raw string"))?;
            if body[..end].contains(['\n', '\r']) {
                return Err(EqlError::at(i, "line break in a string"));
            }
            push(&mut out, Tok::Str(body[..end].to_string()), &mut space);
            i += 2 + end + 1;
            continue;
        }
        if c == b'"' {
            let (s, next) = lex_string(text, i)?;
            push(&mut out, Tok::Str(s), &mut space);
            i = next;
            continue;
        }
        if c == b'\'' {
            return Err(EqlError::at(
                i,
                "single quotes ['] are not supported around literal strings, use double quotes [\"] instead",
            ));
        }
        if c == b'`' {
            let mut s = String::new();
            let mut j = i + 1;
            loop {
                let rest = &text[j..];
                let Some(k) = rest.find('`') else {
                    return Err(EqlError::at(i, "unterminated back-quoted identifier"));
                };
                s.push_str(&rest[..k]);
                j += k + 1;
                if text[j..].starts_with('`') {
                    s.push('`');
                    j += 1;
                } else {
                    break;
                }
            }
            push(&mut out, Tok::Quoted(s), &mut space);
            i = j;
            continue;
        }
        if c.is_ascii_digit() {
            let mut j = i;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            let mut float = false;
            if j + 1 < b.len() && b[j] == b'.' && b[j + 1].is_ascii_digit() {
                float = true;
                j += 1;
                while j < b.len() && b[j].is_ascii_digit() {
                    j += 1;
                }
            }
            if j < b.len() && (b[j] == b'e' || b[j] == b'E') {
                let mut k = j + 1;
                if k < b.len() && (b[k] == b'+' || b[k] == b'-') {
                    k += 1;
                }
                if k < b.len() && b[k].is_ascii_digit() {
                    float = true;
                    j = k;
                    while j < b.len() && b[j].is_ascii_digit() {
                        j += 1;
                    }
                }
            }
            let s = &text[i..j];
            let tok = if float {
                Tok::Float(
                    s.parse()
                        .map_err(|_| EqlError::at(i, format!("bad number {s}")))?,
                )
            } else {
                match s.parse::<i64>() {
                    Ok(n) => Tok::Int(n),
                    Err(_) => Tok::Float(
                        s.parse()
                            .map_err(|_| EqlError::at(i, format!("bad number {s}")))?,
                    ),
                }
            };
            push(&mut out, tok, &mut space);
            i = j;
            continue;
        }
        if c.is_ascii_alphabetic() || c == b'_' || c == b'@' {
            let mut j = i + 1;
            // Dotted names lex as one identifier (so `event.category` is never the keyword
            // `event`); a dot must be followed by a name character.
            while j < b.len()
                && (b[j].is_ascii_alphanumeric()
                    || b[j] == b'_'
                    || b[j] == b'@'
                    || (b[j] == b'.'
                        && j + 1 < b.len()
                        && (b[j + 1].is_ascii_alphanumeric()
                            || b[j + 1] == b'_'
                            || b[j + 1] == b'@')))
            {
                j += 1;
            }
            let word = &text[i..j];
            // `in~`, `like~`, `regex~`: case-insensitive operator keywords.
            if matches!(word, "in" | "like" | "regex") && text[j..].starts_with('~') {
                let sym = match word {
                    "in" => "in~",
                    "like" => "like~",
                    _ => "regex~",
                };
                push(&mut out, Tok::Sym(sym), &mut space);
                i = j + 1;
                continue;
            }
            let tok = match KEYWORDS.iter().find(|k| **k == word) {
                Some(k) => Tok::Sym(k),
                None => Tok::Ident(word.to_string()),
            };
            push(&mut out, tok, &mut space);
            i = j;
            continue;
        }
        match SYMS.iter().find(|s| text[i..].starts_with(**s)) {
            Some(s) => {
                push(&mut out, Tok::Sym(s), &mut space);
                i += s.len();
            }
            None => {
                let ch = text[i..].chars().next().unwrap_or('?');
                return Err(EqlError::at(i, format!("unexpected character {ch:?}")));
            }
        }
    }
    out.push(Token {
        tok: Tok::Eof,
        pos: text.len(),
        space_before: space,
    });
    Ok(out)
}

/// A double-quoted string with EQL's escapes (`\t \n \r \" \' \\ \b \f` and `\u{hex}`).
fn lex_string(text: &str, start: usize) -> Result<(String, usize), EqlError> {
    let mut s = String::new();
    let mut it = text[start + 1..].char_indices();
    while let Some((off, c)) = it.next() {
        let pos = start + 1 + off;
        match c {
            '"' => return Ok((s, pos + 1)),
            '\n' | '\r' => return Err(EqlError::at(pos, "line break in a string")),
            '\\' => {
                let Some((_, e)) = it.next() else { break };
                match e {
                    't' => s.push('\t'),
                    'n' => s.push('\n'),
                    'r' => s.push('\r'),
                    'b' => s.push('\u{8}'),
                    'f' => s.push('\u{c}'),
                    '"' => s.push('"'),
                    '\'' => s.push('\''),
                    '\\' => s.push('\\'),
                    'u' => {
                        let rest = &text[pos + 2..];
                        let body = rest
                            .strip_prefix('{')
                            .and_then(|r| r.find('}').map(|e| &r[..e]))
                            .ok_or_else(|| {
                                EqlError::at(pos, "bad unicode escape, expected \\u{hex}")
                            })?;
                        let cp = u32::from_str_radix(body, 16)
                            .ok()
                            .filter(|_| (2..=8).contains(&body.len()))
                            .and_then(char::from_u32)
                            .ok_or_else(|| {
                                EqlError::at(pos, format!("invalid unicode escape \\u{{{body}}}"))
                            })?;
                        s.push(cp);
                        for _ in 0..body.len() + 2 {
                            it.next();
                        }
                    }
                    other => {
                        return Err(EqlError::at(
                            pos,
                            format!("illegal escape sequence \\{other}"),
                        ))
                    }
                }
            }
            c => s.push(c),
        }
    }
    Err(EqlError::at(start, "unterminated string"))
}
