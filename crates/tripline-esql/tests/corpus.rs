//! Every ES|QL query in Elastic's detection-rules corpus (the `esql` rules under
//! `rules/integrations/` and the ES|QL hunting queries) must parse and verify. Read at run
//! time from `../shared/corpus/detection-rules`; the test passes (skips) when it is absent.

use std::path::{Path, PathBuf};

use tripline_esql::{ErrorKind, ParseOptions, Query};

fn corpus() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/detection-rules");
    p.is_dir().then_some(p)
}

fn toml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            toml_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "toml") {
            out.push(p);
        }
    }
}

/// (file, query) for every ES|QL query in the corpus.
fn queries(root: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut files = Vec::new();
    toml_files(&root.join("rules/integrations"), &mut files);
    for f in &files {
        let Ok(text) = std::fs::read_to_string(f) else {
            continue;
        };
        let Ok(v) = text.parse::<toml::Table>() else {
            continue;
        };
        let Some(rule) = v.get("rule") else { continue };
        if rule.get("type").and_then(|t| t.as_str()) == Some("esql") {
            if let Some(q) = rule.get("query").and_then(|q| q.as_str()) {
                out.push((f.display().to_string(), q.to_string()));
            }
        }
    }
    let mut hunts = Vec::new();
    toml_files(&root.join("hunting"), &mut hunts);
    for f in &hunts {
        let Ok(text) = std::fs::read_to_string(f) else {
            continue;
        };
        let Ok(v) = text.parse::<toml::Table>() else {
            continue;
        };
        let Some(h) = v.get("hunt") else { continue };
        let esql = h
            .get("language")
            .and_then(|l| l.as_array())
            .is_some_and(|l| l.iter().any(|x| x.as_str() == Some("ES|QL")));
        if !esql {
            continue;
        }
        for (i, q) in h
            .get("query")
            .and_then(|q| q.as_array())
            .into_iter()
            .flatten()
            .enumerate()
        {
            if let Some(q) = q.as_str() {
                out.push((format!("{}#{i}", f.display()), q.to_string()));
            }
        }
    }
    out
}

/// Corpus queries that are not valid ES|QL (Elasticsearch's own grammar rejects them too),
/// with the reason; they must fail to parse here.
const INVALID_IN_CORPUS: &[(&str, &str)] = &[
    (
        "servicequotas_discovery_multi_region_get_service_quota_calls.toml#0",
        "`=` used as a comparison (ES|QL's equality is `==`)",
    ),
    (
        "aks_kubelet_proxy_command_execution_from_external_source.toml#0",
        "`\\?` is not a valid escape in a quoted string",
    ),
    (
        "entra_authentication_attempts_behind_rare_user_agents.toml#0",
        "dangling `or` before `)`",
    ),
    (
        "credential_access_rapid_reset_password_requests_for_different_users.toml#0",
        "STATS output `reset_counts =` without an expression",
    ),
];

#[test]
fn every_corpus_query_parses_and_verifies() {
    let Some(root) = corpus() else {
        eprintln!("corpus absent: skipped");
        return;
    };
    let qs = queries(&root);
    assert!(
        qs.len() >= 100,
        "expected the corpus's ES|QL rules and hunts, found {}",
        qs.len()
    );
    let opts = ParseOptions {
        allow_any_index: true,
        ..Default::default()
    };
    let mut failures = Vec::new();
    let mut invalid_seen = 0;
    for (file, q) in &qs {
        let known_invalid = INVALID_IN_CORPUS.iter().find(|(f, _)| file.ends_with(f));
        match (Query::parse_with(q, &opts), known_invalid) {
            (Ok(_), None) => {}
            (Err(e), None) => failures.push(format!("{file}: {e}")),
            (Ok(_), Some((_, why))) => {
                failures.push(format!("{file}: parsed although it is invalid ({why})"))
            }
            (Err(e), Some(_)) => {
                assert!(
                    matches!(e.kind, ErrorKind::Syntax | ErrorKind::Verification),
                    "{file}: {e}"
                );
                invalid_seen += 1;
            }
        }
    }
    assert_eq!(invalid_seen, INVALID_IN_CORPUS.len());
    eprintln!("{} ES|QL queries, {} failed", qs.len(), failures.len());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// With dataset selection (and alerts as an index), every corpus query's FROM selects data
/// Tripline can hold: none fails with an unknown index.
#[test]
fn every_corpus_index_pattern_is_served() {
    let Some(root) = corpus() else { return };
    let mut served = 0;
    for (file, q) in queries(&root) {
        if INVALID_IN_CORPUS.iter().any(|(f, _)| file.ends_with(f)) {
            continue;
        }
        match Query::parse(&q) {
            Ok(_) => served += 1,
            Err(e) => panic!("{file}: {e}"),
        }
    }
    eprintln!("{served} queries select data Tripline serves");
    assert!(served >= 100);
}
