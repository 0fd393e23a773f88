//! KQL (Kibana Query Language) parser and compiler to Tripline's IR, with Elasticsearch
//! semantics.
//!
//! API contract used by the engine:
//! - [`compile`]: KQL text → [`tripline_ir::Predicate`], resolving fields against the type table.

use tripline_ir::{FieldTypes, Predicate};

/// A KQL syntax error with its position (0-based byte offset into the query).
#[derive(Debug, Clone, thiserror::Error)]
#[error("at offset {offset}: {message}")]
pub struct KqlError {
    pub offset: usize,
    pub message: String,
}

/// Compiles a KQL query.
pub fn compile(query: &str, types: &FieldTypes) -> Result<Predicate, KqlError> {
    let _ = (query, types);
    Err(KqlError { offset: 0, message: "KQL not implemented yet".into() })
}
