//! EQL (Event Query Language) as Elasticsearch defines it: parser, compiler to Tripline's IR,
//! and a streaming matcher for event queries, sequences and samples.
//!
//! ```text
//! let q = Query::compile("sequence by user.name with maxspan=5m [iam where ...] [any where ...]",
//!                        FieldTypes::builtin(), &Options::default())?;
//! let mut m = q.matcher();
//! for ev in events_in_time_order { for hit in m.push(&ev) { ... } }
//! for hit in m.finish() { ... }
//! ```
//!
//! Conditions compile to [`tripline_ir::Predicate`]s the way Elasticsearch translates EQL to
//! query DSL (see [`compile`](crate::compile) for the table), so KQL and EQL share one
//! evaluator and the same null/missing-field semantics: `not field == "x"` is a `must_not term`
//! and matches events without the field.
//!
//! Events must be pushed in event-time order (ties: input order, the implicit tiebreaker).
//! Sequence state is bounded: partial sequences expire by `maxspan` and `until`, and beyond
//! [`Options::max_partial_sequences`] the oldest are dropped and counted in [`MatcherStats`].

pub mod ast;
mod compile;
mod lexer;
pub mod matcher;
mod parser;

use std::sync::Arc;

use tripline_doc::FieldTypes;
use tripline_ir::{scalar, Predicate};

pub use matcher::{Match, Matcher, MatcherStats};

/// A syntax or semantic error, with the byte offset in the query where it was found.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message} at position {pos}")]
pub struct EqlError {
    pub pos: usize,
    pub message: String,
}

impl EqlError {
    pub fn at(pos: usize, message: impl Into<String>) -> EqlError {
        EqlError {
            pos,
            message: message.into(),
        }
    }

    /// `line:column` (1-based) of the error in `text`.
    pub fn line_col(&self, text: &str) -> (usize, usize) {
        let upto = &text[..self.pos.min(text.len())];
        let line = upto.matches('\n').count() + 1;
        let col = upto.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        (line, col)
    }
}

/// Compilation options.
#[derive(Debug, Clone)]
pub struct Options {
    /// Elasticsearch 7.10/7.11's `case_sensitive: false` request mode: `==`, `!=`, `in` and the
    /// string functions compare case-insensitively. Off (the modern semantics) by default.
    pub case_insensitive_default: bool,
    /// The field event categories are matched against (`event.category`; multi-valued).
    pub category_field: String,
    /// Date field to order/measure `maxspan` by; `None` = `@timestamp`. Events without it fall
    /// back to `@timestamp` (counted in [`MatcherStats::timestamp_fallbacks`]).
    pub timestamp_field: Option<String>,
    /// Cap on live partial sequences (and sample groups) per matcher.
    pub max_partial_sequences: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            case_insensitive_default: false,
            category_field: "event.category".into(),
            timestamp_field: None,
            max_partial_sequences: 100_000,
        }
    }
}

/// One compiled query of a sequence or sample.
#[derive(Debug, Clone)]
pub struct Stage {
    pub predicate: Predicate,
    /// Join key expressions (the query's `by` followed by the stage's own).
    pub keys: Vec<scalar::Expr>,
    pub missing: bool,
}

#[derive(Debug, Clone)]
pub enum Body {
    Event(Predicate),
    Sequence {
        stages: Vec<Stage>,
        until: Option<Stage>,
        maxspan_ms: Option<i64>,
    },
    Sample {
        stages: Vec<Stage>,
    },
}

#[derive(Debug, Clone)]
pub enum Pipe {
    Head(usize),
    Tail(usize),
    Filter(Predicate),
}

/// A compiled EQL query.
#[derive(Debug, Clone)]
pub struct Query {
    pub body: Body,
    pub pipes: Vec<Pipe>,
    pub options: Options,
    pub text: Arc<str>,
}

impl Query {
    /// Parses and compiles `text` against a field-type table.
    pub fn compile(text: &str, types: &FieldTypes, opts: &Options) -> Result<Query, EqlError> {
        let ast = parser::parse(text)?;
        let ctx = compile::Ctx {
            types,
            ci_default: opts.case_insensitive_default,
        };
        let event = |q: &ast::EventQuery| -> Result<Predicate, EqlError> {
            let cond = ctx.cond(&q.condition)?;
            Ok(match &q.category {
                None => cond,
                Some(cat) => {
                    let term = Predicate::Term {
                        field: tripline_ir::FieldRef::resolve(&opts.category_field, types),
                        value: tripline_ir::Literal::Str(cat.clone()),
                        case_insensitive: opts.case_insensitive_default,
                    };
                    match cond {
                        Predicate::Const(true) => term,
                        Predicate::And(mut v) => {
                            v.insert(0, term);
                            Predicate::And(v)
                        }
                        c => Predicate::And(vec![term, c]),
                    }
                }
            })
        };
        let stage = |by: &[ast::Expr], s: &ast::Stage| -> Result<Stage, EqlError> {
            let mut keys = Vec::new();
            for k in by.iter().chain(s.by.iter()) {
                keys.push(ctx.script(k)?);
            }
            Ok(Stage {
                predicate: event(&s.query)?,
                keys,
                missing: s.missing,
            })
        };
        let body = match &ast.body {
            ast::QueryBody::Event(q) => Body::Event(event(q)?),
            ast::QueryBody::Sequence {
                by,
                maxspan_ms,
                stages,
                until,
            } => {
                let stages = stages
                    .iter()
                    .map(|s| stage(by, s))
                    .collect::<Result<Vec<_>, _>>()?;
                check_key_counts(&stages)?;
                let until = until.as_ref().map(|s| stage(by, s)).transpose()?;
                if let Some(u) = &until {
                    if u.keys.len() != stages[0].keys.len() {
                        return Err(EqlError::at(
                            0,
                            "until must have as many join keys as the sequence's queries",
                        ));
                    }
                }
                Body::Sequence {
                    stages,
                    until,
                    maxspan_ms: *maxspan_ms,
                }
            }
            ast::QueryBody::Sample { by, stages } => {
                let stages = stages
                    .iter()
                    .map(|s| stage(by, s))
                    .collect::<Result<Vec<_>, _>>()?;
                check_key_counts(&stages)?;
                Body::Sample { stages }
            }
        };
        let mut pipes = Vec::new();
        for p in &ast.pipes {
            pipes.push(match p {
                ast::Pipe::Head(n) => Pipe::Head(*n),
                ast::Pipe::Tail(n) => Pipe::Tail(*n),
                ast::Pipe::Filter(e) => {
                    if !matches!(body, Body::Event(_)) {
                        return Err(EqlError::at(
                            0,
                            "the filter pipe applies to event queries only",
                        ));
                    }
                    Pipe::Filter(ctx.cond(e)?)
                }
            });
        }
        Ok(Query {
            body,
            pipes,
            options: opts.clone(),
            text: text.into(),
        })
    }

    /// A fresh streaming matcher for this query.
    pub fn matcher(&self) -> Matcher {
        Matcher::new(self)
    }

    pub fn is_sequence(&self) -> bool {
        matches!(self.body, Body::Sequence { .. })
    }

    /// Every predicate an event may be tested against (stages, until, filters).
    pub fn predicates(&self) -> Vec<&Predicate> {
        let mut v = Vec::new();
        match &self.body {
            Body::Event(p) => v.push(p),
            Body::Sequence { stages, until, .. } => {
                v.extend(stages.iter().map(|s| &s.predicate));
                v.extend(until.iter().map(|s| &s.predicate));
            }
            Body::Sample { stages } => v.extend(stages.iter().map(|s| &s.predicate)),
        }
        for p in &self.pipes {
            if let Pipe::Filter(f) = p {
                v.push(f);
            }
        }
        v
    }

    /// For rule indexing: the values `field` must take for an event to be relevant to the
    /// query at all (union over all stages), `None` when unconstrained.
    pub fn required_values(&self, field: &str) -> Option<Vec<String>> {
        let preds: Vec<&Predicate> = match &self.body {
            Body::Event(p) => vec![p],
            _ => self.predicates(),
        };
        let mut all = Vec::new();
        for p in preds {
            all.extend(p.required_values(field)?);
        }
        all.sort();
        all.dedup();
        Some(all)
    }

    /// Every field the query reads.
    pub fn fields(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for p in self.predicates() {
            out.extend(p.fields().iter().map(|f| f.to_string()));
        }
        let stages: Vec<&Stage> = match &self.body {
            Body::Event(_) => vec![],
            Body::Sequence { stages, until, .. } => stages.iter().chain(until.iter()).collect(),
            Body::Sample { stages } => stages.iter().collect(),
        };
        for s in stages {
            for k in &s.keys {
                let p = Predicate::Script(Arc::new(k.clone()));
                out.extend(p.fields().iter().map(|f| f.to_string()));
            }
        }
        if let Some(t) = &self.options.timestamp_field {
            out.push(t.clone());
        }
        out.push("@timestamp".into());
        out.sort();
        out.dedup();
        out
    }
}

fn check_key_counts(stages: &[Stage]) -> Result<(), EqlError> {
    let n = stages[0].keys.len();
    if stages.iter().any(|s| s.keys.len() != n) {
        return Err(EqlError::at(
            0,
            "every query of a sequence or sample needs the same number of join keys",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
