//! Suite `rules-compile`: every rule file of the detection-rules corpus is loaded and compiled
//! the way `tripline rules check` does it. One case per rule; `machine_learning` rules are
//! reported as skipped (they need Elastic ML jobs and cannot run outside Elasticsearch).

use std::path::Path;
use std::sync::Arc;

use anyhow::Result;
use tripline_engine::{compile_rule, CompileContext};
use tripline_rules::{collect_rule_files, Rule, RuleType};

use crate::suite::Suite;

pub fn run(corpus: &Path) -> Result<Suite> {
    let mut s = Suite::new("rules-compile");
    let root = corpus.join("detection-rules/rules/integrations");
    let files = collect_rule_files(&root).map_err(|e| anyhow::anyhow!("{e}"))?;
    let ctx = CompileContext::default();
    let mut per_type: std::collections::BTreeMap<String, (usize, usize)> = Default::default();
    for f in files {
        let rule = match Rule::load(&f) {
            Ok(r) => Arc::new(r),
            Err(e) => {
                s.fail("rule file does not load", e.to_string());
                continue;
            }
        };
        if rule.rule_type == RuleType::MachineLearning {
            s.skipped += 1;
            continue;
        }
        let entry = per_type.entry(rule.rule_type.to_string()).or_default();
        match compile_rule(&rule, &ctx) {
            Ok(_) => {
                entry.0 += 1;
                s.pass()
            }
            Err(e) => {
                entry.1 += 1;
                let msg = e.to_string();
                let cause = format!(
                    "{}: {}",
                    rule.rule_type,
                    msg.split(':').next().unwrap_or(&msg)
                );
                let rel = f.strip_prefix(&root).unwrap_or(&f).display().to_string();
                s.fail(cause, format!("{rel}: {msg}"));
            }
        }
    }
    for (t, (ok, bad)) in per_type {
        s.notes.push(format!("{t}: {ok} compiled, {bad} failed"));
    }
    Ok(s)
}
