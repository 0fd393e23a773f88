//! `tripline lineage` and `tripline coverage`: the analyst's views of the session-lineage
//! analytic's graph and of what the trail can prove.

use std::io::Write;
use std::sync::Arc;

use anyhow::Result;
use tripline_doc::SharedEvent;
use tripline_lineage::{CoverageBuilder, LineageBuilder, Settings, ViewFilter};

use crate::cli::{CoverageArgs, InputArgs, LineageArgs, ViewFormat};
use crate::pipeline::{self, PipelineOptions, ReadStats};

/// Lineage settings as the built-in analytic rules configure them (exclusions, MFA policy).
pub fn settings() -> Result<Settings> {
    for (name, text) in tripline_rulepack::builtin_rules() {
        if let Ok(rule) = tripline_rules::Rule::parse(name, text) {
            if rule.rule_type == tripline_rules::RuleType::Analytic {
                return Settings::from_rule_raw(&rule.raw)
                    .map_err(|e| anyhow::anyhow!("built-in rule {name}: {e}"));
            }
        }
    }
    Ok(Settings::default())
}

/// Reads every event and returns them in event-time order (the builders need time order).
fn read_sorted(input: &InputArgs) -> Result<(Vec<SharedEvent>, ReadStats)> {
    let popts = PipelineOptions {
        keep_original: false,
        threads: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        projection: None,
    };
    let mut events = Vec::new();
    let stats = pipeline::run(
        input,
        &popts,
        |ev| {
            events.push(Arc::new(ev));
            Ok(())
        },
        |_, _| {},
    )?;
    events.sort_by_key(|e| (e.timestamp, e.seq));
    Ok((events, stats))
}

fn output(path: &Option<std::path::PathBuf>) -> Result<Box<dyn Write>> {
    Ok(match path {
        Some(p) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(p)
                .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", p.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    })
}

fn report_stats(stats: &ReadStats) {
    eprintln!(
        "files: {}, records: {}, records skipped: {}",
        stats.files, stats.records, stats.skipped
    );
    for e in stats.first_errors.iter().take(10) {
        eprintln!("  {e}");
    }
}

fn code(stats: &ReadStats) -> i32 {
    if stats.records == 0 && (stats.skipped > 0 || stats.files == 0) {
        2
    } else {
        0
    }
}

pub fn lineage(args: LineageArgs) -> Result<i32> {
    let (events, stats) = read_sorted(&args.input)?;
    let mut b = LineageBuilder::new(
        settings()?,
        ViewFilter {
            principal: args.principal.clone(),
            key: args.key.clone(),
        },
    );
    for ev in &events {
        b.push(ev);
    }
    let view = b.finish();
    let mut out = output(&args.output)?;
    let text = match args.format {
        ViewFormat::Table => view.render_table(),
        ViewFormat::Ndjson => view.to_ndjson(),
        ViewFormat::Html => view.render_html(),
    };
    out.write_all(text.as_bytes())?;
    out.flush()?;
    report_stats(&stats);
    Ok(code(&stats))
}

pub fn coverage(args: CoverageArgs) -> Result<i32> {
    let (events, stats) = read_sorted(&args.input)?;
    let mut b = CoverageBuilder::new(settings()?);
    for ev in &events {
        b.push(ev);
    }
    let report = b.finish();
    let mut out = output(&args.output)?;
    let text = match args.format {
        ViewFormat::Table => report.render_table(),
        ViewFormat::Ndjson => report.to_ndjson(),
        ViewFormat::Html => report.render_html(),
    };
    out.write_all(text.as_bytes())?;
    out.flush()?;
    report_stats(&stats);
    Ok(code(&stats))
}
