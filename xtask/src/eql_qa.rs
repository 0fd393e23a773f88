//! Elasticsearch's EQL QA suite (`elastic-eql-qa` corpus): the endgame test events loaded the
//! way ES's `DataLoader` does, every `test_queries.toml` case that ES ran (those not listed in
//! `test_queries_unsupported.toml`) evaluated in its case modes, ids compared as exact ordered
//! lists. Listed-unsupported cases are reported as skipped.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use serde_json::Value;
use tripline_doc::{Document, Event, FieldType, FieldTypes, Origin, SharedEvent};
use tripline_eql::{Options, Query};

use crate::suite::Suite;

/// FILETIME (100 ns ticks since 1601) → Unix epoch ms, as the ES loader computes `@timestamp`.
fn filetime_to_millis(ft: i64) -> i64 {
    ft / 10_000 - 11_644_473_600_000
}

/// The index mapping the README describes; other fields are dynamically mapped (numbers as
/// long, strings as text with an exact `keyword` sub-field, which EQL queries use).
fn field_types(docs: &[Value]) -> FieldTypes {
    let mut t = FieldTypes::default();
    for d in docs {
        if let Some(m) = d.as_object() {
            for (k, v) in m {
                let ty = match v {
                    Value::Number(n) if n.is_i64() || n.is_u64() => FieldType::Long,
                    Value::Number(_) => FieldType::Double,
                    Value::Bool(_) => FieldType::Boolean,
                    _ => FieldType::Keyword,
                };
                if t.get(k).is_none() {
                    t.insert(k, ty);
                }
            }
        }
    }
    for k in ["pid", "ppid", "opcode", "serial_event_id", "exit_code"] {
        t.insert(k, FieldType::Long);
    }
    t.insert("source_address", FieldType::Ip);
    t.insert("@timestamp", FieldType::Date);
    t
}

fn load_events(path: &Path) -> Result<(Vec<SharedEvent>, FieldTypes)> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let docs: Vec<Value> = serde_json::from_str(&text).context("parsing test_data.json")?;
    let types = field_types(&docs);
    let file: Arc<str> = "test_data.json".into();
    let mut evs = Vec::new();
    for (i, d) in docs.into_iter().enumerate() {
        let Value::Object(m) = d else { continue };
        let ts = m
            .get("timestamp")
            .and_then(|v| v.as_i64())
            .map(filetime_to_millis)
            .unwrap_or(0);
        let mut doc = Document(m);
        doc.set("@timestamp", Value::from(ts));
        evs.push(Event {
            doc,
            timestamp: ts,
            origin: Origin {
                file: file.clone(),
                record: i as u64 + 1,
                line: None,
            },
            seq: 0,
        });
    }
    // Order by @timestamp, then the tiebreaker serial_event_id.
    evs.sort_by_key(|e| {
        (
            e.timestamp,
            e.doc
                .first("serial_event_id")
                .and_then(|v| v.as_i64())
                .unwrap_or(0),
        )
    });
    let evs = evs
        .into_iter()
        .enumerate()
        .map(|(i, mut e)| {
            e.seq = i as u64;
            Arc::new(e)
        })
        .collect();
    Ok((evs, types))
}

struct Case {
    name: String,
    query: String,
    expected: Vec<i64>,
    cs: Option<bool>,
    ci: Option<bool>,
}

fn load_cases(path: &Path) -> Result<Vec<Case>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let t: toml::Table =
        toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    let mut out = Vec::new();
    for q in t
        .get("queries")
        .and_then(|v| v.as_array())
        .into_iter()
        .flatten()
    {
        let Some(query) = q.get("query").and_then(|v| v.as_str()) else {
            continue;
        };
        out.push(Case {
            name: q
                .get("name")
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_string(),
            query: query.trim().to_string(),
            expected: q
                .get("expected_event_ids")
                .and_then(|v| v.as_array())
                .map(|a| a.iter().filter_map(|x| x.as_integer()).collect())
                .unwrap_or_default(),
            cs: q.get("case_sensitive").and_then(|v| v.as_bool()),
            ci: q.get("case_insensitive").and_then(|v| v.as_bool()),
        });
    }
    Ok(out)
}

fn run_case(
    q: &str,
    ci: bool,
    events: &[SharedEvent],
    types: &FieldTypes,
) -> Result<Vec<i64>, String> {
    let opts = Options {
        case_insensitive_default: ci,
        category_field: "event_type".into(),
        ..Options::default()
    };
    let query =
        Query::compile(q, types, &opts).map_err(|e| format!("compile error: {}", e.message))?;
    let mut m = query.matcher();
    let mut ids = Vec::new();
    let mut take = |ms: Vec<tripline_eql::Match>| {
        for x in ms {
            for e in x.events() {
                ids.push(
                    e.doc
                        .first("serial_event_id")
                        .and_then(|v| v.as_i64())
                        .unwrap_or(-1),
                );
            }
        }
    };
    for e in events {
        take(m.push(e));
    }
    take(m.finish());
    Ok(ids)
}

pub fn run(corpus: &Path) -> Result<Suite> {
    let dir = corpus.join("elastic-eql-qa");
    let mut s = Suite::new("eql-qa");
    let (events, types) = load_events(&dir.join("test_data.json"))?;
    let cases = load_cases(&dir.join("test_queries.toml"))?;
    let unsupported: HashSet<(String, Option<bool>, Option<bool>)> =
        load_cases(&dir.join("test_queries_unsupported.toml"))?
            .into_iter()
            .map(|c| (c.query, c.cs, c.ci))
            .collect();
    let mut by_kind: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    let (mut skipped_pass, mut skipped_fail) = (0usize, Vec::new());
    for c in &cases {
        let modes: Vec<bool> = match (c.cs == Some(true), c.ci == Some(true)) {
            (true, false) => vec![false],
            (false, true) => vec![true],
            _ => vec![false, true],
        };
        if unsupported.contains(&(c.query.clone(), c.cs, c.ci)) {
            s.skipped += 1;
            // Informational only: how many of the cases ES skipped Tripline gets right anyway.
            if modes.iter().all(|ci| {
                run_case(&c.query, *ci, &events, &types).is_ok_and(|ids| ids == c.expected)
            }) {
                skipped_pass += 1;
            } else {
                skipped_fail.push(c.name.clone());
            }
            continue;
        }
        let kind = if c.query.starts_with("sequence") {
            "sequence"
        } else if c.query.starts_with("sample") {
            "sample"
        } else {
            "event"
        };
        let mut fail = None;
        for ci in modes {
            let mode = if ci {
                "case-insensitive"
            } else {
                "case-sensitive"
            };
            match run_case(&c.query, ci, &events, &types) {
                Ok(ids) if ids == c.expected => {}
                Ok(ids) => {
                    fail = Some((
                        format!("{kind} query: wrong ids ({mode})"),
                        format!(
                            "{}: expected {:?}, got {:?} — {}",
                            c.name,
                            c.expected,
                            ids,
                            c.query.replace('\n', " ")
                        ),
                    ));
                    break;
                }
                Err(e) => {
                    fail = Some((
                        e.chars().take(80).collect(),
                        format!("{} ({mode}): {}", c.name, c.query.replace('\n', " ")),
                    ));
                    break;
                }
            }
        }
        let entry = by_kind.entry(kind).or_default();
        match fail {
            None => {
                s.pass();
                entry.0 += 1;
            }
            Some((cause, detail)) => {
                s.fail(cause, detail);
                entry.1 += 1;
            }
        }
    }
    for (k, (p, f)) in by_kind {
        s.notes.push(format!("{k} queries: {p} passed, {f} failed"));
    }
    s.notes.push(format!(
        "{} cases listed in test_queries_unsupported.toml are skipped, as ES skipped them ({} of those pass anyway; e.g. failing: {})",
        s.skipped,
        skipped_pass,
        skipped_fail.iter().take(12).cloned().collect::<Vec<_>>().join(", ")
    ));
    Ok(s)
}
