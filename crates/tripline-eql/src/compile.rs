//! AST → IR, following Elasticsearch's EQL query translation (`QueryTranslator`,
//! `ExpressionTranslators`):
//!
//! - `field == lit` → `term` (case-sensitive); `field != lit` → `must_not term` (so a missing
//!   field matches `!=`, and `not field == lit`); `field == null` → `must_not exists`,
//!   `field != null` → `exists`.
//! - `field : lit` → case-insensitive `term`, or case-insensitive `wildcard` when the string has
//!   `*`/`?`; a list is an OR; `!:` is its negation.
//! - `<`, `<=`, `>`, `>=` against a literal → `range`.
//! - `in` / `in~` → `terms`; `not in` → `must_not terms`.
//! - `like` / `like~` → `wildcard`; `regex` / `regex~` → `regexp`.
//! - `startsWith(field, "lit")` → prefix query; `endsWith`/`stringContains(field, "lit")` →
//!   wildcard query on the raw string (its `*`, `?`, `\\` keep their Lucene meaning); all `~`-able;
//!   `cidrMatch(field, ...)` → CIDR terms.
//! - `not X` → `must_not X`, except when X is itself a script, where the whole negation stays a
//!   script (`not null` is null, so no match) — exactly ES's `Not` translator.
//! - Anything else (functions over fields, arithmetic, field-to-field comparisons) → a script
//!   with null propagation.

use serde_json::Value;
use tripline_doc::{FieldType, FieldTypes};
use tripline_ir::scalar::{self, Expr as S};
use tripline_ir::{pattern::Wildcard, Bound, FieldRef, Literal, Predicate};

use crate::ast::{ArithOp, CmpOp, Expr, Lit};
use crate::EqlError;

pub(crate) struct Ctx<'a> {
    pub types: &'a FieldTypes,
    /// 7.x `case_sensitive: false` mode: `==`, `!=`, `in` and string functions fold case.
    pub ci_default: bool,
}

fn lit_json(l: &Lit) -> Value {
    match l {
        Lit::Null => Value::Null,
        Lit::Bool(b) => Value::Bool(*b),
        Lit::Int(i) => Value::from(*i),
        Lit::Float(f) => serde_json::Number::from_f64(*f)
            .map(Value::Number)
            .unwrap_or(Value::Null),
        Lit::Str(s) => Value::String(s.clone()),
    }
}

fn lit_ir(l: &Lit) -> Literal {
    match l {
        Lit::Null => Literal::Null,
        Lit::Bool(b) => Literal::Bool(*b),
        Lit::Int(i) => Literal::Int(*i),
        Lit::Float(f) => Literal::Float(*f),
        Lit::Str(s) => Literal::Str(s.clone()),
    }
}

/// Escapes text so that [`Wildcard`] reads every character literally.
fn wc_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '\\' | '*' | '?') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// An EQL wildcard pattern (`*`, `?`; backslashes are literal) as a [`Wildcard`].
fn eql_wildcard(p: &str, ci: bool) -> Wildcard {
    let mut out = String::with_capacity(p.len());
    for c in p.chars() {
        if c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    Wildcard::new(&out, ci)
}

fn has_wildcard(s: &str) -> bool {
    s.contains(['*', '?'])
}

/// The function table: (name, min args, max args, accepts `~`).
const FUNCTIONS: &[(&str, usize, usize, bool)] = &[
    ("add", 2, 2, false),
    ("between", 3, 4, true),
    ("cidrmatch", 2, usize::MAX, false),
    ("concat", 1, usize::MAX, false),
    ("divide", 2, 2, false),
    ("endswith", 2, 2, true),
    ("indexof", 2, 3, true),
    ("length", 1, 1, false),
    ("modulo", 2, 2, false),
    ("multiply", 2, 2, false),
    ("number", 1, 2, false),
    ("startswith", 2, 2, true),
    ("string", 1, 1, false),
    ("stringcontains", 2, 2, true),
    ("substring", 2, 3, false),
    ("subtract", 2, 2, false),
];

fn expr_pos(e: &Expr) -> usize {
    match e {
        Expr::Lit(_, p) | Expr::Field { pos: p, .. } | Expr::Call { pos: p, .. } => *p,
        Expr::Neg(e) | Expr::Not(e) => expr_pos(e),
        Expr::Arith(_, l, _) | Expr::Cmp(_, l, _) | Expr::And(l, _) | Expr::Or(l, _) => expr_pos(l),
        Expr::Seq { left, .. } | Expr::In { left, .. } | Expr::Like { left, .. } => expr_pos(left),
    }
}

impl Ctx<'_> {
    fn field(&self, name: &str) -> FieldRef {
        FieldRef::resolve(name, self.types)
    }

    /// Compiles a boolean condition.
    pub fn cond(&self, e: &Expr) -> Result<Predicate, EqlError> {
        let p = self.cond_inner(e)?;
        Ok(match p {
            Predicate::Script(s) if s.is_constant() => {
                Predicate::Const(scalar::eval_bool(&s, &Default::default()))
            }
            p => p,
        })
    }

    fn cond_inner(&self, e: &Expr) -> Result<Predicate, EqlError> {
        match e {
            Expr::Lit(Lit::Bool(b), _) => Ok(Predicate::Const(*b)),
            Expr::Lit(Lit::Null, _) => Ok(Predicate::Const(false)),
            Expr::Lit(_, pos) => Err(EqlError::at(*pos, "a condition must be boolean")),
            Expr::Field { name, pos, .. } => {
                let f = self.field(name);
                match f.ty {
                    Some(FieldType::Boolean) | None => Ok(Predicate::Term {
                        field: f,
                        value: Literal::Bool(true),
                        case_insensitive: false,
                    }),
                    Some(t) => Err(EqlError::at(
                        *pos,
                        format!("field {name} is {}, not a boolean condition", t.as_str()),
                    )),
                }
            }
            Expr::And(l, r) => {
                let mut v = Vec::new();
                for c in [self.cond(l)?, self.cond(r)?] {
                    match c {
                        Predicate::And(cs) => v.extend(cs),
                        c => v.push(c),
                    }
                }
                Ok(Predicate::And(v))
            }
            Expr::Or(l, r) => {
                let mut v = Vec::new();
                for c in [self.cond(l)?, self.cond(r)?] {
                    match c {
                        Predicate::Or(cs) => v.extend(cs),
                        c => v.push(c),
                    }
                }
                Ok(Predicate::Or(v))
            }
            Expr::Not(x) => Ok(match self.cond(x)? {
                Predicate::Script(s) => {
                    Predicate::Script(S::call("not", vec![(*s).clone()], false).into())
                }
                Predicate::Const(b) => Predicate::Const(!b),
                p => Predicate::Not(Box::new(p)),
            }),
            Expr::Cmp(op, l, r) => self.cmp(*op, l, r, e),
            Expr::Seq {
                left,
                values,
                negated,
            } => {
                let p = self.seq(left, values, e)?;
                Ok(if *negated { negate(p) } else { p })
            }
            Expr::In {
                left,
                values,
                ci,
                negated,
            } => {
                let ci = *ci || self.ci_default;
                if let (Expr::Field { name, .. }, Some(lits)) = (&**left, all_lits(values)) {
                    let f = self.field(name);
                    let vals: Vec<Literal> = lits
                        .iter()
                        .filter(|l| ***l != Lit::Null)
                        .map(|l| lit_ir(l))
                        .collect();
                    let p = Predicate::Terms {
                        field: f,
                        values: vals,
                        case_insensitive: ci,
                    };
                    return Ok(if *negated {
                        Predicate::Not(Box::new(p))
                    } else {
                        p
                    });
                }
                self.script_cond(e)
            }
            Expr::Like {
                left,
                patterns,
                ci,
                regex,
            } => {
                if let Expr::Field { name, .. } = &**left {
                    let f = self.field(name);
                    let mut alts = Vec::new();
                    for p in patterns {
                        alts.push(if *regex {
                            Predicate::Regex {
                                field: f.clone(),
                                regex: std::sync::Arc::new(self.regex(p, *ci, expr_pos(e))?),
                            }
                        } else {
                            Predicate::Wildcard {
                                field: f.clone(),
                                pattern: eql_wildcard(p, *ci),
                            }
                        });
                    }
                    return Ok(or_of(alts));
                }
                if *regex {
                    for p in patterns {
                        self.regex(p, *ci, expr_pos(e))?;
                    }
                }
                self.script_cond(e)
            }
            Expr::Call {
                name,
                ci,
                args,
                pos,
            } => {
                let lname = name.to_ascii_lowercase();
                let ci = *ci || self.ci_default;
                if let Some(Expr::Field { name: fname, .. }) = args.first() {
                    let f = self.field(fname);
                    let keyword = f.ty.is_none_or(|t| t.is_keyword_like());
                    match (lname.as_str(), args.get(1), args.len()) {
                        (
                            "startswith" | "endswith" | "stringcontains",
                            Some(Expr::Lit(Lit::Str(s), _)),
                            2,
                        ) if keyword => {
                            // ES builds a prefix query for startsWith, but for endsWith and
                            // stringContains a Lucene wildcard query from the raw string: `*` and
                            // `?` inside it are wildcards and `\` escapes (rules write
                            // `"Principal=\\*"` for a literal star).
                            let pat = match lname.as_str() {
                                "startswith" => format!("{}*", wc_escape(s)),
                                "endswith" => format!("*{s}"),
                                _ => format!("*{s}*"),
                            };
                            self.check_call(&lname, *ci_flag(e), args.len(), *pos)?;
                            return Ok(Predicate::Wildcard {
                                field: f,
                                pattern: Wildcard::new(&pat, ci),
                            });
                        }
                        ("cidrmatch", _, n) if n >= 2 => {
                            if let Some(lits) = all_lits(&args[1..]) {
                                let mut nets = Vec::new();
                                for l in lits {
                                    let Lit::Str(s) = l else {
                                        return Err(EqlError::at(
                                            *pos,
                                            "cidrMatch takes CIDR strings",
                                        ));
                                    };
                                    let net = s
                                        .trim()
                                        .parse::<ipnet::IpNet>()
                                        .or_else(|_| {
                                            s.trim()
                                                .parse::<std::net::IpAddr>()
                                                .map(ipnet::IpNet::from)
                                        })
                                        .map_err(|_| {
                                            EqlError::at(*pos, format!("invalid CIDR {s:?}"))
                                        })?;
                                    nets.push(net);
                                }
                                return Ok(Predicate::Cidr { field: f, nets });
                            }
                        }
                        _ => {}
                    }
                }
                self.script_cond(e)
            }
            Expr::Neg(_) | Expr::Arith(..) => Err(EqlError::at(
                expr_pos(e),
                "a condition must be boolean, found arithmetic",
            )),
        }
    }

    fn regex(&self, p: &str, ci: bool, pos: usize) -> Result<regex::Regex, EqlError> {
        let flags = if ci { "(?is)" } else { "(?s)" };
        regex::Regex::new(&format!("{flags}^(?:{p})$"))
            .map_err(|e| EqlError::at(pos, format!("invalid regex {p:?}: {e}")))
    }

    fn script_cond(&self, e: &Expr) -> Result<Predicate, EqlError> {
        Ok(Predicate::Script(std::sync::Arc::new(self.script(e)?)))
    }

    fn cmp(&self, op: CmpOp, l: &Expr, r: &Expr, whole: &Expr) -> Result<Predicate, EqlError> {
        let (field, lit, op) = match (l, r) {
            (Expr::Field { name, .. }, Expr::Lit(v, _)) => (name, v, op),
            (Expr::Lit(v, _), Expr::Field { name, .. }) => (name, v, op.flip()),
            _ => return self.script_cond(whole),
        };
        let f = self.field(field);
        if *lit == Lit::Null {
            return Ok(match op {
                CmpOp::Eq => Predicate::Not(Box::new(Predicate::Exists(f))),
                CmpOp::Ne => Predicate::Exists(f),
                _ => Predicate::Const(false),
            });
        }
        let value = lit_ir(lit);
        let bound = |inclusive| {
            Some(Bound {
                value: value.clone(),
                inclusive,
            })
        };
        Ok(match op {
            CmpOp::Eq => Predicate::Term {
                field: f,
                value,
                case_insensitive: self.ci_default,
            },
            CmpOp::Ne => Predicate::Not(Box::new(Predicate::Term {
                field: f,
                value,
                case_insensitive: self.ci_default,
            })),
            CmpOp::Lt => Predicate::Range {
                field: f,
                lower: None,
                upper: bound(false),
            },
            CmpOp::Le => Predicate::Range {
                field: f,
                lower: None,
                upper: bound(true),
            },
            CmpOp::Gt => Predicate::Range {
                field: f,
                lower: bound(false),
                upper: None,
            },
            CmpOp::Ge => Predicate::Range {
                field: f,
                lower: bound(true),
                upper: None,
            },
        })
    }

    fn seq(&self, left: &Expr, values: &[Expr], whole: &Expr) -> Result<Predicate, EqlError> {
        // `null : x` / `x : null`: IS NULL.
        if values.len() == 1 {
            if let Expr::Lit(Lit::Null, _) = left {
                return self.is_null(&values[0]);
            }
            if let Expr::Lit(Lit::Null, _) = values[0] {
                return self.is_null(left);
            }
        }
        if let (Expr::Field { name, .. }, Some(lits)) = (left, all_lits(values)) {
            let f = self.field(name);
            let mut alts = Vec::new();
            for l in lits {
                alts.push(match l {
                    Lit::Null => Predicate::Not(Box::new(Predicate::Exists(f.clone()))),
                    Lit::Str(s) if has_wildcard(s) => Predicate::Wildcard {
                        field: f.clone(),
                        pattern: eql_wildcard(s, true),
                    },
                    l => Predicate::Term {
                        field: f.clone(),
                        value: lit_ir(l),
                        case_insensitive: true,
                    },
                });
            }
            return Ok(or_of(alts));
        }
        self.script_cond(whole)
    }

    fn is_null(&self, e: &Expr) -> Result<Predicate, EqlError> {
        if let Expr::Field { name, .. } = e {
            return Ok(Predicate::Not(Box::new(Predicate::Exists(
                self.field(name),
            ))));
        }
        Ok(Predicate::Script(std::sync::Arc::new(S::call(
            "is_null",
            vec![self.script(e)?],
            false,
        ))))
    }

    fn check_call(&self, lname: &str, tilde: bool, n: usize, pos: usize) -> Result<(), EqlError> {
        let Some(&(_, min, max, ci_ok)) = FUNCTIONS.iter().find(|f| f.0 == lname) else {
            return Err(EqlError::at(pos, format!("unknown function {lname:?}")));
        };
        if tilde && !ci_ok {
            return Err(EqlError::at(
                pos,
                format!("function {lname} has no case-insensitive (~) form"),
            ));
        }
        if n < min || n > max {
            return Err(EqlError::at(
                pos,
                format!("wrong number of arguments for {lname}: {n}"),
            ));
        }
        Ok(())
    }

    /// Compiles any expression to a script expression.
    pub fn script(&self, e: &Expr) -> Result<S, EqlError> {
        Ok(match e {
            Expr::Lit(l, _) => S::Literal(lit_json(l)),
            Expr::Field { name, optional, .. } => S::Field {
                field: self.field(name),
                optional: *optional,
            },
            Expr::Call {
                name,
                ci,
                args,
                pos,
            } => {
                let lname = name.to_ascii_lowercase();
                self.check_call(&lname, *ci, args.len(), *pos)?;
                let sargs = args
                    .iter()
                    .map(|a| self.script(a))
                    .collect::<Result<Vec<_>, _>>()?;
                S::call(&lname, sargs, *ci || self.ci_default)
            }
            Expr::Neg(x) => S::call("neg", vec![self.script(x)?], false),
            Expr::Arith(op, l, r) => S::call(
                arith_name(*op),
                vec![self.script(l)?, self.script(r)?],
                false,
            ),
            Expr::Cmp(op, l, r) => {
                let (sl, sr) = (self.script(l)?, self.script(r)?);
                match (op, l.as_ref(), r.as_ref()) {
                    (CmpOp::Eq, Expr::Lit(Lit::Null, _), _) => S::call("is_null", vec![sr], false),
                    (CmpOp::Eq, _, Expr::Lit(Lit::Null, _)) => S::call("is_null", vec![sl], false),
                    (CmpOp::Ne, Expr::Lit(Lit::Null, _), _) => {
                        S::call("is_not_null", vec![sr], false)
                    }
                    (CmpOp::Ne, _, Expr::Lit(Lit::Null, _)) => {
                        S::call("is_not_null", vec![sl], false)
                    }
                    _ => S::call(
                        op.name(),
                        vec![sl, sr],
                        self.ci_default && matches!(op, CmpOp::Eq | CmpOp::Ne),
                    ),
                }
            }
            Expr::Seq {
                left,
                values,
                negated,
            } => {
                let inner = if values.len() == 1 && matches!(values[0], Expr::Lit(Lit::Null, _)) {
                    S::call("is_null", vec![self.script(left)?], false)
                } else if values.len() == 1 && matches!(**left, Expr::Lit(Lit::Null, _)) {
                    S::call("is_null", vec![self.script(&values[0])?], false)
                } else {
                    let mut a = vec![self.script(left)?];
                    for v in values {
                        a.push(self.script(v)?);
                    }
                    S::call("seq", a, true)
                };
                if *negated {
                    S::call("not", vec![inner], false)
                } else {
                    inner
                }
            }
            Expr::In {
                left,
                values,
                ci,
                negated,
            } => {
                let mut a = vec![self.script(left)?];
                for v in values {
                    a.push(self.script(v)?);
                }
                let inner = S::call("in", a, *ci || self.ci_default);
                if *negated {
                    S::call("not", vec![inner], false)
                } else {
                    inner
                }
            }
            Expr::Like {
                left,
                patterns,
                ci,
                regex,
            } => {
                let mut a = vec![self.script(left)?];
                a.extend(
                    patterns
                        .iter()
                        .map(|p| S::Literal(Value::String(p.clone()))),
                );
                S::call(if *regex { "regex" } else { "like" }, a, *ci)
            }
            Expr::Not(x) => S::call("not", vec![self.script(x)?], false),
            Expr::And(l, r) => S::call("and", vec![self.script(l)?, self.script(r)?], false),
            Expr::Or(l, r) => S::call("or", vec![self.script(l)?, self.script(r)?], false),
        })
    }
}

fn ci_flag(e: &Expr) -> &bool {
    match e {
        Expr::Call { ci, .. } => ci,
        _ => &false,
    }
}

fn arith_name(op: ArithOp) -> &'static str {
    op.name()
}

fn all_lits(v: &[Expr]) -> Option<Vec<&Lit>> {
    v.iter()
        .map(|e| match e {
            Expr::Lit(l, _) => Some(l),
            _ => None,
        })
        .collect()
}

fn or_of(mut alts: Vec<Predicate>) -> Predicate {
    if alts.len() == 1 {
        alts.pop().unwrap_or(Predicate::Const(false))
    } else {
        Predicate::Or(alts)
    }
}

fn negate(p: Predicate) -> Predicate {
    match p {
        Predicate::Script(s) => Predicate::Script(S::call("not", vec![(*s).clone()], false).into()),
        Predicate::Const(b) => Predicate::Const(!b),
        p => Predicate::Not(Box::new(p)),
    }
}
