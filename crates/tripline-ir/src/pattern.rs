//! Wildcard patterns (`*`, `?`, `\` escapes) compiled once, matched without allocation.

/// A compiled wildcard pattern.
#[derive(Debug, Clone, PartialEq)]
pub struct Wildcard {
    /// The pattern as written (for display and error messages).
    pub source: String,
    tokens: Vec<Tok>,
    pub case_insensitive: bool,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Lit(String),
    One,
    Any,
}

impl Wildcard {
    /// Compiles `pattern`; `\*`, `\?` and `\\` are literal characters.
    pub fn new(pattern: &str, case_insensitive: bool) -> Wildcard {
        let mut tokens = Vec::new();
        let mut lit = String::new();
        let mut chars = pattern.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => {
                    if let Some(n) = chars.next() {
                        lit.push(n)
                    } else {
                        lit.push('\\')
                    }
                }
                '*' | '?' => {
                    if !lit.is_empty() {
                        let l = std::mem::take(&mut lit);
                        tokens.push(Tok::Lit(if case_insensitive { l.to_lowercase() } else { l }));
                    }
                    let t = if c == '*' { Tok::Any } else { Tok::One };
                    if !(t == Tok::Any && tokens.last() == Some(&Tok::Any)) {
                        tokens.push(t);
                    }
                }
                _ => lit.push(c),
            }
        }
        if !lit.is_empty() {
            tokens.push(Tok::Lit(if case_insensitive { lit.to_lowercase() } else { lit }));
        }
        Wildcard { source: pattern.to_string(), tokens, case_insensitive }
    }

    /// True when the pattern has no wildcard at all (then it is an exact value).
    pub fn is_literal(&self) -> bool {
        self.tokens.iter().all(|t| matches!(t, Tok::Lit(_)))
    }

    pub fn matches(&self, s: &str) -> bool {
        if self.case_insensitive {
            let lower = s.to_lowercase();
            match_toks(&self.tokens, &lower)
        } else {
            match_toks(&self.tokens, s)
        }
    }
}

fn match_toks(toks: &[Tok], s: &str) -> bool {
    match toks.split_first() {
        None => s.is_empty(),
        Some((Tok::Lit(l), rest)) => s.strip_prefix(l.as_str()).is_some_and(|r| match_toks(rest, r)),
        Some((Tok::One, rest)) => {
            let mut it = s.chars();
            it.next().is_some() && match_toks(rest, it.as_str())
        }
        Some((Tok::Any, rest)) => {
            if rest.is_empty() {
                return true;
            }
            // Fast path: `*literal` at the end of the pattern.
            if let [Tok::Lit(l)] = rest {
                return s.ends_with(l.as_str());
            }
            let mut idx = 0;
            loop {
                if match_toks(rest, &s[idx..]) {
                    return true;
                }
                match s[idx..].chars().next() {
                    Some(c) => idx += c.len_utf8(),
                    None => return false,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_matching() {
        assert!(Wildcard::new("Get*", false).matches("GetObject"));
        assert!(!Wildcard::new("Get*", false).matches("getObject"));
        assert!(Wildcard::new("Get*", true).matches("getObject"));
        assert!(Wildcard::new("*Object", false).matches("GetObject"));
        assert!(Wildcard::new("G?t*ct", false).matches("GetObject"));
        assert!(Wildcard::new("a\\*b", false).matches("a*b"));
        assert!(!Wildcard::new("a\\*b", false).matches("axb"));
        assert!(Wildcard::new("*", false).matches(""));
        assert!(Wildcard::new("*é*", false).matches("café!"));
        assert!(Wildcard::new("abc", false).is_literal());
    }
}
