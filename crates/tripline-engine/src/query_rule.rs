//! Stateless `query` rules (KQL; Lucene query strings for the few rules that use them):
//! one alert per matching event.

use std::sync::Arc;

use tripline_doc::SharedEvent;
use tripline_ir::Predicate;
use tripline_rules::Rule;

use crate::compile::{CompileContext, CompileError};
use crate::detector::{AlertDraft, Detector};

pub struct QueryDetector {
    rule: Arc<Rule>,
    predicate: Predicate,
    warnings: Vec<String>,
}

/// Compiles a rule's KQL query, the common path for `query`, `new_terms` and `threshold`.
pub fn compile_kql(rule: &Rule, ctx: &CompileContext) -> Result<(Predicate, Vec<String>), CompileError> {
    let language = rule.language.as_deref().unwrap_or("kuery");
    let query = rule.query.as_deref().unwrap_or("").trim();
    let pred = match language {
        "kuery" | "lucene" => {
            if query.is_empty() {
                Predicate::Const(true)
            } else {
                tripline_kql::compile(query, &ctx.types)
                    .map_err(|e| CompileError::Syntax { language: language.into(), message: e.to_string() })?
            }
        }
        other => return Err(CompileError::Unsupported(format!("query language {other:?} for rule type {}", rule.rule_type))),
    };
    let mut warnings = Vec::new();
    if !ctx.known_fields.is_empty() {
        for f in pred.fields() {
            if !ctx.known_fields.contains(&*f) && !f.contains('*') {
                warnings.push(format!("field {f} is never produced by Tripline's CloudTrail normalizer"));
            }
        }
    }
    Ok((pred, warnings))
}

pub fn compile(rule: &Arc<Rule>, ctx: &CompileContext) -> Result<Box<dyn Detector>, CompileError> {
    let (predicate, warnings) = compile_kql(rule, ctx)?;
    Ok(Box::new(QueryDetector { rule: rule.clone(), predicate, warnings }))
}

impl Detector for QueryDetector {
    fn rule(&self) -> &Arc<Rule> {
        &self.rule
    }

    fn fields(&self) -> Option<Vec<String>> {
        Some(self.predicate.fields().iter().map(|f| f.to_string()).collect())
    }

    fn required(&self, field: &str) -> Option<Vec<String>> {
        self.predicate.required_values(field)
    }

    fn on_event(&mut self, ev: &SharedEvent, out: &mut Vec<AlertDraft>) {
        if self.predicate.matches(&ev.doc) {
            out.push(AlertDraft::for_event(&self.rule, ev));
        }
    }

    fn warnings(&self) -> Vec<String> {
        self.warnings.clone()
    }
}
