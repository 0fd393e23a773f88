//! Elastic detection-rules TOML files: loading and the rule model.
//!
//! A rule file has a `[metadata]` table and a `[rule]` table. Every known key is typed in
//! [`Rule`]; every key is also kept verbatim in [`Rule::raw`] so nothing is rejected or lost
//! (alerts copy the rule's parameters into `kibana.alert.rule.parameters`).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    #[error("{path}: cannot read: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: TOML syntax error: {message}")]
    Toml { path: String, message: String },
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
}

/// The rule types of the detection-rules project.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleType {
    Query,
    Eql,
    Esql,
    NewTerms,
    Threshold,
    MachineLearning,
    ThreatMatch,
    /// Tripline's built-in analytics (session lineage); not an Elastic type.
    Analytic,
}

impl RuleType {
    pub fn parse(s: &str) -> Option<RuleType> {
        Some(match s {
            "query" => RuleType::Query,
            "eql" => RuleType::Eql,
            "esql" => RuleType::Esql,
            "new_terms" => RuleType::NewTerms,
            "threshold" => RuleType::Threshold,
            "machine_learning" => RuleType::MachineLearning,
            "threat_match" => RuleType::ThreatMatch,
            "analytic" => RuleType::Analytic,
            _ => return None,
        })
    }
    pub fn as_str(self) -> &'static str {
        match self {
            RuleType::Query => "query",
            RuleType::Eql => "eql",
            RuleType::Esql => "esql",
            RuleType::NewTerms => "new_terms",
            RuleType::Threshold => "threshold",
            RuleType::MachineLearning => "machine_learning",
            RuleType::ThreatMatch => "threat_match",
            RuleType::Analytic => "analytic",
        }
    }
}

impl std::fmt::Display for RuleType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `[[rule.threat]]`: MITRE ATT&CK mapping.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Threat {
    #[serde(default)]
    pub framework: String,
    #[serde(default)]
    pub tactic: Option<AttackRef>,
    #[serde(default)]
    pub technique: Vec<Technique>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AttackRef {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub reference: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Technique {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub reference: String,
    #[serde(default)]
    pub subtechnique: Vec<AttackRef>,
}

/// `[rule.threshold]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Threshold {
    /// Grouping fields (a single string in some files; normalized to a list).
    #[serde(default, deserialize_with = "string_or_list")]
    pub field: Vec<String>,
    pub value: u64,
    #[serde(default)]
    pub cardinality: Vec<Cardinality>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Cardinality {
    pub field: String,
    pub value: u64,
}

/// `[rule.new_terms]`: `field = "new_terms_fields"`, `value = [...]`, and
/// `[[rule.new_terms.history_window_start]] field = "history_window_start", value = "now-7d"`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NewTerms {
    pub fields: Vec<String>,
    /// e.g. `now-7d`.
    pub history_window_start: String,
}

/// `[rule.alert_suppression]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AlertSuppression {
    #[serde(default)]
    pub group_by: Vec<String>,
    #[serde(default)]
    pub duration: Option<Duration>,
    #[serde(default)]
    pub missing_fields_strategy: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Duration {
    pub value: i64,
    pub unit: String,
}

impl Duration {
    pub fn millis(&self) -> Option<i64> {
        let m = match self.unit.as_str() {
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => return None,
        };
        self.value.checked_mul(m)
    }
}

fn string_or_list<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum SL {
        S(String),
        L(Vec<String>),
    }
    Ok(match SL::deserialize(d)? {
        SL::S(s) if s.is_empty() => vec![],
        SL::S(s) => vec![s],
        SL::L(l) => l,
    })
}

/// A loaded detection rule.
#[derive(Debug, Clone, Serialize)]
pub struct Rule {
    /// File it came from (`builtin:NAME` for the embedded pack).
    pub path: String,
    pub rule_id: String,
    pub name: String,
    pub description: String,
    pub rule_type: RuleType,
    /// `kuery`, `lucene`, `eql`, `esql`.
    pub language: Option<String>,
    pub query: Option<String>,
    pub index: Vec<String>,
    pub severity: String,
    pub risk_score: i64,
    pub threat: Vec<Threat>,
    pub investigation_fields: Vec<String>,
    pub note: Option<String>,
    pub false_positives: Vec<String>,
    pub references: Vec<String>,
    pub tags: Vec<String>,
    pub author: Vec<String>,
    pub timestamp_override: Option<String>,
    /// Look-back, e.g. `now-6m` (default `now-6m`).
    pub from: String,
    /// Schedule, e.g. `5m` (default `5m`).
    pub interval: String,
    pub max_signals: u64,
    pub building_block_type: Option<String>,
    pub threshold: Option<Threshold>,
    pub new_terms: Option<NewTerms>,
    pub alert_suppression: Option<AlertSuppression>,
    /// `[[rule.exceptions_list]]` and inline exception items, verbatim (the engine compiles them).
    pub exceptions: Vec<Value>,
    /// The whole file as JSON (`metadata` and `rule` tables), every key kept.
    pub raw: Value,
}

pub const DEFAULT_MAX_SIGNALS: u64 = 100;

impl Rule {
    /// Parses one rule file's text. `path` is used in error messages and `Rule::path`.
    pub fn parse(path: &str, text: &str) -> Result<Rule, RuleError> {
        let doc: toml::Value = toml::from_str(text).map_err(|e| RuleError::Toml {
            path: path.into(),
            message: e.to_string(),
        })?;
        let raw = serde_json::to_value(&doc).map_err(|e| RuleError::Invalid {
            path: path.into(),
            message: e.to_string(),
        })?;
        let inv = |m: &str| RuleError::Invalid {
            path: path.into(),
            message: m.into(),
        };
        let rule = raw
            .get("rule")
            .and_then(|r| r.as_object())
            .ok_or_else(|| inv("missing [rule] table"))?;
        let s = |k: &str| rule.get(k).and_then(|v| v.as_str()).map(|s| s.to_string());
        let list = |k: &str| -> Vec<String> {
            match rule.get(k) {
                Some(Value::Array(a)) => a
                    .iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect(),
                Some(Value::String(s)) => vec![s.clone()],
                _ => vec![],
            }
        };
        let type_str = s("type").ok_or_else(|| inv("missing rule.type"))?;
        let rule_type = RuleType::parse(&type_str)
            .ok_or_else(|| inv(&format!("unknown rule type {type_str:?}")))?;
        let rule_id = s("rule_id").ok_or_else(|| inv("missing rule.rule_id"))?;
        let name = s("name").ok_or_else(|| inv("missing rule.name"))?;
        let de = |k: &str| -> Result<Option<Value>, RuleError> { Ok(rule.get(k).cloned()) };
        let threat: Vec<Threat> = match de("threat")? {
            Some(v) => serde_json::from_value(v).map_err(|e| inv(&format!("rule.threat: {e}")))?,
            None => vec![],
        };
        let threshold: Option<Threshold> = match de("threshold")? {
            Some(v) => {
                Some(serde_json::from_value(v).map_err(|e| inv(&format!("rule.threshold: {e}")))?)
            }
            None => None,
        };
        let new_terms = match rule.get("new_terms") {
            Some(v) => Some(parse_new_terms(v).map_err(|m| inv(&format!("rule.new_terms: {m}")))?),
            None => None,
        };
        let alert_suppression: Option<AlertSuppression> = match de("alert_suppression")? {
            Some(v) => Some(
                serde_json::from_value(v)
                    .map_err(|e| inv(&format!("rule.alert_suppression: {e}")))?,
            ),
            None => None,
        };
        let investigation_fields = match rule.get("investigation_fields") {
            Some(Value::Object(o)) => o
                .get("field_names")
                .and_then(|v| v.as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default(),
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect(),
            _ => vec![],
        };
        let mut exceptions = Vec::new();
        for k in ["exceptions_list", "exceptions"] {
            if let Some(Value::Array(a)) = rule.get(k) {
                exceptions.extend(a.iter().cloned());
            }
        }
        Ok(Rule {
            path: path.to_string(),
            rule_id,
            name,
            description: s("description").unwrap_or_default(),
            rule_type,
            language: s("language"),
            query: s("query"),
            index: list("index"),
            severity: s("severity").unwrap_or_else(|| "low".into()),
            risk_score: rule
                .get("risk_score")
                .and_then(|v| v.as_i64())
                .unwrap_or(21),
            threat,
            investigation_fields,
            note: s("note"),
            false_positives: list("false_positives"),
            references: list("references"),
            tags: list("tags"),
            author: list("author"),
            timestamp_override: s("timestamp_override"),
            from: s("from").unwrap_or_else(|| "now-6m".into()),
            interval: s("interval").unwrap_or_else(|| "5m".into()),
            max_signals: rule
                .get("max_signals")
                .and_then(|v| v.as_u64())
                .unwrap_or(DEFAULT_MAX_SIGNALS),
            building_block_type: s("building_block_type"),
            threshold,
            new_terms,
            alert_suppression,
            exceptions,
            raw,
        })
    }

    /// Loads one file from disk.
    pub fn load(path: &Path) -> Result<Rule, RuleError> {
        let text = std::fs::read_to_string(path).map_err(|e| RuleError::Io {
            path: path.display().to_string(),
            source: e,
        })?;
        Rule::parse(&path.display().to_string(), &text)
    }

    /// Look-back window in ms: `from` (`now-6m`) as a duration.
    pub fn lookback_millis(&self) -> i64 {
        tripline_doc::time::parse_now_minus(&self.from).unwrap_or(360_000)
    }

    /// Schedule interval in ms (`5m`).
    pub fn interval_millis(&self) -> i64 {
        tripline_doc::time::parse_duration_millis(&self.interval).unwrap_or(300_000)
    }

    /// ATT&CK technique and sub-technique ids, e.g. `["T1078", "T1078.004"]`.
    pub fn technique_ids(&self) -> Vec<String> {
        let mut out = Vec::new();
        for t in &self.threat {
            for te in &t.technique {
                out.push(te.id.clone());
                out.extend(te.subtechnique.iter().map(|s| s.id.clone()));
            }
        }
        out
    }
}

fn parse_new_terms(v: &Value) -> Result<NewTerms, String> {
    let fields = v
        .get("value")
        .and_then(|x| x.as_array())
        .ok_or("missing value (the new_terms_fields list)")?
        .iter()
        .filter_map(|x| x.as_str().map(String::from))
        .collect::<Vec<_>>();
    if fields.is_empty() || fields.len() > 3 {
        return Err(format!(
            "new_terms_fields must list 1 to 3 fields, got {}",
            fields.len()
        ));
    }
    let hws = match v.get("history_window_start") {
        Some(Value::Array(a)) => a
            .iter()
            .find_map(|e| e.get("value").and_then(|x| x.as_str()).map(String::from)),
        Some(Value::Object(o)) => o.get("value").and_then(|x| x.as_str()).map(String::from),
        Some(Value::String(s)) => Some(s.clone()),
        _ => None,
    }
    .ok_or("missing history_window_start")?;
    if tripline_doc::time::parse_now_minus(&hws).is_none() {
        return Err(format!(
            "history_window_start {hws:?} is not of the form now-<n><unit>"
        ));
    }
    Ok(NewTerms {
        fields,
        history_window_start: hws,
    })
}

/// Collects rule files: a file is taken as is; a folder is walked recursively for `*.toml`
/// (sorted, so loading order is deterministic).
pub fn collect_rule_files(path: &Path) -> Result<Vec<PathBuf>, RuleError> {
    let meta = std::fs::metadata(path).map_err(|e| RuleError::Io {
        path: path.display().to_string(),
        source: e,
    })?;
    if meta.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut out = Vec::new();
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let rd = std::fs::read_dir(&dir).map_err(|e| RuleError::Io {
            path: dir.display().to_string(),
            source: e,
        })?;
        for entry in rd {
            let entry = entry.map_err(|e| RuleError::Io {
                path: dir.display().to_string(),
                source: e,
            })?;
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|e| e == "toml") {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"
[metadata]
creation_date = "2026/01/01"

[rule]
author = ["Tripline"]
description = "d"
from = "now-9m"
index = ["logs-aws.cloudtrail-*"]
language = "kuery"
name = "Sample"
risk_score = 47
rule_id = "abc"
severity = "medium"
type = "new_terms"
custom_key = 5
query = 'event.dataset: "aws.cloudtrail"'

[rule.investigation_fields]
field_names = ["source.ip"]

[[rule.threat]]
framework = "MITRE ATT&CK"
[[rule.threat.technique]]
id = "T1078"
name = "Valid Accounts"
reference = "x"
[[rule.threat.technique.subtechnique]]
id = "T1078.004"
name = "Cloud Accounts"
reference = "y"
[rule.threat.tactic]
id = "TA0001"
name = "Initial Access"
reference = "z"

[rule.new_terms]
field = "new_terms_fields"
value = ["user.name", "source.ip"]
[[rule.new_terms.history_window_start]]
field = "history_window_start"
value = "now-7d"
"#;

    #[test]
    fn parses_all_metadata_and_keeps_unknown_keys() {
        let r = Rule::parse("x.toml", SAMPLE).unwrap();
        assert_eq!(r.rule_type, RuleType::NewTerms);
        assert_eq!(r.lookback_millis(), 9 * 60_000);
        assert_eq!(r.technique_ids(), vec!["T1078", "T1078.004"]);
        assert_eq!(r.investigation_fields, vec!["source.ip"]);
        let nt = r.new_terms.unwrap();
        assert_eq!(nt.fields, vec!["user.name", "source.ip"]);
        assert_eq!(nt.history_window_start, "now-7d");
        assert_eq!(r.raw["rule"]["custom_key"], 5);
        assert_eq!(r.max_signals, DEFAULT_MAX_SIGNALS);
    }

    #[test]
    fn errors_name_the_file() {
        let e = Rule::parse("bad.toml", "[rule\n").unwrap_err().to_string();
        assert!(e.starts_with("bad.toml: TOML syntax error"), "{e}");
        let e = Rule::parse("t.toml", "[rule]\ntype='query'\nname='n'\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("rule_id"), "{e}");
        let e = Rule::parse("t.toml", "[rule]\ntype='nope'\nname='n'\nrule_id='x'\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown rule type"), "{e}");
    }
}
