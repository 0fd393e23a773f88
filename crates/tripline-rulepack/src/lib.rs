//! Tripline's own rule pack and the rule-testing harness.
//!
//! The pack is the folder `rules/builtin/` of the repository, embedded at build time:
//! [`builtin_rules`] returns each rule's name and TOML text (Elastic's detection-rules format;
//! rules of type `analytic` name a built-in analytic in their `query`), [`builtin_tests`] the
//! test files.
//!
//! # Rule test files
//!
//! A rule `DIR/NAME.toml` is tested by `DIR/tests/NAME.json` (or `DIR/NAME.test.json`):
//!
//! ```json
//! {
//!   "description": "optional text",
//!   "cases": [
//!     {
//!       "name": "what this case shows",
//!       "expect": 1,
//!       "format": "cloudtrail",
//!       "records": [ { "eventVersion": "1.09", "eventTime": "...", "eventName": "...", ... } ],
//!       "expect_fields": { "event.action": "StopLogging" }
//!     }
//!   ]
//! }
//! ```
//!
//! - `expect`: how many alerts the rule must raise on the case's records (building-block
//!   alerts of sequences are not counted).
//! - `format`: `cloudtrail` (default): raw CloudTrail records, normalized as `tripline hunt`
//!   does; `ecs`: documents already in ECS form (must carry `@timestamp`).
//! - `records`: the events, in any order (they are sorted by time, as the hunt does). A
//!   `{"Records": [...]}` object is accepted too.
//! - `expect_fields` (optional): every alert document must have these values (dotted field →
//!   JSON value; for a multi-valued field, one of its values must equal it).
//!
//! Each case runs alone: a fresh detector, its own records, end of input at the end (so
//! stateful rules and analytics flush).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tripline_doc::{Document, Event, Origin};
use tripline_engine::{compile_rule, CompileContext, Runner, RunnerConfig};
use tripline_normalize::{NormalizeOptions, Normalizer};
use tripline_rules::Rule;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/builtin.rs"));
}

/// The embedded rules: (name, TOML text), sorted by name.
pub fn builtin_rules() -> Vec<(&'static str, &'static str)> {
    embedded::RULES.to_vec()
}

/// The embedded rule tests: (rule name, test JSON text).
pub fn builtin_tests() -> Vec<(&'static str, &'static str)> {
    embedded::TESTS.to_vec()
}

/// The compile context with Tripline's analytics registered (session lineage).
pub fn compile_context() -> CompileContext {
    let mut ctx = CompileContext::default();
    tripline_lineage::register(&mut ctx);
    ctx
}

#[derive(Debug, thiserror::Error)]
pub enum TestFileError {
    #[error("{0}: not valid test JSON: {1}")]
    Json(String, String),
    #[error("{0}: {1}")]
    Invalid(String, String),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestFile {
    #[serde(default)]
    pub description: Option<String>,
    pub cases: Vec<TestCase>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestCase {
    pub name: String,
    pub expect: u64,
    #[serde(default)]
    pub format: Option<String>,
    pub records: Value,
    #[serde(default)]
    pub expect_fields: Option<serde_json::Map<String, Value>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CaseResult {
    pub name: String,
    pub expected: u64,
    pub actual: u64,
    pub passed: bool,
    /// What went wrong (count mismatch, field mismatch, records that did not normalize).
    pub failures: Vec<String>,
    /// The alert reasons, for the report.
    pub reasons: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RuleTestResult {
    pub rule_path: String,
    pub rule_name: Option<String>,
    pub test_file: Option<String>,
    /// Rule or test file that could not be used.
    pub error: Option<String>,
    pub cases: Vec<CaseResult>,
}

impl RuleTestResult {
    pub fn passed(&self) -> bool {
        self.error.is_none() && self.test_file.is_some() && self.cases.iter().all(|c| c.passed)
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct TestReport {
    pub rules: Vec<RuleTestResult>,
}

#[derive(Debug, Clone, Default)]
pub struct TestOptions {
    /// A rule without a test file fails (otherwise it is reported as untested).
    pub require_tests: bool,
}

impl TestReport {
    /// True when every tested rule passed (and, with `require_tests`, every rule had tests).
    pub fn passed(&self, opts: &TestOptions) -> bool {
        self.rules.iter().all(|r| {
            r.passed() || (!opts.require_tests && r.test_file.is_none() && r.error.is_none())
        })
    }

    /// (rules, cases, failed cases, untested rules, rules with errors)
    pub fn counts(&self) -> (usize, usize, usize, usize, usize) {
        let cases = self.rules.iter().map(|r| r.cases.len()).sum();
        let failed = self
            .rules
            .iter()
            .flat_map(|r| &r.cases)
            .filter(|c| !c.passed)
            .count();
        let untested = self
            .rules
            .iter()
            .filter(|r| r.test_file.is_none() && r.error.is_none())
            .count();
        let errors = self.rules.iter().filter(|r| r.error.is_some()).count();
        (self.rules.len(), cases, failed, untested, errors)
    }

    /// Human-readable report.
    pub fn render_text(&self) -> String {
        let mut o = String::new();
        for r in &self.rules {
            let name = r.rule_name.as_deref().unwrap_or(&r.rule_path);
            if let Some(e) = &r.error {
                o.push_str(&format!("ERROR {name}: {e}\n"));
                continue;
            }
            if r.test_file.is_none() {
                o.push_str(&format!("  --  {name}: no test file\n"));
                continue;
            }
            let ok = r.cases.iter().filter(|c| c.passed).count();
            o.push_str(&format!(
                "{} {name}: {ok}/{} cases\n",
                if r.passed() { " ok " } else { "FAIL" },
                r.cases.len()
            ));
            for c in r.cases.iter().filter(|c| !c.passed) {
                o.push_str(&format!(
                    "      case {:?}: expected {} alert(s), got {}\n",
                    c.name, c.expected, c.actual
                ));
                for f in &c.failures {
                    o.push_str(&format!("        {f}\n"));
                }
            }
        }
        let (rules, cases, failed, untested, errors) = self.counts();
        o.push_str(&format!(
            "{rules} rules, {cases} cases, {failed} failed, {untested} untested, {errors} with errors\n"
        ));
        o
    }
}

/// Where the test file of a rule file is.
pub fn test_file_for(rule: &Path) -> Option<PathBuf> {
    let stem = rule.file_stem()?.to_str()?;
    let dir = rule.parent().unwrap_or(Path::new("."));
    [
        dir.join("tests").join(format!("{stem}.json")),
        dir.join(format!("{stem}.test.json")),
    ]
    .into_iter()
    .find(|p| p.is_file())
}

/// Runs the tests of rule files or folders (folders are walked for `*.toml`).
pub fn run_rule_tests(paths: &[PathBuf], _opts: &TestOptions) -> TestReport {
    let ctx = compile_context();
    let mut report = TestReport::default();
    for p in paths {
        let files = match tripline_rules::collect_rule_files(p) {
            Ok(f) => f,
            Err(e) => {
                report.rules.push(RuleTestResult {
                    rule_path: p.display().to_string(),
                    rule_name: None,
                    test_file: None,
                    error: Some(e.to_string()),
                    cases: vec![],
                });
                continue;
            }
        };
        for f in files {
            let path = f.display().to_string();
            let text = match std::fs::read_to_string(&f) {
                Ok(t) => t,
                Err(e) => {
                    report.rules.push(RuleTestResult {
                        rule_path: path,
                        rule_name: None,
                        test_file: None,
                        error: Some(format!("cannot read: {e}")),
                        cases: vec![],
                    });
                    continue;
                }
            };
            let test = test_file_for(&f).map(|t| {
                (
                    t.display().to_string(),
                    std::fs::read_to_string(&t)
                        .map_err(|e| format!("cannot read {}: {e}", t.display())),
                )
            });
            report.rules.push(run_one(&ctx, &path, &text, test));
        }
    }
    report
}

/// Runs the embedded pack's tests.
pub fn run_builtin_tests(_opts: &TestOptions) -> TestReport {
    let ctx = compile_context();
    let tests = builtin_tests();
    let mut report = TestReport::default();
    for (name, text) in builtin_rules() {
        let test = tests
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(n, t)| (format!("builtin:tests/{n}.json"), Ok(t.to_string())));
        report
            .rules
            .push(run_one(&ctx, &format!("builtin:{name}"), text, test));
    }
    report
}

/// Tests one rule given its text and its test file's (path, text).
pub fn run_rule_test_text(
    rule_path: &str,
    rule_text: &str,
    test_path: &str,
    test_text: &str,
) -> RuleTestResult {
    run_one(
        &compile_context(),
        rule_path,
        rule_text,
        Some((test_path.to_string(), Ok(test_text.to_string()))),
    )
}

fn run_one(
    ctx: &CompileContext,
    rule_path: &str,
    rule_text: &str,
    test: Option<(String, Result<String, String>)>,
) -> RuleTestResult {
    let mut res = RuleTestResult {
        rule_path: rule_path.to_string(),
        rule_name: None,
        test_file: None,
        error: None,
        cases: vec![],
    };
    let rule = match Rule::parse(rule_path, rule_text) {
        Ok(r) => Arc::new(r),
        Err(e) => {
            res.error = Some(e.to_string());
            return res;
        }
    };
    res.rule_name = Some(rule.name.clone());
    if let Err(e) = compile_rule(&rule, ctx) {
        res.error = Some(format!("does not compile: {e}"));
        return res;
    }
    let Some((tpath, ttext)) = test else {
        return res;
    };
    res.test_file = Some(tpath.clone());
    let ttext = match ttext {
        Ok(t) => t,
        Err(e) => {
            res.error = Some(e);
            return res;
        }
    };
    let tf: TestFile = match serde_json::from_str(&ttext) {
        Ok(t) => t,
        Err(e) => {
            res.error = Some(TestFileError::Json(tpath, e.to_string()).to_string());
            return res;
        }
    };
    if tf.cases.is_empty() {
        res.error = Some(TestFileError::Invalid(tpath, "no cases".into()).to_string());
        return res;
    }
    let normalizer = Normalizer::new(NormalizeOptions::default());
    for case in &tf.cases {
        res.cases
            .push(run_case(ctx, &rule, &normalizer, &tpath, case));
    }
    res
}

fn run_case(
    ctx: &CompileContext,
    rule: &Arc<Rule>,
    normalizer: &Normalizer,
    tpath: &str,
    case: &TestCase,
) -> CaseResult {
    let mut failures = Vec::new();
    let records: Vec<Value> = match &case.records {
        Value::Array(a) => a.clone(),
        Value::Object(o) => match o.get("Records") {
            Some(Value::Array(a)) => a.clone(),
            _ => vec![case.records.clone()],
        },
        _ => {
            failures.push("records must be an array".into());
            vec![]
        }
    };
    let ecs = case.format.as_deref() == Some("ecs");
    if let Some(f) = case
        .format
        .as_deref()
        .filter(|f| *f != "ecs" && *f != "cloudtrail")
    {
        failures.push(format!("unknown format {f:?} (cloudtrail or ecs)"));
    }
    let file: Arc<str> = Arc::from(format!("{tpath}#{}", case.name));
    let mut events = Vec::new();
    for (i, r) in records.iter().enumerate() {
        let doc = if ecs {
            match r {
                Value::Object(m) => {
                    let d = Document(m.clone());
                    match d
                        .first("@timestamp")
                        .and_then(tripline_doc::time::value_to_millis)
                    {
                        Some(t) => Ok((d, t)),
                        None => Err("ECS document without a valid @timestamp".to_string()),
                    }
                }
                _ => Err("not a JSON object".into()),
            }
        } else {
            normalizer.normalize_with_time(r).map_err(|e| e.to_string())
        };
        match doc {
            Ok((doc, t)) => events.push(Event {
                doc,
                timestamp: t,
                origin: Origin {
                    file: file.clone(),
                    record: i as u64 + 1,
                    line: None,
                },
                seq: i as u64,
            }),
            Err(e) => failures.push(format!("record {}: {e}", i + 1)),
        }
    }
    events.sort_by_key(|e| (e.timestamp, e.seq));
    let det = match compile_rule(rule, ctx) {
        Ok(d) => d,
        Err(e) => {
            failures.push(format!("does not compile: {e}"));
            return CaseResult {
                name: case.name.clone(),
                expected: case.expect,
                actual: 0,
                passed: false,
                failures,
                reasons: vec![],
            };
        }
    };
    let mut runner = Runner::new(vec![det], RunnerConfig::default());
    let mut drafts = Vec::new();
    for ev in events {
        runner.push(Arc::new(ev), &mut drafts);
    }
    runner.finish(&mut drafts);
    let alerts: Vec<_> = drafts
        .iter()
        .filter(|d| !d.building_block)
        .map(tripline_alerts::build_alert)
        .collect();
    let actual = alerts.len() as u64;
    if actual != case.expect {
        failures.push(format!("expected {} alert(s), got {actual}", case.expect));
    }
    if let Some(want) = &case.expect_fields {
        for (i, a) in alerts.iter().enumerate() {
            for (k, v) in want {
                let got = a.doc.values(k);
                let ok = got.contains(&v) || a.doc.0.get(k) == Some(v);
                if !ok {
                    failures.push(format!(
                        "alert {}: {k} is {:?}, expected {v}",
                        i + 1,
                        got.iter().map(|g| g.to_string()).collect::<Vec<_>>()
                    ));
                }
            }
        }
    }
    CaseResult {
        name: case.name.clone(),
        expected: case.expect,
        actual,
        passed: failures.is_empty(),
        failures,
        reasons: alerts
            .iter()
            .filter_map(|a| {
                a.doc
                    .0
                    .get("kibana.alert.reason")
                    .and_then(|v| v.as_str())
                    .map(String::from)
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests;
