//! Projected evaluation (issue 9): detectors see only the fields they read.
//!
//! Once the rules are loaded, every field any detector reads is known ([`Detector::fields`]).
//! The pipeline then hands the runner *projected* documents (flat, a few hundred bytes,
//! one lookup per field read; see [`tripline_doc::projection`]) that carry their record's
//! text; an event that ends up in an alert gets its full ECS document back by normalizing
//! that text again ([`Hydrator`]). Events held by the reorder window and by stateful
//! detectors therefore cost their projection plus the record text, not a whole ECS tree.
//!
//! Projection is off (whole documents, as before) when some detector cannot say what it reads
//! (`fields()` is `None`, e.g. an ES|QL query without a fixed column list) or reads fields by
//! wildcard, and with `--no-projection`. The differential test proves both ways raise the
//! same alerts, to the byte.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use anyhow::Result;
use tripline_alerts::{build_alert, Alert};
use tripline_doc::{Event, FieldTypes, Projection, SharedEvent};
use tripline_engine::{AlertDraft, Runner};
use tripline_normalize::Normalizer;
use tripline_rules::RuleType;

use crate::cli::InputArgs;

/// Fields read outside the detectors: the runner's index (provider, action), event ids
/// (alert ancestry and uuids), index selection by dataset, and the event clock.
const BASE: &[&str] = &[
    "@timestamp",
    "event.id",
    "event.provider",
    "event.action",
    "event.dataset",
    "event.module",
    "event.kind",
    "event.ingested",
    "data_stream.dataset",
    "data_stream.namespace",
    "data_stream.type",
];

/// The projection for the runner's detectors, or why whole documents are needed.
pub fn plan(runner: &Runner, types: &FieldTypes) -> Result<Projection, String> {
    let mut fields: Vec<String> = BASE.iter().map(|s| s.to_string()).collect();
    // Only CloudTrail records are projected: the question is whether such a detector would
    // take every CloudTrail event (rules over other datasets never see one).
    let mut probe = tripline_doc::Document::new();
    for (k, v) in [
        ("event.dataset", "aws.cloudtrail"),
        ("event.module", "aws"),
        ("data_stream.dataset", "aws.cloudtrail"),
        ("data_stream.namespace", "default"),
        ("data_stream.type", "logs"),
    ] {
        probe.set(k, serde_json::Value::String(v.into()));
    }
    let probe = Arc::new(Event {
        doc: probe,
        timestamp: 0,
        origin: tripline_doc::Origin {
            file: "probe".into(),
            record: 0,
            line: None,
        },
        seq: 0,
    });
    if let Some(name) = runner.unindexed_whole_document_detector(&probe) {
        return Err(format!("rule {name:?} may read any field of any event"));
    }
    for d in runner.detectors() {
        // Detectors that cannot list their fields get whole documents from the runner.
        // So do those reading fields by wildcard (the runner treats them alike).
        let own = d.fields().unwrap_or_default();
        if !own.iter().any(|f| f.contains('*')) {
            fields.extend(own);
        }
        fields.extend(d.rule().timestamp_override.clone());
    }
    // Evaluators read a multi-field (`x.text`, `x.keyword`) from its source field.
    let sources: Vec<String> = fields
        .iter()
        .map(|f| types.source_path(f).to_string())
        .collect();
    fields.extend(sources);
    Projection::new(fields).ok_or_else(|| "a field name cannot be projected".to_string())
}

/// Plans the projection (when `enabled`) and installs the alert-document builder for rules
/// that read Tripline's alerts. Returns the projection for the pipeline and the hydrator that
/// turns drafts into alerts.
pub fn prepare(
    runner: &mut Runner,
    input: &InputArgs,
    enabled: bool,
    quiet: bool,
) -> Result<(Option<Arc<Projection>>, Arc<Hydrator>)> {
    let projection = if enabled {
        match plan(runner, FieldTypes::builtin()) {
            Ok(p) => Some(Arc::new(p)),
            Err(why) => {
                if !quiet {
                    eprintln!("tripline: detectors get whole documents (slower): {why}");
                }
                None
            }
        }
    } else {
        None
    };
    let opts = crate::pipeline::normalize_options(input, false)?;
    let hydrator = Arc::new(Hydrator {
        normalizer: Mutex::new(Normalizer::new(opts)),
    });
    if projection.is_some() {
        let h = hydrator.clone();
        runner.set_hydrator(Box::new(move |e| h.event(e)));
    }
    if runner.reads_alerts() {
        // Rules over `.alerts-security.*` read Tripline's own alerts, as Elastic's read its.
        let h = hydrator.clone();
        runner.set_alert_doc_builder(Box::new(move |d| h.alert(d).doc));
    }
    Ok((projection, hydrator))
}

/// Rebuilds full documents for the events of alerts.
pub struct Hydrator {
    // Alerts are rare and built on the runner's thread: one normalizer, behind a lock only
    // so the alert-document builder can be `Send`.
    normalizer: Mutex<Normalizer>,
}

impl Hydrator {
    /// The alert for a draft, built from full documents.
    pub fn alert(&self, d: &AlertDraft) -> Alert {
        if d.events.iter().any(|e| e.doc.is_projected()) {
            build_alert(&self.draft(d.clone()))
        } else {
            build_alert(d)
        }
    }

    /// The draft with every projected event replaced by its full document. Alert fields a
    /// detector derived from whole documents (an EQL sequence shell's fields common to all its
    /// events) are derived again from the full ones.
    pub fn draft(&self, mut d: AlertDraft) -> AlertDraft {
        if !d.events.iter().any(|e| e.doc.is_projected()) {
            return d;
        }
        let mut done: HashMap<u64, SharedEvent> = HashMap::new();
        for e in d.events.iter_mut() {
            if !e.doc.is_projected() {
                continue;
            }
            let full = done.entry(e.seq).or_insert_with(|| self.event(e)).clone();
            *e = full;
        }
        if d.rule.rule_type == RuleType::Eql && d.events.len() > 1 && d.fields.is_some() {
            d.fields = Some(tripline_engine::eql_rule::common_fields(&d.events));
        }
        d
    }

    /// The event with its whole document (projected events only; others are returned as is).
    pub fn event(&self, e: &SharedEvent) -> SharedEvent {
        if !e.doc.is_projected() {
            return e.clone();
        }
        let full = e.doc.source().and_then(|text| {
            let n = self.normalizer.lock().ok()?;
            n.normalize_json(text).ok()
        });
        let doc = match full {
            Some((doc, _)) => doc,
            // The text normalized once already; if it somehow no longer does, the alert
            // still carries every field the rules read (without the record text).
            None => {
                let mut doc = e.doc.clone();
                doc.0.shift_remove(tripline_doc::SOURCE_KEY);
                doc
            }
        };
        Arc::new(Event {
            doc,
            timestamp: e.timestamp,
            origin: e.origin.clone(),
            seq: e.seq,
        })
    }
}
