//! Tokenizer. Comments (`//`, `/* */`) are skipped; every token keeps its byte span so the
//! parser can report `line:col` and slice raw text (index patterns, column-name patterns,
//! the source text of unnamed EVAL expressions).

use crate::EsqlError;

#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    /// A name: letters, digits, `_`, `@`, `.` (dotted field names are one token).
    Ident(String),
    /// A backtick-quoted name (`` `a.b` ``), with doubled backticks unescaped.
    Quoted(String),
    Str(String),
    Int(i64),
    Float(f64),
    Pipe,
    Comma,
    LParen,
    RParen,
    LBracket,
    RBracket,
    Assign,
    Eq,
    /// `=~`: case-insensitive string equality.
    CiEq,
    Neq,
    Lt,
    Le,
    Gt,
    Ge,
    Plus,
    Minus,
    Star,
    Slash,
    Percent,
    Cast,
    Colon,
    /// Any other character (only meaningful inside raw slices such as index patterns).
    Other(char),
    Eof,
}

#[derive(Debug, Clone)]
pub struct Token {
    pub tok: Tok,
    pub start: usize,
    pub end: usize,
}

/// 1-based (line, column) of a byte offset.
pub fn line_col(src: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(src.len());
    let before = &src[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before
        .rsplit('\n')
        .next()
        .map(|l| l.chars().count())
        .unwrap_or(0)
        + 1;
    (line, col)
}

pub fn tokenize(src: &str) -> Result<Vec<Token>, EsqlError> {
    let bytes = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let err = |at: usize, msg: String| EsqlError::syntax(src, at, msg);
    while i < bytes.len() {
        let c = bytes[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if c == b'/' && bytes.get(i + 1) == Some(&b'/') {
            while i < bytes.len() && bytes[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        if c == b'/' && bytes.get(i + 1) == Some(&b'*') {
            let end = src[i + 2..]
                .find("*/")
                .ok_or_else(|| err(i, "unterminated comment".into()))?;
            i = i + 2 + end + 2;
            continue;
        }
        let start = i;
        let tok = match c {
            b'"' => {
                if src[i..].starts_with("\"\"\"") {
                    let body_start = i + 3;
                    let end = src[body_start..]
                        .find("\"\"\"")
                        .ok_or_else(|| err(start, "unterminated string".into()))?;
                    // A raw string may end with extra quotes (`""""a""""`): they belong to the body.
                    let mut close = body_start + end;
                    while src[close + 3..].starts_with('"') {
                        close += 1;
                    }
                    i = close + 3;
                    Tok::Str(src[body_start..close].to_string())
                } else {
                    let mut s = String::new();
                    let mut j = i + 1;
                    let mut chars = src[j..].char_indices();
                    loop {
                        let Some((k, ch)) = chars.next() else {
                            return Err(err(start, "unterminated string".into()));
                        };
                        match ch {
                            '"' => {
                                j += k + 1;
                                break;
                            }
                            '\\' => {
                                let Some((_, e)) = chars.next() else {
                                    return Err(err(start, "unterminated string".into()));
                                };
                                match e {
                                    'n' => s.push('\n'),
                                    't' => s.push('\t'),
                                    'r' => s.push('\r'),
                                    '"' => s.push('"'),
                                    '\\' => s.push('\\'),
                                    other => {
                                        return Err(err(
                                            j + k,
                                            format!("invalid escape sequence \\{other} in string"),
                                        ));
                                    }
                                }
                            }
                            '\n' | '\r' => {
                                return Err(err(
                                    start,
                                    "newline in string (use \"\"\" for multi-line)".into(),
                                ))
                            }
                            other => s.push(other),
                        }
                    }
                    i = j;
                    Tok::Str(s)
                }
            }
            b'`' => lex_name(src, &mut i).map_err(|m| err(start, m))?,
            b'0'..=b'9' => {
                lex_number(src, &mut i).ok_or_else(|| err(start, "invalid number".into()))?
            }
            b'.' if bytes.get(i + 1).is_some_and(|b| b.is_ascii_digit()) => {
                lex_number(src, &mut i).ok_or_else(|| err(start, "invalid number".into()))?
            }
            c if c.is_ascii_alphabetic() || c == b'_' || c == b'@' => {
                lex_name(src, &mut i).map_err(|m| err(start, m))?
            }
            _ => {
                let two = src.get(i..i + 2).unwrap_or("");
                let (t, n) = match two {
                    "==" => (Tok::Eq, 2),
                    "=~" => (Tok::CiEq, 2),
                    "!=" => (Tok::Neq, 2),
                    "<=" => (Tok::Le, 2),
                    ">=" => (Tok::Ge, 2),
                    "::" => (Tok::Cast, 2),
                    _ => match c {
                        b'|' => (Tok::Pipe, 1),
                        b',' => (Tok::Comma, 1),
                        b'(' => (Tok::LParen, 1),
                        b')' => (Tok::RParen, 1),
                        b'[' => (Tok::LBracket, 1),
                        b']' => (Tok::RBracket, 1),
                        b'=' => (Tok::Assign, 1),
                        b'<' => (Tok::Lt, 1),
                        b'>' => (Tok::Gt, 1),
                        b'+' => (Tok::Plus, 1),
                        b'-' => (Tok::Minus, 1),
                        b'*' => (Tok::Star, 1),
                        b'/' => (Tok::Slash, 1),
                        b'%' => (Tok::Percent, 1),
                        b':' => (Tok::Colon, 1),
                        _ => {
                            let ch = src[i..].chars().next().unwrap_or('?');
                            (Tok::Other(ch), ch.len_utf8())
                        }
                    },
                };
                i += n;
                t
            }
        };
        out.push(Token { tok, start, end: i });
    }
    out.push(Token {
        tok: Tok::Eof,
        start: src.len(),
        end: src.len(),
    });
    Ok(out)
}

/// A (qualified) name: parts of `[A-Za-z0-9_@]` or backtick-quoted text, joined by `.`
/// (`source.`as`.organization.name`). A trailing `.` before `*` stays in the name so
/// column patterns like `Esql.*` lex as name + `*`. Any quoted part makes it [`Tok::Quoted`]
/// (never a keyword).
fn lex_name(src: &str, i: &mut usize) -> Result<Tok, String> {
    let bytes = src.as_bytes();
    let mut out = String::new();
    let mut quoted = false;
    loop {
        if bytes.get(*i) == Some(&b'`') {
            quoted = true;
            let mut j = *i + 1;
            loop {
                match src[j..].find('`') {
                    None => return Err("unterminated quoted name".into()),
                    Some(k) => {
                        out.push_str(&src[j..j + k]);
                        if src[j + k + 1..].starts_with('`') {
                            out.push('`');
                            j += k + 2;
                        } else {
                            j += k + 1;
                            break;
                        }
                    }
                }
            }
            *i = j;
        } else {
            let st = *i;
            while *i < bytes.len()
                && (bytes[*i].is_ascii_alphanumeric() || matches!(bytes[*i], b'_' | b'@'))
            {
                *i += 1;
            }
            if *i == st {
                return Err("expected a name".into());
            }
            out.push_str(&src[st..*i]);
        }
        if bytes.get(*i) == Some(&b'.') {
            match bytes.get(*i + 1) {
                Some(c) if c.is_ascii_alphanumeric() || matches!(c, b'_' | b'@' | b'`') => {
                    out.push('.');
                    *i += 1;
                    continue;
                }
                Some(b'*') => {
                    out.push('.');
                    *i += 1;
                }
                _ => {}
            }
        }
        break;
    }
    Ok(if quoted {
        Tok::Quoted(out)
    } else {
        Tok::Ident(out)
    })
}

fn lex_number(src: &str, i: &mut usize) -> Option<Tok> {
    let bytes = src.as_bytes();
    let start = *i;
    let mut j = *i;
    let mut float = false;
    while j < bytes.len() && bytes[j].is_ascii_digit() {
        j += 1;
    }
    if j < bytes.len() && bytes[j] == b'.' && bytes.get(j + 1).is_some_and(|b| b.is_ascii_digit()) {
        float = true;
        j += 1;
        while j < bytes.len() && bytes[j].is_ascii_digit() {
            j += 1;
        }
    } else if j < bytes.len()
        && bytes[j] == b'.'
        && !bytes.get(j + 1).is_some_and(|b| b.is_ascii_alphabetic())
    {
        // `1.` is a double in ES|QL.
        float = true;
        j += 1;
    }
    if j < bytes.len() && (bytes[j] == b'e' || bytes[j] == b'E') {
        let mut k = j + 1;
        if k < bytes.len() && (bytes[k] == b'+' || bytes[k] == b'-') {
            k += 1;
        }
        if k < bytes.len() && bytes[k].is_ascii_digit() {
            while k < bytes.len() && bytes[k].is_ascii_digit() {
                k += 1;
            }
            float = true;
            j = k;
        }
    }
    *i = j;
    let text = &src[start..j];
    if float {
        text.parse().ok().map(Tok::Float)
    } else {
        // Integers beyond i64 become doubles, as ES|QL does for out-of-range literals.
        Some(
            text.parse::<i64>()
                .map(Tok::Int)
                .unwrap_or_else(|_| Tok::Float(text.parse().unwrap_or(f64::MAX))),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        tokenize(s).unwrap().into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn lexes_operators_names_and_strings() {
        assert_eq!(
            toks("a.b == \"x\\\"y\" // c\n| `q.r` >= 1.5"),
            vec![
                Tok::Ident("a.b".into()),
                Tok::Eq,
                Tok::Str("x\"y".into()),
                Tok::Pipe,
                Tok::Quoted("q.r".into()),
                Tok::Ge,
                Tok::Float(1.5),
                Tok::Eof
            ]
        );
        assert_eq!(
            toks(r#""""a\.b""""#),
            vec![Tok::Str(r"a\.b".into()), Tok::Eof]
        );
        assert_eq!(
            toks("source.`as`.org.name"),
            vec![Tok::Quoted("source.as.org.name".into()), Tok::Eof]
        );
        assert_eq!(
            toks("Esql.*"),
            vec![Tok::Ident("Esql.".into()), Tok::Star, Tok::Eof]
        );
        assert_eq!(toks("`a``b`"), vec![Tok::Quoted("a`b".into()), Tok::Eof]);
        assert_eq!(
            toks("x::STRING /* c */ 10"),
            vec![
                Tok::Ident("x".into()),
                Tok::Cast,
                Tok::Ident("STRING".into()),
                Tok::Int(10),
                Tok::Eof
            ]
        );
    }

    #[test]
    fn reports_positions() {
        let e = tokenize("from x\n| where a == \"open").unwrap_err();
        assert!(e.to_string().starts_with("2:14:"), "{e}");
        assert_eq!(line_col("ab\ncd", 4), (2, 2));
    }
}
