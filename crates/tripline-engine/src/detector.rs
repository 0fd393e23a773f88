//! The detector trait and the alert drafts detectors produce.

use std::sync::Arc;

use serde_json::{Map, Value};
use tripline_doc::SharedEvent;
use tripline_rules::Rule;

/// A pending alert: which rule, which source events, and any fields of its own.
#[derive(Debug, Clone)]
pub struct AlertDraft {
    pub rule: Arc<Rule>,
    /// Source events in order (one for event rules; every event of a sequence; the group's
    /// events for aggregations when known). Their `event.id`s become `kibana.alert.ancestors`.
    pub events: Vec<SharedEvent>,
    /// For alerts without a single source document (threshold groups, ES|QL rows, analytics):
    /// the alert's own document fields (dotted or nested), merged over the first event's
    /// document when there is one.
    pub fields: Option<Map<String, Value>>,
    /// `kibana.alert.original_time` (epoch ms): the source event's time, or the window's.
    pub timestamp: i64,
    /// `kibana.alert.reason`; a default is built from the rule and event when `None`.
    pub reason: Option<String>,
    /// Extra `kibana.alert.*` fields (without the prefix), e.g. `threshold_result`,
    /// `suppression.docs_count`, `new_terms`, `group.id`.
    pub extra: Map<String, Value>,
    /// Stable identity for the alert's uuid when it has no single source event (a group key).
    pub key: Option<String>,
    /// Alerts a detector keeps as evidence only (sequence building blocks).
    pub building_block: bool,
}

impl AlertDraft {
    /// An alert for one matching event.
    pub fn for_event(rule: &Arc<Rule>, ev: &SharedEvent) -> AlertDraft {
        AlertDraft {
            rule: rule.clone(),
            events: vec![ev.clone()],
            fields: None,
            timestamp: ev.timestamp,
            reason: None,
            extra: Map::new(),
            key: None,
            building_block: false,
        }
    }
}

/// Counters a detector reports in the hunt summary (name → value), e.g. live new-terms
/// tuples, dropped sequence states, events that arrived later than the reorder window.
pub type DetectorStats = Vec<(String, u64)>;

/// A compiled rule or analytic.
///
/// The runner calls [`Detector::on_event`] in event-time order (ties: input order), and
/// [`Detector::finish`] once at the end of input so windowed detectors can flush.
pub trait Detector: Send {
    fn rule(&self) -> &Arc<Rule>;

    /// Fields the detector reads (for projection); `None` = needs the whole document.
    fn fields(&self) -> Option<Vec<String>> {
        None
    }

    /// Values of `event.provider` / `event.action` an event must have to possibly match,
    /// for rule indexing. `None` = any event may match.
    fn required(&self, _field: &str) -> Option<Vec<String>> {
        None
    }

    /// Whether the detector could be interested in this event at all, judged only from the
    /// fields every event keeps under projection (`event.dataset`, `data_stream.*`). The
    /// runner asks detectors that need whole documents before rebuilding one for them.
    fn may_select(&self, _ev: &SharedEvent) -> bool {
        true
    }

    fn on_event(&mut self, ev: &SharedEvent, out: &mut Vec<AlertDraft>);

    /// Whether the detector also reads Tripline's own alerts (e.g. an ES|QL rule over
    /// `.alerts-security.*`): the runner then feeds it, through [`Detector::on_event`], an
    /// event made of the alert document of every alert other detectors emit (see
    /// [`crate::runner::Runner::set_alert_doc_builder`]).
    fn reads_alerts(&self) -> bool {
        false
    }

    /// Called once per run, before the first event is dispatched, with that event's time
    /// (the start of the input as the runner sees it). `new_terms` uses it to know when its
    /// first history window ends, whatever the time of the first event that it matches.
    fn input_started(&mut self, _t: i64) {}

    /// End of input: close open windows, emit what is pending.
    fn finish(&mut self, _out: &mut Vec<AlertDraft>) {}

    /// Summary counters.
    fn stats(&self) -> DetectorStats {
        Vec::new()
    }

    /// Whether the detector keeps state across events (and so across runs with `--state`).
    fn is_stateful(&self) -> bool {
        false
    }

    /// Serializes the detector's state for the persistent store.
    fn save_state(&self) -> Option<Value> {
        None
    }

    /// Restores state saved by [`Detector::save_state`].
    fn load_state(&mut self, _state: Value) -> Result<(), String> {
        Ok(())
    }

    /// Told (before any event) that a wrapper drops some events before this detector sees
    /// them (exception items), so its stream may differ from other detectors'. Detectors that
    /// share work across rules on the assumption of one stream (session lineage) stop sharing.
    fn events_filtered(&mut self) {}

    /// Warnings found while compiling (e.g. fields the normalizer never produces, a
    /// timestamp override that falls back), shown by `rules check` and the hunt summary.
    fn warnings(&self) -> Vec<String> {
        Vec::new()
    }
}
