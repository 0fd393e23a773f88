//! The typed intermediate form between rule text and execution.
//!
//! Rule languages (KQL, EQL, the filter part of ES|QL, Sigma) compile into a [`Predicate`]:
//! a tree of query-DSL-like leaf queries (the things Elasticsearch would execute against its
//! index: term, terms, wildcard, range, exists, match on text, CIDR) combined with boolean
//! operators. Conditions that have no query-DSL equivalent (EQL functions over several
//! fields, arithmetic) become [`Predicate::Script`] around a [`scalar::Expr`], evaluated
//! with EQL/painless null semantics.
//!
//! Leaf semantics follow the *field's type* (from [`tripline_doc::FieldTypes`]), resolved when
//! the predicate is built, which is exactly how Elasticsearch decides what a query means.
//!
//! Evaluation lives in [`eval`] (leaf queries) and [`scalar`] (script expressions). Also
//! useful to the engine: [`Predicate::required_values`] tells which `event.provider` /
//! `event.action` values a predicate needs, so rules can be indexed by them.

pub mod eval;
pub mod pattern;
pub mod scalar;

use std::sync::Arc;

pub use tripline_doc::{Document, FieldType, FieldTypes};

/// A field as a leaf query sees it: the queried name, the `_source` path its values come
/// from (differs for multi-fields like `x.text`), and its mapped type (`None` = unmapped).
#[derive(Debug, Clone, PartialEq)]
pub struct FieldRef {
    pub name: Arc<str>,
    pub source: Arc<str>,
    pub ty: Option<FieldType>,
}

impl FieldRef {
    /// Resolves a field name against a type table.
    pub fn resolve(name: &str, types: &FieldTypes) -> FieldRef {
        FieldRef {
            name: name.into(),
            source: types.source_path(name).into(),
            ty: types.get(name),
        }
    }
}

/// A literal in a leaf query, as written in the rule.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Null,
}

/// One bound of a range query.
#[derive(Debug, Clone, PartialEq)]
pub struct Bound {
    pub value: Literal,
    pub inclusive: bool,
}

/// A compiled boolean condition over one document.
#[derive(Debug, Clone)]
pub enum Predicate {
    Const(bool),
    And(Vec<Predicate>),
    Or(Vec<Predicate>),
    Not(Box<Predicate>),
    /// The field has at least one indexed value (`exists` query).
    Exists(FieldRef),
    /// Elasticsearch `term` query semantics adapted to the field type: keyword → exact
    /// string (optionally case-insensitive, as `term` with `case_insensitive: true`); numeric →
    /// numeric equality; ip → address equality (or CIDR when the literal is a network);
    /// date → same instant; boolean → `true`/`false` (also the strings).
    Term {
        field: FieldRef,
        value: Literal,
        case_insensitive: bool,
    },
    /// `match` / `match_phrase` query: on text fields the value is analyzed (standard
    /// analyzer: lowercase word tokens) and matched as tokens (`phrase`: in order and
    /// adjacent, else any token — `match`'s default operator is OR); on other types it is a `term`.
    Match {
        field: FieldRef,
        value: Literal,
        phrase: bool,
    },
    /// Any of several terms (`terms` query); same per-type semantics as `Term`.
    Terms {
        field: FieldRef,
        values: Vec<Literal>,
        case_insensitive: bool,
    },
    /// `wildcard` query (`*` any sequence, `?` one char) against keyword values.
    Wildcard {
        field: FieldRef,
        pattern: pattern::Wildcard,
    },
    /// `regexp` query (Lucene syntax translated to Rust regex, anchored at both ends).
    Regex {
        field: FieldRef,
        regex: Arc<regex::Regex>,
    },
    /// `range` query; for ip fields the bounds are addresses, for dates dates.
    Range {
        field: FieldRef,
        lower: Option<Bound>,
        upper: Option<Bound>,
    },
    /// Field value inside any of the networks (ip fields; strings that parse as ips).
    Cidr {
        field: FieldRef,
        nets: Vec<ipnet::IpNet>,
    },
    /// A non-translatable condition: true iff the expression evaluates to boolean `true`.
    Script(Arc<scalar::Expr>),
}

impl Predicate {
    /// Evaluates the predicate against a document.
    pub fn matches(&self, doc: &Document) -> bool {
        eval::matches(self, doc)
    }

    /// For rule indexing: if every matching document must have `field` equal to one of the
    /// returned strings (case-sensitive exact), returns them; `None` when unconstrained.
    pub fn required_values(&self, field: &str) -> Option<Vec<String>> {
        eval::required_values(self, field)
    }

    /// Every field name the predicate reads (for projection and unknown-field warnings).
    pub fn fields(&self) -> Vec<Arc<str>> {
        let mut out = Vec::new();
        eval::collect_fields(self, &mut out);
        out.sort();
        out.dedup();
        out
    }
}
