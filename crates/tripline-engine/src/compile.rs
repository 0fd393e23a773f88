//! Rule → detector, by rule type, and the registry of built-in analytics.

use std::collections::BTreeMap;
use std::sync::Arc;

use tripline_doc::FieldTypes;
use tripline_rules::{Rule, RuleType};

use crate::detector::Detector;

#[derive(Debug, thiserror::Error, Clone)]
pub enum CompileError {
    /// The query text does not parse; `message` includes the position.
    #[error("{language} syntax error: {message}")]
    Syntax { language: String, message: String },
    #[error("unsupported rule type {0}: {1}")]
    UnsupportedType(String, String),
    #[error("unsupported: {0}")]
    Unsupported(String),
    #[error("invalid rule: {0}")]
    Invalid(String),
}

/// Builds an analytic detector for a rule of type `analytic`.
pub type AnalyticFactory = Arc<
    dyn Fn(&Arc<Rule>, &CompileContext) -> Result<Box<dyn Detector>, CompileError> + Send + Sync,
>;

/// What compilation needs besides the rule.
#[derive(Clone)]
pub struct CompileContext {
    pub types: Arc<FieldTypes>,
    /// Built-in analytics by name (the rule's `query` names the analytic).
    pub analytics: BTreeMap<String, AnalyticFactory>,
    /// Alert even inside the first history window of new_terms rules.
    pub no_warmup: bool,
    /// Fields the normalizer can produce (for unknown-field warnings); empty = no check.
    pub known_fields: Arc<std::collections::HashSet<String>>,
    /// Cap on live partial EQL sequences per rule (oldest dropped and counted beyond it).
    pub max_sequence_states: usize,
    /// Data for ES|QL `ENRICH` (the GeoIP/ASN databases); `None` = rules using it do not compile.
    pub enrich: Option<Arc<dyn tripline_esql::EnrichSource>>,
}

impl Default for CompileContext {
    fn default() -> Self {
        CompileContext {
            types: Arc::new(FieldTypes::builtin().clone()),
            analytics: BTreeMap::new(),
            no_warmup: false,
            known_fields: Arc::default(),
            max_sequence_states: crate::eql_rule::MAX_PARTIAL_SEQUENCES,
            enrich: None,
        }
    }
}

/// Compiles one rule into its detector, with the rule's own exception items and alert
/// suppression applied (wrappers from [`crate::exceptions`] and [`crate::suppression`]).
pub fn compile_rule(
    rule: &Arc<Rule>,
    ctx: &CompileContext,
) -> Result<Box<dyn Detector>, CompileError> {
    let det = compile_by_type(rule, ctx)?;
    let det = crate::exceptions::wrap_rule_exceptions(rule, ctx, det)?;
    crate::suppression::wrap_rule_suppression(rule, det)
}

fn compile_by_type(
    rule: &Arc<Rule>,
    ctx: &CompileContext,
) -> Result<Box<dyn Detector>, CompileError> {
    match rule.rule_type {
        RuleType::Query => crate::query_rule::compile(rule, ctx),
        RuleType::Eql => crate::eql_rule::compile(rule, ctx),
        RuleType::Esql => crate::esql_rule::compile(rule, ctx),
        RuleType::NewTerms => crate::new_terms::compile(rule, ctx),
        RuleType::Threshold => crate::threshold::compile(rule, ctx),
        RuleType::Analytic => {
            let name = rule.query.as_deref().unwrap_or_default().trim();
            match ctx.analytics.get(name) {
                Some(f) => f(rule, ctx),
                None => Err(CompileError::Unsupported(format!(
                    "no built-in analytic named {name:?}"
                ))),
            }
        }
        RuleType::MachineLearning => Err(CompileError::UnsupportedType(
            "machine_learning".into(),
            "needs an Elastic ML job, which cannot run outside Elasticsearch".into(),
        )),
        RuleType::ThreatMatch => Err(CompileError::UnsupportedType(
            "threat_match".into(),
            "needs threat-intelligence indices".into(),
        )),
    }
}
