//! The analytic as engine detectors: one detector per alert kind, named by the rule's `query`.

use std::sync::Arc;

use serde_json::{json, Map, Value};
use tripline_doc::SharedEvent;
use tripline_engine::compile::{AnalyticFactory, CompileContext, CompileError};
use tripline_engine::{AlertDraft, Detector, DetectorStats};
use tripline_rules::Rule;

use crate::config::Settings;
use crate::engine::{AlertKind, Engine, EngineState, Finding};

/// Analytic names a rule's `query` may hold.
pub const ANALYTIC_NO_ISSUANCE: &str = "session_lineage.session_without_issuance";
pub const ANALYTIC_USED_AWAY: &str = "session_lineage.session_used_away";
pub const ANALYTIC_MISSING_MFA: &str = "session_lineage.missing_mfa";

/// State format version written by [`Detector::save_state`].
const STATE_VERSION: u64 = 1;

pub struct LineageDetector {
    rule: Arc<Rule>,
    kind: AlertKind,
    engine: Engine,
    buf: Vec<Finding>,
}

impl LineageDetector {
    pub fn new(rule: Arc<Rule>, kind: AlertKind, cfg: Settings) -> LineageDetector {
        LineageDetector {
            rule,
            kind,
            engine: Engine::new(cfg),
            buf: Vec::new(),
        }
    }

    fn drain(&mut self, out: &mut Vec<AlertDraft>) {
        for f in self.buf.drain(..) {
            if f.kind == self.kind {
                out.push(to_draft(&self.rule, f));
            }
        }
    }
}

const LEVELS: [(&str, i64); 4] = [("low", 21), ("medium", 47), ("high", 73), ("critical", 99)];

/// Severity `steps` levels above `base`, with its risk score.
pub fn raised(base: &str, base_risk: i64, steps: u8) -> (String, i64) {
    if steps == 0 {
        return (base.to_string(), base_risk);
    }
    let i = LEVELS.iter().position(|(l, _)| *l == base).unwrap_or(1);
    let j = (i + steps as usize).min(LEVELS.len() - 1);
    (LEVELS[j].0.to_string(), LEVELS[j].1.max(base_risk))
}

fn to_draft(rule: &Arc<Rule>, f: Finding) -> AlertDraft {
    let mut extra = Map::new();
    let (sev, risk) = raised(&rule.severity, rule.risk_score, f.raise);
    if f.raise > 0 {
        extra.insert("severity".into(), json!(sev));
        extra.insert("risk_score".into(), json!(risk));
    }
    let mut fields = f.fields;
    fields.insert("tripline.lineage.severity".into(), json!(sev));
    fields.insert("tripline.lineage.risk_score".into(), json!(risk));
    AlertDraft {
        rule: rule.clone(),
        events: f.events,
        fields: Some(fields),
        timestamp: f.timestamp,
        reason: Some(f.reason),
        extra,
        key: Some(f.key),
        building_block: false,
    }
}

impl Detector for LineageDetector {
    fn rule(&self) -> &Arc<Rule> {
        &self.rule
    }

    fn on_event(&mut self, ev: &SharedEvent, out: &mut Vec<AlertDraft>) {
        self.engine.push(ev, &mut self.buf);
        self.drain(out);
    }

    fn finish(&mut self, out: &mut Vec<AlertDraft>) {
        self.engine.finish(&mut self.buf);
        self.drain(out);
    }

    fn stats(&self) -> DetectorStats {
        self.engine.counters()
    }

    fn is_stateful(&self) -> bool {
        true
    }

    fn save_state(&self) -> Option<Value> {
        Some(
            json!({"version": STATE_VERSION, "kind": self.kind.name(), "state": serde_json::to_value(self.engine.save()).ok()?}),
        )
    }

    fn load_state(&mut self, state: Value) -> Result<(), String> {
        if state.get("version").and_then(|v| v.as_u64()) != Some(STATE_VERSION) {
            return Err("session-lineage state of another version; starting fresh".into());
        }
        let st: EngineState =
            serde_json::from_value(state.get("state").cloned().unwrap_or(Value::Null))
                .map_err(|e| format!("session-lineage state: {e}"))?;
        self.engine.load(st);
        Ok(())
    }
}

fn factory(kind: AlertKind) -> AnalyticFactory {
    Arc::new(
        move |rule: &Arc<Rule>, _ctx: &CompileContext| -> Result<Box<dyn Detector>, CompileError> {
            let cfg = Settings::from_rule_raw(&rule.raw)
                .map_err(|e| CompileError::Invalid(e.to_string()))?;
            Ok(Box::new(LineageDetector::new(rule.clone(), kind, cfg)))
        },
    )
}

/// Adds the session-lineage analytics to a compile context.
pub fn register(ctx: &mut CompileContext) {
    ctx.analytics
        .insert(ANALYTIC_NO_ISSUANCE.into(), factory(AlertKind::NoIssuance));
    ctx.analytics
        .insert(ANALYTIC_USED_AWAY.into(), factory(AlertKind::UsedAway));
    ctx.analytics
        .insert(ANALYTIC_MISSING_MFA.into(), factory(AlertKind::MissingMfa));
}
