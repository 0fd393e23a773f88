//! Loading rule sets (`--rules PATH|builtin`), compiling them, and `tripline rules check`.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::Result;
use tripline_engine::{compile_rule, CompileContext, Detector};
use tripline_rules::{collect_rule_files, Rule, RuleType};

use crate::cli::RulesCheckArgs;

/// A rule that could not be loaded or compiled, with the reason.
pub struct Failure {
    pub path: String,
    pub rule_type: Option<RuleType>,
    pub name: Option<String>,
    pub reason: String,
}

pub struct Loaded {
    pub detectors: Vec<Box<dyn Detector>>,
    pub failures: Vec<Failure>,
    pub warnings: Vec<(String, String)>,
    /// Rules compiled, by type.
    pub ok_by_type: BTreeMap<String, usize>,
}

/// The compile context every command uses: the field-type table, the built-in analytics,
/// and the fields the normalizer produces (for unknown-field warnings).
pub fn compile_context() -> CompileContext {
    let mut ctx = CompileContext::default();
    tripline_lineage::register(&mut ctx);
    ctx.known_fields = Arc::new(tripline_normalize::known_fields().clone());
    ctx
}

/// Loads and merges local exceptions files.
pub fn load_exceptions(
    paths: &[std::path::PathBuf],
) -> Result<Option<tripline_engine::exceptions::ExceptionSet>> {
    if paths.is_empty() {
        return Ok(None);
    }
    let mut set = tripline_engine::exceptions::ExceptionSet::default();
    for p in paths {
        set.extend(
            tripline_engine::exceptions::load_exceptions_file(p)
                .map_err(|e| anyhow::anyhow!("{e}"))?,
        );
    }
    Ok(Some(set))
}

/// Rule texts named by `--rules` values: `builtin` or a file/folder.
pub fn rule_sources(specs: &[String]) -> Result<Vec<(String, Result<String, String>)>> {
    let mut out = Vec::new();
    for spec in specs {
        if spec == "builtin" {
            for (name, text) in builtin_rules() {
                out.push((format!("builtin:{name}"), Ok(text.to_string())));
            }
            continue;
        }
        let files = collect_rule_files(Path::new(spec)).map_err(|e| anyhow::anyhow!("{e}"))?;
        for f in files {
            let text = std::fs::read_to_string(&f).map_err(|e| format!("cannot read: {e}"));
            out.push((f.display().to_string(), text));
        }
    }
    Ok(out)
}

/// Tripline's embedded rule pack.
pub fn builtin_rules() -> Vec<(&'static str, &'static str)> {
    tripline_rulepack::builtin_rules()
}

/// `tripline rules test [PATH]`: runs each rule's test cases (positive and near-miss records)
/// through the real pipeline; with no path, the built-in pack's.
pub fn test(args: crate::cli::RulesTestArgs) -> Result<i32> {
    let opts = tripline_rulepack::TestOptions {
        require_tests: args.require_tests,
    };
    let builtin = args.paths.is_empty() || args.paths.iter().any(|p| p == "builtin");
    let paths: Vec<std::path::PathBuf> = args
        .paths
        .iter()
        .filter(|p| *p != "builtin")
        .map(std::path::PathBuf::from)
        .collect();
    let mut ok = true;
    if builtin {
        let report = tripline_rulepack::run_builtin_tests(&opts);
        print!("{}", report.render_text());
        ok &= report.passed(&opts);
    }
    if !paths.is_empty() {
        let report = tripline_rulepack::run_rule_tests(&paths, &opts);
        print!("{}", report.render_text());
        ok &= report.passed(&opts);
    }
    Ok(if ok { 0 } else { 1 })
}

/// Loads and compiles rules.
pub fn load(specs: &[String], ctx: &CompileContext) -> Result<Loaded> {
    let mut loaded = Loaded {
        detectors: Vec::new(),
        failures: Vec::new(),
        warnings: Vec::new(),
        ok_by_type: BTreeMap::new(),
    };
    for (path, text) in rule_sources(specs)? {
        let text = match text {
            Ok(t) => t,
            Err(reason) => {
                loaded.failures.push(Failure {
                    path,
                    rule_type: None,
                    name: None,
                    reason,
                });
                continue;
            }
        };
        let rule = match Rule::parse(&path, &text) {
            Ok(r) => Arc::new(r),
            Err(e) => {
                let reason = e.to_string();
                let reason = reason
                    .strip_prefix(&format!("{path}: "))
                    .unwrap_or(&reason)
                    .to_string();
                loaded.failures.push(Failure {
                    path,
                    rule_type: None,
                    name: None,
                    reason,
                });
                continue;
            }
        };
        match compile_rule(&rule, ctx) {
            Ok(det) => {
                for w in det.warnings() {
                    loaded.warnings.push((rule.name.clone(), w));
                }
                *loaded
                    .ok_by_type
                    .entry(rule.rule_type.to_string())
                    .or_default() += 1;
                loaded.detectors.push(det);
            }
            Err(e) => loaded.failures.push(Failure {
                path,
                rule_type: Some(rule.rule_type),
                name: Some(rule.name.clone()),
                reason: e.to_string(),
            }),
        }
    }
    Ok(loaded)
}

pub fn check(args: RulesCheckArgs) -> Result<i32> {
    let ctx = compile_context();
    let mut loaded = load(&args.paths, &ctx)?;
    let mut exception_errors = 0;
    for p in &args.exceptions {
        match tripline_engine::exceptions::load_exceptions_file(p) {
            Ok(set) => {
                let known: std::collections::HashSet<&str> = loaded
                    .detectors
                    .iter()
                    .map(|d| d.rule().rule_id.as_str())
                    .collect();
                let unknown: Vec<String> = set
                    .rule_ids()
                    .filter(|id| *id != "*" && !known.contains(id))
                    .map(String::from)
                    .collect();
                println!("ok      exceptions {} ({} items)", p.display(), set.len());
                for id in unknown {
                    loaded.warnings.push((
                        p.display().to_string(),
                        format!("exceptions for rule id {id}, which no loaded rule has"),
                    ));
                    println!("  warning: exceptions for rule id {id}, which no loaded rule has");
                }
            }
            Err(e) => {
                exception_errors += 1;
                println!("FAILED  exceptions {e}");
            }
        }
    }
    let mut warn_by_rule: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (r, w) in &loaded.warnings {
        warn_by_rule.entry(r.as_str()).or_default().push(w.as_str());
    }
    if !args.quiet {
        for d in &loaded.detectors {
            let r = d.rule();
            println!(
                "ok      {:<10} {}  ({})",
                r.rule_type.as_str(),
                r.name,
                r.path
            );
            for w in warn_by_rule.get(r.name.as_str()).into_iter().flatten() {
                println!("  warning: {w}");
            }
        }
    } else {
        for (r, ws) in &warn_by_rule {
            for w in ws {
                println!("warning {r}: {w}");
            }
        }
    }
    for f in &loaded.failures {
        let t = f
            .rule_type
            .map(|t| t.to_string())
            .unwrap_or_else(|| "-".into());
        let name = f.name.clone().unwrap_or_default();
        println!("FAILED  {:<10} {}  ({}): {}", t, name, f.path, f.reason);
    }
    let mut failed_by_type: BTreeMap<String, usize> = BTreeMap::new();
    for f in &loaded.failures {
        *failed_by_type
            .entry(
                f.rule_type
                    .map(|t| t.to_string())
                    .unwrap_or_else(|| "unparsed".into()),
            )
            .or_default() += 1;
    }
    let mut types: Vec<&String> = loaded
        .ok_by_type
        .keys()
        .chain(failed_by_type.keys())
        .collect();
    types.sort();
    types.dedup();
    let per_type: Vec<String> = types
        .iter()
        .map(|t| {
            format!(
                "{t}: {} ok, {} failed",
                loaded.ok_by_type.get(*t).unwrap_or(&0),
                failed_by_type.get(*t).unwrap_or(&0)
            )
        })
        .collect();
    let ok: usize = loaded.ok_by_type.values().sum();
    println!(
        "{} rules: {} ok, {} failed, {} warnings ({})",
        ok + loaded.failures.len(),
        ok,
        loaded.failures.len(),
        loaded.warnings.len(),
        per_type.join("; ")
    );
    Ok(if loaded.failures.is_empty() && exception_errors == 0 {
        0
    } else {
        1
    })
}
