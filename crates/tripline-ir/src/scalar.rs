//! Script expressions: conditions with no query-DSL equivalent (EQL functions, arithmetic,
//! comparisons between computed values). Values follow EQL's model: null propagates through
//! functions and comparisons; the enclosing [`crate::Predicate::Script`] is true only when the
//! result is boolean `true`.
//!
//! Owned by the EQL work; KQL never produces these.

use std::sync::Arc;

use serde_json::Value;

use crate::FieldRef;
use tripline_doc::Document;

/// A scalar expression.
#[derive(Debug, Clone)]
pub enum Expr {
    Literal(Value),
    /// A field's value; multi-valued fields yield their first value (as painless does with
    /// `doc[f].value`). `optional` marks EQL's `?field`.
    Field { field: FieldRef, optional: bool },
    /// A function call by its (lowercase) name; evaluation is in [`eval`].
    Call { name: Arc<str>, args: Vec<Expr>, case_insensitive: bool },
}

/// Evaluates an expression to a JSON value (`Null` for missing or null results).
pub fn eval(expr: &Expr, doc: &Document) -> Value {
    match expr {
        Expr::Literal(v) => v.clone(),
        Expr::Field { field, .. } => doc.first(&field.source).cloned().unwrap_or(Value::Null),
        Expr::Call { .. } => Value::Null,
    }
}

/// Evaluates a script condition: true only for boolean `true`.
pub fn eval_bool(expr: &Expr, doc: &Document) -> bool {
    matches!(eval(expr, doc), Value::Bool(true))
}
