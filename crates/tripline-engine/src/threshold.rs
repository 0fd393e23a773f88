//! `threshold` detector (to be implemented).

use std::sync::Arc;

use tripline_rules::Rule;

use crate::compile::{CompileContext, CompileError};
use crate::detector::Detector;

pub fn compile(rule: &Arc<Rule>, _ctx: &CompileContext) -> Result<Box<dyn Detector>, CompileError> {
    Err(CompileError::UnsupportedType(rule.rule_type.to_string(), "not implemented yet".into()))
}
