//! Wildcard patterns (`*`, `?`, `\` escapes) compiled once, matched without allocation.
//!
//! Matching splits the pattern at `*` into fixed-length segments: the first is anchored at the
//! start, the last at the end, and the ones between are found leftmost-first, which is optimal
//! for glob patterns (no backtracking, linear-ish time, so hostile inputs cannot blow up).
//! Case-insensitive matching folds one character at a time, as Lucene's `case_insensitive`
//! wildcard does, so nothing is lowercased into a new string per event.

/// A compiled wildcard pattern.
#[derive(Debug, Clone, PartialEq)]
pub struct Wildcard {
    /// The pattern as written (for display and error messages).
    pub source: String,
    /// Segments between `*`s; `anchored_start`/`anchored_end` say whether the pattern begins /
    /// ends without a `*`.
    segments: Vec<Segment>,
    anchored_start: bool,
    anchored_end: bool,
    pub case_insensitive: bool,
}

/// A run of literal text and `?`s; its length in characters is fixed.
#[derive(Debug, Clone, PartialEq, Default)]
struct Segment {
    toks: Vec<SegTok>,
    chars: usize,
}

#[derive(Debug, Clone, PartialEq)]
enum SegTok {
    /// Literal text (already case-folded when the pattern is case-insensitive).
    Lit(String),
    /// `?`: exactly one character.
    One,
}

/// Simple one-to-one case folding (the character's first lowercase mapping when it has exactly
/// one, else itself), keeping character counts stable.
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

impl Segment {
    fn push_lit(&mut self, c: char) {
        self.chars += 1;
        if let Some(SegTok::Lit(s)) = self.toks.last_mut() {
            s.push(c);
        } else {
            self.toks.push(SegTok::Lit(c.to_string()));
        }
    }

    /// Matches the segment at the start of `s`; returns the byte length consumed.
    #[inline]
    fn match_at(&self, s: &str, ci: bool) -> Option<usize> {
        let mut pos = 0;
        for t in &self.toks {
            match t {
                SegTok::Lit(l) => {
                    if !ci {
                        if !s[pos..].starts_with(l.as_str()) {
                            return None;
                        }
                        pos += l.len();
                    } else {
                        let mut it = s[pos..].chars();
                        for pc in l.chars() {
                            let c = it.next()?;
                            if c != pc && fold(c) != pc {
                                return None;
                            }
                        }
                        pos = s.len() - it.as_str().len();
                    }
                }
                SegTok::One => {
                    let c = s[pos..].chars().next()?;
                    pos += c.len_utf8();
                }
            }
        }
        Some(pos)
    }

    /// Leftmost occurrence in `s`: (start, end) byte offsets.
    fn find(&self, s: &str, ci: bool) -> Option<(usize, usize)> {
        // Case-sensitive segment beginning with literal text: jump between its occurrences.
        if let (false, Some(SegTok::Lit(first))) = (ci, self.toks.first()) {
            let mut from = 0;
            while let Some(i) = s[from..].find(first.as_str()) {
                let start = from + i;
                if let Some(len) = self.match_at(&s[start..], ci) {
                    return Some((start, start + len));
                }
                from = start + s[start..].chars().next().map_or(1, char::len_utf8);
            }
            return None;
        }
        let mut start = 0;
        loop {
            if let Some(len) = self.match_at(&s[start..], ci) {
                return Some((start, start + len));
            }
            start += s[start..].chars().next()?.len_utf8();
        }
    }
}

impl Wildcard {
    /// Compiles `pattern`; `\*`, `\?` and `\\` (any `\x`) are literal characters.
    pub fn new(pattern: &str, case_insensitive: bool) -> Wildcard {
        let mut segments = vec![Segment::default()];
        let mut chars = pattern.chars();
        let mut starts_with_star = false;
        let mut first = true;
        while let Some(c) = chars.next() {
            let cur = segments.last_mut().expect("never empty");
            match c {
                '*' => {
                    if first {
                        starts_with_star = true;
                    }
                    // Consecutive stars are one star: only open a new segment after content.
                    if !(cur.toks.is_empty() && segments.len() > 1) {
                        segments.push(Segment::default());
                    }
                }
                '?' => {
                    cur.chars += 1;
                    cur.toks.push(SegTok::One);
                }
                '\\' => {
                    let lit = chars.next().unwrap_or('\\');
                    cur.push_lit(if case_insensitive { fold(lit) } else { lit });
                }
                _ => cur.push_lit(if case_insensitive { fold(c) } else { c }),
            }
            first = false;
        }
        let ends_with_star =
            segments.len() > 1 && segments.last().is_some_and(|s| s.toks.is_empty());
        if ends_with_star {
            segments.pop();
        }
        // A leading star left an empty first segment: it simply means "not anchored".
        if starts_with_star && segments.first().is_some_and(|s| s.toks.is_empty()) {
            segments.remove(0);
        }
        Wildcard {
            source: pattern.to_string(),
            segments,
            anchored_start: !starts_with_star,
            anchored_end: !ends_with_star,
            case_insensitive,
        }
    }

    /// True when the pattern has no wildcard at all (then it is an exact value).
    pub fn is_literal(&self) -> bool {
        self.anchored_start
            && self.anchored_end
            && self.segments.len() <= 1
            && self
                .segments
                .iter()
                .all(|s| s.toks.iter().all(|t| matches!(t, SegTok::Lit(_))))
    }

    /// The exact value a literal pattern matches (escapes removed), for turning a wildcard
    /// without wildcards into a term. `None` when the pattern has wildcards.
    pub fn literal_value(&self) -> Option<String> {
        if !self.is_literal() {
            return None;
        }
        let mut out = String::new();
        for s in &self.segments {
            for t in &s.toks {
                if let SegTok::Lit(l) = t {
                    out.push_str(l);
                }
            }
        }
        Some(out)
    }

    /// True when the pattern is only stars (matches any string).
    pub fn matches_everything(&self) -> bool {
        !self.anchored_start && !self.anchored_end && self.segments.is_empty()
    }

    pub fn matches(&self, s: &str) -> bool {
        let ci = self.case_insensitive;
        let segs = &self.segments;
        if segs.is_empty() {
            // "" (anchored both ends) matches only ""; "*" matches anything.
            return !(self.anchored_start && self.anchored_end) || s.is_empty();
        }
        if self.anchored_start && self.anchored_end && segs.len() == 1 {
            return segs[0].match_at(s, ci) == Some(s.len());
        }
        let mut pos = 0;
        let mut mid = &segs[..];
        if self.anchored_start {
            match segs[0].match_at(s, ci) {
                Some(len) => pos = len,
                None => return false,
            }
            mid = &mid[1..];
        }
        let mut tail: Option<&Segment> = None;
        if self.anchored_end {
            if let Some((last, rest)) = mid.split_last() {
                tail = Some(last);
                mid = rest;
            }
        }
        for seg in mid {
            match seg.find(&s[pos..], ci) {
                Some((_, end)) => pos += end,
                None => return false,
            }
        }
        match tail {
            None => true,
            Some(seg) => {
                // The tail has a fixed character count: it can only start that many chars from the end.
                let rest = &s[pos..];
                let start = if seg.chars == 0 {
                    rest.len()
                } else {
                    match rest.char_indices().rev().nth(seg.chars - 1) {
                        Some((i, _)) => i,
                        None => return false,
                    }
                };
                seg.match_at(&rest[start..], ci) == Some(rest.len() - start)
            }
        }
    }
}

impl std::fmt::Display for Wildcard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reference implementation: plain recursive backtracking over chars.
    fn naive(p: &[char], s: &[char], ci: bool) -> bool {
        let eq = |a: char, b: char| if ci { fold(a) == fold(b) } else { a == b };
        match p.split_first() {
            None => s.is_empty(),
            Some(('*', rest)) => (0..=s.len()).any(|i| naive(rest, &s[i..], ci)),
            Some(('?', rest)) => !s.is_empty() && naive(rest, &s[1..], ci),
            Some(('\\', rest)) if !rest.is_empty() => {
                !s.is_empty() && eq(s[0], rest[0]) && naive(&rest[1..], &s[1..], ci)
            }
            Some((c, rest)) => !s.is_empty() && eq(s[0], *c) && naive(rest, &s[1..], ci),
        }
    }

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
        assert!(Wildcard::new("**", false).matches("abc"));
        assert!(Wildcard::new("*é*", false).matches("café!"));
        assert!(Wildcard::new("*É*", true).matches("café!"));
        assert!(Wildcard::new("abc", false).is_literal());
        assert_eq!(
            Wildcard::new("a\\*c", false).literal_value().as_deref(),
            Some("a*c")
        );
        assert!(!Wildcard::new("a*c", false).is_literal());
        assert!(Wildcard::new("*", false).matches_everything());
        assert!(Wildcard::new("", false).matches(""));
        assert!(!Wildcard::new("", false).matches("x"));
        // Tail anchoring must not overlap the head.
        assert!(!Wildcard::new("ab*ba", false).matches("aba"));
        assert!(Wildcard::new("ab*ba", false).matches("abba"));
        assert!(Wildcard::new("*a?c*", false).matches("xxabcxx"));
        assert!(Wildcard::new("*ab", false).matches("aab"));
        assert!(Wildcard::new("*??", false).matches("éé"));
        assert!(!Wildcard::new("*???", false).matches("éé"));
    }

    #[test]
    fn agrees_with_naive_backtracking() {
        // Exhaustive over a small alphabet: every pattern up to length 4 against every string up to length 5.
        let palpha = ['a', 'b', '*', '?', 'A'];
        let salpha = ['a', 'b', 'A'];
        fn all_strings(alpha: &[char], max: usize) -> Vec<String> {
            let mut out = vec![String::new()];
            let mut layer = vec![String::new()];
            for _ in 0..max {
                layer = layer
                    .iter()
                    .flat_map(|p| alpha.iter().map(move |c| format!("{p}{c}")))
                    .collect();
                out.extend(layer.iter().cloned());
            }
            out
        }
        let patterns = all_strings(&palpha, 4);
        let strings = all_strings(&salpha, 5);
        for p in &patterns {
            for ci in [false, true] {
                let w = Wildcard::new(p, ci);
                let pc: Vec<char> = p.chars().collect();
                for s in &strings {
                    let sc: Vec<char> = s.chars().collect();
                    assert_eq!(
                        w.matches(s),
                        naive(&pc, &sc, ci),
                        "pattern {p:?} ci={ci} on {s:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn hostile_input_is_fast() {
        let w = Wildcard::new("*a*a*a*a*a*a*a*b", false);
        let s = "a".repeat(100_000);
        assert!(!w.matches(&s));
    }
}
