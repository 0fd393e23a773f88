//! Replays Elastic's golden pipeline tests (`elastic-cloudtrail-pipeline` corpus folder:
//! `test-*.log` inputs, `*-expected.json` outputs) through the normalizer and compares, the way
//! the integration's test runner does: the common config's `@timestamp` injected, tags
//! `preserve_original_event` + `actor_target_mapping`, per-test `_conf.retain`, GeoIP from
//! MaxMind's test databases, key order ignored, ingest-time fields ignored, `user_agent.version`
//! checked against the config's dynamic-field regex.
//!
//! The expected files come from several pipeline generations (see the folder's README); only
//! `G3` ones must match exactly. For older ones the differences are checked against the list
//! of fields known to have changed between generations ([`KNOWN_CHANGED`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::{GeoIp, NormalizeOptions, Normalizer, Retain};

/// Fields whose mapping changed between the pipeline generations of the golden files
/// (MAPPING.md §14 of the corpus folder): a difference there in a non-G3 file is expected.
pub const KNOWN_CHANGED: &[(&str, &str)] = &[
    ("cloud.provider", "added in G3"),
    ("cloud.service.name", "added in G3"),
    ("related.ip", "added in G3"),
    ("related.hosts", "added in G3"),
    ("related.entity", "sorted (TreeSet) in G3; built by a sub-pipeline in G1"),
    (
        "related.user",
        "G3 adds the session name and its e-mail prefix; user.id appended since G2",
    ),
    ("related.hash", "digest fields reorganised in G3"),
    ("file.hash", "digest fields reorganised in G3"),
    ("service.name", "service actors identified in G3"),
    ("actor.entity.id", "actor mapping reworked in G2/G3"),
    ("user.entity.id", "entity classification added in G3 (role ARN for assumed roles)"),
    ("host.entity.id", "entity classification added in G3"),
    ("service.entity.id", "entity classification added in G3"),
    ("entity.id", "entity classification added in G3"),
    ("target.entity.id", "targets reworked in G2/G3"),
    (
        "user.target.entity.id",
        "target classification by ARN type in G3 (substring tests before)",
    ),
    ("host.target.entity.id", "target classification added in G3"),
    ("host.target.id", "target classification added in G3"),
    ("service.target.entity.id", "target classification added in G3"),
    ("entity.target.id", "target classification added in G3"),
    ("user.changes.name", "G2b took it from the assumed-role ARN"),
    ("user.name", "G1d split a@b into user.name/user.domain"),
    ("user.domain", "G1d split a@b into user.name/user.domain"),
    ("user.email", "G1d split a@b; G3 takes it from an e-mail session name"),
    (
        "event.type",
        "G2 had [] for Publish/SendCommand/Converse, `delete` for DeleteObject; table extended since G1",
    ),
    ("event.category", "categorization table extended since G1"),
    (
        "tags",
        "the actor_target_mapping tag was added to the test config with the entity mapping",
    ),
    (
        "aws.cloudtrail.user_identity.session_context.ec2_role_delivery",
        "mapped since G3 (dropped before)",
    ),
    ("source.geo", "MaxMind test databases changed between generations"),
    ("source.as", "MaxMind test databases changed between generations"),
];

/// Paths never compared: set at ingest time, not by the pipeline.
const INGEST_TIME: &[&str] = &["event.created", "event.ingested"];
/// Added by Fleet's data stream (we add them, the pipeline does not); ignored when the expected
/// document lacks them.
const FLEET: &[&str] = &[
    "data_stream.type",
    "data_stream.dataset",
    "data_stream.namespace",
    "event.dataset",
    "event.module",
];

#[derive(Debug, Clone, PartialEq)]
pub struct Diff {
    pub path: String,
    pub expected: Option<Value>,
    pub actual: Option<Value>,
}

impl std::fmt::Display for Diff {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let show = |v: &Option<Value>| v.as_ref().map_or("(absent)".to_string(), |v| v.to_string());
        let (mut e, mut a) = (show(&self.expected), show(&self.actual));
        for s in [&mut e, &mut a] {
            if s.len() > 160 {
                let mut cut = 160;
                while !s.is_char_boundary(cut) {
                    cut -= 1;
                }
                s.truncate(cut);
                s.push('…');
            }
        }
        write!(f, "{}: expected {e}, got {a}", self.path)
    }
}

#[derive(Debug)]
pub enum Outcome {
    /// Identical (modulo ignored fields).
    Match,
    /// Differences, first by path.
    Differ(Vec<Diff>),
    /// The input line is not a record (an empty line: the pipeline emits a stub document).
    Skipped(String),
    /// The normalizer rejected the record.
    Error(String),
}

#[derive(Debug)]
pub struct Case {
    pub file: String,
    /// 1-based document index inside the expected file.
    pub index: usize,
    pub generation: String,
    pub outcome: Outcome,
}

impl Case {
    /// Whether every difference is in a field known to have changed between generations.
    pub fn only_known_changes(&self) -> bool {
        match &self.outcome {
            Outcome::Match => true,
            Outcome::Differ(d) => d.iter().all(|d| known_change(&d.path).is_some()),
            _ => false,
        }
    }
}

/// The reason a field is in [`KNOWN_CHANGED`], if it is.
pub fn known_change(path: &str) -> Option<&'static str> {
    KNOWN_CHANGED
        .iter()
        .find(|(p, _)| path == *p || path.strip_prefix(p).is_some_and(|r| r.starts_with('.')))
        .map(|(_, why)| *why)
}

#[derive(Debug, thiserror::Error)]
pub enum GoldenError {
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
    #[error("{0}: {1}")]
    Parse(PathBuf, String),
    #[error(transparent)]
    GeoIp(#[from] crate::GeoIpError),
}

fn read(p: &Path) -> Result<String, GoldenError> {
    std::fs::read_to_string(p).map_err(|e| GoldenError::Io(p.to_path_buf(), e))
}

/// `pair file name → generation` from the README's table (`| \`test-x.log\` | commit | G3 | n |`).
pub fn generations(readme: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in readme.lines() {
        let cells: Vec<&str> = line
            .trim()
            .trim_matches('|')
            .split('|')
            .map(str::trim)
            .collect();
        if cells.len() >= 3 {
            let name = cells[0].trim_matches('`');
            if name.starts_with("test-") && name.ends_with(".log") {
                out.insert(name.to_string(), cells[2].to_string());
            }
        }
    }
    out
}

struct Config {
    timestamp: Option<String>,
    ua_version: Option<regex::Regex>,
    retain: Option<String>,
}

fn config(text: &str, p: &Path) -> Result<Config, GoldenError> {
    let y: serde_yaml::Value = serde_yaml::from_str(text)
        .map_err(|e| GoldenError::Parse(p.to_path_buf(), e.to_string()))?;
    let ts = y
        .get("fields")
        .and_then(|f| f.get("@timestamp"))
        .and_then(|v| v.as_str())
        .map(str::to_string);
    let ua = match y
        .get("dynamic_fields")
        .and_then(|f| f.get("user_agent.version"))
        .and_then(|v| v.as_str())
    {
        Some(r) => Some(
            regex::Regex::new(r).map_err(|e| GoldenError::Parse(p.to_path_buf(), e.to_string()))?,
        ),
        None => None,
    };
    let retain = y
        .get("fields")
        .and_then(|f| f.get("_conf"))
        .and_then(|c| c.get("retain"))
        .and_then(|v| v.as_str())
        .map(str::to_string);
    Ok(Config {
        timestamp: ts,
        ua_version: ua,
        retain,
    })
}

/// Leaf paths of a document: objects are walked, arrays and scalars are leaves.
fn leaves(prefix: &mut String, v: &Value, out: &mut BTreeMap<String, Value>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                let len = prefix.len();
                if !prefix.is_empty() {
                    prefix.push('.');
                }
                prefix.push_str(k);
                leaves(prefix, v, out);
                prefix.truncate(len);
            }
        }
        other => {
            out.insert(prefix.clone(), other.clone());
        }
    }
}

/// Differences between an expected and an actual document, by path.
pub fn compare(expected: &Value, actual: &Value, ua_version: Option<&regex::Regex>) -> Vec<Diff> {
    let (mut e, mut a) = (BTreeMap::new(), BTreeMap::new());
    leaves(&mut String::new(), expected, &mut e);
    leaves(&mut String::new(), actual, &mut a);
    for p in INGEST_TIME {
        e.remove(*p);
        a.remove(*p);
    }
    for p in FLEET {
        if !e.contains_key(*p) {
            a.remove(*p);
        }
    }
    let mut diffs = Vec::new();
    let paths: std::collections::BTreeSet<&String> = e.keys().chain(a.keys()).collect();
    for p in paths {
        let (ev, av) = (e.get(p), a.get(p));
        if ev == av {
            continue;
        }
        if p == "user_agent.version" {
            if let (Some(Value::String(es)), Some(Value::String(as_))) = (ev, av) {
                let re_ok = ua_version.is_none_or(|r| r.is_match(as_));
                if re_ok && es.trim_end_matches('.') == as_.trim_end_matches('.') {
                    continue;
                }
            }
        }
        diffs.push(Diff {
            path: p.clone(),
            expected: ev.cloned(),
            actual: av.cloned(),
        });
    }
    diffs
}

/// Replays every pair of the folder (`elastic-cloudtrail-pipeline`), with GeoIP from
/// `maxmind` (the `maxmind-test-db` folder) when given.
pub fn replay(dir: &Path, maxmind: Option<&Path>) -> Result<Vec<Case>, GoldenError> {
    let gens = generations(&read(&dir.join("README.md"))?);
    let common_path = dir.join("test-common-config.yml");
    let common = config(&read(&common_path)?, &common_path)?;
    let geoip = match maxmind {
        Some(m) => Some(Arc::new(GeoIp::open(&[
            m.join("GeoLite2-City-Test.mmdb"),
            m.join("GeoLite2-ASN-Test.mmdb"),
        ])?)),
        None => None,
    };
    let mut logs: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| GoldenError::Io(dir.to_path_buf(), e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("test-") && n.ends_with(".log"))
        })
        .collect();
    logs.sort();
    let mut cases = Vec::new();
    for log in logs {
        let name = log
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        let exp_path = dir.join(format!("{name}-expected.json"));
        if !exp_path.exists() {
            continue;
        }
        let expected: Value = serde_json::from_str(&read(&exp_path)?)
            .map_err(|e| GoldenError::Parse(exp_path.clone(), e.to_string()))?;
        let expected = expected
            .get("expected")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let cfg_path = dir.join(format!("{name}-config.yml"));
        let local = if cfg_path.exists() {
            Some(config(&read(&cfg_path)?, &cfg_path)?)
        } else {
            None
        };
        let retain = local
            .as_ref()
            .and_then(|c| c.retain.as_deref())
            .map_or(Retain::All, |r| Retain::parse(r).unwrap_or(Retain::None));
        let ua_re = local
            .as_ref()
            .and_then(|c| c.ua_version.as_ref())
            .or(common.ua_version.as_ref());
        let ts = local
            .as_ref()
            .and_then(|c| c.timestamp.clone())
            .or(common.timestamp.clone());
        let n = Normalizer::new(NormalizeOptions {
            keep_original: true,
            geoip: geoip.clone(),
            ingest_time: ts,
            actor_target_mapping: true,
            retain,
            ..Default::default()
        });
        let generation = gens.get(&name).cloned().unwrap_or_else(|| "?".into());
        let text = read(&log)?;
        for (i, line) in text.split('\n').enumerate() {
            let Some(exp) = expected.get(i) else { break };
            let outcome = if line.trim().is_empty() {
                Outcome::Skipped("empty input line (the pipeline emits a stub document)".into())
            } else {
                match n.normalize_json(line) {
                    Ok((doc, _)) => {
                        let d = compare(exp, &Value::Object(doc.0), ua_re);
                        if d.is_empty() {
                            Outcome::Match
                        } else {
                            Outcome::Differ(d)
                        }
                    }
                    Err(e) => Outcome::Error(e.to_string()),
                }
            };
            cases.push(Case {
                file: name.clone(),
                index: i + 1,
                generation: generation.clone(),
                outcome,
            });
        }
    }
    Ok(cases)
}

/// Convenience for tests and tools: the document object of a value.
pub fn as_map(v: &Value) -> Option<&Map<String, Value>> {
    v.as_object()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn compare_finds_differences_and_ignores_ingest_fields() {
        let e = json!({"event": {"created": "a", "action": "X"}, "user": {"name": "u"}, "tags": ["a", "b"]});
        let a = json!({"event": {"created": "b", "action": "X", "dataset": "aws.cloudtrail"}, "user": {"name": "v"}, "tags": ["b", "a"]});
        let d = compare(&e, &a, None);
        let paths: Vec<&str> = d.iter().map(|d| d.path.as_str()).collect();
        // event.created ignored, event.dataset ignored (absent from expected), list order matters.
        assert_eq!(paths, ["tags", "user.name"]);
    }

    #[test]
    fn user_agent_version_by_regex() {
        let re = regex::Regex::new(r"^\d+\.\d+(\.|\..*)?$").unwrap();
        let e = json!({"user_agent": {"version": "24.0."}});
        assert!(compare(&e, &json!({"user_agent": {"version": "24.0"}}), Some(&re)).is_empty());
        assert_eq!(
            compare(&e, &json!({"user_agent": {"version": "25.0"}}), Some(&re)).len(),
            1
        );
        assert_eq!(
            compare(&e, &json!({"user_agent": {"version": "x"}}), Some(&re)).len(),
            1
        );
    }

    #[test]
    fn generation_table_and_known_changes() {
        let g = generations("| pair | c | generation | docs |\n| --- | --- | --- | --- |\n| `test-a.log` | 8149d6c9 | G3 | 1 |\n| `test-b.log` | 0f775e78 | G2 | 2 |\n");
        assert_eq!(g.get("test-a.log").map(String::as_str), Some("G3"));
        assert_eq!(g.get("test-b.log").map(String::as_str), Some("G2"));
        assert_eq!(g.len(), 2);
        assert!(known_change("source.geo.city_name").is_some());
        assert!(known_change("cloud.provider").is_some());
        assert!(known_change("cloud.providers").is_none());
        assert!(known_change("aws.cloudtrail.request_parameters").is_none());
    }
}
