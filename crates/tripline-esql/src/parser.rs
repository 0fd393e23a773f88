//! Recursive-descent parser for ES|QL (the commands and expressions detection rules use).
//!
//! Precedence, lowest first: `OR`, `AND`, `NOT`, the predicates (`[NOT] IN`, `[NOT] LIKE`,
//! `[NOT] RLIKE`, `IS [NOT] NULL`, `:`), comparisons, `+ -`, `* / %`, unary `-`, `::` casts.

use std::sync::Arc;

use tripline_doc::FieldTypes;

use crate::ast::*;
use crate::enrich::{Enrich, EnrichPolicy};
use crate::functions;
use crate::grok::{lucene_to_regex, DissectPattern, Grok};
use crate::lexer::{tokenize, Tok, Token};
use crate::value::{DataType, Value};
use crate::{ErrorKind, EsqlError};

pub struct Parser<'a> {
    src: &'a str,
    toks: Vec<Token>,
    pos: usize,
    types: &'a FieldTypes,
}

pub fn parse(src: &str, types: &FieldTypes) -> Result<(Source, Vec<Command>), EsqlError> {
    let toks = tokenize(src)?;
    let mut p = Parser {
        src,
        toks,
        pos: 0,
        types,
    };
    let source = p.source_command()?;
    let mut cmds = Vec::new();
    loop {
        match p.peek() {
            Tok::Eof => break,
            Tok::Pipe => {
                p.pos += 1;
                cmds.push(p.processing_command()?);
            }
            _ => return Err(p.err_here("expected '|' or end of query")),
        }
    }
    Ok((source, cmds))
}

fn is_kw(t: &Tok, kw: &str) -> bool {
    matches!(t, Tok::Ident(s) if s.eq_ignore_ascii_case(kw))
}

impl<'a> Parser<'a> {
    fn peek(&self) -> &Tok {
        &self.toks[self.pos].tok
    }

    fn peek_at(&self, n: usize) -> &Tok {
        &self.toks[(self.pos + n).min(self.toks.len() - 1)].tok
    }

    fn cur(&self) -> &Token {
        &self.toks[self.pos]
    }

    fn prev_end(&self) -> usize {
        if self.pos == 0 {
            0
        } else {
            self.toks[self.pos - 1].end
        }
    }

    fn bump(&mut self) -> Token {
        let t = self.toks[self.pos].clone();
        if self.pos + 1 < self.toks.len() {
            self.pos += 1;
        }
        t
    }

    fn err_at(&self, at: usize, msg: impl Into<String>) -> EsqlError {
        EsqlError::at(ErrorKind::Syntax, self.src, at, msg.into())
    }

    fn err_here(&self, msg: &str) -> EsqlError {
        let t = self.cur();
        let found = match &t.tok {
            Tok::Eof => "end of query".to_string(),
            _ => format!("'{}'", &self.src[t.start..t.end]),
        };
        self.err_at(t.start, format!("{msg}, found {found}"))
    }

    fn unsupported(&self, at: usize, msg: impl Into<String>) -> EsqlError {
        EsqlError::at(ErrorKind::Unsupported, self.src, at, msg.into())
    }

    fn eat_kw(&mut self, kw: &str) -> bool {
        if is_kw(self.peek(), kw) {
            self.bump();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, t: Tok, what: &str) -> Result<Token, EsqlError> {
        if *self.peek() == t {
            Ok(self.bump())
        } else {
            Err(self.err_here(&format!("expected {what}")))
        }
    }

    fn source_command(&mut self) -> Result<Source, EsqlError> {
        let t = self.cur().clone();
        if is_kw(&t.tok, "from") {
            self.bump();
            // Index patterns are raw text up to METADATA or the first pipe.
            let start = self.pos;
            while !matches!(self.peek(), Tok::Pipe | Tok::Eof) && !is_kw(self.peek(), "metadata") {
                self.bump();
            }
            let raw_end = self.cur().start;
            let raw_start = if self.pos > start {
                self.toks[start].start
            } else {
                raw_end
            };
            let raw = strip_comments(&self.src[raw_start..raw_end]);
            let patterns: Vec<String> = raw
                .split(',')
                .map(|p| p.trim().trim_matches('"').trim().to_string())
                .filter(|p| !p.is_empty())
                .collect();
            if patterns.is_empty() {
                return Err(self.err_at(raw_start, "FROM needs an index pattern"));
            }
            let mut metadata = Vec::new();
            if self.eat_kw("metadata") {
                loop {
                    let tok = self.bump();
                    let m = match &tok.tok {
                        Tok::Ident(s) => match s.as_str() {
                            "_id" => Metadata::Id,
                            "_index" => Metadata::Index,
                            "_version" => Metadata::Version,
                            "_source" => Metadata::Source,
                            "_score" => Metadata::Score,
                            other => {
                                return Err(self.err_at(
                                    tok.start,
                                    format!("unknown METADATA field [{other}]"),
                                ))
                            }
                        },
                        _ => return Err(self.err_at(tok.start, "expected a METADATA field name")),
                    };
                    metadata.push(m);
                    if *self.peek() == Tok::Comma {
                        self.bump();
                    } else {
                        break;
                    }
                }
            }
            Ok(Source::From {
                patterns,
                metadata,
                span: Span {
                    start: raw_start,
                    end: raw_end,
                },
            })
        } else if is_kw(&t.tok, "row") {
            self.bump();
            let fields = self.assignments(false)?;
            Ok(Source::Row(fields))
        } else if is_kw(&t.tok, "show") || is_kw(&t.tok, "ts") || is_kw(&t.tok, "metrics") {
            Err(self.unsupported(
                t.start,
                format!(
                    "source command {} is not supported",
                    &self.src[t.start..t.end]
                ),
            ))
        } else {
            Err(self.err_here("expected a source command (FROM or ROW)"))
        }
    }

    fn processing_command(&mut self) -> Result<Command, EsqlError> {
        let t = self.cur().clone();
        let Tok::Ident(name) = &t.tok else {
            return Err(self.err_here("expected a command"));
        };
        let name = name.to_ascii_lowercase();
        self.bump();
        match name.as_str() {
            "where" => Ok(Command::Where(self.expr()?)),
            "eval" => Ok(Command::Eval(self.assignments(false)?)),
            "stats" => self.stats(),
            "keep" => Ok(Command::Keep(self.name_patterns()?)),
            "drop" => Ok(Command::Drop(self.name_patterns()?)),
            "rename" => {
                let mut out = Vec::new();
                loop {
                    let a = self.name_pattern()?;
                    if self.eat_kw("as") {
                        let b = self.name_pattern()?;
                        out.push((a, b.text));
                    } else if *self.peek() == Tok::Assign {
                        // `RENAME new = old` (newer syntax).
                        self.bump();
                        let b = self.name_pattern()?;
                        out.push((b, a.text));
                    } else {
                        return Err(self.err_here("expected AS in RENAME"));
                    }
                    if *self.peek() == Tok::Comma {
                        self.bump();
                    } else {
                        break;
                    }
                }
                Ok(Command::Rename(out))
            }
            "sort" => {
                let mut keys = Vec::new();
                loop {
                    let expr = self.expr()?;
                    let desc = if self.eat_kw("desc") {
                        true
                    } else {
                        self.eat_kw("asc");
                        false
                    };
                    // ES|QL: nulls sort last ascending and first descending unless stated.
                    let mut nulls_first = desc;
                    if self.eat_kw("nulls") {
                        if self.eat_kw("first") {
                            nulls_first = true;
                        } else if self.eat_kw("last") {
                            nulls_first = false;
                        } else {
                            return Err(self.err_here("expected FIRST or LAST"));
                        }
                    }
                    keys.push(SortKey {
                        expr,
                        desc,
                        nulls_first,
                    });
                    if *self.peek() == Tok::Comma {
                        self.bump();
                    } else {
                        break;
                    }
                }
                Ok(Command::Sort(keys))
            }
            "limit" => {
                let tok = self.bump();
                match tok.tok {
                    Tok::Int(n) if n >= 0 => Ok(Command::Limit(n as usize)),
                    _ => Err(self.err_at(tok.start, "LIMIT needs a non-negative integer")),
                }
            }
            "mv_expand" => {
                let p = self.name_pattern()?;
                if p.is_wildcard() {
                    return Err(self.err_at(p.span.start, "MV_EXPAND needs a column name"));
                }
                Ok(Command::MvExpand(p.text, p.span))
            }
            "dissect" => {
                let input = self.primary_for_parse()?;
                let tok = self.bump();
                let Tok::Str(pat) = &tok.tok else {
                    return Err(self.err_at(tok.start, "DISSECT needs a pattern string"));
                };
                let pattern = DissectPattern::new(pat)
                    .map_err(|m| self.err_at(tok.start, format!("invalid DISSECT pattern: {m}")))?;
                let mut append_separator = String::new();
                if self.eat_kw("append_separator") {
                    self.expect(Tok::Assign, "'='")?;
                    let t2 = self.bump();
                    let Tok::Str(s) = t2.tok else {
                        return Err(self.err_at(t2.start, "APPEND_SEPARATOR needs a string"));
                    };
                    append_separator = s;
                }
                Ok(Command::Dissect {
                    input,
                    pattern: Arc::new(pattern),
                    append_separator,
                })
            }
            "grok" => {
                let input = self.primary_for_parse()?;
                let tok = self.bump();
                let Tok::Str(pat) = &tok.tok else {
                    return Err(self.err_at(tok.start, "GROK needs a pattern string"));
                };
                let grok = Grok::new(pat)
                    .map_err(|m| self.err_at(tok.start, format!("invalid GROK pattern: {m}")))?;
                Ok(Command::Grok {
                    input,
                    grok: Arc::new(grok),
                })
            }
            "enrich" => self.enrich(t.start),
            "lookup" => Err(self.unsupported(
                t.start,
                "LOOKUP JOIN needs a lookup index, which Tripline does not have",
            )),
            "inlinestats" | "inline" => {
                Err(self.unsupported(t.start, "INLINE STATS is not supported"))
            }
            "fork" | "rerank" | "completion" | "change_point" | "sample" | "fuse" | "rrf" => {
                Err(self.unsupported(
                    t.start,
                    format!("command {} is not supported", name.to_uppercase()),
                ))
            }
            _ => Err(self.err_at(
                t.start,
                format!("unknown command {}", &self.src[t.start..t.end]),
            )),
        }
    }

    /// `ENRICH [mode:]policy [ON col] [WITH [new =] field, ...]` (see [`crate::enrich`]).
    fn enrich(&mut self, cmd_start: usize) -> Result<Command, EsqlError> {
        // The policy name is raw text (ES lexes it as one token): adjacent tokens up to
        // whitespace, a pipe or a comma.
        let start = self.cur().start;
        let mut end = start;
        while !matches!(self.peek(), Tok::Pipe | Tok::Comma | Tok::Eof) && self.cur().start == end {
            end = self.bump().end;
        }
        if end == start {
            return Err(self.err_here("expected an enrich policy name"));
        }
        let raw = self.src[start..end].trim_matches(|c| c == '"' || c == '`');
        let name = match raw.split_once(':') {
            Some((mode, name)) => {
                let mode_ok = ["_any", "_coordinator", "_remote"]
                    .iter()
                    .any(|m| m.eq_ignore_ascii_case(mode));
                if !mode_ok {
                    return Err(self.err_at(
                        start,
                        format!("unknown enrich mode [{mode}], expected one of [_any, _coordinator, _remote]"),
                    ));
                }
                name
            }
            None => raw,
        };
        let Some(policy) = EnrichPolicy::from_name(name) else {
            return Err(self.unsupported(
                start,
                format!(
                    "unknown enrich policy [{name}]: Tripline's enrich policies are {} (served from --geoip-db)",
                    EnrichPolicy::ALL.map(|p| p.name()).join(", ")
                ),
            ));
        };
        let (on, on_span) = if self.eat_kw("on") {
            let p = self.name_pattern()?;
            if p.is_wildcard() {
                return Err(self.err_at(p.span.start, "ENRICH ON needs a column name"));
            }
            (p.text, p.span)
        } else {
            (
                policy.match_field().to_string(),
                Span {
                    start: cmd_start,
                    end,
                },
            )
        };
        let mut fields = Vec::new();
        if self.eat_kw("with") {
            loop {
                let first = self.name_pattern()?;
                let (out, field) = if *self.peek() == Tok::Assign {
                    self.bump();
                    (first.text, self.name_pattern()?)
                } else {
                    (first.text.clone(), first)
                };
                let Some(&(canon, _)) = policy.fields().iter().find(|(n, _)| *n == field.text)
                else {
                    return Err(EsqlError::at(
                        ErrorKind::Verification,
                        self.src,
                        field.span.start,
                        format!(
                            "enrich field [{}] not found in enrich policy [{}]; its fields are {}",
                            field.text,
                            policy.name(),
                            policy
                                .fields()
                                .iter()
                                .map(|(n, _)| *n)
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    ));
                };
                fields.push((out, canon));
                if *self.peek() == Tok::Comma {
                    self.bump();
                } else {
                    break;
                }
            }
        } else {
            fields = policy
                .fields()
                .iter()
                .map(|&(n, _)| (n.to_string(), n))
                .collect();
        }
        Ok(Command::Enrich(Arc::new(Enrich {
            policy,
            on,
            on_span,
            fields,
            span: Span {
                start: cmd_start,
                end: self.prev_end(),
            },
        })))
    }

    /// The input of DISSECT/GROK: a primary expression (usually a column).
    fn primary_for_parse(&mut self) -> Result<Expr, EsqlError> {
        self.unary()
    }

    /// `[name =] expr, ...`; names default to the expression text.
    fn assignments(&mut self, allow_where: bool) -> Result<Vec<(String, Expr)>, EsqlError> {
        let _ = allow_where;
        let mut out = Vec::new();
        loop {
            out.push(self.assignment()?);
            if *self.peek() == Tok::Comma {
                self.bump();
            } else {
                break;
            }
        }
        Ok(out)
    }

    fn assignment(&mut self) -> Result<(String, Expr), EsqlError> {
        if matches!(self.peek(), Tok::Ident(_) | Tok::Quoted(_)) && *self.peek_at(1) == Tok::Assign
        {
            let t = self.bump();
            let name = match t.tok {
                Tok::Ident(s) | Tok::Quoted(s) => s,
                _ => unreachable!("checked above"),
            };
            self.bump();
            let e = self.expr()?;
            Ok((name, e))
        } else {
            let start = self.cur().start;
            let e = self.expr()?;
            let name = match &e {
                Expr::Col { name, .. } => name.clone(),
                _ => self.src[start..self.prev_end()].trim().to_string(),
            };
            Ok((name, e))
        }
    }

    fn stats(&mut self) -> Result<Command, EsqlError> {
        let mut aggs = Vec::new();
        let mut outputs = Vec::new();
        if !is_kw(self.peek(), "by") && !matches!(self.peek(), Tok::Pipe | Tok::Eof) {
            loop {
                let (name, expr) = self.assignment()?;
                let filter = if self.eat_kw("where") {
                    Some(self.expr()?)
                } else {
                    None
                };
                let first_agg = aggs.len();
                let expr = extract_aggs(expr, &mut aggs, self.src)?;
                if aggs.len() == first_agg {
                    return Err(self.err_at(
                        self.prev_end(),
                        format!("STATS output [{name}] must contain an aggregate function"),
                    ));
                }
                if let Some(f) = filter {
                    for a in &mut aggs[first_agg..] {
                        a.filter = Some(f.clone());
                    }
                }
                outputs.push((name, expr));
                if *self.peek() == Tok::Comma {
                    self.bump();
                } else {
                    break;
                }
            }
        }
        let mut by = Vec::new();
        if self.eat_kw("by") {
            by = self.assignments(false)?;
            for (name, e) in &by {
                let mut bad = false;
                e.walk(&mut |x| {
                    if let Expr::Call { name, .. } = x {
                        if functions::is_aggregate(name) {
                            bad = true;
                        }
                    }
                });
                if bad {
                    return Err(self.err_at(
                        self.prev_end(),
                        format!("grouping [{name}] cannot contain an aggregate function"),
                    ));
                }
            }
        }
        if outputs.is_empty() && by.is_empty() {
            return Err(self.err_here("STATS needs an aggregate or BY"));
        }
        Ok(Command::Stats { aggs, outputs, by })
    }

    fn name_patterns(&mut self) -> Result<Vec<NamePattern>, EsqlError> {
        let mut out = Vec::new();
        loop {
            out.push(self.name_pattern()?);
            if *self.peek() == Tok::Comma {
                self.bump();
            } else {
                break;
            }
        }
        Ok(out)
    }

    /// A column name or pattern: adjacent name/`*`/backtick tokens (`Esql.*`, `` `a b` ``).
    fn name_pattern(&mut self) -> Result<NamePattern, EsqlError> {
        let start = self.cur().start;
        let mut text = String::new();
        let mut last_end = None;
        loop {
            let t = self.cur().clone();
            if let Some(e) = last_end {
                if t.start != e {
                    break;
                }
            }
            match &t.tok {
                Tok::Ident(s) | Tok::Quoted(s) => text.push_str(s),
                Tok::Star => text.push('*'),
                _ => break,
            }
            last_end = Some(t.end);
            self.bump();
        }
        if text.is_empty() {
            return Err(self.err_here("expected a column name"));
        }
        Ok(NamePattern {
            text,
            span: Span {
                start,
                end: self.prev_end(),
            },
        })
    }

    // ---- expressions ----

    pub fn expr(&mut self) -> Result<Expr, EsqlError> {
        self.or()
    }

    fn or(&mut self) -> Result<Expr, EsqlError> {
        let mut l = self.and()?;
        while self.eat_kw("or") {
            let r = self.and()?;
            l = Expr::Or(Box::new(l), Box::new(r));
        }
        Ok(l)
    }

    fn and(&mut self) -> Result<Expr, EsqlError> {
        let mut l = self.not()?;
        while self.eat_kw("and") {
            let r = self.not()?;
            l = Expr::And(Box::new(l), Box::new(r));
        }
        Ok(l)
    }

    fn not(&mut self) -> Result<Expr, EsqlError> {
        if self.eat_kw("not") {
            let e = self.not()?;
            return Ok(Expr::Not(Box::new(e)));
        }
        self.predicate()
    }

    fn predicate(&mut self) -> Result<Expr, EsqlError> {
        let e = self.comparison()?;
        let negated = if is_kw(self.peek(), "not")
            && (is_kw(self.peek_at(1), "in")
                || is_kw(self.peek_at(1), "like")
                || is_kw(self.peek_at(1), "rlike"))
        {
            self.bump();
            true
        } else {
            false
        };
        if self.eat_kw("in") {
            self.expect(Tok::LParen, "'(' after IN")?;
            let mut list = Vec::new();
            if *self.peek() != Tok::RParen {
                loop {
                    list.push(self.expr()?);
                    if *self.peek() == Tok::Comma {
                        self.bump();
                    } else {
                        break;
                    }
                }
            }
            self.expect(Tok::RParen, "')' closing IN list")?;
            return Ok(Expr::In {
                expr: Box::new(e),
                list,
                negated,
            });
        }
        let like = is_kw(self.peek(), "like");
        if like || is_kw(self.peek(), "rlike") {
            self.bump();
            let mut pats = Vec::new();
            if *self.peek() == Tok::LParen {
                self.bump();
                loop {
                    pats.push(self.pattern_string()?);
                    if *self.peek() == Tok::Comma {
                        self.bump();
                    } else {
                        break;
                    }
                }
                self.expect(Tok::RParen, "')' closing pattern list")?;
            } else {
                pats.push(self.pattern_string()?);
            }
            let mut matchers = Vec::new();
            for (at, p) in pats {
                matchers.push(if like {
                    Matcher::Like(tripline_ir::pattern::Wildcard::new(&p, false))
                } else {
                    Matcher::Regex(Arc::new(
                        lucene_to_regex(&p)
                            .map_err(|m| self.err_at(at, format!("invalid RLIKE pattern: {m}")))?,
                    ))
                });
            }
            return Ok(Expr::Like {
                expr: Box::new(e),
                matchers,
                negated,
            });
        }
        if negated {
            return Err(self.err_here("expected IN, LIKE or RLIKE after NOT"));
        }
        if is_kw(self.peek(), "is") {
            self.bump();
            let neg = self.eat_kw("not");
            if !self.eat_kw("null") {
                return Err(self.err_here("expected NULL"));
            }
            return Ok(Expr::IsNull {
                expr: Box::new(e),
                negated: neg,
            });
        }
        if *self.peek() == Tok::Colon {
            // `field : "query"`: full-text match.
            let at = self.bump().start;
            let q = self.comparison()?;
            return Ok(Expr::Call {
                name: "match".into(),
                args: vec![e, q],
                span: Span {
                    start: at,
                    end: self.prev_end(),
                },
            });
        }
        Ok(e)
    }

    fn pattern_string(&mut self) -> Result<(usize, String), EsqlError> {
        let t = self.bump();
        match t.tok {
            Tok::Str(s) => Ok((t.start, s)),
            _ => Err(self.err_at(t.start, "expected a pattern string")),
        }
    }

    fn comparison(&mut self) -> Result<Expr, EsqlError> {
        let l = self.additive()?;
        let op = match self.peek() {
            Tok::Eq => BinOp::Eq,
            Tok::CiEq => BinOp::CiEq,
            Tok::Neq => BinOp::Neq,
            Tok::Lt => BinOp::Lt,
            Tok::Le => BinOp::Le,
            Tok::Gt => BinOp::Gt,
            Tok::Ge => BinOp::Ge,
            _ => return Ok(l),
        };
        self.bump();
        let r = self.additive()?;
        Ok(Expr::Bin {
            op,
            l: Box::new(l),
            r: Box::new(r),
        })
    }

    fn additive(&mut self) -> Result<Expr, EsqlError> {
        let mut l = self.multiplicative()?;
        loop {
            let op = match self.peek() {
                Tok::Plus => BinOp::Add,
                Tok::Minus => BinOp::Sub,
                _ => return Ok(l),
            };
            self.bump();
            let r = self.multiplicative()?;
            l = Expr::Bin {
                op,
                l: Box::new(l),
                r: Box::new(r),
            };
        }
    }

    fn multiplicative(&mut self) -> Result<Expr, EsqlError> {
        let mut l = self.unary()?;
        loop {
            let op = match self.peek() {
                Tok::Star => BinOp::Mul,
                Tok::Slash => BinOp::Div,
                Tok::Percent => BinOp::Mod,
                _ => return Ok(l),
            };
            self.bump();
            let r = self.unary()?;
            l = Expr::Bin {
                op,
                l: Box::new(l),
                r: Box::new(r),
            };
        }
    }

    fn unary(&mut self) -> Result<Expr, EsqlError> {
        match self.peek() {
            Tok::Minus => {
                self.bump();
                let e = self.unary()?;
                Ok(match e {
                    Expr::Lit(Value::Int(i)) => Expr::Lit(Value::Int(-i)),
                    Expr::Lit(Value::Long(i)) => Expr::Lit(Value::Long(-i)),
                    Expr::Lit(Value::Double(d)) => Expr::Lit(Value::Double(-d)),
                    Expr::Lit(Value::Duration(d)) => Expr::Lit(Value::Duration(-d)),
                    Expr::Lit(Value::Period { months, days }) => Expr::Lit(Value::Period {
                        months: -months,
                        days: -days,
                    }),
                    other => Expr::Neg(Box::new(other)),
                })
            }
            Tok::Plus => {
                self.bump();
                self.unary()
            }
            _ => self.cast(),
        }
    }

    fn cast(&mut self) -> Result<Expr, EsqlError> {
        let mut e = self.primary()?;
        while *self.peek() == Tok::Cast {
            self.bump();
            let t = self.bump();
            let Tok::Ident(name) = &t.tok else {
                return Err(self.err_at(t.start, "expected a type name after '::'"));
            };
            let ty = cast_type(name).ok_or_else(|| {
                self.unsupported(t.start, format!("cast to unsupported type {name}"))
            })?;
            e = Expr::Cast {
                expr: Box::new(e),
                ty,
            };
        }
        Ok(e)
    }

    fn primary(&mut self) -> Result<Expr, EsqlError> {
        let t = self.cur().clone();
        match &t.tok {
            Tok::Int(_) | Tok::Float(_) => {
                self.bump();
                let (n, is_int) = match t.tok {
                    Tok::Int(i) => (i as f64, true),
                    Tok::Float(f) => (f, false),
                    _ => unreachable!("matched above"),
                };
                if let Tok::Ident(unit) = self.peek() {
                    if let Some(v) = time_literal(n, unit) {
                        if !is_int {
                            return Err(
                                self.err_at(t.start, "time span quantities must be integers")
                            );
                        }
                        self.bump();
                        return Ok(Expr::Lit(v));
                    }
                }
                Ok(Expr::Lit(match t.tok {
                    // Integer literals are `integer` when they fit, else `long`.
                    Tok::Int(i) if i32::try_from(i).is_ok() => Value::Int(i),
                    Tok::Int(i) => Value::Long(i),
                    _ => Value::Double(n),
                }))
            }
            Tok::Str(s) => {
                self.bump();
                Ok(Expr::Lit(Value::Str(s.clone())))
            }
            Tok::LParen => {
                self.bump();
                let e = self.expr()?;
                self.expect(Tok::RParen, "')'")?;
                Ok(e)
            }
            Tok::LBracket => {
                // A multi-value literal: `[1, 2, 3]`.
                self.bump();
                let mut items = Vec::new();
                if *self.peek() != Tok::RBracket {
                    loop {
                        match self.unary()? {
                            Expr::Lit(v) => items.push(v),
                            _ => {
                                return Err(self
                                    .err_at(t.start, "list literals may only contain constants"))
                            }
                        }
                        if *self.peek() == Tok::Comma {
                            self.bump();
                        } else {
                            break;
                        }
                    }
                }
                self.expect(Tok::RBracket, "']'")?;
                Ok(Expr::Lit(Value::from_vec(items)))
            }
            Tok::Quoted(s) => {
                self.bump();
                Ok(Expr::Col {
                    name: s.clone(),
                    span: Span {
                        start: t.start,
                        end: t.end,
                    },
                })
            }
            Tok::Ident(s) => {
                let lower = s.to_ascii_lowercase();
                if *self.peek_at(1) == Tok::LParen {
                    return self.call(lower, t.start);
                }
                self.bump();
                match lower.as_str() {
                    "true" => Ok(Expr::Lit(Value::Bool(true))),
                    "false" => Ok(Expr::Lit(Value::Bool(false))),
                    "null" => Ok(Expr::Lit(Value::Null)),
                    _ => {
                        if s.ends_with('.') || s.contains("..") {
                            return Err(self.err_at(t.start, format!("invalid name {s}")));
                        }
                        Ok(Expr::Col {
                            name: s.clone(),
                            span: Span {
                                start: t.start,
                                end: t.end,
                            },
                        })
                    }
                }
            }
            _ => Err(self.err_here("expected an expression")),
        }
    }

    fn call(&mut self, name: String, start: usize) -> Result<Expr, EsqlError> {
        self.bump(); // name
        self.bump(); // (
        if name == "count" && *self.peek() == Tok::Star && *self.peek_at(1) == Tok::RParen {
            self.bump();
            self.bump();
            return Ok(Expr::Call {
                name,
                args: vec![Expr::CountStar],
                span: Span {
                    start,
                    end: self.prev_end(),
                },
            });
        }
        let mut args = Vec::new();
        if *self.peek() != Tok::RParen {
            loop {
                args.push(self.expr()?);
                if *self.peek() == Tok::Comma {
                    self.bump();
                } else {
                    break;
                }
            }
        }
        self.expect(Tok::RParen, "')' closing function call")?;
        let span = Span {
            start,
            end: self.prev_end(),
        };
        if name == "kql" || name == "qstr" {
            let [Expr::Lit(Value::Str(q))] = args.as_slice() else {
                return Err(self.err_at(
                    start,
                    format!("{}() takes one string literal", name.to_uppercase()),
                ));
            };
            if name == "qstr" {
                return Err(
                    self.unsupported(start, "QSTR() (Lucene query strings) is not supported")
                );
            }
            let predicate = tripline_kql::compile(q, self.types).map_err(|e| {
                EsqlError::at(ErrorKind::Kql, self.src, start, format!("in KQL(): {e}"))
            })?;
            return Ok(Expr::Kql {
                query: q.clone(),
                predicate: Arc::new(predicate),
                span,
            });
        }
        functions::check_call(&name, args.len())
            .map_err(|(kind, m)| EsqlError::at(kind, self.src, start, m))?;
        Ok(Expr::Call { name, args, span })
    }
}

/// Replaces aggregate calls in a STATS output expression with [`Expr::AggRef`]s.
fn extract_aggs(e: Expr, aggs: &mut Vec<AggCall>, src: &str) -> Result<Expr, EsqlError> {
    Ok(match e {
        Expr::Call { name, args, span } if functions::is_aggregate(&name) => {
            for a in &args {
                let mut nested = false;
                a.walk(&mut |x| {
                    if let Expr::Call { name, .. } = x {
                        nested |= functions::is_aggregate(name);
                    }
                });
                if nested {
                    return Err(EsqlError::at(
                        ErrorKind::Verification,
                        src,
                        span.start,
                        "aggregate functions cannot be nested".into(),
                    ));
                }
            }
            aggs.push(AggCall {
                func: name,
                args,
                filter: None,
                span,
            });
            Expr::AggRef(aggs.len() - 1)
        }
        Expr::Call { name, args, span } => Expr::Call {
            name,
            args: args
                .into_iter()
                .map(|a| extract_aggs(a, aggs, src))
                .collect::<Result<_, _>>()?,
            span,
        },
        Expr::Neg(x) => Expr::Neg(Box::new(extract_aggs(*x, aggs, src)?)),
        Expr::Not(x) => Expr::Not(Box::new(extract_aggs(*x, aggs, src)?)),
        Expr::Bin { op, l, r } => Expr::Bin {
            op,
            l: Box::new(extract_aggs(*l, aggs, src)?),
            r: Box::new(extract_aggs(*r, aggs, src)?),
        },
        Expr::And(l, r) => Expr::And(
            Box::new(extract_aggs(*l, aggs, src)?),
            Box::new(extract_aggs(*r, aggs, src)?),
        ),
        Expr::Or(l, r) => Expr::Or(
            Box::new(extract_aggs(*l, aggs, src)?),
            Box::new(extract_aggs(*r, aggs, src)?),
        ),
        Expr::Cast { expr, ty } => Expr::Cast {
            expr: Box::new(extract_aggs(*expr, aggs, src)?),
            ty,
        },
        Expr::IsNull { expr, negated } => Expr::IsNull {
            expr: Box::new(extract_aggs(*expr, aggs, src)?),
            negated,
        },
        Expr::In {
            expr,
            list,
            negated,
        } => Expr::In {
            expr: Box::new(extract_aggs(*expr, aggs, src)?),
            list: list
                .into_iter()
                .map(|a| extract_aggs(a, aggs, src))
                .collect::<Result<_, _>>()?,
            negated,
        },
        Expr::Like {
            expr,
            matchers,
            negated,
        } => Expr::Like {
            expr: Box::new(extract_aggs(*expr, aggs, src)?),
            matchers,
            negated,
        },
        other => other,
    })
}

fn cast_type(name: &str) -> Option<DataType> {
    Some(match name.to_ascii_lowercase().as_str() {
        "string" | "keyword" => DataType::Keyword,
        "text" => DataType::Text,
        "int" | "integer" => DataType::Integer,
        "long" => DataType::Long,
        "double" => DataType::Double,
        "bool" | "boolean" => DataType::Boolean,
        "datetime" | "date" => DataType::Date,
        "ip" => DataType::Ip,
        "geo_point" => DataType::GeoPoint,
        _ => return None,
    })
}

/// `30 minutes`, `1 hour`, `7 days`… Day and week spans are fixed durations in UTC.
fn time_literal(n: f64, unit: &str) -> Option<Value> {
    let n = n as i64;
    let ms = |m: i64| Some(Value::Duration(n.checked_mul(m)?));
    match unit.to_ascii_lowercase().as_str() {
        "millisecond" | "milliseconds" | "ms" => ms(1),
        "second" | "seconds" | "sec" | "s" => ms(1_000),
        "minute" | "minutes" | "min" => ms(60_000),
        "hour" | "hours" | "h" => ms(3_600_000),
        "day" | "days" | "d" => ms(86_400_000),
        "week" | "weeks" | "w" => ms(7 * 86_400_000),
        "month" | "months" | "mo" => Some(Value::Period {
            months: i32::try_from(n).ok()?,
            days: 0,
        }),
        "quarter" | "quarters" | "q" => Some(Value::Period {
            months: i32::try_from(n.checked_mul(3)?).ok()?,
            days: 0,
        }),
        "year" | "years" | "yr" | "y" => Some(Value::Period {
            months: i32::try_from(n.checked_mul(12)?).ok()?,
            days: 0,
        }),
        _ => None,
    }
}

fn strip_comments(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    loop {
        let line = rest.find("//");
        let block = rest.find("/*");
        match (line, block) {
            (Some(l), b) if b.is_none_or(|b| l < b) => {
                out.push_str(&rest[..l]);
                rest = rest[l..].find('\n').map(|n| &rest[l + n..]).unwrap_or("");
            }
            (_, Some(b)) => {
                out.push_str(&rest[..b]);
                rest = rest[b..]
                    .find("*/")
                    .map(|n| &rest[b + n + 2..])
                    .unwrap_or("");
            }
            _ => {
                out.push_str(rest);
                return out;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(q: &str) -> (Source, Vec<Command>) {
        parse(q, FieldTypes::builtin()).unwrap_or_else(|e| panic!("{q}: {e}"))
    }

    #[test]
    fn parses_from_with_metadata_and_comments() {
        let (src, cmds) = p(
            "from logs-aws.cloudtrail-* // all\n metadata _id, _version, _index\n| where a == 1",
        );
        let Source::From {
            patterns, metadata, ..
        } = src
        else {
            panic!()
        };
        assert_eq!(patterns, vec!["logs-aws.cloudtrail-*"]);
        assert_eq!(
            metadata,
            vec![Metadata::Id, Metadata::Version, Metadata::Index]
        );
        assert_eq!(cmds.len(), 1);
    }

    #[test]
    fn precedence_not_in_and_or() {
        let (_, cmds) = p("ROW a = 1 | where not x in (1, 2) and y like \"a*\" or z is not null");
        let Command::Where(Expr::Or(l, r)) = &cmds[0] else {
            panic!("{:?}", cmds[0])
        };
        assert!(matches!(**r, Expr::IsNull { negated: true, .. }));
        let Expr::And(a, _) = &**l else { panic!() };
        assert!(matches!(**a, Expr::Not(_)));
    }

    #[test]
    fn stats_with_filters_and_expressions() {
        let (_, cmds) = p("FROM logs-* | STATS c = COUNT(*) WHERE x == 1, m = mv_sum(values(s)) / 2, count(y) BY b = date_trunc(1 hour, @timestamp), k");
        let Command::Stats { aggs, outputs, by } = &cmds[0] else {
            panic!()
        };
        assert_eq!(aggs.len(), 3);
        assert!(aggs[0].filter.is_some() && aggs[1].filter.is_none());
        assert_eq!(outputs[2].0, "count(y)");
        assert_eq!(by[0].0, "b");
        assert_eq!(by[1].0, "k");
    }

    #[test]
    fn errors_carry_line_and_column() {
        let e = parse("from x\n| where a ==", FieldTypes::builtin()).unwrap_err();
        assert!(e.to_string().starts_with("2:"), "{e}");
        let e = parse("from x | frobnicate", FieldTypes::builtin()).unwrap_err();
        assert!(e.to_string().contains("unknown command"), "{e}");
        let e = parse("from x | enrich geo on source.ip", FieldTypes::builtin()).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Unsupported);
        let e = parse("from x | stats a = b", FieldTypes::builtin()).unwrap_err();
        assert!(e.to_string().contains("aggregate"), "{e}");
    }

    #[test]
    fn keep_patterns_and_rename() {
        let (_, cmds) = p("from x | keep Esql.*, `a b`, c | rename c as d, e = f");
        let Command::Keep(k) = &cmds[0] else { panic!() };
        assert_eq!(
            k.iter().map(|p| p.text.as_str()).collect::<Vec<_>>(),
            vec!["Esql.*", "a b", "c"]
        );
        let Command::Rename(r) = &cmds[1] else {
            panic!()
        };
        assert_eq!((r[1].0.text.as_str(), r[1].1.as_str()), ("f", "e"));
    }
}
