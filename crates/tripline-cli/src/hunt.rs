//! `tripline hunt` and `tripline normalize`.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use tripline_alerts::{severity_rank, Alert};
use tripline_engine::store::{StateStore, StoredAlert};
use tripline_engine::{AlertDraft, Runner, RunnerConfig};

use crate::cli::{AlertFormat, HuntArgs, NormalizeArgs};
use crate::pipeline::{self, PipelineOptions, ReadStats};

fn threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

fn output(path: &Option<std::path::PathBuf>) -> Result<Box<dyn Write>> {
    Ok(match path {
        Some(p) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("cannot create {}", p.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    })
}

fn progress_bar(quiet: bool) -> Option<indicatif::ProgressBar> {
    if quiet || !std::io::stderr().is_terminal() {
        return None;
    }
    let pb = indicatif::ProgressBar::new_spinner();
    pb.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {elapsed} {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    pb.enable_steady_tick(std::time::Duration::from_millis(200));
    Some(pb)
}

fn print_read_summary(stats: &ReadStats, w: &mut dyn Write) -> std::io::Result<()> {
    writeln!(
        w,
        "files: {}{}, records: {}, records skipped: {}",
        stats.files,
        if stats.digest_files > 0 {
            format!(" ({} CloudTrail-Digest files skipped)", stats.digest_files)
        } else {
            String::new()
        },
        stats.records,
        stats.skipped
    )?;
    for (reason, n) in &stats.skipped_by_reason {
        writeln!(w, "  skipped {n}: {reason}")?;
    }
    for e in stats.first_errors.iter().take(10) {
        writeln!(w, "  {e}")?;
    }
    if stats.first_errors.len() > 10 || stats.skipped as usize > stats.first_errors.len() {
        writeln!(w, "  ... ({} skipped in all)", stats.skipped)?;
    }
    Ok(())
}

/// An alert an earlier run committed to the state store but never wrote out (it was killed
/// in between), rebuilt from its stored document.
fn replayed(a: StoredAlert, runner: &Runner) -> Alert {
    let rule = runner
        .detectors()
        .map(|d| d.rule())
        .find(|r| r.rule_id == a.rule_id);
    let doc = match a.doc {
        serde_json::Value::Object(m) => tripline_doc::Document(m),
        _ => tripline_doc::Document::new(),
    };
    let text = |k: &str| doc.0.get(k).and_then(|v| v.as_str()).map(String::from);
    Alert {
        uuid: a.uuid,
        severity: text("kibana.alert.severity")
            .or_else(|| rule.map(|r| r.severity.clone()))
            .unwrap_or_default(),
        risk_score: doc
            .0
            .get("kibana.alert.risk_score")
            .and_then(|v| v.as_i64())
            .or_else(|| rule.map(|r| r.risk_score))
            .unwrap_or(0),
        rule_name: text("kibana.alert.rule.name")
            .or_else(|| rule.map(|r| r.name.clone()))
            .unwrap_or_default(),
        rule_id: a.rule_id,
        timestamp: a.timestamp,
        investigation_fields: rule
            .map(|r| r.investigation_fields.clone())
            .unwrap_or_default(),
        doc,
    }
}

/// Exit status: 2 when nothing at all could be read, else 0.
fn exit_code(stats: &ReadStats) -> i32 {
    if stats.records == 0 && (stats.skipped > 0 || stats.files == 0) {
        2
    } else {
        0
    }
}

pub fn hunt(args: HuntArgs) -> Result<i32> {
    let started = Instant::now();
    let specs = if args.rules.is_empty() {
        vec!["builtin".to_string()]
    } else {
        args.rules.clone()
    };
    let mut ctx = crate::rulesets::compile_context();
    ctx.no_warmup = args.no_warmup;
    ctx.max_sequence_states = args.max_sequence_states;
    ctx.enrich = crate::pipeline::geoip(&args.input)?.map(crate::enrich::source);
    let mut loaded = crate::rulesets::load(&specs, &ctx)?;
    if let Some(set) = crate::rulesets::load_exceptions(&args.exceptions)? {
        loaded.detectors = set.apply(loaded.detectors);
    }
    let mut err = std::io::stderr();
    if !args.quiet {
        for f in &loaded.failures {
            writeln!(err, "tripline: rule skipped: {}: {}", f.path, f.reason)?;
        }
    }
    let n_rules = loaded.detectors.len();
    let reorder =
        tripline_doc::time::parse_duration_millis(&args.reorder_window).ok_or_else(|| {
            anyhow::anyhow!(
                "--reorder-window {:?}: expected a duration like 20m, 1h, 90s",
                args.reorder_window
            )
        })?;
    let mut detectors = loaded.detectors;
    // The HTML report has a trail-coverage section; the runner feeds it in event-time order.
    let mut coverage = if args.format == AlertFormat::Html {
        let shared = Arc::new(std::sync::Mutex::new(
            tripline_lineage::CoverageBuilder::new(crate::views::settings()?),
        ));
        detectors.push(Box::new(CoverageFeed::new(shared.clone())));
        Some(shared)
    } else {
        None
    };
    let mut runner = Runner::new(
        detectors,
        RunnerConfig {
            reorder_window_ms: reorder,
            ..Default::default()
        },
    );
    let (projection, hydrator) =
        crate::projection::prepare(&mut runner, &args.input, !args.no_projection, args.quiet)?;
    // State first: restoring must happen before the first event is pushed.
    let mut state = match &args.state {
        Some(p) => {
            let mut st = StateStore::open(p).map_err(|e| anyhow::anyhow!("{e}"))?;
            let mut resume = st
                .restore(&mut runner)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            if let Some(n) = args.checkpoint_every {
                resume.every_events = n.max(1);
            }
            if !args.quiet {
                for (rule, why) in &resume.reset_rules {
                    writeln!(err, "tripline: state of rule {rule} not restored: {why}")?;
                }
            }
            Some((st, resume))
        }
        None => None,
    };
    let mut store = match &args.store {
        Some(p) => Some(tripline_alerts::store::AlertStore::open(p)?),
        None => None,
    };
    let mut out = output(&args.output)?;
    let mut alerts: Vec<Alert> = Vec::new();
    // Alerts built but not yet written: with --state they are written only after the
    // checkpoint that records them commits (so a restarted run never builds them again), and
    // recorded as written in the store right before the write (so a run killed in between
    // writes them first thing on restart). See `StateStore::mark_written`.
    let mut pending: Vec<Alert> = Vec::new();
    let mut drafts: Vec<AlertDraft> = Vec::new();
    let streaming = args.format == AlertFormat::Ndjson;
    let pb = progress_bar(args.quiet);
    // Streams `pending` (NDJSON) and moves it to `alerts`. With a state store the batch is
    // serialized first, then recorded as written, then written in one piece and flushed: after
    // the record there is nothing but the write.
    let flush = |pending: &mut Vec<Alert>,
                 out: &mut Box<dyn Write>,
                 alerts: &mut Vec<Alert>,
                 st: Option<&mut StateStore>|
     -> Result<()> {
        if streaming && !pending.is_empty() {
            let mut buf = Vec::new();
            for a in pending.iter() {
                tripline_alerts::write_ndjson(&mut buf, a)?;
            }
            let durable = st.is_some();
            if let Some(st) = st {
                st.mark_written().map_err(|e| anyhow::anyhow!("{e}"))?;
            }
            out.write_all(&buf)?;
            if durable {
                out.flush()?;
            }
        }
        alerts.append(pending);
        Ok(())
    };
    if let Some((st, _)) = state.as_mut() {
        // Alerts an earlier run committed but was killed before writing.
        let replay = st.unwritten_alerts().map_err(|e| anyhow::anyhow!("{e}"))?;
        pending.extend(replay.into_iter().map(|a| replayed(a, &runner)));
        // Table and HTML: written (and recorded) with the report at the end.
        flush(&mut pending, &mut out, &mut alerts, Some(st))?;
    }
    let stored = |pending: &[Alert]| -> Vec<StoredAlert> {
        pending
            .iter()
            .map(|a| {
                StoredAlert::new(
                    a.uuid.clone(),
                    a.rule_id.clone(),
                    a.timestamp,
                    a.doc.clone().into_value(),
                )
            })
            .collect()
    };
    let popts = PipelineOptions {
        keep_original: false,
        threads: threads(),
        projection,
    };
    let stats = pipeline::run(
        &args.input,
        &popts,
        |ev| {
            if let Some((_, resume)) = state.as_mut() {
                if resume.skip(&ev.origin) {
                    return Ok(());
                }
            }
            runner.push(Arc::new(ev), &mut drafts);
            pending.extend(drafts.drain(..).map(|d| hydrator.alert(&d)));
            match state.as_mut() {
                Some((st, resume)) => {
                    if resume.due() {
                        st.checkpoint(&runner, resume, &stored(&pending))
                            .map_err(|e| anyhow::anyhow!("{e}"))?;
                        flush(&mut pending, &mut out, &mut alerts, Some(st))?;
                    }
                }
                None => flush(&mut pending, &mut out, &mut alerts, None)?,
            }
            Ok(())
        },
        |files, records| {
            if let Some(pb) = &pb {
                let secs = started.elapsed().as_secs_f64().max(0.001);
                pb.set_message(format!(
                    "files {files}, records {records} ({:.0} records/s)",
                    records as f64 / secs
                ));
            }
        },
    )?;
    let summary = runner.finish(&mut drafts);
    pending.extend(drafts.drain(..).map(|d| hydrator.alert(&d)));
    match state.as_mut() {
        Some((st, resume)) => {
            st.complete(&runner, resume, &stored(&pending))
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            flush(&mut pending, &mut out, &mut alerts, Some(st))?;
        }
        None => flush(&mut pending, &mut out, &mut alerts, None)?,
    }
    if let Some(pb) = pb {
        pb.finish_and_clear();
    }
    let visible: Vec<Alert> = alerts
        .iter()
        .filter(|a| !a.doc.0.contains_key("kibana.alert.building_block_type"))
        .cloned()
        .collect();
    let report = match args.format {
        AlertFormat::Ndjson => None,
        AlertFormat::Table => {
            let mut sorted = visible.clone();
            sorted.sort_by(|a, b| {
                a.timestamp
                    .cmp(&b.timestamp)
                    .then(severity_rank(&a.severity).cmp(&severity_rank(&b.severity)))
            });
            Some(if sorted.is_empty() {
                "No alerts.\n".to_string()
            } else {
                tripline_alerts::table::render_table(&sorted)
            })
        }
        AlertFormat::Html => {
            let lines = summary_lines(&stats, &summary, &visible, n_rules, started);
            let mut sections = Vec::new();
            if let Some(c) = coverage.take() {
                // The runner still holds the feed; take the builder out through the lock.
                let builder = c.lock().ok().map(|mut g| std::mem::take(&mut *g));
                if let Some(b) = builder {
                    sections.push(tripline_alerts::html::Section {
                        title: "Trail coverage".into(),
                        html: b.finish().html_section(),
                    });
                }
            }
            Some(tripline_alerts::html::render_report(
                "Tripline hunt report",
                &lines,
                &visible,
                &sections,
            ))
        }
    };
    if let Some(report) = report {
        if let Some((st, _)) = state.as_mut() {
            // The report carries every alert of this run, replayed ones included.
            st.mark_written().map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        out.write_all(report.as_bytes())?;
    }
    out.flush()?;
    if let Some(store) = store.as_mut() {
        store.insert(&alerts)?;
    }
    if !args.quiet {
        writeln!(err, "--- tripline hunt summary")?;
        print_read_summary(&stats, &mut err)?;
        for l in summary_lines(&stats, &summary, &visible, n_rules, started)
            .iter()
            .skip(1)
        {
            writeln!(err, "{l}")?;
        }
        if let Some((_, resume)) = &state {
            if resume.skipped > 0 {
                writeln!(
                    err,
                    "state: {} records already processed by an earlier run were skipped",
                    resume.skipped
                )?;
            }
            for f in &resume.changed_files {
                writeln!(
                    err,
                    "state: {f} changed since the earlier run; read again from the start"
                )?;
            }
        }
        let mut warned = std::collections::BTreeSet::new();
        for d in runner.detectors() {
            for w in d.warnings() {
                if warned.insert((d.rule().name.clone(), w.clone()))
                    && !w.contains("never produced by Tripline's CloudTrail normalizer")
                {
                    writeln!(err, "warning: {}: {w}", d.rule().name)?;
                }
            }
        }
        // Detector counters that say something (zero counters are noise).
        for (rule, k, v) in &summary.detector_stats {
            if *v > 0 {
                writeln!(err, "  {rule}: {k}: {v}")?;
            }
        }
    }
    Ok(exit_code(&stats))
}

/// Feeds the coverage report from inside the runner (so it sees events in time order).
struct CoverageFeed {
    rule: Arc<tripline_rules::Rule>,
    builder: Arc<std::sync::Mutex<tripline_lineage::CoverageBuilder>>,
}

impl CoverageFeed {
    fn new(builder: Arc<std::sync::Mutex<tripline_lineage::CoverageBuilder>>) -> CoverageFeed {
        let rule = tripline_rules::Rule::parse(
            "coverage",
            "[rule]\nrule_id='tripline-coverage'\nname='trail coverage'\ntype='analytic'\n",
        )
        .expect("static rule");
        CoverageFeed {
            rule: Arc::new(rule),
            builder,
        }
    }
}

impl tripline_engine::Detector for CoverageFeed {
    fn rule(&self) -> &Arc<tripline_rules::Rule> {
        &self.rule
    }
    fn fields(&self) -> Option<Vec<String>> {
        // The lineage engine's fields and the coverage counters' (see `CoverageBuilder::push`).
        let own = [
            "aws.cloudtrail.recipient_account_id",
            "cloud.account.id",
            "cloud.region",
            "event.provider",
            "aws.cloudtrail.event_category",
            "aws.cloudtrail.management_event",
        ];
        let lineage = tripline_lineage::model::FIELDS.iter();
        Some(lineage.chain(own.iter()).map(|f| f.to_string()).collect())
    }
    fn on_event(&mut self, ev: &tripline_doc::SharedEvent, _out: &mut Vec<AlertDraft>) {
        if let Ok(mut b) = self.builder.lock() {
            b.push(ev);
        }
    }
}

fn summary_lines(
    stats: &ReadStats,
    summary: &tripline_engine::RunSummary,
    alerts: &[Alert],
    n_rules: usize,
    started: Instant,
) -> Vec<String> {
    let mut by_sev: BTreeMap<u8, (String, usize)> = BTreeMap::new();
    for a in alerts {
        by_sev
            .entry(severity_rank(&a.severity))
            .or_insert_with(|| (a.severity.clone(), 0))
            .1 += 1;
    }
    let sev = by_sev
        .values()
        .map(|(s, n)| format!("{s} {n}"))
        .collect::<Vec<_>>()
        .join(", ");
    let secs = started.elapsed().as_secs_f64();
    let mut lines = vec![
        format!(
            "files: {}, records: {}, records skipped: {}",
            stats.files, stats.records, stats.skipped
        ),
        format!("rules: {n_rules}"),
        format!(
            "alerts: {}{}",
            alerts.len(),
            if sev.is_empty() {
                String::new()
            } else {
                format!(" ({sev})")
            }
        ),
    ];
    if summary.capped_alerts > 0 {
        lines.push(format!(
            "alerts not raised because a rule reached max_signals: {}",
            summary.capped_alerts
        ));
    }
    if summary.late_events > 0 {
        lines.push(format!(
            "events later than the reorder window (evaluated out of order): {}",
            summary.late_events
        ));
    }
    lines.push(format!(
        "time: {secs:.2}s ({:.0} records/s)",
        stats.records as f64 / secs.max(0.001)
    ));
    lines
}

pub fn normalize(args: NormalizeArgs) -> Result<i32> {
    let mut out = output(&args.output)?;
    let popts = PipelineOptions {
        keep_original: args.keep_original,
        threads: threads(),
        projection: None,
    };
    let stats = pipeline::run(
        &args.input,
        &popts,
        |ev| {
            serde_json::to_writer(&mut out, &ev.doc)?;
            out.write_all(b"\n")?;
            Ok(())
        },
        |_, _| {},
    )?;
    out.flush()?;
    let mut err = std::io::stderr();
    print_read_summary(&stats, &mut err)?;
    Ok(exit_code(&stats))
}
