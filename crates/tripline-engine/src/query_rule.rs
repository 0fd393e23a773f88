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
pub fn compile_kql(
    rule: &Rule,
    ctx: &CompileContext,
) -> Result<(Predicate, Vec<String>), CompileError> {
    let language = rule.language.as_deref().unwrap_or("kuery");
    let query = rule.query.as_deref().unwrap_or("").trim();
    let pred = match language {
        "kuery" | "lucene" => {
            if query.is_empty() {
                Predicate::Const(true)
            } else {
                tripline_kql::compile(query, &ctx.types).map_err(|e| CompileError::Syntax {
                    language: language.into(),
                    message: e.to_string(),
                })?
            }
        }
        other => {
            return Err(CompileError::Unsupported(format!(
                "query language {other:?} for rule type {}",
                rule.rule_type
            )))
        }
    };
    let warnings = unknown_field_warnings(rule, ctx, pred.fields().iter().map(|f| f.as_ref()));
    Ok((pred, warnings))
}

/// Fields Elastic adds at ingest time (not from the record), which rules may read.
const INGEST_TIME_FIELDS: &[&str] = &[
    "event.ingested",
    "event.created",
    "_id",
    "_index",
    "@timestamp",
];

/// Whether a rule reads CloudTrail documents (its index patterns name them, or it has none).
pub fn reads_cloudtrail(rule: &Rule) -> bool {
    rule.index.is_empty()
        || rule.index.iter().any(|i| {
            let i = i.trim_start_matches('-');
            i.starts_with("logs-aws.cloudtrail")
                || i == "logs-aws*"
                || i == "logs-*"
                || i == "logs-aws.*"
                || i == "*"
        })
}

/// Warnings for fields a CloudTrail rule reads that Tripline's normalizer never produces.
/// Sub-fields of a produced object (e.g. a flattened `request_parameters` key) count as known:
/// their names depend on the API call.
pub fn unknown_field_warnings<'a>(
    rule: &Rule,
    ctx: &CompileContext,
    fields: impl Iterator<Item = &'a str>,
) -> Vec<String> {
    let mut warnings = Vec::new();
    if ctx.known_fields.is_empty() || !reads_cloudtrail(rule) {
        return warnings;
    }
    for f in fields {
        if f.contains('*') || INGEST_TIME_FIELDS.contains(&f) || ctx.known_fields.contains(f) {
            continue;
        }
        let mut known = false;
        let mut end = f.len();
        while let Some(dot) = f[..end].rfind('.') {
            if ctx.known_fields.contains(&f[..dot]) {
                known = true;
                break;
            }
            end = dot;
        }
        // Multi-fields such as `user_agent.original.text` read their parent.
        let parent_known =
            ctx.types.source_path(f) != f && ctx.known_fields.contains(ctx.types.source_path(f));
        if !known && !parent_known {
            warnings.push(format!(
                "field {f} is never produced by Tripline's CloudTrail normalizer"
            ));
        }
    }
    warnings
}

pub fn compile(rule: &Arc<Rule>, ctx: &CompileContext) -> Result<Box<dyn Detector>, CompileError> {
    let (predicate, warnings) = compile_kql(rule, ctx)?;
    Ok(Box::new(QueryDetector {
        rule: rule.clone(),
        predicate,
        warnings,
    }))
}

impl Detector for QueryDetector {
    fn rule(&self) -> &Arc<Rule> {
        &self.rule
    }

    fn fields(&self) -> Option<Vec<String>> {
        Some(
            self.predicate
                .fields()
                .iter()
                .map(|f| f.to_string())
                .collect(),
        )
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
