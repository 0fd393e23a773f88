//! `tripline query`: ad-hoc hunting with EQL (default), KQL or ES|QL over log files.

use std::io::Write;
use std::sync::Arc;

use anyhow::{anyhow, Result};
use serde_json::{json, Value};
use tripline_doc::{time::format_millis, FieldTypes, SharedEvent};
use tripline_engine::{AlertDraft, Detector, Runner, RunnerConfig};
use tripline_rules::Rule;

use crate::cli::{QueryArgs, QueryFormat, QueryLang};
use crate::pipeline::{self, PipelineOptions};

/// Wraps an EQL matcher as a detector so the runner's event-time ordering applies.
struct EqlQuery {
    rule: Arc<Rule>,
    matcher: tripline_eql::Matcher,
}

fn query_rule() -> Arc<Rule> {
    let mut r = Rule::parse(
        "query",
        "[rule]\nrule_id='query'\nname='query'\ntype='eql'\n",
    )
    .expect("static rule");
    r.max_signals = u64::MAX;
    Arc::new(r)
}

fn draft(rule: &Arc<Rule>, m: tripline_eql::Match) -> AlertDraft {
    let kind = match &m {
        tripline_eql::Match::Event(_) => "event",
        tripline_eql::Match::Sequence(_) => "sequence",
        tripline_eql::Match::Sample(_) => "sample",
    };
    let events = m.events().to_vec();
    let mut d = AlertDraft::for_event(rule, &events[0]);
    d.events = events;
    d.key = Some(kind.to_string());
    d
}

impl Detector for EqlQuery {
    fn rule(&self) -> &Arc<Rule> {
        &self.rule
    }
    fn on_event(&mut self, ev: &SharedEvent, out: &mut Vec<AlertDraft>) {
        for m in self.matcher.push(ev) {
            out.push(draft(&self.rule, m));
        }
    }
    fn finish(&mut self, out: &mut Vec<AlertDraft>) {
        for m in self.matcher.finish() {
            out.push(draft(&self.rule, m));
        }
    }
}

fn row(ev: &SharedEvent) -> Vec<String> {
    let d = &ev.doc;
    vec![
        format_millis(ev.timestamp),
        d.str("event.provider").unwrap_or("-").to_string(),
        d.str("event.action").unwrap_or("-").to_string(),
        tripline_alerts::table::principal(d),
        d.str("source.ip").unwrap_or("-").to_string(),
        d.str("event.outcome").unwrap_or("-").to_string(),
    ]
}

fn print_rows(out: &mut dyn Write, rows: &[Vec<String>], header: &[&str]) -> Result<()> {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count().min(60));
        }
    }
    let fmt = |cells: Vec<String>| -> String {
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let c = tripline_alerts::table::sanitize(c);
                let c: String = if c.chars().count() > 60 {
                    c.chars().take(59).chain(['…']).collect()
                } else {
                    c
                };
                format!("{:<w$}", c, w = widths[i])
            })
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    writeln!(
        out,
        "{}",
        fmt(header.iter().map(|s| s.to_string()).collect())
    )?;
    for r in rows {
        writeln!(out, "{}", fmt(r.clone()))?;
    }
    Ok(())
}

pub fn query(args: QueryArgs) -> Result<i32> {
    let stdout = std::io::stdout();
    let mut out: Box<dyn Write> = Box::new(std::io::BufWriter::new(stdout.lock()));
    let types = FieldTypes::builtin();
    let popts = PipelineOptions {
        keep_original: false,
        threads: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        projection: None,
    };
    let header = [
        "TIME",
        "PROVIDER",
        "ACTION",
        "PRINCIPAL",
        "SOURCE IP",
        "OUTCOME",
    ];
    let mut matches = 0u64;
    let stats = match args.lang {
        QueryLang::Kql => {
            let pred = tripline_kql::compile(&args.query, types)
                .map_err(|e| anyhow!("KQL syntax error {e}"))?;
            let mut rows = Vec::new();
            let stats = pipeline::run(
                &args.input,
                &popts,
                |ev| {
                    if pred.matches(&ev.doc) {
                        matches += 1;
                        match args.format {
                            QueryFormat::Ndjson => {
                                serde_json::to_writer(&mut out, &ev.doc)?;
                                out.write_all(b"\n")?;
                            }
                            QueryFormat::Table => rows.push(row(&Arc::new(ev))),
                        }
                    }
                    Ok(())
                },
                |_, _| {},
            )?;
            if args.format == QueryFormat::Table {
                print_rows(&mut out, &rows, &header)?;
            }
            stats
        }
        QueryLang::Eql => {
            let q =
                tripline_eql::Query::compile(&args.query, types, &tripline_eql::Options::default())
                    .map_err(|e| {
                        let (l, c) = e.line_col(&args.query);
                        anyhow!("EQL syntax error at line {l}, column {c}: {}", e.message)
                    })?;
            let det = EqlQuery {
                rule: query_rule(),
                matcher: q.matcher(),
            };
            let mut runner = Runner::new(vec![Box::new(det)], RunnerConfig::default());
            let mut drafts = Vec::new();
            let stats = pipeline::run(
                &args.input,
                &popts,
                |ev| {
                    runner.push(Arc::new(ev), &mut drafts);
                    Ok(())
                },
                |_, _| {},
            )?;
            runner.finish(&mut drafts);
            let mut rows = Vec::new();
            for d in &drafts {
                matches += 1;
                let kind = d.key.as_deref().unwrap_or("event");
                match args.format {
                    QueryFormat::Ndjson => {
                        let v = if kind == "event" {
                            serde_json::to_value(&d.events[0].doc)?
                        } else {
                            json!({ kind: d.events.iter().map(|e| serde_json::to_value(&e.doc).unwrap_or(Value::Null)).collect::<Vec<_>>() })
                        };
                        serde_json::to_writer(&mut out, &v)?;
                        out.write_all(b"\n")?;
                    }
                    QueryFormat::Table => {
                        for (i, e) in d.events.iter().enumerate() {
                            let mut r = row(e);
                            if kind != "event" {
                                r[0] = format!(
                                    "{}{} {}",
                                    if i == 0 { "#" } else { " " },
                                    matches,
                                    r[0]
                                );
                            }
                            rows.push(r);
                        }
                    }
                }
            }
            if args.format == QueryFormat::Table {
                print_rows(&mut out, &rows, &header)?;
            }
            stats
        }
        QueryLang::Esql => {
            let q = tripline_esql::Query::parse_with(
                &args.query,
                &tripline_esql::ParseOptions {
                    types,
                    allow_any_index: false,
                },
            )
            .map_err(|e| anyhow!("ES|QL error at {e}"))?;
            let mut events: Vec<SharedEvent> = Vec::new();
            let stats = pipeline::run(
                &args.input,
                &popts,
                |ev| {
                    if q.prefilter(&ev) {
                        events.push(Arc::new(ev));
                    }
                    Ok(())
                },
                |_, _| {},
            )?;
            events.sort_by_key(|e| (e.timestamp, e.seq));
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as i64)
                .unwrap_or(0);
            let enrich = pipeline::geoip(&args.input)?.map(crate::enrich::source);
            let table = q
                .execute(
                    &events,
                    &tripline_esql::ExecContext::at(now).with_enrich(enrich),
                )
                .map_err(|e| anyhow!("ES|QL error at {e}"))?;
            matches = table.rows.len() as u64;
            match args.format {
                QueryFormat::Ndjson => out.write_all(table.to_ndjson().as_bytes())?,
                QueryFormat::Table => {
                    let header: Vec<&str> = table.columns.iter().map(|c| c.name.as_str()).collect();
                    let rows: Vec<Vec<String>> = (0..table.rows.len())
                        .map(|i| {
                            let obj = table.row_object(i);
                            table
                                .columns
                                .iter()
                                .map(|c| match obj.get(&c.name) {
                                    None => "null".to_string(),
                                    Some(Value::String(s)) => s.clone(),
                                    Some(v) => v.to_string(),
                                })
                                .collect()
                        })
                        .collect();
                    print_rows(&mut out, &rows, &header)?;
                }
            }
            stats
        }
    };
    out.flush()?;
    if !args.quiet {
        let mut err = std::io::stderr();
        writeln!(
            err,
            "{matches} matches; files: {}, records: {}, records skipped: {}",
            stats.files, stats.records, stats.skipped
        )?;
        for e in stats.first_errors.iter().take(10) {
            writeln!(err, "  {e}")?;
        }
    }
    Ok(
        if stats.records == 0 && (stats.skipped > 0 || stats.files == 0) {
            2
        } else {
            0
        },
    )
}
