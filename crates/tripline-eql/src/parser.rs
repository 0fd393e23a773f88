//! Recursive-descent parser for Elasticsearch's EQL grammar (`EqlBase.g4`): precedence is
//! `or` < `and` < `not` < comparison (`==`, `<`, ..., `:`) < `+ -` < `* / %` < unary minus <
//! predicates (`in`, `like`, `regex`) on primaries.

use crate::ast::*;
use crate::lexer::{lex, Tok, Token};
use crate::EqlError;

pub fn parse(text: &str) -> Result<Ast, EqlError> {
    let toks = lex(text)?;
    let mut p = Parser { toks, i: 0 };
    let ast = p.query()?;
    if p.peek() != &Tok::Eof {
        return Err(p.err("unexpected input after the query"));
    }
    Ok(ast)
}

struct Parser {
    toks: Vec<Token>,
    i: usize,
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Ident(s) => format!("identifier {s:?}"),
        Tok::Quoted(s) => format!("`{s}`"),
        Tok::Str(s) => format!("string {s:?}"),
        Tok::Int(n) => format!("number {n}"),
        Tok::Float(n) => format!("number {n}"),
        Tok::Sym(s) => format!("'{s}'"),
        Tok::Eof => "end of query".into(),
    }
}

impl Parser {
    fn peek(&self) -> &Tok {
        &self.toks[self.i].tok
    }
    fn peek_at(&self, n: usize) -> &Tok {
        &self.toks[(self.i + n).min(self.toks.len() - 1)].tok
    }
    fn pos(&self) -> usize {
        self.toks[self.i].pos
    }
    fn bump(&mut self) -> Tok {
        let t = self.toks[self.i].tok.clone();
        if self.i + 1 < self.toks.len() {
            self.i += 1;
        }
        t
    }
    fn is(&self, s: &str) -> bool {
        matches!(self.peek(), Tok::Sym(x) if *x == s)
    }
    fn eat(&mut self, s: &str) -> bool {
        if self.is(s) {
            self.bump();
            true
        } else {
            false
        }
    }
    fn err(&self, msg: &str) -> EqlError {
        EqlError::at(
            self.pos(),
            format!("{msg} (found {})", describe(self.peek())),
        )
    }
    fn expect(&mut self, s: &str) -> Result<(), EqlError> {
        if self.eat(s) {
            Ok(())
        } else {
            Err(self.err(&format!("expected '{s}'")))
        }
    }

    fn query(&mut self) -> Result<Ast, EqlError> {
        let body = if self.eat("sequence") {
            self.sequence()?
        } else if self.eat("sample") {
            self.sample()?
        } else if self.is("join") {
            return Err(self.err("join queries are not supported by Elasticsearch EQL"));
        } else {
            QueryBody::Event(self.event_query()?)
        };
        let mut pipes = Vec::new();
        while self.eat("|") {
            let pos = self.pos();
            match self.bump() {
                Tok::Sym("head") => pipes.push(Pipe::Head(self.count()?)),
                Tok::Sym("tail") => pipes.push(Pipe::Tail(self.count()?)),
                Tok::Ident(s) if s == "filter" => pipes.push(Pipe::Filter(self.expr()?)),
                t => {
                    return Err(EqlError::at(
                        pos,
                        format!("unsupported pipe {}", describe(&t)),
                    ))
                }
            }
        }
        Ok(Ast { body, pipes })
    }

    fn count(&mut self) -> Result<usize, EqlError> {
        match self.peek().clone() {
            Tok::Int(n) if n >= 0 => {
                self.bump();
                Ok(n as usize)
            }
            _ => Err(self.err("expected a non-negative integer")),
        }
    }

    fn event_query(&mut self) -> Result<EventQuery, EqlError> {
        let pos = self.pos();
        let category = match self.bump() {
            Tok::Sym("any") => None,
            Tok::Ident(s) | Tok::Str(s) | Tok::Quoted(s) => Some(s),
            t => {
                return Err(EqlError::at(
                    pos,
                    format!("expected an event category, found {}", describe(&t)),
                ))
            }
        };
        self.expect("where")?;
        let condition = self.expr()?;
        Ok(EventQuery {
            category,
            condition,
        })
    }

    fn join_keys(&mut self) -> Result<Vec<Expr>, EqlError> {
        let mut keys = vec![self.expr_noncmp()?];
        while self.eat(",") {
            keys.push(self.expr_noncmp()?);
        }
        Ok(keys)
    }

    fn sequence(&mut self) -> Result<QueryBody, EqlError> {
        let mut by = Vec::new();
        let mut maxspan_ms = None;
        // `by` and `with maxspan` may come in either order.
        if self.eat("by") {
            by = self.join_keys()?;
        }
        if self.is("with") && matches!(self.peek_at(1), Tok::Sym("maxspan")) {
            self.bump();
            self.bump();
            self.expect("=")?;
            maxspan_ms = Some(self.time_unit()?);
            if self.is("by") {
                return Err(self.err("please specify sequence [by] before [with], not after"));
            }
        }
        let mut stages = Vec::new();
        let mut until = None;
        loop {
            if self.is("[") || (self.is("!") && matches!(self.peek_at(1), Tok::Sym("["))) {
                let st = self.stage(true)?;
                for _ in 0..st.runs {
                    stages.push(Stage {
                        runs: 1,
                        ..st.clone()
                    });
                }
            } else if self.eat("until") {
                let st = self.stage(false)?;
                until = Some(st);
                break;
            } else {
                break;
            }
        }
        if stages.iter().filter(|s| !s.missing).count() < 1 || stages.len() < 2 {
            return Err(self.err("a sequence needs at least two queries"));
        }
        if stages.iter().all(|s| s.missing) {
            return Err(self.err("a sequence needs at least one non-missing query"));
        }
        if stages.iter().any(|s| s.missing) && until.is_some() {
            return Err(self.err("missing events cannot be combined with until"));
        }
        if (stages.first().is_some_and(|s| s.missing) || stages.last().is_some_and(|s| s.missing))
            && maxspan_ms.is_none()
        {
            return Err(self.err("a leading or trailing missing event needs `with maxspan`"));
        }
        Ok(QueryBody::Sequence {
            by,
            maxspan_ms,
            stages,
            until,
        })
    }

    fn sample(&mut self) -> Result<QueryBody, EqlError> {
        let mut by = Vec::new();
        if self.eat("by") {
            by = self.join_keys()?;
        }
        let mut stages = Vec::new();
        while self.is("[") {
            let st = self.stage(false)?;
            stages.push(st);
        }
        if stages.len() < 2 {
            return Err(self.err("a sample needs at least two queries"));
        }
        Ok(QueryBody::Sample { by, stages })
    }

    fn stage(&mut self, allow_runs: bool) -> Result<Stage, EqlError> {
        let missing = self.eat("!");
        self.expect("[")?;
        let query = self.event_query()?;
        self.expect("]")?;
        let mut by = Vec::new();
        let mut runs = 1;
        loop {
            if self.eat("by") {
                by = self.join_keys()?;
            } else if allow_runs && self.is("with") && matches!(self.peek_at(1), Tok::Sym("runs")) {
                self.bump();
                self.bump();
                self.expect("=")?;
                let pos = self.pos();
                let n = self.count()?;
                if !(1..=100).contains(&n) {
                    return Err(EqlError::at(pos, "runs must be between 1 and 100"));
                }
                if missing {
                    return Err(EqlError::at(pos, "runs cannot be used on a missing event"));
                }
                runs = n;
            } else {
                break;
            }
        }
        Ok(Stage {
            query,
            by,
            runs,
            missing,
        })
    }

    /// `maxspan=N unit`, units ms, s, m, h, d (a unit is required, as in ES).
    fn time_unit(&mut self) -> Result<i64, EqlError> {
        let pos = self.pos();
        let n = match self.bump() {
            Tok::Int(n) if n >= 0 => n,
            t => {
                return Err(EqlError::at(
                    pos,
                    format!("expected a time span, found {}", describe(&t)),
                ))
            }
        };
        let unit = match self.peek().clone() {
            Tok::Ident(u) => {
                self.bump();
                u
            }
            _ => {
                return Err(self.err(&format!(
                    "no time unit specified, did you mean [s] as in [{n}s]?"
                )))
            }
        };
        let mult = match unit.as_str() {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            u => return Err(EqlError::at(pos, format!("unknown time unit {u:?}"))),
        };
        n.checked_mul(mult)
            .ok_or_else(|| EqlError::at(pos, "time span too large"))
    }

    // ---- boolean expressions ----

    pub fn expr(&mut self) -> Result<Expr, EqlError> {
        self.or()
    }

    fn or(&mut self) -> Result<Expr, EqlError> {
        let mut l = self.and()?;
        while self.eat("or") {
            let r = self.and()?;
            l = Expr::Or(Box::new(l), Box::new(r));
        }
        Ok(l)
    }

    fn and(&mut self) -> Result<Expr, EqlError> {
        let mut l = self.not()?;
        while self.eat("and") {
            let r = self.not()?;
            l = Expr::And(Box::new(l), Box::new(r));
        }
        Ok(l)
    }

    fn not(&mut self) -> Result<Expr, EqlError> {
        if self.eat("not") {
            return Ok(Expr::Not(Box::new(self.not()?)));
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Result<Expr, EqlError> {
        let l = self.additive()?;
        // `:` / `!:` sit at comparison level (so `x - 1 : 81` compares the difference), with a
        // constant or a parenthesised list on the right.
        if let Tok::Sym(k @ (":" | "!:")) = self.peek().clone() {
            self.bump();
            let values = if self.is("(") {
                self.paren_list()?
            } else {
                vec![self.unary_value()?]
            };
            return Ok(Expr::Seq {
                left: Box::new(l),
                values,
                negated: k == "!:",
            });
        }
        let op = match self.peek() {
            Tok::Sym("==") => CmpOp::Eq,
            Tok::Sym("!=") => CmpOp::Ne,
            Tok::Sym("<") => CmpOp::Lt,
            Tok::Sym("<=") => CmpOp::Le,
            Tok::Sym(">") => CmpOp::Gt,
            Tok::Sym(">=") => CmpOp::Ge,
            Tok::Sym("=") => return Err(self.err("use == (or :) instead of =")),
            _ => return Ok(l),
        };
        self.bump();
        let r = self.additive()?;
        Ok(Expr::Cmp(op, Box::new(l), Box::new(r)))
    }

    /// A value expression without a comparison (join keys).
    fn expr_noncmp(&mut self) -> Result<Expr, EqlError> {
        self.additive()
    }

    fn additive(&mut self) -> Result<Expr, EqlError> {
        let mut l = self.multiplicative()?;
        loop {
            let op = match self.peek() {
                Tok::Sym("+") => ArithOp::Add,
                Tok::Sym("-") => ArithOp::Sub,
                _ => return Ok(l),
            };
            self.bump();
            let r = self.multiplicative()?;
            l = Expr::Arith(op, Box::new(l), Box::new(r));
        }
    }

    fn multiplicative(&mut self) -> Result<Expr, EqlError> {
        let mut l = self.unary()?;
        loop {
            let op = match self.peek() {
                Tok::Sym("*") => ArithOp::Mul,
                Tok::Sym("/") => ArithOp::Div,
                Tok::Sym("%") => ArithOp::Mod,
                _ => return Ok(l),
            };
            self.bump();
            let r = self.unary()?;
            l = Expr::Arith(op, Box::new(l), Box::new(r));
        }
    }

    fn unary(&mut self) -> Result<Expr, EqlError> {
        if self.eat("-") {
            let pos = self.pos();
            let e = self.unary()?;
            return Ok(match e {
                Expr::Lit(Lit::Int(n), _) => Expr::Lit(Lit::Int(-n), pos),
                Expr::Lit(Lit::Float(n), _) => Expr::Lit(Lit::Float(-n), pos),
                e => Expr::Neg(Box::new(e)),
            });
        }
        if self.eat("+") {
            return self.unary();
        }
        let e = self.primary()?;
        self.predicate(e)
    }

    /// Postfix predicates on a primary: `in`, `not in`, `:`, `!:`, `like`, `regex`.
    fn predicate(&mut self, left: Expr) -> Result<Expr, EqlError> {
        let negated_in =
            self.is("not") && matches!(self.peek_at(1), Tok::Sym("in") | Tok::Sym("in~"));
        if negated_in {
            self.bump();
        }
        match self.peek().clone() {
            Tok::Sym(k @ ("in" | "in~")) => {
                self.bump();
                let values = self.paren_list()?;
                Ok(Expr::In {
                    left: Box::new(left),
                    values,
                    ci: k == "in~",
                    negated: negated_in,
                })
            }
            Tok::Sym(k @ ("like" | "like~" | "regex" | "regex~")) => {
                self.bump();
                let mut patterns = Vec::new();
                let pos = self.pos();
                if self.eat("(") {
                    loop {
                        patterns.push(self.string_const()?);
                        if !self.eat(",") {
                            break;
                        }
                    }
                    self.expect(")")?;
                } else {
                    patterns.push(self.string_const()?);
                }
                if patterns.is_empty() {
                    return Err(EqlError::at(pos, "expected a pattern"));
                }
                Ok(Expr::Like {
                    left: Box::new(left),
                    patterns,
                    ci: k.ends_with('~'),
                    regex: k.starts_with("regex"),
                })
            }
            _ => Ok(left),
        }
    }

    /// The right side of `:` without parentheses: a (possibly negative) primary.
    fn unary_value(&mut self) -> Result<Expr, EqlError> {
        if self.eat("-") {
            let pos = self.pos();
            return Ok(match self.primary()? {
                Expr::Lit(Lit::Int(n), _) => Expr::Lit(Lit::Int(-n), pos),
                Expr::Lit(Lit::Float(n), _) => Expr::Lit(Lit::Float(-n), pos),
                e => Expr::Neg(Box::new(e)),
            });
        }
        self.primary()
    }

    fn string_const(&mut self) -> Result<String, EqlError> {
        match self.peek().clone() {
            Tok::Str(s) => {
                self.bump();
                Ok(s)
            }
            _ => Err(self.err("expected a string pattern")),
        }
    }

    fn paren_list(&mut self) -> Result<Vec<Expr>, EqlError> {
        self.expect("(")?;
        let mut v = vec![self.expr()?];
        while self.eat(",") {
            v.push(self.expr()?);
        }
        self.expect(")")?;
        Ok(v)
    }

    fn primary(&mut self) -> Result<Expr, EqlError> {
        let pos = self.pos();
        match self.peek().clone() {
            Tok::Sym("null") => {
                self.bump();
                Ok(Expr::Lit(Lit::Null, pos))
            }
            Tok::Sym("true") => {
                self.bump();
                Ok(Expr::Lit(Lit::Bool(true), pos))
            }
            Tok::Sym("false") => {
                self.bump();
                Ok(Expr::Lit(Lit::Bool(false), pos))
            }
            Tok::Int(n) => {
                self.bump();
                Ok(Expr::Lit(Lit::Int(n), pos))
            }
            Tok::Float(f) => {
                self.bump();
                Ok(Expr::Lit(Lit::Float(f), pos))
            }
            Tok::Str(s) => {
                self.bump();
                Ok(Expr::Lit(Lit::Str(s), pos))
            }
            Tok::Sym("(") => {
                self.bump();
                let e = self.expr()?;
                self.expect(")")?;
                Ok(e)
            }
            Tok::Sym("?") => {
                self.bump();
                let name = self.qualified_name()?;
                Ok(Expr::Field {
                    name,
                    optional: true,
                    pos,
                })
            }
            Tok::Ident(name)
                if matches!(self.peek_at(1), Tok::Sym("("))
                    || (matches!(self.peek_at(1), Tok::Sym("~"))
                        && matches!(self.peek_at(2), Tok::Sym("("))) =>
            {
                self.bump();
                let ci = self.eat("~");
                self.expect("(")?;
                let mut args = Vec::new();
                if !self.is(")") {
                    args.push(self.expr()?);
                    while self.eat(",") {
                        args.push(self.expr()?);
                    }
                }
                self.expect(")")?;
                Ok(Expr::Call {
                    name,
                    ci,
                    args,
                    pos,
                })
            }
            Tok::Ident(_) | Tok::Quoted(_) => {
                let name = self.qualified_name()?;
                Ok(Expr::Field {
                    name,
                    optional: false,
                    pos,
                })
            }
            _ => Err(self.err("expected a value, field or function")),
        }
    }

    /// `a.b.c`, `` `a b`.c ``, `a.`b``: segments joined by dots.
    fn qualified_name(&mut self) -> Result<String, EqlError> {
        let mut name = match self.bump() {
            Tok::Ident(s) | Tok::Quoted(s) => s,
            _ => {
                return Err(EqlError::at(
                    self.toks[self.i.saturating_sub(1)].pos,
                    "expected a field name",
                ))
            }
        };
        while self.is(".") && !self.toks[self.i].space_before {
            self.bump();
            match self.bump() {
                Tok::Ident(s) | Tok::Quoted(s) => {
                    name.push('.');
                    name.push_str(&s);
                }
                _ => {
                    return Err(EqlError::at(
                        self.toks[self.i.saturating_sub(1)].pos,
                        "expected a field name after '.'",
                    ))
                }
            }
        }
        Ok(name)
    }
}
